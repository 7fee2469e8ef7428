"""Readers of the records that the tools write into an AnnData (nothing is written)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import _keys
from .._utils import check_gene_symbols, classify_run_record

if TYPE_CHECKING:
    from anndata import AnnData


def shap_df(
    adata: AnnData,
    group: str | None = None,
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
        |SHAP value|, with columns ``names`` and ``scores`` (as
        :func:`scanpy.get.rank_genes_groups_df`); genes the model does not know are left out.
        None: every gene (index: ``var_names``) with one column per class and ``overall``,
        ranked by ``overall``.
    key
        ``key_added`` of the explain call.
    n_top
        Keep the first ``n_top`` rows.
    gene_symbols
        A column of ``adata.var`` added as ``gene_symbols`` (e.g. symbols beside Ensembl ids).

    Returns
    -------
    A DataFrame; ``varm[key]`` column ``c`` is the mean |SHAP value| of class ``c`` over its
    explained cells (``uns[key]['params']`` says which cells were explained).
    """
    from ..tools._utils import explain_record

    uns = explain_record(adata, key)
    columns = [str(c) for c in uns["columns"]]
    table = pd.DataFrame(
        np.asarray(adata.varm[key], dtype=float), index=adata.var_names.copy(), columns=columns
    )
    check_gene_symbols(adata, gene_symbols)
    if n_top is not None and (isinstance(n_top, bool) or not isinstance(n_top, int) or n_top < 1):
        msg = f"n_top={n_top!r} must be a positive integer (or None: every gene)."
        raise ValueError(msg)
    if group is None:
        out = table.sort_values("overall", ascending=False, na_position="last", kind="stable")
        if gene_symbols is not None:
            out.insert(0, "gene_symbols", adata.var.loc[out.index, gene_symbols].to_numpy())
    else:
        if str(group) not in columns:
            msg = f"group={group!r} is not one of the explained classes: {columns}."
            raise KeyError(msg)
        scores = table[str(group)].dropna().sort_values(ascending=False, kind="stable")
        out = pd.DataFrame({"names": scores.index.to_numpy(), "scores": scores.to_numpy()})
        if gene_symbols is not None:
            out["gene_symbols"] = adata.var.loc[scores.index, gene_symbols].to_numpy()
    return out if n_top is None else out.head(n_top)


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
    ROC AUC and average precision, ``accuracy`` and the number of cells (``support``), each
    the run's own figure as classify recorded it; precision is left NaN there, as the record
    holds no macro precision (macro-F1 averages the classes true or predicted in the part,
    which the per-class table alone cannot tell). A numeric target: one row of
    R^2, RMSE, MAE, Pearson, Spearman and n.
    """
    record = classify_run_record(adata, key, "metrics")
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
    out.loc["all"] = pd.Series(overall)
    out["accuracy"] = np.nan
    out.loc["all", "accuracy"] = m.get("accuracy", np.nan)
    out["support"] = out["support"].astype(int)
    out.index.name = "class"
    return out
