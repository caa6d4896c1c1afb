"""Layer 2: the primitive table (one record per function) and what reads it generically."""

from . import arith, elementary, special  # noqa: F401  (importing registers the entries)
from .table import Primitive, TaylorForm, apply, taylor_program

__all__ = ["Primitive", "TaylorForm", "apply", "taylor_program"]
