"""What the models trained on labels share (:class:`~scautogenome.models.Classifier` and
:class:`~scautogenome.models.Regressor`): gene matching of a query, its minibatches and the
network's raw outputs."""

from __future__ import annotations

import numpy as np

from .._logging import epoch_bar
from .._utils import plain
from ..data import (
    BatchLoader,
    check_batch_size,
)
from ..data._loader import sparse_pays
from ..nn import InputGenes, build_network, check_architecture
from ..nn._arch import network_kinds
from ..train import predict_logits
from ._base import BaseModel, check_is_fitted


class SupervisedModel(BaseModel):
    """A network of :func:`~scautogenome.nn.build_network` trained on ``obs`` labels, read
    from genes matched by name."""

    _build_module = staticmethod(build_network)
    # bfloat16 autocast on GPU at inference (off where outputs are in a target's own units)
    _mixed_inference = True
    _missing_genes_effect = "so predictions may be less accurate than the model's test metrics"

    def _train(self, trainer, net, data, params, device, *, metric: str, seed: int, **targets):
        """``trainer`` (:func:`~scautogenome.train.train_classifier` or ``train_regressor``)
        on the prepared ``data``'s train and validation rows, the epochs shown in a bar;
        ``targets``: the trainer's own (class ``codes`` and ``n_classes``, or values ``y``)."""
        transform = data.transform.to_torch(device)
        train_rows, val_rows = data.rows("train"), data.rows("val")
        genes = InputGenes.of(net)
        # the rows through the transform once for all epochs, on the genes the network reads
        cached = data.transformed(transform, None if genes is None else genes.positions())
        with epoch_bar(params.max_epochs) as on_epoch:
            return trainer(
                net,
                X=data.X,
                train_rows=train_rows,
                val_rows=val_rows,
                transform=transform,
                params=params,
                metric=metric,
                device=device,
                seed=seed,
                on_epoch=on_epoch,
                cached=cached,
                **targets,
            )

    def _given_architecture(self) -> dict:
        """The architecture this model was given, checked before ``fit`` reads any data."""
        if self.architecture is None:
            msg = (
                f"{type(self).__name__}.fit needs an architecture dict, e.g. "
                "{'kind': 'mlp', 'units': [256]}."
            )
            raise ValueError(msg)
        check_architecture(self.architecture, kinds=network_kinds(), stage="fit")
        # numpy widths and numbers (which the check accepts) as Python's in architecture_,
        # which is recorded as JSON and in h5ad (build_network makes them Python's too)
        return plain(self.architecture)

    # -- inference ------------------------------------------------------------------------------
    def _input(self, data, layer: str | None, min_gene_overlap: float):
        """Matrix + gene mapping for ``data`` (AnnData matched by gene name, or an array)."""

        X, col_map, report, where = self._matched_input(data, layer, min_gene_overlap)
        self._check_values(data, X, col_map, where, min_gene_overlap)
        return X, col_map, report

    def _loader(self, X, col_map, batch_size: int) -> BatchLoader:
        # a network reading some genes gets those only where the loader can transform them
        # alone (a sparse query of the model's genes: the stored values of those genes),
        # where that is faster than densifying each batch (few values stored: sparse_pays)
        genes = InputGenes.of(self.module_)
        return BatchLoader(
            X,
            np.arange(X.shape[0]),
            None,
            batch_size=batch_size,
            transform=self.transform_.to_torch(self.device_),
            device=self.device_,
            col_map=col_map,
            inference=True,
            fill=self.transform_.fill_values(),
            stored_values=sparse_pays(X),
            reads=None if genes is None else genes.positions(),
        )

    def _outputs(
        self, data, *, layer: str | None, batch_size: int, min_gene_overlap: float
    ) -> np.ndarray:
        """The network's outputs for ``data`` (n_obs x n_outputs, float32)."""
        check_is_fitted(self)
        check_batch_size(batch_size)
        X, col_map, _ = self._input(data, layer, min_gene_overlap)
        loader = self._loader(X, col_map, batch_size)
        return predict_logits(
            self.module_, loader, self.device_, mixed=self._mixed_inference, desc="predicting"
        )
