from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import _keys
from .._logging import elapsed, inference_batches
from .._settings import keep_python_rng, logger, resolve_seed
from .._utils import (
    check_bool,
    check_gene_symbols,
    check_key,
    check_obs_column,
    check_obs_columns_once,
    check_positive_int,
    shown_values,
)
from ..data import (
    MissingGenes,
    block_rows,
    check_adata,
    class_names_of,
    dense_rows,
    map_columns,
    obs_noun,
)
from ._utils import (
    Outputs,
    call_params,
    check_key_added,
    check_model_type,
    check_uns_key,
    classify_record,
    genes_named_by,
    h5ad_safe,
    is_classify_record,
    is_explain_record,
    recorded_layer,
)

if TYPE_CHECKING:
    from anndata import AnnData

    from ..models import Classifier, Regressor

METHODS = ("fast", "shap")
N_BACKGROUND = 100  # background cells by default (fewer when there are fewer)
_SPLITS = ("train", "val", "test")
OVERALL = "overall"
"""The name of the last ``varm`` column, the mean over the classes (unless a class has it)."""


def overall_column(classes) -> str:
    """The name of the column of the mean over the classes: ``"overall"``, or, where a class
    is named so, ``"overall (all classes)"`` (with more ``" (all classes)"`` while a class has
    that name too), so that every column names one thing. Readers find it as the last column of
    ``uns[key]['columns']``."""
    names = {str(c) for c in classes}
    name = OVERALL
    while name in names:
        name += " (all classes)"
    return name


def _check_varm_key(adata: AnnData, key_added: str) -> None:
    """Refuse, before any work, a ``varm[key_added]`` that an earlier explain did not write
    (scanpy's PCA loadings under ``'PCs'``, say): explain would replace it."""
    if key_added in adata.varm and not is_explain_record(adata.uns.get(key_added)):
        msg = (
            f"adata.varm[{key_added!r}] holds values without sag.tl.explain's record in "
            f"adata.uns (your own, or sag's whose record was dropped, e.g. by anndata.concat), "
            f"which explain(key_added={key_added!r}) would replace; pass another key_added= to "
            f"keep them, or delete adata.varm[{key_added!r}] first."
        )
        raise ValueError(msg)


def _split_name(split_col: str | None) -> str:
    return (
        "no split of this model's classify run in the data (a query's, say)"
        if split_col is None
        else f"no obs[{split_col!r}] split"
    )


def _log_background_from_all(
    split_col: str | None,
    has_split: bool,
    bg_rows: np.ndarray,
    explained: np.ndarray,
    n_pool: int,
) -> None:
    """Say why the background is drawn from all cells: a warning when ``obs[split_col]``
    exists but has no training cell (a subset of held-out cells, say), so that the background
    overlaps the explained cells."""
    n_both = len(np.intersect1d(bg_rows, explained))
    if not has_split:
        # a small query is its own background (every cell of it, mostly explained cells):
        # a cell's values are relative to the mean of these few cells, near 0 where they are
        # alike, and their ranking then next to noise. A sample of a larger AnnData is the
        # usual SHAP background, though it holds explained cells too.
        own = len(bg_rows) == n_pool and n_both >= max(1, len(bg_rows) / 2)
        (logger.warning if own else logger.info)(
            "%s; background drawn from all of its cells (%d of them explained cells too)%s.",
            _split_name(split_col),
            n_both,
            f"; all {n_pool} cells are the background, so the SHAP values are relative to "
            "the mean of these cells themselves (near 0 where they are alike): explain the "
            "query beside its reference (an AnnData holding training cells, split_key= "
            "naming them)"
            if own
            else "",
        )
        return
    logger.warning(
        "obs[%r] has no 'train' cell, so the background is drawn from all cells and overlaps "
        "the explained cells (%d cells are both); explain an AnnData that holds the training "
        "cells for a background apart from them.",
        split_col,
        n_both,
    )


def _candidate_rows(
    adata: AnnData, cells, split: np.ndarray | None, split_col: str | None
) -> np.ndarray:
    """Row positions the explained cells are drawn from."""
    n = adata.n_obs
    if isinstance(cells, str):
        if cells == "all":
            return np.arange(n)
        if cells not in _SPLITS:
            msg = f"cells={cells!r} must be 'test', 'val', 'train', 'all', a mask or cell names."
            raise ValueError(msg)
        if split is None:
            if cells != "test":  # the default falls back; an explicit other part cannot
                msg = (
                    f"cells={cells!r} needs a train/val/test split, and there is {_split_name(split_col)}; "
                    "pass split_key= (or classify_key=) or cells='all'."
                )
                raise ValueError(msg)
            logger.info(
                "%s; explaining cells drawn from all cells (training cells too; split_key= "
                "names a split whose test cells are explained).",
                _split_name(split_col),
            )
            return np.arange(n)
        rows = np.flatnonzero(split == cells)
        if len(rows) == 0:
            if cells != "test":  # as without a split: only the default falls back
                msg = (
                    f"cells={cells!r}: obs[{split_col!r}] has no {cells!r} cell (its parts: "
                    f"{', '.join(map(repr, sorted(set(map(str, split)))))}); pass another part "
                    "or cells='all'."
                )
                raise ValueError(msg)
            logger.warning(
                "obs[%r] has no %r cell; explaining cells drawn from all cells.", split_col, cells
            )
            return np.arange(n)
        return rows
    if isinstance(cells, pd.Series) and pd.api.types.is_bool_dtype(cells.dtype):
        cells = _mask_of_obs(adata, cells)
    arr = np.asarray(cells)
    if arr.dtype == bool:
        if arr.shape != (n,):
            msg = f"A boolean cells mask needs {n} entries (one per cell), got shape {arr.shape}."
            raise ValueError(msg)
        return np.flatnonzero(arr)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size and (arr.min() < -n or arr.max() >= n):
            msg = f"cells holds positions outside 0..{n - 1} (or -{n}..-1, from the end)."
            raise IndexError(msg)
        return np.unique(np.where(arr < 0, arr + n, arr))
    if arr.size and (np.issubdtype(arr.dtype, np.floating) or arr.dtype.kind == "c"):
        first = arr.flat[0].item()
        msg = (
            f"cells holds {arr.dtype} numbers (e.g. {first!r}); row positions must be integers "
            "(cell names: strings, a mask: booleans)."
        )
        raise TypeError(msg)
    if adata.obs_names.duplicated().any():  # not is_unique, which a copy may carry stale
        msg = (
            "cells given by name need unique obs_names, and adata has duplicated ones; call "
            "adata.obs_names_make_unique() first, or pass a boolean mask or row positions."
        )
        raise ValueError(msg)
    pos = adata.obs_names.get_indexer(pd.Index(arr.astype(str)))
    if (pos < 0).any():
        bad = arr[pos < 0][:3].tolist()
        msg = f"cells names {bad} (and maybe more) are not in adata.obs_names."
        raise KeyError(msg)
    return np.unique(pos)


def _mask_of_obs(adata: AnnData, mask: pd.Series) -> np.ndarray:
    """A boolean Series given as ``cells=``, in ``adata``'s order: read by its index, as pandas
    aligns (a mask of a merged or sorted table holds the cells in another order), where that
    index is ``adata``'s obs_names in any order; a ValueError where it names other cells."""
    if mask.index.equals(adata.obs_names):
        return mask.to_numpy(dtype=bool, na_value=False)
    if (
        mask.index.has_duplicates
        or adata.obs_names.has_duplicates
        or len(mask) != adata.n_obs
        or not mask.index.isin(adata.obs_names).all()
    ):
        msg = (
            "cells= is a boolean Series whose index is not adata.obs_names (other or duplicated "
            "names); pass one indexed by them (adata.obs[...] == ...), or a numpy mask in "
            "adata's order."
        )
        raise ValueError(msg)
    logger.info("cells=: the boolean Series is read by its index (adata's obs_names, reordered)")
    return mask.reindex(adata.obs_names).to_numpy(dtype=bool, na_value=False)


def _column_codes(adata: AnnData, model: Classifier, groupby: str) -> np.ndarray:
    """Class index of each cell's ``obs[groupby]`` value in the model's classes (-1: not one
    of them); an error where the column is not there or none of its values is a class."""
    classes = pd.Index(model.classes_)
    check_obs_column(adata, "groupby", groupby)
    values = class_names_of(adata.obs[groupby], classes)
    codes = classes.get_indexer(values)
    if not (codes >= 0).any():
        shown = list(pd.unique(values[values != None])[:3])  # noqa: E711 - elementwise
        msg = (
            f"No value of obs[{groupby!r}] (e.g. {shown}) is one of the "
            f"model's classes (e.g. {list(classes[:3])}); leave groupby= out to group the cells "
            "by the labels of the recorded classify run, else by their predicted class."
        )
        raise ValueError(msg)
    return codes


def _groups(
    adata: AnnData,
    model: Classifier,
    groupby: str | None,
    column_codes: np.ndarray | None,
    predicted,
    record: dict,
    rows: np.ndarray,
) -> tuple[np.ndarray, str]:
    """Class index of the cells at ``rows`` in the model's classes (-1: not one of them) and
    its source: ``column_codes`` (:func:`_column_codes`) of ``groupby``, or without it the
    record's labels or ``predicted(rows)`` (a forward pass, only for those cells)."""
    if groupby is not None:
        return column_codes[rows], groupby
    classes = pd.Index(model.classes_)
    params = record.get("params")
    labels_key = params.get("labels_key") if isinstance(params, dict) else None
    if isinstance(labels_key, str):
        if labels_key not in adata.obs.columns:
            why = f"obs has no column {labels_key!r}"
        else:
            codes = classes.get_indexer(class_names_of(adata.obs[labels_key], classes))
            if (codes >= 0).any():
                return codes[rows], labels_key
            why = f"none of the values of obs[{labels_key!r}] is one of the model's classes"
        # renamed since classify: each class would otherwise be its predicted cells, unsaid
        logger.warning(
            "The classify run's labels are gone (%s; renamed since?): the cells are grouped by "
            "their predicted class; pass groupby= a column of the model's classes to group "
            "them by their labels.",
            why,
        )
    return predicted(rows), "predicted class"


@keep_python_rng()  # the user's next random.random() draws as without the call
# no keep_torch_rng: explain draws nothing from torch's generator, and giving its state back
# rewound the draws another thread made meanwhile (a model serving threads)
def explain(
    adata: AnnData,
    model: Classifier | Regressor,
    *,
    groupby: str | None = None,
    cells: str | Sequence | np.ndarray | None = "test",
    n_explain: int | None = 500,
    n_background: int | None = None,
    nsamples: int = 200,
    method: str = "fast",
    layer: str | None = None,
    n_top: int = 30,
    min_gene_overlap: float = 0.5,
    split_key: str | None = None,
    classify_key: str | None = None,
    return_values: bool = False,
    key_added: str = _keys.SHAP_KEY,
    seed: int | None = None,
    gene_symbols: str | None = None,
) -> np.ndarray | None:
    """Explain a trained classifier with SHAP values and rank the genes of every class.

    A :class:`~scautogenome.models.Regressor` (a numeric target) is explained the same way with
    its one output, the predicted value, as the only "class": SHAP values are in the target's
    units, every explained cell counts towards it, and the columns are the target's name and
    ``overall``.

    SHAP values are expected gradients (the estimator of ``shap.GradientExplainer``, which the
    AutoGenome paper uses): for a cell ``x`` and class ``c``, the mean over ``nsamples`` draws of
    a background cell ``x'`` and ``alpha ~ U(0, 1)`` of the gradient of the class-``c`` logit at
    ``x' + alpha (x - x')`` times ``x - x'``. They explain the network's logits and are computed on
    the model's input scale, i.e. after the model's own input transform (for counts:
    normalize to 1e4 + log1p; then every gene scaled to 0-1 with the training split's min and
    range), so a value reads "this gene's scaled expression moved the class-c logit by so much
    relative to the background cells". On counts, a gene's value on that scale carries its
    cell's depth (its share of the cell's counts): where the classes differ in depth (their
    markers are many or highly expressed), a gene whose counts hardly vary, a housekeeping
    gene, can rank high, for the depth the model reads through it. The genes are the user's:
    ``adata``'s genes are matched to the model's by name as :func:`~scautogenome.tl.predict`
    does (model genes the query lacks
    take their training mean and get no entry; query genes the model does not know get NaN
    importance).

    Parameters
    ----------
    adata
        Cells x genes; usually the AnnData :func:`~scautogenome.tl.classify` annotated. A view
        (``adata[mask]``) is refused before any work, as the results are written into ``adata``:
        pass ``adata[mask].copy()``.
    model
        A trained :class:`~scautogenome.models.Classifier` or
        :class:`~scautogenome.models.Regressor`.
    groupby
        Column of ``adata.obs`` whose values are the model's classes; a cell of class ``c``
        counts towards the importance of ``c``. Default: the ``labels_key`` of the classify run
        that trained the model (see ``classify_key``), else the model's predicted class.
        Cells whose group is not a model class are not explained. Not for a Regressor.
    cells
        Which cells may be explained: ``"test"`` (default, also for None; the held-out split
        of ``obs[split_key]``, or all cells when there is none), ``"val"``, ``"train"`` (an
        error without a split), ``"all"``, a boolean mask (a boolean Series is read by its
        index, which must be ``adata.obs_names`` in any order), cell names or positions
        (integers).
    n_explain
        At most this many of those cells are explained, drawn per class as evenly as the class
        sizes allow so small classes are represented (``None``: all).
    n_background
        Background cells, drawn from the training split of ``obs[split_key]`` (all cells when
        there is none or it has no training cell: then the background overlaps the explained
        cells, with a warning where there is a split). None (default): 100, or all of those
        cells when there are fewer; a larger number than there are is clamped with a warning.
    nsamples
        Draws of (background cell, alpha) per explained cell (shap's default is 200). A cell's
        values plus ``base_values`` add up to its output in expectation only, as shap's do: the
        gap is sampling error, shrinking like ``1 / sqrt(nsamples)`` (on pbmc68k_reduced, a
        Regressor's: 24.5 at 200 draws, 2.75 at 20,000, against predictions of sd 150).
    method
        ``"fast"`` (default): the estimator vectorised in torch on the model's device, all classes
        in one batched backward, memory bounded by chunking. ``"shap"``: ``shap.GradientExplainer``
        (same estimator, much slower; for reference). When the per-cell values of all genes
        and classes would exceed about 128 MB they are not kept: the top genes' values come from
        a second pass over the cells (a full second run for ``"shap"``; for ``"fast"`` its cost
        grows with the genes that are among the ``n_top`` of some class: cheap for a few
        classes, about the first pass's cost for a hundred, where ``return_values=True`` keeps
        the first pass's values instead, memory allowing).
    layer
        Use ``adata.layers[layer]`` (the kind of values the model was trained on). None: the
        layer the classify run of the model trained on, when it records one that ``adata``
        has, else the layer the model was trained on when ``adata`` has it, else ``adata.X``
        (``params['layer']`` records which).
    n_top
        Genes ranked per class in ``uns`` (with their per-cell values, for
        :func:`~scautogenome.pl.shap_summary`).
    min_gene_overlap
        Minimum fraction of the model's genes ``adata`` must have (as in predict).
    split_key
        ``obs`` column with train/val/test; default: the split column of the classify run of
        the model (``'sag_split'`` for the default key), none when there is no such run.
    classify_key
        ``key_added`` of the :func:`~scautogenome.tl.classify` run whose record (layer, labels,
        split) the defaults above come from. None: the run whose recorded weights digest
        (``model_digest``) is this model's (architecture and classes for a record without
        one), whatever its key; a model trained otherwise (e.g.
        :meth:`Classifier.fit`) has none, and the defaults fall back as described.
    return_values
        Also return the full per-cell SHAP array (memory: cells x genes x classes floats).
    key_added
        Key of the ``varm`` and ``uns`` entries. An ``uns[key_added]`` that is not an
        explain record (classify's, say, or a value of your own), or a ``varm[key_added]``
        without one (scanpy's ``'PCs'``, say), is an error before any work.
    seed
        Seed of the background, the explained cells and the draws; default
        ``sag.settings.seed``. The same seed gives the same result on the same cells. A
        cell's values depend on which cells are explained with it (the draws of all of them
        come from one generator): with ``n_explain=20`` they differ from those of
        ``n_explain=10`` by a few percent of the largest value, the noise of ``nsamples``.
    gene_symbols
        A column of ``adata.var`` naming the genes as the model does, to match them by, as
        :func:`~scautogenome.tl.predict`'s; ``adata.var_names`` are left as they are (and
        name the genes of ``uns[key_added]['top_genes']``).

    Returns
    -------
    With ``return_values=True``, the SHAP values as a float32 array of n_explained x n_vars x
    n_classes (cells in ``uns[key_added]['cells']`` order, genes in ``adata.var_names`` order,
    classes in ``uns[key_added]['classes']`` order; 0 for genes the model does not use); else
    None. Writes into ``adata``:

    ``varm[key_added]``
        n_vars x (n_classes + 1) float32: column ``c`` is the mean absolute SHAP value of class
        ``c`` over the explained cells of class ``c``; the last column (``overall``) is the mean
        over the classes that have explained cells (named ``"overall (all classes)"`` where a class is named
        ``"overall"``, with a warning). NaN for genes the model was not trained on.
    ``uns[key_added]``
        ``classes``; ``columns`` (the varm columns: classes + ``"overall"``); ``top_genes`` and
        ``top_scores`` ((n_classes + 1) x n_top, ranked, rows in ``columns`` order; empty
        names and NaN for a class with no explained cell); ``cells``
        (names of the explained cells); ``cell_groups`` (their class); ``background_cells``
        (names of the background cells the values are relative to); ``n_cells`` (explained
        cells per class); ``values`` and ``expression`` (n_classes x n_cells x n_top: SHAP value of
        class ``c`` and model-scale input value of class ``c``'s top genes in every explained
        cell); ``overall_values`` and ``overall_expression`` (n_cells x n_top: every explained
        cell's SHAP value of its own class and its model-scale input value, of the
        ``overall`` top genes); ``base_values`` (mean logits of the background; for a
        numeric target its mean prediction, in float64);
        ``gene_overlap``; ``seconds``; ``model_digest`` (of the explained model's weights, as
        classify records it);
        ``params`` (this call, with the engine path used).
    """
    from ..explain import (
        MAX_FLOATS,
        ExpectedGradients,
        ShapGradient,
        class_importance,
        random_rows,
        sample_draws,
        stratified_cells,
    )
    from ..models import Classifier, Regressor, check_is_fitted

    start = time.perf_counter()
    check_key_added(key_added)
    check_adata(adata)
    check_gene_symbols(adata, gene_symbols)
    check_uns_key(adata, key_added, "explain", replaces=("explain",))
    _check_varm_key(adata, key_added)
    check_model_type(model, (Classifier, Regressor), "Classifier or Regressor")
    check_is_fitted(model)
    regression = isinstance(model, Regressor)
    if regression and groupby is not None:
        msg = (
            f"groupby={groupby!r} groups the cells by class, but the model predicts the numeric "
            f"target {model.target_!r}: every explained cell counts towards it; leave groupby "
            "at None (cells= chooses the cells)."
        )
        raise ValueError(msg)
    check_key("method", method, f"one of {METHODS}")  # an array failed in the test below
    if method not in METHODS:
        msg = f"method={method!r} must be one of {METHODS}."
        raise ValueError(msg)
    for name, value in {"n_explain": n_explain, "n_background": n_background}.items():
        if value is not None:  # None: every cell asked for; the default background
            check_positive_int(name, value)
    check_positive_int("nsamples", nsamples)
    check_positive_int("n_top", n_top)
    return_values = check_bool("return_values", return_values)
    seed = resolve_seed(seed)
    if split_key is not None:
        check_obs_column(adata, "split_key", split_key)
    digest = model.weights_digest()  # once: a SHA-1 of every weight
    record_key, record = classify_record(adata, model, classify_key, digest)
    if record_key is None and is_classify_record(adata.uns.get(_keys.CLASSIFY_KEY)):
        # (a prediction's record holds no layer, labels or split to use: nothing to say)
        logger.warning(
            "uns[%r] records another model than this one (its recorded weights differ): "
            "its layer, labels and split are not used; pass classify_key= to use a run's.",
            _keys.CLASSIFY_KEY,
        )
    if split_key is not None:
        split_col = split_key
    else:
        split_col = None if record_key is None else _keys.split_key(record_key)

    split = None
    params = record.get("params") if isinstance(record, dict) else None
    # a run's own columns too (a concat of two annotated obs tables repeats them)
    check_obs_columns_once(
        adata, split_col, params.get("labels_key") if isinstance(params, dict) else None
    )
    if split_col is not None and split_col in adata.obs.columns:
        split = adata.obs[split_col].astype(str).to_numpy()
    if split_key is not None and not np.isin(split, _SPLITS).any():
        msg = (
            f"split_key={split_key!r} holds no 'train', 'val' or 'test' value (it holds "
            f"{shown_values(sorted(set(split)), total='distinct values')}); pass a split "
            "column, or leave split_key out."
        )
        raise ValueError(msg)
    # the cells asked for before any work (grouping them may need a forward pass)
    cells = "test" if cells is None else cells  # the default, recorded so
    candidates = _candidate_rows(adata, cells, split, split_col)
    if len(candidates) == 0:  # an empty list or an all-False mask (a part is never empty)
        msg = "cells= selects no cell; pass the cells to explain (a mask, names or positions)."
        raise ValueError(msg)
    column_codes = None if groupby is None else _column_codes(adata, model, groupby)

    if layer is None:  # resolved here, so that the layer read is the layer recorded
        layer = recorded_layer(adata, record, model)
    with genes_named_by(adata, gene_symbols):
        X, col_map, report = model._input(adata, layer, min_gene_overlap)
    n_model = len(model.var_names_)
    if col_map is None:
        src = dst = np.arange(n_model)
    else:
        src, dst, _ = col_map
        # the model genes adata has (not the zero columns of a MAF's unlisted genes)
        on_adata = src < adata.n_vars
        src, dst = src[on_adata], dst[on_adata]
    transform = model.transform_

    # a missing gene takes its training mean on the model's scale, as in predict; a counts
    # query's cells keep their depth (the share of counts its genes hold), as in predict
    missing = MissingGenes(col_map, transform.fill_values(), "cpu")
    coverage = transform.coverage(missing.absent_np)

    def model_rows(rows: np.ndarray) -> np.ndarray:
        block = dense_rows(X, rows)
        if col_map is not None:
            block = map_columns(block, col_map)
        return missing(transform.apply(block, coverage).astype(np.float32, copy=False))

    def predicted(rows: np.ndarray) -> np.ndarray:
        import torch

        out = np.empty(len(rows), dtype=np.int64)
        with torch.no_grad():
            step = block_rows(n_model, 2048)  # fewer rows with many genes: bounded memory
            # a bar on many cells (a minute on a million): the cells are grouped by class
            starts = range(0, len(rows), step)
            for s in inference_batches(starts, len(rows), "grouping by predicted class:"):
                x = torch.from_numpy(model_rows(rows[s : s + step])).to(model.device_)
                out[s : s + step] = model.module_(x).argmax(1).cpu().numpy()
        return out

    if regression:  # one output: every cell explains the target
        group_codes, group_source = np.zeros(len(candidates), dtype=np.int64), "all cells"
    else:
        group_codes, group_source = _groups(
            adata, model, groupby, column_codes, predicted, record, candidates
        )
    classless = int((group_codes < 0).sum())
    if classless and len(candidates) > classless:
        # said, so that the log tells what is explained: of "all cells", say, only the
        # labelled ones (a project's unlabelled test samples are not)
        hint = ""
        if groupby is None and record_key is not None:
            hint = (
                f"; sag.tl.explain(..., groupby={_keys.pred_key(record_key)!r}) groups cells "
                "by their predicted class"
            )
        logger.info(
            "%d of the %d %s selected have no class of the model in obs[%r] (no label, or a "
            "class not trained on) and are not explained%s.",
            classless,
            len(candidates),
            obs_noun(adata),
            group_source,
            hint,
        )
    n_selected = len(candidates)
    candidates, group_codes = candidates[group_codes >= 0], group_codes[group_codes >= 0]
    if len(candidates) == 0:
        values = None if cells is None or isinstance(cells, str) else np.asarray(cells).ravel()
        given = (
            repr(cells)
            if values is None
            else f"a mask of {values.size} values"
            if values.dtype == bool
            else f"[{shown_values(values.tolist())}]"
        )
        msg = (
            f"No cell to explain: none of the {n_selected} selected {obs_noun(adata)} "
            f"(cells={given}) has a model class in {group_source!r}."
        )
        raise ValueError(msg)

    rng_bg, rng_cells, ss_draws = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    if split is not None and (split == "train").any():
        pool, pool_name = np.flatnonzero(split == "train"), "training"
    else:
        pool, pool_name = np.arange(adata.n_obs), "all"
    if n_background is not None and n_background > len(pool):  # the default clamps quietly
        logger.warning(
            "n_background=%d is more than the %d %s cells; using all %d.",
            n_background,
            len(pool),
            pool_name,
            len(pool),
        )
    bg_rows = random_rows(pool, N_BACKGROUND if n_background is None else n_background, rng_bg)
    n_pick = len(candidates) if n_explain is None else n_explain
    picked = stratified_cells(group_codes, n_pick, rng_cells)
    explained, codes = candidates[picked], group_codes[picked]
    if pool_name == "all":
        _log_background_from_all(split_col, split is not None, bg_rows, explained, len(pool))
    classes = model.classes_.copy()  # the record's own: editing it leaves the model
    n_classes = len(classes)
    overall = overall_column(classes)
    if overall != OVERALL:
        logger.warning(
            "a class is named %r: the column of the mean over the classes is named %r "
            "(varm[%r], uns[%r]['columns']; group=%r in sag.get.shap_df and the plots).",
            OVERALL,
            overall,
            key_added,
            key_added,
            overall,
        )
    noun = obs_noun(adata)
    # a Regressor's one output is no class: nothing to count
    present = "" if regression else f" ({len(np.unique(codes))} classes present)"
    logger.info(
        "explain: %d %s%s with method=%r, nsamples=%d, %d background %s",
        len(explained),
        noun,
        present,
        method,
        nsamples,
        len(bg_rows),
        noun,
    )

    background = model_rows(bg_rows)
    # a Regressor's network outputs the standardized target: explained in the target's units
    module = model._module_in_units() if regression else model.module_
    if method == "fast":
        draws = sample_draws(len(explained), len(bg_rows), nsamples, ss_draws)
        engine = ExpectedGradients(module, background, draws, device=model.device_)
    else:
        engine = ShapGradient(
            module, background, nsamples=nsamples, seed=seed, device=model.device_
        )
    eligible = np.zeros(n_model, dtype=bool)
    eligible[dst] = True
    var_of_model = np.full(n_model, -1, dtype=np.int64)  # each model gene's column in adata
    var_of_model[dst] = src
    keep = return_values or len(explained) * n_model * n_classes <= MAX_FLOATS
    res = class_importance(
        engine,
        lambda c: model_rows(explained[c]),
        codes,
        n_top=n_top,
        eligible_genes=eligible,
        keep_values=keep,
        class_names=classes,
        tie_order=var_of_model,  # equal scores in adata's gene order, as sag.get.shap_df
    )
    if not eligible.all():
        # one value in the cells and in the background alike, so their SHAP values are 0 by
        # construction: what they would have carried cannot be told from this adata
        logger.warning(
            "%d model genes are missing from adata (set to %s); their SHAP values are 0 by "
            "construction, so the ranking covers only the genes present. They are not written.",
            int((~eligible).sum()),
            "0, not mutated"
            if (report or {}).get("missing_filled_with") == "zero (not in the MAF)"
            else "their training mean",
        )

    # -- write (only after everything above succeeded) -----------------------------------------
    table = np.full((adata.n_vars, n_classes + 1), np.nan, dtype=np.float32)
    table[src, :n_classes] = res.importance[dst]
    table[src, n_classes] = res.overall[dst]
    ranked = res.top >= 0
    top_names = np.where(ranked, np.asarray(adata.var_names)[var_of_model[res.top]].astype(str), "")
    scores = np.column_stack([res.importance, res.overall])
    top_scores = np.where(ranked, scores[res.top, np.arange(n_classes + 1)[:, None]], np.nan)
    uns = {
        "classes": classes,
        "columns": np.asarray([*classes, overall], dtype=str),
        "top_genes": top_names,
        "top_scores": top_scores.astype(np.float32),
        "cells": np.asarray(adata.obs_names[explained], dtype=str),
        "cell_groups": np.asarray(classes[codes], dtype=str),
        "background_cells": np.asarray(adata.obs_names[bg_rows], dtype=str),
        "n_cells": res.n_cells.astype(np.int64),
        "values": res.top_values,
        "expression": res.top_expression,
        "overall_values": res.overall_values,
        "overall_expression": res.overall_expression,
        # a numeric target's in float64, so that no float32 step (8 near 1e8) adds to the
        # sampling gap between a cell's values plus the base and its prediction
        "base_values": model._base_in_units(background) if regression else res.base_values,
        "gene_overlap": report,
        "seconds": float(res.seconds),
        "model_digest": digest,  # which model: report and classify check it
        "params": call_params(
            method=method,
            engine=engine.path,
            groupby=group_source,
            cells=cells if isinstance(cells, str) else "custom",
            n_explain=len(explained),
            n_background=len(bg_rows),
            n_background_requested=n_background,
            background_from=pool_name,
            nsamples=nsamples,
            n_top=res.top.shape[1],
            layer=layer,
            min_gene_overlap=min_gene_overlap,
            gene_symbols=gene_symbols,
            split_key=split_col,
            classify_key=record_key,
            seed=seed,
            device=str(model.device_),
            output="prediction" if regression else "logits",
            scale="model input (after the model's InputTransform)",
        ),
    }
    # every value prepared first (the record h5ad-safe too), then the two writes in one block
    out = Outputs()
    out.set("varm", key_added, table)
    out.set("uns", key_added, h5ad_safe(uns))
    out.write(adata)
    logger.info("    finished explain (%s)", elapsed(start))
    if not return_values:
        return None
    out = np.zeros((len(explained), adata.n_vars, n_classes), dtype=np.float32)
    out[:, src, :] = res.values[:, dst, :]
    return out
