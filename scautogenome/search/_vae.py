"""Search over Res-VAE / VAE architectures and training settings on Optuna.

The same machinery as the classifier search (seeded TPE, median or Hyperband pruning from
per-epoch validation losses, trial and/or wall-clock budget, any Optuna storage URL); the
objective is the validation loss (negative beta-ELBO), minimised. The weights of the best trial
are kept in memory so the best model need not be retrained.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass

import numpy as np
import optuna
import pandas as pd
import torch

from .._logging import progress
from .._settings import logger
from ..nn import count_parameters
from ..nn._vae import build_vae, vae_widths
from ..train._vae import Pruned, VAETrainParams, train_vae
from ._hpo import make_pruner, make_sampler, trials_table
from ._spaces import choices_of, suggest

_TRAIN_KEYS = ("lr", "batch_size", "weight_decay")


def cap_widths(space: dict, n_inputs: int) -> dict:
    """The space with first-layer widths larger than ``n_inputs`` dropped from the choices
    (the smallest choice is kept when all are larger)."""
    spec = space["first_width"]
    choices = [int(c) for c in choices_of(spec)]
    kept = [c for c in choices if c <= n_inputs] or [min(choices)]
    if len(kept) == len(choices):
        return space
    return {**space, "first_width": kept if len(kept) > 1 else kept[0]}


def sample_vae_trial(
    trial, config: dict, n_inputs: int, n_latent: int, likelihood: str
) -> tuple[dict, dict]:
    """Draw ``(architecture, train_params)`` for one trial from ``config['space']``."""
    s = cap_widths(config["space"], n_inputs)
    n_layers = int(suggest(trial, "n_layers", s["n_layers"]))
    first = int(suggest(trial, "first_width", s["first_width"]))
    decay = float(suggest(trial, "decay", s["decay"]))
    arch = {
        "kind": config["mode"],
        "n_inputs": int(n_inputs),
        "n_latent": int(n_latent),
        "widths": vae_widths(n_layers, first, decay, n_latent),
        "input_keep": float(suggest(trial, "input_keep", s["input_keep"])),
        "dropout": float(suggest(trial, "dropout", s["dropout"])),
        "act": str(suggest(trial, "act", s["act"])),
        "likelihood": likelihood,
    }
    params = {key: suggest(trial, key, s[key]) for key in _TRAIN_KEYS}
    params["batch_size"] = int(params["batch_size"])
    params.update(config["trainer"])
    return arch, params


@dataclass
class VAESearchResult:
    architecture: dict
    train_params: dict
    state_dict: dict
    history: list
    best_value: float
    best_trial: int
    trials: pd.DataFrame
    study_name: str
    seconds: float
    seconds_per_epoch: float
    best_epoch: int


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
    return min(done, key=lambda t: (t.value, t.number))


def run_vae_search(
    X,
    train_rows: np.ndarray,
    val_rows: np.ndarray,
    transform,
    config: dict,
    *,
    n_latent: int,
    likelihood: str,
    device: torch.device,
    seed: int = 0,
    storage: str | None = None,
    study_name: str | None = None,
) -> VAESearchResult:
    """Search ``config['space']`` for the VAE with the lowest validation loss.

    ``transform`` is the fitted :class:`~scautogenome.data.InputTransform`.
    """
    start = time.perf_counter()
    budget = config["budget"]
    deadline = None if budget["time_budget"] is None else start + float(budget["time_budget"])
    n_in = X.shape[1]
    ttransform = transform.to_torch(device)
    kept: dict[int, tuple] = {}  # trial -> (state_dict, history, s/epoch, best epoch), best only
    best_value = [math.inf]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=storage,
        study_name=study_name or f"sag-embed-{config['mode']}",
        direction="minimize",
        sampler=make_sampler(config, seed),
        pruner=make_pruner(config),
        load_if_exists=storage is not None,
    )
    n_before = len(study.trials)
    if n_before:
        logger.info("resuming study %r with %d earlier trial(s)", study.study_name, n_before)

    def build(arch: dict, trial_seed: int):
        torch.manual_seed(trial_seed)
        return build_vae(arch)

    def train(net, params: dict, trial_seed: int, report=None, dl=None):
        return train_vae(
            net,
            X=X,
            train_rows=train_rows,
            val_rows=val_rows,
            transform=ttransform,
            params=VAETrainParams(**params),
            device=device,
            seed=trial_seed,
            report=report,
            deadline=dl,
        )

    def objective(trial: optuna.Trial) -> float:
        arch, params = sample_vae_trial(trial, config, n_in, n_latent, likelihood)
        trial.set_user_attr("mode", arch["kind"])
        trial.set_user_attr("architecture", json.dumps(arch, sort_keys=True))

        n_epochs = [0]

        def report(epoch: int, value: float) -> None:
            n_epochs[0] = epoch + 1
            trial.report(value, epoch)
            if trial.should_prune():
                raise Pruned

        net = build(arch, seed + trial.number)
        trial.set_user_attr("n_params", count_parameters(net))
        t0 = time.perf_counter()
        try:
            res = train(net, params, seed + trial.number, report, deadline)
        except Pruned:
            trial.set_user_attr("epochs", n_epochs[0])
            trial.set_user_attr("seconds", time.perf_counter() - t0)
            raise optuna.TrialPruned from None
        trial.set_user_attr("val_loss", res.best_loss)
        trial.set_user_attr("best_epoch", res.best_epoch)
        trial.set_user_attr("epochs", len(res.history))
        trial.set_user_attr("seconds", res.seconds)
        trial.set_user_attr("seconds_per_epoch", res.seconds_per_epoch)
        if res.best_loss < best_value[0]:
            best_value[0] = res.best_loss
            kept.clear()
            kept[trial.number] = (
                res.state_dict,
                res.history,
                res.seconds_per_epoch,
                res.best_epoch,
            )
        return res.best_loss

    bar = progress(budget["n_trials"], "search", unit="trial")

    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        bar.update(1)
        try:
            best = study.best_value
        except ValueError:
            best = float("nan")
        bar.set_postfix({"best val loss": f"{best:.4g}", "last": trial.state.name.lower()})
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
    _, params = sample_vae_trial(
        optuna.trial.FixedTrial(best.params), config, n_in, n_latent, likelihood
    )
    if best.number in kept:
        state, history, spe, best_epoch = kept[best.number]
    else:  # best trial ran in another process or an earlier session: retrain it, same seed
        logger.info("retraining trial %d (trained in another process)", best.number)
        res = train(build(arch, seed + best.number), params, seed + best.number)
        state, history, spe = res.state_dict, res.history, res.seconds_per_epoch
        best_epoch = res.best_epoch
    table = trials_table(study)
    if len(table):
        table["seconds_per_epoch"] = [
            float(t.user_attrs.get("seconds_per_epoch", math.nan))
            for t in study.get_trials(deepcopy=False)
        ]
    n_done = int((table["state"] == "complete").sum()) if len(table) else 0
    n_pruned = int((table["state"] == "pruned").sum()) if len(table) else 0
    logger.info(
        "search: %d trials (%d complete, %d pruned); best trial %d (%s, widths %s) val loss %.4g",
        len(table) - n_before,
        n_done,
        n_pruned,
        best.number,
        arch["kind"],
        arch["widths"],
        best.value,
    )
    return VAESearchResult(
        architecture=arch,
        train_params=params,
        state_dict=state,
        history=history,
        best_value=float(best.value),
        best_trial=best.number,
        trials=table,
        study_name=study.study_name,
        seconds=time.perf_counter() - start,
        seconds_per_epoch=float(spe),
        best_epoch=int(best_epoch),
    )
