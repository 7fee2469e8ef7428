"""Networks that read only the genes varying on the training cells, against the same networks
reading every gene (as before 2026-12-05), in the same process.

A gene constant on the training cells is 0 in every cell after the input transform, so a
first layer that leaves it out computes the same function (``sag.nn.InputGenes``). This script
trains the same architecture both ways on the same split and seed, in interleaved rounds, and
reports per dataset and architecture:

- the median seconds of a training epoch of each, and their ratio (the peer: the network
  reading every gene; the first epoch of every run is left out, as it warms caches up);
- the test macro-F1 of each after the same epochs (classifiers): the two compute the same
  function from the same weights and differ only by their random draws (the first layer's
  initial values, input dropout masks of another width), so the figures show how much a
  seed moves them;
- for the Res-VAE, whose decoder leaves the constant genes out too (its softmax then spreads
  a cell's counts over the varying genes only; from 2026-12-06), the lowest validation loss
  (the one reading every gene also scores the val cells' counts of genes constant on the
  training cells, so the two are not the same sum) and, with ``--vae-score-epochs N``, how
  well the latent of a model trained N epochs separates the labels
  (``sag.tl.embedding_scores``: ARI/NMI, mean of 5 Leiden runs, and Davies-Bouldin).

The classifier architectures are the first two points of classify's starting portfolio
(MLP 256 with AdamW, the same with SGD); the Res-VAE is embed's starting model. One torch
thread (``--threads``), 2-core machine; not part of CI.

``--search BUDGET`` runs ``sag.tl.classify`` (seed 0, ``time_budget=BUDGET``, the shared
split) on each of ``--datasets`` both ways instead: the trials a budget reaches, and the test
macro-F1 of the model it returns.

Usage (about 15 minutes on 2 CPU cores; ``--search 180`` about 7 on one dataset)::

    python benchmarks/varying_genes.py --out benchmarks/varying_genes.jsonl
    python benchmarks/varying_genes.py --search 180 --datasets tcga_pancan12_mutation_binary \
        --out benchmarks/varying_genes.jsonl
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import time

import numpy as np
import torch
from _common import git_state, load_split

import scautogenome as sag
from scautogenome.data import BatchLoader, prepare_labelled
from scautogenome.data._transform import InputTransform
from scautogenome.nn import build_network, count_parameters
from scautogenome.search._hpo import DEFAULT_INITIAL_TRIALS
from scautogenome.train import TrainParams, predict_logits, train_classifier
from scautogenome.train._metrics import score_logits

DATASETS = ["tcga_pancan12_mutation_binary", "pbmc3k_10x_seurat_labels"]
VAE_DATASETS = ["pbmc3k_10x_seurat_labels"]


@contextlib.contextmanager
def every_gene():
    """Networks built while this is open read every gene, as before 2026-12-05."""
    saved = InputTransform.varying_genes
    InputTransform.varying_genes = lambda self: None
    try:
        yield
    finally:
        InputTransform.varying_genes = saved


def portfolio_point(i: int) -> tuple[dict, dict]:
    """Architecture and training parameters of classify's starting point ``i``."""
    p = dict(DEFAULT_INITIAL_TRIALS[i])
    arch = {
        "kind": "mlp",
        "units": [p.pop("mlp_units_0")],
        "dropout": p.pop("dropout"),
        "input_keep": p.pop("input_keep"),
    }
    p.pop("mode"), p.pop("mlp_n_layers")
    return arch, p


def classifier_run(data, arch: dict, params: dict, epochs: int, seed: int, reads) -> dict:
    net_arch = {**arch, "n_inputs": data.X.shape[1], "n_outputs": data.n_classes}
    torch.manual_seed(seed)
    net = build_network(net_arch, reads=reads)
    stamps: list[float] = []
    tp = TrainParams(**{**params, "max_epochs": epochs, "patience": epochs, "min_epochs": epochs})
    device = torch.device("cpu")
    transform = data.transform.to_torch(device)
    start = time.perf_counter()
    train_classifier(
        net,
        X=data.X,
        codes=data.codes,
        train_rows=data.rows("train"),
        val_rows=data.rows("val"),
        n_classes=data.n_classes,
        transform=transform,
        params=tp,
        metric="macro_f1",
        device=device,
        seed=seed,
        on_epoch=lambda rec: stamps.append(time.perf_counter()),
    )
    epochs_s = np.diff([start, *stamps])
    test = data.rows("test")
    loader = BatchLoader(
        data.X, test, None, batch_size=1024, transform=transform, device=device, inference=True
    )
    logits = torch.from_numpy(predict_logits(net, loader, device))
    return {
        "epoch_s": float(np.median(epochs_s[1:])),
        "test_macro_f1": float(score_logits(data.codes[test], logits, "macro_f1", data.n_classes)),
        "n_params": count_parameters(net),
    }


def vae_run(adata, epochs: int, seed: int, score: bool = False) -> dict:
    from scautogenome.search._vae import DEFAULT_INITIAL_TRIALS as VAE_START

    p = VAE_START[0]
    arch = {
        "kind": "resvae",
        "n_latent": 10,
        "widths": [round(p["first_width"] * p["decay"] ** i) for i in range(p["n_layers"])],
        "input_keep": p["input_keep"],
    }
    params = {
        "lr": p["lr"],
        "batch_size": p["batch_size"],
        "weight_decay": p["weight_decay"],
        "max_epochs": epochs,
        "patience": epochs,
    }
    model = sag.models.ResVAE(arch, params).fit(adata, seed=seed)
    secs = [h["seconds"] for h in model.history_]
    out = {
        "epoch_s": float(np.median(secs[1:])),
        "val_loss": float(min(h["val_loss"] for h in model.history_)),
        "n_params": count_parameters(model.module_),
        "genes_read": model.module_.genes.n_read,
        "genes_decoded": model.module_.out.out_features,
    }
    if score:
        adata.obsm["X_bench"] = model.get_latent(adata)
        scores = sag.tl.embedding_scores(adata, "X_bench", "label", seed=seed, leiden_seeds=5)
        out.update({k: float(scores[k]) for k in ("ari", "nmi", "davies_bouldin")})
        out["epochs_trained"] = len(model.history_)
    return out


def search(args, state: dict) -> None:
    """``--search``: classify both ways on each dataset, in alternating order."""
    from classify import run_sag

    print(
        "| dataset | budget s | genes read | trials, every gene | trials, varying genes "
        "| test macro-F1, every gene | test macro-F1, varying genes |"
    )
    print("|---|---|---|---|---|---|---|")
    for i, name in enumerate(args.datasets):
        adata = load_split(name)
        out = {}
        for how in ("every", "varying") if i % 2 == 0 else ("varying", "every"):
            with every_gene() if how == "every" else contextlib.nullcontext():
                out[how] = run_sag(adata, 0, args.search, 10_000)
            print(name, how, out[how], flush=True)
        data = prepare_labelled(adata, "label", split_key="split", seed=0)
        reads = data.transform.varying_genes()
        n_read = adata.n_vars if reads is None else len(reads)
        rec = {
            "dataset": name,
            "model": "classify search",
            "shape": list(adata.shape),
            "genes_read": int(n_read),
            "time_budget": args.search,
            "threads": args.threads,
            "runs": out,
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            **state,
        }
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(rec) + "\n")
        e, v = out["every"], out["varying"]
        print(
            f"| {name} | {args.search:g} | {n_read} of {adata.n_vars} | {e['n_trials_run']} "
            f"| {v['n_trials_run']} | {e['macro_f1']:.3f} | {v['macro_f1']:.3f} |"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="*", default=DATASETS)
    p.add_argument("--vae-datasets", nargs="*", default=VAE_DATASETS)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument(
        "--vae-score-epochs",
        type=int,
        default=None,
        help="Res-VAE only: train this many epochs and score the latent against the labels",
    )
    p.add_argument("--rounds", type=int, default=2, help="seeds 0..rounds-1, interleaved")
    p.add_argument("--first-seed", type=int, default=0, help="seeds from this one on")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="append one JSON line per dataset and model")
    p.add_argument("--search", type=float, default=None, help="classify's time budget, s")
    args = p.parse_args()
    sag.settings.n_threads = args.threads
    sag.settings.progress_bar = False
    sag.settings.verbosity = 1
    state = git_state()
    if args.search is not None:
        search(args, state)
        return
    rows = []
    jobs = [(name, f"classify portfolio {i}") for name in args.datasets for i in (0, 1)]
    jobs += [(name, "embed start model") for name in args.vae_datasets]
    if args.vae_score_epochs is not None:
        jobs = [j for j in jobs if j[1] == "embed start model"]
    for name, what in jobs:
        adata = load_split(name)
        if what.startswith("classify"):
            data = prepare_labelled(adata, "label", split_key="split", seed=0)
            reads = data.transform.varying_genes()
            arch, params = portfolio_point(int(what[-1]))
        else:
            adata = adata[adata.obs["split"] != "test"].copy()
        runs: dict[str, list[dict]] = {"varying": [], "every": []}
        for seed in range(args.first_seed, args.first_seed + args.rounds):
            for how in ("every", "varying") if seed % 2 else ("varying", "every"):
                ctx = every_gene() if how == "every" else contextlib.nullcontext()
                with ctx:
                    if what.startswith("classify"):
                        r = classifier_run(
                            data, arch, params, args.epochs, seed, None if how == "every" else reads
                        )
                    else:
                        r = vae_run(
                            adata,
                            args.vae_score_epochs or args.epochs,
                            seed,
                            score=args.vae_score_epochs is not None,
                        )
                runs[how].append(r)
                print(name, what, how, seed, r, flush=True)
        if what.startswith("classify"):
            n_read = adata.n_vars if reads is None else len(reads)
        else:  # embed's own split
            n_read = runs["varying"][0]["genes_read"]
        rec = {
            "dataset": name,
            "model": what,
            "shape": list(adata.shape),
            "genes_read": int(n_read),
            "epochs": args.vae_score_epochs or args.epochs,
            "threads": args.threads,
            "runs": runs,
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            **state,
        }
        rows.append(rec)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(rec) + "\n")
    print()
    print(
        "| dataset | model | genes read | epoch s, every gene | epoch s, varying genes | "
        "ratio | score, every gene | score, varying genes |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for rec in rows:
        e, v = rec["runs"]["every"], rec["runs"]["varying"]
        te = float(np.median([r["epoch_s"] for r in e]))
        tv = float(np.median([r["epoch_s"] for r in v]))
        keys = ["test_macro_f1"] if "test_macro_f1" in e[0] else ["val_loss"]
        if "ari" in e[0]:  # --vae-score-epochs
            keys = ["ari", "nmi", "davies_bouldin"]
        for key in keys:
            fmt = "{:.1f}" if key == "val_loss" else "{:.3f}"
            se = "/".join(fmt.format(r[key]) for r in e)
            sv = "/".join(fmt.format(r[key]) for r in v)
            print(
                f"| {rec['dataset']} | {rec['model']}{'' if len(keys) == 1 else ', ' + key} "
                f"| {rec['genes_read']} of {rec['shape'][1]} "
                f"| {te:.3f} | {tv:.3f} | {tv / te:.2f} | {se} | {sv} |"
            )


if __name__ == "__main__":
    main()
