"""What the benchmarks that compare this checkout with an earlier commit share: the commit
checked out beside it (``git worktree``), and one fresh worker process per run that imports
the package of the tree it is given. Unlike ``_common`` this module leaves ``sys.path`` alone,
so that a worker imports the tree on its ``PYTHONPATH``."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def git(*a: str) -> str:
    """``git -C ROOT *a``'s output (an error where git fails)."""
    return subprocess.run(
        ["git", "-C", str(ROOT), *a], capture_output=True, text=True, check=True
    ).stdout.strip()


def head_state(base: str) -> dict:
    """The short commits of ``base`` and of HEAD, and whether the package sources differ from
    HEAD (stamped on every row)."""
    return {
        "base": git("rev-parse", "--short", base),
        "head": git("rev-parse", "--short", "HEAD"),
        "head_dirty": bool(git("status", "--porcelain", "--", "scautogenome")),
    }


@contextlib.contextmanager
def worktree(commit: str, prefix: str):
    """``commit`` checked out with ``git worktree add`` into a temporary folder, removed
    afterwards: the code a benchmark compares this checkout with."""
    path = Path(tempfile.mkdtemp(prefix=prefix)) / "tree"
    git("worktree", "add", "--detach", str(path), commit)
    try:
        yield path
    finally:
        git("worktree", "remove", "--force", str(path))


def run_worker(script: str | Path, tree: Path, argv: list[str]) -> dict:
    """``script --worker *argv`` in a fresh process (one thread) importing the package of
    ``tree`` (``PYTHONPATH``): its last ``RESULT {json}`` line, checked to name a
    ``sag_file`` of that tree."""
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [sys.executable, str(Path(script).resolve()), "--worker", *argv]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    lines = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
    if out.returncode or not lines:
        raise RuntimeError(f"worker failed ({tree}, {argv}):\n{out.stderr[-4000:]}")
    row = json.loads(lines[-1][len("RESULT ") :])
    if not row["sag_file"].startswith(str(tree)):
        msg = f"the worker imported {row['sag_file']}, not the package of {tree}"
        raise RuntimeError(msg)
    return row
