from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse

from .. import _keys
from .._logging import elapsed, scanpy_quiet, still_running
from .._settings import keep_python_rng, keep_torch_rng, keep_torch_threads, logger, resolve_seed
from .._utils import (
    check_anndata,
    check_bool,
    check_int_at_least,
    check_key,
    check_number,
    check_obs_column,
    digest,
    rows_among,
)
from ..config import _embed as _embed_config
from ..data import batch_codes, check_not_continuous, obs_noun
from ..data._checks import unusable, view_as_object
from ..data._prepare import warn_missing_as_text
from ..models._resvae import ResVAE, check_likelihood, prepare_unlabelled, warn_if_collapsed
from ..nn._vae import COUNT_LIKELIHOODS
from ..search import (
    check_collect,
    check_storage,
    check_trained,
    storage_recorded,
    warn_if_cut,
)
from ..search._study import embed_study
from ..search._vae import run_vae_search
from ..train import resolve_device
from ..train._vae import warn_long_warmup
from ._utils import (
    Outputs,
    budget_overrides,
    budget_text,
    call_params,
    check_key_added,
    check_model_dir,
    check_unrecorded_outputs,
    check_uns_key,
    final_model,
    h5ad_safe,
    is_classify_record,
    is_embed_record,
    is_encode_record,
    is_scores_record,
    load_config,
    neighbors,
    record_kind,
    replaces_scores,
    resolve_basis,
    save_model,
    search_uns,
    wrote_recon,
)
from ._utils import (
    tsne as run_tsne,
)

if TYPE_CHECKING:
    from anndata import AnnData


SCORE_MAX_CELLS = 10_000
"""embedding_scores' silhouette and t-SNE run on a seeded sample of this many labelled cells
where there are more (its ``max_cells``): 70 s and minutes on 100,000 cells otherwise."""

SILHOUETTE_MB = 64
"""The working memory (MB) of sklearn's silhouettes in embedding_scores: their distances come
in chunks of up to it. sklearn's default, 1 GB, took +354 MB on 8,617 cells and about +500 MB
on 10,000; this takes 49 MB, at 3-21% more seconds (benchmarks/RESULTS.md)."""

RECON_WARN_BYTES = 2e9
"""A reconstruction layer (dense float32) larger than this is warned about before any work."""

MANY_GENES = 5000
"""Above this many genes ``embed`` logs a suggestion to select highly variable genes."""


def latent_key(key: str) -> str:
    """``obsm`` entry of the latent means."""
    return f"X_{key}"


def recon_key(key: str) -> str:
    """``layers`` entry of the reconstruction."""
    return f"{key}_recon"


def check_outputs(adata: AnnData, key_added: str, layer: str | None, recon, tool: str) -> None:
    """Refuse, before any work, what would make ``embed`` or ``encode`` (``tool``) lose
    something of the user's: a ``key_added`` whose ``uns`` entry is not a record they replace,
    an ``obsm['X_{key_added}']`` or ``layers['{key_added}_recon']`` that no such record
    accounts for (``key_added="scVI"`` would overwrite scVI's latent), or the reconstruction
    layer they write or remove as the input ``layer``; ``recon`` must be a bool."""
    check_anndata(adata)
    check_key_added(key_added)
    if key_added.startswith("X_"):  # obsm['X_X_mine']: scanpy's prefix twice
        msg = (
            f"key_added={key_added!r}: {tool} writes the latent to "
            f"obsm['X_' + key_added], here obsm[{latent_key(key_added)!r}]; pass "
            f"key_added={key_added[2:]!r} for obsm[{key_added!r}]."
        )
        raise ValueError(msg)
    if layer is not None:  # before it is compared with the reconstruction's key
        check_key("layer", layer, "a layer of adata.layers (or None: adata.X)")
    check_bool("recon", recon)
    shape = getattr(adata, "shape", None)
    if recon and shape is not None and 4 * shape[0] * shape[1] > RECON_WARN_BYTES:
        logger.warning(
            "recon=True stores a dense %d x %d float32 layer (%.1f GB) when the embedding is "
            "done; make sure there is memory for it.",
            shape[0],
            shape[1],
            4 * shape[0] * shape[1] / 1e9,
        )
    if layer is not None and layer == recon_key(key_added):
        msg = (
            f"layer={layer!r} is where {tool}(key_added={key_added!r}) writes its "
            "reconstruction (recon=True) or removes an earlier one. Pass another key_added=, or "
            "copy the layer under another name."
        )
        raise ValueError(msg)
    # a record of embedding_scores alone (of another basis) is replaced, as it says when done
    check_uns_key(adata, key_added, tool, replaces=("embed", "encode", "scores"))
    outputs = (("obsm", latent_key(key_added)), ("layers", recon_key(key_added), wrote_recon))
    check_unrecorded_outputs(adata, key_added, tool, outputs, owners=("embed", "encode"))


def _hint_counts_layer(adata: AnnData) -> None:
    """Where ``X`` (not counts) gave a Gaussian likelihood and a layer holds raw counts (its
    first 1,000 rows read as counts, as ``sc.pp`` leaves ``layers['counts']``), say that the
    layer would train the count likelihood, as scVI reads counts."""
    from ..data._checks import first_rows
    from ..data._transform import detect_value_type

    for name, values in adata.layers.items():
        if detect_value_type(first_rows(values, 1000)) == "counts":
            logger.info(
                "X is not raw counts, so the likelihood is Gaussian; layers[%r] holds raw "
                "counts: layer=%r trains the count likelihood (nb) on them, as scVI reads "
                "counts",
                name,
                name,
            )
            return


@keep_python_rng()  # the user's next random.random() draws as without the call
@keep_torch_rng()
def embed(
    adata: AnnData,
    *,
    mode: str | None = None,
    n_latent: int = 10,
    layer: str | None = None,
    likelihood: str = "auto",
    beta: float | None = None,
    n_trials: int | None = None,
    time_budget: float | None = None,
    max_epochs: int | None = None,
    config: dict | str | Path | None = None,
    value_type: str = "auto",
    recon: bool = False,
    storage: str | None = None,
    study_name: str | None = None,
    device: str | None = None,
    seed: int | None = None,
    key_added: str = _keys.EMBED_KEY,
    model_dir: str | Path | None = None,
    batch_key: str | None = None,
) -> ResVAE:
    """Learn a low-dimensional embedding of ``adata`` with a searched Res-VAE.

    The AutoGenome unsupervised mode: Res-VAE (or plain VAE) architectures from the paper's
    space (3-5 layers, first-layer keep ratio, first-layer width, width decay ratio) and their
    learning rate, batch size and weight decay are searched with Optuna (TPE sampling, pruning,
    early stopping), minimising the validation loss (negative beta-ELBO with KL warm-up) on a
    seeded 9:1 train/val split of the cells. The latent means of all cells are the embedding.

    Parameters
    ----------
    adata
        Cells (or samples) x genes. ``X`` or ``layer`` may be dense or sparse. The encoder sees raw
        counts normalized to 1e4 + log1p, depth-normalized values not yet logged (TPM, FPKM, RSEM)
        log1p, other values as they are, then every gene scaled to 0-1 with the training cells'
        min/max (the encoder leaves out the genes constant on them, which are 0 in every cell
        then). As for scVI, select highly variable genes first: on pbmc3k (one seed, 120 s budget,
        2 CPU cores) 2,000 of them trained to convergence in 65 s (ARI 0.54, NMI 0.72,
        Davies-Bouldin 1.38), all 32,738 genes 13 of 100 epochs in 123 s (0.51, 0.67, 1.56;
        ``benchmarks/embed_hvg.py``). Above 5,000 genes the log suggests it. A view
        (``adata[mask]``) is refused before any work, as the results are written into ``adata``:
        pass ``adata[mask].copy()``.
    mode
        ``"resvae"`` (concatenation skips in encoder and decoder) or ``"vae"`` (no skips).
        Default: the config's mode (``"resvae"``). On the seven single-cell count datasets of
        ``benchmarks/RESULTS.md`` (same search and 300 s budget, 5 seeds) the Res-VAE gave the
        higher ARI of Leiden clusters on 5 (mean 0.652 vs 0.626; clearly only on pbmc3k, and
        by most on cbmc, 0.82 vs 0.69) and the same mean Davies-Bouldin (1.28), lower than the
        plain VAE's on 3 of 7. Try both.
    n_latent
        Latent dimensions; must be smaller than the number of genes.
    layer
        Use ``adata.layers[layer]`` instead of ``adata.X`` (not ``{key_added}_recon``, where
        this call writes or removes its reconstruction). As in scvi-tools, ``adata.raw`` is
        not read, and every gene is, whatever ``var['highly_variable']`` marks (pass
        ``adata[:, adata.var['highly_variable']].copy()``); the log says so when they are
        there.
    likelihood
        ``"auto"`` (``"nb"`` for raw counts, else ``"gaussian"``), ``"mse"`` (the paper's
        squared error on the 0-1 scaled input), ``"gaussian"`` (a Gaussian on the 0-1 scaled
        input whose variance is the batch's mean squared error; Rybkin et al. 2021), ``"nb"``
        or ``"zinb"`` (scvi-tools' negative binomial, optionally zero-inflated, on raw counts
        with the observed library size). The paper's ``"mse"`` lets the KL term dominate: on
        log-normalized values of the benchmark's single-cell datasets (search's starting
        Res-VAE, 3 seeds) it collapsed the latent on worm_neuron_cao2017 (ARI 0.04) and left
        3-5 of 10 dimensions varying on cbmc, human_kidney, pbmc3k and pbmc4k; ``"gaussian"``
        kept them (all 10 but on cbmc, 6-8) and scored the higher ARI on 7 of 10 datasets
        (``benchmarks/RESULTS.md``). On raw counts ``"nb"`` and ``"gaussian"`` reach the same
        mean ARI over the seven count datasets, each higher on some of them.
    beta
        Weight of the KL term after its warm-up; default from the config: 1 (the ELBO).
        Larger values (a beta-VAE) give more compact classes: on the benchmark's eight
        single-cell datasets beta = 4 lowered Davies-Bouldin on 6, while the ARI of Leiden
        clusters fell on cbmc (0.90 to 0.78), rose on pbmc4k (0.57 to 0.71) and otherwise
        moved within seed noise (``benchmarks/RESULTS.md``).
    n_trials, time_budget
        Search budget: number of trials and/or wall-clock seconds (whichever ends first).
        The seconds are the search's: reading the data before it, and scoring every cell
        with the kept model after it, come on top (on 200,000 cells, tens of seconds).
        Default from the config: 20 trials within 600 s. Giving one keeps the other's
        configured value; set it to None in ``config["budget"]`` to lift it. The same
        ``seed`` gives the same result on the same device when the trial count (not the
        clock) ends the search and no trial is cut by the time: where it is, the result
        depends on the machine's speed (a warning says so when the kept model was cut).
        ``n_trials=0`` with ``storage`` runs no trial: the best trial of the stored study is
        retrained into the returned model.
        A ``time_budget`` that stops the kept model in its first epoch before 100
        minibatches is an error after the search (its weights would be next to untrained);
        nothing is written.
    max_epochs
        The most epochs a trial trains (scVI's ``train(max_epochs=)``; default the config's
        ``trainer.max_epochs``, 100). Training stops earlier when the validation loss has not
        improved for ``trainer.patience`` epochs (10) and keeps the best epoch's weights; the
        KL weight warms up over half of them unless ``trainer.kl_warmup_epochs`` says otherwise.
    config
        Expert-mode configuration (dict, JSON path or JSON text) merged onto
        ``sag.config.default("resvae")`` (or ``"vae"``). Explicit arguments above win over it.
    value_type
        ``"auto"`` (detect), ``"counts"``, ``"normalized"``, ``"binary"`` or ``"continuous"``.
    recon
        Also write the reconstruction (dense n_obs x n_vars float32) as a layer.
    storage, study_name
        An Optuna storage URL (e.g. ``"sqlite:///search.db"``), a journal file (a path ending
        in ``.log`` or ``.journal``) or an Optuna storage object, to keep the trials, resume a
        search or share it between processes. A resumed study runs this call's budget
        (``n_trials``, ``time_budget``) on top of its earlier trials, and the best of all of
        them is kept; a URL that cannot be opened is an error before any work.
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
        Key of the outputs (default ``"sag_resvae"``); the latent goes to
        ``obsm['X_' + key_added]``, so one starting with ``X_`` is an error (``"mine"`` writes
        ``obsm['X_mine']``). An ``uns[key_added]`` that is not an
        embed (or :func:`~scautogenome.tl.encode`) record (classify's, say, or a value of your
        own), or an ``obsm['X_{key_added}']`` or ``layers['{key_added}_recon']`` without such a
        record (``key_added="scVI"`` would replace scVI's latent), is an error before any work.
        One holding only the scores of :func:`embedding_scores` (a baseline scored under the
        key first) is replaced, with a log line.
    model_dir
        Also save the model there (recorded in ``uns[key_added]['model_dir']``). A save
        that fails once the search is done (a full disk) is logged as an error, and the model
        returned unsaved rather than lost: ``model.save(model_dir)`` saves it again.
    batch_key
        ``obs`` column of the cells' batches (sample, donor, plate, sequencing run), to correct
        for them as scVI does: every decoder unit also reads the cell's one-hot batch, the
        encoder does not, so the latent need not carry what the batch explains (and a query is
        embedded without its batch). Missing values, a numeric column of more than 50 values,
        or more batches than half the cells are an error before any work; a batch of which
        the seeded split puts every cell in validation (a batch of a few cells), whose decoder
        weights are then never trained, is warned about before the search, as are batches
        named like a missing value (``'nan'``, ``'NA'``, blanks: a NaN made text by
        ``.astype(str)``), which are taken as a batch of that name.
        ``sag.tl.embedding_scores(..., batch_key=)`` scores how well the batches mix.
        Default: no batches.

    Returns
    -------
    The trained :class:`~scautogenome.models.ResVAE` (its ``split_``: whether each cell was
    trained on or picked the epoch and the trial, ``"train"`` or ``"val"``). Writes into
    ``adata``:

    ``obsm['X_{key_added}']``
        Latent means, n_obs x n_latent (float32). Where it replaces another latent, what
        :func:`~scautogenome.pl.embedding` computed from that one (its UMAP, t-SNE and kNN
        graph under the key) is removed.
    ``layers['{key_added}_recon']``
        Only with ``recon=True``: the reconstruction decoded from the latent means (dense
        float32). For ``"mse"``/``"gaussian"`` on the scale of the values the model was
        prepared from (log1p of the counts normalized to 1e4 per cell for raw counts, log1p of
        TPM-like values, the values as given for log-normalized or scaled data), as
        :meth:`~scautogenome.models.ResVAE.reconstruct`; expected counts at each cell's
        library size for ``"nb"``/``"zinb"`` (denoised: without the zero-inflation's
        dropouts, as scVI's ``get_normalized_expression(library_size="latent")``; divide each
        row by its sum for scVI's default frequencies). A call without it removes an
        earlier call's layer of the same key, which belongs to another model.
    ``uns[key_added]``
        ``params`` (this call, with the resolved likelihood, KL weight and value type, and
        ``n_threads``: torch's CPU threads the kept model trained on; ``batch_key``),
        ``batches`` (with ``batch_key``: the batches, in the order of the decoder's one-hot
        code), ``losses`` (per-epoch arrays of the final model: epoch, counted from 0 as in
        the model's ``history_`` (the log and the report count from 1), train/val loss,
        reconstruction and KL, KL weight, learning rate, seconds; for a best trial trained in
        another session or process, retrained here, up to its kept epoch only), ``trials``
        (one row per search trial), ``architecture`` and ``train_params`` (JSON text),
        ``best`` (trial, mode, validation loss, epoch: counted from 0, as ``losses``),
        ``config`` (JSON text), ``search_seconds``, ``seconds_per_epoch`` (mean training epoch
        of the final model), ``active_dims`` (latent dimensions whose mean varies
        across cells by more than 0.01; a warning when fewer than half do) and ``model_dir``
        (when saved, an absolute path), ``model_digest`` (of the weights), ``versions`` (of
        scautogenome, torch, scanpy... that trained it).

    To embed new cells with the returned (or a saved) model, without a search, see
    :func:`~scautogenome.tl.encode`.

    Notes
    -----
    How the searched Res-VAE compares with scVI and PCA on the seven single-cell count
    datasets of ``benchmarks/RESULTS.md`` (10 latent dimensions, a 300 s search, 5 seeds,
    one CPU thread): its latent separates the known cell types more compactly, with a lower
    Davies-Bouldin index than scVI's on all 7 and than PCA's on 5. The ARI of Leiden clusters
    against the cell types beats both peers on 3 of 7, two of them by less than 0.002. It is
    clearly lower than scVI's on worm_neuron_cao2017 (0.42 vs 0.59) and than PCA's on pbmc3k
    (0.60 vs 0.73). When clusters are what you need, score the latent against PCA on your own
    labels with :func:`embedding_scores` (as the embedding tutorial does).
    """
    start = time.perf_counter()
    check_outputs(adata, key_added, layer, recon, "embed")
    for name, value in (("mode", mode), ("likelihood", likelihood), ("value_type", value_type)):
        if value is not None:  # a choice: an array or a list failed inside a membership test
            check_key(name, value, "one of the choices documented for it")
    seed = resolve_seed(seed)
    check_likelihood(likelihood)
    overrides = budget_overrides(n_trials, time_budget)
    if beta is not None:  # checked here, so that an error names the argument
        overrides["trainer"] = {"beta": check_number("beta", beta)}
    if max_epochs is not None:
        trainer = overrides.setdefault("trainer", {})
        trainer["max_epochs"] = check_int_at_least("max_epochs", max_epochs, 1)
    cfg = load_config(_embed_config.load, config, mode, overrides)
    # first: a missing file is not made
    check_collect(cfg["budget"], storage, study_name=study_name or embed_study(cfg["mode"]))
    check_storage(storage, study_name)
    warn_long_warmup(cfg["trainer"]["max_epochs"], cfg["trainer"]["kl_warmup_epochs"])
    check_model_dir(model_dir)
    dev = resolve_device(device)
    data = prepare_unlabelled(
        adata,
        layer=layer,
        n_latent=n_latent,
        likelihood=likelihood,
        value_type=value_type,
        seed=seed,
        batch_key=batch_key,
    )
    if layer is None and likelihood == "auto" and data.likelihood not in COUNT_LIKELIHOODS:
        _hint_counts_layer(adata)
    if data.X.shape[1] > MANY_GENES:
        logger.info(
            "embed: %d genes; a VAE (as scVI) trains far faster on a few thousand highly "
            "variable genes, e.g. sc.pp.highly_variable_genes(adata, n_top_genes=2000, "
            "flavor='seurat_v3', subset=True) on raw counts.",
            data.X.shape[1],
        )
    logger.info(
        "embed: mode=%s, n_latent=%d, likelihood=%s, device=%s, budget: %s",
        cfg["mode"],
        n_latent,
        data.likelihood,
        dev,
        budget_text(cfg["budget"]),
    )
    result = run_vae_search(
        data.X,
        data.train_rows,
        data.val_rows,
        data.transform,
        cfg,
        n_latent=n_latent,
        likelihood=data.likelihood,
        device=dev,
        seed=seed,
        storage=storage,
        study_name=study_name,
        genes=data.var_names,
        batch=data.batch,
        batches=data.batches,
    )
    check_trained(  # a collected study's kept trial ran under an earlier search's budget
        result.kept,
        None if cfg["budget"]["n_trials"] == 0 else cfg["budget"]["time_budget"],
        len(data.train_rows),
        result.train_params.get("batch_size", 1),
        result.seconds_per_epoch,
    )
    warn_if_cut(result.kept, result.train_params.get("max_epochs", 0))
    model = final_model(
        ResVAE,
        result,
        data,
        cfg,
        device,
        obs_names=adata.obs_names,
        seconds_per_epoch=result.seconds_per_epoch,
        batch_key=data.batch_key,
        batches=data.batches,
    )
    latent, reconstruction = model._encode(
        data.X, None, 1024, recon=recon, checked=True, batch=data.batch
    )
    n_active = warn_if_collapsed(latent, data.likelihood, obs_noun(adata))

    history = result.history
    losses = {k: np.asarray([h[k] for h in history]) for k in (history[0] if history else {})}
    uns = {
        "params": call_params(
            mode=cfg["mode"],
            n_latent=n_latent,
            layer=layer,
            likelihood=data.likelihood,
            beta=cfg["trainer"]["beta"],
            value_type=data.transform.value_type,
            n_trials=cfg["budget"]["n_trials"],
            time_budget=cfg["budget"]["time_budget"],
            max_epochs=cfg["trainer"]["max_epochs"],
            recon=recon,
            seed=seed,
            device=str(dev),
            storage=storage_recorded(storage),
            study_name=result.study_name,
            batch_key=batch_key,
        ),
        **({} if data.batches is None else {"batches": list(data.batches)}),
        "losses": losses,
        **search_uns(
            result,
            _embed_config.to_json(cfg),
            model,
            val_loss=result.best_value,
            epoch=result.best_epoch,
        ),
        "seconds_per_epoch": result.seconds_per_epoch,
        "active_dims": n_active,
        # tells this model's record apart (sag.tl.encode updates it, not another model's)
        "model_digest": model.weights_digest(),
    }
    save_model(model, model_dir, uns)

    # -- write (only after everything above succeeded) -----------------------------------------
    # every value prepared first (the record h5ad-safe too), then written in one block
    out = Outputs()
    latent = latent.astype(np.float32)
    out.set("obsm", latent_key(key_added), latent)
    layout_outputs(out, adata, key_added, latent)
    recon_outputs(out, adata, key_added, reconstruction if recon else None)
    replaces_scores(out, adata, key_added, "embed")
    out.set("uns", key_added, h5ad_safe(uns))
    out.write(adata)
    logger.info("    finished embed (%s)", elapsed(start))
    return model


def layout_outputs(out: Outputs, adata: AnnData, key_added: str, latent: np.ndarray) -> None:
    """Add to ``out`` the removal of what :func:`~scautogenome.pl.embedding` computed from an
    earlier latent under ``key_added`` (its UMAP and t-SNE, ``obsm``/``uns['X_{key}_umap']``,
    ``..._tsne``, and its kNN graph, ``uns['{key}_neighbors']`` and ``obsp``'s), where
    ``latent`` replaces that latent: scanpy's own plots and tools would read them without a
    word. Those it keeps itself stay: of the same latent (its digest, recorded with them), or
    of cells among those they were computed on (a subset encoded again: the rows' keys, the
    UMAP's for its graph). Entries sag did not write (no such record) are left alone."""
    source = digest(latent)

    def params(key: str) -> dict:
        record = adata.uns.get(key)
        found = record.get("params", {}) if isinstance(record, dict) else {}
        return found if isinstance(found, dict) else {}

    def stale(recorded: dict, rows: dict) -> bool:
        basis = recorded.get("sag_basis_digest")
        return basis is not None and basis != source and not rows_among(latent, rows)

    removed = []
    for method in ("umap", "tsne"):
        key_2d = f"X_{key_added}_{method}"
        recorded = params(key_2d)
        if stale(recorded, recorded):
            for slot in ("obsm", "uns"):
                if key_2d in getattr(adata, slot):
                    out.remove(slot, key_2d)
                    removed.append(f"{slot}[{key_2d!r}]")
    graph = f"{key_added}_neighbors"
    if stale(params(graph), params(f"X_{key_added}_umap")):  # the UMAP's rows are the graph's
        out.remove("uns", graph)
        removed.append(f"uns[{graph!r}]")
        for part in ("distances", "connectivities"):
            if f"{graph}_{part}" in adata.obsp:
                out.remove("obsp", f"{graph}_{part}")
                removed.append(f"obsp[{graph + '_' + part!r}]")
    if removed:
        out.note(
            "removed %s: sag.pl.embedding's layouts and kNN graph of the earlier latent "
            "(it computes them again for this one)",
            ", ".join(removed),
        )


def recon_outputs(
    out: Outputs, adata: AnnData, key_added: str, reconstruction: np.ndarray | None
) -> None:
    """Add to ``out`` the write of ``layers['{key_added}_recon']`` (``reconstruction``,
    float32), or the removal of an earlier call's where there is none (``recon=False``: it was
    of another model). Where a classify run recorded in ``adata.uns`` trained on that layer, a
    warning says that the values its model reads there are no longer those it trained on."""
    rkey = recon_key(key_added)
    had = rkey in adata.layers
    if reconstruction is not None:
        out.set("layers", rkey, reconstruction)  # float32 already: no copy
    elif had:
        out.remove("layers", rkey)
        out.note("removed layers[%r], the reconstruction of an earlier call", rkey)
    if not had:
        return
    trained = sorted(
        str(key)
        for key, record in adata.uns.items()
        if is_classify_record(record)
        and isinstance(record.get("params"), dict)
        and record["params"].get("layer") == rkey
    )
    if trained:
        out.note(
            "layers[%r] is %s; the classify run%s %s trained on it, so sag.tl.predict and "
            "sag.tl.explain of its model read other values there than it trained on. Pass "
            "another key_added= to keep a reconstruction a model trained on.",
            rkey,
            "replaced by this reconstruction" if reconstruction is not None else "removed",
            "s" if len(trained) > 1 else "",
            ", ".join(f"uns[{k!r}]" for k in trained),
            level="warning",
        )


def davies_bouldin(emb: np.ndarray, y: np.ndarray, what: str) -> float:
    """sklearn's Davies-Bouldin index of ``emb`` against the labels ``y``; NaN, with a
    warning, where the labels' centroids coincide (a latent that collapsed to a point), for
    which sklearn returns 0, the best score."""
    import sklearn.metrics as skm

    emb = np.asarray(emb, dtype=np.float64)
    score = float(skm.davies_bouldin_score(emb, y))
    if score != 0.0:  # 0: no spread within the labels, or (sklearn's guard) no centroid apart
        return score
    centroids = np.stack([emb[y == label].mean(axis=0) for label in np.unique(y)])
    # equal up to float32 rounding, wherever the embedding sits (clusters 4 apart at 1e6 are
    # not one point, which np.allclose's tolerance, growing with the coordinates, would say)
    apart = float(np.abs(centroids - centroids[0]).max())
    if apart <= 1e-6 * max(1.0, float(np.abs(emb).max())):
        logger.warning(
            "%s: the labels' centroids coincide (a collapsed embedding?), so Davies-Bouldin "
            "is undefined: NaN",
            what,
        )
        return float("nan")
    return score


def _leiden_matching(tmp, n_target: int, seed: int) -> tuple[np.ndarray, float]:
    """Leiden clusters whose number is closest to ``n_target``: from resolution 1, the
    resolution doubles until Leiden finds at least ``n_target`` clusters, then bisects between
    the last resolution with too few and the first with enough (20 Leiden runs at most)."""
    import scanpy as sc

    def run(res: float) -> np.ndarray:
        sc.tl.leiden(
            tmp,
            resolution=res,
            random_state=seed,
            flavor="igraph",
            n_iterations=2,
            directed=False,
            key_added="_leiden",
        )
        return tmp.obs["_leiden"].to_numpy()

    lo, hi = 0.0, None  # no resolution known yet to give too many clusters
    best: tuple[int, float, np.ndarray] | None = None
    res = 1.0
    for _ in range(20):
        clusters = run(res)
        n = len(np.unique(clusters))
        if best is None or abs(n - n_target) < best[0]:
            best = (abs(n - n_target), res, clusters)
        if n == n_target:
            break
        if n < n_target:
            lo = res
            res = 2 * res if hi is None else (lo + hi) / 2
        else:
            hi = res
            res = (lo + hi) / 2
    return best[2], best[1]


def score_labels(
    adata: AnnData,
    labels_key: str,
    leiden_seeds: int = 1,
    n_neighbors: int = 15,
    *,
    warn: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Check what :func:`embedding_scores` is asked to score against, before any work: the
    mask of labelled cells and their labels as strings. ``leiden_seeds`` must be a positive
    integer and ``n_neighbors`` an integer of at least 2; ``obs[labels_key]`` must exist and
    hold at least 2 labels, one of them shared by two cells. With ``warn``, labels that read
    like a missing value (``'nan'``, ``'NA'``, blanks) are warned about, as classify does."""
    check_int_at_least("leiden_seeds", leiden_seeds, 1)
    check_int_at_least("n_neighbors", n_neighbors, 2)
    check_obs_column(adata, "labels_key", labels_key)
    labels = adata.obs[labels_key]
    check_not_continuous(labels, labels_key, "scoring against labels")
    keep = labels.notna().to_numpy()
    y = labels[keep].astype(str).to_numpy()
    if warn:
        warn_missing_as_text(
            labels,
            labels_key,
            pd.Series(y).value_counts(),
            "scored as labels; to leave those cells out of the scores",
        )
    n_labels = len(np.unique(y))
    if n_labels < 2:
        msg = f"obs[{labels_key!r}] has {n_labels} label(s); scores need at least 2."
        raise ValueError(msg)
    if n_labels >= len(y):
        msg = (
            f"obs[{labels_key!r}] has {n_labels} labels for {len(y)} labelled cells; the "
            "silhouette and Davies-Bouldin scores need at least one label shared by two cells."
        )
        raise ValueError(msg)
    return keep, y


def score_batches(
    adata: AnnData, batch_key: str, keep: np.ndarray, *, warn: bool = True
) -> tuple[np.ndarray, list]:
    """The batch codes of the labelled cells (``keep``) that :func:`embedding_scores` scores
    the mixing of, and the batches: checked before any work (every labelled cell has a batch,
    and there are two or more). With ``warn``, batches that read like a missing value
    (``'nan'``) are warned about (:func:`~scautogenome.data.batch_codes`)."""
    batches, names = batch_codes(adata[keep] if not keep.all() else adata, batch_key, warn=warn)
    if len(names) < 2:
        msg = (
            f"obs[{batch_key!r}] has one batch ({names[0]!r}) among the labelled "
            f"{obs_noun(adata)}: batch mixing is scored between two or more; leave out "
            "batch_key."
        )
        raise ValueError(msg)
    return batches, names


def check_batch_not_labels(batch_key: str | None, labels_key: str) -> None:
    """Refuse, before any work, a ``batch_key`` that is ``labels_key``: the batch ASW scores
    how well the batches mix within each label, and a batch that is the label has one batch
    in each label, nothing to mix."""
    if batch_key is not None and batch_key == labels_key:
        msg = (
            f"batch_key={batch_key!r} is labels_key too: the batch ASW measures the mixing of "
            "batches within each label, which a batch that is the label cannot have (each "
            "label holds one batch). Pass the obs column of the batches (sample, donor, "
            "plate, run), or leave batch_key out."
        )
        raise ValueError(msg)


def batch_silhouette(emb: np.ndarray, labels: np.ndarray, batches: np.ndarray) -> float:
    """scib's label-aware batch silhouette: for every label found in two batches or more (and
    not one cell per batch), one minus the absolute silhouette of its cells' batches, averaged
    over its cells; then the mean over those labels (NaN, with a warning, where there is
    none)."""
    from sklearn.metrics import silhouette_samples

    per_label = []
    for label in np.unique(labels):
        rows = labels == label
        n_batches = len(np.unique(batches[rows]))
        if n_batches < 2 or n_batches >= rows.sum():
            continue
        per_label.append(float(np.mean(1.0 - np.abs(silhouette_samples(emb[rows], batches[rows])))))
    if not per_label:
        logger.warning(
            "batch_asw is NaN: no label has cells in two batches or more, so there is no "
            "mixing of batches to score."
        )
        return float("nan")
    return float(np.mean(per_label))


@keep_python_rng()  # the user's next random.random() draws as without the call
@keep_torch_threads()
def embedding_scores(
    adata: AnnData,
    basis: str,
    labels_key: str,
    *,
    n_neighbors: int = 15,
    tsne: bool = True,
    seed: int | None = None,
    leiden_seeds: int = 1,
    key_added: str | None = None,
    max_cells: int | None = SCORE_MAX_CELLS,
    batch_key: str | None = None,
) -> dict[str, float | int]:
    """How well an embedding separates known labels (as in the AutoGenome paper's Fig. 4b).

    Cells without a label are left out. Everything is computed on a private copy of the
    embedding; ``adata`` is not modified, unless ``key_added`` asks to store the scores.

    Parameters
    ----------
    adata
        Annotated data with the embedding in ``obsm[basis]``.
    basis
        ``obsm`` key, e.g. ``"X_sag_resvae"`` or ``"X_pca"`` (as in scanpy, ``"sag_resvae"``
        names ``obsm['X_sag_resvae']`` when there is no ``obsm['sag_resvae']``).
    labels_key
        ``obs`` column with the reference labels.
    n_neighbors
        Neighbors of the kNN graph (scanpy's default; exact kNN where scanpy's approximate
        path fails) the Leiden clustering runs on.
    tsne
        Also compute the Davies-Bouldin score of a 2-D t-SNE of the embedding (scanpy's
        perplexity of 30; ``max(1, (n_cells - 1) / 3)`` for 30 labelled cells or fewer, with
        a warning); True or False.
    seed
        Seed of Leiden and t-SNE (an integer from 0 to 2**32 - 1); default
        ``sag.settings.seed``.
    leiden_seeds
        Number of Leiden runs (seeds ``seed``, ``seed + 1``, ..., modulo 2**32) on the same
        kNN graph whose ARI/NMI are averaged. One run is a noisy estimate: on 96 Res-VAE
        latents of the benchmark datasets a single run was on average 0.03, and at most 0.16,
        ARI away from the mean of five (benchmarks/RESULTS.md). Each run costs one Leiden
        bisection.
    key_added
        Also store the scores, with ``labels_key`` and ``basis``, as
        ``adata.uns[key_added]['scores']`` (e.g. ``"sag_resvae"``, as ``scautogenome embed
        --labels`` does; the report shows them there). ``uns[key_added]`` is created if absent;
        one that is neither the record of :func:`~scautogenome.tl.embed` or
        :func:`~scautogenome.tl.encode` nor one this function created (such as scanpy's
        ``pca``, classify's ``sag`` or a dict of your own), or a view of another AnnData, is
        an error before any work.
    max_cells
        The silhouette (quadratic in the cells) and the t-SNE (minutes past 10,000 cells) are
        computed on a seeded sample of this many labelled cells where there are more, and of
        two cells of each label the draw missed (logged; ``n_cells_sampled`` says how many);
        the Davies-Bouldin score of the embedding and the Leiden ARI/NMI use every labelled
        cell. None: every cell for all of them. A t-SNE of a sample packs the clusters
        differently from one of every cell (Davies-Bouldin 0.39 vs 0.52 on 40,000 cells in
        benchmarks/RESULTS.md): compare embeddings at the same
        ``max_cells`` and ``seed``.
    batch_key
        ``obs`` column of the cells' batches (at least 2): also score how well the batches mix
        within each label, as scib's label-aware batch silhouette (``batch_asw``), on the
        cells of the silhouette (``max_cells``). Use it to judge a batch-corrected latent
        (:func:`embed` with ``batch_key``) against an uncorrected one. ``labels_key``
        itself is an error before any work (each label would hold one batch).

    Returns
    -------
    A dict of floats: ``davies_bouldin`` (on the embedding, lower is better),
    ``davies_bouldin_tsne`` (on its 2-D t-SNE; NaN with ``tsne=False``), ``silhouette``
    (on the embedding, higher is better), ``ari`` and ``nmi`` of Leiden clusters against the
    labels (resolution bisected so that the number of clusters matches the number of labels;
    the mean over ``leiden_seeds`` runs), ``ari_std`` and ``nmi_std`` (their standard
    deviation over the runs, 0 for one run), ``leiden_resolution`` and ``n_clusters`` (means
    over the runs); and four integers, ``leiden_seeds``, ``n_labels``, ``n_cells`` and
    ``n_cells_sampled`` (the cells of the silhouette and the t-SNE, see ``max_cells``).
    With ``batch_key``: ``batch_asw`` (for each label, one minus the absolute silhouette of
    its cells' batches, averaged over its cells, then over the labels found in two batches or
    more: 1 is batches mixed as well as they can be, 0 batches apart; Luecken et al. 2022,
    scib) and ``n_batches``.
    """
    import anndata as ad
    from sklearn import metrics as skm

    start = time.perf_counter()
    check_anndata(adata)
    seed = resolve_seed(seed)
    tsne = check_bool("tsne", tsne)
    check_batch_not_labels(batch_key, labels_key)
    if key_added is not None:  # where the scores go: checked before any work
        check_key_added(key_added)
        if adata.is_view:  # storing into a view would write into a copy the user does not hold
            msg = (
                "adata is a view of another AnnData (e.g. adata[mask]); key_added= stores the "
                "scores into it, which would silently turn it into a copy. Pass an actual "
                f"object ({view_as_object(adata)}), or leave key_added=None and keep the "
                "returned dict."
            )
            raise ValueError(msg)
        if not isinstance(adata.uns.get(key_added, {}), dict):
            msg = (
                f"adata.uns[{key_added!r}] holds a {type(adata.uns[key_added]).__name__}; the "
                "scores are stored as its 'scores' entry, so it must be a dict (the record of "
                "sag.tl.embed, say). Pass another key_added=."
            )
            raise ValueError(msg)
        record = adata.uns.get(key_added)
        if key_added in adata.uns and not (
            is_embed_record(record) or is_encode_record(record) or is_scores_record(record)
        ):
            kind = record_kind(record)
            what = (
                "a dict that no sag tool wrote"
                if kind == "other"
                else f"the record of sag.tl.{kind}"
            )
            msg = (
                f"adata.uns[{key_added!r}] holds {what}, whose 'scores' entry "
                f"sag.tl.embedding_scores(key_added={key_added!r}) would write or replace; it "
                "stores the scores only in the record of sag.tl.embed or encode, or under a key "
                "of their own. Pass another key_added= (a new key holds the scores alone)."
            )
            raise ValueError(msg)
    basis = resolve_basis(adata, basis)
    if basis not in adata.obsm:
        msg = f"basis={basis!r} not found in adata.obsm; available: {list(adata.obsm.keys())}."
        raise KeyError(msg)
    keep, y = score_labels(adata, labels_key, leiden_seeds, n_neighbors)
    if batch_key is not None:
        batches, batch_names = score_batches(adata, batch_key, keep)
    if max_cells is not None:
        check_int_at_least("max_cells", max_cells, 2)
    emb = adata.obsm[basis]  # an embedding (cells x a few dimensions) is small: dense here
    emb = np.asarray(emb.toarray() if sparse.issparse(emb) else emb)
    # checked before the cast to float32, which turns a float64 beyond its range into inf
    wide = np.asarray(emb[keep], dtype=np.float64)
    bad = unusable(wide).any(axis=1)
    noun = obs_noun(adata)
    if bad.any():
        what = "NaN or infinite values"
        if np.isfinite(wide[bad]).all():
            what = "values beyond float32's range (3.4e38), which the scores compute in"
        first = str(adata.obs_names[np.flatnonzero(keep)[np.argmax(bad)]])
        msg = (
            f"obsm[{basis!r}] contains {what}: in {int(bad.sum()):,} of the {len(wide):,} "
            f"{noun} scored (the first: {first!r})."
        )
        raise ValueError(msg)
    emb = wide.astype(np.float32)
    n_labels = len(np.unique(y))
    tmp = ad.AnnData(obs={"label": y}, obsm={"emb": emb})
    tmp.obs_names = [str(i) for i in range(tmp.n_obs)]
    sample = np.arange(len(y))  # the silhouette's and the t-SNE's cells
    if max_cells is not None and len(y) > max_cells:
        rng = np.random.default_rng(seed)
        sample = rng.choice(len(y), max_cells, replace=False)
        # and two cells of each label the draw missed (one, of a label of one cell): a
        # sample of one label has no silhouette, and a rare label its Davies-Bouldin term
        drawn = pd.Series(y[sample]).value_counts()
        extra = [
            rng.choice(np.setdiff1d(np.flatnonzero(y == label), sample), need, replace=False)
            for label, count in pd.Series(y).value_counts().items()
            if (need := min(2, count) - int(drawn.get(label, 0))) > 0
        ]
        sample = np.sort(np.concatenate([sample, *extra]))
        logger.info(
            "    silhouette%s on a seeded sample of %s of the %s labelled %s (max_cells=)",
            " and t-SNE" if tsne else "",
            f"{len(sample):,}",
            f"{len(y):,}",
            noun,
        )
    import sklearn

    # quadratic in the cells: max_cells=None on many; the distances in small chunks
    with still_running("silhouette"), sklearn.config_context(working_memory=SILHOUETTE_MB):
        out: dict[str, float | int] = {
            "davies_bouldin": davies_bouldin(emb, y, f"obsm[{basis!r}]"),
            "silhouette": float(skm.silhouette_score(emb[sample], y[sample], random_state=seed)),
            "davies_bouldin_tsne": float("nan"),
        }
        if batch_key is not None:
            out["batch_asw"] = batch_silhouette(emb[sample], y[sample], batches[sample])
            out["n_batches"] = len(batch_names)
    if tsne:
        part = tmp if len(sample) == len(y) else tmp[sample].copy()
        run_tsne(part, noun, use_rep="emb", random_state=seed)
        out["davies_bouldin_tsne"] = davies_bouldin(part.obsm["X_tsne"], y[sample], "its t-SNE")
    neighbors(tmp, noun, n_neighbors=n_neighbors, use_rep="emb", random_state=seed)
    logger.info("    Leiden clusters against %d labels (%d run(s))", n_labels, int(leiden_seeds))
    # seed + i, wrapped into numpy's seed range (0 to 2**32 - 1) near its top
    with still_running("Leiden"), scanpy_quiet():
        runs = [
            _leiden_matching(tmp, n_labels, (seed + i) % 2**32) for i in range(int(leiden_seeds))
        ]
    ari = [skm.adjusted_rand_score(y, clusters) for clusters, _ in runs]
    nmi = [skm.normalized_mutual_info_score(y, clusters) for clusters, _ in runs]
    out.update(
        {
            "ari": float(np.mean(ari)),
            "nmi": float(np.mean(nmi)),
            "ari_std": float(np.std(ari)),
            "nmi_std": float(np.std(nmi)),
            "leiden_resolution": float(np.mean([res for _, res in runs])),
            "n_clusters": float(np.mean([len(np.unique(clusters)) for clusters, _ in runs])),
            "leiden_seeds": int(leiden_seeds),
            "n_labels": int(n_labels),
            "n_cells": len(y),
            "n_cells_sampled": len(sample),
        }
    )
    if key_added is not None:
        record = adata.uns.setdefault(key_added, {})
        scored = {"labels_key": labels_key, "basis": basis}
        if batch_key is not None:
            scored["batch_key"] = batch_key
        record["scores"] = {**scored, **out}
    logger.info(
        "    finished embedding_scores (%s): %s",
        elapsed(start),
        scores_text(out) or "no score could be computed",
    )
    return out


SHOWN_SCORES = (
    ("ari", "ARI"),
    ("nmi", "NMI"),
    ("silhouette", "silhouette"),
    ("davies_bouldin", "Davies-Bouldin"),
    ("davies_bouldin_tsne", "Davies-Bouldin of the t-SNE"),
    ("batch_asw", "batch ASW"),
)
"""The scores of :func:`embedding_scores` a reader compares, by the names a reader knows."""


def scores_text(scores: dict) -> str:
    """``"ARI 0.712, NMI 0.654, ..."``: the :data:`SHOWN_SCORES` of ``scores`` that could be
    computed (not NaN), at three decimals; empty where none could."""
    shown = [f"{name} {float(scores[k]):.3f}" for k, name in SHOWN_SCORES if k in scores]
    return ", ".join(s for s in shown if not s.endswith(" nan"))
