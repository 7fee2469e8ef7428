"""sag.get: the tools' records as tables."""

from __future__ import annotations

import re

import anndata as ad
import numpy as np
import pandas as pd
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
    assert list(one.columns) == ["names", "scores", "symbol"]  # named as scanpy names it
    assert len(one) == 5
    assert one["scores"].is_monotonic_decreasing
    # the ranking explain stored for the class, and the symbols of those genes
    col = list(adata.uns["sag_shap"]["columns"]).index("type_1")
    assert one["names"].tolist() == list(adata.uns["sag_shap"]["top_genes"][col][:5])
    assert one["symbol"].tolist() == adata.var.loc[one["names"], "symbol"].tolist()
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
    # an array of the user's own under the key: named as such, not as missing
    mine = explained.copy()
    mine.varm["mine"] = np.zeros((mine.n_vars, 2), dtype=np.float32)
    with pytest.raises(KeyError, match=r"varm\['mine'\] was not written by sag.tl.explain"):
        sag.get.shap_df(mine, key="mine")
    with pytest.raises(KeyError, match=r"varm\['mine'\] was not written by sag.tl.explain"):
        sag.pl.importance(mine, key="mine", show=False)


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
    assert table.index.name == "target"
    assert list(table.columns) == ["r2", "rmse", "mae", "pearson", "spearman", "n"]
    assert table.loc["age", "r2"] == pytest.approx(adata.uns["sag"]["metrics"]["test"]["r2"])


def test_metrics_df_keeps_a_class_named_all(monkeypatch):
    """A class named "all" keeps its row; the run's overall figures are "all (summary)", and a
    warning says so."""
    from scautogenome._settings import logger

    sag.settings.verbosity = 0
    adata = sag.datasets.synthetic(n_obs=200, n_vars=40, n_classes=3, seed=1)
    adata.obs["label"] = adata.obs["label"].cat.rename_categories({"type_1": "all"})
    config = {"budget": {"n_trials": 1}, "trainer": {"max_epochs": 3}}
    sag.tl.classify(adata, "label", mode="mlp", config=config, seed=0)
    warned = []
    monkeypatch.setattr(logger, "warning", lambda msg, *a: warned.append(msg % a))
    table = sag.get.metrics_df(adata)
    m = adata.uns["sag"]["metrics"]["test"]
    classes = [str(c) for c in adata.uns["sag"]["classes"]]
    assert table.index.tolist() == [*classes, "all (summary)"]
    i = classes.index("all")
    assert table.loc["all", "f1"] == pytest.approx(m["per_class"]["f1"][i])
    assert table.loc["all", "support"] == m["per_class"]["support"][i]
    assert table.loc["all (summary)", "f1"] == pytest.approx(m["macro_f1"])
    assert table.loc["all (summary)", "support"] == m["n"]
    assert any("named 'all (summary)'" in w for w in warned)


def test_shap_df_of_a_list_of_groups_as_scanpy(explained):
    """A list of classes: their tables one below the other with a categorical group column
    first (scanpy's rank_genes_groups_df), n_top of each; a list of one is its table."""
    adata = explained
    long = sag.get.shap_df(adata, ["type_2", "type_0"], n_top=4, gene_symbols="symbol")
    assert list(long.columns) == ["group", "names", "scores", "symbol"]
    assert list(long["group"].cat.categories) == ["type_2", "type_0"]
    assert long["group"].tolist() == ["type_2"] * 4 + ["type_0"] * 4
    assert long.index.equals(pd.RangeIndex(8))  # one row label per row, as scanpy's
    for g in ("type_2", "type_0"):
        one = sag.get.shap_df(adata, g, n_top=4, gene_symbols="symbol")
        part = long[long["group"] == g].drop(columns="group").reset_index(drop=True)
        pd.testing.assert_frame_equal(part, one)
    pd.testing.assert_frame_equal(
        sag.get.shap_df(adata, ["type_1"], n_top=3), sag.get.shap_df(adata, "type_1", n_top=3)
    )
    with pytest.raises(KeyError, match="group='type_9' is not one of the explained classes"):
        sag.get.shap_df(adata, ["type_1", "type_9"])
    with pytest.raises(ValueError, match="group=\\[\\] names no class"):
        sag.get.shap_df(adata, [])
    adata.var["type_1"] = adata.var["symbol"]
    try:
        with pytest.raises(ValueError, match="gene_symbols='type_1' is the name of a column"):
            sag.get.shap_df(adata, gene_symbols="type_1")
    finally:
        del adata.var["type_1"]


def test_shap_df_warns_of_a_class_none_of_whose_cells_was_explained(explained, monkeypatch):
    """A class without an explained cell has an empty table, and a warning says why (as the
    plots' error does)."""
    from scautogenome._settings import logger

    adata = explained.copy()
    cells = np.flatnonzero((adata.obs["label"] == "type_0").to_numpy())[:10]
    record = adata.uns["sag_shap"]
    # the explanation of type_0's cells alone: the other classes' columns are NaN
    table = np.asarray(adata.varm["sag_shap"]).copy()
    table[:, 1:3] = np.nan
    adata.varm["sag_shap"] = table
    record["n_cells"] = np.asarray([len(cells), 0, 0])
    warned = []
    monkeypatch.setattr(logger, "warning", lambda msg, *a: warned.append(msg % a))
    assert sag.get.shap_df(adata, "type_1").empty
    assert any(
        "group='type_1' has no importance: none of its cells was explained" in w for w in warned
    )
    warned.clear()
    assert len(sag.get.shap_df(adata, "type_0", n_top=3)) == 3
    assert warned == []


def test_errors_of_default_keys_name_the_records_under_other_keys(explained):
    """Records kept under other keys than the defaults are named in the error, with the key=
    that reads them."""
    adata = explained.copy()
    adata.uns["run1"] = adata.uns.pop("sag")
    adata.uns["ex1"] = adata.uns.pop("sag_shap")
    adata.varm["ex1"] = adata.varm.pop("sag_shap")
    with pytest.raises(
        KeyError, match=re.escape("uns['run1'] holds a record of sag.tl.classify: pass key='run1'.")
    ):
        sag.get.metrics_df(adata)
    with pytest.raises(
        KeyError, match=re.escape("uns['ex1'] holds a record of sag.tl.explain: pass key='ex1'.")
    ):
        sag.get.shap_df(adata)
    assert sag.get.metrics_df(adata, key="run1").index[-1] == "all"


def test_a_class_left_out_of_training_is_named_so_when_asked_for():
    """Asking the explanation for a class that classify left out (too few cells) says so, in
    sag.get and in the plots; many classes are listed by their first ten."""
    import matplotlib

    matplotlib.use("Agg")
    adata = sag.datasets.synthetic(n_obs=360, n_vars=60, n_classes=12, seed=0)
    labels = adata.obs["label"].astype(str).to_numpy(copy=True)
    labels[:2] = "rare"  # 2 cells: too few to split
    adata.obs["label"] = pd.Categorical(labels)
    config = {"budget": {"n_trials": 1}, "trainer": {"max_epochs": 2}}
    model = sag.tl.classify(adata, "label", mode="mlp", config=config, min_cells_per_class=3)
    assert "rare" in set(adata.uns["sag"]["dropped_classes"])
    sag.tl.explain(adata, model, n_explain=24, nsamples=8, n_background=10)
    for call in (
        lambda: sag.get.shap_df(adata, "rare"),
        lambda: sag.pl.importance(adata, group="rare", show=False),
    ):
        with pytest.raises(KeyError, match=r"'rare' .* left out of training .* \(13 in all\)"):
            call()
    with pytest.raises(KeyError) as err:
        sag.get.shap_df(adata, "nope")
    assert "left out" not in str(err.value)


def test_readers_name_a_key_or_group_of_another_type(explained):
    """key=3 said "adata.uns[3] not found; run sag.tl.classify ... first" as if the run were
    missing; group=3 is read as the class '3' and named as given when there is none."""
    bare = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
    with pytest.raises(TypeError, match=r"^key=3 must be a str naming a key of adata\.uns"):
        sag.get.metrics_df(bare, key=3)
    with pytest.raises(TypeError, match=r"^key=3 must be a str naming a key of adata\.uns"):
        sag.get.shap_df(bare, key=3)
    with pytest.raises(KeyError, match=r"^.group=3 is not one of the explained classes: they are"):
        sag.get.shap_df(explained, 3)
    with pytest.raises(KeyError, match=r"^.group=3 is not one of the explained classes"):
        sag.get.shap_df(explained, ["type_0", 3])


def test_an_explanation_that_anndata_concat_split_is_named_for_the_part_it_lost(explained):
    """anndata.concat keeps uns and drops varm (uns_merge="first"), or keeps varm and drops
    uns (merge="same"): the readers name the part that is gone and what dropped it."""
    halves = [explained[:150].copy(), explained[150:].copy()]
    kept_uns = ad.concat(halves, uns_merge="first")
    assert "sag_shap" in kept_uns.uns
    assert "sag_shap" not in kept_uns.varm
    with pytest.raises(KeyError, match=r"adata\.varm\['sag_shap'\] is missing.*anndata\.concat"):
        sag.get.shap_df(kept_uns)
    kept_varm = ad.concat(halves, merge="same")
    assert "sag_shap" in kept_varm.varm
    assert "sag_shap" not in kept_varm.uns
    with pytest.raises(KeyError, match=r"varm\['sag_shap'\].*e\.g\. by anndata\.concat"):
        sag.get.shap_df(kept_varm)


def test_shap_df_of_every_gene_puts_the_symbols_first_and_keeps_n_top(explained):
    """group=None: the gene_symbols column first, beside the gene it names after the
    ranking, and n_top the first rows of that ranking."""
    adata = explained
    wide = sag.get.shap_df(adata)
    top = sag.get.shap_df(adata, n_top=7, gene_symbols="symbol")
    assert list(top.columns) == ["symbol", *wide.columns]
    assert top.index.tolist() == wide.index[:7].tolist()
    assert top["symbol"].tolist() == adata.var.loc[top.index, "symbol"].tolist()
    pd.testing.assert_frame_equal(top.drop(columns="symbol"), wide.head(7))


def test_shap_df_ranks_genes_the_model_does_not_know_last_and_reads_overall(explained):
    """Genes explain had no value for (NaN: the model does not know them) come after every
    ranked gene of the wide table, not first, and n_top keeps ranked genes; group="overall"
    is the table of the mean over the classes, those genes left out."""
    adata = explained.copy()
    table = np.asarray(adata.varm["sag_shap"]).copy()
    unknown = adata.var_names[[0, 5, 9]]
    table[[0, 5, 9]] = np.nan
    adata.varm["sag_shap"] = table
    wide = sag.get.shap_df(adata)
    assert set(wide.index[-3:]) == set(unknown)
    assert wide["overall"].iloc[:-3].notna().all()
    assert not set(sag.get.shap_df(adata, n_top=10).index) & set(unknown)
    overall = sag.get.shap_df(adata, "overall")
    assert list(overall.columns) == ["names", "scores"]
    assert overall["names"].tolist() == wide.index[:-3].tolist()
    np.testing.assert_array_equal(overall["scores"], wide["overall"].iloc[:-3])


@pytest.mark.parametrize("as_", [np.asarray, pd.Index, pd.Series, tuple])
def test_shap_df_reads_groups_given_as_an_array_index_or_series(explained, as_):
    """Classes given as a numpy array, a pandas Index or Series (e.g. obs[...].cat.categories)
    are a list of classes, not the name of one."""
    adata = explained
    expected = sag.get.shap_df(adata, ["type_2", "type_0"], n_top=3)
    pd.testing.assert_frame_equal(
        sag.get.shap_df(adata, as_(["type_2", "type_0"]), n_top=3), expected
    )


def test_shap_df_refuses_gene_symbols_named_as_a_column_of_the_long_table(explained):
    """gene_symbols= a column named "scores" (or "group", of a table of several groups) would
    replace the table's own column: refused, as a class's name is for group=None."""
    adata = explained.copy()
    adata.var["scores"] = adata.var["symbol"]
    adata.var["group"] = adata.var["symbol"]
    with pytest.raises(ValueError, match="gene_symbols='scores' is the name of a column"):
        sag.get.shap_df(adata, "type_1", gene_symbols="scores")
    with pytest.raises(ValueError, match="gene_symbols='group' is the name of a column"):
        sag.get.shap_df(adata, ["type_1", "type_2"], gene_symbols="group")
    # one group's table has no group column: the symbols take that name
    one = sag.get.shap_df(adata, ["type_1"], n_top=2, gene_symbols="group")
    assert list(one.columns) == ["names", "scores", "group"]


def test_metrics_df_reads_every_figure_into_its_own_column(explained):
    """Each class's precision, recall and average precision in their own columns (a record
    of distinct figures: a well-fit model's precision and recall are often alike), accuracy
    on the summary row only, and the summary: balanced accuracy as recall, no precision, the
    macro ROC AUC and average precision."""
    import copy

    adata = explained.copy()
    adata.uns["sag"] = copy.deepcopy(dict(adata.uns["sag"]))
    m = adata.uns["sag"]["metrics"]["test"]
    pc = m["per_class"]
    pc["precision"] = np.asarray([0.11, 0.12, 0.13])
    pc["recall"] = np.asarray([0.21, 0.22, 0.23])
    pc["average_precision"] = np.asarray([0.31, 0.32, 0.33])
    m |= {"balanced_accuracy": 0.41, "roc_auc": 0.51, "average_precision": 0.61}
    table = sag.get.metrics_df(adata)
    classes = [str(c) for c in adata.uns["sag"]["classes"]]
    assert table.index.name == "class"
    assert list(table.columns) == [
        *("f1", "precision", "recall", "support", "roc_auc", "average_precision", "accuracy")
    ]
    np.testing.assert_allclose(table.loc[classes, "precision"], pc["precision"])
    np.testing.assert_allclose(table.loc[classes, "recall"], pc["recall"])
    np.testing.assert_allclose(table.loc[classes, "average_precision"], pc["average_precision"])
    assert table.loc[classes, "accuracy"].isna().all()
    summary = table.loc["all"]
    assert np.isnan(summary["precision"])
    assert summary["recall"] == pytest.approx(0.41)
    assert summary["roc_auc"] == pytest.approx(0.51)
    assert summary["average_precision"] == pytest.approx(0.61)


def test_metrics_df_of_predictions_alone_points_to_the_plot_that_scores_them():
    """sag.tl.predict's record holds no metrics: the error names the plot that scores the
    predictions against known labels, confusion_matrix for classes, regression for numbers."""
    sag.settings.verbosity = 0
    adata = sag.datasets.synthetic(n_obs=80, n_vars=30, n_classes=2, seed=0)
    adata.obs["age"] = np.arange(adata.n_obs, dtype=float)
    fit = {"max_epochs": 1}
    for model, plot in (
        (
            sag.models.Classifier({"kind": "mlp", "units": [8]}, fit).fit(adata, "label"),
            "confusion_matrix",
        ),
        (sag.models.Regressor({"kind": "mlp", "units": [8]}, fit).fit(adata, "age"), "regression"),
    ):
        query = adata.copy()
        sag.tl.predict(query, model)
        with pytest.raises(
            KeyError, match=re.escape(f"sag.pl.{plot}(adata, key='sag', labels_key=...)")
        ):
            sag.get.metrics_df(query)


def test_metrics_df_names_the_summary_apart_from_classes_named_all_and_all_summary(explained):
    """Classes named "all" and "all (summary)" keep their rows: the summary takes the first
    name no class has."""
    adata = explained.copy()
    adata.uns["sag"] = dict(adata.uns["sag"])
    adata.uns["sag"]["classes"] = np.asarray(["all", "all (summary)", "type_2"])
    table = sag.get.metrics_df(adata)
    assert table.index.tolist() == ["all", "all (summary)", "type_2", "all (summary) (summary)"]
    f1 = adata.uns["sag"]["metrics"]["test"]["per_class"]["f1"]
    np.testing.assert_allclose(table["f1"].iloc[:3], f1)
