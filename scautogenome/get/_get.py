"""Readers of the records that the tools write into an AnnData (nothing is written)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import _keys
from .._settings import logger
from .._utils import (
    check_gene_symbols,
    check_positive_int,
    check_record_reader,
    classify_run_record,
)

if TYPE_CHECKING:
    from anndata import AnnData


SUMMARY_ROW = "all"
"""The name of :func:`metrics_df`'s last row, the run's overall figures (unless a class has
it)."""


def _group_table(
    adata: AnnData, table: pd.DataFrame, group: str, gene_symbols: str | None
) -> pd.DataFrame:
    """One group's genes ranked by their score (``names``, ``scores``; the ``gene_symbols``
    column), with a warning where none of its cells was explained (an empty table)."""
    scores = table[group].dropna().sort_values(ascending=False, kind="stable")
    if scores.empty:
        logger.warning(
            "shap_df: group=%r has no importance: none of its cells was explained (explain's "
            "cells=, or a query without it); its table is empty.",
            group,
        )
    out = pd.DataFrame({"names": scores.index.to_numpy(), "scores": scores.to_numpy()})
    if gene_symbols is not None:  # as scanpy's: a column named after the var column
        out[gene_symbols] = adata.var.loc[scores.index, gene_symbols].to_numpy()
    return out


def shap_df(
    adata: AnnData,
    group: str | Sequence[str] | None = None,
    *,
    key: str = _keys.SHAP_KEY,
    n_top: int | None = None,
    gene_symbols: str | None = None,
) -> pd.DataFrame:
    """The gene importance of :func:`~scautogenome.tl.explain` as a table.

    Parameters
    ----------
    adata
        The AnnData ``explain`` wrote into.
    group
        A class (or ``"overall"``, or a numeric target's name): its genes ranked by mean
        |SHAP value|, with columns ``names`` and ``scores`` (those of
        :func:`scanpy.get.rank_genes_groups_df`); genes the model does not know are left out; a
        warning where none of the class's cells was explained (the table is empty). A list of
        them: their tables one below the other, with a first column ``group`` (as scanpy's; of
        one group, its table).
        None: every gene (index: ``var_names``) with one column per class and the last one,
        ``overall``, ranked by it. Where a class is named ``"overall"``, the mean over the
        classes is ``"overall (all classes)"`` (:func:`~scautogenome.tl.explain` says so).
    key
        ``key_added`` of the explain call.
    n_top
        Keep the first ``n_top`` rows (of each group).
    gene_symbols
        A column of ``adata.var`` added under its own name (as scanpy's), e.g. symbols beside
        Ensembl ids; first with ``group=None``, last otherwise.

    Returns
    -------
    A DataFrame; ``varm[key]`` column ``c`` is the mean |SHAP value| of class ``c`` over its
    explained cells (``uns[key]['params']`` says which cells were explained).
    """
    check_record_reader(adata, key, "explain")
    from ..tools._utils import explain_record, explain_scores, records_elsewhere, unexplained_group

    try:
        uns = explain_record(adata, key)
    except KeyError as e:
        raise KeyError(
            str(e.args[0]) + records_elsewhere(adata, key, ("explain",), "key")
        ) from None
    columns = [str(c) for c in uns["columns"]]
    check_gene_symbols(adata, gene_symbols)
    if n_top is not None:
        check_positive_int("n_top", n_top, " (or None: every gene)")
    groups = None
    if group is not None:
        many = not isinstance(group, str) and isinstance(
            group, (Sequence, np.ndarray, pd.Index, pd.Series)
        )
        given = list(group) if many else [group]
        groups = [str(g) for g in given]
        if not groups:
            msg = "group=[] names no class; give one or more of the explained classes, or None."
            raise ValueError(msg)
        for g, asked in zip(groups, given):
            if g not in columns:
                raise unexplained_group(adata, uns, asked)  # named as given: group=3
    taken = set(columns) if groups is None else {"names", "scores"}
    if groups is not None and len(groups) > 1:
        taken.add("group")
    if gene_symbols is not None and gene_symbols in taken:
        msg = (
            f"gene_symbols={gene_symbols!r} is the name of a column of the table already; "
            "copy the symbols into a column of adata.var of another name."
        )
        raise ValueError(msg)
    table = pd.DataFrame(explain_scores(adata, key), index=adata.var_names.copy(), columns=columns)
    if groups is None:
        # the mean over the classes: the last column ("overall", unless a class is named so)
        out = table.sort_values(columns[-1], ascending=False, na_position="last", kind="stable")
        if gene_symbols is not None:
            out.insert(0, gene_symbols, adata.var.loc[out.index, gene_symbols].to_numpy())
        return out if n_top is None else out.head(n_top)
    tables = []
    for g in groups:
        one = _group_table(adata, table, g, gene_symbols)
        tables.append(one if n_top is None else one.head(n_top))
    if len(groups) == 1:  # as scanpy: no group column for one group
        return tables[0]
    out = pd.concat(tables, keys=groups, names=["group", None]).reset_index(0)
    out["group"] = pd.Categorical(out["group"], categories=list(dict.fromkeys(groups)))
    return out.reset_index(drop=True)


def _predicts_numbers(adata: AnnData, key: str) -> bool:
    """Whether ``obs['{key}_pred']`` holds predicted numbers (a Regressor's), not classes."""
    from ..data._checks import is_numeric_column

    pred = adata.obs.get(_keys.pred_key(key))
    return pred is not None and is_numeric_column(pred)


def metrics_df(
    adata: AnnData, *, key: str = _keys.CLASSIFY_KEY, part: str = "test"
) -> pd.DataFrame:
    """The metrics of a :func:`~scautogenome.tl.classify` run on its held-out cells.

    Parameters
    ----------
    adata
        The AnnData ``classify`` wrote into.
    key
        ``key_added`` of the classify call.
    part
        ``"test"`` (scored once, by the final model) or ``"val"`` (what the search chose on).

    Returns
    -------
    Classes: one row per class (precision, recall, F1, support and, where computed, ROC AUC
    and average precision, one class against the rest) and a last row ``all``: macro-F1 (as
    ``f1``), balanced accuracy (as ``recall``, the mean of the classes' recalls), the macro
    ROC AUC and average precision (with two classes the rarer class's average precision),
    ``accuracy`` and the number of cells (``support``), each
    the run's own figure as classify recorded it; precision is left NaN there, as the record
    holds no macro precision (macro-F1 averages the classes true or predicted in the part,
    which the per-class table alone cannot tell). Where a class is named ``"all"``, that row is
    the class's and the last row is ``"all (summary)"`` (with a warning). A numeric target:
    one row of R^2, RMSE, MAE, Pearson, Spearman and n.
    """
    check_record_reader(adata, key, "classify")
    try:
        record = classify_run_record(adata, key, "metrics")
    except KeyError as e:
        from ..tools._utils import records_elsewhere

        hint = records_elsewhere(adata, key, ("classify",), "key")
        record = adata.uns.get(key)
        if isinstance(record, dict) and "predict_params" in record:
            plot = "regression" if _predicts_numbers(adata, key) else "confusion_matrix"
            hint += (
                f" To score the predictions against an obs column of known values: "
                f"sag.pl.{plot}(adata, key={key!r}, labels_key=...)."
            )
        raise KeyError(str(e.args[0]) + hint) from None
    if part not in record["metrics"]:
        msg = f"part={part!r} must be one of {sorted(record['metrics'])}."
        raise ValueError(msg)
    m = record["metrics"][part]
    if "per_class" not in m:  # a numeric target
        return pd.DataFrame(
            [{k: m[k] for k in ("r2", "rmse", "mae", "pearson", "spearman", "n") if k in m}],
            index=pd.Index([str(record["classes"][0])], name="target"),
        )
    pc = m["per_class"]
    classes = [str(c) for c in record["classes"]]
    names = {"f1": "f1", "precision": "precision", "recall": "recall", "support": "support"}
    names |= {k: k for k in ("roc_auc", "average_precision") if k in pc}
    out = pd.DataFrame({name: np.asarray(pc[k]) for k, name in names.items()}, index=classes)
    overall = {
        "precision": np.nan,
        "recall": m.get("balanced_accuracy", np.nan),
        "f1": m.get("macro_f1", np.nan),
        "support": int(m["n"]),
    }
    overall |= {k: m[k] for k in ("roc_auc", "average_precision") if k in m}
    summary = SUMMARY_ROW
    while summary in classes:  # a class named "all" keeps its row
        summary += " (summary)"
    if summary != SUMMARY_ROW:
        logger.warning(
            "metrics_df: a class is named %r, so the row of the run's overall figures is named %r.",
            SUMMARY_ROW,
            summary,
        )
    out.loc[summary] = pd.Series(overall)
    out["accuracy"] = np.nan
    out.loc[summary, "accuracy"] = m.get("accuracy", np.nan)
    out["support"] = out["support"].astype(int)
    out.index.name = "class"
    return out
