"""Global settings: seed, device, verbosity, progress bars, CPU threads."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading

import numpy as np

logger = logging.getLogger("scautogenome")

_LEVELS = {0: logging.ERROR, 1: logging.WARNING, 2: logging.INFO, 3: logging.DEBUG}
_NAMES = {"error": 0, "warning": 1, "info": 2, "debug": 3}


class _Settings:
    """Package-wide settings, reachable as ``sag.settings``.

    Attributes
    ----------
    seed
        Default random seed for splits, searches and training.
    device
        ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` (the
        GPU of index N) or ``"mps"`` (Apple's GPU, which the suite does not run on). On a GPU
        that computes bfloat16 natively (Ampere or newer) training and inference run in
        bfloat16 autocast: the outputs (probabilities, latent, reconstruction) are float32 of
        about 3 significant digits (a Regressor's predictions keep float32's), and the SHAP
        values of ``explain`` may differ in their last digits between runs of the same seed
        (the GPU's atomic additions); older GPUs and the CPU compute in float32.
    verbosity
        0 errors, 1 warnings, 2 info (default), 3 debug; or the level's name. It sets the
        level of sag's log messages. Warnings about input files (``sag.io``'s
        ``UserWarning`` warnings, as anndata's and scanpy's) follow Python's ``warnings`` filters
        instead: ``warnings.simplefilter("ignore", UserWarning)`` silences them.
    progress_bar
        Show tqdm progress bars on long work (search, training, SHAP), at verbosity 2 (info)
        or more.
    n_threads
        CPU threads torch may use (``torch.set_num_threads``); None keeps torch's default: the
        ``MKL_NUM_THREADS`` (else ``OMP_NUM_THREADS``) of the environment where it is set, as
        torch reads them, else all cores. On a machine shared with other jobs, 1 avoids
        threads spinning against each other, which can slow small networks several-fold. Every
        training (each search trial, each fit) sets it again (with None, the environment's
        count, where it is set), because other libraries reset torch's thread pool: scanpy's
        ``sc.tl.umap``, ``sc.tl.leiden`` and ``highly_variable_genes(flavor="seurat_v3")``
        left it at the number of cores on the benchmark machine, and the thread count changes
        the weights a seed learns. A trained model records the count it was trained on (``n_threads`` in
        ``model.json`` and in the ``params`` of the run's record): a seed reproduces a run at
        that count and device.
    """

    def __setattr__(self, name: str, value) -> None:
        # a misspelt setting (``n_thread``) would otherwise be a new attribute, read by nothing
        if not name.startswith("_") and not isinstance(getattr(type(self), name, None), property):
            import difflib

            names = [n for n, v in vars(type(self)).items() if isinstance(v, property) and v.fset]
            close = difflib.get_close_matches(name, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            msg = f"sag.settings has no setting {name!r}{hint}; its settings are {sorted(names)}."
            raise AttributeError(msg)
        super().__setattr__(name, value)

    def __init__(self) -> None:
        self._seed = 0
        self._device = "auto"
        self._progress_bar = True
        self._verbosity = 2
        self._handler: logging.Handler | None = None
        self._n_threads: int | None = None
        self.verbosity = 2

    @property
    def seed(self) -> int:
        return self._seed

    @seed.setter
    def seed(self, value: int) -> None:
        if value is None:
            msg = "settings.seed must be an integer, not None."
            raise TypeError(msg)
        self._seed = resolve_seed(value)

    @property
    def device(self) -> str:
        return self._device

    @device.setter
    def device(self, value) -> None:
        self._device = check_device(value)

    @property
    def n_threads(self) -> int | None:
        return self._n_threads

    @n_threads.setter
    def n_threads(self, value: int | None) -> None:
        from ._utils import check_positive_int

        if value is not None:  # numpy integers as Python ones
            value = check_positive_int("n_threads", value, " or None")
        # the CPUs this process may run on (a Slurm job's, taskset's), where the OS says
        affinity = getattr(os, "sched_getaffinity", None)
        n_cpus = len(affinity(0)) if affinity is not None else os.cpu_count()
        if value is not None and n_cpus is not None and value > n_cpus:
            logger.warning(
                "n_threads=%d is more than the %d CPUs this process may use; threads beyond "
                "them only compete with each other.",
                value,
                n_cpus,
            )
        self._n_threads = value
        self.apply_n_threads()

    @property
    def progress_bar(self) -> bool:
        return self._progress_bar

    @progress_bar.setter
    def progress_bar(self, value: bool) -> None:
        from ._utils import check_bool

        self._progress_bar = check_bool("progress_bar", value)

    def apply_n_threads(self) -> None:
        """Set torch's CPU thread count to :attr:`n_threads` again (called at the start of
        every training); where it is None, to the environment's ``MKL_NUM_THREADS`` (else
        ``OMP_NUM_THREADS``), torch's own default, where that is set: scanpy's UMAP had left
        torch on all cores after ``OMP_NUM_THREADS=1``, so that a seed learned other weights
        in a notebook than in a fresh process."""
        n_threads = self._n_threads if self._n_threads is not None else _environment_threads()
        if n_threads is not None:
            import torch

            if torch.get_num_threads() != n_threads:
                torch.set_num_threads(n_threads)

    @property
    def verbosity(self) -> int:
        return self._verbosity

    @verbosity.setter
    def verbosity(self, value: int | str) -> None:
        if isinstance(value, str):
            if value.lower() not in _NAMES:
                msg = f"verbosity={value!r} is not one of {sorted(_NAMES)} or 0-3."
                raise ValueError(msg)
            value = _NAMES[value.lower()]
        if isinstance(value, bool) or value not in _LEVELS:
            msg = f"verbosity={value!r} must be 0 (errors) to 3 (debug)."
            raise ValueError(msg)
        self._verbosity = int(value)
        logger.setLevel(_LEVELS[self._verbosity])
        if self._handler is None:
            from ._logging import LevelFormatter, TqdmHandler

            self._handler = TqdmHandler()
            self._handler.setFormatter(LevelFormatter("%(message)s"))
            # what the verbosity shows, also while a logged_warnings block has let the
            # logger's warnings through at verbosity 0 (to record them)
            self._handler.addFilter(lambda record: record.levelno >= _LEVELS[self._verbosity])
            logger.addHandler(self._handler)
            logger.propagate = False

    @property
    def show_progress(self) -> bool:
        """Whether progress bars are drawn (needs ``progress_bar`` and verbosity >= info)."""
        return self.progress_bar and self._verbosity >= 2

    def __repr__(self) -> str:
        return (
            f"scautogenome settings: seed={self.seed}, device={self.device!r}, "
            f"verbosity={self.verbosity}, progress_bar={self.progress_bar}, n_threads={self.n_threads}"
        )


settings = _Settings()

MAX_SEED = 2**32 - 1  # numpy's and Optuna's samplers take seeds below 2**32


_DEVICE = re.compile(r"auto|(cpu|mps|cuda)(:\d+)?")


def check_device(device) -> str:
    """``device`` as a string when it names a device sag can use ("auto", "cpu", "cuda",
    "cuda:N", "mps", or such a ``torch.device``); a clear ValueError otherwise."""
    name = str(device)
    if not _DEVICE.fullmatch(name):
        msg = f"device={device!r} must be 'auto', 'cpu', 'cuda', 'cuda:N' (N a GPU index) or 'mps'."
        raise ValueError(msg)
    return name


def resolve_seed(seed) -> int:
    """``seed`` as a Python int (numpy integers too), or :attr:`settings.seed` when None; a clear
    error for anything else, before any work starts."""
    if seed is None:
        seed = settings.seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        msg = f"seed={seed!r} must be an integer."
        raise TypeError(msg)
    if not 0 <= int(seed) <= MAX_SEED:
        msg = f"seed={seed!r} must be between 0 and {MAX_SEED}."
        raise ValueError(msg)
    return int(seed)


def _environment_threads() -> int | None:
    """The thread count the environment gives torch by default, as torch reads it
    (``MKL_NUM_THREADS``, else ``OMP_NUM_THREADS``, a positive whole number), None where
    neither is set so."""
    for name in ("MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


@contextlib.contextmanager
def keep_torch_threads():
    """Give torch back its CPU thread count after work done by other libraries.

    On the benchmark machine scanpy's kNN graph (numba, through pynndescent/umap) reset torch's
    OpenMP pool to the number of cores. A Res-VAE trained after ``sag.tl.embedding_scores`` in
    the same process then ran on 2 threads instead of the 1 it had been given, and so learned
    other weights (float rounding) than the same seed in a fresh process. Usable as a
    decorator.
    """
    import torch

    n_threads = torch.get_num_threads()
    try:
        yield
    finally:
        if torch.get_num_threads() != n_threads:
            torch.set_num_threads(n_threads)


@contextlib.contextmanager
def keep_python_rng():
    """Leave Python's ``random`` state as it was, as :func:`keep_torch_rng`
    does torch's: a tool's first call imports libraries that draw from it (sklearn.metrics
    imports rich, which calls ``random.getrandbits`` at import), which would otherwise change
    what the user's next ``random.random()`` draws. Usable as a decorator.

    Only in the main thread (a notebook's, a script's): a call in another thread (a model
    serving threads) leaves the stream that all threads share where it is, as giving the
    state back would rewind the draws the other threads made meanwhile, to be drawn again."""
    import random

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    state = random.getstate()
    try:
        yield
    finally:
        random.setstate(state)


_TORCH_RNG_USERS: dict[int, int] = {}
"""The threads inside :func:`keep_torch_rng` now (thread id -> how many blocks it is in),
under :data:`_TORCH_RNG_LOCK`."""
_TORCH_RNG_LOCK = threading.Lock()


@contextlib.contextmanager
def keep_torch_rng():
    """Leave torch's global random state as it was: the tools seed torch for their own
    trainings (``torch.manual_seed``), which would otherwise change what the user's next
    ``torch.rand`` draws. Covers the CPU generator, every GPU's (restored where CUDA was in
    use; where it was not, the seeds the user queued for its start are kept) and Apple's
    MPS. Usable as a decorator.

    That generator is the one all threads share: a block entered while another thread is in
    one warns that the results of both do not reproduce by seed (README: processes, not
    threads)."""
    import torch

    cpu = torch.get_rng_state()
    seed = torch.initial_seed()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    # a GPU not yet in use holds only the seeds queued for its start (torch keeps the last
    # of manual_seed and manual_seed_all, in order): give those back
    tracker = getattr(torch.cuda, "_lazy_seed_tracker", None) if cuda is None else None
    queued = None
    if tracker is not None:
        queued = (tracker.manual_seed_all_cb, tracker.manual_seed_cb, list(tracker.call_order))
    mps = torch.mps.get_rng_state() if torch.backends.mps.is_available() else None
    me = threading.get_ident()
    with _TORCH_RNG_LOCK:
        others = [thread for thread in _TORCH_RNG_USERS if thread != me]
        _TORCH_RNG_USERS[me] = _TORCH_RNG_USERS.get(me, 0) + 1
    if others:  # each one's seeding moves the other's draws
        logger.warning(
            "Another thread is running a sag call that seeds torch's random generator "
            "(classify, embed, a model's fit), which all threads of a process share: "
            "the results of both depend on their timing and do not reproduce by seed. Run "
            "searches and trainings side by side in processes, not threads."
        )
    try:
        yield
    finally:
        with _TORCH_RNG_LOCK:
            _TORCH_RNG_USERS[me] -= 1
            if not _TORCH_RNG_USERS[me]:
                del _TORCH_RNG_USERS[me]
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        elif queued is not None and not torch.cuda.is_initialized():
            tracker.manual_seed_all_cb, tracker.manual_seed_cb, tracker.call_order = queued
        elif queued is not None and any(queued[2]):
            for call in filter(None, queued[2]):  # CUDA started inside: as its start would
                call[0]()
        else:
            torch.cuda.manual_seed_all(seed)  # queued until CUDA starts, if it has not
        if mps is not None:
            torch.mps.set_rng_state(mps)
