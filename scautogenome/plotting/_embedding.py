"""UMAP / t-SNE view of a learned latent space, through scanpy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .. import _keys
from .._settings import keep_torch_threads, logger
from .._utils import digest, neighbors, resolve_basis, tsne

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
        :func:`~scautogenome.tl.embed` under the same key), when ``random_state`` did or, for
        UMAP, when ``n_neighbors`` did.
    random_state
        Seed of the neighbors, UMAP and t-SNE.
    ax, show, return_fig, kwargs
        Passed to :func:`scanpy.pl.embedding`.

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
        ``sag_basis_digest``, ``sag_random_state`` and ``sag_n_neighbors``: what the
        coordinates were computed from.
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
    stale = key_2d in adata.obsm and any(stored.get(k) != v for k, v in source.items())
    if stale and not recompute:
        logger.info("obsm[%r] was computed from another %s; recomputing it", key_2d, basis)
    if recompute or stale or key_2d not in adata.obsm:
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
        adata.uns.setdefault(key_2d, {}).setdefault("params", {}).update(source)
    return sc.pl.embedding(
        adata, basis=key_2d, color=color, ax=ax, show=show, return_fig=return_fig, **kwargs
    )
