"""Symbolic differentiation: tj.diff and tj.diff_tensors against sympy and mpmath."""

from __future__ import annotations

import math
import time
from itertools import product

import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import series_expressions

import taylorjit as tj
from taylorjit._expr import Num, postorder

x, y, z = tj.make_vars("x", "y", "z")
p0, p1 = tj.par[0], tj.par[1]
LEAVES = (x, y, z, p0, p1)


# ---------------------------------------------------------------------------------------------
# An independent numeric reference: sympy -> mpmath, with Kepler's equation solved in mpmath
# ---------------------------------------------------------------------------------------------
def mp_kepE(e, M):  # noqa: N802
    """E with E - e sin(E) = M, to the working precision."""
    e, M = mp.mpf(e), mp.mpf(M)
    return mp.findroot(lambda E: E - e * mp.sin(E) - M, M + e * mp.sin(M))


def sym(leaf):
    return tj.to_sympy(leaf)


def mp_function(s_expr):
    """An mpmath function of the five leaves (x, y, z, par[0], par[1]) for a sympy expression."""
    return sp.lambdify([sym(v) for v in LEAVES], s_expr, modules=[{"kepE": mp_kepE}, "mpmath"])


def close(got, ref, rel=1e-12):
    got, ref = complex(got), complex(ref)
    assert ref.imag == 0 and got.imag == 0
    assert abs(got.real - ref.real) <= rel * max(1.0, abs(ref.real)), (got, ref)


# Every primitive, with a point inside its domain: values of (x, y, z, p0, p1).
POINT = (0.37, 0.61, 1.3, 0.45, 1.7)
CASES = {
    "add": x + y, "sub": x - y, "mul": x * y, "div": x / y, "neg": -tj.sin(x * y),
    "square": tj.square(x * y), "sqrt": tj.sqrt(x + y), "pow_var": tj.pow(x, y),
    "pow_float": tj.pow(x + y, 1.7), "pow_nat": tj.pow(x - y, 5), "pow_neg": tj.pow(z, -1.5),
    "pow_par": tj.pow(z, p1), "pow_base_num": tj.pow(2.0, x * y),
    "sin": tj.sin(x * y), "cos": tj.cos(x * y), "tan": tj.tan(x + y), "asin": tj.asin(x * y),
    "acos": tj.acos(x * y), "atan": tj.atan(x * y), "atan2": tj.atan2(y, x),
    "atan2_rev": tj.atan2(x * z, y), "sinh": tj.sinh(x * y), "cosh": tj.cosh(x * y),
    "tanh": tj.tanh(x * y), "asinh": tj.asinh(x * y), "acosh": tj.acosh(z + y),
    "atanh": tj.atanh(x * y), "exp": tj.exp(x * y), "log": tj.log(x + z), "erf": tj.erf(x * y),
    "kepE": tj.kepE(x, y * z), "kepE_par": tj.kepE(p0, x * z), "kepE_num": tj.kepE(0.3, x),
    "par_mix": p0 * tj.sin(x) + tj.pow(y, p1) * p0,
}


def test_every_primitive_has_a_diff_case():
    from taylorjit._expr import PRIMITIVES

    used = {n.name for e in CASES.values() for n in postorder(e) if hasattr(n, "prim")}
    assert set(PRIMITIVES) <= used, set(PRIMITIVES) - used


def _check_first_derivatives(e, point=POINT):
    s = tj.to_sympy(e)
    f = mp_function(s)
    for i, v in enumerate(LEAVES):
        d = tj.diff(e, v)
        got = mp_function(tj.to_sympy(d))(*point)
        ref_sympy = mp_function(sp.diff(s, sym(v)))(*point)
        ref_numeric = mp.diff(lambda h, i=i: f(*point[:i], point[i] + h, *point[i + 1:]), 0)
        close(got, ref_sympy)
        close(got, ref_numeric, rel=1e-11)


@pytest.mark.parametrize("name", sorted(CASES))
def test_first_derivatives_vs_sympy_and_mpmath(name):
    with mp.workdps(30):
        _check_first_derivatives(CASES[name])


@pytest.mark.parametrize("name", sorted(CASES))
def test_second_derivatives_vs_sympy(name):
    e = CASES[name]
    s = tj.to_sympy(e)
    with mp.workdps(30):
        for a, b in ((x, x), (x, y), (z, p0), (y, p1)):
            got = mp_function(tj.to_sympy(tj.diff(tj.diff(e, a), b)))(*POINT)
            ref = mp_function(sp.diff(s, sym(a), sym(b)))(*POINT)
            close(got, ref, rel=1e-11)


def test_kepE_derivatives_are_the_implicit_function_ones():
    # E - e sin E = M  =>  dE/dM = 1/(1 - e cos E), dE/de = sin E/(1 - e cos E)
    e0, m0 = 0.4, 1.1
    k = tj.kepE(x, y)
    dx = tj.to_sympy(tj.diff(k, x))
    dy = tj.to_sympy(tj.diff(k, y))
    with mp.workdps(30):
        E = mp_kepE(e0, m0)
        close(mp_function(dx)(e0, m0, 0, 0, 0), mp.sin(E) / (1 - e0 * mp.cos(E)))
        close(mp_function(dy)(e0, m0, 0, 0, 0), 1 / (1 - e0 * mp.cos(E)))


def test_simple_exact_derivatives():
    assert tj.diff(x * y, x) is y
    assert tj.diff(x + y, "x") is Num(1)
    assert tj.diff(tj.sin(x), y) is Num(0)
    assert tj.diff(tj.sin(x), x) is tj.cos(x)
    assert tj.diff(tj.exp(x), x) is tj.exp(x)
    assert tj.diff(p0 * x, p0) is x
    assert tj.diff(p0 * x, p1) is Num(0)
    assert tj.diff(Num(3), x) is Num(0)
    assert tj.diff([x * y, y], y) == [x, Num(1)]


def test_diff_wrt_parameters():
    e = p0 * tj.sin(x) + tj.pow(x, p1) + tj.kepE(p0, p1)
    s = tj.to_sympy(e)
    with mp.workdps(30):
        for p in (p0, p1):
            got = mp_function(tj.to_sympy(tj.diff(e, p)))(*POINT)
            ref = mp_function(sp.diff(s, sym(p)))(*POINT)
            close(got, ref)


@pytest.mark.parametrize("bad", [x + y, tj.sin(x), tj.time, Num(1.0), 2.0])
def test_diff_wrt_an_expression_raises(bad):
    with pytest.raises(ValueError, match="only with respect to variables and parameters"):
        tj.diff(x * y, bad)


# ---------------------------------------------------------------------------------------------
# Random compositions
# ---------------------------------------------------------------------------------------------
def expr_trees(max_leaves=6):
    return series_expressions([x, y, z, p0, p1, Num(2), Num(0.75), Num(-1.5)], max_leaves)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(e=expr_trees(), wrt=st.sampled_from(LEAVES))
def test_random_compositions_vs_sympy(e, wrt):
    d = tj.diff(e, wrt)
    with mp.workdps(30):
        got = mp_function(tj.to_sympy(d))(*POINT)
        ref = mp_function(sp.diff(tj.to_sympy(e), sym(wrt)))(*POINT)
        close(got, ref, rel=1e-11)


# ---------------------------------------------------------------------------------------------
# Memoization: shared subexpressions are differentiated once
# ---------------------------------------------------------------------------------------------
def test_shared_chain_grows_linearly():
    e = x
    depth = 300
    for _ in range(depth):
        e = tj.sin(e) * e  # as a tree this is 2**300 nodes; as a DAG it is linear
    n0 = len(postorder(e))
    t0 = time.perf_counter()
    d = tj.diff(e, x)
    elapsed = time.perf_counter() - t0
    n1 = len(postorder([e, d]))
    assert elapsed < 5.0
    assert n1 <= 6 * n0


def _nbody_accelerations(n):
    xs = [tj.var(f"x_{i}") for i in range(n)]
    ys = [tj.var(f"y_{i}") for i in range(n)]
    zs = [tj.var(f"z_{i}") for i in range(n)]
    masses = [Num(1) / (i + 1) for i in range(n)]
    accs = []
    for i in range(n):
        ax = ay = az = Num(0)
        for j in range(n):
            if j == i:
                continue
            dx, dy, dz = xs[j] - xs[i], ys[j] - ys[i], zs[j] - zs[i]
            r2 = tj.square(dx) + tj.square(dy) + tj.square(dz)
            f = masses[j] * tj.pow(r2, -1.5)
            ax, ay, az = ax + dx * f, ay + dy * f, az + dz * f
        accs += [ax, ay, az]
    positions = [v for i in range(n) for v in (xs[i], ys[i], zs[i])]
    return accs, positions


def test_nbody_jacobian_is_fast_linear_and_correct():
    n = 20
    accs, positions = _nbody_accelerations(n)
    nargs = len(positions)
    n0 = len(postorder(accs))
    t0 = time.perf_counter()
    dt = tj.diff_tensors(accs, args=positions, order=1)
    elapsed = time.perf_counter() - t0
    n1 = len(postorder(list(dt.values())))
    print(
        f"\n[20-body diff_tensors] {len(accs)} accelerations x {nargs} positions: "
        f"{elapsed:.3f} s; DAG nodes: original {n0}, with all first derivatives {n1} "
        f"(ratio {n1 / n0:.2f}; linear bound {3 * nargs} x original)"
    )
    assert elapsed < 10.0
    assert len(dt) == len(accs) * (1 + nargs)
    assert n1 <= 3 * nargs * n0

    # Numerical check against the analytic Jacobian of Newtonian gravity.
    from taylorjit._primitives.series import taylor_coefficients

    rng = np.random.default_rng(20)
    r = rng.uniform(-1.0, 1.0, size=(n, 3))
    point = {v: [r[k // 3, k % 3]] for k, v in enumerate(positions)}
    jac = dt.get_jacobian()
    assert len(jac) == 3 * n and all(len(row) == nargs for row in jac)
    got = taylor_coefficients([e for row in jac for e in row], point, 0)[:, 0].reshape(3 * n, nargs)
    ref = np.zeros((3 * n, nargs))
    for i in range(n):
        for j in range(n):
            if j == i:
                continue
            d = r[j] - r[i]
            dist = np.linalg.norm(d)
            block = (np.eye(3) / dist**3 - 3 * np.outer(d, d) / dist**5) / (j + 1)
            ref[3 * i:3 * i + 3, 3 * j:3 * j + 3] = block
            ref[3 * i:3 * i + 3, 3 * i:3 * i + 3] -= block
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())


# ---------------------------------------------------------------------------------------------
# diff_tensors
# ---------------------------------------------------------------------------------------------
def test_diff_tensors_keys_and_order():
    f = [x * tj.square(y), tj.sin(x) + y]
    dt = tj.diff_tensors(f, args=[x, y], order=2)
    assert dt.order == 2 and dt.nouts == 2 and dt.args == (x, y)
    assert list(dt) == [
        (0, 0, 0), (1, 0, 0),
        (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 0, 1),
        (0, 2, 0), (0, 1, 1), (0, 0, 2), (1, 2, 0), (1, 1, 1), (1, 0, 2),
    ]
    assert len(dt) == 12
    assert dt[(0, 0, 0)] is f[0]
    assert dt[(1, 0, 0)] is f[1]
    assert dt[(1, 1, 0)] is tj.cos(x)
    assert dt[(1, 0, 1)] is Num(1)
    assert dt[(1, 1, 1)] is Num(0)
    assert dt[[0, 1, 0]] is tj.square(y)
    assert dt.index_of((0, 1, 1)) == 7
    assert [k for k, _ in dt.get_derivatives(1, component=1)] == [(1, 1, 0), (1, 0, 1)]
    assert [k for k, _ in dt.get_derivatives(2)] == list(dt)[6:]
    with pytest.raises(KeyError):
        dt[(0, 1)]
    with pytest.raises(KeyError):
        dt[(0, 3, 0)]
    jac = dt.get_jacobian()
    assert jac[1] == [tj.cos(x), Num(1)]
    with pytest.raises(ValueError):
        dt.get_gradient()


def test_diff_tensors_gradient_and_order_zero():
    e = tj.exp(x) * y * p0
    dt = tj.diff_tensors([e], args=[x, y, p0], order=1)
    assert dt.get_gradient() == [tj.diff(e, x), tj.diff(e, y), tj.diff(e, p0)]
    dt0 = tj.diff_tensors([e], args=[x], order=0)
    assert list(dt0) == [(0, 0)] and dt0[(0, 0)] is e
    with pytest.raises(ValueError):
        dt0.get_jacobian()


def _sympy_derivative(s, args, counts):
    spec = [a for a, c in zip(args, counts, strict=True) for _ in range(c)]
    return sp.diff(s, *spec) if spec else s


@pytest.mark.parametrize("order", [2, 3])
def test_diff_tensors_mixed_derivatives_vs_sympy(order):
    f = [tj.exp(x * y) * tj.sin(z), tj.atan2(x, z) + tj.pow(y, p0) * x, tj.kepE(0.2 * tj.cos(x), y)]
    args = [x, y, z, p0]
    dt = tj.diff_tensors(f, args=args, order=order)
    nargs = len(args)
    assert len(dt) == len(f) * math.comb(nargs + order, order)
    sargs = [sym(a) for a in args]
    sf = tj.to_sympy(f)
    with mp.workdps(30):
        for key, expr in dt.items():
            i, counts = key[0], key[1:]
            assert sum(counts) <= order
            got = mp_function(tj.to_sympy(expr))(*POINT)
            ref = mp_function(_sympy_derivative(sf[i], sargs, counts))(*POINT)
            close(got, ref, rel=1e-11)


def test_diff_tensors_mixed_partials_are_shared():
    dt = tj.diff_tensors([tj.sin(x * y * z)], args=[x, y, z], order=3)
    # each mixed derivative exists once: (1,1,1) is computed once whatever the path
    dxyz = dt[(0, 1, 1, 1)]
    assert dxyz is dt[(0, 1, 1, 1)]
    assert len(dt) == math.comb(6, 3)


@pytest.mark.parametrize(("exprs", "args", "order", "match"), [
    ([], [x], 1, "empty"),
    ([x], [], 1, "empty"),
    ([x * y], [x, x], 1, "Duplicate"),
    ([x * y], [x, y], -1, "order"),
    ([x * y], [x, y], 1.5, "order"),
    ([x * y], [x + y], 1, "only with respect to variables and parameters"),
])
def test_diff_tensors_bad_input(exprs, args, order, match):
    with pytest.raises(ValueError, match=match):
        tj.diff_tensors(exprs, args=args, order=order)


def test_diff_tensors_consistent_with_repeated_diff():
    e = tj.tanh(x * p0) / (1 + tj.square(y))
    dt = tj.diff_tensors([e], args=[x, y, p0], order=3)
    for counts in product(range(4), repeat=3):
        if sum(counts) > 3:
            continue
        d = e
        for v, c in zip((x, y, p0), counts, strict=True):
            for _ in range(c):
                d = tj.diff(d, v)
        with mp.workdps(30):
            close(mp_function(tj.to_sympy(dt[(0, *counts)]))(*POINT),
                  mp_function(tj.to_sympy(d))(*POINT))
