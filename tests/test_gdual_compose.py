"""Map composition (``compose``), map inversion (``tj.invert_map``) and compiled map evaluation
(``compile_map``).

``compose`` runs Horner's scheme over the monomial tree as a compiled program; the reference
here is the plain monomial sum ``sum_a p_a prod_i args_i ** a_i`` in gdual arithmetic
(``compose_map`` of test_gdual.py). Inverses are checked by composing both ways: the identity
must come back to the truncation order.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_gdual import assert_series_close, compose_map, multi_indices

import taylorjit as tj
from taylorjit._series import compile_map, compose


def random_polynomial(rng, names, order, density=1.0, point=0.0):
    """A polynomial in the deviations of ``names`` (expanded at ``point``): coefficients
    U(-1, 1), each monomial present with probability ``density`` (the constant always)."""
    xs = [tj.gdual(point, n, order) for n in names]
    devs = [x - point for x in xs]
    total = sum((0.0 * x for x in xs), tj.gdual(float(rng.uniform(-1, 1))))
    for alpha in multi_indices(len(names), order)[1:]:
        if rng.random() < density:
            term = tj.gdual(float(rng.uniform(-1, 1)))
            for d, e in zip(devs, alpha, strict=True):
                if e:
                    term = term * d ** e
            total = total + term
    return total


def identity_error(maps, inverse):
    """Largest coefficient of ``M(M^-1(y)) - y`` and ``M^-1(M(x)) - x`` (constants dropped)."""
    devs = [m - m.constant_cf for m in maps]
    worst = 0.0
    for outer, inner in ((devs, inverse), (inverse, devs)):
        for i, p in enumerate(outer):
            indices, values = compose(p, inner).derivatives()
            residue = values / np.prod([[math.factorial(e) for e in row] for row in indices], axis=1)
            residue[np.all(indices == np.eye(len(maps), dtype=int)[i], axis=1)] -= 1.0
            worst = max(worst, float(np.abs(residue).max()))
    return worst


# --------------------------------------------------------------------------------------------
# compose


@pytest.mark.parametrize("outer_order, inner_orders", [(5, (5, 5, 5)), (4, (6, 6, 6)), (6, (5, 4, 5))])
def test_compose_matches_the_monomial_sum(outer_order, inner_orders):
    """Arguments with constant terms (a Taylor shift first) over other symbols; the result has
    the smallest order."""
    rng = np.random.default_rng(1)
    p = random_polynomial(rng, "xyz", outer_order)
    u, v = tj.gdual(0.3, "u", 8), tj.gdual(-0.2, "v", 8)
    args = [tj.sin(u + v) + 0 * tj.gdual(0.0, "u", inner_orders[0]),
            tj.exp(u * v) + 0 * tj.gdual(0.0, "u", inner_orders[1]),
            u - 2 * v + 0 * tj.gdual(0.0, "u", inner_orders[2])]
    got = compose(p, args)
    assert got.order == min(outer_order, *inner_orders)
    assert got.symbol_set == ["du", "dv"]
    assert_series_close(got, compose_map(p, args), tol=1e-13, names=("du", "dv"))


@pytest.mark.parametrize("density", [0.0, 0.05, 0.3])
def test_compose_of_sparse_polynomials(density):
    """Subtrees of the monomial tree without coefficients are skipped: still exact."""
    rng = np.random.default_rng(2)
    p = random_polynomial(rng, "xyz", 6, density=density, point=0.5)
    args = [random_polynomial(rng, "xy", 6, point=0.1) for _ in range(3)]
    assert_series_close(compose(p, args), compose_map(p, args), tol=1e-13, names=("dx", "dy"))
    x, y = tj.gdual(0.0, "x", 6), tj.gdual(0.0, "y", 6)
    q = 3 * x**4 * y - 0.5 * y**2 + 1.0
    assert_series_close(compose(q, [x + y, x * y]), 3 * (x + y) ** 4 * (x * y) - 0.5 * (x * y) ** 2 + 1.0,
                        tol=1e-14, names=("dx", "dy"))


def test_compose_with_numbers_and_edge_sizes():
    rng = np.random.default_rng(3)
    p = random_polynomial(rng, "xyz", 4)
    y = tj.gdual(0.7, "y", 4)
    # numbers for some symbols: a constant term only
    assert_series_close(compose(p, [0.1, y, -0.3]), compose_map(p, [tj.gdual(0.1), y, tj.gdual(-0.3)]),
                        tol=1e-13, names=("dy",))
    # numbers only: the value
    value = compose(p, [0.1, 0.2, -0.3])
    assert value.symbol_set == [] and value.order == 0
    assert value.constant_cf == pytest.approx(p.evaluate({"dx": 0.1, "dy": 0.2, "dz": -0.3}), rel=1e-14)
    # one inner symbol
    t = tj.gdual(0.25, "t", 4)
    assert_series_close(compose(p, [t, t * t, tj.cos(t)]), compose_map(p, [t, t * t, tj.cos(t)]),
                        tol=1e-13, names=("dt",))
    # order 0 and constant polynomials
    assert compose(tj.gdual(0.5, "x", 0) * 2, [t]).constant_cf == pytest.approx(1.0)
    assert compose(tj.gdual(2.5), []).constant_cf == 2.5


def test_compose_vectorized_lanes_equal_scalars():
    rng = np.random.default_rng(4)
    points = np.array([0.1, -0.2, 0.35])
    p = random_polynomial(rng, "xy", 5)
    u = tj.gdual(points, "u", 5)
    pv = p * tj.gdual(np.ones(3))  # a vectorized outer polynomial too
    for outer in (p, pv):
        got = compose(outer, [tj.sin(u), u * u + 0.5])
        for i, a in enumerate(points):
            us = tj.gdual(float(a), "u", 5)
            ref = compose(p, [tj.sin(us), us * us + 0.5])
            for alpha in range(6):
                assert got.find_cf({"du": alpha})[i] == pytest.approx(ref.find_cf({"du": alpha}),
                                                                       rel=1e-13, abs=1e-14)
    # a vectorized polynomial of scalar series with constant terms (the shift broadcasts)
    v = tj.gdual(0.4, "v", 5)
    got, ref = compose(pv, [tj.sin(v), v * v]), compose(p, [tj.sin(v), v * v])
    for alpha in range(6):
        np.testing.assert_allclose(got.find_cf({"dv": alpha}), ref.find_cf({"dv": alpha}), rtol=1e-14)


def test_compose_rejects_bad_arguments():
    x, y = tj.gdual(0.1, "x", 3), tj.gdual(0.2, "y", 3)
    with pytest.raises(ValueError, match="2 arguments"):
        compose(x * y, [x])
    a, b = tj.gdual(np.zeros(2), "x", 3), tj.gdual(np.zeros(3), "y", 3)
    with pytest.raises(ValueError, match="numbers of points"):
        compose(a * x, [b])


# --------------------------------------------------------------------------------------------
# invert_map


def random_map(rng, n, order):
    """No constant term; linear part I + (0.5/n) U(-1, 1); nonlinear terms U(-1, 1) / 2^degree."""
    names = [f"x{i}" for i in range(n)]
    xs = [tj.gdual(0.0, s, order) for s in names]
    linear = np.eye(n) + (0.5 / n) * rng.uniform(-1, 1, (n, n))
    maps = []
    for i in range(n):
        g = sum((linear[i, j] * xs[j] for j in range(n)), tj.gdual(0.0))
        for alpha in multi_indices(n, order):
            if sum(alpha) >= 2:
                term = tj.gdual(float(rng.uniform(-1, 1)) / 2.0 ** sum(alpha))
                for x, e in zip(xs, alpha, strict=True):
                    if e:
                        term = term * x ** e
                g = g + term
        maps.append(g)
    return maps


@pytest.mark.parametrize("n, order", [(1, 9), (2, 8), (4, 5)])
def test_invert_random_maps(n, order):
    maps = random_map(np.random.default_rng(n), n, order)
    inverse = tj.invert_map(maps)
    assert [g.order for g in inverse] == [order] * n
    devs = [m - m.constant_cf for m in maps]
    for p in inverse:  # the fast composition, and the plain monomial sum
        assert_series_close(compose(p, devs), compose_map(p, devs), tol=1e-12,
                            names=tuple(maps[0].symbol_set))
    assert identity_error(maps, inverse) < 1e-12


@pytest.mark.slow
def test_invert_a_map_at_6_variables_order_10():
    maps = random_map(np.random.default_rng(6), 6, 10)
    assert identity_error(maps, tj.invert_map(maps)) < 1e-11


def test_invert_map_prints_progress_when_verbose(capsys):
    x, y = tj.gdual(0.0, "x", 3), tj.gdual(0.0, "y", 3)
    tj.invert_map([x + y * y, y - x * x], verbose=True)
    assert "order 3 of 3" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# compile_map


def test_compile_map_evaluates_like_evaluate():
    xs = [tj.gdual(0.1 * (i + 1), f"x{i}", 7) for i in range(3)]
    maps = [tj.exp(xs[0] * xs[1]) + xs[2], tj.sin(xs[1] - xs[2]) / (2 + xs[0]), tj.atan(xs[1]) * 1.5]
    cf = compile_map(maps)
    assert [str(v) for v in cf.vars] == ["dx0", "dx1", "dx2"]
    d = np.random.default_rng(7).uniform(-0.1, 0.1, (3, 1000))
    values = cf(d)
    assert values.shape == (3, 1000)
    for row, g in zip(values, maps, strict=True):
        ref = g.evaluate({s: d[int(s[2:])] for s in g.symbol_set})
        np.testing.assert_allclose(row, ref, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(cf(d[:, 5]), values[:, 5], rtol=1e-15)  # one point


def test_compile_map_symbols_order_and_errors():
    x, y = tj.gdual(0.5, "x", 4), tj.gdual(-0.5, "y", 4)
    cf = compile_map(tj.exp(x) * y, symbols=["dy", "dx", "dz"])  # one gdual, chosen input order
    point = np.array([0.01, 0.02, 123.0])
    assert cf(point)[0] == pytest.approx((tj.exp(x) * y).evaluate({"dx": 0.02, "dy": 0.01}), rel=1e-15)
    with pytest.raises(ValueError, match=r"\['dy'\]"):
        compile_map([x * y], symbols=["dx"])
    with pytest.raises(ValueError, match="scalar gdual"):
        compile_map([tj.gdual(np.array([0.1, 0.2]), "x", 2)])
