"""Network building blocks that know nothing of AnnData."""

from ._arch import check_architecture
from ._enas import RRFCN, RRFCNSupernet, check_dag, dag_edges, resolve_space
from ._networks import MLP, DenseNetFC, ResNetFC, build_network, count_parameters, register_network
from ._units import ACTIVATIONS, READS_KEY, FCUnit, InputGenes
from ._vae import VAEModule, build_vae

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "READS_KEY",
    "RRFCN",
    "DenseNetFC",
    "FCUnit",
    "InputGenes",
    "RRFCNSupernet",
    "ResNetFC",
    "VAEModule",
    "build_network",
    "build_vae",
    "check_architecture",
    "check_dag",
    "count_parameters",
    "dag_edges",
    "register_network",
    "resolve_space",
]
