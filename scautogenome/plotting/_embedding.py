"""UMAP / t-SNE view of a learned latent space, through scanpy."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from numbers import Real
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse

from .. import _keys
from .._logging import scanpy_quiet, still_running
from .._settings import keep_torch_threads, logger, resolve_seed
from .._utils import (
    check_anndata,
    check_bool,
    check_gene_symbols,
    check_int_at_least,
    check_key,
    columns_listed,
    digest,
    doc_params,
    layer_names,
    neighbors,
    resolve_basis,
    row_keys,
    rows_among,
    tsne,
)
from ._utils import (
    SAVE_DOC,
    check_cmap,
    check_plot_args,
    finish,
    plain_text,
    root_figure,
    save_figure,
    shared_category_colors,
)

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

METHODS = ("umap", "tsne")

SCANPY_LEGEND_LOCS = ("right margin", "on data", "none")
"""The ``legend_loc`` values of its own that scanpy's ``sc.pl.embedding`` (1.11) draws, beside
matplotlib's legend positions (its ``"on data export"`` goes to matplotlib, which refuses it)."""


def _name(basis: str) -> str:
    return basis[2:] if basis.startswith("X_") else basis


@doc_params(save_doc=SAVE_DOC)
@keep_torch_threads()
def embedding(
    adata: AnnData,
    basis: str = f"X_{_keys.EMBED_KEY}",
    *,
    method: str = "umap",
    color: str | Sequence[str] | None = None,
    n_neighbors: int | None = None,
    recompute: bool = False,
    random_state: int = 0,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool | None = None,
    **kwargs,
) -> Axes | list[Axes] | Figure | None:
    """Plot a 2-D UMAP or t-SNE of a latent space (default: :func:`~scautogenome.tl.embed`'s).

    The 2-D coordinates are computed with scanpy on ``obsm[basis]`` the first time (or with
    ``recompute=True``) and stored under keys of their own, so the user's ``X_umap``,
    ``X_tsne`` and default ``neighbors`` are never overwritten. A ``basis`` of 2 columns
    (``X_umap``, a 2-D latent) is already 2-D: it is drawn as it is, as
    :func:`scanpy.pl.embedding` draws it (with its axis labels, ``UMAP1`` or ``{name}1``),
    and nothing is computed or stored (``method``, ``n_neighbors``, ``recompute`` and
    ``random_state`` do not apply; an INFO line says so).

    Parameters
    ----------
    adata
        Annotated data with the latent space in ``obsm[basis]``.
    basis
        ``obsm`` key of the latent space (as in scanpy, ``"sag_resvae"`` names
        ``obsm['X_sag_resvae']`` when there is no ``obsm['sag_resvae']``). Dense or sparse
        (read as its dense values, as :func:`~scautogenome.tl.embedding_scores` reads it; one
        of 2 columns, drawn as it is, must be dense); NaN or infinite values are an error
        before any work.
    method
        ``"umap"`` (kNN graph + UMAP) or ``"tsne"`` (scanpy's perplexity of 30; on 30 cells or
        fewer, which scikit-learn refuses at 30, ``max(1, (n - 1) / 3)`` with a warning).
    color
        ``obs`` column(s) or gene(s) to color by, as in :func:`scanpy.pl.embedding`
        (``var_names``, ``raw.var_names``, or values of the ``gene_symbols=`` column): a name,
        or a list, tuple, pandas Index or numpy array of them (``adata.var_names[:4]``); any
        other name, or one that is both an ``obs`` column and a gene of ``var_names`` (which
        anndata refuses), is an error before anything is computed.
    n_neighbors
        Neighbors of the kNN graph (UMAP only): an integer of at least 2, or None for 15,
        scanpy's default. A t-SNE has no kNN graph here: a value given with
        ``method="tsne"`` is warned about and not used.
    recompute
        Recompute the 2-D coordinates even when they are already stored. They are also
        recomputed when ``obsm[basis]`` changed since they were (a new
        :func:`~scautogenome.tl.embed` or :func:`~scautogenome.tl.encode` under the same key,
        other cells; with a warning), when ``random_state`` did or, for UMAP, when
        ``n_neighbors`` did. A subset of the cells (``adata[mask]``), every latent row of which
        is one the coordinates were computed from, keeps its coordinates, as
        ``sc.pl.umap(adata[mask])`` keeps ``X_umap``'s.
    random_state
        Seed of the neighbors, UMAP and t-SNE (an integer from 0 to 2**32 - 1).
    ax, show, return_fig, kwargs
        Passed to :func:`scanpy.pl.embedding` (``palette``, ``groups``, ``legend_loc``, ...);
        the axes read ``UMAP1``/``UMAP2`` (``tSNE1``/``tSNE2``). ``ax`` (a matplotlib Axes,
        for one panel: one ``color``), ``show`` and ``return_fig`` (True or False) are checked
        before any work. ``save=`` is sag's, as its other plots take it (the name is
        ``sag_embedding``; a saved figure is closed afterwards, as scanpy does).

        {save_doc}

        Categorical colours plotted together share one colour per category name (a query's
        labels and its predicted classes match where one lacks a class): a column with colours
        of its own in ``uns['{column}_colors']`` (one per category, or more) keeps them, and
        they lead, whatever the order of ``color``; the others take them, then the first
        column's; predict's ``"Unassigned"`` is grey (darker than that of missing values).
        ``edges=True`` draws the kNN graph of the latent that the UMAP was computed from
        (scanpy's would be the default ``neighbors``, of other coordinates); a t-SNE has none
        (pass ``neighbors_key=``).
        A ``layer=`` not in ``adata.layers`` is an error before any work, and so are values
        scanpy or matplotlib would refuse only after the layout was computed: ``use_raw=True``
        without ``adata.raw`` (or with ``layer=``), ``components`` other than ``"1,2"``,
        ``"2,1"``, ``"all"`` or a list of them, ``projection="3d"``, a ``legend_loc`` that is
        neither scanpy's (``"right margin"``, ``"on data"``, ``"none"``) nor matplotlib's
        legend position, a ``palette`` string that is not a matplotlib colour map (or a list or
        dict of palette entries that are not colours), a ``cmap`` matplotlib lacks, and
        ``groups`` naming a category that no categorical ``color`` column has (scanpy greys
        out every cell for it).

    Returns
    -------
    What :func:`scanpy.pl.embedding` returns: the Axes (a list for several ``color``), the
    Figure with ``return_fig=True``, or None when ``show=True``. Unless ``obsm[basis]`` has 2
    columns, writes into ``adata`` (name = ``basis`` without its ``X_`` prefix, e.g.
    ``sag_resvae``):

    ``obsm['X_{name}_umap']`` / ``obsm['X_{name}_tsne']``
        The 2-D coordinates (scanpy's ``key_added``).
    ``uns['{name}_neighbors']``, ``obsp['{name}_neighbors_distances']``,
    ``obsp['{name}_neighbors_connectivities']``
        The kNN graph (UMAP only; scanpy's ``neighbors`` with that ``key_added``).
    ``uns['X_{name}_umap']`` / ``uns['X_{name}_tsne']``
        scanpy's parameters of the 2-D embedding (scanpy stores them under the same key), with
        ``sag_basis_digest``, ``sag_random_state``, ``sag_n_neighbors`` and ``sag_row_keys``
        (a 64-bit key of each latent row, 8 bytes a cell): what the coordinates were computed
        from. The kNN graph's ``uns['{name}_neighbors']['params']`` has ``sag_basis_digest``
        too.

    Entries under these keys that sag did not write (without these parameters: a UMAP or a
    graph of your own, say, or sag's after ``anndata.concat``, which drops ``uns``) are not
    replaced: that is an error before any work, which says how to keep them. A view
    (``adata[mask]``) whose coordinates must be computed is refused too (storing them would
    turn it into a copy): plot ``adata[mask].copy()``. A view whose coordinates are there is
    plotted without storing them; its colours, though, are stored as scanpy's plots store
    them: a categorical column without ``uns['{column}_colors']`` gets scanpy's, two or more
    categorical columns plotted together get shared ones (where one of them lacks its own),
    and a column of text is made categorical. On a view, that turns it into an actual AnnData
    (anndata's ImplicitModificationWarning), as ``sc.pl.umap`` of such a view does; a view
    whose columns all have their colours stays a view.
    """
    import scanpy as sc

    check_anndata(adata)
    show, return_fig = check_plot_args(ax, show, kwargs.get("save"), return_fig)
    check_key("method", method, f"one of {METHODS}")  # an array failed in the test below
    if method not in METHODS:
        msg = f"method={method!r} must be one of {METHODS}."
        raise ValueError(msg)
    recompute = check_bool("recompute", recompute)
    _check_plot_kwargs(kwargs)
    basis = resolve_basis(adata, basis)
    if basis not in adata.obsm:
        own = basis in (_keys.EMBED_KEY, f"X_{_keys.EMBED_KEY}")  # sag.tl.embed's default
        hint = "; run sag.tl.embed(adata) first" if own else ""
        msg = (
            f"basis={basis!r} not found in adata.obsm{hint}; available: {list(adata.obsm.keys())}."
        )
        raise KeyError(msg)
    given = n_neighbors is not None
    n_neighbors, random_state = _check_numbers(15 if not given else n_neighbors, random_state)
    if given and method == "tsne":
        logger.warning(
            "n_neighbors=%d is not used by method='tsne' (scanpy's t-SNE takes a perplexity, "
            "not a kNN graph); it applies to method='umap'",
            n_neighbors,
        )
    colors = _color_names(color)
    if not (color is None or isinstance(color, str)):
        color = colors  # scanpy's own test of a list: not a pandas Index or numpy array
    _check_colors(adata, colors, kwargs.get("gene_symbols"))
    _check_groups(adata, color, colors, kwargs.get("groups"))
    if kwargs.get("groups") is not None and not isinstance(kwargs["groups"], str):
        kwargs["groups"] = list(kwargs["groups"])  # scanpy tests a list's truth: not an array's
    layer = kwargs.get("layer")
    if layer is not None:
        check_key("layer", layer, "a layer of adata.layers (or None: adata.X)")
    _check_plot_values(adata, kwargs)
    _check_one_panel(ax, colors, kwargs.get("components"))
    if layer is not None and layer not in layer_names(adata):
        msg = (
            f"layer={layer!r} not found in adata.layers; "
            f"{columns_listed(layer_names(adata), [layer], 'layers')}."
        )
        raise KeyError(msg)
    _check_color_values(adata, colors, kwargs)
    latent = _latent(adata, basis)
    if latent.shape[1] == 2:
        # already 2-D (an X_umap, a 2-D latent): a layout of it would be a UMAP of a UMAP
        if sparse.issparse(adata.obsm[basis]):
            msg = (
                f"obsm[{basis!r}] is a sparse matrix of 2 columns, which scanpy cannot draw as "
                f"it is; store it dense first: adata.obsm[{basis!r}] = "
                f"adata.obsm[{basis!r}].toarray()."
            )
            raise ValueError(msg)
        logger.info(
            "obsm[%r] has 2 columns: drawn as it is (no kNN graph or %s computed)",
            basis,
            {"umap": "UMAP", "tsne": "t-SNE"}[method],
        )
        shared_category_colors(adata, colors)
        # scanpy's name of X_umap is "umap" (axes UMAP1, UMAP2, as sc.pl.umap's), where
        # obsm has no "umap" of its own
        name = _name(basis) if _name(basis) not in adata.obsm else basis
        return _draw(adata, name, None, color, ax, show, return_fig, kwargs)
    name = _name(basis)
    key_2d = f"X_{name}_{method}"
    nkey = f"{name}_neighbors"  # not `name`: uns[name] holds tl.embed's results
    if kwargs.get("edges") and kwargs.get("neighbors_key") is None:
        if method != "umap":
            msg = (
                "edges=True draws the kNN graph the 2-D layout was computed from; a t-SNE has "
                "none here: use method='umap' (its graph of the latent), or pass neighbors_key= "
                "to draw a graph of your own."
            )
            raise ValueError(msg)
        # the graph of the latent this UMAP was computed from, not the user's default one
        kwargs["neighbors_key"] = nkey
    _check_2d_key(adata, basis, method, key_2d)
    source = {"sag_basis_digest": digest(latent)}
    if method == "umap":
        source["sag_n_neighbors"] = n_neighbors
    source["sag_random_state"] = random_state
    stored = adata.uns.get(key_2d, {}).get("params", {})
    changed = [k for k, v in source.items() if stored.get(k) != v]
    stale = key_2d in adata.obsm and bool(changed)
    subset = stale and "sag_basis_digest" in changed and rows_among(latent, stored)
    if subset:
        # every latent row is one the coordinates were computed from: a subset (or a
        # reordering) of those cells, whose 2-D rows came along, as sc.pl.umap(adata[mask])
        # keeps X_umap's
        changed.remove("sag_basis_digest")
        stale = bool(changed)
    compute = recompute or stale or key_2d not in adata.obsm
    if compute and adata.is_view:
        _refuse_view(adata, key_2d, recompute, changed)
    if compute and method == "umap":
        _check_graph_key(adata, basis, nkey, key_2d)  # before the log says it is recomputed
    if subset:
        if not compute:
            logger.info(
                "obsm[%r]: the coordinates of the cells it was computed on (recompute=True for "
                "a layout of these %d cells alone)",
                key_2d,
                adata.n_obs,
            )
    elif stale and not recompute and "sag_basis_digest" in changed:
        logger.warning(
            "obsm[%r] was computed from another obsm[%r] (other cells, or a new latent); "
            "recomputing it on these %d cells",
            key_2d,
            basis,
            adata.n_obs,
        )
    elif stale and not recompute:  # the caller's n_neighbors or random_state
        logger.info("obsm[%r] was computed with other %s; recomputing it", key_2d, changed)
    if compute:
        from ..data._checks import obs_noun  # not ..data, which loads torch

        noun = obs_noun(adata)
        source["sag_row_keys"] = np.sort(row_keys(latent))
        if method == "umap":
            neighbors(
                adata,
                noun,
                n_neighbors=n_neighbors,
                use_rep=basis,
                key_added=nkey,
                random_state=random_state,
            )
            # what the graph was computed from: tells sag's graph apart from one of the user's
            adata.uns[nkey]["params"]["sag_basis_digest"] = source["sag_basis_digest"]
            logger.info("    computing the UMAP of %s %s", f"{adata.n_obs:,}", noun)
            with still_running("UMAP"), scanpy_quiet():
                sc.tl.umap(adata, neighbors_key=nkey, key_added=key_2d, random_state=random_state)
        else:
            tsne(adata, noun, use_rep=basis, key_added=key_2d, random_state=random_state)
        params = adata.uns.setdefault(key_2d, {}).setdefault("params", {})
        params.pop("sag_model_digest", None)  # an earlier version's
        params.update(source)
    shared_category_colors(adata, colors)
    # scanpy's own labels of another basis are "X_sag_resvae_umap1"; as sc.pl.pca relabels
    # its axes, these read UMAP1 / tSNE1
    label = {"umap": "UMAP", "tsne": "tSNE"}[method]
    return _draw(adata, key_2d, label, color, ax, show, return_fig, kwargs)


def _draw(adata: AnnData, key: str, label: str | None, color, ax, show, return_fig, kwargs):
    """``sc.pl.embedding`` of ``obsm[key]``, its axes labelled ``{label}1`` / ``{label}2``
    (scanpy's own labels with None), saved as scanpy's ``save=`` does."""
    import scanpy as sc

    save = kwargs.pop("save", None)
    if return_fig:
        # save=False: sag saves the figure itself, under its own name (scanpy's autosave would
        # write a second file)
        fig = sc.pl.embedding(
            adata, basis=key, color=color, ax=ax, return_fig=True, save=False, **kwargs
        )
        if label is not None:
            _relabel(fig.axes, label)
        plain_text(fig.axes, keep_title=kwargs.get("title") is not None)
        save_figure(fig, "sag_embedding", save)
        return fig
    axs = sc.pl.embedding(adata, basis=key, color=color, ax=ax, show=False, save=False, **kwargs)
    if label is not None:
        _relabel(axs if isinstance(axs, list) else [axs], label)
    first = axs[0] if isinstance(axs, list) else axs
    return finish(
        root_figure(first),
        axs,
        show,
        False,
        save,
        "sag_embedding",
        keep_title=kwargs.get("title") is not None,
    )


def _check_plot_kwargs(kwargs: dict) -> None:
    """A TypeError, before any graph or layout is computed (and written), for a keyword that
    neither scanpy's ``sc.pl.embedding`` nor matplotlib's ``scatter`` takes: a typo such as
    ``colr=`` failed inside matplotlib after the UMAP."""
    import difflib
    import inspect

    import scanpy as sc
    from matplotlib.artist import ArtistInspector
    from matplotlib.axes import Axes
    from matplotlib.collections import PathCollection

    inspector = ArtistInspector(PathCollection)
    known = {*inspect.signature(sc.pl.embedding).parameters, *inspector.get_setters()}
    known |= set(inspect.signature(Axes.scatter).parameters)
    known |= {alias for aliases in inspector.aliasd.values() for alias in aliases}
    known -= {"self", "kwargs", "x", "y"}
    unknown = [k for k in kwargs if k not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        msg = (
            f"sag.pl.embedding got an unexpected keyword argument {unknown[0]!r}{hint}: extra "
            "keywords go to scanpy's sc.pl.embedding and matplotlib's scatter."
        )
        raise TypeError(msg)


def _check_numbers(n_neighbors, random_state) -> tuple[int, int]:
    """``n_neighbors`` (an integer of at least 2) and ``random_state`` (a seed, as
    :func:`~scautogenome._settings.resolve_seed` takes it but not None) as Python ints; a clear
    error, before any work, for anything else."""
    n_neighbors = check_int_at_least("n_neighbors", n_neighbors, 2)
    if random_state is None:
        msg = "random_state=None must be an integer (the seed of the 2-D layout)."
        raise TypeError(msg)
    try:
        random_state = resolve_seed(random_state)
    except (TypeError, ValueError) as e:  # its message names it seed=
        raise type(e)(str(e).replace("seed=", "random_state=", 1)) from None
    return n_neighbors, random_state


def _color_names(color) -> list:
    """``color`` as a list of names: None, a name, or a list, tuple, pandas Index or numpy
    array of names, as scanpy's ``sc.pl.embedding`` takes it; a TypeError naming ``color=``
    for anything else (a number, a dict, a 2-D array)."""
    if color is None:
        return []
    if isinstance(color, str):
        return [color]
    if (
        isinstance(color, Iterable)
        and not isinstance(color, (bytes, Mapping))
        and np.ndim(np.asarray(color, dtype=object)) == 1
    ):
        return list(color)
    msg = (
        f"color={color!r} must be the name of an obs column or a gene, a list (tuple, pandas "
        "Index, numpy array) of them, or None."
    )
    raise TypeError(msg)


def _check_plot_values(adata: AnnData, kwargs: dict) -> None:
    """An error naming the argument, before any graph or layout is computed (and written),
    for a value of scanpy's keywords that scanpy or matplotlib would refuse only when drawing:
    ``use_raw``, ``components`` (of a 2-D layout), ``projection``, ``legend_loc``,
    ``palette`` and ``cmap`` (``color_map``)."""
    use_raw = kwargs.get("use_raw")
    if use_raw is not None:
        use_raw = check_bool("use_raw", use_raw)
    if use_raw and kwargs.get("layer") is not None:
        msg = (
            f"use_raw=True and layer={kwargs['layer']!r} cannot go together: scanpy colours by "
            "adata.raw or by a layer; pass one of them."
        )
        raise ValueError(msg)
    if use_raw and adata.raw is None:
        msg = (
            "use_raw=True but adata.raw is None; pass use_raw=False (or leave it None) to "
            "colour by the genes of adata.X."
        )
        raise ValueError(msg)
    _check_components(kwargs.get("components"))
    if kwargs.get("projection", "2d") != "2d":
        msg = (
            f"projection={kwargs['projection']!r}: the layout has 2 dimensions; leave "
            "projection='2d'."
        )
        raise ValueError(msg)
    _check_legend_loc(kwargs.get("legend_loc", "right margin"))
    _check_palette(kwargs.get("palette"))
    check_cmap(kwargs.get("cmap"))
    check_cmap(kwargs.get("color_map"), "color_map")  # scanpy's older name of cmap


def _check_one_panel(ax, colors: list, components) -> None:
    """A ValueError, before any graph or layout is computed (and written), for ``ax=`` beside
    several panels: several ``color`` names, or a list of several ``components``, which
    scanpy refuses only when drawing, after the layout."""
    if ax is None:
        return
    n_pairs = len(components) if isinstance(components, (list, tuple)) else 1
    n = max(len(colors), 1) * n_pairs
    if n > 1:
        why = [f"color= ({len(colors)} names)"] if len(colors) > 1 else []
        why += [f"components= ({n_pairs} pairs)"] if n_pairs > 1 else []
        msg = (
            f"ax= draws one panel, but {' and '.join(why)} make{'s' if len(why) == 1 else ''} "
            f"{n} panels: leave ax=None for a figure of them all, or plot one at a time into "
            "your Axes."
        )
        raise ValueError(msg)


def _check_components(components) -> None:
    """A ValueError for ``components`` (scanpy's 1-based ``"x,y"`` strings) other than None,
    ``"all"``, ``"1,2"``, ``"2,1"`` (or ``"1,1"``...) or a list of them: a 2-D layout has
    components 1 and 2 (scanpy's IndexError, ``components="2,3"``, came after the layout)."""
    if components is None or components == "all":
        return
    given = [components] if isinstance(components, str) else components
    try:
        pairs = [str(c).split(",") for c in given]
        ok = bool(pairs) and all(
            isinstance(c, str) and len(p) == 2 and all(x.strip() in ("1", "2") for x in p)
            for c, p in zip(given, pairs)
        )
    except TypeError:  # not iterable
        ok = False
    if not ok:
        msg = (
            f"components={components!r} must be '1,2', '2,1', 'all' or a list of them: the "
            "2-D layout has components 1 and 2."
        )
        raise ValueError(msg)


def _check_legend_loc(loc) -> None:
    """A ValueError for a ``legend_loc`` that is neither None, scanpy's own
    (:data:`SCANPY_LEGEND_LOCS`) nor a position matplotlib's ``Axes.legend(loc=)`` takes (a
    name of ``Legend.codes``, an integer from 0 to 10, an (x, y) pair)."""
    from matplotlib.legend import Legend

    if loc is None or (isinstance(loc, str) and loc in {*SCANPY_LEGEND_LOCS, *Legend.codes}):
        return
    if isinstance(loc, int) and 0 <= loc <= 10:
        return
    if isinstance(loc, (tuple, list)) and len(loc) == 2 and all(isinstance(x, Real) for x in loc):
        return
    msg = (
        f"legend_loc={loc!r} is not a legend position scanpy or matplotlib takes: one of "
        f"{', '.join(map(repr, SCANPY_LEGEND_LOCS))} (scanpy's), None, one of matplotlib's "
        f"({', '.join(map(repr, Legend.codes))}), an integer from 0 to 10 or an (x, y) pair "
        "of axes fractions."
    )
    raise ValueError(msg)


def _check_palette(palette) -> None:
    """A ValueError for a ``palette`` scanpy would refuse when drawing: a string that is not
    a matplotlib colour map (scanpy reads any other string as a list of its letters), or a
    list or dict with an entry that is not a colour (nor one of scanpy's extra colour names).
    None and a cycler are left to scanpy."""
    import matplotlib as mpl
    from matplotlib.colors import is_color_like

    if palette is None:
        return
    if isinstance(palette, str):
        if palette in mpl.colormaps:
            return
        msg = (
            f"palette={palette!r} is not a matplotlib colour map, the only string scanpy "
            "builds a palette from (e.g. 'Set1', 'tab20'; see matplotlib.colormaps); or pass "
            "a list of colours, or a dict of category -> colour."
        )
        raise ValueError(msg)
    # scanpy's names of further colours (R's, e.g. 'gold2'), private: additional_colors in
    # scanpy 1.11, _ADDITIONAL_COLORS in 1.12
    try:
        from scanpy.plotting import _utils as scanpy_utils
    except ImportError:  # a scanpy that moved it: its own check
        return
    additional_colors = getattr(scanpy_utils, "additional_colors", None)
    if additional_colors is None:
        additional_colors = getattr(scanpy_utils, "_ADDITIONAL_COLORS", None)
    if additional_colors is None:
        return  # another scanpy: its own check
    if isinstance(palette, Mapping):
        entries = list(palette.values())
    elif isinstance(palette, Sequence):
        entries = list(palette)
    else:
        return
    for entry in entries:
        if not (is_color_like(entry) or (isinstance(entry, str) and entry in additional_colors)):
            msg = (
                f"palette={palette!r}: {entry!r} is not a colour; pass matplotlib colours "
                "(a name such as 'tab:blue', a hex string, an RGB(A) tuple)."
            )
            raise ValueError(msg)


def _latent(adata: AnnData, basis: str) -> np.ndarray:
    """The values of ``obsm[basis]`` as a dense array (a sparse one densified, as
    :func:`~scautogenome.tl.embedding_scores` does: cells x a few dimensions is small); an
    error, before any work, for one that holds no numbers or holds NaN or infinite values
    (scikit-learn's 'Input X contains NaN' came from inside the kNN graph)."""
    from ..data._checks import obs_noun  # not ..data, which loads torch

    values = adata.obsm[basis]
    latent = np.asarray(values.toarray() if sparse.issparse(values) else values)
    if latent.ndim != 2 or not (
        np.issubdtype(latent.dtype, np.number) or np.issubdtype(latent.dtype, np.bool_)
    ):
        msg = (
            f"obsm[{basis!r}] must hold numbers, one row a cell (a latent space); it holds "
            f"{latent.dtype} values of shape {latent.shape}."
        )
        raise TypeError(msg)
    bad = ~np.isfinite(latent).all(axis=1)
    if bad.any():
        noun = obs_noun(adata)
        msg = (
            f"obsm[{basis!r}] holds NaN or infinite values in {int(bad.sum()):,} of the "
            f"{adata.n_obs:,} {noun} (the first: {str(adata.obs_names[np.argmax(bad)])!r}); a "
            f"2-D layout needs finite values: fix them, or plot the other {noun} "
            f"(adata[mask].copy())."
        )
        raise ValueError(msg)
    return latent


def _check_colors(adata: AnnData, colors: list, gene_symbols: str | None) -> None:
    """A KeyError, before any work, for a ``color`` that is neither an ``obs`` column nor a
    gene (``var_names``, ``raw.var_names``, or a value of the ``gene_symbols`` column), which
    scanpy would find only after the 2-D coordinates were computed and stored."""
    check_gene_symbols(adata, gene_symbols)
    known = set(adata.obs.columns) | set(adata.var_names)
    if adata.raw is not None:
        known |= set(adata.raw.var_names)
    if gene_symbols is not None:
        known |= set(adata.var[gene_symbols].dropna())
    both = [c for c in colors if c in adata.obs.columns and c in adata.var_names]
    if both:
        msg = (
            f"color={both[0]!r} is both a column of adata.obs and a gene in adata.var_names, "
            "which anndata cannot tell apart; rename the obs column (adata.obs.rename(columns="
            f"{{{both[0]!r}: {both[0] + '_obs'!r}}}, inplace=True)) and colour by the name you "
            "mean, or colour by the gene's symbol with gene_symbols= where it differs."
        )
        raise ValueError(msg)
    missing = [c for c in colors if c is not None and c not in known]
    if missing:
        where = ["adata.var_names"]
        where += ["adata.raw.var_names"] if adata.raw is not None else []
        where += [f"adata.var[{gene_symbols!r}]"] if gene_symbols is not None else []
        where = " or ".join(where)
        msg = (
            f"color={missing[0]!r} is neither a column of adata.obs nor a gene in {where}; "
            f"obs: {columns_listed(adata.obs.columns, missing[:1])}."
        )
        raise KeyError(msg)


def _check_color_values(adata: AnnData, colors: list, kwargs: dict) -> None:
    """An error, before any work, for a ``color`` (known to be a column or a gene) whose
    values scanpy would fail to read or draw after the 2-D layout was computed and stored:
    a gene missing where scanpy reads genes (``adata.raw`` by default where there is one and
    no ``layer=``, else ``layer=`` or ``adata.X``), from an X that is None, or of a boolean
    matrix; a nullable boolean column; a column mixing text with other values."""
    layer, symbols = kwargs.get("layer"), kwargs.get("gene_symbols")
    use_raw = kwargs.get("use_raw")
    if use_raw is None:  # scanpy's default
        use_raw = layer is None and adata.raw is not None
    raw = bool(use_raw) and adata.raw is not None
    where = "adata.raw" if raw else "adata.X" if layer is None else f"adata.layers[{layer!r}]"
    matrix = ...  # read for the first gene colour only: a view's matrix is made on reading
    for c in dict.fromkeys(c for c in colors if c is not None):
        if c in adata.obs.columns:
            _check_obs_color(adata.obs[c], c, kwargs.get("sort_order", True))
            continue
        name = c  # a gene symbol: scanpy looks it up in adata.var, then reads its var name
        if c not in adata.var_names and symbols is not None:
            named = adata.var_names[(adata.var[symbols] == c).to_numpy()]
            if not len(named):
                msg = (
                    f"color={c!r}: with gene_symbols={symbols!r} scanpy looks a gene up in "
                    f"adata.var_names or adata.var[{symbols!r}], and {c!r} is in neither (it "
                    "is a gene of adata.raw); colour by it without gene_symbols=."
                )
                raise KeyError(msg)
            name = named[0]
        if raw and name not in adata.raw.var_names:
            msg = (
                f"color={c!r} is not a gene of adata.raw, where scanpy reads genes' values by "
                "default when adata.raw is set; colour by adata.X's with use_raw=False."
            )
            raise KeyError(msg)
        if not raw and name not in adata.var_names:
            msg = (
                f"color={c!r} is only in adata.raw, and scanpy reads genes' values from {where} "
                "here; colour by adata.raw's with use_raw=True (and no layer=)."
            )
            raise KeyError(msg)
        if matrix is ...:
            matrix = adata.raw.X if raw else adata.X if layer is None else adata.layers[layer]
        if matrix is None:
            pick = f"layer={next(iter(adata.layers))!r}" if adata.layers else "a layer="
            msg = (
                f"color={c!r}: adata.X is None, so scanpy has no values of the gene to colour "
                f"by; pass {pick}."
            )
            raise ValueError(msg)
        if np.dtype(matrix.dtype) == np.bool_:
            msg = (
                f"color={c!r}: {where} is boolean, whose genes scanpy cannot colour by; store "
                f"it as numbers, e.g. adata.layers['values'] = {where}.astype(np.float32) "
                "(a sparse one stays sparse), and pass layer='values'."
            )
            raise ValueError(msg)


def _check_obs_color(values: pd.Series, c: str, sort_order: bool) -> None:
    """A ValueError for an obs column scanpy cannot draw: a nullable boolean, whose cells it
    sorts by ``-values`` (with ``sort_order``), or text mixed with other values."""
    fix = f"make it categorical: adata.obs[{c!r}] = adata.obs[{c!r}].astype('category')"
    if sort_order and isinstance(values.dtype, pd.BooleanDtype):
        msg = (
            f"color={c!r}: obs[{c!r}] is a nullable boolean column (pandas 'boolean'), which "
            f"scanpy cannot draw; {fix}."
        )
        raise ValueError(msg)
    if values.dtype == object:
        present = values.dropna()
        text = present.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
        if text.any() and not text.all():
            msg = (
                f"color={c!r}: obs[{c!r}] mixes text with other values (e.g. "
                f"{present[~text].iloc[0]!r} beside {present[text].iloc[0]!r}), which scanpy "
                f"cannot draw; {fix}."
            )
            raise ValueError(msg)


def _check_groups(adata: AnnData, color, colors: list, groups) -> None:
    """A ValueError, before any work, for ``groups`` (scanpy's highlighted categories) naming
    a category that none of the categorical ``color`` columns has, or given with none: scanpy
    greys out every cell for it and says nothing."""
    if groups is None:
        return
    names = [groups] if isinstance(groups, str) else list(groups)
    # scanpy's categorical colours: a categorical column, or text it makes one (numbers and
    # booleans are drawn on a colour scale, where groups= does nothing)
    columns = [
        c
        for c in dict.fromkeys(colors)
        if c in adata.obs.columns
        and (
            isinstance(adata.obs[c].dtype, pd.CategoricalDtype)
            or not (
                pd.api.types.is_numeric_dtype(adata.obs[c])
                or pd.api.types.is_bool_dtype(adata.obs[c])
            )
        )
    ]
    if not columns:
        msg = (
            f"groups={groups!r}: groups= highlights categories of a categorical obs column "
            f"given as color=, and color={color!r} names none."
        )
        raise ValueError(msg)
    known = set()
    for c in columns:
        values = adata.obs[c]
        known |= set(
            values.cat.categories
            if isinstance(values.dtype, pd.CategoricalDtype)
            else values.dropna().unique()
        )
    missing = [g for g in names if g not in known]
    if missing:
        shown = ", ".join(repr(c) for c in columns)
        listed = sorted(known, key=str)  # as they are: the number 1 is not the text '1'
        more = f", ... ({len(listed)} in all)" if len(listed) > 10 else ""
        msg = (
            f"groups={groups!r}: {missing[0]!r} is a category of none of the coloured columns "
            f"({shown}), whose categories are {', '.join(map(repr, listed[:10]))}{more}."
        )
        raise ValueError(msg)


def _refuse_view(adata: AnnData, key_2d: str, recompute: bool, changed: list) -> None:
    """Refuse, before any work, to compute the 2-D coordinates of a view: storing them would
    turn it into a copy, as :func:`~scautogenome.data._checks.check_adata` refuses for sag.tl."""
    from ..data._checks import view_as_object  # not ..data, which loads torch

    if recompute:
        why = "recompute=True"
    elif key_2d not in adata.obsm:
        why = f"obsm[{key_2d!r}] is not there"
    elif "sag_basis_digest" in changed:
        why = f"obsm[{key_2d!r}] was computed from other cells or another latent"
    else:
        names = ", ".join(c.removeprefix("sag_") for c in changed)  # random_state, ...
        why = f"obsm[{key_2d!r}] was computed with other {names}"
    msg = (
        f"adata is a view of another AnnData (e.g. adata[mask]) whose 2-D coordinates must be "
        f"computed ({why}); sag.pl.embedding stores them in adata and will not silently turn "
        f"a view into a copy. Plot an actual object, e.g. {view_as_object(adata)}, or plot the "
        "whole AnnData first (a subset of its cells then keeps its coordinates)."
    )
    raise ValueError(msg)


def _is_sag_params(record) -> bool:
    """Whether ``record`` (an ``uns`` entry) carries the parameters sag writes with the 2-D
    coordinates or the kNN graph it computes (``sag_basis_digest``, ``sag_random_state``, ...;
    an earlier version's ``sag_model_digest``)."""
    return (
        isinstance(record, dict)
        and isinstance(record.get("params"), dict)
        and any(str(k).startswith("sag_") for k in record["params"])
    )


_COPY_HINT = (
    "or plot a copy of the latent under another obsm key (adata.obsm['X_mine'] = "
    "adata.obsm[{basis!r}], then basis='X_mine'), whose keys are its own."
)


def _check_2d_key(adata: AnnData, basis: str, method: str, key_2d: str) -> None:
    """Refuse, before any work, an ``obsm[key_2d]`` or ``uns[key_2d]`` that sag did not write
    (no sag parameters in ``uns[key_2d]['params']``): computing the layout would replace it."""
    _refuse_unwritten(
        adata,
        [key_2d],
        [("obsm", key_2d), ("uns", key_2d)],
        f"its coordinates (uns[{key_2d!r}]['params']['sag_basis_digest'])",
        f"sag.pl.embedding(basis={basis!r}, method={method!r}) would replace",
        "to keep {it}, rename {it}, ",
        basis,
    )


def _check_graph_key(adata: AnnData, basis: str, nkey: str, key_2d: str) -> None:
    """Refuse, before computing the kNN graph, an ``uns[nkey]`` or ``obsp['{nkey}_...']`` that
    sag did not write: ``sc.pp.neighbors(key_added=nkey)`` would replace it. A graph whose
    UMAP (``uns[key_2d]``) is sag's is sag's too (graphs written before sag marked its own)."""
    _refuse_unwritten(
        adata,
        [nkey, key_2d],
        [("uns", nkey), ("obsp", f"{nkey}_distances"), ("obsp", f"{nkey}_connectivities")],
        f"its kNN graph (uns[{nkey!r}]['params']['sag_basis_digest'])",
        f"sag.pl.embedding(basis={basis!r}) computes the UMAP's graph there and would replace",
        "to keep {it}, rename {it}, use method='tsne', ",
        basis,
    )


def _refuse_unwritten(
    adata: AnnData, marks: list, entries: list, stores: str, replaces: str, ways: str, basis: str
) -> None:
    """A ValueError naming those of ``entries`` (``(attribute, key)`` pairs) that ``adata``
    holds, unless an ``uns`` entry of ``marks`` carries sag's parameters (then they are sag's);
    ``stores``, ``replaces`` and ``ways`` (with ``{it}``) fill its sentences."""
    if any(_is_sag_params(adata.uns.get(key)) for key in marks):
        return
    theirs = [f"adata.{where}[{key!r}]" for where, key in entries if key in getattr(adata, where)]
    if theirs:
        it = "it" if len(theirs) == 1 else "them"
        msg = (
            f"{' and '.join(theirs)} exist{'s' if len(theirs) == 1 else ''} without sag's "
            f"record of {stores}: not written by sag.pl.embedding, or its record in uns was "
            f"lost (anndata.concat, for one, drops uns); {replaces} {it}, so it refuses. "
            f"If {it} {'is' if it == 'it' else 'are'} sag's, delete {it} "
            f"({'; '.join('del ' + t for t in theirs)}) and sag computes {it} anew; "
            + ways.format(it=it)
            + _COPY_HINT.format(basis=basis)
        )
        raise ValueError(msg)


def _relabel(axes, label: str) -> None:
    """Axis labels ``{label}1`` / ``{label}2`` on the panels of a 2-D embedding (a colorbar's
    Axes, which has no such label, is left as it is)."""
    for ax in axes:
        if ax.get_xlabel():
            ax.set_xlabel(f"{label}1")
        if ax.get_ylabel():
            ax.set_ylabel(f"{label}2")
