"""AnnData -> what the models need: matrix, labels, split and fitted transform."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._keys import SPLITS
from .._settings import logger
from ._checks import (
    check_adata,
    check_finite,
    check_labels,
    check_not_continuous,
    get_matrix,
    value_stats,
)
from ._split import MIN_CELLS_TO_SPLIT, stratified_split, user_split
from ._transform import VALUE_TYPES, InputTransform, detect_value_type

if TYPE_CHECKING:
    from anndata import AnnData


# fewer validation cells than this: the search's pick among trials is warned to be noisy
FEW_VAL_CELLS = 20

# label texts that usually mean "no label": what str() makes of NaN and None, and blanks
MISSING_AS_TEXT = frozenset({"", "nan", "none", "na", "<na>", "null"})


@dataclass
class LabelledData:
    """A labelled matrix ready for training. ``codes`` is -1 where a cell is not used."""

    X: object
    codes: np.ndarray
    classes: np.ndarray
    split: np.ndarray
    transform: InputTransform
    var_names: np.ndarray
    dropped_classes: list[str]

    def rows(self, name: str) -> np.ndarray:
        return np.flatnonzero(self.split == name)

    @property
    def n_classes(self) -> int:
        return len(self.classes)


def resolve_value_type(X, value_type: str, where: str) -> str:
    """Check ``value_type`` against the data (``"auto"`` detects it)."""
    if value_type == "auto":
        return detect_value_type(X)
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
    return value_type


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
) -> LabelledData:
    """Validate ``adata`` and build the labelled matrix; nothing is written into ``adata``.

    Raises a clear error for every unusable input before any work starts.
    ``writes=False`` (a model's ``fit``, which writes nothing) accepts a view.
    """
    check_adata(adata, writes=writes)
    labels = check_labels(adata, labels_key)
    where = "adata.X" if layer is None else f"adata.layers[{layer!r}]"
    X = get_matrix(adata, layer)
    check_finite(X, where)
    value_type = resolve_value_type(X, value_type, where)

    check_not_continuous(labels, labels_key, "classification")
    lab = labels.astype("object").where(labels.notna(), None)
    lab_str = np.array([None if v is None else str(v) for v in lab], dtype=object)
    present = lab_str != None  # noqa: E711 - elementwise on object array
    if not present.any():
        msg = f"obs[{labels_key!r}] has no labelled cells."
        raise ValueError(msg)
    counts = pd.Series(lab_str[present]).value_counts()
    missing_as_text = [c for c in counts.index if c.strip().lower() in MISSING_AS_TEXT]
    if missing_as_text:
        categorical = isinstance(labels.dtype, pd.CategoricalDtype)
        fix = (
            f"adata.obs[{labels_key!r}] = adata.obs[{labels_key!r}].cat.remove_categories("
            f"{missing_as_text!r})"
            if categorical
            else f"adata.obs[{labels_key!r}] = adata.obs[{labels_key!r}].replace("
            f"{missing_as_text!r}, np.nan)"
        )
        logger.warning(
            "obs[%r] has class(es) named like a missing value: %s. They are trained on as "
            "classes; to leave those cells out of training (they are still predicted), make "
            "them NaN: %s",
            labels_key,
            ", ".join(f"{c!r} ({counts[c]} cells)" for c in missing_as_text),
            fix,
        )
    # a split of the user's own needs no class size to be drawn (a class without training
    # cells is refused below); min_cells_per_class still leaves small classes out
    least = min_cells_per_class or 0
    sized = counts
    if split_key is None:
        least = max(MIN_CELLS_TO_SPLIT, least)
    elif split_key in adata.obs.columns:  # only the cells the split uses count
        used_rows = present & adata.obs[split_key].astype(str).isin(SPLITS).to_numpy()
        sized = pd.Series(lab_str[used_rows]).value_counts().reindex(counts.index, fill_value=0)
    small = sized[sized < least]
    dropped: list[str] = []
    if len(small):
        if min_cells_per_class is None:
            detail = ", ".join(f"{k!r} ({v} cells)" for k, v in small.items())
            msg = (
                f"Class(es) too small to split into train/val/test (need at least "
                f"{MIN_CELLS_TO_SPLIT} cells): {detail}. Pass min_cells_per_class="
                f"{MIN_CELLS_TO_SPLIT} (CLI: --min-cells-per-class {MIN_CELLS_TO_SPLIT}) or more "
                "to leave such classes out of training (their cells still get a prediction), or "
                "a split of your own (split_key=, CLI: --split-key)."
            )
            raise ValueError(msg)
        dropped = [str(k) for k in small.index]
        logger.warning(
            "Leaving %d class(es) with fewer than %d cells out of training: %s",
            len(dropped),
            least,
            ", ".join(dropped),
        )
    if isinstance(labels.dtype, pd.CategoricalDtype):
        order = [str(c) for c in labels.cat.categories]
    elif pd.api.types.is_numeric_dtype(labels.dtype) or pd.api.types.is_bool_dtype(labels.dtype):
        # numbers in numeric order (1, 2, 10), not as text ("1", "10", "2")
        order = [str(v) for v in sorted(pd.unique(labels.dropna()))]
    else:
        order = sorted(counts.index)
    classes = np.array([c for c in order if c in counts.index and c not in dropped])
    if len(classes) < 2:
        msg = (
            f"obs[{labels_key!r}] has {len(classes)} usable class(es) "
            f"({', '.join(map(str, classes)) or 'none'}); classification needs at least 2."
        )
        raise ValueError(msg)
    code_of = {c: i for i, c in enumerate(classes)}
    codes = np.array([code_of.get(v, -1) if v is not None else -1 for v in lab_str], dtype=np.int64)
    used = codes >= 0

    if split_key is not None:
        if split_key not in adata.obs.columns:
            msg = f"split_key={split_key!r} is not a column of adata.obs; available: {list(adata.obs.columns)}."
            raise KeyError(msg)
        split = user_split(adata.obs[split_key], split_key, used, codes, seed)
        missing = [
            c for i, c in enumerate(classes) if not np.any((codes == i) & (split == "train"))
        ]
        if missing:
            msg = f"obs[{split_key!r}] puts no training cell in class(es) {', '.join(missing)}."
            raise ValueError(msg)
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
        split = stratified_split(codes, seed=seed)

    transform = InputTransform(value_type=value_type, scale=scale)
    transform.fit(X, np.flatnonzero(split == "train"))
    logger.info(
        "data: %d cells (%d train / %d val / %d test), %d genes, %d classes, values: %s",
        adata.n_obs,
        (split == "train").sum(),
        (split == "val").sum(),
        (split == "test").sum(),
        adata.n_vars,
        len(classes),
        value_type,
    )
    n_val = int((split == "val").sum())
    if 0 < n_val < FEW_VAL_CELLS:
        logger.warning(
            "the validation split has %d cells: a search keeps the trial that scores best on "
            "them (and training, its best epoch), and one cell moves accuracy by %.0f%%, so "
            "which one wins is largely chance. More cells, or split_key= with a larger val "
            "part, make the pick steadier.",
            n_val,
            100 / n_val,
        )
    return LabelledData(
        X=X,
        codes=codes,
        classes=classes,
        split=split,
        transform=transform,
        var_names=np.asarray(adata.var_names.astype(str)),
        dropped_classes=dropped,
    )


def gene_alignment(query_genes, model_genes) -> tuple[np.ndarray, np.ndarray, int]:
    """Columns of the query that map onto model genes: ``(src, dst, n_model)``."""
    model_index = pd.Index(np.asarray(model_genes, dtype=str))
    pos = model_index.get_indexer(pd.Index(np.asarray(query_genes, dtype=str)))
    src = np.flatnonzero(pos >= 0)
    return src, pos[src], len(model_index)
