"""Two checks of the bulk (TCGA) workflow on real data: test metrics with a patient's samples
kept in one split (``group_key``), and predictions of a query that lacks some of the model's
genes (filled with their training mean, or with 0 as before).

Data: ``../shared/data/tcga_rnaseq_5rare_cohorts.h5ad`` (300 TCGA tumours of five cohorts,
RSEM normalized), its 2,000 genes of highest log variance.

1. **Replicate aliquots** (``--check leak``). Every tumour gets a second aliquot (its values
   times ``exp(N(0, 0.1))``, a barcode of another vial) and every patient a random label
   R/NR. Nothing in the expression predicts it, so honest test metrics are at chance (0.5).
   ``sag.tl.classify`` runs with ``group_key="auto"`` (a patient's samples in one part) and
   with ``group_key=None`` (samples split one by one, earlier releases), the same seeds.
2. **Missing genes** (``--check fill``). The cohorts classified on ``log2(x + 1)`` values; the
   test samples are then predicted with a share of the model's genes left out of the query,
   once with the package's fill (the genes' training means on the model's scale) and once
   with the fill of earlier releases (0 before the transform: the model's ``mean_`` removed).

Usage (not part of CI; about two minutes on 2 CPU cores)::

    python benchmarks/bulk_checks.py --out benchmarks/bulk_checks.jsonl
"""

from __future__ import annotations

import argparse
import datetime as dt

import anndata as ad
import numpy as np
import pandas as pd
from _common import DATA, emit, git_state

import scautogenome as sag

DATASET = "tcga_rnaseq_5rare_cohorts"


def load(n_genes: int = 2000) -> ad.AnnData:
    adata = ad.read_h5ad(DATA / f"{DATASET}.h5ad")
    X = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
    top = np.argsort(-np.log1p(X).var(axis=0))[:n_genes]
    out = ad.AnnData(X[:, top].astype(np.float32), obs=adata.obs[["label"]].copy())
    out.obs_names = adata.obs_names
    out.var_names = adata.var_names[top]
    return out


def with_second_aliquots(adata: ad.AnnData, seed: int) -> ad.AnnData:
    """``adata`` and a second aliquot of every sample (another vial, 10% noise), labelled by
    a random R/NR per patient."""
    rng = np.random.default_rng(seed)
    twin = adata.copy()
    twin.X = adata.X * np.exp(rng.normal(0, 0.1, adata.X.shape)).astype(np.float32)
    # TCGA-OR-A5J1-01A-11R-A29S-07 -> TCGA-OR-A5J1-01B-21R-A29S-07: the same patient
    twin.obs_names = [f"{n[:15]}B-21{n[19:]}" for n in adata.obs_names]
    both = ad.concat([adata, twin])
    patients = pd.Index([n[:12] for n in both.obs_names])
    response = dict(zip(patients.unique(), rng.choice(["R", "NR"], patients.nunique())))
    both.obs["response"] = pd.Categorical([response[p] for p in patients])
    return both


def check_leak(seeds, n_trials: int, time_budget: float, out: str | None, state: dict) -> None:
    base = load()
    print("| seed | group_key | test accuracy | test ROC AUC | patients in 2 parts |")
    print("|---|---|---|---|---|")
    for seed in seeds:
        data = with_second_aliquots(base, seed)
        for group_key in ("auto", None):
            a = data.copy()
            sag.tl.classify(
                a,
                "response",
                mode="mlp",
                group_key=group_key,
                n_trials=n_trials,
                time_budget=time_budget,
                seed=seed,
            )
            test = a.uns["sag"]["metrics"]["test"]
            parts = a.obs.groupby([n[:12] for n in a.obs_names], observed=True)["sag_split"]
            straddle = int((parts.nunique() > 1).sum())
            print(
                f"| {seed} | {group_key} | {test['accuracy']:.3f} | {test['roc_auc']:.3f} | "
                f"{straddle} |"
            )
            emit(
                {
                    "check": "leak",
                    "dataset": DATASET,
                    "seed": seed,
                    "group_key": str(group_key),
                    "test_accuracy": float(test["accuracy"]),
                    "test_roc_auc": float(test["roc_auc"]),
                    "test_n": int(test["n"]),
                    "patients_in_two_parts": straddle,
                    "n_trials": n_trials,
                    "time_budget": time_budget,
                    "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    **state,
                },
                out,
            )


def check_fill(seeds, n_trials: int, time_budget: float, out: str | None, state: dict) -> None:
    a = load()
    a.X = np.log2(a.X + 1)
    model = sag.tl.classify(a, "label", mode="mlp", n_trials=n_trials, time_budget=time_budget)
    test = np.flatnonzero(a.obs["sag_split"].to_numpy() == "test")
    truth = a.obs["label"].astype(str).to_numpy()[test]
    full = float((model.predict(a[test].copy()) == truth).mean())
    print(f"\nall genes: test accuracy {full:.3f} on {test.size} samples")
    print("| share of genes missing | seed | training-mean fill | 0 before the transform |")
    print("|---|---|---|---|")
    mean = model.transform_.mean_
    for share in (0.3, 0.5, 0.7):
        for seed in seeds:
            keep = np.random.default_rng(seed).random(a.n_vars) >= share
            query = a[test][:, keep].copy()
            acc = {}
            for how in ("train_mean", "zero"):
                model.transform_.mean_ = mean if how == "train_mean" else None
                pred = model.predict(query, min_gene_overlap=0.0)
                acc[how] = float((pred == truth).mean())
            model.transform_.mean_ = mean
            print(f"| {share:.0%} | {seed} | {acc['train_mean']:.3f} | {acc['zero']:.3f} |")
            emit(
                {
                    "check": "fill",
                    "dataset": DATASET,
                    "values": "log2(x + 1)",
                    "share_missing": share,
                    "seed": seed,
                    "accuracy_train_mean": acc["train_mean"],
                    "accuracy_zero": acc["zero"],
                    "accuracy_all_genes": full,
                    "test_n": int(test.size),
                    "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    **state,
                },
                out,
            )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", choices=["leak", "fill", "both"], default="both")
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    p.add_argument("--n-trials", type=int, default=3)
    p.add_argument("--time-budget", type=float, default=60)
    p.add_argument("--out", default=None, help="append one JSON line per result")
    args = p.parse_args()
    sag.settings.verbosity = 0
    state = git_state()
    if args.check in ("leak", "both"):
        check_leak(args.seeds, args.n_trials, args.time_budget, args.out, state)
    if args.check in ("fill", "both"):
        check_fill(args.seeds, args.n_trials, args.time_budget, args.out, state)


if __name__ == "__main__":
    main()
