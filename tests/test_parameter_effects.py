"""Parameters that are accepted must have an effect (or be refused, or warned about).

Two kinds of tests:

* every option of the CLI subcommands reaches the argument of the Python API it stands for
  (the API call is replaced by a recorder, so nothing is searched or trained);
* a non-default value of a Python API argument changes what it documents, or is refused with
  a clear error; ``xfail(strict=True)`` marks the arguments that are accepted and silently
  dropped (bugs, see their reasons).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import scautogenome as sag
from scautogenome.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MLP = {"kind": "mlp", "units": [8]}
VAE = {"kind": "vae", "n_latent": 2, "widths": [8]}


class Stop(Exception):
    """Raised by a recorder in place of a tool: the CLI does not catch it, so the test stops
    right after the call it inspects."""


def recorder(calls: dict, name: str):
    """A stand-in for ``sag.tl.<name>`` that records its arguments (and the settings the CLI
    set for the command) and stops."""

    def record(*args, **kwargs):
        calls[name] = {
            "args": args,
            "kwargs": kwargs,
            "device": sag.settings.device,
            "n_threads": sag.settings.n_threads,
        }
        raise Stop

    return record


@pytest.fixture
def h5ad(tmp_path, adata):
    """The synthetic cells as an .h5ad file, with a counts layer, a split column, a batch
    column, a second label column and a column of gene symbols."""
    adata.layers["counts"] = adata.X.copy()
    split = np.array(["train"] * 240 + ["val"] * 30 + ["test"] * 30)
    adata.obs["my_split"] = pd.Categorical(split)
    adata.obs["plate"] = pd.Categorical(np.tile(["p1", "p2"], adata.n_obs // 2))
    adata.obs["label2"] = adata.obs["label"].astype(str)
    adata.var["symbol"] = [f"S{g}" for g in adata.var_names]
    path = tmp_path / "in.h5ad"
    adata.write_h5ad(path)
    return path


@pytest.fixture
def saved_classifier(tmp_path, adata):
    model = sag.models.Classifier(MLP, {"max_epochs": 1}).fit(adata, "label")
    return model.save(tmp_path / "clf")


@pytest.fixture
def saved_vae(tmp_path, adata):
    model = sag.models.ResVAE(VAE, {"max_epochs": 1}).fit(adata)
    return model.save(tmp_path / "vae")


# -- the CLI's options reach the API ----------------------------------------------------------
def test_cli_classify_options_reach_classify(monkeypatch, tmp_path, h5ad):
    calls: dict = {}
    monkeypatch.setattr(sag.tl, "classify", recorder(calls, "classify"))
    config = json.dumps({"trainer": {"max_epochs": 2}})
    argv = [
        "classify", str(h5ad), "--labels", "label2", "--out", str(tmp_path / "out"),
        "--mode", "resnet", "--split-key", "my_split", "--group-key", "none",
        "--metric", "accuracy", "--min-cells-per-class", "4", "--value-type", "counts",
        "--task", "classification", "--n-trials", "2", "--time-budget", "30",
        "--config", config, "--study-name", "mine", "--seed", "7", "--key-added", "kk",
        "--layer", "counts", "--device", "cpu", "--threads", "1", "--quiet",
    ]  # fmt: skip
    with pytest.raises(Stop):
        main(argv)
    call = calls["classify"]
    assert call["args"][1] == "label2"
    expected = {
        "mode": "resnet",
        "split_key": "my_split",
        "group_key": None,
        "metric": "accuracy",
        "min_cells_per_class": 4,
        "value_type": "counts",
        "task": "classification",
        "n_trials": 2,
        "time_budget": 30.0,
        "config": config,
        "study_name": "mine",
        "seed": 7,
        "key_added": "kk",
        "layer": "counts",
    }
    assert {k: call["kwargs"][k] for k in expected} == expected
    assert (call["device"], call["n_threads"]) == ("cpu", 1)


def test_cli_predict_options_reach_predict(monkeypatch, tmp_path, h5ad, saved_classifier):
    calls: dict = {}
    monkeypatch.setattr(sag.tl, "predict", recorder(calls, "predict"))
    argv = [
        "predict", str(h5ad), "--model", str(saved_classifier), "--out", str(tmp_path / "p.h5ad"),
        "--layer", "counts", "--min-gene-overlap", "0.25", "--gene-symbols", "symbol",
        "--min-confidence", "0.7", "--key-added", "q", "--quiet",
    ]  # fmt: skip
    with pytest.raises(Stop):
        main(argv)
    expected = {
        "layer": "counts",
        "min_gene_overlap": 0.25,
        "gene_symbols": "symbol",
        "min_confidence": 0.7,
        "key_added": "q",
    }
    kwargs = calls["predict"]["kwargs"]
    assert {k: kwargs[k] for k in expected} == expected


def test_cli_explain_options_reach_explain(monkeypatch, tmp_path, h5ad, saved_classifier):
    calls: dict = {}
    monkeypatch.setattr(sag.tl, "explain", recorder(calls, "explain"))
    argv = [
        "explain", str(h5ad), "--model", str(saved_classifier), "--out", str(tmp_path / "e.h5ad"),
        "--cells", "val", "--split-key", "my_split", "--groupby", "label2", "--n-explain", "11",
        "--n-background", "12", "--nsamples", "13", "--n-top", "14", "--method", "shap",
        "--min-gene-overlap", "0.3", "--gene-symbols", "symbol", "--classify-key", "ck",
        "--key-added", "shap2", "--layer", "counts", "--seed", "5", "--quiet",
    ]  # fmt: skip
    with pytest.raises(Stop):
        main(argv)
    expected = {
        "cells": "val",
        "split_key": "my_split",
        "groupby": "label2",
        "n_explain": 11,
        "n_background": 12,
        "nsamples": 13,
        "n_top": 14,
        "method": "shap",
        "min_gene_overlap": 0.3,
        "gene_symbols": "symbol",
        "classify_key": "ck",
        "key_added": "shap2",
        "layer": "counts",
        "seed": 5,
    }
    kwargs = calls["explain"]["kwargs"]
    assert {k: kwargs[k] for k in expected} == expected


def test_cli_embed_options_reach_embed(monkeypatch, tmp_path, h5ad):
    calls: dict = {}
    monkeypatch.setattr(sag.tl, "embed", recorder(calls, "embed"))
    config = json.dumps({"trainer": {"patience": 3}})
    argv = [
        "embed", str(h5ad), "--out", str(tmp_path / "e.h5ad"), "--mode", "vae",
        "--n-latent", "4", "--likelihood", "gaussian", "--beta", "2.5", "--max-epochs", "3",
        "--value-type", "continuous", "--recon", "--batch-key", "plate", "--key-added", "lat",
        "--n-trials", "2", "--time-budget", "40", "--config", config, "--study-name", "es",
        "--layer", "counts", "--seed", "9", "--quiet",
    ]  # fmt: skip
    with pytest.raises(Stop):
        main(argv)
    expected = {
        "mode": "vae",
        "n_latent": 4,
        "likelihood": "gaussian",
        "beta": 2.5,
        "max_epochs": 3,
        "value_type": "continuous",
        "recon": True,
        "batch_key": "plate",
        "key_added": "lat",
        "n_trials": 2,
        "time_budget": 40.0,
        "config": config,
        "study_name": "es",
        "layer": "counts",
        "seed": 9,
    }
    kwargs = calls["embed"]["kwargs"]
    assert {k: kwargs[k] for k in expected} == expected


def test_cli_embed_model_options_reach_encode(monkeypatch, tmp_path, h5ad, saved_vae):
    calls: dict = {}
    monkeypatch.setattr(sag.tl, "encode", recorder(calls, "encode"))
    argv = [
        "embed", str(h5ad), "--model", str(saved_vae), "--out", str(tmp_path / "e.h5ad"),
        "--recon", "--min-gene-overlap", "0.4", "--gene-symbols", "symbol",
        "--batch-key", "plate", "--transform-batch", "p1", "--key-added", "q",
        "--layer", "counts", "--quiet",
    ]  # fmt: skip
    with pytest.raises(Stop):
        main(argv)
    expected = {
        "recon": True,
        "min_gene_overlap": 0.4,
        "gene_symbols": "symbol",
        "batch_key": "plate",
        "transform_batch": "p1",
        "key_added": "q",
        "layer": "counts",
    }
    kwargs = calls["encode"]["kwargs"]
    assert {k: kwargs[k] for k in expected} == expected


def test_cli_embed_labels_options_reach_embedding_scores(monkeypatch, tmp_path, h5ad, saved_vae):
    """--labels, --leiden-seeds, --seed and --batch-key reach embedding_scores (after the
    latent is made with the saved model)."""
    calls: dict = {}
    monkeypatch.setattr(sag.tl, "embedding_scores", recorder(calls, "embedding_scores"))
    argv = [
        "embed", str(h5ad), "--model", str(saved_vae), "--out", str(tmp_path / "e.h5ad"),
        "--labels", "label", "--leiden-seeds", "2", "--seed", "3", "--batch-key", "plate",
        "--key-added", "q", "--quiet",
    ]  # fmt: skip
    with pytest.raises(Stop):
        main(argv)
    call = calls["embedding_scores"]
    assert call["args"][1:] == ("X_q", "label")
    expected = {"leiden_seeds": 2, "seed": 3, "batch_key": "plate", "key_added": "q"}
    assert {k: call["kwargs"][k] for k in expected} == expected


def test_cli_worker_options_reach_the_prepared_data(monkeypatch, tmp_path, h5ad):
    """A worker prepares the cells as classify does: its split, group, class-size, task,
    value-type, layer and seed options reach prepare_labelled (stopped there)."""
    import scautogenome.data
    import scautogenome.models
    import scautogenome.tools

    # (the modules above bind the real prepare_labelled before it is patched)

    calls: dict = {}
    monkeypatch.setattr(scautogenome.data, "prepare_labelled", recorder(calls, "prepare"))
    argv = [
        "worker", str(h5ad), "--labels", "label2", "--storage", f"sqlite:///{tmp_path / 'w.db'}",
        "--study", "w", "--split-key", "my_split", "--group-key", "plate",
        "--min-cells-per-class", "4", "--task", "classification", "--value-type", "counts",
        "--layer", "counts", "--seed", "6", "--device", "cpu", "--quiet",
    ]  # fmt: skip
    with pytest.raises(Stop):
        main(argv)
    call = calls["prepare"]
    assert call["args"][1] == "label2"
    expected = {
        "split_key": "my_split",
        "group_key": "plate",
        "min_cells_per_class": 4,
        "task": "classification",
        "value_type": "counts",
        "layer": "counts",
        "seed": 6,
    }
    assert {k: call["kwargs"][k] for k in expected} == expected
    assert call["device"] == "cpu"


def _quick_classify_argv(h5ad, tmp_path, *extra):
    config = {
        "mode": "mlp",
        "budget": {"n_trials": 1, "time_budget": None},
        "search": {"initial_trials": "none"},
        "trainer": {"max_epochs": 2, "patience": 1, "min_epochs": 1},
    }
    out = tmp_path / "run"
    argv = ["classify", str(h5ad), "--labels", "label", "--out", str(out)]
    return [*argv, "--config", json.dumps(config), "--quiet", *extra], out


def test_cli_classify_key_added_with_explain_writes_report(h5ad, tmp_path):
    argv, out = _quick_classify_argv(h5ad, tmp_path, "--key-added", "kk")
    assert main(argv) == 0
    assert (out / "report.html").is_file()
    import anndata as ad

    uns = ad.read_h5ad(out / "annotated.h5ad").uns
    assert "kk" in uns
    assert "kk_shap" in uns
    assert "sag" not in uns


def test_cli_classify_key_added_without_explain_writes_report(h5ad, tmp_path):
    argv, out = _quick_classify_argv(h5ad, tmp_path, "--key-added", "kk", "--no-explain")
    assert main(argv) == 0
    assert (out / "report.html").is_file()


# -- the models' arguments ---------------------------------------------------------------------
def test_classifier_fit_metric_judges_the_epochs(adata):
    """fit(metric=) is the validation score recorded and early-stopped on."""
    scores = {
        metric: sag.models.Classifier(MLP, {"max_epochs": 2})
        .fit(adata, "label", metric=metric)
        .history_[-1]["val_score"]
        for metric in ("accuracy", "roc_auc")
    }
    assert scores["accuracy"] != scores["roc_auc"]


def test_regressor_fit_metric_judges_the_epochs(adata):
    adata.obs["t"] = np.random.default_rng(0).normal(size=adata.n_obs)
    scores = {
        metric: sag.models.Regressor(MLP, {"max_epochs": 2})
        .fit(adata, "t", metric=metric)
        .history_[-1]["val_score"]
        for metric in ("r2", "spearman")
    }
    assert scores["r2"] != scores["spearman"]
    with pytest.raises(ValueError, match="macro_f1"):
        sag.models.Regressor(MLP, {"max_epochs": 1}).fit(adata, "t", metric="macro_f1")


def test_classifier_fit_group_key_keeps_groups_together(adata):
    adata.obs["donor"] = np.repeat([f"d{i}" for i in range(30)], 10)
    model = sag.models.Classifier(MLP, {"max_epochs": 1}).fit(adata, "label", group_key="donor")
    parts = pd.DataFrame({"donor": adata.obs["donor"], "part": model.split_.astype(str)})
    assert parts.groupby("donor")["part"].nunique().max() == 1
    ungrouped = sag.models.Classifier(MLP, {"max_epochs": 1}).fit(adata, "label", group_key=None)
    parts["part"] = ungrouped.split_.astype(str)
    assert parts.groupby("donor")["part"].nunique().max() > 1


def test_fit_value_type_and_seed_have_effect(adata):
    cont = sag.models.Classifier(MLP, {"max_epochs": 1}).fit(
        adata, "label", value_type="continuous"
    )
    assert cont.transform_.value_type == "continuous"
    auto = sag.models.Classifier(MLP, {"max_epochs": 1}).fit(adata, "label", seed=1)
    assert auto.transform_.value_type == "counts"
    other = sag.models.Classifier(MLP, {"max_epochs": 1}).fit(adata, "label", seed=2)
    assert (auto.split_ != other.split_).any()


def test_batch_size_does_not_change_predictions(adata):
    model = sag.models.Classifier(MLP, {"max_epochs": 1}).fit(adata, "label")
    np.testing.assert_allclose(
        model.predict_proba(adata, batch_size=7), model.predict_proba(adata), atol=1e-6
    )
    with pytest.raises(ValueError, match="batch_size"):
        model.predict_proba(adata.X, batch_size=0)


def test_query_layer_of_an_anndata_is_read(adata):
    """layer= of an AnnData query is what is read: a missing one is an error, another one
    gives other outputs."""
    model = sag.models.Classifier(MLP, {"max_epochs": 1}).fit(adata, "label")
    with pytest.raises(KeyError):
        model.predict_proba(adata, layer="nonexistent")
    adata.layers["other"] = adata.X[:, ::-1].copy()  # each cell's counts on other genes
    assert not np.allclose(model.predict_proba(adata, layer="other"), model.predict_proba(adata))


def test_query_layer_of_a_dataframe_is_refused(adata):
    model = sag.models.Classifier(MLP, {"max_epochs": 1}).fit(adata, "label")
    frame = pd.DataFrame(adata.X.toarray(), columns=adata.var_names)
    with pytest.raises(ValueError, match="needs an AnnData"):
        model.predict(frame, layer="counts")


@pytest.mark.parametrize("method", ["predict", "predict_proba", "decision_function"])
def test_query_layer_of_a_matrix_is_refused(adata, method):
    model = sag.models.Classifier(MLP, {"max_epochs": 1}).fit(adata, "label")
    with pytest.raises(ValueError, match="layer"):
        getattr(model, method)(adata.X.toarray(), layer="nonexistent")


@pytest.mark.parametrize("method", ["get_latent", "reconstruct"])
def test_resvae_query_layer_of_a_matrix_is_refused(adata, method):
    model = sag.models.ResVAE(VAE, {"max_epochs": 1}).fit(adata)
    with pytest.raises(ValueError, match="layer"):
        getattr(model, method)(adata.X.toarray(), layer="nonexistent")


def test_min_gene_overlap_is_checked_for_an_anndata(adata):
    model = sag.models.Classifier(MLP, {"max_epochs": 1}).fit(adata, "label")
    with pytest.raises(ValueError, match="min_gene_overlap"):
        model.predict(adata, min_gene_overlap=5.0)


@pytest.mark.parametrize("value", [5.0, -1, "x"])
def test_min_gene_overlap_is_checked_for_a_matrix(adata, value):
    model = sag.models.Classifier(MLP, {"max_epochs": 1}).fit(adata, "label")
    with pytest.raises((ValueError, TypeError), match="min_gene_overlap"):
        model.predict(adata.X.toarray(), min_gene_overlap=value)


def test_classifier_class_balance_has_effect(adata):
    """class_balance changes a classifier's training (the weights it learns)."""
    probas = [
        sag.models.Classifier(MLP, {"max_epochs": 2, "class_balance": balance})
        .fit(adata[:200].copy(), "label")
        .predict_proba(adata)
        for balance in ("none", "sampler")
    ]
    assert not np.allclose(*probas)


def test_regressor_class_balance_is_refused_or_warned(adata, sag_caplog):
    adata.obs["t"] = np.random.default_rng(0).normal(size=adata.n_obs)
    reg = sag.models.Regressor(MLP, {"max_epochs": 1, "class_balance": "sampler"})
    try:
        reg.fit(adata, "t")
    except (ValueError, TypeError) as e:
        message = str(e)
    else:
        message = sag_caplog.text
    assert "class_balance" in message


def test_resvae_fit_batch_key_conditions_the_decoder(adata):
    adata.obs["plate"] = pd.Categorical(np.tile(["p1", "p2"], adata.n_obs // 2))
    model = sag.models.ResVAE(VAE, {"max_epochs": 1}).fit(adata, batch_key="plate")
    assert model.architecture_["n_batch"] == 2
    own = model.reconstruct(adata)
    as_p1 = model.reconstruct(adata, transform_batch="p1")
    assert not np.allclose(own, as_p1)
    plain = sag.models.ResVAE(VAE, {"max_epochs": 1}).fit(adata)
    with pytest.raises(ValueError, match="without batches"):
        plain.reconstruct(adata, transform_batch="p1")


# -- tools -------------------------------------------------------------------------------------
def test_predict_min_confidence_calls_unassigned(adata):
    model = sag.models.Classifier(MLP, {"max_epochs": 1}).fit(adata, "label")
    sag.tl.predict(adata, model, min_confidence=1.0)
    assert set(adata.obs["sag_pred"].astype(str)) == {"Unassigned"}
    assert adata.uns["sag"]["predict_params"]["min_confidence"] == 1.0
    sag.tl.predict(adata, model)
    assert "Unassigned" not in set(adata.obs["sag_pred"].astype(str))


def test_encode_recon_and_key_added_have_effect(adata):
    model = sag.models.ResVAE(VAE, {"max_epochs": 1}).fit(adata)
    sag.tl.encode(adata, model, key_added="q")
    assert "X_q" in adata.obsm
    assert "q_recon" not in adata.layers
    sag.tl.encode(adata, model, key_added="q", recon=True)
    assert adata.layers["q_recon"].shape == adata.shape
    with pytest.raises(ValueError, match="recon=True"):
        sag.tl.encode(adata, model, key_added="q", transform_batch="p1")


@pytest.fixture
def predicted_and_explained(adata):
    """Predictions and their explanation under keys of their own ("kk", "kk_shap": the
    pair classify --key-added kk writes)."""
    model = sag.models.Classifier(MLP, {"max_epochs": 1}).fit(adata, "label")
    sag.tl.predict(adata, model, key_added="kk")
    sag.tl.explain(adata, model, n_explain=20, nsamples=10, key_added="kk_shap")
    return adata


def test_write_report_shap_key_shows_the_explanation(predicted_and_explained, tmp_path):
    html = sag.io.write_report(
        predicted_and_explained, tmp_path / "r.html", key="kk", shap_key="kk_shap"
    ).read_text()
    assert "SHAP" in html


def test_write_report_key_finds_its_explanation(predicted_and_explained, tmp_path, sag_caplog):
    html = sag.io.write_report(predicted_and_explained, tmp_path / "r.html", key="kk").read_text()
    assert "SHAP" in html or "kk_shap" in sag_caplog.text


# -- plots -------------------------------------------------------------------------------------
def test_architecture_show_candidates_draws_more_arcs_for_rrfcn():
    import matplotlib.patches as mpatches

    arch = {"kind": "rrfcn", "widths": [16, 16, 16, 16], "skips": [[], [], [0], [1]]}
    arch.update(n_inputs=20, n_outputs=3)
    plain = sag.pl.architecture(arch, show=False)
    with_candidates = sag.pl.architecture(arch, show=False, show_candidates=True)

    def n_arcs(ax):
        return sum(isinstance(p, mpatches.FancyArrowPatch) for p in ax.patches)

    assert n_arcs(with_candidates) > n_arcs(plain)


def test_architecture_show_candidates_of_another_kind_is_warned(sag_caplog):
    arch = {"kind": "mlp", "units": [8, 4], "n_inputs": 20, "n_outputs": 3}
    sag.pl.architecture(arch, show=False, show_candidates=True)
    assert "show_candidates" in sag_caplog.text


@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_embedding_n_neighbors_of_a_tsne_is_warned(sag_caplog, method):
    import anndata as ad

    rng = np.random.default_rng(0)
    a = ad.AnnData(np.zeros((40, 3), dtype=np.float32))
    a.obsm["X_e"] = rng.normal(size=(40, 4)).astype(np.float32)
    sag.pl.embedding(a, "X_e", method=method, show=False)  # the default: no word
    assert "n_neighbors" not in sag_caplog.text
    sag.pl.embedding(a, "X_e", method=method, n_neighbors=5, recompute=True, show=False)
    assert ("n_neighbors" in sag_caplog.text) == (method == "tsne")
