"""Recurrence combinators shared by several primitives.

All formulas use normalised coefficients ``x[k] = x^(k)/k!``. For a series ``y = f(a)`` with
``y' = g * a'`` (``'`` is d/dt, or the Euler operator for multivariate series), matching the
coefficients of ``t^(k-1)`` gives ``k y[k] = sum_{j=1..k} j a[j] g[k-j]``: the identity behind
most rules below (Jorba & Zou 2005, sec. 3; Moore 1966).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .table import Algebra


def conv(A: Algebra, k: Any, a: Sequence[Any], b: Sequence[Any], lo: Any = 0, hi: Any = None) -> Any:
    """``sum_{j=lo..hi} a[j] b[k-j]`` (``hi`` defaults to ``k``)."""
    hi = k if hi is None else hi
    return A.sum(lo, hi, lambda j: A.mul(a[j], b[k - j]))


def sym_conv(A: Algebra, k: Any, a: Sequence[Any], lo: Any = 0) -> Any:
    """``sum_{j=lo..k-lo} a[j] a[k-j]`` (``lo`` 0 or 1): each product appears twice, so about
    half the products are computed, plus the middle term when ``k`` is even."""
    return sum_sym_conv(A, k, [a], lo)


def sum_sym_conv(A: Algebra, k: Any, series: Sequence[Sequence[Any]], lo: Any = 0) -> Any:
    """``sym_conv`` summed over several series (the square of each, added: ``sum_sq``)."""

    def products(j: Any) -> Any:
        total = A.mul(series[0][j], series[0][k - j])
        for a in series[1:]:
            total = A.add(total, A.mul(a[j], a[k - j]))
        return total

    twice = A.scale(A.sum(lo, (k - 1) // 2, products), 2)
    if isinstance(k, int):
        return A.add(twice, products(k // 2)) if k % 2 == 0 else twice
    # A runtime order (compact-mode loops): the middle term weighted by 1 for even k, 0 for odd.
    return A.add(twice, A.scale(products(k // 2), 1 - k % 2))


def dconv(A: Algebra, k: Any, a: Sequence[Any], b: Sequence[Any], lo: Any = 1, hi: Any = None) -> Any:
    """``sum_{j=lo..hi} j a[j] b[k-j]``: the derivative-weighted convolution."""
    hi = k if hi is None else hi
    # (j a[j]) does not depend on k: an emitter computes it once and reuses it at every order.
    return A.sum(lo, hi, lambda j: A.mul(A.scale(a[j], j), b[k - j]))


def chain_rule(A: Algebra, k: Any, a: Sequence[Any], g: Sequence[Any]) -> Any:
    """``y[k]`` for ``y' = g a'``: ``(1/k) sum_{j=1..k} j a[j] g[k-j]`` (exp, sin, cos, erf...)."""
    return A.div(dconv(A, k, a, g), k)


def quotient_chain_rule(A: Algebra, k: Any, y: Sequence[Any], a: Sequence[Any], w: Sequence[Any]) -> Any:
    """``y[k]`` for ``w y' = a'`` (log, asin, atan, ...).

    ``k w[0] y[k] = k a[k] - sum_{j=1..k-1} j y[j] w[k-j]``.
    """
    rest = A.div(dconv(A, k, y, w, 1, k - 1), k)
    return A.div_leading(A.sub(a[k], rest), w[0])
