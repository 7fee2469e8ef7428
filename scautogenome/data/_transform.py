"""The input transform: counts -> normalize_total + log1p (depth-normalized but unlogged values
such as TPM/FPKM/RSEM -> log1p), then gene-wise 0-1 scaling.

Every step works row by row, so it is applied to one densified minibatch at a time and the whole
matrix is never densified. Fitting on a sparse matrix stays sparse (every step maps 0 to 0); a
dense block never holds more than :data:`BLOCK_VALUES` values, whatever the number of genes.
The gene-wise minimum and range (the AutoGenome paper's zero-one scaling, which it fitted on
the whole matrix) are fitted on the training split only, so that no test cell informs them, and
stored with the model, so prediction applies exactly the same transform.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import sparse

from .._keys import VALUE_TYPES
from .._utils import percent_down
from ._checks import common_row_total, first_rows, value_stats

TARGET_SUM = 1e4
MIN_RANGE = 1e-6
"""The least training range of a gene that varies; of values below 1 in size, the least share
of their largest size (their float32 rounding, about 8 units in the last place, aside)."""
# the least share of the training counts a query's genes are taken to hold (a query of a few
# rare genes would otherwise have its totals divided by next to nothing)
MIN_COVERAGE = 1e-3
BLOCK_VALUES = 2**22
"""The most values (16 MB of float32) in one dense block of rows read for fitting or inference:
with many genes, blocks hold fewer rows (see :func:`block_rows`)."""
UNLOGGED_MAX = 100.0
"""Non-negative non-integer data with a larger maximum is taken as unlogged (TPM, FPKM, RSEM):
log-transformed expression stays far below it (log1p of 1e4-normalized counts < 10, log2 TPM
< 20), and so do z-scores, log-ratios and copy-number segments."""


def detect_value_type(X, stats: dict | None = None, rows: np.ndarray | None = None) -> str:
    """Which preprocessing the values need.

    ``"binary"`` for 0/1 profiles (mutations), ``"counts"`` for non-negative integers (raw
    counts), ``"normalized"`` for non-negative values that are not integers and either exceed
    :data:`UNLOGGED_MAX` (TPM/FPKM/RSEM: depth-normalized, not yet logged) or sum to the same
    total in every row (``sc.pp.normalize_total`` without ``log1p``, whatever the target:
    :func:`~scautogenome.data._checks.common_row_total`), else ``"continuous"`` (already
    log-transformed, scaled or signed values). ``stats``: :func:`value_stats` of ``X`` where
    the caller has them; the common row total found is added to it as ``"row_total"``.
    ``rows``: of those rows of ``X`` only (``stats`` then of the same rows).
    """
    stats = value_stats(X, rows=rows) if stats is None else stats
    if stats["binary"]:
        return "binary"
    if stats["min"] >= 0 and stats["integer"]:
        return "counts"
    if stats["min"] >= 0 and stats["max"] > UNLOGGED_MAX:
        return "normalized"
    if stats["min"] >= 0 and stats["max"] > 0:
        stats["row_total"] = common_row_total(X, rows)
        if stats["row_total"] is not None:
            return "normalized"
    return "continuous"


_TRAINED_ON = {
    "counts": "raw counts",
    "normalized": "depth-normalized values (TPM/FPKM)",
    "binary": "0/1 profiles",
    "continuous": "log-transformed or scaled values",
}


SCALE_RATIO = 2.0
"""A query of non-negative continuous values (log expression) whose mean over the model's
genes is more than this many times the training cells' (or less than its inverse) is warned
about: another normalization moves it so (log1p of CPM against 1e4: 3.2x; of scanpy's
median-depth default against 1e4: 0.46x on pbmc3k). Real queries of the same normalization
differ too (pbmc68k_reduced against pbmc3k, both log1p of 1e4: 1.33x), so a log base alone
(log2 against ln: 1.44x) is not told apart."""


def _layer_of_counts(layers, where: str) -> str | None:
    """The first of a query's ``layers`` (other than the one read, ``where``) whose first
    rows hold non-negative integers above 1: raw counts, for a model trained on them."""
    for name, M in (layers or {}).items():
        if f"layers[{name!r}]" in where or not hasattr(M, "shape") or len(M.shape) != 2:
            continue
        first = first_rows(M, 200)
        if not np.issubdtype(first.dtype, np.number) or not first.size:
            continue
        stats = value_stats(first)
        if stats["integer"] and stats["min"] >= 0 and stats["max"] > 1:
            return str(name)
    return None


def check_query_values(X, transform: InputTransform, where: str, col_map=None, layers=None) -> None:
    """Before a trained model reads ``X``: an error for negative values where the model was
    trained on counts or TPM-like values, a warning when ``X`` holds another kind of values
    than the model's ``transform`` was fitted on, which the transform would turn into the
    wrong scale: raw counts given to a model of log-normalized values, log values to a model
    of unlogged TPM/RSEM or the other way round, scaled (z-scored) values where training had
    no negative ones or none where training had some, or log values of another
    normalization or log base (their mean over the
    model's genes :data:`SCALE_RATIO` times the training cells' or more; ``col_map`` as
    :class:`~scautogenome.data.BatchLoader`'s, None where ``X`` holds the model's genes in
    order). ``layers``: the query's layers, where one holding raw counts is named to a model
    trained on them that reads other values."""
    from .._settings import logger

    value_type = transform.value_type
    # the genes the model reads: other columns of the query (CLR features, say) do not count
    stats = value_stats(X, None if col_map is None else col_map[0])
    trained = _TRAINED_ON[value_type]
    # no layer='counts' advice where that is the layer read
    example = "" if "'counts'" in where else "e.g. layer='counts' for raw counts, "
    if value_type in ("counts", "normalized") and stats["min"] < 0:
        msg = (
            f"The model was trained on {trained} but {where} has negative values; pass the same "
            f"kind of values ({example or 'as in training, '}not scaled)."
        )
        raise ValueError(msg)
    counts_like = stats["integer"] and not stats["binary"] and stats["min"] >= 0
    trained_max = transform.trained_max()
    trained_min = transform.trained_min()
    ratio = None
    # trained on sc.pp.normalize_total's values (below UNLOGGED_MAX: not TPM-like)
    normalize_total = (
        value_type == "normalized"
        and trained_max is not None
        and float(np.expm1(trained_max)) <= UNLOGGED_MAX
    )
    if value_type == "continuous" and stats["min"] >= 0 and (trained_min or 0.0) >= 0:
        ratio = _mean_ratio(X, transform, col_map)
    elif normalize_total and stats["min"] >= 0:
        ratio = _mean_ratio(X, transform, col_map, log1p=True)
    if value_type == "counts" and not stats["integer"]:
        if stats["max"] > UNLOGGED_MAX:  # depth-normalized (CPM): read as the counts are
            return
        seen = "non-integer values (log-normalized?)"
        counts = _layer_of_counts(layers, where)
        if counts is not None:
            example = f"layer={counts!r}, whose values are integers, "
    elif (
        value_type in ("normalized", "continuous")
        and counts_like
        and stats["max"] > 1
        # integers the model was trained on as given (value_type='continuous' on copy
        # numbers, say) are no news
        and not (value_type == "continuous" and transform.integers_)
    ):
        seen = f"non-negative integers up to {stats['max']:g} (raw counts?)"
    elif value_type == "normalized" and 0 < stats["max"] <= UNLOGGED_MAX and not normalize_total:
        seen = f"values up to {stats['max']:g} only (already logged?)"
    elif (
        value_type == "continuous"
        and stats["min"] >= 0
        and stats["max"] > UNLOGGED_MAX
        and trained_max is not None
        and trained_max <= UNLOGGED_MAX
    ):
        seen = (
            f"values up to {stats['max']:g}, where training saw at most {trained_max:g} "
            "(unlogged TPM/FPKM/RSEM?)"
        )
    elif (
        value_type == "continuous"
        and stats["min"] < 0
        and trained_min is not None
        and trained_min >= 0
    ):
        seen = (
            f"negative values (down to {stats['min']:.3g}) where training had none (scaled "
            "values, such as sc.pp.scale's output?)"
        )
    elif value_type == "continuous" and stats["min"] >= 0 and transform.negative_share() >= 0.5:
        # most genes went below 0 in training (centred: sc.pp.scale), not a stray value
        seen = (
            f"no negative values, where training had values down to {trained_min:.3g} in "
            f"{transform.negative_share():.0%} of the genes (the model was trained on scaled "
            "values, such as sc.pp.scale's output: scale the query so too?)"
        )
        example = ""  # no counts to read
    elif ratio is not None and not 1 / SCALE_RATIO <= ratio <= SCALE_RATIO:
        seen = (
            f"values whose mean over the model's genes is {ratio:.2f}x the training cells' "
            "(another normalization: CPM against 1e4, or scanpy's median depth?)"
        )
    elif value_type == "binary" and not stats["binary"]:
        seen = "values other than 0 and 1"
    else:
        return
    logger.warning(
        "the model was trained on %s but %s holds %s; pass the same kind of values as in "
        "training (%sthe same normalization and log).",
        trained,
        where,
        seen,
        example,
    )


ZERO_GENES_CHANCE = 1e-6
"""A model gene that a query of ``n`` rows is expected to show: ``(1 - detected) ** n``, the
chance that all its rows are 0 where ``detected`` is its share of non-zero training rows, is
below this."""
ZERO_GENES_SHARE = 0.2
"""Such genes 0 in every query row are warned about where they are at least this share of
them (and at least :data:`MIN_ZERO_GENES`): a query of one cell type lacks a few that most
training cells had (at most 8.2% of them, in the cell types of the shared datasets: a worm
neuron type of 239 cells; 6.6% a kidney type), an outer join of datasets fills whole gene
sets with 0."""
MIN_ZERO_GENES = 10


def warn_zero_genes(
    X,
    transform: InputTransform,
    where: str,
    col_map=None,
    genes=None,
    noun: str = "cells",
    frame: bool = False,
    min_gene_overlap: float | None = None,
) -> None:
    """Warn where many of the model's genes that ``X`` should show are 0 in every row of it
    (:data:`ZERO_GENES_CHANCE`, :data:`ZERO_GENES_SHARE`): genes a dataset did not measure,
    filled with 0 by an outer join (``anndata.concat(join="outer")``) or missing from a gene
    panel, which the model reads as not expressed. Dropped from the query, they are filled in
    as missing genes. Not found where the query joins such rows with rows that measured those
    genes (two datasets of queries): predict them apart.

    ``col_map`` as :class:`~scautogenome.data.BatchLoader`'s (None: the model's genes in
    order); ``genes``: the model's gene names, for examples; ``frame``: the query is a
    DataFrame of named genes (``where`` names an AnnData's matrix as "the query's X" or
    "the query's layers[...]"), for the line that drops them; ``min_gene_overlap``: the
    caller's, to say where dropping them would leave the query fewer of the model's genes.
    Nothing without the training rows' shares (a model saved before they were kept), nor for
    a model of binary profiles (mutations), whose 0 is a finding: not mutated (a MAF's
    unlisted genes are added as such columns). The rows are read in blocks that double from
    128 rows, and the reading stops once too few of the genes are left 0 to warn of (after
    the first block or two, for a query that measured the genes)."""
    from .._settings import logger

    n = X.shape[0]
    if transform.detected_ is None or transform.value_type == "binary" or n == 0:
        return
    n_model = transform.detected_.size
    src, dst = (np.arange(n_model),) * 2 if col_map is None else col_map[:2]
    share = transform.detected_[dst].astype(np.float64)
    read = share > 0
    if transform.range_ is not None:  # constant on the training rows: not read
        read &= np.isfinite(transform.range_[dst])
    # all n rows 0 by chance: (1 - share) ** n; the genes where that is unlikely
    chance = n * np.log1p(-np.minimum(share, 1 - 1e-12))
    left = np.flatnonzero(read & (chance < np.log(ZERO_GENES_CHANCE)))
    expected = left.size
    least = max(MIN_ZERO_GENES, ZERO_GENES_SHARE * expected)
    start, size = 0, 128  # a few rows see most genes: the pieces double from there
    while start < n:
        if left.size < least:
            return
        rows = next(_row_chunks(X, np.arange(start, min(n, start + size)), size))
        start, size = rows[-1] + 1, min(2 * size, 4096)
        block = X[rows[0] : rows[-1] + 1]
        if sparse.issparse(block):  # the columns of its stored non-zero values
            block = block.tocsr()
            seen = np.zeros(X.shape[1], dtype=bool)
            seen[block.indices[block.data != 0]] = True
            seen = seen[src[left]]
        else:
            seen = np.any(block[:, src[left]] != 0, axis=0)
        left = left[~seen]
    if left.size < least:
        return
    named = "" if genes is None else ", ".join(repr(str(genes[g])) for g in dst[left[:3]])
    if where.startswith("the query's "):  # an AnnData: X or a layer
        matrix = "query." + where.removeprefix("the query's ")
        drop = f"query = query[:, np.asarray(({matrix} != 0).sum(axis=0)).ravel() > 0].copy()"
    elif frame:  # a DataFrame of named genes
        drop = "query = query.loc[:, (query != 0).any()]"
    else:  # a plain matrix has the model's genes in order: none can be left out
        drop = (
            "pass an AnnData or a DataFrame of named genes for that: a plain matrix holds the "
            "model's genes in order"
        )
    kept = np.unique(dst).size - left.size  # the model genes the query has, less those
    if min_gene_overlap is not None and kept < min_gene_overlap * n_model:
        drop += (
            f"; that leaves it {kept:,} of the model's {n_model:,} genes "
            f"({percent_down(kept / n_model)}), so pass min_gene_overlap= below "
            f"{min_gene_overlap:g} too"
        )
    shown = f"all {n:,} {noun}" if n > 1 else f"its only {noun.removesuffix('s')}"
    logger.warning(
        "%s of the %s model genes that %s should show (each was in %s or more of the "
        "training %s) are 0 in every one of them in %s%s: genes a dataset did not measure "
        "are 0 after an outer join of datasets (anndata.concat(join='outer')) or in a panel "
        "of other genes, and the model reads them as not expressed. If the query did not "
        "measure them, drop them from it, so that they are filled in as missing genes (%s).",
        f"{left.size:,}",
        f"{expected:,}",
        shown,
        percent_down(float(share[left].min())),
        noun,
        where,
        f" (e.g. {named})" if named else "",
        drop,
    )


def _mean_ratio(X, transform: InputTransform, col_map, *, log1p: bool = False) -> float | None:
    """The mean of ``X`` (of ``log1p(X)`` with ``log1p``, as a ``"normalized"`` transform's
    row step gives) over the model's genes it holds, divided by the training cells' mean over
    the same genes (``transform.mean_``); None without those means or where the training mean
    is 0. A sparse ``X`` stays sparse (its log1p a copy of the stored values only); a dense
    one is log-transformed a block of rows at a time, never copied whole."""
    if transform.mean_ is None or X.shape[0] == 0:
        return None
    if sparse.issparse(X):
        totals = _dense_1d((X.log1p() if log1p else X).sum(axis=0, dtype=np.float64))
    else:
        totals = np.zeros(X.shape[1], dtype=np.float64)
        step = max(1, BLOCK_VALUES // max(X.shape[1], 1))
        for start in range(0, X.shape[0], step):
            block = np.asarray(X[start : start + step])
            if log1p:
                block = np.log1p(block, dtype=np.float64)
            totals += block.sum(axis=0, dtype=np.float64)
    col_means = totals / X.shape[0]
    if col_map is None:
        src = dst = np.arange(min(len(col_means), transform.mean_.size))
    else:
        src, dst, _ = col_map
    if len(src) == 0:
        return None
    trained = float(np.mean(transform.mean_[dst]))
    if not trained > 0:
        return None
    return float(np.mean(col_means[src])) / trained


@dataclass
class InputTransform:
    """Row-wise preprocessing + gene-wise 0-1 scaling, fitted on training rows.

    Parameters
    ----------
    value_type
        ``"counts"`` (normalize_total to 1e4 + log1p), ``"normalized"`` (log1p only: TPM,
        FPKM, RSEM), ``"binary"`` (used as is) or ``"continuous"`` (already transformed; used as
        is).
    scale
        Apply gene-wise 0-1 scaling (min and range fitted on the training split). Values
        outside the training range (new cells, deeper sequencing) are clipped to [0, 1], so a
        gene that barely varied in training cannot blow up a prediction.

    Attributes
    ----------
    min_, range_
        Gene-wise minimum and range after the row-wise step, on the training rows.
    mean_
        Gene-wise mean after the row-wise step, on the training rows: a query that lacks a
        gene gets its mean on the model's scale (:meth:`fill_values`), after the transform.
    share_
        ``"counts"`` only: each gene's mean share of a training cell's counts (they add up to
        1). A query that lacks genes has each cell's total over the genes it has divided by
        their share (:meth:`coverage`), so that a present gene reads as it did in training.
    integers_
        ``"continuous"`` only: whether every training value is a whole number (integer
        features used as given, such as copy numbers), so that a query of integers is no
        news (:func:`check_query_values`).
    detected_
        Gene-wise share of the training rows where the gene is not 0: a query in which many
        genes that most training cells had are 0 in every cell (an outer join's filling) is
        warned about (:func:`warn_zero_genes`).
    """

    value_type: str = "continuous"
    scale: bool = True
    min_: np.ndarray | None = field(default=None, repr=False)
    range_: np.ndarray | None = field(default=None, repr=False)
    mean_: np.ndarray | None = field(default=None, repr=False)
    share_: np.ndarray | None = field(default=None, repr=False)
    integers_: bool | None = field(default=None, repr=False)
    detected_: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.value_type not in VALUE_TYPES:
            msg = f"value_type={self.value_type!r} must be one of {VALUE_TYPES}."
            raise ValueError(msg)

    # -- row-wise part (numpy, used for fitting) -------------------------------------------
    def _rows_np(self, block: np.ndarray, coverage: float = 1.0) -> np.ndarray:
        """The row-wise steps on a dense block (a new array; ``block`` is left as it is);
        ``coverage``: the share of a cell's counts its genes hold (:meth:`coverage`)."""
        out = np.array(block, dtype=np.float32)
        if self.value_type == "counts":
            totals = _row_totals(out.sum(axis=1, keepdims=True, dtype=np.float64) / coverage)
            out *= TARGET_SUM / totals
        if self.value_type in ("counts", "normalized"):
            np.log1p(out, out=out)
        return out

    def _rows_sparse(self, block) -> sparse.csr_matrix:
        """The row-wise steps on a sparse block, as a new float32 CSR (each step maps 0 to 0,
        so only the stored values change)."""
        out, row_of = _stored_rows(block)
        if self.value_type == "counts":
            totals = _row_totals(_row_sums(out, row_of))
            out.data *= (np.float32(TARGET_SUM) / totals)[row_of]
        if self.value_type in ("counts", "normalized"):
            np.log1p(out.data, out=out.data)
        return out

    def fit(self, X, rows: np.ndarray, chunk: int = 2048, names=None) -> InputTransform:
        """Fit the gene-wise minimum and range on ``X[rows]``, ``chunk`` rows at a time (fewer
        where they would hold many values, :func:`_row_chunks`); a sparse ``X`` is never
        densified. ``names``: the genes' names, for errors (else their positions)."""
        n_vars = X.shape[1]
        lo = np.full(n_vars, np.inf, dtype=np.float32)
        hi = np.full(n_vars, -np.inf, dtype=np.float32)
        total = np.zeros(n_vars, dtype=np.float64)
        shares = np.zeros(n_vars, dtype=np.float64)  # of each cell's counts (counts only)
        integers = True  # every training value whole (continuous only)
        nonzero = np.zeros(n_vars, dtype=np.int64)  # training rows where the gene is not 0
        for part_rows in _row_chunks(X, rows, chunk):
            part = X[part_rows]
            # a sparse piece as CSC: once, for both column reductions
            block = (
                self._rows_sparse(part).tocsc() if sparse.issparse(part) else self._rows_np(part)
            )
            del part
            total += _dense_1d(block.sum(axis=0, dtype=np.float64))
            nonzero += _nonzero_per_column(block)
            if self.value_type == "continuous" and integers:
                values = block.data if sparse.issparse(block) else block
                integers = bool(np.all(np.mod(values, 1) == 0))
            if self.value_type == "counts":  # log1p of the counts per TARGET_SUM: undone
                undone = block.expm1() if sparse.issparse(block) else np.expm1(block)
                shares += _dense_1d(undone.sum(axis=0, dtype=np.float64))
                del undone
            lo = np.minimum(lo, _dense_1d(block.min(axis=0)))
            hi = np.maximum(hi, _dense_1d(block.max(axis=0)))
            del block
        wide = np.asarray(hi, dtype=np.float64) - lo  # in float64: it may pass float32's
        too_wide = np.flatnonzero(wide > np.finfo(np.float32).max)
        if too_wide.size:
            gene = int(too_wide[0])
            name = repr(str(names[gene])) if names is not None else gene
            msg = (
                f"gene {name} spans {lo[gene]:.3g} to {hi[gene]:.3g} on the training cells "
                f"({too_wide.size} gene(s) so), more than float32, which the networks compute "
                "in, can hold: rescale such values (e.g. divide them by 1e30) first."
            )
            raise ValueError(msg)
        rng = hi - lo
        # a gene constant on the training rows (a range below MIN_RANGE; of values below 1 in
        # size, below MIN_RANGE of their size, as float32 rounds them; or a range so small
        # that 1/range overflows float32) maps to 0 in every cell: an infinite range. With a
        # range of 1 (until 2026-12-03) it mapped to 0 on the training rows only, and other
        # cells fed its value to first-layer weights that had never been trained. The least
        # range was 1e-6 at every size until 2026-12-06: genes varying on a smaller scale
        # were left out.
        size = np.minimum(np.maximum(np.abs(lo), np.abs(hi)), 1.0)
        least = np.maximum(MIN_RANGE * size, np.finfo(np.float32).tiny)
        rng[~(rng > least)] = np.inf
        self.min_, self.range_ = lo, rng
        self.mean_ = (total / max(1, len(rows))).astype(np.float32)
        self.detected_ = (nonzero / max(1, len(rows))).astype(np.float32)
        if self.value_type == "counts":
            self.share_ = (shares / (TARGET_SUM * max(1, len(rows)))).astype(np.float32)
        if self.value_type == "continuous":
            self.integers_ = integers
        return self

    def coverage(self, absent: np.ndarray | None) -> float:
        """The share of a training cell's counts held by the model genes a query has (all
        but ``absent``, model positions): what a query cell's total over them is divided by.
        1 where nothing is absent, for values other than counts, and for a transform saved
        before the shares were kept (the total over the genes present, as it was)."""
        if absent is None or not len(absent) or self.share_ is None:
            return 1.0
        share = np.asarray(self.share_, dtype=np.float64)
        whole = float(share.sum())  # below 1 where training cells had no counts at all
        if not whole > 0:
            return 1.0
        held = 1.0 - float(share[absent].sum()) / whole
        return min(1.0, max(held, MIN_COVERAGE))

    def fill_values(self) -> np.ndarray | None:
        """What each gene a query lacks takes after the transform: its training mean on the
        model's scale (0-1 scaled where the transform scales); None for a transform saved
        before the mean was kept (the gene is then 0 before the transform, as it was)."""
        if self.mean_ is None:
            return None
        if not self.scale:
            return self.mean_
        with np.errstate(invalid="ignore"):
            scaled = (self.mean_ - self.min_) / self.range_  # inf range (constant gene): 0
        return np.clip(np.nan_to_num(scaled, nan=0.0), 0.0, 1.0).astype(np.float32)

    def trained_min(self) -> float | None:
        """The smallest value of the training rows after the row-wise step; None without
        scaling."""
        if not self.scale or self.min_ is None or self.min_.size == 0:
            return None
        return float(self.min_.min())

    def negative_share(self) -> float:
        """The share of the genes that vary on the training rows whose smallest value there
        was negative (most of them for centred values, such as ``sc.pp.scale``'s); 0.0
        without scaling."""
        if not self.scale or self.min_ is None:
            return 0.0
        varies = np.isfinite(self.range_)
        return float((self.min_[varies] < 0).mean()) if varies.any() else 0.0

    def trained_max(self) -> float | None:
        """The largest value of the training rows after the row-wise step (for
        ``"continuous"`` data, the values as given); None without scaling."""
        if not self.scale or self.min_ is None:
            return None
        finite = np.isfinite(self.range_)
        tops = np.where(finite, self.min_ + np.where(finite, self.range_, 0), self.min_)
        return float(tops.max()) if tops.size else None

    def varying_genes(self) -> np.ndarray | None:
        """The positions of the genes that vary on the training rows: what a network's first
        layer reads (:class:`~scautogenome.nn.InputGenes`). Every other gene is 0 in every
        cell after the transform (an infinite range), so a network reads them for nothing.
        None where all genes vary, none does, or the transform does not scale."""
        if not self.scale or self.range_ is None:
            return None
        varying = np.flatnonzero(np.isfinite(self.range_))
        if varying.size in (0, self.range_.size):
            return None
        return varying

    @property
    def fitted(self) -> bool:
        return not self.scale or self.min_ is not None

    def inv_range(self) -> np.ndarray:
        """``1 / range_`` (float32; 0 for a gene constant on the training rows): the factor of
        the 0-1 scaling (:class:`TorchTransform`)."""
        return (1.0 / self.range_).astype(np.float32)

    def keeps_zeros(self, genes=None) -> bool:
        """Whether a 0 of every gene at the positions ``genes`` (None: all) is 0 after the
        transform, so that a sparse matrix stays sparse through it
        (:meth:`TorchTransform.transform_sparse`).
        Every row-wise step maps 0 to 0; the 0-1 scaling does where a gene's training minimum
        is not negative (then ``(0 - min) / range`` is clipped to 0) or its range infinite (a
        constant gene, 0 everywhere). A minimum below 0 (centred or scaled values) maps 0 to
        a positive value."""
        if not self.fitted:
            return False
        if not self.scale:
            return True
        lo = self.min_ if genes is None else self.min_[genes]
        rng = self.range_ if genes is None else self.range_[genes]
        return bool(np.all((lo >= 0) | ~np.isfinite(rng)))

    # -- torch part (used on every minibatch, on the training device) ------------------------
    def to_torch(self, device: torch.device | str) -> TorchTransform:
        if not self.fitted:
            msg = "InputTransform.fit() must be called before the transform is applied."
            raise RuntimeError(msg)
        return TorchTransform(self, device)

    def apply(self, block: np.ndarray, coverage: float = 1.0) -> np.ndarray:
        """Transform a dense block of rows (numpy), e.g. for explanation plots; ``coverage``
        as :meth:`coverage` gives it for a query that lacks genes."""
        out = self._rows_np(block, coverage)
        if self.scale:
            out -= self.min_
            out /= self.range_
            np.clip(out, 0.0, 1.0, out=out)
        return out

    def inverse_scale(self, values: np.ndarray, *, copy: bool = True) -> np.ndarray:
        """Undo the gene-wise 0-1 scaling of :meth:`apply`: ``values`` (cells x the model's
        genes, in its order, on the 0-1 scale the encoder sees) as ``min_ + values *
        range_``, the scale of the row-wise step's output: log1p of the counts normalized to
        1e4 per cell (``"counts"``), log1p of the values (``"normalized"``), or the values as
        given (``"continuous"``, ``"binary"``). The row-wise step itself is not undone. A gene
        constant on the training rows gets its constant value; without scaling ``values`` are
        returned as they are. ``copy=False`` works in place on a float32 array."""
        out = (np.array if copy else np.asarray)(values, dtype=np.float32)
        if not self.scale:
            return out
        if not self.fitted:
            msg = "InputTransform.fit() must be called before the transform is inverted."
            raise RuntimeError(msg)
        if out.ndim != 2 or out.shape[1] != self.min_.size:
            msg = (
                f"values of shape {out.shape} must have one column per gene of the transform "
                f"({self.min_.size})."
            )
            raise ValueError(msg)
        finite = np.isfinite(self.range_)  # an infinite range: a constant gene, mapped to 0
        out *= np.where(finite, self.range_, 0).astype(np.float32)
        out += self.min_
        return out

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        out = {"value_type": self.value_type, "scale": self.scale, "target_sum": TARGET_SUM}
        if self.integers_ is not None:  # kept since 2026-12-05
            out["integers"] = bool(self.integers_)
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        out = {} if self.mean_ is None else {"transform_mean": self.mean_}
        if self.share_ is not None:
            out["transform_share"] = self.share_
        if self.detected_ is not None:
            out["transform_detected"] = self.detected_
        if self.scale:
            out.update(transform_min=self.min_, transform_range=self.range_)
        return out

    @classmethod
    def from_dict(cls, d: dict, arrays: dict[str, np.ndarray]) -> InputTransform:
        unknown = sorted(set(d) - {"value_type", "scale", "target_sum", "integers"})
        if unknown:  # a setting of a later version, which this one would not apply
            msg = f"it has entries this version does not know: {unknown}"
            raise ValueError(msg)
        if "target_sum" in d and float(d["target_sum"]) != TARGET_SUM:
            msg = (
                f"it normalizes counts to {d['target_sum']!r} per cell, this version to "
                f"{TARGET_SUM:g}"
            )
            raise ValueError(msg)
        t = cls(value_type=d["value_type"], scale=d["scale"])
        if isinstance(d.get("integers"), bool):
            t.integers_ = d["integers"]
        if t.scale:
            t.min_ = np.asarray(arrays["transform_min"], dtype=np.float32)
            t.range_ = np.asarray(arrays["transform_range"], dtype=np.float32)
        if "transform_mean" in arrays:  # kept since 2026-12-04
            t.mean_ = np.asarray(arrays["transform_mean"], dtype=np.float32)
        if "transform_share" in arrays:  # kept since 2026-12-05
            t.share_ = np.asarray(arrays["transform_share"], dtype=np.float32)
        if "transform_detected" in arrays:  # kept since 2026-12-07
            t.detected_ = np.asarray(arrays["transform_detected"], dtype=np.float32)
        return t


class TorchTransform:
    """The fitted transform as tensors on one device; call it on a dense minibatch."""

    def __init__(self, t: InputTransform, device) -> None:
        self.source = t
        self.coverage = 1.0  # of a query lacking genes: for_query
        self.counts = t.value_type == "counts"
        self.log1p = t.value_type == "normalized"
        self.scale = t.scale
        self.device = torch.device(device)
        if t.scale:
            self.min = torch.as_tensor(t.min_, device=device)
            self.inv_range = torch.as_tensor(t.inv_range(), device=device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The transformed minibatch (at most one new tensor); ``x`` itself is never changed:
        the count likelihoods read the raw counts after the encoder's input is made."""
        # float32 sums (a float64 one would copy the block): exact below 2**24, as the
        # sparse path's (transform_sparse); beyond (bulk counts) within a float32 rounding
        factor = self._depth_factor(x.sum(dim=1, keepdim=True)) if self.counts else None
        lo, inv = (self.min, self.inv_range) if self.scale else (None, None)
        return self._values(x, factor, lo, inv)

    def _depth_factor(self, totals: torch.Tensor) -> torch.Tensor:
        """What a count cell's values are multiplied by, from its totals over the genes read
        (a float32 tensor)."""
        if self.coverage != 1.0:  # a query lacking genes: the cell's whole depth
            totals = totals / self.coverage
        return TARGET_SUM / totals.clamp_min(1e-12)

    def _values(self, x: torch.Tensor, factor, lo, inv) -> torch.Tensor:
        """The value steps, the same for a dense block and for a sparse block's stored values:
        ``x`` times the cell's depth ``factor`` then log1p (counts), log1p (depth-normalized
        values), then ``(x - lo) * inv`` clipped to [0, 1] (scaling); ``factor``, ``lo`` and
        ``inv`` broadcast against ``x`` (per row and per gene of a block, per stored value).
        A new tensor where a step makes one; ``x`` itself is never changed."""
        owned = self.counts or self.log1p  # x is already a new tensor: change it in place
        if self.counts:
            x = torch.mul(x, factor).log1p_()
        elif self.log1p:
            x = torch.log1p(x)
        if self.scale:
            x = x.sub_(lo) if owned else x - lo
            x = x.mul_(inv).clamp_(0.0, 1.0)
        return x

    def transform_sparse(self, block, genes=None) -> sparse.csr_matrix:
        """The transform of a sparse block of rows (any scipy format) computed on its stored
        values only, by the steps :meth:`__call__` takes on a dense block (the same values
        where each cell's total is below 2**24, which float32 sums exactly; beyond, bulk
        counts, they may differ by a float32 rounding, ~1e-7):
        a new float32 CSR of the same stored entries, on the genes at the positions ``genes``
        (None: all) in that order; a count cell's depth is its total over all its genes (as
        in a dense block). Computed on the CPU, whatever the transform's device. Only where
        zeros stay zeros (:meth:`InputTransform.keeps_zeros`): a ValueError otherwise."""
        if not self.source.keeps_zeros(genes):
            msg = "transform_sparse needs a transform that maps 0 to 0 (keeps_zeros)."
            raise ValueError(msg)
        out, row_of = _stored_rows(block)
        factor = None
        if self.counts:
            # exact float64 sums, as float32: the dense block's float32 sums where those are
            # exact (totals below 2**24)
            sums = _row_sums(out, row_of).astype(np.float32)
            factor = self._depth_factor(torch.from_numpy(sums))
        if genes is not None:  # the genes read: other stored values, in other rows' spans
            out = sparse.csr_matrix(out[:, genes], dtype=np.float32)
            row_of = np.repeat(np.arange(out.shape[0]), np.diff(out.indptr))
        rows = torch.from_numpy(row_of)
        cols = torch.from_numpy(out.indices.astype(np.int64))
        lo = inv = None
        if self.scale:
            src = self.source
            lo = torch.from_numpy(src.min_ if genes is None else src.min_[genes])[cols]
            inv = torch.from_numpy(src.inv_range() if genes is None else src.inv_range()[genes])
            inv = inv[cols]
        values = self._values(
            torch.from_numpy(out.data), None if factor is None else factor[rows], lo, inv
        )
        out.data = values.numpy()
        return out

    def for_query(self, absent: np.ndarray | None) -> TorchTransform:
        """This transform for a query that lacks the model genes ``absent`` (positions): a
        copy whose cell totals are divided by the share of counts the other genes hold
        (:meth:`InputTransform.coverage`); itself where that share is 1."""
        coverage = self.source.coverage(absent)
        if coverage == 1.0:
            return self
        out = copy.copy(self)
        out.coverage = coverage
        return out


def dense_rows(X, rows) -> np.ndarray:
    """``X[rows]`` as a dense float32 array (only these rows are densified, and a sparse
    block straight into float32)."""
    block = X[rows]
    if sparse.issparse(block):
        block = block.astype(np.float32, copy=False).toarray()
    return np.asarray(block, dtype=np.float32)


def _nonzero_per_column(block) -> np.ndarray:
    """The number of values that are not 0 in each column of ``block`` (dense, or sparse as
    CSC: its stored values, explicit zeros left out)."""
    if not sparse.issparse(block):
        return np.count_nonzero(block, axis=0)
    if block.data.all():  # no explicit zero (most files): the columns' lengths
        return np.diff(block.indptr)
    counted = np.concatenate(([0], np.cumsum(block.data != 0)))
    return np.diff(counted[block.indptr])


def _dense_1d(values) -> np.ndarray:
    """A column reduction of a dense or sparse block as a flat array."""
    return np.ravel(values.toarray() if sparse.issparse(values) else values)


def _stored_rows(block) -> tuple[sparse.csr_matrix, np.ndarray]:
    """A sparse block as a new float32 CSR with its duplicate entries summed (the transform
    steps change its stored values only), and the row of each stored value."""
    out = sparse.csr_matrix(block, dtype=np.float32, copy=True)
    out.sum_duplicates()
    return out, np.repeat(np.arange(out.shape[0]), np.diff(out.indptr))


def _row_sums(out: sparse.csr_matrix, row_of: np.ndarray) -> np.ndarray:
    """Each row's sum of a CSR's stored values in float64 (exact for counts up to 2**53;
    scipy's ``.sum(dtype=float64)`` adds in float32 and rounds)."""
    return np.bincount(row_of, weights=out.data, minlength=out.shape[0])


def _row_totals(totals: np.ndarray) -> np.ndarray:
    """Row sums taken in float64 (exact for counts up to 2**53, whichever order the values are
    summed in: a sparse and a dense matrix give the same transform), as float32, 0 -> 1."""
    totals = totals.astype(np.float32)
    totals[totals == 0] = 1.0
    return totals


def _row_chunks(X, rows: np.ndarray, chunk: int):
    """``rows`` in consecutive pieces of at most ``chunk`` rows, holding at most
    :data:`BLOCK_VALUES` dense values, or a quarter as many of a CSR matrix's stored values
    (each costs 8 bytes with its column index, and a piece is copied twice while it is
    transformed)."""
    n = len(rows)
    if not sparse.issparse(X):
        step = block_rows(X.shape[1], chunk)
        yield from (rows[s : s + step] for s in range(0, n, step))
        return
    if getattr(X, "format", None) != "csr":
        yield from (rows[s : s + chunk] for s in range(0, n, chunk))
        return
    ends = np.cumsum(np.diff(X.indptr)[rows])  # stored values up to and including each row
    start = 0
    while start < n:
        before = ends[start - 1] if start else 0
        stop = int(np.searchsorted(ends, before + BLOCK_VALUES // 4, side="right"))
        stop = min(max(stop, start + 1), start + chunk, n)
        yield rows[start:stop]
        start = stop


def block_rows(n_vars: int, rows: int) -> int:
    """How many rows (at most ``rows``) a dense block of ``n_vars`` genes may hold: no more
    than :data:`BLOCK_VALUES` values, and at least one row."""
    return max(1, min(int(rows), BLOCK_VALUES // max(int(n_vars), 1)))
