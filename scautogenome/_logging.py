"""Logging that keeps tqdm progress bars intact, and small timing helpers."""

from __future__ import annotations

import contextvars
import logging
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from datetime import timedelta

from tqdm import TqdmWarning

with warnings.catch_warnings():
    # in a Jupyter kernel without ipywidgets, tqdm.auto warns ("IProgress not found") at
    # import, before any bar is asked for, and falls back to text bars: those are what sag
    # shows there, and sag.settings.progress_bar=False turns them off
    warnings.simplefilter("ignore", TqdmWarning)
    from tqdm.auto import tqdm


class TqdmHandler(logging.Handler):
    """Write log records through ``tqdm.write`` so that bars are not broken.

    Writes to whatever ``sys.stderr`` is at the time (notebooks and test runners swap it).
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


class LevelFormatter(logging.Formatter):
    """The message alone, as scanpy writes its own: a warning or an error marked
    ``WARNING:``/``ERROR:`` after its indentation, so that it stands out among the info
    lines."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.levelno < logging.WARNING:
            return text
        body = text.lstrip(" ")
        mark = "ERROR: " if record.levelno >= logging.ERROR else "WARNING: "
        return text[: len(text) - len(body)] + mark + body


def elapsed(start: float) -> str:
    """``"0:00:03"``-style duration since ``start`` (a ``time.perf_counter`` value)."""
    return str(timedelta(seconds=round(time.perf_counter() - start)))


STILL_RUNNING_EVERY = 30.0
"""Seconds between two "still running" lines of :func:`still_running`."""


@contextmanager
def scanpy_quiet():
    """scanpy's own log lines held back for the block (its verbosity at most 1, warnings;
    restored after): inside a sag call they describe sag's working copies ("added to
    `.uns['neighbors']`" of an AnnData the user never sees, "found 1 clusters" of a
    resolution being tuned), and sag's own lines say what is done, at sag's verbosity."""
    import scanpy as sc

    before = sc.settings.verbosity
    sc.settings.verbosity = min(int(before), 1)
    try:
        yield
    finally:
        sc.settings.verbosity = before


_COLLECTING = {"n": 0, "lowered": False, "lock": threading.Lock()}
"""How many :func:`logged_warnings` blocks run now (in any thread), and whether one of them
lowered sag's logger to WARNING (at verbosity 0, which drops warnings), under their lock. The
warnings it then lets through are kept from the terminal by the filter of sag's own handler,
which shows what ``settings.verbosity`` says whatever the logger's level."""


@contextmanager
def logged_warnings():
    """Collect the messages that sag's logger emits at WARNING and above in this thread while
    the block runs (each formatted with its arguments, without its indentation), for a tool
    to record with its results: yields the list, filled as the block runs.

    They are still logged as before: at verbosity 0 (errors only), where the logger drops
    warnings, they are collected all the same and kept from the terminal (sag's handler shows
    what the verbosity says; another handler, such as pytest's ``caplog``, receives them).
    The logger's level is that of ``settings.verbosity`` again once no block runs, in any
    thread (a verbosity set inside a block included)."""
    from ._settings import _LEVELS, logger, settings

    messages: list[str] = []
    thread = threading.get_ident()  # another thread's warnings (its own call) are not ours

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.thread != thread:
                return
            try:
                messages.append(record.getMessage().strip())
            except Exception:
                self.handleError(record)

    collect = Collect(logging.WARNING)
    with _COLLECTING["lock"]:
        _COLLECTING["n"] += 1
        if not logger.isEnabledFor(logging.WARNING):  # verbosity 0: let them reach collect
            logger.setLevel(logging.WARNING)
            _COLLECTING["lowered"] = True
        logger.addHandler(collect)
    try:
        yield messages
    finally:
        with _COLLECTING["lock"]:
            logger.removeHandler(collect)
            _COLLECTING["n"] -= 1
            if _COLLECTING["n"] == 0 and _COLLECTING["lowered"]:
                logger.setLevel(_LEVELS[settings.verbosity])
                _COLLECTING["lowered"] = False


@contextmanager
def still_running(what: str, every: float | None = None):
    """While the block runs, log every ``every`` seconds (:data:`STILL_RUNNING_EVERY`) that
    ``what`` is still running, and for how long: for a step of scanpy's that shows no progress
    of its own (a t-SNE of 10,000 cells takes about 2 minutes on one core)."""
    import threading

    from ._settings import logger

    every = STILL_RUNNING_EVERY if every is None else float(every)
    if not every > 0:
        msg = f"every={every!r} must be a positive number of seconds."
        raise ValueError(msg)
    start, done = time.perf_counter(), threading.Event()

    def beat() -> None:
        while not done.wait(every):
            logger.info("    %s: still running (%s)", what, elapsed(start))

    thread = threading.Thread(target=beat, name=f"sag: {what}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def user_stacklevel() -> int:
    """The ``stacklevel`` for :func:`warnings.warn`, called from the function that warns,
    that points the warning at the first line outside this package (the user's call), however
    deep inside the package the warning is raised."""
    import os

    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    cli = package + "cli.py"  # the command line's call is the user's (shown as one line)
    frame, level = sys._getframe(1), 1
    while frame is not None:
        name = os.path.abspath(frame.f_code.co_filename)
        if not name.startswith(package) or name == cli:
            break
        frame, level = frame.f_back, level + 1
    return level


LOG_FILE_REDRAW = 30.0
"""Seconds between two redraws of a bar written to a file (a job's log, ``nohup``), where
every redraw adds a line's worth of bytes; a terminal or a notebook redraws at tqdm's pace."""


def interactive() -> bool:
    """Whether bars are watched as they redraw: stderr is a terminal, or a Jupyter kernel."""
    return bool(getattr(sys.stderr, "isatty", lambda: False)()) or "ipykernel" in sys.modules


def bar_interval() -> float:
    """tqdm's ``mininterval`` for a bar: its default where one watches, else
    :data:`LOG_FILE_REDRAW`."""
    return 0.1 if interactive() else LOG_FILE_REDRAW


def progress(
    total: int | None,
    desc: str,
    *,
    leave: bool = True,
    unit: str = "it",
    bar_format: str | None = None,
):
    """A tqdm bar that respects :attr:`scautogenome.settings.show_progress`, redrawn seldom
    when it goes to a file (:func:`bar_interval`). There a bar that would not stay
    (``leave=False``) stays: tqdm clears one by writing over it, which a file keeps as
    clutter before the next line."""
    from ._settings import settings

    return SafeBar(
        total=total,
        desc=desc,
        leave=leave or not interactive(),
        unit=unit,
        bar_format=bar_format,
        disable=not settings.show_progress,
        mininterval=bar_interval(),
    )


class SafeBar(tqdm):
    """A tqdm bar that turns itself off where its stream cannot be written (the reader of a
    piped stderr gone: ``scautogenome classify ... 2>&1 | head``), so that the work goes on,
    as a log line that cannot be written is dropped (``logging.Handler.handleError``)."""

    @staticmethod
    def status_printer(*args, **kwargs):  # it flushes stderr as the bar is made
        try:
            return tqdm.status_printer(*args, **kwargs)
        except OSError:
            return lambda *args, **kwargs: None

    def display(self, *args, **kwargs):
        try:
            return super().display(*args, **kwargs)
        except OSError:  # BrokenPipeError; tqdm itself passes over EIO and closed files only
            self.disable = True
            return None

    def close(self) -> None:
        try:
            super().close()
        except OSError:
            self.disable = True


@contextmanager
def epoch_bar(max_epochs: int, desc: str = "training"):
    """A bar (named ``desc``) of a model's training over its epochs: yields the trainer's
    ``on_epoch`` hook, which moves it on and shows the epoch's validation score."""
    with progress(max_epochs, desc, leave=False, unit="epoch") as bar:

        def on_epoch(record: dict) -> None:
            bar.set_postfix_str(f"val score {record['val_score']:.4g}", refresh=False)
            bar.update(1)

        yield on_epoch


INFERENCE_BAR_ROWS = 20_000
"""From this many cells on, predicting or encoding them shows a bar (about 3 s on 2 CPU
cores); fewer finish before a bar would tell anything."""


def inference_batches(loader, n_rows: int, desc: str | None):
    """The batches of ``loader``, through a bar named ``desc`` when ``desc`` is given and there
    are :data:`INFERENCE_BAR_ROWS` rows or more."""
    if desc is None or n_rows < INFERENCE_BAR_ROWS:
        yield from loader
        return
    with progress(len(loader), f"{desc} {n_rows:,} cells", leave=False, unit="batch") as bar:
        for item in loader:
            yield item
            bar.update()


HEARTBEAT_SECONDS = 2.0
"""How often a long epoch tells a running search's bar which batch it is at."""

# the running search's callable and when it last ran, per thread / asyncio task (a search in
# another thread has its own bar)
_HEARTBEAT: contextvars.ContextVar = contextvars.ContextVar("sag_heartbeat", default=None)


def batch_done(i: int, n: int) -> None:
    """A training loop's batch ``i`` of ``n`` is done: the running search's bar hears of it at
    most every :data:`HEARTBEAT_SECONDS` (an epoch of many cells takes a minute or more)."""
    state = _HEARTBEAT.get()
    if state is None:
        return
    now = time.perf_counter()
    if now - state[1] >= HEARTBEAT_SECONDS:
        state[1] = now
        state[0](i, n)


@contextmanager
def batch_heartbeat(hook):
    """While the block runs, :func:`batch_done` calls ``hook(i, n)`` (a search's bar)."""
    token = _HEARTBEAT.set([hook, time.perf_counter()])
    try:
        yield
    finally:
        _HEARTBEAT.reset(token)
