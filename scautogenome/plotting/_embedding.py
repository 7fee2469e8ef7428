"""UMAP / t-SNE view of a learned latent space, through scanpy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .. import _keys
from .._settings import keep_torch_threads, logger
from .._utils import digest, neighbors, resolve_basis, tsne
from ._utils import finish, save_figure, shared_category_colors

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

METHODS = ("umap", "tsne")


def _name(basis: str) -> str:
    return basis[2:] if basis.startswith("X_") else basis


@keep_torch_threads()
def embedding(
    adata: AnnData,
    basis: str = f"X_{_keys.EMBED_KEY}",
    *,
    method: str = "umap",
    color: str | Sequence[str] | None = None,
    n_neighbors: int = 15,
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
    ``X_tsne`` and default ``neighbors`` are never overwritten.

    Parameters
    ----------
    adata
        Annotated data with the latent space in ``obsm[basis]``.
    basis
        ``obsm`` key of the latent space (as in scanpy, ``"sag_resvae"`` names
        ``obsm['X_sag_resvae']`` when there is no ``obsm['sag_resvae']``).
    method
        ``"umap"`` (kNN graph + UMAP) or ``"tsne"`` (scanpy's perplexity of 30; on 30 cells or
        fewer, which scikit-learn refuses at 30, ``max(1, (n - 1) / 3)`` with a warning).
    color
        ``obs`` column(s) or gene(s) to color by, as in :func:`scanpy.pl.embedding`.
    n_neighbors
        Neighbors of the kNN graph (UMAP only).
    recompute
        Recompute the 2-D coordinates even when they are already stored. They are also
        recomputed when ``obsm[basis]`` changed since they were (a new
        :func:`~scautogenome.tl.embed` or :func:`~scautogenome.tl.encode` under the same key,
        other cells; with a warning), when ``random_state`` did or, for UMAP, when
        ``n_neighbors`` did. A subset of the cells (``adata[mask]``), every latent row of which
        is one the coordinates were computed from, keeps its coordinates, as
        ``sc.pl.umap(adata[mask])`` keeps ``X_umap``'s.
    random_state
        Seed of the neighbors, UMAP and t-SNE.
    ax, show, return_fig, kwargs
        Passed to :func:`scanpy.pl.embedding` (``palette``, ``groups``, ``legend_loc``, ...);
        the axes read ``UMAP1``/``UMAP2`` (``tSNE1``/``tSNE2``), and ``save=`` writes
        ``{figdir}/sag_embedding{save}``, closing the figure afterwards as scanpy does.
        Categorical colours plotted together share one colour per category name (a query's
        labels and its predicted classes match where one lacks a class) unless they have colours
        of their own in ``uns['{column}_colors']``; predict's ``"Unassigned"`` is light grey.

    Returns
    -------
    What :func:`scanpy.pl.embedding` returns: the Axes (a list for several ``color``), the
    Figure with ``return_fig=True``, or None when ``show=True``. Writes into ``adata`` (name =
    ``basis`` without its ``X_`` prefix, e.g. ``sag_resvae``):

    ``obsm['X_{name}_umap']`` / ``obsm['X_{name}_tsne']``
        The 2-D coordinates (scanpy's ``key_added``).
    ``uns['{name}_neighbors']``, ``obsp['{name}_neighbors_distances']``,
    ``obsp['{name}_neighbors_connectivities']``
        The kNN graph (UMAP only; scanpy's ``neighbors`` with that ``key_added``).
    ``uns['X_{name}_umap']`` / ``uns['X_{name}_tsne']``
        scanpy's parameters of the 2-D embedding (scanpy stores them under the same key), with
        ``sag_basis_digest``, ``sag_random_state``, ``sag_n_neighbors`` and ``sag_row_keys``
        (a 64-bit key of each latent row, 8 bytes a cell): what the coordinates were computed
        from.
    """
    import scanpy as sc

    if method not in METHODS:
        msg = f"method={method!r} must be one of {METHODS}."
        raise ValueError(msg)
    basis = resolve_basis(adata, basis)
    if basis not in adata.obsm:
        msg = (
            f"basis={basis!r} not found in adata.obsm; run sag.tl.embed(adata) first. "
            f"Available: {list(adata.obsm.keys())}."
        )
        raise KeyError(msg)
    name = _name(basis)
    key_2d = f"X_{name}_{method}"
    nkey = f"{name}_neighbors"  # not `name`: uns[name] holds tl.embed's results
    source = {"sag_basis_digest": digest(adata.obsm[basis])}
    if method == "umap":
        source["sag_n_neighbors"] = int(n_neighbors)
    source["sag_random_state"] = int(random_state)
    stored = adata.uns.get(key_2d, {}).get("params", {})
    changed = [k for k, v in source.items() if stored.get(k) != v]
    stale = key_2d in adata.obsm and bool(changed)
    if stale and "sag_basis_digest" in changed and _rows_among(adata.obsm[basis], stored):
        # every latent row is one the coordinates were computed from: a subset (or a
        # reordering) of those cells, whose 2-D rows came along, as sc.pl.umap(adata[mask])
        # keeps X_umap's
        changed.remove("sag_basis_digest")
        stale = bool(changed)
        if not recompute and not stale:
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
    if recompute or stale or key_2d not in adata.obsm:
        source["sag_row_keys"] = np.sort(_row_keys(adata.obsm[basis]))
        if method == "umap":
            neighbors(
                adata,
                n_neighbors=n_neighbors,
                use_rep=basis,
                key_added=nkey,
                random_state=random_state,
            )
            sc.tl.umap(adata, neighbors_key=nkey, key_added=key_2d, random_state=random_state)
        else:
            tsne(adata, use_rep=basis, key_added=key_2d, random_state=random_state)
        params = adata.uns.setdefault(key_2d, {}).setdefault("params", {})
        params.pop("sag_model_digest", None)  # an earlier version's
        params.update(source)
    colors = [color] if isinstance(color, str) else list(color or [])
    shared_category_colors(adata, colors)
    save = kwargs.pop("save", None)
    # scanpy's own labels of another basis are "X_sag_resvae_umap1"; as sc.pl.pca relabels
    # its axes, these read UMAP1 / tSNE1
    label = {"umap": "UMAP", "tsne": "tSNE"}[method]
    if return_fig:
        fig = sc.pl.embedding(adata, basis=key_2d, color=color, ax=ax, return_fig=True, **kwargs)
        _relabel(fig.axes, label)
        save_figure(fig, "sag_embedding", save)
        return fig
    axs = sc.pl.embedding(adata, basis=key_2d, color=color, ax=ax, show=False, **kwargs)
    _relabel(axs if isinstance(axs, list) else [axs], label)
    first = axs[0] if isinstance(axs, list) else axs
    return finish(first.figure, axs, show, False, save, "sag_embedding")


def _row_keys(latent) -> np.ndarray:
    """A 64-bit key of each row of ``latent`` from the bits of its float32 values (equal rows,
    equal keys; the rows of a subset keep theirs, which a float product would not promise)."""
    rows = np.ascontiguousarray(np.asarray(latent, dtype=np.float32))
    bits = rows.view(np.uint32).astype(np.uint64)
    weights = np.arange(1, bits.shape[1] + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):  # arithmetic modulo 2**64, as intended
        keys = (bits * (weights | np.uint64(1))).sum(axis=1, dtype=np.uint64)
        keys ^= keys >> np.uint64(31)
    return keys


def _rows_among(latent, stored: dict) -> bool:
    """Whether every row of ``latent`` is one of the rows the stored coordinates were computed
    from (their keys, ``sag_row_keys``; absent in coordinates of an earlier version, or where
    merging AnnData objects of other cells dropped them)."""
    keys = np.asarray(stored.get("sag_row_keys", []), dtype=np.uint64)
    if not len(keys):
        return False
    mine = _row_keys(latent)
    return bool(np.all(keys[np.searchsorted(keys, mine).clip(max=len(keys) - 1)] == mine))


def _relabel(axes, label: str) -> None:
    """Axis labels ``{label}1`` / ``{label}2`` on the panels of a 2-D embedding (a colorbar's
    Axes, which has no such label, is left as it is)."""
    for ax in axes:
        if ax.get_xlabel():
            ax.set_xlabel(f"{label}1")
        if ax.get_ylabel():
            ax.set_ylabel(f"{label}2")
