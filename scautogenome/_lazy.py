"""Lazy attributes of a package: names imported from their submodule on first use, so that
importing the package (for its light parts) does not load torch or optuna."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_getattr(package: str, table: dict[str, str], namespace: dict) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package`` that imports ``name`` from its submodule
    ``table[name]`` on first use and keeps it in ``namespace`` (the package's ``globals()``)."""

    def __getattr__(name: str):
        if name in table:
            value = getattr(importlib.import_module(f".{table[name]}", package), name)
            namespace[name] = value
            return value
        msg = f"module {package!r} has no attribute {name!r}"
        raise AttributeError(msg)

    return __getattr__
