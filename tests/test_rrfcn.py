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
