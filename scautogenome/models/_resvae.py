"""The Res-VAE a user touches: fit / get_latent / reconstruct / save / load."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._settings import keep_python_rng, keep_torch_rng, logger, resolve_seed
from .._utils import check_positive_int, plain
from ..data import (
    FEW_VAL_CELLS,
    InputTransform,
    batch_codes,
    batch_name,
    check_adata,
    check_batch_size,
    check_finite,
    gene_alignment,
    get_matrix,
    names_of,
    obs_noun,
    resolve_value_type,
    value_stats,
)
from ..data._checks import first_few, note_unread_annotations
from ..data._prepare import check_something_varies, not_read
from ..nn import READS_KEY, check_architecture
from ..nn._vae import (
    COUNT_LIKELIHOODS,
    LIKELIHOODS,
    SCALED_LIKELIHOODS,
    VAE_KINDS,
    build_vae,
    require_scvi,
    vae_widths,
)
from ..train._vae import VAETrainParams, encode_rows, train_vae, warn_long_warmup
from ._base import BaseModel, check_is_fitted, doc_query_params, finite_numbers, named_twice

if TYPE_CHECKING:
    from anndata import AnnData

VAL_FRACTION = 0.1
MIN_CELLS = 10
# a latent dimension is active when its mean varies across cells by more than this (the
# "active units" of Burda et al. 2016, Importance Weighted Autoencoders)
ACTIVE_VARIANCE = 0.01


def active_dims(latent: np.ndarray) -> np.ndarray:
    """Which latent dimensions are active: their latent mean varies across cells by more than
    ``ACTIVE_VARIANCE`` (a dimension below it is the same for every cell, "posterior
    collapse")."""
    return np.var(np.asarray(latent, dtype=np.float64), axis=0) > ACTIVE_VARIANCE


def warn_if_collapsed(latent: np.ndarray, likelihood: str, noun: str = "cells") -> int:
    """Number of active latent dimensions; a warning when fewer than half vary across the
    ``noun`` (:func:`~scautogenome.data.obs_noun`)."""
    n_latent = latent.shape[1]
    n_active = int(active_dims(latent).sum())
    if n_active < n_latent / 2:
        hint = (
            " The squared error of likelihood='mse' is weak against the KL term on sparse "
            "data; try likelihood='gaussian', or raw counts with likelihood='nb'."
            if likelihood == "mse"
            else " Try a smaller beta (KL weight)."
        )
        logger.warning(
            "only %d of %d latent dimensions vary across %s (posterior collapse); the "
            "embedding carries little information.%s",
            n_active,
            n_latent,
            noun,
            hint,
        )
    return n_active


@dataclass
class UnlabelledData:
    """A matrix ready for VAE training: seeded train/val rows and the fitted input transform."""

    X: object
    train_rows: np.ndarray
    val_rows: np.ndarray
    transform: InputTransform
    likelihood: str
    var_names: np.ndarray
    layer: str | None = None  # where the values came from (None: X); a model remembers it
    batch_key: str | None = None  # the obs column of the batches the decoder is conditioned on
    batch: np.ndarray | None = None  # every cell's batch code (int64), with batch_key
    batches: list[str] | None = None  # the batches the codes index

    parts = ("train", "val")  # of its split

    @property
    def split(self) -> np.ndarray:
        """``"train"`` or ``"val"`` for every row."""
        split = np.full(self.X.shape[0], "train", dtype=object)
        split[self.val_rows] = "val"
        return split


def check_batch_key(adata: AnnData, batch_key: str | None):
    """The cells' batch codes and the batches (sorted text) of ``obs[batch_key]`` for a VAE
    conditioned on them, checked before any work: ``(None, None)`` without ``batch_key``; one
    batch is warned about (nothing to correct), a column with more batches than half the cells
    (a cell id, not batches) is an error."""
    if batch_key is None:
        return None, None
    codes, batches = batch_codes(adata, batch_key)
    noun = obs_noun(adata)
    if len(batches) > adata.n_obs / 2:
        msg = (
            f"obs[{batch_key!r}] has {len(batches)} batches for {adata.n_obs} {noun}: fewer "
            f"than two {noun} per batch, an id rather than batches the decoder could learn. "
            "Pass the column of the batches (sample, donor, plate, run)."
        )
        raise ValueError(msg)
    if len(batches) == 1:
        logger.warning(
            "obs[%r] holds one batch (%r): there is nothing to correct; batch_key=None gives "
            "the same kind of model.",
            batch_key,
            batches[0],
        )
    return codes, batches


def warn_untrained_batches(
    batch: np.ndarray, batches: list[str], train_rows: np.ndarray, batch_key: str, noun: str
) -> None:
    """A warning naming the batches of which the seeded split put no cell in train (every
    one in validation): the decoder's weights of their one-hot code keep their initial
    values, so whatever decodes those cells as their batch decodes through untrained weights.
    The split itself is left as it is (the same seed gives the same split and latent)."""
    in_train = np.bincount(batch[train_rows], minlength=len(batches))
    untrained = np.flatnonzero(in_train == 0)
    if not untrained.size:
        return
    n_cells = np.bincount(batch, minlength=len(batches))
    shown = [
        f"{batches[i]!r} ({n_cells[i]} {noun if n_cells[i] != 1 else noun[:-1]}, all in validation)"
        for i in untrained
    ]
    logger.warning(
        "obs[%r] has %d %s without a training cell: %s. The seeded 9:1 split put every one "
        "of their %s in validation, so the decoder's weights of their batch are never "
        "trained: their cells' validation loss, and recon=True, reconstruct() or "
        "transform_batch= of their batch, decode through untrained weights (the latent, "
        "which the encoder computes without the batch, is not affected). Merge them into a "
        "batch they resemble, give them more %s, or pass another seed= (another split).",
        batch_key,
        untrained.size,
        "batch" if untrained.size == 1 else "batches",
        ", ".join(shown[:10]) + (f", ... ({untrained.size} in all)" if untrained.size > 10 else ""),
        noun,
        noun,
    )


def transform_batch_names(transform_batch) -> tuple[list[str], bool]:
    """The batch names a ``transform_batch`` (one batch, or a list of them) asks for, as the
    model names its batches, and whether it was a list."""
    listed = isinstance(transform_batch, (list, tuple, np.ndarray, pd.Index))
    return [batch_name(b) for b in (transform_batch if listed else [transform_batch])], listed


def check_likelihood(likelihood: str) -> str:
    if likelihood != "auto" and likelihood not in LIKELIHOODS:
        msg = f"likelihood={likelihood!r} must be 'auto' or one of {LIKELIHOODS}."
        raise ValueError(msg)
    return likelihood


def prepare_unlabelled(
    adata: AnnData,
    *,
    layer: str | None,
    n_latent: int,
    likelihood: str = "auto",
    value_type: str = "auto",
    seed: int = 0,
    writes: bool = True,
    batch_key: str | None = None,
) -> UnlabelledData:
    """Validate ``adata`` for a VAE and split its cells 9:1 into train/val (seeded).
    ``batch_key``: the obs column of the batches the decoder is conditioned on
    (:func:`check_batch_key`).

    ``likelihood="auto"`` picks ``"nb"`` for raw counts and ``"gaussian"`` otherwise. A count
    likelihood on negative values is an error; on non-integer values a warning. Nothing is
    written into ``adata``; every error is raised before any training.
    ``writes=False`` (a model's ``fit``, which writes nothing) accepts a view.
    """
    check_adata(adata, writes=writes)
    check_likelihood(likelihood)
    check_positive_int("n_latent", n_latent)
    if n_latent >= adata.n_vars:
        msg = (
            f"n_latent={n_latent} must be smaller than the number of genes ({adata.n_vars}); "
            "a latent space that is not smaller than the input compresses nothing."
        )
        raise ValueError(msg)
    if adata.n_obs < MIN_CELLS:
        msg = f"adata has {adata.n_obs} cells; training a VAE needs at least {MIN_CELLS}."
        raise ValueError(msg)
    batch, batches = check_batch_key(adata, batch_key)
    where = "adata.X" if layer is None else f"adata.layers[{layer!r}]"
    X = get_matrix(adata, layer)
    check_finite(X, where, **names_of(adata))
    note_unread_annotations(adata, layer)
    # the split first: the value type is detected on the training cells, as the transform
    # is fitted (the validation cells only pick the epoch)
    rng = np.random.default_rng(seed)
    order = rng.permutation(adata.n_obs)
    n_val = max(1, round(VAL_FRACTION * adata.n_obs))
    val_rows, train_rows = np.sort(order[:n_val]), np.sort(order[n_val:])
    stats = None
    if likelihood in COUNT_LIKELIHOODS:
        stats = value_stats(X)
        if stats["min"] < 0:
            msg = (
                f"likelihood={likelihood!r} models raw counts but {where} has negative values "
                f"(min {stats['min']:.3g}). Pass the raw counts with layer=, or use "
                "likelihood='gaussian' for transformed data."
            )
            raise ValueError(msg)
        if value_type == "auto":
            value_type = "counts"
    value_type = resolve_value_type(X, value_type, where, rows=train_rows)
    if likelihood == "auto":
        likelihood = "nb" if value_type == "counts" else "gaussian"
    if likelihood in COUNT_LIKELIHOODS and value_type != "counts":  # else warned above
        stats = stats or value_stats(X)
        if not stats["integer"]:
            logger.warning(
                "likelihood=%r but %s holds non-integer values; a count likelihood expects raw "
                "counts.",
                likelihood,
                where,
            )
    require_scvi(likelihood)
    transform = InputTransform(value_type=value_type, scale=True)
    transform.fit(X, train_rows, names=adata.var_names)
    noun = obs_noun(adata)
    check_something_varies(transform, len(train_rows), noun)
    reads = transform.varying_genes()
    logger.info(
        "data: %d %s (%d train / %d val), %d genes%s, values: %s, likelihood: %s",
        adata.n_obs,
        noun,
        len(train_rows),
        len(val_rows),
        adata.n_vars,
        "" if reads is None else f" ({not_read(adata.n_vars, reads, noun)})",
        value_type,
        likelihood,
    )
    if batches is not None:
        logger.info(
            "batches: %d in obs[%r] (%s); the decoder is conditioned on them",
            len(batches),
            batch_key,
            ", ".join(f"{b}: {n}" for b, n in zip(batches[:5], np.bincount(batch)[:5]))
            + (" ..." if len(batches) > 5 else ""),
        )
        warn_untrained_batches(batch, batches, train_rows, batch_key, noun)
    if len(val_rows) < FEW_VAL_CELLS:
        logger.warning(
            "the validation split has %d %s: early stopping and the search's pick among "
            "trials rest on their loss alone, which is noisy with so few.",
            len(val_rows),
            noun if len(val_rows) != 1 else noun[:-1],
        )
    return UnlabelledData(
        X=X,
        train_rows=train_rows,
        val_rows=val_rows,
        transform=transform,
        likelihood=likelihood,
        var_names=np.asarray(adata.var_names.astype(str)),
        layer=layer,
        batch_key=batch_key,
        batch=batch,
        batches=batches,
    )


class ResVAE(BaseModel):
    """A trained Res-VAE (or plain VAE) whose latent means embed cells.

    Usually returned by :func:`scautogenome.tl.embed`. It can also be built for one fixed
    architecture and trained with :meth:`fit` (no search).

    Parameters
    ----------
    architecture
        ``kind`` (``"resvae"`` or ``"vae"``), ``n_latent`` and either ``widths`` (encoder
        widths) or ``n_layers``/``first_width``/``decay``; optionally ``input_keep``,
        ``dropout``, ``act``, ``likelihood`` (``"auto"``, ``"mse"``, ``"gaussian"``, ``"nb"``,
        ``"zinb"``).
        ``n_inputs`` is filled in by :meth:`fit`. Default: a Res-VAE with widths
        [256, 128, 64] and 10 latent dimensions.
    train_params
        Keyword arguments of :class:`scautogenome.train.VAETrainParams` (a dict), the VAE
        training settings: ``lr`` (1e-3), ``batch_size`` (128), ``weight_decay`` (1e-6,
        AdamW), ``max_epochs`` (100), ``patience`` (10 epochs without a lower validation
        loss stop training; the learning rate halves after ``patience // 3``),
        ``min_epochs`` (5), ``beta`` (1.0, the KL weight) and ``kl_warmup_epochs`` (None:
        half of ``max_epochs``; the KL weight rises linearly from 0 to ``beta`` over them).
        An unknown setting is an error when ``fit`` begins, before any data is read.
        Default: all of these defaults.
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``; default :attr:`scautogenome.settings.device`.

    Attributes
    ----------
    module_
        The trained torch module (:class:`scautogenome.nn.VAEModule`).
    var_names_
        The genes the model was trained on, in input order.
    transform_
        The fitted :class:`~scautogenome.data.InputTransform` (the encoder's input).
    architecture_, train_params_, history_, config_
        What was trained and how (JSON-serialisable).
    layer_
        The layer it was trained on (None: ``X``), read by default where an AnnData has it.
    batch_key_, batches_
        The ``obs`` column of the batches its decoder is conditioned on, and those batches
        (sorted text); None for a model trained without ``batch_key``.
    n_threads_
        torch's CPU threads its weights were trained on: a seed gives the same weights again at
        this thread count and device (None for a model saved before it was recorded).
    trained_with_
        The versions of scautogenome, torch, scanpy... that trained it (``model.json``'s
        ``trained_with``, kept through a load and a save; its ``versions`` are the writer's;
        ``{}`` where a saved model recorded none).
    seconds_per_epoch_
        Mean wall-clock seconds of one training epoch of the final model.
    """

    _model_name = "ResVAE"
    _build_module = staticmethod(build_vae)

    @staticmethod
    def _saved_options(architecture: dict, state_dict: dict) -> dict:
        # saved on 2026-12-05 before the decoder left out the genes the encoder does
        out = state_dict.get("out.weight")
        full = out is not None and out.shape[0] == int(architecture.get("n_inputs", -1))
        return {"decode_all": True} if full and READS_KEY in state_dict else {}

    # -- what differs from the Classifier (see BaseModel) --------------------------------------
    def _set_extras(
        self,
        *,
        seconds_per_epoch: float = float("nan"),
        batch_key: str | None = None,
        batches: list[str] | None = None,
    ) -> None:
        self.seconds_per_epoch_ = float(seconds_per_epoch)
        self.batch_key_ = batch_key
        self.batches_ = None if batches is None else [str(b) for b in batches]
        n_batch = int(self.architecture_.get("n_batch", 0))
        if n_batch != (0 if batches is None else len(batches)):
            msg = (
                f"the architecture's decoder is conditioned on {n_batch} batches but "
                f"{0 if batches is None else len(batches)} batch names were given."
            )
            raise ValueError(msg)

    def _extra_meta(self) -> dict:
        return {
            # unknown (NaN) as null: NaN is no JSON for strict readers
            "seconds_per_epoch": (
                self.seconds_per_epoch_ if np.isfinite(self.seconds_per_epoch_) else None
            ),
            "batch_key": self.batch_key_,
            "batches": self.batches_,
        }

    @classmethod
    def _meta_problems(cls, meta: dict) -> list[str]:
        problems = super()._meta_problems(meta)
        batches = meta.get("batches")
        n_batch = meta["architecture"].get("n_batch", 0)
        if batches is not None and not isinstance(batches, list):
            problems.append(f"its batches {batches!r} are not a list of names")
        elif isinstance(n_batch, int) and len(batches or []) != n_batch:
            problems.append(
                f"its {len(batches or [])} batches are not the {n_batch} its decoder reads"
            )
        else:
            problems += named_twice(batches or [], "batches")
        if meta.get("seconds_per_epoch") is not None:  # None: not finite when it was saved
            problems += finite_numbers(meta, ("seconds_per_epoch",))
        return problems

    @classmethod
    def _extras_from_meta(cls, meta: dict) -> dict:
        return {
            "seconds_per_epoch": (
                float("nan") if meta.get("seconds_per_epoch") is None else meta["seconds_per_epoch"]
            ),
            "batch_key": meta.get("batch_key"),  # absent in models saved before batches
            "batches": meta.get("batches"),
        }

    def _describe(self) -> str:
        a = self.architecture_
        batches = (
            ""
            if self.batches_ is None
            else f", decoder conditioned on {len(self.batches_)} batches of "
            f"obs[{self.batch_key_!r}]"
        )
        return (
            f"{a['kind']}, {len(self.var_names_)} genes -> {a['n_latent']} latent, "
            f"widths {a['widths']}, likelihood {a.get('likelihood', 'mse')}{batches}"
        )

    @property
    def likelihood_(self) -> str:
        return self.architecture_.get("likelihood", "mse")

    @property
    def n_latent_(self) -> int:
        return int(self.architecture_["n_latent"])

    def _resolved_architecture(self, n_inputs: int, likelihood: str, n_batch: int = 0) -> dict:
        arch = plain(self.architecture or {"kind": "resvae", "widths": [256, 128, 64]})
        arch.setdefault("kind", "resvae")
        if arch["kind"] not in VAE_KINDS:
            msg = f"architecture kind={arch['kind']!r} must be one of {VAE_KINDS}."
            raise ValueError(msg)
        arch.setdefault("n_latent", 10)
        if "widths" not in arch:
            try:
                arch["widths"] = vae_widths(
                    arch.pop("n_layers"),
                    arch.pop("first_width"),
                    arch.pop("decay"),
                    arch["n_latent"],
                )
            except KeyError as e:
                msg = "ResVAE architecture needs 'widths' or all of 'n_layers', 'first_width', 'decay'."
                raise ValueError(msg) from e
        arch["n_inputs"] = int(n_inputs)
        arch["likelihood"] = likelihood
        arch.pop("n_batch", None)  # the data's (fit's batch_key), as n_inputs
        if n_batch:
            arch["n_batch"] = int(n_batch)
        return arch

    # -- training without search --------------------------------------------------------------
    @keep_torch_rng()  # the user's next torch.rand draws as it would have without fit
    @keep_python_rng()  # and random.random()
    def fit(
        self,
        adata: AnnData,
        *,
        layer: str | None = None,
        value_type: str = "auto",
        seed: int | None = None,
        batch_key: str | None = None,
    ) -> ResVAE:
        """Train this fixed architecture on ``adata`` (no search).

        The cells are split 9:1 into train/val (seeded); the validation loss (the negative
        beta-ELBO) picks the epoch kept after the KL warm-up. Nothing is written into
        ``adata``; every error is raised before any training. Warns when fewer than half of
        the latent dimensions vary across the cells (posterior collapse).

        Parameters
        ----------
        adata
            Cells x genes (at least 10 cells, more genes than ``n_latent``); ``X`` or
            ``layer`` dense or sparse. A view is accepted.
        layer
            Use ``adata.layers[layer]`` instead of ``adata.X`` (the model remembers it as
            :attr:`layer_` and reads it by default in :meth:`get_latent`).
        value_type
            What ``X`` (or ``layer``) holds: ``"auto"`` (detect), ``"counts"`` (normalized to
            1e4 per cell + log1p), ``"normalized"`` (unlogged TPM/FPKM/RSEM: log1p),
            ``"binary"`` or ``"continuous"`` (used as they are); the encoder then sees every
            gene scaled to 0-1 with the train cells' min/max. With the architecture's
            ``likelihood="auto"`` (default), raw counts get ``"nb"`` (needs scvi-tools) and
            anything else ``"gaussian"``.
        seed
            Seed of the split, the network's initial weights and the training; default
            ``sag.settings.seed``.
        batch_key
            ``obs`` column of the cells' batches (sample, donor, plate): the decoder is
            conditioned on them as scVI's is, so that the latent need not carry what the
            batch explains (see :func:`scautogenome.tl.embed`; a batch of which the split
            puts every cell in validation is warned about before training). Default: no
            batches.

        Returns
        -------
        ``self``, trained: :attr:`module_`, :attr:`var_names_`, :attr:`transform_`,
        :attr:`history_`, :attr:`seconds_per_epoch_` and the other fitted attributes are set,
        and :attr:`split_`: whether each cell of ``adata`` was trained on (``"train"``) or
        picked the epoch (``"val"``; scvi-tools' ``validation_indices``), a categorical
        Series over its ``obs_names``, not kept by :meth:`save`.
        """
        given = self.architecture
        if given is not None:  # checked before any data is read
            given = {"kind": "resvae", **given} if isinstance(given, dict) else given
            check_architecture(given, kinds=VAE_KINDS, stage="fit")
        seed = resolve_seed(seed)
        params, device = self._fit_params(VAETrainParams)  # settings and device, before the data
        arch0 = dict(self.architecture or {})
        data = prepare_unlabelled(
            adata,
            layer=layer,
            n_latent=arch0.get("n_latent", 10),  # checked as given (not 8.5 -> 8)
            likelihood=check_likelihood(arch0.get("likelihood", "auto")),
            value_type=value_type,
            seed=seed,
            writes=False,
            batch_key=batch_key,
        )
        arch = self._resolved_architecture(
            data.X.shape[1], data.likelihood, 0 if data.batches is None else len(data.batches)
        )
        net = self._fit_setup(arch, seed, data)
        warn_long_warmup(params.max_epochs, params.kl_warmup_epochs)
        res = train_vae(
            net,
            X=data.X,
            train_rows=data.train_rows,
            val_rows=data.val_rows,
            transform=data.transform.to_torch(device),
            params=params,
            device=device,
            seed=seed,
            show_progress=True,
            batch=data.batch,
        )
        self._fit_done(
            arch,
            data,
            params,
            res,
            obs_names=adata.obs_names,
            seconds_per_epoch=res.seconds_per_epoch,
            batch_key=data.batch_key,
            batches=data.batches,
        )
        latent = self._encode(data.X, None, 1024, recon=False, checked=True)[0]
        warn_if_collapsed(latent, data.likelihood, obs_noun(adata))
        return self

    # -- inference ------------------------------------------------------------------------------
    _missing_genes_effect = "which moves the cells' latent codes"

    def _input(self, data, layer: str | None, min_gene_overlap: float = 0.5):
        """Matrix + gene mapping for ``data`` (AnnData or gene-named DataFrame matched by gene
        name, or a matrix)."""

        X, col_map, _, where = self._matched_input(data, layer, min_gene_overlap)
        self._check_values(data, X, col_map, where, min_gene_overlap)
        return X, col_map

    def _encode(
        self,
        data,
        layer,
        batch_size,
        recon,
        *,
        checked: bool = False,
        min_gene_overlap=0.5,
        batch: np.ndarray | None = None,
    ):
        """Latent means (and reconstructions, see :meth:`reconstruct`) of ``data``;
        ``checked=True`` takes ``data`` as
        the training matrix that ``prepare_unlabelled`` has already checked, in the model's
        gene order, and skips the checks of new input. ``batch``: each cell's batch code for
        the reconstruction of a model conditioned on batches (:meth:`query_batches`; rows of
        codes: the mean of their reconstructions)."""
        check_is_fitted(self)
        check_batch_size(batch_size)
        X, col_map = (data, None) if checked else self._input(data, layer, min_gene_overlap)
        rows = [batch] if batch is None or np.ndim(batch) == 1 else list(batch)
        rec = None
        for i, codes in enumerate(rows):  # rows of transform batches: their mean
            latent, one = encode_rows(
                self.module_,
                X,
                transform=self.transform_.to_torch(self.device_),
                device=self.device_,
                batch_size=batch_size,
                col_map=col_map,
                recon=recon,
                fill=self.transform_.fill_values(),
                batch=codes,
            )
            rec = one if i == 0 else np.add(rec, one, out=rec)
        if rec is not None and len(rows) > 1:
            rec /= len(rows)
        if rec is not None and self.likelihood_ in SCALED_LIKELIHOODS:
            # the decoder's 0-1 values on the scale of the prepared data (in place: no copy)
            rec = self.transform_.inverse_scale(rec, copy=False)
        return latent, rec

    @doc_query_params
    def get_latent(
        self,
        data,
        *,
        layer: str | None = None,
        batch_size: int = 1024,
        min_gene_overlap: float = 0.5,
    ) -> np.ndarray:
        """Latent means of the cells of ``data`` (the encoder only; no sampling).

        Parameters
        ----------
        {query_params}

        Returns
        -------
        n_obs x n_latent float32 array.
        """
        return self._encode(
            data, layer, batch_size, recon=False, min_gene_overlap=min_gene_overlap
        )[0]

    def query_batches(
        self, data, *, batch_key: str | None = None, transform_batch=None
    ) -> np.ndarray | None:
        """The batch code each cell of ``data`` is decoded as by a model whose decoder is
        conditioned on batches (None for a model trained without them), checked before any
        work: every cell as ``transform_batch`` (one of :attr:`batches_`, or a list of them:
        one row of codes per batch, whose reconstructions are averaged) when given, else
        each cell's own batch in ``data.obs[batch_key]`` (default :attr:`batch_key_`), which
        must be among the model's batches.

        Parameters
        ----------
        data
            The query (an AnnData for its own batches; any query with ``transform_batch``).
        batch_key
            The query's ``obs`` column of batches; default the model's :attr:`batch_key_`.
        transform_batch
            Decode every cell as this batch of the model's (as scvi-tools'
            ``transform_batch``): its expression with that batch's effect; a list of batches
            for the mean over them.

        Returns
        -------
        int64 codes into :attr:`batches_`, one per cell (n_batches_listed x n_cells for a
        list of ``transform_batch``), or None.
        """
        if self.batches_ is None:
            if batch_key is not None or transform_batch is not None:
                msg = (
                    "this model was trained without batches (batch_key=None): batch_key= and "
                    "transform_batch= do not apply."
                )
                raise ValueError(msg)
            return None
        if transform_batch is not None:
            if batch_key is not None:
                msg = "pass batch_key= (each cell's own batch) or transform_batch=, not both."
                raise ValueError(msg)
            wanted, listed = transform_batch_names(transform_batch)
            unknown = [b for b in wanted if b not in self.batches_]
            if unknown or not wanted:
                msg = (
                    f"transform_batch={transform_batch!r}: "
                    + (
                        f"{unknown[0]!r} is not a batch the model was trained on"
                        if unknown
                        else "no batch"
                    )
                    + f"; it knows {len(self.batches_)}: {first_few(self.batches_, 10)}."
                )
                raise ValueError(msg)
            codes = np.asarray([self.batches_.index(b) for b in wanted], dtype=np.int64)
            rows = np.repeat(codes[:, None], data.shape[0], axis=1)
            return rows if listed else rows[0]
        key = self.batch_key_ if batch_key is None else batch_key
        obs = getattr(data, "obs", None)
        if obs is None or key not in obs.columns:
            what = "this query has no obs" if obs is None else f"the query has no obs[{key!r}]"
            msg = (
                f"the model's decoder is conditioned on the batches of obs[{key!r}] and {what}. "
                "Pass batch_key= naming the query's column of batches, or transform_batch= "
                f"(one of {first_few(self.batches_)}) to "
                "decode every cell as that batch."
            )
            raise ValueError(msg)
        return batch_codes(data, key, categories=self.batches_)[0]

    @doc_query_params
    def reconstruct(
        self,
        data,
        *,
        layer: str | None = None,
        batch_size: int = 1024,
        min_gene_overlap: float = 0.5,
        batch_key: str | None = None,
        transform_batch=None,
    ) -> np.ndarray:
        """Reconstruction of ``data`` decoded from its latent means (dense n_obs x n_vars).

        ``"mse"`` and ``"gaussian"`` models decode the 0-1 scaled values the encoder sees;
        they are returned scaled back to the values the model was prepared from
        (:meth:`InputTransform.inverse_scale <scautogenome.data.InputTransform.inverse_scale>`),
        each gene within its range on the training cells: log1p of the counts normalized to
        1e4 per cell for raw counts, log1p of TPM-like values, and the values as given for
        log-normalized, scaled or 0/1 data. Count models (``"nb"``, ``"zinb"``) return
        expected counts at each cell's observed library size (each row adds up to it): the
        negative binomial's mean, for ``"zinb"`` without the zero-inflation's dropouts
        (denoised, as scVI's ``get_normalized_expression(library_size="latent")`` with observed
        library sizes; its default ``library_size=1`` is each row divided by its sum, and
        ``library_size=1e4`` that times 1e4).

        The columns are ``data``'s genes, in its order, when ``data`` is an AnnData (or a
        DataFrame of named columns) with exactly the model's genes (any order; ready for
        ``adata.layers``); otherwise the model's genes (``var_names_``), in the model's order.

        A model conditioned on batches (``batch_key`` in :meth:`fit` or
        :func:`~scautogenome.tl.embed`) decodes each cell as its own batch, read from
        ``data.obs`` (:meth:`query_batches`), or every cell as ``transform_batch``.

        Parameters
        ----------
        {query_params}
        batch_key
            ``obs`` column of the query's batches (default the model's :attr:`batch_key_`);
            only for a model conditioned on batches.
        transform_batch
            Decode every cell as this one of the model's batches (:attr:`batches_`) instead;
            a list of them: the mean of the reconstructions as each (as scvi-tools').

        Returns
        -------
        Dense n_obs x n_genes float32 array (columns as said above).
        """
        check_is_fitted(self)
        batch = self.query_batches(data, batch_key=batch_key, transform_batch=transform_batch)
        rec = self._encode(
            data, layer, batch_size, recon=True, min_gene_overlap=min_gene_overlap, batch=batch
        )[1]
        names = getattr(data, "var_names", None)
        if isinstance(data, pd.DataFrame) and not isinstance(data.columns, pd.RangeIndex):
            names = data.columns  # genes matched by name, as an AnnData's
        return rec if names is None else self._query_order(rec, names)

    def _query_order(self, rec: np.ndarray, names) -> np.ndarray:
        """A reconstruction ``rec`` (the model's genes, in its order) in the order of the
        query genes ``names`` when they are exactly the model's genes, matched as the encoder
        matched them (Ensembl versions aside); else ``rec`` as it is. The model's own order
        needs no (cells x genes) copy."""
        if len(names) != len(self.var_names_):
            return rec
        src, pos, n_model = gene_alignment(names, self.var_names_, log=False)
        complete = len(src) == n_model and np.unique(pos).size == n_model
        if complete and not np.array_equal(pos, np.arange(n_model)):
            rec = rec[:, pos]
        return rec
