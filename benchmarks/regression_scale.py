"""The Regressor's target scale kept outside the float32 network: the same seeded searches
before and after, and a target far from zero.

Each run writes one JSON line per task: the trial values of a seeded search (no time budget,
so the same trials run on any load), the test R^2 and the test cells' predictions, with the
path and a source hash of the package that ran (run it once per package with PYTHONPATH):

* ``klein:days`` and ``cbmc:ADT3`` of ``benchmarks/regression.py`` (real targets; 3 trials of
  at most 15 epochs, seed 0, the datasets' shared split);
* ``synthetic+1e8``: y linear in 5 of 60 Gaussian genes plus noise (800 cells), offset by 1e8,
  and the same y without the offset (2 MLP trials of at most 30 epochs).

Usage (not part of CI; about two minutes per package on one thread)::

    git worktree add /tmp/sag_before 96367d1
    OMP_NUM_THREADS=1 PYTHONPATH=/tmp/sag_before python benchmarks/regression_scale.py \\
        --label before --out benchmarks/regression_scale_results.jsonl
    OMP_NUM_THREADS=1 python benchmarks/regression_scale.py --label after \\
        --out benchmarks/regression_scale_results.jsonl
    python benchmarks/regression_scale.py --report benchmarks/regression_scale_results.jsonl
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np


def _package_state() -> dict:
    import scautogenome as sag

    root = Path(sag.__file__).parent
    h = hashlib.sha1()  # as _common.git_state hashes the sources, of the package imported
    for f in sorted(root.rglob("*.py")):
        h.update(str(f.relative_to(root.parent)).encode() + f.read_bytes())
    return {"package": str(root), "package_tree": h.hexdigest()[:12]}


def _synthetic(offset: float):
    import anndata as ad

    rng = np.random.default_rng(0)
    X = rng.normal(size=(800, 60)).astype(np.float32)
    y = X[:, :5] @ np.array([2.0, -1.5, 1.0, -0.8, 0.5]) + 0.3 * rng.normal(size=800)
    a = ad.AnnData(X)
    a.obs_names = [f"c{i}" for i in range(800)]
    a.var_names = [f"g{j}" for j in range(60)]
    a.obs["target"] = y + offset
    return a


def _run(adata, **kw) -> dict:
    import scautogenome as sag

    sag.tl.classify(adata, "target", task="regression", seed=0, **kw)
    u = adata.uns["sag"]
    test = (adata.obs["sag_split"] == "test").to_numpy()
    pred = adata.obs["sag_pred"].to_numpy(np.float64)[test]
    return {
        "trial_values": [float(v) for v in u["trials"]["value"]],
        "test_r2": float(u["metrics"]["test"]["r2"]),
        "n_distinct_predictions": int(np.unique(pred).size),
        "predictions": pred.tolist(),  # of the test cells
    }


def run(label: str, out: str | None) -> None:
    import sys

    import scautogenome as sag

    sys.path.insert(0, str(Path(__file__).parent))
    from regression import task_data

    sag.settings.progress_bar = False
    state = {"label": label, "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    state.update(_package_state())
    rows = []
    for task in ("klein:days", "cbmc:ADT3"):
        kw = {"split_key": "split", "n_trials": 3, "config": {"trainer": {"max_epochs": 15}}}
        rows.append({"task": task, **_run(task_data(task), **kw)})
    cfg = {"trainer": {"max_epochs": 30, "patience": 5}}
    for task, offset in (("synthetic", 0.0), ("synthetic+1e8", 1e8)):
        kw = {"n_trials": 2, "mode": "mlp", "config": cfg}
        rows.append({"task": task, **_run(_synthetic(offset), **kw)})
    for row in rows:
        line = {**state, **row}
        print({k: v for k, v in line.items() if k != "predictions"})
        if out:
            with open(out, "a") as f:
                f.write(json.dumps(line) + "\n")


def report(path: str) -> str:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines()]
    by = {(r["label"], r["task"]): r for r in rows}
    lines = [
        "| task | trials equal | test R^2 before | test R^2 after | max abs. difference of "
        "the test predictions | distinct test predictions before / after |",
        "|---|---|---|---|---|---|",
    ]
    for task in dict.fromkeys(r["task"] for r in rows):
        b, a = by.get(("before", task)), by.get(("after", task))
        if b is None or a is None:
            continue
        pb, pa = np.asarray(b["predictions"]), np.asarray(a["predictions"])
        lines.append(
            f"| {task} | {b['trial_values'] == a['trial_values']} | {b['test_r2']:.6f} | "
            f"{a['test_r2']:.6f} | {np.nanmax(np.abs(pb - pa)):.3g} | "
            f"{b['n_distinct_predictions']} / {a['n_distinct_predictions']} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--label", default="after", help="before or after")
    p.add_argument("--out", default=None, help="append the result lines (JSON) to this file")
    p.add_argument("--report", default=None, help="print the table of this results file")
    args = p.parse_args()
    if args.report:
        print(report(args.report))
    else:
        run(args.label, args.out)


if __name__ == "__main__":
    main()
