"""Batch-correction benchmark: ``sag.tl.embed(batch_key=...)`` against scVI with ``batch_key``.

Does the Res-VAE with its decoder conditioned on the batch remove a batch effect as well as
scVI does, while keeping the cell types apart, and at what cost per epoch (as a ratio to
scVI's, timed in the same process)?

Datasets (whole files of ``../shared/data``; the shared splits are not used)
-------------------------------------------------------------------------
cellbench_5celllines_celseq2
    Real batches: ``obs['batch']`` (3 CEL-seq2 plates), ``obs['label']`` (5 cell lines), raw
    counts, 571 cells x 12,653 genes.
pbmc3k_10x_seurat_labels+simulated_batch
    A SIMULATED batch effect on pbmc3k (raw counts, 2,638 cells x 32,738 genes, 9 labels).
    A numpy generator seeded with ``SIM_SEED`` (fixed, independent of the method seeds) assigns
    the cells at random to batches "A" and "B" (half each), draws a keep probability p_g per
    gene uniformly from [0.2, 1.0], and thins every count of batch B binomially
    (``rng.binomial(count, p_g)`` on the CSR data array, which stays sparse).

Both are reduced to 2,000 highly variable genes with ``seurat_v3`` on the counts and
``batch_key="batch"``, as scvi-tools' tutorials do.

Methods (all ``n_latent=10``)
-----------------------------
pca
    normalize_total 1e4 + log1p + ``sc.pp.pca`` (no correction; the baseline).
scvi / scvi-batch
    scvi-tools ``SCVI`` with its defaults on the counts, without / with
    ``setup_anndata(batch_key="batch")``; epochs timed by a Lightning callback (median epoch).
sag / sag-batch
    ``sag.tl.embed(n_latent=10, time_budget=--time-budget, n_trials=--n-trials)`` without /
    with ``batch_key="batch"`` (the decoder sees the batch, the encoder does not);
    ``model.seconds_per_epoch_`` and the search's seconds are recorded.

Every embedding is scored by ``sag.tl.embedding_scores(adata, basis, "label",
batch_key="batch", leiden_seeds=5, seed=seed)``: ARI, NMI, Davies-Bouldin, silhouette of the
labels, and ``batch_asw`` (scib's label-aware batch silhouette; 1 = batches well mixed).

Usage (not part of CI; one torch thread)::

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/embed_batch.py --seeds 0 1 2
    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/embed_batch.py --methods pca scvi scvi-batch
    python benchmarks/embed_batch.py --report   # default: benchmarks/embed_batch_results.jsonl

Results append to ``--out``, one JSON line per (dataset, method, seed); ``--report`` keeps the
last line of each (later files supersede earlier ones).
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import time
import traceback
from pathlib import Path

# importing embed sets the thread environment (before numpy/torch load) and puts the repo on
# sys.path; it defines functions only
from embed import HERE, _epoch_timer, _fmt, append, load_results, pca_latent  # isort: skip

import numpy as np
import pandas as pd
from _common import DATA, git_state
from scipy import sparse

CELLBENCH = "cellbench_5celllines_celseq2"
PBMC_SIM = "pbmc3k_10x_seurat_labels+simulated_batch"
DATASETS = (CELLBENCH, PBMC_SIM)
METHODS = ("pca", "scvi", "scvi-batch", "sag", "sag-batch")
SIM_SEED = 0  # the simulated batches; independent of --seeds
N_HVG = 2000
BATCH_EFFECT = {
    CELLBENCH: "real: 3 CEL-seq2 plates",
    PBMC_SIM: f"simulated (seed {SIM_SEED}): half the cells in B, counts thinned "
    "binomially with a per-gene keep probability U[0.2, 1]",
}


def simulate_batches(adata, seed: int = SIM_SEED):
    """``adata`` (raw counts, CSR) with ``obs['batch']`` "A"/"B" at random (half each) and the
    counts of batch B thinned per gene: ``rng.binomial(count, p_g)``, p_g ~ U[0.2, 1.0]."""
    rng = np.random.default_rng(seed)
    n = adata.n_obs
    in_b = rng.permutation(n) < n // 2
    keep = rng.uniform(0.2, 1.0, adata.n_vars)
    X = sparse.csr_matrix(adata.X, copy=True)
    stored_b = np.repeat(in_b, np.diff(X.indptr))  # the stored values of batch B's rows
    counts = np.rint(X.data[stored_b]).astype(np.int64)
    X.data[stored_b] = rng.binomial(counts, keep[X.indices[stored_b]]).astype(X.dtype)
    X.eliminate_zeros()
    adata.X = X
    adata.obs["batch"] = pd.Categorical(np.where(in_b, "B", "A"))
    return adata


def load(name: str):
    """The dataset with ``obs['batch']`` and ``obs['label']`` as categories, reduced to
    ``N_HVG`` genes (seurat_v3 on the counts, per batch); the counts in ``X`` and in
    ``layers['counts']``."""
    import anndata as ad
    import scanpy as sc

    adata = ad.read_h5ad(DATA / f"{name.split('+')[0]}.h5ad")
    adata.X = sparse.csr_matrix(adata.X)
    if name == PBMC_SIM:
        simulate_batches(adata)
    for k in ("batch", "label"):
        adata.obs[k] = adata.obs[k].astype(str).astype("category")
    sc.pp.highly_variable_genes(
        adata, flavor="seurat_v3", n_top_genes=N_HVG, batch_key="batch", subset=True
    )
    adata.layers["counts"] = adata.X.copy()
    return adata


def scores(adata, basis: str, seed: int, leiden_seeds: int) -> dict:
    import scautogenome as sag

    t = time.perf_counter()
    out = sag.tl.embedding_scores(
        adata, basis, "label", batch_key="batch", leiden_seeds=leiden_seeds, seed=seed
    )
    return {**out, "score_seconds": time.perf_counter() - t}


def run_pca(adata, seed: int, args) -> dict:
    t = time.perf_counter()
    adata.obsm["X_pca"] = pca_latent(adata, args.n_latent, seed)
    return {"seconds": time.perf_counter() - t, "basis": "X_pca"}


def run_scvi(adata, seed: int, args, batch: bool) -> dict:
    """scVI with its defaults (as embed.py runs it), with ``batch_key="batch"`` if ``batch``."""
    import scvi

    scvi.settings.seed = seed
    scvi.settings.dl_num_workers = 0
    tmp = adata.copy()
    scvi.model.SCVI.setup_anndata(tmp, layer="counts", batch_key="batch" if batch else None)
    model = scvi.model.SCVI(tmp, n_latent=args.n_latent)
    timer = _epoch_timer()
    t = time.perf_counter()
    model.train(
        accelerator="cpu",
        devices=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        callbacks=[timer],
    )
    seconds = time.perf_counter() - t
    times = np.asarray(timer.times)
    adata.obsm["X_scvi"] = model.get_latent_representation()
    return {
        "seconds": seconds,
        "epochs": len(times),
        # the first epoch carries Lightning's start-up: the median epoch
        "seconds_per_epoch": float(np.median(times)),
        "basis": "X_scvi",
    }


def run_sag(adata, seed: int, args, batch: bool) -> dict:
    import scautogenome as sag

    kw = {"batch_key": "batch"} if batch else {}
    t = time.perf_counter()
    model = sag.tl.embed(
        adata,
        n_latent=args.n_latent,
        seed=seed,
        time_budget=args.time_budget,
        n_trials=args.n_trials,
        key_added="sag",
        **kw,
    )
    seconds = time.perf_counter() - t
    uns = adata.uns["sag"]
    return {
        "seconds": seconds,
        "search_seconds": float(uns["search_seconds"]),
        "seconds_per_epoch": float(model.seconds_per_epoch_),
        "epochs": len(uns["losses"]["epoch"]),
        "n_trials": len(uns["trials"]),
        "architecture": uns["architecture"],
        "likelihood": model.likelihood_,
        "basis": "X_sag",
    }


def run(args) -> None:
    import torch

    import scautogenome as sag

    sag.settings.n_threads = args.threads
    sag.settings.verbosity = 1
    sag.settings.progress_bar = False
    env = {"python": platform.python_version(), "torch": torch.__version__, **git_state()}
    for name in args.datasets:
        adata0 = load(name)
        for seed in args.seeds:
            for method in args.methods:
                adata = adata0.copy()
                rec = {
                    "dataset": name,
                    "batch_effect": BATCH_EFFECT[name],
                    "shape": f"{adata.n_obs}x{adata.n_vars}",
                    "n_labels": int(adata.obs["label"].nunique()),
                    "method": method,
                    "seed": seed,
                    "n_latent": args.n_latent,
                    "leiden_seeds": args.leiden_seeds,
                    "when": dt.datetime.now().isoformat(timespec="seconds"),
                    **env,
                }
                sag.settings.apply_n_threads()  # scVI and PCA too (HVGs reset torch's pool)
                rec["threads"] = torch.get_num_threads()
                print(f"[{rec['when']}] {name} {method} seed={seed}", flush=True)
                try:
                    if method == "pca":
                        out = run_pca(adata, seed, args)
                    elif method.startswith("scvi"):
                        out = run_scvi(adata, seed, args, batch=method == "scvi-batch")
                    else:
                        out = run_sag(adata, seed, args, batch=method == "sag-batch")
                    rec.update(out)
                    rec.update(scores(adata, out["basis"], seed, args.leiden_seeds))
                except Exception as e:  # keep going; the error is recorded
                    rec["error"] = f"{type(e).__name__}: {e}"
                    traceback.print_exc()
                append(args.out, rec)
                keys = ("method", "ari", "nmi", "batch_asw", "seconds_per_epoch", "error")
                print({k: rec[k] for k in keys if k in rec}, flush=True)


def report(df: pd.DataFrame) -> str:
    """One markdown table per dataset: mean±sd over seeds; seconds per epoch also as a ratio
    to scVI-batch's mean on the same dataset."""
    out = []
    if "seconds_per_epoch" not in df:  # only PCA rows (or failed runs): no epochs to time
        df = df.assign(seconds_per_epoch=np.nan)
    for name, g in df.groupby("dataset", sort=False):
        ref = g.loc[g["method"] == "scvi-batch", "seconds_per_epoch"].mean()
        g = g.assign(ratio=g["seconds_per_epoch"] / ref)
        lines = [
            f"**{name}** ({g['shape'].iloc[0]}; batches {g['batch_effect'].iloc[0]})",
            "",
            "| method | seeds | ARI | NMI | batch ASW | DB | s/epoch | ÷ scVI-batch |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for m in METHODS:
            sub = g[g["method"] == m]
            if len(sub):
                cells = [_fmt(sub, c) for c in ("ari", "nmi", "batch_asw", "davies_bouldin")]
                cells += [_fmt(sub, "seconds_per_epoch", 3), _fmt(sub, "ratio")]
                lines.append(f"| {m} | {len(sub)} | " + " | ".join(cells) + " |")
        out.append("\n".join(lines))
    return "\n\n".join(out)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--n-latent", type=int, default=10)
    p.add_argument("--time-budget", type=float, default=120.0)
    p.add_argument("--n-trials", type=int, default=10)
    p.add_argument("--leiden-seeds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=HERE / "embed_batch_results.jsonl")
    p.add_argument(
        "--report",
        nargs="*",
        type=Path,
        default=None,
        metavar="JSONL",
        help="print the tables of these result files (default: --out); later files supersede",
    )
    args = p.parse_args(argv)
    if args.report is not None:
        print(report(load_results(*(args.report or [args.out]))))
        return
    run(args)


if __name__ == "__main__":
    main()
