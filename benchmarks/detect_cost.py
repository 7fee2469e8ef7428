"""What the 2026-12-05 check for ``sc.pp.normalize_total`` output costs
(``data._checks.common_row_total``, run by ``detect_value_type`` on non-negative non-integer
values up to 100: row totals in blocks of rows, then up to 100 rows looked at for scaled
counts).

Against two references timed in the same process, interleaved over ``--rounds`` rounds
(medians): the value scan that detection already ran before the check (``value_stats``), and
the peer doing the same job's core, scipy's / numpy's ``X.sum(axis=1)`` on the whole matrix.
Matrices: synthetic Poisson counts after ``sc.pp.normalize_total`` (detected as
"normalized": the check runs to its end) and after ``sc.pp.log1p`` too (detected as
"continuous": the row totals differ, so it stops after them); sparse 100,000 x 2,000 at 10%
non-zero and dense 20,000 x 2,000.

Usage (not part of CI; under a minute on 2 CPU cores)::

    OMP_NUM_THREADS=1 python benchmarks/detect_cost.py
"""

from __future__ import annotations

import argparse
import time

import anndata as ad
import numpy as np
import scanpy as sc
import scipy.sparse as sp

from scautogenome.data._checks import common_row_total, value_stats
from scautogenome.data._transform import detect_value_type


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(
        "| matrix | values | detected | scan s | check s | X.sum(1) s | check / scan | check / X.sum(1) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, n, dense in (
        ("sparse 100,000 x 2,000", 100_000, False),
        ("dense 20,000 x 2,000", 20_000, True),
    ):
        counts = sp.random(
            n,
            2000,
            density=0.1,
            format="csr",
            random_state=0,
            data_rvs=lambda k: rng.poisson(3, k) + 1.0,
        ).astype(np.float32)
        normalized = ad.AnnData(counts)
        sc.pp.normalize_total(normalized)
        logged = normalized.copy()
        sc.pp.log1p(logged)
        for what, X in (("normalize_total", normalized.X), ("normalize_total + log1p", logged.X)):
            X = X.toarray() if dense else X
            jobs = {
                "scan": lambda X=X: value_stats(X),
                "check": lambda X=X: common_row_total(X),
                "peer": lambda X=X: X.sum(axis=1, dtype=np.float64),
            }
            times = {k: [] for k in jobs}
            for _ in range(args.rounds):
                for k, job in jobs.items():
                    start = time.perf_counter()
                    job()
                    times[k].append(time.perf_counter() - start)
            med = {k: float(np.median(v)) for k, v in times.items()}
            print(
                f"| {name} | {what} | {detect_value_type(X)} | {med['scan']:.3f} | "
                f"{med['check']:.3f} | {med['peer']:.3f} | {med['check'] / med['scan']:.2f} | "
                f"{med['check'] / med['peer']:.2f} |"
            )


if __name__ == "__main__":
    main()
