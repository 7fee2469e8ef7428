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
