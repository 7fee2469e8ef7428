"""A sparse query's minibatches at inference: transformed on their stored values where few
values are stored (``data._loader.sparse_pays``, ``SPARSE_MAX_DENSITY``, measured by
``benchmarks/sparse_density.py``), densified a batch at a time otherwise; both paths give the
same predictions at every density."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

import scautogenome as sag
import scautogenome.data._loader as loader_mod
import scautogenome.models._supervised as supervised

pytestmark = pytest.mark.usefixtures("one_torch_thread")

N_OBS, N_VARS, N_ZERO = 300, 60, 5  # genes 0-4 are 0 in training: the network skips them


@pytest.fixture(scope="module")
def model():
    train = sag.datasets.synthetic(n_obs=200, n_vars=N_VARS, n_classes=3, seed=0)
    X = train.X.tolil()
    X[:, :N_ZERO] = 0
    train.X = sparse.csr_matrix(X)
    train.X.eliminate_zeros()
    m = sag.models.Classifier({"kind": "mlp", "units": [16]}, {"max_epochs": 1})
    m.fit(train, "label", seed=0)
    return m


def _query(model, density: float, seed: int = 1) -> ad.AnnData:
    """Counts 1-19 on the model's genes, each value stored with probability ``density``."""
    rng = np.random.default_rng(seed)
    keep = rng.random((N_OBS, N_VARS)) < density
    values = rng.integers(1, 20, (N_OBS, N_VARS)).astype(np.float32)
    X = sparse.csr_matrix(np.where(keep, values, np.float32(0)))
    query = ad.AnnData(X)
    query.var_names = model.var_names_
    return query


def _forced(monkeypatch, model, query, sparse_path: bool) -> np.ndarray:
    """``predict_proba`` of ``query`` on one path, checked to be the one taken."""
    with monkeypatch.context() as m:
        m.setattr(supervised, "sparse_pays", lambda X: sparse_path, raising=False)
        if not sparse_path:
            m.setattr(loader_mod, "sparse_transform_applies", lambda *a: False)
        loader = model._loader(query.X, None, 1024)
        assert loader.stored_values == sparse_path
        if sparse_path:  # the network's genes alone: not a vacuous sparse path
            assert model.module_.genes.n_read == N_VARS - N_ZERO
            assert next(iter(loader))[0].shape[1] == N_VARS - N_ZERO
        return model.predict_proba(query)


@pytest.mark.parametrize("density", [0.01, 0.05, 0.3, 0.75, 1.0])
def test_both_paths_predict_the_same(model, monkeypatch, density):
    query = _query(model, density)
    on_values = _forced(monkeypatch, model, query, sparse_path=True)
    densified = _forced(monkeypatch, model, query, sparse_path=False)
    np.testing.assert_allclose(on_values, densified, rtol=1e-5, atol=1e-6)
    # and the path the package picks gives them too
    np.testing.assert_allclose(model.predict_proba(query), densified, rtol=1e-5, atol=1e-6)


def test_the_path_follows_the_share_of_stored_values(model):
    from scautogenome.data._loader import SPARSE_MAX_DENSITY, sparse_pays

    assert 0.0 < SPARSE_MAX_DENSITY < 0.5
    assert model._loader(_query(model, 0.02).X, None, 1024).stored_values
    for density in (0.5, 1.0):  # a dense-ish query: each batch densified, then transformed
        loader = model._loader(_query(model, density).X, None, 1024)
        assert not loader.stored_values
        assert next(iter(loader))[0].shape[1] == N_VARS  # all genes: the network picks
    # at the limit and one value past it
    n_obs, n_vars = 100, 50
    at = int(SPARSE_MAX_DENSITY * n_obs * n_vars)
    flat = np.zeros(n_obs * n_vars, dtype=np.float32)
    flat[:at] = 1.0
    X = sparse.csr_matrix(flat.reshape(n_obs, n_vars))
    assert X.nnz == at
    assert sparse_pays(X)
    flat[at] = 1.0
    assert not sparse_pays(sparse.csr_matrix(flat.reshape(n_obs, n_vars)))
    # read from nnz, nothing densified (10^11 values would not fit), and never a dense input
    assert sparse_pays(sparse.csr_matrix((10**6, 10**5), dtype=np.float32))
    assert not sparse_pays(np.zeros((3, 4), dtype=np.float32))
    assert sparse_pays(sparse.csr_matrix((0, 4), dtype=np.float32))  # no cells: nothing stored
