"""Overhead creep across many stops: the same fixed-work user calls timed on several source
trees of scautogenome (an older revision exported with ``git archive`` against the working
tree), each call in a fresh subprocess whose ``PYTHONPATH`` is that tree, the trees interleaved
round by round so the load of a shared machine falls on all of them alike.

Every session benchmarks its own change against a peer; none measures what the checks,
warnings and records added over many sessions cost together on the paths every run takes.
This does: one fixed amount of work per call (fixed epochs, fixed trial count, no clock-bound
search), the median and minimum seconds per tree, and each tree's ratio to the first.

Calls (``--calls`` picks some; all by default):

* ``import``: ``import scautogenome`` and its lazy ``tl``, ``models``, ``io``, ``pl`` in a
  cold process (numpy, torch, scanpy... included; ``import_top``: the bare ``import`` alone);
  ``import_own``: the same after numpy, torch, anndata, scanpy, optuna, matplotlib, sklearn
  are imported (the package's own import cost).
* ``fit_pbmc_e1`` / ``fit_pbmc_e5`` / ``fit_pbmc_e30``: ``Classifier(mlp [64]).fit`` on
  scanpy's ``pbmc68k_reduced`` (700 cells, ``bulk_labels``), exactly 1 / 5 / 30 epochs
  (``min_epochs`` and ``patience`` = ``max_epochs``, so no early stop; an epoch of 560 cells
  takes milliseconds, so the split below uses 30). ``fit_syn_e1`` / ``fit_syn_e3``: the same
  (mlp [256]) on 20,000 x 2,000 synthetic counts. The report splits each pair into
  per-epoch time and the fixed rest (``e1 - (eN - e1) / (N - 1)``).
* ``model_predict``: ``model.predict`` of 20,000 synthetic cells (~75 % of the values
  non-zero); ``model_predict_sparse``: the same cells with 90 % of their values zeroed
  (~7.5 % non-zero, a droplet experiment's density); ``tl_predict``:
  ``sag.tl.predict`` of the same AnnData (model trained once per tree in the preparation,
  loaded untimed).
* ``classify`` / ``explain`` / ``write_report``: one process runs the user pipeline on
  ``pbmc68k_reduced``: ``sag.tl.classify`` (mode mlp, ``n_trials=2``, ``time_budget=None``,
  every hyperparameter fixed, 3 epochs each, random sampler, no pruner), then
  ``sag.tl.explain`` (50 test cells, background of 20, ``method="fast"``), then
  ``sag.io.write_report``, each timed on its own.
* ``save`` / ``load``: ``Model.save`` and ``Classifier.load`` of the synthetic model.

The synthetic data are drawn once (``sag.datasets.synthetic`` of the first tree) and written
as ``.h5ad``, so every tree reads the same cells. torch and BLAS run on one thread; run it with
``nice``. Usage (about 15 minutes for 3 trees x 3 repeats on 2 shared cores)::

    git archive <old> | tar -x -C /tmp/old
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/overhead_creep.py \\
        --trees old=/tmp/old head=. --repeat 3 --out creep.jsonl

``--profile CALL`` instead profiles the timed part of that call once per tree (cProfile, in
``<work>/profiles/<tree>/<call>/``) and prints each tree's own functions by cumulative time and
the functions whose cumulative time grew most from the first tree to each other tree.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CALLS = (
    "import",
    "import_own",
    "fit_pbmc_e1",
    "fit_pbmc_e5",
    "fit_pbmc_e30",
    "fit_syn_e1",
    "fit_syn_e3",
    "model_predict",
    "model_predict_sparse",
    "tl_predict",
    "pipeline",  # classify, explain, write_report
    "save_load",
)
# pairs (1 epoch, N epochs) split into per-epoch time and fixed rest in the summary
EPOCH_PAIRS = {
    "fit_pbmc": ("fit_pbmc_e1", "fit_pbmc_e30", 30),
    "fit_syn": ("fit_syn_e1", "fit_syn_e3", 3),
}
SYN = {"n_obs": 20_000, "n_vars": 2_000, "n_classes": 5, "seed": 0}
PBMC_ARCH = {"kind": "mlp", "units": [64]}
SYN_ARCH = {"kind": "mlp", "units": [256]}
CLASSIFY_CONFIG = {
    "budget": {"n_trials": 2, "time_budget": None},
    "search": {"sampler": "random", "pruner": "none"},
    "trainer": {"max_epochs": 3, "patience": 3, "min_epochs": 3},
    "space": {
        "common": {
            "lr": 1e-3,
            "batch_size": [64],
            "optimizer": ["adamw"],
            "momentum": 0.9,
            "weight_decay": 1e-4,
            "class_balance": ["weights"],
            "input_keep": [1.0],
            "dropout": [0.0],
            "act": "relu",
        },
        "mlp": {"n_layers": [1], "units": [64]},
    },
}


PYCACHE: Path | None = None  # set by main(): bytecode cached under it (None: never written)


def _env(tree: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if PYCACHE is None:  # every process compiles every module it imports
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    else:  # as an installed package runs: .pyc cached (outside the trees, not written in them)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    for k in (
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "NUMBA_NUM_THREADS",
    ):
        env[k] = "1"
    env["MPLBACKEND"] = "Agg"
    return env


# --------------------------------------------------------------------------------------------
# worker side: runs inside a fresh process whose PYTHONPATH is one tree
# --------------------------------------------------------------------------------------------
def _sag(tree: str):
    import scautogenome as sag

    where = Path(sag.__file__).resolve()
    if Path(tree).resolve() not in where.parents:
        msg = f"imported {where}, not the tree {tree}"
        raise RuntimeError(msg)
    import torch

    torch.set_num_threads(1)
    sag.settings.n_threads = 1
    sag.settings.progress_bar = False
    sag.settings.verbosity = 0
    return sag


def _pbmc():
    import scanpy as sc

    return sc.datasets.pbmc68k_reduced()


def _fit_kwargs(epochs: int) -> dict:
    return {"max_epochs": epochs, "min_epochs": epochs, "patience": epochs}


def _timed(out: dict, key: str, fn):
    """Time ``fn()`` into ``out[key]``; under ``--profile`` (``SAG_CREEP_PROFILE``: a folder),
    also write its cProfile (this call alone, no setup) to ``<folder>/<key>.prof``."""
    folder = os.environ.get("SAG_CREEP_PROFILE")
    prof = None
    if folder:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t = time.perf_counter()
    res = fn()
    out[key] = time.perf_counter() - t
    if prof is not None:
        prof.disable()
        prof.dump_stats(str(Path(folder) / f"{key}.prof"))
    return res


def _worker(call: str, tree: str, work: Path) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    out: dict[str, float] = {}
    if call in ("import", "import_own"):
        if call == "import_own":  # the dependencies first: the package's own cost alone
            import anndata  # noqa: F401
            import matplotlib.pyplot  # noqa: F401
            import numpy  # noqa: F401
            import optuna  # noqa: F401
            import scanpy  # noqa: F401
            import sklearn.metrics  # noqa: F401
            import torch  # noqa: F401
        t = time.perf_counter()
        import scautogenome

        out[f"{call}_top"] = time.perf_counter() - t
        for sub in (
            "tl",
            "models",
            "io",
            "pl",
        ):  # what a script touches (lazy submodules)
            getattr(scautogenome, sub)
        out[call] = time.perf_counter() - t
        _sag(tree)
        return out
    sag = _sag(tree)
    import anndata as ad

    if call == "prepare":  # untimed: the synthetic model every tree predicts with
        adata = ad.read_h5ad(work / "syn.h5ad")
        model = sag.models.Classifier(SYN_ARCH, _fit_kwargs(1))
        model.fit(adata, "label", seed=0)
        model.save(work / Path(tree).name / "syn_model", overwrite=True)
        return out
    if call.startswith("fit_"):
        _, data, ep = call.split("_")
        epochs = int(ep[1:])
        if data == "pbmc":
            adata, key, arch = _pbmc(), "bulk_labels", PBMC_ARCH
        else:
            adata, key, arch = ad.read_h5ad(work / "syn.h5ad"), "label", SYN_ARCH
        model = sag.models.Classifier(arch, _fit_kwargs(epochs))
        _timed(out, call, lambda: model.fit(adata, key, seed=0))
        n_done = len(model.history_)  # one entry per epoch trained
        if n_done and n_done != epochs:
            msg = f"{call}: trained {n_done} epochs, not {epochs}"
            raise RuntimeError(msg)
        return out
    model_dir = work / Path(tree).name / "syn_model"
    if call in ("model_predict", "model_predict_sparse", "tl_predict", "save_load"):
        sparse_ = call == "model_predict_sparse"
        adata = ad.read_h5ad(work / ("syn_sparse.h5ad" if sparse_ else "syn.h5ad"))
        del adata.obs["label"]  # query cells: no labels (tl.predict would score against them)
        model = sag.models.Classifier.load(model_dir)
        if call in ("model_predict", "model_predict_sparse"):
            _timed(out, call, lambda: model.predict(adata))
        elif call == "tl_predict":
            _timed(out, call, lambda: sag.tl.predict(adata, model))
        else:
            with tempfile.TemporaryDirectory(dir=work) as tmp:
                _timed(out, "save", lambda: model.save(Path(tmp) / "m", overwrite=True))
                _timed(out, "load", lambda: sag.models.Classifier.load(Path(tmp) / "m"))
        return out
    if call == "pipeline":
        adata = _pbmc()
        model = _timed(
            out,
            "classify",
            lambda: sag.tl.classify(
                adata, "bulk_labels", mode="mlp", config=CLASSIFY_CONFIG, seed=0
            ),
        )
        _timed(
            out,
            "explain",
            lambda: sag.tl.explain(
                adata, model, n_explain=50, n_background=20, method="fast", seed=0
            ),
        )
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            _timed(out, "write_report", lambda: sag.io.write_report(adata, Path(tmp) / "r.html"))
        return out
    msg = f"unknown call {call!r}"
    raise ValueError(msg)


# --------------------------------------------------------------------------------------------
# driver side
# --------------------------------------------------------------------------------------------
def _run(call: str, tree: Path, work: Path, profile: Path | None = None) -> dict:
    cmd = [sys.executable, __file__, "--worker", call, "--tree", str(tree), "--work", str(work)]
    env = _env(tree)
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        env["SAG_CREEP_PROFILE"] = str(profile)
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:] or ["?"], "wall": wall}
    last = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    res = json.loads(last[-1])
    res["_wall"] = wall
    return res


def _summary(rows: list[dict], names: list[str]) -> list[dict]:
    import numpy as np

    keys = sorted(
        {k for r in rows for k in r["times"]},
        key=lambda k: (rows[0]["order"].get(k, 99), k),
    )
    table = []
    for k in keys:
        line = {"call": k}
        for n in names:
            v = [r["times"][k] for r in rows if r["tree"] == n and k in r["times"]]
            line[n] = (float(np.median(v)), float(np.min(v)), len(v)) if v else None
        table.append(line)
    for pair, (a, b, n_ep) in EPOCH_PAIRS.items():
        per, fixed = {"call": f"{pair}_per_epoch"}, {"call": f"{pair}_fixed"}
        for n in names:
            va = [r["times"][a] for r in rows if r["tree"] == n and a in r["times"]]
            vb = [r["times"][b] for r in rows if r["tree"] == n and b in r["times"]]
            if va and vb:
                ma, mb = float(np.median(va)), float(np.median(vb))
                pe = (mb - ma) / (n_ep - 1)
                per[n] = (pe, pe, min(len(va), len(vb)))
                fixed[n] = (ma - pe, ma - pe, min(len(va), len(vb)))
            else:
                per[n] = fixed[n] = None
        table += [per, fixed]
    return table


def _print_table(table: list[dict], names: list[str]) -> None:
    head = f"{'call':<22}" + "".join(f"{n + ' med/min':>22}" for n in names)
    head += "".join(f"{n + '/' + names[0]:>14}" for n in names[1:])
    print(head)
    for line in table:
        s = f"{line['call']:<22}"
        for n in names:
            v = line[n]
            s += f"{'-':>22}" if v is None else f"{v[0]:>13.3f}/{v[1]:<8.3f}"
        for n in names[1:]:
            a, b = line[names[0]], line[n]
            s += f"{'-':>14}" if not a or not b or a[0] <= 0 else f"{b[0] / a[0]:>13.2f}x"
        print(s)


def _profile_diff(call: str, trees: dict[str, Path], work: Path, top: int) -> None:
    """cProfile the timed part of ``call`` once per tree; print each tree's own functions by
    cumulative time and the (file, function) pairs whose time grew most against the first."""
    import pstats

    stats: dict[str, dict] = {}
    for name, tree in trees.items():
        folder = work / "profiles" / name / call
        res = _run(call, tree, work, profile=folder)
        print(f"[{name}] {call}: {res}")
        for prof in sorted(folder.glob("*.prof")):
            st = pstats.Stats(str(prof))
            cum: dict = {}
            for (file, line, func), (_cc, nc, tt, ct, _callers) in st.stats.items():
                rel = file
                tp = str(tree.resolve())
                if file.startswith(tp):  # the same function in every tree: keyed by its file
                    rel = file[len(tp) + 1 :]
                prev = cum.get((rel, func), (0.0, 0.0, 0, line))
                cum[(rel, func)] = (prev[0] + ct, prev[1] + tt, prev[2] + nc, line)
            stats.setdefault(prof.stem, {})[name] = cum
    names = list(trees)
    for key, per_tree in stats.items():
        for n in names:
            if n not in per_tree:
                continue
            own = [(v, k) for k, v in per_tree[n].items() if k[0].startswith("scautogenome/")]
            own.sort(key=lambda x: -x[0][0])
            print(f"\n== {key} [{n}]: own functions by cumulative s (tottime, calls) ==")
            for (ct, tt, nc, line), (rel, func) in own[:top]:
                print(f"{ct:8.3f} {tt:8.3f} {nc:7d}  {rel}:{line} {func}")
        base = per_tree.get(names[0], {})
        for n in names[1:]:
            other = per_tree.get(n)
            if other is None:
                continue
            diffs = []
            for k in set(base) | set(other):
                a = base.get(k, (0.0, 0.0, 0, 0))
                b = other.get(k, (0.0, 0.0, 0, 0))
                diffs.append((b[0] - a[0], k, a, b))
            diffs.sort(key=lambda d: -d[0])
            print(f"\n== {key}: cumulative s, {n} - {names[0]} (top {top}) ==")
            for d, (rel, func), a, b in diffs[:top]:
                print(f"{d:+8.3f}  {a[0]:8.3f} -> {b[0]:8.3f}  {rel}:{b[3] or a[3]} {func}")


def _sparse_copy(src: Path, dst: Path, keep: float) -> None:
    """``src`` with each stored value kept with probability ``keep`` (seeded): the synthetic
    counts are ~75 % non-zero, a droplet experiment's 5-10 %."""
    import anndata as ad
    import numpy as np

    a = ad.read_h5ad(src)
    X = a.X.tocsr(copy=True)
    X.data[np.random.default_rng(0).random(X.nnz) >= keep] = 0
    X.eliminate_zeros()
    a.X = X
    a.write_h5ad(dst)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trees", nargs="+", default=[], help="name=path ... (first = baseline)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--calls", nargs="+", default=list(CALLS), choices=CALLS)
    p.add_argument("--work", default=None, help="folder for data, models and profiles")
    p.add_argument("--out", default=None, help="append one JSON line per measured process")
    p.add_argument("--profile", default=None, choices=CALLS, help="cProfile one call per tree")
    p.add_argument("--top", type=int, default=25)
    p.add_argument(
        "--no-bytecode",
        action="store_true",
        help="never cache .pyc (every process compiles its sources, as PYTHONDONTWRITEBYTECODE)",
    )
    p.add_argument("--warmup", type=int, default=1, help="unrecorded rounds first (.pyc, disk)")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--tree", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.worker:
        print(json.dumps(_worker(args.worker, args.tree, Path(args.work))))
        return

    trees = {}
    for spec in args.trees:
        name, _, path = spec.partition("=")
        trees[name] = Path(path).resolve()
    if not trees:
        p.error("--trees name=path ... is required")
    names = [n for n in trees]
    if len({t.name for t in trees.values()}) != len(trees):
        p.error("the trees' folder names must differ (models are kept per folder name)")
    work = Path(args.work or tempfile.mkdtemp(prefix="overhead_creep_")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    first = trees[names[0]]
    global PYCACHE
    PYCACHE = None if args.no_bytecode else work / "pycache"
    if not (work / "syn.h5ad").exists():
        code = (
            "import scautogenome as sag;"
            f"a = sag.datasets.synthetic(**{SYN!r});"
            f"a.write_h5ad({str(work / 'syn.h5ad')!r})"
        )
        subprocess.run([sys.executable, "-c", code], env=_env(first), check=True)
    if not (work / "syn_sparse.h5ad").exists():  # the same cells at a droplet's density
        _sparse_copy(work / "syn.h5ad", work / "syn_sparse.h5ad", keep=0.1)
    needs_model = {"model_predict", "model_predict_sparse", "tl_predict", "save_load"}
    if needs_model & {*args.calls, args.profile or ""}:
        for name, tree in trees.items():
            if not (work / tree.name / "syn_model").exists():
                res = _run("prepare", tree, work)
                if "error" in res:
                    print(f"[{name}] prepare failed: {res['error']}")

    if args.profile:
        _profile_diff(args.profile, trees, work, args.top)
        return

    rows = []
    order = {}
    for rep in range(-args.warmup, args.repeat):
        for i, call in enumerate(args.calls):
            # rotate the trees' order every round: none always runs first after a call
            k = (rep + i) % len(names)
            for name in names[k:] + names[:k]:
                res = _run(call, trees[name], work)
                wall = res.pop("_wall", res.pop("wall", None))
                if "error" in res:
                    print(
                        f"[{rep}] {call:<14} {name:<10} SKIPPED: {res['error']}",
                        flush=True,
                    )
                    continue
                if rep < 0:  # warm-up: not recorded
                    print(f"[warmup] {call:<14} {name:<10} " + json.dumps(res), flush=True)
                    continue
                for j, key in enumerate(res):
                    order.setdefault(key, 10 * i + j)
                row = {
                    "rep": rep,
                    "call": call,
                    "tree": name,
                    "times": res,
                    "process_wall": wall,
                }
                rows.append(row)
                print(f"[{rep}] {call:<14} {name:<10} " + json.dumps(res), flush=True)
                if args.out:
                    with open(args.out, "a") as f:
                        f.write(json.dumps({**row, "tree_path": str(trees[name])}) + "\n")
    for r in rows:
        r["order"] = order
    table = _summary(rows, names)
    print()
    _print_table(table, names)


if __name__ == "__main__":
    main()
