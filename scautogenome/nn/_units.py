"""The FC unit of AutoGenome: Linear -> BatchNorm -> activation (-> dropout), and the input
genes a network reads."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

READS_KEY = "genes.index"
"""The state-dict entry of a network that reads only some of its input genes
(:class:`InputGenes`); absent where it reads all of them."""

ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU, "leaky_relu": nn.LeakyReLU}


class Dropout(nn.Dropout):
    """:class:`torch.nn.Dropout` whose CPU mask is drawn with :func:`torch.rand` (each value
    kept where its draw is below ``1 - p``, scaled by ``1 / (1 - p)``): the same law as torch's
    kernel, which draws it with ``bernoulli_`` at 1.5-1.7 times the cost, forward and backward
    (1.5 against 0.9 ms on 64 cells x 2,000 genes, one core), where dropout (most of it the
    input's, over every gene) was a fifth of a search's time. The draws are float32 whatever the input's type (a bfloat16
    draw's steps would shift ``p``). Elsewhere (CUDA's fused kernel), with ``p`` 0 or 1 and
    ``inplace``, torch's own."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or x.device.type != "cpu" or self.inplace or not 0 < self.p < 1:
            return super().forward(x)
        keep = 1.0 - self.p
        draws = torch.rand(x.shape, device=x.device)
        # 1.0 / 0.0 written over the float32 draws (no bool mask and no conversion), else cast
        mask = draws.lt_(keep) if x.dtype == draws.dtype else (draws < keep).to(x.dtype)
        return x * mask.mul_(1.0 / keep)


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        msg = f"activation={name!r} must be one of {sorted(ACTIVATIONS)}."
        raise ValueError(msg)
    return ACTIVATIONS[name]()


class FCUnit(nn.Sequential):
    """Fully-connected unit (paper Fig. 2a, right): Linear, BatchNorm1d, activation; then
    dropout when ``dropout > 0`` (our addition; the paper's unit has none).

    Parameters
    ----------
    n_in
        Width of the unit's input (features of the Linear layer).
    n_out
        Width of the unit's output (the Linear layer's outputs, normalised by BatchNorm).
    act
        Activation, one of :data:`~scautogenome.nn.ACTIVATIONS` (``"relu"``, ``"elu"``,
        ``"gelu"``, ``"leaky_relu"``); another name is a ValueError.
    dropout
        Dropout probability after the activation (0: no dropout layer).
    """

    def __init__(self, n_in: int, n_out: int, *, act: str = "relu", dropout: float = 0.0) -> None:
        layers: list[nn.Module] = [nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), activation(act)]
        if dropout > 0:
            layers.append(Dropout(dropout))
        super().__init__(*layers)
        self.n_in, self.n_out = n_in, n_out


class InputGenes(nn.Module):
    """The input columns (genes) a network reads: all of its ``n_inputs``, or only those at the
    positions ``reads`` (sorted, distinct), whose first layer is then ``len(reads)`` wide.

    A gene constant on the training cells is 0 in every cell after the input transform (its
    range is infinite), so the weights that read it never train and add nothing: leaving it
    out of the first layer gives the same function at a fraction of the cost where many genes
    never vary (half of a mutation matrix's or an unfiltered count matrix's genes), in the
    matrix product, its gradient and the optimizer step
    (:meth:`~scautogenome.data.InputTransform.varying_genes`). The positions are a buffer
    (:data:`READS_KEY` in the network's state dict), saved and loaded with the weights.

    Parameters
    ----------
    n_inputs
        Number of input genes (columns) the network is given.
    reads
        Positions (integers) of the genes it reads: a non-empty, sorted 1-D array of distinct
        positions in ``0 .. n_inputs - 1`` (else a ValueError). None: every gene, and no
        buffer in the state dict.
    """

    def __init__(self, n_inputs: int, reads=None) -> None:
        super().__init__()
        self.n_inputs = int(n_inputs)
        if reads is None:
            self.n_read = self.n_inputs
            self.register_buffer("index", None)  # not in the state dict
            return
        arr = np.asarray(reads)
        if arr.ndim != 1 or not arr.size or arr.dtype.kind not in "iu":
            msg = (
                "reads must be a non-empty 1-D array of gene positions; got shape "
                f"{arr.shape}, dtype {arr.dtype}."
            )
            raise ValueError(msg)
        if arr[0] < 0 or arr[-1] >= self.n_inputs or np.any(np.diff(arr) <= 0):
            msg = f"reads must be sorted, distinct positions in 0..{self.n_inputs - 1}."
            raise ValueError(msg)
        self.n_read = int(arr.size)
        self.register_buffer("index", torch.as_tensor(arr, dtype=torch.long))

    def init_first_layer(self, linear: nn.Linear) -> None:
        """Initialise the first layer (``n_read`` inputs) as ``nn.Linear`` initialises one of
        all ``n_inputs``: uniform within ``1 / sqrt(n_inputs)``. Its weights then start, and
        train, as the read genes' weights of a network reading every gene do (the others
        never train), rather than at a larger scale that makes the first layer learn more
        slowly behind batch norm. Nothing is changed where every gene is read.

        Parameters
        ----------
        linear
            The network's first layer, whose inputs are the ``n_read`` genes; its weight and
            bias are re-drawn in place.
        """
        if self.index is None:
            return
        bound = 1.0 / math.sqrt(self.n_inputs)
        with torch.no_grad():
            linear.weight.uniform_(-bound, bound)
            if linear.bias is not None:
                linear.bias.uniform_(-bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The read genes of ``x``: a block of all ``n_inputs`` genes, or one of the read genes
        only, in order (``n_read`` columns, fewer than ``n_inputs`` wherever some are left
        out), as a loader gives them that transformed only those
        (:func:`~scautogenome.data._loader.transformed_rows`), which is returned as it is.

        Parameters
        ----------
        x
            Cells x genes: ``n_inputs`` columns, or already the ``n_read`` read genes.

        Returns
        -------
        Cells x ``n_read`` genes (``x`` itself where it has ``n_read`` columns).
        """
        if self.index is None or x.shape[1] == self.n_read:
            return x
        return x.index_select(1, self.index)

    def positions(self) -> np.ndarray | None:
        """The positions of the genes it reads (None: all of them)."""
        return None if self.index is None else self.index.cpu().numpy()

    @staticmethod
    def of(network: nn.Module) -> InputGenes | None:
        """The :class:`InputGenes` through which ``network`` reads its input (its ``genes``),
        or None where it has none (it then reads every gene as given).

        Parameters
        ----------
        network
            A network of this package (or any module; its ``genes`` attribute is looked up).

        Returns
        -------
        Its :class:`InputGenes`, or None.
        """
        genes = getattr(network, "genes", None)
        return genes if isinstance(genes, InputGenes) else None

    def extra_repr(self) -> str:
        return f"n_inputs={self.n_inputs}, n_read={self.n_read}"
