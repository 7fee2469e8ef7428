"""Search spaces and the Optuna-based search."""

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
    "SearchResult",
    "check_distribution",
    "choices_of",
    "run_search",
    "sample_architecture",
    "sample_trial",
    "suggest",
    "trials_table",
]
