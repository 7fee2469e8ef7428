"""The training loop's rules pinned on small runs (found unguarded by mutation testing):
early stopping (patience, min_epochs), the tie-break of equal scores by the validation loss,
the kept weights put back, class balancing, the loss averaged per row, a last minibatch of
one row, the learning-rate schedule, and the AUC loss's calibrated weights kept."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import scautogenome as sag
import scautogenome.train._trainer as trainer
from scautogenome.data import prepare_labelled
from scautogenome.nn import build_network
from scautogenome.train import TrainParams, train_classifier


@pytest.fixture(scope="module")
def data():
    adata = sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0)
    return prepare_labelled(adata, "label", seed=0)


def _train(
    data,
    monkeypatch=None,
    scores=None,
    train_rows=None,
    n_classes=3,
    deadline=None,
    report=None,
    **params,
):
    """An MLP of 16 units trained on ``data``; ``scores``: the validation scores of its
    epochs, in turn (the rules, not the learning, under test)."""
    if scores is not None:
        it = iter(scores)
        monkeypatch.setattr(trainer, "score_logits", lambda *a, **k: next(it))
    torch.manual_seed(0)
    net = build_network({"kind": "mlp", "units": [16], "n_inputs": 200, "n_outputs": n_classes})
    result = train_classifier(
        net,
        X=data.X,
        codes=data.codes,
        train_rows=data.rows("train") if train_rows is None else train_rows,
        val_rows=data.rows("val"),
        n_classes=n_classes,
        transform=data.transform.to_torch("cpu"),
        params=TrainParams(**{"batch_size": 32, **params}),
        device=torch.device("cpu"),
        metric="roc_auc" if params.get("loss") == "auc" else "macro_f1",
        deadline=deadline,
        report=report,
    )
    return result, net


def test_early_stopping_waits_patience_epochs_after_min_epochs(data, monkeypatch):
    r, _ = _train(data, monkeypatch, [0.5] + [0.4] * 20, max_epochs=20, patience=2, min_epochs=1)
    assert len(r.history) == 3
    assert r.stopped == "early_stopping"
    assert r.best_epoch == 0
    r, _ = _train(data, monkeypatch, [0.5] * 20, max_epochs=20, patience=0, min_epochs=3)
    assert len(r.history) == 3


def test_equal_scores_keep_the_epoch_of_the_lowest_validation_loss(data, monkeypatch):
    r, _ = _train(data, monkeypatch, [0.5] * 20, max_epochs=6, patience=100, min_epochs=1, lr=1e-2)
    losses = [h["val_loss"] for h in r.history]
    assert r.best_epoch == int(np.argmin(losses))
    assert r.best_epoch > 0
    assert r.best_loss == min(losses)


def test_the_network_holds_the_kept_epochs_weights(data, monkeypatch):
    r, net = _train(
        data, monkeypatch, [0.9, 0.1, 0.1, 0.1], max_epochs=4, patience=100, min_epochs=1, lr=0.1
    )
    assert r.best_epoch == 0
    for name, value in net.state_dict().items():
        assert torch.equal(value, r.state_dict[name]), name


def test_class_balance_changes_the_training_loss_and_the_loss_is_per_row(data):
    """A class of 5 training rows: weights and the sampler each train otherwise than none;
    the training loss is a mean per row (about log 3 at first), not per minibatch."""
    train = data.rows("train")
    keep = np.concatenate([train[data.codes[train] != 0], train[data.codes[train] == 0][:5]])
    first = {
        balance: _train(data, train_rows=keep, max_epochs=1, class_balance=balance)[0].history[0]
        for balance in ("none", "weights", "sampler")
    }
    assert first["weights"]["train_loss"] != first["none"]["train_loss"]
    assert first["sampler"]["train_loss"] != first["none"]["train_loss"]
    assert 0.5 < first["none"]["train_loss"] < 2


def test_a_last_minibatch_of_one_row_is_dropped(data):
    """33 training rows in minibatches of 32: the lone row would reach BatchNorm alone."""
    r, _ = _train(data, train_rows=data.rows("train")[:33], max_epochs=1)
    assert len(r.history) == 1


def test_the_learning_rate_halves_after_a_third_of_patience(data, monkeypatch):
    r, _ = _train(data, monkeypatch, [0.5] * 12, max_epochs=10, patience=6, min_epochs=10)
    assert [h["lr"] for h in r.history] == pytest.approx([1e-3] * 4 + [5e-4] * 3 + [2.5e-4] * 3)


def test_the_auc_losss_kept_weights_are_the_calibrated_ones():
    adata = sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=2, seed=0)
    two = prepare_labelled(adata, "label", seed=0)
    r, net = _train(two, n_classes=2, max_epochs=3, loss="auc")
    head = r.state_dict["head.weight"]
    assert torch.equal(head[0], -head[1])
    for name, value in net.state_dict().items():
        assert torch.equal(value, r.state_dict[name]), name


class _Deadline:
    """A deadline that passes after ``after`` comparisons with the clock."""

    def __init__(self, after: int) -> None:
        self.after, self.n = after, 0

    def __lt__(self, now) -> bool:
        self.n += 1
        return self.n > self.after

    def __gt__(self, now) -> bool:
        return not self.__lt__(now)


def test_a_deadline_after_the_last_epoch_is_no_cut_and_a_cut_epoch_is_not_reported(data):
    """A deadline that passes as the last epoch ends: the run stopped at max_epochs, not by
    the time; an epoch the deadline cut is not reported to the pruner (not comparable)."""
    # one comparison with the clock before each minibatch but the first, one at its end
    checks = -(-len(data.rows("train")) // 32)
    r, _ = _train(data, max_epochs=1, deadline=_Deadline(checks - 1))
    assert r.stopped == "max_epochs"
    reported = []
    r, _ = _train(data, max_epochs=5, deadline=_Deadline(0), report=lambda e, v: reported.append(e))
    assert r.stopped == "time_budget"
    assert reported == []
