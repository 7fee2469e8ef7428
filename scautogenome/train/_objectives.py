"""What a classifier (or a network predicting a numeric target) can be trained and judged by:
the search metrics and the losses, with their checks. Free of torch and scikit-learn (numpy only), so that ``sag.config`` validates without them."""

from __future__ import annotations

import numpy as np

CLASSIFICATION_METRICS = (
    "macro_f1",
    "accuracy",
    "balanced_accuracy",
    "weighted_f1",
    "roc_auc",
    "average_precision",
)
# of a numeric target (task "regression"): R^2, and Pearson's and Spearman's correlations
REGRESSION_METRICS = ("r2", "pearson", "spearman")
METRICS = CLASSIFICATION_METRICS + REGRESSION_METRICS
# metrics of the class probabilities' ranking rather than of the predicted class
RANK_METRICS = ("roc_auc", "average_precision")
# "auc": the AutoGenome paper's loss for imbalanced binary tasks (train/_trainer.py);
# "mse": its loss for a numeric target (regression)
LOSSES = ("cross_entropy", "auc", "mse")
# the defaults a task changes (config/_config.py's): they stand for "the task's own"
DEFAULT_METRIC = "macro_f1"
DEFAULT_LOSS = "cross_entropy"


def check_metric(metric: str, task: str | None = None) -> str:
    """``metric`` must be a str (a TypeError otherwise), one of :data:`METRICS`, and where
    ``task`` is given, one of its own (:data:`CLASSIFICATION_METRICS` or
    :data:`REGRESSION_METRICS`); without it, the message lists each task's own."""
    from .._utils import check_key  # pandas, not torch

    check_key("metric", metric, "a search metric")
    allowed = {
        None: METRICS,
        "classification": CLASSIFICATION_METRICS,
        "regression": REGRESSION_METRICS,
    }[task]
    if metric not in allowed:
        if task is None:
            msg = (
                f"metric={metric!r} must be one of {list(CLASSIFICATION_METRICS)} for a "
                f"classification task or one of {list(REGRESSION_METRICS)} for a regression task."
            )
        else:
            msg = f"metric={metric!r} must be one of {list(allowed)} for a {task} task."
        raise ValueError(msg)
    return metric


def task_objective(task: str, loss: str, metric: str) -> tuple[str, str]:
    """``(loss, metric)`` for ``task``: a numeric target (``"regression"``) trains with the
    squared error and is judged by R^2 unless another of :data:`REGRESSION_METRICS` is given
    (the defaults, cross-entropy and macro-F1, stand for that); classes refuse ``"mse"`` and
    the regression metrics. A ValueError names what does not fit, before any work."""
    if task == "regression":
        loss = "mse" if loss == DEFAULT_LOSS else loss
        metric = "r2" if metric == DEFAULT_METRIC else metric
        if loss != "mse":
            msg = f"loss={loss!r} is a loss of classes; a numeric target (task='regression') trains with 'mse'."
            raise ValueError(msg)
    elif loss == "mse":
        msg = (
            "loss='mse' is for a numeric target (task='regression'); classes train with "
            "'cross_entropy' or, for two classes, 'auc'."
        )
        raise ValueError(msg)
    return loss, check_metric(metric, task)


def check_regression_objective(loss: str, metric: str, y_val) -> None:
    """Refuse, before training, what a numeric target cannot be trained or judged by: a loss
    other than ``"mse"``, a metric of classes, or validation values that do not vary (R^2
    and the correlations are undefined on them). ``y_val``: the validation cells' values."""
    task_objective("regression", loss, metric)
    y_val = np.asarray(y_val, dtype=np.float64)
    if len(np.unique(y_val)) < 2:
        msg = (
            f"metric={metric!r} needs validation cells of at least two different target "
            f"values; the validation split holds {len(y_val)} cell(s) of "
            f"{len(np.unique(y_val))}. Use a split (split_key=) whose val part varies (a "
            "target of one value per group_key= group needs more groups, or group_key=None)."
        )
        raise ValueError(msg)


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
    task_objective("classification", loss, metric)
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
