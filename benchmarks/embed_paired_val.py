"""Is a wide model the search kept really better than the search's start model? (issue 4)

For every run in the given results files whose kept Res-VAE is at least ``--min-width`` wide,
the start model and the kept architecture (with the kept training settings) are trained again
on the same seed, hence the same 9:1 split, and both are scored on every validation cell: the
per-cell negative ELBO (NB reconstruction + KL, one posterior sample from a fixed generator, as
the search's validation loss). The line gives the mean difference (kept minus start; negative:
the wide model is better), its paired standard error, and the unpaired standard error of the
start model's mean (what the "one standard error" rule of Breiman et al. 1984 would use), with
the seconds per epoch of both.

It answers whether a rule that prefers the cheaper model when the validation losses are close
(within noise) would have kept the narrow start model instead: if so, the epoch-time target of
issue 4 could be met for those runs without leaving the ELBO objective.

Usage (not part of CI)::

    env OMP_NUM_THREADS=1 python benchmarks/embed_paired_val.py \
        --results benchmarks/embed_results_main.jsonl --min-width 512

One JSON line per run is appended to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
from _common import HERE, git_state
from embed import load, start_for


def wide_runs(paths: list[Path], min_width: int) -> list[dict]:
    """Result lines of searched Res-VAEs whose kept model's first width is >= ``min_width``
    (the last line per dataset and seed counts)."""
    runs: dict[tuple[str, int], dict] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            if not rec.get("method", "").startswith("resvae") or "architecture" not in rec:
                continue
            runs[(rec["dataset"], int(rec["seed"]))] = rec
    out = []
    for rec in runs.values():
        arch = json.loads(rec["architecture"])
        if arch["widths"][0] >= min_width:
            out.append({**rec, "arch": arch, "params": json.loads(rec["train_params"])})
    return sorted(out, key=lambda r: (r["dataset"], r["seed"]))


def per_cell_val_loss(model, data, seed: int) -> np.ndarray:
    """Negative ELBO of every validation cell (reconstruction + KL at the model's beta)."""
    from scautogenome.data import BatchLoader

    module = model.module_.eval()
    transform = model.transform_.to_torch(model.device_)
    beta = float(model.train_params["beta"])
    loader = BatchLoader(
        data.X, data.val_rows, None, batch_size=1024, transform=lambda x: x, device=model.device_
    )
    gen = torch.Generator(device=model.device_).manual_seed(seed)
    losses = []
    with torch.no_grad():
        for x, _ in loader:
            out = module(transform(x), sample=True, generator=gen)
            recon, kl = module.loss(out, x)
            losses.append((recon + beta * kl).cpu().numpy())
    return np.concatenate(losses)


def compare(run: dict, n_latent: int) -> dict:
    import scautogenome as sag
    from scautogenome.models._resvae import prepare_unlabelled

    seed = int(run["seed"])
    adata = load(run["dataset"], int(run["shape"].split("x")[1]))
    start_arch, start_params, layer = start_for(adata, n_latent, {})
    kept_arch = {**start_arch, **{k: run["arch"][k] for k in ("widths", "input_keep", "dropout")}}
    kept_params = {**start_params, **run["params"]}
    data = prepare_unlabelled(
        adata, layer=layer, n_latent=n_latent, likelihood="nb", seed=seed, writes=False
    )
    rec = {"dataset": run["dataset"], "seed": seed, "kept_widths": kept_arch["widths"]}
    losses = {}
    for name, arch, params in (
        ("start", start_arch, start_params),
        ("kept", kept_arch, kept_params),
    ):
        t = time.perf_counter()
        model = sag.models.ResVAE(arch, params).fit(adata, layer=layer, seed=seed)
        losses[name] = per_cell_val_loss(model, data, seed)
        rec[f"{name}_val_loss"] = round(float(losses[name].mean()), 3)
        rec[f"{name}_seconds_per_epoch"] = round(float(model.seconds_per_epoch_), 4)
        rec[f"{name}_seconds"] = round(time.perf_counter() - t, 1)
    diff = losses["kept"] - losses["start"]
    n = len(diff)
    rec.update(
        n_val=n,
        difference=round(float(diff.mean()), 3),
        se_paired=round(float(diff.std(ddof=1) / np.sqrt(n)), 3),
        se_start=round(float(losses["start"].std(ddof=1) / np.sqrt(n)), 3),
    )
    rec["difference_in_paired_se"] = round(rec["difference"] / rec["se_paired"], 2)
    return rec


def main(argv=None) -> None:
    import scautogenome as sag

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--results", type=Path, nargs="+", required=True)
    p.add_argument("--min-width", type=int, default=512)
    p.add_argument("--n-latent", type=int, default=10)
    p.add_argument("--datasets", nargs="*", help="only these datasets")
    p.add_argument("--out", type=Path, default=HERE / "embed_paired_val.jsonl")
    args = p.parse_args(argv)
    sag.settings.n_threads = 1
    sag.settings.device = "cpu"
    sag.settings.verbosity = 1
    sag.settings.progress_bar = False
    state = git_state()
    for run in wide_runs(args.results, args.min_width):
        if args.datasets and run["dataset"] not in args.datasets:
            continue
        rec = {**compare(run, args.n_latent), "threads": torch.get_num_threads(), **state}
        with args.out.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
