"""Artifacts a user did not make: model folders, .h5ad records and storages received from
others, crafted or damaged, and credentials given on the command line (masked wherever sag
writes or says them)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import scautogenome as sag
from scautogenome.cli import main

SECRET = "s3cr3t-pw"


# -- storage URLs with credentials -----------------------------------------------------------------
def test_a_storage_password_is_masked_where_it_is_recorded():
    """The control: a password in a URL's user part is not recorded in clear."""
    from scautogenome.search import storage_recorded

    shown = storage_recorded(f"postgresql://user:{SECRET}@db.example.org:5432/optuna")
    assert SECRET not in shown
    assert shown.startswith("postgresql://user:")
    assert "db.example.org:5432/optuna" in shown


def test_a_storage_password_given_as_a_query_parameter_is_masked_where_it_is_recorded():
    """psycopg2 and PyMySQL take ``?password=`` (SQLAlchemy passes the query to the driver): it
    is the same secret as ``user:password@``, and goes into uns['sag']['storage'] and the h5ad."""
    from scautogenome.search import storage_recorded

    shown = storage_recorded(f"postgresql://user@db.example.org/optuna?password={SECRET}")
    assert SECRET not in shown
    assert "db.example.org/optuna" in shown


def test_a_storage_url_whose_port_is_no_number_is_named_with_its_password_masked():
    """A typo in the port (``:5432x``) is a ValueError that names the storage (password
    masked), not SQLAlchemy's ``invalid literal for int()`` alone."""
    from scautogenome.search import check_storage

    with pytest.raises(ValueError, match=r"storage=.*cannot be opened") as err:
        check_storage(f"postgresql://user:{SECRET}@db.example.org:5432x/optuna")
    assert SECRET not in str(err.value)


def test_an_interrupted_search_does_not_print_the_storage_password(
    adata, tmp_path, capsys, monkeypatch
):
    """Ctrl-C during a search says where the finished trials are kept: the storage with its
    password masked, as every other message and record of sag (stderr often goes to a job's
    log file)."""
    import scautogenome.search

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(scautogenome.search, "check_storage", lambda *a, **k: None)
    monkeypatch.setattr(sag.tl, "classify", interrupted)
    h5ad = tmp_path / "in.h5ad"
    adata.write_h5ad(h5ad)
    url = f"postgresql://user:{SECRET}@db.example.org/optuna"
    argv = ["classify", str(h5ad), "--labels", "label", "--out", str(tmp_path / "o")]
    assert main([*argv, "--storage", url, "--quiet"]) == 130
    err = capsys.readouterr().err
    assert "the finished trials are kept in --storage" in err
    assert SECRET not in err


# -- a received model folder -------------------------------------------------------------------------
HTML = '<script>alert(1)</script>"-->'


@pytest.fixture(scope="module")
def received(tmp_path_factory):
    """A small Classifier saved as a collaborator would send it, whose classes, genes and
    label column carry HTML; and the data it was trained on."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    sag.settings.verbosity = 0
    sag.settings.device = "cpu"
    adata = sag.datasets.synthetic(n_obs=90, n_vars=20, n_classes=3, seed=0)
    adata.X = adata.X.multiply(np.arange(20) > 0).tocsr()  # a gene of zeros: not read
    column = "cell type" + HTML
    adata.obs[column] = adata.obs["label"].cat.rename_categories(lambda c: c + HTML)
    adata.var_names = [f"{g}</style>{HTML}" if i < 3 else g for i, g in enumerate(adata.var_names)]
    model = sag.models.Classifier({"kind": "mlp", "units": [8]}, {"max_epochs": 1})
    model.fit(adata, column, seed=0)
    folder = tmp_path_factory.mktemp("received") / "model"
    model.save(folder)
    torch.set_num_threads(n)
    return folder, adata, column


def _edited(folder, tmp_path, **entries):
    """A copy of the model folder ``folder`` whose model.json has ``entries`` set."""
    import shutil

    copy = tmp_path / "edited"
    shutil.copytree(folder, copy)
    meta = json.loads((copy / "model.json").read_text())
    for k, v in entries.items():
        if isinstance(v, dict) and isinstance(meta.get(k), dict):
            meta[k] = {**meta[k], **v}
        else:
            meta[k] = v
    (copy / "model.json").write_text(json.dumps(meta))
    return copy


def test_weights_that_are_a_pickle_of_code_are_refused_without_running_it(received, tmp_path):
    """A model.pt whose pickle calls a function (with a matching digest in model.json, as
    whoever crafted it would write) is refused by torch's weights_only reading: the call is
    never made."""
    import hashlib

    import torch

    folder = _edited(received[0], tmp_path)
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (marker.touch, ())

    torch.save({"net.x": Payload()}, folder / "model.pt")
    digest = hashlib.sha256((folder / "model.pt").read_bytes()).hexdigest()
    folder = _edited(folder, tmp_path / "2", weights_sha256=digest)
    with pytest.raises(ValueError, match="not a weights file scautogenome can read"):
        sag.models.Classifier.load(folder)
    assert not marker.exists()


@pytest.mark.parametrize(
    "architecture",
    [{"units": [10**7, 10**7]}, {"units": [-8]}, {"units": [8.5]}, {"n_inputs": 2**62}],
)
def test_an_absurd_architecture_in_model_json_is_refused_before_any_allocation(
    received, tmp_path, architecture
):
    """Layer widths that would take terabytes are refused from their shapes alone (a network
    on the meta device), as are negative and fractional ones: a ValueError naming the file."""
    import resource

    folder = _edited(received[0], tmp_path, architecture=architecture)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match=re.escape(str(folder))):
        sag.models.Classifier.load(folder)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500_000  # KB


def test_an_infinite_number_of_inputs_in_model_json_is_refused_naming_the_file(received, tmp_path):
    """``"n_inputs": Infinity`` (Python's json reads and writes the literal) beside weights
    that read some of the genes is a ValueError naming the folder, as a negative or huge
    count is, not Python's ``cannot convert float infinity to integer``."""
    folder = _edited(received[0], tmp_path, architecture={"n_inputs": float("inf")})
    with pytest.raises(ValueError, match=re.escape(str(folder))):
        sag.models.Classifier.load(folder)


def test_a_resvae_seconds_per_epoch_of_another_type_is_refused_naming_the_file(tmp_path):
    """A ResVAE's model.json whose seconds_per_epoch is no number is a ValueError naming the
    file, as a Regressor's target_mean is."""
    adata = sag.datasets.synthetic(n_obs=60, n_vars=12, n_classes=2, seed=0)
    vae = sag.models.ResVAE({"kind": "vae", "n_latent": 2, "widths": [4]}, {"max_epochs": 1})
    vae.fit(adata, seed=0).save(tmp_path / "vae")
    folder = _edited(tmp_path / "vae", tmp_path, seconds_per_epoch=[1])
    with pytest.raises(ValueError, match=r"model\.json.*seconds_per_epoch"):
        sag.models.ResVAE.load(folder)


@pytest.mark.parametrize("entries", [{"history": 5}, {"layer": ["counts"]}, {"config": "x"}])
def test_optional_model_json_entries_of_another_type_are_refused_naming_the_file(
    received, tmp_path, entries
):
    """history, layer, config of the wrong JSON type (a model.json edited or crafted) are a
    ValueError naming model.json at load, as the required entries are, not a TypeError of
    Python's (``'int' object is not iterable``) at load or at the first prediction."""
    folder = _edited(received[0], tmp_path, **entries)

    def load_and_predict():
        return sag.models.Classifier.load(folder).predict(received[1])

    with pytest.raises(ValueError, match=r"model\.json.*entry is empty or of another type"):
        load_and_predict()


def test_html_in_labels_genes_columns_and_title_is_escaped_in_the_report(received, tmp_path):
    """A query predicted by a received model whose classes, genes and label column hold
    markup: the report shows them as text (no <script> element, one style element)."""
    folder, adata, _ = received
    query = adata.copy()
    sag.tl.predict(query, sag.models.Classifier.load(folder))
    page = sag.io.write_report(query, tmp_path / "r.html", title="t" + HTML).read_text()
    assert "&lt;script&gt;" in page  # they are in it, escaped
    assert "<script" not in page.lower()
    assert page.count("</style>") == 1
    assert "-->" not in page
    assert "javascript:" not in page.lower()
