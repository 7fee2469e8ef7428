from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

import scautogenome as sag
from scautogenome.data import (
    BatchLoader,
    InputTransform,
    detect_value_type,
    group_split,
    prepare_labelled,
    resolve_task,
    stratified_split,
    tcga_patients,
)


def test_detect_value_type():
    assert (
        detect_value_type(sp.csr_matrix(np.array([[0, 3, 5], [1, 0, 2]], dtype=np.float32)))
        == "counts"
    )
    assert (
        detect_value_type(sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 0]], dtype=np.float32)))
        == "binary"
    )
    assert detect_value_type(np.array([[0.5, 1.2], [0.1, 3.3]])) == "continuous"
    assert detect_value_type(np.array([[-1.0, 2.0], [0.0, 3.0]])) == "continuous"
    # TPM / FPKM / RSEM: non-negative, non-integer, far above any log scale
    assert detect_value_type(np.array([[0.0, 1523.7], [12.5, 0.3]])) == "normalized"


def test_values_of_normalize_total_without_log1p_are_depth_normalized(sag_caplog):
    """sc.pp.normalize_total alone (every cell summing to one target, here a median depth of
    about 100, values far below UNLOGGED_MAX) is read as depth-normalized and log1p-transformed;
    its log1p, or its genes subset afterwards, stay continuous. A model trained on it does not
    warn about its own cells as a query of logged values, but does about a query of another
    normalization."""
    import anndata as ad
    import scanpy as sc

    rng = np.random.default_rng(0)
    adata = ad.AnnData(sp.csr_matrix(rng.poisson(0.5, (300, 200)).astype(np.float32)))
    adata.obs["label"] = pd.Categorical(rng.choice(["a", "b"], 300))
    sc.pp.normalize_total(adata)
    assert adata.X.max() < 10
    assert detect_value_type(adata.X) == "normalized"
    assert detect_value_type(adata.X.toarray()) == "normalized"
    assert detect_value_type(adata[:, :100].X) == "continuous"
    logged = adata.copy()
    sc.pp.log1p(logged)
    assert detect_value_type(logged.X) == "continuous"
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0)
    assert model.transform_.value_type == "normalized"
    assert "every row sums to" in sag_caplog.text
    sag_caplog.clear()
    model.predict(adata)
    assert "the model was trained on" not in sag_caplog.text
    # a query of scanpy's usual log1p(normalize_total(1e4)) values is another scale
    query = ad.AnnData(sp.csr_matrix(rng.poisson(0.5, (300, 200)).astype(np.float32)))
    sc.pp.normalize_total(query, target_sum=1e4)
    sc.pp.log1p(query)
    model.predict(query)
    assert "values whose mean over the model's genes is" in sag_caplog.text
    # quantile-normalized log values sum alike in every row too, but are no scaled counts
    logs = np.sort(rng.normal(9, 2, 200).clip(4, 19))
    quantile = np.stack([rng.permutation(logs) for _ in range(50)]).astype(np.float32)
    assert detect_value_type(quantile) == "continuous"


@pytest.mark.parametrize("as_sparse", [False, True])
def test_a_boolean_matrix_is_read_as_binary_values(as_sparse):
    """A mutation matrix stored as booleans (dense or sparse) is a matrix of 0/1 values, not
    refused as non-numeric: a model trains on it and predicts it; a query of one profile
    given as a 1-D array is refused as not 2-D (a row is ``X[None]``)."""
    a = sag.datasets.synthetic(n_obs=120, n_vars=30, n_classes=3, seed=0)
    flags = a.X.toarray() > 2
    a.X = sp.csr_matrix(flags) if as_sparse else flags
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(a, "label")
    assert model.transform_.value_type == "binary"
    assert len(model.predict(a)) == a.n_obs
    assert len(model.predict(flags[:2])) == 2
    with pytest.raises(ValueError, match=r"X must be 2-dimensional, got shape \(30,\)"):
        model.predict(flags[0])


@pytest.mark.parametrize("as_sparse", [False, True])
def test_check_finite_names_the_first_bad_value_past_the_first_row_chunk(as_sparse):
    """The first NaN of a matrix is named by its row in the whole matrix (it is read a
    chunk of rows at a time: 4,096) and by its column of the matrix where only some columns
    are checked (the genes a model reads of a query), with their names."""
    from scautogenome.data import check_finite

    X = np.ones((5000, 8), dtype=np.float32)
    X[4500, 6] = X[4700, 1] = np.nan
    obs = [f"c{i}" for i in range(5000)]
    var = [f"g{j}" for j in range(8)]
    M = sp.csr_matrix(X) if as_sparse else X
    with pytest.raises(ValueError, match=r": 2, the first \(nan\) at row 4500 \('c4500'\), col"):
        check_finite(M, "adata.X", obs_names=obs, var_names=var)
    with pytest.raises(ValueError, match=r": 1, the first .* row 4700 .*column 1 \('g1'\)"):
        check_finite(M, "adata.X", np.array([0, 1, 2]), obs_names=obs, var_names=var)
    with pytest.raises(ValueError, match=r"reads: 1, the first .* row 4500 .*column 6 \('g6'\)"):
        check_finite(M, "adata.X", np.array([5, 6]), obs_names=obs, var_names=var)
    check_finite(M, "adata.X", np.array([0, 7]))


def test_value_type_of_a_matrix_storing_values_in_parts():
    """A CSR matrix that stores an entry as several parts (duplicate entries, as scipy allows)
    holds the sums: counts stored in halves are still counts."""
    counts = np.array([[0, 3, 5], [1, 0, 2], [0, 0, 0]], dtype=np.float32)
    halves = sp.csr_matrix(
        (
            np.array([1.5, 2.5, 1.5, 2.5, 0.5, 1.0, 0.5, 1.0], dtype=np.float32),
            np.array([1, 2, 1, 2, 0, 2, 0, 2]),
            np.array([0, 4, 8, 8]),
        ),
        shape=counts.shape,
    )
    assert not halves.has_canonical_format
    np.testing.assert_array_equal(halves.toarray(), counts)
    assert detect_value_type(halves) == "counts"
    assert detect_value_type(halves.tocsc()) == "counts"
    assert not halves.has_canonical_format  # the input is left as it was
    assert len(halves.data) == 8


def test_normalized_values_are_logged_not_depth_normalized():
    X = np.array([[0.0, 1523.7, 3.2], [12.5, 0.3, 900.1], [5.0, 7.5, 250.25]], dtype=np.float32)
    t = InputTransform("normalized").fit(X, np.arange(3))
    expected = np.log1p(X)
    expected = (expected - expected.min(0)) / (expected.max(0) - expected.min(0))
    np.testing.assert_allclose(t.to_torch("cpu")(torch.from_numpy(X)).numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(t.apply(X), expected, rtol=1e-5)


def test_counts_transform_matches_scanpy(adata):
    import scanpy as sc

    d = prepare_labelled(adata, "label", seed=0)
    assert d.transform.value_type == "counts"
    ref = adata.copy()
    sc.pp.normalize_total(ref, target_sum=1e4)
    sc.pp.log1p(ref)
    train = d.rows("train")
    lo = ref.X[train].toarray().min(0)
    hi = ref.X[train].toarray().max(0)
    np.testing.assert_allclose(d.transform.min_, lo, rtol=1e-5, atol=1e-5)
    rng = hi - lo
    rng[rng == 0] = 1
    np.testing.assert_allclose(d.transform.range_, rng, rtol=1e-4, atol=1e-5)
    # the torch path on a batch equals the numpy path
    rows = np.arange(20)
    expected = np.clip((ref.X[rows].toarray() - lo) / rng, 0, 1)  # outside the train range: clipped
    got = d.transform.to_torch("cpu")(torch.from_numpy(adata.X[rows].toarray()))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_scaling_fitted_on_train_only(adata):
    adata.X = adata.X.toarray()
    d = prepare_labelled(adata, "label", seed=0)
    test = d.rows("test")
    adata.X[test, 0] = 1e6  # an extreme value outside train must not move the fitted range
    d2 = prepare_labelled(adata, "label", seed=0)
    np.testing.assert_array_equal(d.transform.range_[0], d2.transform.range_[0])


def test_binary_profiles_are_not_normalised():
    rng = np.random.default_rng(0)
    X = sp.csr_matrix((rng.random((60, 30)) < 0.2).astype(np.float32))
    t = InputTransform("binary").fit(X, np.arange(60))
    out = t.to_torch("cpu")(torch.from_numpy(X[:5].toarray()))
    assert set(np.unique(out.numpy())) <= {0.0, 1.0}


@pytest.mark.parametrize("fmt", ["csr", "csc", None])
def test_sparse_formats_give_identical_batches(fmt):
    a = sag.datasets.synthetic(n_obs=90, n_vars=40, sparse_format=fmt, seed=1)
    ref = sag.datasets.synthetic(n_obs=90, n_vars=40, sparse_format=None, seed=1)
    d = prepare_labelled(a, "label", seed=0)
    dr = prepare_labelled(ref, "label", seed=0)
    la = BatchLoader(
        d.X,
        d.rows("train"),
        d.codes,
        batch_size=16,
        transform=d.transform.to_torch("cpu"),
        device="cpu",
    )
    lr = BatchLoader(
        dr.X,
        dr.rows("train"),
        dr.codes,
        batch_size=16,
        transform=dr.transform.to_torch("cpu"),
        device="cpu",
    )
    for (xa, ya), (xr, yr) in zip(la, lr):
        torch.testing.assert_close(xa, xr)
        torch.testing.assert_close(ya, yr)


def test_stratified_split_is_seeded_and_stratified():
    codes = np.repeat(np.arange(3), [100, 30, 5])
    s1 = stratified_split(codes, seed=3)
    s2 = stratified_split(codes, seed=3)
    s3 = stratified_split(codes, seed=4)
    np.testing.assert_array_equal(s1, s2)
    assert not np.array_equal(s1, s3)
    for c, n in zip(range(3), [100, 30, 5]):
        part = s1[codes == c]
        n_small = max(1, round(0.1 * n))
        assert (part == "test").sum() == n_small
        assert (part == "val").sum() == n_small
        assert (part == "train").sum() == n - 2 * n_small


def test_user_split_honoured(adata):
    rng = np.random.default_rng(0)
    adata.obs["my_split"] = rng.choice(["train", "train", "train", "val", "test"], adata.n_obs)
    d = prepare_labelled(adata, "label", split_key="my_split")
    np.testing.assert_array_equal(d.split, adata.obs["my_split"].to_numpy())


def _tcga_twins(adata):
    """``adata`` with TCGA aliquot barcodes as names; every patient has two samples (its
    tumour and a second aliquot of it), of the same class."""
    half = adata.n_obs // 2
    names = []
    for i in range(adata.n_obs):
        patient = f"TCGA-AB-{i % half:04d}"
        names.append(f"{patient}-01A-11R-A29S-07" if i < half else f"{patient}-01B-21R-A29S-07")
    adata.obs_names = names
    adata.obs["label"] = adata.obs["label"].to_numpy()[np.arange(adata.n_obs) % half]
    return adata


def _parts_per_group(groups, split):
    import pandas as pd

    used = split != "none"
    return pd.crosstab(groups[used], split[used]).gt(0).sum(axis=1)


def test_tcga_patients_at_every_barcode_level():
    ids = ["TCGA-OR-A5J1-01A-11R-A29S-07", "tcga.or.a5j2.11a", "TCGA_OR_A5J3", "TCGA-OR-A5J4-01"]
    assert tcga_patients(ids).tolist() == [
        "TCGA-OR-A5J1",
        "TCGA-OR-A5J2",
        "TCGA-OR-A5J3",
        "TCGA-OR-A5J4",
    ]
    assert tcga_patients(["TCGA-OR-A5J1-01A", "cell_1"]) is None
    assert tcga_patients(["TCGA-OR-A5J1X"]) is None  # not a barcode: the patient part runs on
    assert (
        tcga_patients([" TCGA-OR-A5J1-01A ", "TCGA-OR-A5J1-11A"]).tolist() == ["TCGA-OR-A5J1"] * 2
    )


def test_group_split_without_repeats_is_the_stratified_split():
    codes = np.repeat(np.arange(3), [100, 30, 5])
    groups = np.array([f"g{i}" for i in range(codes.size)], dtype=object)
    np.testing.assert_array_equal(
        group_split(codes, groups, seed=3), stratified_split(codes, seed=3)
    )
    np.testing.assert_array_equal(group_split(codes, None, seed=3), stratified_split(codes, seed=3))


def test_group_split_keeps_each_group_in_one_part_stratified():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(120), rng.integers(1, 4, 120)).astype(str).astype(object)
    codes = (np.unique(groups, return_inverse=True)[1] % 3).astype(np.int64)
    s1 = group_split(codes, groups, seed=1)
    np.testing.assert_array_equal(s1, group_split(codes, groups, seed=1))
    assert (_parts_per_group(groups, s1) == 1).all()
    for c in range(3):  # 40 groups per class: 4 to test, 4 to val
        for part in ("val", "test"):
            assert np.unique(groups[(codes == c) & (s1 == part)]).size == 4


def _donors(n_donors: int, n_types: int, per: int = 60, *, stray: int = 3):
    """Cells of ``n_donors`` donors, donor i mostly of type i % n_types, with ``stray`` cells
    of each other type: codes and donors."""
    codes, donors = [], []
    for d in range(n_donors):
        for t in range(n_types):
            n = per if t == d % n_types else stray
            codes += [t] * n
            donors += [f"d{d}"] * n
    return np.array(codes, dtype=np.int64), np.array(donors, dtype=object)


def test_group_split_by_a_few_donors_holds_out_at_most_a_fifth_for_each_part(sag_caplog):
    """Nine donors, three of each cell type: each part takes at most twice its tenth, two
    donors (5:2:2), not one of each type's three (3:3:3, a third of the cells trained on),
    and the log says how little trains."""
    codes, donors = _donors(9, 3)
    for seed in range(5):
        split = group_split(codes, donors, seed=seed)
        assert (_parts_per_group(donors, split) == 1).all()
        n_groups = {p: np.unique(donors[split == p]).size for p in ("train", "val", "test")}
        assert n_groups == {"train": 5, "val": 2, "test": 2}, (seed, n_groups)
    assert "trains on 56% of the labelled cells: 4 of its 9 groups are held out whole" in (
        sag_caplog.text
    )
    assert "the largest with 11% of the cells" in sag_caplog.text
    # groups named with a leading NUL (a missing group value, resolve_groups): each counted
    sag_caplog.clear()
    group_split(codes, np.array(["\0" + d for d in donors], dtype=object), seed=0)
    assert "4 of its 9 groups" in sag_caplog.text
    # many donors per type: a tenth of each type's donors in each held-out part
    sag_caplog.clear()
    codes, donors = _donors(60, 3, per=10)
    split = group_split(codes, donors, seed=0)
    assert "trains on" not in sag_caplog.text
    main_type = {f"d{d}": d % 3 for d in range(60)}
    for part in ("val", "test"):
        held = [main_type[d] for d in np.unique(donors[split == part])]
        assert sorted(held) == [0, 0, 1, 1, 2, 2], (part, held)


def test_the_split_names_the_part_each_class_lacks(sag_caplog):
    """The warning names which held-out part each class lacks."""
    codes, donors = _donors(8, 2)
    codes[donors == "d0"] = 2  # class 2: one donor, which stays in train
    group_split(codes, donors, seed=0)
    assert "2 (no val or test)" in sag_caplog.text


def test_group_split_holds_out_a_group_of_each_small_class_beside_a_large_one():
    """A hundred patients of one cancer type beside five of two rare ones, one patient with
    two aliquots (so the split is by patient): each rare type still has a patient in val and
    in test, as the split of samples one by one gives them."""
    codes = np.repeat([0, 1, 2], [101, 5, 5])
    patients = np.array([f"p{i}" for i in range(codes.size)], dtype=object)
    patients[1] = "p0"  # two aliquots of one patient
    for seed in range(10):
        split = group_split(codes, patients, seed=seed)
        for c in range(3):
            for part in ("val", "test"):
                assert ((codes == c) & (split == part)).any(), (seed, c, part)


def test_a_place_a_class_cannot_fill_goes_to_another():
    """Four donors of class 0 each hold the only cells of a class of their own, so none can
    be held out: the held-out places go to the donors of class 1, not lost."""
    codes, donors = _donors(7, 1)
    codes[donors == "d4"] = codes[donors == "d5"] = codes[donors == "d6"] = 1
    for d in range(4):
        codes[np.flatnonzero(donors == f"d{d}")[:5]] = 2 + d  # a class of its own
    for seed in range(5):
        split = group_split(codes, donors, seed=seed)
        assert {"train", "val", "test"} <= set(split)
        held = set(np.unique(donors[np.isin(split, ["val", "test"])]))
        assert held <= {"d4", "d5", "d6"}, (seed, held)


def test_places_passed_on_by_test_leave_val_its_own():
    """Test's place that a class cannot fill is passed on only once val has drawn its own:
    it took the last donor of class B that could be held out, and val was left empty (an
    error blaming the number of donors)."""
    codes, donors = [], []
    for d in range(3):
        codes += [0] * 20
        donors += [f"b{d}"] * 20
    for d in range(3):  # each also holds the only cells of a class of its own
        codes += [1] * 20 + [2 + d] * 3
        donors += [f"c{d}"] * 23
    for d in range(2):
        codes += [5] * 20
        donors += [f"d{d}"] * 20
    codes, donors = np.array(codes), np.array(donors, dtype=object)
    for seed in range(5):
        split = group_split(codes, donors, seed=seed)
        for part in ("val", "test"):
            assert np.unique(donors[split == part]).tolist() in (["b0"], ["b1"], ["b2"]), seed


def test_a_place_no_donor_of_its_type_can_take_goes_to_the_type_furthest_below_its_share():
    """Four donors of type A each hold a class of their own, so none can be held out; their
    place in each part goes to the type furthest below its share (B: 20 donors, 2 places,
    short by 0), not to one already over it (C: 4 donors, 1 place for a share of 0.4)."""
    codes, donors = [], []
    for d in range(4):
        codes += [0] * 20 + [3 + d] * 3  # each holds the only cells of a class of its own
        donors += [f"a{d}"] * 23
    for kind, n, code in (("c", 4, 1), ("b", 20, 2)):  # C's stratum before B's
        for d in range(n):
            codes += [code] * 20
            donors += [f"{kind}{d}"] * 20
    codes, donors = np.array(codes), np.array(donors, dtype=object)
    kind = np.array([d[0] for d in donors])
    for seed in range(5):
        split = group_split(codes, donors, seed=seed)
        for part in ("val", "test"):
            held = pd.Series(np.unique(donors[split == part])).str[0].value_counts().to_dict()
            assert held == {"b": 3, "c": 1}, (seed, part, held)
        assert (split[kind == "a"] == "train").all()


def test_places_over_the_cap_are_taken_back_from_the_strata_most_over_their_share():
    """A part of a tenth over three strata of 10, 3 and 3 groups has a place in each (1, and
    1 for a share of 0.3 twice); capped at 2, the place taken back is one of a stratum of 3,
    the most over its share, never that of the stratum of 10 (exactly at its share)."""
    from scautogenome.data._split import _places

    sizes = np.array([10, 3, 3])
    assert _places(sizes, 0.1, 3, np.random.default_rng(0)).tolist() == [1, 1, 1]
    taken_from = set()
    for seed in range(10):
        places = _places(sizes, 0.1, 2, np.random.default_rng(seed))
        assert places[0] == 1, (seed, places)
        assert places.sum() == 2, (seed, places)
        taken_from.add(int(np.flatnonzero(places == 0)[0]))
    assert taken_from == {1, 2}  # ties drawn
    # capped at 1: the stratum of 10 keeps its place, neither of 3 does
    assert _places(sizes, 0.1, 1, np.random.default_rng(0)).tolist() == [1, 0, 0]
    # a stratum whose place is taken is not asked again, though it is then the least short
    # of its share (0.4 against 25 groups' 2 places for 2.5)
    assert _places(np.array([25, 4]), 0.1, 1, np.random.default_rng(0)).tolist() == [1, 0]


def test_a_donor_of_most_cells_is_held_out_only_where_no_other_can_be(sag_caplog):
    """Five donors of one cell type, one of them with 60% of the cells: the held-out parts
    take the small donors (drawn by number, the big one went to val for some seeds and left
    31% of the cells to train)."""
    sizes = [300, 50, 50, 50, 50]
    donors = np.repeat([f"d{i}" for i in range(5)], sizes).astype(object)
    codes = np.zeros(donors.size, dtype=np.int64)
    codes[::2] = 1  # two cell types in every donor
    for seed in range(10):
        split = group_split(codes, donors, seed=seed)
        assert (split[donors == "d0"] == "train").all(), seed
        assert np.mean(split == "train") == pytest.approx(0.8), seed
    # a stratum of big groups only still holds one out
    donors = np.repeat(["a", "b", "c"], [100, 100, 100]).astype(object)
    codes = np.zeros(donors.size, dtype=np.int64)
    codes[::2] = 1
    split = group_split(codes, donors, seed=0)
    assert {"train", "val", "test"} == set(split)


def test_val_drawn_by_donors_from_a_users_train_part_is_at_most_two_ninths():
    """A train/test split of the user's by donor: the val part takes one donor of each
    type's (about a ninth of each), at most two ninths of the training donors (one of four,
    not a half)."""
    from scautogenome.data._split import val_from_train

    for n_train, expected in ((4, 1), (8, 2), (18, 2), (36, 4)):
        codes, donors = _donors(n_train + 2, 2)
        split = np.where(np.isin(donors, [f"d{n_train}", f"d{n_train + 1}"]), "test", "train")
        out = val_from_train(split, codes, seed=0, groups=donors)
        n_val = np.unique(donors[out == "val"]).size
        assert n_val == expected, (n_train, n_val)
        assert (out[split == "test"] == "test").all()


def test_held_out_donors_never_take_every_training_cell_of_a_class():
    """A class whose training cells are all in one donor: that donor stays in train for any
    seed, in the val part drawn from a user's train part and in the seeded split."""
    from scautogenome.data._split import val_from_train

    codes, donors = _donors(8, 2)
    rare = np.flatnonzero(donors == "d0")[:10]
    codes[rare] = 2  # class 2: ten cells, all of donor d0
    split = np.where(np.isin(donors, ["d6", "d7"]), "test", "train")
    for seed in range(10):
        out = val_from_train(split, codes, seed=seed, groups=donors)
        assert (out[codes == 2] == "train").all(), seed
        seeded = group_split(codes, donors, seed=seed)
        assert (seeded[codes == 2] == "train").all(), seed


def test_tcga_samples_of_one_patient_never_straddle_train_and_test(adata):
    """Two aliquots of one tumour in train and test would score memory, not learning."""
    adata = _tcga_twins(adata)
    patients = tcga_patients(adata.obs_names)
    d = prepare_labelled(adata, "label", seed=0)
    assert d.grouped_by == "TCGA patient of obs_names"
    assert (_parts_per_group(patients, d.split) == 1).all()
    assert {"train", "val", "test"} <= set(d.split)
    loose = prepare_labelled(adata, "label", seed=0, group_key=None)
    assert loose.grouped_by is None
    assert (_parts_per_group(patients, loose.split) > 1).any()  # the leak the groups prevent
    # a numeric target too
    adata.obs["age"] = np.linspace(20, 80, adata.n_obs)[np.arange(adata.n_obs) % 150]
    r = prepare_labelled(adata, "age", seed=0, task="regression")
    assert (_parts_per_group(patients, r.split) == 1).all()


def test_tcga_patients_stay_whole_beside_samples_of_other_names(adata, sag_caplog):
    """TCGA tumours beside GTEx normals (names that are no barcodes): the patients are still
    kept whole, the other samples split one by one, and the log says so."""
    adata = _tcga_twins(adata)
    names = adata.obs_names.to_numpy().copy()
    names[:40] = [f"GTEX-{1000 + i}-0011-R10A-SM-{i}" for i in range(40)]
    adata.obs_names = names
    patients = tcga_patients(adata.obs_names[40:])
    d = prepare_labelled(adata, "label", seed=0)
    assert d.grouped_by == "TCGA patient of obs_names"
    assert (_parts_per_group(patients, d.split[40:]) == 1).all()
    assert "260 of the 300 samples are named by TCGA barcodes" in sag_caplog.text
    assert "the other 40 (e.g. ['GTEX-1000-0011-R10A-SM-0'" in sag_caplog.text
    # one barcode-like name among cells of other names is no TCGA data: the split is as
    # without it (here: no groups)
    cells = adata.copy()
    cells.obs_names = ["TCGA-AB-0001-01A"] + [f"cell_{i}" for i in range(1, cells.n_obs)]
    assert prepare_labelled(cells, "label", seed=0).grouped_by is None


def test_tcga_patients_stay_whole_when_samples_of_other_names_are_the_most(adata, sag_caplog):
    """GTEx normals outnumbering the TCGA samples (common for some tissues): a patient whose
    tumour and normal are both there is still kept in one part."""
    adata = _tcga_twins(adata)
    names = adata.obs_names.to_numpy().copy()
    # 40 patients of two samples each, 220 GTEx samples
    names[40:150] = [f"GTEX-{1000 + i}-0011-R10A-SM-{i}" for i in range(110)]
    names[190:] = [f"GTEX-{2000 + i}-0011-R10A-SM-{i}" for i in range(110)]
    adata.obs_names = names
    tcga = ~np.char.startswith(names.astype(str), "GTEX")
    patients = tcga_patients(adata.obs_names[tcga])
    assert len(set(patients)) == 40
    d = prepare_labelled(adata, "label", seed=0)
    assert d.grouped_by == "TCGA patient of obs_names"
    assert (_parts_per_group(patients, d.split[tcga]) == 1).all()
    assert re.search(r"80 of the 300 \w+ are named by TCGA barcodes", sag_caplog.text)


def test_a_gtex_donors_tissues_stay_whole_beside_tcga_samples(adata, sag_caplog):
    """GTEx sample ids beside TCGA barcodes: a donor's tissues (GTEX-XXXXX-...) are one
    person, kept in one part as a TCGA patient's samples are (they were split one by one)."""
    adata = _tcga_twins(adata)
    names = adata.obs_names.to_numpy().copy()
    # 40 GTEx donors of three tissues each, beside 90 TCGA patients of two samples
    names[:120] = [f"GTEX-{1000 + i // 3}-{i % 3:04d}-SM-{i}" for i in range(120)]
    adata.obs_names = names
    donors = np.array([n.split("-")[1] for n in names[:120]])
    d = prepare_labelled(adata, "label", seed=0)
    assert d.grouped_by == "TCGA patient of obs_names"
    assert (_parts_per_group(donors, d.split[:120]) == 1).all()
    assert set(d.split[:120]) >= {"train", "test"}
    assert "the other 120 (e.g. ['GTEX-1000-0000-SM-0'" in sag_caplog.text
    assert "per GTEx donor (GTEX-XXXXX), or one by one" in sag_caplog.text
    # GTEx donors of several tissues outnumbering TCGA samples of one each: still grouped
    solo = adata.copy()
    gtex = [f"GTEX-{1000 + i // 3}-{i % 3:04d}-SM-{i}" for i in range(240)]
    solo.obs_names = [*gtex, *(f"TCGA-AB-{i:04d}-01A" for i in range(60))]
    assert prepare_labelled(solo, "label", seed=0).grouped_by == "TCGA patient of obs_names"


def test_a_donor_column_left_ungrouped_is_named(adata, sag_caplog):
    """A split drawn cell by cell beside an obs column of donors: the log names the column
    and group_key= of it; with the groups, a split of one's own or no such column it says
    nothing."""
    adata.obs["Donor"] = [f"d{i % 4}" for i in range(adata.n_obs)]
    d = prepare_labelled(adata, "label", seed=0)
    assert d.grouped_by is None
    assert "obs['Donor'] names 4 donors or samples" in sag_caplog.text
    assert "group_key='Donor' keeps each in one part" in sag_caplog.text
    for kwargs in ({"group_key": "Donor"}, {"group_key": None}):
        sag_caplog.clear()
        prepare_labelled(adata, "label", seed=0, **kwargs)
        assert "donors or samples" not in sag_caplog.text
    adata.obs["part"] = np.where(np.arange(adata.n_obs) % 5 == 0, "test", "train")
    sag_caplog.clear()
    prepare_labelled(adata, "label", seed=0, split_key="part")
    assert "donors or samples" not in sag_caplog.text
    adata.obs["Donor"] = [f"d{i}" for i in range(adata.n_obs)]  # one cell each: no donors
    sag_caplog.clear()
    prepare_labelled(adata, "label", seed=0)
    assert "donors or samples" not in sag_caplog.text
    # the labels' own column, or a column of the classes under other names: no groups to
    # hold out (each would be a whole class)
    adata.obs["sample"] = adata.obs["label"].astype(str) + "_x"
    adata.obs["patient"] = adata.obs["label"]
    del adata.obs["Donor"]
    sag_caplog.clear()
    prepare_labelled(adata, "patient", seed=0)
    assert "donors or samples" not in sag_caplog.text


def test_copies_of_a_sample_under_one_name_never_straddle_the_split(adata, caplog):
    """Names that are not TCGA barcodes but repeat (a sample exported twice): "auto" keeps the
    rows of one name in one part, and logs it; group_key=None, a group column or a split of
    the user's own wins."""
    import anndata as ad

    from scautogenome._settings import logger as sag_logger

    twice = ad.concat([adata, adata[:60].copy()])
    names = twice.obs_names.to_numpy()
    assert not twice.obs_names.is_unique
    sag.settings.verbosity = 2  # the log is info
    sag_logger.addHandler(caplog.handler)  # sag's logger does not propagate
    try:
        d = prepare_labelled(twice, "label", seed=0)
    finally:
        sag_logger.removeHandler(caplog.handler)
    assert "120 cells share their obs_name with another (60 names)" in caplog.text
    assert d.grouped_by == "duplicated obs_names"
    assert (_parts_per_group(names, d.split) == 1).all()
    assert {"train", "val", "test"} <= set(d.split)
    loose = prepare_labelled(twice, "label", seed=0, group_key=None)
    assert loose.grouped_by is None
    assert (_parts_per_group(names, loose.split) > 1).any()  # the leak the groups prevent
    twice.obs["donor"] = np.arange(twice.n_obs) // 3
    assert prepare_labelled(twice, "label", group_key="donor").grouped_by == "donor"
    twice.obs["my_split"] = loose.split
    own = prepare_labelled(twice, "label", split_key="my_split")
    np.testing.assert_array_equal(own.split, loose.split)
    # a numeric target too
    twice.obs["age"] = np.linspace(20, 80, twice.n_obs)
    r = prepare_labelled(twice, "age", seed=0, task="regression")
    assert (_parts_per_group(names, r.split) == 1).all()
    # unique names: split one by one, as before
    assert prepare_labelled(adata, "label", seed=0).grouped_by is None


def test_group_key_column_and_its_checks(adata, caplog):
    adata.obs["donor"] = np.arange(adata.n_obs) // 3
    d = prepare_labelled(adata, "label", group_key="donor")
    assert d.grouped_by == "donor"
    assert (_parts_per_group(adata.obs["donor"].to_numpy(), d.split) == 1).all()
    # names that are not TCGA barcodes: "auto" splits cells one by one, as before
    auto = prepare_labelled(adata, "label")
    assert auto.grouped_by is None
    np.testing.assert_array_equal(auto.split, stratified_split(auto.codes, seed=0))
    with pytest.raises(KeyError, match="group_key='patient' is not a column"):
        prepare_labelled(adata, "label", group_key="patient")
    # a split of the user's own is kept; groups across its parts are named in a warning
    adata.obs["my_split"] = np.where(np.arange(adata.n_obs) % 10 == 0, "test", "train")
    adata.obs.loc[adata.obs_names[1::10], "my_split"] = "val"
    caplog.set_level("WARNING")
    sag._settings.logger.addHandler(caplog.handler)
    try:
        u = prepare_labelled(adata, "label", split_key="my_split", group_key="donor")
    finally:
        sag._settings.logger.removeHandler(caplog.handler)
    np.testing.assert_array_equal(u.split, adata.obs["my_split"].to_numpy())
    assert "both in train and in val or test" in caplog.text


def test_numeric_target_split_by_groups_holds_out_the_fractions(sag_caplog):
    """A numeric target split by donors holds out about a tenth for val and for test, as
    classes do (bins of the cells' values held a few donors each, and one of each out: up to
    45% of the cells); each donor stays in one part and each part spans the values."""
    import anndata as ad

    rng = np.random.default_rng(0)
    for n_donors, per in ((40, 15), (50, 20), (100, 10)):
        donor = np.repeat([f"d{i}" for i in range(n_donors)], per)
        n = donor.size
        age = np.repeat(rng.uniform(20, 90, n_donors), per) + rng.normal(0, 5, n)
        a = ad.AnnData(
            rng.poisson(2, (n, 20)).astype(np.float32),
            obs=pd.DataFrame({"donor": donor, "age": age}, index=[f"c{i}" for i in range(n)]),
        )
        r = prepare_labelled(a, "age", seed=0, task="regression", group_key="donor")
        assert (_parts_per_group(donor, r.split) == 1).all()
        share = {p: float(np.mean(r.split == p)) for p in ("train", "val", "test")}
        assert share["train"] == pytest.approx(0.8, abs=0.03), share
        assert share["val"] == pytest.approx(0.1, abs=0.03), share
        assert share["test"] == pytest.approx(0.1, abs=0.03), share
        for part in ("val", "test"):  # stratified: low and high values held out alike
            held = age[r.split == part]
            assert held.min() < np.median(age) < held.max()
    # a split of the user's own with one donor in val and test: named in a warning
    a.obs["my_split"] = np.where(np.arange(a.n_obs) < 800, "train", "val")
    a.obs.loc[a.obs_names[905:910], "my_split"] = "test"  # half of d90: val and test
    a.obs.loc[a.obs_names[950:], "my_split"] = "test"
    prepare_labelled(a, "age", task="regression", split_key="my_split", group_key="donor")
    assert "1 group(s) (donor; e.g. d90) both in val and in test" in sag_caplog.text
    assert "both in train" not in sag_caplog.text
    # cells without a donor are each a group of their own: binned, and not one group across
    # val and test
    a.obs["donor"] = a.obs["donor"].astype(object)
    a.obs.loc[a.obs_names[[1, 2, 905]], "donor"] = None
    r = prepare_labelled(a, "age", seed=0, task="regression", group_key="donor")
    assert {"train", "val", "test"} <= set(r.split)
    a.obs["my_split"] = np.where(np.arange(a.n_obs) < 800, "train", "val")
    a.obs.loc[a.obs_names[[2, *range(960, 970)]], "my_split"] = "test"  # 2: of no donor
    a.obs.loc[a.obs_names[1], "my_split"] = "val"  # cell 1 of no donor in val
    sag_caplog.clear()
    prepare_labelled(a, "age", task="regression", split_key="my_split", group_key="donor")
    assert "both in val and in test" not in sag_caplog.text


def test_missing_labels_are_not_trained_on(adata):
    adata.obs["label"] = adata.obs["label"].astype(object)
    adata.obs.iloc[:7, 0] = None
    d = prepare_labelled(adata, "label", seed=0)
    assert (d.codes[:7] == -1).all()
    assert (d.split[:7] == "none").all()


def test_batches_never_densify_whole_matrix(monkeypatch, tiny_config):
    """Only minibatch-sized row blocks are densified during fit and predict."""
    adata = sag.datasets.synthetic(n_obs=2600, n_vars=30, n_markers=5, seed=2)
    shapes = []
    orig = sp.csr_matrix.toarray

    def spy(self, *args, **kwargs):
        shapes.append(self.shape)
        return orig(self, *args, **kwargs)

    monkeypatch.setattr(sp.csr_matrix, "toarray", spy)
    tiny_config["budget"]["n_trials"] = 1
    tiny_config["trainer"]["max_epochs"] = 2
    model = sag.tl.classify(adata, "label", config=tiny_config)
    model.predict_proba(adata, batch_size=64)
    assert shapes, "the spy saw no densification at all"
    # fit chunks are <= 2048 rows, minibatches <= 256, prediction batches <= 1024
    assert max(s[0] for s in shapes) <= 2048 < adata.n_obs


def test_tiny_ranges_do_not_overflow():
    X = np.zeros((4, 3), dtype=np.float32)
    X[:, 0] = [0, 1e-43, 0, 0]  # a float32 denormal: 1 / range would overflow
    X[:, 1] = [1, 2, 3, 4]
    t = InputTransform("continuous").fit(X, np.arange(4))
    out = t.to_torch("cpu")(torch.from_numpy(X))
    assert torch.isfinite(out).all()
    np.testing.assert_allclose(out[:, 1].numpy(), [0, 1 / 3, 2 / 3, 1], rtol=1e-6)


@pytest.mark.parametrize("dense", [False, True])
def test_backed_anndata_is_read_as_stored(tmp_path, tiny_config, dense):
    """read_h5ad(backed="r"): a sparse X is read into memory sparse (never densified), a dense
    one as an array; classify and embed run and their outputs round-trip (was: "adata.X must
    be 2-dimensional, got shape ()")."""
    import anndata as ad

    from scautogenome.data import get_matrix

    src = sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0)
    if dense:
        src.X = src.X.toarray()
    src.write_h5ad(tmp_path / "in.h5ad")
    backed = ad.read_h5ad(tmp_path / "in.h5ad", backed="r")
    X = get_matrix(backed, None)
    assert sp.issparse(X) != dense
    np.testing.assert_array_equal(
        X.toarray() if sp.issparse(X) else X, src.X if dense else src.X.toarray()
    )
    sag.tl.classify(backed, "label", config=tiny_config)
    embed_cfg = {"budget": {"n_trials": 1, "time_budget": None}, "trainer": {"max_epochs": 2}}
    sag.tl.embed(backed, config=embed_cfg)
    backed.to_memory().write_h5ad(tmp_path / "out.h5ad")
    back = ad.read_h5ad(tmp_path / "out.h5ad")
    assert back.obs["sag_pred"].notna().all()
    assert back.obsm["X_sag_resvae"].shape == (300, 10)


@pytest.mark.parametrize("chunks", ["dense", "csr"])
def test_a_dask_matrix_is_computed_as_stored(tiny_config, chunks, sag_caplog):
    """A dask X (anndata's ``read_elem_lazy`` of an h5ad's X, or ``da.from_array``) is computed
    into memory once, as its chunks are stored: CSR chunks stay sparse, never densified, and
    the log says so, as for a backed X. Was: "adata.X must be 2-dimensional, got shape ()",
    after every chunk was read. Classify and predict give what the in-memory matrix gives."""
    da = pytest.importorskip("dask.array")

    from scautogenome.data import get_matrix

    src = sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0)
    lazy = src.copy()
    lazy.X = da.from_array(src.X.toarray(), chunks=(100, -1))
    if chunks == "csr":
        lazy.X = lazy.X.map_blocks(sp.csr_matrix, meta=sp.csr_matrix((0, 0), dtype=np.float32))
    X = get_matrix(lazy, None)
    assert sp.issparse(X) == (chunks == "csr")
    np.testing.assert_array_equal(X.toarray() if sp.issparse(X) else X, src.X.toarray())
    assert "X is a dask array; computing it into memory" in sag_caplog.text
    model = sag.tl.classify(lazy, "label", config=tiny_config)
    sag.tl.classify(src, "label", config=tiny_config)
    assert (lazy.obs["sag_pred"] == src.obs["sag_pred"]).all()
    np.testing.assert_array_equal(model.predict(lazy), model.predict(src))


def test_a_dask_counts_layer_is_read_for_the_hints_by_its_first_rows(sag_caplog):
    """The hints that look for a counts layer (embed's on a log X, predict's on a query of a
    counts model) read a dask layer's first rows only, computed; was: "float() argument must
    be ... not 'csr_matrix'" before any work."""
    da = pytest.importorskip("dask.array")
    import scanpy as sc

    adata = sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0)
    model = sag.tl.classify(adata.copy(), "label", n_trials=1, time_budget=None)  # on counts
    counts = adata.X.copy()
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    adata.layers["counts"] = da.from_array(counts.toarray(), chunks=(100, -1)).map_blocks(
        sp.csr_matrix, meta=sp.csr_matrix((0, 0), dtype=np.float32)
    )
    sag.tl.predict(adata, model)
    assert "(layer='counts', whose values are integers, " in sag_caplog.text
    cfg = {"budget": {"n_trials": 1, "time_budget": None}, "trainer": {"max_epochs": 2}}
    sag.tl.embed(adata, config=cfg)
    assert "layers['counts'] holds raw counts: layer='counts'" in sag_caplog.text


def test_a_view_of_a_backed_anndata_is_refused_with_a_hint_that_works(tmp_path):
    """anndata will not .copy() a view of a backed AnnData: the refusal suggests
    .to_memory() there (and .copy() for a view of an in-memory one); the hint works."""
    import anndata as ad

    src = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=2, seed=0)
    src.write_h5ad(tmp_path / "in.h5ad")
    backed = ad.read_h5ad(tmp_path / "in.h5ad", backed="r")
    view = backed[backed.obs["label"] == backed.obs["label"].iloc[0]]
    with pytest.raises(ValueError, match=r"e\.g\. adata\[mask\]\.to_memory\(\)\."):
        sag.tl.classify(view, "label")
    with pytest.raises(ValueError, match=r"object \(adata\[mask\]\.to_memory\(\)\)"):
        sag.tl.embedding_scores(view, "X", "label", key_added="s")
    assert not view.to_memory().is_view  # what the hint says works
    with pytest.raises(ValueError, match=r"e\.g\. adata\[mask\]\.copy\(\)\."):
        sag.tl.classify(src[:30], "label")


def test_the_split_does_not_depend_on_the_order_of_categories():
    """Reordering a categorical's categories (for a plot, say) keeps the seeded split, the
    grouped one and the validation part drawn from a user's train/test split; plain text and
    sorted categories split as before."""
    import pandas as pd

    from scautogenome.data import prepare_labelled

    a = sag.datasets.synthetic(n_obs=300, n_vars=20, n_classes=4, seed=0)
    text = a.obs["label"].astype(str).to_numpy()
    a.obs["donor"] = [f"d{i % 40}" for i in range(a.n_obs)]
    a.obs["fold"] = np.where(np.arange(a.n_obs) % 5 == 0, "test", "train")
    names = sorted(set(text))
    columns = {
        "text": text,
        "sorted": pd.Categorical(text),
        "reversed": pd.Categorical(text, categories=names[::-1]),
        "shuffled": pd.Categorical(text, categories=[names[i] for i in (2, 0, 3, 1)]),
    }
    splits = {}
    for name, column in columns.items():
        a.obs["lab"] = column
        splits[name] = [
            prepare_labelled(a, "lab", seed=3, group_key=None).split,
            prepare_labelled(a, "lab", seed=3, group_key="donor").split,
            prepare_labelled(a, "lab", seed=3, split_key="fold").split,
        ]
    for name in ("sorted", "reversed", "shuffled"):
        for mine, theirs in zip(splits[name], splits["text"]):
            np.testing.assert_array_equal(mine, theirs)
    # numbers split in numeric order, as a categorical of the same numbers does
    codes = np.repeat([1, 2, 10], 20)
    a2 = a[:60].copy()
    a2.obs["n"] = codes
    plain = prepare_labelled(a2, "n", seed=1, task="classification").split
    a2.obs["n"] = pd.Categorical(codes, categories=[10, 2, 1])
    np.testing.assert_array_equal(
        prepare_labelled(a2, "n", seed=1, task="classification").split, plain
    )


def test_a_gene_constant_in_training_is_zero_in_every_cell():
    """Its first-layer weights never get a gradient, so its value must not reach them in val,
    test or query cells either (it entered at full scale, 1)."""
    X = np.array([[0.0, 1.0], [0.0, 2.0], [0.0, 3.0], [3.0, 2.5]], dtype=np.float32)
    t = InputTransform(value_type="continuous", scale=True).fit(X, np.arange(3))
    out = t.apply(X)
    np.testing.assert_array_equal(out[:, 0], 0.0)
    np.testing.assert_allclose(out[:, 1], [0.0, 0.5, 1.0, 0.75])
    on_torch = t.to_torch("cpu")(torch.from_numpy(X)).numpy()
    np.testing.assert_array_equal(on_torch, out)


def test_counts_or_normalized_value_type_on_log_values_is_warned(capfd):
    """value_type='counts' (or 'normalized') on log-normalized values would log1p them a
    second time: warned before training (it was silent until prediction)."""
    adata = sag.datasets.synthetic(n_obs=90, n_vars=20, n_classes=3, seed=0)
    adata.X = adata.X.copy()
    adata.X.data = np.log1p(adata.X.data)
    capfd.readouterr()
    prepare_labelled(adata, "label", value_type="counts", seed=0)
    assert "holds non-integer values (log-normalized?)" in capfd.readouterr().err
    # value_type='normalized' (unlogged TPM) on log values: log1p'd again, warned alike
    prepare_labelled(adata, "label", value_type="normalized", seed=0)
    err = capfd.readouterr().err
    assert "values up to" in err
    assert "only (already logged?)" in err
    tpm = adata.copy()
    tpm.X.data = np.expm1(tpm.X.data) * 1e3  # unlogged values past 100: no warning
    prepare_labelled(tpm, "label", value_type="normalized", seed=0)
    assert "already logged" not in capfd.readouterr().err


@pytest.mark.parametrize("value_type", ["counts", "normalized", "binary", "continuous"])
def test_sparse_fit_equals_dense_fit_without_densifying(value_type, monkeypatch):
    rng = np.random.default_rng(0)
    dense = rng.poisson(0.7, size=(300, 40)).astype(np.float32)
    if value_type == "normalized":
        dense *= 157.3
    elif value_type == "binary":
        dense = (dense > 0).astype(np.float32)
    elif value_type == "continuous":
        dense *= rng.normal(size=dense.shape).astype(np.float32)  # signed, zeros kept
    dense[:, 3] = 0.0  # a gene never seen: constant
    dense[7] = 0.0  # a cell without counts
    rows = rng.permutation(300)[:250]
    ref = InputTransform(value_type).fit(dense, rows)
    # the same values as CSR with every entry stored twice (halves, summed by scipy) and an
    # explicit zero
    A = sp.csr_matrix(dense)
    data = np.repeat(A.data / 2, 2)
    data[0], data[1] = 0.0, A.data[0]
    X = sp.csr_matrix((data, np.repeat(A.indices, 2), 2 * A.indptr), shape=dense.shape)
    assert not X.has_canonical_format

    def no_toarray(self, *a, **k):
        raise AssertionError("fit densified a sparse block")

    monkeypatch.setattr(sp.csr_matrix, "toarray", no_toarray)
    got = InputTransform(value_type).fit(X, rows, chunk=64)
    np.testing.assert_allclose(got.min_, ref.min_, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got.range_, ref.range_, rtol=1e-5, atol=1e-6)
    assert np.isinf(got.range_[3])
    assert X.nnz == 2 * A.nnz  # the caller's matrix kept its duplicates: fit worked on a copy


def test_dense_fit_reads_blocks_bounded_by_genes(monkeypatch):
    from scautogenome.data import _transform

    rng = np.random.default_rng(1)
    X = rng.poisson(1.0, size=(50, 400)).astype(np.float32)
    ref = InputTransform("counts").fit(X, np.arange(50))
    seen = []
    real = InputTransform._rows_np

    def spy(self, block):
        seen.append(block.shape[0])
        return real(self, block)

    monkeypatch.setattr(_transform, "BLOCK_VALUES", 4000)  # 10 rows of 400 genes
    monkeypatch.setattr(InputTransform, "_rows_np", spy)
    got = InputTransform("counts").fit(X, np.arange(50))
    assert seen == [10] * 5
    np.testing.assert_array_equal(got.min_, ref.min_)
    np.testing.assert_array_equal(got.range_, ref.range_)
    assert _transform.block_rows(400, 2048) == 10
    assert _transform.block_rows(10**6, 2048) == 1  # at least one row
    assert _transform.block_rows(40, 7) == 7  # never more rows than asked for


@pytest.mark.parametrize("value_type", ["counts", "normalized", "continuous"])
def test_torch_transform_leaves_its_input_unchanged(value_type):
    rng = np.random.default_rng(2)
    X = rng.poisson(2.0, size=(30, 12)).astype(np.float32)
    t = InputTransform(value_type).fit(X, np.arange(20))
    x = torch.from_numpy(X.copy())
    out = t.to_torch("cpu")(x)
    np.testing.assert_array_equal(x.numpy(), X)
    np.testing.assert_allclose(out.numpy(), t.apply(X), rtol=1e-5, atol=1e-6)
    block = X.copy()
    t.apply(block)
    np.testing.assert_array_equal(block, X)


def test_inference_loader_bounds_rows_by_genes(monkeypatch):
    from scautogenome.data import _transform

    monkeypatch.setattr(_transform, "BLOCK_VALUES", 1000)
    X = sp.random(100, 250, density=0.1, format="csr", random_state=0, dtype=np.float32)
    ident = lambda x: x  # noqa: E731
    train = BatchLoader(X, np.arange(100), None, batch_size=64, transform=ident, device="cpu")
    infer = BatchLoader(
        X, np.arange(100), None, batch_size=64, transform=ident, device="cpu", inference=True
    )
    assert train.batch_size == 64  # a training batch is a hyperparameter: never changed
    assert infer.batch_size == 4
    got = torch.cat([x for x, _ in infer]).numpy()
    np.testing.assert_array_equal(got, X.toarray())
    # query genes mapped onto a wider model: the model's width bounds the block
    wide = BatchLoader(
        X,
        np.arange(100),
        None,
        batch_size=64,
        transform=ident,
        device="cpu",
        inference=True,
        col_map=(np.arange(250), np.arange(250), 500),
    )
    assert wide.batch_size == 2


def test_bulk_counts_give_the_same_transform_sparse_dense_and_in_torch(monkeypatch):
    """Row totals beyond float32's exact integers (bulk RNA-seq: tens of millions of reads)
    are summed in float64 when fitting, so CSR and dense input fit the same transform (the
    torch minibatch path, the same for both, sums in float32 within a rounding); CSR pieces
    stay within their budget."""
    from scautogenome.data import _transform

    rng = np.random.default_rng(3)
    dense = rng.negative_binomial(2, 1e-4, size=(40, 2000)).astype(np.float32)
    dense[:, ::3] = 0.0
    assert dense.sum(1).min() > 2**24
    rows = np.arange(40)
    ref = InputTransform("counts").fit(dense, rows)
    monkeypatch.setattr(_transform, "BLOCK_VALUES", 4 * 3000)  # about 2 rows per CSR piece
    got = InputTransform("counts").fit(sp.csr_matrix(dense), rows)
    np.testing.assert_array_equal(got.min_, ref.min_)
    np.testing.assert_array_equal(got.range_, ref.range_)
    pieces = list(_transform._row_chunks(sp.csr_matrix(dense), rows, 2048))
    assert np.array_equal(np.concatenate(pieces), rows)
    nnz = np.diff(sp.csr_matrix(dense).indptr)
    assert all(nnz[p].sum() <= 3000 or len(p) == 1 for p in pieces)
    out = ref.to_torch("cpu")(torch.from_numpy(dense)).numpy()
    np.testing.assert_allclose(out, ref.apply(dense), rtol=0, atol=1e-6)


def test_a_few_donors_that_each_hold_every_class_still_split(adata):
    """Four donors, each with cells of every class: no class is the most frequent of three
    donors, so their donors are drawn together (one to test, one to val); two donors are too
    few, an error before any work."""
    adata.obs["donor"] = [f"d{i % 4}" for i in range(adata.n_obs)]
    d = prepare_labelled(adata, "label", group_key="donor")
    donors = adata.obs["donor"].to_numpy()
    assert (_parts_per_group(donors, d.split) == 1).all()
    assert {"train", "val", "test"} <= set(d.split)
    adata.obs["donor"] = [f"d{i % 2}" for i in range(adata.n_obs)]
    with pytest.raises(ValueError, match="of its 2 groups, too few can be held out whole"):
        prepare_labelled(adata, "label", group_key="donor")


def test_val_drawn_from_a_users_train_part_keeps_patients_whole(adata, sag_caplog):
    """AutoGenome's layout without an eval file: the validation part drawn from the user's
    train cells takes whole patients, so no patient sits in train and val; the log says
    what share of the training cells it took."""
    adata = _tcga_twins(adata)
    patients = tcga_patients(adata.obs_names)
    first = np.unique(patients)[:30]
    adata.obs["fold"] = np.where(np.isin(patients, first), "test", "train")
    d = prepare_labelled(adata, "label", split_key="fold")
    n_val = int((d.split == "val").sum())
    assert n_val > 0
    share = 100 * n_val / (n_val + int((d.split == "train").sum()))
    # TCGA samples are called samples
    assert f"{n_val} of its training samples ({share:.0f}%)" in sag_caplog.text
    assert (_parts_per_group(patients, d.split) == 1).all()
    np.testing.assert_array_equal(d.split == "test", adata.obs["fold"].to_numpy() == "test")


def test_bulk_profiles_are_called_samples_in_messages(caplog):
    """Rows read by a bulk reader of sag.io (TCGA, MAF, AutoGenome input) are "samples" in the
    data summary and the small-validation warning; other data's are "cells"."""
    from scautogenome._settings import logger
    from scautogenome.data import obs_noun, prepare_labelled

    adata = sag.datasets.synthetic(n_obs=60, n_vars=30, n_classes=2, seed=0)
    assert obs_noun(adata) == "cells"
    adata.uns["sag_io"] = {"reader": "read_tcga"}
    assert obs_noun(adata) == "samples"
    logger.addHandler(caplog.handler)
    try:
        caplog.set_level("INFO", logger="scautogenome")
        prepare_labelled(adata, "label", seed=0)
    finally:
        logger.removeHandler(caplog.handler)
    assert "data: 60 samples (" in caplog.text
    assert "the validation split has 6 samples" in caplog.text
    assert "one sample moves accuracy" in caplog.text
    adata.uns["sag_io"] = {"reader": "read_table"}  # bulk or single-cell: not told
    assert obs_noun(adata) == "cells"


def test_labels_are_checked_before_the_matrix_is_read(monkeypatch):
    """A classification's label mistakes, and a numeric target's, are named before the
    matrix is loaded and scanned (on a large backed file that is seconds, not minutes)."""
    from scautogenome.data import _prepare

    adata = sag.datasets.synthetic(n_obs=60, n_vars=30, n_classes=2, seed=0)
    adata.obs["one"] = "a"

    def never(*args, **kwargs):
        raise AssertionError("the matrix was read")

    monkeypatch.setattr(_prepare, "get_matrix", never)
    with pytest.raises(ValueError, match=r"one usable class \(.a.\)"):
        _prepare.prepare_labelled(adata, "one", seed=0)
    adata.obs["tiny"] = ["a"] * 58 + ["b"] * 2
    with pytest.raises(ValueError, match="too small to split"):
        _prepare.prepare_labelled(adata, "tiny", seed=0)
    # and a numeric target's
    adata.obs["age"] = np.r_[np.arange(5.0), [np.nan] * 55]
    with pytest.raises(ValueError, match="has 5 cells with a value"):
        _prepare.prepare_labelled(adata, "age", seed=0, task="regression")
    adata.obs["same"] = 3.0
    with pytest.raises(ValueError, match="same value in every cell"):
        _prepare.prepare_labelled(adata, "same", seed=0, task="regression")
    # the split's and the groups' mistakes too: a misspelt part, a group column not there
    adata.obs["age"] = np.arange(60.0)
    adata.obs["part"] = ["Train"] * 50 + ["test"] * 10
    for task, key in (("classification", "label"), ("regression", "age")):
        with pytest.raises(ValueError, match="'Train'"):
            _prepare.prepare_labelled(adata, key, seed=0, task=task, split_key="part")
        with pytest.raises(KeyError, match="group_key='donor' is not a column"):
            _prepare.prepare_labelled(adata, key, seed=0, task=task, group_key="donor")
        with pytest.raises(KeyError, match="split_key='fold' is not a column"):
            _prepare.prepare_labelled(adata, key, seed=0, task=task, split_key="fold")


@pytest.mark.parametrize(
    "values",
    [
        pd.Categorical(np.round(np.linspace(0, 1, 60), 2)),  # a categorical of numbers
        np.round(np.linspace(0, 1, 60), 2).astype(str),  # text that reads as numbers
        np.repeat(np.arange(30, 60), 2),  # an age in whole years: 30 values, auto classifies
    ],
    ids=["categorical", "text", "int"],
)
def test_classes_too_small_that_are_all_numbers_suggest_a_numeric_target(values):
    """task="auto" took a column of numbers as classes, each too small to split: the error
    says that task='regression' predicts the number (not for labels that are not numbers, nor
    where the classes were asked for)."""
    from scautogenome.data import prepare_labelled

    adata = sag.datasets.synthetic(n_obs=60, n_vars=30, n_classes=2, seed=0)
    adata.obs["y"] = values
    hint = r"Every label of obs\['y'\] is a number: task='regression' predicts it"
    with pytest.raises(ValueError, match=f"too small to split.*{hint}"):
        prepare_labelled(adata, "y", task="auto", seed=0)
    with pytest.raises(ValueError, match="too small to split") as err:
        prepare_labelled(adata, "y", task="classification", seed=0)
    assert "task='regression'" not in str(err.value)
    adata.obs["y"] = [f"s{i // 2}" for i in range(60)]
    with pytest.raises(ValueError, match="too small to split") as err:
        prepare_labelled(adata, "y", task="auto", seed=0)
    assert "task='regression'" not in str(err.value)


def test_a_column_of_identifiers_as_labels_is_not_told_to_drop_every_class():
    """Labels that are sample or patient ids (a class of one or two cells each): the advice to
    leave the small classes out would leave no class; the error says so, and that the column
    looks like identifiers. Where enough classes stay, the advice stands."""
    from scautogenome.data import prepare_labelled

    adata = sag.datasets.synthetic(n_obs=60, n_vars=30, n_classes=2, seed=0)
    adata.obs["patient"] = [f"P{i // 2}" for i in range(60)]
    with pytest.raises(ValueError, match="too small to split") as err:
        prepare_labelled(adata, "patient", seed=0)
    text = str(err.value)
    assert "min_cells_per_class=3 or more" not in text
    assert "Leaving them out (min_cells_per_class=) would leave no class to learn" in text
    assert (
        "obs['patient'] has 30 values for 60 labelled cells: identifiers (of samples, "
        "patients), not classes? Pass the column of the classes"
    ) in text
    # most classes large enough: leaving the few small ones out is the advice, as before
    adata.obs["type"] = adata.obs["label"].astype(str).to_numpy(copy=True)
    adata.obs.loc[adata.obs_names[:1], "type"] = "rare"
    with pytest.raises(ValueError, match="min_cells_per_class=3 or more") as err:
        prepare_labelled(adata, "type", seed=0)
    assert "identifiers" not in str(err.value)


def test_raw_and_highly_variable_flags_are_said_to_be_unread(sag_caplog):
    """As in scvi-tools, adata.raw and var['highly_variable'] are not read; the log says so
    (and what to pass instead), for classify's and embed's models alike."""
    adata = sag.datasets.synthetic(n_obs=120, n_vars=30, n_classes=2, seed=0)
    adata.raw = adata.copy()
    adata.var["highly_variable"] = np.arange(adata.n_vars) < 10
    sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1}).fit(adata, "label")
    assert "adata.raw is not read: the model reads adata.X" in sag_caplog.text
    assert "var['highly_variable'] marks 10 of 30 genes; all 30 are read" in sag_caplog.text
    sag_caplog.clear()
    arch = {"kind": "resvae", "widths": [8], "n_latent": 2}
    model = sag.models.ResVAE(arch, {"max_epochs": 1}).fit(adata, layer=None)
    assert len(model.var_names_) == 30  # every gene read
    assert "var['highly_variable'] marks 10 of 30 genes" in sag_caplog.text
    sag_caplog.clear()
    adata.var["highly_variable"] = True  # every gene marked: nothing to say
    del adata.raw
    sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1}).fit(adata, "label")
    assert "highly_variable" not in sag_caplog.text
    assert "adata.raw" not in sag_caplog.text
    # a layer read: adata.raw is not what the user would have meant instead
    adata.raw = adata.copy()
    adata.layers["counts"] = adata.X.copy()
    sag_caplog.clear()
    sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1}).fit(
        adata, "label", layer="counts"
    )
    assert "adata.raw" not in sag_caplog.text


def test_a_copy_without_duplicated_names_is_not_warned_about(adata, sag_caplog):
    """pandas can carry is_unique=False over to a slice's copy (concat, then [:n].copy());
    the duplicate check counts the names instead."""
    import anndata as ad

    from scautogenome.data import check_adata

    both = ad.concat([adata, adata[:10]], merge="same")
    check_adata(both, writes=True)
    assert "obs_names contain 10 duplicated name(s)" in sag_caplog.text
    sag_caplog.clear()
    part = both[:20].copy()
    assert not part.obs_names.duplicated().any()
    check_adata(part, writes=True)
    assert "duplicated" not in sag_caplog.text


def test_a_csr_of_mixed_index_dtypes_is_read_in_blocks_without_copying_its_indices():
    """anndata reads a CSR as stored, often int32 column indices beside an int64 indptr;
    scipy then copies the whole indices array to int64 at every row block read (a 60,000 x
    20,000 matrix: 0.3 GB and half a second per minibatch). The matrix sag reads has one
    index dtype, sharing the user's data and indices; the user's matrix is unchanged."""
    from scautogenome.data import as_csr_or_dense, dense_rows

    X = sp.random(50, 30, density=0.2, format="csr", dtype=np.float32, random_state=0)
    X.indices = X.indices.astype(np.int32)
    X.indptr = X.indptr.astype(np.int64)
    out = as_csr_or_dense(X)
    assert out.indices.dtype == out.indptr.dtype == np.int32
    assert np.shares_memory(out.indices, X.indices)
    assert np.shares_memory(out.data, X.data)
    assert X.indptr.dtype == np.int64  # the user's matrix, as it was
    np.testing.assert_array_equal(dense_rows(out, [3, 1, 7]), X.toarray()[[3, 1, 7]])
    # a sparse array keeps its type
    arr = sp.csr_array(X)
    arr.indices = arr.indices.astype(np.int32)  # scipy 1.10 made both int64
    arr.indptr = arr.indptr.astype(np.int64)
    assert type(as_csr_or_dense(arr)) is sp.csr_array
    assert as_csr_or_dense(arr).indptr.dtype == np.int32


def test_a_counts_query_lacking_genes_keeps_its_cells_depth():
    """A counts model's query that lacks genes (a top-2000 file): each cell's total over the
    genes it has is scaled up by those genes' share of the training cells' counts, so that a
    present gene reads as it did in training, not ~1/share too high (a reviewer measured
    0.90 -> 0.72 accuracy on pbmc3k). Cells of one composition show it exactly: the present
    genes' values equal those of the full cells, in the loader (predict, encode) and in
    explain's numpy path; the share survives save and load."""
    from scautogenome.data import InputTransform, MissingGenes
    from scautogenome.data._loader import BatchLoader

    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(40))  # one composition, many depths
    depth = rng.integers(500, 5000, size=60)
    X = np.outer(depth, p).astype(np.float32)
    t = InputTransform(value_type="counts").fit(X, np.arange(60))
    np.testing.assert_allclose(t.share_, p, rtol=1e-4)
    keep = np.sort(rng.choice(40, 15, replace=False))  # the query's genes, of the model's
    col_map = (np.arange(15), keep, 40)

    def loaded(matrix, cmap):
        loader = BatchLoader(
            matrix,
            np.arange(60),
            None,
            batch_size=64,
            transform=t.to_torch("cpu"),
            device="cpu",
            col_map=cmap,
            fill=t.fill_values(),
        )
        return next(iter(loader))[0].numpy()

    full = loaded(X, None)
    part = loaded(X[:, keep], col_map)
    np.testing.assert_allclose(part[:, keep], full[:, keep], rtol=1e-4, atol=1e-5)
    absent = MissingGenes(col_map, None, "cpu").absent_np
    numpy_path = t.apply(X[:, keep] @ np.eye(40, dtype=np.float32)[keep], t.coverage(absent))
    np.testing.assert_allclose(numpy_path[:, keep], full[:, keep], rtol=1e-4, atol=1e-5)
    # saved and loaded with the model's arrays
    again = InputTransform.from_dict(t.to_dict(), t.arrays())
    np.testing.assert_array_equal(again.share_, t.share_)
    # a transform saved before the share was kept: depth over the genes present, as before
    old = {k: v for k, v in t.arrays().items() if k != "transform_share"}
    assert InputTransform.from_dict(t.to_dict(), old).coverage(absent) == 1.0
    # training cells without counts add no share: the present genes' share of those that do
    empty = np.vstack([X, np.zeros((20, 40), dtype=np.float32)])
    e = InputTransform(value_type="counts").fit(empty, np.arange(80))
    assert e.share_.sum() == pytest.approx(0.75, rel=1e-4)
    assert e.coverage(absent) == pytest.approx(t.coverage(absent), rel=1e-4)


def test_value_type_is_detected_on_the_training_cells(sag_caplog):
    """Nothing of the val, test or unlabelled cells chooses the preprocessing: one test value
    made non-integer leaves a counts model's transform as it was (it used to make every cell
    'normalized'), with a warning; negative values outside training under a counts model are
    an error before any work."""
    import anndata as ad

    from scautogenome.data._checks import common_row_total, value_stats

    rng = np.random.default_rng(0)
    n, g = 300, 40
    X = rng.poisson(rng.gamma(2, 1, (n, g))).astype(np.float32) + 1  # a count of 1 in each row
    a = ad.AnnData(X, obs=pd.DataFrame(index=[f"c{i}" for i in range(n)]))
    a.obs["label"] = pd.Categorical(np.array(["x", "y", "z"])[np.arange(n) % 3])
    a.obs["part"] = np.where(np.arange(n) % 10 == 0, "test", "train")
    a.obs.loc[a.obs_names[1::10], "part"] = "val"
    before = prepare_labelled(a, "label", split_key="part")
    assert before.transform.value_type == "counts"
    b = a.copy()
    b.X[0, 0] += 0.5  # cell 0 is a test cell
    after = prepare_labelled(b, "label", split_key="part")
    assert after.transform.value_type == "counts"
    np.testing.assert_array_equal(after.transform.range_, before.transform.range_)
    assert "the training cells hold raw counts, but some of the 60 other cells" in sag_caplog.text
    c = a.copy()
    c.obs["label"] = c.obs["label"].astype(object)
    c.obs.loc["c5", ["label", "part"]] = None  # an unlabelled cell ...
    c.X[5, 3] = -1.0  # ... holding a negative value
    with pytest.raises(ValueError, match=r"the training cells hold raw counts, but the 61 other"):
        prepare_labelled(c, "label", split_key="part")
    # the statistics of some rows equal those of a copy of them, sparse or dense
    rows = np.flatnonzero(a.obs["part"].to_numpy() == "train")
    for M in (X, sp.csr_matrix(X)):
        assert value_stats(M, rows=rows) == value_stats(M[rows])
    scaled = X / X.sum(1, keepdims=True) * 1e4
    scaled[0] *= 2  # a test cell of another total: the training rows still share theirs
    assert common_row_total(scaled) is None
    assert common_row_total(scaled, rows) == pytest.approx(1e4)
    assert common_row_total(sp.csr_matrix(scaled), rows) == pytest.approx(1e4)


def test_common_row_total_needs_two_rows_summing_alike_within_a_thousandth():
    """Counts scaled to one total are told by rows whose totals agree within a thousandth
    of their median (float rounding), not a per-cent (two depths nearly alike); one row
    holding values tells nothing (a one-cell matrix: None)."""
    from scautogenome.data._checks import common_row_total

    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, (20, 50)).astype(np.float64) + 1
    scaled = counts / counts.sum(1, keepdims=True) * 1e4
    assert common_row_total(scaled) == pytest.approx(1e4)
    near = scaled.copy()
    near[::2] *= 1.0005  # within a thousandth
    assert common_row_total(near) == pytest.approx(1e4, rel=1e-3)
    apart = scaled.copy()
    apart[::2] *= 1.01  # a per-cent apart
    assert common_row_total(apart) is None
    one = np.zeros_like(scaled)
    one[3] = scaled[3]
    assert common_row_total(one) is None
    assert common_row_total(scaled, np.array([3])) is None
    assert common_row_total(scaled, np.array([3, 4])) == pytest.approx(1e4)


def test_class_names_of_a_label_column_follow_the_models_classes():
    """A label column's values named as classify names its classes (their text), except a
    whole number written otherwise than a model's class: 1.0 of integers made float by a
    missing value is the model's '1', 1 or '1' of a model trained on floats its '1.0'; a
    fraction, a boolean and a text that is no number keep their own text; missing is None."""
    from scautogenome.data import class_names_of

    def names(values, classes=()):
        return class_names_of(pd.Series(values, dtype=object), classes).tolist()

    assert names([1.0, 2.0, np.nan, 1.5], ["1", "2"]) == ["1", "2", None, "1.5"]
    assert names([1, 2, "1", "x"], ["1.0", "2.0"]) == ["1.0", "2.0", "1.0", "x"]
    assert names([1.0, 1]) == ["1.0", "1"]  # no model's classes: their own text
    assert names([True, 1], ["1"]) == ["True", "1"]
    assert names(["01", 1.0], ["1", "1.0"]) == ["1", "1.0"]  # the integer's text first
    assert names([np.inf], ["inf"]) == ["inf"]


def test_batches_are_named_by_their_text_and_only_those_cells_have():
    """A batch column of whole numbers read back as floats (2.0) names batch '2', a fraction
    keeps its text; the categories of a categorical column that no cell has are no batches
    (a model's known batches are not refused for them); batches named like a missing value
    are warned about unless warn=False."""
    import anndata as ad

    from scautogenome.data import batch_codes, batch_name
    from scautogenome.data._checks import is_numeric_column

    assert [batch_name(v) for v in (2.0, np.float32(3.0), 2.5, 7, "b")] == [
        "2",
        "3",
        "2.5",
        "7",
        "b",
    ]
    a = ad.AnnData(np.zeros((4, 2)))
    a.obs["batch"] = pd.Categorical(["x", "y", "x", "nan"], categories=["x", "y", "z", "nan"])
    codes, batches = batch_codes(a, "batch", warn=False)
    assert batches == ["nan", "x", "y"]
    assert codes.tolist() == [1, 2, 1, 0]
    codes, batches = batch_codes(a, "batch", categories=["nan", "x", "y"], warn=False)
    assert codes.tolist() == [1, 2, 1, 0]
    assert not is_numeric_column(pd.Series([True, False]))
    assert is_numeric_column(pd.Series([1.5, 2.0]))
    assert not is_numeric_column(pd.Series([1, 2], dtype="category"))


def test_batches_named_like_a_missing_value_are_warned_about_unless_asked_not_to(sag_caplog):
    import anndata as ad

    from scautogenome.data import batch_codes

    a = ad.AnnData(np.zeros((3, 2)))
    a.obs["batch"] = ["x", "nan", "x"]
    batch_codes(a, "batch", warn=False)
    assert "named like a missing value" not in sag_caplog.text
    batch_codes(a, "batch")
    assert "batch(es) named like a missing value: 'nan' (1 cells)" in sag_caplog.text


def test_an_empty_x_names_the_layers_to_pass():
    """adata.X None with the data in a layer: the error names layer= and the layers there."""
    from anndata import AnnData

    from scautogenome.data import get_matrix

    counts = sp.csr_matrix(np.ones((4, 3), dtype=np.float32))
    a = AnnData(X=None, obs=pd.DataFrame(index=list("abcd")), var=pd.DataFrame(index=list("xyz")))
    a.layers["counts"] = counts
    with pytest.raises(ValueError, match=r"adata\.X is empty \(None\).*layer=") as e:
        get_matrix(a, None)
    assert "available layers: ['counts']" in str(e.value)
    assert get_matrix(a, "counts").shape == (4, 3)
    del a.layers["counts"]
    with pytest.raises(ValueError, match=r"adata\.X is empty \(None\).*holds no matrix") as e:
        get_matrix(a, None)
    assert "layer=" not in str(e.value)


def test_value_statistics_of_a_large_csr_take_little_memory_beside_it(monkeypatch):
    """value_stats read a CSR's stored values as one block, whose rounding and comparisons
    made copies as large as all of them (+139 MB on 100k cells in predict's query check)."""
    import tracemalloc

    from scautogenome.data import _checks
    from scautogenome.data._checks import value_stats

    monkeypatch.setattr(_checks, "STORED_CHUNK", 1 << 16)  # blocks small beside these values

    rng = np.random.default_rng(0)
    X = sp.random(20_000, 500, density=0.2, format="csr", random_state=0, dtype=np.float32)
    X.data = rng.poisson(3.0, X.nnz).astype(np.float32)
    tracemalloc.start()
    stats = value_stats(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 0.25 * X.data.nbytes, peak / X.data.nbytes
    assert stats == {"integer": True, "binary": False, "min": 0.0, "max": float(X.data.max())}
    X.data[-1] = 0.5  # the last stored value, in the last block read
    assert value_stats(X)["integer"] is False


def test_copies_to_a_device_wait_for_the_data_except_on_cuda(monkeypatch):
    """A batch is copied to the device without waiting (non_blocking) on CUDA only, which
    stages a copy of pageable memory: on MPS such a copy may read the freed numpy block."""
    import torch

    from scautogenome.data._loader import to_device

    calls = []

    def to(self, device, *args, **kwargs):
        calls.append((str(device), kwargs.get("non_blocking", False)))
        return self

    monkeypatch.setattr(torch.Tensor, "to", to)
    for name in ("cuda:1", "mps", "cpu"):
        to_device(np.zeros((2, 3), dtype=np.float32), torch.device(name))
    assert calls == [("cuda:1", True), ("mps", False), ("cpu", False)]


def test_genes_on_a_small_scale_vary_and_a_constant_one_with_rounding_does_not():
    """The least range of a varying gene was 1e-6 whatever the values' scale: genes varying on
    a scale of 1e-7 (fractions, rates) were read as constant and left out, or the data
    refused as having nothing to learn. A gene constant but for float32 rounding stays so."""
    rng = np.random.default_rng(0)
    X = np.zeros((40, 3), dtype=np.float32)
    X[:, 0] = rng.uniform(0, 3e-7, 40)  # varies, on a small scale
    X[:, 1] = np.float32(5.0) + np.float32(4.8e-7) * (np.arange(40) % 2)  # 5 but one ulp
    X[:, 2] = rng.uniform(0, 1, 40)
    t = InputTransform("continuous").fit(X, np.arange(40))
    np.testing.assert_array_equal(t.varying_genes(), [0, 2])
    out = t.apply(X)
    assert np.isfinite(out).all()
    assert out[:, 0].min() == 0
    assert out[:, 0].max() == 1
    assert (out[:, 1] == 0).all()


def test_a_gene_spanning_more_than_float32_holds_is_refused():
    """A gene from -2e38 to 2e38 (each within float32) spans more than float32 holds: it was
    read as constant and left out without a word, and explanations of it were NaN."""
    X = np.ones((10, 2), dtype=np.float32)
    X[:, 0] = np.where(np.arange(10) % 2, 2e38, -2e38)
    with pytest.raises(ValueError, match=r"gene 0 spans .*more than float32"):
        InputTransform("continuous").fit(X, np.arange(10))
    with pytest.raises(ValueError, match=r"gene 'TP53' spans -2e\+38 to 2e\+38"):
        InputTransform("continuous").fit(X, np.arange(10), names=["TP53", "EGFR"])


def test_large_values_one_apart_vary():
    """Of values of 1 and more in size, a range of 1e-6 or more varies, as before: distinct
    float32 values such as 1e6 and 1e6 + 1 (a relative least range had called them constant)."""
    X = np.zeros((4, 3), dtype=np.float32)
    X[:, 0] = [1e6, 1e6 + 1, 1e6, 1e6 + 1]
    X[:, 1] = [2000.0, 2000.001, 2000.0, 2000.001]
    X[:, 2] = 7.0
    t = InputTransform("continuous").fit(X, np.arange(4))
    np.testing.assert_array_equal(t.varying_genes(), [0, 1])


def test_values_read_as_unlogged_by_their_largest_say_so(sag_caplog):
    """Values taken as unlogged TPM/FPKM for their largest value (above UNLOGGED_MAX) were
    logged again with only 'values: normalized' said: a few outlier cells in log data made
    the whole matrix so, and a later query of the same data was warned of as already logged."""
    import anndata as ad

    sag.settings.verbosity = 2
    rng = np.random.default_rng(0)
    X = np.log1p(rng.gamma(1.0, 2.0, (200, 30))).astype(np.float32)
    X[:3, :10] = 1e4  # a few outliers
    adata = ad.AnnData(X)
    adata.obs["label"] = pd.Categorical(rng.choice(["a", "b"], 200))
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0)
    assert model.transform_.value_type == "normalized"
    assert re.search(
        r"adata\.X: its largest value is 1e\+04 \(above 100.*value_type='continuous'",
        sag_caplog.text,
    ), sag_caplog.text


def test_a_users_test_cells_do_not_choose_the_training_cells(adata, sag_caplog):
    """With a split of the user's own, nothing of its test cells' labels or values chooses
    which cells train or validate: neither the validation part drawn from its train cells
    (a numeric target's bins), nor which classes min_cells_per_class keeps."""
    rng = np.random.default_rng(0)
    fold = np.where(rng.random(adata.n_obs) < 0.7, "train", "test")
    adata.obs["fold"] = fold
    test = fold == "test"
    # a numeric target, no val part given: one drawn from train, per bin of its values
    age = rng.uniform(20, 80, adata.n_obs)
    splits = []
    for shift in (0.0, 500.0):
        adata.obs["age"] = np.where(test, age + shift, age)
        r = prepare_labelled(adata, "age", seed=0, task="regression", split_key="fold")
        splits.append(r.split)
    assert (splits[0] == "val").sum() > 0
    np.testing.assert_array_equal(splits[0], splits[1])
    # a class of 2 train + 1 val cells is left out by min_cells_per_class=5 whatever the
    # number of its test cells; one of 5 train cells and no test cell is kept
    adata.obs["fold"] = np.where(rng.random(adata.n_obs) < 0.5, "val", fold)
    adata.obs["fold"] = np.where(test, "test", adata.obs["fold"])
    labels = adata.obs["label"].astype(str).to_numpy()
    where = {p: np.flatnonzero(adata.obs["fold"].to_numpy() == p) for p in ("train", "val", "test")}
    labels[where["train"][:2]] = "rare"
    labels[where["val"][:1]] = "rare"
    labels[where["train"][2:7]] = "five"
    kept = []
    for n_test in (0, 3):
        lab = labels.copy()
        lab[where["test"][:n_test]] = "rare"
        adata.obs["lab"] = pd.Categorical(lab)
        d = prepare_labelled(adata, "lab", split_key="fold", min_cells_per_class=5)
        kept.append((list(d.classes), list(d.dropped_classes), d.split.copy()))
    assert kept[0][1] == kept[1][1] == ["rare"]
    assert "Leaving 1 class(es) with fewer than 5 train and val cells out of training" in (
        sag_caplog.text
    )
    assert "five" in kept[0][0]
    assert "rare" not in kept[1][0]
    train_val = np.isin(kept[0][2], ["train", "val"])
    np.testing.assert_array_equal(kept[0][2][train_val], kept[1][2][train_val])


def test_transform_keeps_each_genes_share_of_nonzero_training_values():
    """``detected_``: the share of the training rows where a gene is not 0, alike from a
    dense matrix and from a CSR with explicit zeros (not counted); other rows not counted."""
    from scautogenome.data import InputTransform

    rng = np.random.default_rng(0)
    dense = rng.poisson(0.7, (60, 12)).astype(np.float32)
    rows = np.arange(0, 60, 2)
    want = np.count_nonzero(dense[rows], axis=0) / rows.size
    stored = sp.csr_matrix(dense)
    stored.data[:5] = 0  # explicit zeros, as some writers keep them
    want_stored = np.count_nonzero(stored.toarray()[rows], axis=0) / rows.size
    for value_type in ("counts", "continuous"):
        t = InputTransform(value_type=value_type).fit(dense, rows)
        np.testing.assert_allclose(t.detected_, want, rtol=1e-6)
        t = InputTransform(value_type=value_type).fit(stored, rows)
        np.testing.assert_allclose(t.detected_, want_stored, rtol=1e-6)
    assert not np.allclose(want, want_stored)


# -- pins from mutation testing: behaviour that no test held --------------------------------
def test_copies_of_training_rows_in_val_are_warned_of_from_ten_values(sag_caplog):
    """A val row holding every value of a training row is a copy too (not only a test row);
    rows of exactly MIN_VALUES_OF_A_COPY (10) non-zero values count."""
    from scautogenome.data._split import MIN_VALUES_OF_A_COPY, warn_copies_across_parts

    assert MIN_VALUES_OF_A_COPY == 10
    rng = np.random.default_rng(0)
    for n_values in (12, 10):
        X = np.zeros((20, 30), dtype=np.float32)
        for i in range(20):
            X[i, rng.choice(30, n_values, replace=False)] = rng.uniform(1, 5, n_values)
        X[5] = X[0]
        split = np.array(["train"] * 20, dtype=object)
        split[[5, 6]] = "val"
        split[[18, 19]] = "test"
        sag_caplog.clear()
        warn_copies_across_parts(X, split.astype(str), "cells")
        assert "1 val cells hold every value of a training cell" in sag_caplog.text


def test_a_user_split_without_test_cells_is_warned_of_and_junk_of_unlabelled_cells_is_left(
    sag_caplog,
):
    from scautogenome.data import user_split

    user_split(pd.Series(["train"] * 4 + ["val"] * 2), "p", np.ones(6, bool))
    assert "obs['p'] has no labelled 'test' cells" in sag_caplog.text
    out = user_split(pd.Series(["train", "val", "test", "junk"]), "p", np.array([1, 1, 1, 0], bool))
    assert list(out) == ["train", "val", "test", "none"]


def test_tcga_grouping_holds_at_half_the_names_and_two_donors_are_hinted(sag_caplog):
    """group_key='auto' keeps TCGA patients when half the names are barcodes (not more than
    half are others); an obs column of 2 donors is named in a hint."""
    import anndata as ad

    from scautogenome.data import resolve_groups

    names = ["TCGA-AA-0001-01A-11R-A000-07", "TCGA-AA-0002-01A-11R-A000-07", "x1", "x2"]
    a = ad.AnnData(np.ones((4, 3), np.float32), obs=pd.DataFrame(index=names))
    groups, what = resolve_groups(a, "auto", np.ones(4, bool))
    assert what == "TCGA patient of obs_names"
    assert groups is not None
    cells = ad.AnnData(
        np.ones((10, 3), np.float32),
        obs=pd.DataFrame({"donor": ["d1"] * 5 + ["d2"] * 5}, index=[f"c{i}" for i in range(10)]),
    )
    resolve_groups(cells, "auto", np.ones(10, bool), hint_donors=True)
    assert "obs['donor'] names 2 donors or samples" in sag_caplog.text


def test_value_checks_at_their_bounds():
    """Values of 0-1 that are not all 0 or 1 are not binary; a numeric column of 51 distinct
    values is a measurement, of 50 classes; blank names are missing; the columns asked for
    are the only ones read."""
    from scautogenome.data._checks import check_not_continuous, named_missing, value_stats

    X = np.array([[0.2, 0.5], [0.0, 1.0]], np.float32)
    assert value_stats(X)["binary"] is False
    assert detect_value_type(X) == "continuous"
    with pytest.raises(ValueError, match="numeric with 51 distinct values"):
        check_not_continuous(pd.Series(np.arange(51.0)), "x", "classification")
    check_not_continuous(pd.Series(np.arange(50.0)), "x", "classification")
    assert named_missing(["", " ", "B"]) == ["", " "]
    # what str() makes of NaN and None, and the words of R, pandas and SQL for missing
    words = ["nan", "None", "NA", "<NA>", "NULL", " null ", "N/A?", "B"]
    assert named_missing(words) == ["nan", "None", "NA", "<NA>", "NULL", " null "]
    three = np.array([[0.0, 1.0, 7.5], [1.0, 0.0, 7.5]], np.float32)
    assert value_stats(three, columns=np.array([0, 1]))["max"] == 1.0


# -- pins from mutation testing, round 2 ------------------------------------------------------
def test_transform_pins_coverage_fill_and_query_value_checks(sag_caplog):
    """The least coverage of a counts query; the training mean filling an unscaled model's
    missing genes; negative values refused by a TPM model; the scale check against the
    genes present; no scale warning where training had negative values; a 0/1 model warns
    of other values."""
    from scautogenome.data._transform import _mean_ratio, check_query_values

    t = InputTransform(value_type="counts")
    t.share_ = np.array([0.9995, 0.0005], np.float32)
    assert t.coverage(np.array([0])) == pytest.approx(1e-3)
    rng = np.random.default_rng(0)
    X = (rng.random((20, 3)) * 5).astype(np.float32)
    unscaled = InputTransform(value_type="continuous", scale=False).fit(X, np.arange(20))
    np.testing.assert_allclose(unscaled.fill_values(), X.mean(0), rtol=1e-5)
    tpm = (rng.random((50, 4)) * 500 + 0.5).astype(np.float32)
    normalized = InputTransform(value_type="normalized").fit(tpm, np.arange(50))
    with pytest.raises(ValueError, match=r"depth-normalized values \(TPM/FPKM\).*negative"):
        check_query_values(tpm - 1000, normalized, "the query's X")
    means = InputTransform(value_type="continuous")
    means.mean_ = np.array([1.0, 10.0], np.float32)
    one = (np.array([0]), np.array([0]), 2)
    assert _mean_ratio(np.ones((4, 1), np.float32), means, one) == pytest.approx(1.0)
    shifted = rng.random((50, 4)).astype(np.float32)
    shifted[:, 0] -= 1
    some_negative = InputTransform(value_type="continuous").fit(shifted, np.arange(50))
    sag_caplog.clear()
    check_query_values(np.full((10, 4), 0.9, np.float32), some_negative, "the query's X")
    assert "WARNING" not in sag_caplog.text
    binary = InputTransform(value_type="binary").fit(
        (rng.random((30, 3)) > 0.5).astype(np.float32), np.arange(30)
    )
    check_query_values(np.full((5, 3), 0.5, np.float32), binary, "the query's X")
    assert "holds values other than 0 and 1" in sag_caplog.text


def test_loader_pins_shuffle_sampler_and_the_cache_bounds():
    """Training minibatches are shuffled; the balanced sampler draws with replacement (a
    heavy row more than once); the transformed-rows cache refuses rows it does not hold."""
    from scautogenome.data._loader import transformed_rows

    X = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.arange(20)
    t = InputTransform("continuous").fit(X, np.arange(20)).to_torch("cpu")

    def first_labels(**kw):
        loader = BatchLoader(
            X,
            np.arange(20),
            y,
            batch_size=20,
            transform=t,
            device="cpu",
            generator=torch.Generator().manual_seed(0),
            **kw,
        )
        return next(iter(loader))[1]

    assert first_labels(shuffle=True).tolist() != list(range(20))
    w = np.ones(20)
    w[3] = 1000
    sampled = first_labels(sample_weights=w)
    assert int((sampled == 3).sum()) > 1
    cache = transformed_rows(X, np.array([0, 1]), t, None)
    assert cache.holds(np.array([5])) is False
    with pytest.raises(IndexError):
        cache.block(np.array([5]))


# -- pins from mutation testing, round 3: preparing and splitting ------------------------------
def test_val_drawn_from_a_users_train_part_takes_a_cell_of_each_class_of_a_few():
    """A user's train/test split: val takes round(n / 9) of each class's n training cells, at
    least one of a class of 2 to 4 (none of a class of one, which must train); by groups, two
    training groups are enough to draw one."""
    from scautogenome.data._split import val_from_train

    codes = np.repeat([0, 1, 2, 3], [36, 3, 2, 1])
    out = val_from_train(np.array(["train"] * codes.size), codes, seed=0)
    assert [int((out[codes == c] == "val").sum()) for c in range(4)] == [4, 1, 1, 0]
    donors = np.array(["d0", "d0", "d1", "d1"], dtype=object)
    out = val_from_train(np.array(["train"] * 4), np.zeros(4, np.int64), seed=0, groups=donors)
    assert np.unique(donors[out == "val"]).size == 1


def test_fifty_whole_numbers_are_classes_and_fifty_one_a_number_to_predict():
    """task='auto' classifies a numeric column of up to 50 distinct whole numbers."""
    assert resolve_task(pd.Series(np.arange(50).repeat(6)), "age") == "classification"
    assert resolve_task(pd.Series(np.arange(51).repeat(6)), "age") == "regression"


def test_a_user_split_whose_train_cells_are_all_unlabelled_is_refused():
    """Train cells without a label train nothing: the split has no train part."""
    from scautogenome.data import user_split

    with pytest.raises(ValueError, match="no labelled 'train' cells"):
        user_split(pd.Series(["train", "val", "test"]), "p", np.array([0, 1, 1], bool))


def test_a_target_whose_squared_errors_would_overflow_is_refused():
    """The sum of the squared errors over every cell must stay finite: 30 values of 1e153
    overflow (16 * 1e306 * 30), one value fewer a hundred times over does not."""
    from scautogenome.data import numeric_target

    big = pd.Series([1e153, -1e153, 0.0] * 10)
    with pytest.raises(ValueError, match="overflows 64-bit floats"):
        numeric_target(big, "y")
    assert numeric_target(big / 100, "y").shape == (30,)


def test_a_numeric_target_is_stratified_on_bins_of_about_ten_values():
    """Quantile bins of at least ten values each (five for 50 values), -1 where NaN; by
    groups, ten groups a bin, binned by the groups' mean values."""
    from scautogenome.data._prepare import target_bins

    y = np.insert(np.arange(50.0), 7, np.nan)
    codes = target_bins(y)
    assert codes[7] == -1
    assert np.bincount(codes[codes >= 0]).tolist() == [10, 10, 10, 10, 10]
    assert (np.diff(codes[codes >= 0]) >= 0).all()  # in the order of the values
    # 40 groups, of three cells below 20 and one above: binned by their means (their
    # value), not their sums
    sizes = np.where(np.arange(40) < 20, 3, 1)
    groups = np.repeat(np.arange(40), sizes).astype(str).astype(object)
    y = np.repeat(np.arange(40.0), sizes)
    codes = target_bins(y, groups=groups)
    np.testing.assert_array_equal(codes, (y // 10).astype(np.int64))


def test_a_numeric_target_needs_two_valued_cells_in_the_users_train_and_val(adata):
    """R^2 and the correlations need two values: one val cell with a value is refused."""
    adata.obs["y"] = np.arange(adata.n_obs, dtype=np.float64)
    adata.obs["part"] = np.where(np.arange(adata.n_obs) < 250, "train", "test")
    adata.obs.loc[adata.obs_names[[0, 1]], "part"] = "val"
    adata.obs.loc[adata.obs_names[1], "y"] = np.nan  # one val cell without a value
    with pytest.raises(ValueError, match=r"puts 1 cell\(s\) with a value in val"):
        prepare_labelled(adata, "y", task="regression", split_key="part")


def test_a_numeric_target_split_by_groups_into_one_val_cell_is_refused():
    """Two donors of six cells beside four of one: whole donors held out leave one val cell
    (and one test cell), too few for R^2; the error says how to split otherwise."""
    import anndata as ad

    rng = np.random.default_rng(0)
    donors = ["a"] * 6 + ["b"] * 6 + ["c", "d", "e", "f"]
    a = ad.AnnData(
        rng.poisson(3, (16, 20)).astype(np.float32),
        obs=pd.DataFrame(
            {"y": rng.normal(size=16), "donor": donors}, index=[f"c{i}" for i in range(16)]
        ),
    )
    with pytest.raises(ValueError, match=r"puts 1 cell\(s\) with a value in val.*group_key=None"):
        prepare_labelled(a, "y", task="regression", group_key="donor")


def test_a_stray_barcode_among_other_names_groups_nothing(sag_caplog):
    """One obs_name that reads as a TCGA barcode among nine others is no TCGA data: no groups,
    and a donor column is hinted at as for names without barcodes."""
    import anndata as ad

    from scautogenome.data import resolve_groups

    names = ["TCGA-AA-0001-01A"] + [f"c{i}" for i in range(9)]
    a = ad.AnnData(
        np.ones((10, 3), np.float32),
        obs=pd.DataFrame({"donor": ["d1"] * 5 + ["d2"] * 5}, index=names),
    )
    assert resolve_groups(a, "auto", np.ones(10, bool), hint_donors=True) == (None, None)
    assert "obs['donor'] names 2 donors or samples" in sag_caplog.text


def test_a_users_split_is_not_recorded_as_split_by_groups(adata):
    """group_key= draws the seeded split by groups, which the record names; a split of the
    user's is the user's, for classes and for a numeric target."""
    adata.obs["donor"] = [f"d{i % 30}" for i in range(adata.n_obs)]
    adata.obs["y"] = np.arange(adata.n_obs, dtype=np.float64)
    adata.obs["part"] = np.array(["train", "train", "train", "val", "test"] * 60)
    for key, task in (("label", "classification"), ("y", "regression")):
        assert prepare_labelled(adata, key, task=task, group_key="donor").grouped_by == "donor"
        d = prepare_labelled(adata, key, task=task, group_key="donor", split_key="part")
        assert d.grouped_by is None, task


def test_val_drawn_from_a_users_train_part_is_stratified_on_its_training_values(adata):
    """A numeric target's val part drawn from a user's train part: one cell of each tenth of
    the training values, whatever the values of the cells the split leaves out."""
    y = np.concatenate([np.arange(90.0), 1000 + np.arange(90.0), np.zeros(120)])
    adata.obs["y"] = y
    adata.obs["part"] = np.repeat(np.array(["train", None, "test"], dtype=object), [90, 90, 120])
    d = prepare_labelled(adata, "y", task="regression", split_key="part")
    assert sorted(y[d.split == "val"] // 10) == list(range(9))


def test_group_split_ignores_groups_that_repeat_only_among_unused_cells():
    """Two unlabelled cells of one group: the labelled cells are split one by one as without
    groups."""
    codes = np.concatenate([np.repeat(np.arange(3), [100, 30, 5]), [-1, -1]])
    groups = np.array([f"g{i}" for i in range(codes.size - 2)] + ["x", "x"], dtype=object)
    np.testing.assert_array_equal(
        group_split(codes, groups, seed=3), stratified_split(codes, seed=3)
    )


def test_tpm_values_given_as_such_must_not_be_negative():
    """value_type='normalized' (TPM, FPKM) is logged as counts are: negative values are
    refused as for counts."""
    from scautogenome.data import resolve_value_type

    X = np.array([[1.0, -0.5], [3.0, 2.0]], np.float32)
    for value_type in ("counts", "normalized"):
        with pytest.raises(ValueError, match="has negative values"):
            resolve_value_type(X, value_type, "adata.X")
    assert resolve_value_type(X, "continuous", "adata.X") == "continuous"


def test_tpm_given_as_such_but_small_is_warned_of_unless_rows_share_a_total(sag_caplog):
    """value_type='normalized' of values up to 100 (already logged?) is warned of, at 100
    too; rows scaled to one total (sc.pp.normalize_total without log1p) are not."""
    from scautogenome.data import resolve_value_type

    said = "holds values up to 100 only (already logged?)"
    resolve_value_type(np.array([[1.0, 100.0], [2.0, 3.5]]), "normalized", "adata.X")
    assert said in sag_caplog.text
    sag_caplog.clear()
    scaled = np.array([[20.0, 40.0, 40.0], [50.0, 50.0, 0.0], [10.0, 30.0, 60.0]])
    resolve_value_type(scaled, "normalized", "adata.X")
    assert "already logged?" not in sag_caplog.text


def test_negative_values_outside_tpm_training_cells_are_refused():
    """Training cells read as unlogged TPM: a val or test cell of negative values cannot be
    logged as they are, and is refused."""
    from scautogenome.data import resolve_value_type

    X = np.array([[150.5, 3.2], [200.1, 0.7], [120.3, 5.5], [-1.0, 2.0]])
    with pytest.raises(ValueError, match=r"other cells .* hold negative values"):
        resolve_value_type(X, "auto", "adata.X", rows=np.arange(3))
    assert resolve_value_type(np.abs(X), "auto", "adata.X", rows=np.arange(3)) == "normalized"


def test_min_cells_per_class_takes_zero_and_refuses_a_boolean():
    from scautogenome.data._prepare import check_min_cells_per_class

    check_min_cells_per_class(0)
    check_min_cells_per_class(np.int64(3))
    with pytest.raises(TypeError, match="whole number"):
        check_min_cells_per_class(True)
    with pytest.raises(ValueError, match="0 or more"):
        check_min_cells_per_class(-1)
