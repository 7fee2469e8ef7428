"""Plotting (``sag.pl``): matplotlib figures following scanpy's ``show``/``ax`` conventions."""

from ._architecture import architecture
from ._classify import confusion_matrix, regression, search_history
from ._embedding import embedding
from ._explain import importance, shap_summary

__all__ = [
    "architecture",
    "confusion_matrix",
    "embedding",
    "importance",
    "regression",
    "search_history",
    "shap_summary",
]
