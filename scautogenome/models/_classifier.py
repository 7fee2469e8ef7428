"""The classifier a user touches: fit / predict / predict_proba / save / load."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.special import log_softmax

from .._settings import keep_python_rng, keep_torch_rng, resolve_seed
from ..data import prepare_labelled
from ..train import TrainParams, check_metric, train_classifier
from ._supervised import SupervisedModel

if TYPE_CHECKING:
    from anndata import AnnData


class Classifier(SupervisedModel):
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
        Class names, in the order of the probability columns, always as strings: a label
        column of integers, booleans or floats gives ``"0"``, ``"True"``, ``"1.0"`` (compare
        with ``labels.astype(str)``).
    var_names_
        The genes the model was trained on, in input order.
    transform_
        The fitted :class:`~scautogenome.data.InputTransform`.
    architecture_, train_params_, history_, config_
        What was trained and how (JSON-serialisable).
    layer_
        The layer it was trained on (None: ``X``), read by default where an AnnData has it.
    """

    _model_name = "Classifier"

    # -- what differs from the Res-VAE (see BaseModel) -----------------------------------------
    def _set_extras(self, *, classes) -> None:
        self.classes_ = np.asarray(classes, dtype=str)

    def _extra_meta(self) -> dict:
        return {"classes": self.classes_.tolist()}

    @classmethod
    def _extras_from_meta(cls, meta: dict) -> dict:
        return {"classes": meta["classes"]}

    def _describe(self) -> str:
        return (
            f"{self.architecture_['kind']}, {len(self.var_names_)} genes -> "
            f"{len(self.classes_)} classes"
        )

    # -- training without search --------------------------------------------------------------
    @keep_torch_rng()  # the user's next torch.rand draws as it would have without fit
    @keep_python_rng()  # and random.random()
    def fit(
        self,
        adata: AnnData,
        labels_key: str,
        *,
        layer: str | None = None,
        split_key: str | None = None,
        group_key: str | None = "auto",
        value_type: str = "auto",
        min_cells_per_class: int | None = None,
        metric: str | None = None,
        seed: int | None = None,
    ) -> Classifier:
        """Train this fixed architecture on ``adata`` (split as :func:`~scautogenome.tl.classify`
        does, ``group_key`` included: by default a TCGA patient's samples in one part);
        returns ``self``. Nothing is written into ``adata``. ``metric`` judges the epochs
        (early stopping); default ``"macro_f1"``, or ``"roc_auc"`` with the AUC loss
        (``train_params={"loss": "auc"}``)."""
        architecture = self._given_architecture()  # before any data is read
        seed = resolve_seed(seed)
        if metric is None:
            auc = (self.train_params or {}).get("loss") == "auc"
            metric = "roc_auc" if auc else "macro_f1"
        check_metric(metric, "classification")
        data = prepare_labelled(
            adata,
            labels_key,
            layer=layer,
            split_key=split_key,
            group_key=group_key,
            value_type=value_type,
            min_cells_per_class=min_cells_per_class,
            seed=seed,
            writes=False,
        )
        arch = {**architecture, "n_inputs": data.X.shape[1], "n_outputs": data.n_classes}
        params, device, net = self._fit_setup(arch, TrainParams, seed)
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
        return self._fit_done(arch, data, params, res, classes=data.classes)

    # -- inference ------------------------------------------------------------------------------
    def predict_proba(
        self,
        data,
        *,
        layer: str | None = None,
        batch_size: int = 1024,
        min_gene_overlap: float = 0.5,
    ) -> np.ndarray:
        """Class probabilities (n_obs x n_classes, columns in :attr:`classes_` order).

        ``data`` is an AnnData or a DataFrame with genes as named columns (genes matched by
        name, missing ones set to their training mean), or a matrix with the model's genes in
        order. ``layer``: ``adata.layers[layer]``; None reads the layer the model was trained
        on where the AnnData has it (as scvi-tools models remember theirs), else ``adata.X``.
        The other inference methods take the same arguments.
        """
        return np.exp(
            self.predict_log_proba(
                data, layer=layer, batch_size=batch_size, min_gene_overlap=min_gene_overlap
            )
        ).astype(np.float32)

    def predict_log_proba(
        self,
        data,
        *,
        layer: str | None = None,
        batch_size: int = 1024,
        min_gene_overlap: float = 0.5,
    ) -> np.ndarray:
        """Logarithms of the class probabilities (float64; :meth:`predict_proba` is their
        exponential)."""
        logits = self.decision_function(
            data, layer=layer, batch_size=batch_size, min_gene_overlap=min_gene_overlap
        )
        return log_softmax(logits.astype(np.float64), axis=1)

    def decision_function(
        self,
        data,
        *,
        layer: str | None = None,
        batch_size: int = 1024,
        min_gene_overlap: float = 0.5,
    ) -> np.ndarray:
        """The network's logits (n_obs x n_classes, float32), whose softmax is
        :meth:`predict_proba`. :func:`sag.train.log_odds <scautogenome.train.log_odds>` of them
        ranks cells by a class without the ties probabilities have among cells the model is
        sure of (ROC AUC, average precision)."""
        return self._outputs(
            data, layer=layer, batch_size=batch_size, min_gene_overlap=min_gene_overlap
        )

    def predict(
        self,
        data,
        *,
        layer: str | None = None,
        batch_size: int = 1024,
        min_gene_overlap: float = 0.5,
    ) -> np.ndarray:
        """Predicted class names (strings, as :attr:`classes_`)."""
        log_proba = self.predict_log_proba(
            data, layer=layer, batch_size=batch_size, min_gene_overlap=min_gene_overlap
        )
        return self.classes_[log_proba.argmax(1)]
