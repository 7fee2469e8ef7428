"""Every bad input gets a clear error before any work, and the AnnData is left as it was."""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

import scautogenome as sag


def snapshot(a):
    return (list(a.obs.columns), list(a.obsm.keys()), list(a.uns.keys()), list(a.layers.keys()))


def check_untouched(a, before):
    assert snapshot(a) == before


def test_missing_label_key_lists_available(adata):
    before = snapshot(adata)
    with pytest.raises(KeyError, match=r"labels_key='cell_type'.*available columns: 'label'"):
        sag.tl.classify(adata, "cell_type", n_trials=1)
    check_untouched(adata, before)
    # a typo is matched to the closest names; a wide obs (clinical fields) is cut short
    for i in range(40):
        adata.obs[f"field_{i}"] = 0
    with pytest.raises(KeyError, match=r"closest: 'label'; available columns: .*\(41 in all\)"):
        sag.tl.classify(adata, "lable", n_trials=1)
    with pytest.raises(KeyError, match=r"split_key='splt' .*\(41 in all\)"):
        sag.tl.classify(adata, "label", split_key="splt", n_trials=1)


def test_single_class(adata):
    adata.obs["label"] = "only"
    before = snapshot(adata)
    with pytest.raises(ValueError, match="at least 2"):
        sag.tl.classify(adata, "label", n_trials=1)
    check_untouched(adata, before)


def test_class_too_small_is_named_and_can_be_dropped(adata, tiny_config):
    adata.obs["label"] = adata.obs["label"].cat.add_categories("rare")
    adata.obs.iloc[:2, 0] = "rare"
    before = snapshot(adata)
    with pytest.raises(ValueError, match=r"'rare' \(2 cells\).*min_cells_per_class"):
        sag.tl.classify(adata, "label", n_trials=1)
    check_untouched(adata, before)
    sag.tl.classify(adata, "label", min_cells_per_class=3, config=tiny_config)
    assert "rare" not in list(adata.uns["sag"]["classes"])
    assert list(adata.uns["sag"]["dropped_classes"]) == ["rare"]
    assert (adata.obs["sag_split"].iloc[:2] == "none").all()
    assert adata.obs["sag_pred"].iloc[:2].notna().all()


def test_messages_of_a_hundred_small_classes_stay_short(adata, sag_caplog):
    """100 classes of 2 cells: the error names 10 of them and the count, not all 100; left
    out with min_cells_per_class=3, the warning too, and the error says none is left."""
    adata.obs["many"] = [f"type {i // 2}" if i < 200 else None for i in range(adata.n_obs)]
    with pytest.raises(ValueError, match=r"type 9' \(2 cells\), ... \(100 classes in all\)") as e:
        sag.tl.classify(adata, "many", n_trials=1)
    assert len(str(e.value)) < 600
    with pytest.raises(
        ValueError,
        match=r"has no usable class \(min_cells_per_class=3 left 100 out\); classification",
    ):
        sag.tl.classify(adata, "many", n_trials=1, min_cells_per_class=3)
    assert "... (100 classes in all)" in sag_caplog.text
    assert "'type 50'" not in sag_caplog.text


def test_a_small_class_is_fine_in_a_split_of_ones_own(adata, tiny_config, capfd):
    """With split_key= nothing is drawn: a class of 2 cells trains if the split gives it a
    training cell; min_cells_per_class still leaves it out; the error without a split names
    the CLI option too."""
    adata.obs["label"] = adata.obs["label"].cat.add_categories("rare")
    adata.obs.iloc[:2, 0] = "rare"
    rng = np.random.default_rng(0)
    adata.obs["fold"] = rng.choice(["train"] * 8 + ["val", "test"], adata.n_obs)
    adata.obs.iloc[:2, adata.obs.columns.get_loc("fold")] = ["train", "test"]
    adata.obs.iloc[2, adata.obs.columns.get_loc("fold")] = np.nan  # left out
    sag.settings.verbosity = 1
    sag.tl.classify(adata, "label", split_key="fold", config=tiny_config)
    err = capfd.readouterr().err
    assert "obs['fold'] puts no val cell in class(es) rare" in err
    assert "puts no test cell" not in err  # 'rare' has one
    assert "1 class(es) have 1 or 2 test cells: 'rare' (1)" in " ".join(err.split())
    assert "rare" in list(adata.uns["sag"]["classes"])
    assert adata.obs["sag_split"].iloc[2] == "none"
    capfd.readouterr()
    sag.tl.classify(adata, "label", split_key="fold", min_cells_per_class=3, config=tiny_config)
    assert list(adata.uns["sag"]["dropped_classes"]) == ["rare"]
    # its test cell is out of the test metrics, and the warning says so
    assert adata.uns["sag"]["metrics"]["test"]["n"] == (adata.obs["fold"] == "test").sum() - 1
    assert (
        "'rare'. 1 test cell of obs['fold'] is of these classes: the metrics of their part leave "
        "them out" in " ".join(capfd.readouterr().err.split())
    )
    with pytest.raises(ValueError, match="min_cells_per_class=3 or more"):
        sag.tl.classify(adata, "label", n_trials=1)
    # only the cells the split uses count: 4 'few' cells, 1 in the split, is fewer than 3
    adata.obs["label"] = adata.obs["label"].cat.add_categories("few")
    adata.obs.iloc[10:14, 0] = "few"
    adata.obs.iloc[10:14, adata.obs.columns.get_loc("fold")] = ["train", np.nan, np.nan, np.nan]
    sag.tl.classify(adata, "label", split_key="fold", min_cells_per_class=3, config=tiny_config)
    assert set(adata.uns["sag"]["dropped_classes"]) == {"rare", "few"}
    adata.obs["fold"] = adata.obs["fold"].astype(object)
    adata.obs.iloc[3, adata.obs.columns.get_loc("fold")] = "dropped"
    with pytest.raises(
        ValueError, match=r"holds 'dropped'; .*NaN or 'none' for cells to leave out"
    ):
        sag.tl.classify(adata, "label", split_key="fold", n_trials=1)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf(adata, bad):
    adata.X = adata.X.toarray()
    adata.X[3, 4] = bad
    adata.X[7, 1] = bad
    before = snapshot(adata)
    # the first (by row) is named by its place and names, and how many there are
    at = rf"row 3 \('{adata.obs_names[3]}'\), column 4 \('{adata.var_names[4]}'\)"
    with pytest.raises(
        ValueError, match=rf"NaN or infinite values: 2, the first \({bad}\) at {at}"
    ):
        sag.tl.classify(adata, "label", n_trials=1)
    check_untouched(adata, before)


def test_values_beyond_float32_are_refused_as_nan_is(adata):
    """float64 values past float32's largest (3.4e38) become infinite in the networks' float32:
    they are refused before any work, as NaN is (a fitted transform of NaN, or a query cell of
    NaN probabilities that still got a class, before)."""
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0)
    adata.X = adata.X.toarray().astype(np.float64)
    adata.X[5, 2] = 1e300
    before = snapshot(adata)
    said = r"values beyond float32's range \(3\.4e38\): 1, the first \(1e\+300\) at row 5"
    with pytest.raises(ValueError, match=said):
        sag.tl.classify(adata, "label", n_trials=1)
    check_untouched(adata, before)
    adata.X[5, 2] = -1e39
    with pytest.raises(ValueError, match=r"the first \(-1e\+39\) at row 5"):
        sag.tl.predict(adata, model)
    adata.X[5, 2] = 3e38  # within float32's range: read
    sag.tl.predict(adata, model)


def test_nan_in_sparse(adata):
    adata.X.data[0] = np.nan
    row, col = 0, int(adata.X.indices[0])
    with pytest.raises(
        ValueError,
        match=rf"NaN or infinite values: 1, the first \(nan\) at row {row} \('{adata.obs_names[row]}'\), "
        rf"column {col} \('{adata.var_names[col]}'\);",
    ):
        sag.tl.classify(adata, "label", n_trials=1)


def test_check_finite_names_the_sample_and_the_gene(adata):
    """Given the names of the rows and columns, the message names them (no densifying:
    the sparse matrix is read as it is)."""
    from scautogenome.data import check_finite

    X = adata.X.copy()
    X.data[5] = np.inf
    row = int(np.searchsorted(X.indptr, 5, side="right") - 1)
    col = int(X.indices[5])
    gene, cell = adata.var_names[col], adata.obs_names[row]
    with pytest.raises(ValueError, match=rf"at row {row} \('{cell}'\), column {col} \('{gene}'\)"):
        check_finite(X, "adata.X", obs_names=adata.obs_names, var_names=adata.var_names)


def test_negative_values_with_counts(adata):
    adata.X = adata.X.toarray()
    adata.X[0, 0] = -1
    before = snapshot(adata)
    with pytest.raises(ValueError, match="negative values"):
        sag.tl.classify(adata, "label", value_type="counts", n_trials=1)
    check_untouched(adata, before)


def test_empty_anndata(adata):
    empty = adata[:0].copy()
    with pytest.raises(ValueError, match="empty"):
        sag.tl.classify(empty, "label", n_trials=1)


def test_non_numeric_x(adata):
    import anndata as ad

    a = ad.AnnData(X=np.full((10, 3), "a", dtype=object), obs=adata.obs.iloc[:10].copy())
    with pytest.raises(TypeError, match="non-numeric"):
        sag.tl.classify(a, "label", n_trials=1)


def test_duplicate_var_names(adata):
    names = list(adata.var_names)
    names[1] = names[0]
    adata.var_names = names
    before = snapshot(adata)
    with pytest.raises(ValueError, match=r"duplicated gene name.*var_names_make_unique"):
        sag.tl.classify(adata, "label", n_trials=1)
    check_untouched(adata, before)


def test_a_missing_gene_name_is_refused(adata):
    """var_names = var['symbol'] where one gene has none: refused before any work (the run
    went through and its output could not be written: h5py cannot store a NaN name)."""
    names = pd.Index(adata.var_names, dtype=object).to_numpy(copy=True)
    names[3] = np.nan
    adata.var_names = pd.Index(names)
    before = snapshot(adata)
    for call in (
        lambda: sag.tl.classify(adata, "label", n_trials=1),
        lambda: sag.tl.embed(adata, n_trials=1),
    ):
        with pytest.raises(ValueError, match=r"1 missing gene name\(s\) \(NaN, e.g. at position 3"):
            call()
        check_untouched(adata, before)


def test_duplicate_obs_names_are_named_in_a_warning(adata, caplog):
    """Duplicate cell names do not stop the work (results are written by position); a warning
    names them before it starts."""
    from scautogenome._settings import logger as sag_logger
    from scautogenome.data import check_adata

    names = list(adata.obs_names)
    names[2] = names[1] = names[0]
    adata.obs_names = names
    sag_logger.addHandler(caplog.handler)  # sag's logger does not propagate
    try:
        check_adata(adata, splits=True)
        assert f"obs_names contain 1 duplicated name(s) (e.g. {names[0]})" in caplog.text
        assert "obs_names_make_unique()" in caplog.text
        assert "keeps them in one split part" in caplog.text
        # once per call of a tool, though the model checks its input too
        caplog.clear()
        model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
        model.fit(adata, "label", seed=0)
        caplog.clear()
        sag.tl.predict(adata, model)
        assert caplog.text.count("duplicated name") == 1
        assert "split" not in caplog.text  # predict splits nothing
        from scautogenome.data import prepare_labelled

        caplog.clear()
        prepare_labelled(adata, "label", group_key=None)  # a split that does not group them
        assert caplog.text.count("duplicated name") == 1
        assert "split part" not in caplog.text
    finally:
        sag_logger.removeHandler(caplog.handler)


def test_view_is_refused(adata):
    view = adata[:200]
    assert view.is_view
    with pytest.raises(ValueError, match=r"view.*\.copy\(\)"):
        sag.tl.classify(view, "label", n_trials=1)
    assert "sag_pred" not in adata.obs


def test_missing_layer(adata):
    with pytest.raises(KeyError, match="layer='counts' not found"):
        sag.tl.classify(adata, "label", layer="counts", n_trials=1)


def test_a_missing_layer_is_named_with_the_closest_layers(adata):
    """A misspelt layer names adata.layers and the closest layer there, as a misspelt obs
    column names the closest columns."""
    adata.layers["counts"] = adata.X.copy()
    before = snapshot(adata)
    match = (
        r"layer='count' not found in adata\.layers; closest: 'counts'; "
        r"available layers: 'counts'\."
    )
    with pytest.raises(KeyError, match=match):
        sag.tl.classify(adata, "label", layer="count", n_trials=1)
    adata.obsm["X_e"] = np.zeros((adata.n_obs, 3), dtype=np.float32)
    with pytest.raises(KeyError, match=match):
        sag.pl.embedding(adata, "X_e", color="label", layer="count", show=False)
    # an obsm key (a latent space) is said to be one, not matched to the closest layer
    with pytest.raises(KeyError, match=r"layer='X_e' is in adata\.obsm, not adata\.layers"):
        sag.tl.classify(adata, "label", layer="X_e", n_trials=1)
    del adata.obsm["X_e"]
    check_untouched(adata, before)


def test_bad_split_values(adata):
    adata.obs["fold"] = "training"
    with pytest.raises(ValueError, match="must be one of"):
        sag.tl.classify(adata, "label", split_key="fold", n_trials=1)
    # a column of row numbers (a split file read with its index column) is named by a few
    # of its values, not all of them
    adata.obs["fold"] = np.arange(adata.n_obs)
    with pytest.raises(
        ValueError, match=r"holds '0', '1', .*\(\d+ distinct values\); split"
    ) as err:
        sag.tl.classify(adata, "label", split_key="fold", n_trials=1)
    assert len(str(err.value)) < 300


def test_bad_config_before_work(adata):
    before = snapshot(adata)
    with pytest.raises(ValueError, match="unknown key"):
        sag.tl.classify(adata, "label", config={"search": {"metrik": "accuracy"}})
    check_untouched(adata, before)


def test_binary_value_type_checked():
    a = sag.datasets.synthetic(n_obs=60, n_vars=20)
    with pytest.raises(ValueError, match="other than 0 and 1"):
        sag.tl.classify(a, "label", value_type="binary", n_trials=1)


def test_query_with_negative_values_for_counts_model(adata, tiny_config):
    model = sag.tl.classify(adata, "label", config=tiny_config)
    q = adata.copy()
    q.X = sp.csr_matrix(q.X.toarray() - 5)
    with pytest.raises(ValueError, match="raw counts"):
        sag.tl.predict(q, model)
    assert "sag_confidence" not in q.obs


def test_settings_are_checked_when_set():
    """A bad seed or device is an error where it is set, not at the next search; a good one
    keeps working."""
    from scautogenome.train._trainer import resolve_device

    seed, device = sag.settings.seed, sag.settings.device
    try:
        with pytest.raises(TypeError, match="seed='a' must be an integer"):
            sag.settings.seed = "a"
        with pytest.raises(ValueError, match="seed=-1 must be between"):
            sag.settings.seed = -1
        with pytest.raises(TypeError, match="not None"):
            sag.settings.seed = None
        with pytest.raises(ValueError, match=r"device='gpu' must be 'auto', 'cpu', 'cuda'"):
            sag.settings.device = "gpu"
        assert (sag.settings.seed, sag.settings.device) == (seed, device)
        with pytest.raises(ValueError, match=r"device='gpu'"):
            resolve_device("gpu")  # the device= argument of every tool
        sag.settings.seed = np.int64(7)
        assert sag.settings.seed == 7
        assert isinstance(sag.settings.seed, int)
        sag.settings.device = "cuda:1"  # checked when used, where CUDA may be missing
        assert sag.settings.device == "cuda:1"
    finally:
        sag.settings.seed, sag.settings.device = seed, device


def test_thread_count_progress_bar_and_verbosity_are_checked_when_set():
    """A bool is no thread count or level, a text no switch; numpy integers are numbers."""
    n_threads, bar = sag.settings.n_threads, sag.settings.progress_bar
    try:
        for bad in (True, 2.5, "2"):  # of the wrong type: a TypeError, as scanpy's
            with pytest.raises(TypeError, match=r"n_threads=.* must be a positive integer"):
                sag.settings.n_threads = bad
        with pytest.raises(ValueError, match=r"n_threads=0 must be a positive integer"):
            sag.settings.n_threads = 0
        # a misspelt setting is no new attribute that nothing reads
        with pytest.raises(
            AttributeError, match=r"no setting 'n_thread' \(did you mean 'n_threads'"
        ):
            sag.settings.n_thread = 2
        with pytest.raises(AttributeError, match=r"no setting 'show_progres'; its") as err:
            sag.settings.show_progres = False  # show_progress is read-only: not offered
        assert "show_progress" not in str(err.value)
        assert not hasattr(sag.settings, "n_thread")
        sag.settings.n_threads = np.int64(1)
        assert sag.settings.n_threads == 1
        assert type(sag.settings.n_threads) is int
        for bad in ("no", None, 1):
            with pytest.raises(TypeError, match=r"progress_bar=.* must be True or False"):
                sag.settings.progress_bar = bad
        with pytest.raises(ValueError, match="verbosity=True must be 0"):
            sag.settings.verbosity = True
    finally:
        sag.settings.n_threads, sag.settings.progress_bar = n_threads, bar


def test_an_embed_mode_is_no_classifier(adata):
    before = snapshot(adata)
    for kw in ({"mode": "resvae"}, {"config": {"mode": "vae"}}):
        with pytest.raises(ValueError, match=r"is a mode of sag.tl.embed .* sag.tl.classify"):
            sag.tl.classify(adata, "label", **kw)
    check_untouched(adata, before)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"type": "float", "low": 1e-3, "high": float("inf"), "log": True}, "high=inf must be"),
        ({"type": "float", "low": float("nan"), "high": 1.0}, "low=nan must be"),
        ({"type": "float", "low": 1e-4, "high": 1e-2, "log": True, "step": 1e-4}, "takes no step"),
        ({"type": "float", "low": 0.0, "high": 1.0, "step": 0}, "step=0 must be positive"),
        ({"type": "int", "low": 1, "high": 8, "log": True, "step": 2}, "no step other than 1"),
        ({"type": "int", "low": 1.5, "high": 8}, "needs a whole 'low'"),
    ],
)
def test_a_range_optuna_cannot_sample_is_refused_before_any_trial(adata, spec, match):
    """Optuna's own refusal came only when the range was first sampled, mid-search (after
    the starting points had trained), and ended the search."""
    before = snapshot(adata)
    with pytest.raises(ValueError, match=rf"config\['space'\]\['common'\]\['lr'\]: .*{match}"):
        sag.tl.classify(adata, "label", config={"space": {"common": {"lr": spec}}})
    check_untouched(adata, before)


def test_a_continuous_column_is_not_taken_for_labels(adata):
    """A numeric column with many distinct values (a measurement such as n_genes) is refused as
    classes by classify (task='classification'; 'auto' predicts the number) and by
    embedding_scores, floats and integers alike; the same values as categories are classes."""
    rng = np.random.default_rng(0)
    adata.obs["n_genes"] = rng.integers(100, 5000, adata.n_obs)
    adata.obs["score"] = rng.normal(size=adata.n_obs)
    adata.obsm["X_e"] = rng.normal(size=(adata.n_obs, 3)).astype(np.float32)
    before = snapshot(adata)
    for key in ("n_genes", "score"):
        with pytest.raises(
            ValueError, match=rf"obs\['{key}'\] is numeric with \d+ distinct.*classification"
        ):
            sag.tl.classify(adata, key, n_trials=1, task="classification")
        with pytest.raises(ValueError, match=rf"obs\['{key}'\] is numeric.*scoring against labels"):
            sag.tl.embedding_scores(adata, "X_e", key)
    check_untouched(adata, before)
    adata.obs["few"] = rng.integers(0, 3, adata.n_obs)  # a few integer classes are classes
    assert sag.tl.embedding_scores(adata, "X_e", "few", tsne=False)["n_labels"] == 3


def test_an_obs_column_name_twice_is_refused_by_name(adata, tiny_config):
    """Two obs columns of one name (pd.concat of tables that share it; anndata allows it):
    each tool that reads the column says so before any work (they failed deep inside, with
    messages that named neither)."""
    import pandas as pd

    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata.copy(), "label", seed=0)
    adata.obs["part"] = np.where(np.arange(adata.n_obs) % 5 == 0, "test", "train")
    adata.obs["donor"] = [f"d{i % 6}" for i in range(adata.n_obs)]
    obs = adata.obs

    def twice(column):
        adata.obs = pd.concat([obs, obs[[column]]], axis=1)
        return rf"{column}': adata\.obs has 2 columns of that name"

    runs = {
        "label": lambda: sag.tl.classify(adata, "label", config=tiny_config),
        "part": lambda: sag.tl.classify(adata, "label", config=tiny_config, split_key="part"),
        "donor": lambda: sag.tl.classify(adata, "label", config=tiny_config, group_key="donor"),
    }
    for column, run in runs.items():
        said = twice(column)
        before = snapshot(adata)
        with pytest.raises(ValueError, match=said):
            run()
        check_untouched(adata, before)
    said = twice("label")
    with pytest.raises(ValueError, match=said):
        sag.tl.explain(adata, model, groupby="label", n_explain=5, nsamples=5)
    # a run's own columns, repeated by a concat of two annotated obs tables: explain (the
    # run's labels, its split) and the plots that read them
    adata.obs = obs
    run, obs = sag.tl.classify(adata, "label", config=tiny_config), adata.obs
    for column in ("label", "sag_split", "sag_pred"):
        adata.obs = pd.concat([obs, obs[[column]]], axis=1)
        said = rf"adata\.obs has 2 columns named '{column}'"
        if column != "sag_pred":
            with pytest.raises(ValueError, match=said):
                sag.tl.explain(adata, run, n_explain=5, nsamples=5)
        if column != "label":
            with pytest.raises(ValueError, match=said):
                sag.pl.confusion_matrix(adata, split="val", show=False)


def test_a_key_added_h5ad_cannot_store_is_refused(adata):
    """A key with '/' (an h5ad group path) or an empty one is refused by every tool before any
    work; so are '.' (h5py's name of the group itself: the run's entries were written over the
    user's own in uns), '..' and a NUL character (h5py cannot store it)."""
    before = snapshot(adata)
    for bad in ("a/b", "", 3, ".", "..", "a\0b"):
        error = TypeError if bad == 3 else ValueError  # a key of the wrong type: TypeError
        with pytest.raises(error, match=r"key_added=.* must be a non-empty string without '/'"):
            sag.tl.classify(adata, "label", key_added=bad, n_trials=1)
        with pytest.raises(error, match="key_added="):
            sag.tl.embed(adata, key_added=bad, n_trials=1)
        with pytest.raises(error, match="key_added="):
            sag.tl.predict(adata, None, key_added=bad)
        with pytest.raises(error, match="key_added="):
            sag.tl.explain(adata, None, key_added=bad)
    check_untouched(adata, before)


def test_a_class_named_as_predicts_unsure_cells_is_named(adata, sag_caplog):
    """A class "Unassigned" (an annotation's cells without a type, often) is trained on as
    a class, and predict then refuses min_confidence=: said before any work, with how to
    leave those cells out."""
    from scautogenome.data import prepare_labelled

    adata.obs["label"] = adata.obs["label"].cat.rename_categories({"type_0": "Unassigned"})
    n = int((adata.obs["label"] == "Unassigned").sum())
    data = prepare_labelled(adata, "label", seed=0)
    assert "Unassigned" in list(data.classes)
    said = sag_caplog.text
    assert f"obs['label'] has a class named 'Unassigned' ({n} cells)" in said
    assert "sag.tl.predict refuses min_confidence= for this model" in said
    assert "adata.obs['label'] = adata.obs['label'].cat.remove_categories(['Unassigned'])" in said
    sag_caplog.clear()
    adata.obs["label"] = adata.obs["label"].cat.rename_categories({"Unassigned": "unassigned"})
    prepare_labelled(adata, "label", seed=0)
    assert "Unassigned" not in sag_caplog.text  # predict's name is matched exactly


def test_labels_that_read_as_missing_values_are_named(adata, caplog):
    """Missing labels turned into text ('nan', '') become classes: trained on, with a warning
    that names them and says how to leave them out."""
    from scautogenome._settings import logger as sag_logger
    from scautogenome.data import prepare_labelled

    labels = adata.obs["label"].astype(str).to_numpy().copy()
    labels[:30] = "nan"
    adata.obs["text"] = labels
    sag_logger.addHandler(caplog.handler)  # sag's logger does not propagate
    try:
        data = prepare_labelled(adata, "text", seed=0)
    finally:
        sag_logger.removeHandler(caplog.handler)
    assert "nan" in list(data.classes)
    assert "class(es) named like a missing value: 'nan' (30 cells)" in caplog.text
    assert "adata.obs['text'] = adata.obs['text'].replace(['nan'], np.nan)" in caplog.text
    # a categorical column: the advice is the one pandas takes without a warning, and it works
    adata.obs["text"] = adata.obs["text"].astype("category")
    caplog.clear()
    sag_logger.addHandler(caplog.handler)
    try:
        prepare_labelled(adata, "text", seed=0)
    finally:
        sag_logger.removeHandler(caplog.handler)
    fix = "adata.obs['text'] = adata.obs['text'].cat.remove_categories(['nan'])"
    assert fix in caplog.text
    exec(fix, {"adata": adata})
    assert adata.obs["text"].isna().sum() == 30


def test_a_tiny_validation_split_is_warned_about(adata, caplog):
    """A validation split of a handful of cells: the search's pick is noise, and a warning
    says so with the figure; a split of 30 does not warn."""
    from scautogenome._settings import logger as sag_logger
    from scautogenome.data import prepare_labelled

    sag_logger.addHandler(caplog.handler)  # sag's logger does not propagate
    try:
        prepare_labelled(adata, "label", seed=0)  # 30 validation cells
        assert "validation split" not in caplog.text
        small = adata[:90].copy()  # 9 validation cells
        prepare_labelled(small, "label", seed=0)
    finally:
        sag_logger.removeHandler(caplog.handler)
    assert "the validation split has 9 cells" in caplog.text
    assert "moves accuracy by 11%" in caplog.text
    # embed's 9:1 split: 30 validation cells of 300 are fine, 6 of 60 are warned about
    from scautogenome.models._resvae import prepare_unlabelled

    caplog.clear()
    sag_logger.addHandler(caplog.handler)
    try:
        prepare_unlabelled(adata, layer=None, n_latent=5, likelihood="auto", seed=0)
        assert "validation split" not in caplog.text
        prepare_unlabelled(adata[:60].copy(), layer=None, n_latent=5, likelihood="auto", seed=0)
    finally:
        sag_logger.removeHandler(caplog.handler)
    assert "the validation split has 6 cells" in caplog.text


def test_a_split_without_val_and_nothing_to_draw_it_from_is_refused(adata, tiny_config):
    """A split of one's own without val cells whose training cells are one per class: no
    validation part can be drawn, a clear error before any work (was an IndexError in the
    search)."""
    split = np.full(adata.n_obs, "test", dtype=object)
    for c in adata.obs["label"].cat.categories:
        split[np.flatnonzero(adata.obs["label"] == c)[0]] = "train"
    adata.obs["my_split"] = split
    before = snapshot(adata)
    with pytest.raises(
        ValueError, match=r"no labelled 'val' cells, and its training cells are too few"
    ):
        sag.tl.classify(adata, "label", split_key="my_split", config=tiny_config)
    check_untouched(adata, before)


def test_a_key_added_holding_what_the_tool_does_not_write_is_refused(adata, tiny_config):
    """A tool replaces (or, predict, updates) only its own kind of uns record: another tool's
    record or a value of the user's under key_added is refused before any work, and kept."""
    model = sag.tl.classify(adata, "label", config=tiny_config, n_trials=1)
    sag.tl.explain(adata, model, n_explain=20, n_background=10)
    adata.uns["note"] = "my note"
    adata.uns["mine"] = {"a": 1}
    before, records = snapshot(adata), {k: dict(adata.uns[k]) for k in ("sag", "sag_shap")}
    calls = {
        "explain": lambda key: sag.tl.explain(adata, model, key_added=key),
        "embed": lambda key: sag.tl.embed(adata, key_added=key, n_trials=1),
        "classify": lambda key: sag.tl.classify(adata, "label", key_added=key, n_trials=1),
        "predict": lambda key: sag.tl.predict(adata, model, key_added=key),
    }
    refused = [
        ("explain", "sag", "the record of sag.tl.classify"),
        ("embed", "sag", "the record of sag.tl.classify"),
        ("classify", "sag_shap", "the record of sag.tl.explain"),
        ("predict", "sag_shap", "the record of sag.tl.explain"),
        ("classify", "note", "a str that no sag tool wrote"),
        ("predict", "note", "a str that no sag tool wrote"),
        ("explain", "mine", "a dict that no sag tool wrote"),
        # a dict of the user's (scanpy's uns['neighbors'], say) is not updated either: a
        # later call under the key would take it for sag's and replace it whole
        ("predict", "mine", "a dict that no sag tool wrote"),
    ]
    for tool, key, what in refused:
        with pytest.raises(ValueError, match=rf"uns\['{key}'\] holds {what}.*another key_added"):
            calls[tool](key)
    check_untouched(adata, before)
    assert adata.uns["note"] == "my note"
    assert adata.uns["mine"] == {"a": 1}
    for key, record in records.items():
        assert set(adata.uns[key]) == set(record)
    sag.tl.explain(adata, model, n_explain=20, n_background=10)  # its own record


def test_classify_again_drops_an_earlier_predictions_confidence(adata, tiny_config, tmp_path):
    """The confidence predict wrote under a key described that prediction's model: classify
    under the same key (for classes or a number) removes it with the other stale outputs."""
    import anndata as ad

    model = sag.tl.classify(adata, "label", config=tiny_config, n_trials=1)
    sag.tl.predict(adata, model)
    assert "sag_confidence" in adata.obs
    sag.tl.classify(adata, "label", config=tiny_config, n_trials=1, seed=1)
    assert "sag_confidence" not in adata.obs
    sag.tl.predict(adata, model, key_added="q")
    adata.obs["number"] = np.linspace(0, 1, adata.n_obs) + adata.obs["label"].cat.codes
    sag.tl.classify(adata, "number", config=tiny_config, n_trials=1, key_added="q")
    assert "q_confidence" not in adata.obs
    assert "q_proba" not in adata.obsm
    adata.write_h5ad(tmp_path / "a.h5ad")
    assert "q_confidence" not in ad.read_h5ad(tmp_path / "a.h5ad").obs


@pytest.mark.parametrize(
    ("where", "name"),
    [("obs", "sag_pred"), ("obs", "sag_split"), ("obs", "sag_confidence"), ("obsm", "sag_proba")],
)
def test_classify_refuses_to_replace_outputs_no_record_accounts_for(
    adata, where, name, monkeypatch
):
    """A column of the user's under one of classify's output names (no classify or predict
    record in uns[key_added]): an error before any work, as embed's for obsm['X_{key}']."""
    import scautogenome.tools._classify as classify_module

    def no_work(*args, **kwargs):
        raise AssertionError("classify read the data although its outputs are the user's")

    monkeypatch.setattr(classify_module, "prepare_labelled", no_work)
    value = np.full((adata.n_obs, 2), 7.0) if where == "obsm" else "my annotation"
    getattr(adata, where)[name] = value
    before = snapshot(adata)
    with pytest.raises(
        ValueError,
        match=rf"adata\.{where}\['{name}'\] exists without a record of sag\.tl\.classify or "
        r"predict in adata\.uns\['sag'\].*sag\.tl\.classify\(key_added='sag'\) would replace it"
        r"\. Pass another key_added=",
    ):
        sag.tl.classify(adata, "label", n_trials=1)
    check_untouched(adata, before)
    assert np.all(np.asarray(getattr(adata, where)[name]) == np.asarray(value))


def test_predict_refuses_to_replace_outputs_no_record_accounts_for(adata):
    """predict's outputs (pred, confidence, probabilities) of the user's under key_added are
    refused before any work; a user's dict in uns[key_added] is refused too; sag's
    own prediction under the key is replaced as before."""
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0)
    adata.obs["q_confidence"] = 0.123
    adata.obsm["q_proba"] = np.full((adata.n_obs, 2), 7.0)
    before = snapshot(adata)
    match = (
        r"adata\.obs\['q_confidence'\] and adata\.obsm\['q_proba'\] exist without a record "
        r"of sag\.tl\.classify or predict in adata\.uns\['q'\] to say they are sag's \(your "
        r"own, or sag's whose record was dropped, e\.g\. by anndata\.concat\); "
        r"sag\.tl\.predict\(key_added='q'\) would replace them"
    )
    with pytest.raises(ValueError, match=match):
        sag.tl.predict(adata, model, key_added="q")
    adata.uns["q"] = {"note": "mine"}
    with pytest.raises(ValueError, match=r"uns\['q'\] holds a dict that no sag tool wrote"):
        sag.tl.predict(adata, model, key_added="q")
    del adata.uns["q"]
    check_untouched(adata, before)
    assert (adata.obs["q_confidence"] == 0.123).all()
    assert (adata.obsm["q_proba"] == 7.0).all()
    # sag's own outputs: a prediction, then another under the same key
    sag.tl.predict(adata, model)
    threshold = float(np.quantile(adata.obs["sag_confidence"], 0.3))  # some cells below
    sag.tl.predict(adata, model, min_confidence=threshold)
    assert "Unassigned" in adata.obs["sag_pred"].cat.categories
    # a dict of the user's is refused, as every tool refuses one: updated, it would read as
    # sag's record, which a later call under the key replaces whole (scanpy's params with it)
    for mine in ({"note": "mine"}, {"classes": "my notes", "other": 1}):
        adata.uns["u"] = mine
        before = snapshot(adata)
        with pytest.raises(ValueError, match=r"uns\['u'\] holds a dict that no sag tool wrote"):
            sag.tl.predict(adata, model, key_added="u")
        check_untouched(adata, before)
        assert adata.uns["u"] is mine


@pytest.mark.parametrize(
    ("bad", "error"), [(-1, ValueError), (2.5, TypeError), (True, TypeError), ("3", TypeError)]
)
def test_min_cells_per_class_must_be_a_whole_number(adata, bad, error):
    before = snapshot(adata)
    match = rf"min_cells_per_class={bad!r} must be None or a whole number of cells, 0 or more"
    with pytest.raises(error, match=match):
        sag.tl.classify(adata, "label", min_cells_per_class=bad, n_trials=1)
    check_untouched(adata, before)
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    with pytest.raises(error, match=match):
        model.fit(adata, "label", min_cells_per_class=bad)


def test_labels_key_must_be_a_column_name(adata):
    before = snapshot(adata)
    with pytest.raises(TypeError, match=r"labels_key=\['label'\] must be a str naming one column"):
        sag.tl.classify(adata, ["label"], n_trials=1)
    check_untouched(adata, before)
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    with pytest.raises(TypeError, match=r"labels_key=\['label'\] must be a str"):
        model.fit(adata, ["label"])


def test_a_metric_of_classes_asked_for_a_numeric_target_is_refused(adata, monkeypatch):
    """metric='macro_f1' given with a numeric target is refused like the other metrics of
    classes, not taken for the default (which a numeric target reads as 'r2'): before the
    data is read where task='regression' says so, before the search where 'auto' finds it."""
    import scautogenome.tools._classify as classify_module

    adata.obs["age"] = np.linspace(20, 80, adata.n_obs)
    before = snapshot(adata)
    prepare = classify_module.prepare_labelled

    def no_work(*args, **kwargs):
        raise AssertionError("work started")

    match = r"metric='macro_f1' must be one of \['r2', 'pearson', 'spearman'\] for a regression"
    monkeypatch.setattr(classify_module, "prepare_labelled", no_work)
    with pytest.raises(ValueError, match=match):
        sag.tl.classify(adata, "age", task="regression", metric="macro_f1", n_trials=1)
    mse = {"trainer": {"loss": "mse"}}
    with pytest.raises(ValueError, match=match):
        sag.tl.classify(adata, "age", config=mse, metric="macro_f1", n_trials=1)
    monkeypatch.setattr(classify_module, "prepare_labelled", prepare)
    monkeypatch.setattr(classify_module, "run_search", no_work)
    with pytest.raises(ValueError, match=match):
        sag.tl.classify(adata, "age", metric="macro_f1", n_trials=1)  # task "auto"
    check_untouched(adata, before)


def test_a_metric_argument_is_named_as_the_argument_before_the_config(adata, monkeypatch):
    """metric= given to classify is checked as the argument before it goes into the config:
    named metric= (not config['search']['metric']), with each task's metrics apart (those
    of task= alone where it is given), and a TypeError for a metric that is no str."""
    import scautogenome.tools._classify as classify_module

    def no_work(*args, **kwargs):
        raise AssertionError("work started")

    monkeypatch.setattr(classify_module, "prepare_labelled", no_work)
    before = snapshot(adata)
    with pytest.raises(ValueError, match=r"^metric='f1' must be one of") as e:
        sag.tl.classify(adata, "label", metric="f1", n_trials=1)
    assert str(e.value) == (
        "metric='f1' must be one of ['macro_f1', 'accuracy', 'balanced_accuracy', "
        "'weighted_f1', 'roc_auc', 'average_precision'] for a classification task or one of "
        "['r2', 'pearson', 'spearman'] for a regression task."
    )
    with pytest.raises(ValueError, match=r"^metric='f1' must be one of") as e:
        sag.tl.classify(adata, "label", metric="f1", task="classification", n_trials=1)
    assert str(e.value) == (
        "metric='f1' must be one of ['macro_f1', 'accuracy', 'balanced_accuracy', "
        "'weighted_f1', 'roc_auc', 'average_precision'] for a classification task."
    )
    with pytest.raises(TypeError, match=r"^metric=3 must be a str naming a search metric"):
        sag.tl.classify(adata, "label", metric=3, n_trials=1)
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    with pytest.raises(TypeError, match=r"^metric=3 must be a str naming a search metric"):
        model.fit(adata, "label", metric=3)
    check_untouched(adata, before)


def test_explain_of_cells_by_name_needs_unique_names(adata, tiny_config):
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0)
    names = list(adata.obs_names)
    names[1] = names[0]
    adata.obs_names = names
    before = snapshot(adata)
    with pytest.raises(ValueError, match=r"unique obs_names.*obs_names_make_unique\(\)"):
        sag.tl.explain(adata, model, cells=names[:5])
    check_untouched(adata, before)
    sag.tl.explain(adata, model, cells=np.arange(5), n_background=10)  # positions are fine


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (50, ValueError),
        (-0.1, ValueError),
        (1.5, ValueError),
        (float("nan"), ValueError),
        ("half", TypeError),
        ("0.5", TypeError),
        (None, TypeError),
        (True, TypeError),
    ],
)
def test_min_gene_overlap_must_be_a_fraction(adata, bad, error):
    """A fraction out of range is a ValueError; what is no number (a str, None, a bool) a
    TypeError."""
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0)
    before = snapshot(adata)
    with pytest.raises(error, match=r"min_gene_overlap=.* must be a fraction .* 0 and 1"):
        sag.tl.predict(adata, model, min_gene_overlap=bad)
    check_untouched(adata, before)


def test_an_empty_study_name_or_an_in_memory_storage_is_refused(adata, tmp_path):
    before = snapshot(adata)
    url = f"sqlite:///{tmp_path / 's.db'}"
    with pytest.raises(ValueError, match="study_name='' must be a non-empty string"):
        sag.tl.classify(adata, "label", storage=url, study_name="")
    for memory in (
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///",
        " sqlite:///:memory:?cache=shared",
        "sqlite+pysqlite:///:memory:",
        "sqlite:///file:mem1?mode=memory&cache=shared&uri=true",
        "sqlite:///file::memory:?cache=shared&uri=true",
    ):
        with pytest.raises(ValueError, match="in-memory SQLite database"):
            sag.tl.embed(adata, storage=memory)
    with pytest.raises(TypeError, match=r"storage=5 must be a URL .* or an Optuna storage"):
        sag.tl.classify(adata, "label", storage=5)  # failed inside Optuna, after the split
    check_untouched(adata, before)


def test_bad_input_leaves_no_new_storage_file_behind(adata, tmp_path):
    """A new SQLite or journal file named by storage= is made by the search, not by the
    checks: a call refused for another argument (a labels_key typo, a latent too large, a
    model_dir that is a file) left an empty database beside the user's data."""
    before = snapshot(adata)
    (tmp_path / "file").write_text("x")
    for name in ("c.db", "c.log"):
        store = str(tmp_path / name) if name.endswith(".log") else f"sqlite:///{tmp_path / name}"
        with pytest.raises(KeyError, match="labels_key='nope'"):
            sag.tl.classify(adata, "nope", storage=store, n_trials=1)
        with pytest.raises(ValueError, match="n_latent=10000 must be smaller"):
            sag.tl.embed(adata, storage=store, n_latent=10_000, n_trials=1)
        with pytest.raises((ValueError, NotADirectoryError), match="model_dir"):
            sag.tl.classify(adata, "label", storage=store, model_dir=tmp_path / "file")
        assert not (tmp_path / name).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
    check_untouched(adata, before)
    # a URL that cannot be opened is still refused before any work
    with pytest.raises(ValueError, match="cannot be opened"):
        sag.tl.classify(adata, "label", storage=f"sqlite:///{tmp_path / 'no' / 'c.db'}")
    with pytest.raises(ValueError, match="cannot be opened"):
        sag.tl.embed(adata, storage="nodialect://x/y")
    # a new file's URL opened with its driver and options, on a probe file that is removed
    for url, said in (
        (f"sqlite:///file:{tmp_path / 'ro.db'}?mode=ro&uri=true", "unable to open database"),
        (f"sqlite:///{tmp_path / 't.db'}?timeout=abc", "could not convert string to float"),
        (f"sqlite+nodriver:///{tmp_path / 'n.db'}", "Can't load plugin"),
    ):
        with pytest.raises(ValueError, match=rf"cannot be opened: .*{said}"):
            sag.tl.classify(adata, "label", storage=url, n_trials=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_study_name_or_model_dir_of_another_type_is_a_type_error(adata, tmp_path):
    """study_name=3 was a ValueError; model_dir=3 failed in pathlib ("expected str, bytes or
    os.PathLike object, not int"), which named no argument."""
    before = snapshot(adata)
    url = f"sqlite:///{tmp_path / 's.db'}"
    with pytest.raises(TypeError, match=r"^study_name=3 must be a str naming an Optuna study"):
        sag.tl.classify(adata, "label", storage=url, study_name=3, n_trials=1)
    with pytest.raises(TypeError, match=r"^study_name=3 must be a str naming an Optuna study"):
        sag.tl.embed(adata, storage=url, study_name=3, n_trials=1)
    with pytest.raises(TypeError, match=r"^model_dir=3 must be a str or Path naming the folder"):
        sag.tl.classify(adata, "label", model_dir=3, n_trials=1)
    with pytest.raises(TypeError, match=r"^model_dir=3 must be a str or Path naming the folder"):
        sag.tl.embed(adata, model_dir=3, n_trials=1)
    check_untouched(adata, before)


def test_a_journal_storage_that_holds_something_else_is_refused_before_any_work(adata, tmp_path):
    """A .log file of other lines (notes, an application's JSON log) given as storage=: named
    as no Optuna journal before the data are read, and left as it was."""
    before = snapshot(adata)
    for name, text in (
        ("notes.log", "my notes\n"),
        ("app.log", '{"level": "info"}\n'),
        ("one.log", "my notes, no newline"),  # not a journal's record cut short
    ):
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(
            ValueError, match=rf"storage='.*{name}' holds lines that are not an Optuna journal's"
        ):
            sag.tl.classify(adata, "label", n_trials=1, storage=str(path))
        assert path.read_text() == text
    check_untouched(adata, before)


def test_a_journal_whose_last_record_is_cut_short_is_refused_before_any_work(adata, tmp_path):
    """A journal whose last line a killed search left unfinished: Optuna reads the complete
    records, then appends its next one onto the cut line, and the file can no longer be read
    at all. Refused before the data are read, naming how many bytes to keep, file unchanged."""
    import optuna

    from scautogenome.search._study import _journal_backend

    path = tmp_path / "s.journal"
    study = optuna.create_study(storage=optuna.storages.JournalStorage(_journal_backend(str(path))))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    whole = path.read_bytes()
    complete = whole.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(whole[: complete + 20])
    before = snapshot(adata)
    with pytest.raises(ValueError, match=rf"last line is cut short.* first {complete} bytes"):
        sag.tl.classify(adata, "label", n_trials=1, storage=str(path))
    assert path.read_bytes() == whole[: complete + 20]
    check_untouched(adata, before)
    path.write_bytes(whole[:complete])  # the complete records: accepted
    from scautogenome.search._study import _check_journal_lines

    _check_journal_lines(str(path))
    path.write_bytes(b"")  # as Optuna makes a new journal: accepted
    _check_journal_lines(str(path))


def test_a_study_name_without_a_storage_is_said_to_be_only_recorded(sag_caplog, tiny_config):
    a = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=3, seed=0)
    sag.tl.classify(a, "label", mode="mlp", config=tiny_config, n_trials=1, study_name="mine")
    assert "study_name='mine' is only recorded: without storage=" in sag_caplog.text


def _no_work(monkeypatch):
    """Make any kNN graph, UMAP or t-SNE of sag.pl.embedding / embedding_scores a failure."""
    import scanpy as sc

    from scautogenome.plotting import _embedding
    from scautogenome.tools import _embed

    def work(*args, **kwargs):
        raise AssertionError("computed before the error")

    for module, name in ((_embedding, "neighbors"), (_embedding, "tsne"), (_embed, "neighbors")):
        monkeypatch.setattr(module, name, work)
    monkeypatch.setattr(sc.tl, "umap", work)


def test_plot_embedding_checks_its_arguments_before_any_work(adata, monkeypatch):
    """A color that is neither an obs column nor a gene, a bad n_neighbors or random_state is
    an error before the kNN graph and the 2-D layout are computed and stored."""
    adata.obsm["X_e"] = np.random.default_rng(0).normal(size=(adata.n_obs, 3))
    _no_work(monkeypatch)
    before = snapshot(adata)
    for color in ("no_such_column", ["label", "no_such_column"]):
        with pytest.raises(KeyError, match="color='no_such_column' is neither a column of adata"):
            sag.pl.embedding(adata, "X_e", color=color, show=False)
    with pytest.raises(KeyError, match=r"gene_symbols='nope' is not a column of adata\.var"):
        sag.pl.embedding(adata, "X_e", color="label", gene_symbols="nope", show=False)
    for bad, error in ((0, ValueError), (1, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match=rf"n_neighbors={bad!r} must be"):
            sag.pl.embedding(adata, "X_e", n_neighbors=bad, recompute=True, show=False)
    for bad, error in (("x", TypeError), (-1, ValueError), (None, TypeError), (2.0, TypeError)):
        with pytest.raises(error, match=rf"random_state={bad!r} must be"):
            sag.pl.embedding(adata, "X_e", method="tsne", random_state=bad, show=False)
    with pytest.raises(KeyError, match=r"layer='counts' not found in adata\.layers"):
        sag.pl.embedding(adata, "X_e", color="label", layer="counts", show=False)
    with pytest.raises(ValueError, match=r"edges=True draws the kNN graph .* a t-SNE has none"):
        sag.pl.embedding(adata, "X_e", method="tsne", edges=True, show=False)
    check_untouched(adata, before)
    assert list(adata.obsp) == []


def test_plot_embedding_refuses_to_replace_keys_it_did_not_write(adata, monkeypatch):
    """A 2-D layout (obsm/uns['X_{name}_{method}']) or a kNN graph (uns['{name}_neighbors'],
    obsp['{name}_neighbors_...']) of the user's, without the sag parameters sag.pl.embedding
    stores with its own, is an error before any work that names it, and is kept."""
    adata.obsm["X_e"] = np.random.default_rng(0).normal(size=(adata.n_obs, 3))
    _no_work(monkeypatch)
    mine = np.full((adata.n_obs, 2), 7.0)
    adata.obsm["X_e_umap"] = mine.copy()
    adata.uns["X_e_tsne"] = {"params": {"perplexity": 30}}  # e.g. sc.tl.tsne(key_added=...)
    adata.uns["e_neighbors"] = {"note": "mine"}
    adata.obsp["e_neighbors_distances"] = sp.csr_matrix((adata.n_obs, adata.n_obs))
    before = snapshot(adata)
    with pytest.raises(ValueError, match=r"adata.obsm\['X_e_umap'\] exists without .*another obsm"):
        sag.pl.embedding(adata, "X_e", show=False)
    with pytest.raises(ValueError, match=r"adata.uns\['X_e_tsne'\] exists without"):
        sag.pl.embedding(adata, "X_e", method="tsne", recompute=True, show=False)
    del adata.obsm["X_e_umap"]
    with pytest.raises(
        ValueError,
        match=r"adata.uns\['e_neighbors'\] and adata.obsp\['e_neighbors_distances'\] exist "
        r"without .*method='tsne'",
    ):
        sag.pl.embedding(adata, "X_e", show=False)
    del adata.uns["e_neighbors"]
    with pytest.raises(ValueError, match=r"adata.obsp\['e_neighbors_distances'\] exists without"):
        sag.pl.embedding(adata, "X_e", show=False)
    adata.obsm["X_e_umap"] = mine
    assert snapshot(adata)[1:3] == (before[1], [k for k in before[2] if k != "e_neighbors"])
    np.testing.assert_array_equal(adata.obsm["X_e_umap"], np.full((adata.n_obs, 2), 7.0))
    assert adata.uns["X_e_tsne"] == {"params": {"perplexity": 30}}
    assert list(adata.obsp) == ["e_neighbors_distances"]


def test_plot_embedding_refuses_a_color_that_is_both_an_obs_column_and_a_gene(adata, monkeypatch):
    """anndata cannot tell an obs column from a gene of the same name: an error naming it,
    before the kNN graph and the 2-D layout are computed and stored."""
    adata.obsm["X_e"] = np.random.default_rng(0).normal(size=(adata.n_obs, 3))
    gene = str(adata.var_names[0])
    adata.obs[gene] = adata.obs["label"].to_numpy()
    _no_work(monkeypatch)
    before = snapshot(adata)
    with pytest.raises(
        ValueError, match=rf"color='{gene}' is both a column of adata.obs and a gene"
    ):
        sag.pl.embedding(adata, "X_e", color=["label", gene], show=False)
    check_untouched(adata, before)
    assert list(adata.obsp) == []


def test_plot_embedding_refuses_colours_scanpy_cannot_read_before_any_work(adata, monkeypatch):
    """Colours that name a column or gene but whose values scanpy cannot read or draw were
    found only after the kNN graph and the 2-D layout were computed and stored, with
    scanpy's bare error ("'NoneType' object is not subscriptable", KeyError 'G30', "The numpy
    boolean negative..."): a gene of adata.X where X is None, a gene missing from adata.raw
    where scanpy reads raw by default (or only in raw with use_raw=False), a gene of a
    boolean matrix, a nullable boolean column, a column mixing text with numbers."""
    adata.obsm["X_e"] = np.random.default_rng(0).normal(size=(adata.n_obs, 3))
    gene, other = str(adata.var_names[0]), str(adata.var_names[1])
    no_x = adata.copy()
    no_x.layers["counts"] = no_x.X.copy()
    no_x.X = None
    raw = adata.copy()
    raw.raw = adata[:, 1:].copy()  # raw lacks `gene`
    extra = adata[:, 1:].copy()
    extra.raw = adata.copy()  # `gene` only in raw
    extra.var["symbol"] = [f"S{i}" for i in range(extra.n_vars)]
    binary = adata.copy()
    binary.X = binary.X > 0
    flags = adata.copy()
    flags.obs["flag"] = pd.array([True, False, None] * 100, dtype="boolean")
    flags.obs["mixed"] = pd.Series([1, "a", 2.5] * 100, index=flags.obs_names, dtype=object)
    _no_work(monkeypatch)
    for data, kwargs, error, message in (
        (no_x, {"color": gene}, ValueError, r"adata\.X is None.*layer='counts'"),
        (raw, {"color": gene}, KeyError, rf"'{gene}' is not a gene of adata\.raw.*use_raw=False"),
        (extra, {"color": gene, "use_raw": False}, KeyError, r"only in adata\.raw.*use_raw"),
        (extra, {"color": gene, "gene_symbols": "symbol"}, KeyError, r"gene_symbols='symbol'"),
        (binary, {"color": [other]}, ValueError, r"boolean.*astype\(np\.float32\)"),
        (flags, {"color": "flag"}, ValueError, r"obs\['flag'\] is a nullable boolean.*category"),
        (flags, {"color": "mixed"}, ValueError, r"obs\['mixed'\] mixes text with other"),
    ):
        before = snapshot(data)
        with pytest.raises(error, match=message):
            sag.pl.embedding(data, "X_e", show=False, **kwargs)
        check_untouched(data, before)
        assert list(data.obsp) == []
    # scanpy draws a nullable boolean column unsorted: not refused then (the work starts)
    with pytest.raises(AssertionError, match="computed before the error"):
        sag.pl.embedding(flags, "X_e", color="flag", sort_order=False, show=False)


def test_plot_embedding_of_coordinates_whose_record_concat_dropped(adata, monkeypatch):
    """2-D coordinates without sag's record in uns (anndata.concat drops uns) are refused
    with a message that says the record may have been lost and how to go on."""
    adata.obsm["X_e"] = np.random.default_rng(0).normal(size=(adata.n_obs, 3))
    adata.obsm["X_e_umap"] = np.zeros((adata.n_obs, 2))
    _no_work(monkeypatch)
    with pytest.raises(ValueError, match=r"anndata.concat.*del adata.obsm\['X_e_umap'\]"):
        sag.pl.embedding(adata, "X_e", show=False)
    assert "X_e_umap" in adata.obsm


def test_plot_embedding_refuses_to_compute_coordinates_on_a_view(adata, monkeypatch):
    """A view whose 2-D coordinates must be computed is refused before any work (storing them
    would turn it into a copy), as sag.tl refuses views."""
    adata.obsm["X_e"] = np.random.default_rng(0).normal(size=(adata.n_obs, 3))
    _no_work(monkeypatch)
    view = adata[adata.obs["label"] != adata.obs["label"].cat.categories[0]]
    for method in ("umap", "tsne"):
        with pytest.raises(ValueError, match=r"adata is a view .*adata\[mask\]\.copy\(\)"):
            sag.pl.embedding(view, "X_e", method=method, color="label", show=False)
    assert view.is_view
    assert list(adata.obsm) == ["X_e"]


def test_plot_embedding_checks_plotting_values_before_any_work(adata, monkeypatch):
    """scanpy keywords of a valid name but a bad value (use_raw=True without adata.raw,
    components beyond a 2-D layout, a legend_loc, palette or cmap that scanpy and matplotlib
    refuse) and a color that is no name are errors naming the argument before the kNN graph
    and the layout are computed and stored; scanpy found them only after."""
    adata.obsm["X_e"] = np.random.default_rng(0).normal(size=(adata.n_obs, 3))
    _no_work(monkeypatch)
    before = snapshot(adata)
    bad = [
        (dict(use_raw=True), ValueError, r"use_raw=True but adata.raw is None"),
        (dict(use_raw="yes"), TypeError, r"use_raw='yes' must be True or False"),
        (dict(use_raw=True, layer="x"), ValueError, r"use_raw=True and layer='x'"),
        (dict(components="2,3"), ValueError, r"components='2,3' .*'1,2', '2,1', 'all'"),
        (dict(components=["1,2", "1"]), ValueError, r"components=\['1,2', '1'\] "),
        (dict(components="0,1"), ValueError, r"components='0,1' "),
        (dict(legend_loc="bad place"), ValueError, r"legend_loc='bad place' .*'right margin'"),
        (dict(legend_loc="on data export"), ValueError, r"legend_loc='on data export' "),
        (dict(legend_loc=11), ValueError, r"legend_loc=11 .*an integer from 0 to 10"),
        (dict(palette="notapalette"), ValueError, r"palette='notapalette' is not a matplotlib"),
        (dict(palette=["red", "nocolour"]), ValueError, r"palette=.*'nocolour' is not a colour"),
        (dict(cmap="nope"), ValueError, r"cmap='nope' is not a matplotlib colour map"),
        (dict(color_map="nope"), ValueError, r"color_map='nope' is not a matplotlib colour"),
        (dict(projection="3d"), ValueError, r"projection='3d': the layout has 2 dimensions"),
        (dict(color=3), TypeError, r"color=3 must be the name of an obs column or a gene"),
        (dict(color=np.array([["label"]])), TypeError, r"color=.* must be the name of an obs"),
    ]
    for kwargs, error, match in bad:
        kwargs = {"color": "label", **kwargs}
        with pytest.raises(error, match=match):
            sag.pl.embedding(adata, "X_e", show=False, **kwargs)
    check_untouched(adata, before)
    assert list(adata.obsp) == []


@pytest.mark.parametrize("columns", [3, 2])
def test_plot_embedding_refuses_a_basis_with_nan_before_any_work(adata, monkeypatch, columns):
    """NaN or infinite values in the basis: an error naming how many cells, before any work
    (sklearn's 'Input X contains NaN' came from inside the kNN graph)."""
    latent = np.random.default_rng(0).normal(size=(adata.n_obs, columns))
    latent[3, 0] = np.nan
    latent[7, 1] = np.inf
    adata.obsm["X_e"] = latent
    _no_work(monkeypatch)
    before = snapshot(adata)
    with pytest.raises(
        ValueError,
        match=rf"obsm\['X_e'\] holds NaN or infinite values in 2 of the 300 cells "
        rf"\(the first: '{adata.obs_names[3]}'\)",
    ):
        sag.pl.embedding(adata, "X_e", color="label", show=False)
    check_untouched(adata, before)
    assert list(adata.obsp) == []


def test_plots_check_colours_and_colour_maps_before_a_figure(adata):
    """A cmap or color matplotlib does not know is an error naming the argument, before any
    record is read or figure opened."""
    import matplotlib.pyplot as plt

    plt.close("all")
    with pytest.raises(ValueError, match="cmap='nope' is not a matplotlib colour map"):
        sag.pl.confusion_matrix(adata, cmap="nope", show=False)
    with pytest.raises(ValueError, match="cmap='nope' is not a matplotlib colour map"):
        sag.pl.shap_summary(adata, group="a", cmap="nope", show=False)
    with pytest.raises(ValueError, match="color='notacolor' is not a matplotlib colour"):
        sag.pl.importance(adata, group="a", color="notacolor", show=False)
    assert plt.get_fignums() == []


def test_embedding_scores_checks_seed_tsne_and_key_added_before_any_work(adata, monkeypatch):
    """seed and tsne are checked before the graph is built; key_added stores the scores only
    into an embed or encode record, or a key of their own: a dict of the user's, scanpy's
    uns['pca'] or classify's record is an error before any work, and kept."""
    adata.obsm["X_e"] = np.random.default_rng(0).normal(size=(adata.n_obs, 3))
    adata.uns["mine"] = {"scores": "precious"}
    adata.uns["pca"] = {"variance": np.ones(3)}
    adata.uns["sag"] = {"architecture": "{}", "params": {"labels_key": "label"}}
    _no_work(monkeypatch)
    before = snapshot(adata)
    for bad, error in ((-1, ValueError), ("a", TypeError), (1.5, TypeError)):
        with pytest.raises(error, match=rf"seed={bad!r} must be"):
            sag.tl.embedding_scores(adata, "X_e", "label", tsne=False, seed=bad)
    for bad in ("no", 1, None):
        with pytest.raises(TypeError, match=rf"tsne={bad!r} must be True or False"):
            sag.tl.embedding_scores(adata, "X_e", "label", tsne=bad)
    for key, what in (
        ("mine", "a dict that no sag tool wrote"),
        ("pca", "a dict that no sag tool wrote"),
        ("sag", "the record of sag.tl.classify"),
    ):
        with pytest.raises(ValueError, match=rf"uns\['{key}'\] holds {what}.*another key_added="):
            sag.tl.embedding_scores(adata, "X_e", "label", tsne=False, key_added=key)
    check_untouched(adata, before)
    assert adata.uns["mine"] == {"scores": "precious"}
    assert set(adata.uns["pca"]) == {"variance"}
    assert set(adata.uns["sag"]) == {"architecture", "params"}


def test_write_report_refuses_a_key_that_names_nothing(adata, tmp_path):
    """A key given (not the default) that adata lacks is an error, not a report without the
    section asked for; a folder as the path is named."""
    before = snapshot(adata)
    for kw, match in [
        ({"key": "typo"}, r"key='typo' is not in adata\.uns"),
        ({"shap_key": "typo"}, r"shap_key='typo' is not in adata\.uns"),
        ({"basis": "X_typo"}, r"basis='X_typo' is not in adata\.obsm"),
    ]:
        with pytest.raises(KeyError, match=match):
            sag.io.write_report(adata, tmp_path / "r.html", **kw)
    adata.uns["mine"] = {"a": 1}
    with pytest.raises(ValueError, match=r"uns\['mine'\] is not the record of a classify"):
        sag.io.write_report(adata, tmp_path / "r.html", key="mine")
    del adata.uns["mine"]
    with pytest.raises(IsADirectoryError, match=rf"path='{re.escape(str(tmp_path))}' is a folder"):
        sag.io.write_report(adata, tmp_path)
    assert list(tmp_path.iterdir()) == []
    check_untouched(adata, before)


def test_cli_embed_model_out_keeps_clear_of_other_models(adata, tmp_path, capsys):
    """embed --model-out into classify's --out folder would hide its model from
    `predict --model DIR`: refused, --overwrite or not; a lone model.pt needs --overwrite."""
    from scautogenome.cli import main

    h5ad = tmp_path / "in.h5ad"
    adata.write_h5ad(h5ad)
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "model" / "model.json").write_text('{"model": "Classifier"}')
    args = ["embed", str(h5ad), "--out", str(tmp_path / "e.h5ad"), "--quiet", "--n-trials", "1"]
    for extra in ([], ["--overwrite"]):
        assert main([*args, "--model-out", str(run), *extra]) == 2
        assert "holds a classify run's output" in capsys.readouterr().err
    assert sorted(p.name for p in run.iterdir()) == ["model"]
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.pt").write_bytes(b"")
    assert main([*args, "--model-out", str(tmp_path / "m")]) == 2
    assert "already holds a model (model.pt); pass --overwrite" in capsys.readouterr().err
    assert not (tmp_path / "e.h5ad").exists()


# -- readers: bad files are named, never read wrongly (second review of the readers) ------------
def test_readers_name_a_file_that_is_not_utf8(tmp_path):
    """read_maf and read_autogenome give read_table's message, naming the file, not a raw
    UnicodeDecodeError that names only the codec."""
    maf = "Hugo_Symbol\tVariant_Classification\tTumor_Sample_Barcode\n"
    maf += "CAF\u00c91\tMissense_Mutation\tTCGA-A1-A0SB-01A-11D-A142-09\n"
    for name, encoding in (("latin1.maf", "latin-1"), ("utf16.maf", "utf-16")):
        (tmp_path / name).write_bytes(maf.encode(encoding))
        with pytest.raises(ValueError, match=rf"MAF file '.*{name}': not UTF-8 text"):
            sag.io.read_maf(tmp_path / name)
    files = {
        "x.csv": b"1,2\n3,4\n",
        "y.txt": b"a\nb\n",
        "names.txt": "G\u00e8ne\nEGFR\n".encode("latin-1"),
    }
    for name, text in files.items():
        (tmp_path / name).write_bytes(text)
    loader = {"train_data_path": "x.csv", "train_label_path": "y.txt", "delimiter": ","}
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"data_loader": {**loader, "feature_names_path": "names.txt"}}))
    with pytest.raises(ValueError, match=r"feature names file '.*names\.txt': not UTF-8 text"):
        sag.io.read_autogenome(config)
    (tmp_path / "y.txt").write_bytes("a\n\u00e9\n".encode("latin-1"))
    config.write_text(json.dumps({"data_loader": loader}))
    with pytest.raises(ValueError, match=r"train labels file '.*y\.txt': not UTF-8 text"):
        sag.io.read_autogenome(config)
    text = json.dumps({"name": "\u00e9t\u00e9", "data_loader": loader}, ensure_ascii=False)
    config.write_bytes(text.encode("latin-1"))
    with pytest.raises(ValueError, match=r"AutoGenome config '.*config\.json': not UTF-8 text"):
        sag.io.read_autogenome(config)


def test_read_maf_refuses_mafs_joined_with_cat(tmp_path):
    """`cat a.maf b.maf`: the second header would be a sample 'Tumor_Sample_Barcode'."""
    header = "Hugo_Symbol\tVariant_Classification\tTumor_Sample_Barcode\n"
    a = header + "TP53\tMissense_Mutation\tTCGA-A1-A0SB-01A-11D-A142-09\n"
    b = header + "KRAS\tMissense_Mutation\tTCGA-A1-A0SD-01A-11D-A10Y-09\n"
    (tmp_path / "all.maf").write_text(a + b)
    with pytest.raises(ValueError, match=r"line 3: repeats the header line \(line 1\).*a list"):
        sag.io.read_maf(tmp_path / "all.maf")
    (tmp_path / "all.maf").write_text("#version 2.4\n" + a + "#version 2.4\n" + b)
    with pytest.raises(ValueError, match=r"line 4: a '#version' line below the header \(line 2\)"):
        sag.io.read_maf(tmp_path / "all.maf")
    # one file with a comment at its end: no word of joined files
    (tmp_path / "one.maf").write_text(a + "#eof\n")
    with pytest.raises(ValueError, match=r"line 3: a '#' line below .* belong above") as err:
        sag.io.read_maf(tmp_path / "one.maf")
    assert "cat" not in str(err.value)


def test_read_table_refuses_a_header_of_numbers_below_comments(tmp_path):
    """Below '#' lines, a header of non-integer numbers is a data row whose header was commented
    out ('# gene S1 S2'): refused, as it would lose the row. Without '#' lines such a header is
    read as written (replicates 1.1, 1.2; doses), and integer ids (Entrez) are a header."""
    path = tmp_path / "x.tsv"
    path.write_text("# gene S1 S2\nTP53\t1.5\t2.5\nEGFR\t3.5\t4.5\nMYC\t1\t2\n")
    with pytest.raises(ValueError, match=r"line 2: the first line below the '#' lines holds"):
        sag.io.read_table(path, orientation="genes_x_samples")
    path.write_text("gene\t1.1\t1.2\nTP53\t1.5\t2.5\nEGFR\t3.5\t4.5\n")
    assert sag.io.read_table(path, orientation="genes_x_samples").obs_names.tolist() == [
        "1.1",
        "1.2",
    ]
    path.write_text("sample\t7157\t1956\nS1\t1.5\t2.5\nS2\t3.5\t4.5\n")
    assert sag.io.read_table(path, orientation="samples_x_genes").var_names.tolist() == [
        "7157",
        "1956",
    ]
    # a comment with as many fields as the rows (commas) stays a comment above a header of
    # integer sample ids: '#' then a space is not a header
    path = tmp_path / "lims.csv"
    path.write_text(
        "# source: run42, plate 3, lane 2\ngene_id,101,102,103\nTP53,5,6,7\nEGFR,1,2,3\n"
    )
    adata = sag.io.read_table(path, orientation="genes_x_samples")
    assert adata.obs_names.tolist() == ["101", "102", "103"]
    assert adata.var_names.tolist() == ["TP53", "EGFR"]


def test_read_table_names_a_trailing_delimiter(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("gene,S1,S2,\nTP53,1,2,\nEGFR,3,4,\n")
    with pytest.raises(ValueError, match=r"every line ends with the delimiter ','"):
        sag.io.read_table(path, orientation="genes_x_samples")
    for comment in ("# exported by a tool", "# run 42, plate 3"):  # commas in it too
        path.write_text(f"{comment}\ngene,S1,S2,\nTP53,1,2,\nEGFR,3,4,\n")
        with pytest.raises(ValueError, match=r"every line ends with the delimiter ','"):
            sag.io.read_table(path, orientation="genes_x_samples")


def test_outputs_of_the_key_that_its_record_did_not_write_are_the_users(adata):
    """A record of classify (no prediction) does not account for a confidence column, nor one
    of embed without recon=True for a reconstruction layer: a second run under the key refuses
    them before any work instead of removing them as an earlier call's."""
    config = {
        "budget": {"n_trials": 1, "time_budget": None},
        "trainer": {"max_epochs": 1, "min_epochs": 1},
    }
    model = sag.tl.classify(adata, "label", mode="mlp", config=config, seed=0)
    adata.obs["sag_confidence"] = adata.obsm["sag_proba"].max(1)  # the user's own column
    before = snapshot(adata)
    match = r"adata\.obs\['sag_confidence'\] exists, but the record of sag\.tl\.classify"
    with pytest.raises(ValueError, match=match):
        sag.tl.classify(adata, "label", mode="mlp", config=config, seed=1)
    with pytest.raises(ValueError, match=match):
        sag.tl.predict(adata, model)
    check_untouched(adata, before)
    embed_config = {"budget": {"n_trials": 1, "time_budget": None}, "trainer": {"max_epochs": 1}}
    sag.tl.embed(adata, config=embed_config, seed=0)
    adata.layers["sag_resvae_recon"] = adata.X.copy()
    before = snapshot(adata)
    match = r"adata\.layers\['sag_resvae_recon'\] exists, but the record of sag\.tl\.embed"
    with pytest.raises(ValueError, match=match):
        sag.tl.embed(adata, config=embed_config, seed=1)
    check_untouched(adata, before)
    # a reconstruction of sag's own is replaced as before
    del adata.layers["sag_resvae_recon"]
    sag.tl.embed(adata, config=embed_config, seed=0, recon=True)
    sag.tl.embed(adata, config=embed_config, seed=1)
    assert "sag_resvae_recon" not in adata.layers


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has MPS")
def test_a_device_this_machine_lacks_is_refused_before_any_work(adata, tmp_path):
    """device='mps' off a Mac (and a CUDA index past the machine's GPUs) is a clear error
    before the data are read, as device='cuda' without CUDA is; so is loading a model onto it."""
    before = snapshot(adata)
    with pytest.raises(RuntimeError, match=r"device='mps' was asked for but MPS .* not available"):
        sag.tl.classify(adata, "label", n_trials=1, device="mps")
    with pytest.raises(RuntimeError, match=r"device='mps' was asked for"):
        sag.tl.embed(adata, n_trials=1, device="mps")
    check_untouched(adata, before)
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0)
    model.save(tmp_path / "m")
    with pytest.raises(RuntimeError, match=r"device='mps' was asked for"):
        sag.models.Classifier.load(tmp_path / "m", device="mps")
    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        with pytest.raises(RuntimeError, match=rf"this machine has {n} CUDA device"):
            sag.tl.classify(adata, "label", n_trials=1, device=f"cuda:{n}")


def test_a_damaged_model_json_is_named(adata, tmp_path):
    """A model.json cut short, not an object, or missing an entry: a ValueError naming the
    file, not a JSONDecodeError or KeyError from inside."""
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0)
    model.save(tmp_path / "m")
    meta = tmp_path / "m" / "model.json"
    text = meta.read_text()
    meta.write_text(text[:500])
    with pytest.raises(ValueError, match=r"model\.json' cannot be read \(.*\); save the model"):
        sag.models.Classifier.load(tmp_path / "m")
    meta.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"cannot be read \(it holds a list, not an object\)"):
        sag.models.Classifier.load(tmp_path / "m")
    for entry in ("var_names", "classes"):
        damaged = json.loads(text)
        del damaged[entry]
        meta.write_text(json.dumps(damaged))
        with pytest.raises(ValueError, match=rf"model\.json' lacks \['{entry}'\] \(damaged"):
            sag.models.Classifier.load(tmp_path / "m")
    for entry, value in (("classes", None), ("var_names", "abc"), ("train_params", None)):
        meta.write_text(json.dumps({**json.loads(text), entry: value}))
        with pytest.raises(ValueError, match=rf"its \['{entry}'\] entry is empty or of another"):
            sag.models.Classifier.load(tmp_path / "m")
    for entry in ("model", "transform"):
        damaged = json.loads(text)
        if entry == "model":
            del damaged[entry]
        else:
            damaged[entry] = {}
        meta.write_text(json.dumps(damaged))
        with pytest.raises(
            ValueError, match=r"model\.json'.* (lacks \['model'\]|'transform' entry)"
        ):
            sag.models.Classifier.load(tmp_path / "m")


def test_a_model_json_at_odds_with_its_network_is_named_on_load(adata, tmp_path):
    """Entries of model.json that its weights do not check (classes and genes of another
    number than the network's outputs and inputs, a name twice, a setting that is not a
    number): a ValueError naming the file and the entry on load, not an IndexError or a
    shape error inside predict."""
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0)
    model.save(tmp_path / "m")
    meta = tmp_path / "m" / "model.json"
    text = meta.read_text()
    names = list(map(str, adata.var_names))
    cases = {
        "classes": (["type_0", "type_1"], r"its 2 classes are not the 3 outputs of its network"),
        "var_names": (names[:50], r"its 50 var_names are not the 200 genes its network reads"),
    }
    cases_twice = {
        "classes": (["type_0", "type_0", "type_2"], r"its classes name 'type_0' twice"),
        "var_names": ([names[1], *names[1:]], rf"its var_names name '{names[1]}' twice"),
    }
    for entry, (value, match) in [*cases.items(), *cases_twice.items()]:
        meta.write_text(json.dumps({**json.loads(text), entry: value}))
        with pytest.raises(ValueError, match=rf"model\.json': {match} \(damaged, or edited"):
            sag.models.Classifier.load(tmp_path / "m")
    meta.write_text(json.dumps({**json.loads(text), "n_threads": "x"}))
    with pytest.raises(ValueError, match=r"its n_threads 'x' is not a positive integer \(dam"):
        sag.models.Classifier.load(tmp_path / "m")
    meta.write_text(text)
    sag.models.Classifier.load(tmp_path / "m")  # as saved
    adata.obs["value"] = adata.obs["label"].cat.codes.to_numpy() + np.linspace(0, 1, 300)
    reg = sag.models.Regressor({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    reg.fit(adata, "value", seed=0)
    reg.save(tmp_path / "r")
    meta = tmp_path / "r" / "model.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "target_std": "x"}))
    with pytest.raises(ValueError, match=r"its target_std 'x' is not a finite number \(dam"):
        sag.models.Regressor.load(tmp_path / "r")
    meta.write_text(meta.read_text().replace('"target_std": "x"', '"target_std": 1' + "0" * 400))
    with pytest.raises(ValueError, match=r"its target_std 10{400} is not a finite number"):
        sag.models.Regressor.load(tmp_path / "r")
    adata.obs["batch"] = np.where(np.arange(300) % 2, "b1", "b2")
    vae = sag.models.ResVAE({"widths": [8], "n_latent": 2}, {"max_epochs": 1})
    vae.fit(adata, batch_key="batch", seed=0)
    vae.save(tmp_path / "v")
    meta = tmp_path / "v" / "model.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "batches": ["b1"]}))
    with pytest.raises(ValueError, match=r"its 1 batches are not the 2 its decoder reads \(dam"):
        sag.models.ResVAE.load(tmp_path / "v")


def test_labels_whose_text_is_one_name_are_refused(adata):
    """Values that are distinct but read as one class name (1 and '1': cluster ids of two
    sources concatenated) are named before any work, not met as a split without training
    cells."""
    values = np.array([1, "1", 2], dtype=object)[np.arange(adata.n_obs) % 3]
    for column in (pd.Categorical(values), pd.Series(values, index=adata.obs_names)):
        adata.obs["mixed"] = column
        before = snapshot(adata)
        with pytest.raises(
            ValueError, match=r"obs\['mixed'\] holds 1 and '1', which are one class"
        ):
            sag.tl.classify(adata, "mixed", n_trials=1)
        check_untouched(adata, before)


def test_labels_that_differ_only_by_spaces_at_their_ends_are_refused(adata):
    """'B cell' and 'B cell ' (a spreadsheet's trailing space) would be two classes, each
    learnt apart and one perhaps dropped as too small: named before any work."""
    labels = adata.obs["label"].astype(str).to_numpy(dtype=object)
    labels[::7] = [f"{v} " for v in labels[::7]]
    labels[3::7] = [f" {v}" for v in labels[3::7]]
    adata.obs["spaced"] = pd.Categorical(labels)
    before = snapshot(adata)
    with pytest.raises(
        ValueError,
        match=r"obs\['spaced'\] holds ' (\S+)', '\1' and '\1 ', which differ only by spaces "
        r"at their ends \(3 such names\).*\.str\.strip\(\)",
    ):
        sag.tl.classify(adata, "spaced", n_trials=1)
    check_untouched(adata, before)


def test_data_with_nothing_to_learn_from_are_refused(adata):
    """Every gene constant as the model reads them (a constant matrix; one count gene, which
    normalizing each cell to 1e4 makes the same everywhere): an error before the search, which
    ran to a chance-level model."""
    import anndata as ad

    one = ad.AnnData(
        X=np.repeat([[94.0], [133.0]], 30, axis=0).astype(np.float32),
        obs=pd.DataFrame({"label": np.repeat(["a", "b"], 30)}),
    )
    before = snapshot(one)
    with pytest.raises(ValueError, match=r"Every gene is constant .* value_type='continuous'"):
        sag.tl.classify(one, "label", n_trials=1)
    check_untouched(one, before)
    sag.tl.classify(one, "label", n_trials=1, value_type="continuous", time_budget=30)
    const = adata.copy()
    const.X = np.ones(adata.shape, dtype=np.float32)
    with pytest.raises(ValueError, match=r"Every gene is constant on the \d+ training cells"):
        sag.tl.classify(const, "label", n_trials=1)
    # and embed, which trained a search on them and wrote one latent code for every cell
    const.X = sp.csr_matrix(adata.shape, dtype=np.float32)
    before = snapshot(const)
    with pytest.raises(ValueError, match=r"Every gene is constant on the \d+ training cells"):
        sag.tl.embed(const, n_trials=1)
    check_untouched(const, before)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_folder_that_cannot_be_made_is_refused_before_the_search(adata):
    """/proc passes os.access for root, yet no folder can be made there: the search ran,
    then saving failed."""
    before = snapshot(adata)
    with pytest.raises(PermissionError, match=r"model_dir='/proc/sag_model' cannot be created"):
        sag.tl.classify(adata, "label", n_trials=1, model_dir="/proc/sag_model")
    check_untouched(adata, before)


def test_a_model_dir_that_cannot_be_made_is_refused_before_the_matrix_is_read(
    adata, tmp_path, monkeypatch
):
    """A model_dir under a file: refused before the matrix is read (minutes on a large
    backed file), for classify and embed."""
    from scautogenome.data import _prepare
    from scautogenome.models import _resvae

    def never(*args, **kwargs):
        raise AssertionError("the matrix was read")

    monkeypatch.setattr(_prepare, "get_matrix", never)
    monkeypatch.setattr(_resvae, "get_matrix", never)
    (tmp_path / "file").write_text("")
    before = snapshot(adata)
    with pytest.raises(NotADirectoryError, match=r"model_dir=.* cannot be created"):
        sag.tl.classify(adata, "label", n_trials=1, model_dir=tmp_path / "file" / "m")
    with pytest.raises(NotADirectoryError, match=r"model_dir=.* cannot be created"):
        sag.tl.embed(adata, n_trials=1, model_dir=tmp_path / "file" / "m")
    check_untouched(adata, before)


def test_a_model_dir_in_the_home_folder_is_checked_where_it_is_saved(adata, tmp_path, monkeypatch):
    """model_dir='~/runs/m' is saved in the home folder, and checked there before any work:
    a saved model or a file there was found only after the search."""
    from scautogenome.data import _prepare
    from scautogenome.models import _resvae

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "runs" / "m").mkdir(parents=True)
    (tmp_path / "runs" / "m" / "model.json").write_text("{}")
    (tmp_path / "runs" / "a_file").write_text("")

    def never(*args, **kwargs):
        raise AssertionError("the matrix was read")

    monkeypatch.setattr(_prepare, "get_matrix", never)
    monkeypatch.setattr(_resvae, "get_matrix", never)
    before = snapshot(adata)
    for tool in (sag.tl.classify, sag.tl.embed):
        args = (adata, "label") if tool is sag.tl.classify else (adata,)
        with pytest.raises(FileExistsError, match=r"model_dir='~/runs/m' already holds"):
            tool(*args, n_trials=1, model_dir="~/runs/m")
        with pytest.raises(OSError, match=r"model_dir='~/runs/a_file'"):
            tool(*args, n_trials=1, model_dir="~/runs/a_file")
    # a torch checkpoint of the user's own, named as the save names its weights: refused
    # before the search too (the save after it refuses to replace it)
    (tmp_path / "runs" / "ckpt").mkdir()
    (tmp_path / "runs" / "ckpt" / "model.pt").write_bytes(b"user's weights")
    for tool in (sag.tl.classify, sag.tl.embed):
        args = (adata, "label") if tool is sag.tl.classify else (adata,)
        with pytest.raises(FileExistsError, match=r"'~/runs/ckpt' already holds model\.pt"):
            tool(*args, n_trials=1, model_dir="~/runs/ckpt")
    assert (tmp_path / "runs" / "ckpt" / "model.pt").read_bytes() == b"user's weights"
    check_untouched(adata, before)


def test_a_key_of_another_type_than_str_is_named_as_such(adata, tiny_config):
    """A list, a column's values or an array where a key goes failed inside pandas or
    anndata ("unhashable type: 'list'"); a labels column printed its whole Series."""
    before = snapshot(adata)
    with pytest.raises(TypeError, match=r"split_key=\['fold'\] must be a str naming one column"):
        sag.tl.classify(adata, "label", split_key=["fold"], config=tiny_config)
    with pytest.raises(TypeError, match=r"layer=\['counts'\] must be a str naming a layer"):
        sag.tl.classify(adata, "label", layer=["counts"], config=tiny_config)
    with pytest.raises(TypeError, match=r"labels_key=<Series of length 300> must be a str") as err:
        sag.tl.classify(adata, adata.obs["label"], config=tiny_config)
    assert len(str(err.value)) < 200
    # a matrix, a numpy scalar: named too (the message itself failed on them)
    with pytest.raises(TypeError, match=r"layer=<csr_matrix of shape \(300, 200\)> must be a str"):
        sag.tl.classify(adata, "label", layer=adata.X, config=tiny_config)
    with pytest.raises(TypeError, match=r"split_key=(np\.int64\()?0\)? must be a str"):
        sag.tl.classify(adata, "label", split_key=np.int64(0), config=tiny_config)
    with pytest.raises(TypeError, match=r"group_key=\['label'\] must be a str naming one column"):
        sag.tl.classify(adata, "label", group_key=["label"], config=tiny_config)
    with pytest.raises(TypeError, match=r"layer=<csr_matrix of shape \(300, 200\)> must be a str"):
        sag.tl.embed(adata, layer=adata.X)  # failed inside numpy
    check_untouched(adata, before)
    adata.obsm["X_e"] = np.zeros((adata.n_obs, 2), dtype=np.float32)
    with pytest.raises(
        TypeError, match=r"basis=<ndarray of shape \(300, 2\)> must be a str naming"
    ):
        sag.tl.embedding_scores(adata, adata.obsm["X_e"], "label")
    with pytest.raises(
        TypeError, match=r"basis=<ndarray of shape \(300, 2\)> must be a str naming"
    ):
        sag.pl.embedding(adata, adata.obsm["X_e"], show=False)
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0)
    with pytest.raises(TypeError, match=r"layer=\['counts'\] must be a str naming a layer"):
        sag.tl.predict(adata, model, layer=["counts"])
    with pytest.raises(TypeError, match=r"groupby=\['label'\] must be a str naming one column"):
        sag.tl.explain(adata, model, groupby=["label"], cells="all")


@pytest.mark.parametrize(
    "call",
    [
        lambda a: sag.get.shap_df(a),
        lambda a: sag.get.metrics_df(a),
        lambda a: sag.pl.confusion_matrix(a, show=False),
        lambda a: sag.pl.search_history(a, show=False),
        lambda a: sag.pl.importance(a, show=False),
        lambda a: sag.pl.shap_summary(a, show=False),
        lambda a: sag.pl.regression(a, show=False),
        lambda a: sag.pl.embedding(a, show=False),
        lambda a: sag.tl.embedding_scores(a, "X_e", "label"),
        lambda a: sag.io.write_report(a, "r.html"),
    ],
    ids=[
        "get.shap_df",
        "get.metrics_df",
        "pl.confusion_matrix",
        "pl.search_history",
        "pl.importance",
        "pl.shap_summary",
        "pl.regression",
        "pl.embedding",
        "tl.embedding_scores",
        "io.write_report",
    ],
)
@pytest.mark.parametrize("bad", [None, pd.DataFrame({"label": ["a"]})], ids=["None", "DataFrame"])
def test_readers_refuse_what_is_no_anndata_as_the_tools_do(call, bad, tmp_path, monkeypatch):
    """The readers of the tools' records (sag.get, the plots, embedding_scores, the report)
    said "'NoneType' object has no attribute 'uns'"; they give the tools' error first."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TypeError, match=rf"^Expected an AnnData, got {type(bad).__name__}\.$"):
        call(bad)
    assert list(tmp_path.iterdir()) == []  # no report written


def test_a_mudata_is_refused_with_the_modality_hint_by_every_tool():
    """A MuData where an AnnData is taken: the tools' TypeError, which names one modality as
    what to pass; embed and encode checked their outputs first and failed deep inside
    ("argument of type 'NoneType' is not iterable", MuData's layers being None)."""
    md = pytest.importorskip("mudata")

    adata = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=2, seed=0)
    try:  # mudata 0.3's FutureWarning otherwise
        quiet = md.set_options(pull_on_update=False)
    except (AttributeError, ValueError):  # mudata < 0.3 or >= 0.4: no such option
        quiet = contextlib.nullcontext()
    with quiet:
        mdata = md.MuData({"rna": adata})
    model = sag.tl.classify(adata, "label", n_trials=1, time_budget=None)
    calls = [
        lambda: sag.tl.classify(mdata, "label"),
        lambda: sag.tl.embed(mdata),
        lambda: sag.tl.encode(mdata, model),
        lambda: sag.tl.predict(mdata, model),
    ]
    for call in calls:
        with pytest.raises(TypeError, match=r"^Expected an AnnData, got MuData; pass one "):
            call()


def test_an_anndata_read_lazily_is_refused_before_any_work(tmp_path):
    """anndata.experimental.read_lazy gives obs as an xarray Dataset2D, which every obs read
    failed on deep inside (classify: "DataArray.dropna() missing ... 'dim'"), and
    sag.pl.embedding after writing its UMAP. The first check names to_memory()."""
    import anndata as ad

    read_lazy = getattr(ad.experimental, "read_lazy", None)
    if read_lazy is None:
        pytest.skip("anndata has no read_lazy")
    pytest.importorskip("xarray")
    adata = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=2, seed=0)
    adata.obsm["X_sag_resvae"] = np.zeros((60, 2), dtype=np.float32)
    adata.write_h5ad(tmp_path / "a.h5ad")
    lazy = read_lazy(tmp_path / "a.h5ad")
    calls = [
        lambda: sag.tl.classify(lazy, "label"),
        lambda: sag.tl.embedding_scores(lazy, "X_sag_resvae", "label"),
        lambda: sag.pl.embedding(lazy, show=False),
    ]
    for call in calls:
        with pytest.raises(TypeError, match=r"read lazily .*adata = adata\.to_memory\(\)"):
            call()
    assert list(lazy.obsm.keys()) == ["X_sag_resvae"]


def test_arguments_found_by_fuzzing_get_clear_errors(adata, tmp_path, monkeypatch):
    """Found by calling every public function with a table of bad values: a raw
    AttributeError (a report's title=1, train_params='x'), an empty path taken as the working
    folder (model_dir='' saved the model there), a str split into its letters (genes='TP53'
    read genes 'T', 'P', '5', '3'), a falsy mode= taken as the default, an integer label_key
    that write_h5ad then refused."""
    from scautogenome.tools import _classify

    def no_work(*args, **kwargs):
        raise AssertionError("the data were prepared")

    monkeypatch.chdir(tmp_path)
    before = snapshot(adata)
    trained = sag.datasets.synthetic(n_obs=120, n_vars=40, n_classes=3, seed=0)
    sag.tl.classify(trained, "label", n_trials=1, config={"trainer": {"max_epochs": 2}})
    with pytest.raises(TypeError, match=r"^title=1 must be a str"):
        sag.io.write_report(trained, tmp_path / "r.html", title=1)
    for bad in ("x", -1, [1]):
        with pytest.raises(TypeError, match=r"^train_params=.* must be a dict"):
            sag.models.Classifier({"kind": "mlp", "units": [8]}, train_params=bad).fit(
                trained, "label"
            )
    with pytest.raises(TypeError, match=r"^train_params='' must be a dict"):
        sag.models.ResVAE(train_params="").fit(trained)
    monkeypatch.setattr(_classify, "prepare_labelled", no_work)
    for empty in ("", "  "):
        with pytest.raises(ValueError, match=r"^model_dir=.* is an empty path"):
            sag.tl.classify(adata, "label", model_dir=empty)
    for falsy in ("", 0, False, []):
        with pytest.raises((ValueError, TypeError), match=r"^mode="):
            sag.tl.classify(adata, "label", mode=falsy)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    check_untouched(adata, before)


def test_readers_take_one_name_as_one_and_check_label_key(tmp_path):
    """genes='TP53' (and samples=, sample_types='01') were split into their letters; an
    integer label_key made an obs column write_h5ad refused."""
    maf = tmp_path / "x.maf"
    maf.write_text(
        "Hugo_Symbol\tTumor_Sample_Barcode\tVariant_Classification\n"
        "TP53\tTCGA-AA-0001-01A\tMissense_Mutation\n"
        "KRAS\tTCGA-AA-0002-01A\tMissense_Mutation\n"
    )
    a = sag.io.read_maf(maf, genes="TP53")
    assert list(a.var_names) == ["TP53"]
    assert a.X.sum() == 1
    with pytest.raises(TypeError, match=r"^label_key=0 must be a str"):
        sag.io.read_maf({"BRCA": maf}, label_key=0)
    expr = tmp_path / "e.tsv"
    expr.write_text("gene\tTCGA-AA-0001-01A\tTCGA-AA-0002-11A\nTP53\t1.0\t2.0\nKRAS\t3.0\t4.0\n")
    b = sag.io.read_tcga(expr, sample_types="01")
    assert list(b.obs_names) == ["TCGA-AA-0001-01A"]
    with pytest.raises(TypeError, match=r"^label_key=0 must be a str"):
        sag.io.read_tcga(expr, label_key=0)


def test_a_choice_given_as_an_array_and_a_key_named_as_the_argument(adata):
    """mode=, value_type=, task=, likelihood= and method= given as an array failed with
    numpy's 'truth value of an array is ambiguous'; a bad classify_key was named as an uns
    key; a config's mode as the argument mode=."""
    before = snapshot(adata)
    arr = np.array(["mlp", "resnet"])
    for kw in ({"mode": arr}, {"value_type": arr}, {"task": ["auto"]}):
        (name,) = kw
        with pytest.raises(TypeError, match=rf"^{name}=.* must be a str naming one of the"):
            sag.tl.classify(adata, "label", **kw)
    for kw in ({"mode": arr}, {"likelihood": arr}):
        (name,) = kw
        with pytest.raises(TypeError, match=rf"^{name}=.* must be a str naming one of the"):
            sag.tl.embed(adata, **kw)
    with pytest.raises(ValueError, match=r"^config\['mode'\]='x' must be one of"):
        sag.tl.classify(adata, "label", config={"mode": "x"})
    check_untouched(adata, before)
    trained = sag.datasets.synthetic(n_obs=120, n_vars=40, n_classes=3, seed=0)
    model = sag.tl.classify(trained, "label", n_trials=1, config={"trainer": {"max_epochs": 2}})
    with pytest.raises(TypeError, match=r"^method=.* must be a str naming one of"):
        sag.tl.explain(trained, model, method=np.array(["fast"]))
    with pytest.raises(KeyError, match=r"classify_key='nope': adata\.uns\['nope'\] is not"):
        sag.tl.explain(trained, model, classify_key="nope")
    with pytest.raises(TypeError, match=r"^classify_key=0 must be a str"):
        sag.tl.explain(trained, model, classify_key=0)


def test_a_reader_or_plot_choice_given_as_an_array_is_named(tmp_path):
    """split=, orientation=, sparse=, level=, join= and errors= given as an array or a list
    failed inside the membership test ("truth value of an array is ambiguous", "unhashable
    type") with no argument named."""
    table = tmp_path / "t.csv"
    table.write_text("gene,c1,c2\nA,1,2\nB,3,4\n")
    arr = np.array(["genes_x_samples"])
    with pytest.raises(ValueError, match=r"^orientation=array"):
        sag.io.read_table(table, orientation=arr)
    with pytest.raises(ValueError, match=r"^sparse=\['auto'\] must be"):
        sag.io.read_table(table, sparse=["auto"])
    with pytest.raises(ValueError, match=r"^errors=array"):
        sag.io.parse_tcga_barcode("TCGA-AA-0001-01A", errors=np.array(["raise"]))
    with pytest.raises(ValueError, match=r"^join=\['inner'\] must be"):
        sag.io.read_tcga(table, join=["inner"])
    maf = tmp_path / "x.maf"
    maf.write_text("Hugo_Symbol\tTumor_Sample_Barcode\tVariant_Classification\n")
    with pytest.raises(ValueError, match=r"^level=\{'barcode': 1\} must be one of"):
        sag.io.read_maf(maf, level={"barcode": 1})
    a = sag.datasets.synthetic(n_obs=120, n_vars=40, n_classes=3, seed=0)
    sag.tl.classify(a, "label", n_trials=1, config={"trainer": {"max_epochs": 2}})
    with pytest.raises(ValueError, match=r"^split=array"):
        sag.pl.confusion_matrix(a, split=np.array(["test"]), show=False)


def test_a_model_given_as_its_folder_is_pointed_to_load(adata, tmp_path):
    """predict, explain and encode take a model object; the path of a saved one (as the CLI's
    --model takes) is refused, before any work, with the line that loads it."""
    before = snapshot(adata)
    folder = str(tmp_path / "runs" / "m")
    for tool, load in (
        (sag.tl.predict, r"sag\.models\.Classifier\.load\('.*runs/m'\)"),
        (sag.tl.explain, r"sag\.models\.Classifier\.load\('.*runs/m'\)"),
        (sag.tl.encode, r"sag\.models\.ResVAE\.load\('.*runs/m'\)"),
    ):
        for given in (folder, Path(folder)):
            with pytest.raises(TypeError, match=rf"got {type(given).__name__}.*{load}"):
                tool(adata, given)
    with pytest.raises(TypeError, match=r"got int\.$"):
        sag.tl.predict(adata, 3)
    check_untouched(adata, before)


def test_what_anndata_concat_keeps_of_two_records_is_named_as_such(adata, tiny_config):
    """anndata.concat(uns_merge='same') of a classified reference and a query predicted by its
    model keeps only the entries both records share: refused as before, but not as a dict
    "no sag tool wrote"."""
    import anndata as ad

    model = sag.tl.classify(adata, "label", config=tiny_config, n_trials=1)
    query = adata.copy()
    del query.uns["sag"]
    del query.obs["sag_pred"], query.obs["sag_split"], query.obsm["sag_proba"]
    sag.tl.predict(query, model)
    both = ad.concat([adata, query], uns_merge="same", index_unique="-")
    assert "model_digest" in both.uns["sag"]
    with pytest.raises(ValueError, match=r"uns\['sag'\] holds part of a sag record") as err:
        sag.tl.predict(both, model)
    assert "anndata.concat" in str(err.value)
    assert "no sag tool wrote" not in str(err.value)
