"""The tools' view of the shared helpers (kept so ``from ._utils import ...`` reads locally)."""

from .._utils import call_params, h5ad_safe

__all__ = ["call_params", "h5ad_safe"]
