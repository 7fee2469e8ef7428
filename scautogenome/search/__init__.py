"""Search spaces and the Optuna-based search."""

from ._enas import (
    Controller,
    EnasResult,
    reinforce_step,
    rrfcn_in_auto,
    run_enas,
    search_with_rrfcn,
)
from ._hpo import (
    ARCH_MODES,
    ARCH_SAMPLERS,
    SearchResult,
    run_search,
    sample_architecture,
    sample_trial,
    trials_table,
)
from ._spaces import check_distribution, choices_of, suggest

__all__ = [
    "ARCH_MODES",
    "ARCH_SAMPLERS",
    "Controller",
    "EnasResult",
    "SearchResult",
    "check_distribution",
    "choices_of",
    "reinforce_step",
    "rrfcn_in_auto",
    "run_enas",
    "run_search",
    "sample_architecture",
    "sample_trial",
    "search_with_rrfcn",
    "suggest",
    "trials_table",
]
