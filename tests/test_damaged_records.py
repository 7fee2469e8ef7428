"""Records in an AnnData that a user (or a tool) edited, damaged or left partial, as every reader
of them sees them: ``sag.get``, the plots and the report. A classify record whose entries were
deleted or given another type (``params="x"``, metrics as a list), what
``anndata.concat(uns_merge="same")`` keeps of the records of two runs that differ, an
explanation whose gene scores in ``varm`` are not the ones its record names: each reader says
which entry is missing or wrong and to run the tool again, before any work, rather than failing
deep inside with a bare Python error; the report leaves the damaged part out with a note, as it
does for a partial explanation. What is whole (a record through write_h5ad/read_h5ad, the
genes subset) reads as before."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import scautogenome as sag

pytestmark = pytest.mark.usefixtures("one_torch_thread")

AGAIN = r"run sag\.tl\.classify\(adata, labels_key\) again"


@pytest.fixture(scope="module")
def run():
    """A classify run of 3 classes, explained, written to and read back from an h5ad (as a
    user's notebook of another day has it); each test takes a copy (:func:`annotated`)."""
    import tempfile
    from pathlib import Path

    sag.settings.verbosity = 0
    sag.settings.progress_bar = False
    sag.settings.seed = 0
    sag.settings.device = "cpu"
    adata = sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0)
    config = {"budget": {"n_trials": 2}, "trainer": {"max_epochs": 5}}
    model = sag.tl.classify(adata, "label", mode="mlp", config=config, seed=0)
    sag.tl.explain(adata, model, n_explain=30, nsamples=20, n_background=30)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.h5ad"
        adata.write_h5ad(path)
        return ad.read_h5ad(path)


@pytest.fixture
def annotated(run):
    return run.copy()


def _other_run_of_the_same_architecture(adata):
    """A copy of ``adata`` as a second classify run that kept the same architecture leaves it:
    other weights, other scores and another search."""
    other = adata.copy()
    rec = other.uns["sag"]
    rec["model_digest"] = "0" * 64
    for part in ("test", "val"):
        m = rec["metrics"][part]
        m["macro_f1"] = float(m["macro_f1"]) / 2
        m["per_class"]["f1"] = np.asarray(m["per_class"]["f1"]) / 2
    rec["trials"] = rec["trials"].assign(value=rec["trials"]["value"] / 2)
    return other


def _concat_of_two_runs(adata):
    both = ad.concat(
        [adata, _other_run_of_the_same_architecture(adata)], uns_merge="same", index_unique="-"
    )
    assert "architecture" in both.uns["sag"]  # the runs share it ...
    assert "f1" not in both.uns["sag"]["metrics"]["test"]["per_class"]  # ... not their scores
    return both


# -- what is whole reads as before ------------------------------------------------------------
def test_a_record_read_back_from_h5ad_is_read_by_every_reader(annotated, tmp_path):
    """Lists made arrays, None kept as text: the readers and the report read the record as
    the run wrote it."""
    table = sag.get.metrics_df(annotated)
    assert table.index.tolist() == ["type_0", "type_1", "type_2", "all"]
    assert sag.get.metrics_df(annotated, part="val")["support"].dtype.kind == "i"
    sag.pl.confusion_matrix(annotated, show=False)
    sag.pl.confusion_matrix(annotated, split="val", show=False)
    sag.pl.search_history(annotated, show=False)
    sag.pl.architecture(annotated, show=False)
    sag.pl.importance(annotated, show=False)
    html = sag.io.write_report(annotated, tmp_path / "r.html").read_text()
    assert "<h2>Classification</h2>" in html
    assert "not a whole record" not in html


def test_readers_of_a_subset_of_genes_read_its_genes(annotated, tmp_path):
    """``adata[:, genes]`` subsets varm with var: the SHAP table holds the genes kept, with the
    scores they had."""
    genes = annotated.var_names[::4]
    sub = annotated[:, genes].copy()
    full = sag.get.shap_df(annotated)
    part = sag.get.shap_df(sub)
    assert sorted(part.index) == sorted(genes)
    pd.testing.assert_frame_equal(part.sort_index(), full.loc[genes].sort_index())
    sag.pl.importance(sub, show=False)
    sag.io.write_report(sub, tmp_path / "r.html")


def test_a_deleted_search_history_is_named_by_its_plot(annotated):
    del annotated.uns["sag"]["trials"]
    with pytest.raises(KeyError, match=r"'trials'"):
        sag.pl.search_history(annotated, show=False)
    sag.get.metrics_df(annotated)  # what the table reads is whole


def test_an_architecture_that_is_not_json_is_named_by_its_plot(annotated):
    annotated.uns["sag"]["architecture"] = "{not json"
    with pytest.raises(ValueError, match=r"JSON text '\{not json' cannot be read"):
        sag.pl.architecture(annotated, show=False)


# -- a part of a record: anndata.concat(uns_merge="same") of two runs ----------------------
def test_metrics_df_of_a_concat_of_two_runs_names_what_is_missing(annotated):
    """Two runs of the same architecture concatenated keep only the entries they share: the
    table says the record is not whole and to classify again, not ``KeyError: 'f1'``."""
    both = _concat_of_two_runs(annotated)
    with pytest.raises(KeyError, match=r"uns\['sag'\]\['metrics'\]\['test'\] lacks") as err:
        sag.get.metrics_df(both)
    assert "anndata.concat" in str(err.value)
    assert "run sag.tl.classify(adata, labels_key) again" in str(err.value)


def test_report_of_a_concat_of_two_runs_notes_the_partial_record(annotated, tmp_path, sag_caplog):
    """The report is written, the classification left out with a note (as a partial
    explanation is); where nothing else is left, the error says what is wrong with it."""
    both = _concat_of_two_runs(annotated)
    html = sag.io.write_report(both, tmp_path / "r.html").read_text()
    assert "<h2>Classification</h2>" in html
    assert "not a whole record of the run" in html
    assert "It is not shown." in html
    assert any("left out of the report" in r.getMessage() for r in sag_caplog.records)
    del both.uns["sag_shap"]
    with pytest.raises(ValueError, match=r"Nothing to report.*\['test'\] lacks 'macro_f1'"):
        sag.io.write_report(both, tmp_path / "r2.html")
    assert not (tmp_path / "r2.html").exists()


def test_metrics_df_of_a_concat_of_runs_of_two_architectures_names_what_is_missing(annotated):
    """Runs of different architectures: concat keeps neither architecture, yet the record is
    still named as a part of a run's, not as a whole one."""
    other = _other_run_of_the_same_architecture(annotated)
    other.uns["sag"]["architecture"] = '{"kind": "resnet"}'
    both = ad.concat([annotated, other], uns_merge="same", index_unique="-")
    assert "architecture" not in both.uns["sag"]
    with pytest.raises(KeyError, match=r"\['test'\] lacks 'macro_f1': not a whole record"):
        sag.get.metrics_df(both)


def test_a_reader_asked_for_another_tools_record_says_whose_it_is(annotated):
    """The check of a run's record leaves the records of other tools to the readers' own
    messages: explain's under key= is no classify run."""
    with pytest.raises(KeyError, match=r"uns\['sag_shap'\] holds no classify run"):
        sag.get.metrics_df(annotated, key="sag_shap")


def test_a_classify_reader_asked_for_an_embed_run_says_it_holds_none(annotated):
    """An embed run's whole record under key= is no damaged classify record: the metrics and
    confusion readers say it holds no classify run, and its search history is plotted."""
    sag.tl.embed(annotated, mode="vae", n_trials=1, time_budget=None, max_epochs=1, seed=0)
    for reader in (sag.get.metrics_df, sag.pl.confusion_matrix):
        with pytest.raises(KeyError, match=r"uns\['sag_resvae'\] holds no classify run"):
            reader(annotated, key="sag_resvae")
    assert sag.pl.search_history(annotated, key="sag_resvae", show=False) is not None


def test_search_history_of_a_concat_of_two_runs_says_the_record_is_partial(annotated):
    both = _concat_of_two_runs(annotated)
    with pytest.raises(KeyError, match=r"uns\['sag'\] lacks 'trials': not a whole record"):
        sag.pl.search_history(both, show=False)


# -- entries deleted or of another type ------------------------------------------------------
def test_metrics_of_another_type_are_named_by_metrics_df(annotated):
    annotated.uns["sag"]["metrics"] = [1, 2]
    with pytest.raises(ValueError, match=r"uns\['sag'\]\['metrics'\] is a list") as err:
        sag.get.metrics_df(annotated)
    assert "again" in str(err.value)


def test_metrics_of_another_type_are_named_by_confusion_matrix(annotated):
    annotated.uns["sag"]["metrics"] = [1, 2]
    with pytest.raises(ValueError, match=r"uns\['sag'\]\['metrics'\] is a list"):
        sag.pl.confusion_matrix(annotated, show=False)


def test_report_of_metrics_of_another_type_notes_them(annotated, tmp_path):
    annotated.uns["sag"]["metrics"] = [1, 2]
    html = sag.io.write_report(annotated, tmp_path / "r.html").read_text()
    assert "uns[&#x27;sag&#x27;][&#x27;metrics&#x27;] is a list" in html
    assert "Genes that drive each class" in html  # the explanation is whole: shown


def test_params_of_another_type_are_named_by_search_history(annotated):
    annotated.uns["sag"]["params"] = "x"
    with pytest.raises(ValueError, match=r"uns\['sag'\]\['params'\] is a str \('x'\)"):
        sag.pl.search_history(annotated, show=False)


def test_report_of_params_of_another_type_notes_them(annotated, tmp_path):
    annotated.uns["sag"]["params"] = "x"
    html = sag.io.write_report(annotated, tmp_path / "r.html").read_text()
    assert "uns[&#x27;sag&#x27;][&#x27;params&#x27;] is a str" in html


def test_trials_of_another_type_are_named_by_search_history(annotated):
    annotated.uns["sag"]["trials"] = "x"
    with pytest.raises(ValueError, match=r"uns\['sag'\]\['trials'\] is a str"):
        sag.pl.search_history(annotated, show=False)


def test_deleted_metrics_are_named_by_the_readers(annotated, tmp_path):
    """``del adata.uns['sag']['metrics']``: the table says the entry is missing (not that
    there is no classify run); the report is written without the classification."""
    del annotated.uns["sag"]["metrics"]
    with pytest.raises(KeyError, match=r"uns\['sag'\] lacks 'metrics'"):
        sag.get.metrics_df(annotated)
    html = sag.io.write_report(annotated, tmp_path / "r.html").read_text()
    assert "lacks &#x27;metrics&#x27;" in html


def test_deleted_classes_are_named_by_the_readers(annotated):
    del annotated.uns["sag"]["classes"]
    with pytest.raises(KeyError, match=r"uns\['sag'\] lacks 'classes'.*" + AGAIN):
        sag.get.metrics_df(annotated)
    with pytest.raises(KeyError, match=r"uns\['sag'\] lacks 'classes'"):
        sag.pl.confusion_matrix(annotated, show=False)


def test_a_deleted_per_class_column_read_back_from_h5ad_is_named(annotated, tmp_path):
    del annotated.uns["sag"]["metrics"]["val"]["per_class"]["f1"]
    annotated.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    with pytest.raises(KeyError, match=r"\['metrics'\]\['val'\]\['per_class'\] lacks 'f1'"):
        sag.get.metrics_df(back, part="val")


def test_report_of_an_architecture_that_is_not_json_notes_it(annotated, tmp_path):
    annotated.uns["sag"]["architecture"] = "{not json"
    html = sag.io.write_report(annotated, tmp_path / "r.html").read_text()
    assert "[&#x27;architecture&#x27;] is not JSON text" in html


def test_a_record_replaced_by_text_is_named_by_confusion_matrix(annotated):
    annotated.uns["sag"] = "x"
    with pytest.raises(KeyError, match=r"uns\['sag'\] holds no classify run"):
        sag.pl.confusion_matrix(annotated, show=False)


def test_a_confusion_matrix_of_another_shape_is_named(annotated):
    annotated.uns["sag"]["confusion"] = np.zeros((2, 2))
    with pytest.raises(ValueError, match=r"\['confusion'\] has shape \(2, 2\)"):
        sag.pl.confusion_matrix(annotated, show=False)


# -- an explanation whose gene scores are not its record's -----------------------------------
def test_gene_scores_of_other_columns_are_named_by_the_readers(annotated, tmp_path):
    """``adata.varm['sag_shap']`` replaced by an array of 2 columns, the record naming 4:
    the readers name both and say to explain again; the report leaves it out with a note."""
    annotated.varm["sag_shap"] = np.asarray(annotated.varm["sag_shap"])[:, :2]
    match = r"varm\['sag_shap'\] has shape \(200, 2\).*4 columns.*sag\.tl\.explain\(adata, model\)"
    with pytest.raises(ValueError, match=match):
        sag.get.shap_df(annotated)
    with pytest.raises(ValueError, match=match):
        sag.pl.importance(annotated, show=False)
    html = sag.io.write_report(annotated, tmp_path / "r.html").read_text()
    assert "has shape (200, 2)" in html
    assert "<h2>Classification</h2>" in html
