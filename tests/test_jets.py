"""Jet coefficients of the integrator (``ta.compute_jet()``) against independent references.

For every primitive of the table, with variable, parameter, number and time arguments, the
compiled jet (unrolled and compact) must equal the Taylor coefficients of the ODE's solution
computed by Picard iteration in mpmath (``integrator_helpers.mp_jet``: no code shared with the
recurrences), and the two emitters must agree with each other to rounding. Closed forms check
the jets exactly where the solution is known (``x' = x`` is ``exp``, ``x' = x**2`` is
``1/(1 - t)``, ``x' = cos(t)`` is ``sin``). hypothesis builds random small systems over the
shared series strategies (``tests/strategies.py``).

The tolerance ``1e-8`` gives order 11 (``ceil(-ln(tol)/2 + 1)``): enough orders to exercise every
recurrence, cheap to compile.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from integrator_helpers import EPS, assert_jets_close, float_jet, mp_jet, pendulum, ulp_distance
from strategies import series_expressions

import taylorjit as tj
from taylorjit._expr import PRIMITIVES, Call, Num

TOL = 1e-8  # order 11
p0, p1 = tj.par[0], tj.par[1]
t = tj.time


def make(sys, state, *, compact, pars=None, time=0.0, tol=TOL):
    return tj.taylor_adaptive(sys, state, pars=pars, time=time, tol=tol, compact_mode=compact)


def jets_both_modes(sys, state, *, pars=None, time=0.0, tol=TOL, integrators=None):
    """``compute_jet()`` of the unrolled and the compact integrator (copies); the integrators
    are appended to ``integrators`` if given."""
    out = []
    for compact in (False, True):
        ta = make(sys, state, compact=compact, pars=pars, time=time, tol=tol)
        assert ta.compact_mode is compact
        out.append(ta.compute_jet().copy())
        if integrators is not None:
            integrators.append(ta)
    return out


def assert_modes_agree(unrolled, compact, what=""):
    """Compact and unrolled jets run the same recurrences with sums in another order: equal to
    a few units of the row's largest coefficient (relative to tiny coefficients that arise by
    cancellation, the ulp distance can be large, so the scale is the row's)."""
    assert_jets_close(compact, unrolled, rtol=32 * EPS, what=f"compact vs unrolled {what}")


# ---------------------------------------------------------------------------------------------
# One system per primitive: one equation per argument variant.
# Each variant is a function of (a, b): a is the equation's own variable, b the next one's.
# ---------------------------------------------------------------------------------------------
def _unary(f, lo, hi, *, number=0.5):
    """Variants of a unary function, with an initial point inside [lo, hi]."""
    mid = (lo + hi) / 2
    return {
        "variants": [
            lambda a, b: f(a),                     # variable argument
            lambda a, b: f(a - 0.25 * b),          # expression argument
            lambda a, b: a * f(p0),                # parameter argument
            lambda a, b: a + f(Num(Fraction(number).limit_denominator(8))),  # exact number
            lambda a, b: f(mid + 0.1 * t) * a,     # time argument
        ],
        "state": (lo + 0.3 * (hi - lo), lo + 0.6 * (hi - lo)),
        "pars": [mid],
    }


CASES = {
    "sin": _unary(tj.sin, -2.0, 2.0),
    "cos": _unary(tj.cos, -2.0, 2.0),
    "tan": _unary(tj.tan, -1.0, 1.0),
    "asin": _unary(tj.asin, -0.6, 0.6),
    "acos": _unary(tj.acos, -0.6, 0.6),
    "atan": _unary(tj.atan, -2.0, 2.0),
    "sinh": _unary(tj.sinh, -1.5, 1.5),
    "cosh": _unary(tj.cosh, -1.5, 1.5),
    "tanh": _unary(tj.tanh, -1.5, 1.5),
    "asinh": _unary(tj.asinh, -2.0, 2.0),
    "acosh": _unary(tj.acosh, 1.5, 3.0, number=2.0),
    "atanh": _unary(tj.atanh, -0.6, 0.6),
    "exp": _unary(tj.exp, -1.0, 1.0),
    "log": _unary(tj.log, 0.5, 2.5, number=2.0),
    "sqrt": _unary(tj.sqrt, 0.5, 2.5, number=2.0),
    "square": _unary(tj.square, -1.0, 1.0),
    "erf": _unary(tj.erf, -1.5, 1.5),
    "neg": {"variants": [lambda a, b: -a, lambda a, b: -(a * b), lambda a, b: a * -p0,
                         lambda a, b: a * -t], "state": (0.3, -0.7), "pars": [0.4]},
    "add": {"variants": [lambda a, b: a + b, lambda a, b: a + p0, lambda a, b: 2.5 + a,
                         lambda a, b: t + a, lambda a, b: p0 + Num(2)],
            "state": (0.3, -0.7), "pars": [0.4]},
    "sub": {"variants": [lambda a, b: a - b, lambda a, b: p0 - a, lambda a, b: a - 1.5,
                         lambda a, b: t - a, lambda a, b: 1.25 - p0],
            "state": (0.3, -0.7), "pars": [0.4]},
    "mul": {"variants": [lambda a, b: a * b, lambda a, b: p0 * a, lambda a, b: a * p0,
                         lambda a, b: a * 2.5, lambda a, b: a * t, lambda a, b: p0 * t,
                         lambda a, b: tj.sin(a) * tj.exp(b)],
            "state": (0.3, -0.7), "pars": [0.4]},
    "div": {"variants": [lambda a, b: a / (2 + b), lambda a, b: a / p0, lambda a, b: 1.5 / (1 + a),
                         lambda a, b: a / Num(3), lambda a, b: p0 / (2 + b), lambda a, b: a / (1 + t),
                         lambda a, b: t / p0],
            "state": (0.3, -0.7), "pars": [0.4]},
    "pow": {"variants": [lambda a, b: tj.pow(a, 1.7), lambda a, b: tj.pow(a, -2.3),
                         lambda a, b: tj.pow(a, Fraction(1, 3)), lambda a, b: tj.pow(a, 3),
                         lambda a, b: tj.pow(a, 4), lambda a, b: tj.pow(a, 7.0),
                         lambda a, b: tj.pow(a, -3), lambda a, b: tj.pow(a, p0),
                         lambda a, b: tj.pow(a, b), lambda a, b: tj.pow(2.0, a),
                         lambda a, b: tj.pow(p0, b), lambda a, b: tj.pow(a, 0.5),
                         lambda a, b: tj.pow(a + t, 1.5)],
            "state": (0.9, 1.3), "pars": [1.6]},
    "atan2": {"variants": [lambda a, b: tj.atan2(b, a), lambda a, b: tj.atan2(a, -b),
                           lambda a, b: tj.atan2(p0, a), lambda a, b: tj.atan2(a, p0),
                           lambda a, b: tj.atan2(1.5, a), lambda a, b: tj.atan2(a, 1 + t)],
              "state": (0.8, -1.1), "pars": [-0.7]},
    "kepE": {"variants": [lambda a, b: tj.kepE(0.2 + 0.1 * b, a), lambda a, b: tj.kepE(p0, a),
                          lambda a, b: tj.kepE(0.3, a), lambda a, b: tj.kepE(0.1 * b, p0),
                          lambda a, b: tj.kepE(0.9, a), lambda a, b: tj.kepE(0.5, a + t)],
             "state": (1.2, 2.1), "pars": [0.45]},
    "time": {"variants": [lambda a, b: t, lambda a, b: a * t, lambda a, b: tj.cos(t) * b,
                          lambda a, b: t * t],
             "state": (0.3, -0.7), "pars": []},
}


def system_for(name):
    case = CASES[name]
    variants = case["variants"]
    n = len(variants)
    us = tj.make_vars(*[f"u{i}" for i in range(n)])
    lo, hi = case["state"]
    state = [lo + (hi - lo) * i / max(n - 1, 1) for i in range(n)]
    sys = [(us[i], f(us[i], us[(i + 1) % n])) for i, f in enumerate(variants)]
    return sys, state, case["pars"]


def test_every_primitive_has_a_jet_case():
    assert set(PRIMITIVES) <= set(CASES), sorted(set(PRIMITIVES) - set(CASES))
    for name in CASES:
        if name == "time":
            continue
        sys, _, _ = system_for(name)
        # the primitive really appears in the system (not folded away)
        found = [f for _, f in sys if isinstance(f, Call) and (f.name == name or any(
            isinstance(a, Call) and a.name == name for a in f.args))]
        assert found, name


@pytest.mark.parametrize("name", sorted(CASES))
def test_jet_of_each_primitive_vs_mpmath(name):
    sys, state, pars = system_for(name)
    time = 0.125
    unrolled, compact = jets_both_modes(sys, state, pars=pars or None, time=time)
    ref = mp_jet(sys, state, unrolled.shape[1] - 1, pars, time)
    assert_jets_close(unrolled, ref, rtol=1e-12, what=f"{name} unrolled")
    assert_jets_close(compact, ref, rtol=1e-12, what=f"{name} compact")
    assert_modes_agree(unrolled, compact, name)
    # the same recurrences over Python floats: equal to rounding
    assert_jets_close(unrolled, float_jet(sys, state, unrolled.shape[1] - 1, pars, time),
                      rtol=32 * EPS, what=f"{name} vs the float reference")


def test_jet_shape_order_and_column_zero():
    sys = pendulum()
    ta = tj.taylor_adaptive(sys, [0.3, -0.2], tol=TOL)
    tc = ta.compute_jet()
    assert ta.order == math.ceil(-math.log(TOL) / 2 + 1) == 11
    assert tc.shape == (2, ta.order + 1)
    assert tc[0, 0] == 0.3 and tc[1, 0] == -0.2
    # x' = v exactly: x[k+1] = v[k] / (k+1)
    for k in range(ta.order):
        assert tc[0, k + 1] == pytest.approx(tc[1, k] / (k + 1), rel=2 * EPS, abs=0)
    # compute_jet leaves the state and time alone, and ta.tc is the same array
    assert list(ta.state) == [0.3, -0.2] and ta.time == 0.0
    np.testing.assert_array_equal(ta.tc, tc)


@pytest.mark.parametrize("compact", [False, True])
def test_default_tolerance_order_20_pendulum(compact):
    sys = pendulum()
    ta = tj.taylor_adaptive(sys, [0.05, 0.025], compact_mode=compact)
    assert ta.order == 20 == math.ceil(-math.log(EPS) / 2 + 1)
    assert_jets_close(ta.compute_jet(), mp_jet(sys, [0.05, 0.025], 20), rtol=1e-13)


# ---------------------------------------------------------------------------------------------
# Closed forms
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("compact", [False, True])
def test_exp(compact):
    x = tj.make_vars("x")
    tc = make([(x, x)], [1.5], compact=compact).compute_jet()[0]
    ref = np.array([1.5 / math.factorial(k) for k in range(len(tc))])
    assert ulp_distance(tc, ref).max() <= 4


@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize("x0", [1.0, 0.5, -2.0])
def test_square_is_a_geometric_series(compact, x0):
    # x' = x**2 (written as a power and as a product): x(t) = x0 / (1 - x0 t), x[k] = x0**(k+1)
    x = tj.make_vars("x")
    for rhs in (x**2, x * x, tj.pow(x, 2.0)):
        tc = make([(x, rhs)], [x0], compact=compact).compute_jet()[0]
        ref = np.array([x0 ** (k + 1) for k in range(len(tc))])
        assert ulp_distance(tc, ref).max() <= 8, (rhs, tc)


@pytest.mark.parametrize("compact", [False, True])
def test_time_dependent_rhs_is_sine(compact):
    # x' = cos(t) at t0: x[k+1] = cos^(k)(t0) / (k+1)!
    x = tj.make_vars("x")
    t0 = 0.7
    tc = make([(x, tj.cos(t))], [math.sin(t0)], compact=compact, time=t0).compute_jet()[0]
    derivs = [math.cos(t0), -math.sin(t0), -math.cos(t0), math.sin(t0)]
    ref = [math.sin(t0)] + [derivs[k % 4] / math.factorial(k + 1) for k in range(len(tc) - 1)]
    np.testing.assert_allclose(tc, ref, rtol=4 * EPS, atol=0)


@pytest.mark.parametrize("compact", [False, True])
def test_harmonic_oscillator(compact):
    # x' = v, v' = -w^2 x with w = par[0]: x = cos(w t) at x0 = 1, v0 = 0
    x, v = tj.make_vars("x", "v")
    w = 1.5
    ta = make([(x, v), (v, -(p0 * p0) * x)], [1.0, 0.0], compact=compact, pars=[w])
    tc = ta.compute_jet()
    ref_x = [(-1) ** (k // 2) * w**k / math.factorial(k) if k % 2 == 0 else 0.0
             for k in range(ta.order + 1)]
    np.testing.assert_allclose(tc[0], ref_x, rtol=8 * EPS, atol=0)


@pytest.mark.parametrize("compact", [False, True])
def test_jet_reads_current_pars_and_time(compact):
    x = tj.make_vars("x")
    ta = make([(x, p0 * tj.sin(t))], [0.0], compact=compact, pars=[2.0], time=0.5)
    a = ta.compute_jet().copy()
    ta.pars[0] = 3.0
    b = ta.compute_jet().copy()
    np.testing.assert_allclose(b[0, 1:], 1.5 * a[0, 1:], rtol=2 * EPS)
    ta.time = 1.0
    c = ta.compute_jet()
    assert c[0, 1] == pytest.approx(3.0 * math.sin(1.0), rel=2 * EPS)


@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_natural_powers_from_zero_have_no_nan(compact, n):  # heyoka#98
    # x' = x**n at x = 0 with a slope: y' = 1, x' = y**n: the series of t**(n+1)/(n+1)
    x, y = tj.make_vars("x", "y")
    for rhs in (tj.pow(y, n), tj.pow(y, float(n))):
        tc = make([(x, rhs), (y, Num(1))], [0.0, 0.0], compact=compact).compute_jet()
        assert np.isfinite(tc).all(), (rhs, tc)
        ref = np.zeros(tc.shape[1])
        ref[n + 1] = 1.0 / (n + 1)
        np.testing.assert_allclose(tc[0], ref, rtol=2 * EPS, atol=0)


# ---------------------------------------------------------------------------------------------
# Random systems: compact vs unrolled vs the float reference vs mpmath
# ---------------------------------------------------------------------------------------------
X, Y = tj.make_vars("x", "y")
LEAVES = [X, Y, p0, p1, t, Num(3), Num(Fraction(1, 3)), Num(0.75)]


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(fx=series_expressions(LEAVES, max_leaves=5, exponents=(1.5, p0)),
       fy=series_expressions(LEAVES, max_leaves=5, exponents=(Fraction(2, 3),)),
       x0=st.floats(-1.0, 1.0), y0=st.floats(-1.0, 1.0), t0=st.floats(-1.0, 1.0))
def test_random_systems_compact_unrolled_reference(fx, fy, x0, y0, t0):
    sys = [(X, fx), (Y, fy)]
    pars = [0.4, -0.3][: 1 + max((p.index for p in tj.get_params([fx, fy])), default=-1)]
    tas = []
    unrolled, compact = jets_both_modes(sys, [x0, y0], pars=pars or None, time=t0, integrators=tas)
    order = unrolled.shape[1] - 1
    assert_modes_agree(unrolled, compact, f"{fx}, {fy}")
    assert_jets_close(unrolled, float_jet(sys, [x0, y0], order, pars, t0), rtol=1e-13,
                      what="vs the float reference")
    assert_jets_close(unrolled, mp_jet(sys, [x0, y0], order, pars, t0), rtol=1e-10,
                      what="vs mpmath", floor=1e-20)
    # and the two modes integrate alike (0.1 is before any blow-up of these right-hand sides,
    # x**4 from |x| <= 1 being the fastest; an err_nf_state must then happen in both)
    results = [ta.propagate_for(0.1) for ta in tas]
    assert results[0][0] == results[1][0]
    if results[0][0] == tj.taylor_outcome.time_limit:
        assert results[0][3] == results[1][3]
        np.testing.assert_allclose(tas[1].state, tas[0].state, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("compact", [False, True])
def test_right_hand_sides_that_are_leaves(compact):
    # a variable, a parameter, time, an exact and a float number, the variable itself
    x, y, z, w, u, s = tj.make_vars("x", "y", "z", "w", "u", "s")
    sys = [(x, y), (y, p0), (z, t), (w, Num(2)), (u, 1.5), (s, s)]
    state = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    ta = make(sys, state, compact=compact, pars=[0.5], time=0.25, tol=1e-4)
    tc = ta.compute_jet()
    np.testing.assert_array_equal(tc[:5, :3], [[1.0, 2.0, 0.25], [2.0, 0.5, 0.0], [3.0, 0.25, 0.5],
                                              [4.0, 2.0, 0.0], [5.0, 1.5, 0.0]])
    assert (tc[:5, 3:] == 0).all()
    np.testing.assert_allclose(tc[5], [6.0 / math.factorial(k) for k in range(ta.order + 1)], rtol=EPS)
    np.testing.assert_array_equal(tc, mp_jet(sys, state, ta.order, [0.5], 0.25))


@pytest.mark.parametrize("compact", [False, True])
def test_shared_subexpressions_and_aux_series(compact):
    # sin and cos of the same argument share their auxiliary series; tan reads tan**2
    x, y = tj.make_vars("x", "y")
    s = tj.sin(x + y)
    sys = [(x, s * tj.cos(x + y) + tj.tan(y)), (y, s - tj.square(tj.tan(y)))]
    ta = make(sys, [0.3, 0.2], compact=compact)
    assert_jets_close(ta.compute_jet(), mp_jet(sys, [0.3, 0.2], ta.order), rtol=1e-12)
