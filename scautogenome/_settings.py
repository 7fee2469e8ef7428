"""Global settings: seed, device, verbosity, progress bars."""

from __future__ import annotations

import logging

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
        ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    verbosity
        0 errors, 1 warnings, 2 info (default), 3 debug; or the level's name.
    progress_bar
        Show tqdm progress bars on long work (search, training, SHAP).
    n_workers
        Reserved for parallel search in one process (Optuna ``n_jobs``); 1 keeps searches
        reproducible.
    """

    def __init__(self) -> None:
        self.seed: int = 0
        self.device: str = "auto"
        self.progress_bar: bool = True
        self.n_workers: int = 1
        self._verbosity = 2
        self._handler: logging.Handler | None = None
        self.verbosity = 2

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
        if value not in _LEVELS:
            msg = f"verbosity={value!r} must be 0 (errors) to 3 (debug)."
            raise ValueError(msg)
        self._verbosity = int(value)
        logger.setLevel(_LEVELS[self._verbosity])
        if self._handler is None:
            from ._logging import TqdmHandler

            self._handler = TqdmHandler()
            self._handler.setFormatter(logging.Formatter("%(message)s"))
            logger.addHandler(self._handler)
            logger.propagate = False

    @property
    def show_progress(self) -> bool:
        """Whether progress bars are drawn (needs ``progress_bar`` and verbosity >= info)."""
        return self.progress_bar and self._verbosity >= 2

    def __repr__(self) -> str:
        return (
            f"scautogenome settings: seed={self.seed}, device={self.device!r}, "
            f"verbosity={self.verbosity}, progress_bar={self.progress_bar}, "
            f"n_workers={self.n_workers}"
        )


settings = _Settings()
