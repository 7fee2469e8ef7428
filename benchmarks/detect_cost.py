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

With ``--train-rows``, the cost of detecting the value type on the training cells (8 in 10
rows, drawn at random) and checking the other rows against it, as ``prepare_labelled`` does
since 2026-12-05 (``resolve_value_type(..., rows=)``), against detection on the whole matrix
(before) and the same peer, on counts and on ``normalize_total`` output.

Usage (not part of CI; under a minute on 2 CPU cores)::

    OMP_NUM_THREADS=1 python benchmarks/detect_cost.py
    OMP_NUM_THREADS=1 python benchmarks/detect_cost.py --train-rows
"""

from __future__ import annotations

import argparse
import time

import anndata as ad
import numpy as np
import scanpy as sc
import scipy.sparse as sp

from scautogenome.data._checks import common_row_total, value_stats
from scautogenome.data._prepare import resolve_value_type
from scautogenome.data._transform import detect_value_type


def _matrices(rng, kinds):
    """``(matrix name, values name, X)``: synthetic Poisson counts, sparse 100,000 x 2,000 and
    dense 20,000 x 2,000, as the values ``kinds`` name ("counts", "normalize_total",
    "normalize_total + log1p")."""
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
        normalized = ad.AnnData(counts.copy())
        sc.pp.normalize_total(normalized)
        logged = normalized.copy()
        sc.pp.log1p(logged)
        made = {"counts": counts, "normalize_total": normalized.X}
        made["normalize_total + log1p"] = logged.X
        for what in kinds:
            X = made[what]
            yield name, what, X.toarray() if dense else X


def _medians(jobs: dict, rounds: int) -> dict[str, float]:
    """Median seconds of each job, run interleaved over ``rounds`` rounds."""
    times = {k: [] for k in jobs}
    for _ in range(rounds):
        for k, job in jobs.items():
            start = time.perf_counter()
            job()
            times[k].append(time.perf_counter() - start)
    return {k: float(np.median(v)) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--train-rows", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    if args.train_rows:
        _train_rows(rng, args.rounds)
        return
    print(
        "| matrix | values | detected | scan s | check s | X.sum(1) s | check / scan | check / X.sum(1) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    kinds = ("normalize_total", "normalize_total + log1p")
    for name, what, X in _matrices(rng, kinds):
        jobs = {
            "scan": lambda X=X: value_stats(X),
            "check": lambda X=X: common_row_total(X),
            "peer": lambda X=X: X.sum(axis=1, dtype=np.float64),
        }
        med = _medians(jobs, args.rounds)
        print(
            f"| {name} | {what} | {detect_value_type(X)} | {med['scan']:.3f} | "
            f"{med['check']:.3f} | {med['peer']:.3f} | {med['check'] / med['scan']:.2f} | "
            f"{med['check'] / med['peer']:.2f} |"
        )


def _train_rows(rng, rounds: int) -> None:
    """The table of ``--train-rows``."""
    import scautogenome as sag

    sag.settings.verbosity = 0  # detection logs what it found at every call
    print(
        "| matrix | values | detected | whole matrix s | training rows + check of the rest s "
        "| X.sum(1) s | new / whole | new / X.sum(1) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, what, X in _matrices(rng, ("counts", "normalize_total")):
        train = np.sort(rng.permutation(X.shape[0])[: int(0.8 * X.shape[0])])
        jobs = {
            "whole": lambda X=X: detect_value_type(X),
            "rows": lambda X=X, train=train: resolve_value_type(X, "auto", "X", rows=train),
            "peer": lambda X=X: X.sum(axis=1, dtype=np.float64),
        }
        med = _medians(jobs, rounds)
        detected = resolve_value_type(X, "auto", "X", rows=train)
        assert detected == detect_value_type(X)
        print(
            f"| {name} | {what} | {detected} | {med['whole']:.3f} | {med['rows']:.3f} | "
            f"{med['peer']:.3f} | {med['rows'] / med['whole']:.2f} | "
            f"{med['rows'] / med['peer']:.2f} |"
        )


if __name__ == "__main__":
    main()
