"""Helpers shared by the tools: the torch-free ones of ``scautogenome._utils`` (re-exported so
``from ._utils import ...`` reads locally) and the steps ``classify`` and ``embed`` share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._utils import call_params, check_creatable, h5ad_safe, neighbors, storage_shown, tsne
from ..models._base import META

if TYPE_CHECKING:
    from collections.abc import Callable

    from anndata import AnnData

__all__ = [
    "budget_overrides",
    "call_params",
    "check_model_dir",
    "final_model",
    "h5ad_safe",
    "load_config",
    "neighbors",
    "save_model",
    "search_uns",
    "storage_shown",
    "tsne",
    "write_uns",
]


def load_config(
    load: Callable[..., dict], config, mode: str | None, overrides: dict[str, dict]
) -> dict:
    """``load(config, mode=mode)``, loaded again (validated) with each section of
    ``overrides`` merged into the config's own: explicit tool arguments win over the config."""
    cfg = load(config, mode=mode)
    if overrides:
        cfg = load({**cfg, **{k: {**cfg[k], **v} for k, v in overrides.items()}}, mode=cfg["mode"])
    return cfg


def budget_overrides(n_trials: int | None, time_budget: float | None) -> dict[str, dict]:
    """The ``budget`` section override for the budget arguments that were given: one given
    keeps the other's configured value."""
    given = {"n_trials": n_trials, "time_budget": time_budget}
    # numpy scalars (np.int64(20)) as Python numbers, which the config's type checks expect
    budget = {
        k: v.item() if isinstance(v, np.generic) else v for k, v in given.items() if v is not None
    }
    return {"budget": budget} if budget else {}


def check_model_dir(model_dir: str | Path | None) -> None:
    """Refuse, before the search, a ``model_dir`` that already holds a saved model or that
    cannot be created or written (a file in its path, no write permission)."""
    if model_dir is None:
        return
    if (Path(model_dir) / META).exists():
        msg = f"model_dir={str(model_dir)!r} already holds a saved model; choose another directory."
        raise FileExistsError(msg)
    check_creatable(model_dir, f"model_dir={str(model_dir)!r}")


def final_model(model_class, result, data, config: dict, device: str | None, **extras):
    """The ``model_class`` (Classifier or ResVAE) of a search ``result`` trained on the prepared
    ``data`` (its genes and input transform); ``extras`` are the class's own parts."""
    return model_class._from_parts(
        architecture=result.architecture,
        state_dict=result.state_dict,
        var_names=data.var_names,
        transform=data.transform,
        train_params=result.train_params,
        history=result.history,
        config=config,
        device=device,
        **extras,
    )


def search_uns(result, config_json: str, **best) -> dict:
    """The ``uns`` entries that describe a search ``result``: its trials, the best architecture
    and training parameters (JSON text), ``best`` (trial, mode and the keyword arguments), the
    config (``config_json``) and the search time."""
    return {
        "trials": result.trials,
        "architecture": json.dumps(result.architecture, sort_keys=True),
        "train_params": json.dumps(result.train_params, sort_keys=True),
        "best": {"trial": result.best_trial, "mode": result.architecture["kind"], **best},
        "config": config_json,
        "search_seconds": result.seconds,
    }


def save_model(model, model_dir, uns: dict) -> None:
    """Save ``model`` into ``model_dir`` when given and record the directory in ``uns``. The
    tools call it before they write into the AnnData, so that a failed save leaves it as it was."""
    if model_dir is not None:
        model.save(model_dir)
        uns["model_dir"] = str(model_dir)


def write_uns(adata: AnnData, key_added: str, uns: dict) -> None:
    """Write ``uns`` (h5ad-safe) into ``adata.uns[key_added]``."""
    adata.uns[key_added] = h5ad_safe(uns)
