"""Expert mode: the JSON configuration of a search (spaces, trainer, budget), with validation.

``sag.config.default(mode)`` returns the defaults as a plain dict; edit it, save it as JSON and
pass it back as ``config=`` (a dict or a path). Keys you leave out keep their defaults; an
unknown key or a bad value is an error that names it.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .._utils import is_json_text, plain
from ..search._spaces import check_distribution
from ..train import LOSSES, METRICS, REGRESSION_METRICS, check_auc_loss, task_objective

MODES = ("mlp", "resnet", "densenet", "rrfcn", "auto")

# The AutoGenome paper's grids (Methods) are the defaults of the architecture keys it gives;
# README's "Differences from the paper" says where sag reads or extends them (MLP depths, the
# DenseNet blocks, the optimizer and learning-rate settings are sag's).
_PAPER_UNITS_MLP = [8, 16, 32, 64, 128, 256, 512, 1024]
_PAPER_UNITS_RES = [8, 16, 32, 64, 128, 256, 512]
_PAPER_KEEP = [0.6, 0.8, 1.0]

_DEFAULT: dict[str, Any] = {
    "mode": "auto",
    "budget": {"n_trials": 40, "time_budget": 600.0},
    "search": {
        "metric": "macro_f1",
        "sampler": "tpe",
        "pruner": "median",
        "n_startup_trials": 10,
        "prune_warmup_epochs": 3,
        "max_trial_fraction": 0.25,
        "initial_trials": "default",
    },
    # loss: "cross_entropy", or "auc" for a binary task (the paper's "area under curve" loss:
    # a pairwise ROC AUC surrogate, probabilities calibrated on val; judged by a ranking
    # metric, "roc_auc" in place of the default macro_f1; in mode "rrfcn" only the
    # retrained candidates use it: ENAS's shared weights train with cross-entropy), or
    # "mse" for a numeric target (regression, judged by r2, pearson or spearman; a numeric
    # target also takes the defaults cross_entropy and macro_f1 as mse and r2)
    "trainer": {"max_epochs": 60, "patience": 8, "min_epochs": 3, "loss": "cross_entropy"},
    "space": {
        "common": {
            "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
            "batch_size": [32, 64, 128, 256],
            "optimizer": ["adamw", "sgd"],
            "momentum": [0.8, 0.9, 0.95],
            "weight_decay": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
            "class_balance": ["none", "weights", "sampler"],
            "input_keep": _PAPER_KEEP,
            "dropout": [0.0, 0.1, 0.25, 0.5],
            "act": "relu",
        },
        "mlp": {"n_layers": [1, 2, 3, 4], "units": _PAPER_UNITS_MLP},
        "resnet": {"n_blocks": [1, 2, 3, 5, 6], "units": _PAPER_UNITS_RES},
        "densenet": {
            "n_blocks": [1, 2, 3],
            "block_units": [2, 3, 4, 5],
            "growth_rate": _PAPER_UNITS_RES,
            "compression": 0.5,
        },
    },
    # RRFCN (mode "rrfcn"; also in "auto" when the time budget allows, see below): the
    # paper's ENAS space (fixed n_layers, first_width; later widths from `widths`; skip
    # connections) and the settings of the ENAS search (controller, shared weights, derive)
    "rrfcn": {
        "strategy": "enas",  # "enas" (shared weights + controller) or "optuna" (each trained)
        "n_layers": 6,
        "first_width": 2048,
        "widths": [16, 32, 64, 128, 256, 512, 1024, 2048],
        "epochs": 30,  # alternations: one pass of shared weights, then controller steps
        "search_share": 0.6,  # share of time_budget for the alternating phase
        "child_lr": 1e-3,
        "child_batch_size": 128,
        "weight_decay": 1e-4,
        "class_balance": "weights",
        "input_keep": 0.8,
        "dropout": 0.1,
        "controller_lr": 3e-3,
        "controller_steps": 20,
        "controller_samples": 2,  # architectures per REINFORCE update
        "lstm_size": 64,
        "tanh_constant": 1.5,
        "entropy_weight": 3e-3,
        "skip_target": 0.4,
        "skip_weight": 0.8,
        "baseline_decay": 0.95,
        "n_candidates": 16,
        "top_k_candidates": 2,
        "auto_min_time_budget": 1800.0,  # auto runs RRFCN only with a time_budget >= this
        "auto_share": 0.4,  # ... and gives it this share of the budget
    },
}

_SCHEMA_SCALARS = {
    "budget": {"n_trials": (int, type(None)), "time_budget": (int, float, type(None))},
    "search": {
        "metric": (str,),
        "sampler": (str,),
        "pruner": (str,),
        "n_startup_trials": (int,),
        "prune_warmup_epochs": (int,),
        "max_trial_fraction": (int, float),
        "initial_trials": (str, list),
    },
    "trainer": {"max_epochs": (int,), "patience": (int,), "min_epochs": (int,), "loss": (str,)},
}
_CHOICES = {
    ("search", "metric"): METRICS,
    ("trainer", "loss"): LOSSES,
    ("search", "sampler"): ("tpe", "random"),
    ("search", "pruner"): ("median", "hyperband", "none"),
}


def default(mode: str = "auto") -> dict:
    """The default configuration for ``mode`` (a deep copy you may edit): of
    :func:`~scautogenome.tl.classify`, or of :func:`~scautogenome.tl.embed` for ``"resvae"``
    and ``"vae"``.

    Parameters
    ----------
    mode
        classify: ``"auto"`` (every family), ``"mlp"``, ``"resnet"``, ``"densenet"``,
        ``"rrfcn"``; the ``space`` holds ``common`` and that family's section (all of them for
        ``"auto"``). embed: ``"resvae"`` or ``"vae"``.

    Returns
    -------
    For classify, a dict with ``mode``, ``budget``, ``trainer``, ``search``, ``space`` and
    ``rrfcn``; for embed, one with ``mode``, ``budget``, ``search``, ``trainer`` and ``space``:
    the paper's search spaces and the package's budget and training defaults.
    """
    from . import _embed  # it imports this module

    if mode in _embed.EMBED_MODES:
        return _embed.default(mode)
    if mode not in MODES:
        msg = f"mode={mode!r} must be one of {MODES} (classify) or {_embed.EMBED_MODES} (embed)."
        raise ValueError(msg)
    cfg = copy.deepcopy(_DEFAULT)
    cfg["mode"] = mode
    if mode != "auto":
        cfg["space"] = {k: v for k, v in cfg["space"].items() if k in ("common", mode)}
    return cfg


def _merge(base: dict, override: dict, path: str) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        where = f"{path}[{key!r}]"
        if key not in base:
            msg = f"config{where}: unknown key; expected one of {sorted(base)}."
            raise ValueError(msg)
        section = isinstance(base[key], dict) and "type" not in base[key]
        if section and isinstance(value, dict):
            out[key] = _merge(base[key], value, where)
        elif section:
            msg = f"config{where} must be a JSON object (a dict) of keys {sorted(base[key])}."
            raise ValueError(msg)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_user_config(config: dict | str | Path | None) -> dict:
    """A user config as a dict: a dict as given (numpy numbers as Python's), a JSON file
    read, JSON text (a string that starts with ``{``, as ``uns[key]['config']`` records it)
    parsed, None as empty."""
    user: dict = {}
    if is_json_text(config):
        try:
            user = json.loads(config)
        except json.JSONDecodeError as e:
            msg = f"config (JSON text) is not valid JSON: {e}"
            raise ValueError(msg) from e
    elif isinstance(config, (str, Path)):
        path = Path(config).expanduser()
        if not path.exists():
            msg = f"config file {str(path)!r} does not exist."
            raise FileNotFoundError(msg)
        if path.is_dir():
            msg = (
                f"config={str(config)!r} is a folder, not a JSON file. A saved model's config "
                "is its .config_ (sag.models.Classifier.load(folder).config_, a dict that "
                "config= takes)."
            )
            raise IsADirectoryError(msg)
        try:
            user = json.loads(path.read_text(encoding="utf-8-sig"))  # a BOM (Windows editors) too
        except json.JSONDecodeError as e:
            msg = f"config file {str(path)!r} is not valid JSON: {e}"
            raise ValueError(msg) from e
    elif isinstance(config, dict):
        user = plain(config)
    elif config is not None:
        msg = (
            "config must be a dict, a path to a JSON file, JSON text or None, got "
            f"{type(config).__name__}."
        )
        raise TypeError(msg)
    if not isinstance(user, dict):
        msg = "config must be a JSON object at the top level."
        raise ValueError(msg)
    return user


def check_classify_mode(mode, where: str = "mode") -> None:
    """Refuse an embed mode (``"resvae"``, ``"vae"``) for a classifier, naming it as such
    (before the config is merged, whose classify sections an embed config would not know).

    Parameters
    ----------
    mode
        The mode asked for.
    where
        How the error names it (``"mode"``, ``"config['mode']"``).
    """
    from ._embed import EMBED_MODES

    if mode in EMBED_MODES:
        msg = (
            f"{where}={mode!r} is a mode of sag.tl.embed (a variational autoencoder, no "
            f"classes); sag.tl.classify searches one of {MODES}."
        )
        raise ValueError(msg)


def load(config: dict | str | Path | None, mode: str | None = None) -> dict:
    """Merge a user config onto the defaults and validate it.

    Parameters
    ----------
    config
        A dict, the path of a JSON file or JSON text (as ``uns[key]['config']`` records it),
        holding any part of :func:`default`'s sections (the rest keeps its default); None: the
        defaults. One whose ``mode`` is ``"resvae"`` or ``"vae"`` is an embed config, merged
        onto ``default("resvae")`` (or ``"vae"``).
    mode
        Overrides the config's own ``mode``.

    Returns
    -------
    The full configuration. Unknown keys and bad values are a ValueError that names them.
    """
    from . import _embed  # it imports this module

    user = read_user_config(config)
    the_mode = user.get("mode", "auto") if mode is None else mode  # '' or 0 is no default
    if the_mode in _embed.EMBED_MODES:
        return _embed.load(user, mode)
    if the_mode not in MODES:
        where = "mode" if mode is not None else "config['mode']"  # named where it was given
        msg = (
            f"{where}={the_mode!r} must be one of {MODES} (classify) or {_embed.EMBED_MODES} "
            "(embed)."
        )
        raise ValueError(msg)
    base = copy.deepcopy(_DEFAULT)
    cfg = _merge(base, user, "")
    cfg["mode"] = the_mode
    if cfg["trainer"]["loss"] == "auc" and cfg["search"]["metric"] == _DEFAULT["search"]["metric"]:
        # the AUC loss is judged by a ranking metric: the default one (also as default() writes
        # it, for expert mode) becomes roc_auc; another metric of the class calls is refused
        cfg["search"]["metric"] = "roc_auc"
    if cfg["trainer"]["loss"] == "mse" and isinstance(cfg["search"]["metric"], str):
        # a numeric target: the default metric becomes R^2 (a metric of another type is
        # _check's error, naming the key)
        cfg["trainer"]["loss"], cfg["search"]["metric"] = task_objective(
            "regression", "mse", cfg["search"]["metric"]
        )
    _check(cfg)  # every section given, also one this mode does not read (then dropped)
    if the_mode != "auto":
        cfg["space"] = {k: v for k, v in cfg["space"].items() if k in ("common", the_mode)}
    if the_mode == "rrfcn":
        _warn_unused_by_strategy(user, cfg["rrfcn"]["strategy"])
    _warn_unsearched(user, the_mode)
    return cfg


def _warn_unsearched(user: dict, mode: str) -> None:
    """A warning naming the sections of the user's config (``user``; where they differ from
    the defaults) that ``mode`` does not search: another family's space (``space['mlp']`` in
    mode ``"resnet"``), or the ``rrfcn`` section outside modes ``"rrfcn"`` and ``"auto"``."""
    from .._settings import logger

    space = user.get("space") if isinstance(user.get("space"), dict) else {}
    unread = [
        f"config['space'][{k!r}]"
        for k, v in space.items()
        if mode != "auto" and k not in ("common", mode) and _differs(v, _DEFAULT["space"].get(k))
    ]
    if mode not in ("auto", "rrfcn") and _differs(user.get("rrfcn"), _DEFAULT["rrfcn"]):
        unread.append("config['rrfcn']")
    if unread:
        logger.warning(
            "%s not read: mode %r searches only the %s family (mode 'auto' searches them all).",
            ", ".join(unread),
            mode,
            mode,
        )


def _differs(section, default) -> bool:
    """Whether a user's config section (all of it or a part: the keys it sets) sets a value
    other than ``default``'s; a section that is not a dict differs unless it is None."""
    if isinstance(section, dict) and isinstance(default, dict):
        return any(k not in default or v != default[k] for k, v in section.items())
    return section is not None and section != default


# what mode "rrfcn" with strategy "optuna" reads of the rrfcn section (the rest is ENAS's)
_RRFCN_SPACE_KEYS = ("strategy", "n_layers", "first_width", "widths")
_RRFCN_AUTO_KEYS = ("auto_min_time_budget", "auto_share")


def _warn_unused_by_strategy(user: dict, strategy: str) -> None:
    """A warning naming the settings of the user's config (``user``; those that differ from
    the defaults) that mode ``"rrfcn"`` with ``strategy`` does not read: ENAS trains its child
    networks with the ``rrfcn`` section's settings (not ``space['common']``, but for one
    ``act``) and runs ``rrfcn['epochs']`` alternations (not ``n_trials``); the Optuna
    strategy samples ``space['common']`` and reads only the RRFCN space of the ``rrfcn``
    section."""
    from .._settings import logger

    rrfcn = user.get("rrfcn") if isinstance(user.get("rrfcn"), dict) else {}
    space = user.get("space") if isinstance(user.get("space"), dict) else {}
    budget = user.get("budget") if isinstance(user.get("budget"), dict) else {}
    common = space.get("common") if isinstance(space.get("common"), dict) else {}
    default_common = _DEFAULT["space"]["common"]
    if strategy == "enas":  # a default value repeated (default("rrfcn") edited) is no news
        unused = [
            f"space['common'][{k!r}]"
            for k, v in common.items()
            if v != default_common.get(k) and k != "act"
        ]
        if "act" in common and not isinstance(common["act"], str):
            # one activation is the RRFCN units' (search._enas reads it); choices it cannot
            unused.append("space['common']['act'] (choices: its units use ReLU)")
        n_trials = budget.get("n_trials")
        if n_trials is not None and n_trials != _DEFAULT["budget"]["n_trials"]:
            unused.append("budget['n_trials']")
        instead = (
            "ENAS trains its child networks with config['rrfcn'] (child_lr, child_batch_size, "
            "weight_decay, class_balance, input_keep, dropout) and one activation "
            "(space['common']['act'] given as one name), and runs config['rrfcn']['epochs'] "
            "alternations (within budget['time_budget'] when one is set)"
        )
    else:
        skip = (*_RRFCN_SPACE_KEYS, *_RRFCN_AUTO_KEYS)
        unused = [
            f"rrfcn[{k!r}]"
            for k, v in rrfcn.items()
            if k not in skip and v != _DEFAULT["rrfcn"].get(k)
        ]
        instead = (
            "strategy 'optuna' trains each RRFCN with settings drawn from config['space']"
            "['common'] and reads only the RRFCN space of config['rrfcn'] (n_layers, "
            "first_width, widths)"
        )
    if unused:
        logger.warning(
            "mode 'rrfcn' with strategy %r does not use %s: %s.",
            strategy,
            ", ".join(unused),
            instead,
        )


def requested_task(cfg: dict, task: str) -> str:
    """The ``task`` argument of classify as the full configuration ``cfg`` refines it.

    Parameters
    ----------
    cfg
        A full configuration (:func:`load`).
    task
        ``"auto"``, ``"classification"`` or ``"regression"``.

    Returns
    -------
    ``"regression"`` where ``task`` is ``"auto"`` and ``trainer.loss`` is ``"mse"`` or
    ``search.metric`` one of a numeric target's (``"r2"``, ``"pearson"``, ``"spearman"``):
    they ask for a numeric target whatever the number of distinct values. Otherwise ``task``
    as given.
    """
    if task == "auto" and (
        cfg["trainer"]["loss"] == "mse" or cfg["search"]["metric"] in REGRESSION_METRICS
    ):
        return "regression"
    return task


def for_task(cfg: dict, task: str) -> dict:
    """The full configuration ``cfg`` as a ``task`` runs it.

    Parameters
    ----------
    cfg
        A full configuration (:func:`load`); it is not changed.
    task
        ``"classification"`` or ``"regression"``.

    Returns
    -------
    A copy with the loss and metric of :func:`~scautogenome.train.task_objective` (a numeric
    target takes the defaults as ``"mse"`` and ``"r2"``), and for a numeric target no
    ``class_balance`` in the space and ``"none"`` in ``rrfcn`` (there are no classes to
    balance). A ValueError, before any
    work, for a loss or metric of the other task.
    """
    cfg = copy.deepcopy(cfg)
    cfg["trainer"]["loss"], cfg["search"]["metric"] = task_objective(
        task, cfg["trainer"]["loss"], cfg["search"]["metric"]
    )
    if task == "regression":
        cfg["space"].get("common", {}).pop("class_balance", None)
        if "rrfcn" in cfg:
            cfg["rrfcn"]["class_balance"] = "none"
    return cfg


def validate(config: dict | str | Path) -> None:
    """Check a configuration: raise ValueError naming the first unknown key or bad value.

    Parameters
    ----------
    config
        Full (as :func:`default` gives) or partial (as :func:`load` takes): a dict, a JSON
        file's path or JSON text.
    """
    load(config)


def check_scalars(cfg: dict, scalars: dict, choices: dict) -> None:
    """Every ``cfg[section][key]`` named in ``scalars`` (section -> key -> allowed types) is
    of its types, one of ``choices[(section, key)]`` where given, and, if a number, not NaN,
    not negative and (outside the budget, where an infinite time is no limit) finite."""
    for section, fields in scalars.items():
        for key, types in fields.items():
            value = cfg[section][key]
            if isinstance(value, np.generic):  # numpy numbers (np.int64(20)) as Python ones
                value = cfg[section][key] = value.item()
            where = f"config[{section!r}][{key!r}]"
            if isinstance(value, bool) or not isinstance(value, types):
                names = "/".join(t.__name__ for t in types)
                msg = f"{where}={value!r} must be of type {names}."
                raise ValueError(msg)
            if (section, key) in choices and value not in choices[(section, key)]:
                msg = f"{where}={value!r} must be one of {list(choices[(section, key)])}."
                raise ValueError(msg)
            if not isinstance(value, (int, float)):
                continue
            if math.isnan(value) or (section != "budget" and math.isinf(value)):
                msg = f"{where}={value!r} must be a finite number."
                raise ValueError(msg)
            if value < 0:
                msg = f"{where}={value!r} must not be negative."
                raise ValueError(msg)


def check_budget(b: dict) -> None:
    """The budget must end the search: trials, seconds or both, each positive (``n_trials=0``
    collects a stored study, :func:`~scautogenome.search._study.check_collect`; a negative
    ``n_trials`` is :func:`check_scalars`' error, which runs first). An infinite
    ``time_budget`` is no limit, as None: with no ``n_trials`` it is refused too."""
    if b["n_trials"] is None and (b["time_budget"] is None or math.isinf(b["time_budget"])):
        given = "" if b["time_budget"] is None else " (time_budget=inf is no limit)"
        msg = (
            f"config['budget']: set n_trials, time_budget or both{given}; with neither a "
            "search never ends."
        )
        raise ValueError(msg)
    if b["time_budget"] is not None and not b["time_budget"] > 0:
        msg = f"config['budget']['time_budget']={b['time_budget']} must be positive (seconds)."
        raise ValueError(msg)


def check_epochs(trainer: dict) -> None:
    """At least one epoch. (A ``min_epochs`` above ``max_epochs`` is allowed: a quick run that
    lowers ``max_epochs`` alone trains ``max_epochs``.)"""
    if trainer["max_epochs"] < 1:
        msg = "config['trainer']['max_epochs'] must be at least 1."
        raise ValueError(msg)


def classify_parameter(name: str) -> bool:
    """Whether a classify search draws a parameter of this name (a key of a trial's
    ``params``): ``mode``, a common one (``lr``), a family's (``mlp_n_layers``, its indexed
    widths ``mlp_units_0``), or RRFCN's widths and skip bits (``rrfcn_width_2``,
    ``rrfcn_skip_2_0``)."""
    import re

    space = _DEFAULT["space"]
    if name == "mode" or name in space["common"]:
        return True
    indexed = re.fullmatch(r"(mlp_units|densenet_block_units|rrfcn_width)_(\d+)", name)
    if indexed:  # a width per layer or block; RRFCN's first width is fixed, not drawn
        return not (indexed.group(1) == "rrfcn_width" and int(indexed.group(2)) == 0)
    skip = re.fullmatch(r"rrfcn_skip_(\d+)_(\d+)", name)
    if skip:  # layer i reads layer j's output for j < i - 1 (i - 1 it reads anyway)
        return int(skip.group(2)) < int(skip.group(1)) - 1
    family, _, key = name.partition("_")
    return (
        family in ("mlp", "resnet", "densenet")
        and key in space[family]
        and key
        not in (
            "units" if family == "mlp" else "",
            "block_units" if family == "densenet" else "",
        )
    )


def check_search_start(search: dict, parameter=classify_parameter, named: str = "") -> None:
    """Validate ``max_trial_fraction`` and ``initial_trials`` of a ``search`` section; every
    key of a starting point must be a parameter the search draws (``parameter(key)``;
    ``named`` lists them in the error)."""
    frac = search["max_trial_fraction"]
    if not 0 < frac <= 1:
        msg = f"config['search']['max_trial_fraction']={frac!r} must be in (0, 1]."
        raise ValueError(msg)
    init = search["initial_trials"]
    if isinstance(init, str) and init not in ("default", "none"):
        msg = f"config['search']['initial_trials']={init!r} must be 'default', 'none' or a list of parameter dicts."
        raise ValueError(msg)
    if isinstance(init, list) and not all(isinstance(t, dict) for t in init):
        msg = "config['search']['initial_trials'] must be a list of parameter dicts (as in the trials table's params)."
        raise ValueError(msg)
    for i, point in enumerate(init if isinstance(init, list) else []):
        for key in point:
            if not parameter(str(key)):
                msg = (
                    f"config['search']['initial_trials'][{i}][{key!r}] is not a parameter the "
                    "search draws; a starting point's keys are those of the trials table's "
                    f"params{named or _CLASSIFY_PARAMETERS}."
                )
                raise ValueError(msg)


_CLASSIFY_PARAMETERS = (
    ": mode, the common ones (lr, batch_size, optimizer, momentum, weight_decay, "
    "class_balance, input_keep, dropout, act) and a family's, prefixed by it (mlp_n_layers, "
    "mlp_units_0, resnet_n_blocks, resnet_units, densenet_n_blocks, densenet_block_units_0, "
    "densenet_growth_rate, densenet_compression; an indexed width per layer or block, from "
    "0), and RRFCN's rrfcn_width_1 ... and rrfcn_skip_2_0 ..."
)


def _check(cfg: dict) -> None:
    """Raise ValueError naming the first bad value of a full configuration."""
    check_scalars(cfg, _SCHEMA_SCALARS, _CHOICES)
    check_search_start(cfg["search"])
    check_budget(cfg["budget"])
    check_epochs(cfg["trainer"])
    if cfg["trainer"]["loss"] == "auc":
        check_auc_loss(cfg["search"]["metric"])
    for section, entries in cfg["space"].items():
        for key, spec in entries.items():
            check_distribution(spec, f"config['space'][{section!r}][{key!r}]")
        check_space_values(entries, f"config['space'][{section!r}]")
    _validate_rrfcn(cfg["rrfcn"])


# name -> (types, low, high, low inclusive); None = unbounded
_RRFCN_NUMBERS: dict[str, tuple[tuple[type, ...], float | None, float | None, bool]] = {
    "n_layers": ((int,), 1, 64, True),
    "first_width": ((int,), 1, None, True),
    "epochs": ((int,), 1, None, True),
    "search_share": ((int, float), 0, 1, False),
    "child_lr": ((int, float), 0, None, False),
    "child_batch_size": ((int,), 2, None, True),
    "weight_decay": ((int, float), 0, None, True),
    "input_keep": ((int, float), 0, 1, False),
    "dropout": ((int, float), 0, 1, True),
    "controller_lr": ((int, float), 0, None, False),
    "controller_steps": ((int,), 1, None, True),
    "controller_samples": ((int,), 1, None, True),
    "lstm_size": ((int,), 1, None, True),
    "tanh_constant": ((int, float), 0, None, True),
    "entropy_weight": ((int, float), 0, None, True),
    "skip_target": ((int, float), 0, 1, False),
    "skip_weight": ((int, float), 0, None, True),
    "baseline_decay": ((int, float), 0, 1, True),
    "n_candidates": ((int,), 1, None, True),
    "top_k_candidates": ((int,), 1, None, True),
    "auto_min_time_budget": ((int, float), 0, None, True),
    "auto_share": ((int, float), 0, 1, False),
}


# search-space entries of classify and embed: the range every choice (or a range's low and
# high) must lie in, as (types, low, high, low inclusive); None = unbounded
_SPACE_NUMBERS: dict[str, tuple[tuple[type, ...], float | None, float | None, bool]] = {
    "lr": ((int, float), 0, None, False),
    "batch_size": ((int,), 2, None, True),
    "momentum": ((int, float), 0, 1, True),
    "weight_decay": ((int, float), 0, None, True),
    "input_keep": ((int, float), 0, 1, False),
    "dropout": ((int, float), 0, 1, True),
    # depths bounded as RRFCN's n_layers: each layer is a parameter the trial draws, and a
    # trial's drawing (not timed) of a hundred thousand outlasts any time budget
    "n_layers": ((int,), 1, 64, True),
    "units": ((int,), 1, None, True),
    "n_blocks": ((int,), 1, 64, True),
    "block_units": ((int,), 1, 64, True),
    "growth_rate": ((int,), 1, None, True),
    "compression": ((int, float), 0, 1, False),
    "first_width": ((int,), 1, None, True),
    "decay": ((int, float), 0, 1, False),
}


# the names the network and trainer take for these entries: nn._units.ACTIVATIONS,
# train._trainer.OPTIMIZERS and CLASS_BALANCE, repeated here so that validating a config does
# not load torch (tests/test_config.py checks that they agree)
SPACE_NAMES: dict[str, tuple[str, ...]] = {
    "act": ("relu", "elu", "gelu", "leaky_relu"),
    "optimizer": ("adamw", "sgd"),
    "class_balance": ("none", "weights", "sampler"),
}


# numbers whose range is open at the top (a dropout of 1 drops everything; SGD's velocity
# with a momentum of 1 never decays, which TrainParams refuses)
_OPEN_HIGH = {"dropout", "momentum"}


def _check_number(where: str, key: str, v, rule: tuple) -> None:
    """``v`` of the rule's types and range, or a ValueError naming ``where``."""
    types, low, high, closed = rule
    if isinstance(v, bool) or not isinstance(v, types):
        names = "/".join(t.__name__ for t in types)
        msg = f"{where}={v!r} must be of type {names}."
        raise ValueError(msg)
    if not math.isfinite(v):  # NaN passes every bound; JSON reads NaN and Infinity
        msg = f"{where}={v!r} must be a finite number."
        raise ValueError(msg)
    too_low = low is not None and (v < low if closed else v <= low)
    open_high = key in _OPEN_HIGH
    too_high = high is not None and (v >= high if open_high else v > high)
    if too_low or too_high:
        lo = "-inf" if low is None else f"{low}"
        hi = "inf" if high is None else f"{high}"
        bracket = "[" if closed else "("
        close = ")" if open_high else "]"
        msg = f"{where}={v!r} must be in {bracket}{lo}, {hi}{close}."
        raise ValueError(msg)


def check_space_values(space: dict, where: str) -> None:
    """Every value a search-space entry can draw (each choice, or a range's ``low`` and
    ``high``) is one the network and trainer accept, so that a bad value is an error before
    the search, not a failed trial in the middle of it. Keys without a rule are left alone."""
    from ..search._spaces import choices_of

    names = SPACE_NAMES
    for key, spec in space.items():
        whole = key in _SPACE_NUMBERS and float not in _SPACE_NUMBERS[key][0]
        if isinstance(spec, dict) and spec.get("type") == "float" and whole:
            msg = (
                f'{where}[{key!r}] draws whole numbers: its range needs "type": "int", not "float".'
            )
            raise ValueError(msg)
        if isinstance(spec, dict) and spec.get("type") in ("int", "float"):
            values = [spec["low"], spec["high"]]
        else:
            values = choices_of(spec)
        for v in values:
            if key in _SPACE_NUMBERS:
                _check_number(f"{where}[{key!r}]", key, v, _SPACE_NUMBERS[key])
            elif key in names and v not in names[key]:
                msg = f"{where}[{key!r}]={v!r} must be one of {list(names[key])}."
                raise ValueError(msg)


def _validate_rrfcn(r: dict) -> None:
    """Check the ``rrfcn`` section (RRFCN space and ENAS settings)."""
    where = "config['rrfcn']"
    if r["strategy"] not in ("enas", "optuna"):
        msg = f"{where}['strategy']={r['strategy']!r} must be 'enas' or 'optuna'."
        raise ValueError(msg)
    if r["class_balance"] not in ("none", "weights", "sampler"):
        msg = f"{where}['class_balance']={r['class_balance']!r} must be 'none', 'weights' or 'sampler'."
        raise ValueError(msg)
    for key, rule in _RRFCN_NUMBERS.items():
        _check_number(f"{where}[{key!r}]", key, r[key], rule)
    if r["strategy"] == "enas" and r["n_layers"] < 2:
        msg = (
            f"{where}['n_layers']={r['n_layers']!r}: ENAS needs at least 2 layers (with one its "
            "controller has no choice to learn; a one-layer RRFCN is an MLP, mode='mlp')."
        )
        raise ValueError(msg)
    widths = r["widths"]
    if (
        not isinstance(widths, list)
        or not widths
        or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths)
    ):
        msg = f"{where}['widths']={widths!r} must be a non-empty list of positive ints."
        raise ValueError(msg)
    if r["top_k_candidates"] > r["n_candidates"]:
        msg = (
            f"{where}['top_k_candidates']={r['top_k_candidates']} must not exceed "
            f"n_candidates={r['n_candidates']}."
        )
        raise ValueError(msg)


def to_json(cfg: dict) -> str:
    """A configuration as JSON text, as ``uns[key]['config']`` records it.

    Parameters
    ----------
    cfg
        A configuration (a dict of JSON values).

    Returns
    -------
    The JSON text, indented, with sorted keys; ``config=`` of the tools reads it back.
    """
    return json.dumps(cfg, indent=2, sort_keys=True)
