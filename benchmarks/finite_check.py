"""Cost of checking a matrix for values a float32 network cannot read, before and after a change.

``check_finite`` refuses NaN and infinite values before any work; since 2026-12-06 it also
refuses float64 values beyond float32's range (they became infinite in the networks). This
script times the check of this checkout against the one of an earlier commit (``--base``,
read with ``git show``), in one process, on float64 and float32 matrices, best of ``--repeat``.

Usage (not part of CI; seconds)::

    python benchmarks/finite_check.py --base 47069f9
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from scautogenome.data._checks import check_finite

HERE = Path(__file__).resolve().parent


def earlier_check_finite(commit: str):
    """``check_finite`` of ``commit``'s ``data/_checks.py``, its relative imports made
    absolute (the rest of the package is this checkout's)."""
    src = subprocess.run(
        ["git", "-C", str(HERE.parent), "show", f"{commit}:scautogenome/data/_checks.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    src = src.replace("from .._", "from scautogenome._").replace("from ..", "from scautogenome.")
    src = src.replace("from ._", "from scautogenome.data._")
    namespace: dict = {}
    exec(compile(src, f"{commit}:_checks.py", "exec"), namespace)
    return namespace["check_finite"]


def best(func, X, repeat: int) -> float:
    out = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func(X)
        out = min(out, time.perf_counter() - start)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True, help="the commit to compare with")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    before = earlier_check_finite(args.base)
    rng = np.random.default_rng(0)
    dense = rng.random((20000, 2000))
    matrices = {
        "dense 20,000 x 2,000, float64": dense,
        "dense 20,000 x 2,000, float32": dense.astype(np.float32),
        "CSR 50,000 x 20,000, 5% stored, float64": sp.random(
            50000, 20000, density=0.05, format="csr", random_state=0, dtype=np.float64
        ),
    }
    print("| matrix | before s | now s | now / before |")
    print("|---|---|---|---|")
    for name, X in matrices.items():
        old, new = best(before, X, args.repeat), best(check_finite, X, args.repeat)
        print(f"| {name} | {old:.3f} | {new:.3f} | {new / old:.2f} |")


if __name__ == "__main__":
    main()
