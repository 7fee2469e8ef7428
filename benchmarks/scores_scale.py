"""``sag.tl.embedding_scores`` on many cells against the same scores computed on every cell
(what it did before ``max_cells``), in one process: a synthetic 10-dimensional latent of
``--n-cells`` cells in 10 labelled clusters.

* sag: ``embedding_scores(..., tsne=True, leiden_seeds=1)`` with its default ``max_cells``
  (silhouette and t-SNE on a seeded sample of 10,000 cells; kNN, Leiden and Davies-Bouldin
  on every cell; exact kNN at once where scanpy's approximate path is known to fail).
* peer: the same call with ``max_cells=None`` (silhouette and t-SNE of every cell).

Usage (not part of CI; several minutes at 40,000 cells on 2 CPU cores)::

    OMP_NUM_THREADS=1 python benchmarks/scores_scale.py --n-cells 40000 \\
        --out benchmarks/scores_scale_results.jsonl
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time

import numpy as np
from _common import git_state


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-cells", type=int, default=40_000)
    p.add_argument("--out", default=None, help="append the result line (JSON) to this file")
    args = p.parse_args()

    import anndata as ad
    import pandas as pd

    import scautogenome as sag

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, args.n_cells)
    centres = rng.normal(scale=3.0, size=(10, 10))
    latent = (centres[labels] + rng.normal(size=(args.n_cells, 10))).astype(np.float32)
    a = ad.AnnData(np.zeros((args.n_cells, 1), dtype=np.float32))
    a.obs["label"] = pd.Categorical([f"type{k}" for k in labels])
    a.obsm["X_lat"] = latent
    row = {"step": "embedding_scores", "n_cells": args.n_cells}
    for name, max_cells in (("sag", 10_000), ("peer", None)):
        t = time.perf_counter()
        scores = sag.tl.embedding_scores(a, "X_lat", "label", seed=0, max_cells=max_cells)
        row[f"{name}_s"] = time.perf_counter() - t
        row[f"{name}_scores"] = {k: float(v) for k, v in scores.items()}
    row["ratio"] = row["sag_s"] / row["peer_s"]
    row.update(time=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), **git_state())
    print(json.dumps({k: row[k] for k in ("n_cells", "sag_s", "peer_s", "ratio")}))
    for k in ("silhouette", "davies_bouldin_tsne", "ari", "nmi"):
        print(k, round(row["sag_scores"][k], 4), round(row["peer_scores"][k], 4))
    if args.out:
        with open(args.out, "a") as fh:
            fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
