"""Models a user touches: fit / predict / save / load."""

from ._base import check_is_fitted
from ._classifier import Classifier
from ._resvae import ResVAE

__all__ = ["Classifier", "ResVAE", "check_is_fitted"]
