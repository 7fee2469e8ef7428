"""sag.io readers: tables, TCGA, MAF, AutoGenome layout; bad files name file, line and problem."""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import scautogenome as sag

DATA = Path(__file__).resolve().parents[1] / "data"


def _load_make_examples():
    spec = importlib.util.spec_from_file_location("make_examples", DATA / "make_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_examples = _load_make_examples()


@pytest.fixture(scope="module")
def ex(tmp_path_factory):
    """The example inputs, generated into a temporary folder (never the committed copies)."""
    return make_examples.make_examples(tmp_path_factory.mktemp("examples"), split_cohorts=True)


def _roundtrip(adata, tmp_path: Path):
    path = tmp_path / "roundtrip.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    assert back.shape == adata.shape
    assert list(back.obs.columns) == list(adata.obs.columns)
    assert set(back.uns["sag_io"]) == set(adata.uns["sag_io"])
    X1 = adata.X.toarray() if sparse.issparse(adata.X) else adata.X
    X2 = back.X.toarray() if sparse.issparse(back.X) else back.X
    np.testing.assert_array_equal(X1, X2)
    return back


def _write(path: Path, text: str) -> Path:
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


# --------------------------------------------------------------------------- make_examples


def test_make_examples_is_seeded_and_small(tmp_path, ex):
    again = make_examples.make_examples(tmp_path / "again", split_cohorts=True)
    for name, path in ex.items():
        assert path.read_bytes() == again[name].read_bytes(), name
    committed = DATA / "examples"
    if committed.exists():
        total = sum(p.stat().st_size for p in committed.rglob("*") if p.is_file())
        assert total < 200 * 1024


# --------------------------------------------------------------------------- read_table


def test_read_table_tcga_style_genes_x_samples(ex, tmp_path):
    adata = sag.io.read_table(ex["expression"])
    assert adata.shape == (60, 300)
    assert adata.X.dtype == np.float32
    rec = adata.uns["sag_io"]
    assert rec["orientation"] == "genes_x_samples"
    assert "TCGA barcodes" in rec["orientation_reason"]
    # Firehose layout: second header line skipped, values where the file has them
    with gzip.open(ex["expression"], "rt") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        assert fh.readline().startswith("gene_id")
        first = fh.readline().rstrip("\n").split("\t")
    assert adata.obs_names[0] == header[1]
    assert adata.var_names[0] == first[0]
    X = adata.X.toarray() if sparse.issparse(adata.X) else adata.X
    np.testing.assert_allclose(X[:, 0], np.array(first[1:], dtype=np.float32))
    _roundtrip(adata, tmp_path)


def test_read_table_says_which_line_it_skips_as_a_second_header(tmp_path, sag_caplog):
    """A first data row of words only, above rows of numbers, is skipped as Firehose's second
    header line; a typo there lost a gene without a word. The log names the line and its
    first field, so a gene read so is seen."""
    path = tmp_path / "t.csv"
    path.write_text("gene,S1,S2\ng1,abc,x\ng2,3,4\n")
    adata = sag.io.read_table(path, orientation="genes_x_samples")
    assert list(adata.var_names) == ["g2"]
    assert "line 2: read as a second header line and skipped (its first field 'g1';" in (
        sag_caplog.text
    )


def test_read_table_samples_x_genes_sparse_csv_and_override(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.poisson(0.3, (40, 25)).astype(np.float32)  # mostly zeros
    cells = [f"cell{i}" for i in range(40)]
    genes = [f"ENSG{i:011d}" for i in range(25)]
    pd.DataFrame(X, index=cells, columns=genes).to_csv(tmp_path / "counts.csv.gz")
    adata = sag.io.read_table(tmp_path / "counts.csv.gz")
    assert adata.uns["sag_io"]["orientation"] == "samples_x_genes"
    assert "gene ids" in adata.uns["sag_io"]["orientation_reason"]
    assert isinstance(adata.X, sparse.csr_matrix)
    np.testing.assert_array_equal(adata.X.toarray(), X)
    flipped = sag.io.read_table(tmp_path / "counts.csv.gz", orientation="genes_x_samples")
    assert flipped.shape == (25, 40)
    pd.DataFrame(X, index=cells, columns=genes).to_csv(tmp_path / "counts.csv.zip")
    np.testing.assert_array_equal(sag.io.read_table(tmp_path / "counts.csv.zip").X.toarray(), X)
    dense = sag.io.read_table(tmp_path / "counts.csv.gz", sparse=False)
    assert isinstance(dense.X, np.ndarray)
    with pytest.raises(ValueError, match="orientation="):
        sag.io.read_table(tmp_path / "counts.csv.gz", orientation="rows")


def test_read_table_r_header_without_corner_and_firehose_gene_ids(tmp_path):
    path = _write(
        tmp_path / "r.txt",
        "s1\ts2\ts3\n?|100130426\t0\t1\t2\nTP53|7157\t5\t6\t7\nA1BG|1\t1\t1\t1\nKRAS|3845\t2\t2\t2\n",
    )
    adata = sag.io.read_table(path)
    assert adata.shape == (3, 4)  # more rows than columns, gene ids on rows
    assert list(adata.var["gene_symbol"]) == ["?", "TP53", "A1BG", "KRAS"]
    assert list(adata.var["entrez_id"]) == ["100130426", "7157", "1", "3845"]


def test_read_table_labels_join(ex, tmp_path):
    adata = sag.io.read_table(ex["expression"])
    labels = pd.DataFrame(
        {"barcode": adata.obs_names[:50], "cohort": ["A"] * 25 + ["B"] * 25, "age": range(50)}
    )
    labels.to_csv(tmp_path / "labels.csv", index=False)
    with pytest.warns(UserWarning, match="10 of 60 samples"):
        lab = sag.io.read_table(ex["expression"], labels=tmp_path / "labels.csv")
    assert list(lab.obs.columns) == ["cohort", "age"]
    assert isinstance(lab.obs["cohort"].dtype, pd.CategoricalDtype)
    assert lab.obs["cohort"].isna().sum() == 10
    assert lab.uns["sag_io"]["id_match"] == "exact"
    with pytest.warns(UserWarning, match=r"label table \(a DataFrame\): 10 of 60"):
        only = sag.io.read_table(
            ex["expression"], labels=labels.set_index("barcode"), label_column="cohort"
        )
    assert list(only.obs.columns) == ["cohort"]
    _roundtrip(lab, tmp_path)


def test_read_table_patient_level_clinical_labels_every_sample(ex):
    adata = sag.io.read_table(
        ex["expression"],
        labels=ex["clinical"],
        id_column="case_submitter_id",
        label_column="project_id",
    )
    assert adata.uns["sag_io"]["id_match"] == "tcga_prefix"
    assert adata.obs["project_id"].notna().all()
    assert set(adata.obs["project_id"]) == {"TCGA-BRCA", "TCGA-LUAD", "TCGA-COAD"}


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("id\ta\tb\nr1\t1\t2\nr2\t3\t4\t5\n", r"'.*bad\.tsv', line 3: ragged row, 4 fields"),
        ("id\ta\tb\nr1\t1\t2\nr2\t3\n", r"line 3: ragged row, 2 fields"),
        ("id\ta\tb\nr1\t1\t2\nr2\t3\tx7\n", r"line 3, column 'b': non-numeric cell 'x7'"),
        (
            "id\ta\tb\nr1\t1,5\t2,0\nr2\t3,1\t4,2\n",
            r"line 2, column 'a': non-numeric cell '1,5' \(a decimal comma\? numbers must use '\.'\)",
        ),
        ("id\ta\tb\nr1\t1\tNA\nr2\t3\t4\n", r"line 2, column 'b': missing value 'NA'"),
        ("id\ta\tb\nr1\t1\tinf\n", r"line 2, column 'b': non-finite value 'inf'"),
        ("id\ta\tb\nr1\t1\t2\nr1\t3\t4\nr3\t1\t1\n", r"duplicate sample id 'r1' on lines 2 and 3"),
    ],
)
def test_read_table_bad_files_name_file_line_and_problem(tmp_path, text, pattern):
    path = _write(tmp_path / "bad.tsv", text)
    with pytest.raises(ValueError, match=pattern):
        sag.io.read_table(path, orientation="samples_x_genes")


def test_read_table_duplicate_sample_in_header(tmp_path):
    path = _write(tmp_path / "dup.tsv.gz", "gene\ts1\ts2\ts1\ng1\t1\t2\t3\ng2\t1\t2\t3\n")
    with pytest.raises(
        ValueError, match=r"line 1: duplicate sample id 's1' in header fields 2 and 4"
    ):
        sag.io.read_table(path, orientation="genes_x_samples")


def test_read_table_bad_label_tables(tmp_path):
    path = _write(tmp_path / "m.tsv", "id\tg1\tg2\ns1\t1\t2\ns2\t3\t4\n")
    _write(tmp_path / "none.csv", "id,label\nx1,A\nx2,B\n")
    with pytest.raises(ValueError, match=r"'.*none\.csv': none of its 2 ids in column 'id'"):
        sag.io.read_table(path, labels=tmp_path / "none.csv", orientation="samples_x_genes")
    _write(tmp_path / "dup.csv", "id,label\ns1,A\ns2,B\ns1,C\n")
    with pytest.raises(ValueError, match=r"duplicate id 's1' in column 'id' at lines 2 and 4"):
        sag.io.read_table(path, labels=tmp_path / "dup.csv", orientation="samples_x_genes")
    with pytest.raises(ValueError, match=r"no label_column \['cell_type'\]"):
        sag.io.read_table(
            path,
            labels=tmp_path / "none.csv",
            label_column="cell_type",
            orientation="samples_x_genes",
        )
    with pytest.raises(FileNotFoundError, match=r"missing\.csv"):
        sag.io.read_table(path, labels=tmp_path / "missing.csv")
    # a wide table (a clinical table of hundreds of columns) is named by its first columns
    header = ["id", *(f"field_{i}" for i in range(300))]
    rows = [[name, *("x" * 300)] for name in ("s1", "s2")]
    _write(tmp_path / "wide.csv", "\n".join(",".join(r) for r in [header, *rows]) + "\n")
    with pytest.raises(
        ValueError, match=r"available columns: 'id', 'field_0', .*\(301 in all\)"
    ) as err:
        sag.io.read_table(
            path, labels=tmp_path / "wide.csv", label_column="stage", orientation="samples_x_genes"
        )
    assert len(str(err.value)) < 400
    with pytest.raises(ValueError, match=r"no id_column='sample'; .*columns: .*\(301 in all\)"):
        sag.io.read_table(
            path, labels=tmp_path / "wide.csv", id_column="sample", orientation="samples_x_genes"
        )


# --------------------------------------------------------------------------- TCGA barcodes


def test_parse_tcga_barcode():
    out = sag.io.parse_tcga_barcode(
        ["TCGA-A1-A0SB-01A-11R-A144-07", "tcga.a2.a0cm.11a", "TCGA-05-4244", "TCGA-AA-3518-10"]
    )
    first = out.iloc[0]
    assert first["patient"] == "TCGA-A1-A0SB"
    assert first["sample"] == "TCGA-A1-A0SB-01"
    assert (first["sample_type_code"], first["sample_type"], first["sample_type_short"]) == (
        "01",
        "Primary Tumor",
        "TP",
    )
    assert (first["portion"], first["analyte"], first["plate"], first["center"]) == (
        "11",
        "R",
        "A144",
        "07",
    )
    assert out.iloc[1]["barcode"] == "TCGA-A2-A0CM-11A"
    assert out.iloc[1]["sample_type"] == "Solid Tissue Normal"
    assert pd.isna(out.iloc[2]["sample"])  # None, or NaN under pandas 3
    assert out.iloc[3]["sample_type"] == "Blood Derived Normal"
    assert list(out["is_tumor"]) == [True, False, False, False]
    with pytest.raises(ValueError, match="'GTEX-1117F' is not a TCGA barcode"):
        sag.io.parse_tcga_barcode(["GTEX-1117F"])
    assert sag.io.parse_tcga_barcode(["GTEX-1117F"], errors="coerce")["patient"].isna().all()
    # an errors= of pandas that is not one of ours is refused, not read as "coerce"
    with pytest.raises(ValueError, match="errors='ignore' must be 'raise' or 'coerce'"):
        sag.io.parse_tcga_barcode(["GTEX-1117F"], errors="ignore")


def test_rows_named_by_tcga_barcodes_are_samples():
    """Bulk data read without sag.io (an h5ad of its own) is still called samples in messages
    when its obs_names are TCGA barcodes; single-cell data stays cells."""
    import anndata as ad

    from scautogenome.data import obs_noun

    X = np.zeros((3, 2), dtype=np.float32)
    barcodes = ["TCGA-A1-A0SB-01A", "TCGA-A2-A0CM-01A", "TCGA-05-4244-01A"]
    assert obs_noun(ad.AnnData(X, obs=pd.DataFrame(index=barcodes))) == "samples"
    cells = ["AAACATACAACCAC-1", "AAACATTGAGCTAC-1", "AAACATTGATCAGC-1"]
    assert obs_noun(ad.AnnData(X, obs=pd.DataFrame(index=cells))) == "cells"


@pytest.mark.parametrize("dtype", ["int8", "str", int, "nonsense"])
def test_read_table_takes_float_dtypes_only(ex, tmp_path, dtype):
    """An integer dtype overflowed, a text one failed in a NaN check: refused before any file
    (the label table's either) is read."""
    with pytest.raises(TypeError, match=r"dtype=.* must be a floating-point dtype"):
        sag.io.read_table(ex["expression_BRCA"], labels=tmp_path / "none.tsv", dtype=dtype)
    with pytest.raises(TypeError, match=r"must be a floating-point dtype"):
        sag.io.read_tcga(tmp_path / "none.tsv", dtype=dtype)
    assert sag.io.read_table(ex["expression_BRCA"], dtype="float64").X.dtype == np.float64


# --------------------------------------------------------------------------- read_tcga


def test_read_tcga_cohorts_inner_tumor_only(ex, tmp_path):
    paths = {c: ex[f"expression_{c}"] for c in ("BRCA", "LUAD", "COAD")}
    adata = sag.io.read_tcga(paths, tumor_only=True)
    assert adata.shape == (51, 300)  # 3 x (20 - 3 normals)
    assert adata.obs["project"].value_counts().to_dict() == {"BRCA": 17, "COAD": 17, "LUAD": 17}
    assert adata.obs["is_tumor"].all()
    assert set(adata.obs["sample_type"]) == {"Primary Tumor"}
    assert adata.uns["sag_io"]["join"] == "inner"
    assert adata.uns["sag_io"]["project_source"] == "cohort"
    normals = sag.io.read_tcga(paths, sample_types=["11"])
    assert normals.n_obs == 9
    # Firehose file names carry the cohort
    named = sag.io.read_tcga(list(paths.values()))
    assert named.uns["sag_io"]["project_source"] == "filename"
    assert named.obs["project"].notna().all()
    _roundtrip(adata, tmp_path)


def test_read_tcga_warns_of_normal_samples_labelled_by_their_cohort(ex, sag_caplog):
    """Normal tissue kept (no tumor_only, no sample_types) takes its cohort as its label, as a
    tumour does: a classifier of cohorts then trains on normals unless told, so it is said,
    with the way to leave them out; nothing is said where the filter was chosen."""
    paths = {c: ex[f"expression_{c}"] for c in ("BRCA", "LUAD", "COAD")}
    sag.io.read_tcga(paths)
    warned = [r.getMessage() for r in sag_caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1
    text = " ".join(warned[0].split())
    assert "9 of the 60 samples are not tumours (9 Solid Tissue Normal)" in text
    assert "obs['project'] is their cohort, as a tumour's" in text
    assert "tumor_only=True (CLI: --tumor-only)" in text
    sag_caplog.clear()
    sag.io.read_tcga(paths, tumor_only=True)
    sag.io.read_tcga(paths, sample_types=["01", "11"])
    kept = sag.io.read_tcga(paths, tumor_only=False)  # every sample, as asked: no warning
    assert not [r for r in sag_caplog.records if r.levelname == "WARNING"]
    assert kept.n_obs == 60
    assert kept.uns["sag_io"]["tumor_only"] is False


def test_read_tcga_outer_join_fills_zero_and_says_so(ex, tmp_path):
    brca = sag.io.read_table(ex["expression_BRCA"])
    X = brca.X.toarray() if sparse.issparse(brca.X) else brca.X
    frame = pd.DataFrame(X.T[:280], index=brca.var_names[:280], columns=brca.obs_names)
    frame.to_csv(tmp_path / "brca_short.tsv", sep="\t")
    paths = {"BRCA": tmp_path / "brca_short.tsv", "LUAD": ex["expression_LUAD"]}
    inner = sag.io.read_tcga(paths, join="inner")
    assert inner.n_vars == 280
    outer = sag.io.read_tcga(paths, join="outer")
    assert outer.n_vars == 300
    rec = outer.uns["sag_io"]
    assert rec["fill_value"] == 0.0
    assert list(rec["n_genes_filled_per_file"]) == [20, 0]
    assert "not measured" in rec["note"]
    missing = outer.var_names[outer.var["n_files"] == 1]
    assert len(missing) == 20
    sub = outer[outer.obs["project"] == "BRCA", missing].X
    assert (sub.toarray() if sparse.issparse(sub) else sub).sum() == 0
    _roundtrip(outer, tmp_path)


def test_read_tcga_clinical_of_firehose_with_patients_as_columns(ex, tmp_path):
    """Firehose's picked clinical table (variables x patients, lower-case barcodes, a
    'Composite Element REF' line) is read transposed, with the same columns as GDC's table, a
    numeric one numeric (a regression target)."""
    clin = pd.read_csv(ex["clinical"], sep="\t", na_values=["'--"])
    wanted = ["project_id", "gender", "age_at_index", "vital_status", "days_to_death"]
    picked = clin.set_index("case_submitter_id")[wanted].T
    picked.columns = [c.lower() for c in picked.columns]
    picked.loc["Composite Element REF"] = "value"
    picked = picked.loc[["Composite Element REF", *wanted]]
    picked.index.name = "Hybridization REF"
    path = tmp_path / "BRCA.clin.merged.picked.txt"
    picked.to_csv(path, sep="\t", na_rep="NA")
    asked = ["age_at_index", "days_to_death", "gender"]
    gdc = sag.io.read_tcga(ex["expression"], clinical=ex["clinical"], clinical_columns=asked)
    fire = sag.io.read_tcga(ex["expression"], clinical=path, clinical_columns=asked)
    for col in [*asked, "project"]:
        pd.testing.assert_series_equal(fire.obs[col], gdc.obs[col], check_categorical=False)
    assert fire.obs["age_at_index"].dtype.kind == "i"
    assert fire.uns["sag_io"]["clinical"]["id_column"] == "Hybridization REF"
    assert fire.uns["sag_io"]["clinical"]["label_table"] == (
        f"{path} (transposed: patients as rows)"
    )
    assert gdc.uns["sag_io"]["clinical"]["label_table"] == str(ex["clinical"])
    _roundtrip(fire, tmp_path)
    # a real picked file has no project column: the error says to name its variables
    no_project = picked.drop(index="project_id")
    no_project_path = tmp_path / "ALL.clin.merged.picked.txt"
    no_project.to_csv(no_project_path, sep="\t", na_rep="NA")
    with pytest.raises(ValueError, match=r"no project column .* pass clinical_columns= the"):
        sag.io.read_tcga(ex["expression"], clinical=no_project_path)
    # the same as a DataFrame; a variable named twice is refused
    picked.loc["age_at_index", picked.columns[0]] = 50
    assert sag.io.read_tcga(ex["expression"], clinical=picked.reset_index()).n_obs == 60
    twice = pd.concat([picked, picked.loc[["gender"]]])
    with pytest.raises(
        ValueError, match=r"patients as columns .* repeats the variable\(s\) \['gender'\]"
    ):
        sag.io.read_tcga(ex["expression"], clinical=twice.reset_index())


def test_read_tcga_clinical_project_and_columns(ex, tmp_path):
    adata = sag.io.read_tcga(
        ex["expression"], clinical=ex["clinical"], clinical_columns=["gender", "vital_status"]
    )
    assert adata.uns["sag_io"]["project_source"] == "clinical"
    assert adata.obs["project"].value_counts().to_dict() == {"BRCA": 20, "COAD": 20, "LUAD": 20}
    assert set(adata.obs["gender"].dropna()) <= {"female", "male"}
    assert adata.uns["sag_io"]["clinical"]["id_column"] == "case_submitter_id"
    _roundtrip(adata, tmp_path)
    # the project column asked for is copied as it is, besides the label
    asked = sag.io.read_tcga(
        ex["expression"], clinical=ex["clinical"], clinical_columns=["project_id"]
    )
    assert set(asked.obs["project_id"].dropna()) == {"TCGA-BRCA", "TCGA-COAD", "TCGA-LUAD"}
    assert asked.obs["project"].value_counts().to_dict() == {"BRCA": 20, "COAD": 20, "LUAD": 20}
    # GDC's newer column names ("cases.submitter_id", "project.project_id"), lower-case barcodes
    clin = pd.read_csv(ex["clinical"], sep="\t")
    clin = clin.rename(
        columns={"case_submitter_id": "cases.submitter_id", "project_id": "project.project_id"}
    )
    clin["cases.submitter_id"] = clin["cases.submitter_id"].str.lower()
    newer = sag.io.read_tcga(ex["expression"], clinical=clin)
    assert newer.obs["project"].value_counts().to_dict() == {"BRCA": 20, "COAD": 20, "LUAD": 20}
    # a misspelt column of a wide clinical table: the closest names, 20 columns at most
    wide = pd.concat(
        [clin, pd.DataFrame({f"field_{i}": [0] * len(clin) for i in range(300)})], axis=1
    )
    for argument, typo in (
        ("clinical_id_column", "cases.submiter_id"),
        ("project_column", "project.projct_id"),
    ):
        with pytest.raises(
            ValueError, match=rf"no {argument}='{typo}'; closest: .*\(\d+ in all\)"
        ) as err:
            sag.io.read_tcga(ex["expression"], clinical=wide, **{argument: typo})
        assert len(str(err.value)) < 800


def test_read_tcga_clinical_missing_value_words_of_the_bcr_are_missing(ex, tmp_path):
    """TCGA's BCR tables and the TCGA-CDR mark missing values with bracketed words: missing,
    as GDC's '-- is, not classes of a label, and a numeric column with them stays numeric."""
    clin = pd.read_csv(ex["clinical"], sep="\t", dtype=str)
    words = ["[Not Available]", "[Not Applicable]", "[Unknown]", "[Discrepancy]", "[Not Evaluated]"]
    n = len(clin)
    clin["stage"] = [
        words[i] if i < len(words) else ("Stage I", "Stage II")[i % 2] for i in range(n)
    ]
    clin["age"] = ["[Not Available]" if i % 7 == 0 else str(40 + i) for i in range(n)]
    path = tmp_path / "cdr.tsv"
    clin.to_csv(path, sep="\t", index=False)
    adata = sag.io.read_tcga(ex["expression"], clinical=path, clinical_columns=["stage", "age"])
    assert set(adata.obs["stage"].dropna()) == {"Stage I", "Stage II"}
    assert adata.obs["stage"].isna().any()
    assert pd.api.types.is_float_dtype(adata.obs["age"])
    assert adata.obs["age"].isna().any()
    assert adata.obs["age"].notna().any()


def test_read_tcga_errors(ex, tmp_path):
    with pytest.raises(ValueError, match=r"sample 'TCGA-.*' is in both '.*BRCA.*' and '.*BRCA.*'"):
        sag.io.read_tcga({"BRCA": ex["expression_BRCA"], "X": ex["expression_BRCA"]})
    path = _write(tmp_path / "gtex.tsv", "gene\tGTEX-1\tGTEX-2\ng1\t1\t2\ng2\t1\t2\ng3\t0\t1\n")
    with pytest.raises(ValueError, match=r"'.*gtex\.tsv': 2 of 2 sample ids are not TCGA barcodes"):
        sag.io.read_tcga(path, cohort="BRCA")
    with pytest.raises(ValueError, match="join="):
        sag.io.read_tcga(path, join="left")
    with pytest.raises(ValueError, match="sample type codes"):
        sag.io.read_tcga(path, sample_types=["77"])
    with pytest.raises(TypeError, match="tumor_only='yes' must be True or False"):
        sag.io.read_tcga(path, tumor_only="yes")  # a text is no switch (it read as True)


# --------------------------------------------------------------------------- read_maf


def _maf_frame(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", comment="#", dtype=str)


def test_a_maf_read_as_a_matrix_is_said_to_be_one(ex, tmp_path):
    """A MAF given where a matrix is read (read_table, the CLI's --table) failed on its first
    text cell ("non-numeric cell 'WUGSC'"): the error says it is a MAF and what reads it."""
    with pytest.raises(ValueError, match="non-numeric") as err:
        sag.io.read_table(ex["maf"])
    text = " ".join(str(err.value).split())
    assert "is a MAF (mutations: Hugo_Symbol, Tumor_Sample_Barcode columns), not a matrix" in text
    assert "sag.io.read_maf" in text
    # a table of other text columns: the message as before
    path = tmp_path / "t.tsv"
    path.write_text("gene\tS1\tS2\nA\t1\tx\n")
    with pytest.raises(ValueError, match="non-numeric cell 'x'") as err:
        sag.io.read_table(path)
    assert "MAF" not in str(err.value)


def test_read_maf_binary_matrix_default_classes(ex, tmp_path):
    adata = sag.io.read_maf(ex["maf"])
    maf = _maf_frame(ex["maf"])
    assert isinstance(adata.X, sparse.csr_matrix)
    assert set(np.unique(adata.X.data)) == {1.0}
    assert adata.n_obs == maf["Tumor_Sample_Barcode"].nunique()  # all-silent samples are zero rows
    counted = maf[maf["Variant_Classification"].isin(sag.io._maf.DEFAULT_VARIANT_CLASSES)]
    expect = counted.groupby(["Tumor_Sample_Barcode", "Hugo_Symbol"]).size()
    assert adata.X.nnz == len(expect)
    s, g = expect.index[0]
    assert adata[s, g].X.toarray().item() == 1.0
    silent_only = maf.groupby("Tumor_Sample_Barcode")["Variant_Classification"].apply(
        lambda v: set(v) <= {"Silent", "Intron", "3'UTR", "5'Flank", "IGR", "Splice_Region"}
    )
    for sample in silent_only[silent_only].index:
        assert adata.obs.loc[sample, "n_mutated_genes"] == 0
    assert "Unknown" not in adata.var_names
    assert adata.obs["is_tumor"].all()
    assert adata.uns["sag_io"]["class_counts"]["Silent"] > 0
    _roundtrip(adata, tmp_path)


def test_read_maf_classes_levels_and_samples(ex, tmp_path):
    everything = sag.io.read_maf(ex["maf"], variant_classes="all")
    default = sag.io.read_maf(ex["maf"])
    assert everything.X.nnz > default.X.nnz
    only_missense = sag.io.read_maf(ex["maf"], variant_classes=["Missense_Mutation"])
    assert only_missense.X.nnz < default.X.nnz
    with pytest.raises(ValueError, match="Missense"):
        sag.io.read_maf(ex["maf"], variant_classes=["Missense"])
    patients = sag.io.read_maf(ex["maf"], level="patient")
    assert all(len(p) == 12 for p in patients.obs_names)
    expr = sag.io.read_tcga(ex["expression"], clinical=ex["clinical"], tumor_only=True)
    wanted = list(expr.obs["sample"].astype(str))
    with pytest.warns(UserWarning, match="not in samples="):
        matched = sag.io.read_maf(
            ex["maf"], level="sample", samples=wanted, genes=["TP53", "KRAS", "ESR1"]
        )
    assert list(matched.obs_names) == wanted
    assert list(matched.var_names) == ["TP53", "KRAS", "ESR1"]
    assert matched.uns["sag_io"]["n_samples_added"] >= 6  # tumours with no mutation called
    assert matched[:, "ESR1"].X.nnz == 0
    assert matched.X.sum() > 0
    by_cohort = sag.io.read_maf({"PAN": ex["maf"]})
    assert set(by_cohort.obs["project"]) == {"PAN"}
    _roundtrip(matched, tmp_path)


def test_read_maf_bad_files(tmp_path):
    header = "#version 2.4\nHugo_Symbol\tVariant_Classification\tTumor_Sample_Barcode\n"
    path = _write(
        tmp_path / "nocol.maf", "#version 2.4\nHugo_Symbol\tTumor_Sample_Barcode\nTP53\tS1\n"
    )
    with pytest.raises(
        ValueError, match=r"'.*nocol\.maf', line 2: no column\(s\) \['Variant_Classification'\]"
    ):
        sag.io.read_maf(path)
    path = _write(tmp_path / "empty.maf.gz", header + "TP53\tMissense_Mutation\tS1\n\tSilent\tS2\n")
    with pytest.raises(ValueError, match=r"'.*empty\.maf\.gz', line 4: empty Hugo_Symbol"):
        sag.io.read_maf(path)
    path = _write(
        tmp_path / "ragged.maf", header + "TP53\tMissense_Mutation\tS1\nKRAS\tSilent\tS2\tX\n"
    )
    with pytest.raises(ValueError, match=r"'.*ragged\.maf'.*line 4"):
        sag.io.read_maf(path)
    ok = _write(tmp_path / "ok.maf", header + "TP53\tMissense_Mutation\tS1\n")
    with pytest.raises(ValueError, match="needs TCGA barcodes"):
        sag.io.read_maf(ok, level="patient")
    bare = _write(tmp_path / "bare.maf", header)
    with pytest.raises(ValueError, match=r"'.*bare\.maf': no variant rows after the header"):
        sag.io.read_maf(bare)
    # the samples named: all present, none mutated
    assert sag.io.read_maf(bare, samples=["S1", "S2"]).shape == (2, 0)


# --------------------------------------------------------------------------- read_autogenome


def test_read_autogenome_example(ex, tmp_path, sag_caplog):

    # threads, queues and GPUs change no result: logged, not warned about (sag picks its own)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # anndata >= 0.13 reads an option pandas 3 deprecates: not this code's warning
        warnings.filterwarnings("ignore", message=".*future.infer_string.*")
        adata, cfg = sag.io.read_autogenome(ex["autogenome_config"])
    assert re.search(
        r"settings of the machine not used .*num_threads.*capacity.*num_gpus", sag_caplog.text
    )
    assert adata.shape == (60, 50)
    assert adata.obs["autogenome_split"].value_counts().to_dict() == {"train": 48, "test": 12}
    assert set(adata.obs["label"]) == {"BRCA", "LUAD", "COAD"}
    assert adata.var_names[0] == "ESR1"
    assert cfg["mode"] == "resnet"
    assert cfg["trainer"]["max_epochs"] == 50
    assert cfg["space"]["common"]["lr"] == {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}
    assert cfg["space"]["resnet"] == {"n_blocks": [1, 2, 3], "units": [16, 32, 64]}
    full = sag.config.load(cfg)
    assert full["space"]["common"]["batch_size"] == 32
    rec = adata.uns["sag_io"]
    assert rec["mapped"]["search_mode"] == "mode"
    assert rec["model_dir"] == "runs/tcga_example"
    assert "data_loader.num_threads" in rec["no_counterpart"]
    back = _roundtrip(adata, tmp_path)
    assert json.loads(back.uns["sag_io"]["sag_config"]) == cfg


def _write_config(tmp_path: Path, files: dict[str, str | bytes], config: dict) -> Path:
    """Write ``files`` and ``config`` (as config.json) into ``tmp_path``; the config's path."""
    for name, text in files.items():
        (tmp_path / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def _ag_files(
    tmp_path: Path, config: dict, features: str, labels: str, names: str | None = None
) -> Path:
    files = {"x.tsv": features, "y.txt": labels}
    if names is not None:
        files["names.txt"] = names
    return _write_config(tmp_path, files, config)


def test_read_autogenome_modes_unknown_keys_and_flat_layout(tmp_path):
    config = {
        "train_data_path": "x.tsv",
        "label_path": "y.txt",
        "feature_names_path": "names.txt",
        "delimiter": "\t",
        "search_mode": {"mode": "ENAS", "max_trials": 7, "first_layer_neurons": 2048},
        "learning_rate": 0.003,
        "epochs": 5,
        "frobnicate": True,
    }
    path = _ag_files(tmp_path, config, "1\t2\t3\n4\t5\t6\n", "a\nb\n", "g1\ng2\ng3\n")
    with pytest.warns(UserWarning, match="sag") as record:
        adata, cfg = sag.io.read_autogenome(path)
    text = " ".join(str(w.message) for w in record)
    assert "unknown keys ['frobnicate']" in text
    assert list(adata.uns["sag_io"]["unknown_keys"]) == ["frobnicate"]
    common = {
        "budget": {"n_trials": 7},
        "trainer": {"max_epochs": 5},
        "space": {"common": {"lr": 0.003}},
    }
    if "rrfcn" in sag.config._config.MODES:  # ENAS searches RRFCN architectures
        # with one learning rate of its own (ENAS reads no space['common'])
        del common["space"]
        rrfcn = {"first_width": 2048, "child_lr": 0.003}
        assert cfg == {"mode": "rrfcn", "rrfcn": rrfcn, **common}
    else:
        assert "ENAS has no sag.config mode" in text
        assert "first_layer_neurons" in text
        assert cfg == {"mode": "auto", **common}
    sag.config.load(cfg)
    # Res-VAE: unsupervised, a config of sag.tl.embed
    config["search_mode"] = "Res-VAE"
    config.pop("frobnicate")
    path.write_text(json.dumps(config))
    adata, cfg = sag.io.read_autogenome(path)
    assert adata.uns["sag_io"]["task"] == "embed"
    assert cfg == {"mode": "resvae", "trainer": {"max_epochs": 5}, "space": {"lr": 0.003}}
    assert adata.uns["sag_io"]["mapped"]["search_mode"] == "mode (sag.tl.embed)"
    sag.config.load(cfg)
    # regression loss: numeric labels
    config.update({"search_mode": "MLP", "loss": "mean-square error", "num_neurons": [8, 16]})
    path.write_text(json.dumps(config))
    (tmp_path / "y.txt").write_text("1.5\n2.5\n")
    adata, cfg = sag.io.read_autogenome(path)
    assert adata.obs["label"].dtype.kind == "f"
    assert cfg["space"]["mlp"] == {"units": [8, 16]}
    assert cfg["trainer"]["loss"] == "mse"


def test_read_autogenome_ids_header_and_id_labels(tmp_path):
    config = {
        "data_loader": {"train_data_path": "x.tsv", "train_label_path": "y.txt", "delimiter": "\t"}
    }
    path = _ag_files(
        tmp_path, config, "id\tg1\tg2\ns1\t1\t2\ns2\t3\t4\ns3\t5\t6\n", "s3\tc\ns1\ta\ns2\tb\n"
    )
    adata, cfg = sag.io.read_autogenome(path)
    assert list(adata.obs_names) == ["s1", "s2", "s3"]
    assert list(adata.var_names) == ["g1", "g2"]
    assert list(adata.obs["label"]) == ["a", "b", "c"]
    assert cfg == {"mode": "auto"}


def _ours(caught) -> list:
    """The warnings caught, less anndata 0.13's own under pandas 3 (an option it reads)."""
    return [w for w in caught if "future.infer_string" not in str(w.message)]


def test_read_table_announces_a_large_file_before_parsing_it(tmp_path, monkeypatch, sag_caplog):
    """A 600 MB table parsed for 40 s before its first line was logged."""
    from scautogenome.io import _parse

    path = _write(tmp_path / "m.tsv", "gene\ts1\ts2\ng1\t1\t2\ng2\t0\t1\n")
    sag.io.read_table(path, orientation="genes_x_samples")
    assert "reading expression table" not in sag_caplog.text  # a small file: nothing to wait for
    monkeypatch.setattr(_parse, "ANNOUNCED_BYTES", 10)
    sag.io.read_table(path, orientation="genes_x_samples")
    assert f"reading expression table {str(path)!r} (0 MB on disk)" in sag_caplog.text


def test_read_maf_announces_a_large_file_before_parsing_it(tmp_path, monkeypatch, sag_caplog):
    """As read_table: a 182 MB MAF was parsed for 5 s before its first line was logged."""
    from scautogenome.io import _parse

    path = _write(tmp_path / "m.maf", _MAF_HEADER + "TP53\tMissense_Mutation\tTCGA-A1-A0SB-01A\n")
    sag.io.read_maf(path)
    assert "reading MAF file" not in sag_caplog.text  # a small file: nothing to wait for
    monkeypatch.setattr(_parse, "ANNOUNCED_BYTES", 10)
    sag.io.read_maf(path)
    assert f"reading MAF file {str(path)!r} (0 MB on disk)" in sag_caplog.text


def test_read_table_repeated_gene_ids_are_made_unique_with_one_warning(tmp_path):
    """Only sag's own warning: anndata's "call .var_names_make_unique" told the user to do
    what sag does."""
    path = _write(tmp_path / "m.tsv", "gene\ts1\ts2\ng1\t1\t2\ng1\t3\t4\ng2\t0\t1\n")
    with pytest.warns(UserWarning, match="gene ids repeat") as caught:
        adata = sag.io.read_table(path, orientation="genes_x_samples")
    assert [str(w.message).split(": ", 1)[-1] for w in _ours(caught)] == [
        "1 gene ids repeat (e.g. ['g1']); made unique by appending '-1', '-2', ..."
    ]
    assert list(adata.var_names) == ["g1", "g1-1", "g2"]


def test_read_autogenome_warnings_point_at_the_users_line(tmp_path):
    """A key given under two of its names is warned about at the caller's line, not at
    a line of the reader six calls down."""
    config = {
        "data_loader": {"train_data_path": "x.tsv", "train_label_path": "y.txt", "delimiter": "\t"},
        "model_trainer": {"learning_rate_range": [1e-4, 1e-2], "lr_range": [1e-3, 1e-2]},
    }
    path = _ag_files(tmp_path, config, "id\tg1\tg2\ns1\t1\t2\ns2\t3\t4\n", "s1\ta\ns2\tb\n")
    with pytest.warns(UserWarning, match="lr_range repeats") as caught:
        sag.io.read_autogenome(path)
    assert {w.filename for w in _ours(caught)} == {__file__}


@pytest.mark.parametrize(
    ("features", "labels", "names", "pattern"),
    [
        (
            "1,2\n3,4\n",
            "a\nb\nc\nd\n",
            None,
            r"'.*y\.txt' has 4 labels for the 2 rows of features file '.*x\.tsv'",
        ),
        ("1,2\n3,4\n", "a\nb\n", "g1\ng2\ng3\n", r"'.*names\.txt' has 3 names for the 2 columns"),
        ("1,2\n3,4,5\n", "a\nb\n", None, r"'.*x\.tsv', line 2: ragged row, 3 fields"),
        ("1,2\n3,oops\n", "a\nb\n", None, r"'.*x\.tsv', line 2, field 2: non-numeric cell 'oops'"),
    ],
)
def test_read_autogenome_bad_files(tmp_path, features, labels, names, pattern):
    config = {
        "data_loader": {"train_data_path": "x.tsv", "train_label_path": "y.txt", "delimiter": ","}
    }
    if names is not None:
        config["data_loader"]["feature_names_path"] = "names.txt"
    path = _ag_files(tmp_path, config, features, labels, names)
    with pytest.raises(ValueError, match=pattern):
        sag.io.read_autogenome(path)


def test_read_autogenome_bad_config(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"data_loader": {\n "train_data_path": "x.tsv",\n}')
    with pytest.raises(ValueError, match=r"'.*c\.json', line [23]: not valid JSON"):
        sag.io.read_autogenome(path)
    path.write_text(json.dumps({"search_mode": "MLP"}))
    with pytest.raises(ValueError, match="no training features file"):
        sag.io.read_autogenome(path)
    path = _ag_files(
        tmp_path,
        {"train_data_path": "x.tsv", "label_path": "y.txt", "search_mode": "XGBoost"},
        "1\t2\n",
        "a\n",
    )
    with pytest.raises(ValueError, match=re.escape("search_mode='XGBoost' is not a search mode")):
        sag.io.read_autogenome(path)
    path.write_text(
        json.dumps({"train_data_path": "x.tsv", "label_path": "y.txt", "epochs": "many"})
    )
    # the AutoGenome key at fault is named, with the sag key it maps onto
    with pytest.raises(ValueError, match=r"epochs='many' \(sag config trainer\.max_epochs\)"):
        sag.io.read_autogenome(path)


def test_read_autogenome_numbers_written_as_text(tmp_path):
    """Numbers written as JSON strings are read as the numbers, wherever a number goes."""
    config = {
        "data_loader": {"train_data_path": "x.csv", "train_label_path": "y.txt"},
        "model_trainer": {"epochs": "3", "batch_size": "16", "learning_rate": "0.001"},
        "search_mode": {"mode": "MLP", "max_trial_num": "5"},
        "search_space": {"num_neurons": ["16", "32"], "keep_prob": "0.8"},
    }
    path = _write_config(tmp_path, {"x.csv": "1,2\n3,4\n", "y.txt": "a\nb\n"}, config)
    _, cfg = sag.io.read_autogenome(path)
    assert cfg == {
        "mode": "mlp",
        "budget": {"n_trials": 5},
        "trainer": {"max_epochs": 3},
        "space": {
            "mlp": {"units": [16, 32]},
            "common": {"lr": 0.001, "batch_size": 16, "input_keep": 0.8},
        },
    }
    sag.config.load(cfg)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("learning_rate", [0.01, 0.001], [0.01, 0.001]),
        ("learning_rate", [0.001, 0.01], [0.001, 0.01]),  # choices in either order
        ("learning_rate_range", [0.001, 0.01], {"type": "float", "low": 0.001, "high": 0.01}),
    ],
)
def test_read_autogenome_learning_rate_list_is_choices_range_only_by_name(
    tmp_path, key, value, expected
):
    config = {
        "data_loader": {"train_data_path": "x.csv", "train_label_path": "y.txt"},
        "model_trainer": {key: value},
    }
    path = _write_config(tmp_path, {"x.csv": "1,2\n3,4\n", "y.txt": "a\nb\n"}, config)
    _, cfg = sag.io.read_autogenome(path)
    lr = cfg["space"]["common"]["lr"]
    assert lr == ({**expected, "log": True} if isinstance(expected, dict) else expected)


def test_read_autogenome_res_vae_is_an_embed_config(tmp_path):
    """A Res-VAE config becomes one of sag.tl.embed: its trainer and Res-VAE space keys on
    sag.config.default('resvae')'s sections, the latent size and the loss mse as embed's
    n_latent and likelihood; keys without a counterpart there are not listed as mapped."""
    config = {
        "data_loader": {"train_data_path": "x.csv"},
        "model_trainer": {
            "epochs": 3,
            "batch_size": 16,
            "learning_rate_range": [1e-3, 1e-2],
            "momentum": 0.9,
        },
        "loss": "mse",
        "search_mode": "Res-VAE",
        "search_space": {
            "num_layers": [3],
            "first_layer_neurons": [64],
            "decay_ratio": [0.5],
            "keep_prob": [0.8],
            "latent_dim": 4,
            "num_blocks": [2],
            "MLP": {"num_neurons": [8]},
        },
    }
    path = _write_config(tmp_path, {"x.csv": "1,2,3\n3,4,5\n5,6,7\n"}, config)
    with pytest.warns(UserWarning, match="keys not mapped") as record:
        adata, cfg = sag.io.read_autogenome(path)
    assert cfg == {
        "mode": "resvae",
        "trainer": {"max_epochs": 3},
        "space": {
            "n_layers": [3],
            "first_width": [64],
            "decay": [0.5],
            "input_keep": [0.8],
            "lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
            "batch_size": 16,
        },
    }
    full = sag.config.load(cfg)  # an embed config, whole
    assert full["space"]["first_width"] == [64]
    rec = adata.uns["sag_io"]
    assert rec["task"] == "embed"
    assert dict(rec["embed_args"]) == {"n_latent": 4, "likelihood": "mse"}
    not_mapped = {
        "model_trainer.momentum",
        "search_space.num_blocks",
        "search_space.MLP.num_neurons",
    }
    assert not_mapped <= set(rec["no_counterpart"])
    assert not not_mapped & set(rec["mapped"])
    assert rec["mapped"]["search_space.latent_dim"].startswith("n_latent")
    assert "search space for 'resvae'" not in " ".join(str(w.message) for w in record)
    back = _roundtrip(adata, tmp_path)
    assert dict(back.uns["sag_io"]["embed_args"]) == {"n_latent": 4, "likelihood": "mse"}
    # a list of several latent sizes is not one n_latent
    config["search_space"]["latent_dim"] = [4, 8]
    path.write_text(json.dumps(config))
    with pytest.warns(UserWarning, match=r"latent_dim: sag\.tl\.embed takes one latent size"):
        adata, _ = sag.io.read_autogenome(path)
    assert "n_latent" not in adata.uns["sag_io"]["embed_args"]


def test_read_autogenome_enas_widths_above_the_features_are_warned(tmp_path):
    config = {
        "data_loader": {"train_data_path": "x.csv", "train_label_path": "y.txt"},
        "search_mode": "ENAS",
        "search_space": {"first_layer_neurons": 2048, "num_neurons": [16, 32, 64]},
    }
    features = "\n".join(",".join(["1"] * 20) for _ in range(2)) + "\n"
    path = _write_config(tmp_path, {"x.csv": features, "y.txt": "a\nb\n"}, config)
    with pytest.warns(UserWarning, match="ENAS widths") as record:
        adata, cfg = sag.io.read_autogenome(path)
    text = " ".join(str(w.message) for w in record)
    assert "search_space.first_layer_neurons=2048 is capped at 16" in text
    assert "search_space.num_neurons [32, 64] above the first width are dropped" in text
    mapped = adata.uns["sag_io"]["mapped"]
    assert mapped["search_space.first_layer_neurons"].startswith("rrfcn.first_width (capped at 16")
    assert cfg["rrfcn"] == {"first_width": 2048, "widths": [16, 32, 64]}  # as the JSON says


@pytest.mark.parametrize("header", ["cancer_type", "CellType", "x"])
def test_read_autogenome_labels_header_of_any_word(tmp_path, header, sag_caplog):
    """An extra first line is a header whatever its word (logged), when no other line holds it."""
    files = {"x.csv": "1,2\n3,4\n5,6\n", "y.txt": f"{header}\nA\nB\nA\n"}
    path = _ag(tmp_path, files, train_data_path="x.csv", train_label_path="y.txt")
    adata, _ = sag.io.read_autogenome(path)
    assert adata.obs["label"].tolist() == ["A", "B", "A"]
    assert f"line 1 ({header!r}) read as a header" in sag_caplog.text


def test_read_autogenome_labels_extra_line_that_is_a_label_is_an_error(tmp_path):
    files = {"x.csv": "1,2\n3,4\n5,6\n", "y.txt": "B\nA\nB\nA\n"}
    path = _ag(tmp_path, files, train_data_path="x.csv", train_label_path="y.txt")
    with pytest.raises(
        ValueError,
        match=r"4 labels for the 3 rows.*first line \('B'\) is not read as a header, as it is a label further down",
    ):
        sag.io.read_autogenome(path)


def test_read_autogenome_empty_label_line_is_missing(tmp_path):
    files = {"x.csv": "1,2\n3,4\n5,6\n", "y.txt": "A\n\nB\n\n"}
    path = _ag(tmp_path, files, train_data_path="x.csv", train_label_path="y.txt")
    adata, _ = sag.io.read_autogenome(path)
    assert adata.obs["label"].isna().tolist() == [False, True, False]
    # counted in the error when the counts disagree
    (tmp_path / "y.txt").write_text("A\n\nB\nA\n")
    with pytest.raises(ValueError, match=r"4 labels \(1 of them empty lines, read as missing"):
        sag.io.read_autogenome(path)


def test_read_autogenome_unclosed_quote_in_labels_is_named(tmp_path):
    """A label opening a double quote that runs over later lines is named, not read as blank
    lines of missing labels (the quoted text swallowed every line after it)."""
    labels = ["A", "B", "C", "A", "B", '"A', "C", "A", "B", "C"]
    files = {"x.csv": "1,2\n" * 10, "y.txt": "\n".join(labels) + "\n"}
    path = _ag(tmp_path, files, train_data_path="x.csv", train_label_path="y.txt")
    with pytest.raises(ValueError, match=r"line 6: a label opens a double quote .* lines 6-10"):
        sag.io.read_autogenome(path)


def test_read_autogenome_ascending_learning_rate_pair_is_noted(tmp_path, sag_caplog):
    """Two ascending rates under learning_rate are choices, with a note naming
    learning_rate_range for a range."""
    config = {"model_trainer": {"learning_rate": [1e-4, 1e-2]}}
    files = {"x.csv": "1,2\n3,4\n", "y.txt": "a\nb\n"}
    path = _ag(tmp_path, files, config, train_data_path="x.csv", train_label_path="y.txt")
    _, cfg = sag.io.read_autogenome(path)
    assert cfg["space"]["common"]["lr"] == [1e-4, 1e-2]
    assert "name it learning_rate_range" in sag_caplog.text


@pytest.mark.parametrize("text", ["nan", "inf"])
def test_read_autogenome_non_finite_text_is_refused_at_read_time(tmp_path, text):
    config = {"search_space": {"keep_prob": text}}
    files = {"x.csv": "1,2\n3,4\n", "y.txt": "a\nb\n"}
    path = _ag(tmp_path, files, config, train_data_path="x.csv", train_label_path="y.txt")
    with pytest.raises(ValueError, match=rf"search_space.keep_prob='{text}'.*not a finite number"):
        sag.io.read_autogenome(path)


def test_read_autogenome_features_delimiter_errors_point_at_the_json(tmp_path):
    files = {"x.csv": "1\t2\n3\t4\n", "y.txt": "a\nb\n"}
    path = _ag(tmp_path, files, train_data_path="x.csv", train_label_path="y.txt")
    with pytest.raises(ValueError, match=r"Set \"delimiter\" in the config's data_loader") as err:
        sag.io.read_autogenome(path)
    assert "sep=" not in str(err.value)
    (tmp_path / "x.csv").write_text("1,2,\n3,4,\n")
    with pytest.raises(ValueError, match=r"every line ends with the delimiter ','"):
        sag.io.read_autogenome(path)
    bad = _ag(tmp_path, files, delimiter="pipe", train_data_path="x.csv", train_label_path="y.txt")
    with pytest.raises(ValueError, match=r"config .*delimiter='pipe' is not one character"):
        sag.io.read_autogenome(bad)


def _ag(tmp_path: Path, files: dict[str, str | bytes], config: dict | None = None, **loader):
    """An AutoGenome config whose data_loader holds ``loader`` (delimiter ',' unless given)."""
    cfg = {"data_loader": {"delimiter": ",", **loader}, **(config or {})}
    return _write_config(tmp_path, files, cfg)


def test_read_autogenome_splits_headers_reordered_or_rejected(tmp_path):
    files = {
        "tr.csv": "TP53,EGFR,ESR1\n1,100,0\n2,200,0\n",
        "te.csv": "ESR1,TP53,EGFR\n50,3,300\n",
        "tr.txt": "a\nb\n",
        "te.txt": "a\n",
    }
    loader = dict(
        train_data_path="tr.csv",
        train_label_path="tr.txt",
        test_data_path="te.csv",
        test_label_path="te.txt",
    )
    adata, _ = sag.io.read_autogenome(_ag(tmp_path, files, **loader))
    assert adata.var_names.tolist() == ["TP53", "EGFR", "ESR1"]
    np.testing.assert_array_equal(adata["test_0"].X, [[3, 300, 50]])
    (tmp_path / "te.csv").write_text("ESR1,TP53,KRAS\n50,3,300\n")
    with pytest.raises(ValueError, match=r"te\.csv.*tr\.csv.*'KRAS'"):
        sag.io.read_autogenome(tmp_path / "config.json")


def test_read_autogenome_eval_split_is_val(tmp_path):
    files = {"tr.csv": "1,2\n3,4\n", "ev.csv": "5,6\n", "te.csv": "7,8\n", "y.txt": "a\nb\n"}
    loader = dict(train_data_path="tr.csv", train_label_path="y.txt", eval_data_path="ev.csv")
    adata, _ = sag.io.read_autogenome(_ag(tmp_path, files, **loader, test_data_path="te.csv"))
    split = adata.obs["autogenome_split"]
    assert split.tolist() == ["train", "train", "val", "test"]
    assert split.cat.categories.tolist() == ["train", "val", "test"]


def test_read_autogenome_labels_with_another_delimiter_join_on_ids(tmp_path):
    files = {
        "x.csv": "id,g1,g2\ns1,1,2\ns2,3,4\ns3,5,6\n",
        "y.tsv": "s3\tLUAD\ns1\tBRCA\ns2\tCOAD\n",
    }
    adata, _ = sag.io.read_autogenome(
        _ag(tmp_path, files, train_data_path="x.csv", train_label_path="y.tsv")
    )
    assert adata.obs["label"].tolist() == ["BRCA", "COAD", "LUAD"]
    (tmp_path / "x.csv").write_text("1,2\n3,4\n5,6\n")
    with pytest.raises(ValueError, match=r"two columns .* no sample ids"):
        sag.io.read_autogenome(tmp_path / "config.json")
    # without ids a comma stays inside the label
    (tmp_path / "y.tsv").write_text("B cell, naive\nT cell\nB cell, naive\n")
    (tmp_path / "config.json").write_text(
        json.dumps({"data_loader": {"train_data_path": "x.csv", "train_label_path": "y.tsv"}})
    )
    adata, _ = sag.io.read_autogenome(tmp_path / "config.json")
    assert adata.obs["label"].tolist() == ["B cell, naive", "T cell", "B cell, naive"]


def test_read_autogenome_missing_labels_are_nan(tmp_path):
    files = {"x.csv": "1,2\n3,4\n5,6\n7,8\n", "y.txt": "BRCA\nNA\nLUAD\nnan\n"}
    adata, _ = sag.io.read_autogenome(
        _ag(tmp_path, files, train_data_path="x.csv", train_label_path="y.txt")
    )
    assert adata.obs["label"].cat.categories.tolist() == ["BRCA", "LUAD"]
    assert adata.obs["label"].isna().tolist() == [False, True, False, True]
    files = {"x.csv": "id,g1\ns1,1\ns2,3\ns3,5\n", "y.csv": "s1,BRCA\ns2,\ns3,NA\n"}
    adata, _ = sag.io.read_autogenome(
        _ag(tmp_path, files, train_data_path="x.csv", train_label_path="y.csv")
    )
    assert adata.obs["label"].tolist()[0] == "BRCA"
    assert adata.obs["label"].isna().sum() == 2


def test_read_autogenome_utf8_bom(tmp_path):
    bom = "\ufeff"
    files = {
        "x.csv": f"{bom}TP53,EGFR\r\n1,2\r\n3,4\r\n5,6\r\n",
        "y.txt": f"{bom}BRCA\r\nBRCA\r\nLUAD\r\n",
        "n.txt": f"{bom}TP53\r\nEGFR\r\n",
    }
    path = _ag(
        tmp_path,
        files,
        train_data_path="x.csv",
        train_label_path="y.txt",
        feature_names_path="n.txt",
    )
    path.write_bytes((bom + path.read_text()).encode())
    adata, _ = sag.io.read_autogenome(path)
    assert adata.obs["label"].cat.categories.tolist() == ["BRCA", "LUAD"]
    assert adata.var_names.tolist() == ["TP53", "EGFR"]
    (tmp_path / "x.csv").write_text(f"{bom}1,2\n3,4\n5,6\n")  # no header: no BOM'd row id
    adata, _ = sag.io.read_autogenome(path)
    assert adata.obs_names.tolist() == ["train_0", "train_1", "train_2"]


def test_read_autogenome_mse_loss_maps_onto_regression(tmp_path, recwarn):
    """The paper's mse loss becomes trainer.loss 'mse' (R^2 judges it), numeric labels, and
    classify predicts the number even with as few distinct values as these."""
    files = {"x.csv": "1,2\n3,4\n", "y.txt": "1.5\n0\n"}
    path = _ag(tmp_path, files, {"loss": "mse"}, train_data_path="x.csv", train_label_path="y.txt")
    adata, cfg = sag.io.read_autogenome(path)
    assert not [w for w in recwarn if "loss" in str(w.message)]
    assert cfg["trainer"]["loss"] == "mse"
    full = sag.config.load(cfg)
    assert full["search"]["metric"] == "r2"
    assert sag.config.requested_task(full, "auto") == "regression"
    assert adata.obs["label"].tolist() == [1.5, 0.0]
    rec = adata.uns["sag_io"]
    assert "loss" not in rec["no_counterpart"]
    assert rec["mapped"]["loss"] == "trainer.loss (mse)"
    assert rec["task"] == "regression"


def test_read_autogenome_enas_with_mse_is_run_by_classify(tmp_path, recwarn):
    """ENAS with the loss mse: mode rrfcn and loss mse, a config classify runs (ENAS on the
    numeric target)."""
    rows = "\n".join(f"{i % 7},{(3 * i) % 5},{i % 3}" for i in range(40))
    files = {"x.csv": rows + "\n", "y.txt": "".join(f"{i * 0.5}\n" for i in range(40))}
    path = _ag(
        tmp_path,
        files,
        {"loss": "mse", "search_mode": "ENAS"},
        train_data_path="x.csv",
        train_label_path="y.txt",
    )
    adata, cfg = sag.io.read_autogenome(path)
    assert not [w for w in recwarn if "loss" in str(w.message) or "ENAS" in str(w.message)]
    assert cfg["mode"] == "rrfcn"
    assert cfg["trainer"]["loss"] == "mse"
    cfg.setdefault("rrfcn", {}).update(epochs=1, controller_steps=2, first_width=16)
    cfg["rrfcn"].update(widths=[8, 16], n_candidates=2, top_k_candidates=1)
    cfg["trainer"]["max_epochs"] = 2
    model = sag.tl.classify(adata, "label", config=cfg)
    assert isinstance(model, sag.models.Regressor)
    assert model.architecture_["kind"] == "rrfcn"


def test_read_autogenome_auc_loss_maps_onto_the_auc_loss_and_roc_auc(tmp_path, recwarn):
    files = {"x.csv": "1,2\n3,4\n", "y.txt": "1\n0\n"}
    path = _ag(tmp_path, files, {"loss": "auc"}, train_data_path="x.csv", train_label_path="y.txt")
    adata, cfg = sag.io.read_autogenome(path)
    assert not [w for w in recwarn if "loss" in str(w.message)]
    assert cfg["trainer"]["loss"] == "auc"
    assert cfg["search"]["metric"] == "roc_auc"
    assert sag.config.load(cfg)["trainer"]["loss"] == "auc"  # a valid config as it is
    rec = adata.uns["sag_io"]
    assert rec["task"] == "auc"
    assert "loss" not in rec["no_counterpart"]
    assert rec["mapped"]["loss"] == "trainer.loss (auc), search.metric (roc_auc)"


@pytest.mark.parametrize(
    ("labels", "extra", "why"),
    [
        ("a\nb\nc\n", {}, r"is for a binary task and these labels have 3 class\(es\)"),
        ("1\n0\n1\n", {"search_mode": "Res-VAE"}, "has no counterpart"),
    ],
)
def test_read_autogenome_auc_loss_where_it_cannot_apply_is_warned(tmp_path, labels, extra, why):
    files = {"x.csv": "1,2\n3,4\n5,6\n", "y.txt": labels}
    path = _ag(
        tmp_path,
        files,
        {"loss": "auc", **extra},
        train_data_path="x.csv",
        train_label_path="y.txt",
    )
    with pytest.warns(UserWarning, match=why):
        adata, cfg = sag.io.read_autogenome(path)
    assert "loss" not in cfg.get("trainer", {})
    assert "loss" in adata.uns["sag_io"]["no_counterpart"]


def test_read_autogenome_non_numeric_regression_labels_are_warned(tmp_path):
    files = {"x.csv": "1,2\n3,4\n5,6\n7,8\n", "y.txt": "1.5\nNA?\n2.5\nNA\n"}
    path = _ag(tmp_path, files, {"loss": "mse"}, train_data_path="x.csv", train_label_path="y.txt")
    with pytest.warns(UserWarning, match=r"1 label\(s\) are not numbers.*'NA\?'.*y\.txt', line 2"):
        adata, _ = sag.io.read_autogenome(path)
    assert adata.obs["label"].isna().tolist() == [False, True, False, True]


def test_read_autogenome_numeric_header_line(tmp_path):
    files = {"x.csv": "7157,672,675\n1.2,3.1,0.5\n2.2,0.1,4.5\n", "y.txt": "label\nBRCA\nLUAD\n"}
    path = _ag(tmp_path, files, train_data_path="x.csv", train_label_path="y.txt")
    with pytest.raises(ValueError, match=r"starts with a header.*Entrez.*\"header\": true"):
        sag.io.read_autogenome(path)
    for value in (True, "true", 1):
        path = _ag(tmp_path, {}, train_data_path="x.csv", train_label_path="y.txt", header=value)
        adata, _ = sag.io.read_autogenome(path)
        assert adata.var_names.tolist() == ["7157", "672", "675"]
        assert adata.obs["label"].tolist() == ["BRCA", "LUAD"]
        assert adata.uns["sag_io"]["mapped"]["data_loader.header"] == "read (header)"
    path = _ag(tmp_path, {}, train_data_path="x.csv", train_label_path="y.txt", header="maybe")
    with pytest.raises(ValueError, match=r"data_loader\.header='maybe' is not true or false"):
        sag.io.read_autogenome(path)


def test_read_autogenome_two_column_feature_names_and_generic_keys(tmp_path):
    files = {
        "x.csv": "1.2,3.1\n2.2,0.1\n",
        "y.txt": "BRCA\nLUAD\n",
        "n.tsv": "ENSG1\tTP53\tGene Expression\nENSG2\tBRCA1\tGene Expression\n",
    }
    path = _ag(
        tmp_path,
        files,
        train_data_path="x.csv",
        train_label_path="y.txt",
        feature_names_path="n.tsv",
        name="tcga_brca",
        path="/data/tcga",
    )
    with pytest.warns(UserWarning, match=r"unknown keys.*data_loader\.name.*data_loader\.path"):
        adata, cfg = sag.io.read_autogenome(path)
    assert adata.var_names.tolist() == ["TP53", "BRCA1"]
    assert adata.var["feature_ids"].tolist() == ["ENSG1", "ENSG2"]
    assert cfg == {"mode": "auto"}
    assert adata.uns["sag_io"]["model_dir"] == ""


# --------------------------------------------------------------------------- API conventions

READERS = [getattr(sag.io, name) for name in sag.io.__all__ if callable(getattr(sag.io, name))]


@pytest.mark.parametrize("func", READERS, ids=lambda f: f.__name__)
def test_readers_api(func):
    import inspect

    for p in inspect.signature(func).parameters.values():
        if isinstance(p.default, bool):
            assert p.kind is inspect.Parameter.KEYWORD_ONLY, f"{func.__name__}({p.name}=...)"
    doc = inspect.getdoc(func) or ""
    assert "Parameters" in doc
    assert "Returns" in doc


def test_table_readers_do_not_load_torch(ex):
    import subprocess
    import sys

    code = (
        "import sys, scautogenome as sag; "
        f"sag.io.read_tcga({str(ex['expression'])!r}, cohort='PAN'); "
        f"sag.io.read_maf({str(ex['maf'])!r}); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # anndata < 0.10.x loads torch itself when it reads an h5ad (its experimental loader)
    own = "import sys, anndata._io.h5ad; print('torch' in sys.modules)"
    anndata_loads_it = subprocess.run(
        [sys.executable, "-c", own], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out.stdout.strip().splitlines()[-1] == anndata_loads_it


# -- found by a review of the readers (2026-12-02) ----------------------------------------------
def _tcga_file(path: Path, samples: list[str], genes: list[str] | None = None) -> Path:
    genes = genes or ["TP53", "EGFR", "KRAS"]
    rows = ["gene\t" + "\t".join(samples)]
    rows += [
        g + "\t" + "\t".join(str(i + j + 1) for j in range(len(samples)))
        for i, g in enumerate(genes)
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_read_tcga_clinical_project_beats_a_file_name_guess(tmp_path):
    samples = ["TCGA-A1-A0SB-01A", "TCGA-05-4244-01A", "TCGA-05-4245-01A"]
    expr = _tcga_file(tmp_path / "brca_luad_tpm.tsv", samples)
    clin = tmp_path / "clin.tsv"
    clin.write_text(
        "case_submitter_id\tproject_id\nTCGA-A1-A0SB\tTCGA-BRCA\nTCGA-05-4244\tTCGA-LUAD\n"
        "TCGA-05-4245\tTCGA-LUAD\n"
    )
    with pytest.warns(UserWarning, match="guessed from the file name"):
        adata = sag.io.read_tcga(expr, clinical=clin)
    assert adata.obs["project"].astype(str).tolist() == ["BRCA", "LUAD", "LUAD"]
    # a cohort= the user gave is kept (with a warning), as documented
    with pytest.warns(UserWarning, match="keeping cohort="):
        given = sag.io.read_tcga(expr, clinical=clin, cohort="BRCA")
    assert given.obs["project"].astype(str).tolist() == ["BRCA"] * 3


def test_barcodes_meet_at_their_longest_common_level(tmp_path):
    from scautogenome.io._barcodes import match_ids

    pos, how = match_ids(
        ["TCGA-A1-A0SB-01", "TCGA-A1-A0SC-01"], ["TCGA-A1-A0SB-01A", "TCGA-A1-A0SC-01A"]
    )
    assert pos.tolist() == [0, 1]
    assert how == "tcga_prefix"
    rna, dna = "TCGA-A1-A0SB-01A-11R-A144-07", "TCGA-A1-A0SB-01A-11D-A142-09"
    assert match_ids([rna], [dna])[0].tolist() == [0]
    assert match_ids(["TCGA-A1-A0SB-01A"], ["TCGA-A1-A0SB-11A-11D-A142-09"])[0].tolist() == [-1]
    # two table rows of one vial: that level is not used
    two = ["TCGA-A1-A0SB-01A-11D-A142-09", "TCGA-A1-A0SB-01A-21D-A142-09"]
    assert match_ids(["TCGA-A1-A0SB-01A-11R-A144-07"], two)[0].tolist() == [-1]


def test_label_ids_keep_leading_zeros_and_repeated_identical_rows(tmp_path):
    expr = tmp_path / "expr0.csv"
    expr.write_text("gene,001,002,010\nTP53,1,2,3\nEGFR,4,5,6\n")
    lab = tmp_path / "lab0.csv"
    lab.write_text(
        "patient,response,treatment\n001,yes,drug\n002,no,drug\n010,yes,drug\n001,yes,radiation\n"
    )
    adata = sag.io.read_table(expr, labels=lab, label_column="response")
    assert adata.obs_names.tolist() == ["001", "002", "010"]
    assert adata.obs["response"].astype(str).tolist() == ["yes", "no", "yes"]
    # the same id with other values in a wanted column is still an error
    with pytest.raises(ValueError, match="duplicate id '001'"):
        sag.io.read_table(expr, labels=lab, label_column=["response", "treatment"])


def test_label_column_typo_fails_before_the_matrix_is_read(tmp_path, monkeypatch):
    from scautogenome.io import _table

    expr = tmp_path / "expr.csv"
    expr.write_text("gene,S1,S2\nTP53,1,2\nEGFR,4,5\n")
    lab = tmp_path / "lab.csv"
    lab.write_text("sample,project\nS1,a\nS2,b\n")

    def no_matrix(*args, **kwargs):
        raise AssertionError("the matrix was read before the label columns were checked")

    monkeypatch.setattr(_table, "table_to_anndata", no_matrix)
    with pytest.raises(ValueError, match=r"no label_column \['projct'\]"):
        sag.io.read_table(expr, labels=lab, label_column="projct")


def test_compression_told_by_content_and_encoding_errors_name_the_file(tmp_path):
    text = "gene\tS1\tS2\nTP53\t1\t2\nEGFR\t4\t5\n"
    gz_named_tsv = tmp_path / "x.tsv"
    gz_named_tsv.write_bytes(gzip.compress(text.encode()))
    plain_named_gz = tmp_path / "y.tsv.gz"
    plain_named_gz.write_text(text)
    for path in (gz_named_tsv, plain_named_gz):
        assert sag.io.read_table(path, orientation="genes_x_samples").shape == (2, 2)
    latin = tmp_path / "z.tsv"
    latin.write_bytes("gene\tS1\tS\xe9\nTP53\t1\t2\n".encode("cp1252"))
    with pytest.raises(ValueError, match=r"'.*z\.tsv'.*not UTF-8 text"):
        sag.io.read_table(latin)


def test_read_maf_from_a_zip(ex, tmp_path):
    import zipfile

    archive = tmp_path / "m.maf.zip"
    raw = Path(ex["maf"]).read_bytes()
    if raw[:2] == b"\x1f\x8b":  # the example MAF is gzipped: zip its text
        raw = gzip.decompress(raw)
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("m.maf", raw)
    plain = sag.io.read_maf(ex["maf"])
    zipped = sag.io.read_maf(archive)
    assert (zipped.X != plain.X).nnz == 0


def test_cli_label_column_needs_a_labels_table(tmp_path, capsys):
    from scautogenome.cli import main

    expr = tmp_path / "expr.tsv"
    expr.write_text("gene\tS1\tS2\nTP53\t1\t2\n")
    args = [
        "classify",
        "--table",
        str(expr),
        "--label-column",
        "subtype",
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(args) == 2
    assert "--label-column needs --labels-table" in capsys.readouterr().err


def test_integer_ids_taken_for_entrez_genes_are_warned_about(tmp_path):
    sxg = tmp_path / "sxg.csv"
    sxg.write_text("sample,TP53,EGFR,KRAS,MYC\n101,1,2,3,4\n102,5,6,7,8\n103,9,1,2,3\n")
    with pytest.warns(UserWarning, match="integers, taken for Entrez gene ids"):
        guessed = sag.io.read_table(sxg)
    assert guessed.obs_names.tolist() == ["TP53", "EGFR", "KRAS", "MYC"]  # the guess, warned
    right = sag.io.read_table(sxg, orientation="samples_x_genes")
    assert right.obs_names.tolist() == ["101", "102", "103"]


def test_label_ids_of_mixed_levels_all_match(tmp_path):
    """One aliquot id that matches exactly does not stop the patient ids from matching."""
    from scautogenome.io._barcodes import match_ids

    bcs = [f"TCGA-OR-A5J{i}-01A-11R-A29S-07" for i in range(1, 5)]
    table = [bcs[0], "TCGA-OR-A5J2", "TCGA-OR-A5J3", "TCGA-OR-A5J4"]
    pos, how = match_ids(bcs, table)
    assert pos.tolist() == [0, 1, 2, 3]
    assert how == "exact+tcga_prefix"
    assert match_ids(bcs, bcs)[1] == "exact"
    assert match_ids(bcs, table[1:])[1] == "tcga_prefix"
    expr = _write(
        tmp_path / "e.tsv", "gene\t" + "\t".join(bcs) + "\nTP53\t1\t2\t3\t4\nEGFR\t1\t2\t3\t5\n"
    )
    lab = _write(tmp_path / "lab.tsv", "id\tlabel\n" + "".join(f"{t}\tx\n" for t in table))
    adata = sag.io.read_table(expr, labels=lab)
    assert adata.obs["label"].notna().all()
    assert adata.uns["sag_io"]["id_match"] == "exact+tcga_prefix"
    assert adata.uns["sag_io"]["n_samples_without_label"] == 0


def test_a_delimiter_is_named_as_the_command_line_names_it(tmp_path):
    """sep="tab", "semicolon", ... as --sep takes them; a value neither one character nor a
    name is an error that lists the names, before the file is read."""
    bcs = ["TCGA-OR-A5J1-01A-11R-A29S-07", "TCGA-OR-A5J2-01A-11R-A29S-07"]
    path = _write(tmp_path / "eu.txt", "gene;" + ";".join(bcs) + "\nTP53;1.5;2\nEGFR;3;4\n")
    assert sag.io.read_table(path, sep="semicolon").shape == (2, 2)
    assert sag.io.read_tcga(path, cohort="ACC", sep="Semicolon").n_obs == 2
    tabbed = _write(tmp_path / "t.txt", "gene\t" + "\t".join(bcs) + "\nTP53\t1.5\t2\n")
    assert sag.io.read_table(tabbed, sep="tab").shape == (2, 1)
    with pytest.raises(ValueError, match=r"sep='tabs' is not one character nor one of .*'tab'"):
        sag.io.read_table(tabbed, sep="tabs")


def test_semicolon_separated_csv_is_named(tmp_path):
    bcs = ["TCGA-OR-A5J1-01A-11R-A29S-07", "TCGA-OR-A5J2-01A-11R-A29S-07"]
    path = _write(tmp_path / "eu.csv", "gene;" + ";".join(bcs) + "\nTP53;1.5;2\nEGFR;3;4\n")
    with pytest.raises(ValueError, match=r"looks semicolon-separated; pass sep=';'"):
        sag.io.read_table(path)
    with pytest.raises(ValueError, match=r"looks semicolon-separated; pass sep=';'"):
        sag.io.read_tcga(path, cohort="ACC")
    assert sag.io.read_table(path, sep=";").shape == (2, 2)
    # a label table (which has no sep= of its own) is read with ';'
    lab = _write(tmp_path / "lab.csv", f"id;label\n{bcs[0]};a\n{bcs[1]};b\n")
    adata = sag.io.read_table(path, sep=";", labels=lab)
    assert adata.obs["label"].astype(str).tolist() == ["a", "b"]


def test_orientation_told_by_shape_alone_is_warned_about(tmp_path):
    rng = np.random.default_rng(0)
    genes = ["ESR1", "PGR", "ERBB2", "MKI67", "KRT5", "FOXA1", "GATA3", "TP53", "EGFR", "MYC"]
    samples = [f"S{i:03d}" for i in range(40)]
    frame = pd.DataFrame(rng.gamma(2.0, 3.0, (40, 10)), index=samples, columns=genes)
    frame.to_csv(tmp_path / "panel.csv")
    with pytest.warns(UserWarning, match=r"only the shape .* orientation='samples_x_genes'"):
        guessed = sag.io.read_table(tmp_path / "panel.csv")
    assert guessed.shape == (10, 40)  # the guess, warned
    assert "more rows (40) than columns (10)" in guessed.uns["sag_io"]["orientation_reason"]
    right = sag.io.read_table(tmp_path / "panel.csv", orientation="samples_x_genes")
    assert right.obs_names.tolist() == samples


def test_read_maf_samples_given_as_aliquot_barcodes(ex):
    expr = sag.io.read_tcga(ex["expression"], clinical=ex["clinical"], tumor_only=True)
    kw = {"level": "sample", "genes": ["TP53", "KRAS", "PIK3CA"]}
    with pytest.warns(UserWarning, match="not in samples="):
        by_sample = sag.io.read_maf(ex["maf"], samples=list(expr.obs["sample"].astype(str)), **kw)
    with pytest.warns(UserWarning, match="not in samples="):
        by_aliquot = sag.io.read_maf(ex["maf"], samples=list(expr.obs_names), **kw)
    assert by_aliquot.obs_names.tolist() == expr.obs_names.tolist()
    assert by_aliquot.X.sum() > 0
    assert (by_aliquot.X != by_sample.X).nnz == 0
    assert by_aliquot.uns["sag_io"]["sample_match"] == "tcga_prefix"
    n_counted = by_sample.uns["sag_io"]["n_variants_counted"]
    assert by_aliquot.uns["sag_io"]["n_variants_counted"] == n_counted
    # RNA aliquots meet the MAF's DNA aliquots at their vial
    with pytest.warns(UserWarning, match="not in samples="):
        by_barcode = sag.io.read_maf(ex["maf"], samples=list(expr.obs_names), genes=kw["genes"])
    assert (by_barcode.X != by_sample.X).nnz == 0
    with pytest.raises(ValueError, match=r"none of the 2 samples= .* matches a sample of the MAF"):
        sag.io.read_maf(ex["maf"], samples=["TCGA-ZZ-ZZZZ-01A", "TCGA-ZZ-ZZZY-01A"], **kw)


def _cohort_file(path: Path, genes: list[str], samples: list[str], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.gamma(2.0, 2.0, (len(genes), len(samples))), genes, samples)
    frame = frame.round(3)
    frame.to_csv(path, sep="\t")
    return frame


def test_read_tcga_matches_ensembl_ids_without_their_version(tmp_path):
    base = [f"ENSG{100000 + i:011d}" for i in range(30)]
    acc = [f"TCGA-OR-A5J{i}-01A-11R-A29S-07" for i in range(1, 5)]
    uvm = [f"TCGA-V4-A9E{i}-01A-11R-A405-07" for i in range(5, 9)]
    a = _cohort_file(tmp_path / "TCGA-ACC.htseq_fpkm.tsv", [g + ".5" for g in base], acc, 0)
    b = _cohort_file(tmp_path / "TCGA-UVM.htseq_fpkm.tsv", [g + ".7" for g in base], uvm, 1)
    paths = [tmp_path / "TCGA-ACC.htseq_fpkm.tsv", tmp_path / "TCGA-UVM.htseq_fpkm.tsv"]
    for join in ("inner", "outer"):
        adata = sag.io.read_tcga(paths, join=join)
        assert adata.var_names.tolist() == base
        assert (adata.var["n_files"] == 2).all()
        assert adata.var["gene_id_0"].tolist() == a.index.tolist()
        assert adata.var["gene_id_1"].tolist() == b.index.tolist()
        assert adata.uns["sag_io"]["gene_match"] == "ensembl_without_version"
        X = adata.X.toarray() if sparse.issparse(adata.X) else adata.X
        np.testing.assert_allclose(X[4:], b.T.to_numpy(), rtol=1e-6)
    _roundtrip(adata, tmp_path)
    # versioned ids in one file, none in the other
    _cohort_file(paths[1], base, uvm, 1)
    mixed = sag.io.read_tcga(paths)
    assert mixed.var_names.tolist() == base
    assert mixed.var["gene_id_1"].tolist() == base
    # the same versions everywhere: ids as written
    _cohort_file(paths[1], [g + ".5" for g in base], uvm, 1)
    same = sag.io.read_tcga(paths)
    assert same.var_names.tolist() == a.index.tolist()
    assert same.uns["sag_io"]["gene_match"] == "exact"
    assert "gene_id_0" not in same.var


def test_read_tcga_files_sharing_no_gene_say_why_not_outer(tmp_path):
    ensembl = [f"ENSG{100000 + i:011d}.5" for i in range(30)]
    symbols = [f"GENE{i}" for i in range(30)]
    acc = [f"TCGA-OR-A5J{i}-01A-11R-A29S-07" for i in range(1, 5)]
    uvm = [f"TCGA-V4-A9E{i}-01A-11R-A405-07" for i in range(5, 9)]
    _cohort_file(tmp_path / "ACC.tsv", ensembl, acc, 0)
    _cohort_file(tmp_path / "UVM.tsv", symbols, uvm, 1)
    paths = [tmp_path / "ACC.tsv", tmp_path / "UVM.tsv"]
    with pytest.raises(ValueError, match=r"share no gene id because they name genes by") as err:
        sag.io.read_tcga(paths)
    assert "Ensembl ids with versions, e.g. 'ENSG00000100000.5'" in str(err.value)
    assert "'GENE0'" in str(err.value)
    assert "outer" not in str(err.value)
    with pytest.warns(UserWarning, match=r"join='outer': the files share only 0 of the 30 genes"):
        sag.io.read_tcga(paths, join="outer")
    # a few shared genes: the inner join keeps them, with a warning
    _cohort_file(tmp_path / "UVM.tsv", ensembl[:5] + symbols[5:], uvm, 1)
    with pytest.warns(UserWarning, match=r"join='inner': the files share only 5 of the 30"):
        assert sag.io.read_tcga(paths).n_vars == 5


# -- found by a second review of the readers (2026-12-05) ---------------------------------------
def test_read_table_header_that_starts_with_a_hash(tmp_path, sag_caplog):
    """'#gene_id<TAB>S1...' (QIIME's '#OTU ID') is the header, not a comment that would make
    the first data row the header; a '#' line of another width stays a comment."""
    path = tmp_path / "hash.tsv"
    path.write_text(
        "#version 1\n#gene_id\tS1\tS2\tS3\nTP53\t1.5\t2.5\t3.5\nEGFR\t4.5\t5.5\t6.5\nMYC\t1\t2\t3\n"
    )
    adata = sag.io.read_table(path, orientation="genes_x_samples")
    assert adata.obs_names.tolist() == ["S1", "S2", "S3"]
    assert adata.var_names.tolist() == ["TP53", "EGFR", "MYC"]
    X = adata.X.toarray() if sparse.issparse(adata.X) else adata.X
    np.testing.assert_array_equal(X[:, 0], [1.5, 2.5, 3.5])
    assert "line 2: the '#' line is read as the header" in sag_caplog.text
    path.write_text("#made by hand\ngene\tS1\tS2\nTP53\t1\t2\nEGFR\t3\t4\n")
    assert sag.io.read_table(path, orientation="genes_x_samples").obs_names.tolist() == [
        "S1",
        "S2",
    ]


def test_read_table_labels_lose_surrounding_spaces(tmp_path):
    """'B cell ' (Excel) is the class 'B cell', as ids are matched stripped; ' NA ' is missing."""
    expr = tmp_path / "m.csv"
    expr.write_text("gene,S0,S1,S2,S3\nG0,1,2,3,4\nG1,5,6,7,8\n")
    labels = tmp_path / "labels.csv"
    labels.write_text('sample,cell_type\nS0,B cell\nS1,"B cell "\nS2,T cell \nS3, NA \n')
    adata = sag.io.read_table(expr, labels=labels, orientation="genes_x_samples")
    assert adata.obs["cell_type"].cat.categories.tolist() == ["B cell", "T cell"]
    assert adata.obs["cell_type"].astype(object).tolist()[:3] == ["B cell", "B cell", "T cell"]
    assert adata.obs["cell_type"].isna().tolist() == [False, False, False, True]
    # a column of numbers once stripped (a blank cell, ' 60') is numbers, as a clean file reads
    labels.write_text("sample,age\nS0,50\nS1, \nS2, 60\nS3,70\n")
    adata = sag.io.read_table(expr, labels=labels, orientation="genes_x_samples")
    np.testing.assert_array_equal(adata.obs["age"].to_numpy(), [50.0, np.nan, 60.0, 70.0])
    # a missing value alone changes nothing: text that reads as numbers stays text (classes)
    frame = pd.DataFrame({"code": ["1", "2", np.nan, "10"]}, index=["S0", "S1", "S2", "S3"])
    adata = sag.io.read_table(expr, labels=frame, orientation="genes_x_samples")
    assert isinstance(adata.obs["code"].dtype, pd.CategoricalDtype)


def test_read_table_label_table_trailing_delimiter_makes_no_column(tmp_path, sag_caplog):
    expr = tmp_path / "m.csv"
    expr.write_text("gene,S0,S1\nG0,1,2\nG1,5,6\nG2,7,8\n")
    labels = tmp_path / "labels.csv"
    labels.write_text("sample,type,\nS0,A,\nS1,B,\n")
    adata = sag.io.read_table(expr, labels=labels, orientation="genes_x_samples")
    assert list(adata.obs.columns) == ["type"]
    assert "its last column is unnamed and empty (a trailing delimiter ',')" in sag_caplog.text


def test_read_maf_parses_each_barcode_once(ex, monkeypatch):
    """level='sample' parses the distinct barcodes, not one per variant row (memory, time)."""
    from scautogenome.io import _maf

    parsed: list[list[str]] = []
    real = _maf.parse_tcga_barcode

    def counting(ids, **kwargs):
        parsed.append(list(ids))
        return real(ids, **kwargs)

    monkeypatch.setattr(_maf, "parse_tcga_barcode", counting)
    adata = sag.io.read_maf(ex["maf"], level="sample", variant_classes="all")
    (ids,) = parsed
    assert len(ids) == len(set(ids))
    assert adata.uns["sag_io"]["n_variants_counted"] > len(ids)  # rows repeat barcodes
    assert set(adata.obs_names) == {i[:15] for i in ids}


def test_read_tcga_reads_a_gdc_sample_sheets_project_and_free_text_projects(tmp_path):
    """A GDC Sample Sheet's project column is 'Project ID' (spaces): it was not found without
    project_column=. A column of disease names (Xena's '_primary_disease') is kept as written;
    every value was upper-cased as if a TCGA code ('BREAST INVASIVE CARCINOMA')."""
    samples = ["TCGA-A1-A0SB-01A", "TCGA-05-4244-01A", "TCGA-05-4245-01A"]
    expr = _tcga_file(tmp_path / "expr.tsv", samples)
    sheet = pd.DataFrame(
        {
            "File ID": ["f1", "f2", "f3"],
            "Project ID": ["TCGA-BRCA", "TCGA-LUAD", "TCGA-LUAD"],
            "Case ID": [s[:12] for s in samples],
            "Sample ID": samples,
            "_primary_disease": ["breast invasive carcinoma", *["lung adenocarcinoma"] * 2],
        }
    )
    adata = sag.io.read_tcga(expr, clinical=sheet)
    assert adata.obs["project"].astype(str).tolist() == ["BRCA", "LUAD", "LUAD"]
    named = sag.io.read_tcga(expr, clinical=sheet, project_column="_primary_disease")
    assert named.obs["project"].astype(str).tolist() == [
        "breast invasive carcinoma",
        "lung adenocarcinoma",
        "lung adenocarcinoma",
    ]
    sheet["Project ID"] = ["brca", "tcga-luad", "LUAD"]  # codes are still codes
    adata = sag.io.read_tcga(expr, clinical=sheet)
    assert adata.obs["project"].astype(str).tolist() == ["BRCA", "LUAD", "LUAD"]


def test_read_tcga_warns_about_cohorts_that_are_no_tcga_project(tmp_path):

    a = _tcga_file(tmp_path / "a.tsv", ["TCGA-A1-A0SB-01A"])
    b = _tcga_file(tmp_path / "b.tsv", ["TCGA-05-4244-01A"])
    with pytest.warns(UserWarning, match="cohort") as record:
        adata = sag.io.read_tcga([a, b], cohort=["BRAC", "KIPAN"])
    text = " ".join(str(w.message) for w in record)
    assert "cohort 'BRAC' is not a TCGA project code" in text
    assert "cohort 'KIPAN' is a Firehose aggregate cohort (KICH, KIRC and KIRP)" in text
    assert adata.obs["project"].astype(str).tolist() == ["BRAC", "KIPAN"]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        adata = sag.io.read_tcga([a, b], cohort=["TCGA-BRCA", "luad"])
    assert not [w for w in record if "cohort" in str(w.message)]
    assert adata.obs["project"].astype(str).tolist() == ["BRCA", "LUAD"]


def test_read_maf_names_tcga_cohorts_as_read_tcga_does(ex):

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        tcga = sag.io.read_maf({"TCGA-BRCA": ex["maf"]})
        own = sag.io.read_maf({"my cohort": ex["maf"]})
    assert not [w for w in record if "cohort" in str(w.message)]
    assert tcga.obs["project"].astype(str).unique().tolist() == ["BRCA"]
    assert own.obs["project"].astype(str).unique().tolist() == ["my cohort"]
    with pytest.warns(UserWarning, match="cohort 'GBMLGG' is a Firehose aggregate"):
        sag.io.read_maf({"gbmlgg": ex["maf"]})


def test_read_table_warns_about_gene_ids_excel_made_dates(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("gene,S1,S2\nTP53,1,2\n1-Mar,3,4\nSep-02,5,6\n2019-09-02,7,8\nMARCH1,1,1\n")
    with pytest.warns(UserWarning, match=r"3 gene ids look like dates \(e.g. \['1-Mar'"):
        sag.io.read_table(path, orientation="genes_x_samples")


# -- QIIME metadata and empty ids (2026-12-05) ---------------------------------------------------
def test_read_table_qiime_mapping_and_metadata(tmp_path):
    """QIIME 1's '#SampleID' line is the header, not a comment that makes the first sample the
    header; QIIME 2's '#q2:types' line is no sample, and its 'categorical' keeps numbers as text;
    its '#q2:missing' reads the INSDC vocabulary as missing."""
    expr = tmp_path / "m.tsv"
    expr.write_text("sample\tg0\tg1\nS0\t1\t2\nS1\t3\t4\nS2\t5\t6\nS3\t7\t8\n")
    mapping = tmp_path / "mapping.txt"
    mapping.write_text(
        "#SampleID\tBarcodeSequence\tlabel\n#a comment\n"
        "S0\tAC\ta\nS1\tGT\tb\nS2\tAC\ta\nS3\tGT\tb\n"
    )
    adata = sag.io.read_table(expr, labels=mapping, label_column="label")
    assert adata.obs["label"].astype(object).tolist() == ["a", "b", "a", "b"]
    assert adata.uns["sag_io"]["id_column"] == "#SampleID"
    meta = tmp_path / "metadata.tsv"
    meta.write_text(
        "#SampleID\tsubject\tph\n#q2:types\tcategorical\tnumeric\n"
        "S0\t1\t7.1\nS1\t2\t6.5\nS2\t1\t\nS3\t2\t7.0\n"
    )
    adata = sag.io.read_table(expr, labels=meta)
    assert adata.obs["subject"].astype(object).tolist() == ["1", "2", "1", "2"]
    assert adata.obs["ph"].dtype.kind == "f"
    np.testing.assert_array_equal(adata.obs["ph"].isna(), [False, False, True, False])
    # QIIME 2's INSDC vocabulary of missing values, where #q2:missing says so (with and
    # without #q2:types)
    for types in ("#q2:types\tcategorical\tnumeric\n", ""):
        meta.write_text(
            f"sample-id\tsubject\tph\n{types}#q2:missing\tno-missing\tINSDC:missing\n"
            "S0\t1\t7.1\nS1\t2\tnot collected\nS2\t1\tmissing: control sample\nS3\t2\t7\n"
        )
        adata = sag.io.read_table(expr, labels=meta)
        assert adata.obs["ph"].dtype.kind == "f"
        np.testing.assert_array_equal(adata.obs["ph"].isna(), [False, True, True, False])
    # '#' lines below the header are comments, wherever they are: no rows, no cells
    meta.write_text(
        "sample-id\tsubject\tph\n#q2:types\tcategorical\tnumeric\n# ph by meter B\tsee notes\n"
        "S0\t1\t7.1\n# S1 re-sequenced\nS1\t2\t6\nS2\t1\t6\nS3\t2\t5\n"
    )
    adata = sag.io.read_table(expr, labels=meta)
    assert adata.uns["sag_io"]["n_label_rows_unused"] == 0
    assert adata.obs["ph"].tolist() == [7.1, 6.0, 6.0, 5.0]
    meta.write_text("sample-id\tage\nS0\t50\n# S1 was re-sequenced\nS1\t60\nS2\t70\nS3\t80\n")
    assert sag.io.read_table(expr, labels=meta).obs["age"].dtype.kind in "if"
    # outside QIIME metadata a cell starting with '#' is data (an id, a colour), not a comment
    hashed = tmp_path / "m_hash.csv"
    hashed.write_text("sample,g0,g1\n#1,1,2\n#2,3,4\nS3,5,6\n")
    table = tmp_path / "colors.csv"
    table.write_text("sample,label\n#1,T\n#2,B\nS3,T\n")
    adata = sag.io.read_table(hashed, labels=table, orientation="samples_x_genes")
    assert adata.obs["label"].astype(object).tolist() == ["T", "B", "T"]
    # the same metadata without the directive: numbers, as any table reads
    meta.write_text("sample-id\tsubject\nS0\t1\nS1\t2\nS2\t1\nS3\t2\n")
    assert sag.io.read_table(expr, labels=meta).obs["subject"].dtype.kind in "if"
    # a directive below a plain header is no sample either
    meta.write_text("sample-id\tsubject\n#q2:types\tcategorical\nS0\t1\nS1\t2\nS2\t1\nS3\t2\n")
    adata = sag.io.read_table(expr, labels=meta)
    assert adata.uns["sag_io"]["n_label_rows_unused"] == 0
    assert adata.obs["subject"].astype(object).tolist() == ["1", "2", "1", "2"]
    # a comment that merely mentions sample ids stays a comment, even without a space after
    # the '#', when it does not have the width of the rows below
    for comment in ("# SampleID list of run 4", "#Sample ID, donor and plate of run 4"):
        table = tmp_path / "metadata.csv"
        table.write_text(f"{comment}\nsample,subject,donor\nS0,a,1\nS1,b,1\nS2,a,2\nS3,b,2\n")
        assert sag.io.read_table(expr, labels=table).obs["subject"].notna().all()
    # a commented-out header of the same width is read as QIIME's: the error says so
    meta.write_text("#SampleID\tlabel_old\nsample\tlabel\nS0\ta\nS1\tb\nS2\ta\nS3\tb\n")
    with pytest.raises(ValueError, match=r"'#SampleID' line was read as the header, as QIIME"):
        sag.io.read_table(expr, labels=meta, label_column="label")


def test_read_table_qiime_types_that_do_not_hold(tmp_path):
    expr = tmp_path / "m.tsv"
    expr.write_text("sample\tg0\tg1\nS0\t1\t2\nS1\t3\t4\n")
    meta = tmp_path / "metadata.tsv"
    meta.write_text("#SampleID\tph\n#q2:types\tnumeric\nS0\t7.1\nS1\tacid\n")
    with pytest.raises(
        ValueError, match=r"'ph' is declared numeric .*line 2.* holds 'acid' at line 4"
    ):
        sag.io.read_table(expr, labels=meta)
    meta.write_text("#SampleID\tph\n#q2:types\tfloat\nS0\t7.1\nS1\t6\n")
    with pytest.raises(ValueError, match=r"line 2: .* the type 'float'; QIIME knows"):
        sag.io.read_table(expr, labels=meta)


def test_read_table_label_table_with_an_empty_id(tmp_path):
    """An empty id is named by its line (it was an AttributeError), and before the matrix."""
    expr = tmp_path / "m.tsv"
    expr.write_text("sample\tg0\tg1\nS0\t1\t2\nS1\t3\t4\nS2\t5\t6\n")
    labels = tmp_path / "labels.tsv"
    labels.write_text("id\tlabel\nS0\ta\n\tb\n  \tc\nS2\ta\n")
    with pytest.raises(
        ValueError, match=r"empty or missing id in column 'id' at lines 3 and 4 \(blank"
    ):
        sag.io.read_table(expr, labels=labels)
    frame = pd.DataFrame({"id": ["S0", None, "S2"], "label": ["a", "b", "a"]})
    with pytest.raises(ValueError, match=r"empty or missing id in column 'id' at row 1 \(blank"):
        sag.io.read_table(expr, labels=frame)


def test_read_table_skips_the_annotation_columns_of_cbioportal_and_gct(tmp_path, sag_caplog):
    """cBioPortal's data_mrna_seq files (Hugo_Symbol, Entrez_Gene_Id, samples...) and GCT's
    Name/Description: the annotation column is no sample."""
    path = tmp_path / "data_mrna_seq_v2_rsem.txt"
    path.write_text(
        "Hugo_Symbol\tEntrez_Gene_Id\tTCGA-OR-A5J1-01\tTCGA-OR-A5J2-01\n"
        "TP53\t7157\t12.5\t3.25\nEGFR\t1956\t0.5\t7.0\nMYC\t4609\t1\t2\n"
    )
    adata = sag.io.read_table(path, orientation="genes_x_samples")
    assert adata.obs_names.tolist() == ["TCGA-OR-A5J1-01", "TCGA-OR-A5J2-01"]
    X = adata.X.toarray() if sparse.issparse(adata.X) else adata.X
    np.testing.assert_array_equal(X[:, 0], [12.5, 3.25])
    assert "column(s) ['Entrez_Gene_Id'] annotate the rows" in sag_caplog.text
    gct = tmp_path / "expr.txt"
    gct.write_text("Name\tDescription\tS1\tS2\tS3\nG1\tna\t1\t2\t3\nG2\tgene two\t4\t5\t6\n")
    adata = sag.io.read_table(gct, orientation="genes_x_samples")
    assert adata.obs_names.tolist() == ["S1", "S2", "S3"]
    # a GCT file whole: its version and dimensions lines above the header
    gct.write_text("#1.2\n2\t3\nName\tDescription\tS1\tS2\tS3\nG1\tna\t1\t2\t3\nG2\tb\t4\t5\t6\n")
    adata = sag.io.read_table(gct, orientation="genes_x_samples")
    assert adata.obs_names.tolist() == ["S1", "S2", "S3"]
    # a bad cell, or a repeated sample, is still named by its own column and field
    gct.write_text("Name\tDescription\tS1\tS2\nG1\tna\t1\tx\n")
    with pytest.raises(ValueError, match=r"column 'S2': non-numeric cell 'x'"):
        sag.io.read_table(gct, orientation="genes_x_samples")
    path.write_text("Hugo_Symbol\tEntrez_Gene_Id\tA\tB\tA\nTP53\t7157\t1\t2\t3\n")
    with pytest.raises(ValueError, match=r"duplicate sample id 'A' in header fields 3 and 5"):
        sag.io.read_table(path, orientation="genes_x_samples")
    # copy-number tables: cBioPortal's data_cna (with a Cytoband column) and GISTIC's
    # all_thresholded.by_genes (Gene Symbol, Locus ID, Cytoband)
    for head in ("Hugo_Symbol\tEntrez_Gene_Id\tCytoband", "Gene Symbol\tLocus ID\tCytoband"):
        cna = tmp_path / "cna.txt"
        cna.write_text(
            f"{head}\tTCGA-OR-A5J1-01\tTCGA-OR-A5J2-01\n"
            "TP53\t7157\t17p13.1\t-1\t0\nEGFR\t1956\t7p11.2\t2\t1\nMYC\t4609\t8q24.21\t0\t1\n"
        )
        adata = sag.io.read_table(cna)
        assert adata.obs_names.tolist() == ["TCGA-OR-A5J1-01", "TCGA-OR-A5J2-01"]
        assert adata.var_names.tolist() == ["TP53", "EGFR", "MYC"]
        X = adata.X.toarray() if sparse.issparse(adata.X) else adata.X
        np.testing.assert_array_equal(X, [[-1, 2, 0], [0, 1, 1]])


def test_read_table_leaves_out_cbioportal_genes_without_a_symbol(tmp_path, sag_caplog):
    """cBioPortal's TCGA expression files list genes with an Entrez id and no Hugo symbol
    (an empty first field): the file could not be read at all ("empty row id"). Those rows
    are left out, with a warning that counts them; a matrix without the annotation column
    still refuses an empty id."""
    path = tmp_path / "data_mrna_seq_v2_rsem.txt"
    path.write_text(
        "Hugo_Symbol\tEntrez_Gene_Id\tTCGA-OR-A5J1-01\tTCGA-OR-A5J2-01\n"
        "TP53\t7157\t12.5\t3.25\n\t100130426\t0\t1\nEGFR\t1956\t0.5\t7.0\n"
        "\t100133144\t2\t3\n"
    )
    adata = sag.io.read_table(path, orientation="genes_x_samples")
    assert adata.var_names.tolist() == ["TP53", "EGFR"]
    X = adata.X.toarray() if sparse.issparse(adata.X) else adata.X
    np.testing.assert_array_equal(X, [[12.5, 0.5], [3.25, 7.0]])
    said = sag_caplog.text
    assert "2 rows have no id in the first column (empty, or read as missing" in said
    assert "beside 'Entrez_Gene_Id'" in said
    assert "left out" in said
    plain = tmp_path / "plain.tsv"
    plain.write_text("gene\tS1\tS2\nTP53\t1\t2\n\t3\t4\n")
    with pytest.raises(ValueError, match="empty row id in the first column"):
        sag.io.read_table(plain, orientation="genes_x_samples")


def test_read_table_names_a_gdc_star_counts_file(tmp_path):
    """A GDC STAR - Counts file (one sample: gene_id, gene_name, gene_type, unstranded, ...)
    was refused for a missing value in column 'gene_name', as if that were a sample; the
    error now says what the file is and what to build from it."""
    path = tmp_path / "a.rna_seq.augmented_star_gene_counts.tsv"
    path.write_text(
        "# gene-model: GENCODE v36\n"
        "gene_id\tgene_name\tgene_type\tunstranded\tstranded_first\tstranded_second\t"
        "tpm_unstranded\tfpkm_unstranded\tfpkm_uq_unstranded\n"
        "N_unmapped\t\t\t2179225\t2179225\t2179225\t\t\t\n"
        "ENSG00000000003.15\tTSPAN6\tprotein_coding\t2475\t1250\t1225\t30.1\t9.4\t9.6\n"
    )
    for orientation in ("auto", "genes_x_samples"):
        with pytest.raises(ValueError, match="a GDC STAR - Counts file of one sample") as err:
            sag.io.read_table(path, orientation=orientation)
        assert "genes x samples table" in str(err.value)
        assert "README" in str(err.value)


def test_read_table_leaves_out_stars_counts_of_reads_on_no_gene(tmp_path):
    """A table built from GDC STAR files without leaving out their first rows (N_unmapped,
    N_multimapping, N_noFeature, N_ambiguous: millions of reads on no gene) read them as four
    genes, the largest of every sample's counts."""
    path = tmp_path / "gdc_counts.tsv"
    path.write_text(
        "gene_id\tTCGA-OR-A5J1-01\tTCGA-OR-A5J2-01\n"
        "N_unmapped\t2179225\t1990331\nN_multimapping\t1650\t1702\n"
        "N_noFeature\t99012\t88871\nN_ambiguous\t5100\t4980\n"
        "ENSG00000000003.15\t2475\t1830\nENSG00000000005.6\t4\t0\nENSG00000000005.6\t1\t2\n"
    )
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        adata = sag.io.read_table(path, orientation="genes_x_samples")
    said = [str(w.message) for w in _ours(record)]
    assert len(said) == 2, said  # the package's own two; not anndata's of repeated names
    assert "4 rows of STAR's counts of reads on no gene (N_unmapped, N_multimapping" in said[0]
    assert "1 gene ids repeat" in said[1]
    assert adata.var_names.tolist() == [
        "ENSG00000000003.15",
        "ENSG00000000005.6",
        "ENSG00000000005.6-1",
    ]
    X = adata.X.toarray() if sparse.issparse(adata.X) else adata.X
    np.testing.assert_array_equal(X, [[2475, 4, 1], [1830, 0, 2]])


def test_read_autogenome_enas_trainer_settings_map_onto_enas(tmp_path, recwarn):
    """ENAS trains its child networks with config['rrfcn']'s settings: a fixed batch size,
    learning rate and weight decay of the JSON go there (they were recorded as mapped onto
    space.common, which ENAS does not read); a range, momentum and the seed are named as not
    used, and why."""
    config = {
        "data_loader": {"train_data_path": "x.csv", "train_label_path": "y.txt"},
        "search_mode": "ENAS",
        "model_trainer": {
            "batch_size": 8,
            "learning_rate": 0.05,
            "weight_decay": 1e-4,
            "momentum": 0.9,
            "seed": 7,
        },
    }
    features = "\n".join(",".join(["1"] * 20) for _ in range(2)) + "\n"
    path = _write_config(tmp_path, {"x.csv": features, "y.txt": "a\nb\n"}, config)
    adata, cfg = sag.io.read_autogenome(path)
    assert cfg["rrfcn"]["child_batch_size"] == 8
    assert cfg["rrfcn"]["child_lr"] == 0.05
    assert cfg["rrfcn"]["weight_decay"] == 1e-4
    assert "common" not in cfg.get("space", {})
    record = adata.uns["sag_io"]
    assert record["mapped"]["model_trainer.batch_size"] == "rrfcn.child_batch_size"
    assert record["mapped"]["model_trainer.learning_rate"] == "rrfcn.child_lr"
    assert "ENAS" in record["no_counterpart"]["model_trainer.momentum"]
    seed = record["no_counterpart"]["model_trainer.seed"]
    assert "seed= (--seed" in seed
    assert "no counterpart" not in seed
    sag.config.load(cfg)  # a config classify takes
    # one value in a list, a whole batch size written as a float: one value each
    config["model_trainer"] = {"batch_size": [64.0], "learning_rate": [0.01]}
    path = _write_config(tmp_path, {"x.csv": features, "y.txt": "a\nb\n"}, config)
    adata, cfg = sag.io.read_autogenome(path)
    assert cfg["rrfcn"] == {"child_batch_size": 64, "child_lr": 0.01}
    assert type(cfg["rrfcn"]["child_batch_size"]) is int
    # a range of learning rates: ENAS takes one, so it is named, not mapped
    config["model_trainer"] = {"learning_rate_range": [1e-4, 1e-2]}
    path = _write_config(tmp_path, {"x.csv": features, "y.txt": "a\nb\n"}, config)
    adata, cfg = sag.io.read_autogenome(path)
    assert "child_lr" not in cfg.get("rrfcn", {})
    assert (
        "one learning rate"
        in adata.uns["sag_io"]["no_counterpart"]["model_trainer.learning_rate_range"]
    )


def test_read_autogenome_nested_spaces_of_modes_not_searched_are_named(tmp_path):
    """search_mode FC-ResNet with nested spaces of MLP and FC-DenseNet too: only ResNet's is
    mapped; the others are named as spaces the search does not search (they were recorded as
    mapped, and dropped by the mode's config)."""
    config = {
        "data_loader": {"train_data_path": "x.csv", "train_label_path": "y.txt"},
        "search_mode": "FC-ResNet",
        "search_space": {
            "MLP": {"num_layers": [1]},
            "FC-ResNet": {"num_blocks": [2]},
            "FC-DenseNet": {"growth_rate": [8]},
        },
    }
    features = "\n".join(",".join(["1"] * 20) for _ in range(2)) + "\n"
    path = _write_config(tmp_path, {"x.csv": features, "y.txt": "a\nb\n"}, config)
    adata, cfg = sag.io.read_autogenome(path)
    assert cfg["space"] == {"resnet": {"n_blocks": [2]}}
    record = adata.uns["sag_io"]
    assert record["mapped"]["search_space.FC-ResNet.num_blocks"] == "space.resnet.n_blocks"
    for where in ("search_space.MLP.num_layers", "search_space.FC-DenseNet.growth_rate"):
        assert where not in record["mapped"]
        assert "does not search it" in record["no_counterpart"][where]


# -- read_maf's genes= and aliquots (review 2026-12-08) -----------------------------------------
_MAF_HEADER = "#version gdc-1.0.0\nHugo_Symbol\tVariant_Classification\tTumor_Sample_Barcode\n"


def _firehose_rsem(path: Path, genes: list[str], samples: list[str]) -> Path:
    """A Firehose RSEM file: SYMBOL|ENTREZ gene ids, an extra 'gene_id' line."""
    rows = ["Hybridization REF\t" + "\t".join(samples)]
    rows.append("gene_id\t" + "\t".join(["normalized_count"] * len(samples)))
    rows += [
        g + "\t" + "\t".join(f"{i + j + 1}.5" for j in range(len(samples)))
        for i, g in enumerate(genes)
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_read_maf_genes_of_a_firehose_expression_matrix(tmp_path):
    """genes= an expression matrix's Firehose ids (TP53|7157) meets the MAF's symbols (TP53):
    the columns are genes= as given, the symbols' mutations in them; genes of counted
    mutations that meet none of genes= are warned about (it was an all-zero matrix, silent)."""
    samples = ["TCGA-A1-A0SB-01A-11R-A144-07", "TCGA-A1-A0SD-01A-11R-A115-07"]
    ids = ["KRAS|3845", "TP53|7157", "?|100130426", "EGFR|1956"]
    expr = sag.io.read_tcga(_firehose_rsem(tmp_path / "BRCA.rsem.txt", ids, samples))
    assert expr.var_names.tolist() == ids
    maf = _write(
        tmp_path / "m.maf",
        _MAF_HEADER
        + "TP53\tMissense_Mutation\tTCGA-A1-A0SB-01A-11D-A142-09\n"
        + "KRAS\tNonsense_Mutation\tTCGA-A1-A0SD-01A-11D-A10Y-09\n"
        + "TTN\tMissense_Mutation\tTCGA-A1-A0SD-01A-11D-A10Y-09\n"
        + "MUC16\tFrame_Shift_Del\tTCGA-A1-A0SD-01A-11D-A10Y-09\n"
        + "EGFR\tSilent\tTCGA-A1-A0SD-01A-11D-A10Y-09\n",
    )
    genes = expr.var_names.copy()
    with pytest.warns(UserWarning, match="genes with counted mutations") as record:
        muts = sag.io.read_maf(maf, samples=expr.obs_names, genes=expr.var_names)
    text = " ".join(str(w.message) for w in record)
    assert (
        "2 of the 4 genes with counted mutations are not in genes= (e.g. ['MUC16', 'TTN'])" in text
    )
    assert expr.var_names.equals(genes)  # the user's data is not changed
    assert muts.var_names.tolist() == ids
    assert muts.obs_names.tolist() == samples
    np.testing.assert_array_equal(muts.X.toarray(), [[0, 1, 0, 0], [1, 0, 0, 0]])
    assert muts.uns["sag_io"]["n_variants_counted"] == 2
    # every counted gene matched: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # anndata >= 0.13 reads an option pandas 3 deprecates: not this code's warning
        warnings.filterwarnings("ignore", message=".*future.infer_string.*")
        both = sag.io.read_maf(
            maf,
            variant_classes=["Missense_Mutation", "Nonsense_Mutation"],
            samples=expr.obs_names,
            genes=[*ids, "TTN"],
        )
    # ... and a bare Ensembl id to one with a version
    assert both[:, "TTN"].X.sum() == 1
    ens = _write(
        tmp_path / "e.maf", _MAF_HEADER + "ENSG00000141510\tMissense_Mutation\tTCGA-A1-A0SB-01A\n"
    )
    assert sag.io.read_maf(ens, genes=["ENSG00000141510.16"]).X.sum() == 1
    # none of them in genes=: an all-zero matrix of the genes asked for, said so
    with pytest.warns(UserWarning, match="none of the 4 genes with counted mutations") as record:
        none = sag.io.read_maf(maf, genes=["ESR1|2099", "GATA3|2625"])
    (msg,) = [str(w.message) for w in record if "none of" in str(w.message)]
    assert "['KRAS', 'MUC16', 'TP53']" in msg
    assert "['ESR1|2099', 'GATA3|2625']" in msg
    assert "all zero" in msg
    assert none.var_names.tolist() == ["ESR1|2099", "GATA3|2625"]
    assert none.X.nnz == 0


def test_read_maf_two_aliquots_of_one_sample_are_named_as_such(tmp_path):
    """A tumour sample with two DNA aliquots in the MAF, samples= its RNA aliquot: the warning
    says the aliquots match that id ambiguously and suggests level='sample' (it said they were
    not in samples=); a MAF sample that matches nothing is still named as such."""
    maf = _write(
        tmp_path / "dup.maf",
        _MAF_HEADER
        + "TP53\tMissense_Mutation\tTCGA-A2-B000-01A-11D-D000-09\n"
        + "KRAS\tMissense_Mutation\tTCGA-A2-B000-01A-21D-E000-09\n"
        + "EGFR\tMissense_Mutation\tTCGA-E2-B001-01A-11D-D001-09\n"
        + "APC\tMissense_Mutation\tTCGA-ZZ-Z999-01A-11D-D999-09\n",
    )
    samples = ["TCGA-A2-B000-01A-11R-A001-07", "TCGA-E2-B001-01A-11R-A002-07"]
    with pytest.warns(UserWarning, match="several aliquots") as record:
        muts = sag.io.read_maf(maf, samples=samples)
    messages = [str(w.message) for w in record]
    (several,) = [m for m in messages if "several aliquots" in m]
    assert "2 MAF samples match one samples= id through several aliquots" in several
    assert "'TCGA-A2-B000-01A-11R-A001-07'" in several
    assert "'TCGA-A2-B000-01A-11D-D000-09'" in several
    assert "level='sample'" in several
    (absent,) = [m for m in messages if "not in samples=" in m]
    assert "1 sample is not in samples= (e.g. ['TCGA-ZZ-Z999-01A-11D-D999-09'])" in absent
    assert muts.obs.loc[samples[0], "n_mutated_genes"] == 0
    assert muts.obs.loc[samples[1], "n_mutated_genes"] == 1
    # level='sample' merges the aliquots, samples= staying the aliquot barcodes
    with pytest.warns(UserWarning, match="not in samples=") as record:
        merged = sag.io.read_maf(maf, level="sample", samples=samples)
    assert not [w for w in record if "several aliquots" in str(w.message)]
    assert merged.obs_names.tolist() == samples
    assert merged.obs["n_mutated_genes"].tolist() == [2, 1]


def test_read_tcga_clinical_table_without_project_fails_before_the_files_are_read(tmp_path):
    """A clinical table with no project column and no clinical_columns= gives nothing to read:
    said before the expression files are parsed, with one of its own columns as the example."""
    clin = _write(
        tmp_path / "clin.tsv",
        "bcr_patient_barcode\tbatch\tgender\nTCGA-A1-A0SB\t1\tmale\nTCGA-A1-A0SD\t1\tfemale\n",
    )
    with pytest.raises(ValueError, match=r"clinical_columns= .*\(e\.g\. \['gender'\]\)"):
        sag.io.read_tcga(tmp_path / "not_there.tsv", clinical=clin)


def test_readers_name_a_path_or_barcodes_of_another_type():
    """read_table(3) failed in pathlib ("expected str, bytes or os.PathLike object, not
    int") and parse_tcga_barcode(3) with "'int' object is not iterable"."""
    with pytest.raises(TypeError, match=r"^path=3 must be a str or Path naming the matrix file"):
        sag.io.read_table(3)
    with pytest.raises(TypeError, match=r"^barcodes=3 must be a str \(one barcode\) or a sequence"):
        sag.io.parse_tcga_barcode(3)
    # the other readers: a number, a list holding one, a dict of cohort: number
    for read, what in ((sag.io.read_maf, "MAF file"), (sag.io.read_tcga, "expression file")):
        with pytest.raises(TypeError, match=rf"^paths=3 is of type int; give the path of a {what}"):
            read(3)
        with pytest.raises(
            TypeError, match=r"^paths holds 3 of type int; each must be the path of"
        ):
            read(["a.tsv", 3])
        with pytest.raises(
            TypeError, match=r"^paths holds 3 of type int; each must be the path of"
        ):
            read({"BRCA": 3})
    with pytest.raises(TypeError, match=r"^AutoGenome config 3 is of type int; give a path"):
        sag.io.read_autogenome(3)


# -- pins of behaviour mutation testing of the readers found unchecked (2026-12) ---------------
_TP53, _KRAS = "ENSG00000141510", "ENSG00000133703"


def test_read_table_sniffs_the_delimiter_of_a_txt_file(tmp_path):
    """A .txt file's delimiter is told by its first line, a tab before a comma: a tab-separated
    file whose header holds a comma in a sample name would otherwise be read as a CSV (one
    column, or samples cut at the comma), and a ';'-separated one as a single column."""
    path = _write(
        tmp_path / "expr.txt",
        f"gene\tS1,rep1\tS2\tS3\n{_TP53}\t1\t2\t3\n{_KRAS}\t4\t5\t6\n",
    )
    adata = sag.io.read_table(path)
    assert adata.uns["sag_io"]["sep"] == "\t"
    assert list(adata.obs_names) == ["S1,rep1", "S2", "S3"]
    assert list(adata.var_names) == [_TP53, _KRAS]
    path = _write(tmp_path / "semi.txt", f"gene;S1;S2;S3\n{_TP53};1;2;3\n{_KRAS};4;5;6\n")
    adata = sag.io.read_table(path)
    assert adata.uns["sag_io"]["sep"] == ";"
    assert adata.shape == (3, 2)
    np.testing.assert_array_equal(np.asarray(adata.X), [[1, 4], [2, 5], [3, 6]])


def test_read_table_reads_a_gct_1_3_as_a_gct_1_2(tmp_path):
    """A GCT 1.3 file (version line, dimensions line with its metadata counts, header) is read
    as a GCT 1.2 is: not recognised, its '#1.3' and dimensions lines would be taken as the
    header and a sample named '3'."""
    body = f"id\tS1\tS2\tS3\n{_TP53}\t1\t2\t3\n{_KRAS}\t4\t5\t6\n"
    old = sag.io.read_table(
        _write(tmp_path / "old.gct", "#1.2\n2\t3\n" + body), orientation="genes_x_samples"
    )
    new = sag.io.read_table(
        _write(tmp_path / "new.gct", "#1.3\n2\t3\t0\t0\n" + body), orientation="genes_x_samples"
    )
    for adata in (old, new):
        assert list(adata.obs_names) == ["S1", "S2", "S3"]
        assert list(adata.var_names) == [_TP53, _KRAS]
    np.testing.assert_array_equal(np.asarray(new.X), np.asarray(old.X))


def test_read_table_strips_the_ids_of_its_header_and_rows(tmp_path):
    """Spaces around the ids (', ' between the header's cells, a space around a gene id) are no
    part of them: kept, the samples would be ' S1', ' S2' (labels would match none) and the gene
    'ENSG00000141510 ' no Ensembl id."""
    path = _write(tmp_path / "expr.csv", f"gene, S1, S2, S3\n{_TP53} ,1,2,3\n {_KRAS},4,5,6\n")
    adata = sag.io.read_table(path)
    assert list(adata.obs_names) == ["S1", "S2", "S3"]
    assert list(adata.var_names) == [_TP53, _KRAS]


def test_read_table_a_dashed_entrez_gene_id_column_is_no_sample(tmp_path):
    """An 'Entrez-Gene-Id' column is an annotation column as 'Entrez_Gene_Id' is: taken for a
    sample, the table would gain a sample of Entrez ids."""
    path = _write(
        tmp_path / "expr.tsv",
        "Hugo_Symbol\tEntrez-Gene-Id\tS1\tS2\tS3\nTP53\t7157\t1\t2\t3\nKRAS\t3845\t4\t5\t6\n",
    )
    adata = sag.io.read_table(path, orientation="genes_x_samples")
    assert list(adata.obs_names) == ["S1", "S2", "S3"]
    assert list(adata.var_names) == ["TP53", "KRAS"]


def test_read_table_is_sparse_only_when_fewer_than_half_the_values_are_non_zero(tmp_path):
    """X is CSR when fewer than half of its values are non-zero, as documented: a table with
    exactly half non-zero is dense (a sparse one would be larger than the dense array)."""
    half = _write(tmp_path / "half.tsv", f"gene\tS1\tS2\n{_TP53}\t1\t0\n{_KRAS}\t0\t2\n")
    adata = sag.io.read_table(half)
    assert not sparse.issparse(adata.X)
    np.testing.assert_array_equal(adata.X, [[1, 0], [0, 2]])
    quarter = _write(tmp_path / "quarter.tsv", f"gene\tS1\tS2\n{_TP53}\t1\t0\n{_KRAS}\t0\t0\n")
    assert sparse.issparse(sag.io.read_table(quarter).X)


def test_read_table_qiime_mapping_with_a_units_line_keeps_numbers_numeric(tmp_path):
    """A QIIME mapping file's '#' line below its header (units) is a comment: the 'age' column
    below it is numeric (30, 40, 50); kept as text, it could not be used as a regression
    target."""
    expr = _write(tmp_path / "expr.tsv", f"gene\tS1\tS2\tS3\n{_TP53}\t1\t2\t3\n{_KRAS}\t4\t5\t6\n")
    mapping = _write(
        tmp_path / "map.tsv",
        "#SampleID\tage\tgroup\n#units\tyears\tnone\nS1\t30\ta\nS2\t40\tb\nS3\t50\ta\n",
    )
    adata = sag.io.read_table(expr, labels=mapping)
    assert pd.api.types.is_numeric_dtype(adata.obs["age"])
    assert adata.obs["age"].tolist() == [30, 40, 50]
    assert adata.obs["group"].astype(str).tolist() == ["a", "b", "a"]


def test_read_autogenome_ids_without_a_header_keep_the_first_sample(tmp_path):
    """A features file of sample ids and numbers with no header line: its first line is a
    sample (s1), not a header of feature names ('0.5', '1.0') that would lose it."""
    files = {"x.csv": "s1,0.5,1.0\ns2,0.1,2.0\ns3,0.3,0.2\ns4,0.7,0.9\n", "y.txt": "a\nb\na\nb\n"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata, _ = sag.io.read_autogenome(
            _ag(tmp_path, files, train_data_path="x.csv", train_label_path="y.txt")
        )
    assert list(adata.obs_names) == ["s1", "s2", "s3", "s4"]
    assert adata.n_vars == 2
    np.testing.assert_allclose(np.asarray(adata.X)[0], [0.5, 1.0])
    assert adata.obs["label"].tolist() == ["a", "b", "a", "b"]


def test_parse_tcga_barcode_tumour_codes_trailing_text_and_underscores():
    """Sample type 40 (recurrent blood derived cancer) is a tumour, as 01-09 are (documented);
    text after a full barcode makes it no barcode (an error, or nothing with errors='coerce'),
    not a barcode read from its start; Firehose's 'TCGA_A1_A0SB_01' is the sample
    TCGA-A1-A0SB-01."""
    parsed = sag.io.parse_tcga_barcode(["TCGA-AB-2803-40A", "TCGA-AB-2803-10A"])
    assert parsed["is_tumor"].tolist() == [True, False]
    with pytest.raises(ValueError, match="is not a TCGA barcode"):
        sag.io.parse_tcga_barcode("TCGA-A1-A0SB-01A-11R-A144-07-rerun")
    coerced = sag.io.parse_tcga_barcode(
        ["TCGA-A1-A0SB-01Abad", "TCGA-A1-A0SB-01A"], errors="coerce"
    )
    assert coerced["patient"].isna().tolist() == [True, False]
    assert coerced["is_tumor"].tolist() == [False, True]
    underscored = sag.io.parse_tcga_barcode("TCGA_A1_A0SB_01")
    assert underscored["sample"].iloc[0] == "TCGA-A1-A0SB-01"
    assert underscored["patient"].iloc[0] == "TCGA-A1-A0SB"


def test_read_table_labels_match_at_barcode_level_only_when_both_sides_are_barcodes(tmp_path):
    """Labels are matched by TCGA barcode level (a patient's row to its samples) only where
    both the samples and the label ids are mostly barcodes, as documented; a label table of
    other ids (one barcode among them) is matched exactly, not its one barcode row spread to
    a sample."""
    samples = [
        "S1",
        "TCGA-A2-A0CM-01A-11R-A034-07",
        "TCGA-A2-A0D0-01A-11R-A034-07",
        "TCGA-A1-A0SB-01A-11R-A144-07",
    ]
    expr = _write(
        tmp_path / "expr.tsv",
        "gene\t" + "\t".join(samples) + f"\n{_TP53}\t1\t2\t3\t4\n{_KRAS}\t4\t5\t6\t7\n",
    )
    labels = _write(tmp_path / "lab.tsv", "id\tlab\nS1\ta\nX1\tb\nX2\ta\nTCGA-A1-A0SB\tb\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = sag.io.read_table(expr, labels=labels, orientation="genes_x_samples")
    assert adata.uns["sag_io"]["id_match"] == "exact"
    assert adata.obs["lab"].isna().tolist() == [False, True, True, True]
    assert adata.obs.loc["S1", "lab"] == "a"


def test_read_tcga_names_the_cohort_of_a_firehose_aggregate_file(tmp_path):
    """A Firehose file named 'COADREAD.*' is of the aggregate cohort COADREAD (with the warning
    that it is an aggregate), as 'BRCA.*' is of BRCA: no project from a cohort code longer
    than four letters."""
    path = _write(
        tmp_path / "COADREAD.rnaseqv2__illuminahiseq_rnaseqv2__unc_edu__Level_3__RSEM_genes"
        "_normalized__data.data.txt",
        "gene_id\tTCGA-AA-3516-01A-02R-1022-07\tTCGA-AG-3999-01A-01R-1022-07\n"
        "TP53|7157\t1\t2\nKRAS|3845\t4\t5\n",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        adata = sag.io.read_tcga(path, tumor_only=True)
    assert adata.obs["project"].astype(str).tolist() == ["COADREAD", "COADREAD"]
    assert any("aggregate" in str(w.message) for w in caught)


def _ensembl_file(path: Path, genes: list[str], sample: str) -> Path:
    rows = "".join(f"{g}\t{i + 1}\n" for i, g in enumerate(genes))
    return _write(path, f"gene_id\t{sample}\n{rows}")


def test_read_tcga_ensembl_versions_par_y_copies_and_repeated_genes(tmp_path):
    """Files of two GENCODE releases meet on their Ensembl ids without the version, a gene's
    '_PAR_Y' copy staying a gene of its own (not merged into the gene, which would repeat it);
    a file listing one gene under two versions keeps the versions (stripped, its genes would
    repeat) and the files are matched as written."""
    a, b = "TCGA-A1-A0SB-01A-11R-A144-07", "TCGA-AA-3516-01A-02R-1022-07"
    genes = [_TP53, "ENSG00000002586", "ENSG00000002586"]
    paths = {}
    for cohort, version, sample in (("BRCA", 16, a), ("COAD", 17, b)):
        ids = [f"{g}.{version}" for g in genes]
        ids[2] += "_PAR_Y"
        paths[cohort] = _ensembl_file(tmp_path / f"{cohort}.tsv", ids, sample)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = sag.io.read_tcga(paths, tumor_only=True)
    assert adata.uns["sag_io"]["gene_match"] == "ensembl_without_version"
    assert sorted(adata.var_names) == ["ENSG00000002586", "ENSG00000002586_PAR_Y", _TP53]
    X = adata[:, ["ENSG00000002586", "ENSG00000002586_PAR_Y"]].X
    X = X.toarray() if sparse.issparse(X) else np.asarray(X)
    np.testing.assert_array_equal(X, [[2, 3], [2, 3]])
    # one gene under two versions in a file: matched as written
    _ensembl_file(tmp_path / "BRCA.tsv", [f"{_TP53}.16", f"{_TP53}.17", f"{_KRAS}.11"], a)
    _ensembl_file(tmp_path / "COAD.tsv", [f"{_TP53}.18", f"{_KRAS}.12"], b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = sag.io.read_tcga(paths, join="outer", tumor_only=True)
    assert adata.uns["sag_io"]["gene_match"] == "exact"
    assert adata.var_names.is_unique
    assert sorted(adata.var_names) == sorted(
        [f"{_TP53}.16", f"{_TP53}.17", f"{_TP53}.18", f"{_KRAS}.11", f"{_KRAS}.12"]
    )


def test_read_tcga_sample_types_given_as_numbers(tmp_path):
    """sample_types=[1] or ["1"] mean the code '01' (primary tumour), as [\"01\"] does: not
    padded, they would keep no sample."""
    path = _write(
        tmp_path / "BRCA.expr.txt",
        "gene_id\tTCGA-A1-A0SB-01A-11R-A144-07\tTCGA-A1-A0SB-11A-11R-A144-07\n"
        "TP53|7157\t1\t2\nKRAS|3845\t4\t5\n",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for given in ([1], ["1"], ["01"]):
            adata = sag.io.read_tcga(path, sample_types=given)
            assert list(adata.obs["sample_type_code"]) == ["01"], given


def test_read_tcga_project_from_the_clinical_table_for_a_file_not_named_by_cohort(tmp_path):
    """Of two files, one named by its cohort (BRCA.*) and one not, the second's samples take
    their project from the clinical table: left empty, they would have no project."""
    brca = _write(
        tmp_path / "BRCA.expr.txt",
        "gene_id\tTCGA-A1-A0SB-01A-11R-A144-07\nTP53|7157\t1\nKRAS|3845\t4\n",
    )
    other = _write(
        tmp_path / "expr.tsv", "gene_id\tTCGA-AA-3516-01A-02R-1022-07\nTP53|7157\t1\nKRAS|3845\t4\n"
    )
    clin = _write(
        tmp_path / "clin.tsv",
        "bcr_patient_barcode\tproject_id\nTCGA-A1-A0SB\tTCGA-BRCA\nTCGA-AA-3516\tTCGA-COAD\n",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = sag.io.read_tcga([brca, other], clinical=clin, tumor_only=True)
    assert adata.obs["project"].astype(object).tolist() == ["BRCA", "COAD"]


def test_read_table_orientation_by_gene_ids_then_by_shape(tmp_path):
    """Rows mostly (3 of 4) Ensembl ids, versioned as GDC writes them or not, are genes, with
    no warning, whatever the shape; a square table nothing else decides is samples x genes
    (more rows than columns would make it genes x samples), with the shape-only warning."""
    genes = [_TP53, _KRAS, "ENSG00000000003", "my_transcript"]
    mostly = _write(
        tmp_path / "mostly.tsv",
        "gene\tS1\tS2\tS3\tS4\tS5\n" + "".join(f"{g}\t1\t2\t3\t4\t5\n" for g in genes),
    )
    versioned = _write(
        tmp_path / "versioned.tsv",
        f"gene\tS1\tS2\tS3\n{_TP53}.16\t1\t2\t3\n{_KRAS}.11\t4\t5\t6\n",
    )
    for path, n_obs in ((mostly, 5), (versioned, 3)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            adata = sag.io.read_table(path)
        assert _ours(caught) == [], [str(w.message) for w in _ours(caught)]
        assert adata.uns["sag_io"]["orientation"] == "genes_x_samples", path.name
        assert adata.n_obs == n_obs
    square = _write(tmp_path / "t.csv", "id,a,b\nx,1,2\ny,3,4\n")
    with pytest.warns(UserWarning, match="only the shape tells the orientation"):
        adata = sag.io.read_table(square)
    assert adata.uns["sag_io"]["orientation"] == "samples_x_genes"
    assert list(adata.obs_names) == ["x", "y"]
    assert list(adata.var_names) == ["a", "b"]


def test_read_table_gene_symbol_of_a_plain_id_among_firehose_ids(tmp_path):
    """Among Firehose 'SYMBOL|ENTREZ' ids, var['gene_symbol'] of an id without '|' is the id
    itself, not an empty symbol."""
    genes = [f"G{i}|{100 + i}" for i in range(9)] + ["plainsym"]
    path = _write(
        tmp_path / "expr.tsv", "gene_id\tS1\tS2\n" + "".join(f"{g}\t1\t2\n" for g in genes)
    )
    adata = sag.io.read_table(path, orientation="genes_x_samples")
    assert adata.var.loc["plainsym", "gene_symbol"] == "plainsym"
    assert adata.var.loc["G0|100", "gene_symbol"] == "G0"


_S1, _S2 = "TCGA-A1-A0SB-01A-11D-A142-09", "TCGA-A2-A0CM-01A-11D-A033-09"


def _small_maf(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    head = "#version 2.4\nHugo_Symbol\tTumor_Sample_Barcode\tVariant_Classification\n"
    return _write(path, head + "".join("\t".join(r) + "\n" for r in rows))


def test_read_maf_default_variant_classes_are_the_nine_protein_altering_ones(tmp_path):
    """The default classes are exactly the nine protein-altering ones of maftools: a gene
    mutated only by one of them is a column, one mutated only by Silent, Splice_Region, UTR,
    intron, IGR, RNA or flank variants is not."""
    classes = [
        "Frame_Shift_Del",
        "Frame_Shift_Ins",
        "In_Frame_Del",
        "In_Frame_Ins",
        "Missense_Mutation",
        "Nonsense_Mutation",
        "Nonstop_Mutation",
        "Splice_Site",
        "Translation_Start_Site",
    ]
    others = ["Silent", "Splice_Region", "3'UTR", "5'UTR", "Intron", "IGR", "RNA", "5'Flank"]
    path = _small_maf(tmp_path / "classes.maf", [(f"G_{c}", _S1, c) for c in classes + others])
    adata = sag.io.read_maf(path)
    assert list(adata.var_names) == sorted(f"G_{c}" for c in classes)
    assert sorted(adata.uns["sag_io"]["variant_classes"]) == sorted(classes)


def test_read_maf_matrix_is_binary_sorted_and_of_named_genes_only(tmp_path, sag_caplog):
    """X is 1 where a sample has any counted variant of a gene (two TP53 variants of one sample
    are one 1, not 2), its gene columns sorted; variants of no gene (Hugo_Symbol 'Unknown' or
    '.') make no column and are not counted."""
    path = _small_maf(
        tmp_path / "twice.maf",
        [
            ("TP53", _S1, "Missense_Mutation"),
            ("TP53", _S1, "Nonsense_Mutation"),
            ("KRAS", _S2, "Missense_Mutation"),
        ],
    )
    adata = sag.io.read_maf(path)
    assert list(adata.var_names) == ["KRAS", "TP53"]
    assert adata.X.toarray().tolist() == [[0.0, 1.0], [1.0, 0.0]]
    assert adata.X.nnz == 2
    assert adata.obs["n_mutated_genes"].tolist() == [1, 1]
    assert adata.var["n_mutated_samples"].tolist() == [1, 1]
    path = _small_maf(
        tmp_path / "nogene.maf",
        [
            ("TP53", _S1, "Missense_Mutation"),
            (".", _S1, "Missense_Mutation"),
            ("Unknown", _S2, "Nonsense_Mutation"),
        ],
    )
    adata = sag.io.read_maf(path)
    assert list(adata.var_names) == ["TP53"]
    assert adata.uns["sag_io"]["n_variants_counted"] == 1
    assert "MAF: 2 counted variants have no gene (Unknown); skipped" in sag_caplog.text
    sag_caplog.clear()
    sag.io.read_maf(tmp_path / "twice.maf")  # none without a gene: nothing said
    assert "no gene" not in sag_caplog.text
    path = _small_maf(
        tmp_path / "one.maf", [("TP53", _S1, "Missense_Mutation"), (".", _S1, "Silent")]
    )
    sag.io.read_maf(path, variant_classes=["Missense_Mutation", "Silent"])
    assert "MAF: 1 counted variant has no gene (Unknown); skipped" in sag_caplog.text


def test_read_maf_strips_its_cells(tmp_path):
    """Spaces around a MAF's cells are no part of them: 'TP53 ' and 'TP53' are one gene, a
    'Missense_Mutation ' is counted and a barcode with a trailing space is the same sample."""
    path = _small_maf(
        tmp_path / "spaces.maf",
        [
            ("TP53 ", _S1, "Missense_Mutation"),
            ("TP53", _S2, "Missense_Mutation "),
            ("KRAS", _S2 + " ", "Missense_Mutation"),
        ],
    )
    adata = sag.io.read_maf(path)
    assert list(adata.var_names) == ["KRAS", "TP53"]
    assert list(adata.obs_names) == [_S1, _S2]
    assert adata.X.toarray().tolist() == [[0.0, 1.0], [1.0, 1.0]]


def test_read_maf_sample_level_and_samples_given(tmp_path):
    """level='sample' with a patient barcode (no sample type) is an error saying so, not a
    sample named NaN; with samples=, n_variants_counted counts the variants of the samples
    returned only."""
    path = _small_maf(
        tmp_path / "patient.maf",
        [("TP53", _S1, "Missense_Mutation"), ("KRAS", "TCGA-A2-A0CM", "Missense_Mutation")],
    )
    with pytest.raises(ValueError, match="is a patient barcode"):
        sag.io.read_maf(path, level="sample")
    path = _small_maf(
        tmp_path / "sub.maf",
        [
            ("TP53", _S1, "Missense_Mutation"),
            ("KRAS", _S2, "Missense_Mutation"),
            ("PIK3CA", _S2, "Missense_Mutation"),
        ],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = sag.io.read_maf(path, samples=[_S1])
    assert list(adata.obs_names) == [_S1]
    assert adata.uns["sag_io"]["n_variants_counted"] == 1
    assert adata.uns["sag_io"]["n_samples_dropped"] == 1


def test_read_autogenome_id_label_lines_and_their_duplicates(tmp_path):
    """A labels file of 'id,label' lines is joined on the ids although the features file is
    tab-delimited; an id twice in such a file is an error naming both lines, not one label
    silently winning."""
    files = {"x.tsv": "s1\t0.1\t0.2\ns2\t0.3\t0.4\ns3\t0.5\t0.6\n", "y.txt": "s2,b\ns1,a\ns3,c\n"}
    (tmp_path / "tab").mkdir()
    path = _ag(
        tmp_path / "tab", files, delimiter="\t", train_data_path="x.tsv", train_label_path="y.txt"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata, _ = sag.io.read_autogenome(path)
    assert list(adata.obs_names) == ["s1", "s2", "s3"]
    assert adata.obs["label"].tolist() == ["a", "b", "c"]
    files = {"x.csv": "s1,0.1,0.2\ns2,0.3,0.4\n", "y.txt": "s1,a\ns2,b\ns1,c\n"}
    path = _ag(tmp_path, files, train_data_path="x.csv", train_label_path="y.txt")
    with pytest.raises(ValueError, match="duplicate sample id 's1' on lines 1 and 3"):
        sag.io.read_autogenome(path)


def test_read_autogenome_id_label_lines_of_the_other_delimiter_that_are_ragged(tmp_path):
    """'id<TAB>label' lines under a comma delimiter, one of them ragged (a third field): an
    error naming the ragged line, not every whole line taken as a label (three classes
    holding the ids and tabs, without a word); lines of three fields each are refused as
    three columns."""
    files = {"x.csv": "id,g1,g2\ns1,1,2\ns2,3,4\ns3,5,6\n", "y.txt": "s1\tA\ns2\tB\tC\ns3\tD\n"}
    path = _ag(tmp_path, files, train_data_path="x.csv", train_label_path="y.txt", header=True)
    with pytest.raises(ValueError, match=r"y\.txt', line 2: ragged row, 3 fields where line 1"):
        sag.io.read_autogenome(path)
    (tmp_path / "y.txt").write_text("s1\tA\tx\ns2\tB\ty\ns3\tD\tz\n")
    with pytest.raises(ValueError, match=r"y\.txt': 3 columns; expected one label per line"):
        sag.io.read_autogenome(path)
    (tmp_path / "y.txt").write_text("s1\tA\ns2\tB\ns3\tD\n")
    adata, _ = sag.io.read_autogenome(path)
    assert adata.obs["label"].tolist() == ["A", "B", "D"]


def test_read_autogenome_a_labels_file_without_features_is_not_recorded_as_read(tmp_path):
    """An eval labels file without an eval features file is not read: uns['sag_io'] records
    it under no_counterpart only, not also as read under mapped."""
    adata, _, _ = _ag_read(tmp_path, {}, eval_label_path="y.txt")
    assert "data_loader.eval_label_path" in adata.uns["sag_io"]["no_counterpart"]
    assert "data_loader.eval_label_path" not in adata.uns["sag_io"]["mapped"]
    assert adata.uns["sag_io"]["mapped"]["data_loader.train_label_path"] == "read (train_labels)"


def test_read_autogenome_feature_names_file_layouts(tmp_path):
    """A feature names file may start with a header word ('gene'), or hold all names on one
    comma-separated line; where the features file has a header of other names, the names file
    wins with a warning saying they differ."""
    base = {"x.csv": "0.1,0.2\n0.3,0.4\n0.5,0.6\n0.7,0.8\n", "y.txt": "a\nb\na\nb\n"}
    loader = dict(train_data_path="x.csv", train_label_path="y.txt", feature_names_path="f.txt")
    for names in ("gene\nTP53\nKRAS\n", "TP53,KRAS\n"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            adata, _ = sag.io.read_autogenome(_ag(tmp_path, {**base, "f.txt": names}, **loader))
        assert list(adata.var_names) == ["TP53", "KRAS"], names
    files = {"x.csv": "A,B\n1,2\n3,4\n", "y.txt": "a\nb\n", "f.txt": "TP53\nKRAS\n"}
    with pytest.warns(UserWarning, match="differs from feature names file"):
        adata, _ = sag.io.read_autogenome(_ag(tmp_path, files, **loader))
    assert list(adata.var_names) == ["TP53", "KRAS"]
    np.testing.assert_array_equal(np.asarray(adata.X), [[1, 2], [3, 4]])


def test_report_table_escapes_its_cells_and_headers():
    """The report's tables escape what they show: a class named '<b>' or 'A&B' (labels are
    user text) is shown as written, not taken for markup that breaks the page."""
    from scautogenome.io._report import _table

    page = _table(["class <x>", "n"], [["<b>", 3], ["A&B", 0.5]])
    assert '<td class="l">&lt;b&gt;</td>' in page
    assert '<td class="l">A&amp;B</td>' in page
    assert "<td>0.500</td>" in page
    assert "<td>3</td>" in page
    assert "class &lt;x&gt;" in page
    assert "<b>" not in page


def test_blank_lines_above_a_header_are_skipped_as_pandas_skips_them(tmp_path):
    """A label or clinical table, or a MAF, whose header comes after a blank line (at the top,
    or below '#' lines) is read as the matrix reader reads one: the label table was "empty
    (no header line)", the MAF a "ragged row" whose header was the blank line."""
    expr = tmp_path / "expr.tsv"
    expr.write_text("gene\tS1\tS2\tS3\nENSG00000141510\t1\t2\t3\nENSG00000133703\t4\t5\t6\n")
    for name, text in (
        ("top.tsv", "\nid\tlabel\nS1\ta\nS2\tb\nS3\ta\n"),
        ("hash.tsv", "# exported 2024\n\nid\tlabel\nS1\ta\nS2\tb\nS3\ta\n"),
    ):
        (tmp_path / name).write_text(text)
        adata = sag.io.read_table(expr, labels=tmp_path / name)
        assert adata.obs["label"].tolist() == ["a", "b", "a"]
    blank = tmp_path / "blank.tsv"
    blank.write_text("# exported 2024\n\n\n")
    with pytest.raises(ValueError, match="empty"):
        sag.io.read_table(expr, labels=blank)
    rows = (
        "Hugo_Symbol\tTumor_Sample_Barcode\tVariant_Classification\n"
        "TP53\tTCGA-A1-A0SB-01A-11D-A142-09\tMissense_Mutation\n"
    )
    for i, text in enumerate(("#version 2.4\n\n" + rows, "\n" + rows)):
        maf = tmp_path / f"m{i}.maf"
        maf.write_text(text)
        adata = sag.io.read_maf(maf)
        assert list(adata.var_names) == ["TP53"]
        assert adata.n_obs == 1
    empty = tmp_path / "empty.maf"
    empty.write_text("#version 2.4\n\n")
    with pytest.raises(ValueError, match="empty"):
        sag.io.read_maf(empty)


def test_a_label_dataframe_after_a_row_filter_keeps_its_id_column(tmp_path):
    """``labels=`` a DataFrame filtered by rows (``clin[clin["project"] == "BRCA"]``) has an
    index of row numbers that is no longer a RangeIndex: it was taken for the id column
    ('index', ids '1', '2', '3') and matched no sample. An unnamed index of integers is row
    numbers and left out; a named index, or one of ids, is still the id column."""
    expr = tmp_path / "expr.tsv"
    expr.write_text("gene\tS1\tS2\tS3\nENSG00000141510\t1\t2\t3\nENSG00000133703\t4\t5\t6\n")
    # a row left out between kept ones: pandas 3 keeps a RangeIndex for evenly spaced rows
    lab = pd.DataFrame({"sample": ["S1", "S0", "S2", "S3"], "label": ["a", "x", "b", "a"]})
    filtered = lab[lab["sample"] != "S0"]
    assert not isinstance(filtered.index, pd.RangeIndex)
    adata = sag.io.read_table(expr, labels=filtered)
    assert adata.obs["label"].tolist() == ["a", "b", "a"]
    by_ids = filtered.set_index("sample")
    by_ids.index.name = None  # ids as an unnamed index (index_col=0 of a blank corner)
    assert sag.io.read_table(expr, labels=by_ids).obs["label"].tolist() == ["a", "b", "a"]
    named = filtered.set_index("sample")
    assert sag.io.read_table(expr, labels=named).obs["label"].tolist() == ["a", "b", "a"]


# -- pins of behaviour mutation testing of the readers found unchecked (2026-12, round 2) -----


def test_read_table_a_directory_or_a_zip_of_no_file_is_named(tmp_path):
    import zipfile

    with pytest.raises(IsADirectoryError, match=r"is a directory, expected a file"):
        sag.io.read_table(tmp_path)
    archive = tmp_path / "m.tsv.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("folder/", "")  # a folder is no file
    with pytest.raises(ValueError, match=r"a zip archive must hold exactly one file, found \[\]"):
        sag.io.read_table(archive)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_read_table_an_empty_zip_archive_is_named_as_one(tmp_path):
    """A zip archive of no entries at all starts with its end record (PK\\x05\\x06), not an
    entry's (PK\\x03\\x04): it is still a zip archive of no file, not text without rows."""
    import zipfile

    archive = tmp_path / "m.tsv.zip"
    with zipfile.ZipFile(archive, "w"):
        pass
    assert archive.read_bytes().startswith(b"PK\x05\x06")
    with pytest.raises(ValueError, match=r"a zip archive must hold exactly one file, found \[\]"):
        sag.io.read_table(archive)


def test_read_table_a_value_beyond_the_dtype_is_named(tmp_path):
    path = _write(tmp_path / "m.tsv", "gene\tS1\tS2\ng1\t1\t1e39\ng2\t1\t2\n")
    with pytest.raises(ValueError, match=r"line 2, column 'S2': value '1e39' overflows float32"):
        sag.io.read_table(path, orientation="genes_x_samples")
    adata = sag.io.read_table(path, orientation="genes_x_samples", dtype="float64")
    assert adata.X.max() == 1e39


def test_read_table_a_header_without_rows_or_a_ragged_first_row(tmp_path):
    path = _write(tmp_path / "m.tsv", "gene\tS1\tS2\n")
    with pytest.raises(ValueError, match=r"'.*m\.tsv': no data rows after the header"):
        sag.io.read_table(path, orientation="genes_x_samples")
    path.write_text("gene\tS1\tS2\ng1\t1\t2\t3\t4\ng2\t1\t2\n")
    with pytest.raises(
        ValueError, match=r"line 2: ragged row, 5 fields where the header \(line 1\) has 3"
    ):
        sag.io.read_table(path, orientation="genes_x_samples")


def _four_samples(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "expr.tsv",
        "gene\tS0\tS1\tS2\tS3\nENSG00000141510\t1\t2\t3\t4\nENSG00000133703\t4\t5\t6\t7\n",
    )


def test_read_table_a_label_table_that_pandas_cannot_parse_is_named(tmp_path):
    """pandas' own errors name no file: the label table's are raised naming it."""
    expr = _four_samples(tmp_path)
    lab = _write(tmp_path / "lab.csv", "id,label\nS0,a\nS1,b,extra\nS2,a\n")
    with pytest.raises(ValueError, match=r"^label table '.*lab\.csv': .*Expected 2 fields"):
        sag.io.read_table(expr, labels=lab)
    # bytes that are no UTF-8 beyond the lines sniffed first (and the buffer they are read by)
    rows = "".join(f"X{i},a\n" for i in range(5000))
    lab.write_bytes(("id,label\n" + rows + "S0,caf\xe9\n").encode("cp1252"))
    with pytest.raises(ValueError, match=r"^label table '.*lab\.csv': not UTF-8 text"):
        sag.io.read_table(expr, labels=lab)


def test_read_table_qiime_missing_words_in_a_text_column_are_missing(tmp_path):
    expr = _four_samples(tmp_path)
    meta = _write(
        tmp_path / "meta.tsv",
        "sample-id\tsite\n#q2:missing\tINSDC:missing\n"
        "S0\tgut\nS1\tnot collected\nS2\tskin\nS3\tmissing: control sample\n",
    )
    adata = sag.io.read_table(expr, labels=meta)
    assert adata.obs["site"].astype(object).where(adata.obs["site"].notna(), None).tolist() == [
        "gut",
        None,
        "skin",
        None,
    ]


def test_read_table_categorical_labels_of_numbers_become_text_categories(tmp_path):
    expr = _four_samples(tmp_path)
    labels = pd.DataFrame(
        {"sample": ["S0", "S1", "S2", "S3"], "grade": pd.Categorical([1, 2, 1, 2])}
    )
    adata = sag.io.read_table(expr, labels=labels)
    assert adata.obs["grade"].cat.categories.tolist() == ["1", "2"]
    _roundtrip(adata, tmp_path)


def _ag_read(tmp_path: Path, config: dict, **loader):
    """read_autogenome of two samples (x.csv, y.txt) under ``config``: (adata, cfg, warnings)."""
    files = {"x.csv": "1,2\n3,4\n", "y.txt": "a\nb\n"}
    loader = {"train_data_path": "x.csv", "train_label_path": "y.txt", **loader}
    path = _ag(tmp_path, files, config, **loader)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        adata, cfg = sag.io.read_autogenome(path)
    return adata, cfg, " ".join(str(w.message) for w in _ours(caught))


def test_read_autogenome_learning_rate_bounds_given_apart_or_as_an_object(tmp_path):
    log_range = {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}
    trainer = {"min_learning_rate": 1e-4, "max_learning_rate": "1e-2"}
    adata, cfg, _ = _ag_read(tmp_path, {"model_trainer": trainer})
    assert cfg["space"]["common"]["lr"] == log_range
    mapped = adata.uns["sag_io"]["mapped"]
    assert mapped["model_trainer.min_learning_rate"] == "space.common.lr"
    assert mapped["model_trainer.max_learning_rate"] == "space.common.lr"
    with pytest.raises(ValueError, match="give both a minimum and a maximum learning rate"):
        _ag_read(tmp_path, {"model_trainer": {"min_learning_rate": 1e-4}})
    for bounds in ({"min": 1e-4, "max": 1e-2}, {"low": 1e-4, "high": 1e-2}):
        _, cfg, _ = _ag_read(tmp_path, {"model_trainer": {"learning_rate": bounds}})
        assert cfg["space"]["common"]["lr"] == log_range
    with pytest.raises(ValueError, match=r"learning_rate needs low/high \(or min/max\)"):
        _ag_read(tmp_path, {"model_trainer": {"learning_rate": {"low": 1e-4}}})


def test_read_autogenome_optimizers_map_onto_adamw_and_sgd(tmp_path):
    trainer = {"optimizer": ["adam", "adamw", "momentum"]}
    adata, cfg, _ = _ag_read(tmp_path, {"model_trainer": trainer})
    assert cfg["space"]["common"]["optimizer"] == ["adamw", "sgd"]
    assert adata.uns["sag_io"]["mapped"]["model_trainer.optimizer"] == "space.common.optimizer"
    sag.config.load(cfg)
    _, cfg, _ = _ag_read(tmp_path, {"model_trainer": {"optimizer": "Adam"}})
    assert cfg["space"]["common"]["optimizer"] == "adamw"
    # one optimizer sag lacks: none is mapped
    adata, cfg, text = _ag_read(tmp_path, {"model_trainer": {"optimizer": ["adam", "rmsprop"]}})
    assert cfg == {"mode": "auto"}
    assert (
        "sag offers adamw and sgd"
        in adata.uns["sag_io"]["no_counterpart"]["model_trainer.optimizer"]
    )
    assert "model_trainer.optimizer" in text
    # sag.tl.embed's config has no optimizer
    config = {"model_trainer": {"optimizer": "adam"}, "search_mode": "Res-VAE"}
    adata, cfg, _ = _ag_read(tmp_path, config)
    assert cfg == {"mode": "resvae"}
    assert "sag.tl.embed" in adata.uns["sag_io"]["no_counterpart"]["model_trainer.optimizer"]


def test_read_autogenome_labels_without_features_and_keys_without_counterpart(tmp_path):
    adata, _, text = _ag_read(tmp_path, {}, eval_label_path="y.txt", shuffle=True)
    rec = adata.uns["sag_io"]["no_counterpart"]
    assert rec["data_loader.eval_label_path"] == "no eval features file"
    assert rec["data_loader.shuffle"] == "no counterpart in sag (value true)"
    assert "data_loader.eval_label_path: no eval features file" in text
    assert adata.obs["autogenome_split"].tolist() == ["train", "train"]


def test_read_table_label_ids_missing_or_repeated_are_counted(tmp_path):
    expr = _four_samples(tmp_path)
    lab = _write(tmp_path / "lab.tsv", "id\tlabel\nS0\ta\n\tb\nNA\tc\n \td\n\te\n")
    with pytest.raises(ValueError, match=r"at lines 3 and 4 and 5 \(4 in all\)"):
        sag.io.read_table(expr, labels=lab)
    lab.write_text("id\tlabel\nS0\ta\nS0\tb\nS1\tc\nS1\td\nS0\te\n")
    with pytest.raises(
        ValueError, match=r"duplicate id 'S0' .* lines 2 and 3 and 6 \(2 ids repeat\)"
    ):
        sag.io.read_table(expr, labels=lab)
    lab.write_text("id|label\nS0|a\nS1|b\n")
    with pytest.raises(ValueError, match=r"needs an id column and at least one label column"):
        sag.io.read_table(expr, labels=lab)


def test_read_tcga_clinical_project_left_empty_is_missing(tmp_path):
    samples = ["TCGA-A1-A0SB-01A", "TCGA-05-4244-01A", "TCGA-05-4245-01A"]
    expr = _tcga_file(tmp_path / "expr_tpm.tsv", samples)
    clin = pd.DataFrame(
        {
            "case_submitter_id": ["TCGA-A1-A0SB", "TCGA-05-4244", "TCGA-05-4245"],
            "project_id": ["TCGA-BRCA", np.nan, "TCGA-LUAD"],
        }
    )
    adata = sag.io.read_tcga(expr, clinical=clin)
    assert adata.obs["project"].isna().tolist() == [False, True, False]
    assert adata.obs["project"].cat.categories.tolist() == ["BRCA", "LUAD"]


def test_read_tcga_cohorts_given_twice_none_or_of_another_count(tmp_path):
    expr = _tcga_file(tmp_path / "expr_tpm.tsv", ["TCGA-A1-A0SB-01A"])
    with pytest.raises(ValueError, match=r"either as the keys of a dict of paths or as cohort="):
        sag.io.read_tcga({"BRCA": expr}, cohort="BRCA")
    with pytest.raises(ValueError, match=r"paths is empty; give at least one expression file"):
        sag.io.read_tcga([])
    with pytest.raises(ValueError, match=r"cohort= has 2 entries for 1 files"):
        sag.io.read_tcga([expr], cohort=["BRCA", "LUAD"])


def test_read_tcga_patients_as_columns_headed_by_a_variable_name(tmp_path):
    """A transposed table whose corner cell is also one of its variables: the ids become
    the column 'patient', not a second column of that name."""
    expr = _tcga_file(tmp_path / "expr_tpm.tsv", ["TCGA-A1-A0SB-01A", "TCGA-05-4244-01A"])
    clin = _write(
        tmp_path / "clin.txt",
        "gender\ttcga-a1-a0sb\ttcga-05-4244\ngender\tfemale\tmale\n"
        "project_id\tTCGA-BRCA\tTCGA-LUAD\n",
    )
    adata = sag.io.read_tcga(expr, clinical=clin, clinical_columns=["gender"])
    assert adata.uns["sag_io"]["clinical"]["id_column"] == "patient"
    assert adata.obs["gender"].astype(object).tolist() == ["female", "male"]
    assert adata.obs["project"].astype(object).tolist() == ["BRCA", "LUAD"]


def test_read_tcga_outer_join_of_disjoint_files_is_sparse_and_empty_files_are_named(tmp_path):
    genes = [["TP53", "EGFR"], ["BRAF", "PTEN"], ["RB1", "NRAS"]]
    samples = [
        ["TCGA-A1-A0SB-01A", "TCGA-A1-A0SC-11A"],
        ["TCGA-05-4244-01A", "TCGA-05-4245-01A"],
        ["TCGA-AA-3516-11A", "TCGA-AA-3517-11A"],
    ]
    paths = {
        c: _tcga_file(tmp_path / f"{c}_tpm.tsv", s, g)
        for c, g, s in zip(("BRCA", "LUAD", "COAD"), genes, samples, strict=True)
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        adata = sag.io.read_tcga(paths, join="outer", tumor_only=True)
    text = " ".join(str(w.message) for w in _ours(caught))
    assert re.search(r"'.*COAD_tpm\.tsv': no sample left after filtering \(tumor_only=True", text)
    assert adata.obs["project"].astype(object).tolist() == ["BRCA", "LUAD", "LUAD"]
    assert sparse.issparse(adata.X)  # two thirds of it the zeros filled in
    rec = adata.uns["sag_io"]
    assert list(rec["n_genes_filled_per_file"]) == [4, 4, 4]
    assert rec["tumor_only"] is True
    with (
        pytest.warns(UserWarning, match="no sample left after filtering"),
        pytest.raises(ValueError, match=r"no sample left after filtering in any file"),
    ):
        sag.io.read_tcga({"COAD": paths["COAD"]}, tumor_only=True)


def test_read_tcga_file_named_by_no_cohort_guesses_none(tmp_path):
    expr = _tcga_file(tmp_path / "expr_tpm.tsv", ["TCGA-A1-A0SB-01A", "TCGA-05-4244-01A"])
    with pytest.warns(UserWarning, match="no project code") as caught:
        adata = sag.io.read_tcga(expr)
    assert [str(w.message).split(":")[0] for w in _ours(caught)] == [
        f"no project code for {[str(expr)]}"
    ]
    assert "project" not in adata.obs
    assert adata.uns["sag_io"]["project_source"] == "none"


def test_read_tcga_clinical_column_named_as_a_barcode_column_is_kept_beside_it(tmp_path):
    expr = _tcga_file(tmp_path / "BRCA.tsv", ["TCGA-A1-A0SB-01A", "TCGA-A1-A0SC-11A"])
    clin = pd.DataFrame(
        {"case_submitter_id": ["TCGA-A1-A0SB", "TCGA-A1-A0SC"], "sample_type": ["T", "N"]}
    )
    adata = sag.io.read_tcga(
        expr, clinical=clin, clinical_columns=["sample_type"], tumor_only=False
    )
    assert adata.obs["sample_type"].astype(object).tolist() == [
        "Primary Tumor",
        "Solid Tissue Normal",
    ]
    assert adata.obs["sample_type_clinical"].astype(object).tolist() == ["T", "N"]


_S3 = "TCGA-05-4244-01A"


def _three_class_maf(tmp_path: Path) -> Path:
    return _small_maf(
        tmp_path / "a.maf",
        [("TP53", _S1, "Missense_Mutation"), ("KRAS", _S2, "Silent"), ("EGFR", _S2, "Weird_Class")],
    )


def test_read_maf_one_variant_class_all_classes_and_classes_outside_the_spec(tmp_path):
    path = _three_class_maf(tmp_path)
    with pytest.warns(
        UserWarning, match=r"outside the MAF specification \['Weird_Class'\] \(1 rows\)"
    ):
        adata = sag.io.read_maf(path, variant_classes="Silent")  # one class: not its letters
    assert list(adata.var_names) == ["KRAS"]
    assert list(adata.uns["sag_io"]["variant_classes"]) == ["Silent"]
    with pytest.warns(UserWarning, match="outside the MAF specification"):
        every = sag.io.read_maf(path, variant_classes="all")
    assert list(every.uns["sag_io"]["variant_classes"]) == [
        "Missense_Mutation",
        "Silent",
        "Weird_Class",
    ]
    assert every.uns["sag_io"]["n_variants_counted"] == 3


@pytest.mark.filterwarnings("ignore:MAF. Variant_Classification values outside")
def test_read_maf_refuses_no_file_repeated_names_and_a_sample_of_two_cohorts(tmp_path):
    path = _three_class_maf(tmp_path)
    other = _small_maf(tmp_path / "b.maf", [("TP53", _S2, "Missense_Mutation")])
    with pytest.raises(ValueError, match=r"paths is empty; give at least one MAF file"):
        sag.io.read_maf([])
    with pytest.raises(ValueError, match=r"is in the MAFs of two cohorts, 'BRCA' and 'LUAD'"):
        sag.io.read_maf({"BRCA": path, "LUAD": other})
    with pytest.raises(ValueError, match=r"samples= repeats \['TCGA-A1-A0SB"):
        sag.io.read_maf(path, samples=[_S1, _S1])
    with pytest.raises(ValueError, match=r"genes= repeats \['TP53'\]"):
        sag.io.read_maf(path, genes=["TP53", "TP53"])


@pytest.mark.filterwarnings("ignore:MAF. Variant_Classification values outside")
def test_read_maf_samples_and_genes_given_are_recorded(tmp_path):
    path = _three_class_maf(tmp_path)
    with pytest.warns(
        UserWarning, match=r"MAF: 1 sample is not in samples= .*; its mutations are dropped"
    ):
        one = sag.io.read_maf(path, samples=_S1, genes="TP53")  # one name each, not letters
    assert one.obs_names.tolist() == [_S1]
    assert one.var_names.tolist() == ["TP53"]
    assert one.X.toarray().tolist() == [[1.0]]
    with pytest.warns(UserWarning, match="MAF: 1 sample is not in samples="):
        adata = sag.io.read_maf(path, samples=[_S1, _S3], genes=["TP53", "MYC"])
    rec = adata.uns["sag_io"]
    assert (rec["n_samples_added"], rec["n_samples_dropped"]) == (1, 1)
    assert rec["all_mutated_genes"] is False
    assert sag.io.read_maf(path).uns["sag_io"]["all_mutated_genes"] is True
    # genes= of none of the mutated genes: the matrix is all zero, said so
    with pytest.warns(UserWarning, match=r"none of the 1 genes with counted mutations .* all zero"):
        sag.io.read_maf(path, genes=["MYC"])


def test_parse_tcga_barcode_sample_type_code_of_no_known_type_is_named():
    parsed = sag.io.parse_tcga_barcode("TCGA-A1-A0SB-30A")
    assert parsed["sample_type"].tolist() == ["sample type 30"]
    assert parsed["sample_type_short"].tolist() == ["30"]
    assert not parsed["is_tumor"].any()


def test_read_tcga_obs_holds_the_vial_of_each_barcode(tmp_path):
    expr = _tcga_file(tmp_path / "BRCA.tsv", ["TCGA-A1-A0SB-01A", "TCGA-A1-A0SC-01B"])
    adata = sag.io.read_tcga(expr)
    assert adata.obs["vial"].astype(object).tolist() == ["A", "B"]


def test_read_autogenome_values_that_are_no_number_or_choice_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"model_trainer\.batch_size=\{'a': 1\} is not a value or"):
        _ag_read(tmp_path, {"model_trainer": {"batch_size": {"a": 1}}})
    with pytest.raises(ValueError, match=r"model_trainer\.learning_rate='fast' is not a number"):
        _ag_read(tmp_path, {"model_trainer": {"learning_rate": "fast"}})
    with pytest.raises(ValueError, match=r"model_trainer\.learning_rate=True is not a number"):
        _ag_read(tmp_path, {"model_trainer": {"learning_rate": True}})


def test_read_autogenome_latent_size_of_one_in_a_list_or_written_as_a_float(tmp_path):
    for latent in ([8], 8.0):
        config = {"search_mode": "Res-VAE", "search_space": {"latent_dim": latent}}
        adata, _, _ = _ag_read(tmp_path, config)
        n_latent = adata.uns["sag_io"]["embed_args"]["n_latent"]
        assert n_latent == 8
        assert isinstance(n_latent, int)
    config = {"search_mode": "Res-VAE", "search_space": {"latent_dim": 0}}
    with pytest.raises(ValueError, match=r"latent_dim=0 must be a positive integer"):
        _ag_read(tmp_path, config)


@pytest.mark.skipif("rrfcn" not in sag.config._config.MODES, reason="no ENAS mode")
def test_read_autogenome_enas_settings_of_one_value(tmp_path):
    config = {"search_mode": "ENAS", "search_space": {"num_layers": [2, 3]}}
    adata, cfg, text = _ag_read(tmp_path, config)
    assert "rrfcn" not in cfg
    why = adata.uns["sag_io"]["no_counterpart"]["search_space.num_layers"]
    assert why == "ENAS fixes n_layers; sag.config['rrfcn']['n_layers'] takes one value"
    assert "search_space.num_layers" in text
    config = {"search_mode": "ENAS", "model_trainer": {"batch_size": 16.0}}
    _, cfg, _ = _ag_read(tmp_path, config)
    assert cfg["rrfcn"] == {"child_batch_size": 16}
    assert isinstance(cfg["rrfcn"]["child_batch_size"], int)


def test_read_autogenome_flat_space_key_of_one_family_under_mode_auto(tmp_path):
    adata, cfg, _ = _ag_read(tmp_path, {"search_space": {"num_blocks": [1, 2]}})
    assert cfg == {"mode": "auto", "space": {"resnet": {"n_blocks": [1, 2]}}}
    assert adata.uns["sag_io"]["mapped"]["search_space.num_blocks"] == "space.resnet.n_blocks"


def test_read_autogenome_bad_labels_files_are_named(tmp_path):
    features = {"x.csv": "1,2\n3,4\n"}
    path = _ag(
        tmp_path, {**features, "y.txt": ""}, train_data_path="x.csv", train_label_path="y.txt"
    )
    with pytest.raises(ValueError, match=r"train labels file '.*y\.txt': the file is empty"):
        sag.io.read_autogenome(path)
    (tmp_path / "x.csv").write_text("s1,1,2\ns2,3,4\n")
    (tmp_path / "y.txt").write_text("s1,a\ns2,b,c\n")
    with pytest.raises(
        ValueError, match=r"y\.txt', line 2: ragged row, 3 fields where line 1 has 2"
    ):
        sag.io.read_autogenome(path)
    # a header word on the labels' first line while the features seem to have no header
    (tmp_path / "x.csv").write_text("1,2\n3,4\n")
    (tmp_path / "y.txt").write_text("label\nb\n")
    with pytest.raises(ValueError, match=r"starts with a header \('label'\) while features file"):
        sag.io.read_autogenome(path)


def test_read_autogenome_id_label_lines_with_a_header_or_ids_not_all_matched(tmp_path):
    files = {"x.csv": "id,g1,g2\ns1,1,2\ns2,3,4\n", "y.txt": "sample,label\ns2,b\ns1,a\n"}
    path = _ag(tmp_path, files, train_data_path="x.csv", train_label_path="y.txt")
    adata, _ = sag.io.read_autogenome(path)
    assert adata.obs["label"].astype(object).tolist() == ["a", "b"]
    (tmp_path / "y.txt").write_text("s1,b\nq2,a\n")
    with pytest.warns(UserWarning, match=r"y\.txt': 1 samples of '.*x\.csv' have no label"):
        adata, _ = sag.io.read_autogenome(path)
    assert adata.obs["label"].isna().tolist() == [False, True]
    (tmp_path / "y.txt").write_text("q1,b\nq2,a\n")
    with pytest.raises(ValueError, match=r"none of its ids .* matches a sample of"):
        sag.io.read_autogenome(path)


def test_read_autogenome_bad_configs_and_features_files_are_named(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"the top level must be a JSON object"):
        sag.io.read_autogenome(path)
    with pytest.raises(ValueError, match=r"loss 'hinge' is not one of \["):
        _ag_read(tmp_path, {"loss": "hinge"})
    with pytest.raises(ValueError, match=r"loss 'mse' needs numeric labels"):
        _ag_read(tmp_path, {"loss": "mse"})
    files = {"tr.csv": "1,2\n3,4\n", "te.csv": "1,2,3\n", "y.txt": "a\nb\n"}
    loader = dict(train_data_path="tr.csv", train_label_path="y.txt", test_data_path="te.csv")
    path = _ag(tmp_path, files, **loader)
    with pytest.raises(ValueError, match=r"te\.csv' has 3 columns, the train features file"):
        sag.io.read_autogenome(path)
    (tmp_path / "tr.csv").write_text("id,g1\ns1,1\ns2,2\n")
    (tmp_path / "te.csv").write_text("id,g1\ns2,3\n")
    with pytest.raises(ValueError, match=r"features files \[.*\]: duplicate sample id 's2'"):
        sag.io.read_autogenome(path)
    (tmp_path / "tr.csv").write_text("A,B,A\n1,2,3\n")
    (tmp_path / "te.csv").write_text("B,A,A\n4,5,6\n")
    with pytest.raises(ValueError, match=r"in another order, but 'A' repeats"):
        sag.io.read_autogenome(path)


def test_read_autogenome_features_without_labels_and_repeated_names(tmp_path):
    files = {"x.csv": "g,g,h\n1,2,3\n3,4,5\n"}
    path = _ag(tmp_path, files, train_data_path="x.csv")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        adata, _ = sag.io.read_autogenome(path)
    text = " ".join(str(w.message) for w in _ours(caught))
    assert "no labels file for the training features" in text
    assert "feature names repeat (e.g. ['g']); made unique" in text
    assert adata.var_names.tolist() == ["g", "g-1", "h"]
    assert adata.obs["label"].isna().all()


def test_read_autogenome_records_its_delimiter_names_file_and_header(tmp_path):
    files = {"x.csv": "1,2\n3,4\n5,6\n", "y.txt": "a\nb\n", "n.txt": "g1\ng2\n"}
    loader = dict(train_data_path="x.csv", train_label_path="y.txt", feature_names_path="n.txt")
    path = _ag(tmp_path, files, header="yes", **loader)
    with pytest.warns(UserWarning, match=r"the header of '.*x\.csv' differs from feature names"):
        adata, _ = sag.io.read_autogenome(path)
    rec = adata.uns["sag_io"]
    assert rec["delimiter"] == ","
    assert rec["feature_names_file"] == str(tmp_path / "n.txt")
    assert adata.n_obs == 2  # "header": "yes": the first line is the header
    assert adata.var_names.tolist() == ["g1", "g2"]


def test_read_table_sep_space_by_its_name(tmp_path):
    path = _write(tmp_path / "m.txt", "gene S1 S2\ng1 1 2\ng2 3 4\n")
    adata = sag.io.read_table(path, sep="space", orientation="genes_x_samples")
    assert adata.obs_names.tolist() == ["S1", "S2"]
    assert adata.X.tolist() == [[1.0, 3.0], [2.0, 4.0]]


def test_read_maf_names_a_firehose_aggregate_cohort_as_read_tcga_does(tmp_path):
    path = _small_maf(tmp_path / "k.maf", [("TP53", _S1, "Missense_Mutation")])
    for given, code in (("kipan", "KIPAN"), ("pancan", "PANCAN")):
        with pytest.warns(UserWarning, match=rf"cohort '{code}' is a Firehose aggregate cohort"):
            adata = sag.io.read_maf({given: path})
        assert adata.obs["project"].astype(object).tolist() == [code]
