"""Peak memory of the steps that read every gene of every cell, against a peer doing the same
job on the same matrix.

On a wide sparse matrix (pbmc3k, all 32,738 genes, 2,638 cells, about 18 MB of CSR values) it
measures the extra peak resident memory (VmHWM after a reset, minus the resident size before)
of:

* ``fit``: the input transform's gene-wise minimum and range (``InputTransform.fit``, as
  ``classify``/``embed`` run it before any training), against scanpy's ``normalize_total`` +
  ``log1p`` on a copy of the same cells (what a user runs before any scanpy analysis);
* ``predict``: ``Classifier.predict_proba`` on all cells, against scikit-learn's
  ``LogisticRegression.predict_proba`` on the log-normalized matrix;
* ``latent``: ``ResVAE.get_latent`` on all cells, against scikit-learn's ``TruncatedSVD``
  (10 components) ``transform`` on the log-normalized matrix;
* ``train``: two epochs of the embed search's starting Res-VAE (``ResVAE.fit``, negative
  binomial on all genes, batch 128), against two epochs of scvi-tools' ``SCVI`` with its
  defaults (batch 128) on the same raw counts, data set-up included (one call, no warm-up);
* ``reconstruct``: ``ResVAE.reconstruct`` (expected counts of every gene, dense, as
  ``embed(recon=True)`` stores them), against scvi-tools' ``get_normalized_expression``
  (``return_numpy=True``) of a briefly trained ``SCVI``: both return a dense cells x genes
  float32 array, so both need at least its size (2,638 x 32,738: 345 MB).

The two models are trained briefly (a few epochs): the benchmark measures reading the matrix,
not the models' quality. Each step, ours and the peer's, runs in a fresh process (so that memory
another step freed is not reused unseen) with glibc's mmap threshold fixed at 64 kB (so that a
freed block is given back, and the next call's peak counts it again): one warm-up call, then
``--repeats`` calls, of which the largest extra peak is kept.

Usage (not part of CI; about a minute)::

    python benchmarks/memory.py --out benchmarks/memory_results.jsonl
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from _common import DATA, emit, extra_peak_mb, git_state, peak_fields, run_fresh

PEERS = {
    "fit": "scanpy normalize_total + log1p (copy)",
    "predict": "sklearn LogisticRegression.predict_proba",
    "latent": "sklearn TruncatedSVD(10).transform",
    "train": "scvi-tools SCVI(n_latent=10).train(max_epochs=2)",
    "reconstruct": "scvi-tools SCVI.get_normalized_expression(return_numpy=True)",
}
TRAIN_EPOCHS = 2


def load(dataset: str):
    import anndata as ad
    import scanpy as sc

    adata = ad.read_h5ad(DATA / f"{dataset}.h5ad")
    adata.X = adata.X.tocsr()
    lognorm = sc.pp.log1p(sc.pp.normalize_total(adata, target_sum=1e4, copy=True), copy=True).X
    return adata, lognorm


def train(dataset: str, models: Path) -> None:
    """Train the two models briefly and fit the two peers; save all four under ``models``."""
    import pickle

    from sklearn.decomposition import TruncatedSVD
    from sklearn.linear_model import LogisticRegression

    import scautogenome as sag

    adata, lognorm = load(dataset)
    quick = {
        "budget": {"n_trials": 1, "time_budget": None},
        "trainer": {"max_epochs": 3, "patience": 3, "min_epochs": 1},
    }
    sag.tl.classify(adata.copy(), "label", mode="mlp", config=quick, seed=0).save(
        models / "mlp", overwrite=True
    )
    sag.models.ResVAE(
        {"kind": "resvae", "widths": [128, 77, 46]}, {"max_epochs": 3, "kl_warmup_epochs": 1}
    ).fit(adata, seed=0).save(models / "vae", overwrite=True)
    scvi_train(adata.copy(), save=models / "scvi")()
    lr = LogisticRegression(max_iter=50).fit(lognorm, adata.obs["label"].to_numpy())
    svd = TruncatedSVD(10, random_state=0).fit(lognorm)
    (models / "peers.pkl").write_bytes(pickle.dumps({"lr": lr, "svd": svd}))


def measure(dataset: str, models: Path, step: str, who: str, repeats: int) -> dict:
    """One step by sag or by its peer, in this (fresh) process."""
    import pickle

    import numpy as np

    import scautogenome as sag
    from scautogenome.data import InputTransform

    adata, lognorm = load(dataset)
    X = adata.X
    if step == "train":  # no warm-up call: one training from the data in memory
        mb, seconds = extra_peak_mb(train_fn(adata, who), 1)
        return {"extra_peak_mb": mb, "seconds": seconds}
    if who == "sag":
        if step == "fit":
            rows = np.arange(X.shape[0])
            fn = lambda: InputTransform("counts").fit(X, rows)  # noqa: E731
        elif step == "predict":
            mlp = sag.models.Classifier.load(models / "mlp")
            fn = lambda: mlp.predict_proba(adata)  # noqa: E731
        elif step == "reconstruct":
            vae = sag.models.ResVAE.load(models / "vae")
            fn = lambda: vae.reconstruct(adata)  # noqa: E731
        else:
            vae = sag.models.ResVAE.load(models / "vae")
            fn = lambda: vae.get_latent(adata)  # noqa: E731
    elif step == "reconstruct":
        import scvi

        model = scvi.model.SCVI.load(str(models / "scvi"), adata=adata.copy(), accelerator="cpu")
        fn = lambda: model.get_normalized_expression(return_numpy=True)  # noqa: E731
    else:
        import scanpy as sc

        peers = pickle.loads((models / "peers.pkl").read_bytes())
        if step == "fit":
            fn = lambda: sc.pp.log1p(sc.pp.normalize_total(adata, target_sum=1e4, copy=True))  # noqa: E731
        elif step == "predict":
            fn = lambda: peers["lr"].predict_proba(lognorm)  # noqa: E731
        else:
            fn = lambda: peers["svd"].transform(lognorm)  # noqa: E731
    fn()  # warm-up: imports, torch's first-call allocations
    mb, seconds = extra_peak_mb(fn, repeats)
    return {"extra_peak_mb": mb, "seconds": seconds}


def train_fn(adata, who: str):
    """Two epochs of the embed search's starting Res-VAE (its batch size, 128, is scVI's), or
    of scVI with its defaults, on the raw counts."""
    if who == "sag":
        import scautogenome as sag
        from scautogenome.search._vae import DEFAULT_INITIAL_TRIALS

        start = dict(DEFAULT_INITIAL_TRIALS[0])
        train = {k: start.pop(k) for k in ("lr", "batch_size", "weight_decay")}
        arch = {"kind": "resvae", "n_latent": 10, **start}
        params = {**train, "max_epochs": TRAIN_EPOCHS, "kl_warmup_epochs": 1}
        return lambda: sag.models.ResVAE(arch, params).fit(adata, seed=0)

    return scvi_train(adata)


def scvi_train(adata, save: Path | None = None):
    """Two epochs of scVI with its defaults (``n_latent=10``) on a copy of ``adata``; the
    model saved in ``save`` when given."""
    import scvi  # imported before the measurement, as sag is

    def run():
        scvi.settings.dl_num_workers = 0
        tmp = adata.copy()
        scvi.model.SCVI.setup_anndata(tmp)
        model = scvi.model.SCVI(tmp, n_latent=10)
        model.train(
            max_epochs=TRAIN_EPOCHS,
            accelerator="cpu",
            devices=1,
            enable_progress_bar=False,
            enable_model_summary=False,
            logger=False,
        )
        if save is not None:
            model.save(str(save), overwrite=True)

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="pbmc3k_10x_seurat_labels")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None, help="append one JSON line per step here")
    ap.add_argument("--steps", nargs="+", default=list(PEERS), choices=list(PEERS))
    ap.add_argument("--measure", nargs=3, metavar=("MODELS", "STEP", "WHO"), help=argparse.SUPPRESS)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    if args.measure:
        models, step, who = args.measure
        print(json.dumps(measure(args.dataset, Path(models), step, who, args.repeats)))
        return

    import scautogenome as sag

    sag.settings.verbosity = 0
    adata, _ = load(args.dataset)
    X = adata.X
    stamp = {
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "dataset": args.dataset,
        "shape": list(X.shape),
        "sparse_mb": round((X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20, 1),
        "repeats": args.repeats,
        **git_state(),
    }
    del adata, X
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp)
        train(args.dataset, models)
        for step in args.steps:
            peer_name = PEERS[step]
            got = {}
            for who in ("sag", "peer"):  # each in a fresh process: freed memory is not reused
                cmd = [sys.executable, __file__, "--dataset", args.dataset, "--repeats"]
                cmd += [str(args.repeats), "--measure", str(models), step, who]
                got[who] = run_fresh(cmd)
            rec = {**stamp, "step": step, "peer": peer_name, **peak_fields(got["sag"], got["peer"])}
            emit(rec, args.out)


if __name__ == "__main__":
    main()
