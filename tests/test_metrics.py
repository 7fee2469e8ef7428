"""The metrics a search judges by and a run reports, pinned on small cases against their
definitions (sklearn's, scipy's): an argument swapped or a guard dropped changes them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from scautogenome.train._metrics import (
    classification_report,
    regression_report,
    regression_score,
    score,
)


def test_balanced_accuracy_counts_the_classes_present_in_truth():
    """A prediction of a class without a validation cell is a miss, not a NaN score."""
    y_true, y_pred = np.array([0, 0, 1, 1]), np.array([0, 0, 1, 2])
    assert score(y_true, y_pred, "balanced_accuracy", 3) == pytest.approx(0.75)
    assert score(y_true, y_pred, "balanced_accuracy", 3) == pytest.approx(
        skm.balanced_accuracy_score(y_true, y_pred)
    )


def test_regression_scores_take_truth_first_and_each_its_own_correlation():
    y, p = np.array([1.0, 2, 3, 4]), np.array([1.0, 1, 4, 4])
    assert regression_score(y, p, "r2") == pytest.approx(0.6)
    assert regression_score(y, p, "r2") == pytest.approx(skm.r2_score(y, p))
    bent = np.array([1.0, 2, 3, 10])
    assert regression_score(y, bent, "pearson") == pytest.approx(stats.pearsonr(y, bent)[0])
    assert regression_score(y, bent, "pearson") == pytest.approx(0.8854, abs=1e-4)
    assert regression_score(y, bent, "spearman") == pytest.approx(1.0)
    report = regression_report(y, bent)
    assert report["pearson"] == pytest.approx(0.8854, abs=1e-4)
    assert report["spearman"] == pytest.approx(1.0)


def test_constant_truth_has_no_r2_and_scores_zero_for_a_search():
    """R^2 of constant true values is undefined: NaN in the report; a search judging such a
    part gets 0, not NaN."""
    y, p = np.array([2.0, 2, 2]), np.array([1.0, 2, 3])
    assert np.isnan(regression_report(y, p)["r2"])
    assert regression_score(y, p, "pearson") == 0.0


def test_a_part_of_one_class_has_no_average_precision():
    """Cells of one class only: the ranking metrics of a class against the rest are
    undefined (NaN), not a perfect 1.0."""
    rep = classification_report(
        np.array([1, 1, 1]),
        np.array([1, 1, 1]),
        np.array(["a", "b"]),
        scores=np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3]]),
    )
    assert np.isnan(rep["average_precision"])
    assert np.isnan(np.asarray(rep["per_class"]["average_precision"], dtype=float)).all()


def test_f1_scores_are_sklearns_macro_and_weighted_over_classes_true_or_predicted():
    """macro_f1 and weighted_f1 are sklearn's f1_score over the classes true or predicted in
    the part (a class only predicted counts, with F1 0; one neither true nor predicted does
    not), the weighted one by each class's true cells; codes that are no class codes of
    0..n_classes - 1 are left to sklearn."""
    from sklearn.metrics import f1_score

    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 0, 1, 3, 1, 0, 2, 2, 0])
    labels = [0, 1, 2, 3]  # class 4 of 5 neither true nor predicted
    for metric, average in (("macro_f1", "macro"), ("weighted_f1", "weighted")):
        expected = f1_score(y_true, y_pred, labels=labels, average=average, zero_division=0)
        assert score(y_true, y_pred, metric, 5) == pytest.approx(expected), metric
    assert score(y_true, y_pred, "macro_f1", 5) != pytest.approx(
        score(y_true, y_pred, "weighted_f1", 5)
    )
    # a class only predicted weighs nothing in the weighted mean (no true cells)
    assert score(y_true, y_pred, "weighted_f1", 5) == pytest.approx(
        f1_score(y_true, y_pred, labels=[0, 1, 2], average="weighted")
    )
    # float codes: sklearn's own path, the same figure
    assert score(y_true.astype(float), y_pred.astype(float), "macro_f1", 5) == pytest.approx(
        f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    )


def test_log_odds_rank_cells_a_probability_would_tie():
    """The log-odds of a class against the others stay finite and ordered where a softmax
    rounds to 1.0 (a logit lead of 40 and of 50), for the leading class too, whose others
    are summed on their own (the row's sum less its own term cancels to nothing there)."""
    from scautogenome.train._metrics import log_odds, rank_scores

    logits = np.array([[40.0, 0.0, 0.0], [50.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    odds = log_odds(logits)
    assert np.isfinite(odds).all()
    np.testing.assert_allclose(odds[:2, 0], [40 - np.log(2), 50 - np.log(2)], rtol=1e-12)
    np.testing.assert_allclose(odds[2, 1], 1 - np.log(2), rtol=1e-12)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert probs[0, 0] == probs[1, 0] == 1.0  # the tie log_odds avoids
    # cell 1, of class 0, ranked above cell 0, of class 1: an AUC of 1, where the tie of
    # their probabilities counts half
    y = np.array([1, 0, 1, 2])
    assert rank_scores(y, odds, ("roc_auc",))["roc_auc"][0] == pytest.approx(1.0)
    assert rank_scores(y, probs, ("roc_auc",))["roc_auc"][0] == pytest.approx(1.0 - 1 / 6)


def test_a_class_report_counts_predicted_only_classes_and_true_classes_apart():
    """macro-F1 averages the classes true or predicted in the part, balanced accuracy the
    true ones; a class only predicted has precision 0 (every call wrong) and NaN recall; a
    class neither true nor predicted has NaN precision, recall and F1."""
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 2, 1, 1])
    rep = classification_report(y_true, y_pred, np.array(["a", "b", "c", "d"]))
    assert rep["macro_f1"] == pytest.approx(np.mean([2 / 3, 1.0, 0.0]))
    assert rep["balanced_accuracy"] == pytest.approx(0.75)
    pc = rep["per_class"]
    assert pc["precision"][2] == 0.0
    assert np.isnan(pc["recall"][2])
    assert np.isnan([pc["precision"][3], pc["recall"][3], pc["f1"][3]]).all()


def test_binary_average_precision_is_that_of_the_rarer_class_and_of_the_second_on_a_tie():
    from scautogenome.train._metrics import average_precision_class

    assert average_precision_class([5, 2]) == 1
    assert average_precision_class([2, 5]) == 0
    assert average_precision_class([3, 3]) == 1  # sklearn's positive label
    assert average_precision_class([0, 4]) is None  # one class only: the macro mean
    assert average_precision_class([1, 2, 3]) is None


def test_a_regression_report_in_the_targets_units():
    """RMSE and MAE in the target's units; correlations NaN where the predictions are
    constant (they correlate with nothing), where a search scores them 0."""
    y, p = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 8.0])
    rep = regression_report(y, p)
    assert rep["rmse"] == pytest.approx(2.0)
    assert rep["mae"] == pytest.approx(1.0)
    flat = regression_report(y, np.full(4, 2.5))
    assert np.isnan(flat["pearson"])
    assert np.isnan(flat["spearman"])
    assert regression_score(y, np.full(4, 2.5), "spearman") == 0.0
