"""``tj.taylor_adaptive``: behaviour, API and bad input.

Outcomes, stepping, propagation (until/for/grid), continuous and dense output, limits,
callbacks, runtime parameters and time, non-finite states, the configuration matrix
(compact mode x high accuracy), every bad input of RELIABILITY.md section 2 that applies without
events (each a ValueError/TypeError with a message, the integrator unchanged after it), and
regression tests named after heyoka's bugs. Accuracy lives in test_integrator_accuracy.py, jet
coefficients in test_jets.py.

Integrators of the same system share one compiled kernel (the JIT's memory cache), so most tests
use the pendulum at heyoka's initial conditions.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from integrator_helpers import EPS, G, pendulum

import taylorjit as tj
from taylorjit._jit.context import jit_context
from taylorjit._taylor.coutput import horner

OC = tj.taylor_outcome
IC = [0.05, 0.025]
MODES = [pytest.param(ha, cm, id=f"{'ha' if ha else 'plain'}-{'compact' if cm else 'unrolled'}")
         for ha in (False, True) for cm in (False, True)]
x, v = tj.make_vars("x", "v")


def pend(**kw):
    return tj.taylor_adaptive(pendulum(), kw.pop("state", IC), **kw)


def blow_up(x0=1.0, **kw):
    """x' = x**2: x(t) = x0 / (1 - x0 t), singular at t = 1/x0."""
    y = tj.make_vars("y")
    return tj.taylor_adaptive([(y, y * y)], [x0], **kw)


def snapshot(ta):
    return ta.state.copy(), ta.dtime, ta.pars.copy(), ta.last_h


def assert_unchanged(ta, snap):
    state, dtime, pars, last_h = snap
    np.testing.assert_array_equal(ta.state, state)
    assert ta.dtime == dtime
    np.testing.assert_array_equal(ta.pars, pars)
    assert ta.last_h == last_h


# ---------------------------------------------------------------------------------------------
# Construction and attributes
# ---------------------------------------------------------------------------------------------
def test_attributes():
    ta = pend()
    assert ta.dim == 2
    assert ta.order == 20 and ta.tol == EPS
    assert ta.time == 0.0 and ta.dtime == (0.0, 0.0)
    assert ta.high_accuracy is False and ta.compact_mode is False  # chosen: a small system
    assert ta.last_h == 0.0
    assert ta.state.dtype == np.float64 and list(ta.state) == IC
    assert ta.tc.shape == (2, 21)
    assert len(ta.decomposition) >= 4  # x, v, sin, cos, the product
    ta = pend(tol=1e-10, time=2.5, high_accuracy=True, compact_mode=True)
    assert ta.order == math.ceil(-math.log(1e-10) / 2 + 1) and ta.tol == 1e-10
    assert ta.time == 2.5 and ta.high_accuracy and ta.compact_mode


def test_state_is_a_copy_of_the_input_and_a_writable_view():
    ic = np.array(IC)
    ta = pend(state=ic)
    ta.propagate_until(1.0)
    np.testing.assert_array_equal(ic, IC)  # the caller's array is not aliased
    view = ta.state
    ta.propagate_until(2.0)
    assert view is ta.state or np.shares_memory(view, ta.state)
    ta.state[:] = IC
    ta.time = 0.0
    ta.propagate_until(1.0)
    ref = pend()
    ref.propagate_until(1.0)
    np.testing.assert_array_equal(ta.state, ref.state)
    with pytest.raises(AttributeError):
        ta.state = np.array(IC)
    with pytest.raises(AttributeError):
        ta.pars = np.zeros(1)


def test_pars_length_is_the_number_of_parameters():
    ta = tj.taylor_adaptive([(x, v), (v, -tj.par[1] * tj.sin(x))], IC, pars=[0.0, G])
    assert ta.pars.shape == (2,) and list(ta.pars) == [0.0, G]
    ta = tj.taylor_adaptive([(x, v), (v, -tj.par[1] * tj.sin(x))], IC)
    assert list(ta.pars) == [0.0, 0.0]  # default: zeros


def test_pars_is_empty_without_parameters():
    assert pend().pars.shape == (0,)


def test_decomposition_is_readable_and_repr():
    ta = pend()
    text = str(ta.decomposition)
    lines = text.splitlines()
    assert lines[0] == "u_0 = x" and lines[1] == "u_1 = v"
    assert any(line.startswith("u_") and "sin(u_0)" in line for line in lines)
    assert any("cos(u_0)" in line for line in lines)  # the auxiliary series of sin
    assert "dx/dt = u_1" in lines
    assert any(line.startswith("dv/dt = u_") for line in lines)
    assert "Decomposition" in repr(ta.decomposition)
    r = repr(ta)
    assert r.startswith("<taylor_adaptive") and "dim=2" in r and "order=20" in r
    print(ta.decomposition)


def test_compact_mode_none_chooses_by_size():
    assert pend().compact_mode is False
    # a system of more than COMPACT_THRESHOLD (150) binary operations is built in compact mode
    us = tj.make_vars(*[f"u{i}" for i in range(150)])
    sys = [(us[i], tj.sin(us[(i + 1) % 150]) * us[i]) for i in range(150)]
    ta = tj.taylor_adaptive(sys, [0.1] * 150, tol=1e-6)
    assert ta.compact_mode is True
    assert ta.propagate_until(0.5)[0] == OC.time_limit
    assert np.isfinite(ta.state).all()


def test_lhs_may_be_given_by_name_and_rhs_by_number():
    ta = tj.taylor_adaptive([("x", 1.5)], [2.0])
    assert ta.propagate_until(2.0)[0] == OC.time_limit
    assert ta.state[0] == pytest.approx(5.0, rel=2 * EPS)


# ---------------------------------------------------------------------------------------------
# step / step_backward / tc / last_h
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("high_accuracy", "compact"), MODES)
def test_step_and_tc(high_accuracy, compact):
    ta = pend(high_accuracy=high_accuracy, compact_mode=compact)
    before = ta.state.copy()
    outcome, h = ta.step()
    assert outcome == OC.success and h > 0
    assert ta.last_h == h and ta.time == h
    # tc holds the step's coefficients, from the state at the start of the step
    ref = pend(high_accuracy=high_accuracy, compact_mode=compact)
    np.testing.assert_array_equal(ta.tc[:, 0], before)
    np.testing.assert_array_equal(ta.tc, ref.compute_jet())
    # and the new state is their polynomial at h
    np.testing.assert_allclose(ta.state, horner(ta.tc, h), rtol=4 * EPS, atol=4 * EPS)
    outcome, h2 = ta.step(write_tc=True)
    assert outcome == OC.success and ta.time == pytest.approx(h + h2, rel=EPS)


def test_step_max_delta_t_and_direction():
    ta = pend()
    assert ta.step(0.01) == (OC.time_limit, 0.01)
    assert ta.time == 0.01 and ta.last_h == 0.01
    outcome, h = ta.step(-0.1)  # backward, at most 0.1
    assert outcome == OC.time_limit and h == -0.1
    assert ta.time == pytest.approx(-0.09, rel=EPS)
    outcome, h = ta.step_backward()
    assert outcome == OC.success and h < 0 and ta.last_h == h
    t = ta.time
    outcome, h = ta.step_backward(0.05)
    assert outcome == OC.time_limit and h == -0.05 and ta.time == pytest.approx(t - 0.05, abs=EPS)
    # step(0) takes a step of size 0 (heyoka: time_limit, h = 0)
    s, t = ta.state.copy(), ta.time
    assert ta.step(0.0) == (OC.time_limit, 0.0)
    np.testing.assert_array_equal(ta.state, s)
    assert ta.time == t


def test_step_forward_then_backward_returns():
    ta = pend()
    ta.step()
    for _ in range(3):  # the backward step size is chosen at the new point: maybe shorter
        outcome, h = ta.step(-ta.time)
        assert h < 0
        if outcome == OC.time_limit:
            break
    assert ta.time == 0.0
    np.testing.assert_allclose(ta.state, IC, rtol=0, atol=8 * EPS)


def test_steps_equal_a_propagation():
    a, b = pend(), pend()
    a.propagate_until(5.0)
    while b.time < 5.0:
        b.step(5.0 - b.time)
    assert b.time == 5.0
    # the last step's size is 5 - time rounded in Python here, the double-length difference in
    # the loop there: the states may differ by an ulp
    np.testing.assert_allclose(a.state, b.state, rtol=0, atol=2 * EPS)


# ---------------------------------------------------------------------------------------------
# propagate_until / propagate_for
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("high_accuracy", "compact"), MODES)
def test_propagate_until_and_for(high_accuracy, compact):
    ta = pend(high_accuracy=high_accuracy, compact_mode=compact)
    outcome, min_h, max_h, nsteps, cout = ta.propagate_until(10.0)
    assert outcome == OC.time_limit and cout is None
    assert ta.time == 10.0
    assert 0 < min_h <= max_h and nsteps == 48  # heyoka: 48 steps
    assert 10.0 / max_h <= nsteps <= 10.0 / min_h + 1
    outcome, *_, nsteps, _ = ta.propagate_for(-10.0)
    assert outcome == OC.time_limit and ta.time == 0.0 and nsteps > 40
    np.testing.assert_allclose(ta.state, IC, atol=100 * EPS)
    # to the current time: nothing to do
    assert ta.propagate_until(0.0) == (OC.time_limit, math.inf, 0.0, 0, None)
    assert ta.propagate_for(0.0)[:4] == (OC.time_limit, math.inf, 0.0, 0)


@pytest.mark.parametrize("compact", [False, True])
def test_compact_and_unrolled_give_the_same_results(compact):
    a = pend(compact_mode=compact, state=[1.3, 0.0])
    b = pend(compact_mode=not compact, state=[1.3, 0.0])
    ra, rb = a.propagate_until(20.0), b.propagate_until(20.0)
    assert ra[3] == rb[3]
    np.testing.assert_allclose(a.state, b.state, rtol=1e-13, atol=1e-14)
    assert ra[1] == pytest.approx(rb[1], rel=1e-13) and ra[2] == pytest.approx(rb[2], rel=1e-13)


@pytest.mark.parametrize("compact", [False, True])
def test_high_accuracy_on_and_off_agree(compact):
    a = pend(compact_mode=compact, high_accuracy=True, state=[1.3, 0.0])
    b = pend(compact_mode=compact, high_accuracy=False, state=[1.3, 0.0])
    ra, rb = a.propagate_until(20.0), b.propagate_until(20.0)
    assert ra[3] == rb[3]
    np.testing.assert_allclose(a.state, b.state, rtol=1e-13, atol=1e-14)


def test_propagate_for_from_a_nonzero_time_uses_double_length_time():
    ta = pend(time=0.1)
    ta.propagate_for(0.2)
    hi, lo = ta.dtime
    # 0.1 + 0.2 in double-length arithmetic: the sum of the two doubles, exactly
    assert Fraction(hi) + Fraction(lo) == Fraction(0.1) + Fraction(0.2)
    assert lo != 0.0 and hi == 0.1 + 0.2


def test_max_delta_t():
    ta = pend()
    outcome, min_h, max_h, nsteps, _ = ta.propagate_until(1.0, max_delta_t=0.01)
    assert outcome == OC.time_limit and ta.time == 1.0
    assert nsteps == 100  # every step shortened to max_delta_t
    assert (min_h, max_h) == (math.inf, 0.0)  # as heyoka: only steps the tolerance chose count
    outcome, *_, cout = ta.propagate_for(1.0, max_delta_t=0.25, c_output=True)
    assert np.all(np.abs(np.diff(cout.times)) <= 0.25 * (1 + EPS))
    # backward too
    outcome, *_, nsteps, _ = ta.propagate_for(-1.0, max_delta_t=0.1)
    assert outcome == OC.time_limit and nsteps == 10
    assert ta.time == pytest.approx(1.0, abs=4 * EPS)


def test_max_steps():
    ta = pend()
    outcome, _, _, nsteps, _ = ta.propagate_until(10.0, max_steps=3)
    assert outcome == OC.step_limit and nsteps == 3
    assert 0 < ta.time < 10.0
    t = ta.time
    outcome, _, _, nsteps, _ = ta.propagate_until(10.0, max_steps=np.int64(2))
    assert outcome == OC.step_limit and nsteps == 2 and ta.time > t
    # max_steps = 0: no limit
    assert ta.propagate_until(10.0, max_steps=0)[0] == OC.time_limit
    assert ta.propagate_for(-1.0, max_steps=1)[:4:3] == (OC.step_limit, 1)


# ---------------------------------------------------------------------------------------------
# Callbacks
# ---------------------------------------------------------------------------------------------
def test_callback_called_once_per_step():
    seen = []

    def cb(ta):
        seen.append((ta.time, ta.last_h, ta.state.copy()))
        return True

    ta = pend()
    outcome, min_h, max_h, nsteps, _ = ta.propagate_until(10.0, callback=cb)
    assert outcome == OC.time_limit and len(seen) == nsteps == 48
    times = [s[0] for s in seen]
    assert times == sorted(times) and times[-1] == 10.0
    np.testing.assert_allclose(np.diff([0.0, *times]), [s[1] for s in seen], rtol=1e-14)
    # the same trajectory as without callback
    ref = pend()
    r = ref.propagate_until(10.0)
    np.testing.assert_array_equal(ta.state, ref.state)
    assert (float(min_h), float(max_h)) == (r[1], r[2])
    np.testing.assert_array_equal(seen[-1][2], ta.state)


def test_callback_false_stops_with_cb_stop():
    calls = []

    def cb(ta):
        calls.append(ta.time)
        return len(calls) < 5

    ta = pend()
    outcome, *_, nsteps, _ = ta.propagate_until(10.0, callback=cb)
    assert outcome == OC.cb_stop and nsteps == 5 == len(calls)
    assert ta.time == calls[-1] < 10.0
    # returning None (no return statement) does not stop
    ta = pend()
    assert ta.propagate_for(1.0, callback=lambda ta: None)[0] == OC.time_limit


def test_callback_exception_propagates():
    def cb(ta):
        raise RuntimeError("boom from the callback")

    ta = pend()
    with pytest.raises(RuntimeError, match="boom from the callback"):
        ta.propagate_until(10.0, callback=cb)
    assert 0 < ta.time < 10.0  # the first step was taken, then the callback raised
    assert ta.propagate_until(10.0)[0] == OC.time_limit  # usable afterwards


def test_callback_with_max_steps_and_c_output():
    n = []
    ta = pend()
    outcome, *_, nsteps, cout = ta.propagate_until(10.0, max_steps=7, c_output=True,
                                                   callback=lambda ta: n.append(1) or True)
    assert outcome == OC.step_limit and nsteps == 7 == len(n) == cout.n_steps
    ref = pend()
    rc = ref.propagate_until(10.0, c_output=True)[4]
    ts = np.linspace(0.0, ta.time, 17)[:-1]  # (at the end, rc reads the next step's start)
    np.testing.assert_array_equal(cout(ts), rc(ts))


def test_callback_may_change_the_state():
    def kick(ta):
        ta.state[1] = 0.0
        return True

    ta = pend()
    ta.propagate_until(1.0, callback=kick)
    assert ta.state[1] == 0.0


# ---------------------------------------------------------------------------------------------
# Runtime parameters and time
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("compact", [False, True])
def test_pars_writable_without_recompilation(compact):
    sys = [(x, v), (v, -tj.par[0] * tj.sin(x))]
    ta = tj.taylor_adaptive(sys, IC, pars=[G], compact_mode=compact)
    ref = pend(compact_mode=compact)
    stats = dict(jit_context().stats)
    ta.propagate_until(3.0)
    ref.propagate_until(3.0)
    np.testing.assert_array_equal(ta.state, ref.state)  # same code path as the number 9.8
    ta.pars[0] = 4 * G  # twice the frequency: x(t) at 4g equals x(2t) at g (for v0 = 0)
    ta.state[:] = [0.05, 0.0]
    ta.time = 0.0
    ta.propagate_until(1.0)
    ref.state[:] = [0.05, 0.0]
    ref.time = 0.0
    ref.propagate_until(2.0)
    assert ta.state[0] == pytest.approx(ref.state[0], rel=1e-13)
    assert ta.state[1] == pytest.approx(2 * ref.state[1], rel=1e-12)
    assert jit_context().stats == stats, "no compilation between calls"


@pytest.mark.parametrize("compact", [False, True])
def test_time_in_the_rhs_and_time_setters(compact):
    ta = tj.taylor_adaptive([(x, tj.cos(tj.time))], [0.0], compact_mode=compact)
    ta.propagate_until(2.0)
    assert ta.state[0] == pytest.approx(math.sin(2.0), abs=1e-15)
    ta.time = 10.0  # moving the time moves the rhs
    ta.state[0] = math.sin(10.0)
    ta.propagate_for(3.0)
    assert ta.time == 13.0 and ta.state[0] == pytest.approx(math.sin(13.0), abs=1e-14)
    # dtime: a double-length time, kept exactly (heyoka.py#150: the setter truncated it)
    ta.dtime = (1.0, 1e-20)
    assert ta.dtime == (1.0, 1e-20) and ta.time == 1.0
    ta.dtime = (1.0, 3.0)  # normalised
    assert ta.dtime == (4.0, 0.0)
    ta.time = 2  # ints accepted; the low part reset
    assert ta.dtime == (2.0, 0.0)


def test_double_length_time_accumulates_small_steps_exactly():  # heyoka#246
    ta = pend(time=1e8)
    for _ in range(100):
        ta.propagate_for(1e-9)
    hi, lo = ta.dtime
    # 1e8 + 100 * 1e-9 to double-double accuracy (1e8 + 1e-9 in plain doubles is 1e8 + 1.49e-8)
    assert abs(Fraction(hi) + Fraction(lo) - (Fraction(1e8) + 100 * Fraction(1e-9))) < Fraction(1, 10**20)
    assert ta.time == pytest.approx(1e8 + 1e-7, rel=EPS)


# ---------------------------------------------------------------------------------------------
# Non-finite states
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("compact", [False, True])
def test_blow_up_stops_at_the_last_good_step(compact):
    ta = blow_up(compact_mode=compact)
    outcome, min_h, max_h, nsteps, _ = ta.propagate_until(2.0)
    assert outcome == OC.err_nf_state
    assert nsteps > 10 and 0 < ta.time < 1.0
    assert np.isfinite(ta.state).all() and ta.state[0] > 1e10
    # the state is the solution at the time reached (1 - t is 2e-15 there: 1 ulp of t is 5%)
    assert ta.state[0] == pytest.approx(1.0 / (1.0 - ta.time), rel=0.2)
    # nothing changes on another attempt
    state, t = ta.state.copy(), ta.time
    assert ta.step() == (OC.err_nf_state, 0.0)
    assert ta.propagate_until(2.0)[:4:3] == (OC.err_nf_state, 0)
    np.testing.assert_array_equal(ta.state, state)
    assert ta.time == t


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_initial_state(bad):
    ta = pend(state=[bad, 0.0])  # accepted, as heyoka
    for call in (lambda: ta.propagate_until(1.0), lambda: ta.propagate_for(-1.0),
                 lambda: ta.propagate_grid([0.0, 1.0])):
        result = call()
        assert result[0] == OC.err_nf_state and result[3] == 0
        assert ta.time == 0.0
    assert ta.step() == (OC.err_nf_state, 0.0)
    assert ta.time == 0.0 and ta.state[1] == 0.0


def test_nan_written_into_the_state_between_calls():
    ta = pend()
    ta.propagate_until(1.0)
    ta.state[0] = math.nan
    assert ta.propagate_until(2.0)[:4:3] == (OC.err_nf_state, 0)
    assert ta.time == 1.0


def test_blow_up_grid_and_c_output():
    ta = blow_up()
    outcome, *_, out = ta.propagate_grid([0.0, 0.5, 0.9, 1.5, 2.0])
    assert outcome == OC.err_nf_state
    np.testing.assert_allclose(out[:3, 0], [1.0, 2.0, 10.0], rtol=1e-12)
    assert np.isnan(out[3:]).all()  # rows past the stop
    ta = blow_up()
    outcome, *_, nsteps, cout = ta.propagate_until(2.0, c_output=True)
    assert outcome == OC.err_nf_state and cout.n_steps == nsteps
    assert cout.bounds == (0.0, ta.time)
    assert cout(0.5)[0] == pytest.approx(2.0, rel=1e-13)
    with pytest.raises(ValueError, match="outside the propagated span"):
        cout(1.5)


# ---------------------------------------------------------------------------------------------
# propagate_grid, c_output, dense output
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("high_accuracy", "compact"), MODES)
@pytest.mark.parametrize("backward", [False, True])
def test_grid_vs_c_output_vs_fresh_integrations(high_accuracy, compact, backward):
    kw = {"high_accuracy": high_accuracy, "compact_mode": compact}
    sign = -1.0 if backward else 1.0
    t0 = 0.5
    grid = t0 + sign * np.linspace(0.0, 30.0, 41)
    ta = pend(time=t0, **kw)
    outcome, *_, nsteps, states = ta.propagate_grid(grid)
    assert outcome == OC.time_limit and states.shape == (41, 2)
    assert ta.time == grid[-1]
    np.testing.assert_array_equal(states[0], IC)
    np.testing.assert_allclose(states[-1], ta.state, rtol=0, atol=4 * EPS)
    tb = pend(time=t0, **kw)
    r = tb.propagate_until(grid[-1], c_output=True)
    assert r[3] == nsteps and r[4].n_steps == nsteps
    np.testing.assert_allclose(r[4](grid), states, rtol=0, atol=8 * EPS)
    for i in (7, 23, 40):
        fresh = pend(time=t0, **kw)
        fresh.propagate_until(grid[i])
        np.testing.assert_allclose(states[i], fresh.state, rtol=0, atol=8 * EPS)


def test_grid_with_one_point_and_with_limits():
    ta = pend()
    outcome, *_, nsteps, states = ta.propagate_grid([0.0])
    assert outcome == OC.time_limit and nsteps == 0
    np.testing.assert_array_equal(states, [IC])
    outcome, *_, nsteps, states = ta.propagate_grid(np.linspace(0, 10, 11), max_steps=5)
    assert outcome == OC.step_limit and nsteps == 5 and 1.0 < ta.time < 2.0
    assert np.isfinite(states[:2]).all() and np.isnan(states[2:]).all()
    ta = pend()
    ref = pend()
    _, *_, states = ta.propagate_grid(np.linspace(0, 2, 5), max_delta_t=0.01)
    ref.propagate_until(2.0)
    np.testing.assert_allclose(states[-1], ref.state, atol=1e-15)


def test_dense_output_after_a_grid_is_the_last_step():  # heyoka "propagate_grid tc issue"
    ta = pend()
    ta.propagate_grid(np.linspace(0.0, 3.0, 7))
    np.testing.assert_allclose(ta.update_d_output(ta.time), ta.state, rtol=0, atol=2 * EPS)
    start = ta.update_d_output(0.0, rel_time=True).copy()
    np.testing.assert_allclose(ta.update_d_output(ta.time - ta.last_h), start, rtol=0, atol=2 * EPS)
    fresh = pend()
    fresh.propagate_until(ta.time - ta.last_h)
    np.testing.assert_allclose(start, fresh.state, rtol=0, atol=4 * EPS)


def test_propagate_grid_with_callback():
    calls = []
    ta = pend()
    grid = np.linspace(0.0, 3.0, 7)
    outcome, *_, nsteps, states = ta.propagate_grid(grid, callback=lambda ta: calls.append(ta.time) or True)
    assert outcome == OC.time_limit and len(calls) == nsteps
    # the same states as without a callback, and a False return stops with cb_stop
    np.testing.assert_array_equal(states, pend().propagate_grid(grid)[4])
    outcome, *_, nsteps, states = pend().propagate_grid(grid, callback=lambda ta: False)
    assert outcome == OC.cb_stop and nsteps == 1 and np.isnan(states[-1]).all()


def test_c_output_with_max_steps_across_buffer_growth():
    ta = pend()
    outcome, *_, nsteps, cout = ta.propagate_until(100.0, c_output=True, max_steps=150)
    assert outcome == OC.step_limit and nsteps == 150 == cout.n_steps
    assert cout.bounds == (0.0, ta.time)
    fresh = pend()
    fresh.propagate_until(20.0)
    np.testing.assert_allclose(cout(20.0), fresh.state, rtol=0, atol=4 * EPS)


def test_grid_points_on_step_boundaries():
    ref = pend()
    cout = ref.propagate_until(5.0, c_output=True)[4]
    grid = cout.times[:10]
    ta = pend()
    states = ta.propagate_grid(grid)[4]
    np.testing.assert_allclose(states, cout(grid), rtol=0, atol=2 * EPS)


def test_c_output_api():
    ta = pend(time=1.0)
    outcome, *_, nsteps, cout = ta.propagate_for(30.0, c_output=True)  # > 64 steps: buffer grows
    assert nsteps > 64 and cout.n_steps == nsteps
    assert cout.bounds == (1.0, 31.0)
    assert cout.tcs.shape == (nsteps, 2, ta.order + 1)
    assert len(cout.times) == nsteps + 1 and cout.times[0] == 1.0 and cout.times[-1] == 31.0
    np.testing.assert_allclose(cout(31.0), ta.state, rtol=0, atol=2 * EPS)
    np.testing.assert_array_equal(cout(1.0), IC)
    ts = np.array([1.0, 2.5, 17.25, 31.0])
    many = cout(ts)
    assert many.shape == (4, 2)
    for t, row in zip(ts, many, strict=True):
        np.testing.assert_array_equal(cout(t), row)
    assert cout(np.array([5.0])).shape == (1, 2) and cout(5.0).shape == (2,)
    assert "continuous_output" in repr(cout)
    # outside the span: an error, not an extrapolation (heyoka extrapolates silently)
    for bad in (0.999, 31.001, np.array([2.0, 40.0])):
        with pytest.raises(ValueError, match="outside the propagated span"):
            cout(bad)
    with pytest.raises(ValueError, match="non-finite time nan"):
        cout(math.nan)
    with pytest.raises(ValueError, match="non-finite"):
        cout(np.array([2.0, math.inf]))
    with pytest.raises(ValueError, match="one-dimensional"):
        cout(np.ones((2, 2)))
    # no step taken: nothing to evaluate
    empty = ta.propagate_for(0.0, c_output=True)[4]
    with pytest.raises(ValueError, match="empty"):
        empty(31.0)


def test_c_output_backward():
    ta = pend()
    cout = ta.propagate_until(-10.0, c_output=True)[4]
    assert cout.bounds == (0.0, -10.0)
    fresh = pend()
    fresh.propagate_until(-3.3)
    np.testing.assert_allclose(cout(-3.3), fresh.state, rtol=0, atol=4 * EPS)
    np.testing.assert_allclose(cout(-10.0), ta.state, rtol=0, atol=2 * EPS)
    with pytest.raises(ValueError, match="outside"):
        cout(0.5)


def test_update_d_output():
    ta = pend()
    start = ta.state.copy()
    ta.step()
    end = ta.state.copy()
    h = ta.last_h
    np.testing.assert_allclose(ta.update_d_output(ta.time), end, rtol=0, atol=2 * EPS)
    np.testing.assert_array_equal(ta.update_d_output(0.0), start)
    assert ta.d_output is ta.update_d_output(h / 2)  # a view, updated in place
    mid = ta.d_output.copy()
    np.testing.assert_array_equal(ta.update_d_output(h / 2, rel_time=True), mid)
    np.testing.assert_array_equal(ta.update_d_output(0.0, rel_time=True), start)
    fresh = pend()
    fresh.propagate_until(h / 2)
    np.testing.assert_allclose(mid, fresh.state, rtol=0, atol=2 * EPS)
    with pytest.raises(ValueError, match="non-finite"):
        ta.update_d_output(math.nan)
    # backward steps
    ta.step_backward()
    np.testing.assert_allclose(ta.update_d_output(ta.time), ta.state, rtol=0, atol=2 * EPS)


# ---------------------------------------------------------------------------------------------
# Bad input (RELIABILITY.md section 2): a clear error, nothing changed
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("sys", "state", "kw", "exc", "match"), [
    (pendulum(), [0.05], {}, ValueError,
     "state vector has a dimension of 1, while the number of equations is 2"),
    (pendulum(), [0.05, 0.025, 1.0], {}, ValueError, "dimension of 3"),
    ([(x, tj.make_vars("y"))], [1.0], {}, ValueError,
     "the variable 'y' appears in the right-hand side but not in the left-hand side"),
    ([(x, v), (x, -x), (v, x)], [1.0, 0.0, 0.0], {}, ValueError,
     "the variable 'x' appears in the left-hand side twice"),
    ([(x + v, v), (v, x)], [1.0, 0.0], {}, ValueError,
     r"the left-hand side contains the expression '.*x.*v.*', which is not a variable"),
    ([(tj.par[0], x), (x, x)], [1.0, 0.0], {}, ValueError, "which is not a variable"),
    ([], [], {}, ValueError, "Cannot integrate a system of zero equations"),
    (pendulum(), [0.05, 0.025], {"pars": [1.0]}, ValueError,
     r"1 parameter value\(s\) were passed, but the ODE system contains 0 parameter\(s\)"),
    ([(x, v), (v, -tj.par[1] * x)], [1.0, 0.0], {"pars": [1.0]}, ValueError,
     "1 parameter value.* contains 2 parameter"),
    ([(x, v), (v, -tj.par[0] * x)], [1.0, 0.0], {"pars": [1.0, 2.0]}, ValueError,
     "2 parameter value.* contains 1 parameter"),
    ([(x, v), (v, -tj.par[0] * x)], [1.0, 0.0], {"pars": [[1.0]]}, ValueError, "one-dimensional"),
    ([(x, v), (v, -tj.par[0] * x)], [1.0, 0.0], {"pars": ["a"]}, TypeError, "real numbers"),
    (pendulum(), [0.05, 0.025], {"tol": -1e-10}, ValueError,
     "must be finite and positive, but it is -1e-10 instead"),
    (pendulum(), [0.05, 0.025], {"tol": 0.0}, ValueError, "finite and positive, but it is 0.0"),
    (pendulum(), [0.05, 0.025], {"tol": math.nan}, ValueError, "finite and positive, but it is nan"),
    (pendulum(), [0.05, 0.025], {"tol": math.inf}, ValueError, "finite and positive, but it is inf"),
    (pendulum(), [0.05, 0.025], {"tol": "small"}, TypeError, "tolerance must be a real number"),
    (pendulum(), [0.05, 0.025], {"time": math.nan}, ValueError, "must be finite"),
    (pendulum(), [[0.05, 0.025]], {}, ValueError, r"one-dimensional, but it has shape \(1, 2\)"),
    (pendulum(), np.zeros((2, 1)), {}, ValueError, "one-dimensional"),
    (pendulum(), 0.05, {}, ValueError, "one-dimensional"),
    (pendulum(), ["a", "b"], {}, TypeError, "sequence of real numbers"),
    (pendulum(), [1j, 0.0], {}, TypeError, "sequence of real numbers"),
    (42, [1.0], {}, TypeError, "list of .*pairs"),
    ([x], [1.0], {}, TypeError, "pairs"),
    ([(x, "not an expression")], [1.0], {}, TypeError, "right-hand side of x' is not an expression"),
])
def test_bad_construction(sys, state, kw, exc, match):
    with pytest.raises(exc, match=match):
        tj.taylor_adaptive(sys, state, **kw)


PEND_GRID = np.linspace(0.0, 1.0, 5)


@pytest.mark.parametrize(("call", "exc", "match"), [
    (lambda ta: ta.propagate_until(math.nan), ValueError,
     r"non-finite time was passed to the propagate_until\(\) function"),
    (lambda ta: ta.propagate_until(math.inf), ValueError, "non-finite time"),
    (lambda ta: ta.propagate_until(-math.inf), ValueError, "non-finite time"),
    (lambda ta: ta.propagate_until("soon"), TypeError, "final time must be a real number"),
    (lambda ta: ta.propagate_for(math.nan), ValueError,
     r"non-finite time was passed to the propagate_for\(\) function"),
    (lambda ta: ta.propagate_until(1.0, max_delta_t=0.0), ValueError,
     r"non-positive max_delta_t was passed to the propagate_until\(\)"),
    (lambda ta: ta.propagate_until(1.0, max_delta_t=-1.0), ValueError, "non-positive max_delta_t"),
    (lambda ta: ta.propagate_until(1.0, max_delta_t=math.nan), ValueError,
     r"nan max_delta_t was passed to the propagate_until\(\)"),
    (lambda ta: ta.propagate_for(1.0, max_delta_t=0.0), ValueError,
     r"non-positive max_delta_t was passed to the propagate_for\(\)"),
    (lambda ta: ta.propagate_grid(PEND_GRID, max_delta_t=math.nan), ValueError,
     r"nan max_delta_t was passed to the propagate_grid\(\)"),
    (lambda ta: ta.propagate_until(1.0, max_steps=-1), ValueError, "max_steps must be non-negative"),
    (lambda ta: ta.propagate_until(1.0, max_steps=1.5), TypeError, "max_steps must be an integer"),
    (lambda ta: ta.propagate_until(1.0, max_steps=True), TypeError, "max_steps must be an integer"),
    (lambda ta: ta.step(math.nan), ValueError,
     r"NaN max_delta_t was passed to the step\(\) function"),
    (lambda ta: ta.step_backward(math.nan), ValueError, r"NaN max_delta_t .*step_backward\(\)"),
    (lambda ta: ta.step("big"), TypeError, "max_delta_t must be a real number"),
    (lambda ta: ta.propagate_grid([]), ValueError,
     r"Cannot invoke propagate_grid\(\) .* if the time grid is empty"),
    (lambda ta: ta.propagate_grid([1.0, 2.0]), ValueError,
     "first element of the time grid must match the current time coordinate - however, the first "
     "element of the grid has a value of 1.0, while the current time coordinate is 0.0"),
    (lambda ta: ta.propagate_grid([0.0, 1.0, 0.5]), ValueError, "non-monotonic time grid"),
    (lambda ta: ta.propagate_grid([0.0, 1.0, 1.0]), ValueError, "non-monotonic time grid"),
    (lambda ta: ta.propagate_grid([0.0, math.nan]), ValueError,
     r"non-finite time value was passed to propagate_grid\(\)"),
    (lambda ta: ta.propagate_grid([math.nan, 1.0]), ValueError, "non-finite time value"),
    (lambda ta: ta.propagate_grid([0.0, math.inf]), ValueError, "non-finite time value"),
    (lambda ta: ta.propagate_grid(np.zeros((2, 2))), ValueError, "one-dimensional"),
    (lambda ta: ta.propagate_grid(["a"]), TypeError, "time grid must be a sequence of real numbers"),
    (lambda ta: ta.propagate_until(1.0, callback=42), TypeError,
     "cannot be used as a step callback because it is not callable"),
    (lambda ta: ta.propagate_for(1.0, callback="f"), TypeError, "not callable"),
    (lambda ta: ta.propagate_grid(PEND_GRID, callback=1.0), TypeError, "not callable"),
    (lambda ta: ta.update_d_output(math.inf), ValueError,
     "Cannot compute the dense output at the non-finite time inf"),
])
def test_bad_calls_leave_the_integrator_unchanged(call, exc, match):
    ta = pend()
    ta.propagate_until(0.5)
    ta.time = 0.0  # a state reached by a propagation, at a round time
    snap = snapshot(ta)
    tc = ta.tc.copy()
    with pytest.raises(exc, match=match):
        call(ta)
    assert_unchanged(ta, snap)
    np.testing.assert_array_equal(ta.tc, tc)
    # and it still works
    assert ta.propagate_until(1.0)[0] == OC.time_limit


@pytest.mark.parametrize("where", ["state", "pars"])
def test_none_is_not_a_number(where):
    sys = [(x, v), (v, -tj.par[0] * x)]
    state, pars = ([0.05, None], [1.0]) if where == "state" else ([0.05, 0.0], [None])
    with pytest.raises(TypeError, match="real number"):
        tj.taylor_adaptive(sys, state, pars=pars)


def test_bad_time_setters_leave_the_integrator_unchanged():
    ta = pend(time=3.0)
    snap = snapshot(ta)
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="must be finite"):
            ta.time = bad
        with pytest.raises(ValueError, match="non-finite time"):
            ta.dtime = (1.0, bad)
    with pytest.raises(TypeError, match="real number"):
        ta.time = "now"
    assert_unchanged(ta, snap)


def test_c_output_nan_message():
    cout = pend().propagate_until(1.0, c_output=True)[4]
    with pytest.raises(ValueError, match="Cannot compute the continuous output at the non-finite time nan"):
        cout(math.nan)


# ---------------------------------------------------------------------------------------------
# Regressions named after heyoka's bugs
# ---------------------------------------------------------------------------------------------
def test_propagate_grid_alias_bug():  # heyoka#217: the grid is the state array itself
    y, z = tj.make_vars("y", "z")
    sys = [(y, 0.5 * z), (z, -y)]
    ta = tj.taylor_adaptive(sys, [0.0, 1.0])  # state [0, 1]: a valid grid from time 0
    ref = tj.taylor_adaptive(sys, [0.0, 1.0])
    outcome, *_, states = ta.propagate_grid(ta.state)
    ref_out = ref.propagate_grid(np.array([0.0, 1.0]))[4]
    assert outcome == OC.time_limit and ta.time == 1.0
    np.testing.assert_array_equal(states, ref_out)
    np.testing.assert_array_equal(ta.state, ref.state)
    # the grid may also alias the parameters
    p = tj.par
    ta = tj.taylor_adaptive([(y, 0.5 * z * p[1]), (z, -y)], [0.0, 1.0], pars=[0.0, 1.0])
    states = ta.propagate_grid(ta.pars)[4]
    np.testing.assert_allclose(states, ref_out, rtol=0, atol=4 * EPS)
    np.testing.assert_array_equal(ta.pars, [0.0, 1.0])


@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_pow_small_natural_exponents_from_zero(compact, n):  # heyoka#98, heyoka#82
    y = tj.make_vars("y")
    for rhs in (y**n, tj.pow(y, float(n)), tj.pow(y, n) + tj.pow(y, 0)):
        ta = tj.taylor_adaptive([(y, rhs)], [0.0], compact_mode=compact)
        outcome, *_ = ta.propagate_until(0.5)
        assert outcome == OC.time_limit, rhs
        assert np.isfinite(ta.state).all() and np.isfinite(ta.tc).all()
    # x' = x**n from 0 stays 0; x**0 was folded to 1 (heyoka#82): y' = 1 + y**n
    ta = tj.taylor_adaptive([(y, y**n)], [0.0], compact_mode=compact)
    ta.propagate_until(1.0)
    assert ta.state[0] == 0.0
    ta = tj.taylor_adaptive([(y, tj.pow(y, 0) + 0.0 * y)], [0.0], compact_mode=compact)
    ta.propagate_until(2.0)
    assert ta.state[0] == pytest.approx(2.0, rel=2 * EPS)


@pytest.mark.parametrize("compact", [False, True])
def test_kepE_zero_eccentricity(compact):  # heyoka#185
    y = tj.make_vars("y")
    from taylorjit._expr import Num

    # exact 0 folds to M; a float 0.0 and a runtime parameter 0 keep the kepE node
    for e, pars in ((Num(0), None), (0.0, None), (tj.par[0], [0.0])):
        ta = tj.taylor_adaptive([(y, tj.kepE(e, tj.time))], [0.0], pars=pars, compact_mode=compact)
        assert ta.propagate_until(2.0)[0] == OC.time_limit
        assert ta.state[0] == pytest.approx(2.0, rel=1e-15)  # integral of t from 0 to 2


@pytest.mark.parametrize("compact", [False, True])
def test_a_cached_integrator_decomposes_only_when_asked(compact, monkeypatch):
    # The constructor needs the emitter, the parameter count and the jet buffer, which are kept
    # with the compiled kernel: a second construction of the same system does not decompose it
    # (the 20-body problem: 51 -> 14 ms in a new process), ta.decomposition does, on demand.
    import taylorjit._taylor.integrator as integrator_module

    x, v = tj.make_vars("x", "v")
    sys = [(x, v), (v, -tj.par[0] * tj.sin(x) + 0.5 * tj.time - 2.0 * v + 1.25)]
    first = tj.taylor_adaptive(sys, [0.3, 0.1], pars=[9.8], compact_mode=compact)
    first.propagate_until(3.0)
    real = integrator_module.decompose
    calls = []
    monkeypatch.setattr(integrator_module, "decompose", lambda *a, **k: calls.append(1) or real(*a, **k))
    for clear in (False, True):  # from the memory cache; then compiled again (layout kept)
        if clear:
            monkeypatch.setenv("TAYLORJIT_CACHE", "0")
            jit_context().clear_memory_cache()
        calls.clear()
        again = tj.taylor_adaptive(sys, [0.3, 0.1], pars=[9.8], compact_mode=compact)
        assert calls == ([1] if clear else [])  # only a compilation needs the decomposition
        assert again.compact_mode is compact and list(again.pars) == [9.8]
        again.propagate_until(3.0)
        assert again.state.tolist() == first.state.tolist()
        assert str(again.decomposition) == str(first.decomposition)
    with pytest.raises(ValueError, match="parameter"):
        tj.taylor_adaptive(sys, [0.3, 0.1], pars=[9.8, 1.0], compact_mode=compact)


@pytest.mark.parametrize("dim", [1, 3, 4, 5, 8, 11, 16, 20, 23])
def test_the_state_update_is_the_plain_horner_scheme_bit_for_bit(dim):
    # The native update evaluates rows four at a time in SIMD lanes, up to four vectors side by
    # side (the last vector's spare lanes repeat the last row): the same IEEE operations per row
    # as numpy's Horner scheme, so equal to the last bit.
    xs = [tj.make_vars(f"u{i}") for i in range(dim)]
    sys = [(xs[i], tj.sin(xs[(i + 1) % dim]) + 0.5 * xs[i] * xs[(i + 2) % dim]) for i in range(dim)]
    ta = tj.taylor_adaptive(sys, [0.1 * (i + 1) for i in range(dim)], tol=1e-12)
    for _ in range(3):
        before = ta.state.copy()
        ta.step()
        tc = ta.tc.copy()
        assert tc[:, 0].tolist() == before.tolist()
        assert ta.state.tolist() == horner(tc, ta.last_h).tolist()


def test_one_native_loop_serves_integrators_of_any_size(monkeypatch):
    # The propagation loop reads the dimension, order and event count at run time: integrators
    # of different sizes, with and without events, share it, interleaved, and each gives what
    # it gives alone.
    monkeypatch.setenv("TAYLORJIT_CACHE", "0")
    x, v = tj.make_vars("x", "v")
    pend = [(x, v), (v, -9.8 * tj.sin(x))]
    line = [(x, 1.0)]

    def build():
        return [tj.taylor_adaptive(pend, [1.3, 0.0]),
                tj.taylor_adaptive(line, [0.0], tol=1e-6),
                tj.taylor_adaptive(pend, [0.3, 0.0], high_accuracy=True,
                                   nt_events=[tj.nt_event(v, lambda ta, t, d: None)])]

    alone = []
    for ta in build():
        for _ in range(30):
            ta.step()
        alone.append((ta.time, ta.state.tolist()))
    together = build()
    assert len({ta._propagate_address for ta in together}) == 1
    for _ in range(30):
        for ta in together:
            ta.step()
    assert [(ta.time, ta.state.tolist()) for ta in together] == alone


def test_chained_and_pairwise_sums_give_the_same_jet(monkeypatch):
    # Large unrolled jets sum left to right (FMA chains), small ones pairwise: the same
    # coefficients up to rounding, whichever the size picks.
    from taylorjit._taylor import jet

    monkeypatch.setenv("TAYLORJIT_CACHE", "0")
    vsys = tj.var_ode_sys(tj.model.pendulum(), tj.var_args.vars, order=3)
    assert len(tj.taylor_adaptive(vsys, [1.3, 0.0]).decomposition.calls) >= jet.CHAINED_SUMS_FROM
    tcs = []
    for threshold in (0, 10**9):
        monkeypatch.setattr(jet, "CHAINED_SUMS_FROM", threshold)
        jit_context().clear_memory_cache()
        ta = tj.taylor_adaptive(vsys, [1.3, 0.0], compact_mode=False)
        ta.step()
        tcs.append(ta.tc.copy())
    chained, pairwise = tcs
    assert not np.array_equal(chained, pairwise)  # two codes were compiled
    row_scale = np.abs(pairwise).max(axis=1, keepdims=True)
    assert (np.abs(chained - pairwise) <= 1e-13 * row_scale).all()


# ---------------------------------------------------------------------------------------------
# Without events, ta.step() keeps the call's fields between steps and a propagation is one
# native call (integrator._one_step, _propagate)
# ---------------------------------------------------------------------------------------------
_STEPS = st.tuples(st.just("step"), st.sampled_from([math.inf, 0.05, 1e-3, -0.3, -math.inf, 0.0]))
_CALLS = st.one_of(
    _STEPS, _STEPS, _STEPS,  # (steps after steps, with other limits, are what the memo meets)
    st.tuples(st.just("step_backward"), st.sampled_from([math.inf, 0.02])),
    st.tuples(st.just("until"), st.floats(-3.0, 3.0)),
    st.tuples(st.just("until_steps"), st.floats(-3.0, 3.0)),
    st.tuples(st.just("for"), st.floats(-1.0, 1.0)),
    st.tuples(st.just("grid"), st.floats(0.01, 1.0)),
    st.tuples(st.just("c_output"), st.floats(0.01, 1.0)),
    st.tuples(st.just("time"), st.floats(-2.0, 2.0)),
)


def _apply(ta: tj.taylor_adaptive, call: tuple[str, float]) -> tuple:
    kind, value = call
    if kind == "step":
        return ta.step(value)
    if kind == "step_backward":
        return ta.step_backward(value)
    if kind == "until":
        return ta.propagate_until(value, max_delta_t=0.4)[:4]
    if kind == "until_steps":
        return ta.propagate_until(value, max_steps=2)[:4]
    if kind == "for":
        return ta.propagate_for(value)[:4]
    if kind == "grid":
        out = ta.propagate_grid([ta.time, ta.time + value / 2, ta.time + value])
        return out[:4] + (out[4].tobytes(),)
    if kind == "c_output":
        out = ta.propagate_for(value, c_output=True)
        return out[:4] + (out[4](ta.time - value / 3).tobytes(),)
    ta.time = value
    return ()


@settings(max_examples=80, deadline=None)
@given(st.lists(_CALLS, min_size=1, max_size=12))
def test_steps_without_events_equal_steps_through_the_event_path(calls):
    # A never-firing non-terminal event sends every call through `_run` and changes nothing in
    # the trajectory: both integrators must agree bit for bit, whatever the calls in between.
    x, v = tj.make_vars("x", "v")
    sys_ = [(x, v), (v, -9.8 * tj.sin(x))]
    plain = tj.taylor_adaptive(sys_, [1.3, 0.0])
    evented = tj.taylor_adaptive(sys_, [1.3, 0.0], nt_events=[tj.nt_event(v - 100.0, lambda *a: None)])
    for call in calls:
        assert _apply(plain, call) == _apply(evented, call), call
        assert plain.state.tobytes() == evented.state.tobytes()
        assert plain.dtime == evented.dtime
        assert plain.tc.tobytes() == evented.tc.tobytes()
