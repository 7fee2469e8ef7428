"""Behaviours on paths no other test reached (a coverage run of the suite).

A branch-coverage run of the whole suite left these lines of the core layers (data, train, nn,
models, search, tools) unexecuted. Each test pins what a user meets there, through the public
API where it can: bad input refused with a message that says what is wrong (an unknown
``value_type``, labels all missing, a split that leaves a class no training cell or no val
part, a model without an architecture, unknown optimizers, activations, likelihoods and
network sizes, too few cells for a VAE, ENAS with one validation cell, NaN in a plain matrix),
an interrupted run's journal cut in its first line, an SQLite storage that is no database, a
diverging training, an embedding basis that is not there, cells to explain without a model
class, a classify record of another model, the ResVAE's architecture shorthand, a count
likelihood on non-count values, a mutation (MAF) model read with a dense query, a sparse query
storing nothing, a model folder of an unreadable version, a transform without scaling.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from anndata import AnnData

import scautogenome as sag

ARCH = {"kind": "mlp", "units": [16]}
FAST = {"max_epochs": 2, "min_epochs": 1, "patience": 1, "batch_size": 64}
VAE_FAST = {"max_epochs": 1, "batch_size": 64}


@pytest.fixture(scope="module")
def model():
    """A Classifier of the conftest ``adata`` (2 epochs of a small MLP)."""
    sag.settings.verbosity = 1
    sag.settings.progress_bar = False
    data = sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0)
    return sag.models.Classifier(ARCH, FAST, device="cpu").fit(data, "label", seed=0)


# -- data preparation: what a fit refuses --------------------------------------------------------


def test_an_unknown_value_type_is_refused_with_the_known_ones(adata):
    """``value_type=`` other than ``"auto"`` and the known kinds is a ValueError naming them,
    not a transform of an unknown kind."""
    with pytest.raises(ValueError, match=r"value_type='tpm' must be 'auto' or one of \['counts'"):
        sag.models.Classifier(ARCH, FAST).fit(adata, "label", value_type="tpm")


def test_labels_missing_in_every_cell_are_refused(adata):
    """A label column whose every value is missing says so (not "one usable class")."""
    adata.obs["label"] = pd.Categorical([np.nan] * adata.n_obs, categories=["a", "b"])
    with pytest.raises(ValueError, match=r"obs\['label'\] has no labelled cells"):
        sag.models.Classifier(ARCH, FAST).fit(adata, "label")


def test_a_user_split_without_a_training_cell_of_a_class_names_the_class(adata):
    """A split column that puts every cell of a class in val or test is refused, naming the
    class: a model cannot learn a class it never sees."""
    labels = adata.obs["label"].astype(str).to_numpy()
    split = np.where(np.arange(adata.n_obs) % 3 == 0, "val", "train").astype(object)
    first = labels == "type_0"
    split[first] = np.where(np.arange(first.sum()) % 2 == 0, "val", "test")
    adata.obs["split"] = split
    with pytest.raises(ValueError, match=r"obs\['split'\] puts no training cell in .*type_0"):
        sag.models.Classifier(ARCH, FAST).fit(adata, "label", split_key="split")


def test_user_split_without_val_and_without_classes_to_draw_it_from():
    """``sag.data.user_split`` draws a validation part from the train cells only given class
    codes to stratify on; without them a split with no ``val`` is refused."""
    values = pd.Series(["train"] * 6 + ["test"] * 4)
    with pytest.raises(ValueError, match=r"no labelled 'val' cells; a search needs both"):
        sag.data.user_split(values, "split", np.ones(10, dtype=bool))


def test_a_fit_without_an_architecture_says_what_to_give(adata):
    """``Classifier().fit`` without an architecture is a ValueError with an example, before
    any data is read."""
    with pytest.raises(ValueError, match=r"Classifier.fit needs an architecture dict"):
        sag.models.Classifier(None, FAST).fit(adata, "label")


def test_class_names_of_a_value_neither_text_nor_number_is_its_text():
    """A label that is neither text nor a number (a tuple in an object column) is named by its
    text; numbers are still matched to the model's class names."""
    names = sag.data.class_names_of(
        pd.Series([("a", 1), 2.0, "3"], dtype=object), classes=["2", "3.0"]
    )
    assert names.tolist() == ["('a', 1)", "2", "3.0"]


def test_an_input_transform_of_an_unknown_value_type_is_refused():
    with pytest.raises(ValueError, match=r"value_type='tpm' must be one of \('counts'"):
        sag.data.InputTransform(value_type="tpm")


# -- training ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "value"), [("optimizer", "adam"), ("class_balance", "oversample")])
def test_train_params_refuse_unknown_choices(key, value):
    """An optimizer or class balance outside the known ones is a ValueError naming them."""
    with pytest.raises(ValueError, match=rf"{key}='{value}' must be one of \("):
        sag.train.TrainParams(**{key: value})


def test_a_diverging_training_raises_diverged(adata):
    """A learning rate that blows the weights up within the first epoch stops the fit with
    :class:`sag.train.Diverged`, which names the learning rate (not NaN weights saved)."""
    params = {**FAST, "lr": 1e30, "optimizer": "sgd"}
    with pytest.raises(sag.train.Diverged, match=r"non-finite loss at epoch 0 \(lr=1e\+30\)"):
        sag.models.Classifier(ARCH, params).fit(adata, "label")


def test_log_odds_needs_two_classes():
    with pytest.raises(ValueError, match="log_odds needs at least 2 classes, got 1"):
        sag.train.log_odds(np.zeros((4, 1)))


def test_the_auc_loss_pairs_are_sampled_past_max_pairs():
    """Past ``max_pairs`` (positive, negative) pairs, the AUC loss's validation rows are every
    cell of the smaller class and a fixed sample of the larger one: the same rows each call."""
    from scautogenome.train._trainer import _pair_sample

    y = np.zeros(1000, dtype=np.int64)
    y[::10] = 1  # 100 positives, 900 negatives: 90,000 pairs
    assert np.array_equal(_pair_sample(y, max_pairs=90_000), np.arange(1000))
    rows = _pair_sample(y, max_pairs=10_000)
    assert np.array_equal(rows, np.sort(rows))
    assert set(np.flatnonzero(y == 1)) <= set(rows.tolist())  # every positive
    assert (y[rows] == 0).sum() == 100  # 10,000 pairs // 100 positives
    assert np.array_equal(rows, _pair_sample(y, max_pairs=10_000))


# -- networks -----------------------------------------------------------------------------------


def test_check_dag_refuses_no_layers_and_non_positive_widths():
    with pytest.raises(ValueError, match="at least one layer"):
        sag.nn.check_dag([], [])
    with pytest.raises(ValueError, match=r"widths=\[8, 0\] must all be positive"):
        sag.nn.check_dag([8, 0], [[], []])


def test_dag_edges_are_the_chain_and_the_skips():
    assert sorted(sag.nn.dag_edges([[], [], [0], [0, 1]])) == [
        (0, 1),
        (0, 2),
        (0, 3),
        (1, 2),
        (1, 3),
        (2, 3),
    ]


def test_the_rrfcn_supernet_refuses_an_empty_space_and_foreign_widths():
    with pytest.raises(ValueError, match="n_layers=0 must be at least 1"):
        sag.nn.RRFCNSupernet(10, 2, n_layers=0, first_width=8, widths=[8])
    with pytest.raises(ValueError, match=r"candidate widths\) must not be empty"):
        sag.nn.RRFCNSupernet(10, 2, n_layers=2, first_width=8, widths=[])
    net = sag.nn.RRFCNSupernet(10, 2, n_layers=2, first_width=8, widths=[4, 8])
    net.check([8, 4], [[], []])
    with pytest.raises(ValueError, match=r"widths \[16\] are not among the candidate widths"):
        net.check([8, 16], [[], []])


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"likelihood": "poisson"}, "likelihood='poisson' must be one of"),
        ({"input_keep": 0.0}, r"input_keep=0.0 must be in \(0, 1\]"),
        ({"n_latent": 0}, "n_latent=0 must be >= 1"),
        ({"widths": []}, r"widths=\[\] non-empty"),
    ],
)
def test_the_vae_module_refuses_bad_options(options, match):
    kwargs = {"n_latent": 2, "widths": [8], **options}
    with pytest.raises(ValueError, match=match):
        sag.nn.VAEModule(10, **kwargs)


def test_an_unknown_activation_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"activation='swish' must be one of \['elu'"):
        sag.nn.MLP(10, 2, units=[4], act="swish")


def test_a_count_likelihood_without_scvi_tools_says_how_to_install_it(monkeypatch):
    """Without scvi-tools, a count likelihood is an ImportError with the install line and the
    Gaussian way out."""
    import importlib.util

    from scautogenome.nn._vae import require_scvi

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "scvi" else real(name, *a)
    )
    with pytest.raises(ImportError, match=r"pip install scvi-tools.*likelihood='gaussian'"):
        require_scvi("nb")
    require_scvi("gaussian")  # needs nothing


# -- models -------------------------------------------------------------------------------------


def test_an_untrained_model_repr_says_untrained():
    assert repr(sag.models.Classifier(ARCH)) == (
        "Classifier(architecture={'kind': 'mlp', 'units': [16]}, untrained)"
    )


def test_the_resvae_shorthand_architecture_becomes_decaying_widths(adata):
    """``n_layers``, ``first_width`` and ``decay`` give the encoder widths (``first_width``
    times ``decay`` per layer, not below ``n_latent``), recorded as ``widths`` alone."""
    arch = {"kind": "resvae", "n_layers": 3, "first_width": 32, "decay": 0.5, "n_latent": 6}
    vae = sag.models.ResVAE(arch, VAE_FAST).fit(adata, seed=0)
    assert vae.architecture_["widths"] == [32, 16, 8]
    assert not {"n_layers", "first_width", "decay"} & set(vae.architecture_)


def test_a_count_likelihood_on_non_integer_values_warns(adata, sag_caplog):
    """``likelihood='nb'`` on values that are not counts (given as ``value_type='continuous'``)
    trains, with a warning that a count likelihood expects raw counts."""
    adata.X = adata.X.astype(np.float32) * 0.37
    arch = {"kind": "resvae", "widths": [16], "n_latent": 2, "likelihood": "nb"}
    sag.models.ResVAE(arch, VAE_FAST).fit(adata, value_type="continuous", seed=0)
    assert "likelihood='nb' but adata.X holds non-integer values" in sag_caplog.text


def test_a_mutation_model_reads_a_dense_query_lacking_genes_as_a_sparse_one():
    """A model of a MAF's binary profiles reads a MAF's unlisted genes as 0 (not mutated): a
    dense query lacking some of its genes predicts as the same query stored sparse."""
    from scautogenome._keys import IO_KEY

    rng = np.random.default_rng(0)
    n, g = 120, 30
    y = np.repeat(["a", "b"], n // 2)
    X = (rng.random((n, g)) < 0.1).astype(np.float32)
    X[y == "b", :3] = 1.0
    train = AnnData(
        sp.csr_matrix(X), obs=pd.DataFrame({"label": y}, index=[f"s{i}" for i in range(n)])
    )
    train.var_names = [f"G{j}" for j in range(g)]
    model = sag.models.Classifier(ARCH, FAST, device="cpu").fit(train, "label", seed=0)
    assert model.transform_.value_type == "binary"
    query = train[:, 5:].copy()  # lacks G0..G4
    query.uns[IO_KEY] = {"reader": "read_maf", "all_mutated_genes": True, "n_genes": query.n_vars}
    dense = query.copy()
    dense.X = np.asarray(query.X.toarray())
    np.testing.assert_allclose(model.predict_proba(dense), model.predict_proba(query), atol=1e-6)


def test_a_model_folder_of_an_unreadable_version_loads(model, tmp_path, sag_caplog):
    """A ``model.json`` whose recorded scautogenome version is no version number loads as any
    other (no "newer than this one" warning, no refusal)."""
    model.save(tmp_path / "m")
    meta_path = tmp_path / "m" / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["versions"]["scautogenome"] = "not-a-version"
    meta_path.write_text(json.dumps(meta))
    loaded = sag.models.Classifier.load(tmp_path / "m")
    assert list(loaded.classes_) == list(model.classes_)
    assert "newer than this one" not in sag_caplog.text


# -- tools --------------------------------------------------------------------------------------


def test_embedding_scores_of_a_missing_basis_lists_those_there(adata):
    adata.obsm["X_pca"] = np.zeros((adata.n_obs, 2), dtype=np.float32)
    with pytest.raises(KeyError, match=r"basis='X_umap' not found .*available: \['X_pca'\]"):
        sag.tl.embedding_scores(adata, "X_umap", "label")


def test_explain_refuses_cells_none_of_which_has_a_model_class(adata, model):
    """Grouped by a column some of whose values are the model's classes, selected cells none
    of which has one: a ValueError that names the column, not an empty explanation."""
    grp = adata.obs["label"].astype(str).to_numpy().astype(object)
    grp[:20] = "unknown"
    adata.obs["grp"] = grp
    with pytest.raises(
        ValueError,
        match=r"No cell to explain: none of the 20 selected cells \(cells=\[0, 1, 2, .*, \.\.\. "
        r"\(20 in all\)\]\) has a model class in 'grp'\.$",
    ):
        sag.tl.explain(adata, model, groupby="grp", cells=np.arange(20), n_explain=10)
    grp[:250] = "unknown"
    adata.obs["grp"] = grp
    names = list(adata.obs_names[:250])
    with pytest.raises(ValueError, match=r"none of the 250 selected cells \(cells=\[") as err:
        sag.tl.explain(adata, model, groupby="grp", cells=names, n_explain=10)
    assert len(str(err.value)) < 500  # the cells given are not listed whole


# -- search -------------------------------------------------------------------------------------


def test_a_journal_whose_only_line_is_cut_keeps_nothing(tmp_path):
    """A journal killed while writing its first record (no newline at all) is refused before
    Optuna writes onto it, and says that it holds no complete record (the hint to keep "its
    first 0 bytes" with ``head -c 0`` was right, and read oddly)."""
    path = tmp_path / "cut.journal"
    path.write_text('{"op_code": 0, "worker_id": "ab')
    with pytest.raises(ValueError, match=r"last line is cut short") as err:
        sag.search.check_storage(str(path))
    assert "It holds no complete record: give a new file as storage=" in str(err.value)
    assert "head -c" not in str(err.value)


def test_an_sqlite_storage_that_is_no_database_is_named(tmp_path):
    """A file that is not SQLite given as an SQLite storage is a ValueError naming it (the
    look at its tables, which cannot read it, leaves the refusal to the opening)."""
    path = tmp_path / "notes.db"
    path.write_bytes(b"not a database\n" * 200)
    with pytest.raises(ValueError, match=r"cannot be opened: .*file is not a database"):
        sag.search.check_storage(f"sqlite:///{path}")


def test_a_categorical_distribution_spec_is_valid():
    """``{"type": "categorical", "choices": [...]}`` is a valid entry (no numeric range
    checks), an empty list of choices not."""
    sag.search.check_distribution({"type": "categorical", "choices": [64, 128]}, "batch_size")
    with pytest.raises(ValueError, match="non-empty 'choices' list"):
        sag.search.check_distribution({"type": "categorical", "choices": []}, "batch_size")


def test_sample_architecture_of_a_mode_without_sampler_is_refused():
    """A mode without a sampler, and a space without the mode's entry, are ValueErrors that
    say so; a mode missing from the space was a bare KeyError before the mode was checked."""
    import optuna

    trial = optuna.trial.FixedTrial({})
    with pytest.raises(ValueError, match="mode='linear' has no architecture sampler"):
        sag.search.sample_architecture(trial, "linear", {"linear": {}}, 10, 2)
    with pytest.raises(ValueError, match="mode='linear' has no architecture sampler"):
        sag.search.sample_architecture(trial, "linear", {}, 10, 2)
    with pytest.raises(ValueError, match=r"space has no entry for mode='mlp' \(its modes: \[\]\)"):
        sag.search.sample_architecture(trial, "mlp", {}, 10, 2)


def test_a_cells_mask_on_the_obs_names_leaves_its_missing_values_out(adata, model):
    """``cells=`` a boolean Series on ``adata.obs_names`` (in their order) explains the cells
    it marks True: those it marks missing (``pd.NA``) are not selected."""
    marks = pd.array([True] * 5 + [pd.NA] * 5 + [False] * (adata.n_obs - 10), dtype="boolean")
    mask = pd.Series(marks, index=adata.obs_names)
    values = sag.tl.explain(adata, model, cells=mask, n_explain=None, return_values=True)
    assert values.shape == (5, adata.n_vars, 3)


def test_zero_genes_of_a_plain_matrix_query_say_it_cannot_drop_them(model, sag_caplog):
    """A plain matrix whose columns of many model genes are all 0 warns as an AnnData would,
    but says that a plain matrix holds the model's genes in order: only an AnnData or a
    DataFrame of named genes can leave them out."""
    X = np.asarray(sag.datasets.synthetic(n_obs=300, n_vars=200, n_classes=3, seed=0).X.toarray())
    X[:, :150] = 0
    model.predict(X.astype(np.float32))
    assert "150 of the 200 model genes" in sag_caplog.text
    assert "pass an AnnData or a DataFrame of named genes for that" in sag_caplog.text


def test_a_resvae_folder_whose_batches_are_no_list_is_refused(adata, tmp_path):
    arch = {"kind": "resvae", "widths": [16], "n_latent": 2}
    sag.models.ResVAE(arch, VAE_FAST).fit(adata, seed=0).save(tmp_path / "v")
    meta_path = tmp_path / "v" / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["batches"] = "b1"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"its batches 'b1' are not a list of names"):
        sag.models.ResVAE.load(tmp_path / "v")


def test_input_genes_repr_names_inputs_and_genes_read():
    assert repr(sag.nn.InputGenes(10, np.array([1, 3]))) == "InputGenes(n_inputs=10, n_read=2)"


def test_a_first_width_range_below_the_genes_is_kept():
    """The VAE search lowers a ``first_width`` range's ``high`` to the number of genes, and
    leaves a range already below it as it is (never raised to the gene count)."""
    from scautogenome.search._vae import cap_widths

    below = {"first_width": {"type": "int", "low": 8, "high": 64}}
    assert cap_widths(below, 200) == below
    above = {"first_width": {"type": "int", "low": 8, "high": 512}}
    assert cap_widths(above, 200)["first_width"]["high"] == 200


def test_enas_evaluation_batches_leave_no_single_row():
    """ENAS scores its architectures in batches that leave no trailing batch of one row (which
    batch norm of the supernet cannot take)."""
    from scautogenome.search._enas import _eval_batch_size

    for n in (3, 1025, 2049, 5000):
        bs = _eval_batch_size(n)
        assert bs <= 1024
        assert n % bs != 1


def test_enas_with_one_validation_cell_is_refused_and_warns_of_the_unused_storage(
    adata, tiny_config, tmp_path, sag_caplog
):
    """ENAS runs in memory: a storage given to it is said to be unused; a split of one
    validation cell is refused (the supernet's architectures cannot be ranked on it)."""
    split = np.array(["train"] * adata.n_obs, dtype=object)
    split[0], split[1:40] = "val", "test"
    adata.obs["split"] = split
    with pytest.raises(ValueError, match="ENAS needs at least 2 validation cells, the split has 1"):
        sag.tl.classify(
            adata,
            "label",
            mode="rrfcn",
            split_key="split",
            storage=f"sqlite:///{tmp_path / 's.db'}",
            config=tiny_config,
        )
    assert "storage is not used by the ENAS search" in sag_caplog.text


@pytest.mark.parametrize(
    ("architecture", "another"),
    [
        ("same", False),
        ('{"kind": "mlp", "units": [99]}', True),
        ("not json {", True),
    ],
)
def test_explain_warns_where_the_named_classify_record_is_of_another_model(
    adata, model, sag_caplog, architecture, another
):
    """``classify_key=`` naming a record without a weights digest (written by an earlier
    version) is the model's where its architecture and classes are; one of another
    architecture, or one whose architecture is no JSON, is used as asked with a warning."""
    if architecture == "same":
        architecture = json.dumps(model.architecture_)
    adata.uns["old"] = {
        "architecture": architecture,
        "classes": list(model.classes_),
        "params": {"labels_key": "label"},
    }
    sag.tl.explain(adata, model, classify_key="old", cells="all", n_explain=5)
    assert ("uns['old'] records another model than this one" in sag_caplog.text) is another


def test_an_input_transform_without_scaling_is_the_row_step_alone():
    """``InputTransform(scale=False)`` (``sag.data.prepare_labelled(scale=False)``) applies
    the row-wise step only, in numpy and torch alike, keeps zeros, reports no training range,
    and is saved and read back without one."""
    import torch

    X = sag.datasets.synthetic(n_obs=100, n_vars=20, n_classes=2, seed=0).X
    t = sag.data.InputTransform("counts", scale=False).fit(X, np.arange(100))
    assert t.keeps_zeros()
    assert (t.trained_min(), t.trained_max(), t.varying_genes()) == (None, None, None)
    assert t.negative_share() == 0.0
    block = np.asarray(X[:5].toarray(), dtype=np.float32)
    expected = np.log1p(block / block.sum(1, keepdims=True) * 1e4)
    np.testing.assert_allclose(t.apply(block.copy()), expected, rtol=1e-5, atol=1e-5)
    torch_out = t.to_torch("cpu")(torch.from_numpy(block)).numpy()
    np.testing.assert_allclose(torch_out, expected, rtol=1e-5, atol=1e-5)
    back = sag.data.InputTransform.from_dict(t.to_dict(), t.arrays())
    assert not back.scale
    assert back.min_ is None
    with pytest.raises(RuntimeError, match=r"fit\(\) must be called before"):
        sag.data.InputTransform("counts").to_torch("cpu")


def test_a_vae_needs_ten_cells(adata):
    """A ResVAE fit on fewer than 10 cells is refused with the count; 10 train."""
    arch = {"kind": "resvae", "widths": [8], "n_latent": 2}
    with pytest.raises(ValueError, match="adata has 9 cells; training a VAE needs at least 10"):
        sag.models.ResVAE(arch, VAE_FAST).fit(adata[:9].copy(), seed=0)
    sag.models.ResVAE(arch, VAE_FAST).fit(adata[:10].copy(), seed=0)


def test_a_plain_matrix_with_nan_names_the_value_by_position(model):
    """A NaN in a plain matrix query (no cell or gene names) is refused naming its row and
    column positions."""
    X = np.asarray(
        sag.datasets.synthetic(n_obs=5, n_vars=200, n_classes=3, seed=0).X.toarray(),
        dtype=np.float32,
    )
    X[3, 7] = np.nan
    with pytest.raises(ValueError, match=r"the first \(nan\) at row 3, column 7; fix or impute"):
        model.predict(X)


def test_a_sparse_query_storing_no_value_is_read(model):
    """A sparse query (lacking some of the model's genes) whose cells store no value at all in
    the genes read, so nothing to check for NaN, is read as cells of zeros: the same
    probabilities as the dense zeros."""
    genes = [f"gene_{j}" for j in range(50, 200)]
    empty = AnnData(sp.csr_matrix((5, 150), dtype=np.float32))
    empty.var_names = genes
    dense = AnnData(np.zeros((5, 150), dtype=np.float32))
    dense.var_names = genes
    np.testing.assert_allclose(model.predict_proba(empty), model.predict_proba(dense), atol=1e-6)
