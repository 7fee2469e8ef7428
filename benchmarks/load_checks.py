"""Seconds of ``Classifier.load`` with the checks of a received model folder, against an
earlier commit.

Since 2026-12-06 ``load`` checks what a shared or damaged folder may hold before using it: the
saved architecture against the weights' shapes on torch's ``meta`` device (nothing allocated)
before the network is built, NaN or infinite network weights (from each tensor's extremes,
``torch.aminmax``), and input-transform arrays of one value per gene. This script saves one
Classifier (``--genes`` genes -> 1024 -> 512 -> 5 classes, about 21M weights at 20,000 genes)
into a temporary folder and loads it in a fresh process per tree (this checkout, and
``--base`` checked out with ``git worktree add`` into a temporary folder, removed afterwards),
one CPU thread, best of ``--loads`` loads per run, the trees alternating ``--repeat`` times.
Rows go to ``benchmarks/load_checks.jsonl``.

Usage (not part of CI; about 10 s a run)::

    OMP_NUM_THREADS=1 python benchmarks/load_checks.py --base cd33f6f --repeat 3
"""

from __future__ import annotations

import argparse
import json
import tempfile
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


def worker(args) -> None:
    import scautogenome as sag

    sag.settings.verbosity = 0
    seconds = []
    for _ in range(args.loads):
        start = time.perf_counter()
        sag.models.Classifier.load(args.model)
        seconds.append(time.perf_counter() - start)
    row = {"sag_file": sag.__file__, "load_s": round(min(seconds), 4), "loads": args.loads}
    print("RESULT " + json.dumps(row), flush=True)


def save_model(folder: Path, genes: int) -> int:
    """A Classifier of ``genes`` genes saved into ``folder`` (this checkout's code, one epoch
    on synthetic counts); its number of weights."""
    import scautogenome as sag

    sag.settings.verbosity = 0
    adata = sag.datasets.synthetic(n_obs=300, n_vars=genes, n_classes=5, seed=0)
    model = sag.models.Classifier({"kind": "mlp", "units": [1024, 512]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0).save(folder)
    return sum(p.numel() for p in model.module_.parameters())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--genes", type=int, default=20_000)
    p.add_argument("--loads", type=int, default=7)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--out", default=str(HERE / "load_checks.jsonl"))
    args = compare_args(p, worker)
    if args is None:  # a worker's run
        return
    state = head_state(args.base)
    rows = []
    with tempfile.TemporaryDirectory(prefix="sag_load_") as tmp:
        folder = Path(tmp) / "model"
        weights = save_model(folder, args.genes)
        argv = ["--model", str(folder), "--loads", str(args.loads)]
        with worktree(state["base"], "sag_load_base_") as base_dir:
            for rep in range(args.repeat):
                rows += run_both(
                    lambda tree: run_worker(__file__, tree, argv),
                    base_dir,
                    {"repeat": rep, "genes": args.genes, "weights": weights, **state},
                    lambda variant, row: f"{variant:4s} load {row['load_s']:.3f} s",
                )
    append_rows(args.out, rows)
    new, base = best_of(rows, "load_s")
    print(f"{weights:,} weights: load, new / base: {new / base:.3f}x (best of {args.repeat} runs)")


if __name__ == "__main__":
    main()
