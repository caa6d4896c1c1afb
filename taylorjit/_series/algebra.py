"""The coefficient algebra of multivariate truncated series, degree by degree.

For ``a(x) = sum_k a_k`` split into homogeneous parts, ``a(t x) = sum_k a_k t^k``: a univariate
series in ``t`` whose coefficients are the degree-k blocks. The Euler operator ``x . grad`` plays
the role of ``t d/dt``, so the primitive table's univariate recurrences hold unchanged with block
products in place of float products (this is how every function reaches gduals: no second
implementation). Blocks are numpy arrays of shape ``(n_k,)``, or ``(n_k, npoints)`` for
vectorized gduals; a Python float stands for a block that is a constant (or zero).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .kernels import as_kernel_array, product_into
from .monomials import Basis

__all__ = ["BlockAlgebra"]


class BlockAlgebra:
    """:class:`~taylorjit._primitives.table.Algebra` over the homogeneous blocks of ``basis``."""

    def __init__(self, basis: Basis) -> None:
        self.basis = basis

    def _degree(self, x: Any) -> int:
        return 0 if np.ndim(x) == 0 or x.shape[0] == 1 else self.basis.block_degree[x.shape[0]]

    def mul(self, x: Any, y: Any) -> Any:
        """Product of a degree-i block and a degree-j block: a degree-(i+j) block."""
        # A scalar zero stands for a zero block of any degree (a number's higher coefficients):
        # the product is zero of unknown degree, so it must stay a scalar zero.
        if (np.ndim(x) == 0 and x == 0) or (np.ndim(y) == 0 and y == 0):
            return 0.0
        i, j = self._degree(x), self._degree(y)
        if i == 0 or j == 0:  # (also every product in one variable: all blocks have size 1)
            return x * y
        x, y = as_kernel_array(x), as_kernel_array(y)
        out = np.empty((self.basis.block_size(i + j), *np.broadcast_shapes(x.shape[1:], y.shape[1:])))
        if x.shape[1:] != out.shape[1:]:
            x = as_kernel_array(np.broadcast_to(x, (x.shape[0], *out.shape[1:])))
        if y.shape[1:] != out.shape[1:]:
            y = as_kernel_array(np.broadcast_to(y, (y.shape[0], *out.shape[1:])))
        return product_into(out, x, y, self.basis.pair_table(i, j))

    def add(self, x: Any, y: Any) -> Any:  # noqa: D102
        return x + y

    def sub(self, x: Any, y: Any) -> Any:  # noqa: D102
        return x - y

    def neg(self, x: Any) -> Any:  # noqa: D102
        return -x

    def scale(self, x: Any, c: Any) -> Any:  # noqa: D102
        return x * c

    def div(self, x: Any, c: Any) -> Any:  # noqa: D102
        return x / c

    def div_leading(self, x: Any, d0: Any) -> Any:  # noqa: D102
        return x / d0

    def sum(self, lo: int, hi: int, term: Callable[[int], Any]) -> Any:  # noqa: D102
        total: Any = 0.0
        for j in range(lo, hi + 1):
            total = total + term(j)
        return total

    def eval0(self, prim: Any, args0: Sequence[Any]) -> Any:  # noqa: D102
        return prim.numpy_eval(*args0)
