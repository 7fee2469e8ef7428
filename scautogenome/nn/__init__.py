"""Network building blocks that know nothing of AnnData."""

from ._networks import MLP, DenseNetFC, ResNetFC, build_network, count_parameters, register_network
from ._units import ACTIVATIONS, FCUnit

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "DenseNetFC",
    "FCUnit",
    "ResNetFC",
    "build_network",
    "count_parameters",
    "register_network",
]
