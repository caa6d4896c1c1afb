"""Vectorized gduals (``tj.gdual(np.array([...]), "x", order)``, pyaudi's gdual_vdouble).

One gdual holds the expansions at many points at once; every coefficient is an array with one
lane per point. Each lane must equal the scalar gdual computed at that point: bitwise, or within
1e-15 relative (1e-15 absolute on coefficients near zero). The number of points is also chosen
equal to the sizes of the homogeneous blocks (2, 3, 6 ...), where a lane axis could be mistaken
for a degree axis (audi issue #57 gave wrong mixed coefficients in a vectorized product).
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_gdual import (
    DNAMES,
    FUNCTION_CASES,
    NAMES,
    POINTS,
    TJ,
    build,
    multi_indices,
    trees,
)

import taylorjit as tj


def lane_coefficients(g, names, order, npoints):
    """{alpha: array of npoints coefficients} over ``names``."""
    sset = g.symbol_set
    out = {}
    for alpha in multi_indices(len(names), order):
        exps = dict(zip(names, alpha, strict=True))
        if any(e and s not in sset for s, e in exps.items()):
            v = 0.0
        elif not sset:
            v = g.constant_cf
        else:
            v = g.find_cf([exps.get(s, 0) for s in sset])
        out[alpha] = np.broadcast_to(np.asarray(v, dtype=float), (npoints,))
    return out


def assert_lanes_equal_scalars(gv, scalars, names, order, tol=1e-15):
    """Lane i of the vectorized ``gv`` equals the scalar gdual ``scalars[i]``."""
    npoints = len(scalars)
    vec = lane_coefficients(gv, names, order, npoints)
    for i, gs in enumerate(scalars):
        if not isinstance(gs, tj.gdual):
            gs = tj.gdual(float(gs))
        ref = lane_coefficients(gs, names, order, 1)
        for alpha in vec:
            v, s = vec[alpha][i], ref[alpha][0]
            if v == s or (np.isnan(v) and np.isnan(s)):
                continue
            assert abs(v - s) <= tol * max(abs(s), 1.0), (
                f"lane {i}, coefficient {alpha}: vectorized {v!r}, scalar {s!r}")


def run_vectorized_and_scalar(f, points, order):
    """``f(ns, *vars)`` once on vectorized gduals and once per point on scalar ones."""
    n = len(points)
    gv = f(TJ, *[tj.gdual(np.array(p, dtype=float), NAMES[k], order) for k, p in enumerate(points)])
    npoints = len(points[0])
    scalars = [f(TJ, *[tj.gdual(float(points[k][i]), NAMES[k], order) for k in range(n)])
               for i in range(npoints)]
    return gv, scalars


# --------------------------------------------------------------------------------------------
# lanes == scalars


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.filter_too_much])
@given(st.integers(1, 3).flatmap(lambda n: st.tuples(
    trees(n, 6),
    st.sampled_from([1, 2, 3, 4, 6, 10]).flatmap(
        lambda m: st.lists(st.lists(st.sampled_from(POINTS), min_size=m, max_size=m),
                           min_size=n, max_size=n)),
    st.integers(0, 5))))
def test_random_compositions_lanes_equal_scalars(case):
    tree, points, order = case
    f = build(tree)
    gv, scalars = run_vectorized_and_scalar(f, points, order)
    if not isinstance(gv, tj.gdual):
        return
    assert_lanes_equal_scalars(gv, scalars, DNAMES[:len(points)], order)


@pytest.mark.parametrize("npoints", [1, 2, 3, 6, 7])
@pytest.mark.parametrize("name", sorted(FUNCTION_CASES))
def test_every_function_lanes_equal_scalars(name, npoints):
    rng = np.random.default_rng(npoints)
    xs = 0.5 + 0.05 * rng.standard_normal(npoints)
    ys = -0.25 + 0.05 * rng.standard_normal(npoints)
    gv, scalars = run_vectorized_and_scalar(FUNCTION_CASES[name], [xs, ys], 4)
    assert_lanes_equal_scalars(gv, scalars, DNAMES[:2], 4)


def test_audi_issue_57_mixed_coefficients():
    """darioizzo/audi#57: x*y/(y - x) on gdual_vdouble gave dx*dy = [-2200, -220]."""

    def f(x, y):
        return x * y / (y - x)

    x = tj.gdual(1.1, "x", 2)
    y = tj.gdual(2.1, "y", 2)
    xv = tj.gdual(np.array([1.0, 1.1]), "x", 2)
    yv = tj.gdual(np.array([1.1, 2.1]), "y", 2)
    g, gv = f(x, y), f(xv, yv)
    assert g.find_cf([1, 1]) == pytest.approx(-4.62, rel=1e-13)
    mixed = np.asarray(gv.find_cf([1, 1]))
    assert mixed.shape == (2,)
    assert mixed[1] == pytest.approx(-4.62, rel=1e-13)
    # every coefficient of both lanes, against exact values
    X, Y = sp.symbols("x y")
    expr = X * Y / (Y - X)
    for lane, (x0, y0) in enumerate([(sp.Integer(1), sp.Rational(11, 10)),
                                     (sp.Rational(11, 10), sp.Rational(21, 10))]):
        for a, b in multi_indices(2, 2):
            exact = sp.diff(expr, X, a, Y, b).subs({X: x0, Y: y0}) / (math.factorial(a)
                                                                        * math.factorial(b))
            got = np.asarray(gv.find_cf([a, b]))[lane]
            assert got == pytest.approx(float(exact), rel=1e-12), (lane, a, b)
    assert_lanes_equal_scalars(gv, [f(tj.gdual(1.0, "x", 2), tj.gdual(1.1, "y", 2)), g],
                               DNAMES[:2], 2)


@pytest.mark.parametrize("npoints", [1, 2, 3, 4, 6])
def test_vectorized_meets_scalar_gduals_and_numbers(npoints):
    xs = np.linspace(0.1, 0.9, npoints)
    xv = tj.gdual(xs, "x", 3)
    y = tj.gdual(-0.25, "y", 3)
    z = tj.gdual(0.75, "z", 3)
    gv = tj.exp(xv * y) / (2 + z) - 3 * xv * z + np.float64(1.5) * y ** 2
    scalars = [tj.exp(tj.gdual(v, "x", 3) * y) / (2 + z) - 3 * tj.gdual(v, "x", 3) * z
               + 1.5 * y ** 2 for v in xs]
    assert gv.symbol_set == ["dx", "dy", "dz"]
    assert_lanes_equal_scalars(gv, scalars, ["dx", "dy", "dz"], 3)


def test_vectorized_symbols_over_two_vectors():
    xv = tj.gdual(np.array([0.5, -0.5, 0.25]), "x", 4)
    yv = tj.gdual(np.array([0.1, 0.2, 0.3]), "y", 4)
    gv = tj.sin(xv * yv) * tj.atan2(yv, xv + 2)
    scalars = [tj.sin(tj.gdual(a, "x", 4) * tj.gdual(b, "y", 4))
               * tj.atan2(tj.gdual(b, "y", 4), tj.gdual(a, "x", 4) + 2)
               for a, b in [(0.5, 0.1), (-0.5, 0.2), (0.25, 0.3)]]
    assert_lanes_equal_scalars(gv, scalars, ["dx", "dy"], 4)


# --------------------------------------------------------------------------------------------
# the API on vectorized gduals


def test_vectorized_attributes_and_derivatives():
    xs = np.array([0.5, 1.5, -0.25])
    xv = tj.gdual(xs, "x", 3)
    assert xv.order == 3
    assert xv.symbol_set == ["dx"]
    np.testing.assert_array_equal(np.asarray(xv.constant_cf), xs)
    gv = tj.exp(xv)
    np.testing.assert_array_equal(np.asarray(gv.get_derivative({"dx": 2})),
                                  [tj.exp(tj.gdual(v, "x", 3)).get_derivative([2]) for v in xs])
    np.testing.assert_array_equal(np.asarray(gv.get_derivative([3])), np.asarray(
        gv.find_cf([3])) * 6)
    idx, vals = gv.derivatives()
    vals = np.asarray(vals)
    assert idx.shape[1] == 1 and vals.shape[0] == idx.shape[0]
    for r, v in zip(idx, vals, strict=True):
        np.testing.assert_array_equal(np.broadcast_to(v, (3,)),
                                      np.asarray(gv.get_derivative(list(r))))
    with pytest.raises(ValueError):
        gv.get_derivative([4])


def test_vectorized_constant_and_evaluate():
    c = tj.gdual(np.array([1.0, 2.0]))
    assert c.order == 0
    np.testing.assert_array_equal(np.asarray(c.constant_cf), [1.0, 2.0])
    xv = tj.gdual(np.array([0.5, 1.5]), "x", 3)
    gv = c * xv * xv
    scalars = [1.0 * tj.gdual(0.5, "x", 3) ** 2, 2.0 * tj.gdual(1.5, "x", 3) ** 2]
    assert_lanes_equal_scalars(gv, scalars, ["dx"], 3)
    got = np.asarray(gv.evaluate({"dx": 0.1}))
    np.testing.assert_allclose(got, [1.0 * 0.6 ** 2, 2.0 * 1.6 ** 2], rtol=1e-15)


def test_vectorized_pickle_and_str():
    gv = tj.sin(tj.gdual(np.array([0.5, 1.5]), "x", 3) * tj.gdual(0.2, "y", 3))
    back = pickle.loads(pickle.dumps(gv))
    assert back.order == gv.order and back.symbol_set == gv.symbol_set
    a = lane_coefficients(back, ["dx", "dy"], 3, 2)
    b = lane_coefficients(gv, ["dx", "dy"], 3, 2)
    for alpha in a:
        np.testing.assert_array_equal(a[alpha], b[alpha])
    assert "dx" in str(gv)


def test_vectorized_numpy_ufuncs():
    xv = tj.gdual(np.array([0.25, 0.5, 0.75]), "x", 3)
    for ufunc, fn in [(np.sin, tj.sin), (np.exp, tj.exp), (np.arctan, tj.atan),
                      (np.sqrt, tj.sqrt)]:
        got = ufunc(xv)
        assert isinstance(got, tj.gdual)
        a = lane_coefficients(got, ["dx"], 3, 3)
        b = lane_coefficients(fn(xv), ["dx"], 3, 3)
        for alpha in a:
            np.testing.assert_array_equal(a[alpha], b[alpha])


def test_vectorized_out_of_domain_lane_is_nan_and_others_are_unaffected():
    with np.errstate(all="ignore"):
        gv = tj.log(tj.gdual(np.array([-1.0, 2.0, 0.5]), "x", 3))
    cf = np.asarray(gv.constant_cf)
    assert np.isnan(cf[0])
    for lane, v in [(1, 2.0), (2, 0.5)]:
        ref = tj.log(tj.gdual(v, "x", 3))
        for k in range(4):
            assert np.asarray(gv.find_cf([k]))[lane] == ref.find_cf([k])


# --------------------------------------------------------------------------------------------
# bad input


def test_mismatched_lengths_raise():
    xv = tj.gdual(np.array([1.0, 2.0]), "x", 2)
    yv = tj.gdual(np.array([1.0, 2.0, 3.0]), "y", 2)
    with pytest.raises(ValueError):
        xv + yv
    with pytest.raises(ValueError):
        xv * yv
    with pytest.raises(ValueError):
        tj.atan2(xv, yv)
    with pytest.raises(ValueError):
        xv ** yv
    with pytest.raises(ValueError):
        tj.kepE(0.1 * xv, yv)
    with pytest.raises(ValueError):
        xv * tj.gdual(np.array([1.0, 2.0, 3.0]))


def test_bad_vectorized_values_raise():
    with pytest.raises((ValueError, TypeError)):
        tj.gdual(np.ones((2, 2)), "x", 2)
    with pytest.raises(ValueError):
        tj.gdual(np.array([]), "x", 2)


def test_vectorized_polynomial_operations_lanes_equal_scalars():
    xs = np.array([0.5, 1.5, -0.25])
    ys = np.array([0.1, -0.2, 0.3])
    order = 4

    def build_g(xv, yv):
        return tj.exp(xv * yv) * tj.cos(xv - 2 * yv) + xv ** 3

    gv = build_g(tj.gdual(xs, "x", order), tj.gdual(ys, "y", order))
    gs = [build_g(tj.gdual(a, "x", order), tj.gdual(b, "y", order)) for a, b in zip(xs, ys,
                                                                                    strict=True)]
    names = ["dx", "dy"]
    ops = [
        lambda g: g.partial("dx"),
        lambda g: g.partial("y"),
        lambda g: g.integrate("dy"),
        lambda g: g.subs("dx", tj.gdual(0.25)),
        lambda g: g.subs("dy", 0.5 * tj.gdual(0.0, "x", order)),
        lambda g: g.extract_terms(2),
        lambda g: g.trim(0.05),
    ]
    for op in ops:
        assert_lanes_equal_scalars(op(gv), [op(g) for g in gs], names, order)
    got = np.asarray(gv.evaluate({"dx": 0.1, "dy": -0.05}))
    ref = [g.evaluate({"dx": 0.1, "dy": -0.05}) for g in gs]
    np.testing.assert_allclose(got, ref, rtol=1e-15)
