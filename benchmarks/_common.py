"""What the benchmark scripts share: where the repository and the shared datasets are, the
working tree's ``scautogenome`` on ``sys.path`` (a benchmark must measure the sources it sits
next to, not whatever copy ``pip install .`` last put in site-packages), the git state stamped
on every result line, and the datasets restricted to their shared split."""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
from scipy import sparse

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT.parent / "shared" / "data"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# the XGBoost peer of every benchmark: the AutoGenome paper's settings (gbtree, depth 6, gamma
# 0.1) with early stopping on the validation split; each adds its eval_metric, n_jobs and seed
XGB_PAPER = {
    "booster": "gbtree",
    "max_depth": 6,
    "gamma": 0.1,
    "n_estimators": 1000,
    "early_stopping_rounds": 20,
    "tree_method": "hist",
}


def git_state() -> dict:
    """Commit, whether the package sources differ from it, and a hash of those sources."""

    def git(*args: str) -> str:
        try:
            r = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20)
            return r.stdout.strip()
        except Exception:
            return ""

    h = hashlib.sha1()
    for f in sorted((ROOT / "scautogenome").rglob("*.py")):
        h.update(str(f.relative_to(ROOT)).encode() + f.read_bytes())
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "sag_dirty": bool(git("status", "--porcelain", "--", "scautogenome")),
        "sag_tree_sha1": h.hexdigest()[:12],  # the sag sources this process imported
    }


def load_split(name: str):
    """The dataset restricted to the cells of its shared split (``DATA/splits``), with
    ``obs['split']``, unused label categories dropped and ``X`` as CSR."""
    import anndata as ad

    adata = ad.read_h5ad(DATA / f"{name}.h5ad")
    split = pd.read_csv(DATA / "splits" / f"{name}.split.csv", index_col=0)
    split.index = split.index.astype(str)
    split = split.reindex(adata.obs_names.astype(str))
    keep = split["split"].isin(["train", "val", "test"]).to_numpy()  # also drops "dropped"
    adata = adata[keep].copy()
    adata.obs["split"] = pd.Categorical(split["split"].to_numpy()[keep])
    lab = adata.obs["label"]
    if isinstance(lab.dtype, pd.CategoricalDtype):
        adata.obs["label"] = lab.cat.remove_unused_categories()
    if not sparse.issparse(adata.X):
        adata.X = sparse.csr_matrix(adata.X)
    return adata


# -- memory, read from /proc (Linux) ------------------------------------------------------------
def reset_peak_rss() -> None:
    """Reset the process's peak resident size (VmHWM) to its current size."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _proc_status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    """Peak resident size (VmHWM) in MB since the last :func:`reset_peak_rss`."""
    return _proc_status_mb("VmHWM")


def rss_mb() -> float:
    """Current resident size (VmRSS) in MB."""
    return _proc_status_mb("VmRSS")


def extra_peak_mb(fn, repeats: int) -> tuple[float, float]:
    """Largest (peak RSS during ``fn()`` minus RSS before it) over ``repeats`` calls, and the
    seconds of the last call."""
    import gc
    import time

    worst, seconds = 0.0, float("nan")
    for _ in range(repeats):
        gc.collect()
        before = rss_mb()
        reset_peak_rss()
        t = time.perf_counter()
        fn()
        seconds = time.perf_counter() - t
        worst = max(worst, peak_rss_mb() - before)
    return worst, seconds


def run_fresh(cmd: list[str], **env: str) -> dict:
    """The JSON of the last line ``cmd`` prints, run in a fresh process (memory another step
    freed is not reused unseen) with glibc's mmap threshold at 64 kB: every block over it is
    mapped on its own and returned when freed (otherwise glibc raises its threshold after a
    warm-up call and serves the next calls' blocks from memory it kept, which the peak would
    not see); ``env`` added."""
    import os

    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", **env}
    r = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(r.stdout.strip().splitlines()[-1])


def peak_fields(sag: dict, peer: dict) -> dict:
    """The extra peaks (MB) and seconds of sag's call and its peer's (``extra_peak_mb``,
    ``seconds`` of each), rounded, and the ratio of the peaks (a peer's under 1 MB as 1)."""
    return {
        "sag_extra_peak_mb": round(sag["extra_peak_mb"], 1),
        "peer_extra_peak_mb": round(peer["extra_peak_mb"], 1),
        "ratio": round(sag["extra_peak_mb"] / max(peer["extra_peak_mb"], 1.0), 3),
        "sag_seconds": round(sag["seconds"], 3),
        "peer_seconds": round(peer["seconds"], 3),
    }


def emit(rec: dict, out: str | None) -> None:
    """Print ``rec`` as one JSON line, and append it to the file ``out`` when given."""
    line = json.dumps(rec)
    print(line, flush=True)
    if out:
        with open(out, "a") as fh:
            fh.write(line + "\n")


def markdown_table(t: pd.DataFrame) -> str:
    """A markdown table of ``t``, one row per index entry under "task" (numbers to 3 decimals;
    pandas' own needs tabulate)."""
    rows = ["| task | " + " | ".join(map(str, t.columns)) + " |"]
    rows.append("|---" * (len(t.columns) + 1) + "|")
    for name, row in t.iterrows():
        cells = ["" if pd.isna(v) else f"{v:.3f}" for v in row]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)
