"""Example data: scanpy's bundled PBMC set and a small seeded synthetic AnnData."""

from ._datasets import pbmc68k_reduced, synthetic

__all__ = ["pbmc68k_reduced", "synthetic"]
