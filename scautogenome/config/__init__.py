"""Expert-mode configuration: defaults per mode and validation with clear errors."""

from . import _embed  # noqa: F401  (sag.config._embed.default() works without importing tl first)
from ._config import (
    MODES,
    check_classify_mode,
    default,
    for_task,
    load,
    requested_task,
    to_json,
    validate,
)

__all__ = [
    "MODES",
    "check_classify_mode",
    "default",
    "for_task",
    "load",
    "requested_task",
    "to_json",
    "validate",
]
