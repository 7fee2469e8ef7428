"""Side experiments on the Res-VAE embedding (issue 4): the search's starting Res-VAE trained
once per seed, without search, under a variant, its latents kept as ``.npy`` so that scoring
can change without retraining, and scored against the labels.

Variants
--------
base
    The starting point as the search draws it (4 layers from 128, keep 0.8, dropout 0.1,
    100 epochs, KL warm-up 50, NB likelihood, ``n_latent`` 10).
nl30
    The same with 30 latent dimensions (the paper used 128; the benchmark uses 10).
mse / zinb / gauss
    The paper's reconstruction (squared error on the 0-1 scaled log-normalized input), a
    zero-inflated NB (scVI's default likelihood), or the package's ``"gaussian"`` (variance =
    the batch's mean squared error), instead of NB. Rows of variant ``gauss-pergene`` in
    ``embed_side_results.jsonl`` were recorded with a variance per gene instead (commits
    1aadacc-1ed9688; not kept).
mog
    (Rows in ``embed_side_results.jsonl``, commit 4639ef2; not kept.) A learned mixture of 20
    diagonal Gaussians as the prior instead of the standard normal, KL by a one-sample Monte
    Carlo estimate.
b05
    A KL weight of 0.5 after the warm-up instead of 1 (scVI reaches 1 only at the end of its
    400-epoch warm-up, so most of its training runs below 1).
scvinet
    scVI's network shape in sag's loop: a plain VAE with one hidden layer of 128 (no skips,
    no input dropout, dropout 0.1), NB, the same schedule as ``base``.
keep1
    The start model without the input drop-out (first-layer keep ratio 1.0 instead of 0.8).
shallow
    A point of the paper's space nearer scVI's network: 3 layers from 128 decaying by 0.8
    ([128, 102, 82]), keep ratio 1.0.
elu / leaky
    The start model with another activation in every FC unit of both stacks (ELU, or LeakyReLU
    with slope 0.01) instead of the ReLU of the paper's unit. A ReLU after batch norm
    zeroes about half of a unit's outputs; in the narrow last units (46 and 28 wide) that may
    drop what separates the cell types.
zscore
    The encoder sees each gene z-scored (mean and standard deviation of the training rows
    after normalize_total 1e4 + log1p, clipped to +-10, as ``sc.pp.scale(max_value=10)`` gives
    PCA) instead of scaled to 0-1 by its training minimum and range. The package has no such
    option; the variant swaps the input transform's fit and its minibatch step while it trains.
bnrecal
    The start model as ``base``, its batch-norm statistics then re-estimated on the training
    rows in one pass with dropout off (momentum ``None``, a cumulative average): in training
    every unit's batch norm sees inputs thinned by the input drop-out and the dropout after
    the previous unit, at inference it does not (the "variance shift" of Li et al. 2019,
    Understanding the Disharmony between Dropout and Batch Normalization). The latent before
    the re-estimate is kept as well (rows ``before``), so the two are compared on the same
    weights.
rawlog
    The encoder sees log1p of the raw counts (scVI's encoder input; ``value_type="normalized"``)
    instead of log1p of 1e4-normalized counts; still 0-1 scaled per gene.

Scores (``sag.tl.embedding_scores``, ARI/NMI the mean of ``--leiden-seeds`` Leiden runs, no
t-SNE): every seed's latent; with ``--ensembles``, every 3 of the variant's seeds combined
into one 10-dimensional latent, by PCA of their concatenation and by orthogonal-Procrustes
alignment to the first and averaging; with ``--pca``, PCA with as many components as the
variant's latent (normalize_total 1e4 + log1p, as ``benchmarks/embed.py``).

Usage (not part of CI)::

    python benchmarks/embed_side.py --variant base --seeds 0 1 2 3 --ensembles
    python benchmarks/embed_side.py --variant nl30 --seeds 0 1 2 --pca

One JSON line per (dataset, variant, what) is appended to ``--out``; ``--report`` prints the
means per dataset, variant and kind of row (seeds, PCA ensembles, Procrustes ensembles, PCA).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from _common import HERE, git_state
from embed import DEFAULT_DATASETS, load, pca_latent, start_for, trainer_settings

VARIANTS = {
    "base": {},
    "nl30": {"n_latent": 30},
    "rawlog": {"value_type": "normalized"},
    "mse": {"arch": {"likelihood": "mse"}},
    "zinb": {"arch": {"likelihood": "zinb"}},
    "gauss": {"arch": {"likelihood": "gaussian"}},
    "b05": {"trainer": {"beta": 0.5}},
    "scvinet": {"arch": {"kind": "vae", "widths": [128], "input_keep": 1.0}},
    "keep1": {"arch": {"input_keep": 1.0}},
    "shallow": {"arch": {"widths": [128, 102, 82], "input_keep": 1.0}},
    "elu": {"arch": {"act": "elu"}},
    "leaky": {"arch": {"act": "leaky_relu"}},
    "zscore": {"input": "zscore"},
    "bnrecal": {"readout": "bnrecal"},
}
ZSCORE_CLIP = 10.0


@contextlib.contextmanager
def zscored_input():
    """While it is active, ``InputTransform`` fits each gene's mean and standard deviation on
    the training rows (in chunks, float64 sums) and the minibatch step z-scores and clips to
    +-ZSCORE_CLIP, in place of the 0-1 min-max scaling (``min_``/``range_`` hold the mean and
    standard deviation)."""
    import torch

    from scautogenome.data import _transform as T

    def fit(self, X, rows, chunk=2048):
        total = np.zeros(X.shape[1])
        squares = np.zeros(X.shape[1])
        for start in range(0, len(rows), chunk):
            block = self._rows_np(T.dense_rows(X, rows[start : start + chunk])).astype(np.float64)
            total += block.sum(axis=0)
            squares += (block * block).sum(axis=0)
        mean = total / len(rows)
        sd = np.sqrt(np.maximum(squares / len(rows) - mean * mean, 0.0))
        sd[sd < 1e-6] = 1.0
        self.min_, self.range_ = mean.astype(np.float32), sd.astype(np.float32)
        return self

    def step(self, x):
        if self.counts:
            x = torch.log1p(x * (T.TARGET_SUM / x.sum(dim=1, keepdim=True).clamp_min(1e-12)))
        elif self.log1p:
            x = torch.log1p(x)
        if self.scale:
            x = ((x - self.min) * self.inv_range).clamp_(-ZSCORE_CLIP, ZSCORE_CLIP)
        return x

    saved = T.InputTransform.fit, T.TorchTransform.__call__
    T.InputTransform.fit, T.TorchTransform.__call__ = fit, step
    try:
        yield
    finally:
        T.InputTransform.fit, T.TorchTransform.__call__ = saved


def latent_path(cache: Path, dataset: str, variant: str, seed: int, kind: str = "seed") -> Path:
    tag = "" if variant == "base" else f"_{variant}"
    kind = "" if kind == "seed" else f"_{kind}"
    return cache / f"{dataset}{tag}{kind}_s{seed}.npy"


def recalibrate_batch_norm(model, adata, layer, seed: int) -> None:
    """Re-estimate every batch norm's running mean and variance of ``model`` on its training
    rows (the seeded split of ``fit``), with every dropout off, in one pass of 1,024-row
    batches; the latent code fed to the decoder is the mean, as at inference."""
    import torch

    from scautogenome.data import BatchLoader
    from scautogenome.models._resvae import prepare_unlabelled

    module = model.module_
    data = prepare_unlabelled(
        adata,
        layer=layer,
        n_latent=model.n_latent_,
        likelihood=model.likelihood_,
        seed=seed,
        writes=False,
    )
    norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [bn.momentum for bn in norms]
    module.train()
    for m in module.modules():
        if isinstance(m, torch.nn.Dropout):
            m.eval()
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None
    transform = model.transform_.to_torch(model.device_)
    loader = BatchLoader(
        data.X, data.train_rows, None, batch_size=1024, transform=lambda x: x, device=model.device_
    )
    with torch.no_grad():
        for x, _ in loader:
            module(transform(x), sample=False)
    for bn, momentum in zip(norms, momenta):
        bn.momentum = momentum
    module.eval()


def train(adata, variant: str, seed: int, args) -> dict[str, np.ndarray]:
    import scautogenome as sag

    v = VARIANTS[variant]
    trainer = {**trainer_settings(args), **v.get("trainer", {})}
    arch, params, layer = start_for(adata, v.get("n_latent", 10), trainer)
    arch = {**arch, **v.get("arch", {})}
    swap = zscored_input() if v.get("input") == "zscore" else contextlib.nullcontext()
    with swap:
        model = sag.models.ResVAE(arch, params).fit(
            adata, layer=layer, seed=seed, value_type=v.get("value_type", "auto")
        )
        out = {"seed": model.get_latent(adata, layer=layer)}
    if v.get("readout") == "bnrecal":
        out = {"before": out["seed"]}
        recalibrate_batch_norm(model, adata, layer, seed)
        out["seed"] = model.get_latent(adata, layer=layer)
    return out


def score(z: np.ndarray, labels: np.ndarray, leiden_seeds: int) -> dict:
    import anndata as ad

    import scautogenome as sag

    a = ad.AnnData(obs={"label": labels}, obsm={"e": np.asarray(z, np.float32)})
    a.obs_names = [str(i) for i in range(len(labels))]
    r = sag.tl.embedding_scores(a, "e", "label", tsne=False, leiden_seeds=leiden_seeds)
    return {k: round(r[k], 4) for k in ("ari", "nmi", "davies_bouldin", "silhouette")}


def pca_of_concatenation(zs: list[np.ndarray], k: int) -> np.ndarray:
    z = np.hstack(zs)
    z = z - z.mean(axis=0)
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    return z @ vt[:k].T


def procrustes_mean(zs: list[np.ndarray]) -> np.ndarray:
    from scipy.linalg import orthogonal_procrustes

    ref = zs[0] - zs[0].mean(axis=0)
    aligned = [ref]
    for z in zs[1:]:
        zc = z - z.mean(axis=0)
        rotation, _ = orthogonal_procrustes(zc, ref)
        aligned.append(zc @ rotation)
    return np.mean(aligned, axis=0)


def report(path: Path) -> str:
    """Markdown table: mean (and count) per dataset, variant and kind of row; for every
    (dataset, variant, what) the last line counts."""
    import pandas as pd

    df = pd.read_json(path, lines=True)
    df = df.groupby(["dataset", "variant", "what"], as_index=False).last()
    df["kind"] = df["what"].str.replace(r" [(\d].*$", "", regex=True)
    lines = [
        "| dataset | variant | rows | n | ARI | NMI | DB latent |",
        "|---|---|---|---|---|---|---|",
    ]
    for (name, variant, kind), g in df.groupby(["dataset", "variant", "kind"], sort=True):
        m = g[["ari", "nmi", "davies_bouldin"]].mean()
        lines.append(
            f"| {name} | {variant} | {kind} | {len(g)} | {m['ari']:.3f} | {m['nmi']:.3f} "
            f"| {m['davies_bouldin']:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    import scautogenome as sag

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=DEFAULT_DATASETS)
    p.add_argument("--variant", choices=list(VARIANTS), default="base")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--leiden-seeds", type=int, default=5)
    p.add_argument("--ensembles", action="store_true")
    p.add_argument("--pca", action="store_true")
    p.add_argument("--max-genes", type=int, default=2000)
    p.add_argument("--cache", type=Path, default=HERE / "out" / "latents")
    p.add_argument("--out", type=Path, default=HERE / "out" / "embed_side.jsonl")
    p.add_argument("--report", action="store_true", help="print the tables of --out and stop")
    args = p.parse_args(argv)
    if args.report:
        print(report(args.out))
        return
    from scautogenome.config._embed import default

    trainer = default()["trainer"]  # the package's schedule, as the search's start uses it
    args.max_epochs, args.kl_warmup, args.beta = (
        trainer["max_epochs"],
        trainer["kl_warmup_epochs"],
        trainer["beta"],
    )
    # set again by sag at every training: loading a dataset (seurat_v3 HVGs) resets torch's
    # pool to the number of cores, so the rows of mouse_bladder, pbmc3k and worm recorded
    # before this setting (all of embed_side_results.jsonl) were trained on 2 threads
    sag.settings.n_threads = 1
    sag.settings.device = "cpu"
    sag.settings.verbosity = 1
    sag.settings.progress_bar = False
    args.cache.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    state = git_state()
    for name in args.datasets:
        adata = load(name, args.max_genes)
        labels = adata.obs["label"].astype(str).to_numpy()
        zs, extra = {}, []
        for seed in args.seeds:
            path = latent_path(args.cache, name, args.variant, seed)
            if not path.exists():
                t = time.perf_counter()
                for kind, z in train(adata, args.variant, seed, args).items():
                    np.save(latent_path(args.cache, name, args.variant, seed, kind), z)
                print(f"{name} {args.variant} seed {seed}: {time.perf_counter() - t:.0f} s")
            zs[seed] = np.load(path)
            before = latent_path(args.cache, name, args.variant, seed, "before")
            if before.exists():
                extra.append((f"before {seed}", np.load(before)))
        rows = [(f"seed {s}", z) for s, z in zs.items()] + extra
        k = next(iter(zs.values())).shape[1]
        if args.ensembles:
            for combo in itertools.combinations(args.seeds, 3):
                members = [zs[s] for s in combo]
                rows.append((f"pca-ensemble {combo}", pca_of_concatenation(members, k)))
                rows.append((f"procrustes-ensemble {combo}", procrustes_mean(members)))
        if args.pca:
            rows.append((f"PCA {k}", pca_latent(adata, k, seed=0)))
        with args.out.open("a") as f:
            for what, z in rows:
                rec = {
                    "dataset": name,
                    "variant": args.variant,
                    "what": what,
                    "leiden_seeds": args.leiden_seeds,
                    **score(z, labels, args.leiden_seeds),
                    **state,
                }
                f.write(json.dumps(rec) + "\n")
                print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
