"""Extreme but legitimate data shapes, end to end: gene panels of 1-3 genes, bulk tables of a
few dozen samples x 20,000 genes, more classes than scanpy's palettes, classes of 1-2 cells
beside large ones, a single class, labels that are all unique, very long label names."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import scautogenome as sag

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ONE_TRIAL = {
    "budget": {"n_trials": 1, "time_budget": None},
    "trainer": {"max_epochs": 2, "patience": 1, "min_epochs": 1},
    "space": {"common": {"batch_size": [64]}},
}
ONE_EMBED = {
    "budget": {"n_trials": 1, "time_budget": None},
    "trainer": {"max_epochs": 2, "patience": 1, "min_epochs": 1, "kl_warmup_epochs": 1},
    "search": {"prune_warmup_epochs": 1, "n_startup_trials": 1},
    "space": {"n_layers": [3], "batch_size": [64], "first_width": [128]},
}


def _data(labels, n_vars: int, *, dense: bool = False, lam: float = 1.0) -> ad.AnnData:
    """Poisson counts of ``len(labels)`` cells x ``n_vars`` genes, the first gene marking the
    first class."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(0)
    x = rng.poisson(lam, (labels.size, n_vars)).astype(np.float32)
    x[labels == labels[0], 0] += 5
    adata = ad.AnnData(x if dense else sparse.csr_matrix(x))
    adata.var_names = [f"g{i}" for i in range(n_vars)]
    adata.obs_names = [f"c{i}" for i in range(labels.size)]
    adata.obs["ct"] = pd.Categorical(labels)
    return adata


def _warnings(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


@pytest.fixture
def panel():
    """A panel of 3 genes (a CITE-seq ADT or targeted panel shape), classified and explained."""
    adata = _data(np.repeat(["A", "B", "C"], 30), 3)
    model = sag.tl.classify(adata, "ct", config=ONE_TRIAL, mode="mlp")
    sag.tl.explain(adata, model, n_explain=15, n_background=5)
    return adata, model


def test_a_panel_of_three_genes_runs_end_to_end(panel, tmp_path):
    adata, model = panel
    assert adata.varm["sag_shap"].shape[0] == 3
    query = ad.AnnData(adata.X.copy(), var=adata.var.copy())
    sag.tl.predict(query, model)
    assert query.obs["sag_pred"].notna().all()
    for plot in (sag.pl.confusion_matrix, sag.pl.importance, sag.pl.architecture):
        plot(adata, show=False)
    sag.pl.shap_summary(adata, "A", show=False)
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    path = sag.io.write_report(back, tmp_path / "r.html")
    assert "<h3>A</h3>" in path.read_text()


def test_shap_summary_of_a_panel_smaller_than_n_top_does_not_warn(panel, sag_caplog):
    adata, _ = panel
    sag.pl.shap_summary(adata, "A", show=False)
    assert not _warnings(sag_caplog, "n_top=")


def test_report_of_an_explanation_of_few_top_genes_does_not_warn(tmp_path, sag_caplog):
    adata = _data(np.repeat(["A", "B", "C"], 30), 40)
    model = sag.tl.classify(adata, "ct", config=ONE_TRIAL, mode="mlp")
    sag.tl.explain(adata, model, n_top=10, n_explain=15, n_background=5)
    sag_caplog.clear()
    text = sag.io.write_report(adata, tmp_path / "r.html").read_text()
    assert "top 10 genes of A" in text
    assert not _warnings(sag_caplog, "n_top=")


def test_one_gene_classifies_and_a_latent_as_wide_as_it_is_refused():
    adata = _data(np.repeat(["A", "B", "C"], 30), 1)
    sag.tl.classify(adata, "ct", config=ONE_TRIAL, mode="resnet")
    assert adata.obsm["sag_proba"].shape == (90, 3)
    with pytest.raises(ValueError, match="n_latent=1 must be smaller than the number of genes"):
        sag.tl.embed(adata, n_latent=1, config=ONE_EMBED)


def test_embed_of_30_samples_with_a_batch_larger_than_them():
    adata = _data(np.repeat(["A", "B", "C"], 10), 3)
    sag.tl.embed(adata, n_latent=2, config=ONE_EMBED)  # batch_size 64 > 27 training samples
    assert adata.obsm["X_sag_resvae"].shape == (30, 2)
    assert np.isfinite(adata.obsm["X_sag_resvae"]).all()


def test_bulk_shape_of_30_samples_and_20000_genes():
    adata = _data(np.repeat(["LUAD", "LUSC", "BRCA"], [12, 10, 8]), 20_000, dense=True, lam=3)
    model = sag.tl.classify(adata, "ct", config=ONE_TRIAL, mode="mlp")
    split = pd.crosstab(adata.obs["ct"], adata.obs["sag_split"])
    assert (split[["train", "val", "test"]] >= 1).all().all()  # every class in every part
    query = ad.AnnData(adata.X[:5].copy(), var=adata.var.copy())
    sag.tl.predict(query, model)
    assert query.obs["sag_pred"].notna().all()


def test_classes_of_one_and_two_cells_beside_large_ones():
    labels = ["big1"] * 60 + ["big2"] * 60 + ["one"] + ["two"] * 2 + ["three"] * 3
    adata = _data(labels, 10)
    with pytest.raises(ValueError, match="min_cells_per_class=3"):
        sag.tl.classify(adata, "ct", config=ONE_TRIAL, mode="mlp")
    sag.tl.classify(adata, "ct", config=ONE_TRIAL, mode="mlp", min_cells_per_class=3)
    assert sorted(adata.uns["sag"]["dropped_classes"]) == ["one", "two"]
    assert list(adata.uns["sag"]["classes"]) == ["big1", "big2", "three"]
    assert (adata.obs.loc[adata.obs["ct"].isin(["one", "two"]), "sag_split"] == "none").all()


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (["A"] * 40, "one usable class"),
        ([f"u{i}" for i in range(40)], "identifiers"),
    ],
)
def test_one_class_or_all_unique_labels_are_refused_up_front(labels, match):
    with pytest.raises(ValueError, match=match):
        sag.tl.classify(_data(labels, 10), "ct", config=ONE_TRIAL, mode="mlp")


def test_more_classes_than_scanpys_palette(tmp_path):
    # 110 classes of 3 cells: past scanpy's 102 colours, where its plots draw all grey
    labels = np.repeat([f"type_{i}" for i in range(110)], 3)
    adata = _data(labels, 8)
    sag.tl.classify(adata, "ct", config=ONE_TRIAL, mode="mlp")
    assert adata.uns["sag"]["confusion"].shape == (110, 110)
    assert "sag_pred_colors" not in adata.uns  # none written past the palettes
    assert (adata.obs["sag_split"].value_counts() == 110).all()  # one cell a class a part
    test = adata.uns["sag"]["metrics"]["test"]
    assert 0 <= test["macro_f1"] <= 1
    fig = sag.pl.confusion_matrix(adata, show=False, return_fig=True, annotate=False)
    assert fig.get_size_inches()[0] > 110 * 0.3  # a readable cell a class
    adata.write_h5ad(tmp_path / "many.h5ad")
    back = ad.read_h5ad(tmp_path / "many.h5ad")
    assert list(back.uns["sag"]["classes"]) == list(adata.uns["sag"]["classes"])


def test_long_class_names_are_shortened_on_the_confusion_matrix():
    names = ["A" * 199 + str(i) for i in range(2)]
    adata = _data(np.repeat(names, 30), 5)
    sag.tl.classify(adata, "ct", config=ONE_TRIAL, mode="mlp")
    ax = sag.pl.confusion_matrix(adata, show=False)
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert all(len(t) <= 40 for t in ticks)
    assert ticks[0] != ticks[1]  # their ends kept, which tell them apart
