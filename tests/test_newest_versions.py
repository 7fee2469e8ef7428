"""What the newest libraries changed under sag: anndata 0.13 lists ``X`` in ``adata.layers``
(under the key None), pandas 3 reads text as its ``str`` dtype (not object), scanpy 1.12
renamed its private names of extra colours. Each test holds on the older versions too."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import scautogenome as sag
from scautogenome._utils import layer_names


def test_layer_names_are_the_layers_without_x(adata):
    """anndata 0.13's ``adata.layers`` holds X under None: no layer to name or read."""
    assert layer_names(adata) == []
    adata.layers["counts"] = adata.X.copy()
    assert layer_names(adata) == ["counts"]
    adata.X = None
    assert layer_names(adata) == ["counts"]


def test_a_layer_given_as_an_obsm_key_lists_only_the_layers(adata):
    """layer= an obsm key says so and lists the layers: 'None' (anndata 0.13's key of X) was
    listed as one."""
    adata.layers["counts"] = adata.X.copy()
    adata.obsm["X_e"] = np.zeros((adata.n_obs, 3), dtype=np.float32)
    match = (
        r"layer='X_e' is in adata\.obsm, not adata\.layers: .*; available layers: 'counts'\.\"?$"
    )
    with pytest.raises(KeyError, match=match):
        sag.tl.classify(adata, "label", layer="X_e", n_trials=1)
    del adata.layers["counts"]
    with pytest.raises(KeyError, match=r"; there are no layers\.\"?$"):
        sag.tl.classify(adata, "label", layer="X_e", n_trials=1)


@pytest.mark.parametrize("dtype", ["string", object])
def test_a_text_column_of_numbers_is_read_again_as_numbers(dtype):
    """Once a QIIME file's '#' lines are gone, a column of numbers is numeric again: pandas 3
    reads text as ``str`` (a StringDtype), which was left as text."""
    from scautogenome.io._parse import _reinfer

    column = pd.Series(["30", "40", None], dtype=dtype)
    assert pd.api.types.is_numeric_dtype(_reinfer(column))
    assert _reinfer(column).tolist()[:2] == [30, 40]
    words = pd.Series(["30", "forty", None], dtype=dtype)
    assert _reinfer(words) is words


def test_a_palette_entry_is_checked_on_every_scanpy():
    """A palette's entries are checked before any work (scanpy 1.12 renamed the private
    names of its extra colours, and the check was skipped); scanpy's extra names pass."""
    from scautogenome.plotting._embedding import _check_palette

    _check_palette(["red", "gold2", "#00ff00"])  # 'gold2': one of scanpy's R colours
    with pytest.raises(ValueError, match=r"'nocolour' is not a colour"):
        _check_palette(["red", "nocolour"])
    with pytest.raises(ValueError, match=r"'nocolour' is not a colour"):
        _check_palette({"a": "nocolour"})
