"""What a run records to be reproduced: the torch thread count it trained on, model files whose
bytes depend on the weights alone, and a search summary that counts its own trials."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

import scautogenome as sag

MLP = {"kind": "mlp", "units": [8]}
ONE_EPOCH = {"max_epochs": 1, "batch_size": 64}
VAE = {"kind": "vae", "n_latent": 3, "widths": [8]}


@pytest.fixture
def threads():
    """Give torch and ``sag.settings`` their thread count back after the test."""
    n, given = torch.get_num_threads(), sag.settings.n_threads
    yield
    sag.settings._n_threads = given
    torch.set_num_threads(n)


def _with_age(adata):
    adata.obs["age"] = np.random.default_rng(0).normal(50, 10, adata.n_obs)
    return adata


def _fitted(kind: str, adata):
    if kind == "Classifier":
        return sag.models.Classifier(MLP, ONE_EPOCH).fit(adata, "label", seed=0)
    if kind == "Regressor":
        return sag.models.Regressor(MLP, ONE_EPOCH).fit(_with_age(adata), "age", seed=0)
    return sag.models.ResVAE(VAE, ONE_EPOCH).fit(adata, seed=0)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("kind", ["Classifier", "Regressor", "ResVAE"])
def test_the_same_weights_are_saved_as_the_same_bytes(adata, tmp_path, kind, threads):
    """torch.save named the archive's root folder after the temporary file of the atomic
    write (``.sag-<pid>-<random>/data.pkl``): two saves of one model differed in their bytes
    and in model.json's weights_sha256."""
    sag.settings.n_threads = 1
    model = _fitted(kind, adata)
    cls = getattr(sag.models, kind)
    model.save(tmp_path / "a")
    model.save(tmp_path / "b")
    assert _sha(tmp_path / "a" / "model.pt") == _sha(tmp_path / "b" / "model.pt")
    metas = [json.loads((tmp_path / d / "model.json").read_text()) for d in "ab"]
    assert metas[0]["weights_sha256"] == metas[1]["weights_sha256"]
    assert not list(tmp_path.glob("*/.sag-*"))  # the write is still atomic: nothing left
    loaded = cls.load(tmp_path / "b")
    assert loaded.weights_digest() == model.weights_digest()
    loaded.save(tmp_path / "c")  # loaded and saved again: the same file still
    assert _sha(tmp_path / "c" / "model.pt") == _sha(tmp_path / "a" / "model.pt")


def test_a_model_saved_by_the_earlier_code_still_loads(adata, tmp_path):
    """model.pt written by torch.save to a temporary path (its archive rooted at
    ``.sag-<pid>-<random>``) load as before."""
    model = _fitted("Classifier", adata)
    path = model.save(tmp_path / "m")
    tensors = torch.load(path / "model.pt", weights_only=True)
    old = path / ".sag-123-abcdef01.tmp"
    torch.save(tensors, old)  # a path, as the earlier code saved it
    old.replace(path / "model.pt")
    meta = json.loads((path / "model.json").read_text())
    meta["weights_sha256"] = _sha(path / "model.pt")
    (path / "model.json").write_text(json.dumps(meta))
    loaded = sag.models.Classifier.load(path)
    assert loaded.weights_digest() == model.weights_digest()
    np.testing.assert_array_equal(loaded.predict(adata), model.predict(adata))
