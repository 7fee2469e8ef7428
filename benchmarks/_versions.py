"""What the benchmarks that compare this checkout with an earlier commit share: the commit
checked out beside it (``git worktree``), and one fresh worker process per run that imports
the package of the tree it is given. Unlike ``_common`` this module leaves ``sys.path`` alone,
so that a worker imports the tree on its ``PYTHONPATH``."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
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


def run_both(
    run: Callable[[Path], dict], base_dir: Path, stamp: dict, line: Callable[[str, dict], str]
) -> list[dict]:
    """``run(tree)`` (a worker run, :func:`run_worker`) on the tree of the base commit, then on
    this checkout's: each row stamped with its ``variant`` (``"base"``, ``"new"``), ``stamp``
    (the repeat, the commits of :func:`head_state`, ...) and the date, and printed as
    ``line(variant, row)`` writes it, as it comes."""
    rows = []
    for variant, tree in (("base", base_dir), ("new", ROOT)):
        row = run(tree)
        row.update(variant=variant, **stamp)
        row["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        print(line(variant, row), flush=True)
        rows.append(row)
    return rows


def best_of(rows: list[dict], key: str) -> tuple[float, float]:
    """The least ``key`` of the ``"new"`` rows and of the ``"base"`` rows (:func:`run_both`):
    the figures a ratio of this checkout against the base is taken of."""
    return tuple(min(r[key] for r in rows if r["variant"] == v) for v in ("new", "base"))


def append_rows(path: str | Path, rows: list[dict]) -> None:
    """``rows`` appended to the JSON-lines file ``path``."""
    with open(path, "a") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")


def compare_args(
    p: argparse.ArgumentParser, worker: Callable[[argparse.Namespace], None]
) -> argparse.Namespace | None:
    """``p``'s arguments, with ``--base`` (the commit compared with, required) and the hidden
    ``--worker`` of a fresh process's run added: for that run, ``worker(args)`` and None."""
    p.add_argument("--base", help="the commit to compare with")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return None
    if not args.base:
        p.error("--base COMMIT is required")
    return args
