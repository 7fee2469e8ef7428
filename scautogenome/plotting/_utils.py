"""Helpers shared by the plots: scanpy's ``ax``/``show``/``save``/``return_fig`` conventions,
palettes."""

from __future__ import annotations

import functools
import os
import textwrap
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from .._keys import UNASSIGNED

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SAVE_DOC = """\
``save=True`` (or ``scanpy.settings.autosave``) writes
``{figdir}/{name}{plot_suffix}.{file_format_figs}`` of ``scanpy.settings``, ``{name}``
being ``sag_`` and the plot's name (``sag_confusion_matrix``). A string without a folder
in it is added to that name, as in scanpy (``"_test"``, ``"_test.png"``); its extension,
where it is a format matplotlib writes (``.png``, ``.pdf``, ``.svg``, ``.jpg``,
``.tiff``, ...), sets the format. A :class:`~pathlib.Path`, or a string with a folder in
it (``"results/cm.png"``), is the file itself, relative to the working directory (not
``figdir``): its extension sets the format (one matplotlib cannot write is an error
before anything is drawn; without one, or after a version's dot (``run_v1.2``),
``file_format_figs`` is added); a folder of it
that does not exist is made, as scanpy makes ``figdir``, and the log line naming the
file says so."""

PLOT_PARAMS = """\
ax, show, save, return_fig
    As in scanpy: draw into ``ax`` (a matplotlib Axes; None: a new figure); show the figure
    (default ``scanpy.settings.autoshow``); save it (below); return the Figure
    (``return_fig=True``). Each is checked before anything is drawn.
""" + textwrap.indent(SAVE_DOC, "    ")


def check_plot_args(ax, show, save, return_fig) -> tuple[bool | None, bool | None]:
    """Check scanpy's arguments of every plot before any work (a figure drawn; for
    ``embedding``, a layout computed and stored in ``adata``): ``ax`` None or a matplotlib
    Axes (a TypeError; ``ax='left'``, or the array of Axes of ``plt.subplots(1, 2)``, failed
    deep inside matplotlib), ``show`` and ``return_fig`` None, True or False (a TypeError:
    ``"no"`` was read as True), ``save`` as :func:`save_path` takes it. Returns ``show`` and
    ``return_fig`` as Python bools (None kept: scanpy's defaults)."""
    import reprlib

    from matplotlib.axes import Axes

    from .._utils import check_bool

    if ax is not None and not isinstance(ax, Axes):
        msg = (
            f"ax={reprlib.repr(ax)} (type {type(ax).__name__}) must be a matplotlib Axes, or "
            "None for a new figure."
        )
        if isinstance(ax, (list, tuple)) or type(ax).__name__ == "ndarray":
            msg += " plt.subplots(1, 2) returns an array of Axes: pass one of them (axs[0])."
        raise TypeError(msg)
    show = show if show is None else check_bool("show", show)
    return_fig = return_fig if return_fig is None else check_bool("return_fig", return_fig)
    save_path(save, "sag")  # a format matplotlib cannot write: refused before any drawing
    return show, return_fig


_LAID_OUT_ONCE: weakref.WeakSet = weakref.WeakSet()
"""The figures :func:`new_axes` made, which :func:`finish` lays out and leaves without a
layout engine."""


def root_figure(ax: Axes) -> Figure:
    """The Figure ``ax`` is drawn in, above any SubFigure: the one that saves and that
    ``return_fig=True`` returns (``ax.figure`` of a SubFigure's Axes is the SubFigure)."""
    fig = ax.figure
    return fig if fig.figure is fig else fig.figure  # a SubFigure's .figure is the root


def new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """``ax``'s figure and ``ax``, or a new figure of ``figsize`` with one Axes, laid out
    (constrained) once the plot is drawn (:func:`finish`)."""
    import matplotlib.pyplot as plt

    if ax is not None:
        return root_figure(ax), ax
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    _LAID_OUT_ONCE.add(fig)
    return fig, ax


def _lay_out_once(fig: Figure) -> None:
    """Lay ``fig`` out (its constrained layout, once) and leave it without a layout engine, as
    scanpy's figures are: with the engine kept, a user's ``fig.subplots_adjust`` was ignored
    and ``plt.tight_layout()`` raised where a colour bar was drawn."""
    import matplotlib as mpl

    engine = fig.get_layout_engine()
    if engine is None:
        return
    engine.execute(fig)
    # None is no engine only where rcParams ask for none (autolayout would ask for tight)
    with mpl.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        fig.set_layout_engine(None)


TICK_LETTERS = 40
"""The most letters of a name on a tick (:func:`shortened`)."""


def shortened(name: str, limit: int = TICK_LETTERS) -> str:
    """``name`` as a tick label: a longer one than ``limit`` keeps its start and its end
    around an ellipsis (names of one kind differ at their end as often: "... type 1"), so
    that a few long names do not make a plot of them feet wide."""
    if len(name) <= limit:
        return name
    tail = (limit - 1) // 3
    return f"{name[: limit - 1 - tail]}\u2026{name[-tail:]}"


def distinct_shortened(names, limit: int = TICK_LETTERS) -> list[str]:
    """Each of ``names`` as a tick label (:func:`shortened`), every one different: names that
    share their start and their end (``"CD8-positive, alpha-beta cytotoxic T cell, type_1
    subtype, activated"`` and ``"..., type_2 subtype, ..."``) kept the same letters, so that
    every tick of a confusion matrix read alike. Those of them keep their start, then what
    follows from the word where they differ (shortened, as a name is, to ``limit`` letters);
    any still alike (a difference deep inside a long name) are written whole."""
    names = [str(n) for n in names]
    ticks = [shortened(n, limit) for n in names]
    head = limit - 1 - (limit - 1) // 3  # the letters of a name's start that shortened keeps
    alike: dict[str, set[str]] = {}
    for name, tick in zip(names, ticks):
        alike.setdefault(tick, set()).add(name)
    for i, name in enumerate(names):
        group = alike[ticks[i]]
        if len(group) < 2:
            continue
        # where the names part: their common start is that of the first and last in order
        first, last = min(group), max(group)
        differ = next((k for k, (a, b) in enumerate(zip(first, last)) if a != b), len(first))
        cut = max(head, name.rfind(" ", head, differ) + 1 or differ)  # from that word on
        ticks[i] = f"{name[:head]}\u2026{shortened(name[cut:], limit)}" if cut > head else name
    counts: dict[str, int] = {}
    for tick in ticks:
        counts[tick] = counts.get(tick, 0) + 1
    return [name if counts[tick] > 1 else tick for name, tick in zip(names, ticks)]


def label_width(names, size: float | str | None = None) -> float:
    """Inches taken by the longest of the texts ``names`` (the longest line of one of several
    lines) at the font ``size`` (points, or a name such as ``"large"``; default
    ``rcParams['font.size']``) in ``rcParams``' font, measured as matplotlib draws it on a new
    figure (Agg's text metrics at ``rcParams['figure.dpi']``, whose hinting makes a text a few
    percent wider or narrower than its outline; never narrower than the outline, as a file of
    more dots an inch draws it), so that a figure widens for long gene and class names. A
    guess of a letter's width (0.08 in at 10 points) fell short of capitalised and wide
    names (``'W'``, ``'M'``): a title ran past the figure's edge, a confusion matrix shrank."""
    from matplotlib import rcParams
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    prop = FontProperties(size=size)
    dpi = float(rcParams["figure.dpi"])
    renderer = _measurer(dpi)
    widest = 0.0
    for line in {line for n in names for line in str(n).splitlines()}:
        if not line:
            continue
        # read as plain text: names are drawn without maths
        drawn = renderer.get_text_width_height_descent(line, prop, ismath=False)[0] / dpi
        outline = text_to_path.get_text_width_height_descent(line, prop, ismath=False)[0] / 72
        widest = max(widest, drawn, outline)
    return float(widest)


@functools.cache
def _measurer(dpi: float):
    """A renderer of ``dpi`` dots an inch that measures text as Agg draws it."""
    from matplotlib.backends.backend_agg import RendererAgg

    return RendererAgg(1, 1, dpi)


def wrap_label(text: str, inches: float, size: float | str | None = None) -> str:
    """``text`` on as many lines as it takes for each to fit ``inches`` (measured by
    :func:`label_width`; 40 letters a line at least), broken at spaces only (a class name
    without one stays whole): a long axis label of a class's name ran past the figure's
    edges."""

    def fill(width: int) -> str:
        return textwrap.fill(text, width, break_long_words=False, break_on_hyphens=False)

    # the widest wrapping that fits: a wider one has lines at least as long, so a bisection
    # over the letters a line finds it in a few measures (one per width took seconds on a
    # label of a few hundred letters)
    low, high = 40, max(len(text), 40)
    if label_width([fill(high)], size) <= inches:
        return fill(high)
    while high - low > 1:  # fill(low) fits, or is the narrowest allowed; fill(high) does not
        mid = (low + high) // 2
        if label_width([fill(mid)], size) <= inches:
            low = mid
        else:
            high = mid
    return fill(low)


def title_size() -> float:
    """The size in points of an Axes title (``rcParams['axes.titlesize']``, ``"large"``)."""
    from matplotlib import rcParams
    from matplotlib.font_manager import FontProperties

    return FontProperties(size=rcParams["axes.titlesize"]).get_size_in_points()


def legible_ticks(axis, values, nbins: int = 5) -> None:
    """At most ``nbins`` ticks on ``axis`` (an XAxis or YAxis) of ``values`` with numbers that
    stay short: values whose largest (in absolute value) is below 0.01 (or from 10,000) get a
    power of ten written once beside the axis (``1e-3``, ``1e-4``) rather than ``0.000225``
    in every label, so that the tick labels of tiny SHAP
    values (a regression's) do not overlap on a narrow figure; the axis label then moves
    below that power of ten, which it covered."""
    import numpy as np
    from matplotlib import rcParams
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    axis.set_major_locator(MaxNLocator(nbins=nbins))
    formatter = ScalarFormatter(useOffset=False)
    formatter.set_powerlimits((-3, 4))
    axis.set_major_formatter(formatter)
    values = np.abs(np.asarray(values, dtype=float))
    top = float(np.nanmax(values, initial=0.0)) if values.size else 0.0
    if 0 < top < 1e-2 or top >= 1e4:  # a power of ten written at the axis's end
        axis.labelpad += 1.2 * float(rcParams["font.size"])


def read_record(adata: AnnData, key: str, kinds: tuple[str, ...], read, *args):
    """``read(adata, key, *args)`` (a reader of a tool's record in ``uns[key]``); its KeyError
    (the record missing, or another tool's) ends with the keys of ``adata.uns`` that hold
    records of ``kinds`` (``"classify"``, ``"explain"``, ``"embed"``): a wrong ``key=`` said
    to run the tool although ``adata`` held its records under other keys."""
    from ..tools._utils import records_elsewhere

    try:
        return read(adata, key, *args)
    except KeyError as e:
        hint = records_elsewhere(adata, key, kinds, "key")
        raise KeyError(str(e.args[0]) + hint) from None


def check_size(size) -> None:
    """A ValueError, before any figure is made, for a dot ``size`` that is not a positive
    finite number (a negative one drew nothing, with a warning from numpy's sqrt)."""
    import numpy as np

    if (
        isinstance(size, bool)
        or not isinstance(size, (int, float, np.integer, np.floating))
        or not np.isfinite(size)
        or size <= 0
    ):
        msg = f"size={size!r} must be a positive number (the dot size, in points squared)."
        raise ValueError(msg)


def check_cmap(cmap, name: str = "cmap") -> None:
    """A ValueError, before any figure is made, for a ``cmap`` that is neither None
    (matplotlib's default map), a Colormap nor the name of one of matplotlib's."""
    import matplotlib as mpl
    from matplotlib.colors import Colormap

    if (
        cmap is None
        or isinstance(cmap, Colormap)
        or (isinstance(cmap, str) and cmap in mpl.colormaps)
    ):
        return
    msg = (
        f"{name}={cmap!r} is not a matplotlib colour map; pass the name of one (e.g. 'Blues', "
        "'viridis'; see matplotlib.colormaps) or a Colormap."
    )
    raise ValueError(msg)


def check_color(color, name: str = "color") -> None:
    """A ValueError, before any figure is made, for a ``color`` (not None) that matplotlib
    cannot read as a colour."""
    from matplotlib.colors import is_color_like

    if color is None or is_color_like(color):
        return
    msg = (
        f"{name}={color!r} is not a matplotlib colour; pass a name ('tab:blue'), a hex string "
        "('#1f77b4') or an RGB(A) tuple."
    )
    raise ValueError(msg)


def text_color_on(color, dark: str = "#222222", light: str = "white") -> str:
    """Of ``dark`` and ``light`` text, the one that reads better on a background of ``color``:
    the larger contrast ratio of WCAG 2.x (from relative luminance), whatever the colour map
    (light to dark as Blues, dark to light as viridis) and the scale it maps values with."""
    import numpy as np
    from matplotlib.colors import to_rgb

    def luminance(c) -> float:
        rgb = np.asarray(to_rgb(c))
        linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
        return float(linear @ [0.2126, 0.7152, 0.0722])

    def contrast(a: float, b: float) -> float:
        return (max(a, b) + 0.05) / (min(a, b) + 0.05)

    back = luminance(color)
    return dark if contrast(luminance(dark), back) >= contrast(luminance(light), back) else light


def _formats() -> dict[str, str]:
    """The file formats ``Figure.savefig`` writes on any backend (its extensions, lower case)."""
    from matplotlib.backend_bases import FigureCanvasBase

    return FigureCanvasBase.get_supported_filetypes()


def save_path(save, writekey: str) -> Path | None:
    """The file ``save=`` writes the figure of the plot ``writekey`` to (:data:`SAVE_DOC`),
    None for no file: scanpy's ``save=`` (``True``, or a suffix string of the file name in
    ``scanpy.settings.figdir``, whose extension sets the format), where any format matplotlib
    writes is taken (scanpy's own list is pdf, png and svg: ``"_cm.jpg"`` was
    ``_cm.jpg.pdf``); a Path, or a string with a folder in it, is the file itself (it was
    added to the name in figdir, or not saved). A TypeError for another type of ``save``; a
    ValueError for a path of a format matplotlib cannot write."""
    import numpy as np
    import scanpy as sc

    if save is None:
        save = sc.settings.autosave
    if isinstance(save, (bool, np.bool_)):
        if not save:
            return None
        text = ""  # the plot's name alone
    elif isinstance(save, (str, os.PathLike)):
        text = os.fspath(save)
        if not text:  # an empty suffix saves nothing, as before
            return None
    else:
        msg = (
            f"save={save!r} must be True, False, a suffix of the file name in "
            "scanpy.settings.figdir ('_test', '_test.png') or the path of the file "
            "('results/plot.png')."
        )
        raise TypeError(msg)
    formats = _formats()
    separators = tuple(s for s in ("/", os.sep, os.altsep) if s)
    if isinstance(save, os.PathLike) or any(s in text for s in separators):
        path = Path(text).expanduser()
        # Path drops a trailing slash: "results/" would be the file results.pdf
        if path.is_dir() or not path.name or text.endswith(separators):
            msg = f"save={text!r} is a folder; name the file in it ('{path / 'plot.png'}')."
            raise ValueError(msg)
        ext = path.suffix[1:]
        if not ext or not ext.isalpha():
            # no extension, or the last dot a version's ("run_v1.2"): the default format
            # added, as matplotlib adds it and as a suffix string gets it
            return path.with_name(f"{path.name}.{sc.settings.file_format_figs}")
        if ext.lower() not in formats:
            msg = (
                f"save={text!r}: {path.suffix!r} is not a file format matplotlib writes; use "
                f"one of {', '.join(map(repr, sorted(formats)))}."
            )
            raise ValueError(msg)
        return path
    stem, dot, ext = text.rpartition(".")
    if dot and ext.lower() in formats:
        writekey, fmt = writekey + stem, ext
    else:  # no extension (or not a format's, "_v1.2"): all of it goes into the name
        writekey, fmt = writekey + text, sc.settings.file_format_figs
    return Path(sc.settings.figdir) / f"{writekey}{sc.settings.plot_suffix}.{fmt}"


def save_figure(fig: Figure, writekey: str, save: bool | str | os.PathLike | None) -> Path | None:
    """Save ``fig`` where ``save=`` says (:func:`save_path`; nowhere for None or False):
    making its folder where it does not exist (as scanpy makes ``figdir``), which the log line
    naming the file says. Written through a temporary file renamed into place
    (:func:`~scautogenome._utils.write_atomically`): a save that fails part-way (a full disk)
    leaves the figure saved there before whole, not a truncated file."""
    from .._settings import logger
    from .._utils import check_creatable, write_atomically

    path = save_path(save, writekey)
    if path is None:
        return None
    made = ""
    if not path.parent.is_dir():
        # a file on the way ("results/cm.png", results a file): said so, not "File exists"
        check_creatable(path.parent, f"save={str(path)!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        made = f" (created the folder {path.parent})"

    def write(tmp: Path) -> None:
        # through a file object: no format (EPS) records the temporary file's name
        with open(tmp, "wb") as f:
            fig.savefig(f, bbox_inches="tight", format=path.suffix[1:].lower())

    write_atomically(path, write)
    logger.warning("saving figure to file %s%s", path, made)
    return path


def finish(
    fig: Figure,
    ax: Axes,
    show: bool | None,
    return_fig: bool,
    save: bool | str | os.PathLike | None = None,
    writekey: str = "sag",
    *,
    title: str | None = None,
    keep_title: bool = False,
) -> Axes | Figure | None:
    """Draw the texts of ``ax`` (an Axes or a list) as they read (:func:`plain_text`, the
    title kept as maths with ``keep_title``), set ``title`` (when given: the caller's, read as
    matplotlib reads it) and save the figure (``save``, see :func:`save_figure`), then return
    the Figure (``return_fig``), show it (``show``; default ``scanpy.settings.autoshow``) and
    return None, or return the Axes. A saved figure that is not returned is closed afterwards, as
    scanpy's plots close theirs, so that a script saving many plots does not keep them all
    open."""
    import matplotlib.pyplot as plt

    plain_text(ax, keep_title=keep_title)
    if title is not None:  # the caller's, in place of the plot's own
        ax.set_title(title)
        ax.title.set_parse_math(True)  # as matplotlib reads a title
    if fig in _LAID_OUT_ONCE:
        _lay_out_once(fig)
    saved = save_figure(fig, writekey, save) is not None
    if return_fig:
        return fig
    if show is None:
        import scanpy as sc

        show = sc.settings.autoshow
    if show:
        plt.show()
    if saved:
        plt.close(fig)
    return None if show else ax


def plain_text(axes, *, keep_title: bool = False) -> None:
    """Draw every text of ``axes`` (an Axes or a list of them: fixed tick labels, axis labels,
    titles, legends, texts on the data; not the numbers a tick formatter writes) as it reads: class, gene and column names come from
    the data, and matplotlib reads ``$...$`` in them as maths (a class named ``$\\bad$``
    failed the figure, ``$x$`` became an italic x). ``keep_title``: the title is the user's,
    whose maths matplotlib users expect (as a ``title=`` set afterwards keeps it)."""
    from matplotlib.text import Text
    from matplotlib.ticker import FixedFormatter, FuncFormatter

    # tick labels given as names (set_xticks(positions, labels) makes one of these)
    names = (FixedFormatter, FuncFormatter)

    for ax in axes if isinstance(axes, (list, tuple)) else [axes]:
        kept = {ax.title} if keep_title else set()
        for axis in (ax.xaxis, ax.yaxis):
            # numbers a formatter writes (10^-2 of a log scale, now or after a set_xscale,
            # a colour bar's, the offset 1e6) are matplotlib's maths: names are set as fixed
            # tick labels
            kept.add(axis.offsetText)
            if not isinstance(axis.get_major_formatter(), names):
                kept.update(axis.get_majorticklabels())
            if not isinstance(axis.get_minor_formatter(), names):
                kept.update(axis.get_minorticklabels())
        for text in ax.findobj(Text):
            if text not in kept:
                text.set_parse_math(False)


def palette(n: int, warn: bool = True) -> list[str]:
    """``n`` distinct colours, those scanpy gives ``n`` categories (its
    ``_set_default_colors_for_categorical_obs``): matplotlib's colour cycle
    (``rcParams['axes.prop_cycle']``: tab10 by default, scanpy's ``default_20`` after
    ``sc.set_figure_params()``) where it has ``n`` colours or more, else scanpy's
    ``default_20``, ``default_28`` or ``default_102``, as hex strings; past 102 (where scanpy
    draws every category grey) ``default_102`` again from its start, with a warning (not
    with ``warn=False``: a caller's second call for the same categories)."""
    from matplotlib import rcParams
    from matplotlib.colors import to_hex
    from scanpy.plotting import palettes

    if n <= 0:
        return []
    if n > len(palettes.default_102) and warn:
        from .._settings import logger

        logger.warning(
            "%d categories: colours repeat past %d (scanpy's largest palette): category %d "
            "looks like the first, and so on; fewer categories (or labels on the plot) tell "
            "them apart",
            n,
            len(palettes.default_102),
            len(palettes.default_102) + 1,
        )
    cycle = rcParams["axes.prop_cycle"].by_key().get("color", [])
    if len(cycle) >= n:
        colors = list(cycle[:n])
    elif n <= 20:
        colors = list(palettes.default_20[:n])
    elif n <= 28:
        colors = list(palettes.default_28[:n])
    else:
        colors = [palettes.default_102[i % len(palettes.default_102)] for i in range(n)]
    return [to_hex(c) for c in colors]


# the bars of no one class (importance's overall column): a grey that no palette of scanpy gives a
# class (tab10's grey is #7f7f7f)
NEUTRAL_COLOR = "#8c8c8c"

# predict's "Unassigned" cells: a grey of their own, not scanpy's NA colour ("lightgray"), which
# scanpy refuses as a category's colour in a column that has missing values too
UNASSIGNED_COLOR = "#b4b4b4"


def shared_category_colors(adata: AnnData, columns) -> None:
    """Give the categorical ``obs`` columns among ``columns`` (plotted together) one colour per
    category name, in ``uns['{column}_colors']`` (scanpy's palettes, which scanpy's plots read
    and would otherwise assign column by column): a query's labels and its predicted classes
    then match where a category is missing from one of them. The colours of the columns that
    have colours of their own (as many as their categories, or more) lead, whatever their
    order in ``columns``, and are kept; then the first column's (scanpy's default); a
    category ``"Unassigned"`` (:func:`~scautogenome.tl.predict`'s) is grey. Columns of
    text are made categorical first, as scanpy's plot would make them."""
    import pandas as pd
    from pandas.api.types import infer_dtype

    present = [c for c in dict.fromkeys(columns) if c in adata.obs.columns]
    if any(infer_dtype(adata.obs[c]) == "string" for c in present):
        # a column of text becomes categorical in scanpy's plot (sanitize_anndata), after this
        # step: convert it now, as scanpy does, so that its colours are shared too
        adata.strings_to_categoricals()
    categorical = {
        column: [str(c) for c in adata.obs[column].cat.categories]
        for column in dict.fromkeys(columns)  # once each, in order
        if column in adata.obs.columns and isinstance(adata.obs[column].dtype, pd.CategoricalDtype)
    }
    if len(categorical) < 2 and not any(UNASSIGNED in n for n in categorical.values()):
        return  # scanpy's own colours, as without sag

    def own_colors(column: str):
        own = adata.uns.get(f"{column}_colors")
        # scanpy reads the first ones of a longer list
        return own if own is not None and len(own) >= len(categorical[column]) else None

    lookup: dict[str, str] = {}
    for column, names in categorical.items():  # the user's colours first, in order
        own = own_colors(column)
        if own is not None:
            lookup.update({n: str(c) for n, c in zip(names, own) if n not in lookup})
    for column, names in categorical.items():
        if own_colors(column) is not None:
            continue
        free = [c for c in palette(len(names) + len(lookup)) if c not in lookup.values()]
        free += palette(len(names), warn=False)  # never short (repeats past the palettes)
        colors = []
        for n in names:
            if n == UNASSIGNED:
                colors.append(UNASSIGNED_COLOR)
            elif n in lookup:
                colors.append(lookup[n])
            else:
                colors.append(free.pop(0))
        adata.uns[f"{column}_colors"] = colors
        lookup.update({n: c for n, c in zip(names, colors) if n not in lookup})


def class_colors(adata: AnnData, column: str | None, classes) -> list[str]:
    """Colours of ``classes``: scanpy's ``uns[f'{column}_colors']`` for each class it has a
    colour of (so the plots match ``sc.pl.umap(adata, color=column)``, also on a subset of
    the cells that lacks a class, whose colour anndata drops; of a longer list, the first
    ones, as scanpy reads it), a default palette's colour not in use for the others. A list of
    one colour for every category (scanpy's grey past 102 categories) is not taken."""
    classes = [str(c) for c in classes]
    lookup = _stored_colors(adata, column)
    return palette(len(classes)) if lookup is None else _by_name(lookup, classes)


def category_colors(adata: AnnData, column: str, names) -> list[str] | None:
    """Colours of ``names`` as scanpy's plot of ``obs[column]`` colours those categories: its
    own ``uns[f'{column}_colors']`` (as :func:`class_colors` reads them), else the palette
    scanpy would give the column's categories; a name the column lacks gets a colour not in
    use. None for a column scanpy colours as numbers, for no column, and past scanpy's
    palettes (more than 102 categories, all grey in scanpy's plots)."""
    from scanpy.plotting import palettes

    categories = _plotted_categories(adata, column)
    if categories is None or len(categories) > len(palettes.default_102):
        return None
    lookup = _stored_colors(adata, column)
    if lookup is None:
        lookup = dict(zip(categories, palette(len(categories))))
    return _by_name(lookup, [str(n) for n in names])


def _plotted_categories(adata: AnnData, column: str | None) -> list[str] | None:
    """The categories of ``obs[column]`` as scanpy's plots draw them, as text: a categorical's;
    a column of text or truth values, its sorted values (scanpy makes it categorical); None
    for numbers and for no column."""
    import pandas as pd
    from pandas.api.types import infer_dtype, is_bool_dtype

    if column is None or column not in adata.obs.columns:
        return None
    obs = adata.obs[column]
    if isinstance(obs.dtype, pd.CategoricalDtype):
        return [str(c) for c in obs.cat.categories]
    if is_bool_dtype(obs) or infer_dtype(obs, skipna=True) in ("string", "boolean"):
        return [str(c) for c in pd.Categorical(obs.dropna()).categories]
    return None


def _stored_colors(adata: AnnData, column: str | None) -> dict[str, str] | None:
    """``uns[f'{column}_colors']`` by category name (:func:`_plotted_categories`), as scanpy
    reads them (the first ones of a longer list; a colour given as numbers, as hex); None
    where there are none, too few, any that is no colour (one string, a number), or one colour
    for every category (scanpy's grey past 102 categories, not a palette)."""
    from matplotlib.colors import is_color_like, to_hex

    categories = _plotted_categories(adata, column)
    colors = adata.uns.get(f"{column}_colors") if categories is not None else None
    if colors is None or isinstance(colors, str) or not hasattr(colors, "__len__"):
        return None
    colors = list(colors)
    if len(colors) < len(categories) or not all(is_color_like(c) for c in colors):
        return None
    if len(categories) > 1 and len({to_hex(c) for c in colors}) == 1:
        return None
    shown = [c if isinstance(c, str) else to_hex(c, keep_alpha=True) for c in colors]
    return dict(zip(categories, shown))


def _by_name(lookup: dict[str, str], names: list[str]) -> list[str]:
    """The colour of each of ``names`` in ``lookup``; a default palette's colour not in use
    for a name it lacks."""
    used = {lookup[c] for c in names if c in lookup}
    free = [c for c in palette(len(names) + len(used)) if c not in used]
    free += palette(len(names), warn=False)  # never short (repeats past the palettes)
    return [lookup[c] if c in lookup else free.pop(0) for c in names]


def gene_labels(adata: AnnData, names, gene_symbols: str | None) -> list[str]:
    """Tick labels of the genes ``names`` (``var_names``): with ``gene_symbols``, as scanpy's
    plots, their value in that ``adata.var`` column (the name itself where it has none)."""
    import pandas as pd

    names = [str(n) for n in names]
    if gene_symbols is None:
        return names
    from .._utils import check_gene_symbols

    check_gene_symbols(adata, gene_symbols)
    symbols = dict(zip(adata.var_names.astype(str), adata.var[gene_symbols]))
    return [str(symbols[n]) if n in symbols and not pd.isna(symbols[n]) else n for n in names]
