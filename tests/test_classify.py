from __future__ import annotations

import json
import re

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

import scautogenome as sag


def test_classify_writes_design_outputs(adata, tiny_config):
    model = sag.tl.classify(adata, "label", config=tiny_config)
    assert isinstance(model, sag.models.Classifier)
    assert isinstance(adata.obs["sag_pred"].dtype, pd.CategoricalDtype)
    assert set(adata.obs["sag_split"].unique()) == {"train", "val", "test"}
    assert list(adata.obs["sag_split"].cat.categories) == ["train", "val", "test"]  # no empty
    proba = adata.obsm["sag_proba"]
    assert proba.shape == (adata.n_obs, 3)
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-5)
    uns = adata.uns["sag"]
    assert list(uns["classes"]) == ["type_0", "type_1", "type_2"]
    test = uns["metrics"]["test"]
    assert test["n"] == (adata.obs["sag_split"] == "test").sum()
    assert 0 <= test["macro_f1"] <= 1
    assert set(test["per_class"]) == {
        "precision",
        "recall",
        "f1",
        "support",
        "roc_auc",
        "average_precision",
    }
    # ROC AUC of the test cells from the written probabilities, one class against the rest
    rows = (adata.obs["sag_split"] == "test").to_numpy()
    truth = adata.obs["label"].to_numpy()[rows]
    for i, c in enumerate(uns["classes"]):
        expected = roc_auc_score(truth == c, proba[rows, i])
        assert test["per_class"]["roc_auc"][i] == pytest.approx(expected)
    assert test["roc_auc"] == pytest.approx(np.mean(test["per_class"]["roc_auc"]))
    assert uns["confusion"].shape == (3, 3)
    assert uns["confusion"].sum() == test["n"]
    assert len(uns["trials"]) == 3
    arch = json.loads(uns["architecture"])
    assert arch["kind"] in ("mlp", "resnet", "densenet")
    assert json.loads(uns["config"])["budget"]["n_trials"] == 3
    # the synthetic classes are separable by marker genes
    assert test["accuracy"] > 0.8


def test_outputs_survive_h5ad_round_trip(adata, tiny_config, tmp_path):
    sag.tl.classify(adata, "label", config=tiny_config, key_added="cls")
    path = tmp_path / "a.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    for key in ("cls_pred", "cls_split"):
        assert (back.obs[key].astype(str) == adata.obs[key].astype(str)).all()
    np.testing.assert_allclose(back.obsm["cls_proba"], adata.obsm["cls_proba"])
    u0, u1 = adata.uns["cls"], back.uns["cls"]
    assert set(u0) == set(u1)
    assert u1["architecture"] == u0["architecture"]
    np.testing.assert_array_equal(u1["confusion"], u0["confusion"])
    pd.testing.assert_frame_equal(u1["trials"], u0["trials"], check_dtype=False)
    for name in ("macro_f1", "roc_auc", "average_precision"):
        assert u1["metrics"]["test"][name] == pytest.approx(u0["metrics"]["test"][name])
    np.testing.assert_allclose(
        u1["metrics"]["val"]["per_class"]["roc_auc"], u0["metrics"]["val"]["per_class"]["roc_auc"]
    )


def test_same_seed_same_result(tiny_config):
    a1 = sag.datasets.synthetic(seed=5)
    a2 = sag.datasets.synthetic(seed=5)
    sag.tl.classify(a1, "label", config=tiny_config, seed=11)
    sag.tl.classify(a2, "label", config=tiny_config, seed=11)
    np.testing.assert_array_equal(a1.obs["sag_split"], a2.obs["sag_split"])
    np.testing.assert_allclose(a1.obsm["sag_proba"], a2.obsm["sag_proba"], rtol=1e-5, atol=1e-6)
    t1, t2 = a1.uns["sag"]["trials"], a2.uns["sag"]["trials"]
    assert list(t1["params"]) == list(t2["params"])


def test_split_key_honoured_and_unlabelled_cells_predicted(adata, tiny_config):
    rng = np.random.default_rng(1)
    adata.obs["fold"] = rng.choice(["train"] * 7 + ["val", "test"], adata.n_obs)
    adata.obs["label"] = adata.obs["label"].astype(object)
    adata.obs.iloc[:5, adata.obs.columns.get_loc("label")] = np.nan
    sag.tl.classify(adata, "label", split_key="fold", config=tiny_config)
    split = adata.obs["sag_split"].astype(str).to_numpy()
    expected = adata.obs["fold"].to_numpy().copy()
    expected[:5] = "none"
    np.testing.assert_array_equal(split, expected)
    assert list(adata.obs["sag_split"].cat.categories) == ["train", "val", "test", "none"]
    assert adata.obs["sag_pred"].iloc[:5].notna().all()


@pytest.mark.parametrize("mode", ["mlp", "resnet", "densenet"])
def test_each_mode(adata, tiny_config, mode):
    tiny_config["budget"]["n_trials"] = 1
    sag.tl.classify(adata, "label", mode=mode, config=tiny_config)
    assert json.loads(adata.uns["sag"]["architecture"])["kind"] == mode
    assert set(adata.uns["sag"]["trials"]["mode"]) == {mode}


def test_metric_and_budget_arguments(adata, tiny_config):
    sag.tl.classify(adata, "label", config=tiny_config, metric="accuracy", n_trials=2)
    assert json.loads(adata.uns["sag"]["config"])["budget"]["time_budget"] is None  # kept
    cfg = json.loads(adata.uns["sag"]["config"])
    assert cfg["search"]["metric"] == "accuracy"
    assert cfg["budget"]["n_trials"] == 2
    assert len(adata.uns["sag"]["trials"]) == 2


def test_time_budget_stops_the_search(adata, tiny_config):
    tiny_config["budget"] = {"n_trials": None, "time_budget": 3.0}
    tiny_config["search"] = {"max_trial_fraction": 1.0}
    sag.tl.classify(adata, "label", config=tiny_config)
    assert 1 <= len(adata.uns["sag"]["trials"]) < 1000


def test_deadline_is_checked_within_an_epoch(adata):
    """A trial too big for the budget stops after a minibatch, not after min_epochs epochs."""
    import time

    import torch

    from scautogenome.data import prepare_labelled
    from scautogenome.nn import build_network
    from scautogenome.train import TrainParams, train_classifier

    d = prepare_labelled(adata, "label")
    net = build_network({"kind": "mlp", "units": [64], "n_inputs": 200, "n_outputs": 3})
    res = train_classifier(
        net,
        X=d.X,
        codes=d.codes,
        train_rows=d.rows("train"),
        val_rows=d.rows("val"),
        n_classes=3,
        transform=d.transform.to_torch("cpu"),
        params=TrainParams(batch_size=8, max_epochs=50, min_epochs=5),
        device=torch.device("cpu"),
        deadline=time.perf_counter() - 1.0,  # already past
    )
    assert res.stopped == "time_budget"
    assert len(res.history) == 1  # one (partial) epoch validated, despite min_epochs=5
    assert res.state_dict


def test_storage_resumes_a_search(adata, tiny_config, tmp_path):
    url = f"sqlite:///{tmp_path / 'search.db'}"
    tiny_config["budget"]["n_trials"] = 2
    sag.tl.classify(adata, "label", config=tiny_config, storage=url, study_name="s")
    b = adata.copy()
    sag.tl.classify(b, "label", config=tiny_config, storage=url, study_name="s")
    assert len(b.uns["sag"]["trials"]) == 4  # 2 earlier + 2 new trials in the same study


def test_a_journal_file_is_a_storage(adata, tiny_config, tmp_path):
    """A path ending in .log is an Optuna journal file (Optuna's advice for many processes on
    a shared file system); a storage object is recorded by its kind, not its address."""
    import optuna

    from scautogenome.search._study import _journal_backend

    path = str(tmp_path / "search.log")
    tiny_config["budget"]["n_trials"] = 2
    sag.tl.classify(adata, "label", config=tiny_config, storage=path, study_name="s")
    b = adata.copy()
    sag.tl.classify(b, "label", config=tiny_config, storage=path, study_name="s")
    assert len(b.uns["sag"]["trials"]) == 4
    assert b.uns["sag"]["params"]["storage"] == path
    journal = optuna.storages.JournalStorage(_journal_backend(path))
    assert len(optuna.load_study(study_name="s", storage=journal).trials) == 4
    sag.tl.classify(b, "label", config=tiny_config, storage=journal, study_name="s")
    assert b.uns["sag"]["params"]["storage"] == "optuna.JournalStorage (an object)"
    with pytest.raises(ValueError, match=r"its folder .* does not exist"):
        sag.tl.classify(b, "label", storage=str(tmp_path / "nope" / "s.log"))


def test_n_trials_0_collects_the_stored_search(adata, tiny_config, tmp_path):
    """A classify run with n_trials=0 trains no new trial: it retrains the stored study's
    best (of workers or an earlier session) into the same model."""
    url = f"sqlite:///{tmp_path / 'search.db'}"
    tiny_config["budget"]["n_trials"] = 2
    first = sag.tl.classify(adata, "label", config=tiny_config, storage=url, study_name="s")
    b = adata.copy()
    tiny_config["budget"]["n_trials"] = 0
    again = sag.tl.classify(b, "label", config=tiny_config, storage=url, study_name="s")
    assert len(b.uns["sag"]["trials"]) == 2  # no new trial
    assert again.weights_digest() == first.weights_digest()
    with pytest.raises(ValueError, match=r"holds no study 'nope' \(studies there: \['s'\]\)"):
        sag.tl.classify(adata.copy(), "label", config=tiny_config, storage=url, study_name="nope")
    import optuna

    assert optuna.get_all_study_names(url) == ["s"]  # none made by the refused call
    for missing in (f"sqlite:///{tmp_path / 'typo.db'}", str(tmp_path / "typo.log")):
        with pytest.raises(ValueError, match=r"typo\.(db|log) does not exist; n_trials=0 collects"):
            sag.tl.classify(adata.copy(), "label", config=tiny_config, storage=missing)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["search.db"]  # no empty file made
    with pytest.raises(ValueError, match="n_trials=0 runs no trial; it collects"):
        sag.tl.classify(adata.copy(), "label", config=tiny_config)
    with pytest.raises(ValueError, match=r"^n_trials=-1 must be at least 0"):
        sag.tl.classify(adata.copy(), "label", n_trials=-1)
    # the budget arguments are named as the user gave them, not as the config's keys
    for kwargs, error, match in (
        ({"n_trials": 2.5}, TypeError, r"^n_trials=2.5 must be an integer"),
        ({"n_trials": True}, TypeError, r"^n_trials=True must be an integer"),
        ({"time_budget": -1}, ValueError, r"^time_budget=-1 must be a positive number of sec"),
        ({"time_budget": 0}, ValueError, r"^time_budget=0 must be a positive number of sec"),
        ({"time_budget": float("nan")}, ValueError, r"^time_budget=nan must be a positive"),
        ({"time_budget": "10"}, TypeError, r"^time_budget='10' must be a positive number"),
    ):
        with pytest.raises(error, match=match):
            sag.tl.classify(adata.copy(), "label", **kwargs)
    with pytest.raises(ValueError, match=r"^beta=-1 must not be negative"):
        sag.tl.embed(adata.copy(), beta=-1)


def test_trials_scored_under_another_fingerprint_are_left_out(adata, tiny_config, tmp_path, caplog):
    """Two processes that create one study at the same moment can each record their own
    data; every trial carries its fingerprint's tag, and the best is chosen among this
    search's own (a trial of the other data scored 1.0 here)."""
    import optuna

    sag.settings.verbosity = 1
    url = f"sqlite:///{tmp_path / 'search.db'}"
    tiny_config["budget"]["n_trials"] = 2
    first = sag.tl.classify(adata, "label", config=tiny_config, storage=url, study_name="s")
    study = optuna.load_study(study_name="s", storage=url)
    tags = {t.user_attrs.get("fingerprint") for t in study.get_trials()}
    assert len(tags) == 1
    assert None not in tags
    foreign = optuna.trial.create_trial(value=1.0, user_attrs={"fingerprint": "another"})
    study.add_trial(foreign)
    tiny_config["budget"]["n_trials"] = 0
    sag._settings.logger.addHandler(caplog.handler)
    b = adata.copy()
    try:
        again = sag.tl.classify(b, "label", config=tiny_config, storage=url, study_name="s")
    finally:
        sag._settings.logger.removeHandler(caplog.handler)
    assert again.weights_digest() == first.weights_digest()
    assert "holds 1 complete trial(s) scored on other data or settings" in caplog.text
    # nor is it a row of the trials table (where it stood above the reported best)
    assert b.uns["sag"]["trials"].index.tolist() == ["0", "1"]  # not the foreign "2"


def test_a_resumed_search_runs_the_starting_points_an_earlier_budget_cut(
    adata, tiny_config, tmp_path
):
    """A first session of one trial ran only the first starting point; the next runs the
    others before drawing its own."""
    url = f"sqlite:///{tmp_path / 'search.db'}"
    tiny_config["budget"]["n_trials"] = 1
    sag.tl.classify(adata, "label", config=tiny_config, storage=url, study_name="s")
    tiny_config["budget"]["n_trials"] = 3
    b = adata.copy()
    sag.tl.classify(b, "label", config=tiny_config, storage=url, study_name="s")
    from scautogenome.search._hpo import initial_trials

    points = initial_trials(sag.config.load(tiny_config))[:3]
    import optuna

    trials = optuna.load_study(study_name="s", storage=url).get_trials()
    ran = [t.system_attrs.get("fixed_params") for t in trials]
    for point in points:
        assert any(r is not None and all(r.get(k) == v for k, v in point.items()) for r in ran)


def test_a_search_beside_a_running_one_draws_points_of_its_own(
    adata, tiny_config, tmp_path, caplog
):
    """Two processes on one study at once: the second does not draw the first one's points
    again (the sampler's seed gets a random salt, as a worker's)."""
    import optuna

    from scautogenome.search._study import sampler_seed

    url = f"sqlite:///{tmp_path / 'search.db'}"
    tiny_config["budget"]["n_trials"] = 2
    sag.tl.classify(adata, "label", config=tiny_config, storage=url, study_name="s")
    other = optuna.load_study(study_name="s", storage=url)
    other.ask()  # a trial another process trains now
    sag.settings.verbosity = 2
    caplog.set_level("INFO")
    sag._settings.logger.addHandler(caplog.handler)
    seeds = []
    real = sampler_seed
    import scautogenome.search._study as study_module

    def spy(seed, n_before, salt=None):
        seeds.append(salt)
        return real(seed, n_before, salt)

    study_module.sampler_seed = spy
    try:
        sag.tl.classify(adata.copy(), "label", config=tiny_config, storage=url, study_name="s")
    finally:
        study_module.sampler_seed = real
        sag._settings.logger.removeHandler(caplog.handler)
    assert "has trial(s) running in another process" in caplog.text
    assert seeds
    assert seeds[0] is not None
    assert "keeps no heartbeats" not in caplog.text  # an RDB storage keeps them


def test_a_journal_trial_left_running_is_named(adata, tiny_config, tmp_path, caplog):
    """A journal file keeps no heartbeats: a trial marked running is taken to be of another
    process, which may have died, as a note says."""
    import optuna

    from scautogenome.search._study import _journal_backend

    path = str(tmp_path / "search.log")
    tiny_config["budget"]["n_trials"] = 1
    sag.tl.classify(adata, "label", config=tiny_config, storage=path, study_name="s")
    journal = optuna.storages.JournalStorage(_journal_backend(path))
    optuna.load_study(study_name="s", storage=journal).ask()  # a process that then died
    sag.settings.verbosity = 2
    caplog.set_level("INFO")
    sag._settings.logger.addHandler(caplog.handler)
    try:
        sag.tl.classify(adata.copy(), "label", config=tiny_config, storage=path, study_name="s")
    finally:
        sag._settings.logger.removeHandler(caplog.handler)
    # the normal case of processes sharing a journal file: an info note, not a warning
    assert "1 trial(s) marked running, taken to be of another process" in caplog.text
    assert not [r for r in caplog.records if r.levelname == "WARNING" and "running" in r.msg]


def test_a_database_trial_left_running_is_named_too(adata, tiny_config, tmp_path, sag_caplog):
    """A process killed less than the grace period ago left its trial running in a database:
    the resumed search said only "joining study", where a journal's says why."""
    import optuna

    from scautogenome.search._study import open_storage

    url = f"sqlite:///{tmp_path / 'search.db'}"
    tiny_config["budget"]["n_trials"] = 1
    sag.tl.classify(adata, "label", config=tiny_config, storage=url, study_name="s")
    storage = open_storage(url)
    trial = optuna.load_study(study_name="s", storage=storage).ask()  # a process that died
    storage.record_heartbeat(trial._trial_id)  # now: within the grace period
    sag.settings.verbosity = 2
    sag.tl.classify(adata.copy(), "label", config=tiny_config, storage=url, study_name="s")
    text = " ".join(sag_caplog.text.split())
    assert "1 trial(s) marked running, taken to be of another process" in text
    assert "once it has had no heartbeat for 120 s" in text


def test_storage_refuses_a_study_of_other_labels(adata, tiny_config, tmp_path):
    url = f"sqlite:///{tmp_path / 'search.db'}"
    tiny_config["budget"]["n_trials"] = 1
    b = adata.copy()  # another AnnData of the same cells, without this run's outputs
    sag.tl.classify(adata, "label", config=tiny_config, storage=url, study_name="s")
    rng = np.random.default_rng(1)
    b.obs["shuffled"] = pd.Categorical(rng.permutation(b.obs["label"].to_numpy()))
    with pytest.raises(ValueError, match="val_labels"):
        sag.tl.classify(b, "shuffled", config=tiny_config, storage=url, study_name="s")
    assert "sag" not in b.uns
    b.X = b.X * 2  # the same genes, cells and labels, other values
    with pytest.raises(ValueError, match="values: ") as info:
        sag.tl.classify(b, "label", config=tiny_config, storage=url, study_name="s")
    assert "search space differs" not in str(info.value)
    # another space: the message names a config of one's own or an upgrade as the cause
    wider = {
        **tiny_config,
        "space": {"common": {**tiny_config["space"]["common"], "batch_size": [32, 64]}},
    }
    with pytest.raises(ValueError, match=r"search space differs.*upgrade of scautogenome"):
        sag.tl.classify(adata.copy(), "label", config=wider, storage=url, study_name="s")


def test_a_start_point_of_ones_own_outside_the_space_is_skipped_with_a_warning(caplog):
    from scautogenome._settings import logger as sag_logger
    from scautogenome.config import _config as classify_config
    from scautogenome.search._hpo import initial_trials

    own = classify_config.load({"search": {"initial_trials": [{"mode": "mlp", "lr": 5.0}]}})
    sag_logger.addHandler(caplog.handler)  # sag's logger does not propagate
    try:
        assert initial_trials(own) == []
        assert "lr=5.0 is not in the search space" in caplog.text
        caplog.clear()
        other_mode = classify_config.load(
            {"mode": "mlp", "search": {"initial_trials": [{"mode": "resnet", "lr": 1e-3}]}}
        )
        assert initial_trials(other_mode) == []
        assert "mode 'resnet' is not in the search space" in caplog.text
        caplog.clear()
        # the default portfolio is moved into a narrower space without a word, not dropped
        narrow = classify_config.load({"space": {"common": {"lr": 1e-2}}})
        points = initial_trials(narrow)
        assert "skipped" not in caplog.text
        assert points
        assert {p["lr"] for p in points} == {1e-2}
        assert len(points) == len({json.dumps(p, sort_keys=True) for p in points})
        # moved to one layer of 256, the two AdamW MLP points become one (no unused
        # mlp_units_1); the SGD point stays apart from them
        one_layer = classify_config.load(
            {
                "mode": "mlp",
                "space": {"common": {"batch_size": [64]}, "mlp": {"n_layers": [1], "units": [256]}},
            }
        )
        points = initial_trials(one_layer)
        assert [p["optimizer"] for p in points] == ["adamw", "sgd"]
        assert all("mlp_units_1" not in p for p in points)
        # with AdamW alone in the space, the SGD point becomes the AdamW one
        adamw_only = classify_config.load(
            {
                "mode": "mlp",
                "space": {
                    "common": {"batch_size": [64], "optimizer": ["adamw"]},
                    "mlp": {"n_layers": [1], "units": [256]},
                },
            }
        )
        points = initial_trials(adamw_only)
        assert {p["optimizer"] for p in points} == {"adamw"}
        assert all("momentum" not in p for p in points)
    finally:
        sag_logger.removeHandler(caplog.handler)


def test_portfolio_starts_the_search(adata, tiny_config):
    tiny_config["budget"]["n_trials"] = 2
    tiny_config["search"] = {"initial_trials": "default"}
    sag.tl.classify(adata, "label", config=tiny_config)
    first, second = (json.loads(p) for p in adata.uns["sag"]["trials"]["params"].iloc[:2])
    # the first default portfolio point, moved into the tiny space (its batch size of 128 to
    # the space's only one, 64)
    assert first["mode"] == "mlp"
    assert first["mlp_units_0"] == 256
    assert first["batch_size"] == 64
    assert first["optimizer"] == "adamw"
    # the second: the same network trained by SGD with momentum, every input kept (its
    # learning rate of 1e-2 moved to the tiny space's top, 5e-3)
    assert second["mode"] == "mlp"
    assert (second["optimizer"], second["momentum"], second["input_keep"]) == ("sgd", 0.9, 1.0)
    assert second["lr"] == 5e-3


@pytest.mark.slow
def test_pbmc68k_beats_a_floor(pbmc):
    """Real data: the default-mode search on scanpy's PBMCs reaches a sensible accuracy."""
    a = pbmc.copy()
    sag.tl.classify(a, "bulk_labels", n_trials=8, time_budget=None)
    assert a.uns["sag"]["metrics"]["test"]["accuracy"] > 0.75


def test_best_trial_of_an_earlier_session_retrains_with_its_own_settings(
    adata, tiny_config, tmp_path, sag_caplog
):
    """A best trial trained in another session is retrained with the training settings it had,
    not with the trainer section of the session that resumes the study."""
    url = f"sqlite:///{tmp_path / 'search.db'}"
    tiny_config["budget"]["n_trials"] = 1
    sag.tl.classify(adata, "label", config=tiny_config, storage=url, study_name="s")
    first = json.loads(adata.uns["sag"]["train_params"])
    b = adata.copy()
    later = {**tiny_config, "trainer": {**tiny_config.get("trainer", {}), "max_epochs": 1}}
    later["budget"] = {"n_trials": 1, "time_budget": 0.001}  # the new trial cannot win
    with sag_caplog.at_level("WARNING"):
        sag.tl.classify(b, "label", config=later, storage=url, study_name="s")
    # a worker started without the study's config= is told (it joined silently)
    assert re.search(
        r"study 's' was searched with the trainer settings \{\"max_epochs\": 15.*this "
        r"session's trials train with \{\"max_epochs\": 1,",
        sag_caplog.text,
    )
    assert b.uns["sag"]["best"]["trial"] == 0
    assert json.loads(b.uns["sag"]["train_params"]) == first
    assert first["max_epochs"] != 1


def test_classification_report_macro_f1_is_sklearns_and_an_empty_part_is_nan():
    from sklearn.metrics import f1_score

    from scautogenome.train import classification_report

    classes = np.array(["a", "b", "c"])
    y_true, y_pred = np.array([0, 0, 1, 1]), np.array([0, 0, 1, 2])  # "c" predicted, not true
    rep = classification_report(y_true, y_pred, classes)
    assert rep["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    empty = classification_report(np.array([], int), np.array([], int), classes)
    assert empty["n"] == 0
    assert np.isnan(empty["accuracy"])
    assert np.isnan(empty["macro_f1"])
    assert empty["confusion"].shape == (3, 3)
    assert empty["confusion"].sum() == 0
    for name in ("precision", "recall", "f1"):  # undefined (0/0), not 0.0
        assert np.isnan(empty["per_class"][name]).all(), name
    assert empty["per_class"]["support"].tolist() == [0, 0, 0]


def test_per_class_figures_of_a_class_without_cells_are_nan():
    """A class with no cell in the part (support 0): recall NaN; precision and F1 NaN where
    nothing was predicted as it, else 0.0 (every such call is wrong), as macro-F1 counts it."""
    from scautogenome.train import classification_report

    classes = np.array(["a", "b", "c", "d"])
    y_true, y_pred = np.array([0, 0, 1, 1]), np.array([0, 0, 1, 2])  # "c" predicted; "d" none
    pc = classification_report(y_true, y_pred, classes)["per_class"]
    assert pc["support"].tolist() == [2, 2, 0, 0]
    np.testing.assert_array_equal(pc["recall"], [1.0, 0.5, np.nan, np.nan])
    np.testing.assert_array_equal(pc["precision"], [1.0, 1.0, 0.0, np.nan])
    np.testing.assert_allclose(pc["f1"], [1.0, 2 / 3, 0.0, np.nan])


def test_ranking_metrics_are_sklearns_one_vs_rest_and_nan_where_undefined():
    from scautogenome.train import classification_report, score

    classes = np.array(["a", "b", "c"])
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(3), size=40)
    y_true = rng.integers(0, 2, size=40)  # no cell of "c"
    rep = classification_report(y_true, proba.argmax(1), classes, scores=proba)
    pc = rep["per_class"]
    for c in (0, 1):
        assert pc["roc_auc"][c] == pytest.approx(roc_auc_score(y_true == c, proba[:, c]))
        assert pc["average_precision"][c] == pytest.approx(
            average_precision_score(y_true == c, proba[:, c])
        )
    assert np.isnan(pc["roc_auc"][2])
    assert np.isnan(pc["average_precision"][2])
    # the macro means leave the undefined class out; the search's score is the same number
    assert rep["roc_auc"] == pytest.approx(pc["roc_auc"][:2].mean())
    assert score(y_true, proba.argmax(1), "roc_auc", 3, scores=proba) == pytest.approx(
        rep["roc_auc"]
    )
    with pytest.raises(ValueError, match="needs the class probabilities"):
        score(y_true, proba.argmax(1), "roc_auc", 3)
    # two classes: the task's ROC AUC, for either class
    two = proba[:, :2] / proba[:, :2].sum(1, keepdims=True)
    rep2 = classification_report(y_true, two.argmax(1), classes[:2], scores=two)
    assert rep2["roc_auc"] == pytest.approx(roc_auc_score(y_true, two[:, 1]))
    empty = classification_report(np.array([], int), np.array([], int), classes, scores=proba[:0])
    assert np.isnan(empty["roc_auc"])
    assert np.isnan(empty["per_class"]["average_precision"]).all()


def test_binary_average_precision_is_the_rare_classs():
    """A model ranking at random on a 5% class: the figure is about 0.05, the rare class's
    precision-recall area, not the mean with the common class's (about 0.5)."""
    from scautogenome.train import classification_report, score

    rng = np.random.default_rng(0)
    for rare in (0, 1):
        y_true = np.where(rng.random(2000) < 0.05, rare, 1 - rare)
        proba = rng.dirichlet(np.ones(2), size=2000)
        rep = classification_report(y_true, proba.argmax(1), np.array(["a", "b"]), scores=proba)
        expected = average_precision_score(y_true == rare, proba[:, rare])
        assert expected < 0.1
        assert rep["average_precision"] == pytest.approx(expected)
        assert rep["per_class"]["average_precision"][rare] == pytest.approx(expected)
        assert score(y_true, proba.argmax(1), "average_precision", 2, scores=proba) == (
            pytest.approx(expected)
        )
    # balanced: the second class's (sklearn's positive label); three classes: the macro mean
    y_true = np.repeat([0, 1], 50)
    proba = rng.dirichlet(np.ones(2), size=100)
    rep = classification_report(y_true, proba.argmax(1), np.array(["a", "b"]), scores=proba)
    assert rep["average_precision"] == pytest.approx(average_precision_score(y_true, proba[:, 1]))
    y3 = rng.integers(0, 3, size=60)
    p3 = rng.dirichlet(np.ones(3), size=60)
    rep3 = classification_report(y3, p3.argmax(1), np.array(["a", "b", "c"]), scores=p3)
    assert rep3["average_precision"] == pytest.approx(rep3["per_class"]["average_precision"].mean())


def test_ranking_by_logits_does_not_tie_confident_cells():
    """Softmax rounds every confident cell to 1.0 in float32; the log-softmax keeps their order,
    so the validation ROC AUC is the logits' own."""
    import torch

    from scautogenome.train import score_logits

    rng = np.random.default_rng(0)
    y = np.r_[np.ones(50, int), np.zeros(50, int)]
    # far past float32's 1.0 (a lead of ~17) and float64's log 0.0 (~37)
    gap = np.r_[rng.normal(60, 10, 50), rng.normal(48, 10, 50)]
    logits = torch.as_tensor(np.c_[np.zeros(100), gap], dtype=torch.float32)
    assert len(np.unique(logits.softmax(1).numpy()[:, 1])) < 10  # the ties this avoids
    expected = roc_auc_score(y, gap)
    assert len(np.unique(logits.double().log_softmax(1).numpy()[:, 1])) < 50  # ties too
    assert score_logits(y, logits, "roc_auc", 2) == pytest.approx(expected, abs=1e-3)


def test_non_finite_validation_outputs_are_divergence_not_a_metric_error(adata, monkeypatch):
    """NaN outputs on the validation cells fail the trial as divergence (a RuntimeError, which
    the search records as a failed trial) instead of scikit-learn's ValueError, which would end
    the whole search."""
    from scautogenome.train import _trainer

    model = sag.models.Classifier({"kind": "mlp", "units": [16]}, {"max_epochs": 2})
    # (the models are imported above, so that only the training loop sees the patch)
    monkeypatch.setattr(
        _trainer,
        "predict_logits",
        lambda net, loader, device: np.full((len(loader.rows), 3), np.nan),
    )
    with pytest.raises(RuntimeError, match="non-finite outputs on the validation cells"):
        model.fit(adata, "label", metric="roc_auc")


def test_fit_with_the_auc_loss_is_judged_by_roc_auc_by_default():
    model = sag.models.Classifier({"kind": "mlp", "units": [16]}, {"max_epochs": 2, "loss": "auc"})
    model.fit(_rare_binary(), "label", seed=0)
    assert all(0 <= h["val_score"] <= 1 for h in model.history_)
    assert model.train_params_["loss"] == "auc"


def test_fit_refuses_a_ranking_metric_without_two_classes_in_val(adata):
    val = np.flatnonzero(adata.obs["label"] == "type_0")[:20]
    adata.obs["fold"] = "train"
    adata.obs.iloc[val, adata.obs.columns.get_loc("fold")] = "val"
    with pytest.raises(ValueError, match="needs two"):
        sag.models.Classifier({"kind": "mlp", "units": [16]}, {"max_epochs": 2}).fit(
            adata, "label", split_key="fold", metric="roc_auc"
        )


def test_search_on_roc_auc_for_a_rare_class(tiny_config, tmp_path):
    """An imbalanced binary task searched on ROC AUC: the trials' values are validation ROC
    AUCs, and the metrics survive h5ad."""
    adata = sag.datasets.synthetic(n_obs=300, n_classes=2, seed=3)
    rare = np.flatnonzero(adata.obs["label"] == "type_1")[100:]
    adata = adata[np.setdiff1d(np.arange(adata.n_obs), rare)].copy()
    sag.tl.classify(adata, "label", config=tiny_config, metric="roc_auc", seed=0)
    uns = adata.uns["sag"]
    assert uns["params"]["metric"] == "roc_auc"
    val = (adata.obs["sag_split"] == "val").to_numpy()
    truth = adata.obs["label"].to_numpy()[val] == "type_1"
    # the kept model's validation score is the ROC AUC of its validation probabilities
    assert uns["metrics"]["val"]["roc_auc"] == pytest.approx(
        roc_auc_score(truth, adata.obsm["sag_proba"][val, 1])
    )
    assert (uns["trials"]["value"].dropna().between(0, 1)).all()
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    assert back.uns["sag"]["metrics"]["test"]["roc_auc"] == pytest.approx(
        uns["metrics"]["test"]["roc_auc"]
    )


def test_a_ranking_metric_without_two_classes_in_val_is_refused(adata, tiny_config):
    # the val part holds cells of one class only
    val = np.flatnonzero(adata.obs["label"] == "type_0")[:20]
    adata.obs["fold"] = "train"
    adata.obs.iloc[val, adata.obs.columns.get_loc("fold")] = "val"
    before = set(adata.obs.columns)
    with pytest.raises(ValueError, match="needs two"):
        sag.tl.classify(adata, "label", split_key="fold", config=tiny_config, metric="roc_auc")
    assert set(adata.obs.columns) == before


def test_pairwise_auc_loss_is_the_mean_over_pairs_and_zero_without_pairs():
    import torch

    from scautogenome.train import pairwise_auc_loss

    logits = torch.tensor([[0.0, 2.0], [1.0, 0.5], [0.0, -1.0], [0.3, 0.0]], requires_grad=True)
    y = torch.tensor([1, 1, 0, 0])
    s = (logits[:, 1] - logits[:, 0]).detach().numpy()
    expected = np.mean([np.log1p(np.exp(-(s[i] - s[j]))) for i in (0, 1) for j in (2, 3)])
    loss = pairwise_auc_loss(logits, y)
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-6)
    loss.backward()
    # raising a positive's score lowers the loss
    assert logits.grad[0, 1] < 0 < logits.grad[0, 0]
    one_class = pairwise_auc_loss(logits, torch.tensor([1, 1, 1, 1]))
    assert float(one_class.detach()) == 0.0
    one_class.backward()  # a minibatch without a pair still steps (by nothing)


def test_calibration_keeps_the_ranking_and_matches_the_prevalence():
    import torch

    from scautogenome.train import calibrate_binary_head

    rng = np.random.default_rng(0)
    h = torch.as_tensor(rng.normal(size=(400, 8)), dtype=torch.float32)
    torch.manual_seed(0)  # the head's weights, whatever the tests before left in torch's RNG
    head = torch.nn.Linear(8, 2)
    with torch.no_grad():
        s0 = (head(h)[:, 1] - head(h)[:, 0]).numpy()
    y = (s0 + rng.normal(scale=0.5, size=400) > np.quantile(s0, 0.85)).astype(int)
    a, _ = calibrate_binary_head(head, s0, y)
    assert a > 0
    with torch.no_grad():
        logits = head(h).numpy()
        proba = head(h).softmax(1).numpy()
    np.testing.assert_allclose(logits[:, 0], -logits[:, 1], atol=1e-6)  # symmetric
    assert roc_auc_score(y, proba[:, 1]) == pytest.approx(roc_auc_score(y, s0))
    assert proba[:, 1].mean() == pytest.approx(y.mean(), abs=0.02)  # calibrated, not 0.5


def _rare_binary(n_rare: int = 30):
    adata = sag.datasets.synthetic(n_obs=300, n_classes=2, seed=3)
    rare = np.flatnonzero(adata.obs["label"] == "type_1")[n_rare:]
    return adata[np.setdiff1d(np.arange(adata.n_obs), rare)].copy()


def test_auc_loss_trains_a_calibrated_binary_classifier(tiny_config, tmp_path):
    adata = _rare_binary()
    cfg = {**tiny_config, "trainer": {**tiny_config["trainer"], "loss": "auc"}}
    model = sag.tl.classify(adata, "label", config=cfg, seed=0)
    uns = adata.uns["sag"]
    assert uns["params"]["metric"] == "roc_auc"  # the AUC loss's default metric
    assert json.loads(uns["train_params"])["loss"] == "auc"
    assert json.loads(uns["config"])["trainer"]["loss"] == "auc"
    test = uns["metrics"]["test"]
    assert test["roc_auc"] > 0.9  # the marker genes separate the classes
    proba = adata.obsm["sag_proba"]
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-5)
    # Platt-calibrated on val: the rare class is predicted, and not for most cells
    assert 0 < (adata.obs["sag_pred"] == "type_1").sum() < adata.n_obs / 2
    model.save(tmp_path / "m")
    back = sag.models.Classifier.load(tmp_path / "m")
    np.testing.assert_allclose(back.predict_proba(adata), proba, rtol=1e-5, atol=1e-6)
    # both classes' logits move with the genes (opposite signs), so SHAP explains both (with
    # logit 0 held at 0, class 0's values were all 0 and its "top genes" the first genes)
    sag.tl.explain(adata, model, cells="all", n_explain=100, n_background=50, n_top=10, seed=0)
    imp = adata.varm["sag_shap"]
    assert (imp > 0).all()


def test_auc_loss_is_refused_before_work_where_it_does_not_apply(adata, tiny_config):
    cfg = {**tiny_config, "trainer": {**tiny_config["trainer"], "loss": "auc"}}
    before = set(adata.obs.columns)
    with pytest.raises(ValueError, match="two classes"):
        sag.tl.classify(adata, "label", config=cfg, metric="roc_auc")  # 3 classes
    with pytest.raises(ValueError, match="metric='accuracy' must be one of"):
        sag.tl.classify(_rare_binary(), "label", config=cfg, metric="accuracy")
    # the default metric (also as expert mode's default() writes it) becomes ROC AUC
    assert sag.config.load(cfg)["search"]["metric"] == "roc_auc"
    expert = sag.config.default()
    expert["trainer"]["loss"] = "auc"
    assert sag.config.load(expert)["search"]["metric"] == "roc_auc"
    assert set(adata.obs.columns) == before
    with pytest.raises(ValueError, match="loss='hinge' must be one of"):
        sag.models.Classifier({"kind": "mlp", "units": [16]}, {"loss": "hinge"}).fit(adata, "label")


def test_user_split_without_test_cells_gives_nan_test_metrics(adata, tiny_config, tmp_path):
    """A train/val-only split is a legitimate choice: the search runs, the test metrics are
    NaN and everything is written (it used to fail after the search)."""
    cfg = {**tiny_config, "budget": {"n_trials": 1, "time_budget": None}}
    adata.obs["fold"] = np.random.default_rng(1).choice(["train"] * 8 + ["val"], adata.n_obs)
    sag.tl.classify(adata, "label", split_key="fold", mode="mlp", config=cfg, seed=0)
    test = adata.uns["sag"]["metrics"]["test"]
    assert test["n"] == 0
    assert np.isnan(test["accuracy"])
    assert adata.uns["sag"]["metrics"]["val"]["n"] > 0
    assert "sag_pred" in adata.obs
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    assert back.uns["sag"]["metrics"]["test"]["n"] == 0


def test_numeric_labels_keep_numeric_order(adata):
    from scautogenome.data import prepare_labelled

    adata.obs["y"] = np.array([1, 2, 10])[adata.obs["label"].cat.codes]
    assert prepare_labelled(adata, "y").classes.tolist() == ["1", "2", "10"]
    adata.obs["b"] = adata.obs["y"] > 1
    assert prepare_labelled(adata, "b").classes.tolist() == ["False", "True"]


def test_fit_refuses_an_unknown_metric_before_training(adata):
    with pytest.raises(ValueError, match="metric='auc'"):
        sag.models.Classifier({"kind": "mlp", "units": [16]}, {"max_epochs": 2}).fit(
            adata, "label", metric="auc"
        )


def test_resumed_study_of_other_labels_or_mode_is_refused(adata, tiny_config, tmp_path):
    cfg = {**tiny_config, "budget": {"n_trials": 1, "time_budget": None}}
    url = f"sqlite:///{tmp_path / 's.db'}"
    run = {"config": cfg, "seed": 0, "storage": url, "study_name": "x"}
    sag.tl.classify(adata.copy(), "label", mode="mlp", **run)
    with pytest.raises(ValueError, match="mode: 'mlp' there, 'resnet' now"):
        sag.tl.classify(adata.copy(), "label", mode="resnet", **run)
    shuffled = adata.copy()
    shuffled.obs["label"] = shuffled.obs["label"].sample(frac=1.0, random_state=0).to_numpy()
    with pytest.raises(ValueError, match="labels"):
        sag.tl.classify(shuffled, "label", mode="mlp", **run)


def test_user_split_without_val_cells_validates_on_part_of_train(adata, tiny_config, capfd):
    """A train/test split (AutoGenome's layout without an eval file) keeps its test cells
    held out: the validation cells are drawn per class from its train cells, seeded."""
    cfg = {**tiny_config, "budget": {"n_trials": 1, "time_budget": None}}
    adata.obs["fold"] = np.random.default_rng(1).choice(["train"] * 8 + ["test"], adata.n_obs)
    other = adata.copy()
    sag.tl.classify(adata, "label", split_key="fold", mode="mlp", config=cfg, seed=0)
    assert "validate the search instead" in capfd.readouterr().err
    split = adata.obs["sag_split"].astype(str)
    fold = adata.obs["fold"].astype(str)
    assert (split[fold == "test"] == "test").all()
    val = split == "val"
    assert (fold[val] == "train").all()
    # every class validated, about one in nine of its training cells
    per_class = adata.obs.loc[val, "label"].value_counts()
    train_per_class = adata.obs.loc[fold == "train", "label"].value_counts()
    assert (per_class > 0).all()
    np.testing.assert_allclose(per_class / train_per_class, 1 / 9, atol=0.02)
    sag.tl.classify(other, "label", split_key="fold", mode="mlp", config=cfg, seed=0)
    assert other.obs["sag_split"].equals(adata.obs["sag_split"])


def test_trial_cap_spares_the_last_trial_and_is_recorded(adata, tiny_config, monkeypatch, tmp_path):
    """Each trial may train max_trial_fraction of the time budget, except the last one that
    n_trials allows (no later trial needs the time); a trial cut at its cap is recorded as
    such in the trials table."""
    import time

    from scautogenome.search import _hpo

    seen = []
    real = _hpo.train_on_data

    def spy(*args, deadline=None, **kwargs):
        seen.append(deadline - time.perf_counter())
        return real(*args, deadline=deadline, **kwargs)

    monkeypatch.setattr(_hpo, "train_on_data", spy)
    tiny_config["budget"] = {"n_trials": 3, "time_budget": 400}
    tiny_config["search"] = {"max_trial_fraction": 0.05}
    sag.tl.classify(adata, "label", config=tiny_config)
    assert len(seen) == 3
    assert all(0 < s <= 0.05 * 400 + 1e-6 for s in seen[:2])
    assert 0.05 * 400 < seen[2] <= 400
    assert set(adata.uns["sag"]["trials"]["stopped"]) <= {"max_epochs", "early_stopping"}

    # a cap of 4 ms: every trial but the last is cut within its first epoch
    tiny_config["search"] = {"max_trial_fraction": 1e-5}
    tiny_config["trainer"] = {"max_epochs": 3, "patience": 3, "min_epochs": 3}
    sag.tl.classify(adata, "label", config=tiny_config)
    stopped = list(adata.uns["sag"]["trials"]["stopped"])
    assert stopped == ["trial_cap", "trial_cap", "max_epochs"]
    sag.tl.classify(adata, "label", config=tiny_config, n_trials=1)
    assert list(adata.uns["sag"]["trials"]["stopped"]) == ["max_epochs"]  # the only one
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    assert list(back.uns["sag"]["trials"]["stopped"]) == ["max_epochs"]


def test_a_best_trial_cut_short_is_warned_about(caplog):
    from scautogenome._settings import logger as sag_logger
    from scautogenome.search._study import kept_record, warn_if_cut

    sag_logger.addHandler(caplog.handler)  # sag's logger does not propagate
    try:
        for attrs, where in (
            ({"stopped": "trial_cap", "cap_seconds": 37.5}, "time budget (38 s, max_trial"),
            ({"stopped": "time_budget"}, "stopped at the time budget"),
        ):
            caplog.clear()
            warn_if_cut(kept_record({**attrs, "epochs": 4, "cut_batches": 3}), 50)
            assert "after 3 of 50 epochs and 3 minibatches" in caplog.text
            assert where in caplog.text
        for stopped in ("max_epochs", "early_stopping", "pruned", ""):
            caplog.clear()
            warn_if_cut(kept_record({"stopped": stopped}), 50)
            assert caplog.text == ""
    finally:
        sag_logger.removeHandler(caplog.handler)


def test_a_best_model_without_a_whole_epoch_is_refused(adata, tiny_config):
    """A time budget that stops the kept model in its first epoch, before 100 minibatches, is
    an error naming time_budget (and the epoch's time where known); one cut later in
    its first epoch is kept (on a large dataset that is thousands of minibatches). The
    AnnData is left as it was."""
    from scautogenome.search._study import check_trained, kept_record

    cut = kept_record({"stopped": "time_budget", "epochs": 1, "cut_batches": 2})
    # 1,000 rows of 32: 32 minibatches an epoch, 2 of them trained
    with pytest.raises(ValueError, match=r"time_budget=0.5 s stopped .* after 2 of the 32 mini"):
        check_trained(cut, 0.5, 1000, 32)
    with pytest.raises(ValueError, match=r"one epoch takes about 12 s here"):
        check_trained(cut, 0.5, 1000, 32, 12.0)
    with pytest.raises(ValueError, match=r"the time budget of the search that trained it"):
        check_trained(cut, None, 1000, 32)  # a collected study: not this call's budget
    capped = kept_record({"stopped": "trial_cap", "epochs": 1, "cut_batches": 1, "cap_seconds": 2})
    with pytest.raises(ValueError, match=r"its share of time_budget=8 s \(2 s, .*max_trial_frac"):
        check_trained(capped, 8, 1000, 32)
    for attrs in (
        {"stopped": "time_budget", "epochs": 2, "cut_batches": 1},  # one whole epoch
        {"stopped": "time_budget", "epochs": 1, "cut_batches": 0},
        {"stopped": "max_epochs", "epochs": 1, "cut_batches": 1},
    ):
        check_trained(kept_record(attrs), 0.5, 1000, 32)
    # 40,000 rows: 529 of 1,250 minibatches is a model worth keeping
    check_trained(
        kept_record({"stopped": "time_budget", "epochs": 1, "cut_batches": 529}), 1.5, 40_000, 32
    )

    before = adata.copy()
    tiny_config["trainer"]["max_epochs"] = 50
    with pytest.raises(ValueError, match=r"time_budget=0.001 s .* of its first epoch \(fewer"):
        sag.tl.classify(adata, "label", config=tiny_config, time_budget=0.001)
    assert set(adata.obs) == set(before.obs)
    assert set(adata.uns) == set(before.uns)


def test_collecting_a_study_whose_best_was_cut_names_the_budget_that_cut_it(
    adata, tiny_config, monkeypatch, tmp_path
):
    """A stored study whose best trial its deadline cut after one minibatch is refused when
    collected (``n_trials=0``), and the message names the budget of the search that trained
    it, not this call's ``time_budget`` (which ran no trial). The AnnData is left as it was."""
    import time

    from conftest import adata_state, assert_adata_state

    from scautogenome.search import _hpo

    real = _hpo.train_on_data

    def cut(*args, deadline=None, **kwargs):  # the deadline already past: one minibatch
        return real(*args, deadline=time.perf_counter() - 1.0, **kwargs)

    monkeypatch.setattr(_hpo, "train_on_data", cut)
    url = f"sqlite:///{tmp_path / 'cut.db'}"
    tiny_config["budget"] = {"n_trials": 1, "time_budget": 30}
    with pytest.raises(ValueError, match=r"time_budget=30(\.0)? s stopped the best model"):
        sag.tl.classify(adata.copy(), "label", config=tiny_config, storage=url)
    monkeypatch.undo()
    before = adata_state(adata)
    with pytest.raises(ValueError, match=r"^the time budget of the search that trained it"):
        sag.tl.classify(adata, "label", config=tiny_config, storage=url, n_trials=0)
    assert_adata_state(adata, before)


def test_auto_with_rrfcn_reports_how_the_kept_model_stopped(adata, monkeypatch):
    """mode="auto" with RRFCN keeps the better of the Optuna search and ENAS: the record of
    how training ended is the kept one's, not the other's."""
    from scautogenome import config as sag_config
    from scautogenome.data import prepare_labelled
    from scautogenome.search import _enas
    from scautogenome.search._study import SearchResult, kept_record

    def fake(value, stopped, n_trials):
        table = pd.DataFrame(
            {c: [0] * n_trials for c in _enas.TRIAL_COLUMNS} | {"number": list(range(n_trials))}
        )
        return SearchResult(
            architecture={"kind": "mlp"},
            train_params={},
            state_dict={},
            history=[],
            best_value=value,
            best_trial=n_trials - 1,
            trials=table,
            study_name="s",
            seconds=0.0,
            kept=kept_record({"stopped": stopped, "epochs": 2}),
        )

    cfg = sag_config.load({"mode": "auto", "budget": {"n_trials": 1, "time_budget": 4000}})
    data = prepare_labelled(adata, "label", seed=0)
    for enas_value, kept in ((0.9, "max_epochs"), (0.5, "time_budget")):
        monkeypatch.setattr(_enas, "run_search", lambda *a, **k: fake(0.6, "time_budget", 2))
        monkeypatch.setattr(
            _enas, "run_enas", lambda *a, v=enas_value, **k: fake(v, "max_epochs", 3)
        )
        res = _enas.search_with_rrfcn(data, cfg, device="cpu")
        assert res.kept["stopped"] == kept
        assert res.best_trial == (4 if kept == "max_epochs" else 1)


def test_progress_shows_the_time_budget_left(adata, tiny_config, capfd, monkeypatch):
    """With a time budget the search ends there whatever the trial count says: the bar says
    how much of it is left."""
    from scautogenome import _logging
    from scautogenome.search import _study

    # at a terminal's pace (a file's bar is redrawn every 30 s: maybe never in this search)
    monkeypatch.setattr(_logging, "interactive", lambda: True)
    monkeypatch.setattr(_study, "interactive", lambda: True)
    sag.settings.progress_bar = True
    sag.settings.verbosity = 2  # bars need verbosity >= info
    tiny_config["budget"] = {"n_trials": 2, "time_budget": 300}
    sag.tl.classify(adata, "label", config=tiny_config)
    err = capfd.readouterr().err
    assert "search: 2/2 trials [" in err  # no ETA from the trials' rate
    assert "budget left=" in err
    assert "epoch=" in err  # a long trial shows its epochs
    tiny_config["budget"] = {"n_trials": 2, "time_budget": None}
    sag.tl.classify(adata, "label", config=tiny_config)
    assert "budget left" not in capfd.readouterr().err


def test_an_input_column_classify_would_overwrite_is_refused(adata, tiny_config):
    """labels or a split column named as one of classify's outputs: an error before any work,
    the column untouched; an earlier run's split column stays usable as split_key."""
    adata.obs["sag_pred"] = adata.obs["label"].copy()
    before = adata.obs["sag_pred"].copy()
    with pytest.raises(ValueError, match=r"labels_key='sag_pred'.*another key_added"):
        sag.tl.classify(adata, "sag_pred", config=tiny_config)
    pd.testing.assert_series_equal(adata.obs["sag_pred"], before)
    adata.obs["x_split"] = adata.obs["label"].copy()
    with pytest.raises(ValueError, match=r"labels_key='x_split'.*train/val/test split"):
        sag.tl.classify(adata, "x_split", key_added="x", config=tiny_config)
    with pytest.raises(ValueError, match=r"split_key='sag_pred'"):
        sag.tl.classify(adata, "label", split_key="sag_pred", config=tiny_config)
    assert "sag" not in adata.uns
    # another key_added writes elsewhere
    sag.tl.classify(adata, "sag_pred", key_added="run", config=tiny_config)
    pd.testing.assert_series_equal(adata.obs["sag_pred"], before)
    # the split of that run, read back as split_key under the same key
    split = adata.obs["run_split"].copy()
    sag.tl.classify(adata, "label", key_added="run", split_key="run_split", config=tiny_config)
    assert (adata.obs["run_split"].astype(str) == split.astype(str)).all()


def test_the_tools_leave_torchs_global_random_state_as_it_was(adata, tiny_config):
    """classify, explain and embed seed torch for their own trainings; the user's next draws
    from torch's global generator are the ones they would have been without the call."""
    import inspect

    import torch

    tiny_config["budget"]["n_trials"] = 1
    torch.manual_seed(123)
    expected = torch.rand(4)
    torch.manual_seed(123)
    model = sag.tl.classify(adata, "label", config=tiny_config)
    sag.tl.explain(adata, model, nsamples=10, n_background=10, n_explain=20)
    sag.tl.embed(adata, n_trials=1, config={"trainer": {"max_epochs": 2}})
    assert torch.equal(torch.rand(4), expected)
    # the decorator keeps what notebooks and docs show
    assert "labels_key" in inspect.signature(sag.tl.classify).parameters
    assert sag.tl.classify.__doc__.startswith("Search for the best classifier")


def test_the_tools_leave_pythons_random_state_as_it_was(adata, monkeypatch):
    """A tool's first call imports libraries that draw from Python's random (sklearn.metrics
    imports rich, which calls random.getrandbits): every sag.tl tool gives the state back,
    whether it returns or raises."""
    from conftest import assert_random_state_kept

    from scautogenome.tools import _classify, _embed, _explain, _predict

    calls = {
        "classify": lambda: sag.tl.classify(adata, "label"),
        "embed": lambda: sag.tl.embed(adata),
        "encode": lambda: sag.tl.encode(adata, None),
        "predict": lambda: sag.tl.predict(adata, None),
        "explain": lambda: sag.tl.explain(adata, None),
        "embedding_scores": lambda: sag.tl.embedding_scores(adata, "X", "label", key_added="s"),
    }
    assert set(calls) == set(sag.tl.__all__)  # every tool
    patched = [(m, "check_key_added") for m in (_classify, _embed, _explain, _predict)]
    assert_random_state_kept(monkeypatch, patched, calls)


def test_importing_the_tools_leaves_pythons_random_state_as_it_was():
    """In a fresh process the first sag.tl (or sag.models) imports sklearn.metrics, whose
    rich draws from Python's random at import: the user's stream is given back."""
    import subprocess
    import sys

    code = (
        "import random, scautogenome as sag\n"
        "random.seed(1); expected = random.random(); random.seed(1)\n"
        "sag.tl.classify; sag.models.Classifier; import scautogenome.train\n"
        "assert random.random() == expected, 'the random stream moved'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr


def _interrupt_the_first_trial(monkeypatch) -> None:
    """Ctrl-C in the first trial's training; later trials train as they do."""
    from scautogenome.search import _hpo

    real, calls = _hpo.train_on_data, []

    def interrupted_first(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(_hpo, "train_on_data", interrupted_first)


def test_a_resumed_search_runs_again_a_starting_point_that_was_interrupted(
    adata, tiny_config, tmp_path, monkeypatch
):
    """Ctrl-C during a starting point fails its trial (as Optuna records any exception); the
    resumed search enqueues that point again, so the portfolio the search starts from is
    whole. Optuna's warning of the failed trial is silent at verbosity 0."""
    import optuna

    url = f"sqlite:///{tmp_path / 's.db'}"
    tiny_config["mode"] = "mlp"
    tiny_config["budget"]["n_trials"] = 2
    _interrupt_the_first_trial(monkeypatch)
    sag.settings.verbosity = 0
    level = optuna.logging.get_verbosity()
    said = []
    monkeypatch.setattr(
        sag._settings.logger, "warning", lambda *args: said.append(args[0] % args[1:])
    )
    with pytest.raises(KeyboardInterrupt):
        sag.tl.classify(adata, "label", config=tiny_config, storage=url, study_name="s")
    assert any(
        "search interrupted after 0 complete trial(s)" in m and "the same call resumes" in m
        for m in said
    )
    assert "sag_pred" not in adata.obs  # nothing written
    assert "sag" not in adata.uns
    first = optuna.load_study(study_name="s", storage=url).trials
    assert first[0].state.name == "FAIL"
    assert first[0].user_attrs["interrupted"] is True
    assert optuna.logging.get_verbosity() == level  # Optuna's own level, restored
    b = adata.copy()
    sag.tl.classify(b, "label", config=tiny_config, storage=url, study_name="s")
    trials = optuna.load_study(study_name="s", storage=url).trials
    again = [t for t in trials[1:] if t.params == first[0].params]
    assert again
    assert again[0].state.name == "COMPLETE"


def test_a_resumed_search_says_which_starting_points_it_runs(
    adata, tiny_config, tmp_path, monkeypatch, sag_caplog
):
    """Starting points an interrupted session had queued (Optuna's WAITING trials) run
    first when it resumes: the log said it ran the interrupted point, which it queued after
    them, past the budget. The budget now counts the queued ones first."""
    import optuna

    url = f"sqlite:///{tmp_path / 's.db'}"
    _interrupt_the_first_trial(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        sag.tl.classify(adata, "label", config=tiny_config, storage=url, study_name="s")
    states = [t.state.name for t in optuna.load_study(study_name="s", storage=url).trials]
    assert states == ["FAIL", "WAITING", "WAITING"]
    tiny_config["budget"]["n_trials"] = 1
    sag.settings.verbosity = 2
    sag_caplog.clear()
    sag.tl.classify(adata.copy(), "label", config=tiny_config, storage=url, study_name="s")
    said = sag_caplog.text
    assert "3 earlier trial(s), 0 of them finished, 2 queued (they run first)" in said
    assert "running the starting point" not in said
    states = [t.state.name for t in optuna.load_study(study_name="s", storage=url).trials]
    assert states == ["FAIL", "COMPLETE", "WAITING"]
    tiny_config["budget"]["n_trials"] = 2
    sag_caplog.clear()
    sag.tl.classify(adata.copy(), "label", config=tiny_config, storage=url, study_name="s")
    assert sag_caplog.text.count("running the starting point") == 1
    assert "interrupted before" in sag_caplog.text
    trials = optuna.load_study(study_name="s", storage=url).trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE", "COMPLETE"]
    assert trials[3].params == trials[0].params


def test_a_new_study_says_where_it_is(adata, tiny_config, tmp_path, monkeypatch, sag_caplog):
    """A worker or a search whose storage or study name is new (a typo, a relative path
    from another folder) started a search of its own without a word of it."""
    monkeypatch.chdir(tmp_path)
    tiny_config["budget"]["n_trials"] = 1
    sag.settings.verbosity = 2
    sag.tl.classify(adata, "label", config=tiny_config, storage="sqlite:///s.db", study_name="s")
    said = " ".join(sag_caplog.text.split())
    assert f"study 's' is new: a search starts in {tmp_path / 's.db'}" in said
    sag_caplog.clear()
    sag.tl.classify(adata, "label", config=tiny_config, storage="sqlite:///s.db", study_name="s")
    assert "is new" not in sag_caplog.text
    assert "resuming study 's'" in sag_caplog.text


def test_relative_paths_are_recorded_as_absolute(adata, tiny_config, tmp_path, monkeypatch):
    """A relative model_dir or storage recorded as typed named another folder, or another
    model, from a later session's working folder: recorded as absolute paths."""
    import anndata as ad

    monkeypatch.chdir(tmp_path)
    tiny_config["budget"]["n_trials"] = 1
    sag.tl.classify(
        adata, "label", config=tiny_config, model_dir="runs/m", storage="sqlite:///s.db"
    )
    uns = adata.uns["sag"]
    assert uns["model_dir"] == str(tmp_path / "runs" / "m")
    assert uns["params"]["storage"] == f"sqlite:///{tmp_path / 's.db'}"
    sag.tl.embed(adata, n_trials=1, time_budget=5, model_dir="runs/v", storage="j.log")
    run = adata.uns["sag_resvae"]
    assert run["model_dir"] == str(tmp_path / "runs" / "v")
    assert run["params"]["storage"] == str(tmp_path / "j.log")
    adata.write_h5ad(tmp_path / "a.h5ad")
    assert ad.read_h5ad(tmp_path / "a.h5ad").uns["sag"]["model_dir"] == uns["model_dir"]


def test_a_run_records_the_versions_that_made_it(adata, tiny_config, tmp_path):
    """A run's record says which scautogenome, torch, scanpy... trained its model (the same
    seed trains another model under another torch), surviving h5ad, as model.json does."""
    import anndata as ad
    import torch

    tiny_config["budget"]["n_trials"] = 1
    model = sag.tl.classify(adata, "label", config=tiny_config, model_dir=tmp_path / "m")
    sag.tl.embed(adata, n_trials=1, time_budget=5)
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    saved = json.loads((tmp_path / "m" / "model.json").read_text())["versions"]
    for key in ("sag", "sag_resvae"):
        recorded = back.uns[key]["versions"]
        assert recorded["scautogenome"] == sag.__version__
        assert recorded["torch"] == torch.__version__.split("+")[0] or recorded["torch"] == (
            torch.__version__
        )
        assert set(recorded) == set(saved)
    assert dict(back.uns["sag"]["versions"]) == saved
    assert model is not None


def test_optuna_prints_no_traceback_of_an_interruption():
    """A trial stopped by Ctrl-C (or SIGTERM) is named by the search's own log and the
    command line, not by Optuna's lines (its traceback and "failed with value None"); a trial
    failing for another reason keeps Optuna's report."""
    import logging

    import optuna

    from scautogenome.search._study import _optuna_log_follows_sag

    shown = []

    class Collect(logging.Handler):
        def emit(self, record):
            shown.append(self.format(record))

    def interrupted(trial):
        raise KeyboardInterrupt

    def failing(trial):
        raise RuntimeError("boom")

    @_optuna_log_follows_sag
    def search(objective):
        optuna.create_study().optimize(objective, n_trials=1, catch=(RuntimeError,))

    collect = Collect()
    logging.getLogger("optuna").addHandler(collect)
    try:
        with pytest.raises(KeyboardInterrupt):
            search(interrupted)
        # neither its traceback nor its "Trial 0 failed with value None." line
        assert shown == []
        shown.clear()
        search(failing)
        assert any("RuntimeError: boom" in text for text in shown)  # others keep theirs
    finally:
        logging.getLogger("optuna").removeHandler(collect)


def test_a_starting_point_another_process_enqueued_too_runs_once(
    adata, tiny_config, tmp_path, caplog
):
    """Two processes that create one study together may both enqueue the starting points
    (Optuna's skip_if_exists is not atomic): a trial of a point that another process already
    runs is pruned at once, and the search says it joins that process's search."""
    import optuna

    url = f"sqlite:///{tmp_path / 'search.db'}"
    tiny_config["mode"] = "mlp"
    tiny_config["budget"]["n_trials"] = 1
    sag.tl.classify(adata.copy(), "label", config=tiny_config, storage=url, study_name="probe")
    point = optuna.load_study(study_name="probe", storage=url).trials[0]
    point = point.system_attrs["fixed_params"]  # the first starting point
    other = optuna.create_study(storage=url, study_name="s", direction="maximize")
    other.enqueue_trial(point)  # the other process's
    other.enqueue_trial(point)  # this one's, enqueued at the same moment
    assert other.ask().number == 0  # the other process trains it now
    sag.settings.verbosity = 2
    caplog.set_level("INFO")
    sag._settings.logger.addHandler(caplog.handler)
    tiny_config["budget"]["n_trials"] = 2
    try:
        sag.tl.classify(adata, "label", config=tiny_config, storage=url, study_name="s")
    finally:
        sag._settings.logger.removeHandler(caplog.handler)
    assert "joining study 's', which another process searches now" in caplog.text
    assert "resuming" not in caplog.text
    trials = adata.uns["sag"]["trials"]
    assert trials.loc["1", "state"] == "pruned"
    assert trials.loc["1", "stopped"] == "duplicate"
    assert trials.loc["1", "epochs"] == -1  # not trained
    done = [t.params for t in optuna.load_study(study_name="s", storage=url).trials if t.value]
    assert done
    assert point not in done
    assert len({json.dumps(p, sort_keys=True) for p in done}) == len(done)


def test_a_diverged_trial_is_one_line_and_a_failed_trial(adata, tiny_config, monkeypatch):
    """A trial whose training diverges fails with one line of the search's log, without
    Optuna's traceback (also at the command line's --quiet); the search goes on, and the
    trials table says why the trial failed."""
    import logging

    from scautogenome.search import _hpo
    from scautogenome.train import Diverged

    real = _hpo.train_on_data
    calls = []

    def diverging_first(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # as the trainers raise it
            msg = "training diverged: non-finite loss at epoch 0 (lr=1); a lower learning rate"
            raise Diverged(msg)
        return real(*args, **kwargs)

    monkeypatch.setattr(_hpo, "train_on_data", diverging_first)
    said = []
    monkeypatch.setattr(
        sag._settings.logger, "warning", lambda *args: said.append(args[0] % args[1:])
    )
    shown = []

    class Collect(logging.Handler):
        def emit(self, record):
            shown.append(self.format(record))

    collect = Collect()
    logging.getLogger("optuna").addHandler(collect)
    try:
        sag.tl.classify(adata, "label", config=tiny_config)
    finally:
        logging.getLogger("optuna").removeHandler(collect)
    assert [m for m in said if "diverged" in m] == [
        "trial 0 failed: training diverged: non-finite loss at epoch 0 (lr=1); a lower "
        "learning rate"
    ]
    assert not [text for text in shown if "Trial 0" in text or "Traceback" in text], shown
    trials = adata.uns["sag"]["trials"]
    assert (trials.loc["0", "state"], trials.loc["0", "stopped"]) == ("fail", "diverged")
    assert (trials["state"] == "complete").sum() == 2  # the search went on


def test_a_search_whose_every_trial_diverged_says_so(adata, tiny_config, monkeypatch):
    """Every trial diverged: the error names the cause and the learning rate, not the budget
    (more trials would diverge again)."""
    from scautogenome.search import _hpo
    from scautogenome.train import Diverged

    def diverging(*args, **kwargs):
        msg = "training diverged: non-finite loss at epoch 1 (lr=1e+06); a lower learning rate"
        raise Diverged(msg)

    monkeypatch.setattr(_hpo, "train_on_data", diverging)
    with pytest.raises(RuntimeError, match=r"each of its 3 trial\(s\) diverged") as e:
        sag.tl.classify(adata, "label", config=tiny_config)
    assert "config['space']['common']['lr']" in str(e.value)
    assert "raise the budget" not in str(e.value)


def test_ctrl_c_inside_a_storage_write_stops_the_search_cleanly(
    adata, tiny_config, tmp_path, monkeypatch, python_sigint
):
    """Ctrl-C that lands inside Optuna's write of a trial's end is raised after the write
    (it would leave Optuna with "Should not reach."): the trial is recorded, and the search
    stops with its own message and KeyboardInterrupt."""
    import os
    import signal

    import optuna

    url = f"sqlite:///{tmp_path / 's.db'}"
    real = optuna.storages.RDBStorage.set_trial_state_values
    sent = []

    def interrupted_write(self, trial_id, state, values=None):
        if state == optuna.trial.TrialState.COMPLETE and not sent:
            sent.append(1)
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, in the middle of the write
        return real(self, trial_id, state, values)

    monkeypatch.setattr(optuna.storages.RDBStorage, "set_trial_state_values", interrupted_write)
    said = []
    monkeypatch.setattr(
        sag._settings.logger, "warning", lambda *args: said.append(args[0] % args[1:])
    )
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        sag.tl.classify(adata, "label", config=tiny_config, storage=url, study_name="s")
    assert sent
    assert any("search interrupted after 1 complete trial(s)" in m for m in said), said
    trials = optuna.load_study(study_name="s", storage=url).trials
    # recorded; no later trial started (the other starting points wait)
    assert [t.state.name for t in trials if t.state.name != "WAITING"] == ["COMPLETE"]
    assert signal.getsignal(signal.SIGINT) is handler
    assert "sag" not in adata.uns


def test_a_bar_written_to_a_file_is_redrawn_seldom(adata, tiny_config, capfd, monkeypatch):
    """A search whose bar goes to a file (a job's log) redraws it every LOG_FILE_REDRAW
    seconds, not at every trial and epoch; a terminal or a notebook keeps tqdm's pace."""
    from scautogenome import _logging
    from scautogenome.search import _study

    sag.settings.progress_bar = True
    sag.settings.verbosity = 2
    tiny_config["budget"] = {"n_trials": 6, "time_budget": None}
    redraws = {}
    for watched in (True, False):
        monkeypatch.setattr(_logging, "interactive", lambda w=watched: w)
        monkeypatch.setattr(_study, "interactive", lambda w=watched: w)
        capfd.readouterr()
        sag.tl.classify(adata, "label", config=tiny_config, key_added=f"k{int(watched)}")
        err = capfd.readouterr().err
        redraws[watched] = err.count("\r")
        assert "| 6/6 [" in err  # the bar's last state is drawn when it closes
    assert redraws[False] <= 3 < redraws[True]


def test_a_study_stored_before_the_training_settings_were_recorded_resumes(
    adata, tiny_config, tmp_path, sag_caplog
):
    """A study of an earlier scautogenome, whose fingerprint lacks the training settings: its
    trials are this search's (their tags leave the settings out), the settings are recorded,
    with a warning."""
    import optuna

    from scautogenome.search._study import FINGERPRINT_ATTR

    url = f"sqlite:///{tmp_path / 'search.db'}"
    tiny_config["budget"]["n_trials"] = 1
    first = sag.tl.classify(adata, "label", config=tiny_config, storage=url, study_name="s")
    study = optuna.load_study(study_name="s", storage=url)
    old = dict(study.user_attrs[FINGERPRINT_ATTR])
    assert "trainer" in old
    del old["trainer"]
    study.set_user_attr(FINGERPRINT_ATTR, old)
    tiny_config["budget"]["n_trials"] = 0
    again = sag.tl.classify(adata.copy(), "label", config=tiny_config, storage=url, study_name="s")
    assert again.weights_digest() == first.weights_digest()
    assert "recorded by an earlier scautogenome without trainer" in sag_caplog.text
    stored = optuna.load_study(study_name="s", storage=url).user_attrs[FINGERPRINT_ATTR]
    assert "trainer" in stored


def test_the_budget_is_logged_in_words():
    from scautogenome.tools._utils import budget_text

    assert budget_text({"n_trials": 3, "time_budget": None}) == "3 trials"
    assert budget_text({"n_trials": None, "time_budget": 600.0}) == "600 s"
    assert budget_text({"n_trials": 3, "time_budget": 90}) == (
        "3 trials or 90 s, whichever ends first"
    )
    assert budget_text({"n_trials": None, "time_budget": None}) == "no limit"
    assert budget_text({"n_trials": 1, "time_budget": 1234567.0}) == (
        "1 trial or 1,234,567 s, whichever ends first"
    )
    # n_trials=0 collects a stored study: no time is spent searching
    assert budget_text({"n_trials": 0, "time_budget": 600.0}) == (
        "no new trial (the stored study's trials are collected)"
    )


def test_a_run_of_other_classes_drops_the_colours_of_the_earlier_ones(adata, tiny_config):
    """scanpy reads uns['sag_pred_colors'] by position: a second run with fewer classes
    (min_cells_per_class leaving one out) would give a class another's colour, so its colours
    are those of the labels again; a run of the same classes keeps them (maybe the user's),
    and a numeric target's predictions drop them."""
    from scautogenome.plotting._utils import palette

    config = {**tiny_config, "budget": {"n_trials": 1, "time_budget": None}}
    adata.obs["label"] = adata.obs["label"].astype(str)
    adata.obs.loc[adata.obs_names[::40], "label"] = "rare"  # 8 cells
    sag.tl.classify(adata, "label", config=config)
    called = set(adata.obs["sag_pred"].astype(str))
    order = ["rare", "type_0", "type_1", "type_2"]
    assert list(adata.obs["sag_pred"].cat.categories) == [c for c in order if c in called]
    colors = ["#111111", "#222222", "#333333", "#444444"][: len(called)]
    adata.uns["sag_pred_colors"] = colors
    sag.tl.classify(adata, "label", config=config)  # the same run: the same categories
    assert list(adata.uns["sag_pred_colors"]) == colors
    sag.tl.classify(adata, "label", config=config, min_cells_per_class=10)
    assert list(adata.obs["sag_pred"].cat.categories) == ["type_0", "type_1", "type_2"]
    # not the user's colours by position: each class the colour of its label
    assert list(adata.uns["sag_pred_colors"]) == palette(4)[1:]
    adata.uns["sag_pred_colors"] = colors[:3]
    adata.obs["age"] = np.linspace(20, 80, adata.n_obs)
    sag.tl.classify(adata, "age", config=config)
    assert "sag_pred_colors" not in adata.uns


def test_trials_that_diverge_again_and_again_are_warned_about_three_times(
    adata, tiny_config, monkeypatch, sag_caplog
):
    """A space whose learning rates diverge in trial after trial: the first three are
    warnings (the third says the rest are info lines), the rest info lines; the summary
    counts them all."""
    from scautogenome.search import _hpo
    from scautogenome.train import Diverged

    real = _hpo.train_on_data
    calls = []

    def diverging_first_five(*args, **kwargs):
        calls.append(1)
        if len(calls) <= 5:
            msg = "training diverged: non-finite loss at epoch 1 (lr=10); a lower learning rate"
            raise Diverged(msg)
        return real(*args, **kwargs)

    monkeypatch.setattr(_hpo, "train_on_data", diverging_first_five)
    sag.tl.classify(adata, "label", config=tiny_config, n_trials=6)
    warned = [r.getMessage() for r in sag_caplog.records if r.levelname == "WARNING"]
    failed = [m for m in warned if "failed: training diverged" in m]
    assert len(failed) == 3
    assert failed[-1].endswith(
        "later trials that diverge are logged at info level (the summary counts them)"
    )
    infos = [r.getMessage() for r in sag_caplog.records if r.levelname == "INFO"]
    assert len([m for m in infos if "failed: training diverged" in m]) == 2
    assert any("6 trials (1 complete, 0 pruned, 5 failed)" in m for m in infos)


def test_classes_of_one_or_two_test_cells_are_warned_about(tiny_config, sag_caplog):
    """A class of 3 cells (1 in each part): its one test cell moves its F1 from 0 to 1 and
    the macro-F1 by a third of that here, with nothing said where accuracy barely moves."""
    adata = sag.datasets.synthetic(n_obs=300, n_vars=50, n_classes=3, seed=0)
    labels = adata.obs["label"].astype(str).to_numpy()
    labels[:3] = "rare"
    adata.obs["label"] = labels
    sag.tl.classify(adata, "label", config=tiny_config)
    support = dict(
        zip(
            adata.uns["sag"]["classes"], adata.uns["sag"]["metrics"]["test"]["per_class"]["support"]
        )
    )
    assert support["rare"] == 1
    warned = [r.getMessage() for r in sag_caplog.records if r.levelname == "WARNING"]
    assert any(
        m.startswith(
            "1 class(es) have 1 or 2 test cells: 'rare' (1). One cell can move such a class's "
            "test F1 by a third or more, and the macro-F1 by up to 0.25"
        )
        for m in warned
    ), warned


def test_a_search_the_clock_ended_says_its_result_may_not_repeat(adata, sag_caplog, monkeypatch):
    """A search its time_budget ended said so, but not that the same seed may then keep
    another model (the trials a clock allows depend on the machine's speed)."""
    from scautogenome.search import _study

    # every reading of the clock 1 s after the last (the trainer's too: time is one module),
    # so that trials train whole epochs and the clock ends the search between them (a
    # coarser clock cut every trial in its first epoch, the kept one with it)
    clock = iter(range(0, 10**6, 1))
    monkeypatch.setattr(_study.time, "perf_counter", lambda: float(next(clock)))
    cfg = {"trainer": {"max_epochs": 2, "min_epochs": 1}, "budget": {"n_trials": 50}}
    sag.tl.classify(adata, "label", mode="mlp", time_budget=120, config=cfg)
    assert "ended it: the trials a clock allows depend on the machine's speed" in (sag_caplog.text)
    assert "n_trials= without the clock repeats" in sag_caplog.text


def test_predicted_classes_take_the_colours_of_their_labels(adata, tiny_config):
    """scanpy colours a column by position: obs['sag_pred'], without a class of the labels
    (one left out of training), gets uns['sag_pred_colors'] by name from the labels' own
    colours, so that sc.pl.umap(color=["label", "sag_pred"]) shows a class in one colour."""
    config = {**tiny_config, "budget": {"n_trials": 1, "time_budget": None}}
    labels = adata.obs["label"].astype(str)
    labels[adata.obs_names[::40]] = "rare"
    adata.obs["label"] = pd.Categorical(labels)
    own = ["#aa0000", "#00aa00", "#0000aa", "#aaaa00"]
    adata.uns["label_colors"] = own
    sag.tl.classify(adata, "label", config=config, min_cells_per_class=10)
    by_name = dict(zip(adata.obs["label"].cat.categories, own))
    pred = adata.obs["sag_pred"].cat.categories
    assert list(adata.uns["sag_pred_colors"]) == [by_name[c] for c in pred]
    assert list(adata.uns["label_colors"]) == own  # the user's, untouched


def test_predicted_classes_get_their_labels_colours_whatever_was_stored_under_them(
    adata, tiny_config, sag_caplog
):
    """Colours stored under uns['sag_pred_colors'] without a column of predictions (of
    nothing they can be read against), and label colours that are not colours, neither
    keep the predictions' colours from their labels' nor stop classify after its search."""
    from scautogenome.plotting._utils import palette

    config = {**tiny_config, "budget": {"n_trials": 1, "time_budget": None}}
    adata.uns["sag_pred_colors"] = ["#111111", "#222222"]
    adata.uns["label_colors"] = 5
    model = sag.tl.classify(adata, "label", config=config)
    assert "sag" in adata.uns
    assert model is not None
    by_name = dict(zip(adata.obs["label"].cat.categories, palette(3)))
    pred = adata.obs["sag_pred"].cat.categories
    assert list(adata.uns["sag_pred_colors"]) == [by_name[c] for c in pred]
    assert adata.uns["label_colors"] == 5  # the user's, untouched
    # the colours it replaced are named, as predict names those it removes
    assert (
        "replaced uns['sag_pred_colors'] (2 colours, of no column of predictions) with the "
        "colours of the predicted classes' labels" in sag_caplog.text
    )


def test_a_rerun_stopped_as_its_record_is_made_leaves_the_earlier_run_whole(
    adata, tiny_config, monkeypatch
):
    """Interrupted while its uns record is made h5ad-safe, a second classify run writes
    nothing: the first run's predictions, split, probabilities, colours and record stay as they
    were, never the new run's outputs beside the old run's record (its model digest)."""
    from conftest import adata_state, assert_adata_state, interrupt_uns_record

    from scautogenome.tools import _classify

    sag.tl.classify(adata, "label", config=tiny_config, seed=0)
    before = adata_state(adata)
    interrupt_uns_record(monkeypatch, _classify)
    with pytest.raises(KeyboardInterrupt):
        sag.tl.classify(adata, "label", config=tiny_config, seed=1)
    assert_adata_state(adata, before)


def test_records_hold_their_own_copy_of_the_models_classes(adata, tiny_config):
    """Editing a record (tidying a label in uns['sag']['classes'], say) leaves the model, and
    what it predicts later, as they were."""
    model = sag.tl.classify(adata, "label", config=tiny_config)
    classes = model.classes_.copy()
    query = adata.copy()
    sag.tl.predict(query, model, key_added="query")
    sag.tl.explain(adata, model, nsamples=5, n_background=5, n_explain=6)
    for record in (adata.uns["sag"], query.uns["query"], adata.uns["sag_shap"]):
        record["classes"][0] = "edited"
    np.testing.assert_array_equal(model.classes_, classes)
    fresh = adata.copy()
    sag.tl.predict(fresh, model, key_added="again")
    assert "edited" not in set(fresh.obs["again_pred"].astype(str))


def test_the_search_bar_never_shows_a_finished_trial_as_running(
    adata, tiny_config, capfd, monkeypatch
):
    """The bar counts a trial done and forgets its trial/epoch fields at once: no frame shows
    k trials done beside trial k - 1 (the one that finished), which a log file kept for the
    next 30 s."""
    import re

    from scautogenome import _logging
    from scautogenome.search import _study

    sag.settings.progress_bar = True
    sag.settings.verbosity = 2
    monkeypatch.setattr(_logging, "interactive", lambda: True)  # every redraw drawn
    monkeypatch.setattr(_study, "interactive", lambda: True)
    tiny_config["budget"] = {"n_trials": 3, "time_budget": 300}
    sag.tl.classify(adata, "label", config=tiny_config)
    frames = re.findall(r"search: (\d+)/3 trials \[[^\]]*?trial=(\d+)", capfd.readouterr().err)
    assert frames
    stale = [(done, running) for done, running in frames if int(running) < int(done)]
    assert not stale, stale


def test_an_interrupted_search_draws_its_bar_before_the_warning_not_after(
    adata, tiny_config, capfd, monkeypatch
):
    """The bar's last frame comes before the "search interrupted" warning, once: it was drawn
    twice after it (tqdm redraws a bar still open below a log line, then again on close)."""
    from scautogenome import _logging
    from scautogenome.search import _study

    monkeypatch.setattr(_logging, "interactive", lambda: True)
    monkeypatch.setattr(_study, "interactive", lambda: True)
    sag.settings.progress_bar = True
    sag.settings.verbosity = 2
    tiny_config["budget"]["n_trials"] = 2
    _interrupt_the_first_trial(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        sag.tl.classify(adata, "label", config=tiny_config)
    err = capfd.readouterr().err
    after = err[err.index("search interrupted after") :]
    assert "search: " not in after, after


def test_a_model_that_calls_every_test_cell_one_class_is_warned_of(sag_caplog):
    """A tiny search can keep a model that calls every test cell its majority class: its
    accuracy is that class's share and nothing more; said, with the remedy, where test cells
    of several classes were called one."""
    from scautogenome.tools._classify import _warn_one_class

    classes = np.array(["A", "B", "C"])
    _warn_one_class(np.array([0, 0, 0, 0]), np.array([0, 1, 0, 2]), classes, "cells")
    assert (
        "the kept model calls every one of the 4 test cells 'A' (they are of 3 classes): "
        "it learned little more than that class's share"
    ) in sag_caplog.text
    assert "time_budget" in sag_caplog.text
    sag_caplog.clear()
    _warn_one_class(np.array([0, 1, 0, 0]), np.array([0, 1, 0, 2]), classes, "cells")
    _warn_one_class(np.array([0, 0]), np.array([0, 0]), classes, "cells")  # one class there
    assert "calls every one" not in sag_caplog.text


def test_copies_of_training_cells_among_the_test_cells_are_warned_of(
    adata, tiny_config, sag_caplog
):
    """A cell exported twice, one copy in train and one in test: its test score measures
    memory. Warned of, with the remedy; none of the cells of an ordinary split is a copy."""
    tiny_config["budget"]["n_trials"] = 1
    sag.tl.classify(adata, "label", config=tiny_config)
    assert "hold every value of a training cell" not in sag_caplog.text
    parts = np.where(np.arange(adata.n_obs) % 5 == 0, "test", "train").astype(object)
    parts[1::10] = "val"
    X = adata.X.tolil()
    for i in range(0, 30, 5):  # test cells 0, 5, ..., 25 made copies of train cells 2, 7, ...
        X[i] = X[i + 2]
    adata.X = X.tocsr()
    adata.obs["part"] = parts
    sag.tl.classify(adata, "label", config=tiny_config, split_key="part", key_added="k")
    assert (
        "6 test cells hold every value of a training cell (copies: a sample exported twice, "
        "say): their scores measure memory, not learning" in sag_caplog.text
    )


def test_storage_refuses_a_study_of_other_genes_train_labels_values_or_value_type(
    adata, tiny_config, tmp_path
):
    """Each field of the study's fingerprint refuses a resume that differs in it alone
    (pins from mutation testing): renamed genes, other labels of training cells (the split
    and the validation labels kept), other values of validation cells only, another value
    type."""
    from scipy import sparse

    tiny_config["budget"]["n_trials"] = 1
    rng = np.random.default_rng(0)
    adata.obs["fold"] = rng.choice(["train"] * 8 + ["val", "test"], adata.n_obs)
    fixed = {"config": tiny_config, "study_name": "s", "split_key": "fold"}
    url = f"sqlite:///{tmp_path / 'search.db'}"
    sag.tl.classify(adata.copy(), "label", storage=url, **fixed)
    renamed = adata.copy()
    renamed.var_names = [f"g{i}" for i in range(renamed.n_vars)]
    with pytest.raises(ValueError, match="genes"):
        sag.tl.classify(renamed, "label", storage=url, **fixed)
    relabelled = adata.copy()
    train = np.flatnonzero(relabelled.obs["fold"] == "train")
    labels = relabelled.obs["label"].astype(str).to_numpy()
    labels[train[:10]] = np.roll(labels[train[:10]], 1)
    relabelled.obs["label"] = pd.Categorical(labels, categories=adata.obs["label"].cat.categories)
    assert (labels[train[:10]] != adata.obs["label"].astype(str).to_numpy()[train[:10]]).any()
    with pytest.raises(ValueError, match="train_labels"):
        sag.tl.classify(relabelled, "label", storage=url, **fixed)
    other_val = adata.copy()
    dense = other_val.X.toarray()
    val = np.flatnonzero(other_val.obs["fold"] == "val")
    dense[val] = dense[val] + 1
    other_val.X = sparse.csr_matrix(dense)
    with pytest.raises(ValueError, match="values: "):
        sag.tl.classify(other_val, "label", storage=url, **fixed)
    with pytest.raises(ValueError, match="value_type"):
        sag.tl.classify(adata.copy(), "label", storage=url, value_type="continuous", **fixed)


# -- pins from mutation testing of tools/_classify.py, tools/_utils.py and tools/_encode.py --


def test_the_recorded_test_figures_are_of_the_test_cells(adata, tiny_config, sag_caplog):
    """``uns['sag']['confusion']`` and the test metrics are those of the cells that
    ``obs['sag_split']`` marks ``test`` (the val metrics those of its ``val`` cells), as
    sklearn computes them from ``obs['sag_pred']``; the probabilities are float32. Had the
    validation part's figures been recorded as the test's, a user would read a score of the
    cells the search chose its model on as the held-out one. Nothing is said of classes of
    1 or 2 test cells where there are none, and ``best`` names the kept model's kind (the
    report's "best model")."""
    from sklearn.metrics import accuracy_score, confusion_matrix

    # a third of the labels shuffled: errors, so that the test and val confusions differ
    labels = adata.obs["label"].astype(str).to_numpy()
    noisy = np.random.default_rng(0).permutation(adata.n_obs)[: adata.n_obs // 3]
    labels[noisy] = np.random.default_rng(1).permutation(labels[noisy])
    adata.obs["label"] = labels
    sag.tl.classify(adata, "label", config=tiny_config)
    uns = adata.uns["sag"]
    classes = list(uns["classes"])
    split = adata.obs["sag_split"].astype(str).to_numpy()
    truth = adata.obs["label"].astype(str).to_numpy()
    pred = adata.obs["sag_pred"].astype(str).to_numpy()
    for part in ("test", "val"):
        rows = split == part
        assert uns["metrics"][part]["n"] == rows.sum()
        assert uns["metrics"][part]["accuracy"] == pytest.approx(
            accuracy_score(truth[rows], pred[rows])
        )
    rows = split == "test"
    expected = confusion_matrix(truth[rows], pred[rows], labels=classes)
    np.testing.assert_array_equal(uns["confusion"], expected)
    assert adata.obsm["sag_proba"].dtype == np.float32
    assert "1 or 2 test" not in sag_caplog.text
    # the kept model's kind, which the report shows as "best model"
    assert uns["best"]["mode"] == json.loads(uns["architecture"])["kind"]


def test_the_one_class_warning_judges_the_test_cells(adata, tiny_config, monkeypatch):
    """The warning of a model that calls every test cell one class is given the test cells'
    predictions and labels: given the validation cells', it would warn of a model whose test
    predictions are fine, and stay silent about one that calls every test cell one class."""
    from scautogenome.tools import _classify

    seen = []
    monkeypatch.setattr(
        _classify, "_warn_one_class", lambda pred, true, *a: seen.append((pred, true))
    )
    sag.tl.classify(adata, "label", config=tiny_config, n_trials=1)
    ((pred, true),) = seen
    rows = (adata.obs["sag_split"] == "test").to_numpy()
    classes = list(adata.uns["sag"]["classes"])
    codes = adata.obs["label"].astype(str).map(classes.index).to_numpy()
    np.testing.assert_array_equal(true, codes[rows])
    expected = adata.obs["sag_pred"].astype(str).map(classes.index).to_numpy()[rows]
    np.testing.assert_array_equal(pred, expected)


def test_no_few_test_cells_warning_where_every_class_has_three(sag_caplog):
    """Classes of 3 test cells or more are not warned of (nor is a class without test cells):
    a user would otherwise read "0 class(es) have 1 or 2 test cells" after every run."""
    from scautogenome.tools._classify import _warn_few_test_cells

    test = {"per_class": {"support": [3, 10, 0]}}
    _warn_few_test_cells(test, np.array(["A", "B", "C"]), "cells")
    assert "1 or 2 test" not in sag_caplog.text
    test = {"per_class": {"support": [2, 10, 0]}}
    _warn_few_test_cells(test, np.array(["A", "B", "C"]), "cells")
    assert "1 class(es) have 1 or 2 test cells: 'A' (2)" in sag_caplog.text
    assert "macro-F1 by up to 0.50" in sag_caplog.text  # 2 classes with test cells


def test_a_numeric_targets_val_metrics_are_recorded_and_of_the_val_cells(adata, tiny_config):
    """A regression's ``uns['sag']['metrics']`` holds the val part's figures beside the
    test's, each of its own cells (as the docs say): without them a user comparing the two
    for overfitting finds no val entry."""
    from scipy import stats

    expr = np.log1p(np.asarray(adata.X[:, :5].todense()).mean(1))
    adata.obs["age"] = 40 + 10 * expr + np.random.default_rng(0).normal(0, 0.5, adata.n_obs)
    tiny_config["budget"]["n_trials"] = 1
    sag.tl.classify(adata, "age", config=tiny_config)
    metrics = adata.uns["sag"]["metrics"]
    assert set(metrics) == {"test", "val"}
    split = adata.obs["sag_split"].astype(str).to_numpy()
    y, pred = adata.obs["age"].to_numpy(), adata.obs["sag_pred"].to_numpy()
    for part in ("test", "val"):
        rows = split == part
        assert metrics[part]["n"] == rows.sum()
        assert metrics[part]["spearman"] == pytest.approx(
            stats.spearmanr(y[rows], pred[rows]).statistic
        )


def test_colours_stored_under_the_predictions_key_go_where_labels_are_numbers(adata, tiny_config):
    """Labels of whole numbers are coloured as numbers by scanpy, so the predicted classes
    get no colours of theirs: colours stored under ``uns['sag_pred_colors']`` before (with no
    column of predictions) are removed, not left for scanpy to read against the new classes
    by position."""
    adata.obs["code"] = adata.obs["label"].cat.codes.astype(int)
    adata.uns["sag_pred_colors"] = np.array(["#000000", "#111111", "#222222"])
    sag.tl.classify(adata, "code", config=tiny_config, n_trials=1)
    assert "sag_pred_colors" not in adata.uns


def test_a_record_without_a_digest_describes_a_model_of_its_architecture_and_classes():
    """A classify record written before the weights' digest was recorded describes a model
    only when both its architecture and its classes are the model's: a model of the same
    architecture trained on other classes is not its run (explain would otherwise read that
    run's labels and split for it), nor is one of another architecture."""
    from types import SimpleNamespace

    from scautogenome.tools._utils import describes

    arch = {"kind": "mlp", "units": (32, 16), "n_inputs": 10, "n_outputs": 2}
    model = SimpleNamespace(architecture_=arch, classes_=np.array(["A", "B"]))
    record = {"architecture": json.dumps(arch), "classes": np.array(["A", "B"])}
    assert describes(record, model)
    assert not describes({**record, "classes": np.array(["A", "C"])}, model)
    other = {**arch, "units": [64]}
    assert not describes({**record, "architecture": json.dumps(other)}, model)
    assert not describes({"classes": record["classes"]}, model)


def test_n_trials_0_given_as_the_argument_asks_for_a_stored_search(adata, tiny_config):
    """``n_trials=0`` as the argument (not only in the config) collects a stored search: it
    wins over the config's trial count, so without ``storage`` it is refused before any work,
    instead of being dropped as "not given" and running the config's 3 trials."""
    tiny_config["budget"]["time_budget"] = 600.0
    with pytest.raises(ValueError, match=r"n_trials=0 runs no trial; .* needs storage="):
        sag.tl.classify(adata, "label", config=tiny_config, n_trials=0)
    assert "sag" not in adata.uns


def test_many_classes_of_few_test_cells_are_named_ten_and_counted(sag_caplog):
    """Past 10 classes of 1 or 2 test cells the warning names the first 10 and says how many
    there are in all, so that a user does not take the 10 named for all of them."""
    from scautogenome.tools._classify import _warn_few_test_cells

    classes = np.array([f"c{i}" for i in range(12)])
    _warn_few_test_cells({"per_class": {"support": [1] * 12}}, classes, "cells")
    assert "12 class(es) have 1 or 2 test cells: 'c0' (1), " in sag_caplog.text
    assert "'c9' (1), ... (12 in all). One cell" in sag_caplog.text
    assert "'c10'" not in sag_caplog.text


def test_h5ad_safe_makes_a_record_h5ad_stores(tmp_path):
    """What the tools write into ``uns`` goes through ``h5ad_safe``: None is dropped (h5ad
    has no None), a list of text and None (an object array) becomes text (anndata refuses to
    write it: the user's ``write_h5ad`` would fail after the run), numpy scalars become Python
    numbers; a call's recorded numpy arguments stay numbers, not text."""
    from scautogenome.tools._utils import call_params, h5ad_safe

    record = h5ad_safe(
        {
            "gone": None,
            "mixed": ["a", None],
            "n": np.int64(3),
            "tuple": (1, 2),
            "nested": {"a": None},
        }
    )
    assert set(record) == {"mixed", "n", "tuple", "nested"}
    assert record["nested"] == {}
    assert type(record["n"]) is int
    np.testing.assert_array_equal(record["mixed"], np.array(["a", "None"]))
    np.testing.assert_array_equal(record["tuple"], [1, 2])
    adata = ad.AnnData(np.zeros((2, 2), np.float32))
    adata.uns["r"] = record
    adata.write_h5ad(tmp_path / "r.h5ad")
    back = ad.read_h5ad(tmp_path / "r.h5ad").uns["r"]
    assert list(back["mixed"]) == ["a", "None"]
    params = call_params(n_trials=np.int64(5), lr=np.float32(0.5), layer=None)
    assert params == {"n_trials": 5, "lr": 0.5, "layer": "None"}
    assert type(params["n_trials"]) is int
