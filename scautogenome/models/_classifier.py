"""The classifier a user touches: fit / predict / predict_proba / save / load."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .._settings import logger, settings
from ..data import (
    BatchLoader,
    InputTransform,
    as_csr_or_dense,
    check_adata,
    check_finite,
    gene_alignment,
    get_matrix,
    prepare_labelled,
    value_stats,
)
from ..nn import build_network, count_parameters
from ..train import TrainParams, predict_logits, resolve_device, train_classifier
from ._base import check_is_fitted, read_model_dir, write_model_dir

if TYPE_CHECKING:
    from anndata import AnnData


class Classifier:
    """A trained AutoGenome classifier (MLP, RFCN-ResNet, RFCN-DenseNet or RRFCN).

    Usually returned by :func:`scautogenome.tl.classify`. It can also be built for one fixed
    architecture and trained with :meth:`fit` (no search).

    Parameters
    ----------
    architecture
        Architecture dict (``kind`` and its keys, see :func:`scautogenome.nn.build_network`);
        ``n_inputs``/``n_outputs`` are filled in by :meth:`fit`.
    train_params
        Keyword arguments of :class:`scautogenome.train.TrainParams`.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``; default :attr:`scautogenome.settings.device`.

    Attributes
    ----------
    module_
        The trained torch network.
    classes_
        Class names, in the order of the probability columns.
    var_names_
        The genes the model was trained on, in input order.
    transform_
        The fitted :class:`~scautogenome.data.InputTransform`.
    architecture_, train_params_, history_, config_
        What was trained and how (JSON-serialisable).
    """

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

    # -- construction from parts (search, load) --------------------------------------------
    @classmethod
    def _from_parts(
        cls,
        *,
        architecture: dict,
        state_dict: dict,
        classes,
        var_names,
        transform: InputTransform,
        train_params: dict,
        history: list | None = None,
        config: dict | None = None,
        device: str | None = None,
    ) -> Classifier:
        self = cls(architecture=architecture, train_params=train_params, device=device)
        self.architecture_ = copy.deepcopy(architecture)
        self.train_params_ = dict(train_params)
        self.classes_ = np.asarray(classes, dtype=str)
        self.var_names_ = np.asarray(var_names, dtype=str)
        self.transform_ = transform
        self.history_ = list(history or [])
        self.config_ = config or {}
        self.device_ = resolve_device(device)
        module = build_network(self.architecture_)
        module.load_state_dict(state_dict)
        self.module_ = module.to(self.device_).eval()
        return self

    # -- training without search --------------------------------------------------------------
    def fit(
        self,
        adata: AnnData,
        labels_key: str,
        *,
        layer: str | None = None,
        split_key: str | None = None,
        value_type: str = "auto",
        min_cells_per_class: int | None = None,
        metric: str = "macro_f1",
        seed: int | None = None,
    ) -> Classifier:
        """Train this fixed architecture on ``adata`` (split as :func:`~scautogenome.tl.classify`
        does); returns ``self``. Nothing is written into ``adata``."""
        if self.architecture is None:
            msg = "Classifier.fit needs an architecture dict, e.g. {'kind': 'mlp', 'units': [256]}."
            raise ValueError(msg)
        seed = settings.seed if seed is None else seed
        data = prepare_labelled(
            adata,
            labels_key,
            layer=layer,
            split_key=split_key,
            value_type=value_type,
            min_cells_per_class=min_cells_per_class,
            seed=seed,
        )
        arch = {**self.architecture, "n_inputs": data.X.shape[1], "n_outputs": data.n_classes}
        params = TrainParams(**(self.train_params or {}))
        device = resolve_device(self.device)
        torch.manual_seed(seed)
        net = build_network(arch)
        res = train_classifier(
            net,
            X=data.X,
            codes=data.codes,
            train_rows=data.rows("train"),
            val_rows=data.rows("val"),
            n_classes=data.n_classes,
            transform=data.transform.to_torch(device),
            params=params,
            metric=metric,
            device=device,
            seed=seed,
        )
        fitted = Classifier._from_parts(
            architecture=arch,
            state_dict=res.state_dict,
            classes=data.classes,
            var_names=data.var_names,
            transform=data.transform,
            train_params=params.__dict__,
            history=res.history,
            device=self.device,
        )
        self.__dict__.update({k: v for k, v in fitted.__dict__.items() if k.endswith("_")})
        return self

    # -- inference ------------------------------------------------------------------------------
    def _input(self, data, layer: str | None, min_gene_overlap: float):
        """Matrix + gene mapping for ``data`` (AnnData matched by gene name, or an array)."""
        from anndata import AnnData

        if isinstance(data, AnnData):
            check_adata(data, writes=False)
            X = get_matrix(data, layer)
            report = self.gene_overlap(data.var_names, min_gene_overlap=min_gene_overlap)
            src, dst, n_model = gene_alignment(data.var_names, self.var_names_)
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
            col_map, report = None, None
        where = "the query matrix"
        check_finite(X, where)
        if self.transform_.value_type in ("counts", "normalized") and value_stats(X)["min"] < 0:
            msg = (
                f"The model was trained on {self.transform_.value_type} values (raw counts or "
                f"TPM/FPKM) but {where} has negative values; pass the same kind of values "
                "(e.g. layer='counts')."
            )
            raise ValueError(msg)
        return X, col_map, report

    def gene_overlap(
        self, query_genes, *, min_gene_overlap: float = 0.5, warn: bool = True
    ) -> dict:
        """How many of the model's genes the query has; raises below ``min_gene_overlap``.

        With ``warn``, a partial overlap (missing genes are zero-filled) is logged as a warning.
        """
        check_is_fitted(self)
        q = np.asarray(query_genes, dtype=str)
        n_model = len(self.var_names_)
        n_common = int(np.isin(self.var_names_, q).sum())
        frac = n_common / n_model
        report = {
            "n_model_genes": n_model,
            "n_query_genes": len(q),
            "n_common": n_common,
            "fraction_of_model_genes": float(frac),
            "n_missing_zero_filled": n_model - n_common,
        }
        if n_common == 0:
            msg = (
                f"The query shares no gene with the model ({len(q)} query genes, {n_model} model "
                f"genes; e.g. model genes {list(self.var_names_[:3])}, query genes {list(q[:3])})."
                " Check that both use the same gene identifiers (symbols vs Ensembl ids)."
            )
            raise ValueError(msg)
        if frac < min_gene_overlap:
            msg = (
                f"The query has only {n_common} of the model's {n_model} genes ({frac:.1%}), below "
                f"min_gene_overlap={min_gene_overlap}. Lower min_gene_overlap to predict anyway."
            )
            raise ValueError(msg)
        if warn and n_common < n_model:
            logger.warning(
                "query has %d of the model's %d genes (%.1f%%); %d missing genes are set to 0.",
                n_common,
                n_model,
                100 * frac,
                n_model - n_common,
            )
        return report

    def _loader(self, X, col_map, batch_size: int) -> BatchLoader:
        return BatchLoader(
            X,
            np.arange(X.shape[0]),
            None,
            batch_size=batch_size,
            transform=self.transform_.to_torch(self.device_),
            device=self.device_,
            col_map=col_map,
        )

    def predict_proba(
        self,
        data,
        *,
        layer: str | None = None,
        batch_size: int = 1024,
        min_gene_overlap: float = 0.5,
    ) -> np.ndarray:
        """Class probabilities (n_obs x n_classes, columns in :attr:`classes_` order).

        ``data`` is an AnnData (genes matched by name, missing ones zero-filled) or a matrix
        with the model's genes in order.
        """
        check_is_fitted(self)
        X, col_map, _ = self._input(data, layer, min_gene_overlap)
        logits = predict_logits(self.module_, self._loader(X, col_map, batch_size), self.device_)
        return torch.softmax(torch.from_numpy(logits), dim=1).numpy()

    def predict(
        self,
        data,
        *,
        layer: str | None = None,
        batch_size: int = 1024,
        min_gene_overlap: float = 0.5,
    ) -> np.ndarray:
        """Predicted class names."""
        proba = self.predict_proba(
            data, layer=layer, batch_size=batch_size, min_gene_overlap=min_gene_overlap
        )
        return self.classes_[proba.argmax(1)]

    # -- persistence ----------------------------------------------------------------------------
    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Save weights (``model.pt``) and everything else as JSON (``model.json``)."""
        check_is_fitted(self)
        meta = {
            "model": "Classifier",
            "architecture": self.architecture_,
            "train_params": self.train_params_,
            "transform": self.transform_.to_dict(),
            "classes": self.classes_.tolist(),
            "var_names": self.var_names_.tolist(),
            "config": self.config_,
            "history": self.history_,
        }
        tensors = {f"net.{k}": v for k, v in self.module_.state_dict().items()}
        tensors.update(
            {k: torch.from_numpy(np.asarray(v)) for k, v in self.transform_.arrays().items()}
        )
        return write_model_dir(path, meta, tensors, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | Path, *, device: str | None = None) -> Classifier:
        """Load a model saved with :meth:`save` (no pickled objects are read)."""
        meta, tensors = read_model_dir(path, "Classifier")
        state = {k[4:]: v for k, v in tensors.items() if k.startswith("net.")}
        arrays = {k: v.numpy() for k, v in tensors.items() if not k.startswith("net.")}
        return cls._from_parts(
            architecture=meta["architecture"],
            state_dict=state,
            classes=meta["classes"],
            var_names=meta["var_names"],
            transform=InputTransform.from_dict(meta["transform"], arrays),
            train_params=meta["train_params"],
            history=meta.get("history"),
            config=meta.get("config"),
            device=device,
        )

    def __repr__(self) -> str:
        if self.module_ is None:
            return f"Classifier(architecture={self.architecture!r}, untrained)"
        return (
            f"Classifier({self.architecture_['kind']}, {len(self.var_names_)} genes -> "
            f"{len(self.classes_)} classes, {count_parameters(self.module_):,} parameters, "
            f"device={self.device_})"
        )
