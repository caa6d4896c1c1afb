"""Arithmetic primitives: add, sub, mul, div, neg, square, sqrt, pow."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from .._expr import Expr, Num, call
from .rules import conv, dconv, sym_conv
from .table import Primitive, TaylorForm, apply, fixed_form, is_runtime_constant, register


def _is_num(e: Expr, *values: float) -> bool:
    """``e`` is a number (exact or float) equal to one of ``values``."""
    return isinstance(e, Num) and any(e.value == v for v in values)


def _is_exact(e: Expr, *values: float) -> bool:
    """``e`` is an exact number (int or Fraction) equal to one of ``values``.

    NOTE: identities other than adding zero fire only for exact numbers: a float the user wrote
    (``x * 1.0``, ``x ** 2.0``) is kept as written, as sympy keeps it, so sympy round trips stay
    exact and the float's semantics (``0.0 * inf = nan``) are not simplified away.
    """
    return isinstance(e, Num) and e.is_exact and any(e.value == v for v in values)


# --- add -------------------------------------------------------------------------------------
def _add_simplify(args: tuple[Expr, ...]) -> Expr | None:
    a, b = args
    if _is_num(b, 0):
        return a
    if _is_num(a, 0):
        return b
    return None


ADD = register(Primitive(
    name="add", arity=2, numpy_eval=np.add,
    derivative=lambda args, node: (Num(1), Num(1)),
    taylor=fixed_form(lambda A, k, y, args, aux: A.add(args[0][k], args[1][k])),
    lowering="fadd", exact=lambda a, b: a + b, simplify_rule=_add_simplify,
    infix=" + ", precedence=10,
    doc="y[k] = a[k] + b[k]",
))


# --- sub -------------------------------------------------------------------------------------
def _sub_simplify(args: tuple[Expr, ...]) -> Expr | None:
    a, b = args
    if _is_num(b, 0):
        return a
    if _is_exact(a, 0):
        return call("neg", b)
    return None


SUB = register(Primitive(
    name="sub", arity=2, numpy_eval=np.subtract,
    derivative=lambda args, node: (Num(1), Num(-1)),
    taylor=fixed_form(lambda A, k, y, args, aux: A.sub(args[0][k], args[1][k])),
    lowering="fsub", exact=lambda a, b: a - b, simplify_rule=_sub_simplify,
    infix=" - ", precedence=10,
    doc="y[k] = a[k] - b[k]",
))


# --- neg -------------------------------------------------------------------------------------
def _neg_simplify(args: tuple[Expr, ...]) -> Expr | None:
    (a,) = args
    if getattr(a, "name", None) == "neg":
        return a.args[0]
    return None


NEG = register(Primitive(
    name="neg", arity=1, numpy_eval=np.negative,
    derivative=lambda args, node: (Num(-1),),
    taylor=fixed_form(lambda A, k, y, args, aux: A.neg(args[0][k])),
    lowering="fneg", exact=lambda a: -a, simplify_rule=_neg_simplify,
    infix="-", precedence=25,
    doc="y[k] = -a[k]",
))


# --- mul -------------------------------------------------------------------------------------
def _mul_simplify(args: tuple[Expr, ...]) -> Expr | None:
    a, b = args
    for x, other in ((a, b), (b, a)):
        if _is_exact(x, 1):
            return other
        if _is_exact(x, 0):
            return x
        if _is_exact(x, -1):
            return call("neg", other)
    if a is b and not isinstance(a, Num):  # x*x: the square's recurrence needs half the products
        return call("square", a)
    return None


def _mul_taylor(args: tuple[Expr, ...], node: Expr) -> TaylorForm:
    a, b = args
    if is_runtime_constant(a):
        return TaylorForm(lambda A, k, y, s, aux: A.mul(s[0][0], s[1][k]))
    if is_runtime_constant(b):
        return TaylorForm(lambda A, k, y, s, aux: A.mul(s[0][k], s[1][0]))
    return TaylorForm(lambda A, k, y, s, aux: conv(A, k, s[0], s[1]))


MUL = register(Primitive(
    name="mul", arity=2, numpy_eval=np.multiply,
    derivative=lambda args, node: (args[1], args[0]),
    taylor=_mul_taylor, lowering="fmul", exact=lambda a, b: a * b,
    simplify_rule=_mul_simplify, infix="*", precedence=20,
    doc="y[k] = sum_{j=0..k} a[j] b[k-j]",
))


# --- div -------------------------------------------------------------------------------------
def _div_exact(a: Any, b: Any) -> Any:
    if b == 0:
        return None
    q = Fraction(a) / Fraction(b)
    return q.numerator if q.denominator == 1 else q


def _div_simplify(args: tuple[Expr, ...]) -> Expr | None:
    a, b = args
    if _is_exact(b, 1):
        return a
    if _is_exact(b, -1):
        return call("neg", a)
    return None


def _div_rule(A, k, y, s, aux):
    a, b = s
    return A.div_leading(A.sub(a[k], conv(A, k, b, y, 1, k)), b[0])


def _div_taylor(args: tuple[Expr, ...], node: Expr) -> TaylorForm:
    if is_runtime_constant(args[1]):
        return TaylorForm(lambda A, k, y, s, aux: A.div_leading(s[0][k], s[1][0]))
    return TaylorForm(_div_rule)


DIV = register(Primitive(
    name="div", arity=2, numpy_eval=np.true_divide,
    derivative=lambda args, node: (1 / args[1], -(node / args[1])),
    taylor=_div_taylor, lowering="fdiv", exact=_div_exact, simplify_rule=_div_simplify,
    infix="/", precedence=20,
    doc="y = a/b: y[k] = (a[k] - sum_{j=1..k} b[j] y[k-j]) / b[0]",
))


# --- square ----------------------------------------------------------------------------------
SQUARE = register(Primitive(
    name="square", arity=1, numpy_eval=np.square,
    derivative=lambda args, node: (2 * args[0],),
    taylor=fixed_form(lambda A, k, y, s, aux: sym_conv(A, k, s[0])),
    lowering="square", sympy_name=None, exact=lambda a: a * a,
    doc="y = a**2: y[k] = sum_{j=0..k} a[j] a[k-j]",
))


# --- sqrt ------------------------------------------------------------------------------------
def _exact_sqrt(a: Any) -> Any:
    q = Fraction(a)
    if q < 0:
        return None
    n, d = math.isqrt(q.numerator), math.isqrt(q.denominator)
    if n * n == q.numerator and d * d == q.denominator:
        r = Fraction(n, d)
        return r.numerator if r.denominator == 1 else r
    return None


def _sqrt_rule(A, k, y, s, aux):
    rest = sym_conv(A, k, y, 1)
    return A.div(A.div_leading(A.sub(s[0][k], rest), y[0]), 2)


SQRT = register(Primitive(
    name="sqrt", arity=1, numpy_eval=np.sqrt,
    derivative=lambda args, node: (Fraction(1, 2) / node,),
    taylor=fixed_form(_sqrt_rule), lowering="intrinsic:llvm.sqrt", sympy_name="sqrt",
    exact=_exact_sqrt,
    doc="y = sqrt(a): y[k] = (a[k] - sum_{j=1..k-1} y[j] y[k-j]) / (2 y[0])",
))


# --- pow -------------------------------------------------------------------------------------
def _pow_exact(a: Any, b: Any) -> Any:
    if isinstance(b, int):
        if a == 0 and b < 0:
            return None
        r = Fraction(a) ** b
        return r.numerator if r.denominator == 1 else r
    return None


def _pow_simplify(args: tuple[Expr, ...]) -> Expr | None:
    a, b = args
    if not isinstance(b, Num) or not b.is_exact:
        return None
    v = b.value
    if v == 0:
        return Num(1)
    if v == 1:
        return a
    if v == 2:
        return call("square", a)
    if v == Fraction(1, 2):
        return call("sqrt", a)
    if v == -1:
        return call("div", Num(1), a)
    return None


def natural_exponent(b: Expr) -> int | None:
    """The exponent as a natural number when it is one (exact, or a float such as 2.0), else None.

    (Exact 0, 1 and 2 never get here: ``pow`` simplifies them away; floats do.)
    """
    if isinstance(b, Num):
        v = b.value
        if (isinstance(v, int) or (isinstance(v, float) and v.is_integer())) and 0 <= v <= 2**31:
            return int(v)
    return None


def _pow_taylor(args: tuple[Expr, ...], node: Expr) -> TaylorForm:
    a, b = args
    n = natural_exponent(b)
    if n is not None:
        # NOTE: natural powers by binary powering, never dividing by a[0] (heyoka#98: pow with
        # small natural exponents divided by zero at a[0] = 0).
        if n % 2 == 0:
            half = call("pow", a, n // 2)
            return TaylorForm(lambda A, k, y, s, aux: sym_conv(A, k, aux[0]), (half,), True)
        lower = call("pow", a, n - 1)
        return TaylorForm(lambda A, k, y, s, aux: conv(A, k, s[0], aux[0]), (lower,), True)
    if is_runtime_constant(b):
        return TaylorForm(_pow_const_rule)
    # Variable exponent: y = exp(w) with w = b log(a), so y[k] = (1/k) sum j w[j] y[k-j].
    w = call("mul", b, call("log", a))
    return TaylorForm(lambda A, k, y, s, aux: A.div(dconv(A, k, aux[0], y), k), (w,), True)


def _pow_const_rule(A, k, y, s, aux):
    """y = a**alpha: k a[0] y[k] = alpha sum_{j=1..k} j a[j] y[k-j] - sum_{j=1..k-1} j y[j] a[k-j]."""
    a, b = s
    alpha = b[0]
    if isinstance(alpha, float) and isinstance(k, int):
        # A number exponent and order (unrolled jets, float series): one sum whose weights
        # (alpha (k-j) - j) / k are numbers, k a[0] y[k] = sum_{j<k} (alpha (k-j) - j) a[k-j] y[j].
        # NOTE: the weight scales a[k-j] before the product, so that the product and the
        # addition contract into one FMA: two operations per term, not three.
        total = A.sum(0, k - 1, lambda j: A.mul(A.scale(a[k - j], (alpha * (k - j) - j) / k), y[j]))
        return A.div_leading(total, a[0])
    total = A.sub(A.mul(alpha, dconv(A, k, a, y)), dconv(A, k, y, a, 1, k - 1))
    return A.div(A.div_leading(total, a[0]), k)


def _pow_derivative(args: tuple[Expr, ...], node: Expr) -> tuple[Expr, ...]:
    a, b = args
    d_base = b * call("pow", a, b - 1)
    d_exp = Num(0) if isinstance(b, Num) else node * call("log", a)
    return d_base, d_exp


POW = register(Primitive(
    name="pow", arity=2, numpy_eval=np.power, derivative=_pow_derivative, taylor=_pow_taylor,
    lowering="ir:pow", exact=_pow_exact, simplify_rule=_pow_simplify, infix="**",
    precedence=30,
    doc=(
        "y = a**alpha (alpha a number or parameter): "
        "k a[0] y[k] = sum_{j=0..k-1} (alpha (k-j) - j) a[k-j] y[j]; natural alpha by binary "
        "powering; an expression exponent as exp(b log a)"
    ),
))


def square(x: Any) -> Any:
    """``x**2``."""
    return apply("square", x)


def sqrt(x: Any) -> Any:
    """Square root."""
    return apply("sqrt", x)


def pow(x: Any, y: Any) -> Any:  # noqa: A001 - the public name users expect
    """``x**y`` (``y`` a number, a parameter or an expression)."""
    return apply("pow", x, y)
