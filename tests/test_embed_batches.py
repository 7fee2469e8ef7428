"""Batches: embed / ResVAE.fit(batch_key=), the decoder conditioned on them, their queries,
and embedding_scores' batch mixing (batch_asw)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import optuna
import pytest
import torch
from scipy import sparse

import scautogenome as sag
from scautogenome.nn import build_vae

TINY_EMBED = {
    "budget": {"n_trials": 1, "time_budget": None},
    "trainer": {"max_epochs": 4, "patience": 3, "min_epochs": 2, "kl_warmup_epochs": 2},
    "search": {"prune_warmup_epochs": 2, "n_startup_trials": 1},
    "space": {"n_layers": [3], "batch_size": [64], "first_width": [64]},
}
ARCH = {"kind": "resvae", "n_latent": 4, "widths": [32, 16, 8]}
FIT = {"max_epochs": 4, "kl_warmup_epochs": 2, "batch_size": 64}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def batched(seed: int = 0, effect: float = 4.0) -> ad.AnnData:
    """300 cells x 200 genes of Poisson counts, 3 classes, in two batches: in batch "B" the
    counts of a fixed half of the genes are ``effect`` times higher."""
    a = sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=seed)
    rng = np.random.default_rng(seed)
    in_b = rng.random(a.n_obs) < 0.5
    genes = rng.random(a.n_vars) < 0.5
    X = a.X.toarray()
    X[np.ix_(in_b, genes)] = rng.poisson(X[np.ix_(in_b, genes)] * effect + 0.5)
    a.X = sparse.csr_matrix(X.astype(np.float32))
    a.obs["batch"] = np.where(in_b, "B", "A")
    return a


@pytest.fixture
def adata_b():
    return batched()


def test_decoder_units_read_the_one_hot_batch_the_encoder_does_not():
    arch = {**ARCH, "n_inputs": 30, "n_batch": 3, "likelihood": "nb"}
    net = build_vae(arch).eval()
    plain = build_vae({**arch, "n_batch": 0})
    # every decoder unit reads 3 more inputs; the encoder is the same as without batches
    for unit, other in zip(net.decoder.units, plain.decoder.units):
        assert unit[0].in_features == other[0].in_features + 3
    for unit, other in zip(net.encoder.units, plain.encoder.units):
        assert unit[0].in_features == other[0].in_features
    x = torch.rand(5, 30)
    out0 = net(x, sample=False, batch=torch.zeros(5, dtype=torch.long))
    out2 = net(x, sample=False, batch=torch.full((5,), 2))
    assert torch.equal(out0["mu"], out2["mu"])  # the latent does not depend on the batch
    assert not torch.allclose(out0["scale"], out2["scale"])  # the decoder does
    with pytest.raises(ValueError, match="pass batch="):
        net(x, sample=False)
    with pytest.raises(ValueError, match="one code per row"):
        net(x, sample=False, batch=torch.zeros(4, dtype=torch.long))


def test_fit_with_batches_save_load_and_queries(adata_b, tmp_path):
    model = sag.models.ResVAE(ARCH, FIT).fit(adata_b, batch_key="batch", seed=0)
    assert model.batch_key_ == "batch"
    assert model.batches_ == ["A", "B"]
    assert model.architecture_["n_batch"] == 2
    assert "2 batches of obs['batch']" in repr(model)
    ax = sag.pl.architecture(model, show=False)
    assert ax.get_title().endswith("decoder units read the batch (2)")

    latent = model.get_latent(adata_b)
    # the encoder does not read the batch: a query without the column embeds the same
    no_column = adata_b.copy()
    del no_column.obs["batch"]
    np.testing.assert_array_equal(model.get_latent(no_column), latent)

    own = model.reconstruct(adata_b)
    as_a = model.reconstruct(adata_b, transform_batch="A")
    as_b = model.reconstruct(adata_b, transform_batch="B")
    in_b = (adata_b.obs["batch"] == "B").to_numpy()
    np.testing.assert_allclose(own[in_b], as_b[in_b], rtol=1e-5)
    np.testing.assert_allclose(own[~in_b], as_a[~in_b], rtol=1e-5)
    assert not np.allclose(as_a, as_b)

    model.save(tmp_path / "m")
    back = sag.models.ResVAE.load(tmp_path / "m")
    assert (back.batch_key_, back.batches_) == ("batch", ["A", "B"])
    np.testing.assert_array_equal(back.reconstruct(adata_b), own)

    # queries whose batches the model cannot tell: errors naming what to pass
    with pytest.raises(ValueError, match="transform_batch="):
        model.reconstruct(no_column)
    with pytest.raises(ValueError, match="this query has no obs"):
        model.reconstruct(adata_b.X)
    np.testing.assert_array_equal(model.reconstruct(adata_b.X, transform_batch="A"), as_a)
    other = adata_b.copy()
    other.obs["batch"] = other.obs["batch"].replace({"B": "C"})
    with pytest.raises(ValueError, match=r"not trained on: 'C' \(135 cells\)"):
        model.reconstruct(other)
    with pytest.raises(ValueError, match="is not a batch the model was trained on"):
        model.reconstruct(adata_b, transform_batch="C")
    with pytest.raises(ValueError, match="not both"):
        model.reconstruct(adata_b, batch_key="batch", transform_batch="A")
    other.obs["run"] = adata_b.obs["batch"].to_numpy()
    np.testing.assert_array_equal(model.reconstruct(other, batch_key="run"), own)


def test_a_model_without_batches_refuses_batch_arguments(adata_b):
    model = sag.models.ResVAE(ARCH, FIT).fit(adata_b, seed=0)
    assert model.batches_ is None
    assert "n_batch" not in model.architecture_
    for kwargs in ({"batch_key": "batch"}, {"transform_batch": "A"}):
        with pytest.raises(ValueError, match="trained without batches"):
            model.reconstruct(adata_b, **kwargs)


def test_same_seed_same_latent_with_batches(adata_b):
    a = sag.models.ResVAE(ARCH, FIT).fit(adata_b, batch_key="batch", seed=3)
    b = sag.models.ResVAE(ARCH, FIT).fit(adata_b, batch_key="batch", seed=3)
    np.testing.assert_array_equal(a.get_latent(adata_b), b.get_latent(adata_b))


def test_embed_with_batches_writes_and_round_trips(adata_b, tmp_path):
    model = sag.tl.embed(adata_b, config=TINY_EMBED, batch_key="batch", recon=True)
    uns = adata_b.uns["sag_resvae"]
    assert uns["params"]["batch_key"] == "batch"
    assert list(uns["batches"]) == ["A", "B"]
    assert model.batches_ == ["A", "B"]
    np.testing.assert_allclose(
        adata_b.layers["sag_resvae_recon"], model.reconstruct(adata_b), rtol=1e-5
    )
    path = tmp_path / "a.h5ad"
    adata_b.write_h5ad(path)
    back = ad.read_h5ad(path)
    assert back.uns["sag_resvae"]["params"]["batch_key"] == "batch"
    assert list(back.uns["sag_resvae"]["batches"]) == ["A", "B"]
    np.testing.assert_array_equal(back.obsm["X_sag_resvae"], adata_b.obsm["X_sag_resvae"])

    # encode: the latent needs no batch; the reconstruction decodes each cell as its own
    query = adata_b[:50].copy()
    sag.tl.encode(query, model, recon=True, key_added="q")
    np.testing.assert_allclose(
        query.layers["q_recon"], adata_b.layers["sag_resvae_recon"][:50], rtol=1e-5
    )
    del query.obs["batch"]
    before = query.copy()
    with pytest.raises(ValueError, match="conditioned on the batches of obs\\['batch'\\]"):
        sag.tl.encode(query, model, recon=True, key_added="q2")
    assert "q2" not in query.uns
    assert "X_q2" not in query.obsm
    np.testing.assert_array_equal(query.X.toarray(), before.X.toarray())
    sag.tl.encode(query, model, key_added="q2")
    np.testing.assert_allclose(
        query.obsm["X_q2"], adata_b.obsm["X_sag_resvae"][:50], rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    ("column", "error", "match"),
    [
        ("absent", KeyError, "batch_key='absent' is not a column"),
        ("with_nan", ValueError, "1 missing value"),
        ("continuous", ValueError, "numeric with 300 distinct values"),
        ("cell_id", ValueError, "300 batches for 300 cells"),
    ],
)
def test_bad_batch_columns_are_refused_before_any_work(adata_b, monkeypatch, column, error, match):
    import scautogenome.tools._embed as embed_mod

    adata_b.obs["with_nan"] = adata_b.obs["batch"].astype(object)
    adata_b.obs.iloc[3, adata_b.obs.columns.get_loc("with_nan")] = np.nan
    adata_b.obs["continuous"] = np.linspace(0, 1, adata_b.n_obs)
    adata_b.obs["cell_id"] = adata_b.obs_names.to_numpy()
    before = adata_b.copy()

    def no_search(*args, **kwargs):
        raise AssertionError("the search ran")

    monkeypatch.setattr(embed_mod, "run_vae_search", no_search)
    with pytest.raises(error, match=match):
        sag.tl.embed(adata_b, config=TINY_EMBED, batch_key=column)
    assert set(adata_b.uns) == set(before.uns)
    assert set(adata_b.obsm) == set(before.obsm)
    with pytest.raises(error, match=match):
        sag.models.ResVAE(ARCH, FIT).fit(adata_b, batch_key=column)


def test_one_batch_is_warned_about(adata_b, sag_caplog):
    adata_b.obs["one"] = "run1"
    model = sag.models.ResVAE(ARCH, FIT).fit(adata_b, batch_key="one", seed=0)
    assert "holds one batch ('run1')" in sag_caplog.text
    assert model.batches_ == ["run1"]


def test_a_stored_study_of_other_batches_is_not_resumed(adata_b, tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    sag.tl.embed(adata_b, config=TINY_EMBED, batch_key="batch", storage=storage)
    for kwargs in ({}, {"batch_key": "other"}):
        adata_b.obs["other"] = np.where(np.arange(adata_b.n_obs) % 2, "x", "y")
        with pytest.raises(ValueError, match="batches"):
            sag.tl.embed(adata_b, config=TINY_EMBED, storage=storage, **kwargs)
    # and a study without batches is not resumed with them (no record means no batches)
    storage2 = f"sqlite:///{tmp_path / 's2.db'}"
    sag.tl.embed(adata_b, config=TINY_EMBED, storage=storage2)
    with pytest.raises(ValueError, match="batches"):
        sag.tl.embed(adata_b, config=TINY_EMBED, storage=storage2, batch_key="batch")
    # the same batches resume it
    sag.tl.embed(adata_b, config=TINY_EMBED, batch_key="batch", storage=storage)
    study = optuna.load_study(study_name="sag-embed-resvae", storage=storage)
    assert len(study.trials) == 2


def test_batch_key_lets_the_latent_mix_the_batches(adata_b):
    """On two batches whose effect dominates the counts, the decoder conditioned on them
    leaves a latent where the batches mix far better within each class, and the classes
    stay apart."""
    fit = {"max_epochs": 60, "batch_size": 64}
    scores = {}
    for key in (None, "batch"):
        model = sag.models.ResVAE(ARCH, fit).fit(adata_b, batch_key=key, seed=0)
        adata_b.obsm["X_e"] = model.get_latent(adata_b)
        scores[key] = sag.tl.embedding_scores(
            adata_b, "X_e", "label", batch_key="batch", tsne=False
        )
    # seeds 0-2 (measured): batch_asw 0.19-0.22 without batch_key, 0.66-0.78 with it; ARI of
    # the classes 0.16-0.35 without, 0.97-1.0 with
    assert scores["batch"]["batch_asw"] > scores[None]["batch_asw"] + 0.3
    assert scores["batch"]["ari"] > 0.9 > 0.5 > scores[None]["ari"]


def test_batch_asw_scores_mixing():
    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b"], 100)
    batches = np.tile(np.repeat(["x", "y"], 50), 2)
    centers = np.where(labels[:, None] == "a", 0.0, 10.0)
    mixed = centers + rng.normal(size=(200, 2))
    apart = mixed + np.where(batches[:, None] == "x", 0.0, 5.0)
    a = ad.AnnData(obs={"label": labels, "batch": batches}, obsm={"mixed": mixed, "apart": apart})
    a.obs_names = [str(i) for i in range(200)]
    good = sag.tl.embedding_scores(a, "mixed", "label", batch_key="batch", tsne=False)
    bad = sag.tl.embedding_scores(a, "apart", "label", batch_key="batch", tsne=False)
    assert good["batch_asw"] > 0.9 > 0.5 > bad["batch_asw"]
    assert good["n_batches"] == 2
    a.obs["one"] = "x"
    with pytest.raises(ValueError, match="has one batch"):
        sag.tl.embedding_scores(a, "mixed", "label", batch_key="one", tsne=False)
    with pytest.raises(KeyError, match="batch_key='nope'"):
        sag.tl.embedding_scores(a, "mixed", "label", batch_key="nope", tsne=False)
    # a label found in one batch only has no mixing to score: left out, NaN when none has
    a.obs["split"] = np.where(labels == "a", "x", "y")
    s = sag.tl.embedding_scores(a, "mixed", "label", batch_key="split", tsne=False)
    assert np.isnan(s["batch_asw"])


def test_report_of_an_embedding_with_batches(adata_b, tmp_path):
    sag.tl.embed(adata_b, config=TINY_EMBED, batch_key="batch")
    sag.tl.embedding_scores(
        adata_b, "X_sag_resvae", "label", batch_key="batch", tsne=False, key_added="sag_resvae"
    )
    assert adata_b.uns["sag_resvae"]["scores"]["n_batches"] == 2
    page = sag.io.write_report(adata_b, tmp_path / "r.html").read_text()
    assert "batch ASW" in page
    # how many clusters the ARI and NMI compare with how many labels (not said to be equal)
    scores = adata_b.uns["sag_resvae"]["scores"]
    assert scores["leiden_seeds"] == 1  # one run: no mean to speak of
    n = f"{float(scores['n_clusters']):g} Leiden clusters for {int(scores['n_labels'])} labels"
    assert n in page
    assert "conditioned on the 2 batches of <code>obs['batch']</code>" in page
    # a query encoded with the model: the report says which batches its reconstruction used
    model = sag.models.ResVAE(ARCH, FIT).fit(adata_b, batch_key="batch", seed=0)
    query = adata_b[:30].copy()
    del query.uns["sag_resvae"], query.obsm["X_sag_resvae"]  # the reference's run
    sag.tl.encode(query, model, recon=True, transform_batch=["A", "B"])
    page = sag.io.write_report(query, tmp_path / "q.html").read_text()
    assert "decoded each of the cells as the batch(es) A, B of the model" in page
    assert "<code>layers['sag_resvae_recon']</code>" in page
    sag.tl.encode(query, model, recon=True, batch_key="batch")
    page = sag.io.write_report(query, tmp_path / "q.html").read_text()
    assert "decoded each of the cells as its own batch, from <code>obs['batch']</code>" in page


def test_transform_batch_lists_and_whole_numbers_match(adata_b):
    adata_b.obs["run"] = np.where(adata_b.obs["batch"] == "A", 1.0, 2.0)  # floats
    model = sag.models.ResVAE(ARCH, FIT).fit(adata_b, batch_key="run", seed=0)
    assert model.batches_ == ["1", "2"]
    own = model.reconstruct(adata_b)
    query = adata_b.copy()
    query.obs["run"] = query.obs["run"].astype(int)  # the same batches, read back as integers
    np.testing.assert_array_equal(model.reconstruct(query), own)
    as_1 = model.reconstruct(adata_b, transform_batch=1)
    as_2 = model.reconstruct(adata_b, transform_batch="2")
    # a list: the mean of the reconstructions as each batch (scvi-tools' transform_batch)
    both = model.reconstruct(adata_b, transform_batch=[1, 2])
    np.testing.assert_allclose(both, (as_1 + as_2) / 2, rtol=1e-5)
    with pytest.raises(ValueError, match="'3' is not a batch the model was trained on"):
        model.reconstruct(adata_b, transform_batch=[1, 3])
    with pytest.raises(ValueError, match="no batch"):
        model.reconstruct(adata_b, transform_batch=[])


def test_encode_decodes_the_query_batches_it_is_told(adata_b):
    model = sag.models.ResVAE(ARCH, FIT).fit(adata_b, batch_key="batch", seed=0)
    query = adata_b[:40].copy()
    query.obs["sample"] = query.obs.pop("batch")
    sag.tl.encode(query, model, recon=True, batch_key="sample", key_added="own")
    np.testing.assert_allclose(
        query.layers["own_recon"], model.reconstruct(adata_b)[:40], rtol=1e-5
    )
    assert query.uns["own"]["encode_params"]["batch_key"] == "sample"
    sag.tl.encode(query, model, recon=True, transform_batch=["A", "B"], key_added="mean")
    np.testing.assert_allclose(
        query.layers["mean_recon"],
        model.reconstruct(query, transform_batch=["A", "B"]),
        rtol=1e-5,
    )
    assert query.uns["mean"]["encode_params"]["transform_batch"] == "A, B"
    with pytest.raises(ValueError, match="pass them with recon=True"):
        sag.tl.encode(query, model, batch_key="sample", key_added="x")
    assert "x" not in query.uns


def test_scores_need_batches_of_the_labelled_cells_only(adata_b):
    adata_b.obsm["X_e"] = np.random.default_rng(0).normal(size=(adata_b.n_obs, 3))
    adata_b.obs["label"] = adata_b.obs["label"].astype(object)
    adata_b.obs.iloc[:20, adata_b.obs.columns.get_loc("label")] = np.nan
    adata_b.obs["b2"] = adata_b.obs["batch"].astype(object)
    adata_b.obs.iloc[:20, adata_b.obs.columns.get_loc("b2")] = np.nan  # unlabelled cells only
    s = sag.tl.embedding_scores(
        adata_b, "X_e", "label", batch_key="b2", tsne=False, key_added="scored"
    )
    assert s["n_cells"] == 280
    assert np.isfinite(s["batch_asw"])
    assert adata_b.uns["scored"]["scores"]["batch_key"] == "b2"
    adata_b.obs.iloc[25, adata_b.obs.columns.get_loc("b2")] = np.nan  # a labelled cell
    with pytest.raises(ValueError, match="1 missing value"):
        sag.tl.embedding_scores(adata_b, "X_e", "label", batch_key="b2", tsne=False)


def test_cli_batch_key_for_a_search_and_for_a_saved_model(adata_b, tmp_path, capsys, monkeypatch):
    import json

    from scautogenome.cli import main

    adata_b.obs["one"] = "r1"
    src = tmp_path / "in.h5ad"
    adata_b.write_h5ad(src)
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(TINY_EMBED))
    base = ["embed", str(src), "--config", str(cfg), "--quiet"]
    out = str(tmp_path / "o.h5ad")

    # one batch among the labelled cells cannot be scored: refused before the search
    def no_search(*args, **kwargs):
        raise AssertionError("the search ran")

    with monkeypatch.context() as m:
        m.setattr(sag.tl, "embed", no_search)
        assert main([*base, "--out", out, "--labels", "label", "--batch-key", "one"]) == 2
    assert "has one batch ('r1') among the labelled cells" in capsys.readouterr().err

    model_dir = tmp_path / "m"
    argv = [*base, "--out", out, "--batch-key", "batch", "--model-out", str(model_dir)]
    assert main(argv) == 0
    assert sag.models.ResVAE.load(model_dir).batches_ == ["A", "B"]
    capsys.readouterr()

    # a query whose batches are in another column: --batch-key names it for --recon
    query = adata_b.copy()
    query.obs["sample"] = query.obs.pop("batch")
    qsrc = tmp_path / "q.h5ad"
    query.write_h5ad(qsrc)
    qbase = ["embed", str(qsrc), "--model", str(model_dir), "--quiet"]
    assert main([*qbase, "--out", str(tmp_path / "q1.h5ad"), "--recon"]) == 2
    err = capsys.readouterr().err
    assert "Pass --batch-key naming the query's column of batches, or --transform-batch" in err
    q1 = str(tmp_path / "q1.h5ad")
    assert main([*qbase, "--out", q1, "--recon", "--batch-key", "sample"]) == 0
    assert ad.read_h5ad(q1).uns["sag_resvae"]["encode_params"]["batch_key"] == "sample"
    q2 = str(tmp_path / "q2.h5ad")
    assert main([*qbase, "--out", q2, "--recon", "--transform-batch", "A"]) == 0
    assert ad.read_h5ad(q2).uns["sag_resvae"]["encode_params"]["transform_batch"] == "A"
    q3 = str(tmp_path / "q3.h5ad")
    assert main([*qbase, "--out", q3, "--labels", "label", "--batch-key", "sample"]) == 0
    assert "batch ASW" in capsys.readouterr().out
    # options that would do nothing are refused
    assert main([*qbase, "--out", str(tmp_path / "q4.h5ad"), "--batch-key", "sample"]) == 2
    assert "for --recon" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "q5.h5ad"), "--transform-batch", "A"]) == 2
    assert "give it with --model and --recon" in capsys.readouterr().err


def test_a_batch_whose_cells_are_all_in_validation_is_warned_about(sag_caplog, monkeypatch):
    """The seeded 9:1 split may put every cell of a small batch in validation: the decoder
    then never trains on its one-hot column. fit and embed warn before training, naming the
    batch; the split is the one drawn without batches (same seed, same split)."""
    import scautogenome.tools._embed as embed_mod
    from scautogenome.models._resvae import prepare_unlabelled

    a = sag.datasets.synthetic(n_obs=600, n_vars=50, n_classes=3, seed=0)
    val = prepare_unlabelled(a, layer=None, n_latent=4, seed=0).val_rows
    batch = np.where(np.arange(a.n_obs) % 2, "b1", "b2").astype(object)
    batch[val[:3]] = "tiny"
    a.obs["batch"] = batch
    small = {"architecture": {"widths": [16, 8], "n_latent": 4}, "train_params": {"max_epochs": 2}}
    model = sag.models.ResVAE(**small).fit(a, batch_key="batch", seed=0)
    said = "obs['batch'] has 1 batch without a training cell: 'tiny' (3 cells, all in validation)"
    assert said in sag_caplog.text
    assert "decode through untrained weights" in sag_caplog.text
    assert np.array_equal(np.flatnonzero(model.split_.to_numpy() == "val"), val)
    assert model.batches_ == ["b1", "b2", "tiny"]

    sag_caplog.clear()

    def no_search(*args, **kwargs):
        raise AssertionError("the search ran")

    monkeypatch.setattr(embed_mod, "run_vae_search", no_search)
    with pytest.raises(AssertionError, match="the search ran"):
        sag.tl.embed(a, config=TINY_EMBED, n_latent=4, batch_key="batch", seed=0)
    assert said in sag_caplog.text  # said before the search

    # batches that all have training cells: nothing said
    sag_caplog.clear()
    a.obs["batch"] = np.where(np.arange(a.n_obs) % 2, "b1", "b2")
    sag.models.ResVAE(**small).fit(a, batch_key="batch", seed=0)
    assert "without a training cell" not in sag_caplog.text


def test_a_batch_key_that_is_the_labels_is_refused_before_any_work(
    adata_b, tmp_path, capsys, monkeypatch
):
    """batch_key naming the labels column has no mixing of batches within a label to score:
    embedding_scores refuses it before any score is computed, and the CLI before the search."""
    import scautogenome.tools._embed as embed_mod
    from scautogenome.cli import main

    def no_work(*args, **kwargs):
        raise AssertionError("the scores were computed")

    adata_b.obsm["X_e"] = np.random.default_rng(0).normal(size=(adata_b.n_obs, 3))
    with monkeypatch.context() as m:
        m.setattr(embed_mod, "davies_bouldin", no_work)
        with pytest.raises(ValueError, match=r"batch_key='label' is labels_key too") as e:
            sag.tl.embedding_scores(adata_b, "X_e", "label", batch_key="label", tsne=False)
    assert "mixing of batches within each label" in str(e.value)

    src = tmp_path / "in.h5ad"
    adata_b.write_h5ad(src)

    def no_search(*args, **kwargs):
        raise AssertionError("the search ran")

    monkeypatch.setattr(sag.tl, "embed", no_search)
    argv = ["embed", str(src), "--out", str(tmp_path / "o.h5ad"), "--quiet"]
    assert main([*argv, "--labels", "label", "--batch-key", "label"]) == 2
    err = capsys.readouterr().err
    assert "--batch-key 'label' is --labels too" in err


def test_batches_named_like_a_missing_value_are_warned_about(adata_b, sag_caplog, monkeypatch):
    """A batch 'nan' (NaN made text by astype(str)) is taken as a batch of that name, as
    before, with a warning naming it wherever the batch column is read: fit, embed, encode."""
    import scautogenome.tools._embed as embed_mod

    text = adata_b.obs["batch"].to_numpy().astype(object)
    text[:12] = np.nan
    adata_b.obs["run"] = text.astype(str)  # the NaN are now 'nan'
    said = "obs['run'] has batch(es) named like a missing value: 'nan' (12 cells)"
    model = sag.models.ResVAE(ARCH, FIT).fit(adata_b, batch_key="run", seed=0)
    assert model.batches_ == ["A", "B", "nan"]  # not refused
    assert said in sag_caplog.text
    assert "adata.obs['run'] = adata.obs['run'].astype(str).replace(['nan'], " in sag_caplog.text

    def no_search(*args, **kwargs):
        raise AssertionError("the search ran")

    sag_caplog.clear()
    with monkeypatch.context() as m:
        m.setattr(embed_mod, "run_vae_search", no_search)
        with pytest.raises(AssertionError, match="the search ran"):
            sag.tl.embed(adata_b, config=TINY_EMBED, batch_key="run")
    assert said in sag_caplog.text

    sag_caplog.clear()
    query = adata_b[:40].copy()
    sag.tl.encode(query, model, recon=True, key_added="q")
    assert said in sag_caplog.text
    # a categorical column, and none for ordinary batches
    sag_caplog.clear()
    query.obs["run"] = query.obs["run"].astype("category")
    sag.tl.encode(query, model, recon=True, key_added="q")
    assert said in sag_caplog.text
    sag_caplog.clear()
    sag.tl.encode(query, model, recon=True, batch_key="batch", key_added="q")
    assert "named like a missing value" not in sag_caplog.text
