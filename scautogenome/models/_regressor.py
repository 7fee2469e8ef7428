"""The model of a numeric target a user touches: fit / predict / save / load."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from .._settings import keep_python_rng, keep_torch_rng, resolve_seed
from ..data import prepare_labelled
from ..train import TrainParams, check_metric, target_scale, task_objective, train_regressor
from ._base import doc_query_params, finite_numbers
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
        Keyword arguments of :class:`scautogenome.train.TrainParams` (``loss`` is ``"mse"``;
        ``class_balance`` is ``"none"``: there are no classes, another value is refused).
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``; default :attr:`scautogenome.settings.device`.

    Attributes
    ----------
    module_
        The trained torch network; its one output is the standardized target, which
        :meth:`predict` brings back into the target's units (in float64):
        ``target_mean_ + target_std_ * output``.
    target_
        Name of the target (the ``obs`` column it was trained on).
    target_mean_, target_std_
        Mean and standard deviation of the target on the training cells (0.0 and 1.0 for a
        model saved by an earlier version, whose network outputs the target's units itself).
    classes_
        ``[target_]``: the name of the one output, where a classifier has its classes
        (:func:`~scautogenome.tl.explain` names its columns by it).
    var_names_, transform_, architecture_, train_params_, history_, config_, layer_, n_threads_,
    trained_with_
        As :class:`~scautogenome.models.Classifier`'s. The losses in ``history_`` are on the
        standardized target (a validation loss of 1 is what predicting the mean scores).
    """

    _model_name = "Regressor"
    _marker_tensors_names = ("target_scale",)
    # a value, not a ranking of classes: bfloat16 would keep ~3 digits of it, so float32 on
    # GPU too (see predict_logits)
    _mixed_inference = False

    # -- what differs from the Classifier (see BaseModel) --------------------------------------
    def _set_extras(self, *, target, target_mean: float = 0.0, target_std: float = 1.0) -> None:
        self.target_ = str(target)
        self.classes_ = np.asarray([self.target_], dtype=str)
        self.target_mean_ = float(target_mean)
        self.target_std_ = float(target_std)

    def _extra_meta(self) -> dict:
        return {
            "target": self.target_,
            "target_mean": self.target_mean_,
            "target_std": self.target_std_,
        }

    _extra_entries: ClassVar[dict[str, type]] = {"target": str}  # of model.json, checked by load

    @classmethod
    def _from_parts(cls, *, train_params: dict, **parts) -> Regressor:
        # no classes to balance: what a search or an earlier version recorded ("weights", the
        # default setting) is "none", so that fit (which refuses another) trains it again
        if "class_balance" in train_params:
            train_params = {**train_params, "class_balance": "none"}
        return super()._from_parts(train_params=train_params, **parts)

    @classmethod
    def _extras_from_meta(cls, meta: dict) -> dict:
        # a model saved before the two were kept apart has them folded into its last layer:
        # its network outputs the target's units, which 0.0 and 1.0 leave as they are
        return {
            "target": meta["target"],
            "target_mean": meta.get("target_mean", 0.0),
            "target_std": meta.get("target_std", 1.0),
        }

    @classmethod
    def _marker_problems(cls, meta: dict, markers: dict[str, torch.Tensor]) -> list[str]:
        # a network of the standardized target: the json's 0.0 and 1.0 defaults (of a model
        # saved before the two were kept apart) would give predictions in standard units
        if "target_scale" not in markers:
            return []
        held = dict(zip(("target_mean", "target_std"), markers["target_scale"].tolist()))
        lacking = [k for k in held if k not in meta]
        if lacking:
            return [
                f"it lacks {' and '.join(lacking)}, which model.pt holds "
                f"({', '.join(f'{held[k]:.6g}' for k in lacking)})"
            ]
        try:
            # the same float64 numbers saved twice: any difference is an edit
            other = [k for k in held if float(meta[k]) != held[k]]
        except (TypeError, ValueError, OverflowError):
            return []  # not finite numbers: _meta_problems says so
        if other:
            return [
                f"its {' and '.join(other)} ({', '.join(repr(meta[k]) for k in other)}) "
                f"{'is' if len(other) == 1 else 'are'} not what model.pt holds "
                f"({', '.join(f'{held[k]!r}' for k in other)})"
            ]
        return []

    @classmethod
    def _meta_problems(cls, meta: dict) -> list[str]:
        return super()._meta_problems(meta) + finite_numbers(meta, ("target_mean", "target_std"))

    def _marker_tensors(self) -> dict[str, torch.Tensor]:
        # its network outputs the standardized target: an earlier version, which would read
        # it as the target's units, refuses the folder on this tensor it does not build
        if self._folded():
            return {}
        scale = [self.target_mean_, self.target_std_]
        return {"target_scale": torch.tensor(scale, dtype=torch.float64)}

    def _folded(self) -> bool:
        """Whether the network outputs the target's units itself (a model of an earlier
        version, whose last layer holds the target's mean and standard deviation)."""
        return self.target_mean_ == 0.0 and self.target_std_ == 1.0

    def weights_digest(self) -> str:
        """SHA-1 of the network's weights and buffers and of the target's mean and standard
        deviation (as :meth:`Classifier.weights_digest
        <scautogenome.models.Classifier.weights_digest>`; a model of an earlier version keeps
        the digest its classify run recorded)."""
        digest = super().weights_digest()
        if self._folded():
            return digest
        scale = np.asarray([self.target_mean_, self.target_std_], dtype=np.float64)
        return hashlib.sha1(digest.encode() + scale.tobytes()).hexdigest()

    def _module_in_units(self) -> torch.nn.Module:
        """The network with its output's differences in the target's units, for what takes a
        torch module (:func:`~scautogenome.tl.explain`: SHAP values in the target's units).
        Its output is ``std * output``, without the target's mean: a constant moves no SHAP
        value, and float32 outputs near a mean of 1e8 would keep 8 units of them;
        :meth:`_base_in_units` gives the base value in float64."""
        if self._folded():
            return self.module_
        return _Scaled(self.module_, self.target_std_)

    def _base_in_units(self, background: np.ndarray) -> np.ndarray:
        """The mean prediction on the ``background`` rows (the network's input), in float64 in
        the target's units: :func:`~scautogenome.tl.explain`'s base value, to which a cell's
        SHAP values add up (float32 would keep 8 units of a target near 1e8)."""
        x = torch.as_tensor(np.asarray(background, dtype=np.float32), device=self.device_)
        with torch.no_grad():
            z = self.module_.eval()(x).cpu().double().mean(0).numpy()  # MPS: no float64
        return self._in_units(z)

    def _in_units(self, z: np.ndarray) -> np.ndarray:
        """The network's outputs ``z`` in the target's units, in float64 (a folded model's
        0.0 and 1.0 leave them as they are): far from 0 (a year, an offset of 1e8), float32
        would keep only a few of the digits that tell the cells apart."""
        return self.target_mean_ + self.target_std_ * np.asarray(z, dtype=np.float64)

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
        of its values, ``group_key`` as there; cells without a value are not used). Nothing is
        written into ``adata``.

        Parameters
        ----------
        adata
            Cells (or samples) x genes, values as :func:`~scautogenome.tl.classify` takes them
            (raw counts, unlogged TPM/FPKM/RSEM, binary or already transformed; dense or
            sparse).
        target_key
            Column of ``adata.obs`` with the numeric target (numbers, or text that reads as
            numbers; NaN or ``"NA"`` for a cell without a value).
        layer
            Use ``adata.layers[layer]`` instead of ``adata.X``.
        split_key
            Column of ``adata.obs`` with ``train``/``val``/``test`` values to use instead of the
            seeded 8:1:1 split (without ``val`` cells, a ninth of the train cells of each
            quantile bin is drawn as ``val``, logged).
        group_key
            Cells that share a value here stay in one part of the seeded split; ``"auto"``
            (default): the TCGA patient of TCGA barcodes, as in
            :func:`~scautogenome.tl.classify`; None splits cells one by one.
        value_type
            ``"auto"`` (detect), ``"counts"``, ``"normalized"`` (unlogged TPM/FPKM/RSEM),
            ``"binary"`` or ``"continuous"``.
        metric
            Validation metric that judges the epochs (early stopping): ``"r2"`` (default),
            ``"pearson"`` or ``"spearman"``.
        seed
            Seed of the split and the training; default ``sag.settings.seed``.

        Returns
        -------
        ``self``, trained, with :attr:`split_` (the part of every cell of ``adata``, as
        :meth:`Classifier.fit <scautogenome.models.Classifier.fit>` sets it).
        """
        architecture = self._given_architecture()  # before any data is read
        seed = resolve_seed(seed)
        check_metric(metric, "regression")

        def params_class(**kw):  # the loss it trains with, "mse", whatever was given
            balance = kw.get("class_balance", "none")
            if balance != "none":  # as a numeric target's search draws none
                msg = (
                    f"train_params['class_balance']={balance!r}: a numeric target has no "
                    "classes to balance; leave it out (or 'none')."
                )
                raise ValueError(msg)
            loss, _ = task_objective("regression", kw.get("loss", "mse"), metric)
            return TrainParams(**{**kw, "loss": loss, "class_balance": "none"})

        params, device = self._fit_params(params_class)  # settings and device, before the data
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
            labels_argument="target_key",
        )
        arch = {**architecture, "n_inputs": data.X.shape[1], "n_outputs": 1}
        net = self._fit_setup(arch, seed, data)
        mean, std = target_scale(data.y, data.rows("train"))  # train_regressor's
        res = self._train(
            train_regressor, net, data, params, device, metric=metric, seed=seed, y=data.y
        )
        return self._fit_done(
            arch,
            data,
            params,
            res,
            obs_names=adata.obs_names,
            target=target_key,
            target_mean=mean,
            target_std=std,
        )

    # -- inference ------------------------------------------------------------------------------
    @doc_query_params
    def predict(
        self,
        data,
        *,
        layer: str | None = None,
        batch_size: int = 1024,
        min_gene_overlap: float = 0.5,
    ) -> np.ndarray:
        """Predicted values of the target.

        Parameters
        ----------
        {query_params}

        Returns
        -------
        The predicted values (n_obs, float64, in the target's units).
        """
        out = self._outputs(
            data, layer=layer, batch_size=batch_size, min_gene_overlap=min_gene_overlap
        )
        return self._in_units(out[:, 0])


class _Scaled(torch.nn.Module):
    """``net`` (one output, the standardized target) followed by ``std * output``."""

    def __init__(self, net: torch.nn.Module, std: float) -> None:
        super().__init__()
        self.net = net
        self.std = std
        self.train(net.training)

    def forward(self, x):
        return self.net(x) * self.std
