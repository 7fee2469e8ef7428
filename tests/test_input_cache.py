"""The input transform computed once per training run (transformed_rows), on the stored values
of a sparse query (InputTransform.transform_sparse), and the bincount F1: the same values as
the per-batch path and as sklearn."""

from __future__ import annotations

import importlib.metadata
import warnings

import numpy as np
import pytest
import torch
from packaging.version import Version
from scipy import sparse

import scautogenome as sag
from scautogenome.data import BatchLoader, InputTransform, dense_rows
from scautogenome.data._loader import TransformedRows, transformed_rows
from scautogenome.nn import InputGenes
from scautogenome.train._metrics import f1_score, score


def _values(kind: str, rng) -> np.ndarray:
    """120 cells x 50 genes of one kind of values, about 70% zeros, genes 0-4 all 0."""
    n, p = 120, 50
    mask = rng.random((n, p)) < 0.3
    if kind == "counts":
        X = rng.poisson(3.0, (n, p)) * mask
    elif kind == "normalized":
        X = rng.gamma(2.0, 80.0, (n, p)) * mask  # TPM-like
    elif kind == "binary":
        X = (rng.random((n, p)) < 0.2).astype(float)
    elif kind == "continuous":  # log values, non-negative
        X = np.log1p(rng.gamma(2.0, 2.0, (n, p))) * mask
    else:  # "scaled": centred values, 0 is not the training minimum
        X = rng.normal(0.0, 1.0, (n, p)) * mask
    X = X.astype(np.float32)
    X[:, :5] = 0  # constant on every cell: not read
    return X


KINDS = ["counts", "normalized", "binary", "continuous", "scaled"]


def _fitted(kind: str, sparse_x: bool):
    rng = np.random.default_rng(KINDS.index(kind))
    dense = _values(kind, rng)
    X = sparse.csr_matrix(dense) if sparse_x else dense
    value_type = "continuous" if kind == "scaled" else kind
    rows = np.arange(80)
    t = InputTransform(value_type).fit(X, rows)
    return X, t


def _old_path(X, t, rows, genes):
    """The per-batch path: densified rows, TorchTransform, then the read genes."""
    x = t.to_torch("cpu")(torch.from_numpy(dense_rows(X, rows)))
    return x.numpy() if genes is None else x.numpy()[:, genes]


@pytest.mark.parametrize("sparse_x", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("kind", KINDS)
def test_cached_rows_match_the_per_batch_transform(kind, sparse_x):
    X, t = _fitted(kind, sparse_x)
    genes = t.varying_genes()
    assert genes is not None
    assert genes[0] >= 5  # the constant genes are left out
    rows = np.arange(X.shape[0])
    expected = _old_path(X, t, rows, genes)
    cached = transformed_rows(X, np.arange(100), t.to_torch("cpu"), genes)
    assert isinstance(cached, TransformedRows)
    # CSR exactly where zeros stay zeros: counts and non-negative values, not centred ones
    assert sparse.issparse(cached.matrix) == (sparse_x and kind != "scaled")
    assert t.keeps_zeros(genes) == (kind != "scaled")
    some = np.array([99, 3, 3, 50, 0])  # any order, repeated rows (a sampler's draws)
    np.testing.assert_allclose(cached.block(some), expected[some], rtol=0, atol=1e-6)
    if sparse.issparse(cached.matrix):  # no more stored values than the rows had
        assert cached.matrix.nnz <= X[:100].nnz
    # a query read batch by batch on the stored values of the genes read
    loader = BatchLoader(
        X,
        rows,
        None,
        batch_size=32,
        transform=t.to_torch("cpu"),
        device="cpu",
        inference=True,
        stored_values=True,
        reads=genes,
    )
    got = torch.cat([x for x, _ in loader]).numpy()
    assert loader.stored_values == (sparse_x and kind != "scaled")
    if not loader.stored_values:  # all genes: the network selects its own
        got = got[:, genes]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    if sparse_x and kind != "scaled":
        block = t.to_torch("cpu").transform_sparse(X[rows], genes)
        assert block.nnz == X[:, genes].nnz  # the same stored entries
        np.testing.assert_allclose(block.toarray(), expected, rtol=0, atol=1e-6)
        everything = t.to_torch("cpu").transform_sparse(X[rows])  # the constant genes: 0
        np.testing.assert_allclose(everything.toarray(), _old_path(X, t, rows, None), atol=1e-6)
    else:
        if sparse_x:
            with pytest.raises(ValueError, match="keeps_zeros"):
                t.to_torch("cpu").transform_sparse(X[rows], genes)


def test_cached_rows_cap_and_a_query_depth():
    X, t = _fitted("counts", True)
    genes = t.varying_genes()
    tt = t.to_torch("cpu")
    # above the cap: nothing cached, batches are transformed as they are read
    assert transformed_rows(X, np.arange(100), tt, genes, max_values=10) is None
    dense = X.toarray()
    assert transformed_rows(dense, np.arange(100), tt, genes, max_values=10) is None
    # a query lacking genes keeps its cells' depth in a sparse block, as in a dense one
    lacking = tt.for_query(np.array([7, 8]))
    rows = np.arange(20)
    np.testing.assert_allclose(
        lacking.transform_sparse(X[rows]).toarray(),
        lacking(torch.from_numpy(X[rows].toarray())).numpy(),
        rtol=0,
        atol=1e-6,
    )


def test_a_sparse_cache_is_built_in_place_of_its_pieces():
    """The CSR cache of many rows: built at about its own size (its pieces were all kept and
    then stacked, about 2.3 times the cache, ~600 MB at the cap), with the same values, a
    duplicate entry summed and int32 indices."""
    import tracemalloc

    rng = np.random.default_rng(0)
    # 20 pieces of 2,048 rows: each piece's own copies are small beside the cache
    X = sparse.random(40_000, 400, density=0.1, format="csr", random_state=0, dtype=np.float32)
    X.data = rng.poisson(3.0, X.nnz).astype(np.float32) + 1
    t = InputTransform("counts").fit(X, np.arange(30_000))
    tt = t.to_torch("cpu")
    genes = np.arange(5, 395)
    rows = np.arange(40_000)
    tracemalloc.start()
    cached = transformed_rows(X, rows, tt, genes)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    m = cached.matrix
    size = m.data.nbytes + m.indices.nbytes + m.indptr.nbytes
    assert peak < 1.35 * size, peak / size  # 1.58 when the pieces were stacked
    assert m.indices.dtype == np.int32
    np.testing.assert_allclose(
        m.toarray(), tt.transform_sparse(X[rows], genes).toarray(), rtol=0, atol=0
    )
    # a row whose value is stored in two parts (not canonical): summed, as transform_sparse does
    coo = X[:4].tocoo()
    doubled = sparse.csr_matrix(
        (np.r_[coo.data, coo.data[:1]], (np.r_[coo.row, coo.row[:1]], np.r_[coo.col, coo.col[:1]])),
        shape=(4, 400),
    )
    doubled.has_canonical_format = False
    got = transformed_rows(doubled, np.arange(4), tt, genes).matrix
    np.testing.assert_allclose(
        got.toarray(), tt.transform_sparse(doubled, genes).toarray(), rtol=0, atol=0
    )


def test_input_genes_take_the_read_genes_alone():
    genes = InputGenes(6, np.array([1, 3, 4]))
    x = torch.arange(12.0).reshape(2, 6)
    assert torch.equal(genes(x), x[:, [1, 3, 4]])
    assert torch.equal(genes(x[:, [1, 3, 4]]), x[:, [1, 3, 4]])
    np.testing.assert_array_equal(genes.positions(), [1, 3, 4])
    assert InputGenes(6).positions() is None


def _no_cache(monkeypatch):
    """The code before the cache: every batch densified and transformed on all genes."""
    import scautogenome.data._loader as loader

    # LabelledData.transformed (searches, fit, ENAS) reads it from the loader at each call
    monkeypatch.setattr(loader, "transformed_rows", lambda *a, **k: None)
    monkeypatch.setattr(loader, "sparse_transform_applies", lambda *a, **k: False)


def test_classify_and_predict_as_without_the_cache(adata, tiny_config, monkeypatch):
    X = adata.X.tocsc()
    X.data[: X.indptr[20]] = 0  # genes 0 in every cell: the network does not read them
    X.eliminate_zeros()
    adata.X = X.tocsr()
    new = adata.copy()
    model = sag.tl.classify(new, "label", config=tiny_config)
    assert model.module_.genes.n_read == adata.n_vars - 20
    proba = model.predict_proba(adata)
    with monkeypatch.context() as m:
        _no_cache(m)
        old = adata.copy()
        old_model = sag.tl.classify(old, "label", config=tiny_config)
        old_proba = model.predict_proba(adata)  # the same weights, the per-batch path
    # the same inputs to the last bit (counts whose cell totals float32 sums exactly): the
    # same trials, weights and calls
    np.testing.assert_array_equal(
        new.uns["sag"]["trials"]["value"], old.uns["sag"]["trials"]["value"]
    )
    assert new.uns["sag"]["model_digest"] == old.uns["sag"]["model_digest"]
    np.testing.assert_array_equal(new.obs["sag_pred"].values, old.obs["sag_pred"].values)
    np.testing.assert_allclose(proba, old_proba, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(old_model.predict(adata), model.predict(adata))


SKLEARN_FROM_COUNTS = Version(importlib.metadata.version("scikit-learn")) >= Version("1.4")


@pytest.mark.parametrize("average", ["macro", "weighted"])
def test_f1_is_sklearns(average):
    from sklearn.metrics import f1_score as sk_f1

    rng = np.random.default_rng(0)
    for _ in range(300):
        k = int(rng.integers(1, 10))
        n = int(rng.integers(1, 120))
        y = rng.integers(0, int(rng.integers(1, k + 1)), n)  # some classes absent
        p = np.where(rng.random(n) < rng.random(), y, rng.integers(0, k, n))
        present = np.union1d(y, p)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = sk_f1(y, p, labels=present, average=average, zero_division=0)
        # exactly where scikit-learn >= 1.4 computes it from counts too (1.3: from precision
        # and recall, a last bit apart)
        want = float(expected) if SKLEARN_FROM_COUNTS else pytest.approx(expected, rel=1e-14)
        assert f1_score(y, p, k, average) == want
        metric = "macro_f1" if average == "macro" else "weighted_f1"
        assert score(y, p, metric, k) == want
    # what it leaves to sklearn: no cells, codes out of range
    assert f1_score(np.array([], int), np.array([], int), 3, average) is None
    assert f1_score(np.array([0, 5]), np.array([0, 1]), 3, average) is None
