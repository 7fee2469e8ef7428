"""Classification metrics used for early stopping, search objectives and reports."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

METRICS = ("macro_f1", "accuracy", "balanced_accuracy", "weighted_f1")


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        msg = f"metric={metric!r} must be one of {list(METRICS)}."
        raise ValueError(msg)
    return metric


def score(y_true: np.ndarray, y_pred: np.ndarray, metric: str, n_classes: int) -> float:
    """One number, higher is better."""
    labels = np.arange(n_classes)
    if metric == "accuracy":
        return float(np.mean(y_true == y_pred))
    if metric == "balanced_accuracy":
        present = np.unique(y_true)
        recalls = [np.mean(y_pred[y_true == c] == c) for c in present]
        return float(np.mean(recalls))
    average = "macro" if metric == "macro_f1" else "weighted"
    # only classes present in y_true or y_pred count, as sklearn's default does
    present = np.union1d(np.unique(y_true), np.unique(y_pred))
    return float(
        skm.f1_score(
            y_true,
            y_pred,
            labels=labels[np.isin(labels, present)],
            average=average,
            zero_division=0,
        )
    )


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, classes: np.ndarray) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    Macro-F1 averages the classes that are true or predicted in this part, as
    ``sklearn.metrics.f1_score(average="macro")`` and the search's :func:`score` do; balanced
    accuracy the classes that are true in it. An empty part (a user split without test cells)
    has NaN metrics, zero support and an all-zero confusion matrix.
    """
    labels = np.arange(len(classes))
    if len(y_true) == 0:
        zeros = np.zeros(len(classes))
        return {
            "accuracy": float("nan"),
            "macro_f1": float("nan"),
            "balanced_accuracy": float("nan"),
            "n": 0,
            "per_class": {
                "precision": zeros.copy(),
                "recall": zeros.copy(),
                "f1": zeros.copy(),
                "support": np.zeros(len(classes), dtype=np.int64),
            },
            "confusion": np.zeros((len(classes), len(classes)), dtype=np.int64),
        }
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    present = s > 0
    used = present | np.isin(labels, y_pred)
    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        "macro_f1": float(f[used].mean()),
        "balanced_accuracy": float(r[present].mean()),
        "n": len(y_true),
        "per_class": {
            "precision": p.astype(np.float64),
            "recall": r.astype(np.float64),
            "f1": f.astype(np.float64),
            "support": s.astype(np.int64),
        },
        "confusion": skm.confusion_matrix(y_true, y_pred, labels=labels).astype(np.int64),
    }
