"""Input checks that run before any work starts and never modify the AnnData."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse

from .._utils import check_anndata, check_key, check_obs_column, columns_listed, layer_names

if TYPE_CHECKING:
    from anndata import AnnData

_CHUNK = 4096
STORED_CHUNK = 1 << 20
"""Stored values of a sparse matrix read at a time (:func:`iter_values`)."""


# readers of bulk profiles (sag.io): what their rows are called in messages
_BULK_READERS = ("read_tcga", "read_maf", "read_autogenome")


# how many obs_names tell whether the rows are named by TCGA barcodes
_NAMES_LOOKED_AT = 200


def unlisted_genes_are_zero(adata) -> bool:
    """Whether a gene ``adata`` does not have is known to be 0 in its rows: a matrix read by
    :func:`~scautogenome.io.read_maf` without ``genes=``, whose columns are every gene a
    counted variant hits, so a gene it does not list is not mutated in its samples (not
    where columns were taken out since: such a gene may be mutated)."""
    from .._keys import IO_KEY

    record = getattr(adata, "uns", {}).get(IO_KEY)
    return (
        isinstance(record, dict)
        and str(record.get("reader")) == "read_maf"
        and bool(record.get("all_mutated_genes", False))
        and record.get("n_genes") == adata.n_vars
    )


def obs_noun(adata) -> str:
    """What the rows of ``adata`` are called in messages: ``"samples"`` for bulk profiles that
    a :mod:`scautogenome.io` reader of bulk data read (its record in ``uns['sag_io']``; TCGA,
    MAF, AutoGenome input) or whose ``obs_names`` are TCGA barcodes (most of the first
    200, as the TCGA readers tell a barcode column), ``"cells"`` otherwise."""
    from .._keys import IO_KEY
    from ..io._barcodes import barcode_fraction

    record = getattr(adata, "uns", {}).get(IO_KEY)
    if isinstance(record, dict) and str(record.get("reader")) in _BULK_READERS:
        return "samples"
    names = getattr(adata, "obs_names", None)
    if names is not None and barcode_fraction(names[:_NAMES_LOOKED_AT]) >= 0.5:
        return "samples"
    return "cells"


def view_as_object(adata: AnnData) -> str:
    """How to make an actual object of the view ``adata``: ``adata[mask].copy()``, or, for a
    view of a backed AnnData (``read_h5ad(backed="r")``), which anndata will not copy,
    ``adata[mask].to_memory()``."""
    return "adata[mask].to_memory()" if getattr(adata, "isbacked", False) else "adata[mask].copy()"


_ENSEMBL_VERSIONED = re.compile(r"^(ENS[A-Z]*[0-9]{6,})\.[0-9]+$")
"""An Ensembl id with its version (ENSG00000141510.17): GENCODE releases change the version."""


def _unversioned(names) -> np.ndarray:
    """Gene names without an Ensembl id's version (``ENSG00000141510.17`` ->
    ``ENSG00000141510``), as queries are matched to a model's genes; others as they are."""
    return np.array(
        [m.group(1) if (m := _ENSEMBL_VERSIONED.match(n)) else n for n in names], dtype=object
    )


def check_adata(adata: AnnData, *, writes: bool = True, splits: bool = False, reads=None) -> None:
    """Refuse inputs that cannot be used at all: not an AnnData, empty, a view, duplicate genes;
    warn of duplicate cell names (``splits``: for a call that splits the cells, whose seeded
    split keeps the copies of a name together). ``reads``: the genes a model reads of this
    query (its ``var_names_``), where only their names must be unique (a symbol-indexed file
    repeats names the model does not read, which are then left alone)."""
    check_anndata(adata)
    if adata.n_obs == 0 or adata.n_vars == 0:
        msg = f"AnnData is empty ({adata.n_obs} obs x {adata.n_vars} vars)."
        raise ValueError(msg)
    if writes and adata.is_view:
        msg = (
            "adata is a view of another AnnData (e.g. adata[mask]); scautogenome writes results "
            "into its input and will not silently turn a view into a copy. "
            f"Pass an actual object, e.g. {view_as_object(adata)}."
        )
        raise ValueError(msg)
    missing = pd.isna(adata.var_names)
    if missing.any():  # var_names set from symbols where a gene has none
        msg = (
            f"var_names hold {int(missing.sum())} missing gene name(s) (NaN, e.g. at position "
            f"{int(np.flatnonzero(missing)[0])}); genes are matched by name, and an h5ad file "
            "cannot store them. Name those genes first (e.g. by their ids)."
        )
        raise ValueError(msg)
    # duplicated(), not is_unique: pandas can carry a stale is_unique over to a copy's index
    dups = adata.var_names[adata.var_names.duplicated()].unique()
    if len(dups) and reads is not None:
        read = set(_unversioned(np.asarray(reads, dtype=str)))
        unread = [
            d for d, u in zip(dups, _unversioned(np.asarray(dups, dtype=str))) if u not in read
        ]
        if unread and writes:  # once per call: the tool's own check, as for obs_names
            from .._settings import logger

            logger.info(
                "var_names repeat %d gene name(s) the model does not read (e.g. %s): left as "
                "they are",
                len(unread),
                ", ".join(map(str, unread[:3])),
            )
        dups = dups[~dups.isin(unread)]
    if len(dups):
        shown = ", ".join(map(str, dups[:5]))
        msg = (
            f"var_names contain {len(dups)} duplicated gene name(s) (e.g. {shown}); genes are matched "
            "by name, so they must be unique. Call adata.var_names_make_unique() first."
        )
        raise ValueError(msg)
    if writes and adata.obs_names.duplicated().any():  # once per call: the tool's own check
        from .._settings import logger

        dups = adata.obs_names[adata.obs_names.duplicated()].unique()
        split = (
            "classify's seeded split (group_key='auto') takes the rows of one name for copies "
            "of one sample and keeps them in one split part, and "
            if splits
            else ""
        )
        logger.warning(
            "obs_names contain %d duplicated name(s) (e.g. %s): results are written by position, "
            "%srecords that name cells (explain's cells) cannot tell them apart. Drop the "
            "copies, or call adata.obs_names_make_unique() first where they are different cells.",
            len(dups),
            ", ".join(map(str, dups[:5])),
            split,
        )


def get_matrix(adata: AnnData, layer: str | None):
    """The matrix to model: ``X`` or a named layer, as CSR / ndarray (no densification)."""
    if layer is None:
        X = adata.X
        where = "adata.X"
    else:
        check_key("layer", layer, "a layer of adata.layers (or None: adata.X)")
        if layer not in layer_names(adata):
            if layer in adata.obsm:  # a latent space given as the genes to read
                msg = (
                    f"layer={layer!r} is in adata.obsm, not adata.layers: a layer holds a "
                    "value for each cell and gene (var_names); "
                    f"{columns_listed(layer_names(adata), [], 'layers')}."
                )
            else:
                msg = (
                    f"layer={layer!r} not found in adata.layers; "
                    f"{columns_listed(layer_names(adata), [layer], 'layers')}."
                )
            raise KeyError(msg)
        X = adata.layers[layer]
        where = f"adata.layers[{layer!r}]"
    if X is None:
        msg = f"{where} is empty (None)."
        if layer is None and len(adata.layers):
            msg += (
                " Pass layer= to read a layer instead; available layers: "
                f"{list(adata.layers.keys())}."
            )
        elif layer is None:
            msg += " The AnnData holds no matrix: no X and no layers."
        raise ValueError(msg)
    return as_csr_or_dense(X, where)


def note_unread_annotations(adata: AnnData, layer: str | None) -> None:
    """Log what of a scanpy workflow a tool does not read (as scvi-tools does not): with
    ``layer=None`` an ``adata.raw`` (the model reads ``X``), and a ``var['highly_variable']``
    that marks some genes (every gene is read)."""
    from .._settings import logger

    if layer is None and getattr(adata, "raw", None) is not None:
        logger.info(
            "adata.raw is not read: the model reads adata.X (for raw's values pass "
            "adata.raw.to_adata(), or put them in a layer and pass layer=)"
        )
    flags = adata.var.get("highly_variable") if hasattr(adata, "var") else None
    if flags is not None and pd.api.types.is_bool_dtype(flags) and not flags.all():
        logger.info(
            "var['highly_variable'] marks %d of %d genes; all %d are read (to train on those "
            "genes alone pass adata[:, adata.var['highly_variable']].copy())",
            int(flags.sum()),
            adata.n_vars,
            adata.n_vars,
        )


def _one_index_dtype(X):
    """A CSR matrix whose ``indices`` and ``indptr`` differ in dtype (anndata reads them as
    stored: int32 column indices beside an int64 ``indptr`` is common) as one of a single
    index dtype, sharing ``data`` and ``indices`` (only ``indptr``, one value per row, is
    cast; int64 ``indices`` where ``nnz`` needs them). scipy would otherwise copy the whole
    ``indices`` to int64 at every block of rows read. ``X`` itself is not changed."""
    if X.indices.dtype == X.indptr.dtype:
        return X
    wide = X.nnz > np.iinfo(np.int32).max or X.shape[1] > np.iinfo(np.int32).max
    dtype = np.int64 if wide else np.int32
    return type(X)(
        (X.data, X.indices.astype(dtype, copy=False), X.indptr.astype(dtype, copy=False)),
        shape=X.shape,
        copy=False,
    )


def is_dask(X) -> bool:
    """Whether ``X`` is a dask array (dask itself not imported)."""
    return type(X).__module__.split(".")[0] == "dask"


def first_rows(M, n: int):
    """The first ``n`` rows of ``M`` in memory, read alone: of a backed or dask matrix too
    (the hints that look at a layer the call does not read)."""
    first = M[: min(n, M.shape[0])]
    return first.compute() if is_dask(first) else first


def as_csr_or_dense(X, where: str = "X"):
    """CSR for scipy sparse input (CSC converted once), ndarray for dense input.

    A matrix of a backed AnnData (``read_h5ad(..., backed="r")``) is read into memory as it is
    stored: a sparse one as a sparse matrix (never densified), a dense one as an array. A dask
    array is computed so: chunks of CSR give a CSR matrix.
    """
    if hasattr(X, "to_memory") and hasattr(X, "format"):  # anndata's backed CSR/CSC dataset
        from .._settings import logger

        logger.info("%s is backed (on disk); reading it into memory as a sparse matrix", where)
        X = X.to_memory()
    elif type(X).__module__.startswith("h5py"):  # a backed dense matrix
        from .._settings import logger

        logger.info("%s is backed (on disk); reading it into memory", where)
        X = X[()]
    elif is_dask(X):  # anndata's read_elem_lazy, or the user's da.from_array
        from .._settings import logger

        logger.info("%s is a dask array; computing it into memory as its chunks are stored", where)
        X = X.compute()
    if sparse.issparse(X):
        X = X.tocsr() if X.format != "csr" else _one_index_dtype(X)
        dtype = X.dtype
    else:
        X = np.asarray(X)
        if X.ndim != 2:
            msg = f"{where} must be 2-dimensional, got shape {X.shape}."
            raise ValueError(msg)
        dtype = X.dtype
    if not (np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.bool_)):
        msg = f"{where} has non-numeric dtype {dtype}; expected numbers (counts or expression)."
        raise TypeError(msg)
    return X


def summed(block):
    """A sparse ``block`` (a copy of the user's rows) as CSR with its duplicate entries summed
    as the reader sums them: an integer or boolean block in float32, as
    :func:`~scautogenome.data.dense_rows` casts it before it sums (in a type of its own,
    ``int8`` 100 + 100 wraps to -56 and ``True + True`` stays ``True``, so a check would see
    other values than the model reads); a float block in its own type (float64 values beyond
    float32's range are for the checks to find)."""
    if block.dtype.kind == "f":
        out = sparse.csr_matrix(block)  # a copy where ``block`` is no CSR; a row slice is one
    else:
        out = sparse.csr_matrix(block, dtype=np.float32)
    out.sum_duplicates()
    return out


def iter_values(X):
    """Yield blocks of stored values (sparse: the data arrays, with duplicate entries summed
    where the matrix stores a value in parts; dense: row chunks)."""
    if sparse.issparse(X):
        if getattr(X, "has_canonical_format", True):
            # views of STORED_CHUNK values: a caller's copies of a block stay small
            for start in range(0, X.data.size, STORED_CHUNK):
                yield X.data[start : start + STORED_CHUNK]
            return
        X = sparse.csr_matrix(X)  # duplicates summed per row chunk, on copies
        for start in range(0, X.shape[0], _CHUNK):
            yield summed(X[start : start + _CHUNK]).data  # a row slice is a copy
    else:
        for start in range(0, X.shape[0], _CHUNK):
            yield X[start : start + _CHUNK]


def check_finite(
    X,
    where: str = "X",
    columns: np.ndarray | None = None,
    *,
    obs_names=None,
    var_names=None,
) -> None:
    """Raise if the matrix holds NaN or infinite values, naming the first (by row, then
    column) and how many there are; ``columns``: in those columns only (the genes a model
    reads of a query, whose other columns it ignores). ``obs_names`` and ``var_names`` (of
    ``X``'s rows and columns) name the sample and the gene in the message; without them it
    gives their positions."""
    if not np.issubdtype(X.dtype, np.floating):
        return
    blocks = iter_values(X) if columns is None else _subset_values(X, columns)
    for block in blocks:
        if not _all_usable(block):
            n_bad, row, col, value = _non_finite(X, columns)
            of = "" if columns is None else " in the genes the model reads"
            what = "NaN or infinite values"
            if np.dtype(X.dtype).itemsize > 4:
                what = "NaN, infinite values or values beyond float32's range (3.4e38)"
            msg = (
                f"{where} contains {what}{of}: {n_bad:,}, the first ({value:g}) "
                f"at {_named('row', row, obs_names)}, {_named('column', col, var_names)}; "
                "fix or impute them first (the networks compute in float32)."
            )
            raise ValueError(msg)


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _all_usable(values: np.ndarray) -> bool:
    """Whether every one of ``values`` is a number float32 holds: their smallest and largest
    within its range, which NaN (a NaN min or max) and infinity fail: no copy of float64
    ``values`` (``np.abs`` made one as large: a sparse matrix's values are one block)."""
    if values.size == 0:
        return True
    if np.dtype(values.dtype).itemsize <= 4:  # float32 and narrower: finite is in range
        return bool(np.isfinite(values).all())
    return bool(values.min() >= -_FLOAT32_MAX and values.max() <= _FLOAT32_MAX)


def unusable(values: np.ndarray) -> np.ndarray:
    """Which ``values`` a model cannot read: NaN, infinite, or (of a wider float type) beyond
    float32's range, which the cast to float32 makes infinite (a fitted transform of NaN)."""
    if np.dtype(values.dtype).itemsize <= 4:
        return ~np.isfinite(values)
    with np.errstate(invalid="ignore"):
        return ~(np.abs(values) <= _FLOAT32_MAX)  # NaN compares False


def names_of(data) -> dict:
    """``obs_names`` and ``var_names`` of an AnnData for :func:`check_finite`'s message (none
    of a plain matrix)."""
    if not hasattr(data, "obs_names"):
        return {}
    return {"obs_names": data.obs_names, "var_names": data.var_names}


def _named(what: str, i: int, names) -> str:
    """``row 3`` or, with names, ``row 3 ('TCGA-...')``."""
    if names is None or i >= len(names):
        return f"{what} {i}"
    return f"{what} {i} ({str(names[i])!r})"


def _non_finite(X, columns: np.ndarray | None) -> tuple[int, int, int, float]:
    """How many values of ``X`` (of its ``columns`` only) are NaN or infinite (or beyond
    float32's range: :func:`unusable`), and the row,
    column (of ``X``) and value of the first, row chunk by row chunk (no densifying)."""
    n_bad, first = 0, None
    for start in range(0, X.shape[0], _CHUNK):
        block = X[start : start + _CHUNK]
        if columns is not None:
            block = block[:, columns]
        if sparse.issparse(block):
            block = summed(block)
            bad = np.flatnonzero(unusable(block.data))
            if first is None and bad.size:
                row = int(np.searchsorted(block.indptr, bad[0], side="right") - 1)
                first = (start + row, int(block.indices[bad[0]]), float(block.data[bad[0]]))
        else:
            block = np.asarray(block)
            bad = np.argwhere(unusable(block))
            if first is None and bad.size:
                r, c = (int(i) for i in bad[0])
                first = (start + r, c, float(block[r, c]))
        n_bad += len(bad)
    if first is None:  # pragma: no cover - called only where a non-finite value was seen
        return n_bad, -1, -1, float("nan")
    row, col, value = first
    return n_bad, row, int(col if columns is None else np.asarray(columns)[col]), value


def _subset_values(X, columns: np.ndarray | None = None, rows: np.ndarray | None = None):
    """Blocks of the values of ``X[rows][:, columns]`` (all rows or columns where None), row
    chunk by row chunk (a copy of one chunk at a time), with the count of the implicit zeros
    of a sparse ``X`` as a block of zeros."""
    if (
        rows is not None
        and columns is None
        and sparse.issparse(X)
        and X.format == "csr"
        and getattr(X, "has_canonical_format", False)
    ):
        yield from _csr_row_values(X, rows)
        return
    n = X.shape[0] if rows is None else len(rows)
    for start in range(0, n, _CHUNK):
        block = X[start : start + _CHUNK] if rows is None else X[rows[start : start + _CHUNK]]
        if columns is not None:
            block = block[:, columns]
        if sparse.issparse(block):
            block = summed(block)
            n_zero = block.shape[0] * block.shape[1] - block.nnz
            yield block.data
            if n_zero:
                yield np.zeros(1, dtype=block.dtype)
        else:
            yield np.asarray(block).ravel()


def _csr_row_values(X, rows: np.ndarray):
    """:func:`_subset_values` of the ``rows`` of a canonical CSR: the stored values of each
    block of rows taken from ``X.data`` by a mask (no CSR built), and a block of zeros where
    those rows hold implicit ones."""
    chosen = np.zeros(X.shape[0], dtype=bool)
    chosen[rows] = True
    indptr = X.indptr
    for start in range(0, X.shape[0], _CHUNK):
        stop = min(start + _CHUNK, X.shape[0])
        picked = chosen[start:stop]
        if not picked.any():
            continue
        values = X.data[indptr[start] : indptr[stop]][
            np.repeat(picked, np.diff(indptr[start : stop + 1]))
        ]
        yield values
        if int(picked.sum()) * X.shape[1] > values.size:
            yield np.zeros(1, dtype=X.dtype)


def value_stats(
    X, columns: np.ndarray | None = None, rows: np.ndarray | None = None
) -> dict[str, bool | float]:
    """Whether all values are integers, binary, non-negative; the min and max. ``columns``:
    of those columns only (the genes a model reads of a query); ``rows``: of those rows only
    (the training cells)."""
    is_int = True
    is_binary = True
    vmin, vmax = np.inf, -np.inf
    n_stored = 0
    if columns is not None and len(columns) >= X.shape[1]:
        columns = None
    if rows is not None and len(rows) >= X.shape[0]:
        rows = None
    if columns is not None or rows is not None:
        blocks = _subset_values(
            X,
            None if columns is None else np.asarray(columns),
            None if rows is None else np.sort(np.asarray(rows)),
        )
        implicit = False
    else:
        blocks, implicit = iter_values(X), True
    for block in blocks:
        n_stored += block.size
        if block.size == 0:
            continue
        b = np.asarray(block)
        vmin = min(vmin, float(b.min()))
        vmax = max(vmax, float(b.max()))
        if is_int and np.issubdtype(b.dtype, np.floating):
            is_int = bool(np.all(b == np.round(b)))
        if is_binary:
            is_binary = bool(np.all((b == 0) | (b == 1)))
    if implicit and sparse.issparse(X) and n_stored < X.shape[0] * X.shape[1]:  # implicit 0s
        vmin = min(vmin, 0.0)
    return {"integer": is_int, "binary": is_binary, "min": vmin, "max": vmax}


EQUAL_TOTALS_RTOL = 1e-3
"""Rows whose totals are within this fraction of their median are depth-normalized to one
target (``sc.pp.normalize_total``), when their values are counts scaled (see
:func:`common_row_total`)."""


def common_row_total(X, rows: np.ndarray | None = None) -> float | None:
    """The total every non-empty row of ``X`` sums to, where the rows are counts scaled to one
    total (``sc.pp.normalize_total`` without ``log1p``): the totals agree within
    :data:`EQUAL_TOTALS_RTOL`, and in nine in ten of up to 100 rows looked at, every non-zero
    value is a whole multiple of the row's smallest (a count of one, scaled). Quantile-
    normalized log values also sum alike in every row but are no multiples. None otherwise, or
    where fewer than two rows hold values. ``rows``: of those rows only. A sparse ``X`` stays
    sparse."""
    # one pass, no copy (the matrix is in memory: as_csr_or_dense reads a backed one)
    if rows is None:
        totals = np.ravel(np.asarray(X.sum(axis=1, dtype=np.float64)))
        index = np.arange(X.shape[0])
    else:  # a chunk of the rows at a time
        index = np.sort(np.asarray(rows))
        totals = np.concatenate(
            [
                np.ravel(np.asarray(X[index[i : i + _CHUNK]].sum(axis=1, dtype=np.float64)))
                for i in range(0, len(index), _CHUNK)
            ]
            or [np.zeros(0)]
        )
    filled = np.flatnonzero(totals != 0)
    if filled.size < 2:
        return None
    median = float(np.median(totals[filled]))
    if median <= 0 or float(np.ptp(totals[filled])) > EQUAL_TOTALS_RTOL * median:
        return None
    looked = index[filled[np.linspace(0, filled.size - 1, min(100, filled.size)).astype(int)]]
    scaled = 0
    for row in looked:
        values = X[row : row + 1]
        values = np.ravel(values.toarray() if sparse.issparse(values) else np.asarray(values))
        values = values[values > 0].astype(np.float64)
        multiples = values / values.min()
        scaled += bool(np.all(np.abs(multiples - np.round(multiples)) < 0.01))
    return median if scaled >= 0.9 * looked.size else None


def check_labels(adata: AnnData, labels_key: str, argument: str = "labels_key") -> pd.Series:
    """The label column, or an error listing the available columns (naming the argument
    ``argument``)."""
    check_obs_column(adata, argument, labels_key)
    return adata.obs[labels_key]


MAX_NUMERIC_LABELS = 50

# label texts that usually mean "no label": what str() makes of NaN and None, and blanks
MISSING_AS_TEXT = frozenset({"", "nan", "none", "na", "<na>", "null"})


def named_missing(names) -> list[str]:
    """Those of ``names`` (label or batch texts) that read like a missing value (``'nan'``,
    ``'NA'``, blanks: :data:`MISSING_AS_TEXT`), as ``str()`` makes NaN and None."""
    return [str(n) for n in names if str(n).strip().lower() in MISSING_AS_TEXT]


def is_numeric_column(labels: pd.Series) -> bool:
    """Whether ``labels`` holds numbers: a numeric dtype that is neither boolean nor
    categorical."""
    dtype = labels.dtype
    return (
        pd.api.types.is_numeric_dtype(dtype)
        and not pd.api.types.is_bool_dtype(dtype)
        and not isinstance(dtype, pd.CategoricalDtype)
    )


def check_not_continuous(labels: pd.Series, labels_key: str, needs: str) -> None:
    """Refuse a numeric label column (not boolean, not categorical) with more than
    :data:`MAX_NUMERIC_LABELS` distinct values: a measurement (``n_genes``, a score), not
    classes. ``needs`` says what needs categories, e.g. "classification"."""
    if not is_numeric_column(labels):
        return
    n_unique = labels.nunique()
    if n_unique > MAX_NUMERIC_LABELS:
        msg = (
            f"obs[{labels_key!r}] is numeric with {n_unique} distinct values; {needs} needs "
            "categories. Convert it with .astype('category') if it really holds classes."
        )
        raise ValueError(msg)


def first_few(items, n: int = 5) -> str:
    """``items`` shown as a list of their first ``n``, with `` ...`` where there are more."""
    items = list(items)
    return f"{items[:n]}{' ...' if len(items) > n else ''}"


def class_names_of(values: pd.Series, classes=()) -> np.ndarray:
    """The values of a label column as class names (an object array, None where a value is
    missing): each value's text, as :func:`~scautogenome.tl.classify` names its classes
    (``1.0`` of a float column is ``"1.0"``), except that a whole number whose text is not
    one of a model's ``classes`` but whose other text is (``"1"`` for ``1.0``: a column of
    integers made float by a missing value; ``"1.0"`` for ``1`` or for the text ``"1"``: a
    model trained on such a column) is named as the model names it."""
    known = {str(c) for c in classes}
    names: dict = {}  # by type and value: 1, 1.0 and True are equal keys, not one name

    def name_of(value) -> str:
        name = str(value)
        if name in known or isinstance(value, (bool, np.bool_)):
            return name
        if isinstance(value, str):  # a number as text ('1' of cluster ids written as text)
            try:
                value = float(value)
            except ValueError:
                return name
        elif not isinstance(value, (int, float, np.integer, np.floating)):
            return name
        if not (np.isfinite(value) and float(value).is_integer()):
            return name
        return next((t for t in (str(int(value)), str(float(value))) if t in known), name)

    missing = values.isna().to_numpy()
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values.astype(object).to_numpy()):
        if not missing[i]:
            key = (type(value), value)
            out[i] = names[key] if key in names else names.setdefault(key, name_of(value))
    return out


def batch_name(value) -> str:
    """A batch's text: ``2.0`` as ``"2"`` (a column of whole numbers read back as floats, from
    a CSV with a missing value, names the same batches as one of integers)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def warn_batches_missing_as_text(batch_key: str, counts: dict[str, int], noun: str) -> None:
    """A warning naming the batches of ``counts`` (cells per batch text of ``obs[batch_key]``)
    that read like a missing value (``'nan'``, ``'NA'``, blanks:
    :func:`named_missing`), as :func:`~scautogenome.data._prepare.warn_missing_as_text` warns
    of such labels: NaN is no way out for a batch (every cell needs one), so it says how to
    give them a name that says what they are, or their own batches."""
    missing_as_text = named_missing(counts)
    if not missing_as_text:
        return
    from .._settings import logger

    logger.warning(
        "obs[%r] has batch(es) named like a missing value: %s. Each is taken as a batch of "
        "that name, as the others are. Where the batch of those %s was lost (NaN made text, "
        "e.g. by .astype(str)), give them theirs or leave them out; where they are a batch "
        "of their own, name it so, e.g. adata.obs[%r] = adata.obs[%r].astype(str).replace("
        "%r, 'unknown')",
        batch_key,
        ", ".join(f"{b!r} ({counts[b]} {noun})" for b in missing_as_text),
        noun,
        batch_key,
        batch_key,
        missing_as_text,
    )


def batch_codes(
    adata: AnnData,
    batch_key: str,
    *,
    categories: list[str] | None = None,
    warn: bool = True,
) -> tuple[np.ndarray, list[str]]:
    """Integer codes (int64, one per cell) of the batch column ``obs[batch_key]`` and the
    batches they index (sorted text), checked before any work.

    The column must exist, hold no missing value and be categories (a numeric column of more
    than :data:`MAX_NUMERIC_LABELS` values is a measurement, not batches). Batches are
    matched as text, whole numbers without their decimals (``2`` and ``2.0`` are one batch).
    ``categories``: the batches a trained model knows; a cell of another batch is then an
    error naming it. With ``warn``, batches named like a missing value (``'nan'`` of
    ``.astype(str)``) are warned about (:func:`warn_batches_missing_as_text`), not refused.
    """
    check_obs_column(adata, "batch_key", batch_key)
    values = adata.obs[batch_key]
    check_not_continuous(values, batch_key, "batch correction")
    n_missing = int(values.isna().sum())
    if n_missing:
        noun = obs_noun(adata)
        msg = (
            f"obs[{batch_key!r}] has {n_missing} missing value(s); every one of these {noun} "
            f"needs a batch. Give those {noun} one (a batch of their own, say 'unknown') or "
            "leave them out."
        )
        raise ValueError(msg)
    # the text of each distinct value once, then per cell through the codes (fast on millions)
    as_categories = values.astype("category")
    names = np.asarray([batch_name(v) for v in as_categories.cat.categories], dtype=object)
    names = names[np.unique(as_categories.cat.codes.to_numpy())]  # the values cells have
    as_categories = as_categories.cat.remove_unused_categories()
    if categories is None:
        categories = sorted(set(names))
    known = {b: i for i, b in enumerate(categories)}
    unknown = sorted(set(names) - known.keys())
    if unknown:
        text = names[as_categories.cat.codes.to_numpy()]
        shown = ", ".join(repr(b) for b in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        msg = (
            f"obs[{batch_key!r}] has batch(es) the model was not trained on: {shown} "
            f"({int(np.isin(text, unknown).sum())} {obs_noun(adata)}); it knows "
            f"{len(categories)}: {first_few(categories)}. "
            "Decode them as one of those with transform_batch=."
        )
        raise ValueError(msg)
    of_name = np.asarray([known[b] for b in names], dtype=np.int64)
    codes = of_name[as_categories.cat.codes.to_numpy()]
    if warn and named_missing(names):
        n_cells = np.bincount(codes, minlength=len(categories))
        counts = {b: int(n_cells[known[b]]) for b in dict.fromkeys(names)}
        warn_batches_missing_as_text(batch_key, counts, obs_noun(adata))
    return codes, list(categories)
