"""Draw a searched architecture as a DAG of FC units: a classifier's (paper Fig. 2e right,
Fig. 3a) or a Res-VAE's (Fig. 4a)."""

from __future__ import annotations

import json
import math
import os
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
from matplotlib import rcParams
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from .. import _keys
from .._settings import logger
from .._utils import check_bool, check_key, counted, doc_params, is_json_text
from ._utils import (
    PLOT_PARAMS,
    check_plot_args,
    finish,
    label_width,
    root_figure,
    text_color_on,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_CHAIN = "#333333"
_SKIP = "#d62728"
_CANDIDATE = "#c7c7c7"
_NODE = "#dbe9f6"
_IO = "#eeeeee"
_LATENT = "#fde0c5"
_VAE_KINDS = ("resvae", "vae")
_DRAWN = ("rrfcn", "mlp", "resnet", "densenet", *_VAE_KINDS)
_NAMES = {
    "rrfcn": "RRFCN",
    "mlp": "MLP",
    "resnet": "RFCN-ResNet",
    "densenet": "RFCN-DenseNet",
    "resvae": "Res-VAE",
    "vae": "VAE",
}


def _saved_model(path):
    """The model saved in the folder ``path`` (by ``model.save``, ``model_dir=`` or the
    command line's ``--model-out``), loaded by the class its ``model.json`` names; the loader's
    error (not a saved model, a model of another kind) otherwise."""
    from ..models import Classifier, Regressor, ResVAE
    from ..models._base import saved_kind

    try:
        kind = saved_kind(path)
    except ValueError:  # not JSON, or not an object: the loader says so
        kind = None
    models = {cls._model_name: cls for cls in (Classifier, Regressor, ResVAE)}
    return models.get(kind, Classifier).load(path, device="cpu")


def _as_architecture(data, key: str) -> dict:
    """The architecture dict of an AnnData (``uns[key]['architecture']``), a model or a dict
    (or its JSON text)."""
    from anndata import AnnData

    if isinstance(data, AnnData):
        uns = data.uns.get(key)
        if not isinstance(uns, dict) or "architecture" not in uns:
            from ..tools._utils import records_elsewhere

            # the runs adata holds, where a wrong key= said to run classify
            held = records_elsewhere(data, key, ("classify", "embed"), "key")
            msg = (
                f"adata.uns[{key!r}]['architecture'] is missing; run sag.tl.classify first "
                "(or pass the model, or key= of another run"
                + (f").{held}" if held else ": key='sag_resvae' for sag.tl.embed's).")
            )
            raise KeyError(msg)
        arch = uns["architecture"]
    elif hasattr(data, "architecture_"):
        arch = data.architecture_
    else:
        arch = data
    if isinstance(arch, str):
        try:
            arch = json.loads(arch)
        except ValueError as e:
            msg = f"the architecture's JSON text {arch[:60]!r} cannot be read: {e}."
            raise ValueError(msg) from None
    if not isinstance(arch, dict) or "kind" not in arch:
        msg = (
            "expected an AnnData, a Classifier, a Regressor, a ResVAE, the folder of a saved "
            f"model or an architecture dict, got {type(data).__name__}."
        )
        raise TypeError(msg)
    return arch


MAX_UNITS_DRAWN = 300
"""The most units :func:`architecture` draws (each a box; a figure of thousands is no longer
read, and takes minutes to draw)."""


def _n_units(arch: dict) -> int:
    """The units (boxes) :func:`_graph` makes of ``arch``, counted without making them."""
    kind = arch["kind"]
    if kind == "resnet":
        return int(arch["n_blocks"]) + 1
    if kind == "densenet":
        blocks = arch["blocks"]
        return 1 + sum(int(b) for b in blocks) + len(blocks) - 1
    if kind in _VAE_KINDS:
        return 2 * len(arch["widths"]) + 1
    return len(arch["units" if kind == "mlp" else "widths"])


def _graph(arch: dict) -> tuple[list[int], list[tuple[int, int]], list[tuple[int, int]], str]:
    """Layer widths, chain edges, skip edges (layer indices) and the combination symbol."""
    kind = arch["kind"]
    if kind == "rrfcn":
        widths = [int(w) for w in arch["widths"]]
        skips = [(int(j), i) for i, s in enumerate(arch["skips"]) for j in s]
        return widths, [(i - 1, i) for i in range(1, len(widths))], skips, "C"
    if kind == "mlp":
        widths = [int(w) for w in arch["units"]]
        return widths, [(i - 1, i) for i in range(1, len(widths))], [], ""
    if kind == "resnet":
        # stem, then n_blocks units each adding its input to its output: h_i = h_{i-1} + u_i(h_{i-1})
        n = int(arch["n_blocks"]) + 1
        widths = [int(arch["units"])] * n
        skips = [(i - 1, i + 1) for i in range(1, n)]  # i + 1 == n: the output
        return widths, [(i - 1, i) for i in range(1, n)], skips, "+"
    if kind == "densenet":
        return _densenet_graph(arch)
    if kind in _VAE_KINDS:
        return _vae_graph(arch)
    msg = (
        "sag.pl.architecture draws rrfcn, mlp, resnet, densenet, resvae and vae "
        f"architectures, not kind={kind!r}."
    )
    raise ValueError(msg)


def _densenet_graph(
    arch: dict,
) -> tuple[list[int], list[tuple[int, int]], list[tuple[int, int]], str]:
    """RFCN-DenseNet as a DAG, with the widths DenseNetFC builds: a stem of ``2 * growth``, in
    each block units of ``growth`` that read the concatenation of the block's input and every
    earlier unit of the block, and after each block the node reading the whole block (a
    transition unit, or the output after the last block)."""
    growth = int(arch["growth_rate"])
    compression = float(arch.get("compression", 0.5))
    blocks = [int(b) for b in arch["blocks"]]
    widths = [2 * growth]  # node 0: the stem
    skips: list[tuple[int, int]] = []
    width = widths[0]
    n_total = _n_units(arch)
    for b, n_units in enumerate(blocks):
        block = [len(widths) - 1]  # the block's input node, then its units
        for _ in range(n_units):
            target = len(widths)
            skips += [(j, target) for j in block[:-1]]
            widths.append(growth)
            block.append(target)
        width += n_units * growth
        target = len(widths) if b < len(blocks) - 1 else n_total  # transition or output
        skips += [(j, target) for j in block[:-1]]
        if b < len(blocks) - 1:
            width = max(growth, int(width * compression))
            widths.append(width)
    return widths, [(i - 1, i) for i in range(1, len(widths))], skips, "C"


def _vae_graph(
    arch: dict,
) -> tuple[list[int], list[tuple[int, int]], list[tuple[int, int]], str]:
    """Res-VAE (or plain VAE) as a DAG, wired as :class:`~scautogenome.nn.VAEModule` builds
    it: encoder units, the latent code (node ``n``), decoder units with the widths reversed.
    In each stack of the Res-VAE every unit after the second reads the concatenation of the
    two previous units' outputs, and so do the latent heads and the output; the first decoder
    unit reads only the latent code."""
    enc = [int(w) for w in arch["widths"]]
    n = len(enc)
    widths = [*enc, int(arch["n_latent"]), *reversed(enc)]
    skips: list[tuple[int, int]] = []
    if arch["kind"] == "resvae":
        for first in (0, n + 1):  # the encoder's units, then the decoder's
            # unit k of the stack (and its head, k == n) reads units k - 1 and k - 2
            skips += [(first + k - 2, first + k) for k in range(2, n + 1)]
    return widths, [(i - 1, i) for i in range(1, len(widths))], skips, "C"


def _node_labels(arch: dict, widths: list[int]) -> list[str]:
    """The text of each unit's node: ``FC i`` and its width; for a VAE ``enc i``, ``z`` (the
    latent code) and ``dec i``."""
    if arch["kind"] not in _VAE_KINDS:
        return [f"FC {i + 1}\n{w}" for i, w in enumerate(widths)]
    n = len(arch["widths"])
    enc = [f"enc {i + 1}\n{w}" for i, w in enumerate(widths[:n])]
    dec = [f"dec {i + 1}\n{w}" for i, w in enumerate(widths[n + 1 :])]
    return [*enc, f"z\n{widths[n]}", *dec]


def _target(data, key: str) -> str | None:
    """The numeric target a regressor's output is (its name where the record has it), None
    for a classifier or a VAE."""
    from anndata import AnnData

    from ._classify import is_regression, regression_target

    if isinstance(data, AnnData):
        uns = data.uns.get(key)
        return regression_target(uns) if isinstance(uns, dict) and is_regression(uns) else None
    if type(data).__name__ == "Regressor":
        return str(data.classes_[0]) if len(getattr(data, "classes_", [])) else "value"
    return None


def _io_labels(arch: dict, target: str | None = None) -> tuple[str, str]:
    n_in = arch.get("n_inputs")
    first = "input" if n_in is None else f"input\n{counted(n_in, 'genes')}"
    if arch["kind"] in _VAE_KINDS:
        out = "output" if n_in is None else f"output\n{counted(n_in, 'genes')}"
        likelihood = arch.get("likelihood")
        return first, out if likelihood is None else f"{out}\n{likelihood}"
    if target is not None:  # a regressor: the predicted number
        return first, f"output\n{target}"
    n_out = arch.get("n_outputs")
    return first, "output" if n_out is None else f"output\n{counted(n_out, 'classes', 'class')}"


def _background(ax):
    """The colour ``ax`` is drawn on: its figure's, or where that is a SubFigure without a
    colour of its own (transparent, the default), the nearest one's above it."""
    from matplotlib.colors import to_rgba

    fig = ax.figure
    while to_rgba(fig.get_facecolor())[3] == 0 and getattr(fig, "_parent", None) is not None:
        fig = fig._parent  # a SubFigure's parent: a SubFigure or the root Figure
    return fig.get_facecolor()


def _fit_labels(ax, labels, box_w: float, largest: float) -> None:
    """Shrink the node labels that would overflow their boxes (a small Axes, a grid cell, many
    units): each to the font size at which its measured width and height fit its box, at most
    ``largest`` and at least 4 points."""
    ax.apply_aspect()
    fig = ax.figure
    box = ax.get_window_extent()
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    px = min(box.width / (x1 - x0), box.height / (y1 - y0))  # pixels per data unit
    try:
        renderer = fig.canvas.get_renderer()
    except AttributeError:  # a canvas that cannot measure text: an estimate of its size
        renderer = None
    for text, h in labels:
        if renderer is not None:
            extent = text.get_window_extent(renderer)
            width, height = extent.width, extent.height
        else:
            lines = text.get_text().split("\n")
            width = 0.65 * largest * max(len(line) for line in lines) * fig.dpi / 72.0
            height = 1.25 * largest * len(lines) * fig.dpi / 72.0
        fit = 0.88 * min(box_w * px / max(width, 1e-9), h * px / max(height, 1e-9))
        text.set_fontsize(max(4.0, min(largest, largest * fit)))


@doc_params(plot_params=PLOT_PARAMS)
def architecture(
    data,
    *,
    key: str = _keys.CLASSIFY_KEY,
    show_candidates: bool = False,
    title: str | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    save: bool | str | os.PathLike | None = None,
    return_fig: bool = False,
) -> Axes | Figure | None:
    """Draw the architecture of a classifier or a Res-VAE as a DAG (as the paper's Fig. 2e,
    3a and 4a).

    Nodes are the FC units (Linear-BatchNorm-activation) with their widths, between the input
    (genes) and the output (classes, or the reconstructed genes and their likelihood); black
    arrows are the chain from one unit to the next, red arcs the skip connections (for RRFCN,
    RFCN-DenseNet and the Res-VAE: concatenated into the target unit, "C"; for RFCN-ResNet:
    the input of a block added to its output, "+"). For RFCN-DenseNet the units of a dense
    block and its transition unit are drawn with the widths the network is built with. A
    Res-VAE (or plain VAE) is drawn as encoder units, the latent code ``z`` and decoder units;
    an arc into ``z`` or into the output marks heads that read the last two units.

    Parameters
    ----------
    data
        An AnnData annotated by :func:`~scautogenome.tl.classify` or
        :func:`~scautogenome.tl.embed` (reads ``uns[key]['architecture']``), a
        :class:`~scautogenome.models.Classifier`, :class:`~scautogenome.models.Regressor` or
        :class:`~scautogenome.models.ResVAE`, the folder of a saved model (``model.save``,
        ``model_dir=``), or an architecture dict / JSON string.
    key
        ``key_added`` of the classify run (``"sag_resvae"`` for the default embed run).
    show_candidates
        For RRFCN, also draw every skip connection of the search space in light grey (the DAG
        ENAS chose from, paper Fig. 2e left).
    title
        Axes title; default names the family, the number of layers and of skips.
    {plot_params}

    Returns
    -------
    The Axes (the Figure with ``return_fig=True``), or None when the figure is shown.
    """
    show, return_fig = check_plot_args(ax, show, save, return_fig)
    show_candidates = check_bool("show_candidates", show_candidates)
    check_key("key", key, "a key of adata.uns (the key_added of classify or embed)")
    if isinstance(data, (str, os.PathLike)) and not is_json_text(data):
        data = _saved_model(data)  # once: the architecture and a regressor's target
    from ..nn import check_architecture

    arch = _as_architecture(data, key)
    check_architecture(arch, kinds=_DRAWN, stage="draw")
    if show_candidates and arch["kind"] != "rrfcn":
        logger.warning(
            "show_candidates=True draws the skip connections an RRFCN search chose from; a "
            "%r architecture was not searched over them, so it is not used.",
            arch["kind"],
        )
    n_units = _n_units(arch)
    if n_units > MAX_UNITS_DRAWN:
        msg = (
            f"sag.pl.architecture draws at most {MAX_UNITS_DRAWN} units; this architecture has "
            f"{n_units:,} (kind={arch['kind']!r}); its JSON text (uns[key]['architecture'] of "
            "an AnnData) describes it."
        )
        raise ValueError(msg)
    widths, chain, skips, combine = _graph(arch)
    n = len(widths)
    made = ax is None  # sized here, for the title too
    if made:
        _, ax = plt.subplots(figsize=(max(4.0, 1.35 * (n + 2)), 3.2))
    fig = root_figure(ax)
    # the arrows of the chain dark on a light figure, light on a dark one (a dark style)
    chain_color = text_color_on(_background(ax), dark=_CHAIN, light="#cccccc")
    step = 1.6
    xs = [step * (i + 1) for i in range(n)]  # units; input at 0, output at step * (n + 1)
    w_min = min(widths)

    def height(w: int) -> float:
        return 0.55 + 0.12 * math.log2(max(w, 1) / max(w_min, 1))

    heights = [height(w) for w in widths]
    box_w = 1.0
    labels: list = []  # each node's text and box height: sized to the box at the end
    # the text relative to the font size (sc.set_figure_params(fontsize=)): at matplotlib's
    # default of 10, node labels of at most 8.5 points, the marks of the skips 7
    base = float(rcParams["font.size"])
    largest = 0.85 * base

    def node(x: float, h: float, text: str, color: str) -> None:
        ax.add_patch(
            FancyBboxPatch(
                (x - box_w / 2, -h / 2),
                box_w,
                h,
                boxstyle="round,pad=0.02,rounding_size=0.08",
                facecolor=color,
                edgecolor="#4a4a4a",
                linewidth=1.0,
                zorder=3,
            )
        )
        labels.append(
            (
                ax.text(
                    x,
                    0,
                    text,
                    ha="center",
                    va="center",
                    fontsize=largest,
                    color=text_color_on(color),  # not a dark style's white on a light box
                    zorder=4,
                ),
                h,
            )
        )

    first, last = _io_labels(arch, _target(data, key))
    node(0.0, 0.7, first, _IO)
    node(step * (n + 1), 0.7, last, _IO)
    latent = len(arch["widths"]) if arch["kind"] in _VAE_KINDS else None
    for i, (x, h, text) in enumerate(zip(xs, heights, _node_labels(arch, widths))):
        node(x, h, text, _LATENT if i == latent else _NODE)

    def arrow(xa, ya, xb, yb, color, *, rad=0.0, lw=1.3, ls="-", z=2) -> None:
        ax.add_patch(
            FancyArrowPatch(
                (xa, ya),
                (xb, yb),
                arrowstyle="-|>",
                mutation_scale=10,
                connectionstyle=f"arc3,rad={rad}",
                color=color,
                linewidth=lw,
                linestyle=ls,
                shrinkA=0,
                shrinkB=0,
                zorder=z,
            )
        )

    half = box_w / 2
    arrow(0.0 + half, 0, xs[0] - half, 0, chain_color)
    for a, b in chain:
        arrow(xs[a] + half, 0, xs[b] - half, 0, chain_color)
    arrow(xs[-1] + half, 0, step * (n + 1) - half, 0, chain_color)

    x_of = [*xs, step * (n + 1)]  # index n: the output node
    top_of = [h / 2 for h in heights] + [0.35]

    def spread(k: int, m: int) -> float:
        # k-th of m arcs leaving/entering one node: spread them along its top edge
        return 0.0 if m < 2 else 0.6 * box_w * (k / (m - 1) - 0.5)

    def arcs(edges: list[tuple[int, int]], color: str, *, lw: float, ls: str, z: int) -> None:
        # from the top of unit a to the top of unit b (b == n: the output, for ResNet)
        outs = {a: sorted(b for a2, b in edges if a2 == a) for a, _ in edges}
        ins = {b: sorted((a for a, b2 in edges if b2 == b), reverse=True) for _, b in edges}
        for a, b in edges:
            xa = x_of[a] + spread(outs[a].index(b), len(outs[a]))
            xb = x_of[b] + spread(ins[b].index(a), len(ins[b]))
            arrow(xa, top_of[a], xb, top_of[b], color, rad=-0.45, lw=lw, ls=ls, z=z)

    if show_candidates and arch["kind"] == "rrfcn":
        candidates = [(j, i) for i in range(2, n) for j in range(i - 1)]
        arcs([e for e in candidates if e not in skips], _CANDIDATE, lw=0.9, ls="--", z=1)
    arcs(skips, _SKIP, lw=1.6, ls="-", z=2)
    if combine:
        targets = sorted({b for _, b in skips})
        for b in targets:
            ax.text(
                x_of[b] - half - 0.12,
                0.18,
                combine,
                ha="center",
                va="center",
                fontsize=0.7 * base,
                color=_SKIP,
                zorder=5,
            )

    span = max((b - a for a, b in skips), default=1)
    top = max(heights) / 2 + 0.25 * step * span + 0.3
    ax.set_xlim(-0.7, step * (n + 1) + 0.7)
    ax.set_ylim(-max(heights) / 2 - 0.3, top)
    ax.set_aspect("equal")
    ax.axis("off")
    _fit_labels(ax, labels, box_w, largest)
    mine = title is not None  # the user's: read as matplotlib reads a title (maths)
    if title is None:
        name = _NAMES[arch["kind"]]
        skip_count = counted(len(skips), "skip connections")
        if latent is None:
            title = f"{name}: {counted(n, 'FC units')}, {skip_count}"
        else:
            title = (
                f"{name}: {latent} + {latent} FC units, "
                f"{counted(widths[latent], 'latent dimensions')}, {skip_count}"
            )
            if arch.get("n_batch"):  # the one-hot batch joins every decoder unit's input
                title += f", decoder units read the batch ({arch['n_batch']})"
    ax.set_title(title, fontsize="medium")  # the font size: 10 points at matplotlib's default
    if made:  # wide enough for the title (a large font's cut a small network's at the edges)
        fig.set_figwidth(max(fig.get_figwidth(), label_width(title.splitlines(), "medium") + 0.4))

    return finish(fig, ax, show, return_fig, save, "sag_architecture", keep_title=mine)
