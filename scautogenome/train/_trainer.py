"""One lean training loop for the classifiers.

Device placement, mixed precision on GPU (bfloat16 autocast), class weighting or balanced
sampling, ReduceLROnPlateau, early stopping on the validation metric, a per-epoch report hook
(used for pruning) and a wall-clock deadline. It knows nothing of AnnData or Optuna.

The loss is cross-entropy, or for a binary task the AutoGenome paper's "area under curve" loss
(``TrainParams.loss="auc"``): a pairwise surrogate of the ROC AUC (:func:`pairwise_auc_loss`),
whose scores are then calibrated into probabilities on the validation split
(:func:`calibrate_binary_head`). A numeric target (:func:`train_regressor`) trains with the
paper's mean squared error on its standardized values (:func:`target_scale`); the network
keeps predicting the standardized value, which the
:class:`~scautogenome.models.Regressor` brings back into the target's units in float64.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._logging import batch_done, inference_batches
from .._settings import check_device, settings
from .._utils import check_number
from ..data import BatchLoader
from ..data._loader import TransformedRows
from ..nn import InputGenes
from ._metrics import regression_score, score_logits
from ._objectives import LOSSES, check_objective, check_regression_objective

OPTIMIZERS = ("adamw", "sgd")
CLASS_BALANCE = ("none", "weights", "sampler")


@dataclass
class TrainParams:
    """Optimisation settings of one training run (all searched or set in the config)."""

    lr: float = 1e-3
    batch_size: int = 128
    optimizer: str = "adamw"
    momentum: float = 0.9
    weight_decay: float = 1e-4
    class_balance: str = "weights"
    max_epochs: int = 60
    patience: int = 8
    min_epochs: int = 3
    loss: str = "cross_entropy"

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            msg = f"loss={self.loss!r} must be one of {LOSSES}."
            raise ValueError(msg)
        if self.optimizer not in OPTIMIZERS:
            msg = f"optimizer={self.optimizer!r} must be one of {OPTIMIZERS}."
            raise ValueError(msg)
        if self.class_balance not in CLASS_BALANCE:
            msg = f"class_balance={self.class_balance!r} must be one of {CLASS_BALANCE}."
            raise ValueError(msg)
        check_common(self)
        if check_number("momentum", self.momentum) >= 1:  # SGD's; a TypeError for "x"
            msg = f"momentum={self.momentum!r} must be in [0, 1)."
            raise ValueError(msg)


# the whole-number settings every trainer has, and the least value of each
COUNTS = {"batch_size": 2, "max_epochs": 1, "patience": 0, "min_epochs": 0}


def check_common(params, counts: dict[str, int] | None = None) -> None:
    """The settings every trainer's parameters have: :data:`COUNTS` (and ``counts``, the
    trainer's own) as whole numbers of at least their value (:func:`check_counts`), a
    positive finite ``lr`` and a finite ``weight_decay`` of 0 or more (a TypeError for
    anything but a real number, True included; a ValueError out of range)."""
    check_counts(params, {**COUNTS, **(counts or {})})
    if not math.isfinite(check_number("lr", params.lr, positive=True)):
        msg = f"lr={params.lr!r} must be a finite number."
        raise ValueError(msg)
    check_number("weight_decay", params.weight_decay)


def check_counts(params, least: dict[str, int]) -> None:
    """The settings of ``params`` named in ``least`` as whole numbers (an integral float is
    taken, 64.5 or True is a TypeError) of at least their value there (a ValueError; a
    batch of 1 cell cannot be batch-normalized in training); stored back as Python ints."""
    from .._utils import check_int_at_least

    for name, low in least.items():
        value = getattr(params, name)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        setattr(params, name, check_int_at_least(name, value, low))


@dataclass
class TrainResult:
    state_dict: dict
    best_epoch: int
    best_score: float
    best_loss: float
    history: list[dict] = field(default_factory=list)
    stopped: str = "max_epochs"
    seconds: float = 0.0
    # minibatches trained in the last epoch when the deadline cut it short (0: it ran whole)
    cut_batches: int = 0


class Pruned(Exception):
    """Raised by a report hook to stop a hopeless run."""


class Diverged(RuntimeError):
    """Raised by the trainers when a network's training diverged (a non-finite loss or
    output); its message starts with "training diverged". A search fails that trial in one
    line and goes on."""


def resolve_device(device: str | torch.device | None) -> torch.device:
    device = settings.device if device is None else device
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(check_device(device))
    if device.type == "cuda" and not torch.cuda.is_available():
        msg = f"device={str(device)!r} was asked for but CUDA is not available; use device='auto' or 'cpu'."
        raise RuntimeError(msg)
    if device.type == "cuda" and device.index is not None:
        if device.index >= torch.cuda.device_count():
            msg = (
                f"device={str(device)!r} was asked for but this machine has "
                f"{torch.cuda.device_count()} CUDA device(s) (cuda:0 first)."
            )
            raise RuntimeError(msg)
    elif device.type == "mps" and not torch.backends.mps.is_available():
        msg = f"device={str(device)!r} was asked for but MPS (Apple GPUs) is not available; use device='auto' or 'cpu'."
        raise RuntimeError(msg)
    return device


def adamw(params, *, lr: float, weight_decay: float, device: torch.device) -> torch.optim.AdamW:
    """AdamW with torch's fused kernel on CPU and CUDA: one pass over each weight instead of
    one per operation (a 256-wide Res-VAE's step: 4.1 -> 1.1 ms on one CPU thread). torch
    before 2.4 has no fused kernel on CPU: its default there."""
    fused = device.type == "cuda" or (device.type == "cpu" and _cpu_fused(torch.__version__))
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


def _cpu_fused(version: str) -> bool:
    """Whether torch ``version`` has the fused AdamW kernel on CPU (2.4 on)."""
    from packaging.version import Version

    return Version(version.split("+")[0]) >= Version("2.4")


def _autocast(device: torch.device):
    """bfloat16 autocast on a GPU that computes it natively (:func:`native_bfloat16`), none
    elsewhere (float32)."""
    if device.type == "cuda" and native_bfloat16(device):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return _no_autocast(device)


def _no_autocast(device: torch.device):
    """float32 on ``device``: CUDA's autocast turned off there (also inside an autocast block
    of the caller's), CPU's on any other device (torch before 2.5 refuses an MPS autocast,
    even a disabled one, so a caller's MPS autocast stays on)."""
    return torch.autocast("cuda" if device.type == "cuda" else "cpu", enabled=False)


def native_bfloat16(device: torch.device) -> bool:
    """Whether the GPU ``device`` computes bfloat16 natively (Ampere, compute capability 8.0,
    or newer; the GPU asked for, not the current one). Older ones (V100, T4) refused bfloat16
    autocast before torch 2.3, failing every trial, and emulate it slowly since: they train
    and predict in float32."""
    return tuple(torch.cuda.get_device_capability(device)) >= (8, 0)


def stop_epochs(max_epochs: int, stop_after: tuple[int, int] | None) -> int:
    """How many epochs (the last possibly partial) a loop runs under ``stop_after``."""
    if stop_after is None:
        return int(max_epochs)
    epochs, batches = stop_after
    return min(int(max_epochs), int(epochs) + (1 if batches else 0))


def batch_limit(epoch: int, stop_after: tuple[int, int] | None) -> int | None:
    """The minibatches ``epoch`` may train under ``stop_after`` (None: all of them)."""
    if stop_after is not None and stop_after[1] and epoch == stop_after[0]:
        return int(stop_after[1])
    return None


def cut_here(n_batches: int, limit: int | None, deadline: float | None) -> bool:
    """Whether an epoch stops before its minibatch ``n_batches`` (0-based): the ``limit`` of
    :func:`batch_limit` is reached, or the ``deadline`` has passed after at least one minibatch
    (so every epoch trains at least one)."""
    if n_batches == limit:
        return True
    return deadline is not None and n_batches > 0 and time.perf_counter() > deadline


def kept_point(result) -> tuple[int, int]:
    """``(epochs, batches)`` that a training run of the same seed and settings must reach (as
    ``stop_after``) to end with the weights ``result`` kept: the whole epochs up to its best,
    or, where the best is the epoch a deadline cut short, the whole epochs before it and the
    minibatches that epoch trained."""
    last = len(result.history) - 1
    if result.cut_batches and result.best_epoch == last:
        return last, int(result.cut_batches)
    return int(result.best_epoch) + 1, 0


def pairwise_auc_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Smooth surrogate of 1 - ROC AUC on a minibatch of a binary task: the mean over every
    (positive, negative) pair of ``softplus(-(s_pos - s_neg))``, ``s = logit_1 - logit_0``; the
    fraction of pairs ranked the wrong way, which it bounds from above (up to log 2), is
    1 - AUC. A minibatch of one class has no pair and gives a zero loss (and zero gradients)."""
    s = logits[:, 1] - logits[:, 0]
    pos, neg = s[y == 1], s[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return s.sum() * 0.0
    return F.softplus(neg[None, :] - pos[:, None]).mean()


def _pair_sample(y: np.ndarray, max_pairs: int = 4_000_000) -> np.ndarray:
    """Rows of ``y`` (binary codes) whose (positive, negative) pairs the validation loss of the
    AUC loss averages over: all of them, or, past ``max_pairs`` pairs, every cell of the
    smaller class and a sample of the larger one (so the cost per epoch stays bounded). The
    sample has a fixed seed, so every trial of a search is scored on the same pairs."""
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if len(pos) * len(neg) <= max_pairs:
        return np.arange(len(y))
    small, large = sorted((pos, neg), key=len)
    n_large = max(1, max_pairs // max(len(small), 1))
    rng = np.random.default_rng(0)
    keep = rng.choice(large, min(n_large, len(large)), replace=False)
    return np.sort(np.concatenate([small, keep]))


def calibrate_binary_head(
    head: nn.Linear, scores: np.ndarray, y: np.ndarray
) -> tuple[float, float]:
    """Platt scaling of a binary network trained with the pairwise AUC loss, whose score
    ``s = logit_1 - logit_0`` ranks well but has no meaningful offset or scale.

    Fits ``P(y=1) = sigmoid(a * s + b)`` with ``a > 0`` (the ranking, and so the ROC AUC, is
    kept) on ``(scores, y)`` by logistic loss with Platt's (1999) smoothed targets, then folds it
    into ``head`` (the network's last Linear layer) as logits ``-t/2`` and ``t/2``, ``t = a * s +
    b``: their softmax is ``sigmoid(t)``, and each class's logit moves with the genes (SHAP
    values explain both classes, with opposite signs). So the saved network predicts calibrated
    probabilities with no extra state. Returns ``(a, b)``."""
    y = np.asarray(y)
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    target = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    s = np.asarray(scores, dtype=np.float64)
    scale = max(float(s.std()), 1e-6)

    def loss(theta):
        log_a, b = theta
        a = np.exp(log_a) / scale
        t = a * s + b
        # logistic loss of the smoothed targets and its gradient in (log a, b)
        value = np.mean(np.logaddexp(0, t) - target * t)
        g = 1 / (1 + np.exp(-t)) - target
        return value, np.array([np.mean(g * a * s), np.mean(g)])

    from scipy.optimize import minimize

    fit = minimize(loss, np.zeros(2), jac=True, method="L-BFGS-B")
    a, b = float(np.exp(fit.x[0]) / scale), float(fit.x[1])
    with torch.no_grad():
        w, bias = head.weight, head.bias
        diff_w, diff_b = w[1] - w[0], bias[1] - bias[0]
        w[1].copy_(a * diff_w / 2)
        w[0].copy_(-w[1])
        bias[1].copy_((a * diff_b + b) / 2)
        bias[0].copy_(-bias[1])
    return a, b


@torch.no_grad()
def predict_logits(
    network: nn.Module,
    loader: BatchLoader,
    device: torch.device,
    *,
    mixed: bool = True,
    desc: str | None = None,
) -> np.ndarray:
    """The network's outputs on the rows of ``loader`` (float32), in bfloat16 autocast on GPU
    unless ``mixed`` is False: a Regressor's output is a value, not a ranking of classes, of
    which bfloat16's 8 significant bits would keep about 3 digits (a model of an earlier
    version outputs the target's units, rounding 1970 to a multiple of 8). ``desc``: a bar
    of that name over many cells."""
    network.eval()
    out = []
    with _autocast(device) if mixed else _no_autocast(device):
        for x, _ in inference_batches(loader, len(loader.rows), desc):
            out.append(network(x).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, 0), dtype=np.float32)


def train_classifier(
    network: nn.Module,
    *,
    X,
    codes: np.ndarray,
    train_rows: np.ndarray,
    val_rows: np.ndarray,
    n_classes: int,
    transform,
    params: TrainParams,
    metric: str = "macro_f1",
    device: torch.device,
    seed: int = 0,
    report: Callable[[int, float], None] | None = None,
    deadline: float | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    stop_after: tuple[int, int] | None = None,
    cached: TransformedRows | None = None,
) -> TrainResult:
    """Train ``network`` on ``train_rows``, early-stopping on the metric over ``val_rows``.

    ``report(epoch, val_score)`` is called after every epoch and may raise :class:`Pruned`.
    ``deadline`` (a ``time.perf_counter`` value) is checked after every minibatch: past it, the
    epoch in progress is validated and training stops, so a budget is overrun by at most one
    minibatch and one validation pass.
    ``stop_after=(epochs, batches)`` stops after ``epochs`` whole epochs and ``batches``
    minibatches of the next one (validated, as at a deadline), with every other setting
    (``max_epochs`` included) as given: with the same seed it retrains a run up to an epoch it
    reached, or to where its deadline cut it (:func:`kept_point`), exactly.
    ``cached``: the rows of ``X`` already through ``transform``, computed once for every run
    of a search (:func:`~scautogenome.data._loader.transformed_rows`); used where it holds the
    train and validation rows on the genes ``network`` reads (:func:`_usable_cache`).
    Returns the weights of the best epoch (by validation metric, ties broken by lower loss).
    """
    check_objective(params.loss, metric, n_classes, codes[val_rows])
    settings.apply_n_threads()
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    y_train = codes[train_rows]
    counts = np.bincount(y_train, minlength=n_classes).astype(np.float64)
    inv = np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1)), 0.0)
    weights = None
    sample_weights = None
    # the AUC loss weighs every (positive, negative) pair alike, so class weights mean nothing to
    # it; it balances by drawing minibatches that hold pairs (the sampler) instead
    balance = params.class_balance
    if params.loss == "auc" and balance == "weights":
        balance = "sampler"
    if balance == "weights":
        weights = torch.as_tensor(inv, dtype=torch.float32, device=device)
    elif balance == "sampler":
        sample_weights = inv[y_train]
    cached = _usable_cache(cached, network, train_rows, val_rows)
    train_loader, val_loader = _loaders(
        X, codes, train_rows, val_rows, transform, params, device, gen, sample_weights, cached
    )
    y_val = codes[val_rows]
    if params.loss == "auc":
        loss_fn = pairwise_auc_loss

        val_pairs = _pair_sample(y_val)

        def val_loss_fn(logits, y):  # the training loss on (a fixed sample of) the val pairs
            return pairwise_auc_loss(logits[val_pairs], y[val_pairs])

    else:
        loss_fn = nn.CrossEntropyLoss(weight=weights)
        val_loss_fn = nn.CrossEntropyLoss()
    result = _fit(
        network,
        train_loader,
        val_loader,
        y_val=torch.as_tensor(y_val),
        loss_fn=loss_fn,
        val_loss_fn=val_loss_fn,
        score_fn=lambda logits: score_logits(y_val, logits, metric, n_classes),
        params=params,
        device=device,
        report=report,
        deadline=deadline,
        on_epoch=on_epoch,
        stop_after=stop_after,
    )
    if params.loss == "auc" and len(val_rows):
        logits = predict_logits(network, val_loader, device)
        calibrate_binary_head(network.head, logits[:, 1] - logits[:, 0], y_val)
        result.state_dict = copy.deepcopy(network.state_dict())
    result.seconds = time.perf_counter() - start
    return result


def train_regressor(
    network: nn.Module,
    *,
    X,
    y: np.ndarray,
    train_rows: np.ndarray,
    val_rows: np.ndarray,
    transform,
    params: TrainParams,
    metric: str = "r2",
    device: torch.device,
    seed: int = 0,
    report: Callable[[int, float], None] | None = None,
    deadline: float | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    stop_after: tuple[int, int] | None = None,
    cached: TransformedRows | None = None,
) -> TrainResult:
    """Train ``network`` (one output) to predict the numeric target ``y`` (float, all rows of
    ``X``), as :func:`train_classifier` trains classes: the same loop, early stopping on the
    validation ``metric`` (``"r2"``, ``"pearson"`` or ``"spearman"``) and arguments.

    The loss is the mean squared error (``params.loss == "mse"``) on the values standardized
    with the training cells' mean and standard deviation, so that one learning rate suits a
    target in any unit; the recorded losses are on that scale (a validation loss of 1 is what
    predicting the mean scores). The returned weights predict that standardized value ``z``:
    the target is ``mean + std * z`` with the ``(mean, std)`` of :func:`target_scale` (``y``,
    ``train_rows``), computed in float64 outside the network (a float32 last layer holding
    the mean would keep only about 7 significant digits of the target). ``params.class_balance``
    does not apply.
    """
    y = np.asarray(y, dtype=np.float64)
    check_regression_objective(params.loss, metric, y[val_rows])
    settings.apply_n_threads()
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    mean, std = target_scale(y, train_rows)
    z = ((y - mean) / std).astype(np.float32)
    cached = _usable_cache(cached, network, train_rows, val_rows)
    train_loader, val_loader = _loaders(
        X, z, train_rows, val_rows, transform, params, device, gen, cached=cached
    )
    z_val = z[val_rows]
    mse = nn.MSELoss()

    def loss_fn(out, target):
        return mse(out[:, 0], target)

    result = _fit(
        network,
        train_loader,
        val_loader,
        y_val=torch.as_tensor(z_val),
        loss_fn=loss_fn,
        val_loss_fn=loss_fn,
        score_fn=lambda out: regression_score(z_val, out[:, 0].numpy(), metric),
        params=params,
        device=device,
        report=report,
        deadline=deadline,
        on_epoch=on_epoch,
        stop_after=stop_after,
    )
    result.seconds = time.perf_counter() - start
    return result


def target_scale(y: np.ndarray, train_rows: np.ndarray) -> tuple[float, float]:
    """The mean and standard deviation (1.0 where the values do not vary) of the numeric
    target ``y`` on the training rows: :func:`train_regressor` trains on ``(y - mean) / std``,
    and a :class:`~scautogenome.models.Regressor` predicts ``mean + std * output``."""
    y = np.asarray(y, dtype=np.float64)[train_rows]
    return float(np.mean(y)), float(np.std(y)) or 1.0


def train_on_data(network: nn.Module, data, **kwargs) -> TrainResult:
    """:func:`train_regressor` or :func:`train_classifier` of ``network`` on the prepared
    ``data`` (a :class:`~scautogenome.data.LabelledData`: its matrix and its numeric target or
    class codes, by its ``task``); ``kwargs`` are theirs (rows, transform, params, ...)."""
    if data.task == "regression":
        return train_regressor(network, X=data.X, y=data.y, **kwargs)
    return train_classifier(network, X=data.X, codes=data.codes, n_classes=data.n_classes, **kwargs)


def _usable_cache(
    cached: TransformedRows | None, network: nn.Module, train_rows, val_rows
) -> TransformedRows | None:
    """``cached`` where ``network`` can read its batches: it holds every train and validation
    row, and either every gene or exactly those the network reads
    (:class:`~scautogenome.nn.InputGenes`); None otherwise (batches then transformed as they
    are read)."""
    if cached is None:
        return None
    if not (cached.holds(train_rows) and cached.holds(val_rows)):
        return None
    if cached.genes is None:
        return cached
    genes = InputGenes.of(network)
    reads = None if genes is None else genes.positions()
    return cached if reads is not None and np.array_equal(reads, cached.genes) else None


@torch.no_grad()
def _loaders(
    X, y, train_rows, val_rows, transform, params, device, gen, sample_weights=None, cached=None
):
    """The shuffled training minibatches (no trailing batch of one row) and the validation
    batches of a training run (read from ``cached`` where given)."""
    batch_size = int(min(params.batch_size, max(2, len(train_rows))))
    train_loader = BatchLoader(
        X,
        train_rows,
        y,
        batch_size=batch_size,
        transform=transform,
        device=device,
        shuffle=True,
        generator=gen,
        sample_weights=sample_weights,
        drop_last=True,
        cached=cached,
    )
    val_loader = BatchLoader(
        X,
        val_rows,
        y,
        batch_size=1024,
        transform=transform,
        device=device,
        inference=True,
        cached=cached,
    )
    return train_loader, val_loader


def _fit(
    network: nn.Module,
    train_loader: BatchLoader,
    val_loader: BatchLoader,
    *,
    y_val: torch.Tensor,
    loss_fn: Callable,
    val_loss_fn: Callable,
    score_fn: Callable[[torch.Tensor], float],
    params: TrainParams,
    device: torch.device,
    report: Callable[[int, float], None] | None,
    deadline: float | None,
    on_epoch: Callable[[dict], None] | None,
    stop_after: tuple[int, int] | None,
) -> TrainResult:
    """The loop :func:`train_classifier` and :func:`train_regressor` share: optimizer,
    ReduceLROnPlateau on the validation score, early stopping, deadline and ``stop_after``.
    ``score_fn`` scores the network's outputs on the validation cells (higher is better).
    Leaves ``network`` holding the kept (best) weights."""
    network.to(device)
    if params.optimizer == "adamw":
        opt = adamw(
            network.parameters(), lr=params.lr, weight_decay=params.weight_decay, device=device
        )
    else:
        opt = torch.optim.SGD(
            network.parameters(),
            lr=params.lr,
            momentum=params.momentum,
            weight_decay=params.weight_decay,
            nesterov=params.momentum > 0,
        )
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="max", factor=0.5, patience=max(1, params.patience // 3)
    )
    best = (-math.inf, math.inf)
    result = TrainResult(state_dict={}, best_epoch=-1, best_score=-math.inf, best_loss=math.inf)
    since_best = 0
    out_of_time = False
    for epoch in range(stop_epochs(params.max_epochs, stop_after)):
        network.train()
        total, n_seen = 0.0, 0
        limit = batch_limit(epoch, stop_after)
        for n_batches, (x, yb) in enumerate(train_loader):
            if cut_here(n_batches, limit, deadline):
                out_of_time = True  # validate what this (partial) epoch reached, then stop
                result.cut_batches = n_batches
                break
            batch_done(n_batches, len(train_loader))
            with _autocast(device):
                loss = loss_fn(network(x).float(), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                msg = (
                    f"training diverged: non-finite loss at epoch {epoch} (lr={params.lr:.3g}); "
                    "a lower learning rate or checking the input for extreme values may help."
                )
                raise Diverged(msg)
            total += value * len(yb)
            n_seen += len(yb)
        logits = torch.from_numpy(predict_logits(network, val_loader, device))
        if not torch.isfinite(logits).all():  # the last step of the epoch blew the weights up
            msg = (
                f"training diverged: non-finite outputs on the validation cells at epoch {epoch} "
                f"(lr={params.lr:.3g}); a lower learning rate may help."
            )
            raise Diverged(msg)
        val_loss = float(val_loss_fn(logits, y_val))
        val_score = score_fn(logits)
        record = {
            "epoch": epoch,
            "train_loss": total / max(n_seen, 1),
            "val_loss": val_loss,
            "val_score": val_score,
            "lr": opt.param_groups[0]["lr"],
        }
        result.history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        sched.step(val_score)
        if (val_score, -val_loss) > (best[0], -best[1]):
            best = (val_score, val_loss)
            result.state_dict = copy.deepcopy(network.state_dict())
            result.best_epoch, result.best_score, result.best_loss = epoch, val_score, val_loss
            since_best = 0
        else:
            since_best += 1
        if report is not None and not out_of_time:  # a cut epoch is not comparable
            report(epoch, val_score)
        if epoch + 1 >= params.min_epochs and since_best >= params.patience:
            result.stopped = "early_stopping"
            break
        past = deadline is not None and time.perf_counter() > deadline
        if out_of_time or (past and epoch + 1 < params.max_epochs):
            result.stopped = "time_budget"
            break
    network.load_state_dict(result.state_dict)
    return result
