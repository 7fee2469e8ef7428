"""Code paths that differ across the versions pyproject.toml allows, checked on any version:
the older library's behaviour is simulated, so the suite on today's versions still guards the
declared lower bounds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import scautogenome as sag
from scautogenome.data import _prepare
from scautogenome.data._prepare import target_bins


@pytest.fixture
def qcut_of_pandas_2_0(monkeypatch):
    """pd.qcut as pandas 2.0 has it (pandas>=2.0 is allowed): an empty input raises numpy's
    IndexError ("cannot do a non-empty take from an empty axes"); later pandas gives an
    empty result."""
    qcut = pd.qcut

    def old_qcut(x, *args, **kwargs):
        if len(x) == 0:
            raise IndexError("cannot do a non-empty take from an empty axes.")
        return qcut(x, *args, **kwargs)

    monkeypatch.setattr(pd, "qcut", old_qcut)


@pytest.mark.usefixtures("qcut_of_pandas_2_0")
def test_target_bins_of_no_value_are_all_missing():
    """No value to bin (every cell NaN: a split_key whose train part is misspelt) gives -1
    everywhere, without handing pandas an empty series; with groups too."""
    y = np.full(6, np.nan)
    assert target_bins(y).tolist() == [-1] * 6
    groups = np.array(["a", "a", "b", "b", "c", "c"], dtype=object)
    assert target_bins(y, groups=groups).tolist() == [-1] * 6
    # values still binned as before
    y[:3] = [1.0, 2.0, 3.0]
    assert target_bins(y).tolist() == [0, 0, 0, -1, -1, -1]


@pytest.mark.usefixtures("qcut_of_pandas_2_0")
def test_a_misspelt_train_part_of_a_numeric_target_is_named_on_pandas_2_0():
    """A numeric target's split_key without any 'train' cell: the error names the misspelt
    part, as on later pandas, not pandas 2.0's IndexError from binning no value."""
    adata = sag.datasets.synthetic(n_obs=60, n_vars=30, n_classes=2, seed=0)
    adata.obs["age"] = np.arange(60.0)
    adata.obs["part"] = ["Train"] * 50 + ["test"] * 10
    with pytest.raises(ValueError, match="'Train'"):
        _prepare.prepare_labelled(adata, "age", seed=0, task="regression", split_key="part")


def test_a_journal_file_gives_no_experimental_warning_of_optuna_3(tmp_path, monkeypatch):
    """optuna < 4.0 (>=3.5 is allowed) warns "JournalStorage is experimental" on every
    journal file opened; sag silences Optuna's ExperimentalWarning where it knows the API (as
    for the heartbeats), so a user on optuna 3 is not shown it."""
    import warnings

    import optuna

    from scautogenome.search._study import _journal

    journal = optuna.storages.JournalStorage

    def old_journal(*args, **kwargs):
        warnings.warn(
            "JournalStorage is experimental (supported from v3.1.0).",
            optuna.exceptions.ExperimentalWarning,
            stacklevel=2,
        )
        return journal(*args, **kwargs)

    monkeypatch.setattr(optuna.storages, "JournalStorage", old_journal)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        storage = _journal(str(tmp_path / "s.journal"))
    assert isinstance(storage, journal)
