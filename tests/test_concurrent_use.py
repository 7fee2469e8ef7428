"""Concurrent and interleaved use inside one process: threads serving one trained model
(the README promises serial results for ``predict_proba``, ``sag.tl.predict`` and
``sag.tl.explain(method="fast")``), two models alive at once, one AnnData written by several
calls, and the global state (random generators, settings, loggers) a call leaves behind."""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

import scautogenome as sag

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ARCH = {"kind": "mlp", "units": [8]}
TRAIN = {"max_epochs": 2, "batch_size": 64}
SEARCH = {
    "budget": {"n_trials": 1, "time_budget": None},
    "trainer": {"max_epochs": 2, "patience": 2, "min_epochs": 1},
    "space": {"mlp": {"n_layers": [1], "units": [8]}, "common": {"batch_size": [64]}},
}
EXPLAIN = {"cells": "all", "n_explain": 20, "nsamples": 8, "n_background": 8}


@pytest.fixture(scope="module")
def data():
    return sag.datasets.synthetic(n_obs=200, n_vars=60, n_classes=3, seed=1)


@pytest.fixture(scope="module")
def models(data):
    """Two classifiers of other seeds, both alive (fit without search: seconds)."""
    sag.settings.verbosity = 1
    sag.settings.progress_bar = False
    sag.settings.device = "cpu"
    a = sag.models.Classifier(ARCH, TRAIN).fit(data, "label", seed=0)
    b = sag.models.Classifier(ARCH, TRAIN).fit(data, "label", seed=1)
    return a, b


def _while_another_thread_draws(draw, work) -> list:
    """What ``draw()`` returns, called again and again in another thread while ``work()`` runs
    here (at least a few draws before and after it)."""
    drawn, stop = [], threading.Event()

    def drawer():
        while not stop.is_set():
            drawn.append(draw())
            time.sleep(0.0005)

    thread = threading.Thread(target=drawer)
    thread.start()
    try:
        time.sleep(0.01)
        work()
        time.sleep(0.01)
    finally:
        stop.set()
        thread.join()
    return drawn


# ------------------------------------------------------------ one model serving threads


def test_predict_proba_predict_and_fast_explain_from_threads_give_the_serial_results(data, models):
    a, b = models
    serial = {}
    for name, model in (("a", a), ("b", b)):
        ad = data.copy()
        sag.tl.predict(ad, model, key_added=name)
        sag.tl.explain(ad, model, key_added=f"{name}_shap", seed=3, **EXPLAIN)
        serial[name] = (model.predict_proba(data), ad)

    def job(i):
        name, model = (("a", a), ("b", b))[i % 2]
        ad = data.copy()
        sag.tl.predict(ad, model, key_added=name)
        sag.tl.explain(ad, model, key_added=f"{name}_shap", seed=3, **EXPLAIN)
        return name, model.predict_proba(data), ad

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(job, range(6)))
    for name, proba, ad in results:
        proba0, ad0 = serial[name]
        np.testing.assert_array_equal(proba, proba0)
        assert ad.obs[f"{name}_pred"].equals(ad0.obs[f"{name}_pred"])
        np.testing.assert_array_equal(ad.varm[f"{name}_shap"], ad0.varm[f"{name}_shap"])


def test_two_predicts_in_threads_on_one_anndata_keep_both_records(data, models):
    a, b = models
    serial = data.copy()
    sag.tl.predict(serial, a, key_added="a")
    sag.tl.predict(serial, b, key_added="b")
    shared = data.copy()
    with ThreadPoolExecutor(2) as pool:
        list(
            pool.map(
                lambda mk: sag.tl.predict(shared, mk[0], key_added=mk[1]), [(a, "a"), (b, "b")]
            )
        )
    assert sorted(shared.obs.columns) == sorted(serial.obs.columns)
    for column in serial.obs.columns:
        assert shared.obs[column].equals(serial.obs[column]), column
    assert sorted(shared.uns) == sorted(serial.uns) == ["a", "b"]
    assert shared.uns["a"]["model_digest"] != shared.uns["b"]["model_digest"]


def test_fast_explain_in_a_thread_does_not_rewind_another_threads_torch_draws(data, models):
    a, _ = models
    ad = data.copy()
    sag.tl.explain(ad, a, **EXPLAIN)  # imports done, as in a warm service

    def work():
        for _ in range(5):
            sag.tl.explain(ad, a, **EXPLAIN)

    drawn = _while_another_thread_draws(lambda: float(torch.rand(1)), work)
    assert len(set(drawn)) == len(drawn), f"{len(drawn) - len(set(drawn))} repeated draws"


def test_loading_a_model_in_a_thread_does_not_rewind_another_threads_torch_draws(
    data, models, tmp_path
):
    """A service loading models in a worker thread: the torch draws of another thread go on
    as they would without the loads (none drawn twice), and a load draws nothing itself."""
    a, _ = models
    a.save(tmp_path / "a")
    sag.models.Classifier.load(tmp_path / "a")  # imports done, as in a warm service

    def work():
        for _ in range(10):
            sag.models.Classifier.load(tmp_path / "a")

    drawn = _while_another_thread_draws(lambda: float(torch.rand(1)), work)
    assert len(set(drawn)) == len(drawn), f"{len(drawn) - len(set(drawn))} repeated draws"
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    calls = []
    real = torch.set_rng_state
    torch.set_rng_state = lambda state: calls.append(state) or real(state)
    try:
        sag.models.Classifier.load(tmp_path / "a")
    finally:
        torch.set_rng_state = real
    assert not calls, "load set torch's generator state"
    torch.testing.assert_close(torch.rand(3), expected)


def test_predict_in_a_worker_thread_does_not_rewind_another_threads_python_draws(data, models):
    """A model serving threads: tl.predict in a pool's thread, random.random() in another."""
    a, _ = models
    ad = data.copy()
    sag.tl.predict(ad, a)

    def work():
        with ThreadPoolExecutor(1) as pool:
            for _ in range(5):
                pool.submit(sag.tl.predict, ad, a).result()

    drawn = _while_another_thread_draws(random.random, work)
    assert len(set(drawn)) == len(drawn), f"{len(drawn) - len(set(drawn))} repeated draws"


def test_a_tool_in_the_main_thread_still_gives_pythons_random_state_back(data, models, monkeypatch):
    """What keep_python_rng is for (a first import that draws) still holds in the main
    thread: a draw made inside the call is undone."""
    from scautogenome.tools import _predict

    a, _ = models
    real = _predict.check_key_added

    def draws(*args, **kwargs):
        random.getrandbits(24)
        return real(*args, **kwargs)

    monkeypatch.setattr(_predict, "check_key_added", draws)
    random.seed(11)
    expected = random.random()
    random.seed(11)
    sag.tl.predict(data.copy(), a)
    assert random.random() == expected


# ------------------------------------------------------------ two models alive at once


def test_a_second_model_changes_nothing_of_the_first(data, models, tmp_path):
    a, _ = models
    before = a.predict_proba(data)
    a.save(tmp_path / "a1")
    c = sag.models.Classifier(ARCH, TRAIN).fit(data, "label", seed=2)
    sag.tl.predict(data.copy(), c)
    np.testing.assert_array_equal(a.predict_proba(data), before)
    a.save(tmp_path / "a2")
    assert (tmp_path / "a1" / "model.pt").read_bytes() == (
        tmp_path / "a2" / "model.pt"
    ).read_bytes()
    del c  # a freed model's id reused by the next one reaches no cache of the first's
    d = sag.models.Classifier(ARCH, TRAIN).fit(data, "label", seed=0)
    np.testing.assert_array_equal(d.predict_proba(data), before)
    np.testing.assert_array_equal(
        sag.models.Classifier.load(tmp_path / "a2").predict_proba(data), before
    )


def test_a_seed_gives_the_same_model_before_and_after_other_work(data, models):
    """Interleaved work (another fit, a search, explain) changes no seeded result."""
    a, _ = models
    ad = data.copy()
    sag.tl.classify(ad, "label", config=SEARCH, seed=4, key_added="x")
    sag.tl.explain(ad, a, **EXPLAIN)
    again = sag.models.Classifier(ARCH, TRAIN).fit(data, "label", seed=0)
    np.testing.assert_array_equal(again.predict_proba(data), a.predict_proba(data))


def test_two_classify_runs_on_one_anndata_keep_their_own_records(data):
    ad = data.copy()
    ma = sag.tl.classify(ad, "label", config=SEARCH, seed=0, key_added="a")
    pred_a = ad.obs["a_pred"].copy()
    record_a = dict(ad.uns["a"])
    sag.tl.classify(ad, "label", config=SEARCH, seed=1, key_added="b")
    assert ad.obs["a_pred"].equals(pred_a)
    assert ad.uns["a"]["model_digest"] == record_a["model_digest"]
    assert ad.uns["a"]["params"]["seed"] == 0
    assert ad.uns["b"]["params"]["seed"] == 1
    # explain of the first run, after the second: it reads the first's record
    sag.tl.explain(ad, ma, classify_key="a", key_added="a_shap", **EXPLAIN)
    assert "a_shap" in ad.varm


# ------------------------------------------------------------ global state left behind


def _global_state() -> dict:
    import scanpy as sc

    return {
        "numpy": np.random.get_state()[1].tobytes(),  # noqa: NPY002 - the user's global one
        "torch": torch.get_rng_state().numpy().tobytes(),
        "python": random.getstate(),
        "threads": torch.get_num_threads(),
        "grad": torch.is_grad_enabled(),
        "dtype": torch.get_default_dtype(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "scanpy": sc.settings.verbosity,
        "optuna": logging.getLogger("optuna").level,
        "sag": logging.getLogger("scautogenome").level,
    }


def test_calls_leave_the_callers_generators_and_settings_as_they_were(data, models):
    a, _ = models
    ad = data.copy()
    sag.tl.classify(ad, "label", config=SEARCH, seed=0)  # first imports done
    np.random.seed(7)  # noqa: NPY002 - the user's global generator
    random.seed(7)
    torch.manual_seed(7)
    before = _global_state()
    sag.tl.classify(ad, "label", config=SEARCH, seed=0)
    sag.tl.predict(ad, a, key_added="p")
    sag.tl.explain(ad, a, **EXPLAIN)
    sag.tl.explain(ad, a, method="shap", key_added="shap2", **EXPLAIN)
    sag.models.Classifier(ARCH, TRAIN).fit(data, "label", seed=5)
    assert _global_state() == before
    with pytest.raises(KeyError):
        sag.tl.classify(ad, "no such column", config=SEARCH)
    assert _global_state() == before


# ------------------------------------------------------------ seeded calls in two threads


def test_a_fit_while_another_thread_trains_warns_that_seeds_do_not_reproduce(
    data, sag_caplog, monkeypatch
):
    from scautogenome.models import _base

    real, inside, release = _base.BaseModel._fit_setup, threading.Event(), threading.Event()
    main = threading.get_ident()

    def held(self, *args, **kwargs):  # the other thread's fit waits inside its training
        out = real(self, *args, **kwargs)
        if threading.get_ident() != main:
            inside.set()
            release.wait(60)
        return out

    monkeypatch.setattr(_base.BaseModel, "_fit_setup", held)
    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(sag.models.Classifier(ARCH, TRAIN).fit, data, "label", seed=1)
        try:
            assert inside.wait(60)
            sag.models.Classifier(ARCH, TRAIN).fit(data, "label", seed=0)
        finally:
            release.set()
        other.result()
    assert "Another thread is running a sag call" in sag_caplog.text


def test_models_loaded_in_threads_give_the_serial_predictions_without_a_warning(
    data, models, tmp_path, sag_caplog
):
    a, b = models
    a.save(tmp_path / "a")
    b.save(tmp_path / "b")
    serial = {n: m.predict_proba(data) for n, m in (("a", a), ("b", b))}

    def job(i):
        name = "ab"[i % 2]
        return name, sag.models.Classifier.load(tmp_path / name).predict_proba(data)

    with ThreadPoolExecutor(4) as pool:
        for name, proba in pool.map(job, range(8)):
            np.testing.assert_array_equal(proba, serial[name])
    assert "Another thread" not in sag_caplog.text
