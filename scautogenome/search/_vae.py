"""Search over Res-VAE / VAE architectures and training settings on Optuna.

The same machinery as the classifier search (seeded TPE, median or Hyperband pruning from
per-epoch validation losses, trial and/or wall-clock budget, any Optuna storage URL); the
objective is the validation loss (negative beta-ELBO), minimised. The weights of the best trial
are kept in memory so the best model need not be retrained.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import numpy as np
import torch

from .._settings import logger
from .._utils import digest, matrix_digest
from ..nn._vae import build_vae, vae_widths
from ..train._vae import VAETrainParams, train_vae
from ._spaces import choices_of, fits, nearest, suggest
from ._study import SearchResult, embed_study, run_study, trainer_record

_TRAIN_KEYS = ("lr", "batch_size", "weight_decay")


def cap_widths(space: dict, n_inputs: int) -> dict:
    """The space with first-layer widths larger than ``n_inputs`` dropped from the choices, or
    a range's ``high`` lowered to ``n_inputs`` (the smallest width is kept when all are
    larger)."""
    spec = space["first_width"]
    if isinstance(spec, dict) and spec.get("type") in ("int", "float"):
        if spec["high"] <= n_inputs:
            return space
        high = max(spec["low"], n_inputs)  # the smallest width when all are larger
        return {**space, "first_width": {**spec, "high": high}}
    choices = [int(c) for c in choices_of(spec)]
    kept = [c for c in choices if c <= n_inputs] or [min(choices)]
    if len(kept) == len(choices):
        return space
    return {**space, "first_width": kept if len(kept) > 1 else kept[0]}


def sample_vae_trial(
    trial, config: dict, n_inputs: int, n_latent: int, likelihood: str, n_batch: int = 0
) -> tuple[dict, dict]:
    """Draw ``(architecture, train_params)`` for one trial from ``config['space']``
    (``n_batch``: batches the decoder is conditioned on, 0 for none)."""
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
    if n_batch:
        arch["n_batch"] = int(n_batch)
    params = {key: suggest(trial, key, s[key]) for key in _TRAIN_KEYS}
    params["batch_size"] = int(params["batch_size"])
    params.update(config["trainer"])
    # resolved (kl_warmup_epochs None -> half of max_epochs), so the trial records the numbers
    return arch, dict(VAETrainParams(**params).__dict__)


# Where the search starts (as the classifier search does): the cheapest Res-VAE of the paper's
# space that trains well on thousands of genes (4 layers from 128 wide; an epoch cheaper than
# scVI's on the benchmark's data). It trains until it converges, uncapped, so that even a tight
# budget ends with one fully trained model; without it, a first random draw of a 1024-wide,
# 5-layer network could take the whole budget.
DEFAULT_INITIAL_TRIALS: list[dict] = [
    {
        "n_layers": 4,
        "first_width": 128,
        "decay": 0.6,
        "input_keep": 0.8,
        "lr": 1e-3,
        "batch_size": 128,
        "weight_decay": 1e-5,
    },
]


def initial_points(config: dict, n_inputs: int) -> list[dict]:
    """The configured starting points in the (width-capped) space; keys of fixed entries are
    dropped, since a fixed value is not an Optuna parameter.

    A value of the default point that the space cannot draw is moved to the space's nearest
    one (:func:`~scautogenome.search._spaces.nearest`: ``n_layers=[3, 5]`` starts at 3, a
    ``first_width`` of ``[1024, 2048]`` at 1024), so that a custom space still starts from its
    cheapest neighbour of the default and trains that model until it converges. A point of
    your own with a value outside the space is skipped, with a warning.
    """
    init = config["search"]["initial_trials"]
    if init == "none":
        return []
    space = cap_widths(config["space"], n_inputs)
    out = []
    for point in DEFAULT_INITIAL_TRIALS if init == "default" else init:
        kept = {}
        for key, value in point.items():
            spec = space.get(key)
            if spec is not None and init == "default":
                value = nearest(value, spec)
            if spec is None or not fits(value, spec):
                logger.warning(
                    "initial trial %s skipped: %s=%r is not in the search space", point, key, value
                )
                break
            if isinstance(spec, (list, dict)):
                kept[key] = value  # a fixed value is not an Optuna parameter
        else:
            out.append(kept)
    return out


@dataclass
class VAESearchResult(SearchResult):
    seconds_per_epoch: float
    best_epoch: int


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
    genes=None,
    batch: np.ndarray | None = None,
    batches: list[str] | None = None,
) -> VAESearchResult:
    """Search ``config['space']`` for the VAE with the lowest validation loss.

    ``transform`` is the fitted :class:`~scautogenome.data.InputTransform`; ``genes`` (the names
    of ``X``'s columns) go into the study's fingerprint, so that a stored study of other genes
    is not resumed. ``batch`` (every row's code) and ``batches`` (their names): the batches
    every trial's decoder is conditioned on; they are in the fingerprint too.
    """
    n_batch = 0 if batches is None else len(batches)
    n_in = X.shape[1]
    ttransform = transform.to_torch(device)

    def train(net, params: dict, trial_seed: int, report, deadline, stop_after=None):
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
            deadline=deadline,
            stop_after=stop_after,
            batch=batch,
        )

    def fingerprint() -> dict:  # computed only where a storage is used
        out = {
            "task": "embed",
            "values": matrix_digest(X, np.concatenate([train_rows, val_rows])),
            "genes": digest(np.arange(n_in) if genes is None else genes),
            "train_rows": digest(train_rows),
            "val_rows": digest(val_rows),
            "value_type": transform.value_type,
            "n_latent": int(n_latent),
            "likelihood": likelihood,
            "beta": float(config["trainer"]["beta"]),
            # trials trained for other epochs, patience or warm-up score otherwise
            "trainer": trainer_record(config["trainer"], without=("beta",)),
            # trials of another mode or space would be kept as this search's best
            "mode": config["mode"],
            "space": digest([json.dumps(config["space"], sort_keys=True)]),
        }
        if batches is not None:  # absent without batches: studies stored before them resume
            out["batches"] = digest([digest(batches), digest(batch)])  # names, each row's
        return out

    out = run_study(
        config,
        sample=lambda trial: sample_vae_trial(trial, config, n_in, n_latent, likelihood, n_batch),
        io_shape=(n_in, None),  # an embedding: its outputs are its genes again
        build=functools.partial(build_vae, reads=transform.varying_genes()),
        train=train,
        direction="minimize",
        value_of=lambda res: res.best_loss,
        study_name=study_name or embed_study(config["mode"]),
        seed=seed,
        storage=storage,
        enqueue=lambda: initial_points(config, n_in),
        trial_cap=None
        if config["budget"]["time_budget"] is None
        else float(config["budget"]["time_budget"]) * config["search"]["max_trial_fraction"],
        cap_starts=False,
        extra_attrs=lambda res: {"seconds_per_epoch": res.seconds_per_epoch},
        extra_columns=("seconds_per_epoch",),
        postfix="best val loss",
        fingerprint=fingerprint,
    )
    logger.info(
        "best VAE widths: %s (val loss: reconstruction loss + beta x KL per cell, the negative "
        "ELBO at beta 1; lower is better%s)",
        out.architecture["widths"],
        # a density of continuous values can exceed 1, and its negative log then is below 0
        "; negative values are normal with a Gaussian likelihood (a density can exceed 1)"
        if out.best.value < 0
        else "",
    )
    return VAESearchResult.from_outcome(
        out,
        seconds_per_epoch=float(out.result.seconds_per_epoch),
        best_epoch=int(out.result.best_epoch),
    )
