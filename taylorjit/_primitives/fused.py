"""Fused operations: n-ary nodes that only the integrator's decomposition creates.

A right-hand side written with binary operations (``a + 2*b - c``, ``dx**2 + dy**2 + dz**2``)
becomes a chain of small nodes, each with its own row of coefficients and, in compact mode, its
own loop. ``taylorjit._taylor.fusion`` rewrites such chains into one node of these kinds:

* ``lincomb(c0, x0, c1, x1, ...)``: ``sum_i c_i x_i`` with number coefficients (sums, differences,
  negations and products by numbers, fused; heyoka's n-ary ``sum`` plus the scalings);
* ``sum_sq(x0, x1, ...)``: ``sum_i x_i**2``, whose recurrence shares one halved convolution
  between the squares (heyoka's ``sum_sq``).

They are records of the same kind as the public primitives (value, derivative, recurrence in one
place), but not registered in the public table: users never write them, and sympy, ``diff`` and
the gduals never see them. Their order-0 value is the recurrence at ``k = 0`` (``lowering``
``"recurrence"``), since both are polynomials.
"""

from __future__ import annotations

from typing import Any

from .._expr import Call, Expr, Num
from .rules import sum_sym_conv
from .table import Primitive, TaylorForm

__all__ = ["LINCOMB", "SUM_SQ", "lincomb", "sum_sq", "terms", "RECURRENCE_LOWERING"]

#: ``Primitive.lowering`` of operations whose order-0 value is their recurrence at ``k = 0``.
RECURRENCE_LOWERING = "recurrence"


def _pairs(args: tuple[Any, ...]) -> list[tuple[Any, Any]]:
    return list(zip(args[0::2], args[1::2], strict=True))


def _lincomb_rule(A, k, y, s, aux):
    # s alternates coefficient series (numbers: only order 0) and term series.
    return A.sum(0, len(s) // 2 - 1, lambda i: A.mul(s[2 * i][0], s[2 * i + 1][k]))


def _lincomb_eval(*args: Any) -> Any:
    total = 0.0
    for c, x in _pairs(args):
        total = total + c * x
    return total


def _lincomb_format(args: list[str], precedences: list[int]) -> tuple[str, int]:
    terms = [f"{c}*{x}" if p > 20 else f"{c}*({x})"
             for c, x, p in zip(args[0::2], args[1::2], precedences[1::2], strict=True)]
    return " + ".join(terms), 10


class _Fused(Primitive):
    """A variadic record: printing is its own (``Primitive.format`` assumes one or two args)."""

    def format(self, args: list[str], precedences: list[int]) -> tuple[str, int]:  # noqa: D102
        if self.name == "lincomb":
            return _lincomb_format(args, precedences)
        return f"{self.name}({', '.join(args)})", 100


LINCOMB = _Fused(
    name="lincomb", arity=-1, numpy_eval=_lincomb_eval,
    # d/dc_i = x_i, d/dx_i = c_i
    derivative=lambda args, node: tuple(args[i + 1] if i % 2 == 0 else args[i - 1] for i in range(len(args))),
    taylor=lambda args, node: TaylorForm(_lincomb_rule), lowering=RECURRENCE_LOWERING,
    doc="y = sum_i c_i x_i (c_i numbers): y[k] = sum_i c_i x_i[k]",
)

SUM_SQ = _Fused(
    name="sum_sq", arity=-1, numpy_eval=lambda *xs: sum(x * x for x in xs),
    derivative=lambda args, node: tuple(2 * x for x in args),
    taylor=lambda args, node: TaylorForm(lambda A, k, y, s, aux: sum_sym_conv(A, k, s)),
    lowering=RECURRENCE_LOWERING,
    doc="y = sum_i x_i**2: y[k] = sum_i sum_{j=0..k} x_i[j] x_i[k-j], each product once per pair",
)


def lincomb(terms: list[tuple[Num, Expr]]) -> Call:
    """The node ``sum c*x`` over ``(c, x)`` pairs (at least one)."""
    return Call(LINCOMB, tuple(e for pair in terms for e in pair))


def sum_sq(xs: list[Expr]) -> Call:
    """The node ``sum x**2`` over ``xs`` (at least two)."""
    return Call(SUM_SQ, tuple(xs))


def terms(node: Call) -> int:
    """The number of terms of a fused node (1 for any other call)."""
    if node.prim is LINCOMB:
        return len(node.args) // 2
    if node.prim is SUM_SQ:
        return len(node.args)
    return 1
