"""Model genes that are 0 in every query cell (an outer join's filling): what they cost, how
often the warning of them fires, and what looking for them costs, against an earlier commit.

Since 2026-12-07 ``predict``, ``encode`` and ``explain`` warn where many of the model's genes
that most training cells had are 0 in every query cell (``warn_zero_genes``), and the input
transform keeps each gene's share of non-zero training values for it. Three parts:

1. ``accuracy``: pbmc68k_reduced's log-normalized ``raw`` split 500 / 200 cells (seeded), one
   classify trial of 30 epochs on the 500; the 200 predicted with all genes, with half the
   genes (seeded) 0 in every cell (an outer join), with that half dropped (filled in as
   missing genes, as the warning advises), and the first 60 of the outer-join cells alone;
   whether each warned.
2. ``false alarms``: on each shared dataset, the transform fitted on a seeded 80% of the
   cells; each label's held-out cells, and all of its cells, as a query of one cell type:
   how many queries warn (none should), and the largest share, of the genes such a query
   should show, that were 0 in it, beside the share that warns.
3. ``cost`` (``--base``): ``InputTransform.fit`` on the 80% (pbmc3k, 32,738 genes, sparse;
   the TCGA RNA-seq table, 20,531 genes, dense) and ``predict_proba`` of a saved model on
   all cells and on the outer-join query, in fresh processes of this checkout and of
   ``--base`` (a ``git worktree``), one thread, best of ``--runs``, alternating ``--repeat``
   times.

Rows go to ``benchmarks/zero_genes.jsonl``. Usage (not part of CI; about 3 minutes)::

    OMP_NUM_THREADS=1 python benchmarks/zero_genes.py --base f541765 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
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
SHARED = HERE.parents[1] / "shared" / "data"
COST_DATASETS = ("pbmc3k_10x_seurat_labels", "tcga_rnaseq_5rare_cohorts")


def _read(name: str):
    import anndata as ad

    return ad.read_h5ad(SHARED / f"{name}.h5ad")


def _train_rows(n: int) -> np.ndarray:
    return np.flatnonzero(np.random.default_rng(0).random(n) < 0.8)


def _outer_join(adata):
    """``adata`` with a seeded half of its genes 0 in every cell (as CSR)."""
    from scipy import sparse

    out = adata.copy()
    X = sparse.csr_matrix(out.X, dtype=np.float32)
    half = np.random.default_rng(1).permutation(out.n_vars)[: out.n_vars // 2]
    keep = np.ones(out.n_vars)
    keep[half] = 0
    out.X = (X @ sparse.diags(keep)).tocsr()
    out.X.eliminate_zeros()
    return out, half


def worker(args) -> None:
    import scautogenome as sag
    from scautogenome.data import InputTransform

    sag.settings.verbosity = 0
    adata = _read(args.dataset)
    train = _train_rows(adata.n_obs)
    X = adata.X if args.dataset != "tcga_rnaseq_5rare_cohorts" else adata.X.toarray()
    value_type = str(adata.uns["value_type"])
    value_type = value_type if value_type in ("counts", "normalized") else "continuous"
    fit = []
    for _ in range(args.runs):
        start = time.perf_counter()
        InputTransform(value_type=value_type).fit(X, train)
        fit.append(time.perf_counter() - start)
    model = sag.models.Classifier.load(args.model)
    joined, _ = _outer_join(adata)
    times = {}
    for name, query in (("all", adata), ("outer_join", joined)):
        runs = []
        for _ in range(args.runs):
            start = time.perf_counter()
            model.predict_proba(query)
            runs.append(time.perf_counter() - start)
        times[name] = round(min(runs), 4)
    row = {
        "sag_file": sag.__file__,
        "dataset": args.dataset,
        "fit_s": round(min(fit), 4),
        "predict_all_s": times["all"],
        "predict_outer_join_s": times["outer_join"],
    }
    print("RESULT " + json.dumps(row), flush=True)


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record) -> None:
        self.lines.append(record.getMessage())


def accuracy() -> list[dict]:
    import scanpy as sc

    import scautogenome as sag

    sag.settings.verbosity = 1
    sag.settings.progress_bar = False
    a = sc.datasets.pbmc68k_reduced()
    a = a.raw.to_adata()  # log-normalized
    order = np.random.default_rng(0).permutation(a.n_obs)
    ref, query = a[order[:500]].copy(), a[order[500:]].copy()
    config = {"trainer": {"max_epochs": 30}, "budget": {"time_budget": None}}
    model = sag.tl.classify(ref, "bulk_labels", n_trials=1, config=config, seed=0)
    joined, half = _outer_join(query)
    dropped = query[:, np.setdiff1d(np.arange(query.n_vars), half)].copy()
    truth = query.obs["bulk_labels"].astype(str).to_numpy()
    handler = _Warnings()
    logging.getLogger("scautogenome").addHandler(handler)
    rows = []
    try:
        small = joined[:60].copy()  # a query of 60 cells
        for name, q in (
            ("all genes", query),
            ("half 0", joined),
            ("half dropped", dropped),
            ("half 0, 60 cells", small),
        ):
            handler.lines.clear()
            sag.tl.predict(q, model, min_gene_overlap=0.4)
            acc = float(np.mean(q.obs["sag_pred"].astype(str).to_numpy() == truth[: q.n_obs]))
            warned = any("are 0 in every one of them" in line for line in handler.lines)
            rows.append({"part": "accuracy", "query": name, "accuracy": acc, "warned": warned})
            print(f"accuracy {name:13s} {acc:.3f}  zero-genes warning: {warned}")
    finally:
        logging.getLogger("scautogenome").removeHandler(handler)
    return rows


def false_alarms() -> list[dict]:
    from scautogenome.data import InputTransform, warn_zero_genes
    from scautogenome.data._transform import ZERO_GENES_CHANCE, ZERO_GENES_SHARE

    handler = _Warnings()
    logging.getLogger("scautogenome").addHandler(handler)
    rows = []
    try:
        for path in sorted(SHARED.glob("*.h5ad")):
            adata = _read(path.stem)
            train = _train_rows(adata.n_obs)
            t = InputTransform(value_type="continuous", scale=True).fit(adata.X, train)
            held = np.setdiff1d(np.arange(adata.n_obs), train)
            labels = adata.obs["label"].astype(str).to_numpy()
            read = (t.detected_ > 0) & np.isfinite(t.range_)
            n_queries = n_warned = 0
            worst, worst_of = 0.0, (0, None, 0)
            for c in np.unique(labels):
                for rows_ in (held[labels[held] == c], np.flatnonzero(labels == c)):
                    if rows_.size == 0:
                        continue
                    X = adata.X[rows_]
                    handler.lines.clear()
                    warn_zero_genes(X, t, "the query's X")
                    n_queries += 1
                    n_warned += bool(handler.lines)
                    zero = np.asarray((X != 0).sum(axis=0)).ravel() == 0
                    chance = rows_.size * np.log1p(
                        -np.minimum(t.detected_.astype(float), 1 - 1e-12)
                    )
                    expected = read & (chance < np.log(ZERO_GENES_CHANCE))
                    if expected.any():  # the share the warning judges by
                        share = float((expected & zero).sum() / expected.sum())
                        if share > worst:
                            worst, worst_of = share, (int((expected & zero).sum()), c, rows_.size)
            row = {
                "part": "false_alarms",
                "dataset": path.stem,
                "queries": n_queries,
                "warned": n_warned,
                "largest_share_zero": round(worst, 4),
                "its_genes": worst_of[0],
                "its_label": worst_of[1],
                "its_cells": worst_of[2],
                "warns_from": ZERO_GENES_SHARE,
            }
            rows.append(row)
            print(
                f"{path.stem:38s} {n_queries:3d} one-type queries, {n_warned} warned; largest "
                f"share of the expected genes 0: {worst:.1%} ({worst_of[0]} genes, label "
                f"{worst_of[1]}, {worst_of[2]} cells; warns from {ZERO_GENES_SHARE:.0%} and "
                "10 genes)"
            )
    finally:
        logging.getLogger("scautogenome").removeHandler(handler)
    return rows


def save_model(folder: Path, dataset: str) -> None:
    """One epoch of an MLP on ``dataset`` (this checkout's code), saved into ``folder``."""
    import scautogenome as sag

    sag.settings.verbosity = 0
    model = sag.models.Classifier({"kind": "mlp", "units": [64]}, {"max_epochs": 1})
    model.fit(_read(dataset), "label", seed=0).save(folder)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--dataset", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--out", default=str(HERE / "zero_genes.jsonl"))
    args = compare_args(p, worker)
    if args is None:  # a worker's run
        return
    state = head_state(args.base)
    rows = [{**r, **state} for r in accuracy() + false_alarms()]
    with (
        tempfile.TemporaryDirectory(prefix="sag_zero_") as tmp,
        worktree(state["base"], "sag_zero_base_") as base_dir,
    ):
        for dataset in COST_DATASETS:
            folder = Path(tmp) / dataset
            save_model(folder, dataset)
            argv = ["--dataset", dataset, "--model", str(folder), "--runs", str(args.runs)]
            for rep in range(args.repeat):
                rows += run_both(
                    lambda tree, argv=argv: run_worker(__file__, tree, argv),
                    base_dir,
                    {"part": "cost", "repeat": rep, **state},
                    lambda variant, row: (
                        f"{variant:4s} {row['dataset']}: fit {row['fit_s']:.3f} s, predict "
                        f"{row['predict_all_s']:.3f} s, outer join "
                        f"{row['predict_outer_join_s']:.3f} s"
                    ),
                )
    append_rows(args.out, rows)
    for dataset in COST_DATASETS:
        mine = [r for r in rows if r.get("part") == "cost" and r["dataset"] == dataset]
        for key in ("fit_s", "predict_all_s", "predict_outer_join_s"):
            new, base = best_of(mine, key)
            print(f"{dataset} {key}: new / base {new / base:.3f}x ({new:.3f} / {base:.3f} s)")


if __name__ == "__main__":
    main()
