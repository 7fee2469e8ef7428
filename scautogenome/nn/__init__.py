"""Network building blocks that know nothing of AnnData."""

from ._networks import MLP, DenseNetFC, ResNetFC, build_network, count_parameters, register_network
from ._units import ACTIVATIONS, FCUnit
from ._vae import VAEModule, build_vae

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "DenseNetFC",
    "FCUnit",
    "ResNetFC",
    "VAEModule",
    "build_network",
    "build_vae",
    "count_parameters",
    "register_network",
]
