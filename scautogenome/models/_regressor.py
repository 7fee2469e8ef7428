"""The model of a numeric target a user touches: fit / predict / save / load."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._settings import keep_python_rng, keep_torch_rng, resolve_seed
from ..data import prepare_labelled
from ..train import TrainParams, check_metric, task_objective, train_regressor
from ._supervised import SupervisedModel

if TYPE_CHECKING:
    from anndata import AnnData


class Regressor(SupervisedModel):
    """A trained AutoGenome network that predicts a numeric target (MLP, RFCN-ResNet,
    RFCN-DenseNet or RRFCN with one output), trained with the paper's mean squared error.

    Returned by :func:`scautogenome.tl.classify` for a numeric label column (``task=
    "regression"``, or ``"auto"`` on a numeric column of many values). It can also be built
    for one fixed architecture and trained with :meth:`fit` (no search).

    Parameters
    ----------
    architecture
        Architecture dict (``kind`` and its keys, see :func:`scautogenome.nn.build_network`);
        ``n_inputs``/``n_outputs`` are filled in by :meth:`fit`.
    train_params
        Keyword arguments of :class:`scautogenome.train.TrainParams` (``loss`` is ``"mse"``).
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``; default :attr:`scautogenome.settings.device`.

    Attributes
    ----------
    module_
        The trained torch network; its one output is the target, in the target's units.
    target_
        Name of the target (the ``obs`` column it was trained on).
    classes_
        ``[target_]``: the name of the one output, where a classifier has its classes
        (:func:`~scautogenome.tl.explain` names its columns by it).
    var_names_, transform_, architecture_, train_params_, history_, config_, layer_
        As :class:`~scautogenome.models.Classifier`'s. The losses in ``history_`` are on the
        standardized target (a validation loss of 1 is what predicting the mean scores).
    """

    _model_name = "Regressor"
    # its outputs are in the target's units: float32 on GPU too (see predict_logits)
    _mixed_inference = False

    # -- what differs from the Classifier (see BaseModel) --------------------------------------
    def _set_extras(self, *, target) -> None:
        self.target_ = str(target)
        self.classes_ = np.asarray([self.target_], dtype=str)

    def _extra_meta(self) -> dict:
        return {"target": self.target_}

    @classmethod
    def _extras_from_meta(cls, meta: dict) -> dict:
        return {"target": meta["target"]}

    def _describe(self) -> str:
        return f"{self.architecture_['kind']}, {len(self.var_names_)} genes -> {self.target_!r}"

    # -- training without search --------------------------------------------------------------
    @keep_torch_rng()  # the user's next torch.rand draws as it would have without fit
    @keep_python_rng()  # and random.random()
    def fit(
        self,
        adata: AnnData,
        target_key: str,
        *,
        layer: str | None = None,
        split_key: str | None = None,
        group_key: str | None = "auto",
        value_type: str = "auto",
        metric: str = "r2",
        seed: int | None = None,
    ) -> Regressor:
        """Train this fixed architecture on the numeric ``obs[target_key]`` (split as
        :func:`~scautogenome.tl.classify` splits a numeric target: stratified on quantile bins
        of its values, ``group_key`` as there; cells without a value are not used); returns
        ``self``. Nothing is
        written into ``adata``. ``metric`` (``"r2"``, ``"pearson"`` or ``"spearman"``)
        judges the epochs (early stopping)."""
        architecture = self._given_architecture()  # before any data is read
        seed = resolve_seed(seed)
        check_metric(metric, "regression")
        data = prepare_labelled(
            adata,
            target_key,
            layer=layer,
            split_key=split_key,
            group_key=group_key,
            value_type=value_type,
            seed=seed,
            writes=False,
            task="regression",
        )
        arch = {**architecture, "n_inputs": data.X.shape[1], "n_outputs": 1}

        def params_class(**kw):  # the loss it trains with, "mse", whatever was given
            loss, _ = task_objective("regression", kw.get("loss", "mse"), metric)
            return TrainParams(**{**kw, "loss": loss})

        params, device, net = self._fit_setup(arch, params_class, seed)
        res = train_regressor(
            net,
            X=data.X,
            y=data.y,
            train_rows=data.rows("train"),
            val_rows=data.rows("val"),
            transform=data.transform.to_torch(device),
            params=params,
            metric=metric,
            device=device,
            seed=seed,
        )
        return self._fit_done(arch, data, params, res, target=target_key)

    # -- inference ------------------------------------------------------------------------------
    def predict(
        self,
        data,
        *,
        layer: str | None = None,
        batch_size: int = 1024,
        min_gene_overlap: float = 0.5,
    ) -> np.ndarray:
        """Predicted values of the target (n_obs, float64, in its units).

        ``data`` is an AnnData or a DataFrame with genes as named columns (genes matched by
        name, missing ones set to their training mean), or a matrix with the model's genes in
        order. ``layer``: ``adata.layers[layer]``; None reads the layer the model was trained
        on where the AnnData has it, else ``adata.X``.
        """
        out = self._outputs(
            data, layer=layer, batch_size=batch_size, min_gene_overlap=min_gene_overlap
        )
        return out[:, 0].astype(np.float64)
