"""From per-cell SHAP values to per-class importance, chunk by chunk (memory stays bounded).

Pass 1 streams the explained cells through an engine and accumulates, for every class ``c``,
the mean absolute SHAP value of output ``c`` over the explained cells of class ``c``. Pass 2
explains the cells again restricted to the top genes of every class and overall (cheap with the
structured fast path; the draws are the same, so the values are too) to keep their per-cell SHAP
values for distribution plots. With ``keep_values`` the full array is kept in pass 1 and pass 2
is skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._logging import progress
from .._settings import logger


@dataclass
class ClassImportance:
    """What an explanation produces, on the model's genes.

    Attributes
    ----------
    importance
        n_genes x n_classes: mean |SHAP of output c| over the explained cells of class c
        (NaN for a class with no explained cell).
    overall
        n_genes: mean of ``importance`` over the classes that have explained cells.
    n_cells
        Explained cells per class.
    top
        (n_classes + 1) x n_top gene indices ranked by importance (last row: ``overall``); -1
        for a class with no explained cell.
    top_values, top_expression
        n_classes x n_cells x n_top: SHAP values of output c and model-scale input values of
        the top genes of class c, for every explained cell (NaN for a class with no explained
        cell).
    overall_values, overall_expression
        n_cells x n_top: for the ``overall`` top genes, every explained cell's SHAP value of
        its own class's output (the values ``overall`` averages the magnitude of) and the
        genes' model-scale input values.
    base_values
        Mean logits over the background (the reference the SHAP values explain the output from).
    values
        n_cells x n_genes x n_classes, only with ``keep_values``.
    """

    importance: np.ndarray
    overall: np.ndarray
    n_cells: np.ndarray
    top: np.ndarray
    top_values: np.ndarray
    top_expression: np.ndarray
    overall_values: np.ndarray
    overall_expression: np.ndarray
    base_values: np.ndarray
    values: np.ndarray | None
    seconds: float


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield np.arange(start, min(n, start + size))


def _ranked(scores: np.ndarray, eligible: np.ndarray, n_top: int, tie: np.ndarray) -> np.ndarray:
    s = np.where(eligible & np.isfinite(scores), scores, -np.inf)
    order = np.lexsort((tie, -s))  # by score, equal scores by ``tie``
    return order[: min(n_top, int(eligible.sum()))]


def class_importance(
    engine,
    get_rows: Callable[[np.ndarray], np.ndarray],
    codes: np.ndarray,
    *,
    n_top: int = 30,
    eligible_genes: np.ndarray | None = None,
    keep_values: bool = False,
    class_names=None,
    tie_order: np.ndarray | None = None,
) -> ClassImportance:
    """Explain cells ``0 .. len(codes)-1`` with ``engine`` and reduce to class importance.

    Parameters
    ----------
    engine
        :class:`~scautogenome.explain.ExpectedGradients` or
        :class:`~scautogenome.explain.ShapGradient`.
    get_rows
        ``get_rows(cells)`` -> dense float32 rows of those explained cells on the model's input
        scale (n x n_genes).
    codes
        Class index (0 .. n_classes-1) of every explained cell.
    n_top
        Genes kept per class in the ranking and the per-cell values.
    eligible_genes
        Boolean mask of the genes that may be ranked (e.g. those the query has); default all.
    keep_values
        Keep the full n_cells x n_genes x n_classes array (memory!) and return it.
    class_names
        The classes' names, by which the warning about classes without an explained cell
        names them (default: their indices).
    tie_order
        A rank key per gene that orders genes of equal importance (the position of each
        in the data's genes, so that the ranking is the data's table sorted by score);
        default: the genes' order.
    """
    start = time.perf_counter()
    codes = np.asarray(codes, dtype=np.int64)
    n, n_genes, n_classes = len(codes), engine.n_genes, engine.n_classes
    eligible = np.ones(n_genes, bool) if eligible_genes is None else np.asarray(eligible_genes)
    sums = np.zeros((n_genes, n_classes), dtype=np.float64)
    counts = np.bincount(codes, minlength=n_classes)[:n_classes]
    values = np.zeros((n, n_genes, n_classes), dtype=np.float32) if keep_values else None

    size = engine.cells_per_chunk()
    with progress(n, f"explain ({engine.name})", unit="cell") as bar:
        for cells in _chunks(n, size):
            phi = engine.attributions(get_rows(cells), cells)
            for c in np.unique(codes[cells]):
                sel = codes[cells] == c
                sums[:, c] += np.abs(phi[sel, :, c]).sum(0)
            if values is not None:
                values[cells] = phi
            bar.update(len(cells))
    with np.errstate(invalid="ignore", divide="ignore"):
        importance = (sums / counts).astype(np.float32)
    importance[:, counts == 0] = np.nan
    present = counts > 0
    overall = importance[:, present].mean(1)
    if not present.all():
        names = range(n_classes) if class_names is None else class_names
        logger.warning(
            "%d class(es) have no explained cell; their importance is NaN: %s.",
            int((~present).sum()),
            ", ".join(str(c) for c, p in zip(names, present) if not p),
        )
    n_top = min(n_top, int(eligible.sum()))
    tie = np.arange(n_genes) if tie_order is None else np.asarray(tie_order)
    top = np.stack(
        [_ranked(importance[:, c], eligible, n_top, tie) for c in range(n_classes)]
        + [_ranked(overall, eligible, n_top, tie)]
    )
    top_values = np.zeros((n_classes, n, n_top), dtype=np.float32)
    top_expr = np.zeros((n_classes, n, n_top), dtype=np.float32)
    overall_values = np.zeros((n, n_top), dtype=np.float32)
    overall_expr = np.zeros((n, n_top), dtype=np.float32)
    union = np.unique(top)
    pos = np.searchsorted(union, top)  # (class or overall) x n_top -> column of the union
    cls = np.arange(n_classes)[:, None]
    if values is not None:
        for cells in _chunks(n, size):
            x = get_rows(cells)
            for c in range(n_classes):
                top_values[c, cells] = values[cells][:, top[c], c]
                top_expr[c, cells] = x[:, top[c]]
            own = values[cells][:, top[-1], :]  # cells x n_top x classes
            overall_values[cells] = np.take_along_axis(own, codes[cells, None, None], 2)[..., 0]
            overall_expr[cells] = x[:, top[-1]]
    else:
        if len(union) > 0.5 * n_genes:
            logger.info(
                "explain: the top %d genes of %d classes and overall are %d of the %d genes, "
                "so the second pass (their per-cell values) costs about what the first did; "
                "sag.tl.explain(return_values=True) keeps the first pass's values instead "
                "(%.0f MB).",
                n_top,
                n_classes,
                len(union),
                n_genes,
                n * n_genes * n_classes * 4 / 1e6,
            )
        size2 = engine.cells_per_chunk(len(union))
        with progress(n, "explain: top genes", unit="cell") as bar:
            for cells in _chunks(n, size2):
                x = get_rows(cells)
                phi = engine.attributions(x, cells, genes=union)  # cells x union x classes
                top_values[:, cells] = phi[:, pos[:n_classes], cls].transpose(1, 0, 2)
                top_expr[:, cells] = x[:, union][:, pos[:n_classes]].transpose(1, 0, 2)
                own = phi[:, pos[-1], :]
                overall_values[cells] = np.take_along_axis(own, codes[cells, None, None], 2)[..., 0]
                overall_expr[cells] = x[:, top[-1]]
                bar.update(len(cells))
    # a class without explained cells has no ranking
    top[:n_classes][~present] = -1
    top_values[~present] = np.nan
    top_expr[~present] = np.nan
    return ClassImportance(
        importance=importance,
        overall=overall.astype(np.float32),
        n_cells=counts,
        top=top,
        top_values=top_values,
        top_expression=top_expr,
        overall_values=overall_values,
        overall_expression=overall_expr,
        base_values=np.asarray(engine.base_values, dtype=np.float32),
        values=values,
        seconds=time.perf_counter() - start,
    )
