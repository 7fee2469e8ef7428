from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

import scautogenome as sag


@pytest.fixture
def annotated(adata, tiny_config):
    model = sag.tl.classify(adata, "label", config=tiny_config)
    sag.tl.explain(adata, model, nsamples=20, n_background=20)
    return adata


@pytest.fixture(scope="module")
def classify_run():
    """A classify run of 3 classes (not explained), made once for the tests that read its
    report; each takes a copy (:func:`classified`)."""
    import copy

    from conftest import TINY_CONFIG

    sag.settings.verbosity = 1
    sag.settings.progress_bar = False
    sag.settings.seed = 0
    sag.settings.device = "cpu"
    adata = sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0)
    sag.tl.classify(adata, "label", config=copy.deepcopy(TINY_CONFIG))
    return adata


@pytest.fixture
def classified(classify_run):
    """A classify run of 3 classes, not explained (a copy for each test)."""
    return classify_run.copy()


def _with_latent(adata):
    """``adata`` with a random 2-D latent in obsm['X_sag_resvae']: a report of one figure,
    drawn as it is (no UMAP)."""
    adata.obsm["X_sag_resvae"] = np.random.default_rng(0).normal(size=(adata.n_obs, 2))
    return adata


def test_report_sections(annotated, tmp_path):
    path = sag.io.write_report(annotated, tmp_path / "r.html", title="my run")
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>")
    for text in (
        "my run",
        "Classification",
        "Per class (test)",
        "Confusion matrix",
        "Search history",
        "Best trials",
        "Architecture",
        "Genes that drive each class",
        "type_0",
        "data:image/png;base64,",
    ):
        assert text in page
    assert "Latent space" not in page  # no embedding was computed
    assert "http://" not in page  # self-contained
    assert "https://" not in page
    test = annotated.uns["sag"]["metrics"]["test"]
    assert f"<b>{test['roc_auc']:.3f}</b> test ROC AUC" in page
    assert ">average precision</th>" in page
    assert "The test average precision in the summary" not in page  # three classes: macro
    assert "The validation cells are those the search chose the model and its epoch on" in page
    # 30 test cells: how uncertain the accuracy is, said next to it
    from scipy.stats import binomtest

    n = int(test["n"])
    ci = binomtest(round(test["accuracy"] * n), n).proportion_ci(method="wilson")
    assert f"Only {n} test cells:" in page
    assert f"{ci.low:.2f}\u2013{ci.high:.2f} (Wilson)" in page
    assert "more cells, or a larger test part" in page  # cells, as the rows are called


def test_report_names_the_class_of_a_two_class_runs_average_precision(tiny_config, tmp_path):
    two = sag.datasets.synthetic(n_obs=200, n_vars=50, n_classes=2, seed=1)
    # 10% of one class, the first in order: its average precision is the figure
    two.obs["label"] = np.where(np.arange(200) % 10 == 0, "rare", "usual")
    sag.tl.classify(two, "label", config={**tiny_config, "budget": {"n_trials": 1}})
    test = two.uns["sag"]["metrics"]["test"]
    pc = test["per_class"]
    assert test["average_precision"] == pc["average_precision"][0]
    page = sag.io.write_report(two, tmp_path / "r.html").read_text()
    said = "The test average precision in the summary is that of &#x27;rare&#x27;, the class "
    assert said + "with fewer test" in page
    # a run recorded when the figure was the mean of both: no such sentence
    test["average_precision"] = float(np.mean(pc["average_precision"]))
    page = sag.io.write_report(two, tmp_path / "r.html").read_text()
    assert "The test average precision in the summary" not in page
    # as many test cells of each: the second class's, said so
    pc["support"] = np.array([10, 10])
    test["average_precision"] = float(pc["average_precision"][1])
    page = sag.io.write_report(two, tmp_path / "r.html").read_text()
    assert "that of &#x27;usual&#x27;, sklearn&#x27;s positive label (both classes have 10" in page


def test_report_of_a_run_recorded_before_roc_auc(annotated, tmp_path):
    """An h5ad of an older sag (no ROC AUC or average precision) still gets its report."""
    metrics = annotated.uns["sag"]["metrics"]
    for part in metrics.values():
        for name in ("roc_auc", "average_precision"):
            part.pop(name)
            part["per_class"].pop(name)
    page = sag.io.write_report(annotated, tmp_path / "r.html").read_text()
    assert "Per class (test)" in page
    assert "ROC AUC" not in page
    assert "AUC loss" not in page


def test_report_says_when_the_model_was_trained_with_the_auc_loss(annotated, tmp_path):
    import json

    params = json.loads(annotated.uns["sag"]["train_params"])
    annotated.uns["sag"]["train_params"] = json.dumps({**params, "loss": "auc"})
    page = sag.io.write_report(annotated, tmp_path / "r.html").read_text()
    assert "Trained with the AUC loss" in page


def test_an_explanation_of_a_replaced_model_is_flagged_not_reported(
    annotated, tiny_config, tmp_path, caplog
):
    """classify run again under the same key: the explanation of the old model is named in a
    warning, kept in uns (it is the user's), and left out of the report; explain again and it
    is back. The check holds after an h5ad round trip."""
    import anndata as ad

    from scautogenome._settings import logger as sag_logger

    old = dict(annotated.uns["sag_shap"])
    assert old["model_digest"] == annotated.uns["sag"]["model_digest"]
    tiny_config["trainer"] = {**tiny_config["trainer"], "max_epochs": 3}  # another model
    sag_logger.addHandler(caplog.handler)  # sag's logger does not propagate
    try:
        model = sag.tl.classify(annotated, "label", config=tiny_config, seed=1)
        assert "uns['sag_shap'] explains the model of the classify run" in caplog.text
        assert annotated.uns["sag_shap"]["model_digest"] == old["model_digest"]
        annotated.write_h5ad(tmp_path / "a.h5ad")
        back = ad.read_h5ad(tmp_path / "a.h5ad")
        page = sag.io.write_report(back, tmp_path / "r.html").read_text()
        assert "explains another model than the classification above" in page
        assert "Genes that drive each class" in page
        assert "top 10 genes" not in page
        caplog.clear()
        sag.tl.explain(back, model, nsamples=20, n_background=20)
        page = sag.io.write_report(back, tmp_path / "r.html").read_text()
        assert "top 10 genes" in page
        assert "explains another model" not in caplog.text
    finally:
        sag_logger.removeHandler(caplog.handler)


def test_report_latent_space_counts_active_dimensions(adata, tmp_path):
    config = {
        "budget": {"n_trials": 1, "time_budget": None},
        "trainer": {"max_epochs": 3, "min_epochs": 2, "kl_warmup_epochs": 1},
        "space": {"n_layers": [3], "first_width": [64], "batch_size": [64]},
    }
    data = adata.copy()
    sag.tl.embed(data, config=config, n_latent=4)
    active = data.uns["sag_resvae"]["active_dims"]
    page = sag.io.write_report(data, tmp_path / "e.html").read_text()
    assert "Latent space" in page
    assert f"4 dimensions, {active} of them varying across cells" in page
    assert ("Posterior collapse" in page) == (active < 2)
    # the kept model's table is followed by its drawn architecture, and no plot failed
    kept = page.split("The kept model", 1)[1]
    assert kept.count("<img ") == 1
    assert "could not be drawn" not in page
    # a kept model cut by the time budget: its epochs counted as the log counts them (the
    # cut one apart), and said to be under-trained, as classify's report says it
    run = data.uns["sag_resvae"]
    best = run["trials"]["number"] == run["best"]["trial"]
    run["trials"].loc[best, "stopped"] = "time_budget"
    run["trials"].loc[best, "epochs"] = 3
    run["trials"].loc[best, "cut_batches"] = 2
    text = _page_text(sag.io.write_report(data, tmp_path / "cut.html").read_text())
    assert "2 whole epochs and 2 minibatches of the next" in text
    assert "Under-trained: the kept model stopped at the time budget" in text
    # a collapsed run is flagged
    data.uns["sag_resvae"]["active_dims"] = 1
    page = sag.io.write_report(data, tmp_path / "c.html").read_text()
    assert "4 dimensions, 1 of them varying across cells" in page
    assert "Posterior collapse" in page


def test_report_needs_results(adata, tmp_path):
    with pytest.raises(ValueError, match="Nothing to report"):
        sag.io.write_report(adata, tmp_path / "r.html")


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_report_renders_in_headless_chromium(annotated, tmp_path):
    from PIL import Image

    path = sag.io.write_report(annotated, tmp_path / "r.html")
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1100,2000",
            f"--screenshot={shot}",
            path.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    image = Image.open(shot).convert("L")
    # a rendered page: mostly white background with a fair amount of drawn content
    histogram = image.histogram()
    dark = sum(histogram[:200]) / sum(histogram)
    assert 0.01 < dark < 0.6


def test_best_trials_are_listed_as_the_search_ranks_them(annotated, tmp_path):
    """Higher score first; equal scores by the lower validation loss, then the earlier trial."""
    import re

    import pandas as pd

    trials = annotated.uns["sag"]["trials"].copy()
    trials = pd.concat([trials.iloc[:1]] * 4, ignore_index=True)
    trials["number"] = [0, 1, 2, 3]
    trials["value"] = [0.9, 1.0, 1.0, 1.0]
    trials["val_loss"] = [0.1, 0.5, 0.3, 0.3]
    annotated.uns["sag"]["trials"] = trials
    page = sag.io.write_report(annotated, tmp_path / "r.html").read_text()
    table = page[page.index("Best trials") :]
    table = table[: table.index("</table>")]
    first_cells = re.findall(r"<tr><td[^>]*>(\d+)</td>", table)
    assert first_cells == ["2", "3", "1", "0"]
    assert "val loss" in table  # the tie-break is shown
    assert "0.3" in table


@pytest.fixture(scope="module")
def regression_run():
    import numpy as np

    sag.settings.verbosity = 1
    sag.settings.progress_bar = False
    sag.settings.seed = 0
    sag.settings.device = "cpu"
    adata = sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0)
    X = np.asarray(adata.X.todense())
    rng = np.random.default_rng(0)
    adata.obs["age"] = 5 * np.log1p(X[:, :10]).sum(1) + rng.normal(0, 1, adata.n_obs) + 40
    config = {
        "mode": "mlp",
        "budget": {"n_trials": 2, "time_budget": None},
        "trainer": {"max_epochs": 5, "patience": 3, "min_epochs": 2},
        "space": {"mlp": {"n_layers": [1], "units": [32]}, "common": {"batch_size": [64]}},
    }
    model = sag.tl.classify(adata, "age", config=config)
    assert adata.uns["sag"]["task"] == "regression"
    sag.tl.explain(adata, model, nsamples=10, n_background=10, n_explain=40)
    return adata, model


@pytest.fixture
def regressed(regression_run):
    """A regression run of a numeric obs['age'], explained (a copy for each test)."""
    return regression_run[0].copy()


def test_report_of_a_regression_run(regressed, tmp_path):
    import re

    page = sag.io.write_report(regressed, tmp_path / "r.html").read_text()
    test = regressed.uns["sag"]["metrics"]["test"]
    val = regressed.uns["sag"]["metrics"]["val"]
    for text in (
        "<h2>Regression</h2>",
        f"<b>{test['r2']:.3f}</b> test R\u00b2",
        f"<b>{test['spearman']:.3f}</b> test Spearman",
        f"<b>{int(test['n'])}</b> test cells",
        "<b>mlp</b> best model",
        "<b>2</b> trials",
        "numeric target: <code>age</code>",
        "search metric: r2",
        "The validation cells are those the search chose the model and its epoch on",
        "Observed vs predicted (test)",
        "Search history",
        "Best trials",
        "Architecture of the best model",
        "Genes that drive the predicted age (SHAP)",
    ):
        assert text in page, text
    for text in ("Classification", "Confusion matrix", "Per class", "could not be drawn"):
        assert text not in page, text
    # the metrics table: test and validation rows, in the order of the header
    table = page[page.index('<th scope="col" class="l">split</th>') :]
    table = table[: table.index("</table>")]
    header = re.findall(r"<th[^>]*>([^<]*)</th>", table)
    assert header == ["split", "R\u00b2", "RMSE", "MAE", "Pearson", "Spearman", "cells"]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", table)
    # RMSE and MAE: to the decimals of 4 significant digits of each column's largest value
    rmse, mae = (
        f".{max(0, 3 - int(np.floor(np.log10(max(test[k], val[k])))))}f" for k in ("rmse", "mae")
    )
    assert cells == [
        *("test", f"{test['r2']:.3f}", format(test["rmse"], rmse), format(test["mae"], mae)),
        *(f"{test['pearson']:.3f}", f"{test['spearman']:.3f}", str(int(test["n"]))),
        *("validation", f"{val['r2']:.3f}", format(val["rmse"], rmse), format(val["mae"], mae)),
        *(f"{val['pearson']:.3f}", f"{val['spearman']:.3f}", str(int(val["n"]))),
    ]
    assert f"<b>{format(test['rmse'], rmse)}</b> test RMSE" in page
    # the explanation of one output: one row of top genes (not an "overall" copy of it)
    genes = page[page.index("Genes that drive the predicted age") :]
    assert '<td class="l">age</td>' in genes
    assert "overall" not in genes
    top = ", ".join(regressed.uns["sag_shap"]["top_genes"][0][:10])
    assert top in genes
    # figures: observed vs predicted, search history, architecture, importance, SHAP summary
    assert page.count("<img ") == 5
    assert '<img alt="Observed vs predicted age of the test cells"' in page


def test_report_of_a_regression_run_shows_undefined_figures_as_a_dash(regressed, tmp_path):
    metrics = regressed.uns["sag"]["metrics"]
    metrics["test"]["spearman"] = float("nan")  # e.g. constant predictions
    metrics["val"]["r2"] = float("nan")
    page = sag.io.write_report(regressed, tmp_path / "r.html").read_text()
    assert "<b>\u2013</b> test Spearman" in page
    assert '<td class="l">validation</td><td>\u2013</td>' in page
    assert ">nan<" not in page


def test_report_flags_the_explanation_of_a_replaced_regression_model(regressed, tmp_path):
    regressed.uns["sag"]["model_digest"] = "another model"
    page = sag.io.write_report(regressed, tmp_path / "r.html").read_text()
    assert "Genes that drive the predicted age (SHAP)" in page
    assert "explains another model than the regression above" in page
    assert "top 10 genes" not in page


def test_report_of_a_regression_run_says_when_predict_replaced_its_predictions(
    regression_run, tmp_path
):
    """sag.tl.predict after the run (here on each cell's profile taken from another cell)
    replaced obs['sag_pred']: the run's metrics are of its own predictions, the plot of the
    values in obs now, and the report says so, as it does for a run called again with
    min_confidence."""
    adata, model = regression_run[0].copy(), regression_run[1]
    note = "obs[&#x27;sag_pred&#x27;] was replaced by sag.tl.predict after this run"
    assert note not in sag.io.write_report(adata, tmp_path / "before.html").read_text()
    adata.X = adata.X[::-1]
    sag.tl.predict(adata, model)
    page = sag.io.write_report(adata, tmp_path / "after.html").read_text()
    assert (
        f"{note}: the metrics here are of the run's own predictions, which obs may no longer "
        "hold; the plot below, and the R\u00b2 and RMSE in its title, are of the values in obs "
        "now." in page
    )
    assert page.index(note) < page.index("Observed vs predicted (test)")


def _report_of_a_query(model_class, adata, key: str, tmp_path):
    """``(model, query, page)``: a small model fitted on ``obs[key]``, a new AnnData annotated
    by sag.tl.predict alone, and its report (checked to hold the Predictions section)."""
    model = model_class({"kind": "mlp", "units": [8]}, {"max_epochs": 2}).fit(adata, key, seed=0)
    query = sag.datasets.synthetic(n_obs=120, n_vars=200, n_classes=3, seed=5)
    sag.tl.predict(query, model)
    page = sag.io.write_report(query, tmp_path / "q.html").read_text()
    assert "<h2>Predictions</h2>" in page
    return model, query, page


def test_report_of_predictions(adata, tmp_path):
    """An AnnData annotated by sag.tl.predict alone (a query) gets a section of what was
    predicted; the confusion matrix says why it cannot be drawn."""
    import numpy as np

    model, query, page = _report_of_a_query(sag.models.Classifier, adata, "label", tmp_path)
    assert "Classification" not in page
    assert "200 of the model's 200 genes (100.0%)" in page
    assert "depth is its count over the genes present" not in page  # none missing
    # a counts query lacking genes, with genes the model lacks: its depth, and what was
    # not read
    import anndata as ad

    part = ad.AnnData(X=query[:, 50:].X, obs=query.obs[[]].copy(), var=query[:, 50:].var[[]].copy())
    extra = ad.AnnData(X=query[:, :7].X, obs=query.obs[[]].copy())
    extra.var_names = [f"new_{i}" for i in range(7)]
    part = ad.concat([part, extra], axis=1)
    sag.tl.predict(part, model)
    page = sag.io.write_report(part, tmp_path / "part.html").read_text()
    share = part.uns["sag"]["gene_overlap"]["counts_share"]
    assert f"divided by their share of the training counts ({share:.1%})" in page
    assert "7 query genes the model does not have were not read" in page
    counts = query.obs["sag_pred"].value_counts()
    for cls, n in counts[counts > 0].items():
        assert f'<td class="l">{cls}</td><td>{n}</td>' in page
    assert "median confidence" in page
    # the record names the model by its weights' digest, and so does the report
    assert query.uns["sag"]["model_digest"] == model.weights_digest()
    assert f"with the model of weights digest {model.weights_digest()[:12]}" in page
    with pytest.raises(KeyError, match=r"uns\['sag'\] holds the record of sag.tl.predict"):
        sag.pl.confusion_matrix(query, show=False)
    # under another key, as predict --key-added writes it
    sag.tl.predict(query, model, key_added="q")
    page = sag.io.write_report(query, tmp_path / "q2.html", key="q").read_text()
    assert "<h2>Predictions</h2>" in page
    assert np.isfinite(query.obs["q_confidence"]).all()


def test_report_of_numeric_predictions(adata, tmp_path):
    import numpy as np

    adata.obs["age"] = np.linspace(20, 80, adata.n_obs)
    _, _, page = _report_of_a_query(sag.models.Regressor, adata, "age", tmp_path)
    assert "<h3>Predicted age</h3>" in page
    assert "median confidence" not in page


def test_report_of_a_query_without_a_class_of_the_reference(adata, tiny_config, tmp_path, caplog):
    """Label transfer: a query without one of the reference's classes is predicted and
    explained (no warning that uns['sag'] is another model's); its report draws the
    distributions of the classes present and names the one absent; sag.get.metrics_df says
    a prediction has no test metrics."""
    model = sag.tl.classify(adata.copy(), "label", config=tiny_config)
    query = adata[adata.obs["label"] != "type_2"].copy()
    query.obs["label"] = query.obs["label"].cat.remove_unused_categories()
    sag.tl.predict(query, model)
    sag._settings.logger.addHandler(caplog.handler)
    try:
        sag.tl.explain(query, model, nsamples=20, n_background=20, cells="all", groupby="label")
    finally:
        sag._settings.logger.removeHandler(caplog.handler)
    assert "records another model than this one" not in caplog.text
    assert "type_2" not in set(query.uns["sag_shap"]["cell_groups"])
    page = sag.io.write_report(query, tmp_path / "q.html").read_text()
    assert "could not be drawn" not in page
    assert "No explained cell of type_2" in page
    with pytest.raises(KeyError, match=r"holds the record of sag\.tl\.predict"):
        sag.get.metrics_df(query)


def test_report_says_where_the_data_came_from_how_it_was_split_and_trained(annotated, tmp_path):
    """A reader can judge the run from the report alone: the data's source, the size of every
    part of the split and how it was drawn, the kept model's training settings, and whether
    its training was cut short by the time budget (the warning classify logged)."""
    import json

    annotated.uns["provenance"] = "made up for the test"
    annotated.uns["sag_io"] = {"reader": "read_table", "path": "expr.tsv.gz"}
    page = sag.io.write_report(annotated, tmp_path / "r.html").read_text()
    n = annotated.obs["sag_split"].value_counts()
    assert f"{n['train']} train / {n['val']} val / {n['test']} test cells" in page
    assert "drawn at random (seed 0), about 8:1:1 within each class." in page
    assert "made up for the test; read by sag.io.read_table from expr.tsv.gz" in page
    uns = annotated.uns["sag"]
    train = json.loads(uns["train_params"])
    best = uns["trials"].set_index("number").loc[uns["best"]["trial"]]
    assert (
        f"kept model (trial {uns['best']['trial']}): {train['optimizer']} "
        f"(lr {float(train['lr']):.3g}" in page
    )
    assert f"{int(best['epochs'])} epochs of at most {train['max_epochs']}" in page
    assert "Under-trained" not in page
    # the best trial stopped at its share of the time budget
    trials = uns["trials"]
    trials.loc[trials["number"] == uns["best"]["trial"], "stopped"] = "trial_cap"
    page = sag.io.write_report(annotated, tmp_path / "r.html").read_text()
    assert "<b>Under-trained:</b> the kept model stopped at its share of the time budget" in page
    # a split of the user's is said to be that
    uns["params"]["split_key"] = "my_split"
    page = sag.io.write_report(annotated, tmp_path / "r.html").read_text()
    assert "as the user&#x27;s split in obs[&#x27;my_split&#x27;] put them" in page


def test_report_of_tcga_samples_grouped_by_patient(adata, tiny_config, tmp_path, caplog):
    """Bulk samples named by TCGA barcodes are samples, not cells, in the log and the report;
    the split kept each patient's samples (a tumour and its normal) in one part, and the report
    says so with the number of patients."""
    from scautogenome._settings import logger as sag_logger

    adata.obs_names = [
        f"TCGA-AA-{i // 2:04d}-{'01A' if i % 2 == 0 else '11A'}" for i in range(adata.n_obs)
    ]
    sag.settings.verbosity = 2  # info: the test summary
    sag_logger.addHandler(caplog.handler)  # sag's logger does not propagate
    try:
        sag.tl.classify(adata, "label", config=tiny_config)
    finally:
        sag_logger.removeHandler(caplog.handler)
    n_test = int(adata.uns["sag"]["metrics"]["test"]["n"])
    assert f"on {n_test} samples" in caplog.text
    page = sag.io.write_report(adata, tmp_path / "r.html").read_text()
    assert (
        f"the samples of each TCGA patient ({adata.n_obs // 2:,} in all) kept in one part" in page
    )
    # whole groups: not "8:1:1 within each class", which a split by groups only nears
    assert "drawn at random (seed 0) as whole groups, about a tenth of each class" in page
    assert "8:1:1" not in page
    assert f"<b>{n_test}</b> test samples" in page
    assert f"Only {n_test} test samples:" in page
    assert "test cells" not in page
    # GTEx samples beside them: by donor (three tissues each), or one by one
    names = adata.obs_names.to_numpy().copy()
    names[:60] = [f"GTEX-{100 + i // 3}-{i % 3:04d}-SM-{i}" for i in range(60)]
    adata.obs_names = names
    sag.tl.classify(adata, "label", config=tiny_config)
    page = sag.io.write_report(adata, tmp_path / "r.html").read_text()
    assert "the 60 other samples (not named by barcodes) by GTEx donor, 20 groups" in page
    names[:60] = [f"GTEX-{100 + i}-0000-SM-{i}" for i in range(60)]
    adata.obs_names = names
    sag.tl.classify(adata, "label", config=tiny_config)
    page = sag.io.write_report(adata, tmp_path / "r.html").read_text()
    assert "the 60 other samples (not named by barcodes) one by one" in page


def test_report_names_a_split_that_kept_the_copies_of_a_name_together(adata, tiny_config, tmp_path):
    """Rows that share an obs_name (one sample exported twice) are kept in one part, and the
    report says so with the number of names, not as a group of an obs column."""
    names = [f"S{i}" for i in range(adata.n_obs)]
    names[1::10] = names[0::10][: len(names[1::10])]  # every tenth sample twice
    adata.obs_names = names
    sag.tl.classify(adata, "label", config=tiny_config)
    page = sag.io.write_report(adata, tmp_path / "r.html").read_text()
    n = adata.obs_names.nunique()
    assert f"the cells of each obs_name ({n:,} in all) kept in one part" in page
    assert "obs['duplicated obs_names']" not in page


def test_report_of_a_prediction_points_to_the_query_labels(adata, tmp_path):
    """A query that has labels of the model's classes is not told flatly that nothing scores
    its predictions: the report names the call that does."""
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0)
    query = adata[:40].copy()
    sag.tl.predict(query, model)
    page = sag.io.write_report(query, tmp_path / "q.html").read_text()
    assert "sag.pl.confusion_matrix(adata, labels_key=&#x27;label&#x27;)</code> scores" in page
    assert "are not scored against labels here" not in page
    # a second prediction under its own key: the first one's column (every value a class)
    # is no labels of it, though the query's own have a class the model lacks
    query.obs["label"] = query.obs["label"].cat.add_categories("other")
    query.obs.loc[query.obs_names[:8], "label"] = "other"
    sag.tl.predict(query, model, min_confidence=0.5, key_added="sag_query")
    page = sag.io.write_report(query, tmp_path / "q2.html", key="sag_query").read_text()
    assert "labels_key=&#x27;label&#x27;, key=&#x27;sag_query&#x27;)</code> scores" in page
    # a user's column whose name starts with a run's key is still theirs
    query.obs["sag_query_truth"] = query.obs.pop("label")
    page = sag.io.write_report(query, tmp_path / "q3.html", key="sag_query").read_text()
    assert "labels_key=&#x27;sag_query_truth&#x27;" in page
    query.obs["label"] = query.obs.pop("sag_query_truth")
    del query.obs["label"]
    page = sag.io.write_report(query, tmp_path / "q.html").read_text()
    assert "Predictions are not scored against labels here" in page
    # the model, where the record names it
    query.uns["sag"]["model_digest"] = model.weights_digest()
    page = sag.io.write_report(query, tmp_path / "q.html").read_text()
    assert f"with the model of weights digest {model.weights_digest()[:12]}" in page


def test_report_time_follows_source_date_epoch(adata, tmp_path, monkeypatch):
    """SOURCE_DATE_EPOCH (reproducible builds) sets the report's time, so that a pipeline's
    rerun writes the same line."""
    from scautogenome.io._report import _written_at

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    assert _written_at() == "1970-01-01 00:00 UTC"
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert "UTC" not in _written_at()


def test_report_of_a_view_leaves_it_a_view(adata, tmp_path):
    """The report of adata[mask] is made from a copy: the UMAP it computes is not stored, and
    the user's view stays a view of the untouched parent."""
    import numpy as np

    adata.obsm["X_sag_resvae"] = np.random.default_rng(0).normal(size=(adata.n_obs, 3))
    view = adata[adata.obs["label"] != adata.obs["label"].cat.categories[0]]
    page = sag.io.write_report(view, tmp_path / "v.html").read_text()
    assert "Latent space" in page
    assert "could not be drawn" not in page
    assert view.is_view
    assert list(adata.obsm) == ["X_sag_resvae"]
    assert "X_sag_resvae_umap" not in view.obsm


def test_report_of_a_subset_says_its_split_counts_are_not_the_runs(tmp_path, tiny_config):
    """The split line of a subset of the cells counts these cells and names the run's own
    validation and test sizes, which the metrics above it are of."""
    adata = sag.datasets.synthetic(n_obs=200, n_vars=30, n_classes=3, seed=0)
    sag.tl.classify(adata, "label", config=tiny_config, seed=0)
    n_test = int(adata.uns["sag"]["metrics"]["test"]["n"])
    sub = adata[: adata.n_obs // 2].copy()
    out = sag.io.write_report(sub, tmp_path / "sub.html")
    text = out.read_text()
    assert "a subset of the run" in text
    assert f"{n_test} test" in text
    whole = sag.io.write_report(adata, tmp_path / "whole.html").read_text()
    assert "a subset of the run" not in whole


def test_report_headline_shows_an_undefined_figure_as_a_dash(annotated, tmp_path):
    """A test ROC AUC that is undefined (a test split of one class) is the dash in the
    headline, as in the tables, not "nan"."""
    annotated.uns["sag"]["metrics"]["test"]["roc_auc"] = float("nan")
    page = sag.io.write_report(annotated, tmp_path / "r.html").read_text()
    assert "<b>\u2013</b> test ROC AUC" in page
    assert "<b>nan</b>" not in page


def test_report_checks_its_path_before_drawing(adata, tmp_path, monkeypatch):
    """A path under a file cannot be written: refused before any figure is drawn."""
    import numpy as np

    from scautogenome.io import _report

    adata.obsm["X_sag_resvae"] = np.random.default_rng(0).normal(size=(adata.n_obs, 3))
    (tmp_path / "f").write_text("a file")

    def drawn(*args, **kwargs):
        raise AssertionError("a figure was drawn")

    monkeypatch.setattr(_report, "_figure", drawn)
    with pytest.raises(
        NotADirectoryError, match=r"path=.*r\.html.* cannot be created: .* is a file"
    ):
        sag.io.write_report(adata, tmp_path / "f" / "sub" / "r.html")
    assert (tmp_path / "f").read_text() == "a file"


def test_nothing_to_report_names_the_records_under_other_keys(adata, tmp_path):
    """The records of sag under other keys than the defaults are named, with the argument of
    write_report that takes each."""
    import numpy as np

    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0)
    sag.tl.predict(adata, model, key_added="pred1")
    adata.obsm["X_emb1"] = np.zeros((adata.n_obs, 2))
    adata.uns["emb1"] = {"encode_params": {"layer": "None"}, "active_dims": 2}
    with pytest.raises(ValueError, match="Nothing to report") as err:
        sag.io.write_report(adata, tmp_path / "r.html")
    assert "uns['pred1'] holds a record of sag.tl.classify or predict: pass key='pred1'" in str(
        err.value
    )
    assert "obsm['X_emb1'] holds the latent space of an embed or encode run: pass " in str(
        err.value
    )
    assert "basis='X_emb1'" in str(err.value)


def test_palette_is_scanpys_for_as_many_categories():
    """sag's default colours for n categories are those scanpy gives them (matplotlib's
    colour cycle where it has enough, then scanpy's palettes), so that sag.pl and sc.pl agree."""
    import anndata as ad
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd
    import scanpy as sc
    from cycler import cycler
    from matplotlib import rc_context
    from scanpy.plotting import palettes

    from scautogenome.plotting._utils import palette

    def scanpys(n: int) -> list[str]:  # the colours a scanpy plot stores (public API only)
        names = [f"c{i}" for i in range(n)]
        obs = pd.DataFrame({"c": pd.Categorical(names)}, index=names)
        a = ad.AnnData(np.zeros((n, 1)), obs=obs, obsm={"X_e": np.zeros((n, 2))})
        sc.pl.embedding(a, "X_e", color="c", show=False)
        plt.close("all")
        return list(a.uns["c_colors"])

    for n in (1, 3, 10, 11, 20, 25, 60):
        assert palette(n) == scanpys(n), n
    with rc_context({"axes.prop_cycle": cycler(color=palettes.default_20)}):  # set_figure_params
        assert palette(15) == scanpys(15)


def test_report_is_the_same_when_written_twice(annotated, tmp_path, monkeypatch):
    """With SOURCE_DATE_EPOCH set, a second report of the same object is the same file, though
    the first stored the UMAP and the classes' colours: the importance plot drew them in
    scanpy's colours from the start."""
    import numpy as np

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    annotated.obsm["X_sag_resvae"] = np.random.default_rng(0).normal(size=(annotated.n_obs, 3))
    first = sag.io.write_report(annotated, tmp_path / "a.html").read_bytes()
    assert "label_colors" in annotated.uns
    second = sag.io.write_report(annotated, tmp_path / "b.html").read_bytes()
    assert first == second


def test_latent_space_of_bulk_samples_says_samples(adata, tmp_path, caplog):
    """Bulk samples are samples in the latent-space section and in encode's log."""
    from scautogenome._settings import logger as sag_logger

    adata.uns["sag_io"] = {"reader": "read_tcga", "files": ["x.tsv"]}
    config = {
        "budget": {"n_trials": 1, "time_budget": None},
        "trainer": {"max_epochs": 2, "min_epochs": 1, "kl_warmup_epochs": 1},
        "space": {"n_layers": [3], "first_width": [32], "batch_size": [64]},
    }
    vae = sag.tl.embed(adata.copy(), config=config, n_latent=4)
    query = adata[:20].copy()
    sag.settings.verbosity = 2  # info: encode's summary
    sag_logger.addHandler(caplog.handler)  # sag's logger does not propagate
    try:
        sag.tl.encode(query, vae)
    finally:
        sag_logger.removeHandler(caplog.handler)
    assert "finished encode of 20 samples" in caplog.text
    query.uns["sag_resvae"]["active_dims"] = 1
    page = sag.io.write_report(query, tmp_path / "q.html").read_text()
    assert "1 of them varying across samples" in page
    assert "the samples had 200 of the model" in page
    assert "a query of few samples, or of one class" in page
    section = page.split("Latent space", 1)[1]
    assert " cells" not in section.split("<img", 1)[0]


def test_report_names_the_unused_cells_and_the_classes_left_out(
    adata, tiny_config, tmp_path, sag_caplog
):
    """Cells without a label and those of a class too small to train on are counted, and the
    classes left out named, in the log and in the report's split line."""
    import numpy as np
    import pandas as pd

    labels = adata.obs["label"].astype(object).to_numpy(copy=True)
    labels[:5] = np.nan
    labels[5:7] = "rare"
    adata.obs["label"] = pd.Categorical(labels)
    sag.tl.classify(adata, "label", config=tiny_config, min_cells_per_class=3)
    assert "; 7 unused: no label, a class left out, or none in split_key)" in sag_caplog.text
    page = sag.io.write_report(adata, tmp_path / "r.html").read_text()
    assert (
        "7 cells unused (5 without a label; 2 in classes left out of training for too few "
        "cells (rare; predicted as one of the others))" in page
    )


def test_an_explanation_of_another_run_is_not_shown_under_this_one(
    annotated, tiny_config, tmp_path
):
    """uns['sag_shap'] explains the run in uns['sag']; the report of another run (key='run2')
    leaves it out and says whose it is, rather than showing its genes under run2's results.
    An explanation of run2 under its own key is shown with shap_key= (--shap-key)."""
    from scautogenome.cli import main

    model2 = sag.tl.classify(annotated, "label", config=tiny_config, seed=1, key_added="run2")
    page = sag.io.write_report(annotated, tmp_path / "r2.html", key="run2").read_text()
    assert "top 10 genes" not in page
    assert "explains the classify run in uns[&#x27;sag&#x27;], not this one" in page
    assert "top 10 genes" in sag.io.write_report(annotated, tmp_path / "r.html").read_text()
    sag.tl.explain(annotated, model2, nsamples=20, n_background=20, key_added="shap2")
    page = sag.io.write_report(
        annotated, tmp_path / "r3.html", key="run2", shap_key="shap2"
    ).read_text()
    assert "top 10 genes" in page
    path = tmp_path / "a.h5ad"
    annotated.write_h5ad(path)
    argv = ["report", str(path), "--key", "run2", "--shap-key", "shap2", "--out"]
    assert main([*argv, str(tmp_path / "c.html"), "--quiet"]) == 0
    assert "top 10 genes" in (tmp_path / "c.html").read_text()


def test_report_of_predictions_states_the_confidence_threshold(adata, tmp_path):
    """predict(min_confidence=0.3): the report says so, and counts the cells below it (not
    below a fixed 0.5)."""
    import numpy as np

    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 2})
    model.fit(adata, "label", seed=0)
    query = sag.datasets.synthetic(n_obs=120, n_vars=200, n_classes=3, seed=5)
    sag.tl.predict(query, model, min_confidence=0.3)
    page = sag.io.write_report(query, tmp_path / "q.html").read_text()
    assert "cells below 0.3</th>" in page
    assert "below 0.5" not in page
    assert "min_confidence=0.3" in page
    conf = query.obs["sag_confidence"].to_numpy()
    n_unassigned = int((query.obs["sag_pred"] == "Unassigned").sum())
    assert n_unassigned == int((conf < 0.3).sum())
    assert np.isfinite(conf).all()


def test_a_figure_that_cannot_be_saved_is_a_note(classified, tmp_path, monkeypatch):
    """A figure that fails when it is saved, not when it is drawn (text matplotlib cannot
    render, say): still a note, the figure is not left open, and the report is written."""
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    def fails(self, *args, **kwargs):
        raise ValueError("cannot be rendered")

    monkeypatch.setattr(Figure, "savefig", fails)
    before = plt.get_fignums()
    page = sag.io.write_report(classified, tmp_path / "r.html").read_text()
    assert "confusion_matrix could not be drawn: cannot be rendered" in page
    assert "Per class (test)" in page
    assert plt.get_fignums() == before


def test_report_names_the_classes_whose_distribution_is_not_drawn(tmp_path):
    """Past 12 classes the SHAP distributions stop; the report says how many more and how
    to draw them."""
    import numpy as np

    adata = sag.datasets.synthetic(n_obs=420, n_vars=40, n_classes=14, seed=0)
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0)
    sag.tl.explain(adata, model, nsamples=5, n_background=10, n_explain=70, groupby="label")
    page = sag.io.write_report(adata, tmp_path / "r.html").read_text()
    assert page.count("<h3>") >= 12
    assert "2 more classes" in page
    assert "sag.pl.shap_summary" in page
    assert np.all(np.asarray(adata.uns["sag_shap"]["n_cells"]) > 0)


def test_report_points_to_predictions_under_another_key(adata, tmp_path):
    """A query predicted under key_added='cellpred' and embedded: the default report shows
    the latent space and says where the predictions are."""
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 2})
    model.fit(adata, "label", seed=0)
    query = sag.datasets.synthetic(n_obs=120, n_vars=200, n_classes=3, seed=5)
    sag.tl.predict(query, model, key_added="cellpred")
    query.obsm["X_sag_resvae"] = query.X[:, :5].toarray()
    page = sag.io.write_report(query, tmp_path / "q.html").read_text()
    assert "uns[&#x27;cellpred&#x27;] holds a record of sag.tl.classify or predict" in page


def test_report_of_a_run_called_again_with_min_confidence(adata, tiny_config, tmp_path, sag_caplog):
    """predict(min_confidence=) on the run's own AnnData: the run's metrics stay those of its
    own calls, and the report and the log say how many cells are now Unassigned."""
    import numpy as np

    model = sag.tl.classify(adata, "label", config=tiny_config)
    page = sag.io.write_report(adata, tmp_path / "before.html").read_text()
    assert "called again" not in page
    conf = np.asarray(adata.obsm["sag_proba"]).max(1)
    threshold = float(np.quantile(conf, 0.5))
    sag.tl.predict(adata, model, min_confidence=threshold)
    unsure = (adata.obs["sag_pred"] == "Unassigned").to_numpy()
    test = (adata.obs["sag_split"] == "test").to_numpy()
    assert unsure.sum() > 0
    assert f"{int(unsure.sum())} cells are now 'Unassigned' in obs['sag_pred']" in sag_caplog.text
    page = sag.io.write_report(adata, tmp_path / "after.html").read_text()
    assert (
        f"obs[&#x27;sag_pred&#x27;] was called again by sag.tl.predict with "
        f"min_confidence={threshold:g} after this run: {int(unsure.sum())} cells "
        f"({int((unsure & test).sum())} of the {int(test.sum())} test cells) are "
        "&#x27;Unassigned&#x27;" in page
    )
    assert "sag.pl.confusion_matrix(adata, labels_key=&#x27;label&#x27;)</code>" in page
    # predicted again without min_confidence (of other values, say): said too
    adata.X = adata.X * 3
    sag.tl.predict(adata, model)
    page = sag.io.write_report(adata, tmp_path / "again.html").read_text()
    assert "obs[&#x27;sag_pred&#x27;] was replaced by sag.tl.predict after this run" in page
    assert "sag.pl.confusion_matrix(adata, labels_key=&#x27;label&#x27;)</code>" in page


def test_report_says_which_classes_the_test_metrics_average_over(adata, tiny_config, tmp_path):
    """Classes without a test cell (a split of the user's own, many small classes): the
    report says how many the macro-F1 and the balanced accuracy average over, as sklearn
    computes them."""
    import numpy as np
    from sklearn.metrics import balanced_accuracy_score, f1_score

    labels = adata.obs["label"].astype(str).to_numpy()
    classes = sorted(set(labels))
    part = np.where(np.arange(adata.n_obs) % 5 == 0, "test", "train")
    part[1::10] = "val"
    part[(labels == classes[0]) & (part == "test")] = "train"  # no test cell of one class
    adata.obs["part"] = part
    sag.tl.classify(adata, "label", config=tiny_config, split_key="part")
    test = adata.obs["part"].to_numpy() == "test"
    truth, pred = labels[test], adata.obs["sag_pred"].astype(str).to_numpy()[test]
    m = adata.uns["sag"]["metrics"]["test"]
    assert m["macro_f1"] == pytest.approx(f1_score(truth, pred, average="macro"))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(truth, pred))
    scored = len(set(truth) | set(pred))
    page = sag.io.write_report(adata, tmp_path / "r.html").read_text()
    assert (
        f"1 of the {len(classes)} classes have no test cell. Macro-F1 averages over the "
        f"{scored} classes in the test split or predicted there" in page
    )
    assert f"balanced accuracy over the {len(classes) - 1} in the test split" in page


def test_report_says_classify_drew_the_val_cells_of_a_users_train_test_split(
    adata, tiny_config, tmp_path
):
    adata.obs["part"] = np.where(np.arange(adata.n_obs) % 4 == 0, "test", "train")
    sag.tl.classify(adata, "label", config=tiny_config, split_key="part", seed=3)
    page = sag.io.write_report(adata, tmp_path / "r.html").read_text()
    assert (
        "as the user&#x27;s split in obs[&#x27;part&#x27;] put them, except the val cells, "
        "which classify drew from its train cells (seed 3)." in page
    )
    # val cells of its own, but none usable (no label): drawn too
    adata.obs["label"] = adata.obs["label"].astype(object)
    adata.obs.loc[adata.obs_names[1::8], "part"] = "val"
    labels = adata.obs["label"].copy()
    adata.obs.loc[adata.obs_names[1::8], "label"] = np.nan
    sag.tl.classify(adata, "label", config=tiny_config, split_key="part", seed=3)
    page = sag.io.write_report(adata, tmp_path / "r.html").read_text()
    assert "which classify drew from its train cells (seed 3)." in page
    # a split with val cells of its own: as before
    adata.obs["label"] = labels
    sag.tl.classify(adata, "label", config=tiny_config, split_key="part")
    page = sag.io.write_report(adata, tmp_path / "r.html").read_text()
    assert "as the user&#x27;s split in obs[&#x27;part&#x27;] put them." in page


def test_report_of_a_latent_of_two_dimensions_says_it_is_drawn_as_it_is(adata, tmp_path):
    """A 2-D latent is drawn as it is by sag.pl.embedding: the caption says so, not 'UMAP'."""
    import numpy as np

    adata.obsm["X_sag_resvae"] = np.random.default_rng(0).normal(size=(adata.n_obs, 2))
    page = sag.io.write_report(adata, tmp_path / "two.html").read_text()
    section = page.split("Latent space", 1)[1]
    assert "(2 dimensions, drawn as it is)" in section
    assert "UMAP of" not in section
    assert "could not be drawn" not in section
    assert "X_sag_resvae_umap" not in adata.obsm


def test_write_report_names_a_path_of_another_type(adata, tmp_path, monkeypatch):
    """path=3 failed in pathlib ("expected str, bytes or os.PathLike object, not int")."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TypeError, match=r"^path=3 must be a str or Path naming the \.html file"):
        sag.io.write_report(adata, 3)
    for name, what in (("key", "adata.uns"), ("shap_key", "adata.uns"), ("basis", "adata.obsm")):
        with pytest.raises(TypeError, match=rf"^{name}=3 must be a str naming a key of {what}"):
            sag.io.write_report(adata, "r.html", **{name: 3})
    assert list(tmp_path.iterdir()) == []


def _latent_section(path) -> str:
    """The latent-space section of the report at ``path``, without its images."""
    import re

    page = re.sub(r"<img[^>]*>", "", path.read_text())
    return page.split("<h2>Latent space</h2>", 1)[1]


def test_report_shows_embedding_scores_only_under_the_basis_they_were_computed_on(adata, tmp_path):
    """Scores of obsm['X_pca'] stored under key_added='sag_resvae' are not the latent's: the
    section of obsm['X_sag_resvae'] names their basis instead of showing them as its own."""
    rng = np.random.default_rng(0)
    adata.obsm["X_sag_resvae"] = rng.normal(size=(adata.n_obs, 5))
    adata.obsm["X_pca"] = rng.normal(size=(adata.n_obs, 10))
    sag.tl.embedding_scores(adata, "X_pca", "label", tsne=False, key_added="sag_resvae")
    section = _latent_section(sag.io.write_report(adata, tmp_path / "r.html"))
    assert (
        "The scores in <code>uns['sag_resvae']['scores']</code> were computed on "
        "<code>obsm['X_pca']</code>, not on this latent, so they are not shown." in section
    )
    for name in ("silhouette", "Davies-Bouldin", "ARI", "sag.tl.embedding_scores"):
        assert name not in section, name
    # scores of the latent itself: shown
    scores = sag.tl.embedding_scores(
        adata, "X_sag_resvae", "label", tsne=False, key_added="sag_resvae"
    )
    section = _latent_section(sag.io.write_report(adata, tmp_path / "r.html"))
    assert "not on this latent" not in section
    assert '<th scope="col">silhouette</th>' in section
    assert f"<td>{scores['silhouette']:.3f}</td>" in section


def test_report_top_genes_leave_out_genes_taken_out_as_shap_df_does(annotated, tmp_path):
    """Genes taken out of adata since explain: the table of top genes lists those
    sag.get.shap_df ranks (as pl.importance draws them), with a note, not the recorded ones."""
    import re

    top = [str(g) for g in annotated.uns["sag_shap"]["top_genes"][-1][:3]]
    kept = annotated[:, ~annotated.var_names.isin(top)].copy()
    page = sag.io.write_report(kept, tmp_path / "r.html").read_text()
    section = page.split("Genes that drive each class", 1)[1]
    rows = dict(
        re.findall(r'<tr><td class="l">([^<]*)</td><td class="l">([^<]*)</td></tr>', section)
    )
    columns = [str(c) for c in kept.uns["sag_shap"]["columns"]]
    assert list(rows) == columns
    for c in columns:
        names = sag.get.shap_df(kept, c, n_top=10)["names"]
        assert rows[c] == ", ".join(names)
        assert not set(rows[c].split(", ")) & set(top)
    assert (
        "3 of the top genes sag.tl.explain ranked are no longer in adata.var_names (taken out "
        f"since) and are not listed: {', '.join(sorted(top))}.</p>" in section
    )


def test_report_escapes_the_recorded_figures(classified, tmp_path):
    """The key figures are read from uns, which an .h5ad may bring from anywhere: a model's
    mode that is markup is shown as text, not inserted into the page."""
    import html

    bad = "<img src=x onerror=alert(1)>"
    classified.uns["sag"]["best"]["mode"] = bad
    page = sag.io.write_report(classified, tmp_path / "r.html").read_text()
    assert "<img src=x" not in page
    assert f"<b>{html.escape(bad)}</b>" in page


class _Tags:
    """The start tags of an HTML page, in order: (tag, its attributes as a dict)."""

    def __init__(self, page: str):
        from html.parser import HTMLParser

        self.tags: list[tuple[str, dict]] = []
        parser = HTMLParser()
        parser.handle_starttag = lambda tag, attrs: self.tags.append((tag, dict(attrs)))
        parser.feed(page)

    def __call__(self, name: str) -> list[dict]:
        return [attrs for tag, attrs in self.tags if tag == name]


def test_report_is_accessible(classified, tmp_path):
    """Each figure says what it shows (alt), the page its language and viewport, each table
    its column headers (in thead, scope="col") and, where no heading names it, a caption;
    the key figures read "0.967 test accuracy", not "0.967test accuracy"."""
    import re

    page = sag.io.write_report(classified, tmp_path / "r.html").read_text()
    tags = _Tags(page)
    assert tags("html") == [{"lang": "en"}]
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in tags("meta")
    alts = [attrs.get("alt", "") for attrs in tags("img")]
    assert len(alts) == 3  # confusion matrix, search history, architecture
    assert "figure" not in alts
    assert len(set(alts)) == 3
    assert "Confusion matrix of the test cells, 3 classes" in alts
    # every table: its head row in thead, each header cell of a column
    tables = re.findall(r"<table>.*?</table>", page)
    assert len(tables) == 3  # the metrics by split, per class, best trials
    for table in tables:
        assert re.fullmatch(
            r'<table>(<caption>[^<]+</caption>)?<thead><tr>(<th scope="col"[^>]*>[^<]*</th>)+'
            r"</tr></thead><tbody>(<tr>(<td[^>]*>[^<]*</td>)+</tr>)+</tbody></table>",
            table,
        ), table
    assert re.match(r"<table><caption>[^<]+</caption><thead><tr><th [^>]*>split</th>", tables[0])
    assert 'class=""' not in page
    test = classified.uns["sag"]["metrics"]["test"]
    assert f"<b>{test['accuracy']:.3f}</b> test accuracy" in page


def test_write_report_expands_the_home_folder(adata, tmp_path, monkeypatch):
    """path="~/r.html" is in the home folder, not in a folder named "~"."""
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    path = sag.io.write_report(_with_latent(adata), "~/r.html")
    assert path == tmp_path / "home" / "r.html"
    assert path.is_file()
    assert not (tmp_path / "~").exists()


def test_training_note_rounds_the_optimizers_settings():
    """SGD's momentum is shown to 3 significant digits, as the learning rate is."""
    from scautogenome.io._report import _training_note

    train = {"optimizer": "sgd", "lr": 0.0012345678, "momentum": 0.7195254015709299}
    note = _training_note({}, {**train, "weight_decay": 1.23456e-5}, None)
    assert note == "kept model: sgd (lr 0.00123, momentum 0.72, weight decay 1.23e-05)."


def test_report_shows_each_regression_error_column_alike(regressed, tmp_path):
    """RMSE and MAE, in the target's units, have as many decimals in both rows of a column
    (4 significant digits of its largest value), and no scientific notation for large
    targets; the key figure is shown as its column is."""
    import re

    metrics = regressed.uns["sag"]["metrics"]
    metrics["test"].update(rmse=555.0, mae=12345.6)
    metrics["val"].update(rmse=583.3, mae=9876.54)
    page = sag.io.write_report(regressed, tmp_path / "r.html").read_text()
    table = page[page.index(">split</th>") :]
    rows = re.findall(r"<tr>(.*?)</tr>", table[: table.index("</table>")])
    cells = [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in rows]
    assert [row[2:4] for row in cells] == [["555.0", "12346"], ["583.3", "9877"]]
    assert re.search(r"<b>555\.0</b>\s*test RMSE", page)


def test_report_header_names_the_version_and_the_time_zone(adata, tmp_path, monkeypatch):
    """The header says which scautogenome wrote the report, and when in which time zone;
    under SOURCE_DATE_EPOCH the line is the same on every machine."""
    import re

    from scautogenome.io._report import _written_at

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    page = sag.io.write_report(_with_latent(adata), tmp_path / "r.html").read_text()
    assert f"written 1970-01-01 00:00 UTC by scautogenome {sag.__version__}.</p>" in page
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d [+-]\d{4}", _written_at())


def test_report_shows_the_datas_source_once_in_any_report(adata, classified, tmp_path):
    """uns['provenance'] is shown in the report of a latent space or of predictions alone,
    not only in a classify run's, and once in each."""
    source = "GEO GSE000 <made up>"
    shown = "GEO GSE000 &lt;made up&gt;"
    query = adata.copy()
    adata.uns["provenance"] = source
    page = sag.io.write_report(_with_latent(adata), tmp_path / "e.html").read_text()
    assert page.count(shown) == 1
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(query, "label", seed=0)
    sag.tl.predict(query, model)
    query.uns["provenance"] = source
    page = sag.io.write_report(query, tmp_path / "p.html").read_text()
    assert "<h2>Predictions</h2>" in page
    assert page.count(shown) == 1
    classified.uns["provenance"] = source
    page = sag.io.write_report(classified, tmp_path / "c.html").read_text()
    assert "<h2>Classification</h2>" in page
    assert page.count(shown) == 1


def test_report_notes_classes_with_few_test_cells(classified, tmp_path):
    """Classes of 1 or 2 test cells, however many test cells there are in all: the report
    says how many (as classify warns), where one cell moves a class's F1 by a third."""
    test = classified.uns["sag"]["metrics"]["test"]
    test["per_class"]["support"] = np.array([1, 2, int(test["n"]) - 3])
    page = sag.io.write_report(classified, tmp_path / "r.html").read_text()
    assert "2 of the 3 classes have 1 or 2 test cells" in page
    assert "&#x27;type_0&#x27; (1), &#x27;type_1&#x27; (2)" in page
    test["per_class"]["support"] = np.array([3, 3, int(test["n"]) - 6])
    page = sag.io.write_report(classified, tmp_path / "r.html").read_text()
    assert "1 or 2 test cells" not in page


def _page_text(page: str) -> str:
    """The text of a report page, its tags and entities undone and its spaces joined."""
    import html
    import re

    page = re.sub(r"<style.*?</style>", "", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_report_of_a_prediction_scores_it_against_the_query_labels(adata, tmp_path):
    """A query with labels of the model's classes: the report scores the predictions against
    them (the cells labelled with a class of the model; those without a label or of another
    class left out and counted; "Unassigned" counted as wrong) and draws their matrix."""
    from sklearn.metrics import f1_score

    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 2})
    model.fit(adata, "label", seed=0)
    query = sag.datasets.synthetic(n_obs=120, n_vars=200, n_classes=3, seed=5)
    labels = query.obs["label"].cat.add_categories("other")
    labels[:7] = "other"  # a class the model lacks
    labels[7:10] = np.nan  # no label
    query.obs["label"] = labels
    sag.tl.predict(query, model)
    threshold = float(np.median(query.obs["sag_confidence"]))
    sag.tl.predict(query, model, min_confidence=threshold)
    page = sag.io.write_report(query, tmp_path / "q.html").read_text()
    text = _page_text(page)
    true = query.obs["label"].astype(object).to_numpy()
    pred = query.obs["sag_pred"].astype(str).to_numpy()
    classes = [str(c) for c in model.classes_]
    scored = np.isin(true.astype(str), classes)
    t, p = true[scored].astype(str), pred[scored]
    n_unassigned = int((p == "Unassigned").sum())
    assert 0 < n_unassigned < scored.sum()
    accuracy = float(np.mean(t == p))
    used = [c for c in classes if c in set(t) | set(p)]
    macro_f1 = f1_score(t, p, labels=used, average="macro", zero_division=0)
    assert "Scored against the query's own labels, obs['label']" in text
    assert f"{accuracy:.3f} accuracy" in text
    assert f"{macro_f1:.3f} macro-F1" in text
    assert f"{int(scored.sum())} cells scored" in text
    assert "not the model's test metrics" in text
    assert (
        "10 cells left out: 3 without a label; 7 labelled with a class the model lacks (other)"
        in text
    )
    assert (
        f"{n_unassigned} cells predicted 'Unassigned' (min_confidence={threshold:g}) count as wrong"
        in text
    )
    assert 'alt="Confusion matrix of the predictions against obs[&#x27;label&#x27;]' in page
    assert "could not be drawn" not in page
    # under another key, and without the labels: no score
    sag.tl.predict(query, model, key_added="q")
    page = sag.io.write_report(query, tmp_path / "q2.html", key="q").read_text()
    assert "Scored against the query's own labels" in _page_text(page)
    del query.obs["label"]
    page = sag.io.write_report(query, tmp_path / "q3.html", key="q").read_text()
    assert "Scored against" not in _page_text(page)


def test_report_of_numeric_predictions_scores_them_against_the_targets_column(adata, tmp_path):
    """A query of a Regressor that holds the target's column: R², RMSE and the plot."""
    from sklearn.metrics import mean_squared_error, r2_score

    adata.obs["age"] = np.linspace(20, 80, adata.n_obs)
    model = sag.models.Regressor({"kind": "mlp", "units": [8]}, {"max_epochs": 2})
    model.fit(adata, "age", seed=0)
    query = adata[:60].copy()
    query.obs.loc[query.obs_names[:5], "age"] = np.nan
    sag.tl.predict(query, model)
    page = sag.io.write_report(query, tmp_path / "q.html").read_text()
    text = _page_text(page)
    known = query.obs["age"].notna().to_numpy()
    y, p = query.obs["age"].to_numpy()[known], query.obs["sag_pred"].to_numpy()[known]
    assert "Scored against the query's own values, obs['age']" in text
    assert f"{r2_score(y, p):.3f}" in text
    from scautogenome.io._report import _in_units

    rmse = float(np.sqrt(mean_squared_error(y, p)))
    mae = float(np.mean(np.abs(y - p)))
    assert f"{rmse:{_in_units([rmse, mae])}} RMSE" in text
    assert "55 cells scored" in text
    assert "5 cells without a value left out" in text
    assert 'alt="Observed vs predicted age' in page
    assert "could not be drawn" not in page
    # the overlap line above says so, not that nothing is scored here
    assert "not scored against labels here" not in text
    assert "The predicted values are scored below against the query's own, obs['age']" in text


def test_report_of_a_prediction_shows_its_warnings(adata, tmp_path):
    """The warnings predict logged (a query lacking genes) are in the predictions section,
    escaped; a prediction without any shows none."""
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0)
    query = adata[:40, 20:].copy()
    sag.tl.predict(query, model)
    warned = [str(w) for w in query.uns["sag"]["warnings"]]
    page = sag.io.write_report(query, tmp_path / "q.html").read_text()
    text = _page_text(page)
    assert "sag.tl.predict warned" in text
    assert warned[0] in text
    assert text.index("sag.tl.predict warned") < text.index("predicted class")
    query.uns["sag"]["warnings"] = np.array(["values up to <21> only (already logged?)"])
    page = sag.io.write_report(query, tmp_path / "q.html").read_text()
    assert "values up to &lt;21&gt; only" in page
    sag.tl.predict(adata, model)
    page = sag.io.write_report(adata, tmp_path / "a.html").read_text()
    assert "warned" not in _page_text(page)


def test_report_counts_the_epochs_of_a_cut_model_as_the_log_does(classified, tmp_path):
    """A kept model cut by the time budget: the report counts the whole epochs, as
    classify's warning does, not the cut one among them."""
    uns = classified.uns["sag"]
    trials = uns["trials"]
    # the trials table records the minibatches of a cut epoch (0: none was cut)
    assert (trials["cut_batches"] == 0).all()
    best = trials["number"] == uns["best"]["trial"]
    trials.loc[best, "stopped"] = "time_budget"
    trials.loc[best, "epochs"] = 20
    trials["cut_batches"] = -1  # not recorded (a record of an earlier version)
    max_epochs = 15  # TINY_CONFIG's
    text = _page_text(sag.io.write_report(classified, tmp_path / "r.html").read_text())
    assert (
        "the kept model stopped at the time budget after "
        f"{float(trials.loc[best, 'seconds'].iloc[0]):.0f} s, 19 whole epochs of at most "
        f"{max_epochs} and part or all of the next, before it converged" in text
    )
    assert "20 epochs" not in text
    # where the record holds the minibatches of the cut epoch, as the log counts them
    trials["cut_batches"] = 0
    trials.loc[best, "cut_batches"] = 2
    text = _page_text(sag.io.write_report(classified, tmp_path / "r.html").read_text())
    assert f"19 whole epochs of at most {max_epochs} and 2 minibatches of the next" in text
    trials.loc[best, "cut_batches"] = 0  # cut at the end of an epoch
    text = _page_text(sag.io.write_report(classified, tmp_path / "r.html").read_text())
    assert f"20 epochs of at most {max_epochs}, before it converged" in text


def test_report_of_a_run_shows_the_warnings_of_a_later_predict_call(classified, tmp_path):
    """predict called on the classify run's own AnnData (same key) records its warnings in
    the classify record: the classification section shows them, labelled as the later
    predict call's, next to the note that it called the cells again; a run without them
    shows none."""
    page = sag.io.write_report(classified, tmp_path / "r.html").read_text()
    assert "warned" not in _page_text(page)
    uns = classified.uns["sag"]
    # as sag.tl.predict(adata, model, min_confidence=0.3) writes them into the record
    uns["predict_params"] = {"layer": "None", "min_confidence": 0.3, "min_gene_overlap": 0.5}
    uns["warnings"] = np.array(["query values up to <3.1> look log-normalized (already?)"])
    page = sag.io.write_report(classified, tmp_path / "r.html").read_text()
    text = _page_text(page)
    said = "sag.tl.predict warned when it was called on this AnnData after this run (1 warning)"
    assert said in text
    assert "query values up to &lt;3.1&gt; look log-normalized" in page  # escaped
    assert text.index("was called again by sag.tl.predict") < text.index(said)
    assert text.index(said) < text.index("Per class (test)")


def test_report_of_a_regression_run_shows_the_warnings_of_a_later_predict_call(regressed, tmp_path):
    uns = regressed.uns["sag"]
    uns["predict_params"] = {"layer": "None", "min_confidence": "None", "min_gene_overlap": 0.5}
    uns["warnings"] = ["the query had 50% of the model's genes"]
    text = _page_text(sag.io.write_report(regressed, tmp_path / "r.html").read_text())
    said = "sag.tl.predict warned when it was called on this AnnData after this run (1 warning)"
    assert said in text
    assert "the query had 50% of the model's genes" in text
    assert text.index("was replaced by sag.tl.predict") < text.index(said)


def test_report_scores_a_class_named_unassigned_as_a_class(adata, tmp_path):
    """A model whose class is named "Unassigned": its calls are scored as that class, and not
    said to be predict's unsure cells counted as wrong."""
    adata.obs["label"] = adata.obs["label"].cat.rename_categories({"type_0": "Unassigned"})
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 2})
    model.fit(adata, "label", seed=0)
    query = adata[:60].copy()
    sag.tl.predict(query, model)
    assert (query.obs["sag_pred"] == "Unassigned").any()
    text = _page_text(sag.io.write_report(query, tmp_path / "q.html").read_text())
    accuracy = float(np.mean(query.obs["label"].astype(str) == query.obs["sag_pred"].astype(str)))
    assert f"{accuracy:.3f} accuracy" in text
    assert "60 cells scored" in text
    assert "as wrong" not in text


def _int_label_model(adata):
    """A small Classifier of classes '0', '1', '2' (obs['cluster']: the labels' codes)."""
    adata.obs["cluster"] = adata.obs["label"].cat.codes.astype(int).astype("category")
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "cluster", seed=0)
    assert [str(c) for c in model.classes_] == ["0", "1", "2"]
    return model


def test_report_scores_integer_labels_made_float_by_a_missing_value(adata, tmp_path):
    """Labels 0, 1, 2 made 0.0, 1.0, 2.0 by a NaN score against classes '0', '1', '2', as
    the integers do; a float column of other values (a measurement) is no labels, nor is a
    column of numbers few of whose values are classes (named where nothing is scored)."""
    model = _int_label_model(adata)
    query = adata[:40].copy()
    codes = query.obs.pop("cluster").astype(int)
    query.obs["cluster"] = codes.astype(float)
    query.obs.loc[query.obs_names[:3], "cluster"] = np.nan
    query.obs["score"] = np.linspace(0, 2, 40)  # 0.0 and 2.0 among them: not labels
    sag.tl.predict(query, model)
    text = _page_text(sag.io.write_report(query, tmp_path / "q.html").read_text())
    assert "Scored against the query's own labels, obs['cluster']" in text
    assert "37 cells scored" in text
    assert "3 cells left out: 3 without a label" in text
    assert "labels_key='cluster')" in text
    # the same as integers
    query.obs["cluster"] = codes.to_numpy()
    text = _page_text(sag.io.write_report(query, tmp_path / "q.html").read_text())
    assert "40 cells scored" in text
    # without labels: a float column of other values is not taken; a column of counts
    # of which few are classes is named, not scored
    del query.obs["cluster"]
    query.obs["n_genes"] = np.arange(40)  # 0, 1 and 2 are classes: 3 of 40
    text = _page_text(sag.io.write_report(query, tmp_path / "q.html").read_text())
    assert "Scored against" not in text
    assert "Predictions are not scored against labels here" in text
    assert "obs['n_genes'] holds numbers, 3 of its 40 values the model's classes" in text
    assert "'score'" not in text


def test_report_scores_labels_most_of_which_are_classes_the_model_lacks(adata, tmp_path):
    """A query most of whose labels are of classes the model lacks (a cohort of other
    cancers with a few of the model's): its labels of the model's classes are scored, the
    others left out and counted, the column named in the scoring note."""
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0)
    query = adata[:40].copy()
    project = np.array(["TCGA-COAD"] * 40, dtype=object)
    project[:6] = query.obs["label"].astype(str).to_numpy()[:6]  # 6 of 40: model classes
    project[36:] = None
    query.obs["project_id"] = project
    del query.obs["label"]
    sag.tl.predict(query, model)
    text = _page_text(sag.io.write_report(query, tmp_path / "q.html").read_text())
    assert "Predictions are not scored against labels here" not in text
    assert "obs['project_id'] holds labels, 6 of its 36 of the model's classes" in text
    assert "labels_key='project_id')" in text
    assert "Scored against the query's own labels, obs['project_id']" in text
    assert "6 cells scored" in text
    assert (
        "34 cells left out: 4 without a label; 30 labelled with a class the model lacks "
        "(TCGA-COAD)" in text
    )
    # a column sharing no class with the model is still not scored
    query.obs["project_id"] = "TCGA-COAD"
    text = _page_text(sag.io.write_report(query, tmp_path / "q.html").read_text())
    assert "Scored against" not in text


def test_report_says_which_cells_the_matrix_title_counts_unassigned_among(adata, tmp_path):
    """min_confidence on a query with labels of a class the model lacks: the text counts the
    'Unassigned' among the scored cells, the matrix's title among all labelled cells; the
    report says what each number covers, and the title's is the figure's."""
    from scautogenome.plotting._classify import _observed_confusion

    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0)
    query = adata[:80].copy()
    labels = query.obs["label"].cat.add_categories("other")
    labels[:30] = "other"
    labels[30:35] = np.nan
    query.obs["label"] = labels
    sag.tl.predict(query, model)
    threshold = float(np.median(query.obs["sag_confidence"]))
    sag.tl.predict(query, model, min_confidence=threshold)
    pred = query.obs["sag_pred"].astype(str).to_numpy()
    true = query.obs["label"].astype(str).to_numpy()
    labelled = query.obs["label"].notna().to_numpy()
    scored = labelled & (true != "other")
    n_scored = int((pred[scored] == "Unassigned").sum())
    n_all = int((pred[labelled] == "Unassigned").sum())
    assert 0 < n_scored < n_all
    title = _observed_confusion(query, "sag", "label")[3]
    assert f"{n_all} cells Unassigned (min_confidence)" in title
    text = _page_text(sag.io.write_report(query, tmp_path / "q.html").read_text())
    assert f"{n_scored} cells predicted 'Unassigned' (min_confidence={threshold:g})" in text
    assert (
        f"Its count of 'Unassigned' ({n_all}) is of all {int(labelled.sum())} labelled "
        f"cells, {n_all - n_scored} of them labelled with a class the model lacks; the count "
        "above is of the scored cells alone." in text
    )


def test_report_of_an_explanation_whose_gene_scores_anndata_concat_dropped(annotated, tmp_path):
    """anndata.concat(..., uns_merge="first") keeps the explanation's record and drops
    varm: the report is written without its section, with a note of why."""
    import anndata as ad

    joined = ad.concat([annotated[:150].copy(), annotated[150:].copy()], uns_merge="first")
    assert "sag_shap" in joined.uns
    assert "sag_shap" not in joined.varm
    page = sag.io.write_report(joined, tmp_path / "r.html").read_text()
    assert "varm[&#x27;sag_shap&#x27;]" in page
    assert "Run sag.tl.explain again" in page
    assert "top 10 genes" not in page


def test_report_leaves_the_text_columns_of_obs_and_var_as_they_were(classified, tmp_path):
    """scanpy's embedding plot makes every text column of obs and var categorical, those the
    report never names too: writing a report changed the user's column types."""
    import pandas as pd

    adata = _with_latent(classified)
    adata.obs["donor"] = np.array(["d1", "d2", "d3"] * 100, dtype=object)
    adata.obs["note"] = pd.array(["a", None, "b"] * 100, dtype="string")
    adata.var["chrom"] = np.array(["chr1", "chr2"] * 100, dtype=object)
    obs, var = adata.obs.dtypes.copy(), adata.var.dtypes.copy()
    sag.io.write_report(adata, tmp_path / "r.html")
    pd.testing.assert_series_equal(adata.obs.dtypes, obs)
    pd.testing.assert_series_equal(adata.var.dtypes, var)
    assert adata.obs["donor"].tolist() == ["d1", "d2", "d3"] * 100


def test_report_rounds_a_gene_overlap_down_as_the_warning_does():
    """The query's warning says 93.4% of 715 of 765 genes (rounded down: 1,999 of 2,000 is not
    100.0%); the report, a few lines below it, said 93.5%."""
    from scautogenome.io._report import _genes_had

    overlap = {"n_common": 715, "n_model_genes": 765, "fraction_of_model_genes": 715 / 765}
    assert _genes_had(overlap) == "715 of the model's 765 genes (93.4%)"
    overlap = {"n_common": 1999, "n_model_genes": 2000, "fraction_of_model_genes": 0.9995}
    assert _genes_had(overlap).endswith("(99.9%)")


def test_best_trials_table_counts_whole_epochs_and_marks_a_cut_one(classified, tmp_path):
    """The Best-trials table counts the epochs as the Training line does: a trial cut by the
    time budget shows its whole epochs and a mark for the cut one, explained below it."""
    uns = classified.uns["sag"]
    trials = uns["trials"]
    best = trials["number"] == uns["best"]["trial"]
    trials.loc[best, "stopped"] = "time_budget"
    trials.loc[best, "epochs"] = 20
    trials.loc[best, "cut_batches"] = 2
    page = sag.io.write_report(classified, tmp_path / "r.html").read_text()
    table = page[page.index("<h3>Best trials</h3>") :]
    table = table[: table.index("</table>")]
    n = int(trials.loc[best, "number"].iloc[0])
    row = re.search(rf"<tr><td[^>]*>{n}</td>.*?</tr>", table).group(0)
    assert re.search(r"<td[^>]*>19\+</td>", row)
    assert not re.search(r"<td[^>]*>20</td>", row)
    assert (
        "Epochs with + (as 19+): that many whole epochs and part of the next, cut by the time "
        "budget" in _page_text(page)
    )
    # cut at the end of an epoch: all of them whole, no mark
    trials.loc[best, "cut_batches"] = 0
    page = sag.io.write_report(classified, tmp_path / "r.html").read_text()
    table = page[page.index("<h3>Best trials</h3>") :]
    assert "+</td>" not in table[: table.index("</table>")]
    assert "Epochs with +" not in page


def test_report_names_the_versions_that_trained_the_model(classified, tmp_path):
    """The header names the version that wrote the report; the Training line the versions
    that trained the model, which a report written later by another version would hide."""
    import torch

    versions = dict(classified.uns["sag"]["versions"])
    text = _page_text(sag.io.write_report(classified, tmp_path / "r.html").read_text())
    assert (
        f"trained with scautogenome {versions['scautogenome']}, torch {versions['torch']}" in text
    )
    assert versions["torch"] in (torch.__version__, torch.__version__.split("+")[0])
    classified.uns["sag"]["versions"] = {**versions, "scautogenome": "0.0.9", "torch": "2.1.0"}
    text = _page_text(sag.io.write_report(classified, tmp_path / "r.html").read_text())
    assert "trained with scautogenome 0.0.9, torch 2.1.0" in text
    # a latent space's kept model too
    sag.tl.embed(classified, n_trials=1, time_budget=5)
    text = _page_text(sag.io.write_report(classified, tmp_path / "r.html").read_text())
    latent = text[text.index("The kept model") :]
    assert f"Trained with scautogenome {versions['scautogenome']}, torch" in latent


def test_report_says_which_cells_were_explained(annotated, tmp_path):
    params = annotated.uns["sag_shap"]["params"]
    text = _page_text(sag.io.write_report(annotated, tmp_path / "r.html").read_text())
    assert (
        f"Explained: {params['n_explain']} test cells, each counted towards its class in "
        f"obs['label'], against {params['n_background']} training cells (the background), "
        f"{params['nsamples']} draws per cell." in text
    )
    from scautogenome.io._report import _explained_cells

    custom = {"params": {**params, "cells": "custom", "groupby": "predicted class"}}
    assert (
        f"Explained: {params['n_explain']} cells chosen by the call&#x27;s cells= argument, "
        "each counted towards its predicted class" in _explained_cells(custom, "cells")
    )


def test_report_names_the_classes_without_a_val_cell(adata, tiny_config, tmp_path):
    """A user's split without a val cell of a class: classify warns of it, and so does the
    report, since the search chose its model without validating that class."""
    labels = adata.obs["label"].astype(str).to_numpy()
    parts = np.where(np.arange(adata.n_obs) % 5 == 0, "test", "train").astype(object)
    parts[(np.arange(adata.n_obs) % 5 == 1) & (labels != "type_1")] = "val"
    adata.obs["part"] = parts
    sag.tl.classify(adata, "label", config=tiny_config, split_key="part")
    text = _page_text(sag.io.write_report(adata, tmp_path / "r.html").read_text())
    assert (
        "1 of the 3 classes has no validation cell (type_1): the search chose its model "
        "without validating it." in text
    )


def test_report_draws_the_distributions_of_the_classes_with_most_explained_cells(
    annotated, tmp_path, monkeypatch
):
    """Past MAX_DISTRIBUTIONS classes, those drawn are those with the most explained cells
    (ties in class order), not the first in category order (type_100 before type_2), which
    drew classes of one explained cell and named the best covered among those left out."""
    import re

    from scautogenome.io import _report

    monkeypatch.setattr(_report, "MAX_DISTRIBUTIONS", 1)
    n_cells = np.asarray(annotated.uns["sag_shap"]["n_cells"]).copy()
    classes = [str(c) for c in annotated.uns["sag_shap"]["classes"]]
    n_cells[:] = 1
    n_cells[2] = 5  # the last class has the most explained cells
    annotated.uns["sag_shap"]["n_cells"] = n_cells
    page = sag.io.write_report(annotated, tmp_path / "r.html").read_text()
    section = page[page.index("Genes that drive each class") :]
    assert re.findall(r"<h3>([^<]*)</h3>", section)[0] == classes[2]
    assert f"2 more classes are not drawn here ({classes[0]}, {classes[1]})" in page


def test_report_names_at_most_ten_classes_left_out(tmp_path):
    """A reference of many tiny classes: the split line names ten of the classes left out
    and how many there are, as the log does, not all of them in one sentence."""
    import pandas as pd

    adata = sag.datasets.synthetic(n_obs=300, n_vars=50, n_classes=3, seed=0)
    labels = adata.obs["label"].astype(str).to_numpy(copy=True)
    labels[:24] = [f"tiny_{i:02d}" for i in range(12) for _ in range(2)]
    adata.obs["label"] = pd.Categorical(labels)
    model = sag.tl.classify(
        adata,
        "label",
        config={"budget": {"n_trials": 1, "time_budget": None}, "trainer": {"max_epochs": 2}},
        min_cells_per_class=3,
        mode="mlp",
    )
    assert model is not None
    text = _page_text(sag.io.write_report(adata, tmp_path / "r.html").read_text())
    assert "24 in classes left out of training for too few cells (tiny_00, tiny_01," in text
    assert "tiny_09, ... (12 classes in all); predicted as one of the others)" in text
    assert "tiny_11" not in text.split("Split:")[1].split("Training:")[0]


def test_a_confusion_matrix_of_many_classes_is_shown_at_its_size_in_a_scrolled_box(
    classified, tmp_path, monkeypatch
):
    """The page's width shrank a matrix of 117 classes four times, its labels unreadable: past
    SCROLLED_CLASSES it keeps its size, in a box that scrolls."""
    from scautogenome.io import _report

    page = sag.io.write_report(classified, tmp_path / "r.html").read_text()
    assert 'class="fig scroll"' not in page  # 3 classes: fitted to the page
    monkeypatch.setattr(_report, "SCROLLED_CLASSES", 2)
    page = sag.io.write_report(classified, tmp_path / "r.html").read_text()
    matrix = page[page.index("Confusion matrix (test") :]
    assert matrix.index('<div class="fig scroll">') < matrix.index("<img")
    assert ".fig.scroll{" in page


# -- pins from mutation testing of io/_report.py (stop 59) -----------------------------------


def test_report_helpers_at_their_bounds():
    """The small notes at their edges: ten classes listed whole, a cut model's first epoch, 50
    test cells (no note) against 49, the Wilson interval of an accuracy whose cells do not
    multiply back exactly in floats (15 of 22), no note on classes without validation cells
    where there are no validation cells at all."""
    from scipy.stats import binomtest

    from scautogenome.io import _report

    ten = [f"c{i}" for i in range(10)]
    assert _report._listed(ten) == ", ".join(ten)
    assert _report._listed([*ten, "c10"]).endswith(", ... (11 classes in all)")
    row = {"epochs": 1, "stopped": "time_budget", "cut_batches": -1}
    assert _report._epochs_trained(row, 50) == "part or all of its first epoch (of at most 50)"
    assert _report._few_test_cells({"n": 50, "accuracy": 0.5}, True) == ""
    assert "Only 49 test cells" in _report._few_test_cells({"n": 49, "accuracy": 0.5}, True)
    ci = binomtest(15, 22).proportion_ci(confidence_level=0.95, method="wilson")
    note = _report._few_test_cells({"n": 22, "accuracy": 15 / 22}, True)
    assert f"{ci.low:.2f}\u2013{ci.high:.2f} (Wilson)" in note
    classes = ["a", "b", "c"]
    assert (
        _report._classes_not_validated({"per_class": {"support": [0, 0, 0]}}, classes, "cells")
        == ""
    )
    assert "1 of the 3 classes has" in _report._classes_not_validated(
        {"per_class": {"support": [2, 0, 1]}}, classes, "cells"
    )


def test_report_source_names_five_files_and_counts_the_rest():
    import anndata as ad

    from scautogenome.io._report import _data_source

    adata = ad.AnnData(np.zeros((1, 1), dtype=np.float32))
    adata.uns["sag_io"] = {"reader": "read_maf", "files": [f"f{i}.maf" for i in range(7)]}
    assert _data_source(adata) == "read by sag.io.read_maf from f0.maf, f1.maf, f2.maf, " + (
        "f3.maf, f4.maf and 2 more"
    )


def test_report_counts_the_groups_a_split_kept_whole():
    """TCGA patients counted apart from the other names beside them; each missing value of a
    group column a group of its own; names that are all barcodes get no note of others."""
    import anndata as ad
    import pandas as pd

    from scautogenome.data._split import AUTO_GROUPS
    from scautogenome.io._report import _n_groups, _split_note

    names = ["TCGA-AB-1234-01A", "TCGA-AB-1234-11A", "TCGA-CD-5678-01A", "s1", "s2"]
    adata = ad.AnnData(np.zeros((5, 1), dtype=np.float32), obs=pd.DataFrame(index=names))
    used = np.ones(5, dtype=bool)
    assert _n_groups(adata, used, AUTO_GROUPS) == (2, 2, 2)
    adata.obs["donor"] = ["a", "a", None, None, "b"]
    assert _n_groups(adata, used, "donor") == (4, 0, 0)
    tcga = adata[:3].copy()
    tcga.obs["sag_split"] = ["train", "train", "test"]
    tcga.uns["sag"] = {"params": {"seed": 0, "split_groups": AUTO_GROUPS}}
    note = _split_note(tcga, "sag", "samples", False)
    assert "the samples of each TCGA patient (2 in all) kept in one part." in note
    assert "other samples" not in note


# -- pins from mutation testing of io/_report.py (stop 60) -----------------------------------


def test_few_test_cells_note_says_how_much_one_cell_weighs():
    """One of 10 test cells moves the accuracy by 10%; a numeric target's note names no
    accuracy and says each row weighs much."""
    from scautogenome.io import _report

    note = _report._few_test_cells({"n": 10, "accuracy": 0.5}, True)
    assert "one cell moves the accuracy by 10%" in note
    note = _report._few_test_cells({"n": 8, "r2": 0.1}, False, noun="samples")
    assert note.startswith("<p><b>Only 8 test samples:</b> each sample weighs much")
    assert "accuracy" not in note


def test_classes_scored_counts_the_classes_predicted_but_absent():
    """Of three classes, one without a test cell but predicted: the macro-F1 averages over
    all three, one of them predicted but absent; the balanced accuracy over two. A matrix of
    no test cell at all gets no note."""
    from scautogenome.io import _report

    uns = {"classes": ["a", "b", "c"], "confusion": np.array([[2, 0, 1], [0, 3, 0], [0, 0, 0]])}
    note = _report._classes_scored(uns, "cells")
    assert "1 of the 3 classes have no test cell." in note
    assert "Macro-F1 averages over the 3 classes in the test split or predicted there" in note
    assert "(1 of them predicted but absent, each scoring 0)" in note
    assert "balanced accuracy over the 2 in the test split" in note
    uns["confusion"] = np.array([[2, 0, 0], [0, 3, 0], [0, 0, 0]])  # c neither present nor called
    assert "over the 2 classes in the test split or predicted there (0 of them" in (
        _report._classes_scored(uns, "cells")
    )
    uns["confusion"] = np.zeros((3, 3))
    assert _report._classes_scored(uns, "cells") == ""


def test_epochs_of_a_trial_cut_by_its_share_of_the_time_budget():
    """A trial stopped by its share of the budget (trial_cap) is cut as one stopped by the
    budget: its whole epochs one fewer, the minibatches of the cut one named; one that
    stopped at an epoch's end (cut_batches 0), or early, is not cut."""
    from scautogenome.io import _report

    row = {"epochs": 5, "stopped": "trial_cap", "cut_batches": 3}
    assert _report._cut_short(row)
    assert (
        _report._epochs_trained(row, 10)
        == "4 whole epochs of at most 10 and 3 minibatches of the next"
    )
    assert _report._epochs_trained({**row, "cut_batches": -1}, None) == (
        "4 whole epochs and part or all of the next"
    )
    assert _report._epochs_trained({**row, "epochs": 2, "cut_batches": -1}, 10) == (
        "1 whole epochs of at most 10 and part or all of the next"
    )
    assert not _report._cut_short({**row, "cut_batches": 0})
    assert _report._epochs_trained({**row, "cut_batches": 0}, 10) == "5 epochs of at most 10"
    assert not _report._cut_short({**row, "stopped": "early_stopping"})


def test_best_trials_lists_the_ten_best(classified, tmp_path):
    """Of 12 trials the table lists the 10 best, as its heading's reader expects of it."""
    import pandas as pd

    uns = classified.uns["sag"]
    trials = pd.concat([uns["trials"].iloc[:1]] * 12, ignore_index=True)
    trials["number"] = range(12)
    trials["value"] = np.linspace(0.1, 0.9, 12)
    uns["trials"] = trials
    page = sag.io.write_report(classified, tmp_path / "r.html").read_text()
    table = page[page.index("<h3>Best trials</h3>") :]
    table = table[: table.index("</table>")]
    assert re.findall(r"<tr><td[^>]*>(\d+)</td>", table) == [str(n) for n in range(11, 1, -1)]


def test_split_note_of_a_subset_whose_test_part_alone_differs():
    """A subset whose val cells are all the run's but whose test cells are fewer: its counts
    are still said not to be the run's."""
    import anndata as ad

    from scautogenome.io._report import _split_note

    adata = ad.AnnData(np.zeros((4, 1), dtype=np.float32))
    adata.obs["sag_split"] = ["train", "train", "val", "test"]
    adata.uns["sag"] = {"params": {"seed": 0}, "metrics": {"val": {"n": 1}, "test": {"n": 5}}}
    note = _split_note(adata, "sag", "cells", False)
    assert note.startswith(
        "2 train / 1 val / 1 test cells among these cells (obs['sag_split']; a subset of the "
        "run's, whose split held 1 val / 5 test cells)"
    )
    adata.uns["sag"]["metrics"]["test"]["n"] = 1  # the run's own cells: no such note
    assert "subset" not in _split_note(adata, "sag", "cells", False)


def test_training_note_of_a_model_best_at_its_first_epoch():
    """A model best at its first epoch (best_epoch 0) says so, one of a single epoch names
    it, and Adam's momentum-free record shows no momentum even where one is recorded."""
    from scautogenome.io._report import _training_note

    row = {"number": 3, "epochs": 1, "best_epoch": 0, "stopped": "early_stopping"}
    train = {"optimizer": "adam", "lr": 0.001, "momentum": 0.9}
    note = _training_note({}, train, row)
    assert note == "kept model (trial 3): adam (lr 0.001), 1 epochs (best at epoch 1)."


def test_explained_cells_names_a_part_only_of_a_split():
    """cells='test' without a split column names no part; a numeric target's grouping
    ("all cells") names no class column; the background drawn otherwise than from training
    is not called training cells."""
    from scautogenome.io._report import _explained_cells

    params = {
        "cells": "test",
        "split_key": "None",
        "n_explain": 10,
        "n_background": 5,
        "nsamples": 20,
        "groupby": "all cells",
        "background_from": "explained",
    }
    note = _explained_cells({"params": params}, "cells")
    assert "Explained: 10 cells, against 5 cells (the background), 20 draws per cell." in note
    note = _explained_cells({"params": {**params, "split_key": "sag_split"}}, "cells")
    assert "Explained: 10 test cells, against" in note


def test_latent_section_names_the_leiden_runs_and_the_decoders_batches(adata, tmp_path):
    """The Leiden clusters of one run name no mean; of three, the mean over them. The
    batches the decoder was conditioned on are those the run recorded (not those obs holds
    now), and a batch column since removed gets no note."""
    _with_latent(adata)
    adata.obs["batch"] = np.where(np.arange(adata.n_obs) % 2, "b1", "b2")
    scores = {"basis": "X_sag_resvae", "labels_key": "label", "ari": 0.5, "nmi": 0.4}
    scores |= {"n_clusters": 4.0, "n_labels": 3, "leiden_seeds": 1}
    run = {"scores": scores, "params": {"batch_key": "batch"}, "batches": ["b1", "b2", "b3"]}
    adata.uns["sag_resvae"] = run
    section = _page_text(_latent_section(sag.io.write_report(adata, tmp_path / "r.html")))
    assert "ARI and NMI of 4 Leiden clusters for 3 labels," in section
    assert "The decoder was conditioned on the 3 batches of obs['batch']" in section
    scores["leiden_seeds"] = 3
    section = _page_text(_latent_section(sag.io.write_report(adata, tmp_path / "r.html")))
    assert "ARI and NMI of 4 Leiden clusters (mean over 3 runs) for 3 labels," in section
    del adata.obs["batch"]
    section = _page_text(_latent_section(sag.io.write_report(adata, tmp_path / "r.html")))
    assert "conditioned on" not in section


def test_genes_taken_out_names_ten_and_marks_more():
    import anndata as ad

    from scautogenome.io._report import _genes_taken_out

    adata = ad.AnnData(np.zeros((1, 1), dtype=np.float32))
    adata.var_names = ["kept"]
    ten = np.array([f"g{i:02d}" for i in range(10)] + ["kept"])
    assert _genes_taken_out(adata, ten).endswith("g08, g09.</p>")
    eleven = np.array([f"g{i:02d}" for i in range(11)])
    note = _genes_taken_out(adata, eleven)
    assert note.startswith('<p class="muted">11 of the top genes')
    assert note.endswith("g08, g09, ....</p>")


def _query_of_calls(pred, conf=None, classes=("a", "b", "c")):
    """A bare AnnData as sag.tl.predict leaves one: its calls (and their confidence) in obs
    and a record of the model's classes, no model trained."""
    import anndata as ad
    import pandas as pd

    adata = ad.AnnData(np.zeros((len(pred), 1), dtype=np.float32))
    if isinstance(pred[0], str):
        adata.obs["sag_pred"] = pd.Categorical(pred, categories=list(classes))
    else:
        adata.obs["sag_pred"] = np.asarray(pred, dtype=np.float64)
    if conf is not None:
        adata.obs["sag_confidence"] = np.asarray(conf, dtype=np.float64)
    adata.uns["sag"] = {"classes": np.array(classes)}
    return adata


def test_predictions_table_counts_the_cells_below_half_by_default():
    """Without min_confidence the cells whose confidence is below 0.5 (not at it) are
    counted; a class never predicted gets no row."""
    from scautogenome.io._report import _predict_section

    adata = _query_of_calls(["a", "a", "a", "b"], [0.5, 0.9, 0.4, 0.2])
    page = "".join(_predict_section(adata, "sag"))
    assert '<th scope="col">cells below 0.5</th>' in page
    assert '<tr><td class="l">a</td><td>3</td><td>75.0%</td><td>0.500</td><td>1</td></tr>' in page
    assert '<tr><td class="l">b</td><td>1</td><td>25.0%</td><td>0.200</td><td>1</td></tr>' in page
    assert '<td class="l">c</td>' not in page


def test_numeric_predictions_table_shows_the_whole_range():
    from scautogenome.io._report import _predict_section

    adata = _query_of_calls(list(np.arange(11.0)), classes=("age",))
    page = "".join(_predict_section(adata, "sag"))
    header = "".join(f'<th scope="col">{h}</th>' for h in ("cells", "mean", "sd"))
    assert header + '<th scope="col">0%</th>' in page
    assert "<td>11</td><td>5</td><td>3.162</td><td>0</td><td>2.5</td><td>5</td>" in page
    assert "<td>7.5</td><td>10</td></tr>" in page


def test_missing_genes_names_no_extra_query_genes_where_there_are_none():
    from scautogenome.io._report import _missing_genes

    overlap = {"n_common": 5, "n_query_genes": 5, "n_missing_filled": 2}
    assert _missing_genes(overlap) == "2 missing genes were set to 0"
    assert _missing_genes({**overlap, "n_missing_filled": 1}) == "1 missing gene was set to 0"
    overlap["n_query_genes"] = 6
    assert _missing_genes(overlap).endswith("; 1 query gene the model does not have was not read")


def test_label_columns_of_numbers_half_of_them_classes_are_taken():
    """A column of numbers half of whose values are the model's classes is taken for
    labels (at least half); of two columns with as many labels, the first is taken."""
    from scautogenome.io._report import _label_columns, _query_labels

    adata = _query_of_calls(["1", "2", "1", "3"], classes=("1", "2", "3"))
    adata.obs["plate"] = np.array([1, 2, 7, 8])
    assert _label_columns(adata, "sag") == [("plate", 2, 4, True)]
    adata.obs["plate"] = np.array([1, 7, 8, 9])
    assert _label_columns(adata, "sag") == [("plate", 1, 4, False)]
    assert _query_labels([("x", 2, 2, True), ("y", 2, 3, True)]) == "x"


def test_label_scores_give_the_accuracy_of_the_cells_not_unassigned():
    """One cell of five Unassigned: counted as wrong, in the singular, and the accuracy of
    the other four (3 right) is said beside it."""
    import pandas as pd

    from scautogenome.io._report import _label_scores

    adata = _query_of_calls(["a", "a", "b", "c", "c"])
    adata.obs["sag_pred"] = pd.Categorical(
        ["a", "Unassigned", "b", "c", "c"], categories=["a", "b", "c", "Unassigned"]
    )
    adata.obs["truth"] = pd.Categorical(["a", "a", "b", "b", "c"])
    text = _page_text("".join(_label_scores(adata, "sag", "truth", "cells")))
    assert (
        "1 cell predicted 'Unassigned' counts as wrong; the accuracy on the other 4 is 0.750."
        in text
    )
    assert "0.600 accuracy" in text


def test_value_scores_count_the_cells_without_a_value_and_skip_a_boolean_column():
    from scautogenome.io._report import _value_scores

    adata = _query_of_calls([1.0, 2.0, 3.0, 4.0], classes=("age",))
    adata.obs["age"] = [1.0, 2.5, np.nan, 4.0]
    text = _page_text("".join(_value_scores(adata, "sag", "age", "cells")))
    assert "3 cells scored" in text
    assert "not the model's test metrics; 1 cell without a value left out." in text
    adata.obs["age"] = [True, False, True, True]
    assert _value_scores(adata, "sag", "age", "cells") == []


def test_an_explanation_is_of_other_weights_only_where_both_digests_are_recorded():
    from scautogenome.io._report import _explained_elsewhere

    explanation = {"params": {"classify_key": "None"}, "model_digest": "abcdef0123456789"}
    assert _explained_elsewhere(explanation, "sag", {}) is None
    assert _explained_elsewhere(explanation, "sag", {"model_digest": "abcdef0123456789"}) is None
    assert _explained_elsewhere(explanation, "sag", {"model_digest": "0"}) == (
        "the model of weights digest abcdef012345"
    )


def test_report_source_of_five_files_names_them_all():
    import anndata as ad

    from scautogenome.io._report import _data_source

    adata = ad.AnnData(np.zeros((1, 1), dtype=np.float32))
    adata.uns["sag_io"] = {"reader": "read_maf", "files": [f"f{i}.maf" for i in range(5)]}
    assert _data_source(adata) == "read by sag.io.read_maf from f0.maf, f1.maf, f2.maf, " + (
        "f3.maf, f4.maf"
    )


def test_latent_space_of_a_classify_run_is_coloured_by_its_labels(classified, tmp_path):
    page = sag.io.write_report(_with_latent(classified), tmp_path / "r.html").read_text()
    assert (
        "Scatter plot of obsm[&#x27;X_sag_resvae&#x27;], one dot per cell, coloured by label"
        in page
    )


def test_a_latent_half_of_whose_dimensions_vary_is_no_collapse(adata, tmp_path):
    """Posterior collapse is fewer than half of the dimensions varying: one of two is not."""
    _with_latent(adata).uns["sag_resvae"] = {"active_dims": 1}
    section = _latent_section(sag.io.write_report(adata, tmp_path / "r.html"))
    assert "(2 dimensions, 1 of them varying across cells, drawn as it is)" in section
    assert "Posterior collapse" not in section
    adata.uns["sag_resvae"] = {"active_dims": 0}
    section = _latent_section(sag.io.write_report(adata, tmp_path / "r.html"))
    assert "Posterior collapse" in section


def test_report_of_predictions_leaves_out_an_explanation_of_other_weights(tmp_path):
    """A query's predictions and an explanation of a model of other weights: the report
    names whose it is instead of showing its genes as the predictions'."""
    adata = _query_of_calls(["a", "b", "c"], [0.9, 0.8, 0.7])
    adata.uns["sag"] |= {"predict_params": {}, "model_digest": "a" * 40}
    adata.uns["sag_shap"] = {
        "top_genes": np.array([["g"]]),
        "columns": np.array(["overall"]),
        "params": {"classify_key": "None"},
        "model_digest": "b" * 40,
    }
    text = _page_text(sag.io.write_report(adata, tmp_path / "r.html").read_text())
    assert f"uns['sag_shap'] explains the model of weights digest {'b' * 12}, not this one" in text
