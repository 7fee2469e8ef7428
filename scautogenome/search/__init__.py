"""Search spaces and the Optuna-based search (HPO, ENAS for RRFCN, the VAE search).

The space helpers (``_spaces``) need neither torch nor optuna, so ``sag.config`` can validate a
configuration without loading them; the searches are imported on first use.
"""

from __future__ import annotations

import importlib

from ._spaces import check_distribution, choices_of, suggest

_LAZY = {
    "Controller": "_enas",
    "EnasResult": "_enas",
    "reinforce_step": "_enas",
    "rrfcn_in_auto": "_enas",
    "run_enas": "_enas",
    "search_with_rrfcn": "_enas",
    "ARCH_MODES": "_hpo",
    "ARCH_SAMPLERS": "_hpo",
    "SearchResult": "_study",
    "check_storage": "_study",
    "run_search": "_hpo",
    "sample_architecture": "_hpo",
    "sample_trial": "_hpo",
    "trials_table": "_study",
    "warn_if_cut": "_study",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = ["check_distribution", "choices_of", "suggest", *_LAZY]
