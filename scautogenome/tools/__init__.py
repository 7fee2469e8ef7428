"""Tools (``sag.tl``): thin AnnData adapters over models, search and explain."""

from ._classify import classify
from ._predict import predict

__all__ = ["classify", "predict"]
