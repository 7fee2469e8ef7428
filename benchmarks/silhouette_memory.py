"""Peak memory and seconds of ``sag.tl.embedding_scores``' silhouette, against scikit-learn's
own call of it.

scikit-learn's ``silhouette_score`` computes the cells' pairwise distances in chunks of up to
its ``working_memory`` (1,024 MB by default): the scores took their silhouette so until
2026-12-06, when they bounded it at ``SILHOUETTE_MB`` (``scautogenome/tools/_embed.py``). This
script runs the same call, ``silhouette_score`` of a dataset's PCA latent (10 components of
the log-normalized counts) against its labels, once at scikit-learn's default (the peer: what
a user's own call costs, and what sag's did before) and once under sag's setting, each in a
fresh process with glibc's mmap threshold at 64 kB (as ``memory.py``), one thread: one
warm-up call, then ``--repeats`` calls, of which the largest extra peak (VmHWM after a reset,
minus the resident size before) is kept, with the last call's seconds. The silhouettes must
agree (the chunks change the order of the sums only).

Usage (not part of CI; about a minute)::

    python benchmarks/silhouette_memory.py --out benchmarks/silhouette_memory.jsonl
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from _common import DATA, emit, extra_peak_mb, git_state, peak_fields, run_fresh


def latent(dataset: str, n_cells: int):
    """The PCA latent (10 components) of the first ``n_cells`` cells and their labels."""
    import anndata as ad
    import scanpy as sc

    adata = ad.read_h5ad(DATA / f"{dataset}.h5ad")[:n_cells].copy()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    sc.pp.pca(adata, n_comps=10, random_state=0)
    return adata.obsm["X_pca"].astype("float32"), adata.obs["label"].astype(str).to_numpy()


def measure(dataset: str, n_cells: int, who: str, repeats: int) -> dict:
    import sklearn
    import sklearn.metrics as skm

    from scautogenome.tools._embed import SILHOUETTE_MB

    emb, labels = latent(dataset, n_cells)
    memory = sklearn.get_config()["working_memory"] if who == "peer" else SILHOUETTE_MB
    value = []
    with sklearn.config_context(working_memory=memory):
        skm.silhouette_score(emb[:500], labels[:500])  # warm-up
        mb, seconds = extra_peak_mb(
            lambda: value.append(float(skm.silhouette_score(emb, labels))), repeats
        )
    return {"extra_peak_mb": mb, "seconds": seconds, "silhouette": value[-1], "mb": memory}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="cbmc_citeseq_stoeckius2017_top2000")
    ap.add_argument("--cells", type=int, nargs="+", default=[4000, 8617])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None, help="append one JSON line per size here")
    ap.add_argument("--measure", nargs=2, metavar=("CELLS", "WHO"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        n_cells, who = args.measure
        print(json.dumps(measure(args.dataset, int(n_cells), who, args.repeats)))
        return
    for n_cells in args.cells:
        got = {}
        for who in ("sag", "peer"):  # each in a fresh process: freed memory is not reused
            cmd = [sys.executable, __file__, "--dataset", args.dataset, "--repeats"]
            cmd += [str(args.repeats), "--measure", str(n_cells), who]
            got[who] = run_fresh(cmd, OMP_NUM_THREADS="1")
        if abs(got["sag"]["silhouette"] - got["peer"]["silhouette"]) > 1e-6:
            raise SystemExit(f"the silhouettes differ: {got}")
        emit(
            {
                "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "dataset": args.dataset,
                "n_cells": n_cells,
                "repeats": args.repeats,
                "peer": f"sklearn silhouette_score, working_memory={got['peer']['mb']} MB",
                "sag_working_memory_mb": got["sag"]["mb"],
                **peak_fields(got["sag"], got["peer"]),
                "seconds_ratio": round(got["sag"]["seconds"] / got["peer"]["seconds"], 2),
                "silhouette": round(got["sag"]["silhouette"], 6),
                **git_state(),
            },
            args.out,
        )


if __name__ == "__main__":
    main()
