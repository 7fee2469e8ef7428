"""Numeric targets: sag.tl.classify with the paper's MSE loss against ridge regression and XGBoost.

The AutoGenome paper trains its networks with a mean squared error for regression tasks; sag
does so when ``sag.tl.classify`` is given a numeric label column (``task="regression"``). This
script measures it on the real numeric targets the shared datasets hold:

- ``cbmc:ADT<k>``: the 10 surface-protein (ADT) levels of the CBMC CITE-seq cells
  (``obsm['ADT']``, as shipped: normalized and scaled; marker names not shipped), predicted
  from the cells' RNA counts (2,000 genes), the task of protein imputation from RNA;
- ``hsmm:hours``: the collection time of the human skeletal muscle myoblasts (0/24/48/72 h),
  predicted from FPKM;
- ``klein:days``: the days after LIF withdrawal of the mouse ES cells (0/2/4/7), from counts.

Every method sees the same cells and the dataset's shared train/val/test split. Methods:
- ``sag``: ``sag.tl.classify(task="regression")`` with its defaults (search on validation R^2);
- ``ridge``: ridge regression, alpha tuned on validation R^2;
- ``xgboost``: as ``benchmarks/classify.py`` (depth 6, gamma 0.1, early stopping on val RMSE).
The peers get ``classify.py``'s preprocessing (counts: normalize 1e4 + log1p; 0-1 scaling on
train). Test metrics: R^2, RMSE and Spearman's correlation.

Usage (not part of CI)::

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/regression.py --seeds 0 --time-budget 60
    python benchmarks/regression.py --report
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

OUT = HERE / "regression_results.jsonl"
CBMC = "cbmc_citeseq_stoeckius2017_top2000"
# task name -> (dataset, how the target is read)
TASKS = {
    **{f"cbmc:ADT{k}": (CBMC, ("adt", k)) for k in range(10)},
    "hsmm:hours": ("hsmm_trapnell2014_timecourse", ("label", "h")),
    "klein:days": ("klein2015_mouse_es_subset", ("label", "day")),
}
METHODS = ("sag", "ridge", "xgboost")
RIDGE_GRID = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4)


def task_data(task: str):
    dataset, (kind, arg) = TASKS[task]
    adata = load_split(dataset)
    if kind == "adt":
        adata.obs["target"] = np.asarray(adata.obsm["ADT"][:, arg], dtype=np.float64)
    else:  # "24h" -> 24.0, "day4" -> 4.0
        text = adata.obs["label"].astype(str).str.replace(arg, "", regex=False)
        adata.obs["target"] = pd.to_numeric(text).astype(np.float64)
    adata.obsm.clear()
    return adata


def metrics(y: np.ndarray, pred: np.ndarray) -> dict:
    from scipy.stats import spearmanr
    from sklearn.metrics import r2_score

    return {
        "r2": float(r2_score(y, pred)),
        "rmse": float(np.sqrt(np.mean((pred - y) ** 2))),
        "spearman": float(spearmanr(y, pred)[0]),
        "n_test": len(y),
    }


def run_sag(adata, seed: int, time_budget: float) -> dict:
    import scautogenome as sag

    sag.settings.progress_bar = False
    a = adata.copy()
    t0 = time.perf_counter()
    sag.tl.classify(
        a, "target", split_key="split", task="regression", time_budget=time_budget, seed=seed
    )
    seconds = time.perf_counter() - t0
    u = a.uns["sag"]
    test = u["metrics"]["test"]
    return {
        "r2": float(test["r2"]),
        "rmse": float(test["rmse"]),
        "spearman": float(test["spearman"]),
        "n_test": int(test["n"]),
        "seconds": seconds,
        "best_mode": str(u["best"]["mode"]),
        "best_val_score": float(u["best"]["val_score"]),
        "n_trials_run": len(u["trials"]),
        "train_params": json.loads(u["train_params"]),
    }


def run_peer(method: str, adata, seed: int) -> dict:
    from sklearn.metrics import r2_score

    t0 = time.perf_counter()
    split = adata.obs["split"].astype(str).to_numpy()
    tr, va, te = (np.flatnonzero(split == s) for s in ("train", "val", "test"))
    X, _ = preprocess(adata.X, tr)
    y = adata.obs["target"].to_numpy()
    info: dict = {}
    if method == "ridge":
        from sklearn.linear_model import Ridge

        best = None
        for alpha in RIDGE_GRID:
            m = Ridge(alpha=alpha, random_state=seed).fit(X[tr], y[tr])
            r2 = r2_score(y[va], m.predict(X[va]))
            if best is None or r2 > best[0]:
                best = (r2, alpha, m)
        _, alpha, model = best
        info["alpha"] = alpha
    else:
        from xgboost import XGBRegressor

        model = XGBRegressor(**XGB_PAPER, eval_metric="rmse", n_jobs=2, random_state=seed)
        model.fit(X[tr], y[tr], eval_set=[(X[va], y[va])], verbose=False)
        info["best_iteration"] = int(model.best_iteration)
    out = metrics(y[te], np.asarray(model.predict(X[te]), dtype=np.float64))
    return {**out, "seconds": time.perf_counter() - t0, **info}


def run(args) -> None:
    for task in args.tasks:
        adata = task_data(task)
        for seed in args.seeds:
            for method in args.methods:
                rec = {
                    "task": task,
                    "method": method,
                    "seed": seed,
                    "time_budget": args.time_budget,
                    "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    "host": platform.node(),
                    **git_state(),
                }
                try:
                    if method == "sag":
                        rec.update(run_sag(adata, seed, args.time_budget))
                    else:
                        rec.update(run_peer(method, adata, seed))
                except Exception as e:  # record, go on with the next
                    rec["error"] = f"{type(e).__name__}: {e}"
                    traceback.print_exc()
                with args.out.open("a") as f:
                    f.write(json.dumps(rec) + "\n")
                shown = {k: rec.get(k) for k in ("r2", "rmse", "spearman", "seconds")}
                print(task, method, seed, shown, flush=True)


def report(path: Path) -> str:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    df = pd.DataFrame(rows)
    df = df[df.get("error").isna()] if "error" in df else df
    df = df.drop_duplicates(["task", "method", "seed"], keep="last")
    order = [t for t in TASKS if t in set(df["task"])]
    lines = []
    for name in ("r2", "rmse", "spearman", "seconds"):
        t = df.pivot_table(index="task", columns="method", values=name, aggfunc="mean")
        t = t.reindex(order)[[m for m in METHODS if m in t.columns]]
        t.loc["mean"] = t.mean()
        lines.append(f"\n{name} (mean over seeds)\n")
        lines.append(markdown_table(t))
    r2 = df.pivot_table(index=["task", "seed"], columns="method", values="r2")
    if "sag" in r2:
        for peer in (m for m in METHODS if m != "sag" and m in r2):
            both = r2[["sag", peer]].dropna()
            lines.append(
                f"\nsag's test R^2 above {peer}'s: {int((both['sag'] > both[peer]).sum())} of "
                f"{len(both)} (task, seed) runs"
            )
    seeds = df.groupby("method")["seed"].nunique().to_dict()
    lines.append(f"\nseeds per method: {seeds}")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
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
