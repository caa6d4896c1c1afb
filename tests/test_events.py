"""Events: ``tj.t_event`` (terminal) and ``tj.nt_event`` (non-terminal).

References, none of them taylorjit's own code:

- closed forms: the bounce times of an elastic ball, the zero crossings of a pendulum (its period
  from the complete elliptic integral, ``integrator_helpers.pendulum_period``), the pericentre
  passages of a Kepler orbit (its period and mean anomaly from the elements, in mpmath), the
  crossings of a harmonic oscillator and the roots of polynomials in time;
- heyoka's own event tests, ported (taylor_t_event.cpp, taylor_nt_event.cpp, wavy_ramp.cpp and
  the regressions of taylor_adaptive.cpp named after bugs), with their assertions;
- heyoka.py 7.13, side by side (those tests skip without it).

Semantics are heyoka's: a terminal event ``i`` stops at its time with ``taylor_outcome(-(i + 1))``
(no callback, or a falsy one), or ``step()`` returns ``taylor_outcome(i)`` and ``propagate_*`` go
on (the callback ``cb(ta, d_sgn)`` returned true); non-terminal callbacks ``cb(ta, time, d_sgn)``
run after the step, in time order, with ``ta`` at the end of the step; ``d_sgn`` is the sign of the
event function's time derivative (whatever the direction of integration). Documented differences
from heyoka, each asserted here: constant event functions are accepted and never fire (heyoka
raises); a tangential contact does not fire (heyoka reports it with ``d_sgn = 0``); a root lost by
round-off across a step boundary is reported at the next step's start; ``propagate_grid`` returns
every row (nan past a terminal stop) where heyoka returns only the rows reached.

Integrators of the same system and event functions share one compiled kernel. A function used as
a terminal event in this file is not also used as a non-terminal one (``1.0 * v``, the same series
and so the same steps, stands in for ``v``), so that no test depends on
test_terminal_and_non_terminal_twins_compile_apart.
"""

from __future__ import annotations

import math
from itertools import pairwise

import mpmath as mp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from integrator_helpers import EPS, kep_to_cart, kepler, kepler_elements, pendulum, pendulum_period

import taylorjit as tj

OC = tj.taylor_outcome
SUCCESS, TIME_LIMIT = OC.success, OC.time_limit
MODES = [pytest.param(ha, cm, id=f"{'ha' if ha else 'plain'}-{'compact' if cm else 'unrolled'}")
         for ha in (False, True) for cm in (False, True)]
x, v = tj.make_vars("x", "v")
IC = [0.05, 0.025]  # heyoka's pendulum initial conditions


def pend(state=IC, **kw):
    return tj.taylor_adaptive(pendulum(), state, **kw)


def line(**kw):
    """``x' = 1`` from ``x = 0``: polynomial in time, so every step is as long as allowed."""
    return tj.taylor_adaptive([(x, 1.0)], [0.0], **kw)


def is_event(outcome) -> bool:
    """Terminal event outcomes are ``i`` or ``-(i + 1)``; the others are below ``-2**32``."""
    return int(outcome) > -(1 << 32)


def step_until_event(ta, backward: bool = False, limit: int = 5000):
    """Step until a step reports an event (every other step must be a success)."""
    for _ in range(limit):
        outcome, _ = ta.step_backward() if backward else ta.step()
        if is_event(outcome):
            return outcome
        assert outcome == SUCCESS, outcome
    raise AssertionError("no event")


@pytest.fixture(scope="module")
def hy():
    return pytest.importorskip("heyoka")


# ---------------------------------------------------------------------------------------------
# Accuracy against closed forms, 100 events each
# ---------------------------------------------------------------------------------------------
G_BALL, H0 = 9.81, 10.0


def ball(callback, direction=None, m=tj, **kw):
    y, vy = m.make_vars("y", "v")
    ev = m.t_event(y, callback=callback, direction=m.event_direction.any if direction is None else direction)
    return m.taylor_adaptive([(y, vy), (vy, -G_BALL + 0.0 * y)], [H0, 0.0], t_events=[ev], **kw)


def ball_fall_time() -> mp.mpf:
    return mp.sqrt(2 * mp.mpf(H0) / mp.mpf(G_BALL))


@pytest.mark.parametrize("direction", [tj.event_direction.any, tj.event_direction.negative],
                         ids=["any", "negative"])
@pytest.mark.parametrize(("high_accuracy", "compact"), MODES)
def test_bouncing_ball_bounce_times(direction, high_accuracy, compact):
    # Elastic ball dropped from H0: it falls for t1 = sqrt(2 H0 / g), then each flight up and
    # down takes 2 t1, so the n-th impact is at t_n = (2n - 1) t1. With direction "any" the
    # event sees the ball leave y = 0 upwards right after each bounce: the cooldown must hide it.
    impacts = []

    def bounce(ta, d_sgn):
        impacts.append((ta.time, d_sgn, ta.state[0], ta.state[1]))
        ta.state[1] = -ta.state[1]
        return True

    ta = ball(bounce, direction, high_accuracy=high_accuracy, compact_mode=compact)
    with mp.workdps(30):
        t1 = ball_fall_time()
        expected = [float((2 * n - 1) * t1) for n in range(1, 101)]
        v_impact = float(mp.sqrt(2 * mp.mpf(G_BALL) * mp.mpf(H0)))
        t_end = float(200 * t1)
    outcome, *_ = ta.propagate_until(t_end)
    assert outcome == TIME_LIMIT and ta.time == t_end
    assert len(impacts) == 100
    times = np.array([i[0] for i in impacts])
    rel = np.abs(times - expected) / np.array(expected)
    assert rel.max() < 1e-13  # measured 2.3e-16 (1e-12 asked)
    assert all(i[1] == -1 for i in impacts)  # falling: y decreasing
    assert max(abs(i[2]) for i in impacts) < 1e-12  # on the floor
    # energy is conserved through the bounces: the impact speed is sqrt(2 g H0) every time
    assert max(abs(i[3] + v_impact) for i in impacts) < 1e-12 * v_impact


def test_bouncing_balls_of_every_height_bounce_100_times():
    # Regression: after a bounce the ball sits at y = -3e-14 (the zero's round-off when the fall
    # took one step of 10 m) and crosses y = 0 upwards 2e-15 s later. An automatic cooldown from
    # the state's size alone (heyoka's choice) is shorter than that for half of these heights
    # and gravities: the upward crossing fired, reversed the ball again and it fell forever
    # (heyoka.py 7.13 loses bounces in 11 of these 32 cases). The cooldown now also covers the
    # round-off of the step's polynomial at the zero.
    y, vy = tj.make_vars("y", "v")
    lost = []
    for h0 in (10.0, 3.7, 25.0, 1.3, 100.0, 0.5, 7.25, 42.0):
        for g in (9.81, 1.62, 3.71, 24.79):
            impacts = []

            def bounce(ta, d_sgn, impacts=impacts):
                impacts.append(ta.time)
                ta.state[1] = -ta.state[1]
                return True

            ev = tj.t_event(y, callback=bounce, direction=tj.event_direction.any)
            ta = tj.taylor_adaptive([(y, vy), (vy, -tj.par[0] + 0.0 * y)], [h0, 0.0], pars=[g],
                                    t_events=[ev])
            t1 = math.sqrt(2 * h0 / g)
            ta.propagate_until(200 * t1)
            if len(impacts) != 100 or not np.allclose(impacts, t1 * (2 * np.arange(100) + 1), rtol=1e-11):
                lost.append((h0, g, len(impacts)))
    assert lost == []


def test_bouncing_ball_on_a_grid():
    # the states between bounces, sampled by propagate_grid, against y(t) = H0 - g tau^2 / 2
    # (tau: the time from the nearest apex; apexes at 0, 2 t1, 4 t1, ...)
    def bounce(ta, d_sgn):
        ta.state[1] = -ta.state[1]
        return True

    ta = ball(bounce, tj.event_direction.negative)
    grid = np.linspace(0.0, 60.0, 1201)
    outcome, *_, states = ta.propagate_grid(grid)
    assert outcome == TIME_LIMIT
    t1 = float(ball_fall_time())
    s = np.mod(grid, 2 * t1)
    tau = np.where(s <= t1, s, 2 * t1 - s)
    np.testing.assert_allclose(states[:, 0], H0 - G_BALL * tau**2 / 2, rtol=0, atol=1e-11)


@pytest.mark.parametrize("x0", [0.3, 1.3, 3.0])
def test_pendulum_zero_crossings(x0):
    crossings = []

    def cb(ta, t, d_sgn):
        crossings.append((t, d_sgn, *ta.update_d_output(t)))

    ta = pend([x0, 0.0], nt_events=[tj.nt_event(x, cb)])
    T = pendulum_period(x0)  # 4 K(sin^2(x0/2)) / sqrt(g), mpmath
    ta.propagate_until(50 * T)
    assert len(crossings) == 100
    expected = np.array([T / 4 + k * T / 2 for k in range(100)])
    times = np.array([c[0] for c in crossings])
    # measured: 2.3e-16 (x0 = 0.3), 5.6e-16 (1.3), 3.8e-14 (3.0: near the separatrix, a period
    # 2.4 times the small-amplitude one, and the phase error of 50 periods shows)
    assert (np.abs(times - expected) / expected).max() < 1e-12
    assert [c[1] for c in crossings] == [-1, 1] * 50  # released at x0 > 0: first downwards
    # x = 0 there (dense output; the absolute time t is rounded: x moves by v ulp(t))
    assert all(abs(c[2]) <= 4 * math.ulp(c[0]) * abs(c[3]) + 4 * EPS for c in crossings)
    assert all(np.sign(c[3]) == c[1] for c in crossings)  # d_sgn: the sign of x' = v


@pytest.mark.parametrize(("high_accuracy", "compact"), MODES)
def test_pendulum_zero_crossings_every_mode(high_accuracy, compact):
    times = []
    ta = pend([1.3, 0.0], nt_events=[tj.nt_event(x, lambda ta, t, d: times.append(t))],
              high_accuracy=high_accuracy, compact_mode=compact)
    assert ta.compact_mode == compact and ta.high_accuracy == high_accuracy
    T = pendulum_period(1.3)
    ta.propagate_until(50 * T)
    expected = np.array([T / 4 + k * T / 2 for k in range(100)])
    assert len(times) == 100
    assert (np.abs(np.array(times) - expected) / expected).max() < 1e-12


@pytest.mark.parametrize("e", [0.1, 0.5, 0.9])
def test_kepler_pericentre_passages(e):
    # Start past the pericentre (true anomaly 2, a = 1.3), mu = 1. The event r.v crosses zero
    # upwards at each pericentre (r.v = r r' goes from negative to positive) and downwards at
    # each apocentre, which direction=positive must filter out.
    pos, vel = kep_to_cart(1.3, e, 0.0, 0.3, 0.0, 2.0, 1.0)
    ic = [pos[0], pos[1], vel[0], vel[1]]
    X, Y, VX, VY = tj.make_vars("x", "y", "vx", "vy")
    passages = []

    def cb(ta, t, d_sgn):
        s = ta.update_d_output(t)
        passages.append((t, d_sgn, math.hypot(s[0], s[1])))

    ta = tj.taylor_adaptive(kepler(), ic, nt_events=[
        tj.nt_event(X * VX + Y * VY, cb, direction=tj.event_direction.positive)])
    el = kepler_elements(ic)  # of the double initial state, in mpmath
    with mp.workdps(40):
        a, M0 = mp.mpf(el["a"]), mp.mpf(el["M"])
        n = 1 / mp.sqrt(a**3)
        T = 2 * mp.pi / n  # 2 pi sqrt(a^3 / mu)
        first = mp.fmod(2 * mp.pi - M0, 2 * mp.pi) / n
        expected = np.array([float(first + k * T) for k in range(100)])
        t_end = float(first + mp.mpf(99.5) * T)
    ta.propagate_until(t_end)
    assert len(passages) == 100
    times = np.array([p[0] for p in passages])
    # measured: 3.2e-15 (e = 0.1), 5.3e-15 (0.5), 3.2e-14 (0.9)
    assert (np.abs(times - expected) / expected).max() < 1e-12
    assert all(p[1] == 1 for p in passages)
    r_peri = el["a"] * (1 - el["e"])
    assert max(abs(p[2] - r_peri) for p in passages) < 1e-12


# ---------------------------------------------------------------------------------------------
# Edge cases
# ---------------------------------------------------------------------------------------------
def test_non_terminal_event_at_the_start_time():  # heyoka "taylor nte basic"
    hits = []
    # 1.0 * v, not v: see the module docstring
    ta = pend([-0.25, 0.0], nt_events=[tj.nt_event(1.0 * v, lambda ta, t, d: hits.append((t, d)))])
    for _ in range(20):
        assert ta.step()[0] == SUCCESS
    assert len(hits) == 3
    assert hits[0] == (0.0, 1)  # v = 0 at t0 and increasing: fires at t0 exactly
    assert hits[1][1] == -1 and hits[2][1] == 1
    # the third one a full period later: heyoka's constant, and the elliptic integral
    assert hits[2][0] == pytest.approx(2.01495830729551199828007207119092374, rel=1e-13)
    assert hits[2][0] == pytest.approx(pendulum_period(0.25), rel=1e-13)


def test_event_at_the_start_time_backward_has_the_sign_of_the_time_derivative(hy):
    # x(0) = 0 with x' = v = 0.25 > 0: integrating backward, the crossing at the start still has
    # d_sgn = +1 (the sign of dx/dt, not of the direction of integration), as in heyoka
    def run(m):
        log = []
        px = m.make_vars("x", "v")[0]
        ta = m.taylor_adaptive(pendulum(m), [0.0, 0.25],
                               nt_events=[m.nt_event(px, lambda ta, t, d: log.append((t, d)))])
        ta.propagate_until(-2.0)
        return log

    ours = run(tj)
    assert ours[0] == (0.0, 1)
    assert [d for _, d in ours] == [d for _, d in run(hy)]


def test_terminal_event_at_the_start_time_stops_with_a_zero_step():
    ta = pend([1.0, 0.0], t_events=[tj.t_event(v)])
    assert ta.te_cooldowns == [None]
    assert ta.step() == (OC(-1), 0.0)  # as heyoka: a zero step, the event at t0
    assert ta.time == 0.0 and list(ta.state) == [1.0, 0.0]
    assert ta.te_cooldowns[0] is not None  # ... and it cools down
    outcome, h = ta.step()
    assert outcome == SUCCESS and h > 0  # the next step proceeds
    assert step_until_event(ta) == OC(-1)  # the next zero of v: half a period later
    assert ta.time == pytest.approx(pendulum_period(1.0) / 2, rel=1e-13)
    assert abs(ta.state[1]) < 100 * EPS and ta.state[0] == pytest.approx(-1.0, rel=1e-13)


def test_terminal_event_at_the_start_time_with_a_callback():
    seen = []

    def cb(ta, d_sgn):
        seen.append((ta.time, d_sgn))
        return True

    ta = pend([1.0, 0.0], t_events=[tj.t_event(v, callback=cb)])
    assert ta.step() == (OC(0), 0.0)
    assert seen == [(0.0, -1)]  # v = 0 at t0, then decreasing
    outcome, *_ = ta.propagate_until(3.0)
    assert outcome == TIME_LIMIT and ta.time == 3.0
    T = pendulum_period(1.0)
    assert [t for t, _ in seen] == pytest.approx([0.0, T / 2, T], rel=1e-13, abs=0.0)
    assert [d for _, d in seen] == [-1, 1, -1]


def test_two_events_in_one_step_run_in_time_order():
    log = []
    ta = line(nt_events=[tj.nt_event(x - 0.3, lambda ta, t, d: log.append((0, t, d, ta.time))),
                         tj.nt_event(x - 0.2, lambda ta, t, d: log.append((1, t, d, ta.time)))])
    outcome, _, _, nsteps, _ = ta.propagate_until(1.0)
    assert outcome == TIME_LIMIT and nsteps == 1  # one step over both roots
    assert [(i, d) for i, _, d, _ in log] == [(1, 1), (0, 1)]  # by time, not by index
    assert [t for _, t, _, _ in log] == pytest.approx([0.2, 0.3], abs=1e-16)
    assert all(tt == 1.0 for *_, tt in log)  # ta is at the end of the step


def test_one_event_with_two_roots_in_one_step():
    log = []
    ta = line(nt_events=[tj.nt_event((tj.time - 0.2) * (tj.time - 0.3), lambda ta, t, d: log.append((t, d)))])
    assert ta.propagate_until(1.0)[3] == 1
    assert [d for _, d in log] == [-1, 1]
    assert [t for t, _ in log] == pytest.approx([0.2, 0.3], abs=1e-15)


def first_step_end(state=IC) -> float:
    ta = pend(state)
    ta.step()
    return ta.time


def test_non_terminal_root_at_a_step_boundary_fires_once():
    # the event tj.time - t1 is zero exactly where the first step ends (same IC, same step)
    t1 = first_step_end()
    log = []
    ta = pend(nt_events=[tj.nt_event(tj.time - t1, lambda ta, t, d: log.append((t, d, ta.time)))])
    for _ in range(5):
        assert ta.step()[0] == SUCCESS
    assert len(log) == 1
    t, d, at = log[0]
    assert t == t1 and d == 1
    assert at > t1  # as heyoka: reported at the start of the second step


def test_terminal_root_at_a_step_boundary_stops_once():
    t1 = first_step_end()
    ta = pend(t_events=[tj.t_event(t1 - tj.time)])
    assert ta.step() == (SUCCESS, t1)
    assert ta.step() == (OC(-1), 0.0)  # at the start of the next step: a zero step
    assert ta.time == t1
    for _ in range(10):
        assert ta.step()[0] == SUCCESS  # never again


@pytest.mark.parametrize("ulps", [-3, -1, 1, 2])
def test_root_ulps_from_a_step_boundary_fires_once_at_its_time(ulps):
    t1 = first_step_end()
    te = t1
    for _ in range(abs(ulps)):
        te = math.nextafter(te, -math.inf if ulps < 0 else math.inf)
    log = []
    ta = pend(nt_events=[tj.nt_event(tj.time - te, lambda ta, t, d: log.append(t))])
    for _ in range(4):
        ta.step()
    assert log == [te]
    tt = pend(t_events=[tj.t_event(te - tj.time)])
    outcomes = [int(tt.step()[0]) for _ in range(4)]
    assert outcomes.count(-1) == 1
    tt2 = pend(t_events=[tj.t_event(te - tj.time)])
    while not is_event(tt2.step()[0]):
        pass
    assert tt2.time == te


def test_tangential_contact_does_not_fire():
    # (t - 1)^2 and (x - 1)^2 touch zero at t = 1 without crossing: no event (heyoka reports
    # each once, with d_sgn = 0: a documented difference); (t - 1)^2 - 1e-6 crosses twice.
    log = []
    ta = line(nt_events=[tj.nt_event((tj.time - 1.0) ** 2, lambda ta, t, d: log.append(("t", t, d))),
                         tj.nt_event((x - 1.0) ** 2, lambda ta, t, d: log.append(("x", t, d))),
                         tj.nt_event((tj.time - 1.0) ** 2 - 1e-6, lambda ta, t, d: log.append(("c", t, d)))])
    assert ta.propagate_until(2.0)[3] == 1
    assert [(k, d) for k, _, d in log] == [("c", -1), ("c", 1)]
    assert [t for _, t, _ in log] == pytest.approx([1 - 1e-3, 1 + 1e-3], abs=1e-12)


def test_tangential_contact_inside_a_step_does_not_fire():
    log = []
    ta = pend([0.0, 0.25], nt_events=[
        tj.nt_event((tj.time - 1.0) ** 2, lambda ta, t, d: log.append(("t", t, d))),
        tj.nt_event((tj.time - 1.0) ** 2 - 1e-6, lambda ta, t, d: log.append(("c", t, d)))])
    ta.propagate_until(2.0)
    assert [k for k, _, _ in log] == ["c", "c"]


def test_glancing_blow():  # heyoka "taylor glancing blow test"
    # Two discs of radius 1: one still at the origin, the other passing at distance 2 (first at
    # constant speed, then accelerating): the squared distance minus 4 has a double root at the
    # contact. Any number of triggers up to 2 is accepted, each within sqrt(eps) of t = 10.
    names = ["x0", "y0", "x1", "y1", "vx0", "vy0", "vx1", "vy1"]
    x0, y0, x1, y1, vx0, vy0, vx1, vy1 = tj.make_vars(*names)
    for acc in (0.0, 0.1):
        times = []
        sys = [(x0, vx0), (y0, vy0), (x1, vx1), (y1, vy1), (vx0, 0.0), (vy0, 0.0), (vx1, acc), (vy1, 0.0)]
        ta = tj.taylor_adaptive(sys, [0.0, 0.0, -10.0, 2.0, 0.0, 0.0, 1.0, 0.0], nt_events=[
            tj.nt_event((x0 - x1) ** 2 + (y0 - y1) ** 2 - 4.0,
                        lambda ta, t, d, times=times: times.append(t))])
        for _ in range(20):
            assert ta.step(1.3)[0] == TIME_LIMIT
        assert len(times) <= 2
        if acc == 0.0:
            assert all((t - 10.0) ** 2 <= EPS for t in times)


def test_constant_event_functions_never_fire():
    # heyoka refuses them ("The extra functions in a Taylor decomposition cannot be constants or
    # parameters"); here they are accepted and never fire, even identically zero ones
    fired = []
    ta = pend(pars=[0.0],
              t_events=[tj.t_event(1.0), tj.t_event(x - x)],
              nt_events=[tj.nt_event(0.0, lambda *a: fired.append(a)),
                         tj.nt_event(tj.par[0], lambda *a: fired.append(a))])
    outcome, _, _, nsteps, _ = ta.propagate_until(10.0)
    assert outcome == TIME_LIMIT and nsteps == 48  # the steps of the same integration without events
    ta.pars[0] = 1.0
    assert ta.propagate_until(20.0)[0] == TIME_LIMIT
    assert ta.step()[0] == SUCCESS
    assert fired == []


def test_backward_integration():
    # forward to 10 then back to 0 (heyoka "nt dir test", with every crossing): the same events
    # in reverse order, d_sgn the sign of dx/dt = v (not flipped by the direction of time), ta
    # at the end of the step (earlier in time than the event, going backward)
    fwd, bwd = [], []
    going = [fwd]

    def cb(ta, t, d_sgn):
        going[0].append((t, d_sgn, ta.time, ta.update_d_output(t)[1]))

    ta = pend(nt_events=[tj.nt_event(x, cb)])
    assert ta.propagate_until(10.0)[0] == TIME_LIMIT
    going[0] = bwd
    assert ta.propagate_until(0.0)[0] == TIME_LIMIT
    assert len(fwd) == 10 and len(bwd) == 10
    assert [t for t, *_ in bwd] == pytest.approx([t for t, *_ in reversed(fwd)], rel=1e-13)
    assert [d for _, d, *_ in bwd] == [d for _, d, *_ in reversed(fwd)]
    assert all(d == np.sign(vel) for _, d, _, vel in fwd + bwd)
    assert all(at >= t for t, _, at, _ in fwd) and all(at <= t for t, _, at, _ in bwd)
    assert all(a[0] > b[0] for a, b in pairwise(bwd))  # callbacks in (backward) time order


def test_backward_direction_filter():  # heyoka "nt dir test"
    fwd, bwd = [], []
    going = [fwd]
    ta = pend([-0.25, 0.0], nt_events=[tj.nt_event(
        1.0 * v, lambda ta, t, d: going[0].append((t, d)), direction=tj.event_direction.positive)])
    ta.propagate_until(20.0)
    going[0] = bwd
    ta.propagate_until(0.0)
    assert all(d == 1 for _, d in fwd + bwd)
    assert len(fwd) == 10 and fwd[0] == (0.0, 1)
    # backward, the crossing at t = 0 is the end of the last step: not in (0, 20]. The round
    # trip leaves v(0) within rounding of zero, so the computed root may land a few 1e-17 inside
    # the step (then it is reported): ambiguous at this scale, and nothing else may differ.
    inside = [t for t, _ in bwd if abs(t) > 1e-15]
    assert len(bwd) - len(inside) <= 1
    assert inside == pytest.approx([t for t, _ in reversed(fwd[1:])], rel=1e-13)


def test_event_at_the_final_time_is_reported_by_the_next_call():
    # the root is where propagate_until stops: the end of its last step, so the next step's
    # (heyoka "linear box", with propagations)
    seen = []
    ta = line(t_events=[tj.t_event(x - 1.0, callback=lambda ta, d: seen.append(ta.time) or True)])
    assert ta.propagate_until(1.0)[0] == TIME_LIMIT and seen == []
    assert ta.propagate_until(2.0)[0] == TIME_LIMIT and seen == [1.0]


def test_state_or_time_set_between_calls_is_not_a_crossing():
    # the event function jumps across zero when the user sets the state (or the time): that is
    # not a crossing of the trajectory, and nothing fires at the next step's start
    log = []
    ta = pend(nt_events=[tj.nt_event(x - 0.01, lambda ta, t, d: log.append(t)),
                         tj.nt_event(tj.time - 2.0, lambda ta, t, d: log.append(t))])
    ta.step()
    ta.state[0] = -0.05  # x - 0.01: from positive to negative
    ta.step()
    ta.step()
    ta.time = 5.0  # time - 2: from negative to positive
    ta.step()
    assert log == []


def test_continuous_output_across_bounces():
    # the dense output of one propagation through 20 bounces (the velocity jumps at each)
    def bounce(ta, d_sgn):
        ta.state[1] = -ta.state[1]
        return True

    ta = ball(bounce, tj.event_direction.negative)
    t1 = float(ball_fall_time())
    *_, cout = ta.propagate_until(40 * t1, c_output=True)
    times = np.linspace(0.0, 40 * t1, 4001)
    s = np.mod(times, 2 * t1)
    tau = np.where(s <= t1, s, 2 * t1 - s)
    np.testing.assert_allclose(cout(times)[:, 0], H0 - G_BALL * tau**2 / 2, rtol=0, atol=1e-11)
    impacts = [(2 * n - 1) * t1 for n in range(1, 21)]
    assert np.abs(cout(np.array(impacts))[:, 0]).max() < 1e-11


def test_step_zero_detects_nothing():  # heyoka "taylor te dir"
    ta = pend([1.0, 0.0], t_events=[tj.t_event(v, direction=tj.event_direction.negative)])
    assert ta.step(0.0) == (TIME_LIMIT, 0.0)
    assert ta.step() == (OC(-1), 0.0)


# ---------------------------------------------------------------------------------------------
# heyoka's taylor_t_event.cpp
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("high_accuracy", "compact"), MODES)
def test_te_basic(high_accuracy, compact):
    count = {"t": 0, "nt": 0}
    state = {"cur": 0.0, "forward": True}

    def in_order(t):
        assert (t > state["cur"]) if state["forward"] else (t < state["cur"])
        state["cur"] = t

    def nt_cb(ta, t, d_sgn):
        in_order(t)
        vel = ta.update_d_output(t)[1]
        assert abs(vel * vel - 1e-10) < EPS
        count["nt"] += 1

    def t_cb(ta, d_sgn):
        in_order(ta.time)
        assert abs(ta.state[1]) < 100 * EPS
        count["t"] += 1
        return True

    ta = pend([0.0, 0.25], high_accuracy=high_accuracy, compact_mode=compact,
              t_events=[tj.t_event(v, callback=t_cb)], nt_events=[tj.nt_event(v * v - 1e-10, nt_cb)])
    assert step_until_event(ta) == OC(0)
    assert ta.time < 1 and count == {"t": 1, "nt": 1}
    assert step_until_event(ta) == OC(0)
    assert ta.time > 1 and count == {"t": 2, "nt": 3}
    state["forward"] = False
    assert step_until_event(ta, backward=True) == OC(0)
    assert ta.time < 1 and count == {"t": 3, "nt": 5}
    assert step_until_event(ta, backward=True) == OC(0)
    assert ta.time < 0 and count == {"t": 4, "nt": 7}


@pytest.mark.parametrize("compact", [False, True])
def test_te_identical(compact):
    ev = tj.t_event(v)
    ta = pend([0.0, 0.25], t_events=[ev, ev], compact_mode=compact)
    first = step_until_event(ta)
    assert first in (OC(-1), OC(-2))
    time = ta.time
    # a further step may see the twin (at the same time), or not (numerics); never later
    outcome, h = ta.step()
    if is_event(outcome):
        assert outcome in (OC(-1), OC(-2)) and outcome != first
        assert ta.time == pytest.approx(time, rel=1e-14)
        # both in cooldown: a step back does not run into them
        assert ta.step_backward()[0] == SUCCESS
    else:
        assert outcome == SUCCESS


@pytest.mark.parametrize(("high_accuracy", "compact"), MODES)
def test_te_close(high_accuracy, compact):
    # events 2 eps apart fire in order, then both cool down; also backwards
    ta = pend([0.1, 0.25], t_events=[tj.t_event(x), tj.t_event(x - 2 * EPS)],
              high_accuracy=high_accuracy, compact_mode=compact)
    assert step_until_event(ta) == OC(-2)  # x - 2 eps first: x increases from 0.1
    assert ta.step()[0] == OC(-1)
    assert ta.step()[0] == SUCCESS  # 0 cooling (it just fired), 1 close enough to still be
    assert step_until_event(ta, backward=True) == OC(-1)
    assert ta.step_backward()[0] == OC(-2)
    assert ta.step()[0] == SUCCESS  # event 0 is still cooling down


def test_te_retrigger():
    # a root 6 eps from the initial condition: fires on the first step, with time != 0
    ta = pend([1.0, 0.0], t_events=[tj.t_event(x - (1 - 6 * EPS))])
    assert ta.step()[0] == OC(-1)
    assert ta.time != 0
    assert step_until_event(ta) == OC(-1)
    t = ta.time
    assert ta.step()[0] == OC(-1)
    assert ta.time > t


def test_te_direction():
    ta = pend([1.0, 0.0], t_events=[tj.t_event(v, direction=tj.event_direction.positive)])
    assert ta.step()[0] == SUCCESS  # v' < 0 at the start: not this direction
    for _ in range(2):
        assert step_until_event(ta) == OC(-1)
        assert ta.state[0] == pytest.approx(-1.0, rel=1e-13)  # the lowest point
    ta = pend([1.0, 0.0], t_events=[tj.t_event(v, direction=tj.event_direction.negative)])
    assert ta.step() == (OC(-1), 0.0)  # now it fires at once
    assert ta.step()[0] == SUCCESS  # and cools down
    assert step_until_event(ta) == OC(-1)
    assert ta.state[0] == pytest.approx(1.0, rel=1e-13)


def test_te_custom_cooldown():  # heyoka: the event fires (and "multiple roots" inside the cooldown)
    ta = pend([0.0, 0.25], t_events=[tj.t_event(v * v - 4 * EPS, callback=lambda ta, d: True, cooldown=0.1)])
    assert step_until_event(ta) == OC(0)


def test_te_cooldowns_and_reset():
    ta = pend([1.0, 0.0], t_events=[tj.t_event(v, direction=tj.event_direction.negative),
                                    tj.t_event(x - 5.0)])
    assert ta.te_cooldowns == [None, None]
    assert ta.step() == (OC(-1), 0.0)
    (elapsed, cd), other = ta.te_cooldowns
    assert elapsed == 0.0 and 0 < cd < 1e-12 and other is None  # automatic: ~10 g_eps / |g'|
    ta.reset_cooldowns()
    assert ta.te_cooldowns == [None, None]
    assert ta.step() == (OC(-1), 0.0)  # no cooldown: it fires again, at once
    _, h = ta.step()
    assert h > 0 and ta.te_cooldowns == [None, None]  # the cooldown ran out during the step
    # a custom cooldown is reported as given, and counts the time stepped since the event
    ta = pend(t_events=[tj.t_event(v, callback=lambda ta, d: True, cooldown=1.5)])
    assert step_until_event(ta) == OC(0)
    assert ta.te_cooldowns == [(0.0, 1.5)]
    _, h = ta.step()
    assert ta.te_cooldowns == [(h, 1.5)]


def test_te_propagate_for():
    count = [0]

    def cb(ta, d_sgn):
        count[0] += 1
        return True

    ta = pend([0.0, 0.25], t_events=[tj.t_event(v, callback=cb)])
    outcome, *_ = ta.propagate_for(100.0)
    assert outcome == TIME_LIMIT and ta.time == 100.0 and count[0] == 100
    ta = pend([0.0, 0.25], t_events=[tj.t_event(v)])
    outcome, *_ = ta.propagate_for(100.0)
    assert outcome == OC(-1) and ta.time < 0.502


def test_te_propagate_grid():
    count = [0]

    def cb(ta, d_sgn):
        count[0] += 1
        return True

    grid = np.arange(101.0)
    ta = pend([0.0, 0.25], t_events=[tj.t_event(v, callback=cb)])
    outcome, *_, states = ta.propagate_grid(grid)
    assert outcome == TIME_LIMIT and ta.time >= 100 and count[0] == 100
    assert states.shape == (101, 2) and np.isfinite(states).all()
    ta = pend([0.0, 0.25], t_events=[tj.t_event(v)])
    outcome, *_, states = ta.propagate_grid(grid)
    assert outcome == OC(-1) and ta.time < 0.502
    # heyoka returns the rows reached (one); here all of them, nan past the stop
    assert states.shape == (101, 2) and list(states[0]) == [0.0, 0.25] and np.isnan(states[1:]).all()


def test_te_propagate_grid_first_step_bug():
    # a terminal event at the first step must not end the grid (heyoka's bug)
    grid = [5 / 100.0 * i for i in range(100)]
    ta = pend(t_events=[tj.t_event(v, callback=lambda ta, d: True)])
    outcome, *_, states = ta.propagate_grid(grid)
    assert outcome == TIME_LIMIT and states.shape == (100, 2) and np.isfinite(states).all()
    ta = pend(t_events=[tj.t_event(v)])
    outcome, *_, states = ta.propagate_grid(grid)
    assert outcome == OC(-1) and np.isnan(states[2:]).all()


def test_te_damped_pendulum():
    # the callback toggles a damping parameter at each zero of v
    times = []

    def cb(ta, d_sgn):
        times.append(ta.time)
        ta.pars[0] = 1.0 if ta.pars[0] == 0 else 0.0
        return True

    damped = [(x, v), (v, -9.8 * tj.sin(x) - tj.par[0] * v)]
    ta = tj.taylor_adaptive(damped, IC, t_events=[tj.t_event(v, callback=cb)])
    ta.propagate_until(100.0)
    assert len(times) == 99
    ta.step()
    assert len(times) == 100
    # mixing step() and propagate_until(), as in heyoka's tutorial
    times.clear()
    ta.time = 0.0
    ta.state[:] = IC
    ta.pars[0] = 0.0
    while ta.step()[0] == SUCCESS:
        pass
    ta.propagate_until(100.0)
    assert len(times) == 99
    ta.step()
    assert len(times) == 100


def test_te_boolean_callback():
    st_ = {"count": 0, "cur": 0.0, "forward": True}

    def cb(ta, d_sgn):
        t = ta.time
        assert (t > st_["cur"]) if st_["forward"] else (t < st_["cur"])
        assert abs(ta.state[1]) < 100 * EPS
        st_["count"] += 1
        st_["cur"] = t
        return st_["count"] != 5

    ta = pend([0.0, 0.25], t_events=[tj.t_event(v, callback=cb)])
    assert step_until_event(ta) == OC(0)
    assert ta.propagate_until(1000.0)[0] == OC(-1)  # the fifth one says stop
    st_.update(count=0, forward=False)
    step_until_event(ta, backward=True)
    assert ta.propagate_for(-1000.0)[0] == OC(-1)
    # propagate_grid too
    ta.reset_cooldowns()
    ta.time = 0.0
    ta.state[:] = [-0.1, 0.0]
    st_.update(count=0, forward=True, cur=-1.0)
    assert ta.propagate_grid([0.0])[0] == TIME_LIMIT and st_["count"] == 0
    ta.reset_cooldowns()
    ta.state[:] = [0.0, 0.25]
    st_.update(count=0, cur=0.0)
    assert ta.propagate_grid([0.0, 0.5, 1000.0])[0] == OC(-1) and st_["count"] == 5


def test_te_step_end():
    # a terminal event exactly at the end of a step (every step is 0.005 long)
    seen = []
    ev = tj.t_event(tj.time - 1.0, callback=lambda ta, d: seen.append(ta.time) or True)
    ta = pend([0.0, 0.25], t_events=[ev])
    assert ta.propagate_until(10.0, max_delta_t=0.005)[0] == TIME_LIMIT
    assert seen == [1.0]


def test_te_zero_cooldown():  # heyoka "taylor zero cd mor bug"
    ta = pend([0.0, 0.25], t_events=[tj.t_event(v, callback=lambda ta, d: False, cooldown=0)])
    assert ta.propagate_until(10.0)[0] == OC(-1)


# ---------------------------------------------------------------------------------------------
# heyoka's taylor_nt_event.cpp and wavy_ramp.cpp
# ---------------------------------------------------------------------------------------------
def test_nte_linear_box():
    # an event exactly at the end of a step triggers at the start of the next one
    seen = []
    ta = line(nt_events=[tj.nt_event(x - 1.0, lambda ta, t, d: seen.append((t, ta.time)))])
    assert ta.step(1.0) == (TIME_LIMIT, 1.0)
    assert seen == [] and ta.state[0] == 1.0
    assert ta.step(1.0) == (TIME_LIMIT, 1.0)
    assert seen == [(1.0, 2.0)] and ta.state[0] == 2.0


def test_nte_match():
    # a non-terminal event does not change the integration
    ta_ev = pend([-0.25, 0.0], nt_events=[tj.nt_event(1.0 * v, lambda *a: None)])
    ta = pend([-0.25, 0.0])
    for _ in range(200):
        (o1, h1), (o2, h2) = ta_ev.step(), ta.step()
        assert o1 == o2 and h1 == h2
    np.testing.assert_array_equal(ta_ev.state, ta.state)
    assert ta_ev.time == ta.time


def multizero(direction=tj.event_direction.any, backward=False, **kw):
    """heyoka's "multizero": events v^2 - 1e-10 and v on the pendulum from (0, 0.25). Returns
    the sequence of event indices; the callbacks check the time order, that ta is past the event,
    and the event function at the event (dense output)."""
    seq, last = [], [0.0]
    small = 1e-10

    def check(ta, t):
        assert (t < last[0]) if backward else (t > last[0])
        assert (ta.time < t) if backward else (ta.time > t)
        last[0] = t
        return ta.update_d_output(t)[1]

    def cb0(ta, t, d_sgn):
        vel = check(ta, t)
        assert abs(vel * vel - small) < EPS
        seq.append(0)

    def cb1(ta, t, d_sgn):
        vel = check(ta, t)
        assert abs(vel) <= 100 * EPS
        if direction == tj.event_direction.negative:
            assert d_sgn == -1
        seq.append(1)

    ta = pend([0.0, 0.25], nt_events=[tj.nt_event(v * v - small, cb0),
                                      tj.nt_event(v, cb1, direction=direction)], **kw)
    assert ta.propagate_until(-4.0 if backward else 4.0)[0] == TIME_LIMIT
    return "".join(map(str, seq))


@pytest.mark.parametrize(("high_accuracy", "compact"), MODES)
def test_nte_multizero(high_accuracy, compact):
    kw = {"high_accuracy": high_accuracy, "compact_mode": compact}
    assert multizero(**kw) == "010" * 4
    # only v decreasing through 0: the sequence 010, 00, 010, 00
    assert multizero(tj.event_direction.negative, **kw) == "010" + "00" + "010" + "00"


def test_nte_multizero_sub_eps_tolerance():
    assert multizero(tol=EPS / 100) == "010" * 4
    assert multizero(tj.event_direction.negative, tol=EPS / 100) == "0100001000"


def test_nte_multizero_negative_time():
    assert multizero(backward=True) == "010" * 4


def wavy_ramp(check: bool, bad: list):
    """heyoka's wavy ramp: a ball falling on a rippled ramp (terminal event, direction negative,
    callback reflecting the velocity off the ramp's normal) and on the floor y = 0."""
    X, Y, VX, VY = tj.make_vars("x", "y", "vx", "vy")
    k = 11 * math.pi

    def cb_curve(ta, d_sgn):
        px, py = ta.state[0], ta.state[1]
        if check:
            bad.extend([] if abs(py - (1.0 - px + 0.05 * math.cos(k * px))) < 1e-13 else [("curve", ta.time)])
        gx, gy = 1 + 0.05 * k * math.sin(k * px), 1.0
        norm = math.hypot(gx, gy)
        gx, gy = gx / norm, gy / norm
        vproj = ta.state[2] * gx + ta.state[3] * gy
        ta.state[2] -= 1.8 * vproj * gx
        ta.state[3] -= 1.8 * vproj * gy
        return True

    def cb_bottom(ta, d_sgn):
        if check:
            bad.extend([] if abs(ta.state[1]) < 1e-13 else [("bottom", ta.time)])
        ta.state[3] = -0.8 * ta.state[3]
        return True

    neg = tj.event_direction.negative
    return tj.taylor_adaptive(
        [(X, VX), (Y, VY), (VX, 0.0), (VY, -1.0)], [0.0, 1.2, 0.0, 0.0],
        t_events=[tj.t_event(Y - (1.0 - X + 0.05 * tj.cos(k * X)), callback=cb_curve, direction=neg),
                  tj.t_event(Y, callback=cb_bottom, direction=neg)])


def test_wavy_ramp_assertion_misfire():
    # the state is polynomial in time: the step size is infinite, so the step fails; heyoka
    # returns err_nf_state too (and leaves a nan state, which taylorjit does not)
    ta = wavy_ramp(False, [])
    assert ta.step() == (OC.err_nf_state, 0.0)
    assert ta.time == 0.0 and list(ta.state) == [0.0, 1.2, 0.0, 0.0]
    outcome, h = ta.step(10.0)  # the ramp is hit at y = 1.05: t = sqrt(0.3)
    assert outcome == OC(0) and h == pytest.approx(math.sqrt(0.3), rel=1e-15)


def test_wavy_ramp_accurate_event_propagation():
    bad = []
    ta = wavy_ramp(True, bad)
    assert ta.propagate_until(10.0)[0] == TIME_LIMIT
    assert bad == []


def test_wavy_ramp_with_short_steps():
    # the same with steps short enough for cos(11 pi x): every event on the curve (heyoka's
    # propagation, whose step size follows the event functions, gives the same final state)
    bad = []
    ta = wavy_ramp(True, bad)
    outcome, _, _, nsteps, _ = ta.propagate_until(10.0, max_delta_t=0.05)
    assert outcome == TIME_LIMIT and bad == []
    np.testing.assert_allclose(ta.state, [1.94726379, 0.1098619, 0.36330094, 0.2105868], rtol=1e-7)


# ---------------------------------------------------------------------------------------------
# Regressions named after heyoka's bugs
# ---------------------------------------------------------------------------------------------
def test_propagate_step_count_te_stop_bug():  # heyoka#216
    def make():
        return pend([0.0, 0.25], t_events=[tj.t_event(x - 1e-6)])

    for run in (lambda ta: ta.propagate_until(10.0), lambda ta: ta.propagate_for(10.0),
                lambda ta: ta.propagate_grid([0.0, 1.0, 2.0])):
        ta = make()
        outcome, _, _, nsteps, _ = run(ta)
        assert outcome == OC(-1) and nsteps == 1
        assert ta.time == pytest.approx(4e-6, rel=1e-9)


@pytest.mark.parametrize("kind", ["terminal", "non-terminal"])
def test_callback_changing_time_is_an_error(kind):  # heyoka#278
    def bump(ta, *args):
        ta.time = ta.time + 1.0
        return True

    def make():
        if kind == "terminal":
            return pend([0.0, 0.25], t_events=[tj.t_event(v, callback=bump)])
        return pend([0.0, 0.25], nt_events=[tj.nt_event(1.0 * v, bump)])

    message = ("The invocation of one or more event callbacks resulted in the alteration of the time "
               "coordinate of the integrator - this is not supported")
    for run in (lambda ta: ta.propagate_until(10.0), lambda ta: ta.propagate_for(10.0),
                lambda ta: ta.propagate_grid([0.0, 10.0]),
                lambda ta: [ta.step() for _ in range(20)]):
        with pytest.raises(ValueError, match="alteration of the time") as info:
            run(make())
        assert str(info.value) == message


def test_params_only_in_events_are_counted():  # heyoka#154
    ta = pend([0.0, 0.25], t_events=[tj.t_event(v - tj.par[1])],
              nt_events=[tj.nt_event(x - tj.par[3], lambda *a: None)])
    assert ta.pars.shape == (4,)
    # and the events read them: x crosses +-0.03 where the parameter says
    hits = []
    ev = tj.nt_event(x - tj.par[0], lambda ta, t, d: hits.append(d))
    ta = pend([0.0, 0.25], pars=[0.03], nt_events=[ev])
    ta.propagate_until(2.0)
    ta.pars[0] = -0.03
    ta.propagate_until(4.0)
    assert hits == [1, -1, -1, 1]


def test_exceptions_in_callbacks_propagate_and_leave_a_usable_integrator():
    def boom(*args):
        raise KeyError("boom")

    ta = pend(t_events=[tj.t_event(x + 0.01, callback=boom)])
    with pytest.raises(KeyError, match="boom"):
        ta.propagate_until(10.0)
    t = ta.time
    assert 0 < t < 10 and abs(ta.state[0] + 0.01) < 1e-15  # stopped at the event
    assert ta.propagate_until(t + 0.01)[0] == TIME_LIMIT
    nt = pend(nt_events=[tj.nt_event(x + 0.02, boom)])
    with pytest.raises(KeyError, match="boom"):
        nt.propagate_until(10.0)
    assert nt.propagate_until(nt.time + 0.01)[0] == TIME_LIMIT


def test_bad_constructor_input_with_events():  # heyoka.py#243: it used to abort the interpreter
    with pytest.raises(ValueError, match="Inconsistent sizes"):
        pend([0.05], t_events=[tj.t_event(x)], nt_events=[tj.nt_event(v * v, lambda *a: None)])


# ---------------------------------------------------------------------------------------------
# Regressions of this implementation (found by these tests, fixed)
# ---------------------------------------------------------------------------------------------
def test_custom_cooldown_is_kept():  # was dropped when the polynomial had the same sign at t -/+ cd
    hits = []
    ta = pend(t_events=[tj.t_event(v, callback=lambda ta, d: hits.append(ta.time) or True, cooldown=1.5)])
    ta.propagate_until(10.0)
    # heyoka 7.13: every other zero of v (half period 1.0035; the cooldown 1.5 hides the next)
    assert hits == pytest.approx([0.0506143505979646, 2.0580259323765615, 4.065437514155159,
                                  6.072849095933755, 8.080260677712353], rel=1e-13)


def test_step_size_accounts_for_the_event_functions():  # was: 4 of 64 zeros
    times = []
    ta = line(nt_events=[tj.nt_event(tj.sin(20 * x), lambda ta, t, d: times.append(t))])
    ta.propagate_until(10.0)
    expected = [k * math.pi / 20 for k in range(64)]
    assert len(times) == 64
    assert times == pytest.approx(expected, rel=1e-13, abs=1e-15)


def test_root_at_the_middle_of_a_step_next_to_another():  # was: both lost
    log = []
    r1 = 0.12595849363786418
    ta = line(nt_events=[tj.nt_event((tj.time - r1) * (tj.time - 0.5), lambda ta, t, d: log.append((t, d)))])
    assert ta.propagate_until(1.0)[3] == 1
    assert [d for _, d in log] == [-1, 1]
    assert [t for t, _ in log] == pytest.approx([r1, 0.5], abs=1e-15)


# ---------------------------------------------------------------------------------------------
# Regressions: bugs this suite found in the implementation
# ---------------------------------------------------------------------------------------------
def test_terminal_and_non_terminal_twins_compile_apart():
    e = x + 0.0123  # used nowhere else
    pend(nt_events=[tj.nt_event(e, lambda *a: None)])
    ta = pend(t_events=[tj.t_event(e)])
    assert ta.propagate_until(10.0)[0] == OC(-1)
    assert ta.state[0] == pytest.approx(-0.0123, abs=1e-15)


def test_non_terminal_event_is_reported_again_stepping_back():
    # two roots in the step (so Python, not the native test, locates them); heyoka reports the
    # crossing at 0.5 again on the way back
    log = []
    ta = line(nt_events=[tj.nt_event((x - 0.5) * (x - 0.6), lambda ta, t, d: log.append((t, d)))])
    ta.step(0.55)
    assert log == [(pytest.approx(0.5, abs=1e-15), -1)]
    ta.step(-0.55)
    assert len(log) == 2 and log[1] == (pytest.approx(0.5, abs=1e-15), -1)


def test_cooldown_is_a_window_in_time():
    # v = 0 at 0.0506 and 2.058 with a cooldown of 1.5 (the zero at 1.054 is hidden); forward to
    # 3, then back to -1: 2.058 is still within 1.5 of the event, 0.0506 is not (heyoka 7.13)
    hits = []
    ta = pend(t_events=[tj.t_event(v, callback=lambda ta, d: hits.append(ta.time) or True, cooldown=1.5)])
    ta.propagate_until(3.0)
    ta.propagate_until(-1.0)
    assert hits == pytest.approx([0.0506143505979646, 2.0580259323765615, 0.0506143505979646], rel=1e-13)


def test_zero_length_steps_are_not_counted():
    ta = pend([1.0, 0.0], t_events=[tj.t_event(v)])
    outcome, _, _, nsteps, _ = ta.propagate_until(3.0)
    assert outcome == OC(-1) and ta.time == 0.0
    assert nsteps == 0
    ta = pend([0.0, 0.25], t_events=[tj.t_event(tj.time - 1.0, callback=lambda ta, d: True)])
    assert ta.propagate_until(10.0, max_delta_t=0.005)[3] == 2000  # heyoka: 2000


# ---------------------------------------------------------------------------------------------
# Side by side with heyoka.py
# ---------------------------------------------------------------------------------------------
def test_bounce_times_equal_heyoka(hy):
    def run(m):
        times = []

        def bounce(ta, d_sgn):
            times.append(ta.time)
            ta.state[1] = -ta.state[1]
            return True

        ball(bounce, m=m).propagate_until(286.0)
        return times

    ours, theirs = run(tj), run(hy)
    assert len(ours) == len(theirs) == 100
    np.testing.assert_allclose(ours, theirs, rtol=1e-14)  # measured 6.5e-16


@pytest.mark.parametrize("x0", [0.3, 1.3])
def test_pendulum_crossings_equal_heyoka(hy, x0):
    def run(m):
        out = []
        px = m.make_vars("x")
        ev = m.nt_event(px, lambda ta, t, d: out.append((t, d)))
        ta = m.taylor_adaptive(pendulum(m), [x0, 0.0], nt_events=[ev])
        nsteps = ta.propagate_until(110.0)[3]
        return out, nsteps

    (ours, n1), (theirs, n2) = run(tj), run(hy)
    assert n1 == n2 and len(ours) == len(theirs) > 90
    assert [d for _, d in ours] == [d for _, d in theirs]
    np.testing.assert_allclose([t for t, _ in ours], [t for t, _ in theirs], rtol=1e-14)  # 5.5e-16


def test_kepler_passages_equal_heyoka(hy):
    def run(m):
        out = []
        X, Y, VX, VY = m.make_vars("x", "y", "vx", "vy")
        ta = m.taylor_adaptive(kepler(m), [0.5, 0.0, 0.0, math.sqrt(3.0)], nt_events=[
            m.nt_event(X * VX + Y * VY, lambda ta, t, d: out.append(t),
                       direction=m.event_direction.positive)])
        ta.propagate_until(100 * 2 * math.pi + 1.0)
        return out

    ours, theirs = run(tj), run(hy)
    assert len(ours) == len(theirs) == 101 and ours[0] == theirs[0] == 0.0  # at the pericentre at t0
    np.testing.assert_allclose(ours, theirs, rtol=1e-13)  # measured 5.7e-15 (e = 0.5)


@pytest.mark.parametrize("case", ["close", "retrigger", "direction", "step-boundary", "cooldown"])
def test_terminal_event_sequences_equal_heyoka(hy, case):
    # Stepping forward to t = 3, then backward to t = -1 (the last step of each way shortened to
    # land there), recording the outcome and time of every step that reports an event. The step
    # sizes themselves may differ: an event function whose size is >= 1 lengthens heyoka's steps
    # (it joins the state's magnitude), not taylorjit's.
    def script(m):
        px, pv = m.make_vars("x", "v")
        sys = pendulum(m)
        if case == "close":
            ta = m.taylor_adaptive(sys, [0.1, 0.25], t_events=[m.t_event(px), m.t_event(px - 2 * EPS)])
        elif case == "retrigger":
            ta = m.taylor_adaptive(sys, [1.0, 0.0], t_events=[m.t_event(px - (1 - 6 * EPS))])
        elif case == "direction":
            ev = m.t_event(pv, direction=m.event_direction.negative)
            ta = m.taylor_adaptive(sys, [1.0, 0.0], t_events=[ev])
        elif case == "cooldown":
            ev = m.t_event(pv, callback=lambda ta, d: True, cooldown=1.5)
            ta = m.taylor_adaptive(sys, IC, t_events=[ev])
        else:  # a root where the first step ends
            first = m.taylor_adaptive(sys, IC)
            first.step()
            ta = m.taylor_adaptive(sys, IC, t_events=[m.t_event(first.time - m.time)])
        out = []
        for target in (3.0, -1.0):
            while ta.time != target:
                o, _ = ta.step(target - ta.time)
                if is_event(o):
                    out.append((int(o), ta.time))
        return out

    ours, theirs = script(tj), script(hy)
    assert len(ours) >= 2
    assert [o for o, _ in ours] == [o for o, _ in theirs]
    # the roots of x - (1 - 6 eps) straddle a maximum of x: conditioned to ~1e-9 by the rounding
    atol = 1e-8 if case == "retrigger" else 1e-15
    np.testing.assert_allclose([t for _, t in ours], [t for _, t in theirs], rtol=1e-13, atol=atol)


def test_propagation_with_step_callback_and_limits_equals_heyoka(hy):
    # event callbacks run before the step callback; a step callback's False stops (cb_stop);
    # max_steps counts the event-shortened steps too
    def run(m):
        px, pv = m.make_vars("x", "v")
        log, calls = [], []

        def step_cb(ta):
            calls.append(ta.time)
            log.append(("step", ta.time))
            return len(calls) < 8

        te = m.t_event(pv, callback=lambda ta, d: log.append(("t", ta.time)) or True)
        nte = m.nt_event(px - 0.01, lambda ta, t, d: log.append(("nt", t)))
        ta = m.taylor_adaptive(pendulum(m), IC, t_events=[te], nt_events=[nte])
        r1 = ta.propagate_until(10.0, callback=step_cb)
        ta2 = m.taylor_adaptive(pendulum(m), IC, t_events=[m.t_event(pv, callback=lambda ta, d: True)])
        r2 = ta2.propagate_until(10.0, max_steps=7)
        r3 = ta2.propagate_until(10.0)
        return log, [(int(r[0]), r[1], r[2], r[3]) for r in (r1, r2, r3)], ta2.time

    (log1, res1, t1), (log2, res2, t2) = run(tj), run(hy)
    assert [k for k, _ in log1] == [k for k, _ in log2]
    np.testing.assert_allclose([t for _, t in log1], [t for _, t in log2], rtol=1e-14)
    assert [r[0] for r in res1] == [r[0] for r in res2]
    assert [r[0] for r in res1] == [int(OC.cb_stop), int(OC.step_limit), int(TIME_LIMIT)]
    assert [r[3] for r in res1] == [r[3] for r in res2]
    np.testing.assert_allclose([r[1:3] for r in res1], [r[1:3] for r in res2], rtol=1e-14)
    assert t1 == t2 == 10.0


def test_cooldowns_equal_heyoka(hy):
    def run(m):
        _, pv = m.make_vars("x", "v")
        ev = m.t_event(pv, direction=m.event_direction.negative)
        ta = m.taylor_adaptive(pendulum(m), [1.0, 0.0], t_events=[ev])
        out = [(int(ta.step()[0]), ta.te_cooldowns)]
        ta.reset_cooldowns()
        out.append((int(ta.step()[0]), ta.te_cooldowns))
        out.append((int(ta.step()[0]), ta.te_cooldowns))
        return out

    ours, theirs = run(tj), run(hy)
    assert [o for o, _ in ours] == [o for o, _ in theirs] == [-1, -1, int(SUCCESS)]
    for (_, a), (_, b) in zip(ours, theirs, strict=True):
        assert (a[0] is None) == (b[0] is None)
        if a[0] is not None:
            assert a[0][0] == b[0][0] and a[0][1] == pytest.approx(b[0][1], rel=1e-6)


@pytest.mark.parametrize("kind", ["nt", "t"])
def test_multizero_and_terminal_sequences_equal_heyoka(hy, kind):
    def run(m):
        px, pv = m.make_vars("x", "v")
        out = []
        if kind == "nt":
            evs = {"nt_events": [m.nt_event(pv * pv - 1e-10, lambda ta, t, d: out.append((0, t, d))),
                                 m.nt_event(pv, lambda ta, t, d: out.append((1, t, d)))]}
        else:
            evs = {"t_events": [m.t_event(pv, callback=lambda ta, d: out.append((0, ta.time, d)) or True)],
                   "nt_events": [m.nt_event(pv * pv - 1e-10, lambda ta, t, d: out.append((1, t, d)))]}
        ta = m.taylor_adaptive(pendulum(m), [0.0, 0.25], **evs)
        ta.propagate_until(10.0)
        return out

    ours, theirs = run(tj), run(hy)
    assert [(i, d) for i, _, d in ours] == [(i, d) for i, _, d in theirs]
    # v^2 - 1e-10 has roots 2e-5 apart, its zeros are conditioned to ~1e-11 by the rounding of v^2
    np.testing.assert_allclose([t for _, t, _ in ours], [t for _, t, _ in theirs], rtol=1e-10)


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(theta=st.floats(1e-3, math.pi - 1e-3), phase=st.floats(0.0, 2 * math.pi),
       direction=st.sampled_from(list(tj.event_direction)), backward=st.booleans())
def test_every_crossing_of_a_level_is_found(theta, phase, direction, backward):
    # x'' = -x from x = cos(phase), v = -sin(phase): x(t) = cos(t + phase). The level
    # c = cos(theta) is crossed at t + phase = +-theta (mod 2 pi), downwards (+theta, x' < 0)
    # and upwards (-theta). Crossings as close as 2e-3: the exclusion test must let them through.
    c = math.cos(theta)
    # not at t = 0 or at the end, where it is a matter of rounding whether it is in the span
    for root in (theta, -theta):
        for end in (0.0, 20.0, -20.0):
            assume(abs(math.remainder(root - phase - end, 2 * math.pi)) > 1e-9)
    found = []
    ta = tj.taylor_adaptive([(x, v), (v, -x)], [math.cos(phase), -math.sin(phase)], pars=[c],
                            nt_events=[tj.nt_event(x - tj.par[0], lambda ta, t, d: found.append((t, d)),
                                                   direction=direction)])
    t_end = -20.0 if backward else 20.0
    ta.propagate_until(t_end)
    expected = []
    for k in range(-5, 6):
        for root, d in ((theta, -1), (-theta, 1)):
            t = root - phase + 2 * math.pi * k
            if (0 < t < t_end or t_end < t < 0) and direction in (0, d):
                expected.append((t, d))
    expected.sort(reverse=backward)
    assert [d for _, d in found] == [d for _, d in expected]
    # the phase error (~eps per unit time) over the slope |x'| = sin(theta) at the crossing
    for (t, _), (te, _) in zip(found, expected, strict=True):
        assert abs(t - te) <= 1e-13 * (1 + abs(te)) / math.sin(theta), (t, te)


@pytest.mark.parametrize("degree", [1, 2, 3, 4])
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_roots_of_a_polynomial_in_time_are_found(degree, data):
    # the event prod (t - p_i) over one step [0, 1] of x' = 1: its Taylor polynomial is the
    # polynomial itself; every root found to 1e-12 (roots 0.05 apart: well conditioned)
    roots = data.draw(st.lists(st.floats(0.01, 0.99), min_size=degree, max_size=degree).map(sorted)
                      .filter(lambda rs: all(b - a > 0.05 for a, b in pairwise(rs))))
    g = 1.0
    for i in range(degree):
        g = g * (tj.time - tj.par[i])
    found = []
    ta = line(pars=roots, nt_events=[tj.nt_event(g, lambda ta, t, d: found.append(t))])
    ta.propagate_until(1.0)
    assert found == pytest.approx(roots, abs=1e-12)


@settings(max_examples=10, deadline=None)
@given(x0=st.floats(0.1, 3.0), level=st.floats(-0.99, 0.99))
def test_level_crossings_of_the_pendulum_equal_heyoka(hy, x0, level):
    c = level * x0

    def run(m):
        out = []
        px = m.make_vars("x")
        ta = m.taylor_adaptive(pendulum(m), [x0, 0.0], pars=[c],
                               nt_events=[m.nt_event(px - m.par[0], lambda ta, t, d: out.append((t, d)))])
        ta.propagate_until(20.0)
        return out

    ours, theirs = run(tj), run(hy)
    assert [d for _, d in ours] == [d for _, d in theirs]
    np.testing.assert_allclose([t for t, _ in ours], [t for t, _ in theirs], rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# The event objects and bad input
# ---------------------------------------------------------------------------------------------
def test_event_objects_and_integrator_attributes():
    def cb(ta, d):
        return True

    te = tj.t_event(x - 1.0, callback=cb, direction=tj.event_direction.positive, cooldown=0.5)
    assert str(te.expression) == str(x - 1.0) and te.callback is cb
    assert te.direction == tj.event_direction.positive and te.cooldown == 0.5
    default = tj.t_event(v)
    assert default.callback is None and default.direction == tj.event_direction.any and default.cooldown == -1
    nte = tj.nt_event(v * v, print, direction=tj.event_direction.negative)
    assert nte.callback is print and nte.direction == tj.event_direction.negative
    assert "t_event" in repr(te) and "positive" in repr(te) and "nt_event" in repr(nte)
    ta = pend(t_events=[te, default], nt_events=[nte])
    assert ta.with_events and ta.t_events == [te, default] and ta.nt_events == [nte]
    assert ta.te_cooldowns == [None, None]
    plain = pend()
    assert not plain.with_events and plain.t_events == plain.nt_events == plain.te_cooldowns == []


def test_event_direction_values_equal_heyoka(hy):
    for name in ("any", "positive", "negative"):
        assert int(getattr(tj.event_direction, name)) == getattr(hy.event_direction, name).value
    assert [int(OC(i)) for i in (-2, -1, 0, 3)] == [-2, -1, 0, 3]


@pytest.mark.parametrize("kind", ["t", "nt"])
def test_event_with_a_variable_not_in_the_system(kind):
    y = tj.make_vars("y")
    evs = ({"t_events": [tj.t_event(x + y)]} if kind == "t"
           else {"nt_events": [tj.nt_event(x + y, lambda *a: None)]})
    with pytest.raises(ValueError, match="'y'.*event function.*not a state variable"):
        pend(**evs)


def test_callback_must_be_callable():
    for bad in (3, "cb", None):
        with pytest.raises(TypeError, match="cannot be used as an event callback because it is not callable"):
            tj.nt_event(v, bad)
    with pytest.raises(TypeError, match=r"An object of type '<class 'int'>' cannot be used as an event"):
        tj.t_event(v, callback=3)
    with pytest.raises(TypeError):
        tj.nt_event(v)  # a non-terminal event needs a callback


def test_callback_signature_is_checked_at_construction():
    with pytest.raises(TypeError, match=r"cb\(ta, d_sgn\)"):
        tj.t_event(v, callback=lambda ta: True)
    with pytest.raises(TypeError, match=r"cb\(ta, d_sgn\)"):
        tj.t_event(v, callback=lambda ta, t, d: True)  # the non-terminal signature
    with pytest.raises(TypeError, match=r"cb\(ta, time, d_sgn\)"):
        tj.nt_event(v, lambda ta, d: None)  # the terminal signature

    class Callable2:
        def __call__(self, ta, d_sgn):
            return True

    # accepted: defaults, *args, callable objects, builtins without a signature
    tj.t_event(v, callback=lambda ta, d, extra=1: True)
    tj.t_event(v, callback=lambda *args: True)
    tj.t_event(v, callback=Callable2())
    tj.nt_event(v, print)


def test_cooldown_must_be_finite():
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="Cannot set a non-finite cooldown value for a terminal event"):
            tj.t_event(v, cooldown=bad)
    with pytest.raises(TypeError, match="cooldown"):
        tj.t_event(v, cooldown=[1.0])
    assert tj.t_event(v, cooldown=-5).cooldown == -5  # negative: automatic, as heyoka


def test_direction_must_be_an_event_direction():
    for bad in (3, -2, 50):
        with pytest.raises(ValueError, match="direction"):
            tj.t_event(v, direction=bad)
        with pytest.raises(ValueError, match="direction"):
            tj.nt_event(v, print, direction=bad)
    for bad in ("up", None, 1.0, True):
        with pytest.raises(TypeError, match="direction"):
            tj.t_event(v, direction=bad)
    assert tj.t_event(v, direction=1).direction == tj.event_direction.positive  # the plain values


def test_event_lists_hold_events():
    with pytest.raises(TypeError, match="t_events must hold tj.t_event objects, not int"):
        pend(t_events=[3])
    with pytest.raises(TypeError, match="t_events must hold tj.t_event objects, not nt_event"):
        pend(t_events=[tj.nt_event(v, print)])
    with pytest.raises(TypeError, match="nt_events must hold tj.nt_event objects, not t_event"):
        pend(nt_events=[tj.t_event(v)])
    with pytest.raises(TypeError, match="an event function must be an expression, not str"):
        tj.t_event("x")
