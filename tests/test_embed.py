"""sag.tl.embed, sag.models.ResVAE, sag.pl.embedding and sag.tl.embedding_scores."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import anndata as ad
import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from scipy import sparse

import scautogenome as sag
from scautogenome.config import _embed as embed_config
from scautogenome.nn import build_vae
from scautogenome.tools._embed import SILHOUETTE_MB

# tiny search: 2 trials of a few epochs, one architecture family choice
TINY_EMBED = {
    "budget": {"n_trials": 2, "time_budget": None},
    "trainer": {"max_epochs": 6, "patience": 3, "min_epochs": 2, "kl_warmup_epochs": 2},
    "search": {"prune_warmup_epochs": 2, "n_startup_trials": 2},
    "space": {"n_layers": [3], "batch_size": [64], "first_width": [128, 64]},
}
ONE_TRIAL = {**TINY_EMBED, "budget": {"n_trials": 1, "time_budget": None}}
TINY_FIT = {"max_epochs": 4, "kl_warmup_epochs": 2, "batch_size": 64}
SMALL_ARCH = {"kind": "resvae", "n_latent": 5, "widths": [64, 32, 16]}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_build_vae_shapes_and_skips():
    x = torch.rand(8, 50)
    res = build_vae({"kind": "resvae", "n_inputs": 50, "n_latent": 4, "widths": [32, 16, 8]})
    vae = build_vae({"kind": "vae", "n_inputs": 50, "n_latent": 4, "widths": [32, 16, 8]})
    for net in (res, vae):
        out = net.eval()(x, sample=False)
        assert out["mu"].shape == (8, 4)
        assert out["recon"].shape == (8, 50)
        assert torch.equal(out["z"], out["mu"])
    # concatenation skips: the third encoder unit sees 16 + 32 inputs, the heads 8 + 16
    assert res.encoder.units[2][0].in_features == 48
    assert res.mean.in_features == 24
    assert vae.encoder.units[2][0].in_features == 16
    assert vae.mean.in_features == 8
    # the decoder is wired like the encoder: the latent code feeds its first unit only
    assert res.decoder.units[1][0].in_features == 8
    assert res.decoder.units[2][0].in_features == 16 + 8
    assert res.out.in_features == 32 + 16
    with pytest.raises(ValueError, match="Unknown key"):
        build_vae({"kind": "vae", "n_inputs": 5, "n_latent": 2, "widths": [4], "depth": 3})


def test_embed_writes_and_h5ad_round_trip(adata, tmp_path):
    model = sag.tl.embed(adata, config=TINY_EMBED, recon=True, model_dir=tmp_path / "m")
    emb = adata.obsm["X_sag_resvae"]
    assert emb.shape == (adata.n_obs, 10)
    assert np.isfinite(emb).all()
    assert adata.layers["sag_resvae_recon"].shape == adata.shape
    uns = adata.uns["sag_resvae"]
    assert uns["params"]["likelihood"] == "nb"  # integer counts -> negative binomial
    assert uns["params"]["mode"] == "resvae"
    assert len(uns["trials"]) == 2
    assert {"train_loss", "val_loss", "val_kl", "kl_weight"} <= set(uns["losses"])
    assert uns["seconds_per_epoch"] > 0
    assert 0 <= uns["active_dims"] <= 10
    assert isinstance(model, sag.models.ResVAE)

    path = tmp_path / "a.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    np.testing.assert_array_equal(back.obsm["X_sag_resvae"], emb)
    np.testing.assert_array_equal(back.layers["sag_resvae_recon"], adata.layers["sag_resvae_recon"])
    assert back.uns["sag_resvae"]["architecture"] == uns["architecture"]
    assert back.uns["sag_resvae"]["active_dims"] == uns["active_dims"]
    np.testing.assert_allclose(
        back.uns["sag_resvae"]["losses"]["val_loss"], uns["losses"]["val_loss"]
    )

    loaded = sag.models.ResVAE.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.get_latent(adata), emb, rtol=1e-5, atol=1e-5)
    # the searched architecture is drawn from the read-back AnnData and from the model
    import matplotlib.pyplot as plt

    ax = sag.pl.architecture(back, key="sag_resvae", show=False)
    assert ax.get_title().startswith("Res-VAE: 3 + 3 FC units, 10 latent dimensions")
    assert sag.pl.architecture(loaded, show=False, return_fig=True).axes
    plt.close("all")


@pytest.mark.parametrize("widths", [[40], [40, 24], [40, 24, 16, 8]])
@pytest.mark.parametrize("kind", ["resvae", "vae"])
def test_architecture_plot_matches_the_vae(kind, widths):
    """The drawn DAG has the encoder units, the latent code and the decoder units with the
    widths the network is built with, and every node's input width is the sum of the widths
    of the nodes feeding it (chain + concatenation skips), heads included."""
    import matplotlib.pyplot as plt

    from scautogenome.plotting._architecture import _graph

    arch = {"kind": kind, "n_inputs": 30, "n_latent": 5, "widths": widths, "likelihood": "nb"}
    net = build_vae(arch)
    drawn, chain, skips, combine = _graph(arch)
    n = len(widths)
    enc = [u[0] for u in net.encoder.units]
    dec = [u[0] for u in net.decoder.units]
    assert drawn == [m.out_features for m in enc] + [net.mean.out_features] + [
        m.out_features for m in dec
    ]
    # node i's input Linear; node n (z) is read through the mean head, the output is len(drawn)
    reads = [*enc, net.mean, *dec, net.out]
    for target in range(1, len(drawn) + 1):
        feeds = chain + skips + [(len(drawn) - 1, len(drawn))]
        sources = [a for a, b in feeds if b == target]
        assert sum(drawn[a] for a in sources) == reads[target].in_features, target
    assert (len(skips) > 0) == (kind == "resvae" and n > 1)
    assert combine == "C"
    ax = sag.pl.architecture(arch, show=False)
    texts = [t.get_text() for t in ax.texts]
    assert "z\n5" in texts
    assert "output\n30 genes\nnb" in texts
    assert f"enc {n}\n{widths[-1]}" in texts
    assert f"dec {n}\n{widths[0]}" in texts
    plt.close("all")


def test_embed_is_deterministic(adata):
    cfg = ONE_TRIAL
    other = adata.copy()
    sag.tl.embed(adata, config=cfg, seed=3, mode="vae")
    sag.tl.embed(other, config=cfg, seed=3, mode="vae")
    np.testing.assert_array_equal(adata.obsm["X_sag_resvae"], other.obsm["X_sag_resvae"])
    assert adata.uns["sag_resvae"]["architecture"] == other.uns["sag_resvae"]["architecture"]


def test_a_diverged_vae_trial_is_one_line_and_a_failed_trial(adata, monkeypatch):
    """A Res-VAE trial whose validation loss is no longer finite fails as a classify trial
    does: one line of the search's log, the trials table says "diverged", the search goes on."""
    from scautogenome.train import _vae

    real = _vae._evaluate
    calls = []

    def nan_first(*args, **kwargs):
        calls.append(1)
        out = real(*args, **kwargs)
        return {**out, "val_loss": float("nan")} if len(calls) == 1 else out

    monkeypatch.setattr(_vae, "_evaluate", nan_first)
    said = []
    monkeypatch.setattr(
        sag._settings.logger, "warning", lambda *args: said.append(args[0] % args[1:])
    )
    cfg = {**TINY_EMBED, "budget": {"n_trials": 2, "time_budget": None}}
    sag.tl.embed(adata, config=cfg, seed=0)
    (line,) = [m for m in said if "diverged" in m]
    assert re.fullmatch(
        r"trial 0 failed: training diverged: the validation loss became nan at epoch 0 "
        r"\(lr=[0-9.e-]+\); lower the learning rate\.",
        line,
    ), line
    trials = adata.uns["sag_resvae"]["trials"]
    assert (trials.loc["0", "state"], trials.loc["0", "stopped"]) == ("fail", "diverged")
    assert trials.loc["1", "state"] == "complete"


def test_fit_zinb_on_counts_and_save_load(adata, tmp_path):
    model = sag.models.ResVAE({**SMALL_ARCH, "likelihood": "zinb"}, TINY_FIT).fit(adata)
    assert model.likelihood_ == "zinb"
    lat = model.get_latent(adata)
    assert lat.shape == (adata.n_obs, 5)
    rec = model.reconstruct(adata)
    assert rec.shape == adata.shape
    assert (rec >= 0).all()  # expected counts
    # denoised, as scVI's get_normalized_expression: the negative binomial's mean at the
    # cell's library size, without the zero-inflation's dropouts, so each row adds up to its
    # cell's observed counts (they added up to half of them after a few epochs)
    lib = np.asarray(adata.X.sum(1)).ravel()
    np.testing.assert_allclose(rec.sum(1), lib, rtol=1e-3)
    model.save(tmp_path / "z")
    with pytest.raises(FileExistsError):
        model.save(tmp_path / "z")
    again = sag.models.ResVAE.load(tmp_path / "z")
    np.testing.assert_allclose(again.get_latent(adata.X), lat, rtol=1e-5, atol=1e-5)
    # genes matched by name: a shuffled query gives the same latent
    perm = np.random.default_rng(0).permutation(adata.n_vars)
    np.testing.assert_allclose(again.get_latent(adata[:, perm].copy()), lat, rtol=1e-4, atol=1e-4)
    # a DataFrame's columns are genes too, matched by name (not by position)
    df = adata.to_df().iloc[:, perm]
    np.testing.assert_allclose(again.get_latent(df), lat, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(again.reconstruct(df), rec[:, perm], rtol=1e-4, atol=1e-4)
    # too few of the model's genes is an error, as for a classifier; fewer allowed on request
    few = adata[:, : adata.n_vars // 4].copy()
    with pytest.raises(ValueError, match=r"only 50 of the model's 200 genes .*min_gene_overlap"):
        again.get_latent(few)
    assert again.get_latent(few, min_gene_overlap=0.2).shape == lat.shape


def test_a_resvae_without_its_epoch_time_saves_strict_json(adata, tmp_path):
    """A folder saved before the epoch time was recorded loads with it unknown (NaN), and
    saved again its model.json is still JSON that strict readers (jq, JavaScript) take."""
    import json

    from scautogenome.models._base import read_model_dir, write_model_dir

    model = sag.models.ResVAE(SMALL_ARCH, TINY_FIT).fit(adata)
    model.save(tmp_path / "new")
    meta, tensors = read_model_dir(tmp_path / "new", "ResVAE")
    meta.pop("seconds_per_epoch")
    write_model_dir(tmp_path / "old", meta, tensors, overwrite=False)
    old = sag.models.ResVAE.load(tmp_path / "old")
    assert np.isnan(old.seconds_per_epoch_)
    old.save(tmp_path / "again")

    def refuse(constant):
        raise ValueError(constant)

    text = (tmp_path / "again" / "model.json").read_text()
    assert json.loads(text, parse_constant=refuse)["seconds_per_epoch"] is None
    assert np.isnan(sag.models.ResVAE.load(tmp_path / "again").seconds_per_epoch_)


def test_load_weights_that_do_not_fit_the_network(adata, tmp_path):
    model = sag.models.ResVAE(SMALL_ARCH, TINY_FIT).fit(adata)
    model.save(tmp_path / "m")
    # a model saved by a version whose decoder was wired differently: one weight has
    # another shape than this version builds for the same architecture
    weights = torch.load(tmp_path / "m" / "model.pt", weights_only=True)
    key = "net.decoder.units.1.0.weight"
    weights[key] = torch.zeros(weights[key].shape[0], weights[key].shape[1] + 5)
    torch.save(weights, tmp_path / "m" / "model.pt")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    del meta["weights_sha256"]  # which that version did not record
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    meta["versions"]["scautogenome"] = "0.0.9"  # an earlier version
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(
        ValueError, match=r"saved by scautogenome 0\.0\.9.*1 mismatched weight.*Retrain"
    ):
        sag.models.ResVAE.load(tmp_path / "m")
    # the same version: a development build's, or an edit (the version cannot tell them)
    meta["versions"]["scautogenome"] = sag.__version__
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"mismatched weight.*saved by another build of this"):
        sag.models.ResVAE.load(tmp_path / "m")


def test_fit_mse_on_lognormalized(pbmc):
    arch = {**SMALL_ARCH, "kind": "vae", "likelihood": "mse"}  # the paper's squared error
    model = sag.models.ResVAE(arch, TINY_FIT).fit(pbmc)
    assert model.likelihood_ == "mse"
    assert model.transform_.value_type == "continuous"
    rec = model.reconstruct(pbmc)
    assert rec.shape == pbmc.shape
    # on the data's scale: each gene within its range on the training cells
    t = model.transform_
    assert (rec >= t.min_ - 1e-5).all()
    assert (rec <= t.min_ + np.where(np.isfinite(t.range_), t.range_, 0) + 1e-4).all()


@pytest.mark.parametrize("likelihood", ["nb", "zinb"])
def test_count_loss_is_scvi_distribution_with_gene_wise_theta(likelihood):
    # the count losses skip scvi-tools' broadcast of theta but must give the distributions'
    # log-likelihoods, values and gradients, zeros and large counts included
    pytest.importorskip("scvi")
    from scvi.distributions import NegativeBinomial, ZeroInflatedNegativeBinomial

    from scautogenome.nn._vae import nb_log_prob, zinb_log_prob

    gen = torch.Generator().manual_seed(0)
    x = torch.poisson(torch.rand(16, 40, generator=gen) * 5)
    x[0, :5] = 0
    x[1, :5] = 300
    mu = torch.rand(16, 40, generator=gen) * 10 + 0.01
    zi = torch.randn(16, 40, generator=gen)
    log_theta = torch.randn(40, generator=gen, requires_grad=True)
    if likelihood == "nb":
        got = nb_log_prob(x, mu, torch.exp(log_theta))
        want = NegativeBinomial(mu=mu, theta=torch.exp(log_theta)).log_prob(x)
    else:
        got = zinb_log_prob(x, mu, torch.exp(log_theta), zi)
        dist = ZeroInflatedNegativeBinomial(mu=mu, theta=torch.exp(log_theta), zi_logits=zi)
        want = dist.log_prob(x)
    (g_got,) = torch.autograd.grad(got.sum(), log_theta)
    (g_want,) = torch.autograd.grad(want.sum(), log_theta)
    torch.testing.assert_close(got, want)
    # float32 sums over the cells in another order: the same to a few parts per million
    torch.testing.assert_close(g_got, g_want, rtol=1e-5, atol=1e-4)

    net = build_vae({**SMALL_ARCH, "n_inputs": 40, "likelihood": likelihood}).eval()
    out = net(torch.log1p(x), sample=False)
    recon, _ = net.loss(out, x)
    library = x.sum(dim=1, keepdim=True)
    torch.testing.assert_close(recon, -net.distribution(out, library).log_prob(x).sum(dim=1))


def test_gaussian_likelihood_is_calibrated_and_round_trips(pbmc, tmp_path):
    # the loss is the Gaussian negative log-likelihood at the batch's own squared error
    arch = {"kind": "resvae", "n_inputs": 30, "n_latent": 3, "widths": [16, 8, 4]}
    net = build_vae({**arch, "likelihood": "gaussian"})
    x = torch.rand(12, 30)
    out = net.eval()(x, sample=False)
    recon, _ = net.loss(out, x)
    sq = (out["recon"] - x).pow(2).detach()
    var = sq.mean()
    expected = 0.5 * (sq / var + torch.log(2 * torch.pi * var)).sum(1)
    torch.testing.assert_close(recon, expected)
    # a perfect fit does not divide by zero: the variance has a floor
    perfect, _ = net.loss({**out, "recon": x.clone()}, x)
    assert torch.isfinite(perfect).all()

    model = sag.models.ResVAE(SMALL_ARCH, TINY_FIT).fit(pbmc)
    assert model.likelihood_ == "gaussian"  # what "auto" picks for values that are not counts
    rec = model.reconstruct(pbmc)
    assert rec.shape == pbmc.shape
    # on the data's scale (log-normalized, up to 6.5), as for "mse"
    assert rec.max() > 1
    t = model.transform_
    assert (rec >= t.min_ - 1e-5).all()
    model.save(tmp_path / "g")
    again = sag.models.ResVAE.load(tmp_path / "g")
    np.testing.assert_allclose(again.get_latent(pbmc), model.get_latent(pbmc), rtol=1e-5, atol=1e-5)


def test_collapsed_latent_is_reported(pbmc, caplog):
    from scautogenome._settings import logger as sag_logger
    from scautogenome.models._resvae import active_dims

    z = np.zeros((50, 4), dtype=np.float32)
    z[:, 0] = np.linspace(-1, 1, 50)
    np.testing.assert_array_equal(active_dims(z), [True, False, False, False])
    # a KL weight that swamps the squared error: the latent collapses, embed says so
    data = pbmc.copy()
    sag_logger.addHandler(caplog.handler)
    try:
        sag.tl.embed(data, likelihood="mse", beta=1e4, config=ONE_TRIAL, n_latent=4)
    finally:
        sag_logger.removeHandler(caplog.handler)
    n_active = data.uns["sag_resvae"]["active_dims"]
    assert n_active < 2
    assert "posterior collapse" in caplog.text
    assert "vary across cells" in caplog.text
    assert "likelihood='gaussian'" in caplog.text
    # a fixed architecture trained with fit warns as well, naming bulk profiles as samples
    caplog.clear()
    bulk = pbmc.copy()
    bulk.uns["sag_io"] = {"reader": "read_tcga"}
    sag_logger.addHandler(caplog.handler)
    try:
        arch = {**SMALL_ARCH, "n_latent": 4, "likelihood": "mse"}
        sag.models.ResVAE(arch, {**TINY_FIT, "beta": 1e4}).fit(bulk)
    finally:
        sag_logger.removeHandler(caplog.handler)
    assert "posterior collapse" in caplog.text
    assert "vary across samples" in caplog.text


def test_bad_input_is_refused_before_work(adata):
    before = adata.copy()
    neg = adata.copy()
    neg.X = neg.X.copy()
    neg.X.data[0] = -1.0
    with pytest.raises(ValueError, match="negative values"):
        sag.tl.embed(neg, likelihood="nb", config=TINY_EMBED)
    with pytest.raises(ValueError, match="smaller than the number of genes"):
        sag.tl.embed(adata, n_latent=adata.n_vars + 1, config=TINY_EMBED)
    with pytest.raises(ValueError, match="likelihood"):
        sag.tl.embed(adata, likelihood="poisson", config=TINY_EMBED)
    with pytest.raises(KeyError, match="layer"):
        sag.tl.embed(adata, layer="counts", config=TINY_EMBED)
    with pytest.raises(ValueError, match="unknown key"):
        sag.tl.embed(adata, config={"space": {"depth": [2]}})
    nan = adata.copy()
    nan.X = nan.X.copy()
    nan.X.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        sag.tl.embed(nan, config=TINY_EMBED)
    with pytest.raises(ValueError, match="view"):
        sag.tl.embed(adata[:100], config=TINY_EMBED)
    with pytest.raises(ValueError, match="beta"):
        sag.tl.embed(adata, beta=-1.0, config=TINY_EMBED)
    # the layer embed writes its reconstruction into (or removes) is not an input
    own = adata.copy()
    own.layers["sag_resvae_recon"] = own.X.copy()
    with pytest.raises(ValueError, match="writes its reconstruction"):
        sag.tl.embed(own, layer="sag_resvae_recon", config=TINY_EMBED)
    assert "sag_resvae_recon" in own.layers
    # a space value no network can take is refused before the search, not in a later trial
    for space, key in (
        ({"decay": [0.8, 1.5]}, "decay"),
        ({"input_keep": [0.0, 0.8]}, "input_keep"),
        ({"batch_size": [64, 0]}, "batch_size"),
        ({"dropout": 1.0}, "dropout"),
        ({"act": ["relu", "tanh"]}, "act"),
        ({"lr": {"type": "float", "low": 0.0, "high": 0.1}}, "lr"),
    ):
        with pytest.raises(ValueError, match=rf"\['{key}'\]"):
            sag.tl.embed(adata, config={**TINY_EMBED, "space": {**TINY_EMBED["space"], **space}})
    # nothing was written
    assert "X_sag_resvae" not in neg.obsm
    assert "sag_resvae" not in neg.uns
    assert "X_sag_resvae" not in adata.obsm
    assert (adata.X != before.X).nnz == 0


def test_config_defaults_are_the_papers_space():
    cfg = embed_config.default()
    # the public way to them, and the module's own in a fresh interpreter
    assert sag.config.default("resvae") == cfg
    assert sag.config.default("vae")["mode"] == "vae"
    sag.config.validate(cfg)  # load and validate take an embed config as well
    assert (
        sag.config.load({"mode": "vae", "trainer": {"max_epochs": 7}})["trainer"]["max_epochs"] == 7
    )
    code = "import scautogenome as sag; print(sag.config._embed.default()['mode'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "resvae"
    assert cfg["trainer"]["beta"] == 1.0  # the plain ELBO
    assert cfg["trainer"]["kl_warmup_epochs"] is None  # half of max_epochs
    assert cfg["space"]["n_layers"] == [3, 4, 5]
    assert cfg["space"]["input_keep"] == [0.6, 0.8, 1.0]
    assert cfg["space"]["first_width"] == [4096, 2048, 1024, 512, 256, 128]
    assert cfg["space"]["decay"] == [0.8, 0.6, 0.5]
    assert cfg["space"]["dropout"] == 0.1  # scVI's encoder rate (the paper's units have none)
    with pytest.raises(ValueError, match="mode"):
        embed_config.default("pca")


def _fake_embedding(n_per: int = 40, seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    centers = np.array([[0, 0, 0], [6, 0, 0], [0, 6, 0]], dtype=np.float32)
    labels = np.repeat(np.arange(3), n_per)
    emb = centers[labels] + rng.normal(0, 0.5, (len(labels), 3)).astype(np.float32)
    a = ad.AnnData(sparse.csr_matrix((len(labels), 5), dtype=np.float32))
    a.obs["label"] = labels.astype(str)
    a.obsm["X_sag_resvae"] = emb
    return a


def test_embedding_scores_on_separated_clusters():
    a = _fake_embedding()
    s = sag.tl.embedding_scores(a, "X_sag_resvae", "label", tsne=False)
    assert s["ari"] == pytest.approx(1.0)
    assert s["nmi"] == pytest.approx(1.0)
    assert s["n_clusters"] == 3
    assert s["davies_bouldin"] < 0.5
    assert s["silhouette"] > 0.7
    assert np.isnan(s["davies_bouldin_tsne"])
    assert set(a.obsm) == {"X_sag_resvae"}  # nothing written
    assert "neighbors" not in a.uns
    assert "sag_resvae" not in a.uns


def test_embedding_scores_bound_the_silhouettes_working_memory(monkeypatch):
    """sklearn's silhouette computes its distances in chunks of up to its working_memory
    (1 GB by default): +500 MB on 10,000 cells (benchmarks/RESULTS.md). The scores bound it
    (the same values), and leave sklearn's setting as it was."""
    import sklearn
    import sklearn.metrics as skm

    seen = []
    for name in ("silhouette_score", "silhouette_samples"):
        real = getattr(skm, name)

        def spy(*args, _real=real, **kwargs):
            seen.append(sklearn.get_config()["working_memory"])
            return _real(*args, **kwargs)

        monkeypatch.setattr(skm, name, spy)
    a = _fake_embedding()
    a.obs["batch"] = np.tile(["b1", "b2"], a.n_obs // 2 + 1)[: a.n_obs]
    before = sklearn.get_config()["working_memory"]
    s = sag.tl.embedding_scores(a, "X_sag_resvae", "label", tsne=False, batch_key="batch")
    assert seen
    assert set(seen) == {SILHOUETTE_MB}
    assert sklearn.get_config()["working_memory"] == before
    monkeypatch.undo()
    assert s["silhouette"] == pytest.approx(
        float(skm.silhouette_score(a.obsm["X_sag_resvae"], a.obs["label"])), abs=1e-6
    )


def test_a_collapsed_embedding_gets_no_perfect_davies_bouldin(sag_caplog):
    """Every cell at one point (a latent that collapsed): the labels' centroids coincide and
    Davies-Bouldin is undefined, NaN with a warning; sklearn's 0 ranked it best."""
    a = _fake_embedding()
    a.obsm["X_dead"] = np.zeros((a.n_obs, 3), dtype=np.float32)
    s = sag.tl.embedding_scores(a, "X_dead", "label", tsne=False)
    assert np.isnan(s["davies_bouldin"])
    assert "centroids coincide" in sag_caplog.text
    assert sag.tl.embedding_scores(a, "X_sag_resvae", "label", tsne=False)["davies_bouldin"] < 0.5
    # every label's cells around one centre (float32, as the scores read it): coinciding
    # centroids up to rounding, though the cells spread
    rng = np.random.default_rng(0)
    spread = rng.normal(size=(a.n_obs, 5))
    for label in a.obs["label"].unique():
        rows = (a.obs["label"] == label).to_numpy()
        spread[rows] -= spread[rows].mean(axis=0)
    for one_centre in (spread, spread + 100):
        a.obsm["X_one_centre"] = one_centre
        s = sag.tl.embedding_scores(a, "X_one_centre", "label", tsne=False)
        assert np.isnan(s["davies_bouldin"]) or s["davies_bouldin"] > 1e3  # no perfect score
    # far from the origin the clusters are still apart (the index does not move)
    a.obsm["X_far"] = a.obsm["X_sag_resvae"].astype(np.float64) + 1e6
    far = sag.tl.embedding_scores(a, "X_far", "label", tsne=False)["davies_bouldin"]
    near = sag.tl.embedding_scores(a, "X_sag_resvae", "label", tsne=False)["davies_bouldin"]
    assert far == pytest.approx(near, rel=1e-3)


def test_embedding_scores_warn_about_labels_written_as_nan(caplog):
    """Labels that read like a missing value ('nan' from astype(str)) are scored as a label,
    as before, with classify's warning naming them and how to make them NaN."""
    from scautogenome._settings import logger as sag_logger

    a = _fake_embedding()
    expected = sag.tl.embedding_scores(a, "X_sag_resvae", "label", tsne=False)
    labels = a.obs["label"].to_numpy().copy()
    labels[:10] = "nan"
    a.obs["text"] = labels
    sag_logger.addHandler(caplog.handler)  # sag's logger does not propagate
    try:
        scores = sag.tl.embedding_scores(a, "X_sag_resvae", "text", tsne=False)
        assert "class(es) named like a missing value: 'nan' (10 cells)" in caplog.text
        assert "scored as labels; to leave those cells out of the scores" in caplog.text
        assert "adata.obs['text'].replace(['nan'], np.nan)" in caplog.text
        caplog.clear()
        again = sag.tl.embedding_scores(a, "X_sag_resvae", "label", tsne=False)
        assert again == pytest.approx(expected, nan_ok=True)
        assert caplog.text == ""  # none for ordinary labels
    finally:
        sag_logger.removeHandler(caplog.handler)
    assert scores["n_cells"] == a.n_obs  # the cells scored are the same
    assert scores["n_labels"] == 4


def test_embedding_scores_can_be_stored(tmp_path):
    """key_added stores them where the CLI's embed --labels and the report keep them."""
    a = _fake_embedding()
    a.uns["sag_resvae"] = {"params": {"n_latent": 3, "likelihood": "gaussian"}, "kept": "yes"}
    s = sag.tl.embedding_scores(a, "sag_resvae", "label", tsne=False, key_added="sag_resvae")
    a.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad").uns["sag_resvae"]
    assert back["kept"] == "yes"  # what was there stays
    assert back["scores"]["labels_key"] == "label"
    assert back["scores"]["basis"] == "X_sag_resvae"
    assert back["scores"]["ari"] == pytest.approx(s["ari"])
    # the counts are integers, and stay integers through h5ad
    for key in ("n_cells", "n_labels", "leiden_seeds"):
        assert type(s[key]) is int
        assert back["scores"][key] == s[key]
        assert np.issubdtype(type(back["scores"][key]), np.integer)
    sag.tl.embedding_scores(a, "X_sag_resvae", "label", tsne=False, key_added="other")
    assert set(a.uns["other"]) == {"scores"}
    # its own entry is replaced by the next scores, as an encode record is updated
    sag.tl.embedding_scores(a, "X_sag_resvae", "label", tsne=False, key_added="other", seed=1)
    assert set(a.uns["other"]) == {"scores"}
    a.uns["q"] = {"encode_params": {"key_added": "q"}}
    sag.tl.embedding_scores(a, "X_sag_resvae", "label", tsne=False, key_added="q")
    assert set(a.uns["q"]) == {"encode_params", "scores"}


def test_a_record_of_embedding_scores_alone_is_replaced_by_embed_and_encode(adata, monkeypatch):
    """A baseline scored under the key first (embedding_scores(key_added="sag_resvae"), as its
    docstring suggests) does not block embed or encode there: its record is replaced, with a
    log line; another tool names it rightly."""
    from scautogenome import _settings

    rng = np.random.default_rng(0)
    adata.obsm["X_base"] = rng.normal(size=(adata.n_obs, 3)).astype(np.float32)
    query = adata.copy()
    for a, key in ((adata, "sag_resvae"), (query, "q")):
        sag.tl.embedding_scores(a, "X_base", "label", tsne=False, key_added=key)
        assert set(a.uns[key]) == {"scores"}
    said = []
    monkeypatch.setattr(_settings.logger, "info", lambda *a: said.append(a[0] % a[1:]))
    model = sag.tl.embed(adata, config=ONE_TRIAL)
    replaced = (
        "replaced adata.uns['sag_resvae'], the scores of sag.tl.embedding_scores "
        "(obsm['X_base'] against obs['label']), with the record of sag.tl.embed"
    )
    assert replaced in said
    assert "scores" not in adata.uns["sag_resvae"]
    assert adata.uns["sag_resvae"]["params"]["n_latent"] == 10
    sag.tl.encode(query, model, key_added="q")
    assert any("uns['q'], the scores" in line and "sag.tl.encode" in line for line in said)
    assert "scores" not in query.uns["q"]
    assert "encode_params" in query.uns["q"]
    sag.tl.embedding_scores(query, "X_base", "label", tsne=False, key_added="s")
    with pytest.raises(ValueError, match=r"holds the scores of sag.tl.embedding_scores, which"):
        sag.tl.classify(query, "label", key_added="s")


def test_a_new_latent_removes_the_layouts_and_graph_of_the_old_one(adata, sag_caplog):
    """sag.pl.embedding's UMAP, t-SNE and kNN graph of a latent stayed beside the new latent
    of a later embed (or encode) under the key: scanpy's own sc.pl.embedding(adata,
    'X_sag_resvae_umap') drew the old latent's layout without a word. They go with it; of the
    same latent they stay."""
    import matplotlib.pyplot as plt

    derived = {
        "obsm": ["X_sag_resvae_umap", "X_sag_resvae_tsne"],
        "uns": ["X_sag_resvae_umap", "X_sag_resvae_tsne", "sag_resvae_neighbors"],
        "obsp": ["sag_resvae_neighbors_distances", "sag_resvae_neighbors_connectivities"],
    }

    def present():
        return {
            slot: [k for k in keys if k in getattr(adata, slot)] for slot, keys in derived.items()
        }

    model = sag.tl.embed(adata, config=ONE_TRIAL, seed=0)
    sag.pl.embedding(adata, show=False)
    sag.pl.embedding(adata, method="tsne", show=False)
    plt.close("all")
    assert present() == derived
    sag.tl.encode(adata, model)  # the same latent: they stay
    assert present() == derived
    sag_caplog.clear()
    model = sag.tl.embed(adata, config=ONE_TRIAL, seed=1)
    assert present() == {"obsm": [], "uns": [], "obsp": []}
    said = sag_caplog.text
    assert (
        "removed obsm['X_sag_resvae_umap'], uns['X_sag_resvae_umap'], obsm['X_sag_resvae_tsne']"
        in said
    )
    assert "of the earlier latent" in said
    # a subset of the cells the layouts were computed on, encoded again: its latent rows are
    # among theirs, so they stay, as sag.pl.embedding keeps them for a subset
    sag.pl.embedding(adata, show=False)
    plt.close("all")
    part = adata[:128].copy()
    sag.tl.encode(part, model)
    assert "X_sag_resvae_umap" in part.obsm
    assert "sag_resvae_neighbors_connectivities" in part.obsp


def test_a_new_latent_leaves_layouts_sag_did_not_write():
    """Entries under those keys without sag's record of what they were computed from (the
    user's own, or sag's after anndata.concat, which drops uns) are not sag's to remove."""
    from scautogenome.tools._embed import layout_outputs
    from scautogenome.tools._utils import Outputs

    a = ad.AnnData(np.zeros((6, 3), dtype=np.float32))
    a.obsm["X_k_umap"] = np.zeros((6, 2), dtype=np.float32)
    a.uns["X_k_umap"] = {"params": {"a": 1}}  # scanpy's own parameters, none of sag's
    a.uns["k_neighbors"] = {"params": {"n_neighbors": 5}}
    a.obsp["k_neighbors_distances"] = sparse.csr_matrix((6, 6), dtype=np.float32)
    out = Outputs()
    layout_outputs(out, a, "k", np.ones((6, 2), dtype=np.float32))
    out.write(a)
    assert "X_k_umap" in a.obsm
    assert "k_neighbors_distances" in a.obsp
    a.uns["X_k_umap"]["params"]["sag_basis_digest"] = "0123456789abcdef"  # sag's, of another
    out = Outputs()
    layout_outputs(out, a, "k", np.ones((6, 2), dtype=np.float32))
    out.write(a)
    assert "X_k_umap" not in a.obsm
    assert "k_neighbors_distances" in a.obsp  # the graph has no record of sag's


def test_embedding_scores_on_a_handful_of_cells():
    """30 labelled cells or fewer: the t-SNE runs at a smaller perplexity (sklearn refuses
    scanpy's 30 there); one label per cell is a clear error, not sklearn's."""
    a = _fake_embedding(n_per=8)
    s = sag.tl.embedding_scores(a, "X_sag_resvae", "label")
    assert np.isfinite(s["davies_bouldin_tsne"])
    ax = sag.pl.embedding(a, method="tsne", color="label", show=False)  # the same rule
    assert ax is not None
    assert a.obsm["X_sag_resvae_tsne"].shape == (24, 2)
    a.obs["label"] = [str(i) for i in range(a.n_obs)]
    with pytest.raises(ValueError, match="24 labels for 24 labelled cells"):
        sag.tl.embedding_scores(a, "X_sag_resvae", "label", tsne=False)


def test_scanpy_calls_give_torch_its_thread_count_back(monkeypatch):
    # scanpy's kNN (numba) was seen to reset torch's OpenMP pool to the number of cores, so
    # that a model trained after the scores ran on other threads and learned other weights
    import scanpy as sc

    real = sc.pp.neighbors

    def resetting(*args, **kwargs):
        real(*args, **kwargs)
        torch.set_num_threads(torch.get_num_threads() + 1)

    monkeypatch.setattr(sc.pp, "neighbors", resetting)
    before = torch.get_num_threads()
    try:
        a = _fake_embedding()
        sag.tl.embedding_scores(a, "X_sag_resvae", "label", tsne=False)
        assert torch.get_num_threads() == before
        sag.pl.embedding(a, color="label", show=False)
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(before)


def test_every_training_runs_on_settings_n_threads(adata, tiny_config, monkeypatch):
    # scanpy's highly_variable_genes(flavor="seurat_v3") left torch's pool at the number of
    # cores after sag.settings.n_threads had set 1; a set n_threads must win at every training
    import scautogenome.train._trainer as trainer_mod
    import scautogenome.train._vae as vae_mod

    seen = []

    def recording(real):
        def optimizer(*args, **kwargs):
            seen.append(torch.get_num_threads())
            return real(*args, **kwargs)

        return optimizer

    monkeypatch.setattr(vae_mod, "adamw", recording(vae_mod.adamw))
    monkeypatch.setattr(trainer_mod, "adamw", recording(trainer_mod.adamw))
    # the classify portfolio's second point trains by SGD
    monkeypatch.setattr(torch.optim, "SGD", recording(torch.optim.SGD))
    before = torch.get_num_threads()
    try:
        sag.settings.n_threads = 1
        torch.set_num_threads(2)  # what the scanpy call did
        sag.tl.embed(adata, config=ONE_TRIAL)
        torch.set_num_threads(2)
        sag.tl.classify(adata, "label", config=tiny_config)
    finally:
        sag.settings.n_threads = None
        torch.set_num_threads(before)
    # one embed trial, then the classify trials
    assert len(seen) >= 1 + tiny_config["budget"]["n_trials"]
    assert set(seen) == {1}


def _four_overlapping_clusters():
    """240 cells of 4 labels whose latent ``obsm['X_e']`` clusters overlap (Leiden's result
    then depends on its seed and graph)."""
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0, 0], [2.5, 0, 0], [0, 2.5, 0], [2.5, 2.5, 0]], dtype=np.float32)
    labels = np.repeat(np.arange(4), 60)
    a = ad.AnnData(sparse.csr_matrix((len(labels), 5), dtype=np.float32))
    a.obs["label"] = labels.astype(str)
    a.obsm["X_e"] = centers[labels] + rng.normal(0, 1.0, (len(labels), 3)).astype(np.float32)
    return a


def test_embedding_scores_average_leiden_seeds():
    """leiden_seeds=3 reports the mean (and spread) of the runs with seeds seed..seed+2."""
    a = _four_overlapping_clusters()
    singles = [sag.tl.embedding_scores(a, "X_e", "label", tsne=False, seed=s) for s in (1, 2, 3)]
    ari = [s["ari"] for s in singles]
    assert max(ari) - min(ari) > 0.01  # overlapping clusters: Leiden depends on its seed
    mean = sag.tl.embedding_scores(a, "X_e", "label", tsne=False, seed=1, leiden_seeds=3)
    assert mean["ari"] == pytest.approx(np.mean(ari))
    assert mean["nmi"] == pytest.approx(np.mean([s["nmi"] for s in singles]))
    assert mean["ari_std"] == pytest.approx(np.std(ari))
    assert mean["leiden_seeds"] == 3
    assert singles[0]["ari_std"] == 0.0
    # the seeds wrap at numpy's top seed: seed 2**32 - 1, then 0
    top = 2**32 - 1
    edge = [sag.tl.embedding_scores(a, "X_e", "label", tsne=False, seed=s) for s in (top, 0)]
    wrapped = sag.tl.embedding_scores(a, "X_e", "label", tsne=False, seed=top, leiden_seeds=2)
    assert wrapped["ari"] == pytest.approx(np.mean([s["ari"] for s in edge]))
    with pytest.raises(ValueError, match="leiden_seeds"):
        sag.tl.embedding_scores(a, "X_e", "label", leiden_seeds=0)
    with pytest.raises(TypeError, match="leiden_seeds"):
        sag.tl.embedding_scores(a, "X_e", "label", leiden_seeds=2.0)
    for bad, error in ((1, ValueError), (0, ValueError), (2.5, TypeError)):
        with pytest.raises(error, match="n_neighbors"):
            sag.tl.embedding_scores(a, "X_e", "label", n_neighbors=bad)


def test_embedding_scores_reach_resolutions_above_three():
    """60 labels of 5 cells on unstructured data need a Leiden resolution near 10; the
    resolution search used to stop below 3 and score 25 clusters against 60 labels."""
    rng = np.random.default_rng(0)
    a = ad.AnnData(sparse.csr_matrix((300, 5), dtype=np.float32))
    a.obs["label"] = np.repeat([f"t{i}" for i in range(60)], 5)
    a.obsm["X_e"] = rng.normal(size=(300, 5)).astype(np.float32)
    s = sag.tl.embedding_scores(a, "X_e", "label", tsne=False)
    assert s["leiden_resolution"] > 3
    assert abs(s["n_clusters"] - 60) <= 1


def _round_trip(a, tmp_path):
    a.write_h5ad(tmp_path / "a.h5ad")
    return ad.read_h5ad(tmp_path / "a.h5ad")


def test_plot_embedding_keeps_user_keys(tmp_path):
    import matplotlib.pyplot as plt

    a = _fake_embedding()
    a.obsm["X_tsne"] = np.zeros((a.n_obs, 2), dtype=np.float32)
    ax = sag.pl.embedding(a, method="tsne", color="label", show=False)
    assert ax is not None
    assert a.obsm["X_sag_resvae_tsne"].shape == (a.n_obs, 2)
    assert (a.obsm["X_tsne"] == 0).all()  # the user's own t-SNE is untouched
    first = a.obsm["X_sag_resvae_tsne"].copy()
    sag.pl.embedding(a, method="tsne", show=False)  # the same latent: the stored t-SNE is kept
    np.testing.assert_array_equal(a.obsm["X_sag_resvae_tsne"], first)
    # another seed is recomputed and recorded (scikit-learn's PCA-initialised t-SNE happens
    # to give the same layout), and the default seed is computed again after it
    sag.pl.embedding(a, method="tsne", random_state=5, show=False)
    assert a.uns["X_sag_resvae_tsne"]["params"]["sag_random_state"] == 5
    sag.pl.embedding(a, method="tsne", show=False)
    assert a.uns["X_sag_resvae_tsne"]["params"]["sag_random_state"] == 0
    np.testing.assert_array_equal(a.obsm["X_sag_resvae_tsne"], first)
    a.obsm["X_sag_resvae"] = a.obsm["X_sag_resvae"][:, ::-1] * 2.0  # a new embed, same key
    sag.pl.embedding(a, method="tsne", show=False)
    assert not np.array_equal(a.obsm["X_sag_resvae_tsne"], first)  # recomputed, not stale
    back = _round_trip(a, tmp_path)
    assert back.uns["X_sag_resvae_tsne"]["params"]["sag_basis_digest"]
    with pytest.raises(ValueError, match="method"):
        sag.pl.embedding(a, method="pca")
    # a basis embed does not write: the obsm keys there, not "run sag.tl.embed"
    with pytest.raises(KeyError, match=r"'X_missing' not found in adata\.obsm; available: \["):
        sag.pl.embedding(a, basis="X_missing")
    plt.close("all")


def test_plot_embedding_marks_its_umap_graph_and_keeps_reusing_it(monkeypatch):
    """The UMAP's kNN graph carries sag's sag_basis_digest, so sag.pl.embedding goes on
    recomputing its own graph and layout (another n_neighbors quietly, a new latent with a
    warning) where it refuses a graph of the user's."""
    import matplotlib.pyplot as plt

    from scautogenome._settings import logger

    a = _fake_embedding()
    sag.pl.embedding(a, color=["label", "0"], show=False)  # an obs column and a gene
    digest = a.uns["X_sag_resvae_umap"]["params"]["sag_basis_digest"]
    assert a.uns["sag_resvae_neighbors"]["params"]["sag_basis_digest"] == digest
    said = []
    monkeypatch.setattr(logger, "warning", lambda *args: said.append(args[0] % args[1:]))
    sag.pl.embedding(a, n_neighbors=5, show=False)
    assert a.uns["sag_resvae_neighbors"]["params"]["n_neighbors"] == 5
    assert said == []
    a.obsm["X_sag_resvae"] = a.obsm["X_sag_resvae"] * 2.0  # a new latent, same key
    sag.pl.embedding(a, n_neighbors=5, show=False)
    assert any("recomputing it on these" in s for s in said)
    assert a.uns["sag_resvae_neighbors"]["params"]["sag_basis_digest"] != digest
    plt.close("all")


def test_plot_embedding_takes_its_graph_of_before_it_was_marked():
    """A kNN graph sag wrote before it marked its graphs (no sag_ parameters in
    uns['{name}_neighbors']) is sag's where the UMAP's record beside it is: another
    n_neighbors recomputes both instead of refusing the graph as the user's."""
    import matplotlib.pyplot as plt

    a = _fake_embedding()
    sag.pl.embedding(a, show=False)
    params = a.uns["sag_resvae_neighbors"]["params"]
    for k in [k for k in params if k.startswith("sag_")]:
        del params[k]  # as an h5ad written by an earlier version holds it
    sag.pl.embedding(a, n_neighbors=5, show=False)
    assert a.uns["sag_resvae_neighbors"]["params"]["n_neighbors"] == 5
    del a.uns["X_sag_resvae_umap"], a.obsm["X_sag_resvae_umap"]
    for k in [k for k in a.uns["sag_resvae_neighbors"]["params"] if k.startswith("sag_")]:
        del a.uns["sag_resvae_neighbors"]["params"][k]
    with pytest.raises(
        ValueError, match=r"adata.uns\['sag_resvae_neighbors'\] and .* exist without"
    ):
        sag.pl.embedding(a, show=False)  # without sag's UMAP beside it: the user's
    plt.close("all")


@pytest.mark.slow
def test_plot_embedding_umap():
    import matplotlib.pyplot as plt

    a = _fake_embedding()
    a.uns["sag_resvae"] = {"kept": 1}
    _, ax = plt.subplots()
    out = sag.pl.embedding(a, color="label", ax=ax, show=False)
    assert out is ax
    assert "X_sag_resvae_umap" in a.obsm
    assert "X_umap" not in a.obsm
    assert "neighbors" not in a.uns
    assert "sag_resvae_neighbors_connectivities" in a.obsp
    assert a.uns["sag_resvae"] == {"kept": 1}  # tl.embed's results are not clobbered
    # as in scanpy, the basis may be named without its X_ prefix
    umap = a.obsm["X_sag_resvae_umap"].copy()
    sag.pl.embedding(a, basis="sag_resvae", color="label", show=False)
    np.testing.assert_array_equal(a.obsm["X_sag_resvae_umap"], umap)
    scores = sag.tl.embedding_scores(a, "sag_resvae", "label")
    assert scores == sag.tl.embedding_scores(a, "X_sag_resvae", "label")
    plt.close("all")


def test_search_records_pruned_trials(adata, monkeypatch):
    import optuna

    from scautogenome.search import _study

    class PruneSecond(optuna.pruners.BasePruner):
        def prune(self, study, trial) -> bool:
            return trial.number == 1 and len(trial.intermediate_values) >= 2

    monkeypatch.setattr(_study, "make_pruner", lambda config: PruneSecond())
    sag.tl.embed(adata, config=TINY_EMBED)
    trials = adata.uns["sag_resvae"]["trials"]
    assert list(trials["state"]) == ["complete", "pruned"]
    assert trials["epochs"].iloc[1] == 2
    assert adata.uns["sag_resvae"]["best"]["trial"] == 0


def test_beta_argument_sets_the_kl_weight(adata):
    """beta= wins over the config's trainer.beta; the KL weight warms up to it and the
    validation loss is recon + beta * KL."""
    import json

    cfg = ONE_TRIAL
    sag.tl.embed(adata, config=cfg, beta=2.5, seed=0)
    uns = adata.uns["sag_resvae"]
    assert json.loads(uns["train_params"])["beta"] == 2.5
    assert json.loads(uns["config"])["trainer"]["beta"] == 2.5
    assert uns["params"]["beta"] == 2.5
    losses = uns["losses"]
    np.testing.assert_allclose(losses["kl_weight"], [1.25] + [2.5] * (len(losses["epoch"]) - 1))
    np.testing.assert_allclose(
        losses["val_loss"], losses["val_recon"] + 2.5 * losses["val_kl"], rtol=1e-5
    )
    sag.tl.embed(adata, config=cfg, seed=0)
    assert json.loads(adata.uns["sag_resvae"]["train_params"])["beta"] == 1.0


def test_max_epochs_argument_caps_the_training(adata):
    """max_epochs= (scVI's train(max_epochs=)) wins over the config's trainer.max_epochs, is
    recorded with the call, and is checked before any work."""
    import json

    cfg = {**ONE_TRIAL, "trainer": {**ONE_TRIAL["trainer"], "patience": 100}}
    sag.tl.embed(adata, config=cfg, max_epochs=3, seed=0)
    uns = adata.uns["sag_resvae"]
    assert len(uns["losses"]["epoch"]) == 3
    assert json.loads(uns["config"])["trainer"]["max_epochs"] == 3
    assert uns["params"]["max_epochs"] == 3
    for bad, error in ((0, ValueError), (2.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match=r"max_epochs=.* must be"):
            sag.tl.embed(adata.copy(), config=cfg, max_epochs=bad)


def test_log_values_beside_a_counts_layer_are_told_of_the_count_likelihood(adata, sag_caplog):
    """X log-normalized and layers['counts'] raw counts (scanpy's usual setup): the auto
    likelihood of X is Gaussian, and the log says that the counts layer would train the count
    likelihood, as scVI reads counts; nothing is said where the counts are read, or where the
    likelihood was chosen."""
    import scanpy as sc

    logged = adata.copy()
    logged.layers["counts"] = logged.X.copy()
    sc.pp.normalize_total(logged, target_sum=1e4)
    sc.pp.log1p(logged)
    sag.tl.embed(logged, config=ONE_TRIAL, max_epochs=2, seed=0)
    hint = "layers['counts'] holds raw counts: layer='counts' trains the count likelihood (nb)"
    assert hint in " ".join(sag_caplog.text.split())
    sag_caplog.clear()
    sag.tl.embed(logged, config=ONE_TRIAL, max_epochs=2, seed=0, layer="counts")
    assert logged.uns["sag_resvae"]["params"]["layer"] == "counts"  # the record says so
    sag.tl.embed(logged, config=ONE_TRIAL, max_epochs=2, seed=0, likelihood="gaussian")
    logged.layers["log"] = logged.X.copy()  # a layer of log values is read: the user chose it
    sag.tl.embed(logged, config=ONE_TRIAL, max_epochs=2, seed=0, layer="log")
    assert "holds raw counts" not in sag_caplog.text


def test_units_carry_the_configured_dropout(adata):
    """Dropout 0.1 after every FC unit by default; config space.dropout=0.0 removes it."""
    import json

    from scautogenome.nn._units import FCUnit

    cfg = ONE_TRIAL
    model = sag.tl.embed(adata, config=cfg, seed=0)
    assert json.loads(adata.uns["sag_resvae"]["architecture"])["dropout"] == 0.1
    units = [m for m in model.module_.modules() if isinstance(m, FCUnit)]
    assert len(units) == 6  # 3 encoder + 3 decoder units
    assert all(isinstance(u[-1], torch.nn.Dropout) and u[-1].p == 0.1 for u in units)
    off = {**cfg, "space": {**cfg["space"], "dropout": 0.0}}
    model = sag.tl.embed(adata, config=off, seed=0)
    assert json.loads(adata.uns["sag_resvae"]["architecture"])["dropout"] == 0.0
    assert not any(isinstance(m, torch.nn.Dropout) and m.p == 0.1 for m in model.module_.modules())


def test_one_budget_argument_keeps_the_configured_other(adata):
    """As in classify: time_budget= alone keeps the config's n_trials (and the reverse)."""
    import json

    sag.tl.embed(adata, config=TINY_EMBED, time_budget=600)
    cfg = json.loads(adata.uns["sag_resvae"]["config"])
    assert cfg["budget"] == {"n_trials": 2, "time_budget": 600}
    assert len(adata.uns["sag_resvae"]["trials"]) == 2
    sag.tl.embed(
        adata, config={**TINY_EMBED, "budget": {"n_trials": 5, "time_budget": 600}}, n_trials=1
    )
    cfg = json.loads(adata.uns["sag_resvae"]["config"])
    assert cfg["budget"] == {"n_trials": 1, "time_budget": 600}


def _spy_on_deadlines(monkeypatch) -> list[float]:
    """Seconds each VAE training of the search had left to its deadline when it started."""
    from scautogenome.search import _vae as search_vae

    seen: list[float] = []
    real = search_vae.train_vae

    def spy(*args, deadline=None, **kwargs):
        seen.append(deadline - time.perf_counter())
        return real(*args, deadline=deadline, **kwargs)

    monkeypatch.setattr(search_vae, "train_vae", spy)
    return seen


def _trial_deadlines(monkeypatch, cfg: dict) -> tuple[ad.AnnData, list[float]]:
    """Run a small embed search under ``cfg``; return the AnnData and the seconds each trial
    was given (its deadline minus the time it started)."""
    seen = _spy_on_deadlines(monkeypatch)
    adata = sag.datasets.synthetic(n_obs=200, n_vars=300, n_classes=3, seed=0)
    sag.tl.embed(adata, config=cfg)
    return adata, seen


def test_search_starts_from_the_cheap_point_and_caps_the_other_trials(monkeypatch):
    """As the classifier search: the default starting point runs first (where the space can
    draw it). It may train until the overall deadline, so that a tight budget still ends with
    a converged model; every sampled trial but the last that n_trials allows stops at
    max_trial_fraction of the budget."""
    import json

    from scautogenome.search import _vae as search_vae

    pts = search_vae.initial_points(embed_config.default(), n_inputs=300)
    assert pts == search_vae.DEFAULT_INITIAL_TRIALS
    # below 256 genes the width cap leaves 128 alone: fixed, so not an Optuna parameter
    narrow = dict(search_vae.DEFAULT_INITIAL_TRIALS[0])
    del narrow["first_width"]
    assert search_vae.initial_points(embed_config.default(), n_inputs=100) == [narrow]
    # a space without the default's value starts from its nearest (the cheaper of a tie), so
    # that it too starts from one uncapped, converged model
    no_four = embed_config.load({"space": {"n_layers": [3, 5], "first_width": [1024, 2048]}})
    start = {**search_vae.DEFAULT_INITIAL_TRIALS[0], "n_layers": 3, "first_width": 1024}
    assert search_vae.initial_points(no_four, n_inputs=3000) == [start]
    # a point of the user's own outside the space is skipped, not moved
    own = embed_config.load(
        {"space": {"n_layers": [3, 5]}, "search": {"initial_trials": [{"n_layers": 4}]}}
    )
    assert search_vae.initial_points(own, n_inputs=300) == []
    # a first_width range is capped at the number of genes, as a choice list is
    ranged = embed_config.load({"space": {"first_width": {"type": "int", "low": 64, "high": 4096}}})
    capped = search_vae.cap_widths(ranged["space"], n_inputs=300)["first_width"]
    assert capped == {"type": "int", "low": 64, "high": 300}
    assert search_vae.initial_points(ranged, n_inputs=300)[0]["first_width"] == 128
    tiny = {**embed_config.default(), "search": {**embed_config.default()["search"]}}
    tiny["search"]["initial_trials"] = "none"
    assert search_vae.initial_points(tiny, 300) == []

    cfg = {
        "budget": {"n_trials": 3, "time_budget": 400},
        "trainer": {"max_epochs": 2, "kl_warmup_epochs": 1, "min_epochs": 1},
        "search": {"max_trial_fraction": 0.05},
    }
    adata, seen = _trial_deadlines(monkeypatch, cfg)
    first = json.loads(adata.uns["sag_resvae"]["trials"]["params"].iloc[0])
    assert first == search_vae.DEFAULT_INITIAL_TRIALS[0]
    assert len(seen) == 3
    assert 0.05 * 400 < seen[0] <= 400  # the starting point: only the overall deadline
    assert 0 < seen[1] <= 0.05 * 400 + 1e-6
    assert 0.05 * 400 < seen[2] <= 400  # the last trial n_trials allows: nothing to leave time for


def test_a_space_without_the_default_point_still_trains_one_model_uncapped(monkeypatch):
    """A custom space the default start point is not in: one trial is the moved start point
    and trains to the overall deadline, not to max_trial_fraction of it."""
    import json

    cfg = {
        "budget": {"n_trials": 1, "time_budget": 400},
        "trainer": {"max_epochs": 2, "kl_warmup_epochs": 1, "min_epochs": 1},
        "search": {"max_trial_fraction": 0.05},
        "space": {"n_layers": [3, 5]},
    }
    adata, seen = _trial_deadlines(monkeypatch, cfg)
    params = json.loads(adata.uns["sag_resvae"]["trials"]["params"].iloc[0])
    assert params["n_layers"] == 3
    assert len(seen) == 1
    assert 0.05 * 400 < seen[0] <= 400


def test_embed_config_checks_the_search_start():
    with pytest.raises(ValueError, match="max_trial_fraction"):
        embed_config.load({"search": {"max_trial_fraction": 0}})
    with pytest.raises(ValueError, match="initial_trials"):
        embed_config.load({"search": {"initial_trials": "cheap"}})


def test_neighbors_falls_back_to_exact_knn(monkeypatch):
    """scanpy 1.11's pynndescent path can fail on scipy >= 1.15 results (on many cells): exact
    kNN instead, warned once; later calls on as many cells skip the doomed approximate
    attempt, smaller ones still take scanpy's default path; any other AttributeError still
    surfaces."""
    import scanpy as sc

    from scautogenome import _utils
    from scautogenome._settings import logger

    monkeypatch.setitem(_utils._KNN, "failed_from", float("inf"))
    real = sc.pp.neighbors
    calls, warnings = [], []

    def flaky(adata, **kw):
        calls.append((adata.n_obs, kw.get("transformer")))
        if kw.get("transformer") is None and adata.n_obs >= 50:
            raise AttributeError("'csr_array' object has no attribute 'getnnz'")
        return real(adata, **kw)

    monkeypatch.setattr(sc.pp, "neighbors", flaky)
    monkeypatch.setattr(logger, "warning", lambda *a, **k: warnings.append(a))
    rng = np.random.default_rng(0)
    a = ad.AnnData(np.zeros((60, 1)), obsm={"e": rng.normal(size=(60, 4))})
    small = ad.AnnData(np.zeros((40, 1)), obsm={"e": rng.normal(size=(40, 4))})
    _utils.neighbors(a, n_neighbors=5, use_rep="e")
    assert calls == [(60, None), (60, "sklearn")]
    assert "connectivities" in a.obsp
    first = a.obsp["connectivities"].toarray()
    _utils.neighbors(a, n_neighbors=5, use_rep="e")
    _utils.neighbors(small, n_neighbors=5, use_rep="e")
    assert calls[2:] == [(60, "sklearn"), (40, None)]
    assert len(warnings) == 1
    np.testing.assert_array_equal(a.obsp["connectivities"].toarray(), first)

    def broken(adata, **kw):
        raise AttributeError("something else")

    monkeypatch.setattr(sc.pp, "neighbors", broken)
    monkeypatch.setitem(_utils._KNN, "failed_from", float("inf"))
    with pytest.raises(AttributeError, match="something else"):
        _utils.neighbors(a, n_neighbors=5, use_rep="e")


def test_neighbors_go_to_exact_knn_at_once_where_scanpy_is_known_to_fail(monkeypatch):
    """A pair of scanpy and scipy whose approximate kNN fails is told before any work (a probe
    of a 3 x 3 matrix): data past scanpy's approximate threshold goes to exact kNN at once,
    without the doomed attempt or its warning; smaller data keeps scanpy's default path."""
    import scanpy as sc
    from scanpy.neighbors import _common

    from scautogenome import _utils
    from scautogenome._settings import logger

    def lacks_getnnz(d):
        raise AttributeError("'csr_array' object has no attribute 'getnnz'")

    for shortcut, expected in ((lacks_getnnz, True), (lambda d: None, False)):
        monkeypatch.setattr(_common, "_ind_dist_shortcut", shortcut)
        monkeypatch.delitem(_utils._KNN, "probe", raising=False)
        assert _utils._approximate_knn_fails() is expected

    monkeypatch.setitem(_utils._KNN, "failed_from", float("inf"))
    monkeypatch.setitem(_utils._KNN, "probe", 1.0)
    monkeypatch.setattr(_utils, "APPROXIMATE_KNN_FROM", 50)
    real = sc.pp.neighbors
    calls, warnings = [], []

    def recorded(adata, **kw):
        calls.append((adata.n_obs, kw.get("transformer")))
        return real(adata, **kw)

    monkeypatch.setattr(sc.pp, "neighbors", recorded)
    monkeypatch.setattr(logger, "warning", lambda *a, **k: warnings.append(a))
    rng = np.random.default_rng(0)
    _utils.neighbors(
        ad.AnnData(np.zeros((60, 1)), obsm={"e": rng.normal(size=(60, 4))}),
        n_neighbors=5,
        use_rep="e",
    )
    _utils.neighbors(
        ad.AnnData(np.zeros((40, 1)), obsm={"e": rng.normal(size=(40, 4))}),
        n_neighbors=5,
        use_rep="e",
    )
    assert calls == [(60, "sklearn"), (40, None)]
    assert warnings == []


def test_storage_resumes_only_a_study_of_the_same_data_and_settings(adata, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'search.db'}"
    sag.tl.embed(adata, config=ONE_TRIAL, storage=url)
    again = adata.copy()
    sag.tl.embed(again, config=ONE_TRIAL, storage=url)
    assert len(again.uns["sag_resvae"]["trials"]) == 2  # resumed: the earlier trial + one more

    import scautogenome.search._vae as vae_search

    def no_training(*args, **kwargs):
        raise AssertionError("trained before refusing the stored study")

    monkeypatch.setattr(vae_search, "train_vae", no_training)
    other = adata.copy()
    del other.obsm["X_sag_resvae"], other.uns["sag_resvae"]
    with pytest.raises(ValueError, match=r"n_latent: 10 there, 4 now"):
        sag.tl.embed(other, n_latent=4, config=ONE_TRIAL, storage=url)
    fewer = adata[:, 5:].copy()
    with pytest.raises(ValueError, match="genes"):
        sag.tl.embed(fewer, config=ONE_TRIAL, storage=url)
    # the same genes and cells with other values (another layer, a re-normalisation)
    doubled = other.copy()
    doubled.X = doubled.X * 2
    with pytest.raises(ValueError, match="values: "):
        sag.tl.embed(doubled, config=ONE_TRIAL, storage=url)
    assert "X_sag_resvae" not in other.obsm
    assert "sag_resvae" not in other.uns
    # another study name in the same storage is a new search
    monkeypatch.undo()
    sag.tl.embed(other, n_latent=4, config=ONE_TRIAL, storage=url, study_name="four")
    assert other.obsm["X_sag_resvae"].shape == (adata.n_obs, 4)


def test_reruns_and_inputs_leave_nothing_stale_or_half_written(adata, tmp_path):
    """A failed save writes nothing; an embed without recon removes the earlier recon layer;
    reconstruct() follows the AnnData's gene order; fit accepts a view; numpy seeds work."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(NotADirectoryError, match="is a file"):
        sag.tl.embed(adata, config=ONE_TRIAL, model_dir=blocker / "model")
    assert "X_sag_resvae" not in adata.obsm
    with pytest.raises(TypeError, match="seed"):
        sag.tl.embed(adata, config=ONE_TRIAL, seed=1.5)
    with pytest.raises(ValueError, match="seed"):
        sag.tl.embed(adata, config=ONE_TRIAL, seed=-1)

    model = sag.tl.embed(
        adata, config=ONE_TRIAL, recon=True, seed=np.int64(2), n_trials=np.int64(1)
    )
    assert adata.uns["sag_resvae"]["params"]["seed"] == 2
    assert "sag_resvae_recon" in adata.layers
    sag.tl.embed(adata, config=ONE_TRIAL)
    assert "sag_resvae_recon" not in adata.layers

    order = np.random.default_rng(0).permutation(adata.n_vars)
    shuffled = adata[:, order].copy()
    np.testing.assert_allclose(
        model.reconstruct(shuffled), model.reconstruct(adata)[:, order], rtol=1e-5, atol=1e-4
    )
    fitted = sag.models.ResVAE(SMALL_ARCH, TINY_FIT).fit(adata[:150])  # a view: nothing written
    assert fitted.get_latent(adata).shape == (adata.n_obs, 5)


class _Deadline:
    """A deadline for the training loops (compared as ``time.perf_counter() > deadline``) on a
    clock the test controls: it passes after ``after`` comparisons, or once ``past`` is set."""

    def __init__(self, after: int | None = None):
        self.after, self.n, self.past = after, 0, False

    def __lt__(self, now) -> bool:  # ``now > deadline``
        self.n += 1
        return self.past or (self.after is not None and self.n > self.after)

    def __gt__(self, now) -> bool:
        return not self.__lt__(now)


def _train_small_vae(adata, params, **kwargs):
    from scautogenome.models._resvae import prepare_unlabelled
    from scautogenome.train._vae import train_vae

    data = prepare_unlabelled(adata, layer=None, n_latent=5, likelihood="nb")
    torch.manual_seed(0)
    net = build_vae({**SMALL_ARCH, "n_inputs": adata.n_vars, "likelihood": "nb"})
    return train_vae(
        net,
        X=data.X,
        train_rows=data.train_rows,
        val_rows=data.val_rows,
        transform=data.transform.to_torch("cpu"),
        params=params,
        device=torch.device("cpu"),
        **kwargs,
    )


@pytest.mark.parametrize(
    ("max_epochs", "stopped", "n_epochs"), [(2, "max_epochs", 2), (4, "time_budget", 2)]
)
def test_time_budget_is_reported_only_when_epochs_were_left(
    adata, monkeypatch, max_epochs, stopped, n_epochs
):
    """The deadline passes while the second epoch is validated: the training stops there
    (whatever min_epochs says), reported as the time budget only where epochs were left."""
    from scautogenome.train import _vae as train_vae_module
    from scautogenome.train._vae import VAETrainParams

    deadline = _Deadline()
    real = train_vae_module._evaluate
    n_evaluated = []

    def evaluate(*args, **kwargs):
        n_evaluated.append(1)
        deadline.past = len(n_evaluated) >= 2
        return real(*args, **kwargs)

    monkeypatch.setattr(train_vae_module, "_evaluate", evaluate)
    params = VAETrainParams(max_epochs=max_epochs, min_epochs=3, kl_warmup_epochs=1)
    res = _train_small_vae(adata, params, deadline=deadline)
    assert (res.stopped, len(res.history), res.cut_batches) == (stopped, n_epochs, 0)


def test_a_time_budget_shorter_than_an_epoch_is_an_error(adata):
    """The kept model stopped by the time budget in its first epoch (before 100 minibatches):
    an error naming time_budget and the epoch's time, nothing written."""
    before = adata.copy()
    cfg = {**ONE_TRIAL, "trainer": {**ONE_TRIAL["trainer"], "max_epochs": 50}}
    with pytest.raises(ValueError, match=r"time_budget=0.001 s .* one epoch takes about"):
        sag.tl.embed(adata, config=cfg, time_budget=0.001)
    assert set(adata.uns) == set(before.uns)
    assert set(adata.obsm) == set(before.obsm)
    assert set(adata.layers) == set(before.layers)


def test_zero_time_budget_is_refused():
    with pytest.raises(ValueError, match="time_budget"):
        embed_config.load({"budget": {"n_trials": None, "time_budget": 0}})


def test_kl_warmup_is_half_of_max_epochs_unless_set(adata, caplog):
    """Lowering max_epochs alone shortens the warm-up with it, so the KL weight still reaches
    beta and early stopping still runs; a warm-up longer than the training is warned about."""
    from scautogenome._settings import logger as sag_logger
    from scautogenome.search._vae import sample_vae_trial
    from scautogenome.train._vae import VAETrainParams

    assert VAETrainParams(max_epochs=6).kl_warmup_epochs == 3
    assert VAETrainParams().kl_warmup_epochs == 50
    assert VAETrainParams(max_epochs=6, kl_warmup_epochs=0).kl_warmup_epochs == 0
    cfg = embed_config.load({"trainer": {"max_epochs": 8}})
    point = {"n_layers": 3, "first_width": 128, "decay": 0.5, "input_keep": 1.0, "lr": 1e-3}
    point.update(batch_size=64, weight_decay=1e-6)
    _, params = sample_vae_trial(optuna.trial.FixedTrial(point), cfg, 200, 5, likelihood="nb")
    assert params["kl_warmup_epochs"] == 4  # the trial records the resolved number
    model = sag.models.ResVAE(SMALL_ARCH, {"max_epochs": 6, "batch_size": 64}).fit(adata, seed=0)
    assert model.train_params_["kl_warmup_epochs"] == 3
    assert model.history_[-1]["kl_weight"] == pytest.approx(1.0)
    sag_logger.addHandler(caplog.handler)
    try:
        fit = {"max_epochs": 3, "kl_warmup_epochs": 5, "batch_size": 64}
        sag.models.ResVAE(SMALL_ARCH, fit).fit(adata, seed=0)
        assert "longer than max_epochs=3" in caplog.text
    finally:
        sag_logger.removeHandler(caplog.handler)


def test_numpy_beta_and_masked_storage_password(adata, tmp_path):
    from scautogenome._utils import storage_shown

    assert storage_shown("postgresql://me:secret@db.example.org:5432/optuna") == (
        "postgresql://me:***@db.example.org:5432/optuna"
    )
    assert storage_shown("sqlite:///search.db") == "sqlite:///search.db"
    # as typed where there is no password: SQLAlchemy's rendering quoted ':memory:'
    assert storage_shown("sqlite:///:memory:") == "sqlite:///:memory:"
    assert storage_shown("mysql://me:pw@db/optuna?x=1") == "mysql://me:***@db/optuna?x=1"
    assert storage_shown(None) is None
    url = f"sqlite:///{tmp_path / 's.db'}"
    sag.tl.embed(adata, config=ONE_TRIAL, beta=np.float32(2.0), storage=url, n_latent=4)
    params = adata.uns["sag_resvae"]["params"]
    assert params["beta"] == 2.0
    assert params["storage"] == url


def test_model_misuse_errors(adata, caplog):
    from scautogenome._settings import logger as sag_logger

    with pytest.raises(RuntimeError, match=r"sag\.tl\.embed"):
        sag.models.ResVAE().get_latent(adata)
    model = sag.models.ResVAE(SMALL_ARCH, TINY_FIT).fit(adata, seed=0)
    for bad, error in ((0, ValueError), (-5, ValueError), (2.5, TypeError)):
        with pytest.raises(error, match="batch_size"):
            model.get_latent(adata, batch_size=bad)
    # value_type="counts" on values that are not integers: NB is picked, with the warning up
    # front, and no second warning about "new" input after training
    logged = adata.copy()
    logged.X = logged.X.copy()
    logged.X.data = np.log1p(logged.X.data)
    sag_logger.addHandler(caplog.handler)
    try:
        sag.tl.embed(logged, value_type="counts", config=ONE_TRIAL, n_latent=4)
    finally:
        sag_logger.removeHandler(caplog.handler)
    assert logged.uns["sag_resvae"]["params"]["likelihood"] == "nb"
    assert "holds non-integer values" in caplog.text
    assert "the model was trained on raw counts" not in caplog.text
    # a KL warm-up longer than the training is warned about before the search
    caplog.clear()
    sag_logger.addHandler(caplog.handler)
    try:
        cfg = {**ONE_TRIAL, "trainer": {**ONE_TRIAL["trainer"], "kl_warmup_epochs": 20}}
        sag.tl.embed(adata, config=cfg, n_latent=4)
    finally:
        sag_logger.removeHandler(caplog.handler)
    assert "kl_warmup_epochs=20 is longer than max_epochs=6" in caplog.text


def test_the_deadline_cuts_the_epoch_in_progress_and_stop_after_reproduces_it(adata):
    """The deadline is checked after every minibatch, before min_epochs too: the epoch in
    progress is validated and may be kept; the same seed stopped there (kept_point) trains the
    same weights."""
    from scautogenome.train._trainer import kept_point
    from scautogenome.train._vae import VAETrainParams

    params = VAETrainParams(max_epochs=10, min_epochs=5, kl_warmup_epochs=1, batch_size=64)
    reported = []
    res = _train_small_vae(
        adata, params, deadline=_Deadline(after=2), report=lambda e, v: reported.append(e)
    )
    assert (res.stopped, len(res.history), res.cut_batches) == ("time_budget", 1, 3)
    assert reported == []  # a cut epoch is not comparable with whole ones: not reported
    assert res.best_loss == res.history[-1]["val_loss"]  # its own validation, not a guess
    assert kept_point(res) == (0, 3)
    again = _train_small_vae(adata, params, stop_after=kept_point(res))
    assert again.best_loss == res.best_loss
    for name, value in res.state_dict.items():
        assert torch.equal(value, again.state_dict[name]), name


def test_a_resumed_search_retrains_a_cut_best_trial_to_where_it_was_scored(
    adata, tmp_path, monkeypatch
):
    """A best trial of an earlier session that its deadline cut is retrained to the same point:
    the model is the one the trial's recorded validation loss belongs to."""
    from scautogenome.search import _vae as search_vae
    from scautogenome.train import Pruned

    real = search_vae.train_vae
    url = f"sqlite:///{tmp_path / 'cut.db'}"
    cfg = {**ONE_TRIAL, "trainer": {**ONE_TRIAL["trainer"], "kl_warmup_epochs": 1}}

    def cut(*args, report=None, deadline=None, **kwargs):
        if report is not None:  # a trial: its deadline passes in its second epoch
            deadline = _Deadline(after=7)
        return real(*args, report=report, deadline=deadline, **kwargs)

    monkeypatch.setattr(search_vae, "train_vae", cut)
    first = adata.copy()
    sag.tl.embed(first, config=cfg, storage=url)
    ua = optuna.load_study(study_name="sag-embed-resvae", storage=url).trials[0].user_attrs
    assert ua["stopped"] == "time_budget"
    assert ua["kept_batches"] > 0  # cut in the middle of an epoch
    assert ua["kept_epochs"] == 1  # after a whole one

    def loses(*args, report=None, **kwargs):
        if report is not None:  # this session's own trial: pruned, so trial 0 stays the best
            raise Pruned
        return real(*args, report=report, **kwargs)

    monkeypatch.setattr(search_vae, "train_vae", loses)
    second = adata.copy()
    sag.tl.embed(second, config=cfg, storage=url)
    u1, u2 = first.uns["sag_resvae"], second.uns["sag_resvae"]
    assert int(u2["best"]["trial"]) == 0
    assert float(u2["best"]["val_loss"]) == float(u1["best"]["val_loss"])
    assert u2["losses"]["val_loss"][int(u2["best"]["epoch"])] == float(u2["best"]["val_loss"])
    np.testing.assert_array_equal(first.obsm["X_sag_resvae"], second.obsm["X_sag_resvae"])


def test_collecting_a_study_whose_best_was_cut_names_the_budget_that_cut_it(
    adata, tmp_path, monkeypatch
):
    """A stored study whose best trial its deadline cut in the first epoch, before 100
    minibatches, is refused when collected (``n_trials=0``), and the message names the budget
    of the search that trained it, not this call's ``time_budget`` (which ran no trial)."""
    from conftest import adata_state, assert_adata_state

    from scautogenome.search import _vae as search_vae

    real = search_vae.train_vae

    def cut(*args, report=None, deadline=None, **kwargs):
        if report is not None:  # a trial: its deadline passes after two minibatches
            deadline = _Deadline(after=2)
        return real(*args, report=report, deadline=deadline, **kwargs)

    monkeypatch.setattr(search_vae, "train_vae", cut)
    url = f"sqlite:///{tmp_path / 'cut.db'}"
    cfg = {**ONE_TRIAL, "budget": {"n_trials": 1, "time_budget": 30}}
    with pytest.raises(ValueError, match=r"time_budget=30(\.0)? s stopped the best model"):
        sag.tl.embed(adata.copy(), config=cfg, storage=url)
    monkeypatch.undo()
    before = adata_state(adata)
    with pytest.raises(ValueError, match=r"^the time budget of the search that trained it"):
        sag.tl.embed(adata, config=cfg, storage=url, n_trials=0)
    assert_adata_state(adata, before)


def test_a_killed_trial_is_retried_once_as_the_starting_point_it_was(adata, tmp_path, monkeypatch):
    """A search killed while it trained its starting point left that trial running: with an
    RDB storage its heartbeat goes stale, the next session fails it and trains its point again,
    as a starting point (uncapped by max_trial_fraction)."""
    import warnings

    from scautogenome.search import _study
    from scautogenome.search import _vae as search_vae

    monkeypatch.setattr(_study, "HEARTBEAT_INTERVAL", 1)
    monkeypatch.setattr(_study, "GRACE_PERIOD", 1)
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    cfg = {
        "budget": {"n_trials": 1, "time_budget": 400},
        "trainer": {"max_epochs": 2, "kl_warmup_epochs": 1, "min_epochs": 1},
        "search": {"max_trial_fraction": 0.05},
        "space": TINY_EMBED["space"],
    }
    storage = _study.open_storage(url)
    study = optuna.create_study(
        storage=storage, study_name="sag-embed-resvae", direction="minimize"
    )
    start = search_vae.initial_points(embed_config.load(cfg), n_inputs=adata.n_vars)[0]
    study.enqueue_trial(start)
    with warnings.catch_warnings():  # heartbeats are meant for study.optimize
        warnings.simplefilter("ignore", UserWarning)
        killed = study.ask()  # the starting point, running; then its process died
    storage.record_heartbeat(killed._trial_id)
    time.sleep(2.0)  # older than the grace period (sqlite keeps whole seconds)

    seen = _spy_on_deadlines(monkeypatch)
    sag.tl.embed(adata, config=cfg, storage=url)
    trials = optuna.load_study(study_name="sag-embed-resvae", storage=url).trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"]
    assert {k: trials[1].params[k] for k in start} == start
    assert len(seen) == 1
    assert seen[0] > 0.05 * 400  # trained as the starting point it is


def test_validation_loss_does_not_depend_on_how_rows_are_batched():
    """The validation pass draws every row's latent noise at once: with many genes its rows
    come in smaller blocks, and the loss (which decides early stopping and the search) must
    not change with them."""
    import scipy.sparse as sp
    import torch

    from scautogenome.data import BatchLoader
    from scautogenome.nn import build_vae
    from scautogenome.train._vae import _evaluate

    torch.manual_seed(0)
    net = build_vae(
        {"kind": "resvae", "n_inputs": 30, "n_latent": 4, "widths": [16, 8], "likelihood": "nb"}
    )
    X = sp.random(90, 30, density=0.3, format="csr", random_state=1, dtype=np.float32)
    X.data = np.round(X.data * 20)
    ident = lambda x: x  # noqa: E731
    losses = [
        _evaluate(
            net,
            BatchLoader(X, np.arange(90), None, batch_size=bs, transform=ident, device="cpu"),
            ident,
            torch.device("cpu"),
            1.0,
            seed=3,
        )["val_loss"]
        for bs in (1024, 90, 7)
    ]
    np.testing.assert_allclose(losses, losses[0], rtol=1e-6)


def test_many_genes_suggest_highly_variable_genes(monkeypatch, capfd):
    from scautogenome.tools import _embed

    adata = sag.datasets.synthetic(n_obs=120, n_vars=300, n_classes=3, seed=0)
    sag.settings.verbosity = 2
    monkeypatch.setattr(_embed, "MANY_GENES", 299)
    sag.tl.embed(adata, config=ONE_TRIAL)
    assert "highly_variable_genes" in capfd.readouterr().err
    monkeypatch.setattr(_embed, "MANY_GENES", 300)
    sag.tl.embed(adata, config=ONE_TRIAL)
    assert "highly_variable_genes" not in capfd.readouterr().err


def test_embedding_scores_stores_only_where_it_can(tmp_path):
    """key_added on a view, or on an uns entry that is not a dict, is refused before any work;
    a sparse embedding is scored as the dense one."""
    a = _fake_embedding()
    view = a[:60]
    with pytest.raises(ValueError, match=r"view .*adata\[mask\]\.copy\(\)"):
        sag.tl.embedding_scores(view, "X_sag_resvae", "label", tsne=False, key_added="s")
    assert view.is_view
    assert "s" not in a.uns
    a.uns["s"] = "a note"
    with pytest.raises(ValueError, match=r"uns\['s'\] holds a str.*must be a dict"):
        sag.tl.embedding_scores(a, "X_sag_resvae", "label", key_added="s")
    assert a.uns["s"] == "a note"
    dense = sag.tl.embedding_scores(a, "X_sag_resvae", "label", tsne=False)
    a.obsm["X_sparse"] = sparse.csr_matrix(a.obsm["X_sag_resvae"])
    scores = sag.tl.embedding_scores(a, "X_sparse", "label", tsne=False)
    assert scores == pytest.approx(dense, nan_ok=True)
    # without key_added a view is only read
    assert sag.tl.embedding_scores(view, "X_sag_resvae", "label", tsne=False)["n_cells"] == 60


def test_the_model_of_embed_remembers_its_layer(adata, tmp_path):
    """embed(layer=...) returns a model that reads that layer by default on new data, as
    scvi-tools' models do; it is saved with the model."""
    import scanpy as sc

    adata.layers["counts"] = adata.X.copy()
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    model = sag.tl.embed(adata, layer="counts", config=TINY_EMBED, model_dir=tmp_path / "m")
    assert model.layer_ == "counts"
    np.testing.assert_allclose(
        model.get_latent(adata), adata.obsm["X_sag_resvae"], rtol=1e-5, atol=1e-5
    )
    loaded = sag.models.ResVAE.load(tmp_path / "m")
    assert loaded.layer_ == "counts"
    np.testing.assert_allclose(
        loaded.get_latent(adata), adata.obsm["X_sag_resvae"], rtol=1e-5, atol=1e-5
    )


def test_a_query_of_another_sort_is_embedded_and_reconstructed_right():
    """A count model on a query: with missing genes, the reconstruction of the genes present
    sums to their observed counts (the library is theirs over their share); with Ensembl
    versions that differ and the genes shuffled, it comes back in the query's order; extra
    signed columns (CLR features) are not checked as genes; a DataFrame is read as given."""
    adata = sag.datasets.synthetic(n_obs=200, n_vars=60, n_classes=3, seed=0)
    adata.var_names = [f"ENSG{i:011d}.7" for i in range(adata.n_vars)]
    model = sag.models.ResVAE(SMALL_ARCH, TINY_FIT).fit(adata, seed=0)
    assert model.transform_.value_type == "counts"
    full = model.reconstruct(adata)
    # missing genes: the present ones keep their observed depth
    part = adata[:, 20:].copy()
    rec = model.reconstruct(part)  # the model's genes, in its order
    counts = np.asarray(part.X.sum(axis=1)).ravel()
    np.testing.assert_allclose(rec[:, 20:].sum(axis=1), counts, rtol=1e-3)
    # other versions, shuffled: the query's order
    perm = np.random.default_rng(0).permutation(adata.n_vars)
    other = adata[:, perm].copy()
    other.var_names = [n.replace(".7", ".9") for n in other.var_names]
    np.testing.assert_allclose(model.reconstruct(other), full[:, perm], rtol=1e-5, atol=1e-5)
    # a signed extra feature is not one of the model's genes
    clr = ad.AnnData(
        -np.ones((adata.n_obs, 1), np.float32),
        obs=pd.DataFrame(index=adata.obs_names),
        var=pd.DataFrame(index=["CD3_clr"]),
    )
    extra = ad.concat([adata, clr], axis=1)
    extra.X = sparse.csr_matrix(extra.X)
    np.testing.assert_allclose(model.get_latent(extra), model.get_latent(adata), atol=1e-6)
    # a DataFrame: its values, with no word of layers
    frame = pd.DataFrame(adata.X.toarray(), columns=adata.var_names)
    np.testing.assert_allclose(model.get_latent(frame), model.get_latent(adata), atol=1e-6)
    adata.layers["counts"] = adata.X.copy()
    on_layer = sag.models.ResVAE(SMALL_ARCH, TINY_FIT).fit(adata, layer="counts", seed=0)
    assert on_layer.layer_ == "counts"
    np.testing.assert_allclose(on_layer.get_latent(frame), on_layer.get_latent(adata), atol=1e-6)


def test_encode_embeds_a_query_with_a_trained_model_and_round_trips(adata, tmp_path):
    """sag.tl.encode: the model's latent of a query whose genes are shuffled (and, without
    recon, partly missing) lands where embed puts it, with a record of its own that survives
    the h5ad; on the reference itself it updates embed's record of the same model."""
    model = sag.tl.embed(adata, config=ONE_TRIAL, recon=True)
    query = sag.datasets.synthetic(n_obs=80, n_vars=200, n_classes=3, seed=1)
    query = query[:, np.random.default_rng(0).permutation(query.n_vars)].copy()
    sag.tl.encode(query, model, recon=True)
    np.testing.assert_allclose(query.obsm["X_sag_resvae"], model.get_latent(query), atol=1e-6)
    np.testing.assert_allclose(
        query.layers["sag_resvae_recon"], model.reconstruct(query), rtol=1e-5, atol=1e-5
    )
    rec = query.uns["sag_resvae"]
    assert rec["model_digest"] == model.weights_digest() == adata.uns["sag_resvae"]["model_digest"]
    assert rec["n_latent"] == 10
    assert rec["likelihood"] == "nb"
    assert rec["gene_overlap"]["n_common"] == 200
    path = tmp_path / "q.h5ad"
    query.write_h5ad(path)
    back = ad.read_h5ad(path)
    np.testing.assert_array_equal(back.obsm["X_sag_resvae"], query.obsm["X_sag_resvae"])
    assert back.uns["sag_resvae"]["encode_params"]["recon"]
    assert back.uns["sag_resvae"]["active_dims"] == rec["active_dims"]
    # again with missing genes and no recon: the earlier reconstruction is removed
    part = query[:, 20:].copy()
    sag.tl.encode(part, model)
    assert "sag_resvae_recon" not in part.layers
    assert part.uns["sag_resvae"]["gene_overlap"]["n_missing_filled"] == 20
    assert part.uns["sag_resvae"]["encode_params"]["recon"] is False
    # the reference: embed's record is kept (its losses and trials) and updated; the scores
    # of its cells do not describe a subset's latent
    sag.tl.embedding_scores(adata, "X_sag_resvae", "label", tsne=False, key_added="sag_resvae")
    trials = len(adata.uns["sag_resvae"]["trials"])
    sub = adata[:100].copy()
    sag.tl.encode(sub, model)
    assert "scores" not in sub.uns["sag_resvae"]
    assert len(sub.uns["sag_resvae"]["trials"]) == trials
    assert "losses" in sub.uns["sag_resvae"]
    assert "encode_params" in sub.uns["sag_resvae"]
    assert "sag_resvae_recon" not in sub.layers
    # a record written before embed recorded the digest cannot be told apart: not replaced
    del sub.uns["sag_resvae"]["model_digest"]
    with pytest.raises(ValueError, match=r"cannot tell apart.*or delete"):
        sag.tl.encode(sub, model)
    # and embed may replace what encode wrote
    sag.tl.embed(part, config=ONE_TRIAL)
    assert "encode_params" not in part.uns["sag_resvae"]


def test_encode_refuses_before_any_work(adata):
    """Another model's embed run, another tool's record, a reconstruction of genes the query
    lacks, a model of another kind: errors that leave the query as it was."""
    model = sag.tl.embed(adata, config=ONE_TRIAL)
    other = sag.datasets.synthetic(n_obs=120, n_vars=200, n_classes=3, seed=2)
    sag.tl.embed(other, config=ONE_TRIAL, seed=5)
    before = other.obsm["X_sag_resvae"].copy()
    with pytest.raises(ValueError, match=r"embed run of another model.*key_added"):
        sag.tl.encode(other, model)
    np.testing.assert_array_equal(other.obsm["X_sag_resvae"], before)
    sag.tl.encode(other, model, key_added="sag_query")  # another key keeps both
    assert other.obsm["X_sag_query"].shape == (other.n_obs, 10)
    np.testing.assert_array_equal(other.obsm["X_sag_resvae"], before)
    part = other[:, 5:].copy()
    with pytest.raises(ValueError, match=r"recon=True writes a layer.*195 genes, 195 of them"):
        sag.tl.encode(part, model, recon=True, key_added="q")
    assert "X_q" not in part.obsm
    mine = other.copy()
    mine.uns["sag_query"] = {"note": "mine"}
    with pytest.raises(ValueError, match="a dict that no sag tool wrote"):
        sag.tl.encode(mine, model, key_added="sag_query")
    assert mine.uns["sag_query"] == {"note": "mine"}
    with pytest.raises(TypeError, match="must be a scautogenome ResVAE"):
        sag.tl.encode(other, object())
    with pytest.raises(TypeError, match="recon='yes' must be True or False"):
        sag.tl.encode(other, model, recon="yes", key_added="q")
    # another package's latent under the key, or the layer this call writes as its input
    theirs = other.copy()
    theirs.obsm["X_scVI"] = np.zeros((theirs.n_obs, 10), np.float32)
    for tool in (sag.tl.encode, sag.tl.embed):
        args = (theirs, model) if tool is sag.tl.encode else (theirs,)
        with pytest.raises(ValueError, match=r"obsm\['X_scVI'\] exists without a record"):
            tool(*args, key_added="scVI")
    assert not theirs.obsm["X_scVI"].any()
    theirs.layers["q_recon"] = theirs.X.copy()
    with pytest.raises(ValueError, match="exists without a record"):
        sag.tl.encode(theirs, model, key_added="q")
    with pytest.raises(ValueError, match="writes its reconstruction"):
        sag.tl.encode(theirs, model, layer="sag_query_recon", key_added="sag_query")
    with pytest.raises(ValueError, match="a view"):
        sag.tl.encode(other[:10], model, key_added="v")
    with pytest.raises(ValueError, match="below min_gene_overlap"):
        sag.tl.encode(other[:, :50].copy(), model, key_added="few")


def test_plot_embedding_of_a_subset_keeps_its_coordinates(tmp_path, monkeypatch):
    """As sc.pl.umap(adata[mask]) keeps X_umap's rows: a subset whose latent rows are all ones
    the 2-D coordinates (t-SNE here, the fast path) were computed from keeps them, a new
    latent or rows of another are recomputed with a warning; other parameters quietly. Axes read tSNE1/tSNE2; save= closes its figure; labels and
    predicted classes plotted together share colours, "Unassigned" light grey."""
    import matplotlib.pyplot as plt
    import scanpy as sc

    from scautogenome._settings import logger

    a = _fake_embedding()
    a.uns["sag_resvae"] = {"model_digest": "abc"}
    ax = sag.pl.embedding(a, method="tsne", color="label", show=False)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("tSNE1", "tSNE2")
    full = a.obsm["X_sag_resvae_tsne"].copy()
    mask = (a.obs["label"] != a.obs["label"].iloc[0]).to_numpy()
    sub = a[mask]
    sag.pl.embedding(sub, method="tsne", show=False)
    assert sub.is_view  # nothing written: the stored rows
    np.testing.assert_array_equal(sub.obsm["X_sag_resvae_tsne"], full[mask])
    other = a[mask].copy()
    other.obsm["X_sag_resvae"] = other.obsm["X_sag_resvae"] * 2.0  # a new latent
    records = []
    monkeypatch.setattr(logger, "warning", lambda *args: records.append(args[0] % args[1:]))
    sag.pl.embedding(other, method="tsne", show=False)
    assert any("recomputing it on these" in r for r in records)
    assert not np.array_equal(other.obsm["X_sag_resvae_tsne"], full[mask])
    # cells of two latents stacked, the 2-D parameters kept (anndata.concat(uns_merge="same")
    # keeps what the parts share): the rows of the other latent are not the stored ones
    mixed = a[mask].copy()
    mixed.obsm["X_sag_resvae"][:5] += 1.0
    records.clear()
    sag.pl.embedding(mixed, method="tsne", show=False)
    assert any("recomputing it on these" in r for r in records)
    # another random_state: recomputed without a warning of another latent
    records.clear()
    b = a[mask].copy()
    sag.pl.embedding(b, method="tsne", random_state=1, show=False)
    assert records == []
    back = _round_trip(a, tmp_path)  # the row keys survive the h5ad
    sub_back = back[mask]
    sag.pl.embedding(sub_back, method="tsne", show=False)
    assert sub_back.is_view
    # save= writes sag_embedding... and closes the figure
    figdir = sc.settings.figdir
    sc.settings.figdir = tmp_path
    try:
        plt.close("all")
        assert sag.pl.embedding(a, method="tsne", show=False, save="_x.png") is not None
    finally:
        sc.settings.figdir = figdir
    assert (tmp_path / "sag_embedding_x.png").exists()
    assert plt.get_fignums() == []
    # a query's labels lack a class; its predictions have it and "Unassigned"
    classes = sorted(a.obs["label"].astype(str).unique())
    query = a[a.obs["label"].astype(str) != classes[0]].copy()
    query.obs["label"] = query.obs["label"].astype(str).astype("category")
    query.uns.pop("label_colors", None)
    query.obs["pred"] = pd.Categorical(
        np.where(np.arange(query.n_obs) % 7 == 0, "Unassigned", query.obs["label"].astype(str)),
        categories=[*classes, "Unassigned"],
    )
    sag.pl.embedding(query, method="tsne", color=["label", "pred"], show=False)
    lab = dict(zip(query.obs["label"].cat.categories, query.uns["label_colors"]))
    pred = dict(zip(query.obs["pred"].cat.categories, query.uns["pred_colors"]))
    assert all(pred[c] == lab[c] for c in lab)
    assert pred["Unassigned"] == sag.plotting._utils.UNASSIGNED_COLOR
    assert pred[classes[0]] not in lab.values()
    plt.close("all")


def test_many_cells_show_a_bar_and_a_large_reconstruction_is_warned_about(adata, monkeypatch):
    """From INFERENCE_BAR_ROWS cells on, encoding (as predicting) goes through a bar;
    recon=True warns before any work when its dense layer would be large."""
    from scautogenome import _logging
    from scautogenome.tools import _embed

    model = sag.models.ResVAE(SMALL_ARCH, TINY_FIT).fit(adata, seed=0)
    bars = []
    real = _logging.progress
    monkeypatch.setattr(
        _logging, "progress", lambda total, desc, **kw: bars.append(desc) or real(total, desc, **kw)
    )
    monkeypatch.setattr(_logging, "INFERENCE_BAR_ROWS", adata.n_obs)
    full = model.get_latent(adata)
    assert bars == [f"encoding {adata.n_obs:,} cells"]
    monkeypatch.setattr(_logging, "INFERENCE_BAR_ROWS", adata.n_obs + 1)
    np.testing.assert_array_equal(model.get_latent(adata), full)  # no bar, same latent
    assert len(bars) == 1
    said = []
    monkeypatch.setattr(_embed, "RECON_WARN_BYTES", 4 * adata.n_obs * adata.n_vars - 1)
    monkeypatch.setattr(
        sag._settings.logger, "warning", lambda *args: said.append(args[0] % args[1:])
    )
    sag.tl.encode(adata, model, recon=False, key_added="small")
    assert not said
    sag.tl.encode(adata, model, recon=True, key_added="big")
    assert any(f"recon=True stores a dense {adata.n_obs} x {adata.n_vars}" in m for m in said)


def test_a_long_epoch_tells_the_search_bar_its_batch(adata, monkeypatch):
    """Within an epoch, the training loop reports its batch to the running search's bar (at
    most every HEARTBEAT_SECONDS; 0 here), and outside a search to nobody."""
    from scautogenome import _logging
    from scautogenome.search import _study

    heard = []
    real = _logging.batch_heartbeat

    def spy(hook):
        return real(lambda i, n: (heard.append((i, n)), hook(i, n)))

    monkeypatch.setattr(_logging, "HEARTBEAT_SECONDS", 0.0)
    monkeypatch.setattr(_study, "batch_heartbeat", spy)
    sag.tl.embed(adata, config=ONE_TRIAL)
    n_train = adata.n_obs - round(0.1 * adata.n_obs)
    n_batches = -(-n_train // 64)  # TINY_EMBED's batch size
    assert heard
    assert {n for _, n in heard} == {n_batches}
    assert {i for i, _ in heard} == set(range(n_batches))
    heard.clear()
    _logging.batch_done(0, 1)  # no search running: nobody listens
    assert heard == []
    assert _logging._HEARTBEAT.get() is None


def test_inverse_scale_undoes_the_gene_wise_scaling():
    """InputTransform.inverse_scale maps the 0-1 values back to the row-wise step's scale:
    log1p of 1e4-normalized counts for counts; a gene constant in training gets its value."""
    from scautogenome.data import InputTransform

    rng = np.random.default_rng(0)
    counts = rng.poisson(3.0, size=(40, 6)).astype(np.float32)
    counts[:, 2] = 0  # constant on the training rows
    t = InputTransform(value_type="counts").fit(counts, np.arange(40))
    scaled = t.apply(counts)
    back = t.inverse_scale(scaled)
    expected = np.log1p(counts * (1e4 / counts.sum(1, keepdims=True)))
    np.testing.assert_allclose(back, expected, rtol=1e-5, atol=1e-5)
    assert back.dtype == np.float32
    assert not np.shares_memory(scaled, back)  # a copy by default
    assert t.inverse_scale(scaled, copy=False) is scaled  # in place on float32
    cont = InputTransform(value_type="continuous").fit(rng.normal(size=(10, 3)), np.arange(10))
    np.testing.assert_allclose(cont.inverse_scale(np.zeros((2, 3))), np.tile(cont.min_, (2, 1)))
    with pytest.raises(ValueError, match=r"one column per gene of the transform \(3\)"):
        cont.inverse_scale(np.zeros((2, 4)))
    with pytest.raises(RuntimeError, match=r"fit\(\) must be called"):
        InputTransform().inverse_scale(np.zeros((2, 3)))
    unscaled = InputTransform(scale=False)
    np.testing.assert_array_equal(unscaled.inverse_scale(np.ones((2, 3))), np.ones((2, 3)))


def test_a_gaussian_reconstruction_reads_like_the_data(adata, tmp_path):
    """embed(recon=True) of log-normalized values (likelihood "gaussian") writes a layer on the
    data's scale, not the 0-1 one the encoder sees: per-gene means close to the data's. It is
    the same on a second run of the same seed, through encode and model.reconstruct, and
    after an h5ad round trip."""
    import scanpy as sc

    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    again = adata.copy()
    model = sag.tl.embed(adata, config=ONE_TRIAL, recon=True)
    assert model.likelihood_ == "gaussian"
    rec = adata.layers["sag_resvae_recon"]
    assert rec.dtype == np.float32
    data_means = np.asarray(adata.X.mean(0)).ravel()
    rec_means = rec.mean(0)
    assert data_means.mean() > 2  # the 0-1 scale would be far off
    assert np.abs(rec_means - data_means).mean() < 0.1 * data_means.mean()
    assert np.corrcoef(rec_means, data_means)[0, 1] > 0.9
    sag.tl.embed(again, config=ONE_TRIAL, recon=True)  # same seed: the same layer
    np.testing.assert_array_equal(again.layers["sag_resvae_recon"], rec)
    np.testing.assert_allclose(model.reconstruct(adata), rec, rtol=1e-5, atol=1e-5)
    query = adata.copy()
    sag.tl.encode(query, model, recon=True, key_added="q")
    np.testing.assert_allclose(query.layers["q_recon"], rec, rtol=1e-5, atol=1e-5)
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    np.testing.assert_array_equal(back.layers["sag_resvae_recon"], rec)


def test_embedding_scores_sample_the_silhouette_and_tsne_of_many_cells():
    """Past max_cells the silhouette and the t-SNE run on a seeded sample (said in
    n_cells_sampled); Davies-Bouldin and Leiden use every cell; fewer cells are all used."""
    from sklearn import metrics as skm

    rng = np.random.default_rng(0)
    a = ad.AnnData(np.zeros((300, 2), dtype=np.float32))
    a.obs["label"] = pd.Categorical(rng.choice(["a", "b", "c"], 300))
    a.obsm["X_e"] = (
        rng.normal(size=(300, 3)) + a.obs["label"].cat.codes.to_numpy()[:, None]
    ).astype(np.float32)
    whole = sag.tl.embedding_scores(a, "X_e", "label", tsne=False, seed=0)
    assert whole["n_cells_sampled"] == whole["n_cells"] == 300
    part = sag.tl.embedding_scores(a, "X_e", "label", tsne=True, seed=0, max_cells=100)
    assert part["n_cells_sampled"] == 100
    assert part["n_cells"] == 300
    assert part["davies_bouldin"] == whole["davies_bouldin"]
    assert (part["ari"], part["nmi"]) == (whole["ari"], whole["nmi"])
    rows = np.sort(np.random.default_rng(0).choice(300, 100, replace=False))
    y = a.obs["label"].astype(str).to_numpy()
    assert part["silhouette"] == pytest.approx(skm.silhouette_score(a.obsm["X_e"][rows], y[rows]))
    assert np.isfinite(part["davies_bouldin_tsne"])
    assert part == sag.tl.embedding_scores(a, "X_e", "label", tsne=True, seed=0, max_cells=100)
    for bad in (1, 2.5, True):
        with pytest.raises((TypeError, ValueError), match="max_cells"):
            sag.tl.embedding_scores(a, "X_e", "label", max_cells=bad)


def test_plot_embedding_edges_are_the_graph_of_its_umap(tmp_path):
    """edges=True draws the kNN graph of the latent the UMAP was computed from, not the user's
    default graph; sc.settings.autosave writes one file, under sag's name."""
    import scanpy as sc
    from matplotlib.collections import LineCollection
    from scipy.spatial import cKDTree

    a = _fake_embedding()
    # the user's own default graph, of other coordinates
    a.obsm["X_other"] = np.random.default_rng(1).normal(size=(a.n_obs, 3)).astype(np.float32)
    sc.pp.neighbors(a, use_rep="X_other", n_neighbors=5)
    user_graph = a.obsp["connectivities"].copy()
    ax = sag.pl.embedding(a, color="label", edges=True, show=False)
    segments = np.asarray(
        next(c for c in ax.collections if isinstance(c, LineCollection)).get_segments()
    )
    tree = cKDTree(a.obsm["X_sag_resvae_umap"])
    ends = np.stack([tree.query(segments[:, 0])[1], tree.query(segments[:, 1])[1]], axis=1)
    own = a.obsp["sag_resvae_neighbors_connectivities"]
    own = own + own.T
    assert all(own[i, j] > 0 for i, j in ends)
    assert (a.obsp["connectivities"] != user_graph).nnz == 0  # the user's graph untouched
    figdir = tmp_path / "figures"
    old = sc.settings.figdir, sc.settings.autosave, sc.settings.autoshow
    sc.settings.figdir, sc.settings.autosave, sc.settings.autoshow = figdir, True, False
    try:
        sag.pl.embedding(a, color="label")
    finally:
        sc.settings.figdir, sc.settings.autosave, sc.settings.autoshow = old
    assert sorted(p.name for p in figdir.iterdir()) == ["sag_embedding.pdf"]


def test_encode_reads_a_gene_subset_query_at_its_cells_depth(adata, monkeypatch):
    """A counts query lacking genes: the encoder's input divides each cell's total by the
    present genes' share of the training counts, as predict's does."""
    from scautogenome.data._transform import TorchTransform

    model = sag.models.ResVAE(SMALL_ARCH, TINY_FIT).fit(adata, seed=0)
    seen = []
    real = TorchTransform.__call__

    def spy(self, x):
        seen.append(self.coverage)
        return real(self, x)

    monkeypatch.setattr(TorchTransform, "__call__", spy)
    model.get_latent(adata[:, 20:].copy())
    expected = model.transform_.coverage(np.arange(20))
    assert 0.0 < expected < 1.0
    assert set(seen) == {expected}
    seen.clear()
    model.get_latent(adata)  # every gene: as it was
    assert set(seen) == {1.0}


def test_the_vae_detects_the_value_type_on_its_training_cells(adata, sag_caplog):
    """As classify's: a validation cell 0.5 off a whole number leaves a counts matrix read
    as counts (it made it 'continuous' for every cell), with a warning."""
    arch = {"kind": "vae", "n_latent": 2, "widths": [8]}
    clean = sag.models.ResVAE(arch, {"max_epochs": 1}).fit(adata, seed=0)
    assert clean.transform_.value_type == "counts"
    val_cell = np.flatnonzero((clean.split_ == "val").to_numpy())[0]
    edited = adata.copy()
    X = edited.X.toarray() if hasattr(edited.X, "toarray") else edited.X.copy()
    X[val_cell, 0] += 0.5
    edited.X = X
    model = sag.models.ResVAE(arch, {"max_epochs": 1}).fit(edited, seed=0)
    assert model.transform_.value_type == "counts"
    assert "the training cells hold raw counts, but some of the" in sag_caplog.text


def test_the_scores_long_steps_say_they_are_still_running(monkeypatch):
    """The silhouette, t-SNE, the kNN graph, the Leiden runs and UMAP show no progress of
    their own: each runs inside ``still_running`` (whose lines are tested with the models)."""
    import contextlib

    import matplotlib.pyplot as plt

    import scautogenome._logging as sag_logging
    import scautogenome.plotting._embedding as pl_embedding
    import scautogenome.tools._embed as tl_embed

    steps = []

    @contextlib.contextmanager
    def recorded(what, every=None):
        steps.append(what)
        yield

    for module in (sag_logging, pl_embedding, tl_embed):
        monkeypatch.setattr(module, "still_running", recorded)
    rng = np.random.default_rng(0)
    a = ad.AnnData(np.zeros((120, 3), np.float32))
    a.obs["label"] = pd.Categorical(np.repeat(["x", "y", "z"], 40))
    a.obsm["X_lat"] = rng.normal(size=(120, 4)) + 3 * a.obs["label"].cat.codes.to_numpy()[:, None]
    sag.tl.embedding_scores(a, "X_lat", "label")
    sag.pl.embedding(a, basis="X_lat", color="label", show=False)
    plt.close("all")
    assert steps == ["silhouette", "t-SNE", "kNN graph", "Leiden", "kNN graph", "UMAP"]


def test_embedding_scores_sample_keeps_every_label_and_a_latent_of_one_dimension():
    """A label of 2 cells among many: the silhouette's and the t-SNE's sample keeps both of
    them (a sample of one label failed in scikit-learn, for some seeds). A latent of one
    dimension gets its t-SNE too (scikit-learn's PCA start needs two)."""
    rng = np.random.default_rng(0)
    n = 400
    labels = np.array(["a"] * (n - 2) + ["rare"] * 2)
    a = ad.AnnData(np.zeros((n, 2), dtype=np.float32))
    a.obs["label"] = pd.Categorical(labels)
    a.obsm["X_e"] = (rng.normal(size=(n, 3)) + (labels == "rare")[:, None] * 4).astype(np.float32)
    for seed in range(6):
        s = sag.tl.embedding_scores(a, "X_e", "label", tsne=False, seed=seed, max_cells=40)
        assert np.isfinite(s["silhouette"])
        # 40, and the rare label's cells the draw missed (two of each label at least)
        assert 40 <= s["n_cells_sampled"] <= 42
    one = _fake_embedding(n_per=12)
    one.obsm["X_one"] = one.obsm["X_sag_resvae"][:, :1].copy()
    s = sag.tl.embedding_scores(one, "X_one", "label")
    assert np.isfinite(s["davies_bouldin_tsne"])
    sag.pl.embedding(one, "X_one", method="tsne", color="label", show=False)
    assert one.obsm["X_one_tsne"].shape == (one.n_obs, 2)


def test_a_key_added_with_scanpys_prefix_is_refused_before_any_work(adata):
    """key_added="X_mine" wrote obsm['X_X_mine']: embed and encode put the latent under
    'X_' + key_added, so a key_added that starts with it is refused, naming the one meant."""
    before = (list(adata.obsm), list(adata.uns), list(adata.layers))
    match = (
        r"^key_added='X_mine': (embed|encode) writes the latent to obsm\['X_' \+ key_added\], "
        r"here obsm\['X_X_mine'\]; pass key_added='mine' for obsm\['X_mine'\]\.$"
    )
    with pytest.raises(ValueError, match=match):
        sag.tl.embed(adata, key_added="X_mine", n_trials=1)
    vae = sag.models.ResVAE({"kind": "vae", "n_latent": 2, "widths": [8]}, {"max_epochs": 1})
    with pytest.raises(ValueError, match=match):
        sag.tl.encode(adata, vae, key_added="X_mine")  # before the model is looked at
    assert (list(adata.obsm), list(adata.uns), list(adata.layers)) == before


def test_replacing_a_reconstruction_a_classifier_trained_on_warns(tiny_config, sag_caplog):
    """A classify run trained on layers['sag_resvae_recon']; the embed cell re-run (or an
    encode) replaces that layer, or removes it with recon=False: a warning names the run,
    since its model now reads other values there than it trained on."""
    adata = sag.datasets.synthetic(n_obs=120, n_vars=40, n_classes=3, seed=0)
    sag.tl.embed(adata, config=ONE_TRIAL, n_latent=3, recon=True)
    sag.tl.classify(adata, "label", layer="sag_resvae_recon", config=tiny_config)
    sag_caplog.clear()
    vae = sag.tl.embed(adata, config=ONE_TRIAL, n_latent=3, recon=True, seed=7)
    warned = [r.getMessage() for r in sag_caplog.records if r.levelname == "WARNING"]
    assert any(
        "layers['sag_resvae_recon'] is replaced by this reconstruction; the classify run "
        "uns['sag'] trained on it" in m
        for m in warned
    ), warned
    sag_caplog.clear()
    sag.tl.encode(adata, vae)  # recon=False: the layer goes
    assert "sag_resvae_recon" not in adata.layers
    assert "layers['sag_resvae_recon'] is removed; the classify run uns['sag']" in sag_caplog.text
    sag_caplog.clear()
    sag.tl.embed(adata, config=ONE_TRIAL, n_latent=3, recon=True, key_added="other")
    assert "trained on it" not in sag_caplog.text  # another layer: nothing to say


def test_embedding_scores_keeps_scanpy_quiet_and_says_what_it_found(sag_caplog, capfd):
    """scanpy's own lines inside embedding_scores (at a scanpy tutorial's verbosity 3) spoke
    of an AnnData the user never sees ("added to `.uns['neighbors']`", "found 1 clusters");
    they are held back, scanpy's verbosity is given back, and sag's last line gives the time
    and the scores."""
    import scanpy as sc

    adata = sag.datasets.synthetic(n_obs=150, n_vars=20, n_classes=3, seed=0)
    adata.obsm["X_test"] = np.random.default_rng(0).normal(size=(150, 4)).astype(np.float32)
    before = sc.settings.verbosity
    sc.settings.verbosity = 3
    try:
        capfd.readouterr()
        sag.tl.embedding_scores(adata, "X_test", "label", tsne=False)
        err = capfd.readouterr().err
        assert int(sc.settings.verbosity) == 3
    finally:
        sc.settings.verbosity = before
    assert "computing neighbors" not in err
    assert "running Leiden clustering" not in err
    assert "neighbors" not in adata.uns
    assert re.search(
        r"finished embedding_scores \(\d:\d\d:\d\d\): ARI -?[\d.]+, NMI [\d.]+, "
        r"silhouette -?[\d.]+, Davies-Bouldin [\d.]+",
        sag_caplog.text,
    )


def test_a_rerun_stopped_as_its_record_is_made_leaves_the_earlier_run_whole(adata, monkeypatch):
    """Interrupted while its uns record is made h5ad-safe, a second embed run (or an encode
    of the same cells) writes nothing: the first run's latent, reconstruction and record stay
    as they were, never the new latent beside the old run's record (its model digest)."""
    from conftest import adata_state, assert_adata_state, interrupt_uns_record

    from scautogenome.tools import _embed, _encode

    model = sag.tl.embed(adata, config=ONE_TRIAL, recon=True, seed=0)
    before = adata_state(adata)
    with monkeypatch.context() as m:
        interrupt_uns_record(m, _embed)
        with pytest.raises(KeyboardInterrupt):
            sag.tl.embed(adata, config=ONE_TRIAL, seed=1)  # no reconstruction: removed
    assert_adata_state(adata, before)
    query = sag.datasets.synthetic(n_obs=80, n_vars=200, n_classes=3, seed=1)
    sag.tl.encode(query, model, recon=True)
    before = adata_state(query)
    interrupt_uns_record(monkeypatch, _encode)
    with pytest.raises(KeyboardInterrupt):
        sag.tl.encode(query, model)  # no reconstruction: removed
    assert_adata_state(query, before)


def test_the_count_likelihood_leaves_cudnn_benchmark_as_it_was():
    """scvi-tools' first import turns torch.backends.cudnn.benchmark on for the process (the
    user's own cuDNN convolutions then no longer repeat run to run); the count likelihood,
    all sag imports it for, leaves the flag as the user had it. A fresh interpreter: the
    import happens once."""
    code = (
        "import sys, torch\n"
        "from scautogenome.nn._vae import nb_log_prob\n"
        "assert 'scvi' not in sys.modules\n"
        "x = torch.tensor([[0.0, 3.0]]); mu = torch.tensor([[1.0, 2.0]])\n"
        "nb_log_prob(x, mu, torch.tensor([2.0, 2.0]))\n"
        "assert 'scvi' in sys.modules\n"
        "print(torch.backends.cudnn.benchmark)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stdout + out.stderr


def test_a_search_whose_every_trial_diverged_names_embeds_own_learning_rate_key(adata):
    """The error of an embed search whose trials all diverged named classify's key
    (config['space']['common']['lr']), which embed's config refuses."""
    config = {"space": {"lr": {"type": "float", "low": 1e3, "high": 1e4, "log": True}}}
    with pytest.raises(RuntimeError, match=r"diverged.*config\['space'\]\['lr'\]\)"):
        sag.tl.embed(adata, config=config, n_trials=2, time_budget=60, max_epochs=3)


def test_encode_recon_of_a_query_of_other_names_says_where_the_genes_are(adata):
    """recon=True on a query naming its genes otherwise (Ensembl ids, symbols in a var
    column) gave recon's own error, without the overlap's hint of where the genes are."""
    model = sag.models.ResVAE(SMALL_ARCH, TINY_FIT).fit(adata)
    query = adata.copy()
    query.var["symbol"] = query.var_names.astype(str)
    query.var_names = [f"ENSG{i:011d}" for i in range(query.n_vars)]
    with pytest.raises(
        ValueError,
        match=r"adata\.var\['symbol'\] holds 200 of them: match the genes by it \(gene_symbols='symbol' of sag\.tl\.predict",
    ):
        sag.tl.encode(query, model, recon=True)
    # a query holding part of the model's genes in X, all of them in raw: recon's own error
    # (the overlap is above min_gene_overlap) says where they are
    part = adata.copy()
    part.raw = part
    part = part[:, :150].copy()
    with pytest.raises(
        ValueError, match=r"recon=True writes a layer.*adata\.raw holds 200 of them"
    ):
        sag.tl.encode(part, model, recon=True)


def test_encode_warns_of_model_genes_zero_in_every_query_cell(adata, sag_caplog):
    """A query whose outer join filled a third of the model's genes with 0 is warned of, as
    predict does; the training cells are not."""
    model = sag.models.ResVAE(SMALL_ARCH, TINY_FIT).fit(adata)
    joined = adata.copy()
    dense = joined.X.toarray()
    dense[:, 50:110] = 0
    joined.X = sparse.csr_matrix(dense)
    sag_caplog.clear()
    sag.tl.encode(adata, model)
    assert "are 0 in every one of them" not in sag_caplog.text
    sag.tl.encode(joined, model)
    assert "60 of the 200 model genes that all 300 cells should show" in (
        " ".join(sag_caplog.text.split())
    )


def test_encode_gene_symbols_matches_the_genes_by_a_var_column(adata):
    """encode(gene_symbols=) reads a query of other gene names by a var column: the latent
    and the reconstruction of the same query named by it; its var_names stay its own."""
    model = sag.models.ResVAE(SMALL_ARCH, TINY_FIT).fit(adata)
    ref = adata.copy()
    sag.tl.encode(ref, model, recon=True)
    query = adata.copy()
    query.var["symbol"] = query.var_names.astype(str)
    query.var_names = [f"ENSG{i:011d}" for i in range(query.n_vars)]
    own = query.var_names.copy()
    sag.tl.encode(query, model, recon=True, gene_symbols="symbol")
    np.testing.assert_array_equal(query.obsm["X_sag_resvae"], ref.obsm["X_sag_resvae"])
    np.testing.assert_array_equal(query.layers["sag_resvae_recon"], ref.layers["sag_resvae_recon"])
    assert query.var_names.equals(own)
    assert query.uns["sag_resvae"]["encode_params"]["gene_symbols"] == "symbol"


def test_embedding_score_pins():
    """Davies-Bouldin of clusters apart by less than float32 resolves at their scale is NaN
    (not a perfect 0); batch_asw stays within 0-1 and takes a label with one cell per
    batch; a NaN in the latent is refused naming the obsm key."""
    from scautogenome.tools._embed import batch_silhouette, davies_bouldin

    close = np.array([[1e6]] * 5 + [[1e6 + 0.0625]] * 5, dtype=np.float32)
    assert np.isnan(davies_bouldin(close, np.array(["a"] * 5 + ["b"] * 5), "x"))
    emb = np.array([[0.0], [10.0], [0.1], [10.1], [5.0], [6.0]])
    labels = np.array(list("LLLLMM"))
    batches = np.array(list("aabbab"))
    assert batch_silhouette(emb, labels, batches) == pytest.approx(0.505, abs=1e-3)
    assert batch_silhouette(emb[:4], labels[:4], batches[:4]) == pytest.approx(0.505, abs=1e-3)
    a = sag.datasets.synthetic(n_obs=60, n_vars=20, n_classes=2, seed=0)
    a.obsm["X_e"] = np.random.default_rng(0).normal(size=(60, 3)).astype(np.float32)
    a.obsm["X_e"][4, 1] = np.nan
    with pytest.raises(ValueError, match=r"obsm\['X_e'\] contains NaN or infinite"):
        sag.tl.embedding_scores(a, "X_e", "label")


def test_the_search_keeps_the_trial_of_the_lowest_validation_loss():
    """embed's search minimises the validation loss (its objective, an ELBO's negative): the
    kept trial is the complete one of the lowest value. Searched the other way it kept the
    worst model of the search and no test failed (mutation testing)."""
    adata = sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0)
    cfg = {
        "budget": {"n_trials": 3, "time_budget": None},
        "trainer": {"max_epochs": 4, "patience": 3, "min_epochs": 2, "kl_warmup_epochs": 2},
        "search": {"prune_warmup_epochs": 2, "n_startup_trials": 2, "pruner": "none"},
        "space": {
            "n_layers": [3],
            "batch_size": [64],
            "first_width": [128, 64],
            "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        },
    }
    sag.tl.embed(adata, config=cfg, seed=0)
    uns = adata.uns["sag_resvae"]
    done = uns["trials"][uns["trials"]["state"] == "complete"]
    assert len(done) == 3
    assert done["value"].nunique() == 3  # a real choice
    assert int(done.loc[done["value"].idxmin(), "number"]) == int(uns["best"]["trial"])


def test_first_widths_are_capped_at_the_genes_in_every_trial():
    """Every trial draws its first width from the space capped at the number of genes (a
    width of 1,024 over 300 genes widens nothing); a range whose low is above the genes
    becomes that low alone (not an empty range, high below low)."""
    from scautogenome.search._vae import cap_widths, sample_vae_trial

    cfg = embed_config.default()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(10):
        trial = study.ask()
        arch, _ = sample_vae_trial(trial, cfg, 300, 10, "nb")
        study.tell(trial, 0.0)
        assert arch["widths"][0] <= 300
    ranged = {**cfg["space"], "first_width": {"type": "int", "low": 256, "high": 1024}}
    spec = cap_widths(ranged, 100)["first_width"]
    assert spec["low"] == spec["high"] == 256


# -- mutation-testing gaps: the VAE's likelihoods, KL, latent and trainer bookkeeping -------


def test_the_vae_loss_terms_and_latent_draw_are_their_closed_forms():
    """The KL term is KL(N(mu, exp(logvar)) || N(0, 1)) summed over the latent dimensions,
    ``"mse"`` the squared error summed over genes, ``"gaussian"`` the Gaussian negative
    log-likelihood at the batch's mean squared error, and a draw is ``mu + eps * sigma``. If
    any were off (a factor, a sign, a mean for a sum, ``sigma**2`` for ``sigma``), the user's
    ELBO would weigh reconstruction against the KL wrongly: a collapsed or unregularised
    latent."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(12, 30, generator=gen)
    eps = torch.randn(12, 5, generator=gen)
    prior = torch.distributions.Normal(0.0, 1.0)
    for likelihood in ("mse", "gaussian"):
        net = build_vae({**SMALL_ARCH, "n_inputs": 30, "likelihood": likelihood}).eval()
        with torch.no_grad():
            net.logvar.bias.fill_(0.7)  # sigma far from 1: exp(logvar) and exp(logvar / 2) differ
        with torch.no_grad():
            out = net(x, eps=eps)
            recon, kl = net.loss(out, x)
        sigma = torch.exp(0.5 * out["logvar"])
        torch.testing.assert_close(out["z"], out["mu"] + eps * sigma)
        q = torch.distributions.Normal(out["mu"], sigma)
        torch.testing.assert_close(kl, torch.distributions.kl_divergence(q, prior).sum(dim=1))
        sq = (out["recon"] - x) ** 2
        if likelihood == "mse":
            torch.testing.assert_close(recon, sq.sum(dim=1))
        else:
            noise = torch.distributions.Normal(out["recon"], sq.mean().sqrt())
            torch.testing.assert_close(recon, -noise.log_prob(x).sum(dim=1))


@pytest.mark.parametrize("likelihood", ["nb", "zinb"])
def test_count_loss_is_scvis_at_exp_log_theta_and_the_library_of_every_gene(likelihood):
    """A trained count VAE's loss is scvi-tools' NB / ZINB negative log-likelihood with
    ``theta = exp(log_theta)`` (not only at the initial ``log_theta = 0``, where any
    parametrisation agrees) and a mean of the cell's observed library size, its total over
    every gene, the ones the decoder leaves out included, times the decoder's frequencies (as
    scVI's ``use_observed_lib_size``). Otherwise the search would minimise another likelihood
    than the one documented and the saved dispersion would mean something else."""
    pytest.importorskip("scvi")
    from scvi.distributions import NegativeBinomial, ZeroInflatedNegativeBinomial

    gen = torch.Generator().manual_seed(1)
    x = torch.poisson(torch.rand(16, 40, generator=gen) * 5)
    x[:, 1::2] += 7.0  # the genes left out carry counts of their own
    reads = np.arange(0, 40, 2)
    net = build_vae({**SMALL_ARCH, "n_inputs": 40, "likelihood": likelihood}, reads=reads)
    net.eval()
    with torch.no_grad():
        net.log_theta.copy_(torch.randn(20, generator=gen))
        out = net(torch.log1p(x), sample=False)
        recon, _ = net.loss(out, x)
    mu = x.sum(dim=1, keepdim=True) * out["scale"]
    theta = torch.exp(net.log_theta.detach())
    if likelihood == "nb":
        dist = NegativeBinomial(mu=mu, theta=theta)
    else:
        dist = ZeroInflatedNegativeBinomial(mu=mu, theta=theta, zi_logits=out["zi_logits"])
    torch.testing.assert_close(recon, -dist.log_prob(x[:, reads]).sum(dim=1))


def test_the_first_layer_keep_ratio_drops_that_share_of_the_inputs():
    """``input_keep`` is the share of input genes kept in training (the paper's first-layer
    drop-out): with 0.8, a fifth of the inputs are zeroed and the rest scaled by 1 / 0.8. Read
    as a drop rate, a searched keep ratio of 0.8 would drop 80% of the genes."""
    net = build_vae({**SMALL_ARCH, "n_inputs": 50, "input_keep": 0.8}).train()
    torch.manual_seed(0)
    out = net.input_drop(torch.ones(400, 50))
    assert float((out == 0).float().mean()) == pytest.approx(0.2, abs=0.02)
    assert float(out.max()) == pytest.approx(1 / 0.8)


def test_active_dims_are_those_whose_variance_passes_the_threshold(sag_caplog):
    """A latent dimension is active when its variance across cells exceeds 0.01 (not its
    standard deviation): a dimension with a standard deviation of 0.05 (variance 0.0025) is
    collapsed, and ``uns['active_dims']`` must say so; fewer than half of the dimensions
    active (4 of 10) is warned about as a posterior collapse, half of them (5) is not. A
    looser threshold would let a user keep a latent that carries little."""
    from scautogenome.models._resvae import active_dims, warn_if_collapsed

    rng = np.random.default_rng(0)
    latent = np.stack([rng.normal(0, 0.05, 2000), rng.normal(0, 0.2, 2000)], axis=1)
    assert active_dims(latent).tolist() == [False, True]
    latent = np.zeros((500, 10))
    latent[:, :4] = rng.normal(size=(500, 4))
    assert warn_if_collapsed(latent, "nb") == 4
    assert "only 4 of 10 latent dimensions vary" in sag_caplog.text
    sag_caplog.clear()
    latent[:, 4] = rng.normal(size=500)
    assert warn_if_collapsed(latent, "nb") == 5
    assert "posterior collapse" not in sag_caplog.text


def test_the_vae_trainer_warms_up_the_kl_and_keeps_the_best_epoch_after_the_warmup(adata):
    """The KL weight is ``beta * min(1, (epoch + 1) / kl_warmup_epochs)``; the validation
    loss is always ``recon + beta * KL``; the epoch kept is the lowest validation loss from
    the end of the warm-up on (a lower one during the warm-up does not count), training stops
    ``patience`` epochs after it (not before ``min_epochs``), and the module returned holds
    that epoch's weights. A slip in any of these shows the user a history that disagrees with
    the documented rule, or a model of another epoch than ``best_epoch``."""
    from scautogenome.data import InputTransform
    from scautogenome.train._vae import VAETrainParams, train_vae

    rows = np.arange(adata.n_obs)
    val_rows, train_rows = rows[::10], rows[1:240:12]  # 20 cells: it overfits, and stops
    transform = InputTransform(value_type="counts", scale=True)
    transform.fit(adata.X, train_rows, names=adata.var_names)
    beta, patience = 2.0, 1
    # (warm-up, min_epochs): a warm-up whose epochs 1-2 are above epoch 0's loss; and one
    # epoch of warm-up, where the loss rises at once and min_epochs alone allows the stop
    for warmup, min_epochs in ((3, 3), (1, 2)):
        net = build_vae({**SMALL_ARCH, "n_inputs": adata.n_vars, "likelihood": "nb"})
        params = VAETrainParams(
            max_epochs=30,
            kl_warmup_epochs=warmup,
            beta=beta,
            patience=patience,
            min_epochs=min_epochs,
            batch_size=10,
            lr=3e-2,
        )
        res = train_vae(
            net,
            X=adata.X,
            train_rows=train_rows,
            val_rows=val_rows,
            transform=transform.to_torch("cpu"),
            params=params,
            device=torch.device("cpu"),
            seed=0,
        )
        h = res.history
        assert [r["kl_weight"] for r in h] == pytest.approx(
            [beta * min(1.0, (e + 1) / warmup) for e in range(len(h))]
        )
        for r in h:
            assert r["val_loss"] == pytest.approx(r["val_recon"] + beta * r["val_kl"], rel=1e-6)
        # the documented rule, replayed on the history
        best, best_epoch, since, stop = np.inf, -1, 0, None
        for e, v in enumerate(r["val_loss"] for r in h):
            if e >= warmup - 1:
                if v < best:
                    best, best_epoch, since = v, e, 0
                else:
                    since += 1
            if e + 1 >= min_epochs and e >= warmup - 1 and since >= patience:
                stop = e
                break
        assert stop is not None, "the test needs runs that stop early"
        assert res.stopped == "early_stopping"
        assert len(h) == stop + 1
        assert res.best_epoch == best_epoch
        assert res.best_epoch != len(h) - 1  # the kept weights are not simply the last epoch's
        assert res.best_loss == pytest.approx(best)
        for k, v in net.state_dict().items():
            assert torch.equal(v, res.state_dict[k]), k


def test_get_latent_is_the_encoders_mean_and_reconstruct_decodes_it(adata):
    """``get_latent`` gives the encoder's mean (not its log-variance or a draw) and
    ``reconstruct`` the decoder's output at that mean, times each cell's observed library
    size for a count model: the same numbers on every call, each row summing to the cell's
    total. A sampled or mis-scaled reconstruction would change run to run or lose the depth."""
    model = sag.models.ResVAE(SMALL_ARCH, TINY_FIT).fit(adata, seed=0)
    net = model.module_.eval()
    x = torch.as_tensor(adata.X.toarray(), dtype=torch.float32)
    with torch.no_grad():
        mu = net.encode(model.transform_.to_torch("cpu")(x))[0]
        scale = net.widen(net.decode(mu))["scale"]
    np.testing.assert_allclose(model.get_latent(adata), mu.numpy(), rtol=1e-5, atol=1e-5)
    rec = model.reconstruct(adata)
    want = (x.sum(dim=1, keepdim=True) * scale).numpy()
    np.testing.assert_allclose(rec, want, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(rec.sum(axis=1), x.sum(dim=1).numpy(), rtol=1e-4)


def test_a_latent_as_wide_as_the_genes_is_refused_before_any_work(adata):
    """``n_latent`` must be smaller than the number of genes: a latent exactly as wide as
    the input compresses nothing, and embed / fit say so before training instead of
    returning an "embedding" of the genes' own dimension."""
    small = adata[:, :8].copy()
    with pytest.raises(ValueError, match="smaller than the number of genes"):
        sag.tl.embed(small, n_latent=8, config=TINY_EMBED)
    with pytest.raises(ValueError, match="smaller than the number of genes"):
        sag.models.ResVAE({**SMALL_ARCH, "n_latent": 8}, TINY_FIT).fit(small)


def test_embed_records_the_configs_beta_and_writes_a_float32_latent(adata):
    """``uns[key]['params']['beta']`` is the KL weight the search trained with, the config's
    when no ``beta=`` argument is given (not None), and ``obsm['X_{key}']`` is float32 as
    documented (a float64 latent doubles its memory and its h5ad)."""
    trainer = {**ONE_TRIAL["trainer"], "beta": 1.5}
    sag.tl.embed(adata, config={**ONE_TRIAL, "trainer": trainer}, seed=0)
    uns = adata.uns["sag_resvae"]
    assert uns["params"]["beta"] == 1.5
    assert json.loads(uns["train_params"])["beta"] == 1.5
    assert adata.obsm["X_sag_resvae"].dtype == np.float32
    from scautogenome.models._resvae import active_dims

    assert uns["active_dims"] == int(active_dims(adata.obsm["X_sag_resvae"]).sum())


# -- encode's record (pins from mutation testing of tools/_encode.py and tools/_utils.py) --


def test_an_embed_record_that_encode_updated_is_not_an_encode_record():
    """``sag.tl.encode`` of the reference's own cells updates embed's record (adding its
    ``encode_params``): the record stays embed's, a trained run, so that the report does not
    describe the reference's latent as a query's embedded with a saved model."""
    from scautogenome.tools._utils import is_encode_record, record_kind

    embed = {"params": {"n_latent": 10, "likelihood": "nb"}, "encode_params": {"recon": False}}
    assert not is_encode_record(embed)
    assert record_kind(embed) == "embed"
    assert is_encode_record({"encode_params": {"recon": False}, "n_latent": 10})


def test_encode_records_the_layer_batches_and_active_dimensions_it_used(adata):
    """``sag.tl.encode`` with a model trained on ``layers['counts']`` and on batches: it reads
    the model's layer where the query has it and records so (a record of ``'None'``, X, would
    send a user reproducing the latent to the wrong values); a reconstruction records the
    batch column it decoded by (the model's own when none is given); ``active_dims`` counts
    the latent dimensions that vary across the query's cells (none across copies of one
    cell), not the model's; and ``transform_batch`` without ``recon`` is refused, as it changes
    nothing of the latent; so is ``recon`` for a query of genes besides the model's (the layer
    written has the query's genes)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        adata.layers["counts"] = adata.X.copy()
        adata.X = adata.X.log1p()  # not what the model trained on
        adata.obs["batch"] = np.where(np.arange(adata.n_obs) % 2, "A", "B")
        arch = {"kind": "resvae", "n_latent": 4, "widths": [32, 16, 8]}
        fit = {"max_epochs": 3, "kl_warmup_epochs": 1, "batch_size": 64}
        model = sag.models.ResVAE(arch, fit).fit(adata, layer="counts", batch_key="batch", seed=0)
        query = adata.copy()
        sag.tl.encode(query, model, recon=True)
        params = query.uns["sag_resvae"]["encode_params"]
        assert params["layer"] == "counts"
        assert params["batch_key"] == "batch"
        with pytest.raises(ValueError, match="pass them with recon=True"):
            sag.tl.encode(query, model, transform_batch="A")
        from scipy import sparse

        extra = ad.AnnData(
            sparse.hstack([adata.layers["counts"], np.ones((adata.n_obs, 1))]).tocsr(),
            obs=adata.obs.copy(),
            var=pd.DataFrame(index=[*adata.var_names, "extra"]),
        )
        with pytest.raises(ValueError, match="recon=True writes a layer of the query's genes"):
            sag.tl.encode(extra, model, recon=True)
        same = adata[:3].copy()  # three copies of one cell
        same.layers["counts"] = sparse.vstack([adata.layers["counts"][0]] * 3).tocsr()
        sag.tl.encode(same, model)
        assert same.uns["sag_resvae"]["active_dims"] == 0
    finally:
        torch.set_num_threads(threads)


def test_davies_bouldin_of_labels_at_distinct_points_is_perfect_not_nan():
    """Each label's cells at one point, the points apart (also far from the origin, 4 apart
    at 1e6): no spread within the labels is the best Davies-Bouldin, 0, not the NaN of a
    collapsed latent whose centroids coincide."""
    from scautogenome.tools._embed import davies_bouldin

    labels = np.array(["a"] * 4 + ["b"] * 4)
    for offset in (0.0, 1e6):
        emb = np.array([[offset]] * 4 + [[offset + 4.0]] * 4)
        assert davies_bouldin(emb, labels, "x") == 0.0


def test_embedding_scores_checks_the_labelled_cells_only():
    """One label is an error naming it; a NaN in the latent of an unlabelled cell (left out of
    the scores) is not."""
    a = _fake_embedding()
    a.obs["one"] = "x"
    with pytest.raises(ValueError, match=r"has 1 label\(s\); scores need at least 2"):
        sag.tl.embedding_scores(a, "X_sag_resvae", "one", tsne=False)
    whole = sag.tl.embedding_scores(a, "X_sag_resvae", "label", tsne=False)
    b = ad.AnnData(sparse.csr_matrix((a.n_obs + 1, 5), dtype=np.float32))
    b.obs["label"] = pd.Categorical([*a.obs["label"], np.nan])
    b.obsm["X_sag_resvae"] = np.vstack([a.obsm["X_sag_resvae"], [[np.nan] * 3]])
    s = sag.tl.embedding_scores(b, "X_sag_resvae", "label", tsne=False)
    assert s["n_cells"] == a.n_obs
    assert s == pytest.approx(whole, nan_ok=True)


def test_embedding_scores_sample_two_cells_of_every_label_and_score_batches_on_it():
    """max_cells=2 of three labels: the draw is topped up to two cells of each label (6);
    batch_asw is computed on the silhouette's sample, as documented."""
    from scautogenome.tools._embed import batch_silhouette

    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b", "c"], 100)
    a = ad.AnnData(np.zeros((300, 2), dtype=np.float32))
    a.obs["label"] = labels
    a.obs["batch"] = np.tile(["x", "y"], 150)
    a.obsm["X_e"] = (rng.normal(size=(300, 3)) + np.repeat(np.arange(3), 100)[:, None]).astype(
        np.float32
    )
    for seed in range(3):
        s = sag.tl.embedding_scores(a, "X_e", "label", tsne=False, seed=seed, max_cells=2)
        assert s["n_cells_sampled"] == 6
    part = sag.tl.embedding_scores(
        a, "X_e", "label", tsne=False, seed=0, max_cells=100, batch_key="batch"
    )
    assert part["n_cells_sampled"] == 100
    rows = np.sort(np.random.default_rng(0).choice(300, 100, replace=False))
    batches = a.obs["batch"].to_numpy()
    expected = batch_silhouette(a.obsm["X_e"][rows], labels[rows], batches[rows])
    assert part["batch_asw"] == pytest.approx(expected)
    every = batch_silhouette(a.obsm["X_e"], labels, batches)
    assert part["batch_asw"] != pytest.approx(every)


def test_embedding_scores_cluster_on_the_kNN_graph_of_n_neighbors():
    """n_neighbors is the kNN graph's that Leiden clusters: overlapping clusters score other
    ARIs on 5 neighbours than on scanpy's 15."""
    a = _four_overlapping_clusters()
    few = sag.tl.embedding_scores(a, "X_e", "label", tsne=False, n_neighbors=5)
    default = sag.tl.embedding_scores(a, "X_e", "label", tsne=False)
    again = sag.tl.embedding_scores(a, "X_e", "label", tsne=False, n_neighbors=15)
    assert again == pytest.approx(default, nan_ok=True)
    assert few["ari"] != pytest.approx(default["ari"])


def test_scores_text_shows_only_the_scores_that_could_be_computed():
    from scautogenome.tools._embed import scores_text

    scores = {"ari": 0.5, "nmi": float("nan"), "davies_bouldin_tsne": float("nan"), "n_cells": 9}
    assert scores_text(scores) == "ARI 0.500"
    assert scores_text({"ari": float("nan")}) == ""


def test_leiden_resolution_doubles_then_bisects_between_too_few_and_too_many(monkeypatch):
    """The resolution doubles from 1 until Leiden finds enough clusters, then bisects between
    the last resolution with too few and the first with too many (here 1 + int(resolution)
    clusters, 8 labels: 1, 2, 4, 8 (9, too many), 6 (7, too few), 7 (8))."""
    import scanpy as sc

    tried = []

    def fake_leiden(adata, resolution, key_added, **kwargs):
        tried.append(resolution)
        n = 1 + int(resolution)
        adata.obs[key_added] = pd.Categorical((np.arange(adata.n_obs) % n).astype(str))

    monkeypatch.setattr(sc.tl, "leiden", fake_leiden)
    a = _fake_embedding(n_per=16)
    a.obs["label"] = np.repeat([f"t{i}" for i in range(8)], 6)
    s = sag.tl.embedding_scores(a, "X_sag_resvae", "label", tsne=False)
    assert tried == [1.0, 2.0, 4.0, 8.0, 6.0, 7.0]
    assert s["leiden_resolution"] == 7.0
    assert s["n_clusters"] == 8
