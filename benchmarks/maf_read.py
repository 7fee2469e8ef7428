"""``sag.io.read_maf(level="sample")`` on a large MAF against pandas doing the same job.

Writes a synthetic GDC-like MAF (120 columns, 490,000 calls of 9,000 tumours in 20,000 genes,
about 200 MB) and reads it into a tumour x gene matrix of protein-changing calls in a fresh
process per run, which reports its own wall time and peak memory (``ru_maxrss``):

* sag: ``sag.io.read_maf(path, level="sample")`` (sparse 0/1 matrix);
* peer: ``pandas.read_csv`` of the three columns it needs, the same variant classes kept,
  barcodes cut to the sample, ``pd.crosstab`` (a dense matrix), as a pandas user would.

Run it with ``PYTHONPATH`` on another package to compare versions (the ``package`` field
says which ran). Usage (not part of CI; about a minute)::

    OMP_NUM_THREADS=1 python benchmarks/maf_read.py --rounds 2 --out benchmarks/maf_read_results.jsonl
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

SAG = """
import resource, sys, time
t0 = time.perf_counter()
import scautogenome as sag
a = sag.io.read_maf(sys.argv[1], level="sample")
print(a.shape[0], a.shape[1], time.perf_counter() - t0,
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, sag.__file__)
"""

PEER = """
import resource, sys, time
t0 = time.perf_counter()
import pandas as pd
from scautogenome.io._maf import DEFAULT_VARIANT_CLASSES
df = pd.read_csv(sys.argv[1], sep="\\t", comment="#",
                 usecols=["Hugo_Symbol", "Variant_Classification", "Tumor_Sample_Barcode"])
keep = df[df["Variant_Classification"].isin(DEFAULT_VARIANT_CLASSES)]
m = pd.crosstab(keep["Tumor_Sample_Barcode"].str.slice(0, 15), keep["Hugo_Symbol"]).clip(upper=1)
print(m.shape[0], m.shape[1], time.perf_counter() - t0,
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, pd.__file__)
"""


def write_maf(path: Path) -> int:
    rng = np.random.default_rng(0)
    extra = [f"col{i}" for i in range(111)]
    header = [
        "Hugo_Symbol", "Entrez_Gene_Id", "Center", "NCBI_Build", "Chromosome",
        "Start_Position", "End_Position", "Variant_Classification", "Tumor_Sample_Barcode",
        *extra,
    ]  # fmt: skip
    genes = [f"GENE{i}" for i in range(20_000)]
    classes = ["Missense_Mutation", "Silent", "Nonsense_Mutation", "Intron", "Frame_Shift_Del"]
    samples = [
        f"TCGA-{a:02d}-{b:04d}-01A-11D-A00{a % 10}-09" for a in range(10, 40) for b in range(300)
    ]
    filler = "\t".join(["xx"] * len(extra))
    n = 0
    with open(path, "w") as fh:
        fh.write("#version gdc-1.0.0\n" + "\t".join(header) + "\n")
        for _ in range(49):
            g, c, s = (rng.integers(0, len(v), 10_000) for v in (genes, classes, samples))
            fh.write(
                "".join(
                    f"{genes[i]}\t1\tBI\tGRCh38\tchr1\t{1000 + i}\t{1000 + i}\t{classes[j]}\t"
                    f"{samples[k]}\t{filler}\n"
                    for i, j, k in zip(g, c, s, strict=True)
                )
            )
            n += 10_000
    return n


def run(rounds: int, out: str | None) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "big.maf"
        n_calls = write_maf(path)
        size_mb = path.stat().st_size / 1e6
        rows = []
        for r in range(rounds):  # interleaved: the machine's load falls on both alike
            for method, code in (("sag", SAG), ("pandas", PEER)):
                res = subprocess.run(
                    [sys.executable, "-c", code, str(path)], capture_output=True, text=True
                )
                if res.returncode:
                    raise RuntimeError(res.stderr)
                n_obs, n_vars, seconds, kb, package = res.stdout.split()
                rows.append(
                    {
                        "method": method,
                        "round": r,
                        "shape": [int(n_obs), int(n_vars)],
                        "seconds": float(seconds),
                        "peak_mb": int(kb) / 1024,
                        "package": str(Path(package).parent),
                    }
                )
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    for row in rows:
        line = {**row, "maf_mb": round(size_mb, 1), "calls": n_calls, "time": stamp}
        print(json.dumps(line))
        if out:
            with open(out, "a") as f:
                f.write(json.dumps(line) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out", default=None, help="append the result lines (JSON) to this file")
    args = p.parse_args()
    run(args.rounds, args.out)


if __name__ == "__main__":
    main()
