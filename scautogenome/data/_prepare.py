"""AnnData -> what the models need: matrix, labels, split and fitted transform."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._keys import SPLITS, UNASSIGNED
from .._settings import logger
from .._utils import check_obs_column, check_one_obs_column, short_repr, shown_values
from ._checks import (
    _ENSEMBL_VERSIONED,
    MAX_NUMERIC_LABELS,
    MISSING_AS_TEXT,
    _unversioned,
    check_adata,
    check_finite,
    check_labels,
    check_not_continuous,
    common_row_total,
    get_matrix,
    is_numeric_column,
    named_missing,
    names_of,
    note_unread_annotations,
    obs_noun,
    value_stats,
)
from ._split import (
    MIN_CELLS_TO_SPLIT,
    group_split,
    groups_repeat,
    resolve_groups,
    user_split,
    warn_copies_across_parts,
    warn_groups_across_parts,
)
from ._transform import _TRAINED_ON, UNLOGGED_MAX, VALUE_TYPES, InputTransform, detect_value_type

if TYPE_CHECKING:
    from anndata import AnnData


# fewer validation cells than this: the search's pick among trials is warned to be noisy
FEW_VAL_CELLS = 20


FEW_CELLS_PER_VALUE = 5
"""Under ``task="auto"``, a numeric column of whole numbers classified with fewer cells per
value than this on average is warned about (46 ages on 120 cells)."""

# what classify predicts: "auto" reads it off the label column (:func:`resolve_task`)
TASKS = ("auto", "classification", "regression")
# a numeric target needs this many cells with a value: the seeded split then puts at least 2 in
# val (R^2 and the correlations need two) and in test
MIN_CELLS_REGRESSION = 15
# a numeric target's split is stratified on up to this many quantile bins of its values
N_TARGET_BINS = 10


@dataclass
class LabelledData:
    """A labelled matrix ready for training. ``codes`` is -1 where a cell is not used.

    For a numeric target (``task == "regression"``) ``y`` holds the values (NaN where a cell
    is not used), ``classes`` the target's name (the one output) and ``codes`` the quantile
    bin each used cell's value falls in, which the split was stratified on.
    """

    X: object
    codes: np.ndarray
    classes: np.ndarray
    split: np.ndarray
    transform: InputTransform
    var_names: np.ndarray
    dropped_classes: list[str]
    task: str = "classification"
    y: np.ndarray | None = None
    layer: str | None = None  # where the values came from (None: X); a model remembers it
    grouped_by: str | None = None  # what the seeded split kept together (TCGA patients, a column)

    # the parts of its split, in order ("none" besides, for cells not used, where there are)
    parts = SPLITS

    def rows(self, name: str) -> np.ndarray:
        return np.flatnonzero(self.split == name)

    def transformed(self, transform, genes: np.ndarray | None):
        """The train and validation rows through ``transform`` (a ``TorchTransform`` of this
        data's transform) once, on the genes at the positions ``genes`` (None: all), for every
        epoch of a training run or search (:func:`~scautogenome.data._loader.transformed_rows`;
        None above its memory cap: each batch is then transformed as it is read)."""
        from ._loader import transformed_rows

        rows = np.concatenate([self.rows("train"), self.rows("val")])
        return transformed_rows(self.X, rows, transform, genes)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_outputs(self) -> int:
        """The network's outputs: one per class, or one value."""
        return 1 if self.task == "regression" else len(self.classes)


def resolve_task(
    labels: pd.Series, labels_key: str, task: str = "auto", *, quiet: bool = False
) -> str:
    """``"classification"`` or ``"regression"`` for the column ``labels``.

    ``"auto"`` predicts the number of a numeric column (not boolean, not categorical) with
    values that are not all whole numbers (a score, a pseudotime: scikit-learn's
    ``type_of_target`` and AutoGluon read them so) or with more than
    :data:`~scautogenome.data._checks.MAX_NUMERIC_LABELS` distinct values (an age, a drug
    response), and classes otherwise; a numeric column of fewer whole numbers (time points
    0/24/48/72) is classified, and logged so (a warning where its classes would hold fewer
    than :data:`FEW_CELLS_PER_VALUE` cells on average), unless ``task="regression"`` is given.
    ``quiet``: nothing logged (a check before the data are prepared).
    """
    if task not in TASKS:
        msg = f"task={task!r} must be one of {list(TASKS)}."
        raise ValueError(msg)
    if task == "regression":
        numeric_target(labels, labels_key)  # refuses a column that holds no numbers
        return task
    if task == "classification" or not is_numeric_column(labels):
        return "classification"
    say = (lambda *args: None) if quiet else logger.info
    n_unique = labels.nunique()
    values = labels.to_numpy(dtype=np.float64, na_value=np.nan)
    values = values[np.isfinite(values)]
    if not values.size:  # no value at all: the checks of the classes say so
        return "classification"
    if n_unique > MAX_NUMERIC_LABELS or (values != np.round(values)).any():
        why = "" if n_unique > MAX_NUMERIC_LABELS else ", not all whole numbers"
        say(
            "obs[%r] is numeric with %d distinct values%s: its number is predicted "
            "(task='regression'); task='classification' takes the values as classes.",
            labels_key,
            n_unique,
            why,
        )
        return "regression"
    per_value = len(values) / max(n_unique, 1)
    if per_value < FEW_CELLS_PER_VALUE and not quiet:
        logger.warning(
            "obs[%r] is numeric with %d distinct values, %.1f cells each on average: they are "
            "classified as classes of a few cells; task='regression' predicts the number "
            "instead.",
            labels_key,
            n_unique,
            per_value,
        )
        return "classification"
    say(
        "obs[%r] is numeric with %d distinct values: they are classified as classes; "
        "task='regression' predicts the number instead.",
        labels_key,
        n_unique,
    )
    return "classification"


def _held_out_of_dropped(adata, split_key, lab_str: np.ndarray, dropped: list[str]) -> str:
    """For a split of the user's own: how many of its val and test cells are of the classes
    left out of training, which the metrics of those parts leave out (they can only be
    wrong); empty where none are."""
    if split_key is None or split_key not in adata.obs.columns:
        return ""
    split = adata.obs[split_key].astype(str).to_numpy()
    of_dropped = np.isin(lab_str.astype(str), dropped) & (lab_str != None)  # noqa: E711
    n = {part: int((of_dropped & (split == part)).sum()) for part in ("test", "val")}
    said = [f"{v:,} {part}" for part, v in n.items() if v]
    if not said:
        return ""
    noun = obs_noun(adata) if sum(n.values()) > 1 else obs_noun(adata)[:-1]
    return (
        f". {' and '.join(said)} {noun} of obs[{split_key!r}] "
        f"{'are' if sum(n.values()) > 1 else 'is'} of these classes: the metrics of their "
        "part leave them out (they still get a prediction, never right)"
    )


def _all_numbers(names) -> bool:
    """Whether every label text in ``names`` reads as a finite number (``"24"``, ``"0.5"``)."""
    values = pd.to_numeric(pd.Series(list(names), dtype=object), errors="coerce")
    return bool(len(values)) and bool(np.isfinite(values.to_numpy(dtype=np.float64)).all())


def numeric_target(labels: pd.Series, labels_key: str) -> np.ndarray:
    """The values of a numeric target as float64 (NaN: no value); an error for a column
    that is not numbers (a categorical of numbers, or text that reads as numbers, is taken)."""
    dtype = labels.dtype
    if pd.api.types.is_bool_dtype(dtype):
        msg = f"obs[{labels_key!r}] is boolean: two classes, not a number to predict; use task='classification'."
        raise ValueError(msg)
    values = labels.astype("object").where(labels.notna(), None)
    # texts that mean "no value" (NaN, "NA", blanks) are missing, as for classes
    values = values.map(
        lambda v: None if isinstance(v, str) and v.strip().lower() in MISSING_AS_TEXT else v
    )
    as_num = pd.to_numeric(pd.Series(values.to_numpy(), dtype=object), errors="coerce")
    bad = values.notna().to_numpy() & as_num.isna().to_numpy()
    if bad.any():
        examples = ", ".join(repr(str(v)) for v in pd.unique(values.to_numpy()[bad])[:3])
        msg = (
            "A numeric target (task='regression', the loss 'mse', or the metric 'r2', "
            f"'pearson' or 'spearman') needs numbers in obs[{labels_key!r}], which holds "
            f"{int(bad.sum())} value(s) that are not, e.g. {examples}. Map them to numbers "
            "first, or use task='classification' with a loss and metric of classes."
        )
        raise ValueError(msg)
    y = as_num.to_numpy(dtype=np.float64)
    if np.isinf(y).any():
        msg = f"obs[{labels_key!r}] holds {int(np.isinf(y).sum())} infinite value(s); a regression target must be finite (NaN marks a cell without a value)."
        raise ValueError(msg)
    largest = float(np.nanmax(np.abs(y))) if np.isfinite(y).any() else 0.0
    with np.errstate(over="ignore"):
        # the standardization and every metric add up squares (of errors up to 4x the range)
        overflows = not np.isfinite(np.float64(largest) ** 2 * 16 * len(y))
    if overflows:
        msg = (
            f"obs[{labels_key!r}] holds values as large as {largest:.3g}, whose spread "
            "overflows 64-bit floats (the target is standardized and its errors squared and "
            "added up); divide it by a power of ten or take its log first."
        )
        raise ValueError(msg)
    return y


def warn_missing_as_text(labels: pd.Series, labels_key: str, counts: pd.Series, use: str) -> None:
    """A warning naming the labels of ``counts`` (cells per label text of ``obs[labels_key]``)
    that read like a missing value (``'nan'``, ``'NA'``, blanks: :data:`MISSING_AS_TEXT`), with
    how to make them NaN; ``use`` says what is done with them ("trained on as classes; to leave
    those cells out of training")."""
    missing_as_text = named_missing(counts.index)
    if not missing_as_text:
        return
    logger.warning(
        "obs[%r] has class(es) named like a missing value: %s. They are %s, make them NaN: %s",
        labels_key,
        ", ".join(f"{c!r} ({counts[c]} cells)" for c in missing_as_text),
        use,
        _as_nan(labels, labels_key, missing_as_text),
    )


def warn_unsure_name(labels: pd.Series, labels_key: str, counts: pd.Series) -> None:
    """A warning where a class of ``counts`` (cells per label text of ``obs[labels_key]``) is
    named as :func:`~scautogenome.tl.predict` calls the cells below its ``min_confidence``
    (an annotation's cells without a type, often): trained on as a class, and predict then
    refuses ``min_confidence=``."""
    if UNASSIGNED not in counts.index:
        return
    logger.warning(
        "obs[%r] has a class named %r (%d cells), the name sag.tl.predict gives the cells below "
        "its min_confidence: it is trained on as a class, and sag.tl.predict refuses "
        "min_confidence= for this model. Where it means no class, leave those cells out of "
        "training (they are still predicted): %s",
        labels_key,
        UNASSIGNED,
        counts[UNASSIGNED],
        _as_nan(labels, labels_key, [UNASSIGNED]),
    )


def _as_nan(labels: pd.Series, labels_key: str, names: list[str]) -> str:
    """The line that makes the labels ``names`` of ``obs[labels_key]`` NaN: the one pandas
    takes without a warning, for a categorical column and for another."""
    if isinstance(labels.dtype, pd.CategoricalDtype):
        return (
            f"adata.obs[{labels_key!r}] = adata.obs[{labels_key!r}].cat.remove_categories("
            f"{names!r})"
        )
    return f"adata.obs[{labels_key!r}] = adata.obs[{labels_key!r}].replace({names!r}, np.nan)"


def target_bins(
    y: np.ndarray, n_bins: int = N_TARGET_BINS, groups: np.ndarray | None = None
) -> np.ndarray:
    """Quantile bin (0 ..) of every value of ``y`` (-1 where NaN), with at least about ten
    values per bin: what a numeric target's split is stratified on, so that train, val and
    test each span its range. Where ``groups`` hold several cells (a donor's, a patient's),
    whose split draws whole groups, the groups are binned by their mean value, about ten
    groups a bin, and each cell has its group's bin: bins of a few groups each would hold one
    group of each out, far more than the val and test fractions."""
    used = ~np.isnan(y)
    codes = np.full(len(y), -1, dtype=np.int64)
    if not used.any():  # no value to bin (pandas 2.0's qcut raises IndexError on none)
        return codes
    if groups_repeat(groups, used):
        # integer group codes: pandas' groupby would merge the "\0cell i" names that
        # resolve_groups gives cells of a missing group value, each a group of its own
        _, group = np.unique(groups[used].astype(str), return_inverse=True)
        means = np.bincount(group, weights=y[used]) / np.bincount(group)
        n = max(1, min(n_bins, means.size // 10))
        of_group = pd.qcut(
            pd.Series(means).rank(method="first"), n, labels=False, duplicates="drop"
        ).to_numpy()
        codes[used] = of_group[group]
        return codes
    n = max(1, min(n_bins, int(used.sum()) // 10))
    codes[used] = pd.qcut(
        pd.Series(y[used]).rank(method="first"), n, labels=False, duplicates="drop"
    ).to_numpy()
    return codes


def resolve_value_type(X, value_type: str, where: str, rows: np.ndarray | None = None) -> str:
    """Check ``value_type`` against the data (``"auto"`` detects it: on ``rows`` only where
    given, the training cells a model is fitted on, the other rows then checked against it)."""
    if value_type == "auto":
        stats = value_stats(X, rows=rows)
        detected = detect_value_type(X, stats, rows=rows)
        if rows is not None and len(rows) < X.shape[0]:
            _check_other_rows(X, rows, detected, where)
        if detected == "continuous" and stats["min"] < 0 and stats["max"] > UNLOGGED_MAX:
            logger.warning(
                "%s holds values from %.3g to %.3g: the negative ones make them read as "
                "already transformed and used as they are (no log). If they are unlogged "
                "TPM/FPKM/RSEM with a few negative values (batch-corrected), log-transform them "
                "first (e.g. np.log2(x.clip(0) + 1)); value_type= says what they are.",
                where,
                stats["min"],
                stats["max"],
            )
        if detected == "normalized" and stats["max"] > UNLOGGED_MAX:
            logger.info(
                "%s: its largest value is %.3g (above %g, which logged expression stays "
                "below): read as depth-normalized values not yet logged (TPM, FPKM, RSEM), "
                "log1p-transformed; value_type='continuous' keeps them as they are.",
                where,
                stats["max"],
                UNLOGGED_MAX,
            )
        elif detected == "normalized":  # read so for rows of one total
            logger.info(
                "%s: every row sums to %.4g (sc.pp.normalize_total without log1p?): read as "
                "depth-normalized values, log1p-transformed; value_type='continuous' keeps them "
                "as they are.",
                where,
                stats["row_total"],
            )
        return detected
    if value_type not in VALUE_TYPES:
        msg = f"value_type={value_type!r} must be 'auto' or one of {list(VALUE_TYPES)}."
        raise ValueError(msg)
    stats = value_stats(X)
    if value_type in ("counts", "normalized") and stats["min"] < 0:
        msg = (
            f"value_type={value_type!r} but {where} has negative values (min {stats['min']:.3g}); "
            "counts and TPM/FPKM cannot be negative. Use value_type='continuous' for transformed data "
            "or pass the raw counts layer with layer=."
        )
        raise ValueError(msg)
    if value_type == "binary" and not stats["binary"]:
        msg = f"value_type='binary' but {where} holds values other than 0 and 1."
        raise ValueError(msg)
    if value_type == "counts" and not stats["integer"]:
        logger.warning(
            "values are read as raw counts, but %s holds non-integer values (log-normalized?): "
            "they are depth-normalized and log1p-transformed as counts would be. Pass the raw "
            "counts with layer=, or value_type='continuous' for transformed data.",
            where,
        )
    if (
        value_type == "normalized"
        and 0 < stats["max"] <= UNLOGGED_MAX
        and common_row_total(X) is None  # sc.pp.normalize_total's rows are not logged
    ):
        # as a trained model warns of such a query (check_query_values)
        logger.warning(
            "values are read as unlogged TPM/FPKM (value_type='normalized'), but %s holds "
            "values up to %g only (already logged?): they are log1p-transformed again. Pass "
            "value_type='continuous' for log values.",
            where,
            stats["max"],
        )
    return value_type


def _check_other_rows(X, rows: np.ndarray, detected: str, where: str) -> None:
    """The rows of ``X`` outside ``rows`` (val, test and unlabelled cells) against the value
    type ``detected`` on ``rows`` (the training cells): an error where they hold negative
    values that a counts or TPM-like preprocessing cannot read, a warning where they are not
    whole numbers (counts) or not 0/1 (binary) as the training cells are."""
    other = np.setdiff1d(np.arange(X.shape[0]), rows)
    stats = value_stats(X, rows=other)
    if detected in ("counts", "normalized") and stats["min"] < 0:
        msg = (
            f"{where}: the training cells hold {_TRAINED_ON[detected]}, but the {len(other):,} "
            f"other cells (val, test, unlabelled) hold negative values (min {stats['min']:.3g}) "
            "that their preprocessing cannot read. Fix those cells, or pass value_type= for "
            "all of them (e.g. 'continuous' for transformed data)."
        )
        raise ValueError(msg)
    if (detected == "counts" and not stats["integer"]) or (
        detected == "binary" and not stats["binary"]
    ):
        logger.warning(
            "%s: the training cells hold %s, but some of the %d other cells (val, test, "
            "unlabelled) do not; they are read as %s too. Pass value_type= if that is wrong.",
            where,
            _TRAINED_ON[detected],
            len(other),
            _TRAINED_ON[detected],
        )


def check_labels_key(labels_key, argument: str = "labels_key") -> None:
    """``labels_key`` must be a str, the name of one column of ``adata.obs``; ``argument``:
    the name the caller gives it (:meth:`Regressor.fit`'s ``target_key``)."""
    if not isinstance(labels_key, str):
        example = "age" if argument == "target_key" else "cell_type"
        msg = (
            f"{argument}={short_repr(labels_key)} must be a str naming one column of adata.obs "
            f"(e.g. {argument}={example!r}), not a {type(labels_key).__name__}."
        )
        raise TypeError(msg)


def check_min_cells_per_class(min_cells_per_class) -> None:
    """``min_cells_per_class`` must be None or a whole number of cells, 0 or more."""
    if min_cells_per_class is None:
        return
    msg = (
        f"min_cells_per_class={min_cells_per_class!r} must be None or a whole number of "
        f"cells, 0 or more (e.g. {MIN_CELLS_TO_SPLIT})."
    )
    if isinstance(min_cells_per_class, (bool, np.bool_)) or not isinstance(
        min_cells_per_class, (int, np.integer)
    ):
        raise TypeError(msg)
    if min_cells_per_class < 0:
        raise ValueError(msg)


def prepare_labelled(
    adata: AnnData,
    labels_key: str,
    *,
    layer: str | None = None,
    split_key: str | None = None,
    value_type: str = "auto",
    scale: bool = True,
    min_cells_per_class: int | None = None,
    seed: int = 0,
    writes: bool = True,
    task: str = "classification",
    group_key: str | None = "auto",
    labels_argument: str = "labels_key",
) -> LabelledData:
    """Validate ``adata`` and build the labelled matrix; nothing is written into ``adata``.

    Raises a clear error for every unusable input before any work starts.
    ``writes=False`` (a model's ``fit``, which writes nothing) accepts a view.
    ``task``: ``"classification"``, ``"regression"`` (a numeric target) or ``"auto"``
    (:func:`resolve_task`). ``group_key``: cells whose value it shares stay in one part of
    the seeded split (:func:`~scautogenome.data.resolve_groups`; ``"auto"`` keeps the samples
    of a TCGA patient together). ``labels_argument``: the caller's name of ``labels_key``
    in messages (``"target_key"``).
    """
    check_labels_key(labels_key, labels_argument)
    check_min_cells_per_class(min_cells_per_class)
    # the warning tells of the grouped seeded split only where that split is drawn
    check_adata(adata, writes=writes, splits=split_key is None and group_key == "auto")
    labels = check_labels(adata, labels_key, labels_argument)
    for argument, key in (("split_key", split_key), ("group_key", group_key)):
        if isinstance(key, str) and key != "auto" and key in adata.obs.columns:
            check_one_obs_column(adata, argument, key)  # before either is read
    asked, task = task, resolve_task(labels, labels_key, task)
    if task == "regression":
        return _prepare_numeric(
            adata,
            layer,
            labels,
            labels_key,
            value_type=value_type,
            scale=scale,
            split_key=split_key,
            min_cells_per_class=min_cells_per_class,
            seed=seed,
            group_key=group_key,
        )

    check_not_continuous(labels, labels_key, "classification")
    _check_one_value_per_name(labels, labels_key)
    lab = labels.astype("object").where(labels.notna(), None)
    lab_str = np.array([None if v is None else str(v) for v in lab], dtype=object)
    present = lab_str != None  # noqa: E711 - elementwise on object array
    if not present.any():
        msg = f"obs[{labels_key!r}] has no labelled cells."
        raise ValueError(msg)
    counts = (
        pd.Series(lab_str[present])
        .value_counts(sort=False)
        .sort_values(ascending=False, kind="stable")
    )
    warn_missing_as_text(
        labels,
        labels_key,
        counts,
        "trained on as classes; to leave those cells out of training (they are still predicted)",
    )
    warn_unsure_name(labels, labels_key, counts)
    # a split of the user's own needs no class size to be drawn (a class without training
    # cells is refused below); min_cells_per_class still leaves small classes out
    least = min_cells_per_class or 0
    sized = counts
    if split_key is None:
        least = max(MIN_CELLS_TO_SPLIT, least)
    elif split_key in adata.obs.columns:
        # only the cells the split trains and validates on count: its test cells' labels
        # choose nothing
        used_rows = present & adata.obs[split_key].astype(str).isin(("train", "val")).to_numpy()
        sized = pd.Series(lab_str[used_rows]).value_counts().reindex(counts.index, fill_value=0)
    small = sized[sized < least]
    dropped: list[str] = []
    if len(small):
        if min_cells_per_class is None:
            detail = ", ".join(f"{k!r} ({v} cells)" for k, v in list(small.items())[:10])
            if len(small) > 10:  # hundreds of classes stay readable
                detail += f", ... ({len(small)} classes in all)"
            msg = (
                f"Class(es) too small to split into train/val/test (need at least "
                f"{MIN_CELLS_TO_SPLIT} cells): {detail}. "
            )
            if len(counts) - len(small) >= 2:
                msg += (
                    f"Pass min_cells_per_class={MIN_CELLS_TO_SPLIT} or more to leave such "
                    "classes out of training (their cells still get a prediction), or a split "
                    "of your own (split_key=)."
                )
            else:  # sample or patient ids as labels: leaving the small ones out leaves none
                kept = len(counts) - len(small)
                msg += (
                    f"Leaving them out (min_cells_per_class=) would leave "
                    f"{'no class' if kept == 0 else 'one class'} to learn."
                )
                n_labelled = int(counts.sum())
                if len(counts) >= n_labelled / MIN_CELLS_TO_SPLIT:
                    msg += (
                        f" obs[{labels_key!r}] has {len(counts)} values for {n_labelled} "
                        "labelled cells: identifiers (of samples, patients), not classes? Pass "
                        "the column of the classes."
                    )
            if asked == "auto" and _all_numbers(counts.index):
                msg += (
                    f" Every label of obs[{labels_key!r}] is a number: task='regression' "
                    "predicts it as one, with no classes to split."
                )
            raise ValueError(msg)
        dropped = [str(k) for k in small.index]
        logger.warning(
            "Leaving %d class(es) with fewer than %d %scells out of training: %s%s",
            len(dropped),
            least,
            "" if split_key is None else "train and val ",
            shown_values(dropped, total="classes in all"),
            _held_out_of_dropped(adata, split_key, lab_str, dropped),
        )
    if isinstance(labels.dtype, pd.CategoricalDtype):
        order = [str(c) for c in labels.cat.categories]
    elif _is_numeric(labels.dtype):
        order = _name_order(pd.unique(labels.dropna()), numeric=True)
    else:
        order = _name_order(counts.index, numeric=False)
    classes = np.array([c for c in order if c in counts.index and c not in dropped])
    if len(classes) < 2:
        usable = f"one usable class ({str(classes[0])!r})" if len(classes) else "no usable class"
        left = (
            f" (min_cells_per_class={min_cells_per_class} left {len(dropped)} out)"
            if dropped
            else ""
        )
        msg = f"obs[{labels_key!r}] has {usable}{left}; classification needs at least 2."
        raise ValueError(msg)
    code_of = {c: i for i, c in enumerate(classes)}
    codes = np.array([code_of.get(v, -1) if v is not None else -1 for v in lab_str], dtype=np.int64)
    used = codes >= 0
    # the splits draw class by class in the order of the class names (numbers in numeric
    # order), not of a categorical's categories: reordering them (for a plot) keeps the split
    split_codes, split_classes = _in_name_order(labels, codes, classes)
    groups, grouped_by = resolve_groups(
        adata, group_key, used, hint_donors=split_key is None, labels_key=labels_key, codes=codes
    )

    if split_key is not None:
        split = _user_split(adata, split_key, used, split_codes, seed, groups)
        missing = [
            c for i, c in enumerate(classes) if not np.any((codes == i) & (split == "train"))
        ]
        if missing:
            msg = f"obs[{split_key!r}] puts no training cell in class(es) {', '.join(missing)}."
            raise ValueError(msg)
        warn_groups_across_parts(split, groups, split_key, grouped_by)
        grouped_by = None
        why = {
            "val": "the search cannot tell how well it learns them",
            "test": "the test metrics say nothing of them",
        }
        for part, consequence in why.items():
            lacking = [
                c for i, c in enumerate(classes) if not np.any((codes == i) & (split == part))
            ]
            if lacking and np.any(split == part):
                logger.warning(
                    "obs[%r] puts no %s cell in class(es) %s: %s.",
                    split_key,
                    part,
                    ", ".join(map(str, lacking)),
                    consequence,
                )
    else:
        split, grouped_by = _seeded_split(split_codes, groups, grouped_by, seed, split_classes)
        missing = [
            c for i, c in enumerate(classes) if not np.any((codes == i) & (split == "train"))
        ]
        if missing:  # every cell of theirs is in groups held out for another class
            msg = (
                f"The split by {grouped_by} leaves no training cell in class(es) "
                f"{', '.join(missing)}. Pass group_key=None to split "
                "cells one by one, or a split of your own (split_key=)."
            )
            raise ValueError(msg)
        for part in ("val", "test"):
            if grouped_by is not None and not np.any(split == part):
                n_groups = pd.Series(groups[used]).nunique()
                msg = (
                    f"The split by {grouped_by} leaves no {part} cell: of its {n_groups} "
                    "groups, too few can be held out whole for validation and test (a group "
                    "holding the only cells of a class stays in train). Pass group_key=None to "
                    "split cells one by one, or a split of your own (split_key=)."
                )
                raise ValueError(msg)
    # the matrix is read (and scanned) only once the labels and the split are usable: on a
    # large file a mistake in them is named in a second, not after the whole matrix was loaded
    X, value_type = _read_matrix(adata, layer, value_type)
    return _finish(
        adata,
        X,
        value_type,
        scale,
        split,
        f"{len(classes)} classes",
        layer=layer,
        codes=codes,
        classes=classes,
        dropped_classes=dropped,
        grouped_by=grouped_by,
    )


def _where(layer: str | None) -> str:
    return "adata.X" if layer is None else f"adata.layers[{layer!r}]"


def _read_matrix(adata: AnnData, layer: str | None, value_type: str) -> tuple[Any, str]:
    """``X`` (or ``layer``), checked for NaN and infinite values, and its value type checked
    (``"auto"`` is kept: :func:`_finish` detects it on the training cells)."""
    where = _where(layer)
    X = get_matrix(adata, layer)
    check_finite(X, where, **names_of(adata))
    note_unread_annotations(adata, layer)
    return X, value_type if value_type == "auto" else resolve_value_type(X, value_type, where)


def _prepare_numeric(
    adata: AnnData,
    layer: str | None,
    labels: pd.Series,
    labels_key: str,
    *,
    value_type: str,
    scale: bool,
    split_key: str | None,
    min_cells_per_class: int | None,
    seed: int,
    group_key: str | None,
) -> LabelledData:
    """:func:`prepare_labelled` of a numeric target (``task="regression"``)."""
    if min_cells_per_class is not None:
        msg = (
            f"min_cells_per_class={min_cells_per_class} leaves small classes out, but "
            f"obs[{labels_key!r}] is a numeric target (task='regression'), which has no classes."
        )
        raise ValueError(msg)
    y = numeric_target(labels, labels_key)
    used = ~np.isnan(y)
    if used.sum() < MIN_CELLS_REGRESSION:
        msg = (
            f"obs[{labels_key!r}] has {int(used.sum())} cells with a value; a numeric target "
            f"needs at least {MIN_CELLS_REGRESSION} to train, validate and test on."
        )
        raise ValueError(msg)
    if np.unique(y[used]).size < 2:
        msg = f"obs[{labels_key!r}] has the same value in every cell; there is nothing to predict."
        raise ValueError(msg)
    groups, grouped_by = resolve_groups(
        adata, group_key, used, hint_donors=split_key is None, labels_key=labels_key
    )
    if split_key is not None:
        # a validation part drawn from the user's train cells is stratified on bins of their
        # values alone: the test cells' values choose nothing
        check_obs_column(adata, "split_key", split_key)
        in_train = adata.obs[split_key].astype("object").eq("train").to_numpy(dtype=bool)
        codes = target_bins(np.where(in_train, y, np.nan), groups=groups)
        split = user_split(
            adata.obs[split_key], split_key, used, codes, seed, groups, noun=obs_noun(adata)
        )
        for part in ("train", "val"):
            if (split == part).sum() < 2:
                msg = (
                    f"obs[{split_key!r}] puts {int((split == part).sum())} cell(s) with a value "
                    f"in {part}; a numeric target needs at least 2 there."
                )
                raise ValueError(msg)
        warn_groups_across_parts(split, groups, split_key, grouped_by)
        grouped_by = None
    else:
        # the seeded split draws whole groups, stratified on bins of the groups' values
        codes = target_bins(y, groups=groups)
        bins = [f"value bin {i + 1}" for i in range(int(codes.max()) + 1)]
        split, grouped_by = _seeded_split(codes, groups, grouped_by, seed, bins)
        for part in ("train", "val"):
            if (split == part).sum() < 2:
                msg = (
                    f"The split by {grouped_by} puts {int((split == part).sum())} cell(s) with "
                    f"a value in {part}; a numeric target needs at least 2 there. Pass "
                    "group_key=None or a split of your own (split_key=)."
                )
                raise ValueError(msg)
    # the matrix is read (and scanned) only once the target and the split are usable
    X, value_type = _read_matrix(adata, layer, value_type)
    return _finish(
        adata,
        X,
        value_type,
        scale,
        split,
        f"target {labels_key!r}",
        layer=layer,
        codes=codes,
        classes=np.array([str(labels_key)]),
        dropped_classes=[],
        task="regression",
        y=y,
        grouped_by=grouped_by,
    )


def _is_numeric(dtype) -> bool:
    """Whether labels of ``dtype`` are numbers (booleans too), ordered as numbers."""
    return pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)


def _check_one_value_per_name(labels: pd.Series, labels_key: str) -> None:
    """Classes are named by their values' text: distinct values of one text (``1`` and
    ``"1"``, cluster ids of two sources concatenated) would be one class, whose cells the
    split counts apart, and names that differ only by spaces at their ends (``"B cell "``, as
    a spreadsheet exports) separate classes: an error naming them."""
    by_name: dict[str, list] = {}
    for value in pd.unique(labels.dropna().astype(object)):
        by_name.setdefault(str(value), []).append(value)
    clash = [values for values in by_name.values() if len(values) > 1]
    if clash:
        shown = " and ".join(repr(v) for v in clash[0])
        msg = (
            f"obs[{labels_key!r}] holds {shown}, which are one class name, {str(clash[0][0])!r}"
            f"{f' ({len(clash)} such names)' if len(clash) > 1 else ''}; make them one value "
            f"first, e.g. adata.obs[{labels_key!r}] = adata.obs[{labels_key!r}].astype(str)."
        )
        raise ValueError(msg)
    by_text: dict[str, list[str]] = {}
    for name in by_name:
        by_text.setdefault(name.strip(), []).append(name)
    spaced = [sorted(names) for names in by_text.values() if len(names) > 1]
    if spaced:
        shown = ", ".join(repr(n) for n in spaced[0][:-1]) + f" and {spaced[0][-1]!r}"
        msg = (
            f"obs[{labels_key!r}] holds {shown}, which differ only by spaces at their ends"
            f"{f' ({len(spaced)} such names)' if len(spaced) > 1 else ''}: they would be "
            "separate classes; strip them first, e.g. "
            f"adata.obs[{labels_key!r}] = adata.obs[{labels_key!r}].str.strip()."
        )
        raise ValueError(msg)


def _name_order(values, *, numeric: bool) -> list[str]:
    """The class names ``values`` as text in the classes' order: numbers in numeric order
    (1, 2, 10, not "1", "10", "2"), text sorted."""
    return [str(v) for v in sorted(values)] if numeric else sorted(map(str, values))


def _in_name_order(
    labels: pd.Series, codes: np.ndarray, classes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``codes`` (of ``classes``; -1 for a cell not used) renumbered in the order of the class
    names, and the classes in that order: what the splits draw on, so that the order of a
    categorical's categories does not change them. That order is the one ``classes`` of a
    column that is not categorical have: text sorted, numbers in numeric order (1, 2, 10);
    where ``classes`` are in it already (such a column, a categorical with sorted
    categories) nothing changes."""
    if not isinstance(labels.dtype, pd.CategoricalDtype):
        return codes, classes
    categories = labels.cat.categories
    names = _name_order(categories, numeric=_is_numeric(categories.dtype))
    rank = {name: i for i, name in enumerate(names)}
    order = sorted(range(len(classes)), key=lambda i: rank[str(classes[i])])
    new_code = np.empty(len(classes), dtype=np.int64)
    new_code[order] = np.arange(len(classes))
    renumbered = np.where(codes >= 0, new_code[np.maximum(codes, 0)], -1)
    return renumbered, classes[order]


def _seeded_split(codes, groups, grouped_by, seed: int, classes) -> tuple[np.ndarray, str | None]:
    """The seeded split (by groups where some hold several used cells) and what it grouped by
    (None where it split cells one by one)."""
    split = group_split(codes, groups, seed=seed, what=grouped_by, classes=classes)
    return split, grouped_by if groups_repeat(groups, codes >= 0) else None


def _user_split(adata, split_key: str, used: np.ndarray, codes: np.ndarray, seed: int, groups=None):
    """:func:`user_split` of ``obs[split_key]``, a KeyError naming the columns without it."""
    check_obs_column(adata, "split_key", split_key)
    return user_split(
        adata.obs[split_key], split_key, used, codes, seed, groups, noun=obs_noun(adata)
    )


def check_something_varies(transform: InputTransform, n_train: int, noun: str) -> None:
    """A ValueError where every gene is constant on the ``n_train`` training cells that
    ``transform`` was fitted on, as the model reads them: there is nothing to learn."""
    if transform.range_ is None or np.isfinite(transform.range_).any():
        return
    value_type = transform.value_type
    how = (
        " (each cell normalized to 1e4 counts: one gene, or genes in the same ratio in "
        "every cell, come out the same; value_type='continuous' uses the values as given)"
        if value_type == "counts"
        else ""
    )
    msg = (
        f"Every gene is constant on the {n_train} training {noun} after the '{value_type}' "
        f"preprocessing{how}, so there is nothing to learn from."
    )
    raise ValueError(msg)


def _finish(
    adata, X, value_type: str, scale: bool, split: np.ndarray, what: str, **fields
) -> LabelledData:
    """Detect the value type (``"auto"``) and fit the input transform on the training cells,
    log the split and build the :class:`LabelledData` (``what``: the classes or the target,
    for the log): nothing of the val or test cells chooses the preprocessing."""
    train = np.flatnonzero(split == "train")
    if value_type == "auto":
        value_type = resolve_value_type(X, value_type, _where(fields.get("layer")), rows=train)
    transform = InputTransform(value_type=value_type, scale=scale)
    transform.fit(X, train, names=adata.var_names)
    noun = obs_noun(adata)
    check_something_varies(transform, train.size, noun)
    n_unused = int((split == "none").sum())
    reads = transform.varying_genes()
    logger.info(
        "data: %d %s (%d train / %d val / %d test%s), %d genes%s, %s, values: %s",
        adata.n_obs,
        noun,
        (split == "train").sum(),
        (split == "val").sum(),
        (split == "test").sum(),
        # without a label (or target value), of a class left out, or 'none' in a user's split
        (
            f"; {n_unused} unused: no value, or none in split_key"
            if fields.get("task") == "regression"
            else f"; {n_unused} unused: no label, a class left out, or none in split_key"
        )
        if n_unused
        else "",
        adata.n_vars,
        "" if reads is None else f" ({not_read(adata.n_vars, reads, noun)})",
        what,
        value_type,
    )
    warn_copies_across_parts(X, split, noun)
    n_val = int((split == "val").sum())
    if 0 < n_val < FEW_VAL_CELLS:
        one = noun[:-1]  # "cell", "sample"
        weight = (
            f"each {one} weighs much in the score"
            if fields.get("task") == "regression"
            else f"one {one} moves accuracy by {100 / n_val:.0f}%"
        )
        logger.warning(
            "the validation split has %d %s: a search keeps the trial that scores best on "
            "them (and training, its best epoch), and %s, so which one wins is largely "
            "chance. More %s, or split_key= with a larger val part, make the pick steadier.",
            n_val,
            noun,
            weight,
            noun,
        )
    return LabelledData(
        X=X,
        split=split,
        transform=transform,
        var_names=np.asarray(adata.var_names.astype(str)),
        **fields,
    )


def not_read(n_vars: int, reads: np.ndarray, noun: str) -> str:
    """What the log says of the genes a network leaves out (constant on the training cells)."""
    return (
        f"{n_vars - len(reads)} constant on the training {noun}: the network reads the "
        f"other {len(reads)}"
    )


_FIREHOSE_ID = re.compile(r"^([^|]+)\|[0-9]+$")
"""A Firehose gene id, ``SYMBOL|ENTREZ`` (``TP53|7157``; ``?|100130426`` for unnamed genes)."""


def _symbols_of_ids(names: np.ndarray) -> list:
    """The symbol of each Firehose id (``TP53|7157`` -> ``TP53``); None (no key) for a name of
    no symbol (``?|100130426``) or no Firehose id."""
    return [
        m.group(1) if (m := _FIREHOSE_ID.match(n)) and m.group(1) != "?" else None for n in names
    ]


def _plain_names(names: np.ndarray) -> list:
    """The names that are no Firehose ids as they are; None (no key) for a Firehose id, so that
    two of them (another Entrez id under one symbol) never match by their symbol."""
    return [None if _FIREHOSE_ID.match(n) else n for n in names]


def _keys_of(names: np.ndarray, key, side: str) -> pd.Index:
    """``key`` of every name, a name without a key (None) getting one of its own that matches
    nothing (``side`` keeps the query's apart from the model's)."""
    return pd.Index(
        [f"\0{side}{i}" if k is None else k for i, k in enumerate(key(names))], dtype=object
    )


def _match_left(
    pos: np.ndarray, query: np.ndarray, model: np.ndarray, query_key, model_key
) -> tuple[int, dict[int, np.ndarray]]:
    """Match the query genes still without a model gene (``pos < 0``) by their key
    (``query_key``) against the model genes' (``model_key``), where a key names one model
    gene only and that gene has no match yet; one query column per model gene (the first
    query gene of a key wins). Fills ``pos``; the number matched, and the model genes that
    several query genes matched (position -> those query genes' positions)."""
    left = np.flatnonzero(pos < 0)
    bare = _keys_of(model, model_key, "m").to_series()
    taken = np.zeros(model.size, dtype=bool)
    taken[pos[pos >= 0]] = True
    unique = ~bare.duplicated(keep=False).to_numpy() & ~taken
    lookup = pd.Index(bare[unique].to_numpy())
    hit = lookup.get_indexer(_keys_of(query[left], query_key, "q"))
    found = hit >= 0
    candidates = np.flatnonzero(unique)[hit[found]]
    first = ~pd.Series(candidates).duplicated().to_numpy()
    pos[left[found][first]] = candidates[first]
    several = {int(m): left[found][candidates == m] for m in np.unique(candidates[~first])}
    return int(first.sum()), several


def gene_alignment(
    query_genes, model_genes, *, log: bool = True
) -> tuple[np.ndarray, np.ndarray, int]:
    """Columns of the query that map onto model genes: ``(src, dst, n_model)`` (``src`` sorted).

    Names are matched exactly; a query gene left over is then matched by its Ensembl id
    without the version (``ENSG00000141510.17`` to ``ENSG00000141510.16``, or to the bare id),
    and by the symbol of a Firehose id (``TP53|7157`` to ``TP53``, either way), where that id
    or symbol names one model gene only, and that gene has no exact match; where several
    query genes have its key, the first (logged with ``log``, a warning naming them for the
    latter; a caller that aligns the same genes again passes False, so it is said once).
    """
    model = np.asarray(model_genes, dtype=str)
    query = np.asarray(query_genes, dtype=str)
    model_index = pd.Index(model)
    pos = model_index.get_indexer(pd.Index(query))
    for pattern, query_key, model_key, how in (
        (_ENSEMBL_VERSIONED, _unversioned, _unversioned, "their Ensembl id without the version"),
        # a Firehose id of the query to a plain symbol of the model, and the other way round
        (_FIREHOSE_ID, _symbols_of_ids, _plain_names, "the symbol of their SYMBOL|ENTREZ id"),
        (_FIREHOSE_ID, _plain_names, _symbols_of_ids, "the symbol of the model's SYMBOL|ENTREZ id"),
    ):
        left = np.flatnonzero(pos < 0)
        if left.size and (
            any(pattern.match(n) for n in query[left[:1000]])
            or any(pattern.match(n) for n in model[:1000])
        ):
            n, several = _match_left(pos, query, model, query_key, model_key)
            if log and n:
                logger.info("%d genes matched by %s", n, how)
            if log and several:
                m, cols = next(iter(several.items()))
                logger.warning(
                    "%d model gene%s matched by several query genes by %s, e.g. %r by %s; the "
                    "first is used: drop or rename the others to choose",
                    len(several),
                    " is" if len(several) == 1 else "s are",
                    how,
                    str(model[m]),
                    " and ".join(repr(str(q)) for q in query[cols[:3]]),
                )
    src = np.flatnonzero(pos >= 0)
    return src, pos[src], len(model_index)
