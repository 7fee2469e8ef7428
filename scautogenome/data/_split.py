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


def user_split(values: pd.Series, split_key: str, labelled: np.ndarray) -> np.ndarray:
    """Validate a user split column: values must be train/val/test (missing -> not used)."""
    s = values.astype("object").where(values.notna(), "none").astype(str).to_numpy()
    bad = sorted(set(s[labelled]) - set(SPLITS) - {"none"})
    if bad:
        msg = f"obs[{split_key!r}] holds {bad}; split values must be one of {list(SPLITS)}."
        raise ValueError(msg)
    for name in ("train", "val"):
        if not np.any((s == name) & labelled):
            msg = f"obs[{split_key!r}] has no labelled {name!r} cells; a search needs both train and val."
            raise ValueError(msg)
    if not np.any((s == "test") & labelled):
        logger.warning(
            "obs[%r] has no labelled 'test' cells: the test metrics will be NaN (n = 0).",
            split_key,
        )
    s = s.copy()
    s[~labelled] = "none"
    return s
