"""MLP, RFCN-ResNet and RFCN-DenseNet classifiers built from FC units.

Every network is described by a JSON-serialisable ``architecture`` dict and built by
:func:`build_network`; the dict (not the module) is what gets searched, stored and saved.
All start with the paper's first-layer dropout: ``input_keep`` is the keep ratio of the input
features (AutoGenome's "drop-out ratio of the first layer compared with the input layer").
Given ``reads`` (gene positions), a network's first layer reads only those of its ``n_inputs``
genes (:class:`~scautogenome.nn.InputGenes`); the architecture dict is the same either way.
"""

from __future__ import annotations

import inspect
import itertools

import torch
from torch import nn

from .._utils import doc_params, plain
from ._units import Dropout, FCUnit, InputGenes

UNIT_PARAMS = """\
input_keep
    Keep ratio of the input features (the paper's first-layer drop-out; in (0, 1], 1: no
    input dropout).
dropout
    Dropout probability after every FC unit (0: none).
act
    Activation of the FC units, one of :data:`~scautogenome.nn.ACTIVATIONS`.
reads
    Positions of the genes the first layer reads (None: all ``n_inputs``; see
    :class:`~scautogenome.nn.InputGenes`)."""
"""The parameters the MLP, RFCN-ResNet and RFCN-DenseNet share, described once."""


class _Classifier(nn.Module):
    """Input genes -> input dropout -> body -> linear head. Subclasses build ``body`` (its
    first layer :attr:`n_read` wide) and ``head``."""

    def __init__(self, n_inputs: int, input_keep: float, reads=None) -> None:
        super().__init__()
        if not 0 < input_keep <= 1:
            msg = f"input_keep={input_keep!r} must be in (0, 1]."
            raise ValueError(msg)
        self.genes = InputGenes(n_inputs, reads)
        self.input_drop = Dropout(1 - input_keep) if input_keep < 1 else nn.Identity()
        self.n_inputs = int(n_inputs)

    @property
    def n_read(self) -> int:
        """How many genes the first layer reads (:class:`~scautogenome.nn.InputGenes`)."""
        return self.genes.n_read

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network's outputs: the read genes (:class:`~scautogenome.nn.InputGenes`), the
        input dropout, the body (:meth:`features`) and the linear head.

        Parameters
        ----------
        x
            Cells x genes: the transformed input, all ``n_inputs`` genes or only the
            ``n_read`` genes it reads.

        Returns
        -------
        Cells x ``n_outputs``: the logits of the classes (a regressor's network: one column,
        its prediction of the standardized target, :func:`~scautogenome.train.target_scale`).
        """
        return self.head(self.features(self.input_drop(self.genes(x))))


@doc_params(unit_params=UNIT_PARAMS)
class MLP(_Classifier):
    """Plain multi-layer perceptron: a stack of FC units.

    Parameters
    ----------
    n_inputs, n_outputs
        Genes in, classes out (1 for a regressor).
    units
        Width of every FC unit, in order (``[]``: no unit, a linear model).
    {unit_params}
    """

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        *,
        units: list[int],
        input_keep: float = 1.0,
        dropout: float = 0.0,
        act: str = "relu",
        reads=None,
    ) -> None:
        super().__init__(n_inputs, input_keep, reads)
        widths = [self.n_read, *units]
        self.body = nn.Sequential(
            *[FCUnit(a, b, act=act, dropout=dropout) for a, b in itertools.pairwise(widths)]
        )
        self.head = nn.Linear(widths[-1], n_outputs)
        self.genes.init_first_layer(self.body[0][0] if units else self.head)

    def features(self, x):
        """The last FC unit's output (``x`` itself without units).

        Parameters
        ----------
        x
            Cells x ``n_read`` genes, after the input dropout.

        Returns
        -------
        Cells x the last unit's width (``n_read`` without units): what the head reads.
        """
        return self.body(x)


@doc_params(unit_params=UNIT_PARAMS)
class ResNetFC(_Classifier):
    """RFCN-ResNet (paper Fig. 2b): each FC unit takes the sum of the previous unit's input
    and output, ``h <- h + unit(h)``, after a stem unit that maps the genes to ``units``.

    Parameters
    ----------
    n_inputs, n_outputs
        Genes in, classes out (1 for a regressor).
    units
        Width of the stem unit and of every residual unit (one number, unlike an
        :class:`MLP`'s list).
    n_blocks
        Number of residual FC units after the stem (0: the stem alone).
    {unit_params}
    """

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        *,
        units: int,
        n_blocks: int,
        input_keep: float = 1.0,
        dropout: float = 0.0,
        act: str = "relu",
        reads=None,
    ) -> None:
        super().__init__(n_inputs, input_keep, reads)
        self.stem = FCUnit(self.n_read, units, act=act, dropout=dropout)
        self.genes.init_first_layer(self.stem[0])
        self.blocks = nn.ModuleList(
            [FCUnit(units, units, act=act, dropout=dropout) for _ in range(n_blocks)]
        )
        self.head = nn.Linear(units, n_outputs)

    def features(self, x):
        """The stem's output after every residual unit.

        Parameters
        ----------
        x
            Cells x ``n_read`` genes, after the input dropout.

        Returns
        -------
        Cells x ``units``: what the head reads.
        """
        h = self.stem(x)
        for unit in self.blocks:
            h = h + unit(h)
        return h


class _DenseBlock(nn.Module):
    def __init__(self, n_in: int, n_units: int, growth: int, act: str, dropout: float) -> None:
        super().__init__()
        self.units = nn.ModuleList(
            [FCUnit(n_in + i * growth, growth, act=act, dropout=dropout) for i in range(n_units)]
        )
        self.n_out = n_in + n_units * growth

    def forward(self, h):
        feats = [h]
        for unit in self.units:
            feats.append(unit(torch.cat(feats, dim=1)))
        return torch.cat(feats, dim=1)


@doc_params(unit_params=UNIT_PARAMS)
class DenseNetFC(_Classifier):
    """RFCN-DenseNet (paper Fig. 2c): inside a block each FC unit takes the concatenation of
    all previous outputs and adds ``growth_rate`` features; blocks are joined by transition
    units that compress the width by ``compression``.

    Parameters
    ----------
    n_inputs, n_outputs
        Genes in, classes out (1 for a regressor).
    blocks
        Number of FC units of every dense block, in order.
    growth_rate
        Features each unit of a block adds; the stem unit is ``2 * growth_rate`` wide.
    compression
        Width ratio of the transition unit between two blocks (its width: at least
        ``growth_rate``).
    {unit_params}
    """

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        *,
        blocks: list[int],
        growth_rate: int,
        compression: float = 0.5,
        input_keep: float = 1.0,
        dropout: float = 0.0,
        act: str = "relu",
        reads=None,
    ) -> None:
        super().__init__(n_inputs, input_keep, reads)
        width = 2 * growth_rate
        self.stem = FCUnit(self.n_read, width, act=act, dropout=dropout)
        self.genes.init_first_layer(self.stem[0])
        layers: list[nn.Module] = []
        for i, n_units in enumerate(blocks):
            block = _DenseBlock(width, n_units, growth_rate, act, dropout)
            layers.append(block)
            width = block.n_out
            if i < len(blocks) - 1:
                new_width = max(growth_rate, int(width * compression))
                layers.append(FCUnit(width, new_width, act=act, dropout=dropout))
                width = new_width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_outputs)

    def features(self, x):
        """The stem's output through the dense blocks and transition units.

        Parameters
        ----------
        x
            Cells x ``n_read`` genes, after the input dropout.

        Returns
        -------
        Cells x the last block's width (its input and every unit's features): what the head reads.
        """
        return self.body(self.stem(x))


_KINDS = {"mlp": MLP, "resnet": ResNetFC, "densenet": DenseNetFC}
_COMMON = ("input_keep", "dropout", "act")
_SPECIFIC = {
    "mlp": ("units",),
    "resnet": ("units", "n_blocks"),
    "densenet": ("blocks", "growth_rate", "compression"),
}


def register_network(kind: str, cls: type[nn.Module], keys: tuple[str, ...]) -> None:
    """Make another architecture family buildable from an architecture dict (used by RRFCN).

    ``cls(n_inputs, n_outputs, **keys)`` builds it. Where :func:`build_network` is given the
    genes to read (the searches and ``fit`` give them where some genes are constant on the
    training cells), a ``cls`` with a ``reads`` parameter gets them, as the families of this
    module do (:class:`~scautogenome.nn.InputGenes`); one without reads every gene.

    Parameters
    ----------
    kind
        The architecture dict's ``kind`` that builds it (an existing kind is replaced).
    cls
        The network class, called as ``cls(n_inputs, n_outputs, **keys)``.
    keys
        The kind's own keys of the architecture dict, passed to ``cls`` as keyword arguments
        (besides ``input_keep``, ``dropout`` and ``act``, which every kind takes).
    """
    _KINDS[kind] = cls
    _SPECIFIC[kind] = keys


def build_network(arch: dict, *, reads=None) -> nn.Module:
    """Build the classifier an ``architecture`` dict describes.

    ``arch`` has ``kind`` (mlp / resnet / densenet / rrfcn), ``n_inputs``, ``n_outputs`` and
    the kind's own keys; it is checked first (:func:`~scautogenome.nn.check_architecture`:
    unknown or missing keys, values of the wrong type or range are an error). ``reads``: the
    positions of the genes its first layer reads (:class:`~scautogenome.nn.InputGenes`;
    None: all ``n_inputs``).

    Parameters
    ----------
    arch
        The architecture dict.
    reads
        Positions of the genes the first layer reads, given to a family that takes
        ``reads`` (None: all ``n_inputs``).

    Returns
    -------
    The untrained network (a new :class:`torch.nn.Module`).
    """
    from ._arch import check_architecture, network_kinds

    check_architecture(arch, kinds=network_kinds())
    kind = arch["kind"]
    # numpy widths and numbers (which the check accepts) as Python's: a family asks a width
    # list for its truth value
    kwargs = plain({k: v for k, v in arch.items() if k not in ("kind", "n_inputs", "n_outputs")})
    cls = _KINDS[kind]
    if reads is not None and "reads" in inspect.signature(cls).parameters:
        kwargs["reads"] = reads  # a registered family that takes no reads= reads every gene
    return cls(int(arch["n_inputs"]), int(arch["n_outputs"]), **kwargs)


def count_parameters(module: nn.Module) -> int:
    """Number of weights of ``module`` (trainable or not; buffers such as BatchNorm's running
    statistics are not parameters).

    Parameters
    ----------
    module
        Any torch module.

    Returns
    -------
    The total number of elements of its parameters.
    """
    return sum(p.numel() for p in module.parameters())
