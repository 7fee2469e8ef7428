"""What a scanpy/anndata user does next with an AnnData that sag annotated: subsets of its
cells or genes, anndata.concat, zarr and backed h5ad files, scanpy's own tools on sag's
columns; sag's readers (sag.get, sag.pl, the report, predict) on the result."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc

import scautogenome as sag

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SEARCH = {
    "budget": {"n_trials": 1, "time_budget": None},
    "trainer": {"max_epochs": 2, "patience": 2, "min_epochs": 1},
    "space": {"mlp": {"n_layers": [1], "units": [8]}, "common": {"batch_size": [64]}},
}


@pytest.fixture(scope="module")
def annotated():
    """(adata, model): 200 synthetic cells x 40 genes that classify and explain annotated."""
    sag.settings.verbosity = 1
    sag.settings.progress_bar = False
    sag.settings.device = "cpu"
    adata = sag.datasets.synthetic(n_obs=200, n_vars=40, n_classes=3, seed=0)
    model = sag.tl.classify(adata, "label", mode="mlp", config=SEARCH, seed=0)
    sag.tl.explain(adata, model, n_explain=20, n_background=10, nsamples=20)
    return adata, model


@pytest.fixture
def annotated_copy(annotated):
    adata, model = annotated
    return adata.copy(), model


@pytest.fixture(scope="module")
def halves(annotated):
    """The two halves of the cells, each explained on its own (two samples of a study, say)."""
    adata, model = annotated
    parts = []
    for rows in (slice(0, 100), slice(100, None)):
        part = adata[rows].copy()
        del part.uns["sag_shap"], part.varm["sag_shap"]
        sag.tl.explain(part, model, n_explain=10, n_background=10, nsamples=20)
        parts.append(part)
    return parts


# -- subsets --------------------------------------------------------------------------------
def test_a_subset_of_cells_keeps_the_explanation_and_the_run_metrics(annotated):
    adata, _ = annotated
    sub = adata[adata.obs["label"] != "type_1"]
    pd.testing.assert_frame_equal(sag.get.shap_df(sub), sag.get.shap_df(adata))
    pd.testing.assert_frame_equal(sag.get.metrics_df(sub), sag.get.metrics_df(adata))
    # the predictions' unused categories are dropped, their colours with them (by name)
    copy = sub.copy()
    kept = list(copy.obs["sag_pred"].cat.categories)
    full = dict(zip(adata.obs["sag_pred"].cat.categories, adata.uns["sag_pred_colors"]))
    assert list(copy.uns["sag_pred_colors"]) == [full[c] for c in kept]


def test_a_subset_of_genes_subsets_the_shap_table_by_name(annotated):
    adata, _ = annotated
    genes = adata.var_names[::3]
    full = sag.get.shap_df(adata)
    sub = sag.get.shap_df(adata[:, genes].copy())
    pd.testing.assert_frame_equal(sub.sort_index(), full.loc[genes].sort_index())


def test_a_scores_note_says_the_embedding_scores_are_of_other_cells(annotated, tmp_path):
    """The report of a subset shows the stored embedding_scores; it must say they were
    computed on other cells (the split note says so of the split)."""
    adata, _ = annotated
    adata = adata.copy()
    rng = np.random.default_rng(0)
    # a 2-D latent: drawn as it is (no UMAP to compute in the report)
    adata.obsm["X_sag_resvae"] = rng.normal(size=(adata.n_obs, 2)).astype(np.float32)
    adata.uns["sag_resvae"] = {
        "scores": {"labels_key": "label", "basis": "X_sag_resvae", "ari": 0.5, "nmi": 0.5}
    }
    adata.uns["sag_resvae"]["scores"].update(n_cells=adata.n_obs, n_labels=3, n_clusters=3.0)
    whole = sag.io.write_report(adata, tmp_path / "whole.html").read_text()
    assert "These scores are of the" not in whole
    sub = adata[adata.obs["label"] != "type_1"].copy()
    part = sag.io.write_report(sub, tmp_path / "part.html").read_text()
    assert f"These scores are of the {adata.n_obs:,} labelled cells" in part


# -- storage --------------------------------------------------------------------------------
def test_zarr_keeps_every_output_that_the_readers_read(annotated, tmp_path):
    adata, _ = annotated
    adata.write_zarr(tmp_path / "a.zarr")
    back = ad.read_zarr(tmp_path / "a.zarr")
    for column in ("sag_pred", "sag_split"):
        assert back.obs[column].dtype == adata.obs[column].dtype
    np.testing.assert_array_equal(back.obsm["sag_proba"], adata.obsm["sag_proba"])
    np.testing.assert_array_equal(back.varm["sag_shap"], adata.varm["sag_shap"])
    pd.testing.assert_frame_equal(sag.get.shap_df(back, "type_0"), sag.get.shap_df(adata, "type_0"))
    pd.testing.assert_frame_equal(sag.get.metrics_df(back), sag.get.metrics_df(adata))
    sag.pl.shap_summary(back, show=False)  # its string arrays read as numpy's StringDType


def test_report_of_a_view_of_a_backed_file(annotated, tmp_path):
    adata, _ = annotated
    adata.write_h5ad(tmp_path / "a.h5ad")
    backed = ad.read_h5ad(tmp_path / "a.h5ad", backed="r")
    view = backed[backed.obs["label"] == "type_0"]
    path = sag.io.write_report(view, tmp_path / "r.html")
    assert "Top genes" in path.read_text() or "SHAP" in path.read_text()
    backed.file.close()


def test_embedding_of_a_view_of_a_backed_file_says_how_to_load_it(annotated, tmp_path):
    adata, _ = annotated
    adata = adata.copy()
    adata.obsm["X_lat"] = np.random.default_rng(0).normal(size=(adata.n_obs, 4))
    adata.write_h5ad(tmp_path / "a.h5ad")
    backed = ad.read_h5ad(tmp_path / "a.h5ad", backed="r")
    view = backed[backed.obs["label"] == "type_0"]
    with pytest.raises(ValueError, match="is a view") as e:
        sag.pl.embedding(view, "X_lat", color="label", show=False)
    backed.file.close()
    assert "to_memory()" in str(e.value)  # not adata[mask].copy(): anndata refuses it


def test_predict_on_a_backed_file_read_into_memory(annotated, tmp_path):
    adata, model = annotated
    adata.write_h5ad(tmp_path / "a.h5ad", compression="gzip")
    backed = ad.read_h5ad(tmp_path / "a.h5ad", backed="r")
    query = backed[:50].to_memory()
    sag.tl.predict(query, model, key_added="q")
    np.testing.assert_allclose(query.obsm["q_proba"], adata.obsm["sag_proba"][:50], atol=1e-5)
    backed.file.close()


# -- anndata.concat ---------------------------------------------------------------------------
def test_report_of_a_concat_of_separately_explained_parts(halves, tmp_path):
    both = ad.concat(halves, uns_merge="same")  # the classify record: the same in both
    text = sag.io.write_report(both, tmp_path / "r.html").read_text()  # KeyError 'top_genes'
    assert "not a whole record of sag.tl.explain" in text


def test_readers_of_a_concat_of_separately_explained_parts_say_what_is_left(halves):
    # varm of the first part, uns of what both share: not one explanation of these cells
    both = ad.concat(halves, merge="first", uns_merge="same")
    with pytest.raises(KeyError, match=r"not a whole record of sag\.tl\.explain"):
        sag.get.shap_df(both)  # the first part's table, silently
    with pytest.raises(KeyError, match=r"not a whole record of sag\.tl\.explain"):
        sag.pl.shap_summary(both, show=False)  # "an explanation written before explain kept"


def test_concat_without_uns_names_what_is_missing(annotated):
    adata, model = annotated
    both = ad.concat([adata[:100].copy(), adata[100:].copy()])  # uns dropped
    with pytest.raises(KeyError, match=r"sag\.tl\.classify"):
        sag.get.metrics_df(both)
    with pytest.raises(ValueError, match=r"anndata\.concat"):
        sag.tl.predict(both, model)
    # what concat keeps of the one run's record when asked: the whole of it
    kept = ad.concat([adata[:100].copy(), adata[100:].copy()], merge="same", uns_merge="same")
    pd.testing.assert_frame_equal(sag.get.metrics_df(kept), sag.get.metrics_df(adata))
    pd.testing.assert_frame_equal(sag.get.shap_df(kept), sag.get.shap_df(adata))


# -- scanpy on sag's outputs ----------------------------------------------------------------
def test_predict_after_normalize_total_and_log1p_warns_and_records_it(annotated_copy):
    adata, model = annotated_copy
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    sag.tl.predict(adata, model)
    warnings = [str(w) for w in adata.uns["sag"]["warnings"]]
    assert any("log-normalized" in w for w in warnings)


def test_scanpy_reads_the_predictions_as_groups(annotated_copy):
    adata, _ = annotated_copy
    counts = adata.obs["sag_pred"].value_counts()
    adata = adata[adata.obs["sag_pred"].isin(counts.index[counts > 1])].copy()
    sc.pp.log1p(adata)
    sc.tl.rank_genes_groups(adata, "sag_pred", method="t-test")
    groups = list(adata.uns["rank_genes_groups"]["names"].dtype.names)
    assert groups == list(adata.obs["sag_pred"].cat.categories)
    df = sc.get.obs_df(adata, ["sag_pred", "sag_split"], obsm_keys=[("sag_proba", 0)])
    assert df["sag_pred"].dtype == adata.obs["sag_pred"].dtype
