"""The classifier a user touches: fit / predict / predict_proba / save / load."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np
from scipy.special import log_softmax

from .._settings import keep_python_rng, keep_torch_rng, resolve_seed
from ..data import prepare_labelled
from ..train import TrainParams, check_metric, train_classifier
from ._base import doc_query_params, named_twice
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
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``; default :attr:`scautogenome.settings.device`.

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
    n_threads_
        torch's CPU threads its weights were trained on: a seed gives the same weights again at
        this thread count and device (None for a model saved before it was recorded).
    trained_with_
        The versions of scautogenome, torch, scanpy... that trained it (``model.json``'s
        ``trained_with``, kept through a load and a save; its ``versions`` are the writer's;
        ``{}`` where a saved model recorded none).
    """

    _model_name = "Classifier"

    # -- what differs from the Res-VAE (see BaseModel) -----------------------------------------
    def _set_extras(self, *, classes) -> None:
        self.classes_ = np.asarray(classes, dtype=str)

    def _extra_meta(self) -> dict:
        return {"classes": self.classes_.tolist()}

    _extra_entries: ClassVar[dict[str, type]] = {"classes": list}  # of model.json, checked by load

    @classmethod
    def _extras_from_meta(cls, meta: dict) -> dict:
        return {"classes": meta["classes"]}

    @classmethod
    def _meta_problems(cls, meta: dict) -> list[str]:
        problems = super()._meta_problems(meta)
        classes = meta["classes"]
        n_outputs = meta["architecture"].get("n_outputs")
        if isinstance(n_outputs, int) and len(classes) != n_outputs:
            problems.append(
                f"its {len(classes)} classes are not the {n_outputs} outputs of its network"
            )
        return problems + named_twice(classes, "classes")

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
        """Train this fixed architecture on ``adata`` (no search).

        The cells are split as :func:`~scautogenome.tl.classify` splits them (seeded,
        stratified 8:1:1, ``group_key`` included: by default a TCGA patient's samples in one
        part); the network trains on the train part and the validation part picks its epoch.
        The test part is not used: ``fit`` evaluates nothing. Nothing is written into
        ``adata``; every error is raised before any training.

        Parameters
        ----------
        adata
            Cells (or samples) x genes, with the labels in ``obs``. ``X`` or ``layer`` may be
            dense or sparse, as for :func:`~scautogenome.tl.classify`; a view is accepted.
        labels_key
            Column of ``adata.obs`` with the classes. Cells with a missing label are not
            trained on.
        layer
            Use ``adata.layers[layer]`` instead of ``adata.X`` (the model remembers it as
            :attr:`layer_` and reads it by default at inference).
        split_key
            Column of ``adata.obs`` with ``train``/``val``/``test`` values to use instead of
            the seeded split (without ``val`` cells, a ninth of each class's train cells is
            drawn as ``val``, logged; its test cells stay held out).
        group_key
            Cells that share a value here stay in one part of the seeded split. ``"auto"``
            (default): the TCGA patient (``TCGA-XX-XXXX``) of samples named by TCGA barcodes
            (and the GTEx donor of GTEx samples beside them); else the ``obs_name`` where
            labelled cells share one; no groups otherwise. A column of ``adata.obs``, or
            None to split cells one by one. As ``group_key`` of
            :func:`~scautogenome.tl.classify`.
        value_type
            What ``X`` (or ``layer``) holds: ``"auto"`` (detect), ``"counts"`` (normalized to
            1e4 per cell + log1p), ``"normalized"`` (unlogged TPM/FPKM/RSEM: log1p),
            ``"binary"`` (0/1, used as it is) or ``"continuous"`` (already transformed). Every
            gene is then scaled to 0-1 with the train part's min/max.
        min_cells_per_class
            Leave classes with fewer cells (a whole number, 0 or more) out of training.
            Without it, a class too small for the seeded split (fewer than 3 cells) is an
            error; with ``split_key`` classes of any size train.
        metric
            Validation metric that picks the epoch (early stopping and the weights kept):
            ``"macro_f1"`` (default), ``"accuracy"``, ``"balanced_accuracy"``,
            ``"weighted_f1"``, ``"roc_auc"`` or ``"average_precision"``. Default
            ``"roc_auc"`` with the AUC loss (``train_params={"loss": "auc"}``).
        seed
            Seed of the split, the network's initial weights and the training; default
            ``sag.settings.seed``.

        Returns
        -------
        ``self``, trained: :attr:`module_`, :attr:`classes_`, :attr:`var_names_`,
        :attr:`transform_`, :attr:`history_` and the other fitted attributes are set, and
        :attr:`split_`: the part of every cell of ``adata`` (a categorical Series over its
        ``obs_names``: ``"train"``, ``"val"``, ``"test"``, ``"none"`` for a cell not used),
        so that the test cells can be scored (``adata[model.split_ == "test"]``). It is not
        kept by :meth:`save`.
        """
        architecture = self._given_architecture()  # before any data is read
        seed = resolve_seed(seed)
        params, device = self._fit_params(TrainParams)  # settings and device, before the data
        if metric is None:
            metric = "roc_auc" if params.loss == "auc" else "macro_f1"
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
        net = self._fit_setup(arch, seed, data)
        res = self._train(
            train_classifier,
            net,
            data,
            params,
            device,
            metric=metric,
            seed=seed,
            codes=data.codes,
            n_classes=data.n_classes,
        )
        names = adata.obs_names
        return self._fit_done(arch, data, params, res, obs_names=names, classes=data.classes)

    # -- inference ------------------------------------------------------------------------------
    @doc_query_params
    def predict_proba(
        self,
        data,
        *,
        layer: str | None = None,
        batch_size: int = 1024,
        min_gene_overlap: float = 0.5,
    ) -> np.ndarray:
        """Class probabilities of the cells of ``data``.

        Parameters
        ----------
        {query_params}

        Returns
        -------
        n_obs x n_classes float32 array, columns in :attr:`classes_` order; each row sums
        to 1.
        """
        return np.exp(
            self.predict_log_proba(
                data, layer=layer, batch_size=batch_size, min_gene_overlap=min_gene_overlap
            )
        ).astype(np.float32)

    @doc_query_params
    def predict_log_proba(
        self,
        data,
        *,
        layer: str | None = None,
        batch_size: int = 1024,
        min_gene_overlap: float = 0.5,
    ) -> np.ndarray:
        """Logarithms of the class probabilities (:meth:`predict_proba` is their exponential).

        Parameters
        ----------
        {query_params}

        Returns
        -------
        n_obs x n_classes float64 array, columns in :attr:`classes_` order.
        """
        logits = self.decision_function(
            data, layer=layer, batch_size=batch_size, min_gene_overlap=min_gene_overlap
        )
        return log_softmax(logits.astype(np.float64), axis=1)

    @doc_query_params
    def decision_function(
        self,
        data,
        *,
        layer: str | None = None,
        batch_size: int = 1024,
        min_gene_overlap: float = 0.5,
    ) -> np.ndarray:
        """The network's logits, whose softmax is :meth:`predict_proba`.

        :func:`sag.train.log_odds <scautogenome.train.log_odds>` of them ranks cells by a
        class without the ties probabilities have among cells the model is sure of (ROC AUC,
        average precision).

        Parameters
        ----------
        {query_params}

        Returns
        -------
        n_obs x n_classes float32 array, columns in :attr:`classes_` order.
        """
        return self._outputs(
            data, layer=layer, batch_size=batch_size, min_gene_overlap=min_gene_overlap
        )

    @doc_query_params
    def predict(
        self,
        data,
        *,
        layer: str | None = None,
        batch_size: int = 1024,
        min_gene_overlap: float = 0.5,
    ) -> np.ndarray:
        """Predicted class of each cell of ``data``: the most probable one.

        Parameters
        ----------
        {query_params}

        Returns
        -------
        Array of n_obs class names (strings, as in :attr:`classes_`).
        """
        log_proba = self.predict_log_proba(
            data, layer=layer, batch_size=batch_size, min_gene_overlap=min_gene_overlap
        )
        return self.classes_[log_proba.argmax(1)]
