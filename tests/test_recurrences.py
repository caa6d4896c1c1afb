"""The table's Taylor recurrences over floats, against mpmath series of the same functions.

``taylor_coefficients`` runs each primitive's recurrence on floats; the reference is
``mpmath.taylor`` (50 digits) of the same function of ``t`` along the same lines
``x = x0 + t``, ``y = y0 + y1 t``, ``time = t0 + t``, with parameters constant. The function is
taken from ``tj.to_sympy`` and lambdified to mpmath, so the reference shares no code with the
recurrences; Kepler's equation is solved by Newton's method in mpmath.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from fractions import Fraction

import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from references import mp_kepE
from strategies import series_expressions

import taylorjit as tj
from taylorjit._expr import PRIMITIVES, Call, Num
from taylorjit._primitives.series import taylor_coefficients

x, y = tj.make_vars("x", "y")
p0 = tj.par[0]
ORDER = 30


_SYMBOLS = [tj.to_sympy(v) for v in (x, y, p0, tj.time)]


def reference(e, x0, y0, y1, par, t0, order):
    """Normalised Taylor coefficients of e(x0 + t, y0 + y1 t, par, t0 + t), from mpmath."""
    f = sp.lambdify(_SYMBOLS, tj.to_sympy(e), modules=[{"kepE": mp_kepE}, "mpmath"])
    with mp.workdps(50):
        x0m, y0m, y1m, pm, t0m = (mp.mpf(v) for v in (x0, y0, y1, par, t0))
        coeffs = mp.taylor(lambda t: f(x0m + t, y0m + y1m * t, pm, t0m + t), 0, order)
        return np.array([float(mp.re(c)) for c in coeffs])


def ours(e, x0, y0, y1, par, t0, order):
    return taylor_coefficients([e], {x: x0, y: [y0, y1]}, order, pars=[par], time=t0)[0]


def assert_series_close(got, ref, rtol=1e-10):
    assert got.shape == ref.shape
    assert np.all(np.isfinite(got)), got
    scale = max(1.0, float(np.max(np.abs(ref))))
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=1e-12 * scale)


# ---------------------------------------------------------------------------------------------
# One entry per primitive: variants (argument kinds) and the domain to draw points from.
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    label: str
    expr: object
    x: tuple[float, float] = (-1.0, 1.0)  # x0 drawn uniformly from this interval
    y: tuple[float, float] = (-1.0, 1.0)  # y0 drawn uniformly from this interval
    y1: float = 0.5  # the slope of y
    par: tuple[float, float] = (0.2, 0.8)


def _unary(name, lo, hi):
    f = getattr(tj, name)
    return [
        Variant(f"{name}(x)", f(x), x=(lo, hi)),
        Variant(f"{name}(2x - y)", f(2 * x - y), x=((lo + hi) / 2, (lo + hi) / 2 + 0.1), y=(
            (lo + hi) / 2, (lo + hi) / 2 + 0.1), y1=0.25),
        Variant(f"{name}(p)", f(p0), par=(lo, hi)),
    ]


CASES: dict[str, list[Variant]] = {
    "sin": _unary("sin", -3.0, 3.0),
    "cos": _unary("cos", -3.0, 3.0),
    "tan": _unary("tan", -1.0, 1.0),
    "asin": _unary("asin", -0.6, 0.6),
    "acos": _unary("acos", -0.6, 0.6),
    "atan": _unary("atan", -2.0, 2.0),
    "sinh": _unary("sinh", -2.0, 2.0),
    "cosh": _unary("cosh", -2.0, 2.0),
    "tanh": _unary("tanh", -2.0, 2.0),
    "asinh": _unary("asinh", -2.0, 2.0),
    "acosh": _unary("acosh", 1.5, 4.0),
    "atanh": _unary("atanh", -0.6, 0.6),
    "exp": _unary("exp", -2.0, 2.0),
    "log": _unary("log", 0.5, 3.0),
    "sqrt": _unary("sqrt", 0.5, 3.0),
    "square": _unary("square", -2.0, 2.0),
    "erf": _unary("erf", -2.0, 2.0),
    "neg": [Variant("-x", -x), Variant("-(x*y)", -(x * y))],
    "add": [Variant("x + y", x + y), Variant("x + p", x + p0), Variant("2.5 + x", 2.5 + x),
            Variant("t + x", tj.time + x)],
    "sub": [Variant("x - y", x - y), Variant("p - x", p0 - x), Variant("x - 1.5", x - 1.5)],
    "mul": [Variant("x*y", x * y), Variant("p*x", p0 * x), Variant("x*p", x * p0),
            Variant("x*2.5", x * 2.5), Variant("sin(x)*exp(y)", tj.sin(x) * tj.exp(y))],
    "div": [Variant("x/y", x / y, y=(0.5, 2.0)), Variant("x/p", x / p0),
            Variant("1.5/x", 1.5 / x, x=(0.5, 2.0)), Variant("x/3", x / Num(3)),
            Variant("p/y", p0 / y, y=(-2.0, -0.5))],
    "pow": [
        Variant("x**1.7", tj.pow(x, 1.7), x=(0.5, 3.0)),
        Variant("x**-2.3", tj.pow(x, -2.3), x=(0.5, 3.0)),
        Variant("x**(1/3)", tj.pow(x, Fraction(1, 3)), x=(0.5, 3.0)),
        Variant("x**3", tj.pow(x, 3), x=(-2.0, 2.0)),
        Variant("x**4", tj.pow(x, 4), x=(-2.0, 2.0)),
        Variant("x**5", tj.pow(x, 5), x=(-2.0, 2.0)),
        Variant("x**7.0", tj.pow(x, 7.0), x=(-2.0, 2.0)),
        Variant("x**-3", tj.pow(x, -3), x=(0.5, 3.0)),
        Variant("x**p", tj.pow(x, p0), x=(0.5, 3.0), par=(-2.0, 2.0)),
        Variant("x**y", tj.pow(x, y), x=(0.5, 3.0)),
        Variant("2.0**x", tj.pow(2.0, x)),
        Variant("p**y", tj.pow(p0, y), par=(0.5, 3.0)),
    ],
    "atan2": [
        Variant("atan2(y, x)", tj.atan2(y, x), x=(0.5, 2.0), y=(-2.0, 2.0)),
        Variant("atan2(x, y)", tj.atan2(x, y), x=(-2.0, 2.0), y=(-2.0, -0.5), y1=-0.3),
        Variant("atan2(p, x)", tj.atan2(p0, x), x=(-2.0, 2.0), par=(0.5, 2.0)),
        Variant("atan2(x, p)", tj.atan2(x, p0), x=(-2.0, 2.0), par=(-2.0, -0.5)),
        Variant("atan2(1.5, x)", tj.atan2(1.5, x), x=(-2.0, 2.0)),
    ],
    "kepE": [
        Variant("kepE(y, x)", tj.kepE(y, x), x=(-3.0, 3.0), y=(0.1, 0.4), y1=0.1),
        Variant("kepE(p, x)", tj.kepE(p0, x), x=(-3.0, 3.0), par=(0.0, 0.5)),
        Variant("kepE(0.3, x)", tj.kepE(0.3, x), x=(-6.0, 6.0)),
        Variant("kepE(y, p)", tj.kepE(y, p0), y=(0.1, 0.3), y1=0.1, par=(-3.0, 3.0)),
    ],
}
N_POINTS = {"kepE": 2}  # kepE's mpmath reference is slow; 3 points for the others


def _points(name, variant):
    rng = np.random.default_rng(zlib.crc32(variant.label.encode()))
    for _ in range(N_POINTS.get(name, 3)):
        yield (float(rng.uniform(*variant.x)), float(rng.uniform(*variant.y)), variant.y1,
               float(rng.uniform(*variant.par)), float(rng.uniform(-1.0, 1.0)))


PARAMS = [
    pytest.param(name, v, pt, id=f"{v.label}@{i}")
    for name, variants in CASES.items() for v in variants
    for i, pt in enumerate(_points(name, v))
]


def test_every_primitive_has_a_recurrence_case():
    missing = set(PRIMITIVES) - set(CASES)
    assert not missing, f"primitives without a recurrence test case: {sorted(missing)}"
    for name, variants in CASES.items():
        assert name in PRIMITIVES
        for v in variants:
            # the variant really exercises the primitive (not folded away into something else)
            assert isinstance(v.expr, Call) and v.expr.name == name, (name, v.label, v.expr)


@pytest.mark.parametrize(("name", "variant", "point"), PARAMS)
def test_recurrence_vs_mpmath_order_30(name, variant, point):
    x0, y0, y1, par, t0 = point
    got = ours(variant.expr, x0, y0, y1, par, t0, ORDER)
    ref = reference(variant.expr, x0, y0, y1, par, t0, ORDER)
    assert_series_close(got, ref)


@pytest.mark.parametrize("name", sorted(CASES))
def test_order_zero_is_the_numpy_value(name):
    # the order-0 coefficient is the primitive's numpy_eval, bit for bit
    v = CASES[name][0]
    x0, y0, y1, par, t0 = next(_points(name, v))
    got = ours(v.expr, x0, y0, y1, par, t0, 0)
    assert got.shape == (1,)
    args = [taylor_coefficients([a], {x: x0, y: [y0, y1]}, 0, pars=[par], time=t0)[0, 0]
            for a in v.expr.args]
    assert got[0] == float(PRIMITIVES[name].numpy_eval(*args))


# ---------------------------------------------------------------------------------------------
# Regressions from heyoka's tracker
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [3, 4, 5, 6, 7])
@pytest.mark.parametrize("slope", [1.0, 2.0, -0.5])
def test_natural_powers_at_zero_are_exact(n, slope):  # heyoka#98
    for e in (tj.pow(x, n), tj.pow(x, float(n))):
        got = taylor_coefficients([e], {x: [0.0, slope]}, 12)[0]
        expected = np.zeros(13)
        expected[n] = slope**n
        assert np.all(np.isfinite(got))
        np.testing.assert_array_equal(got, expected)


def test_natural_powers_of_a_series_through_zero():
    # (x + x**2)**3 along x = t: a polynomial, all coefficients exact integers
    e = tj.pow(x + tj.square(x), 3)
    got = taylor_coefficients([e], {x: 0.0}, 8)[0]
    np.testing.assert_array_equal(got, [0, 0, 0, 1, 3, 3, 1, 0, 0])


def test_kepE_zero_eccentricity_is_M():  # heyoka#185
    assert tj.kepE(0, x) is x
    # a float 0.0 is kept as written (exact-only identities) and its series is M's series too
    got = taylor_coefficients([tj.kepE(0.0, tj.sin(x))], {x: 0.7}, 12)[0]
    ref = taylor_coefficients([tj.sin(x)], {x: 0.7}, 12)[0]
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-15)
    # a runtime zero eccentricity goes through the recurrence and must give M's series too
    got = taylor_coefficients([tj.kepE(p0, tj.sin(x))], {x: 0.7}, 12, pars=[0.0])[0]
    ref = taylor_coefficients([tj.sin(x)], {x: 0.7}, 12)[0]
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-15)


def test_pow_zero_folds_to_one():  # heyoka#82
    assert tj.pow(x, 0) is Num(1)
    assert tj.pow(tj.sin(x), 0) is Num(1)
    # a float exponent 0.0 is kept as written; its series is still exactly 1, also at x = 0
    np.testing.assert_array_equal(taylor_coefficients([tj.pow(x, 0.0)], {x: 0.0}, 5)[0],
                                  [1, 0, 0, 0, 0, 0])
    for e in (1.0, 2.0):  # natural float exponents never divide by a[0] (heyoka#98)
        got = taylor_coefficients([tj.pow(x, e)], {x: 0.0}, 4)[0]
        np.testing.assert_array_equal(got, [0, 1, 0, 0, 0] if e == 1.0 else [0, 0, 1, 0, 0])
    got = taylor_coefficients([tj.pow(x, 0)], {x: 0.0}, 5)[0]
    np.testing.assert_array_equal(got, [1, 0, 0, 0, 0, 0])
    # a runtime zero exponent: x**p with p = 0 is the constant 1 away from x = 0
    got = taylor_coefficients([tj.pow(x, p0)], {x: 1.3}, 8, pars=[0.0])[0]
    np.testing.assert_allclose(got, [1, 0, 0, 0, 0, 0, 0, 0, 0], atol=1e-15)


def test_constant_arguments_give_constant_series():
    for name in ("sin", "cos", "tan", "exp", "log", "sqrt", "atan", "asinh", "erf", "tanh"):
        got = taylor_coefficients([getattr(tj, name)(p0)], {}, 10, pars=[0.7])[0]
        assert got[0] == pytest.approx(float(PRIMITIVES[name].numpy_eval(0.7)), rel=1e-15)
        np.testing.assert_array_equal(got[1:], np.zeros(10))


def test_time_line_and_given_coefficients():
    # x given by its own coefficients: x = 1 + 2t + 3t**2; time = 0.5 + t
    got = taylor_coefficients([x * tj.time], {x: [1.0, 2.0, 3.0]}, 4, time=0.5)[0]
    np.testing.assert_allclose(got, [0.5, 2.0, 3.5, 3.0, 0.0], rtol=0, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# Random compositions (orders up to 10)
# ---------------------------------------------------------------------------------------------
def expr_trees():
    # a runtime exponent: pow's recurrence for a parameter exponent
    return series_expressions([x, y, p0, tj.time, Num(3), Num(Fraction(1, 3)), Num(0.75)],
                              exponents=(1.5, p0))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(e=expr_trees(), order=st.integers(1, 10),
       x0=st.floats(-1.0, 1.0), y0=st.floats(-1.0, 1.0), t0=st.floats(-1.0, 1.0))
def test_random_compositions_vs_mpmath(e, order, x0, y0, t0):
    got = ours(e, x0, y0, 0.5, 0.4, t0, order)
    ref = reference(e, x0, y0, 0.5, 0.4, t0, order)
    assert_series_close(got, ref, rtol=1e-9)


def test_shared_subexpressions_expand_once():
    # a DAG that is exponential as a tree: expansion must follow the DAG
    e = x
    for _ in range(60):
        e = tj.sin(e) * e + e
    got = taylor_coefficients([e], {x: 0.1}, 5)[0]
    assert np.all(np.isfinite(got))
    assert math.isfinite(got[0])
