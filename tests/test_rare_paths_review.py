"""Rare paths a review of the changes of 2026-12-07 found, each through the public API: paths
that are not UTF-8 in the readers' records, a loaded Regressor trained again, the report's
default explanation, an architecture on a dark SubFigure, a scanpy that cannot be imported,
an embed study of an earlier scautogenome, and an interruption after all files are
written."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pytest

import scautogenome as sag
from scautogenome.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MLP = {"kind": "mlp", "units": [8]}
SEARCH = {
    "budget": {"n_trials": 1, "time_budget": None},
    "trainer": {"max_epochs": 2, "patience": 2, "min_epochs": 1},
    "space": {"mlp": {"n_layers": [1], "units": [8]}, "common": {"batch_size": [64]}},
}


def _non_utf8_folder(tmp_path: Path) -> Path:
    """A folder whose name is not UTF-8 (b'caf\\xe9', a Latin-1 name), as Python names it
    (a surrogate escape); skipped where the file system refuses such a name (macOS)."""
    folder = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9"))
    try:
        folder.mkdir()
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses a name that is not UTF-8")
    return folder


# -- paths whose names are not UTF-8: the records the change did not escape --------------------
def test_read_autogenome_in_a_non_utf8_folder_can_be_written(tmp_path):
    folder = _non_utf8_folder(tmp_path)
    (folder / "x.tsv").write_text("id\tg1\tg2\ns1\t1\t2\ns2\t3\t4\ns3\t5\t6\n")
    (folder / "y.txt").write_text("s3\tc\ns1\ta\ns2\tb\n")
    loader = {"train_data_path": "x.tsv", "train_label_path": "y.txt", "delimiter": "\t"}
    (folder / "config.json").write_text(json.dumps({"data_loader": loader}))
    adata, _ = sag.io.read_autogenome(folder / "config.json")
    assert "caf\\xe9" in adata.uns["sag_io"]["config_path"]  # escaped (the change)
    adata.write_h5ad(tmp_path / "a.h5ad")  # UnicodeEncodeError: features_files['train']
    back = ad.read_h5ad(tmp_path / "a.h5ad").uns["sag_io"]
    assert back["features_files"]["train"].endswith("caf\\xe9/x.tsv")


def test_read_table_labels_in_a_non_utf8_folder_can_be_written(tmp_path):
    folder = _non_utf8_folder(tmp_path)
    (folder / "t.tsv").write_text("gene\tc1\tc2\nTP53\t1\t2\nKRAS\t3\t4\n")
    (folder / "l.tsv").write_text("id\tlabel\nc1\ta\nc2\tb\n")
    adata = sag.io.read_table(folder / "t.tsv", labels=folder / "l.tsv")
    assert adata.uns["sag_io"]["path"].endswith("caf\\xe9/t.tsv")  # escaped (the change)
    adata.write_h5ad(tmp_path / "t.h5ad")  # UnicodeEncodeError: label_table
    assert ad.read_h5ad(tmp_path / "t.h5ad").uns["sag_io"]["label_table"].endswith("l.tsv")


# -- Regressor class_balance -----------------------------------------------------------------
def test_a_loaded_regressor_recorded_with_class_balance_trains_again(adata, tmp_path):
    adata.obs["t"] = np.random.default_rng(0).normal(size=adata.n_obs)
    sag.models.Regressor(MLP, {"max_epochs": 1}).fit(adata, "t").save(tmp_path / "m")
    meta_path = tmp_path / "m" / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["train_params"]["class_balance"] = "weights"  # as an earlier version recorded it
    meta_path.write_text(json.dumps(meta))
    model = sag.models.Regressor.load(tmp_path / "m")
    model.fit(adata, "t")  # ValueError: train_params['class_balance']='weights' ...
    assert model.train_params_["class_balance"] == "none"


# -- write_report(shap_key=None) ---------------------------------------------------------------
@pytest.fixture(scope="module")
def explained_kk():
    """A classify run under key "kk" and its explanation under "kk_shap" (as the CLI's
    ``classify --key-added kk`` writes them)."""
    adata = sag.datasets.synthetic(n_obs=120, n_vars=40, n_classes=3, seed=0)
    model = sag.tl.classify(adata, "label", mode="mlp", config=SEARCH, key_added="kk", seed=0)
    sag.tl.explain(adata, model, classify_key="kk", key_added="kk_shap")
    return adata


def _has_shap_section(html: str) -> bool:
    return "Genes that drive each class (SHAP)" in html


def test_report_of_a_view_finds_the_runs_own_explanation(explained_kk, tmp_path):
    """shap_key=None resolves uns['kk_shap'] on a view too (the report copies the view)."""
    view = explained_kk[:100]
    assert view.is_view
    html = sag.io.write_report(view, tmp_path / "r.html", key="kk").read_text()
    assert _has_shap_section(html)


def test_report_default_shap_key_takes_the_explanation_of_this_run(explained_kk, tmp_path):
    adata = explained_kk.copy()
    model = sag.tl.classify(adata, "label", mode="mlp", config=SEARCH, key_added="kk", seed=1)
    sag.tl.explain(adata, model, classify_key="kk")  # sag_shap: the run in uns['kk']
    html = sag.io.write_report(adata, tmp_path / "r.html", key="kk").read_text()
    assert _has_shap_section(html)
    assert "explains another model" not in html


def test_report_shap_key_given_as_sag_shap_must_be_there(explained_kk, tmp_path):
    assert "sag_shap" not in explained_kk.uns
    with pytest.raises(KeyError, match="sag_shap"):
        sag.io.write_report(explained_kk, tmp_path / "r.html", key="kk", shap_key="sag_shap")


# -- plots into a SubFigure -------------------------------------------------------------------
def test_architecture_chain_reads_on_a_dark_subfigure():
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex
    from matplotlib.patches import FancyArrowPatch

    fig = plt.figure(figsize=(8, 3))
    dark = fig.subfigures(1, 2, facecolor="black")[0]
    ax = dark.subplots()
    arch = {"kind": "mlp", "n_inputs": 50, "n_outputs": 3, "units": [32, 16]}
    sag.pl.architecture(arch, ax=ax, show=False)
    colors = {to_hex(p.get_edgecolor()) for p in ax.patches if isinstance(p, FancyArrowPatch)}
    assert "#333333" not in colors, colors


# -- CLI: scanpy imported in _setup -------------------------------------------------------------
def test_cli_with_scanpy_unimportable_says_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "scanpy", None)  # `import scanpy` raises ImportError
    argv = ["classify", str(tmp_path / "missing.h5ad"), "--labels", "label"]
    rc = main([*argv, "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "Traceback" not in err
    assert "missing.h5ad" in err or "scanpy" in err


# -- a study of an earlier scautogenome: embed is not checked ---------------------------------
def _unrecorded(db: Path) -> None:
    """The study in ``db`` as a scautogenome before 314180f left it: no record of its data."""
    from scautogenome.search._study import FINGERPRINT_ATTR, FINGERPRINT_TAG_ATTR

    con = sqlite3.connect(db)
    con.execute("delete from study_user_attributes where key = ?", (FINGERPRINT_ATTR,))
    con.execute("delete from trial_user_attributes where key = ?", (FINGERPRINT_TAG_ATTR,))
    con.commit()
    con.close()


def test_resume_an_unrecorded_embed_study_on_other_genes_is_refused(tmp_path):
    cfg = sag.config.default("resvae")
    cfg["budget"] = {"n_trials": 1, "time_budget": None}
    cfg["trainer"]["max_epochs"] = 2
    storage = f"sqlite:///{tmp_path / 's.db'}"
    first = sag.datasets.synthetic(n_obs=200, n_vars=60, n_classes=3, seed=0)
    sag.tl.embed(first, mode="resvae", config=cfg, storage=storage, study_name="e1", seed=0)
    _unrecorded(tmp_path / "s.db")
    cfg["budget"]["n_trials"] = 0  # collect the stored trial, train none
    other = sag.datasets.synthetic(n_obs=200, n_vars=40, n_classes=3, seed=1)
    with pytest.raises(ValueError, match="e1"):
        sag.tl.embed(other, mode="resvae", config=cfg, storage=storage, study_name="e1", seed=0)


# -- CLI: an interruption after all the files are written ----------------------------------------
def test_cli_interrupted_after_all_is_written_says_no_failure(tmp_path, monkeypatch, capsys):
    import scautogenome.cli as cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "metrics_table", interrupted)  # the summary, after the files
    h5ad, config = tmp_path / "in.h5ad", tmp_path / "cfg.json"
    sag.datasets.synthetic(n_obs=120, n_vars=40, n_classes=3, seed=0).write_h5ad(h5ad)
    config.write_text(json.dumps(SEARCH))
    argv = ["classify", h5ad, "--labels", "label", "--out", tmp_path / "o", "--config", config]
    rc = main([*map(str, argv), "--mode", "mlp", "--no-explain", "--quiet", "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 130
    assert "written whole" in err  # the files are named as whole (the change)
    assert "what failed" not in err, err
