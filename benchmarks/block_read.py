"""Reading minibatches of rows from a CSR matrix as anndata reads it from an h5ad file.

anndata reads a CSR matrix with the index dtypes it was stored with; a file written by
another tool may hold int32 column indices beside an int64 ``indptr`` (anndata itself writes
both as int32 where they fit). scipy's row indexing (``X[rows]``) then copies the whole
``indices`` array to int64 at every call. Since
2026-12-05 the matrix sag reads (``data.get_matrix``) has one index dtype (only ``indptr``
is cast, on a shallow copy); this script measures what that changes.

A synthetic CSR of Poisson counts (``--cells`` x ``--genes`` at ``--density``) is written
with anndata, its ``indptr`` stored again as int64 (h5py), and read back with anndata. Timed, interleaved over ``--rounds`` rounds (medians), each a
pass of ``--batches`` shuffled minibatches of ``--batch-size`` rows made dense float32:

* ``peer``: ``X[rows].toarray()`` on the matrix as read (what a hand-written PyTorch loader
  over ``adata.X`` does);
* ``sag before``: sag's block read (``dense_rows``) on the matrix as read (the code before
  the change);
* ``sag``: ``dense_rows`` on the matrix ``get_matrix`` returns (the code now), the call
  included.

The peak of Python allocations during one minibatch (tracemalloc) is reported beside each.

Usage (not part of CI; about two minutes at 5 rounds; 7 GB peak memory, nearly all of it
scipy drawing the synthetic matrix, not the minibatches timed)::

    OMP_NUM_THREADS=1 python benchmarks/block_read.py
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from importlib.metadata import version
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import scipy.sparse as sp

from scautogenome.data import get_matrix
from scautogenome.data._transform import dense_rows


def one_pass(read, X, batches) -> float:
    start = time.perf_counter()
    for rows in batches:
        read(X, rows)
    return time.perf_counter() - start


def peak_of_one(read, X, rows) -> float:
    tracemalloc.start()
    read(X, rows)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=40_000)
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument("--density", type=float, default=0.03)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    counts = sp.random(
        args.cells,
        args.genes,
        density=args.density,
        format="csr",
        random_state=0,
        data_rvs=lambda k: rng.poisson(2, k) + 1.0,
    ).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "counts.h5ad"
        ad.AnnData(counts).write_h5ad(path)
        with h5py.File(path, "r+") as f:  # indptr as another writer may store it
            indptr = f["X/indptr"][()]
            del f["X/indptr"]
            f["X/indptr"] = indptr.astype(np.int64)
        adata = ad.read_h5ad(path)
    del counts
    X = adata.X
    print(
        f"{args.cells:,} x {args.genes:,} CSR, {X.nnz:,} stored values as read by anndata "
        f"{version('anndata')}: indices {X.indices.dtype}, indptr {X.indptr.dtype}"
    )
    batches = [rng.choice(args.cells, args.batch_size, replace=False) for _ in range(args.batches)]
    jobs = {
        "peer": (lambda M, rows: M[rows].toarray(), lambda: X),
        "sag before": (dense_rows, lambda: X),
        "sag": (dense_rows, lambda: get_matrix(adata, None)),
    }
    times: dict[str, list[float]] = {k: [] for k in jobs}
    for _ in range(args.rounds):
        for name, (read, matrix) in jobs.items():
            start = time.perf_counter()
            M = matrix()
            times[name].append(time.perf_counter() - start + one_pass(read, M, batches))
    peer = float(np.median(times["peer"]))
    print(f"| read | s per {args.batches} minibatches | / peer | peak MB per minibatch |")
    print("|---|---|---|---|")
    for name, (read, matrix) in jobs.items():
        med = float(np.median(times[name]))
        peak = peak_of_one(read, matrix(), batches[0])
        print(f"| {name} | {med:.3f} | {med / peer:.2f}x | {peak:.0f} |")


if __name__ == "__main__":
    main()
