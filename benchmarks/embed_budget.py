"""Does ``sag.tl.embed`` keep to ``time_budget``? Wall seconds of whole embed calls.

Runs ``sag.tl.embed`` (package defaults, NB on the counts of a shared dataset reduced to 2,000
HVGs as ``benchmarks/embed.py`` does) with ``--time-budget`` seconds and records the call's wall
time, the search time it reports, the trials and the kept model's epochs. Run it once with this
checkout and once with an older one first on ``PYTHONPATH`` to compare the two: the record
names the package folder it imported and a hash of its sources.

Usage (not part of CI)::

    OMP_NUM_THREADS=1 python benchmarks/embed_budget.py --datasets pbmc4k_10x_scdcc_top2000
    git worktree add /tmp/old da77d39
    OMP_NUM_THREADS=1 PYTHONPATH=/tmp/old python benchmarks/embed_budget.py --label da77d39
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def package_state() -> dict:
    """The imported package's folder and a hash of its sources (which tree ran)."""
    import scautogenome

    root = Path(scautogenome.__file__).resolve().parent
    h = hashlib.sha1()
    for f in sorted(root.rglob("*.py")):
        h.update(str(f.relative_to(root)).encode() + f.read_bytes())
    return {"package": str(root), "sag_tree_sha1": h.hexdigest()[:12]}


def run(name: str, budget: float, seed: int, label: str) -> dict:
    import torch  # noqa: I001 - scautogenome before embed, which puts this checkout on sys.path

    import scautogenome as sag
    from embed import load

    sag.settings.verbosity = 1
    sag.settings.progress_bar = False
    adata = load(name, 2000)
    torch.set_num_threads(1)
    t = time.perf_counter()
    sag.tl.embed(adata, layer="counts", time_budget=budget, seed=seed)
    wall = time.perf_counter() - t
    uns = adata.uns["sag_resvae"]
    return {
        "dataset": name,
        "shape": f"{adata.n_obs}x{adata.n_vars}",
        "label": label,
        "seed": seed,
        "time_budget": budget,
        "wall_seconds": wall,
        "search_seconds": float(uns["search_seconds"]),
        "n_trials": len(uns["trials"]),
        "kept_epochs": len(uns["losses"]["val_loss"]),
        "seconds_per_epoch": float(uns["seconds_per_epoch"]),
        "when": dt.datetime.now().isoformat(timespec="seconds"),
        **package_state(),
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["pbmc4k_10x_scdcc_top2000"])
    p.add_argument("--time-budget", type=float, default=60.0)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--label", default="this checkout")
    p.add_argument("--out", type=Path, default=HERE / "embed_budget.jsonl")
    args = p.parse_args(argv)
    for name in args.datasets:
        for seed in args.seeds:
            rec = run(name, args.time_budget, seed, args.label)
            with args.out.open("a") as fh:
                fh.write(json.dumps(rec) + "\n")
            print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
