"""Memory of explanations with a large background: sag's fast path vs shap.GradientExplainer.

``sag.tl.explain(n_background=...)`` draws the background cells the SHAP values are relative to
(default 100); shap's documentation often uses hundreds to a thousand. This script explains a
few cells of an untrained MLP (memory does not depend on the weights) with the fast expected-
gradients engine (``ExpectedGradients``, the path ``method="fast"`` takes) and with
``shap.GradientExplainer`` (``method="shap"``), each in a fresh process, and records the growth
of the peak resident memory (VmHWM) over the call and its seconds; the report gives sag / shap.

``--old DIR`` adds the same measurement of the package found in ``DIR`` (e.g. a
``git archive`` of an earlier commit), for a before/after of a change.

Usage (not part of CI; a minute or two on 2 CPU cores)::

    python benchmarks/explain_background.py --out benchmarks/explain_background.jsonl
    python benchmarks/explain_background.py --report benchmarks/explain_background.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

HERE = Path(__file__).resolve().parent


def measure(engine: str, n_background: int, args) -> dict:
    """One explanation in this process: the growth of peak memory and the seconds."""
    import time

    import numpy as np
    import torch
    from _common import peak_rss_mb, reset_peak_rss

    from scautogenome.explain import ExpectedGradients, ShapGradient, sample_draws
    from scautogenome.nn import build_network

    torch.manual_seed(0)
    torch.set_num_threads(1)
    arch = {
        "kind": "mlp",
        "units": [args.width],
        "n_inputs": args.genes,
        "n_outputs": args.classes,
    }
    net = build_network(arch).eval()
    rng = np.random.default_rng(0)
    bg = rng.random((n_background, args.genes), dtype=np.float32)
    x = rng.random((args.cells, args.genes), dtype=np.float32)
    cells = np.arange(args.cells)
    if engine == "shap":
        explainer = ShapGradient(net, bg, nsamples=args.nsamples, seed=0)
    else:
        draws = sample_draws(args.cells, n_background, args.nsamples, seed=0)
        explainer = ExpectedGradients(net, bg, draws)
    reset_peak_rss()
    from _common import rss_mb

    before = rss_mb()
    start = time.perf_counter()
    if engine == "shap":
        explainer.attributions(x, cells)
    else:  # in the chunks sag.tl.explain gives it
        step = explainer.cells_per_chunk()
        for s in range(0, args.cells, step):
            explainer.attributions(x[s : s + step], cells[s : s + step])
    seconds = time.perf_counter() - start
    import scautogenome

    return {
        "package": str(Path(scautogenome.__file__).parent),
        "engine": engine,
        "path": getattr(explainer, "path", "shap"),
        "n_background": n_background,
        "peak_growth_mb": round(peak_rss_mb() - before, 1),
        "seconds": round(seconds, 3),
    }


def run_all(args) -> None:
    combos = [
        (label, engine, n_bg, pythonpath)
        for label, pythonpath in (("sag", None), *((("sag before", args.old),) if args.old else ()))
        for engine in ("fast",)
        for n_bg in args.backgrounds
    ] + [("shap", "shap", n_bg, None) for n_bg in args.backgrounds]
    for label, engine, n_bg, pythonpath in combos:
        env = dict(os.environ, OMP_NUM_THREADS="1")
        if pythonpath:
            env["PYTHONPATH"] = str(Path(pythonpath).resolve())
        cmd = [sys.executable, __file__, "--one", engine, str(n_bg), *_shape_args(args)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=HERE)
        rec = {"label": label, **json.loads(out.stdout.strip().splitlines()[-1])}
        rec.update(vars_of(args))
        line = json.dumps(rec)
        print(line, flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(line + "\n")


def _shape_args(args) -> list[str]:
    return [f"--{k}={v}" for k, v in vars_of(args).items()]


def vars_of(args) -> dict:
    return {k: getattr(args, k) for k in ("genes", "width", "classes", "cells", "nsamples")}


def report(paths: list[str]) -> None:
    """A markdown table: each run beside shap's of the same network and background."""
    import pandas as pd

    rows = pd.concat([pd.read_json(p, lines=True) for p in paths])
    shape = ["genes", "width", "classes", "cells", "nsamples"]
    shap = rows[rows["label"] == "shap"].set_index([*shape, "n_background"])
    lines = [
        "| network (genes, width, classes) | cells | package | background cells | path | "
        "peak growth MB | seconds | memory / shap | seconds / shap |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in rows.sort_values([*shape, "label", "n_background"]).iterrows():
        s = shap.loc[tuple(r[[*shape, "n_background"]])]
        lines.append(
            f"| {r['genes']}, {r['width']}, {r['classes']} | {r['cells']} | {r['label']} | "
            f"{r['n_background']:,} | {r['path']} | {r['peak_growth_mb']:.0f} | "
            f"{r['seconds']:.2f} | {r['peak_growth_mb'] / max(s['peak_growth_mb'], 1):.1f} | "
            f"{r['seconds'] / s['seconds']:.2f} |"
        )
    print("\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backgrounds", type=int, nargs="+", default=[100, 1000, 2000])
    p.add_argument("--genes", type=int, default=500)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--classes", type=int, default=50)
    p.add_argument("--cells", type=int, default=8)
    p.add_argument("--nsamples", type=int, default=50)
    p.add_argument("--old", default=None, help="a folder holding an earlier scautogenome")
    p.add_argument("--out", default=None, help="append the records (JSON lines) to this file")
    p.add_argument("--report", nargs="+", default=None, help="JSON-lines files to tabulate")
    p.add_argument("--one", nargs=2, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.report:
        report(args.report)
    elif args.one:
        print(json.dumps(measure(args.one[0], int(args.one[1]), args)))
    else:
        run_all(args)


if __name__ == "__main__":
    main()
