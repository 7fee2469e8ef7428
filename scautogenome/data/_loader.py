"""Minibatches from a CSR or dense matrix: rows are densified one batch at a time, or read
from the transformed rows of a training run computed once (:func:`transformed_rows`)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from scipy import sparse

from .._utils import check_positive_int
from ._transform import _row_chunks, block_rows, dense_rows

CACHE_VALUES = 2**25
"""The most values the transformed rows of a training run computed once may hold
(:func:`transformed_rows`): 32 Mi stored values of a CSR matrix (256 MB with their column
indices) or dense values (128 MB of float32). Above it every minibatch is transformed as it
is read (memory stays that of one batch)."""
SPARSE_MAX_DENSITY = 0.1
"""The largest share of stored values (``nnz / (n_obs * n_vars)``) of a CSR query whose
minibatches a model's inference transforms on their stored values (:func:`sparse_pays`);
denser ones are densified a batch at a time, then transformed (never the whole matrix).
Measured by ``benchmarks/sparse_density.py`` (2026-12-07: ``Classifier.predict`` of 20,000
cells x 2,000 genes of counts, one CPU thread): on the stored values 0.6-0.8x the time of
the dense batches up to 5 %, 0.93x at 8 %, 1x at about 10 %, 1.1x at 12.5-15 %, 1.3x at
20 %, 2x at 75 % and more; less peak memory only up to about 15 % (16-17 against 23 MiB
there, 78 against 27 MiB at 75 %: the dense path's is that of a batch at any density)."""


def check_batch_size(batch_size) -> int:
    """``batch_size`` as an int: a TypeError when it is no integer, a ValueError below 1."""
    return check_positive_int("batch_size", batch_size)


class BatchLoader:
    """Iterate over ``(x, y)`` minibatches of ``rows`` of ``X``.

    Sparse matrices stay sparse: each batch's rows are sliced (CSR), densified, moved to
    ``device`` and passed through ``transform`` there, unless they were transformed once
    (``cached``) or are transformed on their stored values (``stored_values``), below. Dense
    inputs are sliced per batch.
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
    cached
        The transformed rows of ``X`` on the genes a network reads, computed once
        (:func:`transformed_rows`, holding every row of ``rows``): batches are read from it,
        ``transform`` is not applied again, and they hold those genes only.
    stored_values, reads
        With ``stored_values``, a CSR ``X`` read without ``col_map`` whose transform keeps
        zeros on the genes at the positions ``reads`` (None: all;
        :meth:`~scautogenome.data.InputTransform.keeps_zeros`) has each batch transformed on
        its stored values of those genes
        (:meth:`~scautogenome.data._transform.TorchTransform.transform_sparse`), then densified: the
        batches hold those genes only, for a network that reads them
        (:class:`~scautogenome.nn.InputGenes`). Otherwise batches are as without it.
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
        cached: TransformedRows | None = None,
        stored_values: bool = False,
        reads: np.ndarray | None = None,
    ) -> None:
        self.X = X
        self.rows = np.asarray(rows, dtype=np.int64)
        if y is not None:  # class codes, or the values of a numeric target
            y = np.asarray(y)[self.rows]
            y = torch.as_tensor(y, dtype=torch.float32 if y.dtype.kind == "f" else torch.long)
        self.y = y
        self.batch_size = check_batch_size(batch_size)
        self.cached = cached
        # the transform on each batch's stored values of the genes read (a sparse query)
        self.stored_values = (
            stored_values
            and cached is None
            and col_map is None
            and sparse_transform_applies(X, transform, reads)
        )
        self.sparse_genes = None if reads is None else np.asarray(reads)  # None: all genes
        if inference:
            if cached is not None:
                n_cols = cached.matrix.shape[1]
            elif self.stored_values:
                n_cols = X.shape[1] if self.sparse_genes is None else len(self.sparse_genes)
            else:
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

    def _transformed(self, rows: np.ndarray) -> torch.Tensor:
        """The rows, transformed, on ``device``."""
        if self.cached is not None:
            return to_device(self.cached.block(rows), self.device)
        if self.stored_values:
            block = self.transform.transform_sparse(self.X[rows], self.sparse_genes)
            return to_device(block.toarray(), self.device)
        x = to_device(self._dense(rows), self.device)
        return self.missing(self.transform(x))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        order = self._order()
        n_batches = len(self)
        for b in range(n_batches):
            pos = order[b * self.batch_size : (b + 1) * self.batch_size].numpy()
            rows = self.rows[pos]
            x = self._transformed(rows)
            yb = None if self.y is None else moved(self.y[pos], self.device)
            yield x, yb


def to_device(block: np.ndarray, device: torch.device) -> torch.Tensor:
    """A dense numpy block as a tensor on ``device``."""
    return moved(torch.from_numpy(block), device)


def moved(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``tensor`` (on the CPU, maybe freed once this returns) on ``device``: without waiting
    on CUDA, which copies pageable memory before it returns; elsewhere the copy is waited
    for (MPS has read a freed block after a non-blocking copy, pytorch#189690)."""
    return tensor.to(device, non_blocking=device.type == "cuda")


def sparse_pays(X) -> bool:
    """Whether minibatches of ``X`` are better transformed on their stored values than
    densified first: a sparse ``X`` with at most :data:`SPARSE_MAX_DENSITY` of its values
    stored (read from its ``nnz``; nothing is densified)."""
    n_obs, n_vars = X.shape
    return sparse.issparse(X) and X.nnz <= SPARSE_MAX_DENSITY * n_obs * n_vars


def sparse_transform_applies(X, transform, reads) -> bool:
    """Whether rows of ``X`` may go through ``transform`` (a
    :class:`~scautogenome.data._transform.TorchTransform`) on their stored values of the genes
    at ``reads`` (None: all): ``X`` is CSR and the transform keeps zeros on those genes."""
    source = getattr(transform, "source", None)
    return (
        sparse.issparse(X)
        and getattr(X, "format", None) == "csr"
        and source is not None
        and source.keeps_zeros(reads)
    )


class TransformedRows:
    """Rows of a matrix after the input transform, on the genes a network reads, computed
    once (:func:`transformed_rows`): ``matrix`` (a float32 CSR, or a dense array) holds row
    ``i`` of the source matrix at ``pos[i]``, ``genes`` are its columns' positions there
    (None: all of them)."""

    def __init__(self, matrix, rows: np.ndarray, n_obs: int, genes: np.ndarray | None) -> None:
        self.matrix = matrix
        self.genes = None if genes is None else np.asarray(genes)
        self.pos = np.full(n_obs, -1, dtype=np.int64)
        self.pos[rows] = np.arange(len(rows))

    def holds(self, rows: np.ndarray) -> bool:
        """Whether it holds each of ``rows`` (positions in the source matrix)."""
        return not (self.pos[rows] < 0).any()

    def block(self, rows: np.ndarray) -> np.ndarray:
        """The transformed ``rows`` (positions in the source matrix) as a dense float32 block;
        an IndexError for a row it does not hold (position -1 would read its last row)."""
        pos = self.pos[rows]  # looked up once (each minibatch), checked by its minimum
        if len(pos) and pos.min() < 0:
            msg = "rows outside the transformed ones were asked for."
            raise IndexError(msg)
        return dense_rows(self.matrix, pos)


def transformed_rows(
    X, rows: np.ndarray, transform, genes: np.ndarray | None, max_values: int = CACHE_VALUES
) -> TransformedRows | None:
    """``rows`` of ``X`` through ``transform`` (a
    :class:`~scautogenome.data._transform.TorchTransform` of every cell's whole depth), on the
    genes at the positions ``genes`` (None: all), computed once for a training run whose
    epochs would otherwise transform every batch again; a block of rows at a time (the whole
    matrix is never densified).

    A CSR ``X`` whose transform keeps zeros on those genes (counts, depth-normalized values,
    non-negative values) stays sparse: each block goes through
    :meth:`~scautogenome.data._transform.TorchTransform.transform_sparse`, and the result holds no more
    stored values than those rows do. Otherwise (a dense ``X``, or 0-1 scaling of values with
    a negative training minimum, which maps 0 to a positive value) the rows are cached dense,
    computed by ``transform`` itself. None where the result would hold more than
    ``max_values`` values (:data:`CACHE_VALUES`): batches are then transformed as they are
    read, as before; None too where the memory for it is lacking (a MemoryError)."""
    try:
        return _transformed_rows(X, rows, transform, genes, max_values)
    except MemoryError:
        from .._settings import logger

        logger.info("    no memory to transform the cells once: each batch as it is read")
        return None


def _transformed_rows(X, rows, transform, genes, max_values) -> TransformedRows | None:
    """:func:`transformed_rows`, which catches its MemoryError."""
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    n_cols = X.shape[1] if genes is None else len(genes)
    if getattr(transform, "source", None) is None:
        return None
    if sparse_transform_applies(X, transform, genes):
        if int(np.diff(X.indptr)[rows].sum()) > max_values:  # a bound: stored values of rows
            return None
        return TransformedRows(_sparse_rows(X, rows, transform, genes), rows, X.shape[0], genes)
    if len(rows) * n_cols > max_values:
        return None
    matrix = np.empty((len(rows), n_cols), dtype=np.float32)
    index = None if genes is None else torch.as_tensor(genes, device=transform.device)
    step = block_rows(X.shape[1], 1024)
    with torch.no_grad():
        for start in range(0, len(rows), step):
            part = rows[start : start + step]
            x = transform(to_device(dense_rows(X, part), transform.device))
            if index is not None:
                x = x.index_select(1, index)
            matrix[start : start + len(part)] = x.cpu().numpy()
    return TransformedRows(matrix, rows, X.shape[0], genes)


def _sparse_rows(X, rows: np.ndarray, transform, genes) -> sparse.csr_matrix:
    """The float32 CSR of ``rows`` of the CSR ``X`` through ``transform`` on the genes at
    ``genes`` (None: all), piece by piece into arrays of its final size: about its own size
    at its peak, where its pieces kept and then stacked took about 2.3 times as much. The
    arrays are sized by the stored values of those genes (duplicate entries, summed by the
    transform, make them a bound)."""
    n_cols = X.shape[1] if genes is None else len(genes)
    parts = list(_row_chunks(X, rows, 2048))
    read = None
    if genes is not None:
        read = np.zeros(X.shape[1], dtype=bool)
        read[genes] = True
    if read is None:  # every stored value of the rows
        bound = int(np.diff(X.indptr)[rows].sum())
    else:
        bound = sum(int(np.count_nonzero(read[X[part].indices])) for part in parts)
    index = np.int32 if max(bound, n_cols) < np.iinfo(np.int32).max else np.int64
    data = np.empty(bound, dtype=np.float32)
    indices = np.empty(bound, dtype=index)
    indptr = np.zeros(len(rows) + 1, dtype=index)
    at = row = 0
    for part in parts:
        piece = transform.transform_sparse(X[part], genes)
        n = piece.nnz
        data[at : at + n] = piece.data
        indices[at : at + n] = piece.indices
        indptr[row + 1 : row + 1 + piece.shape[0]] = at + piece.indptr[1:]
        at, row = at + n, row + piece.shape[0]
    return sparse.csr_matrix(
        (data[:at], indices[:at], indptr), shape=(len(rows), n_cols), copy=False
    )


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
