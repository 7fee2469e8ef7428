from __future__ import annotations

import json

import pytest

import scautogenome as sag


def test_default_spaces_are_the_papers():
    cfg = sag.config.default("auto")
    space = cfg["space"]
    assert space["mlp"]["units"] == [8, 16, 32, 64, 128, 256, 512, 1024]
    assert space["resnet"]["n_blocks"] == [1, 2, 3, 5, 6]
    assert space["resnet"]["units"] == [8, 16, 32, 64, 128, 256, 512]
    assert space["densenet"]["growth_rate"] == [8, 16, 32, 64, 128, 256, 512]
    assert space["common"]["input_keep"] == [0.6, 0.8, 1.0]
    assert cfg["search"]["metric"] == "macro_f1"


def test_default_for_one_mode_has_only_its_space():
    cfg = sag.config.default("resnet")
    assert set(cfg["space"]) == {"common", "resnet"}
    json.dumps(cfg)  # JSON-serialisable


def test_unknown_key_is_named():
    with pytest.raises(ValueError, match=r"\['trainer'\]\['max_epoch'\]: unknown key"):
        sag.config.load({"trainer": {"max_epoch": 3}})
    with pytest.raises(ValueError, match="bogus"):
        sag.config.load({"bogus": 1})


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        ({"search": {"metric": "auc"}}, r"\['search'\]\['metric'\]"),
        ({"trainer": {"patience": "ten"}}, r"\['trainer'\]\['patience'\]"),
        ({"budget": {"n_trials": None, "time_budget": None}}, "never ends"),
        ({"space": {"mlp": {"units": []}}}, r"\['mlp'\]\['units'\]: an empty list"),
        (
            {"space": {"common": {"lr": {"type": "float", "low": 0, "high": 1, "log": True}}}},
            "low > 0",
        ),
        ({"space": {"common": {"lr": {"type": "normal"}}}}, "type='normal'"),
        ({"mode": "cnn"}, r"config\['mode'\]='cnn'"),
        ({"search": {"max_trial_fraction": 0}}, "max_trial_fraction"),
        ({"search": {"initial_trials": "best"}}, "initial_trials"),
        # values no network or trainer accepts: refused here, not by a trial mid-search
        ({"space": {"common": {"dropout": [0.1, 1.0]}}}, r"\['dropout'\]=1.0 must be in \[0, 1\)"),
        # SGD's momentum of 1 never decays: TrainParams refuses it, so the space does too
        (
            {"space": {"common": {"momentum": [0.9, 1.0]}}},
            r"\['momentum'\]=1.0 must be in \[0, 1\)",
        ),
        ({"space": {"common": {"batch_size": [64, 1]}}}, r"\['batch_size'\]=1"),
        ({"space": {"common": {"optimizer": ["adam"]}}}, r"\['optimizer'\]='adam'"),
        ({"space": {"mlp": {"units": [0, 64]}}}, r"\['units'\]=0"),
        ({"space": {"densenet": {"compression": 1.5}}}, r"\['compression'\]=1.5"),
        # depths whose drawing alone (one parameter per layer) outlasts any time budget, as
        # RRFCN's n_layers has been
        (
            {"space": {"mlp": {"n_layers": [100000]}}},
            r"\['n_layers'\]=100000 must be in \[1, 64\]",
        ),
        ({"space": {"resnet": {"n_blocks": [3, 500]}}}, r"\['n_blocks'\]=500 must be in \[1, 64\]"),
        (
            {"space": {"densenet": {"block_units": {"type": "int", "low": 2, "high": 1000}}}},
            r"\['block_units'\].*must be in \[1, 64\]",
        ),
        # pins from mutation testing (stop 59)
        ({"trainer": {"max_epochs": True}}, r"\['max_epochs'\]=True must be of type int"),
        ({"search": {"max_trial_fraction": float("inf")}}, "must be a finite number"),
        ({"trainer": {"patience": -1}}, "must not be negative"),
        ({"budget": {"time_budget": 0}}, r"\['time_budget'\]=0 must be positive"),
        ({"search": {"initial_trials": [1]}}, "must be a list of parameter dicts"),
        ({"trainer": {"loss": "auc"}, "search": {"metric": "accuracy"}}, "a ranking metric"),
        ({"space": {"common": {"lr": [0.0, 0.1]}}}, r"\['lr'\]=0.0 must be in \(0, inf\]"),
        ({"rrfcn": {"widths": [64, True]}}, "must be a non-empty list of positive ints"),
        ({"rrfcn": {"search_share": 0}}, r"\['search_share'\]=0 must be in \(0, 1\]"),
        ({"rrfcn": {"n_layers": 65}}, r"\['rrfcn'\]\['n_layers'\]=65 must be in \[1, 64\]"),
    ],
)
def test_bad_values_are_named(cfg, match):
    with pytest.raises(ValueError, match=match):
        sag.config.load(cfg)


def test_load_from_json_file(tmp_path, monkeypatch):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"mode": "mlp", "budget": {"n_trials": 2}}))
    cfg = sag.config.load(path)
    assert cfg["mode"] == "mlp"
    monkeypatch.setenv("HOME", str(tmp_path))  # a path of the home folder, as a shell's ~
    assert sag.config.load("~/cfg.json") == cfg
    assert cfg["budget"]["n_trials"] == 2
    assert cfg["budget"]["time_budget"] == 600.0  # kept from the defaults
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        sag.config.load(bad)
    with pytest.raises(FileNotFoundError):
        sag.config.load(tmp_path / "missing.json")
    # saved with a byte-order mark (Windows Notepad), as read_autogenome reads one
    bom = tmp_path / "bom.json"
    bom.write_text(json.dumps({"mode": "mlp"}), encoding="utf-8-sig")
    assert sag.config.load(bom)["mode"] == "mlp"


def test_space_names_agree_with_the_network_and_trainer():
    """The config checks act/optimizer/class_balance against names it repeats (so that it
    validates without torch); they must be the ones nn and train take."""
    from scautogenome.config._config import SPACE_NAMES
    from scautogenome.nn._units import ACTIVATIONS
    from scautogenome.train._trainer import CLASS_BALANCE, OPTIMIZERS

    assert set(SPACE_NAMES["act"]) == set(ACTIVATIONS)
    assert set(SPACE_NAMES["optimizer"]) == set(OPTIMIZERS)
    assert set(SPACE_NAMES["class_balance"]) == set(CLASS_BALANCE)


def test_validate_names_unknown_keys_and_takes_partial_configs():
    """The public validate checks what load checks: unknown keys anywhere, bad values, and a
    partial config (merged onto the defaults) is checked, not a KeyError."""
    from scautogenome.config import _embed

    cfg = sag.config.default("resnet")
    cfg["space"]["resnet"]["n_blokcs"] = [1]
    with pytest.raises(ValueError, match="n_blokcs"):
        sag.config.validate(cfg)
    cfg = sag.config.default()
    cfg["trainer"]["max_epoch"] = 3
    with pytest.raises(ValueError, match="max_epoch"):
        sag.config.validate(cfg)
    sag.config.validate({"trainer": {"max_epochs": 3}})
    sag.config.validate(sag.config.default("mlp"))
    with pytest.raises(ValueError, match="max_epochs"):
        sag.config.validate({"trainer": {"max_epochs": 0}})
    _embed.validate({"trainer": {"beta": 2.0}})
    with pytest.raises(ValueError, match="firstwidth"):
        _embed.validate({"space": {"firstwidth": [64]}})


def test_enas_needs_two_layers():
    with pytest.raises(ValueError, match="ENAS needs at least 2 layers"):
        sag.config.load({"mode": "rrfcn", "rrfcn": {"n_layers": 1}})
    sag.config.load({"mode": "rrfcn", "rrfcn": {"n_layers": 1, "strategy": "optuna"}})


@pytest.mark.parametrize("bad", [{"budget": 5}, {"search": None}, {"trainer": [1]}])
def test_a_section_that_is_not_an_object_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="must be a JSON object"):
        sag.config.load(bad)
    with pytest.raises(ValueError, match="must be a JSON object"):
        sag.config.load({**bad, "mode": "resvae"})


def test_config_takes_json_text_numpy_numbers_and_refuses_a_folder(tmp_path):
    """config= reads the JSON text uns[key]['config'] records, numpy numbers as Python's
    (the user's dict left as it is), and names a folder as one."""
    import numpy as np

    text = sag.config.to_json(sag.config.load({"budget": {"n_trials": 2}}))
    assert sag.config.load(text) == sag.config.load({"budget": {"n_trials": 2}})
    with pytest.raises(ValueError, match=r"config \(JSON text\) is not valid JSON"):
        sag.config.load('{"budget": ')
    mine = {"space": {"common": {"batch_size": list(np.array([32, 64]))}}}
    cfg = sag.config.load(mine)
    assert cfg["space"]["common"]["batch_size"] == [32, 64]
    assert isinstance(mine["space"]["common"]["batch_size"][0], np.integer)
    with pytest.raises(IsADirectoryError, match=r"is a folder, not a JSON file"):
        sag.config.load(tmp_path)


def test_a_float_range_of_a_whole_number_setting_is_refused():
    """A "float" range on a setting that takes whole numbers was accepted and then failed a
    trial in the middle of the search (or drew 48.7 as a batch size)."""
    for section, key in (("mlp", "n_layers"), ("mlp", "units"), ("common", "batch_size")):
        spec = {"type": "float", "low": 2, "high": 8}
        with pytest.raises(ValueError, match=rf"\['{key}'\] draws whole numbers"):
            sag.config.load({"space": {section: {key: spec}}})
    with pytest.raises(ValueError, match=r"\['n_layers'\] draws whole numbers"):
        sag.config.load(
            {"mode": "resvae", "space": {"n_layers": {"type": "float", "low": 2, "high": 4}}}
        )


def test_rrfcn_names_the_settings_its_strategy_does_not_read(monkeypatch):
    """ENAS reads no space['common'] and no n_trials; the Optuna strategy reads none of the
    ENAS settings: a warning names the ones the user changed (default values are no news)."""
    from scautogenome._settings import logger

    said = []
    monkeypatch.setattr(logger, "warning", lambda *a, **k: said.append(a[0] % a[1:]))
    sag.config.load(sag.config.default("rrfcn"))
    assert said == []
    sag.config.load({"mode": "rrfcn", "space": {"common": {"lr": 0.05}}, "budget": {"n_trials": 5}})
    assert "does not use space['common']['lr'], budget['n_trials']" in said[-1]
    assert "runs config['rrfcn']['epochs'] alternations (within budget" in said[-1]
    sag.config.load({"mode": "rrfcn", "rrfcn": {"strategy": "optuna", "child_lr": 0.01}})
    assert "strategy 'optuna' does not use rrfcn['child_lr']" in said[-1]
    assert len(said) == 2
    # another family's space, or the rrfcn section, in a mode that does not search them
    mlp = {"n_layers": [2]}
    sag.config.load({"mode": "resnet", "space": {"mlp": mlp}, "rrfcn": {"n_layers": 3}})
    assert said[-1] == (
        "config['space']['mlp'], config['rrfcn'] not read: mode 'resnet' searches only the "
        "resnet family (mode 'auto' searches them all)."
    )
    sag.config.load({"mode": "auto", "space": {"mlp": mlp}, "rrfcn": {"n_layers": 3}})
    sag.config.load(sag.config.default("auto"), mode="mlp")  # default sections: no news
    # so are parts of them: a key set to its default value (a config written by hand)
    default = sag.config.default("auto")
    part_mlp = {"n_layers": default["space"]["mlp"]["n_layers"]}
    part_rrfcn = {"n_layers": default["rrfcn"]["n_layers"]}
    sag.config.load({"mode": "resnet", "space": {"mlp": part_mlp}, "rrfcn": part_rrfcn})
    assert len(said) == 3

    # one activation is the RRFCN units' (ENAS reads it); a list of them it cannot search
    said.clear()
    sag.config.load({"mode": "rrfcn", "space": {"common": {"act": "gelu"}}})
    assert said == []
    sag.config.load({"mode": "rrfcn", "space": {"common": {"act": ["gelu", "elu"]}}})
    assert "does not use space['common']['act'] (choices: its units use ReLU)" in said[-1]


def test_embed_names_a_classifiers_config_as_such():
    """A classify config given to embed is named as one (its first unknown key said less)."""
    with pytest.raises(ValueError, match=r"'resnet' is a mode of sag.tl.classify"):
        sag.config.load(sag.config.default("resnet"), mode="resvae")


@pytest.mark.parametrize("metric", ["r2", "pearson", "spearman"])
def test_a_numeric_targets_metric_requests_regression(metric):
    """As the loss "mse": classify and the CLI's worker both resolve task "auto" here."""
    cfg = sag.config.load({"search": {"metric": metric}})
    assert sag.config.requested_task(cfg, "auto") == "regression"
    assert sag.config.requested_task(cfg, "classification") == "classification"
    assert sag.config.requested_task(sag.config.load(None), "auto") == "auto"


@pytest.mark.parametrize("value", [[float("nan"), 0.01], float("inf")])
def test_non_finite_choices_are_refused_at_load(value):
    """A NaN or infinite choice (or fixed value) of the space is refused when the config is
    loaded, not in the first trial."""
    with pytest.raises(ValueError, match=r"\['lr'\]: (nan|inf) is not a finite number"):
        sag.config.load({"space": {"common": {"lr": value}}})
    with pytest.raises(ValueError, match=r"\['input_keep'\]: (nan|inf) is not a finite number"):
        sag.config.load({"space": {"input_keep": value}}, mode="resvae")


def test_a_starting_point_names_parameters_the_search_draws():
    """A key of an initial trial that no search space draws (a typo) is an error naming it
    before any work; it had been a warning at search time, and the point was dropped. Keys of
    every family, indexed widths and RRFCN's bits are parameters."""
    from scautogenome.config import _embed

    good = {
        "mode": "mlp",
        "lr": 0.01,
        "mlp_n_layers": 2,
        "mlp_units_0": 64,
        "mlp_units_1": 32,
        "densenet_block_units_2": 8,
        "resnet_n_blocks": 2,
        "rrfcn_width_3": 64,
        "rrfcn_skip_3_1": 1,
    }
    sag.config.validate({"search": {"initial_trials": [good]}})
    with pytest.raises(ValueError, match=r"\['initial_trials'\]\[1\]\['lrr'\] is not a param"):
        sag.config.validate({"search": {"initial_trials": [good, {"lrr": 0.01}]}})
    with pytest.raises(ValueError, match=r"\['initial_trials'\]\[0\]\['mlp_unit_0'\]"):
        sag.config.validate({"search": {"initial_trials": [{"mlp_unit_0": 8}]}})
    # names of the right family that no search draws: a width without its index, an index
    # on a single value, RRFCN's fixed first width, a skip to the layer read anyway
    for name in (
        "mlp_units",
        "mlp_n_layers_0",
        "resnet_units_3",
        "densenet_growth_rate_2",
        "rrfcn_width_0",
        "rrfcn_skip_2_1",
    ):
        with pytest.raises(ValueError, match=rf"\['{name}'\] is not a param"):
            sag.config.validate({"search": {"initial_trials": [{name: 1}]}})
    _embed.validate({"search": {"initial_trials": [{"n_layers": 3, "first_width": 256}]}})
    with pytest.raises(ValueError, match=r"\['initial_trials'\]\[0\]\['layers'\] is not a param"):
        _embed.validate({"search": {"initial_trials": [{"layers": 3}]}})


def test_a_starting_point_of_whole_floats_is_drawn_as_integers(adata):
    """mlp_n_layers=1.0 (a trials table's params read back, where a NaN made the column
    float) is the integer the space draws; it failed the search in range(1.0)."""
    from scautogenome.search._hpo import initial_trials

    point = {"mode": "mlp", "mlp_n_layers": 1.0, "mlp_units_0": 64.0, "lr": 0.001}
    cfg = sag.config.load({"search": {"initial_trials": [point]}}, mode="mlp")
    (params,) = initial_trials(cfg)
    assert type(params["mlp_n_layers"]) is int
    assert type(params["mlp_units_0"]) is int
    tiny = {
        "mode": "mlp",
        "budget": {"n_trials": 1, "time_budget": None},
        "trainer": {"max_epochs": 2, "min_epochs": 1, "patience": 2},
        "search": {"initial_trials": [point]},
    }
    model = sag.tl.classify(adata, "label", config=tiny)
    assert model.architecture_["units"] == [64]


def test_a_bad_value_in_a_section_the_mode_does_not_read_is_an_error():
    """A bad value is an error wherever it is, as an unknown key is, also in a family's
    space the mode does not search (it only warned there, and validate() raised)."""
    bad = {"space": {"densenet": {"growth_rate": [0]}}}
    with pytest.raises(ValueError, match=r"\['densenet'\]\['growth_rate'\]"):
        sag.config.load(bad, mode="mlp")
    with pytest.raises(ValueError, match=r"\['resnet'\]\['n_blocks'\]"):
        sag.config.load({"space": {"resnet": {"n_blocks": []}}}, mode="mlp")


def test_a_json_file_that_is_not_an_object_is_named(tmp_path):
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="config must be a JSON object at the top level"):
        sag.config.load(path)


def test_the_auc_loss_is_judged_by_roc_auc_unless_a_ranking_metric_is_given():
    """trainer.loss 'auc' with the default metric (accuracy's calls) searches on ROC AUC."""
    assert sag.config.load({"trainer": {"loss": "auc"}})["search"]["metric"] == "roc_auc"
    assert sag.config.load({})["search"]["metric"] != "roc_auc"


def test_the_mse_loss_is_judged_by_r2_unless_a_numeric_metric_is_given():
    """trainer.loss 'mse' asks for a numeric target: the default metric becomes R^2."""
    assert sag.config.load({"trainer": {"loss": "mse"}})["search"]["metric"] == "r2"
    cfg = sag.config.load({"trainer": {"loss": "mse"}, "search": {"metric": "spearman"}})
    assert cfg["search"]["metric"] == "spearman"


def test_the_edges_of_the_allowed_values_are_taken():
    """An infinite time budget (no limit), zero warm-up epochs, n_trials=0 (collecting a
    stored study), a trial's cap at the whole budget and ENAS retraining every candidate it
    ranks are valid settings."""
    for cfg in (
        {"budget": {"time_budget": float("inf")}},
        {"search": {"prune_warmup_epochs": 0}},
        {"budget": {"n_trials": 0}},
        {"search": {"max_trial_fraction": 1}},
        {"rrfcn": {"n_candidates": 4, "top_k_candidates": 4}},
    ):
        sag.config.load(cfg)


def test_a_one_family_mode_keeps_only_its_space():
    assert set(sag.config.load({}, mode="mlp")["space"]) == {"common", "mlp"}
    assert set(sag.config.load({"mode": "densenet"})["space"]) == {"common", "densenet"}


def test_the_optuna_strategy_warns_of_no_enas_setting_left_at_its_default(monkeypatch):
    from scautogenome._settings import logger

    said = []
    monkeypatch.setattr(logger, "warning", lambda *a, **k: said.append(a[0] % a[1:]))
    rrfcn = {**sag.config.default("rrfcn")["rrfcn"], "strategy": "optuna"}
    sag.config.load({"mode": "rrfcn", "rrfcn": rrfcn})
    assert said == []


def test_a_numeric_target_runs_without_class_balance():
    """for_task 'regression': no class_balance drawn from the space, 'none' for RRFCN; the
    config given is left as it was."""
    from scautogenome.config._config import for_task

    cfg = sag.config.load({})
    out = for_task(cfg, "regression")
    assert "class_balance" not in out["space"]["common"]
    assert out["rrfcn"]["class_balance"] == "none"
    assert "class_balance" in cfg["space"]["common"]
