"""What pins ``sag.settings`` (seed, device, verbosity, progress bars, threads), sag's logging
and progress bars, the package's small utilities (checks, digests, atomic writes, messages)
and ``sag.datasets``."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

import scautogenome as sag
from scautogenome import _logging, _utils
from scautogenome._settings import (
    MAX_SEED,
    check_device,
    keep_python_rng,
    keep_torch_rng,
    keep_torch_threads,
    logger,
    resolve_seed,
)


@pytest.fixture
def torch_threads():
    """Torch's thread count and ``settings.n_threads`` put back after the test."""
    before, setting = torch.get_num_threads(), sag.settings.n_threads
    try:
        yield before
    finally:
        sag.settings._n_threads = setting
        torch.set_num_threads(before)


# ---------------------------------------------------------------------------- settings


def test_n_threads_sets_torchs_thread_count_and_warns_only_above_the_cpus(
    torch_threads, sag_caplog
):
    # the CPUs this process may run on, as a job's allotment
    n_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(2 if torch_threads == 1 else 1)
    sag.settings.n_threads = torch_threads
    assert torch.get_num_threads() == torch_threads
    assert sag.settings.n_threads == torch_threads
    sag.settings.n_threads = n_cpus  # as many as there are CPUs: no warning
    assert not [r for r in sag_caplog.records if "more than the" in r.getMessage()]
    sag.settings.n_threads = n_cpus + 1
    (warned,) = [r for r in sag_caplog.records if "more than the" in r.getMessage()]
    assert warned.levelno == logging.WARNING
    assert f"n_threads={n_cpus + 1} is more than the {n_cpus} CPUs this process may use" in (
        warned.getMessage()
    )


def test_without_n_threads_a_training_takes_the_environments_thread_count(
    torch_threads, monkeypatch
):
    """With ``n_threads=None`` torch is set to ``MKL_NUM_THREADS`` (before
    ``OMP_NUM_THREADS``), as torch itself reads them; a count that is no positive whole
    number is passed over, and with neither, torch's count is left as it is."""
    sag.settings.n_threads = None
    monkeypatch.setenv("MKL_NUM_THREADS", "2")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    sag.settings.apply_n_threads()
    assert torch.get_num_threads() == 2
    for bad in ("0", " x ", ""):
        monkeypatch.setenv("MKL_NUM_THREADS", bad)
        torch.set_num_threads(2)
        sag.settings.apply_n_threads()
        assert torch.get_num_threads() == 1, bad
    monkeypatch.delenv("MKL_NUM_THREADS")
    monkeypatch.delenv("OMP_NUM_THREADS")
    torch.set_num_threads(2)
    sag.settings.apply_n_threads()
    assert torch.get_num_threads() == 2
    # a count set wins over the environment's
    monkeypatch.setenv("MKL_NUM_THREADS", "2")
    sag.settings.n_threads = 1
    torch.set_num_threads(2)
    sag.settings.apply_n_threads()
    assert torch.get_num_threads() == 1


def test_verbosity_by_name_in_any_case_and_its_levels(capfd):
    for name, level in (("ERROR", 0), ("Warning", 1), ("info", 2), ("DEBUG", 3), ("debug", 3)):
        sag.settings.verbosity = name
        assert sag.settings.verbosity == level, name
    with pytest.raises(ValueError, match=r"verbosity='loud' is not one of"):
        sag.settings.verbosity = "loud"
    for bad in (4, -1, 2.5):
        with pytest.raises(ValueError, match=r"must be 0 \(errors\) to 3 \(debug\)"):
            sag.settings.verbosity = bad
    capfd.readouterr()
    shown = {}
    for verbosity in range(4):
        sag.settings.verbosity = verbosity
        logger.debug("a debug line")
        logger.info("an info line")
        logger.warning("a warning")
        logger.error("an error")
        shown[verbosity] = capfd.readouterr().err.splitlines()
    assert shown[0] == ["ERROR: an error"]
    assert shown[1] == ["WARNING: a warning", "ERROR: an error"]
    assert shown[2] == ["an info line", "WARNING: a warning", "ERROR: an error"]
    assert shown[3] == ["a debug line", "an info line", "WARNING: a warning", "ERROR: an error"]


def test_sags_log_lines_are_not_written_twice_through_the_root_logger():
    """sag writes its own lines; the root logger (a ``logging.basicConfig`` of the user's)
    does not receive them again."""
    received = []

    class Keep(logging.Handler):
        def emit(self, record):
            received.append(record)

    root = logging.getLogger()
    handler = Keep(logging.DEBUG)
    root.addHandler(handler)
    try:
        sag.settings.verbosity = 2
        logger.warning("once")
    finally:
        root.removeHandler(handler)
    assert received == []


def test_progress_bars_show_at_info_or_more_with_progress_bar_on():
    sag.settings.progress_bar = True
    sag.settings.verbosity = 2
    assert sag.settings.show_progress is True
    sag.settings.verbosity = 3
    assert sag.settings.show_progress is True
    sag.settings.verbosity = 1
    assert sag.settings.show_progress is False
    sag.settings.verbosity = 2
    sag.settings.progress_bar = False
    assert sag.settings.show_progress is False
    sag.settings.progress_bar = np.bool_(True)  # numpy's bools are bools
    assert sag.settings.progress_bar is True


def test_the_repr_of_settings_names_each_setting():
    sag.settings.seed = 5
    text = repr(sag.settings)
    assert "seed=5" in text
    assert "device='cpu'" in text
    assert "verbosity=1" in text
    assert "progress_bar=False" in text
    assert "n_threads=" in text


def test_a_device_is_named_whole():
    for good in ("auto", "cpu", "cuda", "cuda:0", "cuda:12", "mps"):
        assert check_device(good) == good
    named = check_device(torch.device("cuda", 1))
    assert named == "cuda:1"
    assert type(named) is str
    for bad in ("cuda:", "cpu2", "cuda:0x", "gpu", "CUDA", " cpu", "auto:0", "cuda:-1"):
        with pytest.raises(ValueError, match="must be 'auto', 'cpu', 'cuda'"):
            check_device(bad)


def test_a_seed_is_a_whole_number_below_2_to_the_32():
    assert MAX_SEED == 2**32 - 1
    assert resolve_seed(2**32 - 1) == 2**32 - 1
    assert resolve_seed(0) == 0
    assert type(resolve_seed(np.uint32(3))) is int
    with pytest.raises(ValueError, match=r"seed=4294967296 must be between 0 and 4294967295"):
        resolve_seed(2**32)
    for bad in (True, False, 1.0, "1"):
        with pytest.raises(TypeError, match="must be an integer"):
            resolve_seed(bad)
    sag.settings.seed = 5
    assert resolve_seed(None) == 5  # the default seed
    sag.settings.seed = 0


def test_keep_torch_threads_gives_torch_its_thread_count_back(torch_threads):
    torch.set_num_threads(1)
    with keep_torch_threads():
        torch.set_num_threads(2)
    assert torch.get_num_threads() == 1

    @keep_torch_threads()
    def resets():
        torch.set_num_threads(2)

    resets()
    assert torch.get_num_threads() == 1


def test_keep_python_rng_and_keep_torch_rng_leave_the_users_draws_as_they_were():
    import random

    random.seed(3)
    expected = random.random()
    random.seed(3)
    with keep_python_rng():
        random.seed(99)
        random.random()
    assert random.random() == expected
    torch.manual_seed(3)
    expected = torch.rand(2)
    torch.manual_seed(3)
    with keep_torch_rng():
        torch.manual_seed(99)
        torch.rand(5)
    assert torch.equal(torch.rand(2), expected)


# ----------------------------------------------------------------------------- logging


def test_a_duration_is_rounded_to_the_nearest_second():
    assert _logging.elapsed(time.perf_counter() - 2.7) == "0:00:03"
    assert _logging.elapsed(time.perf_counter() - 3601.2) == "1:00:01"


def test_scanpy_quiet_holds_scanpys_lines_back_for_the_block_only():
    import scanpy as sc

    before = sc.settings.verbosity
    try:
        sc.settings.verbosity = 3
        with _logging.scanpy_quiet():
            assert int(sc.settings.verbosity) == 1
        assert int(sc.settings.verbosity) == 3
        sc.settings.verbosity = 0
        with _logging.scanpy_quiet():
            assert int(sc.settings.verbosity) == 0  # never raised
        assert int(sc.settings.verbosity) == 0
    finally:
        sc.settings.verbosity = before


def test_logged_warnings_collects_this_threads_warnings_stripped(capfd):
    sag.settings.verbosity = 2
    with _logging.logged_warnings() as messages:
        logger.info("    an info line")
        logger.warning("    a warning of %d cells", 5)
        logger.error("an error")
        other = threading.Thread(target=lambda: logger.warning("another thread's"))
        other.start()
        other.join()
    assert messages == ["a warning of 5 cells", "an error"]
    logger.warning("after the block")
    assert messages == ["a warning of 5 cells", "an error"]
    assert "    WARNING: a warning of 5 cells" in capfd.readouterr().err


def test_logged_warnings_at_verbosity_0_collects_them_unshown_and_restores_the_level(capfd):
    sag.settings.verbosity = 0
    capfd.readouterr()
    with _logging.logged_warnings() as outer:
        with _logging.logged_warnings() as inner:
            logger.warning("first")
        assert not logger.isEnabledFor(logging.INFO)
        logger.warning("second")  # the outer block still collects
        logger.info("an info line")
    assert inner == ["first"]
    assert outer == ["first", "second"]
    assert capfd.readouterr().err == ""  # verbosity 0 shows no warning
    # no block runs: the logger is at verbosity 0's level again
    assert not logger.isEnabledFor(logging.WARNING)
    assert logger.isEnabledFor(logging.ERROR)
    logger.error("an error")
    assert capfd.readouterr().err == "ERROR: an error\n"


def _warn_from(module_file: str, inner_file: str | None = None):
    """A function compiled as if in ``module_file`` of the package that warns with
    :func:`user_stacklevel` (through one more package frame in ``inner_file`` if given)."""
    package = Path(_logging.__file__).parent
    namespace = {"warnings": warnings, "user_stacklevel": _logging.user_stacklevel}
    deep = "def deep():\n    warnings.warn('careful', UserWarning, stacklevel=user_stacklevel())\n"
    if inner_file is None:
        exec(
            compile(deep + "def entry():\n    deep()\n", str(package / module_file), "exec"),
            namespace,
        )
        return namespace["entry"]
    exec(compile(deep, str(package / inner_file), "exec"), namespace)
    exec(compile("def entry():\n    deep()\n", str(package / module_file), "exec"), namespace)
    return namespace["entry"]


def test_a_warning_points_at_the_users_line_or_the_command_lines():
    entry = _warn_from("tools/_fake.py")
    with pytest.warns(UserWarning, match="careful") as record:
        entry()
    assert record[0].filename == __file__
    # the command line's module is the user's call
    entry = _warn_from("cli.py", inner_file="tools/_fake.py")
    with pytest.warns(UserWarning, match="careful") as record:
        entry()
    assert record[0].filename == str(Path(_logging.__file__).parent / "cli.py")


def test_bars_redraw_seldom_and_stay_where_no_one_watches(monkeypatch):
    class Terminal:
        def isatty(self):
            return True

        def write(self, text):
            return len(text)

        def flush(self):
            pass

    class File(Terminal):
        def isatty(self):
            return False

    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    monkeypatch.setattr(sys, "stderr", File())
    assert _logging.interactive() is False
    assert _logging.bar_interval() == _logging.LOG_FILE_REDRAW
    monkeypatch.setitem(sys.modules, "ipykernel", sys)  # a Jupyter kernel
    assert _logging.interactive() is True
    assert _logging.bar_interval() == pytest.approx(0.1)
    monkeypatch.delitem(sys.modules, "ipykernel")
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert _logging.interactive() is True

    sag.settings.progress_bar = True
    sag.settings.verbosity = 2
    monkeypatch.setattr(_logging, "interactive", lambda: False)
    with _logging.progress(3, "work", leave=False) as bar:
        assert bar.leave is True
        assert not bar.disable
        assert bar.mininterval == _logging.LOG_FILE_REDRAW
    monkeypatch.setattr(_logging, "interactive", lambda: True)
    with _logging.progress(3, "work", leave=False) as bar:
        assert bar.leave is False
    sag.settings.verbosity = 1  # below info: no bar, though progress_bar is on
    with _logging.progress(3, "work") as bar:
        assert bar.disable


def test_inference_shows_a_bar_from_inference_bar_rows_on(monkeypatch):
    made = []
    original = _logging.progress

    def progress(total, desc, **kw):
        made.append(desc)
        return original(total, desc, **kw)

    monkeypatch.setattr(_logging, "progress", progress)
    n = _logging.INFERENCE_BAR_ROWS
    assert list(_logging.inference_batches([1, 2], n - 1, "predicting")) == [1, 2]
    assert list(_logging.inference_batches([1, 2], n, None)) == [1, 2]
    assert made == []
    assert list(_logging.inference_batches([1, 2], n, "predicting")) == [1, 2]
    assert made == [f"predicting {n:,} cells"]


def test_batch_done_tells_the_search_at_most_every_heartbeat(monkeypatch):
    heard = []
    _logging.batch_done(1, 5)  # no search runs: nothing to tell
    monkeypatch.setattr(_logging, "HEARTBEAT_SECONDS", 1.0)
    with _logging.batch_heartbeat(lambda i, n: heard.append((i, n))):
        _logging.batch_done(1, 5)  # too soon after the start
        assert heard == []
        time.sleep(1.05)
        _logging.batch_done(2, 5)
        _logging.batch_done(3, 5)  # too soon after the last
        assert heard == [(2, 5)]
    _logging.batch_done(4, 5)
    assert heard == [(2, 5)]


# --------------------------------------------------------------------------- utilities


def test_numpy_values_become_python_ones_for_json_and_records():
    text = json.dumps({"units": np.int64(64), "lr": np.float32(0.5)}, default=_utils.json_default)
    assert text == '{"units": 64, "lr": 0.5}'
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        _utils.json_default({1})
    value = {"a": (1, np.int64(2)), "b": np.array([3, 4]), "c": [np.float64(0.5)]}
    out = _utils.plain(value)
    assert out == {"a": [1, 2], "b": [3, 4], "c": [0.5]}
    assert type(out["a"][1]) is int
    assert value["a"] == (1, np.int64(2))  # the user's left as it was


def test_a_basis_is_read_as_scanpy_reads_it():
    import anndata as ad

    a = ad.AnnData(np.zeros((3, 2), dtype=np.float32))
    a.obsm["X_emb"] = np.zeros((3, 2))
    assert _utils.resolve_basis(a, "emb") == "X_emb"
    a.obsm["emb"] = np.ones((3, 2))
    assert _utils.resolve_basis(a, "emb") == "emb"  # the key itself first
    assert _utils.resolve_basis(a, "umap") == "umap"


def test_h5ad_safe_drops_none_and_stores_mixed_lists_as_text():
    out = _utils.h5ad_safe({"a": None, "b": (1, 2), 3: [1, None], "d": np.int64(4)})
    assert list(out) == ["b", "3", "d"]
    assert out["3"].dtype.kind == "U"
    assert list(out["3"]) == ["1", "None"]
    assert type(out["d"]) is int
    np.testing.assert_array_equal(out["b"], [1, 2])


def test_digests_depend_on_shape_order_and_every_name():
    assert _utils.digest([[1, 2], [3, 4]]) != _utils.digest([1, 2, 3, 4])
    assert _utils.digest(["ab", "c"]) != _utils.digest(["a", "bc"])
    assert _utils.digest(["a", "b"]) != _utils.digest(["b", "a"])
    assert _utils.digest(["a", "b"]) == _utils.digest(np.array(["a", "b"], dtype=object))
    assert len(_utils.digest([1])) == 16


def test_row_keys_tell_rows_of_the_same_values_in_another_order():
    keys = _utils.row_keys([[1.0, 2.0], [2.0, 1.0], [1.0, 2.0]])
    assert keys[0] != keys[1]
    assert keys[0] == keys[2]
    stored = {"sag_row_keys": np.sort(_utils.row_keys([[1.0, 2.0], [5.0, 6.0]]))}
    assert _utils.rows_among([[5.0, 6.0]], stored)
    assert not _utils.rows_among([[2.0, 1.0]], stored)
    assert not _utils.rows_among([[9.0, 9.0]], stored)  # beyond the last key
    assert not _utils.rows_among([[1.0, 2.0]], {})  # no keys recorded


def test_matrix_digest_depends_on_the_values_alone():
    dense = np.array([[0.0, 1.0], [2.0, 0.0], [3.0, 4.0]], dtype=np.float32)
    zeros_kept = sp.csr_matrix(
        (np.array([0.0, 1.0, 2.0, 3.0, 4.0]), [0, 1, 0, 0, 1], [0, 2, 3, 5]), shape=(3, 2)
    )
    digest = _utils.matrix_digest(dense, [0, 1, 2])
    assert _utils.matrix_digest(zeros_kept, [0, 1, 2]) == digest
    assert _utils.matrix_digest(sp.csr_matrix(dense), [0, 1, 2], chunk=1) == digest
    assert _utils.matrix_digest(dense, [0, 2]) != digest
    assert _utils.matrix_digest(dense[:, :1], [0, 1, 2]) != _utils.matrix_digest(
        np.hstack([dense[:, :1], np.zeros((3, 1))]), [0, 1, 2]
    )


def test_write_atomically_writes_through_a_link_and_keeps_the_files_mode(tmp_path):
    target = tmp_path / "real.txt"
    target.write_text("old")
    os.chmod(target, 0o640)
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    written = _utils.write_atomically(link, lambda tmp: Path(tmp).write_text("new"))
    assert written == target.resolve()
    assert link.is_symlink()
    assert target.read_text() == "new"
    assert (target.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.txt", "real.txt"]


def test_a_storage_url_is_shown_without_its_password():
    assert _utils.storage_shown(None) is None
    shown = _utils.storage_shown("postgresql://me:secret@host/db")
    assert "secret" not in shown
    assert shown == "postgresql://me:***@host/db"
    assert _utils.storage_shown("sqlite:///:memory:") == "sqlite:///:memory:"
    assert _utils.storage_shown("not a url") == "not a url"
    assert _utils.storage_shown(object()) == "builtins.object (an object)"


def test_call_params_keep_numbers_and_none_as_text():
    out = _utils.call_params(a=None, b=np.int64(5), c=True, d=0.5, e="x", f=[1, 2])
    assert out == {"a": "None", "b": 5, "c": True, "d": 0.5, "e": "x", "f": "[1, 2]"}
    assert type(out["b"]) is int


def test_tsne_lowers_its_perplexity_on_30_cells_or_fewer(monkeypatch, sag_caplog):
    import anndata as ad
    import scanpy as sc

    seen = []
    monkeypatch.setattr(sc.tl, "tsne", lambda adata, **kw: seen.append(kw))
    _utils.tsne(ad.AnnData(np.zeros((31, 2), dtype=np.float32)))
    assert seen.pop() == {}
    _utils.tsne(ad.AnnData(np.zeros((30, 2), dtype=np.float32)), noun="samples")
    assert seen.pop()["perplexity"] == pytest.approx(29 / 3)
    assert "30 samples: t-SNE with perplexity 9.67 instead of 30" in sag_caplog.text
    _utils.tsne(ad.AnnData(np.zeros((2, 2), dtype=np.float32)))
    assert seen.pop()["perplexity"] == 1.0
    _utils.tsne(ad.AnnData(np.zeros((10, 2), dtype=np.float32)), perplexity=2)
    assert seen.pop() == {"perplexity": 2}


def test_neighbors_goes_exact_from_4096_cells_with_another_metric(monkeypatch):
    import anndata as ad
    import scanpy as sc

    seen = []
    monkeypatch.setattr(sc.pp, "neighbors", lambda adata, **kw: seen.append(kw))
    monkeypatch.setattr(_utils, "_approximate_knn_fails", lambda: True)
    big = ad.AnnData(obs=pd.DataFrame(index=[str(i) for i in range(5000)]))
    _utils.neighbors(big, metric="cosine")
    assert seen.pop().get("transformer") == "sklearn"
    _utils.neighbors(big)  # euclidean: scanpy's approximate path only from 8,192
    assert "transformer" not in seen.pop()


def test_is_json_text_reads_past_leading_space():
    assert _utils.is_json_text('  {"a": 1}')
    assert not _utils.is_json_text("runs/a")
    assert not _utils.is_json_text({"a": 1})


def test_a_path_under_a_file_cannot_be_created(tmp_path):
    (tmp_path / "f").write_text("x")
    os.chmod(tmp_path / "f", 0o755)
    with pytest.raises(NotADirectoryError, match=r"--out 'f/a' cannot be created: .*is a file"):
        _utils.check_creatable(tmp_path / "f" / "a", "--out 'f/a'")
    _utils.check_creatable(tmp_path / "new" / "deeper", "x")  # a folder to be made: fine


def test_the_number_checks_take_their_bounds():
    assert _utils.check_int_at_least("k", 2, 2) == 2
    assert type(_utils.check_int_at_least("k", np.int64(3), 2)) is int
    with pytest.raises(ValueError, match="k=1 must be at least 2"):
        _utils.check_int_at_least("k", 1, 2)
    with pytest.raises(TypeError, match="k=True must be an integer of at least 2"):
        _utils.check_int_at_least("k", True, 2)
    assert _utils.check_positive_int("n", 1) == 1
    assert _utils.check_bool("b", np.bool_(False)) is False
    assert _utils.check_number("t", 0) == 0.0
    assert _utils.check_number("t", np.inf, positive=True) == np.inf
    assert _utils.check_number("t", np.float32(0.5), positive=True) == 0.5
    for bad in (0, -1.0, np.nan):
        with pytest.raises(ValueError, match=r"t=.* must be a positive number of seconds"):
            _utils.check_number("t", bad, positive=True, what=" of seconds")
    with pytest.raises(ValueError, match="must be a finite number"):
        _utils.check_number("t", np.inf)
    with pytest.raises(ValueError, match=r"t=-0\.5 must not be negative"):
        _utils.check_number("t", -0.5)
    with pytest.raises(TypeError, match="t=True must be a finite number, 0 or more"):
        _utils.check_number("t", True)


def test_values_in_messages_are_cut_short():
    assert _utils.shown_values(range(10)) == "0, 1, 2, 3, 4, 5, 6, 7, 8, 9"
    assert _utils.shown_values(range(11)) == "0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ... (11 in all)"
    assert _utils.shown_values("abc", limit=2, total="genes") == "'a', 'b', ... (3 genes)"
    columns = [f"c{i}" for i in range(25)]
    listed = _utils.columns_listed(columns, ["c7x"])
    assert listed.startswith("closest: 'c7'")
    assert "'c19', ... (25 in all)" in listed
    assert _utils.columns_listed([], ["a"], noun="layers") == "there are no layers"
    assert _utils.short_repr("x" * 100) == repr("x" * 100)[:57] + "..."
    assert len(_utils.short_repr("x" * 100, limit=20)) == 20
    assert _utils.short_repr(np.float64(1.5)) == repr(np.float64(1.5))
    assert _utils.short_repr(np.zeros(4)) == "<ndarray of length 4>"
    assert _utils.short_repr(pd.DataFrame(np.zeros((2, 3)))) == "<DataFrame of shape (2, 3)>"


def test_percent_down_never_says_whole_what_is_not():
    assert _utils.percent_down(1999 / 2000) == "99.9%"
    assert _utils.percent_down(0.99999) == "99.9%"
    assert _utils.percent_down(1) == "100.0%"
    assert _utils.percent_down(0.0004) == "0.0%"
    assert _utils.percent_down(float("nan")) == "?%"
    assert _utils.percent_down(float("inf")) == "?%"


def test_is_one_of_takes_no_collection_for_a_choice():
    assert _utils.is_one_of("a", ("a", "b"))
    assert _utils.is_one_of(2, (1, 2))
    assert not _utils.is_one_of(("a",), [("a",), "b"])
    assert not _utils.is_one_of(np.array(["a"]), ("a",))
    assert not _utils.is_one_of({"a": 1}, ("a",))


def test_a_path_argument_is_a_str_or_path_and_not_blank():
    assert _utils.check_path("out", Path("a.html"), "the file") == Path("a.html")
    for blank in ("", "   "):
        with pytest.raises(ValueError, match=r"out=.* is an empty path; give the file"):
            _utils.check_path("out", blank, "the file")
    with pytest.raises(TypeError, match=r"out=3 must be a str or Path naming the file, not a int"):
        _utils.check_path("out", 3, "the file")


def test_obs_columns_named_twice_are_refused():
    import anndata as ad

    a = ad.AnnData(np.zeros((2, 1), dtype=np.float32))
    a.obs = pd.concat([pd.DataFrame({"x": [1, 2]}, index=a.obs_names)] * 3, axis=1)
    with pytest.raises(ValueError, match=r"key='x': adata.obs has 3 columns of that name"):
        _utils.check_obs_column(a, "key", "x")
    with pytest.raises(ValueError, match=r"adata.obs has 3 columns named 'x'"):
        _utils.check_obs_columns_once(a, None, "y", "x")
    _utils.check_obs_columns_once(a, None, "y")
    a.obs = a.obs.iloc[:, :2]  # two are as many too many
    with pytest.raises(ValueError, match=r"adata.obs has 2 columns named 'x'"):
        _utils.check_one_obs_column(a, None, "x")


def test_readers_name_a_missing_gene_symbols_column_and_a_predict_record():
    import anndata as ad

    a = ad.AnnData(np.zeros((2, 1), dtype=np.float32))
    a.var["symbol"] = ["A"]
    _utils.check_gene_symbols(a, None)
    _utils.check_gene_symbols(a, "symbol")
    with pytest.raises(KeyError, match=r"gene_symbols='symbl' .*closest: 'symbol'"):
        _utils.check_gene_symbols(a, "symbl")
    a.uns["p"] = {"predict_params": {}}
    a.uns["c"] = {"metrics": {"f1": 1.0}}
    assert _utils.classify_run_record(a, "c", "metrics") == {"metrics": {"f1": 1.0}}
    with pytest.raises(KeyError, match=r"holds the record of sag.tl.predict .* so no 'metrics'"):
        _utils.classify_run_record(a, "p", "metrics")
    with pytest.raises(KeyError, match=r"holds no classify run, so no 'trials'"):
        _utils.classify_run_record(a, "c", "trials")
    with pytest.raises(KeyError, match=r"adata.uns\['x'\] not found; run"):
        _utils.classify_run_record(a, "x", "metrics")


# ---------------------------------------------------------------------------- datasets


def test_synthetic_classes_are_balanced_shuffled_and_marked_six_fold():
    a = sag.datasets.synthetic(n_obs=3001, n_vars=40, n_classes=3, n_markers=10, seed=1)
    labels = a.obs["label"]
    assert isinstance(labels.dtype, pd.CategoricalDtype)
    assert sorted(labels.value_counts().tolist()) == [1000, 1000, 1001]
    assert list(labels) != [f"type_{i % 3}" for i in range(3001)]  # in shuffled order
    X = a.X.toarray()
    assert a.X.dtype == np.float32
    assert sp.isspmatrix_csr(a.X)
    assert np.array_equal(X, np.round(X))
    in0 = (labels == "type_0").to_numpy()
    ratio = X[in0][:, :10].sum(0).sum() / X[~in0][:, :10].sum(0).sum() * (~in0).sum() / in0.sum()
    assert 5.6 < ratio < 6.4
    # the gene after class 0's markers is class 1's, not class 0's
    rest = X[~in0 & (labels != "type_1").to_numpy()][:, 10].mean()
    assert X[in0][:, 10].mean() / rest < 1.5
    # past n_classes * n_markers: no signal
    assert 0.75 < X[in0][:, 30:].sum() / X[~in0][:, 30:].sum() * (~in0).sum() / in0.sum() < 1.33


def test_synthetic_continuous_values_and_storage():
    counts = sag.datasets.synthetic(n_obs=200, n_vars=50, seed=2)
    cont = sag.datasets.synthetic(n_obs=200, n_vars=50, seed=2, counts=False, sparse_format=None)
    assert isinstance(cont.X, np.ndarray)
    noise = cont.X - np.log1p(counts.X.toarray())
    assert 0.09 < noise.std() < 0.11
    assert abs(noise.mean()) < 0.01
    assert sp.isspmatrix_csc(sag.datasets.synthetic(n_obs=20, n_vars=10, sparse_format="csc").X)
    again = sag.datasets.synthetic(n_obs=200, n_vars=50, seed=2)
    assert (again.X != counts.X).nnz == 0
    assert list(counts.obs_names[:2]) == ["cell_0", "cell_1"]
    assert list(counts.var_names[:2]) == ["gene_0", "gene_1"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"sparse_format": "CSR"}, ValueError, r"sparse_format='CSR' must be 'csr', 'csc' or None"),
        ({"sparse_format": "coo"}, ValueError, r"sparse_format='coo' must be"),
        ({"n_classes": 0}, ValueError, r"n_classes=0 must be a positive integer"),
        ({"n_obs": 2.5}, TypeError, r"n_obs=2.5 must be a positive integer"),
        ({"n_vars": 0}, ValueError, r"n_vars=0 must be a positive integer"),
        ({"n_markers": -1}, ValueError, r"n_markers=-1 must be at least 0"),
        ({"counts": "no"}, TypeError, r"counts='no' must be True or False"),
    ],
)
def test_synthetic_refuses_arguments_it_cannot_honour(kwargs, error, match):
    """A sparse format other than the two it makes, or no class, is an error naming the
    argument (any other format gave CSC, and 0 classes one class and a divide warning)."""
    with pytest.raises(error, match=match):
        sag.datasets.synthetic(**kwargs)


def test_pbmc68k_reduced_holds_log_normalized_values(pbmc):
    assert pbmc.shape == (700, 765)
    assert sp.isspmatrix_csr(pbmc.X)
    assert pbmc.X.dtype == np.float32
    assert pbmc.X.min() >= 0
    assert isinstance(pbmc.obs["bulk_labels"].dtype, pd.CategoricalDtype)
    assert pbmc.obs["bulk_labels"].nunique() == 10
    assert list(pbmc.obs.columns) == ["bulk_labels", "louvain", "n_genes", "n_counts"]


# -------------------------------------------------------------------------------- keys


def test_the_default_output_keys_and_the_unsure_call():
    from scautogenome import _keys

    key = _keys.CLASSIFY_KEY
    assert (_keys.pred_key(key), _keys.split_key(key)) == ("sag_pred", "sag_split")
    assert (_keys.proba_key(key), _keys.confidence_key(key)) == ("sag_proba", "sag_confidence")
    assert _keys.unsure_name(["B", "T"]) == "Unassigned"
    assert _keys.unsure_name(np.array(["B", "Unassigned"])) is None
    assert _keys.VALUE_TYPES == ("counts", "normalized", "binary", "continuous")
