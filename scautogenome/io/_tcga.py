"""``sag.io.read_tcga``: TCGA expression files (one or many cohorts) -> one AnnData."""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._settings import logger
from .._utils import check_bool, check_key, columns_listed, is_one_of, recorded_path
from . import _parse
from ._barcodes import (
    FIREHOSE_AGGREGATES,
    SAMPLE_TYPES,
    TCGA_PROJECTS,
    barcode_columns,
    barcode_fraction,
    barcode_obs,
    is_barcode,
)
from ._table import (
    _FIREHOSE_GENE,
    _INTEGER_ID,
    IO_KEY,
    Orientation,
    _gene_fraction,
    float_dtype,
    join_labels,
    label_columns,
    table_to_anndata,
)

if TYPE_CHECKING:
    from anndata import AnnData

_PROJECT_COLUMNS = (
    "project_id",
    "project",
    "cohort",
    "acronym",
    "disease_code",
    "cancer_type",
    "disease",
    "type",
)
_KNOWN_CODES = frozenset(TCGA_PROJECTS) | frozenset(FIREHOSE_AGGREGATES)
_FILE_PREFIX = re.compile(r"^(?:TCGA[-_.])?([A-Z]{2,8})(?=[._-])")
# GDC's versioned Ensembl ids, ENSG00000141510.16 (and GENCODE's ENSG00000002586.18_PAR_Y)
_ENSEMBL_VERSIONED = re.compile(r"^(ENS[A-Z]*G\d{6,})\.\d+(_PAR_Y)?$")
_ID_KINDS = (
    ("Ensembl ids with versions", _ENSEMBL_VERSIONED),
    ("Ensembl ids", re.compile(r"^ENS[A-Z]*G\d{6,}(_PAR_Y)?$")),
    ("SYMBOL|ENTREZ ids", _FIREHOSE_GENE),
    ("integer (Entrez?) ids", _INTEGER_ID),
)


def normalize_project(value) -> str | float:
    """``"TCGA-BRCA"``, ``"brca"`` -> ``"BRCA"``; a name that is no TCGA code (a disease's,
    "breast invasive carcinoma") as it is written, stripped (missing stays missing)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    text = str(value).strip()
    code = text.upper()
    if code.startswith("TCGA-"):
        return code[5:]
    return code if code in _KNOWN_CODES or code in _AGGREGATE_OF else text


# what Firehose's aggregate cohorts merge; PANCAN too, which names no cohort's files (so it is
# not guessed from a file name, _KNOWN_CODES)
_AGGREGATE_OF = {**FIREHOSE_AGGREGATES, "PANCAN": "all projects"}


def check_cohorts(codes, label_key: str, stacklevel: int) -> None:
    """Warn (once per code) about project codes that are not one of the 33 TCGA projects: a
    Firehose aggregate (KIPAN, GBMLGG, ...), whose samples repeat those of its projects, or any
    other code (a typo such as 'BRAC', a TARGET project), which becomes a class of its own."""
    for code in dict.fromkeys(c for c in codes if isinstance(c, str)):
        if code in TCGA_PROJECTS:
            continue
        if code in _AGGREGATE_OF:
            why = (
                f"is a Firehose aggregate cohort ({_AGGREGATE_OF[code]}), whose samples are "
                "those of its projects; leave it out, or read the projects' own files, so that "
                "each sample has its project as its class"
            )
        else:
            why = (
                "is not a TCGA project code (e.g. BRCA, LUAD; 'TCGA-BRCA' is read as 'BRCA'); "
                "check its spelling: its samples get it as a class of their own"
            )
        warnings.warn(
            f"cohort {code!r} {why} (obs[{label_key!r}]).",
            UserWarning,
            stacklevel=stacklevel + 1,
        )


def tcga_cohort(value) -> tuple[str, bool]:
    """``(name, is_tcga)``: a TCGA cohort as :func:`read_tcga` writes it (``"TCGA-BRCA"``,
    ``"brca"`` -> ``"BRCA"``; Firehose aggregates too), any other name as given."""
    text = str(value)
    norm = normalize_project(text)
    tcga = text.strip().upper().startswith("TCGA-") or norm in _KNOWN_CODES or norm in _AGGREGATE_OF
    return (norm, True) if tcga else (text, False)


def _project_from_filename(path: Path) -> str | None:
    m = _FILE_PREFIX.match(path.name.upper())
    if m is not None and m.group(1) in _KNOWN_CODES:
        return m.group(1)
    return None


def _as_files(
    paths: str | Path | Sequence[str | Path] | Mapping[str, str | Path],
    cohort: str | Sequence[str] | None,
) -> list[tuple[Path, str | None, str]]:
    """``(path, project or None, where the project came from)`` per file."""
    if isinstance(paths, Mapping):
        if cohort is not None:
            msg = "pass cohorts either as the keys of a dict of paths or as cohort=, not both."
            raise ValueError(msg)
        files = _parse.as_paths(paths.values(), "expression file")
        return [(p, normalize_project(c), "cohort") for c, p in zip(paths, files)]
    files = _parse.as_paths(paths, "expression file")
    if not files:
        msg = "paths is empty; give at least one expression file."
        raise ValueError(msg)
    if cohort is None:
        cohorts: list[str | None] = [None] * len(files)
    elif isinstance(cohort, str):
        cohorts = [cohort] * len(files)
    else:
        cohorts = list(cohort)
        if len(cohorts) != len(files):
            msg = f"cohort= has {len(cohorts)} entries for {len(files)} files."
            raise ValueError(msg)
    out = []
    for f, c in zip(files, cohorts, strict=True):
        if c is not None:
            out.append((f, normalize_project(c), "cohort"))
        else:
            guess = _project_from_filename(f)
            out.append((f, guess, "filename" if guess else "none"))
    return out


def _versionless(gene: str) -> str:
    m = _ENSEMBL_VERSIONED.match(gene)
    return gene if m is None else m.group(1) + (m.group(2) or "")


def _versionless_ids(parts: Sequence[AnnData]) -> list[list[str]] | None:
    """Each file's gene ids without Ensembl versions, when that makes ids of different files
    meet (``ENSG00000141510.16`` in one, ``.17`` or none in another) and repeats no id within a
    file; else None."""
    if not any(_ENSEMBL_VERSIONED.match(g) for p in parts for g in p.var_names):
        return None
    bases = [[_versionless(g) for g in p.var_names] for p in parts]
    if any(len(set(b)) < len(b) for b in bases):
        return None
    n_raw = len(set().union(*(p.var_names for p in parts)))
    return bases if len(set().union(*bases)) < n_raw else None


def _id_kind(ids: Sequence[str]) -> str:
    ids = list(ids)[:2000]
    for kind, pattern in _ID_KINDS:
        if _gene_fraction(ids, pattern) >= 0.5:
            return kind
    return "gene symbols or other ids"


def _why_few_shared(parts: Sequence[AnnData], paths: Sequence[Path]) -> str:
    """Why files share (almost) no gene: the kind of gene id of each, with an example."""
    kinds = [_id_kind(p.var_names) for p in parts]
    each = "; ".join(
        f"{f.name!r}: {k}, e.g. {p.var_names[0]!r}"
        for f, k, p in zip(paths, kinds, parts, strict=True)
        if p.n_vars
    )
    if len(set(kinds)) > 1:
        return f"they name genes by different kinds of id ({each})"
    return f"they name other genes, or the same genes in other releases ({each})"


def _patients_as_rows(info: _parse.Frame) -> _parse.Frame:
    """``info`` with patients as rows. Firehose's clinical tables (``*.clin.merged.picked.txt``)
    hold one variable per row and one patient per column, headed by their barcodes: when no
    column holds barcodes and most header cells are barcodes, the table is transposed (the
    first column's names become the columns, the header cell above them the id column's
    name), and a column whose every value is a number becomes numeric (a regression target)."""
    frame = info.frame
    cols = [str(c) for c in frame.columns]
    if len(cols) < 2 or barcode_fraction(cols[1:201]) < 0.5:
        return info
    if barcode_columns(frame):
        return info
    text = info.text if info.text is not None else frame.astype(object).where(frame.notna())
    names = text.iloc[:, 0].astype(str).str.strip()
    repeated = sorted(set(names[names.duplicated()]))
    if repeated:
        msg = (
            f"clinical table {info.name} has patients as columns (Firehose's layout) and repeats "
            f"the variable(s) {repeated[:3]}, which would be two columns of one name."
        )
        raise ValueError(msg)
    id_name = cols[0] if cols[0] not in set(names) else "patient"
    rows = text.iloc[:, 1:].T
    rows.columns = list(names)
    rows.index = pd.Index(cols[1:], name=id_name)
    text_t = rows.reset_index()
    out = text_t.copy()
    for c in out.columns[1:]:
        numbers = pd.to_numeric(out[c], errors="coerce")
        if numbers.notna().sum() == out[c].notna().sum():  # every value given is a number
            out[c] = numbers
    logger.info(
        f"clinical table {info.name}: {len(cols) - 1} patients as columns (Firehose's layout); "
        "read transposed"
    )
    note = " (transposed: patients as rows)"
    source = (info.source if info.source is not None else info.name) + note
    return _parse.Frame(out, info.name + note, None, "", 0, text_t, source)


def _clinical_columns(
    info: _parse.Frame, id_column: str | None, project_column: str | None
) -> tuple[str, str | None]:
    cols = [str(c) for c in info.frame.columns]
    info.frame.columns = cols
    if id_column is None:
        found = barcode_columns(info.frame)
        if not found:
            msg = (
                f"clinical table {info.name}: no column of TCGA barcodes (patient ids like "
                f"TCGA-A1-A0SB); {columns_listed(cols, [])}. Pass clinical_id_column=."
            )
            raise ValueError(msg)
        id_column = found[0]
    elif id_column not in cols:
        msg = (
            f"clinical table {info.name}: no clinical_id_column={id_column!r}; "
            f"{columns_listed(cols, [id_column])}."
        )
        raise ValueError(msg)
    if project_column is None:
        # GDC's newer clinical.tsv prefixes columns with their entity: "project.project_id"
        # and a GDC Sample Sheet's "Project ID" (compared as project_id)
        lower: dict[str, str] = {}
        for c in cols:
            lower.setdefault(_parse.norm_name(c), c)
            lower.setdefault(_parse.norm_name(c).rsplit(".", 1)[-1], c)
        project_column = next((lower[c] for c in _PROJECT_COLUMNS if c in lower), None)
    elif project_column not in cols:
        msg = (
            f"clinical table {info.name}: no project_column={project_column!r}; "
            f"{columns_listed(cols, [project_column])}."
        )
        raise ValueError(msg)
    return id_column, project_column


def read_tcga(
    paths: str | Path | Sequence[str | Path] | Mapping[str, str | Path],
    *,
    cohort: str | Sequence[str] | None = None,
    clinical: str | Path | pd.DataFrame | None = None,
    clinical_id_column: str | None = None,
    project_column: str | None = None,
    clinical_columns: Sequence[str] | None = None,
    tumor_only: bool | None = None,
    sample_types: Sequence[str | int] | None = None,
    join: Literal["inner", "outer"] = "inner",
    label_key: str = "project",
    orientation: Orientation = "auto",
    sep: str | None = None,
    sparse: bool | Literal["auto"] = "auto",
    dtype: str | np.dtype = "float32",
) -> AnnData:
    """Read TCGA expression files (one per cohort, or one pan-cancer file) into one AnnData.

    Each file is read by :func:`read_table` (TSV/CSV, gzip allowed, genes x samples as in GDC
    and Firehose files, or samples x genes); sample ids must be TCGA barcodes and are parsed
    into ``obs`` columns. The project code (``BRCA``, ...) becomes the label ``obs[label_key]``.

    Parameters
    ----------
    paths
        One file, a list of files, or a dict ``{cohort: path}``.
    cohort
        The project code of each file (one string for all, or one per file). By default the
        dict's keys, else the clinical table's project column, else a known TCGA code at the
        start of the file name (Firehose names files ``BRCA.rnaseqv2__...``). ``TCGA-BRCA`` and
        ``brca`` are read as ``BRCA``; a code that is not one of the 33 TCGA projects (a typo,
        a TARGET project) or is a Firehose aggregate (KIPAN, GBMLGG, COADREAD, STES, ...) is
        warned about.
    clinical
        A clinical table (path or DataFrame), one row per patient (or sample / aliquot): its
        barcodes are matched to the samples at the longest common barcode level. Firehose's
        ``*.clin.merged.picked.txt`` (one column per patient, headed by its barcode) is read
        transposed when ``clinical_id_column`` is not given; its columns whose every value is
        a number are numeric.
    clinical_id_column
        Its barcode column; by default the first column that holds TCGA barcodes
        (``bcr_patient_barcode``, ``case_submitter_id``, ...).
    project_column
        Its project column; by default the first of ``project_id``, ``project``, ``cohort``,
        ``acronym``, ``disease_code``, ``cancer_type``, ``disease``, ``type`` (``TCGA-BRCA`` is
        read as ``BRCA``).
    clinical_columns
        More clinical columns to copy into ``obs`` (``gender``, ``vital_status``, ...); the
        project column among them is copied as it is (``TCGA-BRCA``) besides
        ``obs[label_key]``.
    tumor_only
        Keep tumour samples only (sample type codes 01-09 and 40; e.g. drops ``11`` Solid Tissue
        Normal and ``10`` Blood Derived Normal). False keeps every sample; None (the default)
        too, with a warning where some are not tumours (without ``sample_types``): they take
        their cohort as their label, as a tumour does.
    sample_types
        Keep only these sample type codes (``["01"]`` or ``[1]`` = primary tumours); combines with
        ``tumor_only``.
    join
        ``"inner"``: genes measured in every file; ``"outer"``: their union, a gene missing from
        a file is 0 for that file's samples (recorded in ``uns`` and ``var['n_files']``).
        Ensembl ids that differ only in their version (``ENSG00000141510.16`` in one file,
        ``.17`` or none in another) are matched without it. Files that share less than half of
        the genes of the smallest one are warned about (an inner join of no gene is an error),
        naming the kind of gene id of each file.
    label_key
        ``obs`` column of the project code.
    orientation, sep, sparse, dtype
        As in :func:`read_table`, for every file.

    Returns
    -------
    AnnData of samples x genes with

    ``obs[label_key]``
        Project code (categorical), when one is known.
    ``obs['patient']``, ``obs['sample']``, ``obs['sample_type_code']``, ``obs['sample_type']``, ``obs['sample_type_short']``, ``obs['vial']``, ``obs['is_tumor']``
        From the barcodes (see :func:`parse_tcga_barcode`).
    ``obs[<clinical_columns>]``
        Requested clinical columns.
    ``var['n_files']``
        In how many files the gene was measured; with Firehose ``SYMBOL|ENTREZ`` ids also
        ``var['gene_symbol']`` and ``var['entrez_id']``.
    ``var['gene_id_0']``, ``var['gene_id_1']``, ...
        When genes were matched without their Ensembl version: each file's id, as written
        there (``""`` where the file lacks the gene); ``var_names`` are the ids without version.
    ``uns['sag_io']``
        ``reader``, ``files``, ``file_projects``, ``project_source``, ``join``,
        ``n_genes_per_file``, ``n_samples_per_file``, ``tumor_only``, ``sample_types``,
        ``gene_match`` (``exact``, or ``ensembl_without_version``); for an
        outer join ``fill_value`` (0.0), ``n_genes_filled_per_file`` and ``note``; with a
        clinical table ``clinical`` (the join record of :func:`read_table`).

    Raises
    ------
    ValueError
        Non-barcode sample ids, a sample id repeated within or across files (naming both),
        files that share no gene id with ``join="inner"``,
        a clinical table that matches no sample, no sample left after filtering.
    """
    import anndata as ad

    if not is_one_of(join, ("inner", "outer")):
        msg = f"join={join!r} must be 'inner' or 'outer'."
        raise ValueError(msg)
    warn_normals = tumor_only is None
    tumor_only = False if tumor_only is None else check_bool("tumor_only", tumor_only)
    check_key("label_key", label_key, "the obs column of the labels")
    if isinstance(sample_types, str):  # one code, not its digits
        sample_types = [sample_types]
    if sample_types is not None:
        sample_types = [f"{int(c):02d}" if str(c).isdigit() else str(c) for c in sample_types]
        unknown = [c for c in sample_types if c not in SAMPLE_TYPES]
        if unknown:
            msg = f"sample_types={unknown} are not TCGA sample type codes ({sorted(SAMPLE_TYPES)})."
            raise ValueError(msg)
    float_dtype(dtype)  # before any file is read
    files = _as_files(paths, cohort)
    check_cohorts([p for _, p, _ in files], label_key, stacklevel=2)
    clin = None
    if clinical is not None:
        clin = _parse.read_frame(clinical, what="clinical table")
        if clinical_id_column is None:
            clin = _patients_as_rows(clin)
        clin_id, clin_project = _clinical_columns(clin, clinical_id_column, project_column)
        if clinical_columns:  # a typo fails here, before the expression files are parsed
            label_columns(clin, list(clinical_columns), clin_id, "clinical table")
        elif clin_project is None:  # nothing to read from it, said before the files are read
            # an example of the table's own (the CLI tells it as --label-column): a column of
            # several values (Firehose's 'Composite Element REF' row holds only 'value')
            others = [c for c in clin.frame.columns if c != clin_id]
            example = next(
                (c for c in others if clin.frame[c].nunique() > 1),
                others[0] if others else "vital_status",
            )
            msg = (
                f"clinical table {clin.name}: no project column (tried {list(_PROJECT_COLUMNS)}) "
                "and no clinical_columns=; pass clinical_columns= the variables to put into obs "
                f"(e.g. [{str(example)!r}]), or project_column= the column naming each "
                "patient's project."
            )
            raise ValueError(msg)
    parts: list[AnnData] = []
    seen: dict[str, str] = {}
    project_of: dict[str, str | None] = {}
    guessed: set[str] = set()  # samples whose project is a guess from their file's name
    for path, project, source in files:
        # Firehose's CODE.* names are unambiguous; other names (read_counts.tsv) are a guess
        unsure = source == "filename" and not re.match(
            rf"^(?:TCGA[-_.])?{re.escape(str(project))}\.", path.name.upper()
        )
        if unsure:
            warnings.warn(
                f"expression table {str(path)!r}: its cohort {project!r} is guessed from the "
                "file name; pass cohort= (or a clinical table with a project column) if that "
                "is wrong.",
                UserWarning,
                stacklevel=2,
            )
        part, _ = table_to_anndata(
            path, orientation=orientation, sep=sep, sparse=sparse, dtype=dtype
        )
        ids = part.obs_names.tolist()
        bad = [i for i in ids if not is_barcode(i)]
        if bad:
            msg = (
                f"expression table {str(path)!r}: {len(bad)} of {len(ids)} sample ids are not TCGA "
                f"barcodes (e.g. {bad[:3]}); is the orientation right? Use read_table for "
                "non-TCGA tables."
            )
            raise ValueError(msg)
        for i in ids:
            if i in seen:
                msg = (
                    f"sample {i!r} is in both {seen[i]!r} and {str(path)!r}; remove one "
                    "(read_tcga does not merge replicate measurements)."
                )
                raise ValueError(msg)
            seen[i] = str(path)
        obs = barcode_obs(ids)
        keep = np.ones(len(ids), dtype=bool)
        if tumor_only:
            keep &= obs["is_tumor"].to_numpy()
        if sample_types is not None:
            keep &= obs["sample_type_code"].astype(str).isin(sample_types).to_numpy()
        if not keep.all():
            logger.info(
                f"{str(path)!r}: kept {int(keep.sum())} of {len(ids)} samples "
                f"(tumor_only={tumor_only}, sample_types={sample_types})"
            )
        if not keep.any():
            warnings.warn(
                f"expression table {str(path)!r}: no sample left after filtering "
                f"(tumor_only={tumor_only}, sample_types={sample_types}).",
                UserWarning,
                stacklevel=2,
            )
        part = part[keep].copy()
        part.uns.clear()
        part.obs = pd.DataFrame(index=part.obs_names)
        for i in part.obs_names:
            project_of[i] = project
            if source == "filename":
                guessed.add(i)
        parts.append(part)
    n_genes = [p.n_vars for p in parts]
    n_samples = [p.n_obs for p in parts]
    if sum(n_samples) == 0:
        msg = "no sample left after filtering in any file."
        raise ValueError(msg)
    versioned = _versionless_ids(parts) if len(parts) > 1 else None
    if versioned is not None:
        # GDC files of different releases: ENSG00000141510.16 here, .17 there
        ids_in_file = [list(p.var_names) for p in parts]
        spellings: dict[str, set[str]] = {}
        for p, bases in zip(parts, versioned, strict=True):
            for given, base in zip(p.var_names, bases, strict=True):
                spellings.setdefault(base, set()).add(given)
            p.var_names = pd.Index(bases)
        example = next(sorted(v) for v in spellings.values() if len(v) > 1)
        logger.info(
            f"read_tcga: the files' Ensembl ids differ in their version ({example[0]} vs "
            f"{example[1]}); genes are matched without it, each file's ids kept in "
            "var['gene_id_0'], var['gene_id_1'], ..."
        )
    paths = [f for f, _, _ in files]
    if len(parts) > 1:
        n_shared = len(set.intersection(*(set(p.var_names) for p in parts)))
        smallest = min(n_genes)
        if n_shared == 0 and join == "inner":
            msg = (
                f"join='inner' left no gene: the files share no gene id because "
                f"{_why_few_shared(parts, paths)}; map them to one kind of gene id first."
            )
            raise ValueError(msg)
        if n_shared < 0.5 * smallest:
            effect = (
                "only those genes are kept"
                if join == "inner"
                else "each file's samples are 0 on the genes of the others, which tells the "
                "files (and their cohorts) apart"
            )
            warnings.warn(
                f"join={join!r}: the files share only {n_shared} of the {smallest} genes of the "
                f"smallest one because {_why_few_shared(parts, paths)}, so {effect}; map them "
                "to one kind of gene id first.",
                UserWarning,
                stacklevel=2,
            )
    in_files = pd.Series(0, index=pd.Index(sorted(set().union(*(p.var_names for p in parts)))))
    for p in parts:
        in_files[p.var_names] += 1
    if len(parts) == 1:
        adata = parts[0]
    else:
        adata = ad.concat(
            parts,
            join=join,
            fill_value=0 if join == "outer" else None,
            merge="same",
            index_unique=None,
        )
    adata.var["n_files"] = in_files.reindex(adata.var_names).to_numpy(dtype=np.int64)
    if versioned is not None:
        for k, (p, ids) in enumerate(zip(parts, ids_in_file, strict=True)):
            given = pd.Series(ids, index=p.var_names, dtype=object)
            adata.var[f"gene_id_{k}"] = given.reindex(adata.var_names).fillna("").to_numpy(str)
    # the same sparse/dense rule as one file, on the whole matrix
    if sparse == "auto":
        nnz = adata.X.nnz if sp.issparse(adata.X) else int(np.count_nonzero(adata.X))
        want_sparse = nnz < _parse.SPARSE_DENSITY * adata.n_obs * adata.n_vars
        if want_sparse and not sp.issparse(adata.X):
            adata.X = sp.csr_matrix(adata.X)
        elif not want_sparse and sp.issparse(adata.X):
            adata.X = adata.X.toarray()
    elif sparse and not sp.issparse(adata.X):
        adata.X = sp.csr_matrix(adata.X)
    if sp.issparse(adata.X) and not isinstance(adata.X, sp.csr_matrix):
        adata.X = sp.csr_matrix(adata.X)
    obs = barcode_obs(adata.obs_names.tolist())
    for col in obs.columns:
        adata.obs[col] = obs[col].to_numpy() if col == "is_tumor" else obs[col].array
    sources = {s for _, p, s in files if p is not None}
    if sources:
        adata.obs[label_key] = [project_of[i] for i in adata.obs_names]
    record: dict = {
        "reader": "read_tcga",
        "files": np.asarray([recorded_path(f) for f, _, _ in files], dtype=str),
        "file_projects": np.asarray(["" if p is None else p for _, p, _ in files], dtype=str),
        "join": join,
        "n_genes_per_file": np.asarray(n_genes, dtype=np.int64),
        "n_samples_per_file": np.asarray(n_samples, dtype=np.int64),
        "tumor_only": bool(tumor_only),
        "sample_types": np.asarray(sample_types or [], dtype=str),
        "gene_match": "ensembl_without_version" if versioned is not None else "exact",
    }
    if join == "outer" and len(parts) > 1:
        filled = [int(adata.n_vars - p.n_vars) for p in parts]
        record["fill_value"] = 0.0
        record["n_genes_filled_per_file"] = np.asarray(filled, dtype=np.int64)
        record["note"] = (
            "outer join: a gene missing from a file is 0 for that file's samples (not measured, "
            "not zero expression); var['n_files'] counts the files that measured it."
        )
        if any(filled):
            logger.info(
                f"outer join: {adata.n_vars} genes; {sum(1 for f in filled if f)} files lacked some, "
                "filled with 0 (see uns['sag_io']['note'])"
            )
    if clin is not None:
        wanted = list(clinical_columns or [])
        if clin_project is not None and clin_project not in wanted:
            wanted.insert(0, clin_project)
        table, join_record = join_labels(
            adata.obs_names,
            clin,
            label_column=wanted,
            id_column=clin_id,
            data_name="the expression files",
            what="clinical table",
        )
        record["clinical"] = join_record
        for col in wanted:
            if col == clin_project and col not in (clinical_columns or []):
                continue  # read into obs[label_key]; copied as well only when asked for
            name = col if col not in adata.obs.columns else f"{col}_clinical"
            if name != col:
                logger.info(
                    "clinical table %s: its column %r is read into obs[%r], beside the %r "
                    "that the barcodes give",
                    clin.name,
                    col,
                    name,
                    col,
                )
            adata.obs[name] = table[col]
        if clin_project is not None:
            from_clinical = table[clin_project].astype(object).map(normalize_project)
            if label_key in adata.obs.columns:
                given = adata.obs[label_key].astype(object)
                # a file-name guess gives way to the clinical table; a cohort= does not
                is_guess = adata.obs_names.isin(list(guessed))
                given = given.where(~(is_guess & from_clinical.notna()), from_clinical)
                differ = from_clinical.notna() & given.notna() & (from_clinical != given)
                if differ.any():
                    warnings.warn(
                        f"clinical table {clin.name}: the project of {int(differ.sum())} samples "
                        f"differs from the cohort= given for their file (e.g. "
                        f"{differ[differ].index[0]!r}: {from_clinical[differ].iloc[0]!r} vs "
                        f"{given[differ].iloc[0]!r}); keeping cohort=.",
                        UserWarning,
                        stacklevel=2,
                    )
                adata.obs[label_key] = given.where(given.notna(), from_clinical)
            else:
                adata.obs[label_key] = from_clinical
            sources.add("clinical")
    if label_key in adata.obs.columns:
        values = adata.obs[label_key].astype(object)
        adata.obs[label_key] = pd.Categorical(values.where(values.notna(), None))
        record["project_source"] = "+".join(sorted(sources)) or "none"
    else:
        record["project_source"] = "none"
        warnings.warn(
            f"no project code for {[str(f) for f, _, _ in files]}: pass cohort=, a dict "
            "{cohort: path} or a clinical table with a project column.",
            UserWarning,
            stacklevel=2,
        )
    adata.uns[IO_KEY] = record
    logger.info(
        f"read_tcga: {adata.n_obs} samples x {adata.n_vars} genes from {len(files)} file(s)"
    )
    if warn_normals and sample_types is None and label_key in adata.obs.columns:
        _warn_of_normals(adata, label_key)
    return adata


def _warn_of_normals(adata: AnnData, label_key: str) -> None:
    """Say that the samples kept that are no tumour (normal tissue, blood) have their cohort
    as their label, as a tumour has: a classifier of cohorts trains and is tested on them
    unless they are left out (``tumor_only``, ``sample_types``)."""
    other = ~adata.obs["is_tumor"].to_numpy(dtype=bool) & adata.obs[label_key].notna().to_numpy()
    if not other.any():
        return
    kinds = adata.obs.loc[other, "sample_type"].astype(str).value_counts()
    logger.warning(
        "%d of the %d samples are not tumours (%s); obs[%r] is their cohort, as a tumour's, "
        "so a classifier of cohorts trains and is tested on them too. tumor_only=True (CLI: "
        "--tumor-only) keeps the tumours only, sample_types= the types chosen, and "
        "tumor_only=False (CLI: --no-tumor-only) keeps them all without this warning; "
        "obs['sample_type'] says which each sample is",
        int(other.sum()),
        adata.n_obs,
        ", ".join(f"{n} {kind}" for kind, n in kinds.items()),
        label_key,
    )
