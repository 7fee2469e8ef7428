"""What a user has on disk is never lost, and a failed write leaves nothing misleading.

Writes that fail part-way (a full disk: ENOSPC, simulated by monkeypatching the writer so that
it writes some bytes and then raises) must leave the file or model folder saved there before
whole, no truncated file and no temporary file; a result that took a search to compute must
not be thrown away by a failed save at its end; and output paths that cannot be written are
refused before any work, with an error naming them. Tests run as root on CI, where chmod does
not stop writes: unwritable folders are simulated with monkeypatch.
"""

from __future__ import annotations

import copy
import errno
import os
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import torch
from conftest import TINY_CONFIG

import scautogenome as sag
from scautogenome.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ONE_TRIAL = {
    **TINY_CONFIG,
    "budget": {"n_trials": 1, "time_budget": None},
    "trainer": {"max_epochs": 4, "patience": 3, "min_epochs": 2},
}
ONE_VAE_TRIAL = {
    "budget": {"n_trials": 1, "time_budget": None},
    "trainer": {"max_epochs": 4, "patience": 3, "min_epochs": 2, "kl_warmup_epochs": 2},
    "space": {"n_layers": [3], "batch_size": [64], "first_width": [64]},
}


def _disk_full(path, *args, **kwargs):
    """A write that fills the disk part-way: some bytes into ``path``, then ENOSPC (an
    OSError whose message names no file)."""
    Path(path).write_bytes(b"partial")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _listing(folder: Path) -> list[str]:
    """Every file and folder under ``folder``, relative, sorted (temporary files included)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture(scope="module")
def run():
    """A small classify run (annotated AnnData, model), shared by the module's tests."""
    adata = sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0)
    model = sag.tl.classify(adata, "label", config=copy.deepcopy(TINY_CONFIG))
    return adata, model


@pytest.fixture
def h5ad(tmp_path):
    path = tmp_path / "in.h5ad"
    sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0).write_h5ad(path)
    return path


# -- a search's result is not lost by a failed save at its end -----------------------------------
def test_a_full_disk_at_the_end_of_classify_keeps_the_trained_model(
    tmp_path, monkeypatch, sag_caplog
):
    """sag.tl.classify(..., model_dir=...) whose save fails on a full disk once the search is
    done: the search's result (hours of it, on real data) was lost with a bare "[Errno 28] No
    space left on device" that named no folder; now the model is returned, adata annotated
    without uns['sag']['model_dir'], the error logged with the folder, and nothing left there."""
    from scautogenome.models import _base

    adata = sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0)
    folder = tmp_path / "runs" / "m"
    with monkeypatch.context() as m:
        m.setattr(_base, "_save_tensors", lambda tensors, path: _disk_full(path))
        model = sag.tl.classify(adata, "label", config=copy.deepcopy(ONE_TRIAL), model_dir=folder)
    assert "sag_pred" in adata.obs
    assert "model_dir" not in adata.uns["sag"]
    errors = [r.getMessage() for r in sag_caplog.records if r.levelname == "ERROR"]
    assert any(str(folder) in e and "No space left on device" in e for e in errors), errors
    assert _listing(tmp_path) == []  # no model folder, no temporary file
    model.save(folder)  # once there is space
    loaded = sag.models.Classifier.load(folder)
    np.testing.assert_allclose(loaded.predict_proba(adata), model.predict_proba(adata), atol=1e-6)


def test_a_model_dir_filled_during_the_embed_search_keeps_the_model(tmp_path, sag_caplog):
    """sag.tl.embed(..., model_dir=...) whose folder another process saved a model into while
    the search ran: the save refused it (FileExistsError, rightly: that model is kept) and the
    embedding was lost with it; now the other model stays, and the embedding is returned."""
    adata = sag.datasets.synthetic(n_obs=200, n_vars=100, n_classes=3, seed=0)
    folder = tmp_path / "vae"
    other = {"model.json": b'{"model": "ResVAE"}', "model.pt": b"another process's weights"}

    def search_then_fill(*args, **kwargs):
        result = real_search(*args, **kwargs)
        folder.mkdir()
        for name, data in other.items():
            (folder / name).write_bytes(data)
        return result

    from scautogenome.tools import _embed

    real_search = _embed.run_vae_search
    with pytest.MonkeyPatch.context() as m:
        m.setattr(_embed, "run_vae_search", search_then_fill)
        model = sag.tl.embed(
            adata, config=copy.deepcopy(ONE_VAE_TRIAL), n_latent=3, model_dir=folder
        )
    assert isinstance(model, sag.models.ResVAE)
    assert "X_sag_resvae" in adata.obsm
    assert "model_dir" not in adata.uns["sag_resvae"]
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == other
    errors = [r.getMessage() for r in sag_caplog.records if r.levelname == "ERROR"]
    assert any(repr(str(folder)) in e and "already holds" in e for e in errors), errors


# -- model folders ---------------------------------------------------------------------------------
def test_a_save_failing_between_its_renames_keeps_the_old_model_and_the_users_files(
    run, tmp_path, monkeypatch
):
    """Model.save(overwrite=True) into a folder of an earlier model and files of the user's,
    failing on the second rename (the new model.pt in place, model.json not yet): the old model
    is put back whole and loads, the user's files are untouched, no temporary or backup file is
    left."""
    _, model = run
    folder = tmp_path / "m"
    model.save(folder)
    (folder / "notes.txt").write_text("the user's")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    real_replace, calls = os.replace, []

    def second_fails(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(src, dst)

    changed = copy.deepcopy(model)
    with torch.no_grad():
        next(changed.module_.parameters()).add_(1.0)
    with monkeypatch.context() as m:
        m.setattr(os, "replace", second_fails)
        with pytest.raises(OSError, match="No space left"):
            changed.save(folder, overwrite=True)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    loaded = sag.models.Classifier.load(folder)
    assert loaded.weights_digest() == model.weights_digest()


def test_weights_of_another_save_beside_a_models_json_are_refused(run, tmp_path):
    """A folder that half-holds two saves (one model's model.json, another's model.pt: files
    copied by hand, or a save of an older version interrupted) is refused on load, not read
    with the wrong weights."""
    _, model = run
    model.save(tmp_path / "a")
    changed = copy.deepcopy(model)
    with torch.no_grad():
        next(changed.module_.parameters()).add_(1.0)
    changed.save(tmp_path / "b")
    (tmp_path / "a" / "model.pt").write_bytes((tmp_path / "b" / "model.pt").read_bytes())
    with pytest.raises(ValueError, match=r"model\.pt is not the file model\.json was saved with"):
        sag.models.Classifier.load(tmp_path / "a")


def test_a_failed_save_into_the_users_folder_removes_nothing_of_theirs(run, tmp_path, monkeypatch):
    """Model.save into a folder of the user's (their files, no model): a failed save leaves
    exactly their files, and the folder itself."""
    from scautogenome.models import _base

    _, model = run
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "data.csv").write_text("a,b\n1,2\n")
    (folder / "sub").mkdir()
    monkeypatch.setattr(_base, "_save_tensors", lambda tensors, path: _disk_full(path))
    with pytest.raises(OSError, match="No space left"):
        model.save(folder)
    assert _listing(tmp_path) == ["project", "project/data.csv", "project/sub"]


# -- the command line writing over its own input --------------------------------------------------
@pytest.mark.parametrize("command", ["predict", "explain"])
def test_writing_over_the_input_is_refused_before_any_work(command, run, h5ad, tmp_path, capsys):
    """predict/explain with --out the input file and no --overwrite: refused before the model
    is even read (a model path that does not exist is not reached), the input untouched."""
    before = h5ad.read_bytes()
    argv = [command, str(h5ad), "--model", str(tmp_path / "nowhere"), "--out", str(h5ad)]
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "already exists; pass --overwrite" in err, err
    assert h5ad.read_bytes() == before


def test_a_full_disk_writing_over_the_input_leaves_it_whole(
    run, h5ad, tmp_path, capsys, monkeypatch
):
    """explain --out the input --overwrite, the write failing part-way: the error names the
    file, the input is as it was and still reads, and no temporary file is left beside it."""
    _, model = run
    model.save(tmp_path / "m")
    before = h5ad.read_bytes()
    monkeypatch.setattr(ad.AnnData, "write_h5ad", lambda self, path, **kw: _disk_full(path))
    argv = ["explain", str(h5ad), "--model", str(tmp_path / "m"), "--out", str(h5ad)]
    assert main([*argv, "--overwrite", "--n-explain", "10", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {str(h5ad)!r}: No space left on device" in err, err
    assert h5ad.read_bytes() == before
    monkeypatch.undo()
    assert ad.read_h5ad(h5ad).n_obs == 300
    assert _listing(tmp_path) == sorted(["in.h5ad", "m", "m/model.json", "m/model.pt"])


# -- output paths checked before the search -------------------------------------------------------
def _no_search(monkeypatch) -> None:
    """sag.tl.classify / embed made to fail the test if they run: the check is to come first."""

    def search(*args, **kwargs):
        raise AssertionError("the search ran before the output path was checked")

    monkeypatch.setattr(sag.tl, "classify", search)
    monkeypatch.setattr(sag.tl, "embed", search)


def test_classify_refuses_an_unwritable_out_before_the_search(h5ad, tmp_path, capsys, monkeypatch):
    """classify --out in a folder that cannot be written (simulated: the suite may run as root,
    whom chmod does not stop), under a file, or a file itself: refused before the search, with
    the path named, and nothing made."""
    import tempfile

    _no_search(monkeypatch)
    (tmp_path / "a_file").write_text("the user's")
    base = ["classify", str(h5ad), "--labels", "label", "--quiet", "--out"]
    assert main([*base, str(tmp_path / "a_file" / "run")]) == 2
    assert "is a file" in capsys.readouterr().err
    assert main([*base, str(tmp_path / "a_file")]) == 2
    assert "is a file; give a folder" in capsys.readouterr().err
    locked = tmp_path / "locked"
    locked.mkdir()
    real_mkdtemp = tempfile.mkdtemp

    def read_only(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == locked:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        return real_mkdtemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    assert main([*base, str(locked / "run")]) == 2
    err = capsys.readouterr().err
    assert f"cannot be created in {str(locked)!r}: Permission denied" in err, err
    assert _listing(tmp_path) == ["a_file", "in.h5ad", "locked"]
    assert (tmp_path / "a_file").read_text() == "the user's"


def test_embed_refuses_an_unwritable_model_out_before_the_search(
    h5ad, tmp_path, capsys, monkeypatch
):
    """embed --model-out under a file: refused before the search, and --out not written."""
    _no_search(monkeypatch)
    (tmp_path / "a_file").write_text("the user's")
    argv = ["embed", str(h5ad), "--out", str(tmp_path / "e.h5ad")]
    assert main([*argv, "--model-out", str(tmp_path / "a_file" / "vae"), "--quiet"]) == 2
    assert "cannot be created" in capsys.readouterr().err
    assert _listing(tmp_path) == ["a_file", "in.h5ad"]


# -- the report and figures ---------------------------------------------------------------------
def test_a_report_under_a_file_is_refused_before_it_is_drawn(run, tmp_path, monkeypatch):
    """sag.io.write_report to a path under a file: refused before any figure is drawn, with
    the path named; the file is untouched."""
    from scautogenome.io import _report

    adata, _ = run
    (tmp_path / "a_file").write_text("the user's")

    def drawn(*args, **kwargs):
        raise AssertionError("a section was drawn before the path was checked")

    monkeypatch.setattr(_report, "_classify_section", drawn)
    with pytest.raises(NotADirectoryError, match=r"cannot be created: .* is a file"):
        sag.io.write_report(adata, tmp_path / "a_file" / "r.html")
    assert _listing(tmp_path) == ["a_file"]


def test_a_failed_report_keeps_the_earlier_one(run, tmp_path, monkeypatch):
    """sag.io.write_report over an earlier report, failing on a full disk part-way: the
    earlier report is kept whole and no temporary file is left."""
    from scautogenome._utils import write_atomically
    from scautogenome.io import _report

    adata, _ = run
    html = tmp_path / "r.html"
    html.write_text("<html>the earlier report</html>")
    full = lambda path, write: write_atomically(path, lambda tmp: (write(tmp), _disk_full(tmp)))  # noqa: E731
    monkeypatch.setattr(_report, "write_atomically", full)
    with pytest.raises(OSError, match="No space left"):
        sag.io.write_report(adata, html)
    assert html.read_text() == "<html>the earlier report</html>"
    assert _listing(tmp_path) == ["r.html"]


def test_a_report_is_not_written_over_the_data(run, tmp_path):
    """sag.io.write_report(adata, "pbmc.h5ad"), the data's own file given as the path (the
    arguments of write_h5ad, say): the data were replaced by the HTML page; now an HDF5 file
    is refused before anything is drawn, with the path named, and the data still read."""
    adata, _ = run
    data = tmp_path / "pbmc.h5ad"
    adata.write_h5ad(data)
    before = data.read_bytes()
    with pytest.raises(FileExistsError, match=r"pbmc\.h5ad' is an HDF5 file.*pbmc\.report\.html"):
        sag.io.write_report(adata, data)
    assert data.read_bytes() == before
    assert _listing(tmp_path) == ["pbmc.h5ad"]


def test_the_report_command_is_not_written_over_data(h5ad, tmp_path, capsys, monkeypatch):
    """scautogenome report in.h5ad --out other.h5ad --overwrite (an .h5ad given for the .html):
    the data in other.h5ad were replaced by the page; now refused before the input is read,
    naming --out, and other.h5ad is kept."""
    from scautogenome import cli

    other = tmp_path / "other.h5ad"
    other.write_bytes(h5ad.read_bytes())
    before = other.read_bytes()

    def read(path):
        raise AssertionError("the input was read before --out was checked")

    monkeypatch.setattr(cli, "_read_h5ad", read)
    monkeypatch.setattr(sag.io, "write_report", lambda adata, path, **kw: _disk_full(path))
    assert main(["report", str(h5ad), "--out", str(other), "--overwrite", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"error: --out {str(other)!r} is an HDF5 file" in err, err
    assert other.read_bytes() == before


def test_a_report_replaces_a_file_that_is_not_data(run, tmp_path):
    """A file that is no HDF5 data (an earlier report, a draft) is still replaced by
    write_report, as before."""
    adata, _ = run
    (tmp_path / "draft.html").write_text("draft")
    sag.io.write_report(adata, tmp_path / "draft.html")
    assert (tmp_path / "draft.html").read_text().startswith("<!DOCTYPE html>")
    assert _listing(tmp_path) == ["draft.html"]


def _imsave_on_a_full_disk(monkeypatch) -> None:
    """matplotlib's PNG writer (PIL, through ``matplotlib.image.imsave``) filling the disk
    part-way into the file it writes: some bytes, then ENOSPC. Its in-memory passes (the
    tight bounding box's) still work."""
    import io

    import matplotlib.image as mimage

    real = mimage.imsave

    def imsave(fname, *args, **kwargs):
        if isinstance(fname, io.BytesIO):
            return real(fname, *args, **kwargs)
        if hasattr(fname, "write"):
            fname.write(b"\x89PNG partial")
            fname.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return _disk_full(fname)

    monkeypatch.setattr(mimage, "imsave", imsave)


def test_a_figure_saved_again_on_a_full_disk_keeps_the_earlier_one(run, tmp_path, monkeypatch):
    """sag.pl.confusion_matrix(save='figures/cm.png') over a figure saved before, on a full
    disk: the earlier figure was truncated to the bytes written before the disk filled up; now
    it is kept whole (the figure is written to a temporary file renamed into place) and no
    temporary file is left."""
    adata, _ = run
    png = tmp_path / "figures" / "cm.png"
    sag.pl.confusion_matrix(adata, save=png, show=False)
    before = png.read_bytes()
    assert before.startswith(b"\x89PNG")
    _imsave_on_a_full_disk(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        sag.pl.confusion_matrix(adata, save=png, show=False)
    assert png.read_bytes() == before
    assert _listing(tmp_path) == ["figures", "figures/cm.png"]


def test_a_figure_saved_under_a_file_names_what_is_wrong(run, tmp_path):
    """save='results/cm.png' where results is a file of the user's: the error was "[Errno 17]
    File exists: 'results'", as if cm.png existed; now it says results is a file, and the file
    is untouched."""
    adata, _ = run
    (tmp_path / "results").write_text("the user's")
    with pytest.raises(
        NotADirectoryError, match=r"save=.*cm\.png.* cannot be created: .* is a file"
    ):
        sag.pl.confusion_matrix(adata, save=tmp_path / "results" / "cm.png", show=False)
    assert (tmp_path / "results").read_text() == "the user's"
    assert _listing(tmp_path) == ["results"]
