"""RRFCN by ENAS vs RFCN-ResNet / RFCN-DenseNet search vs random search over the same DAG space.

GitHub issue 3, point 8. Every arm is one ``sag.tl.classify`` call with the same wall-clock
``--time-budget`` (the trial cap is set out of reach so that time is what stops every arm), on
the shared split of each dataset (``../shared/data/splits/NAME.split.csv`` as ``split_key``;
cells outside it are dropped):

``rrfcn_enas``
    ``mode="rrfcn"``: ENAS (shared weights + LSTM controller for ``search_share`` of the
    budget, then the top 2 candidates retrained). ``epochs`` is set out of reach, so time stops
    the alternating phase too.
``rrfcn_random``
    ``mode="rrfcn"`` with ``strategy="optuna"`` and the random sampler: architectures of the
    same DAG space (same widths, same skip slots) drawn at random, each trained from scratch
    with the training hyper-parameters searched as for the RFCN arms (median pruning).
``resnet`` / ``densenet``
    ``mode="resnet"`` / ``mode="densenet"``: the default TPE search of that family.

Test macro-F1 and the seconds of the whole call are recorded per dataset, arm and seed; for
ENAS also how the controller moved (mean reward and entropy of its samples in the first and
last epoch, skip density) and the shared-weight vs retrained validation scores.

Torch runs on one thread and OpenMP waits passively: on the shared, oversubscribed benchmark
machine two spinning threads made small ops 10-20x slower (measured for the controller step:
16 ms on 1 thread, 300 ms on 2).

Usage (not part of CI)::

    nice -n 10 python benchmarks/rrfcn.py --seeds 0 1 2 --time-budget 120
    python benchmarks/rrfcn.py --report          # JSONL -> markdown tables on stdout
    nice -n 10 python benchmarks/rrfcn.py --fidelity --datasets pbmc4k_10x_scdcc_top2000 \
        --seeds 0 --fidelity-epochs 10 --fidelity-archs 10   # shared vs stand-alone ranking
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

for _k, _v in {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_NUM_THREADS": "1"}.items():
    os.environ.setdefault(_k, _v)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import HERE, git_state, load_split  # noqa: E402  (puts the repo on sys.path)

OUT = HERE / "out" / "rrfcn.jsonl"
DATASETS = (
    "klein2015_mouse_es_subset",  # 1,000 cells x 900 genes, 4 classes, counts
    "pbmc4k_10x_scdcc_top2000",  # 4,271 cells x 2,000 genes, 8 classes, counts
    "tcga_cnv_5mb_bins_pancancer",  # 11,039 samples x 615 bins, 31 classes, continuous
)
ARMS = ("rrfcn_enas", "rrfcn_random", "resnet", "densenet")
FAR = 1_000_000  # a trial / epoch cap that the time budget reaches first


def arm_call(arm: str) -> tuple[str, dict]:
    if arm == "rrfcn_enas":
        return "rrfcn", {"rrfcn": {"epochs": FAR}}
    if arm == "rrfcn_random":
        return "rrfcn", {"rrfcn": {"strategy": "optuna"}, "search": {"sampler": "random"}}
    return arm, {}


def enas_diagnostics(trials: pd.DataFrame) -> dict:
    """How the controller moved, from the ``sampled``/``ranked``/``complete`` rows."""
    out: dict = {}
    sampled = trials[trials["state"] == "sampled"]
    if len(sampled):
        params = [json.loads(p) for p in sampled["params"]]
        ep = np.array([p["epoch"] for p in params])
        ent = np.array([p["entropy"] for p in params])
        rew = sampled["value"].to_numpy(float)
        archs = [json.loads(a) for a in sampled["architecture"]]
        dens = []
        for a in archs:
            n = len(a["widths"])
            slots = sum(i - 1 for i in range(2, n))
            dens.append(sum(len(s) for s in a["skips"]) / max(slots, 1))
        dens = np.array(dens)
        first, last = ep == ep.min(), ep == ep.max()
        out.update(
            epochs=int(ep.max() + 1),
            n_sampled=len(sampled),
            reward_first=float(rew[first].mean()),
            reward_last=float(rew[last].mean()),
            entropy_first=float(ent[first].mean()),
            entropy_last=float(ent[last].mean()),
            skip_density_last=float(dens[last].mean()),
            n_unique_last=len({json.dumps(a, sort_keys=True) for a, m in zip(archs, last) if m}),
        )
    ranked = trials[trials["state"] == "ranked"]
    done = trials[trials["state"] == "complete"]
    if len(ranked):
        out["shared_val_best"] = float(ranked["value"].max())
        out["shared_val_median"] = float(ranked["value"].median())
    if len(done):
        out["retrained_val"] = [float(v) for v in done["value"]]
    return out


def run_arm(adata, arm: str, seed: int, budget: float) -> dict:
    import scautogenome as sag

    sag.settings.progress_bar = False
    sag.settings.verbosity = 1
    mode, config = arm_call(arm)
    a = adata.copy()
    t0 = time.perf_counter()
    sag.tl.classify(
        a,
        "label",
        mode=mode,
        config=config,
        split_key="split",
        time_budget=budget,
        n_trials=FAR,
        seed=seed,
    )
    seconds = time.perf_counter() - t0
    u = a.uns["sag"]
    trials = u["trials"]
    if not isinstance(trials, pd.DataFrame):
        trials = pd.DataFrame(trials)
    rec = {
        "macro_f1": float(u["metrics"]["test"]["macro_f1"]),
        "accuracy": float(u["metrics"]["test"]["accuracy"]),
        "val_macro_f1": float(u["metrics"]["val"]["macro_f1"]),
        "seconds": seconds,
        "search_seconds": float(u.get("search_seconds", float("nan"))),
        "best_mode": str(u["best"]["mode"]),
        "architecture": str(u["architecture"]),
        "trial_states": {str(k): int(v) for k, v in trials["state"].value_counts().items()},
    }
    if arm == "rrfcn_enas":
        rec["enas"] = enas_diagnostics(trials)
    return rec


def main_run(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    code = git_state()  # the sources this process imports (lazily, but all in its first call)
    for name in args.datasets:
        adata = load_split(name)
        for seed in args.seeds:
            for arm in args.arms:  # arms interleaved per seed: they see similar machine load
                print(f"{name} seed {seed} {arm} ...", file=sys.stderr, flush=True)
                rec = {
                    "dataset": name,
                    "n_obs": adata.n_obs,
                    "n_vars": adata.n_vars,
                    "n_classes": int(adata.obs["label"].nunique()),
                    "arm": arm,
                    "seed": seed,
                    "time_budget": args.time_budget,
                    "threads": args.threads,
                    "host": platform.node(),
                    "when": dt.datetime.now().isoformat(timespec="seconds"),
                    "load_before": os.getloadavg()[0],
                    **code,
                }
                try:
                    rec.update(run_arm(adata, arm, seed, args.time_budget))
                except Exception as e:  # keep going; the error is in the record
                    rec["error"] = f"{type(e).__name__}: {e}"
                    traceback.print_exc()
                with args.out.open("a") as f:
                    f.write(json.dumps(rec) + "\n")
                print(
                    f"  -> macro-F1 {rec.get('macro_f1', float('nan')):.4f} "
                    f"in {rec.get('seconds', float('nan')):.0f} s",
                    file=sys.stderr,
                    flush=True,
                )


def main_report(args) -> None:
    rows = [json.loads(line) for line in args.out.read_text().splitlines() if line.strip()]
    df = pd.DataFrame(rows)
    df = df[df.get("error").isna()] if "error" in df else df
    df = df.drop_duplicates(["dataset", "arm", "seed", "time_budget"], keep="last")
    for budget, sub in df.groupby("time_budget"):
        print(f"\n### time budget {budget:g} s per call\n")
        print("| dataset | arm | test macro-F1 (mean ± sd) | per seed | val macro-F1 | seconds |")
        print("|---|---|---|---|---|---|")
        for (ds, arm), g in sub.groupby(["dataset", "arm"], sort=False):
            f1 = g["macro_f1"].to_numpy()
            print(
                f"| {ds} | {arm} | {f1.mean():.3f} ± {f1.std(ddof=1) if len(f1) > 1 else 0:.3f} "
                f"| {', '.join(f'{v:.3f}' for v in f1)} | {g['val_macro_f1'].mean():.3f} "
                f"| {g['seconds'].mean():.0f} |"
            )
        enas = sub[sub["arm"] == "rrfcn_enas"]
        if len(enas):
            print(
                "\n| dataset | seed | epochs | samples | reward first -> last | entropy first -> "
                "last | skip density | unique archs (last epoch) | shared-weight val (best / "
                "median) | retrained val | chosen architecture |"
            )
            print("|---|---|---|---|---|---|---|---|---|---|---|")
            for _, r in enas.iterrows():
                e = r["enas"]
                arch = json.loads(r["architecture"])
                print(
                    f"| {r['dataset']} | {r['seed']} | {e.get('epochs')} | {e.get('n_sampled')} | "
                    f"{e.get('reward_first', float('nan')):.3f} -> "
                    f"{e.get('reward_last', float('nan')):.3f} | "
                    f"{e.get('entropy_first', float('nan')):.1f} -> "
                    f"{e.get('entropy_last', float('nan')):.1f} | "
                    f"{e.get('skip_density_last', float('nan')):.2f} | "
                    f"{e.get('n_unique_last')} | {e.get('shared_val_best', float('nan')):.3f} / "
                    f"{e.get('shared_val_median', float('nan')):.3f} | "
                    f"{', '.join(f'{v:.3f}' for v in e.get('retrained_val', []))} | "
                    f"widths {arch['widths']}, skips {arch['skips']} |"
                )


def main_fidelity(args) -> None:
    """Do shared-weight scores rank architectures as training them alone does?

    Trains the supernet of the default space on one dataset for ``--fidelity-epochs`` passes,
    one uniformly random architecture per minibatch (no controller), then scores
    ``--fidelity-archs`` random architectures on the validation split with the shared weights
    and retrains each from scratch (``train_classifier``, the ENAS retraining settings); prints
    both scores and their Spearman / Kendall correlation.
    """
    import torch
    from scipy import stats

    import scautogenome as sag
    from scautogenome.data import BatchLoader, prepare_labelled
    from scautogenome.nn import build_network
    from scautogenome.search._enas import _eval_batch_size, _shared_eval, make_supernet, space_of
    from scautogenome.train import TrainParams, train_classifier

    torch.set_num_threads(args.threads)
    sag.settings.verbosity = 1
    name = args.datasets[0]
    seed = args.seeds[0]
    data = prepare_labelled(load_split(name), "label", split_key="split", seed=seed)
    cfg = sag.config.load(None, mode="rrfcn")
    r = cfg["rrfcn"]
    n_in, n_out = data.X.shape[1], data.n_classes
    n_layers, first, widths = space_of(r, n_in)
    dev = torch.device("cpu")
    tf = data.transform.to_torch(dev)
    rng = np.random.default_rng(seed)

    def random_arch():
        w = [first] + [int(rng.choice(widths)) for _ in range(1, n_layers)]
        sk = [[j for j in range(i - 1) if rng.random() < r["skip_target"]] for i in range(n_layers)]
        return w, sk

    torch.manual_seed(seed)
    net = make_supernet(cfg, n_in, n_out)
    opt = torch.optim.AdamW(net.parameters(), lr=r["child_lr"], weight_decay=r["weight_decay"])
    tr, va = data.rows("train"), data.rows("val")
    loader = BatchLoader(
        data.X,
        tr,
        data.codes,
        batch_size=r["child_batch_size"],
        transform=tf,
        device=dev,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
        drop_last=True,
    )
    t0 = time.perf_counter()
    for _ in range(args.fidelity_epochs):
        net.train()
        for x, yb in loader:
            loss = torch.nn.functional.cross_entropy(net(x, *random_arch()), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    t_super = time.perf_counter() - t0
    ev = BatchLoader(
        data.X, va, data.codes, batch_size=_eval_batch_size(len(va)), transform=tf, device=dev
    )
    params = TrainParams(
        lr=r["child_lr"],
        batch_size=r["child_batch_size"],
        weight_decay=r["weight_decay"],
        class_balance=r["class_balance"],
        max_epochs=30,
        patience=5,
    )
    rows = []
    for k in range(args.fidelity_archs):
        w, sk = random_arch()
        shared, _ = _shared_eval(net, ev, data.codes[va], (w, sk), "macro_f1", n_out)
        arch = {
            "kind": "rrfcn",
            "n_inputs": n_in,
            "n_outputs": n_out,
            "widths": w,
            "skips": sk,
            "input_keep": r["input_keep"],
            "dropout": r["dropout"],
        }
        torch.manual_seed(seed + k)
        res = train_classifier(
            build_network(arch),
            X=data.X,
            codes=data.codes,
            train_rows=tr,
            val_rows=va,
            n_classes=n_out,
            transform=tf,
            params=params,
            device=dev,
            seed=seed + k,
        )
        rows.append({"widths": w, "skips": sk, "shared": shared, "alone": res.best_score})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    sh = [x["shared"] for x in rows]
    al = [x["alone"] for x in rows]
    rec = {
        "dataset": name,
        "seed": seed,
        "supernet_epochs": args.fidelity_epochs,
        "supernet_seconds": t_super,
        "n_archs": len(rows),
        "spearman": float(stats.spearmanr(sh, al)[0]),
        "kendall": float(stats.kendalltau(sh, al)[0]),
        "shared_range": [min(sh), max(sh)],
        "alone_range": [min(al), max(al)],
        "rows": rows,
    }
    print(json.dumps(rec))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=list(DATASETS))
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--time-budget", type=float, default=120.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--report", action="store_true")
    p.add_argument("--fidelity", action="store_true", help="shared vs stand-alone ranking")
    p.add_argument("--fidelity-epochs", type=int, default=10)
    p.add_argument("--fidelity-archs", type=int, default=10)
    args = p.parse_args()
    if args.report:
        main_report(args)
    elif args.fidelity:
        main_fidelity(args)
    else:
        main_run(args)


if __name__ == "__main__":
    main()
