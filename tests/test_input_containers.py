"""The matrix containers and dtypes real AnnData objects carry, through every tool: dense arrays
of each numeric dtype, byte order and memory layout, scipy's sparse matrices and arrays with
their index dtypes, unsorted or duplicate entries and stored zeros, and values at the edges.
Each variant holds the same numbers as a float32 CSR reference, so a tool gives the same
result on it with the same seed; the user's matrix is the same object, with the same dtype and
values, afterwards; the outputs survive write_h5ad / read_h5ad; a variant a tool cannot read
is refused before any work, with adata as it was."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import adata_state, assert_adata_state
from scipy import sparse

import scautogenome as sag

N_OBS, N_VARS = 120, 40
CLASSIFY = {
    "budget": {"n_trials": 1, "time_budget": None},
    "trainer": {"max_epochs": 2, "patience": 2, "min_epochs": 1},
    "space": {"common": {"batch_size": [64]}},
}
EMBED = {
    "budget": {"n_trials": 1, "time_budget": None},
    "trainer": {"max_epochs": 2, "patience": 2, "min_epochs": 1, "kl_warmup_epochs": 1},
    "search": {"prune_warmup_epochs": 1, "n_startup_trials": 1},
    "space": {"n_layers": [3], "batch_size": [64], "first_width": [32]},
}
EXPLAIN = {"cells": "all", "n_explain": 20, "nsamples": 20, "n_background": 20, "seed": 0}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _base() -> ad.AnnData:
    """Poisson counts (float32 CSR) of 3 classes."""
    return sag.datasets.synthetic(n_obs=N_OBS, n_vars=N_VARS, n_classes=3, seed=0)


COUNTS = _base().X.toarray().astype(np.float32)


# -- the variants: each a builder of a matrix holding the values of COUNTS --------------------


def _noncontiguous(D):
    big = np.zeros((D.shape[0], 2 * D.shape[1]), dtype=D.dtype)
    big[:, ::2] = D
    out = big[:, ::2]  # a column slice: a view of a bigger array
    assert not out.flags.c_contiguous
    assert not out.flags.f_contiguous
    return out


def _read_only(D):
    out = D.copy()
    out.flags.writeable = False
    return out


def _memmap(D, tmp_path_factory):
    path = tmp_path_factory.mktemp("memmap") / "X.dat"
    m = np.memmap(path, dtype=np.float32, mode="w+", shape=D.shape)
    m[:] = D
    m.flush()
    return np.memmap(path, dtype=np.float32, mode="r", shape=D.shape)


def _matrix(D):
    with warnings.catch_warnings():  # numpy's PendingDeprecationWarning of np.matrix
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.matrix(D)


def _int64_index(D):
    m = sparse.csr_matrix(D)
    m.indices, m.indptr = m.indices.astype(np.int64), m.indptr.astype(np.int64)
    return m


def _unsorted(D):
    """Each row's entries in reverse column order."""
    m = sparse.csr_matrix(D)
    data, indices = m.data.copy(), m.indices.copy()
    for r in range(m.shape[0]):
        s, e = m.indptr[r], m.indptr[r + 1]
        data[s:e], indices[s:e] = data[s:e][::-1], indices[s:e][::-1]
    out = sparse.csr_matrix((data, indices, m.indptr.copy()), shape=m.shape)
    out.has_sorted_indices = False
    assert not out.has_canonical_format
    return out


def _duplicates(D):
    """Every value of 2 or more stored in two parts (v - 1, then 1 at the row's end), as
    scipy allows; scipy's arithmetic sums them."""
    m = sparse.csr_matrix(D)
    data, indices, indptr = [], [], [0]
    for r in range(m.shape[0]):
        d, i = m.data[m.indptr[r] : m.indptr[r + 1]], m.indices[m.indptr[r] : m.indptr[r + 1]]
        two = d >= 2
        data.append(np.r_[np.where(two, d - 1, d), np.ones(two.sum(), np.float32)])
        indices.append(np.r_[i, i[two]])
        indptr.append(indptr[-1] + len(data[-1]))
    out = sparse.csr_matrix(
        (np.concatenate(data), np.concatenate(indices).astype(np.int32), np.array(indptr)),
        shape=m.shape,
    )
    assert not out.has_canonical_format
    assert out.nnz > m.nnz
    np.testing.assert_array_equal(out.toarray(), D)  # scipy sums them
    return out


def _stored_zeros(D):
    coo = sparse.coo_matrix(D)
    zeros = np.argwhere(D == 0)[::7]
    out = sparse.csr_matrix(
        (
            np.r_[coo.data, np.zeros(len(zeros), np.float32)],
            (np.r_[coo.row, zeros[:, 0]], np.r_[coo.col, zeros[:, 1]]),
        ),
        shape=D.shape,
    )
    assert (out.data == 0).sum() == len(zeros) > 0
    return out


VARIANTS = {
    **{
        f"dense-{dt}": (lambda D, _, dt=dt: D.astype(dt))
        for dt in (
            "float16",
            "float32",
            "float64",
            "int8",
            "int16",
            "int32",
            "int64",
            "uint8",
            "uint16",
            "uint32",
            "uint64",
            "bool",
            ">f4",
            ">i4",
        )
    },
    "dense-fortran": lambda D, _: np.asfortranarray(D),
    "dense-noncontiguous": lambda D, _: _noncontiguous(D),
    "dense-readonly": lambda D, _: _read_only(D),
    "dense-memmap": _memmap,
    "dense-np.matrix": lambda D, _: _matrix(D),
    "csr_matrix": lambda D, _: sparse.csr_matrix(D),
    "csc_matrix": lambda D, _: sparse.csc_matrix(D),
    "csr_array": lambda D, _: sparse.csr_array(D),
    "csc_array": lambda D, _: sparse.csc_array(D),
    "csr-int64-indices": lambda D, _: _int64_index(D),
    "csr-unsorted-indices": lambda D, _: _unsorted(D),
    "csr-duplicate-entries": lambda D, _: _duplicates(D),
    "csr-stored-zeros": lambda D, _: _stored_zeros(D),
    **{
        f"csr-{dt}": (lambda D, _, dt=dt: sparse.csr_matrix(D).astype(dt))
        for dt in ("int8", "uint32", "int64", "float64", "bool")
    },
}


def _values(M) -> np.ndarray:
    """The values of a matrix as scipy and numpy read them, as float32."""
    return np.asarray(M.toarray() if sparse.issparse(M) else M, dtype=np.float32)


def _snapshot(M) -> dict:
    """What the user's matrix is: its type, dtype, flags and stored arrays (copies)."""
    if sparse.issparse(M):
        parts = {"data": M.data, "indices": M.indices, "indptr": M.indptr}
        return {
            "type": type(M),
            "dtype": M.dtype,
            "arrays": {k: v.copy() for k, v in parts.items()},
            "index_dtypes": (M.indices.dtype, M.indptr.dtype),
            "canonical": M.has_canonical_format,
        }
    return {
        "type": type(M),
        "dtype": M.dtype,
        "values": np.array(M, copy=True),
        "writeable": M.flags.writeable,
        "order": (M.flags.c_contiguous, M.flags.f_contiguous),
    }


def _assert_unchanged(now, before, snap: dict) -> None:
    """The matrix the AnnData holds is the user's, as it was: same object, same dtype,
    same stored arrays (no in-place sort, sum of duplicates or cast)."""
    assert now is before
    assert type(now) is snap["type"]
    assert now.dtype == snap["dtype"]
    if sparse.issparse(now):
        for key, value in snap["arrays"].items():
            np.testing.assert_array_equal(getattr(now, key), value, err_msg=key)
        assert (now.indices.dtype, now.indptr.dtype) == snap["index_dtypes"]
        assert now.has_canonical_format == snap["canonical"]
    else:
        np.testing.assert_array_equal(np.asarray(now), snap["values"])
        assert now.flags.writeable == snap["writeable"]
        assert (now.flags.c_contiguous, now.flags.f_contiguous) == snap["order"]


def _anndata(M, base: ad.AnnData, where: str) -> ad.AnnData:
    """An AnnData of ``base``'s cells and genes holding ``M`` as X or as layer 'v' (X then
    the float32 reference, which a tool reading the layer must not read)."""
    with warnings.catch_warnings():  # anndata's ImplicitModificationWarning of np.matrix
        warnings.simplefilter("ignore")
        if where == "X":
            return ad.AnnData(M, obs=base.obs.copy(), var=base.var.copy())
        a = ad.AnnData(np.zeros(base.shape, np.float32), obs=base.obs.copy(), var=base.var.copy())
        a.layers["v"] = M
        return a


def _held(a: ad.AnnData, where: str):
    return a.X if where == "X" else a.layers["v"]


def _round_trip(a: ad.AnnData, tmp_path) -> ad.AnnData:
    """``a`` through an h5ad file (a memmap X, which anndata cannot write, as an array)."""
    out = a.copy()
    for key in list(out.layers):
        if isinstance(out.layers[key], np.memmap):
            out.layers[key] = np.asarray(out.layers[key])
    if isinstance(out.X, np.memmap):
        out.X = np.asarray(out.X)
    out.write_h5ad(tmp_path / "a.h5ad")
    return ad.read_h5ad(tmp_path / "a.h5ad")


# -- fitted models, and their outputs on the float32 CSR reference -------------------------


@pytest.fixture(scope="module")
def fitted():
    """A classifier and a Res-VAE fitted on the float32 CSR counts in a second each."""
    sag.settings.verbosity = 0
    sag.settings.seed = 0
    torch.manual_seed(0)
    clf = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    clf.fit(_base(), "label", seed=0)
    vae = sag.models.ResVAE(
        {"kind": "resvae", "n_latent": 4, "widths": [16, 8, 8]},
        {"max_epochs": 2, "kl_warmup_epochs": 1, "batch_size": 64},
    ).fit(_base())
    return clf, vae


def _query_outputs(a: ad.AnnData, fitted, layer=None) -> tuple[np.ndarray, np.ndarray]:
    clf, vae = fitted
    sag.tl.predict(a, clf, layer=layer)
    sag.tl.encode(a, vae, layer=layer)
    return a.obsm["sag_proba"], a.obsm["X_sag_resvae"]


@pytest.fixture(scope="module")
def query_reference(fitted):
    """predict's probabilities and encode's latent of a float32 CSR, by the values it holds."""
    cache = {}

    def of(values: np.ndarray):
        key = values.tobytes()
        if key not in cache:
            a = _anndata(sparse.csr_matrix(values), _base(), "X")
            cache[key] = _query_outputs(a, fitted)
        return cache[key]

    return of


@pytest.mark.parametrize("where", ["X", "layer"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_predict_and_encode_read_each_container_as_its_values(
    variant, where, fitted, query_reference, tmp_path, tmp_path_factory
):
    M = VARIANTS[variant](COUNTS, tmp_path_factory)
    a = _anndata(M, _base(), where)
    held = _held(a, where)
    snap = _snapshot(held)
    proba, latent = _query_outputs(a, fitted, None if where == "X" else "v")
    ref_proba, ref_latent = query_reference(_values(held))
    # the same numbers: the same results (bool: its 0/1 as float32)
    np.testing.assert_allclose(proba, ref_proba, rtol=0, atol=1e-6)
    np.testing.assert_allclose(latent, ref_latent, rtol=0, atol=1e-6)
    _assert_unchanged(_held(a, where), held, snap)
    back = _round_trip(a, tmp_path)
    np.testing.assert_array_equal(back.obsm["sag_proba"], proba)
    np.testing.assert_array_equal(back.obsm["X_sag_resvae"], latent)
    assert list(back.obs["sag_pred"]) == list(a.obs["sag_pred"])


def test_coo_is_refused_by_anndata_and_read_by_the_models(fitted, query_reference):
    """anndata holds CSR and CSC only; the models' own methods take a COO matrix or array as
    the matrix it is."""
    clf, vae = fitted
    ref_proba, ref_latent = query_reference(COUNTS)
    for M in (sparse.coo_matrix(COUNTS), sparse.coo_array(COUNTS)):
        with pytest.raises(ValueError, match="Only CSR and CSC"):
            ad.AnnData(M)
        stored = [M.data.copy(), *(c.copy() for c in M.coords)]
        np.testing.assert_allclose(clf.predict_proba(M), ref_proba, rtol=0, atol=1e-6)
        np.testing.assert_allclose(vae.get_latent(M), ref_latent, rtol=0, atol=1e-6)
        assert M.format == "coo"  # the user's matrix, as it was
        for now, was in zip([M.data, *M.coords], stored):
            np.testing.assert_array_equal(now, was)


@pytest.mark.parametrize("tool", ["predict", "encode", "classify", "embed", "explain"])
@pytest.mark.parametrize("where", ["X", "layer"])
def test_an_object_matrix_is_refused_before_work(tool, where, fitted):
    clf, vae = fitted
    a = _anndata(COUNTS.astype(object), _base(), where)
    held = _held(a, where)
    before = adata_state(a)
    layer = None if where == "X" else "v"
    calls = {
        "predict": lambda: sag.tl.predict(a, clf, layer=layer),
        "encode": lambda: sag.tl.encode(a, vae, layer=layer),
        "classify": lambda: sag.tl.classify(a, "label", layer=layer, config=CLASSIFY, seed=0),
        "embed": lambda: sag.tl.embed(a, layer=layer, config=EMBED, seed=0),
        "explain": lambda: sag.tl.explain(a, clf, layer=layer, **EXPLAIN),
    }
    name = "adata.X" if where == "X" else r"adata.layers\['v'\]"
    with pytest.raises(TypeError, match=rf"{name} has non-numeric dtype object"):
        calls[tool]()
    assert _held(a, where) is held
    assert held.dtype == object
    assert_adata_state(a, before)


# -- the searches and explain on representative containers ---------------------------------


def _trained_outputs(a: ad.AnnData, layer=None) -> dict:
    model = sag.tl.classify(a, "label", mode="mlp", layer=layer, config=CLASSIFY, seed=0)
    sag.tl.embed(a, layer=layer, config=EMBED, seed=0)
    sag.tl.explain(a, model, layer=layer, **EXPLAIN)
    return {
        "proba": a.obsm["sag_proba"],
        "latent": a.obsm["X_sag_resvae"],
        "shap": np.asarray(a.varm["sag_shap"], dtype=np.float64),
        "likelihood": a.uns["sag_resvae"]["params"]["likelihood"],
        "value_type": a.uns["sag"]["params"].get("value_type"),
    }


@pytest.fixture(scope="module")
def trained_reference():
    return _trained_outputs(_base())


@pytest.mark.parametrize(
    ("variant", "where"),
    [
        ("dense-float64", "X"),
        ("dense-uint16", "X"),
        ("dense->f4", "X"),
        ("dense-noncontiguous", "X"),
        ("csc_matrix", "X"),
        ("csr-unsorted-indices", "X"),
        ("csr-duplicate-entries", "X"),
        ("csr-duplicate-entries", "layer"),
        ("csr-stored-zeros", "X"),
        ("csr-int8", "layer"),
    ],
)
def test_classify_embed_and_explain_train_alike_on_each_container(
    variant, where, trained_reference, tmp_path, tmp_path_factory
):
    M = VARIANTS[variant](COUNTS, tmp_path_factory)
    a = _anndata(M, _base(), where)
    held = _held(a, where)
    snap = _snapshot(held)
    got = _trained_outputs(a, None if where == "X" else "v")
    assert got["likelihood"] == trained_reference["likelihood"] == "nb"  # counts: NB
    assert got["value_type"] == trained_reference["value_type"] == "counts"
    for key in ("proba", "latent", "shap"):
        np.testing.assert_allclose(got[key], trained_reference[key], rtol=0, atol=1e-6)
    _assert_unchanged(_held(a, where), held, snap)
    back = _round_trip(a, tmp_path)
    np.testing.assert_array_equal(back.obsm["X_sag_resvae"], got["latent"])
    np.testing.assert_array_equal(np.asarray(back.varm["sag_shap"], dtype=np.float64), got["shap"])


# -- values at the edges ------------------------------------------------------------------


def _large_counts() -> np.ndarray:
    L = COUNTS * 1e4
    L[0, 0], L[1, :5] = 1e6, 3e6  # bulk-sized counts, exact in float32
    return L


@pytest.mark.parametrize("container", ["dense", "csr"])
def test_large_uint32_counts_read_as_their_float32_values(container, fitted, query_reference):
    L = _large_counts()
    M = L.astype(np.uint32) if container == "dense" else sparse.csr_matrix(L.astype(np.uint32))
    a = _anndata(M, _base(), "X")
    snap = _snapshot(a.X)
    held = a.X
    proba, latent = _query_outputs(a, fitted)
    ref_proba, ref_latent = query_reference(L)
    np.testing.assert_array_equal(proba, ref_proba)
    np.testing.assert_array_equal(latent, ref_latent)
    _assert_unchanged(a.X, held, snap)
    # trained on: the same model as on the float32 values
    b = _anndata(M, _base(), "X")
    sag.tl.classify(b, "label", mode="mlp", config=CLASSIFY, seed=0)
    c = _anndata(sparse.csr_matrix(L), _base(), "X")
    sag.tl.classify(c, "label", mode="mlp", config=CLASSIFY, seed=0)
    np.testing.assert_array_equal(b.obsm["sag_proba"], c.obsm["sag_proba"])


@pytest.mark.parametrize("tool", ["predict", "encode", "classify", "embed"])
@pytest.mark.parametrize("container", ["dense", "csr", "layer"])
def test_float64_values_beyond_float32_are_refused_before_work(tool, container, fitted):
    clf, vae = fitted
    B = COUNTS.astype(np.float64)
    B[5, 3] = -1e39 if container == "layer" else 1e39
    M = B if container == "dense" else sparse.csr_matrix(B)
    a = _anndata(M, _base(), "layer" if container == "layer" else "X")
    held = _held(a, "layer" if container == "layer" else "X")
    snap = _snapshot(held)
    before = adata_state(a)
    layer = "v" if container == "layer" else None
    calls = {
        "predict": lambda: sag.tl.predict(a, clf, layer=layer),
        "encode": lambda: sag.tl.encode(a, vae, layer=layer),
        "classify": lambda: sag.tl.classify(a, "label", layer=layer, config=CLASSIFY, seed=0),
        "embed": lambda: sag.tl.embed(a, layer=layer, config=EMBED, seed=0),
    }
    with pytest.raises(
        ValueError, match=r"beyond float32's range .*: 1, the first \(-?1e\+39\) at row 5"
    ):
        calls[tool]()
    _assert_unchanged(_held(a, "layer" if container == "layer" else "X"), held, snap)
    assert_adata_state(a, before)


def test_subnormal_values_read_alike_sparse_and_dense(fitted):
    """Log values with subnormal float32 entries (1e-40 where a cell had 0): a sparse and a
    dense matrix give the same results, finite."""
    S = np.log1p(COUNTS)
    S[2] = np.where(S[2] == 0, np.float32(1e-40), S[2])
    assert (S[2] != 0).all()
    assert (np.abs(S[2]) < np.finfo(np.float32).tiny).any()
    out = []
    for M in (sparse.csr_matrix(S), S.copy()):
        a = _anndata(M, _base(), "X")
        held, snap = a.X, _snapshot(a.X)
        proba, latent = _query_outputs(a, fitted)
        sag.tl.embed(a, config=EMBED, seed=0, key_added="own")
        assert np.isfinite(proba).all()
        assert np.isfinite(latent).all()
        _assert_unchanged(a.X, held, snap)
        out.append((proba, latent, a.obsm["X_own"]))
    for sparse_out, dense_out in zip(*out):
        np.testing.assert_allclose(sparse_out, dense_out, rtol=0, atol=1e-6)


def test_embed_of_log_values_is_alike_in_float64_dense_and_float32_csr():
    """Non-count values (log-normalized): embed's gaussian model on float64 dense equals the
    one on the float32 CSR of the same numbers."""
    N = np.log1p(COUNTS / COUNTS.sum(1, keepdims=True) * 1e4).astype(np.float32)
    out = []
    for M in (sparse.csr_matrix(N), N.astype(np.float64)):
        a = _anndata(M, _base(), "X")
        held, snap = a.X, _snapshot(a.X)
        sag.tl.embed(a, config=EMBED, seed=0)
        assert a.uns["sag_resvae"]["params"]["likelihood"] != "nb"
        _assert_unchanged(a.X, held, snap)
        out.append(a.obsm["X_sag_resvae"])
    np.testing.assert_allclose(out[0], out[1], rtol=0, atol=1e-6)


# -- embedding_scores: the basis in obsm --------------------------------------------------


def _clusters() -> ad.AnnData:
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0, 0], [6, 0, 0], [0, 6, 0]], dtype=np.float32)
    labels = np.repeat(np.arange(3), 40)
    a = ad.AnnData(sparse.csr_matrix((len(labels), 5), dtype=np.float32))
    a.obs["label"] = labels.astype(str)
    a.obsm["e"] = centers[labels] + rng.normal(0, 0.5, (len(labels), 3)).astype(np.float32)
    return a


SCORES = ("ari", "nmi", "silhouette", "davies_bouldin", "n_clusters")


def test_embedding_scores_read_each_container_of_the_basis(tmp_path):
    ref = _clusters()
    expected = sag.tl.embedding_scores(ref, "e", "label", tsne=False, seed=0)
    E = ref.obsm["e"]
    variants = {
        "float64": E.astype(np.float64),
        ">f4": E.astype(">f4"),
        "noncontiguous": _noncontiguous(E),
        "readonly": _read_only(E),
        "csr": sparse.csr_matrix(E),
        "dataframe": pd.DataFrame(E, index=ref.obs_names, columns=["d0", "d1", "d2"]),
    }
    for name, basis in variants.items():
        a = _clusters()
        a.obsm["e"] = basis
        held = a.obsm["e"]
        got = sag.tl.embedding_scores(a, "e", "label", tsne=False, seed=0, key_added="s")
        assert {k: got[k] for k in SCORES} == {k: expected[k] for k in SCORES}, name
        assert a.obsm["e"] is held, name
        if name != "dataframe":  # the user's basis, as it was
            np.testing.assert_array_equal(_values(a.obsm["e"]), E, err_msg=name)
    back = _round_trip(a, tmp_path)
    assert back.uns["s"]["scores"]["ari"] == pytest.approx(expected["ari"])


def test_embedding_scores_name_a_basis_value_beyond_float32():
    a = _clusters()
    E = a.obsm["e"].astype(np.float64)
    E[4, 1] = 1e39
    a.obsm["e"] = E
    before = adata_state(a)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow of a cast on the way
        with pytest.raises(
            ValueError,
            match=r"obsm\['e'\] contains values beyond float32's range .* in 1 of the "
            rf"{a.n_obs} cells scored \(the first: '{a.obs_names[4]}'\)",
        ):
            sag.tl.embedding_scores(a, "e", "label", tsne=False, seed=0)
    assert_adata_state(a, before)


@pytest.mark.parametrize(
    ("values", "summed_max"),
    [(np.array([100, 100, 5], np.int8), 200.0), (np.array([True, True, True]), 2.0)],
    ids=["int8", "bool"],
)
def test_the_value_check_and_the_reader_sum_narrow_integer_duplicates_alike(values, summed_max):
    """Duplicate entries of a narrow integer or boolean CSR are summed as the reader sums them
    (in float: 200, not int8's wrapped -56; 2, not bool's True) by every value check, so that
    what the checks judge (negative? binary? counts?) is what the model reads."""
    from scautogenome.data import dense_rows
    from scautogenome.data._checks import _non_finite, _subset_values, value_stats

    M = sparse.csr_matrix((values, np.array([0, 0, 1]), np.array([0, 3, 3])), shape=(2, 3))
    assert not M.has_canonical_format
    before = M.data.copy()
    stats = value_stats(M)
    read = dense_rows(M, np.arange(2))
    assert read.max() == summed_max
    assert (stats["min"], stats["max"]) == (float(read.min()), float(read.max()))
    subset = np.concatenate(list(_subset_values(M, columns=np.arange(3))))
    assert subset.max() == summed_max
    assert _non_finite(M, None)[0] == 0
    np.testing.assert_array_equal(M.data, before)  # the user's entries are left as stored
    assert not M.has_canonical_format
