"""Property-based tests (hypothesis) of the invariants of the data layer and the metrics.

The hand-picked cases of test_data.py and test_metrics.py pin a few inputs each; these tests
generate label vectors (many classes, one-cell classes, unlabelled cells, imbalance), group
layouts, small dense and sparse matrices, predictions and logits (absent classes, ties), and
check rules that must hold for every one of them:

- the splits: every labelled cell in exactly one part (a user's split kept as given), each
  class's val/test counts as the docstrings state (``max(1, round(frac * n))``;
  ``round(n / 9)`` for a drawn validation part), whole groups in one part, each class keeping
  a training cell when split by groups, at most ``max(1, round(2 * frac * N))`` groups per
  held-out part, the same split for the same seed;
- the input transform: one fit whether the matrix is dense, CSR or CSC and whatever the chunk
  size, from the rows fitted on only, identical after ``to_dict``/``arrays``/``from_dict``,
  undone by ``inverse_scale``, and the same values from the dense and the stored-value paths;
- the metrics: the sklearn conventions their docstrings name (F1 over the classes true or
  predicted with ``zero_division=0``, balanced accuracy over the classes true, one-vs-rest
  ROC AUC, the rarer class's average precision of two, r2/RMSE/MAE), and
  classification_report's NaN rules;
- the minibatch loader: every row once per epoch, whole and with its target, for any batch
  size, read as it comes, on stored values or from rows transformed once; the same order for
  the same seed; only a trailing batch of one row dropped.

Each test was seen to fail on a copy of the package with a plausible bug in the code it pins
(an off-by-one share, a chunk boundary skipped, the wrong F1 average, ...).
The generated cases are seeded (``derandomize=True``) and without deadline. Hypothesis also
draws constants of the modules imported so far, so a file run alone and the whole suite
see different cases: a new failure after an unrelated change is a counterexample.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import sparse, stats
from sklearn import metrics as skm

from scautogenome.data import InputTransform, _transform, group_split, stratified_split, user_split
from scautogenome.data._loader import BatchLoader, transformed_rows
from scautogenome.data._split import val_from_train
from scautogenome.train._metrics import (
    classification_report,
    f1_score,
    log_odds,
    rank_scores,
    regression_report,
    regression_score,
    score,
    score_logits,
)

PROPS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
FRACS = st.sampled_from([0.0, 0.05, 0.1, 0.2, 0.25, 1 / 3])


# -- splits -----------------------------------------------------------------------------------
@st.composite
def class_codes(draw, max_classes: int = 8, max_cells: int = 60):
    """Class codes of 1 to ``max_cells`` cells, -1 (unlabelled) among them; class sizes from
    one cell up, and imbalanced (a class's share drawn per class)."""
    k = draw(st.integers(1, max_classes))
    n = draw(st.integers(1, max_cells))
    weights = draw(st.lists(st.integers(1, 20), min_size=k + 1, max_size=k + 1))
    p = np.asarray(weights, dtype=float) / sum(weights)
    seed = draw(st.integers(0, 2**16))
    return np.random.default_rng(seed).choice(np.arange(-1, k), size=n, p=p)


def _split_counts(split: np.ndarray, codes: np.ndarray, c: int) -> dict[str, int]:
    return {part: int(np.sum((codes == c) & (split == part))) for part in ("train", "val", "test")}


@PROPS
@given(codes=class_codes(), val_frac=FRACS, test_frac=FRACS, seed=st.integers(0, 10**6))
def test_stratified_split_counts_per_class_follow_the_documented_rule(
    codes, val_frac, test_frac, seed
):
    """Per class of ``n`` cells, ``max(1, round(frac * n))`` to test, then as many of the rest
    to val, the rest train; unlabelled cells ``"none"``; the same split for the same seed."""
    split = stratified_split(codes, seed=seed, val_frac=val_frac, test_frac=test_frac)
    assert split.shape == codes.shape
    assert set(split[codes < 0]) <= {"none"}
    assert set(split[codes >= 0]) <= {"train", "val", "test"}
    for c in np.unique(codes[codes >= 0]):
        n = int(np.sum(codes == c))
        n_test = min(n, max(1, round(test_frac * n)))
        n_val = min(n - n_test, max(1, round(val_frac * n)))
        assert _split_counts(split, codes, c) == {
            "test": n_test,
            "val": n_val,
            "train": n - n_test - n_val,
        }
    again = stratified_split(codes, seed=seed, val_frac=val_frac, test_frac=test_frac)
    np.testing.assert_array_equal(split, again)


@PROPS
@given(codes=class_codes(), seed=st.integers(0, 10**6), split_seed=st.integers(0, 10**6))
def test_val_from_train_draws_a_ninth_of_each_class_from_train_only(codes, seed, split_seed):
    """Only training cells move, to val: per class ``max(1, round(n / 9))`` of its ``n``
    training cells, none of a class with one training cell; seeded."""
    rng = np.random.default_rng(split_seed)
    split = rng.choice(np.array(["train", "test", "none"]), size=codes.size, p=[0.7, 0.2, 0.1])
    out = val_from_train(split, codes, seed=seed)
    moved = out != split
    assert set(split[moved]) <= {"train"}
    assert set(out[moved]) <= {"val"}
    for c in np.unique(codes[codes >= 0]):
        n = int(np.sum((codes == c) & (split == "train")))
        want = 0 if n < 2 else max(1, round(n / 9))
        assert int(np.sum(moved & (codes == c))) == want
    assert not np.any(moved & (codes < 0))
    np.testing.assert_array_equal(out, val_from_train(split, codes, seed=seed))


@st.composite
def grouped_codes(draw):
    """Codes (some -1) and groups of 1 to 6 cells, a group mostly of one class."""
    n_groups = draw(st.integers(1, 25))
    k = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**16))
    mixed = draw(st.floats(0.0, 0.5))
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 7, size=n_groups)
    group_class = rng.integers(0, k, size=n_groups)
    groups = np.repeat(np.array([f"g{i}" for i in range(n_groups)], dtype=object), sizes)
    codes = np.repeat(group_class, sizes)
    other = rng.random(codes.size) < mixed
    codes[other] = rng.integers(-1, k, size=int(other.sum()))
    return codes.astype(np.int64), groups


@PROPS
@given(data=grouped_codes(), val_frac=FRACS, test_frac=FRACS, seed=st.integers(0, 10**6))
def test_group_split_keeps_groups_whole_and_a_training_cell_per_class(
    data, val_frac, test_frac, seed
):
    """Each group's used cells in one part; every class keeps a training cell (a group is held
    out only where its classes train elsewhere); a held-out part takes at most
    ``max(1, round(2 * frac * N))`` of the ``N`` groups; seeded; without a repeated group it
    is :func:`stratified_split`."""
    codes, groups = data
    used = codes >= 0
    assume(used.any())
    split = group_split(codes, groups, seed=seed, val_frac=val_frac, test_frac=test_frac)
    np.testing.assert_array_equal(
        split, group_split(codes, groups, seed=seed, val_frac=val_frac, test_frac=test_frac)
    )
    assert set(split[~used]) <= {"none"}
    assert set(split[used]) <= {"train", "val", "test"}
    names = np.unique(groups[used])
    if len(names) == used.sum():  # no group holds two used cells
        want = stratified_split(codes, seed=seed, val_frac=val_frac, test_frac=test_frac)
        np.testing.assert_array_equal(split, want)
        return
    part_of = {}
    for g in names:
        parts = set(split[used & (groups == g)])
        assert len(parts) == 1, f"group {g} in {parts}"
        part_of[g] = parts.pop()
    for c in np.unique(codes[used]):
        assert np.any((codes == c) & (split == "train")), f"class {c} without training cells"
    for part, frac in (("test", test_frac), ("val", val_frac)):
        held = sum(p == part for p in part_of.values())
        assert held <= max(1, round(2 * frac * len(names)))


@PROPS
@given(data=grouped_codes(), seed=st.integers(0, 10**6), split_seed=st.integers(0, 10**6))
def test_val_from_train_by_groups_moves_whole_training_groups(data, seed, split_seed):
    """With groups, whole groups of training cells go to val (at most two ninths of the
    training groups), each class keeping a training cell; nothing else moves."""
    codes, groups = data
    rng = np.random.default_rng(split_seed)
    names = np.unique(groups)
    test_groups = set(names[rng.random(names.size) < 0.2])
    split = np.where(np.isin(groups, list(test_groups)), "test", "train").astype("<U5")
    split[codes < 0] = "none"
    out = val_from_train(split, codes, seed=seed, groups=groups)
    moved = out != split
    assert set(split[moved]) <= {"train"}
    assert set(out[moved]) <= {"val"}
    train = split == "train"
    train_groups = np.unique(groups[train])
    if len(train_groups) == train.sum():  # no repeat: the per-class rule, tested above
        return
    for g in train_groups:
        assert len(set(out[train & (groups == g)])) == 1, f"group {g} in train and val"
    for c in np.unique(codes[train]):
        assert np.any((codes == c) & (out == "train"))
    n_val_groups = len(np.unique(groups[out == "val"]))
    assert n_val_groups <= max(1, round(2 / 9 * len(train_groups)))


SPLIT_VALUES = st.sampled_from(["train", "val", "test", "none", None])


@PROPS
@given(
    values=st.lists(SPLIT_VALUES, min_size=1, max_size=40),
    draw=st.data(),
    seed=st.integers(0, 10**6),
)
def test_user_split_keeps_labelled_values_or_refuses(values, draw, seed):
    """A user's split: unlabelled cells and missing values ``"none"``, every other labelled
    value kept, a validation part drawn from train (:func:`val_from_train`) only where no
    labelled cell is ``"val"``; a ValueError where no labelled cell trains, or none is val
    and none can be drawn."""
    n = len(values)
    labelled = np.asarray(draw.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    codes = np.asarray(draw.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    codes = np.where(labelled, codes, -1)
    given_ = np.array(["none" if v is None else v for v in values])
    given_[~labelled] = "none"
    col = pd.Series(values, dtype=object)
    if not np.any(given_ == "train"):
        with pytest.raises(ValueError, match="no labelled 'train'"):
            user_split(col, "split", labelled, codes, seed)
        return
    if np.any(given_ == "val"):
        np.testing.assert_array_equal(user_split(col, "split", labelled, codes, seed), given_)
        return
    drawn = val_from_train(given_, codes, seed=seed)
    if not np.any(drawn == "val"):
        with pytest.raises(ValueError, match="too few to draw"):
            user_split(col, "split", labelled, codes, seed)
        return
    np.testing.assert_array_equal(user_split(col, "split", labelled, codes, seed), drawn)
    with pytest.raises(ValueError, match="no labelled 'val'"):
        user_split(col, "split", labelled, None, seed)


# -- the input transform -------------------------------------------------------------------------
@st.composite
def value_matrix(draw, value_type: str | None = None):
    """A small matrix of the values of ``value_type`` (drawn where None), mostly zeros."""
    value_type = value_type or draw(
        st.sampled_from(["counts", "normalized", "binary", "continuous"])
    )
    n = draw(st.integers(1, 40))
    m = draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**16))
    density = draw(st.sampled_from([0.0, 0.2, 0.6, 1.0]))
    rng = np.random.default_rng(seed)
    if value_type == "counts":
        X = rng.poisson(rng.uniform(0.5, 30), size=(n, m)).astype(np.float32)
    elif value_type == "normalized":
        X = rng.uniform(0, 500, size=(n, m)).astype(np.float32)
    elif value_type == "binary":
        X = np.ones((n, m), dtype=np.float32)
    else:
        X = rng.normal(0, 3, size=(n, m)).astype(np.float32)
        if draw(st.booleans()):
            X = np.abs(X)
    X[rng.random((n, m)) >= density] = 0
    return value_type, X


def _fitted(value_type, X, rows, chunk=2048, scale=True):
    return InputTransform(value_type=value_type, scale=scale).fit(X, rows, chunk=chunk)


def _same_fit(a: InputTransform, b: InputTransform) -> None:
    """The same fitted figures (``min_``, ``range_`` only where they are used: scaling)."""
    assert a.scale == b.scale
    assert a.value_type == b.value_type
    scaled = ("min_", "range_") if a.scale else ()
    for name in (*scaled, "mean_", "share_", "detected_"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6, err_msg=name)
    assert a.integers_ == b.integers_


def _rows(draw, n: int) -> np.ndarray:
    """A non-empty subset of ``range(n)``, in drawn order."""
    return np.asarray(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True)))


@pytest.mark.parametrize("value_type", ["counts", "normalized", "binary", "continuous"])
@settings(PROPS, max_examples=30)
@given(chunk=st.sampled_from([1, 7, 2048]), draw=st.data())
def test_transform_fit_same_on_dense_csr_csc_and_any_chunk(value_type, chunk, draw):
    """The fit is the gene-wise minimum, range (infinite for a constant gene), mean and share
    of non-zero values of the row-wise step's output on ``rows``; a sparse matrix (CSR or
    CSC) and any chunk size give the dense fit of the same rows, and the same applied
    values."""
    _, X = draw.draw(value_matrix(value_type))
    rows = _rows(draw.draw, X.shape[0])
    dense = _fitted(value_type, X, rows)
    rowwise = dense._rows_np(X[rows]).astype(np.float64)
    lo, hi = rowwise.min(0), rowwise.max(0)
    np.testing.assert_allclose(dense.min_, lo, rtol=1e-6)
    varying = np.isfinite(dense.range_)
    np.testing.assert_allclose(dense.range_[varying], (hi - lo)[varying], rtol=1e-5, atol=1e-6)
    assert np.all(hi[~varying] - lo[~varying] <= 1e-6 * np.maximum(1, np.abs(hi[~varying])))
    np.testing.assert_allclose(dense.mean_, rowwise.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dense.detected_, np.mean(rowwise != 0, axis=0), atol=1e-7)
    for form in (X, sparse.csr_matrix(X), sparse.csc_matrix(X)):
        _same_fit(_fitted(value_type, form, rows, chunk=chunk), dense)
    block = X[rows]
    np.testing.assert_allclose(
        _fitted(value_type, sparse.csr_matrix(X), rows, chunk=chunk).apply(block),
        dense.apply(block),
        rtol=1e-5,
        atol=1e-6,
    )


@settings(PROPS, max_examples=40)
@given(
    value_type=st.sampled_from(["counts", "normalized", "binary", "continuous"]),
    block=st.integers(1, 64),
    chunk=st.sampled_from([1, 3, 2048]),
    draw=st.data(),
)
def test_transform_fit_same_whatever_the_block_of_values(value_type, block, chunk, draw):
    """With blocks of at most a few values (:data:`BLOCK_VALUES`, which bounds a dense
    block's rows and a CSR piece's stored values), the pieces of :func:`_row_chunks` still
    cover ``rows`` once, in order, and the fit is the one of a single block."""
    _, X = draw.draw(value_matrix(value_type))
    rows = _rows(draw.draw, X.shape[0])
    whole = _fitted(value_type, X, rows)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_transform, "BLOCK_VALUES", block)
        for form in (X, sparse.csr_matrix(X), sparse.csc_matrix(X)):
            pieces = list(_transform._row_chunks(form, rows, chunk))
            assert all(len(p) for p in pieces)
            np.testing.assert_array_equal(np.concatenate(pieces), rows)
            _same_fit(_fitted(value_type, form, rows, chunk=chunk), whole)


@PROPS
@given(data=value_matrix(), draw=st.data())
def test_transform_fit_reads_the_fitted_rows_only(data, draw):
    """Changing every row outside ``rows`` (dense or CSR) changes nothing in the fit: no test
    cell informs the scaling."""
    value_type, X = data
    rows = np.sort(_rows(draw.draw, X.shape[0]))
    other = np.setdiff1d(np.arange(X.shape[0]), rows)
    assume(other.size)
    changed = X.copy()
    changed[other] = 1000.0 if value_type != "binary" else 1.0
    if value_type == "continuous":
        changed[other[::2]] = -1000.0
    for make in (np.asarray, sparse.csr_matrix):
        _same_fit(_fitted(value_type, make(changed), rows), _fitted(value_type, make(X), rows))


@pytest.mark.parametrize("value_type", ["counts", "normalized", "binary", "continuous"])
@settings(PROPS, max_examples=25)
@given(scale=st.booleans(), draw=st.data())
def test_transform_round_trip_and_inverse_scale(value_type, scale, draw):
    """``to_dict``/``arrays``/``from_dict`` give an identical apply; ``inverse_scale`` of the
    applied training rows gives back the row-wise step's values (a constant gene its
    constant)."""
    _, X = draw.draw(value_matrix(value_type))
    rows = _rows(draw.draw, X.shape[0])
    t = _fitted(value_type, X, rows, scale=scale)
    back = InputTransform.from_dict(t.to_dict(), t.arrays())
    np.testing.assert_array_equal(back.apply(X), t.apply(X))
    _same_fit(back, t)
    block = X[rows]
    rowwise = t._rows_np(block)
    undone = t.inverse_scale(t.apply(block))
    if scale:
        varying = np.isfinite(t.range_)
        expected = np.where(varying, rowwise, t.min_)
        tol = 1e-5 * np.maximum(1.0, np.abs(rowwise)).max()
        np.testing.assert_allclose(undone, expected, rtol=1e-5, atol=tol)
    else:
        np.testing.assert_array_equal(undone, t.apply(block))


def _assert_scaled_close(got, want, t: InputTransform, genes=None) -> None:
    """Equal on the 0-1 scale up to a float32 rounding of the row-wise step (torch's log1p
    and numpy's differ by an ulp), which the scaling divides by the gene's range."""
    lo, rng = t.min_, t.range_
    if genes is not None:
        lo, rng = lo[genes], rng[genes]
    ulps = 4 * np.finfo(np.float32).eps * (np.abs(lo) + np.where(np.isfinite(rng), rng, 0))
    tol = 1e-6 + np.where(np.isfinite(rng), ulps / rng, 0)
    assert np.all(np.abs(np.asarray(got) - want) <= tol), np.max(np.abs(got - want) - tol)


@pytest.mark.parametrize("value_type", ["counts", "normalized", "binary", "continuous"])
@settings(PROPS, max_examples=30)
@given(draw=st.data())
def test_torch_transform_dense_and_stored_values_match_apply(value_type, draw):
    """The minibatch transform (dense tensor) and ``transform_sparse`` (stored values only,
    on any genes; a count cell's depth over all its genes) give
    :meth:`InputTransform.apply`'s values; ``transform_sparse`` refuses a transform that
    maps 0 elsewhere."""
    _, X = draw.draw(value_matrix(value_type))
    rows = _rows(draw.draw, X.shape[0])
    t = _fitted(value_type, X, rows)
    tt = t.to_torch("cpu")
    want = t.apply(X)
    _assert_scaled_close(tt(torch.from_numpy(X)).numpy(), want, t)
    m = X.shape[1]
    genes = np.asarray(draw.draw(st.lists(st.integers(0, m - 1), min_size=1, max_size=m)))
    for read in (genes, None):
        if not t.keeps_zeros(read):
            with pytest.raises(ValueError, match="keeps_zeros"):
                tt.transform_sparse(sparse.csr_matrix(X), read)
            continue
        expected = want if read is None else want[:, read]
        for form in (sparse.csr_matrix(X), sparse.csc_matrix(X)):
            _assert_scaled_close(tt.transform_sparse(form, read).toarray(), expected, t, read)


# -- metrics -----------------------------------------------------------------------------------
@st.composite
def labels_and_predictions(draw, max_classes: int = 6):
    """``n_classes`` and codes of truth and prediction in ``0..n_classes - 1``; classes absent
    from either, one class, agreement from none to full."""
    k = draw(st.integers(1, max_classes))
    n = draw(st.integers(1, 50))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    true_classes = rng.choice(k, size=draw(st.integers(1, k)), replace=False)
    pred_classes = rng.choice(k, size=draw(st.integers(1, k)), replace=False)
    y_true = rng.choice(true_classes, size=n)
    y_pred = rng.choice(pred_classes, size=n)
    agree = rng.random(n) < draw(st.sampled_from([0.0, 0.5, 0.9, 1.0]))
    y_pred[agree] = y_true[agree]
    return k, y_true.astype(np.int64), y_pred.astype(np.int64)


def _sk_f1(y_true, y_pred, k, average):
    present = np.union1d(y_true, y_pred)
    labels = np.arange(k)[np.isin(np.arange(k), present)]
    return skm.f1_score(y_true, y_pred, labels=labels, average=average, zero_division=0)


@settings(PROPS, max_examples=80)
@given(case=labels_and_predictions())
def test_label_metrics_match_sklearn(case):
    """accuracy, balanced accuracy (classes true in the part), macro and weighted F1 (classes
    true or predicted, ``zero_division=0``) equal sklearn's; :func:`f1_score`'s fast path and
    sklearn's (codes as floats) agree."""
    k, y_true, y_pred = case
    assert score(y_true, y_pred, "accuracy", k) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    with warnings.catch_warnings():  # "y_pred contains classes not in y_true"
        warnings.simplefilter("ignore")
        balanced = skm.balanced_accuracy_score(y_true, y_pred)
    assert score(y_true, y_pred, "balanced_accuracy", k) == pytest.approx(balanced)
    for metric, average in (("macro_f1", "macro"), ("weighted_f1", "weighted")):
        want = _sk_f1(y_true, y_pred, k, average)
        assert score(y_true, y_pred, metric, k) == pytest.approx(want, abs=1e-12)
        assert f1_score(y_true, y_pred, k, average) == pytest.approx(want, abs=1e-12)
        slow = score(y_true.astype(float), y_pred.astype(float), metric, k)
        assert slow == pytest.approx(want, abs=1e-12)


# one class (a model of one class is refused before training): sklearn's confusion_matrix
# warns of a single label although the labels are given
@pytest.mark.filterwarnings("ignore:A single label was found:UserWarning")
@settings(PROPS, max_examples=80)
@given(case=labels_and_predictions())
def test_classification_report_matches_sklearn_and_its_nan_rules(case):
    """The report's figures equal sklearn's and :func:`score`'s; a class absent from the truth
    has NaN recall, and NaN precision and F1 unless it was predicted (then 0.0)."""
    k, y_true, y_pred = case
    classes = np.array([f"c{i}" for i in range(k)])
    rep = classification_report(y_true, y_pred, classes)
    assert rep["n"] == len(y_true)
    assert rep["accuracy"] == pytest.approx(score(y_true, y_pred, "accuracy", k))
    assert rep["macro_f1"] == pytest.approx(score(y_true, y_pred, "macro_f1", k), abs=1e-12)
    assert rep["balanced_accuracy"] == pytest.approx(score(y_true, y_pred, "balanced_accuracy", k))
    np.testing.assert_array_equal(
        rep["confusion"], skm.confusion_matrix(y_true, y_pred, labels=np.arange(k))
    )
    p, r, f, s = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=np.arange(k), zero_division=0
    )
    pc = rep["per_class"]
    np.testing.assert_array_equal(pc["support"], s)
    true_, pred_ = np.isin(np.arange(k), y_true), np.isin(np.arange(k), y_pred)
    np.testing.assert_allclose(pc["recall"], np.where(true_, r, np.nan))
    for name, sk in (("precision", p), ("f1", f)):
        np.testing.assert_allclose(pc[name], np.where(true_ | pred_, sk, np.nan))
    assert np.all(pc["f1"][~true_ & pred_] == 0.0)


@st.composite
def labels_and_logits(draw, scales=(0.5, 3.0)):
    """Truth of ``k >= 2`` classes and logits whose rows come from a small pool of distinct
    rows: duplicate rows tie exactly, and no other ties arise by rounding. Of ``scales`` up
    to 3, no softmax probability rounds to 1.0 (differences of logits below ~36)."""
    k = draw(st.integers(2, 5))
    n = draw(st.integers(2, 50))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    scale = draw(st.sampled_from(scales))
    pool = rng.normal(0, scale, size=(draw(st.integers(1, 8)), k))
    logits = pool[rng.integers(0, len(pool), size=n)]
    y = rng.integers(0, draw(st.integers(1, k)), size=n)
    return k, y.astype(np.int64), logits


def _softmax(logits):
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@settings(PROPS, max_examples=50)
@given(case=labels_and_logits())
def test_roc_auc_of_logits_matches_sklearn_one_vs_rest(case):
    """``score_logits(..., "roc_auc")`` (ranks of :func:`log_odds`) is sklearn's one-vs-rest
    macro ROC AUC of the softmax probabilities over the classes defined (present, not all
    cells), NaN where none is; per class it is the probability's AUC, and the log-odds rank
    the cells as the probabilities do, exact ties kept."""
    k, y, logits = case
    probs = _softmax(logits)
    got = score_logits(y, torch.from_numpy(logits), "roc_auc", k)
    defined = [c for c in range(k) if 0 < np.sum(y == c) < len(y)]
    per_class = rank_scores(y, probs, names=("roc_auc",))["roc_auc"]
    for c in range(k):
        if c in defined:
            assert per_class[c] == pytest.approx(skm.roc_auc_score(y == c, probs[:, c]))
        else:
            assert np.isnan(per_class[c])
    odds = log_odds(logits)
    for c in range(k):
        np.testing.assert_array_equal(stats.rankdata(odds[:, c]), stats.rankdata(probs[:, c]))
    if not defined:
        assert np.isnan(got)
        return
    want = np.mean([skm.roc_auc_score(y == c, probs[:, c]) for c in defined])
    assert got == pytest.approx(want)
    if len(defined) == k and k > 2:
        assert got == pytest.approx(
            skm.roc_auc_score(y, probs, multi_class="ovr", labels=np.arange(k))
        )


@settings(PROPS, max_examples=40)
@given(case=labels_and_logits(scales=(0.5, 30.0)))
def test_binary_roc_auc_of_logits_is_the_auc_of_their_difference(case):
    """With two classes the log-odds are ``l_1 - l_0`` and its negative, and the ROC AUC is
    that of ``l_1 - l_0`` (sklearn's binary ROC AUC),
    also where the softmax probability saturates at 1.0 for cells the logits tell apart; the
    average precision is the rarer class's (class 1 on a tie), ranked by its log-odds."""
    _, y, logits = case
    logits = logits[:, :2]
    y = (y > 0).astype(np.int64)
    diff = logits[:, 1] - logits[:, 0]
    np.testing.assert_allclose(log_odds(logits), np.stack([-diff, diff], 1), rtol=1e-9, atol=1e-9)
    got = score_logits(y, torch.from_numpy(logits), "roc_auc", 2)
    ap = score_logits(y, torch.from_numpy(logits), "average_precision", 2)
    if 0 < y.sum() < len(y):
        assert got == pytest.approx(skm.roc_auc_score(y, diff))
        rare = 0 if np.sum(y == 0) < np.sum(y == 1) else 1  # a tie: class 1
        sign = 1 if rare == 1 else -1
        assert ap == pytest.approx(skm.average_precision_score(y == rare, sign * diff))
    else:
        assert np.isnan(got)
        assert np.isnan(ap)


@st.composite
def regression_values(draw):
    n = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    y = rng.normal(0, 5, size=n).round(draw(st.sampled_from([0, 2])))
    if draw(st.booleans()):
        y[:] = y[0]
    pred = y + rng.normal(0, draw(st.sampled_from([0.0, 0.5, 5.0])), size=n)
    if draw(st.booleans()):
        pred[:] = pred[0]
    return y, pred


@PROPS
@given(case=regression_values())
def test_regression_report_matches_sklearn_and_scipy(case):
    """r2, RMSE, MAE (sklearn), Pearson and Spearman (scipy) of one split, NaN where the
    documented rule says undefined (one value, constant truth or prediction); the search's
    :func:`regression_score` agrees with them (0.0 for a constant prediction's correlation)."""
    y, pred = case
    rep = regression_report(y, pred)
    assert rep["n"] == len(y)
    assert rep["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)))
    assert rep["mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
    varies = len(y) > 1 and np.ptp(y) > 0
    if varies:
        assert rep["r2"] == pytest.approx(skm.r2_score(y, pred))
        assert regression_score(y, pred, "r2") == pytest.approx(rep["r2"])
    else:
        assert np.isnan(rep["r2"])
    if varies and np.ptp(pred) > 0:
        assert rep["pearson"] == pytest.approx(stats.pearsonr(y, pred)[0])
        assert rep["spearman"] == pytest.approx(stats.spearmanr(y, pred)[0])
        assert regression_score(y, pred, "spearman") == pytest.approx(rep["spearman"])
    else:
        assert np.isnan(rep["pearson"])
        assert np.isnan(rep["spearman"])
        if len(y) > 1:
            assert regression_score(y, pred, "pearson") == 0.0


# -- the minibatch loader ----------------------------------------------------------------------
@PROPS
@given(
    n=st.integers(1, 60),
    batch_size=st.integers(1, 70),
    dense=st.booleans(),
    drop_last=st.booleans(),
    path=st.sampled_from(["as read", "stored values", "cached"]),
    seed=st.integers(0, 10**6),
    draw=st.data(),
)
def test_loader_reads_every_row_once_per_epoch(n, batch_size, dense, drop_last, path, seed, draw):
    """Shuffled or not, dense or CSR, transformed as read, on stored values or computed once
    (:func:`transformed_rows`), each of ``rows`` comes once per epoch, whole and with its own
    target, in ``len(loader)`` batches of ``batch_size`` rows but the last; with
    ``drop_last`` only a trailing batch of one row is left out; the same generator seed gives
    the same order."""
    rows = np.sort(_rows(draw.draw, n))
    X = np.zeros((n, 3), dtype=np.float32)
    X[:, 0] = np.arange(n)
    X[:, 1] = 0.5 * (np.arange(n) % 3)
    X[:, 2] = np.arange(n) % 2
    values = X
    X = X if dense else sparse.csr_matrix(X)
    y = np.arange(n) * 10
    tt = InputTransform(value_type="continuous", scale=False).fit(X, rows).to_torch("cpu")
    cached = transformed_rows(X, rows, tt, None) if path == "cached" else None

    def epoch(shuffle):
        loader = BatchLoader(
            X,
            rows,
            y,
            batch_size=batch_size,
            transform=tt,
            device=torch.device("cpu"),
            cached=cached,
            stored_values=path == "stored values",
            shuffle=shuffle,
            generator=torch.Generator().manual_seed(seed),
            drop_last=drop_last,
        )
        batches = list(loader)
        assert len(batches) == len(loader)
        return batches

    for shuffle in (False, True):
        batches = epoch(shuffle)
        sizes = [len(x) for x, _ in batches]
        assert all(s == batch_size for s in sizes[:-1])
        block = np.concatenate([x.numpy() for x, _ in batches])
        seen = block[:, 0].astype(np.int64)
        np.testing.assert_array_equal(block, values[seen])
        targets = np.concatenate([yb.numpy() for _, yb in batches])
        np.testing.assert_array_equal(targets, seen * 10)
        dropped = drop_last and len(rows) % batch_size == 1 and len(rows) > 1
        assert len(seen) == len(rows) - dropped
        assert len(set(seen.tolist())) == len(seen)
        assert set(seen) <= set(rows.tolist())
        if not shuffle:
            np.testing.assert_array_equal(seen, rows[: len(seen)])
        again = epoch(shuffle)
        for (x, yb), (x2, yb2) in zip(batches, again, strict=True):
            assert torch.equal(x, x2)
            assert torch.equal(yb, yb2)
