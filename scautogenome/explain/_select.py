"""Which cells to explain and which to use as background (seeded; no AnnData here)."""

from __future__ import annotations

import numpy as np


def stratified_cells(codes: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``n`` positions of ``codes``, as balanced over the classes as the counts allow.

    Every class gets ``min(its size, q)`` cells with the largest ``q`` that fits in ``n``; the
    slots left over (fewer than the classes larger than ``q``) give one more cell each to that
    many of those classes, drawn at random. Small classes are therefore fully represented, and
    with fewer slots than classes (``q`` = 0) ``n`` classes get one cell each. Returned sorted.
    """
    codes = np.asarray(codes)
    if n >= len(codes):
        return np.arange(len(codes))
    classes, sizes = np.unique(codes, return_counts=True)
    lo, hi = 0, int(sizes.max())  # largest q with sum(min(sizes, q)) <= n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if np.minimum(sizes, mid).sum() <= n else (lo, mid - 1)
    q = lo
    chosen = []
    for c, size in zip(classes, sizes):
        members = np.flatnonzero(codes == c)
        chosen.append(rng.choice(members, size=min(size, q), replace=False))
    picked = np.concatenate(chosen) if chosen else np.array([], dtype=np.int64)
    left = n - len(picked)
    if left > 0:  # one more cell of each of `left` classes that have cells to spare
        spare = np.flatnonzero(sizes > q)
        for c in rng.choice(classes[spare], size=left, replace=False):
            rest = np.setdiff1d(np.flatnonzero(codes == c), picked)
            picked = np.append(picked, rng.choice(rest))
    return np.sort(picked).astype(np.int64)


def random_rows(candidates: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` of ``candidates`` without replacement (all of them when there are fewer), sorted."""
    candidates = np.asarray(candidates, dtype=np.int64)
    if n >= len(candidates):
        return candidates
    return np.sort(rng.choice(candidates, size=n, replace=False))
