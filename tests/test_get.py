"""sag.get: the tools' records as tables."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

import scautogenome as sag


@pytest.fixture(scope="module")
def explained():
    sag.settings.verbosity = 0
    adata = sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0)
    adata.var["symbol"] = [f"SYM{i}" for i in range(adata.n_vars)]
    config = {"budget": {"n_trials": 1}, "trainer": {"max_epochs": 5}}
    model = sag.tl.classify(adata, "label", mode="mlp", config=config, seed=0)
    sag.tl.explain(adata, model, n_explain=30, nsamples=20, n_background=30)
    return adata


def test_shap_df_of_all_genes_and_of_one_class(explained, tmp_path):
    adata = explained
    wide = sag.get.shap_df(adata)
    assert list(wide.columns) == [*adata.uns["sag_shap"]["classes"], "overall"]
    assert sorted(wide.index) == sorted(adata.var_names)
    assert wide["overall"].dropna().is_monotonic_decreasing
    np.testing.assert_array_equal(wide.loc[adata.var_names].to_numpy(), adata.varm["sag_shap"])
    one = sag.get.shap_df(adata, "type_1", n_top=5, gene_symbols="symbol")
    assert list(one.columns) == ["names", "scores", "gene_symbols"]
    assert len(one) == 5
    assert one["scores"].is_monotonic_decreasing
    # the ranking explain stored for the class, and the symbols of those genes
    col = list(adata.uns["sag_shap"]["columns"]).index("type_1")
    assert one["names"].tolist() == list(adata.uns["sag_shap"]["top_genes"][col][:5])
    assert one["gene_symbols"].tolist() == adata.var.loc[one["names"], "symbol"].tolist()
    # written and read back: the same table
    adata.write_h5ad(tmp_path / "e.h5ad")
    back = ad.read_h5ad(tmp_path / "e.h5ad")
    np.testing.assert_array_equal(sag.get.shap_df(back).to_numpy(), wide.to_numpy())


def test_shap_df_errors(explained):
    with pytest.raises(KeyError, match="is not one of the explained classes"):
        sag.get.shap_df(explained, "type_9")
    with pytest.raises(KeyError, match=r"run sag.tl.explain\(adata, model\) first"):
        sag.get.shap_df(explained, key="nope")
    with pytest.raises(KeyError, match=r"is not a column of adata\.var"):
        sag.get.shap_df(explained, gene_symbols="nope")
    with pytest.raises(ValueError, match="n_top=0 must be a positive integer"):
        sag.get.shap_df(explained, n_top=0)


def test_metrics_df_is_the_classify_record(explained):
    adata = explained
    m = adata.uns["sag"]["metrics"]["test"]
    table = sag.get.metrics_df(adata)
    classes = [str(c) for c in adata.uns["sag"]["classes"]]
    assert table.index.tolist() == [*classes, "all"]
    np.testing.assert_allclose(table.loc[classes, "f1"], m["per_class"]["f1"])
    np.testing.assert_allclose(table.loc[classes, "roc_auc"], m["per_class"]["roc_auc"])
    assert table.loc[classes, "support"].tolist() == list(m["per_class"]["support"])
    assert table.loc["all", "f1"] == pytest.approx(m["macro_f1"])
    assert table.loc["all", "accuracy"] == pytest.approx(m["accuracy"])
    assert table.loc["all", "support"] == m["n"]
    assert table["support"].dtype.kind == "i"
    val = sag.get.metrics_df(adata, part="val")
    assert val.loc["all", "support"] == adata.uns["sag"]["metrics"]["val"]["n"]
    with pytest.raises(ValueError, match="part='train' must be one of"):
        sag.get.metrics_df(adata, part="train")
    with pytest.raises(KeyError, match=r"run sag.tl.classify\(adata, labels_key\) first"):
        sag.get.metrics_df(adata, key="sag_shap")


def test_metrics_df_of_a_numeric_target():
    sag.settings.verbosity = 0
    adata = sag.datasets.synthetic(n_obs=200, n_vars=40, n_classes=3, seed=1)
    adata.obs["age"] = np.asarray(adata.X[:, :5].sum(axis=1)).ravel() + np.arange(200) * 0.01
    config = {"budget": {"n_trials": 1}, "trainer": {"max_epochs": 3}}
    sag.tl.classify(adata, "age", mode="mlp", task="regression", config=config)
    table = sag.get.metrics_df(adata)
    assert table.index.tolist() == ["age"]
    assert table.loc["age", "r2"] == pytest.approx(adata.uns["sag"]["metrics"]["test"]["r2"])
