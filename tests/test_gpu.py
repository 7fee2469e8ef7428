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


def test_regression_on_cuda_then_cpu(adata, tiny_config, tmp_path):
    """A numeric target far from 0 (years): the Regressor predicts in float32 on the GPU, so
    its values match the CPU's to float32 precision, not bfloat16's multiples of 8."""
    from test_regression import with_target

    adata = with_target(adata)
    adata.obs["year"] = 1930 + adata.obs["age"]
    model = sag.tl.classify(adata, "year", config=tiny_config, device="cuda")
    assert isinstance(model, sag.models.Regressor)
    assert adata.uns["sag"]["metrics"]["test"]["r2"] > 0.6
    model.save(tmp_path / "m")
    cpu = sag.models.Regressor.load(tmp_path / "m", device="cpu")
    np.testing.assert_allclose(cpu.predict(adata), adata.obs["sag_pred"], rtol=0, atol=0.05)


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


def test_the_gpu_generators_are_left_as_they_were(adata, tiny_config):
    """On a GPU machine the tools give back CUDA's random state too: restored when CUDA was in
    use before the call, and seeded back to the user's seed when the call started it (a fresh
    process, so that CUDA starts inside the call)."""
    import subprocess
    import sys

    code = (
        "import torch, scautogenome as sag\n"
        "a = sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0)\n"
        "cfg = {'budget': {'n_trials': 1, 'time_budget': None}, 'trainer': {'max_epochs': 2}}\n"
        "torch.manual_seed(7)\n"
        "sag.tl.classify(a, 'label', config=cfg, device='cuda')\n"
        "got = torch.rand(3, device='cuda').cpu()\n"
        "torch.manual_seed(7)\n"
        "print(torch.equal(got, torch.rand(3, device='cuda').cpu()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("True")
    torch.manual_seed(11)
    expected = torch.rand(3, device="cuda")
    torch.manual_seed(11)
    sag.tl.classify(adata, "label", config=tiny_config, device="cuda")
    assert torch.equal(torch.rand(3, device="cuda"), expected)
