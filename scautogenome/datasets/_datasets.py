from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse


def pbmc68k_reduced():
    """scanpy's bundled 700 PBMCs with log-normalized expression of 765 genes.

    ``X`` holds the log-normalized values of ``adata.raw`` (scanpy's own ``X`` is z-scored);
    labels are ``obs['bulk_labels']`` (10 cell types). Needs no download.

    Returns
    -------
    AnnData of 700 cells x 765 genes (``X`` sparse CSR, float32) with ``obs`` columns
    ``bulk_labels`` (categorical), ``louvain``, ``n_genes`` and ``n_counts``.
    """
    import anndata as ad
    import scanpy as sc

    full = sc.datasets.pbmc68k_reduced()
    raw = full.raw.to_adata()
    adata = ad.AnnData(
        X=sparse.csr_matrix(
            np.asarray(raw.X.toarray() if sparse.issparse(raw.X) else raw.X, dtype=np.float32)
        ),
        obs=full.obs[["bulk_labels", "louvain", "n_genes", "n_counts"]].copy(),
        var=pd.DataFrame(index=raw.var_names.copy()),
    )
    adata.obs["bulk_labels"] = adata.obs["bulk_labels"].astype("category")
    adata.uns["provenance"] = "scanpy.datasets.pbmc68k_reduced(), X = log-normalized raw"
    return adata


def synthetic(
    n_obs: int = 300,
    n_vars: int = 200,
    n_classes: int = 3,
    *,
    counts: bool = True,
    n_markers: int = 10,
    seed: int = 0,
    sparse_format: str | None = "csr",
):
    """A small seeded AnnData with ``n_classes`` classes separated by marker genes.

    Every gene has a base rate drawn from a Gamma(2, 1) distribution; class ``k``
    over-expresses genes ``k*n_markers ... (k+1)*n_markers-1`` six-fold.

    Parameters
    ----------
    n_obs
        Number of cells; the classes are as balanced as ``n_obs`` allows, in shuffled order.
    n_vars
        Number of genes (``gene_0``, ``gene_1``, ...). Genes past ``n_classes * n_markers``
        carry no class signal.
    n_classes
        Number of classes (``obs['label']``: ``type_0``, ``type_1``, ...; categorical).
    counts
        True (default): Poisson counts (float32 whole numbers). False: continuous values,
        ``log1p`` of those counts plus Gaussian noise (standard deviation 0.1).
    n_markers
        Marker genes per class.
    seed
        Seed of every draw: the same arguments give the same AnnData.
    sparse_format
        ``"csr"`` (default) or ``"csc"``: ``X`` as that scipy sparse matrix; None: a dense
        numpy array.

    Returns
    -------
    AnnData of ``n_obs`` cells (``cell_0``, ...) x ``n_vars`` genes with ``obs['label']``.
    """
    import anndata as ad

    from .._utils import check_bool, check_int_at_least, check_positive_int, is_one_of

    n_obs = check_positive_int("n_obs", n_obs)
    n_vars = check_positive_int("n_vars", n_vars)
    n_classes = check_positive_int("n_classes", n_classes)
    n_markers = check_int_at_least("n_markers", n_markers, 0)
    counts = check_bool("counts", counts)
    if sparse_format is not None and not is_one_of(sparse_format, ("csr", "csc")):
        msg = f"sparse_format={sparse_format!r} must be 'csr', 'csc' or None (a dense array)."
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    labels = np.arange(n_obs) % n_classes
    rng.shuffle(labels)
    rate = rng.gamma(2.0, 1.0, size=n_vars)
    lam = np.tile(rate, (n_obs, 1))
    for k in range(n_classes):
        genes = slice(k * n_markers, (k + 1) * n_markers)
        lam[labels == k, genes] *= 6.0
    X = rng.poisson(lam).astype(np.float32)
    if not counts:
        X = np.log1p(X) + rng.normal(0, 0.1, X.shape).astype(np.float32)
    if sparse_format is not None:
        X = sparse.csr_matrix(X) if sparse_format == "csr" else sparse.csc_matrix(X)
    obs = pd.DataFrame(
        {"label": pd.Categorical([f"type_{k}" for k in labels])},
        index=[f"cell_{i}" for i in range(n_obs)],
    )
    var = pd.DataFrame(index=[f"gene_{j}" for j in range(n_vars)])
    return ad.AnnData(X=X, obs=obs, var=var)
