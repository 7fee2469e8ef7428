"""The Optuna study loop shared by the classifier search and the VAE search.

One trial = sample an architecture and training settings, build the network with the trial's
seed, train it with per-epoch reports to the pruner and a wall-clock deadline, record what the
trials table shows and how far the kept weights were trained. The weights of the best trial so
far stay in memory, so the best model is not retrained unless it was trained in another process
(shared storage) or an earlier session; then it is retrained with its seed exactly as far as
its kept weights were. What differs between searches (the space, the network, the training
loop, which direction is better) comes in as callables.

A storage URL opens an RDB storage with heartbeats: a trial whose process died (killed, out of
memory, a lost machine) is failed once its heartbeat is ``GRACE_PERIOD`` seconds old and is
tried again once, by the next trial to start in any process of the study. A storage without
Optuna's heartbeats (a journal file) gets sag's own (:class:`_Heartbeat`, a trial user
attribute), and its trials of a process that died are failed and tried again alike
(:func:`_fail_stale_trials`).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import inspect
import json
import logging
import math
import os
import re
import shlex
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
import torch

from .._logging import batch_heartbeat, interactive, progress
from .._settings import logger, settings
from .._utils import check_key, recorded_path, storage_shown
from ..nn import count_parameters
from ..train import Diverged, Pruned
from ..train._trainer import kept_point

# the study names of a search given no study_name
CLASSIFY_STUDY = "sag-classify"


def embed_study(mode: str) -> str:
    """The study name of an embed search of ``mode`` given no study_name."""
    return f"sag-embed-{mode}"


# the study's user attribute that records what its trials were scored on
FINGERPRINT_ATTR = "sag_fingerprint"
# each trial's tag of the fingerprint it was scored under: two processes that start one new
# study at the same moment can both find no record and write their own; the tag keeps
# their trials apart where the study's record cannot
FINGERPRINT_TAG_ATTR = "fingerprint"
# fingerprint entries recorded only where set (embed's batches): a stored fingerprint without
# one was of trials without it, not of an earlier version that did not record it
SET_ONLY_KEYS = frozenset({"batches"})
# fingerprint entries that only warn where they differ: the training settings. Trials trained
# for other epochs are still scored on the same data, split and metric, and each is retrained
# with its own recorded settings; a study may be resumed with more epochs on purpose
WARN_ONLY_KEYS = frozenset({"trainer"})

# A running trial records a heartbeat every HEARTBEAT_INTERVAL seconds (one small write: no
# cost next to a trial's training): Optuna's in an RDB storage, sag's own (HEARTBEAT_ATTR) in a
# storage without them (a journal file). One without a heartbeat for GRACE_PERIOD seconds is
# failed and queued once more (RetryHeartbeatStaleTrialCallback, max_retry=1) when a search
# starts or a trial ends or starts in the study, with an info line naming it. A search resumed
# within GRACE_PERIOD of a kill still sees the killed trial as running (it joins "another
# process" and draws a random salt): its point is retried by a later trial start (of that
# session, if it runs long enough, or of the next).
HEARTBEAT_INTERVAL = 60
GRACE_PERIOD = 120

# sag's heartbeat of a trial in a storage without Optuna's: the time (time.time(), of the
# machine that runs the trial: the clocks of the machines sharing a journal must agree to well
# within GRACE_PERIOD - HEARTBEAT_INTERVAL) of its last sign of life after its start. A trial
# without one counts as alive for GRACE_PERIOD after its start (datetime_start): the retry of a
# failed trial, which starts anew, and a trial of an earlier scautogenome, which recorded none
# (do not search one journal with an earlier scautogenome and this one at the same time: the
# earlier one's trials longer than GRACE_PERIOD would be taken for dead)
HEARTBEAT_ATTR = "sag_heartbeat"
# the user attribute of a trial failed by sag because its process died (why, in words)
STALE_ATTR = "sag_failed_because"


@contextlib.contextmanager
def _experimental():
    """Optuna's ExperimentalWarning silenced in the block: the heartbeats, their retry
    callback and TPE's ``constant_liar`` are "experimental" in Optuna, which sag knows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def _now() -> float:
    """The time a heartbeat records and is judged by (a function: tests move it)."""
    return time.time()


def _optuna_heartbeats(storage) -> bool:
    """Whether ``storage`` keeps Optuna's heartbeats (an RDB storage opened with them)."""
    interval = getattr(storage, "get_heartbeat_interval", None)
    return interval is not None and interval() is not None


def _retry_callback():
    """Optuna's callback that queues a failed trial once more (``max_retry=1``), as
    :func:`open_storage` gives an RDB storage."""
    retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
    retry = retry or optuna.storages.RetryFailedTrialCallback  # optuna < 4.9
    with _experimental():
        return retry(max_retry=1)


# a write to a finished trial: Optuna 4.3+ raises UpdateFinishedTrialError (a RuntimeError),
# older ones a plain RuntimeError of this text
_FINISHED_TEXT = "has already finished and can not be updated"


def _finished_update(err: BaseException) -> bool:
    """Whether ``err`` is Optuna's refusal to write to a trial that has finished."""
    named = getattr(optuna.exceptions, "UpdateFinishedTrialError", ())
    return isinstance(err, named) or (isinstance(err, RuntimeError) and _FINISHED_TEXT in str(err))


class _Heartbeat:
    """While a trial runs in a storage without Optuna's heartbeats: its time recorded
    (:data:`HEARTBEAT_ATTR`) every :data:`HEARTBEAT_INTERVAL` seconds from a daemon thread, as
    Optuna's heartbeat thread does for an RDB storage (a ``JournalStorage`` guards its writes
    with a lock). A trial that another process failed (taken for dead) is not written to
    again; a write that fails otherwise is tried again at the next beat."""

    def __init__(self, trial: optuna.Trial):
        self._trial = trial
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"sag-heartbeat-{trial.number}", daemon=True
        )

    def _beat(self) -> None:
        storage, trial_id = self._trial.storage, self._trial._trial_id
        while not self._stop.wait(HEARTBEAT_INTERVAL):
            try:
                storage.set_trial_user_attr(trial_id, HEARTBEAT_ATTR, _now())
            except Exception as err:  # a storage that cannot be written now: the next beat
                if _finished_update(err):
                    return  # failed by another process, which took it for dead
                logger.debug("trial %d: no heartbeat recorded: %s", self._trial.number, err)

    def __enter__(self) -> _Heartbeat:
        try:  # one at once: the trial's start is then of this machine's clock too
            self._trial.storage.set_trial_user_attr(self._trial._trial_id, HEARTBEAT_ATTR, _now())
        except Exception as err:
            logger.debug("trial %d: no heartbeat recorded: %s", self._trial.number, err)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _last_alive(trial: optuna.trial.FrozenTrial) -> float | None:
    """When a running trial of sag's heartbeats was last known alive: its last heartbeat or its
    start, whichever is later (None where it has neither)."""
    start = None if trial.datetime_start is None else trial.datetime_start.timestamp()
    beat = trial.user_attrs.get(HEARTBEAT_ATTR)
    beat = float(beat) if isinstance(beat, (int, float)) else None
    known = [t for t in (start, beat) if t is not None]
    return max(known) if known else None


def _fail_stale_trials(study: optuna.Study, storage) -> list[int]:
    """Fail the running trials of ``study`` whose process died (no heartbeat for
    :data:`GRACE_PERIOD` seconds) and queue each once more: Optuna's ``fail_stale_trials``
    where ``storage`` keeps Optuna's heartbeats, otherwise by sag's (:class:`_Heartbeat`), each
    marked with :data:`STALE_ATTR` and retried by the same callback (its copy without sag's
    attributes). Returns their numbers, which an info line names."""
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    if not running:
        return []
    if _optuna_heartbeats(storage):
        # the trials Optuna finds stale, asked first (one of a live process that fails in
        # the meantime is no dead one); an RDB storage without the question: every running
        # trial failed by then
        stale = getattr(storage, "_get_stale_trial_ids", None)
        stale_ids = set(stale(study._study_id)) if stale is not None else None
        with _experimental():
            optuna.storages.fail_stale_trials(study)
        numbers = {t.number for t in running}
        failed = [
            t.number
            for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,))
            if t.number in numbers and (stale_ids is None or t._trial_id in stale_ids)
        ]
    else:
        failed = []
        now, retry = _now(), None
        why = f"no heartbeat for {GRACE_PERIOD:g} s: its process died"
        for trial in running:
            last = _last_alive(trial)
            if last is None or now - last <= GRACE_PERIOD:
                continue
            try:
                storage.set_trial_user_attr(trial._trial_id, STALE_ATTR, why)
                if not storage.set_trial_state_values(
                    trial._trial_id, state=optuna.trial.TrialState.FAIL
                ):
                    continue
            except RuntimeError as err:
                if not _finished_update(err):
                    raise
                continue  # it ended meanwhile, or another process failed it first
            dead = copy.deepcopy(storage.get_trial(trial._trial_id))  # not the storage's own
            dead.user_attrs = {
                k: v for k, v in dead.user_attrs.items() if k not in (HEARTBEAT_ATTR, STALE_ATTR)
            }
            retry = retry or _retry_callback()
            with _experimental():
                retry(study, dead)
            failed.append(trial.number)
    if failed:
        logger.info(
            "study %r: failed trial(s) %s of a process that died (no heartbeat for %g s); "
            "each is run again once",
            study.study_name,
            sorted(failed),
            GRACE_PERIOD,
        )
    return sorted(failed)


JOURNAL_SUFFIXES = (".log", ".journal")


def is_journal_path(storage) -> bool:
    """Whether ``storage`` names an Optuna journal file (a path ending in ``.log`` or
    ``.journal``, as optuna-dashboard takes it) rather than a database URL."""
    return (
        isinstance(storage, str)
        and "://" not in storage
        and storage.lower().endswith(JOURNAL_SUFFIXES)
    )


def _journal(path: str):
    """An Optuna ``JournalStorage`` on the file ``path`` (Optuna's advice for many processes
    on one file system, NFS included); its folder must exist."""
    from pathlib import Path

    _check_folder(path, os.path.expanduser(path))
    _check_journal_lines(path)
    try:
        with _experimental():  # "experimental" in Optuna < 4.0
            return optuna.storages.JournalStorage(_journal_backend(str(Path(path).expanduser())))
    except OSError as err:  # a file that cannot be made there (/proc, a full disk)
        msg = f"storage={path!r} cannot be opened: {err}"
        raise ValueError(msg) from err


def _check_folder(shown: str, path: str) -> None:
    """The file ``path`` of the storage ``shown`` (a journal, an SQLite URL) must be in a
    folder that exists, and not be a folder itself: a ValueError that says so, before Optuna
    or SQLite fails on it ("unable to open database file", "Is a directory")."""
    from pathlib import Path

    folder = Path(path).resolve().parent
    if not folder.is_dir():
        msg = f"storage={shown!r} cannot be opened: its folder {str(folder)!r} does not exist"
        raise ValueError(msg)
    if Path(path).is_dir():
        msg = (
            f"storage={shown!r} cannot be opened: {str(Path(path).resolve())!r} is a folder, not "
            "a file; name a file in it"
        )
        raise ValueError(msg)


@functools.cache
def optuna_tables() -> frozenset[str]:
    """Optuna's tables in an SQLite storage: the ones its models make, and alembic's record of
    their version (a fallback list where Optuna's private models module moves). Read on first
    use: its models import SQLAlchemy's, which a search without a storage never needs."""
    try:
        from optuna.storages._rdb import models

        return frozenset(models.BaseModel.metadata.tables) | {"alembic_version"}
    except (ImportError, AttributeError):  # pragma: no cover - another Optuna layout
        return frozenset(
            {"studies", "study_directions", "study_system_attributes", "study_user_attributes"}
            | {"trials", "trial_heartbeats", "trial_intermediate_values", "trial_params"}
            | {"trial_system_attributes", "trial_user_attributes", "trial_values"}
            | {"version_info", "alembic_version"}
        )


# seconds to wait for an Optuna schema that another process is making at this moment (its
# tables appear one by one)
TABLES_WAIT = 2.0


def _sqlite_tables(path: str) -> list[str] | None:
    """The tables of the SQLite file ``path`` (not SQLite's own), read through a read-only
    connection; None where it cannot be read as SQLite (Optuna's opening then names why)."""
    import sqlite3
    from urllib.parse import quote

    try:
        con = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error:
        return None
    try:
        rows = con.execute("select name from sqlite_master where type = 'table'").fetchall()
    except sqlite3.Error:  # not a database, encrypted, locked for long
        return None
    finally:
        con.close()
    return sorted(name for (name,) in rows if not name.startswith("sqlite_"))


def _check_sqlite_tables(shown: str, path: str) -> None:
    """An SQLite file that holds tables must hold Optuna's (``studies`` and its schema's
    version): Optuna would add its tables to a database of the user's, or fail on a table of
    its name once the data are read. Refused before any write; a schema of Optuna's tables
    alone that lacks its version (another process makes it at this moment) is looked at again
    for :data:`TABLES_WAIT` seconds."""
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        return
    waited = 0.0
    while True:
        tables = _sqlite_tables(path)
        if not tables:  # none (a new database), or not read as SQLite: Optuna's opening says
            return
        there = set(tables)
        if "studies" in there and there & {"version_info", "alembic_version"}:
            return
        if not there <= optuna_tables() or waited >= TABLES_WAIT:
            break
        time.sleep(0.1)
        waited += 0.1
    shown_tables = tables if len(tables) <= 10 else [*tables[:10], "..."]
    if there <= optuna_tables():  # Optuna's names alone, without the schema's version
        msg = (
            f"storage={shown!r} holds tables of Optuna's names without its schema's version "
            f"({path} has the tables {shown_tables}, {TABLES_WAIT:g} s after it was first "
            "read): a database of your own, or an Optuna schema whose creation failed or is "
            "still under way. Give a new file, or delete this one if no search uses it."
        )
        raise ValueError(msg)
    msg = (
        f"storage={shown!r} holds tables that are not an Optuna storage's ({path} has the "
        f"tables {shown_tables}); Optuna would add its own to them. Give a new file, or the "
        "storage of an earlier search."
    )
    raise ValueError(msg)


def _check_journal_lines(path: str) -> None:
    """A journal file that exists starts with one of Optuna's records (a JSON object with
    an ``op_code``): a file of other lines (notes, an application's log) fails only when
    Optuna replays it, once the data are read, with a bare JSON or key error. It ends with a
    newline: Optuna skips a last line cut short, then writes its next record onto it."""
    try:
        with open(os.path.expanduser(path), "rb") as f:
            first = f.readline(1 << 20)
    except OSError:  # absent (Optuna creates it), or unreadable: named where it is opened
        return
    if not first.strip():  # empty: a journal Optuna has just made (or will make)
        return
    try:
        record = json.loads(first)
    except ValueError:  # JSONDecodeError, UnicodeDecodeError; a first record cut short too
        record = {"op_code": "cut"} if first.lstrip().startswith(b'{"op_code"') else None
    if not (isinstance(record, dict) and "op_code" in record):
        shown = first[:60].decode("utf-8", "replace").strip()
        msg = (
            f"storage={path!r} holds lines that are not an Optuna journal's (its first line "
            f"is {shown!r}); give a new file, or the journal of an earlier search."
        )
        raise ValueError(msg)
    complete = _complete_journal_bytes(path)
    if complete is not None:
        remedy = (
            f"Keep the complete records, its first {complete} bytes, in a new file (e.g. "
            f"`head -c {complete} {shlex.quote(path)} > fixed.journal`) and give that as storage="
            if complete
            else "It holds no complete record: give a new file as storage= (or delete this one)"
        )
        msg = (
            f"storage={path!r}: its last line is cut short (a search killed while writing it?). "
            "Optuna would write its next record onto that line and leave the journal unreadable. "
            f"{remedy}."
        )
        raise ValueError(msg)


def _complete_journal_bytes(path: str, *, waits: int = 5) -> int | None:
    """Where the complete records of a journal whose last line has no newline end (the byte
    after its last newline); None when it ends in one. A process of the same study writing a
    record at this moment can show a line half-written: the end is looked at again, a tenth of
    a second apart, while the file grows."""
    size = None
    for _ in range(waits):
        with open(os.path.expanduser(path), "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() == size:  # not growing: a line cut for good
                break
            size = f.tell()
            f.seek(max(size - 1, 0))
            if size == 0 or f.read(1) == b"\n":
                return None
        time.sleep(0.1)
    with open(os.path.expanduser(path), "rb") as f:
        end = f.seek(0, os.SEEK_END)
        while end > 0:  # back from the end, a block at a time: journals can be large
            start = max(end - (1 << 16), 0)
            f.seek(start)
            newline = f.read(end - start).rfind(b"\n")
            if newline >= 0:
                return start + newline + 1
            end = start
    return 0


def _journal_backend(path: str):
    """Optuna's journal file backend of ``path`` (opening it creates the file)."""
    try:
        from optuna.storages.journal import JournalFileBackend
    except ImportError:  # optuna < 4.0
        JournalFileBackend = optuna.storages.JournalFileStorage
    return JournalFileBackend(path)


# what SQLAlchemy reports when another process creates the same new database's tables (or
# stamps its schema version) at the same moment
_CREATE_RACE = ("already exists", "UNIQUE constraint failed")


def open_storage(storage):
    """The storage ``run_study`` hands to Optuna: a URL becomes an
    :class:`optuna.storages.RDBStorage` (Optuna opens every URL as one) with heartbeats and one
    retry of a trial whose process died; a path ending in ``.log`` or ``.journal`` an Optuna
    journal file (:func:`is_journal_path`; no heartbeats of Optuna's: :func:`run_study` gives
    its trials sag's); ``None`` and storage objects (an ``RDBStorage`` of your own, a
    ``JournalStorage``) are used as they are. A URL that cannot
    be opened (unknown dialect, missing folder or driver, refused connection) is a ValueError
    that names it (password masked); so is an SQLite file of a folder that does not exist, a
    folder, or a database of tables other than Optuna's (before anything is written to it). Processes that open one new database at the same moment
    all create its tables: one that finds a table just made by another tries again."""
    if not isinstance(storage, str):
        return storage
    if is_journal_path(storage):
        return _journal(storage)
    path = storage_file(storage)  # an SQLite file: its folder, and its tables Optuna's
    if path is not None:
        _check_folder(storage_shown(storage), path)
        _check_sqlite_tables(storage_shown(storage), path)
    rdb = optuna.storages.RDBStorage
    named = inspect.signature(rdb.__init__).parameters
    callback = (
        "heartbeat_stale_trial_callback"
        if "heartbeat_stale_trial_callback" in named
        else "failed_trial_callback"
    )
    tries = 3
    while True:
        tries -= 1
        try:
            with _experimental():
                return rdb(
                    storage,
                    heartbeat_interval=int(HEARTBEAT_INTERVAL),
                    grace_period=int(GRACE_PERIOD),
                    **{callback: _retry_callback()},
                )
        except Exception as err:  # SQLAlchemy's errors name no common base: report any
            if tries and any(race in str(err) for race in _CREATE_RACE):
                # another process creates the new database's tables at this moment: they
                # are there once it is done
                time.sleep(0.5)
                continue
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            msg = f"storage={storage_shown(storage)!r} cannot be opened: {reason}"
            if "://" not in storage:  # a file name: an SQLite file is given as a URL
                msg += (
                    f"; an SQLite file is given as a URL, sqlite:///{storage}, and a journal "
                    "file as a path ending in .log or .journal"
                )
            raise ValueError(msg) from err


def check_storage(storage, study_name=None):
    """Open ``storage`` once, before any work, so that a URL that cannot be opened fails at
    once (:func:`open_storage`). A new SQLite or journal file in a folder that exists is not
    made here but by the search, after the other arguments' checks (a call refused for one of
    them leaves no empty file behind); its URL is opened on a probe file beside it
    (:func:`_check_opens`). An in-memory SQLite URL (no file) and an empty ``study_name`` are
    refused. Returns the opened storage (None for None; a new file's storage as given).

    Parameters
    ----------
    storage
        None, a URL (``sqlite:///search.db``), a journal file path (ending in ``.log`` or
        ``.journal``) or an Optuna storage object; another type is a TypeError.
    study_name
        The name the study will have: a non-empty string, or None (the default name); with
        no storage it is only recorded (a warning says so).

    Returns
    -------
    The opened storage, None, or ``storage`` as given where its file is still to be made.
    """
    if study_name is not None:
        check_key("study_name", study_name, "an Optuna study (or None: the default)")
        if not study_name.strip():
            msg = f"study_name={study_name!r} must be a non-empty string (or None: the default)."
            raise ValueError(msg)
    if isinstance(storage, str) and _sqlite_in_memory(storage):
        msg = (
            f"storage={storage!r} is an in-memory SQLite database, which no other process "
            "or later session can open; leave storage=None for a search in memory, or give a "
            "file (sqlite:///search.db) to resume or share it."
        )
        raise ValueError(msg)
    if storage is None:
        if study_name is not None:  # a name for a study that no storage will keep
            logger.warning(
                "study_name=%r is only recorded: without storage= the search is kept in memory, "
                "where no other process or later session can find it by name.",
                study_name,
            )
        return None
    if not isinstance(storage, (str, optuna.storages.BaseStorage)):
        msg = (
            f"storage={storage!r} must be a URL (sqlite:///search.db), a journal file path "
            "(search.log) or an Optuna storage object."
        )
        raise TypeError(msg)
    _check_writable(storage)
    new = storage_file(storage)
    probe = None if new is None or os.path.exists(new) else _probe_name(new)
    if probe is not None:
        if not is_journal_path(storage):
            _check_opens(storage, probe)
        return storage
    return open_storage(storage)


def _probe_name(path: str) -> str | None:
    """A free file name beside ``path`` (a probe made and removed at once), or None where no
    file can be made in its folder (missing, read-only)."""
    try:
        handle, probe = tempfile.mkstemp(
            dir=os.path.dirname(os.path.abspath(path)), prefix=".sag-probe-", suffix=".db"
        )
    except OSError:
        return None
    os.close(handle)
    os.remove(probe)
    return probe


def _check_opens(url: str, probe: str) -> None:
    """A new SQLite file's URL opened, with its driver and options (``mode=ro``,
    ``timeout=``), on the free name ``probe`` beside it (:func:`_probe_name`), removed
    afterwards: a ValueError naming the URL where it cannot be, before any work, and no file
    made where the URL points."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    uri = str(parsed.query.get("uri", "")).lower() == "true"
    engine = None
    try:
        engine = create_engine(parsed.set(database=f"file:{probe}" if uri else probe))
        with engine.connect():
            pass
    except Exception as err:  # SQLAlchemy's errors name no common base: report any
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        msg = f"storage={storage_shown(url)!r} cannot be opened: {reason}"
        raise ValueError(msg) from err
    finally:
        if engine is not None:
            engine.dispose()
        for made in (probe, f"{probe}-journal", f"{probe}-wal", f"{probe}-shm"):
            with contextlib.suppress(OSError):
                os.remove(made)


def _sqlite_in_memory(url: str) -> bool:
    """Whether ``url`` is an SQLite database in memory (any driver): no file (``sqlite://``,
    ``sqlite:///``), ``:memory:`` (with a query or not), or a ``file:`` URI of ``:memory:``
    or ``mode=memory``."""
    database = _sqlite_database(url.strip())
    return database is not None and database[1]


def _sqlite_database(url: str) -> tuple[str, bool] | None:
    """The database of an SQLite URL (any driver; of a ``file:`` URI of ``uri=true``, its
    path) and whether it is in memory; None for another URL, or text that is none."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is no number ("host:5432x")
        return None  # not a URL: open_storage names it
    if parsed.get_backend_name() != "sqlite":
        return None
    database, memory = parsed.database or "", False
    if str(parsed.query.get("uri", "")).lower() == "true" and database.startswith("file:"):
        database = database[len("file:") :]
        memory = str(parsed.query.get("mode", "")).lower() == "memory"
    return database, memory or database in ("", ":memory:")


def _said(key: str, value):
    """A fingerprint's value as a message names it: its task ``"classify"`` (the value stored
    by every classification study) as the ``task=`` argument says it, ``"classification"``."""
    return "classification" if key == "task" and value == "classify" else value


def _check_writable(storage) -> None:
    """A storage file (SQLite, journal) that exists, and its folder, must be writable: sag
    records every trial there, and collecting a finished study (``n_trials=0``) writes too
    (Optuna's record of the study, the journal's lock file); SQLite and the journal's lock
    make files beside it. Optuna's own error comes later and names neither."""
    path = storage_file(storage)
    if path is None:
        return
    there = os.path.exists(path)
    fix = (
        "; copy it to a folder you can write to and pass that storage."
        if there
        else "; give a storage in a folder you can write to."
    )
    shown = storage_shown(storage)
    if there and not os.access(path, os.W_OK):
        msg = f"storage={shown!r} cannot be written: {path} is read-only{fix}"
        raise ValueError(msg)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(folder) and not os.access(folder, os.W_OK | os.X_OK):
        msg = (
            f"storage={shown!r} cannot be written: its folder {folder} is read-only (SQLite "
            f"and the journal's lock file write files beside the storage){fix}"
        )
        raise ValueError(msg)


def check_study_there(store, study_name: str) -> None:
    """Collecting (``n_trials=0``) needs the study: a ValueError naming those there."""
    names = optuna.get_all_study_names(store)
    if study_name not in names:
        msg = (
            f"n_trials=0 collects a stored search, but the storage holds no study "
            f"{study_name!r} (studies there: {sorted(names)}); pass its study_name=."
        )
        raise ValueError(msg)


def check_collect(budget: dict, storage, enas: bool = False, study_name: str | None = None) -> None:
    """``n_trials=0`` runs no trial: it collects the best trial of a stored study (other
    processes' or sessions'), which needs ``storage``, holding ``study_name`` where it is
    given (the name the search will use); ENAS's search is not stored.

    Parameters
    ----------
    budget
        ``config['budget']``; only its ``n_trials`` is read (nothing is checked unless it is
        0).
    storage
        The storage the call was given (None: none, an error when collecting).
    enas
        Whether the search is ENAS's (``mode="rrfcn"``), which cannot be collected.
    study_name
        The study to collect, checked to be in the storage (None: not checked).
    """
    if budget["n_trials"] != 0:
        return
    if storage is None:
        msg = (
            "n_trials=0 runs no trial; it collects the best trial of a stored search, so it "
            "needs storage= (and study_name=). Give n_trials of at least 1 to search."
        )
        raise ValueError(msg)
    if enas:
        msg = (
            "n_trials=0 collects a stored Optuna study, but mode 'rrfcn' searches by ENAS, "
            "whose controller and shared weights are not stored; give a time budget instead."
        )
        raise ValueError(msg)
    path = storage_file(storage)
    if path is not None and not os.path.exists(path):  # opening it would create it, empty
        msg = (
            f"storage={storage_shown(storage)!r}: {path} does not exist; n_trials=0 collects "
            "the best trial of a stored search (give the storage its search wrote)."
        )
        raise ValueError(msg)
    if study_name is not None:
        check_study_there(check_storage(storage), study_name)


def storage_file(storage) -> str | None:
    """The file of an SQLite URL (any driver; a ``file:`` URI of ``uri=true``) or of a journal
    file, ``~`` expanded as the journal's opening does (None for other storages and SQLite in
    memory)."""
    if not isinstance(storage, str):
        return None
    if is_journal_path(storage):
        return os.path.expanduser(storage)
    database = _sqlite_database(storage)
    return None if database is None or database[1] else database[0]


def storage_recorded(storage) -> str | None:
    """:func:`~scautogenome._utils.storage_shown`, its file (:func:`storage_file`: an SQLite
    database or a journal) made absolute where it was given relative: the study a run's
    record names, from any working folder of a later session.

    Parameters
    ----------
    storage
        The storage the search was given (None, a URL, a journal file path or a storage
        object).

    Returns
    -------
    The storage as text (password masked; a storage object: its kind), its file path made
    absolute; None for None.
    """
    shown = storage_shown(storage)
    file = storage_file(storage)
    if file is not None and is_journal_path(storage):  # "~" expanded, as it is opened
        return recorded_path(os.path.abspath(file))
    if file is None or os.path.isabs(file):
        return shown if shown is None else recorded_path(shown)
    from sqlalchemy.engine import make_url

    url = make_url(storage)  # an SQLite URL (storage_file parsed it)
    absolute = recorded_path(os.path.abspath(file))
    if str(url.database).startswith("file:"):  # a file: URI of uri=true
        absolute = "file:" + absolute
    return url.set(database=absolute).render_as_string(hide_password=True)


def sampler_seed(seed: int, n_before: int, salt: int | None = None) -> int:
    """The sampler's seed: ``seed`` itself on a new study, otherwise one derived from ``seed``,
    the number of trials the study already holds and ``salt`` (a worker's random salt), so that
    a resumed study (deterministically) and every worker draw points of their own instead of the
    first session's again."""
    if not n_before and salt is None:
        return int(seed)
    words = [int(seed), int(n_before)] + ([] if salt is None else [int(salt)])
    return int(np.random.SeedSequence(words).generate_state(1)[0])


def _running_elsewhere(study: optuna.Study, storage) -> bool:
    """Whether the study holds trials another process is training now. Trials of a process
    that died (no heartbeat for :data:`GRACE_PERIOD` seconds: Optuna's in an RDB storage,
    sag's in a journal file) are failed first and retried once (:func:`_fail_stale_trials`);
    a trial of a process that died less than that ago still counts, as an info note says."""
    _fail_stale_trials(study, storage)
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    if running:
        # the normal case of processes sharing a storage: a note, not a warning
        logger.info(
            "study %r has %d trial(s) marked running, taken to be of another process that "
            "searches it now (a trial of a process that died is failed and run again once it "
            "has had no heartbeat for %g s)",
            study.study_name,
            len(running),
            GRACE_PERIOD,
        )
    return bool(running)


def trainer_record(trainer: dict, without: tuple[str, ...] = ()) -> str:
    """The training settings of ``config['trainer']`` a fingerprint records (JSON text, so
    that the warning of other settings shows them), less those it records apart
    (``without``)."""
    return json.dumps({k: v for k, v in trainer.items() if k not in without}, sort_keys=True)


def _tool_of(fingerprint: dict) -> str | None:
    """The tool whose search recorded ``fingerprint``: ``"embed"`` or ``"classify"`` (a
    regression target included); None where no task is recorded (an earlier scautogenome)."""
    task = fingerprint.get("task")
    if task is None:
        return None
    return "embed" if task == "embed" else "classify"


def _check_same_tool(study: optuna.Study, stored: dict, fingerprint: dict) -> None:
    """Raise where ``study`` holds the trials of the other tool (a classify study resumed by
    embed, or the reverse): its settings and mode are not this search's to compare or join."""
    there, now = _tool_of(stored), _tool_of(fingerprint)
    if there is None or now is None or there == now:
        return
    article = {"classify": "a", "embed": "an"}
    msg = (
        f"study {study.study_name!r} in this storage is {article[there]} {there} search (of "
        f"sag.tl.{there}), not {article[now]} {now} search; one study cannot hold both. Pass "
        "another study_name= (or storage=)"
    )
    own = CLASSIFY_STUDY if now == "classify" else embed_study(fingerprint.get("mode"))
    if own != study.study_name:
        # the command line says study_name= as its option: --study-name of classify, which
        # may be left out, --study of a worker, which needs one
        msg += (
            f", or leave the study name out (not for a worker, which needs one): {now} then "
            f"uses its own study, {own!r}"
        )
    raise ValueError(msg + ".")


def _check_unrecorded(study: optuna.Study, fingerprint: dict, io_shape) -> None:
    """Raise where the complete trials of an earlier scautogenome, which recorded no
    fingerprint, cannot be this search's: a network of other inputs or outputs than
    ``io_shape`` (these data's genes and classes; None where not compared: an embedding's
    outputs), or another mode (a classify trial drew ``mode`` only in mode auto; else, as an
    embed trial, its network's kind is its mode)."""
    shape = (None, None) if io_shape is None else tuple(io_shape)
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if "architecture" not in t.user_attrs:
            continue
        arch = json.loads(t.user_attrs["architecture"])
        was = (arch.get("n_inputs"), arch.get("n_outputs"))
        if any(n is not None and n != w for n, w in zip(shape, was, strict=True)):
            msg = (
                f"study {study.study_name!r} in this storage holds trials of an earlier "
                "scautogenome, without a record of the data they were scored on; trial "
                f"{t.number}'s network reads {was[0]} genes into {was[1]} outputs, one for "
                f"these data {shape[0]} into {shape[1]}: the trials are of other data. Pass "
                "another study_name= (or storage=), or the study's data."
            )
            raise ValueError(msg)
        searched = "auto" if "mode" in t.params else arch.get("kind")
        if searched != fingerprint.get("mode"):
            msg = (
                f"study {study.study_name!r} in this storage holds trials of an earlier "
                f"scautogenome searched in mode {searched!r}, this search mode "
                f"{fingerprint.get('mode')!r}; pass mode={searched!r} to join it, or another "
                "study_name= (or storage=)."
            )
            raise ValueError(msg)


def check_fingerprint(
    study: optuna.Study, fingerprint: dict | None, n_before: int, io_shape=None
) -> None:
    """Record ``fingerprint`` (what the trials are scored on: genes, split, settings that change
    the objective's value) on a new study; on a resumed one, raise when it differs from the
    recorded one, because its trials' values would not compare with the new ones (a study of
    the other tool, classify or embed, at once); other training settings
    (:data:`WARN_ONLY_KEYS`) are warned about. A study of an earlier scautogenome without a
    record is checked as far as its trials tell (:func:`_check_unrecorded`; ``io_shape``:
    the inputs and outputs of this search's networks, where known)."""
    if fingerprint is None:
        return
    stored = study.user_attrs.get(FINGERPRINT_ATTR)
    if stored is None:
        if n_before:
            _check_unrecorded(study, fingerprint, io_shape)
            logger.warning(
                "study %r has %d trial(s) without a record of the data they were scored on "
                "(an earlier scautogenome); they are assumed to be of the same data.",
                study.study_name,
                n_before,
            )
        study.set_user_attr(FINGERPRINT_ATTR, fingerprint)
        return
    _check_same_tool(study, stored, fingerprint)
    optional = set(fingerprint) & SET_ONLY_KEYS  # absent there: not set for those trials
    differ = sorted(k for k in set(stored) | optional if stored.get(k) != fingerprint.get(k))
    for key in sorted(WARN_ONLY_KEYS & set(differ) & set(stored) & set(fingerprint)):
        differ.remove(key)
        logger.warning(
            "study %r was searched with the %s settings %s; this session's trials train with "
            "%s. Their validation values still compare (the same data, split and metric) and "
            "each trial is retrained with its own settings, but the trials trained longer may "
            "rank higher; pass the study's config= to search alike.",
            study.study_name,
            key,
            stored[key],
            fingerprint[key],
        )
    unrecorded = sorted(set(fingerprint) - set(stored) - SET_ONLY_KEYS)
    if unrecorded and not differ:
        # the first resume after an upgrade completes the record: later ones are checked
        logger.warning(
            "study %r was recorded by an earlier scautogenome without %s; its trials are "
            "assumed to be of the same %s, which is recorded now.",
            study.study_name,
            ", ".join(unrecorded),
            ", ".join(unrecorded),
        )
        study.set_user_attr(FINGERPRINT_ATTR, {**fingerprint, **stored})
    if differ:
        shown = ", ".join(
            f"{k}: {_said(k, stored.get(k))!r} there, {_said(k, fingerprint.get(k))!r} now"
            for k in differ
        )
        msg = (
            f"study {study.study_name!r} in this storage holds trials of other data or settings "
            f"({shown}); their validation values do not compare with this search's. Pass "
            "another study_name= (or storage=), or the same data, split seed and settings."
        )
        if "mode" in differ:  # the space follows the mode: the mode is the cause
            msg += (
                f" The mode differs: the study searched mode {stored.get('mode')!r}, this "
                f"search mode {fingerprint.get('mode')!r}; pass mode={stored.get('mode')!r} "
                "to join it."
            )
        elif "space" in differ:
            msg += (
                " The search space differs: your config= changed it, or an upgrade of "
                "scautogenome changed the default space (see its CHANGELOG)."
            )
        if {"train_rows", "val_rows"} & set(differ):
            msg += " The split into training and validation cells differs (seed, labels or cells)."
        trials = study.get_trials(deepcopy=False)
        done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        if trials and not any(t.state in done for t in trials):
            states = {
                "failed or interrupted": optuna.trial.TrialState.FAIL,
                "running (or left so by a process that stopped)": optuna.trial.TrialState.RUNNING,
                "queued": optuna.trial.TrialState.WAITING,
            }
            counts = [
                f"{n} {name}"
                for name, state in states.items()
                if (n := sum(t.state == state for t in trials))
            ]
            msg += (
                f" None of its {len(trials)} trial(s) finished ({', '.join(counts)}): where no "
                "other process is running one, "
                f"optuna.delete_study(study_name={study.study_name!r}, storage=...) removes "
                "the study."
            )
        raise ValueError(msg)


class _SeededByTrial(optuna.samplers.BaseSampler):
    """A sampler for a study that other processes may run at the same time: trial ``n`` draws
    from a sampler of its own, made by ``make`` with a seed derived from ``seed`` and ``n``.
    Trial numbers are unique across the processes of a study, so two processes that start one
    study together (the same seed, the same empty study, no running trial to tell them
    apart) still draw different points, TPE's random startup points included, which its
    ``constant_liar`` does not move; one process alone stays reproducible by its seed. Only
    Optuna's public sampler interface is used: every call goes to the trial's sampler."""

    def __init__(self, make: Callable[[int], optuna.samplers.BaseSampler], seed: int):
        self._make = make
        self._seed = int(seed)
        self._current: tuple[int, optuna.samplers.BaseSampler] | None = None

    def _of(self, trial) -> optuna.samplers.BaseSampler:
        """The sampler of ``trial`` (one trial at a time: that of the last one is dropped)."""
        if self._current is None or self._current[0] != trial.number:
            words = [self._seed, int(trial.number)]
            seed = int(np.random.SeedSequence(words).generate_state(1)[0])
            self._current = (trial.number, self._make(seed))
        return self._current[1]

    def infer_relative_search_space(self, study, trial):
        return self._of(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._of(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._of(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:
        self._of(trial).before_trial(study, trial)

    def after_trial(self, study, trial, state, values) -> None:
        self._of(trial).after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:  # Optuna's n_jobs > 1: random draws, as its own samplers
        self._seed = int(np.random.SeedSequence().entropy % 2**32)
        self._current = None


def make_sampler(config: dict, seed: int, shared: bool = False) -> optuna.samplers.BaseSampler:
    """The configured sampler; ``shared`` (a study in a storage, which other processes may run
    at the same time): TPE with ``constant_liar``, so that it draws away from the trials that
    are running elsewhere, and each trial's draws seeded from ``seed`` and the trial's number
    (:class:`_SeededByTrial`), so that processes started together draw points of their own."""
    s = config["search"]

    def make(seed: int) -> optuna.samplers.BaseSampler:
        if s["sampler"] == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        liar = {"constant_liar": True} if shared else {}
        with _experimental():
            return optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=s["n_startup_trials"], **liar
            )

    return _SeededByTrial(make, seed) if shared else make(seed)


def make_pruner(config: dict) -> optuna.pruners.BasePruner:
    s = config["search"]
    if s["pruner"] == "none":
        return optuna.pruners.NopPruner()
    if s["pruner"] == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=max(1, s["prune_warmup_epochs"]),
            max_resource=config["trainer"]["max_epochs"],
        )
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=s["prune_warmup_epochs"])


_FINISHED = (
    optuna.trial.TrialState.COMPLETE,
    optuna.trial.TrialState.PRUNED,
    optuna.trial.TrialState.FAIL,
)


def _scored_under(trial, tag: str | None) -> bool:
    """Whether ``trial`` was scored under the fingerprint ``tag`` (of the data, split and
    metric; a trial of a study stored before the tags were kept counts as such; every trial
    where ``tag`` is None)."""
    return tag is None or trial.user_attrs.get(FINGERPRINT_TAG_ATTR, tag) == tag


def trials_table(
    study: optuna.Study, extra: tuple[str, ...] = (), tag: str | None = None
) -> pd.DataFrame:
    """One row per finished trial, with only h5ad-friendly column types (numbers and strings).

    ``extra`` names further numeric user attributes to add as columns (NaN where missing).
    With ``tag``, trials tagged with another fingerprint (of other data, which
    :func:`best_trial` leaves out) are left out too.

    Parameters
    ----------
    study
        The Optuna study.
    extra
        Names of further numeric user attributes.
    tag
        The fingerprint tag of this search's trials (None: every trial).

    Returns
    -------
    Columns ``number``, ``state``, ``value``, ``mode``, ``val_loss``, ``best_epoch``,
    ``epochs``, ``cut_batches``, ``n_params``, ``seconds``, ``stopped``, ``params`` (JSON),
    ``architecture`` and the ``extra`` ones, indexed by the trial number as text (no column
    for an empty study).
    """
    rows = []
    for t in study.get_trials(deepcopy=False, states=_FINISHED):
        ua = t.user_attrs
        if not _scored_under(t, tag):
            continue
        row = {
            "number": t.number,
            "state": t.state.name.lower(),
            "value": float("nan") if t.value is None else float(t.value),
            "mode": str(ua.get("mode", t.params.get("mode", ""))),
            "val_loss": float(ua.get("val_loss", math.nan)),
            "best_epoch": int(ua.get("best_epoch", -1)),
            "epochs": int(ua.get("epochs", -1)),
            # minibatches of the epoch a time budget cut short (0: none; -1: not recorded)
            "cut_batches": int(ua.get("cut_batches", -1)),
            "n_params": int(ua.get("n_params", -1)),
            "seconds": float(ua.get("seconds", math.nan)),
            # why training ended: max_epochs, early_stopping, time_budget, trial_cap (its
            # share of the budget), diverged (a failed trial); pruned trials: "pruned",
            # "duplicate" (a starting point another process runs) or "time_budget" (the
            # budget ran out before it trained)
            "stopped": str(
                ua.get("stopped", "pruned" if t.state == optuna.trial.TrialState.PRUNED else "")
            ),
            "params": json.dumps(t.params, sort_keys=True),
            "architecture": str(ua.get("architecture", "")),
        }
        for key in extra:
            row[key] = float(ua.get(key, math.nan))
        rows.append(row)
    df = pd.DataFrame(rows)
    if len(df):
        df.index = pd.Index(df["number"].astype(str).to_numpy(), name="trial")
    return df


def kept_record(attrs: dict) -> dict:
    """How a trial's training ended, from its user attributes (or a training result's
    fields): ``stopped``, ``epochs`` (including one cut short), ``cut_batches`` and
    ``cap_seconds`` (its share of the time budget, where it had one)."""
    return {
        "stopped": str(attrs.get("stopped", "")),
        "epochs": int(attrs.get("epochs", 0)),
        "cut_batches": int(attrs.get("cut_batches", 0) or 0),
        "cap_seconds": float(attrs.get("cap_seconds", math.nan)),
    }


def warn_if_cut(kept: dict, max_epochs: int) -> None:
    """A warning when the kept model's training (``kept``, :func:`kept_record`) was cut by
    the time budget, or by its share of it (``max_trial_fraction``), before it converged.

    Parameters
    ----------
    kept
        How the kept model's training ended (:func:`kept_record`).
    max_epochs
        The epochs it would have trained at most, named in the warning.
    """
    stopped = kept.get("stopped")
    if stopped not in ("time_budget", "trial_cap"):
        return
    cut = int(kept.get("cut_batches", 0))
    n_epochs = int(kept.get("epochs", 0))
    where = "the time budget"
    if stopped == "trial_cap":
        where = f"its share of the time budget ({kept.get('cap_seconds', math.nan):.0f} s, "
        where += "max_trial_fraction)"
    logger.warning(
        "the best model stopped at %s after %d of %d epochs%s, before it converged; a larger "
        "time_budget gives a better model.",
        where,
        n_epochs - (1 if cut else 0),
        int(max_epochs),
        f" and {cut} minibatches of the next" if cut else "",
    )


MIN_UPDATES = 100
"""A kept model cut by the time budget in its first epoch after fewer minibatches than this
is refused (:func:`check_trained`)."""


def check_trained(
    kept: dict,
    time_budget: float | None,
    n_train: int,
    batch_size: int,
    seconds_per_epoch: float = math.nan,
) -> None:
    """Refuse the kept model of a search (``kept``, :func:`kept_record`) that the time budget,
    or its share of it (``max_trial_fraction``), stopped before one pass over its ``n_train``
    training rows (``batch_size`` a minibatch) and before :data:`MIN_UPDATES` minibatches:
    its weights are next to untrained. A model cut later in its first epoch is kept
    (:func:`warn_if_cut` says it did not converge): on a large dataset a part of an epoch is
    thousands of minibatches.
    ``time_budget`` None: that of the search that trained it (a collected or resumed study);
    ``seconds_per_epoch`` (an estimate from the minibatches it trained, where known) is named
    in the message.

    Parameters
    ----------
    kept
        How the kept model's training ended (:func:`kept_record`).
    time_budget
        The search's time budget in seconds, named in the message (None: an earlier
        search's).
    n_train
        Number of training rows.
    batch_size
        The kept model's minibatch size.
    seconds_per_epoch
        Estimated seconds of one epoch (NaN: unknown, not named).
    """
    stopped = kept.get("stopped")
    cut = int(kept.get("cut_batches", 0))
    if stopped not in ("time_budget", "trial_cap") or int(kept.get("epochs", 0)) - bool(cut) > 0:
        return
    if cut >= MIN_UPDATES:
        return
    per_epoch = max(1, math.ceil(int(n_train) / max(1, int(batch_size))))
    where = (
        "the time budget of the search that trained it"
        if time_budget is None
        else f"time_budget={time_budget} s"
    )
    larger = "a larger time_budget"
    if stopped == "trial_cap":
        cap = kept.get("cap_seconds", math.nan)
        where = f"its share of {where} ({cap:.2g} s, max_trial_fraction)"
        larger += " or max_trial_fraction"
    epoch = (
        f" By those minibatches one epoch takes about {seconds_per_epoch:.2g} s here."
        if math.isfinite(seconds_per_epoch)
        else ""
    )
    msg = (
        f"{where} stopped the best model after {cut} of the {per_epoch} minibatches of its "
        f"first epoch (fewer than {MIN_UPDATES} updates, not one pass over its {n_train} "
        f"training rows): its weights are next to untrained, so nothing was written.{epoch} "
        f"Search with {larger} "
        "(time for several epochs); a stored study keeps this trial until new trials of a "
        "larger budget complete."
    )
    raise ValueError(msg)


def fingerprint_tag(fingerprint: dict | None) -> str | None:
    """A short digest of ``fingerprint``, recorded on every trial scored under it; the
    entries that only warn (:data:`WARN_ONLY_KEYS`) are left out: a trial trained with other
    settings is of this search's data (and trials recorded before those entries keep their
    tags)."""
    if fingerprint is None:
        return None
    scored = {k: v for k, v in fingerprint.items() if k not in WARN_ONLY_KEYS}
    text = json.dumps(scored, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def best_trial(
    study: optuna.Study, tag: str | None = None, lr_key: str = "config['space']['common']['lr']"
) -> optuna.trial.FrozenTrial:
    """The best complete trial in the study's direction; ties go to the lower validation loss,
    then to the earlier trial. With ``tag``, trials tagged with another fingerprint (scored
    on other data or settings by a process that started the study at the same time) are left
    out, with a warning; untagged ones (an earlier scautogenome) count. ``lr_key``: where the
    search's config holds its learning rates, named where every trial diverged."""
    done = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None
    ]
    if tag is not None:
        own = [t for t in done if _scored_under(t, tag)]
        if len(own) < len(done):
            logger.warning(
                "study %r holds %d complete trial(s) scored on other data or settings (a "
                "process that started it at the same time with others); they are left out "
                "(of the trials table too).",
                study.study_name,
                len(done) - len(own),
            )
        done = own
    if not done:
        trials = study.get_trials(deepcopy=False)
        diverged = sum(t.user_attrs.get("stopped") == "diverged" for t in trials)
        if trials and diverged == len(trials):  # more budget would diverge again
            msg = (
                f"The search finished without one complete trial: each of its {diverged} "
                f"trial(s) diverged (non-finite outputs); lower the learning rates of the "
                f"search space ({lr_key})."
            )
        else:
            msg = (
                "The search finished without one complete trial; raise the budget (n_trials / "
                "time_budget) or check the log for the errors of failed trials."
            )
        raise RuntimeError(msg)
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
    return min(
        done, key=lambda t: (sign * t.value, t.user_attrs.get("val_loss", math.inf), t.number)
    )


def _retrain(best, arch: dict, params: dict, seed: int, build, train):
    """Train trial ``best`` again with its seed, to the point its kept weights were trained
    (recorded by :func:`run_study`; in full for a trial recorded without it)."""
    ua = best.user_attrs
    stop_after = None
    if "kept_epochs" in ua:
        stop_after = (int(ua["kept_epochs"]), int(ua.get("kept_batches", 0)))
        where = f"{stop_after[0]} epochs" + (
            f" and {stop_after[1]} minibatches" if stop_after[1] else ""
        )
    else:
        where = "in full (recorded by an earlier scautogenome)"
    logger.info(
        "retraining trial %d (trained in another process or session), %s", best.number, where
    )
    # the trial's own seed: another session or worker may run with another one
    trial_seed = int(ua.get("seed", seed + best.number))
    torch.manual_seed(trial_seed)
    res = train(build(arch), params, trial_seed, None, None, stop_after=stop_after)
    if "stopped" in ua:  # why the trial's training ended, not where the retraining was stopped
        res.stopped = str(ua["stopped"])
    return res


@dataclass
class StudyOutcome:
    """What :func:`run_study` found: the best trial's architecture, training settings and
    training result (whatever ``train`` returned), the trials table and the study."""

    architecture: dict
    train_params: dict
    result: Any
    best: optuna.trial.FrozenTrial
    trials: pd.DataFrame
    study: optuna.Study
    seconds: float
    n_threads: int | None = None
    """Torch's CPU threads the kept weights were trained on (None: not trained here)."""


@dataclass
class SearchResult:
    """The best model of a search: architecture, training settings, weights and curves, with
    the trials table.

    Attributes
    ----------
    architecture
        The best trial's architecture dict.
    train_params
        Its training settings (the keyword arguments of the trainer's parameters).
    state_dict
        Its weights (``{}`` where a best trial trained in another process was not retrained:
        ``retrain_best=False``).
    history
        Its training's per-epoch records (``[]`` without weights).
    best_value
        Its objective value: the validation score of a classifier search (the configured
        metric), the validation loss of a VAE search.
    best_trial
        Its trial number.
    trials
        One row per finished trial (:func:`trials_table`).
    study_name
        The Optuna study's name.
    seconds
        Wall-clock seconds of the search.
    kept
        How the kept model's training ended (:func:`kept_record`), for :func:`warn_if_cut`.
    n_threads
        Torch's CPU threads the kept weights were trained on (None where not known).
    """

    architecture: dict
    train_params: dict
    state_dict: dict
    history: list
    best_value: float
    best_trial: int
    trials: pd.DataFrame
    study_name: str
    seconds: float
    kept: dict = field(default_factory=dict, kw_only=True)
    """How the kept model's training ended (:func:`kept_record`), for :func:`warn_if_cut`."""
    n_threads: int | None = field(default=None, kw_only=True)
    """Torch's CPU threads the kept weights were trained on (None where not known: the
    thread count at the end of the search is recorded instead)."""

    @classmethod
    def from_outcome(cls, out: StudyOutcome, **extra):
        """The result of ``out``; without weights (``state_dict`` ``{}``, ``history`` ``[]``)
        where ``out`` has no training result (``retrain_best=False``).

        Parameters
        ----------
        out
            What :func:`run_study` found.
        **extra
            The fields of a subclass (such as a VAE search's), passed on to it.

        Returns
        -------
        An instance of the class it is called on.
        """
        return cls(
            architecture=out.architecture,
            train_params=out.train_params,
            state_dict={} if out.result is None else out.result.state_dict,
            history=[] if out.result is None else out.result.history,
            best_value=float(out.best.value),
            best_trial=out.best.number,
            trials=out.trials,
            study_name=out.study.study_name,
            seconds=out.seconds,
            kept=kept_record(out.best.user_attrs),
            n_threads=out.n_threads,
            **extra,
        )


def _of_point(trial: optuna.trial.FrozenTrial, params: dict) -> bool:
    """Whether ``trial`` is one of the point ``params`` (its enqueued parameters, or those it
    drew)."""
    fixed = trial.system_attrs.get("fixed_params", trial.params)
    return all(k in fixed and fixed[k] == v for k, v in params.items())


def _is_start(study: optuna.Study, number: int, points: list[dict]) -> bool:
    """Whether trial ``number`` was enqueued with one of the starting ``points`` (its
    enqueued parameters, not values it drew: a drawn trial that happens to match a point is
    none, nor is every trial where a point fixes no parameter)."""
    own = next((t for t in study.get_trials(deepcopy=False) if t.number == number), None)
    if own is None or "fixed_params" not in own.system_attrs:
        return False
    return any(_of_point(own, params) for params in points)


def _point_taken(study: optuna.Study, number: int) -> int | None:
    """The lower-numbered trial, running or complete, of the point that trial ``number`` was
    enqueued with (None where there is none, or the trial was not enqueued). Two processes
    that start one study together may both enqueue the starting points (Optuna's
    ``skip_if_exists`` is not atomic across processes): the second trial of a point is then
    this one's. Only a trial enqueued with the same parameters counts."""
    trials = study.get_trials(deepcopy=False)
    own = next((t for t in trials if t.number == number), None)
    fixed = None if own is None else own.system_attrs.get("fixed_params")
    if not fixed:
        return None
    taken = (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.COMPLETE)
    for t in trials:
        # the same point exactly (as Optuna's skip_if_exists compares): a point of one's own
        # that leaves a parameter to the sampler is not one that fixes it
        if t.number < number and t.state in taken and t.system_attrs.get("fixed_params") == fixed:
            return t.number
    return None


def _points_to_run(study: optuna.Study, points: list[dict]) -> list[tuple[dict, bool]]:
    """The starting ``points`` a resumed ``study`` still lacks, each with whether it was
    interrupted: no trial of it at all (an earlier session's budget ended first), or every
    trial of it failed by an interruption (the ``interrupted`` user attribute). A point that
    completed, was pruned, waits, runs or failed for a reason of its own is not run again."""

    trials = study.get_trials(deepcopy=False)
    out = []
    for params in points:
        own = [t for t in trials if _of_point(t, params)]
        interrupted = [
            t.state == optuna.trial.TrialState.FAIL and t.user_attrs.get("interrupted") for t in own
        ]
        if all(interrupted):  # also where there is none
            out.append((params, bool(own)))
    return out


DIVERGED_WARNED = 3
"""Trials of a search whose divergence is a warning each; later ones are info lines (a space
of high learning rates diverges in trial after trial)."""


class _Diverged(RuntimeError):
    """A trial whose training diverged, already named by the search's log in one line: it
    fails (Optuna catches RuntimeError), and Optuna's report of it is left out."""

    def __init__(self, number: int, message: str):
        super().__init__(message)
        self.number = number


class _OptunaQuiet(logging.Filter):
    """Leave out of Optuna's log what the search's own log already says: the traceback of a
    trial stopped by Ctrl-C (or SIGTERM), which the command line and the search name, of a
    trial another process failed as dead (its result dropped with a warning), and both lines
    of a trial whose training diverged (:class:`_Diverged`, one line of sag's); Optuna's
    second line of each ("Trial N failed with value None.") too."""

    def __init__(self):
        super().__init__()
        self.named: set[int] = set()  # trials whose failure sag's log names

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        text = record.getMessage()
        if isinstance(exc, _Diverged):
            self.named.add(exc.number)
            return False
        # Ctrl-C; or a trial another process failed as dead, whose result Optuna could not
        # record (UpdateFinishedTrialError): the search's warning names it
        named = ("KeyboardInterrupt", "UpdateFinishedTrialError", _FINISHED_TEXT)
        if (
            isinstance(exc, KeyboardInterrupt)
            or (exc is not None and _finished_update(exc))
            or any(kind in text for kind in named)
        ):
            number = re.match(r"Trial (\d+) failed", text)
            if number:
                self.named.add(int(number.group(1)))
            return False
        return not any(text.startswith(f"Trial {n} failed with value ") for n in self.named)


def _optuna_log_follows_sag(func):
    """Optuna's own log (a failed trial's warning and traceback) follows sag's verbosity
    while ``func`` runs (warnings, or errors only at verbosity 0), without what sag's log
    says already (:class:`_OptunaQuiet`); its level is restored afterwards."""

    @functools.wraps(func)
    def run(*args, **kwargs):
        level = optuna.logging.get_verbosity()
        quiet = settings.verbosity == 0
        optuna.logging.set_verbosity(optuna.logging.ERROR if quiet else optuna.logging.WARNING)
        handlers = list(logging.getLogger("optuna").handlers)
        shown = _OptunaQuiet()
        for handler in handlers:
            handler.addFilter(shown)
        try:
            return func(*args, **kwargs)
        finally:
            for handler in handlers:
                handler.removeFilter(shown)
            optuna.logging.set_verbosity(level)

    return run


class _DeferredSignals:
    """While a search runs in the main thread: Ctrl-C (and SIGTERM or SIGHUP where a Python
    handler raises for it, as the command line's) only noted, and raised by :meth:`check` at the
    points the search reaches often (a trial's start and end, each epoch's report, the
    batch heartbeat of a long epoch), where no storage write is under way. An interruption
    inside an SQLite write would leave Optuna unable to record the trial ("Should not
    reach."); from a check point it is recorded as failed, and the search says what it
    kept. A second signal before the first is raised acts at once (a search stuck in a
    write can still be stopped). The previous handlers are restored on leaving; a signal
    noted after the last check is raised then (where nothing else is)."""

    SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")

    def __init__(self):
        self.pending: tuple[int, Any] | None = None
        self.previous: dict[int, Any] = {}
        self.stderr: int | None = None  # the descriptor of sys.stderr, where there is one

    def __enter__(self) -> _DeferredSignals:
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            return self  # signals reach only the main thread: nothing to defer
        with contextlib.suppress(AttributeError, OSError, ValueError):  # none, closed, Jupyter's
            self.stderr = sys.stderr.fileno()
        for name in self.SIGNALS:
            signum = getattr(signal, name, None)
            # only a Python handler (Ctrl-C's KeyboardInterrupt): not the default action
            # (SIGTERM ends the process) nor an ignored signal
            if signum is not None and callable(signal.getsignal(signum)):
                self.previous[signum] = signal.signal(signum, self._note)
        return self

    def _note(self, signum, frame) -> None:
        if self.pending is not None:  # a second one: as it would be without the search
            self.previous[signum](signum, frame)
            return
        self.pending = (signum, frame)
        # a line at once, so that a wait for the next check point is not taken for a hang
        # (os.write: the logging module is not safe inside a signal handler)
        if self.stderr is not None:  # not a descriptor 2 that a file took over
            with contextlib.suppress(OSError):
                os.write(
                    self.stderr,
                    b"\nsag: stopping the search at its next safe point (again: at once)\n",
                )

    def check(self) -> None:
        """Act on a noted signal as its previous handler would (KeyboardInterrupt)."""
        if self.pending is None:
            return
        (signum, frame), self.pending = self.pending, None
        self.previous[signum](signum, frame)

    def __exit__(self, exc_type, exc, tb) -> None:
        import signal

        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        if exc_type is None:
            self.check()


@_optuna_log_follows_sag
def run_study(
    config: dict,
    *,
    sample: Callable[[Any], tuple[dict, dict]],
    build: Callable[[dict], Any],
    train: Callable[..., Any],
    direction: str,
    value_of: Callable[[Any], float],
    study_name: str,
    seed: int = 0,
    storage: str | None = None,
    enqueue: Callable[[], list[dict]] | None = None,
    trial_cap: float | None = None,
    cap_starts: bool = True,
    extra_attrs: Callable[[Any], dict] | None = None,
    extra_columns: tuple[str, ...] = (),
    postfix: str = "best val",
    fingerprint: dict | Callable[[], dict] | None = None,
    retrain_best: bool = True,
    sampler_salt: int | None = None,
    io_shape: tuple[int | None, int | None] | None = None,
) -> StudyOutcome:
    """Run an Optuna study under ``config['budget']`` with the sampler and pruner of
    ``config['search']``.

    Parameters
    ----------
    sample
        ``trial -> (architecture, train_params)``; also called with an
        ``optuna.trial.FixedTrial`` of the best parameters.
    build
        ``architecture -> network`` (called after ``torch.manual_seed(seed + trial.number)``).
    train
        ``(network, train_params, seed, report, deadline, stop_after=None) -> result``: a
        training result with ``best_loss``, ``best_epoch``, ``history``, ``seconds``,
        ``stopped``, ``cut_batches``; ``report(epoch, value)`` may raise
        :class:`~scautogenome.train.Pruned`; ``stop_after`` as in
        :func:`~scautogenome.train.train_classifier`.
    direction
        ``"maximize"`` or ``"minimize"``.
    value_of
        The trial's objective value from a training result.
    enqueue
        Starting points to enqueue in a new study (not when resuming one). A trial of these
        parameters is a starting point in a resumed study too (one enqueued and not yet run,
        or the retry of one whose process died).
    trial_cap
        Seconds a single trial may train (besides the overall deadline).
    cap_starts
        Whether ``trial_cap`` also applies to the enqueued starting points. With False they
        train until they converge or the overall deadline, so that a tight budget still ends
        with one fully trained model instead of several cut-off ones.
    extra_attrs, extra_columns
        More user attributes to record per trial, and which of them become columns of the
        trials table.
    postfix
        Label of the best value in the progress bar (and, without its "best ", in the log).
    fingerprint
        What the trials are scored on (JSON values; arrays as
        :func:`scautogenome._utils.digest`), or a function that returns it, called only with a
        ``storage`` (where a study can be resumed). Recorded on a new study; resuming a study
        recorded with another is an error, raised before any training.
    retrain_best
        Whether to retrain the best trial when it was trained in another process or session
        (to return its weights). With False (a worker, which only reports it) the outcome's
        ``result`` is None in that case.
    sampler_salt
        Mixed into the sampler's seed (:func:`sampler_seed`); a worker's random salt, so that
        workers started together on one study do not draw the same points.
    io_shape
        The inputs and outputs (genes, classes) of this search's networks, which the trials
        of an earlier scautogenome that recorded no ``fingerprint`` must have (None: not
        checked, neither or the one that is None).

    Each trial records (user attributes) ``kept_epochs`` and ``kept_batches``
    (:func:`~scautogenome.train._trainer.kept_point`: how far its kept weights were trained)
    and ``stopped`` (why its training ended). A best trial retrained here trains with its seed
    and recorded settings to exactly that point and no further, without a deadline: the same
    weights on the same device, also where its deadline cut an epoch short (the retraining
    stops after as many minibatches of that epoch). Trials recorded before these attributes
    existed are retrained in full.
    """
    start = time.perf_counter()
    budget = config["budget"]
    deadline = None if budget["time_budget"] is None else start + float(budget["time_budget"])
    kept: dict[int, Any] = {}  # trial number -> training result, the best one only
    sign = 1.0 if direction == "maximize" else -1.0

    shared = storage is not None
    store = open_storage(storage)
    if shared and budget["n_trials"] == 0:  # collecting: the study must be there already
        check_study_there(store, study_name)
    study = optuna.create_study(
        storage=store,
        study_name=study_name,
        direction=direction,
        sampler=make_sampler(config, seed, shared),
        pruner=make_pruner(config),
        load_if_exists=shared,
    )
    if shared and sampler_salt is not None:  # a worker: its salt keeps its points its own
        _fail_stale_trials(study, store)
    elsewhere = shared and sampler_salt is None and _running_elsewhere(study, store)
    # a storage without Optuna's heartbeats (a journal file): sag's, from a thread per trial
    beats = shared and not _optuna_heartbeats(store)
    n_before = len(study.trials)
    if elsewhere:
        # another process searches this study now: a seed derived from the same trial count
        # would draw that process's points again (as a worker's salt avoids)
        sampler_salt = int(np.random.SeedSequence().entropy % 2**32)
        logger.info(
            "study %r has trial(s) running in another process: this search draws points of "
            "its own (a random salt in the sampler's seed), not reproducible by seed",
            study.study_name,
        )
    if n_before or sampler_salt is not None:
        study.sampler = make_sampler(config, sampler_seed(seed, n_before, sampler_salt), shared)
    if callable(fingerprint):
        fingerprint = fingerprint() if shared else None
    check_fingerprint(study, fingerprint, n_before, io_shape)
    tag = fingerprint_tag(fingerprint)
    points: list[dict] = enqueue() if enqueue is not None else []
    if n_before:
        finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        states = [t.state for t in study.get_trials(deepcopy=False)]
        n_finished = sum(state in finished for state in states)
        # trials running elsewhere, or none finished and all running or waiting (the
        # starting points another process has just enqueued): a search of another process
        unstarted = (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)
        live = elsewhere or (not n_finished and all(state in unstarted for state in states))
        # trials queued before (starting points an interrupted session did not reach): Optuna
        # runs them first, before any queued now
        n_queued = sum(state == optuna.trial.TrialState.WAITING for state in states)
        queued = f", {n_queued} queued (they run first)" if n_queued else ""
        logger.info(
            "joining study %r, which another process searches now (%d earlier trial(s), %d "
            "of them finished%s)"
            if live
            else "resuming study %r with %d earlier trial(s), %d of them finished%s",
            study.study_name,
            n_before,
            n_finished,
            queued,
        )
        # a starting point whose trial was interrupted (Ctrl-C), or that an earlier session's
        # budget did not reach, is run next; one that failed for a reason of its own (or
        # ran) is not
        todo = _points_to_run(study, points)
        if budget["n_trials"] is not None:
            todo = todo[: max(0, budget["n_trials"] - n_queued)]
        for params, interrupted in todo:
            why = "interrupted before" if interrupted else "not run before"
            logger.info("running the starting point %s, %s", params, why)
            study.enqueue_trial(params)
    else:
        if shared:  # a typo in the name, or a relative path from another folder, shows here
            file = storage_file(storage)
            logger.info(
                "study %r is new: a search starts in %s",
                study.study_name,
                os.path.abspath(file) if file else storage_shown(storage),
            )
        if budget["n_trials"] is not None:
            points = points[: budget["n_trials"]]
        for params in points:
            study.enqueue_trial(params, skip_if_exists=True)

    def rank(res) -> tuple[float, float]:
        # larger is better: the value in the study's direction, then the lower validation loss
        return sign * value_of(res), -res.best_loss

    started = [0]  # trials this process has started
    duplicates = [0]  # of them, copies of a starting point another process trains (pruned)
    mine: set[int] = set()  # their numbers (the summary counts them apart from the others')
    threads: dict[int, int] = {}  # trial number -> torch's CPU threads it trained on
    diverged: list[int] = []  # the trials of this run whose training diverged

    signals = _DeferredSignals()

    def objective(trial: optuna.Trial) -> float:
        with _Heartbeat(trial) if beats else contextlib.nullcontext():
            return run_trial(trial)

    def run_trial(trial: optuna.Trial) -> float:
        started[0] += 1  # before anything that may fail: a failed trial counts too
        mine.add(trial.number)
        try:
            signals.check()  # Ctrl-C while the last trial was recorded or this one drawn
        except KeyboardInterrupt:  # failed by Optuna; a resumed search runs it again
            trial.set_user_attr("interrupted", True)
            raise
        arch, params = sample(trial)
        trial.set_user_attr("mode", arch["kind"])
        trial.set_user_attr("architecture", json.dumps(arch, sort_keys=True))
        trial.set_user_attr("train_params", json.dumps(params, sort_keys=True))
        trial.set_user_attr("seed", seed + trial.number)  # a retrain elsewhere takes it
        if tag is not None:
            trial.set_user_attr(FINGERPRINT_TAG_ATTR, tag)
        taken = _point_taken(study, trial.number) if shared else None
        if taken is not None:
            started[0] -= 1  # trained by another process: no trial of this one's budget
            duplicates[0] += 1
            trial.set_user_attr("stopped", "duplicate")
            logger.info(
                "trial %d: its starting point is trial %d's (another process enqueued it "
                "too); pruned without training",
                trial.number,
                taken,
            )
            raise optuna.TrialPruned
        torch.manual_seed(seed + trial.number)
        net = build(arch)
        trial.set_user_attr("n_params", count_parameters(net))
        n_epochs = [0]

        def report(epoch: int, value: float) -> None:
            signals.check()
            n_epochs[0] = epoch + 1
            # a long trial shows its epochs (redrawn at most every 2 s)
            shown.pop("batch", None)  # a new epoch: the heartbeat's batch is of the last
            show(every=2.0, trial=str(trial.number), epoch=str(epoch + 1))
            trial.report(value, epoch)
            if trial.should_prune():
                raise Pruned

        t0 = time.perf_counter()
        if kept and deadline is not None and t0 >= deadline:
            # the budget ran out while this trial was drawn and built (Optuna's clock, which
            # started it, starts after sag's; a storage's writes and a wide network's set-up
            # come between): it would train one minibatch and be stored as complete with that
            # score. Pruned untrained, and the search ends (a search with no complete trial
            # of its own still trains one, which check_trained judges)
            trial.set_user_attr("stopped", "time_budget")
            trial.set_user_attr("epochs", 0)
            trial.set_user_attr("seconds", 0.0)
            logger.info(
                "trial %d: the time budget ran out before it trained; pruned untrained, and "
                "the search ends",
                trial.number,
            )
            study.stop()
            raise optuna.TrialPruned
        # the last trial n_trials allows this process has no later trial to leave time for
        last = budget["n_trials"] is not None and started[0] >= budget["n_trials"]
        capped = (
            trial_cap is not None
            and deadline is not None
            and (cap_starts or not _is_start(study, trial.number, points))
            and not last
            and t0 + trial_cap < deadline
        )
        trial_deadline = t0 + trial_cap if capped else deadline
        if capped:
            trial.set_user_attr("cap_seconds", float(trial_cap))
        stopped = None  # the exception that ends this trial, raised below
        try:
            res = train(net, params, seed + trial.number, report, trial_deadline)
        except KeyboardInterrupt:  # failed by Optuna; a resumed search runs it again
            trial.set_user_attr("interrupted", True)
            raise
        except Pruned:
            trial.set_user_attr("epochs", n_epochs[0])
            trial.set_user_attr("seconds", time.perf_counter() - t0)
            stopped = optuna.TrialPruned()
        except Diverged as err:  # another error: failed by Optuna, with its traceback
            # one line here, none from Optuna (_OptunaQuiet); the search goes on
            trial.set_user_attr("stopped", "diverged")
            trial.set_user_attr("epochs", n_epochs[0])
            trial.set_user_attr("seconds", time.perf_counter() - t0)
            diverged.append(trial.number)
            if len(diverged) <= DIVERGED_WARNED:
                logger.warning(
                    "trial %d failed: %s%s",
                    trial.number,
                    err,
                    "; later trials that diverge are logged at info level (the summary counts them)"
                    if len(diverged) == DIVERGED_WARNED
                    else "",
                )
            else:
                logger.info("    trial %d failed: %s", trial.number, err)
            stopped = _Diverged(trial.number, str(err))
        if stopped is not None:
            # raised here, not in the except clause: there the caught exception's traceback,
            # which holds the training's frame (its network, optimizer state and last
            # batches), would be this one's context, kept by a reference cycle through
            # Optuna's frame until the cycle collector ran (a GPU held two trials' memory)
            raise stopped
        # the thread count changes the weights a seed learns: recorded with the model
        threads[trial.number] = torch.get_num_threads()
        trial.set_user_attr("n_threads", threads[trial.number])
        trial.set_user_attr("val_loss", res.best_loss)
        trial.set_user_attr("best_epoch", res.best_epoch)
        trial.set_user_attr("epochs", len(res.history))
        trial.set_user_attr("seconds", res.seconds)
        kept_epochs, kept_batches = kept_point(res)
        trial.set_user_attr("kept_epochs", kept_epochs)
        trial.set_user_attr("kept_batches", kept_batches)
        trial.set_user_attr("cut_batches", int(res.cut_batches or 0))
        # "trial_cap": cut at its share of the time budget, not at the end of the budget
        trial.set_user_attr(
            "stopped", "trial_cap" if capped and res.stopped == "time_budget" else res.stopped
        )
        for name, value in (extra_attrs(res) if extra_attrs else {}).items():
            trial.set_user_attr(name, value)
        if not kept or rank(res) > rank(next(iter(kept.values()))):
            kept.clear()
            kept[trial.number] = res
        return value_of(res)

    # with a time budget the search ends at it, whatever the trial count suggests: no ETA
    # from the trials' rate, the time left instead
    of_total = "" if budget["n_trials"] is None else "/{total_fmt}"
    timed = "{desc}: {n_fmt}" + of_total + " trials [{elapsed}{postfix}]"
    bar = progress(
        budget["n_trials"],
        "search",
        unit="trial",
        bar_format=timed if deadline is not None else None,
    )
    shown: dict[str, str] = {}
    drawn = [0.0]  # when the bar was last redrawn
    watched = interactive()

    def show(every: float = 0.0, **fields) -> None:
        """Update the bar's fields; redraw it unless it was redrawn less than ``every``
        seconds ago (epochs: a log file gets a line per redraw)."""
        new_trial = fields.get("trial") not in (None, shown.get("trial"))
        shown.update(fields)
        now = time.perf_counter()
        if deadline is not None:
            shown["budget left"] = f"{max(0.0, deadline - now):.0f}s"
        # a bar going to a file: no sooner than its own interval, new trial or not
        redraw = (new_trial and watched) or now - drawn[0] >= max(
            every, getattr(bar, "mininterval", 0.0)
        )
        bar.set_postfix(shown, refresh=redraw)
        if redraw:
            drawn[0] = now

    n_complete = [0]  # trials this run completed (the interruption's message names them)

    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        n_complete[0] += trial.state == optuna.trial.TrialState.COMPLETE
        try:
            best = study.best_value
        except ValueError:
            best = float("nan")
        shown.pop("trial", None)
        shown.pop("epoch", None)
        shown.pop("batch", None)
        # the fields first, undrawn: the count's redraw shows the finished trial gone
        show(every=math.inf, **{postfix: f"{best:.4g}", "last": trial.state.name.lower()})
        bar.update(1)
        logger.debug(
            "trial %d %s value=%s params=%s",
            trial.number,
            trial.state.name,
            trial.value,
            trial.params,
        )
        if shared:  # a trial of a process that died meanwhile: failed, and queued again
            _fail_stale_trials(study, store)
        signals.check()  # Ctrl-C while the trial was recorded: the search stops here

    def heartbeat(i: int, n: int) -> None:  # within a long epoch: the batch it is at
        signals.check()
        show(batch=f"{i}/{n}")

    dropped: set[int] = set()  # trials of this search that another process failed as dead

    def failed_elsewhere() -> list[int]:
        """This search's trials another process failed as dead (:func:`_fail_stale_trials`),
        not said before, once Optuna could not record the result of the latest (it was failed
        meanwhile): that one, and those marked so in a journal or queued once more (Optuna's
        retry callback, its ``retry_history``) in a database, where Optuna's heartbeats fail
        them."""
        trials = study.get_trials(deepcopy=False)
        retried = {n for t in trials for n in t.system_attrs.get("retry_history", ())}
        latest = max(mine, default=None)
        return sorted(
            t.number
            for t in trials
            if t.state == optuna.trial.TrialState.FAIL
            and t.number in mine
            and t.number not in dropped
            and (STALE_ATTR in t.user_attrs or t.number in retried or t.number == latest)
        )

    try:
        with batch_heartbeat(heartbeat), signals:
            pruned_before = 0
            while True:
                n_left = None if budget["n_trials"] is None else budget["n_trials"] - started[0]
                if n_left is not None and n_left <= 0:
                    break
                try:
                    study.optimize(
                        objective,
                        n_trials=n_left,
                        # with a storage, what is left of the budget: Optuna counts from this
                        # call, sag from its start, and the fingerprint comes between (a trial
                        # started past sag's deadline would train one minibatch and be stored
                        # as complete). Without one nothing does, and a budget too small for
                        # one epoch fails as it should
                        timeout=budget["time_budget"]
                        if deadline is None or storage is None
                        else max(0.0, deadline - time.perf_counter()),
                        callbacks=[callback],
                        catch=(RuntimeError,),
                        gc_after_trial=False,
                    )
                    if budget["n_trials"] is not None and duplicates[0] > pruned_before:
                        pruned_before = duplicates[0]  # Optuna counted them: the rest now
                        continue
                except ValueError as err:
                    # Optuna cannot record the result of a trial another process failed as
                    # dead (a clock far from this machine's, or this process held up): it is
                    # dropped, and the search goes on
                    taken = failed_elsewhere() if shared else []
                    if not (taken and str(err).startswith("Cannot tell a")):
                        raise
                    dropped.update(taken)
                    logger.warning(
                        "trial(s) %s of this search were failed by another process, which took "
                        "them for dead (no heartbeat for %g s: the machines' clocks differ by "
                        "more than a minute, or this process was held up); its results are "
                        "dropped, and the search goes on",
                        taken,
                        GRACE_PERIOD,
                    )
                    continue
                break
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM on the command line
        bar.close()  # its last frame above the warning (open, tqdm redraws it below it)
        logger.warning(
            "search interrupted after %d complete trial(s) of this run; nothing was written "
            "into the data. %s",
            n_complete[0],
            "The storage keeps the finished trials: the same call resumes the search."
            if storage is not None
            else "They are not kept: a search given a storage can be resumed.",
        )
        raise
    finally:
        bar.close()
    # what ended the search, for its summary line: the time budget, or the trial count
    ended = (
        f" (the time budget of {float(budget['time_budget']):g} s ended it: the trials a "
        "clock allows depend on the machine's speed, so the same seed may keep another model; "
        "n_trials= without the clock repeats)"
        if deadline is not None and time.perf_counter() >= deadline
        else ""
    )
    try:
        # classify's space keeps the learning rates among the settings common to its modes
        common = "['common']" if "common" in config.get("space", {}) else ""
        best = best_trial(study, tag, f"config['space']{common}['lr']")
    except RuntimeError:  # no complete trial: say so where the budget ran out before any
        if storage is not None and deadline is not None and not mine:
            msg = (
                f"time_budget={float(budget['time_budget']):g} s ran out before the first trial "
                f"started ({time.perf_counter() - start:.1f} s went to opening the study and "
                "checking what it was run on); raise time_budget."
            )
            raise ValueError(msg) from None
        raise
    arch = json.loads(best.user_attrs["architecture"])
    if "train_params" in best.user_attrs:  # as trained, whatever this session's config says
        params = json.loads(best.user_attrs["train_params"])
    else:
        _, params = sample(optuna.trial.FixedTrial(best.params))
    n_threads = threads.get(best.number)
    if best.number in kept:
        res = kept[best.number]
    elif not retrain_best:
        res = None
    else:  # best trial ran in another process or an earlier session: retrain it, same seed
        res = _retrain(best, arch, params, seed, build, train)
        n_threads = torch.get_num_threads()
    table = trials_table(study, extra_columns, tag)
    logger.info(
        "search: %s%s; best trial %d (%s) %s %.4f",
        _trials_summary(table, mine),
        ended,
        best.number,
        arch["kind"],
        postfix.removeprefix("best "),
        best.value,
    )
    return StudyOutcome(
        architecture=arch,
        train_params=params,
        result=res,
        best=best,
        trials=table,
        study=study,
        seconds=time.perf_counter() - start,
        n_threads=n_threads,
    )


def _trials_summary(table: pd.DataFrame, mine: set[int]) -> str:
    """The trials of the summary line: those this process ran (``mine``: their numbers) by
    state, then how many finished trials of the study came from other processes or earlier
    runs (workers sharing the study, a resumed search, a collecting one)."""
    states = table["state"] if len(table) else pd.Series([], dtype=str)
    own = table["number"].isin(mine) if len(table) else pd.Series([], dtype=bool)
    n_own, n_others = int(own.sum()), int((~own).sum())
    others = f"{n_others} from other processes or earlier runs"
    if not n_own:  # a collecting run (n_trials=0)
        return f"no trial of this run, {others}"
    n_done = int((states[own] == "complete").sum())
    n_pruned = int((states[own] == "pruned").sum())
    n_failed = int((states[own] == "fail").sum())
    own_trials = f"{n_own} trial{'s' if n_own > 1 else ''}"
    counts = f"({n_done} complete, {n_pruned} pruned{f', {n_failed} failed' if n_failed else ''})"
    if not n_others:
        return f"{own_trials} {counts}"
    return f"{own_trials} of this run {counts} and {others}"
