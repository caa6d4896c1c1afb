"""The coefficient algebra of multivariate truncated series, degree by degree.

For ``a(x) = sum_k a_k`` split into homogeneous parts, ``a(t x) = sum_k a_k t^k``: a univariate
series in ``t`` whose coefficients are the degree-k blocks. The Euler operator ``x . grad`` plays
the role of ``t d/dt``, so the primitive table's univariate recurrences hold unchanged with block
products in place of float products (this is how every function reaches gduals: no second
implementation). Blocks are numpy arrays of shape ``(n_k,)``, or ``(n_k, npoints)`` for
vectorized gduals; a Python float stands for a block that is a constant (or zero).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._primitives.series import FloatAlgebra
from .kernels import as_kernel_array, product_into
from .monomials import Basis

__all__ = ["BlockAlgebra"]


class BlockAlgebra(FloatAlgebra):
    """:class:`~taylorjit._primitives.table.Algebra` over the homogeneous blocks of ``basis``.

    Everything but ``mul`` is elementwise on numpy arrays, as in :class:`FloatAlgebra`.
    """

    def __init__(self, basis: Basis) -> None:
        self.basis = basis

    def _degree(self, x: Any) -> int:
        return 0 if np.ndim(x) == 0 or x.shape[0] == 1 else self.basis.block_degree[x.shape[0]]

    def div_leading(self, x: Any, d0: Any) -> Any:
        """``x / d0`` with ``d0`` a degree-0 block; a scalar zero ``x`` (a zero block of unknown
        degree) stays a scalar zero rather than becoming a block that reads as degree 0."""
        if np.ndim(x) == 0 and x == 0:
            return 0.0
        return x / d0

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
