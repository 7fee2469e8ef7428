"""Search spaces and the Optuna-based search (HPO, ENAS for RRFCN, the VAE search).

The space helpers (``_spaces``) need neither torch nor optuna, so ``sag.config`` can validate a
configuration without loading them; the searches are imported on first use.
"""

from __future__ import annotations

from .._lazy import lazy_getattr
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
    "CLASSIFY_STUDY": "_study",
    "SearchResult": "_study",
    "check_collect": "_study",
    "check_storage": "_study",
    "check_trained": "_study",
    "run_search": "_hpo",
    "sample_architecture": "_hpo",
    "sample_trial": "_hpo",
    "storage_recorded": "_study",
    "trials_table": "_study",
    "warn_if_cut": "_study",
}

__getattr__ = lazy_getattr(__name__, _LAZY, globals())


__all__ = ["check_distribution", "choices_of", "suggest", *_LAZY]


def __dir__():
    return sorted(__all__)
