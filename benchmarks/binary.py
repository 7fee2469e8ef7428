"""Imbalanced binary tasks: sag's losses and search metrics against LR and XGBoost.

The AutoGenome paper offers an "area under curve" loss for imbalanced binary classification;
sag has it as ``config['trainer']['loss'] = "auc"`` (a pairwise ROC AUC surrogate, then Platt
calibration on the validation split), judged by ``metric="roc_auc"``. This script measures
whether it earns its place, on real one-class-against-the-rest tasks made from the shared
datasets: a class of 2-6% of the cells or samples (enough positives for a test ROC AUC) against
all the others. Every method sees the same cells and the dataset's shared train/val/test split.

Methods:
- ``sag``: the defaults (cross-entropy, search on validation macro-F1);
- ``sag-rocauc``: cross-entropy, search on validation ROC AUC (``metric="roc_auc"``);
- ``sag-aucloss``: the AUC loss, search on validation ROC AUC;
- ``lr``: logistic regression, balanced class weights, C tuned on validation ROC AUC;
- ``xgboost``: as ``benchmarks/classify.py`` (depth 6, gamma 0.1, early stopping on val).
The peers get ``classify.py``'s preprocessing (counts: normalize 1e4 + log1p; 0-1 scaling on
train). Test metrics: ROC AUC and average precision of the rare class's probability, and
macro-F1 of the predicted classes.

Usage (not part of CI)::

    nice -n 5 python benchmarks/binary.py --seeds 0 --time-budget 60
    python benchmarks/binary.py --report
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import time
import traceback
from pathlib import Path

# isort: off
# classify first: it sets the thread environment before numpy (pulled in by _common) loads
from classify import preprocess
import numpy as np
import pandas as pd
from _common import HERE, XGB_PAPER, git_state, load_split, markdown_table

# isort: on

OUT = HERE / "binary_results.jsonl"
# (dataset, rare class): 2-6% of the cells, at least 7 of them in the test split
TASKS = (
    ("tcga_pancan12_mutation_binary", "READ"),
    ("tcga_pancan12_mutation_binary", "BLCA"),
    ("tcga_pancan12_mutation_binary", "LUSC"),
    ("pbmc3k_10x_seurat_labels", "NK"),
    ("pbmc4k_10x_scdcc_top2000", "8"),
    ("human_kidney_young2018_top2000", "7"),
    ("worm_neuron_cao2017", "8"),
    ("tcga_cnv_5mb_bins_pancancer", "KICH"),
)
SAG = {
    "sag": {},
    "sag-rocauc": {"metric": "roc_auc"},
    "sag-aucloss": {"metric": "roc_auc", "config": {"trainer": {"loss": "auc"}}},
}
METHODS = (*SAG, "lr", "xgboost")
LR_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


def task_data(dataset: str, rare: str):
    adata = load_split(dataset)
    label = np.where(adata.obs["label"].astype(str) == rare, rare, "rest")
    adata.obs["label"] = pd.Categorical(label, categories=["rest", rare])
    return adata


def metrics(y: np.ndarray, p1: np.ndarray, pred: np.ndarray) -> dict:
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

    return {
        "roc_auc": float(roc_auc_score(y, p1)),
        "average_precision": float(average_precision_score(y, p1)),
        "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)),
        "n_test": len(y),
        "n_test_rare": int(y.sum()),
    }


def run_sag(adata, seed: int, time_budget: float, kwargs: dict) -> dict:
    import scautogenome as sag

    sag.settings.progress_bar = False
    a = adata.copy()
    t0 = time.perf_counter()
    sag.tl.classify(a, "label", split_key="split", time_budget=time_budget, seed=seed, **kwargs)
    seconds = time.perf_counter() - t0
    u = a.uns["sag"]
    test = u["metrics"]["test"]
    # sag's own record: it ranks by log-probabilities, which do not tie at 1.0 as float32
    # probabilities of confident cells do
    out = {
        "roc_auc": float(test["roc_auc"]),
        "average_precision": float(test["per_class"]["average_precision"][1]),
        "macro_f1": float(test["macro_f1"]),
        "n_test": int(test["n"]),
        "n_test_rare": int(test["per_class"]["support"][1]),
    }
    return {
        **out,
        "seconds": seconds,
        "best_mode": str(u["best"]["mode"]),
        "best_val_score": float(u["best"]["val_score"]),
        "n_trials_run": len(u["trials"]),
        "train_params": json.loads(u["train_params"]),
    }


def run_peer(method: str, adata, seed: int) -> dict:
    from sklearn.metrics import roc_auc_score

    t0 = time.perf_counter()
    split = adata.obs["split"].astype(str).to_numpy()
    parts = [np.flatnonzero(split == s) for s in ("train", "val", "test")]
    tr, va, te = parts
    X, _ = preprocess(adata.X, tr)
    y = adata.obs["label"].cat.codes.to_numpy()
    info: dict = {}
    if method == "lr":
        from sklearn.linear_model import LogisticRegression

        best = None
        for C in LR_GRID:
            m = LogisticRegression(C=C, max_iter=2000, class_weight="balanced", random_state=seed)
            m.fit(X[tr], y[tr])
            auc = roc_auc_score(y[va], m.predict_proba(X[va])[:, 1])
            if best is None or auc > best[0]:
                best = (auc, C, m)
        _, C, model = best
        info["C"] = C
    else:
        from xgboost import XGBClassifier

        model = XGBClassifier(**XGB_PAPER, eval_metric="logloss", n_jobs=2, random_state=seed)
        model.fit(X[tr], y[tr], eval_set=[(X[va], y[va])], verbose=False)
        info["best_iteration"] = int(model.best_iteration)
    p1 = model.predict_proba(X[te])[:, 1]
    out = metrics(y[te] == 1, p1, model.predict(X[te]) == 1)
    return {**out, "seconds": time.perf_counter() - t0, **info}


def run(args) -> None:
    tasks = [t for t in TASKS if args.tasks is None or f"{t[0]}:{t[1]}" in args.tasks]
    for dataset, rare in tasks:
        adata = task_data(dataset, rare)
        for seed in args.seeds:
            for method in args.methods:
                rec = {
                    "dataset": dataset,
                    "rare": rare,
                    "method": method,
                    "seed": seed,
                    "time_budget": args.time_budget,
                    "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    "host": platform.node(),
                    **git_state(),
                }
                try:
                    if method in SAG:
                        rec.update(run_sag(adata, seed, args.time_budget, SAG[method]))
                    else:
                        rec.update(run_peer(method, adata, seed))
                except Exception as e:  # record, go on with the next
                    rec["error"] = f"{type(e).__name__}: {e}"
                    traceback.print_exc()
                with args.out.open("a") as f:
                    f.write(json.dumps(rec) + "\n")
                shown = {
                    k: rec.get(k) for k in ("roc_auc", "average_precision", "macro_f1", "seconds")
                }
                print(dataset, rare, method, seed, shown, flush=True)


def report(path: Path) -> str:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    df = pd.DataFrame(rows)
    df = df[df.get("error").isna()] if "error" in df else df
    df = df.drop_duplicates(["dataset", "rare", "method", "seed"], keep="last")
    df["task"] = df["dataset"].str.split("_").str[0] + ":" + df["rare"].astype(str)
    lines = []
    for name in ("roc_auc", "average_precision", "macro_f1"):
        t = df.pivot_table(index="task", columns="method", values=name, aggfunc="mean")
        t = t[[m for m in METHODS if m in t.columns]]
        t.loc["mean"] = t.mean()
        lines.append(f"\n{name} (mean over seeds)\n")
        lines.append(markdown_table(t))
    seeds = df.groupby("method")["seed"].nunique().to_dict()
    lines.append(f"\nseeds per method: {seeds}")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--tasks", nargs="+", default=None, help="DATASET:CLASS (default: all)")
    p.add_argument("--time-budget", type=float, default=60.0, help="sag's search budget (s)")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--report", action="store_true", help="print the tables of --out")
    args = p.parse_args(argv)
    if args.report:
        print(report(args.out))
    else:
        run(args)


if __name__ == "__main__":
    main()
