"""Cached gdual kernels (``gduals._apply_kernel``) against the general path of the same rules.

Functions of scalar gduals run through a kernel cached per (function, nvars, order, operands):
univariate gduals through Python code staged from the recurrences (``univariate.py``), series
of 50 coefficients or more through the compiled staged kernels. The univariate kernels repeat
the block algebra's operations one for one, so they must agree with the general path bit for
bit, nan and inf included, and warn about nothing; sympy checks the derivatives themselves.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import taylorjit as tj
import taylorjit._series.gduals as gdual_module
from taylorjit._expr import PRIMITIVES

UNARY = sorted(n for n, p in PRIMITIVES.items() if p.arity == 1)
BINARY = sorted(n for n, p in PRIMITIVES.items() if p.arity == 2)
POINTS = [0.3, -0.7, 0.0, 1.0, -1.0, 2.5, 1e-300, 1e300, math.inf, math.nan]
NUMBERS = [2.5, -1.5, 0.5, 3.0, -2.0, 1.0, 0.0, math.nan]
SHAPES = {  # operands with different degree masks (zero blocks enter the rules as scalar zeros)
    "variable": lambda x: x,
    "sparse": lambda x: 1 + x * x if x.order else x,
    "dense": lambda x: tj.sin(x) * 0.5 + 0.25,
    "affine": lambda x: 0.5 - 2.0 * x,
    "zero": lambda x: x * 0.0,
}


def fast(name, args):
    """The cached kernel's result (called twice: number operands build at the second call)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # out-of-domain values give nan silently, as numpy would
        gdual_module._apply_kernel(name, args)
        return gdual_module._apply_kernel(name, args)


def assert_same(result, reference):
    assert result._symbols == reference._symbols and result._order == reference._order
    np.testing.assert_array_equal(result._c, reference._c)  # bit for bit; nan where nan


# --------------------------------------------------------------------------------------------
# univariate kernels: bit for bit against the block algebra


_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=150)


@settings(**_SETTINGS)
@given(st.sampled_from(UNARY), st.sampled_from(sorted(SHAPES)), st.sampled_from(POINTS),
       st.integers(0, 12))
def test_univariate_unary_equals_general_path(name, shape, point, order):
    with np.errstate(all="ignore"):
        g = SHAPES[shape](tj.gdual(point, "x", order))
    result = fast(name, (g,))
    assert result is not None
    assert_same(result, gdual_module._apply_general(name, (g,)))


@settings(**_SETTINGS)
@given(st.sampled_from(BINARY), st.sampled_from(sorted(SHAPES)), st.sampled_from(sorted(SHAPES)),
       st.sampled_from(POINTS), st.sampled_from(NUMBERS), st.integers(0, 12),
       st.sampled_from(["gg", "gn", "ng"]))
def test_univariate_binary_equals_general_path(name, shape_a, shape_b, point, number, order, kinds):
    with np.errstate(all="ignore"):
        x = tj.gdual(point, "x", order)
        a, b = SHAPES[shape_a](x), SHAPES[shape_b](0.5 * x + 0.75)
    args = {"gg": (a, b), "gn": (a, number), "ng": (number, b)}[kinds]
    result = fast(name, args)
    reference = gdual_module._apply_general(name, args)
    if result is None:  # zero and nan numbers take the general path
        assert kinds != "gg" and (number == 0 or number != number)
        return
    assert_same(result, reference)


@pytest.mark.parametrize("order", [20, 48])
@pytest.mark.parametrize("name", ["exp", "atan", "pow", "atan2"])
def test_univariate_high_orders_equal_general_path(name, order):
    x = tj.gdual(0.3, "x", order)
    args = (x,) if name in UNARY else (1 + x * x, tj.sin(x) + 0.5)
    assert_same(fast(name, args), gdual_module._apply_general(name, args))


def test_univariate_order_49_takes_the_compiled_kernel():
    x = tj.gdual(0.3, "x", 49)  # 50 coefficients: the staged kernel, as for any series that size
    result = fast("exp", (x,))
    kernel = gdual_module._KERNELS[("exp", 1, 49, x._nz)]
    assert kernel.__self__.__class__.__name__ == "StagedKernel"
    np.testing.assert_allclose(result._c, gdual_module._apply_general("exp", (x,))._c, rtol=1e-14)


def test_operands_of_different_orders_and_symbols():
    x, y = tj.gdual(0.3, "x", 10), tj.gdual(0.6, "y", 12)  # aligned to (2 variables, order 10)
    for name in ("div", "atan2", "pow"):
        assert_same(fast(name, (x, y)), gdual_module._apply_general(name, (x, y)))
    x, x5 = tj.gdual(0.3, "x", 3), tj.gdual(0.3, "x", 5)
    result = fast("div", (x5, x + 2.0))  # one symbol, orders 5 and 3: order 3, univariate
    assert result.order == 3
    assert_same(result, gdual_module._apply_general("div", (x5, x + 2.0)))


def test_vectorized_and_constant_gduals_take_the_general_path():
    v = tj.gdual(np.array([0.1, 0.2]), "x", 3)
    assert gdual_module._apply_kernel("exp", (v,)) is None
    assert gdual_module._apply_kernel("exp", (tj.gdual(2.0),)) is None
    assert tj.exp(v).constant_cf.tolist() == pytest.approx(np.exp([0.1, 0.2]).tolist(), rel=1e-15)


def test_a_number_operand_builds_its_kernel_at_the_second_call(monkeypatch):
    monkeypatch.setattr(gdual_module, "_KERNELS", {})
    monkeypatch.setattr(gdual_module, "_SEEN_ONCE", set())
    x = tj.gdual(0.3, "x", 2)
    assert gdual_module._apply_kernel("pow", (x, 1.75)) is None  # first sight: general path
    assert gdual_module._apply_kernel("pow", (x, 1.75)) is not None
    assert gdual_module._apply_kernel("exp", (x,)) is not None  # gduals only: at once
    assert_same(x**1.75, gdual_module._apply_general("pow", (x, 1.75)))


def test_kernel_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(gdual_module, "_KERNELS", {})
    monkeypatch.setattr(gdual_module, "_kernel_statements", 0)
    monkeypatch.setattr(gdual_module, "_KERNEL_CACHE_SIZE", 3)
    for order in range(1, 8):
        tj.exp(tj.gdual(0.3, "x", order))
        assert len(gdual_module._KERNELS) <= 3
    monkeypatch.setattr(gdual_module, "_KERNEL_CACHE_SIZE", 100)
    monkeypatch.setattr(gdual_module, "_KERNEL_CACHE_STATEMENTS", 500)  # atan at order 12: ~200
    for order in range(1, 13):
        tj.atan(tj.gdual(0.3, "x", order))
        total = sum(k.statements for k in gdual_module._KERNELS.values())
        assert total == gdual_module._kernel_statements <= 500


def test_out_of_domain_values_are_silent_nan_and_inf():
    x = tj.gdual(0.0, "x", 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(tj.log(x - 1.0)._c[0])
        assert math.isinf(tj.log(x)._c[0]) and math.isinf((1.0 / x)._c[0])
        assert math.isinf(tj.sqrt(x)._c[1])
        assert np.isnan(tj.acosh(0.5 * x)._c[0])


# --------------------------------------------------------------------------------------------
# univariate kernels against sympy

_S = sp.Symbol("s")
SYMPY_CASES = {
    "exp": (lambda g: tj.exp(g), lambda s: sp.exp(s)),
    "sin": (lambda g: tj.sin(g), lambda s: sp.sin(s)),
    "cos": (lambda g: tj.cos(g), lambda s: sp.cos(s)),
    "tan": (lambda g: tj.tan(g), lambda s: sp.tan(s)),
    "log": (lambda g: tj.log(g), lambda s: sp.log(s)),
    "sqrt": (lambda g: tj.sqrt(g), lambda s: sp.sqrt(s)),
    "atan": (lambda g: tj.atan(g), lambda s: sp.atan(s)),
    "asinh": (lambda g: tj.asinh(g), lambda s: sp.asinh(s)),
    "erf": (lambda g: tj.erf(g), lambda s: sp.erf(s)),
    "div": (lambda g: g / (2 + g * g), lambda s: s / (2 + s**2)),
    "rdiv": (lambda g: 1.5 / g, lambda s: sp.Rational(3, 2) / s),
    "pow": (lambda g: g**2.5, lambda s: s ** sp.Rational(5, 2)),
    "pow_gdual": (lambda g: g ** tj.sin(g), lambda s: s ** sp.sin(s)),
    "atan2": (lambda g: tj.atan2(g, 1 - g), lambda s: sp.atan2(s, 1 - s)),
}


@pytest.mark.parametrize("name", sorted(SYMPY_CASES))
def test_univariate_kernels_against_sympy(name):
    order, point = 8, sp.Rational(7, 10)
    f_tj, f_sp = SYMPY_CASES[name]
    for _ in range(2):  # the second call runs the cached kernel (numbers build at the second)
        g = f_tj(tj.gdual(float(point), "s", order))
    expr = f_sp(_S)
    for k in range(order + 1):
        exact = float(sp.N(sp.diff(expr, _S, k).subs(_S, point), 30))
        assert g.get_derivative([k]) == pytest.approx(exact, rel=1e-12, abs=1e-12)


# --------------------------------------------------------------------------------------------
# compiled kernels through the cache


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "atan", "div", "pow", "atan2"])
def test_staged_kernels_through_the_cache_equal_general_path(name):
    x, y = tj.gdual(0.3, "x", 10), tj.gdual(-0.7, "y", 10)
    for g in (x * y + 0.5, x * y - 1.0):  # inside and outside some domains (nan, silently)
        args = (g,) if name in UNARY else (g, tj.sin(y) + 2.0)
        assert_same(fast(name, args), gdual_module._apply_general(name, args))


def test_univariate_kernel_with_the_public_errstate(monkeypatch):
    """Where numpy's error state is not a context variable (numpy 1.x): ``np.errstate``."""
    from taylorjit._expr import Var, call
    from taylorjit._series import univariate

    monkeypatch.setattr(univariate, "_QUIET", None)
    x = tj.gdual(0.0, "x", 3)
    kernel = univariate.univariate_kernel(call("log", Var("_gdual_a")), 3, [x._mask(3), None])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = kernel(x._c)
    np.testing.assert_array_equal(out, gdual_module._apply_general("log", (x,))._c)


# --------------------------------------------------------------------------------------------
# the cheap paths of construction and arithmetic with numbers: the same arrays as the general ones


@pytest.mark.parametrize("order", [0, 1, 4])
def test_float_variable_equals_the_general_constructor(order):
    fast_variable = tj.gdual(0.3, "x", order)
    general = tj.gdual(np.float64(0.3), "x", order)  # (not a float: the general path)
    assert type(general._c) is type(fast_variable._c)
    assert fast_variable._c.dtype == general._c.dtype and fast_variable._c.shape == general._c.shape
    assert (fast_variable._symbols, fast_variable._order, fast_variable._nz) == (
        general._symbols, general._order, general._nz)
    np.testing.assert_array_equal(fast_variable._c, general._c)


@pytest.mark.parametrize("number", [2.5, -3, 0, 2**53, -(2**53), 2**53 + 1, np.float64(0.1), True])
def test_arithmetic_with_plain_numbers_equals_arithmetic_with_arrays(number):
    g = tj.sin(tj.gdual(0.3, "x", 3)) * tj.gdual(-0.7, "y", 3)
    value = np.asarray(number).astype(float)  # what the general path computes with
    np.testing.assert_array_equal((g + number)._c, np.concatenate([[g._c[0] + value], g._c[1:]]))
    np.testing.assert_array_equal((number * g)._c, g._c * value)
    if number:
        np.testing.assert_array_equal((g / number)._c, g._c / value)


def test_two_operand_alignment_equals_the_general_one():
    x, y = tj.gdual(0.3, "x", 4), tj.gdual(-0.7, "y", 3)
    coeffs, symbols, order = tj.gdual._align([x, y])
    # (a third operand that changes nothing takes the general path)
    general, symbols3, order3 = tj.gdual._align([x, y, x])
    assert (symbols, order) == (symbols3, order3) == (("dx", "dy"), 3)
    for c, ref in zip(coeffs, general, strict=False):
        np.testing.assert_array_equal(c, ref)
