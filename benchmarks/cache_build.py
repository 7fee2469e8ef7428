"""Peak memory of building a search's train/val cache, against the code of an earlier commit.

Since 2026-12-06 the CSR cache of the train and validation rows (``transformed_rows``, where
the transform maps 0 to 0) is written piece by piece into arrays of its final size; before,
every transformed piece was kept and then stacked (``scipy.sparse.vstack``), about 2.3 times
the cache at the peak. This script builds the cache of synthetic counts (``--cells`` x
``--genes``, 7.5% stored, Poisson; as many rows as stay under ``CACHE_VALUES``) in a fresh
process per tree (this checkout, and ``--base`` checked out with ``git worktree add`` into a
temporary folder, removed afterwards), and reports the peak resident size above the process's
size before the build (VmHWM, reset), the cache's own size and the seconds. The values of the
two caches are compared (their digest). Rows go to ``benchmarks/cache_build.jsonl``.

Usage (not part of CI; a minute)::

    OMP_NUM_THREADS=1 python benchmarks/cache_build.py --base HEAD
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

from _versions import append_rows, compare_args, head_state, run_both, run_worker, worktree

HERE = Path(__file__).resolve().parent


def worker(args) -> None:
    import ctypes
    import gc

    import numpy as np
    from scipy import sparse

    # isort: off
    # the tree on PYTHONPATH first: _common puts this checkout at the front of sys.path
    import scautogenome
    from scautogenome.data import InputTransform
    from scautogenome.data._loader import CACHE_VALUES, transformed_rows
    from _common import peak_rss_mb, reset_peak_rss, rss_mb
    # isort: on

    rng = np.random.default_rng(0)
    X = sparse.random(
        args.cells, args.genes, density=0.075, format="csr", random_state=0, dtype=np.float32
    )
    X.data = rng.poisson(2.0, X.nnz).astype(np.float32) + 1
    t = InputTransform("counts").fit(X, np.arange(int(0.8 * args.cells)))
    tt = t.to_torch("cpu")
    rows = np.arange(min(args.cells, int(0.95 * CACHE_VALUES / (0.075 * args.genes))))
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # the data's own temporaries handed back
    before = rss_mb()
    reset_peak_rss()
    start = time.perf_counter()
    cache = transformed_rows(X, rows, tt, None)
    seconds = time.perf_counter() - start
    peak = peak_rss_mb() - before  # before the digest's own copies
    m = cache.matrix
    size = (m.data.nbytes + m.indices.nbytes + m.indptr.nbytes) / 2**20
    digest = hashlib.sha1(m.data.tobytes() + m.indices.astype(np.int64).tobytes()).hexdigest()
    row = {
        "sag_file": scautogenome.__file__,
        "rows": len(rows),
        "values": int(m.nnz),
        "cache_mib": round(size, 1),
        "peak_above_mib": round(peak, 1),
        "seconds": round(seconds, 3),
        "digest": digest[:12],
    }
    print("RESULT " + json.dumps(row), flush=True)


def run_one(tree: Path, args) -> dict:
    return run_worker(__file__, tree, ["--cells", str(args.cells), "--genes", str(args.genes)])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, default=100_000)
    p.add_argument("--genes", type=int, default=4000)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--out", default=str(HERE / "cache_build.jsonl"))
    args = compare_args(p, worker)
    if args is None:  # a worker's run
        return
    state = head_state(args.base)
    rows = []
    with worktree(state["base"], "sag_cache_build_base_") as base_dir:
        for rep in range(args.repeat):
            rows += run_both(
                lambda tree: run_one(tree, args),
                base_dir,
                {"repeat": rep, **state},
                lambda variant, row: (
                    f"{variant:4s} cache {row['cache_mib']} MiB ({row['values'] / 1e6:.1f} M "
                    f"values): peak +{row['peak_above_mib']} MiB, {row['seconds']} s, "
                    f"values {row['digest']}"
                ),
            )
    append_rows(args.out, rows)
    base = [r for r in rows if r["variant"] == "base"]
    new = [r for r in rows if r["variant"] == "new"]
    ratio = min(r["peak_above_mib"] for r in new) / min(r["peak_above_mib"] for r in base)
    print(f"peak above the process, new / base: {ratio:.2f}x (best of {args.repeat} each)")
    print(f"same values: {len({r['digest'] for r in rows}) == 1}")


if __name__ == "__main__":
    main()
