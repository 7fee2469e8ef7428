"""What earlier versions of scautogenome wrote, read by this one (a user who upgrades in the
middle of a project): saved model folders, annotated .h5ad records and Optuna studies.

The artifacts were made by the package at five commits of its history (88f2f02, 11-21;
d7216a5, 11-22; c6b68c1, 12-03; 6287c2d, the commit before 1f6e4c7, 12-05; 82ea848, the
commit before f9a347f, 12-06) and read by this version: every model folder but 88f2f02's
ResVAE loaded and predicted the same classes, probabilities, values and latent coordinates;
the records plotted and reported; the studies resumed on their own data. The tests below
cannot check such artifacts out of git in CI, so they rebuild each layout that really existed
by editing what this version writes (the keys and tensors that commit's files lacked), as
found in the files those commits wrote. Studies written before they recorded what their
trials were scored on are refused on other data or in another mode (they failed before).
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
import torch

import scautogenome as sag

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CFG = {
    "budget": {"n_trials": 1, "time_budget": None},
    "trainer": {"max_epochs": 3, "patience": 2, "min_epochs": 1},
    "space": {"common": {"batch_size": [64]}},
}
VAE_CFG = {
    "budget": {"n_trials": 1, "time_budget": None},
    "trainer": {"max_epochs": 2, "patience": 2, "min_epochs": 1},
}

# model.json keys that the files of each commit lacked (all other keys were there)
NEW_JSON_KEYS = {
    # d7216a5 (11-22): no layer (fa718b1), n_threads (00a17ed), weights_sha256 (6fbae7a),
    # trained_with (f9a347f); a ResVAE's batch_key/batches came with batch correction
    "d7216a5": ("layer", "n_threads", "weights_sha256", "trained_with", "batch_key", "batches"),
    # c6b68c1 (12-03): layer recorded, the rest not; a Regressor without target_mean/std
    "c6b68c1": (
        "n_threads",
        "weights_sha256",
        "trained_with",
        "batch_key",
        "batches",
        "target_mean",
        "target_std",
    ),
    # 82ea848 (f9a347f^, 12-06): everything but trained_with
    "82ea848": ("trained_with",),
}
# model.pt tensors the files of each commit lacked: the training mean and share of the
# genes (83cb227, 50ecd2f) and their detected share (zero genes, 12-07)
NEW_TENSORS = {
    "d7216a5": ("transform_mean", "transform_share", "transform_detected"),
    "c6b68c1": ("transform_mean", "transform_share", "transform_detected"),
    "82ea848": ("transform_detected",),
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A Classifier, a Regressor and a ResVAE saved by this version, with the annotated
    AnnData of their runs (explained) and the query they were trained on."""
    torch.manual_seed(0)
    sag.settings.verbosity = 1
    sag.settings.progress_bar = False
    sag.settings.seed = 0
    sag.settings.device = "cpu"
    root = tmp_path_factory.mktemp("saved")
    adata = sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0)
    adata.obs["score"] = np.asarray(adata.X[:, :5].sum(1)).ravel().astype(float)
    query = adata.copy()
    clf = sag.tl.classify(adata, "label", mode="mlp", config=CFG, model_dir=root / "clf")
    sag.tl.explain(adata, clf, n_explain=12, nsamples=10)
    reg = sag.tl.classify(
        adata,
        "score",
        task="regression",
        mode="mlp",
        config=CFG,
        model_dir=root / "reg",
        key_added="r",
    )
    vae = sag.tl.embed(adata, n_latent=4, config=VAE_CFG, model_dir=root / "vae")
    return {"root": root, "adata": adata, "query": query, "clf": clf, "reg": reg, "vae": vae}


def _as_of(src, dst, commit: str, edit_state=None, edit_meta=None):
    """Copy the model folder ``src`` to ``dst`` in the layout of ``commit``'s saves."""
    dst.mkdir(parents=True)
    meta = json.loads((src / "model.json").read_text())
    for key in NEW_JSON_KEYS[commit]:
        meta.pop(key, None)
    state = torch.load(src / "model.pt", weights_only=True)
    for key in NEW_TENSORS[commit]:
        state.pop(key, None)
    if edit_state is not None:
        edit_state(state, meta)
    if edit_meta is not None:
        edit_meta(meta)
    torch.save(state, dst / "model.pt")
    if "weights_sha256" in meta:  # recorded from 6fbae7a on: that of the file written here
        meta["weights_sha256"] = hashlib.sha256((dst / "model.pt").read_bytes()).hexdigest()
    (dst / "model.json").write_text(json.dumps(meta, indent=1))
    return dst


@pytest.mark.parametrize("commit", ["d7216a5", "c6b68c1", "82ea848"])
def test_old_classifier_folder_predicts_alike(saved, tmp_path, commit):
    """A Classifier saved at ``commit`` loads and predicts what it predicted, its classes in
    their order (the real folders of the three commits: the same probabilities)."""
    old = _as_of(saved["root"] / "clf", tmp_path / "m", commit)
    model = sag.models.Classifier.load(old)
    q = saved["query"]
    assert list(model.classes_) == list(saved["clf"].classes_)
    np.testing.assert_allclose(model.predict_proba(q), saved["clf"].predict_proba(q), atol=1e-6)
    assert model.layer_ is None
    # the versions the file names are the writer's, not this process's
    assert model.trained_with_ == json.loads((old / "model.json").read_text())["versions"]
    a = q.copy()
    sag.tl.predict(a, model, key_added="old")
    assert (a.obs["old_pred"].astype(str) == np.asarray(saved["clf"].predict(q))).all()


def test_old_classifier_folder_through_the_cli(saved, tmp_path):
    """``scautogenome predict --model`` on a model folder of d7216a5."""
    from scautogenome.cli import main

    old = _as_of(saved["root"] / "clf", tmp_path / "model", "d7216a5")
    query = tmp_path / "q.h5ad"
    saved["query"].write_h5ad(query)
    assert (
        main(["predict", str(query), "--model", str(old), "--out", str(tmp_path / "p.h5ad")]) == 0
    )
    import anndata as ad

    out = ad.read_h5ad(tmp_path / "p.h5ad")
    assert (
        out.obs["sag_pred"].astype(str) == np.asarray(saved["clf"].predict(saved["query"]))
    ).all()


def test_old_classifier_without_training_means_still_reads_partial_queries(
    saved, tmp_path, sag_caplog
):
    """A model of d7216a5 kept no training mean of its genes (83cb227): a query lacking some
    genes is predicted with them 0, as that version did, and warned of, not an error."""
    old = _as_of(saved["root"] / "clf", tmp_path / "m", "d7216a5")
    model = sag.models.Classifier.load(old)
    part = saved["query"][:, 40:].copy()
    proba = model.predict_proba(part)
    assert "160 of the model's 200 genes" in sag_caplog.text
    assert "are set to 0" in sag_caplog.text
    assert proba.shape == (300, 3)
    assert np.isfinite(proba).all()


def _fold_target_scale(state, meta):
    """c6b68c1's Regressor: a network that outputs the target's units (no target_scale
    marker tensor, no target_mean/std in model.json), as this version's would folded."""
    mean, std = state.pop("net.target_scale").tolist()
    state["net.head.weight"] = state["net.head.weight"] * std
    state["net.head.bias"] = state["net.head.bias"] * std + mean


def test_regressor_folder_of_c6b68c1_predicts_alike(saved, tmp_path):
    old = _as_of(saved["root"] / "reg", tmp_path / "m", "c6b68c1", edit_state=_fold_target_scale)
    model = sag.models.Regressor.load(old)
    assert (model.target_mean_, model.target_std_) == (0.0, 1.0)
    q = saved["query"]
    np.testing.assert_allclose(
        np.asarray(model.predict(q), float), np.asarray(saved["reg"].predict(q), float), rtol=1e-4
    )


def test_regressor_json_without_the_scale_its_weights_need_is_refused(saved, tmp_path):
    """The same json of c6b68c1 beside a model.pt of a standardized network (its
    target_scale marker): refused, naming what it lacks, not predicted in standard units."""
    old = _as_of(saved["root"] / "reg", tmp_path / "m", "c6b68c1")
    with pytest.raises(ValueError, match="target_mean and target_std"):
        sag.models.Regressor.load(old)


@pytest.mark.parametrize("commit", ["d7216a5", "82ea848"])
def test_old_resvae_folder_encodes_alike(saved, tmp_path, commit):
    old = _as_of(saved["root"] / "vae", tmp_path / "m", commit)
    model = sag.models.ResVAE.load(old)
    q = saved["query"]
    np.testing.assert_allclose(model.get_latent(q), saved["vae"].get_latent(q), atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(model.reconstruct(q)), np.asarray(saved["vae"].reconstruct(q)), rtol=1e-5
    )


def test_resvae_folder_of_88f2f02_is_refused_naming_a_weight(saved, tmp_path):
    """Before ca82bdb (11-22) the decoder's second unit also read the latent code: a weight of
    n_latent more columns. The same version string (0.1.0) cannot tell that build: load
    refuses the folder with a ValueError naming the weight and saying to train again, not
    torch's size-mismatch trace."""

    def latent_into_decoder(state, meta):
        w = state["net.decoder.units.1.0.weight"]
        state["net.decoder.units.1.0.weight"] = torch.cat([w, w[:, :4]], dim=1)

    old = _as_of(saved["root"] / "vae", tmp_path / "m", "d7216a5", edit_state=latent_into_decoder)
    with pytest.raises(ValueError, match=r"decoder\.units\.1\.0\.weight.*train the model again"):
        sag.models.ResVAE.load(old)


def _uns_of_d7216a5(adata):
    """The records of classify, explain and embed as d7216a5 wrote them: no model digests,
    task or versions, no trials' cut_batches/stopped columns, no run params of groups and
    threads, no per-cell values of the overall genes and no background cells."""
    a = adata.copy()
    for key in ("sag", "sag_resvae"):
        for sub in ("model_digest", "task", "versions", "active_dims"):
            a.uns[key].pop(sub, None)
        a.uns[key]["trials"] = a.uns[key]["trials"].drop(columns=["cut_batches", "stopped"])
    for sub in ("group_key", "n_threads", "split_groups", "task"):
        a.uns["sag"]["params"].pop(sub, None)
    for sub in ("model_digest", "overall_values", "overall_expression", "background_cells"):
        a.uns["sag_shap"].pop(sub, None)
    a.uns.pop("sag_pred_colors", None)
    return a


def test_plots_and_report_of_an_h5ad_of_d7216a5(saved, tmp_path):
    a = _uns_of_d7216a5(saved["adata"])
    sag.pl.confusion_matrix(a, labels_key="label", show=False)
    sag.pl.confusion_matrix(a, labels_key="label", split="test", show=False)
    sag.pl.search_history(a, show=False)
    sag.pl.architecture(a, show=False)
    sag.pl.importance(a, show=False)
    sag.pl.importance(a, "type_1", show=False)
    sag.pl.search_history(a, key="sag_resvae", show=False)
    sag.pl.architecture(a, key="sag_resvae", show=False)
    sag.pl.embedding(a, color="label", show=False)
    html = sag.io.write_report(a, tmp_path / "r.html").read_text()
    assert "Genes that drive each class" in html
    # no versions recorded by the run: the report names none, rather than this process's
    assert "trained with scautogenome" not in html


def test_shap_summary_of_an_explanation_of_d7216a5_says_to_explain_again(saved):
    a = _uns_of_d7216a5(saved["adata"])
    with pytest.raises(KeyError, match=r"run sag\.tl\.explain again"):
        sag.pl.shap_summary(a, show=False)


def test_explain_and_predict_again_on_an_h5ad_of_d7216a5(saved):
    """The model of the run, explained and predicted again into the old records: its classify
    record without a digest is found by architecture and classes."""
    a = _uns_of_d7216a5(saved["adata"])
    sag.tl.explain(a, saved["clf"], n_explain=6, nsamples=5)
    assert "model_digest" in a.uns["sag_shap"]
    sag.tl.predict(a, saved["clf"])
    assert (a.obs["sag_pred"].astype(str) == np.asarray(saved["clf"].predict(saved["query"]))).all()


# ---- Optuna studies of d7216a5: before the study recorded what its trials were scored on
# (its 'sag_fingerprint', 314180f, 11-30). The trial below is one d7216a5 wrote (sqlite),
# its params, distributions and user attributes as they were.
OLD_TRIAL = {
    "params": {
        "mlp_n_layers": 2,
        "mlp_units_0": 128,
        "mlp_units_1": 16,
        "input_keep": 0.6,
        "dropout": 0.0,
        "lr": 0.007750644796341917,
        "batch_size": 64,
        "optimizer": "adamw",
        "weight_decay": 1.143463874347219e-05,
        "class_balance": "none",
    },
    "user_attrs": {
        "architecture": json.dumps(
            {
                "act": "relu",
                "dropout": 0.0,
                "input_keep": 0.6,
                "kind": "mlp",
                "n_inputs": 200,
                "n_outputs": 3,
                "units": [128, 16],
            }
        ),
        "best_epoch": 3,
        "epochs": 4,
        "mode": "mlp",
        "n_params": 28131,
        "seconds": 0.19,
        "train_params": json.dumps(
            {
                "batch_size": 64,
                "class_balance": "none",
                "lr": 0.007750644796341917,
                "max_epochs": 4,
                "min_epochs": 1,
                "optimizer": "adamw",
                "patience": 2,
                "weight_decay": 1.143463874347219e-05,
            }
        ),
        "val_loss": 0.236,
    },
    "intermediate_values": {0: 0.54, 1: 0.86, 2: 0.97, 3: 1.0},
}


def _study_of_d7216a5(path, *, train_params: bool = True) -> str:
    """A study as d7216a5 wrote it; without ``train_params``, as 88f2f02 (11-21, before
    e48ef46 stored each trial's training settings) did."""
    import optuna
    from optuna.distributions import CategoricalDistribution as C
    from optuna.distributions import FloatDistribution as F

    units = C((8, 16, 32, 64, 128, 256, 512, 1024))
    distributions = {
        "mlp_n_layers": C((1, 2, 3, 4)),
        "mlp_units_0": units,
        "mlp_units_1": units,
        "input_keep": C((0.6, 0.8, 1.0)),
        "dropout": C((0.0, 0.1, 0.25, 0.5)),
        "lr": F(1e-4, 1e-2, log=True),
        "batch_size": C((64,)),
        "optimizer": C(("adamw", "sgd")),
        "weight_decay": F(1e-6, 1e-2, log=True),
        "class_balance": C(("none", "weights", "sampler")),
    }
    storage = f"sqlite:///{path}"
    study = optuna.create_study(study_name="s1", storage=storage, direction="maximize")
    trial = json.loads(json.dumps(OLD_TRIAL))
    trial["intermediate_values"] = {int(k): v for k, v in trial["intermediate_values"].items()}
    if not train_params:
        del trial["user_attrs"]["train_params"]
    study.add_trial(optuna.trial.create_trial(value=1.0, distributions=distributions, **trial))
    return storage


def _resume_config() -> dict:
    cfg = json.loads(json.dumps(CFG))
    cfg["budget"]["n_trials"] = 0  # collect the stored trials, run none
    cfg["trainer"]["max_epochs"] = 4
    return cfg


def test_resume_a_study_of_d7216a5_on_its_data(tmp_path, sag_caplog):
    """The same data: the old trial is assumed of it (warned) and retrained with its own
    recorded architecture and training settings."""
    storage = _study_of_d7216a5(tmp_path / "study.db")
    adata = sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0)
    model = sag.tl.classify(
        adata, "label", mode="mlp", config=_resume_config(), storage=storage, study_name="s1"
    )
    assert "without a record of the data" in sag_caplog.text
    assert model.architecture_["units"] == [128, 16]
    assert math.isclose(model.train_params_["lr"], 0.007750644796341917)
    assert adata.uns["sag"]["best"]["trial"] == 0


@pytest.mark.parametrize(
    ("n_vars", "n_classes", "mode", "match"),
    [
        (200, 5, "mlp", "s1"),  # other classes: a network of 3 outputs
        (150, 3, "mlp", "s1"),  # other genes: a network of 200 inputs
        (200, 3, "resnet", "mode"),  # another mode: its MLP trial would be kept
    ],
    ids=["other-classes", "other-genes", "other-mode"],
)
def test_resume_a_study_of_d7216a5_elsewhere_is_refused(tmp_path, n_vars, n_classes, mode, match):
    storage = _study_of_d7216a5(tmp_path / "study.db")
    adata = sag.datasets.synthetic(n_obs=300, n_vars=n_vars, n_classes=n_classes, seed=1)
    with pytest.raises(ValueError, match=match):
        sag.tl.classify(
            adata, "label", mode=mode, config=_resume_config(), storage=storage, study_name="s1"
        )


def test_resume_a_study_of_88f2f02_in_its_mode(tmp_path):
    """Trials without their training settings (88f2f02): drawn again from the space."""
    storage = _study_of_d7216a5(tmp_path / "study.db", train_params=False)
    adata = sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0)
    model = sag.tl.classify(
        adata, "label", mode="mlp", config=_resume_config(), storage=storage, study_name="s1"
    )
    assert model.architecture_["units"] == [128, 16]
    assert math.isclose(model.train_params_["lr"], 0.007750644796341917)


def test_resume_a_study_of_88f2f02_with_mode_auto_names_the_study(tmp_path):
    """Refused as a fingerprinted study of another mode is: naming the study and the mode
    to pass, not with a message of optuna's FixedTrial."""
    storage = _study_of_d7216a5(tmp_path / "study.db", train_params=False)
    adata = sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0)
    with pytest.raises(ValueError, match=r"'s1'.*mode='mlp'"):
        sag.tl.classify(
            adata, "label", mode="auto", config=_resume_config(), storage=storage, study_name="s1"
        )
