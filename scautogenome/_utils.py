"""Small torch-free helpers shared by the layers that work on AnnData (tools, io, plotting)."""

from __future__ import annotations

import hashlib
import os
import re
import textwrap
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd


def json_default(value):
    """``json.dumps(..., default=json_default)``: numpy scalars and arrays as Python numbers and
    lists (an architecture or training parameters given as ``np.int64(64)``)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    msg = f"Object of type {type(value).__name__} is not JSON serializable"
    raise TypeError(msg)


def plain(value):
    """``value`` with numpy scalars and arrays as Python numbers and lists (recursively, into
    dicts, lists and tuples, which become lists): a new object, the user's left as it is. For
    what is checked as Python's types or recorded (a config, an architecture)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def resolve_basis(adata, basis: str) -> str:
    """``basis`` as an ``obsm`` key, scanpy's way: ``"sag_resvae"`` names ``obsm['X_sag_resvae']``
    when there is no ``obsm['sag_resvae']`` (``basis`` unchanged when neither exists); a
    TypeError for a ``basis`` that is no str (the array itself)."""
    check_key("basis", basis, "a key of adata.obsm")
    if basis not in adata.obsm and f"X_{basis}" in adata.obsm:
        return f"X_{basis}"
    return basis


def h5ad_safe(value):
    """Recursively turn ``value`` into something ``write_h5ad`` stores and reads back.

    None is dropped from dicts (a key left out reads back alike with any anndata; 0.12
    writes None, but that need not hold for every release the package allows), tuples
    become arrays, numpy scalars become Python scalars, pandas Index/Series become arrays.
    """
    if isinstance(value, dict):
        return {str(k): h5ad_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, (pd.Index, pd.Series)):
        return np.asarray(value)
    if isinstance(value, (list, tuple)):
        arr = np.asarray(value)
        if arr.dtype == object:
            arr = arr.astype(str)
        return arr
    if isinstance(value, np.generic):
        return value.item()
    return value


def digest(values) -> str:
    """A short SHA-1 digest of an array or a sequence of names (shape and order matter)."""
    arr = np.asarray(values)
    h = hashlib.sha1(str(arr.shape).encode())
    if arr.dtype.kind in "OUS":
        h.update("\x1f".join(map(str, arr.ravel().tolist())).encode())
    else:
        h.update(str(arr.dtype).encode() + np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


def row_keys(latent) -> np.ndarray:
    """A 64-bit key of each row of ``latent`` from the bits of its float32 values (equal rows,
    equal keys; the rows of a subset keep theirs, which a float product would not promise)."""
    rows = np.ascontiguousarray(np.asarray(latent, dtype=np.float32))
    bits = rows.view(np.uint32).astype(np.uint64)
    weights = np.arange(1, bits.shape[1] + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):  # arithmetic modulo 2**64, as intended
        keys = (bits * (weights | np.uint64(1))).sum(axis=1, dtype=np.uint64)
        keys ^= keys >> np.uint64(31)
    return keys


def rows_among(latent, stored: dict) -> bool:
    """Whether every row of ``latent`` is one of the rows that coordinates of
    :func:`~scautogenome.pl.embedding` were computed from (``stored``: their parameters, whose
    ``sag_row_keys`` hold the rows' keys; absent in coordinates of an earlier version, or where
    merging AnnData objects of other cells dropped them)."""
    keys = np.asarray(stored.get("sag_row_keys", []), dtype=np.uint64)
    if not len(keys):
        return False
    mine = row_keys(latent)
    return bool(np.all(keys[np.searchsorted(keys, mine).clip(max=len(keys) - 1)] == mine))


def matrix_digest(X, rows, chunk: int = 2048) -> str:
    """A short SHA-1 digest of the values of ``X[rows]`` (CSR or dense), read ``chunk`` rows
    at a time: the matrix is never densified as a whole.

    Each chunk is hashed as a canonical CSR of float64 values (duplicate entries summed,
    explicit zeros dropped, column indices sorted), so the digest depends on the values alone:
    not on sparse or dense storage, the dtype or the order of stored entries. (Integers above
    2**53 that differ by less than float64's spacing there hash alike.)
    """
    from scipy import sparse

    rows = np.asarray(rows, dtype=np.int64)
    # entries per row, their columns, their values: three streams, so chunking does not matter
    parts = [hashlib.sha1() for _ in range(3)]
    for start in range(0, len(rows), chunk):
        block = X[rows[start : start + chunk]]
        block = sparse.csr_matrix(block, dtype=np.float64)  # a copy, safe to canonicalise
        block.sum_duplicates()  # sorts the indices too
        block.eliminate_zeros()
        for part, arr in zip(parts, (np.diff(block.indptr), block.indices, block.data)):
            dtype = np.float64 if arr is block.data else np.int64
            part.update(np.ascontiguousarray(arr, dtype=dtype).tobytes())
    h = hashlib.sha1(f"{len(rows)}x{X.shape[1]}".encode())
    for part in parts:
        h.update(part.digest())
    return h.hexdigest()[:16]


def write_atomically(path: str | Path, write) -> Path:
    """Call ``write(tmp)`` on a temporary file in ``path``'s folder, then rename it onto
    ``path``: a failed or interrupted write never leaves a broken ``path``, and a file being
    replaced stays whole until the new one is. A symlinked ``path`` is written through to its
    target, whose permissions the new file keeps. Returns the path written."""
    with replaced_together(path) as (tmp,):
        write(tmp)
    return Path(os.path.realpath(path))


@contextmanager
def replaced_together(*paths: str | Path):
    """Temporary files beside each of ``paths`` (yielded in their order) for the block to
    write, renamed onto ``paths`` once the block ends without an error, all or none: files
    that belong together (a model's weights and the JSON that records their digest) are all
    written before any old one is replaced, and each old file is kept under a backup name (a
    hard link, or a copy where links are refused) until all are renamed; an error or an
    interruption (KeyboardInterrupt) between the renames puts the old files back and removes
    the new ones that had no old one, so that the old set stays whole (a second interruption
    while they are put back leaves the backups, ``.sag-*.bak`` beside their files). A
    symlinked path is written through to its target, whose permissions the new file keeps;
    the temporary files are removed whatever happens. Where hard links are refused, the
    backups need as much free space as the old files."""
    import secrets
    import shutil

    targets = [Path(os.path.realpath(p)) for p in paths]
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
    tmps = [t.with_name(f".sag-{os.getpid()}-{secrets.token_hex(4)}.tmp") for t in targets]
    # one rename is all-or-nothing by itself; several are made so by backups of the old files
    backups = [tmp.with_suffix(".bak") for tmp in tmps] if len(targets) > 1 else []
    try:
        yield tmps
        existed = [target.exists() for target in targets]
        for tmp, target, old in zip(tmps, targets, existed):
            if old:
                shutil.copymode(target, tmp)
        for target, backup, old in zip(targets, backups, existed):
            if old:
                try:
                    os.link(target, backup)  # instant, copies nothing
                except OSError:  # a file system without hard links
                    shutil.copy2(target, backup)
        try:
            for tmp, target in zip(tmps, targets):
                os.replace(tmp, target)
        except BaseException:  # KeyboardInterrupt too: the old files back, none of the new
            restored = False
            try:
                for target, backup, old in zip(targets, backups, existed):
                    if old:
                        os.replace(backup, target)
                    else:
                        target.unlink(missing_ok=True)
                restored = True
            finally:
                if not restored:  # a second interruption: the old files not back keep theirs
                    backups = []
            raise
    finally:
        for file in tmps + backups:
            file.unlink(missing_ok=True)


def storage_shown(storage: str | None) -> str | None:
    """An Optuna storage URL as it may be written into AnnData or a log: its password, if any,
    replaced by ``***`` (SQLAlchemy's own rendering; a ``password=`` of the query too, which
    psycopg2 and PyMySQL take), so that a saved h5ad does not carry the database's
    credentials; a URL without one, or a string SQLAlchemy cannot parse, as it is (one
    whose port is no number with its password masked all the same)."""
    if storage is None:
        return None
    if not isinstance(storage, str):  # a storage object of the user's: its kind, not its id
        return f"{type(storage).__module__.split('.')[0]}.{type(storage).__name__} (an object)"
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(storage)
    except ArgumentError:
        return storage
    except ValueError:  # a URL whose port is no number ("host:5432x"): its password by hand
        return re.sub(r"(://[^:/@]*:)[^/]*@", r"\1***@", storage, count=1)
    # a password the driver takes from the query (psycopg2's, PyMySQL's ?password=) as well
    hidden = {k: "***" for k in url.query if k.lower() in ("password", "passwd")}
    if url.password is None and not hidden:
        return storage
    # re-rendered only to hide a password: SQLAlchemy's rendering quotes other parts
    # (sqlite:///:memory: as sqlite:///%3Amemory%3A), which would then name another database
    return url.update_query_dict(hidden).render_as_string(hide_password=True)


def call_params(**kwargs) -> dict:
    """The arguments of a tool call as an h5ad-safe dict (None -> "None" so keys persist)."""
    out = {}
    for k, v in kwargs.items():
        if v is None:
            out[k] = "None"
        elif isinstance(v, np.generic):  # numpy scalars (np.int64(5)) stay numbers
            out[k] = v.item()
        elif isinstance(v, (bool, int, float, str)):
            out[k] = v
        else:
            out[k] = str(v)
    return out


_KNN: dict[str, float] = {"failed_from": float("inf")}
"""The fewest cells on which scanpy's approximate kNN has failed in this process; it fails
the same way on as many cells or more (its path depends on the number of cells)."""

APPROXIMATE_KNN_FROM = 8192
"""From this many cells on, ``scanpy.pp.neighbors`` (1.11) computes an approximate kNN
(pynndescent) instead of the exact one, with the euclidean metric (from 4,096 with
another)."""


def _approximate_knn_fails() -> bool:
    """Whether scanpy's approximate kNN path is known to fail with the installed scanpy and
    scipy, before any work: scanpy 1.11 counts the neighbors of pynndescent's result with
    ``getnnz``, which scipy >= 1.15's ``csr_array`` lacks. Probed once a process on a 3 x 3
    matrix (scanpy's private helper; where it is not there, the path is taken as working)."""
    if "probe" not in _KNN:
        from scipy import sparse

        try:
            from scanpy.neighbors._common import _ind_dist_shortcut

            _ind_dist_shortcut(sparse.csr_array(np.eye(3, dtype=np.float32)))
            fails = False
        except AttributeError as e:
            fails = "getnnz" in str(e)
        except Exception:  # another scanpy: its path is tried, as before
            fails = False
        _KNN["probe"] = float(fails)
    return bool(_KNN["probe"])


def tsne(adata, noun: str = "cells", **kwargs) -> None:
    """``scanpy.tl.tsne`` at scanpy's perplexity of 30, or at ``max(1, (n - 1) / 3)`` (with a
    warning) on 30 cells or fewer, where scikit-learn refuses 30 (it needs perplexity < n);
    ``(n - 1) / 3`` is the largest perplexity the usual rule (Rtsne's ``3 * perplexity < n - 1``)
    allows. A ``perplexity=`` given is used as it is. ``noun``: what the rows are, for the
    log line it starts with."""
    import scanpy as sc

    from ._logging import scanpy_quiet, still_running
    from ._settings import logger

    if "perplexity" not in kwargs and adata.n_obs <= 30:
        kwargs["perplexity"] = max(1.0, (adata.n_obs - 1) / 3)
        logger.warning(
            "%d %s: t-SNE with perplexity %.3g instead of 30",
            adata.n_obs,
            noun,
            kwargs["perplexity"],
        )
    logger.info("    computing a t-SNE of %s %s", f"{adata.n_obs:,}", noun)
    rep = kwargs.get("use_rep")
    import scipy.sparse as sp

    if rep is not None and (np.shape(adata.obsm[rep])[1] == 1 or sp.issparse(adata.obsm[rep])):
        # scikit-learn starts a t-SNE from a PCA of 2 components, which 1 dimension lacks: a
        # zero column beside it keeps every distance; a sparse basis is read as its dense
        # values (scikit-learn < 1.8 refuses a PCA start of sparse input); the layout and its
        # record are copied
        import anndata as ad

        one = adata.obsm[rep]
        one = np.asarray(one.toarray() if sp.issparse(one) else one, dtype=np.float64)
        padded = ad.AnnData(obs=pd.DataFrame(index=adata.obs_names.copy()))
        padded.obsm[rep] = np.hstack([one, np.zeros_like(one)]) if one.shape[1] == 1 else one
        with still_running("t-SNE"), scanpy_quiet():
            sc.tl.tsne(padded, **kwargs)
        for key, value in padded.obsm.items():
            if key != rep:
                adata.obsm[key] = value
        adata.uns.update(padded.uns)
        return
    with still_running("t-SNE"), scanpy_quiet():
        sc.tl.tsne(adata, **kwargs)


def neighbors(adata, noun: str = "cells", **kwargs) -> None:
    """``scanpy.pp.neighbors``, with exact kNN (``transformer="sklearn"``) where scanpy 1.11's
    approximate (pynndescent) path fails on scipy >= 1.15 ``csr_array`` results ("'csr_array'
    object has no attribute 'getnnz'", from :data:`APPROXIMATE_KNN_FROM` cells on): a known
    failing pair of versions is told before any work (:func:`_approximate_knn_fails`) and
    goes to exact kNN at once, without computing the approximate one only to see it fail;
    another failure of that kind is warned once and later calls on at least as many cells go
    straight to exact kNN. Smaller data takes scanpy's default path. ``noun``: what the rows
    are, for the log line it starts with."""
    import scanpy as sc

    from ._logging import scanpy_quiet, still_running
    from ._settings import logger

    approximate_from = (
        APPROXIMATE_KNN_FROM if kwargs.get("metric", "euclidean") == "euclidean" else 4096
    )
    exact = adata.n_obs >= _KNN["failed_from"] or (
        adata.n_obs >= approximate_from and _approximate_knn_fails()
    )
    logger.info(
        "    computing the kNN graph of %s %s%s",
        f"{adata.n_obs:,}",
        noun,
        " (exact: scanpy's approximate kNN fails with this scipy)" if exact else "",
    )
    if not exact:
        try:
            with still_running("kNN graph"), scanpy_quiet():
                sc.pp.neighbors(adata, **kwargs)
            return
        except AttributeError as e:
            if "getnnz" not in str(e):
                raise
            if _KNN["failed_from"] == float("inf"):
                logger.warning(
                    "approximate kNN failed (%s); using exact kNN instead, here and for "
                    "data of this size or larger",
                    e,
                )
            _KNN["failed_from"] = adata.n_obs
    with still_running("kNN graph"), scanpy_quiet():
        sc.pp.neighbors(adata, transformer="sklearn", **kwargs)


def is_json_text(value) -> bool:
    """Whether ``value`` is JSON text of an object (a string that starts with ``{``, as the
    records' ``config`` and ``architecture`` are), which no file or folder name is here."""
    return isinstance(value, str) and value.lstrip().startswith("{")


def check_creatable(path: str | Path, what: str) -> None:
    """Refuse a ``path`` that cannot be created or written: the nearest part of it that
    exists must be a directory this process may write into. ``what`` names it as the user
    gave it (``"model_dir='runs/x'"``, ``"--out 'a.h5ad'"``), for the message. Used before any
    work starts."""
    existing = Path(path)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        msg = f"{what} cannot be created: {str(existing)!r} is a file."
        raise NotADirectoryError(msg)
    if not os.access(existing, os.W_OK | os.X_OK):
        msg = f"{what} cannot be written: no write permission on {str(existing)!r}."
        raise PermissionError(msg)
    try:  # for real: os.access passes where no folder can be made (/proc, a read-only mount)
        import tempfile

        os.rmdir(tempfile.mkdtemp(prefix=".sag-check-", dir=existing))
    except OSError as e:
        msg = f"{what} cannot be created in {str(existing)!r}: {e.strerror or e}."
        raise PermissionError(msg) from None


def check_int_at_least(name: str, value, least: int) -> int:
    """``value`` as a Python int: a TypeError for anything but an integer (bool included), a
    ValueError below ``least``; both name the argument ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        msg = f"{name}={value!r} must be an integer of at least {least}."
        raise TypeError(msg)
    if value < least:
        msg = f"{name}={value!r} must be at least {least}."
        raise ValueError(msg)
    return int(value)


def check_positive_int(name: str, value, what: str = "") -> int:
    """``value`` as a Python int of at least 1: a TypeError for anything but an integer (bool
    included), a ValueError below 1; both say ``"{name}={value!r} must be a positive
    integer{what}."``."""
    msg = f"{name}={value!r} must be a positive integer{what}."
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(msg)
    if value < 1:
        raise ValueError(msg)
    return int(value)


def check_bool(name: str, value) -> bool:
    """``value`` as a Python bool: a TypeError naming the argument ``name`` for anything but
    True or False (numpy's included), so that a string such as ``"no"`` is not read as True."""
    if not isinstance(value, (bool, np.bool_)):
        msg = f"{name}={value!r} must be True or False."
        raise TypeError(msg)
    return bool(value)


def check_number(name: str, value, *, positive: bool = False, what: str = "") -> float:
    """``value`` as a Python float: a TypeError for anything but a real number (bool
    included); a ValueError for NaN and negative values, with ``positive`` for 0 too
    (infinity is allowed then: an endless time budget), without it for infinity. Each
    names the argument ``name``; ``what`` follows "a positive number" in the message ("of
    seconds")."""
    kind = f"a positive number{what}" if positive else "a finite number, 0 or more"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        msg = f"{name}={value!r} must be {kind}."
        raise TypeError(msg)
    number = float(value)
    if positive and not number > 0:  # NaN too
        msg = f"{name}={value!r} must be {kind}."
        raise ValueError(msg)
    if not (np.isfinite(number) or positive):
        msg = f"{name}={value!r} must be a finite number."
        raise ValueError(msg)
    if number < 0:
        msg = f"{name}={value!r} must not be negative."
        raise ValueError(msg)
    return number


def counted(n: int, noun: str, one: str | None = None) -> str:
    """``n`` and the plural ``noun``, in the singular for 1: ``"1 trial"``, ``"0 trials"``,
    ``"1,200 cells"`` (``one``: the singular where it is not ``noun`` without its last letter,
    ``"class"``)."""
    return f"{n:,} {noun if n != 1 else (one or noun[:-1])}"


def doc_params(**texts: str):
    """A decorator putting each of ``texts`` in place of the line ``{name}`` of the docstring
    of a function or class (at that line's indentation): parameters that several of them
    share (every plot's, every query method's, every network's) are described once."""

    def put(func):
        if func.__doc__ is None:  # python -OO strips docstrings
            return func
        lines = func.__doc__.splitlines()
        for name, text in texts.items():
            found = [i for i, line in enumerate(lines) if line.strip() == f"{{{name}}}"]
            if len(found) != 1:  # a docstring edited without its placeholder line
                msg = (
                    f"the docstring of {func.__qualname__} has {len(found)} lines "
                    f"'{{{name}}}'; doc_params puts its text in place of one."
                )
                raise ValueError(msg)
            (i,) = found
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
            lines[i] = textwrap.indent(text, indent)
        func.__doc__ = "\n".join(lines)
        return func

    return put


def shown_values(values, limit: int = 10, total: str = "in all") -> str:
    """Values for a message, as their reprs joined by commas: the first ``limit`` of many,
    then ``", ... (N {total})"``, so that a column of thousands of names stays readable."""
    values = list(values)
    text = ", ".join(repr(v) for v in values[:limit])
    return text + (f", ... ({len(values)} {total})" if len(values) > limit else "")


def layer_names(adata) -> list[str]:
    """The names of ``adata.layers``: anndata 0.13 lists ``X`` there too, under the key None,
    which is no layer to name or to read with ``layer=``."""
    return [k for k in adata.layers if k is not None]


def columns_listed(columns, missing, noun: str = "columns") -> str:
    """The columns of a table for an error naming ``missing`` ones: the names closest to
    them, then the first 20 columns of a wide table (a clinical table holds hundreds).
    ``noun``: what they are called in the message (``"layers"`` for the keys of
    ``adata.layers``)."""
    import difflib

    columns = [str(c) for c in columns]
    if not columns:
        return f"there are no {noun}"
    close = [c for name in missing for c in difflib.get_close_matches(str(name), columns, n=3)]
    near = f"closest: {shown_values(dict.fromkeys(close))}; " if close else ""
    return f"{near}available {noun}: {shown_values(columns, limit=20)}"


def percent_down(fraction: float) -> str:
    """``fraction`` as a percentage of one decimal, rounded down: 1,999 of 2,000 genes read
    99.9%, not 100.0% (what is not whole is never said to be)."""
    fraction = float(fraction)
    if not np.isfinite(fraction):
        return "?%"
    return f"{np.floor(1000 * fraction) / 10:.1f}%"


def short_repr(value, limit: int = 60) -> str:
    """``repr(value)`` for a message, kept short: an array, a Series, a frame or a sparse matrix
    is named by its type and length or shape (its repr is a page), anything else cut at
    ``limit`` characters."""
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and len(shape) >= 1:  # not a numpy scalar (shape ())
        size = f"length {shape[0]}" if len(shape) == 1 else f"shape {shape}"
        return f"<{type(value).__name__} of {size}>"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_key(name: str, value, what: str) -> str:
    """``value``, where it is a str: a TypeError naming the argument ``name`` otherwise (a
    list, a column's values), before pandas or anndata fail on it less clearly; ``what`` says
    what it names ("one column of adata.obs")."""
    if not isinstance(value, str):
        msg = (
            f"{name}={short_repr(value)} must be a str naming {what}, not a {type(value).__name__}."
        )
        raise TypeError(msg)
    return value


def is_one_of(value, choices) -> bool:
    """Whether ``value`` is one of ``choices``: False for an array, a list or any other
    collection, which is no single choice (``value in choices`` raised numpy's "truth value
    of an array is ambiguous", or "unhashable type", naming no argument)."""
    if isinstance(value, str):
        return value in choices
    if hasattr(value, "__len__") or getattr(value, "ndim", 0):  # a collection, an array
        return False
    try:
        return value in choices
    except (TypeError, ValueError):
        return False


def recorded_path(path) -> str:
    """``path`` as text an h5ad, JSON or an Optuna storage can hold: itself, or where its bytes
    are not UTF-8 (a Latin-1 name; any non-ASCII name under ``PYTHONUTF8=0`` in the C locale,
    whose characters Python keeps as surrogates) those bytes escaped (``run\\xe9``), as
    ``ls`` shows them. A record of where something is, which h5py, json and SQLAlchemy
    cannot encode otherwise; the files themselves are named as given."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    return text


def check_path(name: str, value, what: str):
    """``value``, where it is a str or an ``os.PathLike`` (a Path): a TypeError naming the
    argument ``name`` otherwise, before pathlib fails on it with a message that names no
    argument, and a ValueError for an empty (or blank) str, which pathlib reads as the working
    folder; ``what`` says what it names ("the .html file to write")."""
    if not isinstance(value, (str, os.PathLike)):
        msg = (
            f"{name}={short_repr(value)} must be a str or Path naming {what}, not a "
            f"{type(value).__name__}."
        )
        raise TypeError(msg)
    if isinstance(value, str) and not value.strip():  # pathlib reads it as the working folder
        msg = f"{name}={value!r} is an empty path; give {what}."
        raise ValueError(msg)
    return value


RECORD_KEYS = {
    "classify": "a key of adata.uns (the key_added of sag.tl.classify)",
    "classify or embed": "a key of adata.uns (the key_added of sag.tl.classify or embed)",
    "explain": "a key of adata.uns and adata.varm (the key_added of sag.tl.explain)",
}
"""What the ``key`` of a reader of a tool's record names, by the tool(s) that write it."""


def check_record_reader(adata, key, tool: str) -> None:
    """The first checks of a reader of ``tool``'s record (a plot, :mod:`scautogenome.get`):
    ``adata`` an AnnData (:func:`check_anndata`) and ``key`` a str (:data:`RECORD_KEYS`)."""
    check_anndata(adata)
    check_key("key", key, RECORD_KEYS[tool])


def check_anndata(adata) -> None:
    """A TypeError for an ``adata`` that is not an AnnData, before any attribute of it is read:
    the first check of every tool (:func:`~scautogenome.data._checks.check_adata`) and of the
    readers of their records (plots, :mod:`scautogenome.get`, the report)."""
    from anndata import AnnData

    if not isinstance(adata, AnnData):
        msg = f"Expected an AnnData, got {type(adata).__name__}."
        if type(adata).__name__ == "MuData":
            msg = msg[:-1] + "; pass one modality, e.g. mdata['rna']."
        raise TypeError(msg)
    if not isinstance(adata.obs, pd.DataFrame):  # anndata.experimental.read_lazy's Dataset2D
        msg = (
            f"adata was read lazily (its obs is a {type(adata.obs).__name__}, not a pandas "
            "DataFrame, as anndata.experimental.read_lazy gives); sag reads the whole matrix "
            "anyway: pass adata = adata.to_memory()."
        )
        raise TypeError(msg)


def check_obs_column(adata, argument: str, key) -> str:
    """``key``, where it names one column of ``adata.obs``: a TypeError for a key that is no
    str, a KeyError naming the closest columns for one that ``adata.obs`` lacks, a ValueError
    for a name two columns have (``pd.concat`` of tables that share one; anndata allows it)."""
    check_key(argument, key, "one column of adata.obs")
    if key not in adata.obs.columns:
        msg = (
            f"{argument}={key!r} is not a column of adata.obs; "
            f"{columns_listed(adata.obs.columns, [key])}."
        )
        raise KeyError(msg)
    check_one_obs_column(adata, argument, key)
    return key


def check_one_obs_column(adata, argument: str | None, key) -> None:
    """A ValueError where ``adata.obs`` has two or more columns named ``key`` (reading one
    gives a table, which failed deep inside with a message that named neither). ``argument``:
    the argument that named it, None for a column a tool reads of its own (a run's split,
    labels or predictions)."""
    n = int((adata.obs.columns == key).sum())
    if n > 1:
        what = f"adata.obs has {n} columns named {key!r}"
        if argument:
            what = f"{argument}={key!r}: adata.obs has {n} columns of that name"
        msg = (
            f"{what} (a pd.concat of tables that share it?); keep one, e.g. "
            "adata.obs = adata.obs.loc[:, ~adata.obs.columns.duplicated()]."
        )
        raise ValueError(msg)


def check_obs_columns_once(adata, *keys) -> None:
    """:func:`check_one_obs_column` of each of ``keys`` that ``adata.obs`` has (None and
    missing ones skipped): the columns a tool reads of its own."""
    for key in keys:
        if isinstance(key, str) and key in adata.obs.columns:
            check_one_obs_column(adata, None, key)


def missing_key(where: str, key: str, how: str) -> KeyError:
    """The error of a reader (a plot, :mod:`scautogenome.get`) whose record is not there."""
    msg = f"{where}[{key!r}] not found; run {how} first (or pass key= the key_added you used)."
    return KeyError(msg)


def check_gene_symbols(adata, gene_symbols: str | None) -> None:
    """A KeyError, for a reader labelling genes by an ``adata.var`` column (a plot,
    :mod:`scautogenome.get`), when ``gene_symbols`` is not one."""
    if gene_symbols is None:
        return
    check_key("gene_symbols", gene_symbols, "a column of adata.var (or None: var_names)")
    if gene_symbols not in adata.var.columns:
        msg = (
            f"gene_symbols={gene_symbols!r} is not a column of adata.var; "
            f"{columns_listed(adata.var.columns, [gene_symbols])}."
        )
        raise KeyError(msg)


def classify_run_record(
    adata, key: str, needed: str, how: str = "sag.tl.classify(adata, labels_key)"
) -> dict:
    """The :func:`~scautogenome.tl.classify` record under ``key`` for a reader that needs its
    entry ``needed`` (``"metrics"``, ``"trials"``, ...): a KeyError naming what is there
    instead (a prediction's record, which has no test metrics or search) and the call that
    makes it; of a run's record (:func:`is_run_record`) that lacks what the reader reads, or
    holds it of another kind, the error of :func:`run_record_damage`."""
    if key not in adata.uns:
        raise missing_key("adata.uns", key, how)
    record = adata.uns[key]
    # an embed run's whole record lacks what classify alone writes: "holds no classify run"
    # below says so, unless it holds the entry (its search's trials)
    if is_run_record(record) and (needed in record or not is_embed_record(record)):
        damage = run_record_damage(adata, key, needed, how)
        if damage is not None:
            raise damage
    if not isinstance(record, dict) or needed not in record:
        what = (
            "the record of sag.tl.predict (predictions have no test metrics or search)"
            if isinstance(record, dict) and "predict_params" in record
            else "no classify run"
        )
        msg = (
            f"adata.uns[{key!r}] holds {what}, so no {needed!r}; run {how} first (or pass "
            "key= the key_added you used)."
        )
        raise KeyError(msg)
    return record


_FIGURES = {
    "classification": ("accuracy", "macro_f1", "balanced_accuracy", "n"),
    "regression": ("r2", "rmse", "mae", "pearson", "spearman", "n"),
}
_PER_CLASS = ("precision", "recall", "f1", "support")

_READS: dict[str | None, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # entry a reader needs -> (the entries it cannot do without, those it reads where there)
    "metrics": (("metrics", "classes"), ("task",)),
    "confusion": (("confusion", "classes"), ("metrics", "task")),
    "trials": (("trials",), ("params", "best")),
    "params": (("params",), ()),
    # the report: the figures and classes; the rest (search, architecture, ...) where there
    None: (
        ("metrics", "classes"),
        (
            "task",
            "params",
            "best",
            "confusion",
            "trials",
            "architecture",
            "train_params",
            "dropped_classes",
            "versions",
        ),
    ),
}


def is_embed_record(record) -> bool:
    """Whether ``record`` is what :func:`~scautogenome.tl.embed` writes into ``uns``."""
    return (
        isinstance(record, dict)
        and isinstance(record.get("params"), dict)
        and "n_latent" in record["params"]
        and "likelihood" in record["params"]
    )


_RUN_ENTRIES = ("architecture", "train_params", "search_seconds", "config")
"""Entries of the record of a classify or embed run (a search's) that no other record has:
one of them left marks a part of one, as anndata.concat(uns_merge="same") keeps it."""


def is_run_record(record) -> bool:
    """Whether ``record`` is (or is a part of) the record of a classify or embed run, rather
    than another dict (a prediction's record, the user's)."""
    if not isinstance(record, dict):
        return False
    if "predict_params" in record and "architecture" not in record:  # a prediction's alone
        return False
    return any(entry in record for entry in _RUN_ENTRIES)


def _json_dict_problem(value) -> str | None:
    import json

    if not isinstance(value, str):
        return f"is a {type(value).__name__} ({short_repr(value)}), not JSON text"
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return f"is not JSON text ({short_repr(value)})"
    return None if isinstance(parsed, dict) else f"is JSON of a {type(parsed).__name__}"


def _list_problem(value, n: int | None = None) -> str | None:
    if isinstance(value, (str, bytes, dict)) or not isinstance(
        value, (list, tuple, np.ndarray, pd.Index, pd.Series)
    ):
        return f"is a {type(value).__name__} ({short_repr(value)}), not a list"
    if np.ndim(value) != 1:
        return f"has shape {np.shape(value)}, not a list"
    if n is not None and len(value) != n:
        return f"has {len(value)} values, not one per class ({n})"
    return None


def _metrics_problem(metrics, task: str, n_classes: int) -> tuple[str, str] | None:
    """``(where, what)`` of the first thing wrong in a run's ``metrics`` (``where``: the
    entries below ``metrics``), None where it holds what classify writes."""
    if not isinstance(metrics, dict):
        return "", f"is a {type(metrics).__name__} ({short_repr(metrics)}), not a dict"
    for part in ("test", "val"):
        m = metrics.get(part)
        if m is None:
            return "", f"lacks {part!r}"
        where = f"[{part!r}]"
        if not isinstance(m, dict):
            return where, f"is a {type(m).__name__} ({short_repr(m)}), not a dict"
        for k in _FIGURES[task]:
            if k not in m:
                return where, f"lacks {k!r}"
            if isinstance(m[k], (bool, str)) or not isinstance(m[k], (int, float, np.number)):
                return f"{where}[{k!r}]", f"is {short_repr(m[k])}, not a number"
        if task == "regression":
            continue
        pc = m.get("per_class")
        if not isinstance(pc, dict):
            what = "lacks 'per_class'" if pc is None else "holds a 'per_class' that is no dict"
            return where, what
        for k in (*_PER_CLASS, *(k for k in ("roc_auc", "average_precision") if k in pc)):
            if k not in pc:
                return f"{where}['per_class']", f"lacks {k!r}"
            problem = _list_problem(pc[k], n_classes)
            if problem:
                return f"{where}['per_class'][{k!r}]", problem
    return None


def _entry_problem(record: dict, entry: str) -> tuple[str, str] | None:
    """``(where, what)`` of what is wrong with ``record[entry]`` (there), ``where`` the
    entries below it; None where it is what the tools write."""
    value = record[entry]
    if entry in ("params", "best", "versions") and not isinstance(value, dict):
        return "", f"is a {type(value).__name__} ({short_repr(value)}), not a dict"
    if entry == "task" and str(value) not in _FIGURES:
        return "", f"is {short_repr(value)}, not 'classification' or 'regression'"
    if entry in ("classes", "dropped_classes"):
        problem = _list_problem(value)
        if problem or (entry == "classes" and len(value) == 0):
            return "", problem or "is empty"
    if entry in ("architecture", "train_params"):
        problem = _json_dict_problem(value)
        if problem:
            return "", problem
    if entry == "trials":
        if not isinstance(value, pd.DataFrame):
            return "", f"is a {type(value).__name__} ({short_repr(value)}), not a table"
        lacks = [c for c in ("number", "value", "state") if c not in value.columns]
        if lacks:
            return "", f"lacks the column(s) {shown_values(lacks)}"
    n_classes = len(record["classes"]) if _list_problem(record.get("classes")) is None else 0
    if entry == "confusion" and np.shape(value) != (n_classes, n_classes):
        return "", f"has shape {np.shape(value)}, not {(n_classes, n_classes)} for the classes"
    if entry == "metrics":
        task = str(record.get("task", "classification"))
        return _metrics_problem(value, task if task in _FIGURES else "classification", n_classes)
    return None


def run_record_damage(adata, key: str, needed: str | None, how: str) -> Exception | None:
    """The error of a reader whose tool's record ``uns[key]`` (a classify run's, or an embed
    run's search) lacks an entry that the reader needs (``needed``, as for
    :func:`classify_run_record`; None: the report, which reads the whole record) or holds one
    of another kind than the tool writes (a user's edit, an entry deleted, or what
    ``anndata.concat(uns_merge="same")`` keeps of the records of two runs that differ): a
    KeyError or a ValueError naming the entry and the call to make again; None where the
    record holds what the reader reads."""
    from . import _keys

    record = adata.uns[key]
    required, where_there = _READS.get(needed, ((needed,), ()))
    if needed is not None and needed not in required:
        required = (needed, *required)
    # a regression record has no confusion matrix: its readers say so themselves
    regression = str(record.get("task", "")) == "regression"
    lacks = [e for e in required if e not in record and not (regression and e == "confusion")]
    found = (KeyError, f"adata.uns[{key!r}] lacks {lacks[0]!r}") if lacks else None
    # the classes and task first: the other entries are checked against them
    reads = (*required, *where_there)
    there = [e for e in ("classes", "task", *reads) if e in record and e in reads]
    for entry in dict.fromkeys(there) if found is None else ():
        problem = _entry_problem(record, entry)
        if problem is not None:  # an entry missing below it: a KeyError, as one of its own
            kind = KeyError if problem[1].startswith("lacks") else ValueError
            found = kind, f"adata.uns[{key!r}][{entry!r}]{problem[0]} {problem[1]}"
            break
    if found is None:
        return None
    again = "" if key in (_keys.CLASSIFY_KEY, _keys.EMBED_KEY) else f" (key_added={key!r})"
    kind, what = found
    return kind(
        f"{what}: not a whole record of the run (an edited record, or what "
        "anndata.concat(uns_merge='same') keeps of the records of runs that differ); run "
        f"{how} again{again}."
    )
