"""What the models share: saving and loading (weights as torch tensors, loaded with
weights_only=True, + JSON) and the base class of Classifier and ResVAE."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, TypeVar

import numpy as np
import pandas as pd
import torch

from .._settings import logger
from .._utils import (
    check_bool,
    doc_params,
    json_default,
    percent_down,
    replaced_together,
    short_repr,
)
from ..data import (
    InputTransform,
    as_csr_or_dense,
    check_adata,
    check_finite,
    check_query_values,
    gene_alignment,
    get_matrix,
    names_of,
    obs_noun,
    unlisted_genes_are_zero,
    warn_zero_genes,
)
from ..nn import READS_KEY, InputGenes, count_parameters
from ..train import resolve_device

WEIGHTS = "model.pt"
META = "model.json"
NET = "net."  # prefix of the network's tensors in model.pt (the others are the transform's)

_M = TypeVar("_M", bound="BaseModel")


def versions() -> dict[str, str]:
    """The versions of scautogenome, Python and the libraries a model's results depend on (a
    copy of those read once per process: the package metadata is not read again per save)."""
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    from .. import __version__

    out = {"scautogenome": __version__, "python": platform.python_version()}
    for pkg in ("torch", "anndata", "scanpy", "numpy", "optuna"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover
            out[pkg] = "unknown"
    return out


def _with_zero_genes(X, src: np.ndarray, dst: np.ndarray, n_model: int):
    """``X`` with a zero column for each model gene that ``dst`` lacks, mapped onto it."""
    import scipy.sparse as sp

    absent = np.setdiff1d(np.arange(n_model), dst)
    if not absent.size:
        return X, src, dst
    if sp.issparse(X):
        X = sp.hstack([X, sp.csr_matrix((X.shape[0], absent.size), dtype=X.dtype)], format="csr")
    else:  # a MAF's matrix is small: a backed one is read
        X = np.asarray(X[:])
        X = np.concatenate([X, np.zeros((X.shape[0], absent.size), dtype=X.dtype)], axis=1)
    new = X.shape[1] - absent.size + np.arange(absent.size)
    return X, np.concatenate([src, new]), np.concatenate([dst, absent])


def check_model_path(path, kind: str, method: str) -> Path:
    """``path`` as a Path, or a TypeError: :meth:`BaseModel.save` and :meth:`BaseModel.load`
    take the path of a model's folder (``kind.method``, e.g. ``Classifier.load``, names the
    call)."""
    if not isinstance(path, (str, os.PathLike)):
        msg = (
            f"{kind}.{method} takes the path of a model's folder (a str or Path), got "
            f"{type(path).__name__} {path!r}."
        )
        raise TypeError(msg)
    return Path(path).expanduser()  # "~/runs/m" in the home folder, not a folder named "~"


def write_model_dir(
    path: str | Path, meta: dict, tensors: dict[str, torch.Tensor], *, overwrite: bool
) -> Path:
    """Write ``model.json`` and ``model.pt`` into ``path``; refuse to overwrite unless asked.
    Both are written to temporary names before either is renamed into place, all or none
    (:func:`~scautogenome._utils.replaced_together`), so that a failed or interrupted save (a
    full disk, Ctrl-C, even between the two renames) leaves the model saved there before
    whole, or no model where there was none; ``model.json`` records the SHA-256 of
    ``model.pt``, so that one model's weights beside another's classes (files copied by hand)
    are refused by :func:`read_model_dir`."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        msg = (
            f"{str(path)!r} is a file, not a folder: a model is saved as a folder of {META} and "
            f"{WEIGHTS}; pass the path of a folder (it is created)."
        )
        raise NotADirectoryError(msg)
    held = model_files(path)
    if held and not overwrite:
        what = "a saved model" if META in held else f"{WEIGHTS} (no {META}: not a saved model)"
        msg = f"{str(path)!r} already holds {what}; pass overwrite=True to replace it."
        raise FileExistsError(msg)
    # the JSON first: a value it cannot hold fails before anything is written
    meta = {**meta, "versions": versions()}
    json.dumps(meta, default=json_default)
    made = _first_missing(Path(os.path.abspath(path)))  # "x/../y": y's, not x's
    path.mkdir(parents=True, exist_ok=True)
    cpu = {k: v.detach().cpu() for k, v in tensors.items()}
    try:
        with replaced_together(path / WEIGHTS, path / META) as (weights, text_file):
            _save_tensors(cpu, weights)
            text = json.dumps(
                {**meta, "weights_sha256": _file_sha256(weights)}, indent=1, default=json_default
            )
            text_file.write_text(text)
    except BaseException:
        # the folders this call made go again, so that a failed save leaves none (the
        # command line refused its next run into an empty model folder)
        if made is not None:
            _remove_empty(Path(os.path.abspath(path)), made)
        raise
    return path


def model_files(path: str | Path) -> list[str]:
    """The files of a saved model (``model.json``, ``model.pt``) that the folder ``path``
    holds: a save there replaces them. A ``model.pt`` alone is one too: the commonest name of
    a torch checkpoint, which a save without ``overwrite=True`` must not replace."""
    return [name for name in (META, WEIGHTS) if (Path(path) / name).exists()]


def _first_missing(path: Path) -> Path | None:
    """The topmost of ``path`` (absolute, without "..") and its parents that does not exist
    (None: ``path`` does)."""
    missing = None
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing = folder
    return missing


def _remove_empty(path: Path, top: Path) -> None:
    """Remove ``path`` (absolute, without "..") and its parents up to ``top`` while they are
    empty folders."""
    for folder in (path, *path.parents):
        try:
            folder.rmdir()
        except OSError:  # not empty (another process's), or gone
            return
        if folder == top:
            return


def _save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """``torch.save`` into the file ``path`` through a file object: given a path, torch names
    the archive's root folder after the file (``.sag-<pid>-<random>/data.pkl`` for the
    temporary file of :func:`~scautogenome._utils.replaced_together`), so that the same weights saved twice differed
    in their bytes and in ``weights_sha256``; a file object's archive is always named
    ``archive``. (Files saved under any root name load alike.)"""
    with open(path, "wb") as f:
        torch.save(tensors, f)


def _file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 8 MB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(8 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def saved_kind(path: str | Path) -> str | None:
    """The class that saved the model in the folder ``path`` (``model.json``'s ``"model"``:
    ``"Classifier"``, ``"Regressor"``, ``"ResVAE"``); None where the folder holds no
    ``model.json``; a ValueError where it is not a JSON object."""
    meta = Path(path) / META
    if not meta.is_file():
        return None
    return _read_meta(meta).get("model")


def _read_meta(meta: Path) -> dict:
    """``model.json`` as a dict; a ValueError naming the file where it is not a JSON object
    (cut short by a full disk, say)."""
    try:
        out = json.loads(meta.read_text())
    except ValueError as e:  # not JSON (UnicodeDecodeError is one too)
        msg = f"{str(meta)!r} cannot be read ({e}); save the model there again."
        raise ValueError(msg) from None
    if not isinstance(out, dict):
        msg = f"{str(meta)!r} cannot be read (it holds a {type(out).__name__}, not an object)."
        raise ValueError(msg)
    return out


def _trained_with(model) -> dict:
    """The versions that trained ``model`` ({} where not known); this process's for a model
    made before they were kept (unpickled from an earlier version)."""
    kept = getattr(model, "trained_with_", None)
    return versions() if kept is None else kept


def _newer_than_this(meta: dict) -> str:
    """``"saved by scautogenome X, newer than this one (Y)"`` where ``model.json`` records
    a later version than the one installed; empty otherwise (or where either is unreadable)."""
    from packaging.version import InvalidVersion, Version

    from .. import __version__

    versions = meta.get("versions") if isinstance(meta, dict) else None
    saved = versions.get("scautogenome") if isinstance(versions, dict) else None
    try:
        if saved is None or Version(str(saved)) <= Version(__version__):
            return ""
    except InvalidVersion:
        return ""
    return f"saved by scautogenome {saved}, newer than this one ({__version__})"


def _finite(values: torch.Tensor) -> bool:
    """Whether a tensor holds no NaN or infinite value, from its extremes (NaN reaches both):
    a twentieth of ``isfinite(values).all()``'s time, which made a quarter of a 21M-weight
    model's load."""
    if not values.is_floating_point() or values.numel() == 0:
        return True
    lo, hi = torch.aminmax(values)
    return bool(torch.isfinite(lo) & torch.isfinite(hi))


def read_model_dir(path: str | Path, kind: str) -> tuple[dict, dict[str, torch.Tensor]]:
    path = check_model_path(path, kind, "load")
    if not path.exists():  # a relative path from another working folder, say: where it looked
        where = "" if path.is_absolute() else f" (looked in {os.path.abspath(path)})"
        msg = f"{str(path)!r} does not exist{where}; give the folder model.save wrote."
        raise FileNotFoundError(msg)
    if not (path / META).exists() or not (path / WEIGHTS).exists():
        msg = f"{str(path)!r} is not a saved scautogenome model (needs {META} and {WEIGHTS})."
        if (path / "model" / META).exists():  # the command line's --out folder
            msg += f" Its model is in {str(path / 'model')!r}."
        raise FileNotFoundError(msg)
    meta = _read_meta(path / META)
    if "model" not in meta:
        msg = f"{str(path / META)!r} lacks ['model'] (damaged, or edited by hand); save the model there again."
        raise ValueError(msg)
    if meta.get("model") != kind:
        msg = f"{str(path)!r} holds a {meta.get('model')!r} model, not a {kind!r}."
        raise ValueError(msg)
    recorded = meta.get("weights_sha256")  # absent in models saved before it was recorded
    if recorded is not None and recorded != _file_sha256(path / WEIGHTS):
        msg = (
            f"{str(path)!r}: {WEIGHTS} is not the file {META} was saved with (a save "
            "interrupted between the two?); save the model there again."
        )
        raise ValueError(msg)
    try:
        tensors = torch.load(path / WEIGHTS, map_location="cpu", weights_only=True)
    except (OSError, MemoryError):  # the file's name itself (permissions); no damage
        raise
    except Exception as e:  # empty, truncated, or a pickle torch will not read safely
        msg = (
            f"{str(path / WEIGHTS)!r} is not a weights file scautogenome can read "
            f"({type(e).__name__}: damaged, or not written by scautogenome); save the model "
            "there again."
        )
        raise ValueError(msg) from None
    if not isinstance(tensors, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in tensors.items()
    ):
        msg = (
            f"{str(path / WEIGHTS)!r} is not a weights file scautogenome can read (it holds "
            f"a {type(tensors).__name__}, not named tensors: not written by scautogenome); "
            "save the model there again."
        )
        raise ValueError(msg)
    not_finite = sorted(  # the network's (the input transform marks constant genes so)
        k for k, v in tensors.items() if k.startswith(NET) and not _finite(v)
    )
    if not_finite:
        msg = (
            f"{str(path / WEIGHTS)!r}: {len(not_finite)} of its tensors hold NaN or infinite "
            f"values (e.g. {not_finite[0]!r}): damaged, or saved from a training that "
            "diverged; its predictions would mean nothing. Save or train the model again."
        )
        raise ValueError(msg)
    return meta, tensors


# the tool whose search trains each model class
_TRAINED_BY = {
    "Classifier": "sag.tl.classify",
    "Regressor": "sag.tl.classify",
    "ResVAE": "sag.tl.embed",
}


QUERY_PARAMS = """\
data
    An AnnData or a DataFrame with genes as named columns (genes matched by name; the model's
    genes it lacks are set to their training mean, with a warning), or a matrix (array or
    sparse) with the model's genes as columns, in :attr:`var_names_` order.
layer
    Read ``adata.layers[layer]``. None (default): the layer the model was trained on
    (:attr:`layer_`) where the AnnData has it (as scvi-tools models remember theirs), else
    ``adata.X``. Only for an AnnData.
batch_size
    Cells per forward pass.
min_gene_overlap
    Minimum fraction (0-1) of the model's genes that an AnnData or DataFrame must have; below
    it is an error naming the counts."""


doc_query_params = doc_params(query_params=QUERY_PARAMS)
"""Put :data:`QUERY_PARAMS`, the parameters of every method that reads a query, in place of
the line ``{query_params}`` of a method's docstring."""


def check_is_fitted(model, attr: str = "module_") -> None:
    """Raise a RuntimeError, naming how to train or load one, where ``model`` has not been
    trained.

    Parameters
    ----------
    model
        A :class:`Classifier`, :class:`Regressor` or :class:`ResVAE`.
    attr
        The attribute that training sets (the network, ``module_``).
    """
    if getattr(model, attr, None) is None:
        name = type(model).__name__
        tool = _TRAINED_BY.get(name, "sag.tl.classify or sag.tl.embed")
        msg = (
            f"This {name} has not been trained yet; call {tool}(...) or .fit(...) first, or "
            "load a saved one with .load(dir)."
        )
        raise RuntimeError(msg)


class BaseModel:
    """What :class:`~scautogenome.models.Classifier` and :class:`~scautogenome.models.ResVAE`
    share: construction from parts, gene matching of the input, save / load and ``repr``.

    A subclass sets ``_model_name`` (the ``"model"`` entry of ``model.json``) and implements
    ``_build_module`` (architecture dict -> torch module), ``_set_extras`` (its own fitted
    attributes, from the extra keyword arguments of :meth:`_from_parts`), ``_extra_meta`` and
    ``_extras_from_meta`` (those attributes in ``model.json``) and ``_describe`` (the middle of
    the trained ``repr``); ``_marker_tensors`` optionally.
    """

    # what zero-filling the genes a query lacks does (the end of the warning of a partial overlap)
    _missing_genes_effect = "which moves the outputs"

    _model_name: str = ""
    # the class's own entries of model.json that loading needs, with their JSON types
    _extra_entries: ClassVar[dict[str, type]] = {}
    # names of what _marker_tensors saves (dropped from the network's weights on loading)
    _marker_tensors_names: tuple[str, ...] = ()

    def __init__(
        self,
        architecture: dict | None = None,
        train_params: dict | None = None,
        *,
        device: str | None = None,
    ) -> None:
        self.architecture = architecture
        self.train_params = train_params
        self.device = device
        self.module_: torch.nn.Module | None = None

    # -- hooks ----------------------------------------------------------------------------------
    @staticmethod
    def _build_module(architecture: dict, *, reads=None, **options) -> torch.nn.Module:
        """The network of ``architecture`` reading the genes at positions ``reads`` (None:
        all of them; :class:`~scautogenome.nn.InputGenes`); ``options``: those
        :meth:`_saved_options` reads off saved weights."""
        raise NotImplementedError

    @staticmethod
    def _saved_options(architecture: dict, state_dict: dict) -> dict:
        """Options of :meth:`_build_module` that saved weights, not their architecture, tell
        (the shape of a network an earlier version saved)."""
        return {}

    def _set_extras(self, **extras) -> None:
        raise NotImplementedError

    def _extra_meta(self) -> dict:
        raise NotImplementedError

    @classmethod
    def _extras_from_meta(cls, meta: dict) -> dict:
        raise NotImplementedError

    def _describe(self) -> str:
        raise NotImplementedError

    @classmethod
    def _marker_problems(cls, meta: dict, markers: dict[str, torch.Tensor]) -> list[str]:
        """What in a ``model.json`` disagrees with the marker tensors of ``model.pt``
        (:meth:`_marker_tensors`), which hold some of its entries a second time."""
        return []

    @classmethod
    def _meta_problems(cls, meta: dict) -> list[str]:
        """What in a ``model.json`` (its entries of the right types) is at odds with the
        network it describes, which the weights' digest does not cover: genes of another
        number than its inputs, a gene twice, a setting that is not a number."""
        problems = []
        names = meta["var_names"]
        n_inputs = meta["architecture"].get("n_inputs")
        if isinstance(n_inputs, int) and len(names) != n_inputs:
            problems.append(
                f"its {len(names)} var_names are not the {n_inputs} genes its network reads"
            )
        problems += named_twice(names, "var_names")
        n_threads = meta.get("n_threads")
        if n_threads is not None and not (
            isinstance(n_threads, int) and not isinstance(n_threads, bool) and n_threads > 0
        ):
            problems.append(f"its n_threads {n_threads!r} is not a positive integer")
        return problems

    def _marker_tensors(self) -> dict[str, torch.Tensor]:
        """Tensors saved beside the network's (under its prefix) that no network has: an
        earlier version, which builds the network and compares its weights, refuses the
        folder instead of reading weights whose meaning changed. Loading drops them."""
        return {}

    # -- construction from parts (search, fit, load) ----------------------------------------------
    @classmethod
    def _from_parts(
        cls: type[_M],
        *,
        architecture: dict,
        state_dict: dict,
        var_names,
        transform: InputTransform,
        train_params: dict,
        history: list | None = None,
        config: dict | None = None,
        device: str | None = None,
        origin: str = "The weights",
        remedy: str = "Retrain the model with this version.",
        layer: str | None = None,
        n_threads: int | None = None,
        trained_with: dict | None = None,
        **extras,
    ) -> _M:
        """A trained model from its parts; ``origin`` names the weights in the error raised
        when they do not fit the network this version builds for ``architecture`` (or when
        that architecture cannot be built), which ends with ``remedy``.
        ``n_threads``: torch's CPU threads it was trained on (None where not known: a model
        saved before it was recorded)."""
        self = cls(architecture=architecture, train_params=train_params, device=device)
        self.architecture_ = copy.deepcopy(architecture)
        self.train_params_ = dict(train_params)
        self._set_extras(**extras)
        self.var_names_ = np.asarray(var_names, dtype=str)
        self.transform_ = transform
        self.history_ = list(history or [])
        self.config_ = config or {}
        self.layer_ = layer
        self.n_threads_ = None if n_threads is None else int(n_threads)
        # the versions of the packages that trained it (None: this process's, a new model;
        # {}: not known, a loaded model that recorded none)
        self.trained_with_ = dict(trained_with) if isinstance(trained_with, dict) else versions()
        self.device_ = resolve_device(device)
        # the genes its first layer reads are saved with the weights (absent: all, as every
        # model saved before 2026-12-05 reads them)
        reads = state_dict.get(READS_KEY)
        if reads is not None:
            reads = reads.cpu().numpy()
            try:  # checked on its own: an architecture's errors keep their own message
                InputGenes(int(self.architecture_.get("n_inputs", 0)), reads)
            except (TypeError, ValueError, OverflowError) as e:  # Overflow: n_inputs Infinity
                msg = f"{origin} cannot be read: {e}"
                raise ValueError(msg) from None
        try:
            options = self._saved_options(self.architecture_, state_dict)
            # shapes first, allocating nothing: an architecture far larger than its weights
            # (a model.json edited, say) is refused before it takes the machine's memory
            with torch.device("meta"):
                shaped = self._build_module(self.architecture_, reads=reads, **options)
        except (TypeError, ValueError, KeyError, RuntimeError) as e:  # sizes that overflow
            text = e.args[0] if isinstance(e, ValueError) and e.args else repr(e)
            msg = (
                f"{origin} cannot be read with the architecture saved beside them: {text} {remedy}"
            )
            raise ValueError(msg) from None
        built = shaped.state_dict()
        mismatched = sorted(
            k
            for k in set(built) | set(state_dict)
            if k not in built or k not in state_dict or built[k].shape != state_dict[k].shape
        )
        if mismatched:
            from .. import __version__

            msg = (
                f"{origin} do not fit the {cls._model_name} network this version "
                f"({__version__}) builds for the same architecture: {len(mismatched)} "
                f"mismatched weight(s), e.g. {mismatched[0]!r}. {remedy}"
            )
            raise ValueError(msg)
        # the shaped network given memory and the weights: none drawn to be replaced, so
        # torch's generator, which all threads share, is left alone (every weight is in the
        # state dict, checked above)
        module = shaped.to_empty(device="cpu")
        module.load_state_dict(state_dict)
        self.module_ = module.to(self.device_).eval()
        return self

    def _fit_setup(self, architecture: dict, seed: int, data):
        """A freshly seeded network for ``fit``, reading the genes that vary on the training
        cells of the prepared ``data``."""
        torch.manual_seed(seed)
        return self._build_module(architecture, reads=data.transform.varying_genes())

    def _fit_params(self, params_class):
        """The training parameters (``params_class`` of ``train_params``; an unknown setting
        is a TypeError) and the device of ``fit``: checked before any data is read."""
        if self.train_params is not None and not isinstance(self.train_params, Mapping):
            msg = (
                f"train_params={short_repr(self.train_params)} must be a dict of training "
                f"settings (or None: the defaults), not a {type(self.train_params).__name__}."
            )
            raise TypeError(msg)
        given = dict(self.train_params or {})
        fields = getattr(params_class, "__dataclass_fields__", None)
        if fields is None:  # a function that builds TrainParams (the Regressor's)
            from ..train import TrainParams

            fields = TrainParams.__dataclass_fields__
        unknown = sorted(set(given) - set(fields))
        if unknown:
            msg = f"train_params has no setting {unknown[0]!r}; its settings are {sorted(fields)}."
            raise TypeError(msg)
        return params_class(**given), resolve_device(self.device)

    def _fit_done(self: _M, architecture: dict, data, params, result, *, obs_names, **extras) -> _M:
        """Take over the fitted (``*_``) attributes of the model that ``fit`` trained: the
        network of ``result`` on the prepared ``data`` (its genes and input transform), and
        the part of the split of every cell (``data.split``, one per ``obs_names``) as
        :attr:`split_`."""
        fitted = type(self)._from_parts(
            architecture=architecture,
            state_dict=result.state_dict,
            var_names=data.var_names,
            transform=data.transform,
            train_params=params.__dict__,
            history=result.history,
            device=self.device,
            layer=data.layer,
            n_threads=torch.get_num_threads(),  # the trainer set it (settings.n_threads)
            **extras,
        )
        self.__dict__.update({k: v for k, v in fitted.__dict__.items() if k.endswith("_")})
        self._record_split(obs_names, data)
        score = getattr(result, "best_score", None)  # a VAE keeps its lowest loss
        kept = f"score {score:.4g}" if score is not None else f"loss {result.best_loss:.4g}"
        logger.info(
            "    trained %d epoch(s) in %.1f s (%s); kept epoch %d, validation %s",
            len(result.history),
            result.seconds,
            result.stopped.replace("_", " "),
            result.best_epoch + 1,  # counted from 1, as the search's bar and the report
            kept,
        )
        return self

    def _record_split(self, obs_names, data) -> None:
        """:attr:`split_`: the part of the split of the prepared ``data`` (its ``parts``:
        ``"train"``, ``"val"``, ``"test"`` for classes, all of them, as classify's
        ``obs['{key}_split']``; and ``"none"`` where some cell was not used) of every cell the
        model was trained among, a categorical Series over their ``obs_names`` (not kept by
        :meth:`save`)."""
        split = np.asarray(data.split).astype(str)
        parts = [*data.parts, *(["none"] if (split == "none").any() else [])]
        self.split_ = pd.Series(
            pd.Categorical(split, categories=parts), index=pd.Index(obs_names).copy(), name="split"
        )

    # -- inference ------------------------------------------------------------------------------
    def gene_overlap(
        self,
        query_genes,
        *,
        min_gene_overlap: float = 0.5,
        warn: bool = True,
        n_common: int | None = None,
        unlisted_zero: bool = False,
        query=None,
        found: np.ndarray | None = None,
    ) -> dict:
        """How many of the model's genes the query has; raises below ``min_gene_overlap``.

        Genes are matched as :func:`~scautogenome.data.gene_alignment` does.

        Parameters
        ----------
        query_genes
            The query's gene names (``adata.var_names``, a DataFrame's columns).
        min_gene_overlap
            The smallest fraction of the model's genes the query must have (0-1); below it, a
            ValueError.
        warn
            Log a partial overlap (missing genes are filled with their training mean) as a
            warning.
        n_common
            The number of model genes found, where the caller has aligned the genes already
            (None: counted here).
        unlisted_zero
            The query's missing genes are known to be 0 (a MAF's genes that no variant hits,
            :func:`~scautogenome.data.unlisted_genes_are_zero`): for a model of binary values
            (mutations) no overlap is too small, and they are said to be 0, not filled in.
        query
            The query's AnnData, where the error of a too small overlap, and the warning of a
            partial one, say where more of the model's genes are (:func:`_genes_elsewhere`: a
            ``var`` column of names, ``adata.raw``, the names without surrounding spaces).
        found
            The positions among the model's genes of those the query has, distinct, where the
            caller has aligned the genes already (``n_common`` is then their number).

        Returns
        -------
        ``n_model_genes``, ``n_query_genes``, ``n_common``, ``fraction_of_model_genes``,
        ``n_missing_filled``, ``n_missing_in_another_case`` (missing genes the query names
        in another case) and ``missing_filled_with`` (what a missing gene is given:
        ``"train_mean"``, ``"zero"`` for a model of binary profiles, ``"zero (not in the
        MAF)"`` for a MAF query's genes without a call).
        """
        check_is_fitted(self)
        warn = check_bool("warn", warn)
        _check_min_gene_overlap(min_gene_overlap)
        q = np.asarray(query_genes, dtype=str)
        n_model = len(self.var_names_)
        # the model genes found (a query gene named twice counts once)
        if found is not None:
            n_common = len(found)
        if n_common is None:
            found = np.unique(gene_alignment(q, self.var_names_, log=warn)[1])
            n_common = found.size
        frac = n_common / n_model
        report = {
            "n_model_genes": n_model,
            "n_query_genes": len(q),
            "n_common": n_common,
            "fraction_of_model_genes": float(frac),
            "n_missing_filled": n_model - n_common,
        }
        other_case = _in_another_case(self.var_names_, q) if n_common < n_model else []
        report["n_missing_in_another_case"] = len(other_case)
        case_hint = (
            f" {len(other_case)} of the missing genes are in the query in another case (e.g. "
            f"{other_case[0]!r}): name them as the model does (human against mouse symbols?)."
            if other_case
            else ""
        )
        if self._unlisted_read_as_zero(unlisted_zero):
            report["missing_filled_with"] = "zero (not in the MAF)"
            if warn and n_common < n_model:
                log = logger.warning if n_common == 0 else logger.info
                log(
                    "%d of the model's %d genes are not in the query's MAF: not mutated in its "
                    "samples (0)%s",
                    n_model - n_common,
                    n_model,
                    "; none of its genes is one of the model's: check that both name genes "
                    "alike (symbols, Entrez or Ensembl ids)"
                    if n_common == 0
                    else "",
                )
            return report
        if n_common == 0:
            msg = (
                f"The query shares no gene with the model ({len(q)} query genes, {n_model} model "
                f"genes; e.g. model genes {', '.join(map(str, self.var_names_[:3]))}, query genes "
                f"{', '.join(map(str, q[:3]))})."
                " Check that both use the same gene identifiers (symbols vs Ensembl ids)."
                + case_hint
                + _genes_elsewhere(self.var_names_, q, query, n_common)
            )
            raise ValueError(msg)
        if frac < min_gene_overlap:
            msg = (
                f"The query has only {n_common} of the model's {n_model} genes "
                f"({percent_down(frac)}, rounded down), below "
                f"min_gene_overlap={min_gene_overlap}. Lower min_gene_overlap to go on anyway."
                + case_hint
                + _genes_elsewhere(self.var_names_, q, query, n_common)
            )
            raise ValueError(msg)
        depth = ""
        if n_common < n_model and found is None:  # the caller counted them
            found = np.unique(gene_alignment(q, self.var_names_, log=False)[1])
        if n_common < n_model and self.transform_.share_ is not None:
            # a counts model: the cells' depth is taken from the genes the query has, scaled
            # by their share of the training cells' counts
            coverage = self.transform_.coverage(np.setdiff1d(np.arange(n_model), found))
            report["counts_share"] = float(coverage)
            depth = (
                f"; each cell's depth is its count over the genes present divided by their "
                f"share of the training cells' counts ({coverage:.1%})"
            )
        if warn and n_common < n_model:
            logger.warning(
                "query has %d of the model's %d genes (%s); %d missing genes (e.g. %s) are "
                "set to %s%s, %s.%s%s",
                n_common,
                n_model,
                percent_down(frac),
                n_model - n_common,
                ", ".join(  # the first few, in the model's order
                    repr(str(g)) for g in np.delete(self.var_names_, found)[:3]
                ),
                "0" if self.transform_.mean_ is None else "their mean in training",
                depth,
                self._missing_genes_effect,
                case_hint,
                _genes_elsewhere(self.var_names_, q, query, n_common),
            )
        report["missing_filled_with"] = "zero" if self.transform_.mean_ is None else "train_mean"
        return report

    def _unlisted_read_as_zero(self, unlisted_zero: bool) -> bool:
        """Whether the genes a query lacks are read as 0 (a MAF's unlisted genes, where the
        query says so, for a model of binary values): one rule for the overlap report and the
        matrix the model reads."""
        return bool(unlisted_zero) and self.transform_.value_type == "binary"

    def _check_values(
        self, data, X, col_map, where: str, min_gene_overlap: float | None = None
    ) -> None:
        """The checks of a query's values (``X`` of :meth:`_matched_input`) before the model
        reads them: finite in the genes it reads, of the kind the model was trained on
        (:func:`~scautogenome.data.check_query_values`), and not many model genes 0 in
        every cell (:func:`~scautogenome.data.warn_zero_genes`; ``min_gene_overlap``: the
        caller's, for its advice)."""
        used = None if col_map is None else col_map[0]  # the genes it reads (sorted, unique)
        check_finite(X, where, used, **names_of(data))
        check_query_values(X, self.transform_, where, col_map, getattr(data, "layers", None))
        warn_zero_genes(
            X,
            self.transform_,
            where,
            col_map,
            self.var_names_,
            obs_noun(data),
            frame=_gene_named_frame(data),
            min_gene_overlap=min_gene_overlap,
        )

    def _matched_input(self, data, layer: str | None, min_gene_overlap: float):
        """Matrix + gene mapping for ``data`` (AnnData or DataFrame with gene-named columns,
        matched by gene name; or a matrix).

        For an AnnData, :meth:`gene_overlap` checks how many of the model's genes it has
        (``min_gene_overlap``) and its report is given back as the third element (None for a
        matrix, which must have the model's genes in order). The fourth names what was read
        for messages: ``"the query's layers['counts']"``, ``"the query's X"``, ``"the query
        matrix"``. ``layer`` and ``min_gene_overlap`` are checked for a matrix too.
        """
        from anndata import AnnData

        _check_min_gene_overlap(min_gene_overlap)
        frame = _gene_named_frame(data)
        if layer is not None and not isinstance(data, AnnData):
            what = "a DataFrame" if frame else "a matrix"
            msg = f"layer={layer!r} needs an AnnData; {what} has no layers."
            raise ValueError(msg)
        if frame:
            # named columns are genes: matched by name, as an AnnData's (not by position)
            if pd.api.types.infer_dtype(data.index) != "string":
                # AnnData wants text obs names and warns as it converts any other index (a
                # default RangeIndex: ImplicitModificationWarning); a shallow copy, values shared
                data = data.copy(deep=False)
                data.index = data.index.astype(str)
            data = AnnData(data)
        if isinstance(data, AnnData):
            check_adata(data, writes=False, reads=getattr(self, "var_names_", None))
            if not frame:  # a DataFrame's values are what there is to read
                layer = self._default_layer(data, layer)
            X = get_matrix(data, layer)
            where = (
                "the query matrix"
                if frame
                else "the query's " + ("X" if layer is None else f"layers[{layer!r}]")
            )
            src, dst, n_model = gene_alignment(data.var_names, self.var_names_)
            unlisted_zero = unlisted_genes_are_zero(data)
            report = self.gene_overlap(
                data.var_names,
                min_gene_overlap=min_gene_overlap,
                found=np.unique(dst),
                unlisted_zero=unlisted_zero,
                query=data,
            )
            if self._unlisted_read_as_zero(unlisted_zero):
                # a MAF's genes that no variant hits, of a model of mutations: zero columns
                X, src, dst = _with_zero_genes(X, src, dst, n_model)
            identity = n_model == X.shape[1] and np.array_equal(src, dst) and len(src) == n_model
            col_map = None if identity else (src, dst, n_model)
        else:
            X = as_csr_or_dense(data, "X")
            if X.shape[1] != len(self.var_names_):
                msg = (
                    f"X has {X.shape[1]} columns but the model was trained on "
                    f"{len(self.var_names_)} genes; pass an AnnData to match genes by name."
                )
                raise ValueError(msg)
            if X.shape[0] == 0:  # as an empty AnnData is refused
                msg = "X has no rows: there is nothing to predict or encode."
                raise ValueError(msg)
            col_map, report, where = None, None, "the query matrix"
        return X, col_map, report, where

    def _default_layer(self, adata, layer: str | None) -> str | None:
        """``layer``, or when None the layer the model was trained on (``layer_``) where
        ``adata`` has it, as scvi-tools models remember theirs; ``adata.X`` otherwise."""
        trained_on = getattr(self, "layer_", None)
        if layer is not None or trained_on is None:
            return layer
        if trained_on in adata.layers:
            logger.info("reading layers[%r], the layer the model was trained on", trained_on)
            return trained_on
        # a note: X may hold the same values (a fresh file of raw counts); values of another
        # kind than the model's are warned about by the check of the values read
        logger.info(
            "the model was trained on layers[%r], which this AnnData lacks; reading adata.X "
            "(pass layer= to choose).",
            trained_on,
        )
        return None

    def weights_digest(self) -> str:
        """SHA-1 of the network's weights and buffers: tells this trained model apart from
        another of the same architecture (:func:`~scautogenome.tl.classify` records it, so
        that :func:`~scautogenome.tl.explain` finds the run of the model it is given)."""
        check_is_fitted(self)
        h = hashlib.sha1()
        for name, tensor in self.module_.state_dict().items():
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
        return h.hexdigest()

    # -- persistence ----------------------------------------------------------------------------
    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Save weights (``model.pt``) and everything else as JSON (``model.json``) into a
        folder.

        Parameters
        ----------
        path
            The folder, created if missing.
        overwrite
            Replace a model saved in ``path`` before (without it, a FileExistsError).

        Returns
        -------
        The folder.
        """
        path = check_model_path(path, self._model_name, "save")
        overwrite = check_bool("overwrite", overwrite)
        check_is_fitted(self)
        meta = {
            "model": self._model_name,
            "architecture": self.architecture_,
            "train_params": self.train_params_,
            "transform": self.transform_.to_dict(),
            "var_names": self.var_names_.tolist(),
            "config": self.config_,
            "history": self.history_,
            "layer": self.layer_,
            # a seed gives these weights again at this thread count (and device) only
            "n_threads": getattr(self, "n_threads_", None),
            # those that trained it, kept through a load and a save ("versions": the writer's)
            "trained_with": _trained_with(self),
            **self._extra_meta(),
        }
        tensors = {NET + k: v for k, v in self.module_.state_dict().items()}
        tensors.update({NET + k: v for k, v in self._marker_tensors().items()})
        tensors.update(
            {k: torch.from_numpy(np.asarray(v)) for k, v in self.transform_.arrays().items()}
        )
        return write_model_dir(path, meta, tensors, overwrite=overwrite)

    @classmethod
    def load(cls: type[_M], path: str | Path, *, device: str | None = None) -> _M:
        """Load a model saved with :meth:`save` (no pickled objects are read).

        Parameters
        ----------
        path
            The folder :meth:`save` wrote (``model.pt`` and ``model.json``).
        device
            ``"auto"``, ``"cpu"``, ``"cuda"``... (None: ``sag.settings.device``).

        Returns
        -------
        The model (a ValueError where another class saved the folder, its ``model.json`` is
        damaged, or its ``model.pt`` is no weights file, holds NaN or infinite weights or does
        not fit the architecture; a FileNotFoundError where the folder is missing or holds no
        saved model).
        """
        meta, tensors = read_model_dir(path, cls._model_name)
        # a later version's model.json may hold what this version cannot read: a refusal of
        # it says to update, not that it was damaged
        newer = _newer_than_this(meta)
        if newer:
            logger.warning("%s: %s; it may be read wrongly.", str(path), newer)
        why = newer or "damaged, or edited by hand"
        how = "update scautogenome to read it" if newer else "save the model there again"
        # the entries every model needs, with their JSON types (a Classifier's classes too)
        needed = {"architecture": dict, "var_names": list, "transform": dict, "train_params": dict}
        needed.update(cls._extra_entries)
        missing = [k for k in needed if k not in meta]
        if missing:
            msg = f"{str(Path(path) / META)!r} lacks {missing} ({why}); {how}."
            raise ValueError(msg)
        wrong = [
            k
            for k, kind in needed.items()
            if not isinstance(meta[k], kind) or (kind is list and not meta[k])
        ]
        # the entries it may lack (null: not recorded), of their JSON types where present
        optional = {"history": list, "config": dict, "layer": str, "trained_with": dict}
        wrong += [
            k
            for k, kind in optional.items()
            if meta.get(k) is not None and not isinstance(meta[k], kind)
        ]
        if wrong or not isinstance(meta.get("versions", {}), dict):
            msg = (
                f"{str(Path(path) / META)!r}: its {wrong or ['versions']} entry is empty or of "
                f"another type ({why}); {how}."
            )
            raise ValueError(msg)
        problems = cls._meta_problems(meta)
        problems += cls._marker_problems(
            meta, {n: tensors[NET + n] for n in cls._marker_tensors_names if NET + n in tensors}
        )
        if problems:
            msg = f"{str(Path(path) / META)!r}: {'; '.join(problems)} ({why}); {how}."
            raise ValueError(msg)
        extras = cls._extras_from_meta(meta)
        state = {k[len(NET) :]: v for k, v in tensors.items() if k.startswith(NET)}
        arrays = {k: v.numpy() for k, v in tensors.items() if not k.startswith(NET)}
        try:
            transform = InputTransform.from_dict(meta["transform"], arrays)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            msg = (
                f"{str(Path(path) / META)!r}: its 'transform' entry cannot be read "
                f"({e.args[0] if isinstance(e, ValueError) and e.args else repr(e)}; {why}); "
                f"{how}."
            )
            raise ValueError(msg) from None
        n_genes = len(meta["var_names"])
        for name, values in arrays.items():  # one value per gene, each
            if values.shape != (n_genes,):
                msg = (
                    f"{str(Path(path) / WEIGHTS)!r}: its {name} holds {values.size:,} values for "
                    f"the {n_genes:,} genes of {META} ({why}); {how}."
                )
                raise ValueError(msg)
        for name in cls._marker_tensors_names:
            state.pop(name, None)
        saved_by = meta.get("versions", {}).get("scautogenome", "an unknown version")
        from .. import __version__

        return cls._from_parts(
            origin=f"The weights in {str(path)!r}, saved by scautogenome {saved_by},",
            # by an earlier version, the weights and their architecture no longer fitting
            # is a change of the networks; by this one, an edit, damage or a development
            # build (whose version is the same)
            remedy=(
                f"({why}); {how}."
                if newer
                else "Retrain the model with this version."
                if saved_by != __version__
                else "(damaged or edited by hand, or saved by another build of this version); "
                "save or train the model again."
            ),
            architecture=meta["architecture"],
            state_dict=state,
            var_names=meta["var_names"],
            transform=transform,
            train_params=meta["train_params"],
            history=meta.get("history"),
            config=meta.get("config"),
            device=device,
            layer=meta.get("layer"),  # None in models saved before it was recorded
            n_threads=meta.get("n_threads"),  # as layer
            # a model saved before it was recorded: the versions of its save, as they were
            trained_with=meta.get("trained_with") or meta.get("versions") or {},
            **extras,
        )

    def __repr__(self) -> str:
        if self.module_ is None:
            return f"{self._model_name}(architecture={self.architecture!r}, untrained)"
        return (
            f"{self._model_name}({self._describe()}, "
            f"{count_parameters(self.module_):,} parameters, device={self.device_})"
        )


def named_twice(names: list, entry: str) -> list[str]:
    """The problem of a ``model.json`` list ``entry`` that holds a name twice (none or one)."""
    index = pd.Index([str(n) for n in names])
    twice = index[index.duplicated()]
    return [f"its {entry} name {twice[0]!r} twice"] if len(twice) else []


def finite_numbers(meta: dict, entries) -> list[str]:
    """The problems of ``model.json`` ``entries`` (present) that are not finite numbers (an
    integer past float's range is not)."""

    def finite(x) -> bool:
        if not isinstance(x, (int, float)) or isinstance(x, bool):
            return False
        try:
            return math.isfinite(float(x))
        except OverflowError:
            return False

    return [
        f"its {k} {meta[k]!r} is not a finite number"
        for k in entries
        if k in meta and not finite(meta[k])
    ]


def _check_min_gene_overlap(min_gene_overlap) -> None:
    """``min_gene_overlap`` is a fraction between 0 and 1 (a TypeError or ValueError)."""
    msg = (
        f"min_gene_overlap={min_gene_overlap!r} must be a fraction of the model's genes "
        "between 0 and 1 (0.5: half of them)."
    )
    if isinstance(min_gene_overlap, bool) or not isinstance(
        min_gene_overlap, (int, float, np.integer, np.floating)
    ):
        raise TypeError(msg)
    if not 0 <= min_gene_overlap <= 1:  # NaN too
        raise ValueError(msg)


def _gene_named_frame(data) -> bool:
    """Whether ``data`` is a DataFrame whose columns name genes (matched by name, as an
    AnnData's), not numbered ones (a matrix's)."""
    return isinstance(data, pd.DataFrame) and not isinstance(data.columns, pd.RangeIndex)


def _genes_elsewhere(model_genes, query_genes: np.ndarray, query, n_common: int) -> str:
    """Where a query holds more of the model's genes than its ``var_names`` do (``n_common``):
    its names without surrounding spaces, a ``var`` column of names (symbols beside Ensembl
    ids, as ``gene_symbols=`` of scanpy's plots reads), or ``adata.raw``; each with the step
    that uses it; its ``obs_names`` (the query transposed). Empty where none holds more (or
    ``query`` is no AnnData)."""
    from anndata.utils import make_index_unique  # not at import: anndata's fails under -OO

    model = pd.Index(np.asarray(model_genes, dtype=str))

    def n_found(names) -> int:
        # as the query's own names are matched (Ensembl versions, Firehose ids)
        return np.unique(gene_alignment(np.asarray(names, dtype=str), model, log=False)[1]).size

    hints = []
    n = n_found(np.char.strip(np.asarray(query_genes, dtype=str)))
    if n > n_common:
        hints.append(
            f"{n - n_common}{' more' if n_common else ''} of them are named with surrounding "
            "spaces in the query: strip them (adata.var_names = adata.var_names.str.strip())"
        )
    var = getattr(query, "var", None)
    if isinstance(var, pd.DataFrame):
        counts = {  # named as gene_symbols= reads them: a repeat as NAME-1
            c: n_found(make_index_unique(pd.Index(var[c].astype(str))))
            for c in var.columns
            if not pd.api.types.is_numeric_dtype(var[c]) and not pd.api.types.is_bool_dtype(var[c])
        }
        best = max(counts, key=counts.get, default=None)
        if best is not None and counts[best] > n_common:
            hints.append(
                f"adata.var[{best!r}] holds {counts[best]} of them: match the genes by it "
                f"(gene_symbols={best!r} of sag.tl.predict, encode and explain), or name them "
                "by it "
                f"(adata.var_names = adata.var[{best!r}].astype(str); "
                "adata.var_names_make_unique())"
            )
    raw = getattr(query, "raw", None)
    if raw is not None:
        n = n_found(raw.var_names)
        if n > n_common:
            hints.append(
                f"adata.raw holds {n} of them: pass adata.raw.to_adata() (sag reads X or a "
                "layer, not raw)"
            )
    obs_names = getattr(query, "obs_names", None)
    if obs_names is not None:  # a genes x samples table read the other way round
        n = n_found(obs_names)
        if n > n_common:
            hints.append(
                f"the query's obs_names hold {n} of them: it reads transposed (genes as "
                "rows); pass adata.T (a table read by sag.io: orientation=, CLI --orientation)"
            )
    return f" Of the model's {len(model)} genes, {'; '.join(hints)}." if hints else ""


def _in_another_case(model_genes, query_genes) -> list[str]:
    """The model genes the query lacks by name but holds in another case (``CD3E`` against
    ``Cd3e`` or ``cd3e``)."""
    present = set(map(str, query_genes))
    folded = {g.casefold() for g in present}
    return [str(g) for g in model_genes if str(g) not in present and str(g).casefold() in folded]
