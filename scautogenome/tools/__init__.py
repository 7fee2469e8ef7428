"""Tools (``sag.tl``): thin AnnData adapters over models, search and explain."""

from ._classify import classify
from ._embed import embed, embedding_scores
from ._encode import encode
from ._explain import explain
from ._predict import predict

__all__ = ["classify", "embed", "embedding_scores", "encode", "explain", "predict"]
