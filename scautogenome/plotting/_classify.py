"""Plots of :func:`scautogenome.tl.classify`: confusion matrix (classes), observed vs
predicted values (a numeric target) and search history."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib import rcParams

from .. import _keys
from .._keys import UNASSIGNED
from .._utils import (
    check_bool,
    check_obs_column,
    check_obs_columns_once,
    check_record_reader,
    classify_run_record,
    counted,
    doc_params,
    is_one_of,
    missing_key,
)
from ._utils import (
    PLOT_PARAMS,
    check_cmap,
    check_plot_args,
    check_size,
    distinct_shortened,
    finish,
    label_width,
    new_axes,
    palette,
    read_record,
    text_color_on,
    title_size,
)

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# the search modes in the order of the legend; each has the colour of its place here, whichever
# modes a search has (classify's, then embed's)
_MODE_ORDER = ("mlp", "resnet", "densenet", "rrfcn", "resvae", "vae")


def is_regression(uns) -> bool:
    """Whether the classify record ``uns`` is of a numeric target (``task`` ``"regression"``;
    a record without ``task``, of an older version, holds classes)."""
    return isinstance(uns, dict) and str(uns.get("task", "classification")) == "regression"


def regression_target(uns) -> str:
    """The name of the numeric target of a regression record."""
    labels_key = dict(uns.get("params", {})).get("labels_key")
    if labels_key is None and len(uns.get("classes", [])):
        labels_key = uns["classes"][0]
    return str(labels_key)


@doc_params(plot_params=PLOT_PARAMS)
def confusion_matrix(
    adata: AnnData,
    *,
    key: str = _keys.CLASSIFY_KEY,
    labels_key: str | None = None,
    split: str | None = "test",
    normalize: bool = True,
    annotate: bool | None = None,
    cmap: str = "Blues",
    title: str | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    save: bool | str | os.PathLike | None = None,
    return_fig: bool = False,
) -> Axes | Figure | None:
    """Confusion matrix of the held-out test split (rows: true class, columns: predicted).

    Parameters
    ----------
    adata
        Annotated by :func:`scautogenome.tl.classify` (reads ``uns[key]['confusion']`` and
        ``uns[key]['classes']``), or with ``labels_key`` by :func:`~scautogenome.tl.predict`
        (or classify).
    key
        ``key_added`` of the classify (or predict) call.
    labels_key
        Instead of the test split recorded at classify time, compare the predictions in
        ``obs['{key}_pred']`` with this ``obs`` column, on the cells of ``adata`` that have
        both (of the part ``split`` where ``adata`` holds the run's split): a query annotated
        by :func:`~scautogenome.tl.predict` that has labels of its own, or the cells of a
        classify run (its test cells by default, which give the recorded matrix, unless the
        predictions were replaced since). Rows are the labels present (numbers in numeric order,
        whole ones read as the integers classify names them), which may include classes the
        model lacks; columns the rows' classes the model has, in the same order (empty where
        none was predicted, so that the diagonal holds the right calls), then other predicted
        classes, with ``"Unassigned"`` (``min_confidence``) last. The title's accuracy counts
        a cell labelled with a class the model lacks, or left ``"Unassigned"``, as wrong; it
        then also gives the accuracy on the model's classes, and on the assigned cells.
    split
        The cells scored, where ``adata`` holds the split of the classify run
        (``obs['{key}_split']``): ``"test"`` (default; the cells the search never saw),
        ``"val"``, ``"train"``, or ``"all"`` (or None) for every cell. ``"test"`` without
        ``labels_key`` is the matrix recorded at classify time; the others compare
        ``obs['{key}_pred']`` with the run's labels column. On a query of predict (no split)
        every cell is scored.
    normalize
        Show each row as fractions of its true class (the counts are in the row labels).
    annotate
        Write the value in every cell; default when there are at most 20 classes.
    cmap
        Colour map.
    title
        Axes title instead of the default one (which names what is shown).
    {plot_params}

    Returns
    -------
    The Axes (the Figure with ``return_fig=True``), or None when the figure is shown.
    """
    check_record_reader(adata, key, "classify")
    show, return_fig = check_plot_args(ax, show, save, return_fig)
    if key in adata.uns and is_regression(adata.uns[key]):
        target = regression_target(adata.uns[key])
        msg = (
            f"uns[{key!r}] records a regression run (numeric target {target!r}); it has no "
            "confusion matrix; use sag.pl.regression (observed vs predicted values)."
        )
        raise ValueError(msg)
    check_cmap(cmap)
    normalize = check_bool("normalize", normalize)
    annotate = annotate if annotate is None else check_bool("annotate", annotate)
    split = "all" if split is None else split
    if not is_one_of(split, (*_SPLIT_ORDER[:3], "all")):
        msg = f"split={split!r} must be 'test', 'val', 'train' or 'all' (or None)."
        raise ValueError(msg)
    if labels_key is None:
        _refuse_predict_record(adata, key, "confusion", "true labels", "the matrix")
        if split != "test":  # the run's own labels against its calls, on another part
            labels_key = _run_labels(adata, key, split)
    if labels_key is None:
        uns = read_record(adata, key, ("classify",), classify_run_record, "confusion")
        cm = np.asarray(uns["confusion"], dtype=float)
        rows = cols = [str(c) for c in uns["classes"]]
        if cm.shape != (len(rows), len(rows)):
            msg = (
                f"uns[{key!r}]['confusion'] has shape {cm.shape}, expected "
                f"{(len(rows), len(rows))} for {len(rows)} classes."
            )
            raise ValueError(msg)
        test = uns.get("metrics", {}).get("test", {})
        heading = "test split"
        if "accuracy" in test:
            heading += f": accuracy {test['accuracy']:.3f}"
        if "macro_f1" in test:
            heading += f", macro-F1 {test['macro_f1']:.3f}"
        from ..data._checks import obs_noun  # not ..data, which loads torch

        noun = obs_noun(adata)
        who = f"test {noun}"
        column = _keys.split_key(key)
        if column in adata.obs.columns:  # a subset of the run's cells: not what is drawn
            held = int((adata.obs[column].astype(str) == "test").sum())
            if held != int(cm.sum()):
                heading += (
                    f"\n(the run's {int(cm.sum()):,} test {noun}; this AnnData holds {held:,})"
                )
    else:
        cm, rows, cols, heading = _observed_confusion(adata, key, labels_key, split)
        who = f"obs[{labels_key!r}]"
    support = cm.sum(1)
    shown = cm / np.where(support > 0, support, 1)[:, None] if normalize else cm
    n = max(len(rows), len(cols))
    annotate = n <= 20 if annotate is None else annotate
    # a class of the rows and the columns has one tick in both, which tells it from the others
    named = list(dict.fromkeys([*rows, *cols]))
    tick = dict(zip(named, distinct_shortened(named)))
    ticks = [tick[c] for c in rows]
    row_labels = [f"{c} ({int(s)})" for c, s in zip(ticks, support)] if normalize else ticks
    cols = [tick[c] for c in cols]
    # relative to the font size (sc.set_figure_params(fontsize=)): 9, 7 or 6 points at
    # matplotlib's default of 10
    base = float(rcParams["font.size"])
    fontsize = base * (9 if n <= 12 else (7 if n <= 30 else 6)) / 10
    fig, ax = new_axes(ax, _matrix_size(row_labels, cols, fontsize, heading, title))
    im = ax.imshow(shown, cmap=cmap, vmin=0, vmax=1 if normalize else None, aspect="equal")
    ax.set_xticks(np.arange(len(cols)), cols, rotation=60, ha="right", rotation_mode="anchor")
    ax.set_yticks(np.arange(len(rows)), row_labels)
    ax.tick_params(labelsize=fontsize, length=0)
    ax.set_xticks(np.arange(len(cols) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(rows) + 1) - 0.5, minor=True)
    # the cells' white edges alone: no grid through the cells' middles and their numbers, which
    # rcParams['axes.grid'] (True after sc.set_figure_params()) drew, as scanpy's matrixplot
    # turns it off
    ax.grid(which="major", visible=False)
    ax.grid(which="minor", color="white", lw=0.6)
    ax.tick_params(which="minor", length=0)
    ax.spines[:].set_visible(False)
    if annotate:
        for i in range(len(rows)):
            for j in range(len(cols)):
                v = shown[i, j]
                if v == 0:
                    continue
                ax.text(
                    j,
                    i,
                    _fraction(v) if normalize else f"{int(v)}",
                    ha="center",
                    va="center",
                    fontsize=fontsize - base / 10,  # a point below the labels' at 10
                    # by the cell's own colour: a share of the largest value disagreed with
                    # the scale of fractions (0 to 1) and with maps dark at 0 (viridis)
                    color=text_color_on(im.cmap(im.norm(v))),
                )
    ax.set_xlabel("predicted")
    ax.set_ylabel(f"true ({who})")
    ax.set_title(heading)
    cbar = fig.colorbar(im, ax=ax, shrink=0.6, pad=0.02)
    from ..data._checks import obs_noun  # not ..data, which loads torch

    cbar.set_label("fraction of the true class" if normalize else obs_noun(adata))
    cbar.outline.set_visible(False)
    return finish(fig, ax, show, return_fig, save, "sag_confusion_matrix", title=title)


def _matrix_size(rows, cols, fontsize: float, heading: str, title) -> tuple[float, float]:
    """The figure size of a confusion matrix of ``rows`` x ``cols`` classes (a query's labels
    may be many more than a model's classes): the matrix about a third of an inch a cell
    (numbers of two decimals fit), beside its tick labels ``rows`` and ``cols`` at
    ``fontsize`` (the columns' turned 60 degrees), the colour bar and the title (the caller's
    ``title``, else ``heading``), wide enough for the title over the matrix. Long class names
    kept the size of short ones: the matrix shrank to fit them (1.4 in for ten names of 60
    letters), its numbers on top of each other, and the title ran past the figure."""
    cell = 0.32
    rows_w = label_width(rows, fontsize)
    cols_w = label_width(cols, fontsize)
    # the y label and the tick labels; the first column's turned label reaching left of them
    left = max(rows_w, 0.5 * cols_w - 0.5 * cell) + 0.45
    right = 1.1  # the colour bar, its ticks and its label
    below = 0.87 * cols_w + 0.5  # the turned column labels (sin 60 degrees) and the x label
    lines = str(heading if title is None else title).splitlines() or [""]
    title_w = label_width(lines, title_size())
    above = 0.25 + len(lines) * title_size() / 72 * 1.3
    # the title, centred over the matrix, within the figure on both sides
    wide = max(2.4, cell * len(cols), title_w - 2 * min(left, right) + 0.2)
    high = max(2.4, cell * len(rows))
    return left + wide + right + 0.2, above + high + below + 0.2


def _fraction(v: float) -> str:
    """A fraction of a row in two decimals, without the leading zero (``.40``, ``1.00``); one
    that rounds to 0 or 1 but is not says so (``<.01``, ``>.99``): 4 in 1000 read ``.00``, as
    if there were none, and 996 in 1000 ``1.00``, as if all were there."""
    text = f"{v:.2f}"
    if text == "0.00" and v > 0:
        return "<.01"
    if text == "1.00" and v < 1:
        return ">.99"
    return text.removeprefix("0")


def _run_labels(adata, key: str, split: str) -> str:
    """The labels column of the classify run in ``uns[key]``, which ``split`` (a part other
    than the recorded test matrix's) scores its calls against: a KeyError where the record
    does not name it or ``adata.obs`` no longer has it."""
    record = read_record(adata, key, ("classify",), classify_run_record, "params")
    labels_key = dict(record["params"]).get("labels_key")
    if labels_key is None or str(labels_key) not in adata.obs.columns:
        gone = "does not name" if labels_key is None else f"names obs[{str(labels_key)!r}],"
        msg = (
            f"split={split!r} scores the run's labels, but uns[{key!r}]['params'] {gone} "
            "the run's labels column"
            + ("" if labels_key is None else ", which adata.obs no longer has")
            + ": pass labels_key= a column of them."
        )
        raise KeyError(msg)
    return str(labels_key)


def _pred_beside_labels(adata, key: str, labels_key: str) -> str:
    """The column ``obs['{key}_pred']`` of the predictions to compare with ``obs[labels_key]``:
    a KeyError where either is missing."""
    pred_col = _keys.pred_key(key)
    if pred_col not in adata.obs.columns:
        msg = (
            f"obs[{pred_col!r}] is missing; run sag.tl.predict (or classify) with "
            f"key_added={key!r} first."
        )
        raise KeyError(msg)
    check_obs_column(adata, "labels_key", labels_key)
    check_obs_columns_once(adata, pred_col)
    return pred_col


def _observed_confusion(
    adata: AnnData, key: str, labels_key: str, split: str = "all"
) -> tuple[np.ndarray, list[str], list[str], str]:
    """Counts of ``obs[labels_key]`` (rows) against ``obs['{key}_pred']`` (columns) on the
    cells that have both (of the part ``split`` of the run's split, where ``adata`` holds
    one), the row and column names (the predicted classes in the order of the labels where
    they share names, ``"Unassigned"`` last) and a title with the accuracy."""
    import pandas as pd

    from ..data._checks import is_numeric_column

    pred_col = _pred_beside_labels(adata, key, labels_key)
    split_col = _keys.split_key(key)
    check_obs_columns_once(adata, split_col)  # one of it (the labels and predictions: above)
    pred, true = adata.obs[pred_col], adata.obs[labels_key]
    if is_numeric_column(pred):
        msg = f"obs[{pred_col!r}] holds numbers (a numeric target): use sag.pl.regression."
        raise ValueError(msg)
    both = (pred.notna() & true.notna()).to_numpy()
    part = ""
    if split != "all" and split_col in adata.obs.columns:
        # a new array: pandas 3's to_numpy() may be a read-only view
        both = both & (adata.obs[split_col].astype(str) == split).to_numpy()
        part = f"{split} split, "
    if not both.any():
        where = f" of the {split!r} split (obs[{split_col!r}])" if part else ""
        msg = f"No cell{where} has both obs[{labels_key!r}] and obs[{pred_col!r}]."
        if part:
            msg += " Pass split= another part ('val', 'train') or 'all'."
        raise ValueError(msg)
    # the classes of the rows first, in their order, wherever the model has them (a class it
    # never predicted here is an empty column, so that the diagonal stays the right cells),
    # then other predicted classes, "Unassigned" last. The model's classes are those of its
    # record: a subset of the cells (adata[mask]) drops the unused categories of the
    # predictions, so that their categories alone would lose a class never predicted there
    record = adata.uns.get(key)
    recorded = record.get("classes", []) if isinstance(record, dict) else []
    p_names, p_order = _class_names(pred[both])
    known = set(p_order) | set(p_names) | {str(c) for c in recorded}
    t_names, t_order = _class_names(true[both], known)  # whole numbers as the model's
    t, p = np.asarray(t_names, dtype=object), np.asarray(p_names, dtype=object)
    # predict's unsure cells, unless the model has a class of that name
    unsure_name = _keys.unsure_name(recorded)
    rows = [c for c in t_order if c in set(t)]
    cols = [c for c in rows if c in known and c != unsure_name]
    cols += [c for c in p_order if c in set(p) and c not in cols and c != unsure_name]
    cols += [UNASSIGNED] if unsure_name in set(p) else []
    table = pd.crosstab(pd.Categorical(t, rows), pd.Categorical(p, cols), dropna=False)
    cm = table.reindex(index=rows, columns=cols, fill_value=0).to_numpy(dtype=float)
    accuracy = float(np.mean(t == p))
    from ..data._checks import obs_noun  # not ..data, which loads torch

    noun = obs_noun(adata)
    title = f"{part}{counted(int(both.sum()), noun)}: accuracy {accuracy:.3f}"
    # cells labelled with a class the model lacks (a query's new cell type) count as wrong
    # above: the accuracy on those of its classes too
    ours = np.isin(t, [c for c in known if c != unsure_name])
    if len(recorded) and 0 < ours.sum() < len(t):
        title += (
            f"\n{float(np.mean(t[ours] == p[ours])):.3f} on the "
            f"{counted(int(ours.sum()), noun)} of the model's classes"
        )
    elif len(recorded) and not ours.any():
        title += f"\nno label of obs[{labels_key!r}] is one of the model's classes"
    # predict's unsure cells count as wrong above: the accuracy on the others too
    unsure = p == unsure_name
    if unsure.any():
        n, rest = int(unsure.sum()), int((~unsure).sum())
        title += (
            f"\n{n:,} {noun if n > 1 else noun[:-1]} {UNASSIGNED} (min_confidence) "
            f"count{'' if n > 1 else 's'} as wrong"
        )
        if rest:
            title += f": {float(np.mean(t[~unsure] == p[~unsure])):.3f} on the other {rest:,}"
    return cm, rows, cols, title


# the parts of a classify split, in the order their dots are drawn (test on top)
_SPLIT_ORDER = ("train", "val", "test", "none")


def _class_names(column, classes=()) -> tuple[list[str], list[str]]:
    """The values of an ``obs`` column as class names, and the order of all its names: a
    categorical's categories; numbers in numeric order; other values as text, sorted. Names
    are as :func:`~scautogenome.tl.classify` names classes, a whole number as the model's
    ``classes`` name it (:func:`~scautogenome.data._checks.class_names_of`)."""
    import pandas as pd

    from ..data._checks import class_names_of, is_numeric_column

    names = list(class_names_of(column, classes))
    if isinstance(column.dtype, pd.CategoricalDtype):
        return names, list(class_names_of(pd.Series(column.cat.categories), classes))
    if is_numeric_column(column):
        values = pd.Series(sorted(set(column.dropna())), dtype=column.dtype)
        return names, list(class_names_of(values, classes))
    return names, sorted(set(names))


def _format_or_na(value: float, spec: str) -> str:
    """``value`` formatted by ``spec``; ``n/a`` where it is undefined (NaN)."""
    return format(value, spec) if np.isfinite(value) else "n/a"


@doc_params(plot_params=PLOT_PARAMS)
def regression(
    adata: AnnData,
    *,
    key: str = _keys.CLASSIFY_KEY,
    split: str | None = "test",
    labels_key: str | None = None,
    size: float | None = None,
    title: str | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    save: bool | str | os.PathLike | None = None,
    return_fig: bool = False,
) -> Axes | Figure | None:
    """Observed vs predicted values of a numeric target (rows: cells), with the line y = x.

    For a :func:`scautogenome.tl.classify` run that predicted a number (``task=
    "regression"``; a run of classes has :func:`confusion_matrix` instead). The title gives
    R\u00b2, the root mean squared error (in the target's units) and the number of cells,
    computed from the dots drawn (as :func:`confusion_matrix` scores ``obs['{key}_pred']``
    on any part but its recorded test matrix): for ``"test"`` and ``"val"`` of the run's own
    predictions, the figures classify recorded (``uns[key]['metrics']``); after
    :func:`~scautogenome.tl.predict` replaced them, or on a subset of the cells, those of the
    values drawn.

    Parameters
    ----------
    adata
        Annotated by :func:`scautogenome.tl.classify` (reads ``obs`` of the target,
        ``obs['{key}_pred']``, ``obs['{key}_split']`` and ``uns[key]``), or with
        ``labels_key`` by :func:`~scautogenome.tl.predict` (or classify).
    key
        ``key_added`` of the classify (or predict) call.
    split
        The cells shown: ``"test"`` (default; the cells the search never saw), ``"val"``,
        ``"train"``, or ``"all"`` (or None) for every cell with an observed value, coloured
        by its part of the split. With ``labels_key`` on an AnnData without
        ``obs['{key}_split']`` (a query of predict), every cell is shown.
    labels_key
        Instead of the target of the classify run, compare the predictions in
        ``obs['{key}_pred']`` with this ``obs`` column of observed numbers, on the cells of
        ``adata`` that have both: a query annotated by :func:`~scautogenome.tl.predict` whose
        true values are known. R\u00b2 and RMSE in the title are computed from the cells
        shown.
    size
        Dot size; default by the number of cells.
    title
        Axes title instead of the default one (which names what is shown).
    {plot_params}

    Returns
    -------
    The Axes (the Figure with ``return_fig=True``), or None when the figure is shown.
    """
    from ..data import numeric_target
    from ..data._checks import is_numeric_column
    from ..train import regression_report

    check_record_reader(adata, key, "classify")
    show, return_fig = check_plot_args(ax, show, save, return_fig)
    split = "all" if split is None else split
    if not is_one_of(split, (*_SPLIT_ORDER[:3], "all")):
        msg = f"split={split!r} must be 'test', 'val', 'train' or 'all' (or None)."
        raise ValueError(msg)
    if size is not None:
        check_size(size)
    pred_col = _keys.pred_key(key)
    split_col = _keys.split_key(key)
    if labels_key is None:
        uns = _regression_record(adata, key)
        target = regression_target(uns)
        if target not in adata.obs.columns:
            msg = (
                f"obs[{target!r}], the numeric target of the classify run in uns[{key!r}], is "
                "no longer in adata.obs; put its observed values back under that name to plot "
                "them."
            )
            raise KeyError(msg)
        if pred_col not in adata.obs.columns:
            raise missing_key("adata.obs", pred_col, "sag.tl.classify(adata, labels_key)")
        observed = numeric_target(adata.obs[target], target)
    else:
        target = labels_key
        observed = _observed_numbers(adata, key, labels_key)
        if split_col not in adata.obs.columns and split == "test":
            split = "all"  # a query: no split to draw its test cells from
    check_obs_columns_once(adata, target, pred_col, split_col)  # read below: one of each
    pred = adata.obs[pred_col]
    if not is_numeric_column(pred):
        msg = (
            f"obs[{pred_col!r}] holds {pred.dtype} values, not the predicted numbers of the "
            f"regression run in uns[{key!r}] (was it replaced by a prediction of classes?)."
        )
        raise ValueError(msg)
    y = observed
    y_hat = pred.to_numpy(dtype=np.float64)
    parts = adata.obs[split_col].astype(str).to_numpy() if split_col in adata.obs else None
    if split != "all" and parts is None:
        msg = (
            f"obs[{split_col!r}] (the train/val/test split of the run) not found; pass "
            "split='all' to plot every cell with an observed value."
        )
        raise KeyError(msg)
    shown = np.isfinite(y) & np.isfinite(y_hat)
    if split != "all":
        shown &= parts == split
    n = int(shown.sum())
    if n == 0:
        where = "" if split == "all" else f" of the {split!r} split"
        msg = (
            f"no cell{where} has both an observed obs[{target!r}] and a predicted value; "
            "nothing to plot."
        )
        raise ValueError(msg)
    # of the dots drawn: the metrics classify recorded describe its own predictions, which
    # obs['{key}_pred'] may no longer hold (sag.tl.predict since) or of other cells (a subset)
    stats = regression_report(y[shown], y_hat[shown])

    from ..data._checks import obs_noun  # not ..data, which loads torch

    noun = obs_noun(adata)  # samples for bulk data
    what = f"all {noun}" if split == "all" else f"{split} split"
    heading = (
        f"{what}: R\u00b2 {_format_or_na(float(stats['r2']), '.3f')}, "
        f"RMSE {_format_or_na(float(stats['rmse']), '.4g')} (n={n})"
    )
    xlabel, ylabel = f"observed {target}", f"predicted {target}"
    fig, ax = new_axes(ax, _scatter_size([xlabel, ylabel], heading if title is None else title))
    s = float(np.clip(4000 / n, 4, 36)) if size is None else size
    if split == "all" and parts is not None:
        present = set(parts[shown])
        groups = [p for p in _SPLIT_ORDER if p in present] + sorted(present - set(_SPLIT_ORDER))
    else:
        groups = [split]
    for group, color in zip(groups, palette(len(groups))):
        sel = shown if group == "all" else shown & (parts == group)
        label = noun if group == "all" else f"{group} ({int(sel.sum())})"
        ax.scatter(y[sel], y_hat[sel], s=s, color=color, alpha=0.7, lw=0, label=label, zorder=3)
    lo = float(min(y[shown].min(), y_hat[shown].min()))
    hi = float(max(y[shown].max(), y_hat[shown].max()))
    pad = 0.04 * (hi - lo) if hi > lo else 0.5
    lo, hi = lo - pad, hi + pad
    ax.plot([lo, hi], [lo, hi], ls="--", lw=1, color="#555555", label="y = x", zorder=2)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(heading)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="upper left", frameon=False, fontsize="small")
    return finish(fig, ax, show, return_fig, save, "sag_regression", title=title)


def _scatter_size(labels, title) -> tuple[float, float]:
    """The size of the figure of observed against predicted values: 4.8 x 4.6 in, its square
    axes (about 3.8 in) as long as the longer of the axis labels ``labels`` and the figure as
    wide as the ``title`` (the caller's, else the heading) over them. A long target's name
    (a clinical column, ``age_at_initial_pathologic_diagnosis...``) ran past both edges of
    the figure, as did a long ``title=``."""
    side = max(3.8, label_width(labels) + 0.2)
    lines = str(title).splitlines() or [""]
    wide = label_width(lines, title_size()) + 1.1  # centred over the axes, right of its ticks
    return max(side + 1.0, wide), side + 0.8


def _refuse_predict_record(adata: AnnData, key: str, needs: str, truth: str, shown: str) -> None:
    """A KeyError where ``uns[key]`` is the record of sag.tl.predict (no split, no ``needs``
    entry): ``labels_key=`` (an obs column of ``truth``) plots a prediction."""
    record = adata.uns.get(key)
    if isinstance(record, dict) and "predict_params" in record and needs not in record:
        msg = (
            f"adata.uns[{key!r}] holds the record of sag.tl.predict, which has no test "
            f"split; pass labels_key= an obs column of {truth} to compare "
            f"obs[{_keys.pred_key(key)!r}] with it, or run sag.tl.classify(adata, "
            f"labels_key) for {shown} of its test split."
        )
        raise KeyError(msg)


def _regression_record(adata: AnnData, key: str) -> dict:
    """The classify record of a numeric target under ``key``: a KeyError for a prediction's
    record (which has no split: ``labels_key=`` plots it), a ValueError for a run of
    classes."""
    _refuse_predict_record(adata, key, "metrics", "observed values", "the plot")
    uns = read_record(adata, key, ("classify",), classify_run_record, "metrics")
    if not is_regression(uns):
        msg = (
            f"uns[{key!r}] records a classification run (classes, not a numeric target); "
            "sag.pl.regression plots the predictions of a number: use sag.pl.confusion_matrix."
        )
        raise ValueError(msg)
    return uns


def _observed_numbers(adata: AnnData, key: str, labels_key: str) -> np.ndarray:
    """``obs[labels_key]`` as float64 (NaN: no value), to compare with the predictions in
    ``obs['{key}_pred']``: KeyErrors for a missing column, a ValueError for predicted classes
    or observed values that are not numbers (as :func:`_observed_confusion` checks)."""
    from ..data import numeric_target
    from ..data._checks import is_numeric_column

    pred_col = _pred_beside_labels(adata, key, labels_key)
    pred = adata.obs[pred_col]
    if not is_numeric_column(pred):
        msg = f"obs[{pred_col!r}] holds classes: use sag.pl.confusion_matrix."
        raise ValueError(msg)
    try:
        return numeric_target(adata.obs[labels_key], labels_key)
    except ValueError:
        msg = (
            f"labels_key={labels_key!r}: obs[{labels_key!r}] holds values that are not finite "
            "numbers; "
            f"sag.pl.regression compares the predicted numbers in obs[{pred_col!r}] with "
            "observed numbers (sag.pl.confusion_matrix compares classes)."
        )
        raise ValueError(msg) from None


def _kept_trial(trials: pd.DataFrame, uns, done: np.ndarray, sign: float) -> int:
    """Position in ``trials`` of the trial the search kept: the recorded best trial, else the
    best value, ties to the lower validation loss, then the earlier trial (as the search)."""
    kept = dict(uns.get("best", {})).get("trial")
    numbers = trials["number"].to_numpy()
    if kept is not None and (numbers == int(kept)).any():
        return int(np.flatnonzero(numbers == int(kept))[0])
    loss = (
        trials["val_loss"].to_numpy(dtype=float) if "val_loss" in trials else np.zeros(len(numbers))
    )
    order = np.lexsort(
        (numbers, np.nan_to_num(loss, nan=np.inf), -sign * trials["value"].to_numpy(dtype=float))
    )
    return int(next(i for i in order if done[i]))


def _history_width(title, mode: np.ndarray, state: np.ndarray) -> float:
    """The width of a figure of the search history: 6.5 in, or wide enough for its ``title``
    (the caller's, else the heading) centred over the trials, between the axis' labels on the
    left (about an inch) and the legend on the right (its entries of ``mode`` and ``state`` at
    its small font, beside their markers). The title of an ENAS run (the rows it leaves out),
    or a long ``title=``, ran past both edges of the figure."""
    entries = [*set(mode), "best so far", *(f"kept trial ({m})" for m in set(mode))]
    entries += [f"{st} ({int((state == st).sum())})" for st in ("pruned", "fail")]
    legend = label_width(entries, "small") + 0.6
    lines = str(title).splitlines() or [""]
    # centred over the axes: as far from its middle as the wider of the sides allows
    return max(6.5, label_width(lines, title_size()) + abs(legend - 1.0) + 0.4)


@doc_params(plot_params=PLOT_PARAMS)
def search_history(
    adata: AnnData,
    *,
    key: str = _keys.CLASSIFY_KEY,
    title: str | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    save: bool | str | os.PathLike | None = None,
    return_fig: bool = False,
) -> Axes | Figure | None:
    """Validation score of every search trial and the best so far, coloured by mode.

    The star (edged in its mode's colour, "kept trial" in the legend) marks the trial the
    search kept (``uns[key]['best']['trial']``; among equal
    scores, the one of lower validation loss). Pruned and failed trials (no final score) are
    ticks along the bottom edge. The rows of an ENAS run's architectures scored on its shared
    weights (``sampled``, ``ranked``: proxies, not trained) are counted in the title, not
    drawn. For a search of
    :func:`scautogenome.tl.embed` the values are validation losses, and the best is the lowest.

    Parameters
    ----------
    adata
        Annotated by :func:`scautogenome.tl.classify` or :func:`scautogenome.tl.embed` (reads
        ``uns[key]['trials']``).
    key
        ``key_added`` of the classify (or embed) call.
    title
        Axes title instead of the default one (which names what is shown).
    {plot_params}

    Returns
    -------
    The Axes (the Figure with ``return_fig=True``), or None when the figure is shown.
    """
    check_record_reader(adata, key, "classify or embed")
    show, return_fig = check_plot_args(ax, show, save, return_fig)
    how = "sag.tl.classify(adata, labels_key) or sag.tl.embed(adata)"
    uns = read_record(adata, key, ("classify", "embed"), classify_run_record, "trials", how)
    trials = pd.DataFrame(uns["trials"]).sort_values("number")
    if len(trials) == 0:
        msg = f"uns[{key!r}]['trials'] is empty; nothing to plot."
        raise ValueError(msg)
    number = trials["number"].to_numpy(dtype=float)
    value = trials["value"].to_numpy(dtype=float)
    state = trials["state"].astype(str).to_numpy()
    mode = trials["mode"].astype(str).replace("", "?").to_numpy()
    done = (state == "complete") & np.isfinite(value)
    order = [*_MODE_ORDER, *sorted(set(mode) - set(_MODE_ORDER))]  # any other mode after them
    colors = dict(zip(order, palette(len(order))))  # a mode's colour is the same in any search
    modes = [m for m in order if m in set(mode)]
    metric = str(uns.get("params", {}).get("metric", "score"))
    # sag.tl.embed's search minimises the validation loss (its "best" records val_loss)
    lower = "val_loss" in dict(uns.get("best", {}))
    sign = -1.0 if lower else 1.0

    proxies = int(np.isin(state, ("sampled", "ranked")).sum())
    # the trials trained: not the ENAS rows, which the brackets count
    heading = f"search: {counted(len(trials) - proxies, 'trials')}, {int(done.sum())} complete"
    if proxies:
        heading += f" ({counted(proxies, 'ENAS rows')} scored on shared weights not drawn)"
    fig, ax = new_axes(ax, (_history_width(heading if title is None else title, mode, state), 3.8))
    for m in modes:
        sel = done & (mode == m)
        if sel.any():
            ax.scatter(number[sel], value[sel], s=28, color=colors[m], label=m, zorder=3)
    if done.any():
        signed = np.where(done, sign * value, -np.inf)
        best = sign * np.fmax.accumulate(signed)
        first = int(np.argmax(done))
        ax.step(
            number[first:],
            best[first:],
            where="post",
            color=text_color_on(ax.get_facecolor(), dark="#333333", light="#cccccc"),
            lw=1.2,
            label="best so far",
        )
        b = _kept_trial(trials, uns, done, sign)
        ax.scatter(  # the kept trial's mode in the star's edge, as the legend's
            number[b],
            value[b],
            s=170,
            marker="*",
            color="gold",
            edgecolors=colors.get(mode[b], "#333333"),
            linewidths=1.2,
            zorder=4,
            label=f"kept trial ({mode[b]})",
        )
    from matplotlib.transforms import blended_transform_factory

    bottom = blended_transform_factory(ax.transData, ax.transAxes)
    # greys no mode has (a failed trial's red was rrfcn's colour), below the dots of the
    # trials that scored, which low scores put on the bottom edge too
    failed = text_color_on(ax.get_facecolor(), dark="#222222", light="#dddddd")
    for st, marker, color in (("pruned", "|", "#999999"), ("fail", "x", failed)):
        sel = state == st
        if sel.any():
            ax.scatter(
                number[sel],
                np.full(sel.sum(), 0.03),
                transform=bottom,
                marker=marker,
                color=color,
                s=40,
                label=f"{st} ({int(sel.sum())})",
                zorder=2.5,
            )
    ax.set_xlabel("trial")
    ax.set_ylabel("validation loss (lower is better)" if lower else f"validation {metric}")
    ax.set_title(heading)
    if len(number) <= 20:
        ax.set_xticks(number)
    else:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize="small")
    return finish(fig, ax, show, return_fig, save, "sag_search_history", title=title)
