"""Explanation benchmark (GitHub issue 5, point 7): ``method="fast"`` vs shap.GradientExplainer.

For every dataset a classifier is trained once (``sag.tl.classify``, one trial of a fixed MLP so
that the benchmark times the explanation, not the search), then explained with
``sag.tl.explain``:

* ``fast`` on ``--n-explain`` cells (the default test-split selection, stratified by class);
* ``fast`` and ``shap`` on the same ``--n-compare`` cells (a stratified subset), with the same
  background and ``nsamples`` but independent random draws. Agreement: Spearman correlation of
  each class's importance column over all genes, and the overlap of the two top-20 lists.
  Speed: seconds of the two ``sag.tl.explain`` calls (end to end) and their ratio.

The ``scale`` dataset is synthetic sparse counts (``--scale-cells`` x ``--scale-genes``,
``--scale-classes`` classes, about 10% non-zero, 20 marker genes per class): ``fast`` explains
all its test+val+train cells it is asked for (``--scale-explain``) and shap only
``--scale-shap-cells`` cells (it would take hours), so its ratio is per cell. Peak resident
memory of the fast call is read from /proc (VmHWM after resetting it).

Usage (not part of CI; a few minutes on 2 CPU cores)::

    python benchmarks/explain.py                       # all datasets -> benchmarks/out/explain.json
    python benchmarks/explain.py --report              # -> benchmarks/out/explain_section.md (for RESULTS.md)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

# On a shared, oversubscribed machine, OpenMP threads that spin while waiting make torch several
# times slower with 2 threads than with 1 (see benchmarks/classify.py). Set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd
from _common import peak_rss_mb, reset_peak_rss
from scipy import sparse
from scipy.stats import spearmanr

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
OUT = HERE / "out" / "explain.json"
RESULTS = HERE / "out" / "explain_section.md"  # pasted into RESULTS.md by hand
SECTION = "## Explanations: fast expected gradients vs shap.GradientExplainer (issue 5)"
MARKERS = {
    "CD19+ B": ["CD79A", "MS4A1"],
    "B": ["CD79A", "MS4A1"],
    "CD14+ Monocyte": ["CD14", "LYZ", "S100A8", "S100A9", "FCN1"],
    "CD14+ Mono": ["CD14", "LYZ", "S100A8", "S100A9", "FCN1"],
    "CD56+ NK": ["GNLY", "NKG7"],
    "NK": ["GNLY", "NKG7"],
}


def train_config(units: int, max_epochs: int) -> dict:
    return {
        "budget": {"n_trials": 1, "time_budget": None},
        "trainer": {"max_epochs": max_epochs, "patience": 6, "min_epochs": 5},
        "space": {
            "mlp": {"n_layers": [1], "units": [units]},
            "common": {
                "batch_size": [64],
                "lr": [2e-3],
                "optimizer": ["adamw"],
                "weight_decay": [1e-4],
                "class_balance": ["weights"],
                "input_keep": [1.0],
                "dropout": [0.1],
            },
        },
    }


# -- data ---------------------------------------------------------------------------------------
def load(name: str, args):
    import anndata as ad
    import scanpy as sc

    import scautogenome as sag

    if name == "pbmc68k_reduced":
        return sag.datasets.pbmc68k_reduced(), "bulk_labels"
    if name == "scale":
        return synthetic_sparse(args.scale_cells, args.scale_genes, args.scale_classes), "label"
    adata = ad.read_h5ad(DATA / f"{name}.h5ad")
    sc.pp.filter_genes(adata, min_cells=3)
    return adata, "label"


def synthetic_sparse(n_obs: int, n_vars: int, n_classes: int, seed: int = 0):
    """Sparse Poisson counts (~10% non-zero); class k over-expresses 20 genes of its own."""
    import anndata as ad

    rng = np.random.default_rng(seed)
    labels = np.arange(n_obs) % n_classes
    rng.shuffle(labels)
    rate = rng.gamma(0.3, 0.4, size=n_vars).astype(np.float32)
    rows, cols, vals = [], [], []
    for i in range(n_obs):
        lam = rate.copy()
        k = labels[i]
        lam[20 * k : 20 * k + 20] *= 8.0
        x = rng.poisson(lam)
        nz = np.flatnonzero(x)
        rows.append(np.full(len(nz), i))
        cols.append(nz)
        vals.append(x[nz])
    X = sparse.csr_matrix(
        (np.concatenate(vals).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_obs, n_vars),
    )
    obs = pd.DataFrame(
        {"label": pd.Categorical([f"class_{k:02d}" for k in labels])},
        index=[f"cell_{i}" for i in range(n_obs)],
    )
    return ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=[f"gene_{j}" for j in range(n_vars)]))


# -- measurements -------------------------------------------------------------------------------
def timed_explain(adata, model, **kwargs) -> tuple[float, dict, np.ndarray]:
    import scautogenome as sag

    t = time.perf_counter()
    sag.tl.explain(adata, model, **kwargs)
    seconds = time.perf_counter() - t
    return seconds, dict(adata.uns["sag_shap"]), adata.varm["sag_shap"].copy()


def run_dataset(name: str, args) -> dict:
    import torch

    import scautogenome as sag

    adata, labels_key = load(name, args)
    units = args.scale_units if name == "scale" else args.units
    t = time.perf_counter()
    model = sag.tl.classify(
        adata, labels_key, mode="mlp", config=train_config(units, args.max_epochs), seed=0
    )
    train_s = time.perf_counter() - t
    rec = {
        "dataset": name,
        "n_obs": adata.n_obs,
        "n_vars": adata.n_vars,
        "n_classes": len(model.classes_),
        "density": float(adata.X.nnz / (adata.n_obs * adata.n_vars)),
        "network": f"mlp {units}",
        "test_accuracy": float(adata.uns["sag"]["metrics"]["test"]["accuracy"]),
        "train_seconds": train_s,
        "nsamples": args.nsamples,
        "n_background": args.n_background,
        "torch_threads": torch.get_num_threads(),
        "loadavg_start": os.getloadavg()[0],
    }
    nsamples = args.scale_nsamples if name == "scale" else args.nsamples
    rec["nsamples"] = nsamples
    common = {"nsamples": nsamples, "n_background": args.n_background, "seed": 0}
    print(f"[{name}] {adata.n_obs} x {adata.n_vars}, trained in {train_s:.0f} s", flush=True)

    # fast on many cells (memory measured here)
    n_explain = args.scale_explain if name == "scale" else args.n_explain
    cells = "all" if name == "scale" else "test"
    rss_before = peak_rss_mb()
    reset_peak_rss()
    fast_s, uns, table = timed_explain(adata, model, cells=cells, n_explain=n_explain, **common)
    rec.update(
        fast_cells=len(uns["cells"]),
        fast_seconds=fast_s,
        fast_engine=uns["params"]["engine"],
        fast_peak_rss_mb=peak_rss_mb(),
        rss_before_mb=rss_before,
        top10={str(c): list(map(str, g[:10])) for c, g in zip(uns["columns"], uns["top_genes"])},
    )
    print(f"[{name}] fast: {len(uns['cells'])} cells in {fast_s:.1f} s", flush=True)
    markers = {}
    for cls, genes in MARKERS.items():
        if cls in rec["top10"]:
            col = list(uns["columns"]).index(cls)
            order = np.argsort(-np.nan_to_num(table[:, col], nan=-1))
            rank = {
                g: int(np.flatnonzero(order == adata.var_names.get_loc(g))[0]) + 1
                for g in genes
                if g in adata.var_names
            }
            markers[cls] = rank
    rec["marker_ranks"] = markers

    # fast vs shap on the same cells
    k = args.scale_shap_cells if name == "scale" else args.n_compare
    _, sub, _ = timed_explain(adata, model, cells=cells, n_explain=k, **common)
    chosen = list(sub["cells"])
    fs, fu, ft = timed_explain(adata, model, cells=chosen, n_explain=None, **common)
    ss, su, st = timed_explain(adata, model, cells=chosen, n_explain=None, method="shap", **common)
    assert list(fu["cells"]) == list(su["cells"]) == chosen
    rec.update(compare_cells=len(chosen), compare_fast_seconds=fs, compare_shap_seconds=ss)
    rec["speedup_same_cells"] = ss / fs
    rec["speedup_per_cell"] = (ss / len(chosen)) / (fast_s / rec["fast_cells"])
    rho, overlap = {}, {}
    for c, cls in enumerate(fu["columns"]):
        if np.isfinite(ft[:, c]).any() and np.isfinite(st[:, c]).any():
            ok = np.isfinite(ft[:, c]) & np.isfinite(st[:, c])
            rho[str(cls)] = float(spearmanr(ft[ok, c], st[ok, c])[0])
            overlap[str(cls)] = len(set(fu["top_genes"][c][:20]) & set(su["top_genes"][c][:20]))
    rec.update(spearman=rho, top20_overlap=overlap, loadavg_end=os.getloadavg()[0])
    print(
        f"[{name}] same {len(chosen)} cells: fast {fs:.1f} s, shap {ss:.1f} s "
        f"(x{ss / fs:.0f}); spearman min {min(rho.values()):.3f}",
        flush=True,
    )
    return rec


# -- report -------------------------------------------------------------------------------------
def report(records: list[dict], command: str) -> str:
    lines = [
        SECTION,
        "",
        f"Command: `{command}`",
        "",
        "Machine: 2 shared CPU cores (load average in the table; other jobs ran at the same "
        "time), no GPU, `OMP_WAIT_POLICY=PASSIVE`. Seconds are whole `sag.tl.explain` calls. "
        "Both methods explain the same cells with the same background and `nsamples`; their "
        "random draws are independent. Expected gradients explain the class logits on the "
        "model's input scale.",
        "",
        "| dataset | cells x genes, classes | nnz | network | same cells | nsamples | fast s | shap s | "
        "shap/fast | Spearman per class (min / median) | top-20 overlap (min / median) | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        rho = np.array(list(r["spearman"].values()))
        ov = np.array(list(r["top20_overlap"].values()))
        lines.append(
            f"| {r['dataset']} | {r['n_obs']} x {r['n_vars']}, {r['n_classes']} | "
            f"{r['density']:.1%} | {r['network']} | {r['compare_cells']} | {r['nsamples']} | "
            f"{r['compare_fast_seconds']:.3g} | {r['compare_shap_seconds']:.4g} | "
            f"{r['speedup_same_cells']:.0f}x | {rho.min():.3f} / {np.median(rho):.3f} | "
            f"{ov.min()} / {np.median(ov):.0f} | {r['loadavg_start']:.1f}-{r['loadavg_end']:.1f} |"
        )
    lines += [
        "",
        "Fast path on more cells (the shap column is extrapolated per cell from the row above; "
        "shap itself was not run on these cells):",
        "",
        "| dataset | cells | nsamples | background | engine | fast s | shap s per cell | "
        "shap/fast per cell | peak RSS MB (before) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        lines.append(
            f"| {r['dataset']} | {r['fast_cells']} | {r['nsamples']} | {r['n_background']} | "
            f"{r['fast_engine']} | {r['fast_seconds']:.3g} | "
            f"{r['compare_shap_seconds'] / r['compare_cells']:.3g} | "
            f"{r['speedup_per_cell']:.0f}x | {r['fast_peak_rss_mb']:.0f} "
            f"({r['rss_before_mb']:.0f}) |"
        )
    lines += [
        "",
        "Notes. Spearman is taken over all genes of a class column, including the many genes "
        "with near-zero importance whose order is mostly Monte-Carlo noise, so it is lowest for "
        "classes with one or two explained cells among the compared ones (e.g. a class of 14 "
        "cells); the top-20 overlap is what a user sees. `shap/fast` on the same cells includes "
        "the fast call's fixed costs (gene matching, transform, copying the network), so it is "
        "smaller than the per-cell ratio. Peak RSS is the whole process (data, model, torch) "
        "during the fast call; `before` is the peak of everything earlier (training included). "
        "`scale` is synthetic (class k over-expresses genes 20k..20k+19), so its top genes are "
        "not listed; the planted-marker count below says how many of them each class's top 10 "
        "holds.",
    ]
    for r in records:
        if r["dataset"] == "scale":
            hits = [
                len({f"gene_{i}" for i in range(20 * k, 20 * k + 20)} & set(genes))
                for cls, genes in r["top10"].items()
                if cls != "overall"
                for k in [int(cls.split("_")[1])]
            ]
            lines += [
                "",
                f"scale: planted markers in the top 10 of each of the {len(hits)} classes: "
                f"min {min(hits)}, median {int(np.median(hits))}, max {max(hits)}.",
            ]
    for r in records:
        if r["dataset"] == "scale":
            continue
        lines += [
            "",
            f"Top 10 genes per class, {r['dataset']} (fast, {r['fast_cells']} cells; "
            f"test accuracy of the model {r['test_accuracy']:.3f}):",
            "",
        ]
        lines += [f"- {cls}: {' '.join(genes)}" for cls, genes in r["top10"].items()]
        if r["marker_ranks"]:
            ranks = "; ".join(
                f"{cls}: " + ", ".join(f"{g} #{k}" for g, k in rk.items())
                for cls, rk in r["marker_ranks"].items()
            )
            lines += ["", f"Marker ranks (1 = top): {ranks}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--datasets",
        nargs="+",
        default=["pbmc68k_reduced", "pbmc3k_10x_seurat_labels", "scale"],
    )
    p.add_argument("--nsamples", type=int, default=100)
    p.add_argument("--n-background", type=int, default=100)
    p.add_argument("--n-explain", type=int, default=300)
    p.add_argument("--n-compare", type=int, default=60)
    p.add_argument("--units", type=int, default=256)
    p.add_argument("--max-epochs", type=int, default=30)
    p.add_argument("--scale-cells", type=int, default=1200)
    p.add_argument("--scale-genes", type=int, default=20000)
    p.add_argument("--scale-classes", type=int, default=20)
    p.add_argument("--scale-units", type=int, default=256)
    p.add_argument("--scale-explain", type=int, default=1000)
    p.add_argument("--scale-shap-cells", type=int, default=3)
    p.add_argument("--scale-nsamples", type=int, default=200)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument(
        "--report",
        action="store_true",
        help="write the RESULTS.md section (benchmarks/out/explain_section.md) from --out",
    )
    args = p.parse_args(argv)
    if args.report:
        data = json.loads(args.out.read_text())
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(report(data["records"], data["command"]))
        print(RESULTS.read_text())
        return

    import torch

    import scautogenome as sag

    if args.threads:
        torch.set_num_threads(args.threads)
    sag.settings.verbosity = 1
    sag.settings.progress_bar = False
    sag.settings.device = "cpu"
    records = []
    for name in args.datasets:
        records.append(run_dataset(name, args))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        command = "python benchmarks/explain.py " + " ".join(argv or sys.argv[1:])
        args.out.write_text(
            json.dumps(
                {
                    "command": command.strip(),
                    "date": dt.datetime.now().isoformat(timespec="seconds"),
                    "python": platform.python_version(),
                    "records": records,
                },
                indent=1,
            )
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)  # git ignores it: a fresh clone lacks it
    RESULTS.write_text(report(records, command.strip()))
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
