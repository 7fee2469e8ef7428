"""Classification and regression metrics used for early stopping, search objectives and
reports."""

from __future__ import annotations

import numpy as np

from .._settings import keep_python_rng
from ._objectives import RANK_METRICS

# sklearn.metrics imports rich, which draws from Python's random at import: the user's stream
# is given back (as the tools give back torch's and random's)
with keep_python_rng():
    from sklearn import metrics as skm


def score(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    metric: str,
    n_classes: int,
    scores: np.ndarray | None = None,
) -> float:
    """One number, higher is better. The :data:`RANK_METRICS` need ``scores`` (n x n_classes,
    as :func:`rank_scores` takes them)."""
    labels = np.arange(n_classes)
    if metric in RANK_METRICS:
        if scores is None:
            msg = f"metric={metric!r} needs the class probabilities (scores=)."
            raise ValueError(msg)
        per_class = rank_scores(y_true, scores, names=(metric,))[metric]
        return _headline(metric, per_class, np.bincount(y_true, minlength=n_classes))
    if metric == "accuracy":
        return float(np.mean(y_true == y_pred))
    if metric == "balanced_accuracy":
        present = np.unique(y_true)
        recalls = [np.mean(y_pred[y_true == c] == c) for c in present]
        return float(np.mean(recalls))
    average = "macro" if metric == "macro_f1" else "weighted"
    fast = f1_score(y_true, y_pred, n_classes, average)
    if fast is not None:
        return fast
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


def f1_score(y_true, y_pred, n_classes: int, average: str) -> float | None:
    """Macro (``average="macro"``) or support-weighted (``"weighted"``) F1 of class codes in
    ``0..n_classes - 1``, over the classes true or predicted in them: the value of
    ``sklearn.metrics.f1_score(y_true, y_pred, labels=<those classes>, average=average,
    zero_division=0)``, computed as sklearn 1.4 and later do (``2 tp / (true + pred)`` per
    class in float64, their mean or support-weighted average), from three ``np.bincount`` of
    the codes (memory of the classes, not of their pairs; sklearn's own checks cost 100 times
    as much: it scores every epoch).
    None where the codes are not such integers or there are none (sklearn then decides)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    k = int(n_classes)
    if (
        y_true.size == 0
        or y_true.shape != y_pred.shape
        or y_true.ndim != 1
        or y_true.dtype.kind not in "iu"
        or y_pred.dtype.kind not in "iu"
        or min(y_true.min(), y_pred.min()) < 0
        or max(y_true.max(), y_pred.max()) >= k
    ):
        return None
    tp = np.bincount(y_true[y_true == y_pred], minlength=k)
    true, pred = np.bincount(y_true, minlength=k), np.bincount(y_pred, minlength=k)
    used = (true + pred) > 0  # true or predicted here: sklearn's labels
    denom = true[used].astype(np.float64) + pred[used].astype(np.float64)
    f1 = 2.0 * tp[used].astype(np.float64) / denom  # denom > 0 for every used class
    if average == "macro":
        return float(np.mean(f1))
    return float(np.average(f1, weights=true[used]))


def log_odds(logits) -> np.ndarray:
    """Per class, the log-odds of the class against all others (n x n_classes, float64):
    ``l_c - logsumexp(l_other)``. A monotone function of the class probability that never
    saturates, unlike the probability (1.0 in float32 past a logit lead of ~17) or its
    logarithm (0.0 in float64 past ~37); ranking by it ties no cells the logits tell apart.
    With two classes it is ``l_1 - l_0`` and its negative.

    O(n x n_classes): the others' sum is the row's sum less the class's own term, scaled by the
    row's largest logit; that difference is at least the largest term, so nothing cancels,
    except for the largest class itself, whose others are summed on their own."""
    from scipy.special import logsumexp

    logits = np.asarray(logits, dtype=np.float64)
    n, k = logits.shape
    if k < 2:
        msg = f"log_odds needs at least 2 classes, got {k}."
        raise ValueError(msg)
    rows = np.arange(n)
    top = logits.argmax(1)
    m = logits[rows, top][:, None]
    terms = np.exp(logits - m)  # the largest is 1
    others = np.log(np.maximum(terms.sum(1, keepdims=True) - terms, np.finfo(float).tiny)) + m
    rest = logits.copy()
    rest[rows, top] = -np.inf
    others[rows, top] = logsumexp(rest, axis=1)
    return logits - others


def score_logits(y_true: np.ndarray, logits, metric: str, n_classes: int) -> float:
    """:func:`score` of a network's logits (a torch tensor, n x n_classes): the predicted class
    is their argmax; the :data:`RANK_METRICS` rank their :func:`log_odds`."""
    scores = log_odds(logits.numpy()) if metric in RANK_METRICS else None
    return score(y_true, logits.argmax(1).numpy(), metric, n_classes, scores=scores)


def rank_scores(
    y_true: np.ndarray, scores: np.ndarray, names: tuple[str, ...] = RANK_METRICS
) -> dict[str, np.ndarray]:
    """One-vs-rest ROC AUC and average precision (area under the precision-recall curve) of
    every class's column of ``scores``: ``{"roc_auc": array, "average_precision": array}``
    (those of ``names``).

    Only the order of the cells within a column counts, so ``scores`` may be the class
    probabilities or, better, their :func:`log_odds`: a probability rounds to 1.0 for every
    cell the model is sure of, which ties them. A class is NaN where this part has no cell of it, or
    only cells of it (one-vs-rest is then undefined). With two classes both ROC AUCs are the
    AUC of the binary task; the average precision differs by which class is taken as positive
    (on an imbalanced task, the rare class's is the usual figure), so each is given.
    """
    funcs = {"roc_auc": skm.roc_auc_score, "average_precision": skm.average_precision_score}
    out = {name: np.full(scores.shape[1], np.nan) for name in names}
    for c in range(scores.shape[1]):
        positive = y_true == c
        if positive.any() and not positive.all():
            for name in names:
                out[name][c] = funcs[name](positive, scores[:, c])
    return out


def average_precision_class(support) -> int | None:
    """With two classes that both have cells in a part, the class whose average precision is
    the part's figure: the rarer one there (ties: the second, sklearn's positive label). The
    mean of both classes' would credit a model ranking at random with about 0.5 on any
    imbalanced task (the common class's figure is about its share), whatever the rare
    class's. None otherwise: the figure is the macro mean."""
    support = np.asarray(support)
    if len(support) != 2 or not (support > 0).all():
        return None
    return 0 if support[0] < support[1] else 1


def _headline(name: str, per_class: np.ndarray, support) -> float:
    """The part's figure of a ranking metric from its per-class values: the macro mean, but
    the average precision of :func:`average_precision_class` with two classes."""
    c = average_precision_class(support) if name == "average_precision" else None
    return _nanmean(per_class) if c is None else float(per_class[c])


def _nanmean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else float("nan")


def classification_report(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    classes: np.ndarray,
    scores: np.ndarray | None = None,
) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix;
    with ``scores`` (class log-odds, or probabilities: see :func:`rank_scores`) also
    ROC AUC and average precision (macro one-vs-rest, and per class; with two classes the
    average precision of the rarer, :func:`average_precision_class`).

    Macro-F1 averages the classes that are true or predicted in this part, as
    ``sklearn.metrics.f1_score(average="macro")`` and the search's :func:`score` do; balanced
    accuracy the classes that are true in it; the macro ROC AUC and average precision the
    classes for which they are defined (:func:`rank_scores`). A class without cells in this
    part (support 0) has NaN recall, and NaN precision and F1 unless cells were predicted as
    it (then 0.0, as macro-F1 counts it: every such call is wrong). An empty part (a user
    split without test cells) has NaN metrics, zero support and an all-zero confusion matrix.
    """
    labels = np.arange(len(classes))
    if len(y_true) == 0:
        nans = np.full(len(classes), np.nan)
        out = {
            "accuracy": float("nan"),
            "macro_f1": float("nan"),
            "balanced_accuracy": float("nan"),
            "n": 0,
            "per_class": {
                "precision": nans.copy(),
                "recall": nans.copy(),
                "f1": nans.copy(),
                "support": np.zeros(len(classes), dtype=np.int64),
            },
            "confusion": np.zeros((len(classes), len(classes)), dtype=np.int64),
        }
        if scores is not None:
            for name in RANK_METRICS:
                out[name] = float("nan")
                out["per_class"][name] = np.full(len(classes), np.nan)
        return out
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    present = s > 0
    used = present | np.isin(labels, y_pred)
    # undefined figures of a class absent from the part (0/0), not sklearn's zero_division 0
    absent = ~present
    out = {
        "accuracy": float(np.mean(y_true == y_pred)),
        "macro_f1": float(f[used].mean()),
        "balanced_accuracy": float(r[present].mean()),
        "n": len(y_true),
        "per_class": {
            "precision": np.where(absent & ~used, np.nan, p).astype(np.float64),
            "recall": np.where(absent, np.nan, r).astype(np.float64),
            "f1": np.where(absent & ~used, np.nan, f).astype(np.float64),
            "support": s.astype(np.int64),
        },
        "confusion": skm.confusion_matrix(y_true, y_pred, labels=labels).astype(np.int64),
    }
    if scores is not None:
        for name, per_class in rank_scores(y_true, scores).items():
            out[name] = _headline(name, per_class, s)
            out["per_class"][name] = per_class
    return out


def regression_score(y_true: np.ndarray, y_pred: np.ndarray, metric: str) -> float:
    """One number of a numeric target's predictions, higher is better: ``"r2"`` (coefficient
    of determination), ``"pearson"`` or ``"spearman"`` (correlation; 0.0 where the
    predictions are constant, which correlate with nothing)."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if metric == "r2":
        return float(skm.r2_score(y_true, y_pred))
    if np.ptp(y_pred) == 0 or np.ptp(y_true) == 0:
        return 0.0
    from scipy import stats

    corr = stats.pearsonr if metric == "pearson" else stats.spearmanr
    return float(corr(y_true, y_pred)[0])


def regression_report(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """R^2, root mean squared and mean absolute error (in the target's units), Pearson's and
    Spearman's correlations and ``n`` of one split; NaN where undefined (an empty split, or
    values that do not vary)."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    nan = float("nan")
    n = len(y_true)
    if n == 0:
        return {"r2": nan, "rmse": nan, "mae": nan, "pearson": nan, "spearman": nan, "n": 0}
    err = y_pred - y_true
    varies = n > 1 and np.ptp(y_true) > 0
    correlated = varies and np.ptp(y_pred) > 0
    return {
        "r2": float(skm.r2_score(y_true, y_pred)) if varies else nan,
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "pearson": regression_score(y_true, y_pred, "pearson") if correlated else nan,
        "spearman": regression_score(y_true, y_pred, "spearman") if correlated else nan,
        "n": n,
    }
