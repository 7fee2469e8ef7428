"""RRFCN: randomly-wired residual FC networks (paper Fig. 2e) and the ENAS supernet over them.

The search space is the paper's ENAS mode (Methods, "ENAS search"): a fixed number of FC units
(``n_layers``, default 6); the first unit's width is fixed by the configuration, every later
unit's width is chosen from a list (default 16 ... 2048), and every unit ``i >= 2`` may also
receive the output of any earlier unit ``j <= i - 2`` through a skip connection. Unit ``i``
always reads unit ``i - 1``; all of its inputs are combined by concatenation (the paper's
change (2) to ENAS). The head reads the last unit.

An architecture is two JSON lists:

``widths``
    ``n_layers`` ints, the width of every unit.
``skips``
    ``n_layers`` lists; ``skips[i]`` holds the earlier units (``j <= i - 2``, sorted) that feed
    unit ``i`` besides unit ``i - 1``. ``skips[0]`` and ``skips[1]`` are always empty.

:class:`RRFCN` is one fixed architecture (registered as ``kind="rrfcn"`` with
:func:`~scautogenome.nn.build_network`, so it is saved, loaded, predicted and explained like the
other families); :class:`RRFCNSupernet` holds the shared weights of every architecture of a
space for the ENAS search.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._networks import _Classifier, register_network
from ._units import Dropout, FCUnit, InputGenes, activation

PAPER_WIDTHS = (16, 32, 64, 128, 256, 512, 1024, 2048)


def check_dag(widths: Sequence[int], skips: Sequence[Sequence[int]]) -> None:
    """Raise ValueError unless ``(widths, skips)`` is a valid RRFCN architecture.

    Parameters
    ----------
    widths
        Width of every unit: at least one, all positive.
    skips
        One list per unit: ``skips[i]`` the earlier units (sorted, distinct, within
        ``0 .. i - 2``) concatenated into unit ``i`` besides unit ``i - 1``; empty for units 0
        and 1.
    """
    n = len(widths)
    if n < 1:
        msg = "an RRFCN needs at least one layer (widths is empty)."
        raise ValueError(msg)
    if any(int(w) < 1 for w in widths):
        msg = f"widths={list(widths)} must all be positive."
        raise ValueError(msg)
    if len(skips) != n:
        msg = f"skips has {len(skips)} entries but widths has {n}; give one list per layer."
        raise ValueError(msg)
    for i, s in enumerate(skips):
        s = list(s)
        if s and i < 2:
            msg = (
                f"skips[{i}]={s} must be empty: a skip joins an earlier layer other than the "
                "previous one, and layers 0 and 1 have none."
            )
            raise ValueError(msg)
        if s != sorted(set(s)) or any(not 0 <= int(j) <= i - 2 for j in s):
            msg = (
                f"skips[{i}]={s} must be sorted, without repeats and within 0..{i - 2} "
                "(a skip joins an earlier layer other than the previous one)."
            )
            raise ValueError(msg)


def sources(skips: Sequence[Sequence[int]], i: int) -> list[int]:
    """The layers whose outputs are concatenated into layer ``i >= 1`` (skips, then ``i-1``)."""
    return [*map(int, skips[i]), i - 1]


def dag_edges(skips: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """All ``(source, target)`` connections between layers (chain and skips).

    Parameters
    ----------
    skips
        One list per layer, as an architecture's ``skips`` (not checked here:
        :func:`check_dag`).

    Returns
    -------
    ``(j, i)`` pairs, by target ``i`` (from 1): its skips, then ``(i - 1, i)``.
    """
    return [(j, i) for i in range(1, len(skips)) for j in sources(skips, i)]


class RRFCN(_Classifier):
    """A randomly-wired residual FC network (RRFCN): one architecture of the ENAS space.

    Parameters
    ----------
    n_inputs, n_outputs
        Genes in, classes out.
    widths
        Width of every FC unit.
    skips
        ``skips[i]``: earlier units concatenated into unit ``i`` besides unit ``i - 1``.
    input_keep, dropout, act
        Input keep ratio, dropout after every unit, activation (as for the other families).
    reads
        Positions of the genes the first unit reads (None: all; see
        :class:`~scautogenome.nn.InputGenes`).
    """

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        *,
        widths: list[int],
        skips: list[list[int]],
        input_keep: float = 1.0,
        dropout: float = 0.0,
        act: str = "relu",
        reads=None,
    ) -> None:
        super().__init__(n_inputs, input_keep, reads)
        check_dag(widths, skips)
        self.widths = [int(w) for w in widths]
        self.skips = [[int(j) for j in s] for s in skips]
        units = [FCUnit(self.n_read, self.widths[0], act=act, dropout=dropout)]
        self.genes.init_first_layer(units[0][0])
        for i in range(1, len(widths)):
            n_in = sum(self.widths[j] for j in sources(self.skips, i))
            units.append(FCUnit(n_in, self.widths[i], act=act, dropout=dropout))
        self.units = nn.ModuleList(units)
        self.head = nn.Linear(self.widths[-1], n_outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last unit's output, every unit reading the concatenation of its sources.

        Parameters
        ----------
        x
            Cells x ``n_read`` genes, after the input dropout.

        Returns
        -------
        Cells x ``widths[-1]``: what the head reads.
        """
        outs = [self.units[0](x)]
        for i in range(1, len(self.units)):
            src = sources(self.skips, i)
            inp = outs[src[0]] if len(src) == 1 else torch.cat([outs[j] for j in src], dim=1)
            outs.append(self.units[i](inp))
        return outs[-1]


register_network("rrfcn", RRFCN, ("widths", "skips"))


class RRFCNSupernet(nn.Module):
    """The shared weights of every RRFCN of a space (ENAS "one-shot" model).

    Weight sharing by slicing. Unit ``i`` of any architecture computes
    ``Linear(concat(h_j for j in sources))``; a linear map of a concatenation is the sum of one
    block per source, ``sum_j W_ij h_j``. The supernet therefore keeps one block per *possible
    edge* ``j -> i``, of the largest widths (``max_i x max_j``), and an architecture with widths
    ``w`` uses the top-left ``w_i x w_j`` slice of each of its edges' blocks (and the first
    ``w_i`` entries of the unit's bias and BatchNorm scale/shift; the head uses the first
    ``w_last`` columns). So an edge's weights are the same whichever other edges are on, and a
    narrow unit is exactly the first neurons of the wide one (as in slimmable / once-for-all
    networks): every parameter is shared by all architectures that contain it, and an
    architecture is evaluated on the one module without allocating anything.

    BatchNorm normalises with the statistics of the current minibatch and keeps no running
    averages (as the search phases of ENAS and DARTS do): the statistics of one unit differ
    from architecture to architecture, so averages pooled over sampled architectures would be
    wrong for all of them. Evaluation minibatches therefore need at least 2 rows. The derived
    architecture is retrained from scratch as an ordinary :class:`RRFCN` with usual BatchNorm.

    Parameters
    ----------
    n_inputs, n_outputs
        Genes in, classes out.
    n_layers
        Number of FC units (fixed).
    first_width
        Width of the first unit (fixed; it reads the genes).
    widths
        Candidate widths of units 2..n_layers.
    input_keep, dropout, act, reads
        As for :class:`RRFCN`.
    """

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        *,
        n_layers: int,
        first_width: int,
        widths: Sequence[int],
        input_keep: float = 1.0,
        dropout: float = 0.0,
        act: str = "relu",
        reads=None,
    ) -> None:
        super().__init__()
        if n_layers < 1:
            msg = f"n_layers={n_layers!r} must be at least 1."
            raise ValueError(msg)
        if not widths:
            msg = "widths (the candidate widths) must not be empty."
            raise ValueError(msg)
        self.n_inputs, self.n_outputs, self.n_layers = int(n_inputs), int(n_outputs), int(n_layers)
        self.first_width = int(first_width)
        self.width_choices = sorted({int(w) for w in widths})
        w_max = self.width_choices[-1]
        self.max_widths = [self.first_width] + [w_max] * (n_layers - 1)
        self.genes = InputGenes(n_inputs, reads)
        self.input_drop = Dropout(1 - input_keep) if input_keep < 1 else nn.Identity()
        self.drop = Dropout(dropout) if dropout > 0 else nn.Identity()
        self.act = activation(act)
        self.stem = nn.Linear(self.genes.n_read, self.first_width)
        self.genes.init_first_layer(self.stem)
        self.edges = nn.ParameterDict()
        self.bias = nn.ParameterList()
        self.bn_weight = nn.ParameterList()
        self.bn_bias = nn.ParameterList()
        for i, m in enumerate(self.max_widths):
            self.bn_weight.append(nn.Parameter(torch.ones(m)))
            self.bn_bias.append(nn.Parameter(torch.zeros(m)))
            if i == 0:
                continue
            fan_in = sum(self.max_widths[:i])
            for j in range(i):
                block = torch.empty(m, self.max_widths[j])
                # nn.Linear's init for the block's own fan-in (BatchNorm follows, so the scale
                # of the sum over sources does not matter)
                nn.init.kaiming_uniform_(block, a=math.sqrt(5))
                self.edges[f"{j}_{i}"] = nn.Parameter(block)
            bound = 1 / math.sqrt(fan_in)
            self.bias.append(nn.Parameter(torch.empty(m).uniform_(-bound, bound)))
        self.head = nn.Linear(self.max_widths[-1], n_outputs)

    def check(self, widths: Sequence[int], skips: Sequence[Sequence[int]]) -> None:
        """Raise ValueError unless the architecture belongs to this supernet's space.

        Parameters
        ----------
        widths
            Width of every unit: ``n_layers`` of them, the first ``first_width``, the others
            among the candidate widths.
        skips
            The architecture's skips (:func:`check_dag`).
        """
        check_dag(widths, skips)
        if len(widths) != self.n_layers or int(widths[0]) != self.first_width:
            msg = (
                f"architecture widths={list(widths)} must have {self.n_layers} layers and "
                f"first width {self.first_width}."
            )
            raise ValueError(msg)
        bad = [w for w in widths[1:] if int(w) not in self.width_choices]
        if bad:
            msg = f"widths {bad} are not among the candidate widths {self.width_choices}."
            raise ValueError(msg)

    def _bn(self, z: torch.Tensor, i: int, w: int) -> torch.Tensor:
        return F.batch_norm(
            z, None, None, self.bn_weight[i][:w], self.bn_bias[i][:w], training=True, eps=1e-5
        )

    def forward(
        self, x: torch.Tensor, widths: Sequence[int], skips: Sequence[Sequence[int]]
    ) -> torch.Tensor:
        """Logits of the architecture ``(widths, skips)`` on ``x`` with the shared weights.

        Parameters
        ----------
        x
            Cells x genes (all ``n_inputs``, or the ``n_read`` genes it reads); at least 2
            rows (BatchNorm uses the minibatch's statistics).
        widths, skips
            The architecture (not checked here: :meth:`check`); ``widths[0]`` is not read,
            the first unit being ``first_width`` wide.

        Returns
        -------
        Cells x ``n_outputs`` (a numeric target's one column: its standardized prediction).
        """
        h = self.stem(self.input_drop(self.genes(x)))
        h = self.drop(self.act(self._bn(h, 0, self.first_width)))
        outs = [h]
        for i in range(1, self.n_layers):
            w = int(widths[i])
            z = self.bias[i - 1][:w]
            for j in sources(skips, i):
                hj = outs[j]
                z = z + F.linear(hj, self.edges[f"{j}_{i}"][:w, : hj.shape[1]])
            outs.append(self.drop(self.act(self._bn(z, i, w))))
        last = outs[-1]
        return F.linear(last, self.head.weight[:, : last.shape[1]], self.head.bias)


def resolve_space(
    n_inputs: int, *, n_layers: int, first_width: int, widths: Sequence[int]
) -> tuple[int, int, list[int]]:
    """The effective ``(n_layers, first_width, widths)`` of an RRFCN space for ``n_inputs`` genes.

    The first unit is no wider than the input: ``first_width`` is capped at the largest power of
    two not above ``n_inputs`` (at least 16, or ``n_inputs`` when that is smaller), e.g. 2048 ->
    512 for 900 genes. Candidate widths above the (capped) first width are dropped (the first
    unit is the bottleneck every later unit reads from; wider later units add parameters, not
    information); the smallest candidate is kept if none remains.

    Parameters
    ----------
    n_inputs
        Number of input genes (what caps the first width).
    n_layers
        Number of FC units (returned as an int).
    first_width
        Configured width of the first unit.
    widths
        Configured candidate widths of the later units.

    Returns
    -------
    ``(n_layers, first_width, widths)``: the capped first width and the sorted, distinct
    candidate widths that remain.
    """
    n_inputs = int(n_inputs)
    cap = n_inputs if n_inputs < 16 else max(16, 1 << (n_inputs.bit_length() - 1))
    first = min(int(first_width), cap)
    cands = sorted({int(w) for w in widths})
    kept = [w for w in cands if w <= first] or cands[:1]
    return int(n_layers), first, kept
