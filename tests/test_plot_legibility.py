"""sag.pl as a scanpy user reads, styles and reuses its figures: long class names (cell
ontology names of 60 letters, alike at both ends) and long gene names (Ensembl IDs with
versions), 30 classes, scanpy's figure parameters and a dark style, drawing into the user's
Axes, a class absent from the test split, and the report's images. Each figure is rendered
with Agg and measured (``fig.canvas.draw()``, the window extents of its texts)."""

from __future__ import annotations

import itertools
import re
import warnings

import anndata as ad
import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pytest
from conftest import contrast
from matplotlib.figure import Figure

import scautogenome as sag

N_CLASSES = 30

# one trial of one small MLP, a few epochs: the plots read its records, not its quality
QUICK = {
    "budget": {"n_trials": 1, "time_budget": None},
    "trainer": {"max_epochs": 3, "patience": 3, "min_epochs": 1},
    "space": {
        "mlp": {"n_layers": [1], "units": [16]},
        "common": {"batch_size": [64], "lr": {"type": "float", "low": 1e-3, "high": 5e-3}},
    },
}


def _long(i) -> str:
    """A cell type named as cell ontologies name them: 60 letters or more, alike at both
    ends."""
    return f"CD8-positive, alpha-beta cytotoxic T cell, type_{i} subtype, activated"


@pytest.fixture(scope="module")
def long_named():
    """Synthetic data of 30 classes of long names and 60 genes of Ensembl IDs with versions,
    through classify and explain."""
    sag.settings.verbosity = 1
    sag.settings.progress_bar = False
    sag.settings.device = "cpu"
    adata = sag.datasets.synthetic(n_obs=12 * N_CLASSES, n_vars=60, n_classes=N_CLASSES, seed=0)
    names = {c: _long(c.removeprefix("type_")) for c in adata.obs["label"].cat.categories}
    adata.obs["label"] = adata.obs["label"].cat.rename_categories(names)
    adata.var_names = [f"ENSG{i:011d}.{i % 20 + 1}" for i in range(adata.n_vars)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = sag.tl.classify(adata, "label", mode="mlp", config=QUICK, seed=0)
        sag.tl.explain(adata, model, n_explain=2 * N_CLASSES, nsamples=4, n_background=10)
    return adata


def _texts(fig: Figure, *, on_data: bool = True) -> list:
    """The visible texts of ``fig`` a reader reads: the drawn tick labels (within the axis'
    limits), axis labels, titles, legends' texts and titles, and (``on_data``) texts on the
    data."""
    shown = []
    for ax in fig.axes:
        lo, hi = sorted(ax.get_xlim())
        ylo, yhi = sorted(ax.get_ylim())
        ticks = [t for t in ax.get_xticklabels() if lo - 1e-9 <= t.get_position()[0] <= hi + 1e-9]
        ticks += [
            t for t in ax.get_yticklabels() if ylo - 1e-9 <= t.get_position()[1] <= yhi + 1e-9
        ]
        shown += [*ticks, ax.title, ax.xaxis.label, ax.yaxis.label]
        shown += list(ax.texts) if on_data else []
        legend = ax.get_legend()
        if legend is not None:
            shown += [*legend.get_texts(), legend.get_title()]
    return [t for t in shown if t.get_visible() and t.get_text()]


def _outside(fig: Figure) -> list[str]:
    """The texts (and legends) of ``fig`` that reach past its edges, as drawn."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox

    def out(extent) -> bool:
        return (
            extent.x0 < box.x0 - 1
            or extent.x1 > box.x1 + 1
            or extent.y0 < box.y0 - 1
            or extent.y1 > box.y1 + 1
        )

    found = [t.get_text()[:40] for t in _texts(fig) if out(t.get_window_extent(renderer))]
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None and out(legend.get_window_extent(renderer)):
            found.append("the legend")
    return found


def _plots(adata) -> list[tuple]:
    """Each plot of a classify and explain run, with its arguments."""
    first = _long(0)
    return [
        ("confusion_matrix", sag.pl.confusion_matrix, {}),
        ("importance", sag.pl.importance, {}),
        ("importance of one class", sag.pl.importance, {"group": first}),
        ("shap_summary", sag.pl.shap_summary, {}),
        ("shap_summary of one class", sag.pl.shap_summary, {"group": first}),
        ("search_history", sag.pl.search_history, {}),
        ("architecture", sag.pl.architecture, {}),
    ]


def _matrix(names, confusion) -> ad.AnnData:
    """An AnnData holding the record of a classify run of classes ``names`` and its test
    ``confusion``."""
    adata = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
    adata.uns["sag"] = {"classes": np.array(names), "confusion": np.asarray(confusion)}
    return adata


def _tick_texts(ticks) -> list[str]:
    return [t.get_text() for t in ticks]


def test_confusion_matrix_tells_apart_long_names_alike_at_both_ends():
    """Twelve cell types named 'CD8-positive, alpha-beta cytotoxic T cell, type_N subtype,
    activated': each tick of the matrix read 'CD8-positive, alpha-beta c...pe, activated', the
    same for every row and column; each now names its own class."""
    n = 12
    names = [_long(i) for i in range(n)]
    rng = np.random.default_rng(0)
    adata = _matrix(names, np.diag(rng.integers(5, 20, n)) + rng.poisson(0.5, (n, n)))
    ax = sag.pl.confusion_matrix(adata, show=False)
    cols = _tick_texts(ax.get_xticklabels())
    rows = [re.sub(r" \(\d+\)$", "", t) for t in _tick_texts(ax.get_yticklabels())]
    assert rows == cols
    assert len(set(cols)) == n
    for i, tick in enumerate(cols):
        assert f"type_{i} " in tick, tick
        assert len(tick) < len(names[i])  # still shortened
    plt.close("all")
    # names of 500 letters that part after their 30th: told apart there, still short
    names = [f"{'a' * 30}{i}{'b' * 500}" for i in range(3)]
    ax = sag.pl.confusion_matrix(_matrix(names, np.diag([3, 4, 5])), show=False)
    ticks = _tick_texts(ax.get_xticklabels())
    assert len(set(ticks)) == 3
    assert all(f"\u2026{i}b" in tick and len(tick) < 80 for i, tick in enumerate(ticks))
    plt.close("all")


def test_confusion_matrix_of_predictions_names_each_long_class_once(long_named):
    """Against obs labels (labels_key=), the 30 long class names read alike too; each row and
    its column now have one tick of their own, the same on both axes."""
    ax = sag.pl.confusion_matrix(long_named, labels_key="label", split="all", show=False)
    cols = _tick_texts(ax.get_xticklabels())
    rows = [re.sub(r" \(\d+\)$", "", t) for t in _tick_texts(ax.get_yticklabels())]
    assert len(set(rows)) == len(rows) == N_CLASSES
    assert len(set(cols)) == len(cols)
    assert cols[:N_CLASSES] == rows  # the model's classes in the rows' order, as the diagonal
    plt.close("all")


def test_short_class_names_are_kept_whole():
    """Names of 40 letters or fewer stay as they are; a longer one alone keeps its start and
    its end (as before)."""
    names = ["B cell", "CD4-positive, alpha-beta T cell", "x" * 45 + " type 1"]
    ax = sag.pl.confusion_matrix(_matrix(names, np.diag([3, 4, 5])), show=False)
    ticks = _tick_texts(ax.get_xticklabels())
    assert ticks[:2] == names[:2]
    assert ticks[2].startswith("x" * 20)
    assert ticks[2].endswith(" type 1")
    assert "\u2026" in ticks[2]
    assert len(ticks[2]) == 40
    plt.close("all")


def test_confusion_matrix_has_no_grid_through_its_cells_under_scanpys_figure_params():
    """sc.set_figure_params() turns rcParams['axes.grid'] on: grey lines crossed the middle of
    every cell of the matrix, through its numbers (scanpy's matrixplot turns them off). Only
    the white edges between the cells are drawn."""
    names = ["alpha", "beta", "gamma"]
    with mpl.rc_context({"axes.grid": True, "grid.color": "#cccccc"}):
        ax = sag.pl.confusion_matrix(_matrix(names, [[5, 1, 0], [1, 4, 1], [0, 2, 6]]), show=False)
        ax.figure.canvas.draw()
        major = [g for g in ax.get_xgridlines() + ax.get_ygridlines() if g.get_visible()]
        minor = [t.gridline for t in ax.xaxis.get_minor_ticks() if t.gridline.get_visible()]
    assert major == []
    assert minor  # the cells' white edges
    assert all(mpl.colors.to_hex(g.get_color()) == "#ffffff" for g in minor)
    plt.close("all")


def test_confusion_matrix_of_a_class_absent_from_the_test_split():
    """A class without test cells: its row is empty and reads '(0)', without a warning of a
    division by zero, and its column still holds the calls of it."""
    adata = _matrix(["A", "B", "C"], [[5, 1, 0], [0, 0, 0], [1, 2, 6]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = sag.pl.confusion_matrix(adata, show=False)
        ax.figure.canvas.draw()
    assert _tick_texts(ax.get_yticklabels()) == ["A (6)", "B (0)", "C (9)"]
    values = np.asarray(ax.images[0].get_array())
    assert np.isfinite(values).all()
    assert (values[1] == 0).all()
    assert {t.get_position() for t in ax.texts} == {(0, 0), (1, 0), (0, 2), (1, 2), (2, 2)}
    plt.close("all")


def test_long_names_stay_within_every_figure(long_named):
    """Titles, axis labels, tick labels and legends of 30 long class names and of Ensembl IDs
    with versions are all inside the figure, as drawn, and the rows' tick labels do not overlap
    each other."""
    for name, plot, kwargs in _plots(long_named):
        fig = plot(long_named, return_fig=True, **kwargs)
        assert _outside(fig) == [], name
        renderer = fig.canvas.get_renderer()
        ax = fig.axes[0]
        rows = [t.get_window_extent(renderer) for t in ax.get_yticklabels() if t.get_text()]
        assert not any(a.overlaps(b) for a, b in itertools.pairwise(rows)), name
        plt.close(fig)


def test_thirty_classes_have_thirty_colours_as_scanpy_gives_them(long_named):
    """All classes stacked: 30 colours, none repeated, in a legend inside the figure, the
    colours scanpy gives 30 categories; the user's uns['label_colors'] are used as scanpy
    uses them."""
    from scanpy.plotting import palettes

    ax = sag.pl.importance(long_named, n_top=5, show=False)
    legend = ax.get_legend()
    classes = [str(c) for c in long_named.uns["sag_shap"]["classes"]]
    assert sorted(classes) == sorted(_long(i) for i in range(N_CLASSES))
    assert [t.get_text() for t in legend.get_texts()] == classes
    colors = [mpl.colors.to_hex(h.get_facecolor()) for h in legend.legend_handles]
    assert len(set(colors)) == N_CLASSES
    assert colors == [mpl.colors.to_hex(c) for c in palettes.default_102[:N_CLASSES]]
    assert _outside(ax.figure) == []
    plt.close("all")
    mine = long_named.copy()
    mine.uns["label_colors"] = [mpl.colors.to_hex(c) for c in plt.cm.viridis(np.linspace(0, 1, 30))]
    ax = sag.pl.importance(mine, n_top=5, show=False)
    colors = [mpl.colors.to_hex(h.get_facecolor()) for h in ax.get_legend().legend_handles]
    assert colors == list(mine.uns["label_colors"])
    plt.close("all")


def test_every_text_reads_on_a_dark_background(long_named):
    """Under plt.style.context('dark_background') every title, label, tick label and legend
    text is light on the dark figure (contrast of 4.5 or more), and still inside it."""
    with plt.style.context("dark_background"):
        for name, plot, kwargs in _plots(long_named):
            fig = plot(long_named, return_fig=True, **kwargs)
            back = fig.get_facecolor()
            assert _outside(fig) == [], name
            for text in _texts(fig, on_data=False):
                assert contrast(text.get_color(), back) >= 4.5, (name, text.get_text())
            plt.close(fig)


def test_every_plot_draws_into_the_users_axes_of_a_grid(long_named):
    """Into the panels of the user's plt.subplots(2, 4): each plot draws in its own panel and
    returns it (show=False), or returns the user's figure (return_fig=True); no figure of its
    own is opened, and the other panels stay empty."""
    plots = _plots(long_named)
    _, axs = plt.subplots(2, 4, figsize=(30, 14))
    before = plt.get_fignums()
    for (name, plot, kwargs), ax in zip(plots, axs.flat):
        assert plot(long_named, ax=ax, show=False, **kwargs) is ax, name
        assert plt.get_fignums() == before, name
        assert ax.has_data() or ax.patches or ax.texts, name
    assert not axs.flat[-1].has_data()  # the eighth panel: left alone
    fig2, ax2 = plt.subplots()
    assert sag.pl.search_history(long_named, ax=ax2, return_fig=True) is fig2
    plt.close("all")


def test_title_argument_replaces_the_heading_of_every_plot(long_named):
    """title= (as scanpy's plots take it) is the Axes' title, maths kept as matplotlib reads
    a title, and the figure is wide enough for it (search_history: the test below)."""
    title = "My run: $\\alpha$ " + "x" * 60
    for name, plot, kwargs in _plots(long_named):
        if plot is sag.pl.search_history:
            continue
        fig = plot(long_named, title=title, return_fig=True, **kwargs)
        assert fig.axes[0].get_title() == title, name
        assert _outside(fig) == [], name
        plt.close(fig)


def test_report_images_say_what_they_show(long_named, tmp_path):
    """Every image of the HTML report has alt text; the confusion matrix's names its 30
    classes."""
    adata = long_named.copy()
    del adata.uns["sag_shap"], adata.varm["sag_shap"]  # the classify run's part (30 SHAP plots)
    page = sag.io.write_report(adata, tmp_path / "r.html").read_text()
    images = re.findall(r"<img[^>]*>", page)
    assert len(images) == 3  # the confusion matrix, the search history, the architecture
    alts = [re.search(r'alt="([^"]*)"', img) for img in images]
    assert all(a is not None and a.group(1).strip() for a in alts)
    assert any(f"{N_CLASSES} classes" in a.group(1) for a in alts)


def _enas_history() -> ad.AnnData:
    """The record of an ENAS search: 20 rows scored on the shared weights, 2 trials trained."""
    import pandas as pd

    state = ["sampled"] * 16 + ["ranked"] * 4 + ["complete"] * 2
    trials = pd.DataFrame(
        {"number": np.arange(22), "state": state, "value": np.linspace(0.3, 0.9, 22)}
    )
    trials["mode"] = "rrfcn"
    adata = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
    adata.uns["sag"] = {"trials": trials, "params": {"metric": "accuracy"}}
    return adata


def test_search_history_widens_for_its_title(long_named):
    """The title of an ENAS search ('search: 2 trials, 2 complete (20 ENAS rows scored on
    shared weights not drawn)') and a long title= ran past both edges of the 6.5 in figure
    ('search:' cut off); the figure now widens for them, at scanpy's font size of 14 too."""
    adata = _enas_history()
    for rc in ({}, {"font.size": 14}):
        with mpl.rc_context(rc):
            fig = sag.pl.search_history(adata, return_fig=True)
            assert fig.axes[0].get_title().startswith("search: 2 trials")
            assert _outside(fig) == [], rc
            plt.close(fig)
            fig = sag.pl.search_history(long_named, title="My run: " + "x" * 60, return_fig=True)
            assert _outside(fig) == [], rc
            plt.close(fig)
    # a short title keeps the usual size
    fig = sag.pl.search_history(long_named, return_fig=True)
    assert tuple(fig.get_size_inches()) == (6.5, 3.8)
    plt.close(fig)


TARGET = "age_at_initial_pathologic_diagnosis_in_years_from_clinical_table"


@pytest.fixture(scope="module")
def long_target():
    """Synthetic data with a numeric target of a clinical table's long column name through
    classify (a regression run)."""
    adata = sag.datasets.synthetic(n_obs=200, n_vars=40, n_classes=3, seed=1)
    X = np.asarray(adata.X.todense())
    adata.obs[TARGET] = 5 * np.log1p(X[:, :10]).sum(1) + 40
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sag.tl.classify(adata, TARGET, mode="mlp", config=QUICK, seed=0)
    return adata


def test_regression_widens_for_a_long_target_name(long_target):
    """sag.pl.regression of a target named as a clinical table's column (64 letters): 'observed
    age_at_...' and 'predicted age_at_...' ran past both edges of the 4.8 x 4.6 in figure, as
    did a long title=; the square axes now grow with their labels, at scanpy's font size of 14
    too."""
    for rc in ({}, {"font.size": 14}):
        with mpl.rc_context(rc):
            for kwargs in ({}, {"split": "all"}, {"title": "My run: " + "x" * 70}):
                fig = sag.pl.regression(long_target, return_fig=True, **kwargs)
                ax = fig.axes[0]
                assert ax.get_xlabel() == f"observed {TARGET}"
                assert _outside(fig) == [], (rc, kwargs)
                plt.close(fig)


def test_regression_of_a_short_target_keeps_its_size(long_target):
    """A target of a short name keeps the usual 4.8 x 4.6 in figure."""
    adata = long_target.copy()
    adata.obs["age"] = adata.obs[TARGET]
    adata.uns["sag"]["params"]["labels_key"] = "age"
    fig = sag.pl.regression(adata, return_fig=True)
    assert fig.axes[0].get_xlabel() == "observed age"
    assert tuple(fig.get_size_inches()) == (4.8, 4.6)
    assert _outside(fig) == []
    plt.close(fig)
