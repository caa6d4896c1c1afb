"""Layer 3: multivariate truncated series (generalized dual numbers)."""

from .gdual import derivatives, gdual

__all__ = ["gdual", "derivatives"]
