"""Low-level text parsing shared by the ``sag.io`` readers.

Numbers are parsed by pandas' C parser, in row chunks that are stored sparse when they are mostly
zeros, so a large single-cell table never needs a second dense copy. When pandas fails (or leaves a
NaN), the file is scanned again line by line to report the exact line, column and problem; that
scan runs only on the error path.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import math
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._settings import logger

PathLike = str | Path

# "mostly zeros": a matrix with fewer non-zeros than this fraction of its cells is stored as CSR
SPARSE_DENSITY = 0.5
# rows per parsing chunk: about this many cells (16 MB of float32), so a wide table never holds
# more than one chunk densely on top of the (sparse) result
CHUNK_CELLS = 4_000_000
_INTEGER = re.compile(r"^[+-]?\d+$")
# missing values pandas does not know: GDC's "'--", and the bracketed words of TCGA's BCR
# tables and the TCGA-CDR
EXTRA_NA = (
    "'--",
    "[Not Available]",
    "[Not Applicable]",
    "[Unknown]",
    "[Discrepancy]",
    "[Not Evaluated]",
)
# the strings pandas reads as missing (its defaults), plus EXTRA_NA
NA_TOKENS = frozenset(EXTRA_NA) | frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)
_COMPRESSED = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
_OPENERS = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}  # by compression_of's name


# the first bytes of each compressed format pandas reads, and its name there
_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # a zip archive of no entry: its end record alone
)


def compression_of(path: PathLike) -> str | None:
    """``"gzip"``, ``"bz2"``, ``"xz"``, ``"zip"`` or None (plain text), from the file's first
    bytes rather than its name: a gzipped ``x.tsv``, or a plain ``x.tsv.gz``, reads as it is."""
    with open(path, "rb") as fh:
        head = fh.read(6)
    return next((name for magic, name in _MAGIC if head.startswith(magic)), None)


def _zip_member(path: Path):
    """The one file of a zip archive, opened for reading bytes."""
    archive = zipfile.ZipFile(path)
    members = [n for n in archive.namelist() if not n.endswith("/")]
    if len(members) != 1:
        msg = f"{str(path)!r}: a zip archive must hold exactly one file, found {members}."
        raise ValueError(msg)
    return archive.open(members[0])


def open_binary(path: PathLike) -> io.BufferedIOBase:
    """Open ``path`` for reading bytes, decompressed (:func:`compression_of`)."""
    path = Path(path)
    kind = compression_of(path)
    if kind == "zip":
        return _zip_member(path)
    opener = _OPENERS.get(kind, open)
    return opener(path, "rb")


def not_utf8(path: PathLike, what: str, err: UnicodeDecodeError) -> ValueError:
    """The error for a file that is not UTF-8 text (a wrong encoding, or compressed data)."""
    return ValueError(
        f"{what} {where(Path(path))}: not UTF-8 text ({err.reason} at byte {err.start}); save "
        "it as UTF-8 (or compress it with gzip, bz2, xz or zip)."
    )


@contextmanager
def decoded(path: PathLike, what: str) -> Iterator[None]:
    """Turn a UnicodeDecodeError raised while reading ``path`` into :func:`not_utf8`'s error,
    which names the file (a raw one names only the codec)."""
    try:
        yield
    except UnicodeDecodeError as err:
        raise not_utf8(path, what, err) from err


def open_text(path: PathLike) -> io.TextIOBase:
    """Open ``path`` for reading text, decompressing gzip/bz2/xz/zip (told by the first bytes,
    :func:`compression_of`). A UTF-8 byte-order mark (Excel's "CSV UTF-8") is dropped, as
    pandas' parser drops it, so it never ends up in a name, an id or a label."""
    path = Path(path)
    kind = compression_of(path)
    if kind == "zip":
        return io.TextIOWrapper(_zip_member(path), encoding="utf-8-sig", newline="")
    opener = _OPENERS.get(kind)
    if opener is not None:
        return opener(path, "rt", encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def check_exists(path: PathLike, what: str) -> Path:
    """``path`` as a Path naming an existing file; a TypeError for a value that is no path
    (before pathlib's message, which names nothing), a FileNotFoundError or an
    IsADirectoryError naming ``what``."""
    import os

    if not isinstance(path, (str, os.PathLike)):
        from .._utils import short_repr

        msg = f"{what} {short_repr(path)} is of type {type(path).__name__}; give a path (a str or Path)."
        raise TypeError(msg)
    path = Path(path)
    if not path.exists():
        msg = f"{what} {str(path)!r} does not exist."
        raise FileNotFoundError(msg)
    if path.is_dir():
        msg = f"{what} {str(path)!r} is a directory, expected a file."
        raise IsADirectoryError(msg)
    return path


def as_paths(paths, what: str) -> list:
    """``paths``, one path or an iterable of them (a dict's values: the caller's), as a list
    of Paths; a TypeError naming ``what`` for a value that is neither, or an item that is no
    path."""
    import os
    from collections.abc import Iterable

    from .._utils import short_repr

    if isinstance(paths, (str, os.PathLike)):
        return [Path(paths)]
    if not isinstance(paths, Iterable):
        msg = (
            f"paths={short_repr(paths)} is of type {type(paths).__name__}; give the path of a "
            f"{what} (a str or Path), a list of them, or a dict of cohort: path."
        )
        raise TypeError(msg)
    items = list(paths)
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            msg = (
                f"paths holds {short_repr(item)} of type {type(item).__name__}; each must be the "
                f"path of a {what} (a str or Path)."
            )
            raise TypeError(msg)
    return [Path(item) for item in items]


def base_suffix(path: PathLike) -> str:
    """The extension that tells the format: ``x.tsv.gz`` -> ``.tsv``."""
    path = Path(path)
    if path.suffix.lower() in (*_COMPRESSED, ".zip"):
        path = path.with_suffix("")
    return path.suffix.lower()


def guess_sep(path: PathLike, first_line: str) -> str:
    """Comma for ``.csv``, tab for ``.tsv``/``.tab``/``.maf``; otherwise sniffed from line 1."""
    ext = base_suffix(path)
    if ext == ".csv":
        return ","
    if ext in (".tsv", ".tab", ".maf"):
        return "\t"
    if "\t" in first_line:
        return "\t"
    if "," in first_line:
        return ","
    if ";" in first_line:
        return ";"
    return "\t"


def looks_semicolon_separated(fields: list[str], sep: str) -> bool:
    """A line split by ``sep`` into one field that holds ``;`` (a European Excel "CSV")."""
    return sep != ";" and len(fields) == 1 and ";" in fields[0]


def iter_records(path: PathLike, sep: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of each non-blank line, parsed like pandas' C parser does."""
    with open_text(path) as fh:
        reader = csv.reader(fh, delimiter=sep, quotechar='"')
        for fields in reader:
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            yield reader.line_num, fields


def where(path: PathLike, line: int | None = None) -> str:
    return f"{str(path)!r}" + (f", line {line}" if line is not None else "")


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def cell_problem(cell: str, dtype: np.dtype) -> str | None:
    """Why ``cell`` is not a finite number of ``dtype`` (None when it is one)."""
    text = cell.strip()
    if text in NA_TOKENS:
        return f"missing value {cell!r}"
    try:
        value = float(text)
    except ValueError:
        if re.fullmatch(r"[+-]?\d+,\d+", text):
            return f"non-numeric cell {cell!r} (a decimal comma? numbers must use '.')"
        return f"non-numeric cell {cell!r}"
    if not math.isfinite(value):
        return f"non-finite value {cell!r}"
    with np.errstate(over="ignore"):
        if not np.isfinite(np.asarray(value, dtype=dtype)):
            return f"value {cell!r} overflows {np.dtype(dtype).name}"
    return None


@dataclass
class Layout:
    """Where the numbers start in a delimited matrix file."""

    sep: str
    skip: int  # physical lines before the first data row (comments + header lines)
    n_fields: int  # fields per data row, the row id included
    col_ids: list[str]
    corner: str | None  # the header's first cell, when the header has one
    header_line: int | None  # None: no header line
    index: bool = True  # the first field of each row is its id
    # columns right after the ids that annotate the rows (cBioPortal's Entrez_Gene_Id, GCT's
    # Description): skipped, not read as samples
    annotation: tuple[str, ...] = ()


def _physical_lines(path: PathLike, n: int, what: str = "file") -> list[str]:
    out = []
    try:
        with open_text(path) as fh:
            for line in fh:
                out.append(line.rstrip("\r\n"))
                if len(out) >= n:
                    break
    except UnicodeDecodeError as err:
        raise not_utf8(path, what, err) from err
    return out


def _numeric_like(cell: str) -> bool:
    return is_number(cell) or cell.strip() in NA_TOKENS


# column names (compared lower case, spaces and dashes as '_') of row annotations that can
# follow the id column of an expression matrix (cBioPortal: Entrez_Gene_Id, Cytoband;
# GISTIC: Locus ID, Cytoband; GCT: Description)
ANNOTATION_COLUMNS = frozenset(
    {"entrez_gene_id", "entrez_id", "entrezid", "locus_id", "cytoband", "description"}
)


def norm_name(name: str) -> str:
    """A column name as compared with known ones: lower case, spaces and dashes as '_'."""
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def sniff_layout(
    path: PathLike,
    sep: str | None,
    what: str,
    *,
    header: bool | Literal["auto"] = True,
    index: bool | Literal["auto"] = True,
) -> Layout:
    """Find the header, an optional second header line (Firehose) and the data width.

    ``header="auto"``: line 1 is a header when none of its cells is a number; ``index="auto"``:
    the first column holds row ids when the first data row's first cell is not a number.
    """
    lines = _physical_lines(path, 64, what)
    n_comment = 0
    while n_comment < len(lines) and lines[n_comment].startswith("#"):
        n_comment += 1
    content = [(i, ln) for i, ln in enumerate(lines) if i >= n_comment and ln.strip()]
    if (
        n_comment
        and lines[n_comment - 1].strip() in ("#1.2", "#1.3")
        and content
        and all(_INTEGER.match(f.strip()) for f in re.split(r"[\t,]", content[0][1]))
    ):
        # a GCT file: its version line, then one of its dimensions, then the header
        content.pop(0)
    if not content:
        msg = f"{what} {where(path)}: the file is empty."
        raise ValueError(msg)
    if sep is None:
        sep = guess_sep(path, content[0][1])

    def split(text: str) -> list[str]:
        return next(csv.reader([text], delimiter=sep, quotechar='"'))

    first = split(content[0][1])
    if looks_semicolon_separated(first, sep):
        msg = (
            f"{what} {where(path)}: its first line has no {sep!r} but has "
            "';', so the file looks semicolon-separated; pass sep=';'."
        )
        raise ValueError(msg)
    last_comment = lines[n_comment - 1] if n_comment else ""
    if header is not False and last_comment[1:2].strip() and len(first) > 1:
        # '#gene_id<TAB>S1<TAB>S2' (QIIME's '#OTU ID', some R exports): a '#' line right above
        # a data row, with as many fields and a word right after the '#', is the header rather
        # than a comment ('# source: run 42, plate 3' stays a comment, whatever its commas)
        above = split(last_comment[1:])
        if len(above) == len(first) and all(_numeric_like(c) for c in first[1:]):
            logger.info(
                f"{what} {where(path, n_comment)}: the '#' line is read as the header (it has "
                f"as many fields as the data rows below it)."
            )
            content.insert(0, (n_comment - 1, lines[n_comment - 1][1:]))
            first, header = above, True
    if header == "auto":
        header = not any(is_number(c) for c in first)
    k = 1 if header else 0
    skip = content[0][0] + 1 if header else n_comment

    # Firehose matrices have a second header line ("gene_id  normalized_count  ..."): a line
    # right after the header whose value fields are all non-numeric, followed by one with
    # numbers. (Where the next line has none either, as with decimal commas, it is data, and
    # the check of the rows names the bad cell.)
    def all_text(line: str) -> bool:
        values = split(line)[1:]
        return bool(values) and not any(_numeric_like(c) for c in values)

    if (
        header
        and index is True
        and k + 1 < len(content)
        and all_text(content[k][1])
        and not all_text(content[k + 1][1])
    ):
        logger.info(
            f"{what} {where(path, content[k][0] + 1)}: read as a second header line and "
            f"skipped (its first field {split(content[k][1])[0].strip()!r}; words where the "
            "rows below have numbers, as Firehose's 'gene_id normalized_count ...')."
        )
        skip = content[k][0] + 1
        k += 1
    if k >= len(content):
        msg = f"{what} {where(path)}: no data rows after the header."
        raise ValueError(msg)
    first_line_no, first_text = content[k]
    data = split(first_text)
    n_fields = len(data)
    if index == "auto":
        index = not _numeric_like(data[0])
    if not header:
        col_ids = [str(j) for j in range(n_fields - int(index))]
        corner = None
    elif index and n_fields == len(first) + 1:  # R's write.table: no corner cell
        if k + 1 < len(content) and len(split(content[k + 1][1])) == len(first):
            # the next row has the header's width: this row is one field too wide, not the
            # first of an R table (whose rows are all one wider than its header)
            msg = (
                f"{what} {where(path, first_line_no + 1)}: ragged row, {n_fields} fields where "
                f"the header (line {content[0][0] + 1}) and the next row have {len(first)}."
            )
            raise ValueError(msg)
        col_ids, corner = first, None
    elif n_fields == len(first):
        col_ids, corner = (first[1:], first[0]) if index else (first, None)
    else:
        msg = (
            f"{what} {where(path, first_line_no + 1)}: ragged row, {n_fields} fields where the "
            f"header (line {content[0][0] + 1}) has {len(first)}."
        )
        raise ValueError(msg)
    if n_fields < 1 + int(index):
        msg = (
            f"{what} {where(path, first_line_no + 1)}: a single column; is the delimiter "
            f"{sep!r} right? Pass sep=."
        )
        raise ValueError(msg)
    col_ids = [c.strip() for c in col_ids]
    # an empty id (pandas would name it "Unnamed: j"; sag read an id ''), but for a delimiter
    # that ends every line, which the reader names as such
    trailing = bool(col_ids) and not col_ids[-1] and not data[-1].strip()
    if header and "" in col_ids[: len(col_ids) - int(trailing)]:
        j = col_ids.index("") + int(corner is not None) + 1
        msg = (
            f"{what} {where(path, content[0][0] + 1)}: the header's field {j} is empty; "
            "every column needs an id (name it, or delete the column)."
        )
        raise ValueError(msg)
    annotation = []
    while header and index and len(col_ids) > 1 and norm_name(col_ids[0]) in ANNOTATION_COLUMNS:
        annotation.append(col_ids.pop(0))
    if annotation:
        logger.info(
            f"{what} {where(path)}: column(s) {annotation} annotate the rows (as cBioPortal's "
            "and GCT files have); skipped, not read as samples."
        )
    header_line = content[0][0] + 1 if header else None
    # below '#' lines, a header of numbers is a data row taken for one, its header commented
    # out ('# gene S1 S2'); integers may be ids (Entrez), 1.5 not. Without '#' lines a header
    # of numbers is read as written (replicates 1.1, 1.2; doses 0.5, 1.0)
    if (
        header
        and n_comment
        and col_ids
        and all(is_number(c) for c in col_ids)
        and not all(_INTEGER.match(c) for c in col_ids)
    ):
        msg = (
            f"{what} {where(path, header_line)}: the first line below the '#' lines holds "
            f"numbers (e.g. {col_ids[:3]}), not column ids, so it looks like a data row whose "
            "header was commented out; remove the '#' from the header line (or add a header "
            "line of column ids above the data)."
        )
        raise ValueError(msg)
    return Layout(sep, skip, n_fields, col_ids, corner, header_line, bool(index), tuple(annotation))


def locate_problem(path: PathLike, layout: Layout, dtype: np.dtype, what: str) -> None:
    """Scan the data rows and raise ValueError at the first bad one (ragged, NaN, non-numeric)."""
    start = int(layout.index) + len(layout.annotation)
    implied = (
        f"the header (line {layout.header_line}) implies"
        if layout.header_line is not None
        else "the first row has"
    )
    for line, fields in iter_records(path, layout.sep):
        if line <= layout.skip:
            continue
        if len(fields) != layout.n_fields:
            msg = (
                f"{what} {where(path, line)}: ragged row, {len(fields)} fields where "
                f"{implied} {layout.n_fields}."
            )
            raise ValueError(msg)
        if layout.index and not fields[0].strip():
            msg = f"{what} {where(path, line)}: empty row id in the first column."
            raise ValueError(msg)
        if layout.index and not layout.annotation and fields[0] in NA_TOKENS:
            msg = (
                f"{what} {where(path, line)}: row id {fields[0]!r} in the first column reads "
                "as a missing value; rename it."
            )
            raise ValueError(msg)
        for j, cell in enumerate(fields[start:]):
            problem = cell_problem(cell, dtype)
            if problem is not None:
                col = (
                    f"column {layout.col_ids[j]!r}"
                    if layout.header_line is not None
                    else f"field {j + start + 1}"
                )
                msg = f"{what} {where(path, line)}, {col}: {problem}.{_not_a_matrix(path, layout)}"
                raise ValueError(msg)


def _not_a_matrix(path: PathLike, layout: Layout) -> str:
    """What the file at ``path`` is where its columns are those of a file of another kind
    than a matrix (a MAF, a GDC STAR counts file of one sample), with what reads it: " ..."
    to add to an error; else ""."""
    names = {layout.corner, *layout.col_ids}
    if {"Hugo_Symbol", "Tumor_Sample_Barcode"} <= names:
        return (
            f" {where(path)} is a MAF (mutations: Hugo_Symbol, Tumor_Sample_Barcode columns), "
            "not a matrix: sag.io.read_maf (on the command line, --maf instead of --table) "
            "reads it into a samples x genes matrix of mutated genes."
        )
    if {"gene_name", "gene_type", "unstranded"} <= names:
        return (
            f" {where(path)} is a GDC STAR - Counts file of one sample (gene_id, gene_name, "
            "gene_type, unstranded, ..., tpm_unstranded columns), not a matrix: build a genes x "
            "samples table of one of its columns (unstranded counts, or tpm_unstranded) from "
            "the samples' files first, leaving out its N_unmapped, N_multimapping, ... rows, "
            "as the GDC recipe of scautogenome's data/README.md does."
        )
    return ""


def lines_with_first_field(path: PathLike, layout: Layout, value: str) -> list[int]:
    return [
        line
        for line, fields in iter_records(path, layout.sep)
        if line > layout.skip and fields and fields[0].strip() == value
    ]


@dataclass
class Matrix:
    row_ids: np.ndarray  # str
    col_ids: list[str]
    X: np.ndarray | sp.csr_matrix
    layout: Layout


def _stack(
    chunks: list, n_cols: int, sparse: bool | Literal["auto"], dtype
) -> np.ndarray | sp.csr_matrix:
    nnz = sum(c.nnz if sp.issparse(c) else int(np.count_nonzero(c)) for c in chunks)
    n_rows = sum(c.shape[0] for c in chunks)
    density = nnz / max(1, n_rows * n_cols)
    as_sparse = density < SPARSE_DENSITY if sparse == "auto" else bool(sparse)
    if as_sparse:
        out = sp.vstack([sp.csr_matrix(c) for c in chunks], format="csr") if chunks else None
        if out is None:
            out = sp.csr_matrix((0, n_cols), dtype=dtype)
        return out.astype(dtype, copy=False)
    if not chunks:
        return np.zeros((0, n_cols), dtype=dtype)
    return np.vstack([c.toarray() if sp.issparse(c) else c for c in chunks]).astype(
        dtype, copy=False
    )


ANNOUNCED_BYTES = 50_000_000
"""A matrix file this large is announced before it is parsed (a few seconds and more)."""


def announce(path: Path, what: str) -> None:
    """Say that ``what`` (``path``) is being read, before a parse that takes a while (about
    40 s for 600 MB): for a file of :data:`ANNOUNCED_BYTES` or more."""
    size = Path(path).stat().st_size
    if size >= ANNOUNCED_BYTES:
        logger.info("reading %s %r (%.0f MB on disk)", what, str(path), size / 1e6)


# delimiters by name, as the command line's --sep and AutoGenome configs name them
DELIMITERS = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "space": " "}


def delimiter(sep: str | None) -> str | None:
    """``sep`` as one character: a name of :data:`DELIMITERS` (``"tab"``, ``"semicolon"``,
    any case; a typed ``"\\t"``) as its character; a ValueError for anything else that is
    not one character. None stays None (the reader decides)."""
    if sep is None:
        return None
    char = DELIMITERS.get(str(sep).lower(), sep)
    if not isinstance(char, str) or len(char) != 1:
        msg = f"sep={sep!r} is not one character nor one of {sorted(DELIMITERS)}."
        raise ValueError(msg)
    return char


def read_matrix(
    path: PathLike,
    *,
    sep: str | None = None,
    sparse: bool | Literal["auto"] = "auto",
    dtype=np.float32,
    what: str = "expression table",
    chunk_rows: int | None = None,
    header: bool | Literal["auto"] = True,
    index: bool | Literal["auto"] = True,
) -> Matrix:
    """Parse a delimited numeric matrix with row ids in the first column and a header line.

    Rows are read in chunks; chunks with fewer than :data:`SPARSE_DENSITY` non-zeros are kept as
    CSR so that memory stays near the size of the sparse result.
    """
    sep = delimiter(sep)
    path = check_exists(path, what)
    announce(path, what)
    with decoded(path, what):
        return _read_matrix(path, sep, sparse, dtype, what, chunk_rows, header, index)


def trailing_delimiter(path: PathLike, sep: str, what: str) -> str | None:
    """The message for a file whose every line ends with ``sep`` (an empty last column, as
    Excel writes), or None when some line does not."""
    seen = False
    for _, fields in iter_records(path, sep):  # streamed: stops at the first line without one
        if fields[0].startswith("#"):
            continue  # a comment line, whatever its commas
        if len(fields) < 2 or fields[-1].strip():
            return None
        seen = True
    if seen:
        return (
            f"{what} {where(path)}: every line ends with the delimiter {sep!r} (an empty last "
            "column); remove the trailing delimiter from each line."
        )
    return None


def _read_matrix(
    path: Path,
    sep: str | None,
    sparse: bool | Literal["auto"],
    dtype,
    what: str,
    chunk_rows: int | None,
    header: bool | Literal["auto"],
    index: bool | Literal["auto"],
) -> Matrix:
    layout = sniff_layout(path, sep, what, header=header, index=index)
    skipped = len(layout.annotation)
    n_val = layout.n_fields - int(layout.index) - skipped
    if chunk_rows is None:
        chunk_rows = max(16, CHUNK_CELLS // layout.n_fields)
    names = list(range(layout.n_fields))
    usecols = [0, *names[1 + skipped :]] if skipped else None
    types = defaultdict(lambda: dtype, {0: str} if layout.index else {})
    chunks: list = []
    ids: list[np.ndarray] = []
    n_unnamed = 0  # rows of genes without an id, beside an annotation's (cBioPortal's)
    try:
        reader = pd.read_csv(
            path,
            sep=layout.sep,
            header=None,
            names=names,
            usecols=usecols,
            skiprows=layout.skip,
            index_col=0 if layout.index else None,
            dtype=types,
            engine="c",
            compression=compression_of(path),
            chunksize=chunk_rows,
            skip_blank_lines=True,
            na_values=list(EXTRA_NA),
            keep_default_na=True,
        )
        with reader:
            for chunk in reader:
                if layout.annotation and chunk.index.isna().any():
                    unnamed = chunk.index.isna()
                    n_unnamed += int(unnamed.sum())
                    chunk = chunk[~unnamed]
                values = chunk.to_numpy(dtype=dtype, copy=False)
                if not np.isfinite(values).all() or chunk.index.isna().any():
                    raise ValueError("non-finite")
                ids.append(chunk.index.to_numpy(dtype=object) if layout.index else None)
                if sparse is False:
                    chunks.append(np.ascontiguousarray(values))
                elif np.count_nonzero(values) < SPARSE_DENSITY * values.size or sparse is True:
                    chunks.append(sp.csr_matrix(values))
                else:
                    chunks.append(np.ascontiguousarray(values))
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        trailing = trailing_delimiter(path, layout.sep, what)
        if trailing is not None:
            raise ValueError(trailing) from err
        locate_problem(path, layout, dtype, what)
        msg = f"{what} {where(path)}: could not be parsed: {err}"
        raise ValueError(msg) from err
    if n_unnamed:
        logger.warning(
            f"{what} {where(path)}: {n_unnamed} row{'s have' if n_unnamed > 1 else ' has'} "
            "no id in the first column (empty, or read as missing: NA, null), beside "
            f"{layout.annotation[0]!r} (cBioPortal lists genes without a symbol so): left out. "
            f"To keep them, give them ids in the first column (e.g. their {layout.annotation[0]})."
        )
    if layout.index:
        row_ids = np.concatenate(ids).astype(str) if ids else np.array([], dtype=str)
        row_ids = np.char.strip(row_ids)
    else:
        row_ids = np.arange(sum(c.shape[0] for c in chunks)).astype(str)
    X = _stack(chunks, n_val, sparse, dtype)
    return Matrix(row_ids, layout.col_ids, X, layout)


@dataclass
class Frame:
    """An annotation table and where it came from (for messages that name lines)."""

    frame: pd.DataFrame
    name: str  # for messages
    path: Path | None
    sep: str
    skip: int  # physical lines up to and including the header
    # the same table with every cell as its text (a file only): ids as written, "001" not 1
    text: pd.DataFrame | None = None
    # what records (``uns``) call it: the file as given, unquoted; None: ``name``
    source: str | None = None


# QIIME's id headers that start with '#' (a mapping file's '#SampleID', a feature table's
# '#OTU ID'): such a line is the header, not a comment
_HASH_ID_HEADER = re.compile(r"^#(sample|otu|feature)\s?id\s*($|[\t,;])", re.IGNORECASE)
# the id headers QIIME 2 reserves (besides '#SampleID' and the like): a table headed so is
# QIIME metadata
_QIIME_ID_NAMES = frozenset(
    {"sample-id", "sampleid", "sample id", "feature-id", "featureid", "feature id"}
)
# QIIME 2's directives right below the header ('#q2:types<TAB>categorical<TAB>numeric')
_DIRECTIVE = re.compile(r"^#q2:", re.IGNORECASE)


def _is_hash_header(path: Path, lines: list[str], i: int) -> bool:
    """Whether the ``#`` line ``i`` is QIIME's header (``#SampleID``, ``#OTU ID``): it starts
    so, and has as many fields as the first data line below it (a comment that begins with
    the words, ``#Sample ID, donor and plate``, has not)."""
    if not _HASH_ID_HEADER.match(lines[i]):
        return False
    below = next((ln for ln in lines[i + 1 :] if ln.strip() and not ln.startswith("#")), None)
    if below is None:
        return False
    sep = guess_sep(path, lines[i])

    def width(text: str) -> int:
        return len(next(csv.reader([text], delimiter=sep, quotechar='"')))

    return width(lines[i]) == width(below)


def read_frame(
    source: PathLike | pd.DataFrame,
    *,
    what: str,
    sep: str | None = None,
) -> Frame:
    """Read an annotation table (labels, clinical data); leading ``#`` lines are skipped.

    QIIME metadata is read as QIIME reads it: a ``#SampleID`` (or ``#OTU ID``) line as wide as
    the rows below it is the header; a ``#q2:types`` line below it sets which columns are
    categorical (read as text, ``1`` stays ``"1"``) and which numeric, and a ``#q2:missing``
    line which read the INSDC vocabulary (``not collected``, ...) as missing; ``#`` lines below
    its header are comments. GDC's ``'--`` and the BCR's ``[Not Available]``, ``[Unknown]``, ...
    count as missing. A DataFrame is copied, its index kept as a column when named or not of
    integers (ids set as the index); an unnamed index of integers is row numbers (a
    ``RangeIndex``, or what is left of one after a row filter such as
    ``clinical[clinical["project"] == "BRCA"]``) and is left out.
    """
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
        if frame.index.name is not None or not pd.api.types.is_integer_dtype(frame.index):
            frame = frame.reset_index()
        return Frame(frame, "(a DataFrame)", None, "", 0)
    path = check_exists(source, what)
    lines = _physical_lines(path, 200, what)
    head = 0
    # '#' lines and blank lines before the header (pandas skips the blank ones too)
    while head < len(lines) and (lines[head].startswith("#") or not lines[head].strip()):
        if lines[head].startswith("#") and _is_hash_header(path, lines, head):
            first = re.split(r"[\t,;]", lines[head])[0].strip()
            logger.info(
                f"{what} {where(path, head + 1)}: the '#' line is read as the header (QIIME's "
                f"{first!r})."
            )
            break
        head += 1
    if head >= len(lines) or not lines[head].strip():
        msg = f"{what} {where(path)}: the file is empty (no header line)."
        raise ValueError(msg)
    if sep is None:
        sep = guess_sep(path, lines[head])
        header = next(csv.reader([lines[head]], delimiter=sep, quotechar='"'))
        if looks_semicolon_separated(header, sep):  # one column is no table: ';' is meant
            sep = ";"
    directives = []
    while head + 1 + len(directives) < len(lines) and _DIRECTIVE.match(
        lines[head + 1 + len(directives)]
    ):
        directives.append(lines[head + 1 + len(directives)])
    skip = head + 1 + len(directives)  # physical lines up to the first data row
    skiprows = [i for i in range(skip) if i != head]
    read = {"sep": sep, "skiprows": skiprows, "engine": "c", "compression": compression_of(path)}
    read.update(na_values=list(EXTRA_NA), low_memory=False)
    try:
        frame = pd.read_csv(path, **read)
        text = pd.read_csv(path, dtype=str, **read)
    except UnicodeDecodeError as err:
        raise not_utf8(path, what, err) from err
    except pd.errors.ParserError as err:
        msg = f"{what} {where(path)}: {err}"
        raise ValueError(msg) from err
    last = str(frame.columns[-1]) if frame.shape[1] > 1 else ""
    if last.startswith("Unnamed:") and frame.iloc[:, -1].isna().all():
        # 'id,label,' lines (Excel): the trailing delimiter makes an empty column, not a label
        logger.info(
            f"{what} {where(path)}: its last column is unnamed and empty (a trailing "
            f"delimiter {sep!r}); dropped."
        )
        frame, text = frame.iloc[:, :-1].copy(), text.iloc[:, :-1].copy()
    # in QIIME metadata '#' lines below the header are comments too (QIIME puts them anywhere,
    # and its ids never start with '#'); elsewhere such a cell may be an id or a colour
    qiime = (
        lines[head].startswith("#")
        or bool(directives)
        or str(frame.columns[0]).strip().lower() in _QIIME_ID_NAMES
    )
    first = text.iloc[:, 0].astype(str).str.lstrip()
    comment = (text.iloc[:, 0].notna() & first.str.startswith("#")).to_numpy() & qiime
    if comment.any():
        logger.info(
            f"{what} {where(path)}: {int(comment.sum())} '#' line(s) below the header skipped"
        )
        frame = frame[~comment].reset_index(drop=True)
        text = text[~comment].reset_index(drop=True)
        if frame.shape[1] > 1:  # the columns as they read without the comments
            frame = frame.apply(_reinfer)
    info = Frame(frame, repr(str(path)), path, sep, skip, text, str(path))
    given = {}  # directive -> (its line, its fields after the first)
    for i, line in enumerate(directives):
        fields = next(csv.reader([line], delimiter=sep, quotechar='"'))
        given[fields[0].strip().lower()] = (head + 2 + i, fields[1:])
    if "#q2:missing" in given:  # before the types: 'not collected' is no number
        _apply_q2_missing(info, given["#q2:missing"][1])
    if "#q2:types" in given:
        line, types = given["#q2:types"]
        _apply_q2_types(info, types, what, line)
    return info


def _reinfer(column: pd.Series) -> pd.Series:
    """A column of text read as numbers where every value is one (as pandas reads a file's
    column), once the comment lines that held words are gone."""
    if column.dtype != object and not isinstance(column.dtype, pd.StringDtype):  # pandas 3: str
        return column
    numbers = pd.to_numeric(column, errors="coerce")
    return numbers if (numbers.notna() == column.notna()).all() else column


# QIIME 2's INSDC:missing vocabulary (read as missing where a column's #q2:missing says so)
_INSDC_MISSING = frozenset(
    {"not applicable", "missing", "not collected", "not provided", "restricted access"}
)


def _apply_q2_missing(info: Frame, schemes: list[str]) -> None:
    """Cells of the INSDC missing-value vocabulary (``not collected``, ``missing: control
    sample``, ...) become missing in the columns whose ``#q2:missing`` scheme is
    ``INSDC:missing``, as QIIME 2 reads them."""
    frame, text = info.frame, info.text
    for col, scheme in zip(frame.columns[1:], schemes, strict=False):
        if scheme.strip().lower() != "insdc:missing":
            continue
        words = text[col].str.strip().str.lower()
        gone = words.isin(_INSDC_MISSING) | words.str.startswith("missing:", na=False)
        if gone.any():
            text.loc[gone, col] = np.nan
            kept = text[col].dropna().str.strip()
            numbers = pd.to_numeric(kept, errors="coerce")
            if numbers.notna().all():  # a column of numbers once the words are gone
                frame[col] = pd.to_numeric(text[col].str.strip(), errors="coerce")
            else:
                frame[col] = frame[col].where(~gone.to_numpy(), np.nan)


def _apply_q2_types(info: Frame, types: list[str], what: str, line: int) -> None:
    """Read the columns of a ``#q2:types`` line as declared: categorical as text, numeric as
    numbers (a cell that is no number is an error naming its line)."""
    frame, text = info.frame, info.text
    for col, kind in zip(frame.columns[1:], types, strict=False):  # the id column has no type
        kind = kind.strip().lower()
        if kind == "categorical":
            frame[col] = text[col].str.strip().astype(object)
        elif kind == "numeric":
            values = pd.to_numeric(text[col].str.strip(), errors="coerce")
            bad = values.isna() & text[col].notna() & (text[col].str.strip() != "")
            if bad.any():
                cell = str(text[col][bad].iloc[0])
                msg = (
                    f"{what} {where(info.path)}: column {col!r} is declared numeric by the "
                    f"#q2:types line (line {line}) but holds {cell!r} at "
                    f"{rows_where(info, str(col), cell.strip(), limit=1)}."
                )
                raise ValueError(msg)
            frame[col] = values
        elif kind:
            msg = (
                f"{what} {where(info.path, line)}: the #q2:types line gives column {col!r} the "
                f"type {kind!r}; QIIME knows 'categorical' and 'numeric'."
            )
            raise ValueError(msg)


def rows_where(info: Frame, column: str, value: str, *, limit: int = 10) -> str:
    """``lines 4 and 9`` of ``info``'s file (``rows 2 and 7`` of a DataFrame) where ``column`` is
    ``value`` (``""``: empty or missing), the first ``limit`` of them."""
    if info.path is None:
        cells = info.frame[column].map(lambda v: "" if pd.isna(v) else str(v).strip())
        hits = [str(i) for i, v in enumerate(cells) if v == value]
        word = "row"
    else:
        col = list(info.frame.columns).index(column)
        missing = NA_TOKENS if value == "" else frozenset((value,))
        hits = [
            str(line)
            for line, fields in iter_records(info.path, info.sep)
            if line > info.skip and (fields[col].strip() if len(fields) > col else "") in missing
        ]
        word = "line"
    more = f" ({len(hits)} in all)" if len(hits) > limit else ""
    hits = hits[:limit]
    return (word + "s " if len(hits) > 1 else word + " ") + " and ".join(hits) + more
