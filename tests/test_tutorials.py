"""The tutorials are executed so they cannot rot.

Tutorials 01 and 02 run at their default budgets (seconds on a CPU) and their text outputs must
be the ones committed: the tutorials are committed with the outputs of such a run, and their
prose quotes them. Tutorial 03 (minutes at its default budget) runs with small budgets.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import has_cuda

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

TUTORIALS = sorted((Path(__file__).resolve().parents[1] / "tutorials").glob("*.ipynb"))
# run at their default budgets; their committed outputs are compared with the run's
AT_DEFAULT_BUDGETS = ("01_", "02_")


def _text_outputs(nb) -> list[list[str]]:
    """Each code cell's text outputs, without what differs between identical runs (elapsed
    times, the kernel's temporary file names in warnings)."""
    cells = []
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        out = []
        for o in c.get("outputs", []):
            if o.get("output_type") == "stream":
                text = o["text"]
            elif "data" in o:
                text = o["data"].get("text/plain", "")
            else:
                text = f"{o.get('ename')}: {o.get('evalue')}"
            text = re.sub(r"\(\d+:\d\d:\d\d\)", "(elapsed)", text)
            out.append(re.sub(r"ipykernel_\d+/\d+\.py", "ipykernel.py", text))
        cells.append(out)
    return cells


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs(path, monkeypatch):
    at_defaults = path.name.startswith(AT_DEFAULT_BUDGETS)
    if not at_defaults:
        monkeypatch.setenv("SAG_TUTORIAL_TRIALS", "3")
        monkeypatch.setenv("SAG_TUTORIAL_SECONDS", "20")
        monkeypatch.setenv("MPLBACKEND", "Agg")
    else:  # the inline backend, as in Jupyter: the figures' outputs are compared too
        monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as the committed outputs were made
    stored = nbformat.read(path, as_version=4)
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    if at_defaults and not has_cuda():  # the committed outputs are of a CPU run
        for i, (now, committed) in enumerate(
            zip(_text_outputs(nb), _text_outputs(stored), strict=True)
        ):
            assert now == committed, (
                f"{path.name}, code cell {i}: the committed outputs are not this run's; "
                "re-execute the tutorial (nbclient, OMP_NUM_THREADS=1) and check its prose"
            )


def test_there_are_three_tutorials():
    assert len(TUTORIALS) == 3
    assert os.path.basename(TUTORIALS[0]).startswith("01_")


def test_data_readme_counts_the_example_maf():
    """data/README.md's counts of the example MAF (which tutorial 02 reads) are the file's."""
    import warnings

    import numpy as np

    import scautogenome as sag

    data = TUTORIALS[0].parents[1] / "data"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # read_maf: the MAF's tumours without expression
        expr = sag.io.read_tcga(
            data / "examples/tcga_expression.tsv.gz",
            clinical=data / "examples/tcga_clinical.tsv",
            tumor_only=True,
        )
        samples = expr.obs["sample"].astype(str).unique().tolist()
        called = sag.io.read_maf(
            data / "examples/tcga_mutations.maf.gz",
            level="sample",
            samples=samples,
            variant_classes="all",
        )
        muts = sag.io.read_maf(
            data / "examples/tcga_mutations.maf.gz", level="sample", samples=samples
        )
    project = expr.obs.drop_duplicates("sample").set_index("sample")["project"]
    no_call = np.asarray(called.X.sum(1)).ravel() == 0
    zero = np.asarray(muts.X.sum(1)).ravel() == 0
    by = {
        p: int(no_call[(project.loc[called.obs_names] == p).to_numpy()].sum())
        for p in ("BRCA", "COAD", "LUAD")
    }
    left = {
        p: int((zero & ~no_call)[(project.loc[muts.obs_names] == p).to_numpy()].sum()) for p in by
    }
    readme = " ".join((data / "README.md").read_text().split())
    assert (
        f"{no_call.sum()} tumours have no call (BRCA {by['BRCA']}, COAD {by['COAD']}, LUAD {by['LUAD']})"
        in readme
    )
    assert (
        f"BRCA {left['BRCA']}, COAD {left['COAD']}, LUAD {left['LUAD']}), so its default gives {zero.sum()} all-zero rows"
        in readme
    )
