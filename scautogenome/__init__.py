"""scautogenome (``sag``): AutoGenome -- AutoML over residual fully-connected networks -- on AnnData.

Submodules are imported lazily so that ``import scautogenome`` stays fast (torch is only loaded
when a model is used)::

    import scautogenome as sag
    model = sag.tl.classify(adata, "cell_type")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

from ._settings import settings

_SUBMODULES = {
    "tl": "tools",
    "pl": "plotting",
    "io": "io",
    "models": "models",
    "datasets": "datasets",
    "config": "config",
    "data": "data",
    "nn": "nn",
    "train": "train",
    "search": "search",
    "explain": "explain",
    "get": "get",
    "tools": "tools",
    "plotting": "plotting",
}

if TYPE_CHECKING:  # pragma: no cover
    from . import config, datasets, get, io, models
    from . import plotting as pl
    from . import tools as tl


def __getattr__(name: str):
    if name in _SUBMODULES:
        module = importlib.import_module(f".{_SUBMODULES[name]}", __name__)
        globals()[name] = module
        return module
    msg = f"module 'scautogenome' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__():
    # the public names once each: not the import helpers of this file
    hidden = {"TYPE_CHECKING", "annotations", "importlib"}
    public = {n for n in globals() if not n.startswith("_") and n not in hidden}
    return sorted(public | set(_SUBMODULES) | {"__version__"})


__all__ = ["__version__", "config", "datasets", "get", "io", "models", "pl", "settings", "tl"]
