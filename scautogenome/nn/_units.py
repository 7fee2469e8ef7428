"""The FC unit of AutoGenome: Linear -> BatchNorm -> activation (-> dropout)."""

from __future__ import annotations

from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU, "leaky_relu": nn.LeakyReLU}


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        msg = f"activation={name!r} must be one of {sorted(ACTIVATIONS)}."
        raise ValueError(msg)
    return ACTIVATIONS[name]()


class FCUnit(nn.Sequential):
    """Fully-connected unit (paper Fig. 2a, right): Linear, BatchNorm1d, activation; then
    dropout when ``dropout > 0`` (our addition; the paper's unit has none)."""

    def __init__(self, n_in: int, n_out: int, *, act: str = "relu", dropout: float = 0.0) -> None:
        layers: list[nn.Module] = [nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), activation(act)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        super().__init__(*layers)
        self.n_in, self.n_out = n_in, n_out
