"""Explanations of trained models (no AnnData here): expected-gradients SHAP values, reduced to
per-class gene importance. :func:`scautogenome.tl.explain` is the AnnData front."""

from ._core import ClassImportance, class_importance
from ._engines import (
    MAX_FLOATS,
    Draws,
    ExpectedGradients,
    ShapGradient,
    sample_draws,
    shap_draws,
)
from ._select import random_rows, stratified_cells

__all__ = [
    "MAX_FLOATS",
    "ClassImportance",
    "Draws",
    "ExpectedGradients",
    "ShapGradient",
    "class_importance",
    "random_rows",
    "sample_draws",
    "shap_draws",
    "stratified_cells",
]
