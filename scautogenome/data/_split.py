"""Seeded, stratified train/val/test splits."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._keys import SPLITS
from .._settings import logger

MIN_CELLS_TO_SPLIT = 3


def stratified_split(
    codes: np.ndarray, *, seed: int, val_frac: float = 0.1, test_frac: float = 0.1
) -> np.ndarray:
    """Per class, ``max(1, round(frac * n))`` cells go to val and to test, the rest to train.

    ``codes`` holds class codes, -1 for cells without a usable label (they get ``"none"``).
    Returns an array of ``"train"``/``"val"``/``"test"``/``"none"`` strings.
    """
    rng = np.random.default_rng(seed)
    split = np.full(codes.shape[0], "none", dtype=object)
    for c in np.unique(codes[codes >= 0]):
        idx = np.flatnonzero(codes == c)
        rng.shuffle(idx)
        n = idx.size
        n_val = max(1, round(val_frac * n))
        n_test = max(1, round(test_frac * n))
        split[idx[:n_test]] = "test"
        split[idx[n_test : n_test + n_val]] = "val"
        split[idx[n_test + n_val :]] = "train"
    return split.astype(str)


def val_from_train(split: np.ndarray, codes: np.ndarray, *, seed: int) -> np.ndarray:
    """``split`` with a stratified validation part drawn from its training cells: per class
    ``round(n / 9)`` of its ``n`` training cells (at least 1, and none from a class with a
    single training cell), the 8:1 of train and val that :func:`stratified_split` gives."""
    rng = np.random.default_rng(seed)
    out = split.copy()
    for c in np.unique(codes[codes >= 0]):
        idx = np.flatnonzero((codes == c) & (split == "train"))
        if idx.size < 2:
            continue
        rng.shuffle(idx)
        out[idx[: max(1, round(idx.size / 9))]] = "val"
    return out


def user_split(
    values: pd.Series,
    split_key: str,
    labelled: np.ndarray,
    codes: np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Validate a user split column: values must be train/val/test (missing -> not used).

    Without labelled ``val`` cells and given the class ``codes``, a stratified validation part
    is drawn (with ``seed``) from the training cells, so that a train/test split (AutoGenome's
    layout without an eval file) keeps its test cells held out."""
    s = values.astype("object").where(values.notna(), "none").astype(str).to_numpy()
    bad = sorted(set(s[labelled]) - set(SPLITS) - {"none"})
    if bad:
        msg = (
            f"obs[{split_key!r}] holds {bad}; split values must be one of {list(SPLITS)} "
            "(NaN or 'none' for cells to leave out)."
        )
        raise ValueError(msg)
    if not np.any((s == "train") & labelled):
        msg = f"obs[{split_key!r}] has no labelled 'train' cells; a search needs train cells."
        raise ValueError(msg)
    s = s.copy()
    s[~labelled] = "none"
    if not np.any(s == "val"):
        if codes is None:
            msg = f"obs[{split_key!r}] has no labelled 'val' cells; a search needs both train and val."
            raise ValueError(msg)
        s = val_from_train(s, codes, seed=seed)
        if not np.any(s == "val"):
            msg = (
                f"obs[{split_key!r}] has no labelled 'val' cells, and its training cells are "
                "too few to draw a validation part from; a search needs both. Mark some cells "
                "'val'."
            )
            raise ValueError(msg)
        logger.warning(
            "obs[%r] has no labelled 'val' cells: %d of its training cells, drawn per class "
            "(per quantile bin of a numeric target), "
            "validate the search instead (its test cells stay held out).",
            split_key,
            int((s == "val").sum()),
        )
    if not np.any(s == "test"):
        logger.warning(
            "obs[%r] has no labelled 'test' cells: the test metrics will be NaN (n = 0).",
            split_key,
        )
    return s
