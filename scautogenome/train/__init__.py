"""The training loop and metrics."""

from ._metrics import METRICS, check_metric, classification_report, score
from ._trainer import (
    CLASS_BALANCE,
    OPTIMIZERS,
    Pruned,
    TrainParams,
    TrainResult,
    predict_logits,
    resolve_device,
    train_classifier,
)

__all__ = [
    "CLASS_BALANCE",
    "METRICS",
    "OPTIMIZERS",
    "Pruned",
    "TrainParams",
    "TrainResult",
    "check_metric",
    "classification_report",
    "predict_logits",
    "resolve_device",
    "score",
    "train_classifier",
]
