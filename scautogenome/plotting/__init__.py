"""Plotting (``sag.pl``): matplotlib figures following scanpy's ``show``/``ax`` conventions."""

__all__: list[str] = []
