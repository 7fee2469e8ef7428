"""Minibatches from a CSR or dense matrix: rows are densified one batch at a time."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from .._utils import check_positive_int
from ._transform import block_rows, dense_rows


def check_batch_size(batch_size) -> int:
    """``batch_size`` as an int: a TypeError when it is no integer, a ValueError below 1."""
    return check_positive_int("batch_size", batch_size)


class BatchLoader:
    """Iterate over ``(x, y)`` minibatches of ``rows`` of ``X``.

    Sparse matrices stay sparse: each batch's rows are sliced (CSR), densified, moved to
    ``device`` and passed through ``transform`` there. Dense inputs are sliced per batch.
    ``col_map`` reorders query genes onto the model's genes batch by batch; a model gene the
    query lacks is 0 before the transform and, with ``fill`` (one value per model gene, on
    the transform's output scale), takes its value after it (:class:`MissingGenes`).

    Parameters
    ----------
    X
        CSR matrix or ndarray (n_obs x n_vars).
    rows
        Row indices to iterate over.
    y
        Targets for all rows of ``X`` (or None): integer class codes, or float values (a
        numeric target, as float32).
    batch_size, shuffle, generator
        Batching; ``generator`` (torch) makes shuffling reproducible.
    sample_weights
        Optional per-row weights for sampling with replacement (balanced sampling).
    inference
        For a model in eval mode (whose output for a row does not depend on the other rows of
        its batch): fewer rows per batch when ``batch_size`` rows of many genes would hold more
        than :data:`~scautogenome.data._transform.BLOCK_VALUES` values (memory stays bounded).
    """

    def __init__(
        self,
        X,
        rows: np.ndarray,
        y: np.ndarray | None,
        *,
        batch_size: int,
        transform,
        device: torch.device,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        sample_weights: np.ndarray | None = None,
        drop_last: bool = False,
        col_map: tuple[np.ndarray, np.ndarray, int] | None = None,
        inference: bool = False,
        fill: np.ndarray | None = None,
    ) -> None:
        self.X = X
        self.rows = np.asarray(rows, dtype=np.int64)
        if y is not None:  # class codes, or the values of a numeric target
            y = np.asarray(y)[self.rows]
            y = torch.as_tensor(y, dtype=torch.float32 if y.dtype.kind == "f" else torch.long)
        self.y = y
        self.batch_size = check_batch_size(batch_size)
        if inference:
            n_cols = X.shape[1] if col_map is None else max(X.shape[1], col_map[2])
            self.batch_size = block_rows(n_cols, self.batch_size)
        self.transform = transform
        self.device = torch.device(device)
        self.shuffle = shuffle
        self.generator = generator
        self.sample_weights = (
            None if sample_weights is None else torch.as_tensor(sample_weights, dtype=torch.double)
        )
        # drop a trailing batch of one row: BatchNorm cannot train on it
        self.drop_last = drop_last
        self.col_map = col_map
        self.transform, self.missing = query_steps(transform, col_map, fill, self.device)

    def __len__(self) -> int:
        n = len(self.rows)
        if self.drop_last and n % self.batch_size == 1 and n > 1:
            return n // self.batch_size
        return (n + self.batch_size - 1) // self.batch_size

    def _order(self) -> torch.Tensor:
        n = len(self.rows)
        if self.sample_weights is not None:
            return torch.multinomial(
                self.sample_weights, n, replacement=True, generator=self.generator
            )
        if self.shuffle:
            return torch.randperm(n, generator=self.generator)
        return torch.arange(n)

    def _dense(self, rows: np.ndarray) -> np.ndarray:
        block = dense_rows(self.X, rows)
        if self.col_map is not None:  # query genes -> model genes, missing ones 0
            block = map_columns(block, self.col_map)
        return block

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        order = self._order()
        n_batches = len(self)
        for b in range(n_batches):
            pos = order[b * self.batch_size : (b + 1) * self.batch_size].numpy()
            rows = self.rows[pos]
            x = torch.from_numpy(self._dense(rows)).to(self.device, non_blocking=True)
            x = self.missing(self.transform(x))
            yb = None if self.y is None else self.y[pos].to(self.device, non_blocking=True)
            yield x, yb


def map_columns(block: np.ndarray, col_map) -> np.ndarray:
    """A dense block of query rows on the model's genes: ``col_map = (src, dst, n_model)``
    puts query column ``src[i]`` at model column ``dst[i]``; a model gene the query lacks is
    0 (:class:`MissingGenes` fills it after the transform)."""
    src, dst, n_model = col_map
    out = np.zeros((block.shape[0], n_model), dtype=np.float32)
    out[:, dst] = block[:, src]
    return out


def query_steps(transform, col_map, fill: np.ndarray | None, device):
    """What the rows of a query read through ``col_map`` go through: ``transform`` (for a
    counts query lacking genes, the copy that keeps its cells' depth:
    :meth:`~scautogenome.data._transform.TorchTransform.for_query`), then the filling of the
    genes it lacks (:class:`MissingGenes`)."""
    missing = MissingGenes(col_map, fill, device)
    if hasattr(transform, "for_query"):
        transform = transform.for_query(missing.absent_np)
    return transform, missing


class MissingGenes:
    """Sets the model genes a query lacks to ``fill`` (their training means on the model's
    scale) in a transformed block; the identity where none is missing or ``fill`` is None.
    The transform reads such a gene as 0 (a count model's library size counts the present
    genes only), so the fill comes after it, where it cannot move the other genes."""

    def __init__(self, col_map, fill: np.ndarray | None, device) -> None:
        # ``absent``: the model genes the query lacks (None where it lacks none), filled or not
        self.absent = self.absent_np = self.idx = self.values = None
        if col_map is None:
            return
        _, dst, n_model = col_map
        missing = np.setdiff1d(np.arange(n_model), dst)
        if not missing.size:
            return
        self.absent_np = missing
        self.absent = torch.as_tensor(missing, device=device)
        if fill is not None:
            self.idx = self.absent
            self.values = torch.as_tensor(np.asarray(fill, np.float32)[missing], device=device)
            self._idx_np, self._values_np = missing, np.asarray(fill, np.float32)[missing]

    def __call__(self, x):
        """``x`` (a tensor, or a numpy block) with the missing genes filled, in place."""
        if self.idx is None:
            return x
        if isinstance(x, np.ndarray):
            x[:, self._idx_np] = self._values_np
        else:
            x[:, self.idx] = self.values.to(x.dtype)
        return x
