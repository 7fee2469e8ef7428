"""``sag.io.read_table``: delimited expression matrices -> AnnData, with a label table joined."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._keys import IO_KEY
from .._settings import logger
from .._utils import check_path, columns_listed, is_one_of, recorded_path
from . import _parse
from ._barcodes import barcode_fraction, match_ids

if TYPE_CHECKING:
    from anndata import AnnData

Orientation = Literal["auto", "genes_x_samples", "samples_x_genes"]
ORIENTATIONS = ("auto", "genes_x_samples", "samples_x_genes")

# Ensembl and Firehose's SYMBOL|ENTREZ tell genes; bare integers may be Entrez ids, or samples
_GENE_ID = re.compile(r"^(ENS[A-Z]*G\d{6,}(\.\d+)?|[A-Za-z0-9?][\w.\-/@]*\|\d+)$")
_INTEGER_ID = re.compile(r"^\d+$")
_FIREHOSE_GENE = re.compile(r"^(?P<symbol>[^|]+)\|(?P<entrez>\d+)$")
# what Excel makes of gene symbols such as MARCH1, SEPT2, DEC1: '1-Mar', 'Mar-01', '2019-09-02'
_MONTH = "(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
_EXCEL_DATE = re.compile(
    rf"^(?:\d{{1,2}}-{_MONTH}|{_MONTH}-\d{{2}}|\d{{4}}-\d{{2}}-\d{{2}})$", re.IGNORECASE
)


def _gene_fraction(ids: Sequence[str], pattern: re.Pattern = _GENE_ID) -> float:
    ids = list(ids)
    return sum(pattern.match(str(i)) is not None for i in ids) / max(1, len(ids))


def _decide_orientation(
    row_ids: Sequence[str], col_ids: Sequence[str], label_ids: Sequence[str] | None
) -> tuple[str, str]:
    """``(orientation, reason)`` from label-id overlap, TCGA barcodes, gene ids, then shape."""
    if label_ids is not None:
        on_rows = int((match_ids(row_ids, label_ids)[0] >= 0).sum())
        on_cols = int((match_ids(col_ids, label_ids)[0] >= 0).sum())
        if on_rows != on_cols:
            orient = "samples_x_genes" if on_rows > on_cols else "genes_x_samples"
            axis = "row" if on_rows > on_cols else "column"
            return orient, f"the label table's ids match {max(on_rows, on_cols)} {axis} ids"
    bc_rows, bc_cols = barcode_fraction(row_ids), barcode_fraction(col_ids)
    if max(bc_rows, bc_cols) >= 0.5 and bc_rows != bc_cols:
        orient = "samples_x_genes" if bc_rows > bc_cols else "genes_x_samples"
        return orient, f"TCGA barcodes are the {'row' if bc_rows > bc_cols else 'column'} ids"
    g_rows, g_cols = _gene_fraction(row_ids), _gene_fraction(col_ids)
    if max(g_rows, g_cols) >= 0.5 and abs(g_rows - g_cols) >= 0.5:
        orient = "genes_x_samples" if g_rows > g_cols else "samples_x_genes"
        return (
            orient,
            f"gene ids (Ensembl / SYMBOL|ENTREZ) are the {'row' if g_rows > g_cols else 'column'} ids",
        )
    n_rows, n_cols = _gene_fraction(row_ids, _INTEGER_ID), _gene_fraction(col_ids, _INTEGER_ID)
    if max(n_rows, n_cols) >= 0.5 and abs(n_rows - n_cols) >= 0.5:
        axis = "row" if n_rows > n_cols else "column"
        warnings.warn(
            f"the {axis} ids are integers, taken for Entrez gene ids, so the table is read as "
            f"{'genes x samples' if axis == 'row' else 'samples x genes'}; if they are sample "
            "ids, pass orientation= (or a label table, whose ids decide it).",
            UserWarning,
            stacklevel=4,
        )
        orient = "genes_x_samples" if n_rows > n_cols else "samples_x_genes"
        return orient, f"integer ids (Entrez?) are the {axis} ids"
    if len(row_ids) > len(col_ids):
        orient, reason = "genes_x_samples", f"more rows ({len(row_ids)}) than columns"
        other = "samples_x_genes"
    else:
        orient, reason = "samples_x_genes", f"no more rows ({len(row_ids)}) than columns"
        other = "genes_x_samples"
    reason += f" ({len(col_ids)})"
    warnings.warn(
        f"only the shape tells the orientation (no label table, TCGA barcodes or gene ids "
        f"decide it), so the table is read as {orient.replace('_x_', ' x ')} because it has "
        f"{reason}; pass orientation={other!r} if that is wrong (orientation={orient!r} to "
        "silence this).",
        UserWarning,
        stacklevel=4,
    )
    return orient, reason


def _duplicates(ids: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    dups: list[str] = []
    for i in ids:
        if i in seen and i not in dups:
            dups.append(i)
        seen.add(i)
    return dups


def _h5ad_column(values: pd.Series) -> pd.Series:
    """Object/string columns -> categorical of str (missing stays missing); others unchanged."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.rename_categories([str(c) for c in values.cat.categories])
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values
    mask = values.isna()
    text = values.astype(str).where(~mask)
    return text.astype("category")


def _stripped(values: pd.Series) -> pd.Series:
    """Text cells without surrounding spaces (``"B cell "`` is ``"B cell"``, as the ids are
    matched stripped); one that is then empty or a missing-value token (``" NA"``) is missing.
    Other columns are returned as they are."""
    if not (values.dtype == object or pd.api.types.is_string_dtype(values.dtype)):
        return values

    def strip(v):
        if not isinstance(v, str) or v == v.strip():
            return v
        v = v.strip()
        return np.nan if v in _parse.NA_TOKENS else v

    stripped = values.map(strip)
    present = stripped.dropna()
    if (
        len(present)
        and (stripped.ne(values) & values.notna()).any()  # NaN != NaN is no change
        and all(isinstance(v, str) and _parse.is_number(v) for v in present)
    ):
        # numbers once stripped (' 50', a blank cell): numbers, as a clean file reads
        return pd.to_numeric(stripped)
    return stripped


def label_columns(
    info: _parse.Frame,
    label_column: str | Sequence[str] | None,
    id_column: str | None,
    what: str = "label table",
) -> tuple[str, list[str]]:
    """The id column and the label columns of a label table, checked against its header (so
    that a typo fails before the expression matrix is parsed). Column names become strings."""
    frame = info.frame
    cols = [str(c) for c in frame.columns]
    frame.columns = cols
    if frame.shape[1] < 2:
        msg = (
            f"{what} {info.name}: needs an id column and at least one label column, found "
            f"{cols}; is the delimiter right?"
        )
        raise ValueError(msg)
    id_col = cols[0] if id_column is None else id_column
    if id_col not in cols:
        msg = f"{what} {info.name}: no id_column={id_col!r}; {columns_listed(cols, [id_col])}."
        raise ValueError(msg)
    if label_column is None:
        return id_col, [c for c in cols if c != id_col]
    wanted = [label_column] if isinstance(label_column, str) else list(label_column)
    missing = [c for c in wanted if c not in cols]
    if missing:
        msg = f"{what} {info.name}: no label_column {missing}; {columns_listed(cols, missing)}."
        if cols[0].startswith("#"):
            msg += (
                f" Its '{cols[0]}' line was read as the header, as QIIME's is; if it is a "
                "commented-out header, delete that line."
            )
        raise ValueError(msg)
    return id_col, wanted


def add_labels(
    adata: AnnData,
    info: _parse.Frame,
    record: dict,
    *,
    label_column: str | Sequence[str] | None,
    id_column: str | None,
    data_name: str,
) -> None:
    """The columns of the label table ``info`` joined onto ``adata``'s rows
    (:func:`join_labels`) written into ``obs``, and the join into ``record`` (the reader's
    ``uns`` record)."""
    obs, join = join_labels(
        adata.obs_names, info, label_column=label_column, id_column=id_column, data_name=data_name
    )
    for col in obs.columns:
        adata.obs[col] = obs[col]
    record.update(join)


def join_labels(
    obs_names: Sequence[str],
    labels: str | Path | pd.DataFrame | _parse.Frame,
    *,
    label_column: str | Sequence[str] | None,
    id_column: str | None,
    data_name: str,
    what: str = "label table",
) -> tuple[pd.DataFrame, dict]:
    """Columns of a label table aligned to ``obs_names`` and a record of the join for ``uns``.

    Raises ValueError when the table lacks a named column, repeats an id, or matches no sample.
    """
    info = labels if isinstance(labels, _parse.Frame) else _parse.read_frame(labels, what=what)
    frame = info.frame
    id_col, wanted = label_columns(info, label_column, id_column, what)
    # the ids as written in a file (numbers would lose leading zeros: "001" -> 1)
    ids = frame[id_col] if info.text is None else info.text[id_col].set_axis(frame.index)
    empty = ids.isna().to_numpy() | (ids.astype(str).str.strip() == "").to_numpy()
    if empty.any():
        msg = (
            f"{what} {info.name}: empty or missing id in column {id_col!r} at "
            f"{_parse.rows_where(info, id_col, '', limit=3)} (blank, or a missing-value word "
            "such as 'NA'); every row needs an id."
        )
        raise ValueError(msg)
    ids = ids.astype(str).str.strip()
    # a row that repeats an id with the same values in the wanted columns is the same record
    # (GDC's clinical.tsv repeats a case once per treatment); only conflicting ones are errors
    same = frame[wanted].assign(__sag_id__=ids.to_numpy()).duplicated().to_numpy()
    if same.any():
        logger.info(
            f"{what} {info.name}: {int(same.sum())} row(s) repeat an id with the same values; "
            "each id is read once."
        )
        frame, ids = frame[~same], ids[~same]
    dups = _duplicates(ids.tolist())
    if dups:
        msg = (
            f"{what} {info.name}: duplicate id {dups[0]!r} in column {id_col!r} at "
            f"{_parse.rows_where(info, id_col, dups[0])}"
            + (f" ({len(dups)} ids repeat)" if len(dups) > 1 else "")
            + "."
        )
        raise ValueError(msg)
    pos, how = match_ids(list(obs_names), ids.tolist())
    hit = pos >= 0
    if not hit.any():
        msg = (
            f"{what} {info.name}: none of its {len(ids)} ids in column {id_col!r} (e.g. "
            f"{ids.iloc[:3].tolist()}) matches a sample of {data_name} (e.g. "
            f"{list(obs_names)[:3]}); check id_column= and the orientation."
        )
        raise ValueError(msg)
    out = pd.DataFrame(index=pd.Index(list(obs_names)))
    take = np.where(hit, pos, -1)
    for col in wanted:
        values = _stripped(frame[col].reset_index(drop=True))
        out[col] = _h5ad_column(values.reindex(take).set_axis(out.index))
    n_missing = int((~hit).sum())
    if n_missing:
        examples = [o for o, h in zip(obs_names, hit, strict=True) if not h][:3]
        warnings.warn(
            f"{what} {info.name}: {n_missing} of {len(hit)} samples of {data_name} have no row "
            f"(e.g. {examples}); their labels are missing (NaN).",
            UserWarning,
            stacklevel=3,
        )
    n_unused = len(ids) - len(set(pos[hit].tolist()))
    if n_unused:
        logger.info(f"{what} {info.name}: {n_unused} of its {len(ids)} rows match no sample.")
    record = {
        "label_table": recorded_path(info.source) if info.source is not None else info.name,
        "id_column": id_col,
        "label_columns": np.asarray(wanted, dtype=str),
        "id_match": how,
        "n_samples_without_label": n_missing,
        "n_label_rows_unused": int(n_unused),
    }
    return out, record


def _var_frame(genes: Sequence[str]) -> pd.DataFrame:
    var = pd.DataFrame(index=pd.Index(list(genes)))
    parsed = [_FIREHOSE_GENE.match(g) for g in genes]
    if parsed and sum(m is not None for m in parsed) >= 0.9 * len(parsed):
        var["gene_symbol"] = [
            m.group("symbol") if m else g for m, g in zip(parsed, genes, strict=True)
        ]
        var["entrez_id"] = [m.group("entrez") if m else "" for m in parsed]
    return var


def float_dtype(dtype) -> np.dtype:
    """``dtype`` as a floating-point numpy dtype, or an error naming it (an integer or text
    dtype cannot hold an expression table's values, NaN among them)."""
    try:
        out = np.dtype(dtype)
    except TypeError:
        out = None
    if out is None or not np.issubdtype(out, np.floating):
        msg = f"dtype={dtype!r} must be a floating-point dtype: 'float32' (default) or 'float64'."
        raise TypeError(msg)
    return out


STAR_COUNTERS = ("N_unmapped", "N_multimapping", "N_noFeature", "N_ambiguous")
"""The first rows of a GDC STAR - Counts file: reads counted on no gene."""


def table_to_anndata(
    path: str | Path,
    *,
    orientation: Orientation = "auto",
    sep: str | None = None,
    label_ids: Sequence[str] | None = None,
    sparse: bool | Literal["auto"] = "auto",
    dtype="float32",
    what: str = "expression table",
) -> tuple[AnnData, dict]:
    """Parse a matrix file into samples x genes AnnData (no labels); also return the record."""
    import anndata as ad

    if not is_one_of(orientation, ORIENTATIONS):
        msg = f"orientation={orientation!r} must be one of {ORIENTATIONS}."
        raise ValueError(msg)
    if not is_one_of(sparse, (True, False, "auto")):
        msg = f"sparse={sparse!r} must be True, False or 'auto'."
        raise ValueError(msg)
    dtype = float_dtype(dtype)
    m = _parse.read_matrix(path, sep=sep, sparse=sparse, dtype=dtype, what=what)
    if orientation == "auto":
        orientation, reason = _decide_orientation(m.row_ids, m.col_ids, label_ids)
        logger.info(
            f"{what} {str(path)!r}: read as {orientation.replace('_x_', ' x ')} because {reason}; "
            "pass orientation= to override."
        )
    else:
        reason = "given"
    row_ids = [str(r) for r in m.row_ids]
    col_ids = list(m.col_ids)
    # duplicate sample ids are an error; duplicate gene ids are made unique with a warning
    if orientation == "samples_x_genes":
        dups = _duplicates(row_ids)
        if dups:
            lines = _parse.lines_with_first_field(path, m.layout, dups[0])
            msg = (
                f"{what} {_parse.where(path)}: duplicate sample id {dups[0]!r} on lines "
                + " and ".join(map(str, lines))
                + "."
            )
            raise ValueError(msg)
        sample_ids, gene_ids, X = row_ids, col_ids, m.X
    else:
        dups = _duplicates(col_ids)
        if dups:
            # the corner cell and any skipped annotation column come before the ids
            offset = (1 if m.layout.corner is not None else 0) + len(m.layout.annotation)
            fields = [str(i + 1 + offset) for i, c in enumerate(col_ids) if c == dups[0]]
            msg = (
                f"{what} {_parse.where(path, m.layout.header_line)}: duplicate sample id "
                f"{dups[0]!r} in header fields " + " and ".join(fields) + "."
            )
            raise ValueError(msg)
        sample_ids, gene_ids = col_ids, row_ids
        X = m.X.T.tocsr() if sp.issparse(m.X) else np.ascontiguousarray(m.X.T)
    star = np.isin(gene_ids, STAR_COUNTERS)
    if star.any():
        warnings.warn(
            f"{what} {_parse.where(path)}: {int(star.sum())} rows of STAR's counts of reads "
            f"on no gene ({', '.join(np.asarray(gene_ids)[star])}, as GDC's STAR - Counts "
            "files begin) are no genes: left out.",
            UserWarning,
            stacklevel=3,
        )
        gene_ids = [g for g, s in zip(gene_ids, star) if not s]
        X = X[:, ~star]
    with warnings.catch_warnings():  # repeated gene ids are made unique below, and said so
        warnings.filterwarnings("ignore", message="Variable names are not unique")
        adata = ad.AnnData(
            X=X, obs=pd.DataFrame(index=pd.Index(sample_ids)), var=_var_frame(gene_ids)
        )
    dates = [g for g in gene_ids if _EXCEL_DATE.match(g)]
    if dates:
        warnings.warn(
            f"{what} {_parse.where(path)}: {len(dates)} gene ids look like dates (e.g. "
            f"{dates[:3]}), as Excel turns MARCH1, SEPT2, ... into '1-Mar', '2-Sep'; these "
            "genes cannot be matched by name: export the table again without Excel (or with "
            "the gene column imported as text).",
            UserWarning,
            stacklevel=3,
        )
    gene_dups = _duplicates(gene_ids)
    if gene_dups:
        warnings.warn(
            f"{what} {_parse.where(path)}: {len(gene_dups)} gene ids repeat (e.g. "
            f"{gene_dups[:3]}); made unique by appending '-1', '-2', ...",
            UserWarning,
            stacklevel=3,
        )
        adata.var_names_make_unique()
    record = {
        "path": recorded_path(path),
        "orientation": orientation,
        "orientation_reason": reason,
        "sep": m.layout.sep,
        "sparse": bool(sp.issparse(adata.X)),
        "dtype": dtype.name,
    }
    return adata, record


def read_table(
    path: str | Path,
    *,
    orientation: Orientation = "auto",
    sep: str | None = None,
    labels: str | Path | pd.DataFrame | None = None,
    label_column: str | Sequence[str] | None = None,
    id_column: str | None = None,
    sparse: bool | Literal["auto"] = "auto",
    dtype: str | np.dtype = "float32",
) -> AnnData:
    """Read a CSV/TSV expression matrix (optionally gzipped) into AnnData, labels in ``obs``.

    The first column holds row ids and the first line column ids (an R-style header without the
    corner cell is accepted, as is Firehose's second header line ``gene_id  normalized_count``).
    Lines starting with ``#`` above the header are skipped, except a last one with a word right
    after the ``#`` and as many fields as the data rows below it (``#gene_id  S1  S2``, QIIME's
    ``#OTU ID``), which is the header; below ``#`` lines, a first line of non-integer numbers
    (a header commented out) is refused.
    Numbers are parsed by pandas' C parser; gzip, bz2, xz and zip files are recognised by their
    first bytes, whatever their name, and decompressed.

    Parameters
    ----------
    path
        The matrix file (``.csv``, ``.tsv``, ``.txt``, ... with an optional ``.gz``).
    orientation
        ``"genes_x_samples"`` (genes are rows, as in TCGA/Firehose files), ``"samples_x_genes"``
        or ``"auto"``: decided by, in order, which axis the label table's ids match, which axis
        holds TCGA barcodes, which holds gene ids (Ensembl, ``SYMBOL|ENTREZ``), and finally
        shape (more rows than columns -> genes x samples; warned about). The decision and its
        reason are logged and kept in ``uns``.
    sep
        Delimiter: one character, or its name as ``--sep`` takes it (``"tab"``, ``"comma"``,
        ``"semicolon"``, ``"space"``); by default a comma for ``.csv``, a tab for
        ``.tsv``/``.tab``, else sniffed.
    labels
        A label table (path or DataFrame) joined to the samples by id. A DataFrame's index is used
        as the id column when it is named or not of integers; an unnamed index of integers
        (row numbers, also after a row filter) is not.
    label_column
        Column(s) of ``labels`` to put into ``obs``; by default all but the id column. Text is
        stripped of surrounding spaces (``"B cell "`` is ``"B cell"``).
    id_column
        Column of ``labels`` holding the sample ids; by default its first column. Ids are
        matched exactly first; when both sides are TCGA barcodes, the samples left are matched
        by their longest barcode prefix in the table (so a patient-level clinical table labels
        every sample, also when some of its rows are aliquots).
    sparse
        ``"auto"``: CSR when fewer than half of the values are non-zero, else dense.
    dtype
        Data type of ``X``: a floating-point one (``"float32"``, ``"float64"``).

    Returns
    -------
    AnnData of samples x genes with

    ``X``
        The values, CSR (mostly zeros) or dense ``dtype``.
    ``obs_names`` / ``var_names``
        Sample and gene ids (repeated gene ids are made unique, with a warning).
    ``obs[<label columns>]``
        The label table's columns; text columns are categorical; samples without a row are
        missing (with a warning).
    ``var['gene_symbol']``, ``var['entrez_id']``
        Only for Firehose-style ``SYMBOL|ENTREZ`` gene ids.
    ``uns['sag_io']``
        ``reader``, ``path``, ``orientation`` and ``orientation_reason``, ``sep``, ``sparse``,
        ``dtype``; with labels also ``label_table``, ``id_column``, ``label_columns``,
        ``id_match`` (``exact``, ``tcga_prefix`` or, some of each, ``exact+tcga_prefix``),
        ``n_samples_without_label``,
        ``n_label_rows_unused``.

    Raises
    ------
    ValueError
        Naming the file and line: ragged rows, non-numeric / missing / non-finite cells,
        duplicate sample ids, a label table that repeats an id or matches no sample.
    """
    check_path("path", path, "the matrix file")
    float_dtype(dtype)  # before the label table is read
    label_info = None
    label_ids = None
    if labels is not None:
        label_info = _parse.read_frame(labels, what="label table")
        id_col, _ = label_columns(label_info, label_column, id_column)  # before the matrix
        ids = label_info.frame[id_col] if label_info.text is None else label_info.text[id_col]
        label_ids = ids.dropna().astype(str).str.strip().tolist()
    adata, record = table_to_anndata(
        path, orientation=orientation, sep=sep, label_ids=label_ids, sparse=sparse, dtype=dtype
    )
    record = {"reader": "read_table", **record}
    if label_info is not None:
        add_labels(
            adata,
            label_info,
            record,
            label_column=label_column,
            id_column=id_column,
            data_name=repr(str(path)),
        )
    adata.uns[IO_KEY] = record
    logger.info(f"read {adata.n_obs} samples x {adata.n_vars} genes from {str(path)!r}")
    return adata
