from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import _keys
from .._keys import UNASSIGNED
from .._logging import elapsed, logged_warnings
from .._settings import keep_python_rng, logger
from .._utils import check_gene_symbols
from ..data import check_adata, obs_noun, unlisted_genes_are_zero
from ._utils import (
    Outputs,
    call_params,
    check_class_outputs,
    check_key_added,
    check_model_type,
    check_uns_key,
    classify_record,
    describes,
    drop_class_outputs,
    genes_named_by,
    h5ad_safe,
    is_classify_record,
    recorded_layer,
)

if TYPE_CHECKING:
    from anndata import AnnData

    from ..models import Classifier, Regressor


@keep_python_rng()  # the user's next random.random() draws as without the call
def predict(
    adata: AnnData,
    model: Classifier | Regressor,
    *,
    layer: str | None = None,
    min_gene_overlap: float = 0.5,
    batch_size: int = 1024,
    min_confidence: float | None = None,
    key_added: str = _keys.CLASSIFY_KEY,
    gene_symbols: str | None = None,
) -> None:
    """Annotate new cells with a trained classifier (or regressor); genes are matched by name.

    The query's genes are reordered to the model's, genes the query lacks take their training
    mean on the model's scale (a model saved before that was kept: 0) and extra query genes are
    ignored. The model's own input transform (fitted at training) is
    applied, so pass the same kind of values the model was trained on.

    Parameters
    ----------
    adata
        Query cells x genes (``X`` or ``layer``). A view (``adata[mask]``) is refused before any
        work, as the results are written into ``adata``: pass ``adata[mask].copy()``.
    model
        A trained :class:`~scautogenome.models.Classifier` or
        :class:`~scautogenome.models.Regressor`.
    layer
        Use ``adata.layers[layer]`` (the kind of values the model was trained on). None: the
        layer the model's classify run trained on when ``adata`` is the AnnData of that run
        and still has it (as :func:`~scautogenome.tl.explain` does), else the layer the model
        was trained on (``model.layer_``) where ``adata`` has it, else ``adata.X``;
        ``predict_params['layer']`` records the one read.
    min_gene_overlap
        Minimum fraction of the model's genes the query must have; below it is an error
        naming the counts. A partial overlap above it is a warning. The genes the query
        lacks take their training mean on the model's scale; for a model of raw counts, each
        cell's total over the genes it has is divided by their share of the training cells'
        counts, so that its depth (and each present gene) reads as in training. A query read
        by :func:`~scautogenome.io.read_maf` (without ``genes=``) lists the mutated genes
        only: the model's genes it lacks are not mutated there, 0, and no overlap is too
        small.
    batch_size
        Cells per forward pass.
    min_confidence
        Cells whose predicted class has a lower probability are called ``"Unassigned"``
        (as CellTypist's ``p_thres``), e.g. cell types the reference lacks, whose confidence
        is low; their probabilities are still written. None (default): every cell gets a
        class. Not for a Regressor.
    key_added
        Prefix of the keys written. An ``obs['{key_added}_pred']``,
        ``obs['{key_added}_confidence']`` or ``obsm['{key_added}_proba']`` without a record of
        a classify or predict run in ``uns[key_added]`` (a column of your own) is an error
        before any work, so that it is not lost.
    gene_symbols
        A column of ``adata.var`` naming the genes as the model does, to match them by
        (symbols beside Ensembl ids, as ``sc.read_10x_mtx(var_names='gene_ids')`` or CELLxGENE's
        ``feature_name`` keep them; or the ids beside symbols): ``adata.var_names`` are left
        as they are. A name repeated there is matched as its first gene. None: the
        ``var_names``.

    Returns
    -------
    Nothing; writes into ``adata``:

    ``obs['{key_added}_pred']``
        Predicted class (categorical: the classes predicted, in the model's order, then
        ``"Unassigned"`` where ``min_confidence`` left a cell so; as leiden's clusters, no
        category without a cell). Where it replaces a column of other categories, scanpy's
        colours of those, ``uns['{key_added}_pred_colors']``, are removed (scanpy reads them
        by position); the same categories keep them.
    ``obs['{key_added}_confidence']``
        Probability of the predicted class.
    ``obsm['{key_added}_proba']``
        Class probabilities (columns in ``uns[key_added]['classes']`` order).

    For a Regressor, ``obs['{key_added}_pred']`` holds the predicted values (float) and
    neither the confidence nor the probabilities are written (those of an earlier prediction
    under the same key are removed).

    ``uns[key_added]``
        ``classes``, ``gene_overlap`` (model genes, query genes, common, fraction, missing genes
        filled and with what: ``"train_mean"``, or ``"zero"`` for a model saved without it;
        ``counts_share`` for a counts model's query lacking genes: the share of the training
        counts its genes hold)
        ``model_digest`` (of the model's weights, as classify records it),
        ``predict_params`` (this call) and ``warnings``: the warnings sag logged during this
        call (a partial gene overlap, query values of another kind than the model's
        training values), as an array of str, in the order logged, at any verbosity, shown
        by :func:`~scautogenome.io.write_report`; absent where there were none (an earlier
        call's are not kept). An existing ``uns[key_added]`` from
        :func:`classify` is kept and updated when that run trained ``model``. The record of
        another model's run (whose metrics, confusion matrix and classes would no longer
        describe the predictions), another tool's record, or a value of your own (a dict
        too, such as scanpy's ``uns['neighbors']``) is an error before any work, so that it is
        not lost: pass another ``key_added`` (e.g. ``"sag_query"``).
    """
    from ..models import Classifier, Regressor, check_is_fitted

    start = time.perf_counter()
    # the warnings of this call (a partial gene overlap, a scale unlike training's) are
    # recorded with the predictions, so that the report shows them too
    with logged_warnings() as warned:
        check_key_added(key_added)
        # its genes' names unique (named by gene_symbols: checked as the model reads them)
        check_adata(adata, reads=getattr(model, "var_names_", None) if gene_symbols is None else [])
        check_gene_symbols(adata, gene_symbols)
        check_model_type(model, (Classifier, Regressor), "Classifier or Regressor")
        if min_confidence is not None:
            if isinstance(model, Regressor):
                msg = "min_confidence= calls uncertain classes; a Regressor predicts values."
                raise ValueError(msg)
            msg = f"min_confidence={min_confidence!r} must be a probability between 0 and 1."
            if isinstance(min_confidence, bool) or not isinstance(
                min_confidence, (int, float, np.number)
            ):
                raise TypeError(msg)
            if not 0 <= min_confidence <= 1:  # NaN too
                raise ValueError(msg)
            if _keys.unsure_name(model.classes_) is None:
                msg = f"The model has a class named {UNASSIGNED!r}; min_confidence= would mix them."
                raise ValueError(msg)
        check_is_fitted(model)
        digest = model.weights_digest()  # once: a SHA-1 of every weight (0.05 s at 20,000 genes)
        # a classify record (of this model) or an earlier prediction's is updated; a dict of the
        # user's (scanpy's uns['neighbors'], say) is refused, as every tool refuses one: updated,
        # it would read as a prediction's record, which a later call replaces whole
        check_uns_key(adata, key_added, "predict", replaces=("classify", "predict"))
        check_class_outputs(adata, key_added, "predict", split=False)
        record = adata.uns.get(key_added)
        if is_classify_record(record) and not describes(record, model, digest):
            held = (
                "metrics and trials"
                if record.get("task") == "regression"
                else ("metrics, confusion matrix and trials")
            )
            msg = (
                f"adata.uns[{key_added!r}] holds the classify run of another model (its {held}), "
                "which this prediction would replace. Pass another key_added= (e.g. 'sag_query') "
                "to keep both."
            )
            raise ValueError(msg)
        if layer is None:  # resolved here, so that the layer read is the layer recorded
            layer = recorded_layer(adata, classify_record(adata, model, digest=digest)[1], model)
        kw = {"layer": layer, "batch_size": batch_size, "min_gene_overlap": min_gene_overlap}
        with genes_named_by(adata, gene_symbols):
            if isinstance(model, Regressor):
                values = model.predict(adata, **kw)
            else:
                proba = model.predict_proba(adata, **kw)
            report = model.gene_overlap(
                adata.var_names,
                min_gene_overlap=min_gene_overlap,
                warn=False,
                unlisted_zero=unlisted_genes_are_zero(adata),
            )
    # -- write (only after everything above succeeded) -----------------------------------------
    # every value prepared first (the record h5ad-safe too), then written in one block
    out = Outputs()
    if isinstance(model, Regressor):
        prediction_outputs(out, adata, key_added, values)
        # class outputs of an earlier prediction under this key would contradict these
        drop_class_outputs(out, adata, key_added, proba=True)
    else:
        codes = proba.argmax(1)
        # Python str (numpy's str_ shows as np.str_('LUAD') in value_counts)
        calls = np.array(model.classes_.tolist(), dtype=object)[codes]
        categories = model.classes_.tolist()
        if min_confidence is not None:
            calls[proba.max(1) < min_confidence] = UNASSIGNED
            categories.append(UNASSIGNED)
        prediction_outputs(out, adata, key_added, pd.Categorical(calls, categories=categories))
        out.set("obs", _keys.confidence_key(key_added), proba.max(1).astype(np.float32))
        out.set("obsm", _keys.proba_key(key_added), proba.astype(np.float32))
    new = {
        "classes": model.classes_.copy(),  # the record's own: editing it leaves the model
        "gene_overlap": report,
        "model_digest": digest,
        "predict_params": call_params(
            layer=layer,
            min_gene_overlap=min_gene_overlap,
            min_confidence=min_confidence,
            gene_symbols=gene_symbols,
        ),
    }
    if warned:  # each once, in the order logged
        new["warnings"] = list(dict.fromkeys(warned))
    # the entries there (a classify record, or a dict of the user's) kept as they are: only
    # the new ones are made h5ad-safe, which leaves out a None and drops a Series' index;
    # an earlier call's warnings are this call's or none
    kept = {k: v for k, v in adata.uns.get(key_added, {}).items() if k != "warnings"}
    out.set("uns", key_added, {**kept, **h5ad_safe(new)})
    out.write(adata)
    if min_confidence is not None and is_classify_record(record):
        logger.info(
            "uns[%r] keeps the classify run's test metrics and confusion matrix, of its own "
            "calls (every %s its most probable class); %d %s are now %r in obs[%r]: "
            "sag.pl.confusion_matrix(adata, labels_key=...) scores these calls.",
            key_added,
            obs_noun(adata)[:-1],
            int((calls == UNASSIGNED).sum()),
            obs_noun(adata),
            UNASSIGNED,
            _keys.pred_key(key_added),
        )
    _trained_on_note(adata, key_added, record)
    logger.info("    finished predict on %d %s (%s)", adata.n_obs, obs_noun(adata), elapsed(start))


def _trained_on_note(adata: AnnData, key: str, record) -> None:
    """Say how many of the cells trained the model, where ``adata`` keeps the split of its
    classify run (its own AnnData, or cells copied from it): predictions on them agree with
    their labels more than on new cells."""
    split_col = _keys.split_key(key)
    if not is_classify_record(record) or split_col not in adata.obs.columns:
        return
    split = adata.obs[split_col].astype(str).to_numpy()
    n_train, n_val = int((split == "train").sum()), int((split == "val").sum())
    if n_train + n_val == 0:
        return
    noun = obs_noun(adata)
    logger.info(
        "%d of these %d %s trained the model (%d train, %d val in obs[%r]): its %s agree "
        "with their %s more than on new %s; its held-out ones are obs[%r] == 'test'.",
        n_train + n_val,
        adata.n_obs,
        noun,
        n_train,
        n_val,
        split_col,
        *(("predictions", "values") if record.get("task") == "regression" else ("calls", "labels")),
        noun,
        split_col,
    )


def _categories(column) -> list[str] | None:
    """The categories of a categorical ``obs`` column (or ``pd.Categorical``), None for any
    other (numbers, text, a table of two columns of one name)."""
    dtype = getattr(column, "dtype", None)
    if not isinstance(dtype, pd.CategoricalDtype):
        return None
    return [str(c) for c in dtype.categories]


def prediction_outputs(out: Outputs, adata: AnnData, key_added: str, values) -> bool:
    """Add to ``out`` the write of ``values`` (the predicted classes as a ``pd.Categorical``,
    or numbers) into ``obs['{key_added}_pred']``, for :func:`~scautogenome.tl.classify` and
    :func:`predict`. Its categories are the classes predicted, in the order given: an empty one
    (a class no cell was called) breaks scanpy's ``dotplot`` and ``rank_genes_groups``, as
    leiden's clusters never have one. Where they replace a column of other categories (other
    classes, ``"Unassigned"``, or numbers), ``uns['{key_added}_pred_colors']`` is removed:
    scanpy reads those colours by position, so that they would give a class the colour of
    another. Identical categories keep it (the user's choice, maybe): returns whether they
    did."""
    column = _keys.pred_key(key_added)
    colors = f"{column}_colors"
    replaced = column in adata.obs.columns
    before = _categories(adata.obs[column]) if replaced else None
    if isinstance(values, pd.Categorical):
        values = values.remove_unused_categories()
    out.set("obs", column, values)
    same = replaced and _categories(values) == before  # the column's once written
    if replaced and colors in adata.uns and not same:
        out.remove("uns", colors)
        out.note(
            "removed uns[%r], the colours of the earlier categories of obs[%r]", colors, column
        )
    return same and colors in adata.uns
