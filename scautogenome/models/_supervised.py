"""What the models trained on labels share (:class:`~scautogenome.models.Classifier` and
:class:`~scautogenome.models.Regressor`): gene matching of a query, its minibatches and the
network's raw outputs."""

from __future__ import annotations

import numpy as np

from .._settings import logger
from ..data import BatchLoader, check_batch_size, check_finite, check_query_values
from ..nn import build_network
from ..train import predict_logits
from ._base import BaseModel, check_is_fitted


class SupervisedModel(BaseModel):
    """A network of :func:`~scautogenome.nn.build_network` trained on ``obs`` labels, read
    from genes matched by name."""

    _build_module = staticmethod(build_network)
    # bfloat16 autocast on GPU at inference (off where outputs are in a target's own units)
    _mixed_inference = True

    # -- inference ------------------------------------------------------------------------------
    def _input(self, data, layer: str | None, min_gene_overlap: float):
        """Matrix + gene mapping for ``data`` (AnnData matched by gene name, or an array)."""

        def check_genes(adata, n_found, n_model):
            return self.gene_overlap(adata.var_names, min_gene_overlap=min_gene_overlap)

        X, col_map, report = self._matched_input(data, layer, check_genes)
        check_finite(X, "the query matrix")
        check_query_values(X, self.transform_.value_type, "the query matrix")
        return X, col_map, report

    def gene_overlap(
        self, query_genes, *, min_gene_overlap: float = 0.5, warn: bool = True
    ) -> dict:
        """How many of the model's genes the query has; raises below ``min_gene_overlap``.

        With ``warn``, a partial overlap (missing genes are zero-filled) is logged as a warning.
        """
        check_is_fitted(self)
        if isinstance(min_gene_overlap, bool) or not (
            isinstance(min_gene_overlap, (int, float, np.number)) and 0 <= min_gene_overlap <= 1
        ):
            msg = (
                f"min_gene_overlap={min_gene_overlap!r} must be a fraction of the model's genes "
                "between 0 and 1 (0.5: half of them)."
            )
            raise ValueError(msg)
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
                f"genes; e.g. model genes {', '.join(map(str, self.var_names_[:3]))}, query genes "
                f"{', '.join(map(str, q[:3]))})."
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
                "query has %d of the model's %d genes (%.1f%%); %d missing genes are set to 0, "
                "so predictions may be less accurate than the model's test metrics.",
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
            inference=True,
        )

    def _outputs(
        self, data, *, layer: str | None, batch_size: int, min_gene_overlap: float
    ) -> np.ndarray:
        """The network's outputs for ``data`` (n_obs x n_outputs, float32)."""
        check_is_fitted(self)
        check_batch_size(batch_size)
        X, col_map, _ = self._input(data, layer, min_gene_overlap)
        loader = self._loader(X, col_map, batch_size)
        return predict_logits(self.module_, loader, self.device_, mixed=self._mixed_inference)
