"""Static typing checked against behaviour: the annotations of the public API (what a user's
IDE and type checker read) pinned to what the functions accept and return on tiny runs, and
the defects that mypy/pyright pointed to, shown through the public API.

The annotations are strings (``from __future__ import annotations``); :func:`_hint` evaluates
one in its module's namespace plus the names imported only for type checking, and
:func:`_conforms` tells whether a value is of that type (unions, ``None``, ``Literal``,
generic containers, the numeric tower's int-for-float)."""

from __future__ import annotations

import collections.abc
import inspect
import os
import sys
import types
import typing
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from anndata import AnnData
from matplotlib.axes import Axes
from matplotlib.figure import Figure

import scautogenome as sag

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MINI = {
    "budget": {"n_trials": 1, "time_budget": None},
    "trainer": {"max_epochs": 3, "patience": 2, "min_epochs": 1},
    "space": {
        "mlp": {"n_layers": [1], "units": [16]},
        "common": {"batch_size": [32], "lr": {"type": "float", "low": 1e-3, "high": 5e-3}},
    },
}
ARCH = {"kind": "mlp", "n_inputs": 50, "n_outputs": 3, "units": [32, 16]}


# -- evaluating and checking annotations ----------------------------------------------------------
def _namespace(func) -> dict:
    """The names an annotation of ``func`` may use: its module's, and those its module imports
    only under TYPE_CHECKING."""
    from scautogenome.models import Classifier, Regressor, ResVAE

    module = sys.modules[getattr(func, "__module__", "scautogenome")]
    return {
        **vars(typing),
        "np": np,
        "pd": pd,
        "os": os,
        "Path": Path,
        "AnnData": AnnData,
        "Axes": Axes,
        "Figure": Figure,
        "Sequence": collections.abc.Sequence,
        "Mapping": collections.abc.Mapping,
        "Classifier": Classifier,
        "Regressor": Regressor,
        "ResVAE": ResVAE,
        **vars(module),
    }


def _hint(func, name: str = "return"):
    """The annotation of parameter ``name`` (or the return) of ``func``, evaluated."""
    if isinstance(func, property):
        func = func.fget
    raw = inspect.get_annotations(func)[name]
    return eval(raw, _namespace(func)) if isinstance(raw, str) else raw


def _conforms(value, hint) -> bool:
    """Whether ``value`` is of the type ``hint`` (as a static checker reads it)."""
    if hint is typing.Any:
        return True
    if hint is None or hint is type(None):
        return value is None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, a) for a in args)
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin is None:
        if hint is float:  # PEP 484: an int is accepted where a float is
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        if hint is int:
            return isinstance(value, int) and not isinstance(value, bool)
        return isinstance(value, hint) if isinstance(hint, type) else True
    if not isinstance(value, origin):
        return False
    if origin in (list, collections.abc.Sequence) and args:
        return all(_conforms(v, args[0]) for v in value)
    if origin in (dict, collections.abc.Mapping) and len(args) == 2:
        return all(_conforms(k, args[0]) and _conforms(v, args[1]) for k, v in value.items())
    if origin is tuple and args and args[-1] is not Ellipsis:
        return len(value) == len(args) and all(_conforms(v, a) for v, a in zip(value, args))
    return True


def test_the_conformance_helper_can_fail():
    """The helper the pins below rest on tells types apart (else every pin would pass)."""
    hint = _hint(sag.pl.importance)
    assert _conforms(None, hint)
    assert not _conforms("an axes", hint)
    assert not _conforms(1.5, _hint(sag.tl.embedding_scores))
    assert _conforms({"silhouette": 0.5, "n_cells": 3}, _hint(sag.tl.embedding_scores))
    assert not _conforms({"silhouette": "0.5"}, _hint(sag.tl.embedding_scores))
    assert not _conforms([1.5], _hint(sag.io.read_tcga, "sample_types"))
    assert _conforms(["01"], _hint(sag.io.read_tcga, "sample_types"))
    assert not _conforms("outer ", _hint(sag.io.read_tcga, "join"))
    assert _conforms(3, float)
    assert not _conforms(True, int)


# -- a tiny run that every plot and reader below reads ---------------------------------------------
@pytest.fixture(scope="module")
def run():
    """A classify (one short trial) and an explain of its test cells on 120 x 50 synthetic
    counts; the AnnData, the model and explain's returned values."""
    sag.settings.verbosity = 1
    sag.settings.progress_bar = False
    sag.settings.device = "cpu"
    adata = sag.datasets.synthetic(n_obs=120, n_vars=50, n_classes=3, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = sag.tl.classify(adata, "label", mode="mlp", config=MINI, seed=0)
        values = sag.tl.explain(
            adata, model, n_explain=15, nsamples=8, n_background=10, return_values=True
        )
    return adata, model, values


# -- pins: annotations that match behaviour ------------------------------------------------------
def test_tool_returns_match_their_annotations(run, tmp_path):
    adata, model, values = run
    assert _conforms(model, _hint(sag.tl.classify))
    assert isinstance(model, sag.models.Classifier)
    assert _conforms(values, _hint(sag.tl.explain))
    assert isinstance(values, np.ndarray)
    assert values.shape[1:] == (adata.n_vars, 3)
    query = adata.copy()
    assert sag.tl.predict(query, model, key_added="q") is None
    assert _conforms(None, _hint(sag.tl.predict))
    for func, out in (
        (sag.get.shap_df, sag.get.shap_df(adata)),
        (sag.get.metrics_df, sag.get.metrics_df(adata)),
    ):
        assert _conforms(out, _hint(func)), func.__name__
    for meth in ("predict", "predict_proba", "predict_log_proba", "decision_function"):
        assert _conforms(getattr(model, meth)(adata), _hint(getattr(type(model), meth))), meth
    assert _conforms(model.weights_digest(), _hint(type(model).weights_digest))
    assert _conforms(model.gene_overlap(adata.var_names, warn=False), _hint(model.gene_overlap))
    saved = model.save(str(tmp_path / "m"))  # a str in, a Path out (the annotation's)
    assert _conforms(saved, _hint(type(model).save))
    assert isinstance(saved, Path)
    loaded = sag.models.Classifier.load(str(saved))
    assert type(loaded) is sag.models.Classifier  # `-> _M`: the class it is called on
    report = sag.io.write_report(adata, str(tmp_path / "r.html"))
    assert isinstance(report, Path)
    assert _conforms(report, _hint(sag.io.write_report))


@pytest.mark.parametrize(
    "plot", ["importance", "shap_summary", "confusion_matrix", "search_history", "architecture"]
)
def test_plot_returns_match_their_annotation(run, plot):
    """``-> Axes | Figure | None``: the Axes with show=False, the Figure with return_fig=True,
    None once shown."""
    adata = run[0]
    func = getattr(sag.pl, plot)
    hint = _hint(func)
    shown_off = func(adata, show=False)
    fig = func(adata, return_fig=True)
    shown = func(adata, show=True)
    assert isinstance(shown_off, Axes)
    assert _conforms(shown_off, hint)
    assert isinstance(fig, Figure)
    assert _conforms(fig, hint)
    assert shown is None
    assert _conforms(shown, hint)


def test_embedding_scores_match_their_annotation(run):
    """``-> dict[str, float | int]``: every score a number (no numpy array, no str)."""
    adata = run[0].copy()
    adata.obsm["X_rand"] = np.random.default_rng(0).normal(size=(adata.n_obs, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = sag.tl.embedding_scores(adata, "X_rand", "label", tsne=False, seed=0)
    assert scores
    assert _conforms(scores, _hint(sag.tl.embedding_scores)), scores


def test_settings_properties_match_their_annotations():
    """Each setting reads back as its getter's annotation says, once set to a value of its
    setter's annotation (a numpy number given is read back as Python's)."""
    settings_type = type(sag.settings)
    given = {"seed": np.int64(3), "n_threads": None, "verbosity": "info", "progress_bar": False}
    before = {k: getattr(sag.settings, k) for k in given}
    try:
        for name, value in given.items():
            prop = inspect.getattr_static(settings_type, name)
            setattr(sag.settings, name, value)
            got = getattr(sag.settings, name)
            assert _conforms(got, _hint(prop)), (name, got)
        assert type(sag.settings.seed) is int  # not np.int64
    finally:
        for k, v in before.items():
            setattr(sag.settings, k, v)


def test_readers_return_what_they_annotate(tmp_path):
    path = tmp_path / "expr.tsv"
    path.write_text("gene\tS1\tS2\tS3\nTP53\t1\t2\t3\nKRAS\t4\t5\t6\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = sag.io.read_table(path, orientation="genes_x_samples")
    assert _conforms(adata, _hint(sag.io.read_table))
    assert adata.shape == (3, 2)
    table = sag.io.parse_tcga_barcode(["TCGA-A1-A0SB-01A-11R-A144-07"])
    assert _conforms(table, _hint(sag.io.parse_tcga_barcode))


# -- defects -------------------------------------------------------------------------------------
def _subfigure_axes():
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(8, 3))
    return fig, fig.subfigures(1, 2)[0].subplots()


def test_architecture_into_a_subfigure_axes_is_saved(tmp_path):
    _root, ax = _subfigure_axes()
    out = tmp_path / "arch.png"
    sag.pl.architecture(ARCH, ax=ax, show=False, save=str(out))
    assert out.exists()


def test_architecture_into_a_subfigure_axes_returns_a_figure():
    root, ax = _subfigure_axes()
    fig = sag.pl.architecture(ARCH, ax=ax, return_fig=True)
    assert _conforms(fig, _hint(sag.pl.architecture))
    assert fig is root


@pytest.mark.parametrize("plot", ["importance", "confusion_matrix"])
def test_plots_into_a_subfigure_axes_are_saved(run, plot, tmp_path):
    _root, ax = _subfigure_axes()
    out = tmp_path / f"{plot}.png"
    getattr(sag.pl, plot)(run[0], ax=ax, show=False, save=str(out))
    assert out.exists()


@pytest.mark.parametrize("plot", ["importance", "shap_summary"])
def test_plot_group_given_as_a_list_is_refused_as_no_single_class(run, plot):
    adata = run[0]
    assert len(sag.get.shap_df(adata, ["type_0"])) > 0  # the reader takes a list
    with pytest.raises((TypeError, ValueError), match="group"):
        getattr(sag.pl, plot)(adata, group=["type_0"], show=False)


def test_read_tcga_sample_types_annotation_admits_what_it_accepts(tmp_path):
    path = tmp_path / "BRCA.expr.txt"
    path.write_text(
        "gene_id\tTCGA-A1-A0SB-01A-11R-A144-07\tTCGA-A1-A0SB-11A-11R-A144-07\n"
        "TP53|7157\t1\t2\nKRAS|3845\t4\t5\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = sag.io.read_tcga(path, sample_types=[1])
    assert list(adata.obs["sample_type_code"]) == ["01"]  # accepted
    assert _conforms([1], _hint(sag.io.read_tcga, "sample_types"))
