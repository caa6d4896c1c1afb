"""Running the table's recurrences: the generic expansion driver and the float algebra.

``expand`` computes the Taylor coefficients of every node of a program over any
:class:`~taylorjit._primitives.table.Algebra`. Over :class:`FloatAlgebra` it gives univariate
series in time of floats or numpy arrays: the reference for the compiled jets, and what the tests
check against sympy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .._expr import Call, Expr, Num, Par, Time, Var
from .table import Algebra, Primitive, taylor_program


class FloatAlgebra:
    """Coefficients are floats or numpy arrays (elementwise: many expansions at once)."""

    def add(self, x: Any, y: Any) -> Any:  # noqa: D102
        return x + y

    def sub(self, x: Any, y: Any) -> Any:  # noqa: D102
        return x - y

    def mul(self, x: Any, y: Any) -> Any:  # noqa: D102
        return x * y

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

    def eval0(self, prim: Primitive, args0: Sequence[Any]) -> Any:  # noqa: D102
        return prim.numpy_eval(*args0)


def expand(
    roots: Sequence[Expr],
    order: int,
    leaves: Callable[[Expr], Sequence[Any]],
    algebra: Algebra | None = None,
    program: tuple[list[Expr], dict[int, Any]] | None = None,
) -> list[list[Any]]:
    """Taylor coefficients of orders ``0..order`` of each root.

    Parameters
    ----------
    roots
        The expressions to expand.
    order
        The truncation order.
    leaves
        ``leaves(node)`` gives the coefficients (orders ``0..order``) of a variable, parameter or
        time node; numbers are handled here.
    algebra
        Where the coefficients live (default: floats / numpy arrays).
    program
        ``taylor_program(roots)``, when the caller caches it.
    """
    A = algebra if algebra is not None else FloatAlgebra()
    nodes, forms = taylor_program(roots) if program is None else program
    series: dict[int, list[Any]] = {}
    for node in nodes:
        if isinstance(node, Num):
            series[id(node)] = [float(node.value)] + [0.0] * order
        elif isinstance(node, Var | Par | Time):
            coeffs = list(leaves(node))
            if len(coeffs) < order + 1:
                raise ValueError(f"leaf {node} has {len(coeffs)} coefficients, need {order + 1}")
            series[id(node)] = coeffs
        else:
            series[id(node)] = []
    calls = [n for n in nodes if isinstance(n, Call)]
    for k in range(order + 1):
        for node in calls:
            args = [series[id(a)] for a in node.args]
            y = series[id(node)]
            if k == 0:
                y.append(A.eval0(node.prim, [s[0] for s in args]))  # type: ignore[arg-type]
            else:
                form = forms[id(node)]
                aux = [series[id(a)] for a in form.aux]
                y.append(form.rule(A, k, y, args, aux))
    return [series[id(r)] for r in roots]


def taylor_coefficients(
    exprs: Sequence[Expr],
    point: Mapping[Expr, Sequence[float] | float],
    order: int,
    pars: Sequence[float] = (),
    time: float | Sequence[float] = 0.0,
) -> np.ndarray:
    """Normalised Taylor coefficients of ``exprs`` along a curve, over floats.

    Each variable in ``point`` maps to its own coefficients ``[x0, x1, ...]`` (a float ``x0``
    means the line ``x0 + t``: the series of ``f(x0 + t)``); parameters are constants; ``time``
    is ``t0 + t`` unless coefficients are given.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(exprs), order + 1)``.
    """

    def line(v: Any) -> list[float]:
        if np.ndim(v) == 0:
            return [float(v), 1.0] + [0.0] * (order - 1) if order >= 1 else [float(v)]
        vals = [float(c) for c in v]
        return vals + [0.0] * (order + 1 - len(vals))

    def leaves(node: Expr) -> Sequence[float]:
        if isinstance(node, Var):
            if node not in point:
                raise ValueError(f"no value given for the variable {node.name!r}")
            return line(point[node])
        if isinstance(node, Par):
            if node.index >= len(pars):
                raise ValueError(f"no value given for the parameter p{node.index}")
            return [float(pars[node.index])] + [0.0] * order
        return line(time)

    with np.errstate(all="ignore"):
        rows = expand(exprs, order, leaves)
    return np.array([[float(c) for c in r] for r in rows])
