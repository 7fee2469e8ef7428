"""Models a user touches: fit / predict / save / load."""

from ._base import check_is_fitted
from ._classifier import Classifier
from ._regressor import Regressor
from ._resvae import ResVAE

__all__ = ["Classifier", "Regressor", "ResVAE", "check_is_fitted"]
