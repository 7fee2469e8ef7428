"""Plotting (``sag.pl``): matplotlib figures following scanpy's ``show``/``ax`` conventions."""

from ._embedding import embedding

__all__ = ["embedding"]
