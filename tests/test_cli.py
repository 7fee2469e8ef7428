from __future__ import annotations

import json

import anndata as ad
import pytest

from scautogenome.cli import main


@pytest.fixture
def h5ad(adata, tmp_path):
    path = tmp_path / "in.h5ad"
    adata.write_h5ad(path)
    return path


@pytest.fixture
def config_file(tiny_config, tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(tiny_config))
    return path


def test_classify_then_predict(h5ad, config_file, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(
        [
            "classify",
            str(h5ad),
            "--labels",
            "label",
            "--out",
            str(out),
            "--config",
            str(config_file),
            "--quiet",
        ]
    )
    assert rc == 0
    assert (out / "model" / "model.json").exists()
    annotated = ad.read_h5ad(out / "annotated.h5ad")
    assert "sag_pred" in annotated.obs
    assert json.loads((out / "metrics.json").read_text())["macro_f1"] >= 0
    printed = capsys.readouterr().out
    assert "macro-F1" in printed
    assert "type_0" in printed

    pred = tmp_path / "pred.h5ad"
    rc = main(["predict", str(h5ad), "--model", str(out / "model"), "--out", str(pred), "--quiet"])
    assert rc == 0
    assert "sag_confidence" in ad.read_h5ad(pred).obs


def test_errors_are_one_line_with_nonzero_exit(h5ad, tmp_path, capsys):
    assert (
        main(["classify", str(tmp_path / "nope.h5ad"), "--labels", "x", "--out", str(tmp_path)])
        == 2
    )
    assert "does not exist" in capsys.readouterr().err
    rc = main(
        ["classify", str(h5ad), "--labels", "cell_type", "--out", str(tmp_path / "o"), "--quiet"]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "cell_type" in err
    assert len(err.strip().splitlines()) == 1
    assert (
        main(["predict", str(h5ad), "--model", str(tmp_path), "--out", str(tmp_path / "p.h5ad")])
        == 2
    )


def test_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["classify", "--help"])
    assert e.value.code == 0
    assert "--labels" in capsys.readouterr().out


def test_demo_runs(tmp_path, capsys):
    rc = main(["demo", "--out", str(tmp_path / "demo"), "--n-trials", "2", "--quiet"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out
    assert "CD19+ B" in out
    assert (tmp_path / "demo" / "model" / "model.json").exists()
