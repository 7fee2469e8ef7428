"""sag.pl: importance, shap_summary, confusion_matrix, regression, search_history rendered to
PNG."""

from __future__ import annotations

import warnings

import anndata as ad
import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from conftest import contrast
from matplotlib.axes import Axes
from matplotlib.figure import Figure

import scautogenome as sag

MINI = {
    "budget": {"n_trials": 3, "time_budget": None},
    "trainer": {"max_epochs": 10, "patience": 4, "min_epochs": 2},
    "space": {
        "mlp": {"n_layers": [1], "units": [16, 32]},
        "common": {"batch_size": [32], "lr": {"type": "float", "low": 1e-3, "high": 5e-3}},
    },
}


@pytest.fixture(scope="module")
def annotated():
    """Synthetic data through classify and explain (what every plot reads)."""
    sag.settings.verbosity = 1
    sag.settings.progress_bar = False
    sag.settings.device = "cpu"
    adata = sag.datasets.synthetic(n_obs=240, n_vars=120, n_classes=4, seed=1)
    model = sag.tl.classify(adata, "label", mode="mlp", config=MINI, seed=0)
    sag.tl.explain(adata, model, n_explain=40, nsamples=20, n_background=30)
    return adata


@pytest.fixture(scope="module")
def regression_run():
    """Synthetic data with a numeric obs['age'] through classify (a regression run), and the
    Regressor it returned."""
    sag.settings.verbosity = 1
    sag.settings.progress_bar = False
    sag.settings.device = "cpu"
    adata = sag.datasets.synthetic(n_obs=240, n_vars=120, n_classes=4, seed=1)
    X = np.asarray(adata.X.todense())
    rng = np.random.default_rng(0)
    adata.obs["age"] = 5 * np.log1p(X[:, :10]).sum(1) + rng.normal(0, 1, adata.n_obs) + 40
    quick = {
        **MINI,
        "budget": {"n_trials": 2, "time_budget": None},
        "trainer": {"max_epochs": 5, "patience": 3, "min_epochs": 2},
    }
    model = sag.tl.classify(adata, "age", mode="mlp", config=quick, seed=0)
    assert adata.uns["sag"]["task"] == "regression"
    return adata, model


@pytest.fixture(scope="module")
def regressed(regression_run):
    """Synthetic data with a numeric obs['age'] through classify (a regression run)."""
    return regression_run[0]


def _png(ax_or_fig, path) -> np.ndarray:
    fig = ax_or_fig if isinstance(ax_or_fig, Figure) else ax_or_fig.figure
    fig.savefig(path, dpi=60)
    assert path.stat().st_size > 2000
    img = plt.imread(path)
    assert img.ndim == 3
    assert img[..., :3].std() > 0.05  # not a blank canvas
    return img


def _labels(ticks) -> list[str]:
    return [t.get_text() for t in ticks]


def test_importance_one_class(annotated, tmp_path):
    adata = annotated
    cls = adata.uns["sag_shap"]["classes"][0]
    ax = sag.pl.importance(adata, group=cls, n_top=12, show=False)
    assert isinstance(ax, Axes)
    _png(ax, tmp_path / "importance_one.png")
    assert _labels(ax.get_yticklabels()) == list(adata.uns["sag_shap"]["top_genes"][0][:12])
    assert cls in ax.get_title()
    assert "SHAP" in ax.get_xlabel()
    assert len(ax.patches) == 12


def test_importance_all_classes_stacked(annotated, tmp_path):
    adata = annotated
    ax = sag.pl.importance(adata, n_top=15, show=False)
    _png(ax, tmp_path / "importance_all.png")
    classes = list(adata.uns["sag_shap"]["classes"])
    assert len(ax.patches) == 15 * len(classes)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == classes
    genes = _labels(ax.get_yticklabels())
    total = adata.varm["sag_shap"][:, : len(classes)].sum(1)
    assert genes[0] == adata.var_names[np.argmax(total)]
    assert ax.get_legend().get_title().get_text() == "label"


def test_importance_overall_and_errors(annotated):
    adata = annotated
    ax = sag.pl.importance(adata, group="overall", n_top=5, show=False)
    assert _labels(ax.get_yticklabels()) == list(adata.uns["sag_shap"]["top_genes"][-1][:5])
    with pytest.raises(KeyError, match="not one of the explained classes"):
        sag.pl.importance(adata, group="nope", show=False)
    with pytest.raises(KeyError, match=r"sag\.tl\.explain"):
        sag.pl.importance(adata, key="missing", show=False)


def test_importance_says_when_color_is_not_used(annotated, caplog):
    """color= colours one group's bars; with every class stacked it is not used, and says so."""
    from scautogenome._settings import logger

    logger.addHandler(caplog.handler)
    try:
        caplog.set_level("WARNING", logger="scautogenome")
        sag.pl.importance(annotated, n_top=5, color="red", show=False)
        assert "color='red' colours the bars of one group" in caplog.text
        caplog.clear()
        cls = str(annotated.uns["sag_shap"]["classes"][0])
        ax = sag.pl.importance(annotated, cls, n_top=5, color="red", show=False)
        assert caplog.text == ""
        assert ax.patches[0].get_facecolor()[:3] == (1.0, 0.0, 0.0)
    finally:
        logger.removeHandler(caplog.handler)


def test_plots_leave_their_figure_without_a_layout_engine(annotated, regressed):
    """The figures are laid out once (constrained, as they are made) and left without a
    layout engine, as scanpy's: fig.subplots_adjust was ignored with a warning, and
    plt.tight_layout() raised ("Colorbar layout of new layout engine not compatible")."""
    import warnings

    cls = str(annotated.uns["sag"]["classes"][0])
    calls = {
        "confusion_matrix": lambda: sag.pl.confusion_matrix(annotated, show=False),
        "shap_summary": lambda: sag.pl.shap_summary(annotated, cls, show=False),
        "importance": lambda: sag.pl.importance(annotated, group=cls, show=False),
        "search_history": lambda: sag.pl.search_history(annotated, show=False),
        "regression": lambda: sag.pl.regression(regressed, show=False),
    }
    for name, call in calls.items():
        ax = call()
        fig = ax.figure
        assert fig.get_layout_engine() is None, name
        laid_out = ax.get_position().x0
        assert abs(laid_out - plt.rcParams["figure.subplot.left"]) > 1e-3, name
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fig.subplots_adjust(left=0.4)
        assert ax.get_position().x0 == pytest.approx(0.4), name
        plt.figure(fig.number)
        with warnings.catch_warnings():  # matplotlib's of a colour bar's Axes, as scanpy's
            warnings.filterwarnings("ignore", "This figure includes Axes that are not compat")
            plt.tight_layout()
        plt.close(fig)
    # a figure of the user's keeps its own engine
    fig, axs = plt.subplots(1, 2, layout="constrained")
    sag.pl.confusion_matrix(annotated, ax=axs[0], show=False)
    assert fig.get_layout_engine() is not None


def test_shap_summary(annotated, tmp_path):
    adata = annotated
    cls = adata.uns["sag_shap"]["classes"][1]
    ax = sag.pl.shap_summary(adata, cls, n_top=10, show=False)
    _png(ax, tmp_path / "shap_summary.png")
    assert _labels(ax.get_yticklabels()) == list(adata.uns["sag_shap"]["top_genes"][1][:10])
    n_cells = len(adata.uns["sag_shap"]["cells"])
    assert sum(len(c.get_offsets()) for c in ax.collections) == 10 * n_cells
    assert cls in ax.get_xlabel()
    cbar_axes = [a for a in ax.figure.axes if a is not ax]
    assert _labels(cbar_axes[0].get_yticklabels()) == ["low", "high"]
    # no group: the overall top genes, as importance shows every class without one
    ax = sag.pl.shap_summary(adata, n_top=6, show=False)
    assert _labels(ax.get_yticklabels()) == list(adata.uns["sag_shap"]["top_genes"][-1][:6])
    assert "own class" in ax.get_xlabel()
    for bad, error in ((0, ValueError), (-3, ValueError), (2.5, TypeError)):
        with pytest.raises(error, match=r"n_top=.* must be a positive integer"):
            sag.pl.shap_summary(adata, cls, n_top=bad, show=False)
        with pytest.raises(error, match=r"n_top=.* must be a positive integer"):
            sag.pl.importance(adata, n_top=bad, show=False)
    plt.close("all")
    for bad in (-1, 0, float("nan"), "5", True):
        with pytest.raises(ValueError, match=r"size=.* must be a positive number"):
            sag.pl.shap_summary(adata, cls, size=bad, show=False)
    assert plt.get_fignums() == []  # refused before any drawing


def test_explain_plots_warn_of_an_explanation_of_a_replaced_classify_run(annotated, caplog):
    """classify run again after explain: the plots still draw the old model's explanation,
    with the warning the report gives when it leaves it out."""
    from scautogenome._settings import logger

    adata = annotated.copy()
    cls = adata.uns["sag_shap"]["classes"][0]
    logger.addHandler(caplog.handler)
    try:
        caplog.set_level("WARNING", logger="scautogenome")
        sag.pl.importance(adata, show=False)
        sag.pl.shap_summary(adata, cls, show=False)
        assert "explains another model" not in caplog.text
        adata.uns["sag"] = {**adata.uns["sag"], "model_digest": "another model"}
        for plot in (sag.pl.importance, sag.pl.shap_summary):
            caplog.clear()
            plot(adata, cls, show=False)
            assert "uns['sag_shap'] explains another model than the classify run in uns['sag']" in (
                caplog.text
            )
    finally:
        logger.removeHandler(caplog.handler)


def test_shap_summary_of_an_anndata_read_from_zarr(annotated, tmp_path):
    """anndata.read_zarr gives the gene names in uns back as numpy's StringDType (h5ad as
    object): the plot reads both."""
    pytest.importorskip("zarr")  # anndata < 0.12 does not require it
    import anndata as ad

    annotated.write_zarr(tmp_path / "a.zarr")
    back = ad.read_zarr(tmp_path / "a.zarr")
    cls = back.uns["sag_shap"]["classes"][1]
    ax = sag.pl.shap_summary(back, cls, n_top=5, show=False)
    assert _labels(ax.get_yticklabels()) == list(annotated.uns["sag_shap"]["top_genes"][1][:5])


def test_shap_summary_overall(annotated):
    """group='overall', as importance takes it: the overall top genes, every explained cell at
    its SHAP value of its own class."""
    u = annotated.uns["sag_shap"]
    ax = sag.pl.shap_summary(annotated, "overall", n_top=6, show=False)
    assert _labels(ax.get_yticklabels()) == list(u["top_genes"][-1][:6])
    assert "own class" in ax.get_xlabel()
    first = ax.collections[0].get_offsets()[:, 0]  # the top gene's row
    np.testing.assert_allclose(np.sort(first), np.sort(u["overall_values"][:, 0]), rtol=1e-6)
    old = annotated.copy()
    del old.uns["sag_shap"]["overall_values"]
    with pytest.raises(KeyError, match="no per-cell values of the overall genes"):
        sag.pl.shap_summary(old, "overall", show=False)


def test_shap_summary_of_a_gene_subset_shows_the_genes_it_holds(annotated, sag_caplog):
    """Genes taken out of the AnnData since explain: shap_summary leaves them out, as
    importance (which reads varm) does, and says so; none left is an error."""
    u = annotated.uns["sag_shap"]
    cls = str(u["classes"][0])
    top = [str(g) for g in u["top_genes"][0]]
    sub = annotated[:, ~annotated.var_names.isin(top[:2])].copy()
    sub.var["symbol"] = [f"SYM_{g}" for g in sub.var_names]
    ax = sag.pl.shap_summary(sub, cls, n_top=3, show=False)
    bars = sag.pl.importance(sub, cls, n_top=3, show=False)
    assert _labels(ax.get_yticklabels()) == top[2:5] == _labels(bars.get_yticklabels())
    assert "2 of the 30 genes explain kept for 'type_0' are not in adata.var_names" in (
        sag_caplog.text
    )
    ax = sag.pl.shap_summary(sub, cls, n_top=3, gene_symbols="symbol", show=False)
    assert _labels(ax.get_yticklabels()) == [f"SYM_{g}" for g in top[2:5]]
    sag_caplog.clear()
    sag.pl.shap_summary(sub, cls, n_top=40, show=False)
    assert "n_top=40 but explain kept 30 genes per class, 28 of them in adata; showing 28." in (
        sag_caplog.text
    )
    sag_caplog.clear()
    ax = sag.pl.shap_summary(sub, cls, n_top=28, show=False)  # every gene there: no warning
    assert len(ax.get_yticklabels()) == 28
    assert "n_top=" not in sag_caplog.text
    none = annotated[:, ~annotated.var_names.isin(top)].copy()
    with pytest.raises(ValueError, match=r"None of the 30 genes explain kept for 'type_0' is in"):
        sag.pl.shap_summary(none, cls, show=False)


def test_shap_summary_of_a_class_without_explained_cells_says_so(annotated):
    """A class none of whose cells was explained has no top genes (explain stores blanks):
    the error says so, not that genes were taken out of the AnnData."""
    adata = annotated.copy()
    u = adata.uns["sag_shap"]
    u["values"] = np.asarray(u["values"], dtype=float).copy()
    u["values"][1] = np.nan
    u["top_genes"] = np.asarray(u["top_genes"], dtype=object).copy()
    u["top_genes"][1] = ""
    with pytest.raises(ValueError, match=r"No SHAP values for group='type_1': none of its cells"):
        sag.pl.shap_summary(adata, "type_1", show=False)


def test_explain_plots_label_genes_with_gene_symbols(annotated):
    """gene_symbols= names a var column to label the genes with, as in scanpy's plots."""
    adata = annotated.copy()
    adata.var["symbol"] = [f"SYM{i}" for i in range(adata.n_vars)]
    u = adata.uns["sag_shap"]
    cls = u["classes"][0]
    want = [f"SYM{adata.var_names.get_loc(g)}" for g in u["top_genes"][0][:5]]
    ax = sag.pl.importance(adata, cls, n_top=5, gene_symbols="symbol", show=False)
    assert _labels(ax.get_yticklabels()) == want
    ax = sag.pl.shap_summary(adata, cls, n_top=5, gene_symbols="symbol", show=False)
    assert _labels(ax.get_yticklabels()) == want
    ax = sag.pl.importance(adata, n_top=5, gene_symbols="symbol", show=False)
    assert all(t.startswith("SYM") for t in _labels(ax.get_yticklabels()))
    for plot in (sag.pl.importance, sag.pl.shap_summary):
        with pytest.raises(KeyError, match=r"gene_symbols='nope' is not a column of adata\.var"):
            plot(adata, cls, gene_symbols="nope", show=False)


def test_importance_axis_says_which_cells_it_averages_over(annotated):
    """Column c of varm is mean |SHAP of class c| over the explained cells of class c."""
    u = annotated.uns["sag_shap"]
    cls = u["classes"][1]
    ax = sag.pl.importance(annotated, cls, show=False)
    n = int(u["n_cells"][1])
    # on two lines where it is longer than the bars are wide
    label = " ".join(ax.get_xlabel().split())
    assert label == f"mean |SHAP value| of the {cls} logit over its {n} explained cells"
    ax = sag.pl.importance(annotated, "overall", show=False)
    assert "mean over the classes" in ax.get_xlabel()
    ax = sag.pl.importance(annotated, show=False)
    assert "over its explained cells (stacked)" in " ".join(ax.get_xlabel().split())


def test_confusion_matrix(annotated, tmp_path):
    adata = annotated
    ax = sag.pl.confusion_matrix(adata, show=False)
    _png(ax, tmp_path / "confusion.png")
    classes = list(adata.uns["sag"]["classes"])
    assert _labels(ax.get_xticklabels()) == classes
    assert [t.split(" (")[0] for t in _labels(ax.get_yticklabels())] == classes
    assert ax.get_xlabel() == "predicted"
    assert "accuracy" in ax.get_title()
    image = ax.get_images()[0].get_array()
    np.testing.assert_allclose(np.asarray(image).sum(1), 1.0)
    counts = sag.pl.confusion_matrix(adata, normalize=False, show=False)
    assert (
        np.asarray(counts.get_images()[0].get_array()).sum() == adata.uns["sag"]["confusion"].sum()
    )
    assert "this AnnData holds" not in ax.get_title()
    # a subset of the run's cells draws the run's recorded matrix: the title says so
    half = adata[: adata.n_obs // 2].copy()
    held = int((half.obs["sag_split"] == "test").sum())
    n = int(adata.uns["sag"]["confusion"].sum())
    title = sag.pl.confusion_matrix(half, show=False).get_title()
    assert f"(the run's {n} test cells; this AnnData holds {held})" in title


def test_confusion_matrix_30_classes(tmp_path):
    import anndata as ad

    rng = np.random.default_rng(0)
    n = 30
    adata = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
    adata.uns["sag"] = {
        "classes": np.array([f"cell type number {i}" for i in range(n)]),
        "confusion": np.diag(rng.integers(5, 50, n)) + rng.poisson(0.5, (n, n)),
    }
    fig = sag.pl.confusion_matrix(adata, return_fig=True)
    assert isinstance(fig, Figure)
    img = _png(fig, tmp_path / "confusion30.png")
    assert img.shape[0] >= 500  # big enough to read 30 labels
    ax = fig.axes[0]
    assert len(ax.get_xticklabels()) == n
    assert not ax.texts  # no numbers in 900 cells unless asked


def test_confusion_matrix_shortens_very_long_class_names():
    """Class names of 500 letters made a figure of 60 x 52 inches whose layout collapsed
    (constrained_layout gave up); their ticks keep the names' start and end, and the
    figure is sized for those."""
    import anndata as ad

    names = [f"{c * 480} type {i}" for i, c in enumerate("abc")]
    adata = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
    adata.uns["sag"] = {"classes": np.array(names), "confusion": np.diag([5, 6, 7])}
    fig = sag.pl.confusion_matrix(adata, normalize=False, return_fig=True)
    ax = fig.axes[0]
    ticks = _labels(ax.get_xticklabels())
    assert ticks == _labels(ax.get_yticklabels())
    assert len(set(ticks)) == 3
    for tick, name in zip(ticks, names):
        assert len(tick) == 40
        head, tail = tick.split("\u2026")
        assert name.startswith(head)
        assert name.endswith(tail)
    assert max(fig.get_size_inches()) < 10
    short = sag.pl.confusion_matrix(adata, normalize=True, return_fig=True).axes[0]
    assert _labels(short.get_yticklabels())[0] == f"{ticks[0]} (5)"
    plt.close("all")


def test_search_history(annotated, tmp_path):
    adata = annotated
    ax = sag.pl.search_history(adata, show=False)
    _png(ax, tmp_path / "search.png")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "mlp" in legend
    assert "best so far" in legend
    assert ax.get_xlabel() == "trial"
    assert "macro_f1" in ax.get_ylabel()
    # a key no search wrote: the error names both searches that write one
    with pytest.raises(KeyError, match=r"'sag_resvae'.*sag\.tl\.classify.*or sag\.tl\.embed"):
        sag.pl.search_history(adata, key="sag_resvae", show=False)


def test_search_history_modes_and_pruned(tmp_path):
    import anndata as ad

    rng = np.random.default_rng(0)
    t = 30
    state = np.where(rng.random(t) < 0.3, "pruned", "complete")
    state[4] = "fail"
    trials = pd.DataFrame(
        {
            "number": np.arange(t),
            "state": state,
            "value": np.where(state == "complete", rng.uniform(0.4, 0.9, t), np.nan),
            "mode": rng.choice(["mlp", "resnet", "densenet"], t),
        }
    )
    adata = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
    adata.uns["sag"] = {"trials": trials, "params": {"metric": "accuracy"}}
    ax = sag.pl.search_history(adata, show=False)
    _png(ax, tmp_path / "search_modes.png")
    legend = [x.get_text() for x in ax.get_legend().get_texts()]
    assert {"mlp", "resnet", "densenet"} <= set(legend)
    assert f"pruned ({int((state == 'pruned').sum())})" in legend
    assert "fail (1)" in legend
    best = ax.lines[0].get_ydata()
    assert best[-1] == np.nanmax(trials["value"])


def test_search_history_of_enas_says_what_it_leaves_out():
    """An ENAS run's rows of architectures scored on the shared weights (sampled, ranked)
    are proxies, not trained trials: the title says how many are not drawn, and the trial
    axis has whole numbers only."""
    import anndata as ad

    state = ["sampled"] * 16 + ["ranked"] * 4 + ["complete"] * 2
    trials = pd.DataFrame(
        {
            "number": np.arange(22),
            "state": state,
            "value": np.linspace(0.3, 0.9, 22),
            "mode": "rrfcn",
        }
    )
    adata = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
    adata.uns["sag"] = {"trials": trials, "params": {"metric": "accuracy"}}
    ax = sag.pl.search_history(adata, show=False)
    assert ax.get_title() == (
        "search: 2 trials, 2 complete (20 ENAS rows scored on shared weights not drawn)"
    )
    ticks = ax.get_xticks()
    assert np.array_equal(ticks, np.round(ticks))


def test_search_history_of_embed_marks_the_lowest_loss():
    """sag.tl.embed's trials hold validation losses: the best is the lowest."""
    import anndata as ad

    trials = pd.DataFrame(
        {
            "number": [0, 1, 2],
            "state": ["complete"] * 3,
            "value": [123.82, 123.16, 127.28],
            "mode": ["resvae"] * 3,
        }
    )
    adata = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
    adata.uns["sag_resvae"] = {"trials": trials, "best": {"trial": 1, "val_loss": 123.16}}
    ax = sag.pl.search_history(adata, key="sag_resvae", show=False)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [123.82, 123.16, 123.16])
    star = next(c for c in ax.collections if c.get_sizes().tolist() == [170.0])
    np.testing.assert_allclose(star.get_offsets()[0], [1, 123.16])
    assert "kept trial (resvae)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert "loss" in ax.get_ylabel()
    plt.close("all")


def test_search_history_stars_the_kept_trial_among_ties():
    """Equal scores: the search keeps the lower validation loss, and so does the star (the
    recorded best trial; without one, the same rule)."""
    import anndata as ad

    trials = pd.DataFrame(
        {
            "number": [0, 1, 2, 3],
            "state": ["complete"] * 4,
            "value": [0.9, 1.0, 1.0, 0.8],
            "val_loss": [0.5, 0.4, 0.3, 0.6],
            "mode": ["mlp"] * 4,
        }
    )
    adata = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
    for uns in ({"trials": trials, "best": {"trial": 2}}, {"trials": trials}):
        adata.uns["sag"] = uns
        ax = sag.pl.search_history(adata, show=False)
        star = next(c for c in ax.collections if c.get_sizes().tolist() == [170.0])
        np.testing.assert_allclose(star.get_offsets()[0], [2, 1.0])
        plt.close("all")


def test_plot_conventions(annotated):
    """``ax=`` draws into the given Axes; ``return_fig`` gives the Figure; ``show=True`` None."""
    adata = annotated
    cls = adata.uns["sag_shap"]["classes"][0]
    calls = [
        lambda **kw: sag.pl.importance(adata, **kw),
        lambda **kw: sag.pl.shap_summary(adata, cls, **kw),
        lambda **kw: sag.pl.confusion_matrix(adata, **kw),
        lambda **kw: sag.pl.search_history(adata, **kw),
        lambda **kw: sag.pl.architecture(adata, **kw),
    ]
    for call in calls:
        _, ax = plt.subplots()
        assert call(ax=ax, show=False) is ax
        assert isinstance(call(return_fig=True), Figure)  # under the default autoshow too
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Agg cannot show
            assert call(show=True) is None
    assert mpl.get_backend().lower() == "agg"


def test_plots_save_as_scanpy_does(annotated, tmp_path):
    """``save=True`` writes ``{figdir}/sag_<plot>{plot_suffix}.{file_format_figs}``; a string is
    appended to the name and its extension sets the format."""
    import scanpy as sc

    figdir, fmt = sc.settings.figdir, sc.settings.file_format_figs
    sc.settings.figdir, sc.settings.file_format_figs = tmp_path / "figures", "png"
    try:
        adata = annotated
        cls = adata.uns["sag_shap"]["classes"][0]
        sag.pl.importance(adata, save=True, show=False)
        sag.pl.shap_summary(adata, cls, save="_one.pdf", show=False)
        sag.pl.confusion_matrix(adata, save="_test", show=False)
        sag.pl.search_history(adata, save=True, show=False)
        ax = sag.pl.architecture(adata, save=".svg", show=False)
    finally:
        sc.settings.figdir, sc.settings.file_format_figs = figdir, fmt
    assert isinstance(ax, Axes)
    written = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert written == [
        "sag_architecture.svg",
        "sag_confusion_matrix_test.png",
        "sag_importance.png",
        "sag_search_history.png",
        "sag_shap_summary_one.pdf",
    ]
    assert all((tmp_path / "figures" / n).stat().st_size > 1000 for n in written)


def test_classify_plots_need_classify():
    import anndata as ad

    adata = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
    with pytest.raises(KeyError, match=r"sag\.tl\.classify"):
        sag.pl.confusion_matrix(adata, show=False)
    with pytest.raises(KeyError, match=r"sag\.tl\.classify"):
        sag.pl.search_history(adata, show=False)


def _split_rows(adata, part: str) -> np.ndarray:
    return (adata.obs["sag_split"] == part).to_numpy()


def test_regression_plots_the_test_cells_with_the_recorded_metrics(regressed, tmp_path):
    adata = regressed
    ax = sag.pl.regression(adata, show=False)
    assert isinstance(ax, Axes)
    _png(ax, tmp_path / "regression.png")
    test = _split_rows(adata, "test")
    dots = ax.collections[0].get_offsets()
    expected = np.column_stack([adata.obs["age"][test], adata.obs["sag_pred"][test]])
    np.testing.assert_allclose(dots, expected, rtol=1e-6)
    recorded = adata.uns["sag"]["metrics"]["test"]
    title = ax.get_title()
    assert title.startswith("test split: ")
    assert f"R\u00b2 {recorded['r2']:.3f}" in title
    assert f"RMSE {recorded['rmse']:.4g}" in title
    assert int(recorded["n"]) == test.sum()
    assert f"(n={test.sum()})" in title
    line = ax.lines[0]  # y = x
    np.testing.assert_array_equal(line.get_xdata(), line.get_ydata())
    assert ax.get_xlabel() == "observed age"
    assert ax.get_ylabel() == "predicted age"
    # the x and y ranges hold every dot
    lo, hi = ax.get_xlim()
    assert lo <= expected.min()
    assert expected.max() <= hi
    assert ax.get_ylim() == (lo, hi)
    val = sag.pl.regression(adata, split="val", show=False)
    assert f"R\u00b2 {adata.uns['sag']['metrics']['val']['r2']:.3f}" in val.get_title()
    assert len(val.collections[0].get_offsets()) == _split_rows(adata, "val").sum()


def test_regression_of_all_cells_is_coloured_by_split(regressed):
    from sklearn.metrics import r2_score

    adata = regressed
    for split in ("all", None):
        ax = sag.pl.regression(adata, split=split, show=False)
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        counts = adata.obs["sag_split"].value_counts()
        assert legend == [f"{p} ({counts[p]})" for p in ("train", "val", "test")] + ["y = x"]
        assert sum(len(c.get_offsets()) for c in ax.collections) == adata.n_obs
        r2 = r2_score(adata.obs["age"], adata.obs["sag_pred"])  # computed: no record of all
        assert ax.get_title().startswith(f"all cells: R\u00b2 {r2:.3f}, RMSE ")
        assert ax.get_title().endswith(f"(n={adata.n_obs})")
        plt.close("all")


def test_regression_computes_what_the_record_does_not_describe(regressed):
    """A subset of the test cells: the recorded test metrics are of other cells, so the title
    gives those of the cells shown."""
    from sklearn.metrics import r2_score

    adata = regressed
    sub = adata[np.flatnonzero(_split_rows(adata, "test"))[:12]].copy()
    ax = sag.pl.regression(sub, show=False)
    r2 = r2_score(sub.obs["age"], sub.obs["sag_pred"])
    assert r2 != pytest.approx(float(adata.uns["sag"]["metrics"]["test"]["r2"]))
    assert f"R\u00b2 {r2:.3f}" in ax.get_title()
    assert "(n=12)" in ax.get_title()


def test_regression_title_is_of_the_predictions_drawn_after_predict(regression_run):
    """sag.tl.predict replaced obs['sag_pred'] (here on each cell's profile taken from another
    cell): the recorded metrics are of the run's own predictions, so the title gives those of
    the dots drawn, on the test split and on val (it gave the recorded R\u00b2 where the cell
    count matched)."""
    from sklearn.metrics import mean_squared_error, r2_score

    adata, model = regression_run[0].copy(), regression_run[1]
    adata.X = adata.X[::-1]
    sag.tl.predict(adata, model)
    for split in ("test", "val"):
        rows = _split_rows(adata, split)
        ax = sag.pl.regression(adata, split=split, show=False)
        dots = ax.collections[0].get_offsets()
        np.testing.assert_allclose(dots[:, 1], adata.obs["sag_pred"][rows], rtol=1e-6)
        r2 = r2_score(adata.obs["age"][rows], adata.obs["sag_pred"][rows])
        rmse = mean_squared_error(adata.obs["age"][rows], adata.obs["sag_pred"][rows]) ** 0.5
        recorded = adata.uns["sag"]["metrics"][split]
        assert f"{r2:.3f}" != f"{recorded['r2']:.3f}"
        assert ax.get_title() == (
            f"{split} split: R\u00b2 {r2:.3f}, RMSE {rmse:.4g} (n={rows.sum()})"
        )
        plt.close("all")


def test_regression_errors(regressed, annotated):
    adata = regressed.copy()
    with pytest.raises(ValueError, match=r"classification run.*sag\.pl\.confusion_matrix"):
        sag.pl.regression(annotated, show=False)
    with pytest.raises(KeyError, match=r"sag\.tl\.classify"):
        sag.pl.regression(adata, key="other", show=False)
    with pytest.raises(ValueError, match="split='tests' must be"):
        sag.pl.regression(adata, split="tests", show=False)
    no_test = adata.copy()
    no_test.obs["sag_split"] = no_test.obs["sag_split"].astype(str).replace("test", "train")
    with pytest.raises(ValueError, match="no cell of the 'test' split has both"):
        sag.pl.regression(no_test, show=False)
    assert sag.pl.regression(no_test, split="all", show=False) is not None
    unsplit = adata.copy()
    del unsplit.obs["sag_split"]
    with pytest.raises(KeyError, match="split='all'"):
        sag.pl.regression(unsplit, show=False)
    ax = sag.pl.regression(unsplit, split="all", show=False)  # one colour, no split
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["cells", "y = x"]
    del adata.obs["age"]
    with pytest.raises(KeyError, match=r"obs\['age'\].*no longer in adata\.obs"):
        sag.pl.regression(adata, show=False)


def test_regression_of_a_query_against_its_known_values(regressed, annotated):
    """labels_key=: predictions of sag.tl.predict (a record without split or metrics) against
    an obs column of observed numbers, every cell that has both, R\u00b2 and RMSE of them."""
    from sklearn.metrics import mean_squared_error, r2_score

    query = regressed[:60].copy()  # what sag.tl.predict leaves: predictions, no split
    del query.obs["sag_split"]
    query.uns["sag"] = {"classes": np.array(["age"]), "predict_params": {"layer": "None"}}
    query.obs["truth"] = query.obs["age"].to_numpy()
    query.obs.loc[query.obs_names[:5], "truth"] = np.nan  # no value: not shown
    with pytest.raises(KeyError, match=r"record of sag\.tl\.predict.*pass labels_key="):
        sag.pl.regression(query, show=False)
    with pytest.raises(KeyError, match=r"sag\.pl\.regression\(adata, key='sag', labels_key"):
        sag.get.metrics_df(query)
    ax = sag.pl.regression(query, labels_key="truth", show=False)
    y, y_hat = query.obs["truth"].to_numpy()[5:], query.obs["sag_pred"].to_numpy()[5:]
    np.testing.assert_allclose(ax.collections[0].get_offsets(), np.column_stack([y, y_hat]))
    rmse = np.sqrt(mean_squared_error(y, y_hat))
    assert ax.get_title() == f"all cells: R\u00b2 {r2_score(y, y_hat):.3f}, RMSE {rmse:.4g} (n=55)"
    assert ax.get_xlabel() == "observed truth"
    bulk = query.copy()  # read by a bulk reader: its rows are samples
    bulk.uns["sag_io"] = {"reader": "read_tcga"}
    ax = sag.pl.regression(bulk, labels_key="truth", show=False)
    assert ax.get_title().startswith("all samples: R\u00b2")
    assert ax.get_legend().get_texts()[0].get_text() == "samples"
    # on a classify run's cells: its split still chooses them (the test cells by default)
    ax = sag.pl.regression(regressed, labels_key="age", show=False)
    test = _split_rows(regressed, "test")
    assert len(ax.collections[0].get_offsets()) == test.sum()
    r2 = float(regressed.uns["sag"]["metrics"]["test"]["r2"])
    assert f"test split: R\u00b2 {r2:.3f}" in ax.get_title()
    with pytest.raises(KeyError, match="labels_key='nope' is not a column"):
        sag.pl.regression(query, labels_key="nope", show=False)
    with pytest.raises(KeyError, match=r"obs\['zz_pred'\] is missing"):
        sag.pl.regression(query, key="zz", labels_key="truth", show=False)
    query.obs["text"] = "young"
    with pytest.raises(ValueError, match=r"labels_key='text'.*not finite numbers"):
        sag.pl.regression(query, labels_key="text", show=False)
    with pytest.raises(ValueError, match=r"holds classes: use sag\.pl\.confusion_matrix"):
        sag.pl.regression(annotated, labels_key="label", show=False)
    plt.close("all")


def test_confusion_matrix_refuses_a_regression_run(regressed):
    with pytest.raises(
        ValueError, match=r"regression run \(numeric target 'age'\).*sag\.pl\.regression"
    ):
        sag.pl.confusion_matrix(regressed, show=False)


def test_switches_of_the_plots_take_no_text(annotated):
    """A text such as "no" read as True drew counts as fractions and annotated the cells."""
    for kwargs in ({"normalize": "rows"}, {"annotate": "no"}):
        with pytest.raises(TypeError, match=r"=.* must be True or False"):
            sag.pl.confusion_matrix(annotated, show=False, **kwargs)
    with pytest.raises(TypeError, match="recompute='no' must be True or False"):
        sag.pl.embedding(annotated, "X_pca", recompute="no", show=False)


def test_regression_follows_the_plot_conventions(regressed, tmp_path):
    import scanpy as sc

    for bad in (-1, 0, float("nan")):  # -1 drew no dot, with numpy's sqrt warning
        with pytest.raises(ValueError, match=r"size=.* must be a positive number"):
            sag.pl.regression(regressed, size=bad, show=False)
    _, ax = plt.subplots()
    assert sag.pl.regression(regressed, ax=ax, show=False) is ax
    assert isinstance(sag.pl.regression(regressed, return_fig=True), Figure)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Agg cannot show
        assert sag.pl.regression(regressed, show=True) is None
    figdir, fmt = sc.settings.figdir, sc.settings.file_format_figs
    sc.settings.figdir, sc.settings.file_format_figs = tmp_path, "png"
    try:
        sag.pl.regression(regressed, save=True, show=False)
    finally:
        sc.settings.figdir, sc.settings.file_format_figs = figdir, fmt
    assert (tmp_path / "sag_regression.png").stat().st_size > 1000


def test_confusion_matrix_of_predictions_against_labels(annotated):
    """labels_key=: the test cells give the recorded matrix; a query predicted with
    min_confidence and lacking a class gets its own rows and an "Unassigned" column."""
    test = annotated[annotated.obs["sag_split"] == "test"]
    ax = sag.pl.confusion_matrix(test, labels_key="label", normalize=False, show=False)
    recorded = np.asarray(annotated.uns["sag"]["confusion"])
    np.testing.assert_array_equal(ax.images[0].get_array(), recorded)
    acc = annotated.uns["sag"]["metrics"]["test"]["accuracy"]
    assert f"accuracy {acc:.3f}" in ax.get_title()
    assert "obs['label']" in ax.get_ylabel()
    ref = sag.datasets.synthetic(n_obs=240, n_vars=120, n_classes=4, seed=1)
    model = sag.tl.classify(ref, "label", mode="mlp", config=MINI, seed=0)
    query = sag.datasets.synthetic(n_obs=120, n_vars=120, n_classes=4, seed=2)
    lacking = query.obs["label"].cat.categories[0]
    query = query[query.obs["label"] != lacking].copy()
    query.obs["label"] = query.obs["label"].cat.remove_unused_categories()
    proba = model.predict_proba(query)
    threshold = float(np.quantile(proba.max(1), 0.2))  # a fifth of the cells unsure
    sag.tl.predict(query, model, min_confidence=threshold, key_added="q")
    ax = sag.pl.confusion_matrix(query, key="q", labels_key="label", normalize=False, show=False)
    rows = [t.get_text() for t in ax.get_yticklabels()]
    cols = [t.get_text() for t in ax.get_xticklabels()]
    assert rows == list(query.obs["label"].cat.categories)
    assert cols[-1] == "Unassigned"
    counts = np.asarray(ax.images[0].get_array())
    assert counts.shape == (len(rows), len(cols))
    assert counts.sum() == query.n_obs
    assert counts[:, -1].sum() == (query.obs["q_pred"] == "Unassigned").sum() > 0
    shared = [c for c in cols if c in rows]
    assert cols[: len(shared)] == shared  # the classes of the labels first, in their order
    with pytest.raises(KeyError, match="labels_key='nope'"):
        sag.pl.confusion_matrix(query, key="q", labels_key="nope", show=False)
    with pytest.raises(KeyError, match=r"obs\['zz_pred'\] is missing"):
        sag.pl.confusion_matrix(query, key="zz", labels_key="label", show=False)


def test_every_plot_takes_a_title(annotated, regressed):
    """title= replaces the default title, as in scanpy's plots."""
    import matplotlib.pyplot as plt

    for plot, data, kw in _every_plot(annotated, regressed):
        if plot is sag.pl.embedding:  # scanpy's title= (the color's name by default)
            continue
        ax = plot(data, title="My title", show=False, **kw)
        assert ax.get_title() == "My title", plot.__name__
        assert plot(data, show=False, **kw).get_title() not in ("", "My title"), plot.__name__
    plt.close("all")


def test_importance_names_classes_without_explained_cells(annotated):
    """A class none of whose cells was explained has no bars; its legend entry says so, and
    the figure widens for long class names instead of squeezing the bars."""
    import matplotlib.pyplot as plt

    adata = annotated.copy()
    n_cells = np.asarray(adata.uns["sag_shap"]["n_cells"]).copy()
    n_cells[0] = 0
    adata.uns["sag_shap"]["n_cells"] = n_cells
    ax = sag.pl.importance(adata, n_top=5, show=False)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    classes = [str(c) for c in adata.uns["sag_shap"]["classes"]]
    assert legend == [f"{classes[0]} (no cells)", *classes[1:]]
    narrow = ax.figure.get_figwidth()
    long_names = {c: f"{c} with a very long descriptive cell type name" for c in classes}
    adata.uns["sag_shap"]["classes"] = np.asarray([long_names[c] for c in classes])
    ax = sag.pl.importance(adata, n_top=5, show=False)
    assert ax.figure.get_figwidth() > narrow + 1.5
    plt.close("all")


def test_architecture_labels_fit_their_boxes_in_a_small_axes():
    """In a grid cell the node labels shrink to their boxes instead of spilling over (down to
    4 points, below which nothing is readable anyway)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    arch = {"kind": "mlp", "n_inputs": 2000, "n_outputs": 30, "units": [512, 256, 128, 64]}
    fig, axs = plt.subplots(1, 2, figsize=(12, 3.5))
    ax = sag.pl.architecture(arch, ax=axs[0], show=False)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    labels = [t for t in ax.texts if "\n" in t.get_text()]
    assert len(labels) == len(boxes) == 6  # input, 4 units, output
    for text in labels:
        extent = text.get_window_extent(renderer)
        box = min(boxes, key=lambda b: abs(b.get_window_extent(renderer).x0 - extent.x0))
        assert extent.width <= box.get_window_extent(renderer).width * 1.05, text.get_text()
    assert min(t.get_fontsize() for t in labels) < 8.5  # some did shrink
    big = sag.pl.architecture(arch, show=False)  # a figure of its own: the usual size
    assert max(t.get_fontsize() for t in big.texts if "\n" in t.get_text()) == 8.5
    plt.close("all")


def test_architecture_and_search_history_read_on_a_dark_style(annotated):
    """plt.style.use('dark_background'): the node labels took the style's white text on
    their light boxes, and the chain's arrows and the best-so-far line stayed near-black on
    black."""
    from matplotlib.colors import to_hex

    from scautogenome.plotting._utils import text_color_on

    with plt.style.context("dark_background"):
        ax = sag.pl.architecture(annotated, show=False)
        labels = [t for t in ax.texts if t.get_text()]
        boxes = [p for p in ax.patches if type(p).__name__ == "FancyBboxPatch"]
        assert len(labels) == len(boxes) > 2
        for text, box in zip(labels, boxes):
            assert to_hex(text.get_color()) == to_hex(text_color_on(box.get_facecolor()))
        arrows = [p for p in ax.patches if type(p).__name__ == "FancyArrowPatch"]
        assert all(to_hex(a.get_edgecolor()) == "#cccccc" for a in arrows[:2])
        ax = sag.pl.search_history(annotated, show=False)
        best = next(line for line in ax.lines if line.get_label() == "best so far")
        assert to_hex(best.get_color()) == "#cccccc"
    ax = sag.pl.search_history(annotated, show=False)  # the default style as before
    best = next(line for line in ax.lines if line.get_label() == "best so far")
    assert to_hex(best.get_color()) == "#333333"


def test_architecture_widens_for_its_title_at_a_large_font_size(annotated):
    """sc.set_figure_params(fontsize=20) cut the title of a small network at the figure's
    edge (its figure was of a fixed size)."""
    with plt.rc_context({"font.size": 20}):
        fig = sag.pl.architecture(annotated, return_fig=True)
        fig.canvas.draw()
        title = fig.axes[0].title.get_window_extent()
        assert title.x0 >= 0
        assert title.x1 <= fig.bbox.width


def test_architecture_of_a_saved_model_folder(tmp_path):
    """sag.pl.architecture takes the folder of a saved model (a str or a Path), loaded by the
    class its model.json names: a regressor's output is its target, as for the model itself;
    a folder without a model is the loader's error, not a JSON one."""
    adata = sag.datasets.synthetic(n_obs=80, n_vars=30, n_classes=2, seed=0)
    adata.obs["age"] = np.arange(adata.n_obs, dtype=float)
    model = sag.models.Regressor({"kind": "mlp", "units": [8]}, {"max_epochs": 1}).fit(
        adata, "age", seed=0
    )
    model.save(tmp_path / "m")
    expected = [t.get_text() for t in sag.pl.architecture(model, show=False).texts]
    assert "output\nage" in expected
    for folder in (str(tmp_path / "m"), tmp_path / "m"):
        ax = sag.pl.architecture(folder, show=False)
        assert [t.get_text() for t in ax.texts] == expected
    with pytest.raises(FileNotFoundError, match="is not a saved scautogenome model"):
        sag.pl.architecture(str(tmp_path), show=False)
    plt.close("all")


def test_confusion_matrix_against_labels_keeps_to_the_test_split(annotated):
    """labels_key= on the AnnData of a classify run scores its test cells (the recorded
    matrix), not the training cells with them; split= picks another part, with or without
    labels_key."""
    recorded = np.asarray(annotated.uns["sag"]["confusion"])
    ax = sag.pl.confusion_matrix(annotated, labels_key="label", normalize=False, show=False)
    np.testing.assert_array_equal(ax.images[0].get_array(), recorded)
    parts = annotated.obs["sag_split"].astype(str)
    n_test = int((parts == "test").sum())
    acc = annotated.uns["sag"]["metrics"]["test"]["accuracy"]
    assert ax.get_title().startswith(f"test split, {n_test} cells: accuracy {acc:.3f}")
    right = annotated.obs["sag_pred"].astype(str) == annotated.obs["label"].astype(str)
    for part in ("train", "val"):
        ax = sag.pl.confusion_matrix(annotated, split=part, normalize=False, show=False)
        n = int((parts == part).sum())
        assert np.asarray(ax.images[0].get_array()).sum() == n
        assert ax.get_title().startswith(f"{part} split, {n} cells: ")
        assert f"accuracy {right[parts == part].mean():.3f}" in ax.get_title()
        assert "obs['label']" in ax.get_ylabel()
    ax = sag.pl.confusion_matrix(
        annotated, labels_key="label", split=None, normalize=False, show=False
    )
    assert np.asarray(ax.images[0].get_array()).sum() == annotated.n_obs
    assert ax.get_title().startswith(f"{annotated.n_obs} cells: accuracy {right.mean():.3f}")
    with pytest.raises(ValueError, match="split='tst' must be 'test', 'val', 'train' or 'all'"):
        sag.pl.confusion_matrix(annotated, split="tst", show=False)
    val = annotated[parts == "val"]  # no test cell: the error points to split=
    with pytest.raises(ValueError, match=r"'test' split .* Pass split= another part"):
        sag.pl.confusion_matrix(val, labels_key="label", show=False)
    assert sag.pl.confusion_matrix(val, labels_key="label", split="val", show=False)
    gone = annotated.copy()
    del gone.obs["label"]
    with pytest.raises(KeyError, match=r"names obs\['label'\], .* no longer has: pass labels_key="):
        sag.pl.confusion_matrix(gone, split="val", show=False)
    plt.close("all")


def test_confusion_matrix_keeps_the_diagonal_and_reads_numeric_labels():
    """A class the model never predicted is an empty column in its place (its row is not
    counted right); labels made float by a missing value match integer classes."""
    import anndata as ad

    a = ad.AnnData(np.zeros((6, 2), dtype=np.float32))
    a.obs["label"] = pd.Categorical(["A", "A", "B", "B", "C", "C"])
    a.obs["q_pred"] = pd.Categorical(["A", "A", "C", "C", "C", "C"], categories=["A", "B", "C"])
    ax = sag.pl.confusion_matrix(a, key="q", labels_key="label", normalize=False, show=False)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["A", "B", "C"]
    np.testing.assert_array_equal(ax.images[0].get_array(), [[2, 0, 0], [0, 0, 2], [0, 0, 2]])
    assert "accuracy 0.667" in ax.get_title()
    b = ad.AnnData(np.zeros((5, 2), dtype=np.float32))
    b.obs["num"] = [1.0, 2.0, 10.0, np.nan, 2.0]
    b.obs["q_pred"] = pd.Categorical(["1", "2", "10", "1", "1"], categories=["1", "2", "10"])
    ax = sag.pl.confusion_matrix(b, key="q", labels_key="num", normalize=False, show=False)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1", "2", "10"]
    assert "4 cells: accuracy 0.750" in ax.get_title()
    # a model trained on that float column names its classes as classify does ('1.0'): the
    # labels are named so (they shared no name with the predictions: accuracy 0)
    b.uns["q"] = {"classes": ["1.0", "2.0", "10.0"]}
    b.obs["q_pred"] = pd.Categorical(["1.0", "2.0", "10.0", "1.0", "1.0"])
    ax = sag.pl.confusion_matrix(b, key="q", labels_key="num", normalize=False, show=False)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1.0", "2.0", "10.0"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1.0", "2.0", "10.0"]
    assert "4 cells: accuracy 0.750" in ax.get_title()
    # and integer labels of such a model's classes alike, as numbers or as text (cluster
    # ids as Leiden writes them)
    b.obs["int"] = pd.array([1, 2, 10, None, 2], dtype="Int64")
    ax = sag.pl.confusion_matrix(b, key="q", labels_key="int", normalize=False, show=False)
    assert "4 cells: accuracy 0.750" in ax.get_title()
    b.obs["text"] = pd.Categorical(["1", "2", "10", None, "2"])
    ax = sag.pl.confusion_matrix(b, key="q", labels_key="text", normalize=False, show=False)
    assert "4 cells: accuracy 0.750" in ax.get_title()
    # labels none of which is a class of the model: said so under the accuracy of 0
    b.obs["other"] = pd.Categorical(["x", "y", "x", None, "y"])
    ax = sag.pl.confusion_matrix(b, key="q", labels_key="other", normalize=False, show=False)
    assert ax.get_title().endswith("no label of obs['other'] is one of the model's classes")


@pytest.mark.parametrize(
    ("mine", "order"),
    [
        # a list longer than the categories is the column's own (scanpy reads its first ones)
        (["#111111", "#222222", "#333333", "#444444"], ["label", "pred"]),
        # a column with colours of its own leads, listed first or not
        (["#111111", "#222222", "#333333"], ["pred", "label"]),
    ],
)
def test_shared_colours_keep_and_lead_with_a_users_palette(mine, order):
    """The user's colours of a column are kept and lead those plotted with it."""
    import anndata as ad

    from scautogenome.plotting._utils import shared_category_colors

    a = ad.AnnData(np.zeros((4, 2), dtype=np.float32))
    a.obs["label"] = pd.Categorical(["x", "y", "z", "x"])
    a.obs["pred"] = pd.Categorical(["x", "y", "Unassigned", "z"])
    a.uns["label_colors"] = mine
    shared_category_colors(a, order)
    assert list(a.uns["label_colors"]) == mine
    pred = dict(zip(a.obs["pred"].cat.categories, a.uns["pred_colors"]))
    assert (pred["x"], pred["y"], pred["z"]) == ("#111111", "#222222", "#333333")
    assert pred["Unassigned"] == sag.plotting._utils.UNASSIGNED_COLOR


def test_confusion_matrix_of_a_subset_keeps_the_models_classes():
    """A subset of the cells drops the unused categories of the predictions; the columns are
    still the model's recorded classes, a class never predicted there an empty column, so that
    the diagonal holds the right calls."""
    import anndata as ad

    a = ad.AnnData(np.zeros((8, 2), dtype=np.float32))
    a.uns["q"] = {"classes": ["A", "B", "C"]}
    a.obs["label"] = pd.Categorical(["A", "A", "B", "B", "C", "C", "B", "A"])
    a.obs["q_pred"] = pd.Categorical(["A", "A", "C", "A", "C", "C", "B", "B"])
    sub = a[:6]  # no cell predicted B: anndata drops that category
    assert list(sub.obs["q_pred"].cat.categories) == ["A", "C"]
    ax = sag.pl.confusion_matrix(sub, key="q", labels_key="label", normalize=False, show=False)
    assert _labels(ax.get_xticklabels()) == ["A", "B", "C"]
    counts = np.asarray(ax.images[0].get_array())
    np.testing.assert_array_equal(counts, [[2, 0, 0], [1, 0, 1], [0, 0, 2]])
    assert np.trace(counts) == 4


def test_confusion_matrix_gives_the_accuracy_on_the_models_classes_too():
    """A query's cells labelled with a class the model lacks count as wrong in the accuracy;
    the title gives it on the cells of the model's classes too."""
    import anndata as ad

    a = ad.AnnData(np.zeros((6, 2), dtype=np.float32))
    a.uns["q"] = {"classes": ["A", "B"]}
    a.obs["label"] = pd.Categorical(["A", "A", "B", "B", "D", "D"])
    a.obs["q_pred"] = pd.Categorical(["A", "A", "B", "A", "Unassigned", "B"])
    ax = sag.pl.confusion_matrix(a, key="q", labels_key="label", normalize=False, show=False)
    assert ax.get_title() == (
        "6 cells: accuracy 0.500\n0.750 on the 4 cells of the model's classes\n"
        "1 cell Unassigned (min_confidence) counts as wrong: 0.600 on the other 5"
    )
    a.obs["label"] = pd.Categorical(["A", "A", "B", "B", "A", "B"])  # all of its classes
    ax = sag.pl.confusion_matrix(a, key="q", labels_key="label", normalize=False, show=False)
    assert ax.get_title() == (
        "6 cells: accuracy 0.667\n"
        "1 cell Unassigned (min_confidence) counts as wrong: 0.800 on the other 5"
    )
    a.obs["q_pred"] = pd.Categorical(["A", "A", "B", "A", "A", "B"])
    ax = sag.pl.confusion_matrix(a, key="q", labels_key="label", normalize=False, show=False)
    assert ax.get_title() == "6 cells: accuracy 0.833"
    plt.close("all")


def test_confusion_matrix_of_a_model_with_a_class_named_unassigned():
    """A class of the model named "Unassigned" (an annotation's own) is a class, not
    predict's unsure cells: its column stood last, apart from its row, off the diagonal, and
    the title counted its correct calls as wrong."""
    import anndata as ad

    a = ad.AnnData(np.zeros((4, 2), dtype=np.float32))
    a.uns["q"] = {"classes": ["Unassigned", "A"]}
    names = ["Unassigned", "A"]
    a.obs["label"] = pd.Categorical(["A", "A", "Unassigned", "Unassigned"], names)
    a.obs["q_pred"] = pd.Categorical(["A", "Unassigned", "Unassigned", "Unassigned"], names)
    ax = sag.pl.confusion_matrix(a, key="q", labels_key="label", normalize=False, show=False)
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    np.testing.assert_array_equal(ax.images[0].get_array(), [[2, 0], [1, 1]])
    assert ax.get_title() == "4 cells: accuracy 0.750"
    plt.close("all")


def test_confusion_matrix_of_predictions_alone_points_to_labels_key():
    import anndata as ad

    a = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
    a.uns["q"] = {"classes": ["A", "B"], "predict_params": {"min_confidence": 0.0}}
    a.obs["q_pred"] = pd.Categorical(["A", "B"])
    with pytest.raises(KeyError, match=r"record of sag.tl.predict.*pass labels_key="):
        sag.pl.confusion_matrix(a, key="q", show=False)


def test_importance_of_a_classify_record_says_it_has_no_shap_values(annotated):
    with pytest.raises(
        KeyError, match=r"uns\['sag'\] is the record of sag.tl.classify, without SHAP"
    ):
        sag.pl.importance(annotated, key="sag", show=False)


def test_importance_keeps_the_users_colours_on_a_subset_lacking_a_class(annotated):
    """anndata drops the colour of a class missing from a subset; the others keep theirs."""
    from matplotlib.colors import to_hex

    a = annotated.copy()
    classes = list(a.obs["label"].cat.categories)
    mine = ["#101010", "#202020", "#303030", "#404040"][: len(classes)]
    a.uns["label_colors"] = np.array(mine)
    sub = a[a.obs["label"] != classes[0]]
    assert len(sub.uns["label_colors"]) == len(classes) - 1
    ax = sag.pl.importance(sub, group=classes[1], show=False)
    assert to_hex(ax.patches[0].get_facecolor()) == mine[1]
    ax = sag.pl.importance(sub, show=False)
    assert [to_hex(c.patches[0].get_facecolor()) for c in ax.containers][1:] == mine[1:]


def test_importance_widens_for_long_gene_names(annotated):
    """Long gene labels widen the figure instead of squeezing the bars; short ones keep the
    usual size."""
    a = annotated.copy()
    a.var["long"] = [f"ENSG{i:011d}.12_a_very_long_gene_identifier" for i in range(a.n_vars)]
    group = str(a.obs["label"].cat.categories[0])
    one = sag.pl.importance(a, group=group, return_fig=True).get_size_inches()[0]
    one_long = sag.pl.importance(a, group=group, gene_symbols="long", return_fig=True)
    assert one == 5.0
    assert one_long.get_size_inches()[0] > 7.5
    every = sag.pl.importance(a, return_fig=True).get_size_inches()[0]
    every_long = sag.pl.importance(a, gene_symbols="long", return_fig=True).get_size_inches()[0]
    assert every_long > every + 2


def test_embedding_of_unassigned_cells_beside_missing_labels():
    """predict's "Unassigned" and missing labels (a query concatenated to its reference) in
    one column: its own grey, not scanpy's NA colour, which scanpy refuses as a category's
    (and which then broke sc.pl.umap of that column too)."""
    import scanpy as sc

    from scautogenome.plotting._utils import UNASSIGNED_COLOR

    a = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=3, seed=0)
    a.obsm["X_e"] = np.random.default_rng(0).normal(size=(a.n_obs, 3)).astype(np.float32)
    values = np.repeat(np.array(["A", "B", "Unassigned"], dtype=object), 20)
    values[:3] = None
    a.obs["pred"] = pd.Categorical(values)
    ax = sag.pl.embedding(a, "X_e", method="tsne", color="pred", show=False)
    assert ax is not None
    colors = dict(zip(a.obs["pred"].cat.categories, a.uns["pred_colors"]))
    assert colors["Unassigned"] == UNASSIGNED_COLOR
    na = mpl.colors.to_hex(sc.pl.embedding.__kwdefaults__["na_color"])
    assert mpl.colors.to_hex(UNASSIGNED_COLOR) != na
    (drawn,) = (k for k in a.obsm if k != "X_e")  # sag's t-SNE coordinates
    sc.pl.embedding(a, drawn, color="pred", show=False)  # scanpy reads sag's colours
    plt.close("all")


def test_embedding_of_a_view_whose_coordinates_exist(tmp_path):
    """A view of cells whose coordinates were computed is plotted (and stays a view); one
    that needs them computed is refused, and the parent is unchanged."""
    a = sag.datasets.synthetic(n_obs=120, n_vars=20, n_classes=3, seed=0)
    a.obsm["X_e"] = np.random.default_rng(0).normal(size=(a.n_obs, 3)).astype(np.float32)
    sag.pl.embedding(a, "X_e", method="tsne", color="label", show=False)
    view = a[a.obs["label"] != a.obs["label"].cat.categories[0]]
    ax = sag.pl.embedding(view, "X_e", method="tsne", color="label", show=False)
    assert ax.get_xlabel() == "tSNE1"
    with pytest.raises(ValueError, match=r"adata is a view .*recompute=True"):
        sag.pl.embedding(view, "X_e", method="tsne", recompute=True, show=False)
    assert view.is_view


def test_embedding_refuses_a_misspelt_keyword_before_any_layout():
    """Extra keywords go to scanpy and matplotlib: a typo failed inside matplotlib after the
    UMAP was computed and written into adata."""
    a = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=3, seed=0)
    a.obsm["X_e"] = np.random.default_rng(0).normal(size=(a.n_obs, 3)).astype(np.float32)
    obsm, uns = set(a.obsm), set(a.uns)
    with pytest.raises(TypeError, match=r"keyword argument 'colr' \(did you mean 'color'\?\)"):
        sag.pl.embedding(a, "X_e", color="label", colr="red", show=False)
    for key in ("layer", "gene_symbols"):  # a list where a key goes failed inside anndata
        with pytest.raises(TypeError, match=rf"{key}=\['x'\] must be a str naming"):
            sag.pl.embedding(a, "X_e", color="label", show=False, **{key: ["x"]})
    assert (set(a.obsm), set(a.uns)) == (obsm, uns)
    # scanpy's keywords, matplotlib's and their aliases pass
    ax = sag.pl.embedding(
        a, "X_e", color="label", legend_loc="on data", frameon=False, lw=0.1, marker="s", show=False
    )
    assert ax.get_xlabel() == "UMAP1"


def test_embedding_refuses_groups_that_no_coloured_column_has_before_any_layout():
    """groups= highlights categories of the categorical colours, as in sc.pl.embedding, which
    greys every cell out, with no word, for a name none of them has (a typo, a group of
    another column): after the UMAP was computed and stored."""
    a = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=3, seed=0)
    a.obsm["X_e"] = np.random.default_rng(0).normal(size=(a.n_obs, 3)).astype(np.float32)
    a.obs["plate"] = np.where(np.arange(a.n_obs) % 2, "p1", "p2")  # text, not categorical
    obsm, uns = set(a.obsm), set(a.uns)
    first = a.obs["label"].cat.categories[0]
    with pytest.raises(ValueError, match=r"groups=\['nope'\]: 'nope' is a category of none of"):
        sag.pl.embedding(a, "X_e", color="label", groups=["nope"], show=False)
    with pytest.raises(ValueError, match=r"'p1' is a category of none of .*'label'"):
        sag.pl.embedding(a, "X_e", color="label", groups=[first, "p1"], show=False)
    with pytest.raises(ValueError, match=r"groups= highlights categories of a categorical"):
        sag.pl.embedding(a, "X_e", color=a.var_names[0], groups=first, show=False)
    assert (set(a.obsm), set(a.uns)) == (obsm, uns)
    # booleans and numbers are drawn on a colour scale, where scanpy ignores groups=
    a.obs["flag"] = np.arange(a.n_obs) % 2 == 0
    with pytest.raises(ValueError, match=r"color='flag' names none"):
        sag.pl.embedding(a, "X_e", color="flag", groups=[True], show=False)
    # categories that are numbers are named as they are: the number 1, not the text '1'
    a.obs["n"] = pd.Categorical(np.arange(a.n_obs) % 3)
    with pytest.raises(ValueError, match=r"'1' is a category of none .*categories are 0, 1, 2"):
        sag.pl.embedding(a, "X_e", color="n", groups=["1"], show=False)
    # a group of any coloured categorical column, one name as a str, text columns, None, an
    # array or Index of names (scanpy tested their truth)
    sag.pl.embedding(a, "X_e", color=["label", "plate"], groups=[first, "p1"], show=False)
    sag.pl.embedding(a, "X_e", color="label", groups=np.array([first]), show=False)
    sag.pl.embedding(a, "X_e", color="label", groups=pd.Index([first]), show=False)
    sag.pl.embedding(a, "X_e", color="plate", groups="p2", show=False)
    sag.pl.embedding(a, "X_e", color="label", groups=None, show=False)
    plt.close("all")


def test_embedding_colours_by_an_index_or_array_of_names():
    """color= takes any sequence of names, as sc.pl.embedding does: a pandas Index
    (adata.var_names[:2]) or a numpy array failed with 'The truth value of a Index is
    ambiguous'."""
    a = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=3, seed=0)
    a.obsm["X_e"] = np.random.default_rng(0).normal(size=(a.n_obs, 3)).astype(np.float32)
    sag.pl.embedding(a, "X_e", method="tsne", color="label", show=False)
    for color in (a.var_names[:2], np.array(["label", a.var_names[0]]), ("label", "label")):
        axs = sag.pl.embedding(a, "X_e", method="tsne", color=color, show=False)
        assert [ax.get_title() for ax in axs] == [str(c) for c in color]
    ax = sag.pl.embedding(a, "X_e", method="tsne", color=pd.Index(["label"]), show=False)
    assert ax.get_title() == "label"
    plt.close("all")


def test_embedding_of_a_sparse_basis_is_that_of_its_dense_values():
    """A sparse obsm basis (as embedding_scores takes) is read as its dense values: it failed
    with 'setting an array element with a sequence'."""
    from scipy import sparse

    a = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=3, seed=0)
    dense = np.random.default_rng(0).normal(size=(a.n_obs, 4)).astype(np.float32)
    dense[dense < 0] = 0
    a.obsm["X_sp"] = sparse.csr_matrix(dense)
    a.obsm["X_de"] = dense
    ax = sag.pl.embedding(a, "X_sp", method="tsne", color="label", show=False)
    assert ax.get_xlabel() == "tSNE1"
    assert sparse.issparse(a.obsm["X_sp"])  # the user's basis is kept as it is
    first = a.obsm["X_sp_tsne"]
    sag.pl.embedding(a, "X_sp", method="tsne", show=False)  # the same values: kept
    assert a.obsm["X_sp_tsne"] is first
    sag.pl.embedding(a, "X_de", method="tsne", show=False)
    params = ("sag_basis_digest", "sag_random_state")
    assert [a.uns["X_sp_tsne"]["params"][k] for k in params] == [
        a.uns["X_de_tsne"]["params"][k] for k in params
    ]
    np.testing.assert_array_equal(
        a.uns["X_sp_tsne"]["params"]["sag_row_keys"], a.uns["X_de_tsne"]["params"]["sag_row_keys"]
    )
    plt.close("all")


def test_embedding_draws_a_basis_of_two_columns_as_it_is(sag_caplog):
    """A basis that is already 2-D (X_umap, a 2-D latent) is drawn as it is, with a log line:
    no kNN graph, no UMAP of the UMAP (obsm['X_umap_umap']), nothing stored. Plotting values
    scanpy and matplotlib take pass."""
    from scipy import sparse

    a = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=3, seed=0)
    coords = np.random.default_rng(0).normal(size=(a.n_obs, 2)).astype(np.float32)
    a.obsm["X_umap"] = coords.copy()
    a.obsm["X_lat"] = coords.copy()
    obsm, uns = set(a.obsm), set(a.uns)
    ax = sag.pl.embedding(a, "X_umap", color="label", show=False)
    assert "obsm['X_umap'] has 2 columns: drawn as it is" in sag_caplog.text
    assert ax.get_xlabel() == "UMAP1"  # scanpy's label of X_umap
    np.testing.assert_allclose(
        np.vstack([c.get_offsets() for c in ax.collections]).min(0), coords.min(0), rtol=1e-6
    )
    ax = sag.pl.embedding(a, "lat", method="tsne", color="label", show=False)
    assert ax.get_xlabel() == "lat1"
    for kwargs in (
        dict(legend_loc=0),
        dict(legend_loc=(0.5, 0.5)),
        dict(legend_loc="on data"),
        dict(legend_loc="none"),
        dict(legend_loc="upper left"),
        dict(legend_loc=None),
        dict(components="2,1"),
        dict(components=["1,2", "2,1"]),
        dict(components="all"),
        dict(palette="Set1"),
        dict(palette=["red", "#00ff00", (0, 0, 1)]),
        dict(palette={"type_0": "red", "type_1": "blue", "type_2": "green"}),
        dict(use_raw=False),
        dict(cmap="viridis"),
    ):
        sag.pl.embedding(a, "X_umap", color="label", show=False, **kwargs)
    assert (set(a.obsm), set(a.obsp)) == (obsm, set())
    assert set(a.uns) - uns <= {"label_colors"}  # scanpy's palette=, as sc.pl.umap writes
    np.testing.assert_array_equal(a.obsm["X_umap"], coords)
    a.obsm["X_sp"] = sparse.csr_matrix(coords)
    with pytest.raises(ValueError, match=r"obsm\['X_sp'\] is a sparse matrix of 2 columns"):
        sag.pl.embedding(a, "X_sp", show=False)
    plt.close("all")


def test_architecture_refuses_a_malformed_dict_with_a_clear_error():
    """sag.pl.architecture checks the dict before drawing (no KeyError, 'min() arg is an
    empty sequence' or IndexError), and opens no figure for it."""
    before = plt.get_fignums()
    bad = [
        ({"kind": "foo"}, r"kind='foo' must be one of \['rrfcn', 'mlp'"),
        ({"kind": "resnet"}, r"kind='resnet' needs \['units', 'n_blocks'\]"),
        ({"kind": "mlp", "units": []}, r"units=\[\] must be a non-empty list to draw"),
        ({"kind": "rrfcn", "widths": [8, 8], "skips": [[], [5]]}, r"skips\[1\]=\[5\] must be"),
        ({"kind": "rrfcn", "widths": [8, 8, 8], "skips": [[], [], [2]]}, r"within 0\.\.0"),
        ({"kind": "densenet", "blocks": [], "growth_rate": 4}, r"blocks=\[\] must be"),
        ({"kind": "resvae", "n_latent": 4}, r"kind='resvae' needs \['widths'\]"),
        ('{"kind": "mlp"', "JSON text .* cannot be read"),
    ]
    for arch, match in bad:
        with pytest.raises(ValueError, match=match):
            sag.pl.architecture(arch, show=False)
    assert plt.get_fignums() == before
    # the sizes are not needed to draw
    ax = sag.pl.architecture({"kind": "resnet", "units": 16, "n_blocks": 0}, show=False)
    assert ax.get_title().startswith("RFCN-ResNet: 1 FC unit,")
    plt.close("all")


def test_shap_summary_widens_for_long_gene_names(annotated):
    """The swarm keeps its room next to long gene labels, as importance's bars do."""
    a = annotated.copy()
    a.var["long"] = [f"ENSG{i:011d}.12_a_very_long_gene_identifier" for i in range(a.n_vars)]
    group = str(a.obs["label"].cat.categories[0])
    short = sag.pl.shap_summary(a, group, return_fig=True).get_size_inches()[0]
    long = sag.pl.shap_summary(a, group, gene_symbols="long", return_fig=True)
    assert short == 6.0
    assert long.get_size_inches()[0] > 8.5


def test_colour_checks_let_the_defaults_through(annotated):
    """cmap=None is matplotlib's default map (as in scanpy) and a colour may be an array."""
    sag.pl.confusion_matrix(annotated, cmap=None, show=False)
    group = str(annotated.obs["label"].cat.categories[0])
    sag.pl.shap_summary(annotated, group, cmap=None, show=False)
    ax = sag.pl.importance(annotated, group=group, color=np.array([0.1, 0.2, 0.3]), show=False)
    assert np.allclose(ax.patches[0].get_facecolor()[:3], [0.1, 0.2, 0.3])


def test_class_colours_read_a_longer_list_and_never_repeat_a_users_colour():
    """Of a longer list scanpy reads the first colours; a class without one of the user's
    colours (a subset lacking it) gets a colour no other class has."""
    import anndata as ad

    from scautogenome.plotting._utils import class_colors, palette

    a = ad.AnnData(np.zeros((4, 2), dtype=np.float32))
    a.obs["label"] = pd.Categorical(["x", "y", "z", "x"])
    a.uns["label_colors"] = ["#111111", "#222222", "#333333", "#444444"]
    assert class_colors(a, "label", ["x", "y", "z"]) == ["#111111", "#222222", "#333333"]
    # the user's colours are the default palette's, reversed: the fallback must not reuse them
    default = palette(3)
    a.uns["label_colors"] = default[::-1]
    sub = a[a.obs["label"] != "x"]
    colors = class_colors(sub, "label", ["x", "y", "z"])
    assert colors[1:] == default[::-1][1:]
    assert len(set(colors)) == 3
    # scanpy's one grey for every category (past 102 of them) is no palette to take
    a.uns["label_colors"] = ["grey"] * 3
    assert class_colors(a, "label", ["x", "y", "z"]) == default


def test_shared_colours_cover_a_column_of_text():
    """A label column of plain text (scanpy makes it categorical while plotting) shares its
    colours with the predicted classes plotted beside it."""
    import anndata as ad

    from scautogenome.plotting._utils import shared_category_colors

    a = ad.AnnData(np.zeros((6, 2), dtype=np.float32))
    a.obs["truth"] = ["b", "a", "c", "a", "b", "c"]
    a.obs["pred"] = pd.Categorical(["c", "a", "Unassigned", "a", "c", "c"])
    shared_category_colors(a, ["truth", "pred"])
    truth = dict(zip(a.obs["truth"].cat.categories, a.uns["truth_colors"]))
    pred = dict(zip(a.obs["pred"].cat.categories, a.uns["pred_colors"]))
    assert pred["a"] == truth["a"]
    assert pred["c"] == truth["c"]


def test_importance_of_a_hundred_classes_fits_its_legend(tmp_path):
    """All classes stacked, a hundred of them: the legend fits in the figure as drawn (a plain
    savefig of return_fig=True cut it at the 50th class)."""
    adata = sag.datasets.synthetic(n_obs=600, n_vars=40, n_classes=100, seed=0)
    model = sag.tl.classify(adata, "label", mode="mlp", config=MINI, seed=0)
    sag.tl.explain(adata, model, n_explain=100, nsamples=4, n_background=10)
    fig = sag.pl.importance(adata, return_fig=True)
    fig.canvas.draw()
    legend = fig.axes[0].get_legend().get_window_extent()
    box = fig.bbox
    assert box.x0 - 1 <= legend.x0
    assert legend.x1 <= box.x1 + 1
    assert box.y0 - 1 <= legend.y0
    assert legend.y1 <= box.y1 + 1
    plt.close("all")


def _three_classes(confusion) -> ad.AnnData:
    a = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
    a.uns["sag"] = {"classes": np.array(["A", "B", "C"]), "confusion": np.asarray(confusion)}
    return a


def test_confusion_matrix_numbers_contrast_with_their_cells():
    """Each number is dark on a light cell and white on a dark one, by the colour of its own
    cell: a share of the largest value put white on the light cells of fractions that are all
    small (the colour scale runs to 1), and dark on viridis' dark cells."""
    cases = [
        ([[4, 3, 3], [3, 4, 3], [3, 3, 4]], {}),
        ([[996, 4, 0], [100, 900, 0], [0, 1, 9]], {"cmap": "viridis"}),
        ([[996, 4, 0], [100, 900, 0], [0, 1, 9]], {"cmap": "viridis", "normalize": False}),
        ([[50, 30, 20], [0, 100, 0], [10, 10, 80]], {"normalize": False}),
    ]
    for confusion, kwargs in cases:
        ax = sag.pl.confusion_matrix(_three_classes(confusion), show=False, **kwargs)
        im = ax.images[0]
        values = np.asarray(im.get_array())
        assert ax.texts
        for text in ax.texts:
            x, y = text.get_position()
            cell = im.cmap(im.norm(values[int(y), int(x)]))
            shown = text.get_color()
            other = "#222222" if mpl.colors.to_hex(shown) == "#ffffff" else "white"
            assert contrast(shown, cell) >= contrast(other, cell), (kwargs, text.get_text())
        plt.close("all")


def test_confusion_matrix_fractions_read_alike():
    """Every fraction has two decimals: 4 in 1000 read '.00' (as if none) and 0.996 '1.00'
    beside an exact 1 written '1'; a fraction that rounds to 0 or 1 says it is not one."""
    a = _three_classes([[996, 4, 0], [0, 10, 0], [1, 1, 8]])
    ax = sag.pl.confusion_matrix(a, show=False)
    texts = {t.get_position(): t.get_text() for t in ax.texts}
    assert texts == {
        (0, 0): ">.99",
        (1, 0): "<.01",
        (1, 1): "1.00",
        (0, 2): ".10",
        (1, 2): ".10",
        (2, 2): ".80",
    }
    ax = sag.pl.confusion_matrix(a, normalize=False, show=False)
    assert sorted(t.get_text() for t in ax.texts) == sorted(["996", "4", "10", "1", "1", "8"])


def test_embedding_checks_ax_before_any_layout():
    """ax= was checked by scanpy only after the kNN graph and the UMAP (or t-SNE) were
    computed and written into adata: an Axes beside several colours, or an array of Axes,
    is an error before any work."""
    a = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=3, seed=0)
    a.obsm["X_e"] = np.random.default_rng(0).normal(size=(a.n_obs, 3)).astype(np.float32)
    before = (set(a.obsm), set(a.uns), set(a.obsp))
    _, axs = plt.subplots(1, 2)
    with pytest.raises(ValueError, match=r"ax= draws one panel, but color= .* 2 panels"):
        sag.pl.embedding(a, "X_e", color=["label", a.var_names[0]], ax=axs[0], show=False)
    with pytest.raises(ValueError, match=r"ax= draws one panel, but .*components="):
        sag.pl.embedding(a, "X_e", color="label", components=["1,2", "2,1"], ax=axs[0])
    with pytest.raises(
        TypeError,
        match=r"\(type ndarray\) must be a matplotlib Axes.* pass one of them \(axs\[0\]\)",
    ):
        sag.pl.embedding(a, "X_e", method="tsne", color="label", ax=axs, show=False)
    assert (set(a.obsm), set(a.uns), set(a.obsp)) == before
    ax = sag.pl.embedding(a, "X_e", method="tsne", color="label", ax=axs[1], show=False)
    assert ax is axs[1]
    plt.close("all")


def _flat(adata) -> ad.AnnData:
    """A copy of ``adata`` with a 2-D basis ``X_2d``, which sag.pl.embedding draws as it is."""
    adata = adata.copy()
    adata.obsm["X_2d"] = np.random.default_rng(0).normal(size=(adata.n_obs, 2))
    return adata


def _every_plot(annotated, regressed) -> list[tuple]:
    """Each public plot with data it draws and its arguments beside scanpy's four."""
    cls = str(annotated.uns["sag_shap"]["classes"][0])
    return [
        (sag.pl.confusion_matrix, annotated, {}),
        (sag.pl.importance, annotated, {"n_top": 5}),
        (sag.pl.shap_summary, annotated, {"group": cls, "n_top": 5}),
        (sag.pl.search_history, annotated, {}),
        (sag.pl.regression, regressed, {}),
        (sag.pl.architecture, annotated, {}),
        (sag.pl.embedding, _flat(annotated), {"basis": "X_2d"}),
    ]


def test_every_plot_refuses_an_ax_that_is_not_an_axes(annotated, regressed):
    """ax='left' failed deep inside matplotlib ('str' object has no attribute 'figure')."""
    before = plt.get_fignums()
    for plot, data, kw in _every_plot(annotated, regressed):
        with pytest.raises(TypeError, match=r"ax='left' \(type str\) must be a matplotlib Axes"):
            plot(data, ax="left", show=False, **kw)
    assert plt.get_fignums() == before


def test_show_and_return_fig_take_no_text(annotated, regressed):
    """show='no' showed the figure and return_fig='no' returned it: both are switches."""
    before = plt.get_fignums()
    for plot, data, kw in _every_plot(annotated, regressed):
        with pytest.raises(TypeError, match="show='no' must be True or False"):
            plot(data, show="no", **kw)
        with pytest.raises(TypeError, match="return_fig='no' must be True or False"):
            plot(data, return_fig="no", show=False, **kw)
        # numpy's booleans are booleans; None is scanpy's default of show (and return_fig)
        assert plot(data, show=np.False_, return_fig=None, **kw) is not None
    plt.close("all")
    assert plt.get_fignums() == before


def test_save_writes_a_path_as_given_in_any_format_matplotlib_writes(
    annotated, tmp_path, monkeypatch, sag_caplog
):
    """save= a Path, or a string with a folder in it, is the file itself (it was appended to
    the file name in figdir, and a Path was not saved); an extension matplotlib writes (jpg,
    tiff...) sets the format of a suffix too (it was '_cm.jpg.pdf'); one it cannot write is an
    error before any drawing."""
    import scanpy as sc

    monkeypatch.chdir(tmp_path)
    figdir, fmt, suffix = sc.settings.figdir, sc.settings.file_format_figs, sc.settings.plot_suffix
    sc.settings.figdir, sc.settings.file_format_figs = tmp_path / "figures", "png"
    sc.settings.plot_suffix = "_v2"
    jpeg, png, tiff = b"\xff\xd8", b"\x89PNG", (b"II*\x00", b"MM\x00*")
    try:
        sag.pl.confusion_matrix(annotated, save="results/cm.png", show=False)
        assert (tmp_path / "results" / "cm.png").read_bytes()[:4] == png
        assert "created the folder" in sag_caplog.text
        sag.pl.confusion_matrix(annotated, save=tmp_path / "cm.jpg", show=False)
        assert (tmp_path / "cm.jpg").read_bytes()[:2] == jpeg
        sag.pl.search_history(annotated, save=tmp_path / "history", show=False)
        assert (tmp_path / "history.png").read_bytes()[:4] == png  # file_format_figs
        # the last dot a version's: the default format added, as for a suffix ("_v1.2")
        sag.pl.search_history(annotated, save="results/run_v1.2", show=False)
        assert (tmp_path / "results" / "run_v1.2.png").read_bytes()[:4] == png
        sag.pl.confusion_matrix(annotated, save="_cm.jpg", show=False)
        sag.pl.confusion_matrix(annotated, save="_cm.TIFF", show=False)
        sag.pl.confusion_matrix(annotated, save="_v1.2", show=False)  # no format: a name
        sag.pl.embedding(_flat(annotated), "X_2d", save=tmp_path / "umap.jpeg", show=False)
        assert (tmp_path / "umap.jpeg").read_bytes()[:2] == jpeg
        before = plt.get_fignums()
        for bad in (tmp_path / "cm.bmp", "results/cm.docx"):
            with pytest.raises(ValueError, match=r"save=.*'\.(bmp|docx)' .*matplotlib .*'jpg'"):
                sag.pl.confusion_matrix(annotated, save=bad, show=False)
        with pytest.raises(TypeError, match=r"save=3 must be True, False, a suffix"):
            sag.pl.confusion_matrix(annotated, save=3, show=False)
        # a folder (a trailing slash, which Path drops) is no file name
        for folder in ("results/", str(tmp_path / "new") + "/"):
            with pytest.raises(ValueError, match=r"is a folder; name the file in it"):
                sag.pl.confusion_matrix(annotated, save=folder, show=False)
        assert not (tmp_path / "results.png").exists()
        with pytest.raises(ValueError, match=r"save=.*'\.bmp'"):
            sag.pl.embedding(_flat(annotated), "X_2d", save="out/umap.bmp", show=False)
        assert plt.get_fignums() == before
    finally:
        sc.settings.figdir, sc.settings.file_format_figs = figdir, fmt
        sc.settings.plot_suffix = suffix
    written = {p.name: p.read_bytes()[:4] for p in (tmp_path / "figures").iterdir()}
    assert sorted(written) == [
        "sag_confusion_matrix_cm_v2.TIFF",
        "sag_confusion_matrix_cm_v2.jpg",
        "sag_confusion_matrix_v1.2_v2.png",
    ]
    assert written["sag_confusion_matrix_cm_v2.jpg"][:2] == jpeg
    assert written["sag_confusion_matrix_cm_v2.TIFF"] in tiff
    assert not (tmp_path / "cm.bmp").exists()
    assert not (tmp_path / "out").exists()


def test_plot_text_follows_the_font_size(annotated):
    """sc.set_figure_params(fontsize=) sets matplotlib's font.size: the confusion matrix's
    labels and numbers and the architecture's title follow it (they were fixed sizes), the
    same as before at matplotlib's default of 10."""
    for size in (10, 20):
        with mpl.rc_context({"font.size": size}):
            ax = sag.pl.confusion_matrix(annotated, show=False)
            assert ax.get_yticklabels()[0].get_fontsize() == pytest.approx(0.9 * size)
            assert ax.texts[0].get_fontsize() == pytest.approx(0.8 * size)
            ax = sag.pl.architecture(annotated, show=False)
            assert ax.title.get_fontsize() == pytest.approx(size)
        plt.close("all")


def test_search_history_gives_each_mode_its_own_colour():
    """A mode's colour is the same in every search, whichever other modes it has (densenet
    was the second colour without resnet and the third with it)."""
    from matplotlib.colors import to_hex

    def colours(modes) -> dict:
        trials = pd.DataFrame(
            {
                "number": np.arange(len(modes)),
                "state": "complete",
                "value": 0.5 + 0.01 * np.arange(len(modes)),
                "mode": modes,
            }
        )
        a = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
        a.uns["sag"] = {"trials": trials, "params": {"metric": "accuracy"}}
        ax = sag.pl.search_history(a, show=False)
        handles, labels = ax.get_legend_handles_labels()
        return {
            lab: to_hex(h.get_facecolor()[0]) for h, lab in zip(handles, labels) if lab in modes
        }

    some = colours(["mlp", "densenet"])
    every = colours(["rrfcn", "densenet", "resnet", "mlp"])
    assert some == {m: every[m] for m in some}
    assert len(set(every.values())) == 4
    plt.close("all")


def test_titles_and_labels_say_one_in_the_singular(annotated):
    """'1 trials', '1 FC units', '1 skip connections', 'its 1 explained cells'."""
    ax = sag.pl.architecture({"kind": "resnet", "units": 16, "n_blocks": 0}, show=False)
    assert ax.get_title() == "RFCN-ResNet: 1 FC unit, 0 skip connections"
    arch = {"kind": "rrfcn", "widths": [8, 8, 8], "skips": [[], [], [0]]}
    assert sag.pl.architecture(arch, show=False).get_title() == (
        "RRFCN: 3 FC units, 1 skip connection"
    )
    arch = {"kind": "vae", "widths": [8], "n_latent": 1}
    assert "1 latent dimension," in sag.pl.architecture(arch, show=False).get_title()
    trials = pd.DataFrame({"number": [0], "state": ["complete"], "value": [0.5], "mode": ["mlp"]})
    one = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
    one.uns["sag"] = {"trials": trials, "params": {"metric": "accuracy"}}
    assert sag.pl.search_history(one, show=False).get_title() == "search: 1 trial, 1 complete"
    trials = pd.DataFrame(
        {"number": [0, 1], "state": ["sampled", "complete"], "value": [0.4, 0.5], "mode": "rrfcn"}
    )
    one.uns["sag"] = {"trials": trials, "params": {"metric": "accuracy"}}
    assert sag.pl.search_history(one, show=False).get_title() == (
        "search: 1 trial, 1 complete (1 ENAS row scored on shared weights not drawn)"
    )
    a = annotated.copy()
    n_cells = np.asarray(a.uns["sag_shap"]["n_cells"]).copy()
    n_cells[0] = 1
    a.uns["sag_shap"]["n_cells"] = n_cells
    cls = str(a.uns["sag_shap"]["classes"][0])
    ax = sag.pl.importance(a, group=cls, n_top=1, show=False)
    assert " ".join(ax.get_xlabel().split()).endswith("over its 1 explained cell")
    assert ax.get_title() == f"{cls}: top 1 gene"
    plt.close("all")


def test_doc_params_names_a_docstring_without_its_placeholder():
    from scautogenome._utils import doc_params

    def plot():
        """A plot.

        Parameters
        ----------
        {plot_params}
        """

    # the placeholder's indentation: Python 3.13 strips docstrings' common indentation
    (line,) = [x for x in (plot.__doc__ or "").splitlines() if "{plot_params}" in x] or [""]
    indent = line[: len(line) - len(line.lstrip())]
    doc = doc_params(plot_params="As in scanpy.\nAnd more.")(plot).__doc__
    if doc is not None:  # None under python -OO
        assert f"{indent}As in scanpy.\n{indent}And more." in doc
        assert "{plot_params}" not in doc

    def bare():
        """A plot without the line."""

    with pytest.raises(ValueError, match=r"docstring of .*bare has 0 lines '\{plot_params\}'"):
        doc_params(plot_params="text")(bare)


def test_plots_name_a_key_or_switch_of_another_type(annotated):
    """key=3 said "adata.uns[3] not found; run sag.tl.classify ... first"; a text given as
    show_candidates was taken, where the other switches say "must be True or False"."""
    for plot in (
        sag.pl.confusion_matrix,
        sag.pl.search_history,
        sag.pl.regression,
        sag.pl.importance,
        sag.pl.shap_summary,
        sag.pl.architecture,
    ):
        with pytest.raises(TypeError, match=r"^key=3 must be a str naming a key of adata\.uns"):
            plot(annotated, key=3, show=False)
    with pytest.raises(TypeError, match=r"^show_candidates='x' must be True or False\.$"):
        sag.pl.architecture(annotated, show_candidates="x", show=False)
    assert plt.get_fignums() == []


def test_embedding_says_run_embed_only_for_the_basis_embed_writes():
    """A basis sag does not write (scanpy's umap) is listed among the obsm keys there, not
    met with "run sag.tl.embed(adata) first"."""
    adata = ad.AnnData(np.zeros((5, 3), dtype=np.float32))
    adata.obsm["X_pca"] = np.zeros((5, 2), dtype=np.float32)
    for basis in ("umap", "X_umap"):
        with pytest.raises(KeyError) as e:
            sag.pl.embedding(adata, basis, show=False)
        assert "sag.tl.embed" not in str(e.value)
        assert f"basis={basis!r} not found in adata.obsm; available: ['X_pca']." in str(e.value)
    for basis in ("X_sag_resvae", "sag_resvae"):
        with pytest.raises(KeyError, match=r"not found in adata\.obsm; run sag\.tl\.embed"):
            sag.pl.embedding(adata, basis, show=False)


def test_labels_with_dollar_signs_are_drawn_as_plain_text(tmp_path):
    """Class, gene and column names come from the data: matplotlib read '$...$' in them as
    maths, so a class named '$\\bad$' failed the figure ('Unknown symbol') and '$x$' was drawn
    as an italic x. A title the user passes keeps matplotlib's maths."""
    a = sag.datasets.synthetic(n_obs=120, n_vars=40, n_classes=3, seed=0)
    names = ["$\\bad$", "$x$", "c"]
    a.obs["label"] = a.obs["label"].cat.rename_categories(names)
    a.var_names = ["$g_0$", *a.var_names[1:]]
    quick = {**MINI, "budget": {"n_trials": 1, "time_budget": None}}
    model = sag.tl.classify(a, "label", mode="mlp", config=quick, seed=0)
    sag.tl.explain(a, model, n_explain=20, nsamples=10, n_background=10)
    a.obsm["X_e"] = np.random.default_rng(0).normal(size=(a.n_obs, 3)).astype(np.float32)
    drawn = {
        "confusion_matrix": sag.pl.confusion_matrix(a, show=False),
        "importance": sag.pl.importance(a, show=False),
        "shap_summary": sag.pl.shap_summary(a, group="$x$", show=False),
        "embedding": sag.pl.embedding(a, "X_e", method="tsne", color="label", show=False),
    }
    for name, ax in drawn.items():
        ax.figure.savefig(tmp_path / f"{name}.png", dpi=40)  # '$\bad$' failed here
        texts = [t for t in ax.findobj(mpl.text.Text) if "$" in t.get_text()]
        assert texts, name
        assert not any(t.get_parse_math() for t in texts), name
    ax = sag.pl.confusion_matrix(a, title="$R^2$", show=False)
    assert ax.title.get_parse_math()
    fig = sag.pl.architecture(a, title="$\\alpha$", return_fig=True, show=False)
    assert fig.axes[0].title.get_parse_math()
    # numbers a tick formatter writes are matplotlib's maths ($\mathdefault{10^{-2}}$): a
    # log scale set afterwards, and the offset of large numbers, keep them
    ax = sag.pl.importance(a, show=False)
    ax.set_xscale("log")
    ax.figure.canvas.draw()
    assert all(t.get_parse_math() for t in ax.get_xticklabels())
    assert ax.xaxis.offsetText.get_parse_math()
    # title=None is scanpy's default title (the column's name), drawn as it reads
    a.obs["$\\bad$ col"] = a.obs["label"]
    fig = sag.pl.embedding(
        a, "X_e", method="tsne", color="$\\bad$ col", title=None, return_fig=True, show=False
    )
    fig.savefig(tmp_path / "title_none.png", dpi=40)


def _outside(fig: Figure) -> list[str]:
    """The Axes of ``fig`` (by their title, or their y label) whose texts as drawn (title,
    axis labels, tick labels, legend) run past the figure's edges, as ``plt.show()`` or a
    plain ``savefig`` shows it (``save=`` hides them with a tight bounding box)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box, out = fig.bbox, []
    for ax in fig.axes:
        b = ax.get_tightbbox(renderer)
        if b.x0 < box.x0 - 1 or b.x1 > box.x1 + 1 or b.y0 < box.y0 - 1 or b.y1 > box.y1 + 1:
            out.append(ax.get_title() or ax.get_ylabel())
    return out


LONG_CLASSES = [
    "CD8+/CD45RA+ Naive Cytotoxic",
    "CD4+/CD45RA+/CD25- Naive T",
    "CD4+/CD45RO+ Memory",
    "CD56+ NK",
]


# capitalised and wide letters: a guess of a letter's width (0.08 in at 10 points) fell short
WIDE_CLASSES = [
    "A" * 60 + " with words here",
    "B" * 60,
    "C short",
    "WWMM " * 8,
]


def _long_class_names(annotated, classes=LONG_CLASSES) -> ad.AnnData:
    """A copy of ``annotated`` whose explained classes have pbmc68k's long names (or
    ``classes``)."""
    a = annotated.copy()
    u = a.uns["sag_shap"]
    names = list(classes[: len(u["classes"])])
    u["classes"] = np.array(names)
    u["columns"] = np.array([*names, "overall"])
    return a


@pytest.mark.parametrize(
    "names",
    [
        [
            f"class {i} lorem ipsum dolor sit amet consectetur adipiscing elit"[:60]
            for i in range(10)
        ],
        # capitalised names: a guess of 0.08 in a letter fell short; the title ran past the
        # right edge and the matrix shrank to 1.3 in
        WIDE_CLASSES[:3],
    ],
    ids=["lower", "capitals"],
)
def test_confusion_matrix_grows_with_long_class_names(names):
    """Ten classes of 60-letter names: the matrix kept 1.4 x 1.4 in (numbers on top of each
    other), the colour bar ran into the title and the title past the figure's right edge."""
    n = len(names)
    rng = np.random.default_rng(0)
    a = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
    a.uns["sag"] = {
        "classes": np.array(names),
        "confusion": np.diag(rng.integers(5, 50, n)) + rng.poisson(0.5, (n, n)),
        "metrics": {"test": {"accuracy": 0.786, "macro_f1": 0.612}},
    }
    fig = sag.pl.confusion_matrix(a, return_fig=True)
    assert _outside(fig) == []
    ax, cbar = fig.axes
    renderer = fig.canvas.get_renderer()
    matrix = ax.get_window_extent(renderer)
    # a quarter inch a cell, 2.4 in at least
    assert min(matrix.width, matrix.height) / fig.dpi >= max(0.25 * n, 2.0)
    assert not ax.title.get_window_extent(renderer).overlaps(cbar.get_tightbbox(renderer))
    # short names keep the figure small
    short = _three_classes([[4, 3, 3], [3, 4, 3], [3, 3, 4]])
    assert max(sag.pl.confusion_matrix(short, return_fig=True).get_size_inches()) <= 6


@pytest.mark.parametrize("classes", [LONG_CLASSES, WIDE_CLASSES], ids=["pbmc68k", "capitals"])
def test_explain_plots_keep_their_texts_in_the_figure(annotated, classes):
    """pbmc68k's class names: the title and the x label of importance (fixed 5 in wide) and
    shap_summary ran past the figure's edges where it was shown or returned; capitalised
    names (a letter's width guessed) cut importance's title ("...: top 20 g")."""
    a = _long_class_names(annotated, classes)
    name = classes[0]
    for plot, kwargs in (
        (sag.pl.importance, {"group": name}),
        (sag.pl.importance, {"group": "overall"}),
        (sag.pl.importance, {}),
        (sag.pl.shap_summary, {"group": name, "n_top": 10}),
        (sag.pl.shap_summary, {}),
    ):
        fig = plot(a, return_fig=True, **kwargs)
        assert _outside(fig) == [], (plot.__name__, kwargs)
        if plot is sag.pl.importance and not kwargs:
            # the legend of long names beside the stacked bars does not squeeze them (a
            # guessed legend width left them 2.6 in of a 9.9 in figure)
            bars = fig.axes[0].get_window_extent(fig.canvas.get_renderer())
            assert bars.width / fig.dpi >= 3.5
        plt.close(fig)


@pytest.mark.parametrize("text", ["W" * 30, "A" * 60 + " with words here", "x\nMMMMMM"])
@pytest.mark.parametrize("size", [6, "large"])
def test_label_width_is_the_drawn_width(text, size):
    """label_width guessed 0.08 in a letter at 10 points: capitalised and wide names were
    wider (a title ran past the figure's edge), narrow ones narrower. It is the width the
    text takes drawn, its longest line's."""
    from scautogenome.plotting._utils import label_width, wrap_label

    fig = plt.figure()  # rcParams' dots an inch, as a plot's new figure
    drawn = fig.text(0, 0, text, fontsize=size)
    fig.canvas.draw()
    inches = drawn.get_window_extent(fig.canvas.get_renderer()).width / fig.dpi
    assert inches <= label_width([text], size) <= 1.15 * inches + 0.02
    # a label wrapped to some inches fits them (where its words do)
    label = "mean |SHAP value| of " + " ".join(["WORDS"] * 12)
    wrapped = wrap_label(label, 3.0, size)
    assert label_width([wrapped], size) <= 3.0 or max(map(len, wrapped.splitlines())) <= 40


def _overlapping(labels) -> int:
    """Pairs of neighbouring tick labels (drawn) that overlap."""
    from itertools import pairwise

    fig = labels[0].figure
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in labels if t.get_visible() and t.get_text()]
    return sum(b1.x1 > b2.x0 for b1, b2 in pairwise(boxes))


def test_importance_ticks_of_tiny_values_stay_legible(annotated):
    """A regression on percent_mito has SHAP values of 1e-4: '0.000000' ... '0.000225'
    overlapped on the narrow figure."""
    a = annotated.copy()
    a.varm["sag_shap"] = a.varm["sag_shap"] * (2.3e-4 / np.nanmax(a.varm["sag_shap"]))
    cls = str(a.uns["sag_shap"]["classes"][0])
    for kwargs in ({"group": cls}, {"group": "overall"}, {}):
        ax = sag.pl.importance(a, show=False, **kwargs)
        ax.figure.canvas.draw()
        labels = [t for t in ax.get_xticklabels() if t.get_text()]
        assert len(labels) >= 2, kwargs
        assert _overlapping(labels) == 0, (kwargs, [t.get_text() for t in labels])
        # the power of ten written beside the axis, below the x label
        renderer = ax.figure.canvas.get_renderer()
        power = ax.xaxis.offsetText
        assert power.get_text(), kwargs
        label = ax.xaxis.label.get_window_extent(renderer)
        assert not power.get_window_extent(renderer).overlaps(label), kwargs
        plt.close("all")


@pytest.mark.parametrize(
    ("top", "power"), [(0.0009, True), (0.009, True), (0.02, False), (2e4, True)]
)
def test_legible_ticks_does_what_its_docstring_says(top, power):
    """The docstring said a power of ten below 0.001; the code writes one below 0.01 (and from
    10,000), and moves the axis label below it."""
    from scautogenome.plotting._utils import legible_ticks

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.set_xlim(0, top)
    pad = ax.xaxis.labelpad
    legible_ticks(ax.xaxis, ax.get_xlim())
    fig.canvas.draw()
    assert bool(ax.xaxis.get_offset_text().get_text()) is power
    assert (ax.xaxis.labelpad > pad) is power
    doc = " ".join(legible_ticks.__doc__.split())
    assert "below 0.01 (or from 10,000)" in doc
    assert "0.001" not in doc


def test_plots_of_a_wrong_key_name_the_keys_holding_records(annotated):
    """A wrong key= said 'not found; run sag.tl.explain' although adata holds records of that
    kind under other keys: the error names them."""
    a = annotated.copy()
    a.uns["shap_louv"] = a.uns["sag_shap"]
    a.varm["shap_louv"] = a.varm["sag_shap"]
    a.uns["sag_louv"] = a.uns["sag"]
    for plot in (sag.pl.importance, sag.pl.shap_summary):
        with pytest.raises(KeyError, match=r"'sag_shap', 'shap_louv'.*pass key="):
            plot(a, key="shap_louvain", show=False)
    for plot in (sag.pl.confusion_matrix, sag.pl.search_history, sag.pl.architecture):
        with pytest.raises(KeyError, match=r"'sag', 'sag_louv'.*pass key="):
            plot(a, key="sag_louvain", show=False)
    # a classify record where an explain record is read: the explain records are named
    with pytest.raises(KeyError, match=r"without SHAP.*'sag_shap', 'shap_louv'"):
        sag.pl.importance(a, key="sag", show=False)


def test_unknown_group_names_the_overall_column_among_many_classes(annotated):
    """Eleven classes: the error listed ten and '(12 in all)', never the overall column."""
    a = annotated.copy()
    a.uns["sag_shap"]["columns"] = np.array([*(f"type {i}" for i in range(11)), "overall"])
    with pytest.raises(KeyError, match=r"'overall'") as e:
        sag.pl.importance(a, "overal", show=False)
    assert "'type 0'" in str(e.value)
    # fifty classes: '... (51 in all); and 'overall'' counted the overall column, then named
    # it again; the total says what it counts
    a.uns["sag_shap"]["columns"] = np.array([*(f"type {i}" for i in range(50)), "overall"])
    with pytest.raises(KeyError) as e:
        sag.pl.importance(a, "overal", show=False)
    text = str(e.value)
    assert "'type 9', ... (51 in all): the 50 classes and 'overall' (the mean over the" in text
    assert text.count("'overall'") == 1
    assert "'type 10'" not in text


def test_search_history_failed_and_pruned_trials_are_no_modes_colour():
    """Failed trials were drawn in '#d62728', rrfcn's colour; the marks of pruned and failed
    trials are below the dots of low scores."""
    from matplotlib.colors import to_hex

    from scautogenome.plotting._classify import _MODE_ORDER
    from scautogenome.plotting._utils import palette

    trials = pd.DataFrame(
        {
            "number": np.arange(6),
            "state": ["complete", "fail", "complete", "pruned", "complete", "fail"],
            "value": [0.5, np.nan, 0.7, np.nan, 0.6, np.nan],
            "mode": ["rrfcn", "mlp", "mlp", "resnet", "densenet", "rrfcn"],
        }
    )
    a = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
    a.uns["sag"] = {"trials": trials, "params": {"metric": "accuracy"}}
    ax = sag.pl.search_history(a, show=False)
    handles, labels = ax.get_legend_handles_labels()
    marks = dict(zip(labels, handles))
    modes = {to_hex(c) for c in palette(len(_MODE_ORDER) + 2)}
    dots = [marks[m] for m in ("rrfcn", "mlp", "densenet")]
    for state in ("fail (2)", "pruned (1)"):
        drawn = {to_hex(c) for c in marks[state].get_edgecolor()} | {
            to_hex(c) for c in marks[state].get_facecolor()
        }
        assert not drawn & modes, state
        assert all(marks[state].get_zorder() < d.get_zorder() for d in dots), state


def test_importance_of_the_overall_column_is_grey(annotated):
    """The overall bars took '#1f77b4', the first class's colour."""
    from matplotlib.colors import to_rgb

    ax = sag.pl.importance(annotated, "overall", show=False)
    r, g, b = to_rgb(ax.patches[0].get_facecolor())
    assert r == g == b


def test_embedding_of_a_view_with_colours_of_two_columns_stays_a_view():
    """A view coloured by two categorical columns that have their colours is drawn without
    writing into it (the docstring said a view is plotted as it is; one lacking colours gets
    them stored, as scanpy's plots store them, and becomes an actual AnnData)."""
    a = sag.datasets.synthetic(n_obs=120, n_vars=20, n_classes=3, seed=0)
    a.obsm["X_2d"] = np.random.default_rng(0).normal(size=(a.n_obs, 2))
    a.obs["other"] = a.obs["label"].cat.rename_categories(lambda c: f"{c}!")
    sag.pl.embedding(a, "X_2d", color=["label", "other"], show=False)
    assert {"label_colors", "other_colors"} <= set(a.uns)
    view = a[a.obs["label"] != a.obs["label"].cat.categories[0]]
    sag.pl.embedding(view, "X_2d", color=["label", "other"], show=False)
    assert view.is_view
    doc = " ".join(sag.pl.embedding.__doc__.split())
    assert "turns it into an actual AnnData" in doc


def test_wrap_label_measures_a_long_label_a_few_times(monkeypatch):
    """wrap_label measured the whole text once for every width from its length down to 40
    letters (seconds for a label of a few hundred letters): a bisection measures it a few
    times, and finds the widest wrapping that fits."""
    from scautogenome.plotting import _utils

    calls = []
    real = _utils.label_width

    def counted(names, size=None):
        calls.append(1)
        return real(names, size)

    monkeypatch.setattr(_utils, "label_width", counted)
    text = " ".join(["expression"] * 40)  # 439 letters
    wrapped = _utils.wrap_label(text, 3.0)
    assert len(calls) <= 12
    assert all(real([line]) <= 3.0 for line in wrapped.splitlines())
    wider = textwrap_fill(text, max(map(len, wrapped.splitlines())) + 11)
    assert real([wider]) > 3.0  # the next wider wrapping would not fit


def textwrap_fill(text, width):
    import textwrap

    return textwrap.fill(text, width, break_long_words=False, break_on_hyphens=False)


def test_category_colors_are_those_scanpy_draws_the_labels_in():
    """category_colors gives names the colours scanpy's plot of the label column gives them:
    its stored colours where they are colours (of a categorical, a text or a boolean
    column), else scanpy's palette of its categories; None where there is nothing to match
    (numbers, past scanpy's 102 distinct colours)."""
    from scautogenome.plotting._utils import category_colors, palette

    n = 6
    a = ad.AnnData(np.zeros((n, 1), dtype=np.float32))
    a.obs["cat"] = pd.Categorical(["x", "y", "z", "x", "y", "z"])
    a.obs["text"] = ["x", "y", "z", "x", "y", "z"]
    a.obs["flag"] = [True, False, True, False, True, False]
    a.obs["number"] = np.arange(n, dtype=float)
    assert category_colors(a, "cat", ["z", "x"]) == [palette(3)[2], palette(3)[0]]
    assert category_colors(a, "flag", ["True"]) == [palette(2)[1]]  # as 'False', 'True'
    assert category_colors(a, "number", ["1.0"]) is None
    own = ["#aa0000", "#00aa00", "#0000aa"]
    for column in ("cat", "text"):
        a.uns[f"{column}_colors"] = own
        assert category_colors(a, column, ["z", "x"]) == ["#0000aa", "#aa0000"]
    a.uns["flag_colors"] = ["#010101", "#020202"]
    assert category_colors(a, "flag", ["True"]) == ["#020202"]
    # colours that are not colours (one string, a number, a palette's name) are not taken
    for bad in ("#ff0000ab", 5, "tab20", ["red", "not a colour", "blue"]):
        a.uns["cat_colors"] = bad
        assert category_colors(a, "cat", ["z", "x"]) == [palette(3)[2], palette(3)[0]]
    many = ad.AnnData(np.zeros((103, 1), dtype=np.float32))
    many.obs["c"] = pd.Categorical([f"c{i:03d}" for i in range(103)])
    assert category_colors(many, "c", ["c000", "c102"]) is None


def test_architecture_refuses_more_units_than_it_can_draw():
    """An architecture of a received h5ad (or a hand-made dict) of a hundred thousand units
    took minutes and gigabytes to draw: refused at once, naming the count."""
    before = plt.get_fignums()
    for arch in (
        {"kind": "resnet", "units": 8, "n_blocks": 100_000_000},
        {"kind": "mlp", "units": [8] * 100_000},
        {"kind": "densenet", "blocks": [64] * 64, "growth_rate": 4},
    ):
        with pytest.raises(ValueError, match=r"draws at most 300 units; this architecture has"):
            sag.pl.architecture(arch, show=False)
    assert plt.get_fignums() == before
    ax = sag.pl.architecture({"kind": "resnet", "units": 8, "n_blocks": 299}, show=False)
    assert ax.get_title().startswith("RFCN-ResNet: 300 FC units")
    plt.close("all")


def test_a_confusion_matrix_of_more_rows_than_columns_is_sized_to_its_shape():
    """Query labels of 60 types against a model's 3 classes: 60 rows, 3 columns. The figure
    was made square for the larger count, a wide blank beside a narrow matrix."""
    import anndata as ad

    rng = np.random.default_rng(0)
    a = ad.AnnData(np.zeros((600, 2), dtype=np.float32))
    a.uns["q"] = {"classes": ["A", "B", "C"]}
    a.obs["label"] = pd.Categorical([f"type_{i % 60:02d}" for i in range(600)])
    a.obs["q_pred"] = pd.Categorical(rng.choice(["A", "B", "C"], 600))
    fig = sag.pl.confusion_matrix(a, key="q", labels_key="label", show=False, return_fig=True)
    width, height = fig.get_size_inches()
    assert height > 2.5 * width, (width, height)
    plt.close("all")


def test_more_categories_than_scanpys_palettes_are_warned_of(sag_caplog):
    """Past 102 categories the colours repeat (scanpy draws them all grey): said once, not
    silently (type_0 and type_102 looked the same)."""
    from scautogenome.plotting._utils import palette

    sag.settings.verbosity = 2
    colors = palette(150)
    assert len(set(colors)) == 102
    assert sag_caplog.text.count("150 categories: colours repeat past 102") == 1
    sag_caplog.clear()
    palette(102)
    assert "colours repeat" not in sag_caplog.text


def test_importance_of_a_class_without_explained_cells_stacks_the_others(annotated):
    """explain writes NaN for a class none of whose cells it explained: the stacked bars are
    the other classes' (each gene's bar ends at its importance summed over them, ranked by
    it), and that class alone has no bars to show."""
    adata = annotated.copy()
    u = adata.uns["sag_shap"]
    classes = [str(c) for c in u["classes"]]
    k = len(classes)
    table = np.asarray(adata.varm["sag_shap"], dtype=float).copy()
    table[:, 0] = np.nan
    adata.varm["sag_shap"] = table
    n_cells = np.asarray(u["n_cells"]).copy()
    n_cells[0] = 0
    u["n_cells"] = n_cells
    n = 6
    ax = sag.pl.importance(adata, n_top=n, show=False)
    total = np.nansum(table[:, :k], axis=1)
    want = list(adata.var_names[np.argsort(-total, kind="stable")[:n]])
    assert _labels(ax.get_yticklabels()) == want
    ends = np.array(
        [[p.get_x() + p.get_width() for p in ax.patches[c * n : (c + 1) * n]] for c in range(k)]
    )
    np.testing.assert_allclose(ends[-1], np.sort(total)[::-1][:n], rtol=1e-5)
    assert np.all(np.diff(ends, axis=0) >= -1e-12)  # each class's segment after the last
    with pytest.raises(ValueError, match=r"No importance for group='type_0'"):
        sag.pl.importance(adata, classes[0], show=False)


def test_explain_plots_draw_the_most_important_gene_on_top(annotated):
    """The first gene (largest importance) is the top row of the bars and of the swarm."""
    cls = str(annotated.uns["sag_shap"]["classes"][0])
    for plot in (sag.pl.importance, sag.pl.shap_summary):
        ax = plot(annotated, cls, n_top=5, show=False)
        ticks = ax.get_yticklabels()
        top = ax.transData.transform((0, ticks[0].get_position()[1]))[1]
        bottom = ax.transData.transform((0, ticks[-1].get_position()[1]))[1]
        assert top > bottom  # display y grows upwards
        plt.close("all")


def test_shap_summary_colours_each_dot_by_its_cells_expression_of_the_gene(annotated):
    """Each dot is a cell at its SHAP value of the row's gene, coloured by that cell's
    expression of the gene (scaled from its 5th to 95th percentile over the cells) and
    spread vertically within its row; also where genes were taken out of the AnnData."""
    u = annotated.uns["sag_shap"]
    cls = str(u["classes"][1])
    top = [str(g) for g in u["top_genes"][1]]
    gray = plt.get_cmap("gray")
    sub = annotated[:, ~annotated.var_names.isin(top[:2])].copy()
    for adata, first in ((annotated, 0), (sub, 2)):
        ax = sag.pl.shap_summary(adata, cls, n_top=4, cmap="gray", show=False)
        assert _labels(ax.get_yticklabels()) == top[first : first + 4]
        for row, dots in enumerate(ax.collections[:4]):
            x = np.asarray(u["values"][1], dtype=float)[:, first + row]
            e = np.asarray(u["expression"][1], dtype=float)[:, first + row]
            lo, hi = np.nanpercentile(e, [5, 95])
            assert hi > lo
            want = gray(np.clip((e - lo) / (hi - lo), 0, 1))[:, 0]
            xy = dots.get_offsets()
            got = dots.get_facecolor()[:, 0]
            assert len(got) == len(x)
            w, g = np.lexsort((want, x)), np.lexsort((got, xy[:, 0]))
            np.testing.assert_allclose(xy[g, 0], x[w], rtol=1e-6)
            np.testing.assert_allclose(got[g], want[w], atol=1e-6)
            assert np.all(np.abs(xy[:, 1] - row) <= 0.5)
            assert np.ptp(xy[:, 1]) > 0.1  # a swarm, not a line
        plt.close("all")


def test_search_history_reads_trials_in_any_order_and_stars_the_recorded_best():
    """Trials stored out of order are drawn by number (the best-so-far line over them in that
    order), the line begins at the first trial that scored (no infinite values before it), and
    the star is the trial the search recorded as kept, even where another scored higher."""
    import anndata as ad

    trials = pd.DataFrame(
        {
            "number": [3, 0, 4, 1, 2],
            "state": ["complete", "pruned", "complete", "complete", "complete"],
            "value": [0.7, np.nan, 0.6, 0.5, 0.9],
            "mode": ["mlp"] * 5,
        }
    )
    adata = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
    adata.uns["sag"] = {"trials": trials, "best": {"trial": 3}, "params": {"metric": "f1"}}
    ax = sag.pl.search_history(adata, show=False)
    line = ax.lines[0]
    np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3, 4])
    np.testing.assert_allclose(line.get_ydata(), [0.5, 0.9, 0.9, 0.9])
    star = next(c for c in ax.collections if c.get_sizes().tolist() == [170.0])
    np.testing.assert_allclose(star.get_offsets()[0], [3, 0.7])
    assert ax.get_title() == "search: 5 trials, 4 complete"


def test_confusion_matrix_numbers_up_to_twenty_classes_and_a_scale_of_fractions():
    """Numbers are written by default in a matrix of up to 20 classes (not 21); normalized, the
    colour scale runs from 0 to 1 (a fraction's colour does not depend on the largest one)."""
    for n, written in ((20, True), (21, False)):
        a = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
        a.uns["sag"] = {
            "classes": np.array([f"c{i}" for i in range(n)]),
            "confusion": np.diag(np.full(n, 3)) + 1,
        }
        ax = sag.pl.confusion_matrix(a, show=False)
        assert bool(ax.texts) is written, n
        plt.close("all")
    ax = sag.pl.confusion_matrix(_three_classes([[4, 3, 3], [3, 4, 3], [3, 3, 4]]), show=False)
    assert ax.images[0].get_clim() == (0, 1)
    ax = sag.pl.confusion_matrix(
        _three_classes([[4, 3, 3], [3, 4, 3], [3, 3, 4]]), normalize=False, show=False
    )
    assert ax.images[0].get_clim() == (0, 4)
    plt.close("all")


def test_regression_axes_hold_predictions_beyond_every_observed_value(regressed):
    """Predictions below (or above) all observed values stay in the square of the plot."""
    for shift in (-30.0, 30.0):
        adata = regressed.copy()
        adata.obs["sag_pred"] = adata.obs["age"] + shift
        ax = sag.pl.regression(adata, show=False)
        dots = ax.collections[0].get_offsets()
        lo, hi = ax.get_xlim()
        assert ax.get_ylim() == (lo, hi)
        assert lo < dots.min(), (shift, lo)
        assert dots.max() < hi, (shift, hi)
        plt.close("all")


def test_search_history_among_ties_stars_a_trial_with_a_validation_loss():
    """Without a recorded best trial, equal scores go to the lower validation loss: a trial
    without one (NaN) is not lower."""
    import anndata as ad

    trials = pd.DataFrame(
        {
            "number": [0, 1, 2],
            "state": ["complete"] * 3,
            "value": [1.0, 1.0, 0.5],
            "val_loss": [np.nan, 0.4, 0.3],
            "mode": ["mlp"] * 3,
        }
    )
    adata = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
    adata.uns["sag"] = {"trials": trials}
    ax = sag.pl.search_history(adata, show=False)
    star = next(c for c in ax.collections if c.get_sizes().tolist() == [170.0])
    np.testing.assert_allclose(star.get_offsets()[0], [1, 1.0])


def test_embedding_umap_follows_its_random_state():
    """random_state seeds the UMAP: another seed gives another layout (recomputed, recorded),
    the same seed the same layout again; another n_neighbors recomputes the graph."""
    a = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=3, seed=0)
    a.obsm["X_lat"] = np.random.default_rng(0).normal(size=(a.n_obs, 4)).astype(np.float32)
    sag.pl.embedding(a, "X_lat", random_state=1, n_neighbors=10, show=False)
    one = a.obsm["X_lat_umap"].copy()
    sag.pl.embedding(a, "X_lat", n_neighbors=10, show=False)
    assert a.uns["X_lat_umap"]["params"]["sag_random_state"] == 0
    assert not np.allclose(a.obsm["X_lat_umap"], one)
    sag.pl.embedding(a, "X_lat", random_state=1, n_neighbors=10, show=False)
    np.testing.assert_allclose(a.obsm["X_lat_umap"], one, rtol=1e-5)
    assert a.uns["lat_neighbors"]["params"]["n_neighbors"] == 10
    sag.pl.embedding(a, "X_lat", random_state=1, n_neighbors=5, show=False)  # another graph
    assert a.uns["lat_neighbors"]["params"]["n_neighbors"] == 5
    assert a.uns["X_lat_umap"]["params"]["sag_n_neighbors"] == 5
    plt.close("all")


def test_confusion_matrix_keeps_a_class_name_of_forty_letters_whole():
    """Tick labels shorten names longer than 40 letters only: one of 40 is shown whole."""
    names = ["a" * 40, "b" * 41, "c"]
    a = ad.AnnData(np.zeros((2, 2), dtype=np.float32))
    a.uns["sag"] = {"classes": np.array(names), "confusion": np.diag([5, 6, 7])}
    ax = sag.pl.confusion_matrix(a, normalize=False, show=False)
    ticks = _labels(ax.get_xticklabels())
    assert ticks[0] == names[0]
    assert ticks[1] != names[1]
    assert len(ticks[1]) == 40
    assert ticks[2] == "c"


def test_explain_plots_label_a_gene_without_a_symbol_by_its_name(annotated):
    """gene_symbols=: a gene whose symbol is missing (NaN) keeps its var name, as scanpy's."""
    adata = annotated.copy()
    u = adata.uns["sag_shap"]
    cls = str(u["classes"][0])
    top = [str(g) for g in u["top_genes"][0][:3]]
    adata.var["symbol"] = [f"SYM_{g}" for g in adata.var_names]
    adata.var.loc[top[1], "symbol"] = np.nan
    want = [f"SYM_{top[0]}", top[1], f"SYM_{top[2]}"]
    for plot in (sag.pl.importance, sag.pl.shap_summary):
        ax = plot(adata, cls, n_top=3, gene_symbols="symbol", show=False)
        assert _labels(ax.get_yticklabels()) == want
        plt.close("all")


def test_plots_save_under_scanpys_autosave_unless_told_not_to(annotated, tmp_path):
    """save=None follows scanpy.settings.autosave (as scanpy's plots do): a file under the
    plot's name, closed afterwards; save=False writes none."""
    import scanpy as sc

    old = sc.settings.figdir, sc.settings.file_format_figs, sc.settings.autosave
    sc.settings.figdir, sc.settings.file_format_figs = tmp_path / "figures", "png"
    sc.settings.autosave = True
    try:
        before = plt.get_fignums()
        sag.pl.confusion_matrix(annotated, show=False)
        assert plt.get_fignums() == before
        sag.pl.search_history(annotated, save=False, show=False)
    finally:
        sc.settings.figdir, sc.settings.file_format_figs, sc.settings.autosave = old
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["sag_confusion_matrix.png"]


def test_embedding_saves_its_figure_whether_or_not_it_returns_it(tmp_path):
    """save= writes the figure with return_fig=True as without it."""
    a = sag.datasets.synthetic(n_obs=40, n_vars=10, n_classes=2, seed=0)
    a.obsm["X_two"] = np.random.default_rng(0).normal(size=(a.n_obs, 2)).astype(np.float32)
    fig = sag.pl.embedding(a, "X_two", color="label", save=tmp_path / "fig.png", return_fig=True)
    assert isinstance(fig, Figure)
    ax = sag.pl.embedding(a, "X_two", color="label", save=tmp_path / "ax.png", show=False)
    assert isinstance(ax, Axes)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ax.png", "fig.png"]
    plt.close("all")


def test_embedding_of_two_columns_gives_a_category_one_colour_in_both():
    """Two categorical columns plotted together (a query's labels, its predictions lacking a
    class) colour a category alike in both, without "Unassigned" or colours of their own."""
    a = sag.datasets.synthetic(n_obs=40, n_vars=10, n_classes=2, seed=0)
    a.obsm["X_two"] = np.random.default_rng(0).normal(size=(a.n_obs, 2)).astype(np.float32)
    a.obs["truth"] = pd.Categorical(np.resize(["A", "B", "C"], a.n_obs))
    a.obs["called"] = pd.Categorical(np.resize(["B", "C"], a.n_obs))
    sag.pl.embedding(a, "X_two", color=["truth", "called"], show=False)
    truth = dict(zip(a.obs["truth"].cat.categories, a.uns["truth_colors"]))
    called = dict(zip(a.obs["called"].cat.categories, a.uns["called_colors"]))
    assert called == {"B": truth["B"], "C": truth["C"]}
    assert len(set(truth.values())) == 3
    plt.close("all")


def test_shared_colours_of_two_users_palettes_follow_the_first_column():
    """Two columns with colours of their own that differ for a category: a third column
    plotted with them takes the first one's colour of it (in the order of color=)."""
    from scautogenome.plotting._utils import shared_category_colors

    a = ad.AnnData(np.zeros((4, 2), dtype=np.float32))
    for column in ("first", "second", "third"):
        a.obs[column] = pd.Categorical(["x", "y", "x", "y"])
    a.uns["first_colors"] = ["#111111", "#222222"]
    a.uns["second_colors"] = ["#aaaaaa", "#bbbbbb"]
    shared_category_colors(a, ["first", "second", "third"])
    assert list(a.uns["third_colors"]) == ["#111111", "#222222"]
    assert list(a.uns["second_colors"]) == ["#aaaaaa", "#bbbbbb"]  # kept


def _drawn_dag(ax) -> dict:
    """What sag.pl.architecture drew, read from its Axes: the node labels left to right (0 is
    the input, the last the output), the chain's arrows, the skip arcs and the dashed
    candidate arcs as (from node, to node), the marks over the nodes (node, "C" or "+"), and
    whether every arc lies within the Axes' height."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    boxes = sorted(
        (p for p in ax.patches if isinstance(p, FancyBboxPatch)), key=lambda b: b.get_x()
    )
    centres = np.asarray([b.get_x() + b.get_width() / 2 for b in boxes])

    def node(x: float) -> int:
        return int(np.argmin(np.abs(centres - x)))

    texts = sorted(ax.texts, key=lambda t: t.get_position()[0])
    drawn = {
        "nodes": [t.get_text() for t in texts if t.get_position()[1] == 0],
        "heights": [b.get_height() for b in boxes],
        "evenly_spaced": bool(np.allclose(np.diff(centres), centres[1] - centres[0], atol=1e-9)),
        "marks": [(node(t.get_position()[0]), t.get_text()) for t in texts if t.get_position()[1]],
        "chain": [],
        "skips": [],
        "candidates": [],
        "arcs_inside": True,
    }
    top = ax.get_ylim()[1]
    for arrow in (p for p in ax.patches if isinstance(p, FancyArrowPatch)):
        # its first curve is the line or arc itself (then the head), in data coordinates
        segments = [s for s, _ in arrow.get_path().iter_bezier() if len(s.control_points) > 1]
        start, end = segments[0].control_points[[0, -1]]
        edge = (node(start[0]), node(end[0]))
        if abs(start[1]) < 1e-9:
            drawn["chain"].append(edge)
            continue
        drawn["candidates" if arrow.get_linestyle() == "--" else "skips"].append(edge)
        points = np.concatenate([segment(np.linspace(0, 1, 21)) for segment in segments])
        drawn["arcs_inside"] &= bool(points[:, 1].max() <= top)
    for part in ("chain", "skips", "candidates", "marks"):
        drawn[part] = sorted(drawn[part])
    return drawn


def _chain(n: int) -> list[tuple[int, int]]:
    return [(i, i + 1) for i in range(n - 1)]


ARCHITECTURES_DRAWN = {
    "rrfcn": (
        {"kind": "rrfcn", "n_inputs": 50, "n_outputs": 3, "widths": [8, 16, 8, 4]}
        | {"skips": [[], [], [0], [0, 1]]},
        ["input\n50 genes", "FC 1\n8", "FC 2\n16", "FC 3\n8", "FC 4\n4", "output\n3 classes"],
        [(1, 3), (1, 4), (2, 4)],
        [(3, "C"), (4, "C")],
        "RRFCN: 4 FC units, 3 skip connections",
    ),
    "mlp": (
        {"kind": "mlp", "n_inputs": 10, "n_outputs": 2, "units": [32, 16]},
        ["input\n10 genes", "FC 1\n32", "FC 2\n16", "output\n2 classes"],
        [],
        [],
        "MLP: 2 FC units, 0 skip connections",
    ),
    # a block adds its input to its output: the last block's arc reaches the output node
    "resnet": (
        {"kind": "resnet", "units": 16, "n_blocks": 2},
        ["input", "FC 1\n16", "FC 2\n16", "FC 3\n16", "output"],
        [(1, 3), (2, 4)],
        [(3, "+"), (4, "+")],
        "RFCN-ResNet: 3 FC units, 2 skip connections",
    ),
    # stem 8, a block of 2 units of 4, the transition to (8 + 2 * 4) * 0.5 (the default
    # compression), a block of 1 unit whose input and unit the output reads
    "densenet": (
        {"kind": "densenet", "n_inputs": 20, "n_outputs": 2, "blocks": [2, 1], "growth_rate": 4},
        [
            *("input\n20 genes", "FC 1\n8", "FC 2\n4", "FC 3\n4", "FC 4\n8", "FC 5\n4"),
            "output\n2 classes",
        ],
        [(1, 3), (1, 4), (2, 4), (4, 6)],
        [(3, "C"), (4, "C"), (6, "C")],
        "RFCN-DenseNet: 5 FC units, 4 skip connections",
    ),
    # the transition is never narrower than a unit: max(4, int(20 * 0.1)) = 4
    "densenet_compressed": (
        {"kind": "densenet", "blocks": [3, 1], "growth_rate": 4, "compression": 0.1},
        ["input", "FC 1\n8", "FC 2\n4", "FC 3\n4", "FC 4\n4", "FC 5\n4", "FC 6\n4", "output"],
        [(1, 3), (1, 4), (1, 5), (2, 4), (2, 5), (3, 5), (5, 7)],
        [(3, "C"), (4, "C"), (5, "C"), (7, "C")],
        "RFCN-DenseNet: 6 FC units, 7 skip connections",
    ),
    # each stack's third unit (and the heads: z, the output) reads the last two units
    "resvae": (
        {"kind": "resvae", "n_inputs": 30, "n_latent": 2, "widths": [16, 8, 4]}
        | {"likelihood": "nb", "n_batch": 2},
        [
            *("input\n30 genes", "enc 1\n16", "enc 2\n8", "enc 3\n4", "z\n2"),
            *("dec 1\n4", "dec 2\n8", "dec 3\n16", "output\n30 genes\nnb"),
        ],
        [(1, 3), (2, 4), (5, 7), (6, 8)],
        [(3, "C"), (4, "C"), (7, "C"), (8, "C")],
        "Res-VAE: 3 + 3 FC units, 2 latent dimensions, 4 skip connections, "
        "decoder units read the batch (2)",
    ),
    "vae": (
        {"kind": "vae", "n_latent": 3, "widths": [16, 8, 4]},
        [
            *("input", "enc 1\n16", "enc 2\n8", "enc 3\n4", "z\n3"),
            *("dec 1\n4", "dec 2\n8", "dec 3\n16", "output"),
        ],
        [],
        [],
        "VAE: 3 + 3 FC units, 3 latent dimensions, 0 skip connections",
    ),
}


@pytest.mark.parametrize("name", list(ARCHITECTURES_DRAWN))
def test_architecture_draws_each_familys_units_skips_and_labels(name):
    """The DAG of each family: a node per FC unit (its name and width) between the input and
    the output, evenly spaced; one chain arrow from each node to the next; the skip arcs from
    the unit whose output is reused to the unit (or output) reading it, each target marked
    with how it combines ("C" concatenated, "+" added), all within the Axes; boxes taller for
    wider units; the title counting units and skips."""
    arch, nodes, skips, marks, title = ARCHITECTURES_DRAWN[name]
    drawn = _drawn_dag(sag.pl.architecture(arch, show=False))
    assert drawn["nodes"] == nodes
    assert drawn["evenly_spaced"]
    assert drawn["chain"] == _chain(len(nodes))
    assert drawn["skips"] == skips
    assert drawn["marks"] == marks
    assert drawn["candidates"] == []
    assert drawn["arcs_inside"]
    units = [int(label.split("\n")[1]) for label in nodes[1:-1]]
    heights = drawn["heights"][1:-1]
    for (w1, h1), (w2, h2) in zip(zip(units, heights), zip(units[1:], heights[1:])):
        assert (h1 < h2) == (w1 < w2)
        assert (h1 == pytest.approx(h2)) == (w1 == w2)
    assert sag.pl.architecture(arch, show=False).get_title() == title
    plt.close("all")


def test_architecture_candidates_are_rrfcns_unchosen_skips():
    """show_candidates=True adds, dashed, RRFCN's skips ENAS could have chosen and did not
    (none into the first two units, none along the chain), and nothing to other families."""
    arch = {"kind": "rrfcn", "widths": [8, 8, 8, 8], "skips": [[], [], [], [1]]}
    drawn = _drawn_dag(sag.pl.architecture(arch, show_candidates=True, show=False))
    assert drawn["skips"] == [(2, 4)]
    assert drawn["candidates"] == [(1, 3), (1, 4)]
    assert drawn["chain"] == _chain(6)
    for other in ("resnet", "resvae"):
        arch = ARCHITECTURES_DRAWN[other][0]
        assert _drawn_dag(sag.pl.architecture(arch, show_candidates=True, show=False)) == (
            _drawn_dag(sag.pl.architecture(arch, show=False))
        )
    plt.close("all")


def test_architecture_refuses_a_vae_of_more_units_than_it_can_draw():
    """A VAE of 150 encoder widths is 301 units (encoder, z, decoder): refused, as too many."""
    arch = {"kind": "vae", "n_latent": 2, "widths": [8] * 150}
    with pytest.raises(ValueError, match=r"this architecture has 301 \(kind='vae'\)"):
        sag.pl.architecture(arch, show=False)


def test_embedding_edges_draw_the_graph_that_neighbors_key_names():
    """edges=True with neighbors_key= draws the user's graph, for a t-SNE too, which has no
    graph of its own (an error without one); sag's own UMAP graph only where none is named."""
    import scanpy as sc
    from matplotlib.collections import LineCollection
    from scipy.spatial import cKDTree

    a = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=3, seed=0)
    a.obsm["X_e"] = np.random.default_rng(0).normal(size=(a.n_obs, 3)).astype(np.float32)
    a.obsm["X_other"] = np.random.default_rng(1).normal(size=(a.n_obs, 3)).astype(np.float32)
    sc.pp.neighbors(a, use_rep="X_other", n_neighbors=4, key_added="mine")
    mine = a.obsp["mine_connectivities"]
    mine = mine + mine.T
    with pytest.raises(ValueError, match=r"edges=True .*a t-SNE has none"):
        sag.pl.embedding(a, "X_e", method="tsne", edges=True, show=False)
    ax = sag.pl.embedding(a, "X_e", method="tsne", edges=True, neighbors_key="mine", show=False)
    segments = np.asarray(
        next(c for c in ax.collections if isinstance(c, LineCollection)).get_segments()
    )
    tree = cKDTree(a.obsm["X_e_tsne"])
    ends = np.stack([tree.query(segments[:, 0])[1], tree.query(segments[:, 1])[1]], axis=1)
    assert len(ends)
    assert all(mine[i, j] > 0 for i, j in ends)
    plt.close("all")


def test_embedding_takes_the_legend_positions_and_palette_names_scanpy_takes():
    """legend_loc= takes matplotlib's integer positions up to 10 and (x, y) pairs, not a
    triple; palette= takes scanpy's extra colour names (R's 'gold2')."""
    a = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=3, seed=0)
    a.obsm["X_umap"] = np.random.default_rng(0).normal(size=(a.n_obs, 2)).astype(np.float32)
    sag.pl.embedding(a, "X_umap", color="label", legend_loc=10, show=False)
    sag.pl.embedding(a, "X_umap", color="label", palette=["gold2", "red", "blue"], show=False)
    with pytest.raises(ValueError, match=r"legend_loc=\(0\.1, 0\.2, 0\.3\) is not a legend"):
        sag.pl.embedding(a, "X_umap", color="label", legend_loc=(0.1, 0.2, 0.3), show=False)
    plt.close("all")


def test_embedding_colours_by_genes_of_raw_symbols_and_layers():
    """A gene of adata.raw alone, a gene symbol (gene_symbols=) and, with layer=, a gene that
    adata.raw lacks (scanpy reads the layer, not raw) are colours scanpy draws: not refused."""
    full = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=3, seed=0)
    full.layers["counts"] = full.X.copy()
    a = full[:, 5:].copy()
    a.raw = full[:, :10].copy()
    a.obsm["X_umap"] = np.random.default_rng(0).normal(size=(a.n_obs, 2)).astype(np.float32)
    a.var["symbol"] = [f"S{n}" for n in a.var_names]
    raw_only, in_x = full.var_names[0], a.var_names[-1]
    ax = sag.pl.embedding(a, "X_umap", color=raw_only, show=False)
    assert ax.get_title() == raw_only
    ax = sag.pl.embedding(
        a, "X_umap", color=f"S{in_x}", gene_symbols="symbol", use_raw=False, show=False
    )
    assert ax.get_title() == f"S{in_x}"
    ax = sag.pl.embedding(a, "X_umap", color=in_x, layer="counts", show=False)
    assert ax.get_title() == in_x
    with pytest.raises(KeyError, match=r"is not a gene of adata\.raw"):
        sag.pl.embedding(a, "X_umap", color=in_x, show=False)
    plt.close("all")


def test_embedding_draws_a_nullable_boolean_column_without_sort_order():
    """A nullable boolean column is refused where scanpy sorts the cells by it (its default
    sort_order=True), and drawn with sort_order=False."""
    a = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=3, seed=0)
    a.obsm["X_umap"] = np.random.default_rng(0).normal(size=(a.n_obs, 2)).astype(np.float32)
    a.obs["flag"] = pd.array(np.arange(a.n_obs) % 2 == 0, dtype="boolean")
    with pytest.raises(ValueError, match=r"obs\['flag'\] is a nullable boolean column"):
        sag.pl.embedding(a, "X_umap", color="flag", show=False)
    ax = sag.pl.embedding(a, "X_umap", color="flag", sort_order=False, show=False)
    assert ax.get_title() == "flag"
    plt.close("all")


def test_embedding_labels_the_layouts_axes_not_its_colour_bar(sag_caplog):
    """The panel's axes read tSNE1/tSNE2 and a gene's colour bar keeps no axis label; a new
    latent under the same key is a WARNING (its layout is recomputed), another random_state
    an INFO line."""
    a = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=3, seed=0)
    a.obsm["X_e"] = np.random.default_rng(0).normal(size=(a.n_obs, 3)).astype(np.float32)
    fig = sag.pl.embedding(a, "X_e", method="tsne", color=a.var_names[0], return_fig=True)
    labels = [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes]
    assert labels[0] == ("tSNE1", "tSNE2")
    assert len(labels) == 2
    assert labels[1] == ("", "")
    sag_caplog.clear()
    sag.pl.embedding(a, "X_e", method="tsne", random_state=1, show=False)
    assert [r.levelname for r in sag_caplog.records if "was computed with other" in r.message]
    assert all(r.levelname != "WARNING" for r in sag_caplog.records)
    a.obsm["X_e"] = a.obsm["X_e"] + 1
    sag_caplog.clear()
    sag.pl.embedding(a, "X_e", method="tsne", random_state=1, show=False)
    (warned,) = (r for r in sag_caplog.records if "was computed from another" in r.message)
    assert warned.levelname == "WARNING"
    plt.close("all")


def test_shap_summary_draws_the_dots_of_high_expression_on_top(annotated):
    """Within a gene's row the dots are drawn from low to high expression (the last drawn
    on top); a gene whose 5th and 95th percentiles meet (mostly zeros) is scaled from its
    minimum to its maximum, not drawn in one middle shade."""
    cls = str(annotated.uns["sag_shap"]["classes"][0])
    ax = sag.pl.shap_summary(annotated, cls, n_top=3, cmap="gray", show=False)
    for dots in ax.collections[:3]:
        shade = dots.get_facecolor()[:, 0]
        assert shade[-1] > shade[0]
        assert np.all(np.diff(shade) >= -1e-9)
    plt.close("all")
    a = annotated.copy()
    expr = np.array(a.uns["sag_shap"]["expression"], dtype=float)
    expr[0][:, 0] = 0.0
    expr[0][0, 0] = 4.0  # one cell of 40 expresses the top gene
    a.uns["sag_shap"]["expression"] = expr
    ax = sag.pl.shap_summary(a, cls, n_top=3, cmap="gray", show=False)
    shade = ax.collections[0].get_facecolor()[:, 0]
    np.testing.assert_allclose(np.sort(shade)[-2:], [0.0, 1.0], atol=1e-6)
    plt.close("all")


def test_importance_stacks_only_genes_with_an_importance(annotated):
    """Genes without a finite importance in any class (NaN in varm) are not among the
    stacked top genes, even where n_top asks for more."""
    a = annotated.copy()
    table = np.array(a.varm["sag_shap"], dtype=float)
    table[2:] = np.nan
    a.varm["sag_shap"] = table
    ax = sag.pl.importance(a, n_top=5, show=False)
    n_classes = len(a.uns["sag_shap"]["classes"])
    order = np.argsort(-np.nansum(table[:2, :n_classes], axis=1))
    assert _labels(ax.get_yticklabels()) == list(a.var_names[:2][order])
    plt.close("all")


def test_embedding_with_ax_refuses_several_components_without_a_colour():
    """ax= beside a list of components is refused with no color= too (one panel of each
    pair): scanpy failed only when drawing."""
    a = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=3, seed=0)
    a.obsm["X_umap"] = np.random.default_rng(0).normal(size=(a.n_obs, 2)).astype(np.float32)
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"components= \(2 pairs\) makes 2 panels"):
        sag.pl.embedding(a, "X_umap", components=["1,2", "2,1"], ax=ax, show=False)
    assert sag.pl.embedding(a, "X_umap", components=["1,2"], ax=ax, show=False) is ax
    plt.close("all")


def test_palette_is_the_one_scanpy_gives_as_many_categories(sag_caplog):
    """palette(n) gives the colours scanpy gives n categories (matplotlib's cycle up to its
    length, then default_20, default_28, default_102), at each palette's edge; a warning only
    past 102 categories."""
    import matplotlib.pyplot as plt
    import scanpy as sc
    from matplotlib.colors import to_hex

    from scautogenome.plotting._utils import palette

    for n in (10, 11, 20, 21, 28, 29, 102):
        names = [f"c{i:03d}" for i in range(n)]
        a = ad.AnnData(obs=pd.DataFrame({"c": pd.Categorical(names)}, index=names))
        a.obsm["X_e"] = np.zeros((n, 2))
        sc.pl.embedding(a, "e", color="c", show=False)  # scanpy stores the colours it gives
        plt.close("all")
        assert palette(n) == [to_hex(c) for c in a.uns["c_colors"]], n
    assert "categories: colours repeat" not in sag_caplog.text
    palette(103)
    assert "103 categories: colours repeat past 102" in sag_caplog.text


def test_category_colors_of_one_category_a_boolean_and_102_categories():
    """A single category keeps its one colour of uns (one colour is not scanpy's grey of
    every category); a boolean column is coloured as the categories scanpy makes of it; 102
    categories (scanpy's largest palette) still get colours."""
    from scautogenome.plotting._utils import category_colors, class_colors, palette

    names = [f"c{i:03d}" for i in range(102)]
    a = ad.AnnData(obs=pd.DataFrame({"c": pd.Categorical(names)}, index=names))
    assert category_colors(a, "c", names[:2]) == palette(102)[:2]
    a.obs["one"] = pd.Categorical(["x"] * a.n_obs)
    a.uns["one_colors"] = ["#123456"]
    assert class_colors(a, "one", ["x"]) == ["#123456"]
    a.obs["flag"] = np.arange(a.n_obs) % 2 == 0
    assert category_colors(a, "flag", ["True", "False"]) == palette(2)[::-1]


def test_embedding_recomputes_coordinates_an_earlier_version_of_sag_wrote():
    """Coordinates whose record holds an earlier version's sag parameters (sag_model_digest,
    no sag_basis_digest) are sag's: recomputed and recorded anew, not refused as the user's."""
    a = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=3, seed=0)
    a.obsm["X_e"] = np.random.default_rng(0).normal(size=(a.n_obs, 3)).astype(np.float32)
    sag.pl.embedding(a, "X_e", method="tsne", show=False)
    params = a.uns["X_e_tsne"]["params"]
    for k in [k for k in params if k.startswith("sag_")]:
        del params[k]
    params["sag_model_digest"] = "0123"
    sag.pl.embedding(a, "X_e", method="tsne", show=False)
    params = a.uns["X_e_tsne"]["params"]
    assert "sag_model_digest" not in params
    assert "sag_basis_digest" in params
    plt.close("all")


def test_embedding_tsne_leaves_the_graph_key_alone_and_reads_a_boolean_latent():
    """A t-SNE computes no kNN graph: a graph of the user's under the UMAP's graph key
    ({name}_neighbors) does not stop it and is kept. A latent of truth values is numbers."""
    import scanpy as sc

    a = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=3, seed=0)
    a.obsm["X_e"] = np.random.default_rng(0).normal(size=(a.n_obs, 3)).astype(np.float32)
    sc.pp.neighbors(a, use_rep="X_e", n_neighbors=4, key_added="e_neighbors")
    graph = a.obsp["e_neighbors_connectivities"].copy()
    sag.pl.embedding(a, "X_e", method="tsne", show=False)
    assert "X_e_tsne" in a.obsm
    assert (a.obsp["e_neighbors_connectivities"] != graph).nnz == 0
    a.obsm["X_b"] = a.obsm["X_e"] > 0
    ax = sag.pl.embedding(a, "X_b", method="tsne", color="label", show=False)
    assert ax.get_xlabel() == "tSNE1"
    assert a.obsm["X_b_tsne"].shape == (a.n_obs, 2)
    plt.close("all")
