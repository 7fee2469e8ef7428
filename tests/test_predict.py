from __future__ import annotations

import numpy as np
import pytest

import scautogenome as sag


@pytest.fixture
def trained(adata, tiny_config):
    return sag.tl.classify(adata.copy(), "label", config=tiny_config)


def test_genes_matched_by_name(adata, trained):
    ref = trained.predict_proba(adata)
    rng = np.random.default_rng(0)
    shuffled = adata[:, rng.permutation(adata.n_vars)].copy()
    sag.tl.predict(shuffled, trained)
    np.testing.assert_allclose(shuffled.obsm["sag_proba"], ref, atol=1e-5)
    assert shuffled.uns["sag"]["gene_overlap"]["n_common"] == adata.n_vars
    assert (shuffled.obs["sag_confidence"] > 0).all()


def test_partial_overlap_warns_and_zero_fills(adata, trained, capfd):
    query = adata[:, 20:].copy()  # 20 model genes missing
    sag.settings.verbosity = 1
    sag.tl.predict(query, trained)
    err = capfd.readouterr().err
    assert err.count("180 of the model's 200 genes") == 1
    rep = query.uns["sag"]["gene_overlap"]
    assert rep["n_missing_zero_filled"] == 20
    # zero-filling is exactly "those genes are 0 in the query"
    filled = adata.copy()
    filled.X = filled.X.toarray()
    filled.X[:, :20] = 0
    np.testing.assert_allclose(query.obsm["sag_proba"], trained.predict_proba(filled), atol=1e-5)


def test_overlap_below_minimum_raises_with_counts(adata, trained):
    query = adata[:, 150:].copy()
    with pytest.raises(ValueError, match=r"only 50 of the model's 200 genes"):
        sag.tl.predict(query, trained, min_gene_overlap=0.5)
    assert "sag_pred" not in query.obs
    sag.tl.predict(query, trained, min_gene_overlap=0.2)
    assert "sag_pred" in query.obs


def test_no_gene_overlap_raises(adata, trained):
    query = adata.copy()
    query.var_names = [f"other_{i}" for i in range(query.n_vars)]
    with pytest.raises(ValueError, match="shares no gene"):
        sag.tl.predict(query, trained)
