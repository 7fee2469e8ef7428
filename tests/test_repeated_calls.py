"""Repeated calls in one process, as a notebook re-runs a cell: the tools, plots, report and
Model.save/load leave no figures, open files, threads, log handlers, progress bars or networks
behind once their results are dropped (counts, not memory: the machine is shared)."""

from __future__ import annotations

import gc
import logging
import os
import threading
import weakref

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure

import scautogenome as sag

MINI = {
    "budget": {"n_trials": 1, "time_budget": None},
    "trainer": {"max_epochs": 2, "patience": 2, "min_epochs": 1},
    "space": {
        "mlp": {"n_layers": [1], "units": [16]},
        "common": {"batch_size": [64], "lr": {"type": "float", "low": 1e-3, "high": 5e-3}},
    },
}
EMBED = {
    "budget": {"n_trials": 1, "time_budget": None},
    "trainer": {"max_epochs": 2, "patience": 2, "min_epochs": 1, "kl_warmup_epochs": 1},
    "search": {"prune_warmup_epochs": 1, "n_startup_trials": 1},
    "space": {"n_layers": [3], "batch_size": [64], "first_width": [64]},
}
FDS = "/proc/self/fd"


pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.skipif(not os.path.isdir(FDS), reason="counts open files in /proc/self/fd"),
]


@pytest.fixture(scope="module")
def annotated():
    """Synthetic data through classify, explain and embed (what every plot and the report
    read), with the Classifier classify returned."""
    sag.settings.verbosity = 1
    sag.settings.progress_bar = False
    sag.settings.device = "cpu"
    adata = sag.datasets.synthetic(n_obs=240, n_vars=120, n_classes=4, seed=1)
    model = sag.tl.classify(adata, "label", mode="mlp", config=MINI, seed=0)
    sag.tl.explain(adata, model, n_explain=20, nsamples=10, n_background=10)
    sag.tl.embed(adata, config=EMBED, seed=0)
    sag.pl.embedding(adata, show=False)  # its neighbors and UMAP, computed once here
    plt.close("all")
    return adata, model


def _live(kind) -> int:
    """Live objects of ``kind`` (by their classes: ``isinstance`` on every object warns of
    deprecated torch attributes)."""
    gc.collect()
    return sum(kind in type(o).__mro__ for o in gc.get_objects())


def _handlers() -> int:
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]
    return sum(len(lg.handlers) for lg in [logging.root, *loggers])


def _open_fds() -> int:
    return len(os.listdir(FDS))


def _resources() -> dict:
    gc.collect()  # an earlier test's garbage closing its files meanwhile is no change of ours
    return {
        "threads": threading.active_count(),
        "handlers": _handlers(),
        "sag_handlers": len(logging.getLogger("scautogenome").handlers),
        "fds": _open_fds() if os.path.isdir(FDS) else None,
    }


def test_repeated_classify_and_predict_leave_no_network_handler_or_thread(annotated):
    """classify and predict re-run on the same AnnData and key: once the models they return
    are dropped no network stays alive, and no log handler, thread or open file is added per
    call (a handler a call adds and keeps logs each message once more at every later call)."""
    adata, model = annotated
    data = adata.copy()
    sag.tl.classify(data, "label", mode="mlp", config=MINI, seed=0)  # first-call imports
    sag.tl.predict(data, model)
    before, modules = _resources(), _live(torch.nn.Module)
    for _ in range(4):
        sag.tl.classify(data, "label", mode="mlp", config=MINI, seed=0)
        sag.tl.predict(data, model)
    assert _resources() == before
    assert _live(torch.nn.Module) == modules


@pytest.mark.skipif(not os.path.isdir(FDS), reason="open files counted in /proc/self/fd")
@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_repeated_searches_on_a_storage_close_their_files_and_threads(kind, tmp_path):
    """classify re-run on an SQLite or journal storage (a new study each time, and the same
    study again): its connections, file handles and heartbeat threads end with the call."""
    adata = sag.datasets.synthetic(n_obs=120, n_vars=40, n_classes=3, seed=0)
    storage = f"sqlite:///{tmp_path / 's.db'}" if kind == "sqlite" else str(tmp_path / "s.log")

    def run(name):
        sag.tl.classify(adata, "label", mode="mlp", config=MINI, seed=0, storage=storage,
                        study_name=name)  # fmt: skip

    run("first")
    gc.collect()
    before = _resources()
    for i in range(4):
        run(f"s{i}")
    run("first")  # the same study again: collected and searched on
    gc.collect()
    assert _resources() == before


def _plots(adata) -> None:
    first = adata.obs["label"].cat.categories[0]
    sag.pl.confusion_matrix(adata, show=False)
    sag.pl.search_history(adata, show=False)
    sag.pl.architecture(adata, show=False)
    sag.pl.importance(adata, show=False)
    sag.pl.shap_summary(adata, group=first, show=False)
    sag.pl.embedding(adata, color="label", show=False)


def test_plots_keep_no_figure_alive_after_plt_close(annotated, monkeypatch):
    """Every sag.pl plot (show=False), left open over several re-runs as matplotlib lets one,
    then ``plt.close('all')``: no figure is kept alive by sag (a reference of its own would
    keep each re-run's figures in memory)."""
    adata, _ = annotated
    made: list[weakref.ref] = []
    init = Figure.__init__

    def tracked(self, *args, **kwargs):
        init(self, *args, **kwargs)
        made.append(weakref.ref(self))

    monkeypatch.setattr(Figure, "__init__", tracked)
    plt.close("all")
    for _ in range(2):
        _plots(adata)
    assert len(plt.get_fignums()) == 2 * 6  # left open: pyplot holds them
    plt.close("all")
    gc.collect()
    assert len(made) >= 2 * 6
    assert [ref for ref in made if ref() is not None] == []


def test_repeated_report_leaves_no_figure_or_file_open(annotated, tmp_path):
    """write_report re-run: the figures it renders are closed and freed, its file closed."""
    adata, _ = annotated
    sag.io.write_report(adata, tmp_path / "r.html")
    before, figures, fignums = _resources(), _live(Figure), plt.get_fignums()
    for i in range(2):
        sag.io.write_report(adata, tmp_path / f"r{i}.html")
    assert plt.get_fignums() == fignums
    assert _live(Figure) == figures
    assert _resources() == before


def test_repeated_save_and_load_leave_no_file_or_network(annotated, tmp_path):
    """Model.save and load re-run: their files are closed, and the loaded models' networks
    freed once the models are dropped."""
    _, model = annotated
    path = tmp_path / "m"
    model.save(path, overwrite=True)
    type(model).load(path)
    before, modules = _resources(), _live(torch.nn.Module)
    for _ in range(5):
        model.save(path, overwrite=True)
        type(model).load(path)
    assert _resources() == before
    assert _live(torch.nn.Module) == modules


def test_repeated_embed_encode_explain_scores_leave_nothing_behind(annotated):
    """embed, encode, explain and embedding_scores re-run on the same AnnData and keys: no
    network, handler, thread or open file is left per call."""
    adata, model = annotated
    data = adata.copy()
    vae = sag.tl.embed(data, config=EMBED, seed=0, key_added="again")

    def once():
        sag.tl.embed(data, config=EMBED, seed=0, key_added="again")
        sag.tl.encode(data, vae, key_added="again")
        sag.tl.explain(data, model, n_explain=10, nsamples=5, n_background=5, key_added="x")
        sag.tl.embedding_scores(data, "X_again", "label", tsne=False)

    once()
    before, modules = _resources(), _live(torch.nn.Module)
    for _ in range(3):
        once()
    assert _resources() == before
    assert _live(torch.nn.Module) == modules


def test_progress_bars_are_closed_after_each_call(annotated, monkeypatch):
    """With progress bars shown, every bar classify and explain open is closed by the end of
    the call (an open bar stays in tqdm's set of bars and holds its stream)."""
    from tqdm import tqdm

    from scautogenome import _logging

    adata, model = annotated
    data = adata.copy()
    bars: list = []
    init = _logging.SafeBar.__init__

    def tracked(self, *args, **kwargs):
        init(self, *args, **kwargs)
        bars.append(self)

    monkeypatch.setattr(_logging.SafeBar, "__init__", tracked)
    monkeypatch.setattr(sag.settings, "verbosity", 2)
    monkeypatch.setattr(sag.settings, "progress_bar", True)
    for _ in range(2):
        sag.tl.classify(data, "label", mode="mlp", config=MINI, seed=0)
        sag.tl.explain(data, model, n_explain=10, nsamples=5, n_background=5)
    assert len(bars) >= 4
    assert [bar.desc for bar in bars if not bar.disable] == []  # tqdm's close disables a bar
    assert not set(map(id, bars)) & set(map(id, getattr(tqdm, "_instances", ())))
