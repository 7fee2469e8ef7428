"""Behaviours on paths no other test reached (a coverage run of the suite).

A branch-coverage run of the whole suite left some lines of the outer layers (the command
line, the readers, the configuration, the plots and the report) unexecuted. The reachable
ones a user can meet are pinned here through the public API: the command line's refusals
(no input, a missing report input, a file that is no h5ad), an unknown name of a lazily
importing package, the configuration's refusals (an unknown mode, a config of another type,
a bad ENAS class_balance), the readers' delimiter guess of a ``.txt`` table, a GCT file
without data, a MAF file the parser cannot split, a clinical table without barcodes, the
sparse choice of a multi-file read_tcga, the plots' refusals of records they cannot draw,
``save=""`` and two corners of the report of sag.tl.predict.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from test_io import _ag_files, _small_maf, _tcga_file, _write

import scautogenome as sag
from scautogenome.cli import main

_S1 = "TCGA-A1-A0SB-01A"


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


# -- command line --------------------------------------------------------------------------------


def test_cli_without_an_input_says_which_inputs_there_are(tmp_path, capsys):
    """classify with neither an .h5ad file nor --table/--maf/--autogenome: a one-line usage
    error (exit 2) listing the four kinds of input, before anything is read or written."""
    rc = main(["classify", "--labels", "x", "--out", str(tmp_path / "o"), "--quiet"])
    assert rc == 2
    err = _error_line(capsys)
    assert "an input is required: an .h5ad file, --table, --maf or --autogenome" in err
    assert not (tmp_path / "o").exists()


def test_cli_report_of_a_missing_file_says_what_to_give(tmp_path, capsys):
    """report of a path that does not exist names it and what report takes."""
    rc = main(["report", str(tmp_path / "gone.h5ad"), "--quiet"])
    assert rc == 2
    err = _error_line(capsys)
    assert "gone.h5ad' does not exist (give classify's --out directory or an .h5ad file)" in err


def test_cli_a_file_that_is_no_h5ad_is_a_one_line_input_error(tmp_path, capsys):
    """A text file named .h5ad: the reader's failure is an input error (exit 2) that names
    the file and the reader's reason, not a traceback (exit 1)."""
    path = tmp_path / "notes.h5ad"
    path.write_text("not an HDF5 file\n")
    rc = main(["report", str(path), "--quiet"])
    assert rc == 2
    err = _error_line(capsys)
    assert f"cannot read {str(path)!r} as h5ad: " in err
    assert "signature" in err  # h5py's reason is kept


def test_cli_called_from_another_thread_runs(tmp_path, capsys):
    """main() in a thread that is not the main one (a GUI's or a notebook's worker): no
    SIGTERM handler can be installed there, and none is; the command runs and fails or
    succeeds as in the main thread, instead of 'signal only works in main thread'."""
    import signal
    import threading

    before = signal.getsignal(signal.SIGTERM)
    out = {}
    worker = threading.Thread(
        target=lambda: out.setdefault("rc", main(["report", str(tmp_path / "x.h5ad"), "--quiet"]))
    )
    worker.start()
    worker.join()
    assert out == {"rc": 2}
    assert "x.h5ad' does not exist" in _error_line(capsys)
    assert signal.getsignal(signal.SIGTERM) is before


# -- package, configuration -------------------------------------------------------------------


@pytest.mark.parametrize("package", ["search", "train"])
def test_an_unknown_attribute_of_a_lazy_package_is_an_attribute_error(package):
    """sag.search and sag.train import their names on first use; a name they do not have
    raises AttributeError (so hasattr and getattr with a default work), naming the package
    and the name, and imports nothing."""
    import importlib

    module = importlib.import_module(f"scautogenome.{package}")
    with pytest.raises(
        AttributeError, match=rf"module 'scautogenome.{package}' has no attribute 'nope'"
    ):
        _ = module.nope
    assert not hasattr(module, "nope")
    assert getattr(module, "nope", 7) == 7


def test_config_default_of_an_unknown_mode_lists_the_modes():
    with pytest.raises(ValueError, match=r"mode='transformer' must be one of .*\(classify\)"):
        sag.config.default("transformer")


@pytest.mark.parametrize("config", [[1, 2], 5, 1.5])
def test_config_of_another_type_is_a_type_error(config):
    """A list or a number as config= is no dict, path or JSON text: a TypeError naming the
    type, not a ValueError deeper in."""
    name = type(config).__name__
    with pytest.raises(TypeError, match=rf"config must be a dict.*got {name}\."):
        sag.config.load(config)


def test_config_rrfcn_class_balance_must_be_one_of_three():
    with pytest.raises(ValueError, match=r"\['class_balance'\]='bogus' must be 'none', 'weights'"):
        sag.config.validate({"rrfcn": {"class_balance": "bogus"}})


# -- readers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("sep", [",", ";"])
def test_read_table_of_a_txt_file_guesses_its_delimiter(tmp_path, sep):
    """A .txt table (no extension that names the delimiter) separated by commas or
    semicolons is split on them; the values are the file's."""
    rows = ["id", "s1", "s2", "s3", "s4"]
    text = sep.join(["id", "g1", "g2", "g3", "g4", "g5"]) + "\n"
    text += "".join(
        sep.join([r, *(str(10 * i + j) for j in range(5))]) + "\n" for i, r in enumerate(rows[1:])
    )
    path = tmp_path / "expr.txt"
    path.write_text(text)
    adata = sag.io.read_table(path, orientation="samples_x_genes")
    assert adata.obs_names.tolist() == rows[1:]
    assert adata.var_names.tolist() == ["g1", "g2", "g3", "g4", "g5"]
    X = adata.X.toarray() if sp.issparse(adata.X) else adata.X
    np.testing.assert_array_equal(X[2], [20, 21, 22, 23, 24])


def test_read_table_of_a_space_separated_txt_file_asks_for_sep(tmp_path):
    """No tab, comma or semicolon in the header line: the delimiter falls back to a tab, and
    the one-column table is refused with a hint to pass sep=."""
    path = _write(tmp_path / "expr.txt", "id g1 g2\ns1 1 2\ns2 3 4\n")
    with pytest.raises(
        ValueError, match=r"a single column; is the delimiter '\\t' right\? Pass sep="
    ):
        sag.io.read_table(path)


def test_read_table_of_a_gct_file_without_data_says_it_is_empty(tmp_path):
    """A GCT file holding its version and dimension lines alone is empty (not a table of one
    row of numbers)."""
    path = _write(tmp_path / "expr.gct", "#1.2\n3\t2\n")
    with pytest.raises(ValueError, match=r"expr\.gct': the file is empty\."):
        sag.io.read_table(path)


def test_read_maf_that_the_parser_cannot_split_names_the_file(tmp_path):
    """A MAF with an unterminated quote: a ValueError naming the MAF file and the parser's
    reason, not pandas' ParserError alone."""
    path = _small_maf(
        tmp_path / "q.maf", [("TP53", _S1, "Missense_Mutation"), ("X", '"cut', "Missense_Mutation")]
    )
    with pytest.raises(ValueError, match=r"MAF file '.*q\.maf'.*EOF inside string") as caught:
        sag.io.read_maf(path)
    assert not isinstance(caught.value, pd.errors.ParserError)


def test_read_tcga_clinical_table_without_barcodes_asks_for_its_id_column(tmp_path):
    expr = _tcga_file(tmp_path / "brca.tsv", [_S1, "TCGA-A1-A0SC-01A"])
    clin = _write(tmp_path / "clin.tsv", "name\tproject\nfoo\tBRCA\nbar\tBRCA\n")
    with pytest.raises(
        ValueError, match=r"no column of TCGA barcodes .*'name', 'project'.*clinical_id_column="
    ):
        sag.io.read_tcga(expr, clinical=clin)


def test_read_tcga_of_several_files_keeps_the_sparse_choice(tmp_path):
    """Several files: sparse=True gives CSR, and sparse='auto' gives a dense X where the whole matrix is dense, though one part alone is
    mostly zeros (the rule of one file, on the whole matrix)."""
    a = _tcga_file(tmp_path / "brca.tsv", [_S1, "TCGA-A1-A0SC-01A"])
    b = _tcga_file(tmp_path / "luad.tsv", ["TCGA-05-4244-01A"])
    adata = sag.io.read_tcga({"BRCA": a, "LUAD": b}, sparse=True)
    assert isinstance(adata.X, sp.csr_matrix)
    np.testing.assert_array_equal(adata.X.toarray()[:, 0], [1, 2, 1])
    genes = [f"G{i}" for i in range(40)]
    zeros = _write(
        tmp_path / "zeros.tsv",
        f"gene\t{_S1}\tTCGA-A1-A0SC-01A\n" + "".join(f"{g}\t0\t{int(g == 'G0')}\n" for g in genes),
    )
    dense_samples = [f"TCGA-05-42{i:02d}-01A" for i in range(10)]
    full = _write(
        tmp_path / "full.tsv",
        "gene\t"
        + "\t".join(dense_samples)
        + "\n"
        + "".join(f"{g}\t" + "\t".join(["5"] * 10) + "\n" for g in genes),
    )
    adata = sag.io.read_tcga({"BRCA": zeros, "LUAD": full})
    assert isinstance(adata.X, np.ndarray)
    assert adata.shape == (12, 40)
    assert int(np.count_nonzero(adata.X)) == 1 + 400


_AG = {"train_data_path": "x.tsv", "label_path": "y.txt", "delimiter": ","}


def test_read_autogenome_feature_names_on_one_line_split_by_a_tab(tmp_path):
    """A feature names file of one line that the config's delimiter (',') does not split
    into the features' count is split on a tab, the next delimiter tried."""
    config = {**_AG, "feature_names_path": "names.txt"}
    path = _ag_files(tmp_path, config, "1,2,3\n4,5,6\n", "a\nb\n", "g1\tg2\tg3\n")
    adata, _ = sag.io.read_autogenome(path)
    assert adata.var_names.tolist() == ["g1", "g2", "g3"]


def test_read_autogenome_of_mostly_zero_features_is_sparse_and_whole(tmp_path):
    """Features mostly zeros are read as a sparse matrix (as read_table reads them), the
    values kept."""
    feats = "".join(
        ",".join(str(int(i == j) * (i + 1)) for j in range(30)) + "\n" for i in range(8)
    )
    path = _ag_files(tmp_path, _AG, feats, "a\nb\n" * 4)
    adata, _ = sag.io.read_autogenome(path)
    assert isinstance(adata.X, sp.csr_matrix)
    np.testing.assert_array_equal(adata.X.toarray()[:, :8], np.diag(np.arange(1, 9)))
    assert adata.X.nnz == 8


def test_read_autogenome_machine_setting_under_another_section_is_no_unknown_key(
    tmp_path, sag_caplog
):
    """A setting of the machine (num_threads, a data_loader key) given under trainer is
    recorded and logged as a machine setting sag does not use, not as an unknown key."""
    config = {**_AG, "trainer": {"num_threads": 4}}
    path = _ag_files(tmp_path, config, "1,2,3\n4,5,6\n", "a\nb\n")
    adata, _ = sag.io.read_autogenome(path)
    assert "settings of the machine not used" in sag_caplog.text
    assert "trainer.num_threads 4" in sag_caplog.text
    assert "unknown keys" not in sag_caplog.text
    record = adata.uns["sag_io"]
    assert "trainer.num_threads" in dict(record["no_counterpart"])
    assert "trainer.num_threads" not in list(record.get("unknown_keys", []))


# -- plots --------------------------------------------------------------------------------------


def _record(**uns) -> ad.AnnData:
    adata = ad.AnnData(np.zeros((4, 2), dtype=np.float32))
    adata.uns["sag"] = uns
    return adata


def test_architecture_of_another_object_is_a_type_error():
    for data in (5, {"units": [8]}):
        with pytest.raises(
            TypeError, match=rf"expected an AnnData, .* got {type(data).__name__}\."
        ):
            sag.pl.architecture(data, show=False)


def test_embedding_of_an_obsm_that_holds_no_numbers_is_refused():
    adata = sag.datasets.synthetic(n_obs=30, n_vars=10, n_classes=3, seed=0)
    adata.obsm["words"] = np.array([["a", "b"]] * 30)
    adata.obsm["cube"] = np.zeros((30, 2, 2))
    with pytest.raises(
        TypeError, match=r"obsm\['words'\] must hold numbers.*<U1 values of shape \(30, 2\)"
    ):
        sag.pl.embedding(adata, basis="words", show=False)
    with pytest.raises(TypeError, match=r"obsm\['cube'\] must hold numbers.*shape \(30, 2, 2\)"):
        sag.pl.embedding(adata, basis="cube", show=False)


def test_search_history_of_a_record_without_trials_says_so():
    empty = pd.DataFrame({"number": [], "state": [], "value": []})
    adata = _record(trials=empty, params={"metric": "accuracy"})
    with pytest.raises(ValueError, match=r"uns\['sag'\]\['trials'\] is empty; nothing to plot"):
        sag.pl.search_history(adata, show=False)


def test_confusion_matrix_of_a_record_whose_matrix_does_not_fit_its_classes():
    adata = _record(confusion=np.eye(2), classes=np.array(["a", "b", "c"]), params={}, metrics={})
    with pytest.raises(ValueError, match=r"has shape \(2, 2\), expected \(3, 3\) for 3 classes"):
        sag.pl.confusion_matrix(adata, show=False)


def test_confusion_matrix_of_numeric_predictions_points_to_regression():
    adata = _record(
        confusion=np.eye(2), classes=np.array(["a", "b"]), params={"labels_key": "label"}
    )
    adata.obs["label"] = ["a", "b", "a", "b"]
    adata.obs["sag_pred"] = [1.0, 2.0, 1.5, 2.5]
    with pytest.raises(
        ValueError, match=r"obs\['sag_pred'\] holds numbers .*use sag\.pl\.regression"
    ):
        sag.pl.confusion_matrix(adata, labels_key="label", split="all", show=False)


def test_regression_of_predictions_replaced_or_removed():
    """A regression record whose obs['sag_pred'] now holds classes, or is gone: each named,
    with what to do, not a float conversion error."""
    adata = _record(
        task="regression", classes=np.array(["age"]), params={"labels_key": "age"}, metrics={}
    )
    adata.obs["age"] = [1.0, 2.0, 3.0, 4.0]
    adata.obs["sag_pred"] = pd.Categorical(["a", "b", "a", "b"])
    with pytest.raises(ValueError, match=r"holds category values, not the predicted numbers"):
        sag.pl.regression(adata, split="all", show=False)
    del adata.obs["sag_pred"]
    with pytest.raises(
        KeyError, match=r"adata\.obs\['sag_pred'\] not found; run sag\.tl\.classify"
    ):
        sag.pl.regression(adata, split="all", show=False)


def test_save_with_an_empty_suffix_writes_no_file(tmp_path):
    """save='' is scanpy's 'no suffix given': nothing is written (as before), the plot is drawn."""
    import scanpy as sc

    trials = pd.DataFrame(
        {"number": [0, 1], "state": ["complete"] * 2, "value": [0.5, 0.7], "mode": ["mlp"] * 2}
    )
    figdir = sc.settings.figdir
    sc.settings.figdir = tmp_path  # a property of scanpy's settings: set and put back by hand
    try:
        ax = sag.pl.search_history(
            _record(trials=trials, params={"metric": "accuracy"}), save="", show=False
        )
    finally:
        sc.settings.figdir = figdir
    assert ax is not None
    assert list(tmp_path.iterdir()) == []


# -- report -------------------------------------------------------------------------------------


def test_report_of_predictions_whose_column_is_gone(tmp_path):
    """A predict record whose obs['sag_pred'] was deleted: the section says it is missing
    instead of failing."""
    adata = _record(classes=np.array(["a", "b"]), predict_params={"layer": "None"})
    page = sag.io.write_report(adata, tmp_path / "r.html").read_text()
    assert "<h2>Predictions</h2>" in page
    assert "obs[&#x27;sag_pred&#x27;] is missing." in page


def test_report_of_numeric_predictions_against_a_column_without_values(tmp_path):
    """The query's obs[target] holds no known value: the predictions are described, not
    scored (no R\u00b2 or RMSE of zero cells)."""
    adata = _record(classes=np.array(["age"]), predict_params={"layer": "None"})
    adata.obs["sag_pred"] = [1.0, 2.0, 3.0, 4.0]
    adata.obs["age"] = np.nan
    page = sag.io.write_report(adata, tmp_path / "r.html").read_text()
    assert "<h3>Predicted age</h3>" in page
    assert "RMSE" not in page
    assert "R\u00b2" not in page
