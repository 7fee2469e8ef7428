"""The README's Python blocks run as written, so that they cannot rot: "In a notebook" and
"Expert mode", on small synthetic files of the names they read, with the searches' budgets
made small (the only change to the calls)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from conftest import TINY_CONFIG

import scautogenome as sag

README = Path(__file__).resolve().parents[1] / "README.md"
TINY_EMBED = {
    "budget": {"n_trials": 1, "time_budget": None},
    "trainer": {"max_epochs": 4, "patience": 3, "min_epochs": 2, "kl_warmup_epochs": 2},
    "space": {"n_layers": [3], "batch_size": [64], "first_width": [64]},
}


def _block(heading: str) -> str:
    """The first Python block after the README's ``heading``."""
    text = README.read_text()
    after = text[text.index(f"\n{heading}\n") :]
    return re.search(r"```python\n(.*?)```", after, re.DOTALL).group(1)


def _merged(config, small: dict) -> dict:
    """``config`` (None, a name or a dict) with each section of ``small`` put over it."""
    out = copy.deepcopy(config) if isinstance(config, dict) else {}
    for section, values in small.items():
        if section == "space" and "space" in out:  # the block's own choices stay
            continue
        out[section] = {**out.get(section, {}), **values}
    return out


def _cells(seed: int):
    adata = sag.datasets.synthetic(n_obs=240, n_vars=120, n_classes=3, seed=seed)
    names = {"type_0": "B cell", "type_1": "T cell", "type_2": "NK cell"}
    adata.obs["cell_type"] = pd.Categorical(adata.obs["label"].map(names))
    adata.obs["sample"] = np.where(np.arange(adata.n_obs) % 2, "s1", "s2")
    return adata


def test_the_readme_python_blocks_run(tmp_path, monkeypatch):
    notebook, expert = _block("## In a notebook"), _block("## Expert mode")
    monkeypatch.chdir(tmp_path)
    _cells(0).write_h5ad("cells.h5ad")
    _cells(1).write_h5ad("query.h5ad")
    classify, embed = sag.tl.classify, sag.tl.embed

    def small_classify(*args, config=None, **kwargs):
        return classify(*args, config=_merged(config, TINY_CONFIG), **kwargs)

    def small_embed(*args, config=None, **kwargs):
        return embed(*args, config=_merged(config, TINY_EMBED), **kwargs)

    monkeypatch.setattr(sag.tl, "classify", small_classify)
    monkeypatch.setattr(sag.tl, "embed", small_embed)
    namespace: dict = {}
    try:
        exec(compile(notebook, "README.md (In a notebook)", "exec"), namespace)
        exec(compile(expert, "README.md (Expert mode)", "exec"), namespace)
    finally:
        plt.close("all")
    assert Path("report.html").stat().st_size > 0
    assert Path("cells.sag.h5ad").exists()
    assert isinstance(namespace["model"], sag.models.Classifier)
    assert "X_sag_resvae" in namespace["query"].obsm
    assert namespace["cfg"]["budget"] == {"n_trials": 100, "time_budget": 3600}
