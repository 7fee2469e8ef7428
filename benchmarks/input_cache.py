"""The input transform computed once per search, against the code of an earlier commit.

Since 2026-12-06 a search transforms its train and validation rows once, on the genes the
networks read (a CSR of the same stored values where the transform maps 0 to 0, else dense;
at most ``CACHE_VALUES`` values), instead of densifying and transforming every minibatch on
all genes in every epoch of every trial; prediction transforms a sparse query's stored values
of the genes read; the per-epoch macro-F1 comes from one ``np.bincount``. This script times
``sag.tl.classify`` (a fixed budget: ``--trials`` trials of ``--epochs`` epochs,
``time_budget=None``, seed 0) and ``sag.tl.predict`` (the classify model on the same cells,
best of 3) on pbmc3k (raw counts, 32,738 genes) and scanpy's pbmc68k_reduced (dense scaled
values, 765 genes), for this checkout and for ``--base`` (checked out with ``git worktree
add`` into a temporary folder, removed afterwards). Each run is a fresh process (one torch
thread) that imports the package from its own tree (``PYTHONPATH``); runs alternate base /
new ``--repeat`` times. Rows go to ``benchmarks/input_cache.jsonl``; a table is printed.

``--mode rrfcn`` times the ENAS search instead (``--epochs`` supernet epochs, 4 candidates,
the best one retrained; first width 256), whose loaders read the same cache since a later
change the same day.

Usage (not part of CI; minutes)::

    OMP_NUM_THREADS=1 python benchmarks/input_cache.py --base HEAD
    OMP_NUM_THREADS=1 python benchmarks/input_cache.py --base HEAD --mode rrfcn --datasets pbmc3k
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from _versions import append_rows, compare_args, head_state, run_both, run_worker, worktree

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PBMC3K = ROOT.parent / "shared" / "data" / "pbmc3k_10x_seurat_labels.h5ad"
DATASETS = {"pbmc3k": "label", "pbmc68k_reduced": "bulk_labels"}


def load(name: str):
    import anndata as ad

    if name == "pbmc3k":
        return ad.read_h5ad(PBMC3K)
    import scanpy as sc

    return sc.datasets.pbmc68k_reduced()


def worker(args) -> None:
    """One classify + predict in this process; a JSON line on stdout."""
    import torch

    import scautogenome as sag

    # what a notebook has paid before (imports, the first optimizer's torch._dynamo)
    torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], fused=True)
    import optuna  # noqa: F401
    import scanpy  # noqa: F401
    import sklearn.metrics  # noqa: F401

    sag.settings.verbosity = 0
    sag.settings.progress_bar = False
    adata = load(args.dataset)
    label = DATASETS[args.dataset]
    config = {"trainer": {"max_epochs": args.epochs}}
    if args.mode == "rrfcn":  # a short ENAS search: its supernet, 4 candidates, 1 retrained
        config["rrfcn"] = {
            "epochs": args.epochs,
            "n_candidates": 4,
            "top_k_candidates": 1,
            "first_width": 256,
        }
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    model = sag.tl.classify(
        adata,
        label,
        n_trials=args.trials,
        time_budget=None,
        seed=0,
        config=config,
        **({"mode": args.mode} if args.mode else {}),
    )
    classify_s = time.perf_counter() - start
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    predict_s = float("inf")
    for _ in range(3):
        query = adata.copy()
        start = time.perf_counter()
        sag.tl.predict(query, model, key_added="query")
        predict_s = min(predict_s, time.perf_counter() - start)
    same = float((query.obs["query_pred"].astype(str) == adata.obs["sag_pred"].astype(str)).mean())
    trials = adata.uns["sag"]["trials"]
    print(
        "RESULT "
        + json.dumps(
            {
                "dataset": args.dataset,
                "sag_file": sag.__file__,
                "classify_s": classify_s,
                "predict_s": predict_s,
                "test_macro_f1": float(adata.uns["sag"]["metrics"]["test"]["macro_f1"]),
                "trial_values": [float(v) for v in trials["value"]],
                "epochs": int(trials["epochs"].sum()),
                "predict_agrees_with_classify": same,
                # the process's peak resident size (KB on Linux) after loading, after classify
                "peak_rss_mb_before": rss0 / 1024,
                "peak_rss_mb_after_classify": rss1 / 1024,
                "peak_rss_mb_end": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        ),
        flush=True,
    )


def run_one(tree: Path, dataset: str, args) -> dict:
    argv = ["--dataset", dataset, "--trials", str(args.trials), "--epochs", str(args.epochs)]
    return run_worker(__file__, tree, argv + (["--mode", args.mode] if args.mode else []))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=6)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--mode", default=None, help="classify's mode (default: its own, auto)")
    p.add_argument("--datasets", nargs="+", default=list(DATASETS))
    p.add_argument("--out", default=str(HERE / "input_cache.jsonl"))
    p.add_argument("--dataset", help=argparse.SUPPRESS)
    args = compare_args(p, worker)
    if args is None:  # a worker's run
        return
    state = head_state(args.base)
    rows = []
    with worktree(state["base"], "sag_input_cache_base_") as base_dir:
        for rep in range(args.repeat):
            for dataset in args.datasets:
                stamp = {
                    "repeat": rep,
                    **state,
                    "trials": args.trials,
                    "max_epochs": args.epochs,
                    "mode": args.mode or "auto",
                }
                rows += run_both(
                    lambda tree, dataset=dataset: run_one(tree, dataset, args),
                    base_dir,
                    stamp,
                    lambda variant, row, dataset=dataset: (
                        f"{dataset:16s} {variant:4s} classify {row['classify_s']:7.2f} s  "
                        f"predict {row['predict_s']:6.3f} s  test macro-F1 "
                        f"{row['test_macro_f1']:.4f}"
                    ),
                )
    append_rows(args.out, rows)
    print()
    print(
        "| dataset | classify base s | classify new s | new / base | predict base s | "
        "predict new s | new / base | test macro-F1 base | new | peak RSS MB base | new |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for dataset in args.datasets:
        got = {
            v: [r for r in rows if r["dataset"] == dataset and r["variant"] == v]
            for v in ("base", "new")
        }
        c = {v: min(r["classify_s"] for r in got[v]) for v in got}
        q = {v: min(r["predict_s"] for r in got[v]) for v in got}
        f = {v: got[v][0]["test_macro_f1"] for v in got}
        m = {v: max(r["peak_rss_mb_end"] for r in got[v]) for v in got}
        print(
            f"| {dataset} | {c['base']:.2f} | {c['new']:.2f} | {c['new'] / c['base']:.2f} | "
            f"{q['base']:.3f} | {q['new']:.3f} | {q['new'] / q['base']:.2f} | "
            f"{f['base']:.4f} | {f['new']:.4f} | {m['base']:.0f} | {m['new']:.0f} |"
        )


if __name__ == "__main__":
    main()
