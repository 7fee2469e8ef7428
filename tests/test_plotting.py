"""sag.pl: importance, shap_summary, confusion_matrix, search_history rendered to PNG."""

from __future__ import annotations

import warnings

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
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


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


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
    with pytest.raises(KeyError, match="not one of the explained classes"):
        sag.pl.shap_summary(adata, "overall", show=False)


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
    star = next(c for c in ax.collections if c.get_sizes().tolist() == [160.0])
    np.testing.assert_allclose(star.get_offsets()[0], [1, 123.16])
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
        star = next(c for c in ax.collections if c.get_sizes().tolist() == [160.0])
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
