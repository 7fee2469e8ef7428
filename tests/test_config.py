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


# pins from mutation testing (stop 60): the embed config, the space entries, the objectives


def test_embed_defaults_are_the_documented_ones():
    """embed's docstring: 20 trials within 600 s, 100 epochs; the rest of the defaults as
    sag.config.default("resvae") shows them."""
    cfg = sag.config.default("resvae")
    assert cfg["budget"] == {"n_trials": 20, "time_budget": 600.0}
    assert cfg["search"] == {
        "sampler": "tpe",
        "pruner": "median",
        "n_startup_trials": 8,
        "prune_warmup_epochs": 10,
        "max_trial_fraction": 0.25,
        "initial_trials": "default",
    }
    assert cfg["trainer"] == {
        "max_epochs": 100,
        "patience": 10,
        "min_epochs": 5,
        "beta": 1.0,
        "kl_warmup_epochs": None,
    }
    space = cfg["space"]
    assert space["lr"] == {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}
    assert space["batch_size"] == [64, 128, 256]
    assert space["weight_decay"] == {"type": "float", "low": 1e-7, "high": 1e-3, "log": True}
    assert space["act"] == "relu"


def test_embed_config_takes_every_value_its_checks_allow():
    from scautogenome.config import _embed

    for cfg in (
        {"trainer": {"beta": 2}},  # an int weight
        {"search": {"max_trial_fraction": 1}},
        {"search": {"sampler": "random", "pruner": "hyperband"}},
        {"search": {"pruner": "none"}},
        {"budget": {"n_trials": None, "time_budget": 60}},
        {"budget": {"n_trials": 3, "time_budget": None}},
        {"space": {"lr": {"type": "float", "low": 0.01, "high": 0.01}}},  # low == high
    ):
        _embed.load(cfg)


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        ({"trainer": {"kl_warmup_epochs": 2.5}}, r"\['kl_warmup_epochs'\]=2.5 must be of type"),
        ({"search": {"prune_warmup_epochs": 2.5}}, r"\['prune_warmup_epochs'\]=2.5"),
        ({"search": {"sampler": "grid"}}, r"\['sampler'\]='grid' must be one of"),
        ({"trainer": {"patience": -1}}, r"\['patience'\]=-1 must not be negative"),
        ({"budget": {"time_budget": 0}}, r"\['time_budget'\]=0 must be positive"),
        ({"trainer": {"max_epochs": 0}}, r"\['max_epochs'\] must be at least 1"),
        ({"space": {"lr": {"type": "normal"}}}, r"\['lr'\]: distribution type='normal'"),
        ({"space": {"dropout": 1.0}}, r"\['dropout'\]=1.0 must be in \[0, 1\)"),
        ({"space": {"first_width": [0, 64]}}, r"\['first_width'\]=0"),
        ({"mode": "pca"}, r"mode='pca' must be one of \('resvae', 'vae'\)"),
    ],
)
def test_embed_bad_values_are_named(cfg, match):
    from scautogenome.config import _embed

    with pytest.raises(ValueError, match=match):
        _embed.load(cfg)


def test_embeds_mode_argument_overrides_the_configs_and_an_empty_one_is_refused():
    from scautogenome.config import _embed

    assert _embed.load({"mode": "vae"}, mode="resvae")["mode"] == "resvae"
    assert sag.config.load({"mode": "vae"})["mode"] == "vae"
    with pytest.raises(ValueError, match=r"mode='' must be one of"):
        _embed.load({"mode": "vae"}, mode="")


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (None, "expected a list of choices, a fixed value or a distribution dict"),
        ({"type": "float", "low": 0.1, "high": 0.2, "lg": True}, r"unknown key\(s\) \['lg'\]"),
        ({"type": "categorical", "choices": []}, "needs a non-empty 'choices' list"),
        ({"type": "float", "high": 0.2}, "needs a numeric 'low', got None"),
        ({"type": "float", "low": True, "high": 0.2}, "needs a numeric 'low', got True"),
        ({"type": "float", "low": 0.1, "high": float("inf")}, "high=inf must be a finite"),
        ({"type": "int", "low": 1.5, "high": 4}, "needs a whole 'low', got 1.5"),
        ({"type": "float", "low": 0.3, "high": 0.2}, "low=0.3 is greater than high=0.2"),
        ({"type": "float", "low": 0.1, "high": 0.2, "step": 0}, "step=0 must be positive"),
        (
            {"type": "int", "low": 2, "high": 64, "log": True, "step": 2},
            "takes no step other than 1",
        ),
        ({"type": "float", "low": 0.1, "high": 0.2, "log": True, "step": 1}, "takes no step"),
    ],
)
def test_a_bad_space_entry_is_named(spec, match):
    with pytest.raises(ValueError, match=match):
        sag.config.load({"space": {"common": {"lr": spec}}})


def test_suggest_draws_with_the_entrys_scale_step_and_choices():
    import optuna

    from scautogenome.search._spaces import suggest

    trial = optuna.create_study().ask()
    suggest(trial, "f", {"type": "float", "low": 1e-4, "high": 1e-1, "log": True})
    suggest(trial, "i", {"type": "int", "low": 2, "high": 10, "step": 4})
    suggest(trial, "g", {"type": "int", "low": 1, "high": 64, "log": True})
    assert suggest(trial, "c", {"type": "categorical", "choices": ["x", "y"]}) in ("x", "y")
    d = trial.distributions
    assert d["f"].log
    assert (d["i"].step, d["i"].log) == (4, False)
    assert d["g"].log
    assert d["c"].choices == ("x", "y")


def test_fits_and_nearest_at_the_edges_of_a_space():
    from scautogenome.search._spaces import drawn_as, fits, nearest

    grid = {"type": "int", "low": 2, "high": 11, "step": 4}  # draws 2, 6, 10
    assert fits(2, grid)  # low itself
    assert nearest(8, grid) == 6  # a tie: the lower step
    assert nearest(30, {"type": "int", "low": 2, "high": 9, "step": 4}) == 6  # not 10 > high
    assert fits(0.7, {"type": "float", "low": 0.1, "high": 0.7, "step": 0.2})  # 0.6/0.2 < 3
    assert not fits(2.5, {"type": "int", "low": 1, "high": 5})
    assert nearest(10, {"type": "int", "low": 2, "high": 7.5}) == 7
    assert nearest("x", {"type": "float", "low": 0.1, "high": 0.9}) == 0.1
    assert type(nearest(0, {"type": "float", "low": 1, "high": 2})) is float
    assert nearest("gelu", ["elu", "gelu"]) == "gelu"
    assert nearest(4, [5, 3]) == 3  # a tie: the smaller, wherever it is listed
    assert nearest("a", [1, 2]) == 1
    categorical = {"type": "categorical", "choices": [1, 5]}
    assert fits(5, categorical)
    assert nearest(4, categorical) == 5
    assert type(drawn_as(1, [True, 1])) is int  # 1 is not the choice True
    assert type(drawn_as(3.0, {"type": "int", "low": 1, "high": 5})) is int


def test_the_objective_checks():
    from scautogenome.train import (
        check_auc_loss,
        check_metric,
        check_objective,
        check_regression_objective,
        task_objective,
    )

    with pytest.raises(TypeError):
        check_metric(3)
    with pytest.raises(
        ValueError, match=r"metric='r2' must be one of \['macro_f1'.* classification task\."
    ):
        check_metric("r2", "classification")
    with pytest.raises(ValueError, match="for a classification task or one of"):
        check_metric("f1")
    assert task_objective("regression", "cross_entropy", "macro_f1") == ("mse", "r2")
    assert task_objective("classification", "auc", "roc_auc") == ("auc", "roc_auc")
    for task, loss, metric, match in (
        ("regression", "auc", "r2", "loss='auc' is a loss of classes"),
        ("classification", "mse", "macro_f1", "loss='mse' is for a numeric target"),
        ("classification", "cross_entropy", "r2", r"metric='r2' must be one of"),
    ):
        with pytest.raises(ValueError, match=match):
            task_objective(task, loss, metric)
    with pytest.raises(ValueError, match="at least two different target values"):
        check_regression_objective("mse", "r2", [1.0, 1.0])
    with pytest.raises(ValueError, match="loss='auc' is a loss of classes"):
        check_regression_objective("auc", "r2", [1.0, 2.0])
    check_regression_objective("mse", "r2", [1.0, 2.0])
    with pytest.raises(ValueError, match="this task has 3"):
        check_auc_loss("roc_auc", 3)
    with pytest.raises(ValueError, match="a ranking metric must judge it"):
        check_auc_loss("accuracy")
    check_auc_loss("average_precision", 2)
    for args, match in (
        (("auc", "roc_auc", 3, [0, 1]), "this task has 3"),
        (("auc", "accuracy", 2, [0, 1]), "a ranking metric must judge it"),
        (("cross_entropy", "roc_auc", 2, [0, 0]), r"holds 2 cell\(s\) of 1 class"),
        (("mse", "macro_f1", 2, [0, 1]), "loss='mse' is for a numeric target"),
    ):
        with pytest.raises(ValueError, match=match):
            check_objective(*args)
    check_objective("cross_entropy", "roc_auc", 2, [0, 1])
    check_objective("cross_entropy", "accuracy", 2, [0, 0])
