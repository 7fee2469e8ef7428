"""What a classifier can be trained and judged by: the search metrics and the losses, with
their checks. Free of torch and scikit-learn (numpy only), so that ``sag.config`` validates without them."""

from __future__ import annotations

import numpy as np

METRICS = (
    "macro_f1",
    "accuracy",
    "balanced_accuracy",
    "weighted_f1",
    "roc_auc",
    "average_precision",
)
# metrics of the class probabilities' ranking rather than of the predicted class
RANK_METRICS = ("roc_auc", "average_precision")
# "auc": the AutoGenome paper's loss for imbalanced binary tasks (train/_trainer.py)
LOSSES = ("cross_entropy", "auc")


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        msg = f"metric={metric!r} must be one of {list(METRICS)}."
        raise ValueError(msg)
    return metric


def check_auc_loss(metric: str, n_classes: int | None = None) -> None:
    """Refuse the AUC loss where it does not apply: more than two classes, or a validation
    metric of the predicted class (the scores it trains are only calibrated into probabilities
    after training, so only a ranking metric can judge the epochs)."""
    if n_classes is not None and n_classes != 2:
        msg = f"loss='auc' is for two classes (a binary task); this task has {n_classes}."
        raise ValueError(msg)
    if metric not in RANK_METRICS:
        msg = (
            f"loss='auc' trains a ranking, so a ranking metric must judge it: metric={metric!r} "
            f"must be one of {list(RANK_METRICS)}, e.g. metric='roc_auc'."
        )
        raise ValueError(msg)


def check_objective(loss: str, metric: str, n_classes: int, y_val) -> None:
    """Refuse, before training, a loss or metric these labels cannot be trained or judged by:
    the AUC loss where :func:`check_auc_loss` says so, or a ranking metric on validation cells
    of fewer than two classes (one-vs-rest is undefined there). ``y_val``: the class codes of
    the validation cells."""
    if loss == "auc":
        check_auc_loss(metric, n_classes)
    if metric not in RANK_METRICS:
        return
    n_present = len(np.unique(np.asarray(y_val)))
    if n_present < 2:
        msg = (
            f"metric={metric!r} ranks the validation cells by class probability, but the "
            f"validation split holds {len(y_val)} cell(s) of {n_present} class(es); it needs "
            "two. Use another metric, or a split (split_key=) whose val part holds cells of "
            "at least two classes."
        )
        raise ValueError(msg)
