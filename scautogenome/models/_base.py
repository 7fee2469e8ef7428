"""Saving and loading models: weights (torch, loaded with weights_only=True) + JSON."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import torch

WEIGHTS = "model.pt"
META = "model.json"


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    from .. import __version__

    out = {"scautogenome": __version__, "python": platform.python_version()}
    for pkg in ("torch", "anndata", "scanpy", "numpy", "optuna"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover
            out[pkg] = "unknown"
    return out


def write_model_dir(
    path: str | Path, meta: dict, tensors: dict[str, torch.Tensor], *, overwrite: bool
) -> Path:
    """Write ``model.json`` and ``model.pt`` into ``path``; refuse to overwrite unless asked."""
    path = Path(path)
    if path.exists() and (path / META).exists() and not overwrite:
        msg = f"{str(path)!r} already holds a saved model; pass overwrite=True to replace it."
        raise FileExistsError(msg)
    path.mkdir(parents=True, exist_ok=True)
    meta = {**meta, "versions": versions()}
    torch.save({k: v.detach().cpu() for k, v in tensors.items()}, path / WEIGHTS)
    (path / META).write_text(json.dumps(meta, indent=1))
    return path


def read_model_dir(path: str | Path, kind: str) -> tuple[dict, dict[str, torch.Tensor]]:
    path = Path(path)
    if not (path / META).exists() or not (path / WEIGHTS).exists():
        msg = f"{str(path)!r} is not a saved scautogenome model (needs {META} and {WEIGHTS})."
        raise FileNotFoundError(msg)
    meta = json.loads((path / META).read_text())
    if meta.get("model") != kind:
        msg = f"{str(path)!r} holds a {meta.get('model')!r} model, not a {kind!r}."
        raise ValueError(msg)
    tensors = torch.load(path / WEIGHTS, map_location="cpu", weights_only=True)
    return meta, tensors


def check_is_fitted(model, attr: str = "module_") -> None:
    if getattr(model, attr, None) is None:
        msg = (
            f"This {type(model).__name__} has not been trained yet; call sag.tl.classify(...) "
            "or .fit(...) first, or load a saved one with .load(dir)."
        )
        raise RuntimeError(msg)
