"""The Optuna study machinery of the searches (``scautogenome.search._study``), unit by unit:
the sampler and pruner a config asks for, the trials table, the kept trial and the error of a
search without one, and which trials the per-trial time cap spares. Pins from mutation
testing (each fails with the mutant named in its docstring applied)."""

from __future__ import annotations

from types import SimpleNamespace

import optuna
import pytest
import torch
from conftest import one_float_search
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from scautogenome.search import _study

X = {"x": FloatDistribution(0, 1)}


def _search(**kw) -> dict:
    search = {"sampler": "tpe", "n_startup_trials": 7, "pruner": "median", "prune_warmup_epochs": 3}
    return {"search": {**search, **kw}, "trainer": {"max_epochs": 20}}


def test_the_configured_sampler_and_pruner_are_made():
    """``search.n_startup_trials`` reaches TPE (a user's 7 was taken as the default 10), and
    ``pruner="none"`` prunes nothing (it was a median pruner, which cut trials the user asked
    to run to the end)."""
    sampler = _study.make_sampler(_search(), 0)
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert sampler._n_startup_trials == 7
    assert isinstance(
        _study.make_sampler(_search(sampler="random"), 0), optuna.samplers.RandomSampler
    )
    assert isinstance(_study.make_pruner(_search(pruner="none")), optuna.pruners.NopPruner)
    median = _study.make_pruner(_search())
    assert isinstance(median, optuna.pruners.MedianPruner)
    assert median._n_warmup_steps == 3


def test_the_trials_table_says_a_pruned_trial_was_pruned():
    """A pruned trial's ``stopped`` reads ``pruned`` in ``uns[...]['trials']`` (it was left
    empty, as if the trial had not run)."""
    study = optuna.create_study()
    study.add_trial(create_trial(value=0.5, params={"x": 0.5}, distributions=X))
    study.add_trial(create_trial(state=TrialState.PRUNED, params={"x": 0.5}, distributions=X))
    study.add_trial(create_trial(state=TrialState.FAIL, params={"x": 0.5}, distributions=X))
    table = _study.trials_table(study)
    assert list(table["state"]) == ["complete", "pruned", "fail"]
    assert table["stopped"].iloc[1] == "pruned"


def test_only_a_search_whose_every_trial_diverged_is_told_to_lower_the_learning_rates():
    """A search without a complete trial names divergence only where every trial diverged;
    one trial diverged and one failed otherwise asks for other remedies."""
    study = optuna.create_study()
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"stopped": "diverged"}))
    study.add_trial(create_trial(state=TrialState.FAIL))
    with pytest.raises(RuntimeError) as err:
        _study.best_trial(study)
    assert "diverged" not in str(err.value)
    assert "learning rate" not in str(err.value)
    every = optuna.create_study()
    for _ in range(2):
        every.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"stopped": "diverged"}))
    with pytest.raises(RuntimeError, match="diverged"):
        _study.best_trial(every)


def test_the_best_trial_ties_break_on_the_validation_loss_then_the_earlier_trial():
    """Equal scores keep the lower validation loss, then the earlier trial; a minimised
    search keeps its lowest value."""
    study = optuna.create_study(direction="maximize")
    for value, loss in ((0.5, 1.0), (0.9, 3.0), (0.9, 2.0), (0.9, 2.0)):
        study.add_trial(
            create_trial(
                value=value, params={"x": 0.5}, distributions=X, user_attrs={"val_loss": loss}
            )
        )
    assert _study.best_trial(study).number == 2
    low = optuna.create_study(direction="minimize")
    for value in (0.5, 0.2, 0.3):
        low.add_trial(create_trial(value=value, params={"x": 0.5}, distributions=X))
    assert _study.best_trial(low).number == 1


def _caps(points: list[dict], n_trials: int = 3) -> list:
    """``cap_seconds`` of each trial of a fake search (no training) with a per-trial cap of
    250 s of 1,000, starting ``points`` spared (``cap_starts=False``, as the Res-VAE's)."""

    def train(net, params, seed, report, deadline, stop_after=None):
        return SimpleNamespace(
            best_score=0.1,
            best_loss=1.0,
            best_epoch=0,
            history=[{}],
            seconds=0.0,
            stopped="max_epochs",
            cut_batches=0,
            state_dict={},
        )

    cfg = {
        "budget": {"n_trials": n_trials, "time_budget": 1000.0},
        "search": {
            "sampler": "tpe",
            "pruner": "none",
            "n_startup_trials": 10,
            "prune_warmup_epochs": 3,
            "max_trial_fraction": 0.25,
            "initial_trials": "default",
        },
        "trainer": {"max_epochs": 5},
    }
    out = _study.run_study(
        cfg,
        sample=lambda t: (
            {"kind": "fake", "d": t.suggest_categorical("dropout", [0.0, 0.1, 0.2])},
            {},
        ),
        build=lambda arch: torch.nn.Linear(1, 1),
        train=train,
        direction="minimize",
        value_of=lambda r: r.best_loss,
        study_name="caps",
        enqueue=lambda: points,
        trial_cap=250.0,
        cap_starts=False,
    )
    return [t.user_attrs.get("cap_seconds") for t in out.study.trials]


def test_only_the_enqueued_starting_points_are_spared_the_trial_cap():
    """With ``cap_starts=False`` the starting points run uncapped and every other trial but
    the last is capped at its share of the time budget. A trial was taken for a starting
    point where its drawn values matched one: a point that fixes no parameter (a Res-VAE
    space that fixes every key of the default point and searches the dropout alone) matched
    every trial, so that none was capped; a drawn trial that happened to match a point was
    spared too."""
    assert _caps([{}]) == [None, 250.0, None]
    assert _caps([{"dropout": 0.1}]) == [None, 250.0, None]
    assert _caps([]) == [250.0, 250.0, None]


def test_a_classify_trial_draws_what_its_space_holds_and_the_starting_points_fit_it():
    """``sample_trial``: a space of several modes draws each of them; momentum only for SGD;
    the trainer's settings, the unit dropout and the DenseNet compression reach every
    trial. ``initial_trials``: ``"none"`` enqueues nothing; a space of one mode draws no
    ``mode``; the default points moved into a one-layer MLP space lose their widths past
    that layer and come once each; a moved point drops momentum unless its optimizer is
    SGD; a user's point outside the space is skipped (not moved) and one inside it is kept
    as given. Pins from mutation testing of ``search/_hpo.py``."""
    from optuna.trial import FixedTrial

    from scautogenome import config as sag_config
    from scautogenome.search._hpo import initial_trials, sample_trial

    cfg = sag_config.load(None, mode="auto")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    modes = set()
    for _ in range(30):
        trial = study.ask()
        arch, _ = sample_trial(trial, cfg, 50, 3)
        modes.add(arch["kind"])
        study.tell(trial, 0.0)
    assert modes == {"mlp", "resnet", "densenet"}
    dense = sag_config.load({"space": {"densenet": {"compression": 1.0}}}, mode="densenet")
    arch, _ = sample_trial(study.ask(), dense, 50, 3)
    assert arch["compression"] == 1.0  # the space's, not the network's default (0.5)
    base = {
        "mode": "mlp",
        "mlp_n_layers": 1,
        "mlp_units_0": 64,
        "lr": 1e-3,
        "batch_size": 64,
        "weight_decay": 1e-4,
        "class_balance": "none",
        "input_keep": 1.0,
        "dropout": 0.25,
    }
    arch, params = sample_trial(
        FixedTrial({**base, "optimizer": "sgd", "momentum": 0.9}), cfg, 50, 3
    )
    assert params["momentum"] == 0.9
    assert params["max_epochs"] == cfg["trainer"]["max_epochs"]
    assert arch["dropout"] == 0.25
    _, params = sample_trial(FixedTrial({**base, "optimizer": "adamw"}), cfg, 50, 3)
    assert "momentum" not in params

    none = {**cfg, "search": {**cfg["search"], "initial_trials": "none"}}
    assert initial_trials(none) == []
    points = initial_trials(sag_config.load(None, mode="mlp"))
    assert points
    assert all("mode" not in p for p in points)
    one = sag_config.load({"space": {"mlp": {"n_layers": [1]}}}, mode="mlp")
    points = initial_trials(one)
    assert all("mlp_units_1" not in p for p in points)
    assert len(points) == len({tuple(sorted(p.items())) for p in points})
    narrow = sag_config.load(
        {"space": {"common": {"batch_size": [128]}, "mlp": {"n_layers": [1], "units": [256]}}},
        mode="mlp",
    )
    assert len(initial_trials(narrow)) == 2  # the 1st and 4th default points become one
    points = initial_trials(cfg)
    assert all("momentum" not in p for p in points if p.get("optimizer") != "sgd")
    assert next(p for p in points if p.get("optimizer") == "sgd")["momentum"] == 0.9
    adam = sag_config.load({"space": {"common": {"optimizer": ["adamw"]}}}, mode="mlp")
    assert all("momentum" not in p for p in initial_trials(adam))
    outside = {"mode": "mlp", "mlp_n_layers": 1, "mlp_units_0": 3}  # 3: not a width of it
    assert initial_trials({**cfg, "search": {**cfg["search"], "initial_trials": [outside]}}) == []
    inside = {
        "mode": "mlp",
        "mlp_n_layers": 1,
        "mlp_units_0": 64,
        "mlp_units_1": 64,
        "optimizer": "adamw",
        "momentum": 0.9,
    }
    assert initial_trials({**cfg, "search": {**cfg["search"], "initial_trials": [inside]}}) == [
        inside
    ]


def test_pruners_start_judging_after_the_warmup_epochs():
    """``search.prune_warmup_epochs`` reaches the median pruner (its warm-up steps) and
    hyperband (its minimum resource, up to ``max_epochs``): at 0 a trial could be cut
    after its first epoch, before its learning rate had done anything."""
    median = _study.make_pruner(_search(prune_warmup_epochs=4))
    assert median._n_warmup_steps == 4
    hyper = _study.make_pruner(_search(pruner="hyperband", prune_warmup_epochs=4))
    assert hyper._min_resource == 4
    assert hyper._max_resource == 20


def test_a_cut_model_is_warned_of_and_refused_below_its_minimum_updates(sag_caplog):
    """A kept model cut by its share of the time budget is warned of, as one cut by the
    budget is; a model cut in its first epoch is refused below ``MIN_UPDATES`` minibatches
    (kept at exactly that many), and one cut after a whole epoch is kept."""
    _study.warn_if_cut(
        {"stopped": "trial_cap", "epochs": 2, "cut_batches": 0, "cap_seconds": 30.0}, 10
    )
    assert "share of the time budget" in sag_caplog.text
    n = _study.MIN_UPDATES
    _study.check_trained({"stopped": "time_budget", "epochs": 1, "cut_batches": n}, 60, 10**6, 64)
    with pytest.raises(ValueError, match="after 5 of the"):
        _study.check_trained(
            {"stopped": "time_budget", "epochs": 1, "cut_batches": 5}, 60, 10**6, 64
        )
    _study.check_trained({"stopped": "time_budget", "epochs": 2, "cut_batches": 5}, 60, 10**6, 64)


def test_a_running_trials_last_sign_of_life_and_a_resumed_studys_sampler_seed():
    """A running trial's last sign of life is the later of its start and its heartbeat (the
    earlier would fail a live trial as dead); a study with trials before gets a sampler seed
    other than a new study's, so that a resumed search does not draw its first points again."""
    import datetime as dt

    trial = create_trial(state=TrialState.RUNNING, user_attrs={_study.HEARTBEAT_ATTR: 2e9})
    trial.datetime_start = dt.datetime.fromtimestamp(1e9)
    assert _study._last_alive(trial) == 2e9
    assert _study.sampler_seed(3, 0) == 3
    assert _study.sampler_seed(3, 5) != 3


def test_the_best_trial_is_of_this_searchs_fingerprint():
    """Trials a study holds from a search of another fingerprint (other data or settings)
    are not kept, even when they scored higher."""
    study = optuna.create_study(direction="maximize")
    for value, tag in ((0.9, "other"), (0.5, "mine")):
        study.add_trial(
            create_trial(
                value=value,
                params={"x": 0.5},
                distributions=X,
                user_attrs={_study.FINGERPRINT_TAG_ATTR: tag},
            )
        )
    assert _study.best_trial(study, tag="mine").number == 1


def test_a_resumed_search_runs_only_the_starting_points_it_lacks_or_lost_to_an_interruption():
    """``_points_to_run``: a point with no trial yet (an earlier session's budget ended first)
    is run, flagged as not interrupted; one whose every trial was interrupted (Ctrl-C) is run
    again, flagged as interrupted; one that failed for a reason of its own (a divergence) or
    completed is not run again."""
    study = optuna.create_study()
    for x, state, attrs in (
        (0.1, TrialState.FAIL, {"interrupted": True}),
        (0.2, TrialState.FAIL, {}),
        (0.3, TrialState.COMPLETE, {}),
    ):
        value = 1.0 if state == TrialState.COMPLETE else None
        study.add_trial(
            create_trial(
                state=state, value=value, params={"x": x}, distributions=X, user_attrs=attrs
            )
        )
    points = [{"x": 0.1}, {"x": 0.2}, {"x": 0.3}, {"x": 0.4}]
    assert _study._points_to_run(study, points) == [({"x": 0.1}, True), ({"x": 0.4}, False)]


def test_a_journal_trial_is_alive_until_its_heartbeat_is_a_grace_period_old(monkeypatch):
    """A trial whose last heartbeat is older than the heartbeat interval but within the grace
    period is of a live process (its next heartbeat may be on its way): it is not failed; one
    older than the grace period is failed and queued again."""
    import datetime as dt

    assert _study.HEARTBEAT_INTERVAL < _study.GRACE_PERIOD
    storage = optuna.storages.InMemoryStorage()
    assert not _study._optuna_heartbeats(storage)  # judged by sag's heartbeats, as a journal
    study = optuna.create_study(storage=storage, study_name="t")
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    now = dt.datetime.now().timestamp() + 10_000  # long after the trial's start
    monkeypatch.setattr(_study, "_now", lambda: now)
    age = (_study.HEARTBEAT_INTERVAL + _study.GRACE_PERIOD) / 2
    storage.set_trial_user_attr(trial._trial_id, _study.HEARTBEAT_ATTR, now - age)
    assert _study._fail_stale_trials(study, storage) == []
    assert study.trials[0].state == TrialState.RUNNING
    storage.set_trial_user_attr(
        trial._trial_id, _study.HEARTBEAT_ATTR, now - 1.5 * _study.GRACE_PERIOD
    )
    assert _study._fail_stale_trials(study, storage) == [0]
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.WAITING]


def test_collecting_a_study_the_storage_lacks_is_refused_without_writing_one(tmp_path):
    """``run_study`` with ``n_trials=0`` (collecting) on a storage that holds other studies
    raises, naming them, and creates no empty study of its name there."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    optuna.create_study(storage=url, study_name="k")
    cfg = {
        "budget": {"n_trials": 0, "time_budget": None},
        "search": {"sampler": "random", "pruner": "none", "n_startup_trials": 1},
        "trainer": {"max_epochs": 1},
    }

    def train(*args, **kwargs):
        raise AssertionError("a trial was trained")

    with pytest.raises(ValueError, match=r"holds no study 't' \(studies there: \['k'\]\)"):
        one_float_search(cfg, train, storage=url)
    assert optuna.get_all_study_names(url) == ["k"]
