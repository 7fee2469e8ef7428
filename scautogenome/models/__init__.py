"""Models a user touches: fit / predict / save / load."""

from ._base import check_is_fitted
from ._classifier import Classifier

__all__ = ["Classifier", "check_is_fitted"]
