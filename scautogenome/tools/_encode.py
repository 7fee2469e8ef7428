from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import numpy as np

from .. import _keys
from .._logging import elapsed
from .._settings import keep_python_rng, logger
from .._utils import check_gene_symbols, json_default
from ..data import check_adata, gene_alignment, obs_noun, unlisted_genes_are_zero
from ..models._base import _genes_elsewhere
from ..models._resvae import active_dims, transform_batch_names
from ._embed import check_outputs, latent_key, layout_outputs, recon_outputs
from ._utils import (
    Outputs,
    call_params,
    check_model_type,
    describes,
    genes_named_by,
    h5ad_safe,
    is_embed_record,
    recorded_layer,
    replaces_scores,
)

if TYPE_CHECKING:
    from anndata import AnnData

    from ..models import ResVAE


def _decoded_as(model, recon: bool, batch_key, transform_batch) -> dict:
    """What ``encode_params`` records of the batches a reconstruction was decoded as: the
    column read (``batch_key``) or the batches given (``transform_batch``, as text); nothing
    without a reconstruction or for a model without batches."""
    if not recon or getattr(model, "batches_", None) is None:
        return {}
    if transform_batch is not None:
        return {"transform_batch": ", ".join(transform_batch_names(transform_batch)[0])}
    return {"batch_key": model.batch_key_ if batch_key is None else batch_key}


@keep_python_rng()  # the user's next random.random() draws as without the call
def encode(
    adata: AnnData,
    model: ResVAE,
    *,
    layer: str | None = None,
    recon: bool = False,
    min_gene_overlap: float = 0.5,
    batch_size: int = 1024,
    key_added: str = _keys.EMBED_KEY,
    batch_key: str | None = None,
    transform_batch=None,
    gene_symbols: str | None = None,
) -> None:
    """Embed new cells with a trained Res-VAE (or plain VAE); genes are matched by name.

    What :func:`~scautogenome.tl.predict` is to :func:`~scautogenome.tl.classify`, this is to
    :func:`~scautogenome.tl.embed` (as scvi-tools' ``get_latent_representation`` on a query):
    no search and no training. The query's genes are reordered to the model's, genes it lacks
    take their training mean on the model's scale (with a warning) and extra genes are
    ignored; the model's own input transform is applied, so pass the kind of values the model
    was trained on (a warning names a mismatch it can see: log values against counts, another
    scale). The latent means land where ``embed`` puts them, so :func:`~scautogenome.pl.embedding`,
    :func:`~scautogenome.tl.embedding_scores` and the report read them as they read ``embed``'s.

    Parameters
    ----------
    adata
        Query cells x genes (``X`` or ``layer``). A view (``adata[mask]``) is refused before any
        work, as the results are written into ``adata``: pass ``adata[mask].copy()``.
    model
        A trained :class:`~scautogenome.models.ResVAE` (``sag.tl.embed``'s return value, or
        ``sag.models.ResVAE.load(directory)``).
    layer
        Use ``adata.layers[layer]``. None: the layer the model was trained on where ``adata``
        has it, else ``adata.X``; ``uns[key_added]['encode_params']['layer']`` records the one
        read.
    recon
        Also write the reconstruction as ``layers['{key_added}_recon']`` (dense float32;
        expected counts of a count model, otherwise values on the scale the model was prepared
        from, as ``model.reconstruct`` returns them). The query must then have exactly the
        model's genes (in any order), since the layer has the query's genes;
        ``model.reconstruct(adata)`` returns the model's genes for any query. Without it, an
        earlier call's reconstruction under ``key_added`` is removed, the same model's too
        (a layer records nothing of the values it was decoded from, so it cannot be told to
        describe the new latent), and a log line names it: pass another ``key_added`` to keep
        it. A model conditioned on batches (``embed(batch_key=)``) decodes each cell as
        its batch in ``obs[batch_key]``, which must be one the model was trained on, or as
        ``transform_batch``. The latent never needs the batch: the encoder does not read it.
    min_gene_overlap
        Minimum fraction of the model's genes the query must have; below it is an error naming
        the counts. A partial overlap above it is a warning.
    batch_size
        Cells per forward pass.
    key_added
        Key of the outputs (default ``"sag_resvae"``, ``embed``'s). The latent goes to
        ``obsm['X_' + key_added]``: one starting with ``X_`` is an error (``"mine"`` writes
        ``obsm['X_mine']``).
    batch_key
        With ``recon`` and a model conditioned on batches: the query's ``obs`` column of
        batches, each cell decoded as its own (default the model's ``batch_key_``).
    transform_batch
        With ``recon`` and such a model: decode every cell as this batch of the model's (a
        list: the mean over them), as :meth:`~scautogenome.models.ResVAE.reconstruct`.
    gene_symbols
        A column of ``adata.var`` naming the genes as the model does, to match them by, as
        :func:`~scautogenome.tl.predict`'s; ``adata.var_names`` are left as they are.

    Returns
    -------
    Nothing; writes into ``adata``:

    ``obsm['X_{key_added}']``
        Latent means, n_obs x n_latent (float32); what :func:`~scautogenome.pl.embedding`
        computed from another latent under the key is removed, as :func:`embed` does.
    ``layers['{key_added}_recon']``
        Only with ``recon=True``.
    ``uns[key_added]``
        ``encode_params`` (this call: the layer read, ``min_gene_overlap``, ``recon``),
        ``gene_overlap`` (model genes, query genes, common, fraction, missing genes filled and
        with what) and ``active_dims`` (latent dimensions whose mean varies across these cells
        by more than 0.01). On its own it also holds ``mode``, ``n_latent``, ``likelihood``,
        ``architecture`` (JSON text) and ``model_digest`` of the model. An ``embed`` record of
        the same model (the reference's own AnnData, or a subset of it, encoded again) is kept
        and updated; its ``scores`` (of :func:`~scautogenome.tl.embedding_scores`, on the cells
        of another call) are dropped. A record of ``embedding_scores`` alone (the scores it
        stored under a key it created) is replaced, with a log line.

    Errors, before any work and leaving ``adata`` as it was, so that nothing is lost: the
    ``embed`` record of another model (whose losses, trials and parameters would no longer
    describe the latent) under ``key_added``, another tool's record or a value that is not a
    dict; an ``obsm['X_{key_added}']`` or ``layers['{key_added}_recon']`` with no sag record
    (``key_added="scVI"`` would replace scVI's latent); ``layer`` naming the reconstruction
    layer this call writes or removes. Pass another ``key_added`` (e.g. ``"sag_query"``).
    """
    from ..models import ResVAE, check_is_fitted

    start = time.perf_counter()
    check_outputs(adata, key_added, layer, recon, "encode")
    # its genes' names unique (named by gene_symbols: checked as the model reads them)
    check_adata(adata, reads=getattr(model, "var_names_", None) if gene_symbols is None else [])
    check_gene_symbols(adata, gene_symbols)
    check_model_type(model, (ResVAE,), "ResVAE (sag.tl.embed's)")
    check_is_fitted(model)
    record = adata.uns.get(key_added)
    digest = model.weights_digest()
    same_run = is_embed_record(record) and describes(record, model, digest)
    if is_embed_record(record) and not same_run:
        known = "model_digest" in record
        msg = (
            f"adata.uns[{key_added!r}] holds the embed run of "
            + (
                "another model"
                if known
                else "a model this version cannot tell apart (a record written before "
                "scautogenome recorded the model's digest)"
            )
            + " (its losses, trials and parameters), which this embedding would replace. Pass "
            "another key_added= (e.g. 'sag_query') to keep both"
            + ("." if known else f", or delete adata.uns[{key_added!r}] first.")
        )
        raise ValueError(msg)
    if not recon and (batch_key is not None or transform_batch is not None):
        msg = (
            "batch_key= and transform_batch= choose the batch the reconstruction is decoded as "
            "(the latent does not depend on it); pass them with recon=True."
        )
        raise ValueError(msg)
    # a decoder conditioned on batches decodes each cell as its own batch (checked here)
    batch = (
        model.query_batches(adata, batch_key=batch_key, transform_batch=transform_batch)
        if recon
        else None
    )
    if layer is None:  # resolved here, so that the layer read is the layer recorded
        layer = recorded_layer(adata, record if same_run else {}, model)
    with genes_named_by(adata, gene_symbols):
        src, dst, n_model = gene_alignment(adata.var_names, model.var_names_, log=False)
        found = np.unique(dst)  # the model genes the query has
        n_common = found.size
        if recon and not (len(src) == adata.n_vars == n_model == n_common):
            msg = (
                "recon=True writes a layer of the query's genes, which must then be the "
                f"model's: the query has {adata.n_vars} genes, {n_common} of them among the "
                f"model's {n_model}. Leave recon out (in Python, model.reconstruct(adata) "
                "returns the model's genes for any query), or subset the query to the model's "
                "genes where it has others besides them."
                # where the query holds more of them (a var column, adata.raw)
                + _genes_elsewhere(model.var_names_, adata.var_names, adata, n_common)
            )
            raise ValueError(msg)
        latent, reconstruction = model._encode(
            adata, layer, batch_size, recon=recon, min_gene_overlap=min_gene_overlap, batch=batch
        )
        if recon:  # the query's gene order (the model's own needs no copy)
            reconstruction = model._query_order(reconstruction, adata.var_names)
        report = model.gene_overlap(
            adata.var_names,
            min_gene_overlap=min_gene_overlap,
            warn=False,
            found=found,
            unlisted_zero=unlisted_genes_are_zero(adata),
        )
    n_active = int(active_dims(latent).sum())
    if n_active < model.n_latent_ / 2:  # of the query's cells: nothing was trained here
        noun = obs_noun(adata)
        logger.info(
            "%d of %d latent dimensions vary across these %d %s (a query of few %s, or of one "
            "%s, varies along few of them)",
            n_active,
            model.n_latent_,
            adata.n_obs,
            noun,
            noun,
            "cell type" if noun == "cells" else "class",
        )

    # -- write (only after everything above succeeded) -----------------------------------------
    # every value prepared first (the record h5ad-safe too), then written in one block
    out = Outputs()
    latent = latent.astype(np.float32)
    out.set("obsm", latent_key(key_added), latent)
    layout_outputs(out, adata, key_added, latent)
    recon_outputs(out, adata, key_added, reconstruction if recon else None)
    uns = dict(record) if same_run else {}
    # scores of embedding_scores were of the cells of another call (the reference's, or a
    # subset's): they no longer describe this latent
    uns.pop("scores", None)
    if not same_run:  # on its own: which model made the latent
        uns.update(
            {
                "mode": model.architecture_["kind"],
                "n_latent": model.n_latent_,
                "likelihood": model.likelihood_,
                "architecture": json.dumps(
                    model.architecture_, sort_keys=True, default=json_default
                ),
                "model_digest": digest,
            }
        )
    uns.update(
        {
            "encode_params": call_params(
                layer=layer,
                min_gene_overlap=min_gene_overlap,
                recon=recon,
                gene_symbols=gene_symbols,
                # the batches the reconstruction was decoded as (a model conditioned on them)
                **_decoded_as(model, recon, batch_key, transform_batch),
            ),
            "gene_overlap": report,
            "active_dims": n_active,
        }
    )
    replaces_scores(out, adata, key_added, "encode")
    out.set("uns", key_added, h5ad_safe(uns))
    out.write(adata)
    logger.info("    finished encode of %d %s (%s)", adata.n_obs, obs_noun(adata), elapsed(start))
