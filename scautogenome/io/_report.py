"""A self-contained HTML report of what scautogenome wrote into an AnnData."""

from __future__ import annotations

import base64
import contextlib
import html
import io
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import _keys
from .._keys import UNASSIGNED
from .._settings import logger
from .._utils import (
    check_anndata,
    check_creatable,
    check_key,
    check_path,
    counted,
    is_run_record,
    percent_down,
    run_record_damage,
    write_atomically,
)

if TYPE_CHECKING:
    from anndata import AnnData

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;
color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f4f6f8}td.l,th.l{text-align:left}caption{text-align:left;font-weight:600;padding:.2em 0}
.muted{color:#666;font-size:.9em}.fig{margin:.8em 0}.fig img{max-width:100%;border:1px solid #eee}
.fig.scroll{overflow:auto;max-height:85vh}.fig.scroll img{max-width:none}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.85em}
.kpi{display:inline-block;margin:0 1.4em .6em 0}.kpi b{font-size:1.5em;display:block}
"""


SCROLLED_CLASSES = 30
"""A confusion matrix of more classes than this keeps its size in a box that scrolls: fitted
to the page's width, its labels were unreadable (four times smaller for 117 classes)."""


def _png(fig, alt: str, scroll: bool = False) -> str:
    """``fig`` as an embedded PNG; ``alt`` says what it shows (for those who cannot see it);
    ``scroll``: at its size, in a box that scrolls, not fitted to the page's width."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    alt = html.escape(alt, quote=True)
    box = "fig scroll" if scroll else "fig"
    return f'<div class="{box}"><img alt="{alt}" src="data:image/png;base64,{data}"></div>'


def _figure(plot, *args, alt: str, scroll: bool = False, **kwargs) -> str:
    """Render one sag.pl function to an embedded PNG (``alt``: what it shows; ``scroll``: as
    :func:`_png`); a failing plot becomes a note."""
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    try:
        fig = plot(*args, show=False, return_fig=True, **kwargs)
        if isinstance(fig, list):  # some scanpy-backed plots return a list of axes
            fig = fig[0].figure
        elif not hasattr(fig, "savefig"):
            fig = fig.figure
        # saving may fail too: text matplotlib reads as math ("$\\x$" in a class name)
        return _png(fig, alt, scroll)
    except Exception as e:  # a report shows what it can and says what failed
        for number in set(plt.get_fignums()) - before:  # the failed figure: not left open
            plt.close(number)
        logger.warning("report: %s failed: %s", plot.__name__, e)
        return f'<p class="muted">{html.escape(plot.__name__)} could not be drawn: {html.escape(str(e))}</p>'


def _shown(value, spec: str) -> str:
    """``value`` formatted by ``spec``; the dash where it is undefined (NaN), as in tables."""
    value = float(value)
    return format(value, spec) if np.isfinite(value) else "\u2013"


def _table(header: list[str], rows: list[list], left: int = 1, caption: str = "") -> str:
    """A table of ``header`` (its column headers) over ``rows``, the first ``left`` columns
    aligned left; ``caption`` names it where no heading right above does."""

    def align(i: int) -> str:
        return ' class="l"' if i < left else ""

    th = "".join(
        f'<th scope="col"{align(i)}>{html.escape(str(h))}</th>' for i, h in enumerate(header)
    )
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            # a number to 3 decimals, the dash where undefined (an empty part)
            text = _shown(v, ".3f") if isinstance(v, (float, np.floating)) else str(v)
            cells.append(f"<td{align(i)}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    named = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{named}<thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"


# metrics of how the class probabilities rank the cells, and their names in the report
_RANKING = (("roc_auc", "ROC AUC"), ("average_precision", "average precision"))


def _train_loss(uns) -> str:
    """The kept model's training loss (``"cross_entropy"`` for runs recorded before the loss
    was a setting)."""
    return str(_train_params(uns).get("loss", "cross_entropy"))


def _kpis(uns, figures: list[tuple[str, object]], noun: str = "cells") -> str:
    """The key figures of a classify run: ``figures`` (name, shown value), then the test
    cells (``noun``: what the rows are called), the kept model's mode and the number of
    trials, as :func:`_kpi_spans` shows them."""
    test = uns["metrics"]["test"]
    return _kpi_spans(
        [
            *figures,
            (f"test {noun}", int(test["n"])),
            ("best model", uns.get("best", {}).get("mode", "?")),
            ("trials", len(uns.get("trials", []))),
        ]
    )


def _kpi_spans(figures) -> str:
    """Key figures, (name, shown value) pairs, as the report shows them: each value large
    above its name, a space between the two (for copying and screen readers)."""
    return "".join(
        f'<span class="kpi"><b>{html.escape(str(v))}</b> {html.escape(k)}</span>'
        for k, v in figures
    )


def _run_note(uns, column: str, extra: str = "") -> str:
    """The settings line of a classify run (``column``: what its label column is called)."""
    params = dict(uns.get("params", {}))
    return (
        f'<p class="muted">{column}: <code>{html.escape(str(params.get("labels_key", "?")))}</code>; '
        f"values: {html.escape(str(params.get('value_type', '?')))}; "
        f"search metric: {html.escape(str(params.get('metric', '?')))}; "
        f"device: {html.escape(str(params.get('device', '?')))}; "
        f"search time: {float(uns.get('search_seconds', float('nan'))):.0f} s. The test split was "
        "used once, by the final model; the search only saw the validation split." + extra + "</p>"
    )


def _given(value) -> bool:
    """Whether a recorded call argument was given (call_params records None as "None")."""
    return value is not None and str(value) != "None"


def _data_source(adata: AnnData) -> str:
    """Where the data came from: ``uns['provenance']`` and the files a sag.io reader read
    (``uns['sag_io']``); empty when neither is there."""
    parts = []
    if "provenance" in adata.uns:
        parts.append(str(adata.uns["provenance"]))
    record = adata.uns.get(_keys.IO_KEY)
    if isinstance(record, dict):
        files = []
        for name in ("files", "path", "label_table", "config_path"):
            value = record.get(name)
            if value is None:
                continue
            files += [str(v) for v in np.atleast_1d(np.asarray(value, dtype=object)) if str(v)]
        for name in ("features_files", "labels_files"):  # read_autogenome's {split: path}
            files += [str(v) for v in dict(record.get(name, {})).values() if str(v)]
        if files:
            shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
            parts.append(f"read by sag.io.{record.get('reader', '?')} from {shown}")
    return "; ".join(parts)


def _n_groups(adata: AnnData, used: np.ndarray, grouped_by: str) -> tuple[int | None, int, int]:
    """How many groups the split of the ``used`` rows kept whole (for TCGA patients, the
    patients only), how many rows beside them had names that are no barcodes, and in how
    many groups (GTEx donors, other names); None where the groups cannot be read again (a
    column since removed)."""
    import pandas as pd

    from ..data._split import AUTO_GROUPS, DUPLICATE_GROUPS, not_patients, patient_groups

    if grouped_by == AUTO_GROUPS:
        groups = patient_groups(adata.obs_names[used])
        if groups is None:
            return None, 0, 0
        other = not_patients(groups)
        return len(set(groups[~other])), int(other.sum()), len(set(groups[other]))
    if grouped_by == DUPLICATE_GROUPS:
        return int(adata.obs_names[used].nunique()), 0, 0
    if grouped_by not in adata.obs.columns:
        return None, 0, 0
    values = pd.Series(adata.obs[grouped_by].to_numpy()[used])
    # a missing value: a group of its own
    return int(values.nunique() + values.isna().sum()), 0, 0


def _listed(names: list[str], limit: int = 10) -> str:
    """``names`` joined by commas, the first ``limit`` of many, then how many there are (as
    the log's messages list them)."""
    more = f", ... ({len(names):,} classes in all)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _unused_why(
    adata: AnnData, key: str, unused: np.ndarray, noun: str, regression: bool, params: dict
) -> str:
    """Why the ``unused`` rows of a classify run did not train or score: no label (or target
    value), a class left out for too few rows, or 'none' in the user's split."""
    labels_key = str(params.get("labels_key", ""))
    dropped = [str(c) for c in adata.uns[key].get("dropped_classes", [])]
    reasons, left = [], unused.copy()
    if labels_key in adata.obs.columns:
        labels = adata.obs[labels_key]
        missing = left & labels.isna().to_numpy()
        if missing.any():
            what = "a target value" if regression else "a label"
            reasons.append(f"{int(missing.sum()):,} without {what}")
            left &= ~missing
        small = left & labels.astype(str).isin(dropped).to_numpy()
        if small.any():
            reasons.append(
                f"{int(small.sum()):,} in classes left out of training for too few {noun} "
                f"({_listed(dropped)}; predicted as one of the others)"
            )
            left &= ~small
    if left.any():
        split_key = params.get("split_key")
        reasons.append(
            f"{int(left.sum()):,} put in 'none' by obs[{str(split_key)!r}]"
            if _given(split_key)
            else f"{int(left.sum()):,} for another reason"
        )
    return "; ".join(reasons)


def _split_note(adata: AnnData, key: str, noun: str, regression: bool) -> str:
    """How many cells each part of the split holds and how the split was made."""
    from ..data._split import AUTO_GROUPS, DUPLICATE_GROUPS

    params = dict(adata.uns[key].get("params", {}))
    column = _keys.split_key(key)
    text = ""
    used = np.zeros(adata.n_obs, dtype=bool)
    if column in adata.obs.columns:
        parts = adata.obs[column].astype(str).to_numpy()
        used = np.isin(parts, ("train", "val", "test"))
        counts = [f"{int((parts == p).sum()):,} {p}" for p in ("train", "val", "test")]
        text = f"{' / '.join(counts)} {noun} (obs[{column!r}]), "
        unused = parts == "none"
        if unused.any():
            text += f"{int(unused.sum()):,} {noun} unused ({_unused_why(adata, key, unused, noun, regression, params)}), "
        metrics = adata.uns[key].get("metrics", {})
        ran = {p: metrics.get(p, {}).get("n") for p in ("val", "test")}
        if any(n is not None and int(n) != int((parts == p).sum()) for p, n in ran.items()):
            # a subset of the run's cells: its counts are not the run's (the metrics' n)
            held = " / ".join(f"{int(n):,} {p}" for p, n in ran.items() if n is not None)
            text = (
                f"{' / '.join(counts)} {noun} among these {noun} (obs[{column!r}]; a subset of "
                f"the run's, whose split held {held} {noun}), "
            )
    if _given(params.get("split_key")):
        text += f"as the user's split in obs[{str(params['split_key'])!r}] put them"
        return text + _val_drawn(adata, column, str(params["split_key"]), params, noun) + "."
    if "seed" not in params:
        return text.rstrip(", ") + "."
    by = "bin of the target's values" if regression else "class"
    grouped = params.get("split_groups")
    if _given(grouped):  # whole groups: the shares are those the groups allow
        text += (
            f"drawn at random (seed {params['seed']}) as whole groups, about a tenth of each "
            f"{by}'s groups for val and for test (each part at most a fifth of the groups)"
        )
    else:
        text += f"drawn at random (seed {params['seed']}), about 8:1:1 within each {by}"
    if _given(grouped):
        n, n_other, in_groups = _n_groups(adata, used, str(grouped)) if used.any() else (None, 0, 0)
        what = {
            AUTO_GROUPS: "TCGA patient",
            DUPLICATE_GROUPS: "obs_name",  # the copies of a sample exported twice
        }.get(str(grouped), f"group of obs[{str(grouped)!r}]")
        text += f", the {noun} of each {what}" + (f" ({n:,} in all)" if n is not None else "")
        text += " kept in one part"
        if n_other == in_groups > 0:  # names that are no barcodes, beside the patients
            text += f", the {n_other:,} other {noun} (not named by barcodes) one by one"
        elif n_other:  # GTEx samples of one donor
            text += (
                f", the {n_other:,} other {noun} (not named by barcodes) by GTEx donor, "
                f"{in_groups:,} groups"
            )
    return text + "."


def _val_drawn(adata, column: str, split_key: str, params: dict, noun: str) -> str:
    """Where the run's val cells are not the user's (it had no usable ones): that classify
    drew them from the user's train cells (seeded). Empty otherwise, or where either column
    is gone."""
    obs = adata.obs
    if column not in obs.columns or split_key not in obs.columns:
        return ""
    user = obs[split_key].astype(str).to_numpy()
    # val cells the user's column has not (its own val cells unusable: unlabelled, say)
    if not ((obs[column].astype(str).to_numpy() == "val") & (user != "val")).any():
        return ""
    seed = f"seed {params['seed']}" if "seed" in params else "seeded"
    return f", except the val {noun}, which classify drew from its train {noun} ({seed})"


def _train_params(uns) -> dict:
    """The kept model's training settings (``train_params``, JSON); empty where unreadable."""
    try:
        return dict(json.loads(str(uns.get("train_params", "{}"))))
    except (ValueError, TypeError):
        return {}


def _training_note(uns, train: dict, row) -> str:
    """How the kept model was trained: optimizer, learning rate, batch size, epochs and seed
    (``train``: :func:`_train_params`; ``row``: :func:`_best_row`; ``params['seed']``)."""
    facts = []
    if "optimizer" in train:
        opt = f"{train['optimizer']}"
        extra = [f"lr {float(train['lr']):.3g}"] if "lr" in train else []
        if train.get("optimizer") == "sgd" and "momentum" in train:
            extra.append(f"momentum {float(train['momentum']):.3g}")
        if "weight_decay" in train:
            extra.append(f"weight decay {float(train['weight_decay']):.3g}")
        facts.append(opt + (f" ({', '.join(extra)})" if extra else ""))
    elif "lr" in train:
        facts.append(f"lr {float(train['lr']):.3g}")
    if "batch_size" in train:
        facts.append(f"batch size {train['batch_size']}")
    if row is not None and int(row.get("epochs", -1)) > 0:
        epochs = _epochs_trained(row, train.get("max_epochs"))
        if int(row.get("best_epoch", -1)) >= 0:
            epochs += f" (best at epoch {int(row['best_epoch']) + 1})"
        facts.append(epochs)
    if "patience" in train:
        facts.append(f"early-stopping patience {train['patience']}")
    seed = dict(uns.get("params", {})).get("seed")
    if _given(seed):
        facts.append(f"run seed {seed}")
    if made := _trained_with(uns):
        facts.append(made)
    if not facts:
        return ""
    trial = f" (trial {int(row['number'])})" if row is not None else ""
    return f"kept model{trial}: " + ", ".join(facts) + "."


def _trained_with(uns) -> str:
    """ "trained with scautogenome X, torch Y": the versions a run recorded (empty for a run
    that recorded none); the report's own version is in its header."""
    made = dict(uns.get("versions", {}))
    if "scautogenome" not in made:
        return ""
    torch = f", torch {made['torch']}" if "torch" in made else ""
    return f"trained with scautogenome {made['scautogenome']}{torch}"


def _best_row(uns):
    """The ``trials`` row of the kept model's trial, or None."""
    trials = uns.get("trials")
    best = dict(uns.get("best", {})).get("trial")
    if trials is None or best is None or "number" not in trials:
        return None
    rows = trials[trials["number"].astype(int) == int(best)]
    return None if rows.empty else rows.iloc[0]


def _cut_short(row) -> bool:
    """Whether the trial of ``row`` (of ``trials``) ended inside an epoch: the time budget, or
    its share of it, stopped it and its record does not say it stopped at an epoch's end (its
    ``epochs`` then count the cut one)."""
    if str(row.get("stopped", "")) not in ("time_budget", "trial_cap"):
        return False
    cut = row.get("cut_batches")  # -1: not recorded (a trial of an earlier version)
    return not (cut is not None and np.isfinite(float(cut)) and int(cut) == 0)


def _epochs_trained(row, max_epochs) -> str:
    """The epochs the best trial's row of ``trials`` (``row``) trained, counted as
    :func:`~scautogenome.search._study.warn_if_cut` counts them in the log: where the time
    budget (or its share of it) stopped it, its ``epochs`` count the one cut short too, so
    that the whole epochs are one fewer, and the minibatches of the cut one are named where
    the row has them (``cut_batches``; else it is "part or all of the next": the budget may
    have run out as that epoch was validated)."""
    n = int(row["epochs"])
    of = f" of at most {max_epochs}" if max_epochs is not None else ""
    if not _cut_short(row):
        return f"{n} epochs{of}"
    cut = row.get("cut_batches")
    if cut is not None and np.isfinite(float(cut)) and float(cut) > 0:
        return f"{n - 1} whole epochs{of} and {int(cut)} minibatches of the next"
    if n <= 1:
        return f"part or all of its first epoch{f' ({of.strip()})' if of else ''}"
    return f"{n - 1} whole epochs{of} and part or all of the next"


def _cut_note(train: dict, row) -> str:
    """The warning classify logged when the kept model's training was cut by the time budget,
    or by its share of it, before it converged (:func:`~scautogenome.search._study.warn_if_cut`),
    from the best trial's row of ``trials`` (``row``) and the training settings (``train``);
    empty otherwise."""
    stopped = "" if row is None else str(row.get("stopped", ""))
    if stopped not in ("time_budget", "trial_cap"):
        return ""
    where = "the time budget"
    if stopped == "trial_cap":
        where = "its share of the time budget (max_trial_fraction)"
    return (
        f"<p><b>Under-trained:</b> the kept model stopped at {where} after "
        f"{float(row['seconds']):.0f} s, {_epochs_trained(row, train.get('max_epochs'))}, "
        "before it converged; a larger time_budget gives a better model.</p>"
    )


def _run_facts(adata: AnnData, key: str, noun: str, regression: bool) -> str:
    """What a reader needs to judge a classify run: the split, the kept model's training and
    whether it was cut short (the data's source is in the report's header, of any report)."""
    uns = adata.uns[key]
    train, row = _train_params(uns), _best_row(uns)  # read once for both notes
    lines = [
        ("Split", _split_note(adata, key, noun, regression)),
        ("Training", _training_note(uns, train, row)),
    ]
    items = "".join(f"<li><b>{name}:</b> {html.escape(text)}</li>" for name, text in lines if text)
    return (f'<ul class="muted">{items}</ul>' if items else "") + _cut_note(train, row)


_BY_SPLIT = "Metrics by split"
"""The caption of a classify run's table of test and validation metrics (no heading is
right above it)."""

FEW_TEST_CELLS = 50
"""Fewer test cells than this: the report says how uncertain the test metrics are."""


def _validation_flatters(val, noun: str) -> str:
    """Why the validation row is no estimate: the search chose on it (empty without one)."""
    if not val:
        return ""
    return (
        f'<p class="muted">The validation {noun} are those the search chose the model and '
        f"its epoch on, so their figures flatter it; the test {noun} were scored once, by the "
        "final model: theirs are the estimate.</p>"
    )


def _classes_not_validated(val, classes: list[str], noun: str) -> str:
    """A note on the classes without a validation cell (``val``: the run's validation
    metrics), as classify warns of them for a user's split: the search chose its model
    without validating them. Empty where every class has one, or there is no validation."""
    support = np.asarray(dict(val.get("per_class", {})).get("support", []), dtype=float)
    if support.shape != (len(classes),) or not support.any():
        return ""
    lacking = [c for c, n in zip(classes, support) if n == 0]
    if not lacking:
        return ""
    one = len(lacking) == 1
    return (
        f"<p><b>{len(lacking):,} of the {len(classes):,} classes {'has' if one else 'have'} "
        f"no validation {noun[:-1]}</b> ({html.escape(_listed(lacking))}): the search "
        f"chose its model without validating {'it' if one else 'them'}.</p>"
    )


def _few_test_cells(test, accuracy: bool, noun: str = "cells") -> str:
    """A note on a small test split: how much one cell (``noun``: what the rows are called)
    weighs and, for classes, the 95% Wilson interval of the test accuracy; empty for a test
    split of :data:`FEW_TEST_CELLS` cells or more."""
    n = int(test.get("n", 0))
    if not 0 < n < FEW_TEST_CELLS:
        return ""
    one = noun[:-1]  # "cell", "sample"
    text = f"<p><b>Only {n} test {noun}:</b> "
    if accuracy:
        from scipy.stats import binomtest

        k = round(float(test["accuracy"]) * n)
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        text += (
            f"one {one} moves the accuracy by {100 / n:.0f}%, and the 95% interval of the test "
            f"accuracy is {ci.low:.2f}\u2013{ci.high:.2f} (Wilson). "
        )
    else:
        text += f"each {one} weighs much in the test metrics. "
    return text + f"Read them as rough; more {noun}, or a larger test part, make them firm.</p>"


def _few_test_cells_per_class(test, classes: list[str], noun: str = "cells") -> str:
    """A note on the classes with 1 or 2 test cells (``noun``: what the rows are called), as
    :func:`~scautogenome.tl.classify` warns of them: one cell moves such a class's F1 by a
    third or more, however many test cells there are in all. Empty where there are none
    (classes without a test cell are :func:`_classes_scored`'s)."""
    from ..tools._utils import few_test_classes

    n_few, named, bound = few_test_classes(test, classes)
    if not n_few:
        return ""
    return (
        f"<p><b>{n_few:,} of the {len(classes):,} classes have 1 or 2 test {noun}</b> "
        f"({html.escape(named)}): one {noun[:-1]} can move such a class's test F1 by a third "
        f"or more, and the macro-F1 by up to {bound:.2f}. Read "
        f"their test figures as rough; more {noun}, or split_key= with a larger test part, "
        "make them firm.</p>"
    )


def _classify_section(adata: AnnData, key: str) -> list[str]:
    from .. import plotting as pl
    from ..data._checks import obs_noun
    from ..plotting._classify import is_regression

    uns = adata.uns[key]
    if is_regression(uns):
        return _regression_section(adata, key)
    noun = obs_noun(adata)
    out = ["<h2>Classification</h2>"]
    test = uns["metrics"]["test"]
    val = uns["metrics"].get("val", {})
    out.append(
        _kpis(
            uns,
            [
                # the dash where undefined (ROC AUC of a test split of one class), as in tables
                ("test accuracy", _shown(test["accuracy"], ".3f")),
                ("test macro-F1", _shown(test["macro_f1"], ".3f")),
                *([("test ROC AUC", _shown(test["roc_auc"], ".3f"))] if "roc_auc" in test else []),
            ],
            noun,
        )
    )
    out.append(
        _run_note(
            uns,
            "labels",
            " Trained with the AUC loss (a pairwise ROC AUC surrogate); its probabilities were "
            "calibrated on the validation split, and the validation loss of its trained "
            "trials below is that pairwise loss."
            if _train_loss(uns) == "auc"
            else "",
        )
    )
    out.append(_run_facts(adata, key, noun, regression=False))
    # runs recorded before ROC AUC and average precision were have neither
    summary = [("accuracy", "accuracy"), ("macro_f1", "macro-F1")]
    summary += [("balanced_accuracy", "balanced accuracy")]
    summary += [(k, name) for k, name in _RANKING if k in test]
    rows = [
        [part, *(m[k] for k, _ in summary), int(m["n"])]
        for part, m in (("test", test), ("validation", val))
        if m
    ]
    out.append(_table(["split", *(name for _, name in summary), noun], rows, caption=_BY_SPLIT))
    out.append(_validation_flatters(val, noun))
    out.append(_classes_not_validated(val, [str(c) for c in uns["classes"]], noun))
    out.append(_few_test_cells(test, accuracy=True, noun=noun))
    out.append(_few_test_cells_per_class(test, [str(c) for c in uns["classes"]], noun))
    out.append(_classes_scored(uns, noun))
    out.append(_called_again(adata, key, noun))
    out.append(_predict_warnings(uns, later=True))
    pc = test["per_class"]
    classes = [str(c) for c in uns["classes"]]
    per_class = [("precision", "precision"), ("recall", "recall"), ("f1", "F1")]
    per_class += [(k, name) for k, name in _RANKING if k in pc]
    out.append("<h3>Per class (test)</h3>")
    out.append(
        _table(
            ["class", *(name for _, name in per_class), "support"],
            [
                [c, *(pc[k][i] for k, _ in per_class), int(pc["support"][i])]
                for i, c in enumerate(classes)
            ],
        )
    )
    if any(k in pc for k, _ in _RANKING):
        out.append(
            '<p class="muted">ROC AUC and average precision (the area under the '
            f"precision-recall curve) rank the {noun} by each class's probability, one class "
            f"against the rest; \u2013 where the test split has no {noun[:-1]} of the class."
            f"{_ap_of_two(test, classes, noun)}</p>"
        )
    out.append("<h3>Confusion matrix (test, rows = true class)</h3>")
    alt = f"Confusion matrix of the test {noun}, {len(classes):,} classes"
    scroll = len(classes) > SCROLLED_CLASSES
    out.append(_figure(pl.confusion_matrix, adata, key=key, alt=alt, scroll=scroll))
    return out + _search_parts(adata, key)


def _ap_of_two(test, classes: list[str], noun: str) -> str:
    """The sentence naming the class whose average precision a two-class run's summary
    shows: the rarer in each part (empty for other runs, and for runs recorded when the
    figure was the mean of both classes')."""
    from ..train._metrics import average_precision_class

    pc = test["per_class"]
    c = average_precision_class(pc["support"]) if "average_precision" in pc else None
    if c is None or not np.isclose(
        test.get("average_precision", np.nan), pc["average_precision"][c]
    ):
        return ""
    n = [int(v) for v in pc["support"]]
    which = (
        f"{classes[c]!r}, sklearn's positive label (both classes have {n[0]:,} test {noun})"
        if n[0] == n[1]
        else f"{classes[c]!r}, the class with fewer test {noun}"
    )
    return html.escape(
        f" The test average precision in the summary is that of {which}: a model ranking at "
        "random scores about its share (the validation figure is that of the class rarer "
        "there).",
        quote=True,
    )


def _classes_scored(uns, noun: str) -> str:
    """Which classes the test macro-F1 and balanced accuracy average over, where some of the
    model's classes have no test cell (sklearn's: macro-F1 over the classes present or
    predicted, those predicted but absent scoring 0; balanced accuracy over those present).
    Empty where every class has test cells."""
    cm = np.asarray(uns.get("confusion", []), dtype=float)
    n_classes = len(uns.get("classes", []))
    if cm.shape != (n_classes, n_classes) or n_classes == 0:
        return ""
    present = cm.sum(1) > 0
    if present.all() or not present.any():
        return ""
    predicted_only = ~present & (cm.sum(0) > 0)
    return (
        f'<p class="muted">{int((~present).sum()):,} of the {n_classes:,} classes have no test '
        f"{noun[:-1]}. Macro-F1 averages over the {int((present | predicted_only).sum()):,} "
        f"classes in the test split or predicted there ({int(predicted_only.sum()):,} of them "
        f"predicted but absent, each scoring 0); balanced accuracy over the "
        f"{int(present.sum()):,} in the test split. The others are not scored.</p>"
    )


def _min_confidence(record) -> float | None:
    """The ``min_confidence`` of the prediction recorded in ``record`` (its
    ``predict_params``); None where it gave none (h5ad keeps a None as the text "None")."""
    params = record.get("predict_params", {})
    given = params.get("min_confidence") if isinstance(params, dict) else None
    return float(given) if isinstance(given, (int, float, np.number)) else None


def _called_again(adata: AnnData, key: str, noun: str) -> str:
    """A note where :func:`~scautogenome.tl.predict` called the run's cells again (its
    ``predict_params`` in the classify record): the metrics and the matrix are of the classify
    run's calls, which the ``obs`` column may no longer hold (with ``min_confidence``, it holds
    "Unassigned" now). Empty otherwise."""

    given = _min_confidence(adata.uns[key])
    pred_col = _keys.pred_key(key)
    if "predict_params" not in adata.uns[key] or pred_col not in adata.obs.columns:
        return ""
    labels_key = dict(adata.uns[key].get("params", {})).get("labels_key")
    call = f"sag.pl.confusion_matrix(adata, labels_key={str(labels_key)!r}"
    call += ")" if key == _keys.CLASSIFY_KEY else f", key={key!r})"
    if given is None:  # the same model's calls of other values, maybe
        return (
            f'<p class="muted">obs[{html.escape(repr(pred_col))}] was replaced by '
            "sag.tl.predict after this run. The metrics and the confusion matrix here are of "
            "the run's own calls, which obs may no longer hold; "
            f"<code>{html.escape(call)}</code> scores the calls in obs on the test split.</p>"
        )
    unsure = (adata.obs[pred_col].astype(str) == UNASSIGNED).to_numpy()
    split_col = _keys.split_key(key)
    in_test = ""
    if split_col in adata.obs.columns:
        test = (adata.obs[split_col].astype(str) == "test").to_numpy()
        in_test = f" ({int((unsure & test).sum()):,} of the {int(test.sum()):,} test {noun})"
    return (
        f'<p class="muted">obs[{html.escape(repr(pred_col))}] was called again by '
        f"sag.tl.predict with min_confidence={given:g} after this run: "
        f"{int(unsure.sum()):,} {noun}{in_test} are {html.escape(repr(UNASSIGNED))}. The "
        f"metrics and the confusion matrix here are of the run's own calls (every {noun[:-1]} "
        f"its most probable class); <code>{html.escape(call)}</code> scores the calls in obs "
        "on the test split.</p>"
    )


def _predicted_again(adata: AnnData, key: str) -> str:
    """A note where :func:`~scautogenome.tl.predict` wrote the predicted values of a numeric
    target's run again after it (its ``predict_params`` in the classify record): the metrics
    are of the run's own predictions, the plot of the values in ``obs`` now. Empty
    otherwise."""
    pred_col = _keys.pred_key(key)
    if "predict_params" not in adata.uns[key] or pred_col not in adata.obs.columns:
        return ""
    return (
        f'<p class="muted">obs[{html.escape(repr(pred_col))}] was replaced by sag.tl.predict '
        "after this run: the metrics here are of the run's own predictions, which obs may no "
        "longer hold; the plot below, and the R\u00b2 and RMSE in its title, are of the values "
        "in obs now.</p>"
    )


def _search_parts(adata: AnnData, key: str) -> list[str]:
    """What every classify run's section ends with: the search history, the best trials and
    the kept architecture."""
    from .. import plotting as pl

    uns = adata.uns[key]
    out = ["<h3>Search history</h3>"]
    alt = "Search history: the validation score of each trial and the best so far, by mode"
    out.append(_figure(pl.search_history, adata, key=key, alt=alt))
    trials = uns.get("trials")
    if trials is not None and len(trials):
        # as the search ranks them: higher score, then lower validation loss, then earlier
        ascending = {"value": False, "val_loss": True, "number": True}
        by = [c for c in ascending if c in trials]
        top = trials.sort_values(by, ascending=[ascending[c] for c in by], na_position="last").head(
            10
        )
        out.append("<h3>Best trials</h3>")
        out.append(
            _table(
                [
                    "trial",
                    "mode",
                    "state",
                    "val score",
                    "val loss",
                    "epochs",
                    "parameters",
                    "seconds",
                ],
                [
                    [
                        int(r["number"]),
                        r["mode"],
                        r["state"],
                        float(r["value"]),
                        float(r.get("val_loss", float("nan"))),  # breaks ties of the score
                        # whole epochs, as the Training line counts them; "+": and a cut one
                        f"{int(r['epochs']) - 1}+" if _cut_short(r) else int(r["epochs"]),
                        f"{int(r['n_params']):,}",
                        float(r["seconds"]),
                    ]
                    for _, r in top.iterrows()
                ],
            )
        )
        out.append(_cut_trials_note(top))
    out.append("<h3>Architecture of the best model</h3>")
    alt = "The best model's architecture, drawn as a graph of its layers"
    out.append(_figure(pl.architecture, adata, key=key, alt=alt))
    arch = json.loads(uns["architecture"]) if "architecture" in uns else {}
    out.append(f"<pre>{html.escape(json.dumps(arch, indent=1))}</pre>")
    return out


def _cut_trials_note(top) -> str:
    """What the "+" of the Best-trials table's epochs means (``top``: its rows), where a trial
    among them ended inside an epoch; empty otherwise."""
    cut = [r for _, r in top.iterrows() if _cut_short(r)]
    if not cut:
        return ""
    n = int(cut[0]["epochs"]) - 1
    # a record of an earlier version does not say how much of the last epoch ran
    unknown = not all(float(r.get("cut_batches", -1)) > 0 for r in cut)  # NaN too
    return (
        f'<p class="muted">Epochs with + (as {n}+): that many whole epochs and '
        f"part{' or all' if unknown else ''} of the next, cut by the time budget or by a "
        "trial\u2019s share of it (max_trial_fraction).</p>"
    )


# a numeric target's metrics: key in uns, name in the report, format (None for RMSE and MAE,
# in the target's units, which may be of any size: see _in_units)
_REGRESSION = (
    ("r2", "R\u00b2", ".3f"),
    ("rmse", "RMSE", None),
    ("mae", "MAE", None),
    ("pearson", "Pearson", ".3f"),
    ("spearman", "Spearman", ".3f"),
)


def _in_units(values) -> str:
    """The format of a column of figures in the target's units (``values``: the column's):
    as many decimals for each as give its largest 4 significant digits (555.0 and 583.3;
    12346 and 9877), never scientific notation."""
    finite = np.abs([float(v) for v in values if np.isfinite(float(v))])
    largest = float(finite.max()) if finite.size else 0.0
    if largest == 0:
        return ".3f"
    return f".{max(0, 3 - int(np.floor(np.log10(largest))))}f"


def _regression_section(adata: AnnData, key: str) -> list[str]:
    """The section of a classify run that predicted a numeric target."""
    from .. import plotting as pl
    from ..data._checks import obs_noun
    from ..plotting._classify import regression_target

    uns = adata.uns[key]
    noun = obs_noun(adata)
    out = ["<h2>Regression</h2>"]
    test = uns["metrics"]["test"]
    val = uns["metrics"].get("val", {})
    parts = [(part, m) for part, m in (("test", test), ("validation", val)) if m]
    # each figure of a column alike: those in the target's units by the largest of the column
    specs = {k: spec or _in_units(m[k] for _, m in parts) for k, _, spec in _REGRESSION}
    out.append(
        _kpis(
            uns,
            [
                ("test R\u00b2", _shown(test["r2"], ".3f")),
                ("test RMSE", _shown(test["rmse"], specs["rmse"])),
                ("test Spearman", _shown(test["spearman"], ".3f")),
            ],
            noun,
        )
    )
    out.append(_run_note(uns, "numeric target"))
    out.append(_run_facts(adata, key, noun, regression=True))
    rows = [
        [part, *(_shown(m[k], specs[k]) for k, _, _ in _REGRESSION), int(m["n"])]
        for part, m in parts
    ]
    header = ["split", *(name for _, name, _ in _REGRESSION), noun]
    out.append(_table(header, rows, caption=_BY_SPLIT))
    out.append(_validation_flatters(val, noun))
    out.append(_few_test_cells(test, accuracy=False, noun=noun))
    out.append(_predicted_again(adata, key))
    out.append(_predict_warnings(uns, later=True))
    out.append(
        '<p class="muted">R\u00b2: the share of the values\u2019 variance the predictions '
        "explain (0 is predicting the mean, negative worse); RMSE and MAE: root mean squared "
        "and mean absolute error, in the target\u2019s units; Pearson and Spearman: "
        "correlation of the predicted with the observed values (linear and by rank); \u2013 "
        "where undefined.</p>"
    )
    out.append("<h3>Observed vs predicted (test)</h3>")
    alt = f"Observed vs predicted {regression_target(uns)} of the test {noun}"
    out.append(_figure(pl.regression, adata, key=key, alt=alt))
    return out + _search_parts(adata, key)


def _left_out(heading: str, why: str) -> str:
    """A section the report leaves out (a record that is no whole one): its ``heading`` and
    ``why``, said in the log too."""
    logger.warning("%s It is left out of the report.", why)
    return f'{heading}<p class="muted">{html.escape(why)} It is not shown.</p>'


def _explain_heading(target: str | None) -> str:
    """The heading of an explanation: of the classes, or of the one predicted ``target``."""
    if target is None:
        return "<h2>Genes that drive each class (SHAP)</h2>"
    return f"<h2>Genes that drive the predicted {html.escape(target)} (SHAP)</h2>"


# classes whose SHAP distribution the report draws (the others are named)
MAX_DISTRIBUTIONS = 12


def _explain_section(adata: AnnData, shap_key: str, n_top: int = 10) -> list[str]:
    from .. import plotting as pl

    uns = adata.uns[shap_key]
    columns = [str(c) for c in uns["columns"]]
    genes = np.asarray(uns["top_genes"])
    # the last column is the mean over the classes ("overall", unless a class is named so)
    outputs = [str(c) for c in uns.get("classes", columns[:-1])]
    if len(outputs) == 1:  # a model of one output (a numeric target)
        return _explain_one_output(adata, shap_key, outputs[0], genes[0], n_top)
    from ..data._checks import obs_noun

    noun = obs_noun(adata)
    out = [
        _explain_heading(None),
        f'<p class="muted">Mean absolute SHAP value over the explained {noun} of each class, '
        "on the model's input scale (after its transform). Candidate markers, not proof.</p>",
        _explained_cells(uns, noun),
    ]
    n_cells = dict(zip(outputs, np.asarray(uns.get("n_cells", [1] * len(outputs))).tolist()))
    # a class none of whose cells was explained has no genes (shap_df would warn of it)
    top = _top_genes(adata, shap_key, [c for c in columns if n_cells.get(c, 1) > 0], n_top)
    rows = [[c, top.get(c, "")] for c in columns]
    out.append(_table(["class", f"top {n_top} genes"], rows, left=2))
    out.append(_genes_taken_out(adata, genes[:, :n_top]))
    alt = "Top genes by mean absolute SHAP value, one stacked bar segment per class"
    out.append(_figure(pl.importance, adata, key=shap_key, alt=alt))
    # a class none of whose cells was explained (a query without it) has no distribution;
    # past MAX_DISTRIBUTIONS, those of the most explained cells (ties in class order)
    drawn = [c for c in outputs if n_cells.get(c, 1) > 0]
    drawn.sort(key=lambda c: -n_cells.get(c, 1))  # stable: the class order within a count
    # at most the genes explain kept per class (its n_top, or a panel of fewer genes): more
    # asked each plot to warn of them
    n_shown = max(1, min(15, genes.shape[1]))
    for c in drawn[:MAX_DISTRIBUTIONS]:
        out.append(f"<h3>{html.escape(c)}</h3>")
        alt = f"SHAP values of the top {n_shown} genes of {c} in each explained {noun[:-1]}"
        out.append(_figure(pl.shap_summary, adata, c, key=shap_key, n_top=n_shown, alt=alt))
    if len(drawn) > MAX_DISTRIBUTIONS:
        more = drawn[MAX_DISTRIBUTIONS:]
        out.append(
            f'<p class="muted">{len(more)} more classes are not drawn here ('
            + ", ".join(html.escape(c) for c in more[:10])
            + (", ..." if len(more) > 10 else "")
            + f"); <code>sag.pl.shap_summary(adata, CLASS, key={html.escape(repr(shap_key))})"
            "</code> draws any of them.</p>"
        )
    absent = [c for c in outputs if c not in drawn]
    if absent:
        out.append(
            f'<p class="muted">No explained {noun[:-1]} of '
            + ", ".join(html.escape(c) for c in absent)
            + ": no distribution to show.</p>"
        )
    return out


def _explained_cells(uns, noun: str) -> str:
    """Which cells an explanation explained, how they were grouped and against which
    background, from its ``params`` (empty for a record without them)."""
    params = dict(uns.get("params", {}))
    if not all(k in params for k in ("cells", "n_explain", "n_background", "nsamples")):
        return ""
    cells = str(params["cells"])
    part = (
        f"{cells} " if cells in ("test", "val", "train") and _given(params.get("split_key")) else ""
    )
    text = f"Explained: {int(params['n_explain']):,} {part}{noun}"
    if cells == "custom":
        text += " chosen by the call's cells= argument"
    groupby = str(params.get("groupby", ""))
    if groupby == "predicted class":
        text += ", each counted towards its predicted class"
    elif _given(groupby) and groupby != "all cells":  # "all cells": a numeric target's
        text += f", each counted towards its class in obs[{groupby!r}]"
    background = "training " if params.get("background_from") == "training" else ""
    text += f", against {int(params['n_background']):,} {background}{noun} (the background)"
    text += f", {int(params['nsamples']):,} draws per {noun[:-1]}."
    return f'<p class="muted">{html.escape(text)}</p>'


def _top_genes(adata: AnnData, shap_key: str, columns: list[str], n_top: int) -> dict[str, str]:
    """The first ``n_top`` genes of each of ``columns`` of the explanation, as
    :func:`sag.get.shap_df <scautogenome.get.shap_df>` ranks them (genes no longer in
    ``adata`` left out, as the plots leave them out), joined by commas."""
    from ..get import shap_df

    table = shap_df(adata, columns, key=shap_key, n_top=n_top)
    if len(columns) == 1:  # one group's table has no group column
        table = table.assign(group=columns[0])
    names = table["names"].astype(str)
    return {c: ", ".join(names[(table["group"] == c).to_numpy()]) for c in columns}


def _genes_taken_out(adata: AnnData, recorded: np.ndarray) -> str:
    """A note where genes among the top genes explain recorded (``recorded``) are no longer
    in ``adata.var_names`` (taken out since sag.tl.explain): the table lists the others.
    Empty otherwise."""
    names = {str(g) for g in np.ravel(recorded) if str(g)}
    gone = sorted(names - set(adata.var_names.astype(str)))
    if not gone:
        return ""
    return (
        f'<p class="muted">{len(gone)} of the top genes sag.tl.explain ranked are no longer in '
        "adata.var_names (taken out since) and are not listed: "
        f"{html.escape(', '.join(gone[:10]))}{', ...' if len(gone) > 10 else ''}.</p>"
    )


def _explain_one_output(
    adata: AnnData, shap_key: str, target: str, genes: np.ndarray, n_top: int
) -> list[str]:
    """The explanation of a model of one output: its top genes (its ``overall`` column is the
    same), their importance and their SHAP values in the explained cells."""
    from .. import plotting as pl
    from ..data._checks import obs_noun

    noun = obs_noun(adata)
    out = [
        _explain_heading(target),
        '<p class="muted">Mean absolute SHAP value of the predicted value over the explained '
        f"{noun}, on the model's input scale (after its transform). Candidate "
        "markers, not proof.</p>",
        _explained_cells(adata.uns[shap_key], noun),
    ]
    row = [target, _top_genes(adata, shap_key, [target], n_top)[target]]
    out.append(_table(["target", f"top {n_top} genes"], [row], left=2))
    out.append(_genes_taken_out(adata, genes[:n_top]))
    alt = f"Top genes by mean absolute SHAP value of the predicted {target}"
    out.append(_figure(pl.importance, adata, group=target, key=shap_key, alt=alt))
    n_shown = max(1, min(15, len(genes)))  # at most the genes explain kept
    alt = (
        f"SHAP values of the top {n_shown} genes of the predicted {target} in each explained "
        f"{noun[:-1]}"
    )
    out.append(_figure(pl.shap_summary, adata, target, key=shap_key, n_top=n_shown, alt=alt))
    return out


@contextlib.contextmanager
def _column_types_kept(adata: AnnData):
    """Leave the column types of ``obs`` and ``var`` as they were: scanpy's embedding plot
    makes every text column of both categorical (anndata's ``strings_to_categoricals``), those
    the report never names too."""
    kept = {name: getattr(adata, name).dtypes.copy() for name in ("obs", "var")}
    try:
        yield
    finally:
        for name, dtypes in kept.items():
            frame = getattr(adata, name)
            for column, dtype in dtypes.items():
                if column in frame.columns and frame[column].dtype != dtype:
                    frame[column] = frame[column].astype(dtype)


def _embedding_section(adata: AnnData, basis: str, color: str | None) -> list[str]:
    from .. import plotting as pl
    from ..data._checks import obs_noun
    from ..tools._embed import recon_key  # lazily: loads torch
    from ..tools._utils import is_encode_record

    noun = obs_noun(adata)
    n_dims = adata.obsm[basis].shape[1]
    run = adata.uns.get(basis[2:], {}) if basis.startswith("X_") else {}
    active = run.get("active_dims") if isinstance(run, dict) else None
    encoded = is_encode_record(run)  # a query embedded with a saved model: nothing trained
    dims = f"{n_dims} dimensions"
    if active is not None:
        dims += f", {int(active)} of them varying across {noun}"
    shown = "UMAP of"
    if n_dims == 2:  # sag.pl.embedding draws it as it is
        shown, dims = "The", f"{dims}, drawn as it is"
    out = [
        "<h2>Latent space</h2>",
        f'<p class="muted">{shown} <code>obsm[{html.escape(basis)!r}]</code> ({dims}).</p>',
    ]
    overlap = dict(run.get("gene_overlap", {})) if isinstance(run, dict) else {}
    if overlap:
        digest = str(run.get("model_digest", ""))[:12]
        out.append(
            '<p class="muted">Embedded with a saved model by <code>sag.tl.encode</code>'
            + (f" (weights digest {html.escape(digest)})" if digest and encoded else "")
            + f": the {noun} had {_genes_had(overlap)}; {_missing_genes(overlap)}.</p>"
        )
    if active is not None and int(active) < n_dims / 2:
        out.append(
            f"<p>Fewer than half of the latent dimensions vary across these {noun}: a query of "
            f"few {noun}, or of one {'cell type' if noun == 'cells' else 'class'}, varies "
            "along few of them.</p>"
            if encoded
            else "<p><b>Posterior collapse:</b> fewer than half of the latent dimensions vary "
            f"across {noun}, so the embedding carries little information (see the warning of "
            "<code>sag.tl.embed</code>).</p>"
        )
    scores = run.get("scores") if isinstance(run, dict) else None
    scored = str(scores.get("basis", basis)) if isinstance(scores, dict) else basis
    if scored != basis:  # embedding_scores(key_added=) of another basis: not this latent's
        out.append(
            f"<p class=\"muted\">The scores in <code>uns[{html.escape(basis[2:])!r}]['scores']"
            f"</code> were computed on <code>obsm[{html.escape(scored)!r}]</code>, not on this "
            "latent, so they are not shown.</p>"
        )
    elif isinstance(scores, dict) and "labels_key" in scores:
        names = [
            ("ari", "ARI"),
            ("nmi", "NMI"),
            ("davies_bouldin", "Davies-Bouldin"),
            ("davies_bouldin_tsne", "Davies-Bouldin (t-SNE)"),
            ("silhouette", "silhouette"),
            ("batch_asw", "batch ASW"),
        ]
        row = [float(scores[k]) for k, _ in names if k in scores]
        runs = int(scores.get("leiden_seeds", 1))
        clusters = (
            f"{float(scores['n_clusters']):g} Leiden clusters"
            + (f" (mean over {runs} runs)" if runs > 1 else "")
            + f" for {int(scores['n_labels'])} labels"
            if "n_clusters" in scores and "n_labels" in scores
            else "Leiden clusters"
        )
        out.append(
            f'<p class="muted">Against <code>obs[{html.escape(str(scores["labels_key"]))!r}]'
            f"</code> (<code>sag.tl.embedding_scores</code>: ARI and NMI of {clusters}, at "
            "the resolution whose cluster count is nearest the labels'; Davies-Bouldin lower "
            "is better).</p>"
        )
        out.append(_table([n for k, n in names if k in scores], [row], left=0))
        labels_key = str(scores["labels_key"])
        scored_n = int(scores["n_cells"]) if "n_cells" in scores else None
        held_n = int(adata.obs[labels_key].notna().sum()) if labels_key in adata.obs else None
        if scored_n is not None and scored_n != held_n:  # a subset, or AnnData objects joined
            here = f"these hold {held_n:,}" if held_n is not None else "these lack the column"
            out.append(
                f'<p class="muted">These scores are of the {scored_n:,} labelled {noun} '
                f"<code>sag.tl.embedding_scores</code> scored ({here}): a subset or another "
                f"AnnData since; score these {noun} again to judge them.</p>"
            )
        if "batch_asw" in scores:
            out.append(
                '<p class="muted">batch ASW: how well the batches mix within each label '
                "(scib's label-aware batch silhouette; 1 best).</p>"
            )
    if isinstance(scores, dict) and color is None and scores.get("labels_key") in adata.obs:
        color = str(scores["labels_key"])  # the labels scored, of this basis or another
    params = run.get("params", {}) if isinstance(run, dict) else {}
    batch_key = params.get("batch_key", "None") if isinstance(params, dict) else "None"
    if batch_key != "None" and batch_key in adata.obs:
        n_batches = len(run.get("batches", ()))  # those the decoder was conditioned on
        out.append(
            f'<p class="muted">The decoder was conditioned on the {n_batches} batches of '
            f"<code>obs[{html.escape(str(batch_key))!r}]</code> (<code>batch_key</code>), so "
            "that the latent need not carry them.</p>"
        )
        color = [c for c in (color, str(batch_key)) if c is not None]
    decoded = run.get("encode_params", {}) if isinstance(run, dict) else {}
    decoded = decoded if isinstance(decoded, dict) else {}
    if "transform_batch" in decoded or "batch_key" in decoded:  # encode(recon=True) of a query
        as_what = (
            f"as the batch(es) {html.escape(str(decoded['transform_batch']))} of the model "
            "(<code>transform_batch</code>; several: the mean of their reconstructions)"
            if "transform_batch" in decoded
            else f"as its own batch, from <code>obs[{html.escape(str(decoded['batch_key']))!r}]"
            "</code>"
        )
        rkey = recon_key(basis[2:])
        layer = f" (<code>layers[{html.escape(rkey)!r}]</code>)" if rkey in adata.layers else ""
        out.append(
            f'<p class="muted">The reconstruction{layer} decoded each of the {noun} {as_what}.</p>'
        )
    # room between two panels for the first one's legend (scanpy's default overlaps it)
    panels = {"wspace": 0.6} if isinstance(color, list) and len(color) > 1 else {}
    colored = [color] if isinstance(color, str) else list(color or [])
    alt = f"{'UMAP' if n_dims != 2 else 'Scatter plot'} of obsm[{basis!r}], one dot per "
    alt += noun[:-1] + (f", coloured by {' and by '.join(colored)}" if colored else "")
    with _column_types_kept(adata):
        out.append(_figure(pl.embedding, adata, basis=basis, color=color, alt=alt, **panels))
    if not isinstance(run, dict):
        return out
    trials = run.get("trials")
    if trials is not None and len(trials):
        out.append(
            "<h3>Search history (validation loss: reconstruction + beta x KL per cell, the negative ELBO at beta 1)</h3>"
        )
        alt = "Search history of the latent space: the validation loss of each trial"
        out.append(_figure(pl.search_history, adata, key=basis[2:], alt=alt))
    if encoded and "architecture" in run:  # the model's; its training is in its own report
        out.append("<h3>The model</h3>")
        alt = "The model's architecture, drawn as a graph of its layers"
        out.append(_figure(pl.architecture, json.loads(run["architecture"]), alt=alt))
    elif "architecture" in run:
        arch = json.loads(run["architecture"])
        params = json.loads(run.get("train_params", "{}"))
        best = dict(run.get("best", {}))
        losses = run.get("losses", {})
        kept = _best_row(run)  # its epochs counted as the log counts them, a cut one apart
        epochs = (
            _epochs_trained(kept, None)
            if kept is not None
            else len(losses["val_loss"])
            if "val_loss" in losses
            else "—"
        )
        out.append("<h3>The kept model</h3>")
        header = ["model", "encoder widths", "input keep", "dropout", "likelihood", "lr"]
        header += ["batch", "epochs", "val loss", "s / epoch"]
        row = [
            str(arch.get("kind", "")),
            str(arch.get("widths", "")),
            float(arch.get("input_keep", np.nan)),
            float(arch.get("dropout", np.nan)),
            str(arch.get("likelihood", "")),
            f"{float(params.get('lr', np.nan)):.2g}",
            str(params.get("batch_size", "")),
            str(epochs),
            float(best.get("val_loss", np.nan)),
            float(run.get("seconds_per_epoch", np.nan)),
        ]
        out.append(_table(header, [row], left=2))
        if made := _trained_with(run):
            out.append(f'<p class="muted">{html.escape(made[0].upper() + made[1:])}.</p>')
        out.append(_cut_note(params, kept))
        alt = "The kept model's architecture, drawn as a graph of its layers"
        out.append(_figure(pl.architecture, arch, alt=alt))
    return out


def _genes_had(overlap: dict) -> str:
    """ "N of the model's M genes (P%)" of a gene-overlap record, the share rounded down as
    the query's warning gives it."""
    fraction = float(overlap.get("fraction_of_model_genes", float("nan")))
    return (
        f"{int(overlap.get('n_common', 0)):,} of the model's "
        f"{int(overlap.get('n_model_genes', 0)):,} genes ({percent_down(fraction)})"
    )


def _missing_genes(overlap: dict) -> str:
    """What a prediction's missing genes were filled with (records before the training mean
    was used say zero-filled)."""
    n = int(overlap.get("n_missing_filled", overlap.get("n_missing_zero_filled", 0)))
    how = overlap.get("missing_filled_with", "zero")
    text = f"{counted(n, 'missing genes')} {'was' if n == 1 else 'were'} set to " + (
        "their mean in training" if how == "train_mean" else "0"
    )
    if "counts_share" in overlap:  # a counts model: the depth taken over the genes present
        text += (
            "; each one's depth is its count over the genes present divided by their share "
            f"of the training counts ({float(overlap['counts_share']):.1%})"
        )
    extra = int(overlap.get("n_query_genes", 0)) - int(overlap.get("n_common", 0))
    if extra > 0:  # genes the model does not know: not read
        verb = "was" if extra == 1 else "were"
        text += f"; {counted(extra, 'query genes')} the model does not have {verb} not read"
    return text


def _model_named(uns) -> str:
    """`` with the model of weights digest ... saved in ...`` where the record names it."""
    digest = str(uns.get("model_digest", ""))[:12]
    where = str(uns.get("model_dir", uns.get("model_path", "")))
    if not digest and not where:
        return ""
    text = " with the model" + (f" of weights digest {html.escape(digest)}" if digest else "")
    return text + (f" from <code>{html.escape(where)}</code>" if where else "")


def _label_columns(adata: AnnData, key: str) -> list[tuple[str, int, int, bool]]:
    """The ``obs`` columns of a query that share a label with the model's classes, as
    ``(column, n, n_labelled, taken)``: ``n`` of its ``n_labelled`` labels (values not
    missing) are classes of the model, named as
    :func:`~scautogenome.data._checks.class_names_of` names them (``1.0`` of integers made float by a missing value is class
    ``"1"``), and ``taken`` says whether they are taken for the query's labels:

    * a column of categories or text, where any of its labels is a class of the model: the
      labels of classes the model lacks (a query of other cell types or cancers besides some
      of the model's) are left out of the scores and counted there (:func:`_label_scores`);
    * a column of numbers (integers, floats that are all whole numbers, booleans), where at
      least half of its labels are classes: a count or an id may share a few whole numbers
      with classes named by integers. Floats with a fraction are measurements, not labels.

    sag's own outputs (the predictions, confidence and split of any classify or predict run
    the data hold) are never labels. Empty for a numeric target's model."""
    import pandas as pd

    from ..data._checks import class_names_of
    from ..tools._utils import record_kind

    classes = {str(c) for c in adata.uns[key].get("classes", [])}
    if len(classes) < 2:  # a numeric target's model: no classes to compare
        return []
    # sag's own outputs: of this key, and of every classify or predict run the data hold (a
    # first prediction under "sag" is no labels of a second one's)
    runs = {key} | {
        str(k) for k, record in adata.uns.items() if record_kind(record) in ("classify", "predict")
    }
    outputs = {
        name(run)
        for run in runs
        for name in (_keys.pred_key, _keys.confidence_key, _keys.split_key)
    }
    found = []
    for column in adata.obs.columns:
        if str(column) in outputs:  # a user's own column of another name is read
            continue
        values = adata.obs[column]
        numeric = pd.api.types.is_numeric_dtype(values.dtype)  # not categories of numbers
        if pd.api.types.is_float_dtype(values.dtype):
            known = values.to_numpy(dtype=np.float64, na_value=np.nan)
            known = known[~np.isnan(known)]
            if not (np.isfinite(known).all() and np.array_equal(known, np.round(known))):
                continue  # a measurement, not integer labels made float by a missing value
        # by distinct value: a million cells name their few labels once each
        try:
            counts = values.value_counts(sort=False, dropna=True)
        except TypeError:  # values that cannot be counted (lists): no labels
            continue
        counts = counts[counts > 0]
        if counts.empty:
            continue
        names = class_names_of(pd.Series(counts.index.to_numpy(dtype=object)), classes)
        n = int(counts.to_numpy()[np.isin(names.astype(str), list(classes))].sum())
        n_labelled = int(counts.sum())
        if n:
            found.append((str(column), n, n_labelled, n >= 0.5 * n_labelled or not numeric))
    return found


def _query_labels(columns: list[tuple[str, int, int, bool]]) -> str | None:
    """The ``obs`` column taken for the query's labels, of the ``columns`` of
    :func:`_label_columns`: of those taken the one with the most labels of the model's
    classes (the first of them where several have as many); None where none is."""
    best, best_n = None, 0
    for column, n, _, taken in columns:
        if taken and n > best_n:
            best, best_n = column, n
    return best


def _scoring_note(columns: list[tuple[str, int, int, bool]], key: str) -> str:
    """How the predictions can be scored: against the query's own labels where it has a
    column of the model's classes (of the ``columns`` of :func:`_label_columns`), else in the
    classify run's report (naming a column of numbers some of whose values are classes, but
    too few to be taken for labels)."""
    column = _query_labels(columns)
    if column is None:
        text = "Predictions are not scored against labels here"
        if columns:  # only columns of numbers, too few of whose values are classes
            name, n, n_labelled, _ = max(columns, key=lambda c: c[1])
            call = f"sag.pl.confusion_matrix(adata, labels_key={name!r}"
            call += ")" if key == _keys.CLASSIFY_KEY else f", key={key!r})"
            text += (
                f"; obs[{html.escape(repr(name))}] holds numbers, {n:,} of its "
                f"{n_labelled:,} values the model's classes: under half, too few to be taken "
                f"for labels (<code>{html.escape(call)}</code> scores the predictions against "
                "them if they are). The model's"
            )
        else:
            text += "; the model's"
        return text + " test metrics are in the report of its classify run."
    call = f"sag.pl.confusion_matrix(adata, labels_key={column!r}"
    call += ")" if key == _keys.CLASSIFY_KEY else f", key={key!r})"
    n, n_labelled = next((n, m) for c, n, m, _ in columns if c == column)
    held = (
        "labels of the model's classes"
        if n == n_labelled
        else f"labels, {n:,} of its {n_labelled:,} of the model's classes (the others are "
        "left out of the scores)"
    )
    return (
        f"obs[{html.escape(repr(column))}] holds {held}: "
        f"<code>{html.escape(call)}</code> scores the predictions against them; the model's "
        "test metrics are in the report of its classify run."
    )


def _predict_warnings(uns, later: bool = False) -> str:
    """The warnings sag logged during the prediction (its record's ``warnings``), as a list
    that stands out; empty where there were none (or the record is older than them).
    ``later``: the record is a classify run's, which :func:`~scautogenome.tl.predict`
    updated when it was called on the run's own AnnData (only predict records warnings):
    they are said to be that later call's, of its predictions in ``obs``, not of the run's
    metrics."""
    warned = [str(w) for w in np.atleast_1d(np.asarray(uns.get("warnings", []), dtype=object))]
    warned = [w for w in warned if w.strip()]
    if not warned:
        return ""
    items = "".join(f"<li>{html.escape(w)}</li>" for w in warned)
    n = f"{len(warned)} warning{'s' if len(warned) > 1 else ''}"
    if later:
        return (
            "<p><b>sag.tl.predict warned when it was called on this AnnData after this "
            f"run</b> ({n}): "
            "they are of that call and the predictions it wrote into obs, not of the run's "
            f"own, which the metrics here score:</p><ul>{items}</ul>"
        )
    return (
        f"<p><b>sag.tl.predict warned</b> of this query ({n}); read the predictions below "
        f"with them in mind:</p><ul>{items}</ul>"
    )


def _label_scores(adata: AnnData, key: str, column: str, noun: str) -> list[str]:
    """The predictions of a query scored against its own labels, ``obs[column]``
    (:func:`_query_labels`): accuracy and macro-F1 over the cells labelled with one of the
    model's classes (those without a label, or of a class the model lacks, left out and
    counted; "Unassigned" counted as wrong, as sag.pl.confusion_matrix counts it), and the
    matrix that sag.pl.confusion_matrix draws of them."""
    from .. import plotting as pl
    from ..data._checks import class_names_of
    from ..train._metrics import score

    classes = [str(c) for c in adata.uns[key].get("classes", [])]
    true = class_names_of(adata.obs[column], classes)
    missing = np.array([t is None for t in true], dtype=bool)
    scored = ~missing & np.isin(true.astype(str), classes)
    other = ~missing & ~scored
    pred = adata.obs[_keys.pred_key(key)].astype(str).to_numpy()
    code = {c: i for i, c in enumerate(classes)}
    # predict's unsure cells, unless the model has a class of that name
    unsure_name = _keys.unsure_name(classes)
    # "Unassigned" (and any call not a class) the code after the classes: wrong, and no
    # class of its own in the macro-F1, which averages the model's classes labelled or
    # predicted among the scored cells (as classify's test macro-F1)
    t = np.array([code[c] for c in true[scored]], dtype=np.int64)
    p = np.array([code.get(c, len(classes)) for c in pred[scored]], dtype=np.int64)
    accuracy = score(t, p, "accuracy", len(classes))
    macro_f1 = score(t, p, "macro_f1", len(classes))
    shown = repr(column)
    out = [
        f"<h3>Scored against the query's own labels, obs[{html.escape(shown)}]</h3>",
        _kpi_spans(
            (
                ("accuracy", _shown(accuracy, ".3f")),
                ("macro-F1", _shown(macro_f1, ".3f")),
                (f"{noun} scored", f"{int(scored.sum()):,}"),
            )
        ),
    ]
    facts = [
        f"These score the predictions against the labels this query holds in "
        f"obs[{shown}], not the model's test metrics: the {int(scored.sum()):,} {noun} "
        "labelled with one of the model's classes are scored."
    ]
    if missing.any() or other.any():
        why = []
        if missing.any():
            why.append(f"{int(missing.sum()):,} without a label")
        if other.any():
            names = sorted({str(v) for v in true[other]})
            listed = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            why.append(f"{int(other.sum()):,} labelled with a class the model lacks ({listed})")
        facts.append(f"{int((missing | other).sum()):,} {noun} left out: {'; '.join(why)}.")
    unsure = pred[scored] == unsure_name
    if unsure.any():
        given = _min_confidence(adata.uns[key])
        at = f" (min_confidence={given:g})" if given is not None else ""
        n = int(unsure.sum())
        rest = ""
        if (~unsure).any():
            on_rest = float(np.mean(t[~unsure] == p[~unsure]))
            rest = f"; the accuracy on the other {int((~unsure).sum()):,} is {on_rest:.3f}"
        facts.append(
            f"{n:,} {noun if n > 1 else noun[:-1]} predicted {UNASSIGNED!r}{at} count"
            f"{'' if n > 1 else 's'} as wrong{rest}."
        )
    facts.append(
        f"Macro-F1 averages the model's classes labelled or predicted among the scored {noun}."
    )
    if other.any():
        facts.append(
            "The matrix below has a row for every label, of the classes the model lacks "
            "too; the first accuracy in its title counts those as wrong."
        )
        # the title counts the "Unassigned" among every labelled cell (sag.pl.confusion_matrix
        # has no notion of the scored ones): its number, and what it covers, said here
        unsure_other = int((pred[other] == unsure_name).sum())
        if unsure_other:
            n_all = int(unsure.sum()) + unsure_other
            facts.append(
                f"Its count of {UNASSIGNED!r} ({n_all:,}) is of all "
                f"{int((scored | other).sum()):,} labelled {noun}, {unsure_other:,} of them "
                "labelled with a class the model lacks; "
                + (
                    f"the count above is of the scored {noun} alone."
                    if unsure.any()
                    else f"none of the scored {noun} is."
                )
            )
    out.append(f'<p class="muted">{html.escape(" ".join(facts))}</p>')
    alt = (
        f"Confusion matrix of the predictions against obs[{column!r}], rows the query's "
        f"labels ({int((~missing).sum()):,} labelled {noun})"
    )
    # its rows the query's labels, its columns the predicted classes: scrolled past as many
    size = max(adata.obs[column].nunique(), adata.obs[_keys.pred_key(key)].nunique())
    matrix = _figure(
        pl.confusion_matrix,
        adata,
        key=key,
        labels_key=column,
        split=None,
        alt=alt,
        scroll=size > SCROLLED_CLASSES,
    )
    return [*out, matrix]


def _value_scores(adata: AnnData, key: str, target: str, noun: str) -> list[str]:
    """The predicted values of a query scored against its own, ``obs[target]`` (a numeric
    column of the target's name): R², RMSE and MAE over the cells that have a value, and
    the plot of observed vs predicted values (sag.pl.regression). Empty where there is no
    such column, or no cell with a value."""
    from .. import plotting as pl
    from ..data._checks import is_numeric_column
    from ..train._metrics import regression_report

    pred_col = _keys.pred_key(key)
    if target == pred_col or target not in adata.obs.columns:
        return []
    column = adata.obs[target]
    if not is_numeric_column(column) or column.dtype == bool:
        return []
    observed = column.to_numpy(dtype=np.float64)
    known = np.isfinite(observed)
    if not known.any():
        return []
    pred = adata.obs[pred_col].to_numpy(dtype=np.float64)
    m = regression_report(observed[known], pred[known])
    shown = repr(target)
    spec = _in_units([m["rmse"], m["mae"]])
    out = [
        f"<h3>Scored against the query's own values, obs[{html.escape(shown)}]</h3>",
        _kpi_spans(
            (
                ("R\u00b2", _shown(m["r2"], ".3f")),
                ("RMSE", _shown(m["rmse"], spec)),
                ("MAE", _shown(m["mae"], spec)),
                (f"{noun} scored", f"{int(known.sum()):,}"),
            )
        ),
    ]
    text = (
        f"These score the predicted values against those this query holds in obs[{shown}], "
        "not the model's test metrics"
    )
    n_out = int((~known).sum())
    text += f"; {counted(n_out, noun)} without a value left out." if n_out else "."
    out.append(f'<p class="muted">{html.escape(text)}</p>')
    alt = f"Observed vs predicted {target} of the {int(known.sum()):,} {noun} with a value"
    out.append(_figure(pl.regression, adata, key=key, labels_key=target, split=None, alt=alt))
    return out


def _predict_section(adata: AnnData, key: str) -> list[str]:
    """The section of a :func:`~scautogenome.tl.predict` run (no classify record): the
    warnings it logged, what was predicted, how much of the model's genes the query had, and
    where the query holds labels of the model's classes (or values of its numeric target),
    the predictions scored against them."""
    from ..data._checks import is_numeric_column, obs_noun

    uns = adata.uns[key]
    noun = obs_noun(adata)
    pred_col = _keys.pred_key(key)
    out = ["<h2>Predictions</h2>", _predict_warnings(uns)]
    columns = _label_columns(adata, key)  # the query's own labels, read once
    pred = adata.obs.get(pred_col)
    numeric = pred is not None and is_numeric_column(pred)
    target = str(uns["classes"][0]) if len(uns.get("classes", [])) else "value"
    # predicted values scored against the query's own, where it holds them (figure included)
    value_scores = _value_scores(adata, key, target, noun) if numeric else []
    overlap = dict(uns.get("gene_overlap", {}))
    if overlap:
        scoring = (
            f"The predicted values are scored below against the query's own, obs"
            f"[{html.escape(repr(target))}]; the model's test metrics are in the report of its "
            "classify run."
            if value_scores
            else _scoring_note(columns, key)
        )
        out.append(
            f'<p class="muted">sag.tl.predict{_model_named(uns)} on {adata.n_obs:,} {noun}: '
            f"the query had {_genes_had(overlap)}; {_missing_genes(overlap)}. {scoring}</p>"
        )
    if pred is None:
        return [*out, f'<p class="muted">obs[{html.escape(repr(pred_col))}] is missing.</p>']
    if numeric:
        values = pred.to_numpy(dtype=np.float64)
        stats = [(noun, len(values)), ("mean", np.nanmean(values)), ("sd", np.nanstd(values))]
        stats += [(f"{q}%", np.nanpercentile(values, q)) for q in (0, 25, 50, 75, 100)]
        out.append(f"<h3>Predicted {html.escape(target)}</h3>")
        out.append(
            _table(
                [name for name, _ in stats],
                [[stats[0][1], *(_shown(v, ".4g") for _, v in stats[1:])]],
                left=0,
            )
        )
        return out + value_scores
    counts = pred.value_counts(sort=False)
    counts = counts[counts > 0].sort_values(ascending=False, kind="stable")
    conf_col = _keys.confidence_key(key)
    conf = adata.obs[conf_col] if conf_col in adata.obs.columns else None
    given = _min_confidence(uns)
    threshold = 0.5 if given is None else given  # the threshold the call used, else 0.5
    header = ["predicted class", noun, "share"]
    if conf is not None:
        header += ["median confidence", f"{noun} below {threshold:g}"]
    rows = []
    for cls, n in counts.items():
        row = [str(cls), int(n), f"{n / len(pred):.1%}"]
        if conf is not None:
            c = conf[pred == cls].to_numpy(dtype=np.float64)
            row += [float(np.median(c)), int((c < threshold).sum())]
        rows.append(row)
    out.append(_table(header, rows))
    if conf is not None:
        called = (
            f" Predicted with min_confidence={threshold:g}: the {noun} whose predicted class "
            f"had a lower probability are {html.escape(repr(UNASSIGNED))}."
            if given is not None
            else ""
        )
        out.append(
            f'<p class="muted">Confidence: the predicted class\'s probability '
            f"(obs[{html.escape(repr(conf_col))}]).{called}</p>"
        )
    column = _query_labels(columns)
    if column is not None:
        out += _label_scores(adata, key, column, noun)
    return out


def _check_asked_for(adata: AnnData, key: str, shap_key: str | None, basis: str) -> str:
    """Refuse a ``key`` or ``basis`` other than the default, or a ``shap_key`` given, that
    names nothing in ``adata``: a report without the section asked for would pass for a
    complete one. The ``shap_key`` to show (None: :func:`_own_shap_key`)."""
    from ..tools._utils import is_classify_record, is_predict_record

    check_key("key", key, "a key of adata.uns (the key_added of classify or predict)")
    if shap_key is not None:
        check_key("shap_key", shap_key, "a key of adata.uns (the key_added of explain)")
    check_key("basis", basis, "a key of adata.obsm (X_ and the key_added of embed or encode)")
    if key != _keys.CLASSIFY_KEY:
        if key not in adata.uns:
            msg = (
                f"key={key!r} is not in adata.uns (the key_added of classify or predict); "
                f"uns holds {sorted(map(str, adata.uns))}."
            )
            raise KeyError(msg)
        if not (is_classify_record(adata.uns[key]) or is_predict_record(adata.uns[key])):
            msg = f"key={key!r}: uns[{key!r}] is not the record of a classify or predict run."
            raise ValueError(msg)
    if shap_key is not None and shap_key not in adata.uns:
        msg = (
            f"shap_key={shap_key!r} is not in adata.uns (the key_added of explain); uns holds "
            f"{sorted(map(str, adata.uns))}."
        )
        raise KeyError(msg)
    if basis != f"X_{_keys.EMBED_KEY}" and basis not in adata.obsm:
        msg = (
            f"basis={basis!r} is not in adata.obsm (embed's or encode's key_added with X_ in "
            f"front); obsm holds {sorted(map(str, adata.obsm))}."
        )
        raise KeyError(msg)
    return _own_shap_key(adata, key) if shap_key is None else shap_key


def _own_shap_key(adata: AnnData, key: str) -> str:
    """The explanation ``shap_key=None`` shows: ``uns[key + "_shap"]`` where it explains the
    run in ``uns[key]`` (the command line's ``classify --key-added KEY`` explains there),
    else explain's default key."""
    from ..tools._utils import explains_replaced_run, is_explain_record

    own, record = f"{key}_shap", adata.uns.get(key)
    explanation = adata.uns.get(own)
    if own == _keys.SHAP_KEY or not is_explain_record(explanation) or not isinstance(record, dict):
        return _keys.SHAP_KEY
    if _explained_elsewhere(explanation, key, record) is not None:
        return _keys.SHAP_KEY
    return _keys.SHAP_KEY if explains_replaced_run(explanation, key, record) else own


def _explained_elsewhere(explanation: dict, key: str, record: dict) -> str | None:
    """What the explain record ``explanation`` explains where it is not the run in
    ``uns[key]`` (``record``): the classify run of another key (its ``classify_key``), or,
    where it recorded none (a query's predictions), a model of other weights; else None."""
    made_for = explanation["params"].get("classify_key")
    if made_for is not None and str(made_for) != "None":  # h5ad keeps None as "None"
        return None if str(made_for) == key else f"the classify run in uns[{str(made_for)!r}]"
    digest, ours = explanation.get("model_digest"), record.get("model_digest")
    if digest is not None and ours is not None and str(digest) != str(ours):
        return f"the model of weights digest {str(digest)[:12]}"
    return None


def _kept_elsewhere(adata: AnnData, key: str, shap_key: str, basis: str) -> str:
    """The end of the "Nothing to report" error: the records of sag under other keys than
    ``key``, ``shap_key`` and ``basis``, and the argument of :func:`write_report` that takes
    each; empty where there are none."""
    from ..tools._utils import record_kind
    from ..tools._utils import records_elsewhere as kept

    hints = [
        kept(adata, name, kinds, argument).strip().rstrip(".")
        for name, kinds, argument in (
            (key, ("classify", "predict"), "key"),
            (shap_key, ("explain",), "shap_key"),
        )
    ]
    latent = [
        f"X_{k}"
        for k, record in adata.uns.items()
        if f"X_{k}" in adata.obsm
        and f"X_{k}" != basis
        and record_kind(record) in ("embed", "encode")
    ]
    if len(latent) == 1:
        hints.append(
            f"obsm[{latent[0]!r}] holds the latent space of an embed or encode run: pass "
            f"basis={latent[0]!r}"
        )
    elif latent:
        hints.append(
            f"obsm holds latent spaces of embed or encode runs under {latent}: pass basis= "
            "one of them"
        )
    return "".join(f"; {h}" for h in hints if h)


def _written_at() -> str:
    """The report's time: now, in local time with its offset from UTC ("+0100"), or
    ``SOURCE_DATE_EPOCH`` (UTC) where it is set, as reproducible builds use it, so that a
    pipeline's rerun writes the same file."""
    import os
    from datetime import datetime

    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(int(epoch)))
    return datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %z")


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
"""The first bytes of an HDF5 file: an .h5ad, .h5mu, .loom or 10x .h5 of data."""


def _check_not_data(path: Path, what: str) -> None:
    """Refuse to write the report over an HDF5 file (an .h5ad: the data's own file, or a
    path mistyped), which it would replace with no way back; an earlier report, or another
    file, is replaced as before. ``what`` names the path as the user gave it."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(_HDF5_SIGNATURE))
    except OSError:  # none there (the common case), or unreadable: the write says why
        return
    if head == _HDF5_SIGNATURE:
        msg = (
            f"{what} is an HDF5 file (an .h5ad of data, say), which the report "
            f"would replace; give the .html file to write, e.g. "
            f"{str(path.with_name(path.stem + '.report.html'))!r}."
        )
        raise FileExistsError(msg)


def write_report(
    adata: AnnData,
    path: str | Path,
    *,
    key: str = _keys.CLASSIFY_KEY,
    shap_key: str | None = None,
    basis: str = f"X_{_keys.EMBED_KEY}",
    title: str | None = None,
) -> Path:
    """Write one self-contained HTML file with everything scautogenome found in ``adata``.

    Sections appear for what is there: classification (metrics table, per-class table, confusion
    matrix, search history, best trials, architecture; the warnings of a later
    :func:`~scautogenome.tl.predict` call on the same AnnData and key, which its record keeps)
    from ``uns[key]``, or the predictions of :func:`~scautogenome.tl.predict` when ``uns[key]``
    is its record (the warnings it logged; cells per predicted class with their confidence, or
    the spread of predicted values; the gene overlap; where the query holds labels of the
    model's classes (a column of categories or text with any of them, its labels of other
    classes left out and counted; a column of numbers, whole numbers made float by a missing
    value too, with at least half of them), accuracy, macro-F1 and the confusion matrix against
    them, or R\u00b2, RMSE and MAE against a numeric column of the target's name), or for a run
    of a numeric target regression (R\u00b2, RMSE, MAE, Pearson and Spearman on test and
    validation, observed vs predicted values, search history, best trials, architecture); top
    genes per class (or of the predicted value) with the importance and SHAP distribution plots
    from ``uns[shap_key]``; the latent-space UMAP when ``obsm[basis]`` exists (its
    neighbors/UMAP are stored as :func:`scautogenome.pl.embedding` does; of a view,
    ``adata[mask]``, the report is made from a copy, so that the view stays a view and nothing
    is stored in it). Figures are embedded as PNG, so the file can be mailed or archived on its
    own.

    Parameters
    ----------
    adata
        An AnnData annotated by :func:`~scautogenome.tl.classify`,
        :func:`~scautogenome.tl.explain` and/or :func:`~scautogenome.tl.embed`.
    path
        The ``.html`` file to write (``~`` is the home folder); a file there is replaced,
        except an HDF5 file (an ``.h5ad``: the data's own, say), which is an error.
    key, shap_key, basis
        Where the classification, the explanation and the latent space are. One given
        other than its default must be there (an error otherwise: a report without the
        section asked for is not written); so must a ``shap_key`` given. ``shap_key=None``:
        ``uns[key + "_shap"]`` where it explains the run in ``uns[key]`` (where the CLI's
        ``classify --key-added KEY`` explains), else explain's default ``"sag_shap"``. An
        explanation of another run than ``key``'s (another classify key, or other weights
        than a query's predictions) is left out, with a note saying whose it is.
    title
        Page title; default names the data.

    Returns
    -------
    The path written.
    """
    import pandas as pd

    from ..tools._utils import (  # lazily: loads torch
        is_classify_record,
        is_predict_record,
        partial_explain_record,
        record_kind,
    )

    check_anndata(adata)
    if title is not None:
        check_key("title", title, "the report's heading (or None: the default)")
    # "~/report.html" in the home folder, not in a folder named "~"
    path = Path(check_path("path", path, "the .html file to write")).expanduser()
    if path.is_dir():
        msg = (
            f"path={str(path)!r} is a folder; give the .html file to write, e.g. "
            f"{str(path / 'report.html')!r}."
        )
        raise IsADirectoryError(msg)
    # before any figure is drawn: a folder that cannot be made (a file on the way) or written
    check_creatable(path.parent, f"path={str(path)!r}")
    _check_not_data(path, f"path={str(path)!r}")
    shap_key = _check_asked_for(adata, key, shap_key, basis)
    if adata.is_view:  # the plots store colours and the UMAP: not in the user's view
        logger.info("adata is a view: the report is made from a copy, which nothing is stored in")
        # a view of a backed AnnData (read_h5ad(backed="r")[mask]) anndata copies only to a file
        adata = adata.to_memory() if adata.isbacked else adata.copy()
    record = adata.uns.get(key)
    has = {
        # a run's record that is no whole one (its params edited) is noted below, not skipped
        "classify": is_classify_record(record)
        or (record_kind(record) == "other" and is_run_record(record)),
        "predict": is_predict_record(adata.uns.get(key)),
        "explain": shap_key in adata.uns,
        "embed": basis in adata.obsm,
    }
    # a part of an explanation (anndata.concat's uns_merge="same" of explanations that
    # differ): noted in the report, not shown
    partial = has["explain"] and record_kind(adata.uns[shap_key]) == "other"
    has["explain"] = has["explain"] and not partial
    # a classify record that was edited or is a part of one: noted in the report, not shown
    damaged = (
        run_record_damage(adata, key, None, "sag.tl.classify(adata, labels_key)")
        if has["classify"]
        else None
    )
    has["predict"] = has["predict"] and not has["classify"]
    has["classify"] = has["classify"] and damaged is None
    if not any(has.values()):
        msg = (
            f"Nothing to report: adata has no classify or predict record in uns[{key!r}], no "
            f"uns[{shap_key!r}] and no obsm[{basis!r}]; run sag.tl.classify, predict, explain, "
            f"embed or encode first{_kept_elsewhere(adata, key, shap_key, basis)}."
        )
        if partial:
            msg += " " + partial_explain_record(adata, shap_key)
        if damaged is not None:
            msg += " " + str(damaged.args[0])
        raise ValueError(msg)
    from .. import __version__

    title = title or f"scautogenome report: {adata.n_obs:,} x {adata.n_vars:,}"
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="muted">{adata.n_obs:,} observations x {adata.n_vars:,} genes; written '
        f"{_written_at()} by scautogenome {html.escape(__version__)}.</p>",
    ]
    source = _data_source(adata)  # of any report, so not in a section's facts
    if source:
        parts.append(f'<p class="muted"><b>Data:</b> {html.escape(source)}</p>')
    labels = target = None  # target: the numeric target of a classify run of one
    from ..plotting._classify import is_regression, regression_target

    if damaged is not None:
        heading = "Regression" if is_regression(adata.uns[key]) else "Classification"
        parts.append(_left_out(f"<h2>{heading}</h2>", str(damaged.args[0])))
    if has["classify"]:
        parts += _classify_section(adata, key)
        labels = str(dict(adata.uns[key].get("params", {})).get("labels_key", "")) or None
        if is_regression(adata.uns[key]):
            target = regression_target(adata.uns[key])
    elif has["predict"]:
        parts += _predict_section(adata, key)
        pred = adata.obs.get(_keys.pred_key(key))
        if pred is not None and isinstance(pred.dtype, pd.CategoricalDtype):
            labels = _keys.pred_key(key)  # the latent space coloured by the predicted class
    from ..tools._utils import (
        explain_varm_problem,
        explains_replaced_run,
        is_explain_record,
        records_elsewhere,
    )

    if not (has["classify"] or has["predict"]):  # predictions kept under another key
        elsewhere = records_elsewhere(adata, key, ("classify", "predict"), "key").strip()
        if elsewhere:
            parts.append(f'<p class="muted">{html.escape(elsewhere)}</p>')
    explanation = adata.uns.get(shap_key)
    other = (
        _explained_elsewhere(explanation, key, adata.uns[key])
        if (has["classify"] or has["predict"]) and is_explain_record(explanation)
        else None
    )
    if other is not None:  # an explanation of another run: its genes are not this run's
        logger.warning(
            "uns[%r] explains %s, not the run in uns[%r]: left out of the report; pass "
            "shap_key= an explanation of this run.",
            shap_key,
            other,
            key,
        )
        parts.append(
            _explain_heading(target)
            + f'<p class="muted">uns[{html.escape(repr(shap_key))}] explains '
            f"{html.escape(other)}, not this one, so it is not shown; "
            "sag.tl.explain(adata, model, key_added=...) explains this run (pass that key as "
            "shap_key=).</p>"
        )
    elif has["classify"] and explains_replaced_run(explanation, key, adata.uns[key]):
        logger.warning(
            "uns[%r] explains another model than the classify run in uns[%r]: left out of the "
            "report; run sag.tl.explain again.",
            shap_key,
            key,
        )
        parts.append(
            _explain_heading(target)
            + f'<p class="muted">uns[{html.escape(repr(shap_key))}] explains another model than '
            f"the {'classification' if target is None else 'regression'} above (classify was "
            "run again after explain), so it is not shown. Run sag.tl.explain again.</p>"
        )
    elif has["explain"] and shap_key not in adata.varm and is_explain_record(explanation):
        # the record without its gene scores (anndata.concat drops varm unless merge= keeps it)
        logger.warning(
            "uns[%r] holds sag.tl.explain's record but adata.varm[%r], its gene scores, is "
            "missing: left out of the report; run sag.tl.explain again.",
            shap_key,
            shap_key,
        )
        parts.append(
            _explain_heading(target)
            + f'<p class="muted">uns[{html.escape(repr(shap_key))}] holds an explanation whose '
            f"gene scores, varm[{html.escape(repr(shap_key))}], are missing (anndata.concat, "
            "for one, drops varm), so it is not shown. Run sag.tl.explain again.</p>"
        )
    elif has["explain"] and (wrong := explain_varm_problem(adata, shap_key)) is not None:
        parts.append(_left_out(_explain_heading(target), wrong))
    elif has["explain"]:
        parts += _explain_section(adata, shap_key)
    elif partial:
        parts.append(_left_out(_explain_heading(target), partial_explain_record(adata, shap_key)))
    if has["embed"]:
        color = labels if labels in adata.obs else None
        parts += _embedding_section(adata, basis, color)
    doc = (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset='utf-8'>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>"
        f"<body>{''.join(parts)}</body></html>"
    )
    # through a temporary file: a failed write leaves an earlier report (or file) whole
    write_atomically(path, lambda tmp: tmp.write_text(doc, encoding="utf-8"))
    logger.info("wrote report %s (%.0f KB)", path, path.stat().st_size / 1024)
    return path
