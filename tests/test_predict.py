from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import scautogenome as sag


@pytest.fixture
def trained(adata, tiny_config):
    return sag.tl.classify(adata.copy(), "label", config=tiny_config)


def test_genes_matched_by_name(adata, trained):
    ref = trained.predict_proba(adata)
    rng = np.random.default_rng(0)
    shuffled = adata[:, rng.permutation(adata.n_vars)].copy()
    sag.tl.predict(shuffled, trained)
    np.testing.assert_allclose(shuffled.obsm["sag_proba"], ref, atol=1e-5)
    assert shuffled.uns["sag"]["gene_overlap"]["n_common"] == adata.n_vars
    assert (shuffled.obs["sag_confidence"] > 0).all()


def test_partial_overlap_warns_and_fills_the_training_mean(adata, trained, capfd):
    query = adata[:, 20:].copy()  # 20 model genes missing
    sag.settings.verbosity = 1
    sag.tl.predict(query, trained)
    err = capfd.readouterr().err
    assert err.count("180 of the model's 200 genes") == 1
    assert "predictions may be less accurate than the model's test metrics" in " ".join(err.split())
    assert "are set to their mean in training" in err
    # the warning names the first missing genes, so that the user can look for them
    names = ", ".join(repr(str(g)) for g in adata.var_names[:3])
    assert f"20 missing genes (e.g. {names}) are set to" in " ".join(err.split())
    rep = query.uns["sag"]["gene_overlap"]
    assert (rep["n_missing_filled"], rep["missing_filled_with"]) == (20, "train_mean")
    # the fill is "those genes hold their training mean on the model's scale": after the
    # transform, which reads them as 0; each cell's depth is its total over the genes
    # present divided by their share of the training cells' counts
    assert "divided by their share of the training cells' counts" in " ".join(err.split())
    assert 0.5 < rep["counts_share"] < 1.0
    import torch
    from scipy.special import softmax

    t = trained.transform_
    train = sag.data.prepare_labelled(adata, "label", seed=0).rows("train")  # classify's
    rows_mean = t._rows_np(adata.X[train].toarray()).mean(axis=0)
    np.testing.assert_allclose(t.mean_, rows_mean, rtol=1e-4, atol=1e-6)
    block = np.zeros((query.n_obs, adata.n_vars), dtype=np.float32)
    block[:, 20:] = query.X.toarray()
    xin = t.apply(block, t.coverage(np.arange(20)))
    assert t.coverage(np.arange(20)) == pytest.approx(rep["counts_share"])
    xin[:, :20] = t.fill_values()[:20]
    trained.module_.eval()
    with torch.no_grad():
        logits = trained.module_(torch.from_numpy(xin)).numpy()
    np.testing.assert_allclose(query.obsm["sag_proba"], softmax(logits, axis=1), atol=1e-5)
    # a model saved before the mean (and the counts' shares) were kept fills zeros, and
    # takes the depth over the genes present, as it did
    trained.transform_.mean_ = trained.transform_.share_ = None
    zeros = adata.copy()
    zeros.X = zeros.X.toarray()
    zeros.X[:, :20] = 0
    old = query.copy()
    sag.tl.predict(old, trained)
    assert old.uns["sag"]["gene_overlap"]["missing_filled_with"] == "zero"
    np.testing.assert_allclose(old.obsm["sag_proba"], trained.predict_proba(zeros), atol=1e-5)


def test_overlap_below_minimum_raises_with_counts(adata, trained):
    query = adata[:, 150:].copy()
    with pytest.raises(ValueError, match=r"only 50 of the model's 200 genes"):
        sag.tl.predict(query, trained, min_gene_overlap=0.5)
    assert "sag_pred" not in query.obs
    sag.tl.predict(query, trained, min_gene_overlap=0.2)
    assert "sag_pred" in query.obs


def test_no_gene_overlap_raises(adata, trained):
    query = adata.copy()
    query.var_names = [f"other_{i}" for i in range(query.n_vars)]
    with pytest.raises(
        ValueError, match=r"shares no gene.*e\.g\. model genes \w+, \w+, \w+, query genes other_0"
    ):
        sag.tl.predict(query, trained)


def test_predict_keeps_its_own_runs_record_and_refuses_to_replace_another_models(adata):
    """Predicting with the model classify trained keeps the run's record; predicting with
    another model (classes in another order) into the same key is an error before any work,
    so the run's metrics are neither lost nor left describing predictions they were not
    computed on; another key_added keeps both."""
    cfg = {"budget": {"n_trials": 1, "time_budget": None}, "trainer": {"max_epochs": 3}}
    model = sag.tl.classify(adata, "label", mode="mlp", config=cfg, seed=0)
    sag.tl.predict(adata, model)
    assert "confusion" in adata.uns["sag"]
    assert "gene_overlap" in adata.uns["sag"]
    other = adata.copy()
    other.obs["label"] = other.obs["label"].cat.reorder_categories(
        other.obs["label"].cat.categories[::-1]
    )
    model2 = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 2}).fit(
        other, "label", seed=0
    )
    assert list(model2.classes_) != list(model.classes_)
    pred = adata.obs["sag_pred"].copy()
    with pytest.raises(ValueError, match=r"holds the classify run of another model.*key_added="):
        sag.tl.predict(adata, model2)
    assert "confusion" in adata.uns["sag"]
    pd.testing.assert_series_equal(adata.obs["sag_pred"], pred)
    sag.tl.predict(adata, model2, key_added="other")
    assert list(adata.uns["other"]["classes"]) == list(model2.classes_)
    assert "confusion" in adata.uns["sag"]  # the run's record is kept
    sag.pl.confusion_matrix(adata, show=False)


def _models_of_counts_and_log(counts):
    """``counts`` log1p-normalized to 1e4, and a small model of each (2 epochs)."""
    import scanpy as sc

    lognorm = counts.copy()
    sc.pp.normalize_total(lognorm, target_sum=1e4)
    sc.pp.log1p(lognorm)
    params = {"max_epochs": 2}
    on_log = sag.models.Classifier({"kind": "mlp", "units": [8]}, params).fit(lognorm, "label")
    on_counts = sag.models.Classifier({"kind": "mlp", "units": [8]}, params).fit(counts, "label")
    return lognorm, on_log, on_counts


def test_predict_warns_when_the_query_holds_another_kind_of_values(adata, capfd):
    """A model of log-normalized values given raw counts (and a counts model given
    log-normalized values) is warned about: its input transform would read the wrong scale."""
    lognorm, on_log, on_counts = _models_of_counts_and_log(adata)
    capfd.readouterr()
    on_log.predict(lognorm)
    on_counts.predict(adata)
    assert "the model was trained on" not in capfd.readouterr().err
    on_log.predict(adata)
    err = capfd.readouterr().err
    assert "trained on log-transformed or scaled values" in err
    assert "(raw counts?)" in err
    on_counts.predict(lognorm)
    err = capfd.readouterr().err
    assert "holds non-integer values (log-normalized?)" in err
    assert "e.g. layer='counts'" in err
    # where the layer read is 'counts' already, it is not the advice
    lognorm.layers["counts"] = lognorm.X
    on_counts.predict(lognorm, layer="counts")
    err = capfd.readouterr().err
    assert "the query's layers['counts'] holds non-integer values" in " ".join(err.split())
    assert "e.g. layer='counts'" not in err


def test_predict_warns_when_tpm_meets_log_values(capfd):
    """Unlogged RSEM/TPM given to a model of log2 values, and log2 values given to a model of
    unlogged RSEM, are warned about (the transform would read the wrong scale)."""
    adata = sag.datasets.synthetic(n_obs=150, n_vars=40, n_classes=3, seed=0)
    tpm = adata.copy()
    tpm.X = tpm.X.toarray() * 37.3 + 0.5  # non-integer, non-negative, up to thousands
    log2 = tpm.copy()
    log2.X = np.log2(log2.X + 1)
    params = {"max_epochs": 2}
    on_tpm = sag.models.Classifier({"kind": "mlp", "units": [8]}, params).fit(tpm, "label")
    on_log2 = sag.models.Classifier({"kind": "mlp", "units": [8]}, params).fit(log2, "label")
    assert (on_tpm.transform_.value_type, on_log2.transform_.value_type) == (
        "normalized",
        "continuous",
    )
    capfd.readouterr()
    on_tpm.predict(tpm)
    on_log2.predict(log2)
    assert "the model was trained on" not in capfd.readouterr().err
    on_tpm.predict(log2)
    assert "only (already logged?)" in capfd.readouterr().err
    on_log2.predict(tpm)
    assert "(unlogged TPM/FPKM/RSEM?)" in capfd.readouterr().err


def test_a_few_negative_values_among_unlogged_ones_are_named(capfd):
    adata = sag.datasets.synthetic(n_obs=150, n_vars=40, n_classes=3, seed=0)
    adata.X = adata.X.toarray() * 37.3 + 0.5
    adata.X[0, 0] = -0.01  # a batch-corrected value
    capfd.readouterr()
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 2})
    model.fit(adata, "label")
    assert model.transform_.value_type == "continuous"
    err = capfd.readouterr().err
    assert "the negative ones make them read as already transformed" in err


def test_predict_reads_the_layer_its_classify_run_trained_on(capfd):
    """On the AnnData classify annotated, predict reads the layer classify trained on (as
    explain does), not X; on a new query without it, X."""
    import scanpy as sc

    adata = sag.datasets.synthetic(n_obs=200, n_vars=50, n_classes=3, seed=0)
    adata.layers["counts"] = adata.X.copy()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    cfg = {"budget": {"n_trials": 1, "time_budget": None}, "trainer": {"max_epochs": 3}}
    model = sag.tl.classify(adata, "label", mode="mlp", layer="counts", config=cfg, seed=0)
    proba = adata.obsm["sag_proba"].copy()
    capfd.readouterr()
    sag.tl.predict(adata, model)
    assert adata.uns["sag"]["predict_params"]["layer"] == "counts"
    assert "the model was trained on" not in capfd.readouterr().err
    np.testing.assert_allclose(adata.obsm["sag_proba"], proba, atol=1e-6)


def _predicts_alike_under_other_names(model_names: list[str], query_names: list[str]) -> None:
    """A model of 40 genes named ``model_names`` finds all 40 in a query of the same cells
    named ``query_names`` and predicts it as its own training data."""
    adata = sag.datasets.synthetic(n_obs=150, n_vars=40, n_classes=3, seed=0)
    adata.var_names = model_names
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 2})
    model.fit(adata, "label")
    expected = model.predict_proba(adata)
    query = adata.copy()
    query.var_names = query_names
    assert model.gene_overlap(query.var_names)["n_common"] == 40
    np.testing.assert_allclose(model.predict_proba(query), expected, rtol=1e-5, atol=1e-6)


def test_ensembl_versions_do_not_block_gene_matching():
    """GENCODE releases change an Ensembl id's version: ENSG...1.5 in training, .7 in the
    query, or no version at all, name the same gene."""
    from scautogenome.data import gene_alignment

    _predicts_alike_under_other_names(
        [f"ENSG{i:011d}.5" for i in range(40)],
        [f"ENSG{i:011d}.7" if i % 2 else f"ENSG{i:011d}" for i in range(40)],
    )
    # an exact match wins; a bare id that names two model genes matches neither
    src, dst, _ = gene_alignment(
        ["ENSG00000000001.5", "ENSG00000000001.8", "ENSG00000000002"],
        ["ENSG00000000001.5", "ENSG00000000002.1", "ENSG00000000002.2"],
    )
    assert (src.tolist(), dst.tolist()) == ([0], [0])


def test_query_genes_of_one_ensembl_id_are_named(sag_caplog):
    """Two query columns of one Ensembl id in other versions, for a model gene without an
    exact match: the first is used, and a warning names them (the other may be the one
    holding the counts)."""
    from scautogenome.data import gene_alignment

    query = ["ENSG00000000001.2", "ENSG00000000001.1", "ENSG00000000002.3", "ENSG00000000003.1"]
    model = ["ENSG00000000001", "ENSG00000000002", "ENSG00000000003.1"]
    src, dst, _ = gene_alignment(query, model)
    assert (src.tolist(), dst.tolist()) == ([0, 2, 3], [0, 1, 2])
    assert (
        "1 model gene is matched by several query genes by their Ensembl id without the "
        "version, e.g. 'ENSG00000000001' by 'ENSG00000000001.2' and 'ENSG00000000001.1'; the "
        "first is used: drop or rename the others to choose"
    ) in sag_caplog.text
    sag_caplog.clear()
    gene_alignment(query, model, log=False)
    assert sag_caplog.text == ""


def test_firehose_symbol_entrez_ids_match_symbols(sag_caplog):
    """A model of Firehose's SYMBOL|ENTREZ ids predicts a query of symbols (Xena, GDC) as the
    same query under its own ids, and the other way round; '?|ENTREZ' (no symbol) matches
    nothing by symbol."""
    from scautogenome.data import gene_alignment

    _predicts_alike_under_other_names(
        [f"G{i}|{1000 + i}" for i in range(40)], [f"G{i}" for i in range(40)]
    )
    assert "40 genes matched by the symbol of the model's SYMBOL|ENTREZ id" in sag_caplog.text
    # '?' is no symbol; two Firehose ids of one symbol and other Entrez ids are other genes
    src, dst, _ = gene_alignment(["TP53|7157", "?|5", "?|6"], ["TP53", "?", "MYC"])
    assert (src.tolist(), dst.tolist()) == ([0], [0])
    src, dst, _ = gene_alignment(["?|10357", "SLC35E2|728661"], ["?|100130426", "SLC35E2|9906"])
    assert src.tolist() == []
    src, dst, _ = gene_alignment(["TP53"], ["TP53|7157", "TP53|9999"])
    assert src.tolist() == []  # a symbol of two model genes: neither


def test_a_gene_named_twice_in_the_query_counts_once(adata, trained):
    query = adata[:, :30].copy()
    names = query.var_names.tolist()
    names[1] = names[2] = names[0]
    query.var_names = names
    rep = trained.gene_overlap(query.var_names, min_gene_overlap=0.1)
    assert (rep["n_common"], rep["n_missing_filled"]) == (28, 172)
    twice = sag.datasets.synthetic(n_obs=5, n_vars=200, n_classes=3, seed=1)
    twice = anndata_concat_genes(twice)
    rep = trained.gene_overlap(twice.var_names)
    assert (rep["n_common"], rep["fraction_of_model_genes"]) == (200, 1.0)


def anndata_concat_genes(adata):
    """``adata`` with every gene twice."""
    import anndata as ad

    return ad.concat([adata, adata], axis=1, merge="first")


def test_predict_records_the_layer_it_read(adata):
    """Without a classify record, predict reads the layer the model was trained on where the
    query has it, and records that layer (not None)."""
    adata.layers["counts"] = adata.X.copy()
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 2})
    model.fit(adata, "label", layer="counts")
    query = adata.copy()
    sag.tl.predict(query, model, key_added="q")
    assert query.uns["q"]["predict_params"]["layer"] == "counts"
    query.X = query.X * 0  # what is read is the layer, not X
    again = query.copy()
    sag.tl.predict(again, model, key_added="q")
    np.testing.assert_allclose(again.obsm["q_proba"], query.obsm["q_proba"])


def test_predict_warns_of_scaled_or_rescaled_log_values(capfd):
    """A model of log1p(1e4-normalized) values given sc.pp.scale's output (negative values)
    or log1p of scanpy's median-depth normalization is warned about; the same values, and
    depth-normalized values given to a count model (its normalization reads them as the
    counts), are not."""
    import scanpy as sc

    counts = sag.datasets.synthetic(n_obs=200, n_vars=60, n_classes=3, seed=0)
    lognorm, on_log, on_counts = _models_of_counts_and_log(counts)
    capfd.readouterr()
    on_log.predict(lognorm[:50].copy())
    assert "the model was trained on" not in capfd.readouterr().err
    scaled = lognorm.copy()
    sc.pp.scale(scaled)
    on_log.predict(scaled)
    assert "negative values (down to" in capfd.readouterr().err
    # and the other way round: a model of scaled values given unscaled log values
    on_scaled = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    on_scaled.fit(scaled, "label", seed=0)
    capfd.readouterr()
    on_scaled.predict(scaled[:50].copy())
    assert "the model was trained on" not in capfd.readouterr().err
    on_scaled.predict(lognorm)
    err = " ".join(capfd.readouterr().err.split())
    assert re.search(
        r"holds no negative values, where training had values down to -\d.* in 100% of the "
        r"genes .*sc\.pp\.scale",
        err,
    )
    assert "layer='counts'" not in err
    # one stray negative value in training (a batch correction's) is no scaling
    stray = lognorm.copy()
    stray.X = stray.X.toarray()
    stray.X[0, 0] = -0.01
    on_stray = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    on_stray.fit(stray, "label", seed=0)
    capfd.readouterr()
    on_stray.predict(lognorm[1:].copy())
    assert "the model was trained on" not in capfd.readouterr().err
    median_depth = counts.copy()  # scanpy's default target: the median depth (about 220)
    sc.pp.normalize_total(median_depth)
    sc.pp.log1p(median_depth)
    on_log.predict(median_depth)
    assert "x the training cells' (another normalization" in capfd.readouterr().err
    cpm = counts.copy()
    sc.pp.normalize_total(cpm, target_sum=1e6)
    on_counts.predict(cpm)
    assert "the model was trained on" not in capfd.readouterr().err
    np.testing.assert_allclose(
        on_counts.predict_proba(cpm), on_counts.predict_proba(counts), atol=1e-5
    )


def test_genes_in_another_case_are_named(adata, trained):
    """Symbols written in another case ('GENE_1' against the model's 'gene_1') do not match,
    and the error or warning says how many do ignoring case."""
    upper = adata.copy()
    upper.var_names = [g.upper() for g in adata.var_names]
    with pytest.raises(ValueError, match="200 of the missing genes are in the query in another"):
        sag.tl.predict(upper, trained)
    half = adata.copy()
    half.var_names = [g.upper() if i % 2 else g for i, g in enumerate(adata.var_names)]
    rep = trained.gene_overlap(half.var_names, min_gene_overlap=0.4)
    assert (rep["n_common"], rep["n_missing_in_another_case"]) == (100, 100)


def test_min_confidence_calls_uncertain_cells_unassigned(adata, trained, tmp_path):
    query = adata.copy()
    sag.tl.predict(query, trained)
    confidence = query.obs["sag_confidence"].to_numpy()
    threshold = float(np.quantile(confidence, 0.3))
    gated = adata.copy()
    sag.tl.predict(gated, trained, min_confidence=threshold)
    calls = gated.obs["sag_pred"].astype(str).to_numpy()
    low = confidence < threshold
    assert low.any()
    assert (calls[low] == "Unassigned").all()
    np.testing.assert_array_equal(calls[~low], query.obs["sag_pred"].astype(str).to_numpy()[~low])
    assert list(gated.obs["sag_pred"].cat.categories)[-1] == "Unassigned"
    np.testing.assert_array_equal(gated.obsm["sag_proba"], query.obsm["sag_proba"])
    assert gated.uns["sag"]["predict_params"]["min_confidence"] == pytest.approx(threshold)
    gated.write_h5ad(tmp_path / "g.h5ad")
    import anndata

    assert (
        anndata.read_h5ad(tmp_path / "g.h5ad").obs["sag_pred"] == "Unassigned"
    ).sum() == low.sum()
    with pytest.raises(ValueError, match="must be a probability between 0 and 1"):
        sag.tl.predict(adata.copy(), trained, min_confidence=1.5)
    with pytest.raises(TypeError, match=r"min_confidence='0\.5' must be a probability"):
        sag.tl.predict(adata.copy(), trained, min_confidence="0.5")


def test_nan_in_a_gene_the_model_does_not_read_is_ignored(adata, trained):
    """Extra query genes are ignored, NaN in them too (as by the Res-VAE); NaN in a gene the
    model reads is an error naming it."""
    import anndata as ad
    from scipy import sparse

    junk = ad.AnnData(
        np.full((adata.n_obs, 1), np.nan, np.float32),
        obs=pd.DataFrame(index=adata.obs_names),
        var=pd.DataFrame(index=["junk"]),
    )
    query = ad.concat([adata, junk], axis=1)
    query.X = sparse.csr_matrix(query.X)
    np.testing.assert_allclose(
        trained.predict_proba(query), trained.predict_proba(adata), atol=1e-6
    )
    vae = sag.models.ResVAE(
        {"kind": "resvae", "n_latent": 4, "widths": [32, 16, 8]},
        {"max_epochs": 2, "kl_warmup_epochs": 1, "batch_size": 64},
    ).fit(adata, seed=0)
    np.testing.assert_allclose(vae.get_latent(query), vae.get_latent(adata), atol=1e-6)
    query.X = query.X.toarray()
    query.X[0, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite values in the genes the model reads"):
        trained.predict_proba(query)


def test_a_dataframe_query_with_a_default_index_predicts_without_anndatas_warning(adata):
    """A DataFrame with genes as columns and the default RangeIndex (as the docstring suggests)
    is matched by gene name without AnnData's "Transforming to str index." warning, by the
    classifier and the encoder; the frame is left as it was."""
    import warnings

    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, "label", seed=0)
    df = pd.DataFrame(adata.X[:7].toarray(), columns=adata.var_names)
    df = df[df.columns[::-1]]  # genes matched by name, not position
    vae = sag.models.ResVAE(
        {"kind": "resvae", "n_latent": 2, "widths": [8, 4]},
        {"max_epochs": 1, "kl_warmup_epochs": 1, "batch_size": 64},
    ).fit(adata, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # anndata >= 0.13 reads an option pandas 3 deprecates: not this code's warning
        warnings.filterwarnings("ignore", message=".*future.infer_string.*")
        proba = model.predict_proba(df)
        latent = vae.get_latent(df)  # the encoder reads its queries alike
    np.testing.assert_allclose(proba, model.predict_proba(adata[:7]), atol=1e-6)
    np.testing.assert_allclose(latent, vae.get_latent(adata[:7]), atol=1e-6)
    assert isinstance(df.index, pd.RangeIndex)


def test_integers_a_model_was_trained_on_as_given_are_no_news(adata, tiny_config, capfd):
    """value_type='continuous' on integer features (copy numbers, say): neither training nor
    a query of the same values warns of 'raw counts?'; raw counts given to a model of
    log-normalized values still do."""
    sag.settings.verbosity = 1
    model = sag.tl.classify(adata.copy(), "label", config=tiny_config, value_type="continuous")
    sag.tl.predict(adata.copy(), model)
    assert "raw counts?" not in capfd.readouterr().err
    logged = adata.copy()
    import scanpy as sc

    sc.pp.normalize_total(logged)
    sc.pp.log1p(logged)
    model = sag.tl.classify(logged, "label", config=tiny_config)
    capfd.readouterr()
    sag.tl.predict(adata.copy(), model)
    assert "raw counts?" in capfd.readouterr().err
    # shallow raw counts too (a handful of cells of a few UMIs: maxima below the training
    # values' top), which are no integers the model was trained on
    shallow = adata[:10].copy()
    shallow.X = (shallow.X > 0).astype(np.float32) * 2
    assert shallow.X.max() < model.transform_.trained_max()
    sag.tl.predict(shallow, model)
    assert "raw counts?" in capfd.readouterr().err


def _write_maf(path, rows):
    lines = ["Hugo_Symbol\tVariant_Classification\tTumor_Sample_Barcode"]
    lines += [f"{g}\tMissense_Mutation\t{s}" for g, s in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _three_cohorts(n_tumours: int):
    """30 genes and the MAF rows of ``n_tumours`` tumours of three cohorts (A, B, C in
    turn), each tumour mutated in 3 of its cohort's own 10 genes (seeded); each tumour's
    cohort."""
    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(30)]
    rows, cohort = [], {}
    for i in range(n_tumours):
        c = i % 3
        sample = f"TCGA-AA-{i:04d}-01A-11D-A000-09"
        cohort[sample] = "ABC"[c]
        mutated = rng.choice(10, 3, replace=False) + 10 * c  # each cohort its own genes
        rows += [(genes[g], sample) for g in mutated]
    return genes, rows, cohort


def test_a_query_read_from_a_maf_has_no_mutation_in_the_genes_it_does_not_list(
    tmp_path, sag_caplog
):
    """A MAF lists the mutated genes only: a query of a few tumours read by read_maf lacks the
    model's genes none of them has mutated. Those are 0 (not mutated), not their mean in
    training, and no gene-overlap threshold applies: the same calls as the query read with
    the model's genes, and an encode/explain reads it alike."""
    genes, rows, cohort = _three_cohorts(90)
    train = sag.io.read_maf(_write_maf(tmp_path / "train.maf", rows))
    train.obs["project"] = [cohort[s] for s in train.obs_names]
    model = sag.models.Classifier({"kind": "mlp", "units": [16]}, {"max_epochs": 40, "lr": 0.01})
    model.fit(train, "project", seed=0)
    assert model.transform_.fill_values() is not None  # a mean to fill in with otherwise
    query_rows = [(g, s) for g, s in rows if cohort[s] == "A"][:12]  # 4 tumours of A
    query = sag.io.read_maf(_write_maf(tmp_path / "query.maf", query_rows))
    assert query.n_vars < len(genes) / 3
    full = sag.io.read_maf(tmp_path / "query.maf", genes=model.var_names_)
    sag.tl.predict(full, model)
    sag.tl.predict(query, model)
    np.testing.assert_allclose(query.obsm["sag_proba"], full.obsm["sag_proba"], atol=1e-6)
    assert (query.obs["sag_pred"] == "A").all()
    rep = query.uns["sag"]["gene_overlap"]
    assert rep["missing_filled_with"] == "zero (not in the MAF)"
    assert "set to their mean in training" not in sag_caplog.text
    assert "not mutated" in sag_caplog.text
    # explain reads it alike (the same values, so the same SHAP values)
    fast = {"n_explain": None, "nsamples": 20, "n_background": 4, "seed": 0}
    sag.tl.explain(query, model, **fast)
    sag.tl.explain(full, model, **fast)
    np.testing.assert_allclose(
        query.varm["sag_shap"], full[:, query.var_names].varm["sag_shap"], atol=1e-6
    )
    # columns taken out since the reading: those genes may be mutated, their mean is used
    fewer = query[:, 1:].copy()
    sag.tl.predict(fewer, model, min_gene_overlap=0)
    assert fewer.uns["sag"]["gene_overlap"]["missing_filled_with"] == "train_mean"


def test_predicted_classes_are_python_strings(adata, trained):
    """The calls and their categories are Python str, as after a write and read (numpy's
    str_ showed as np.str_('B') in value_counts)."""
    sag.tl.predict(adata, trained)
    cats = adata.obs["sag_pred"].cat.categories
    assert all(type(c) is str for c in cats)
    assert all(type(c) is str for c in adata.obs["sag_pred"].value_counts().index)


def test_the_overlap_error_rounds_as_the_warning_does(adata, trained):
    """15 of 32 genes: the warning said 46.8% (rounded down), the error 46.9%."""
    query = adata[:, : int(adata.n_vars * 0.4685) + 1].copy()
    frac = query.n_vars / adata.n_vars
    shown = f"{np.floor(1000 * frac) / 10:.1f}%"
    with pytest.raises(ValueError, match=rf"\({shown}, rounded down\), below min_gene_overlap"):
        sag.tl.predict(query, trained)


def test_predict_drops_the_colours_of_other_categories_it_replaces(adata, trained):
    """scanpy reads uns['sag_pred_colors'] by position: predictions of other categories
    ("Unassigned" added by min_confidence) drop the colours of the earlier ones; the same
    categories keep them (maybe the user's), not the same ones in another order."""
    query = adata.copy()
    query.uns["sag_pred_colors"] = ["#111111"]  # no column of predictions yet: nothing replaced
    sag.tl.predict(query, trained)
    assert list(query.uns["sag_pred_colors"]) == ["#111111"]
    colors = ["#111111", "#222222", "#333333"]
    query.uns["sag_pred_colors"] = colors
    sag.tl.predict(query, trained)
    assert list(query.uns["sag_pred_colors"]) == colors
    # the same categories in another order: the colours were of other positions
    order = list(query.obs["sag_pred"].cat.categories)
    assert len(order) > 1
    query.obs["sag_pred"] = query.obs["sag_pred"].cat.reorder_categories(order[::-1])
    sag.tl.predict(query, trained)
    assert "sag_pred_colors" not in query.uns
    query.uns["sag_pred_colors"] = colors
    threshold = float(np.quantile(query.obs["sag_confidence"], 0.3))
    sag.tl.predict(query, trained, min_confidence=threshold)
    assert list(query.obs["sag_pred"].cat.categories)[-1] == "Unassigned"
    assert "sag_pred_colors" not in query.uns


def test_a_query_whose_genes_are_elsewhere_is_told_where(adata, trained, tmp_path):
    """A query that names its genes otherwise was told only to check its identifiers: a var
    column holding the model's names (Ensembl ids as var_names, symbols beside them), the
    genes of adata.raw (X a few of them), names with surrounding spaces are said, with the
    step that uses each."""
    ids = adata.copy()
    ids.var["symbol"] = ids.var_names.astype(str)
    ids.var_names = [f"ENSG{i:011d}" for i in range(ids.n_vars)]
    with pytest.raises(
        ValueError,
        match=r"adata\.var\['symbol'\] holds 200 of them: match the genes by it \(gene_symbols='symbol' of sag\.tl\.predict",
    ):
        sag.tl.predict(ids, trained)
    spaced = adata.copy()
    spaced.var_names = [f"{g} " for g in spaced.var_names]
    with pytest.raises(ValueError, match=r"200 of them are named with surrounding spaces"):
        sag.tl.predict(spaced, trained)
    few = adata.copy()
    few.raw = few
    few = few[:, :40].copy()
    with pytest.raises(ValueError, match=r"adata\.raw holds 200 of them: pass adata\.raw"):
        sag.tl.predict(few, trained)
    # the query transposed (a genes x samples table read the other way round): its cell
    # names are the model's genes
    import anndata as ad

    turned = ad.AnnData(adata.X.T.tocsr().astype(np.float32))
    turned.obs_names, turned.var_names = adata.var_names, adata.obs_names
    with pytest.raises(
        ValueError,
        match=r"the query's obs_names hold 200 of them: it reads transposed \(genes as rows\); "
        r"pass adata\.T \(a table read by sag\.io: orientation=, CLI --orientation\)",
    ):
        sag.tl.predict(turned, trained)
    # a query of the model's genes under no other name: no hint
    none = adata[:, :40].copy()
    with pytest.raises(ValueError, match=r"Lower min_gene_overlap to go on anyway\.$"):
        sag.tl.predict(none, trained)
    # names of which some are spaced: those found by stripping are counted, not all
    part = adata.copy()
    part.var_names = [f" {g}" if i < 150 else g for i, g in enumerate(part.var_names)]
    with pytest.raises(ValueError, match=r"150 more of them are named with surrounding spaces"):
        sag.tl.predict(part, trained)


def test_a_partial_query_is_told_where_its_other_genes_are(adata, trained, sag_caplog):
    """A query whose X holds part of the model's genes (above min_gene_overlap) and adata.raw
    all of them: the warning that fills the others in says where they are, as the error of a
    smaller part did."""
    few = adata.copy()
    few.raw = few
    few = few[:, :120].copy()
    sag.tl.predict(few, trained)
    warned = " ".join(sag_caplog.text.split())
    assert "query has 120 of the model's 200 genes" in warned
    assert "adata.raw holds 200 of them: pass adata.raw.to_adata()" in warned


def test_a_var_column_of_versioned_ensembl_ids_is_named(adata):
    """A model of Ensembl ids and a query of symbols whose var column holds the ids with
    their versions (as 10x's features.tsv): the column is named, as the ids match (by their
    id without the version) once they are the var_names."""
    ids = [f"ENSG{i:011d}" for i in range(adata.n_vars)]
    symbols = adata.var_names.astype(str)
    adata.var_names = ids
    model = _small_model(adata)
    query = adata.copy()
    query.var_names = symbols
    query.var["gene_ids"] = [f"{g}.17" for g in ids]
    with pytest.raises(
        ValueError,
        match=r"adata\.var\['gene_ids'\] holds 200 of them: match the genes by it \(gene_symbols='gene_ids' of sag\.tl\.predict",
    ):
        sag.tl.predict(query, model)


def test_a_query_repeating_names_the_model_does_not_read_is_predicted(adata, trained, sag_caplog):
    """A symbol-indexed file repeats names (two loci of one symbol): any repeat was refused,
    even of a gene the model never reads. Only the model's genes must be unique."""
    query = adata.copy()
    names = list(query.var_names)
    query.var_names = [*names[:-2], "Y_RNA", "Y_RNA"]  # the model reads 198 of its 200 genes
    ref = trained.predict_proba(adata[:, :-2].copy(), min_gene_overlap=0.5)
    sag.tl.predict(query, trained, key_added="q")
    np.testing.assert_allclose(query.obsm["q_proba"], ref, rtol=0, atol=1e-6)
    assert "var_names repeat 1 gene name(s) the model does not read (e.g. Y_RNA)" in (
        sag_caplog.text
    )
    twice = adata.copy()
    twice.var_names = [names[0], *names[:-1]]  # a model gene named twice: which is it?
    with pytest.raises(ValueError, match=rf"duplicated gene name\(s\) \(e\.g\. {names[0]}\)"):
        sag.tl.predict(twice, trained)


def _small_model(adata):
    """A classifier of ``obs['label']`` trained in a second (one epoch, 8 units)."""
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    return model.fit(adata, "label", seed=0)


def test_predict_records_the_warnings_it_logged(adata, tmp_path, capfd):
    """The warnings of a prediction (a query lacking genes) are kept in its record, which
    h5ad keeps; a later call without any replaces them (none left to mislead); they are
    still written to the terminal as before, and recorded at verbosity 0 too."""
    import anndata as ad

    model = _small_model(adata)
    query = adata[:, 20:].copy()  # 20 of the model's genes missing
    sag.settings.verbosity = 1
    sag.tl.predict(query, model)
    err = capfd.readouterr().err
    warned = [str(w) for w in query.uns["sag"]["warnings"]]
    assert len(warned) == 1
    assert warned[0].startswith("query has 180 of the model's 200 genes (90.0%); 20 missing")
    assert "180 of the model's 200 genes" in err  # on the terminal, as before
    query.write_h5ad(tmp_path / "q.h5ad")
    back = ad.read_h5ad(tmp_path / "q.h5ad")
    assert [str(w) for w in back.uns["sag"]["warnings"]] == warned
    # a prediction with nothing to warn of: the earlier warnings are not kept
    back = ad.AnnData(X=adata.X, obs=adata.obs.copy(), var=adata.var.copy(), uns=back.uns)
    sag.tl.predict(back, model)
    assert "warnings" not in back.uns["sag"]
    # verbosity 0: nothing on the terminal, the record still holds them
    sag.settings.verbosity = 0
    capfd.readouterr()
    sag.tl.predict(query, model, key_added="q")
    assert "180 of the model's 200 genes" not in capfd.readouterr().err
    assert [str(w) for w in query.uns["q"]["warnings"]] == warned


def test_logged_warnings_collects_sags_warnings_of_this_thread(sag_caplog, capfd):
    """sag._logging.logged_warnings: the messages of sag's logger at WARNING and above,
    formatted, in this thread only, while they are still logged as before."""
    import logging
    import threading

    from scautogenome._logging import logged_warnings
    from scautogenome._settings import logger

    with logged_warnings() as warned:
        logger.info("an info line")
        logger.warning("  %d genes missing", 3)
        logger.error("a failure")
        other = threading.Thread(target=logger.warning, args=("another thread's",))
        other.start()
        other.join()
    logger.warning("after the block")
    assert warned == ["3 genes missing", "a failure"]
    assert "3 genes missing" in sag_caplog.text
    assert "after the block" in sag_caplog.text
    # verbosity 0 (errors): the warning is collected, but not let through to the handlers
    sag.settings.verbosity = 0
    sag_caplog.clear()
    with logged_warnings() as warned:
        logger.warning("quiet one")
    assert warned == ["quiet one"]
    assert "quiet one" not in capfd.readouterr().err  # kept from the terminal
    assert logger.level == logging.ERROR  # as verbosity 0 set it
    # verbosity set to 2 inside the block: info lines are shown after it, as verbosity 2 says
    with logged_warnings():
        sag.settings.verbosity = 2
    assert logger.level == logging.INFO
    sag.settings.verbosity = 0
    # two threads collecting at verbosity 0: the first to leave does not end the other's
    entered, left = threading.Event(), threading.Event()
    second_entered = threading.Event()
    collected = {}

    def first():
        with logged_warnings():
            entered.set()
            second_entered.wait(10)
        left.set()

    def second():
        entered.wait(10)
        with logged_warnings() as mine:
            second_entered.set()
            left.wait(10)
            logger.warning("the second's warning")
            collected["second"] = list(mine)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert collected["second"] == ["the second's warning"]
    assert logger.level == logging.ERROR
    # verbosity 0: kept from the terminal (sag's own handler), while another thread logs on
    sag_caplog.clear()
    done = threading.Event()

    def chatter():
        while not done.is_set():
            logger.warning("a warning of another thread")

    other = threading.Thread(target=chatter)
    other.start()
    try:
        for _ in range(300):
            with logged_warnings():
                pass
    finally:
        done.set()
        other.join()
    shown = [h for h in logger.handlers if h is sag.settings._handler]
    assert shown
    warning = logging.makeLogRecord({"levelno": logging.WARNING})
    assert any(not f(warning) for f in shown[0].filters)  # its filter: verbosity 0 shows none


def test_predicted_classes_are_the_categories_of_the_calls_as_scanpys_clusters(adata, trained):
    """obs['sag_pred'] has the classes predicted as its categories, in the model's order, as
    leiden's clusters have: scanpy's dotplot and rank_genes_groups fail on an empty one."""
    import scanpy as sc

    query = adata[adata.obs["label"] == trained.classes_[0]].copy()
    sag.tl.predict(query, trained)
    calls = query.obs["sag_pred"]
    present = set(calls.astype(str))
    assert len(present) < len(trained.classes_)  # the test needs a class never predicted
    assert list(calls.cat.categories) == [c for c in trained.classes_ if c in present]
    sc.pl.dotplot(query, list(query.var_names[:3]), groupby="sag_pred", show=False)
    # min_confidence: "Unassigned" only when a cell is unassigned
    sag.tl.predict(query, trained, min_confidence=0.0)
    assert "Unassigned" not in query.obs["sag_pred"].cat.categories


def test_a_prediction_stopped_as_its_record_is_made_leaves_the_earlier_one_whole(
    adata, trained, monkeypatch
):
    """Interrupted while its uns record is made h5ad-safe, a second prediction writes
    nothing: the first one's calls, confidence, probabilities and record stay as they were,
    never the new calls under the earlier prediction's record."""
    from conftest import adata_state, assert_adata_state, interrupt_uns_record

    from scautogenome.tools import _predict

    sag.tl.predict(adata, trained)
    before = adata_state(adata)
    interrupt_uns_record(monkeypatch, _predict)
    with pytest.raises(KeyboardInterrupt):
        sag.tl.predict(adata, trained, min_confidence=0.99)  # other calls: "Unassigned"
    assert_adata_state(adata, before)


def test_predict_on_the_models_own_training_cells_says_so(adata, sag_caplog):
    """Cells copied from the classify run's AnnData (its record and split kept) are mostly the
    model's training cells: predict said nothing, and a user scored its calls against their
    labels as if on new cells."""
    sag.settings.verbosity = 2
    cfg = {"budget": {"n_trials": 1, "time_budget": None}, "trainer": {"max_epochs": 2}}
    model = sag.tl.classify(adata, "label", mode="mlp", config=cfg, seed=0)
    sub = adata[:150].copy()
    split = sub.obs["sag_split"].astype(str)
    n_train, n_val = int((split == "train").sum()), int((split == "val").sum())
    sag_caplog.clear()
    sag.tl.predict(sub, model)
    assert (
        f"{n_train + n_val} of these 150 cells trained the model ({n_train} train, {n_val} "
        "val in obs['sag_split'])" in sag_caplog.text
    ), sag_caplog.text
    # the run's validation cells alone: they chose the kept epoch, so they are said too
    val = adata[adata.obs["sag_split"] == "val"].copy()
    sag_caplog.clear()
    sag.tl.predict(val, model)
    assert f"({0} train, {val.n_obs} val in obs['sag_split'])" in sag_caplog.text
    # calls made unsure on the run's own AnnData: its test metrics are said to be of its calls
    sag_caplog.clear()
    sag.tl.predict(adata, model, min_confidence=0.9)
    assert "keeps the classify run's test metrics and confusion matrix" in sag_caplog.text
    # a query of new cells: nothing said, also where a column of theirs has the split's name
    new = sag.datasets.synthetic(n_obs=50, n_vars=200, n_classes=3, seed=9)
    sag_caplog.clear()
    sag.tl.predict(new, model)
    new.obs["sag_split"] = "train"
    sag.tl.predict(new, model)
    assert "trained the model" not in sag_caplog.text


def test_model_genes_zero_in_every_query_cell_are_warned_of(adata, tmp_path, sag_caplog):
    """Genes a query did not measure are 0 after an outer join of datasets: read as not
    expressed, they cost accuracy without a word (the overlap counts names). Many genes that
    most training cells had, 0 in every query cell, are warned of, with the line that drops
    them; a few (one cell type's absent markers), a query of one cell, or the training cells
    themselves are not. The training rows' shares are saved with the model."""
    from scipy import sparse

    trained = _small_model(adata)
    trained.save(tmp_path / "m")
    loaded = sag.models.Classifier.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.transform_.detected_, trained.transform_.detected_)
    dense = adata.X.toarray()
    for model in (trained, loaded):
        joined = adata.copy()
        joined.X = dense.copy()
        joined.X[:, 50:110] = 0
        joined.layers["counts"] = sparse.csr_matrix(joined.X)
        sag_caplog.clear()
        sag.tl.predict(joined, model, layer="counts")
        text = " ".join(sag_caplog.text.split())
        assert (
            "60 of the 200 model genes that all 300 cells should show (each was in 24.5% or "
            "more of the training cells) are 0 in every one of them in the query's "
            "layers['counts'] (e.g. 'gene_50', 'gene_51', 'gene_52')"
        ) in text
        assert "outer join of datasets (anndata.concat(join='outer'))" in text
        assert "np.asarray((query.layers['counts'] != 0).sum(axis=0))" in text
    # the line it gives drops them: no warning then, the genes filled in as missing
    kept = joined[:, np.asarray((joined.X != 0).sum(axis=0)).ravel() > 0].copy()
    sag_caplog.clear()
    sag.tl.predict(kept, model)
    assert "are 0 in every one of them" not in sag_caplog.text
    assert "query has 140 of the model's 200 genes" in " ".join(sag_caplog.text.split())
    # a query of 60 cells missing most genes: warned of, with the min_gene_overlap that
    # dropping them needs
    most = adata[:60].copy()
    most.X = dense[:60].copy()
    most.X[:, :130] = 0
    sag_caplog.clear()
    sag.tl.predict(most, model)
    text = " ".join(sag_caplog.text.split())
    left = re.search(
        r"that leaves it (\d+) of the model's 200 genes \([\d.]+%\), so pass "
        r"min_gene_overlap= below 0.5 too",
        text,
    )
    assert left is not None, text
    dropped = most[:, np.asarray((most.X != 0).sum(axis=0)).ravel() > 0].copy()
    assert dropped.n_vars == int(left.group(1))
    sag.tl.predict(dropped, model, min_gene_overlap=0.2)
    # a DataFrame of named genes: the pandas line, which drops them
    frame = pd.DataFrame(joined.X, index=joined.obs_names, columns=joined.var_names)
    sag_caplog.clear()
    model.predict_proba(frame)
    assert "(query = query.loc[:, (query != 0).any()])" in " ".join(sag_caplog.text.split())
    sag_caplog.clear()
    model.predict_proba(frame.loc[:, (frame != 0).any()])
    assert "are 0 in every one of them" not in sag_caplog.text
    few = adata.copy()
    few.X = dense.copy()
    few.X[:, 50:60] = 0  # 5% of the genes
    for query in (few, joined[:1].copy(), adata.copy()):
        sag_caplog.clear()
        sag.tl.predict(query, model)
        assert "are 0 in every one of them" not in sag_caplog.text


def _ids_with_symbols(adata):
    """``adata`` with Ensembl-like var_names and the model's names in ``var['symbol']``."""
    query = adata.copy()
    query.var["symbol"] = query.var_names.astype(str)
    query.var_names = [f"ENSG{i:011d}" for i in range(query.n_vars)]
    return query


def test_gene_symbols_matches_the_genes_by_a_var_column(adata, tmp_path, sag_caplog):
    """A query of Ensembl ids with the model's symbols in a var column is predicted and
    explained by that column (gene_symbols=), as the same query named by it: the same
    probabilities and SHAP table; its var_names are its own afterwards, an error on the way
    included; a symbol named twice is matched as its first gene; the call records it."""
    import anndata as ad

    model = _small_model(adata)
    ref = adata.copy()
    sag.tl.predict(ref, model)
    sag.tl.explain(ref, model, cells="all", n_explain=20, nsamples=10)
    query = _ids_with_symbols(adata)
    own = query.var_names.copy()
    sag.tl.predict(query, model, gene_symbols="symbol")
    np.testing.assert_array_equal(query.obsm["sag_proba"], ref.obsm["sag_proba"])
    assert query.uns["sag"]["predict_params"]["gene_symbols"] == "symbol"
    assert query.uns["sag"]["gene_overlap"]["n_common"] == 200
    sag.tl.explain(query, model, cells="all", n_explain=20, nsamples=10, gene_symbols="symbol")
    np.testing.assert_array_equal(query.varm["sag_shap"], ref.varm["sag_shap"])
    assert query.var_names.equals(own)
    query.write_h5ad(tmp_path / "q.h5ad")
    assert ad.read_h5ad(tmp_path / "q.h5ad").uns["sag"]["predict_params"]["gene_symbols"] == (
        "symbol"
    )
    few = query[:, :40].copy()
    with pytest.raises(ValueError, match="below min_gene_overlap"):
        sag.tl.predict(few, model, gene_symbols="symbol", key_added="few")
    assert few.var_names.equals(own[:40])
    # a symbol named twice: its first gene is matched, as var_names_make_unique() would
    twice = _ids_with_symbols(adata)
    twice.var["symbol"] = twice.var["symbol"].astype(object)
    twice.var.iloc[5, twice.var.columns.get_loc("symbol")] = "gene_0"
    sag_caplog.clear()
    sag.tl.predict(twice, model, gene_symbols="symbol")
    assert "adata.var['symbol'] repeats 1 name(s) (e.g. 'gene_0')" in sag_caplog.text
    assert twice.uns["sag"]["gene_overlap"]["n_common"] == 199
    # an index name anndata's setter refuses (pandas takes it on var): given back all the same
    named = _ids_with_symbols(adata)
    named.var.index.name = 0
    sag.tl.predict(named, model, gene_symbols="symbol")
    assert named.var_names.equals(own)
    assert named.var.index.name == 0
    # genes without a name there match none (and are no repeats); Entrez ids stored as
    # floats beside a NaN read as whole numbers
    gaps = _ids_with_symbols(adata)
    gaps.var["symbol"] = gaps.var["symbol"].astype(object)
    gaps.var.iloc[:3, gaps.var.columns.get_loc("symbol")] = np.nan
    sag_caplog.clear()
    sag.tl.predict(gaps, model, gene_symbols="symbol")
    assert "3 gene(s) have no name in adata.var['symbol'] (NaN)" in sag_caplog.text
    assert "repeats" not in sag_caplog.text
    assert gaps.uns["sag"]["gene_overlap"]["n_common"] == 197
    entrez = adata.copy()
    entrez.var_names = [str(7000 + i) for i in range(entrez.n_vars)]
    by_entrez = _small_model(entrez)
    floats = entrez.copy()
    floats.var["entrez"] = np.r_[np.arange(7000, 7000 + entrez.n_vars - 1), np.nan]
    floats.var_names = [f"g{i}" for i in range(entrez.n_vars)]
    sag.tl.predict(floats, by_entrez, gene_symbols="entrez")
    assert floats.uns["sag"]["gene_overlap"]["n_common"] == entrez.n_vars - 1
    # not an AnnData: that error, not one of its attributes
    frame = pd.DataFrame(adata.X.toarray(), columns=adata.var_names)
    with pytest.raises(TypeError, match="AnnData"):
        sag.tl.predict(frame, model, gene_symbols="symbol")
    # a column that is not there: before any work, nothing written
    bare = _ids_with_symbols(adata)
    with pytest.raises(KeyError, match=r"gene_symbols='symbols' is not a column of adata\.var"):
        sag.tl.predict(bare, model, gene_symbols="symbols")
    with pytest.raises(KeyError, match=r"gene_symbols='symbols' is not a column of adata\.var"):
        sag.tl.explain(bare, model, gene_symbols="symbols")
    assert "sag" not in bare.uns


def test_a_counts_model_given_other_values_is_told_which_layer_holds_counts(adata, sag_caplog):
    """A model of raw counts given log values in X, the counts in a layer of another name:
    the warning names that layer (it named 'counts', which the query lacks)."""
    import scanpy as sc

    model = _small_model(adata)
    query = adata.copy()
    query.layers["raw_counts"] = query.X.copy()
    sc.pp.normalize_total(query)
    sc.pp.log1p(query)
    sag.tl.predict(query, model)
    text = " ".join(sag_caplog.text.split())
    assert "holds non-integer values (log-normalized?)" in text
    assert "(layer='raw_counts', whose values are integers, the same normalization" in text
    bare = query.copy()
    del bare.layers["raw_counts"]
    sag_caplog.clear()
    sag.tl.predict(bare, model)
    assert "(e.g. layer='counts' for raw counts, the same" in " ".join(sag_caplog.text.split())


def test_mutation_profiles_zero_in_every_query_tumour_are_no_warning(tmp_path, sag_caplog):
    """A model of mutations: 0 is a finding (not mutated). A MAF query of one cohort's
    tumours (the other cohorts' genes unlisted, added as zero columns) or the same read with
    the model's genes is not warned of, though those genes are 0 in all 150 tumours."""
    _, rows, cohort = _three_cohorts(450)
    train = sag.io.read_maf(_write_maf(tmp_path / "train.maf", rows))
    train.obs["project"] = [cohort[s] for s in train.obs_names]
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 2})
    model.fit(train, "project", seed=0)
    one = _write_maf(tmp_path / "a.maf", [(g, s) for g, s in rows if cohort[s] == "A"])
    for query in (sag.io.read_maf(one), sag.io.read_maf(one, genes=model.var_names_)):
        assert query.n_obs == 150
        sag_caplog.clear()
        sag.tl.predict(query, model, min_gene_overlap=0)
        assert "are 0 in every one of them" not in sag_caplog.text


def test_min_confidence_is_strict_and_refused_where_it_cannot_apply(adata):
    """A cell exactly at min_confidence keeps its class; True is no probability; a Regressor
    and a model with a class named 'Unassigned' refuse it."""
    model = _small_model(adata)
    query = adata.copy()
    sag.tl.predict(query, model)
    at = float(query.obs["sag_confidence"].iloc[0])
    sag.tl.predict(query, model, min_confidence=at)
    assert query.obs["sag_pred"].iloc[0] != "Unassigned"
    sag.tl.predict(query, model, min_confidence=1.0)  # 1: every cell not certain is unsure
    assert (query.obs["sag_pred"] == "Unassigned").sum() == (query.obs["sag_confidence"] < 1).sum()
    with pytest.raises(TypeError, match="must be a probability"):
        sag.tl.predict(adata.copy(), model, min_confidence=True)
    numbers = adata.copy()
    numbers.obs["age"] = np.linspace(20, 80, numbers.n_obs)
    regressor = sag.models.Regressor({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    regressor.fit(numbers, "age", seed=0)
    with pytest.raises(ValueError, match="a Regressor predicts values"):
        sag.tl.predict(numbers.copy(), regressor, min_confidence=0.5)
    named = adata.copy()
    named.obs["label"] = named.obs["label"].cat.rename_categories({"type_0": "Unassigned"})
    unsure = _small_model(named)
    with pytest.raises(ValueError, match="has a class named 'Unassigned'"):
        sag.tl.predict(named.copy(), unsure, min_confidence=0.5)


def test_the_hint_counts_a_var_column_as_gene_symbols_reads_it(adata):
    """A model trained on names made unique (GENE, GENE-1) and a query whose var column
    repeats GENE: the hint counts what gene_symbols= then matches (all of them)."""
    named = adata.copy()
    names = list(named.var_names)
    names[5] = "gene_0-1"
    named.var_names = names
    model = _small_model(named)
    query = _ids_with_symbols(adata)
    query.var.iloc[5, query.var.columns.get_loc("symbol")] = "gene_0"
    with pytest.raises(ValueError, match=r"adata\.var\['symbol'\] holds 200 of them"):
        sag.tl.predict(query, model)
    sag.tl.predict(query, model, gene_symbols="symbol")
    assert query.uns["sag"]["gene_overlap"]["n_common"] == 200


def test_overlap_at_the_threshold_and_unlisted_zeros_of_a_counts_model(adata):
    """An overlap exactly at min_gene_overlap is accepted; a counts model fills missing
    genes with their training mean even where the query says its unlisted genes are 0 (that
    is for models of mutations)."""
    model = _small_model(adata)
    half = adata[:, :100].copy()
    sag.tl.predict(half, model)
    assert half.uns["sag"]["gene_overlap"]["fraction_of_model_genes"] == 0.5
    report = model.gene_overlap(adata.var_names[:100], unlisted_zero=True, warn=False)
    assert report["missing_filled_with"] == "train_mean"


def test_predict_and_explain_hash_the_weights_once(adata, monkeypatch):
    """The SHA-1 of every weight (which run a record is of) is computed once per call:
    predict had it three times, explain twice (0.05-0.08 s each at 20,000 genes x 1,024
    units, a tenth of predict's call there)."""
    cfg = {"budget": {"n_trials": 1, "time_budget": None}, "trainer": {"max_epochs": 2}}
    model = sag.tl.classify(adata, "label", mode="mlp", config=cfg, seed=0)
    digest = model.weights_digest()
    calls = []
    real = type(model).weights_digest

    def counted(self):
        calls.append(1)
        return real(self)

    monkeypatch.setattr(type(model), "weights_digest", counted)
    sag.tl.predict(adata, model)
    assert len(calls) == 1
    assert adata.uns["sag"]["model_digest"] == digest  # the run's record, kept
    calls.clear()
    sag.tl.explain(adata, model, n_explain=4, n_background=4)
    assert len(calls) == 1
    assert adata.uns["sag_shap"]["model_digest"] == digest


def test_the_records_classes_are_its_own_and_a_regressor_drops_the_class_outputs(adata):
    """Editing the classes predict recorded leaves the model's; a Regressor's prediction under
    the key of an earlier class prediction removes its confidence and probabilities (of
    classes no longer predicted there)."""
    model = _small_model(adata)
    query = adata.copy()
    sag.tl.predict(query, model)
    query.uns["sag"]["classes"][0] = "edited"
    assert "edited" not in list(model.classes_)
    assert {"sag_confidence"} <= set(query.obs.columns)
    query.obs["age"] = np.linspace(20, 80, query.n_obs)
    regressor = sag.models.Regressor({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    regressor.fit(query, "age", seed=0)
    sag.tl.predict(query, regressor)
    assert "sag_confidence" not in query.obs.columns
    assert "sag_proba" not in query.obsm
    assert query.obs["sag_pred"].dtype.kind == "f"
