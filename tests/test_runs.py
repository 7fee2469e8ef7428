"""What a run records to be reproduced: the torch thread count it trained on, model files whose
bytes depend on the weights alone, and a search summary that counts its own trials."""

from __future__ import annotations

import hashlib
import json

import anndata as ad
import numpy as np
import optuna
import pandas as pd
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
    ``.sag-<pid>-<random>``) and a model.json without ``n_threads`` load as before."""
    model = _fitted("Classifier", adata)
    path = model.save(tmp_path / "m")
    tensors = torch.load(path / "model.pt", weights_only=True)
    old = path / ".sag-123-abcdef01.tmp"
    torch.save(tensors, old)  # a path, as the earlier code saved it
    old.replace(path / "model.pt")
    meta = json.loads((path / "model.json").read_text())
    del meta["n_threads"]
    meta["weights_sha256"] = _sha(path / "model.pt")
    (path / "model.json").write_text(json.dumps(meta))
    loaded = sag.models.Classifier.load(path)
    assert loaded.n_threads_ is None
    assert loaded.weights_digest() == model.weights_digest()
    np.testing.assert_array_equal(loaded.predict(adata), model.predict(adata))


def test_a_fitted_model_records_its_thread_count(adata, tmp_path, threads):
    """The thread count changes the weights a seed learns: fit records the count it trained
    on, and the saved model keeps it."""
    sag.settings.n_threads = 2
    model = _fitted("Classifier", adata)
    assert model.n_threads_ == 2
    model.save(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "model.json").read_text())["n_threads"] == 2
    assert sag.models.Classifier.load(tmp_path / "m").n_threads_ == 2


def test_a_run_records_its_thread_count(adata, tiny_config, tmp_path, threads):
    """classify records the thread count in uns[key]['params'] (kept by write_h5ad and
    read_h5ad) and in the saved model.json; embed in its own record."""
    sag.settings.n_threads = 1
    cfg = {**tiny_config, "mode": "mlp", "budget": {"n_trials": 1, "time_budget": None}}
    cfg["trainer"] = {"max_epochs": 2, "min_epochs": 1}
    model = sag.tl.classify(adata, "label", config=cfg, model_dir=tmp_path / "m")
    assert model.n_threads_ == 1
    assert json.loads((tmp_path / "m" / "model.json").read_text())["n_threads"] == 1
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    assert int(back.uns["sag"]["params"]["n_threads"]) == 1

    vae = {
        "budget": {"n_trials": 1, "time_budget": None},
        "trainer": {"max_epochs": 2, "min_epochs": 1, "kl_warmup_epochs": 1},
        "space": {"n_layers": [3], "batch_size": [64], "first_width": [32]},
    }
    sag.tl.embed(adata, config=vae, n_latent=3)
    assert int(adata.uns["sag_resvae"]["params"]["n_threads"]) == 1


def _summaries(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("search: ")]


def test_the_summary_counts_this_runs_trials_apart_from_the_others(
    adata, tiny_config, tmp_path, sag_caplog
):
    """Two runs on one storage, then a collecting one: each summary counts the trials it ran
    and says how many came from other processes or earlier runs (never more than there
    are)."""
    cfg = {**tiny_config, "mode": "mlp", "search": {"initial_trials": "none"}}
    cfg["trainer"] = {"max_epochs": 2, "min_epochs": 1}
    url = f"sqlite:///{tmp_path / 's.db'}"
    sag.settings.verbosity = 2
    for n in (2, 1):
        sag.tl.classify(adata.copy(), "label", config=cfg, storage=url, n_trials=n)
    sag.tl.classify(adata.copy(), "label", config=cfg, storage=url, n_trials=0)
    trials = optuna.load_study(study_name="sag-classify", storage=url).trials
    assert all(t.user_attrs["n_threads"] == torch.get_num_threads() for t in trials)
    first, second, collect = _summaries(sag_caplog)
    assert first.startswith("search: 2 trials (2 complete, 0 pruned); best trial")
    assert second.startswith(
        "search: 1 trial of this run (1 complete, 0 pruned) and 2 from other processes or "
        "earlier runs; best trial"
    )
    assert collect.startswith(
        "search: no trial of this run, 3 from other processes or earlier runs; best trial"
    )


def test_the_summary_of_a_worker_among_others():
    """Workers on one study run interleaved trial numbers: a worker counts its own, the
    others' (finished before or while it ran) apart."""
    from scautogenome.search._study import _trials_summary

    table = pd.DataFrame(
        {
            "number": range(7),
            "state": ["complete", "complete", "pruned", "complete", "fail", "complete", "pruned"],
        }
    )
    assert _trials_summary(table, {1, 2, 5}) == (
        "3 trials of this run (2 complete, 1 pruned) and 4 from other processes or earlier runs"
    )
    # failed trials are counted too: the parts add up to the whole
    assert _trials_summary(table, set(range(7))) == "7 trials (4 complete, 2 pruned, 1 failed)"
    assert _trials_summary(table, set()) == (
        "no trial of this run, 7 from other processes or earlier runs"
    )


def test_without_n_threads_training_keeps_the_environments_count(adata, monkeypatch, threads):
    """sag.settings.n_threads None: torch's default, OMP_NUM_THREADS where it is set, is put
    back at every training. scanpy's UMAP had left torch on all cores after
    OMP_NUM_THREADS=1, so that a seed learned other weights in a notebook than in a fresh
    process."""
    sag.settings.n_threads = None
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    torch.set_num_threads(1)
    fresh = _fitted("Classifier", adata)
    torch.set_num_threads(2)  # what sc.tl.umap did
    after_umap = _fitted("Classifier", adata)
    assert after_umap.n_threads_ == fresh.n_threads_ == 1
    assert after_umap.weights_digest() == fresh.weights_digest()
    # MKL_NUM_THREADS wins where both are set, as torch reads them
    monkeypatch.setenv("MKL_NUM_THREADS", "2")
    assert _fitted("Classifier", adata).n_threads_ == 2
    # without either, torch's count is left as it is
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.delenv("MKL_NUM_THREADS")
    torch.set_num_threads(2)
    assert _fitted("Classifier", adata).n_threads_ == 2
