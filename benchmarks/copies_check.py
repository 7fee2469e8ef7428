"""Cost of looking for copies of training cells among the val and test cells, against the
preparation of the data it is part of.

Since 2026-12-06 ``prepare_labelled`` (every ``classify``) warns where val or test rows hold
every value of a training row (``data._split.warn_copies_across_parts``: two random
projections of every row, read in blocks). This script prepares each dataset of
``../shared/data`` as ``classify`` does (seed 0, ``min_cells_per_class=3``), times the
preparation (the check included) once and the check alone (best of ``--repeat``), one thread,
and prints whether the check warned (it should not: none of these datasets holds copies).

Usage (not part of CI; about a minute)::

    OMP_NUM_THREADS=1 python benchmarks/copies_check.py
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import warnings

import anndata as ad
from _common import DATA, git_state

import scautogenome as sag
from scautogenome._settings import logger
from scautogenome.data import prepare_labelled
from scautogenome.data._split import warn_copies_across_parts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", default=None, help="JSON-lines file to append the rows to")
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    sag.settings.verbosity = 1
    said: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            said.append(record.getMessage())

    logger.addHandler(Collect())
    state = git_state()
    for path in sorted(DATA.glob("*.h5ad")):
        adata = ad.read_h5ad(path)
        said.clear()
        start = time.perf_counter()
        data = prepare_labelled(adata, "label", seed=0, min_cells_per_class=3)
        prepare = time.perf_counter() - start
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            warn_copies_across_parts(data.X, data.split, "cells")
            times.append(time.perf_counter() - start)
        row = {
            "dataset": path.stem,
            "shape": list(adata.shape),
            "prepare_s": round(prepare, 4),
            "check_s": round(min(times), 4),
            "ratio": round(min(times) / prepare, 3),
            "warned": any("hold every value" in m for m in said),
            **state,
        }
        print(json.dumps(row), flush=True)
        if args.out:
            with open(args.out, "a") as fh:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
