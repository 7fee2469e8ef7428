from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch

import scautogenome as sag


@pytest.fixture
def trained(adata, tiny_config):
    model = sag.tl.classify(adata, "label", config=tiny_config)
    return adata, model


def test_save_load_round_trip(trained, tmp_path):
    adata, model = trained
    model.save(tmp_path / "m")
    loaded = sag.models.Classifier.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_proba(adata), model.predict_proba(adata), atol=1e-6)
    np.testing.assert_array_equal(loaded.classes_, model.classes_)
    np.testing.assert_array_equal(loaded.var_names_, model.var_names_)
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert {"architecture", "transform", "classes", "var_names", "versions", "config"} <= set(meta)
    assert meta["versions"]["torch"]
    # the weights file is plain tensors: loadable with weights_only=True
    tensors = torch.load(tmp_path / "m" / "model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in tensors.values())


def test_save_refuses_to_overwrite(trained, tmp_path):
    _, model = trained
    model.save(tmp_path / "m")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        model.save(tmp_path / "m")
    model.save(tmp_path / "m", overwrite=True)
    with pytest.raises(TypeError, match="warn='no' must be True or False"):
        model.gene_overlap(model.var_names_, warn="no")


def test_load_leaves_torch_random_state_as_it_was(trained, tmp_path):
    """Loading builds the network (weights drawn from torch's generator) before putting the
    saved ones in: the user's next torch.randn had drawn other numbers after a load."""
    _, model = trained
    model.save(tmp_path / "m")
    torch.manual_seed(42)
    expected = torch.randn(3)
    torch.manual_seed(42)
    sag.models.Classifier.load(tmp_path / "m")
    assert torch.equal(torch.randn(3), expected)


def test_save_refuses_a_folder_holding_weights_it_did_not_write(trained, tmp_path):
    """A run folder holding the user's own checkpoint named model.pt (no model.json): saving
    there without overwrite=True had replaced it without a word."""
    _, model = trained
    (tmp_path / "run").mkdir()
    torch.save({"w": torch.zeros(2)}, tmp_path / "run" / "model.pt")
    before = (tmp_path / "run" / "model.pt").read_bytes()
    with pytest.raises(FileExistsError, match=r"already holds model\.pt.*overwrite=True"):
        model.save(tmp_path / "run")
    assert (tmp_path / "run" / "model.pt").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["model.pt"]
    model.save(tmp_path / "run", overwrite=True)  # asked for: replaced
    assert sag.models.Classifier.load(tmp_path / "run").classes_.tolist() == model.classes_.tolist()


def test_a_save_that_fails_leaves_the_saved_model_whole(trained, tmp_path, monkeypatch):
    """Saving over a model (overwrite=True) onto a full disk: both new files are written before
    either old one is replaced, so the old model still loads, and no temporary file is left."""
    from scautogenome.models import _base

    _, model = trained
    model.save(tmp_path / "m")
    before = {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()}

    def disk_full(path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_base, "_file_sha256", disk_full)  # once model.pt is written
    with torch.no_grad():  # other weights than those saved
        next(model.module_.parameters()).add_(1.0)
    with pytest.raises(OSError, match="No space left"):
        model.save(tmp_path / "m", overwrite=True)
    assert {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()} == before
    monkeypatch.undo()
    type(model).load(tmp_path / "m")


@pytest.mark.parametrize("error", [KeyboardInterrupt, OSError])
@pytest.mark.parametrize("saved_before", [True, False])
def test_a_save_interrupted_between_its_renames_puts_the_old_files_back(
    trained, tmp_path, monkeypatch, error, saved_before
):
    """Ctrl-C or an OSError between the renames of model.pt and model.json: the model saved
    there before is put back whole (it loads, with its own weights), a folder that held no
    model is left without one, and no temporary or backup file remains."""
    import os

    _, model = trained
    folder = tmp_path / "m"
    folder.mkdir()
    if saved_before:
        model.save(folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    digest = model.weights_digest()
    with torch.no_grad():  # other weights than those saved
        next(model.module_.parameters()).add_(1.0)
    real_replace, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # once model.pt is in place, before model.json is
            raise error("interrupted")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(error, match="interrupted"):
        model.save(folder, overwrite=True)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    if saved_before:
        assert type(model).load(folder).weights_digest() == digest


def test_a_second_interruption_while_files_are_put_back_keeps_their_backups(tmp_path, monkeypatch):
    """Ctrl-C between the renames, and again while the old files are put back: the backups
    of those not back yet were removed with the rest, the only copies of the old files."""
    import os

    from scautogenome._utils import replaced_together

    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("old a")
    b.write_text("old b")
    real_replace, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) in (2, 3):  # b's rename, then a's way back
            raise KeyboardInterrupt
        real_replace(src, dst)

    def write_both():
        with replaced_together(a, b) as (new_a, new_b):
            new_a.write_text("new a")
            new_b.write_text("new b")

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        write_both()
    monkeypatch.undo()
    assert (a.read_text(), b.read_text()) == ("new a", "old b")
    backups = list(tmp_path.glob(".sag-*.bak"))
    assert sorted(f.read_text() for f in backups) == ["old a", "old b"]
    assert not list(tmp_path.glob(".sag-*.tmp"))


def test_a_failed_save_into_a_new_folder_leaves_no_folder(trained, tmp_path, monkeypatch):
    """A save that fails (a full disk) into folders it created removes them again: an empty
    model folder was left, and the command line's next run into the same --out was refused
    ("already holds model")."""
    import errno
    import os

    _, model = trained
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "other").write_text("the user's")

    def full(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OSError, match="No space left"):
        model.save(tmp_path / "runs" / "a" / "m")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["other", "runs"]
    # a folder of the user's, named through one the save makes ("x/../empty"), stays
    (tmp_path / "runs" / "empty").mkdir()
    with pytest.raises(OSError, match="No space left"):
        model.save(tmp_path / "runs" / "x" / ".." / "empty")
    assert (tmp_path / "runs" / "empty").is_dir()
    monkeypatch.undo()
    (tmp_path / "runs" / "empty").rmdir()
    (tmp_path / "runs" / "x").rmdir()  # made by the path's "x/..", and left
    model.save(tmp_path / "runs" / "a" / "m")  # the same call once there is space
    assert (tmp_path / "runs" / "a" / "m" / "model.json").exists()


def test_weights_of_another_save_are_refused(adata, tmp_path):
    """A save interrupted between its two files (one model's weights beside another's
    classes) is refused on load: model.json records the SHA-256 of model.pt."""
    import shutil

    models = []
    for seed in (0, 1):
        m = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
        m.fit(adata, "label", seed=seed)
        m.save(tmp_path / str(seed))
        models.append(m)
    sag.models.Classifier.load(tmp_path / "0")
    shutil.copy(tmp_path / "1" / "model.pt", tmp_path / "0" / "model.pt")
    with pytest.raises(ValueError, match=r"model\.pt is not the file model\.json was saved with"):
        sag.models.Classifier.load(tmp_path / "0")
    assert not list((tmp_path / "1").glob(".sag-*"))  # no temporary file left


def test_load_errors(tmp_path, adata):
    with pytest.raises(FileNotFoundError, match="not a saved scautogenome model"):
        sag.models.Classifier.load(tmp_path)
    # a folder holding the model (the command line's --out) is pointed to it
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0).save(tmp_path / "run" / "model")
    with pytest.raises(FileNotFoundError, match=r"Its model is in '.*run/model'"):
        sag.models.Classifier.load(tmp_path / "run")


def test_a_missing_model_folder_is_named_as_missing_with_where_it_was_looked_for(
    tmp_path, monkeypatch
):
    """A relative path from another working folder (a later session's): the error says the
    folder does not exist and where it looked, not that it is no saved model."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        sag.models.Classifier.load("runs/x")
    assert f"'runs/x' does not exist (looked in {tmp_path / 'runs' / 'x'})" in str(err.value)
    (tmp_path / "runs" / "x").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"'runs/x' is not a saved scautogenome model"):
        sag.models.Classifier.load("runs/x")


def test_a_model_of_a_later_version_is_warned_of_and_its_unknown_settings_refused(
    tmp_path, adata, sag_caplog
):
    """A model.json of a later scautogenome: a warning on load; a transform setting this
    version does not know (or counts normalized to another sum) is refused, saying to
    update, not applied wrongly."""
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0).save(tmp_path / "m")
    meta_path = tmp_path / "m" / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["versions"]["scautogenome"] = "99.0"
    meta_path.write_text(json.dumps(meta))
    proba = sag.models.Classifier.load(tmp_path / "m").predict_proba(adata)
    np.testing.assert_allclose(proba, model.predict_proba(adata), atol=1e-6)
    assert "saved by scautogenome 99.0, newer than this one" in sag_caplog.text
    for change in ({"clip": 10.0}, {"target_sum": 1e6}):
        meta_path.write_text(json.dumps({**meta, "transform": {**meta["transform"], **change}}))
        with pytest.raises(ValueError, match=r"newer than this one.*update scautogenome to read"):
            sag.models.Classifier.load(tmp_path / "m")
    # an entry of another layout, by a later version: the same advice
    meta_path.write_text(json.dumps({**meta, "train_params": ["a later layout"]}))
    with pytest.raises(ValueError, match=r"of another type \(saved by scautogenome 99\.0, newer"):
        sag.models.Classifier.load(tmp_path / "m")
    meta["versions"]["scautogenome"] = sag.__version__  # the same version: damaged
    meta_path.write_text(json.dumps({**meta, "transform": {**meta["transform"], "clip": 1.0}}))
    with pytest.raises(ValueError, match=r"does not know: \['clip'\]; damaged, or edited by hand"):
        sag.models.Classifier.load(tmp_path / "m")


def test_an_architecture_edited_by_hand_is_named_on_load(tmp_path, adata):
    """model.json's architecture changed after saving, by the same version: the error names
    the file and says it was damaged, edited or saved by another build of this version, not
    an architecture error of no file, and not 'retrain with this version' (it is this one)."""
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0).save(tmp_path / "m")
    meta_path = tmp_path / "m" / "model.json"
    meta = json.loads(meta_path.read_text())
    for change, shown in (
        ({"kind": "rrfcn"}, r"Unknown key"),
        ({"kind": "perceptron"}, r"perceptron"),
        ({"units": [4]}, r"mismatched weight"),
    ):
        meta_path.write_text(
            json.dumps({**meta, "architecture": {**meta["architecture"], **change}})
        )
        with pytest.raises(
            ValueError, match=r"/m'.*\(damaged or edited by hand, or saved by"
        ) as err:
            sag.models.Classifier.load(tmp_path / "m")
        assert re.search(shown, str(err.value)), err.value
        assert "Retrain" not in str(err.value), err.value
    # saved by an earlier version: the weights not fitting are the version's doing
    meta["versions"]["scautogenome"] = "0.0.1"
    meta_path.write_text(
        json.dumps({**meta, "architecture": {**meta["architecture"], "units": [4]}})
    )
    with pytest.raises(ValueError, match=r"saved by scautogenome 0\.0\.1.*Retrain the model"):
        sag.models.Classifier.load(tmp_path / "m")


def test_save_and_load_check_their_arguments(tmp_path, adata):
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0)
    with pytest.raises(TypeError, match=r"overwrite='yes' must be True or False"):
        model.save(tmp_path / "m", overwrite="yes")
    assert not (tmp_path / "m").exists()
    # a file in the way: said so, not a bare [Errno 17]
    (tmp_path / "a_file.py").write_text("x = 1\n")
    with pytest.raises(NotADirectoryError, match=r"a_file\.py' is a file, not a folder"):
        model.save(tmp_path / "a_file.py", overwrite=True)
    assert (tmp_path / "a_file.py").read_text() == "x = 1\n"
    with pytest.raises(TypeError, match=r"Classifier\.load takes the path of a model's folder"):
        sag.models.Classifier.load(3)
    with pytest.raises(TypeError, match=r"Classifier\.save takes the path of a model's folder"):
        model.save(None)


def test_untrained_model_raises(adata):
    with pytest.raises(RuntimeError, match=r"not been trained yet; call sag\.tl\.classify"):
        sag.models.Classifier().predict(adata)


def test_predict_on_arrays_and_anndata(trained):
    adata, model = trained
    from_adata = model.predict(adata)
    from_array = model.predict(adata.X)
    np.testing.assert_array_equal(from_adata, from_array)
    assert set(from_adata) <= set(model.classes_)
    with pytest.raises(ValueError, match="columns"):
        model.predict(adata.X[:, :10])
    # a DataFrame's named columns are genes, matched by name; unnamed ones are positions
    df = adata.to_df()
    reordered = df.iloc[:, ::-1]
    np.testing.assert_array_equal(model.predict_proba(reordered), model.predict_proba(adata))
    np.testing.assert_array_equal(model.predict(df.to_numpy()), from_adata)
    unnamed = df.set_axis(range(df.shape[1]), axis=1)
    np.testing.assert_array_equal(model.predict(unnamed), from_adata)
    with pytest.raises(ValueError, match="layer='counts' needs an AnnData"):
        model.predict(df, layer="counts")
    for bad, error in ((0, ValueError), (-1, ValueError), (8.0, TypeError)):
        with pytest.raises(error, match="batch_size"):
            model.predict_proba(adata, batch_size=bad)


def test_fit_fixed_architecture(adata):
    model = sag.models.Classifier(
        {"kind": "resnet", "units": 32, "n_blocks": 2},
        {"max_epochs": 8, "lr": 3e-3},
    ).fit(adata, "label")
    assert model.architecture_["n_inputs"] == adata.n_vars
    assert (model.predict(adata) == adata.obs["label"].astype(str).to_numpy()).mean() > 0.8


def test_fit_records_the_split_of_every_cell(adata):
    """fit's held-out test cells can be scored: model.split_ names the part of every cell,
    the one classify writes into obs for the same seed; a Regressor's and a ResVAE's too."""
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 2})
    model.fit(adata, "label", seed=3)
    assert list(model.split_.index) == list(adata.obs_names)
    assert list(model.split_.cat.categories) == ["train", "val", "test"]
    from scautogenome.data import prepare_labelled

    expected = prepare_labelled(adata, "label", seed=3).split
    np.testing.assert_array_equal(model.split_.astype(str).to_numpy(), expected)
    test = adata[model.split_ == "test"]
    assert 0 < test.n_obs < adata.n_obs
    adata.obs["age"] = np.linspace(20, 80, adata.n_obs)
    reg = sag.models.Regressor({"kind": "mlp", "units": [8]}, {"max_epochs": 2})
    reg.fit(adata, "age", seed=0)
    assert set(reg.split_) == {"train", "val", "test"}
    vae = sag.models.ResVAE({"kind": "vae", "n_latent": 2, "widths": [8]}, {"max_epochs": 1})
    vae.fit(adata, seed=0)
    assert list(vae.split_.cat.categories) == ["train", "val"]
    assert (vae.split_ == "val").sum() == round(0.1 * adata.n_obs)


def test_the_models_fit_a_view_and_write_nothing_into_it(adata):
    """A model's fit writes nothing, so a view (``adata[mask]``) is taken as it is, as
    scvi-tools' models take one; sag.tl, which writes, refuses it. The view stays a view."""
    adata.obs["age"] = np.linspace(20, 80, adata.n_obs)
    view = adata[50:]
    for model, key in (
        (sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1}), "label"),
        (sag.models.Regressor({"kind": "mlp", "units": [8]}, {"max_epochs": 1}), "age"),
    ):
        model.fit(view, key, seed=0)
        assert list(model.split_.index) == list(view.obs_names)
    sag.models.ResVAE({"kind": "vae", "n_latent": 2, "widths": [8]}, {"max_epochs": 1}).fit(view)
    assert view.is_view
    assert list(view.obs.columns) == list(adata.obs.columns)


def test_the_models_of_classify_and_embed_record_the_split(adata, tiny_config):
    """The model a search returns has split_ too: classify's equals obs['sag_split'], and
    embed's names its validation cells (scvi-tools' validation_indices)."""
    model = sag.tl.classify(adata, "label", config=tiny_config)
    pd.testing.assert_series_equal(model.split_, adata.obs["sag_split"], check_names=False)
    # a split of the user's own without test cells: the same categories as obs, comparable
    adata.obs["part"] = np.where(np.arange(adata.n_obs) % 10 == 0, "val", "train")
    model = sag.tl.classify(adata, "label", config=tiny_config, split_key="part")
    assert (model.split_ == adata.obs["sag_split"]).all()
    assert list(model.split_.cat.categories) == ["train", "val", "test"]
    cfg = {"budget": {"n_trials": 1, "time_budget": 30}, "trainer": {"max_epochs": 2}}
    cfg["space"] = {"n_layers": [3], "first_width": [16]}
    vae = sag.tl.embed(adata, n_latent=2, config=cfg)
    assert list(vae.split_.cat.categories) == ["train", "val"]
    assert 0 < (vae.split_ == "val").sum() < adata.n_obs


def test_numpy_numbers_in_the_architecture_save_and_digest(adata, tmp_path):
    """An architecture or training parameters given as numpy numbers train, save (as plain
    JSON numbers) and load; the weights digest tells the loaded model for the same one and
    another training for another."""
    arch = {"kind": "mlp", "units": [np.int64(16)], "dropout": np.float32(0.1)}
    params = {"max_epochs": np.int64(2), "batch_size": np.int64(64)}
    model = sag.models.Classifier(arch, params).fit(adata, "label", seed=0)
    model.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["architecture"]["units"] == [16]
    loaded = sag.models.Classifier.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_proba(adata), model.predict_proba(adata), atol=1e-6)
    assert loaded.weights_digest() == model.weights_digest()
    again = sag.models.Classifier(arch, params).fit(adata, "label", seed=1)
    assert again.weights_digest() != model.weights_digest()
    vae = sag.models.ResVAE(
        {"kind": "vae", "n_latent": np.int64(3), "widths": [np.int64(8)]}, {"max_epochs": 1}
    ).fit(adata, seed=0)
    vae.save(tmp_path / "v")
    assert json.loads((tmp_path / "v" / "model.json").read_text())["architecture"]["widths"] == [8]


@pytest.mark.parametrize("units", [np.array([16, 8]), np.array([], dtype=np.int64)])
def test_an_architecture_of_numpy_arrays_trains_and_is_recorded_as_lists(adata, units):
    """A 1-D numpy array where a list of widths goes (which check_architecture accepts): an
    MLP of those widths (none: the genes straight to the head), trained, and its
    architecture_ of plain lists and numbers (as JSON and h5ad records take them); a
    ResVAE's widths likewise."""
    arch = {"kind": "mlp", "units": units, "dropout": np.float32(0.1)}
    model = sag.models.Classifier(arch, {"max_epochs": 1}).fit(adata, "label", seed=0)
    assert model.architecture_["units"] == [int(u) for u in units]
    assert type(model.architecture_["dropout"]) is float
    linear = [m for m in model.module_.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linear] == [*units.tolist(), 3]
    assert isinstance(model.architecture["units"], np.ndarray)  # the user's, as given
    vae = sag.models.ResVAE(
        {"kind": "resvae", "n_latent": np.int64(3), "widths": np.array([8, 4])}, {"max_epochs": 1}
    ).fit(adata, seed=0)
    assert vae.architecture_["widths"] == [8, 4]
    assert type(vae.architecture_["n_latent"]) is int


def test_a_save_that_cannot_be_written_as_json_writes_nothing(adata, tmp_path):
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1}).fit(
        adata, "label", seed=0
    )
    model.config_ = {"odd": object()}
    with pytest.raises(TypeError, match="not JSON serializable"):
        model.save(tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_a_model_remembers_the_layer_it_was_trained_on(adata, tmp_path, caplog):
    """As scvi-tools models do: with layer=None a model reads the layer it was trained on when
    the AnnData has it (saved with the model); an AnnData without it is read from X, with a
    warning naming the layer."""
    import scanpy as sc

    from scautogenome._settings import logger as sag_logger

    adata.layers["counts"] = adata.X.copy()
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 2})
    model.fit(adata, "label", layer="counts", seed=0)
    assert model.layer_ == "counts"
    from_layer = model.predict_proba(adata, layer="counts")
    np.testing.assert_array_equal(model.predict_proba(adata), from_layer)
    model.save(tmp_path / "m")
    loaded = sag.models.Classifier.load(tmp_path / "m")
    assert loaded.layer_ == "counts"
    np.testing.assert_array_equal(loaded.predict_proba(adata), from_layer)
    bare = adata.copy()
    del bare.layers["counts"]
    sag_logger.addHandler(caplog.handler)  # sag's logger does not propagate
    try:
        with caplog.at_level("INFO", logger=sag_logger.name):
            loaded.predict_proba(bare)
    finally:
        sag_logger.removeHandler(caplog.handler)
    assert "trained on layers['counts'], which this AnnData lacks; reading adata.X" in caplog.text
    # a note, not a warning: X may hold the same counts (a fresh file); values of another
    # kind than the model's are warned about by the check of the values read
    said = [r for r in caplog.records if "which this AnnData lacks" in r.getMessage()]
    assert [r.levelname for r in said] == ["INFO"]
    assert "the model was trained on raw counts but the query's X holds non-integer" in (
        caplog.text
    )
    # trained on X: X it is, whatever layers the data has
    on_x = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 2})
    on_x.fit(adata, "label", seed=0)
    assert on_x.layer_ is None
    np.testing.assert_array_equal(on_x.predict_proba(adata), on_x.predict_proba(adata.X))


def test_log_odds_is_each_class_against_the_others():
    """log_odds (linear in the classes) equals l_c - logsumexp(l_others) computed class by
    class, keeps the order of cells past probability 1.0, and is l1 - l0 for two classes."""
    from scipy.special import logsumexp

    from scautogenome.train import log_odds

    rng = np.random.default_rng(0)
    for k in (2, 3, 10, 60):
        logits = rng.normal(0, 5, (500, k))
        logits[0] = 0.0  # all tied
        logits[1, 0] = 80.0  # one class far ahead: probability 1.0 in float64
        logits[2, :2] = 50.0  # two tied far ahead
        slow = np.column_stack(
            [logits[:, c] - logsumexp(np.delete(logits, c, axis=1), axis=1) for c in range(k)]
        )
        np.testing.assert_allclose(log_odds(logits), slow, rtol=1e-12, atol=1e-12)
    two = rng.normal(0, 3, (50, 2))
    np.testing.assert_allclose(log_odds(two)[:, 1], two[:, 1] - two[:, 0], atol=1e-12)
    sure = np.array([[40.0, 0.0, 0.0], [45.0, 0.0, 0.0]])  # both probability 1.0 of class 0
    assert log_odds(sure)[1, 0] > log_odds(sure)[0, 0]


def test_an_empty_matrix_or_an_odd_latent_size_is_refused(adata):
    """A query matrix without rows is refused as an empty AnnData is; the ResVAE's n_latent
    is checked as given (8.5 had trained 8 dimensions, True one)."""
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0)
    with pytest.raises(ValueError, match="X has no rows"):
        model.predict(np.zeros((0, adata.n_vars), dtype=np.float32))
    for bad in (8.5, True, "8"):
        vae = sag.models.ResVAE({"kind": "vae", "n_latent": bad, "widths": [8]}, {"max_epochs": 1})
        with pytest.raises(ValueError, match=rf"n_latent={bad!r} must be a positive integer"):
            vae.fit(adata, seed=0)


def test_fit_shows_its_epochs_and_says_what_it_kept(adata, sag_caplog, capsys):
    """Classifier.fit was silent for the whole training (ResVAE.fit had a bar); both now
    log what they trained and kept."""
    sag.settings.progress_bar, sag.settings.verbosity = True, 2
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 3})
    model.fit(adata, "label", seed=0)
    assert "training:" in capsys.readouterr().err  # the bar
    kept = r"trained 3 epoch\(s\) in .*; kept epoch [1-3], validation score"  # from 1
    assert re.search(kept, sag_caplog.text)
    sag.models.ResVAE({"kind": "vae", "n_latent": 2, "widths": [8]}, {"max_epochs": 2}).fit(
        adata, seed=0
    )
    assert "trained 2 epoch(s)" in sag_caplog.text
    assert "validation loss" in sag_caplog.text


def test_a_bar_whose_stream_is_gone_turns_off_and_the_work_goes_on(monkeypatch):
    """stderr piped into a reader that quit (``2>&1 | head``): the first bar of a search or a
    fit ended it with a BrokenPipeError; log lines were already dropped quietly."""
    import sys

    from scautogenome._logging import epoch_bar, progress
    from scautogenome._settings import logger

    class Gone:  # a pipe whose reader is gone
        encoding = "utf-8"

        def write(self, *text):
            raise BrokenPipeError(32, "Broken pipe")

        flush = write

        def isatty(self):
            return False

    sag.settings.progress_bar, sag.settings.verbosity = True, 2
    monkeypatch.setattr(sys, "stderr", Gone())
    with progress(3, "search", unit="trial") as bar:  # made, drawn, moved on, closed
        bar.set_postfix_str("best 0.5")
        bar.update(3)
        logger.info("a log line between two redraws")
    with epoch_bar(2) as on_epoch:
        on_epoch({"val_score": 0.5})
        on_epoch({"val_score": 0.6})
    monkeypatch.undo()
    assert bar.disable


def test_fit_leaves_torchs_random_state_as_it_was(adata):
    """fit seeds torch for its own training; the user's next torch.rand draws what it would
    have drawn without the fit."""
    torch.manual_seed(5)
    expected = torch.rand(3)
    for model in (
        sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1}),
        sag.models.ResVAE({"kind": "vae", "n_latent": 3, "widths": [8]}, {"max_epochs": 1}),
    ):
        torch.manual_seed(5)
        if isinstance(model, sag.models.Classifier):
            model.fit(adata, "label", seed=0)
        else:
            model.fit(adata, seed=0)
        assert torch.equal(torch.rand(3), expected)
    assert "Train" in (sag.models.Classifier.fit.__doc__ or "")  # the decorator keeps it


def test_fit_leaves_pythons_random_state_as_it_was(adata, monkeypatch):
    """fit gives Python's random state back, as the sag.tl tools do (a library it imports
    may draw from it: sklearn.metrics's rich does), whether it returns or raises."""
    from conftest import assert_random_state_kept

    from scautogenome.models import _classifier, _regressor, _resvae

    mlp = {"kind": "mlp", "units": [8]}
    vae = {"kind": "vae", "n_latent": 3, "widths": [8]}
    fits = {
        "Classifier": lambda: sag.models.Classifier(mlp).fit(adata, "label"),
        "Regressor": lambda: sag.models.Regressor(mlp).fit(adata, "label"),
        "ResVAE": lambda: sag.models.ResVAE(vae).fit(adata),
    }
    patched = [
        (_classifier, "prepare_labelled"),
        (_regressor, "prepare_labelled"),
        (_resvae, "prepare_unlabelled"),
    ]
    assert_random_state_kept(monkeypatch, patched, fits)


def test_training_settings_are_checked_with_clear_messages(adata):
    """A misspelt setting names itself and the settings there are; counts must be whole
    numbers (a batch of at least 2 cells, which batch norm needs in training)."""
    cases = [
        ({"max_epoch": 1}, TypeError, r"train_params has no setting 'max_epoch'; its settings"),
        ({"batch_size": 1}, ValueError, r"batch_size=1 must be at least 2"),
        ({"batch_size": 64.5}, TypeError, r"batch_size=64\.5 must be an integer"),
        ({"max_epochs": 1.5}, TypeError, r"max_epochs=1\.5 must be an integer"),
        ({"patience": -1}, ValueError, r"patience=-1 must be at least 0"),
    ]
    for params, error, message in cases:
        with pytest.raises(error, match=message):
            sag.models.Classifier({"kind": "mlp", "units": [8]}, params).fit(adata, "label")
    vae = sag.models.ResVAE({"kind": "vae", "n_latent": 3, "widths": [8]}, {"batch_size": 1})
    with pytest.raises(ValueError, match=r"batch_size=1 must be at least 2"):
        vae.fit(adata)
    # an integral float (a JSON config's 64.0) is taken as the whole number
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1.0})
    model.fit(adata, "label", seed=0)


@pytest.mark.parametrize(
    ("setting", "bad", "error", "message"),
    [
        ("lr", "x", TypeError, "must be a positive number"),
        ("lr", None, TypeError, "must be a positive number"),
        ("lr", True, TypeError, "must be a positive number"),
        ("lr", 0, ValueError, "must be a positive number"),
        ("lr", float("nan"), ValueError, "must be a positive number"),
        ("lr", float("inf"), ValueError, "must be a finite number"),
        ("weight_decay", "x", TypeError, "must be a finite number, 0 or more"),
        ("weight_decay", None, TypeError, "must be a finite number, 0 or more"),
        ("weight_decay", -1.0, ValueError, "must not be negative"),
        ("weight_decay", float("inf"), ValueError, "must be a finite number"),
        ("momentum", "x", TypeError, "must be a finite number, 0 or more"),
        ("momentum", -0.5, ValueError, "must not be negative"),
        ("momentum", 1.0, ValueError, r"must be in \[0, 1\)"),
    ],
)
def test_the_numbers_of_the_optimiser_are_checked_before_training(
    adata, monkeypatch, setting, bad, error, message
):
    """lr, weight_decay and momentum given to a model directly are checked as the config
    checks them: "x" or None failed inside the trainer ("'>' not supported ..."), a negative
    weight decay inside torch, and momentum="x" was taken; each names the setting."""
    import scautogenome.models._classifier as classifier_module

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(classifier_module, "train_classifier", no_training)
    params = {"max_epochs": 1, "optimizer": "sgd", setting: bad}
    with pytest.raises(error, match=rf"^{setting}={re.escape(repr(bad))} {message}"):
        sag.models.Classifier({"kind": "mlp", "units": [8]}, params).fit(adata, "label")


@pytest.mark.parametrize(
    ("setting", "bad", "error"),
    [
        ("weight_decay", "x", TypeError),
        ("weight_decay", -1e-6, ValueError),
        ("beta", "x", TypeError),
    ],
)
def test_the_numbers_of_the_vae_trainer_are_checked_before_training(adata, setting, bad, error):
    """The Res-VAE's weight_decay (and beta) are checked as the classifier's are ("x" failed
    with "'<' not supported between instances of 'str' and 'int'")."""
    vae = sag.models.ResVAE({"kind": "vae", "n_latent": 3, "widths": [8]}, {setting: bad})
    with pytest.raises(error, match=rf"^{setting}={re.escape(repr(bad))} must"):
        vae.fit(adata)


def test_a_model_saved_under_the_home_folder(adata, tmp_path, monkeypatch):
    """ "~/m" is the home folder's m, as the shell and anndata read it, not a folder "~"."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0).save("~/m")
    assert (tmp_path / "home" / "m" / "model.json").is_file()
    assert not (tmp_path / "~").exists()
    assert sag.models.Classifier.load("~/m").weights_digest() == model.weights_digest()


def test_a_malformed_architecture_is_refused_before_the_data_is_read(adata, monkeypatch):
    """A model's fit checks the architecture it was given before preparing any data: the key
    and what it takes, not Python's own TypeError from deep inside the network."""
    from scautogenome.models import _classifier, _regressor, _resvae

    def no_data(*args, **kwargs):
        raise AssertionError("the data was prepared")

    for module, name in (
        (_classifier, "prepare_labelled"),
        (_regressor, "prepare_labelled"),
        (_resvae, "prepare_unlabelled"),
    ):
        monkeypatch.setattr(module, name, no_data)
    adata.obs["y"] = np.arange(adata.n_obs, dtype=float)
    for cls, key in ((sag.models.Classifier, "label"), (sag.models.Regressor, "y")):
        with pytest.raises(ValueError, match=r"kind='resnet' needs \['n_blocks'\]"):
            cls({"kind": "resnet", "units": 32}).fit(adata, key)
        with pytest.raises(ValueError, match=r"kind='mlp' needs \['units'\]"):
            cls({"kind": "mlp"}).fit(adata, key)
        with pytest.raises(ValueError, match=r"kind='resvae' must be one of \['densenet'"):
            cls({"kind": "resvae", "widths": [8]}).fit(adata, key)
    for arch, match in (
        ({"widths": []}, r"widths=\[\] must be a non-empty list"),
        ({"kind": "vae", "widths": [8], "likelihood": "poisson"}, "likelihood='poisson' must"),
        ({"kind": "vae", "n_layers": 2}, r"'widths' or all of .*'first_width', 'decay'"),
        ({"kind": "vae", "widths": [8], "decay": 0.5}, "not both"),
        ({"kind": "mlp", "units": [8]}, r"kind='mlp' must be one of \['resvae', 'vae'\]"),
    ):
        with pytest.raises(ValueError, match=match):
            sag.models.ResVAE(arch).fit(adata)


def test_an_mlp_without_fc_units_is_a_linear_model_as_before(adata, tmp_path):
    """units=[] (a linear softmax model, which earlier versions built and saved) is still
    built, fitted, saved and loaded."""
    model = sag.models.Classifier({"kind": "mlp", "units": []}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0)
    model.save(tmp_path / "linear")
    back = sag.models.Classifier.load(tmp_path / "linear")
    assert np.allclose(back.predict_proba(adata), model.predict_proba(adata))


def _genes_zeroed(adata, start: int):
    """``adata`` with every gene from ``start`` on 0 in every cell (CSR)."""
    from scipy import sparse

    X = adata.X.toarray()
    X[:, start:] = 0
    out = adata.copy()
    out.X = sparse.csr_matrix(X)
    return out


@pytest.mark.parametrize("kind", ["Classifier", "Regressor", "ResVAE"])
def test_a_model_reads_only_the_genes_that_vary_on_its_training_cells(
    adata, tmp_path, sag_caplog, kind
):
    """Genes constant on the training cells are 0 after the input transform: the network
    leaves them out of its first layer, says so, and saves which genes it reads."""
    from scautogenome.nn import READS_KEY

    adata = _genes_zeroed(adata, 150)
    if kind == "Classifier":
        model = sag.models.Classifier({"kind": "mlp", "units": [16]}, {"max_epochs": 3})
        model.fit(adata, "label", seed=0)
        out = model.predict_proba
    elif kind == "Regressor":
        adata.obs["value"] = adata.obs["label"].cat.codes.to_numpy() + np.linspace(0, 1, 300)
        model = sag.models.Regressor({"kind": "resnet", "units": 8, "n_blocks": 1})
        model.fit(adata, "value", seed=0)
        out = model.predict
    else:
        model = sag.models.ResVAE({"widths": [16, 8], "n_latent": 4}, {"max_epochs": 3})
        model.fit(adata, seed=0)
        out = model.get_latent
    np.testing.assert_array_equal(model.module_.genes.index.cpu().numpy(), np.arange(150))
    assert "200 genes (50 constant on the training cells: the network reads the other 150)" in (
        sag_caplog.text
    )
    model.save(tmp_path / "m")
    assert "net." + READS_KEY in torch.load(tmp_path / "m" / "model.pt", weights_only=True)
    loaded = getattr(sag.models, kind).load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.module_.genes.index.numpy(), np.arange(150))
    loaded_out = getattr(loaded, out.__name__)
    np.testing.assert_allclose(loaded_out(adata), out(adata), atol=1e-6)


def test_a_model_saved_before_networks_left_genes_out_loads_and_predicts_the_same(adata, tmp_path):
    """A folder saved by a version whose networks read every gene (no ``genes.index``, a
    first layer as wide as the genes) loads as such a network and predicts the same."""
    from scautogenome.nn import READS_KEY

    adata = _genes_zeroed(adata, 150)
    model = sag.models.Classifier({"kind": "mlp", "units": [16]}, {"max_epochs": 3})
    model.fit(adata, "label", seed=0)
    model.save(tmp_path / "m")
    tensors = torch.load(tmp_path / "m" / "model.pt", weights_only=True)
    reads = tensors.pop("net." + READS_KEY)
    first = "net.body.0.0.weight"
    full = torch.full((tensors[first].shape[0], adata.n_vars), 0.3)  # untrained, as before
    full[:, reads] = tensors[first]
    tensors[first] = full
    torch.save(tensors, tmp_path / "m" / "model.pt")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    del meta["weights_sha256"]  # not recorded by older versions
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    old = sag.models.Classifier.load(tmp_path / "m")
    assert old.module_.genes.index is None
    assert old.module_.body[0][0].in_features == adata.n_vars
    np.testing.assert_allclose(old.predict_proba(adata), model.predict_proba(adata), atol=1e-6)


@pytest.mark.parametrize("likelihood", ["nb", "gaussian"])
def test_a_resvae_reconstructs_a_gene_constant_on_its_training_cells_as_that_constant(
    adata, tmp_path, likelihood
):
    """The decoder leaves out the genes constant on the training cells; the reconstruction
    still has every gene: 0 counts for a count likelihood (each row still adds up to the
    cell's counts), the gene's value for values on another scale."""
    adata = _genes_zeroed(adata, 150)
    if likelihood == "gaussian":
        adata.X = adata.X.toarray()
        adata.X[:, :150] = np.log1p(adata.X[:, :150])
        adata.X[:, 150:] = 2.5  # constant, not 0
    model = sag.models.ResVAE({"widths": [16, 8], "n_latent": 4}, {"max_epochs": 2})
    model.fit(adata, seed=0)
    assert model.likelihood_ == likelihood
    assert model.module_.out.out_features == 150
    rec = model.reconstruct(adata)
    assert rec.shape == adata.shape
    if likelihood == "nb":
        assert not rec[:, 150:].any()
        np.testing.assert_allclose(rec.sum(1), np.asarray(adata.X.sum(1)).ravel(), rtol=1e-4)
    else:
        np.testing.assert_allclose(rec[:, 150:], 2.5, rtol=1e-6)
    assert rec[:, :150].std(0).min() > 0
    model.save(tmp_path / "m")
    loaded = sag.models.ResVAE.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.reconstruct(adata), rec, rtol=1e-5, atol=1e-6)


def test_a_resvae_saved_with_a_decoder_of_every_gene_loads_and_reconstructs_the_same(
    adata, tmp_path
):
    """A folder saved on 2026-12-05 before the decoder left genes out (an encoder of the
    varying genes, a decoder of all of them) loads as that network and gives the same."""
    from scautogenome.nn import READS_KEY, build_vae

    adata = _genes_zeroed(adata, 150)
    model = sag.models.ResVAE({"widths": [16, 8], "n_latent": 4}, {"max_epochs": 2})
    model.fit(adata, seed=0)
    reads = model.module_.genes.index.numpy()
    torch.manual_seed(1)
    model.module_ = build_vae(model.architecture_, reads=reads, decode_all=True).eval()
    assert READS_KEY in model.module_.state_dict()
    assert model.module_.out.out_features == adata.n_vars
    rec = model.reconstruct(adata)
    latent = model.get_latent(adata)
    model.save(tmp_path / "m")
    old = sag.models.ResVAE.load(tmp_path / "m")
    assert old.module_.decode_all
    assert old.module_.out.out_features == adata.n_vars
    np.testing.assert_allclose(old.reconstruct(adata), rec, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(old.get_latent(adata), latent, rtol=1e-5, atol=1e-6)


def test_the_searches_train_networks_of_the_genes_that_vary(adata, tiny_config, tmp_path):
    """classify's and embed's trials, and the models they return, read the genes that vary
    on the training cells only; so does a best trial retrained from a storage, exactly."""
    adata = _genes_zeroed(adata, 180)
    url = f"sqlite:///{tmp_path / 'search.db'}"
    model = sag.tl.classify(adata, "label", config=tiny_config, storage=url)
    np.testing.assert_array_equal(model.module_.genes.index.numpy(), np.arange(180))
    tiny_config["budget"]["n_trials"] = 0  # nothing new: the stored best trial is retrained
    again = sag.tl.classify(adata.copy(), "label", config=tiny_config, storage=url)
    np.testing.assert_array_equal(again.module_.genes.index.numpy(), np.arange(180))
    np.testing.assert_array_equal(again.predict_proba(adata), model.predict_proba(adata))
    vae = sag.tl.embed(
        adata,
        n_latent=4,
        config={"budget": {"n_trials": 2, "time_budget": None}, "trainer": {"max_epochs": 2}},
    )
    np.testing.assert_array_equal(vae.module_.genes.index.numpy(), np.arange(180))


def test_a_network_of_the_varying_genes_trains_as_one_of_every_gene(adata):
    """From the same weights (those of the genes left out do not matter: they never train),
    without dropout, the two networks take the same steps."""
    from scautogenome.data import prepare_labelled
    from scautogenome.nn import build_network
    from scautogenome.train import TrainParams, train_classifier

    data = prepare_labelled(_genes_zeroed(adata, 120), "label", seed=0)
    reads = data.transform.varying_genes()
    np.testing.assert_array_equal(reads, np.arange(120))
    arch = {"kind": "mlp", "units": [16], "n_inputs": 200, "n_outputs": 3}
    torch.manual_seed(0)
    some, full = build_network(arch, reads=reads), build_network(arch)
    state = {k: v for k, v in some.state_dict().items() if k != "genes.index"}
    weight = torch.randn(16, 200)
    weight[:, reads] = state["body.0.0.weight"]
    full.load_state_dict({**state, "body.0.0.weight": weight})
    params = TrainParams(max_epochs=3, patience=3, min_epochs=3, batch_size=32, lr=1e-2)
    results = [
        train_classifier(
            net,
            X=data.X,
            codes=data.codes,
            train_rows=data.rows("train"),
            val_rows=data.rows("val"),
            n_classes=3,
            transform=data.transform.to_torch(torch.device("cpu")),
            params=params,
            device=torch.device("cpu"),
        )
        for net in (some, full)
    ]
    a, b = (r.state_dict for r in results)
    close = {"rtol": 1e-4, "atol": 1e-5}  # the products add up 120 or 200 terms
    torch.testing.assert_close(a["body.0.0.weight"], b["body.0.0.weight"][:, reads], **close)
    torch.testing.assert_close(a["head.weight"], b["head.weight"], **close)
    # (not the validation loss: the first layer's bias, which batch norm cancels, drifts
    # with the rounding of its zero gradient, in any network, and moves the running mean)
    assert [h["train_loss"] for h in results[0].history] == pytest.approx(
        [h["train_loss"] for h in results[1].history], rel=1e-5
    )


def test_still_running_logs_while_the_block_runs_and_stops_after(sag_caplog):
    import threading
    import time

    from scautogenome._logging import still_running

    with still_running("a slow step", every=0.05):
        time.sleep(0.4)
    lines = [r.getMessage() for r in sag_caplog.records if "still running" in r.getMessage()]
    assert len(lines) >= 3
    assert lines[0] == "    a slow step: still running (0:00:00)"
    time.sleep(0.2)
    after = [r for r in sag_caplog.records if "still running" in r.getMessage()]
    assert len(after) == len(lines)
    assert not [t for t in threading.enumerate() if t.name == "sag: a slow step"]
    refused = still_running("a step", every=0)
    with pytest.raises(ValueError, match=r"every=0\.0 must be a positive number of seconds"):
        refused.__enter__()


def test_a_damaged_record_of_the_genes_read_is_refused_on_load(adata, tmp_path):
    from scautogenome.nn import READS_KEY

    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(_genes_zeroed(adata, 150), "label", seed=0)
    model.save(tmp_path / "m")
    tensors = torch.load(tmp_path / "m" / "model.pt", weights_only=True)
    tensors["net." + READS_KEY] = tensors["net." + READS_KEY].flip(0)
    torch.save(tensors, tmp_path / "m" / "model.pt")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    del meta["weights_sha256"]
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"The weights in .* cannot be read: reads must be sorted"):
        sag.models.Classifier.load(tmp_path / "m")


def test_mixed_precision_only_on_gpus_that_compute_bfloat16(monkeypatch):
    """bfloat16 autocast was on for every CUDA device: a V100 or T4 (compute capability 7.x)
    refused it before torch 2.3 (every trial failed) and emulates it slowly since. The
    capability asked is that of the GPU given (cuda:1), not of the current one."""
    import torch

    from scautogenome.train import _trainer

    asked = []

    def capability(device=None):
        asked.append(device)
        return {0: (7, 0), 1: (8, 0)}[getattr(device, "index", 0) or 0]

    monkeypatch.setattr(torch.cuda, "get_device_capability", capability)
    assert _trainer.native_bfloat16(torch.device("cuda:1"))
    assert not _trainer.native_bfloat16(torch.device("cuda:0"))
    assert asked == [torch.device("cuda:1"), torch.device("cuda:0")]
    old = _trainer._autocast(torch.device("cuda:0"))
    # float32, also inside a user's own CUDA autocast block (a CPU one did not end that)
    assert (old.device, old._enabled) == ("cuda", False)
    assert _trainer._autocast(torch.device("cpu"))._enabled is False


def test_no_autocast_names_a_device_type_every_torch_takes():
    """float32 on MPS: torch before 2.5 refuses ``torch.autocast("mps", ...)``, even
    disabled, so a Regressor's predictions (mixed=False) failed there; CPU's is used."""
    import torch

    from scautogenome.train import _trainer

    for name, kind in (("cuda:1", "cuda"), ("cpu", "cpu"), ("mps", "cpu")):
        off = _trainer._no_autocast(torch.device(name))
        assert (off.device, off._enabled) == (kind, False)


def test_fit_refuses_an_unknown_setting_or_an_absent_device_before_reading_the_data(
    monkeypatch,
):
    """fit(device="cuda") on a machine without CUDA, or an unknown train_params setting,
    failed only after the data were prepared (minutes on a large AnnData)."""
    import torch

    import scautogenome as sag
    from scautogenome.models import _classifier, _regressor, _resvae

    def no_work(*args, **kwargs):
        raise AssertionError("the data were prepared")

    for module in (_classifier, _regressor):
        monkeypatch.setattr(module, "prepare_labelled", no_work)
    monkeypatch.setattr(_resvae, "prepare_unlabelled", no_work)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    a = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=2, seed=0)
    a.obs["age"] = np.arange(a.n_obs, dtype=float)
    mlp = {"kind": "mlp", "units": [8]}
    fits = (
        (sag.models.Classifier, mlp, lambda m: m.fit(a, "label")),
        (sag.models.Regressor, mlp, lambda m: m.fit(a, "age")),
        (sag.models.ResVAE, None, lambda m: m.fit(a)),
    )
    for cls, arch, fit in fits:
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            fit(cls(arch, device="cuda"))
        with pytest.raises(TypeError, match="train_params has no setting 'foo'"):
            fit(cls(arch, train_params={"foo": 1}))


def test_adamw_is_fused_on_cpu_where_torch_has_the_kernel():
    """torch 2.1-2.3 (which pyproject allows) have no fused AdamW on CPU: asking for it failed
    every training there."""
    import torch

    from scautogenome.train import _trainer

    assert _trainer._cpu_fused("2.13.0+cpu")
    assert _trainer._cpu_fused("2.4.0")
    assert not _trainer._cpu_fused("2.3.1")
    assert not _trainer._cpu_fused("2.1.0+cu121")
    net = torch.nn.Linear(2, 2)
    opt = _trainer.adamw(net.parameters(), lr=1e-3, weight_decay=0.0, device=torch.device("cpu"))
    assert opt.defaults["fused"] is True  # this torch (2.13) has it


def test_keep_torch_rng_keeps_the_gpu_seed_the_user_queued():
    """torch.cuda.manual_seed_all before CUDA starts is queued; the tools (keep_torch_rng)
    replaced it by torch's CPU seed, so that the user's later GPU draws came from another
    seed than theirs. Checked on the queue, which needs no GPU."""
    from scautogenome._settings import keep_torch_rng

    tracker = getattr(torch.cuda, "_lazy_seed_tracker", None)
    if tracker is None or torch.cuda.is_initialized():
        pytest.skip("needs torch's queue of seeds for a GPU not yet in use")
    torch.manual_seed(1)
    torch.cuda.manual_seed_all(12345)
    queued = list(tracker.call_order)
    with keep_torch_rng():
        torch.manual_seed(7)  # as a tool seeds its training
    assert tracker.call_order == queued
    assert tracker.manual_seed_all_cb is queued[-1]


def test_a_huge_architecture_in_model_json_is_refused_before_it_is_built(tmp_path, adata):
    """A model.json (shared, say) naming a network far larger than its weights: refused by
    the weights' shapes, before the network is built (which would take terabytes)."""
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0).save(tmp_path / "m")
    meta_path = tmp_path / "m" / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["architecture"]["units"] = [2**31]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"/m'.*mismatched weight"):
        sag.models.Classifier.load(tmp_path / "m")
    # sizes whose product overflows torch's storage size: named as the file's too
    meta["architecture"]["units"] = [2**62, 2**62]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"/m'.*cannot be read with the architecture"):
        sag.models.Classifier.load(tmp_path / "m")


def _resave_weights(path, change) -> None:
    """Replace ``path``'s model.pt by ``change`` of its tensors, with model.json's digest of
    it updated (an edit that keeps the folder consistent)."""
    import hashlib

    tensors = torch.load(path / "model.pt", weights_only=True)
    torch.save(change(tensors), path / "model.pt")
    meta = json.loads((path / "model.json").read_text())
    meta["weights_sha256"] = hashlib.sha256((path / "model.pt").read_bytes()).hexdigest()
    (path / "model.json").write_text(json.dumps(meta))


def test_weights_that_are_not_finite_are_refused_on_load(tmp_path, adata):
    """NaN weights (damage, or a training that diverged) would call every cell the first
    class: refused on load, naming the file."""
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0).save(tmp_path / "m")
    name = next(k for k, v in torch.load(tmp_path / "m" / "model.pt").items() if v.ndim == 2)

    def nan(tensors):
        tensors[name][0, 0] = float("nan")
        return tensors

    _resave_weights(tmp_path / "m", nan)
    with pytest.raises(ValueError, match=r"model\.pt'.*NaN or infinite") as err:
        sag.models.Classifier.load(tmp_path / "m")
    assert name.split(".", 1)[1] in str(err.value)


def test_running_out_of_memory_while_reading_weights_is_not_called_damage(
    tmp_path, adata, monkeypatch
):
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0).save(tmp_path / "m")

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(torch, "load", no_memory)
    with pytest.raises(MemoryError):
        sag.models.Classifier.load(tmp_path / "m")


@pytest.mark.parametrize("content", ["empty", "list", "pickle", "truncated"])
def test_a_model_pt_that_is_no_weights_file_is_named_on_load(tmp_path, adata, content):
    """A model.pt that is empty, truncated, no dict of tensors, or a pickle torch will not
    read safely: a ValueError naming the file, not torch's error (whose advice for a pickle,
    weights_only=False, is unsafe for a file of unknown origin)."""
    import hashlib
    import pickle

    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0).save(tmp_path / "m")
    weights = tmp_path / "m" / "model.pt"
    if content == "empty":
        weights.write_bytes(b"")
    elif content == "list":
        torch.save([torch.zeros(2)], weights)
    elif content == "pickle":
        weights.write_bytes(pickle.dumps(pd.Timestamp(0)))
    else:
        weights.write_bytes(weights.read_bytes()[:200])
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    meta["weights_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"model\.pt' is not a weights file") as err:
        sag.models.Classifier.load(tmp_path / "m")
    assert "weights_only=False" not in str(err.value)


def test_input_transform_arrays_of_another_length_are_refused_on_load(tmp_path, adata):
    """A model.pt whose input transform holds values of another number of genes than
    model.json names: refused on load, naming the file, not by numpy at predict time."""
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0).save(tmp_path / "m")

    def cut(tensors):
        tensors["transform_mean"] = tensors["transform_mean"][:10]
        return tensors

    _resave_weights(tmp_path / "m", cut)
    with pytest.raises(
        ValueError,
        match=rf"model\.pt'.*transform_mean holds 10 values for the {adata.n_vars} genes",
    ):
        sag.models.Classifier.load(tmp_path / "m")


def test_the_versions_that_trained_a_model_survive_load_and_save(tmp_path, adata):
    """model.json's ``versions`` are those of the writer; ``trained_with`` keeps those that
    trained the model through a load and a save under other versions."""
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0).save(tmp_path / "m")
    meta_path = tmp_path / "m" / "model.json"
    meta = json.loads(meta_path.read_text())
    assert meta["trained_with"] == meta["versions"]
    assert model.trained_with_ == meta["versions"]
    old = {**meta["versions"], "torch": "2.1.0"}
    meta_path.write_text(json.dumps({**meta, "trained_with": old}))
    loaded = sag.models.Classifier.load(tmp_path / "m")
    assert loaded.trained_with_ == old
    loaded.save(tmp_path / "again")
    again = json.loads((tmp_path / "again" / "model.json").read_text())
    assert again["trained_with"] == old
    assert again["versions"]["torch"] == meta["versions"]["torch"]  # the writer's
    # a model saved before trained_with was recorded: its versions are those of its save
    del meta["trained_with"]
    meta_path.write_text(json.dumps(meta))
    assert sag.models.Classifier.load(tmp_path / "m").trained_with_ == meta["versions"]
    # neither recorded: not known, and saved so (not as this process's versions)
    del meta["versions"]
    meta_path.write_text(json.dumps(meta))
    unknown = sag.models.Classifier.load(tmp_path / "m")
    assert unknown.trained_with_ == {}
    unknown.save(tmp_path / "third")
    assert json.loads((tmp_path / "third" / "model.json").read_text())["trained_with"] == {}


def test_a_bar_written_to_a_log_file_stays_there_not_cleared(adata, capfd, monkeypatch):
    """Written to a file (a job's log), a model's epoch bar ends on a line of its own, as the
    search's does: tqdm's clearing of a bar that does not stay (carriage return, spaces,
    carriage return) left its first frame and that clutter before the next log line."""
    import re

    from scautogenome import _logging

    monkeypatch.setattr(_logging, "interactive", lambda: False)
    sag.settings.progress_bar = True
    sag.settings.verbosity = 2
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 2})
    model.fit(adata, "label", seed=0)
    err = capfd.readouterr().err
    assert not re.search(r"\r {5,}\r", err), repr(err)
    assert re.search(r"training: 100%[^\r\n]*\n", err), repr(err)


def _fit_small(adata, seed: int = 0):
    """A one-epoch MLP classifier: the cheapest trained model."""
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    return model.fit(adata, "label", seed=seed)


def test_a_failed_save_leaves_the_users_own_empty_folder(adata, tmp_path, monkeypatch):
    """A failed save removes the folders it made and stops there: an empty folder the user
    made beforehand (the parent of the model's) stays."""
    import errno
    import os

    model = _fit_small(adata)
    (tmp_path / "runs").mkdir()  # the user's, empty

    def full(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OSError, match="No space left"):
        model.save(tmp_path / "runs" / "a" / "m")
    assert (tmp_path / "runs").is_dir()
    assert list((tmp_path / "runs").iterdir()) == []


def test_infinite_weights_without_nan_are_refused_on_load(tmp_path, adata):
    """A weight of +inf alone (no NaN, no -inf) is refused on load as NaN is."""
    _fit_small(adata).save(tmp_path / "m")
    name = next(k for k, v in torch.load(tmp_path / "m" / "model.pt").items() if v.ndim == 2)

    def inf(tensors):
        tensors[name][0, 0] = float("inf")
        return tensors

    _resave_weights(tmp_path / "m", inf)
    with pytest.raises(ValueError, match=r"model\.pt'.*NaN or infinite"):
        sag.models.Classifier.load(tmp_path / "m")


_UNPICKLED = []


def _note_unpickled():
    _UNPICKLED.append(True)
    return torch.zeros(2)


class _Planted:
    """An object whose unpickling runs code (``_note_unpickled``)."""

    def __reduce__(self):
        return (_note_unpickled, ())


def test_load_runs_no_code_pickled_into_model_pt(tmp_path, adata):
    """ "No pickled objects are read": a model.pt holding an object whose unpickling runs code
    (a file of unknown origin) is refused without running it."""
    _fit_small(adata).save(tmp_path / "m")
    _UNPICKLED.clear()
    _resave_weights(tmp_path / "m", lambda tensors: {**tensors, "net.planted": _Planted()})
    with pytest.raises(ValueError, match=r"model\.pt' is not a weights file"):
        sag.models.Classifier.load(tmp_path / "m")
    assert _UNPICKLED == []


def test_a_min_gene_overlap_of_one_asks_for_every_gene(adata):
    """min_gene_overlap=1 (every model gene) is a valid fraction: a query of all the genes
    predicts, one lacking a gene is refused."""
    model = _fit_small(adata)
    report = model.gene_overlap(adata.var_names, min_gene_overlap=1, warn=False)
    assert report["fraction_of_model_genes"] == 1.0
    np.testing.assert_array_equal(model.predict(adata, min_gene_overlap=1.0), model.predict(adata))
    with pytest.raises(ValueError, match=r"only 199 of the model's 200 genes"):
        model.predict(adata[:, 1:].copy(), min_gene_overlap=1.0)


def test_a_query_of_as_many_genes_with_one_renamed_fills_that_gene(adata):
    """A query with the model's number of genes, in its order, but one of another name in
    a model gene's place: that model gene is missing (filled as one the query lacks), not
    read from the column of the other gene."""
    model = _fit_small(adata)
    renamed = adata.copy()
    renamed.var_names = ["not_a_model_gene", *adata.var_names[1:]]
    lacking = adata[:, 1:].copy()
    np.testing.assert_allclose(
        model.predict_proba(renamed), model.predict_proba(lacking), rtol=0, atol=1e-6
    )
    assert not np.allclose(model.predict_proba(renamed), model.predict_proba(adata), atol=1e-6)


def test_a_layer_given_is_read_over_the_one_the_model_was_trained_on(adata):
    """layer= names what to read: a model trained on layers['counts'] given layer='other'
    reads 'other', not its own layer."""
    adata.layers["counts"] = adata.X.copy()
    adata.layers["other"] = adata.X[::-1].copy()  # the cells' counts in reverse order
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", layer="counts", seed=0)
    from_counts = model.predict_proba(adata, layer="counts")
    np.testing.assert_allclose(
        model.predict_proba(adata, layer="other"), from_counts[::-1], rtol=0, atol=1e-6
    )


def test_the_thread_count_a_model_trained_on_survives_save_and_load(adata, tmp_path):
    """n_threads_ (the CPU threads its weights were trained on: what a seed reproduces them
    at) is set by fit and kept through a save and a load."""
    model = _fit_small(adata)
    assert isinstance(model.n_threads_, int)
    assert model.n_threads_ >= 1
    model.save(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "model.json").read_text())["n_threads"] == model.n_threads_
    assert sag.models.Classifier.load(tmp_path / "m").n_threads_ == model.n_threads_


def _saved_meta(model, path):
    """``model`` saved in ``path``: its model.json's path and content, to edit by hand."""
    model.save(path)
    meta_path = path / "model.json"
    return meta_path, json.loads(meta_path.read_text())


def test_model_json_of_a_gene_list_or_thread_count_at_odds_with_the_model_is_refused(
    tmp_path, adata
):
    """A model.json edited by hand: var_names of another number than the network's inputs,
    or an n_threads that is no positive integer, are refused on load, naming the entry."""
    meta_path, meta = _saved_meta(_fit_small(adata), tmp_path / "m")
    meta_path.write_text(json.dumps({**meta, "var_names": meta["var_names"][:-1]}))
    with pytest.raises(ValueError, match=r"its 199 var_names are not the 200 genes"):
        sag.models.Classifier.load(tmp_path / "m")
    for bad in (0, -2, True, "4"):
        meta_path.write_text(json.dumps({**meta, "n_threads": bad}))
        with pytest.raises(ValueError, match=r"n_threads .* is not a positive integer"):
            sag.models.Classifier.load(tmp_path / "m")
    meta_path.write_text(json.dumps({**meta, "n_threads": 1}))
    assert sag.models.Classifier.load(tmp_path / "m").n_threads_ == 1


def test_the_same_seed_trains_the_same_weights_whatever_torchs_random_state(adata):
    """fit's seed draws the network's initial weights: the user's torch random state before
    the call changes nothing."""
    digests = []
    for state in (1, 2):
        torch.manual_seed(state)
        digests.append(_fit_small(adata, seed=0).weights_digest())
    assert digests[0] == digests[1]


def test_a_trained_or_loaded_network_is_in_evaluation_mode(adata, tmp_path):
    """module_ (the trained torch network) is handed over in evaluation mode, after fit and
    after load: dropout off, the same input gives the same output."""
    model = sag.models.Classifier({"kind": "mlp", "units": [16], "dropout": 0.5}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0).save(tmp_path / "m")
    x = torch.rand(4, adata.n_vars)
    for net in (model.module_, sag.models.Classifier.load(tmp_path / "m").module_):
        assert not any(m.training for m in net.modules())
        with torch.no_grad():
            torch.testing.assert_close(net(x), net(x))


def test_cells_without_a_label_are_in_the_split_as_none(adata):
    """split_ names a cell fit did not use (no label) "none", a category of its own, not a
    missing value."""
    labels = adata.obs["label"].astype(object)
    labels.iloc[:5] = None
    adata.obs["label"] = labels
    model = _fit_small(adata)
    assert list(model.split_.cat.categories) == ["train", "val", "test", "none"]
    assert (model.split_.iloc[:5] == "none").all()
    assert model.split_.notna().all()


def test_model_json_classes_at_odds_with_the_network_are_refused(tmp_path, adata):
    """A model.json whose classes lost one (or name one twice) would name the columns of the
    probabilities wrongly: refused on load."""
    meta_path, meta = _saved_meta(_fit_small(adata), tmp_path / "m")
    meta_path.write_text(json.dumps({**meta, "classes": meta["classes"][:-1]}))
    with pytest.raises(ValueError, match=r"its 2 classes are not the 3 outputs"):
        sag.models.Classifier.load(tmp_path / "m")
    twice = [meta["classes"][0], *meta["classes"][:-1]]
    meta_path.write_text(json.dumps({**meta, "classes": twice}))
    with pytest.raises(ValueError, match=r"its classes name .* twice"):
        sag.models.Classifier.load(tmp_path / "m")


def test_fit_keeps_the_users_split_and_its_prediction_options(adata):
    """Classifier.fit trains on the user's split_key parts; predict and predict_proba are
    float32 probabilities and honour min_gene_overlap."""
    adata.obs["part"] = np.where(np.arange(adata.n_obs) % 5 == 0, "val", "train")
    model = _fit_small(adata)
    model.fit(adata, "label", split_key="part", seed=0)
    np.testing.assert_array_equal(model.split_.astype(str).to_numpy(), adata.obs["part"])
    assert model.predict_proba(adata).dtype == np.float32
    fifth = adata[:, 160:].copy()  # 40 of the 200 genes
    with pytest.raises(ValueError, match=r"only 40 of the model's 200 genes"):
        model.predict(fifth)
    assert len(model.predict(fifth, min_gene_overlap=0.2)) == adata.n_obs


def test_the_hint_of_a_query_names_the_var_column_holding_the_most_model_genes(adata):
    """Of two var columns of names, the overlap error points to the one holding more of the
    model's genes."""
    model = _fit_small(adata)
    query = adata.copy()
    query.var["few"] = [*adata.var_names[:10], *[f"x{i}" for i in range(190)]]
    query.var["symbol"] = adata.var_names.copy()
    query.var_names = [f"ENSG{i:011d}" for i in range(query.n_vars)]
    with pytest.raises(ValueError, match=r"adata\.var\['symbol'\] holds 200 of them"):
        model.predict(query)


def _fit_regressor(adata):
    adata.obs["age"] = np.linspace(20, 80, adata.n_obs)
    model = sag.models.Regressor({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    return model.fit(adata, "age", seed=0)


def test_a_regressor_of_a_target_centred_on_zero_keeps_its_scale(adata, tmp_path):
    """A target whose training mean is 0 (centred) but whose spread is not 1: its scale is
    still in the weights digest, in the outputs in the target's units and in model.pt, and a
    model.json target_std that is no number is refused."""
    import copy

    model = _fit_regressor(adata)
    model.target_mean_ = 0.0
    other = copy.deepcopy(model)
    other.target_std_ *= 2
    assert other.weights_digest() != model.weights_digest()
    x = torch.rand(3, adata.n_vars)
    with torch.no_grad():
        torch.testing.assert_close(
            model._module_in_units()(x), model.module_(x) * model.target_std_
        )
    model.save(tmp_path / "m")
    assert "net.target_scale" in torch.load(tmp_path / "m" / "model.pt", weights_only=True)
    meta_path = tmp_path / "m" / "model.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "target_std": "wide"}))
    with pytest.raises(ValueError, match=r"its target_std 'wide' is not a finite number"):
        sag.models.Regressor.load(tmp_path / "m")


def test_the_auc_loss_judges_its_epochs_by_roc_auc_unless_told():
    """With train_params={"loss": "auc"} (two classes) and no metric, the epochs are judged
    by ROC AUC, as with metric="roc_auc" (macro F1 cannot judge a ranking)."""
    two = sag.datasets.synthetic(n_obs=200, n_vars=50, n_classes=2, seed=0)

    def scores(metric):
        model = sag.models.Classifier(
            {"kind": "mlp", "units": [8]}, {"max_epochs": 2, "loss": "auc"}
        )
        model.fit(two, "label", metric=metric, seed=0)
        return [epoch["val_score"] for epoch in model.history_]

    default = scores(None)
    assert default == scores("roc_auc")
    assert default != scores("average_precision")


def test_fit_honours_group_key_and_value_type(adata):
    """Classifier.fit keeps the cells of a group_key value in one part of its split, and
    transforms the values as the value_type given (not as detected)."""
    adata.obs["patient"] = [f"p{i // 6}" for i in range(adata.n_obs)]
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", group_key="patient", value_type="continuous", seed=0)
    parts = pd.DataFrame({"patient": adata.obs["patient"], "part": model.split_.astype(str)})
    assert (parts.groupby("patient")["part"].nunique() == 1).all()
    assert model.transform_.value_type == "continuous"


def test_fit_leaves_out_the_classes_below_min_cells_per_class(adata):
    """min_cells_per_class leaves a class of too few cells out of training (without it, the
    seeded split refuses that class)."""
    labels = adata.obs["label"].astype(str).to_numpy().copy()
    labels[:2] = "rare"
    adata.obs["label"] = pd.Categorical(labels)
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    with pytest.raises(ValueError, match="rare"):
        model.fit(adata, "label", seed=0)
    model.fit(adata, "label", min_cells_per_class=3, seed=0)
    assert "rare" not in model.classes_
    assert len(model.classes_) == 3


def test_a_wrong_metric_is_refused_before_the_data_is_read(adata, monkeypatch):
    """Classifier.fit and Regressor.fit check metric= before preparing any data (every error
    before any work)."""
    from scautogenome.models import _classifier, _regressor

    def no_data(*args, **kwargs):
        raise AssertionError("the data was prepared")

    monkeypatch.setattr(_classifier, "prepare_labelled", no_data)
    monkeypatch.setattr(_regressor, "prepare_labelled", no_data)
    adata.obs["y"] = np.arange(adata.n_obs, dtype=float)
    for cls, key, metric in (
        (sag.models.Classifier, "label", "r2"),
        (sag.models.Regressor, "y", "f1"),
    ):
        with pytest.raises(ValueError, match=rf"metric='{metric}' must be one of"):
            cls({"kind": "mlp", "units": [8]}).fit(adata, key, metric=metric)


def test_regressor_fit_honours_split_key_layer_and_group_key(adata):
    """Regressor.fit trains on the user's split_key parts and on layer=, and keeps the cells
    of a group_key value in one part of its seeded split."""
    adata.obs["age"] = np.linspace(20, 80, adata.n_obs)
    adata.obs["part"] = np.where(np.arange(adata.n_obs) % 5 == 0, "val", "train")
    adata.layers["counts"] = adata.X.copy()
    model = sag.models.Regressor({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "age", split_key="part", layer="counts", seed=0)
    np.testing.assert_array_equal(model.split_.astype(str).to_numpy(), adata.obs["part"])
    assert model.layer_ == "counts"
    adata.obs["patient"] = [f"p{i // 6}" for i in range(adata.n_obs)]
    model.fit(adata, "age", group_key="patient", seed=0)
    parts = pd.DataFrame({"patient": adata.obs["patient"], "part": model.split_.astype(str)})
    assert (parts.groupby("patient")["part"].nunique() == 1).all()


def test_a_regressors_base_value_is_its_mean_prediction_on_the_background(adata):
    """The base value explain's SHAP values add up to is the mean of the predictions on the
    background rows (the network's input), in the target's units."""
    model = _fit_regressor(adata)
    background = np.random.default_rng(0).random((7, adata.n_vars), dtype=np.float32)
    with torch.no_grad():
        z = model.module_(torch.from_numpy(background)).double().numpy()
    expected = model.target_mean_ + model.target_std_ * z.mean(0)
    np.testing.assert_allclose(model._base_in_units(background), expected, rtol=1e-6)
