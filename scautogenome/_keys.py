"""Default keys under which scautogenome writes into AnnData (decided here, and only here)."""

from __future__ import annotations

CLASSIFY_KEY = "sag"
"""Prefix for :func:`scautogenome.tl.classify` and :func:`scautogenome.tl.predict` outputs."""

SHAP_KEY = "sag_shap"
EMBED_KEY = "sag_resvae"
IO_KEY = "sag_io"
"""``uns`` key where the sag.io readers record what they read and how."""


def pred_key(key: str) -> str:
    """``obs`` column of the predicted labels."""
    return f"{key}_pred"


def split_key(key: str) -> str:
    """``obs`` column of the train/val/test split."""
    return f"{key}_split"


def proba_key(key: str) -> str:
    """``obsm`` entry of the class probabilities."""
    return f"{key}_proba"


def confidence_key(key: str) -> str:
    """``obs`` column of the top-class probability."""
    return f"{key}_confidence"


SPLITS = ("train", "val", "test")

UNASSIGNED = "Unassigned"
""":func:`scautogenome.tl.predict`'s call of a cell below its ``min_confidence``."""


def unsure_name(classes) -> str | None:
    """The name of predict's unsure calls among predictions of a model of ``classes``:
    :data:`UNASSIGNED`, or None where the model has a class of that name (predict then
    refuses ``min_confidence``, and such a call is that class)."""
    return None if UNASSIGNED in {str(c) for c in classes} else UNASSIGNED


VALUE_TYPES = ("counts", "normalized", "binary", "continuous")
"""What a matrix may hold (``value_type=``, ``--value-type``); here, where the command line's
parser reads it without loading torch."""
