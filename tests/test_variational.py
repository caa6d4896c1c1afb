"""Sensitivities: ``tj.var_ode_sys`` and the variational integrator.

References, independent of the variational code:

- central finite differences of plain integrations (order 1);
- the closed-form Kepler flow in mpmath, differentiated by central differences at 50 digits
  (its truncation error, ~1e-40, is far below the tolerance);
- for orders 2 to 4, the convergence rate of the Taylor map: the error against direct
  integrations from perturbed arguments must shrink like ``s**(order + 1)``;
- sympy, for the variational equations against hand-derived ones (heyoka's var_ode_sys.cpp);
- heyoka.py's own var_ode_sys, when installed.
"""

from __future__ import annotations

import math
import pickle
from itertools import combinations_with_replacement

import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from integrator_helpers import kepler, pendulum

import taylorjit as tj
from taylorjit._expr import Call, postorder
from taylorjit._taylor.variational import prepare_variational

x, v = tj.make_vars("x", "v")
#: heyoka's non-autonomous test system (var_ode_sys.cpp "nonauto sys"): a forced, damped pendulum.
FORCED = [(x, v), (v, tj.cos(tj.time) - tj.par[0] * v - tj.sin(x))]
FORCED_IC, FORCED_T0, FORCED_PAR = [0.2, 0.3], 0.5, [0.4]
KEPLER_X0 = [0.7, 0.2, -0.3, 1.2]  # an ellipse (a = 0.87, e = 0.32), not started at an apsis


def forced_rhs(s, t, p):
    return np.array([s[1], math.cos(t) - p * s[1] - math.sin(s[0])])


# ---------------------------------------------------------------------------------------------
# var_args and the arguments
# ---------------------------------------------------------------------------------------------
def test_var_args_values_and_union():
    assert (tj.var_args.vars, tj.var_args.params, tj.var_args.time) == (1, 2, 4)
    assert tj.var_args.vars | tj.var_args.params | tj.var_args.time == tj.var_args.all == 7
    assert isinstance(tj.var_args.vars | tj.var_args.time, tj.var_args)


@pytest.mark.parametrize(("sys", "args", "expected"), [
    # heyoka's var_ode_sys.cpp "basic": arguments deduced from the system
    ([(x, v), (v, -x)], tj.var_args.vars, [x, v]),
    ([(v, -x), (x, v)], tj.var_args.vars, [v, x]),
    ([(v, -x), (x, v + tj.par[2])], tj.var_args.params, [tj.par[2]]),
    ([(v, -x), (x, v + tj.time)], tj.var_args.time, [tj.time]),
    ([(v, -x), (x, v + tj.time)], tj.var_args.vars | tj.var_args.time, [v, x, tj.time]),
    ([(v, -x + tj.par[2]), (x, v + tj.time)], tj.var_args.vars | tj.var_args.params,
     [v, x, tj.par[2]]),
    ([(v, -x + tj.par[2]), (x, v + tj.time)], tj.var_args.params | tj.var_args.time,
     [tj.par[2], tj.time]),
    ([(v, -x + tj.par[2]), (x, v + tj.time)], tj.var_args.all, [v, x, tj.par[2], tj.time]),
    # explicit lists keep their order
    ([(x, v), (v, -x)], [x], [x]),
    ([(x, v), (v, -x)], [v, x], [v, x]),
    ([(x, v), (v, -x * tj.par[2])], [tj.par[2], v, tj.time, x], [tj.par[2], v, tj.time, x]),
    ([(x, v), (v, -x)], ("v",), [v]),  # a name means the variable
])
def test_vargs(sys, args, expected):
    vsys = tj.var_ode_sys(sys, args)
    assert all(a is b for a, b in zip(vsys.vargs, expected, strict=True))
    assert vsys.n_orig_sv == 2 and vsys.order == 1
    assert len(vsys.sys) == 2 * (1 + len(expected))


SHO = [(x, v), (v, -x)]


@pytest.mark.parametrize(("sys", "args", "order", "error", "match"), [
    (SHO, tj.var_args.vars, 0, ValueError,
     "^The 'order' argument to the var_ode_sys constructor must be nonzero$"),
    (SHO, tj.var_args.vars, -2, ValueError, "must be positive, but it is -2"),
    (SHO, tj.var_args.vars, 1.5, TypeError, "must be an integer, but it is 1.5"),
    (SHO, tj.var_args.vars, True, TypeError, "must be an integer"),
    ([(tj.var("∂x"), v), (v, -tj.var("∂x"))], tj.var_args.vars, 1, ValueError,
     "^Invalid state variable '∂x' detected: in a variational ODE system state variable names "
     "starting with '∂' are reserved$"),
    (SHO, [], 1, ValueError,
     "^Cannot formulate the variational equations with respect to an empty list of arguments$"),
    (SHO, [tj.var("z")], 1, ValueError,
     "^Cannot formulate the variational equations with respect to the initial conditions for the "
     "variable 'z', which is not among the state variables of the system$"),
    (SHO, [x + x], 1, ValueError,
     r"^Cannot formulate the variational equations with respect to the expression 'x \+ x': the "
     "expression is not a variable, not a parameter and not tj.time$"),
    (SHO, [1.5], 1, ValueError, "the expression '1.5': the expression is not a variable"),
    (SHO, [x, x], 1, ValueError,
     r"^Duplicate entries detected in the list of expressions with respect to which the "
     r"variational equations are to be formulated: \[x, x\]$"),
    (SHO, tj.var_args(0), 1, ValueError,
     "^Invalid var_args enumerator detected: the value of the enumerator must be in the "
     r"\[1, 7\] range, but a value of 0 was detected instead$"),
    (SHO, tj.var_args(8), 1, ValueError, "but a value of 8 was detected instead"),
    ([(x, v), (v, -x * tj.par[2])], [tj.par[3]], 1, ValueError,
     r"parameter par\[3\], which does not appear in the system \(its parameters: \['par\[2\]'\]\)"),
    (SHO, tj.var_args.params, 1, ValueError, "the system has no parameters"),
    (SHO, 1, 1, TypeError, "must be a var_args value or a list"),
    (SHO, "x", 1, TypeError, "must be a var_args value or a list"),
    (SHO, [object()], 1, TypeError, "an object of type object"),
    ([(x, v + tj.var("y")), (v, -x)], tj.var_args.vars, 1, ValueError,
     "the variable 'y' appears in the right-hand side but not in the left-hand side"),
])
def test_bad_input(sys, args, order, error, match):
    with pytest.raises(error, match=match):
        tj.var_ode_sys(sys, args, order)


# ---------------------------------------------------------------------------------------------
# The equations: heyoka's names and layout, hand-derived right-hand sides (var_ode_sys.cpp)
# ---------------------------------------------------------------------------------------------
def test_names_and_layout():
    vsys = tj.var_ode_sys([(x, v), (v, -tj.par[0] * tj.sin(x) + tj.time)], tj.var_args.all, 2)
    names = [lhs.name for lhs, _ in vsys.sys]
    assert names[:2] == ["x", "v"]
    assert names[2:10] == [f"∂[({k}, 1)]{c}" for c in "xv" for k in range(4)]
    combos = list(combinations_with_replacement(range(4), 2))
    assert len(combos) == 10
    expected = [f"∂{[(k, c.count(k)) for k in sorted(set(c))]}{name}" for name in "xv" for c in combos]
    assert names[10:] == expected
    assert names[10:14] == ["∂[(0, 2)]x", "∂[(0, 1), (1, 1)]x", "∂[(0, 1), (2, 1)]x",
                            "∂[(0, 1), (3, 1)]x"]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_size_grows_polynomially(order):
    """``n C(m + K, K)`` equations; the DAG (distinct operations) stays within ``3 K^2`` per
    equation and is built in well under a second: each derivative comes from the one below, and
    shared subexpressions stay shared (a tree-shaped differentiation would grow exponentially)."""
    import time

    start = time.perf_counter()
    vsys = tj.var_ode_sys(kepler(), tj.var_args.vars, order)
    elapsed = time.perf_counter() - start
    assert len(vsys.sys) == 4 * math.comb(4 + order, order)
    calls = sum(isinstance(n, Call) for n in postorder([f for _, f in vsys.sys]))
    assert calls <= 3 * order**2 * len(vsys.sys)
    assert elapsed < 2.0


def _sym(*names):
    return [sp.Symbol(n) for n in names]


def _same(expr, reference):
    assert sp.simplify(tj.to_sympy(expr) - reference) == 0, (tj.to_sympy(expr), reference)


def test_equations_match_hand_derived_order_1_and_2():
    """heyoka's "vareqs": x' = v + x, v' = -sin(x v), w.r.t. (x, v) at orders 1 and 2."""
    X, V, x_x0, x_v0, v_x0, v_v0 = _sym("x", "v", "∂[(0, 1)]x", "∂[(1, 1)]x", "∂[(0, 1)]v",
                                        "∂[(1, 1)]v")
    x_x0x0, x_x0v0, x_v0v0, v_x0x0, v_x0v0, v_v0v0 = _sym(
        "∂[(0, 2)]x", "∂[(0, 1), (1, 1)]x", "∂[(1, 2)]x", "∂[(0, 2)]v", "∂[(0, 1), (1, 1)]v",
        "∂[(1, 2)]v")
    sys = [(x, v + x), (v, -tj.sin(x * v))]
    first = [x_x0 + v_x0, x_v0 + v_v0, -(v_x0 * X + x_x0 * V) * sp.cos(X * V),
             -(v_v0 * X + x_v0 * V) * sp.cos(X * V)]
    vsys = tj.var_ode_sys(sys, tj.var_args.vars)
    assert [lhs.name for lhs, _ in vsys.sys] == ["x", "v", "∂[(0, 1)]x", "∂[(1, 1)]x",
                                                  "∂[(0, 1)]v", "∂[(1, 1)]v"]
    assert vsys.sys[0][1] is sys[0][1] and vsys.sys[1][1] is sys[1][1]
    for (_, rhs), ref in zip(vsys.sys[2:], first, strict=True):
        _same(rhs, ref)
    vsys = tj.var_ode_sys(sys, tj.var_args.vars, 2)
    assert len(vsys.sys) == 12

    def second(a1, b1, a2, b2, ab):  # d2/(da db) of -sin(x v), a1 = dx/da, ...
        u_a, u_b = a2 * X + a1 * V, b2 * X + b1 * V
        u_ab = ab[1] * X + a1 * b2 + ab[0] * V + a2 * b1
        return -(u_ab * sp.cos(X * V) - u_a * u_b * sp.sin(X * V))

    refs = [v_x0x0 + x_x0x0, v_x0v0 + x_x0v0, v_v0v0 + x_v0v0,
            second(x_x0, x_x0, v_x0, v_x0, (x_x0x0, v_x0x0)),
            second(x_x0, x_v0, v_x0, v_v0, (x_x0v0, v_x0v0)),
            second(x_v0, x_v0, v_v0, v_v0, (x_v0v0, v_v0v0))]
    for (_, rhs), ref in zip(vsys.sys[6:], refs, strict=True):
        _same(rhs, ref)


def test_equations_with_parameters_and_time():
    """heyoka's "Test with params" / "Test with time": the explicit parameter term, none for t0."""
    X, V, a1, p1, b1, q1 = _sym("x", "v", "∂[(0, 1)]x", "∂[(1, 1)]x", "∂[(0, 1)]v", "∂[(1, 1)]v")
    P = sp.Symbol("par[2]")
    sys = [(x, v + x + tj.par[2]), (v, -tj.sin(x * v * tj.par[2]))]
    vsys = tj.var_ode_sys(sys, [v, tj.par[2]])
    _same(vsys.sys[2][1], b1 + a1)
    _same(vsys.sys[3][1], 1 + q1 + p1)
    _same(vsys.sys[4][1], -(b1 * X + a1 * V) * P * sp.cos(X * V * P))
    _same(vsys.sys[5][1], -(X * V + (q1 * X + p1 * V) * P) * sp.cos(X * V * P))
    vsys = tj.var_ode_sys(sys, [tj.time, tj.par[2]])
    _same(vsys.sys[2][1], b1 + a1)
    _same(vsys.sys[4][1], -(b1 * X + a1 * V) * P * sp.cos(X * V * P))
    # derivatives w.r.t. t0 that start at zero stay zero (a linear homogeneous equation)
    ta = tj.taylor_adaptive(vsys.sys, [0.1, 0.2, 0, 0, 0, 0], pars=[1.0, 1.0, 0.3], tol=1e-3)
    ta.step()
    assert ta.state[2] == 0 and ta.state[4] == 0


def test_var_ode_sys_pickles_and_prints():
    vsys = tj.var_ode_sys(FORCED, tj.var_args.all, 2)
    again = pickle.loads(pickle.dumps(vsys))
    assert again.sys == vsys.sys and again.vargs == vsys.vargs
    assert (again.n_orig_sv, again.order) == (2, 2)
    assert "n_orig_sv=2" in repr(vsys) and "order=2" in repr(vsys)
    ta = tj.taylor_adaptive(again, FORCED_IC, pars=FORCED_PAR, compact_mode=True, tol=1e-6)
    assert ta.vorder == 2 and ta.get_mindex(ta.dim - 1) == [1, 0, 0, 0, 2]


# ---------------------------------------------------------------------------------------------
# Seeding the variational state
# ---------------------------------------------------------------------------------------------
def test_seeding_identity_and_zeros():
    vsys = tj.var_ode_sys(FORCED, [x, tj.par[0]], 2)
    ta = tj.taylor_adaptive(vsys, FORCED_IC, pars=FORCED_PAR, time=FORCED_T0, compact_mode=True,
                            tol=1e-6)
    # (heyoka's "nonauto sys order 2" sets this state by hand)
    assert ta.state.tolist() == [0.2, 0.3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    full = np.arange(12.0)
    ta = tj.taylor_adaptive(vsys, full, pars=FORCED_PAR, compact_mode=True, tol=1e-6)
    assert ta.state.tolist() == full.tolist()  # a state of full length is kept
    with pytest.raises(ValueError, match=(
            "^Inconsistent sizes detected in the initialization of a variational adaptive Taylor "
            "integrator: the state vector has a dimension of 3, while the total number of equations "
            "is 12. The size of the state vector must be equal either to the total number of "
            r"equations, or to the number of original \(i.e., non-variational\) equations, which "
            "for this system is 2$")):
        tj.taylor_adaptive(vsys, [1.0, 2.0, 3.0], pars=FORCED_PAR)
    # what the integrator refuses stays its own error
    with pytest.raises(ValueError, match="Invalid number of parameter values"):
        tj.taylor_adaptive(vsys, FORCED_IC, pars=[1.0, 2.0])
    with pytest.raises(TypeError, match="real numbers"):
        tj.taylor_adaptive(vsys, ["a", "b"], pars=FORCED_PAR)


def test_seeding_initial_time_order_1():
    """heyoka's taylor_adaptive_var.cpp: args (v, t, x); the t0 column is -f(x0, p, t0)."""
    vsys = tj.var_ode_sys(FORCED, [v, tj.time, x])
    ic_x, ic_v, ic_par, ic_tm = 0.2, 0.3, 0.4, 0.5
    ta = tj.taylor_adaptive(vsys, [ic_x, ic_v], pars=[ic_par], time=ic_tm, tol=1e-3)
    f_v = math.cos(ic_tm) - ic_par * ic_v - math.sin(ic_x)
    assert ta.state[:6].tolist() == [ic_x, ic_v, 0, -ic_v, 1, 1]
    assert ta.state[6] == pytest.approx(-f_v, rel=1e-15)
    assert ta.state[7] == 0
    # an event function may use further parameters: the seeding still reads the system's
    ev = tj.nt_event(x - tj.par[1], lambda ta, t, d: None)
    ta = tj.taylor_adaptive(vsys, [ic_x, ic_v], pars=[ic_par, 5.0], time=ic_tm, tol=1e-3,
                            nt_events=[ev])
    assert ta.state[6] == pytest.approx(-f_v, rel=1e-15) and ta.state[3] == -ic_v


@settings(max_examples=20, deadline=None)
@given(st.floats(-2, 2), st.floats(-2, 2), st.floats(0, 1), st.floats(-3, 3))
def test_seeding_initial_time_order_2_is_the_backward_flow(x0, v0, p, t0):
    """The second derivatives at t0: d2x/dt0^2 = J f - df/dt, d2x/dx0_j dt0 = -df/dx_j,
    d2x/dp dt0 = -df/dp (the backward flow from t0 + tau, differentiated)."""
    vsys = tj.var_ode_sys(FORCED, tj.var_args.all, 2)
    _, state, _ = prepare_variational(vsys, [x0, v0], time=t0, pars=[p])
    f = forced_rhs([x0, v0], t0, p)
    jac = np.array([[0, 1], [-math.cos(x0), -p]])
    df_dp, df_dt = np.array([0, -v0]), np.array([0, -math.sin(t0)])
    # order-2 block: component i, combos (0,0) (0,1) (0,2) (0,3) (1,1) (1,2) (1,3) (2,2) (2,3) (3,3)
    block = state[10:].reshape(2, 10)
    for i in range(2):
        assert block[i, 3] == pytest.approx(-jac[i, 0], abs=1e-15)
        assert block[i, 6] == pytest.approx(-jac[i, 1], abs=1e-15)
        assert block[i, 8] == pytest.approx(-df_dp[i], abs=1e-15)
        assert block[i, 9] == pytest.approx((jac @ f)[i] - df_dt[i], abs=1e-14)
        assert np.all(block[i, [0, 1, 2, 4, 5, 7]] == 0)


# ---------------------------------------------------------------------------------------------
# The integrator's accessors (heyoka.py's _test_var_integrator.py)
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def forced2():
    vsys = tj.var_ode_sys(FORCED, tj.var_args.vars, 2)
    return tj.taylor_adaptive(vsys, FORCED_IC, pars=FORCED_PAR, time=FORCED_T0, compact_mode=True)


def test_accessors(forced2):
    ta = forced2
    assert ta.dim == 12 and ta.n_orig_sv == 2 and ta.is_variational and ta.vorder == 2
    assert ta.vargs == [x, v]
    assert ta.tstate.shape == (2,) and np.all(ta.tstate == 0)
    assert ta.get_vslice(order=0) == slice(0, 2)
    assert ta.get_vslice(order=0, component=1) == slice(1, 2)
    assert ta.get_vslice(order=1) == slice(2, 6)
    assert ta.get_vslice(order=1, component=1) == slice(4, 6)
    assert ta.get_vslice(order=2) == slice(6, 12)
    assert ta.get_vslice(order=2, component=0) == slice(6, 9)
    # heyoka answers out-of-range orders and components with the empty slice at the end
    assert ta.get_vslice(order=3) == slice(12, 12)
    assert ta.get_vslice(order=1, component=2) == slice(12, 12)
    assert [ta.get_mindex(i) for i in range(6)] == [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1],
                                                    [1, 1, 0], [1, 0, 1]]
    assert ta.get_mindex(i=8) == [0, 0, 2]
    with pytest.raises(ValueError, match=r"^Cannot fetch the multiindex of the derivative at index "
                                         r"100: the index is not less than the total number of "
                                         r"derivatives \(12\)$"):
        ta.get_mindex(100)
    with pytest.raises(ValueError, match="non-negative"):
        ta.get_vslice(order=-1)
    with pytest.raises(TypeError, match="integer"):
        ta.get_mindex(1.0)
    with pytest.raises(AttributeError):
        ta.tstate = np.zeros(2)


def test_eval_taylor_map_inputs(forced2):
    ta = forced2
    ta.propagate_until(3.0)
    ts = ta.tstate
    ts2 = ta.eval_taylor_map([0.0, 0.0])
    assert np.shares_memory(ts, ts2) and not ts2.flags.writeable
    assert np.all(ts2 == ta.state[:2])  # exactly: the zero terms are added first
    assert np.all(ta.eval_taylor_map(np.array([0.0, 0.0])) == ta.state[:2])
    with pytest.raises(TypeError, match="^Invalid dtype detected for the inputs of a Taylor map "
                                        "evaluation: the expected dtype is 'float64', but the dtype "
                                        "of the inputs array is 'int32' instead$"):
        ta.eval_taylor_map(np.array([0, 0], dtype=np.int32))
    with pytest.raises(ValueError, match="^Invalid inputs array detected in a Taylor map evaluation: "
                                         "the array is not C-style contiguous, please "):
        ta.eval_taylor_map(np.array([0.0, 0.0, 0.0, 0.0])[::2])
    with pytest.raises(ValueError, match="^The array of inputs provided for the evaluation of a "
                                         "Taylor map has 2 dimensions, "):
        ta.eval_taylor_map(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="^The array of inputs provided for the evaluation of a "
                                         "Taylor map has 4 elements, but it must have 2 elements "
                                         "instead$"):
        ta.eval_taylor_map(np.zeros(4))
    with pytest.raises(ValueError, match="may overlap with the integrator's internal data"):
        ta.eval_taylor_map(ta.state[:2])
    with pytest.raises(ValueError, match="may overlap with the integrator's internal data"):
        ta.eval_taylor_map(ta.tstate[:])
    with pytest.raises(TypeError, match="real numbers"):
        ta.eval_taylor_map(["a", "b"])


def test_plain_integrator_refuses():
    ta = tj.taylor_adaptive(pendulum(), [0.1, 0.0], tol=1e-6)
    assert not ta.is_variational and ta.n_orig_sv == 2  # as heyoka: the dimension
    calls = {"get_vslice": lambda: ta.get_vslice(order=1), "get_mindex": lambda: ta.get_mindex(0),
             "eval_taylor_map": lambda: ta.eval_taylor_map([0.0, 0.0]),
             "get_tstate": lambda: ta.tstate, "get_vorder": lambda: ta.vorder,
             "get_vargs": lambda: ta.vargs, "taylor_map": ta.taylor_map}
    for name, fn in calls.items():
        with pytest.raises(ValueError, match=f"^The function '{name}\\(\\)' cannot be invoked on "
                                             "non-variational integrators$"):
            fn()


# ---------------------------------------------------------------------------------------------
# Order 1: the state transition matrix
# ---------------------------------------------------------------------------------------------
def test_stm_matches_central_differences():
    """Initial conditions and the parameter of the forced pendulum, heyoka's "nonauto sys"
    (where heyoka perturbs by 1e-8 and checks 'approximately')."""
    vsys = tj.var_ode_sys(FORCED, tj.var_args.vars | tj.var_args.params)
    ta = tj.taylor_adaptive(vsys, FORCED_IC, pars=FORCED_PAR, time=FORCED_T0)
    ta.propagate_until(5.0)
    stm = np.array([ta.state[ta.get_vslice(order=1, component=i)] for i in range(2)])
    plain = tj.taylor_adaptive(FORCED, FORCED_IC, pars=FORCED_PAR, time=FORCED_T0)
    base = np.array([*FORCED_IC, *FORCED_PAR])
    fd = np.empty((2, 3))
    h = 1e-6
    for k in range(3):
        ends = []
        for sign in (1, -1):
            args = base.copy()
            args[k] += sign * h
            plain.state[:] = args[:2]
            plain.pars[:] = args[2:]
            plain.time = FORCED_T0
            plain.propagate_until(5.0)
            ends.append(plain.state.copy())
        fd[:, k] = (ends[0] - ends[1]) / (2 * h)
    assert np.max(np.abs(stm - fd)) <= 1e-7 * max(1.0, np.max(np.abs(stm)))


def _kepler_flow(state, t):
    """The planar Kepler state (mu = 1) at time ``t`` from ``state``, in closed form (elements,
    Kepler's equation), at the current mpmath precision."""
    X, Y, VX, VY = state
    r0 = mp.sqrt(X * X + Y * Y)
    v2, rv, h = VX * VX + VY * VY, X * VX + Y * VY, X * VY - Y * VX
    a = 1 / (2 / r0 - v2)
    ex, ey = (v2 - 1 / r0) * X - rv * VX, (v2 - 1 / r0) * Y - rv * VY
    e, om = mp.sqrt(ex * ex + ey * ey), mp.atan2(ey, ex)
    E0 = mp.atan2(rv / (e * mp.sqrt(a)), (1 - r0 / a) / e)
    M = E0 - e * mp.sin(E0) + a**-1.5 * t
    E = mp.findroot(lambda u: u - e * mp.sin(u) - M, M)
    s, b = mp.sign(h), a * mp.sqrt(1 - e * e)
    edot = a**-1.5 / (1 - e * mp.cos(E))
    xp, yp = a * (mp.cos(E) - e), s * b * mp.sin(E)
    vxp, vyp = -a * mp.sin(E) * edot, s * b * mp.cos(E) * edot
    c, sn = mp.cos(om), mp.sin(om)
    return [c * xp - sn * yp, sn * xp + c * yp, c * vxp - sn * vyp, sn * vxp + c * vyp]


def test_kepler_stm_matches_the_closed_form():
    t = 5.0
    with mp.workdps(50):
        x0 = [mp.mpf(c) for c in KEPLER_X0]
        assert max(abs(p - q) for p, q in zip(_kepler_flow(x0, 0), x0, strict=True)) < 1e-40
        h = mp.mpf("1e-20")
        ref = np.empty((4, 4))
        for k in range(4):
            plus, minus = list(x0), list(x0)
            plus[k] += h
            minus[k] -= h
            col = [(p - q) / (2 * h) for p, q in zip(_kepler_flow(plus, t), _kepler_flow(minus, t),
                                                     strict=True)]
            ref[:, k] = [float(c) for c in col]
        end = [float(c) for c in _kepler_flow(x0, t)]
    ta = tj.taylor_adaptive(tj.var_ode_sys(kepler(), tj.var_args.vars), KEPLER_X0)
    ta.propagate_until(t)
    assert np.max(np.abs(ta.state[:4] - end)) < 1e-13
    stm = ta.state[ta.get_vslice(order=1)].reshape(4, 4)
    assert np.max(np.abs(stm - ref)) / np.max(np.abs(ref)) < 1e-11
    # the same matrix through the gduals
    maps = ta.taylor_map()
    names = ["dx", "dy", "dvx", "dvy"]
    assert maps[0].symbol_set == sorted(names)
    gstm = np.array([[g.get_derivative({n: 1}) for n in names] for g in maps])
    assert np.array_equal(gstm, stm)


# ---------------------------------------------------------------------------------------------
# Orders 2 to 4: the Taylor map converges at its order
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def forced_plain():
    return tj.taylor_adaptive(FORCED, FORCED_IC, pars=FORCED_PAR, time=FORCED_T0)


@pytest.mark.parametrize("order", [2, 3, 4])
def test_taylor_map_error_shrinks_at_its_order(order, forced_plain):
    """|eval_taylor_map(s u) - x(T; x0 + s u_x, p + s u_p, t0 + s u_t)| ~ s^(order + 1), for
    a direction in the initial conditions, in the parameter, and in the initial time."""
    T = 2.5
    vsys = tj.var_ode_sys(FORCED, tj.var_args.all, order)
    ta = tj.taylor_adaptive(vsys, FORCED_IC, pars=FORCED_PAR, time=FORCED_T0, compact_mode=True)
    ta.propagate_until(T)
    directions = {"initial conditions": [0.6, -0.8, 0, 0], "parameter": [0, 0, 1, 0],
                  "initial time": [0, 0, 0, 1]}
    scales = np.geomspace(0.01, 0.08, 6)
    plain = forced_plain
    for what, u in directions.items():
        errors = []
        for s in scales:
            d = s * np.array(u)
            mapped = ta.eval_taylor_map(d).copy()
            plain.state[:] = np.array(FORCED_IC) + d[:2]
            plain.pars[:] = FORCED_PAR[0] + d[2]
            plain.time = FORCED_T0 + d[3]
            plain.propagate_until(T)
            errors.append(np.max(np.abs(mapped - plain.state)))
        slope = np.polyfit(np.log(scales), np.log(errors), 1)[0]
        assert abs(slope - (order + 1)) <= 0.3, (what, slope, errors)


# ---------------------------------------------------------------------------------------------
# The map as gduals
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def forced3():
    vsys = tj.var_ode_sys(FORCED, tj.var_args.all, 3)
    ta = tj.taylor_adaptive(vsys, FORCED_IC, pars=FORCED_PAR, time=FORCED_T0, compact_mode=True)
    ta.propagate_until(2.0)
    return ta


def test_taylor_map_gduals(forced3):
    ta = forced3
    maps = ta.taylor_map()
    assert len(maps) == 2
    assert maps[0].symbol_set == ["dpar0", "dt0", "dv", "dx"] and maps[0].order == 3
    assert [g.constant_cf for g in maps] == ta.state[:2].tolist()
    symbols = ["dx", "dv", "dpar0", "dt0"]
    for idx in range(2, ta.dim):
        i, *alpha = ta.get_mindex(idx)
        assert maps[i].get_derivative(dict(zip(symbols, alpha, strict=True))) == pytest.approx(
            ta.state[idx], rel=1e-15, abs=1e-300)
    # fresh coefficient arrays each call: the gduals do not follow the integrator
    before = maps[0].constant_cf
    ta.propagate_for(0.1)
    assert maps[0].constant_cf == before
    ta.propagate_for(-0.1)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-0.05, 0.05), min_size=4, max_size=4))
def test_gdual_evaluation_equals_eval_taylor_map(forced3, deltas):
    maps = forced3.taylor_map()
    point = dict(zip(["dx", "dv", "dpar0", "dt0"], deltas, strict=True))
    values = [g.evaluate(point) for g in maps]
    np.testing.assert_allclose(forced3.eval_taylor_map(deltas), values, rtol=1e-14, atol=1e-15)


def test_invert_map_inverts_the_flow():
    """The inverse of the map from t0 to t1 sends the state at t1 back: composing the flow's map
    with its inverse is the identity to the truncation order."""
    vsys = tj.var_ode_sys(pendulum(), tj.var_args.vars, 3)
    ta = tj.taylor_adaptive(vsys, [0.4, 0.1], compact_mode=True)
    ta.propagate_until(1.0)
    maps = ta.taylor_map()
    # invert_map pairs map i (component x, then v) with the i-th symbol in sorted order
    # ("dv", then "dx"), and gives one gdual per symbol: dv first
    inverse = tj.invert_map(maps)
    for s in (0.01, 0.02):
        d = np.array([s, -s])  # (dx, dv)
        image = ta.eval_taylor_map(d) - ta.state[:2]
        back = [g.evaluate({"dv": image[0], "dx": image[1]}) for g in inverse]
        assert np.max(np.abs(np.array(back[::-1]) - d)) < 10 * s**4


# ---------------------------------------------------------------------------------------------
# Dense output and events on a variational system
# ---------------------------------------------------------------------------------------------
def test_dense_output_and_events_cover_the_variational_state():
    vsys = tj.var_ode_sys(pendulum(), tj.var_args.vars, 1)
    crossings = []
    ev = tj.nt_event(x, lambda ta, t, d: crossings.append(t))
    ta = tj.taylor_adaptive(vsys, [0.4, 0.0], nt_events=[ev])
    out = ta.propagate_until(3.0, c_output=True)[4]
    end = ta.state.copy()
    assert out(3.0) == pytest.approx(end, rel=1e-13, abs=1e-13)
    assert len(crossings) >= 1
    grid = np.linspace(0.0, 3.0, 7)
    ta2 = tj.taylor_adaptive(vsys, [0.4, 0.0])
    states = ta2.propagate_grid(grid)[4]
    assert states.shape == (7, 6)
    np.testing.assert_allclose(states[-1], end, rtol=1e-13, atol=1e-13)


# ---------------------------------------------------------------------------------------------
# heyoka.py, side by side
# ---------------------------------------------------------------------------------------------
def _heyoka_system(hy, name):
    if name == "pendulum":
        return pendulum(hy), [1.3, 0.0], 5.0
    return kepler(hy), KEPLER_X0, 3.0


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("name", ["pendulum", "kepler"])
def test_equal_to_heyoka(name, order):
    hy = pytest.importorskip("heyoka")
    hsys, ic, T = _heyoka_system(hy, name)
    sys = pendulum() if name == "pendulum" else kepler()
    ours = tj.taylor_adaptive(tj.var_ode_sys(sys, tj.var_args.vars, order), ic, compact_mode=True)
    theirs = hy.taylor_adaptive(hy.var_ode_sys(hsys, hy.var_args.vars, order), ic,
                                compact_mode=True)
    assert [str(lhs) for lhs, _ in tj.var_ode_sys(sys, tj.var_args.vars, order).sys] == [
        str(lhs) for lhs, _ in hy.var_ode_sys(hsys, hy.var_args.vars, order).sys]
    assert np.array_equal(ours.state, theirs.state)
    assert [ours.get_mindex(i) for i in range(ours.dim)] == [theirs.get_mindex(i)
                                                             for i in range(theirs.dim)]
    ours.propagate_until(T)
    theirs.propagate_until(T)
    for k in range(order + 1):
        block = ours.get_vslice(order=k)
        assert block == theirs.get_vslice(order=k)
        a, b = ours.state[block], theirs.state[block]
        assert np.max(np.abs(a - b)) <= 1e-11 * np.max(np.abs(b)), (k, np.max(np.abs(a - b)))
    d = np.full(len(ic), 1e-3)
    np.testing.assert_allclose(ours.eval_taylor_map(d), theirs.eval_taylor_map(d), rtol=1e-12)


def test_initial_time_seeding_equals_heyoka():
    hy = pytest.importorskip("heyoka")
    hx, hv = hy.make_vars("x", "v")
    hsys = [(hx, hv), (hv, hy.cos(hy.time) - hy.par[0] * hv - hy.sin(hx))]
    ours = tj.taylor_adaptive(tj.var_ode_sys(FORCED, tj.var_args.all), FORCED_IC, pars=FORCED_PAR,
                              time=FORCED_T0)
    theirs = hy.taylor_adaptive(hy.var_ode_sys(hsys, hy.var_args.all), FORCED_IC, pars=FORCED_PAR,
                                time=FORCED_T0)
    np.testing.assert_allclose(ours.state, theirs.state, rtol=1e-15, atol=0)
    ours.propagate_until(4.0)
    theirs.propagate_until(4.0)
    np.testing.assert_allclose(ours.state, theirs.state, rtol=1e-11, atol=1e-11)
