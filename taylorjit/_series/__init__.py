"""Layer 4: multivariate truncated series (generalized dual numbers)."""

from .gduals import compile_map, compose, derivatives, gdual, invert_map

__all__ = ["gdual", "derivatives", "invert_map", "compose", "compile_map"]
