"""Storages: an SQLite file that is not Optuna's, a folder where a file belongs, and the
trials of a process that died (sag's own heartbeats in a journal file, Optuna's in SQLite)."""

from __future__ import annotations

import sqlite3
import threading
import time

import optuna
import pytest
from conftest import one_float_search

import scautogenome as sag
from scautogenome.search import _study
from scautogenome.search._study import check_storage


def _journal(path):
    return optuna.storages.JournalStorage(_study._journal_backend(str(path)))


# --- 1. an SQLite file of other tables ------------------------------------------------------


@pytest.mark.parametrize("table", ["users", "studies"])
def test_an_sqlite_file_of_other_tables_is_refused_before_any_write(table, tmp_path, monkeypatch):
    """A database of the user's own (a table named like one of Optuna's too) is named as no
    Optuna storage before the data are read, and left byte for byte as it was."""
    from scautogenome.tools import _classify

    db = tmp_path / "users.db"
    con = sqlite3.connect(db)
    con.execute(f"create table {table}(id int, name text)")
    con.execute(f"insert into {table} values (1, 'a')")
    con.commit()
    con.close()
    before = db.read_bytes()

    def no_work(*args, **kwargs):
        raise AssertionError("the data were read")

    monkeypatch.setattr(_classify, "prepare_labelled", no_work)
    monkeypatch.setattr(_study, "TABLES_WAIT", 0.3)  # the wait for tables made now: short
    adata = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=2, seed=0)
    url = f"sqlite:///{db}"
    for call in (
        lambda: sag.tl.classify(adata, "label", storage=url, n_trials=1),
        lambda: _study.open_storage(url),
    ):
        what = (
            "holds tables that are not an Optuna storage's"
            if table == "users"
            else "holds tables of Optuna's names without its schema's version"
        )
        with pytest.raises(ValueError, match=what) as e:
            call()
        assert url in str(e.value)
        assert repr([table]) in str(e.value)
        assert db.read_bytes() == before


def test_an_optuna_sqlite_file_or_an_empty_one_is_opened(tmp_path):
    done = f"sqlite:///{tmp_path / 'done.db'}"
    optuna.create_study(storage=done, study_name="s")
    assert isinstance(check_storage(done), optuna.storages.RDBStorage)
    (tmp_path / "empty.db").write_bytes(b"")
    assert isinstance(
        check_storage(f"sqlite:///{tmp_path / 'empty.db'}"), optuna.storages.RDBStorage
    )


# --- 5. a folder that is not there, or a folder named as the file ---------------------------


def test_an_sqlite_url_of_a_missing_folder_or_of_a_folder_says_so(tmp_path):
    missing = f"sqlite:///{tmp_path / 'nope' / 's.db'}"
    with pytest.raises(ValueError, match=r"cannot be opened: its folder .*nope' does not exist"):
        check_storage(missing)
    (tmp_path / "d.db").mkdir()
    for url in (f"sqlite:///{tmp_path / 'd.db'}", str(tmp_path / "d.db" / ".." / "d.journal")):
        if url.endswith(".journal"):
            (tmp_path / "d.journal").mkdir()
        with pytest.raises(ValueError, match=r"cannot be opened: .* is a folder, not a file"):
            check_storage(url)
    assert not (tmp_path / "nope").exists()


# --- 2, 3. the trials of a process that died -------------------------------------------------


def _search(path, n_trials, seconds=0.0, during=None, **kw):
    """A search of one float on the journal (or URL) ``path``, whose trials take ``seconds``
    (and call ``during()`` as they train, where given); the starting point x=0.25."""
    cfg = sag.config.default("mlp")
    cfg["budget"] = {"n_trials": n_trials, "time_budget": None}
    cfg["search"] = {**cfg["search"], "sampler": "random"}

    class Result:
        best_loss, best_epoch, history, stopped, cut_batches = 0.0, 0, [{}], "", 0

        def __init__(self, value):
            self.value, self.seconds, self.state_dict = value, seconds, {}

    def train(net, params, seed, report, deadline, stop_after=None):
        time.sleep(seconds)
        if during is not None:
            during()
        return Result(params["x"])

    return one_float_search(
        cfg, train, storage=path, enqueue=lambda: [{"x": 0.25}], retrain_best=False, **kw
    )


def _killed_at_the_starting_point(storage):
    """A study whose first trial, the starting point, a process that died left running."""
    study = optuna.create_study(storage=storage, study_name="t", direction="maximize")
    study.enqueue_trial({"x": 0.25})
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    return study


def test_a_journal_trial_records_heartbeats_while_it_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(_study, "HEARTBEAT_INTERVAL", 0.02)
    path = str(tmp_path / "s.journal")
    _search(path, 1, seconds=0.3)
    (trial,) = optuna.load_study(study_name="t", storage=_journal(path)).trials
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert isinstance(trial.user_attrs.get("sag_heartbeat"), float)
    assert not [t for t in threading.enumerate() if t.name.startswith("sag-heartbeat")]


def test_a_heartbeat_keeps_a_long_journal_trial_alive(tmp_path, monkeypatch, sag_caplog):
    """A trial whose last heartbeat is recent is of a live process, however long ago it
    started; one without a heartbeat for GRACE_PERIOD is failed, once."""
    path = str(tmp_path / "s.journal")
    study = _killed_at_the_starting_point(_journal(path))
    (trial,) = study.trials
    later = time.time() + 1000  # as if 1000 s later
    monkeypatch.setattr(_study, "_now", lambda: later)
    study._storage.set_trial_user_attr(trial._trial_id, "sag_heartbeat", later - 10)
    assert _study._running_elsewhere(study, study._storage)
    assert study.trials[0].state == optuna.trial.TrialState.RUNNING
    assert "taken to be of another process" in sag_caplog.text
    study._storage.set_trial_user_attr(trial._trial_id, "sag_heartbeat", later - 500)
    assert not _study._running_elsewhere(study, study._storage)
    failed, retry = study.trials
    assert failed.state == optuna.trial.TrialState.FAIL
    assert "no heartbeat" in failed.user_attrs["sag_failed_because"]
    assert retry.state == optuna.trial.TrialState.WAITING
    assert retry.params == {"x": 0.25}
    assert "sag_failed_because" not in retry.user_attrs
    assert "sag_heartbeat" not in retry.user_attrs
    assert "failed trial(s) [0] of a process that died" in sag_caplog.text


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed")  # the dead one's ask()
@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_a_resume_after_a_kill_reruns_the_dead_starting_point(
    kind, tmp_path, monkeypatch, sag_caplog
):
    """The trial a killed process left running is failed once it has had no heartbeat for
    GRACE_PERIOD, and run again: the resumed search joins no other process, draws no random
    salt, and is reproducible by its seed."""
    monkeypatch.setattr(_study, "HEARTBEAT_INTERVAL", 1)
    monkeypatch.setattr(_study, "GRACE_PERIOD", 1)
    drawn = []
    for copy in ("a", "b"):
        if kind == "journal":
            path = str(tmp_path / f"{copy}.journal")
            _killed_at_the_starting_point(_journal(path))
            # as if 1000 s later (raising=False: the symptom shows on a sag without _now)
            monkeypatch.setattr(_study, "_now", lambda: time.time() + 1000, raising=False)
        else:
            path = f"sqlite:///{tmp_path / copy}.db"
            study = _killed_at_the_starting_point(_study.open_storage(path))
            study._storage.record_heartbeat(study.trials[0]._trial_id)
            con = sqlite3.connect(tmp_path / f"{copy}.db")  # the heartbeat of long ago
            con.execute("update trial_heartbeats set heartbeat = '2000-01-01 00:00:00'")
            con.commit()
            con.close()
        sag_caplog.clear()
        out = _search(path, 2)
        text = sag_caplog.text
        assert "joining" not in text
        assert "not reproducible by seed" not in text
        assert "failed trial(s) [0] of a process that died" in text
        trials = out.study.trials
        assert trials[0].state == optuna.trial.TrialState.FAIL
        assert trials[1].params == {"x": 0.25}  # the starting point, run again
        assert trials[1].state == optuna.trial.TrialState.COMPLETE
        drawn.append([t.params for t in trials])
    assert drawn[0] == drawn[1]


def test_a_stale_trial_found_during_a_search_is_named(tmp_path, monkeypatch, sag_caplog):
    """A trial that dies while this search runs (within the grace period at its start) is
    failed, with a line, by the first trial that ends after its heartbeat went stale."""
    path = str(tmp_path / "s.journal")
    study = _killed_at_the_starting_point(_journal(path))
    study.enqueue_trial({"x": 0.75})  # this search's own first point
    clock = [time.time()]
    monkeypatch.setattr(_study, "_now", lambda: clock[0])

    real = _study._fail_stale_trials

    def after_the_first(study, storage):
        if study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
            clock[0] = time.time() + 1000
        return real(study, storage)

    monkeypatch.setattr(_study, "_fail_stale_trials", after_the_first)
    out = _search(path, 3)
    assert "joining" in sag_caplog.text  # at its start the trial was taken to be alive
    assert "failed trial(s) [0] of a process that died" in sag_caplog.text
    states = [t.state for t in out.study.trials]
    assert states[0] == optuna.trial.TrialState.FAIL
    assert [t.params for t in out.study.trials if t.params == {"x": 0.25}][1:]  # run again


# --- 4. the other tool's study ---------------------------------------------------------------


def test_the_other_tools_study_is_refused_in_words_right_for_a_worker():
    """The worker's --study is required: the message tells no one to leave it out
    unconditionally."""
    from scautogenome import cli
    from scautogenome.search._study import FINGERPRINT_ATTR, check_fingerprint

    study = optuna.create_study(study_name="s")
    study.set_user_attr(FINGERPRINT_ATTR, {"task": "embed", "mode": "resvae"})
    with pytest.raises(ValueError, match="is an embed search") as e:
        check_fingerprint(study, {"task": "classify", "mode": "mlp"}, n_before=1)
    msg = str(e.value)
    assert "another study_name=" in msg
    assert "'sag-classify'" in msg
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if hasattr(a, "choices") and a.choices]
    worker = cli._cli_words(msg, sub.choices["worker"])
    assert "another --study" in worker
    assert "not for a worker" in worker or "a worker needs one" in worker


def test_a_live_trial_another_process_takes_for_dead_does_not_end_the_search(tmp_path, sag_caplog):
    """Another process fails a trial of this one as dead (its clock far from this machine's,
    or this process held up): Optuna cannot record the trial's result, and raised out of the
    whole search ("Cannot tell a FAIL trial"). The result is dropped with a warning, and the
    search goes on to its budget."""
    path = tmp_path / "k.journal"
    failed = []

    def fail_the_running_trial_once():  # another process fails it while it trains
        if failed:
            return
        other = _journal(path)
        study = optuna.load_study(study_name="t", storage=other)
        for t in study.get_trials(states=(optuna.trial.TrialState.RUNNING,)):
            other.set_trial_user_attr(t._trial_id, _study.STALE_ATTR, "taken for dead")
            other.set_trial_state_values(t._trial_id, state=optuna.trial.TrialState.FAIL)
            failed.append(t.number)

    out = _search(str(path), 3, during=fail_the_running_trial_once)
    states = [t.state.name for t in out.study.trials]
    assert states == ["FAIL", "COMPLETE", "COMPLETE"], states
    text = " ".join(sag_caplog.text.split())
    assert f"trial(s) {failed} of this search were failed by another process" in text
    assert "its results are dropped, and the search goes on" in text


def test_a_live_trial_a_database_takes_for_dead_does_not_end_the_search(tmp_path, sag_caplog):
    """The same in a database: another process fails the trial through Optuna's heartbeats
    (fail_stale_trials, which queues it once more and marks nothing of sag's), and the
    search ended with "Cannot tell a FAIL trial" (the command line's exit 2)."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    failed = []

    def fail_the_running_trial_once():  # another process finds it stale and fails it
        if failed:
            return
        other = _study.open_storage(url)
        study = optuna.load_study(study_name="t", storage=other)
        running = study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
        con = sqlite3.connect(tmp_path / "s.db")  # its heartbeat of long ago
        con.execute("update trial_heartbeats set heartbeat = '2000-01-01 00:00:00'")
        con.commit()
        con.close()
        failed.extend(_study._fail_stale_trials(study, other))
        assert failed == [t.number for t in running]

    import io
    import logging

    # Optuna's own, on stderr (pytest 9.1+ adds its capture handlers beside it)
    (handler,) = [
        h for h in logging.getLogger("optuna").handlers if type(h) is logging.StreamHandler
    ]
    shown = io.StringIO()
    before = handler.setStream(shown)
    try:
        out = _search(url, 3, during=fail_the_running_trial_once)
    finally:
        handler.setStream(before)
    assert "UpdateFinishedTrialError" not in shown.getvalue()  # Optuna's traceback of it
    states = [t.state.name for t in out.study.trials]
    assert states.count("FAIL") == 1, states
    assert states.count("COMPLETE") >= 2, states
    text = " ".join(sag_caplog.text.split())
    assert f"trial(s) {failed} of this search were failed by another process" in text
    assert "its results are dropped, and the search goes on" in text


def test_a_starting_point_another_process_runs_takes_no_trial_of_the_budget(tmp_path):
    """Two processes that start one study together may both enqueue a starting point; the
    second copy is pruned without training, and took one of n_trials: the process trained
    one trial fewer than asked."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    storage = _study.open_storage(url)
    study = optuna.create_study(storage=storage, study_name="t", direction="maximize")
    study.enqueue_trial({"x": 0.25})
    study.enqueue_trial({"x": 0.25})  # the other process's copy
    other = study.ask()  # the other process trains the first copy now
    storage.record_heartbeat(other._trial_id)
    out = _search(url, 2)
    trials = out.study.get_trials()
    pruned = [t for t in trials if t.user_attrs.get("stopped") == "duplicate"]
    trained = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(pruned) == 1
    assert len(trained) == 2  # the budget, besides the copy


def test_a_live_trial_failing_meanwhile_is_not_named_as_a_dead_one(tmp_path, sag_caplog):
    """In a database, the trials named as of a process that died are those Optuna found stale
    (no heartbeat), not every running trial that was failed by the time it was asked (one of a
    live process that failed in between)."""
    path = f"sqlite:///{tmp_path / 's.db'}"
    storage = _study.open_storage(path)
    study = optuna.create_study(storage=storage, study_name="t", direction="maximize")
    dead, live = study.ask(), study.ask()
    for trial in (dead, live):
        storage.record_heartbeat(trial._trial_id)
    con = sqlite3.connect(tmp_path / "s.db")  # the dead one's heartbeat of long ago
    con.execute(
        "update trial_heartbeats set heartbeat = '2000-01-01 00:00:00' where trial_id = ?",
        (dead._trial_id,),
    )
    con.commit()
    con.close()
    real = optuna.storages.fail_stale_trials

    def and_the_live_one_fails(study_):  # the live trial's own failure, at that moment
        real(study_)
        storage.set_trial_state_values(live._trial_id, state=optuna.trial.TrialState.FAIL)

    optuna.storages.fail_stale_trials = and_the_live_one_fails
    try:
        named = _study._fail_stale_trials(study, storage)
    finally:
        optuna.storages.fail_stale_trials = real
    assert named == [dead.number]
    assert f"failed trial(s) [{dead.number}] of a process that died" in sag_caplog.text
