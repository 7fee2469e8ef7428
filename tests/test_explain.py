"""sag.tl.explain and the expected-gradients engines (shap.GradientExplainer vs the fast path)."""

from __future__ import annotations

import logging
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import torch
from scipy import sparse
from scipy.stats import spearmanr

import scautogenome as sag
from scautogenome._settings import logger as sag_logger
from scautogenome.explain import (
    Draws,
    ExpectedGradients,
    ShapGradient,
    class_importance,
    sample_draws,
    shap_draws,
    stratified_cells,
)
from scautogenome.nn import build_network

# a fixed small MLP: a search is not what these tests are about
MINI = {
    "budget": {"n_trials": 1, "time_budget": None},
    "trainer": {"max_epochs": 30, "patience": 6, "min_epochs": 5},
    "space": {
        "mlp": {"n_layers": [1], "units": [64]},
        "common": {
            "batch_size": [32],
            "lr": [3e-3],
            "optimizer": ["adamw"],
            "weight_decay": [1e-4],
            "class_balance": ["weights"],
            "input_keep": [1.0],
            "dropout": [0.1],
        },
    },
}
FAST = {"n_explain": 30, "nsamples": 30, "n_background": 40}
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MARKERS = {  # textbook markers; CD14 itself is not among pbmc68k_reduced's 765 genes
    "CD19+ B": {"CD79A", "MS4A1"},
    "CD56+ NK": {"GNLY", "NKG7"},
    # classical monocytes' (LYZ and CST3, shared with the dendritic cells, may go to those)
    # and the CD16 (FCGR3A) and cathepsin S (CTSS) of monocytes as Seurat's PBMC guide marks them
    "CD14+ Monocyte": {"CD14", "LYZ", "S100A8", "S100A9", "FCN1", "FCGR3A", "CTSS"},
}


def _quiet() -> None:
    sag.settings.verbosity = 1
    sag.settings.progress_bar = False
    sag.settings.device = "cpu"


@pytest.fixture(scope="module")
def syn():
    """Synthetic counts (3 classes with 10 marker genes each) and a classifier trained on it."""
    _quiet()
    adata = sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0)
    model = sag.tl.classify(adata, "label", mode="mlp", config=MINI, seed=0)
    return adata, model


@pytest.fixture(scope="module")
def pbmc_fit(pbmc):
    """pbmc68k_reduced (a copy) and a classifier of its bulk_labels."""
    _quiet()
    adata = pbmc.copy()
    model = sag.tl.classify(adata, "bulk_labels", mode="mlp", config=MINI, seed=0)
    return adata, model


@pytest.fixture
def log_records(caplog):
    sag_logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="scautogenome")
    sag.settings.verbosity = 2
    yield caplog
    sag_logger.removeHandler(caplog.handler)


# -- the engines --------------------------------------------------------------------------------
ARCHS = [
    {"kind": "mlp", "units": [32, 16]},
    {"kind": "resnet", "units": 16, "n_blocks": 2},
    {"kind": "densenet", "blocks": [2], "growth_rate": 8},
]


@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: a["kind"])
@pytest.mark.parametrize("path", ["structured", "generic"])
@pytest.mark.parametrize("reads", [None, np.arange(0, 120, 3)], ids=["every gene", "some"])
def test_fast_equals_shap_draw_for_draw(arch, path, reads):
    """Given shap's own draws, the fast engine computes shap's numbers (any network, both paths,
    a network reading every gene or some: 0 for the others)."""
    torch.manual_seed(0)
    net = build_network(
        {**arch, "n_inputs": 120, "n_outputs": 4, "input_keep": 0.8, "dropout": 0.1},
        reads=reads,
    ).eval()
    rng = np.random.default_rng(0)
    bg = (rng.random((15, 120)) * (rng.random((15, 120)) < 0.3)).astype(np.float32)
    x = (rng.random((4, 120)) * (rng.random((4, 120)) < 0.3)).astype(np.float32)
    ref = ShapGradient(net, bg, nsamples=25, seed=3).attributions(x, np.array([0]))
    fast = ExpectedGradients(net, bg, shap_draws(4, 15, 25, rseed=3), path=path)
    assert fast.path == path
    phi = fast.attributions(x, np.arange(4))
    assert phi.shape == ref.shape == (4, 120, 4)
    np.testing.assert_allclose(phi, ref, atol=1e-6 * np.abs(ref).max())
    if reads is not None:
        assert not phi[:, np.setdiff1d(np.arange(120), reads)].any()
    sub = fast.attributions(x, np.arange(4), genes=np.array([5, 0, 77]))
    np.testing.assert_allclose(sub, phi[:, [5, 0, 77]], atol=1e-6 * np.abs(ref).max())


@pytest.mark.parametrize("reads", [None, np.arange(0, 120, 3)], ids=["every gene", "some"])
def test_a_hidden_layer_as_wide_as_the_genes_read_keeps_the_fast_path(reads):
    """A hidden layer that reads as many features as the first one (120 genes, or the 40
    read) is told apart by the outputs; building the split draws nothing from torch."""
    width = 120 if reads is None else 40
    torch.manual_seed(0)
    net = build_network(
        {"kind": "mlp", "units": [width, 8], "n_inputs": 120, "n_outputs": 3}, reads=reads
    ).eval()
    rng = np.random.default_rng(0)
    bg, x = rng.random((10, 120), dtype=np.float32), rng.random((3, 120), dtype=np.float32)
    draws = shap_draws(3, 10, 10, rseed=3)
    state = torch.get_rng_state()
    fast = ExpectedGradients(net, bg, draws)
    assert torch.equal(torch.get_rng_state(), state)
    assert fast.path == "structured"
    generic = ExpectedGradients(net, bg, draws, path="generic")
    phi = fast.attributions(x, np.arange(3))
    np.testing.assert_allclose(
        phi, generic.attributions(x, np.arange(3)), atol=1e-5 * np.abs(phi).max()
    )


def test_fast_differs_with_wrong_draws():
    """The draw-for-draw comparison can fail: other draws give other numbers."""
    torch.manual_seed(0)
    net = build_network({"kind": "mlp", "units": [16], "n_inputs": 50, "n_outputs": 3}).eval()
    rng = np.random.default_rng(1)
    bg, x = rng.random((10, 50), dtype=np.float32), rng.random((3, 50), dtype=np.float32)
    ref = ShapGradient(net, bg, nsamples=10, seed=3).attributions(x, np.array([0]))
    phi = ExpectedGradients(net, bg, shap_draws(3, 10, 10, rseed=4)).attributions(x, np.arange(3))
    assert np.abs(phi - ref).max() > 1e-3 * np.abs(ref).max()


def test_shap_engine_restores_numpy_global_state():
    net = build_network({"kind": "mlp", "units": [8], "n_inputs": 20, "n_outputs": 2}).eval()
    bg = np.random.default_rng(0).random((5, 20), dtype=np.float32)
    np.random.seed(123)  # noqa: NPY002
    expected = np.random.random()  # noqa: NPY002
    np.random.seed(123)  # noqa: NPY002
    ShapGradient(net, bg, nsamples=5, seed=0).attributions(bg[:2], np.array([0]))
    assert np.random.random() == expected  # noqa: NPY002


def _small_shap_engine(n_outputs: int):
    """shap's GradientExplainer engine of a seeded 20-gene MLP of ``n_outputs``, 4 cells to
    explain and their attributions: ``(engine, x, attributions)``."""
    torch.manual_seed(0)
    net = build_network({"kind": "mlp", "units": [8], "n_inputs": 20, "n_outputs": n_outputs})
    rng = np.random.default_rng(0)
    bg, x = rng.random((6, 20), dtype=np.float32), rng.random((4, 20), dtype=np.float32)
    engine = ShapGradient(net.eval(), bg, nsamples=8, seed=0)
    return engine, x, engine.attributions(x, np.arange(4))


def test_shap_engine_reads_the_per_class_list_of_shap_044():
    """shap 0.44 (allowed by shap>=0.44) returns a list of per-class cells x genes arrays, not
    one cells x genes x classes array: same values either way."""
    engine, x, ref = _small_shap_engine(n_outputs=3)
    real = engine.explainer.shap_values

    def new(*a, **k):  # one cells x genes x classes array, whichever the installed shap gives
        values = real(*a, **k)
        return np.stack(values, axis=-1) if isinstance(values, list) else values

    engine.explainer.shap_values = lambda *a, **k: [new(*a, **k)[..., c] for c in range(3)]
    np.testing.assert_array_equal(engine.attributions(x, np.arange(4)), ref)
    np.testing.assert_array_equal(
        engine.attributions(x, np.arange(4), genes=[3, 1]), ref[:, [3, 1]]
    )
    engine.explainer.shap_values = lambda *a, **k: new(*a, **k)[:, :5]
    with pytest.raises(ValueError, match=r"returned SHAP values of shape \(4, 5, 3\)"):
        engine.attributions(x, np.arange(4))


def test_chunking_does_not_change_values():
    torch.manual_seed(0)
    arch = {"kind": "resnet", "units": 16, "n_blocks": 1, "n_inputs": 60, "n_outputs": 3}
    net = build_network(arch).eval()
    rng = np.random.default_rng(0)
    bg, x = rng.random((12, 60), dtype=np.float32), rng.random((9, 60), dtype=np.float32)
    draws = sample_draws(9, 12, 20, seed=0)
    whole = ExpectedGradients(net, bg, draws).attributions(x, np.arange(9))
    small = ExpectedGradients(net, bg, draws, max_floats=500)
    assert small.cells_per_chunk() == 1
    parts = np.concatenate([small.attributions(x[i : i + 1], np.array([i])) for i in range(9)])
    np.testing.assert_allclose(parts, whole, atol=1e-6 * np.abs(whole).max())


def test_a_large_background_keeps_the_fast_path_in_its_memory_budget():
    """The structured path keeps gradient blocks only for the background rows a chunk drew
    (not for all of a large background), and gives way to the generic path where even one
    cell's would not fit."""
    torch.manual_seed(0)
    net = build_network({"kind": "mlp", "units": [32], "n_inputs": 50, "n_outputs": 3}).eval()
    rng = np.random.default_rng(0)
    bg, x = rng.random((2000, 50), dtype=np.float32), rng.random((30, 50), dtype=np.float32)
    draws = sample_draws(30, 2000, 10, seed=0)
    fast = ExpectedGradients(net, bg, draws, max_floats=2**20)
    assert fast.path == "structured"
    # blocks of 2,000 rows each: 2 cells a chunk; of the 10 rows a cell drew: 23
    assert fast.cells_per_chunk() == 23
    generic = ExpectedGradients(net, bg, draws, path="generic")
    phi = np.concatenate(
        [fast.attributions(x[i : i + 23], np.arange(i, min(i + 23, 30))) for i in (0, 23)]
    )
    np.testing.assert_allclose(
        phi, generic.attributions(x, np.arange(30)), atol=1e-5 * np.abs(phi).max()
    )
    # one cell's blocks (11 x 3 x 32, twice) over the budget: the generic path
    assert ExpectedGradients(net, bg, draws, max_floats=2000).path == "generic"
    assert ExpectedGradients(net, bg, draws, max_floats=2000, path="structured").path == (
        "structured"
    )


def test_stratified_cells_represents_small_classes():
    codes = np.array([0] * 500 + [1] * 5 + [2] * 40)
    rng = np.random.default_rng(0)
    picked = stratified_cells(codes, 60, rng)
    assert len(picked) == 60
    assert len(np.unique(picked)) == 60
    counts = np.bincount(codes[picked], minlength=3)
    assert counts[1] == 5  # the whole small class
    assert counts[2] >= 20
    assert np.array_equal(stratified_cells(codes, 1000, rng), np.arange(len(codes)))
    # the slots left over go to classes, not to random cells (which the large class takes)
    assert sorted(np.bincount(codes[stratified_cells(codes, 46, rng)])) == [5, 20, 21]
    # fewer cells than classes: that many classes, one cell each (an atlas of 118 types)
    many = np.repeat(np.arange(118), np.r_[[400] * 8, [10] * 110])
    picked = stratified_cells(many, 50, rng)
    assert len(picked) == len(np.unique(many[picked])) == 50


def test_engines_agree_on_pbmc_same_inputs(pbmc_fit):
    """Same cells, background and draws: per-class importance of the two engines agrees."""
    adata, model = pbmc_fit
    X = adata.X
    rng = np.random.default_rng(0)
    test = np.flatnonzero(adata.obs["sag_split"] == "test")[:16]
    bg = model.transform_.apply(X[rng.choice(adata.n_obs, 30, replace=False)].toarray())
    codes = pd.Index(model.classes_).get_indexer(adata.obs["bulk_labels"].astype(str))[test]

    def rows(cells):
        return model.transform_.apply(X[test[cells]].toarray()).astype(np.float32)

    shap_engine = ShapGradient(model.module_, bg, nsamples=20, seed=5)
    chunk = shap_engine.cells_per_chunk()
    draws = [
        shap_draws(min(chunk, len(test) - s), 30, 20, rseed=5 + s)
        for s in range(0, len(test), chunk)
    ]
    draws = type(draws[0])(
        np.concatenate([d.rows for d in draws]), np.concatenate([d.alphas for d in draws])
    )
    fast_engine = ExpectedGradients(model.module_, bg, draws)
    res_fast = class_importance(fast_engine, rows, codes, n_top=10)
    res_shap = class_importance(shap_engine, rows, codes, n_top=10)
    for c in np.flatnonzero(res_fast.n_cells > 0):
        rho = spearmanr(res_fast.importance[:, c], res_shap.importance[:, c])[0]
        assert rho >= 0.95, (model.classes_[c], rho)
    np.testing.assert_allclose(
        res_fast.top_values, res_shap.top_values, atol=1e-5 * np.nanmax(np.abs(res_shap.top_values))
    )


@pytest.mark.slow
def test_fast_agrees_with_shap_independent_draws(pbmc_fit):
    """Both methods through sag.tl.explain, independent draws: the estimates agree."""
    adata, model = pbmc_fit
    out = {}
    for method in ("fast", "shap"):
        sag.tl.explain(adata, model, method=method, cells="all", n_explain=150, nsamples=100)
        out[method] = adata.varm["sag_shap"].copy()
    for c in range(out["fast"].shape[1]):
        rho = spearmanr(out["fast"][:, c], out["shap"][:, c])[0]
        assert rho >= 0.95, (adata.uns["sag_shap"]["columns"][c], rho)


# -- the tool -----------------------------------------------------------------------------------
def test_explain_of_a_network_reading_some_genes_takes_the_fast_path():
    """A model that leaves the genes constant on its training cells out of its first layer
    is explained on the structured path too, with 0 for those genes."""
    adata = sag.datasets.synthetic(n_obs=300, n_vars=200, seed=0)
    X = adata.X.toarray()
    X[:, 150:] = 0
    adata.X = sparse.csr_matrix(X)
    model = sag.models.Classifier({"kind": "mlp", "units": [16]}, {"max_epochs": 3})
    model.fit(adata, "label", seed=0)
    assert model.module_.genes.n_read == 150
    sag.tl.explain(adata, model, **FAST)
    assert adata.uns["sag_shap"]["params"]["engine"] == "structured"
    assert not adata.varm["sag_shap"][150:].any()
    assert adata.varm["sag_shap"][:150].any()


def test_explain_writes_outputs(syn):
    adata, model = syn
    assert sag.tl.explain(adata, model, **FAST) is None
    n_cls = len(model.classes_)
    table = adata.varm["sag_shap"]
    assert table.shape == (adata.n_vars, n_cls + 1)
    assert table.dtype == np.float32
    assert np.isfinite(table).all()
    assert (table >= 0).all()
    np.testing.assert_allclose(table[:, -1], table[:, :-1].mean(1), rtol=1e-5)
    u = adata.uns["sag_shap"]
    assert list(u["columns"]) == [*model.classes_, "overall"]
    assert u["top_genes"].shape == (n_cls + 1, 30)
    n = len(u["cells"])
    assert n == FAST["n_explain"]
    assert set(u["cells"]) <= set(adata.obs_names[adata.obs["sag_split"] == "test"])
    assert u["values"].shape == u["expression"].shape == (n_cls, n, 30)
    assert u["params"]["method"] == "fast"
    assert u["params"]["engine"] == "structured"
    assert u["params"]["groupby"] == "label"
    assert u["params"]["background_from"] == "training"
    # the background cells, by name: training cells, as many as the record says
    bg = u["background_cells"]
    assert len(bg) == len(set(bg)) == u["params"]["n_background"]
    assert set(bg) <= set(adata.obs_names[adata.obs["sag_split"] == "train"])
    # ranks agree with the table
    for c in range(n_cls + 1):
        col = table[:, c]
        top = adata.var_names.get_indexer(u["top_genes"][c])
        assert np.all(np.diff(col[top]) <= 0)
        np.testing.assert_allclose(col[top], u["top_scores"][c], rtol=1e-6)
    # class k's planted marker genes (gene_{10k}..gene_{10k+9}) lead its ranking
    for k, cls in enumerate(model.classes_):
        c = list(u["classes"]).index(cls)
        markers = {f"gene_{i}" for i in range(10 * k, 10 * k + 10)}
        assert len(markers & set(u["top_genes"][c][:10])) >= 6, (cls, u["top_genes"][c][:10])


def test_explain_values_consistent(syn):
    adata, model = syn
    vals = sag.tl.explain(adata, model, return_values=True, **FAST)
    u = adata.uns["sag_shap"]
    n = len(u["cells"])
    assert vals.shape == (n, adata.n_vars, len(model.classes_))
    groups = u["cell_groups"]
    for c, cls in enumerate(u["classes"]):
        mean_abs = np.abs(vals[groups == cls, :, c]).mean(0)
        np.testing.assert_allclose(adata.varm["sag_shap"][:, c], mean_abs, rtol=1e-4, atol=1e-7)
        top = adata.var_names.get_indexer(u["top_genes"][c])
        np.testing.assert_allclose(u["values"][c], vals[:, top, c], rtol=1e-4, atol=1e-7)
        cells = adata.obs_names.get_indexer(u["cells"])
        expr = model.transform_.apply(adata.X[cells].toarray())[:, top]
        np.testing.assert_allclose(u["expression"][c], expr, rtol=1e-5, atol=1e-6)
    # overall: every cell's SHAP value of its own class, for the overall top genes
    top = adata.var_names.get_indexer(u["top_genes"][-1])
    codes = pd.Index(u["classes"]).get_indexer(groups)
    np.testing.assert_allclose(
        u["overall_values"], vals[np.arange(n)[:, None], top, codes[:, None]], rtol=1e-4, atol=1e-7
    )
    # expected gradients are (on average) additive: sum of SHAP ~ logit - mean background logit
    cells = adata.obs_names.get_indexer(u["cells"])
    with torch.no_grad():
        logits = model.module_(torch.from_numpy(model.transform_.apply(adata.X[cells].toarray())))
    gap = logits.numpy() - u["base_values"]
    total = vals.sum(1)
    assert np.corrcoef(total.ravel(), gap.ravel())[0, 1] > 0.9


def test_explain_two_pass_equals_one_pass(syn, monkeypatch):
    """Cells x genes x classes is not kept unless asked: the second (top genes) pass gives the
    same per-cell values."""
    adata, model = syn
    sag.tl.explain(adata, model, **FAST)
    kept = {k: adata.uns["sag_shap"][k].copy() for k in ("values", "top_genes", "overall_values")}
    monkeypatch.setattr("scautogenome.explain.MAX_FLOATS", 10)
    sag.tl.explain(adata, model, **FAST)
    assert np.array_equal(adata.uns["sag_shap"]["top_genes"], kept["top_genes"])
    np.testing.assert_allclose(adata.uns["sag_shap"]["values"], kept["values"], atol=1e-6)
    np.testing.assert_allclose(
        adata.uns["sag_shap"]["overall_values"], kept["overall_values"], atol=1e-6
    )


def test_a_second_pass_over_most_genes_is_said_to_cost_the_first(syn, monkeypatch, sag_caplog):
    """Where the classes' top genes are most genes (a hundred classes), the log says that the
    second pass costs about what the first did, and how much return_values=True would keep."""
    adata, model = syn
    monkeypatch.setattr("scautogenome.explain.MAX_FLOATS", 10)
    sag.tl.explain(adata, model, **FAST, n_top=10)
    assert "costs about what the first did" not in sag_caplog.text
    sag.tl.explain(adata, model, **FAST, n_top=80)
    union = np.unique(np.asarray(adata.uns["sag_shap"]["top_genes"]))
    assert len(union) > adata.n_vars / 2
    assert (
        f"the top 80 genes of 3 classes and overall are {len(union)} of the 200 genes, so the "
        "second pass (their per-cell values) costs about what the first did" in sag_caplog.text
    )


def test_explain_roundtrip_h5ad(syn, tmp_path):
    adata, model = syn
    sag.tl.explain(adata, model, **FAST)
    path = tmp_path / "x.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    np.testing.assert_array_equal(back.varm["sag_shap"], adata.varm["sag_shap"])
    u, v = adata.uns["sag_shap"], back.uns["sag_shap"]
    assert set(u) == set(v)
    for k in (
        "top_genes",
        "columns",
        "cells",
        "cell_groups",
        "background_cells",
        "values",
        "expression",
    ):
        np.testing.assert_array_equal(np.asarray(v[k]), np.asarray(u[k]))
    assert v["params"] == u["params"]


def test_explain_same_seed_same_result(syn):
    adata, model = syn
    runs = []
    for seed in (1, 1, 2):
        sag.tl.explain(adata, model, seed=seed, **FAST)
        runs.append((adata.varm["sag_shap"].copy(), adata.uns["sag_shap"]["cells"].copy()))
    assert np.array_equal(runs[0][0], runs[1][0])
    assert np.array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(runs[0][0], runs[2][0])


def test_explain_shap_method(syn):
    adata, model = syn
    sag.tl.explain(adata, model, method="shap", n_explain=6, nsamples=10, n_background=20)
    u = adata.uns["sag_shap"]
    assert u["params"]["engine"] == "shap.GradientExplainer"
    assert np.isfinite(adata.varm["sag_shap"]).all()


def test_explain_cells_and_groupby(syn, log_records):
    adata, model = syn
    mask = (adata.obs["label"] == model.classes_[0]).to_numpy()
    sag.tl.explain(adata, model, cells=mask, groupby="label", **FAST)
    # the classes without an explained cell are named
    assert (
        f"2 class(es) have no explained cell; their importance is NaN: {model.classes_[1]}, "
        in (log_records.text)
    )
    u = adata.uns["sag_shap"]
    assert set(u["cell_groups"]) == {model.classes_[0]}
    assert np.isnan(adata.varm["sag_shap"][:, 1:3]).all()  # classes with no explained cell
    assert (u["top_genes"][1:3] == "").all()
    assert np.isnan(u["values"][1:3]).all()
    assert (u["top_genes"][0] != "").all()
    # a boolean Series is read by its index, as pandas aligns: a mask of the same cells in
    # another order (a sorted or merged table's) selects the same cells
    series = adata.obs["label"] == model.classes_[0]
    shuffled = series.iloc[np.random.default_rng(0).permutation(adata.n_obs)]
    sag.tl.explain(adata, model, cells=shuffled, groupby="label", **FAST)
    assert set(adata.uns["sag_shap"]["cell_groups"]) == {model.classes_[0]}
    for none in ([], np.zeros(adata.n_obs, dtype=bool)):
        with pytest.raises(ValueError, match="cells= selects no cell"):
            sag.tl.explain(adata, model, cells=none, **FAST)
    with pytest.raises(ValueError, match=r"boolean Series whose index is not adata\.obs_names"):
        sag.tl.explain(adata, model, cells=shuffled.iloc[1:], **FAST)
    sag.tl.explain(adata, model, cells=list(adata.obs_names[:12]), **FAST)
    assert len(adata.uns["sag_shap"]["cells"]) == 12
    # without a classify record, cells are grouped by their predicted class
    fresh = adata.copy()
    del fresh.uns["sag"], fresh.obs["sag_split"]
    sag.tl.explain(fresh, model, **FAST)
    assert fresh.uns["sag_shap"]["params"]["groupby"] == "predicted class"
    assert fresh.uns["sag_shap"]["params"]["background_from"] == "all"
    # a query of a few cells, without training cells: they are their own background, and
    # their values are next to 0: a warning says so
    sag.tl.explain(fresh[:3].copy(), model, **FAST)
    said = "all 3 cells are the background, so the SHAP values are relative to the mean of"
    assert said in " ".join(log_records.text.split())
    # a sample of a larger AnnData is the usual background, explained cells among it or not
    log_records.clear()
    sag.tl.explain(fresh, model, cells="all", n_explain=None, nsamples=10, n_background=40)
    assert "cells are the background" not in log_records.text


def test_predicted_classes_are_read_in_blocks_bounded_by_genes(syn, monkeypatch):
    """Grouping by predicted class reads every cell: in blocks of few rows when there are many
    genes, with the same result."""
    from scautogenome.data import _transform
    from scautogenome.tools import _explain

    adata, model = syn
    fresh = adata.copy()
    del fresh.uns["sag"], fresh.obs["sag_split"]
    sag.tl.explain(fresh, model, **FAST)
    ref = fresh.varm["sag_shap"].copy()
    seen = []
    real = _explain.dense_rows

    def spy(X, rows):
        seen.append(len(rows))
        return real(X, rows)

    monkeypatch.setattr(_explain, "dense_rows", spy)
    monkeypatch.setattr(_transform, "BLOCK_VALUES", 7 * fresh.n_vars)
    sag.tl.explain(fresh, model, **FAST)
    # the pass over every cell reads blocks of at most 7 (explained cells come in chunks of
    # the explainer's own budget)
    assert sum(n for n in seen if n <= 7) >= fresh.n_obs
    np.testing.assert_allclose(fresh.varm["sag_shap"], ref, rtol=1e-5, atol=1e-7)


def test_cells_are_checked_before_and_grouped_without_a_pass_over_all_cells(syn, monkeypatch):
    """Without labels, the cells are grouped by their predicted class: bad cells= is refused
    before any forward pass, and only the cells asked for are predicted."""
    from scautogenome.tools import _explain

    adata, model = syn
    query = ad.AnnData(adata.X.copy(), var=adata.var[[]].copy())  # no labels, no split
    rows = []
    hook = model.module_.register_forward_hook(lambda m, i, o: rows.append(i[0].shape[0]))
    try:
        for bad in ("tset", "val", np.ones(5, dtype=bool)):
            with pytest.raises(ValueError, match="cells"):
                sag.tl.explain(query, model, cells=bad, **FAST)
            assert rows == [], bad
    finally:
        hook.remove()
    read = []
    real = _explain.dense_rows
    monkeypatch.setattr(_explain, "dense_rows", lambda X, r: read.append(len(r)) or real(X, r))
    sag.tl.explain(query, model, cells=list(query.obs_names[:12]), **FAST)
    assert query.uns["sag_shap"]["params"]["groupby"] == "predicted class"
    # the 12 cells (grouped, then explained in one or two passes) and the background
    assert sum(read) <= 3 * 12 + FAST["n_background"] < query.n_obs


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_explain_on_gpu_matches_cpu(syn, tmp_path):
    adata, model = syn
    sag.tl.explain(adata, model, **FAST)
    cpu = adata.varm["sag_shap"].copy()
    model.save(tmp_path / "m")
    on_gpu = sag.models.Classifier.load(tmp_path / "m", device="cuda")
    sag.tl.explain(adata, on_gpu, **FAST)
    assert adata.uns["sag_shap"]["params"]["device"].startswith("cuda")
    np.testing.assert_allclose(adata.varm["sag_shap"], cpu, rtol=1e-3, atol=1e-6)


# -- bad input ----------------------------------------------------------------------------------
def test_explain_untrained_model(adata):
    with pytest.raises(RuntimeError, match="not been trained"):
        sag.tl.explain(adata, sag.models.Classifier({"kind": "mlp", "units": [8]}))


def _never(*args, **kwargs):
    raise AssertionError("the matrix was read")


def test_explain_rejects_bad_arguments(syn, monkeypatch):
    adata, model = syn
    with pytest.raises(ValueError, match="method="):
        sag.tl.explain(adata, model, method="kernel")
    with pytest.raises(ValueError, match="nsamples=0"):
        sag.tl.explain(adata, model, nsamples=0)
    # None is "every cell" / "the default" for n_explain / n_background only; it crashed
    # after the SHAP values were computed for n_top, and inside numpy for nsamples
    varm_before = set(adata.varm)
    for name in ("n_top", "nsamples"):
        with pytest.raises(TypeError, match=rf"{name}=None must be a positive integer"):
            sag.tl.explain(adata, model, **{name: None})
    with pytest.raises(TypeError, match="n_explain='10' must be a positive integer"):
        sag.tl.explain(adata, model, n_explain="10")
    with pytest.raises(TypeError, match="return_values='no' must be True or False"):
        sag.tl.explain(adata, model, return_values="no")
    assert set(adata.varm) == varm_before
    # a split_key of no train/val/test value (the labels): refused, as classify refuses it
    with pytest.raises(ValueError, match=r"split_key='label' holds no 'train', 'val' or 'test'"):
        sag.tl.explain(adata, model, split_key="label")
    with pytest.raises(IndexError, match=r"outside 0\.\.\d+ \(or -\d+\.\.-1, from the end\)"):
        sag.tl.explain(adata, model, cells=[adata.n_obs])
    assert set(adata.varm) == varm_before
    # a groupby of no column, or of none of the model's classes: before the matrix is read
    with monkeypatch.context() as m:
        m.setattr(type(model), "_input", _never)
        with pytest.raises(KeyError, match="groupby="):
            sag.tl.explain(adata, model, groupby="nope")
        with pytest.raises(ValueError, match="predicted class"):
            sag.tl.explain(adata, model, groupby="sag_split")
    with pytest.raises(ValueError, match="view"):
        sag.tl.explain(adata[:50], model)
    with pytest.raises(TypeError, match="Classifier"):
        sag.tl.explain(adata, object())


def test_explain_refuses_a_varm_key_it_did_not_write(syn):
    """key_added='PCs' would replace scanpy's PCA loadings: refused before any work; an
    earlier explanation under the key is replaced."""
    adata, model = syn
    other = adata.copy()
    loadings = np.ones((other.n_vars, 3))
    other.varm["PCs"] = loadings
    with pytest.raises(
        ValueError, match=r"adata\.varm\['PCs'\] holds values without sag\.tl\.explain's"
    ):
        sag.tl.explain(other, model, key_added="PCs", **FAST)
    np.testing.assert_array_equal(other.varm["PCs"], loadings)
    assert "PCs" not in other.uns
    sag.tl.explain(other, model, key_added="mine", **FAST)
    sag.tl.explain(other, model, key_added="mine", **FAST)  # its own: replaced
    assert other.varm["mine"].shape == (other.n_vars, len(model.classes_) + 1)


def test_explain_gene_matching(syn, log_records):
    """Genes are matched by name as predict does; below the overlap minimum it is an error."""
    adata, model = syn
    # a query with 60% of the model's genes, shuffled, plus genes the model never saw
    rng = np.random.default_rng(0)
    keep = rng.permutation(adata.n_vars)[:120]
    names = [*adata.var_names[keep], *(f"other_{i}" for i in range(5))]
    X = sparse.hstack([adata.X[:, keep], sparse.csr_matrix(np.ones((adata.n_obs, 5)))]).tocsr()
    query = ad.AnnData(X=X.astype(np.float32), obs=adata.obs.copy())
    query.var_names = names
    query.uns["sag"] = adata.uns["sag"]
    sag.tl.explain(query, model, **FAST)
    table = query.varm["sag_shap"]
    assert np.isnan(table[-5:]).all()  # genes the model does not know
    assert np.isfinite(table[:120]).all()
    assert set(np.asarray(query.uns["sag_shap"]["top_genes"]).ravel()) <= set(query.var_names[:120])
    assert "missing from adata (set to their training mean)" in log_records.text
    # a missing gene takes its training mean on the model's scale, as in predict: every block
    # of model rows explain reads (cells and background) holds it
    from scautogenome.data import MissingGenes

    seen = []
    real = MissingGenes.__call__

    def spy(self, x):
        out = real(self, x)
        seen.append(np.array(out))
        return out

    lacking = np.setdiff1d(np.arange(adata.n_vars), keep)
    fill = model.transform_.fill_values()[lacking]
    MissingGenes.__call__ = spy
    try:
        sag.tl.explain(query, model, key_added="again", **FAST)
    finally:
        MissingGenes.__call__ = real
    assert seen
    for block in seen:
        np.testing.assert_array_equal(
            block[:, lacking], np.broadcast_to(fill, (len(block), fill.size))
        )
    with pytest.raises(ValueError, match="min_gene_overlap"):
        sag.tl.explain(query, model, min_gene_overlap=0.9)
    other = adata.copy()
    other.var_names = [f"ENSG{i}" for i in range(adata.n_vars)]
    with pytest.raises(ValueError, match="no gene"):
        sag.tl.explain(other, model)


def test_explain_clamps_background(syn, log_records):
    adata, model = syn
    n_train = int((adata.obs["sag_split"] == "train").sum())
    sag.tl.explain(adata, model, n_background=10_000, n_explain=5, nsamples=5)
    assert adata.uns["sag_shap"]["params"]["n_background"] == n_train
    assert "n_background=10000 is more than" in log_records.text
    # the default (100) takes all the training cells of a small dataset without a warning
    small = adata[:120].copy()
    n_train = int((small.obs["sag_split"] == "train").sum())
    assert n_train < 100
    log_records.clear()
    sag.tl.explain(small, model, n_explain=5, nsamples=5)
    assert small.uns["sag_shap"]["params"]["n_background"] == n_train
    assert "is more than" not in log_records.text
    sag.tl.explain(small, model, n_background=100, n_explain=5, nsamples=5)
    assert f"n_background=100 is more than the {n_train} training cells" in log_records.text


def test_explain_warns_when_the_background_overlaps_the_explained_cells(syn, log_records):
    """A subset of held-out cells has a split column but no training cell: the background is
    drawn from the explained cells' pool, and the warning says so (not 'no split')."""
    adata, model = syn
    held_out = adata[adata.obs["sag_split"] == "test"].copy()
    sag.tl.explain(held_out, model, **FAST)
    assert held_out.uns["sag_shap"]["params"]["background_from"] == "all"
    warned = [r.getMessage() for r in log_records.records if r.levelno == logging.WARNING]
    assert any(
        "obs['sag_split'] has no 'train' cell" in m and "overlaps the explained cells" in m
        for m in warned
    ), warned
    assert "no obs['sag_split'] split" not in log_records.text


# -- real biology -------------------------------------------------------------------------------
def test_explain_pbmc_markers(pbmc_fit):
    """Top-10 genes of well-known PBMC classes hold textbook markers."""
    adata, model = pbmc_fit
    sag.tl.explain(adata, model, cells="all", n_explain=300, nsamples=100)
    u = adata.uns["sag_shap"]
    columns = list(u["columns"])
    for cls, markers in MARKERS.items():
        top10 = set(u["top_genes"][columns.index(cls)][:10])
        assert markers & top10, (cls, sorted(top10))


@pytest.mark.slow
@pytest.mark.shared_data
def test_explain_pbmc3k_markers():
    """Raw counts, all expressed genes, Seurat's labels: markers lead their classes."""
    import scanpy as sc

    path = SHARED / "pbmc3k_10x_seurat_labels.h5ad"
    if not path.exists():
        pytest.skip(f"{path} not available")
    _quiet()
    adata = ad.read_h5ad(path)
    sc.pp.filter_genes(adata, min_cells=3)
    model = sag.tl.classify(adata, "label", mode="mlp", config=MINI, seed=0)
    sag.tl.explain(adata, model, nsamples=100)
    u = adata.uns["sag_shap"]
    columns = list(u["columns"])
    expected = {
        "B": {"CD79A", "MS4A1"},
        "NK": {"GNLY", "NKG7"},
        "CD14+ Mono": {"CD14", "LYZ", "S100A8", "S100A9"},
    }
    for cls, markers in expected.items():
        top10 = set(u["top_genes"][columns.index(cls)][:10])
        assert markers & top10, (cls, sorted(top10))


def test_explain_progress_bar(syn, capsys):
    adata, model = syn
    sag.settings.verbosity = 2
    sag.settings.progress_bar = True
    sag.tl.explain(adata, model, **FAST)
    assert "explain (fast)" in capsys.readouterr().err
    sag.settings.progress_bar = False
    sag.tl.explain(adata, model, **FAST)
    assert "explain (fast)" not in capsys.readouterr().err


def test_explain_uses_the_layer_classify_trained_on(log_records):
    """Counts in a layer, log-normalized values in X: explain(adata, model) explains the
    layer classify recorded, not X."""
    adata = sag.datasets.synthetic(n_obs=200, n_vars=50, n_classes=3, seed=0)
    adata.layers["counts"] = adata.X.copy()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    model = sag.tl.classify(adata, "label", mode="mlp", layer="counts", config=MINI, seed=0)
    sag.tl.explain(adata, model, n_explain=20, n_background=10, nsamples=10, seed=0)
    assert adata.uns["sag_shap"]["params"]["layer"] == "counts"
    assert "the layer classify trained on" in log_records.text
    on_counts = adata.varm["sag_shap"].copy()
    sag.tl.explain(adata, model, n_explain=20, n_background=10, nsamples=10, seed=0, layer="counts")
    np.testing.assert_array_equal(adata.varm["sag_shap"], on_counts)
    # without a classify record, the layer the model itself was trained on (and it is recorded)
    fresh = ad.AnnData(
        adata.X.copy(),
        obs=adata.obs[["label"]].copy(),
        var=adata.var[[]].copy(),
        layers={"counts": adata.layers["counts"]},
    )
    kw = {"n_explain": 20, "n_background": 10, "nsamples": 10, "seed": 0}
    sag.tl.explain(fresh, model, **kw)
    assert fresh.uns["sag_shap"]["params"]["layer"] == "counts"
    assert "the layer the model was trained on" in log_records.text
    by_default = fresh.varm["sag_shap"].copy()
    sag.tl.explain(fresh, model, layer="counts", **kw)
    np.testing.assert_array_equal(fresh.varm["sag_shap"], by_default)
    # an AnnData without the layer: X, recorded as such, with one warning
    del fresh.layers["counts"]
    log_records.clear()
    sag.tl.explain(fresh, model, **kw)
    assert fresh.uns["sag_shap"]["params"]["layer"] == "None"
    assert log_records.text.count("which this AnnData lacks") == 1


def test_explain_finds_the_classify_run_of_its_model_under_any_key(log_records):
    """A run under key_added='ct' gives explain its layer, labels and split; another run's
    record under 'sag' is not borrowed, and a model without a run uses X, its predictions and
    all cells."""
    adata = sag.datasets.synthetic(n_obs=200, n_vars=50, n_classes=3, seed=0)
    adata.layers["counts"] = adata.X.copy()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    other = sag.tl.classify(adata, "label", mode="mlp", config=MINI, seed=1)  # uns['sag']
    model = sag.tl.classify(
        adata, "label", mode="mlp", layer="counts", key_added="ct", config=MINI, seed=0
    )
    kw = {"n_explain": 20, "n_background": 10, "nsamples": 10, "seed": 0}
    sag.tl.explain(adata, model, **kw)
    params = adata.uns["sag_shap"]["params"]
    assert params["classify_key"] == "ct"
    assert params["layer"] == "counts"
    assert params["groupby"] == "label"
    assert params["split_key"] == "ct_split"
    assert set(adata.obs.loc[adata.uns["sag_shap"]["cells"], "ct_split"]) == {"test"}
    # the 'sag' run's own model still finds its own record
    sag.tl.explain(adata, other, **kw)
    assert adata.uns["sag_shap"]["params"]["classify_key"] == "sag"
    assert adata.uns["sag_shap"]["params"]["layer"] == "None"
    # a model no run of this AnnData trained: nothing is borrowed, and the user is told
    fitted = sag.models.Classifier({"kind": "mlp", "units": [16]}, {"max_epochs": 2}).fit(
        adata, "label", seed=0
    )
    sag.tl.explain(adata, fitted, **kw)
    params = adata.uns["sag_shap"]["params"]
    assert params["split_key"] == "None"
    assert params["groupby"] == "predicted class"
    assert "records another model" in log_records.text
    with pytest.raises(KeyError, match=r"not the record of a sag\.tl\.classify run"):
        sag.tl.explain(adata, model, classify_key="sag_shap", **kw)


def test_explain_asked_for_val_or_train_cells_without_a_split_fails(syn):
    adata, model = syn
    bare = adata.copy()
    del bare.uns["sag"]
    with pytest.raises(ValueError, match="cells='val' needs a train/val/test split"):
        sag.tl.explain(bare, model, cells="val", **FAST)
    sag.tl.explain(bare, model, cells="test", **FAST)  # the default falls back to all cells
    assert bare.uns["sag_shap"]["params"]["split_key"] == "None"
    # a split without the part asked for: the same
    bare.obs["two"] = np.where(np.arange(bare.n_obs) % 3 == 0, "test", "train")
    with pytest.raises(
        ValueError,
        match=r"cells='val': obs\['two'\] has no 'val' cell \(its parts: 'test', 'train'\)",
    ):
        sag.tl.explain(bare, model, cells="val", split_key="two", **FAST)
    assert bare.uns["sag_shap"]["params"]["split_key"] == "None"  # the earlier call's, kept


def test_a_class_named_overall_keeps_its_column(tmp_path, log_records):
    """A class named "overall" is a column of its own: the mean over the classes is named
    "overall (all classes)" (with a warning), and shap_df, the plots and the report read both,
    also after a round trip through h5ad."""
    _quiet()
    adata = sag.datasets.synthetic(n_obs=240, n_vars=60, n_classes=3, seed=0)
    adata.obs["label"] = adata.obs["label"].cat.rename_categories({"type_0": "overall"})
    config = {"budget": {"n_trials": 1, "time_budget": None}, "trainer": {"max_epochs": 3}}
    model = sag.tl.classify(adata, "label", mode="mlp", config=config, seed=0)
    sag.tl.explain(adata, model, **FAST)
    assert "the column of the mean over the classes is named 'overall (all classes)'" in (
        log_records.text
    )
    adata.write_h5ad(tmp_path / "o.h5ad")
    back = ad.read_h5ad(tmp_path / "o.h5ad")
    classes = [str(c) for c in back.uns["sag_shap"]["classes"]]
    columns = [*classes, "overall (all classes)"]
    assert list(back.uns["sag_shap"]["columns"]) == columns
    wide = sag.get.shap_df(back)
    assert list(wide.columns) == columns
    assert wide["overall (all classes)"].dropna().is_monotonic_decreasing
    table = np.asarray(back.varm["sag_shap"])
    i = classes.index("overall")
    own = sag.get.shap_df(back, "overall")
    assert own["scores"].tolist() == sorted(table[:, i][np.isfinite(table[:, i])], reverse=True)
    mean = sag.get.shap_df(back, "overall (all classes)")
    assert mean["scores"].iloc[0] == pytest.approx(np.nanmax(table[:, -1]))
    # the plots find the class and the mean over the classes by their names
    sag.pl.importance(back, "overall", show=False)
    sag.pl.shap_summary(back, "overall (all classes)", show=False)
    # with no group, the summary is the whole model's view: the mean over the classes
    ax = sag.pl.shap_summary(back, show=False)
    assert ax.get_title().startswith("overall (all classes)")
    shown = [t.get_text() for t in ax.get_yticklabels()]
    assert set(shown) == set(np.asarray(back.uns["sag_shap"]["top_genes"][-1])[: len(shown)])
    page = sag.io.write_report(back, tmp_path / "o.html").read_text()
    genes = page.split("Genes that drive each class", 1)[1]  # the explanation's table
    assert genes.count('<td class="l">overall</td>') == 1
    assert genes.count('<td class="l">overall (all classes)</td>') == 1
    assert "could not be drawn" not in page


def test_explaining_all_cells_says_which_have_no_class(syn, log_records):
    """An AutoGenome project whose test samples are unlabelled: the split has no 'test' cell,
    the fallback draws from all cells, and the log says that the unlabelled ones are not
    explained (grouped by the run's labels they have no class) and how to group them."""
    adata, model = syn
    adata = adata.copy()
    unlabelled = np.arange(adata.n_obs) >= 260  # the "test file": no labels, split "none"
    adata.obs["label"] = adata.obs["label"].astype(object).where(~unlabelled, None)
    split = adata.obs["sag_split"].astype(str).replace("test", "train").to_numpy(copy=True)
    split[unlabelled] = "none"
    adata.obs["sag_split"] = split
    sag.tl.explain(adata, model, n_explain=None, nsamples=10, n_background=20)
    assert "obs['sag_split'] has no 'test' cell; explaining cells drawn from all cells." in (
        log_records.text
    )
    assert (
        f"40 of the {adata.n_obs} cells selected have no class of the model in obs['label'] "
        "(no label, or a class not trained on) and are not explained; sag.tl.explain(..., "
        "groupby='sag_pred') groups cells by their predicted class." in log_records.text
    )
    assert f"explain: {adata.n_obs - 40} cells (3 classes present)" in log_records.text
    assert not set(adata.uns["sag_shap"]["cells"]) & set(adata.obs_names[unlabelled])
    log_records.clear()
    sag.tl.explain(adata, model, groupby="sag_pred", n_explain=None, nsamples=10, n_background=20)
    assert "not explained" not in log_records.text
    assert set(adata.obs_names[unlabelled]) <= set(adata.uns["sag_shap"]["cells"])


def test_equal_scores_rank_alike_in_top_genes_and_shap_df(syn):
    """Genes of equal score (those of one value in every cell score exactly 0) are ranked in
    the data's gene order in uns[key]['top_genes'], as sag.get.shap_df ranks them, also when
    the data orders its genes otherwise than the model."""
    adata, model = syn
    query = adata[:, ::-1].copy()  # the model's genes, reversed
    X = query.X.toarray()
    X[:, 50:90] = 0  # 40 genes of one value: SHAP 0 for each, a tie
    query.X = sparse.csr_matrix(X)
    query.uns["sag"] = adata.uns["sag"]
    sag.tl.explain(query, model, n_top=query.n_vars, **FAST)
    uns = query.uns["sag_shap"]
    for i, column in enumerate(uns["columns"]):
        top = list(uns["top_genes"][i])
        shown = sag.get.shap_df(query, None if column == "overall" else column)
        names = shown.index if column == "overall" else shown["names"]
        if column == "overall":
            shown = shown.sort_values("overall", ascending=False, kind="stable")
            names = shown.index
        assert (np.asarray(uns["top_scores"][i]) == 0).sum() >= 40
        assert top == list(names), column


def test_groups_read_whole_numbers_as_the_models_classes_name_them():
    """A label column made float by a missing value (1.0) groups the cells of a model whose
    classes are the integers' text ('1'), and integers those of a model trained on such a
    float column ('1.0'), as sag.pl.confusion_matrix matches them."""
    from types import SimpleNamespace

    from scautogenome.tools._explain import _column_codes, _groups

    a = ad.AnnData(np.zeros((4, 2), dtype=np.float32))
    a.obs["f"] = [1.0, 2.0, np.nan, 3.0]
    a.obs["i"] = pd.array([1, 2, None, 3], dtype="Int64")
    rows = np.arange(4)
    for classes, column in ((["1", "2", "3"], "f"), (["1.0", "2.0", "3.0"], "i")):
        model = SimpleNamespace(classes_=np.array(classes))
        codes = _column_codes(a, model, column)
        assert codes.tolist() == [0, 1, -1, 2]
        codes, source = _groups(a, model, column, codes, None, {}, rows)
        assert codes.tolist() == [0, 1, -1, 2]
        assert source == column
        # and as the labels of the record's classify run (groupby=None)
        record = {"params": {"labels_key": column}}
        codes, source = _groups(a, model, None, None, None, record, rows)
        assert codes.tolist() == [0, 1, -1, 2]


def test_explain_reads_a_gene_subset_query_at_its_cells_depth(syn, monkeypatch):
    """A counts query lacking genes: explain's model input divides each cell's total by the
    present genes' share of the training counts, as predict does."""
    from scautogenome.data import InputTransform

    adata, model = syn
    query = adata[:, 40:].copy()  # 40 model genes missing
    query.uns["sag"] = adata.uns["sag"]
    seen = []
    real = InputTransform.apply

    def spy(self, block, coverage=1.0):
        seen.append(coverage)
        return real(self, block, coverage)

    monkeypatch.setattr(InputTransform, "apply", spy)
    sag.tl.explain(query, model, **FAST)
    expected = model.transform_.coverage(np.arange(40))
    assert 0.0 < expected < 1.0
    assert seen
    assert set(seen) == {expected}


def test_grouping_many_cells_by_their_predicted_class_shows_a_bar(syn, monkeypatch):
    """Cells without a classify record are grouped by a forward pass over every candidate
    cell: from INFERENCE_BAR_ROWS cells on it goes through a bar, as predict's does."""
    from scautogenome import _logging

    adata, model = syn
    query = ad.AnnData(adata.X.copy(), obs=adata.obs.copy(), var=adata.var[[]].copy())
    bars = []
    real = _logging.progress
    monkeypatch.setattr(
        _logging, "progress", lambda total, desc, **kw: bars.append(desc) or real(total, desc, **kw)
    )
    monkeypatch.setattr(_logging, "INFERENCE_BAR_ROWS", query.n_obs)
    sag.tl.explain(query, model, **FAST)
    assert f"grouping by predicted class: {query.n_obs:,} cells" in bars


def test_explain_cells_none_is_the_default_and_positions_must_be_integers(syn, monkeypatch):
    """cells=None failed deep inside pandas: it is the default, "test" (and recorded so);
    positions given as floats were read as cell names: refused before the matrix is read."""
    adata, model = syn
    default, none = adata.copy(), adata.copy()
    sag.tl.explain(default, model, **FAST)
    sag.tl.explain(none, model, cells=None, **FAST)
    assert none.uns["sag_shap"]["params"]["cells"] == "test"
    assert list(none.uns["sag_shap"]["cells"]) == list(default.uns["sag_shap"]["cells"])
    np.testing.assert_allclose(none.varm["sag_shap"], default.varm["sag_shap"])
    varm_before = set(adata.varm)
    with monkeypatch.context() as m:
        m.setattr(type(model), "_input", _never)
        for bad in (np.array([0.5, 1.5]), [0.5, 1.5], np.array([0.0, 1.0])):
            with pytest.raises(
                TypeError, match=r"^cells holds float64 numbers .*row positions must be integers"
            ):
                sag.tl.explain(adata, model, cells=bad, **FAST)
    assert set(adata.varm) == varm_before


def test_an_explanation_stopped_before_its_record_writes_nothing(syn, monkeypatch):
    """Interrupted while its uns record is built (after the SHAP values), explain leaves the
    earlier explanation as it was: varm and uns of one call, never the values of one beside the
    record of the other."""
    adata, model = syn
    adata = adata.copy()
    sag.tl.explain(adata, model, **FAST)
    before_varm = adata.varm["sag_shap"].copy()
    before_seed = adata.uns["sag_shap"]["params"]["seed"]

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    from scautogenome.tools import _explain

    monkeypatch.setattr(_explain, "h5ad_safe", interrupted)  # as the record is made safe
    with pytest.raises(KeyboardInterrupt):
        sag.tl.explain(adata, model, **{**FAST, "seed": before_seed + 1})
    np.testing.assert_array_equal(adata.varm["sag_shap"], before_varm)
    assert adata.uns["sag_shap"]["params"]["seed"] == before_seed


def test_a_labels_column_renamed_since_classify_is_said_when_cells_are_grouped_by_prediction(
    syn, log_records
):
    """The classify run's labels column renamed, or its classes renamed, since classify:
    explain groups the cells by their predicted class, and says so with a warning."""
    adata, model = syn
    renamed = adata.copy()
    renamed.obs["label"] = renamed.obs["label"].cat.rename_categories(str.upper)
    sag.tl.explain(renamed, model, **FAST)
    assert renamed.uns["sag_shap"]["params"]["groupby"] == "predicted class"
    said = " ".join(log_records.text.split())
    assert "none of the values of obs['label'] is one of the model's classes" in said
    assert "grouped by their predicted class" in said
    log_records.clear()
    moved = adata.copy()
    moved.obs = moved.obs.rename(columns={"label": "cell_type"})
    sag.tl.explain(moved, model, **FAST)
    said = " ".join(log_records.text.split())
    assert "obs has no column 'label'" in said
    assert "grouped by their predicted class" in said
    warned = [r for r in log_records.records if r.levelname == "WARNING"]
    assert any("predicted class" in r.getMessage() for r in warned)
    # a record without the labels of a classify run (a query's): as before, no warning
    log_records.clear()
    fresh = adata.copy()
    del fresh.uns["sag"], fresh.obs["sag_split"]
    sag.tl.explain(fresh, model, **FAST)
    assert "grouped by their predicted class" not in log_records.text


# -- pins from mutation testing: behaviour of class_importance that no test held ------------
def _tiny_engine(n_genes: int = 12, n_classes: int = 3, n_cells: int = 9):
    """An ExpectedGradients engine of a fixed random linear-ReLU network, its rows and their
    background."""
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(n_genes, 8), torch.nn.ReLU(), torch.nn.Linear(8, n_classes)
    ).eval()
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (n_cells, n_genes)).astype(np.float32)
    bg = rng.uniform(0, 1, (6, n_genes)).astype(np.float32)
    engine = ExpectedGradients(module, bg, sample_draws(n_cells, 6, 16, seed=0))
    return engine, (lambda cells: X[cells]), X


def test_class_importance_second_pass_keeps_the_top_genes_expression():
    """Without keep_values, the expression of each class's top genes (the colour of the SHAP
    summary) is each cell's value of that gene, as with keep_values."""
    engine, rows, X = _tiny_engine()
    codes = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    res = class_importance(engine, rows, codes, n_top=4)
    kept = class_importance(engine, rows, codes, n_top=4, keep_values=True)
    for c in range(3):
        np.testing.assert_array_equal(res.top_expression[c], X[:, res.top[c]])
    np.testing.assert_allclose(res.top_expression, kept.top_expression)
    np.testing.assert_allclose(res.top_values, kept.top_values, rtol=1e-5, atol=1e-7)


def test_class_importance_ranks_only_eligible_genes_and_averages_present_classes():
    """A gene the query lacks is never ranked; 'overall' is the mean over the classes with
    an explained cell (not shrunk by the others)."""
    engine, rows, _ = _tiny_engine()
    codes = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1])  # class 2 has no explained cell
    res = class_importance(engine, rows, codes, n_top=5)
    np.testing.assert_allclose(res.overall, np.nanmean(res.importance[:, :2], 1), rtol=1e-6)
    best = int(np.argmax(res.importance[:, 0]))
    eligible = np.ones(12, bool)
    eligible[best] = False
    res = class_importance(engine, rows, codes, n_top=12, eligible_genes=eligible)
    assert best not in res.top
    assert ((res.top >= 0).sum(1) <= eligible.sum()).all()


# -- pins from mutation testing (stop 59) -----------------------------------------------------
def test_stratified_cells_gives_no_spare_slot_to_a_class_already_whole_and_sorts():
    """A slot left over goes to a class with a cell to spare, never to one already taken
    whole (which has none left); the positions come back in the data's order."""
    codes = np.array([0] * 500 + [1] * 5 + [2] * 40)
    for seed in range(20):
        picked = stratified_cells(codes, 16, np.random.default_rng(seed))  # q = 5, one slot left
        assert len(np.unique(picked)) == 16
        assert np.bincount(codes[picked], minlength=3)[1] == 5
        assert np.array_equal(picked, np.sort(picked))
    shuffled = np.random.default_rng(0).permutation(codes)
    picked = stratified_cells(shuffled, 46, np.random.default_rng(0))
    assert np.all(np.diff(picked) > 0)


def test_engine_inputs_that_do_not_fit_are_refused_when_it_is_built():
    """Draws of rows and alphas of different shapes, a draw past the background's end and an
    unknown path are refused up front, not deep inside torch."""
    engine, _, _ = _tiny_engine()
    bg = engine.bg.numpy()  # 6 rows
    with pytest.raises(ValueError, match="one 2-d shape"):
        Draws(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="one 2-d shape"):
        Draws(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="background row 6 of 6"):
        ExpectedGradients(engine.module, bg, Draws(np.full((2, 3), 6), np.zeros((2, 3))))
    with pytest.raises(ValueError, match="path='fastest'"):
        ExpectedGradients(engine.module, bg, sample_draws(2, 6, 3, seed=0), path="fastest")


def test_sample_draws_reach_every_background_row():
    draws = sample_draws(40, 3, 25, seed=0)
    assert draws.rows.shape == draws.alphas.shape == (40, 25)
    assert set(np.unique(draws.rows)) == {0, 1, 2}
    assert ((draws.alphas >= 0) & (draws.alphas < 1)).all()


def test_base_values_are_the_mean_logits_over_the_whole_background():
    engine, rows, _ = _tiny_engine()
    with torch.no_grad():
        want = engine.module(engine.bg).mean(0).numpy()
    np.testing.assert_allclose(engine.base_values, want, rtol=1e-6)
    res = class_importance(engine, rows, np.repeat(np.arange(3), 3), n_top=3)
    np.testing.assert_allclose(res.base_values, want, rtol=1e-6)


class _Squared(torch.nn.Module):
    def forward(self, x):
        return x * x


def test_a_network_not_reading_its_input_through_one_linear_takes_the_generic_path():
    """A first layer that is not an nn.Linear (here x -> x**2 before it): the structured path
    would give other numbers, so "auto" takes the generic one and "structured" is refused."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        _Squared(), torch.nn.Linear(12, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)
    ).eval()
    bg = np.random.default_rng(0).uniform(0, 1, (6, 12)).astype(np.float32)
    draws = sample_draws(4, 6, 8, seed=0)
    assert ExpectedGradients(net, bg, draws).path == "generic"
    with pytest.raises(ValueError, match=r"reads its input through one nn\.Linear"):
        ExpectedGradients(net, bg, draws, path="structured")


@pytest.mark.parametrize("path", ["structured", "generic"])
def test_a_chunk_of_cells_stays_within_the_float_budget(path):
    """cells_per_chunk sizes a chunk so that its SHAP values alone (cells x genes x classes)
    fit the float budget, on both paths."""
    engine, _, _ = _tiny_engine()
    budget = 3000
    small = ExpectedGradients(
        engine.module, engine.bg.numpy(), engine.draws, path=path, max_floats=budget
    )
    n = small.cells_per_chunk()
    assert n >= 1
    assert n * small.n_genes * small.n_classes <= budget


def test_shap_engine_seeds_each_chunk_by_its_first_cell():
    """Chunks of cells get their own draws (seed + the chunk's first cell), the draws
    shap_draws makes: two chunks of one row are explained with different draws."""
    torch.manual_seed(0)
    net = build_network({"kind": "mlp", "units": [8], "n_inputs": 20, "n_outputs": 3}).eval()
    rng = np.random.default_rng(0)
    bg, x = rng.random((6, 20), dtype=np.float32), rng.random((4, 20), dtype=np.float32)
    engine = ShapGradient(net, bg, nsamples=8, seed=3)
    later = engine.attributions(x, np.arange(10, 14))
    fast = ExpectedGradients(net, bg, shap_draws(4, 6, 8, rseed=13)).attributions(x, np.arange(4))
    np.testing.assert_allclose(later, fast, atol=1e-6 * np.abs(fast).max())
    assert not np.allclose(later, engine.attributions(x, np.arange(4)))


def test_class_importance_is_the_same_in_chunks_of_two_cells():
    """Cells of interleaved classes explained two at a time: the same importance, ranking,
    per-cell values and expression as in one chunk, with or without keep_values."""
    engine, rows, _ = _tiny_engine()
    small = ExpectedGradients(engine.module, engine.bg.numpy(), engine.draws, max_floats=900)
    assert small.cells_per_chunk() == 2
    codes = np.array([2, 0, 1, 0, 2, 1, 1, 0, 2])
    for keep in (False, True):
        whole = class_importance(engine, rows, codes, n_top=4, keep_values=keep)
        parts = class_importance(small, rows, codes, n_top=4, keep_values=keep)
        np.testing.assert_allclose(parts.importance, whole.importance, rtol=1e-5)
        np.testing.assert_array_equal(parts.top, whole.top)
        for name in ("top_values", "overall_values", "top_expression", "overall_expression"):
            np.testing.assert_allclose(getattr(parts, name), getattr(whole, name), atol=1e-6)
        if keep:
            np.testing.assert_allclose(parts.values, whole.values, atol=1e-6)


def test_class_importance_overall_expression_is_each_cells_value_of_the_overall_top_genes():
    engine, rows, X = _tiny_engine()
    codes = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    for keep in (False, True):
        res = class_importance(engine, rows, codes, n_top=4, keep_values=keep)
        np.testing.assert_array_equal(res.overall_expression, X[:, res.top[-1]])


def test_class_importance_of_a_class_without_cells_has_no_values_and_no_expression():
    """A class with no explained cell has no ranking: its per-cell values and expression are
    NaN (not 0, which a summary plot would draw)."""
    engine, rows, _ = _tiny_engine()
    codes = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1])
    for keep in (False, True):
        res = class_importance(engine, rows, codes, n_top=4, keep_values=keep)
        assert (res.top[2] == -1).all()
        assert np.isnan(res.top_values[2]).all()
        assert np.isnan(res.top_expression[2]).all()
        assert np.isfinite(res.top_expression[:2]).all()


def test_the_overall_column_is_named_apart_from_every_class():
    from scautogenome.tools._explain import overall_column

    assert overall_column(["a", "b"]) == "overall"
    assert overall_column(["overall", "b"]) == "overall (all classes)"
    both = ["overall (all classes)", "overall"]
    assert overall_column(both) == "overall (all classes) (all classes)"


def test_cells_given_by_negative_positions_count_from_the_end(syn):
    adata, model = syn
    n = adata.n_obs
    sag.tl.explain(adata, model, cells=[0, -1, n - 1], **FAST)
    assert list(adata.uns["sag_shap"]["cells"]) == [adata.obs_names[0], adata.obs_names[-1]]
    with pytest.raises(IndexError, match="outside"):
        sag.tl.explain(adata, model, cells=[-n - 1], **FAST)


def test_the_datas_gene_order_does_not_change_the_explanation(syn):
    """The model's genes in another order in the data: each gene's scores, values and rank are
    those of the same gene in the model's order."""
    adata, model = syn
    ref = adata.copy()
    vals = sag.tl.explain(ref, model, return_values=True, **FAST)
    query = adata[:, ::-1].copy()
    query.uns["sag"] = adata.uns["sag"]
    vals_q = sag.tl.explain(query, model, return_values=True, **FAST)
    np.testing.assert_allclose(query.varm["sag_shap"][::-1], ref.varm["sag_shap"], rtol=1e-5)
    np.testing.assert_allclose(vals_q[:, ::-1], vals, rtol=1e-5, atol=1e-8)
    np.testing.assert_array_equal(
        query.uns["sag_shap"]["top_genes"][:, :10], ref.uns["sag_shap"]["top_genes"][:, :10]
    )


def test_n_top_beyond_the_genes_records_the_genes_ranked(syn):
    adata, model = syn
    sag.tl.explain(adata, model, n_top=1000, **FAST)
    u = adata.uns["sag_shap"]
    assert u["top_genes"].shape == (len(model.classes_) + 1, adata.n_vars)
    assert u["params"]["n_top"] == adata.n_vars


def test_return_values_are_kept_when_they_exceed_the_float_budget(syn, monkeypatch):
    adata, model = syn
    vals = sag.tl.explain(adata, model, return_values=True, **FAST)
    monkeypatch.setattr("scautogenome.explain.MAX_FLOATS", 10)
    again = sag.tl.explain(adata, model, return_values=True, **FAST)
    np.testing.assert_allclose(again, vals, atol=1e-6)


def test_a_split_key_with_other_values_beside_its_parts_is_used(syn):
    """split_key= naming a column of train/val/test plus cells of no part (unlabelled
    samples, say) is a split: its training cells are the background."""
    adata, model = syn
    adata = adata.copy()
    part = adata.obs["sag_split"].astype(str).to_numpy(copy=True)
    part[::7] = "unused"
    adata.obs["part"] = part
    sag.tl.explain(adata, model, split_key="part", **FAST)
    u = adata.uns["sag_shap"]
    assert u["params"]["split_key"] == "part"
    assert set(u["background_cells"]) <= set(adata.obs_names[part == "train"])
    assert set(u["cells"]) <= set(adata.obs_names[part == "test"])


def test_a_split_column_dropped_since_classify_is_said_as_no_split(syn, log_records):
    """The record names a split whose column is gone: the background comes from all cells,
    said as "no split" (not as a split without training cells)."""
    adata, model = syn
    bare = adata.copy()
    del bare.obs["sag_split"]
    sag.tl.explain(bare, model, **FAST)
    assert bare.uns["sag_shap"]["params"]["background_from"] == "all"
    said = " ".join(log_records.text.split())
    assert "no obs['sag_split'] split; background drawn from all of its cells" in said
    assert "has no 'train' cell" not in said


def test_cells_without_labels_are_grouped_by_their_predicted_class(syn):
    adata, model = syn
    fresh = adata.copy()
    del fresh.uns["sag"], fresh.obs["sag_split"]
    sag.tl.explain(fresh, model, **FAST)
    u = fresh.uns["sag_shap"]
    assert u["params"]["groupby"] == "predicted class"
    cells = fresh.obs_names.get_indexer(u["cells"])
    with torch.no_grad():
        x = torch.from_numpy(model.transform_.apply(fresh.X[cells].toarray()))
        predicted = model.module_(x).argmax(1).numpy()
    assert list(u["cell_groups"]) == list(model.classes_[predicted])


def test_shap_engine_reads_the_cells_x_genes_values_of_a_network_of_one_output():
    """A shap that returns a network of one output's values as cells x genes (no class axis):
    the same values as cells x genes x 1."""
    engine, x, ref = _small_shap_engine(n_outputs=1)
    assert ref.shape == (4, 20, 1)
    real = engine.explainer.shap_values
    engine.explainer.shap_values = lambda *a, **k: np.asarray(real(*a, **k)).reshape(4, 20)
    np.testing.assert_array_equal(engine.attributions(x, np.arange(4)), ref)


def test_n_explain_above_its_default_explains_that_many_cells():
    adata = sag.datasets.synthetic(n_obs=560, n_vars=20, n_markers=3, seed=0)
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0)
    sag.tl.explain(adata, model, cells="all", n_explain=550, nsamples=2, n_background=5)
    assert len(adata.uns["sag_shap"]["cells"]) == 550


def test_cells_named_but_not_in_the_data_are_refused(syn):
    adata, model = syn
    with pytest.raises(KeyError, match=r"cells names \['nope'\]"):
        sag.tl.explain(adata, model, cells=["nope", adata.obs_names[0]], **FAST)
