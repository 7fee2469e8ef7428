"""Hyper-parameter and architecture search over MLP / RFCN-ResNet / RFCN-DenseNet on Optuna.

TPE sampling (seeded), median or Hyperband pruning from per-epoch validation scores, a trial
and/or wall-clock budget, any Optuna storage URL (so an interrupted search can be resumed and
several processes can share one study). The objective is the validation metric; the weights of
the best trial are kept in memory so the best model need not be retrained.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import optuna
import pandas as pd
import torch

from .._logging import progress
from .._settings import logger
from ..nn import build_network, count_parameters
from ..train import Pruned, TrainParams, train_classifier
from ._spaces import choices_of, suggest

ARCH_MODES = ("mlp", "resnet", "densenet")
_TRAIN_KEYS = ("lr", "batch_size", "optimizer", "momentum", "weight_decay", "class_balance")
_NET_COMMON = ("input_keep", "dropout", "act")

# extra architecture families (RRFCN) register a sampler here:
# (trial, mode_space, arch_with_kind_and_sizes) -> arch
ARCH_SAMPLERS: dict[str, Callable] = {}


def sample_architecture(trial, mode: str, space: dict, n_inputs: int, n_outputs: int) -> dict:
    """Architecture dict for ``mode`` drawn from its ``space`` (conditional parameter names)."""
    s = space[mode]
    arch: dict = {"kind": mode, "n_inputs": n_inputs, "n_outputs": n_outputs}
    if mode in ARCH_SAMPLERS:
        return ARCH_SAMPLERS[mode](trial, s, arch)
    if mode == "mlp":
        n_layers = suggest(trial, "mlp_n_layers", s["n_layers"])
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
    else:
        msg = f"mode={mode!r} has no architecture sampler."
        raise ValueError(msg)
    return arch


def sample_trial(trial, config: dict, n_inputs: int, n_outputs: int) -> tuple[dict, dict]:
    """Draw ``(architecture, train_params)`` for one trial from ``config['space']``."""
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


def make_sampler(config: dict, seed: int) -> optuna.samplers.BaseSampler:
    s = config["search"]
    if s["sampler"] == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=s["n_startup_trials"])


def make_pruner(config: dict) -> optuna.pruners.BasePruner:
    s = config["search"]
    if s["pruner"] == "none":
        return optuna.pruners.NopPruner()
    if s["pruner"] == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=max(1, s["prune_warmup_epochs"]),
            max_resource=config["trainer"]["max_epochs"],
        )
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=s["prune_warmup_epochs"])


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


def _fits(value, spec) -> bool:
    if isinstance(spec, dict) and spec.get("type") in ("float", "int"):
        return isinstance(value, (int, float)) and spec["low"] <= value <= spec["high"]
    return value in choices_of(spec)


def initial_trials(config: dict) -> list[dict]:
    """The configured starting points that fit the configured space (others are skipped)."""
    init = config["search"]["initial_trials"]
    if init == "none":
        return []
    points = DEFAULT_INITIAL_TRIALS if init == "default" else init
    space = config["space"]
    modes = [m for m in space if m != "common"]
    out = []
    for point in points:
        mode = point.get("mode", modes[0])
        if mode not in modes:
            continue
        params = {k: v for k, v in point.items() if k != "mode" or len(modes) > 1}
        ok = True
        for key, value in params.items():
            if key == "mode":
                continue
            section, name = (
                (mode, key[len(mode) + 1 :]) if key.startswith(mode + "_") else ("common", key)
            )
            name = name.rstrip("0123456789").rstrip("_") if section != "common" else name
            spec = space[section].get(name)
            if spec is None or not _fits(value, spec):
                ok = False
                break
        if ok:
            out.append(params)
    return out


@dataclass
class SearchResult:
    architecture: dict
    train_params: dict
    state_dict: dict
    history: list
    best_value: float
    best_trial: int
    trials: pd.DataFrame
    study_name: str
    seconds: float


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial, with only h5ad-friendly column types (numbers and strings)."""
    rows = []
    finished = (
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.PRUNED,
        optuna.trial.TrialState.FAIL,
    )
    for t in study.get_trials(deepcopy=False, states=finished):
        ua = t.user_attrs
        rows.append(
            {
                "number": t.number,
                "state": t.state.name.lower(),
                "value": float("nan") if t.value is None else float(t.value),
                "mode": str(ua.get("mode", t.params.get("mode", ""))),
                "val_loss": float(ua.get("val_loss", math.nan)),
                "best_epoch": int(ua.get("best_epoch", -1)),
                "epochs": int(ua.get("epochs", -1)),
                "n_params": int(ua.get("n_params", -1)),
                "seconds": float(ua.get("seconds", math.nan)),
                "params": json.dumps(t.params, sort_keys=True),
                "architecture": str(ua.get("architecture", "")),
            }
        )
    df = pd.DataFrame(rows)
    if len(df):
        df.index = pd.Index(df["number"].astype(str).to_numpy(), name="trial")
    return df


def _best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial:
    done = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None
    ]
    if not done:
        msg = (
            "The search finished without one complete trial; raise the budget (n_trials / "
            "time_budget) or check the log for the errors of failed trials."
        )
        raise RuntimeError(msg)
    # highest score; ties broken by the lower validation loss, then the earlier trial
    return min(done, key=lambda t: (-t.value, t.user_attrs.get("val_loss", math.inf), t.number))


def run_search(
    data,
    config: dict,
    *,
    device: torch.device,
    seed: int = 0,
    storage: str | None = None,
    study_name: str | None = None,
) -> SearchResult:
    """Search ``config['space']`` on ``data`` (a :class:`~scautogenome.data.LabelledData`)."""
    start = time.perf_counter()
    metric = config["search"]["metric"]
    budget = config["budget"]
    deadline = None if budget["time_budget"] is None else start + float(budget["time_budget"])
    n_in, n_out = data.X.shape[1], data.n_classes
    train_rows, val_rows = data.rows("train"), data.rows("val")
    transform = data.transform.to_torch(device)
    kept: dict[int, tuple] = {}  # trial number -> (state_dict, history), best one only

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=storage,
        study_name=study_name or "sag-classify",
        direction="maximize",
        sampler=make_sampler(config, seed),
        pruner=make_pruner(config),
        load_if_exists=storage is not None,
    )
    n_before = len(study.trials)
    if n_before:
        logger.info("resuming study %r with %d earlier trial(s)", study.study_name, n_before)
    else:
        points = initial_trials(config)
        if budget["n_trials"] is not None:
            points = points[: budget["n_trials"]]
        for params in points:
            study.enqueue_trial(params, skip_if_exists=True)
    trial_cap = (
        None
        if budget["time_budget"] is None
        else float(budget["time_budget"]) * config["search"]["max_trial_fraction"]
    )
    best_key = [(-math.inf, math.inf)]

    def objective(trial: optuna.Trial) -> float:
        arch, params = sample_trial(trial, config, n_in, n_out)
        trial.set_user_attr("mode", arch["kind"])
        trial.set_user_attr("architecture", json.dumps(arch, sort_keys=True))
        torch.manual_seed(seed + trial.number)
        net = build_network(arch)
        trial.set_user_attr("n_params", count_parameters(net))

        n_epochs = [0]

        def report(epoch: int, value: float) -> None:
            n_epochs[0] = epoch + 1
            trial.report(value, epoch)
            if trial.should_prune():
                raise Pruned

        t0 = time.perf_counter()
        trial_deadline = deadline
        if trial_cap is not None:
            trial_deadline = min(deadline, t0 + trial_cap)
        try:
            res = train_classifier(
                net,
                X=data.X,
                codes=data.codes,
                train_rows=train_rows,
                val_rows=val_rows,
                n_classes=n_out,
                transform=transform,
                params=TrainParams(**params),
                metric=metric,
                device=device,
                seed=seed + trial.number,
                report=report,
                deadline=trial_deadline,
            )
        except Pruned:
            trial.set_user_attr("epochs", n_epochs[0])
            trial.set_user_attr("seconds", time.perf_counter() - t0)
            raise optuna.TrialPruned from None
        trial.set_user_attr("val_loss", res.best_loss)
        trial.set_user_attr("best_epoch", res.best_epoch)
        trial.set_user_attr("epochs", len(res.history))
        trial.set_user_attr("seconds", res.seconds)
        key = (res.best_score, res.best_loss)
        if (key[0], -key[1]) > (best_key[0][0], -best_key[0][1]):
            best_key[0] = key
            kept.clear()
            kept[trial.number] = (res.state_dict, res.history)
        return res.best_score

    bar = progress(budget["n_trials"], "search", unit="trial")

    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        bar.update(1)
        try:
            best = study.best_value
        except ValueError:
            best = float("nan")
        bar.set_postfix({"best val " + metric: f"{best:.3f}", "last": trial.state.name.lower()})
        logger.debug(
            "trial %d %s value=%s params=%s",
            trial.number,
            trial.state.name,
            trial.value,
            trial.params,
        )

    try:
        study.optimize(
            objective,
            n_trials=budget["n_trials"],
            timeout=budget["time_budget"],
            callbacks=[callback],
            catch=(RuntimeError,),
            gc_after_trial=False,
        )
    finally:
        bar.close()
    best = _best_trial(study)
    arch = json.loads(best.user_attrs["architecture"])
    _, params = sample_trial(optuna.trial.FixedTrial(best.params), config, n_in, n_out)
    if best.number in kept:
        state, history = kept[best.number]
    else:  # best trial ran in another process or an earlier session: retrain it, same seed
        logger.info("retraining trial %d (trained in another process)", best.number)
        torch.manual_seed(seed + best.number)
        net = build_network(arch)
        res = train_classifier(
            net,
            X=data.X,
            codes=data.codes,
            train_rows=train_rows,
            val_rows=val_rows,
            n_classes=n_out,
            transform=transform,
            params=TrainParams(**params),
            metric=metric,
            device=device,
            seed=seed + best.number,
        )
        state, history = res.state_dict, res.history
    table = trials_table(study)
    n_done = int((table["state"] == "complete").sum()) if len(table) else 0
    n_pruned = int((table["state"] == "pruned").sum()) if len(table) else 0
    logger.info(
        "search: %d trials (%d complete, %d pruned); best trial %d (%s) val %s=%.4f",
        len(table) - n_before,
        n_done,
        n_pruned,
        best.number,
        arch["kind"],
        metric,
        best.value,
    )
    return SearchResult(
        architecture=arch,
        train_params=params,
        state_dict=state,
        history=history,
        best_value=float(best.value),
        best_trial=best.number,
        trials=table,
        study_name=study.study_name,
        seconds=time.perf_counter() - start,
    )
