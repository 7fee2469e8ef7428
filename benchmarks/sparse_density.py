"""Where the sparse transform of a CSR query pays: ``Classifier.predict`` with each minibatch
transformed on its stored values (``TorchTransform.transform_sparse``, then densified) against
each minibatch densified first and transformed dense, across the share of non-zero values.

``BatchLoader`` takes the sparse path for a CSR query whose transform keeps zeros
(``data._loader.sparse_transform_applies``) where the model asks for it (since
``SPARSE_MAX_DENSITY``: a query with few values stored, ``data._loader.sparse_pays``); here the
path is forced on and off by replacing those functions where they are read
(``data._loader`` and ``models._supervised``). Only one minibatch is ever dense on either path
(never the whole matrix).

A ``Classifier`` (mlp ``[256]``, one epoch) is trained once on ``synthetic(2000 x 2000)``
counts; each query is ``--cells`` cells x the model's 2,000 genes of whole counts (1-19) at an
exact density (each value non-zero with that probability), built one density at a time. For
each density the two paths alternate ``--repeat`` rounds in this process (their order swapped
each round) and the median seconds of each is reported with their ratio sparse/dense, for:

- ``predict``: ``model.predict`` of the AnnData (the query's checks included, the same on both
  paths);
- ``loader``: one pass over the model's ``BatchLoader`` alone (the minibatches through the
  transform, no network, no checks): the part the two paths differ in.

Memory, once per path and density after the timed rounds (untimed): ``peak_mib``, the growth of
the process's peak resident size (``VmHWM``, reset through ``/proc/self/clear_refs``) over
its resident size before the call, with glibc's mmap threshold fixed at 64 KiB (the script
re-executes itself with ``MALLOC_MMAP_THRESHOLD_`` set) so that freed blocks leave the
process; ``py_mib``, tracemalloc's peak (numpy and scipy arrays; torch's tensors are not
traced). ``ResVAE.get_latent`` is not measured: its loader (``train._vae.encode_rows``) never
takes the sparse path. torch and BLAS run on one thread. Rows go to
``benchmarks/sparse_density.jsonl``.

Usage (not part of CI; about ten minutes on 2 shared cores)::

    nice -n 5 env OMP_NUM_THREADS=1 python benchmarks/sparse_density.py --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
DENSITIES = (1, 2.5, 5, 10, 20, 30, 40, 50, 75, 100)
PATHS = {"sparse": True, "dense": False}


def _query(n_obs: int, n_vars: int, density: float, seed: int):
    """A float32 CSR of whole counts 1-19, each value non-zero with probability ``density``
    (built a block of rows at a time)."""
    import numpy as np
    from scipy import sparse

    rng = np.random.default_rng(seed)
    parts = []
    for start in range(0, n_obs, 2000):
        n = min(2000, n_obs - start)
        keep = rng.random((n, n_vars)) < density
        values = rng.integers(1, 20, (n, n_vars)).astype(np.float32)
        parts.append(sparse.csr_matrix(np.where(keep, values, np.float32(0))))
    return sparse.vstack(parts, format="csr", dtype=np.float32)


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def _peak_mib(f) -> float:
    """The growth of the peak resident size over the resident size before ``f()``."""
    with open("/proc/self/clear_refs", "w") as fh:  # resets VmHWM to VmRSS
        fh.write("5")
    before = _rss_kib("VmRSS")
    f()
    return round((_rss_kib("VmHWM") - before) / 1024, 1)


def _py_mib(f) -> float:
    tracemalloc.start()
    f()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return round(peak / 2**20, 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, default=20000)
    p.add_argument("--genes", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--densities", type=float, nargs="*", default=DENSITIES, help="percent")
    p.add_argument("--out", default=str(HERE / "sparse_density.jsonl"))
    p.add_argument("--label", default="", help="stamped on each row: which code ran")
    args = p.parse_args()
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") is None:  # freed arrays leave the process
        os.environ["MALLOC_MMAP_THRESHOLD_"] = "65536"
        os.execv(sys.executable, [sys.executable, *sys.argv])

    import anndata as ad
    import torch

    import scautogenome as sag
    import scautogenome.data._loader as loader_mod
    import scautogenome.models._supervised as supervised

    torch.set_num_threads(1)
    sag.settings.verbosity = 0
    decide = loader_mod.sparse_transform_applies
    train = sag.datasets.synthetic(n_obs=2000, n_vars=args.genes, n_classes=5, seed=0)
    model = sag.models.Classifier({"kind": "mlp", "units": [256]}, {"max_epochs": 1})
    model.fit(train, "label", seed=0)

    # since SPARSE_MAX_DENSITY, the model asks for the sparse path by density (sparse_pays)
    pays = getattr(supervised, "sparse_pays", None)

    def forced(on: bool):
        loader_mod.sparse_transform_applies = decide if on else (lambda *a: False)
        if pays is not None:
            supervised.sparse_pays = lambda X: on

    def run(on: bool, what: str, query):
        forced(on)
        try:
            if what == "predict":
                return model.predict(query)
            batches = model._loader(query.X, None, 1024)
            assert batches.stored_values == on
            return sum(float(x[0, 0]) for x, _ in batches)
        finally:
            loader_mod.sparse_transform_applies = decide
            if pays is not None:
                supervised.sparse_pays = pays

    rows = []
    print(f"{'density %':>9} {'what':>8} {'sparse s':>9} {'dense s':>9} {'ratio':>6}"
          f" {'peak MiB s/d':>13} {'py MiB s/d':>12}")  # fmt: skip
    for pct in args.densities:
        X = _query(args.cells, args.genes, pct / 100, seed=1)
        query = ad.AnnData(X, var=train.var[[]].copy())
        density = X.nnz / (X.shape[0] * X.shape[1])
        assert (run(True, "predict", query) == run(False, "predict", query)).all()
        for what in ("predict", "loader"):
            times = {True: [], False: []}
            for r in range(args.repeat):
                for on in (True, False) if r % 2 == 0 else (False, True):
                    start = time.perf_counter()
                    run(on, what, query)
                    times[on].append(time.perf_counter() - start)
            s, d = (statistics.median(times[on]) for on in (True, False))
            peak = {
                on: _peak_mib(lambda on=on, w=what, q=query: run(on, w, q)) for on in (True, False)
            }
            py = {on: _py_mib(lambda on=on, w=what, q=query: run(on, w, q)) for on in (True, False)}
            row = {
                "label": args.label,
                "what": what,
                "density": round(density, 4),
                "cells": args.cells,
                "genes": args.genes,
                "repeat": args.repeat,
                "sparse_s": round(s, 4),
                "dense_s": round(d, 4),
                "sparse_over_dense": round(s / d, 3),
                # the path the package takes unforced (None before SPARSE_MAX_DENSITY)
                "chosen": None if pays is None else ("sparse" if pays(X) else "dense"),
                "peak_mib": {"sparse": peak[True], "dense": peak[False]},
                "py_mib": {"sparse": py[True], "dense": py[False]},
                "times": {k: [round(t, 4) for t in times[on]] for k, on in PATHS.items()},
                "sag": sag.__version__,
                "torch": torch.__version__,
                "load": os.getloadavg()[0],
            }
            rows.append(row)
            print(f"{pct:>9g} {what:>8} {s:>9.3f} {d:>9.3f} {s / d:>6.2f}"
                  f" {peak[True]:>6.1f}/{peak[False]:<6.1f} {py[True]:>5.1f}/{py[False]:<6.1f}",
                  flush=True)  # fmt: skip
    with open(args.out, "a") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)


if __name__ == "__main__":
    main()
