"""Seconds of a classification search with sag's dropout against the code of an earlier commit.

Since 2026-12-06 every dropout of the networks (the input's ``input_keep`` and the units'
``dropout``) draws its CPU mask with ``torch.rand`` (``scautogenome.nn._units.Dropout``), of
the same law as torch's kernel, which draws it with ``bernoulli_`` at 1.5-1.7 times the cost;
a profile had the input's dropout at a fifth of a search on 2,000 genes. This script runs the
same ``sag.tl.classify`` search (``--trials`` trials, one seed) on pbmc3k's counts, reduced to
its 2,000 most variable genes (scanpy's ``seurat`` flavour on a normalized copy), in a fresh
process per tree (this checkout, and ``--base`` checked out with ``git worktree add`` into a
temporary folder, removed afterwards), one CPU thread, the trees alternating. It reports the
call's seconds, the seconds per epoch over all trials (the trials' own ``seconds`` over their
``epochs``: early stopping may end the two trees' trials at other epochs, since their masks
differ) and the test accuracy and macro-F1, and the kept model's weights digest (equal across
the trees where a change leaves what a seed trains alone). Rows go to
``benchmarks/dropout_speed.jsonl``.

Usage (not part of CI; about 50 s a run, two runs per seed and repeat)::

    OMP_NUM_THREADS=1 python benchmarks/dropout_speed.py --base afd4275~1 --seeds 0,1,2 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _versions import (
    append_rows,
    best_of,
    compare_args,
    head_state,
    run_both,
    run_worker,
    worktree,
)

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "pbmc3k_10x_seurat_labels.h5ad"


def worker(args) -> None:
    import anndata as ad
    import numpy as np
    import scanpy as sc

    import scautogenome as sag

    counts = ad.read_h5ad(args.data)
    norm = counts.copy()
    sc.pp.normalize_total(norm, target_sum=1e4)
    sc.pp.log1p(norm)
    sc.pp.highly_variable_genes(norm, n_top_genes=2000, flavor="seurat")
    adata = counts[:, norm.var["highly_variable"].to_numpy()].copy()
    sag.settings.verbosity = 0
    start = time.perf_counter()
    sag.tl.classify(adata, "label", n_trials=args.trials, time_budget=None, seed=args.seed)
    seconds = time.perf_counter() - start
    uns = adata.uns["sag"]
    trials = uns["trials"]
    done = trials[trials["epochs"] > 0]
    test = uns["metrics"]["test"]
    row = {
        "sag_file": sag.__file__,
        "seed": args.seed,
        "cells": adata.n_obs,
        "genes": adata.n_vars,
        "trials": len(trials),
        "seconds": round(seconds, 2),
        "epochs": int(done["epochs"].sum()),
        "seconds_per_epoch": round(float(done["seconds"].sum() / done["epochs"].sum()), 4),
        "accuracy": round(float(test["accuracy"]), 4),
        "macro_f1": round(float(test["macro_f1"]), 4),
        "best_mode": str(uns["best"]["mode"]) if "mode" in uns["best"] else "",
        "model_digest": str(uns["model_digest"]),  # equal across trees: the same weights
        "input_keep": sorted(
            {float(json.loads(p).get("input_keep", np.nan)) for p in trials["params"]}
        ),
    }
    print("RESULT " + json.dumps(row), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--seeds", default="0", help="comma-separated seeds, each run --repeat times")
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--out", default=str(HERE / "dropout_speed.jsonl"))
    args = compare_args(p, worker)
    if args is None:  # a worker's run
        return
    state = head_state(args.base)
    rows = []
    seeds = [int(s) for s in args.seeds.split(",")]
    with worktree(state["base"], "sag_dropout_base_") as base_dir:
        for rep, seed in ((r, s) for s in seeds for r in range(args.repeat)):
            argv = ["--data", args.data, "--trials", str(args.trials), "--seed", str(seed)]
            rows += run_both(
                lambda tree, argv=argv: run_worker(__file__, tree, argv),
                base_dir,
                {"repeat": rep, **state},
                lambda variant, row: (
                    f"{variant:4s} seed {row['seed']} {row['seconds']:6.1f} s, "
                    f"{row['epochs']} epochs, {row['seconds_per_epoch']:.3f} s/epoch, test "
                    f"accuracy {row['accuracy']:.3f}, macro-F1 {row['macro_f1']:.3f}"
                ),
            )
    append_rows(args.out, rows)
    for seed in seeds:
        for what in ("seconds_per_epoch", "seconds"):
            new, base = best_of([r for r in rows if r["seed"] == seed], what)
            print(f"seed {seed}: {what}, new / base: {new / base:.2f}x (best of {args.repeat})")
    for variant in ("base", "new"):
        mine = [r for r in rows if r["variant"] == variant]
        accuracy = sum(r["accuracy"] for r in mine) / len(mine)
        print(f"{variant}: mean test accuracy {accuracy:.3f} over {len(mine)} runs")


if __name__ == "__main__":
    main()
