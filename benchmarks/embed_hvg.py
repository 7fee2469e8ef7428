"""Res-VAE embedding on all genes against 2,000 highly variable genes, same budget.

pbmc3k (2,638 cells x 32,738 genes, raw counts): ``sag.tl.embed(n_trials=1,
time_budget=120, seed=0)`` once on all genes and once after
``sc.pp.highly_variable_genes(n_top_genes=2000, flavor="seurat_v3", subset=True)``; both
latents scored with ``sag.tl.embedding_scores`` (three Leiden runs) against ``obs['label']``.

Usage (about 3 minutes on 2 CPU cores)::

    OMP_NUM_THREADS=1 python benchmarks/embed_hvg.py --out benchmarks/embed_hvg.jsonl
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

from _common import DATA, emit, git_state


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="pbmc3k_10x_seurat_labels")
    ap.add_argument("--time-budget", type=float, default=120.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="append one JSON line per run here")
    args = ap.parse_args()

    import anndata as ad
    import scanpy as sc

    import scautogenome as sag

    sag.settings.verbosity = 1
    adata = ad.read_h5ad(DATA / f"{args.dataset}.h5ad")
    stamp = {
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "dataset": args.dataset,
        "time_budget": args.time_budget,
        "seed": args.seed,
        **git_state(),
    }
    for genes in ("all", "hvg2000"):
        b = adata.copy()
        if genes == "hvg2000":
            sc.pp.highly_variable_genes(b, n_top_genes=2000, flavor="seurat_v3", subset=True)
        t = time.perf_counter()
        sag.tl.embed(b, n_trials=1, time_budget=args.time_budget, seed=args.seed)
        seconds = time.perf_counter() - t
        scores = sag.tl.embedding_scores(b, "X_sag_resvae", "label", leiden_seeds=3)
        trial = b.uns["sag_resvae"]["trials"].iloc[0]
        rec = {
            **stamp,
            "genes": genes,
            "n_vars": b.n_vars,
            "seconds": round(seconds, 1),
            "epochs": int(trial["epochs"]),
            "stopped": str(trial["stopped"]),
            **{k: round(scores[k], 4) for k in ("ari", "nmi", "davies_bouldin")},
        }
        emit(rec, args.out)


if __name__ == "__main__":
    main()
