"""The training loop and metrics.

The objectives (``_objectives``: metric and loss names and their checks) need neither torch nor
scikit-learn, so ``sag.config`` can validate a configuration without loading them; the rest is
imported on first use.
"""

from __future__ import annotations

from .._lazy import lazy_getattr
from ._objectives import (
    CLASSIFICATION_METRICS,
    LOSSES,
    METRICS,
    RANK_METRICS,
    REGRESSION_METRICS,
    check_auc_loss,
    check_metric,
    check_objective,
    check_regression_objective,
    task_objective,
)

_LAZY = {
    "classification_report": "_metrics",
    "log_odds": "_metrics",
    "rank_scores": "_metrics",
    "regression_report": "_metrics",
    "regression_score": "_metrics",
    "score": "_metrics",
    "score_logits": "_metrics",
    "CLASS_BALANCE": "_trainer",
    "OPTIMIZERS": "_trainer",
    "Diverged": "_trainer",
    "Pruned": "_trainer",
    "TrainParams": "_trainer",
    "TrainResult": "_trainer",
    "calibrate_binary_head": "_trainer",
    "pairwise_auc_loss": "_trainer",
    "predict_logits": "_trainer",
    "resolve_device": "_trainer",
    "train_classifier": "_trainer",
    "train_on_data": "_trainer",
    "train_regressor": "_trainer",
    "target_scale": "_trainer",
    "VAETrainParams": "_vae",
}

__getattr__ = lazy_getattr(__name__, _LAZY, globals())


def __dir__():
    return sorted(__all__)


__all__ = [
    "CLASSIFICATION_METRICS",
    "CLASS_BALANCE",
    "LOSSES",
    "METRICS",
    "OPTIMIZERS",
    "RANK_METRICS",
    "REGRESSION_METRICS",
    "Diverged",
    "Pruned",
    "TrainParams",
    "TrainResult",
    "VAETrainParams",
    "calibrate_binary_head",
    "check_auc_loss",
    "check_metric",
    "check_objective",
    "check_regression_objective",
    "classification_report",
    "log_odds",
    "pairwise_auc_loss",
    "predict_logits",
    "rank_scores",
    "regression_report",
    "regression_score",
    "resolve_device",
    "score",
    "score_logits",
    "target_scale",
    "task_objective",
    "train_classifier",
    "train_on_data",
    "train_regressor",
]
