"""Public API conventions, checked for every public tool (as scanpy does)."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

import scautogenome as sag

TOOLS = [getattr(sag.tl, name) for name in sag.tl.__all__]
PLOTS = [getattr(sag.pl, name) for name in sag.pl.__all__]


@pytest.mark.parametrize("func", TOOLS + PLOTS, ids=lambda f: f.__name__)
def test_first_argument_is_adata(func):
    params = list(inspect.signature(func).parameters.values())
    assert params[0].name in ("adata", "data")


@pytest.mark.parametrize("func", TOOLS + PLOTS, ids=lambda f: f.__name__)
def test_booleans_are_keyword_only(func):
    for p in inspect.signature(func).parameters.values():
        if isinstance(p.default, bool):
            assert p.kind is inspect.Parameter.KEYWORD_ONLY, f"{func.__name__}({p.name}=...)"


@pytest.mark.parametrize("func", TOOLS + PLOTS, ids=lambda f: f.__name__)
def test_documented_with_returns(func):
    doc = inspect.getdoc(func) or ""
    assert "Parameters" in doc
    assert "Returns" in doc


@pytest.mark.parametrize("func", TOOLS, ids=lambda f: f.__name__)
def test_key_added_prefix(func):
    params = inspect.signature(func).parameters
    if func.__name__ not in ("embedding_scores",):
        assert "key_added" in params


def test_lazy_import_does_not_load_torch():
    import subprocess
    import sys

    code = "import sys, scautogenome; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_config_validation_does_not_load_torch():
    import subprocess
    import sys

    code = "import sys, scautogenome as sag; sag.config.load({'mode': 'mlp'}); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_advertised_submodule_imports():
    names = dir(sag)
    assert len(names) == len(set(names))  # each once, loaded or not
    assert not {"TYPE_CHECKING", "annotations", "importlib"} & set(names)
    for name in names:
        if not name.startswith("_"):
            assert getattr(sag, name) is not None
    assert dir(sag) == names  # loading them changes nothing


@pytest.mark.parametrize(
    "module",
    [
        "tl",
        "pl",
        "io",
        "models",
        "get",
        "datasets",
        "config",
        "data",
        "explain",
        "nn",
        "search",
        "train",
    ],
)
def test_tab_completion_shows_only_the_public_api(module):
    """What a notebook's tab completion lists on ``sag.<module>.`` is its ``__all__``: no helper
    imported for the module's own use, no ``__future__`` feature."""
    mod = getattr(sag, module)
    shown = {
        name
        for name in dir(mod)
        if not name.startswith("_") and not inspect.ismodule(getattr(mod, name))
    }
    assert shown == set(mod.__all__)


def _documented(doc: str, section: str) -> list[str]:
    """The names a numpydoc ``section`` (``Parameters``, ``Attributes``) of ``doc`` lists."""
    lines = inspect.cleandoc(doc or "").splitlines()
    if section not in lines:
        return []
    start = lines.index(section) + 2  # past the dashes
    names = []
    for i, line in enumerate(lines[start:], start):
        if i + 1 < len(lines) and set(lines[i + 1]) == {"-"}:  # the next section's title
            break
        if line and not line.startswith(" "):
            names += [n.strip() for n in line.split(",")]
    return names


def _public_callables():
    """Every public method of the model classes, the functions of sag.config and
    sag.datasets, and every callable in the ``__all__`` of sag.tl, sag.pl, sag.io, sag.get,
    sag.models, sag.search and sag.nn: a function, a class (its docstring against its
    constructor; a dataclass's ``Attributes`` against its fields) and the class's public
    methods defined in scautogenome (not torch's), each function once."""
    from scautogenome.models import Classifier, Regressor, ResVAE

    funcs = {}

    def add_methods(cls):
        for name, member in inspect.getmembers(cls, callable):
            own = getattr(member, "__module__", "") or ""
            if (
                not name.startswith("_")
                and not inspect.isclass(member)
                and own.startswith("scautogenome")
            ):
                funcs[member.__qualname__] = member  # a method shared by all: once

    for cls in (Classifier, Regressor, ResVAE):
        add_methods(cls)
    for module in (sag.config, sag.datasets):
        for name in module.__all__:
            if inspect.isfunction(getattr(module, name)):
                funcs[f"{module.__name__}.{name}"] = getattr(module, name)
    for module in (sag.tl, sag.pl, sag.io, sag.get, sag.models, sag.search, sag.nn):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj):
                funcs[f"{obj.__module__}.{obj.__qualname__}"] = obj
                add_methods(obj)
            elif inspect.isfunction(obj):
                funcs[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [funcs[k] for k in sorted(funcs)]


@pytest.mark.parametrize(
    "func", _public_callables(), ids=lambda f: f"{f.__module__}.{f.__qualname__}"
)
def test_public_api_documents_every_parameter(func):
    """The numpydoc ``Parameters`` section names the parameters of the signature, in order (a
    class: its constructor's, in the class docstring; a dataclass: ``Attributes`` its fields),
    and a function that returns something has a ``Returns`` section."""
    if dataclasses.is_dataclass(func):
        fields = [f.name for f in dataclasses.fields(func)]
        assert _documented(func.__doc__, "Attributes") == fields
        return
    if inspect.isclass(func):
        signature = inspect.signature(func.__init__)
    else:
        signature = inspect.signature(func)
    params = [
        name
        for i, (name, p) in enumerate(signature.parameters.items())
        if not (i == 0 and name in ("self", "cls"))  # a parameter of its own named cls stays
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    starred = [
        name
        for name, p in signature.parameters.items()
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    # ``*args``/``**kwargs`` may be documented (pl.embedding's are passed on to scanpy)
    documented = [
        name for name in _documented(func.__doc__, "Parameters") if name.lstrip("*") not in starred
    ]
    assert documented == params
    if inspect.isclass(func):
        return
    if params and signature.return_annotation not in (None, "None"):
        assert "Returns" in inspect.cleandoc(func.__doc__).splitlines()


def test_vae_train_params_are_public_and_documented():
    from scautogenome.models import ResVAE
    from scautogenome.train._vae import VAETrainParams

    assert sag.train.VAETrainParams is VAETrainParams
    assert "VAETrainParams" in sag.train.__all__
    fields = list(VAETrainParams.__dataclass_fields__)
    assert _documented(VAETrainParams.__doc__, "Attributes") == fields
    # the model's docstring names the public class and every setting
    assert ":class:`scautogenome.train.VAETrainParams`" in ResVAE.__doc__
    assert "train._vae" not in ResVAE.__doc__
    assert all(f"``{name}``" in ResVAE.__doc__ for name in fields)


def test_the_models_import_without_docstrings():
    """python -OO strips docstrings: the decorator that fills the models' parameter block
    must let the package import."""
    import subprocess
    import sys

    code = "import scautogenome as sag; sag.models.Classifier, sag.models.ResVAE; print('ok')"
    out = subprocess.run([sys.executable, "-OO", "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr[-2000:]


def test_warnings_are_marked_as_scanpy_marks_its_own(capfd):
    """A warning among the info lines starts with ``WARNING:`` (after its indentation), as
    scanpy writes its own; info lines are the message alone."""
    from scautogenome._settings import logger

    before = sag.settings.verbosity
    sag.settings.verbosity = 2
    try:
        logger.info("    computing something")
        logger.warning("    something to act on")
        logger.error("the run could not be written")
    finally:
        sag.settings.verbosity = before
    err = capfd.readouterr().err.splitlines()
    assert err == [
        "    computing something",
        "    WARNING: something to act on",
        "ERROR: the run could not be written",
    ]
