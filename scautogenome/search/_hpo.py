"""Hyper-parameter and architecture search over MLP / RFCN-ResNet / RFCN-DenseNet on Optuna.

TPE sampling (seeded), median or Hyperband pruning from per-epoch validation scores, a trial
and/or wall-clock budget, any Optuna storage URL (so an interrupted search can be resumed and
several processes can share one study). The objective is the validation metric; the weights of
the best trial are kept in memory so the best model need not be retrained.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable

import numpy as np
import torch

from .._settings import logger
from .._utils import digest, matrix_digest
from ..nn import build_network
from ..train import TrainParams, train_on_data
from ._spaces import drawn_as, fits, nearest, suggest
from ._study import CLASSIFY_STUDY, SearchResult, run_study, trainer_record

ARCH_MODES = ("mlp", "resnet", "densenet")
_TRAIN_KEYS = ("lr", "batch_size", "optimizer", "momentum", "weight_decay", "class_balance")
_NET_COMMON = ("input_keep", "dropout", "act")

# extra architecture families (RRFCN) register a sampler here:
# (trial, mode_space, arch_with_kind_and_sizes) -> arch
ARCH_SAMPLERS: dict[str, Callable] = {}


def sample_architecture(trial, mode: str, space: dict, n_inputs: int, n_outputs: int) -> dict:
    """Architecture dict for ``mode`` drawn from its ``space`` (conditional parameter names).

    The trial's parameters are named after the mode (``mlp_n_layers``, ``mlp_units_0``,
    ``resnet_units``, ``densenet_growth_rate``...), so that the modes' parameters stay apart
    in one study.

    Parameters
    ----------
    trial
        The Optuna trial to draw with.
    mode
        ``"mlp"``, ``"resnet"``, ``"densenet"`` or a family registered in
        :data:`ARCH_SAMPLERS` (``"rrfcn"``); another is a ValueError.
    space
        The search space, ``config['space']``: one section per mode (``space[mode]`` is
        read; a missing one is a ValueError).
    n_inputs, n_outputs
        Genes in and classes out (1 for a regressor), written into the dict.

    Returns
    -------
    The ``kind``, ``n_inputs``, ``n_outputs`` and the mode's own keys (the common
    ``input_keep``, ``dropout`` and ``act`` are :func:`sample_trial`'s).
    """
    if mode not in ARCH_MODES and mode not in ARCH_SAMPLERS:
        msg = f"mode={mode!r} has no architecture sampler (known: {[*ARCH_MODES, *ARCH_SAMPLERS]})."
        raise ValueError(msg)
    if mode not in space:
        msg = f"space has no entry for mode={mode!r} (its modes: {list(space)})."
        raise ValueError(msg)
    s = space[mode]
    arch: dict = {"kind": mode, "n_inputs": n_inputs, "n_outputs": n_outputs}
    if mode in ARCH_SAMPLERS:
        return ARCH_SAMPLERS[mode](trial, s, arch)
    if mode == "mlp":
        n_layers = int(suggest(trial, "mlp_n_layers", s["n_layers"]))
        arch["units"] = [int(suggest(trial, f"mlp_units_{i}", s["units"])) for i in range(n_layers)]
    elif mode == "resnet":
        arch["n_blocks"] = int(suggest(trial, "resnet_n_blocks", s["n_blocks"]))
        arch["units"] = int(suggest(trial, "resnet_units", s["units"]))
    elif mode == "densenet":
        n_blocks = int(suggest(trial, "densenet_n_blocks", s["n_blocks"]))
        arch["blocks"] = [
            int(suggest(trial, f"densenet_block_units_{i}", s["block_units"]))
            for i in range(n_blocks)
        ]
        arch["growth_rate"] = int(suggest(trial, "densenet_growth_rate", s["growth_rate"]))
        arch["compression"] = float(suggest(trial, "densenet_compression", s["compression"]))
    return arch


def sample_trial(trial, config: dict, n_inputs: int, n_outputs: int) -> tuple[dict, dict]:
    """Draw ``(architecture, train_params)`` for one trial from ``config['space']``.

    The mode is drawn as the trial's ``mode`` parameter where the space has several (the one
    mode otherwise); the architecture (:func:`sample_architecture`) gets ``input_keep``,
    ``dropout`` and ``act`` from ``space['common']``, the training settings ``lr``,
    ``batch_size``, ``optimizer``, ``momentum`` (with SGD only), ``weight_decay`` and
    ``class_balance``, where the common section has them.

    Parameters
    ----------
    trial
        The Optuna trial to draw with.
    config
        A full configuration (:func:`scautogenome.config.load`): its ``space`` (with a
        ``common`` section) and its ``trainer``, whose settings are added to the drawn ones
        and replace a drawn one of the same name.
    n_inputs, n_outputs
        Genes in and classes out (1 for a regressor).

    Returns
    -------
    The architecture dict and the keyword arguments of
    :class:`~scautogenome.train.TrainParams`.
    """
    space = config["space"]
    modes = [m for m in space if m != "common"]
    mode = modes[0] if len(modes) == 1 else trial.suggest_categorical("mode", modes)
    common = space["common"]
    arch = sample_architecture(trial, mode, space, n_inputs, n_outputs)
    for key in _NET_COMMON:
        if key in common:
            arch[key] = suggest(trial, key, common[key])
    params = {}
    for key in _TRAIN_KEYS:
        if key == "momentum" and params.get("optimizer") != "sgd":
            continue
        if key in common:
            params[key] = suggest(trial, key, common[key])
    params.update(config["trainer"])
    if "batch_size" in params:
        params["batch_size"] = int(params["batch_size"])
    return arch, params


# A small portfolio of configurations that are strong on most genomic profiles, tried first
# (as AutoML systems do) before TPE explores; each is dropped where it does not fit the space.
DEFAULT_INITIAL_TRIALS: list[dict] = [
    # cheapest first: on wide inputs (tens of thousands of genes) a short budget may only reach
    # the first points, so they must be fast as well as good
    {
        "mode": "mlp",
        "mlp_n_layers": 1,
        "mlp_units_0": 256,
        "dropout": 0.25,
        "input_keep": 0.8,
        "lr": 1e-3,
        "batch_size": 128,
        "optimizer": "adamw",
        "weight_decay": 1e-4,
        "class_balance": "weights",
    },
    # plain SGD with momentum, no input drop-out: on sparse, very wide profiles (somatic
    # mutations: 39,674 genes, 0.3% non-zero) AdamW's per-weight step sizes fit the rarest genes
    # to single samples; SGD generalizes as a tuned logistic regression does
    # (benchmarks/RESULTS.md, "SGD in the starting portfolio")
    {
        "mode": "mlp",
        "mlp_n_layers": 1,
        "mlp_units_0": 256,
        "dropout": 0.25,
        "input_keep": 1.0,
        "lr": 1e-2,
        "batch_size": 128,
        "optimizer": "sgd",
        "momentum": 0.9,
        "weight_decay": 1e-4,
        "class_balance": "weights",
    },
    {
        "mode": "resnet",
        "resnet_n_blocks": 2,
        "resnet_units": 256,
        "dropout": 0.25,
        "input_keep": 0.8,
        "lr": 1e-3,
        "batch_size": 128,
        "optimizer": "adamw",
        "weight_decay": 1e-4,
        "class_balance": "weights",
    },
    {
        "mode": "mlp",
        "mlp_n_layers": 2,
        "mlp_units_0": 512,
        "mlp_units_1": 256,
        "dropout": 0.25,
        "input_keep": 0.8,
        "lr": 1e-3,
        "batch_size": 64,
        "optimizer": "adamw",
        "weight_decay": 1e-4,
        "class_balance": "weights",
    },
    {
        "mode": "densenet",
        "densenet_n_blocks": 2,
        "densenet_block_units_0": 3,
        "densenet_block_units_1": 3,
        "densenet_growth_rate": 64,
        "dropout": 0.25,
        "input_keep": 0.8,
        "lr": 1e-3,
        "batch_size": 64,
        "optimizer": "adamw",
        "weight_decay": 1e-4,
        "class_balance": "weights",
    },
]


def initial_trials(config: dict) -> list[dict]:
    """The configured starting points, fitted to the configured space.

    A point of the user's own that the space cannot draw (its mode, or one of its values) is
    skipped with a warning. The default portfolio is moved into the space instead, as embed's
    starting point is: a value outside it becomes the space's nearest
    (:func:`~scautogenome.search._spaces.nearest`), a parameter the space lacks is left to the
    sampler, a mode the space lacks is dropped, and points that become the same are kept once.
    """
    init = config["search"]["initial_trials"]
    if init == "none":
        return []
    own = init != "default"
    points = init if own else DEFAULT_INITIAL_TRIALS
    space = config["space"]
    modes = [m for m in space if m != "common"]
    out: list[dict] = []
    for point in points:
        mode = point.get("mode", modes[0])
        if mode not in modes:
            if own:
                logger.warning(
                    "initial trial %s skipped: mode %r is not in the search space %s",
                    point,
                    mode,
                    modes,
                )
            continue
        params = {"mode": mode} if len(modes) > 1 else {}
        for key, value in point.items():
            if key == "mode":
                continue
            section, name = (
                (mode, key[len(mode) + 1 :]) if key.startswith(mode + "_") else ("common", key)
            )
            spec = (
                _spec_of(space[section], name) if section != "common" else space[section].get(name)
            )
            if spec is not None and fits(value, spec):
                params[key] = drawn_as(value, spec)  # 1.0 -> 1, as the space draws it
            elif own:
                logger.warning(
                    "initial trial %s skipped: %s=%r is not in the search space", point, key, value
                )
                params = None
                break
            elif spec is not None:
                params[key] = nearest(value, spec)
        if params is not None and not own:
            params = _drop_undrawn(params, mode)
        if params is not None and params not in out:
            out.append(params)
    return out


def _spec_of(section: dict, name: str):
    """The space entry a mode's trial parameter is drawn from: ``units_1`` from ``units``,
    ``block_units_0`` from ``block_units``; RRFCN's ``width_2`` from ``widths`` and its skip
    bits ``skip_2_0`` from ``[0, 1]`` (see ``search._enas``). ``None`` if there is none."""
    base = re.sub(r"(_\d+)+$", "", name)
    if base in section:
        return section[base]
    if base == "width" and "widths" in section:
        return section["widths"]
    if base == "skip" and "widths" in section and base != name:
        return [0, 1]
    return None


# the count that says how many of a mode's indexed widths a trial draws (``mlp_units_0`` ...)
_WIDTH_COUNTS = {"mlp": ("n_layers", "units"), "densenet": ("n_blocks", "block_units")}


def _drop_undrawn(params: dict, mode: str) -> dict:
    """``params`` without what :func:`sample_trial` would not draw for a point moved into the
    space: the indexed widths beyond its count (``mlp_units_1`` once ``mlp_n_layers`` is 1)
    and ``momentum`` once the optimizer is not SGD. Two points that differ only there are
    then recognised as the same."""
    if params.get("optimizer", "sgd") != "sgd":
        params = {k: v for k, v in params.items() if k != "momentum"}
    if mode not in _WIDTH_COUNTS:
        return params
    count, width = _WIDTH_COUNTS[mode]
    n = params.get(f"{mode}_{count}")
    if n is None:
        return params
    prefix = f"{mode}_{width}_"
    return {
        k: v
        for k, v in params.items()
        if not (k.startswith(prefix) and k[len(prefix) :].isdigit() and int(k[len(prefix) :]) >= n)
    }


def run_search(
    data,
    config: dict,
    *,
    device: torch.device,
    seed: int = 0,
    storage: str | None = None,
    study_name: str | None = None,
    retrain_best: bool = True,
    sampler_salt: int | None = None,
) -> SearchResult:
    """Search ``config['space']`` on ``data`` (a :class:`~scautogenome.data.LabelledData`).

    ``retrain_best`` and ``sampler_salt`` as in :func:`~scautogenome.search._study.run_study`
    (a worker: False and its process id); without retraining, a best trial of another process
    comes back without weights (``state_dict`` ``{}``).

    Parameters
    ----------
    data
        The prepared cells (:class:`~scautogenome.data.LabelledData`: matrix, train/val
        rows, labels or a numeric target, fitted input transform).
    config
        A full configuration (:func:`scautogenome.config.load`): ``space``, ``search``
        (metric, sampler, pruner, starting points), ``budget`` and ``trainer``.
    device
        The torch device the trials train on.
    seed
        Seeds the sampler and, with the trial's number added, each trial's weights.
    storage
        An Optuna storage (URL, journal file path or storage object) to record the study in,
        so that it can be resumed or shared; None: in memory.
    study_name
        The study's name (None: :data:`CLASSIFY_STUDY`).
    retrain_best
        Whether to retrain the best trial when another process trained it (to return its
        weights).
    sampler_salt
        Mixed into the sampler's seed (a worker's, so that its points differ from the other
        workers').

    Returns
    -------
    The best trial's architecture, training settings, weights and curves, with the trials
    table (:class:`SearchResult`).
    """
    metric = config["search"]["metric"]
    loss = config["trainer"].get("loss", "cross_entropy")
    budget = config["budget"]
    regression = data.task == "regression"
    n_in, n_out = data.X.shape[1], data.n_outputs
    train_rows, val_rows = data.rows("train"), data.rows("val")
    transform = data.transform.to_torch(device)
    reads = data.transform.varying_genes()

    @functools.cache
    def cached():
        """The train and validation rows through the transform once, on the genes the
        networks read, for every epoch of every trial (None above the loader's memory cap, or
        where the memory for it is lacking: every batch is then transformed as it is read);
        computed when the first trial trains."""
        return data.transformed(transform, reads)

    def train(net, params: dict, trial_seed: int, report, deadline, stop_after=None):
        return train_on_data(
            net,
            data,
            train_rows=train_rows,
            val_rows=val_rows,
            transform=transform,
            params=TrainParams(**params),
            metric=metric,
            device=device,
            seed=trial_seed,
            report=report,
            deadline=deadline,
            stop_after=stop_after,
            cached=cached(),
        )

    # what the trials were scored on: class codes, or a numeric target's values
    labels = data.y if regression else data.codes

    out = run_study(
        config,
        sample=lambda trial: sample_trial(trial, config, n_in, n_out),
        io_shape=(n_in, n_out),
        build=functools.partial(build_network, reads=reads),
        train=train,
        direction="maximize",
        value_of=lambda res: res.best_score,
        study_name=study_name or CLASSIFY_STUDY,
        seed=seed,
        storage=storage,
        enqueue=lambda: initial_trials(config),
        trial_cap=None
        if budget["time_budget"] is None
        else float(budget["time_budget"]) * config["search"]["max_trial_fraction"],
        postfix="best val " + metric,
        fingerprint=lambda: {
            "task": "regression" if regression else "classify",
            "values": matrix_digest(data.X, np.concatenate([train_rows, val_rows])),
            "genes": digest(data.var_names),
            "classes": digest(data.classes),
            "train_rows": digest(train_rows),
            "val_rows": digest(val_rows),
            "val_labels": digest(labels[val_rows]),
            "train_labels": digest(labels[train_rows]),
            "value_type": data.transform.value_type,
            # two classes' average precision is the rarer class's: trials stored when it was
            # the mean of both score otherwise
            "metric": f"{metric} (of the rarer of two classes)"
            if metric == "average_precision" and len(data.classes) == 2
            else metric,
            # trials of another mode or space would be kept as this search's best
            "mode": config["mode"],
            "space": digest([json.dumps(config["space"], sort_keys=True)]),
            # trials of another loss score other models; the default is left out, so that
            # studies stored before the loss was a setting still resume
            **({} if loss == "cross_entropy" else {"loss": loss}),
            # trials trained for other epochs or patience score otherwise (as text: an error
            # shows what differs)
            "trainer": trainer_record(config["trainer"], without=("loss",)),
        },
        retrain_best=retrain_best,
        sampler_salt=sampler_salt,
    )
    return SearchResult.from_outcome(out)
