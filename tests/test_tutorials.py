"""The tutorials are executed (with small budgets) so they cannot rot.

Tutorials 01 and 02 are committed with the outputs of a run at their default budgets, which
their prose quotes; a slow test re-runs them so and compares the text outputs.
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
    times, the kernel's temporary file names in warnings). Each stream is one text, its
    outputs joined: the kernel cuts a stream into messages by timing, which a loaded machine
    changes (a log line and the next came as one output, or as two), and it flushes stdout
    and stderr apart, so that a ``print`` after a logged line came before it or after it.
    The other outputs (values, figures) follow in their order."""
    cells = []
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        streams: dict[str, str] = {}
        rest = []
        for o in c.get("outputs", []):
            if o.get("output_type") == "stream":
                streams[o["name"]] = streams.get(o["name"], "") + o["text"]
            elif "data" in o:
                rest.append(o["data"].get("text/plain", ""))
            else:
                rest.append(f"{o.get('ename')}: {o.get('evalue')}")
        out = [f"{name}:\n{streams[name]}" for name in sorted(streams)] + rest
        cells.append(
            [
                re.sub(
                    r"ipykernel_\d+/\d+\.py",
                    "ipykernel.py",
                    re.sub(r"\(\d+:\d\d:\d\d\)", "(elapsed)", text),
                )
                for text in out
            ]
        )
    return cells


def _execute(path: Path, monkeypatch, *, small: bool):
    """``path`` executed top to bottom, with small budgets or at its defaults (the inline
    backend then, as in Jupyter, so that figures' outputs are compared too); no cell fails."""
    if small:
        monkeypatch.setenv("SAG_TUTORIAL_TRIALS", "3")
        monkeypatch.setenv("SAG_TUTORIAL_SECONDS", "20")
        monkeypatch.setenv("MPLBACKEND", "Agg")
    else:
        monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as the committed outputs were made
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
    return nb


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs(path, monkeypatch):
    _execute(path, monkeypatch, small=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    "path", [p for p in TUTORIALS if p.name.startswith(AT_DEFAULT_BUDGETS)], ids=lambda p: p.stem
)
def test_tutorial_outputs_are_the_committed_ones(path, monkeypatch):
    """At their default budgets tutorials 01 and 02 give the text outputs committed with them,
    which their prose quotes. Slow, and exact only on a CPU like the one that made them (one
    torch thread; another CPU's kernels may round differently and draw another search), so it
    runs with ``-m slow`` before the tutorials are committed, not in every CI run."""
    if has_cuda():
        pytest.skip("the committed outputs are of a CPU run")
    stored = nbformat.read(path, as_version=4)
    nb = _execute(path, monkeypatch, small=False)
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
        f"BRCA {left['BRCA']}, COAD {left['COAD']}, LUAD {left['LUAD']}), so with its default "
        f"classes the 51 tumours (`samples=` the expression's) give {zero.sum()} all-zero rows"
        in readme
    )


def test_text_outputs_ignore_how_the_kernel_cut_and_interleaved_streams():
    """The comparison of committed outputs does not depend on the kernel's flushing: one
    stream cut in two, or stdout flushed before stderr's earlier line, compare equal; another
    text, or a stream's lines in another order, do not."""
    v4 = nbformat.v4

    def nb(*outputs):
        cell = v4.new_code_cell("x", outputs=list(outputs))
        return v4.new_notebook(cells=[cell])

    err = lambda text: v4.new_output("stream", name="stderr", text=text)  # noqa: E731
    out = lambda text: v4.new_output("stream", name="stdout", text=text)  # noqa: E731
    fig = v4.new_output("display_data", data={"text/plain": "<Figure>"})
    committed = nb(err("search: 1\n"), out("test accuracy 1.000\n"), err("test: 1.000\n"), fig)
    assert _text_outputs(
        nb(err("search: 1\ntest: 1.000\n"), out("test accuracy 1.000\n"), fig)
    ) == (_text_outputs(committed))
    assert _text_outputs(
        nb(err("search: 1\n"), err("test: 1.000\n"), out("test accuracy 1.000\n"), fig)
    ) == (_text_outputs(committed))
    for other in (
        nb(err("test: 1.000\nsearch: 1\n"), out("test accuracy 1.000\n"), fig),
        nb(err("search: 1\ntest: 0.900\n"), out("test accuracy 1.000\n"), fig),
        nb(err("search: 1\ntest: 1.000\n"), out("test accuracy 1.000\n")),
    ):
        assert _text_outputs(other) != _text_outputs(committed)
