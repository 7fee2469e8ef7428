"""Tools (``sag.tl``): thin AnnData adapters over models, search and explain."""

from .._settings import keep_python_rng as _keep_python_rng

# the libraries the tools import may draw from Python's random at import (sklearn.metrics's
# rich does): the user's stream is given back, as each tool's call gives it back
with _keep_python_rng():
    from ._classify import classify
    from ._embed import embed, embedding_scores
    from ._encode import encode
    from ._explain import explain
    from ._predict import predict

__all__ = ["classify", "embed", "embedding_scores", "encode", "explain", "predict"]
