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
