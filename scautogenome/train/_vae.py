"""The training loop of the (Res-)VAE.

Minibatches of raw rows are densified one at a time; the encoder sees the fitted input
transform of them, the likelihood the 0-1 scaled input (``"mse"``) or the raw counts. The KL
weight warms up linearly from 0 to ``beta``; the validation loss is always the full
``recon + beta * KL`` (the negative beta-ELBO), computed with a fixed noise generator so that
epochs and trials compare like with like. Early stopping and the best checkpoint use it, from
the end of the warm-up on; so does the learning rate, which halves when the validation loss has
not improved for ``patience // 3`` epochs (scVI keeps its rate constant; doing so here moved the
ARI of Leiden clusters by 0.03 or less on 6 datasets, benchmarks/RESULTS.md). It knows nothing
of AnnData or Optuna.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .._logging import SafeBar, bar_interval, batch_done, inference_batches
from .._settings import logger, settings
from .._utils import check_number
from ..data import BatchLoader, query_steps
from ..nn._vae import SCALED_LIKELIHOODS
from ._trainer import (
    Diverged,
    Pruned,
    _autocast,
    adamw,
    batch_limit,
    check_common,
    cut_here,
    stop_epochs,
)

__all__ = ["Pruned", "VAETrainParams", "VAETrainResult", "encode_rows", "train_vae"]


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


@dataclass
class VAETrainParams:
    """Optimisation settings of one VAE training run (:class:`~scautogenome.models.ResVAE`'s
    ``train_params``; ``config["trainer"]`` of :func:`~scautogenome.tl.embed`).

    Attributes
    ----------
    lr
        Learning rate of AdamW (default 1e-3); it halves when the validation loss has not
        improved for ``patience // 3`` epochs (at least 1), from the end of the KL warm-up on.
    batch_size
        Training cells per minibatch (default 128, at least 2).
    weight_decay
        AdamW's weight decay (default 1e-6).
    max_epochs
        Most epochs trained (default 100).
    patience
        Training stops after this many epochs without a lower validation loss (default 10),
        counted from the end of the KL warm-up.
    min_epochs
        Early stopping never stops training before this many epochs (default 5).
    beta
        Weight of the KL term in the loss (default 1.0; larger: a beta-VAE).
    kl_warmup_epochs
        Epochs over which the KL weight rises linearly from 0 to ``beta`` (default None:
        half of ``max_epochs``; 0: ``beta`` from the first epoch). Early stopping and the
        epoch kept start at its end.
    """

    lr: float = 1e-3
    batch_size: int = 128
    weight_decay: float = 1e-6
    max_epochs: int = 100
    patience: int = 10
    min_epochs: int = 5
    beta: float = 1.0
    kl_warmup_epochs: int | None = None  # None: half of max_epochs

    def __post_init__(self) -> None:
        if self.kl_warmup_epochs is None:
            self.kl_warmup_epochs = int(self.max_epochs) // 2
        check_common(self, {"kl_warmup_epochs": 0})  # weight_decay too
        check_number("beta", self.beta)


@dataclass
class VAETrainResult:
    state_dict: dict
    best_epoch: int
    best_loss: float
    history: list[dict] = field(default_factory=list)
    stopped: str = "max_epochs"
    seconds: float = 0.0
    seconds_per_epoch: float = math.nan
    # minibatches trained in the last epoch when the deadline cut it short (0: it ran whole)
    cut_batches: int = 0


def _batches(loader: BatchLoader, transform, likelihood: str):
    """``(encoder input, reconstruction target, batch codes or None)`` per minibatch (the
    loader's ``y`` holds the cells' batch codes where the decoder is conditioned on them)."""
    for x, b in loader:
        xin = transform(x)
        yield xin, (xin if likelihood in SCALED_LIKELIHOODS else x), b


def warn_long_warmup(max_epochs: int, kl_warmup_epochs: int | None) -> None:
    """Warn when the KL warm-up is longer than the training: the KL weight then never reaches
    ``beta``, and early stopping and the best checkpoint, which start at the end of the
    warm-up, only look at the last epoch."""
    if kl_warmup_epochs is not None and kl_warmup_epochs > max_epochs:
        logger.warning(
            "kl_warmup_epochs=%d is longer than max_epochs=%d: the KL weight never reaches "
            "beta and early stopping is off (only the last epoch counts); leave "
            "kl_warmup_epochs at None for half of max_epochs.",
            kl_warmup_epochs,
            max_epochs,
        )


def _kl_weight(epoch: int, params: VAETrainParams) -> float:
    if params.kl_warmup_epochs <= 0:
        return params.beta
    return params.beta * min(1.0, (epoch + 1) / params.kl_warmup_epochs)


@torch.no_grad()
def _evaluate(module, loader, transform, device, beta: float, seed: int) -> dict[str, float]:
    module.eval()
    gen = torch.Generator(device=device).manual_seed(seed)
    # the noise of every row drawn at once: the loss does not depend on how rows are batched
    noise = torch.randn((len(loader.rows), module.n_latent), device=device, generator=gen)
    recon_sum = kl_sum = 0.0
    n = 0
    with _autocast(device):
        for xin, target, b in _batches(loader, transform, module.likelihood):
            out = module(xin, sample=True, eps=noise[n : n + xin.shape[0]], batch=b)
            recon, kl = module.loss({k: v.float() for k, v in out.items()}, target)
            recon_sum += float(recon.sum())
            kl_sum += float(kl.sum())
            n += xin.shape[0]
    n = max(n, 1)
    return {
        "val_loss": (recon_sum + beta * kl_sum) / n,
        "val_recon": recon_sum / n,
        "val_kl": kl_sum / n,
    }


def train_vae(
    module,
    *,
    X,
    train_rows: np.ndarray,
    val_rows: np.ndarray,
    transform,
    params: VAETrainParams,
    device: torch.device,
    seed: int = 0,
    report: Callable[[int, float], None] | None = None,
    deadline: float | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    show_progress: bool = False,
    stop_after: tuple[int, int] | None = None,
    batch: np.ndarray | None = None,
) -> VAETrainResult:
    """Train ``module`` (a :class:`~scautogenome.nn.VAEModule`) on ``train_rows`` of ``X``.

    ``transform`` is the fitted torch input transform. ``batch``: every row's batch code
    (int, one per row of ``X``) for a module whose decoder is conditioned on batches. ``report(epoch, val_loss)`` is called
    after every epoch and may raise :class:`Pruned`. ``deadline`` (a ``time.perf_counter``
    value) is checked after every minibatch, whatever ``min_epochs`` says: past it, the epoch
    in progress is validated (and may be the one kept) and training stops, so a budget is
    overrun by at most one minibatch and one validation pass. ``stop_after`` retrains a run
    to a point it reached, as in :func:`~scautogenome.train.train_classifier`.
    Returns the weights of the epoch with the lowest validation loss after the KL warm-up (the
    last one when training stopped before the warm-up ended), the per-epoch history
    (train/val loss, reconstruction, KL, KL weight, learning rate, seconds) and the mean
    seconds per training epoch (training pass only, no validation; an epoch the deadline cut
    short counts only when it is the only one, scaled up to a whole epoch).
    """
    settings.apply_n_threads()
    start = time.perf_counter()
    torch.manual_seed(seed)
    module.to(device)
    gen = torch.Generator().manual_seed(seed)
    batch_size = int(min(params.batch_size, max(2, len(train_rows))))
    train_loader = BatchLoader(
        X,
        train_rows,
        batch,
        batch_size=batch_size,
        transform=_identity,
        device=device,
        shuffle=True,
        generator=gen,
        drop_last=True,
    )
    val_loader = BatchLoader(
        X, val_rows, batch, batch_size=1024, transform=_identity, device=device, inference=True
    )
    opt = adamw(module.parameters(), lr=params.lr, weight_decay=params.weight_decay, device=device)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=0.5, patience=max(1, params.patience // 3)
    )
    warmup_end = min(params.kl_warmup_epochs, params.max_epochs) - 1
    result = VAETrainResult(state_dict={}, best_epoch=-1, best_loss=math.inf)
    since_best = 0
    train_seconds = []
    partial_seconds = math.nan  # an epoch cut short, scaled up to a whole one
    bar = SafeBar(
        total=params.max_epochs,
        desc="training",
        leave=False,
        unit="epoch",
        disable=not (show_progress and settings.show_progress),
        mininterval=bar_interval(),
    )
    try:
        for epoch in range(stop_epochs(params.max_epochs, stop_after)):
            module.train()
            kl_w = _kl_weight(epoch, params)
            t0 = time.perf_counter()
            total = rec_total = kl_total = 0.0
            n_seen = n_batches = 0
            limit = batch_limit(epoch, stop_after)
            cut = False
            batches = _batches(train_loader, transform, module.likelihood)
            for n_batches, (xin, target, b) in enumerate(batches):
                if cut_here(n_batches, limit, deadline):
                    cut = True  # validate what this (partial) epoch reached, then stop
                    result.cut_batches = n_batches
                    break
                batch_done(n_batches, len(train_loader))
                with _autocast(device):
                    out = module(xin, batch=b)
                recon, kl = module.loss({k: v.float() for k, v in out.items()}, target)
                loss = (recon + kl_w * kl).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                n_b = xin.shape[0]
                total += float(loss.detach()) * n_b
                rec_total += float(recon.detach().sum())
                kl_total += float(kl.detach().sum())
                n_seen += n_b
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds = time.perf_counter() - t0
            if cut:
                partial_seconds = seconds * len(train_loader) / max(n_batches, 1)
            else:
                train_seconds.append(seconds)
            val = _evaluate(module, val_loader, transform, device, params.beta, seed)
            n_seen = max(n_seen, 1)
            record = {
                "epoch": epoch,
                "train_loss": total / n_seen,
                "train_recon": rec_total / n_seen,
                "train_kl": kl_total / n_seen,
                **val,
                "kl_weight": kl_w,
                "lr": opt.param_groups[0]["lr"],
                "seconds": seconds,
            }
            result.history.append(record)
            if on_epoch is not None:
                on_epoch(record)
            # drawn by the update, at the bar's pace (a file's: every 30 s)
            bar.set_postfix({"val_loss": f"{val['val_loss']:.4g}"}, refresh=False)
            bar.update(1)
            val_loss = val["val_loss"]
            if not math.isfinite(val_loss):
                msg = (
                    f"training diverged: the validation loss became {val_loss} at epoch "
                    f"{epoch} (lr={opt.param_groups[0]['lr']:.3g}); lower the learning rate."
                )
                raise Diverged(msg)
            if epoch >= warmup_end:
                sched.step(val_loss)
                if val_loss < result.best_loss:
                    result.state_dict = copy.deepcopy(module.state_dict())
                    result.best_epoch, result.best_loss = epoch, val_loss
                    since_best = 0
                else:
                    since_best += 1
            if report is not None and not cut:  # a cut epoch is not comparable: not reported
                report(epoch, val_loss)
            if (
                epoch + 1 >= params.min_epochs
                and epoch >= warmup_end
                and since_best >= params.patience
            ):
                result.stopped = "early_stopping"
                break
            past = deadline is not None and time.perf_counter() > deadline
            if cut or (past and epoch + 1 < params.max_epochs):
                result.stopped = "time_budget"
                break
    finally:
        bar.close()
    if not result.state_dict:  # stopped before the warm-up ended: keep the last epoch
        result.state_dict = copy.deepcopy(module.state_dict())
        result.best_epoch = len(result.history) - 1
        result.best_loss = result.history[-1]["val_loss"] if result.history else math.inf
    module.load_state_dict(result.state_dict)
    result.seconds = time.perf_counter() - start
    result.seconds_per_epoch = float(np.mean(train_seconds)) if train_seconds else partial_seconds
    return result


@torch.no_grad()
def encode_rows(
    module,
    X,
    *,
    transform,
    device: torch.device,
    batch_size: int = 1024,
    col_map=None,
    recon: bool = False,
    fill: np.ndarray | None = None,
    batch: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Latent means of every row of ``X`` and, with ``recon``, the expected reconstruction.
    ``col_map`` and ``fill``: as :class:`~scautogenome.data.BatchLoader`'s (the transform is
    applied here, so the missing genes are filled here too). ``batch``: the batch code each
    row is decoded as, for a decoder conditioned on batches (the encoder never needs it).

    The reconstruction is decoded from the latent mean: 0-1 scaled values for ``"mse"``,
    expected counts at each cell's observed library size for the count likelihoods (for
    ``"zinb"`` without the zero-inflation's dropouts: denoised, as scVI's).
    """
    module.eval()
    loader = BatchLoader(
        X,
        np.arange(X.shape[0]),
        batch if recon else None,
        batch_size=batch_size,
        transform=_identity,
        device=device,
        col_map=col_map,
        inference=True,
    )
    # applied here (the reconstruction needs the raw counts), as BatchLoader applies them
    transform, missing = query_steps(transform, col_map, fill, device)
    lat = []
    # the reconstruction is as wide as the genes: filled in place, block by block (a list of
    # blocks joined at the end would hold it twice)
    recon_arr = np.empty((X.shape[0], module.n_inputs), np.float32) if recon else None
    done = 0
    with _autocast(device):
        for x, b in inference_batches(loader, X.shape[0], "encoding"):
            if not recon:  # the encoder only: no decoder output as wide as the genes
                lat.append(module.encode(missing(transform(x)))[0].float().cpu())
                continue
            out = module(missing(transform(x)), sample=False, batch=b)
            lat.append(out["mu"].float().cpu())
            library = x.sum(dim=1, keepdim=True)
            dec = module.widen({k: v.float() for k, v in out.items()})  # every gene
            if missing.absent is not None and "scale" in dec:
                # the counts observed are those of the genes the query has: the library the
                # decoder's proportions spread is theirs over those genes' share
                share = 1.0 - dec["scale"][:, missing.absent].sum(dim=1, keepdim=True)
                library = library / share.clamp_min(1e-6)
            block = module.mean_reconstruction(dec, library).float().cpu().numpy()
            recon_arr[done : done + len(block)] = block
            done += len(block)
    latent = torch.cat(lat).numpy() if lat else np.zeros((0, module.n_latent), np.float32)
    return latent, recon_arr
