"""Expert-mode configuration: defaults per mode and validation with clear errors."""

from ._config import MODES, default, load, to_json, validate

__all__ = ["MODES", "default", "load", "to_json", "validate"]
