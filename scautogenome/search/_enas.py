"""RRFCN by ENAS: an LSTM controller searches the RRFCN space on shared weights.

The AutoGenome ENAS mode (paper, Methods "ENAS search"; Pham et al. 2018, macro search) on the
space of :mod:`scautogenome.nn._enas`:

1. **Alternating training.** Every epoch, the shared weights (:class:`~scautogenome.nn.
   RRFCNSupernet`) take one pass over the training minibatches, each minibatch with an
   architecture sampled from the controller; then the controller takes ``controller_steps``
   REINFORCE steps, each rewarded with the accuracy of its sampled architecture on one
   validation minibatch (shared weights, no training). For a numeric target (regression) the
   shared weights train with the squared error on the standardized target and the reward is
   ``1 - MSE`` on the minibatch (its R^2 against the training variance, at least -1).
2. **Controller.** An LSTM emits, layer by layer, a width (softmax over the candidate widths)
   and the layer's skip bits (one Bernoulli per earlier layer, from ENAS' attention between the
   current and the earlier hidden states). The loss is
   ``-(reward - baseline) * log p(arch) - entropy_weight * entropy + skip_weight * KL``,
   with a moving-average baseline and ``KL`` the divergence of every skip probability from
   ``skip_target`` (keeps the skip density near the target).
3. **Derive and retrain.** ``n_candidates`` architectures are sampled from the trained controller
   (plus its most likely one), ranked by the configured metric on the whole validation split
   with the shared weights, and the ``top_k_candidates`` best are retrained from scratch with
   :func:`~scautogenome.train.train_classifier` (:func:`~scautogenome.train.train_regressor`
   for a numeric target; fewer when the time budget is used up before
   the next one starts); the best by validation is kept. It is an
   ordinary ``kind="rrfcn"`` architecture (:class:`~scautogenome.nn.RRFCN`).

Alternatively (``config['rrfcn']['strategy'] = "optuna"``) the same space is searched by Optuna
with every architecture trained from scratch (:func:`run_search` with the ``"rrfcn"`` sampler).
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .._logging import epoch_bar, progress
from .._settings import keep_torch_threads, logger, settings
from ..data import BatchLoader
from ..nn import RRFCNSupernet, build_network, count_parameters, resolve_space
from ..train import TrainParams, regression_score, score_logits, target_scale, train_on_data
from ._hpo import ARCH_SAMPLERS, SearchResult, run_search
from ._study import kept_record

TRIAL_COLUMNS = (
    "number",
    "state",
    "value",
    "mode",
    "val_loss",
    "best_epoch",
    "epochs",
    "cut_batches",
    "n_params",
    "seconds",
    "stopped",
    "params",
    "architecture",
)


# -- the space ----------------------------------------------------------------------------------
def space_of(rrfcn: dict, n_inputs: int) -> tuple[int, int, list[int]]:
    """``(n_layers, first_width, widths)`` of ``config['rrfcn']`` for ``n_inputs`` genes."""
    return resolve_space(
        n_inputs,
        n_layers=rrfcn["n_layers"],
        first_width=rrfcn["first_width"],
        widths=rrfcn["widths"],
    )


def _activation(config: dict) -> str:
    """The activation of the RRFCN units: the space's fixed ``act``, else ReLU."""
    act = config["space"].get("common", {}).get("act", "relu")
    return act if isinstance(act, str) else "relu"


def make_supernet(config: dict, n_inputs: int, n_outputs: int, reads=None) -> RRFCNSupernet:
    """The supernet holding every RRFCN of ``config['rrfcn']``'s space for these sizes
    (``reads``: the positions of the genes its first unit reads, None: all)."""
    r = config["rrfcn"]
    n_layers, first, widths = space_of(r, n_inputs)
    return RRFCNSupernet(
        n_inputs,
        n_outputs,
        n_layers=n_layers,
        first_width=first,
        widths=widths,
        input_keep=r["input_keep"],
        dropout=r["dropout"],
        act=_activation(config),
        reads=reads,
    )


def rrfcn_n_params(n_inputs: int, n_outputs: int, widths: list[int], skips: list[list]) -> int:
    """Parameters of the :class:`~scautogenome.nn.RRFCN` ``(widths, skips)`` whose first unit
    reads ``n_inputs`` genes (no allocation)."""
    total = n_inputs * widths[0] + 3 * widths[0]
    for i in range(1, len(widths)):
        n_in = widths[i - 1] + sum(widths[j] for j in skips[i])
        total += n_in * widths[i] + 3 * widths[i]
    return total + widths[-1] * n_outputs + n_outputs


def _sample_rrfcn(trial, space: dict, arch: dict) -> dict:
    """Optuna sampler of the RRFCN space (``ARCH_SAMPLERS['rrfcn']``): every width and bit."""
    n_layers, first, widths = space_of(space, arch["n_inputs"])
    w = [first] + [
        int(trial.suggest_categorical(f"rrfcn_width_{i}", widths)) for i in range(1, n_layers)
    ]
    skips = [
        [j for j in range(i - 1) if trial.suggest_categorical(f"rrfcn_skip_{i}_{j}", [0, 1])]
        for i in range(n_layers)
    ]
    return {**arch, "widths": w, "skips": skips}


ARCH_SAMPLERS["rrfcn"] = _sample_rrfcn


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the controller's tiny ops on one CPU thread (intra-op threads only add overhead
    there, and on a busy machine they make every op wait for a second core)."""
    with keep_torch_threads():
        torch.set_num_threads(1)
        yield


# -- the controller -----------------------------------------------------------------------------
@dataclass
class ControllerSample:
    """One architecture drawn by the :class:`Controller`, with what REINFORCE needs."""

    width_idx: list[int]
    skips: list[list[int]]
    log_prob: torch.Tensor
    entropy: torch.Tensor
    skip_penalty: torch.Tensor
    n_skips: int
    n_skip_slots: int

    def architecture(self, first_width: int, widths: list[int]) -> tuple[list[int], list[list]]:
        """``(widths, skips)`` in layer units (the first width is fixed)."""
        return [first_width] + [widths[k] for k in self.width_idx], [list(s) for s in self.skips]


class Controller(nn.Module):
    """ENAS macro-search policy: an LSTM that emits a width and skip bits for every layer.

    Layer 0 (the one reading the genes) has a fixed width and no skips; layer 1 gets a width;
    every layer ``i >= 2`` gets a width and one skip bit for each layer ``j <= i - 2``. The
    skip logit is ENAS' attention ``v . tanh(W_prev h_j + W_curr h_i)``; the next LSTM input is
    the mean of the selected layers' hidden states (over ``1 + n_selected``), as in ENAS.

    Parameters
    ----------
    n_layers
        Number of layers of the architectures.
    n_widths
        Number of candidate widths.
    lstm_size
        Hidden size of the LSTM.
    tanh_constant
        Width logits are ``tanh_constant * tanh(logits)`` (0 disables), as in ENAS.
    skip_target
        Target probability of a skip connection for the KL penalty.
    """

    def __init__(
        self,
        n_layers: int,
        n_widths: int,
        *,
        lstm_size: int = 64,
        tanh_constant: float = 1.5,
        skip_target: float = 0.4,
    ) -> None:
        super().__init__()
        self.n_layers, self.n_widths = int(n_layers), int(n_widths)
        self.tanh_constant = float(tanh_constant)
        self.skip_target = float(skip_target)
        self.lstm = nn.LSTMCell(lstm_size, lstm_size)
        self.g_emb = nn.Parameter(torch.empty(1, lstm_size))
        self.width_emb = nn.Embedding(n_widths, lstm_size)
        self.width_head = nn.Linear(lstm_size, n_widths)
        self.attn_prev = nn.Linear(lstm_size, lstm_size, bias=False)
        self.attn_curr = nn.Linear(lstm_size, lstm_size, bias=False)
        self.attn_v = nn.Linear(lstm_size, 1, bias=False)
        for p in self.parameters():
            nn.init.uniform_(p, -0.1, 0.1)

    def _width_logits(self, h: torch.Tensor) -> torch.Tensor:
        logits = self.width_head(h)[0]
        return self.tanh_constant * torch.tanh(logits) if self.tanh_constant > 0 else logits

    def forward(
        self,
        *,
        generator: torch.Generator | None = None,
        fixed: tuple[list[int], list[list[int]]] | None = None,
        greedy: bool = False,
    ) -> ControllerSample:
        """Sample an architecture (or score ``fixed = (width_idx, skips)``, or take the mode).

        Parameters
        ----------
        generator
            Random generator of the width and skip draws (None: torch's global one).
        fixed
            An architecture to score instead of drawing one: the indices of the candidate
            widths of layers 1 .. ``n_layers - 1``, and the skips of every layer.
        greedy
            Take the most likely width and the skips of probability above 0.5 instead of
            drawing them (ignored with ``fixed``).

        Returns
        -------
        The architecture with its log-probability, entropy and skip penalty (tensors that
        carry gradients to the controller) and its skip counts.
        """
        hidden = self.g_emb.shape[1]
        h = torch.zeros(1, hidden, device=self.g_emb.device)
        c = torch.zeros_like(h)
        inputs = self.g_emb
        log_prob = h.new_zeros(())
        entropy = h.new_zeros(())
        penalty = h.new_zeros(())
        width_idx: list[int] = []
        skips: list[list[int]] = []
        anchors: list[torch.Tensor] = []
        anchors_w: list[torch.Tensor] = []
        n_skips = n_slots = 0
        t = self.skip_target
        for i in range(self.n_layers):
            if i > 0:
                h, c = self.lstm(inputs, (h, c))
                logp = F.log_softmax(self._width_logits(h), dim=-1)
                if fixed is not None:
                    k = int(fixed[0][i - 1])
                elif greedy:
                    k = int(logp.argmax())
                else:
                    k = int(torch.multinomial(logp.exp().detach(), 1, generator=generator))
                width_idx.append(k)
                log_prob = log_prob + logp[k]
                entropy = entropy - (logp.exp() * logp).sum()
                inputs = self.width_emb.weight[k : k + 1]
            h, c = self.lstm(inputs, (h, c))
            chosen: list[int] = []
            if i >= 2:
                query = self.attn_curr(h)
                logits = self.attn_v(torch.tanh(torch.cat(anchors_w[: i - 1]) + query))[:, 0]
                p = torch.sigmoid(logits)
                if fixed is not None:
                    bits = torch.zeros_like(p)
                    bits[list(fixed[1][i])] = 1.0
                elif greedy:
                    bits = (p > 0.5).float()
                else:
                    bits = torch.bernoulli(p.detach(), generator=generator)
                log_prob = (
                    log_prob
                    + (bits * F.logsigmoid(logits) + (1 - bits) * F.logsigmoid(-logits)).sum()
                )
                ent = -(p * F.logsigmoid(logits) + (1 - p) * F.logsigmoid(-logits))
                entropy = entropy + ent.sum()
                pc = p.clamp(1e-6, 1 - 1e-6)
                penalty = (
                    penalty
                    + (pc * torch.log(pc / t) + (1 - pc) * torch.log((1 - pc) / (1 - t))).sum()
                )
                chosen = [int(j) for j in torch.nonzero(bits)[:, 0]]
                n_skips += len(chosen)
                n_slots += i - 1
                sel = torch.cat(anchors[: i - 1])[chosen].sum(0, keepdim=True)
                inputs = sel / (1.0 + len(chosen))
            else:
                inputs = self.g_emb
            skips.append(chosen)
            anchors.append(h)
            anchors_w.append(self.attn_prev(h))
        return ControllerSample(width_idx, skips, log_prob, entropy, penalty, n_skips, n_slots)


def reinforce_step(
    controller: Controller,
    optimizer: torch.optim.Optimizer,
    reward_fn,
    baseline: float | None,
    *,
    entropy_weight: float,
    skip_weight: float,
    baseline_decay: float,
    n_samples: int = 1,
    generator: torch.Generator | None = None,
) -> tuple[list[dict], float]:
    """One REINFORCE update of ``controller`` from ``n_samples`` architectures.

    ``reward_fn(sample) -> float`` scores a :class:`ControllerSample`. Each sample's advantage
    is its reward minus the moving-average ``baseline`` (initialised with the first reward,
    then ``baseline <- decay * baseline + (1 - decay) * reward``); the loss, averaged over the
    samples, is ``-advantage * log p - entropy_weight * entropy + skip_weight * KL``.
    Returns ``(stats per sample, new_baseline)``.

    Parameters
    ----------
    controller
        The controller to update (put in training mode).
    optimizer
        The optimizer of the controller's parameters; it takes one step.
    reward_fn
        ``sample -> float``, the reward of a :class:`ControllerSample`.
    baseline
        The moving-average reward so far (None: none yet, the first reward starts it).
    entropy_weight
        Weight of the entropy bonus in the loss.
    skip_weight
        Weight of the skip penalty (the KL divergence from the controller's
        ``skip_target``).
    baseline_decay
        Decay of the moving-average baseline.
    n_samples
        Architectures sampled (and rewarded) for the one update.
    generator
        Random generator of the samples (None: torch's global one).

    Returns
    -------
    One dict per sample (``reward``, ``advantage``, ``baseline``, ``entropy``,
    ``log_prob``, ``skip_density``, ``sample``), and the baseline after them.
    """
    controller.train()
    loss = torch.zeros(())
    stats = []
    for _ in range(n_samples):
        sample = controller(generator=generator)
        reward = float(reward_fn(sample))
        if baseline is None:
            baseline = reward
        advantage = reward - baseline
        baseline = baseline_decay * baseline + (1 - baseline_decay) * reward
        loss = loss + (
            -advantage * sample.log_prob
            - entropy_weight * sample.entropy
            + skip_weight * sample.skip_penalty
        )
        stats.append(
            {
                "reward": reward,
                "advantage": advantage,
                "baseline": baseline,
                "entropy": float(sample.entropy.detach()),
                "log_prob": float(sample.log_prob.detach()),
                "skip_density": sample.n_skips / max(sample.n_skip_slots, 1),
                "sample": sample,
            }
        )
    optimizer.zero_grad(set_to_none=True)
    (loss / n_samples).backward()
    optimizer.step()
    return stats, baseline


# -- search -------------------------------------------------------------------------------------
@dataclass
class EnasResult(SearchResult):
    """:class:`SearchResult` of :func:`run_enas`, plus the per-epoch search history.

    Attributes
    ----------
    architecture
        The kept RRFCN's architecture dict (``kind="rrfcn"``).
    train_params
        Its training settings (:class:`~scautogenome.train.TrainParams`' keyword arguments).
    state_dict
        Its retrained weights.
    history
        Its retraining's per-epoch records (``epoch``, ``train_loss``, ``val_loss``,
        ``val_score``, ``lr``).
    best_value
        Its best validation score (the configured metric).
    best_trial
        Its row's ``number`` in ``trials``.
    trials
        One row per sampled, ranked and retrained architecture (:func:`run_enas`).
    study_name
        ``"sag-rrfcn-enas"`` (no Optuna study: ENAS runs in memory).
    seconds
        Wall-clock seconds of the search, retraining included.
    kept
        How the kept model's retraining ended (:func:`~scautogenome.search._study.kept_record`).
    n_threads
        Torch's CPU threads the kept weights were trained on; :func:`run_enas` leaves it
        None (not recorded).
    search_history
        One dict per epoch of the alternating phase: ``epoch``, ``child_loss`` (the shared
        weights' training loss), the controller's mean ``reward``, ``baseline``, ``entropy``
        and ``skip_density``, and ``seconds`` since the start.
    """

    search_history: list = field(default_factory=list)


def _eval_batch_size(n: int, target: int = 1024) -> int:
    """A batch size <= target that leaves no trailing batch of one row (BatchNorm needs 2)."""
    bs = min(target, max(n, 2))
    while bs > 2 and n % bs == 1:
        bs -= 1
    return bs


@torch.no_grad()
def _shared_eval(
    supernet: RRFCNSupernet, loader: BatchLoader, y: np.ndarray, arch, metric: str, n_classes: int
) -> tuple[float, float]:
    """(metric, loss) of one architecture on a whole split with the shared weights; ``y``
    float: a numeric target (standardized), judged by its regression ``metric`` and the MSE."""
    supernet.eval()
    logits = torch.cat([supernet(x, *arch).float().cpu() for x, _ in loader])
    if not torch.isfinite(logits).all():  # ranked last, not scored (a ranking metric cannot)
        return -math.inf, math.inf
    if y.dtype.kind == "f":
        out = logits[:, 0]
        loss = float(F.mse_loss(out, torch.as_tensor(y)))
        return regression_score(y, out.numpy(), metric), loss
    loss = float(F.cross_entropy(logits, torch.as_tensor(y)))
    return score_logits(y, logits, metric, n_classes), loss


def _row(number: int, state: str, value: float, arch: dict, **kw) -> dict:
    row = {
        "number": number,
        "state": state,
        "value": float(value),
        "mode": "rrfcn",
        "val_loss": math.nan,
        "best_epoch": -1,
        "epochs": -1,
        "cut_batches": -1,
        "n_params": -1,
        "seconds": math.nan,
        "stopped": "",
        "params": "{}",
        "architecture": json.dumps(arch, sort_keys=True),
    }
    for k, v in kw.items():
        row[k] = json.dumps(v, sort_keys=True) if k == "params" else v
    return row


def _table(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(TRIAL_COLUMNS))
    df.index = pd.Index(df["number"].astype(str).to_numpy(), name="trial")
    return df


def run_enas(data, config: dict, *, device: torch.device, seed: int = 0) -> EnasResult:
    """Search an RRFCN for ``data`` (a :class:`~scautogenome.data.LabelledData`) with ENAS.

    Uses ``config['rrfcn']`` (space and ENAS settings), ``config['trainer']`` (retraining),
    ``config['search']['metric']`` (ranking and selection) and ``config['budget']
    ['time_budget']`` (wall clock; ``search_share`` of it for the alternating phase, the rest
    for ranking and retraining). ``n_trials`` does not apply: the number of architectures seen
    is set by ``epochs``, ``controller_steps`` and ``n_candidates``.

    Parameters
    ----------
    data
        The prepared cells (:class:`~scautogenome.data.LabelledData`).
    config
        A full configuration (:func:`scautogenome.config.load`).
    device
        The torch device of the supernet and the retraining.
    seed
        Seeds the controller's draws, the shared weights and the retrained candidates.

    Returns
    -------
    :class:`EnasResult`. Its ``trials`` table has the columns of
    :func:`~scautogenome.search.trials_table`; ``state`` is ``"sampled"`` (a controller step:
    ``value`` = its reward, the accuracy on one validation minibatch), ``"ranked"`` (a derived
    candidate: ``value``/``val_loss`` on the validation split with the shared weights) or
    ``"complete"`` (a retrained candidate: best validation score of its training run).

    Interrupted (Ctrl-C), it logs where, and that nothing is kept, before it raises.
    """
    phase = ["search"]  # where it is, for the line of an interruption
    try:
        return _run_enas(data, config, device=device, seed=seed, phase=phase)
    except KeyboardInterrupt:
        logger.warning(
            "RRFCN search (ENAS) interrupted in its %s; nothing was written into the data. "
            "ENAS runs in memory: nothing of it is kept, and it runs again in full.",
            phase[0],
        )
        raise


def _run_enas(data, config: dict, *, device: torch.device, seed: int, phase: list) -> EnasResult:
    """:func:`run_enas`, noting in ``phase[0]`` where it is."""
    settings.apply_n_threads()
    start = time.perf_counter()
    r = config["rrfcn"]
    metric = config["search"]["metric"]
    budget = config["budget"]["time_budget"]
    deadline = None if budget is None else start + float(budget)
    search_deadline = None if budget is None else start + r["search_share"] * float(budget)
    regression = data.task == "regression"
    n_in, n_out = data.X.shape[1], data.n_outputs
    n_layers, first, widths = space_of(r, n_in)
    act = _activation(config)
    base_arch = {
        "kind": "rrfcn",
        "n_inputs": n_in,
        "n_outputs": n_out,
        "input_keep": float(r["input_keep"]),
        "dropout": float(r["dropout"]),
        "act": act,
    }
    train_rows, val_rows = data.rows("train"), data.rows("val")
    if len(val_rows) < 2:
        msg = f"ENAS needs at least 2 validation cells, the split has {len(val_rows)}."
        raise ValueError(msg)
    transform = data.transform.to_torch(device)
    logger.info(
        "rrfcn (ENAS): %d layers, first width %d, widths %s, %d epochs",
        n_layers,
        first,
        widths,
        r["epochs"],
    )

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)  # controller samples
    data_gen = torch.Generator().manual_seed(seed + 1)  # minibatch order
    reads = data.transform.varying_genes()  # the genes every network reads
    # the train and validation rows through the transform once, on those genes, for every
    # step of the supernet and every candidate retrained (None: each batch as it is read)
    cached = data.transformed(transform, reads)
    supernet = make_supernet(config, n_in, n_out, reads).to(device)
    n_read = supernet.genes.n_read
    controller = Controller(
        n_layers,
        len(widths),
        lstm_size=r["lstm_size"],
        tanh_constant=r["tanh_constant"],
        skip_target=r["skip_target"],
    )
    child_opt = torch.optim.AdamW(
        supernet.parameters(), lr=r["child_lr"], weight_decay=r["weight_decay"]
    )
    ctrl_opt = torch.optim.Adam(controller.parameters(), lr=r["controller_lr"])

    if regression:  # the shared weights learn the standardized target; nothing to balance
        mean, std = target_scale(data.y, train_rows)  # as the kept Regressor's
        targets = ((data.y - mean) / std).astype(np.float32)
        balance = "none"
    else:
        targets, balance = data.codes, r["class_balance"]
    y_train = targets[train_rows]
    weights, sample_weights = None, None
    if not regression:
        counts = np.bincount(y_train, minlength=n_out).astype(np.float64)
        inv = np.where(counts > 0, counts.sum() / (n_out * np.maximum(counts, 1)), 0.0)
        if balance == "weights":
            weights = torch.as_tensor(inv, dtype=torch.float32, device=device)
        elif balance == "sampler":
            sample_weights = inv[y_train]
    batch_size = int(min(r["child_batch_size"], max(2, len(train_rows))))
    train_loader = BatchLoader(
        data.X,
        train_rows,
        targets,
        batch_size=batch_size,
        transform=transform,
        device=device,
        cached=cached,
        shuffle=True,
        generator=data_gen,
        sample_weights=sample_weights,
        drop_last=True,
    )
    val_loader = BatchLoader(
        data.X,
        val_rows,
        targets,
        batch_size=_eval_batch_size(len(val_rows), max(batch_size, 256)),
        transform=transform,
        device=device,
        cached=cached,
        shuffle=True,
        generator=data_gen,
        drop_last=True,
    )
    if regression:

        def loss_fn(out, target):
            return F.mse_loss(out[:, 0], target)

    else:
        loss_fn = nn.CrossEntropyLoss(weight=weights)

    def val_batches():
        while True:
            yield from val_loader

    val_iter = val_batches()

    def reward_fn(sample: ControllerSample) -> float:
        x, yb = next(val_iter)
        supernet.eval()
        with torch.no_grad():
            out = supernet(x, *sample.architecture(first, widths))
        if regression:  # 1 - MSE of the standardized target: R^2 on the training variance
            return max(-1.0, 1.0 - float(F.mse_loss(out[:, 0].float(), yb)))
        return float((out.argmax(1) == yb).float().mean())

    rows: list[dict] = []
    history: list[dict] = []
    baseline: float | None = None
    out_of_time = False
    # with a time share the alternations end there, whatever the epoch count says: the time
    # left on the bar, as the search's, not an ETA from the epochs' rate
    bar = progress(
        r["epochs"],
        "enas",
        unit="epoch",
        bar_format=None
        if search_deadline is None
        else "{desc}: {n_fmt}/{total_fmt} epochs [{elapsed}{postfix}]",
    )
    try:
        for epoch in range(r["epochs"]):
            phase[0] = f"search (epoch {epoch + 1} of {r['epochs']})"
            # shared weights: one pass over the training minibatches, one sampled arch each
            supernet.train()
            controller.eval()
            total, n_seen = 0.0, 0
            for x, yb in train_loader:
                with torch.no_grad(), one_thread():
                    arch = controller(generator=gen).architecture(first, widths)
                loss = loss_fn(supernet(x, *arch), yb)
                child_opt.zero_grad(set_to_none=True)
                loss.backward()
                child_opt.step()
                total += float(loss.detach()) * len(yb)
                n_seen += len(yb)
                if search_deadline is not None and time.perf_counter() > search_deadline:
                    out_of_time = True
                    break
            # controller: REINFORCE on validation minibatches
            stats = []
            for step in range(0 if out_of_time else r["controller_steps"]):
                with one_thread():
                    step_stats, baseline = reinforce_step(
                        controller,
                        ctrl_opt,
                        reward_fn,
                        baseline,
                        entropy_weight=r["entropy_weight"],
                        skip_weight=r["skip_weight"],
                        baseline_decay=r["baseline_decay"],
                        n_samples=r["controller_samples"],
                        generator=gen,
                    )
                for st in step_stats:
                    w, s = st["sample"].architecture(first, widths)
                    rows.append(
                        _row(
                            len(rows),
                            "sampled",
                            st["reward"],
                            {**base_arch, "widths": w, "skips": s},
                            epochs=epoch + 1,
                            n_params=rrfcn_n_params(n_read, n_out, w, s),
                            params={
                                "stage": "controller",
                                "epoch": epoch,
                                "step": step,
                                "entropy": round(st["entropy"], 4),
                            },
                        )
                    )
                stats.extend(step_stats)
                if search_deadline is not None and time.perf_counter() > search_deadline:
                    out_of_time = True
                    break
            rec = {
                "epoch": epoch,
                "child_loss": total / max(n_seen, 1),
                "reward": float(np.mean([s["reward"] for s in stats])) if stats else math.nan,
                "baseline": math.nan if baseline is None else float(baseline),
                "entropy": float(np.mean([s["entropy"] for s in stats])) if stats else math.nan,
                "skip_density": float(np.mean([s["skip_density"] for s in stats]))
                if stats
                else math.nan,
                "seconds": time.perf_counter() - start,
            }
            history.append(rec)
            fields = {"child loss": f"{rec['child_loss']:.3f}"}
            if stats:  # the controller stepped this epoch (not when the time share cut it)
                fields.update(reward=f"{rec['reward']:.3f}", entropy=f"{rec['entropy']:.2f}")
            if search_deadline is not None:
                fields["time left"] = f"{max(0.0, search_deadline - time.perf_counter()):.0f}s"
            # drawn by the update, at the bar's pace (a file's: every 30 s)
            bar.set_postfix(fields, refresh=False)
            bar.update(1)
            logger.debug(
                "enas epoch %d: child loss %.4f, reward %.4f (baseline %.4f), entropy %.3f, "
                "skip density %.2f",
                epoch,
                rec["child_loss"],
                rec["reward"],
                rec["baseline"],
                rec["entropy"],
                rec["skip_density"],
            )
            if out_of_time or (
                search_deadline is not None and time.perf_counter() > search_deadline
            ):
                logger.info("enas: time share used up after %d epoch(s)", epoch + 1)
                break
    finally:
        bar.close()

    # -- derive: sample candidates, rank with the shared weights --------------------------------
    controller.eval()
    with torch.no_grad(), one_thread():
        drawn = [controller(greedy=True)] + [
            controller(generator=gen) for _ in range(r["n_candidates"])
        ]
    candidates: list[tuple] = []
    for smp in drawn:
        w, s = smp.architecture(first, widths)
        if (w, s) not in candidates:
            candidates.append((w, s))
    eval_loader = BatchLoader(  # the supernet in eval mode: bounded blocks, as prediction
        data.X,
        val_rows,
        targets,
        batch_size=_eval_batch_size(len(val_rows)),
        transform=transform,
        device=device,
        cached=cached,
        inference=True,
    )
    y_val = targets[val_rows]
    ranked = []
    for w, s in candidates:
        val_score, val_loss = _shared_eval(supernet, eval_loader, y_val, (w, s), metric, n_out)
        ranked.append((val_score, val_loss, w, s))
    ranked.sort(key=lambda t: (-t[0], t[1]))
    for rank, (val_score, val_loss, w, s) in enumerate(ranked):
        rows.append(
            _row(
                len(rows),
                "ranked",
                val_score,
                {**base_arch, "widths": w, "skips": s},
                val_loss=val_loss,
                n_params=rrfcn_n_params(n_read, n_out, w, s),
                params={"stage": "derive", "rank": rank},
            )
        )
    search_seconds = time.perf_counter() - start
    supernet = child_opt = None  # free the shared weights before retraining

    # -- retrain the top k from scratch, keep the best by validation -----------------------------
    params = {
        "lr": float(r["child_lr"]),
        "batch_size": int(r["child_batch_size"]),
        "optimizer": "adamw",
        "weight_decay": float(r["weight_decay"]),
        "class_balance": r["class_balance"],
        **config["trainer"],
    }
    top = ranked[: r["top_k_candidates"]]
    best = None
    for rank, (_, _, w, s) in enumerate(top):
        if rank > 0 and deadline is not None and time.perf_counter() >= deadline:
            # a candidate started now would get no time: its deadline cuts it at once
            logger.info("enas: time budget used up; %d of %d candidates retrained", rank, len(top))
            break
        phase[0] = f"retraining (candidate {rank + 1} of {len(top)})"
        arch = {**base_arch, "widths": w, "skips": s}
        cand_deadline = None
        if deadline is not None:
            cand_deadline = time.perf_counter() + max(
                0.0, (deadline - time.perf_counter()) / (len(top) - rank)
            )
        torch.manual_seed(seed + 1000 + rank)
        net = build_network(arch, reads=reads)
        logger.info(
            "enas: retraining candidate %d of %d (widths %s, skips %s)", rank + 1, len(top), w, s
        )
        with epoch_bar(int(params["max_epochs"]), f"retraining candidate {rank + 1}") as on_epoch:
            res = train_on_data(
                net,
                data,
                train_rows=train_rows,
                val_rows=val_rows,
                transform=transform,
                cached=cached,
                params=TrainParams(**params),
                metric=metric,
                device=device,
                seed=seed + rank,
                deadline=cand_deadline,
                on_epoch=on_epoch,
            )
        number = len(rows)
        rows.append(
            _row(
                number,
                "complete",
                res.best_score,
                arch,
                val_loss=res.best_loss,
                best_epoch=res.best_epoch,
                epochs=len(res.history),
                cut_batches=int(res.cut_batches or 0),
                n_params=count_parameters(net),
                seconds=res.seconds,
                stopped=res.stopped,
                params={"stage": "retrain", "rank": rank},
            )
        )
        logger.info("enas: candidate %d val %s=%.4f", rank + 1, metric, res.best_score)
        if best is None or (res.best_score, -res.best_loss) > (
            best[0].best_score,
            -best[0].best_loss,
        ):
            best = (res, arch, number)
    res, arch, number = best
    logger.info(
        "rrfcn: %d epochs, %d controller samples, %d candidates ranked, best val %s=%.4f "
        "(search %.0f s, total %.0f s)",
        len(history),
        sum(1 for row in rows if row["state"] == "sampled"),
        len(ranked),
        metric,
        res.best_score,
        search_seconds,
        time.perf_counter() - start,
    )
    return EnasResult(
        architecture=arch,
        train_params=params,
        state_dict=res.state_dict,
        history=res.history,
        best_value=float(res.best_score),
        best_trial=number,
        trials=_table(rows),
        study_name="sag-rrfcn-enas",
        seconds=time.perf_counter() - start,
        search_history=history,
        kept=kept_record(
            {"stopped": res.stopped, "epochs": len(res.history), "cut_batches": res.cut_batches}
        ),
    )


# -- dispatch used by sag.tl.classify -----------------------------------------------------------
def rrfcn_in_auto(config: dict) -> bool:
    """Whether ``mode="auto"`` also searches RRFCN: only with a ``time_budget`` of at least
    ``config['rrfcn']['auto_min_time_budget']`` seconds (ENAS pays for its shared-weight phase
    before it has any model; below that the MLP/RFCN search gets the whole budget). An
    infinite ``time_budget`` is no limit, as None: it has no share to give ENAS.

    Parameters
    ----------
    config
        A full configuration (:func:`scautogenome.config.load`): its ``mode``,
        ``budget['time_budget']`` and ``rrfcn['auto_min_time_budget']`` are read.

    Returns
    -------
    True where the search of ``mode="auto"`` includes RRFCN (False for any other mode).
    """
    tb = config["budget"]["time_budget"]
    return (
        config["mode"] == "auto"
        and tb is not None
        and math.isfinite(float(tb))
        and float(tb) >= float(config["rrfcn"]["auto_min_time_budget"])
    )


def optuna_rrfcn_config(config: dict) -> dict:
    """``config`` for :func:`run_search` over the RRFCN space alone (each trial from scratch)."""
    cfg = copy.deepcopy(config)
    r = cfg["rrfcn"]
    cfg["space"] = {
        "common": cfg["space"].get("common", {}),
        "rrfcn": {k: r[k] for k in ("n_layers", "first_width", "widths")},
    }
    return cfg


def _with_budget(config: dict, time_budget: float | None) -> dict:
    cfg = copy.deepcopy(config)
    cfg["budget"]["time_budget"] = time_budget
    return cfg


def optuna_study_config(config: dict) -> dict:
    """``config`` of the Optuna study that :func:`search_with_rrfcn` runs (and a worker joins).

    ``mode="rrfcn"`` with ``strategy="optuna"``: the RRFCN space alone
    (:func:`optuna_rrfcn_config`). ``mode="auto"`` with RRFCN (:func:`rrfcn_in_auto`): the
    MLP/RFCN study with ``1 - auto_share`` of the time budget, the rest being ENAS's. Any other
    config is returned as it is.
    """
    if config["mode"] == "rrfcn" and config["rrfcn"]["strategy"] == "optuna":
        return optuna_rrfcn_config(config)
    if rrfcn_in_auto(config):
        tb = float(config["budget"]["time_budget"])
        return _with_budget(config, tb * (1 - config["rrfcn"]["auto_share"]))
    return config


def search_with_rrfcn(
    data,
    config: dict,
    *,
    device: torch.device,
    seed: int = 0,
    storage: str | None = None,
    study_name: str | None = None,
) -> SearchResult:
    """The search of ``mode="rrfcn"``, or of ``mode="auto"`` with RRFCN (:func:`rrfcn_in_auto`).

    ``rrfcn``: :func:`run_enas` (``strategy="enas"``) or :func:`run_search` over the RRFCN space
    (``strategy="optuna"``). ``auto``: :func:`run_search` over MLP/RFCN-ResNet/RFCN-DenseNet with
    ``1 - auto_share`` of the time budget, then :func:`run_enas` with the time that is left;
    the better by validation score is kept and both trial tables are concatenated (ENAS rows
    numbered after the Optuna trials).

    Parameters
    ----------
    data
        The prepared cells (:class:`~scautogenome.data.LabelledData`).
    config
        A full configuration (:func:`scautogenome.config.load`) of mode ``"rrfcn"``, or of
        mode ``"auto"`` with a finite ``time_budget``.
    device
        The torch device the models train on.
    seed
        As for :func:`run_search` and :func:`run_enas`.
    storage, study_name
        The Optuna study of :func:`run_search` (ENAS runs in memory: a warning where a
        ``storage`` is given to it).

    Returns
    -------
    The better search's result (:class:`SearchResult`; :class:`EnasResult` from ENAS
    alone), with both trial tables in ``auto``.
    """
    if config["mode"] == "rrfcn":
        if config["rrfcn"]["strategy"] == "optuna":
            return run_search(
                data,
                optuna_study_config(config),
                device=device,
                seed=seed,
                storage=storage,
                study_name=study_name,
            )
        if storage is not None:
            logger.warning("storage is not used by the ENAS search (it runs in memory).")
        res = run_enas(data, config, device=device, seed=seed)
        if study_name is not None:  # the name given, recorded (as a search in memory's is)
            res.study_name = study_name
        return res
    if storage is not None:
        logger.warning(
            "storage keeps the MLP/RFCN trials of mode auto; its RRFCN search by ENAS runs in "
            "memory, is not stored, and runs again in full when the search is resumed."
        )
    start = time.perf_counter()
    tb = float(config["budget"]["time_budget"])
    hpo = run_search(
        data,
        optuna_study_config(config),
        device=device,
        seed=seed,
        storage=storage,
        study_name=study_name,
    )
    left = max(tb - (time.perf_counter() - start), 0.0)
    enas = run_enas(data, _with_budget(config, left), device=device, seed=seed)
    offset = int(hpo.trials["number"].max()) + 1 if len(hpo.trials) else 0
    etab = enas.trials.copy()
    etab["number"] = etab["number"] + offset
    etab.index = pd.Index(etab["number"].astype(str).to_numpy(), name="trial")
    table = pd.concat([hpo.trials, etab[list(hpo.trials.columns)]])
    best = enas if enas.best_value > hpo.best_value else hpo
    logger.info(
        "auto: best of Optuna (val %.4f) and RRFCN/ENAS (val %.4f) is %s",
        hpo.best_value,
        enas.best_value,
        best.architecture["kind"],
    )
    return SearchResult(
        architecture=best.architecture,
        train_params=best.train_params,
        state_dict=best.state_dict,
        history=best.history,
        best_value=best.best_value,
        best_trial=best.best_trial + (offset if best is enas else 0),
        trials=table,
        study_name=hpo.study_name,
        seconds=time.perf_counter() - start,
        kept=best.kept,
        n_threads=best.n_threads,  # the Optuna trials' count; ENAS retrained its own here
    )


__all__ = [
    "TRIAL_COLUMNS",
    "Controller",
    "ControllerSample",
    "EnasResult",
    "make_supernet",
    "optuna_rrfcn_config",
    "optuna_study_config",
    "reinforce_step",
    "rrfcn_in_auto",
    "rrfcn_n_params",
    "run_enas",
    "search_with_rrfcn",
]
