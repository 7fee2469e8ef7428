"""Expert-mode configuration of :func:`scautogenome.tl.embed`: defaults and validation.

``sag.config.default("resvae")`` (or ``"vae"``) returns the defaults as a plain dict; edit
it, save it as JSON and pass it back as ``config=``. Keys you leave out keep their defaults;
an unknown key or a bad value is an error that names it.

The architecture part of the space is the AutoGenome paper's Res-VAE space (Methods): number
of layers [3, 4, 5], first-layer keep ratio [0.6, 0.8, 1.0], first-layer width [4096, 2048,
1024, 512, 256, 128] (the paper prints "14096", read as 4096) and width decay ratio
[0.8, 0.6, 0.5]; widths larger than the number of genes are dropped from the choices at search
time. Learning rate, batch size and weight decay are searched as well.

The KL weight warms up linearly over the first ``kl_warmup_epochs`` (half of ``max_epochs`` by
default; scVI warms up over all of its epochs). On klein2015 and a fixed Res-VAE, 100 epochs
with a 50- or 100-epoch warm-up reached a lower validation loss (negative ELBO) than with a
10-epoch warm-up.

The KL weight after the warm-up, ``trainer.beta`` (or ``embed(beta=...)``), is 1: the plain
ELBO, as in scVI. A beta-VAE (Higgins et al. 2017, which the paper cites for its latent
features) with beta = 4 gave the searched Res-VAE a more compact latent (lower Davies-Bouldin)
on 6 of the 8 benchmark datasets (3 seeds); the ARI of Leiden clusters fell on cbmc
(0.90 -> 0.78), rose on pbmc4k (0.57 -> 0.71) and moved within seed noise elsewhere. See
benchmarks/RESULTS.md, "KL weight 4".

Every FC unit of both stacks is followed by dropout 0.1 (``space.dropout``), the rate of scVI's
encoder; the paper's FC unit (FC, batch norm, activation) has none, its only dropout being the
searched keep ratio of the input. Against no dropout, with the same search and budget (3
seeds), it lowered the latent's Davies-Bouldin on 7 of the 8 benchmark datasets (e.g.
human_kidney 1.63 -> 1.25, pbmc4k 1.40 -> 1.14), raised the mean ARI of Leiden clusters on 6
(pbmc4k 0.57 -> 0.67) and lowered it on cbmc (0.90 -> 0.77); see benchmarks/RESULTS.md,
"dropout 0.1". The decoder's dropout is what makes the latent compact: with dropout in the
encoder only (scVI's placement) the start model's Davies-Bouldin was higher in 6 of 6 runs
(human_kidney and pbmc4k, 3 seeds each) and its ARI moved within seed noise.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ..search._spaces import check_distribution
from ._config import (
    MODES as CLASSIFY_MODES,
)
from ._config import (
    _merge,
    check_budget,
    check_epochs,
    check_scalars,
    check_search_start,
    check_space_values,
    read_user_config,
    to_json,
)

__all__ = ["EMBED_MODES", "default", "load", "to_json", "validate"]

EMBED_MODES = ("resvae", "vae")

_DEFAULT: dict[str, Any] = {
    "mode": "resvae",
    "budget": {"n_trials": 20, "time_budget": 600.0},
    "search": {
        "sampler": "tpe",
        "pruner": "median",
        "n_startup_trials": 8,
        "prune_warmup_epochs": 10,
        # as in classify: the search starts from a cheap, usually good point ("default"),
        # "none" or a list of parameter dicts, and no other trial may train longer than this
        # share of time_budget; the starting points train until they converge (or the budget
        # ends), so a tight budget still ends with one fully trained model
        "max_trial_fraction": 0.25,
        "initial_trials": "default",
    },
    "trainer": {
        "max_epochs": 100,
        "patience": 10,
        "min_epochs": 5,
        "beta": 1.0,
        # None: half of max_epochs (50 of the default 100)
        "kl_warmup_epochs": None,
    },
    "space": {
        "n_layers": [3, 4, 5],
        "input_keep": [0.6, 0.8, 1.0],
        "first_width": [4096, 2048, 1024, 512, 256, 128],
        "decay": [0.8, 0.6, 0.5],
        "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "batch_size": [64, 128, 256],
        "weight_decay": {"type": "float", "low": 1e-7, "high": 1e-3, "log": True},
        # dropout after every FC unit of both stacks, scVI's encoder rate (the paper's units
        # have none); measured against 0.0 in benchmarks/RESULTS.md
        "dropout": 0.1,
        "act": "relu",
    },
}

_SCALARS = {
    "budget": {"n_trials": (int, type(None)), "time_budget": (int, float, type(None))},
    "search": {
        "sampler": (str,),
        "pruner": (str,),
        "n_startup_trials": (int,),
        "prune_warmup_epochs": (int,),
        "max_trial_fraction": (int, float),
        "initial_trials": (str, list),
    },
    "trainer": {
        "max_epochs": (int,),
        "patience": (int,),
        "min_epochs": (int,),
        "beta": (int, float),
        "kl_warmup_epochs": (int, type(None)),
    },
}
_CHOICES = {
    ("search", "sampler"): ("tpe", "random"),
    ("search", "pruner"): ("median", "hyperband", "none"),
}


def default(mode: str = "resvae") -> dict:
    """The default embed configuration for ``mode`` (a deep copy you may edit)."""
    if mode not in EMBED_MODES:
        msg = f"mode={mode!r} must be one of {EMBED_MODES}."
        raise ValueError(msg)
    cfg = copy.deepcopy(_DEFAULT)
    cfg["mode"] = mode
    return cfg


def load(config: dict | str | Path | None, mode: str | None = None) -> dict:
    """Merge a user embed config (a dict or JSON path holding any part of :func:`default`'s
    sections; None: the defaults) onto the defaults and validate it; ``mode``, when given,
    overrides the config's own. Unknown keys and bad values are a ValueError naming them."""
    user = read_user_config(config)
    given = user.get("mode")
    if isinstance(given, str) and given in CLASSIFY_MODES:
        # before the merge, whose first unknown key ('search', 'metric') would say less
        msg = (
            f"config['mode']={given!r} is a mode of sag.tl.classify: this is a classifier's "
            "config (sag.config.default('mlp'), say); sag.tl.embed takes "
            "sag.config.default('resvae') or ('vae'), or a part of one."
        )
        raise ValueError(msg)
    cfg = _merge(copy.deepcopy(_DEFAULT), user, "")
    cfg["mode"] = cfg["mode"] if mode is None else mode  # '' or 0 is no default
    _check(cfg)
    return cfg


def validate(config: dict | str | Path) -> None:
    """Check an embed configuration, full or partial: raise ValueError naming the first
    unknown key or bad value."""
    load(config)


def _check(cfg: dict) -> None:
    """Raise ValueError naming the first bad value of a full embed configuration."""
    if cfg["mode"] not in EMBED_MODES:
        msg = f"mode={cfg['mode']!r} must be one of {EMBED_MODES}."
        raise ValueError(msg)
    check_scalars(cfg, _SCALARS, _CHOICES)
    check_search_start(
        cfg["search"],
        lambda name: name in _DEFAULT["space"],
        f": {', '.join(_DEFAULT['space'])}",
    )
    check_budget(cfg["budget"])
    check_epochs(cfg["trainer"])
    for key, spec in cfg["space"].items():
        check_distribution(spec, f"config['space'][{key!r}]")
    check_space_values(cfg["space"], "config['space']")
