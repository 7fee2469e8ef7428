"""GPU path: the same code on CUDA (run with ``python -m pytest -m gpu`` on a GPU machine)."""

from __future__ import annotations

import numpy as np
import pytest

import scautogenome as sag

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_classify_on_cuda_then_cpu(adata, tiny_config, tmp_path):
    model = sag.tl.classify(adata, "label", config=tiny_config, device="cuda")
    assert model.device_.type == "cuda"
    assert adata.uns["sag"]["params"]["device"].startswith("cuda")
    assert adata.uns["sag"]["metrics"]["test"]["accuracy"] > 0.8
    model.save(tmp_path / "m")
    cpu = sag.models.Classifier.load(tmp_path / "m", device="cpu")
    # bfloat16 autocast on GPU vs float32 on CPU: same classes, close probabilities
    np.testing.assert_allclose(cpu.predict_proba(adata), adata.obsm["sag_proba"], atol=0.05)
    assert (cpu.predict(adata) == adata.obs["sag_pred"].astype(str).to_numpy()).mean() > 0.97


def test_auto_device_picks_cuda(adata, tiny_config):
    sag.settings.device = "auto"
    model = sag.tl.classify(adata, "label", config=tiny_config)
    assert model.device_.type == "cuda"


# a tiny embed search: 2 trials of a few epochs
TINY_EMBED = {
    "budget": {"n_trials": 2, "time_budget": None},
    "trainer": {"max_epochs": 6, "patience": 3, "min_epochs": 2, "kl_warmup_epochs": 2},
    "search": {"prune_warmup_epochs": 2, "n_startup_trials": 2},
    "space": {"n_layers": [3], "batch_size": [64], "first_width": [128, 64]},
}


def test_embed_on_cuda_then_cpu(adata, tmp_path):
    model = sag.tl.embed(
        adata, config=TINY_EMBED, recon=True, device="cuda", model_dir=tmp_path / "m"
    )
    assert model.device_.type == "cuda"
    assert adata.uns["sag_resvae"]["params"]["device"].startswith("cuda")
    emb = adata.obsm["X_sag_resvae"]
    assert emb.shape == (adata.n_obs, 10)
    assert np.isfinite(emb).all()
    assert np.isfinite(adata.layers["sag_resvae_recon"]).all()
    cpu = sag.models.ResVAE.load(tmp_path / "m", device="cpu")
    # bfloat16 autocast on GPU vs float32 on CPU: the same latent up to rounding
    on_cpu = cpu.get_latent(adata)
    active = emb.std(axis=0) > 0.1
    assert active.any()
    for j in np.flatnonzero(active):
        assert np.corrcoef(on_cpu[:, j], emb[:, j])[0, 1] > 0.99


def test_embed_on_cuda_is_deterministic(adata):
    other = adata.copy()
    sag.tl.embed(adata, config=TINY_EMBED, seed=3, device="cuda")
    sag.tl.embed(other, config=TINY_EMBED, seed=3, device="cuda")
    np.testing.assert_array_equal(adata.obsm["X_sag_resvae"], other.obsm["X_sag_resvae"])
