"""Results of the tools as tables (``sag.get``), as :mod:`scanpy.get` does for scanpy's:
the SHAP importance of :func:`~scautogenome.tl.explain` and the per-class test metrics of
:func:`~scautogenome.tl.classify`, read from the AnnData they were written into."""

from ._get import metrics_df, shap_df

__all__ = ["metrics_df", "shap_df"]
