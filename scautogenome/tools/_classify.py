from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.special import log_softmax

from .. import _keys
from .. import config as _config
from .._logging import elapsed
from .._settings import keep_python_rng, keep_torch_rng, logger, resolve_seed
from .._utils import check_key
from ..data import obs_noun, prepare_labelled, resolve_task
from ..data._prepare import check_labels_key, check_min_cells_per_class
from ..models import Classifier, Regressor
from ..search import (
    CLASSIFY_STUDY,
    check_collect,
    check_storage,
    check_trained,
    rrfcn_in_auto,
    run_search,
    search_with_rrfcn,
    storage_recorded,
    warn_if_cut,
)
from ..train import (
    REGRESSION_METRICS,
    check_metric,
    check_objective,
    check_regression_objective,
    classification_report,
    log_odds,
    regression_report,
    resolve_device,
    target_scale,
)
from ._predict import prediction_outputs
from ._utils import (
    Outputs,
    budget_overrides,
    budget_text,
    call_params,
    check_class_outputs,
    check_key_added,
    check_model_dir,
    check_uns_key,
    drop_class_outputs,
    explains_replaced_run,
    few_test_classes,
    final_model,
    h5ad_safe,
    load_config,
    save_model,
    search_uns,
)

if TYPE_CHECKING:
    from anndata import AnnData


@keep_python_rng()  # the user's next random.random() draws as without the call
@keep_torch_rng()
def classify(
    adata: AnnData,
    labels_key: str,
    *,
    mode: str | None = None,
    layer: str | None = None,
    split_key: str | None = None,
    group_key: str | None = "auto",
    n_trials: int | None = None,
    time_budget: float | None = None,
    metric: str | None = None,
    config: dict | str | Path | None = None,
    value_type: str = "auto",
    min_cells_per_class: int | None = None,
    task: str = "auto",
    storage: str | None = None,
    study_name: str | None = None,
    device: str | None = None,
    seed: int | None = None,
    key_added: str = _keys.CLASSIFY_KEY,
    model_dir: str | Path | None = None,
) -> Classifier | Regressor:
    """Search for the best classifier of ``adata.obs[labels_key]`` and annotate ``adata``.

    The AutoGenome supervised search: MLP, RFCN-ResNet and RFCN-DenseNet architectures and
    their training hyper-parameters are searched with Optuna (TPE sampling, pruning of hopeless
    trials, early stopping) on a seeded, stratified 8:1:1 train/val/test split (a TCGA
    patient's samples, or the cells of a ``group_key`` group, in one part). The search
    optimises the validation metric; the test split is used once, by the final model.

    A numeric label column (an age, a drug response, a time point) is predicted as a number
    instead (``task="regression"``, as the paper's mean squared error loss does): the same
    search, split stratified on quantile bins of the values, a network with one output, and a
    :class:`~scautogenome.models.Regressor` returned.

    Parameters
    ----------
    adata
        Cells (or samples) x genes. ``X`` or ``layer`` may be dense or sparse and hold raw counts
        (normalized to 1e4 + log1p), TPM/FPKM/RSEM-like unlogged values (log1p), binary 0/1
        profiles (used as they are) or already transformed values; then every gene is scaled to 0-1
        with the training split's min/max. A gene constant on the training cells (never mutated,
        never detected) is 0 in every cell then, and the networks leave it out of their first layer
        (the log says how many). A view (``adata[mask]``) is refused before any work, as the
        results are written into ``adata``: pass ``adata[mask].copy()``.
    labels_key
        Column of ``adata.obs`` with the classes (or the numeric target). Cells with a missing
        label are not trained on and still get a prediction. Not one of the columns this call writes
        (``{key_added}_pred``, ``{key_added}_split``).
    mode
        ``"mlp"``, ``"resnet"``, ``"densenet"``, ``"rrfcn"`` (randomly-wired RFCN found by
        ENAS: an LSTM controller on shared weights, the top candidates retrained; settings in
        ``config['rrfcn']``) or ``"auto"`` (search across MLP/ResNet/DenseNet; RRFCN joins
        with ``auto_share`` of the time only when ``time_budget`` is at least
        ``config['rrfcn']['auto_min_time_budget']``, default 1800 s). Default: the config's
        mode (``"auto"``).
    layer
        Use ``adata.layers[layer]`` instead of ``adata.X``. As in scvi-tools, ``adata.raw``
        is not read (pass ``adata.raw.to_adata()``), and every gene is, whatever
        ``var['highly_variable']`` marks (pass ``adata[:, adata.var['highly_variable']]
        .copy()``); the log says so when they are there.
    split_key
        Column of ``adata.obs`` with ``train``/``val``/``test`` values to use instead of the
        seeded split. Its labelled cells keep their part, with one exception: a split
        without labelled ``val`` cells (a train/test split) has a validation part drawn from
        its train cells, as the search needs one (a ninth of each class's train cells, or of
        each quantile bin's for a numeric target; seeded, logged with a warning); its test
        cells stay held out. ``obs['{key_added}_split']`` records the parts used.
    group_key
        Cells that share a value here stay in one part of the seeded split, so that no test
        score rests on a sample whose twin was trained on (two aliquots of a tumour, a tumour
        and its normal, the cells of one donor). ``"auto"`` (default): the TCGA patient
        (``TCGA-XX-XXXX``) of each labelled ``obs_name`` that is a TCGA barcode, when most
        are or two are one patient (a GTEx sample beside them: its donor, ``GTEX-XXXXX``;
        other names: groups of their own);
        else the ``obs_name`` where labelled cells share one (a sample exported twice); no groups
        otherwise. A column of ``adata.obs``, or None to split cells one by one. Whole groups
        are drawn, stratified on each group's most frequent class (a tenth of each class's
        groups to val and to test, at least one), each part at most a fifth of all groups; a
        group holding the only training cells of a class stays in train. With ``split_key``
        the user's split is kept (a warning names groups it splits across train and
        val/test), and a validation part drawn from its train cells takes whole groups (at
        most two ninths of them).
    n_trials, time_budget
        Search budget: number of trials and/or wall-clock seconds (whichever ends first).
        The seconds are the search's: reading the data before it, and scoring every cell
        with the kept model after it, come on top (on 200,000 cells, tens of seconds).
        Default from the config: 40 trials within 600 s. Giving one keeps the other's
        configured value; set it to None in ``config["budget"]`` to lift it. The same
        ``seed`` gives the same result on the same device when the trial count (not the
        clock) ends the search and no trial is cut by the time: where it is, the result
        depends on the machine's speed (a warning says so when the kept model was cut).
        ``n_trials=0`` with ``storage`` runs no trial: the best trial of the stored study
        (workers', earlier sessions') is retrained into the returned model.
        A ``time_budget`` that stops the kept model in its first epoch before 100
        minibatches is an error after the search (its weights would be next to untrained);
        nothing is written.
    metric
        Validation metric the search maximises: ``"macro_f1"`` (default; ``"roc_auc"`` with the
        AUC loss, ``config={"trainer": {"loss": "auc"}}``), ``"accuracy"``,
        ``"balanced_accuracy"``, ``"weighted_f1"``, or a metric of how the class probabilities
        rank the cells: ``"roc_auc"`` or ``"average_precision"`` (area under the ROC or the
        precision-recall curve, one class against the rest, averaged over the classes; with
        two classes the ROC AUC is that of the binary task, the average precision that of
        the class rarer in the split, ties the second class's). The ranking metrics suit a rare
        class that a decision threshold would hide; they need cells of at least two classes
        in the validation split. For a numeric target: ``"r2"`` (default), ``"pearson"`` or
        ``"spearman"`` (correlation of the predictions with the values); a metric of classes
        given for it is an error. With ``task="auto"`` one of these asks for a numeric target
        (logged), as the loss ``"mse"`` does.
    config
        Expert-mode configuration (dict, JSON path or JSON text), merged onto
        :func:`scautogenome.config.default`. Explicit arguments above win over it.
    value_type
        ``"auto"`` (detected on the training cells; the other cells are checked against
        it), ``"counts"``, ``"normalized"`` (unlogged TPM/FPKM/RSEM), ``"binary"`` or
        ``"continuous"``.
    min_cells_per_class
        Leave classes with fewer cells (a whole number, 0 or more) out of training (their
        cells are still predicted). The seeded 8:1:1 split needs 3 cells of a class, so
        without ``split_key`` a class of fewer is left out whatever the value (0, 1 or 2
        included; the log names it), and without ``min_cells_per_class`` it is an error;
        with ``split_key`` nothing is drawn and classes of any size train, counted over the
        cells of the split's train and val parts (its test cells choose nothing). Not for a
        numeric target.
    task
        ``"auto"`` (default): a numeric column (not boolean, not categorical) of values that
        are not all whole numbers (a score, a pseudotime), or of more than 50 distinct values,
        is a numeric target, anything else holds classes (a numeric column of fewer whole
        numbers, such as time points, is logged as classified; with a warning where its
        classes would hold fewer than 5 cells on average). ``"classification"`` or
        ``"regression"`` say it (as ``config["trainer"]["loss"] = "mse"``, or a
        ``metric`` of a numeric target, does with ``"auto"``): a numeric target trains with
        the mean squared error on its standardized values (``config["trainer"]["loss"]``
        ``"mse"``; ENAS's shared weights too, rewarded by ``1 - MSE`` on validation
        minibatches); the class weighting of the search space does not apply to it.
    storage, study_name
        An Optuna storage URL (e.g. ``"sqlite:///search.db"``), a journal file (a path ending
        in ``.log`` or ``.journal``, for many processes on a shared file system) or an Optuna
        storage object, to keep the trials, resume an interrupted search or share it between
        processes. A resumed study runs this call's
        budget (``n_trials``, ``time_budget``) on top of its earlier trials, and the best of
        all of them is kept; a URL that cannot be opened is an error before any work.
        When the best trial ran in an earlier session, it is trained again (same seed, same
        point) to return its weights, and that time comes on top of ``time_budget``.
        With a storage each trial's sampler is seeded from ``seed``, the trial's number and
        the number of trials the study held when the call began (so that processes sharing
        the study, and each session resuming it, draw points of their own): a search with
        ``storage`` draws other trials than the same call without it, and a search resumed
        (3 trials, then 4 more) others than one call of 7, each reproducible on its own.
    device
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    seed
        Seed of the split, the search and the training; default ``sag.settings.seed``.
    key_added
        Prefix of every key written (default ``"sag"``). An ``uns[key_added]`` that is not
        the record of a classify (or predict) run, e.g. explain's or a value of your own, is
        an error before any work, so that it is not lost; so is an ``obs['{key_added}_pred']``,
        ``obs['{key_added}_split']``, ``obs['{key_added}_confidence']`` or
        ``obsm['{key_added}_proba']`` that no such record accounts for (a column of your own).
    model_dir
        Also save the model there (recorded in ``uns[key_added]['model_dir']``). A save
        that fails once the search is done (a full disk) is logged as an error, and the model
        returned unsaved rather than lost: ``model.save(model_dir)`` saves it again.

    Returns
    -------
    The trained :class:`~scautogenome.models.Classifier` (a
    :class:`~scautogenome.models.Regressor` for a numeric target; its ``split_`` holds what
    ``obs['{key_added}_split']`` does). Writes into ``adata``:

    ``obs['{key_added}_pred']``
        Predicted class of every cell (categorical). Class names are strings, as in ``uns``
        and h5ad: labels of integers or booleans come back as ``'0'``, ``'1'``, ``'True'``;
        compare with ``adata.obs[labels_key].astype(str)``. Its categories are the classes
        predicted, in the model's order (as leiden's clusters, none without a cell). Where it
        replaces a column of other categories (an earlier run's), the colours of those,
        ``uns['{key_added}_pred_colors']``, are removed, as :func:`~scautogenome.tl.predict`
        removes them; where none are kept, each class is given the colour of its label in
        scanpy's plots (``uns[f'{labels_key}_colors']``, else scanpy's palette), so that
        ``sc.pl.umap(adata, color=[labels_key, '{key_added}_pred'])`` colours a class alike.
        Colours stored under that key with no column of predictions (yours, say) are replaced
        so, with a log line: scanpy would read them against these classes by position.
    ``obs['{key_added}_split']``
        ``train``/``val``/``test`` (``none`` for cells not used in training).
    ``obsm['{key_added}_proba']``
        Class probabilities, n_obs x n_classes, columns in ``uns[key_added]['classes']`` order.
    ``uns[key_added]``
        ``params`` (this call, with ``n_threads``: torch's CPU threads the kept model trained
        on), ``classes``, ``metrics`` (test: ``n`` (its cells), accuracy, macro_f1,
        balanced_accuracy, roc_auc and average_precision (one-vs-rest macro means; with two
        classes the average precision of the class rarer in the split),
        per-class precision/recall/F1/support/roc_auc/average_precision (NaN for a class
        the split has no cell of); and the same on val),
        ``confusion`` (test, rows = true class), ``trials`` (one row per search trial),
        ``architecture`` and ``train_params`` (JSON text), ``best`` (trial, mode, validation
        score), ``config`` (JSON text), ``search_seconds``, ``dropped_classes`` (classes left
        out by ``min_cells_per_class``), ``model_digest`` (SHA-1 of the model's weights, by
        which :func:`~scautogenome.tl.explain` finds this run), ``model_dir`` (when saved, an
        absolute path), ``versions`` (of scautogenome, torch, scanpy... that trained it),
        ``task`` (``"classification"`` or ``"regression"``).

    For a numeric target: ``obs['{key_added}_pred']`` holds the predicted values (float),
    ``obsm['{key_added}_proba']`` is not written (one of an earlier run under the same key is
    removed), ``uns[key_added]['classes']`` is the target's name, and ``metrics`` (test and
    val) hold ``r2``, ``rmse`` and ``mae`` (in the target's units), ``pearson``, ``spearman``
    and ``n``; there is no ``confusion`` and no ``dropped_classes``.
    """
    start = time.perf_counter()
    check_key_added(key_added)
    for name, value in (("mode", mode), ("value_type", value_type), ("task", task)):
        if value is not None:  # a choice: an array or a list failed inside a membership test
            check_key(name, value, "one of the choices documented for it")
    check_labels_key(labels_key)
    if split_key is not None:
        check_key("split_key", split_key, "one column of adata.obs")
    check_min_cells_per_class(min_cells_per_class)
    _check_not_written(labels_key, split_key, key_added)
    check_uns_key(adata, key_added, "classify", replaces=("classify", "predict"))
    check_class_outputs(adata, key_added, "classify", split=True)
    seed = resolve_seed(seed)
    overrides = budget_overrides(n_trials, time_budget)
    if metric is not None:  # named as the argument, not as the config's key
        check_metric(metric, task if task in ("classification", "regression") else None)
        overrides.setdefault("search", {})["metric"] = metric
    _config.check_classify_mode(mode)
    cfg = load_config(_config.load, config, mode, overrides)
    _config.check_classify_mode(cfg["mode"], "config['mode']")
    requested = _config.requested_task(cfg, task)
    _log_task_of_metric(task, requested, cfg, labels_key)
    _check_metric_of_task(metric, requested)
    obs = getattr(adata, "obs", None)
    if (
        metric is not None
        and requested == "auto"
        and isinstance(obs, pd.DataFrame)
        and (obs.columns == labels_key).sum() == 1  # two of that name: named by the checks
    ):
        # the task the column asks for, before the data are prepared (which log it)
        _check_metric_of_task(metric, resolve_task(adata.obs[labels_key], labels_key, quiet=True))
    enas = cfg["mode"] == "rrfcn" and cfg["rrfcn"]["strategy"] == "enas"
    # first: a missing file is not made
    check_collect(cfg["budget"], storage, enas=enas, study_name=study_name or CLASSIFY_STUDY)
    check_storage(storage, study_name)
    check_model_dir(model_dir)
    dev = resolve_device(device)
    data = prepare_labelled(
        adata,
        labels_key,
        layer=layer,
        split_key=split_key,
        value_type=value_type,
        min_cells_per_class=min_cells_per_class,
        seed=seed,
        task=requested,
        group_key=group_key,
    )
    _check_metric_of_task(metric, data.task)  # task "auto", resolved from the labels
    regression = data.task == "regression"
    cfg = _config.for_task(cfg, data.task)
    if regression:
        check_regression_objective(
            cfg["trainer"]["loss"], cfg["search"]["metric"], data.y[data.rows("val")]
        )
    else:
        check_objective(
            cfg["trainer"]["loss"],
            cfg["search"]["metric"],
            data.n_classes,
            data.codes[data.rows("val")],
        )
    if enas:  # no trials to count
        r, seconds = cfg["rrfcn"], cfg["budget"]["time_budget"]
        logger.info(
            "classify: mode=rrfcn (ENAS), device=%s, budget: %s; %d alternations, %d drawn "
            "candidates and the greedy one",
            dev,
            "no time limit" if seconds is None else f"{seconds} s",
            r["epochs"],
            r["n_candidates"],
        )
    else:
        logger.info(
            "classify: mode=%s, device=%s, budget: %s",
            cfg["mode"],
            dev,
            budget_text(cfg["budget"]),
        )

    # RRFCN by ENAS (search/_enas.py): mode "rrfcn", or "auto" with a large enough time budget
    # n_trials=0 collects the stored Optuna study alone (ENAS's search is not stored)
    collect = cfg["budget"]["n_trials"] == 0
    with_rrfcn = cfg["mode"] == "rrfcn" or (rrfcn_in_auto(cfg) and not collect)
    search = search_with_rrfcn if with_rrfcn else run_search
    result = search(data, cfg, device=dev, seed=seed, storage=storage, study_name=study_name)
    check_trained(  # a collected study's kept trial ran under an earlier search's budget
        result.kept,
        None if collect else cfg["budget"]["time_budget"],
        len(data.rows("train")),
        result.train_params.get("batch_size", 1),
    )
    warn_if_cut(result.kept, result.train_params.get("max_epochs", 0))
    params = call_params(
        labels_key=labels_key,
        mode=cfg["mode"],
        layer=layer,
        split_key=split_key,
        group_key=group_key,
        split_groups=data.grouped_by,
        metric=cfg["search"]["metric"],
        n_trials=cfg["budget"]["n_trials"],
        time_budget=cfg["budget"]["time_budget"],
        value_type=data.transform.value_type,
        seed=seed,
        device=str(dev),
        storage=storage_recorded(storage),
        study_name=result.study_name,
        min_cells_per_class=min_cells_per_class,
        task=data.task,
    )
    if regression:
        return _regression_outputs(
            adata, data, result, cfg, device, params, key_added, model_dir, start
        )
    model = final_model(
        Classifier, result, data, cfg, device, obs_names=adata.obs_names, classes=data.classes
    )

    logits = model.decision_function(data.X)
    log_proba = log_softmax(logits.astype(np.float64), axis=1)
    proba = np.exp(log_proba)  # model.predict_proba's values, from the same network pass
    pred_codes = log_proba.argmax(1)
    reports = {}
    for part in ("test", "val"):
        rows = data.rows(part)
        reports[part] = classification_report(
            data.codes[rows],
            pred_codes[rows],
            data.classes,
            # ranks cells by a class without ties at probability 1.0 (of the scored rows only)
            scores=log_odds(logits[rows]),
        )

    test = reports["test"]
    uns = {
        "params": params,
        "task": data.task,
        "classes": model.classes_.copy(),  # the record's own: editing it leaves the model
        "dropped_classes": np.asarray(data.dropped_classes, dtype=str),
        "metrics": {
            part: {k: v for k, v in rep.items() if k != "confusion"}
            for part, rep in reports.items()
        },
        "confusion": test["confusion"],
        "model_digest": model.weights_digest(),
        **search_uns(result, _config.to_json(cfg), model, val_score=result.best_value),
    }
    _save_and_warn(adata, model, model_dir, uns, key_added)

    # -- write (only after everything above succeeded) -----------------------------------------
    # every value prepared first (the record h5ad-safe too), then written in one block
    out = Outputs()
    pred = pd.Categorical(model.classes_[pred_codes], categories=model.classes_)
    if not prediction_outputs(out, adata, key_added, pred):
        # colours of these very categories (the user's, maybe) stay
        _label_colors(out, adata, key_added, labels_key, pred.remove_unused_categories())
    _split_outputs(out, data, key_added)
    drop_class_outputs(out, adata, key_added, proba=False)  # an earlier prediction's confidence
    out.set("obsm", _keys.proba_key(key_added), proba.astype(np.float32))
    out.set("uns", key_added, h5ad_safe(uns))
    out.write(adata)
    logger.info(
        "test: accuracy %.3f, macro-F1 %.3f, ROC AUC %.3f on %d %s",
        test["accuracy"],
        test["macro_f1"],
        test["roc_auc"],
        test["n"],
        obs_noun(adata),
    )
    _warn_few_test_cells(test, model.classes_, obs_noun(adata))
    rows = data.rows("test")
    _warn_one_class(pred_codes[rows], data.codes[rows], model.classes_, obs_noun(adata))
    logger.info("    finished classify (%s)", elapsed(start))
    return model


def _warn_one_class(pred: np.ndarray, true: np.ndarray, classes, noun: str) -> None:
    """Warn where the kept model calls every test cell (``pred``, codes of ``classes``) one
    class although they are of several (``true``): a tiny search keeps such a model, whose
    accuracy is that class's share and no more."""
    if len(pred) < 2 or len(np.unique(true)) < 2 or len(np.unique(pred)) > 1:
        return
    logger.warning(
        "the kept model calls every one of the %d test %s %r (they are of %d classes): it "
        "learned little more than that class's share; a larger time_budget or n_trials "
        "trains a better one.",
        len(pred),
        noun,
        str(classes[int(pred[0])]),
        len(np.unique(true)),
    )


def _warn_few_test_cells(test: dict, classes, noun: str) -> None:
    """Warn of classes with 1 or 2 test cells: one cell can move such a class's F1 by a third
    or more (from 0 to 1 with one test cell), and the macro-F1 (their mean) by up to 1 / the
    classes averaged, where accuracy hardly moves."""
    n_few, named, bound = few_test_classes(test, classes)
    if not n_few:
        return
    logger.warning(
        "%d class(es) have 1 or 2 test %s: %s. One %s can move such a class's test F1 by a "
        "third or more, and the macro-F1 by up to %.2f; read their test figures as rough (more %s, or "
        "split_key= with a larger test part, make them firm).",
        n_few,
        noun,
        named,
        noun[:-1],
        bound,
        noun,
    )


def _regression_outputs(
    adata: AnnData, data, result, cfg: dict, device, params: dict, key_added: str, model_dir, start
) -> Regressor:
    """The end of :func:`classify` for a numeric target: the kept :class:`Regressor`, its
    metrics on test and val, and what it writes into ``adata``."""
    mean, std = target_scale(data.y, data.rows("train"))  # what the trials were trained on
    model = final_model(
        Regressor,
        result,
        data,
        cfg,
        device,
        obs_names=adata.obs_names,
        target=data.classes[0],
        target_mean=mean,
        target_std=std,
    )
    pred = model.predict(data.X)
    reports = {
        part: regression_report(data.y[data.rows(part)], pred[data.rows(part)])
        for part in ("test", "val")
    }
    uns = {
        "params": params,
        "task": data.task,
        "classes": model.classes_.copy(),  # the record's own: editing it leaves the model
        "metrics": reports,
        "model_digest": model.weights_digest(),
        **search_uns(result, _config.to_json(cfg), model, val_score=result.best_value),
    }
    _save_and_warn(adata, model, model_dir, uns, key_added)

    # -- write (only after everything above succeeded) -----------------------------------------
    # every value prepared first (the record h5ad-safe too), then written in one block
    out = Outputs()
    prediction_outputs(out, adata, key_added, pred)
    _split_outputs(out, data, key_added)
    # a classify run or prediction for classes before may have left its outputs under this key
    drop_class_outputs(out, adata, key_added, proba=True)
    out.set("uns", key_added, h5ad_safe(uns))
    out.write(adata)
    test = reports["test"]
    logger.info(
        "test: R2 %.3f, RMSE %.4g, Spearman %.3f on %d %s",
        test["r2"],
        test["rmse"],
        test["spearman"],
        test["n"],
        obs_noun(adata),
    )
    logger.info("    finished classify (%s)", elapsed(start))
    return model


def _save_and_warn(adata: AnnData, model, model_dir, uns: dict, key_added: str) -> None:
    """Save the model (when ``model_dir``) and warn of explanations of the run replaced."""
    save_model(model, model_dir, uns)
    stale = [k for k, v in adata.uns.items() if explains_replaced_run(v, key_added, uns)]
    if stale:
        logger.warning(
            "uns%s explain%s the model of the classify run this call replaces in uns[%r]; run "
            "sag.tl.explain again (the report leaves an explanation of another model out).",
            stale,
            "s" if len(stale) == 1 else "",
            key_added,
        )


def _label_colors(
    out: Outputs, adata: AnnData, key_added: str, labels_key: str, pred: pd.Categorical
) -> None:
    """Give the predicted classes (``pred``, as ``obs['{key_added}_pred']`` will hold them)
    the colours of their labels in scanpy's plots (``uns['{key_added}_pred_colors']`` by
    name, added to ``out``): scanpy colours a column by position, so that without them a class
    missing from the predictions (or left out of training) would shift every colour after it,
    and ``sc.pl.umap(adata, color=[labels_key, '{key_added}_pred'])`` would show one class in
    two colours. Colours stored under that key before (of no column of predictions) are
    replaced; none are written where the labels are drawn as numbers."""
    from ..plotting._utils import category_colors

    column = _keys.pred_key(key_added)
    key = f"{column}_colors"
    colors = category_colors(adata, labels_key, pred.categories)
    if colors is not None:
        out.set("uns", key, colors)
    else:
        out.remove("uns", key)
    if key in adata.uns and column not in adata.obs.columns:  # not of an earlier run's column
        stored = adata.uns[key]
        size = f"{len(stored)} colours" if hasattr(stored, "__len__") else "a value"
        out.note(
            "%s uns[%r] (%s, of no column of predictions)%s",
            "replaced" if colors is not None else "removed",
            key,
            size,
            " with the colours of the predicted classes' labels" if colors is not None else "",
        )


def _split_outputs(out: Outputs, data, key_added: str) -> None:
    """Add to ``out`` the write of the train/val/test split, ``obs['{key_added}_split']``."""
    # "none" (cells without a usable label) only where there are such cells: an empty
    # category would be a legend entry of scanpy's plots
    none = ["none"] if (np.asarray(data.split) == "none").any() else []
    out.set(
        "obs",
        _keys.split_key(key_added),
        pd.Categorical(data.split, categories=[*_keys.SPLITS, *none]),
    )


def _check_not_written(labels_key: str, split_key: str | None, key_added: str) -> None:
    """Refuse, before any work, an input column that classify would replace with its output:
    ``labels_key`` or ``split_key`` named as ``obs['{key_added}_pred']`` or
    ``obs['{key_added}_split']``. The split column of an earlier run is the one exception: as
    ``split_key`` it is read, and written back unchanged."""
    written = {
        _keys.pred_key(key_added): "the predicted labels",
        _keys.split_key(key_added): "the train/val/test split",
    }
    for arg, column in (("labels_key", labels_key), ("split_key", split_key)):
        if column not in written or (arg == "split_key" and column == _keys.split_key(key_added)):
            continue
        msg = (
            f"{arg}={column!r}: classify writes {written[column]} into obs[{column!r}] "
            f"(key_added={key_added!r}), which would replace this column. Pass another "
            "key_added=, or copy the column under another name."
        )
        raise ValueError(msg)


def _log_task_of_metric(task: str, requested: str, cfg: dict, labels_key: str) -> None:
    """Say so where a search metric of a numeric target (``"r2"``, ``"pearson"``,
    ``"spearman"``) made ``task="auto"`` a regression
    (:func:`scautogenome.config.requested_task`)."""
    metric = cfg["search"]["metric"]
    if task == "auto" and requested == "regression" and metric in REGRESSION_METRICS:
        logger.info(
            "metric=%r judges a numeric target: obs[%r] is predicted as a number "
            "(task='regression'); task='classification' refuses the metric.",
            metric,
            labels_key,
        )


def _check_metric_of_task(metric: str | None, task: str) -> None:
    """A ``metric`` given as argument must be one of a numeric target's (``task``
    ``"regression"``): the configured default (``"macro_f1"``) stands for the task's own
    (``"r2"``), but a classification metric asked for by name is refused, not replaced."""
    if metric is not None and task == "regression":
        check_metric(metric, task)
