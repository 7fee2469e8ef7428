"""Embedding benchmark (GitHub issue 4, point 8): Res-VAE vs plain VAE vs PCA vs scVI.

Every method embeds all cells of a dataset into ``--n-latent`` dimensions (PCA also with 50
components, as in ../shared/anchors.md). The embeddings are scored against the dataset's labels
with :func:`scautogenome.tl.embedding_scores`: Davies-Bouldin on the latent and on its 2-D
t-SNE, ARI/NMI of Leiden clusters (resolution bisected to give as many clusters as labels) and
silhouette.

Methods
-------
resvae / vae
    ``sag.tl.embed(mode=...)``: Optuna search over the paper's Res-VAE space (widths capped at
    the number of genes) + lr, batch size, weight decay; ``likelihood="auto"`` (negative
    binomial on raw counts). Budget: ``--n-trials`` trials within ``--time-budget`` s,
    ``--max-epochs`` epochs per trial, KL warm-up over the first half.
start
    The search's starting Res-VAE (what a tight budget returns) trained once, without search,
    for ``--max-epochs`` epochs with ``--kl-warmup`` of them warming the KL weight up; recorded
    as ``start-e{epochs}w{warm-up}`` (``b{beta}`` appended for a KL weight other than 1), so
    that training schedules can be compared.
pca
    normalize_total 1e4 + log1p (on counts; other data are log values already), then
    ``sc.pp.pca`` (centered, not scaled).
scvi
    scvi-tools ``SCVI`` on the raw counts with its defaults (1 hidden layer of 128, ZINB,
    ``max_epochs = min(400, 20000 / n_cells * 400)``) and ``n_latent=--n-latent``.

Seconds per epoch, all on the same machine and device (``--device``: cpu by default, or cuda
for all methods), one torch thread: scVI (Lightning,
timed by a callback around each training epoch), sag's loop on the same network as scVI
(plain VAE, one hidden layer of 128, dropout 0.1, NB, batch 128; ``same-net``), and the final
searched Res-VAE / VAE (their own, usually wider, networks).

Datasets with more than ``--max-genes`` genes are reduced to that many highly variable genes
(``seurat_v3`` on counts) for every method; where its loess fit fails (worm_neuron_cao2017),
genes seen in fewer than 3 cells are dropped first. Datasets that are not counts
(log-transformed, or FPKM, which is log1p-transformed first) keep log values in ``X``, select
genes with ``seurat`` and skip scVI, which models counts; the Res-VAE's ``likelihood="auto"``
then models the 0-1 scaled values.

Usage (not part of CI)::

    nice -n 10 python benchmarks/embed.py --datasets klein2015_mouse_es_subset --seeds 0 1 2
    nice -n 10 python benchmarks/embed.py --timing --datasets pbmc4k_10x_scdcc_top2000
    python benchmarks/embed.py --timing --device cuda --datasets pbmc4k_10x_scdcc_top2000
    nice -n 10 python benchmarks/embed.py --methods start --max-epochs 200 --kl-warmup 200
    python benchmarks/embed.py --report      # JSONL -> tables for benchmarks/RESULTS.md
    python benchmarks/embed.py --report old.jsonl new.jsonl    # new lines supersede old ones
    python benchmarks/embed.py --methods pca --leiden-seeds 5  # ARI/NMI: mean of 5 Leiden runs
    python benchmarks/embed.py --report leiden5.jsonl main.jsonl \
        --versus resvae-leiden5 scvi-leiden5 pca-leiden5  # differences, 95% intervals

Results append to ``--out`` (one JSON line per dataset, method and seed); ``--report`` keeps
the last line of every (dataset, method, seed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import time
import traceback
from pathlib import Path

# A shared, oversubscribed machine: spinning OpenMP threads make torch many times slower with
# 2 threads than with 1. Set before numpy/torch load; an explicit environment wins.
for _k, _v in {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_NUM_THREADS": "1"}.items():
    os.environ.setdefault(_k, _v)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import DATA as SHARED  # noqa: E402  (puts the repo on sys.path)
from _common import HERE, git_state  # noqa: E402

DEFAULT_DATASETS = [
    "klein2015_mouse_es_subset",
    "pbmc4k_10x_scdcc_top2000",
    "human_kidney_young2018_top2000",
    "cbmc_citeseq_stoeckius2017_top2000",
]
METHODS = ("resvae", "vae", "pca", "scvi", "same-net", "start")
# methods that model raw counts: not run on log-transformed or FPKM datasets
COUNTS_ONLY = ("scvi", "same-net")


def is_counts(adata) -> bool:
    """Whether a shared dataset holds raw counts (``uns['value_type']``, see CATALOG.md)."""
    value_type = str(adata.uns.get("value_type", "raw counts"))
    return "counts" in value_type and "not counts" not in value_type


def counts_layer(adata) -> str | None:
    """The layer the Res-VAE reads: the raw counts, or ``X`` (log values) on other data."""
    return "counts" if "counts" in adata.layers else None


def load(name: str, max_genes: int):
    """A shared dataset, reduced to ``max_genes`` highly variable genes. Raw counts are kept
    in ``layers['counts']`` (HVGs: ``seurat_v3`` on the counts); other values (log-transformed,
    FPKM) are log values in ``X`` (FPKM: log1p) with no counts layer (HVGs: ``seurat`` on the
    log values), and only the methods that take them run (not scVI)."""
    import anndata as ad
    import scanpy as sc

    adata = ad.read_h5ad(SHARED / f"{name}.h5ad")
    adata.obs["label"] = adata.obs["label"].astype(str).astype("category")
    counts = is_counts(adata)
    if not counts and str(adata.uns.get("value_type", "")).startswith("FPKM"):
        sc.pp.log1p(adata)
    if adata.n_vars > max_genes:
        if not counts:
            sc.pp.highly_variable_genes(adata, n_top_genes=max_genes, flavor="seurat")
        else:
            try:
                sc.pp.highly_variable_genes(adata, n_top_genes=max_genes, flavor="seurat_v3")
            except ValueError as e:  # seurat_v3's loess fit is singular on worm_neuron_cao2017
                print(f"seurat_v3 failed ({e}); again on genes seen in >= 3 cells", flush=True)
                sc.pp.filter_genes(adata, min_cells=3)
                sc.pp.highly_variable_genes(adata, n_top_genes=max_genes, flavor="seurat_v3")
        adata = adata[:, adata.var["highly_variable"].to_numpy()].copy()
    if counts:
        adata.layers["counts"] = adata.X.copy()
    return adata


# Leiden runs averaged per score (--leiden-seeds); 1, the default, is how every recorded
# table was scored
SCORING = {"leiden_seeds": 1}


def scores(adata, basis: str, seed: int) -> dict:
    import scautogenome as sag

    t = time.perf_counter()
    out = sag.tl.embedding_scores(
        adata, basis, "label", seed=seed, leiden_seeds=SCORING["leiden_seeds"]
    )
    out["score_seconds"] = time.perf_counter() - t
    return out


def run_sag(adata, mode: str, seed: int, args) -> dict:
    import scautogenome as sag

    cfg = {
        "budget": {"n_trials": args.n_trials, "time_budget": args.time_budget},
        "trainer": trainer_settings(args),
    }
    t = time.perf_counter()
    model = sag.tl.embed(
        adata,
        mode=mode,
        n_latent=args.n_latent,
        likelihood=args.likelihood,
        config=cfg,
        seed=seed,
        key_added=f"sag_{mode}",
    )
    seconds = time.perf_counter() - t
    uns = adata.uns[f"sag_{mode}"]
    trials = uns["trials"]
    return {
        "seconds": seconds,
        "seconds_per_epoch": float(uns["seconds_per_epoch"]),
        "epochs": len(uns["losses"]["epoch"]),
        "architecture": uns["architecture"],
        "train_params": uns["train_params"],
        "n_trials": len(trials),
        "n_complete": int((trials["state"] == "complete").sum()),
        "val_loss": float(uns["best"]["val_loss"]),
        "likelihood": model.likelihood_,
        **scores(adata, f"X_sag_{mode}", seed),
    }


def sag_method(mode: str, likelihood: str) -> str:
    """Record name of a searched sag model: the mode, with the likelihood appended when it is
    not ``"auto"`` (``resvae-gaussian``)."""
    return mode if likelihood == "auto" else f"{mode}-{likelihood}"


def pca_latent(adata, n_comps: int, seed: int) -> np.ndarray:
    """PCA of the log values: counts normalized to 1e4 and log1p-transformed first, other
    data as they are (log values already, see load)."""
    import scanpy as sc

    tmp = adata.copy()
    if counts_layer(tmp) is not None:
        sc.pp.normalize_total(tmp, target_sum=1e4)
        sc.pp.log1p(tmp)
    sc.pp.pca(tmp, n_comps=n_comps, random_state=seed)
    return tmp.obsm["X_pca"]


def run_pca(adata, n_comps: int, seed: int) -> dict:
    t = time.perf_counter()
    adata.obsm[f"X_pca{n_comps}"] = pca_latent(adata, n_comps, seed)
    return {"seconds": time.perf_counter() - t, **scores(adata, f"X_pca{n_comps}", seed)}


def _sync() -> None:
    """Wait for queued GPU work, so that an epoch's time includes its kernels."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def device_name(device: str) -> str:
    """What the rows record as the device: the GPU's name on CUDA, else "cpu"."""
    import torch

    return torch.cuda.get_device_name() if device == "cuda" else "cpu"


def _epoch_timer():
    from lightning.pytorch.callbacks import Callback

    class EpochTimer(Callback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_train_epoch_start(self, trainer, module) -> None:
            _sync()
            self._t = time.perf_counter()

        def on_train_epoch_end(self, trainer, module) -> None:
            _sync()
            self.times.append(time.perf_counter() - self._t)

    return EpochTimer()


def _train_scvi(
    adata, n_latent: int, max_epochs: int | None, seed: int | None = None, device: str = "cpu"
):
    """scvi-tools' SCVI with its defaults on ``layers['counts']``, on ``device`` ("cpu" or
    "cuda"): (model, epoch seconds, s)."""
    import scvi

    if seed is not None:
        scvi.settings.seed = seed
    scvi.settings.dl_num_workers = 0
    tmp = adata.copy()
    scvi.model.SCVI.setup_anndata(tmp, layer="counts")
    model = scvi.model.SCVI(tmp, n_latent=n_latent)
    timer = _epoch_timer()
    t = time.perf_counter()
    model.train(
        max_epochs=max_epochs,
        accelerator="gpu" if device == "cuda" else "cpu",
        devices=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        callbacks=[timer],
    )
    return model, np.asarray(timer.times), time.perf_counter() - t


def run_scvi(adata, n_latent: int, seed: int, max_epochs: int | None, device: str) -> dict:
    model, times, seconds = _train_scvi(adata, n_latent, max_epochs, seed, device)
    adata.obsm["X_scvi"] = model.get_latent_representation()
    return {
        "seconds": seconds,
        "epochs": len(times),
        # the first epoch carries Lightning's start-up; report the median epoch
        "seconds_per_epoch": float(np.median(times)),
        "seconds_per_epoch_mean": float(times.mean()),
        **scores(adata, "X_scvi", seed),
    }


def scvi_shaped(n_latent: int) -> dict:
    """A sag VAE architecture of scVI's default network shape (one hidden layer of 128)."""
    return {"kind": "vae", "n_latent": n_latent, "widths": [128], "dropout": 0.1}


def run_same_net(adata, n_latent: int, seed: int, epochs: int) -> dict:
    """sag's loop on scVI's network shape: timing only (not scored)."""
    import scautogenome as sag

    arch = {**scvi_shaped(n_latent), "likelihood": "nb"}
    params = {"max_epochs": epochs, "min_epochs": epochs, "batch_size": 128, "lr": 1e-3}
    t = time.perf_counter()
    model = sag.models.ResVAE(arch, params).fit(adata, layer="counts", seed=seed)
    times = np.asarray([h["seconds"] for h in model.history_])
    return {
        "seconds": time.perf_counter() - t,
        "epochs": len(times),
        "seconds_per_epoch": float(np.median(times)),
        "seconds_per_epoch_mean": float(times.mean()),
    }


# what the timing takes from an architecture (the likelihood is NB for all)
TIMED_ARCH_KEYS = ("kind", "n_latent", "widths", "input_keep", "dropout")


def start_point(n_inputs: int, n_latent: int, trainer: dict | None = None) -> tuple[dict, dict]:
    """``(architecture, train_params)`` of the search's default starting point (what a tight
    budget returns), drawn by the search's own sampler; ``trainer`` overrides trainer settings."""
    import optuna

    from scautogenome.config import _embed as embed_config
    from scautogenome.search._vae import initial_points, sample_vae_trial

    config = embed_config.default()
    config["trainer"].update(trainer or {})
    point = optuna.trial.FixedTrial(initial_points(config, n_inputs)[0])
    return sample_vae_trial(point, config, n_inputs, n_latent, likelihood="nb")


def start_for(adata, n_latent: int, trainer: dict | None = None):
    """``(architecture, train_params, layer)`` of the search's starting point on a loaded
    dataset: NB on its counts layer, or on data that are not counts ``X`` with the likelihood
    ``"auto"`` picks for them."""
    arch, params = start_point(adata.n_vars, n_latent, trainer)
    layer = counts_layer(adata)
    if layer is None:
        arch = {**arch, "likelihood": "auto"}
    return arch, params, layer


def start_arch(n_inputs: int, n_latent: int) -> dict:
    """The starting point's Res-VAE, reduced to what the timing needs."""
    arch, _ = start_point(n_inputs, n_latent)
    return {k: arch[k] for k in TIMED_ARCH_KEYS}


def trainer_settings(args) -> dict:
    """The trainer part of the config: ``--max-epochs``, ``--kl-warmup`` (default: half) and
    ``--beta`` (default: the package's)."""
    from scautogenome.config._embed import default

    warmup = args.max_epochs // 2 if args.kl_warmup is None else args.kl_warmup
    beta = default()["trainer"]["beta"] if args.beta is None else args.beta
    return {"max_epochs": args.max_epochs, "kl_warmup_epochs": warmup, "beta": float(beta)}


def start_method(args) -> str:
    """Record name of ``--methods start``: the training schedule is part of it, so runs with
    different schedules are told apart (``start-e100w50``: 100 epochs, 50 of KL warm-up; a KL
    weight other than 1 is appended, ``start-e100w50b4``)."""
    t = trainer_settings(args)
    beta = "" if t["beta"] == 1 else f"b{t['beta']:g}"
    return f"start-e{t['max_epochs']}w{t['kl_warmup_epochs']}{beta}"


def run_start(adata, seed: int, args) -> dict:
    """The search's starting Res-VAE trained once, no search, with ``--max-epochs`` and
    ``--kl-warmup``: isolates the training schedule from the search."""
    import scautogenome as sag

    arch, params, layer = start_for(adata, args.n_latent, trainer_settings(args))
    t = time.perf_counter()
    model = sag.models.ResVAE(arch, params).fit(adata, layer=layer, seed=seed)
    adata.obsm["X_start"] = model.get_latent(adata, layer=layer)
    return {
        "seconds": time.perf_counter() - t,
        "seconds_per_epoch": model.seconds_per_epoch_,
        "epochs": len(model.history_),
        "architecture": json.dumps({k: arch[k] for k in TIMED_ARCH_KEYS}),
        "train_params": json.dumps(params),
        "latent_variances": [round(float(v), 3) for v in adata.obsm["X_start"].var(axis=0)],
        **scores(adata, "X_start", seed),
    }


def run_timing(
    adata, n_latent: int, epochs: int, arch: dict | None, threads: int = 1, device: str = "cpu"
) -> dict:
    """Seconds per epoch, interleaved so that all see the same (shared, fluctuating) load:
    scVI, sag's loop on scVI's network, sag's Res-VAE of the search's starting point and sag
    on ``arch`` (the searched Res-VAE). All train with ``threads`` torch threads, set at the
    start of every round: loading a dataset can leave torch's OpenMP pool at 2 threads (seen
    after the first dataset of a ``--timing`` run until 2026-11-30). The count seen after scVI
    is recorded. On ``device="cuda"`` every net trains on the GPU (sag with its bfloat16
    autocast, scVI with Lightning's default precision)."""
    import torch

    import scautogenome as sag

    torch.set_num_threads(threads)
    _, times, _ = _train_scvi(adata, n_latent, epochs, device=device)
    out = {"scvi": float(np.median(times[1:])), "threads_after_scvi": torch.get_num_threads()}
    nets = {"same-net": scvi_shaped(n_latent), "resvae-start": start_arch(adata.n_vars, n_latent)}
    if arch is not None:
        nets["resvae"] = {k: arch[k] for k in TIMED_ARCH_KEYS}
    for tag, a in nets.items():
        params = {"max_epochs": epochs, "min_epochs": epochs, "batch_size": 128}
        m = sag.models.ResVAE({**a, "likelihood": "nb"}, params).fit(adata, layer="counts")
        out[tag] = float(np.median([h["seconds"] for h in m.history_][1:]))
    return out


def timing(args) -> None:
    """``--timing``: ``--rounds`` interleaved rounds per dataset, medians over rounds."""
    import torch

    import scautogenome as sag

    torch.set_num_threads(args.threads)
    sag.settings.device = args.device
    sag.settings.verbosity = 1
    sag.settings.progress_bar = False
    done = load_results(args.out) if args.out.exists() else pd.DataFrame()
    for name in args.datasets:
        adata = load(name, args.max_genes)
        arch = None
        if len(done):
            rows = done[(done["dataset"] == name) & (done["method"] == "resvae")]
            if len(rows):
                arch = json.loads(rows.sort_values("seed")["architecture"].iloc[0])
        rounds = [
            run_timing(adata, args.n_latent, args.timing_epochs, arch, args.threads, args.device)
            for _ in range(args.rounds)
        ]
        rec = {
            "dataset": name,
            "method": "timing",
            "seed": 0,
            "shape": f"{adata.n_obs}x{adata.n_vars}",
            "rounds": rounds,
            "resvae_widths": None if arch is None else arch["widths"],
            "threads": torch.get_num_threads(),
            "device": device_name(args.device),
            "when": dt.datetime.now().isoformat(timespec="seconds"),
            **git_state(),
        }
        for k in rounds[0]:
            rec[f"timing_{k}"] = float(np.median([r[k] for r in rounds]))
        append(args.out, rec)
        print(json.dumps(rec), flush=True)


def append(path: Path, rec: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(rec) + "\n")


def leiden_suffix(n: int) -> str:
    """The method-name suffix of rows scored over ``n`` Leiden runs ("" for one run)."""
    return f"-leiden{n}" if n > 1 else ""


def leiden_runs(method: str) -> int:
    """How many Leiden runs a recorded method name was scored over (inverse of leiden_suffix)."""
    head, sep, n = str(method).rpartition("-leiden")
    return int(n) if sep and head and n.isdigit() else 1


def is_rescored(method: str, base: str) -> bool:
    """Whether ``method`` is ``base`` scored over several Leiden runs."""
    return leiden_runs(method) > 1 and method == base + leiden_suffix(leiden_runs(method))


def scored_as(rec: dict) -> dict:
    """``rec`` with ``-leiden{n}`` appended to its method when scored over n > 1 Leiden runs,
    so that --report never mixes such rows with single-run ones."""
    return {**rec, "method": rec["method"] + leiden_suffix(SCORING["leiden_seeds"])}


def run(args) -> None:
    import torch

    import scautogenome as sag

    SCORING["leiden_seeds"] = args.leiden_seeds
    # sag sets this count again at the start of every training: loading a dataset (scanpy's
    # seurat_v3 HVGs) reset torch's pool to the number of cores, so the rows of mouse_bladder,
    # pbmc3k and worm recorded before this setting were trained on 2 threads
    sag.settings.n_threads = args.threads
    sag.settings.device = args.device
    sag.settings.verbosity = 1
    sag.settings.progress_bar = False
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "device": device_name(args.device),
        **git_state(),
    }
    for name in args.datasets:
        adata0 = load(name, args.max_genes)
        for seed in args.seeds:
            for method in args.methods:
                adata = adata0.copy()
                rec = {
                    "dataset": name,
                    "shape": f"{adata.n_obs}x{adata.n_vars}",
                    "n_labels": int(adata.obs["label"].nunique()),
                    "method": method,
                    "seed": seed,
                    "n_latent": args.n_latent,
                    "when": dt.datetime.now().isoformat(timespec="seconds"),
                    **env,
                }
                if method in COUNTS_ONLY and counts_layer(adata) is None:
                    print(f"{name}: {method} skipped, it needs raw counts", flush=True)
                    continue
                sag.settings.apply_n_threads()  # scVI and PCA too
                rec["threads"] = torch.get_num_threads()
                print(f"[{rec['when']}] {name} {method} seed={seed}", flush=True)
                try:
                    if method in ("resvae", "vae"):
                        rec["method"] = sag_method(method, args.likelihood)
                        rec.update(run_sag(adata, method, seed, args))
                    elif method == "pca":
                        rec.update(run_pca(adata, args.n_latent, seed))
                        append(args.out, scored_as(rec))
                        rec = {**rec, "method": "pca50", **run_pca(adata0.copy(), 50, seed)}
                    elif method == "scvi":
                        rec.update(
                            run_scvi(adata, args.n_latent, seed, args.scvi_epochs, args.device)
                        )
                    elif method == "start":
                        rec["method"] = start_method(args)
                        rec.update(run_start(adata, seed, args))
                    elif method == "same-net":
                        rec.update(run_same_net(adata, args.n_latent, seed, args.same_net_epochs))
                except Exception as e:  # keep going; the error is recorded
                    rec["error"] = f"{type(e).__name__}: {e}"
                    traceback.print_exc()
                rec = scored_as(rec)
                append(args.out, rec)
                print(json.dumps({k: rec.get(k) for k in ("method", "ari", "nmi", "davies_bouldin", "davies_bouldin_tsne", "seconds", "seconds_per_epoch")}), flush=True)  # fmt: skip


# -- report ---------------------------------------------------------------------------------
def load_results(*paths: Path) -> pd.DataFrame:
    """All lines of ``paths``; for every (dataset, method, seed) the last one counts, so a
    later file (a re-run with newer code) supersedes an earlier one."""
    rows = [json.loads(x) for p in paths for x in p.read_text().splitlines() if x.strip()]
    df = pd.DataFrame(rows)
    if "error" in df:
        df = df[df["error"].isna()]
    return df.groupby(["dataset", "method", "seed"], as_index=False).last()


def _fmt(sub: pd.DataFrame, col: str, digits: int = 2) -> str:
    v = sub[col].dropna()
    if not len(v):
        return "—"
    if len(v) == 1:
        return f"{v.iloc[0]:.{digits}f}"
    return f"{v.mean():.{digits}f}±{v.std(ddof=1):.{digits}f}"


def report_table(df: pd.DataFrame) -> str:
    # searched models with a likelihood other than auto (resvae-gaussian), however scored
    extra = sorted(
        {
            str(m).removesuffix(leiden_suffix(leiden_runs(m)))
            for m in df["method"].unique()
            if str(m).startswith(("resvae-", "vae-"))
        }
        - {"resvae", "vae"}
    )
    scored = ["resvae", "vae", *extra, "pca", "pca50", "scvi"]
    lines = [
        "| dataset | shape | method | seeds | ARI | NMI | DB latent | DB t-SNE | silhouette | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, g in df.groupby("dataset", sort=False):
        # each method, then its rows scored over several Leiden runs (--leiden-seeds)
        shown = [
            (m, variant)
            for m in scored
            for variant in [m, *sorted(v for v in set(g["method"]) if is_rescored(v, m))]
        ]
        for m, variant in shown:
            sub = g[g["method"] == variant]
            if not len(sub):
                continue
            label = {"pca": f"PCA {int(sub['n_latent'].iloc[0])}", "pca50": "PCA 50"}.get(m, m)
            if variant != m:
                label += f", mean of {leiden_runs(variant)} Leiden runs"
            lines.append(
                f"| {name} | {sub['shape'].iloc[0]} | {label} | {len(sub)} | {_fmt(sub, 'ari')} "
                f"| {_fmt(sub, 'nmi')} | {_fmt(sub, 'davies_bouldin')} "
                f"| {_fmt(sub, 'davies_bouldin_tsne')} | {_fmt(sub, 'silhouette')} "
                f"| {_fmt(sub, 'seconds', 0)} |"
            )
    lines += [
        "",
        "Seconds per training epoch inside the benchmark runs (scVI and sag on scVI's network: "
        "median epoch; searched models: mean epoch of the final model; mean over seeds):",
        "",
        "| dataset | scVI (Lightning) | sag loop, scVI's network | Res-VAE searched | VAE searched |",
        "|---|---|---|---|---|",
    ]
    for name, g in df.groupby("dataset", sort=False):
        cells = []
        for m in ("scvi", "same-net", "resvae", "vae"):
            sub = g[g["method"] == m]
            cells.append(_fmt(sub, "seconds_per_epoch", 3) if len(sub) else "—")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    t = df[df["method"] == "timing"] if "method" in df else df
    if len(t):
        lines += [
            "",
            "Interleaved timing (``--timing``; median epoch per round, median over rounds):",
            "",
            "| dataset | rounds | scVI (Lightning) | sag loop, scVI's network "
            "| sag, Res-VAE of the search's start | sag, searched Res-VAE (widths) |",
            "|---|---|---|---|---|---|",
        ]
        for _, r in t.iterrows():
            res = r.get("timing_resvae")
            res_s = "—" if res is None or pd.isna(res) else f"{res:.3f} ({r['resvae_widths']})"
            start = r.get("timing_resvae-start")
            start_s = "—" if start is None or pd.isna(start) else f"{start:.3f}"
            lines.append(
                f"| {r['dataset']} | {len(r['rounds'])} | {r['timing_scvi']:.3f} "
                f"| {r['timing_same-net']:.3f} | {start_s} | {res_s} |"
            )
    runs = sorted({leiden_runs(m) for m in df["method"].unique()} - {1})
    ours_all = ["resvae", "vae", *extra]
    tables = [
        *(wins_table(df, ours) for ours in ours_all),
        *(wins_table(df, ours, n) for n in runs for ours in ours_all),
        schedule_table(df),
    ]
    return "\n\n".join(["\n".join(lines), *(t for t in tables if t)])


def schedule_table(df: pd.DataFrame) -> str:
    """``--methods start`` rows (the search's starting Res-VAE, no search, one schedule per
    method name) beside the searched Res-VAE and the peers, on the datasets that have them."""
    starts = sorted(m for m in df["method"].unique() if str(m).startswith("start-"))
    if not starts:
        return ""
    lines = [
        "The search's starting Res-VAE without search, by training schedule "
        "(start-eEwW: E epochs, W of them KL warm-up), beside the searched Res-VAE and the peers:",
        "",
        "| dataset | method | seeds | ARI | NMI | DB latent | epochs trained |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, g in df.groupby("dataset", sort=False):
        if not g["method"].isin(starts).any():
            continue
        for m in [*starts, "resvae", "pca", "scvi"]:
            sub = g[g["method"] == m]
            if len(sub):
                epochs = _fmt(sub, "epochs", 0) if "epochs" in sub else "—"
                lines.append(
                    f"| {name} | {m} | {len(sub)} | {_fmt(sub, 'ari')} | {_fmt(sub, 'nmi')} "
                    f"| {_fmt(sub, 'davies_bouldin')} | {epochs} |"
                )
    return "\n".join(lines)


def wins_table(df: pd.DataFrame, ours: str = "resvae", runs: int = 1) -> str:
    """``ours`` (the Res-VAE or the plain VAE) against the issue's two peers (PCA with the same
    size, scVI), mean over seeds: per metric, whether it is better (higher ARI/NMI, lower
    Davies-Bouldin) than both, and on how many datasets it beats both, PCA alone and scVI
    alone.

    With ``runs`` > 1 the rows scored over that many Leiden runs (``--leiden-seeds``)
    are compared; ``ours`` must have them, and a peer without them on a dataset falls back to
    its one-run rows, marked with a dagger.
    """
    mode, _, likelihood = ours.partition("-")
    name = {"resvae": "Res-VAE", "vae": "plain VAE"}[mode] + (
        f" ({likelihood})" if likelihood else ""
    )
    metrics = {"ari": True, "nmi": True, "davies_bouldin": False}
    suffix = leiden_suffix(runs)
    scoring = f"ARI/NMI the mean of {runs} Leiden runs, " if suffix else ""
    dagger = " († a peer scored with one Leiden run: it has no such rows)" if suffix else ""
    lines = [
        f"{name} / PCA (same size) / scVI, {scoring}mean over seeds; **bold** where the {name} "
        f"beats both{dagger}:",
        "",
        "| dataset | ARI | NMI | DB latent |",
        "|---|---|---|---|",
    ]
    beats = {k: dict.fromkeys(metrics, 0) for k in ("both", "pca", "scvi", "pca only")}
    n = n_pca_only = 0
    for dataset, g in df.groupby("dataset", sort=False):
        subs = {ours: g[g["method"] == ours + suffix]}
        fallback = {}
        for m in ("pca", "scvi"):
            subs[m] = g[g["method"] == m + suffix]
            fallback[m] = bool(suffix) and subs[m].empty
            if fallback[m]:
                subs[m] = g[g["method"] == m]
        # datasets that are not counts have no scVI rows (scVI models counts): PCA alone
        pca_only = subs["scvi"].empty and not g["method"].isin(COUNTS_ONLY).any()
        if pca_only:
            del subs["scvi"]
        if any(sub.empty for sub in subs.values()):
            continue
        peers_here = [m for m in ("pca", "scvi") if m in subs]
        means = {m: sub[list(metrics)].mean() for m, sub in subs.items()}
        n_pca_only += pca_only
        n += not pca_only
        cells = []
        for col, higher in metrics.items():
            mine = means[ours][col]
            won = {
                m: bool(mine > means[m][col] if higher else mine < means[m][col])
                for m in peers_here
            }
            if pca_only:
                beats["pca only"][col] += won["pca"]
            else:
                won["both"] = won["pca"] and won["scvi"]
                for k, w in won.items():
                    beats[k][col] += w
            first = f"**{mine:.2f}**" if all(won.values()) else f"{mine:.2f}"
            peers = [f"{means[m][col]:.2f}" + ("†" if fallback[m] else "") for m in peers_here]
            cells.append(" / ".join([first, *peers, *(["n/a"] if pca_only else [])]))
        lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
    if not n and not n_pca_only:
        return ""
    if n:
        for k, label in (("both", "both peers"), ("pca", "PCA"), ("scvi", "scVI")):
            row = " | ".join(f"{beats[k][c]} of {n}" for c in metrics)
            lines.append(f"| count datasets where the {name} beats {label} | {row} |")
    if n_pca_only:
        row = " | ".join(f"{beats['pca only'][c]} of {n_pca_only}" for c in metrics)
        lines.append(f"| datasets without counts (scVI n/a) where the {name} beats PCA | {row} |")
    return "\n".join(lines)


VERSUS_METRICS = (("ari", "ARI", 1), ("nmi", "NMI", 1), ("davies_bouldin", "DB latent", -1))


def versus_table(df: pd.DataFrame, method: str, peers: list[str]) -> str:
    """``method`` against each of ``peers``, per dataset: means over seeds and the difference
    with its 95% interval. A peer with several seeds is compared by Welch's t interval; a peer
    with one row (PCA: its latent does not depend on the seed) by the one-sample t interval of
    ``method``'s seeds around that value. "beats all" counts datasets where ``method``'s mean is
    better than every peer's; "clear" where every interval also excludes 0."""
    from scipy import stats

    lines = []
    for col, title, sign in VERSUS_METRICS:
        head = " | ".join(f"{method} − {q} (95% interval)" for q in peers)
        lines += [
            f"{title} ({'higher' if sign > 0 else 'lower'} is better):",
            "",
            f"| dataset | {method} | " + " | ".join(peers) + f" | {head} | beats all | clear |",
            "|---" * (4 + 2 * len(peers)) + "|",
        ]
        n_beat = n_clear = n_sets = 0
        for name, g in df.groupby("dataset", sort=True):
            a = g.loc[g["method"] == method, col].dropna().to_numpy(float)
            others = [g.loc[g["method"] == q, col].dropna().to_numpy(float) for q in peers]
            if len(a) < 2 or any(len(b) == 0 for b in others):
                continue
            n_sets += 1
            cells, beat, clear = [], True, True
            for b in others:
                if len(b) > 1:
                    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
                    lo, hi = ci.low, ci.high
                else:
                    ci = stats.ttest_1samp(a, b[0]).confidence_interval(0.95)
                    lo, hi = ci.low - b[0], ci.high - b[0]
                diff = a.mean() - b.mean()
                beat &= sign * diff > 0
                clear &= (lo > 0) if sign > 0 else (hi < 0)
                cells.append(f"{diff:+.3f} ({lo:+.3f}, {hi:+.3f})")
            n_beat += beat
            n_clear += clear
            means = [f"{a.mean():.3f}±{a.std(ddof=1):.3f} (n={len(a)})"] + [
                f"{b.mean():.3f}" + (f"±{b.std(ddof=1):.3f} (n={len(b)})" if len(b) > 1 else "")
                for b in others
            ]
            lines.append(
                f"| {name} | "
                + " | ".join(means + cells)
                + f" | {'yes' if beat else 'no'} | {'yes' if clear else 'no'} |"
            )
        lines += ["", f"beats all on {n_beat} of {n_sets}; clear on {n_clear} of {n_sets}", ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=DEFAULT_DATASETS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--n-latent", type=int, default=10)
    p.add_argument(
        "--likelihood",
        default="auto",
        help="of resvae/vae (sag.tl.embed); other than auto, recorded as resvae-LIKELIHOOD",
    )
    p.add_argument("--n-trials", type=int, default=8)
    p.add_argument("--time-budget", type=float, default=300.0)
    p.add_argument("--max-epochs", type=int, default=100)
    p.add_argument(
        "--kl-warmup", type=int, default=None, help="KL warm-up epochs; default: half of them"
    )
    p.add_argument("--beta", type=float, default=None, help="KL weight; default: the package's")
    p.add_argument("--scvi-epochs", type=int, default=None, help="default: scVI's own")
    p.add_argument("--same-net-epochs", type=int, default=10)
    p.add_argument("--max-genes", type=int, default=2000)
    p.add_argument(
        "--leiden-seeds",
        type=int,
        default=1,
        help="average ARI/NMI over this many Leiden runs (methods recorded as METHOD-leidenN)",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="where every method trains (scVI through Lightning's accelerator); default cpu",
    )
    p.add_argument("--out", type=Path, default=HERE / "out" / "embed.jsonl")
    p.add_argument(
        "--report",
        nargs="*",
        type=Path,
        default=None,
        metavar="JSONL",
        help="print the tables of these result files (default: --out); later files supersede",
    )
    p.add_argument(
        "--versus",
        nargs="+",
        default=None,
        metavar="METHOD",
        help="with --report: the first method against the others, per dataset, with 95%% "
        "intervals over seeds (e.g. resvae-leiden5 scvi-leiden5 pca-leiden5)",
    )
    p.add_argument("--timing", action="store_true", help="interleaved seconds-per-epoch only")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--timing-epochs", type=int, default=6)
    args = p.parse_args(argv)
    if args.timing:
        timing(args)
        return
    if args.report is not None:
        df = load_results(*(args.report or [args.out]))
        if args.versus:
            print(versus_table(df, args.versus[0], args.versus[1:]))
        else:
            print(report_table(df))
        return
    run(args)


if __name__ == "__main__":
    main()
