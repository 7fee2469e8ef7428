"""Command line: ``scautogenome classify | predict | explain | embed | report | worker | demo``.

Every command reads an .h5ad file; with ``--table``, a CSV/TSV expression table (plus a label
table; ``--tcga`` reads TCGA files and a GDC/Firehose clinical table), with ``--maf``, MAF
mutation files (a binary samples x genes matrix, plus a label table), or with ``--autogenome``,
AutoGenome's input layout, so a TCGA or AutoGenome user never opens Python. Exit codes: 0 ok,
2 bad input (one-line reason), given before any work starts and before --out is created.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shlex
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

DEMO_BUDGET = {"n_trials": 25, "time_budget": 100.0}
DEMO_EMBED_BUDGET = {"n_trials": 4, "time_budget": 30.0}
# the test summary at the top of metrics.json
SUMMARY_METRICS = ("accuracy", "macro_f1", "balanced_accuracy", "roc_auc", "average_precision", "n")
# ... of a numeric target (a classify run of task "regression")
REGRESSION_SUMMARY = ("r2", "rmse", "mae", "pearson", "spearman", "n")
# sag.data.TASKS, here without importing torch (for --help)
TASKS = ("auto", "classification", "regression")


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


# -- inputs and outputs ------------------------------------------------------------------------
def _read_h5ad(path: str):
    import anndata as ad

    p = Path(path)
    if not p.exists():
        msg = f"input file {path!r} does not exist"
        raise CLIError(msg)
    if p.is_dir():  # classify's --out folder: its annotated cells, as report and --model read it
        if not (p / "annotated.h5ad").is_file():
            msg = (
                f"input {path!r} is a folder without annotated.h5ad (classify's --out holds "
                "one); give an .h5ad file"
            )
            raise CLIError(msg)
        from ._settings import logger

        p = p / "annotated.h5ad"
        logger.info("input: using %s, the annotated cells of classify's output folder", p)
        path = str(p)
    try:
        with p.open("rb") as fh:
            gzipped = fh.read(2) == b"\x1f\x8b"
    except OSError:  # a folder or an unreadable file: the reader says which
        gzipped = False
    if gzipped:  # h5py would only say "file signature not found"
        msg = (
            f"input file {path!r} is gzip-compressed; .h5ad files are read uncompressed: "
            f"gunzip it first (gunzip -k {shlex.quote(path)})"
        )
        raise CLIError(msg)
    try:
        return ad.read_h5ad(p)
    except Exception as e:  # any reader failure is a user-facing input error
        msg = f"cannot read {path!r} as h5ad: {e}{_no_locks_hint(e)}"
        if "encoding_type='MuData'" in str(e):  # anndata would send the user to update it
            msg = (
                f"{path!r} is a MuData file (.h5mu); the command line reads one AnnData: write "
                "the modality to use as .h5ad first, e.g. in Python "
                f"mudata.read_h5mu({path!r})['rna'].write_h5ad('rna.h5ad')"
            )
        raise CLIError(msg) from e


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_inputs(args) -> None:
    """The input options, checked before any file is read: exactly one input (an .h5ad file,
    ``--table``, ``--maf`` or ``--autogenome``), the table options only with ``--table`` (a
    label table with ``--maf`` too), and a search's ``--storage`` that can be opened."""
    given = [
        what
        for what, value in (
            ("an .h5ad input", args.input),
            ("--table", args.table),
            ("--maf", args.maf),
            ("--autogenome", args.autogenome),
        )
        if value
    ]
    if len(given) > 1:
        msg = f"give one input, not {' and '.join(given)}"
        if args.maf and args.input and str(args.input).lower().endswith((".maf", ".maf.gz")):
            msg += f" ({args.input!r} is a MAF: --maf again for each file)"
        raise CLIError(msg)
    if not given:
        msg = "an input is required: an .h5ad file, --table, --maf or --autogenome"
        raise CLIError(msg)
    if args.tumor_only is not None and not args.tcga:
        msg = f"--{'' if args.tumor_only else 'no-'}tumor-only needs --tcga"
        raise CLIError(msg)
    if args.labels_table and not (args.table or args.maf):
        msg = "--labels-table needs --table or --maf"
        raise CLIError(msg)
    for option in ("tcga", "sep"):
        if getattr(args, option) and not args.table:
            msg = f"{_option(option)} needs --table"
            raise CLIError(msg)
    if args.orientation != "auto" and not args.table:
        msg = "--orientation needs --table"
        raise CLIError(msg)
    for option in ("label_column", "id_column"):
        if getattr(args, option) and not args.labels_table:
            msg = f"{_option(option)} needs --labels-table"
            raise CLIError(msg)
    for option in ("table", "autogenome", "labels_table"):
        path = getattr(args, option)
        if path and not Path(path).is_file():
            msg = f"{_option(option)} {path!r} does not exist"
            raise CLIError(msg)
    for path in args.maf or []:
        if not Path(path).is_file():
            msg = f"--maf {path!r} does not exist"
            raise CLIError(msg)
    if getattr(args, "storage", None):  # a search's storage, opened before any file is read
        from .search import check_collect, check_storage

        # classify's --study-name, worker's --study
        study = getattr(args, "study_name", None) or getattr(args, "study", None)
        if getattr(args, "n_trials", None) == 0:  # collecting: a missing file is not made
            # --mode rrfcn searches by ENAS, which stores no study (unless a --config picks
            # the Optuna strategy: classify itself checks that one)
            enas = getattr(args, "mode", None) == "rrfcn" and not getattr(args, "config", None)
            check_collect(
                {"n_trials": 0},
                args.storage,
                enas=enas,
                study_name=_collected_study(args, study),
            )
        # a new file in an existing folder is made by the search itself, after its own checks
        # (n_trials=0 from --config must not leave an empty database behind)
        check_storage(args.storage, study)


def _collected_study(args, study: str | None) -> str | None:
    """The study a collecting run (--n-trials 0) reads, where it is known before the config
    is: --study-name, or the default name of classify, or of embed with --mode."""
    from .search._study import CLASSIFY_STUDY, embed_study

    mode = getattr(args, "mode", None)
    if study is not None:
        return study
    if mode == "rrfcn":  # ENAS stores no study: classify says so
        return None
    if args.command == "classify":  # a worker's --study is required
        return CLASSIFY_STUDY
    return embed_study(mode) if args.command == "embed" and mode else None


def _default_labels(args) -> str | None:
    """The label column classify and worker use without --labels: the reader's own (the
    project code for --tcga, ``label`` for --autogenome), else --table's --label-column."""
    if args.autogenome:
        return "label"
    if args.tcga:
        return args.label_column or "project"
    return args.label_column if args.table or args.maf else None


def _clinical_labels(args, adata, labels: str) -> str:
    """--tcga --label-column COL where the barcodes give an obs column COL too (sample_type,
    patient, ...): the clinical table's column, which read_tcga kept as ``COL_clinical``, is
    the one the user named (without --labels)."""
    twin = f"{labels}_clinical"
    if not (args.tcga and twin in adata.obs):
        return labels
    from ._settings import logger

    if not args.labels and labels == args.label_column:
        logger.info("--label-column %r: the labels are the clinical table's, obs[%r]", labels, twin)
        return twin
    logger.warning(
        "--labels %r: the barcodes' column of that name; the clinical table's is obs[%r] "
        "(--labels %s to train on it)",
        labels,
        twin,
        twin,
    )
    return labels


def _load(args):
    """``(adata, config)``: the AnnData of the input (an .h5ad file, ``--table`` with
    ``--labels-table``, read by :func:`sag.io.read_tcga` with ``--tcga``, ``--maf`` files read
    by :func:`sag.io.read_maf` with ``--labels-table``, or ``--autogenome``) and, for
    ``--autogenome``, the sag config its reader made of AutoGenome's JSON (else None)."""
    import scautogenome as sag

    _check_inputs(args)
    if args.autogenome:
        return sag.io.read_autogenome(args.autogenome)
    if args.tcga:
        import warnings

        # --label-column: the project code (the default), or a clinical column to copy
        column = args.label_column
        with warnings.catch_warnings():
            if args.command in ("predict", "explain"):  # they do not use the project code
                warnings.filterwarnings("ignore", message="no project code|.*cohort .* guessed")
            adata = sag.io.read_tcga(
                args.table,
                clinical=args.labels_table,
                clinical_id_column=args.id_column,
                clinical_columns=[column] if column and column != "project" else None,
                # a cohort's normals are warned about where the labels are the cohort
                tumor_only=args.tumor_only
                if column in (None, "project")
                else bool(args.tumor_only),
                orientation=args.orientation,
                sep=args.sep,
            )
        return adata, None
    if args.table:
        adata = sag.io.read_table(
            args.table,
            labels=args.labels_table,
            label_column=args.label_column,
            id_column=args.id_column,
            orientation=args.orientation,
            sep=args.sep,
        )
        return adata, None
    if args.maf:
        return _read_maf(args), None
    return _read_h5ad(args.input), None


def _read_maf(args):
    """``--maf`` files as :func:`sag.io.read_maf` reads them (a sample x gene matrix of the
    mutated genes, one row per tumour barcode), with the columns of ``--labels-table`` joined
    on the barcodes as ``--table``'s are (a patient's or sample's id matches its aliquots)."""
    import scautogenome as sag

    from ._keys import IO_KEY
    from .io._barcodes import barcode_columns
    from .io._parse import read_frame
    from .io._table import add_labels
    from .io._tcga import _patients_as_rows

    adata = sag.io.read_maf(args.maf if len(args.maf) > 1 else args.maf[0])
    if args.labels_table:
        # a Firehose clinical table (patients as columns) turned, as read_tcga turns it
        table = _patients_as_rows(read_frame(args.labels_table, what="label table"))
        id_column = args.id_column
        if id_column is None:  # a clinical table's column of barcodes, as read_tcga finds it
            id_column = next(iter(barcode_columns(table.frame)), None)
        add_labels(
            adata,
            table,
            adata.uns[IO_KEY],  # recorded as read_table records its label table
            label_column=args.label_column,
            id_column=id_column,
            data_name="the MAF",
        )
    return adata


def _out_file(path: str, overwrite: bool, suffix: str = ".h5ad") -> Path:
    """The output file, checked before any work: an existing file (the input included) is
    replaced only with --overwrite, and the folder it goes in must be creatable and
    writable; another suffix than ``suffix`` (the file's format) is warned about."""
    _check_not_empty(path)
    out = Path(path)
    if out.is_dir() or str(path).endswith(("/", os.sep)):  # Path() drops a trailing "/"
        msg = f"--out {path!r} is a directory; give an {suffix} file"
        raise CLIError(msg)
    if out.exists() and not overwrite:
        msg = f"--out {path!r} already exists; pass --overwrite or choose another --out"
        raise CLIError(msg)
    _creatable(out.parent, f"the folder of --out {str(out.parent)!r}")
    if out.suffix.lower() != suffix:
        from ._settings import logger

        logger.warning("--out %r does not end in %s, though it is written as one", path, suffix)
    return out


def _check_not_empty(path: str) -> None:
    """An empty --out ('') would be the current folder (Path('') is '.'): refused."""
    if not str(path).strip():
        msg = "--out is empty; give a path"
        raise CLIError(msg)


def _creatable(path: Path | str, what: str) -> None:
    """:func:`~scautogenome._utils.check_creatable` as a one-line CLI error."""
    from ._utils import check_creatable

    try:
        check_creatable(path, what)
    except OSError as e:
        raise CLIError(str(e)) from e


def _no_locks_hint(error: BaseException) -> str:
    """The remedy where HDF5 could not lock a file (a file system without locks: NFS, Lustre,
    some container mounts), else nothing."""
    if "unable to lock file" not in str(error):
        return ""
    return (
        "; this file system does not let HDF5 lock files (NFS, Lustre): run with the "
        "environment variable HDF5_USE_FILE_LOCKING=FALSE"
    )


@contextmanager
def _writing(path: Path | str, kept: str | None = None):
    """An OSError while writing ``path`` as a one-line error that names it: a full disk's
    (ENOSPC) or an I/O error's (EIO) message names no file. Every write of the CLI is atomic
    (a temporary file renamed into place, :func:`~scautogenome._utils.write_atomically`), so
    what ``path`` held before a failed write is whole: with ``kept``, what it is (``"report"``,
    or ``"model"`` for a folder with a saved model), the message says that one is kept where
    there is one. (Without it, nothing is said: classify's and embed's own notes say which of
    their files are of which run.)"""
    path = Path(path)
    if kept == "model":
        from .models._base import META

        there = (path / META).is_file()
    else:
        there = kept is not None and path.exists()
    try:
        yield
    except FileExistsError:  # its message names the path, and what to do
        raise
    except OSError as e:
        msg = f"cannot write {str(path)!r}: {e.strerror or e}{_no_locks_hint(e)}"
        if there:
            msg += f"; the {kept} there before is kept"
        raise CLIError(msg) from e


def _write_h5ad(adata, out: Path) -> None:
    """``adata.write_h5ad(out)`` through a temporary file in the same folder, renamed into
    place once complete (:func:`~scautogenome._utils.write_atomically`): a failed or
    interrupted write never leaves a broken ``out``, and an input replaced with --overwrite
    stays whole until the new file is."""
    from ._utils import write_atomically

    with _writing(out):
        write_atomically(out, adata.write_h5ad)


def _save_model(model, path: Path | str, overwrite: bool) -> None:
    """``model.save(path)``, a failed write (a full disk) named as :func:`_writing` names it."""
    with _writing(path, "model"):
        model.save(path, overwrite=overwrite)


def _write_report(adata, out: Path, **kwargs) -> Path:
    """:func:`sag.io.write_report`, a failed write (a full disk) named as :func:`_writing`
    names it."""
    import scautogenome as sag

    with _writing(out, "report"):
        return sag.io.write_report(adata, out, **kwargs)


def _out_dir(path: str, names: list[str], overwrite: bool) -> Path:
    """The output folder, checked before any work and not created here (the command creates it
    when its results are ready, so a failed command leaves no folder behind): a folder that
    already holds any of ``names``, the files the command writes, is used only with
    --overwrite, and only where each is what the command writes there (``model`` a folder, the
    others files); it must be creatable and writable."""
    _check_not_empty(path)
    out = Path(path)
    if out.exists() and not out.is_dir():
        msg = f"--out {path!r} is a file; give a folder"
        raise CLIError(msg)
    there = [name for name in names if (out / name).exists() or (out / name).is_symlink()]
    if there and not overwrite:
        msg = (
            f"--out {path!r} already holds {', '.join(there)}; pass --overwrite or choose "
            "another --out"
        )
        raise CLIError(msg)
    for name in there:  # found after the search, these would end the run unwritten
        folder = name == "model"
        if (out / name).is_dir() != folder:
            msg = (
                f"--out {path!r} holds {name!r} as a {'file' if folder else 'folder'}, where "
                f"this command writes its {name} {'folder' if folder else 'file'}; move it "
                "or choose another --out"
            )
            raise CLIError(msg)
    _creatable(out, f"--out {path!r}")
    return out


def _setup(args) -> None:
    """The common options, checked before any work: --threads a positive integer, --device
    one this machine has."""
    import scautogenome as sag

    if args.quiet:
        sag.settings.verbosity = 1
    elif getattr(args, "verbose", False):
        sag.settings.verbosity = 3
    # a log file (a batch job's, nohup's) gets its bars redrawn every 30 s, as the Python
    # API's: without them a search of the default 600 s wrote nothing between its first and
    # last lines; a closed stderr (None) gets none
    if args.quiet or sys.stderr is None:
        sag.settings.progress_bar = False
    if getattr(args, "device", None):
        from .train import resolve_device

        try:
            resolve_device(args.device)
        except (RuntimeError, ValueError) as e:
            msg = f"--device {args.device!r}: {e.args[0] if e.args else e}"
            raise CLIError(msg) from e
        sag.settings.device = args.device
    if getattr(args, "threads", None) is not None:
        if args.threads < 1:
            msg = f"--threads {args.threads} must be a positive integer"
            raise CLIError(msg)
        sag.settings.n_threads = args.threads
    if args.command in ("classify", "embed", "demo"):
        # scanpy (the colours, the scores, the report) before the search, not after it: where
        # numba cannot write its cache, its import fails (the remedy: _numba_hint)
        try:
            import scanpy  # noqa: F401
        except ImportError as e:  # an install broken otherwise (numba built for another numpy)
            msg = f"scanpy cannot be imported: {e}"
            raise CLIError(msg) from e


def _numba_hint(text: str) -> str:
    """The remedy where numba could not cache a function of scanpy's (a read-only
    site-packages of a container or a shared environment, and no writable cache in HOME),
    else nothing."""
    if "cannot cache function" not in text and "no locator available" not in text:
        return ""
    return (
        "; numba cannot write its cache here (a read-only environment): point it at a "
        "writable folder, e.g. export NUMBA_CACHE_DIR=${TMPDIR:-/tmp}/numba"
    )


# -- printed summaries ---------------------------------------------------------------------------
def _is_regression(uns) -> bool:
    from .plotting._classify import is_regression

    return is_regression(uns)


PRINTED_ROWS = 40
"""The most rows of classes a printed table shows (a reference of 150 cell types printed
pages); the report and the annotated h5ad hold them all."""


def metrics_table(adata, key: str = "sag") -> str:
    """Per-class precision/recall/F1/support on the test split, plus the overall figures (for
    a numeric target: R2, RMSE, MAE, Pearson and Spearman on the test and validation
    splits)."""
    uns = adata.uns[key]
    if _is_regression(uns):
        return _regression_table(adata, uns)
    test = uns["metrics"]["test"]
    pc = test["per_class"]
    classes = [str(c) for c in uns["classes"]]
    width = max(12, *(len(c) for c in classes))
    ranked = "roc_auc" in pc  # runs before ROC AUC was recorded have none
    lines = [
        f"{'class':<{width}}  precision  recall     f1  support" + ("  ROC AUC" if ranked else "")
    ]
    for i, c in enumerate(classes[:PRINTED_ROWS]):
        lines.append(
            f"{c:<{width}}  {pc['precision'][i]:9.3f}  {pc['recall'][i]:6.3f}  "
            f"{pc['f1'][i]:5.3f}  {int(pc['support'][i]):7d}"
            + (f"  {pc['roc_auc'][i]:7.3f}" if ranked else "")
        )
    if len(classes) > PRINTED_ROWS:
        lines.append(
            f"... {len(classes) - PRINTED_ROWS} more classes (the report and the annotated h5ad "
            "hold them all)"
        )
    lines.append("")
    lines.append(
        f"test accuracy {test['accuracy']:.3f}   macro-F1 {test['macro_f1']:.3f}   "
        f"balanced accuracy {test['balanced_accuracy']:.3f}   "
        + (f"ROC AUC {test['roc_auc']:.3f}   " if ranked else "")
        + f"(n={int(test['n'])})"
    )
    lines.append(_best_line(uns))
    return "\n".join(lines)


def _best_line(uns) -> str:
    best = uns["best"]
    trials = uns["trials"]
    count = f"{len(trials)} trials"
    if "params" in trials:
        # ENAS's rows (their params name their stage) are no trials: the controller's
        # samples, the candidates ranked and those retrained; mode auto has trials beside
        stage = trials["params"].astype(str).str.extract(r'"stage": "(\w+)"')[0]
        if stage.notna().any():
            n_trials = int(stage.isna().sum())
            count = (
                (f"{n_trials} trials and " if n_trials else "")
                + f"{int((stage == 'derive').sum())} candidates ranked by ENAS (of "
                f"{int((stage == 'controller').sum())} controller samples), "
                f"{int((stage == 'retrain').sum())} retrained"
            )
    return (
        f"best trial {int(best['trial'])} ({best['mode']}), validation score "
        f"{float(best['val_score']):.3f}; {count}"
    )


def _regression_table(adata, uns) -> str:
    """:func:`metrics_table` of a numeric target (its rows: cells, or samples for bulk data,
    :func:`~scautogenome.data.obs_noun`)."""
    from .data._checks import obs_noun

    metrics = uns["metrics"]
    noun = obs_noun(adata)
    lines = [
        f"{'split':<10}  {'R2':>7}  {'RMSE':>9}  {'MAE':>9}  {'Pearson':>7}  {'Spearman':>8}  {noun}"
    ]
    for part in ("test", "val"):
        m = metrics.get(part)
        if m:
            lines.append(
                f"{part:<10}  {m['r2']:7.3f}  {m['rmse']:9.4g}  {m['mae']:9.4g}  "
                f"{m['pearson']:7.3f}  {m['spearman']:8.3f}  {int(m['n']):{len(noun)}d}"
            )
    test = metrics["test"]
    target = dict(uns.get("params", {})).get("labels_key", "?")
    lines.append("")
    lines.append(
        f"test R2 {test['r2']:.3f}   RMSE {test['rmse']:.4g}   Spearman {test['spearman']:.3f}   "
        f"(n={int(test['n'])}; numeric target obs[{str(target)!r}])"
    )
    lines.append(_best_line(uns))
    return "\n".join(lines)


def _finite(value):
    """``value`` with NaN and infinite numbers as None (JSON's null; the metrics of an empty
    split are NaN), numpy arrays as lists and numpy numbers as Python's, dicts and lists
    looked into."""
    import math

    import numpy as np

    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, np.floating):  # numbers of uns read back by anndata < 0.11
        value = float(value)
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def metrics_record(adata, key: str = "sag") -> dict:
    """What classify's metrics.json holds, as plain JSON values: the test summary at the top
    (``accuracy``, ``macro_f1``, ``balanced_accuracy``, ``roc_auc``, ``average_precision``,
    ``n``), then ``task`` (``"classification"``), ``labels_key``, the search
    ``metric``, ``classes`` (the order of every per-class list and of the confusion matrix's
    rows and columns), ``test`` and ``val`` (the summary and ``per_class``
    precision/recall/f1/support/roc_auc/average_precision), ``confusion`` (test, rows = true
    class, columns = predicted), ``best`` (the trial kept: trial, mode, val_score in
    ``metric``), ``model_digest`` (the kept model's, as the AnnData's records name it) and
    ``versions`` (of the packages that trained it). NaN (an empty split, or an undefined
    figure) is null.

    For a numeric target: the test summary ``r2``, ``rmse``, ``mae``, ``pearson``,
    ``spearman``, ``n``, then ``task`` (``"regression"``), ``target`` and ``labels_key`` (both
    the obs column), ``metric``, ``test`` and ``val`` (those figures), ``best``,
    ``model_digest`` and ``versions``; no classes or confusion matrix."""
    uns = adata.uns[key]
    metrics = uns["metrics"]
    params = uns.get("params", {})
    if _is_regression(uns):
        record = {
            **{k: metrics["test"][k] for k in REGRESSION_SUMMARY},
            "task": "regression",
            "target": params.get("labels_key"),
            "labels_key": params.get("labels_key"),
            "metric": params.get("metric"),
            **{part: metrics[part] for part in ("test", "val") if part in metrics},
            "best": uns["best"],
            **_provenance(uns),
        }
        return _finite(record)
    record = {
        **{
            k: metrics["test"][k]
            for k in SUMMARY_METRICS
            if k in metrics["test"]  # runs before ROC AUC was recorded have none
        },
        "task": "classification",
        "labels_key": params.get("labels_key"),
        "metric": params.get("metric"),
        "classes": [str(c) for c in uns["classes"]],
        **{part: metrics[part] for part in ("test", "val") if part in metrics},
        "confusion": uns["confusion"],
        "best": uns["best"],
        **_provenance(uns),
    }
    return _finite(record)


def _provenance(uns) -> dict:
    """Which model a run kept (``model_digest``, as the AnnData's records name it) and the
    versions of the packages that trained it, where the run records them."""
    return {k: uns[k] for k in ("model_digest", "versions") if k in uns}


def _one_output(uns) -> str | None:
    """The name of the one output an explanation ``uns`` is of (a numeric target), or None
    (classes)."""
    outputs = [str(c) for c in uns.get("classes", [c for c in uns["columns"] if c != "overall"])]
    return outputs[0] if len(outputs) == 1 else None


def top_genes_table(
    adata, key: str = "sag_shap", n: int = 8, gene_symbols: str | None = None
) -> str:
    """Each class's top genes, named by ``var[gene_symbols]`` where given (the column a
    query's genes were matched by), else as recorded (its ``var_names``)."""
    uns = adata.uns[key]
    columns = [str(c) for c in uns["columns"]]
    if _one_output(uns) is not None:  # its "overall" column is the same as the output's
        columns = columns[:1]
    width = max(8, *(len(c) for c in columns[:PRINTED_ROWS]))
    genes = uns["top_genes"]
    names = {} if gene_symbols is None else adata.var[gene_symbols].astype(str).to_dict()
    lines = [
        f"{c:<{width}}  " + ", ".join(names.get(str(g), str(g)) for g in genes[i, :n] if str(g))
        for i, c in enumerate(columns[:PRINTED_ROWS])
    ]
    if len(columns) > PRINTED_ROWS:
        lines.append(
            f"... {len(columns) - PRINTED_ROWS} more (the report and sag.get.shap_df hold them all)"
        )
    return "\n".join(lines)


def _top_genes_heading(adata, key: str = "sag_shap") -> str:
    target = _one_output(adata.uns[key])
    if target is None:
        return "top genes per class (SHAP):"
    return f"top genes of the predicted {target} (SHAP):"


# -- commands ------------------------------------------------------------------------------------
def _classify_files(args) -> list[str]:
    """What classify writes into --out, and the report it replaces: with --no-report an earlier
    run's report.html would contradict the new model, so it is removed (with --overwrite)."""
    return ["model", "annotated.h5ad", "metrics.json", "report.html"]


def _labels(args) -> str:
    """--labels, else the input's own label column (:func:`_default_labels`)."""
    labels = args.labels or _default_labels(args)
    if labels is None:
        msg = "--labels is required (the obs column with the classes or the numeric target)"
        raise CLIError(msg)
    return labels


def _study_config(args, reader_config: dict | None) -> tuple[object, str | None]:
    """``(config, split_key)`` of a classify study (a worker's too): for --autogenome, the config
    its reader made of AutoGenome's JSON unless --config is given, and AutoGenome's own
    train/test(/eval) files as the split unless --split-key is given."""
    if not args.autogenome:
        return args.config, args.split_key
    from .config._embed import EMBED_MODES

    if args.config is None and (reader_config or {}).get("mode") in EMBED_MODES:
        msg = (
            f"--autogenome {args.autogenome!r} has the search mode Res-VAE, which is "
            f"unsupervised: run scautogenome embed --autogenome {args.autogenome!r}, or "
            "give --config to classify its labels"
        )
        raise CLIError(msg)
    config = reader_config if args.config is None else args.config
    return config, _split_key(args)


def _embed_config(args, adata, reader_config: dict | None) -> tuple[object, int, str]:
    """``(config, n_latent, likelihood)`` of an embed search: --config, --n-latent and
    --likelihood, else (for --autogenome with the search mode Res-VAE) what its reader made of
    AutoGenome's JSON (the config, the latent size and the loss mse in
    ``uns['sag_io']['embed_args']``), else the defaults (10, auto)."""
    from .config._embed import EMBED_MODES

    config, found = args.config, {}
    if args.autogenome and args.model is None:
        record = adata.uns.get("sag_io", {})
        if reader_config is not None and reader_config.get("mode") in EMBED_MODES:
            found = dict(record.get("embed_args", {}))
            config = reader_config if args.config is None else args.config
        elif args.config is None:
            from ._settings import logger

            logger.warning(
                "--autogenome %r: search mode %r is a classifier's (scautogenome classify); "
                "embed searches sag.config.default('resvae') without its settings",
                args.autogenome,
                str(record.get("autogenome_mode", "")),
            )
    if args.n_latent is None and "n_latent" in found and int(found["n_latent"]) >= adata.n_vars:
        msg = (
            f"--autogenome {args.autogenome!r}: its latent size {int(found['n_latent'])} must "
            f"be smaller than the number of features ({adata.n_vars}); give --n-latent"
        )
        raise CLIError(msg)
    n_latent = args.n_latent if args.n_latent is not None else int(found.get("n_latent", 10))
    likelihood = args.likelihood or str(found.get("likelihood", "auto"))
    return config, n_latent, likelihood


def _group_key(args) -> str | None:
    """--group-key, with 'none' for no groups."""
    return None if args.group_key.lower() == "none" else args.group_key


def _split_key(args) -> str | None:
    """--split-key, or for --autogenome (without it) AutoGenome's own train/test(/eval) files."""
    if args.autogenome and args.split_key is None:
        return "autogenome_split"
    return args.split_key


def _shap_key(args) -> str:
    """The key of classify's explanation: beside its run's (--key-added KEY: KEY_shap; the
    default run's, sag_shap), so that another key keeps an earlier run's explanation too."""
    return f"{args.key_added}_shap"


def _classify(args) -> int:
    import scautogenome as sag

    from ._utils import json_default, recorded_path, write_atomically

    out = _out_dir(args.out, _classify_files(args), args.overwrite)
    _check_inputs(args)
    labels = _labels(args)  # before the input is read
    adata, reader_config = _load(args)
    labels = _clinical_labels(args, adata, labels)
    config, split_key = _study_config(args, reader_config)
    model = sag.tl.classify(
        adata,
        labels,
        mode=args.mode,
        layer=args.layer,
        split_key=split_key,
        group_key=_group_key(args),
        n_trials=args.n_trials,
        time_budget=args.time_budget,
        metric=args.metric,
        config=config,
        min_cells_per_class=args.min_cells_per_class,
        task=args.task,
        value_type=args.value_type,
        storage=args.storage,
        study_name=args.study_name,
        seed=args.seed,
        key_added=args.key_added,
    )
    out.mkdir(parents=True, exist_ok=True)  # checked before the search: new, or --overwrite
    _save_model(model, out / "model", args.overwrite)
    adata.uns[args.key_added]["model_dir"] = recorded_path(os.path.abspath(out / "model"))

    # an interruption from here on says what is kept (main): the files written so far, and
    # those of the run it replaces (--overwrite) still there. They are replaced, each whole,
    # as the new ones are written, never removed before: the input may be one of them
    args.saved_run, args.saved_files = out, ["model"]
    args.replaced_files = [
        name for name in ("annotated.h5ad", "metrics.json", "report.html") if (out / name).is_file()
    ]

    def write_run() -> None:
        _write_h5ad(adata, out / "annotated.h5ad")
        args.saved_files.append("annotated.h5ad")
        record = metrics_record(adata, args.key_added)
        text = json.dumps(record, indent=1, default=json_default, allow_nan=False)
        write_atomically(out / "metrics.json", lambda tmp: tmp.write_text(text + "\n"))
        args.saved_files.append("metrics.json")
        if "report.html" in args.replaced_files:  # the old run's, until this run writes its own
            (out / "report.html").unlink()
            if not args.report:
                print(f"removed {out / 'report.html'}, the report of the run this one replaced")
        args.replaced_files = []

    if args.explain:
        try:
            sag.tl.explain(adata, model, seed=args.seed, key_added=_shap_key(args))
        except BaseException:  # the search is done: keep what it found, without SHAP
            try:
                write_run()
            except Exception as err:  # the explanation's error is the one to report
                from ._settings import logger

                logger.error("    the run could not be written either: %s", err)
            raise
    write_run()
    written = [out / "model", out / "annotated.h5ad", out / "metrics.json"]
    if args.report:
        written.append(_write_report(adata, out / "report.html", key=args.key_added))
    _all_written(args, written)
    print(metrics_table(adata, args.key_added))
    if args.explain:
        print("\n" + _top_genes_heading(adata, _shap_key(args)))
        print(top_genes_table(adata, _shap_key(args)))
    print("\nwrote " + ", ".join(str(p) for p in written))
    return 0


def _load_model(path: str, embed: bool = False):
    """The Classifier or Regressor saved in ``path`` (classify's DIR/model), as its
    model.json names it; with ``embed``, the ResVAE saved there (embed's --model-out)."""
    import scautogenome as sag

    meta = Path(path) / "model.json"
    if not meta.exists() and (Path(path) / "model" / "model.json").exists():
        path = str(Path(path) / "model")  # classify's --out: its model
        meta = Path(path) / "model.json"
        from ._settings import logger

        logger.info("--model: using %s, the model of classify's output folder", path)
    if not Path(path).exists():  # a relative path from another working folder, say
        where = "" if Path(path).is_absolute() else f" (looked in {os.path.abspath(path)})"
        msg = f"--model {path!r} does not exist{where}"
        raise CLIError(msg)
    if not meta.exists():
        msg = f"--model {path!r} is not a saved scautogenome model directory"
        raise CLIError(msg)
    from .models._base import saved_kind

    try:
        kind = saved_kind(path)
    except ValueError as e:  # not JSON, or not an object
        msg = f"--model {path!r}: its model.json cannot be read ({e})"
        raise CLIError(msg) from e
    if embed:
        models, wanted = {"ResVAE": sag.models.ResVAE}, "a model of embed (its --model-out)"
    else:
        models = {"Classifier": sag.models.Classifier, "Regressor": sag.models.Regressor}
        wanted = "a model of classify (a Classifier or a Regressor)"
    if kind not in models:
        msg = f"--model {path!r} holds a {kind!r} model; give {wanted}"
        raise CLIError(msg)
    return models[kind].load(path)


def _predict(args) -> int:
    import numpy as np

    import scautogenome as sag

    from .data._checks import obs_noun

    out = _out_file(args.out, args.overwrite)
    model = _load_model(args.model)  # before the input is read: a mistyped --model at once
    adata, _ = _load(args)
    sag.tl.predict(
        adata,
        model,
        layer=args.layer,
        min_gene_overlap=args.min_gene_overlap,
        min_confidence=args.min_confidence,
        key_added=args.key_added,
        gene_symbols=args.gene_symbols,
    )
    _write_h5ad(adata, out)
    _all_written(args, [out])
    pred = adata.obs[f"{args.key_added}_pred"]
    if isinstance(model, sag.models.Regressor):
        values = pred.to_numpy(dtype=float)
        print(
            f"predicted {model.target_} ({len(values)} {obs_noun(adata)}): mean "
            f"{values.mean():.4g}, "
            f"sd {values.std():.4g}, min {values.min():.4g}, median {np.median(values):.4g}, "
            f"max {values.max():.4g}"
        )
    else:
        print("predicted classes:")
        counts = pred.value_counts()
        print(counts.head(PRINTED_ROWS).to_string())
        if len(counts) > PRINTED_ROWS:
            from ._keys import pred_key

            column = pred_key(args.key_added)
            print(f"... {len(counts) - PRINTED_ROWS} more classes (obs[{column!r}])")
    print(f"\nwrote {out}")
    return 0


def _explain(args) -> int:
    import scautogenome as sag

    out = _out_file(args.out, args.overwrite)
    model = _load_model(args.model)  # before the input is read: a mistyped --model at once
    adata, _ = _load(args)
    sag.tl.explain(
        adata,
        model,
        groupby=args.groupby,
        cells=args.cells,
        n_explain=args.n_explain,
        n_background=args.n_background,
        nsamples=args.nsamples,
        method=args.method,
        layer=args.layer,
        n_top=args.n_top,
        min_gene_overlap=args.min_gene_overlap,
        split_key=_split_key(args),
        classify_key=args.classify_key,
        key_added=args.key_added,
        seed=args.seed,
        gene_symbols=args.gene_symbols,
    )
    _write_h5ad(adata, out)
    _all_written(args, [out])
    print(_top_genes_heading(adata, args.key_added))
    print(top_genes_table(adata, args.key_added, gene_symbols=args.gene_symbols))
    print(f"\nwrote {out}")
    return 0


def _scores_line(scores: dict, labels: str, key: str, noun: str = "cells") -> str:
    """The line ``embed --labels`` prints: the scores a reader compares (those that could be
    computed), what they were computed on, and where the rest is kept."""
    from .tools._embed import scores_text

    shown = scores_text(scores)
    on = f"{int(scores['n_cells']):,} {noun}, {int(scores['n_labels'])} labels"
    sampled = int(scores.get("n_cells_sampled", scores["n_cells"]))
    if sampled < int(scores["n_cells"]):
        on += f"; silhouette and t-SNE on a sample of {sampled:,}"
    if "n_clusters" in scores:
        on += f"; Leiden {float(scores['n_clusters']):g} clusters"
    if "n_batches" in scores:
        on += f"; {int(scores['n_batches'])} batches"
    if not shown:
        return f"latent space vs obs[{labels!r}] ({on}): no score could be computed"
    return (
        f"latent space vs obs[{labels!r}] ({on}): " + shown + f" (higher is better, "
        f"Davies-Bouldin lower; all of them in uns[{key!r}]['scores'])"
    )


def _embed(args) -> int:
    import scautogenome as sag

    from ._utils import recorded_path
    from .data._checks import obs_noun
    from .models._base import META, model_files
    from .tools._embed import check_batch_not_labels, score_batches, score_labels

    if args.model is not None:  # a saved model: no search, so no option of one
        given = [
            flag
            for flag, value in (
                ("--mode", args.mode),
                ("--n-latent", args.n_latent),
                ("--likelihood", args.likelihood),
                ("--beta", args.beta),
                ("--max-epochs", args.max_epochs),
                ("--value-type", None if args.value_type == "auto" else args.value_type),
                ("--config", args.config),
                ("--n-trials", args.n_trials),
                ("--time-budget", args.time_budget),
                ("--storage", args.storage),
                ("--study-name", args.study_name),
                ("--model-out", args.model_out),
            )
            if value is not None
        ]
        if given:
            msg = (
                f"--model embeds with a saved model, without a search; {', '.join(given)} "
                f"{'is an option' if len(given) == 1 else 'are options'} of a search (leave "
                "--model out to search and train a new one)"
            )
            raise CLIError(msg)
        if args.batch_key is not None and not (args.recon or args.labels):
            msg = (
                "--batch-key with --model names the query's batches, for --recon (each cell "
                "decoded as its own) or --labels (how well they mix); give one of those"
            )
            raise CLIError(msg)
    else:
        for value, flag in (
            (args.min_gene_overlap, "--min-gene-overlap"),
            (args.gene_symbols, "--gene-symbols"),
        ):
            if value is not None:
                msg = f"{flag} matches the genes of a saved model; give it with --model"
                raise CLIError(msg)
    if args.transform_batch is not None and not (args.model and args.recon):
        msg = (
            "--transform-batch decodes a saved model's reconstruction as one of its batches; "
            "give it with --model and --recon"
        )
        raise CLIError(msg)
    out = _out_file(args.out, args.overwrite)
    if args.model_out:
        model_out, h5ad = Path(args.model_out).resolve(), out.resolve()
        if model_out == h5ad or h5ad in model_out.parents:
            msg = f"--model-out {args.model_out!r} is --out {args.out!r} or inside it; give a folder apart"
            raise CLIError(msg)
        if (model_out / "model" / META).exists():  # classify's --out, whose model it would hide
            msg = (
                f"--model-out {args.model_out!r} holds a classify run's output (its model in "
                f"{str(Path(args.model_out) / 'model')!r}), which --model {args.model_out!r} "
                "would no longer find; give a folder of its own"
            )
            raise CLIError(msg)
        there = model_files(model_out)
        if there and not args.overwrite:
            msg = (
                f"--model-out {args.model_out!r} already holds a model ({' and '.join(there)}); "
                "pass --overwrite to replace it or choose another --model-out"
            )
            raise CLIError(msg)
        _creatable(args.model_out, f"--model-out {args.model_out!r}")
    adata, reader_config = _load(args)
    config, n_latent, likelihood = _embed_config(args, adata, reader_config)
    if args.labels is not None and args.labels not in adata.obs.columns:
        from ._utils import columns_listed

        msg = (
            f"--labels {args.labels!r} is not an obs column; "
            f"{columns_listed(adata.obs.columns, [args.labels])}"
        )
        raise CLIError(msg)
    if args.labels is not None:
        try:  # its labels, --leiden-seeds and --batch-key, checked before the search
            check_batch_not_labels(args.batch_key, args.labels)
            keep, _ = score_labels(adata, args.labels, args.leiden_seeds, warn=False)
            if args.batch_key is not None:
                score_batches(adata, args.batch_key, keep, warn=False)
        except (ValueError, TypeError, KeyError) as e:
            raise CLIError(e.args[0]) from e
    elif args.leiden_seeds < 1:  # unused without --labels, but a bad value is still a mistake
        msg = f"--leiden-seeds {args.leiden_seeds} must be at least 1"
        raise CLIError(msg)
    if args.model is not None:
        sag.tl.encode(
            adata,
            _load_model(args.model, embed=True),
            layer=args.layer,
            recon=args.recon,
            min_gene_overlap=0.5 if args.min_gene_overlap is None else args.min_gene_overlap,
            key_added=args.key_added,
            batch_key=args.batch_key if args.recon else None,
            transform_batch=args.transform_batch,
            gene_symbols=args.gene_symbols,
        )
    else:
        model = sag.tl.embed(
            adata,
            mode=args.mode,
            n_latent=n_latent,
            layer=args.layer,
            likelihood=likelihood,
            beta=args.beta,
            value_type=args.value_type,
            n_trials=args.n_trials,
            time_budget=args.time_budget,
            max_epochs=args.max_epochs,
            config=config,
            recon=args.recon,
            storage=args.storage,
            study_name=args.study_name,
            seed=args.seed,
            key_added=args.key_added,
            batch_key=args.batch_key,
        )
    # the model last but one, the AnnData last: a run stopped before its end leaves neither
    # (a new --model-out is removed again), so that the same command runs again
    new_folder = args.model_out and not Path(args.model_out).exists()
    replaced_h5ad = out.exists()

    def write_run() -> None:
        saved = False
        try:
            if args.model_out:
                _save_model(model, args.model_out, args.overwrite)
                saved = True
                adata.uns[args.key_added]["model_dir"] = recorded_path(
                    os.path.abspath(args.model_out)
                )
            _write_h5ad(adata, out)
        except BaseException:
            if new_folder:
                shutil.rmtree(args.model_out, ignore_errors=True)
            elif saved:  # --overwrite: the model is this run's, the h5ad the one replaced
                args.saved_text = f"; --model-out {args.model_out} holds this run's model" + (
                    f", and {out} is still the file it replaced" if replaced_h5ad else ""
                )
            raise

    if args.labels:
        try:
            scores = sag.tl.embedding_scores(
                adata,
                f"X_{args.key_added}",
                args.labels,
                leiden_seeds=args.leiden_seeds,
                seed=0 if args.seed is None else args.seed,
                key_added=args.key_added,
                batch_key=args.batch_key,
            )
        except BaseException:  # the embedding is done: keep it, without the scores
            try:
                write_run()
            except Exception as err:  # the scores' error is the one to report
                from ._settings import logger

                logger.error("    the embedding could not be written either: %s", err)
            else:
                kept = f"{out}" + (f" and its model in {args.model_out}" if args.model_out else "")
                args.saved_text = (
                    f"; the embedding is written to {kept}, without the scores against "
                    f"--labels {args.labels!r}"
                )
            raise
        print(_scores_line(scores, args.labels, args.key_added, obs_noun(adata)))
    write_run()
    _all_written(args, [out] + ([args.model_out] if args.model_out else []))
    basis = f"X_{args.key_added}"
    n_dims = adata.obsm[basis].shape[1]
    active = adata.uns[args.key_added]["active_dims"]
    print(
        f"latent: obsm[{basis!r}] ({n_dims} dimensions, {active} varying across {obs_noun(adata)})"
    )
    print(f"wrote {out}")
    return 0


def _report(args) -> int:
    src = Path(args.input)
    h5ad = src / "annotated.h5ad" if src.is_dir() else src
    if not h5ad.exists():
        msg = f"{str(h5ad)!r} does not exist (give classify's --out directory or an .h5ad file)"
        raise CLIError(msg)
    if args.out:
        out = Path(args.out)
    else:  # a directory's own report, or one named after the .h5ad
        out = src / "report.html" if src.is_dir() else src.with_name(f"{src.stem}.report.html")
    if out.exists() and out.resolve() == h5ad.resolve():
        msg = f"--out {str(out)!r} is the input file; choose another --out"
        raise CLIError(msg)
    # classify's --out directory: its report.html is regenerated from its annotated.h5ad
    own_report = not args.out and src.is_dir()
    _out_file(str(out), args.overwrite or own_report, suffix=".html")
    from .io._report import _check_not_data

    try:  # an .h5ad of data, even with --overwrite: before the input is read
        _check_not_data(out, f"--out {str(out)!r}")
    except FileExistsError as e:
        raise CLIError(str(e)) from e
    adata = _read_h5ad(str(h5ad))
    # write_report logs "wrote report PATH (N KB)" (at info, the CLI's default; not --quiet)
    _write_report(adata, out, key=args.key, shap_key=args.shap_key, basis=f"X_{args.embed_key}")
    return 0


def _worker(args) -> int:
    import secrets

    import scautogenome as sag
    from scautogenome.config import _config
    from scautogenome.data import prepare_labelled
    from scautogenome.search import run_search
    from scautogenome.tools._utils import budget_overrides, load_config
    from scautogenome.train import resolve_device

    _check_inputs(args)
    labels = _labels(args)  # as classify's
    adata, reader_config = _load(args)
    labels = _clinical_labels(args, adata, labels)
    config, split_key = _study_config(args, reader_config)
    # as classify: one budget option keeps the configured other, --metric sets the config's
    overrides = budget_overrides(args.n_trials, args.time_budget)
    if args.metric is not None:
        overrides.setdefault("search", {})["metric"] = args.metric
    cfg = load_config(_config.load, config, args.mode, overrides)
    _config.check_classify_mode(cfg["mode"], "config['mode']")  # as classify
    if cfg["mode"] == "rrfcn" and cfg["rrfcn"]["strategy"] != "optuna":
        msg = (
            f"mode 'rrfcn' with rrfcn.strategy {cfg['rrfcn']['strategy']!r} is searched by "
            "ENAS, one process's controller on shared weights, not an Optuna study a worker "
            "can join; set rrfcn.strategy to 'optuna' in --config (for the classify run and "
            "every worker) to spread an RRFCN search over workers"
        )
        raise CLIError(msg)
    data = prepare_labelled(
        adata,
        labels,
        layer=args.layer,
        split_key=split_key,
        group_key=_group_key(args),
        min_cells_per_class=args.min_cells_per_class,
        seed=sag.settings.seed if args.seed is None else args.seed,
        task=_config.requested_task(cfg, args.task),  # as classify: "auto" + mse regresses
        value_type=args.value_type,
    )
    # as classify: the loss and metric of the task (a numeric target: mse and r2 by default)
    cfg = _config.for_task(cfg, data.task)
    # the study classify runs (search_with_rrfcn): the RRFCN space of mode rrfcn, or in mode
    # auto with RRFCN the MLP/RFCN study. A worker runs no ENAS, so it searches that study for
    # its whole --time-budget (classify gives it 1 - auto_share, ENAS the rest)
    from scautogenome.search._enas import optuna_study_config

    time_budget = cfg["budget"]["time_budget"]
    cfg = optuna_study_config(cfg)
    cfg["budget"]["time_budget"] = time_budget
    # workers that run at the same time cannot draw a reproducible sequence of points: a random
    # salt keeps them from drawing the same ones (a process id does not: in containers it is
    # often 1 in every worker). The best trial is reported from the
    # storage, not retrained (that is the job of the classify run that collects the search).
    res = run_search(
        data,
        cfg,
        device=resolve_device(None),
        seed=sag.settings.seed if args.seed is None else args.seed,
        storage=args.storage,
        study_name=args.study,
        retrain_best=False,
        sampler_salt=secrets.randbits(32),
    )
    print(
        f"study {res.study_name!r}: {len(res.trials)} trials in storage; best so far trial "
        f"{res.best_trial} ({res.architecture['kind']}) val {res.best_value:.4f}"
    )
    return 0


DEMO_FILES = ("model", "report.html", "pbmc68k_reduced.sag.h5ad")


def _demo(args) -> int:
    import scautogenome as sag

    from ._utils import recorded_path

    out = _out_dir(args.out, list(DEMO_FILES), args.overwrite)
    model_dir, report_name, h5ad = DEMO_FILES
    start = time.perf_counter()
    adata = sag.datasets.pbmc68k_reduced()
    print(
        f"demo: scanpy's pbmc68k_reduced, {adata.n_obs} cells x {adata.n_vars} genes, "
        f"{adata.obs['bulk_labels'].nunique()} cell types (obs['bulk_labels'])"
    )
    budget = dict(DEMO_BUDGET)
    if args.time_budget is not None:
        budget["time_budget"] = args.time_budget
    if args.n_trials is not None:
        budget["n_trials"] = args.n_trials
    model = sag.tl.classify(adata, "bulk_labels", seed=args.seed, **budget)
    sag.tl.explain(adata, model, seed=args.seed)
    if not args.no_embed:
        sag.tl.embed(adata, seed=args.seed, **DEMO_EMBED_BUDGET)
    out.mkdir(parents=True, exist_ok=True)
    _save_model(model, out / model_dir, True)  # checked above: new, or --overwrite
    adata.uns["sag"]["model_dir"] = recorded_path(os.path.abspath(out / model_dir))
    report = _write_report(adata, out / report_name, title="scautogenome demo: pbmc68k_reduced")
    _write_h5ad(adata, out / h5ad)
    _all_written(args, [out / model_dir, out / h5ad, report])
    print()
    print(metrics_table(adata))
    print("\ntop genes per class (SHAP):")
    print(top_genes_table(adata))
    print(f"\n{model}")
    print(
        f"wrote {out}/ ({model_dir}/, {h5ad}, {report.name}) in {time.perf_counter() - start:.0f} s"
    )
    return 0


# -- parser --------------------------------------------------------------------------------------
def _common(sp, seed_help: str | None = "random seed (default 0)", compute: bool = True) -> None:
    """--quiet or --verbose; --device and --threads for a command that runs a network
    (``compute``); --seed for one that draws random numbers (``seed_help``, None for none)."""
    said = sp.add_mutually_exclusive_group()
    said.add_argument("--quiet", action="store_true", help="no progress bars or info logs")
    said.add_argument(
        "--verbose",
        action="store_true",
        help="debug lines too, such as each trial's result (sag.settings.verbosity = 3)",
    )
    if compute:
        sp.add_argument(
            "--device",
            default=None,
            help="auto (default: cuda where available, else cpu), cpu, cuda, cuda:N (N a GPU "
            "index) or mps",
        )
        sp.add_argument(
            "--threads",
            type=int,
            default=None,
            help="CPU threads for torch (default: torch's, MKL_NUM_THREADS, else "
            "OMP_NUM_THREADS, else the machine's cores). The thread "
            "count changes the weights a seed learns: pass --threads for a run that is "
            "reproducible across machines",
        )
    if seed_help is not None:
        sp.add_argument("--seed", type=int, default=None, help=seed_help)


def _path(value: str) -> str:
    """A path argument with ``~`` (and ``~user``) expanded, as the package expands the paths
    it is given: a quoted ``"~/runs"``, which the shell leaves as it is, names the file in the
    home folder in every check, message and write, not a folder named ``~``."""
    return os.path.expanduser(value)


def _delimiter(value: str) -> str:
    """--sep's value: one character, or its name ('tab', 'semicolon', ...; a typed '\\t')."""
    from .io._parse import DELIMITERS, delimiter

    try:
        return delimiter(value)
    except ValueError:
        msg = f"{value!r} is not one character nor one of {sorted(DELIMITERS)}"
        raise argparse.ArgumentTypeError(msg) from None


def _inputs(sp, *, model: bool = True) -> None:
    """The input options of a subcommand (``model``: it takes ``--model``, a saved model)."""
    sp.add_argument(
        "input",
        nargs="?",
        type=_path,
        help="input .h5ad file (cells or samples x genes), or classify's --out directory (its "
        "annotated.h5ad)",
    )
    g = sp.add_argument_group("table input (instead of an .h5ad file)")
    g.add_argument("--table", type=_path, help="CSV/TSV(.gz) expression matrix, either orientation")
    g.add_argument(
        "--maf",
        action="append",
        type=_path,
        metavar="MAF",
        help="MAF(.gz) somatic mutation file: a binary sample x gene matrix of the "
        "protein-altering mutations, one row per tumour barcode (sag.io.read_maf; --maf again "
        "for each further file); labels from --labels-table, matched on the barcodes (a "
        "patient's id matches its samples)",
    )
    g.add_argument(
        "--labels-table",
        type=_path,
        help="CSV/TSV with a sample id column and labels (--table, --maf)",
    )
    g.add_argument(
        "--label-column",
        help="column of --labels-table with the labels (it keeps its name in obs); with --tcga "
        "'project' (the default: the project code) or a clinical column to copy into obs",
    )
    g.add_argument(
        "--id-column",
        help="column of --labels-table with the sample ids (with --tcga: the barcodes; found "
        "by default)",
    )
    g.add_argument(
        "--orientation",
        default="auto",
        choices=["auto", "genes_x_samples", "samples_x_genes"],
        help="layout of --table (default auto: decided by the label ids, TCGA barcodes, gene "
        "ids, then the shape, and logged)",
    )
    g.add_argument(
        "--sep",
        type=_delimiter,
        default=None,
        help="delimiter of --table: a character, or 'tab', 'comma', 'semicolon' (default: ',' "
        "for .csv, a tab for .tsv/.tab, else guessed from the first line)",
    )
    g.add_argument(
        "--tcga",
        action="store_true",
        help="read --table as TCGA expression (GDC, Firehose, PanCanAtlas; sample barcodes "
        "parsed into obs) and --labels-table as a GDC/Firehose clinical table, matched on the "
        "patient barcode, its project_id (TCGA-BRCA -> BRCA) in obs['project'] "
        "(sag.io.read_tcga)",
    )
    g.add_argument(
        "--tumor-only",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --tcga: keep tumour samples only, leaving out normal tissue and blood "
        "(default: keep all)",
    )
    a = sp.add_argument_group("AutoGenome input (instead of an .h5ad file)")
    a.add_argument(
        "--autogenome",
        type=_path,
        metavar="CONFIG.json",
        help="AutoGenome's JSON config and the train/eval/test features and labels files it "
        "names (sag.io.read_autogenome); labels in obs['label'], the file of each sample in "
        "obs['autogenome_split']",
    )
    sp.add_argument(
        "--layer",
        default=None,
        help="use this layer instead of X (default: X"
        + (
            "; with --model, the layer the saved model was trained on, where the input has it)"
            if model
            else ")"
        ),
    )


_LABELS_HELP = (
    "obs column with the classes or the numeric target: required for an .h5ad input; by "
    "default --label-column with --table and --maf, --label-column (else 'project') with "
    "--tcga, 'label' with --autogenome"
)
_SPLIT_HELP = "obs column with train/val/test (default for --autogenome: 'autogenome_split')"
_CONFIG_HELP = (
    "expert-mode config: a JSON file, or JSON text (default for --autogenome: the one made "
    "of its JSON)"
)
CLASSIFY_MODES = ["mlp", "resnet", "densenet", "rrfcn", "auto"]
_MODE_HELP = (
    "architecture family searched (default: the config's, auto: MLP, RFCN-ResNet and "
    "RFCN-DenseNet, plus RRFCN with a large time budget)"
)
_OVERLAP_HELP = (
    "minimum fraction of the model's genes the input must have (matched by name); below it "
    "the command stops with an error naming the counts, a partial overlap above it is a "
    "warning (default 0.5)"
)
_GENE_SYMBOLS_HELP = (
    "a var column naming the genes as the model does, to match them by (symbols beside "
    "Ensembl ids, or ids beside symbols); default: the var_names"
)


def _search(sp, config_help: str = "expert-mode config: a JSON file, or JSON text") -> None:
    sp.add_argument("--config", default=None, type=_path, help=config_help)
    sp.add_argument(
        "--n-trials",
        type=int,
        default=None,
        help="number of search trials; 0 with --storage runs none and collects the stored "
        "study's best trial (workers', earlier runs') into the model",
    )
    sp.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help="search seconds (default: the config's, 600; for a run to repeat, give "
        '--n-trials and lift the clock with --config \'{"budget": {"time_budget": null}}\')',
    )
    sp.add_argument(
        "--storage",
        default=None,
        help="Optuna storage URL (e.g. sqlite:///search.db), or a journal file (a path "
        "ending in .log or .journal), to resume or share",
    )
    sp.add_argument(
        "--study-name",
        "--study",
        dest="study_name",
        default=None,
        help="name of the study in --storage (default sag-classify; embed: sag-embed-MODE)",
    )


def _value_type_option(sp) -> None:
    """--value-type: what the matrix holds, where its detection is wrong."""
    from ._keys import VALUE_TYPES  # data/ would load torch

    sp.add_argument(
        "--value-type",
        default="auto",
        choices=["auto", *VALUE_TYPES],
        help="what the matrix holds (default auto: detected and logged): counts (raw, "
        "depth-normalized and log1p'd here), normalized (unlogged TPM/FPKM, log1p'd here), "
        "binary, or continuous (already logged or scaled, used as given)",
    )


def _classify_options(sp) -> None:
    """Options that change the classify study (a worker must be given the same ones)."""
    from .train import METRICS  # torch-free

    sp.add_argument(
        "--metric",
        default=None,
        choices=list(METRICS),
        help="validation metric the search maximises (default: the config's, macro_f1; "
        "roc_auc with the config's trainer.loss 'auc'; r2 for a numeric target); roc_auc and "
        "average_precision rank the class probabilities (one-vs-rest, macro; with two classes "
        "the average precision of the rarer); r2, pearson "
        "and spearman are for a numeric target (--task regression)",
    )
    sp.add_argument(
        "--min-cells-per-class",
        type=int,
        default=None,
        help="leave classes with fewer cells out of training (their cells are still "
        "predicted); without it, a class too small for the seeded split is an error; not "
        "for a numeric target",
    )
    sp.add_argument(
        "--group-key",
        default="auto",
        help="obs column whose cells stay in one part of the seeded split (patients, donors); "
        "auto (default): the TCGA patient of samples named by TCGA barcodes (and the GTEx donor "
        "of GTEx samples beside them), so two aliquots or a tumour and its normal never sit in "
        "train and test; none: cells one by one",
    )
    _value_type_option(sp)
    sp.add_argument(
        "--task",
        default="auto",
        choices=list(TASKS),
        help="auto (default): predict a number for a numeric --labels column of values that "
        "are not all whole numbers or of more than 50 distinct values (mean squared error; "
        "the model a Regressor), classes otherwise; classification or regression say which",
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="scautogenome",
        description="AutoGenome on AnnData: AutoML over residual fully-connected networks. "
        "Run 'scautogenome demo' to see the whole flow on bundled data.",
        epilog="Exit status: 0 done; 2 bad input or an error, named in one line before any "
        "work where it can be; 130 interrupted (Ctrl-C); 143 terminated (SIGTERM); 129 hung "
        "up (SIGHUP: its terminal closed; nohup ignores it); 141 the "
        "reader of its output left (a pipe into head; what was written is kept); 1 an "
        "unexpected error (a bug: its traceback is printed).",
    )
    from . import __version__

    p.add_argument("--version", action="version", version=f"scautogenome {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser(
        "classify",
        help="search the best classifier for a label column (or regressor for a numeric one)",
        description="Search MLP / RFCN-ResNet / RFCN-DenseNet (/ RRFCN) "
        "classifiers for a label column, or regressors for a numeric target (--task). Writes "
        "DIR/model, DIR/annotated.h5ad, DIR/metrics.json (test and validation metrics, per "
        "class, the confusion matrix and the kept trial; for a numeric target R2, RMSE, MAE, "
        "Pearson and Spearman) and DIR/report.html; a DIR that holds any of them is refused "
        "unless --overwrite.",
    )
    _inputs(c, model=False)
    c.add_argument("--labels", help=_LABELS_HELP)
    c.add_argument("--out", required=True, type=_path, help="output directory")
    c.add_argument("--mode", default=None, choices=CLASSIFY_MODES, help=_MODE_HELP)
    c.add_argument("--split-key", default=None, help=_SPLIT_HELP)
    c.add_argument(
        "--key-added",
        default="sag",
        help="prefix of what classify writes: obs['KEY_pred'], obs['KEY_split'], "
        "obsm['KEY_proba'], uns['KEY'], and with --explain varm/uns['KEY_shap'] (default: sag; "
        "another one keeps outputs of those names the input holds, its own or an earlier "
        "run's)",
    )
    _classify_options(c)
    _search(c, _CONFIG_HELP)
    c.add_argument(
        "--explain",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also compute SHAP gene importance (default on)",
    )
    c.add_argument(
        "--report",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write DIR/report.html (default on)",
    )
    c.add_argument(
        "--overwrite", action="store_true", help="replace the files of an earlier run in --out"
    )
    _common(c)
    c.set_defaults(func=_classify)

    pr = sub.add_parser(
        "predict",
        help="annotate new cells with a saved model",
        description="Predict classes (or the numeric target) with a saved model; genes are "
        "matched by name (missing ones set to their training mean, reported).",
    )
    _inputs(pr)
    pr.add_argument(
        "--model",
        required=True,
        type=_path,
        help="model directory (classify's DIR/model, or its DIR)",
    )
    pr.add_argument("--out", required=True, type=_path, help="output .h5ad file")
    pr.add_argument("--min-gene-overlap", type=float, default=0.5, help=_OVERLAP_HELP)
    pr.add_argument("--gene-symbols", default=None, metavar="COLUMN", help=_GENE_SYMBOLS_HELP)
    pr.add_argument(
        "--min-confidence",
        type=float,
        default=None,
        help="call cells whose predicted class has a lower probability 'Unassigned' (cell "
        "types the reference lacks); default: every cell gets a class",
    )
    pr.add_argument(
        "--key-added",
        default="sag",
        help="prefix of what predict writes: obs['KEY_pred'], obs['KEY_confidence'], "
        "obsm['KEY_proba'] (a numeric target's model: obs['KEY_pred'], the values), uns['KEY'] "
        "(default: sag; another one keeps the classify run of another model that the input "
        "holds there)",
    )
    pr.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    _common(pr, seed_help=None)
    pr.set_defaults(func=_predict)

    e = sub.add_parser(
        "explain",
        help="SHAP gene importance per class (or of the predicted number)",
        description="Explain a saved model with SHAP (expected gradients): "
        "writes varm['sag_shap'] and the top genes per class (of a numeric target's model: "
        "of its prediction).",
    )
    _inputs(e)
    e.add_argument(
        "--model",
        required=True,
        type=_path,
        help="model directory (classify's DIR/model, or its DIR)",
    )
    e.add_argument("--out", required=True, type=_path, help="output .h5ad file")
    e.add_argument(
        "--cells",
        default="test",
        choices=["test", "val", "train", "all"],
        help="cells to explain: a part of the model's classify split ('test', the default, is "
        "all cells when there is no split; 'val'/'train' need one) or 'all'",
    )
    e.add_argument(
        "--split-key",
        default=None,
        help="obs column with train/val/test: --cells is its part, the background its train "
        "cells (default: the split of the classify run recorded in the input, if any; for "
        "--autogenome 'autogenome_split')",
    )
    e.add_argument(
        "--groupby",
        default=None,
        help="obs column whose values are the model's classes: a cell counts towards the "
        "importance of its class there (default: the labels of the classify run recorded in "
        "the input, as in classify's output .h5ad, else each cell's predicted class)",
    )
    e.add_argument(
        "--n-explain",
        type=int,
        default=500,
        help="at most this many cells explained, drawn per class as evenly as the class sizes "
        "allow (default 500)",
    )
    e.add_argument(
        "--n-background",
        type=int,
        default=None,
        help="background cells, drawn from the training split (default 100, or all the "
        "training cells when fewer)",
    )
    e.add_argument(
        "--nsamples",
        type=int,
        default=200,
        help="draws of (background cell, alpha) per explained cell (default 200)",
    )
    e.add_argument("--n-top", type=int, default=30, help="top genes per class listed (default 30)")
    e.add_argument(
        "--method",
        default="fast",
        choices=["fast", "shap"],
        help="fast: the expected-gradients estimator vectorised in torch (default); shap: "
        "shap.GradientExplainer, the same estimator, much slower",
    )
    e.add_argument("--min-gene-overlap", type=float, default=0.5, help=_OVERLAP_HELP)
    e.add_argument("--gene-symbols", default=None, metavar="COLUMN", help=_GENE_SYMBOLS_HELP)
    e.add_argument(
        "--classify-key",
        default=None,
        help="uns key of the classify run whose layer, labels and split the defaults come from "
        "(classify's key; default: the run recorded for this model, whatever its key)",
    )
    e.add_argument(
        "--key-added",
        default="sag_shap",
        help="key of what explain writes, varm['KEY'] and uns['KEY'] (default: sag_shap; "
        "another one keeps an explanation of another run that the input holds there; "
        "report --shap-key KEY shows it)",
    )
    e.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    _common(e)
    e.set_defaults(func=_explain)

    m = sub.add_parser(
        "embed",
        help="Res-VAE latent space (or that of a saved model, --model)",
        description="Search and train a residual VAE; writes obsm['X_sag_resvae'] (and the "
        "reconstruction with --recon; another key with --key-added). With --model, embeds the "
        "input with that saved model instead (sag.tl.encode: genes matched by name, no "
        "search).",
    )
    _inputs(m)
    m.add_argument("--out", required=True, type=_path, help="output .h5ad file")
    m.add_argument(
        "--model",
        default=None,
        type=_path,
        help="a model directory saved by embed (--model-out): embed the input with it, "
        "without a search",
    )
    m.add_argument(
        "--min-gene-overlap",
        type=float,
        default=None,
        help=_OVERLAP_HELP + "; with --model only",
    )
    m.add_argument(
        "--gene-symbols",
        default=None,
        metavar="COLUMN",
        help=_GENE_SYMBOLS_HELP + "; with --model only",
    )
    m.add_argument(
        "--mode",
        default=None,
        choices=["resvae", "vae"],
        help="resvae: skip connections in encoder and decoder; vae: none (default: the "
        "config's, resvae)",
    )
    m.add_argument(
        "--n-latent",
        type=int,
        default=None,
        help="latent dimensions (default 10; for --autogenome its Res-VAE latent size)",
    )
    m.add_argument(
        "--likelihood",
        default=None,
        choices=["auto", "nb", "zinb", "gaussian", "mse"],
        help="reconstruction likelihood (default auto: nb for raw counts, else gaussian; "
        "for --autogenome with the loss mse: mse)",
    )
    m.add_argument(
        "--beta", type=float, default=None, help="KL weight (default: the config's trainer.beta)"
    )
    m.add_argument(
        "--max-epochs",
        type=int,
        default=None,
        help="the most epochs a trial trains, early stopping ending it sooner (default: the "
        "config's trainer.max_epochs, 100)",
    )
    _value_type_option(m)
    m.add_argument(
        "--recon",
        action="store_true",
        help="store the reconstruction as layers[KEY_recon] (KEY: --key-added): expected counts at each cell's "
        "library size for a count likelihood (nb, zinb); else on the scale the encoder's input "
        "was prepared to: log1p of counts normalized to 1e4, log1p of TPM-like values, the "
        "values as given for logged, scaled or 0/1 data",
    )
    m.add_argument(
        "--labels",
        default=None,
        help="obs column to score the latent space against (sag.tl.embedding_scores; stored "
        "in uns['sag_resvae']['scores'], or under --key-added)",
    )
    m.add_argument(
        "--leiden-seeds",
        type=int,
        default=1,
        help="Leiden runs whose ARI/NMI are averaged for --labels (default 1; one run is "
        "on average 0.03 ARI from the mean of five)",
    )
    m.add_argument(
        "--model-out", default=None, type=_path, help="also save the model in this directory"
    )
    m.add_argument(
        "--batch-key",
        default=None,
        help="obs column of the batches (sample, donor, plate) to correct for, as scVI's "
        "batch_key: the decoder reads each cell's batch, the encoder does not; with --labels "
        "the scores add batch_asw (how well the batches mix, 1 best). With --model: the "
        "query's batches, for --recon and --labels",
    )
    m.add_argument(
        "--transform-batch",
        default=None,
        help="with --model and --recon: decode every cell as this batch of the model's "
        "(scvi-tools' transform_batch) instead of its own",
    )
    m.add_argument(
        "--key-added",
        default="sag_resvae",
        help="key of what embed writes: obsm['X_KEY'], uns['KEY'], layers['KEY_recon'] "
        "(default: sag_resvae; another one keeps the embed run of another model that the input "
        "holds there)",
    )
    m.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out file and --model-out"
    )
    _search(
        m,
        "expert-mode config: a JSON file, or JSON text (default for --autogenome with the "
        "search mode Res-VAE: the one made of its JSON)",
    )
    _common(m)
    m.set_defaults(func=_embed)

    r = sub.add_parser(
        "report",
        help="HTML report of an annotated h5ad",
        description="Write a self-contained HTML report (metrics, confusion "
        "matrix or observed vs predicted values, search history, architecture; or predict's "
        "predicted classes and gene overlap; top genes, latent space).",
    )
    r.add_argument(
        "input", type=_path, help="classify's --out directory or an annotated .h5ad file"
    )
    r.add_argument(
        "--out",
        default=None,
        type=_path,
        help="output .html (default: DIR/report.html for classify's --out directory, which "
        "is regenerated; X.report.html next to an X.h5ad file)",
    )
    r.add_argument(
        "--key",
        default="sag",
        help="uns key of the classify run or of predict's predictions (predict's --key-added; "
        "default: sag)",
    )
    r.add_argument(
        "--shap-key",
        default=None,
        help="uns/varm key of the explanation shown (sag.tl.explain's key_added; default: "
        "KEY_shap of --key KEY where there is one, as classify --key-added writes, else "
        "sag_shap); left out when it explains another run than --key's",
    )
    r.add_argument(
        "--embed-key",
        default="sag_resvae",
        help="key of the latent space, obsm['X_KEY'] (embed's --key-added; default: sag_resvae)",
    )
    r.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    _common(r, seed_help=None, compute=False)
    r.set_defaults(func=_report)

    w = sub.add_parser(
        "worker",
        help="add this machine to a running search",
        description="Run trials of a search kept in an Optuna storage (e.g. "
        "PostgreSQL) so several processes or machines share one study. Use the "
        "same input, --labels, --config, --mode, --metric, --min-cells-per-class, --task, "
        "--group-key and --seed as the classify run and every other worker. Mode rrfcn takes "
        "part with rrfcn.strategy 'optuna' in --config (ENAS runs in one process). A worker "
        "prints the study's best trial from the storage; a classify run on the same --storage and "
        "--study-name collects the search into a model (--n-trials 0: without running more of "
        "it).",
    )
    _inputs(w, model=False)
    w.add_argument("--labels", help=_LABELS_HELP)
    w.add_argument(
        "--storage",
        required=True,
        help="Optuna storage URL shared by all workers, or a journal file (.log / .journal) "
        "on a file system they share",
    )
    w.add_argument(
        "--study",
        "--study-name",
        dest="study",
        required=True,
        help="study name shared by all workers (classify's --study-name)",
    )
    w.add_argument("--mode", default=None, choices=CLASSIFY_MODES, help=_MODE_HELP)
    w.add_argument("--config", default=None, type=_path, help=_CONFIG_HELP)
    w.add_argument("--split-key", default=None, help=_SPLIT_HELP)
    _classify_options(w)
    w.add_argument("--n-trials", type=int, default=None, help="trials this worker runs")
    w.add_argument("--time-budget", type=float, default=None, help="seconds this worker searches")
    _common(
        w,
        seed_help="seed of the split and the training, as classify's (default 0); the points "
        "a worker draws are salted at random, since workers that run at the same time "
        "cannot draw a reproducible sequence",
    )
    w.set_defaults(func=_worker)

    d = sub.add_parser(
        "demo",
        help="the whole flow on scanpy's bundled pbmc68k_reduced",
        description="Classify, explain and embed scanpy's bundled "
        "pbmc68k_reduced (about a minute on 2 CPU cores), print the test "
        "metrics and the top genes, write a report.",
    )
    d.add_argument(
        "--out", default="sag_demo", type=_path, help="output directory (default sag_demo)"
    )
    d.add_argument(
        "--n-trials",
        type=int,
        default=None,
        help=f"classify search trials (default {DEMO_BUDGET['n_trials']})",
    )
    d.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help=f"classify search seconds (default {DEMO_BUDGET['time_budget']:g})",
    )
    d.add_argument("--no-embed", action="store_true", help="skip the Res-VAE step")
    d.add_argument(
        "--overwrite", action="store_true", help="replace the files of an earlier demo in --out"
    )
    _common(d)
    d.set_defaults(func=_demo, seed=0)
    # an abbreviated option (--over for --overwrite) is an error, not a guess: a pipeline's
    # command line stays what it says when options are added
    for parser in (p, *sub.choices.values()):
        parser.allow_abbrev = False
    return p


# argument names of the Python API in messages whose option has another name
_API_NAMES = {
    "labels_key": "--labels",
    "study_name": "--study",
    "clinical_id_column": "--id-column",
}


def _first_file(files: str) -> str:
    """The name of the first file of a message's ``['a.tsv', ...]``, else 'expr.tsv'."""
    import ast

    try:
        return Path(str(ast.literal_eval(files)[0])).name
    except (ValueError, SyntaxError, IndexError, TypeError):
        return "expr.tsv"


def _label_column_example(value: str) -> str:
    """``--label-column NAME`` of a message's ``'NAME'``, quoted for the shell."""
    import ast

    try:
        return f"--label-column {shlex.quote(str(ast.literal_eval(value)))}"
    except (ValueError, SyntaxError):
        return f"--label-column {value}"


# read_tcga's advice in its keyword arguments, which the command line has no option for
# (project_column=, cohort=, a dict of paths), as what a shell user does instead: (pattern,
# replacement, the options the replacement names)
_API_ADVICE = (
    (
        r"gene_symbols=('(?:[^'\\]|\\.)*'|\"[^\"]*\") of sag\.tl\.predict, encode and explain",
        r"--gene-symbols \1",
        ("--gene-symbols",),
    ),
    (
        r"and no clinical_columns=; pass clinical_columns= the variables to put into obs "
        r"\(e\.g\. \[('(?:[^'\\]|\\.)*'|\"[^\"]*\")\]\), or project_column= the column naming "
        r"each patient's project\.",
        lambda m: (
            "and no --label-column; pass --label-column a clinical column to read as the labels "
            f"(e.g. {_label_column_example(m.group(1))}), such as the one that names each "
            "patient's project."
        ),
        ("--label-column",),
    ),
    (
        r"no project code for (\[.*?\]): pass cohort=, a dict \{cohort: path\} or a clinical "
        r"table with a project column\.",
        lambda m: (
            f"no project code for {m.group(1)}: give --labels-table a clinical table with a "
            "project column, or name --table's file after its cohort, its TCGA code first (e.g. "
            f"BRCA.{_first_file(m.group(1))}, as Firehose names its files)."
        ),
        ("--labels-table", "--table"),
    ),
    (
        r"pass cohort= \(or a clinical table with a project column\) if that is wrong\.",
        lambda m: (
            "if that is wrong, give --labels-table a clinical table with a project column, or "
            "rename the file to start with its cohort's TCGA code and a '.' (as Firehose's "
            "BRCA.rnaseqv2__...)."
        ),
        ("--labels-table",),
    ),
    (r"Use read_table for non-TCGA tables\.", "Leave --tcga out for non-TCGA tables.", ("--tcga",)),
)


def _cli_words(msg: str, parser: argparse.ArgumentParser) -> str:
    """``msg`` (a message of the Python API) with the keyword arguments this command has an
    option for named as that option: ``split_key=`` -> ``--split-key``,
    ``min_gene_overlap=0.5`` -> ``--min-gene-overlap 0.5``; advice in arguments the command
    line lacks (``cohort=``) as what it does instead (:data:`_API_ADVICE`)."""
    import re

    options = {
        action.dest: action.option_strings[0]
        for action in parser._actions
        if action.option_strings and action.option_strings[0].startswith("--")
    }
    for pattern, replacement, needs in _API_ADVICE:
        if all(flag in options.values() for flag in needs):
            msg = re.sub(pattern, replacement, msg)
    # the options' own names, and the API's other names of the options this command has
    names = {**options, **{a: f for a, f in _API_NAMES.items() if f in options.values()}}
    for dest, flag in names.items():

        def repl(m, flag=flag, dest=dest):
            eq = m.group(1)
            if eq is None:  # a bare name: only one that cannot be an English word
                return flag if "_" in dest else m.group(0)
            after = m.string[m.end() : m.end() + 2]
            # 'x=.' ends a sentence ('x=.5' is a value)
            ends = after[:1] in ")],;" or (after[:1] == "." and not after[1:].isdigit())
            value_follows = eq == "=" and after[:1].strip() and not ends
            return f"{flag} " if value_follows else flag  # 'x=True' and 'x= (...)': the flag

        # not inside a quoted key (config['budget']['n_trials'] stays the config's key)
        # nor inside a path ('/runs/labels_key/x.h5ad', 'study_name.db')
        msg = re.sub(
            rf"(?<![\w'\"/\\.~-]){re.escape(dest)}(?![\w'\"/\\]|\.\w)(=True\b|=)?", repl, msg
        )
    return msg


def _one_line_warnings(command: str, parser: argparse.ArgumentParser | None = None):
    """Show scautogenome's own Python warnings as one line, as the errors (not file, line and
    source), in the words of the command's ``parser`` (:func:`_cli_words`) where given; others
    as Python shows them. Returns the function to restore."""
    import warnings

    original = warnings.showwarning
    package = Path(__file__).resolve().parent

    def show(message, category, filename, lineno, file=None, line=None):
        try:
            ours = package in Path(filename).resolve().parents
        except (OSError, ValueError):
            ours = False
        if not ours:
            return original(message, category, filename, lineno, file, line)
        text = str(message) if parser is None else _cli_words(str(message), parser)
        print(f"scautogenome {command}: warning: {text}", file=file or sys.stderr)
        return None

    warnings.showwarning = show
    return original


def _log_in_cli_words(parser: argparse.ArgumentParser):
    """Show scautogenome's log lines (its warnings' advice: ``layer='counts'``,
    ``min_gene_overlap=``) in the words of the command's ``parser`` (:func:`_cli_words`), as
    its errors and Python warnings are. Returns the function that restores the formatter."""
    import scautogenome as sag

    from ._logging import LevelFormatter

    class CliWords(LevelFormatter):
        def format(self, record) -> str:
            return _cli_words(super().format(record), parser)

    handler = sag.settings._handler
    original = handler.formatter
    handler.setFormatter(CliWords("%(message)s"))
    return lambda: handler.setFormatter(original)


class _Terminated(KeyboardInterrupt):
    """SIGTERM (a job scheduler's preemption, ``kill``) or SIGHUP (the terminal of a command
    run without nohup closed), raised where Ctrl-C would be, so that a search stops as
    cleanly: the running trial is marked failed (a starting point is rerun on resume), not
    left running until its heartbeat lapses. ``signum``: the signal's number."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def what(self) -> str:
        import signal

        return "hung up (SIGHUP)" if self.signum == signal.SIGHUP else "terminated (SIGTERM)"


def _raise_terminated(signum, frame) -> None:
    raise _Terminated(signum)


def _on_stop_signals(handlers: dict | None = None) -> dict:
    """Install :func:`_raise_terminated` for SIGTERM, and for SIGHUP where its action is the
    default one (not under nohup, which ignores it), where signals can be handled (the main
    thread); returns the previous handlers, which ``handlers`` (such a return) restores."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}
    if handlers is not None:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        return {}
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_terminated)}
    hup = getattr(signal, "SIGHUP", None)  # none on Windows
    if hup is not None and signal.getsignal(hup) is signal.SIG_DFL:
        previous[hup] = signal.signal(hup, _raise_terminated)
    return previous


def _all_written(args, paths: list) -> None:
    """Record that the command wrote all its files (``paths``): an error after this, in its
    summary on stdout (an encoding, a full disk), says so (:func:`_saved_note`)."""
    args.all_written = [str(p) for p in paths]


def _saved_note(args, interrupted: bool = False) -> str:
    """``; DIR holds its ...`` once classify's search is done (what of its results is written),
    embed's ``saved_text`` once it wrote its embedding without the scores, ``; ... written
    whole`` once the command wrote all its files (the error is of its summary), else
    nothing (``interrupted``: by Ctrl-C or SIGTERM, which is no failure of the summary)."""
    if getattr(args, "all_written", None) is not None:
        return f"; the command's files are written whole ({', '.join(args.all_written)})" + (
            "" if interrupted else ": what failed is its summary on stdout"
        )
    if getattr(args, "saved_text", None) is not None:  # embed's, said as it wrote it
        return args.saved_text
    saved = getattr(args, "saved_run", None)
    if saved is None:
        return ""
    files = ", ".join(args.saved_files)
    older = [name for name in getattr(args, "replaced_files", []) if name not in args.saved_files]
    return (
        f"; {saved} holds its {files} (of this run; what is missing: scautogenome explain / "
        "report on them)"
        + (
            f"; its {', '.join(older)} {'is' if len(older) == 1 else 'are'} still of the run "
            "it replaced"
            if older
            else ""
        )
    )


PIPE_CLOSED = 141
"""The exit status when the reader of stdout left (``| head``): a Unix tool's that SIGPIPE
ended (128 + 13)."""


def _stdout_gone() -> bool:
    """Whether stdout is a pipe whose reader has left (poll reports an error on it), not
    another stream that broke (a storage's socket). Where poll cannot tell (Windows), a
    broken pipe is taken for stdout's, as it mostly is."""
    import select

    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a capture of stdout (a test, a notebook)
        return False
    if not hasattr(select, "poll"):
        return True
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(0))


def _stdout_to_devnull() -> None:
    """Point stdout at the null device once its reader has left, so that the interpreter's
    flush at exit does not fail on it again (Python's advice for a closed pipe)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)  # stdout's descriptor is its copy
    except (OSError, ValueError):  # a stdout of no file (a test's capture): nothing to flush
        pass


def _error(args, sub, text: str) -> int:
    """Say the command's error ``text`` in one line on stderr, in the words of its options
    (``sub``: its parser), with what it saved; the exit code of an error, 2."""
    print(
        f"scautogenome {args.command}: error: {_cli_words(text, sub)}{_saved_note(args)}",
        file=sys.stderr,
    )
    return 2


def _run(args, sub) -> int:
    """Run the parsed command; its exit code, with an error, Ctrl-C or SIGTERM said in one
    line on stderr (``sub``: the command's parser, whose option names the errors use)."""
    try:
        _setup(args)
        return args.func(args)
    except BrokenPipeError as e:
        if not _stdout_gone():  # another stream's (a storage's socket): an error as others
            return _error(args, sub, str(e))
        # the reader of stdout left (| head): quiet, as a Unix tool is
        _stdout_to_devnull()
        return PIPE_CLOSED
    except (CLIError, OSError) as e:  # an OSError's args are (errno, text): str() names the path
        return _error(args, sub, str(e))
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        # a UnicodeError's args[0] is only the codec's name ('utf-8'); its str() says more
        msg = str(e.args[0] if e.args and not isinstance(e, UnicodeError) else e)
        return _error(args, sub, msg + _numba_hint(msg))
    except KeyboardInterrupt as e:
        from ._utils import storage_shown

        stored = storage_shown(getattr(args, "storage", None))  # its password masked
        kept = (
            f"; the finished trials are kept in --storage {stored}, where the same command "
            "resumes the search"
            if stored
            else ""
        )
        what = e.what if isinstance(e, _Terminated) else "interrupted"
        if getattr(args, "all_written", None) is not None:
            kept = _saved_note(args, interrupted=True)
        elif getattr(args, "saved_run", None) is not None:
            kept = " after the search" + _saved_note(args)
        elif getattr(args, "saved_text", None) is not None:  # embed's, during the scores
            kept = " after the embedding" + _saved_note(args)
        # stderr may be the terminal that hung up
        with contextlib.suppress(OSError):
            print(f"\nscautogenome {args.command}: {what}{kept}", file=sys.stderr)
        return 128 + e.signum if isinstance(e, _Terminated) else 130


@contextmanager
def _escaping_stdout():
    """stdout escapes what its encoding cannot write (``\\u207a`` for a label's superscript
    plus on an ASCII or Latin-1 terminal, or Windows' cp1252 into a file), as stderr does, for
    the command only: its summary after the work is printed, not an encoding error."""
    stream = sys.stdout
    errors = getattr(stream, "errors", None)
    changed = False
    if errors == "strict" and hasattr(stream, "reconfigure"):
        # a stream that cannot change (detached, closed) is left as it is
        with contextlib.suppress(ValueError, OSError, io.UnsupportedOperation):
            stream.reconfigure(errors="backslashreplace")
            changed = True
    try:
        yield
    finally:
        if changed:
            with contextlib.suppress(ValueError, OSError, io.UnsupportedOperation):
                stream.reconfigure(errors=errors)


def main(argv: list[str] | None = None) -> int:
    import warnings

    parser = build_parser()
    args = parser.parse_args(argv)
    sub = parser._subparsers._group_actions[0].choices[args.command]
    import scautogenome as sag

    original = _one_line_warnings(args.command, sub)
    restore_log = _log_in_cli_words(sub)
    previous_handlers = _on_stop_signals()
    # --quiet, a stderr that is no terminal, --device and --threads change these for the
    # command only (main() called from a notebook or a script leaves them as they were)
    shown = (sag.settings.verbosity, sag.settings.progress_bar, sag.settings.device)
    n_threads = sag.settings.n_threads
    threads = getattr(args, "threads", None) is not None
    with contextlib.ExitStack() as restore:
        restore.enter_context(_escaping_stdout())
        if threads:  # torch's thread count too (imported only then)
            from ._settings import keep_torch_threads

            restore.enter_context(keep_torch_threads())
        try:
            return _run(args, sub)
        finally:
            warnings.showwarning = original
            restore_log()
            sag.settings.verbosity, sag.settings.progress_bar, sag.settings.device = shown
            if threads:  # then torch's own count, as it was (restore)
                sag.settings.n_threads = n_threads
            _on_stop_signals(previous_handlers)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
