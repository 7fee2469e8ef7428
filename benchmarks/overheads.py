"""What the robustness changes of the 2026-12-04 stop cost on paths every run takes, each
against a peer doing the same job in the same process, interleaved over ``--rounds`` rounds
(medians reported, with their ratio):

* ``save`` / ``load``: ``Model.save`` now writes ``model.pt`` and ``model.json`` to temporary
  names and records the SHA-256 of ``model.pt``, which ``Model.load`` checks. Peer:
  ``torch.save`` / ``torch.load`` of the same state dict (what a hand-rolled save does). The
  model is an MLP of 1,024 units on 20,000 genes (20.5M weights, 82 MB), trained one epoch on
  synthetic counts: the sizes of a wide model on all genes.
* ``sampler``: a search with a storage now draws each trial from a sampler seeded by the trial
  number (``make_sampler(shared=True)``) and checks whether its starting point runs elsewhere
  (``_point_taken``, one read of the study's trials). Peer: Optuna's own ``TPESampler`` with
  ``constant_liar`` (the sampler before the change) on the same SQLite storage, with the same
  objective (the classify search's common parameters, no training) and trial count: the
  per-trial cost of sampling and storage, which a trial's training then dwarfs.
* ``log_odds``: the ROC AUC ranking of every cell after a classify search (linear in the
  classes since the 2026-12-04 stop's first part, on the scored rows only). Peer: scipy's
  ``log_softmax`` of the same logits (one pass of the same shape).
* ``recon`` (2026-12-05 stop): a ``"gaussian"`` ResVAE's reconstruction is now mapped back to
  the scale of the prepared values (``InputTransform.inverse_scale``, in place, block by
  block). Peer: scVI's ``get_normalized_expression`` (the same job: decode every cell's
  latent mean into expression) of a model of the same latent size on the same 20,000 cells x
  2,000 genes, one epoch each; ``inverse_s`` is the inverse alone on the whole matrix.

Usage (not part of CI; about two minutes on 2 CPU cores)::

    OMP_NUM_THREADS=1 python benchmarks/overheads.py --out benchmarks/overheads_results.jsonl
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import git_state


def _median_seconds(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def save_load(rounds: int, tmp: Path) -> list[dict]:
    import anndata as ad
    import torch
    from scipy import sparse

    import scautogenome as sag

    rng = np.random.default_rng(0)
    X = sparse.random(300, 20_000, density=0.05, format="csr", random_state=0, dtype=np.float32)
    X.data = np.round(X.data * 20) + 1
    a = ad.AnnData(X)
    a.var_names = [f"g{i}" for i in range(a.n_vars)]
    a.obs["label"] = rng.choice(["a", "b", "c"], a.n_obs)
    model = sag.models.Classifier({"kind": "mlp", "units": [1024]}, {"max_epochs": 1})
    model.fit(a, "label", seed=0)
    state = {k: v.detach().cpu() for k, v in model.module_.state_dict().items()}
    size_mb = sum(v.numel() * v.element_size() for v in state.values()) / 1e6
    folder, peer = tmp / "m", tmp / "peer.pt"
    times = {"sag_save": [], "peer_save": [], "sag_load": [], "peer_load": []}
    for _ in range(rounds):  # interleaved: the machine's load falls on both alike
        times["sag_save"].append(_median_seconds(lambda: model.save(folder, overwrite=True), 1))
        times["peer_save"].append(_median_seconds(lambda: torch.save(state, peer), 1))
        times["sag_load"].append(_median_seconds(lambda: sag.models.Classifier.load(folder), 1))
        times["peer_load"].append(
            _median_seconds(lambda: torch.load(peer, map_location="cpu", weights_only=True), 1)
        )
    med = {k: float(np.median(v)) for k, v in times.items()}
    return [
        {
            "step": step,
            "weights_mb": round(size_mb, 1),
            "sag_s": med[f"sag_{step}"],
            "peer_s": med[f"peer_{step}"],
            "ratio": med[f"sag_{step}"] / med[f"peer_{step}"],
        }
        for step in ("save", "load")
    ]


def sampler(rounds: int, n_trials: int, tmp: Path) -> list[dict]:
    import warnings

    import optuna

    from scautogenome.config import _config
    from scautogenome.search._study import _point_taken, make_sampler

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    config = _config.load(None)

    def objective_of(study_ref: list, check: bool):
        def objective(trial):
            trial.suggest_float("lr", 1e-4, 1e-1, log=True)
            trial.suggest_categorical("batch_size", [32, 64, 128, 256])
            trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True)
            trial.suggest_categorical("units", [64, 128, 256, 512, 1024])
            if check:
                _point_taken(study_ref[0], trial.number)
            return float(np.random.default_rng(trial.number).random())

        return objective

    def run(which: str, i: int) -> None:
        url = f"sqlite:///{tmp / f'{which}{i}.db'}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if which == "sag":
                chosen = make_sampler(config, seed=0, shared=True)
            else:
                chosen = optuna.samplers.TPESampler(
                    seed=0,
                    n_startup_trials=config["search"]["n_startup_trials"],
                    constant_liar=True,
                )
        study = optuna.create_study(storage=url, sampler=chosen, direction="maximize")
        study.optimize(objective_of([study], which == "sag"), n_trials=n_trials)

    times = {"sag": [], "peer": []}
    for i in range(rounds):
        for which in ("sag", "peer"):
            times[which].append(_median_seconds(lambda which=which, i=i: run(which, i), 1))
    sag_s, peer_s = float(np.median(times["sag"])), float(np.median(times["peer"]))
    return [
        {
            "step": "sampler",
            "n_trials": n_trials,
            "sag_s": sag_s,
            "peer_s": peer_s,
            "sag_ms_per_trial": 1e3 * sag_s / n_trials,
            "peer_ms_per_trial": 1e3 * peer_s / n_trials,
            "ratio": sag_s / peer_s,
        }
    ]


def log_odds_rows(rounds: int) -> list[dict]:
    from scipy.special import log_softmax

    from scautogenome.train._metrics import log_odds

    out = []
    for n, k in ((100_000, 10), (100_000, 200)):
        logits = np.random.default_rng(0).normal(size=(n, k))
        times = {"sag": [], "peer": []}
        for _ in range(rounds):
            times["sag"].append(_median_seconds(lambda x=logits: log_odds(x), 1))
            times["peer"].append(_median_seconds(lambda x=logits: log_softmax(x, axis=1), 1))
        sag_s, peer_s = float(np.median(times["sag"])), float(np.median(times["peer"]))
        out.append(
            {
                "step": "log_odds",
                "shape": [n, k],
                "sag_s": sag_s,
                "peer_s": peer_s,
                "ratio": sag_s / peer_s,
            }
        )
    return out


def recon_rows(rounds: int) -> list[dict]:
    import anndata as ad
    import scanpy as sc
    import scvi
    from scipy import sparse

    import scautogenome as sag

    rng = np.random.default_rng(0)
    n, g = 20_000, 2_000
    mean = rng.gamma(0.3, 2.0, size=(1, g)) * rng.gamma(4.0, 0.25, size=(n, 1))
    counts = sparse.csr_matrix(rng.poisson(mean).astype(np.float32))
    a = ad.AnnData(counts)
    a.var_names = [f"g{i}" for i in range(g)]
    a.layers["counts"] = counts.copy()
    sc.pp.normalize_total(a, target_sum=1e4)
    sc.pp.log1p(a)
    arch = {"kind": "resvae", "n_latent": 10, "widths": [128, 77], "likelihood": "gaussian"}
    vae = sag.models.ResVAE(arch, {"max_epochs": 1}).fit(a, seed=0)
    scvi.settings.seed = 0
    scvi.model.SCVI.setup_anndata(a, layer="counts")
    peer = scvi.model.SCVI(a, n_latent=10)
    peer.train(max_epochs=1, enable_progress_bar=False)
    rec = vae.reconstruct(a)
    assert rec.shape == (n, g)
    assert float(rec.max()) > 1.0  # the log scale, not the decoder's 0-1 scale
    times = {"sag": [], "peer": [], "inverse": []}
    for _ in range(rounds):
        times["sag"].append(_median_seconds(lambda: vae.reconstruct(a), 1))
        times["peer"].append(_median_seconds(lambda: peer.get_normalized_expression(a), 1))
        scaled = np.clip(rec, 0, 1)  # a matrix of the decoder's shape
        times["inverse"].append(
            _median_seconds(lambda x=scaled: vae.transform_.inverse_scale(x, copy=False), 1)
        )
    sag_s, peer_s = float(np.median(times["sag"])), float(np.median(times["peer"]))
    inverse_s = float(np.median(times["inverse"]))
    return [
        {
            "step": "recon",
            "shape": [n, g],
            "sag_s": sag_s,
            "peer_s": peer_s,
            "ratio": sag_s / peer_s,
            "inverse_s": inverse_s,
            "inverse_share": inverse_s / sag_s,
        }
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--n-trials", type=int, default=60)
    p.add_argument(
        "--steps",
        nargs="+",
        default=["save_load", "sampler", "log_odds", "recon"],
        choices=["save_load", "sampler", "log_odds", "recon"],
        help="what to time (an older tree lacks the sampler's pieces: save_load log_odds)",
    )
    p.add_argument("--out", default=None, help="append result lines (JSON) to this file")
    args = p.parse_args()
    state = git_state()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with tempfile.TemporaryDirectory() as d:
        rows = save_load(args.rounds, Path(d)) if "save_load" in args.steps else []
        if "sampler" in args.steps:
            rows += sampler(args.rounds, args.n_trials, Path(d))
        if "log_odds" in args.steps:
            rows += log_odds_rows(args.rounds)
        if "recon" in args.steps:
            rows += recon_rows(args.rounds)
    for row in rows:
        row.update({"rounds": args.rounds, "time": stamp, **state})
        shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
        print(json.dumps({k: shown[k] for k in shown if k not in state}))
        if args.out:
            with open(args.out, "a") as fh:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
