"""Shared fixtures: tiny seeded synthetic AnnData, scanpy's bundled PBMCs, ../shared/data."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

import scautogenome as sag

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# a search budget small enough for CI (2 CPU cores), big enough to learn the synthetic classes
TINY = {"n_trials": 3, "time_budget": None}
TINY_CONFIG = {
    "budget": {"n_trials": 3, "time_budget": None},
    "trainer": {"max_epochs": 15, "patience": 4, "min_epochs": 2},
    "space": {
        "common": {
            "batch_size": [64],
            "lr": {"type": "float", "low": 1e-3, "high": 5e-3, "log": True},
        }
    },
}


@pytest.fixture(autouse=True)
def _quiet_and_seeded():
    """sag's settings of the suite, and torch's generator seeded: tests that build a network
    themselves draw the same weights whichever tests ran before (an order-dependence run
    found weights that depended on it)."""
    import torch

    sag.settings.verbosity = 1
    sag.settings.progress_bar = False
    sag.settings.seed = 0
    sag.settings.device = "cpu"
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _close_figures():
    """Figures a test leaves open (``show=False`` returns them open, as matplotlib and scanpy
    do) closed after it, so that none carries into the next test."""
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one CPU thread for a module's tests (``pytestmark``): the test machine has 2
    cores shared by several processes, where torch's OpenMP threads spin against each other
    (10-40x slower). The count is given back after the module."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def sag_caplog(caplog):
    """``caplog`` receiving sag's log records from INFO up (sag's logger does not propagate
    to the root logger, where caplog listens)."""
    from scautogenome._settings import logger

    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level("INFO", logger=logger.name):
            yield caplog
    finally:
        logger.removeHandler(caplog.handler)


@pytest.fixture
def python_sigint():
    """Ctrl-C raising KeyboardInterrupt, as Python sets it up at start, for the test: a test
    run started in the background of a shell inherits SIGINT ignored, and the search leaves
    an ignored signal ignored."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture
def tiny_config():
    """A tiny search configuration (3 short trials) for tests."""
    import copy

    return copy.deepcopy(TINY_CONFIG)


@pytest.fixture
def adata():
    """300 cells x 200 genes, 3 classes, Poisson counts, CSR."""
    return sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0)


@pytest.fixture(scope="session")
def pbmc():
    """scanpy's bundled pbmc68k_reduced (700 cells, 765 genes, 10 labels), log-normalized."""
    return sag.datasets.pbmc68k_reduced()


def shared_dataset(name: str):
    """Load ../shared/data/NAME.h5ad or skip the test when it is not there."""
    path = SHARED_DATA / f"{name}.h5ad"
    if not path.exists():
        pytest.skip(f"{path} not available")
    import anndata as ad

    return ad.read_h5ad(path)


def assert_random_state_kept(monkeypatch, patched, calls: dict) -> None:
    """Each of ``calls`` (name -> a call of sag) leaves Python's random state as it was,
    although what it calls first (``patched``: ``(module, attribute)`` pairs) draws from it,
    as a library's import may (sklearn.metrics's rich does), and then stops the call."""
    import random

    class Drew(Exception):
        pass

    def draws(*args, **kwargs):
        random.getrandbits(24)
        raise Drew

    for module, attribute in patched:
        monkeypatch.setattr(module, attribute, draws)
    for name, call in calls.items():
        random.seed(123)
        expected = random.random()
        random.seed(123)
        with pytest.raises(Drew):
            call()
        assert random.random() == expected, name


def has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        return False


def one_float_search(cfg: dict, train, **kw):
    """``run_study`` of a search of one float ``x`` (0-1), maximized, in a study named "t",
    with a stand-in network: the storage, seeding and bookkeeping of a search without its
    training, which ``train(net, params, seed, report, deadline, stop_after=None)`` fakes."""
    import torch

    from scautogenome.search._study import run_study

    return run_study(
        cfg,
        sample=lambda trial: ({"kind": "mlp"}, {"x": trial.suggest_float("x", 0, 1)}),
        build=lambda arch: torch.nn.Linear(2, 2),
        train=train,
        direction="maximize",
        value_of=lambda res: res.value,
        study_name="t",
        **kw,
    )


def adata_state(adata) -> dict:
    """A deep copy of what the tools write into ``adata``: obs, obsm, uns, layers and varm."""
    import copy

    return {
        "obs": adata.obs.copy(deep=True),
        "obsm": {k: copy.deepcopy(v) for k, v in adata.obsm.items()},
        "layers": {k: copy.deepcopy(v) for k, v in adata.layers.items()},
        "varm": {k: copy.deepcopy(v) for k, v in adata.varm.items()},
        "uns": copy.deepcopy(dict(adata.uns)),
    }


def _assert_same(now, before, where: str) -> None:
    import numpy as np
    import pandas as pd
    from scipy import sparse

    if isinstance(before, dict):
        assert isinstance(now, dict), where
        assert list(now) == list(before), where  # the same keys, in the same order
        for key in before:
            _assert_same(now[key], before[key], f"{where}[{key!r}]")
    elif isinstance(before, pd.DataFrame):
        pd.testing.assert_frame_equal(now, before, obj=where)
    elif sparse.issparse(before):
        assert sparse.issparse(now), where
        assert now.shape == before.shape, where
        assert (now != before).nnz == 0, where
    elif isinstance(before, (np.ndarray, list, tuple)):
        assert type(now) is type(before), where
        np.testing.assert_array_equal(np.asarray(now), np.asarray(before), err_msg=where)
        assert np.asarray(now).dtype == np.asarray(before).dtype, where
    else:
        assert type(now) is type(before), where
        assert now == before or now != now, where  # NaN too


def assert_adata_state(adata, before: dict) -> None:
    """``adata`` holds what :func:`adata_state` copied (``before``): nothing written, removed
    or replaced since."""
    _assert_same(adata_state(adata), before, "adata")


def interrupt_uns_record(monkeypatch, module) -> None:
    """Ctrl-C (KeyboardInterrupt) as a tool's ``uns`` record is made h5ad-safe: the
    ``h5ad_safe`` of the tool's ``module`` and of the tools' shared helpers, whichever the tool
    calls. Nothing else calls it, so the interrupt comes once the results are computed."""
    from scautogenome.tools import _utils

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    for where in (module, _utils):
        monkeypatch.setattr(where, "h5ad_safe", interrupted, raising=False)


def contrast(a, b) -> float:
    """WCAG's contrast ratio of two matplotlib colours (1: none, 21: black on white)."""
    import numpy as np

    def luminance(color) -> float:
        rgb = np.asarray(matplotlib.colors.to_rgb(color))
        linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
        return float(linear @ [0.2126, 0.7152, 0.0722])

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)
