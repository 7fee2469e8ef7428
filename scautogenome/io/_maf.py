"""``sag.io.read_maf``: MAF somatic mutations -> binary sample x gene AnnData (CSR)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._settings import logger
from .._utils import check_key, is_one_of, recorded_path
from . import _parse
from ._barcodes import (
    ambiguous_matches,
    barcode_obs,
    is_barcode,
    match_ids,
    parse_tcga_barcode,
)
from ._table import IO_KEY, _duplicates
from ._tcga import check_cohorts, tcga_cohort

if TYPE_CHECKING:
    from anndata import AnnData

# MAF specification (GDC / TCGA) values of Variant_Classification
VARIANT_CLASSES = (
    "Frame_Shift_Del",
    "Frame_Shift_Ins",
    "In_Frame_Del",
    "In_Frame_Ins",
    "Missense_Mutation",
    "Nonsense_Mutation",
    "Nonstop_Mutation",
    "Splice_Site",
    "Translation_Start_Site",
    "Silent",
    "Splice_Region",
    "3'UTR",
    "3'Flank",
    "5'UTR",
    "5'Flank",
    "IGR",
    "Intron",
    "RNA",
    "Targeted_Region",
    "De_novo_Start_InFrame",
    "De_novo_Start_OutOfFrame",
    "Unknown",
)
# protein-altering classes counted by default (maftools' "non-synonymous" set)
DEFAULT_VARIANT_CLASSES = (
    "Frame_Shift_Del",
    "Frame_Shift_Ins",
    "In_Frame_Del",
    "In_Frame_Ins",
    "Missense_Mutation",
    "Nonsense_Mutation",
    "Nonstop_Mutation",
    "Splice_Site",
    "Translation_Start_Site",
)
LEVELS = ("barcode", "sample", "patient")


def _read_one(
    path: Path, gene_column: str, sample_column: str, class_column: str
) -> tuple[pd.DataFrame, int]:
    """The three columns of one MAF, as strings; also the line number of its header."""
    path = _parse.check_exists(path, "MAF file")
    _parse.announce(path, "MAF file")
    with _parse.decoded(path, "MAF file"):
        return _read_columns(path, gene_column, sample_column, class_column)


def _read_columns(
    path: Path, gene_column: str, sample_column: str, class_column: str
) -> tuple[pd.DataFrame, int]:
    n_comment = 0  # '#' lines and blank lines above the header
    with _parse.open_text(path) as fh:
        for line in fh:
            if not (line.startswith("#") or not line.strip()):
                break
            n_comment += 1
    usecols = [gene_column, sample_column, class_column]
    try:
        frame = pd.read_csv(
            path,
            sep="\t",
            skiprows=n_comment,
            usecols=lambda c: c in usecols,
            dtype=str,
            engine="c",
            compression=_parse.compression_of(path),
            keep_default_na=False,
            na_values=[""],
        )
    except pd.errors.ParserError as err:
        msg = f"MAF file {_parse.where(path)}: {err}"
        raise ValueError(msg) from err
    except pd.errors.EmptyDataError as err:
        msg = f"MAF file {_parse.where(path)}: the file is empty (no header line)."
        raise ValueError(msg) from err
    _check_widths(path, n_comment + 1)
    missing = [c for c in usecols if c not in frame.columns]
    if missing:
        msg = (
            f"MAF file {_parse.where(path, n_comment + 1)}: no column(s) {missing} in the header "
            "(a MAF needs Hugo_Symbol, Tumor_Sample_Barcode and Variant_Classification; pass "
            "gene_column= / sample_column= / class_column= for other names)."
        )
        raise ValueError(msg)
    for col in usecols:
        empty = frame[col].isna().to_numpy()
        if empty.any():
            pos = int(np.flatnonzero(empty)[0])
            line = _first_line_with_empty(path, n_comment + 1, col) or n_comment + 2 + pos
            msg = f"MAF file {_parse.where(path, line)}: empty {col}."
            raise ValueError(msg)
    return frame[usecols].apply(lambda s: s.str.strip()), n_comment + 1


def _check_widths(path: Path, header_line: int) -> None:
    """Raise at the first row with more or fewer tab-separated fields than the header.

    pandas ignores extra fields when only some columns are parsed, so this byte-level pass (fast
    enough for pan-cancer MAFs) is what catches ragged rows.
    """
    with _parse.open_binary(path) as fh:
        width = header = None
        for line_no, line in enumerate(fh, start=1):
            if line_no < header_line:
                continue
            n = line.count(b"\t")
            if width is None:
                width, header = n, line.strip()
                continue
            # another file's start: its header again, or its '#version' line (GDC's first)
            joined = n == width and line.strip() == header
            if joined or (n != width and line.startswith(b"#version")):
                what = (
                    f"repeats the header line (line {header_line})"
                    if joined
                    else f"a '#version' line below the header (line {header_line})"
                )
                msg = (
                    f"MAF file {_parse.where(path, line_no)}: {what}; several MAFs joined into "
                    "one (cat)? Pass the files as a list, read_maf([a, b]), or as a dict "
                    "{cohort: path}."
                )
                raise ValueError(msg)
            if n != width and line.startswith(b"#"):
                msg = (
                    f"MAF file {_parse.where(path, line_no)}: a '#' line below the header (line "
                    f"{header_line}); comment lines belong above the header."
                )
                raise ValueError(msg)
            if n != width and line.strip():
                msg = (
                    f"MAF file {_parse.where(path, line_no)}: ragged row, {n + 1} fields where the "
                    f"header (line {header_line}) has {width + 1}."
                )
                raise ValueError(msg)


def _first_line_with_empty(path: Path, header_line: int, column: str) -> int | None:
    """Exact line of the first row whose ``column`` is empty (or missing: a short row)."""
    col = None
    for line, fields in _parse.iter_records(path, "\t"):
        if line < header_line:
            continue
        if line == header_line:
            col = fields.index(column)
            continue
        if col is not None and (len(fields) <= col or not fields[col].strip()):
            return line
    return None


def _level_ids(ids: Sequence[str], level: str, what: str) -> np.ndarray:
    if level == "barcode":
        return np.asarray(ids, dtype=object)
    # each distinct barcode is parsed once (a MAF repeats one per variant)
    codes, uniques = pd.factorize(pd.Series(ids, dtype=object), use_na_sentinel=False)
    uniques = list(uniques)
    is_bad = np.array([not is_barcode(u) for u in uniques], dtype=bool)[codes]
    if is_bad.any():
        bad = [ids[i] for i in np.flatnonzero(is_bad)[:3]]
        msg = (
            f"level={level!r} needs TCGA barcodes, but {what} has {int(is_bad.sum())} other ids "
            f"(e.g. {bad}); use level='barcode'."
        )
        raise ValueError(msg)
    out = parse_tcga_barcode(uniques)[level].to_numpy(dtype=object)[codes]
    if level == "sample" and pd.isna(out).any():
        i = int(np.flatnonzero(pd.isna(out))[0])
        msg = f"level='sample': {ids[i]!r} in {what} is a patient barcode, with no sample type."
        raise ValueError(msg)
    return out


def _gene_columns(maf_genes: pd.Series, col_ids: list[str], returned: np.ndarray) -> np.ndarray:
    """The column in ``col_ids`` (``genes=``) of each counted variant's gene (-1: none), matched
    as a model's genes are (:func:`~scautogenome.data.gene_alignment`: exact names, then
    Ensembl ids without the version, then the symbol of a Firehose ``SYMBOL|ENTREZ`` id, either
    way); warns about the genes of the variants of the returned samples (``returned``) that
    match none of them."""
    from ..data._prepare import gene_alignment  # here: scautogenome.data imports torch

    names = pd.Index(pd.unique(maf_genes))
    codes = names.get_indexer(maf_genes)
    src, dst, _ = gene_alignment(names, col_ids, log=False)
    column_of = np.full(len(names), -1, dtype=np.int64)
    column_of[src] = dst
    by_key = int((names[src] != pd.Index(col_ids)[dst]).sum()) if len(src) else 0
    if by_key:
        logger.info(
            f"read_maf: {by_key} MAF genes matched to genes= by their Ensembl id without the "
            "version or by the symbol of a SYMBOL|ENTREZ id"
        )
    counted = np.unique(codes[returned])
    missed = sorted(str(names[i]) for i in counted if column_of[i] < 0)
    if missed:
        how = "exactly, by Ensembl id without the version or by the symbol of a SYMBOL|ENTREZ id"
        if len(missed) == len(counted):
            msg = (
                f"MAF: none of the {len(counted)} genes with counted mutations (e.g. "
                f"{missed[:3]}) is in genes= (e.g. {col_ids[:3]}), {how}, so the matrix is all "
                "zero; if the genes= should have mutations, name them as the MAF's Hugo_Symbol "
                "(or pass gene_column= another gene column of the MAF)."
            )
        else:
            msg = (
                f"MAF: {len(missed)} of the {len(counted)} genes with counted mutations are not "
                f"in genes= (e.g. {missed[:3]}), {how}; their mutations are dropped."
            )
        warnings.warn(msg, UserWarning, stacklevel=3)
    return column_of[codes]


def read_maf(
    paths: str | Path | Sequence[str | Path] | Mapping[str, str | Path],
    *,
    variant_classes: Sequence[str] | Literal["all"] | None = None,
    level: Literal["barcode", "sample", "patient"] = "barcode",
    samples: Sequence[str] | None = None,
    genes: Sequence[str] | None = None,
    label_key: str = "project",
    gene_column: str = "Hugo_Symbol",
    sample_column: str = "Tumor_Sample_Barcode",
    class_column: str = "Variant_Classification",
) -> AnnData:
    """Read MAF somatic-mutation files into a binary sample x gene matrix (1 = mutated).

    Lines starting with ``#`` (GDC's ``#version``) are skipped; ``.gz`` is decompressed. Only
    the gene, sample and class columns are parsed, so large pan-cancer MAFs read quickly.

    Parameters
    ----------
    paths
        One MAF, a list of them, or a dict ``{cohort: path}`` (the cohort becomes
        ``obs[label_key]``; TCGA codes as :func:`read_tcga` writes them, ``TCGA-BRCA`` ->
        ``BRCA``, other names as given). MAFs joined with ``cat`` (a repeated header) are
        refused: pass them as a list.
    variant_classes
        Which ``Variant_Classification`` values count as a mutation. By default the
        protein-altering classes (Frame_Shift_Del/Ins, In_Frame_Del/Ins, Missense_Mutation,
        Nonsense_Mutation, Nonstop_Mutation, Splice_Site, Translation_Start_Site); Silent,
        Intron, UTR, Flank, IGR, RNA, ... are excluded. ``"all"`` counts every class.
    level
        ``"barcode"``: one row per ``Tumor_Sample_Barcode`` as written; ``"sample"``: per
        ``TCGA-XX-XXXX-NN`` (aliquots of one sample merged, e.g. to join with an expression
        file whose aliquots differ); ``"patient"``: per ``TCGA-XX-XXXX`` (a gene is mutated if
        it is in any sample of the patient).
    samples
        The rows to return, in this order, named as given: ids at ``level``, or TCGA barcodes
        of another level matched to the MAF's as :func:`read_table` matches label ids (so an
        expression AnnData's aliquot ``obs_names`` can be passed as they are). Samples without a
        mutation become all-zero rows; mutations of samples not listed are dropped (with a
        warning), as are those of MAF samples that meet an id only through several aliquots
        (two DNA aliquots of the sample of an RNA aliquot: ``level="sample"`` merges them);
        none matching a MAF sample is an error. By default every sample in the MAF,
        including those whose variants were all excluded (zero rows).
    genes
        The columns to return, in this order, named as given (e.g. an expression matrix's
        ``var_names``); by default every gene with at least one counted mutation, sorted. The
        MAF's genes are matched to them as a model's genes are
        (:func:`~scautogenome.data.gene_alignment`): by name, then Ensembl ids without their
        version, then the symbol of a Firehose ``SYMBOL|ENTREZ`` id either way, so the MAF's
        ``TP53`` fills the column ``TP53|7157`` of a Firehose RSEM file read by
        :func:`read_tcga`. Genes of counted mutations that match none of ``genes`` are warned
        about (their mutations are dropped); when none matches, the matrix is all zero, which
        the warning says (a short gene list may have no mutation in a cohort).
    label_key
        ``obs`` column for the cohort when ``paths`` is a dict.
    gene_column, sample_column, class_column
        Column names, for files that deviate from the MAF specification.

    Returns
    -------
    AnnData of samples x genes with

    ``X``
        CSR float32 of 0/1.
    ``obs['n_mutated_genes']``
        Number of mutated genes per sample.
    ``obs['patient']``, ``obs['sample']``, ``obs['sample_type_code']``, ``obs['sample_type']``, ``obs['sample_type_short']``, ``obs['vial']``, ``obs['is_tumor']``
        When the sample ids are TCGA barcodes (see :func:`parse_tcga_barcode`); only
        ``patient`` at ``level="patient"``.
    ``obs[label_key]``
        Cohort, when ``paths`` is a dict.
    ``var['n_mutated_samples']``
        Number of mutated samples per gene.
    ``uns['sag_io']``
        ``reader``, ``files``, ``level``, ``variant_classes`` (counted), ``class_counts`` (rows
        per class, counted or not: ``{class: n}``), ``n_variants_counted``, ``n_samples_added``
        (all-zero rows from ``samples``), ``n_samples_dropped``, ``all_mutated_genes`` (no
        ``genes``: a gene not listed is not mutated, and ``sag.tl.predict``/``encode``/``explain``
        with a model of mutations read the model's genes it lacks as 0, not as their training
        mean, while the matrix keeps its ``n_genes`` columns); with ``samples`` also
        ``sample_match`` (``exact``, ``tcga_prefix`` or ``exact+tcga_prefix``).

    Raises
    ------
    ValueError
        Missing MAF columns or empty cells (naming file and line), unknown variant classes,
        ``level`` other than barcode for non-TCGA ids, duplicate ``samples`` or ``genes``,
        ``samples`` of which none matches a sample of the MAF.
    """
    import anndata as ad

    if not is_one_of(level, LEVELS):
        msg = f"level={level!r} must be one of {LEVELS}."
        raise ValueError(msg)
    check_key("label_key", label_key, "the obs column of the labels")
    # one name given as a str is one name, not its letters
    samples = [samples] if isinstance(samples, str) else samples
    genes = [genes] if isinstance(genes, str) else genes
    if variant_classes is None:
        counted = set(DEFAULT_VARIANT_CLASSES)
    elif variant_classes == "all":
        counted = None
    else:
        if isinstance(variant_classes, str):
            variant_classes = [variant_classes]
        unknown = [c for c in variant_classes if c not in VARIANT_CLASSES]
        if unknown:
            msg = f"variant_classes={unknown} are not MAF Variant_Classification values {list(VARIANT_CLASSES)}."
            raise ValueError(msg)
        counted = set(variant_classes)
    if isinstance(paths, Mapping):
        # TCGA codes as read_tcga writes them ("TCGA-BRCA" -> "BRCA"); other names as given
        files = _parse.as_paths(paths.values(), "MAF file")
        named = [(p, *tcga_cohort(c)) for c, p in zip(paths, files)]
        check_cohorts([c for _, c, tcga in named if tcga], label_key, stacklevel=2)
        items = [(p, c) for p, c, _ in named]
    else:
        items = [(p, None) for p in _parse.as_paths(paths, "MAF file")]
    if not items:
        msg = "paths is empty; give at least one MAF file."
        raise ValueError(msg)
    frames = []
    cohort_of: dict[str, str] = {}
    for path, cohort in items:
        frame, _ = _read_one(path, gene_column, sample_column, class_column)
        frame.columns = ["gene", "sample", "cls"]
        frame["sample"] = _level_ids(frame["sample"].tolist(), level, repr(str(path)))
        if cohort is not None:
            for s in frame["sample"].unique():
                if cohort_of.setdefault(s, cohort) != cohort:
                    msg = f"sample {s!r} is in the MAFs of two cohorts, {cohort_of[s]!r} and {cohort!r}."
                    raise ValueError(msg)
        frames.append(frame)
    maf = pd.concat(frames, ignore_index=True)
    if maf.empty and samples is None:
        names = ", ".join(repr(str(path)) for path, _ in items[:3])
        msg = f"MAF {names}: no variant rows after the header; there is nothing to read."
        raise ValueError(msg)
    class_counts = maf["cls"].value_counts()
    strange = sorted(set(class_counts.index) - set(VARIANT_CLASSES))
    if strange:
        warnings.warn(
            f"MAF: Variant_Classification values outside the MAF specification {strange} "
            f"({int(class_counts[strange].sum())} rows); they count only with variant_classes='all'.",
            UserWarning,
            stacklevel=2,
        )
    keep = np.ones(len(maf), dtype=bool) if counted is None else maf["cls"].isin(counted).to_numpy()
    no_gene = maf["gene"].isin(["Unknown", "."]).to_numpy()
    if (keep & no_gene).any():
        n = int((keep & no_gene).sum())
        have = "variant has" if n == 1 else "variants have"
        logger.info(f"MAF: {n} counted {have} no gene (Unknown); skipped")
    keep = keep & ~no_gene  # a new array: pandas 3's to_numpy() may be a read-only view
    found = list(pd.unique(maf["sample"]))
    sample_match = None
    if samples is None:
        row_ids = list(found)
        row_src = np.arange(len(found), dtype=np.int64)
    else:
        row_ids = [str(s) for s in samples]
        dups = _duplicates(row_ids)
        if dups:
            msg = f"samples= repeats {dups[:3]}."
            raise ValueError(msg)
        # aliquot barcodes (an expression AnnData's obs_names) meet the MAF's ids at its level
        row_src, sample_match = match_ids(row_ids, found)
        if found and not (row_src >= 0).any():
            names = ", ".join(repr(str(path)) for path, _ in items[:3])
            msg = (
                f"MAF {names}: none of the {len(row_ids)} samples= (e.g. {row_ids[:3]}) matches a "
                f"sample of the MAF at level={level!r} (e.g. {found[:3]}), exactly or by TCGA "
                "barcode; pass the MAF's sample ids (or TCGA barcodes of them) or another level=."
            )
            raise ValueError(msg)
    hit = row_src >= 0
    used = np.zeros(len(found), dtype=bool)
    used[row_src[hit]] = True
    n_added = int((~hit).sum())
    n_dropped = int((~used).sum())
    if samples is not None and n_dropped:
        # MAF samples that meet one samples= id only through several aliquots: not matched
        several = {
            k: [i for i in rows if not used[i]]
            for k, rows in ambiguous_matches(row_ids, found, row_src).items()
        }
        several = {k: rows for k, rows in several.items() if rows}
        if several:
            k, rows = next(iter(several.items()))
            n_maf = len({i for rows in several.values() for i in rows})
            warnings.warn(
                f"MAF: {n_maf} MAF samples match one samples= id through several aliquots (e.g. "
                f"{row_ids[k]!r} matches {' and '.join(repr(found[i]) for i in rows[:3])}), "
                f"which is ambiguous at level={level!r}; their mutations are dropped and the "
                "row of that id is zero. Pass level='sample' to merge a sample's aliquots.",
                UserWarning,
                stacklevel=2,
            )
        ambiguous = {i for rows in several.values() for i in rows}
        absent = [
            f
            for i, (f, u) in enumerate(zip(found, used, strict=True))
            if not u and i not in ambiguous
        ]
        if absent:
            warnings.warn(
                f"MAF: {len(absent)} {'sample is' if len(absent) == 1 else 'samples are'} not in "
                f"samples= (e.g. {absent[:3]}); {'its' if len(absent) == 1 else 'their'} "
                "mutations are dropped.",
                UserWarning,
                stacklevel=2,
            )
    counted_rows = maf.loc[keep]
    if genes is None:
        col_ids = sorted(pd.unique(counted_rows["gene"]))
    else:
        col_ids = [str(g) for g in genes]
        dups = _duplicates(col_ids)
        if dups:
            msg = f"genes= repeats {dups[:3]}."
            raise ValueError(msg)
    f_pos = pd.Index(found).get_indexer(counted_rows["sample"])
    if genes is None:
        c_pos = pd.Index(col_ids).get_indexer(counted_rows["gene"])
    else:
        c_pos = _gene_columns(counted_rows["gene"], col_ids, used[f_pos])
    ok = c_pos >= 0
    by_found = sp.csr_matrix(
        (np.ones(int(ok.sum()), dtype=np.float32), (f_pos[ok], c_pos[ok])),
        shape=(len(found), len(col_ids)),
    )
    ok &= used[f_pos]  # variants of the samples returned
    # row k of the result is the MAF sample row_src[k] (none: zeros)
    pick = sp.csr_matrix(
        (np.ones(int(hit.sum()), dtype=np.float32), (np.flatnonzero(hit), row_src[hit])),
        shape=(len(row_ids), len(found)),
    )
    X = sp.csr_matrix(pick @ by_found, dtype=np.float32)
    X.sum_duplicates()
    X.data[:] = 1.0
    X.eliminate_zeros()
    adata = ad.AnnData(
        X=X, obs=pd.DataFrame(index=pd.Index(row_ids)), var=pd.DataFrame(index=pd.Index(col_ids))
    )
    adata.obs["n_mutated_genes"] = np.asarray(X.sum(axis=1)).ravel().astype(np.int64)
    adata.var["n_mutated_samples"] = np.asarray(X.sum(axis=0)).ravel().astype(np.int64)
    if row_ids and all(is_barcode(s) for s in row_ids):
        obs = barcode_obs(row_ids)
        cols = ["patient"] if level == "patient" else list(obs.columns)
        for col in cols:
            adata.obs[col] = obs[col].to_numpy() if col == "is_tumor" else obs[col].array
    if cohort_of:
        adata.obs[label_key] = pd.Categorical(
            [cohort_of.get(found[p]) if p >= 0 else None for p in row_src]
        )
    adata.uns[IO_KEY] = {
        "reader": "read_maf",
        "files": np.asarray([recorded_path(p) for p, _ in items], dtype=str),
        "level": level,
        "variant_classes": np.asarray(
            sorted(counted) if counted is not None else sorted(class_counts.index), dtype=str
        ),
        "class_counts": {str(k): int(v) for k, v in class_counts.items()},
        "n_variants_counted": int(ok.sum()),
        "n_samples_added": int(n_added),
        "n_samples_dropped": int(n_dropped),
        # every gene a counted variant hits is a column (no genes=): a gene not listed is
        # not mutated in these samples, which predict and encode read as 0
        "all_mutated_genes": genes is None,
        "n_genes": len(col_ids),
    }
    if sample_match is not None:
        adata.uns[IO_KEY]["sample_match"] = sample_match
    logger.info(
        f"read_maf: {adata.n_obs} samples x {adata.n_vars} genes, {int(ok.sum())} counted variants "
        f"of {len(maf)}"
    )
    return adata
