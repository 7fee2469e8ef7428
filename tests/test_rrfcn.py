"""RRFCN by ENAS: supernet, controller, derive/retrain, classify(mode="rrfcn"), plot."""

from __future__ import annotations

import json

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.axes import Axes

import scautogenome as sag
from scautogenome import config as sag_config
from scautogenome.data import prepare_labelled
from scautogenome.nn import RRFCN, RRFCNSupernet, build_network, check_dag
from scautogenome.search import Controller, reinforce_step, rrfcn_in_auto, run_enas, run_search
from scautogenome.search._enas import (
    TRIAL_COLUMNS,
    one_thread,
    optuna_rrfcn_config,
    rrfcn_n_params,
)

# a tiny space and search: 4 layers, 3 widths, 2 alternations
TINY_RRFCN = {
    "budget": {"n_trials": 2, "time_budget": None},
    "trainer": {"max_epochs": 8, "patience": 4, "min_epochs": 2},
    "rrfcn": {
        "n_layers": 4,
        "first_width": 64,
        "widths": [16, 32, 64],
        "epochs": 2,
        "controller_steps": 4,
        "child_batch_size": 64,
        "n_candidates": 3,
        "top_k_candidates": 2,
    },
}


def _random_arch(rng: np.random.Generator, n_layers: int, first: int, widths: list[int]):
    w = [first] + [int(rng.choice(widths)) for _ in range(1, n_layers)]
    s = [[j for j in range(i - 1) if rng.random() < 0.5] for i in range(n_layers)]
    return w, s


# -- nn ------------------------------------------------------------------------------------------
def test_supernet_shapes_any_architecture_no_allocation():
    torch.manual_seed(0)
    net = RRFCNSupernet(40, 5, n_layers=6, first_width=32, widths=[8, 16, 32], dropout=0.1)
    params = [id(p) for p in net.parameters()]
    n_params = sum(p.numel() for p in net.parameters())
    ctrl = Controller(6, 3)
    gen = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(0)
    x = torch.randn(7, 40)
    archs = [ctrl(generator=gen).architecture(32, [8, 16, 32]) for _ in range(15)]
    archs += [_random_arch(rng, 6, 32, [8, 16, 32]) for _ in range(15)]
    for w, s in archs:
        net.check(w, s)
        net.train()
        assert net(x, w, s).shape == (7, 5)
        net.eval()
        out = net(x, w, s)
        assert out.shape == (7, 5)
        assert torch.isfinite(out).all()
    # sampling and evaluating architectures allocated no new weights
    assert [id(p) for p in net.parameters()] == params
    assert sum(p.numel() for p in net.parameters()) == n_params


def test_supernet_slices_are_the_rrfcn_weights():
    """An architecture on the supernet = the RRFCN holding the sliced shared weights."""
    torch.manual_seed(0)
    net = RRFCNSupernet(30, 4, n_layers=5, first_width=32, widths=[8, 16, 32]).eval()
    w, s = [32, 16, 8, 32, 16], [[], [], [0], [1], [0, 2]]
    rr = RRFCN(30, 4, widths=w, skips=s).train()  # BatchNorm on batch statistics, as the supernet
    with torch.no_grad():
        rr.units[0][0].weight.copy_(net.stem.weight)
        rr.units[0][0].bias.copy_(net.stem.bias)
        for i in range(1, 5):
            src = [*s[i], i - 1]
            block = torch.cat([net.edges[f"{j}_{i}"][: w[i], : w[j]] for j in src], dim=1)
            rr.units[i][0].weight.copy_(block)
            rr.units[i][0].bias.copy_(net.bias[i - 1][: w[i]])
        for i in range(5):
            rr.units[i][1].weight.copy_(net.bn_weight[i][: w[i]])
            rr.units[i][1].bias.copy_(net.bn_bias[i][: w[i]])
        rr.head.weight.copy_(net.head.weight[:, : w[-1]])
        rr.head.bias.copy_(net.head.bias)
        x = torch.randn(9, 30)
        torch.testing.assert_close(net(x, w, s), rr(x), rtol=1e-5, atol=1e-5)
    assert rrfcn_n_params(30, 4, w, s) == sum(p.numel() for p in rr.parameters())


def test_rrfcn_build_and_checks():
    arch = {
        "kind": "rrfcn",
        "n_inputs": 20,
        "n_outputs": 3,
        "widths": [16, 8, 8],
        "skips": [[], [], [0]],
    }
    net = build_network(arch)
    assert net(torch.randn(4, 20)).shape == (4, 3)
    with pytest.raises(ValueError, match="skips\\[2\\]"):
        check_dag([16, 8, 8], [[], [], [1]])  # 1 -> 2 is the chain, not a skip
    with pytest.raises(ValueError, match="one list per layer"):
        check_dag([16, 8], [[]])


# -- controller ----------------------------------------------------------------------------------
def test_reinforce_raises_probability_of_best_architecture():
    """Toy reward = share of decisions equal to a target architecture's: the target alone
    scores 1. REINFORCE must make it the controller's most likely architecture."""
    n_layers, n_widths = 4, 4
    target_w, target_s = [3, 0, 2], [[], [], [0], [1]]
    n_decisions = len(target_w) + 3

    def reward(sample) -> float:
        hits = sum(a == b for a, b in zip(sample.width_idx, target_w))
        for i in range(2, n_layers):
            hits += sum((j in sample.skips[i]) == (j in target_s[i]) for j in range(i - 1))
        return hits / n_decisions

    torch.manual_seed(0)
    ctrl = Controller(n_layers, n_widths, lstm_size=32, tanh_constant=2.5)
    opt = torch.optim.Adam(ctrl.parameters(), lr=0.005)
    gen = torch.Generator().manual_seed(0)

    def log_p() -> float:
        with torch.no_grad():
            return float(ctrl(fixed=(target_w, target_s)).log_prob)

    before = log_p()
    baseline, rewards = None, []
    with one_thread():
        for _ in range(200):
            stats, baseline = reinforce_step(
                ctrl,
                opt,
                reward,
                baseline,
                entropy_weight=0.01,
                skip_weight=0.0,
                baseline_decay=0.9,
                n_samples=4,
                generator=gen,
            )
            rewards += [s["reward"] for s in stats]
    after = log_p()
    # p(target) rose from ~0.2% (uniform over 4^3 widths x 2^3 skip sets) to more than 50%
    assert before < np.log(0.01)
    assert after > np.log(0.5), (before, after)
    assert np.mean(rewards[-100:]) > np.mean(rewards[:100]) + 0.2
    with torch.no_grad():
        mode = ctrl(greedy=True)
    assert mode.width_idx == target_w
    assert mode.skips == target_s


def test_skip_penalty_pulls_density_to_target():
    torch.manual_seed(0)
    ctrl = Controller(6, 2, lstm_size=16, skip_target=0.1)
    opt = torch.optim.Adam(ctrl.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(1)
    baseline, dens = None, []
    for _ in range(80):
        stats, baseline = reinforce_step(
            ctrl,
            opt,
            lambda s: 0.5,
            baseline,
            entropy_weight=0.0,
            skip_weight=1.0,
            baseline_decay=0.9,
            generator=gen,
        )
        dens += [s["skip_density"] for s in stats]
    assert np.mean(dens[-30:]) < 0.2 < np.mean(dens[:10]) + 0.3


# -- search --------------------------------------------------------------------------------------
@pytest.fixture
def tiny_data(adata):
    return prepare_labelled(adata, "label", seed=0)


def test_enas_ranks_candidates_in_bounded_blocks(tiny_data, monkeypatch):
    """The ranking of the candidates on the val split reads it in blocks of at most
    BLOCK_VALUES values, as prediction does (it densified up to 1,024 rows of every gene)."""
    from scautogenome.data import _transform
    from scautogenome.search import _enas

    n_genes = tiny_data.X.shape[1]
    monkeypatch.setattr(_transform, "BLOCK_VALUES", 10 * n_genes)  # 10 rows
    seen = []
    real = _enas._shared_eval

    def spy(supernet, loader, *args, **kwargs):
        seen.append(max(x.shape[0] for x, _ in loader))
        return real(supernet, loader, *args, **kwargs)

    monkeypatch.setattr(_enas, "_shared_eval", spy)
    cfg = sag_config.load(TINY_RRFCN, mode="rrfcn")
    run_enas(tiny_data, cfg, device=torch.device("cpu"), seed=3)
    assert seen
    assert max(seen) <= 10


def test_run_enas_same_seed_same_result(tiny_data):
    cfg = sag_config.load(TINY_RRFCN, mode="rrfcn")
    a = run_enas(tiny_data, cfg, device=torch.device("cpu"), seed=3)
    b = run_enas(tiny_data, cfg, device=torch.device("cpu"), seed=3)
    assert a.architecture == b.architecture
    assert a.best_value == b.best_value
    cols = [c for c in TRIAL_COLUMNS if c != "seconds"]
    assert a.trials[cols].equals(b.trials[cols])
    for k, v in a.state_dict.items():
        assert torch.equal(v, b.state_dict[k]), k
    assert [h["child_loss"] for h in a.search_history] == [
        h["child_loss"] for h in b.search_history
    ]
    # the table: controller samples, ranked candidates, the retrained top k
    t = a.trials
    assert list(t.columns) == list(TRIAL_COLUMNS)
    assert (t["state"] == "sampled").sum() == 2 * 4 * cfg["rrfcn"]["controller_samples"]
    assert (t["state"] == "complete").sum() == 2
    assert t.loc[str(a.best_trial), "state"] == "complete"
    assert t.loc[str(a.best_trial), "value"] == a.best_value
    arch = json.loads(t.loc[str(a.best_trial), "architecture"])
    assert arch == a.architecture
    check_dag(arch["widths"], arch["skips"])
    assert arch["widths"][0] == 64
    assert set(arch["widths"][1:]) <= {16, 32, 64}


def test_optuna_strategy_samples_the_same_space(tiny_data):
    cfg = sag_config.load(
        {**TINY_RRFCN, "rrfcn": {**TINY_RRFCN["rrfcn"], "strategy": "optuna"}}, mode="rrfcn"
    )
    res = run_search(tiny_data, optuna_rrfcn_config(cfg), device=torch.device("cpu"), seed=0)
    assert res.architecture["kind"] == "rrfcn"
    assert len(res.architecture["widths"]) == 4
    # trials_table (Optuna) and the ENAS table share their columns
    assert list(res.trials.columns) == list(TRIAL_COLUMNS)


def test_optuna_strategy_starts_from_ones_own_point(tiny_data):
    """A user's RRFCN point (widths and skip bits by their trial names) is in the space: it is
    tried first, not skipped as "not in the search space"."""
    import json

    point = {"rrfcn_width_1": 16, "rrfcn_width_2": 64, "rrfcn_skip_2_0": 1, "lr": 2e-3}
    cfg = sag_config.load(
        {
            **TINY_RRFCN,
            "rrfcn": {**TINY_RRFCN["rrfcn"], "strategy": "optuna"},
            "search": {"initial_trials": [point]},
        },
        mode="rrfcn",
    )
    res = run_search(tiny_data, optuna_rrfcn_config(cfg), device=torch.device("cpu"), seed=0)
    first = json.loads(res.trials["params"].iloc[0])
    assert {k: first[k] for k in point} == point


def test_config_validation_and_auto_rule():
    cfg = sag_config.default("rrfcn")
    assert cfg["rrfcn"]["n_layers"] == 6
    assert cfg["rrfcn"]["first_width"] == 2048
    assert cfg["rrfcn"]["top_k_candidates"] == 2
    for bad, match in [
        ({"n_layers": 0}, "n_layers"),
        ({"widths": []}, "widths"),
        ({"skip_target": 1.5}, "skip_target"),
        ({"entropy_weight": -1.0}, "entropy_weight"),
        ({"top_k_candidates": 20, "n_candidates": 4}, "top_k_candidates"),
        ({"strategy": "darts"}, "strategy"),
        ({"controller_lr": "fast"}, "controller_lr"),
    ]:
        with pytest.raises(ValueError, match=match):
            sag_config.load({"rrfcn": bad}, mode="rrfcn")
    with pytest.raises(ValueError, match="unknown key"):
        sag_config.load({"rrfcn": {"layers": 3}})
    assert not rrfcn_in_auto(sag_config.load(None, mode="auto"))  # 600 s: no RRFCN
    assert rrfcn_in_auto(sag_config.load({"budget": {"time_budget": 3600}}, mode="auto"))
    assert not rrfcn_in_auto(sag_config.load({"budget": {"time_budget": 3600}}, mode="resnet"))
    # no time limit (inf, as None) has no share to give ENAS
    assert not rrfcn_in_auto(sag_config.load({"budget": {"time_budget": float("inf")}}))


# -- classify, save/load, h5ad, plot ---------------------------------------------------------------
def test_classify_rrfcn_roundtrip(adata, tmp_path, caplog):
    from scautogenome._settings import logger as sag_logger

    sag.settings.verbosity = 2  # the budget line is an info message
    sag_logger.addHandler(caplog.handler)  # sag's logger does not propagate
    try:
        model = sag.tl.classify(
            adata, "label", mode="rrfcn", config=TINY_RRFCN, model_dir=tmp_path / "m"
        )
    finally:
        sag_logger.removeHandler(caplog.handler)
    # ENAS counts no trials: its budget line says what bounds it
    assert "classify: mode=rrfcn (ENAS), device=cpu, budget: " in caplog.text
    assert " trials / " not in caplog.text
    assert model.architecture_["kind"] == "rrfcn"
    uns = adata.uns["sag"]
    arch = json.loads(uns["architecture"])
    assert arch == model.architecture_
    assert uns["best"]["mode"] == "rrfcn"
    assert uns["metrics"]["test"]["accuracy"] > 0.5  # 3 separable synthetic classes
    # saved model: same predictions, same architecture
    loaded = sag.models.Classifier.load(tmp_path / "m")
    assert loaded.architecture_ == model.architecture_
    np.testing.assert_allclose(loaded.predict_proba(adata), adata.obsm["sag_proba"], atol=1e-5)
    saved = json.loads((tmp_path / "m" / "model.json").read_text())
    assert saved["architecture"]["skips"] == arch["skips"]
    # h5ad round trip of everything classify wrote, trials table included
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    assert json.loads(back.uns["sag"]["architecture"]) == arch
    trials = back.uns["sag"]["trials"]
    assert set(trials["state"]) == {"sampled", "ranked", "complete"}
    # the DAG plot from the annotated AnnData and from the loaded model
    ax = sag.pl.architecture(back, show=False)
    assert isinstance(ax, Axes)
    assert "RRFCN" in ax.get_title()
    fig = sag.pl.architecture(loaded, show=False, show_candidates=True, return_fig=True)
    assert fig.axes
    plt.close("all")
    # explained like any other classifier
    sag.tl.explain(adata, loaded, n_explain=20, n_background=10, nsamples=20)
    assert adata.varm["sag_shap"].shape == (adata.n_vars, 3 + 1)  # classes + overall
    assert np.isfinite(adata.varm["sag_shap"]).all()


def test_auto_with_rrfcn_when_budget_allows(adata, tmp_path, caplog):
    cfg = {
        **TINY_RRFCN,
        "budget": {"n_trials": 2, "time_budget": 20},
        "rrfcn": {**TINY_RRFCN["rrfcn"], "auto_min_time_budget": 10},
        "space": {"common": {"batch_size": [64]}},
    }
    url = f"sqlite:///{tmp_path / 's.db'}"
    sag._settings.logger.addHandler(caplog.handler)
    try:
        sag.tl.classify(adata, "label", mode="auto", config=cfg, storage=url)
    finally:
        sag._settings.logger.removeHandler(caplog.handler)
    # the storage keeps the Optuna part only, and says so
    assert "its RRFCN search by ENAS runs in memory, is not stored" in caplog.text
    trials = adata.uns["sag"]["trials"]
    assert trials["number"].is_unique
    assert "rrfcn" in set(trials["mode"])
    assert set(trials["mode"]) - {"rrfcn"}  # the Optuna trials of the other families
    best = adata.uns["sag"]["best"]
    assert trials.loc[str(best["trial"]), "mode"] == best["mode"]
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    assert len(back.uns["sag"]["trials"]) == len(trials)


def test_architecture_plot_errors(adata):
    with pytest.raises(KeyError, match="classify"):
        sag.pl.architecture(adata, show=False)
    with pytest.raises(ValueError, match="kind='transformer'"):
        sag.pl.architecture({"kind": "transformer", "layers": 2}, show=False)
    _, ax = plt.subplots()
    out = sag.pl.architecture(
        {"kind": "mlp", "units": [32, 16], "n_inputs": 10, "n_outputs": 2}, ax=ax, show=False
    )
    assert out is ax
    plt.close("all")


def test_architecture_plot_densenet_matches_the_network():
    """The DenseNet DAG has one node per FC unit of the built network, with its width, and the
    concatenation edges that give every unit (and the head) its input width."""
    from scautogenome.nn import build_network
    from scautogenome.plotting._architecture import _graph

    arch = {
        "kind": "densenet",
        "n_inputs": 50,
        "n_outputs": 4,
        "blocks": [3, 2],
        "growth_rate": 16,
        "compression": 0.5,
    }
    linears = [m for m in build_network(arch).modules() if isinstance(m, torch.nn.Linear)]
    widths, chain, skips, combine = _graph(arch)
    assert widths == [m.out_features for m in linears[:-1]]  # stem, units, transition
    assert combine == "C"
    # every node's input width = the widths of the nodes feeding it (chain + skips)
    for target, lin in enumerate(linears[1:], start=1):
        # the last unit -> output arrow is drawn apart from `chain`
        feeds = chain + skips + [(len(widths) - 1, len(widths))]
        sources = [a for a, b in feeds if b == target]
        assert sum(widths[a] for a in sources) == lin.in_features, target
    ax = sag.pl.architecture(arch, show=False)
    assert "RFCN-DenseNet: 7 FC units" in ax.get_title()
    plt.close("all")


@pytest.mark.parametrize("where", ["search", "retrain"])
def test_an_interrupted_enas_search_says_so_and_writes_nothing(
    adata, sag_caplog, monkeypatch, where
):
    """Ctrl-C in ENAS's search or in its retraining: one line says what was lost (ENAS keeps
    nothing, not even with a storage), as the Optuna search's line does; the data is as it was."""
    from scautogenome.search import _enas

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(
        _enas, "reinforce_step" if where == "search" else "train_on_data", interrupted
    )
    before = (list(adata.obs.columns), list(adata.obsm), list(adata.uns))
    with pytest.raises(KeyboardInterrupt):
        sag.tl.classify(adata, "label", mode="rrfcn", config=TINY_RRFCN)
    said = [r.getMessage() for r in sag_caplog.records if "interrupted" in r.getMessage()]
    assert len(said) == 1, said
    assert said[0].startswith(f"RRFCN search (ENAS) interrupted in its {where}")
    assert "nothing was written into the data" in said[0]
    assert "runs again in full" in said[0]
    assert (list(adata.obs.columns), list(adata.obsm), list(adata.uns)) == before


def test_enas_networks_read_the_genes_that_vary(adata):
    """The supernet, the retrained candidates and the parameter counts of the trial table are
    of the genes that vary on the training cells."""
    from scipy import sparse

    X = adata.X.toarray()
    X[:, 170:] = 0
    adata = adata.copy()
    adata.X = sparse.csr_matrix(X)
    data = prepare_labelled(adata, "label", seed=0)
    cfg = sag_config.load(TINY_RRFCN, mode="rrfcn")
    res = run_enas(data, cfg, device=torch.device("cpu"), seed=3)
    np.testing.assert_array_equal(res.state_dict["genes.index"].numpy(), np.arange(170))
    net = build_network(res.architecture, reads=np.arange(170))
    net.load_state_dict(res.state_dict)
    t = res.trials
    best = t.loc[str(res.best_trial)]
    assert best["n_params"] == sum(p.numel() for p in net.parameters())
    for _, row in t[t["state"] != "complete"].iterrows():
        arch = json.loads(row["architecture"])
        assert row["n_params"] == rrfcn_n_params(170, 3, arch["widths"], arch["skips"])


def test_enas_retraining_shows_its_progress(adata, sag_caplog, capfd):
    """The retraining of the top candidates (40% of the budget, minutes at the defaults) says
    which candidate it trains and shows its epochs, as a model's fit does."""
    sag.settings.progress_bar = True
    sag.settings.verbosity = 2  # bars need verbosity >= info
    sag.tl.classify(adata, "label", mode="rrfcn", config=TINY_RRFCN)
    n = min(TINY_RRFCN["rrfcn"].get("top_k_candidates", 2), 2)
    # the candidates counted alike at the start and at the end: the drawn and the greedy one
    assert "2 alternations, 3 drawn candidates and the greedy one" in sag_caplog.text
    assert f"enas: retraining candidate 1 of {n} (widths " in sag_caplog.text
    err = capfd.readouterr().err
    assert "retraining candidate 1:" in err  # its epoch bar


def test_enas_bar_shows_the_time_left_not_an_eta_of_its_epochs(adata, capfd, monkeypatch):
    """With a time budget the alternations end at their share of it, whatever the epoch count
    says: the bar shows the time left, as the search's does, not tqdm's ETA from the epochs'
    rate; an undefined reward (no controller step yet) is not shown as nan."""
    import re

    from scautogenome import _logging

    monkeypatch.setattr(_logging, "interactive", lambda: True)
    sag.settings.progress_bar = True
    sag.settings.verbosity = 2
    cfg = {**TINY_RRFCN, "budget": {"n_trials": None, "time_budget": 60}}
    sag.tl.classify(adata, "label", mode="rrfcn", config=cfg)
    err = capfd.readouterr().err
    frames = [f.split("\n")[0] for f in err.split("\r") if f.startswith("enas: ")]
    assert frames
    assert all("time left=" in f for f in frames if re.match(r"enas: [12]/2 epochs", f)), frames
    assert not any(re.search(r"<\d", f) for f in frames), frames  # no ETA
    assert not any("nan" in f for f in frames), frames


# -- pinned by mutation testing: ENAS ranking, budget shares, targets, controller -----------------
class _FakeClock:
    """A stand-in for ``time`` in :mod:`scautogenome.search._enas`: ``perf_counter`` returns
    ``now`` (from the real clock's reading at creation) and then moves it ``tick`` seconds, so
    the search's deadlines are met after a known number of looks at the clock, whatever the
    machine's speed. Training (another module) keeps the real clock."""

    def __init__(self, tick: float = 0.0) -> None:
        import time

        self.now = time.perf_counter()
        self.tick = float(tick)

    def perf_counter(self) -> float:
        now = self.now
        self.now += self.tick
        return now


def _fake_enas_clock(monkeypatch, tick: float = 0.0) -> _FakeClock:
    import types

    from scautogenome.search import _enas

    clock = _FakeClock(tick)
    monkeypatch.setattr(_enas, "time", types.SimpleNamespace(perf_counter=clock.perf_counter))
    return clock


class _Stop(Exception):
    """Raised by a spy to end a run once what the test checks has been set up."""


def _age_data(adata):
    """``adata`` with a numeric target of standard deviation 10 (ages), prepared for it."""
    adata = adata.copy()
    adata.obs["age"] = np.random.default_rng(0).normal(50, 10, adata.n_obs)
    return prepare_labelled(adata, "age", task="regression", seed=0)


# a tiny regression ENAS run
TINY_RRFCN_REG = {
    "budget": {"time_budget": None},
    "trainer": {"max_epochs": 2, "patience": 2, "min_epochs": 1},
    "search": {"metric": "r2"},
    "rrfcn": {
        "n_layers": 3,
        "first_width": 32,
        "widths": [16, 32],
        "epochs": 2,
        "controller_steps": 2,
        "child_batch_size": 64,
        "n_candidates": 2,
        "top_k_candidates": 1,
    },
}


def test_enas_retrains_the_best_ranked_candidates(tiny_data):
    """The candidates are ranked best first (by shared-weight score, then loss) and the first
    ``top_k_candidates`` of that ranking are the ones retrained. Ranked the other way round,
    ENAS would spend its retraining on the candidates it found worst and keep one of them."""
    cfg = sag_config.load(
        {
            **TINY_RRFCN,
            "trainer": {"max_epochs": 2, "patience": 2, "min_epochs": 1},
            "rrfcn": {**TINY_RRFCN["rrfcn"], "n_candidates": 5, "top_k_candidates": 3},
        },
        mode="rrfcn",
    )
    res = run_enas(tiny_data, cfg, device=torch.device("cpu"), seed=3)
    t = res.trials
    ranked = t[t["state"] == "ranked"]
    assert len(ranked) >= 3
    assert [json.loads(p)["rank"] for p in ranked["params"]] == list(range(len(ranked)))
    keys = [(-v, loss) for v, loss in zip(ranked["value"], ranked["val_loss"])]
    assert keys == sorted(keys), ranked[["value", "val_loss"]]
    assert ranked["value"].iloc[0] > ranked["value"].iloc[-1]  # the ranking is not all ties
    done = t[t["state"] == "complete"]
    assert len(done) == 3
    assert list(done["architecture"]) == list(ranked["architecture"].iloc[:3])
    assert [json.loads(p)["rank"] for p in done["params"]] == [0, 1, 2]
    assert res.best_value == done["value"].max()


def test_enas_search_share_bounds_the_alternating_phase(tiny_data, monkeypatch):
    """With a time budget, the alternations (shared weights + controller) stop at
    ``search_share`` of it, however many epochs are configured, leaving the rest to rank and
    retrain the candidates. Bounded by the whole budget instead, a huge ``epochs`` would use
    all the time on the search and leave the retraining none. A fake clock ticks 1 s at every
    look, so the share is reached after a known amount of work."""
    _fake_enas_clock(monkeypatch, tick=1.0)
    budget = 100.0
    cfg = sag_config.load(
        {
            "budget": {"time_budget": budget},
            "trainer": {"max_epochs": 2, "patience": 2, "min_epochs": 1},
            "rrfcn": {
                **TINY_RRFCN["rrfcn"],
                "epochs": 100_000,
                "search_share": 0.2,
                "controller_steps": 2,
                "n_candidates": 1,
                "top_k_candidates": 1,
            },
        },
        mode="rrfcn",
    )
    res = run_enas(tiny_data, cfg, device=torch.device("cpu"), seed=0)
    seconds = [h["seconds"] for h in res.search_history]
    assert 1 < len(seconds) < 100_000
    # past 20 s (its share) by the few looks at the clock of one epoch at most
    assert 0.2 * budget < seconds[-1] < 0.3 * budget, seconds
    assert seconds[-2] <= 0.2 * budget, seconds
    assert (res.trials["state"] == "complete").sum() == 1


def test_enas_no_controller_step_after_its_time_share(tiny_data, monkeypatch):
    """When the time share ends during the shared weights' pass, that epoch takes no
    controller step: no REINFORCE update (and no "sampled" row) after the share is spent.
    Otherwise the controller would go on stepping past the share, eating into the time of
    the retraining. A fake clock ticks 1 s at every look: the share (1.5 s) ends in the
    first epoch's second minibatch."""
    _fake_enas_clock(monkeypatch, tick=1.0)
    cfg = sag_config.load(
        {
            "budget": {"time_budget": 3.0},
            "trainer": {"max_epochs": 2, "patience": 2, "min_epochs": 1},
            "rrfcn": {
                "n_layers": 3,
                "first_width": 32,
                "widths": [16, 32],
                "epochs": 5,
                "search_share": 0.5,
                "controller_steps": 3,
                "child_batch_size": 64,
                "n_candidates": 1,
                "top_k_candidates": 1,
            },
        },
        mode="rrfcn",
    )
    res = run_enas(tiny_data, cfg, device=torch.device("cpu"), seed=0)
    assert len(res.search_history) == 1
    assert (res.trials["state"] == "sampled").sum() == 0, res.trials["state"].value_counts()
    assert np.isnan(res.search_history[0]["reward"])


def test_enas_candidate_deadlines_share_the_time_left(tiny_data, monkeypatch):
    """Each retrained candidate gets the time left divided by the candidates still to train:
    the first of two gets half the remaining budget, and what it leaves goes to the second
    (here: to the end of the budget). Split over all candidates every time, the last one
    would stop early with time unused. The ENAS clock is frozen, and moved 100 s by each
    retraining."""
    from scautogenome.search import _enas

    clock = _fake_enas_clock(monkeypatch)
    start = clock.now
    calls = []
    real = _enas.train_on_data

    def spy(*args, **kwargs):
        calls.append((clock.now, kwargs["deadline"]))
        out = real(*args, **kwargs)
        clock.now += 100.0  # it took 100 s
        return out

    monkeypatch.setattr(_enas, "train_on_data", spy)
    cfg = sag_config.load(
        {
            "budget": {"time_budget": 1000.0},
            "trainer": {"max_epochs": 2, "patience": 2, "min_epochs": 1},
            "rrfcn": {**TINY_RRFCN["rrfcn"], "epochs": 1, "controller_steps": 2},
        },
        mode="rrfcn",
    )
    run_enas(tiny_data, cfg, device=torch.device("cpu"), seed=0)
    assert len(calls) == 2
    (t1, d1), (t2, d2) = calls
    assert (t1, t2) == (start, start + 100.0)
    assert d1 == pytest.approx(start + 500.0)  # half of 1000 s
    assert d2 == pytest.approx(start + 1000.0)  # all that is left: 900 s


@pytest.mark.parametrize("balance", ["weights", "sampler", "none"])
def test_enas_class_balance_reaches_the_loss_or_the_sampler(tiny_data, monkeypatch, balance):
    """``rrfcn.class_balance="weights"`` weighs the shared weights' cross-entropy by inverse
    class frequency and samples minibatches uniformly; ``"sampler"`` samples minibatches by
    inverse class frequency with an unweighted loss; ``"none"`` neither. Swapped, the
    setting a user picks for an imbalanced data set would do the other thing (or nothing)."""
    from scautogenome.search import _enas

    seen = {}
    real_loader, real_ce = _enas.BatchLoader, torch.nn.CrossEntropyLoss

    def loader(*args, **kwargs):
        if kwargs.get("shuffle") and "sample_weights" in kwargs:  # the training minibatches
            seen["sample_weights"] = kwargs["sample_weights"]
        return real_loader(*args, **kwargs)

    def ce(*args, **kwargs):
        seen["ce_weight"] = kwargs.get("weight")
        return real_ce(*args, **kwargs)

    def stop(*args, **kwargs):
        raise _Stop

    monkeypatch.setattr(_enas, "BatchLoader", loader)
    monkeypatch.setattr(_enas.nn, "CrossEntropyLoss", ce)
    monkeypatch.setattr(_enas, "progress", stop)  # the alternations' bar: all is set up
    cfg = sag_config.load(
        {**TINY_RRFCN, "rrfcn": {**TINY_RRFCN["rrfcn"], "class_balance": balance}}, mode="rrfcn"
    )
    with pytest.raises(_Stop):
        run_enas(tiny_data, cfg, device=torch.device("cpu"), seed=0)
    assert set(seen) == {"sample_weights", "ce_weight"}
    y = tiny_data.codes[tiny_data.rows("train")]
    counts = np.bincount(y, minlength=3)
    inv = counts.sum() / (3 * counts)
    if balance == "weights":
        assert seen["sample_weights"] is None
        np.testing.assert_allclose(seen["ce_weight"].numpy(), inv, rtol=1e-6)
    elif balance == "sampler":
        assert seen["ce_weight"] is None
        np.testing.assert_allclose(seen["sample_weights"], inv[y], rtol=1e-12)
    else:
        assert seen["sample_weights"] is None
        assert seen["ce_weight"] is None


def test_enas_regression_trains_on_the_standardized_target(adata):
    """For a numeric target (here of standard deviation 10), the shared weights train, and the
    candidates are ranked, on the standardized target: the ranked candidates' MSE is of order
    1, not of order 100 (the raw target's variance), which would swamp the rewards."""
    data = _age_data(adata)
    res = run_enas(
        data, sag_config.load(TINY_RRFCN_REG, mode="rrfcn"), device=torch.device("cpu"), seed=0
    )
    ranked = res.trials[res.trials["state"] == "ranked"]
    assert len(ranked)
    assert (ranked["val_loss"] < 5).all(), ranked["val_loss"].tolist()


def test_enas_regression_reward_is_floored_at_minus_one(adata, monkeypatch):
    """The controller's reward on a numeric target is ``1 - MSE`` of the standardized target,
    floored at -1: a shared network far off the target (as an untrained one can be) scores
    -1, not -100, so one bad architecture cannot dominate the REINFORCE baseline."""
    from scautogenome.search import _enas

    real = _enas.make_supernet

    def far_off(*args, **kwargs):
        net = real(*args, **kwargs)
        with torch.no_grad():
            net.head.bias.fill_(10.0)  # outputs ~10 standard deviations off
        return net

    monkeypatch.setattr(_enas, "make_supernet", far_off)
    cfg = sag_config.load(
        {
            **TINY_RRFCN_REG,
            "rrfcn": {**TINY_RRFCN_REG["rrfcn"], "epochs": 1, "n_candidates": 1},
        },
        mode="rrfcn",
    )
    res = run_enas(_age_data(adata), cfg, device=torch.device("cpu"), seed=0)
    rewards = res.trials.loc[res.trials["state"] == "sampled", "value"]
    assert len(rewards)
    assert rewards.min() == -1.0, rewards.tolist()  # the floor, reached
    assert (rewards <= 1.0).all()


def test_enas_candidates_include_the_controllers_most_likely_architecture(tiny_data, monkeypatch):
    """Besides ``n_candidates`` sampled architectures, the controller's most likely one (its
    greedy decode) is ranked as a candidate: the architecture the search converged to is
    never left out by chance."""
    from scautogenome.search import _enas

    greedy = []
    real = _enas.Controller.forward

    def spy(self, **kwargs):
        out = real(self, **kwargs)
        if kwargs.get("greedy"):
            greedy.append(out.architecture(64, [16, 32, 64]))
        return out

    monkeypatch.setattr(_enas.Controller, "forward", spy)
    cfg = sag_config.load(
        {
            **TINY_RRFCN,
            "trainer": {"max_epochs": 2, "patience": 2, "min_epochs": 1},
            "rrfcn": {**TINY_RRFCN["rrfcn"], "epochs": 1, "controller_steps": 2},
        },
        mode="rrfcn",
    )
    res = run_enas(tiny_data, cfg, device=torch.device("cpu"), seed=3)
    assert len(greedy) == 1, greedy
    w, s = greedy[0]
    ranked = [
        json.loads(a) for a in res.trials.loc[res.trials["state"] == "ranked", "architecture"]
    ]
    assert any(a["widths"] == w and a["skips"] == s for a in ranked), (greedy, ranked)


def test_auto_mode_runs_rrfcn_from_its_minimum_budget_and_gives_optuna_its_share():
    """``mode="auto"`` runs RRFCN from ``time_budget == auto_min_time_budget`` (1800 s) up,
    and its Optuna study of the other families gets ``1 - auto_share`` of the budget (the
    rest is ENAS's): a user giving exactly the documented minimum gets RRFCN, and the
    MLP/RFCN search does not eat the share meant for ENAS."""
    from scautogenome.search._enas import optuna_study_config

    cfg = sag_config.load({"budget": {"time_budget": 1800}}, mode="auto")
    assert cfg["rrfcn"]["auto_min_time_budget"] == 1800
    assert rrfcn_in_auto(cfg)
    assert not rrfcn_in_auto(sag_config.load({"budget": {"time_budget": 1799}}, mode="auto"))
    cfg = sag_config.load({"budget": {"time_budget": 3600}}, mode="auto")
    share = cfg["rrfcn"]["auto_share"]
    assert 0 < share < 0.5
    assert optuna_study_config(cfg)["budget"]["time_budget"] == pytest.approx(3600 * (1 - share))


@pytest.mark.parametrize(("hpo_value", "enas_value"), [(0.9, 0.7), (0.7, 0.9)])
def test_auto_mode_splits_the_budget_and_keeps_the_better_search(
    monkeypatch, hpo_value, enas_value
):
    """In ``mode="auto"`` with RRFCN the Optuna search gets ``1 - auto_share`` of the budget
    and ENAS the time left after it; the better search by validation is kept, and the ENAS
    rows are numbered after the Optuna trials, so the kept trial's number points at its row
    (not at an Optuna trial's). Both searches are stand-ins; the ENAS clock is fake."""
    import pandas as pd

    from scautogenome.search import _enas
    from scautogenome.search._enas import EnasResult, search_with_rrfcn
    from scautogenome.search._study import SearchResult

    cfg = sag_config.load({"budget": {"time_budget": 3600}}, mode="auto")
    share = cfg["rrfcn"]["auto_share"]
    clock = _fake_enas_clock(monkeypatch)
    budgets = {}

    def result(cls, kind, value, numbers, best):
        trials = pd.DataFrame(
            {"number": numbers, "state": "complete", "value": 0.5},
            index=[str(n) for n in numbers],
        )
        return cls(
            architecture={"kind": kind},
            train_params={},
            state_dict={},
            history=[],
            best_value=value,
            best_trial=best,
            trials=trials,
            study_name="s",
            seconds=0.0,
        )

    def fake_search(data, config, **kwargs):
        budgets["optuna"] = config["budget"]["time_budget"]
        clock.now += budgets["optuna"]  # it used all of its share
        out = result(SearchResult, "mlp", hpo_value, [0, 1, 2], 1)
        out.n_threads = 3  # its trials' thread count, which the ENAS part may reset
        return out

    def fake_enas(data, config, **kwargs):
        budgets["enas"] = config["budget"]["time_budget"]
        return result(EnasResult, "rrfcn", enas_value, [0, 1], 1)

    monkeypatch.setattr(_enas, "run_search", fake_search)
    monkeypatch.setattr(_enas, "run_enas", fake_enas)
    res = search_with_rrfcn(None, cfg, device=torch.device("cpu"))
    assert budgets["optuna"] == pytest.approx(3600 * (1 - share))
    assert budgets["enas"] == pytest.approx(3600 * share)
    assert res.best_value == max(hpo_value, enas_value)
    assert res.architecture["kind"] == ("mlp" if hpo_value > enas_value else "rrfcn")
    assert list(res.trials["number"]) == [0, 1, 2, 3, 4]
    assert res.trials.index.is_unique
    assert res.best_trial == (1 if hpo_value > enas_value else 3 + 1)
    assert res.trials.loc[str(res.best_trial), "number"] == res.best_trial
    # the thread count the kept weights trained on (None for ENAS's: retrained here, now)
    assert res.n_threads == (3 if hpo_value > enas_value else None)


def test_enas_uses_the_spaces_fixed_activation(tiny_data):
    """A fixed ``act`` of the space (here ELU) is the RRFCN's activation: in the supernet
    the search trains and in the architecture it keeps, not ReLU regardless."""
    from scautogenome.search._enas import _activation, make_supernet

    cfg = sag_config.load({**TINY_RRFCN, "space": {"common": {"act": "elu"}}}, mode="rrfcn")
    assert _activation(cfg) == "elu"
    assert isinstance(make_supernet(cfg, 50, 3).act, torch.nn.ELU)
    cfg["rrfcn"].update(epochs=1, controller_steps=1, n_candidates=1, top_k_candidates=1)
    cfg["trainer"].update(max_epochs=1, min_epochs=1)
    res = run_enas(tiny_data, cfg, device=torch.device("cpu"), seed=0)
    assert res.architecture["act"] == "elu"
    net = build_network(res.architecture)
    assert any(isinstance(m, torch.nn.ELU) for m in net.modules())
    assert not any(isinstance(m, torch.nn.ReLU) for m in net.modules())


def test_controller_entropy_is_that_of_its_width_choice():
    """The entropy the controller reports (and REINFORCE adds as a bonus) is
    ``-sum p log p`` of its decisions, positive: with the sign flipped the entropy bonus
    would push the controller to collapse early instead of exploring."""
    import math

    torch.manual_seed(0)
    ctrl = Controller(2, 4, lstm_size=8)  # one width decision, no skip bits
    with torch.no_grad():
        logps = [float(ctrl(fixed=([k], [[], []])).log_prob) for k in range(4)]
        ent = float(ctrl(generator=torch.Generator().manual_seed(0)).entropy)
    assert sum(math.exp(lp) for lp in logps) == pytest.approx(1.0, abs=1e-5)
    exact = -sum(math.exp(lp) * lp for lp in logps)
    assert ent > 0
    assert ent == pytest.approx(exact, abs=1e-5)


def test_reinforce_baseline_starts_at_the_first_reward_and_decays():
    """The REINFORCE baseline starts at the first reward (first advantage 0, no jolt from a
    baseline of 0) and then moves as ``decay * baseline + (1 - decay) * reward``: a slow
    moving average, not one that jumps to the newest reward."""
    torch.manual_seed(0)
    ctrl = Controller(4, 3, lstm_size=8)
    opt = torch.optim.SGD(ctrl.parameters(), lr=0.0)  # no update: the bookkeeping only
    rewards = iter([0.2, 0.6, 0.4])
    kw = {"entropy_weight": 0.0, "skip_weight": 0.0, "baseline_decay": 0.9}
    stats, b = reinforce_step(ctrl, opt, lambda s: next(rewards), None, **kw)
    assert stats[0]["advantage"] == 0.0
    assert b == 0.2
    stats, b = reinforce_step(ctrl, opt, lambda s: next(rewards), b, **kw)
    assert stats[0]["advantage"] == pytest.approx(0.6 - 0.2)
    assert b == pytest.approx(0.9 * 0.2 + 0.1 * 0.6)
    assert stats[0]["baseline"] == b
    stats, b2 = reinforce_step(ctrl, opt, lambda s: next(rewards), b, **kw)
    assert stats[0]["advantage"] == pytest.approx(0.4 - b)
    assert b2 == pytest.approx(0.9 * b + 0.1 * 0.4)


def test_supernet_input_keep_is_a_keep_ratio():
    """``input_keep=0.9`` keeps 90% of the genes (drops 10%) in the supernet, as in the RRFCN
    retrained from it; read as a drop rate the search would train on 10% of the genes."""
    sn = RRFCNSupernet(10, 3, n_layers=3, first_width=8, widths=[4, 8], input_keep=0.9)
    rr = RRFCN(10, 3, widths=[8, 8, 8], skips=[[], [], []], input_keep=0.9)
    assert sn.input_drop.p == pytest.approx(0.1)
    assert rr.input_drop.p == pytest.approx(0.1)


def test_resolve_space_caps_the_first_width_at_a_power_of_two_of_the_genes():
    """The first unit is no wider than the largest power of two not above the number of genes
    (900 genes: 512, as documented; 1024 genes: 1024), and wider candidate widths are dropped,
    not a first layer wider than its input."""
    from scautogenome.nn import resolve_space

    space = resolve_space(900, n_layers=6, first_width=2048, widths=[16, 512, 1024, 2048])
    assert space == (6, 512, [16, 512])
    assert resolve_space(1024, n_layers=6, first_width=2048, widths=[16])[1] == 1024
    assert resolve_space(1023, n_layers=6, first_width=2048, widths=[16])[1] == 512


def test_rrfcn_head_reads_the_last_unit_also_after_equal_widths():
    """The head reads the last unit's output, also when the last two units are as wide (so
    either would fit the head): reading the one before would ignore the last unit."""
    torch.manual_seed(0)
    net = RRFCN(10, 3, widths=[8, 8, 8], skips=[[], [], [0]]).eval()
    x = torch.randn(6, 10)
    with torch.no_grad():
        h0 = net.units[0](x)
        h1 = net.units[1](h0)
        h2 = net.units[2](torch.cat([h0, h1], 1))
        assert torch.allclose(net.features(x), h2)
        assert torch.allclose(net(x), net.head(h2))


def test_supernet_check_refuses_another_first_width():
    """An architecture whose first width is not the supernet's (fixed) one is not of its
    space: ``check`` says so rather than letting it slice weights it does not have."""
    sn = RRFCNSupernet(10, 3, n_layers=3, first_width=8, widths=[4, 8])
    sn.check([8, 4, 8], [[], [], []])
    with pytest.raises(ValueError, match="first width 8"):
        sn.check([4, 8, 8], [[], [], []])


def test_an_enas_search_records_the_study_name_given(tiny_data, monkeypatch):
    """search_with_rrfcn(study_name=...) of the ENAS strategy records the name given (the
    search runs in memory, as an Optuna search without a storage, which records its name
    too); without one, ENAS's own name."""
    import copy

    from scautogenome.search import _enas

    cfg = sag_config.load(TINY_RRFCN, mode="rrfcn")
    made = run_enas(tiny_data, cfg, device=torch.device("cpu"), seed=3)
    monkeypatch.setattr(_enas, "run_enas", lambda *a, **k: copy.copy(made))
    cpu = torch.device("cpu")
    named = _enas.search_with_rrfcn(tiny_data, cfg, device=cpu, study_name="mine")
    assert named.study_name == "mine"
    plain = _enas.search_with_rrfcn(tiny_data, cfg, device=cpu)
    assert plain.study_name == "sag-rrfcn-enas"
