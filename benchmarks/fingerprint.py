"""Cost of the study fingerprint's value digest (``storage=``), against the pass the search
already makes over the same rows.

With a ``storage``, ``sag.tl.classify`` and ``sag.tl.embed`` hash the values of the training
and validation rows (``scautogenome._utils.matrix_digest``) so that a stored study of other
values is not resumed. This script times that digest beside the fit of the input transform
(``InputTransform.fit`` on the training rows: the gene-wise minimum and range, one chunked
pass every search makes) in the same process, interleaved over ``--rounds`` rounds, on the
datasets of ``../shared/data`` restricted to their shared split. It reports the median of each
and their ratio; peak memory is not measured (both read 2,048 rows at a time).

Usage (not part of CI; about a minute on 2 CPU cores)::

    python benchmarks/fingerprint.py --out benchmarks/fingerprint_results.jsonl
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time

import numpy as np
from _common import DATA, git_state, load_split

from scautogenome._utils import matrix_digest
from scautogenome.data._transform import InputTransform, detect_value_type


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="*", default=None, help="default: every shared dataset")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--out", default=None, help="append one JSON line per dataset")
    args = p.parse_args()
    names = args.datasets or sorted(f.stem for f in DATA.glob("*.h5ad"))
    state = git_state()
    print("| dataset | shape | nnz share | digest s | transform fit s | digest / fit |")
    print("|---|---|---|---|---|---|")
    for name in names:
        adata = load_split(name)
        X = adata.X
        split = adata.obs["split"].to_numpy()
        train = np.flatnonzero(split == "train")
        rows = np.concatenate([train, np.flatnonzero(split == "val")])
        value_type = detect_value_type(X)
        t_digest, t_fit = [], []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            matrix_digest(X, rows)
            t_digest.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            InputTransform(value_type=value_type).fit(X, train)
            t_fit.append(time.perf_counter() - t0)
        d, f = float(np.median(t_digest)), float(np.median(t_fit))
        density = X.nnz / (X.shape[0] * X.shape[1])
        print(
            f"| {name} | {X.shape[0]}x{X.shape[1]} | {density:.3f} | {d:.3f} | {f:.3f} | {d / f:.2f} |"
        )
        if args.out:
            row = {
                "dataset": name,
                "shape": list(X.shape),
                "nnz_share": density,
                "rounds": args.rounds,
                "digest_s": d,
                "transform_fit_s": f,
                "ratio": d / f,
                "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                **state,
            }
            with open(args.out, "a") as fh:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
