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
