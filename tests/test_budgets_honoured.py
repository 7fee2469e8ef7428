"""Do the limits a user sets on a search hold, exactly or within a stated bound?

``n_trials`` is exact (pruned and failed trials count, a resumed study runs that many more),
``max_epochs``, ``patience`` and ``min_epochs`` bound every trial's epochs, early stopping keeps
the best epoch's weights, no trial of a stored search starts after ``time_budget`` ran out, a
budget given as a keyword wins over a config file's, and a budget that cannot end a search, or
is not a number of the right kind, is refused before any work. Trial counts and epochs are read
from the search's own record (the trials table, the Optuna study), not from the clock.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import json
import math
from types import SimpleNamespace

import numpy as np
import optuna
import pytest
import torch
from conftest import TINY_CONFIG, one_float_search

import scautogenome as sag

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _fake_config(n_trials, time_budget=None) -> dict:
    """A full classify config with a random sampler, no pruner and no starting points: the
    trials of :func:`one_float_search` draw ``x`` and nothing else."""
    return sag.config.load(
        {
            "budget": {"n_trials": n_trials, "time_budget": time_budget},
            "search": {"sampler": "random", "pruner": "none", "initial_trials": "none"},
        }
    )


def _fake_train(net, params, seed, report, deadline, stop_after=None):
    """A stand-in training: every third trial (by its seed, ``seed + trial number``) is pruned,
    every third fails with an error, the others complete at once."""
    from scautogenome.train import Pruned

    if seed % 3 == 1:
        raise Pruned
    if seed % 3 == 2:
        msg = "a CUDA error of this trial's own"
        raise RuntimeError(msg)
    return _trained(params["x"])


def _trained(score: float) -> SimpleNamespace:
    """A training's result of ``score`` after its first epoch, as the fake trainings return."""
    return SimpleNamespace(
        value=score,
        best_score=score,
        best_loss=1.0,
        best_epoch=0,
        history=[{}],
        seconds=0.0,
        stopped="max_epochs",
        cut_batches=0,
        state_dict={},
    )


def test_n_trials_is_exact_with_pruned_and_failed_trials_and_a_resume_adds_that_many(tmp_path):
    """``n_trials=5`` runs five trials, whether they complete, are pruned or fail; resuming the
    stored study with ``n_trials=4`` runs four more (the README: "n_trials=10 adds ten"), not
    up to four in all."""
    url = f"sqlite:///{tmp_path / 'search.db'}"
    sag.settings.verbosity = 0  # Optuna's warning of each failed trial
    out = one_float_search(_fake_config(5), _fake_train, storage=url)
    states = [t.state for t in out.study.get_trials()]
    assert len(states) == 5
    assert set(states) == {
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.PRUNED,
        optuna.trial.TrialState.FAIL,
    }
    assert len(out.trials) == 5  # the trials table has a row for each
    again = one_float_search(_fake_config(4), _fake_train, storage=url)
    assert len(again.study.get_trials()) == 9
    assert len(optuna.load_study(study_name="t", storage=url).trials) == 9


def test_n_trials_without_a_storage_runs_exactly_that_many():
    """In memory, ``n_trials=7`` is seven trials of every kind, and one is one."""
    sag.settings.verbosity = 0
    for n in (1, 7):
        out = one_float_search(_fake_config(n), _fake_train)
        assert len(out.study.get_trials()) == n


def _search_start(monkeypatch) -> dict:
    """Record, in the returned dict, the moment the classify search (``run_study``) was
    called (``"t0"``, a datetime, as Optuna records a trial's start) and its outcome."""
    from scautogenome.search import _hpo

    real = _hpo.run_study
    box: dict = {}

    def spy(*args, **kwargs):
        box["t0"] = datetime.datetime.now()
        box["out"] = real(*args, **kwargs)
        return box["out"]

    monkeypatch.setattr(_hpo, "run_study", spy)
    return box


def test_no_trial_of_a_stored_search_starts_after_the_time_budget(adata, tmp_path, monkeypatch):
    """A search of 2 s (no trial count) on a stored study: each trial Optuna started began
    before the budget ran out (counted from the search's start; a tenth of the budget allowed
    for the storage's writes around a start), each trained at most ``max_epochs``, and the search
    says the clock ended it."""
    budget = 2.0
    cfg = copy.deepcopy(TINY_CONFIG)
    cfg["budget"] = {"n_trials": None, "time_budget": budget}
    cfg["trainer"] = {"max_epochs": 40, "patience": 40, "min_epochs": 1}
    cfg["search"] = {"initial_trials": "none", "max_trial_fraction": 0.5}
    url = f"sqlite:///{tmp_path / 'search.db'}"
    box = _search_start(monkeypatch)
    # a loaded machine may cut the kept model in its first epoch (check_trained's error): the
    # search's record is read all the same
    with contextlib.suppress(ValueError):
        sag.tl.classify(adata, "label", config=cfg, storage=url, mode="mlp")
    started = [t.datetime_start for t in box["out"].study.get_trials() if t.datetime_start]
    assert started
    last_start = max((s - box["t0"]).total_seconds() for s in started)
    assert last_start <= budget * 1.1, f"a trial started {last_start / budget:.2f} budgets in"
    table = box["out"].trials
    assert (table["epochs"] <= 40).all()
    # the trials cut at their share of the budget (max_trial_fraction) were capped at it
    capped = [t for t in box["out"].study.get_trials() if "cap_seconds" in t.user_attrs]
    assert all(t.user_attrs["cap_seconds"] == pytest.approx(budget * 0.5) for t in capped)


def test_no_trial_trains_after_the_time_budget_ran_out():
    """A search of 0.5 s whose first trial finished early: Optuna starts a second, whose
    network takes past the budget to set up (a wide network on 20,000 genes; with a storage,
    its writes). It is not trained for one minibatch and stored as a complete trial of that
    score (misleading the sampler of a resumed study): it is pruned untrained, marked
    ``stopped="time_budget"``, and the search ends there."""
    import time

    from scautogenome.search._study import run_study

    seen: dict = {}
    trained: list[float] = []

    def train(net, params, seed, report, deadline, stop_after=None):
        seen.setdefault("deadline", deadline)  # no trial cap: the search's own deadline
        trained.append(time.perf_counter() - deadline)
        return _trained(params["x"])

    def build(arch):
        # every network after the first takes until the budget has run out to set up
        while "deadline" in seen and time.perf_counter() <= seen["deadline"]:
            pass
        return torch.nn.Linear(2, 2)

    out = run_study(
        _fake_config(None, time_budget=0.5),
        sample=lambda trial: ({"kind": "mlp"}, {"x": trial.suggest_float("x", 0, 1)}),
        build=build,
        train=train,
        direction="maximize",
        value_of=lambda res: res.best_score,
        study_name="t",
    )
    assert len(trained) == 1
    assert trained[0] < 0  # the first trial trained within the budget
    trials = out.study.get_trials()
    assert [t.state for t in trials] == [
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.PRUNED,
    ]
    assert trials[1].user_attrs["stopped"] == "time_budget"
    assert out.trials.loc["1", "epochs"] == 0
    assert out.best.number == 0


def test_every_trial_keeps_to_max_epochs_patience_and_min_epochs(adata):
    """Each trial trains at most ``max_epochs``; one stopped early trained ``min_epochs`` at
    least and stopped ``patience`` epochs after its best (later only where ``min_epochs`` held
    it); one that ran out of epochs trained exactly ``max_epochs``. The returned model holds
    the kept trial's curve and the weights of its best epoch."""
    max_epochs, patience, min_epochs = 7, 1, 3
    cfg = copy.deepcopy(TINY_CONFIG)
    cfg["budget"] = {"n_trials": 3, "time_budget": None}
    cfg["trainer"] = {"max_epochs": max_epochs, "patience": patience, "min_epochs": min_epochs}
    model = sag.tl.classify(adata, "label", config=cfg)
    table = adata.uns["sag"]["trials"]
    assert len(table) == 3
    for _, row in table.iterrows():
        epochs, best = int(row["epochs"]), int(row["best_epoch"])
        assert 1 <= epochs <= max_epochs
        assert 0 <= best < epochs
        if row["stopped"] == "early_stopping":
            assert epochs >= min_epochs
            since_best = epochs - 1 - best
            assert since_best >= patience
            assert since_best == patience or epochs == min_epochs
        else:
            assert row["stopped"] == "max_epochs"
            assert epochs == max_epochs
    kept = table.loc[str(adata.uns["sag"]["best"]["trial"])]
    assert len(model.history_) == int(kept["epochs"])
    scores = [h["val_score"] for h in model.history_]
    assert scores[int(kept["best_epoch"])] == max(scores)


def test_early_stopping_restores_the_best_epochs_weights():
    """A trainer stopped by patience after its validation score fell keeps the weights of its
    best epoch, not of its last."""
    from scautogenome.data import prepare_labelled
    from scautogenome.nn import build_network
    from scautogenome.train import TrainParams, train_classifier

    data = prepare_labelled(
        sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0), "label"
    )
    seen = []

    def score_then_fall(y, logits, metric, n_classes):
        seen.append(len(seen))
        return [0.2, 0.9, 0.5, 0.4, 0.3, 0.2][len(seen) - 1]

    import scautogenome.train._trainer as trainer

    real = trainer.score_logits
    trainer.score_logits = score_then_fall
    try:
        torch.manual_seed(0)
        net = build_network({"kind": "mlp", "units": [16], "n_inputs": 200, "n_outputs": 3})
        res = train_classifier(
            net,
            X=data.X,
            codes=data.codes,
            train_rows=data.rows("train"),
            val_rows=data.rows("val"),
            n_classes=3,
            transform=data.transform.to_torch("cpu"),
            params=TrainParams(batch_size=64, max_epochs=6, patience=2, min_epochs=1),
            device=torch.device("cpu"),
        )
    finally:
        trainer.score_logits = real
    assert res.stopped == "early_stopping"
    assert len(res.history) == 4  # best at epoch 1, then 2 epochs without a better score
    assert res.best_epoch == 1
    for name, value in net.state_dict().items():
        assert torch.equal(value, res.state_dict[name]), name


def test_an_endless_budget_is_refused_before_any_work(adata, tmp_path, capsys):
    """``time_budget=inf`` is no limit (as None); with no ``n_trials`` either, the search
    would never end, so the config check refuses it, as it refuses two Nones: in a config,
    from classify's and embed's keyword (before the data are read: a missing label column is
    not reached) and on the command line."""
    from scautogenome.cli import main

    endless = {"budget": {"n_trials": None, "time_budget": math.inf}}
    with pytest.raises(ValueError, match="never ends"):
        sag.config.load(endless)
    with pytest.raises(ValueError, match="never ends"):
        sag.config._embed.load(endless)
    lifted = {"budget": {"n_trials": None}}
    with pytest.raises(ValueError, match=r"time_budget=inf is no limit.*never ends"):
        sag.tl.classify(adata, "no such column", config=lifted, time_budget=math.inf)
    with pytest.raises(ValueError, match="never ends"):
        sag.tl.embed(adata, layer="no such layer", config=lifted, time_budget=math.inf)
    path = tmp_path / "in.h5ad"
    adata.write_h5ad(path)
    argv = ["classify", str(path), "--labels", "label", "--out", str(tmp_path / "c")]
    argv += ["--config", json.dumps(lifted), "--time-budget", "inf", "--quiet"]
    assert main(argv) == 2
    assert "never ends" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
    # a finite clock, or a trial count beside the endless one, ends a search
    sag.config.load({"budget": {"n_trials": 3, "time_budget": math.inf}})
    sag.config.load({"budget": {"n_trials": None, "time_budget": 60.0}})


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_trials": -1}, ValueError, r"^n_trials=-1 must be at least 0"),
        ({"n_trials": 1.5}, TypeError, r"^n_trials=1.5 must be an integer"),
        ({"n_trials": 2.0}, TypeError, r"^n_trials=2.0 must be an integer"),
        ({"n_trials": math.inf}, TypeError, r"^n_trials=inf must be an integer"),
        ({"n_trials": False}, TypeError, r"^n_trials=False must be an integer"),
        ({"n_trials": "3"}, TypeError, r"^n_trials='3' must be an integer"),
        ({"time_budget": 0.0}, ValueError, r"^time_budget=0.0 must be a positive number of sec"),
        ({"time_budget": -math.inf}, ValueError, r"^time_budget=-inf must be a positive number"),
        ({"time_budget": np.float32("nan")}, ValueError, r"^time_budget=.*nan.* must be a posit"),
        ({"time_budget": True}, TypeError, r"^time_budget=True must be a positive number"),
    ],
)
def test_a_bad_budget_argument_is_refused_before_any_work(adata, kwargs, error, match):
    """A budget of the wrong kind or sign, given to classify or embed, is an error naming the
    argument as given, raised before the data are read (a label column or layer that is not
    there is not reached)."""
    with pytest.raises(error, match=match):
        sag.tl.classify(adata, "no such column", **kwargs)
    with pytest.raises(error, match=match):
        sag.tl.embed(adata, layer="no such layer", **kwargs)


@pytest.mark.parametrize(
    ("budget", "match"),
    [
        ({"n_trials": -1}, r"\['n_trials'\]=-1 must not be negative"),
        ({"n_trials": 2.0}, r"\['n_trials'\]=2.0 must be of type int/NoneType"),
        ({"n_trials": True}, r"\['n_trials'\]=True must be of type"),
        ({"time_budget": "60"}, r"\['time_budget'\]='60' must be of type"),
        ({"time_budget": 0}, r"\['time_budget'\]=0 must be positive"),
        ({"n_trials": None, "time_budget": None}, "never ends"),
    ],
)
def test_a_bad_budget_in_a_config_file_is_refused_before_any_work(adata, tmp_path, budget, match):
    """The same budgets in a JSON config file: a ValueError naming the config's key."""
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"budget": budget}))
    with pytest.raises(ValueError, match=match):
        sag.tl.classify(adata, "no such column", config=str(path))


def test_budget_keywords_win_over_a_config_file_and_keep_its_other_limit(adata, tmp_path):
    """A config file of 5 trials and 500 s with ``n_trials=1``: one trial, the file's 500 s
    kept (recorded in the run's config and params)."""
    cfg = copy.deepcopy(TINY_CONFIG)
    cfg["budget"] = {"n_trials": 5, "time_budget": 500.0}
    cfg["trainer"] = {"max_epochs": 3, "patience": 3, "min_epochs": 1}
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    sag.tl.classify(adata, "label", config=str(path), n_trials=1, mode="mlp")
    record = adata.uns["sag"]
    assert len(record["trials"]) == 1
    assert json.loads(record["config"])["budget"] == {"n_trials": 1, "time_budget": 500.0}
    assert record["params"]["n_trials"] == 1
    assert record["params"]["time_budget"] == 500.0
    assert (record["trials"]["epochs"] <= 3).all()


def test_embed_trials_keep_to_n_trials_and_the_max_epochs_keyword(adata):
    """embed's ``max_epochs=`` wins over its config's ``trainer.max_epochs``: no trial trains
    more, and ``n_trials=2`` runs two."""
    cfg = {
        "budget": {"n_trials": 5, "time_budget": None},
        "trainer": {"max_epochs": 50, "patience": 50, "min_epochs": 1, "kl_warmup_epochs": 1},
        "space": {"n_layers": [3], "batch_size": [64], "first_width": [64]},
    }
    sag.tl.embed(adata, config=cfg, n_trials=2, max_epochs=2, n_latent=4)
    record = adata.uns["sag_resvae"]
    assert len(record["trials"]) == 2
    assert (record["trials"]["epochs"] <= 2).all()
    assert json.loads(record["config"])["trainer"]["max_epochs"] == 2
