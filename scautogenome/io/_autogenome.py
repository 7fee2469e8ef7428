"""``sag.io.read_autogenome``: AutoGenome's input layout (config JSON + features/labels/names).

AutoGenome's JSON schema is not published; its paper (Liu et al. 2021, Methods) documents the
modules of the file. This reader accepts those modules under the names below, case- and
separator-insensitive (``Data-Loader``, ``data loader`` and ``data_loader`` are the same), both
nested under a module key and flat at the top level::

    {
      "name": "pan_cancer",
      "data_loader": {                                  # (1) data loader module
        "train_data_path": "train_features.csv",        # samples x features, no header
        "train_label_path": "train_labels.txt",         # one label per line (or "id<delim>label")
        "eval_data_path": "...", "eval_label_path": "...",
        "test_data_path": "...", "test_label_path": "...",
        "feature_names_path": "feature_names.txt",      # one name per line (or "id<TAB>name")
        "delimiter": ",",
        "header": true,                                 # features files start with a header
                                                        # line (default: told by the line)
        "num_threads": 4, "capacity": 1000              # no counterpart (recorded, warned)
      },
      "model_trainer": {                                # (2) model trainer module
        "batch_size": 64,                               # or a list of choices
        "learning_rate_range": [1e-4, 1e-2],            # log-uniform; or "learning_rate":
                                                        # 0.001 (fixed) or a list of choices
        "epochs": 60, "num_gpus": 1
      },
      "loss": "cross_entropy",                          # (3) "auc" and "mse" too
      "search_mode": "FC-ResNet",                       # (4) MLP | FC-ResNet | FC-DenseNet | ENAS | Res-VAE
      "search_space": {"num_blocks": [1, 2, 3], "num_neurons": [64, 128]},
      "model_save_path": "runs/pan_cancer"              # (5) save / reload module
    }

Relative paths are resolved against the JSON file's folder. Every key is either mapped onto
``sag.config`` (see :data:`KEY_TABLE`), recorded as having no counterpart, or unknown; the last two
are warned about and kept in ``uns['sag_io']``, never silently dropped. A key placed under another
module is looked up in all modules, except generic words (:data:`GENERIC_KEYS`: ``name``,
``type``, ``path``...), which count only in their own module (``data_loader.name`` is unknown, not
the search mode).

Without ``header``, a features file's first line is a header when none of its cells is a number;
a header of numbers (Entrez gene ids) needs ``"header": true``. Each split's header must list the
train header's names: in another order, its columns are reordered to the train order. The loss
``cross_entropy`` is what ``sag.tl.classify`` trains with by default; ``auc`` becomes
``trainer.loss="auc"`` with ``search.metric="roc_auc"`` when the labels have two classes (with
more, or a Res-VAE mode, it is warned about and not applied, as the AUC loss is binary);
``mse`` becomes ``trainer.loss="mse"`` with numeric labels (``task`` regression): ``sag.tl.classify``
then predicts the number (judged by R^2).

Search modes: MLP -> ``mlp``, FC-ResNet -> ``resnet``, FC-DenseNet -> ``densenet``, ENAS ->
``rrfcn`` (its fixed ``num_layers``, ``first_layer_neurons`` and ``num_neurons`` choices go to
``config['rrfcn']``; widths the RRFCN search caps for the number of features are warned about)
when ``sag.config`` offers that mode, else ``auto`` with a warning. Res-VAE is unsupervised
(``task='embed'``): the config is one of ``sag.tl.embed`` (``mode="resvae"``, on
``sag.config.default("resvae")``'s sections: ``num_layers`` -> ``space.n_layers``,
``first_layer_neurons`` -> ``first_width``, ``decay_ratio`` -> ``decay``, ``keep_prob`` ->
``input_keep``, learning rate, batch size and weight decay -> ``space``, epochs -> ``trainer``),
and the latent size (``latent_dim``) and the loss ``mse`` become embed's ``n_latent`` and
``likelihood="mse"`` in ``uns['sag_io']['embed_args']``. Search-space keys at the top of
``search_space`` apply to the chosen mode; a nested ``{"MLP": {...}, "FC-ResNet": {...}}`` sets
each mode's own space.

A list under ``learning_rate`` is a list of choices (in any order); a log-uniform range comes
from a ``*_range`` key (``learning_rate_range``, ``lr_range``: ``[low, high]``) or from
``min_learning_rate``/``max_learning_rate``. Numbers written as JSON text (``"epochs": "3"``)
are read as the numbers.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._logging import user_stacklevel
from .._settings import logger
from .._utils import recorded_path
from . import _parse
from ._table import IO_KEY, _duplicates, _h5ad_column

if TYPE_CHECKING:
    from anndata import AnnData


def _norm(key: str) -> str:
    return re.sub(r"[\s\-.]+", "_", str(key).strip().lower())


def _aliases(*names: str) -> frozenset[str]:
    return frozenset(_norm(n) for n in names)


# module -> section names
SECTIONS: dict[str, frozenset[str]] = {
    "data_loader": _aliases(
        "data_loader",
        "dataloader",
        "data",
        "dataset",
        "data_params",
        "input",
        "loader",
        "public_params",
    ),
    "trainer": _aliases(
        "model_trainer",
        "trainer",
        "train",
        "training",
        "trainer_params",
        "train_params",
        "training_params",
    ),
    "loss": _aliases("loss", "loss_function", "loss_module", "loss_params", "loss_type"),
    "search": _aliases("search_mode", "search", "mode", "model_type", "search_params"),
    "space": _aliases(
        "search_space",
        "space",
        "hyper_parameters",
        "hyperparameters",
        "hparams",
        "hyper_params",
        "hyperparameter_space",
    ),
    "save": _aliases(
        "model_save_path",
        "best_model_path",
        "save_path",
        "model_path",
        "model_dir",
        "output_dir",
        "save",
        "reload",
        "save_reload",
        "model_save",
        "reload_path",
    ),
}

# (module, canonical key) -> aliases. The canonical keys and where they go:
#   data_loader: *_data / *_labels -> files, feature_names -> var_names, delimiter and header
#                -> parser
#   trainer: batch_size, lr, momentum, weight_decay, optimizer -> config['space']['common'];
#            max_epochs, patience -> config['trainer']
#   search: mode -> config['mode']; n_trials, time_budget -> config['budget']
#   space: see _SPACE_TARGETS
KEY_TABLE: dict[tuple[str, str], frozenset[str]] = {
    ("data_loader", "train_data"): _aliases(
        "train_data_path",
        "train_path",
        "train_features_path",
        "train_feature_path",
        "train_file",
        "train_data",
        "train_x",
        "train_x_path",
        "data_path",
        "features_path",
        "feature_path",
        "data_file",
        "x_path",
        "input_path",
    ),
    ("data_loader", "train_labels"): _aliases(
        "train_label_path",
        "train_labels_path",
        "train_target_path",
        "train_y",
        "train_y_path",
        "train_labels",
        "label_path",
        "labels_path",
        "target_path",
        "y_path",
        "label_file",
        "labels_file",
    ),
    ("data_loader", "eval_data"): _aliases(
        "eval_data_path",
        "eval_path",
        "eval_features_path",
        "eval_file",
        "eval_x",
        "valid_data_path",
        "validation_data_path",
        "val_data_path",
        "dev_data_path",
    ),
    ("data_loader", "eval_labels"): _aliases(
        "eval_label_path",
        "eval_labels_path",
        "eval_y",
        "valid_label_path",
        "validation_label_path",
        "val_label_path",
        "dev_label_path",
    ),
    ("data_loader", "test_data"): _aliases(
        "test_data_path",
        "test_path",
        "test_features_path",
        "test_file",
        "test_x",
    ),
    ("data_loader", "test_labels"): _aliases("test_label_path", "test_labels_path", "test_y"),
    ("data_loader", "feature_names"): _aliases(
        "feature_names_path",
        "feature_name_path",
        "features_names_path",
        "feature_names_file",
        "feature_names",
        "features_name_path",
        "gene_names_path",
        "gene_list_path",
    ),
    ("data_loader", "delimiter"): _aliases("delimiter", "sep", "separator", "delim"),
    ("data_loader", "header"): _aliases(
        "header",
        "has_header",
        "feature_header",
        "features_header",
        "header_line",
        "data_header",
    ),
    ("trainer", "batch_size"): _aliases(
        "batch_size", "batch_sizes", "total_batch_size", "train_batch_size"
    ),
    ("trainer", "lr"): _aliases(
        "learning_rate", "learning_rates", "lr", "lr_range", "learning_rate_range", "lr_list"
    ),
    ("trainer", "lr_min"): _aliases("min_learning_rate", "min_lr", "lr_min", "learning_rate_min"),
    ("trainer", "lr_max"): _aliases("max_learning_rate", "max_lr", "lr_max", "learning_rate_max"),
    ("trainer", "max_epochs"): _aliases(
        "epochs", "max_epochs", "num_epochs", "n_epochs", "train_epochs", "epoch", "max_epoch"
    ),
    ("trainer", "patience"): _aliases("patience", "early_stopping_patience", "early_stop_patience"),
    ("trainer", "momentum"): _aliases("momentum", "momentums"),
    ("trainer", "weight_decay"): _aliases("weight_decay", "weight_decays", "l2_regularization"),
    ("trainer", "optimizer"): _aliases("optimizer", "optimizers"),
    ("search", "mode"): _aliases("mode", "search_mode", "model_type", "model", "name", "type"),
    ("search", "n_trials"): _aliases(
        "n_trials",
        "num_trials",
        "max_trials",
        "trials",
        "trial_num",
        "max_trial_num",
        "num_samples",
    ),
    ("search", "time_budget"): _aliases(
        "time_budget", "max_time", "time_limit", "max_search_time", "timeout"
    ),
    ("space", "input_keep"): _aliases(
        "keep_prob",
        "keep_probs",
        "input_keep",
        "input_keep_prob",
        "keep_prob_list",
        "first_layer_keep_prob",
        "drop_out_ratio",
        "dropout_ratio",
    ),
    ("space", "dropout"): _aliases("dropout", "dropout_rate", "dropout_rates"),
    ("space", "n_layers"): _aliases("num_layers", "n_layers", "layers", "layer_num", "num_layer"),
    ("space", "units"): _aliases(
        "num_neurons",
        "neurons",
        "units",
        "hidden_units",
        "num_units",
        "layer_sizes",
        "neuron_num",
        "neurons_per_layer",
    ),
    ("space", "n_blocks"): _aliases("num_blocks", "n_blocks", "block_num", "blocks"),
    ("space", "block_units"): _aliases(
        "blocks_structure", "block_structure", "block_units", "block_layers"
    ),
    ("space", "growth_rate"): _aliases("growth_rate", "growth_rates"),
    ("space", "first_layer_units"): _aliases(
        "first_layer_neurons", "num_first_layer_neurons", "first_layer_units"
    ),
    ("space", "decay_ratio"): _aliases("decay_ratio", "neuron_decay_ratio", "decay_ratios"),
    ("space", "latent_dim"): _aliases("latent_dim", "num_latent", "latent_size", "n_latent"),
    ("loss", "loss"): _aliases("name", "type", "method", "loss", "function", "loss_type"),
    ("save", "model_dir"): _aliases(
        "path",
        "save_path",
        "model_save_path",
        "best_model_path",
        "model_path",
        "model_dir",
        "reload_path",
        "output_dir",
    ),
}
# known keys with no counterpart in sag.config: recorded in uns and warned about
NO_COUNTERPART: dict[str, frozenset[str]] = {
    "data_loader": _aliases(
        "num_threads",
        "threads",
        "n_threads",
        "num_parallel_calls",
        "capacity",
        "queue_capacity",
        "buffer_size",
        "shuffle",
        "prefetch",
    ),
    "trainer": _aliases(
        "num_gpus",
        "gpus",
        "n_gpus",
        "gpu_num",
        "num_gpu",
        "gpu",
        "devices",
        "num_workers",
        "log_steps",
        "save_steps",
        "eval_steps",
        "checkpoint_steps",
        "summary_steps",
        "seed",
    ),
}
# of those, all but these are about the machine and the run's logging and change no result:
# sag chooses its own threads and device (sag.settings.n_threads, device=), so they are
# recorded and logged, not warned about
RESULT_KEYS = _aliases("shuffle", "seed")
SEED_KEYS = _aliases("seed")
RUNTIME_KEYS = frozenset().union(*NO_COUNTERPART.values()) - RESULT_KEYS
META_KEYS = _aliases("name", "description", "version", "task_name", "project", "comment")
# generic words that name something only in their own module: "name" is the search mode under
# search_mode, the loss under loss, but a data set's name under data_loader (never looked up in
# the other modules)
GENERIC_KEYS = _aliases("name", "type", "path", "method", "function", "model", "mode", "epoch")

# AutoGenome search modes -> ours. ENAS derives RRFCN architectures (our mode "rrfcn" when
# sag.config has it); a mode sag.config lacks falls back to "auto" with a warning, and Res-VAE
# (unsupervised) points at sag.tl.embed.
MODE_MAP = {
    "mlp": "mlp",
    "fc_resnet": "resnet",
    "rfcn_resnet": "resnet",
    "resnet": "resnet",
    "fc_densenet": "densenet",
    "rfcn_densenet": "densenet",
    "densenet": "densenet",
    "enas": "rrfcn",
    "rrfcn": "rrfcn",
    "res_vae": "resvae",
    "resvae": "resvae",
    "auto": "auto",
}
LOSS_MAP = {
    "cross_entropy": "classification",
    "crossentropy": "classification",
    "ce": "classification",
    "softmax_cross_entropy": "classification",
    "categorical_crossentropy": "classification",
    "mse": "regression",
    "mean_square_error": "regression",
    "mean_squared_error": "regression",
    "l2": "regression",
    "auc": "auc",
    "area_under_curve": "auc",
    "roc_auc": "auc",
}
# space key -> the sag.config space section it belongs to, per our mode
_SPACE_TARGETS = {
    "input_keep": {"*": "common"},
    "dropout": {"*": "common"},
    "n_layers": {"mlp": "mlp"},
    "units": {"mlp": "mlp", "resnet": "resnet"},
    "n_blocks": {"resnet": "resnet", "densenet": "densenet"},
    "block_units": {"densenet": "densenet"},
    "growth_rate": {"densenet": "densenet"},
}
# ENAS keys -> sag.config['rrfcn'] (fixed values, not search spaces), used when that section exists
_RRFCN_KEYS = {"n_layers": "n_layers", "units": "widths", "first_layer_units": "first_width"}
_OPTIMIZERS = {"adam": "adamw", "adamw": "adamw", "sgd": "sgd", "momentum": "sgd"}


def _lookup(key: str, module: str | None) -> tuple[str, str] | None:
    nk = _norm(key)
    tables = [(m, c) for (m, c) in KEY_TABLE if module is None or m == module]
    for m, c in tables:
        if nk in KEY_TABLE[(m, c)]:
            return m, c
    if module is not None and nk not in GENERIC_KEYS:  # lenient: a key under another module
        return _lookup(key, None)
    return None


class _Reading:
    """Collects what each AutoGenome key became."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.values: dict[tuple[str, str], tuple[str, Any]] = {}  # canonical -> (orig key, value)
        self.no_counterpart: dict[str, str] = {}
        self.unknown: list[str] = []
        self.meta: dict[str, str] = {}
        self.space_by_mode: dict[str, dict[str, tuple[str, Any]]] = {}

    def put(self, where: str, canon: tuple[str, str], value: Any) -> None:
        if canon in self.values:
            warnings.warn(
                f"AutoGenome config {self.source}: {where} repeats {self.values[canon][0]} "
                f"(both mean {canon[1]!r}); using {where}.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        self.values[canon] = (where, value)

    def walk(self, cfg: dict) -> None:
        for key, value in cfg.items():
            nk = _norm(key)
            module = next((m for m, names in SECTIONS.items() if nk in names), None)
            if module is not None and isinstance(value, dict):
                self.section(module, key, value)
            elif module in ("loss", "search", "save") and not isinstance(value, dict):
                canon = {"loss": "loss", "search": "mode", "save": "model_dir"}[module]
                self.put(key, (module, canon), value)
            elif nk in META_KEYS and not isinstance(value, dict):
                self.meta[nk] = str(value)
            else:
                self.flat(key, key, value, None)

    def flat(self, where: str, key: str, value: Any, module: str | None) -> None:
        nk = _norm(key)
        for m, names in NO_COUNTERPART.items():
            if nk in names and (module is None or module == m):
                self.no_counterpart[where] = json.dumps(value)
                return
        hit = _lookup(key, module)
        if hit is None:
            if any(nk in names for names in NO_COUNTERPART.values()):
                self.no_counterpart[where] = json.dumps(value)
            else:
                self.unknown.append(where)
            return
        self.put(where, hit, value)

    def section(self, module: str, name: str, body: dict) -> None:
        for key, value in body.items():
            where = f"{name}.{key}"
            nk = _norm(key)
            if module == "space" and isinstance(value, dict) and nk in MODE_MAP:
                mode = MODE_MAP[nk]
                for k2, v2 in value.items():
                    hit = _lookup(k2, "space")
                    if hit is None:
                        self.unknown.append(f"{where}.{k2}")
                    else:
                        self.space_by_mode.setdefault(mode, {})[hit[1]] = (f"{where}.{k2}", v2)
                continue
            self.flat(where, key, value, module)


def _number(value: Any) -> Any:
    """A number written as JSON text (``"16"``, ``"1e-3"``) as the number; lists element by
    element; anything else as it is (the config's checks then name what is wrong)."""
    if isinstance(value, (list, tuple)):
        return [_number(v) for v in value]
    if isinstance(value, str) and _parse.is_number(value.strip()):
        text = value.strip()
        return int(text) if _parse._INTEGER.match(text) else float(text)
    return value


def _choices(value: Any, where: str, source: str) -> Any:
    value = _number(value)
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return value
    msg = f"AutoGenome config {source}: {where}={value!r} is not a value or a list of values."
    raise ValueError(msg)


def _float(value: Any, where: str, source: str) -> float:
    """A learning rate of the JSON (a number, or one written as text) as a float."""
    value = _number(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    msg = f"AutoGenome config {source}: {where}={value!r} is not a number."
    raise ValueError(msg)


def _lr_spec(reading: _Reading) -> tuple[Any, list[str]] | None:
    vals = reading.values
    src = reading.source
    if ("trainer", "lr_min") in vals or ("trainer", "lr_max") in vals:
        try:
            (lo_key, lo), (hi_key, hi) = vals[("trainer", "lr_min")], vals[("trainer", "lr_max")]
        except KeyError:
            msg = f"AutoGenome config {src}: give both a minimum and a maximum learning rate."
            raise ValueError(msg) from None
        low, high = _float(lo, lo_key, src), _float(hi, hi_key, src)
        return {"type": "float", "low": low, "high": high, "log": True}, [lo_key, hi_key]
    if ("trainer", "lr") not in vals:
        return None
    where, value = vals[("trainer", "lr")]
    if isinstance(value, dict):
        lo = value.get("low", value.get("min"))
        hi = value.get("high", value.get("max"))
        if lo is None or hi is None:
            msg = f"AutoGenome config {src}: {where} needs low/high (or min/max)."
            raise ValueError(msg)
        low, high = _float(lo, f"{where}.low", src), _float(hi, f"{where}.high", src)
        return {"type": "float", "low": low, "high": high, "log": True}, [where]
    if isinstance(value, (list, tuple)):
        if len(value) == 2 and "range" in _norm(where.rsplit(".", 1)[-1]):
            # the paper's "learning rate range" (learning_rate_range, lr_range): a log-uniform
            # interval; a list under any other key, in any order, is a list of choices
            low, high = (_float(v, where, src) for v in value)
            return {"type": "float", "low": low, "high": high, "log": True}, [where]
        choices = [_float(v, where, src) for v in value]
        if len(choices) == 2 and choices[0] < choices[1]:  # an ascending pair may mean a range
            logger.info(
                f"{where}={choices} is searched as two choices; for a log-uniform range between "
                "them, name it learning_rate_range"
            )
        return choices, [where]
    return _float(value, where, src), [where]


# sag.tl.embed's Res-VAE space (sag.config.default("resvae")['space'], flat): AutoGenome's
# Res-VAE keys -> ours; the latent size is embed's n_latent argument, not a config key
_EMBED_SPACE = {
    "n_layers": "n_layers",
    "first_layer_units": "first_width",
    "decay_ratio": "decay",
    "input_keep": "input_keep",
    "dropout": "dropout",
}
_EMBED_COMMON = ("lr", "batch_size", "weight_decay")  # in embed's space, not a "common" section


def _latent_size(value: Any, where: str, source: str) -> int | None:
    """AutoGenome's latent size as embed's ``n_latent``: one positive integer (a list of one
    counts as it); None for a list of several (embed takes one, not a search space)."""
    value = _number(value)
    if isinstance(value, list):
        if len(value) != 1:
            return None
        value = value[0]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        msg = (
            f"AutoGenome config {source}: {where}={value!r} must be a positive integer (the "
            "latent size of sag.tl.embed)."
        )
        raise ValueError(msg)
    return value


def _to_sag_config(
    reading: _Reading,
) -> tuple[dict, dict[str, str], dict[str, str], dict[str, Any]]:
    """``(sag config, {autogenome key: sag key}, {key: why not mapped}, embed arguments)``.

    For the search mode Res-VAE the config is one of ``sag.tl.embed`` (merged onto
    ``sag.config.default("resvae")``) and the embed arguments hold ``n_latent`` when the JSON
    sets the latent size; for the other modes it is one of ``sag.tl.classify``."""
    src = reading.source
    vals = reading.values
    cfg: dict[str, Any] = {}
    mapped: dict[str, str] = {}
    unmapped: dict[str, str] = {}
    embed_args: dict[str, Any] = {}
    # mode
    from ..config import _config

    MODES = _config.MODES
    rr_defaults = _config.default("auto").get("rrfcn", {})
    ag_mode = None
    mode = "auto"
    ours = "auto"
    if ("search", "mode") in vals:
        where, ag_mode = vals[("search", "mode")]
        ours = MODE_MAP.get(_norm(ag_mode))
        if ours is None:
            msg = (
                f"AutoGenome config {src}: {where}={ag_mode!r} is not a search mode; expected "
                "MLP, FC-ResNet, FC-DenseNet, ENAS or Res-VAE."
            )
            raise ValueError(msg)
        if ours == "resvae":  # unsupervised: a config of sag.tl.embed
            mode = ours
            mapped[where] = "mode (sag.tl.embed)"
        elif ours in MODES:
            mode = ours
            mapped[where] = "mode"
        else:
            unmapped[where] = (
                f"{ag_mode} has no sag.config mode ({ours!r} is not a sag.config mode); mode "
                "set to 'auto'"
            )
    embed = mode == "resvae"
    cfg["mode"] = mode
    # budget and trainer (the same sections in classify's and embed's configs)
    for canon, section, key in (
        (("search", "n_trials"), "budget", "n_trials"),
        (("search", "time_budget"), "budget", "time_budget"),
        (("trainer", "max_epochs"), "trainer", "max_epochs"),
        (("trainer", "patience"), "trainer", "patience"),
    ):
        if canon in vals:
            where, value = vals[canon]
            value = _number(value)
            if isinstance(value, float) and value.is_integer() and key != "time_budget":
                value = int(value)
            cfg.setdefault(section, {})[key] = value
            mapped[where] = f"{section}.{key}"
    # common space (embed: its flat space, which has no momentum or optimizer)
    common: dict[str, Any] = {}
    common_at = "space" if embed else "space.common"
    no_embed = "no counterpart in sag.tl.embed's config (sag.config.default('resvae'))"
    lr = _lr_spec(reading)
    if lr is not None:
        common["lr"], keys = lr
        for k in keys:
            mapped[k] = f"{common_at}.lr"
    for name in ("batch_size", "momentum", "weight_decay"):
        if ("trainer", name) in vals:
            where, value = vals[("trainer", name)]
            if embed and name not in _EMBED_COMMON:
                unmapped[where] = no_embed
                continue
            common[name] = _choices(value, where, src)
            mapped[where] = f"{common_at}.{name}"
    if ("trainer", "optimizer") in vals:
        where, value = vals[("trainer", "optimizer")]
        names = value if isinstance(value, list) else [value]
        ours_opt = [_OPTIMIZERS.get(_norm(v)) for v in names]
        if embed:
            unmapped[where] = no_embed
        elif all(ours_opt):
            common["optimizer"] = (
                list(dict.fromkeys(ours_opt)) if isinstance(value, list) else ours_opt[0]
            )
            mapped[where] = "space.common.optimizer"
        else:
            unmapped[where] = f"optimizer {value!r}: sag offers adamw and sgd"
    # search space: flat keys apply to the chosen mode, nested ones to theirs
    space: dict[str, Any] = {}
    entries = [(ours, c, w, v) for (m, c), (w, v) in vals.items() if m == "space"]
    entries += [(md, c, w, v) for md, d in reading.space_by_mode.items() for c, (w, v) in d.items()]
    for md, canon, where, value in entries:
        if embed or md == "resvae":
            if md != ours:  # a nested space of a mode the JSON does not search
                unmapped[where] = (
                    f"the {md!r} space; the search mode is {ag_mode} (sag.tl.embed)"
                    if embed
                    else f"the Res-VAE space (sag.tl.embed); the search mode is {ag_mode or 'auto'}"
                )
            elif canon == "latent_dim":
                n_latent = _latent_size(value, where, src)
                if n_latent is None:
                    unmapped[where] = (
                        f"sag.tl.embed takes one latent size (n_latent), not {value!r}"
                    )
                else:
                    embed_args["n_latent"] = n_latent
                    mapped[where] = "n_latent (uns['sag_io']['embed_args'])"
            elif canon in _EMBED_SPACE:
                space[_EMBED_SPACE[canon]] = _choices(value, where, src)
                mapped[where] = f"space.{_EMBED_SPACE[canon]}"
            else:
                unmapped[where] = f"{canon!r} has no counterpart in sag.tl.embed's Res-VAE space"
            continue
        if ours != "auto" and md != ours and md in ("mlp", "resnet", "densenet", "rrfcn"):
            # a nested space of a family this search does not search (mode auto does)
            unmapped[where] = (
                f"the {md!r} space; the search mode is {ag_mode} (sag mode {ours!r}), which "
                "does not search it"
            )
            continue
        key = _RRFCN_KEYS.get(canon)
        if md == "rrfcn" and key is not None:
            value = _number(value)
            if key not in rr_defaults:
                unmapped[where] = "sag.config has no RRFCN (ENAS) section"
            elif key != "widths" and isinstance(value, list):
                unmapped[where] = (
                    f"ENAS fixes {canon}; sag.config['rrfcn'][{key!r}] takes one value"
                )
            else:
                cfg.setdefault("rrfcn", {})[key] = value
                mapped[where] = f"rrfcn.{key}"
            continue
        targets = _SPACE_TARGETS.get(canon, {})
        section = targets.get("*") or targets.get(md)
        if section is None and md == "auto":
            section = next(iter(targets.values()), None)
        if section is None:
            unmapped[where] = (
                f"{canon!r} has no counterpart in sag.config's {md!r} search space"
                if md in ("mlp", "resnet", "densenet", "auto")
                else f"no sag.config search space for {md!r}"
            )
            continue
        target = common if section == "common" else space.setdefault(section, {})
        target[canon] = _choices(value, where, src)
        mapped[where] = f"space.{section}.{canon}"
    if mode == "rrfcn":  # ENAS trains its child networks with config['rrfcn'], not space
        _common_to_enas(common, cfg, mapped, unmapped)
    if embed:
        space.update(common)
    elif common:
        space["common"] = common
    if space:
        cfg["space"] = space
    return cfg, mapped, unmapped, embed_args


# ENAS's own settings (config['rrfcn']) of the trainer's values it takes, one value each
_ENAS_TRAINER = {
    "lr": ("child_lr", "learning rate"),
    "batch_size": ("child_batch_size", "batch size"),
    "weight_decay": ("weight_decay", "weight decay"),
}


def _common_to_enas(common: dict, cfg: dict, mapped: dict, unmapped: dict) -> None:
    """Move the trainer's values read into ``common`` (space['common'], which ENAS does not
    read) onto ENAS's settings in ``cfg['rrfcn']`` where it takes them (one learning rate,
    batch size, weight decay); the others (a range or list, momentum, the optimizer) are
    named in ``unmapped`` with the reason. ``common`` is emptied."""
    for name in list(common):
        value = common.pop(name)
        if isinstance(value, list) and len(value) == 1:  # a list of one choice: that value
            value = value[0]
        if name == "batch_size" and isinstance(value, float) and value.is_integer():
            value = int(value)
        keys = [k for k, v in mapped.items() if v == f"space.common.{name}"]
        target = _ENAS_TRAINER.get(name)
        one = isinstance(value, (int, float)) and not isinstance(value, bool)
        for k in keys:
            del mapped[k]
            if target is not None and one:
                mapped[k] = f"rrfcn.{target[0]}"
            elif target is not None:
                unmapped[k] = (
                    f"ENAS trains its child networks with one {target[1]} "
                    f"(sag.config['rrfcn'][{target[0]!r}]), not a range or list of them"
                )
            else:
                unmapped[k] = (
                    "ENAS trains its child networks with AdamW and sag.config['rrfcn']'s "
                    f"settings, which have no {name}"
                )
        if target is not None and one:
            cfg.setdefault("rrfcn", {})[target[0]] = value


def _invalid_mapping(src: str, err: ValueError, mapped: dict[str, str], vals: dict) -> str:
    """The message of a mapped configuration that ``sag.config`` rejects: the AutoGenome key
    whose value it is (found from the ``config[...]`` path the error names), else all mapped
    keys."""
    found = re.search(r"config((?:\[[^\]]+\])+)", str(err))
    path = ".".join(re.findall(r"\['?([^'\]]+)'?\]", found.group(1))) if found else ""
    keys = [
        k
        for k, v in mapped.items()
        if path and (v.split(" ")[0] == path or path.startswith(v.split(" ")[0] + "."))
    ]
    if not keys:
        return (
            f"AutoGenome config {src}: the mapped configuration is invalid ({err}); mapped "
            f"keys: {', '.join(sorted(mapped))}."
        )
    given = {w: v for w, v in vals.values()}
    shown = "; ".join(f"{k}={given[k]!r}" if k in given else k for k in keys)
    return f"AutoGenome config {src}: {shown} (sag config {path}) is invalid: {err}"


def _warn_rrfcn_capped(src: str, cfg: dict, mapped: dict[str, str], n_features: int) -> None:
    """Warn about ENAS widths the RRFCN search cannot use for ``n_features`` features (its
    first unit is capped, wider candidates dropped: :func:`scautogenome.nn.resolve_space`),
    naming the JSON's keys and noting the cap in their ``mapped`` record."""
    given = cfg.get("rrfcn", {})
    if "first_width" not in given and "widths" not in given:
        return
    from ..config import _config
    from ..nn._enas import resolve_space

    rr = {**_config.default("auto")["rrfcn"], **given}
    widths = rr["widths"] if isinstance(rr["widths"], list) else [rr["widths"]]
    try:
        _, first, kept = resolve_space(
            n_features, n_layers=rr["n_layers"], first_width=rr["first_width"], widths=widths
        )
    except (TypeError, ValueError):  # bad values: named by the config's checks
        return
    keys = {v: k for k, v in mapped.items() if v.startswith("rrfcn.")}
    parts = []
    if "first_width" in given and first != int(given["first_width"]):
        key = keys["rrfcn.first_width"]
        parts.append(f"{key}={given['first_width']} is capped at {first}")
        mapped[key] = f"rrfcn.first_width (capped at {first} for {n_features} features)"
    if "widths" in given:
        dropped = sorted({int(w) for w in widths} - set(kept))
        if dropped:
            key = keys["rrfcn.widths"]
            parts.append(f"{key} {dropped} above the first width are dropped (kept: {kept})")
            mapped[key] = f"rrfcn.widths (kept {kept} for {n_features} features)"
    if parts:
        warnings.warn(
            f"AutoGenome config {src}: ENAS widths wider than the {n_features} features: "
            + "; ".join(parts)
            + " (the RRFCN's first unit is at most the largest power of two not above the "
            "number of features, at least 16 or, with fewer, their number; no later unit is "
            "wider).",
            UserWarning,
            stacklevel=user_stacklevel(),
        )


# AutoGenome's files -> obs['autogenome_split'], in the words sag.tl.classify's split_key= takes
SPLITS = {"train": "train", "eval": "val", "test": "test"}


def _align_columns(
    X: Any, columns: list[str], ref: list[str], what: str, ref_split: str, ref_path: str
) -> Any:
    """``X``'s columns in the order of ``ref`` (the first header read), when its header
    ``columns`` names the same features; a header naming others is an error."""
    if columns == ref:
        return X
    ref_set, col_set = set(ref), set(columns)
    extra = [c for c in columns if c not in ref_set]
    missing = [c for c in ref if c not in col_set]
    repeated = _duplicates(columns) or _duplicates(ref)
    where = f"the header of the {ref_split} features file {ref_path!r}"
    if extra or missing:
        example = (
            f"e.g. {extra[0]!r} is not in the latter"
            if extra
            else f"e.g. {missing[0]!r} is missing"
        )
        msg = (
            f"AutoGenome {what}: its header names other features than {where} ({len(extra)} "
            f"not there, {len(missing)} missing; {example})."
        )
        raise ValueError(msg)
    if repeated:
        msg = (
            f"AutoGenome {what}: its header lists the same features as {where} in another order, "
            f"but {repeated[0]!r} repeats, so the columns cannot be matched."
        )
        raise ValueError(msg)
    logger.info(f"AutoGenome {what}: columns put in the order of {ref_path!r}'s header")
    pos = {c: j for j, c in enumerate(columns)}
    return X[:, [pos[c] for c in ref]]


def _features_problem(err: ValueError) -> str:
    """The message of a features file ``read_matrix`` refused, in the words of the JSON: its
    delimiter is the data loader's ``"delimiter"`` (read_autogenome has no ``sep=``). (A
    trailing delimiter is named by ``read_matrix`` itself.)"""
    hint = 'Set "delimiter" in the config\'s data_loader (e.g. "\\t" for tabs, "," for commas).'
    return re.sub(
        r"([Pp])ass sep=('[^']*')?\.?$",
        lambda m: ("S" if m.group(1) == "P" else "s") + hint[1:],
        str(err),
    )


def _read_features(
    path: Path, delimiter: str | None, split: str, header: bool | str = "auto"
) -> tuple[Any, list[str] | None, list[str] | None]:
    what = f"AutoGenome {split} features file"
    try:
        m = _parse.read_matrix(
            path, sep=delimiter, sparse="auto", what=what, header=header, index="auto"
        )
    except ValueError as err:
        raise ValueError(_features_problem(err)) from err
    ids = [str(i) for i in m.row_ids] if m.layout.index else None
    names = list(m.col_ids) if m.layout.header_line is not None else None
    return m.X, ids, names


_HEADER_WORDS = _aliases(
    "label",
    "labels",
    "class",
    "classes",
    "target",
    "targets",
    "y",
    "feature",
    "features",
    "feature_name",
    "feature_names",
    "gene",
    "genes",
    "gene_id",
    "gene_name",
    "symbol",
    "name",
)


# the data loader's "header": JSON booleans, 0/1 and their spellings as text
_BOOLEANS: dict[Any, bool | str] = {
    True: True,
    False: False,
    "true": True,
    "false": False,
    "yes": True,
    "no": False,
    "1": True,
    "0": False,
    "auto": "auto",
}


def _is_header(first: str, rest: list[str]) -> bool:
    """A first line is a header when it is a header word, or text above numbers."""
    if _norm(first) in _HEADER_WORDS:
        return True
    return not _parse.is_number(first) and all(_parse.is_number(v) for v in rest)


def _label(value: str) -> Any:
    """A label as written, or NaN for the tokens read as missing (as ``read_table`` does)."""
    value = value.strip()
    return np.nan if value in _parse.NA_TOKENS else value


def _labels_on_other_delimiter(
    path: Path, sep: str, lines: list, ids: list[str] | None, split: str
) -> list:
    """Lines that ``sep`` left whole: a file of ``id<TAB>label`` (or ``id,label``) lines written
    with the other delimiter is read as one when its first fields are sample ids (lines of
    other widths so split too, for the ragged-row or width error, not read whole as labels).
    Without ids a tab on every line still splits them (for the two-column error); a comma
    never does, since labels may hold one."""
    if ids is None:
        if sep != "\t" and all("\t" in f[0] for _, f in lines):
            return list(_parse.iter_records(path, "\t"))
        return lines
    known = set(ids)
    for other in ("\t", ","):
        if other == sep:
            continue
        alt = list(_parse.iter_records(path, other))
        if not any(len(f) >= 2 and f[0].strip() in known for _, f in alt):
            continue
        if all(len(f) == 2 for _, f in alt):
            logger.info(
                f"AutoGenome {split} labels file {str(path)!r}: 'id, label' lines delimited by "
                f"{other!r}, not {sep!r}; joined on the sample ids."
            )
        return alt
    return lines


def _read_labels(
    path: Path,
    delimiter: str | None,
    n: int,
    ids: list[str] | None,
    features: Path,
    split: str,
    features_header: bool,
) -> tuple[pd.Series, list[int | None]]:
    """Labels of one split, aligned to its feature rows (by id when the file has two columns),
    and the line of each (None: no line). Missing labels (``NA``, ``nan``, ...) are NaN."""
    path = _parse.check_exists(path, f"AutoGenome {split} labels file")
    sep = delimiter or "\t"
    with _parse.decoded(path, f"AutoGenome {split} labels file"):
        lines = list(_parse.iter_records(path, sep))
        if lines and all(len(f) == 1 for _, f in lines):
            lines = _labels_on_other_delimiter(path, sep, lines, ids, split)
    widths = {len(f) for _, f in lines}
    if not lines:
        msg = f"AutoGenome {split} labels file {_parse.where(path)}: the file is empty."
        raise ValueError(msg)
    if len(widths) > 1:
        first = lines[0][1]
        bad = next(ln for ln, f in lines if len(f) != len(first))
        msg = (
            f"AutoGenome {split} labels file {_parse.where(path, bad)}: ragged row, "
            f"{len(next(f for ln, f in lines if ln == bad))} fields where line {lines[0][0]} has {len(first)}."
        )
        raise ValueError(msg)
    width = widths.pop()
    if width == 1:
        # one label per line: an empty line (skipped by iter_records) is a missing label;
        # empty lines after the last label are the file's end
        values: list[str] = []
        numbers: list[int | None] = []
        previous = 0
        for ln, f in lines:
            if "\n" in f[0]:  # a quoted field over several lines: no label holds a line break
                start = ln - f[0].rstrip("\r\n").count("\n")  # unclosed: to the file's end
                msg = (
                    f"AutoGenome {split} labels file {_parse.where(path, start)}: a label "
                    f'opens a double quote (") that runs over lines {start}-{ln}; close or '
                    "remove the quote."
                )
                raise ValueError(msg)
            values += [""] * (ln - previous - 1)
            numbers += list(range(previous + 1, ln))
            values.append(f[0].strip())
            numbers.append(ln)
            previous = ln
        n_empty = values.count("")
        first = values[0]
        if len(values) == n + 1 and (
            _is_header(first, values[1:])
            or (first and not _parse.is_number(first) and first not in values[1:])
        ):
            # an extra first line is a header: a header word, text above numbers, or a word
            # that no other line holds (a label would repeat)
            logger.info(f"{str(path)!r}: line {numbers[0]} ({first!r}) read as a header")
            values, numbers = values[1:], numbers[1:]
        elif (
            len(values) == n
            and not features_header
            and _norm(values[0]) in _HEADER_WORDS
            and values[0] not in values[1:]
        ):
            msg = (
                f"AutoGenome {split} labels file {_parse.where(path, lines[0][0])} starts with a "
                f"header ({values[0]!r}) while features file {str(features)!r} seems to have "
                "none: its first line may be a header of numbers (e.g. Entrez gene ids), read "
                'as a sample. If so, set "header": true in the config\'s data_loader; else '
                "remove the labels file's header line."
            )
            raise ValueError(msg)
        elif len(values) != n:
            empty = f" ({n_empty} of them empty lines, read as missing labels)" if n_empty else ""
            why = (
                f"; its first line ({first!r}) is not read as a header, as "
                + ("it is a number" if _parse.is_number(first) else "it is a label further down")
                if len(values) == n + 1 and first
                else ""
            )
            msg = (
                f"AutoGenome {split} labels file {_parse.where(path)} has {len(values)} labels"
                f"{empty} for the {n} rows of features file {str(features)!r}{why}."
            )
            raise ValueError(msg)
        return pd.Series([_label(v) for v in values], dtype=object), numbers
    if width == 2:
        if ids is None:
            msg = (
                f"AutoGenome {split} labels file {_parse.where(path)}: two columns (id, label) but "
                f"features file {str(features)!r} has no sample ids to join them on."
            )
            raise ValueError(msg)
        rows = [(ln, f[0].strip(), f[1].strip()) for ln, f in lines]
        if rows[0][1] not in set(ids):
            rows = rows[1:]  # a header line
        seen: dict[str, int] = {}
        for ln, i, _ in rows:
            if i in seen:
                msg = (
                    f"AutoGenome {split} labels file {_parse.where(path)}: duplicate sample id "
                    f"{i!r} on lines {seen[i]} and {ln}."
                )
                raise ValueError(msg)
            seen[i] = ln
        table = {i: lab for _, i, lab in rows}
        hits = [i in table for i in ids]
        if not any(hits):
            msg = (
                f"AutoGenome {split} labels file {_parse.where(path)}: none of its ids (e.g. "
                f"{[r[1] for r in rows[:3]]}) matches a sample of {str(features)!r} (e.g. {ids[:3]})."
            )
            raise ValueError(msg)
        if not all(hits):
            warnings.warn(
                f"AutoGenome {split} labels file {str(path)!r}: {hits.count(False)} samples of "
                f"{str(features)!r} have no label.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        labels = [_label(table[i]) if i in table else np.nan for i in ids]
        return pd.Series(labels, dtype=object), [seen.get(i) for i in ids]
    msg = (
        f"AutoGenome {split} labels file {_parse.where(path)}: {width} columns; expected one label "
        "per line or 'sample id, label' (one-hot label matrices are not read)."
    )
    raise ValueError(msg)


def _read_feature_names(
    path: Path, delimiter: str | None, n: int, features: Path
) -> tuple[list[str], list[str] | None]:
    """``(names, ids)``: one name per line (``ids`` None), or all on one line, or (10x's
    ``features.tsv``, read as scanpy's ``read_10x`` does) the same number >= 2 of tab-separated
    fields per line: names from the second column, ids from the first."""
    path = _parse.check_exists(path, "AutoGenome feature names file")
    with _parse.decoded(path, "AutoGenome feature names file"), _parse.open_text(path) as fh:
        names = [ln.strip() for ln in fh.read().splitlines() if ln.strip()]
    ids = None
    if len(names) == 1 and n > 1:
        for sep in filter(None, (delimiter, "\t", ",")):
            parts = [p.strip() for p in names[0].split(sep)]
            if len(parts) == n:
                names = parts
                break
    fields = [[p.strip() for p in name.split("\t")] for name in names]
    if len({len(f) for f in fields}) == 1 and len(fields[0]) >= 2:
        ids, names = [f[0] for f in fields], [f[1] for f in fields]
    if len(names) == n + 1 and _HEADER_WORDS & {_norm(names[0]), _norm((ids or names)[0])}:
        logger.info(f"{str(path)!r}: line 1 ({names[0]!r}) read as a header")
        names, ids = names[1:], None if ids is None else ids[1:]
    if len(names) != n:
        msg = (
            f"AutoGenome feature names file {_parse.where(path)} has {len(names)} names for the "
            f"{n} columns of features file {str(features)!r}."
        )
        raise ValueError(msg)
    return names, ids


def _h5_keys(d: dict[str, str]) -> dict[str, str]:
    """HDF5 reads '/' in a key as a path: keep records writable whatever the JSON's keys are."""
    return {k.replace("/", "|"): v for k, v in d.items()}


def read_autogenome(
    config_json: str | Path,
    *,
    label_key: str = "label",
) -> tuple[AnnData, dict]:
    """Read AutoGenome's input layout: its config JSON and the files it names.

    The JSON's modules (paper, Methods) are read as documented in this module: the data loader's
    train/eval/test feature and label files, feature-names file, delimiter and header; the model
    trainer's batch size, learning rate (range), epochs; the loss; the search mode (MLP,
    FC-ResNet, FC-DenseNet, ENAS, Res-VAE) and its search space; the model save path. Keys with
    a counterpart in ``sag.config`` are mapped onto it; the others are warned about and recorded.
    A Res-VAE config is one of :func:`scautogenome.tl.embed`: run it with
    ``sag.tl.embed(adata, config=sag_config, **adata.uns['sag_io']['embed_args'])``.

    Features files hold samples x features. A first line without numbers is a header (feature
    names; ``"header": true`` in the data loader for a header of numbers such as Entrez ids), a
    first column without numbers holds sample ids; without ids samples are named ``train_0``,
    ``eval_0``, ``test_0``, ... The eval and test files' headers must name the train header's
    features (in any order: their columns are put in the train order). Labels files hold one
    label per line (an extra first line is a header, logged, unless it is a number or a label
    that another line holds) or ``sample id<delimiter>label`` (``id<TAB>label`` or ``id,label``
    lines are joined on the ids whatever the delimiter); ``NA``, ``nan``, empty (an empty line
    of a one-label-per-line file too) and the other missing-value tokens of :func:`read_table`
    are missing labels (NaN). The feature-names file holds one name per line, or, like 10x's ``features.tsv`` (as
    :func:`scanpy.read_10x_mtx` reads it), tab-separated ``id<TAB>name[<TAB>...]`` lines: the
    names come from the second column, the ids go to ``var['feature_ids']``.

    Parameters
    ----------
    config_json
        Path to AutoGenome's JSON configuration.
    label_key
        ``obs`` column of the labels.

    Returns
    -------
    ``(adata, sag_config)``. ``sag_config`` is a dict for :func:`scautogenome.config.load`
    holding only the keys the JSON set (mode, budget, trainer, space): a config of
    :func:`scautogenome.tl.classify`, or for the search mode Res-VAE one of
    :func:`scautogenome.tl.embed`. ``adata`` is samples x features with

    ``obs[label_key]``
        Labels: categorical for classification losses, float for ``mse`` (regression; labels
        that are not numbers are NaN, with a warning). The loss ``auc`` sets
        ``trainer.loss="auc"`` and ``search.metric="roc_auc"`` in ``sag_config`` for labels
        of two classes (``auc`` otherwise has no counterpart in ``sag.tl.classify`` and is
        recorded under ``no_counterpart``); ``mse`` sets ``trainer.loss="mse"``, under which
        ``sag.tl.classify`` predicts the number.
    ``obs['autogenome_split']``
        ``train`` / ``val`` / ``test``: the file each sample came from (``val``: the eval
        file), the values ``sag.tl.classify(split_key='autogenome_split')`` takes.
    ``var_names``
        From the feature-names file (else the features file's header, else ``feature_0``...).
    ``var['feature_ids']``
        Only for a two-column feature-names file: its first column.
    ``uns['sag_io']``
        ``reader``, ``config_path``, ``features_files`` and ``labels_files`` (``{split: path}``),
        ``feature_names_file``, ``delimiter``, ``autogenome_mode``, ``task``
        (classification / regression / auc / embed), ``loss``, ``model_dir``, ``mapped``
        (``{autogenome key: sag config key}``), ``no_counterpart`` (``{key: JSON value or
        reason}``), ``unknown_keys``, ``sag_config`` (JSON text) and ``name``; for Res-VAE
        also ``embed_args``, the arguments of :func:`scautogenome.tl.embed` the JSON sets
        (``n_latent`` from its latent size, ``likelihood="mse"`` from the loss ``mse``).

    Raises
    ------
    ValueError
        Invalid JSON, no training features file, unknown search mode, files whose rows, labels
        and names disagree (naming both files), ragged or non-numeric features (file and line),
        duplicate sample ids, or a mapped value that ``sag.config`` rejects (naming the JSON's
        key and the sag key it maps onto).
    """
    import anndata as ad
    import scipy.sparse as sp

    from .. import config as sag_config_module

    path = _parse.check_exists(config_json, "AutoGenome config")
    try:
        with _parse.decoded(path, "AutoGenome config"):
            raw = json.loads(path.read_text(encoding="utf-8-sig"))  # a BOM (Windows editors) too
    except json.JSONDecodeError as err:
        msg = f"AutoGenome config {_parse.where(path, err.lineno)}: not valid JSON: {err.msg}."
        raise ValueError(msg) from err
    if not isinstance(raw, dict):
        msg = f"AutoGenome config {_parse.where(path)}: the top level must be a JSON object."
        raise ValueError(msg)
    src = repr(str(path))
    reading = _Reading(src)
    reading.walk(raw)
    vals = reading.values
    base = path.parent

    def file_of(canon: str) -> Path | None:
        if ("data_loader", canon) not in vals:
            return None
        p = Path(str(vals[("data_loader", canon)][1])).expanduser()
        return p if p.is_absolute() else base / p

    where, sep = vals.get(("data_loader", "delimiter"), (None, None))
    delimiter = None
    if sep is not None:
        from ._parse import DELIMITERS
        from ._parse import delimiter as one_character

        try:
            delimiter = one_character(str(sep))
        except ValueError:
            msg = (
                f"AutoGenome config {src}: {where}={sep!r} is not one character nor one of "
                f"{sorted(DELIMITERS)}."
            )
            raise ValueError(msg) from None
    header: bool | str = "auto"
    if ("data_loader", "header") in vals:
        where, value = vals[("data_loader", "header")]
        ok = isinstance(value, (bool, int, float, str))
        header = _BOOLEANS.get(_norm(value) if isinstance(value, str) else value) if ok else None
        if header is None:
            msg = f"AutoGenome config {src}: {where}={value!r} is not true or false."
            raise ValueError(msg)
    if file_of("train_data") is None:
        msg = (
            f"AutoGenome config {src}: no training features file (data_loader.train_data_path "
            "or one of its aliases)."
        )
        raise ValueError(msg)
    loss_value = vals.get(("loss", "loss"), (None, "cross_entropy"))[1]
    task = LOSS_MAP.get(_norm(loss_value))
    if task is None:
        msg = f"AutoGenome config {src}: loss {loss_value!r} is not one of {sorted(LOSS_MAP)}."
        raise ValueError(msg)
    sag_cfg, mapped, unmapped, embed_args = _to_sag_config(reading)
    ag_mode = vals.get(("search", "mode"), (None, ""))[1]
    if sag_cfg["mode"] == "resvae":
        task = "embed"

    blocks, obs_frames, names = [], [], None
    features_files: dict[str, str] = {}
    labels_files: dict[str, str] = {}
    name_source = name_split = None
    not_numbers: list[tuple[str, Path, int | None]] = []  # regression labels read as NaN
    for split in ("train", "eval", "test"):
        fpath = file_of(f"{split}_data")
        if fpath is None:
            if file_of(f"{split}_labels") is not None:
                unmapped[vals[("data_loader", f"{split}_labels")][0]] = f"no {split} features file"
            continue
        X, ids, columns = _read_features(fpath, delimiter, split, header)
        n = X.shape[0]
        if columns is not None and names is not None:
            X = _align_columns(
                X, columns, names, f"{split} features file {str(fpath)!r}", name_split, name_source
            )
        if blocks and X.shape[1] != blocks[0].shape[1]:
            msg = (
                f"AutoGenome {split} features file {str(fpath)!r} has {X.shape[1]} columns, the "
                f"train features file {features_files['train']!r} has {blocks[0].shape[1]}."
            )
            raise ValueError(msg)
        if columns is not None and names is None:
            names, name_source, name_split = columns, str(fpath), split
        sample_ids = ids if ids is not None else [f"{split}_{i}" for i in range(n)]
        lpath = file_of(f"{split}_labels")
        obs = pd.DataFrame(index=pd.Index(sample_ids))
        if lpath is not None:
            labels, lines = _read_labels(
                lpath, delimiter, n, ids, fpath, split, columns is not None
            )
            obs[label_key] = labels.to_numpy()
            labels_files[split] = str(lpath)
            if task == "regression":
                not_numbers += [
                    (v, lpath, ln)
                    for v, ln in zip(labels, lines, strict=True)
                    if isinstance(v, str) and not _parse.is_number(v)
                ]
        else:
            obs[label_key] = np.nan
            if split == "train" and task != "embed":
                warnings.warn(
                    f"AutoGenome config {src}: no labels file for the training features.",
                    UserWarning,
                    stacklevel=user_stacklevel(),
                )
        obs["autogenome_split"] = SPLITS[split]
        blocks.append(X)
        obs_frames.append(obs)
        features_files[split] = str(fpath)
    obs = pd.concat(obs_frames)
    dups = _duplicates(obs.index.tolist())
    if dups:
        msg = f"AutoGenome features files {list(features_files.values())}: duplicate sample id {dups[0]!r}."
        raise ValueError(msg)
    n_features = blocks[0].shape[1]
    names_path = file_of("feature_names")
    feature_ids = None
    if names_path is not None:
        from_file, feature_ids = _read_feature_names(
            names_path, delimiter, n_features, Path(features_files["train"])
        )
        if names is not None and names != from_file:
            warnings.warn(
                f"AutoGenome: the header of {name_source!r} differs from feature names file "
                f"{str(names_path)!r}; using the feature names file.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        names = from_file
    if names is None:
        names = [f"feature_{j}" for j in range(n_features)]
    if any(sp.issparse(b) for b in blocks):
        X = sp.vstack([sp.csr_matrix(b) for b in blocks], format="csr")
    else:
        X = np.vstack(blocks)
    if task == "regression":
        obs[label_key] = pd.to_numeric(obs[label_key], errors="coerce")
        if obs[label_key].isna().all():
            msg = f"AutoGenome config {src}: loss {loss_value!r} needs numeric labels."
            raise ValueError(msg)
        if not_numbers:
            value, lpath, line = not_numbers[0]
            warnings.warn(
                f"AutoGenome config {src}: loss {loss_value!r} needs numeric labels; "
                f"{len(not_numbers)} label(s) are not numbers and are read as missing (NaN), "
                f"the first {value!r} in {_parse.where(lpath, line)}.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
    else:
        obs[label_key] = _h5ad_column(obs[label_key])
    obs["autogenome_split"] = pd.Categorical(
        obs["autogenome_split"],
        categories=[SPLITS[s] for s in SPLITS if s in features_files],
    )
    var = pd.DataFrame(index=pd.Index(names))
    if feature_ids is not None:
        var["feature_ids"] = feature_ids
    with warnings.catch_warnings():  # repeated names are made unique below, and said so
        warnings.filterwarnings("ignore", message="Variable names are not unique")
        adata = ad.AnnData(X=X, obs=obs, var=var)
    if _duplicates(names):
        warnings.warn(
            f"AutoGenome: feature names repeat (e.g. {_duplicates(names)[:3]}); made unique.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
        adata.var_names_make_unique()
    n_label_classes = adata.obs[label_key].nunique() if task == "auc" else 0
    if n_label_classes == 2:  # the paper's loss for imbalanced binary tasks, judged by ROC AUC
        sag_cfg["trainer"] = {**sag_cfg.get("trainer", {}), "loss": "auc"}
        sag_cfg["search"] = {**sag_cfg.get("search", {}), "metric": "roc_auc"}
    if task == "regression":  # the paper's squared error: classify predicts the number
        sag_cfg["trainer"] = {**sag_cfg.get("trainer", {}), "loss": "mse"}
    try:
        sag_config_module.load(sag_cfg)
    except ValueError as err:
        raise ValueError(_invalid_mapping(src, err, mapped, vals)) from err
    if sag_cfg["mode"] == "rrfcn":
        _warn_rrfcn_capped(src, sag_cfg, mapped, adata.n_vars)
    if task == "embed" and ("loss", "loss") in vals:
        # the paper's Res-VAE loss is the squared error: embed's likelihood "mse"; the others
        # have no reconstruction loss of sag.tl.embed
        if LOSS_MAP[_norm(loss_value)] == "regression":
            embed_args["likelihood"] = "mse"
        else:
            unmapped[vals[("loss", "loss")][0]] = (
                f"loss {loss_value!r} has no counterpart in sag.tl.embed (its likelihood= "
                "takes mse, gaussian, nb or zinb; default auto)"
            )
    elif ("loss", "loss") in vals and LOSS_MAP[_norm(loss_value)] not in (
        "classification",
        "regression",
    ):
        why = (
            f"is for a binary task and these labels have {n_label_classes} class(es)"
            if n_label_classes
            else f"has no counterpart (recorded as task {task!r})"
        )
        if n_label_classes != 2:
            unmapped[vals[("loss", "loss")][0]] = (
                f"sag.tl.classify trains with cross-entropy; loss {loss_value!r} {why}"
            )
    runtime = {}
    for where, value in reading.no_counterpart.items():
        if _norm(where.rsplit(".", 1)[-1]) in RUNTIME_KEYS:
            runtime[where] = value
        elif _norm(where.rsplit(".", 1)[-1]) in SEED_KEYS:
            unmapped.setdefault(
                where,
                f"not used: sag takes its seed as seed= (--seed; default 0), which also draws "
                f"its split (value {value})",
            )
        else:
            unmapped.setdefault(where, f"no counterpart in sag (value {value})")
    if runtime:
        logger.info(
            "AutoGenome config %s: settings of the machine not used (sag picks its own threads "
            "and device: sag.settings.n_threads, device=): %s",
            src,
            ", ".join(f"{k} {v}" for k, v in runtime.items()),
        )
    if unmapped:
        warnings.warn(
            f"AutoGenome config {src}: keys not mapped onto sag.config: "
            + "; ".join(f"{k}: {v}" for k, v in unmapped.items()),
            UserWarning,
            stacklevel=user_stacklevel(),
        )
    if reading.unknown:
        warnings.warn(
            f"AutoGenome config {src}: unknown keys {reading.unknown} (not read; kept in "
            "uns['sag_io']['unknown_keys']).",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
    model_dir = vals.get(("save", "model_dir"), (None, ""))[1]
    if model_dir:
        mapped[vals[("save", "model_dir")][0]] = "uns.sag_io.model_dir"
    for canon in (
        "train_data",
        "train_labels",
        "eval_data",
        "eval_labels",
        "test_data",
        "test_labels",
        "feature_names",
        "delimiter",
        "header",
    ):
        # a labels file without its features file is not read (in no_counterpart)
        if ("data_loader", canon) in vals and vals[("data_loader", canon)][0] not in unmapped:
            mapped.setdefault(vals[("data_loader", canon)][0], f"read ({canon})")
    if ("loss", "loss") in vals and vals[("loss", "loss")][0] not in unmapped:
        mapped[vals[("loss", "loss")][0]] = (
            "trainer.loss (auc), search.metric (roc_auc)"
            if n_label_classes == 2
            else "trainer.loss (mse)"
            if task == "regression"
            else "likelihood (mse; uns['sag_io']['embed_args'])"
            if task == "embed"
            else f"task ({task})"
        )
    adata.uns[IO_KEY] = {
        "reader": "read_autogenome",
        "config_path": recorded_path(path),
        "name": reading.meta.get("name", ""),
        "features_files": {split: recorded_path(f) for split, f in features_files.items()},
        "labels_files": {split: recorded_path(f) for split, f in labels_files.items()},
        "feature_names_file": "" if names_path is None else recorded_path(names_path),
        "delimiter": "" if delimiter is None else delimiter,
        "autogenome_mode": str(ag_mode),
        "task": task,
        "loss": str(loss_value),
        "model_dir": recorded_path(str(model_dir)),
        "mapped": _h5_keys(mapped),
        "no_counterpart": _h5_keys(
            {
                **{
                    k: f"a setting of the machine, not used (value {v})" for k, v in runtime.items()
                },
                **unmapped,
            }
        ),
        "unknown_keys": np.asarray(reading.unknown, dtype=str),
        "sag_config": json.dumps(sag_cfg, sort_keys=True),
    }
    if task == "embed":
        adata.uns[IO_KEY]["embed_args"] = embed_args
    logger.info(
        f"read_autogenome: {adata.n_obs} samples x {adata.n_vars} features "
        f"({', '.join(f'{k}: {v}' for k, v in adata.obs['autogenome_split'].value_counts().items())}); "
        f"mode {sag_cfg['mode']!r}"
    )
    return adata, sag_cfg
