"""What ``sag.tl.predict`` costs on top of the network's own pass, on a wide model.

``sag.tl.predict`` checks the query, matches its genes, writes its outputs and records which
model predicted (``model_digest``, a SHA-1 of every weight; computed once per call since
2026-12-07, three times before on the AnnData of the model's classify run). Its peer is the
same model's ``predict_proba`` on the same cells (the pass alone, with the gene matching and
the transform), in the same process, the two alternating over ``--rounds`` rounds; the median
of each is reported with their ratio, and the digest alone. The model is the one trial of a
``sag.tl.classify`` (an MLP of two layers from 1,024 units on 20,000 genes, one epoch) on
``--cells`` synthetic sparse cells, predicted on that run's AnnData (its record is checked and
kept): the size of a wide model on all genes, where the per-call costs that grow with the
weights show. Rows go to
``benchmarks/predict_overhead.jsonl``.

Usage (not part of CI; about half a minute)::

    OMP_NUM_THREADS=1 python benchmarks/predict_overhead.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    import anndata as ad
    import numpy as np
    import scipy.sparse as sp
    import torch

    import scautogenome as sag

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, default=300)
    p.add_argument("--genes", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--out", default=str(HERE / "predict_overhead.jsonl"))
    p.add_argument("--label", default="", help="stamped on the row: which code ran")
    args = p.parse_args()
    torch.set_num_threads(1)
    sag.settings.verbosity = 0
    rng = np.random.default_rng(0)
    X = sp.random(args.cells, args.genes, density=0.05, format="csr", random_state=0)
    adata = ad.AnnData(X.astype(np.float32))
    adata.obs["label"] = pd_categorical(np.array(["a", "b", "c"])[rng.integers(0, 3, args.cells)])
    cfg = {
        "space": {"mlp": {"n_layers": 2, "units": 1024}},
        "trainer": {"max_epochs": 1},
        "budget": {"n_trials": 1, "time_budget": None},
    }
    model = sag.tl.classify(adata, "label", mode="mlp", config=cfg, seed=0)
    times = {"predict": [], "predict_proba": [], "digest": []}
    for _ in range(args.rounds):
        query = adata.copy()  # the classify run's AnnData: its record is checked and kept
        start = time.perf_counter()
        sag.tl.predict(query, model)
        times["predict"].append(time.perf_counter() - start)
        start = time.perf_counter()
        model.predict_proba(adata)
        times["predict_proba"].append(time.perf_counter() - start)
        start = time.perf_counter()
        model.weights_digest()
        times["digest"].append(time.perf_counter() - start)
    s = {k: statistics.median(v) for k, v in times.items()}
    row = {
        "label": args.label,
        "cells": args.cells,
        "genes": args.genes,
        "seconds": {k: round(v, 4) for k, v in s.items()},
        "predict_over_predict_proba": round(s["predict"] / s["predict_proba"], 3),
        "sag": sag.__version__,
        "torch": torch.__version__,
    }
    print(
        f"predict {s['predict']:.3f} s, predict_proba {s['predict_proba']:.3f} s "
        f"({row['predict_over_predict_proba']:.2f}x), weights digest {s['digest']:.3f} s"
    )
    with open(args.out, "a") as fh:
        fh.write(json.dumps(row) + "\n")


def pd_categorical(values):
    import pandas as pd

    return pd.Categorical(values)


if __name__ == "__main__":
    main()
