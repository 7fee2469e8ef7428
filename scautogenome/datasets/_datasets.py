from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse


def pbmc68k_reduced():
    """scanpy's bundled 700 PBMCs with log-normalized expression of 765 genes.

    ``X`` holds the log-normalized values of ``adata.raw`` (scanpy's own ``X`` is z-scored);
    labels are ``obs['bulk_labels']`` (10 cell types). Needs no download.
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

    Class ``k`` over-expresses genes ``k*n_markers ... (k+1)*n_markers-1``. ``counts=True``
    draws Poisson counts, else log-normal continuous values.
    """
    import anndata as ad

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
