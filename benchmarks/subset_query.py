"""Label transfer to a counts query that holds only some of the model's genes.

A counts model normalizes each cell to 1e4 counts before log1p. A query that lacks genes (a
``*_top2000`` file of highly variable genes) used to have each cell's total taken over the
genes it has, which held 27% of a training cell's counts here: every present gene was read
about 3.7x too high. Since 2026-12-05 that total is divided by the present genes' share of
the training cells' counts (``InputTransform.coverage``). This script measures what a user
gets, against a peer run in the same script.

pbmc3k (``../shared/data/pbmc3k_10x_seurat_labels.h5ad``, raw counts, genes in at least 3
cells, the 10 Platelet cells left out) is split 50/50, stratified by label (seed 0). A
classifier is searched on the reference half (all genes; mlp, ``--trials`` trials within
``--budget`` s, 15 epochs at most, per ``--seeds`` seed) and predicts the query half with all
its genes, then with its 2,000 highly variable genes only (scanpy's ``seurat`` flavour on the
log-normalized cells of both halves). Peer: scikit-learn's ``LogisticRegression`` on
log-normalized cells (CellTypist's core), fitted on the reference, predicting the query's
shared genes normalized over the genes the query has (what it gets from the same file) and
over all genes (an oracle: the query's true depth).

Usage (not part of CI; about 3 minutes on 2 CPU cores)::

    OMP_NUM_THREADS=1 python benchmarks/subset_query.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

import anndata as ad
import numpy as np
import scanpy as sc
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import scautogenome as sag

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def lognorm(a: ad.AnnData) -> ad.AnnData:
    b = a.copy()
    sc.pp.normalize_total(b, target_sum=1e4)
    sc.pp.log1p(b)
    return b


def peer(ref: ad.AnnData, query: ad.AnnData) -> np.ndarray:
    """LogisticRegression on the genes both have, both log-normalized as given."""
    genes = ref.var_names.intersection(query.var_names)
    model = LogisticRegression(max_iter=300).fit(ref[:, genes].X, ref.obs["label"].astype(str))
    return model.predict(query[:, genes].X)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--budget", type=float, default=40.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    sag.settings.verbosity = 0
    full = ad.read_h5ad(DATA / "pbmc3k_10x_seurat_labels.h5ad")
    sc.pp.filter_genes(full, min_cells=3)
    full = full[full.obs["label"] != "Platelet"].copy()
    ref_rows, query_rows = train_test_split(
        np.arange(full.n_obs), test_size=0.5, stratify=full.obs["label"], random_state=0
    )
    ref, query = full[ref_rows].copy(), full[query_rows].copy()
    hvg = sc.pp.highly_variable_genes(lognorm(full), n_top_genes=2000, inplace=False)
    top = full.var_names[hvg["highly_variable"].to_numpy()]
    truth = query.obs["label"].astype(str).to_numpy()
    held = float(ref[:, top].X.sum() / ref.X.sum())
    print(
        f"reference {ref.n_obs} cells, query {query.n_obs} cells, {full.n_vars} genes; the "
        f"top 2,000 genes hold {held:.1%} of the reference's counts"
    )
    print("| method | query genes | accuracy | mean confidence |")
    print("|---|---|---|---|")
    config = sag.config.default("mlp")
    config["trainer"]["max_epochs"] = 15
    for seed in args.seeds:
        model = sag.tl.classify(
            ref.copy(),
            "label",
            n_trials=args.trials,
            time_budget=args.budget,
            config=config,
            seed=seed,
        )
        for name, part in (("all", query), ("top 2,000", query[:, top].copy())):
            sag.tl.predict(part, model, min_gene_overlap=0.1)
            accuracy = float((part.obs["sag_pred"].astype(str).to_numpy() == truth).mean())
            confidence = float(part.obs["sag_confidence"].mean())
            print(f"| sag (seed {seed}) | {name} | {accuracy:.3f} | {confidence:.3f} |")
    ref_log = lognorm(ref)
    for name, part in (
        ("all", lognorm(query)),
        ("top 2,000, normalized over them", lognorm(query[:, top].copy())),
        ("top 2,000, normalized over all genes (oracle)", lognorm(query)[:, top].copy()),
    ):
        accuracy = float((peer(ref_log, part) == truth).mean())
        print(f"| LogisticRegression | {name} | {accuracy:.3f} | |")


if __name__ == "__main__":
    main()
