"""Classification benchmark (GitHub issue 2, point 13): sag vs LR, XGBoost and a scikit-learn MLP.

Every method sees the same cells and the same train/val/test split: the shared split of each
dataset (``../shared/data/splits/NAME.split.csv``; cells missing from it -- classes with fewer
than 3 cells -- are dropped for everyone). ``--seeds`` varies the methods' own randomness
(sag's search and training, XGBoost, the MLP); the split stays the shared one.

Peers follow ``../shared/anchors.md``: counts (non-negative integers, detected as sag does) are
normalized to 1e4 per cell + log1p, binary 0/1 profiles and other values are used as they are;
then every gene is scaled to 0-1 with the training split's min/max (kept sparse when every
training minimum is 0). LR: multinomial logistic regression, C tuned on val macro-F1. XGBoost:
gbtree, depth 6, gamma 0.1, ``tree_method="hist"``, ``n_jobs=2`` (``--threads N``: N), early
stopping on val. MLP: scikit-learn 256-128 with its own early stopping. Test metrics: accuracy
and macro-F1 (mean F1 over the classes present in the test split, as sag reports it). A peer's
seconds include the shared preprocessing; sag's seconds are the whole ``sag.tl.classify`` call.

Usage (not part of CI)::

    nice -n 5 python benchmarks/classify.py --datasets all --seeds 0 --time-budget 150
    python benchmarks/classify.py --report      # JSONL -> table in benchmarks/RESULTS.md

Results append to ``--out`` (one JSON line per dataset, method and seed); ``--report`` keeps
the last line of every (dataset, method, seed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import platform
import re
import sys
import time
import traceback
from pathlib import Path

# On a shared, oversubscribed machine, OpenMP threads that spin while waiting (the default) make
# torch and XGBoost several times slower with 2 threads than with 1, and multi-threaded OpenBLAS
# does the same to scikit-learn. Set before numpy/torch load; an explicit environment wins.
THREAD_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_NUM_THREADS": "1"}
for _k, _v in THREAD_ENV.items():
    os.environ.setdefault(_k, _v)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import DATA, HERE, ROOT, XGB_PAPER, git_state, load_split  # noqa: E402  (puts ROOT on sys.path)
from scipy import sparse  # noqa: E402

OUT = HERE / "out" / "classify.jsonl"
RESULTS = HERE / "RESULTS.md"
ANCHORS = ROOT.parent / "shared" / "anchors.md"
METHODS = ("sag", "lr", "xgboost", "mlp")
PEERS = ("lr", "xgboost", "mlp")
SECTION = "## Classification (issue 2)"
LR_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
# smallest first, so results arrive early
ORDER = (
    "nci60_celllines_microarray",
    "khan2001_srbct_microarray",
    "buettner2015_mesc_cellcycle",
    "pollen2014_human_11types",
    "hsmm_trapnell2014_timecourse",
    "tcga_rnaseq_5rare_cohorts",
    "cellbench_5celllines_celseq2",
    "klein2015_mouse_es_subset",
    "mouse_bladder_mca_2100cells",
    "pbmc3k_10x_seurat_labels",
    "tcga_pancan12_mutation_binary",
    "worm_neuron_cao2017",
    "pbmc4k_10x_scdcc_top2000",
    "human_kidney_young2018_top2000",
    "cbmc_citeseq_stoeckius2017_top2000",
    "tcga_cnv_5mb_bins_pancancer",
)


# -- data ---------------------------------------------------------------------------------------
def all_datasets() -> list[str]:
    present = {p.name.removesuffix(".h5ad") for p in DATA.glob("*.h5ad")}
    return [d for d in ORDER if d in present] + sorted(present - set(ORDER))


def value_type(X) -> str:
    """As sag detects it: binary 0/1, counts (non-negative integers) or continuous."""
    v = X.data if sparse.issparse(X) else np.asarray(X)
    if v.size == 0 or np.all((v == 0) | (v == 1)):
        return "binary"
    if np.all(v == np.round(v)) and v.min() >= 0:
        return "counts"
    return "continuous"


def preprocess(X, train: np.ndarray):
    """normalize_total 1e4 + log1p on counts, then 0-1 scaling fitted on the train rows."""
    X = sparse.csr_matrix(X, dtype=np.float32, copy=True)
    vt = value_type(X)
    if vt == "counts":
        totals = np.asarray(X.sum(axis=1)).ravel()
        totals[totals == 0] = 1.0
        X = sparse.csr_matrix(sparse.diags((1e4 / totals).astype(np.float32)) @ X)
        X.data = np.log1p(X.data)
    Xt = X[train]
    lo = np.asarray(Xt.min(axis=0).todense()).ravel().astype(np.float32)
    hi = np.asarray(Xt.max(axis=0).todense()).ravel().astype(np.float32)
    rng = hi - lo
    # as scikit-learn's MinMaxScaler: (near-)constant genes are not scaled. A range of ~1e-40
    # (denormal FPKM values in hsmm_trapnell2014) would otherwise blow test values up to ~1e33.
    rng[~(rng > 10 * np.finfo(np.float32).eps)] = 1.0
    if np.all(lo == 0):  # stays sparse
        X = sparse.csr_matrix(X @ sparse.diags((1.0 / rng).astype(np.float32)))
    else:
        X = ((X.toarray() - lo) / rng).astype(np.float32)
    return X, vt


def test_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    """Accuracy and macro-F1 over the classes true or predicted in this part (sag's definition
    since 2026-12-02, scikit-learn's; before, the classes with support only. The two differ
    only where a class absent from the part is predicted)."""
    from sklearn.metrics import f1_score

    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }


# -- methods ------------------------------------------------------------------------------------
def run_sag(
    adata,
    seed: int,
    time_budget: float,
    n_trials: int,
    name: str = "",
    trials_dir: Path | None = None,
) -> dict:
    import scautogenome as sag

    sag.settings.progress_bar = False
    a = adata.copy()
    t0 = time.perf_counter()
    sag.tl.classify(
        a, "label", split_key="split", time_budget=time_budget, n_trials=n_trials, seed=seed
    )
    seconds = time.perf_counter() - t0
    u = a.uns["sag"]
    trials = u["trials"]
    if not isinstance(trials, pd.DataFrame):
        trials = pd.DataFrame(trials)
    if trials_dir is not None:  # for diagnosis: epochs, seconds and params of every trial
        trials_dir.mkdir(parents=True, exist_ok=True)
        trials.to_csv(trials_dir / f"{name}.seed{seed}.trials.csv")
    states = trials["state"].astype(str).value_counts().to_dict() if len(trials) else {}
    modes = trials["mode"].astype(str).value_counts().to_dict() if len(trials) else {}
    test = u["metrics"]["test"]
    return {
        "accuracy": float(test["accuracy"]),
        "macro_f1": float(test["macro_f1"]),
        "seconds": seconds,
        "val_macro_f1": float(u["metrics"]["val"]["macro_f1"]),
        "best_mode": str(u["best"]["mode"]),
        "best_trial": int(u["best"]["trial"]),
        "best_val_score": float(u["best"]["val_score"]),
        "n_trials_run": len(trials),
        "trial_states": {str(k): int(v) for k, v in states.items()},
        "trial_modes": {str(k): int(v) for k, v in modes.items()},
        "search_seconds": float(u.get("search_seconds", float("nan"))),
        "value_type": str(u["params"]["value_type"]),
        "architecture": str(u["architecture"]),
    }


def run_lr(X, y, parts, n_classes, seed):
    from sklearn.linear_model import LogisticRegression

    tr, va, te = parts
    best = None
    scores = {}
    for C in LR_GRID:
        m = LogisticRegression(C=C, max_iter=1000, random_state=seed)
        m.fit(X[tr], y[tr])
        f = test_metrics(y[va], m.predict(X[va]), n_classes)["macro_f1"]
        scores[str(C)] = f
        if best is None or f > best[0]:  # ties: the smaller C (stronger regularisation)
            best = (f, C, m)
    _, C, m = best
    return m.predict(X[te]), {"C": C, "val_scores": scores}


def run_xgboost(X, y, parts, n_classes, seed, n_jobs=2):
    from xgboost import XGBClassifier

    tr, va, te = parts
    m = XGBClassifier(**XGB_PAPER, eval_metric="mlogloss", n_jobs=n_jobs, random_state=seed)
    # classes are 0..K-1 and every class has training cells (the shared split guarantees it)
    m.fit(X[tr], y[tr], eval_set=[(X[va], y[va])], verbose=False)
    return m.predict(X[te]), {"best_iteration": int(m.best_iteration)}


def run_mlp(X, y, parts, n_classes, seed):
    from sklearn.neural_network import MLPClassifier

    tr, _, te = parts
    m = MLPClassifier(
        hidden_layer_sizes=(256, 128), early_stopping=True, max_iter=200, random_state=seed
    )
    m.fit(X[tr], y[tr])
    return m.predict(X[te]), {"n_iter": int(m.n_iter_)}


PEER_FN = {"lr": run_lr, "xgboost": run_xgboost, "mlp": run_mlp}


# -- bookkeeping --------------------------------------------------------------------------------
def append(path: Path, rec: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(json.dumps(rec, default=float) + "\n")


def run(args) -> None:
    import torch

    import scautogenome as sag

    xgb_n_jobs = 2 if args.threads is None else args.threads
    peer_fn = {**PEER_FN, "xgboost": functools.partial(run_xgboost, n_jobs=xgb_n_jobs)}
    if args.threads is not None:
        sag.settings.n_threads = args.threads  # sag re-applies it at every training
    datasets = all_datasets() if args.datasets == ["all"] else args.datasets
    git = git_state()
    for name in datasets:
        adata = load_split(name)
        split = adata.obs["split"].astype(str).to_numpy()
        classes = np.array(sorted(adata.obs["label"].astype(str).unique()))
        y = np.searchsorted(classes, adata.obs["label"].astype(str).to_numpy())
        parts = tuple(np.flatnonzero(split == s) for s in ("train", "val", "test"))
        common = {
            "dataset": name,
            "n_obs": adata.n_obs,
            "n_vars": adata.n_vars,
            "n_classes": len(classes),
            "n_train": len(parts[0]),
            "n_val": len(parts[1]),
            "n_test": len(parts[2]),
            "host": platform.node(),
            "torch_threads": torch.get_num_threads(),
            "threads_set": args.threads,
            "xgb_n_jobs": xgb_n_jobs,
            "thread_env": {k: os.environ.get(k) for k in THREAD_ENV},
            **git,
        }
        Xp = vt = None
        prep_s = 0.0
        for seed in args.seeds:
            for method in args.methods:
                rec = {
                    **common,
                    "method": method,
                    "seed": seed,
                    "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    "load_avg": os.getloadavg()[0],
                }
                print(f"[{rec['time']}] {name} {method} seed {seed} ...", flush=True)
                try:
                    if method == "sag":
                        rec["budget"] = {"time_budget": args.time_budget, "n_trials": args.n_trials}
                        rec.update(
                            run_sag(
                                adata,
                                seed,
                                args.time_budget,
                                args.n_trials,
                                name=name,
                                trials_dir=args.out.parent / "trials",
                            )
                        )
                    else:
                        if Xp is None:
                            t0 = time.perf_counter()
                            Xp, vt = preprocess(adata.X, parts[0])
                            prep_s = time.perf_counter() - t0
                        t0 = time.perf_counter()
                        pred, info = peer_fn[method](Xp, y, parts, len(classes), seed)
                        fit_s = time.perf_counter() - t0
                        m = test_metrics(y[parts[2]], pred, len(classes))
                        rec.update(
                            accuracy=m["accuracy"],
                            macro_f1=m["macro_f1"],
                            seconds=fit_s + prep_s,
                            fit_seconds=fit_s,
                            prep_seconds=prep_s,
                            value_type=vt,
                            sparse_input=bool(sparse.issparse(Xp)),
                            info=info,
                        )
                except Exception as e:
                    rec["error"] = f"{type(e).__name__}: {e}"
                    rec["traceback"] = traceback.format_exc()
                    print(rec["traceback"], file=sys.stderr, flush=True)
                append(args.out, rec)
                if "error" not in rec:
                    print(
                        f"    acc {rec['accuracy']:.3f} F1 {rec['macro_f1']:.3f} "
                        f"{rec['seconds']:.1f}s"
                        + (f" best={rec['best_mode']}" if method == "sag" else ""),
                        flush=True,
                    )


# -- report -------------------------------------------------------------------------------------
def load_results(path: Path) -> pd.DataFrame:
    recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    df = pd.DataFrame(recs)
    for col in ("error", "budget", "trial_states", "best_mode", "accuracy", "macro_f1", "seconds"):
        if col not in df:  # e.g. a file without sag lines, or without failures
            df[col] = np.nan
    df["tb"] = [
        b.get("time_budget") if isinstance(b, dict) else np.nan
        for b in df.get("budget", [None] * len(df))
    ]
    # the last line of every (dataset, method, seed, sag budget) wins
    key = df["tb"].fillna(-1)
    keep = ~df.assign(_k=key).duplicated(["dataset", "method", "seed", "_k"], keep="last")
    return df[keep].reset_index(drop=True)


def split_budgets(
    df: pd.DataFrame, budget: float | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """The main table's rows (peers + sag at ``budget``, default the most common) and the rest."""
    sag_rows = df["method"] == "sag"
    if budget is None:
        tbs = df.loc[sag_rows, "tb"].dropna()
        budget = float(tbs.mode().iloc[0]) if len(tbs) else float("nan")
    other = sag_rows & (df["tb"] != budget)
    return df[~other].reset_index(drop=True), df[other].reset_index(drop=True), budget


def other_budget_table(main: pd.DataFrame, other: pd.DataFrame) -> str:
    """sag runs at another budget, next to the same seed's best peer from the main table."""
    if not len(other):
        return ""
    out = (
        "| dataset | seed | sag budget (s) | sag acc/F1 (s) | trials (complete/pruned) | mode "
        "| best peer F1 (same seed) | sag − best peer |\n|---|---|---|---|---|---|---|---|\n"
    )
    for _, r in other.iterrows():
        peers = main[
            (main["dataset"] == r["dataset"])
            & (main["seed"] == r["seed"])
            & main["method"].isin(PEERS)
        ]
        peers = peers[peers["error"].isna()]
        best = peers["macro_f1"].max() if len(peers) else np.nan
        if isinstance(r.get("error"), str):
            out += f"| {r['dataset']} | {r['seed']} | {r['tb']:.0f} | error: {r['error'][:80]} | | | | |\n"
            continue
        st = r["trial_states"] if isinstance(r["trial_states"], dict) else {}
        out += (
            f"| {r['dataset']} | {r['seed']} | {r['tb']:.0f} | {r['accuracy']:.3f}/{r['macro_f1']:.3f} "
            f"({r['seconds']:.0f}s) | {st.get('complete', 0) + st.get('pruned', 0)} "
            f"({st.get('complete', 0)}/{st.get('pruned', 0)}) "
            f"| {r['best_mode']} | {best:.3f} | {r['macro_f1'] - best:+.3f} |\n"
        )
    return out


def _cell(sub: pd.DataFrame) -> str:
    ok = sub[sub["error"].isna()] if "error" in sub else sub
    if not len(ok):
        return "error" if len(sub) else "—"
    acc, f1, s = ok["accuracy"].mean(), ok["macro_f1"].mean(), ok["seconds"].mean()
    txt = f"{acc:.3f}/{f1:.3f} ({s:.0f}s)"
    if len(ok) > 1:
        txt += f" ±{ok['macro_f1'].std(ddof=0):.3f} n={len(ok)}"
    return txt


def report_table(df: pd.DataFrame) -> str:
    """Per dataset, means over the seeds present for every method (same seeds for all)."""
    head = (
        "| dataset | n test | seeds | sag | LR | XGBoost | sklearn MLP | best peer F1 "
        "| sag − best peer | time sag/fastest peer | time sag/XGBoost | sag best mode(s); trials run |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    if "error" not in df:
        df = df.assign(error=np.nan)
    for name in [d for d in ORDER if d in set(df["dataset"])] + sorted(
        set(df["dataset"]) - set(ORDER)
    ):
        d = df[(df["dataset"] == name) & df["error"].isna()]
        # only the seeds for which every method has a result, so means compare like with like
        seeds = sorted(set.intersection(*[set(d[d["method"] == m]["seed"]) for m in METHODS]) or [])
        if not seeds:
            seeds = sorted(set(d["seed"]))
        d = d[d["seed"].isin(seeds)]
        by = {m: d[d["method"] == m] for m in METHODS}
        cells = [
            _cell(df[(df["dataset"] == name) & (df["method"] == m) & df["seed"].isin(seeds)])
            for m in METHODS
        ]
        peer_f1 = {m: by[m]["macro_f1"].mean() for m in PEERS if len(by[m])}
        peer_s = {m: by[m]["seconds"].mean() for m in PEERS if len(by[m])}
        best = max(peer_f1.values()) if peer_f1 else np.nan
        sag_f1 = by["sag"]["macro_f1"].mean() if len(by["sag"]) else np.nan
        sag_s = by["sag"]["seconds"].mean() if len(by["sag"]) else np.nan
        diff = sag_f1 - best
        diff_txt = (
            "—" if np.isnan(diff) else (f"**{diff:+.3f}**" if diff >= -1e-9 else f"{diff:+.3f}")
        )
        r_fast = sag_s / min(peer_s.values()) if peer_s and not np.isnan(sag_s) else np.nan
        r_xgb = sag_s / peer_s["xgboost"] if "xgboost" in peer_s and not np.isnan(sag_s) else np.nan
        sag_rows = by["sag"]
        if len(sag_rows):
            modes = ",".join(sag_rows["best_mode"].astype(str))
            # trials that ran (sag's table also lists enqueued trials never started: "waiting")
            trials = ",".join(
                str(sum(v for k, v in st.items() if k != "waiting"))
                if isinstance(st, dict)
                else "?"
                for st in sag_rows["trial_states"]
            )
            mode_txt = f"{modes}; {trials}"
        else:
            mode_txt = "—"
        n_test = int(df[df["dataset"] == name]["n_test"].iloc[0])
        rows.append(
            f"| {name} | {n_test} | {','.join(map(str, seeds))} | "
            + " | ".join(cells)
            + f" | {best:.3f} | {diff_txt} | "
            + ("—" if np.isnan(r_fast) else f"{r_fast:.0f}×")
            + " | "
            + ("—" if np.isnan(r_xgb) else f"{r_xgb:.1f}×")
            + f" | {mode_txt} |"
        )
    return head + "\n".join(rows) + "\n"


def read_anchors(path: Path = ANCHORS) -> dict[str, dict[str, float]]:
    """Macro-F1 of LR, XGBoost and the MLP per dataset from anchors.md's supervised table."""
    out: dict[str, dict[str, float]] = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        cells = [c.strip().replace("*", "") for c in line.strip().strip("|").split("|")]
        if len(cells) < 7 or cells[0] not in ORDER:
            continue
        try:
            out[cells[0]] = {
                m: float(cells[4 + i].split("/")[1].split()[0]) for i, m in enumerate(PEERS)
            }
        except (IndexError, ValueError):
            continue
    return out


def anchors_table(df: pd.DataFrame) -> str:
    """Seed-0 peer macro-F1 here vs anchors.md (same split, seed 0)."""
    anchors = read_anchors()
    if not anchors:
        return ""
    out = (
        "| dataset | LR here / anchor | XGBoost here / anchor | MLP here / anchor |\n"
        "|---|---|---|---|\n"
    )
    for name in [d for d in ORDER if d in set(df["dataset"]) and d in anchors]:
        cells = []
        for m in PEERS:
            r = df[
                (df["dataset"] == name)
                & (df["method"] == m)
                & (df["seed"] == 0)
                & df["error"].isna()
            ]
            here = r["macro_f1"].iloc[-1] if len(r) else np.nan
            a = anchors[name][m]
            flag = " ⚠" if abs(here - a) > 0.03 else ""
            cells.append("—" if np.isnan(here) else f"{here:.3f} / {a:.3f}{flag}")
        out += f"| {name} | " + " | ".join(cells) + " |\n"
    return out


def write_report(df: pd.DataFrame, path: Path, analysis: str | None) -> None:
    df, other, tb = split_budgets(df)
    budgets = sorted(
        {json.dumps(b, sort_keys=True) for b in df.loc[df["method"] == "sag", "budget"].dropna()}
    )
    body = (
        f"{SECTION}\n\n"
        "`benchmarks/classify.py` on every dataset in `../shared/data` with its shared split "
        "(`splits/NAME.split.csv`), 2 shared CPU cores, no GPU. Cells: test accuracy/macro-F1 "
        "(wall seconds), means over the seeds listed (± = SD of macro-F1 over seeds). A peer's "
        "seconds include the shared preprocessing. sag budget(s): "
        + ", ".join(f"`{b}`" for b in budgets)
        + ". Bold difference: sag at or above the best peer. Raw lines: "
        "`benchmarks/classify_results.jsonl`.\n\n" + report_table(df)
    )
    anchors = anchors_table(df)
    if anchors:
        body += (
            "\nPeers here vs `../shared/anchors.md` (test macro-F1, seed 0; ⚠ = differs by more "
            "than 0.03):\n\n" + anchors
        )
    if len(other):
        body += (
            f"\nsag at other budgets than {tb:.0f} s (same split and seed; peers as above):\n\n"
            + other_budget_table(df, other)
        )
    if analysis:
        body += "\n" + analysis.strip() + "\n"
    text = path.read_text() if path.exists() else HEADER
    # the generated section's own heading, a whole line: not a hand-written section whose
    # heading begins alike ("## Classification (issue 2) re-checked on ...")
    found = re.search(rf"^{re.escape(SECTION)}\n", text, flags=re.MULTILINE)
    if found:
        start = found.start()
        nxt = text.find("\n## ", start + len(SECTION))
        text = text[:start] + body + ("" if nxt < 0 else "\n" + text[nxt + 1 :])
    else:
        text = text.rstrip() + "\n\n" + body
    path.write_text(text)


HEADER = """# Benchmarks

Results of the scripts in `benchmarks/` (not part of CI). Machine: a shared Linux VM with 2 CPU
cores (shared with other jobs, so wall seconds are noisy; compare methods only through ratios
measured in the same run), no GPU, Python 3.11, torch 2.13 CPU, scikit-learn 1.9.1, xgboost 3.2.0.
Datasets: `../shared/data` (see its CATALOG.md); peer reference numbers: `../shared/anchors.md`.
Each section names its command and date.
"""


def main(argv=None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--datasets", nargs="+", default=["all"], help="names (without .h5ad) or 'all'")
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--time-budget", type=float, default=150.0, help="sag's search budget (s)")
    p.add_argument("--n-trials", type=int, default=40, help="sag's trial budget")
    p.add_argument("--out", type=Path, default=OUT, help="JSONL file results are appended to")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads of sag's torch and of XGBoost (default: torch's own, XGBoost 2, as the "
        "recorded runs)",
    )
    p.add_argument("--report", action="store_true", help="compile --out into RESULTS.md")
    p.add_argument("--results", type=Path, default=RESULTS, help="markdown file for --report")
    p.add_argument("--analysis", type=Path, default=None, help="markdown put under the table")
    args = p.parse_args(argv)
    if args.report:
        df = load_results(args.out)
        analysis = args.analysis.read_text() if args.analysis else None
        write_report(df, args.results, analysis)
        main_df, other, _ = split_budgets(df)
        print(report_table(main_df))
        print(other_budget_table(main_df, other))
        return
    unknown = set(args.datasets) - {"all", *all_datasets()}
    if unknown:
        p.error(f"unknown dataset(s): {sorted(unknown)}")
    run(args)


if __name__ == "__main__":
    main()
