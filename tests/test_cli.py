from __future__ import annotations

import contextlib
import json
import re
import shlex
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pytest

from scautogenome.cli import main

ROOT = Path(__file__).resolve().parents[1]


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


def _classify_argv(h5ad, config, out, *extra: str) -> list[str]:
    """A quiet classify run of ``h5ad`` (labels obs['label']) under ``config`` into ``out``."""
    argv = ["classify", str(h5ad), "--labels", "label", "--out", str(out)]
    return [*argv, "--config", str(config), *extra, "--quiet"]


def test_classify_then_predict(h5ad, config_file, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(_classify_argv(h5ad, config_file, out))
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
    # the input itself as --out: refused before any work, replaced with --overwrite
    again = ["predict", str(pred), "--model", str(out / "model"), "--out", str(pred), "--quiet"]
    assert main(again) == 2
    assert "already exists" in capsys.readouterr().err
    assert main([*again, "--overwrite"]) == 0
    # a new folder's name (a trailing "/"): refused, as an existing folder is (it was
    # written as an h5ad file of that name)
    folder = f"{tmp_path / 'preds'}/"
    assert main(["predict", str(h5ad), "--model", str(out / "model"), "--out", folder]) == 2
    assert "is a directory; give an .h5ad file" in capsys.readouterr().err
    assert not (tmp_path / "preds").exists()
    # classify's annotated output predicted by another model: refused into the key of the
    # run it holds, written under --key-added
    other = tmp_path / "run2"
    assert main(_classify_argv(h5ad, config_file, other, "--seed", "1")) == 0
    capsys.readouterr()
    cross = ["predict", str(out / "annotated.h5ad"), "--model", str(other / "model")]
    assert main([*cross, "--out", str(tmp_path / "x.h5ad"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "holds the classify run of another model" in err
    assert "--key-added" in err
    assert not (tmp_path / "x.h5ad").exists()
    assert main([*cross, "--out", str(tmp_path / "x.h5ad"), "--key-added", "run2"]) == 0
    both = ad.read_h5ad(tmp_path / "x.h5ad")
    assert "confusion" in both.uns["sag"]
    assert "run2_pred" in both.obs


def test_classify_group_key_keeps_donors_in_one_part(adata, config_file, tmp_path):
    adata.obs["donor"] = [f"d{i // 4}" for i in range(adata.n_obs)]
    path = tmp_path / "donors.h5ad"
    adata.write_h5ad(path)
    out = tmp_path / "run"
    extra = ("--group-key", "donor", "--no-explain", "--no-report")
    assert main(_classify_argv(path, config_file, out, *extra)) == 0
    annotated = ad.read_h5ad(out / "annotated.h5ad")
    params = annotated.uns["sag"]["params"]
    assert (params["group_key"], params["split_groups"]) == ("donor", "donor")
    parts = annotated.obs.groupby("donor", observed=True)["sag_split"].nunique()
    assert (parts == 1).all()
    # none: cells one by one (names that are not TCGA barcodes give the same with auto)
    assert (
        main(
            _classify_argv(path, config_file, out, "--group-key", "none", *extra[2:], "--overwrite")
        )
        == 0
    )
    params = ad.read_h5ad(out / "annotated.h5ad").uns["sag"]["params"]
    assert (params["group_key"], params["split_groups"]) == ("None", "None")


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


def test_classify_refuses_an_input_whose_outputs_are_the_users(
    adata, config_file, tmp_path, capsys
):
    """An obs['sag_pred'] of the user's (no sag record): exit 2 with the message, no --out."""
    adata.obs["sag_pred"] = "my annotation"
    src = tmp_path / "mine.h5ad"
    adata.write_h5ad(src)
    out = tmp_path / "run"
    assert main(_classify_argv(src, config_file, out)) == 2
    err = capsys.readouterr().err
    assert "adata.obs['sag_pred'] exists without a record of sag.tl.classify or predict" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()
    # the remedy it names is an option of classify's: the run goes under another key
    assert "--key-added" in err
    assert main(_classify_argv(src, config_file, out, "--key-added", "run")) == 0
    annotated = ad.read_h5ad(out / "annotated.h5ad")
    assert (annotated.obs["sag_pred"] == "my annotation").all()
    assert "run_pred" in annotated.obs
    assert annotated.uns["run"]["model_dir"] == str(out / "model")
    test = annotated.uns["run"]["metrics"]["test"]
    record = json.loads((out / "metrics.json").read_text())
    assert record["macro_f1"] == pytest.approx(test["macro_f1"])
    # which versions made the run, and which model (model.json's versions, the record's digest)
    assert record["versions"] == json.loads((out / "model" / "model.json").read_text())["versions"]
    assert record["model_digest"] == annotated.uns["run"]["model_digest"]
    assert "Classification" in (out / "report.html").read_text()
    assert "macro-F1" in capsys.readouterr().out
    # its explanation beside it, under its own key: an earlier run's stays
    assert annotated.uns["run_shap"]["model_digest"] == annotated.uns["run"]["model_digest"]
    assert "run_shap" in annotated.varm
    assert "Genes that drive each class" in (out / "report.html").read_text()


def test_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["classify", "--help"])
    assert e.value.code == 0
    assert "--labels" in capsys.readouterr().out
    import scautogenome

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"scautogenome {scautogenome.__version__}"


def test_help_and_version_do_not_load_torch():
    """``--help``/``--version`` answer in a fraction of a second: building the parser imports
    neither torch nor scanpy (a broken or slow torch install cannot break them)."""
    import subprocess
    import sys

    code = (
        "import sys; from scautogenome.cli import build_parser; build_parser(); "
        "print(sorted({'torch', 'scanpy', 'optuna'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_python_dash_m_runs_the_command_line():
    """``python -m scautogenome`` is the ``scautogenome`` command (for a venv whose ``bin/`` is
    not on PATH)."""
    import subprocess
    import sys

    import scautogenome

    out = subprocess.run(
        [sys.executable, "-m", "scautogenome", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"scautogenome {scautogenome.__version__}"


def test_options_are_not_guessed_and_exit_codes_are_listed(capsys):
    """An abbreviated option is an error (argparse would guess --overwrite from --over); the
    worker takes classify's --study-name for its --study; --help lists the exit codes."""
    from scautogenome.cli import build_parser

    with pytest.raises(SystemExit) as e:
        main(["classify", "x.h5ad", "--labels", "l", "--out", "o", "--over"])
    assert e.value.code == 2
    assert "unrecognized arguments: --over" in capsys.readouterr().err
    parser = build_parser()
    argv = ["worker", "x.h5ad", "--labels", "l", "--storage", "sqlite:///s.db"]
    assert parser.parse_args([*argv, "--study-name", "s"]).study == "s"
    assert parser.parse_args([*argv, "--study", "s"]).study == "s"
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "130 interrupted (Ctrl-C); 143 terminated (SIGTERM)" in capsys.readouterr().out


def test_demo_runs(tmp_path, capsys):
    rc = main(["demo", "--out", str(tmp_path / "demo"), "--n-trials", "2", "--quiet"])
    assert (tmp_path / "demo" / "report.html").exists()
    assert rc == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out
    assert "CD19+ B" in out
    assert (tmp_path / "demo" / "model" / "model.json").exists()
    # the last line names the files written, each of which exists
    named = re.search(r"wrote \S+/ \((.*)\) in \d+ s", out).group(1).split(", ")
    assert named == ["model/", "pbmc68k_reduced.sag.h5ad", "report.html"]
    assert all((tmp_path / "demo" / name).exists() for name in named)


def test_explain_embed_report_commands(h5ad, config_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_classify_argv(h5ad, config_file, out, "--no-explain", "--no-report")) == 0
    explained = tmp_path / "explained.h5ad"
    rc = main(
        [
            "explain",
            str(out / "annotated.h5ad"),
            "--model",
            str(out / "model"),
            "--out",
            str(explained),
            "--nsamples",
            "20",
            "--n-background",
            "20",
            "--quiet",
        ]
    )
    assert rc == 0
    assert "sag_shap" in ad.read_h5ad(explained).varm
    assert "type_0" in capsys.readouterr().out
    # a second explanation beside the first (--key-added), of the run named --classify-key
    again = tmp_path / "explained2.h5ad"
    argv = ["explain", str(explained), "--model", str(out / "model"), "--out", str(again)]
    argv += ["--nsamples", "20", "--n-background", "20", "--cells", "val", "--quiet"]
    assert main([*argv, "--key-added", "shap_val", "--classify-key", "sag"]) == 0
    assert "type_0" in capsys.readouterr().out
    both = ad.read_h5ad(again)
    assert {"sag_shap", "shap_val"} <= set(both.varm)
    assert both.uns["shap_val"]["params"]["cells"] == "val"
    assert both.uns["sag_shap"]["params"]["cells"] == "test"
    assert both.uns["shap_val"]["params"]["classify_key"] == "sag"
    assert main([*argv, "--overwrite", "--classify-key", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
    embedded = tmp_path / "embedded.h5ad"
    rc = main(
        [
            "embed",
            str(explained),
            "--out",
            str(embedded),
            "--n-trials",
            "1",
            "--time-budget",
            "8",
            "--n-latent",
            "4",
            "--beta",
            "2",
            "--max-epochs",
            "3",
            "--labels",
            "label",
            "--quiet",
        ]
    )
    assert rc == 0
    embedded_ad = ad.read_h5ad(embedded)
    assert embedded_ad.obsm["X_sag_resvae"].shape[1] == 4
    assert json.loads(embedded_ad.uns["sag_resvae"]["train_params"])["beta"] == 2.0
    assert embedded_ad.uns["sag_resvae"]["params"]["max_epochs"] == 3
    assert len(embedded_ad.uns["sag_resvae"]["losses"]["epoch"]) <= 3
    printed = capsys.readouterr().out
    assert re.search(
        r"latent space vs obs\['label'\] \(\d+ cells, 3 labels; Leiden [\d.]+ clusters\): "
        r"ARI [\d.]+, NMI [\d.]+, silhouette -?[\d.]+, Davies-Bouldin [\d.]+",
        printed,
    )
    assert "all of them in uns['sag_resvae']['scores']" in printed
    stored = embedded_ad.uns["sag_resvae"]["scores"]  # the scores survive the h5ad
    assert stored["labels_key"] == "label"
    assert 0 <= stored["nmi"] <= 1
    active = embedded_ad.uns["sag_resvae"]["active_dims"]
    assert f"(4 dimensions, {active} varying across cells)" in printed
    # an existing --out, or --labels that are no column, stop before any work
    args = ["embed", str(explained), "--out", str(embedded), "--n-trials", "1", "--quiet"]
    assert main(args) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert main([*args[:3], str(tmp_path / "e2.h5ad"), *args[4:], "--labels", "nope"]) == 2
    assert "--labels 'nope' is not an obs column" in capsys.readouterr().err
    assert not (tmp_path / "e2.h5ad").exists()
    assert (
        main([*args, "--overwrite", "--labels", "label", "--model-out", str(tmp_path / "m")]) == 0
    )
    assert ad.read_h5ad(embedded).uns["sag_resvae"]["model_dir"] == str(tmp_path / "m")
    fresh = [*args[:3], str(tmp_path / "e3.h5ad"), *args[4:]]
    assert main([*fresh, "--model-out", str(tmp_path / "m")]) == 2
    assert "already holds a model" in capsys.readouterr().err
    rc = main(["report", str(embedded), "--out", str(tmp_path / "r.html"), "--quiet"])
    assert rc == 0
    page = (tmp_path / "r.html").read_text()
    for section in (
        "Classification",
        "Genes that drive each class",
        "Latent space",
        "data:image/png",
        "<code>sag.tl.embedding_scores</code>",  # the scores --labels stored
        "Search history (validation loss: reconstruction + beta x KL per cell",
        "The kept model",
    ):
        assert section in page


def _write_table(tmp_path) -> None:
    """expr.tsv (40 genes x 60 samples) and labels.csv (sample, type: A/B) in tmp_path."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    labels = np.repeat(["A", "B"], 30)
    expr = rng.poisson(2.0, size=(60, 40)).astype(float)
    expr[labels == "A", :5] += 20
    samples = [f"S{i}" for i in range(60)]
    table = pd.DataFrame(expr.T, index=[f"G{j}" for j in range(40)], columns=samples)
    table.to_csv(tmp_path / "expr.tsv", sep="\t")
    pd.DataFrame({"sample": samples, "type": labels}).to_csv(tmp_path / "labels.csv", index=False)


def test_table_input(tmp_path, capsys, tiny_config):
    _write_table(tmp_path)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(tiny_config))
    rc = main(
        [
            "classify",
            "--table",
            str(tmp_path / "expr.tsv"),
            "--labels-table",
            str(tmp_path / "labels.csv"),
            "--label-column",
            "type",
            "--id-column",
            "sample",
            "--out",
            str(tmp_path / "run"),
            "--config",
            str(cfg),
            "--no-explain",
            "--quiet",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    annotated = ad.read_h5ad(tmp_path / "run" / "annotated.h5ad")
    assert annotated.shape == (60, 40)
    assert (tmp_path / "run" / "report.html").exists()


def test_embed_stopped_while_writing_leaves_no_model_out(h5ad, tmp_path, capsys, monkeypatch):
    """Stopped while its AnnData is written (the last step), embed removes the --model-out it
    had just made, so that the same command runs again."""
    from scautogenome import cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_write_h5ad", interrupted)
    model_out, out = tmp_path / "vae", tmp_path / "e.h5ad"
    argv = ["embed", str(h5ad), "--out", str(out), "--model-out", str(model_out)]
    argv += ["--n-trials", "1", "--time-budget", "5", "--n-latent", "3", "--quiet"]
    assert main(argv) == 130
    assert not model_out.exists()
    assert not out.exists()
    monkeypatch.undo()
    assert main(argv) == 0  # the same command again
    assert (model_out / "model.json").is_file()
    assert out.is_file()


def test_embed_overwrite_says_which_run_a_failed_write_left(h5ad, tmp_path, capsys, monkeypatch):
    """embed --overwrite whose h5ad cannot be written (a full disk) after its model replaced
    the old one: the error says the model is this run's and --out the file it replaced."""
    model_out, out = tmp_path / "vae", tmp_path / "e.h5ad"
    argv = ["embed", str(h5ad), "--out", str(out), "--model-out", str(model_out)]
    argv += ["--n-trials", "1", "--time-budget", "5", "--n-latent", "3", "--quiet"]
    assert main(argv) == 0
    before = out.read_bytes()

    def disk_full(self, path, **kwargs):
        Path(path).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ad.AnnData, "write_h5ad", disk_full)
    assert main([*argv, "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err
    assert f"--model-out {model_out} holds this run's model, and {out} is still the file it " in err
    assert out.read_bytes() == before


def test_embed_keeps_its_embedding_when_the_scores_fail(h5ad, tmp_path, capsys, monkeypatch):
    """An error (or Ctrl-C) in the scores against --labels, after the search, still writes
    the embedding and the model, and the error line says so."""
    import scautogenome as sag

    def failing(*args, **kwargs):
        raise ValueError("boom")

    monkeypatch.setattr(sag.tl, "embedding_scores", failing)
    model_out, out = tmp_path / "vae", tmp_path / "e.h5ad"
    argv = ["embed", str(h5ad), "--out", str(out), "--model-out", str(model_out)]
    argv += ["--labels", "label", "--n-trials", "1", "--time-budget", "5", "--n-latent", "3"]
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"error: boom; the embedding is written to {out} and its model in {model_out}" in err
    assert "without the scores against --labels 'label'" in err
    back = ad.read_h5ad(out)
    assert back.obsm["X_sag_resvae"].shape == (back.n_obs, 3)
    assert "scores" not in back.uns["sag_resvae"]
    assert (model_out / "model.json").is_file()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sag.tl, "embedding_scores", interrupted)
    assert main([*argv, "--overwrite", "--quiet"]) == 130
    assert "interrupted after the embedding; the embedding is written" in capsys.readouterr().err
    assert out.is_file()


def test_embed_with_a_time_budget_shorter_than_an_epoch_fails(h5ad, tmp_path, capsys):
    out = tmp_path / "e.h5ad"
    argv = ["embed", str(h5ad), "--out", str(out), "--time-budget", "0.001", "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--time-budget 0.001 s stopped the best model after" in err
    assert "Search with a larger --time-budget" in err
    assert not out.exists()


def test_worker_adds_trials_to_a_shared_study(h5ad, config_file, tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    for _ in range(2):
        assert main(_worker_args(h5ad, url, "x", config_file)) == 0
    import optuna

    study = optuna.load_study(study_name="x", storage=url)
    assert len(study.trials) == 2


def test_embed_refuses_bad_labels_and_paths_before_the_search(h5ad, tmp_path, capsys, monkeypatch):
    import scautogenome as sag

    def no_search(*args, **kwargs):
        raise AssertionError("the search ran before the input was checked")

    monkeypatch.setattr(sag.tl, "embed", no_search)
    a = ad.read_h5ad(h5ad)
    a.obs["const"] = "x"
    a.obs["unique"] = [f"c{i}" for i in range(a.n_obs)]
    src = tmp_path / "labelled.h5ad"
    a.write_h5ad(src)
    a_file = tmp_path / "afile"
    a_file.write_text("not a folder")
    base = ["embed", str(src), "--out", str(tmp_path / "o.h5ad"), "--quiet"]
    cases = [
        (["--labels", "const"], "has 1 label(s); scores need at least 2"),
        (["--labels", "unique"], "need at least one label shared by two cells"),
        (["--labels", "label", "--leiden-seeds", "0"], "--leiden-seeds 0 must be at least 1"),
        (["--model-out", str(a_file)], f"--model-out {str(a_file)!r} cannot be created"),
        (["--model-out", str(a_file / "m")], "is a file"),
    ]
    for extra, message in cases:
        assert main([*base, *extra]) == 2, extra
        err = capsys.readouterr().err
        assert message in err, (extra, err)
        assert err.count("\n") == 1  # one line
    assert main([*base, "--leiden-seeds", "0"]) == 2  # refused without --labels too
    assert "--leiden-seeds 0 must be at least 1" in capsys.readouterr().err
    assert main(["embed", str(src), "--out", str(a_file / "o.h5ad"), "--quiet"]) == 2
    assert "the folder of --out" in capsys.readouterr().err
    for model_out in ("o.h5ad", "o.h5ad/m"):  # the model where the h5ad goes
        assert main([*base, "--model-out", str(tmp_path / model_out)]) == 2
        assert "is --out" in capsys.readouterr().err
    assert not (tmp_path / "o.h5ad").exists()
    assert a_file.read_text() == "not a folder"


def test_a_failed_write_leaves_the_input_whole(h5ad, config_file, tmp_path, capsys, monkeypatch):
    """--out onto the input with --overwrite: a write that fails part-way leaves the input as it
    was and no temporary file behind."""
    from scautogenome import cli

    model_dir = tmp_path / "run"
    args = ["classify", str(h5ad), "--labels", "label", "--out", str(model_dir)]
    assert (
        main([*args, "--config", str(config_file), "--no-explain", "--no-report", "--quiet"]) == 0
    )
    before = h5ad.read_bytes()

    def broken_write(self, path, **kwargs):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ad.AnnData, "write_h5ad", broken_write)
    predict = ["predict", str(h5ad), "--model", str(model_dir / "model"), "--out", str(h5ad)]
    assert cli.main([*predict, "--overwrite", "--quiet"]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert h5ad.read_bytes() == before
    assert [p.name for p in h5ad.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_written_through_a_symlink_and_with_a_long_name(h5ad, config_file, tmp_path):
    """The temporary file has a short name of its own (a long legal --out still works), and a
    symlinked --out is written through to its target, keeping the target's permissions."""
    import os

    model_dir = tmp_path / "run"
    args = ["classify", str(h5ad), "--labels", "label", "--out", str(model_dir)]
    assert (
        main([*args, "--config", str(config_file), "--no-explain", "--no-report", "--quiet"]) == 0
    )
    predict = ["predict", str(h5ad), "--model", str(model_dir / "model"), "--quiet", "--out"]
    long_name = tmp_path / ("x" * 240 + ".h5ad")
    assert main([*predict, str(long_name)]) == 0
    assert "sag_pred" in ad.read_h5ad(long_name).obs
    target = tmp_path / "target.h5ad"
    target.write_bytes(h5ad.read_bytes())
    target.chmod(0o640)
    link = tmp_path / "link.h5ad"
    link.symlink_to(target)
    assert main([*predict, str(link), "--overwrite"]) == 0
    assert link.is_symlink()
    assert "sag_pred" in ad.read_h5ad(target).obs
    assert os.stat(target).st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def _stub_report(monkeypatch):
    """sag.io.write_report replaced by a one-line writer: these tests check the command's
    path handling, not the report."""
    from pathlib import Path

    import scautogenome as sag

    def write(adata, path, **kwargs):
        Path(path).write_text("<html>report</html>")
        return Path(path)

    monkeypatch.setattr(sag.io, "write_report", write)


def test_report_replaces_files_only_when_asked(h5ad, tmp_path, capsys, monkeypatch):
    _stub_report(monkeypatch)
    before = h5ad.read_bytes()
    for extra in ([], ["--overwrite"]):  # the input as --out: never
        assert main(["report", str(h5ad), "--out", str(h5ad), *extra]) == 2
        assert "is the input file" in capsys.readouterr().err
    assert h5ad.read_bytes() == before
    # the default for an .h5ad file is named after it, so reports of two files do not clash
    assert main(["report", str(h5ad)]) == 0
    assert (tmp_path / "in.report.html").exists()
    assert main(["report", str(h5ad)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert main(["report", str(h5ad), "--overwrite"]) == 0
    assert main(["report", str(h5ad), "--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    # classify's --out directory: its own report.html is regenerated from its annotated.h5ad
    run = tmp_path / "run"
    run.mkdir()
    (run / "annotated.h5ad").write_bytes(before)
    (run / "report.html").write_text("old")
    assert main(["report", str(run)]) == 0
    assert (run / "report.html").read_text() == "<html>report</html>"


def test_write_atomically_keeps_the_old_file_when_a_write_fails(tmp_path):
    from scautogenome._utils import write_atomically

    target = tmp_path / "report.html"
    target.write_text("old")

    def broken(tmp):
        tmp.write_text("partial")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        write_atomically(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    assert write_atomically(target, lambda tmp: tmp.write_text("new")) == target
    assert target.read_text() == "new"


def test_demo_and_common_options_are_checked_before_work(h5ad, tmp_path, capsys, monkeypatch):
    import scautogenome as sag

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the options were checked")

    monkeypatch.setattr(sag.tl, "classify", no_work)
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    assert main(["demo", "--out", str(a_file), "--quiet"]) == 2
    assert "is a file" in capsys.readouterr().err
    earlier = tmp_path / "earlier"
    (earlier / "model").mkdir(parents=True)
    (earlier / "report.html").write_text("mine")
    assert main(["demo", "--out", str(earlier), "--quiet"]) == 2
    assert "already holds model, report.html; pass --overwrite" in capsys.readouterr().err
    assert (earlier / "report.html").read_text() == "mine"
    for extra, message in (
        (["--threads", "-1"], "--threads -1 must be a positive integer"),
        (["--threads", "0"], "--threads 0 must be a positive integer"),
        (["--device", "tpu"], "--device 'tpu'"),
    ):
        predict = ["predict", str(h5ad), "--model", str(tmp_path), "--out", str(tmp_path / "p")]
        assert main([*predict, *extra]) == 2
        err = capsys.readouterr().err
        assert message in err, err
        assert err.count("\n") == 1
    out = tmp_path / "e.h5ad"
    assert main(["embed", str(h5ad), "--out", str(out), "--beta", "nan", "--quiet"]) == 2
    assert "--beta nan must be a finite number" in capsys.readouterr().err
    assert not out.exists()


def test_budget_and_beta_options_are_named_in_their_errors(h5ad, tmp_path, capsys):
    """As the user gave them, not as the config's keys that they set."""
    out = tmp_path / "e.h5ad"
    for command, extra, message in (
        (["embed", "--out", str(out)], ["--beta", "-1"], "--beta -1.0 must not be negative"),
        (["embed", "--out", str(out)], ["--n-trials", "-2"], "--n-trials -2 must be at least 0"),
        (["demo", "--out", str(tmp_path / "d")], ["--time-budget", "-3"], "--time-budget -3.0 "),
        (
            ["classify", "--labels", "label", "--out", str(tmp_path / "c")],
            ["--time-budget", "0"],
            "--time-budget 0.0 must be a positive number of seconds",
        ),
    ):
        where = [] if command[0] == "demo" else [str(h5ad)]
        assert main([command[0], *where, *command[1:], *extra, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert message in err, err
        assert "config[" not in err
    assert not out.exists()


def test_worker_takes_the_study_settings_of_classify(h5ad, config_file, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 's.db'}"
    base = ["worker", str(h5ad), "--labels", "label", "--storage", url, "--study", "m"]
    base += ["--config", str(config_file), "--n-trials", "1", "--quiet"]
    assert main([*base, "--metric", "accuracy", "--min-cells-per-class", "2"]) == 0
    assert main(base) == 2  # another metric: refused, naming it
    assert "metric: 'accuracy' there, 'macro_f1' now" in capsys.readouterr().err
    assert main([*base, "--metric", "accuracy", "--min-cells-per-class", "2"]) == 0


def _worker_args(h5ad, url: str, study: str, config) -> list[str]:
    return [
        "worker",
        str(h5ad),
        "--labels",
        "label",
        "--storage",
        url,
        "--study",
        study,
        "--config",
        str(config),
        "--n-trials",
        "1",
        "--quiet",
    ]


@pytest.fixture
def quick_config(tiny_config, tmp_path):
    path = tmp_path / "quick.json"
    cfg = {**tiny_config, "mode": "mlp", "search": {"initial_trials": "none"}}
    cfg["trainer"] = {"max_epochs": 3, "patience": 3, "min_epochs": 1}
    path.write_text(json.dumps(cfg))
    return path


def test_value_type_option_reaches_classify_and_worker(h5ad, quick_config, tmp_path, capsys):
    """--value-type overrides the detection from the shell (classify, worker, embed), and a
    worker of other values is refused by the study it would join."""
    url = f"sqlite:///{tmp_path / 'v.db'}"
    out = tmp_path / "run"
    classify = ["classify", str(h5ad), "--labels", "label", "--config", str(quick_config)]
    classify += ["--n-trials", "1", "--storage", url, "--study-name", "v", "--out", str(out)]
    assert main([*classify, "--value-type", "continuous", "--no-explain", "--quiet"]) == 0
    assert ad.read_h5ad(out / "annotated.h5ad").uns["sag"]["params"]["value_type"] == "continuous"
    capsys.readouterr()
    assert main([*_worker_args(h5ad, url, "v", quick_config), "--value-type", "continuous"]) == 0
    assert main(_worker_args(h5ad, url, "v", quick_config)) == 2  # detected: counts
    assert "other data or settings (--value-type: 'continuous'" in capsys.readouterr().err
    for command in ("classify", "worker", "embed"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--value-type {auto,counts,normalized,binary,continuous}" in capsys.readouterr().out


def test_worker_reports_the_best_trial_of_another_process_without_retraining(
    h5ad, quick_config, tmp_path, capsys, monkeypatch
):
    from scautogenome.search import _hpo
    from scautogenome.train import Pruned

    url = f"sqlite:///{tmp_path / 's.db'}"
    args = _worker_args(h5ad, url, "x", quick_config)
    assert main(args) == 0
    real = _hpo.train_on_data
    retrained = []

    def own_trial_pruned(*a, report=None, **kw):
        if report is None:
            retrained.append(1)
            return real(*a, report=report, **kw)
        raise Pruned  # so the best trial is the other worker's

    monkeypatch.setattr(_hpo, "train_on_data", own_trial_pruned)
    capsys.readouterr()
    assert main(args) == 0
    assert retrained == []
    assert "2 trials in storage; best so far trial 0 (mlp)" in capsys.readouterr().out


def test_workers_started_together_draw_points_of_their_own(
    h5ad, quick_config, tmp_path, monkeypatch
):
    """Two workers on a new study (each the first, as when started at the same moment) with
    the same --seed draw different points, even with the same process id (1 in every
    container): a random salt goes into the sampler's seed."""
    import os

    import optuna

    monkeypatch.setattr(os, "getpid", lambda: 1)
    params = []
    for worker in (1, 2):
        url = f"sqlite:///{tmp_path / f'w{worker}.db'}"
        assert main(_worker_args(h5ad, url, "w", quick_config)) == 0
        params.append(optuna.load_study(study_name="w", storage=url).trials[0].params)
    assert params[0] != params[1]


def test_worker_in_auto_with_rrfcn_searches_for_its_whole_budget(h5ad, tmp_path, monkeypatch):
    """Mode auto with RRFCN gives classify's Optuna study 1 - auto_share of the time budget
    (ENAS has the rest, in classify's process); a worker runs no ENAS, so it searches that
    study for the whole --time-budget it is given."""
    import scautogenome.search as sag_search

    class Stop(Exception):
        pass

    budgets = []

    def capture(data, cfg, **kw):
        budgets.append((cfg["mode"], cfg["budget"]["time_budget"]))
        raise Stop

    monkeypatch.setattr(sag_search, "run_search", capture)
    path = tmp_path / "auto.json"
    path.write_text(json.dumps({"mode": "auto", "rrfcn": {"auto_share": 0.25}}))
    url = f"sqlite:///{tmp_path / 'a.db'}"
    base = ["worker", str(h5ad), "--labels", "label", "--storage", url, "--study", "a"]
    base += ["--config", str(path), "--quiet"]
    for budget in ("3600", "600"):  # with RRFCN (>= 1800 s), and without
        with pytest.raises(Stop):
            main([*base, "--time-budget", budget])
    assert budgets == [("auto", 3600.0), ("auto", 600.0)]


def test_worker_joins_an_rrfcn_study_of_optuna_and_refuses_enas(h5ad, tmp_path, capsys):
    import optuna

    import scautogenome as sag

    cfg = {
        "mode": "rrfcn",
        "budget": {"n_trials": 1, "time_budget": None},
        "trainer": {"max_epochs": 3, "patience": 3, "min_epochs": 1},
        "rrfcn": {"strategy": "optuna", "n_layers": 3, "first_width": 32, "widths": [16, 32]},
    }
    path = tmp_path / "rrfcn.json"
    path.write_text(json.dumps(cfg))
    url = f"sqlite:///{tmp_path / 'r.db'}"
    sag.tl.classify(ad.read_h5ad(h5ad), "label", config=str(path), storage=url, study_name="r")
    capsys.readouterr()
    assert main(_worker_args(h5ad, url, "r", path)) == 0, capsys.readouterr().err
    assert "2 trials in storage" in capsys.readouterr().out
    trials = optuna.load_study(study_name="r", storage=url).trials
    assert [t.user_attrs["mode"] for t in trials] == ["rrfcn", "rrfcn"]
    # a worker first on a new study starts the same study classify would join
    assert main(_worker_args(h5ad, f"sqlite:///{tmp_path / 'r2.db'}", "r", path)) == 0
    # ENAS is one process's controller: no study to join
    cfg["rrfcn"]["strategy"] = "enas"
    path.write_text(json.dumps(cfg))
    capsys.readouterr()
    assert main(_worker_args(h5ad, url, "r", path)) == 2
    err = capsys.readouterr().err
    assert "ENAS" in err
    assert "rrfcn.strategy" in err
    del cfg["mode"]
    path.write_text(json.dumps(cfg))
    assert main([*_worker_args(h5ad, url, "r", path), "--mode", "rrfcn"]) == 2
    assert len(optuna.load_study(study_name="r", storage=url).trials) == 2


def test_classify_refuses_an_out_holding_any_of_its_files(h5ad, tmp_path, capsys, monkeypatch):
    """Each file classify writes (the input among them), not only model/model.json, is kept
    unless --overwrite, and refused before any work."""
    import scautogenome as sag

    def no_work(*args, **kwargs):
        raise AssertionError("the search ran into an --out holding earlier results")

    monkeypatch.setattr(sag.tl, "classify", no_work)
    for name in ("model", "annotated.h5ad", "metrics.json", "report.html"):
        run = tmp_path / name.replace(".", "_")
        run.mkdir()
        (run / name).write_bytes(h5ad.read_bytes())
        src = run / name if name == "annotated.h5ad" else h5ad  # the input as one of them
        assert main(["classify", str(src), "--labels", "label", "--out", str(run)]) == 2
        err = capsys.readouterr().err
        assert f"already holds {name}; pass --overwrite" in err, err
        assert (run / name).read_bytes() == h5ad.read_bytes()
    # --no-report writes no report.html, but an old one would contradict the new model: it is
    # kept unless --overwrite, which removes it (below)
    run = tmp_path / "report_html"
    argv = ["classify", str(h5ad), "--labels", "label", "--out", str(run), "--no-report"]
    assert main(argv) == 2
    assert "already holds report.html; pass --overwrite" in capsys.readouterr().err
    with pytest.raises(AssertionError, match="the search ran"):
        main([*argv, "--overwrite"])


def test_classify_overwrite_onto_its_input_keeps_it_when_the_disk_is_full(
    h5ad, config_file, tmp_path, capsys, monkeypatch
):
    """classify --overwrite whose input is the annotated.h5ad of the run it replaces: a write
    that fails (a full disk) leaves that file, and the run's metrics.json, as they were; the
    new model is kept, and the error says which files are of which run."""
    out = tmp_path / "run"
    assert main(_classify_argv(h5ad, config_file, out, "--no-explain", "--no-report")) == 0
    before = {name: (out / name).read_bytes() for name in ("annotated.h5ad", "metrics.json")}

    def disk_full(self, path, **kwargs):
        Path(path).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ad.AnnData, "write_h5ad", disk_full)
    again = _classify_argv(out / "annotated.h5ad", config_file, out, "--no-explain", "--overwrite")
    assert main(again) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err
    assert "its annotated.h5ad, metrics.json are still of the run it replaced" in err
    assert {name: (out / name).read_bytes() for name in before} == before
    assert sorted(p.name for p in out.iterdir()) == ["annotated.h5ad", "metrics.json", "model"]


def test_classify_overwrite_refuses_a_file_where_it_writes_a_folder(
    h5ad, tmp_path, capsys, monkeypatch
):
    """--overwrite replaces classify's files; a file named ``model`` or a folder named
    ``annotated.h5ad`` is something else, refused before the search rather than after it."""
    import scautogenome as sag

    def no_work(*args, **kwargs):
        raise AssertionError("the search ran")

    monkeypatch.setattr(sag.tl, "classify", no_work)
    for name, expect in (("model", "as a file"), ("annotated.h5ad", "as a folder")):
        run = tmp_path / name.replace(".", "_")
        run.mkdir()
        if name == "model":
            (run / name).write_text("mine")
        else:
            (run / name).mkdir()
        argv = ["classify", str(h5ad), "--labels", "label", "--out", str(run), "--overwrite"]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"holds {name!r} {expect}, where this command writes its {name}" in err, err
    assert (tmp_path / "model" / "model").read_text() == "mine"


def test_classify_overwrite_without_a_report_removes_the_old_one(h5ad, quick_config, tmp_path):
    out = tmp_path / "run"
    assert main(_classify_argv(h5ad, quick_config, out, "--no-explain")) == 0
    assert (out / "report.html").is_file()
    argv = _classify_argv(h5ad, quick_config, out, "--no-explain", "--no-report", "--overwrite")
    assert main(argv) == 0
    assert not (out / "report.html").exists()
    assert (out / "annotated.h5ad").is_file()


def test_an_empty_out_is_refused(h5ad, tmp_path, capsys, monkeypatch):
    """'' would be the current folder."""
    monkeypatch.chdir(tmp_path)
    for argv in (
        ["classify", str(h5ad), "--labels", "label", "--out", ""],
        ["predict", str(h5ad), "--model", "m", "--out", ""],
        ["embed", str(h5ad), "--out", " "],
        ["demo", "--out", ""],
    ):
        assert main(argv) == 2, argv
        assert "--out is empty; give a path" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.h5ad"]


def test_failed_commands_create_no_out_folder(h5ad, tmp_path, capsys):
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    cases = [
        ([str(h5ad)], "--labels is required"),
        ([str(h5ad), "--labels", "cell_type"], "'cell_type' is not a column"),
        ([str(tmp_path / "nope.h5ad"), "--labels", "label"], "does not exist"),
        ([str(h5ad), "--table", str(h5ad), "--labels", "label"], "give one input"),
        ([str(h5ad), "--tumor-only", "--labels", "label"], "--tumor-only needs --tcga"),
        ([str(h5ad), "--no-tumor-only", "--labels", "label"], "--no-tumor-only needs --tcga"),
        ([str(h5ad), "--labels", "label", "--id-column", "x"], "--id-column needs --labels-table"),
        (
            ["--table", str(h5ad), "--labels-table", str(tmp_path / "no.csv"), "--labels", "y"],
            f"--labels-table {str(tmp_path / 'no.csv')!r} does not exist",
        ),
        ([str(h5ad), "--tcga", "--labels-table", str(a_file)], "--labels-table needs --table"),
        ([str(h5ad), "--labels", "label", "--sep", ";"], "--sep needs --table"),
        (["--autogenome", str(tmp_path / "no.json")], "--autogenome"),
    ]
    for i, (extra, message) in enumerate(cases):
        out = tmp_path / f"out{i}"
        assert main(["classify", *extra, "--out", str(out), "--quiet"]) == 2, extra
        err = capsys.readouterr().err
        assert message in err, (extra, err)
        assert not out.exists(), extra
    args = ["classify", str(h5ad), "--labels", "label", "--out", str(a_file / "run")]
    assert main(args) == 2
    assert "cannot be created" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["report", "in.h5ad"], ["--device", "cuda"]),
        (["report", "in.h5ad"], ["--threads", "2"]),
        (["report", "in.h5ad"], ["--seed", "1"]),
        (["predict", "in.h5ad", "--model", "m", "--out", "p.h5ad"], ["--seed", "1"]),
    ],
)
def test_commands_take_only_the_options_they_use(command, option, capsys):
    """report trains and runs nothing (no --device/--threads/--seed); predict draws nothing
    (no --seed): an option that would be ignored is refused."""
    with pytest.raises(SystemExit) as e:
        main([*command, *option])
    assert e.value.code == 2
    assert f"unrecognized arguments: {' '.join(option)}" in capsys.readouterr().err


def _readme_command(start: str, out) -> list[str]:
    """The README's shell line that starts with ``start``, as arguments of main (its comment
    dropped), writing to ``out``."""
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith(start):
            argv = shlex.split(line, comments=True)[1:]
            argv[argv.index("--out") + 1] = str(out)
            return argv
    raise AssertionError(f"no README line starts with {start!r}")


def test_readme_tcga_command_runs_on_the_examples(tmp_path, config_file, capsys, monkeypatch):
    """The README's TCGA line, as written, on data/examples (GDC clinical.tsv: project_id
    TCGA-BRCA -> BRCA, patient barcodes, --tumor-only)."""
    monkeypatch.chdir(ROOT)
    out = tmp_path / "tcga"
    argv = _readme_command("scautogenome classify --tcga", out)
    budget = ["--config", str(config_file), "--n-trials", "1", "--no-explain", "--quiet"]
    assert main([*argv, *budget]) == 0, capsys.readouterr().err
    annotated = ad.read_h5ad(out / "annotated.h5ad")
    assert sorted(annotated.obs["project"].unique()) == ["BRCA", "COAD", "LUAD"]
    assert annotated.n_obs == 51  # 3 x 17 tumours; the matched normals left out
    assert annotated.obs["is_tumor"].all()
    assert annotated.uns["sag"]["params"]["labels_key"] == "project"
    assert (out / "report.html").exists()
    # predict reads the same files without the clinical table: no warning of the project
    # code, which it does not use; --model may name classify's folder
    capsys.readouterr()
    table = "data/examples/tcga_expression.tsv.gz"
    pred = ["predict", "--tcga", "--table", table, "--model", str(out), "--out"]
    assert main([*pred, str(tmp_path / "p.h5ad")]) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "project code" not in err
    assert ad.read_h5ad(tmp_path / "p.h5ad").obs["sag_pred"].notna().all()


def test_maf_input_classifies_and_predicts_mutations(tmp_path, config_file, capsys, monkeypatch):
    """--maf (the README's line) reads MAF files as sag.io.read_maf does (the mutation half of
    the TCGA tutorial, from a shell), with the labels of --labels-table joined on the barcodes (its column of
    them found, as --tcga finds it); predict reads a MAF's unlisted genes as not mutated."""
    monkeypatch.chdir(ROOT)
    out = tmp_path / "mut"
    maf, clinical = "data/examples/tcga_mutations.maf.gz", "data/examples/tcga_clinical.tsv"
    argv = ["classify", "--maf", maf, "--labels-table", clinical, "--label-column", "project_id"]
    budget = ["--config", str(config_file), "--n-trials", "1", "--no-explain", "--quiet"]
    readme = _readme_command("scautogenome classify --maf", out)  # the README's line
    assert readme == [*argv, "--out", str(out)]
    assert main([*readme, *budget]) == 0, capsys.readouterr().err
    annotated = ad.read_h5ad(out / "annotated.h5ad")
    import scautogenome as sag

    expected = sag.io.read_maf(maf)
    assert list(annotated.obs_names) == list(expected.obs_names)
    assert set(annotated.obs["project_id"].dropna()) == {"TCGA-BRCA", "TCGA-COAD", "TCGA-LUAD"}
    assert annotated.uns["sag"]["params"]["labels_key"] == "project_id"
    assert annotated.uns["sag_io"]["reader"] == "read_maf"
    assert annotated.uns["sag_io"]["id_column"] == "case_submitter_id"
    capsys.readouterr()
    pred = ["predict", "--maf", maf, "--model", str(out), "--out", str(tmp_path / "p.h5ad")]
    assert main(pred) == 0, capsys.readouterr().err
    predicted = ad.read_h5ad(tmp_path / "p.h5ad")
    assert predicted.obs["sag_pred"].notna().all()
    # an option of the matrix tables only, with --maf: refused before any file is read
    for extra, message in (
        (["--orientation", "genes_x_samples"], "--orientation needs --table"),
        (["--tcga"], "--tcga needs --table"),
        (["--maf", "no.maf"], "--maf 'no.maf' does not exist"),
        # an .h5ad after a MAF is an input of its own, not a second MAF
        ([str(tmp_path / "in.h5ad")], "give one input, not an .h5ad input and --maf"),
        (["b.maf"], "give one input, not an .h5ad input and --maf ('b.maf' is a MAF: --maf again"),
    ):
        code = main([*argv, *extra, "--out", str(tmp_path / "x"), *budget])
        assert code == 2, extra
        assert message in capsys.readouterr().err
        assert not (tmp_path / "x").exists()
    # a label table that is not there: said before the MAF is read
    missing = ["classify", "--maf", maf, "--labels-table", "no.tsv", "--out", str(tmp_path / "x")]
    assert main([*missing, *budget]) == 2
    err = capsys.readouterr().err
    assert "--labels-table 'no.tsv' does not exist" in err
    assert "read_maf" not in err
    # several MAFs: --maf again for each (the example's samples in two files)
    import gzip

    with gzip.open(ROOT / maf, "rt") as f:
        lines = f.read().splitlines(keepends=True)
    head = [line for line in lines if line.startswith(("#", "Hugo_Symbol"))]
    rows = [line for line in lines if line not in head]
    column = head[-1].rstrip("\n").split("\t").index("Tumor_Sample_Barcode")
    samples = sorted({r.split("\t")[column] for r in rows})
    parts = []
    for k in range(2):
        part = tmp_path / f"part{k}.maf"
        mine = set(samples[k::2])
        part.write_text("".join(head + [r for r in rows if r.split("\t")[column] in mine]))
        parts.append(str(part))
    two = ["predict", "--maf", parts[0], "--maf", parts[1], "--model", str(out)]
    assert main([*two, "--out", str(tmp_path / "two.h5ad")]) == 0, capsys.readouterr().err
    assert set(ad.read_h5ad(tmp_path / "two.h5ad").obs_names) == set(predicted.obs_names)


def test_tcga_normals_are_warned_of_only_where_the_labels_are_their_cohort(
    tmp_path, config_file, capsys, monkeypatch
):
    """--tcga without --tumor-only keeps normal tissue labelled by its cohort: a warning; not
    with --no-tumor-only (asked for), nor with a clinical --label-column (not the cohort)."""
    monkeypatch.chdir(ROOT)
    table, clinical = "data/examples/tcga_expression.tsv.gz", "data/examples/tcga_clinical.tsv"
    argv = ["classify", "--tcga", "--table", table, "--labels-table", clinical]
    budget = ["--config", str(config_file), "--n-trials", "1", "--no-explain", "--no-report"]
    cases = [([], True), (["--no-tumor-only"], False), (["--label-column", "gender"], False)]
    for i, (extra, warned) in enumerate(cases):
        assert main([*argv, *extra, "--out", str(tmp_path / f"r{i}"), *budget]) == 0
        err = " ".join(capsys.readouterr().err.split())
        assert ("9 of the 60 samples are not tumours" in err) is warned, extra


def test_tcga_label_column_named_like_a_barcode_column_is_the_clinical_one(
    tmp_path, config_file, capsys
):
    """--tcga --label-column sample_type, where the clinical table has a sample_type column
    (Xena's phenotype files do): the labels are the user's column, not the barcodes' one."""
    import pandas as pd

    clinical = pd.read_csv(ROOT / "data/examples/tcga_clinical.tsv", sep="\t")
    clinical["sample_type"] = np.where(np.arange(len(clinical)) % 2, "call_a", "call_b")
    clinical.to_csv(tmp_path / "clinical.tsv", sep="\t", index=False)
    out = tmp_path / "tn"
    argv = ["classify", "--tcga", "--table", str(ROOT / "data/examples/tcga_expression.tsv.gz")]
    argv += ["--labels-table", str(tmp_path / "clinical.tsv"), "--label-column", "sample_type"]
    argv += ["--out", str(out), "--config", str(config_file), "--n-trials", "1"]
    assert main([*argv, "--no-explain", "--no-report", "--quiet"]) == 0, capsys.readouterr().err
    annotated = ad.read_h5ad(out / "annotated.h5ad")
    assert annotated.uns["sag"]["params"]["labels_key"] == "sample_type_clinical"
    assert sorted(annotated.uns["sag"]["classes"]) == ["call_a", "call_b"]


def test_worker_labels_default_to_the_label_column(tmp_path, quick_config):
    import optuna

    _write_table(tmp_path)
    url = f"sqlite:///{tmp_path / 's.db'}"
    table = ["--table", str(tmp_path / "expr.tsv"), "--labels-table", str(tmp_path / "labels.csv")]
    table += ["--label-column", "type", "--id-column", "sample"]
    args = ["worker", *table, "--storage", url, "--study", "t", "--config", str(quick_config)]
    assert main([*args, "--n-trials", "1", "--quiet"]) == 0
    assert len(optuna.load_study(study_name="t", storage=url).trials) == 1


def test_readme_autogenome_command_runs_on_the_examples(tmp_path, capsys, monkeypatch):
    """The README's AutoGenome line on data/examples/autogenome: labels obs['label'], the
    reader's config (mode resnet, 50 epochs), AutoGenome's test file held out; --n-trials
    wins over the config. Its model then predicts an --autogenome input."""
    import warnings

    monkeypatch.chdir(ROOT)
    warnings.filterwarnings("ignore", "AutoGenome config", UserWarning)
    out = tmp_path / "ag"
    argv = _readme_command("scautogenome classify --autogenome", out)
    assert main([*argv, "--n-trials", "1", "--no-explain", "--no-report", "--quiet"]) == 0, (
        capsys.readouterr().err
    )
    annotated = ad.read_h5ad(out / "annotated.h5ad")
    uns = annotated.uns["sag"]
    assert uns["params"]["labels_key"] == "label"
    config = json.loads(uns["config"])
    assert config["mode"] == "resnet"
    assert config["trainer"]["max_epochs"] == 50
    assert len(uns["trials"]) == 1
    held_out = annotated.obs["autogenome_split"] == "test"
    assert ((annotated.obs["sag_split"] == "test") == held_out).all()
    assert int(uns["metrics"]["test"]["n"]) == held_out.sum() == 12
    assert (annotated.obs.loc[~held_out, "sag_split"] == "val").any()  # drawn from train
    config_json = argv[argv.index("--autogenome") + 1]
    pred = tmp_path / "pred.h5ad"
    predict = ["predict", "--autogenome", config_json, "--model", str(out / "model")]
    assert main([*predict, "--out", str(pred), "--quiet"]) == 0
    assert ad.read_h5ad(pred).obs["sag_pred"].notna().all()
    # explain takes AutoGenome's own test file as the cells to explain, as classify's split
    explained = tmp_path / "explained.h5ad"
    explain = ["explain", "--autogenome", config_json, "--model", str(out / "model")]
    explain += ["--nsamples", "5", "--n-background", "5", "--quiet", "--out", str(explained)]
    assert main(explain) == 0, capsys.readouterr().err
    cells = ad.read_h5ad(explained).uns["sag_shap"]["cells"]
    assert set(cells) <= set(annotated.obs_names[held_out])


def test_autogenome_input_of_embed_and_worker(tmp_path, quick_config, capsys):
    """embed reads the layout without its (classification) config; worker defaults as classify
    (labels, split) and takes --config over the reader's."""
    import warnings

    import optuna

    warnings.filterwarnings("ignore", "AutoGenome config", UserWarning)
    config_json = str(ROOT / "data" / "examples" / "autogenome" / "config.json")
    out = tmp_path / "e.h5ad"
    embed = ["embed", "--autogenome", config_json, "--out", str(out), "--n-latent", "2"]
    assert main([*embed, "--n-trials", "1", "--time-budget", "3", "--quiet"]) == 0, (
        capsys.readouterr().err
    )
    assert ad.read_h5ad(out).obsm["X_sag_resvae"].shape == (60, 2)
    url = f"sqlite:///{tmp_path / 'w.db'}"
    worker = ["worker", "--autogenome", config_json, "--storage", url, "--study", "w"]
    assert main([*worker, "--config", str(quick_config), "--n-trials", "1", "--quiet"]) == 0
    (trial,) = optuna.load_study(study_name="w", storage=url).trials
    assert trial.user_attrs["mode"] == "mlp"  # --config's mode, not the reader's resnet


@pytest.mark.parametrize("command", ["classify", "embed", "worker"])
def test_a_bad_storage_fails_before_the_input_is_read(command, h5ad, tmp_path, capsys, monkeypatch):
    import scautogenome.cli as cli

    def no_read(*args, **kwargs):
        raise AssertionError("the input was read")

    monkeypatch.setattr(cli, "_read_h5ad", no_read)
    argv = [command, str(h5ad), "--labels", "label", "--storage", "bogus://x"]
    argv += ["--study", "s"] if command == "worker" else ["--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--storage 'bogus://x' cannot be opened" in err  # the option, as the user typed it
    assert "Traceback" not in err


def _quick_classify(h5ad, quick_config, out) -> list[str]:
    """A one-trial classify run into ``out``, without SHAP or report."""
    return _classify_argv(h5ad, quick_config, out, "--n-trials", "1", "--no-explain", "--no-report")


def test_metrics_json_holds_what_the_run_measured(h5ad, quick_config, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_quick_classify(h5ad, quick_config, out)) == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    annotated = ad.read_h5ad(out / "annotated.h5ad")
    uns = annotated.uns["sag"]
    assert metrics["classes"] == [str(c) for c in uns["classes"]] == ["type_0", "type_1", "type_2"]
    assert metrics["labels_key"] == "label"
    assert metrics["metric"] == uns["params"]["metric"]
    for part in ("test", "val"):
        stored = uns["metrics"][part]
        for k in ("accuracy", "macro_f1", "balanced_accuracy", "roc_auc", "average_precision"):
            assert metrics[part][k] == pytest.approx(stored[k])
        assert metrics[part]["n"] == stored["n"] > 0
        for k in ("precision", "recall", "f1", "support", "roc_auc", "average_precision"):
            assert metrics[part]["per_class"][k] == pytest.approx(stored["per_class"][k].tolist())
    assert metrics["confusion"] == uns["confusion"].tolist()  # rows: true class, in "classes"
    assert sum(map(sum, metrics["confusion"])) == metrics["test"]["n"]
    assert metrics["best"] == {
        "trial": int(uns["best"]["trial"]),
        "mode": "mlp",
        "val_score": pytest.approx(float(uns["best"]["val_score"])),
    }
    # the test summary stays at the top level, as before
    for k in ("accuracy", "macro_f1", "balanced_accuracy", "roc_auc", "average_precision", "n"):
        assert metrics[k] == metrics["test"][k]
    # the printed table has a ROC AUC column and summary
    printed = capsys.readouterr().out
    assert "ROC AUC" in printed
    assert f"ROC AUC {uns['metrics']['test']['roc_auc']:.3f}" in printed
    # the NaN metrics of an empty split are JSON's null, not the invalid NaN
    from scautogenome.cli import metrics_record

    uns["metrics"]["val"]["accuracy"] = float("nan")
    # numbers as anndata < 0.11 reads them back (numpy scalars), a NaN among them
    uns["metrics"]["test"]["n"] = np.int64(uns["metrics"]["test"]["n"])
    uns["metrics"]["val"]["macro_f1"] = np.longdouble("nan")
    record = metrics_record(annotated)
    assert record["val"]["accuracy"] is None
    assert record["val"]["macro_f1"] is None
    assert type(record["test"]["n"]) is int
    json.dumps(record, allow_nan=False)


@pytest.mark.parametrize("command", ["predict", "explain"])
def test_min_gene_overlap_has_help(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "--min-gene-overlap MIN_GENE_OVERLAP minimum fraction of the model's genes the input "
        "must have (matched by name); below it the command stops with an error" in text
    )
    assert "(default 0.5)" in text


def test_every_option_has_help():
    import argparse

    from scautogenome.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    missing = [
        f"{name} {act.option_strings or act.dest}"
        for name, sp in sub.choices.items()
        for act in sp._actions
        if not act.help and not isinstance(act, argparse._HelpAction)
    ]
    assert missing == []


def test_report_names_its_file_once_and_nothing_with_quiet(h5ad, quick_config, tmp_path, capsys):
    import scautogenome as sag

    out = tmp_path / "run"
    assert main(_quick_classify(h5ad, quick_config, out)) == 0, capsys.readouterr().err
    capsys.readouterr()
    sag.settings.verbosity = 2  # the CLI's default (the tests run at 1)
    assert main(["report", str(out)]) == 0
    captured = capsys.readouterr()
    wrote = [line for line in (captured.out + captured.err).splitlines() if "wrote" in line]
    assert len(wrote) == 1
    assert str(out / "report.html") in wrote[0]
    assert main(["report", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")


def test_explain_takes_the_split_of_the_original_input(adata, quick_config, tmp_path):
    """A model trained with --split-key, explained on the original .h5ad (no classify record
    in it): --split-key makes the explained cells the split's test cells."""
    rng = np.random.default_rng(0)
    adata.obs["fold"] = rng.choice(["train"] * 8 + ["val", "test"], adata.n_obs)
    path = tmp_path / "in.h5ad"
    adata.write_h5ad(path)
    out = tmp_path / "run"
    argv = _quick_classify(path, quick_config, out)
    assert main([*argv, "--split-key", "fold"]) == 0
    explained = tmp_path / "explained.h5ad"
    common = ["explain", str(path), "--model", str(out / "model"), "--nsamples", "10"]
    common += ["--n-background", "10", "--quiet", "--overwrite", "--out", str(explained)]
    assert main([*common, "--split-key", "fold"]) == 0
    cells = set(ad.read_h5ad(explained).uns["sag_shap"]["cells"])
    test = set(adata.obs_names[adata.obs["fold"] == "test"])
    assert cells <= test
    assert main(common) == 0  # without it: cells drawn from all cells
    assert not set(ad.read_h5ad(explained).uns["sag_shap"]["cells"]) <= test
    # no classify record in the input: cells grouped by their predicted class, unless
    # --groupby names the labels
    assert ad.read_h5ad(explained).uns["sag_shap"]["params"]["groupby"] == "predicted class"
    assert main([*common, "--groupby", "label"]) == 0
    assert ad.read_h5ad(explained).uns["sag_shap"]["params"]["groupby"] == "label"


@pytest.fixture
def regression_h5ad(adata, tmp_path):
    """The synthetic cells with a numeric obs['age'] (300 distinct values) in an .h5ad."""
    X = np.asarray(adata.X.todense())
    rng = np.random.default_rng(0)
    adata.obs["age"] = 5 * np.log1p(X[:, :10]).sum(1) + rng.normal(0, 1, adata.n_obs) + 40
    path = tmp_path / "age.h5ad"
    adata.write_h5ad(path)
    return path


def test_classify_a_numeric_target_then_predict_and_explain(
    regression_h5ad, quick_config, tmp_path, capsys
):
    out = tmp_path / "run"
    argv = ["classify", str(regression_h5ad), "--labels", "age", "--out", str(out)]
    argv += ["--config", str(quick_config), "--n-trials", "2", "--task", "regression"]
    assert main([*argv, "--no-explain", "--quiet"]) == 0, capsys.readouterr().err
    annotated = ad.read_h5ad(out / "annotated.h5ad")
    uns = annotated.uns["sag"]
    assert uns["task"] == "regression"
    assert uns["params"]["task"] == "regression"
    assert annotated.obs["sag_pred"].dtype.kind == "f"
    assert json.loads((out / "model" / "model.json").read_text())["model"] == "Regressor"
    # metrics.json: the regression summary, no classes or confusion matrix
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics)[:6] == ["r2", "rmse", "mae", "pearson", "spearman", "n"]
    assert metrics["task"] == "regression"
    assert metrics["target"] == metrics["labels_key"] == "age"
    assert metrics["metric"] == "r2"
    assert "classes" not in metrics
    assert "confusion" not in metrics
    for part in ("test", "val"):
        stored = uns["metrics"][part]
        for k in ("r2", "rmse", "mae", "pearson", "spearman"):
            assert metrics[part][k] == pytest.approx(float(stored[k]))
        assert metrics[part]["n"] == int(stored["n"]) == 30
    for k in ("r2", "rmse", "mae", "pearson", "spearman", "n"):
        assert metrics[k] == metrics["test"][k]
    assert metrics["best"] == {
        "trial": int(uns["best"]["trial"]),
        "mode": "mlp",
        "val_score": pytest.approx(float(uns["best"]["val_score"])),
    }
    printed = capsys.readouterr().out
    test = uns["metrics"]["test"]
    assert f"test R2 {test['r2']:.3f}   RMSE {test['rmse']:.4g}" in printed
    assert "numeric target obs['age']" in printed
    assert "best trial" in printed
    assert "precision" not in printed
    page = (out / "report.html").read_text()
    assert "<h2>Regression</h2>" in page
    assert "Confusion matrix" not in page

    # predict with the saved Regressor: values, no class probabilities or confidence
    pred = tmp_path / "pred.h5ad"
    rc = main(["predict", str(regression_h5ad), "--model", str(out / "model"), "--out", str(pred)])
    assert rc == 0, capsys.readouterr().err
    predicted = ad.read_h5ad(pred)
    assert "sag_confidence" not in predicted.obs
    assert "sag_proba" not in predicted.obsm
    np.testing.assert_allclose(predicted.obs["sag_pred"], annotated.obs["sag_pred"], rtol=1e-5)
    printed = capsys.readouterr().out
    values = predicted.obs["sag_pred"].to_numpy()
    assert f"predicted age (300 cells): mean {values.mean():.4g}, sd {values.std():.4g}" in printed
    assert "predicted classes" not in printed

    # explain the saved Regressor: the top genes of its one output
    explained = tmp_path / "explained.h5ad"
    explain = ["explain", str(out / "annotated.h5ad"), "--model", str(out / "model")]
    explain += ["--nsamples", "10", "--n-background", "10", "--out", str(explained), "--quiet"]
    assert main(explain) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "top genes of the predicted age (SHAP):" in printed
    genes = ad.read_h5ad(explained).uns["sag_shap"]["top_genes"][0][:8]
    assert f"age       {', '.join(genes)}" in printed
    assert "overall" not in printed


def test_task_option(regression_h5ad, tmp_path, capsys):
    import scautogenome as sag
    from scautogenome.cli import TASKS

    assert sag.data.TASKS == TASKS
    with pytest.raises(SystemExit):
        main(["classify", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--task {auto,classification,regression}" in text
    assert "not all whole numbers or of more than 50 distinct values" in text
    assert "r2, pearson and spearman are for a numeric target" in text
    # classes asked of a numeric column of many values: refused before the search
    out = tmp_path / "o"
    argv = ["classify", str(regression_h5ad), "--labels", "age", "--out", str(out), "--quiet"]
    assert main([*argv, "--task", "classification"]) == 2
    assert "classification needs categories" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(SystemExit):
        main([*argv, "--task", "numeric"])


def test_worker_joins_the_regression_study_of_classify(regression_h5ad, quick_config, tmp_path):
    """The worker runs the study classify runs for a numeric target (task auto: the r2
    metric and the mse loss of sag.config.for_task), so it joins it; asked for classes, it
    does not."""
    import optuna

    import scautogenome as sag

    url = f"sqlite:///{tmp_path / 'r.db'}"
    adata = ad.read_h5ad(regression_h5ad)
    sag.tl.classify(adata, "age", config=str(quick_config), n_trials=1, storage=url, study_name="r")
    worker = ["worker", str(regression_h5ad), "--labels", "age", "--storage", url, "--study", "r"]
    worker += ["--config", str(quick_config), "--n-trials", "1", "--quiet"]
    assert main(worker) == 0
    study = optuna.load_study(study_name="r", storage=url)
    assert len(study.trials) == 2
    fingerprint = study.user_attrs["sag_fingerprint"]
    assert (fingerprint["task"], fingerprint["metric"], fingerprint["loss"]) == (
        "regression",
        "r2",
        "mse",
    )
    assert main([*worker, "--task", "regression"]) == 0
    assert main([*worker, "--task", "classification"]) == 2
    assert len(optuna.load_study(study_name="r", storage=url).trials) == 3


def test_worker_with_the_mse_loss_joins_on_a_few_valued_target(adata, quick_config, tmp_path):
    """Under the loss 'mse' (AutoGenome's regression configs) a numeric column of few values
    is a numeric target for the worker as for classify (sag.config.requested_task)."""
    import optuna

    import scautogenome as sag

    adata.obs["dose"] = np.tile([0.0, 1.0, 2.5, 5.0, 10.0], adata.n_obs // 5)
    h5ad = tmp_path / "dose.h5ad"
    adata.write_h5ad(h5ad)
    cfg = json.loads(quick_config.read_text())
    cfg["trainer"]["loss"] = "mse"
    config = tmp_path / "mse.json"
    config.write_text(json.dumps(cfg))
    url = f"sqlite:///{tmp_path / 'd.db'}"
    model = sag.tl.classify(adata, "dose", config=str(config), storage=url, study_name="d")
    assert isinstance(model, sag.models.Regressor)
    worker = ["worker", str(h5ad), "--labels", "dose", "--storage", url, "--study", "d"]
    assert main([*worker, "--config", str(config), "--n-trials", "1", "--quiet"]) == 0
    assert len(optuna.load_study(study_name="d", storage=url).trials) == 4


def test_predict_and_explain_take_only_models_of_classify(h5ad, tmp_path, capsys):
    model = tmp_path / "m"
    model.mkdir()
    for meta, message in (
        ({"model": "ResVAE"}, "holds a 'ResVAE' model; give a model of classify"),
        ("not json", "its model.json cannot be read"),
        ([1, 2], "its model.json cannot be read"),
    ):
        (model / "model.json").write_text(meta if isinstance(meta, str) else json.dumps(meta))
        for command in ("predict", "explain"):
            argv = [command, str(h5ad), "--model", str(model), "--out", str(tmp_path / "o.h5ad")]
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert message in err, err
            assert err.count("\n") == 1


def test_metrics_record_of_a_regression_run_writes_undefined_figures_as_null():
    from scautogenome.cli import metrics_record, metrics_table

    nan = float("nan")
    adata = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
    part = {"r2": 0.5, "rmse": 2.0, "mae": 1.5, "pearson": nan, "spearman": 0.25, "n": 10}
    adata.uns["sag"] = {
        "task": "regression",
        "params": {"labels_key": "dose", "metric": "spearman"},
        "classes": np.array(["dose"]),
        "metrics": {"test": part, "val": {**part, "r2": nan, "rmse": float("inf")}},
        "best": {"trial": 3, "mode": "resnet", "val_score": 0.25},
        "trials": [0, 1, 2, 3],
    }
    record = metrics_record(adata)
    assert record["pearson"] is None
    assert record["val"]["r2"] is None
    assert record["val"]["rmse"] is None  # infinite: no JSON number either
    assert record["target"] == "dose"
    assert record["metric"] == "spearman"
    json.dumps(record, allow_nan=False)
    table = metrics_table(adata).splitlines()
    assert table[0].split() == ["split", "R2", "RMSE", "MAE", "Pearson", "Spearman", "cells"]
    assert table[1].split() == ["test", "0.500", "2", "1.5", "nan", "0.250", "10"]
    assert table[2].split() == ["val", "nan", "inf", "1.5", "nan", "0.250", "10"]
    assert table[-1] == "best trial 3 (resnet), validation score 0.250; 4 trials"


def test_errors_name_the_options_of_the_command(h5ad, adata, tmp_path, capsys):
    """A message of the Python API names the command's options, not the keyword arguments."""
    import scautogenome as sag

    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0)
    model.save(tmp_path / "m")
    argv = ["explain", str(h5ad), "--model", str(tmp_path / "m"), "--out", str(tmp_path / "o")]
    assert main([*argv, "--cells", "val"]) == 2
    err = capsys.readouterr().err
    assert "--cells 'val' needs a train/val/test split" in err, err
    assert "pass --split-key (or --classify-key) or --cells 'all'" in err, err
    argv[0] = "predict"
    assert main([*argv, "--min-gene-overlap", "50"]) == 2
    assert "--min-gene-overlap 50.0 must be a fraction" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_warnings_of_the_package_are_one_line(capsys):
    """scautogenome's own warnings print as one line, as its errors; others are left to the
    warnings machinery as it was."""
    import warnings

    from scautogenome import cli

    package = Path(cli.__file__).resolve().parent
    others = []
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, *args, **kwargs: others.append(str(message))
        original = cli._one_line_warnings("classify")
        try:
            warnings.warn_explicit("ids look odd", UserWarning, str(package / "io" / "t.py"), 7)
            warnings.warn_explicit("not ours", UserWarning, "/elsewhere/x.py", 3)
        finally:
            warnings.showwarning = original
    err = capsys.readouterr().err
    assert err == "scautogenome classify: warning: ids look odd\n"
    assert others == ["not ours"]


def test_a_readers_warning_is_one_line_in_the_command_line(tmp_path, capsys):
    """read_autogenome's warnings point at the caller's line: the command line's own, so that
    they stay one line there (they fell back to Python's format, naming the entry script)."""
    import shutil

    example = Path(__file__).resolve().parents[1] / "data" / "examples" / "autogenome"
    folder = tmp_path / "ag"
    shutil.copytree(example, folder)
    config = json.loads((folder / "config.json").read_text())
    config["model_trainer"]["lr_range"] = config["model_trainer"]["learning_rate_range"]
    (folder / "config.json").write_text(json.dumps(config))
    argv = ["classify", "--autogenome", str(folder / "config.json"), "--labels", "nope"]
    assert main([*argv, "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "scautogenome classify: warning: AutoGenome config " in err
    assert "lr_range repeats" in err
    assert "UserWarning" not in err


def test_an_interrupted_command_says_so_without_a_traceback(h5ad, tmp_path, capsys, monkeypatch):
    import scautogenome as sag

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sag.tl, "classify", interrupted)
    url = f"sqlite:///{tmp_path / 's.db'}"
    argv = ["classify", str(h5ad), "--labels", "label", "--out", str(tmp_path / "o")]
    assert main([*argv, "--storage", url]) == 130
    err = capsys.readouterr().err
    assert "scautogenome classify: interrupted; the finished trials are kept in --storage" in err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_ctrl_c_after_the_search_keeps_its_results(
    h5ad, config_file, tmp_path, capsys, monkeypatch
):
    """Interrupted during the explanation, classify still writes the search's model,
    annotated.h5ad and metrics.json, and says so."""
    import scautogenome as sag

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sag.tl, "explain", interrupted)
    out = tmp_path / "run"
    assert main(_classify_argv(h5ad, config_file, out)) == 130
    err = capsys.readouterr().err
    assert f"after the search; {out} holds its model, annotated.h5ad, metrics.json (" in err
    assert (out / "model" / "model.json").exists()
    assert "sag_pred" in ad.read_h5ad(out / "annotated.h5ad").obs
    assert json.loads((out / "metrics.json").read_text())["macro_f1"] >= 0
    assert not (out / "report.html").exists()
    # interrupted while annotated.h5ad is written: only the model is named, and the files
    # of the run it replaces (--overwrite) are kept (the input may be one of them), named as
    # that run's
    from scautogenome import cli

    assert main(_classify_argv(h5ad, config_file, out, "--overwrite", "--no-explain")) == 0
    assert (out / "report.html").is_file()

    monkeypatch.setattr(cli, "_write_h5ad", interrupted)
    again = tmp_path / "run2"
    assert main(_classify_argv(h5ad, config_file, again)) == 130
    assert f"{again} holds its model (of this run" in capsys.readouterr().err
    before = {name: (out / name).read_bytes() for name in ("annotated.h5ad", "metrics.json")}
    assert main(_classify_argv(h5ad, config_file, out, "--overwrite")) == 130
    err = capsys.readouterr().err
    assert f"{out} holds its model (of this run" in err
    assert "its annotated.h5ad, metrics.json, report.html are still of the run it replaced" in err
    assert {name: (out / name).read_bytes() for name in before} == before


def test_an_explanation_that_fails_keeps_the_search_results(
    h5ad, config_file, tmp_path, capsys, monkeypatch
):
    """An error in the explanation after the search (not only Ctrl-C) still writes the
    search's annotated.h5ad and metrics.json, and the error line says what is kept."""
    import scautogenome as sag

    def failing(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(sag.tl, "explain", failing)
    out = tmp_path / "run"
    assert main(_classify_argv(h5ad, config_file, out)) == 2
    err = capsys.readouterr().err
    assert f"error: boom; {out} holds its model, annotated.h5ad, metrics.json (" in err
    assert "sag_pred" in ad.read_h5ad(out / "annotated.h5ad").obs
    assert (out / "metrics.json").is_file()


def test_sigterm_stops_a_command_as_ctrl_c_does(h5ad, tmp_path, capsys, monkeypatch):
    """A job scheduler's SIGTERM raises where Ctrl-C would (the running trial is failed and
    rerun on resume), ends with exit code 143, and the handler before is restored."""
    import os
    import signal

    import scautogenome as sag

    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
        return None

    monkeypatch.setattr(sag.tl, "classify", terminated)
    before = signal.getsignal(signal.SIGTERM)
    url = f"sqlite:///{tmp_path / 's.db'}"
    argv = ["classify", str(h5ad), "--labels", "label", "--out", str(tmp_path / "o")]
    assert main([*argv, "--storage", url]) == 143
    err = capsys.readouterr().err
    assert "scautogenome classify: terminated (SIGTERM); the finished trials are kept" in err
    assert "Traceback" not in err
    assert signal.getsignal(signal.SIGTERM) is before


def test_worker_refuses_an_embed_config(h5ad, tmp_path, capsys):
    path = tmp_path / "vae.json"
    path.write_text(json.dumps({"mode": "vae"}))
    url = f"sqlite:///{tmp_path / 's.db'}"
    argv = ["worker", str(h5ad), "--labels", "label", "--storage", url, "--study", "s"]
    assert main([*argv, "--config", str(path)]) == 2
    assert "config['mode']='vae' is a mode of sag.tl.embed" in capsys.readouterr().err


def test_embed_with_a_saved_model(adata, tmp_path, capsys):
    """embed --model: the saved Res-VAE's latent of a query, no search; the options of a
    search are refused with it, and --min-gene-overlap without it."""
    import scautogenome as sag

    cfg = {
        "budget": {"n_trials": 1, "time_budget": None},
        "trainer": {"max_epochs": 4, "patience": 2, "min_epochs": 2, "kl_warmup_epochs": 2},
        "space": {"n_layers": [3], "batch_size": [64], "first_width": [64]},
    }
    model = sag.tl.embed(adata, config=cfg, n_latent=4, model_dir=tmp_path / "m")
    query = sag.datasets.synthetic(n_obs=60, n_vars=200, n_classes=3, seed=1)[:, 10:].copy()
    query.write_h5ad(tmp_path / "q.h5ad")
    out = tmp_path / "q_out.h5ad"
    base = ["embed", str(tmp_path / "q.h5ad"), "--out", str(out), "--model", str(tmp_path / "m")]
    assert main([*base, "--labels", "label", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "latent: obsm['X_sag_resvae'] (4 dimensions" in printed
    assert "latent space vs obs['label']" in printed
    got = ad.read_h5ad(out)
    np.testing.assert_allclose(got.obsm["X_sag_resvae"], model.get_latent(query), atol=1e-6)
    assert got.uns["sag_resvae"]["gene_overlap"]["n_missing_filled"] == 10
    assert "scores" in got.uns["sag_resvae"]
    # a search's options, --recon of a query lacking genes: errors before any work
    assert main([*base, "--overwrite", "--n-trials", "3", "--n-latent", "4"]) == 2
    err = capsys.readouterr().err
    assert "--n-latent, --n-trials are options of a search" in err
    assert main([*base, "--overwrite", "--recon"]) == 2
    assert "recon" in capsys.readouterr().err
    assert main([*base, "--overwrite", "--value-type", "counts"]) == 2
    assert "--value-type is an option of a search" in capsys.readouterr().err
    assert main([*base, "--overwrite", "--min-gene-overlap", "0.99"]) == 2
    assert "below --min-gene-overlap 0.99" in capsys.readouterr().err
    fresh = ["embed", str(tmp_path / "q.h5ad"), "--out", str(tmp_path / "x.h5ad")]
    assert main([*fresh, "--min-gene-overlap", "0.4"]) == 2
    assert "give it with --model" in capsys.readouterr().err
    assert not (tmp_path / "x.h5ad").exists()
    # classify's --out directory is not an embed model, nor a folder without one
    (tmp_path / "run" / "model").mkdir(parents=True)
    (tmp_path / "run" / "model" / "model.json").write_text(json.dumps({"model": "Classifier"}))
    assert main([*base[:3], str(tmp_path / "y.h5ad"), "--model", str(tmp_path / "run")]) == 2
    assert "holds a 'Classifier' model; give a model of embed" in capsys.readouterr().err
    assert main([*base[:3], str(tmp_path / "y.h5ad"), "--model", str(tmp_path)]) == 2
    assert "not a saved scautogenome model directory" in capsys.readouterr().err
    # another key, and its report
    other = ["embed", str(out), "--out", str(tmp_path / "k.h5ad"), "--model", str(tmp_path / "m")]
    assert main([*other, "--key-added", "sag_query", "--quiet"]) == 0
    assert "obsm['X_sag_query']" in capsys.readouterr().out
    page = tmp_path / "k.html"
    report = ["report", str(tmp_path / "k.h5ad"), "--out", str(page), "--quiet"]
    assert main([*report, "--embed-key", "sag_query"]) == 0
    text = page.read_text()
    assert "obsm[&#x27;X_sag_query&#x27;]" in text or "obsm['X_sag_query']" in text
    assert "Embedded with a saved model by <code>sag.tl.encode</code>" in text
    assert "190 of the model&#x27;s 200 genes" in text or "190 of the model's 200 genes" in text
    assert "The kept model" not in text


def test_an_option_at_the_end_of_a_sentence_is_followed_by_no_space(h5ad, tmp_path, capsys):
    """The API's ``study_name=.`` at the end of a message becomes ``--study-name.``, while an
    option with a value keeps its space (``--n-trials 0``)."""
    import optuna

    url = f"sqlite:///{tmp_path / 's.db'}"
    optuna.create_study(storage=url, study_name="other")  # a storage without the study
    argv = ["classify", str(h5ad), "--labels", "label", "--out", str(tmp_path / "o")]
    argv += ["--storage", url, "--study-name", "nope", "--n-trials", "0", "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--n-trials 0 collects a stored search" in err
    assert err.rstrip().endswith("pass its --study-name."), err


def test_a_worker_of_another_mode_is_told_the_mode(h5ad, config_file, tmp_path, capsys):
    """A worker without --mode on a study of mode mlp: the refusal names the mode (which
    changes the search space too), not a changed --config."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    base = ["worker", str(h5ad), "--labels", "label", "--storage", url, "--study", "m"]
    base += ["--config", str(config_file), "--n-trials", "1", "--quiet"]
    assert main([*base, "--mode", "mlp"]) == 0
    capsys.readouterr()
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "The mode differs: the study searched mode 'mlp', this search mode 'auto'" in err
    assert "pass --mode 'mlp' to join it" in err
    assert "search space differs" not in err


def test_option_names_are_not_put_into_paths():
    """The API's argument names become option names in messages, but not inside a path."""
    from scautogenome.cli import _cli_words, build_parser

    embed = build_parser()._subparsers._group_actions[0].choices["embed"]
    msg = "input file '/tmp/model_out/study_name.db' or runs/key_added.h5ad; pass study_name=."
    assert _cli_words(msg, embed) == (
        "input file '/tmp/model_out/study_name.db' or runs/key_added.h5ad; pass --study-name."
    )


def test_a_log_file_gets_the_search_bar(h5ad, config_file, tmp_path, capsys):
    """A stderr that is not a terminal (a batch job's log) gets the bars, redrawn seldom:
    without them a search wrote nothing between its first and last lines."""
    import scautogenome as sag

    sag.settings.progress_bar, sag.settings.verbosity = True, 2
    argv = ["classify", str(h5ad), "--labels", "label", "--out", str(tmp_path / "o")]
    assert main([*argv, "--config", str(config_file)]) == 0
    err = capsys.readouterr().err
    # the bar itself, not the summary line "search: 3 trials (...)" of the end
    assert re.search(r"search:.*(trial/s|trials \[)", err), err[-2000:]
    assert main([*argv, "--config", str(config_file), "--overwrite", "--quiet"]) == 0
    assert "search:" not in capsys.readouterr().err


def test_a_command_leaves_the_settings_as_they_were(h5ad, config_file, tmp_path, monkeypatch):
    """--quiet and a closed stderr (None) turn the bars off for the command only."""
    import sys

    import scautogenome as sag

    sag.settings.progress_bar, sag.settings.verbosity = True, 2
    monkeypatch.setattr(sys, "stderr", None)
    assert main(["classify", str(h5ad), "--labels", "nope", "--out", str(tmp_path / "o")]) == 2
    monkeypatch.undo()
    assert (sag.settings.progress_bar, sag.settings.verbosity) == (True, 2)
    # --threads and --device too: main() called from a notebook had left them set, so that
    # the notebook's later trainings ran on the command's threads (other weights for a seed)
    import torch

    settings = (sag.settings.device, sag.settings.n_threads)
    threads = torch.get_num_threads()
    for extra in (["--labels", "nope"], []):  # a failure after the setup, and a whole run
        other = "auto" if settings[0] != "auto" else "cpu"
        given = ["--threads", str(threads + 1), "--device", other, *extra]
        argv = _classify_argv(h5ad, config_file, tmp_path / f"o{len(extra)}", *given)
        assert main(argv) == (2 if extra else 0)
        assert (sag.settings.device, sag.settings.n_threads) == settings
        assert torch.get_num_threads() == threads
    # without --threads, torch's count as the user set it stays (n_threads is not re-applied)
    torch.set_num_threads(threads + 1)
    try:
        assert main(_classify_argv(h5ad, config_file, tmp_path / "o3", "--labels", "nope")) == 2
        assert torch.get_num_threads() == threads + 1
    finally:
        torch.set_num_threads(threads)


def test_collecting_with_n_trials_0_in_the_config_makes_no_storage_file(
    h5ad, tiny_config, tmp_path, capsys
):
    """n_trials 0 given in --config (not --n-trials) with a storage file that does not exist:
    refused, and no empty database is left behind."""
    tiny_config["budget"]["n_trials"] = 0
    config = tmp_path / "collect.json"
    config.write_text(json.dumps(tiny_config))
    db = tmp_path / "new.db"
    argv = _classify_argv(h5ad, config, tmp_path / "o", "--storage", f"sqlite:///{db}")
    assert main(argv) == 2
    assert "new.db does not exist; --n-trials 0 collects" in capsys.readouterr().err
    assert not db.exists()


def test_an_explanation_and_a_write_that_both_fail(
    h5ad, config_file, tmp_path, capsys, monkeypatch
):
    """When the run cannot be written after a failed explanation, the explanation's error is
    the one reported (the write's is logged), with what the folder holds."""
    import scautogenome as sag
    from scautogenome import cli

    def failing(*args, **kwargs):
        raise RuntimeError("boom")

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sag.tl, "explain", failing)
    monkeypatch.setattr(cli, "_write_h5ad", no_space)
    out = tmp_path / "run"
    assert main(_classify_argv(h5ad, config_file, out)) == 2
    err = capsys.readouterr().err
    assert f"error: boom; {out} holds its model (" in err


def test_an_out_file_of_another_suffix_is_warned_about(tmp_path, monkeypatch):
    """predict --out x.csv writes an h5ad: a warning says so (before any work)."""
    from scautogenome import _settings
    from scautogenome.cli import _out_file

    said = []
    monkeypatch.setattr(_settings.logger, "warning", lambda *a: said.append(a[0] % a[1:]))
    _out_file(str(tmp_path / "x.csv"), overwrite=False)
    _out_file(str(tmp_path / "x.h5ad"), overwrite=False)
    assert said == [
        f"--out {str(tmp_path / 'x.csv')!r} does not end in .h5ad, though it is written as one"
    ]


def _resvae_project(tmp_path: Path) -> Path:
    """A small AutoGenome Res-VAE project (40 samples x 12 features): its config.json."""
    rng = np.random.default_rng(0)
    X = rng.gamma(2.0, 2.0, (40, 12))
    (tmp_path / "x.csv").write_text("\n".join(",".join(f"{v:.3f}" for v in r) for r in X) + "\n")
    config = {
        "data_loader": {"train_data_path": "x.csv", "delimiter": ","},
        "model_trainer": {"epochs": 2, "batch_size": 8, "learning_rate": 0.002},
        "loss": "mse",
        "search_mode": "Res-VAE",
        "search_space": {
            "num_layers": [2],
            "first_layer_neurons": [8],
            "decay_ratio": [0.5],
            "keep_prob": [0.8],
            "latent_dim": 3,
        },
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def test_embed_autogenome_res_vae_config_is_honoured(tmp_path, capsys):
    """embed --autogenome trains with the Res-VAE config its reader made (space, trainer,
    latent size, loss mse as likelihood); the options given still win; classify refuses it."""
    config_json = str(_resvae_project(tmp_path))
    out = tmp_path / "e.h5ad"
    embed = ["embed", "--autogenome", config_json, "--n-trials", "1", "--time-budget", "20"]
    assert main([*embed, "--out", str(out), "--quiet"]) == 0, capsys.readouterr().err
    uns = ad.read_h5ad(out).uns["sag_resvae"]
    arch, params = json.loads(uns["architecture"]), json.loads(uns["train_params"])
    assert arch["n_latent"] == 3
    assert arch["likelihood"] == "mse"
    assert arch["widths"][0] == 8
    assert arch["input_keep"] == 0.8
    assert (params["batch_size"], params["max_epochs"], params["lr"]) == (8, 2, 0.002)
    again = [*embed, "--out", str(tmp_path / "e2.h5ad"), "--n-latent", "2", "--quiet"]
    assert main([*again, "--likelihood", "gaussian"]) == 0
    arch = json.loads(ad.read_h5ad(tmp_path / "e2.h5ad").uns["sag_resvae"]["architecture"])
    assert (arch["n_latent"], arch["likelihood"]) == (2, "gaussian")
    capsys.readouterr()
    classify = ["classify", "--autogenome", config_json, "--out", str(tmp_path / "c")]
    assert main([*classify, "--quiet"]) == 2
    assert "has the search mode Res-VAE, which is unsupervised" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_embed_autogenome_latent_size_too_large_names_the_json(tmp_path, capsys):
    """A latent size from the JSON at least the number of features is named as the JSON's,
    before any work, not as an --n-latent the user never gave."""
    path = _resvae_project(tmp_path)
    config = json.loads(path.read_text())
    config["search_space"]["latent_dim"] = 12  # the project's 12 features
    path.write_text(json.dumps(config))
    out = tmp_path / "e.h5ad"
    assert main(["embed", "--autogenome", str(path), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "its latent size 12 must be smaller than the number of features (12)" in err
    assert "--n-latent 12" not in err
    assert not out.exists()


def test_regression_table_names_samples_of_bulk_data():
    """The regression table's count column says samples for bulk data, as the rest of the
    output does (obs_noun)."""
    from scautogenome.cli import metrics_table

    adata = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
    part = {"r2": 0.5, "rmse": 2.0, "mae": 1.5, "pearson": 0.5, "spearman": 0.25, "n": 10}
    adata.uns["sag"] = {
        "task": "regression",
        "params": {"labels_key": "years_to_birth"},
        "classes": np.array(["years_to_birth"]),
        "metrics": {"test": part},
        "best": {"trial": 0, "mode": "mlp", "val_score": 0.25},
        "trials": [0],
    }
    adata.uns["sag_io"] = {"reader": "read_tcga"}
    table = metrics_table(adata).splitlines()
    assert table[0].split()[-1] == "samples"
    assert table[1].split()[-1] == "10"


def test_a_gzipped_h5ad_input_is_named_as_such(adata, h5ad, tmp_path, capsys):
    import gzip

    import scautogenome as sag

    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0).save(tmp_path / "m")  # --model is checked first
    packed = tmp_path / "query.h5ad.gz"
    packed.write_bytes(gzip.compress(h5ad.read_bytes()))
    argv = ["predict", str(packed), "--model", str(tmp_path / "m"), "--out", str(tmp_path / "o")]
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "is gzip-compressed" in err
    assert "gunzip it first" in err


def test_a_mudata_input_is_named_as_such(adata, tmp_path, capsys):
    """An .h5mu file: anndata's "No read method registered for IOSpec(encoding_type='MuData'
    ...). You may need to update your installation of anndata." sent the user to update
    anndata; the error says the file is a MuData and how to write one modality as h5ad."""
    md = pytest.importorskip("mudata")

    try:  # mudata 0.3's FutureWarning otherwise
        quiet = md.set_options(pull_on_update=False)
    except (AttributeError, ValueError):  # mudata < 0.3 or >= 0.4: no such option
        quiet = contextlib.nullcontext()
    with quiet:
        md.MuData({"rna": adata}).write(tmp_path / "cells.h5mu")
    argv = ["classify", str(tmp_path / "cells.h5mu"), "--labels", "label"]
    assert main([*argv, "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "is a MuData file" in err
    assert "mudata.read_h5mu(" in err
    assert "update your installation" not in err
    assert not (tmp_path / "o").exists()


def test_threads_help_says_it_changes_the_weights(capsys):
    with pytest.raises(SystemExit):
        main(["classify", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "changes the weights a seed learns" in text


def test_table_sep_option_reads_a_semicolon_table(tmp_path, capsys, monkeypatch):
    """A European Excel 'CSV' (';'): the reader's 'pass sep=' is an option of the command."""
    import scautogenome as sag

    table = tmp_path / "semi.csv"
    table.write_text("gene;S0;S1;S2;S3\nTP53;1.0;2.0;3.0;4.0\nEGFR;5.0;6.0;7.0;8.0\n")
    labels = tmp_path / "labels.csv"
    labels.write_text("sample,type\nS0,A\nS1,B\nS2,A\nS3,B\n")
    argv = ["classify", "--table", str(table), "--labels-table", str(labels)]
    argv += ["--label-column", "type", "--out", str(tmp_path / "run"), "--quiet"]
    assert main(argv) == 2
    assert "looks semicolon-separated; pass --sep ';'." in capsys.readouterr().err
    seen = []

    def stop(adata, *args, **kwargs):
        seen.append(adata)
        raise RuntimeError("stopped here")

    monkeypatch.setattr(sag.tl, "classify", stop)
    for sep in (";", "semicolon"):
        assert main([*argv, "--sep", sep]) == 2
        assert "stopped here" in capsys.readouterr().err
    assert [a.shape for a in seen] == [(4, 2), (4, 2)]
    assert seen[0].obs["type"].astype(str).tolist() == ["A", "B", "A", "B"]
    with pytest.raises(SystemExit):
        main([*argv, "--sep", ";;"])
    assert "argument --sep: ';;' is not one character" in capsys.readouterr().err


def test_a_file_that_is_not_utf8_is_named(tmp_path, capsys, monkeypatch):
    """--autogenome with a Latin-1 file: the reader's message, not 'error: utf-8'."""
    import shutil

    import scautogenome as sag

    folder = tmp_path / "ag"
    shutil.copytree(ROOT / "data" / "examples" / "autogenome", folder)
    names = folder / "feature_names.txt"
    text = names.read_text()
    names.write_bytes(text.replace(text.split()[0], "G\u00e8ne", 1).encode("latin-1"))
    argv = ["classify", "--autogenome", str(folder / "config.json"), "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "feature_names.txt': not UTF-8 text (invalid continuation byte" in err, err
    # a decoding error that no reader turned into its message still says what failed

    def raw(*args, **kwargs):
        return b"\xff".decode("utf-8")

    monkeypatch.setattr(sag.io, "read_autogenome", raw)
    assert main([*argv, "--out", str(tmp_path / "run2")]) == 2
    assert "error: 'utf-8' codec can't decode byte 0xff" in capsys.readouterr().err


def test_embed_scores_line_says_what_each_score_was_computed_on():
    from scautogenome.cli import _scores_line

    scores = {
        "ari": 0.5, "nmi": 0.6, "silhouette": 0.2, "davies_bouldin": 1.5,
        "davies_bouldin_tsne": float("nan"), "n_cells": 50_000, "n_cells_sampled": 10_000,
        "n_labels": 7, "n_clusters": 7.0,
    }  # fmt: skip
    line = _scores_line(scores, "cell_type", "sag_resvae")
    assert line.startswith(
        "latent space vs obs['cell_type'] (50,000 cells, 7 labels; silhouette and t-SNE on a "
        "sample of 10,000; Leiden 7 clusters): ARI 0.500, NMI 0.600, silhouette 0.200, "
        "Davies-Bouldin 1.500 (higher"
    )
    blank = {**scores, **dict.fromkeys(("ari", "nmi", "silhouette", "davies_bouldin"), np.nan)}
    assert _scores_line(blank, "cell_type", "k").endswith("no score could be computed")


def test_collecting_a_study_that_is_not_there_fails_before_the_input_is_read(
    h5ad, tmp_path, capsys, monkeypatch
):
    """--n-trials 0 with a --study-name (or the default study) the storage lacks: named
    before the input is read (on a large file, at once rather than after its loading)."""
    import optuna

    from scautogenome import cli

    def no_read(*args, **kwargs):
        raise AssertionError("the input was read")

    monkeypatch.setattr(cli, "_read_h5ad", no_read)
    url = f"sqlite:///{tmp_path / 's.db'}"
    optuna.create_study(storage=url, study_name="k")
    out = str(tmp_path / "o")
    base = ["classify", str(h5ad), "--labels", "label", "--out", out, "--storage", url]
    for extra, name in ((["--study-name", "kk"], "kk"), ([], "sag-classify")):
        assert main([*base, "--n-trials", "0", *extra, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f"holds no study '{name}' (studies there: ['k'])" in err, err
    # ENAS stores no study: classify's own error says so (not that the study is missing)
    assert main([*base, "--n-trials", "0", "--mode", "rrfcn", "--quiet"]) == 2
    assert "mode 'rrfcn' searches by ENAS" in capsys.readouterr().err
    embed = ["embed", str(h5ad), "--out", out + ".h5ad", "--storage", url, "--n-trials", "0"]
    assert main([*embed, "--mode", "vae", "--quiet"]) == 2
    assert "holds no study 'sag-embed-vae'" in capsys.readouterr().err


def test_a_mistyped_model_is_named_before_the_input_is_read(h5ad, tmp_path, capsys, monkeypatch):
    """predict and explain check --model before reading the input (a TCGA-sized table takes
    a while to read)."""
    from scautogenome import cli

    def no_read(*args, **kwargs):
        raise AssertionError("the input was read")

    monkeypatch.setattr(cli, "_load", no_read)
    (tmp_path / "empty").mkdir()
    for command in ("predict", "explain"):
        argv = [command, str(h5ad), "--model", str(tmp_path / "nonexist")]
        assert main([*argv, "--out", str(tmp_path / f"{command}.h5ad"), "--quiet"]) == 2
        assert f"--model '{tmp_path / 'nonexist'}' does not exist" in capsys.readouterr().err
        argv = [command, str(h5ad), "--model", str(tmp_path / "empty")]
        assert main([*argv, "--out", str(tmp_path / f"{command}.h5ad"), "--quiet"]) == 2
        assert "is not a saved scautogenome model directory" in capsys.readouterr().err


def _firehose_files(tmp_path: Path, expression: str) -> tuple[Path, Path]:
    """A Firehose RSEM expression file named ``expression`` and a clin.merged.picked table
    (patients as columns, no project row) of its four patients."""
    patients = ["TCGA-A2-B000", "TCGA-E2-B001", "TCGA-BH-B002", "TCGA-A2-B003"]
    samples = [f"{p}-01A-11R-A00{i}-07" for i, p in enumerate(patients)]
    rows = ["Hybridization REF\t" + "\t".join(samples)]
    rows.append("gene_id\t" + "\t".join(["normalized_count"] * len(samples)))
    for i, gene in enumerate(["TP53|7157", "KRAS|3845", "ESR1|2099"]):
        rows.append(gene + "\t" + "\t".join(f"{i + j + 1}.5" for j in range(len(samples))))
    expr = tmp_path / expression
    expr.write_text("\n".join(rows) + "\n")
    clin = tmp_path / "BRCA.clin.merged.picked.txt"
    clin.write_text(
        "Hybridization REF\t" + "\t".join(p.lower() for p in patients) + "\n"
        "Composite Element REF\t" + "\t".join(["value"] * 4) + "\n"
        "years_to_birth\t61\t47\t55\t70\nvital_status\t0\t1\t0\t0\n"
    )
    return expr, clin


def test_tcga_messages_name_the_options_of_the_command_line(tmp_path, config_file, capsys):
    """read_tcga's advice in terms of its keyword arguments (clinical_columns=, project_column=,
    cohort=, a dict {cohort: path}) is told to a shell user as what the command line has:
    --label-column, --labels-table, the file's name."""
    expr, clin = _firehose_files(tmp_path, "expr.tsv")
    argv = ["classify", "--tcga", "--table", str(expr), "--config", str(config_file), "--quiet"]
    # a clinical table without a project column, no --label-column
    assert main([*argv, "--labels-table", str(clin), "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "no project column (tried ['project_id'," in err, err
    assert "and no --label-column; pass --label-column a clinical column" in err, err
    assert "(e.g. --label-column years_to_birth)" in err, err
    for api in ("clinical_columns", "project_column", "cohort=", "{cohort: path}"):
        assert api not in err, err
    # no clinical table, a file name without a TCGA code: the project code is not known
    assert main([*argv, "--labels", "nope", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    warning = next(line for line in err.splitlines() if "no project code" in line)
    assert "give --labels-table a clinical table with a project column" in warning, warning
    assert "name --table's file after its cohort" in warning, warning
    assert "BRCA.expr.tsv" in warning, warning
    for api in ("cohort=", "{cohort: path}"):
        assert api not in warning, warning
    # a cohort guessed from a file name that is not Firehose's
    expr, _ = _firehose_files(tmp_path, "brca_expr.tsv")
    argv[argv.index("--table") + 1] = str(expr)
    assert main([*argv, "--labels", "nope", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    warning = next(line for line in err.splitlines() if "guessed from the file name" in line)
    assert "if that is wrong, give --labels-table a clinical table" in warning, warning
    assert "cohort=" not in warning, warning
    # the Python API keeps its own words
    import scautogenome as sag

    with pytest.raises(ValueError, match="pass clinical_columns= the variables"):
        sag.io.read_tcga(tmp_path / "expr.tsv", clinical=clin)


def test_every_path_argument_expands_a_tilde(monkeypatch, tmp_path):
    """A quoted ``~`` (which the shell leaves to the program) is the home folder in every path
    argument of every command, as the package expands it; --storage is left as given (the
    search expands a file there itself, and it may be a URL)."""
    from scautogenome.cli import build_parser

    monkeypatch.setenv("HOME", str(tmp_path))
    home = str(tmp_path)
    parser = build_parser()
    inputs = ["--table", "~/t.tsv", "--labels-table", "~/l.tsv", "--autogenome", "~/ag.json"]
    inputs += ["--maf", "~/a.maf", "--maf", "~/b.maf"]
    commands = {
        "classify": ["--out", "~/run", "--config", "~/cfg.json", "--storage", "~/s.db"],
        "predict": ["--model", "~/run/model", "--out", "~/p.h5ad"],
        "explain": ["--model", "~/run/model", "--out", "~/e.h5ad"],
        "embed": ["--out", "~/e.h5ad", "--model", "~/vae", "--model-out", "~/vae2"],
        "worker": ["--storage", "~/s.db", "--study", "s", "--config", "~/cfg.json"],
    }
    for command, options in commands.items():
        args = parser.parse_args([command, "~/in.h5ad", *inputs, *options])
        assert args.input == f"{home}/in.h5ad", command
        assert (args.table, args.labels_table) == (f"{home}/t.tsv", f"{home}/l.tsv"), command
        assert args.autogenome == f"{home}/ag.json", command
        assert args.maf == [f"{home}/a.maf", f"{home}/b.maf"], command
        for dest in ("out", "model", "model_out", "config"):
            if getattr(args, dest, None) is not None:
                assert getattr(args, dest).startswith(f"{home}/"), (command, dest)
        if getattr(args, "storage", None) is not None:
            assert args.storage == "~/s.db", command
    args = parser.parse_args(["report", "~/run", "--out", "~/r.html"])
    assert (args.input, args.out) == (f"{home}/run", f"{home}/r.html")
    assert parser.parse_args(["demo", "--out", "~/demo"]).out == f"{home}/demo"


def test_a_tilde_out_is_the_home_folder_for_every_file(
    h5ad, quick_config, tmp_path, capsys, monkeypatch
):
    """classify --out "~/out dir" writes all its files into the home folder (none into a
    folder named ~ in the current one), and report --out "~/x.html" checks the file it would
    replace there: an existing one is kept without --overwrite."""
    monkeypatch.setenv("HOME", str(tmp_path))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    argv = ["classify", str(h5ad), "--labels", "label", "--out", "~/out dir"]
    argv += ["--config", f"~/{quick_config.name}", "--n-trials", "1", "--no-explain", "--quiet"]
    assert main(argv) == 0, capsys.readouterr().err
    out = tmp_path / "out dir"
    assert sorted(p.name for p in out.iterdir()) == [
        "annotated.h5ad",
        "metrics.json",
        "model",
        "report.html",
    ]
    assert list(cwd.iterdir()) == []
    capsys.readouterr()
    keep = tmp_path / "keep.html"
    keep.write_text("precious")
    report = ["report", "~/out dir/annotated.h5ad", "--out", "~/keep.html", "--quiet"]
    assert main(report) == 2
    assert f"--out {str(keep)!r} already exists; pass --overwrite" in capsys.readouterr().err
    assert keep.read_text() == "precious"
    assert main([*report, "--overwrite"]) == 0
    assert keep.read_text().startswith("<!DOCTYPE html>")
    assert list(cwd.iterdir()) == []


def _disk_full(path, *args, **kwargs):
    """A write that fills the disk part-way: some bytes into ``path``, then ENOSPC (an
    OSError whose message names no file)."""
    import errno
    import os

    Path(path).write_bytes(b"partial")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _report_on_a_full_disk(monkeypatch) -> None:
    """sag.io.write_report's atomic write of the report, failing with ENOSPC after the page
    is written to the temporary file."""
    from scautogenome._utils import write_atomically
    from scautogenome.io import _report

    def full(path, write):
        return write_atomically(path, lambda tmp: (write(tmp), _disk_full(tmp)))

    monkeypatch.setattr(_report, "write_atomically", full)


def test_a_full_disk_while_saving_the_model_names_it(
    h5ad, quick_config, tmp_path, capsys, monkeypatch
):
    """classify's model saved on a full disk: the error names the model's folder, and says
    the model saved there before (--overwrite) is kept; its report likewise."""
    from scautogenome.models import _base

    out = tmp_path / "run"
    argv = _quick_classify(h5ad, quick_config, out)
    with monkeypatch.context() as m:
        m.setattr(_base, "_save_tensors", lambda tensors, path: _disk_full(path))
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"error: cannot write {str(out / 'model')!r}: No space left on device\n" in err, err
    assert not (out / "model").exists()  # a failed save leaves no model folder
    assert main(argv) == 0  # so the same command runs once there is space
    before = (out / "model" / "model.json").read_bytes()
    with monkeypatch.context() as m:
        m.setattr(_base, "_save_tensors", lambda tensors, path: _disk_full(path))
        assert main([*argv, "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert (
        f"error: cannot write {str(out / 'model')!r}: No space left on device; the model there "
        "before is kept\n"
    ) in err, err
    assert (out / "model" / "model.json").read_bytes() == before
    # the report, written last: the run's other files are written
    _report_on_a_full_disk(monkeypatch)
    argv[argv.index("--no-report")] = "--report"
    assert main([*argv, "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert (
        f"error: cannot write {str(out / 'report.html')!r}: No space left on device; {out} "
        "holds its model, annotated.h5ad, metrics.json (of this run;"
    ) in err, err


def test_a_full_disk_while_writing_a_report_names_it(adata, tmp_path, capsys, monkeypatch):
    """report on a full disk: the error names the .html file, and says the report there
    before is kept where there was one (the write is atomic)."""
    adata.obsm["X_sag_resvae"] = np.random.default_rng(0).normal(size=(adata.n_obs, 2))
    h5ad = tmp_path / "e.h5ad"
    adata.write_h5ad(h5ad)
    html = tmp_path / "e.report.html"

    _report_on_a_full_disk(monkeypatch)
    assert main(["report", str(h5ad), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert (
        err == f"scautogenome report: error: cannot write {str(html)!r}: No space left on device\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.h5ad"]
    html.write_text("old")
    assert main(["report", str(h5ad), "--overwrite", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"scautogenome report: error: cannot write {str(html)!r}: No space left on device; the "
        "report there before is kept\n"
    )
    assert html.read_text() == "old"


def test_a_full_disk_while_saving_embeds_model_names_it(h5ad, tmp_path, capsys, monkeypatch):
    """embed --model-out on a full disk: the error names the model's folder (removed again,
    as embed made it)."""
    from scautogenome.models import _base

    model_out, out = tmp_path / "vae", tmp_path / "e.h5ad"
    argv = ["embed", str(h5ad), "--out", str(out), "--model-out", str(model_out)]
    argv += ["--n-trials", "1", "--time-budget", "5", "--n-latent", "3", "--quiet"]
    monkeypatch.setattr(_base, "_save_tensors", lambda tensors, path: _disk_full(path))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"error: cannot write {str(model_out)!r}: No space left on device\n" in err, err
    assert not model_out.exists()
    assert not out.exists()


def test_device_help_names_every_device_it_takes(capsys):
    """--device's help names what sag.settings.device takes: cuda:N and mps too."""
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "auto (default: cuda where available, else cpu), cpu, cuda, cuda:N (N a GPU index) or mps"
        in text
    )


def test_a_write_refused_for_an_existing_model_keeps_its_own_message(tmp_path):
    """A model saved there meanwhile (another process): the FileExistsError's own message,
    which names the folder and what to do, not "cannot write ...: ... the model there before
    is kept" around it."""
    from scautogenome.cli import _writing

    refused = FileExistsError("'m' already holds a saved model; pass overwrite=True")
    with pytest.raises(FileExistsError) as err, _writing(tmp_path / "m", "model"):
        raise refused
    assert err.value is refused


def test_layer_help_speaks_of_model_only_where_the_command_takes_one():
    """classify's and worker's --layer help said "with --model, ...", an option they lack."""
    from scautogenome.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    for name, sub in commands.items():
        options = {o for a in sub._actions for o in a.option_strings}
        if "--layer" not in options:
            continue
        (layer,) = [a for a in sub._actions if "--layer" in a.option_strings]
        assert ("--model" in layer.help) == ("--model" in options), (name, layer.help)


def test_a_reader_of_stdout_that_leaves_early_is_no_error(h5ad, config_file, tmp_path):
    """``scautogenome predict ... | head``: the reader leaves before the table is printed.
    The predictions are written; the command exits quietly with 141, as a Unix tool killed by
    SIGPIPE does, not with an error (2) or a bug's exit (1)."""
    import subprocess
    import sys

    out = tmp_path / "run"
    assert main(_classify_argv(h5ad, config_file, out)) == 0
    pred = tmp_path / "pred.h5ad"
    argv = ["predict", str(h5ad), "--model", str(out / "model"), "--out", str(pred), "--quiet"]
    p = subprocess.Popen(
        [sys.executable, "-m", "scautogenome", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    p.stdout.close()  # the reader is gone before anything is printed
    err = p.stderr.read()
    assert p.wait() == 141, err
    assert "error" not in err.lower()
    assert "Traceback" not in err
    assert pred.is_file()


def test_the_best_line_of_an_enas_run_counts_its_networks_not_its_rows():
    """ENAS's trials table holds the controller's samples and the ranked candidates beside
    the retrained networks: the printed line counts each kind, not all rows as trials."""
    import pandas as pd

    from scautogenome.cli import _best_line

    stages = ["controller"] * 876 + ["derive"] * 17 + ["retrain"] * 2
    enas = pd.DataFrame(
        {
            "state": ["sampled"] * 876 + ["ranked"] * 17 + ["complete"] * 2,
            "params": [json.dumps({"stage": s, "rank": 0}, sort_keys=True) for s in stages],
        }
    )
    uns = {"best": {"trial": 894, "mode": "rrfcn", "val_score": 0.79}, "trials": enas}
    assert _best_line(uns) == (
        "best trial 894 (rrfcn), validation score 0.790; 17 candidates ranked by ENAS "
        "(of 876 controller samples), 2 retrained"
    )
    # mode auto: the search's trials beside ENAS's rows
    trials = pd.DataFrame(
        {"state": ["complete", "pruned", "complete"], "params": ['{"lr": 0.01}'] * 3}
    )
    uns["trials"] = pd.concat([trials, enas], ignore_index=True)
    assert _best_line(uns).endswith(
        "; 3 trials and 17 candidates ranked by ENAS (of 876 controller samples), 2 retrained"
    )
    uns["trials"] = trials
    uns["best"]["mode"] = "mlp"
    assert _best_line(uns).endswith("; 3 trials")


def test_classifys_output_folder_is_read_as_its_annotated_h5ad(h5ad, config_file, tmp_path, capsys):
    """``explain DIR --model DIR``, as ``report DIR`` and ``--model DIR`` read classify's
    output folder: its annotated.h5ad. A folder without one: one line, not h5py's three."""
    out = tmp_path / "run"
    assert main(_classify_argv(h5ad, config_file, out, "--no-explain", "--no-report")) == 0
    capsys.readouterr()
    explained = tmp_path / "explained.h5ad"
    argv = ["explain", str(out), "--model", str(out), "--out", str(explained)]
    assert main([*argv, "--nsamples", "5", "--n-background", "5", "--n-explain", "6"]) == 0
    assert "sag_shap" in ad.read_h5ad(explained).varm
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = ["predict", str(empty), "--model", str(out), "--out", str(tmp_path / "p.h5ad")]
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert f"input {str(empty)!r} is a folder without annotated.h5ad" in err


def test_a_missing_model_is_named_with_where_it_was_looked_for(h5ad, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["predict", str(h5ad), "--model", "runs/m", "--out", str(tmp_path / "p.h5ad")]
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"--model 'runs/m' does not exist (looked in {tmp_path / 'runs' / 'm'})" in err


def test_verbose_adds_each_trials_result_and_excludes_quiet(h5ad, config_file, tmp_path, capsys):
    """--verbose: the debug lines (each trial's result), as sag.settings.verbosity = 3; with
    --quiet it is a usage error."""
    argv = _classify_argv(h5ad, config_file, tmp_path / "run", "--no-explain", "--no-report")
    argv.remove("--quiet")
    assert main([*argv, "--verbose"]) == 0
    assert re.search(r"trial 0 COMPLETE value=", capsys.readouterr().err)
    with pytest.raises(SystemExit) as err:
        main([*argv, "--verbose", "--quiet", "--overwrite"])
    assert err.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_a_broken_pipe_that_is_not_stdouts_is_an_error(
    h5ad, config_file, tmp_path, capsys, monkeypatch
):
    """A BrokenPipeError of another stream (a storage's socket) is an error named in one line
    (exit 2), not the quiet 141 of a reader of stdout that left."""
    import scautogenome as sag

    def broken(*args, **kwargs):
        raise BrokenPipeError(32, "Broken pipe (the storage's socket)")

    monkeypatch.setattr(sag.tl, "classify", broken)
    assert main(_classify_argv(h5ad, config_file, tmp_path / "run")) == 2
    err = capsys.readouterr().err
    assert "error: [Errno 32] Broken pipe (the storage's socket)" in err


def test_printed_tables_of_many_classes_stop_at_forty_rows():
    """A reference of 117 classes printed 117 rows of metrics, then 118 of top genes: the
    tables stop at forty and say how many more there are and where they all are."""
    import anndata as ad
    import pandas as pd

    from scautogenome.cli import metrics_table, top_genes_table

    n = 117
    classes = [f"type_{i}" for i in range(n)]
    per_class = {k: np.full(n, 0.5) for k in ("precision", "recall", "f1")}
    per_class["support"] = np.full(n, 3)
    test = {"accuracy": 0.5, "macro_f1": 0.5, "balanced_accuracy": 0.5, "n": 3 * n}
    a = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
    a.uns["sag"] = {
        "classes": np.asarray(classes),
        "metrics": {"test": {**test, "per_class": per_class}},
        "best": {"trial": 0, "mode": "mlp", "val_score": 0.5},
        "trials": pd.DataFrame({"state": ["complete"]}),
    }
    table = metrics_table(a).splitlines()
    assert sum(line.startswith("type_") for line in table) == 40
    assert "... 77 more classes (the report and the annotated h5ad hold them all)" in table
    a.uns["sag_shap"] = {
        "columns": np.asarray([*classes, "overall"]),
        "top_genes": np.full((n + 1, 3), "g"),
    }
    genes = top_genes_table(a).splitlines()
    assert len(genes) == 41
    assert genes[-1] == "... 78 more (the report and sag.get.shap_df hold them all)"


def test_predict_and_explain_match_genes_by_a_var_column(adata, config_file, tmp_path, capsys):
    """A query of Ensembl ids with the model's symbols in a var column: the error says which
    option matches them (--gene-symbols), and with it predict and explain run; embed's takes
    it with --model only."""
    h5ad = tmp_path / "in.h5ad"
    adata.write_h5ad(h5ad)
    out = tmp_path / "run"
    assert main(_classify_argv(h5ad, config_file, out)) == 0
    query = adata.copy()
    query.var["symbol"] = query.var_names.astype(str)
    query.var_names = [f"ENSG{i:011d}" for i in range(query.n_vars)]
    path = tmp_path / "q.h5ad"
    query.write_h5ad(path)
    capsys.readouterr()
    argv = ["predict", str(path), "--model", str(out / "model"), "--out", str(tmp_path / "p.h5ad")]
    assert main([*argv, "--quiet"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "adata.var['symbol'] holds 200 of them: match the genes by it (--gene-symbols 'symbol')"
        in err
    )
    assert main([*argv, "--gene-symbols", "symbol", "--quiet"]) == 0
    pred = ad.read_h5ad(tmp_path / "p.h5ad")
    assert pred.uns["sag"]["gene_overlap"]["n_common"] == 200
    assert list(pred.var_names) == list(query.var_names)
    explain = ["explain", str(path), "--model", str(out / "model"), "--cells", "all"]
    explain += ["--out", str(tmp_path / "e.h5ad"), "--gene-symbols", "symbol", "--quiet"]
    capsys.readouterr()
    assert main(explain) == 0
    assert np.isfinite(ad.read_h5ad(tmp_path / "e.h5ad").varm["sag_shap"]).any()
    # the top genes printed by the names they were matched by
    table = capsys.readouterr().out
    assert "gene_" in table
    assert "ENSG" not in table
    embed = ["embed", str(path), "--out", str(tmp_path / "v.h5ad"), "--gene-symbols", "symbol"]
    assert main(embed) == 2
    assert "--gene-symbols matches the genes of a saved model; give it with --model" in (
        capsys.readouterr().err
    )


def test_log_lines_name_the_commands_options(adata, tmp_path, capsys):
    """A warning's advice in the API's words (layer='counts') is shown as the command's
    option (--layer 'counts'), as its errors are; the formatter is put back afterwards."""
    import scanpy as sc

    import scautogenome as sag

    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0).save(tmp_path / "model")
    logged = adata.copy()
    sc.pp.normalize_total(logged)
    sc.pp.log1p(logged)
    logged.write_h5ad(tmp_path / "l.h5ad")
    formatter = sag.settings._handler.formatter
    capsys.readouterr()
    argv = ["predict", str(tmp_path / "l.h5ad"), "--model", str(tmp_path / "model")]
    assert main([*argv, "--out", str(tmp_path / "p.h5ad")]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "(e.g. --layer 'counts' for raw counts, the same normalization and log)" in err
    assert "layer='counts'" not in err
    assert sag.settings._handler.formatter is formatter
    # the prediction's record keeps the API's words (read in Python, shown in the report)
    recorded = " ".join(map(str, ad.read_h5ad(tmp_path / "p.h5ad").uns["sag"]["warnings"]))
    assert "e.g. layer='counts' for raw counts" in recorded


def _parsed(*argv: str):
    from scautogenome.cli import build_parser

    return build_parser().parse_args(list(argv))


def test_collecting_an_rrfcn_study_of_optunas_strategy_is_checked_as_a_stored_one(tmp_path):
    """classify --mode rrfcn --n-trials 0 collects nothing (ENAS stores no study): refused
    before the input is read; with a --config (which may pick the Optuna strategy, checked by
    classify itself) the storage is taken as it is."""
    import optuna

    from scautogenome.cli import _check_inputs

    url = f"sqlite:///{tmp_path / 's.db'}"
    optuna.create_study(storage=url, study_name="sag-classify")
    (tmp_path / "in.h5ad").write_text("")
    (tmp_path / "cfg.json").write_text("{}")
    argv = ["classify", str(tmp_path / "in.h5ad"), "--mode", "rrfcn", "--n-trials", "0"]
    argv += ["--storage", url, "--out", str(tmp_path / "o")]
    with pytest.raises(ValueError, match="mode 'rrfcn' searches by ENAS"):
        _check_inputs(_parsed(*argv))
    _check_inputs(_parsed(*argv, "--config", str(tmp_path / "cfg.json")))


def test_tcga_labels_named_like_a_barcode_column_are_the_barcodes_when_given_as_labels(
    sag_caplog,
):
    """--tcga --label-column COL reads the clinical table's COL (kept as COL_clinical where the
    barcodes give a COL too); --labels COL as well names the barcodes' column, with a warning
    that says how to train on the clinical one."""
    import anndata as ad

    from scautogenome.cli import _clinical_labels

    adata = ad.AnnData(np.zeros((2, 1), dtype=np.float32))
    adata.obs["sample_type"] = ["a", "b"]
    adata.obs["sample_type_clinical"] = ["c", "d"]
    base = ["classify", "--tcga", "--table", "t.tsv", "--label-column", "sample_type"]
    args = _parsed(*base, "--out", "o")
    assert _clinical_labels(args, adata, "sample_type") == "sample_type_clinical"
    args = _parsed(*base, "--labels", "sample_type", "--out", "o")
    assert _clinical_labels(args, adata, "sample_type") == "sample_type"
    assert "--labels sample_type_clinical to train on it" in sag_caplog.text


def test_tcga_label_column_project_is_the_default_project_code(monkeypatch, recwarn):
    """--tcga --label-column project names the labels it reads by default (the project code),
    not a clinical column to copy; predict and explain, which use no labels, are not warned
    that the table has no project code."""
    import warnings

    from scautogenome.cli import _load

    monkeypatch.chdir(ROOT)
    table, clinical = "data/examples/tcga_expression.tsv.gz", "data/examples/tcga_clinical.tsv"
    argv = ["classify", "--tcga", "--table", table, "--labels-table", clinical]
    default, _ = _load(_parsed(*argv, "--out", "o"))
    named, _ = _load(_parsed(*argv, "--label-column", "project", "--out", "o"))
    assert list(named.obs.columns) == list(default.obs.columns)
    assert (named.obs["project"] == default.obs["project"]).all()
    for command in ("predict", "explain"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _load(_parsed(command, "--tcga", "--table", table, "--model", "m", "--out", "p.h5ad"))
        assert not [w for w in caught if "project code" in str(w.message)], command


def test_a_failed_write_says_a_model_is_kept_only_where_one_was_saved(tmp_path):
    """A full disk while saving a model into a folder that holds one: the earlier model is
    said to be kept; into a folder without one (empty, or of other files): nothing is said
    to be kept."""
    import errno

    from scautogenome.cli import CLIError, _writing

    def full(path, kept):
        with pytest.raises(CLIError) as e, _writing(path, kept):
            raise OSError(errno.ENOSPC, "No space left on device")
        return str(e.value)

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "notes.txt").write_text("x")
    assert full(folder, "model").endswith("No space left on device")
    (folder / "model.json").write_text("{}")
    assert full(folder, "model").endswith("; the model there before is kept")


def test_an_out_folder_holding_a_dangling_link_of_an_output_is_refused(tmp_path):
    """A link named like an output whose target is gone is still in the way of the write:
    refused without --overwrite, as an existing file is."""
    from scautogenome.cli import CLIError, _out_dir

    out = tmp_path / "run"
    out.mkdir()
    (out / "annotated.h5ad").symlink_to(tmp_path / "gone.h5ad")
    with pytest.raises(CLIError, match=r"already holds annotated\.h5ad; pass --overwrite"):
        _out_dir(str(out), ["model", "annotated.h5ad"], overwrite=False)


def test_quiet_turns_the_progress_bars_off(tmp_path):
    """--quiet: warnings and errors only, and no progress bars."""
    import scautogenome as sag
    from scautogenome.cli import _setup

    sag.settings.progress_bar, sag.settings.verbosity = True, 2
    _setup(_parsed("classify", str(tmp_path / "in.h5ad"), "--out", "o", "--quiet"))
    assert sag.settings.progress_bar is False
    assert sag.settings.verbosity == 1


def test_a_split_key_given_with_autogenome_input_is_the_split():
    """--autogenome holds out AutoGenome's own test file (obs['autogenome_split']) unless
    --split-key names another column; without --autogenome, --split-key as given."""
    from scautogenome.cli import _split_key

    ag = ["classify", "--autogenome", "ag.json", "--out", "o"]
    assert _split_key(_parsed(*ag)) == "autogenome_split"
    assert _split_key(_parsed(*ag, "--split-key", "fold")) == "fold"
    assert _split_key(_parsed("classify", "in.h5ad", "--out", "o")) is None


def test_group_key_none_in_any_case_means_no_groups():
    from scautogenome.cli import _group_key

    for none in ("none", "None", "NONE"):
        assert _group_key(_parsed("classify", "in.h5ad", "--out", "o", "--group-key", none)) is None
    assert (
        _group_key(_parsed("classify", "in.h5ad", "--out", "o", "--group-key", "donor")) == "donor"
    )


def test_embed_with_a_model_takes_batch_key_for_labels_or_recon(tmp_path, capsys):
    """embed --model --batch-key names the query's batches for --recon or for --labels (how
    well they mix); alone it is refused, with either it passes that check."""
    argv = ["embed", str(tmp_path / "q.h5ad"), "--model", str(tmp_path / "m")]
    argv += ["--batch-key", "b", "--out", str(tmp_path / "o.h5ad"), "--quiet"]
    refused = "--batch-key with --model names the query's batches"
    assert main(argv) == 2
    assert refused in capsys.readouterr().err
    for extra in (["--labels", "cell_type"], ["--recon"]):
        assert main([*argv, *extra]) == 2  # the query is not there
        err = capsys.readouterr().err
        assert refused not in err, (extra, err)
        assert "does not exist" in err, (extra, err)


def test_demo_searches_with_the_budget_it_is_given(tmp_path, monkeypatch, capsys):
    """demo --time-budget / --n-trials replace the demo's own budget, each alone."""
    import scautogenome as sag
    from scautogenome.cli import DEMO_BUDGET

    asked = []

    def classify(adata, labels, **kwargs):
        asked.append(kwargs)
        raise ValueError("stopped by the test")

    monkeypatch.setattr(sag.tl, "classify", classify)
    out = str(tmp_path / "demo")
    for extra, budget in (
        (["--time-budget", "7"], {**DEMO_BUDGET, "time_budget": 7.0}),
        (["--n-trials", "2"], {**DEMO_BUDGET, "n_trials": 2}),
    ):
        assert main(["demo", "--out", out, "--quiet", *extra]) == 2
        assert "stopped by the test" in capsys.readouterr().err
        assert {k: asked[-1][k] for k in budget} == budget
