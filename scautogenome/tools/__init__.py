"""Tools (``sag.tl``): thin AnnData adapters over models, search and explain."""

import random as _random

# the libraries the tools import may draw from Python's random at import (sklearn.metrics's
# rich does): the user's stream is given back, as each tool's call gives it back
_state = _random.getstate()
try:
    from ._classify import classify
    from ._embed import embed, embedding_scores
    from ._encode import encode
    from ._explain import explain
    from ._predict import predict
finally:
    _random.setstate(_state)
    del _state

__all__ = ["classify", "embed", "embedding_scores", "encode", "explain", "predict"]
