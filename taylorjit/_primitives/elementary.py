"""Elementary functions: exp, log, trigonometric, hyperbolic and their inverses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._expr import Expr, call
from .rules import chain_rule, dconv, quotient_chain_rule
from .table import Primitive, TaylorForm, apply, fixed_form, register


def _exact_at(table: dict) -> Callable[[Any], Any]:
    """Exact folding only at the points in ``table`` (``exp(0) = 1``), as sympy does."""
    return lambda a: table.get(a)


def _unary(
    name: str,
    numpy_eval: Callable[[Any], Any],
    derivative: Callable[[Expr, Expr], Expr],
    taylor: Callable[[tuple[Expr, ...], Expr], TaylorForm],
    lowering: str,
    exact: dict,
    doc: str,
) -> Primitive:
    return register(Primitive(
        name=name, arity=1, numpy_eval=numpy_eval,
        derivative=lambda args, node: (derivative(args[0], node),),
        taylor=taylor, lowering=lowering, sympy_name=name, exact=_exact_at(exact), doc=doc,
    ))


def _one_minus_square(a: Expr) -> Expr:
    return 1 - call("square", a)


def _one_plus_square(a: Expr) -> Expr:
    return 1 + call("square", a)


# --- exp, log --------------------------------------------------------------------------------
_unary(
    "exp", np.exp, lambda a, node: node,
    fixed_form(lambda A, k, y, s, aux: chain_rule(A, k, s[0], y)),
    "vecmath:exp", {0: 1},
    "y = exp(a): y[k] = (1/k) sum_{j=1..k} j a[j] y[k-j]",
)
_unary(
    "log", np.log, lambda a, node: 1 / a,
    fixed_form(lambda A, k, y, s, aux: quotient_chain_rule(A, k, y, s[0], s[0])),
    "vecmath:log", {1: 0},
    "y = log(a): y[k] = (a[k] - (1/k) sum_{j=1..k-1} j y[j] a[k-j]) / a[0]",
)

# --- sin, cos, tan ---------------------------------------------------------------------------
_unary(
    "sin", np.sin, lambda a, node: call("cos", a),
    fixed_form(lambda A, k, y, s, aux: chain_rule(A, k, s[0], aux[0]),
               lambda args, node: (call("cos", args[0]),)),
    "vecmath:sin", {0: 0},
    "y = sin(a), c = cos(a): y[k] = (1/k) sum_{j=1..k} j a[j] c[k-j]",
)
_unary(
    "cos", np.cos, lambda a, node: -call("sin", a),
    fixed_form(lambda A, k, y, s, aux: A.neg(chain_rule(A, k, s[0], aux[0])),
               lambda args, node: (call("sin", args[0]),)),
    "vecmath:cos", {0: 1},
    "y = cos(a), s = sin(a): y[k] = -(1/k) sum_{j=1..k} j a[j] s[k-j]",
)


def _tan_like(sign: int):
    """tan and tanh: y' = a' (1 + sign y**2), aux u = y**2 read below order k.

    ``k y[k] = k a[k] + sign sum_{j=1..k} j a[j] u[k-j]``, with the term j = k apart:
    ``y[k] = a[k] (1 + sign u[0]) + sign (1/k) sum_{j=1..k-1} j a[j] u[k-j]``. Where tanh
    saturates (u[0] = 1 exactly) the first term is exactly 0; summed whole, a[k] - (k a[k] u[0] +
    ...) / k left rounding noise the size of a[k] (the 5th derivative of acos(0.875 tanh((2 +
    cos x)^4)) at 0.75 came out 4.8e-10, the 10th 8.8, both truly about 1e-38).
    """

    def rule(A, k, y, s, aux):
        a, u = s[0], aux[0]
        head = A.mul(a[k], A.add(1.0, u[0]) if sign > 0 else A.sub(1.0, u[0]))
        rest = A.div(dconv(A, k, a, u, 1, k - 1), k)
        return A.add(head, rest) if sign > 0 else A.sub(head, rest)

    return fixed_form(rule, lambda args, node: (call("square", node),))


_unary(
    "tan", np.tan, lambda a, node: 1 + call("square", node), _tan_like(+1), "libm:tan", {0: 0},
    "y = tan(a), u = y**2: y[k] = a[k] (1 + u[0]) + (1/k) sum_{j=1..k-1} j a[j] u[k-j]",
)

# --- inverse trigonometric -------------------------------------------------------------------


def _inverse_form(w_of: Callable[[Expr], Expr], sign: int = 1):
    """asin, acos, atan, asinh, acosh, atanh: ``w y' = sign a'`` with aux ``w(a)``."""

    def rule(A, k, y, s, aux):
        a = s[0] if sign > 0 else _Negated(A, s[0])
        return quotient_chain_rule(A, k, y, a, aux[0])

    return fixed_form(rule, lambda args, node: (w_of(args[0]),))


class _Negated:
    """A lazily negated coefficient sequence (used for acos: w y' = -a')."""

    def __init__(self, A: Any, seq: Any) -> None:
        self.A, self.seq = A, seq

    def __getitem__(self, i: Any) -> Any:
        return self.A.neg(self.seq[i])


def _sqrt_of(f: Callable[[Expr], Expr]) -> Callable[[Expr], Expr]:
    return lambda a: call("sqrt", f(a))


_unary(
    "asin", np.arcsin, lambda a, node: 1 / call("sqrt", _one_minus_square(a)),
    _inverse_form(_sqrt_of(_one_minus_square)), "libm:asin", {0: 0},
    "y = asin(a), w = sqrt(1 - a**2): y[k] = (a[k] - (1/k) sum_{j=1..k-1} j y[j] w[k-j]) / w[0]",
)
_unary(
    "acos", np.arccos, lambda a, node: -1 / call("sqrt", _one_minus_square(a)),
    _inverse_form(_sqrt_of(_one_minus_square), -1), "libm:acos", {1: 0},
    "y = acos(a), w = sqrt(1 - a**2): y[k] = (-a[k] - (1/k) sum_{j=1..k-1} j y[j] w[k-j]) / w[0]",
)
_unary(
    "atan", np.arctan, lambda a, node: 1 / _one_plus_square(a),
    _inverse_form(_one_plus_square), "libm:atan", {0: 0},
    "y = atan(a), w = 1 + a**2: y[k] = (a[k] - (1/k) sum_{j=1..k-1} j y[j] w[k-j]) / w[0]",
)

# --- hyperbolic ------------------------------------------------------------------------------
_unary(
    "sinh", np.sinh, lambda a, node: call("cosh", a),
    fixed_form(lambda A, k, y, s, aux: chain_rule(A, k, s[0], aux[0]),
               lambda args, node: (call("cosh", args[0]),)),
    "libm:sinh", {0: 0},
    "y = sinh(a), c = cosh(a): y[k] = (1/k) sum_{j=1..k} j a[j] c[k-j]",
)
_unary(
    "cosh", np.cosh, lambda a, node: call("sinh", a),
    fixed_form(lambda A, k, y, s, aux: chain_rule(A, k, s[0], aux[0]),
               lambda args, node: (call("sinh", args[0]),)),
    "libm:cosh", {0: 1},
    "y = cosh(a), s = sinh(a): y[k] = (1/k) sum_{j=1..k} j a[j] s[k-j]",
)
_unary(
    "tanh", np.tanh, lambda a, node: 1 - call("square", node), _tan_like(-1), "libm:tanh",
    {0: 0},
    "y = tanh(a), u = y**2: y[k] = a[k] (1 - u[0]) - (1/k) sum_{j=1..k-1} j a[j] u[k-j]",
)
_unary(
    "asinh", np.arcsinh, lambda a, node: 1 / call("sqrt", _one_plus_square(a)),
    _inverse_form(_sqrt_of(_one_plus_square)), "libm:asinh", {0: 0},
    "y = asinh(a), w = sqrt(1 + a**2): y[k] = (a[k] - (1/k) sum j y[j] w[k-j]) / w[0]",
)
_unary(
    "acosh", np.arccosh, lambda a, node: 1 / call("sqrt", call("square", a) - 1),
    _inverse_form(_sqrt_of(lambda a: call("square", a) - 1)), "libm:acosh", {1: 0},
    "y = acosh(a), w = sqrt(a**2 - 1): y[k] = (a[k] - (1/k) sum j y[j] w[k-j]) / w[0]",
)
_unary(
    "atanh", np.arctanh, lambda a, node: 1 / _one_minus_square(a),
    _inverse_form(_one_minus_square), "libm:atanh", {0: 0},
    "y = atanh(a), w = 1 - a**2: y[k] = (a[k] - (1/k) sum_{j=1..k-1} j y[j] w[k-j]) / w[0]",
)


# --- atan2 -----------------------------------------------------------------------------------
def _atan2_rule(A, k, z, s, aux):
    """z = atan2(b, a), d = a**2 + b**2: d z' = a b' - b a'.

    k d[0] z[k] = sum_{j=1..k} j (a[k-j] b[j] - b[k-j] a[j]) - sum_{j=1..k-1} j z[j] d[k-j].
    """
    b, a = s
    cross = A.sub(dconv(A, k, b, a), dconv(A, k, a, b))
    rest = dconv(A, k, z, aux[0], 1, k - 1)
    return A.div(A.div_leading(A.sub(cross, rest), aux[0][0]), k)


def _atan2_exact(b: Any, a: Any) -> Any:
    return 0 if b == 0 and a > 0 else None


register(Primitive(
    name="atan2", arity=2, numpy_eval=np.arctan2,
    derivative=lambda args, node: (
        args[1] / (call("square", args[0]) + call("square", args[1])),
        -args[0] / (call("square", args[0]) + call("square", args[1])),
    ),
    taylor=fixed_form(
        _atan2_rule,
        lambda args, node: (call("square", args[1]) + call("square", args[0]),),
    ),
    lowering="libm:atan2", sympy_name="atan2", exact=_atan2_exact,
    doc=_atan2_rule.__doc__ or "",
))


# --- public functions --------------------------------------------------------------------------
def exp(x: Any) -> Any:
    """Exponential."""
    return apply("exp", x)


def log(x: Any) -> Any:
    """Natural logarithm (nan for negative arguments, -inf at 0, as numpy)."""
    return apply("log", x)


def sin(x: Any) -> Any:
    """Sine."""
    return apply("sin", x)


def cos(x: Any) -> Any:
    """Cosine."""
    return apply("cos", x)


def tan(x: Any) -> Any:
    """Tangent."""
    return apply("tan", x)


def asin(x: Any) -> Any:
    """Inverse sine."""
    return apply("asin", x)


def acos(x: Any) -> Any:
    """Inverse cosine."""
    return apply("acos", x)


def atan(x: Any) -> Any:
    """Inverse tangent."""
    return apply("atan", x)


def atan2(y: Any, x: Any) -> Any:
    """Two-argument inverse tangent of ``y/x`` (quadrant-aware, as numpy.arctan2)."""
    return apply("atan2", y, x)


def sinh(x: Any) -> Any:
    """Hyperbolic sine."""
    return apply("sinh", x)


def cosh(x: Any) -> Any:
    """Hyperbolic cosine."""
    return apply("cosh", x)


def tanh(x: Any) -> Any:
    """Hyperbolic tangent."""
    return apply("tanh", x)


def asinh(x: Any) -> Any:
    """Inverse hyperbolic sine."""
    return apply("asinh", x)


def acosh(x: Any) -> Any:
    """Inverse hyperbolic cosine."""
    return apply("acosh", x)


def atanh(x: Any) -> Any:
    """Inverse hyperbolic tangent."""
    return apply("atanh", x)
