"""Plots of :func:`scautogenome.tl.explain`: gene importance bars and SHAP distributions."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from .. import _keys
from .._settings import logger
from .._utils import check_positive_int, check_record_reader, counted, doc_params
from ._utils import (
    NEUTRAL_COLOR,
    PLOT_PARAMS,
    check_cmap,
    check_color,
    check_plot_args,
    check_size,
    class_colors,
    finish,
    gene_labels,
    label_width,
    legible_ticks,
    new_axes,
    read_record,
    title_size,
    wrap_label,
)

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _shap_uns(adata: AnnData, key: str) -> dict:
    """The explain record under ``key`` (:func:`_explain_uns`); a KeyError of a wrong ``key``
    names the keys of ``adata.uns`` that hold explain records."""
    return read_record(adata, key, ("explain",), _explain_uns)


def _explain_uns(adata: AnnData, key: str) -> dict:
    """The explain record under ``key`` (:func:`~scautogenome.tools._utils.explain_record`);
    a KeyError saying so when ``uns[key]`` is the record of a classify or predict run."""
    from ..tools._utils import explain_record, is_classify_record, is_predict_record

    record = adata.uns.get(key)
    if key not in adata.varm and (is_classify_record(record) or is_predict_record(record)):
        what = "sag.tl.classify" if is_classify_record(record) else "sag.tl.predict"
        msg = (
            f"key={key!r}: adata.uns[{key!r}] is the record of {what}, without SHAP values; "
            f"run sag.tl.explain(adata, model) first, or pass key= the key_added of explain "
            f"(default {_keys.SHAP_KEY!r})."
        )
        raise KeyError(msg)
    return explain_record(adata, key)


def _column(adata: AnnData, uns: dict, group: str) -> int:
    from ..tools._utils import unexplained_group

    several = (list, tuple, set, frozenset, np.ndarray)
    if isinstance(group, several) or hasattr(group, "to_numpy"):  # also pandas' Index, Series
        msg = (
            f"group={group!r}: this plot shows one class (a str); for several classes' tables "
            "use sag.get.shap_df(adata, group=[...])."
        )
        raise TypeError(msg)
    columns = [str(c) for c in uns["columns"]]
    if str(group) not in columns:
        raise unexplained_group(adata, uns, group)
    return columns.index(str(group))


def _top(scores: np.ndarray, n_top: int) -> np.ndarray:
    s = np.where(np.isfinite(scores), scores, -np.inf)
    order = np.argsort(-s, kind="stable")[:n_top]
    return order[np.isfinite(s[order])]


@doc_params(plot_params=PLOT_PARAMS)
def importance(
    adata: AnnData,
    group: str | None = None,
    n_top: int = 20,
    *,
    key: str = _keys.SHAP_KEY,
    gene_symbols: str | None = None,
    color: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    save: bool | str | os.PathLike | None = None,
    return_fig: bool = False,
) -> Axes | Figure | None:
    """Top genes by SHAP importance: one class, or all classes stacked (AutoGenome Fig. 3b).

    For a numeric target (a :class:`~scautogenome.models.Regressor` explained) the bars are
    those of the predicted value.

    Parameters
    ----------
    adata
        Annotated by :func:`scautogenome.tl.explain`.
    group
        A class: bars of its mean absolute SHAP values over the explained cells of that class
        (``varm[key]``'s column). ``"overall"``: the mean of those over the classes. None: the
        genes with the largest importance summed over the classes, one stacked segment per
        class.
    n_top
        Number of genes.
    key
        ``key_added`` of the explain call.
    gene_symbols
        Column of ``adata.var`` to label the genes with instead of ``var_names`` (as in
        scanpy's plots).
    color
        Bar colour for one class (default: the class's colour in ``uns[f'{groupby}_colors']``).
    title
        Axes title instead of the default one (which names what is shown).
    {plot_params}

    Returns
    -------
    The Axes (the Figure with ``return_fig=True``), or None when the figure is shown.
    """
    check_record_reader(adata, key, "explain")
    show, return_fig = check_plot_args(ax, show, save, return_fig)
    _check_n_top(n_top)
    check_color(color)
    from matplotlib import rcParams

    from ..data._checks import obs_noun  # not ..data, which loads torch
    from ..tools._utils import explain_scores

    uns = _shap_uns(adata, key)
    gene_labels(adata, [], gene_symbols)  # a bad column is an error before any drawing
    genes = np.asarray(adata.var_names, dtype=str)
    classes = [str(c) for c in uns["classes"]]
    groupby = str(uns.get("params", {}).get("groupby", ""))
    colors = class_colors(adata, groupby, classes)
    output = _output(uns)
    if group is None and output == "prediction":  # one output: its bars, not a stack of one
        group = classes[0]
    if color is not None and group is None:
        logger.warning(
            "color=%r colours the bars of one group; with group=None each class has its "
            "own colour (uns[%r]), so it is not used.",
            color,
            f"{groupby}_colors",
        )
    col = None if group is None else _column(adata, uns, group)
    table = explain_scores(adata, key)  # checked against the record's columns
    if group is not None:
        top = _top(table[:, col], n_top)
        if len(top) == 0:
            msg = f"No importance for group={group!r}: none of its cells was explained."
            raise ValueError(msg)
        names = gene_labels(adata, genes[top], gene_symbols)
        heading = f"{group}: top {counted(len(top), 'genes')}"
        xlabel = _importance_label(uns, col, output, obs_noun(adata))
        width, xlabel = _fit(
            max(5.0, 4.0 + label_width(names)), names, xlabel, heading if title is None else title
        )
        fig, ax = new_axes(ax, (width, _rows_height(len(top), xlabel)))
        # the overall column is no class's: a grey, not the first class's colour
        bar_color = (
            color if color is not None else (colors[col] if col < len(classes) else NEUTRAL_COLOR)
        )
        ax.barh(np.arange(len(top)), table[top, col], color=bar_color, height=0.7)
        ax.set_title(heading)
        ax.set_xlabel(xlabel)
    else:
        per_class = table[:, : len(classes)]
        total = np.nansum(per_class, axis=1)
        total[np.all(~np.isfinite(per_class), axis=1)] = np.nan
        top = _top(total, n_top)
        names = gene_labels(adata, genes[top], gene_symbols)
        # up to 40 legend rows a column (a hundred cell types: three columns)
        n_cols = 1 if len(classes) <= 16 else max(2, -(-len(classes) // 40))
        n_rows = -(-len(classes) // n_cols)
        noun = obs_noun(adata)
        n_cells = np.asarray(uns.get("n_cells", []), dtype=np.int64)
        # a class none of whose cells was explained has no bars: the legend says so
        shown = [
            f"{name} (no {noun})" if c < len(n_cells) and n_cells[c] == 0 else name
            for c, name in enumerate(classes)
        ]
        # the legend as wide as its longest entry, measured at its small font (a guess of a
        # letter's width squeezed the bars beside capitalised names), each column's colour
        # patch and spacing beside it; its title over it
        legend_w = max(
            n_cols * (0.6 + label_width(shown, "small")),
            label_width([groupby], rcParams["legend.title_fontsize"]) + 0.3,
        )
        heading = f"top {counted(len(top), 'genes')}, all classes"
        xlabel = f"mean |SHAP value| of each class's logit over its explained {noun} (stacked)"
        # long gene names do not squeeze the bars
        bars_w, xlabel = _fit(
            max(6.0, 5.0 + label_width(names)), names, xlabel, heading if title is None else title
        )
        # as tall as the bars need, or the legend (about 0.2 in a row at the small font)
        height = max(_rows_height(len(top), xlabel), 0.8 + 0.2 * n_rows)
        fig, ax = new_axes(ax, (bars_w + legend_w, height))
        left = np.zeros(len(top))
        for c, label in enumerate(shown):
            width = np.nan_to_num(per_class[top, c])
            ax.barh(np.arange(len(top)), width, left=left, color=colors[c], height=0.7, label=label)
            left += width
        ax.legend(
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
            fontsize="small",
            ncols=n_cols,
            title=groupby or None,
        )
        ax.set_title(heading)
        ax.set_xlabel(xlabel)
    legible_ticks(ax.xaxis, ax.get_xlim())  # SHAP values of 1e-4 (a regression's): short labels
    ax.set_yticks(np.arange(len(top)), names)
    ax.set_ylim(len(top) - 0.5, -0.5)  # most important on top
    ax.spines[["top", "right"]].set_visible(False)
    return finish(fig, ax, show, return_fig, save, "sag_importance", title=title)


# inches beside the bars (or dots) besides their tick labels: the ticks, their padding and the
# figure's margins
_MARGIN = 0.7


def _fit(width: float, names, xlabel: str, heading: str, beside: float = 0.0) -> tuple[float, str]:
    """The width of a figure of bars (or dots) labelled ``names`` beside ``beside`` inches of
    other things (a colour bar), at least ``width``, and its x label ``xlabel`` wrapped to the
    width of the bars: wide enough for the title ``heading`` and each line of the label, which
    ran past the figure's edges (a class's long name in them)."""
    room = width - label_width(names) - _MARGIN - beside
    xlabel = wrap_label(xlabel, room)
    text = max(label_width([xlabel]), label_width([heading], title_size()))
    return max(width, label_width(names) + _MARGIN + beside + text), xlabel


def _rows_height(n: int, xlabel: str) -> float:
    """The height of a figure of ``n`` rows of bars and an x label of its lines."""
    return 0.9 + 0.28 * max(n, 3) + 0.17 * xlabel.count("\n")


def _importance_label(uns, col: int, output: str, noun: str = "cells") -> str:
    """The x label of ``varm`` column ``col``: which SHAP values it averages over which cells
    (``noun``: what the rows are called)."""
    classes = [str(c) for c in uns["classes"]]
    n_cells = np.asarray(uns.get("n_cells", []), dtype=np.int64)
    if output == "prediction":
        n = int(n_cells.sum()) if len(n_cells) else len(uns.get("cells", []))
        return f"mean |SHAP value| of the prediction over the {counted(n, f'explained {noun}')}"
    if col >= len(classes):  # overall
        return (
            f"mean over the classes of mean |SHAP value| (each class's over its explained {noun})"
        )
    explained = (
        counted(int(n_cells[col]), f"explained {noun}")
        if col < len(n_cells)
        else f"explained {noun}"
    )
    return f"mean |SHAP value| of the {classes[col]} logit over its {explained}"


def _check_n_top(n_top) -> None:
    check_positive_int("n_top", n_top, " (the number of genes shown)")


def _output(uns) -> str:
    """What the SHAP values explain: ``"logit"`` (a class's), or ``"prediction"`` (the value
    of a numeric target)."""
    params = uns.get("params", {})
    return "prediction" if str(params.get("output", "logits")) == "prediction" else "logit"


def _swarm_offsets(x: np.ndarray, width: float = 0.4, n_bins: int = 100) -> np.ndarray:
    """Vertical offsets that spread points of similar ``x`` into a beeswarm within ``width``."""
    x = np.asarray(x, dtype=float)
    if len(x) == 0:
        return np.zeros(0)
    span = np.ptp(x)
    bins = (
        np.zeros(len(x), dtype=np.int64) if span == 0 else np.round((x - x.min()) / span * n_bins)
    )
    offsets = np.zeros(len(x))
    layer_max = 1
    for b in np.unique(bins):
        idx = np.flatnonzero(bins == b)
        k = np.arange(len(idx))
        layer = (k + 1) // 2
        offsets[idx] = layer * np.where(k % 2 == 0, 1.0, -1.0)
        layer_max = max(layer_max, int(layer.max()))
    return offsets * (width / layer_max)


@doc_params(plot_params=PLOT_PARAMS)
def shap_summary(
    adata: AnnData,
    group: str | None = None,
    n_top: int = 20,
    *,
    key: str = _keys.SHAP_KEY,
    gene_symbols: str | None = None,
    cmap: str = "coolwarm",
    size: float = 8.0,
    title: str | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    save: bool | str | os.PathLike | None = None,
    return_fig: bool = False,
) -> Axes | Figure | None:
    """SHAP values of one class's top genes in every explained cell (AutoGenome Fig. 3c/e).

    One row per gene (most important on top); each dot is an explained cell, placed at its
    SHAP value for the class's logit and spread vertically like a beeswarm, coloured by the
    gene's expression on the model's input scale (per gene from its 5th to 95th percentile).
    Dots right of 0 pushed the cell towards ``group`` (for ``"overall"``, towards the cell's
    own class).

    Parameters
    ----------
    adata
        Annotated by :func:`scautogenome.tl.explain`.
    group
        One of the explained classes, or ``"overall"``: the overall top genes, each cell at
        its SHAP value of its own class. None (default): the overall column (named
        ``"overall (all classes)"`` where a class is named ``"overall"``), the whole model's view
        (as :func:`importance` shows every class by default); for a numeric target, its
        predicted value.
    n_top
        Number of genes (at most the ``n_top`` of the explain call; those of them that
        ``adata`` no longer holds are left out, as :func:`importance` leaves them out). Every
        explained cell is drawn, whether or not ``adata`` still holds it (as scanpy's plots
        of ``rank_genes_groups`` draw the stored results).
    key
        ``key_added`` of the explain call.
    gene_symbols
        Column of ``adata.var`` to label the genes with instead of ``var_names`` (as in
        scanpy's plots).
    cmap, size
        Colour map of the expression and dot size (a positive number, as matplotlib's ``s``).
    title
        Axes title instead of the default one (which names what is shown).
    {plot_params}

    Returns
    -------
    The Axes (the Figure with ``return_fig=True``), or None when the figure is shown.
    """
    import matplotlib.pyplot as plt

    check_record_reader(adata, key, "explain")
    show, return_fig = check_plot_args(ax, show, save, return_fig)
    _check_n_top(n_top)
    check_cmap(cmap)
    check_size(size)
    from ..data._checks import obs_noun  # not ..data, which loads torch

    uns = _shap_uns(adata, key)
    gene_labels(adata, [], gene_symbols)  # a bad column is an error before any drawing
    classes = [str(c) for c in uns["classes"]]
    output = _output(uns)
    if group is None:  # the whole model; a numeric target has one output
        # the last column: "overall", or "overall (all classes)" where a class is so named
        group = str(uns["columns"][-1]) if output != "prediction" else classes[0]
    c = _column(adata, uns, group)
    if c < len(classes):
        values = np.asarray(uns["values"][c], dtype=float)  # cells x stored top genes
        expr = np.asarray(uns["expression"][c], dtype=float)
        impact = f"impact on the {group} {output}"
    else:
        if "overall_values" not in uns:
            msg = (
                f"uns[{key!r}] has no per-cell values of the overall genes (an explanation "
                "written before explain kept them); run sag.tl.explain again to plot them."
            )
            raise KeyError(msg)
        values = np.asarray(uns["overall_values"], dtype=float)
        expr = np.asarray(uns["overall_expression"], dtype=float)
        impact = (
            "impact on the prediction"
            if output == "prediction"
            else "impact on the cell's own class logit"
        )
    # object, not str: anndata.read_zarr gives numpy's StringDType, which casts to no str
    names = np.asarray(uns["top_genes"][c]).astype(object)
    if not np.isfinite(values).any():
        msg = f"No SHAP values for group={group!r}: none of its cells was explained."
        raise ValueError(msg)
    kept = values.shape[1]
    held = np.isin(names, np.asarray(adata.var_names, dtype=str))
    if not held.all():  # genes taken out since explain: left out, as importance's varm does
        if not held.any():
            msg = (
                f"None of the {len(names)} genes explain kept for {group!r} is in "
                "adata.var_names (genes taken out since sag.tl.explain); plot the AnnData it "
                "explained, or run it again on this one."
            )
            raise ValueError(msg)
        logger.warning(
            "%d of the %d genes explain kept for %r are not in adata.var_names (taken out "
            "since sag.tl.explain) and are not shown.",
            int((~held).sum()),
            len(names),
            group,
        )
        names, values, expr = names[held], values[:, held], expr[:, held]
    # a model of no more genes than explain kept (a panel of a few): every one is shown
    n_model = uns.get("gene_overlap", {}).get("n_model_genes")
    every_gene = n_model is not None and kept >= int(n_model) and kept == values.shape[1]
    if n_top > values.shape[1] and not every_gene:
        logger.warning(
            "n_top=%d but explain kept %d genes per class%s; showing %d%s.",
            n_top,
            kept,
            "" if kept == values.shape[1] else f", {values.shape[1]} of them in adata",
            values.shape[1],
            " (raise explain's n_top)" if kept == values.shape[1] else "",
        )
    n = min(n_top, values.shape[1])
    labels = gene_labels(adata, names[:n], gene_symbols)
    heading = f"{group}: top {counted(n, 'genes')}, {counted(values.shape[0], obs_noun(adata))}"
    # long gene names do not squeeze the swarm (as importance's bars), nor a long class name
    # in the title or x label run past the figure's edges (the colour bar beside: 0.8 in)
    width, xlabel = _fit(
        max(6.0, 5.0 + label_width(labels)),
        labels,
        f"SHAP value ({impact})",
        heading if title is None else title,
        beside=0.8,
    )
    height = 1.0 + 0.38 * max(n, 3) + 0.17 * xlabel.count("\n")
    fig, ax = new_axes(ax, (width, height))
    colormap = plt.get_cmap(cmap)
    for i in range(n):
        x, e = values[:, i], expr[:, i]
        lo, hi = np.nanpercentile(e, [5, 95]) if len(e) else (0.0, 1.0)
        if hi <= lo:
            lo, hi = float(np.nanmin(e, initial=0.0)), float(np.nanmax(e, initial=1.0))
        scaled = np.clip((e - lo) / (hi - lo), 0, 1) if hi > lo else np.full(len(e), 0.5)
        order = np.argsort(scaled, kind="stable")  # high expression drawn on top
        y = i + _swarm_offsets(x)
        ax.scatter(
            x[order],
            y[order],
            c=colormap(scaled[order]),
            s=size,
            linewidths=0,
            alpha=0.85,
            rasterized=len(x) > 500,
        )
    ax.axvline(0, color="#888888", lw=0.8, zorder=0)
    ax.set_yticks(np.arange(n), labels)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlabel(xlabel)
    ax.set_title(heading)
    legible_ticks(ax.xaxis, ax.get_xlim())
    ax.spines[["top", "right", "left"]].set_visible(False)
    ax.tick_params(axis="y", length=0)
    sm = plt.cm.ScalarMappable(cmap=colormap, norm=plt.Normalize(0, 1))
    cbar = fig.colorbar(sm, ax=ax, ticks=[0, 1], aspect=40, pad=0.02)
    cbar.ax.set_yticklabels(["low", "high"])
    cbar.set_label("expression", labelpad=-8)
    cbar.outline.set_visible(False)
    return finish(fig, ax, show, return_fig, save, "sag_shap_summary", title=title)
