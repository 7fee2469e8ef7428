"""A numeric target: sag.tl.classify(task="regression"), the Regressor, predict and explain."""

from __future__ import annotations

import copy
import hashlib
import json
import re

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import torch
from conftest import TINY_CONFIG
from test_bad_input import check_untouched, snapshot

import scautogenome as sag
from scautogenome.data import prepare_labelled, resolve_task
from scautogenome.train import (
    TrainParams,
    regression_report,
    regression_score,
    train_regressor,
)

MLP = {"kind": "mlp", "units": [32]}
FIT = {"max_epochs": 25, "patience": 6, "batch_size": 64}


def with_target(adata, seed: int = 0):
    """``adata`` with ``obs['age']``: an affine function of the log-normalized expression of
    genes 0-4 plus noise (a real signal in the genes, in units far from 0-1)."""
    norm = adata.copy()
    sc.pp.normalize_total(norm, target_sum=1e4)
    sc.pp.log1p(norm)
    expr = np.asarray(norm.X[:, :5].todense()).mean(1)
    rng = np.random.default_rng(seed)
    adata.obs["age"] = 40 + 10 * expr + rng.normal(0, 0.5, adata.n_obs)
    return adata


@pytest.fixture(scope="module")
def run():
    """One regression classify run (the AnnData it annotated and the model), shared."""
    sag.settings.verbosity = 1
    sag.settings.progress_bar = False
    sag.settings.device = "cpu"
    adata = with_target(sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0))
    model = sag.tl.classify(adata, "age", config=copy.deepcopy(TINY_CONFIG), seed=0)
    return adata, model


# -- which task ---------------------------------------------------------------------------------
def test_auto_task_reads_it_off_the_column():
    rng = np.random.default_rng(0)
    many = pd.Series(rng.normal(size=200))
    assert resolve_task(many, "x", "auto") == "regression"
    assert resolve_task(many.round().astype(int) + 1000 * np.arange(200), "x") == "regression"
    assert resolve_task(pd.Series([0, 24, 48, 72] * 10), "t") == "classification"
    assert resolve_task(many.astype("category"), "x") == "classification"
    assert resolve_task(pd.Series([True, False] * 60), "b") == "classification"
    assert resolve_task(pd.Series(["a", "b"] * 60), "s") == "classification"
    # asked for: a few time points are a number to predict, text that reads as numbers too
    assert resolve_task(pd.Series([0, 24, 48, 72] * 10), "t", "regression") == "regression"
    assert resolve_task(pd.Series(["0", "24", np.nan] * 5), "t", "regression") == "regression"
    with pytest.raises(ValueError, match=r"numbers in obs\['t'\].*'day0'"):
        resolve_task(pd.Series(["day0", "day2"] * 10), "t", "regression")
    with pytest.raises(ValueError, match="boolean"):
        resolve_task(pd.Series([True, False] * 10), "b", "regression")
    with pytest.raises(ValueError, match="task='guess' must be one of"):
        resolve_task(many, "x", "guess")


def test_auto_task_predicts_the_number_of_values_that_are_not_whole(sag_caplog):
    """A numeric column of fractional values (a pseudotime rounded to 0.1, a score) is a
    number to predict whatever its count of distinct values, as scikit-learn's
    type_of_target and AutoGluon read it: 31 such values made 31 classes of a few cells."""
    rng = np.random.default_rng(0)
    pseudotime = pd.Series(np.round(rng.random(300) * 3, 1))
    assert pseudotime.nunique() <= 50
    assert resolve_task(pseudotime, "pt") == "regression"
    assert "not all whole numbers" in sag_caplog.text
    assert resolve_task(pd.Series([0.5, 1.5, np.nan] * 20), "dose") == "regression"
    # whole numbers, in a float column too, and NaN among them: classes, as before
    assert resolve_task(pd.Series([0.0, 24.0, 48.0, np.nan] * 10), "t") == "classification"
    assert resolve_task(pd.Series([0.5, 1.5] * 20), "d", "classification") == "classification"


def test_auto_task_warns_of_whole_numbers_that_make_tiny_classes(sag_caplog):
    """46 ages in years on 120 cells: classes of 2-3 cells each, said only at INFO before."""
    ages = pd.Series(np.arange(120) % 46 + 20)
    assert resolve_task(ages, "age") == "classification"
    assert "WARNING" in sag_caplog.text
    assert "46 distinct values, 2.6 cells each on average" in sag_caplog.text
    assert "task='regression'" in sag_caplog.text
    sag_caplog.clear()
    assert resolve_task(pd.Series([0, 24, 48, 72] * 10), "t") == "classification"
    # no value at all: nothing said of classes of 0 cells (the checks of the labels say it)
    assert resolve_task(pd.Series(np.full(120, np.nan)), "y") == "classification"
    assert resolve_task(pd.Series([pd.NA] * 20, dtype="Int64"), "y") == "classification"
    assert "WARNING" not in sag_caplog.text


def test_a_classification_metric_of_an_auto_numeric_target_is_refused_before_any_work(
    adata, monkeypatch
):
    """task="auto" on a column it predicts as a number, with metric="macro_f1": refused after
    the whole data preparation (2.5 s on pbmc3k), where task="regression" was refused at once."""
    from scautogenome.tools import _classify

    def no_work(*args, **kwargs):
        raise AssertionError("the data were prepared")

    monkeypatch.setattr(_classify, "prepare_labelled", no_work)
    adata.obs["age"] = np.linspace(20, 80, adata.n_obs)
    with pytest.raises(ValueError, match="macro_f1"):
        sag.tl.classify(adata, "age", n_trials=1, metric="macro_f1")
    # two columns of that name: the package's own message, not pandas' AttributeError
    monkeypatch.undo()
    adata.obs = pd.concat([adata.obs[["label"]], adata.obs[["label"]]], axis=1)
    with pytest.raises(ValueError, match="2 columns of that name"):
        sag.tl.classify(adata, "label", n_trials=1, metric="macro_f1")


def test_prepare_numeric_split_spans_the_range_and_leaves_missing_values_out(adata):
    adata = with_target(adata)
    adata.obs.loc[adata.obs_names[:7], "age"] = np.nan
    data = prepare_labelled(adata, "age", task="regression", seed=0)
    assert data.task == "regression"
    assert data.n_outputs == 1
    assert data.classes.tolist() == ["age"]
    assert (data.split[:7] == "none").all()
    assert np.isnan(data.y[:7]).all()
    y = adata.obs["age"].to_numpy()
    for part in ("val", "test"):  # stratified on quantile bins: each part spans the range
        values = y[data.split == part]
        assert len(values) >= 25
        assert values.min() < np.nanquantile(y, 0.15)
        assert values.max() > np.nanquantile(y, 0.85)
    # the same seed draws the same split
    again = prepare_labelled(adata, "age", task="regression", seed=0)
    assert np.array_equal(again.split, data.split)


def test_the_fewest_cells_a_numeric_target_trains_on(adata):
    """15 cells with a value split into at least 2 val and 2 test cells; 14 are refused with
    the minimum named. Texts meaning "no value" are missing values, as for classes."""
    adata = with_target(adata)
    y = adata.obs["age"].to_numpy()
    for n, ok in ((14, False), (15, True)):
        sub = adata.copy()
        sub.obs["age"] = np.where(np.arange(sub.n_obs) < n, y, np.nan)
        if not ok:
            with pytest.raises(ValueError, match=r"has 14 cells with a value.*at least 15"):
                prepare_labelled(sub, "age", task="regression")
            continue
        data = prepare_labelled(sub, "age", task="regression")
        assert (data.split == "val").sum() >= 2
        assert (data.split == "test").sum() >= 2
    text = adata.copy()
    text.obs["age"] = np.where(np.arange(text.n_obs) % 10 == 0, "NA", y.astype(str))
    data = prepare_labelled(text, "age", task="regression")
    assert np.isnan(data.y[::10]).all()
    assert (data.split[::10] == "none").all()


def test_regression_with_a_user_split_a_layer_and_dense_values(adata):
    adata = with_target(adata)
    adata.layers["counts"] = adata.X.toarray()  # dense, in a layer
    adata.X = adata.X * 0  # what X holds is not read
    rng = np.random.default_rng(0)
    adata.obs["part"] = rng.choice(["train", "test"], adata.n_obs, p=[0.85, 0.15])
    model = sag.tl.classify(
        adata, "age", layer="counts", split_key="part", config=copy.deepcopy(TINY_CONFIG)
    )
    split = adata.obs["sag_split"].astype(str).to_numpy()
    assert set(split) == {"train", "val", "test"}  # val drawn from train, by quantile bins
    assert (split[adata.obs["part"] == "test"] == "test").all()
    assert adata.uns["sag"]["metrics"]["test"]["r2"] > 0.5
    assert np.allclose(model.predict(adata, layer="counts"), adata.obs["sag_pred"], rtol=1e-5)


def test_rrfcn_by_optuna_predicts_a_numeric_target(adata):
    adata = with_target(adata)
    cfg = {**copy.deepcopy(TINY_CONFIG), "rrfcn": {"strategy": "optuna"}}
    cfg["budget"]["n_trials"] = 1
    model = sag.tl.classify(adata, "age", mode="rrfcn", config=cfg)
    assert model.architecture_["kind"] == "rrfcn"
    assert model.architecture_["n_outputs"] == 1
    assert np.isfinite(adata.uns["sag"]["metrics"]["test"]["r2"])


def test_enas_predicts_a_numeric_target(adata):
    """ENAS trains its shared weights on the standardized target (MSE), rewards the controller
    with 1 - MSE on validation minibatches, ranks candidates by R^2 and retrains the best with
    train_regressor: a Regressor of the target's units."""
    from test_rrfcn import TINY_RRFCN

    adata = with_target(adata)
    model = sag.tl.classify(adata, "age", mode="rrfcn", config=copy.deepcopy(TINY_RRFCN))
    assert isinstance(model, sag.models.Regressor)
    assert model.architecture_["kind"] == "rrfcn"
    trials = adata.uns["sag"]["trials"]
    assert set(trials["state"]) == {"sampled", "ranked", "complete"}
    rewards = trials.loc[trials["state"] == "sampled", "value"].to_numpy()
    assert (rewards >= -1).all()
    assert (rewards <= 1).all()
    assert adata.uns["sag"]["metrics"]["test"]["r2"] > 0.3
    pred = adata.obs["sag_pred"].to_numpy()
    assert abs(pred.mean() - adata.obs["age"].mean()) < adata.obs["age"].std()


def test_regressor_predictions_are_not_rounded_by_mixed_precision(adata, monkeypatch):
    """A Regressor's outputs are in the target's units (birth years: bfloat16 rounds 1970 to a
    multiple of 8), so it predicts in float32 where classifiers use bfloat16 autocast (on
    GPU; simulated here by bfloat16 autocast on the CPU)."""
    from scautogenome.train import _trainer

    adata = with_target(adata)
    adata.obs["year"] = 1930 + adata.obs["age"]
    model = sag.models.Regressor(MLP, FIT).fit(adata, "year", seed=0)
    exact = model.predict(adata)
    monkeypatch.setattr(
        _trainer, "_autocast", lambda device: torch.autocast("cpu", dtype=torch.bfloat16)
    )
    np.testing.assert_allclose(model.predict(adata), exact, rtol=0, atol=1e-3)
    rounded = _trainer.predict_logits(model.module_, model._loader(adata.X, None, 256), "cpu")
    rounded = model.target_mean_ + model.target_std_ * rounded[:, 0].astype(np.float64)
    assert np.abs(rounded - exact).max() > 1e-3  # what bfloat16 would have made of them


class _OnDevice(torch.Tensor):
    """A tensor as if on a GPU without float64 (MPS): converting it to float64 fails, as
    there; ``.cpu()`` gives a plain tensor."""

    def double(self, *args, **kwargs):
        raise AssertionError("float64 on the device")

    def cpu(self, *args, **kwargs):
        return self.as_subclass(torch.Tensor).clone()


class _DeviceOutputs(torch.nn.Module):
    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, x):
        return self.module(x).as_subclass(_OnDevice)


def test_explains_base_value_is_taken_to_float64_off_the_device(adata):
    """explain's base value of a Regressor (its mean prediction on the background) went to
    float64 on the device: MPS has none, so explaining a Regressor failed there at its end."""
    model = sag.models.Regressor(MLP, FIT).fit(with_target(adata), "age", seed=0)
    background = adata.X[:20].toarray() if hasattr(adata.X, "toarray") else adata.X[:20]
    expected = model._base_in_units(background)
    model.module_ = _DeviceOutputs(model.module_)
    np.testing.assert_array_equal(model._base_in_units(background), expected)


def test_predictions_far_from_zero_keep_their_digits(adata):
    """The target's mean and standard deviation stay out of the float32 network: a target
    offset by 1e8 (a timestamp, a coordinate) is predicted as well as the same target
    near 0, the offset added in float64 (folded into the last layer, float32 kept steps of 8)."""
    adata = with_target(adata)
    adata.obs["far"] = adata.obs["age"] + 1e8
    far = sag.models.Regressor(MLP, FIT).fit(adata, "far", seed=0)
    data = prepare_labelled(adata, "far", task="regression", seed=0, writes=False)
    train = data.y[data.rows("train")]
    assert far.target_mean_ == pytest.approx(train.mean(), abs=1e-6)
    assert far.target_std_ == pytest.approx(train.std())
    pred = far.predict(adata)
    # a float32 output near 1e8 moves in steps of 8: a handful of values for the ages' spread
    assert len(np.unique(pred)) > adata.n_obs // 2
    assert np.corrcoef(pred, adata.obs["far"])[0, 1] > 0.8
    # the same network near 0 predicts the same values, less the offset
    near = copy.deepcopy(far)
    near.target_mean_ -= 1e8
    np.testing.assert_allclose(pred - 1e8, near.predict(adata), rtol=0, atol=1e-6)
    # explain's base value is the mean prediction of the background in float64 (float32 kept
    # steps of 8), so that base + a cell's SHAP values add up to its prediction; the values
    # themselves carry no offset
    every_cell = {"n_explain": adata.n_obs, "n_background": adata.n_obs, "nsamples": 64}
    ex = adata.copy()
    values = sag.tl.explain(ex, far, cells="all", seed=0, return_values=True, **every_cell)
    base = ex.uns["sag_shap"]["base_values"]
    assert base.dtype == np.float64
    assert base[0] == pytest.approx(pred.mean(), abs=1e-4)
    near_values = sag.tl.explain(
        adata.copy(), near, cells="all", seed=0, return_values=True, **every_cell
    )
    np.testing.assert_allclose(values, near_values, rtol=0, atol=1e-5)  # no offset in them


def test_a_regressor_saved_with_its_head_folded_loads_and_predicts_the_same(
    adata, tmp_path, monkeypatch
):
    """A model saved by an earlier version folded the target's mean and standard deviation
    into its last layer and has no target_mean/target_std in model.json: it outputs the
    target's units itself, and keeps the weights digest its classify run recorded."""
    from scautogenome.models._base import read_model_dir, write_model_dir

    adata = with_target(adata)
    model = sag.models.Regressor(MLP, FIT).fit(adata, "age", seed=0)
    pred = model.predict(adata)
    model.save(tmp_path / "new")
    meta, tensors = read_model_dir(tmp_path / "new", "Regressor")
    assert meta["target_mean"] == model.target_mean_
    assert meta["target_std"] == model.target_std_
    # beside the network's weights, a tensor no network has: an earlier version's reader
    # (which knows no such marker) refuses the folder rather than read the standardized
    # output as the target's units
    assert tensors["net.target_scale"].tolist() == [model.target_mean_, model.target_std_]
    with monkeypatch.context() as m:
        m.setattr(sag.models.Regressor, "_marker_tensors_names", ())
        with pytest.raises(ValueError, match=r"do not fit the Regressor network.*target_scale"):
            sag.models.Regressor.load(tmp_path / "new")
    # a model.json that lost the two, or whose two are not the marker's: refused, not read as
    # a head of the target's units (predictions in standard units)
    std = model.target_std_
    for i, (k, v, said) in enumerate(
        (
            ("target_mean", None, "it lacks target_mean, which model.pt holds"),
            ("target_std", None, "it lacks target_std, which model.pt holds"),
            ("target_std", 2.0, r"its target_std \(2\.0\) is not what model\.pt holds"),
            # a change below numpy's default tolerance is an edit too
            ("target_std", std * (1 + 1e-12), "its target_std .* is not what model.pt holds"),
        )
    ):
        damaged = {**meta, k: v} if v is not None else {x: y for x, y in meta.items() if x != k}
        write_model_dir(tmp_path / f"damaged{i}", damaged, tensors, overwrite=False)
        with pytest.raises(ValueError, match=said + r".*by hand"):
            sag.models.Regressor.load(tmp_path / f"damaged{i}")
    # what an earlier version saved: the head folded, no mean or standard deviation
    old = copy.deepcopy(model)
    unstandardize_head(old.module_.head, model.target_mean_, model.target_std_)
    state = old.module_.state_dict()
    tensors = {k: v for k, v in tensors.items() if not k.startswith("net.")}
    tensors.update({"net." + k: v for k, v in state.items()})
    for k in ("target_mean", "target_std", "versions"):
        meta.pop(k, None)
    write_model_dir(tmp_path / "old", meta, tensors, overwrite=False)
    loaded = sag.models.Regressor.load(tmp_path / "old")
    assert (loaded.target_mean_, loaded.target_std_) == (0.0, 1.0)
    np.testing.assert_allclose(loaded.predict(adata), pred, rtol=1e-5)
    h = hashlib.sha1()
    for name, tensor in state.items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    assert loaded.weights_digest() == h.hexdigest()  # as the earlier version recorded it
    # the new model's digest tells the target's scale apart: same weights, other scale
    other = copy.deepcopy(model)
    other.target_mean_ += 1.0
    assert other.weights_digest() != model.weights_digest()


def test_numeric_target_bad_input_is_refused_before_any_work(adata):
    adata = with_target(adata)
    before = snapshot(adata)
    bad = adata.copy()
    bad.obs.loc[bad.obs_names[0], "age"] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        sag.tl.classify(bad, "age", n_trials=1)
    huge = adata.copy()  # finite, but its spread overflows: met after training, in sklearn
    for scale in (1e300, 1e154):  # the latter: its spread is finite, its summed errors not
        huge.obs["age"] = np.linspace(-1, 1, huge.n_obs) * scale
        with pytest.raises(
            ValueError,
            match=rf"obs\['age'\] holds values as large as {re.escape(f'{scale:.3g}')}, whose",
        ):
            sag.tl.classify(huge, "age", task="regression", n_trials=1)
    few = adata.copy()
    few.obs.loc[few.obs_names[9:], "age"] = np.nan
    with pytest.raises(ValueError, match="has 9 cells with a value; a numeric target needs"):
        sag.tl.classify(few, "age", task="regression", n_trials=1)
    const = adata.copy()
    const.obs["age"] = 3.0
    with pytest.raises(ValueError, match="same value in every cell"):
        sag.tl.classify(const, "age", task="regression", n_trials=1)
    with pytest.raises(ValueError, match="min_cells_per_class=3 leaves small classes out"):
        sag.tl.classify(adata, "age", min_cells_per_class=3, n_trials=1)
    # a loss or metric of classes, and classes judged by a regression metric or the mse loss
    with pytest.raises(ValueError, match="loss='auc' is a loss of classes"):
        sag.tl.classify(adata, "age", config={"trainer": {"loss": "auc"}}, n_trials=1)
    with pytest.raises(ValueError, match=r"metric='accuracy' must be one of \['r2'"):
        sag.tl.classify(adata, "age", metric="accuracy", n_trials=1)
    # a metric of a numeric target asks for one, as the loss "mse" does: text is no number
    with pytest.raises(ValueError, match=r"the metric 'r2'.*needs numbers in obs\['label'\]"):
        sag.tl.classify(adata, "label", metric="r2", n_trials=1)
    with pytest.raises(ValueError, match=r"metric=.r2. must be one of.*classification task"):
        sag.tl.classify(adata, "label", metric="r2", n_trials=1, task="classification")
    mse = {"trainer": {"loss": "mse"}}
    with pytest.raises(ValueError, match=r"the loss 'mse'.*needs numbers in obs\['label'\]"):
        sag.tl.classify(adata, "label", config=mse, n_trials=1)
    with pytest.raises(ValueError, match="loss='mse' is for a numeric target"):
        sag.tl.classify(adata, "label", config=mse, n_trials=1, task="classification")
    check_untouched(adata, before)


# -- the run --------------------------------------------------------------------------------------
def test_classify_a_numeric_target_writes_values_and_metrics(run):
    adata, model = run
    assert isinstance(model, sag.models.Regressor)
    assert model.target_ == "age"
    assert model.classes_.tolist() == ["age"]
    pred = adata.obs["sag_pred"]
    assert pred.dtype.kind == "f"
    assert pred.notna().all()
    assert "sag_proba" not in adata.obsm
    uns = adata.uns["sag"]
    assert uns["task"] == "regression"
    assert uns["params"]["task"] == "regression"
    assert uns["params"]["metric"] == "r2"
    assert "confusion" not in uns
    test = uns["metrics"]["test"]
    assert set(test) == {"r2", "rmse", "mae", "pearson", "spearman", "n"}
    # the signal is learnt, in the target's own units (not the standardized ones)
    assert test["r2"] > 0.6
    y = adata.obs["age"].to_numpy()
    rows = (adata.obs["sag_split"] == "test").to_numpy()
    assert test["rmse"] == pytest.approx(np.sqrt(np.mean((pred.to_numpy()[rows] - y[rows]) ** 2)))
    assert abs(pred.mean() - y.mean()) < y.std()
    # no class balancing in a numeric target's search space
    assert "class_balance" not in json.loads(uns["config"])["space"]["common"]
    assert all("class_balance" not in p for p in uns["trials"]["params"])


def test_regression_outputs_survive_h5ad(run, tmp_path):
    adata, _ = run
    path = tmp_path / "r.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    assert np.array_equal(back.obs["sag_pred"].to_numpy(), adata.obs["sag_pred"].to_numpy())
    assert back.uns["sag"]["task"] == "regression"
    assert back.uns["sag"]["metrics"]["test"]["r2"] == adata.uns["sag"]["metrics"]["test"]["r2"]


def test_same_seed_same_regression(run):
    adata, _ = run
    again = adata.copy()
    sag.tl.classify(again, "age", config=copy.deepcopy(TINY_CONFIG), seed=0)
    assert np.array_equal(again.obs["sag_pred"].to_numpy(), adata.obs["sag_pred"].to_numpy())


def test_a_regression_replaces_the_probabilities_of_an_earlier_classification(adata):
    adata = with_target(adata)
    sag.tl.classify(adata, "label", n_trials=1, config={"trainer": {"max_epochs": 2}})
    assert "sag_proba" in adata.obsm
    sag.tl.classify(adata, "age", n_trials=1, config={"trainer": {"max_epochs": 2}})
    assert "sag_proba" not in adata.obsm
    assert adata.obs["sag_pred"].dtype.kind == "f"


def test_few_numeric_values_are_classes_unless_asked(adata):
    adata.obs["time"] = np.tile([0.0, 24.0, 48.0], 100)
    cfg = {"trainer": {"max_epochs": 2}}
    model = sag.tl.classify(adata, "time", n_trials=1, config=cfg)
    assert isinstance(model, sag.models.Classifier)
    model = sag.tl.classify(adata, "time", n_trials=1, config=cfg, task="regression")
    assert isinstance(model, sag.models.Regressor)
    # the mse loss asks for the number too (AutoGenome's configs say so)
    model = sag.tl.classify(adata, "time", n_trials=1, config={**cfg, "trainer": {"loss": "mse"}})
    assert isinstance(model, sag.models.Regressor)


@pytest.mark.parametrize("metric", ["r2", "spearman"])
def test_a_metric_of_a_numeric_target_asks_for_one(adata, monkeypatch, metric):
    """As the loss "mse": under task="auto" a regression metric predicts the number, logged
    (three values would be classes, and the metric refused for them)."""
    from scautogenome import _settings

    adata.obs["time"] = np.tile([0.0, 24.0, 48.0], 100)
    said = []
    monkeypatch.setattr(_settings.logger, "info", lambda *a: said.append(a[0] % a[1:]))
    cfg = {"trainer": {"max_epochs": 2}}
    model = sag.tl.classify(adata, "time", n_trials=1, config=cfg, metric=metric)
    assert isinstance(model, sag.models.Regressor)
    assert adata.uns["sag"]["task"] == "regression"
    assert adata.uns["sag"]["params"]["metric"] == metric
    assert any(f"metric={metric!r} judges a numeric target: obs['time']" in m for m in said)


# -- the model ------------------------------------------------------------------------------------
def test_regressor_fit_predict_save_load(adata, tmp_path):
    adata = with_target(adata)
    model = sag.models.Regressor(MLP, {**FIT, "loss": "cross_entropy"}).fit(adata, "age", seed=0)
    assert model.train_params_["loss"] == "mse"  # what it trained with, whatever was given
    pred = model.predict(adata)
    assert pred.shape == (adata.n_obs,)
    assert pred.dtype == np.float64
    assert np.corrcoef(pred, adata.obs["age"])[0, 1] > 0.8
    again = sag.models.Regressor(MLP, FIT).fit(adata, "age", seed=0)
    assert np.array_equal(again.predict(adata), pred)  # the same loss and seed
    # genes matched by name: a reordered query predicts the same
    order = np.random.default_rng(1).permutation(adata.n_vars)
    np.testing.assert_allclose(model.predict(adata[:, order].copy()), pred, rtol=1e-5)
    model.save(tmp_path / "m")
    loaded = sag.models.Regressor.load(tmp_path / "m")
    assert loaded.target_ == "age"
    np.testing.assert_array_equal(loaded.predict(adata), pred)
    with pytest.raises(ValueError, match="holds a 'Regressor' model, not a 'Classifier'"):
        sag.models.Classifier.load(tmp_path / "m")
    assert "'age'" in repr(loaded)
    with pytest.raises(ValueError, match=r"metric='accuracy' must be one of \['r2'"):
        sag.models.Regressor(MLP, FIT).fit(adata, "age", metric="accuracy")


def unstandardize_head(head: torch.nn.Linear, mean: float, std: float) -> None:
    """Fold ``y = mean + std * z`` into ``head``: what regressors of earlier versions saved
    (their network predicted the target's units itself, in float32)."""
    with torch.no_grad():
        head.weight.mul_(std)
        head.bias.mul_(std).add_(mean)


def test_unstandardize_head_predicts_in_the_target_units():
    head = torch.nn.Linear(3, 1)
    x = torch.randn(5, 3)
    z = head(x).detach()
    unstandardize_head(head, mean=10.0, std=4.0)
    torch.testing.assert_close(head(x).detach(), 10.0 + 4.0 * z)


def test_train_regressor_refuses_what_it_cannot_judge(adata):
    y = np.zeros(adata.n_obs)
    y[::2] = 1.0
    rows = np.arange(adata.n_obs)
    net = sag.nn.build_network({**MLP, "n_inputs": adata.n_vars, "n_outputs": 1})
    common = {
        "X": adata.X,
        "train_rows": rows[:200],
        "transform": None,
        "device": torch.device("cpu"),
    }
    with pytest.raises(ValueError, match="at least two different target values"):
        train_regressor(
            net, y=y, val_rows=rows[200:202:2], params=TrainParams(loss="mse"), **common
        )
    with pytest.raises(ValueError, match="loss='auc' is a loss of classes"):
        train_regressor(net, y=y, val_rows=rows[200:], params=TrainParams(loss="auc"), **common)


def test_regression_metrics():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    rep = regression_report(y, y + 1)
    assert rep["rmse"] == pytest.approx(1.0)
    assert rep["mae"] == pytest.approx(1.0)
    assert rep["pearson"] == pytest.approx(1.0)
    assert rep["spearman"] == pytest.approx(1.0)
    assert rep["r2"] == pytest.approx(1 - 4 / 5)
    assert rep["n"] == 4
    empty = regression_report(np.array([]), np.array([]))
    assert empty["n"] == 0
    assert np.isnan(empty["r2"])
    flat = regression_report(y, np.full(4, 2.5))
    assert np.isnan(flat["pearson"])
    assert flat["r2"] == pytest.approx(0.0)
    # a constant prediction correlates with nothing: 0, not NaN, for the search
    assert regression_score(y, np.full(4, 2.5), "spearman") == 0.0


# -- predict and explain ---------------------------------------------------------------------------
def test_predict_with_a_regressor(run):
    adata, model = run
    query = adata[:40].copy()
    for key in ("sag_pred", "sag_split"):
        del query.obs[key]
    del query.uns["sag"]
    # of an earlier prediction of classes under the key
    query.uns["sag_q"] = {"classes": np.array(["a", "b"]), "predict_params": {"layer": "None"}}
    query.obs["sag_q_confidence"] = 1.0
    query.obsm["sag_q_proba"] = np.zeros((40, 2), dtype=np.float32)
    sag.tl.predict(query, model, key_added="sag_q")
    np.testing.assert_allclose(
        query.obs["sag_q_pred"].to_numpy(), adata.obs["sag_pred"].to_numpy()[:40], rtol=1e-5
    )
    assert "sag_q_confidence" not in query.obs
    assert "sag_q_proba" not in query.obsm
    assert query.uns["sag_q"]["classes"].tolist() == ["age"]


def test_explain_a_regressor_ranks_the_genes_of_the_target(run, tmp_path, monkeypatch):
    from scautogenome import _settings

    adata, model = run
    adata = adata.copy()
    said = []
    monkeypatch.setattr(_settings.logger, "info", lambda *a: said.append(a[0] % a[1:]))
    sag.tl.explain(adata, model, n_explain=30, nsamples=50)
    monkeypatch.undo()
    # one output, no classes to count
    assert any(m.startswith("explain: 30 cells with method='fast'") for m in said), said
    assert not any("classes present" in m for m in said)
    rec = adata.uns["sag_shap"]
    # in the target's units (the network outputs the standardized target): the background's
    # mean prediction is an age
    pred = adata.obs["sag_pred"].to_numpy()
    assert pred.min() < float(rec["base_values"][0]) < pred.max()
    assert rec["params"]["engine"] == "structured"  # the first layer found in the wrapper
    assert rec["columns"].tolist() == ["age", "overall"]
    assert adata.varm["sag_shap"].shape == (adata.n_vars, 2)
    assert rec["params"]["output"] == "prediction"
    # the target is made of genes 0-4: they lead the ranking
    assert set(rec["top_genes"][0, :5]) & {f"gene_{i}" for i in range(5)}
    top5 = set(rec["top_genes"][0, :8])
    assert len(top5 & {f"gene_{i}" for i in range(5)}) >= 3
    # the plots say what was explained: the predicted value, not a class logit
    ax = sag.pl.importance(adata, show=False)
    # (a long label goes onto two lines to fit the figure)
    assert " ".join(ax.get_xlabel().split()) == (
        "mean |SHAP value| of the prediction over the 30 explained cells"
    )
    assert ax.get_title().startswith("age: top")
    ax = sag.pl.shap_summary(adata, group="age", show=False)
    assert ax.get_xlabel() == "SHAP value (impact on the age prediction)"
    ax = sag.pl.shap_summary(adata, show=False)  # one output: no group to name
    assert ax.get_xlabel() == "SHAP value (impact on the age prediction)"
    with pytest.raises(ValueError, match="groupby='label' groups the cells by class"):
        sag.tl.explain(adata, model, groupby="label")
    adata.write_h5ad(tmp_path / "e.h5ad")
    assert ad.read_h5ad(tmp_path / "e.h5ad").uns["sag_shap"]["columns"].tolist() == [
        "age",
        "overall",
    ]


def test_config_for_a_numeric_target():
    cfg = sag.config.load({"trainer": {"loss": "mse"}})
    assert cfg["search"]["metric"] == "r2"
    with pytest.raises(ValueError, match="for a regression task"):
        sag.config.load({"trainer": {"loss": "mse"}, "search": {"metric": "macro_f1x"}})
    with pytest.raises(ValueError, match=r"metric='accuracy' must be one of \['r2'"):
        sag.config.load({"trainer": {"loss": "mse"}, "search": {"metric": "accuracy"}})
    default = sag.config.load(None)
    task_cfg = sag.config.for_task(default, "regression")
    assert task_cfg["trainer"]["loss"] == "mse"
    assert task_cfg["search"]["metric"] == "r2"
    assert "class_balance" not in task_cfg["space"]["common"]
    assert "class_balance" in default["space"]["common"]  # the given config is not changed
    # nor RRFCN's (its record said "sampler" of a regressor trained without balancing)
    assert task_cfg["rrfcn"]["class_balance"] == "none"
    assert default["rrfcn"]["class_balance"] == "weights"
    assert sag.config.for_task(default, "classification") == default


def test_architecture_plot_names_the_target_not_classes(run):
    import matplotlib.pyplot as plt

    adata, model = run
    for data in (adata, model):
        ax = sag.pl.architecture(data, show=False)
        texts = [t.get_text() for t in ax.texts]
        assert "output\nage" in texts
        assert not any("classes" in t for t in texts)
    plt.close("all")


def test_a_regressors_target_key_is_named_target_key(adata):
    """Regressor.fit's column is target_key: a key of another type or a column adata lacks
    named it labels_key, the argument of classify."""
    adata = with_target(adata)
    model = sag.models.Regressor(MLP, FIT)
    with pytest.raises(
        TypeError, match=r"^target_key=3 must be a str naming one column of adata\.obs"
    ):
        model.fit(adata, 3)
    with pytest.raises(KeyError, match=r"target_key='agee' is not a column of adata\.obs"):
        model.fit(adata, "agee")


def test_a_regression_is_not_told_of_classes(adata, tmp_path, sag_caplog):
    """What a regression run reads says nothing of classes: its unused cells have no value
    (there is no class to leave out); predict's refusal to replace another model's record
    names no confusion matrix; a study of classes is 'classification' (the task= argument's
    word), not the stored 'classify'."""
    adata = with_target(adata)
    adata.obs.loc[adata.obs_names[:4], "age"] = np.nan
    url = f"sqlite:///{tmp_path / 's.db'}"
    sag.tl.classify(adata, "label", config=copy.deepcopy(TINY_CONFIG), storage=url, study_name="k")
    sag.tl.classify(adata, "age", config=copy.deepcopy(TINY_CONFIG), seed=0)
    assert "; 4 unused: no value, or none in split_key" in sag_caplog.text
    assert "class left out" not in sag_caplog.text
    other = sag.tl.classify(adata.copy(), "age", config=copy.deepcopy(TINY_CONFIG), seed=1)
    with pytest.raises(ValueError, match=r"another model \(its metrics and trials\)"):
        sag.tl.predict(adata, other)
    with pytest.raises(ValueError, match="task: 'classification' there, 'regression' now"):
        sag.tl.classify(
            adata, "age", config=copy.deepcopy(TINY_CONFIG), storage=url, study_name="k"
        )


def test_a_rerun_stopped_as_its_record_is_made_leaves_the_earlier_run_whole(run, monkeypatch):
    """A numeric target's classify run interrupted while its record is made h5ad-safe writes
    nothing: the earlier run's predicted values, split and record stay as they were."""
    from conftest import adata_state, assert_adata_state, interrupt_uns_record

    from scautogenome.tools import _classify

    adata = run[0].copy()
    before = adata_state(adata)
    interrupt_uns_record(monkeypatch, _classify)
    with pytest.raises(KeyboardInterrupt):
        sag.tl.classify(adata, "age", config=copy.deepcopy(TINY_CONFIG), seed=1)
    assert_adata_state(adata, before)
