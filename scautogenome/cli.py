"""Command line: ``scautogenome classify | predict | demo`` over h5ad files."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

DEMO_BUDGET = {"n_trials": 25, "time_budget": 100.0}


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


def _read_h5ad(path: str):
    import anndata as ad

    p = Path(path)
    if not p.exists():
        msg = f"input file {path!r} does not exist"
        raise CLIError(msg)
    try:
        return ad.read_h5ad(p)
    except Exception as e:  # any reader failure is a user-facing input error
        msg = f"cannot read {path!r} as h5ad: {e}"
        raise CLIError(msg) from e


def _setup(args) -> None:
    import scautogenome as sag

    if args.quiet:
        sag.settings.verbosity = 1
        sag.settings.progress_bar = False
    if args.device:
        sag.settings.device = args.device


def metrics_table(adata, key: str = "sag") -> str:
    """Per-class precision/recall/F1/support on the test split, plus the overall figures."""
    uns = adata.uns[key]
    test = uns["metrics"]["test"]
    pc = test["per_class"]
    classes = [str(c) for c in uns["classes"]]
    width = max(12, *(len(c) for c in classes))
    lines = [f"{'class':<{width}}  precision  recall     f1  support"]
    for i, c in enumerate(classes):
        lines.append(
            f"{c:<{width}}  {pc['precision'][i]:9.3f}  {pc['recall'][i]:6.3f}  "
            f"{pc['f1'][i]:5.3f}  {int(pc['support'][i]):7d}"
        )
    lines.append("")
    lines.append(
        f"test accuracy {test['accuracy']:.3f}   macro-F1 {test['macro_f1']:.3f}   "
        f"balanced accuracy {test['balanced_accuracy']:.3f}   (n={int(test['n'])})"
    )
    best = uns["best"]
    lines.append(
        f"best trial {int(best['trial'])} ({best['mode']}), validation score "
        f"{float(best['val_score']):.3f}; {len(uns['trials'])} trials"
    )
    return "\n".join(lines)


def _classify(args) -> int:
    import scautogenome as sag

    out = Path(args.out)
    if (out / "model" / "model.json").exists() and not args.overwrite:
        msg = f"{str(out)!r} already holds a model; pass --overwrite or choose another --out"
        raise CLIError(msg)
    adata = _read_h5ad(args.input)
    config = args.config
    model = sag.tl.classify(
        adata, args.labels, mode=args.mode, layer=args.layer, split_key=args.split_key,
        n_trials=args.n_trials, time_budget=args.time_budget, metric=args.metric,
        config=config, min_cells_per_class=args.min_cells_per_class, storage=args.storage,
        study_name=args.study_name, seed=args.seed,
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model", overwrite=args.overwrite)
    adata.uns["sag"]["model_dir"] = str(out / "model")
    adata.write_h5ad(out / "annotated.h5ad")
    (out / "metrics.json").write_text(
        json.dumps({k: adata.uns["sag"]["metrics"]["test"][k]
                    for k in ("accuracy", "macro_f1", "balanced_accuracy", "n")}, indent=1))
    print(metrics_table(adata))
    print(f"\nwrote {out / 'model'}, {out / 'annotated.h5ad'}, {out / 'metrics.json'}")
    return 0


def _predict(args) -> int:
    import scautogenome as sag

    adata = _read_h5ad(args.input)
    if not (Path(args.model) / "model.json").exists():
        msg = f"--model {args.model!r} is not a saved scautogenome model directory"
        raise CLIError(msg)
    model = sag.models.Classifier.load(args.model)
    sag.tl.predict(adata, model, layer=args.layer, min_gene_overlap=args.min_gene_overlap)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    adata.write_h5ad(out)
    counts = adata.obs["sag_pred"].value_counts()
    print("predicted classes:")
    print(counts.to_string())
    print(f"\nwrote {out}")
    return 0


def _demo(args) -> int:
    import scautogenome as sag

    start = time.perf_counter()
    adata = sag.datasets.pbmc68k_reduced()
    print(f"demo: scanpy's pbmc68k_reduced, {adata.n_obs} cells x {adata.n_vars} genes, "
          f"{adata.obs['bulk_labels'].nunique()} cell types (obs['bulk_labels'])")
    budget = dict(DEMO_BUDGET)
    if args.time_budget is not None:
        budget["time_budget"] = args.time_budget
    if args.n_trials is not None:
        budget["n_trials"] = args.n_trials
    model = sag.tl.classify(adata, "bulk_labels", seed=args.seed, **budget)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model", overwrite=True)
    adata.uns["sag"]["model_dir"] = str(out / "model")
    adata.write_h5ad(out / "pbmc68k_reduced.sag.h5ad")
    print()
    print(metrics_table(adata))
    print(f"\n{model}")
    print(f"wrote {out}/ in {time.perf_counter() - start:.0f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="scautogenome",
        description="AutoGenome on AnnData: AutoML over residual fully-connected networks.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("--quiet", action="store_true", help="no progress bars or info logs")
        sp.add_argument("--device", default=None, help="auto (default), cpu or cuda")

    c = sub.add_parser("classify", help="search the best classifier for a label column",
                       description="Search MLP / RFCN-ResNet / RFCN-DenseNet classifiers for "
                       "a label column of an h5ad file; writes DIR/model, DIR/annotated.h5ad "
                       "and DIR/metrics.json.")
    c.add_argument("input", help="input .h5ad file (cells or samples x genes)")
    c.add_argument("--labels", required=True, help="obs column with the classes")
    c.add_argument("--out", required=True, help="output directory")
    c.add_argument("--mode", default=None, choices=["mlp", "resnet", "densenet", "auto"])
    c.add_argument("--config", default=None, help="expert-mode JSON config file")
    c.add_argument("--layer", default=None, help="use this layer instead of X")
    c.add_argument("--split-key", default=None, help="obs column with train/val/test")
    c.add_argument("--n-trials", type=int, default=None)
    c.add_argument("--time-budget", type=float, default=None, help="seconds")
    c.add_argument("--metric", default=None,
                   choices=["macro_f1", "accuracy", "balanced_accuracy", "weighted_f1"])
    c.add_argument("--min-cells-per-class", type=int, default=None)
    c.add_argument("--storage", default=None, help="Optuna storage URL, to resume or share")
    c.add_argument("--study-name", default=None)
    c.add_argument("--seed", type=int, default=None)
    c.add_argument("--overwrite", action="store_true")
    common(c)
    c.set_defaults(func=_classify)

    pr = sub.add_parser("predict", help="annotate new cells with a saved model",
                        description="Predict classes for an h5ad file with a saved model; "
                        "genes are matched by name.")
    pr.add_argument("input", help="query .h5ad file")
    pr.add_argument("--model", required=True, help="model directory (classify's DIR/model)")
    pr.add_argument("--out", required=True, help="output .h5ad file")
    pr.add_argument("--layer", default=None)
    pr.add_argument("--min-gene-overlap", type=float, default=0.5)
    common(pr)
    pr.set_defaults(func=_predict)

    d = sub.add_parser("demo", help="the whole flow on scanpy's bundled pbmc68k_reduced",
                       description="Classify scanpy's bundled pbmc68k_reduced (about two "
                       "minutes on 2 CPU cores) and print the test metrics.")
    d.add_argument("--out", default="sag_demo", help="output directory (default sag_demo)")
    d.add_argument("--n-trials", type=int, default=None)
    d.add_argument("--time-budget", type=float, default=None)
    d.add_argument("--seed", type=int, default=0)
    common(d)
    d.set_defaults(func=_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup(args)
    try:
        return args.func(args)
    except CLIError as e:
        print(f"scautogenome {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, KeyError, TypeError, FileNotFoundError, FileExistsError) as e:
        msg = e.args[0] if e.args else str(e)
        print(f"scautogenome {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
