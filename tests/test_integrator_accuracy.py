"""Accuracy of ``tj.taylor_adaptive``: closed forms, conserved quantities, reversibility, and
side by side with heyoka.py (skipped when heyoka is not installed).

Error budgets. A Taylor integrator at ``tol = eps`` makes a rounding-level error per step, so the
error of conserved quantities performs a random walk (``~ eps sqrt(N)`` after ``N`` steps,
Brouwer's law) and the phase of a periodic orbit drifts by the integral of the frequency error:
with the mean motion ``n ~ a**-1.5``, ``dM ~ 1.5 n * integral(da/a dt) ~ c eps n T sqrt(N)``.
Where a check's figure (issue 4: "position after 100 orbits to 1e-12") is below that budget for
any double-precision integrator (heyoka included, measured in the same conditions), the test
checks what is achievable tightly (the orbit's shape, short arcs) and bounds the rest by the
budget, saying so in place.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from integrator_helpers import (
    EPS,
    G,
    assert_jets_close,
    kepler,
    kepler_elements,
    kepler_ic,
    kepler_position,
    norm_rel,
    pendulum,
    pendulum_energy,
    pendulum_period,
    two_body,
    two_body_ic,
    two_body_invariants,
    ulp_distance,
)

import taylorjit as tj

MODES = [pytest.param(ha, cm, id=f"{'ha' if ha else 'plain'}-{'compact' if cm else 'unrolled'}")
         for ha in (False, True) for cm in (False, True)]
SUCCESS = tj.taylor_outcome.success
TIME_LIMIT = tj.taylor_outcome.time_limit


def position_error(state, e, t) -> float:
    xr, yr = kepler_position(e, t)
    with mp.workdps(40):
        return float(mp.sqrt((state[0] - xr) ** 2 + (state[1] - yr) ** 2) / mp.sqrt(xr**2 + yr**2))


# ---------------------------------------------------------------------------------------------
# Kepler: closed form from Kepler's equation (mpmath)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("high_accuracy", "compact"), MODES)
@pytest.mark.parametrize("e", [0.5, 0.9])
def test_kepler_one_orbit_and_a_fraction(e, high_accuracy, compact):
    ta = tj.taylor_adaptive(kepler(), kepler_ic(e), high_accuracy=high_accuracy, compact_mode=compact)
    # 1.37 orbits: away from the pericentre, where the position is well conditioned
    t = 1.37 * 2 * math.pi
    assert ta.propagate_until(t)[0] == TIME_LIMIT
    assert ta.time == t
    assert position_error(ta.state, e, t) < 1e-13
    # the pericentre of e = 0.9 amplifies the along-track error by v/(n r) = 44 (measured 1.3e-12)
    t = 2 * math.pi
    ta = tj.taylor_adaptive(kepler(), kepler_ic(e), high_accuracy=high_accuracy, compact_mode=compact)
    ta.propagate_until(t)
    assert position_error(ta.state, e, t) < (1e-13 if e == 0.5 else 5e-12)
    # backward from the pericentre
    ta = tj.taylor_adaptive(kepler(), kepler_ic(e), high_accuracy=high_accuracy, compact_mode=compact)
    t = -1.37 * 2 * math.pi
    assert ta.propagate_until(t)[0] == TIME_LIMIT
    assert position_error(ta.state, e, t) < 1e-13


@pytest.mark.parametrize(("high_accuracy", "compact"), MODES)
@pytest.mark.parametrize("e", [0.5, 0.9])
def test_kepler_after_100_orbits(e, high_accuracy, compact):
    ta = tj.taylor_adaptive(kepler(), kepler_ic(e), high_accuracy=high_accuracy, compact_mode=compact)
    T = 100 * 2 * math.pi
    outcome, _, _, nsteps, _ = ta.propagate_until(T)
    assert outcome == TIME_LIMIT and ta.time == T
    # The orbit's shape (a, e, argument of pericentre): conserved, errors ~ eps sqrt(N);
    # measured <= 7.4e-14 (a), 1e-14 (e), 1.7e-14 (omega) over the four modes.
    el = kepler_elements(ta.state)
    assert abs(el["a"] - 1.0) < 1e-12
    assert abs(el["e"] - e) / e < 1e-12
    assert abs(el["omega"]) < 1e-12
    # The position: after 100 orbits it is back at the pericentre, where the along-track (phase)
    # error is amplified by v_p / (n r_p) = sqrt((1+e)/(1-e)) / (1-e): 3.5 for e = 0.5, 44 for
    # e = 0.9. The phase drift is the integrated frequency error: dM ~ c eps n T sqrt(N) with
    # c measured at 0.5-5 here (heyoka alike). Measured position errors: e = 0.5: 1.1e-12 to
    # 2.1e-11; e = 0.9: 3.4e-10 to 2.5e-9 (heyoka.py 7.13 in the same conditions: 2.1e-14 to
    # 2.5e-11 and 9.2e-10 to 3.6e-9). Issue 4's 1e-12 is below this budget for any double
    # precision integrator, so the bound is the budget with c = 16.
    amplification = math.sqrt((1 + e) / (1 - e)) / (1 - e)
    phase_budget = 16 * EPS * T * math.sqrt(nsteps)
    dM = (kepler_elements(ta.state)["M"] - math.fmod(T, 2 * math.pi) + math.pi) % (2 * math.pi) - math.pi
    assert abs(dM) < phase_budget
    assert position_error(ta.state, e, T) < 1e-12 + amplification * phase_budget


# ---------------------------------------------------------------------------------------------
# Pendulum: energy drift, high accuracy, reversibility
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("high_accuracy", [True, False])
def test_pendulum_energy_drift_over_1e4_periods(high_accuracy):
    # heyoka's pendulum initial conditions (x0 = 0.05, v0 = 0.025)
    ic = [0.05, 0.025]
    period = pendulum_period(float(mp.acos(-pendulum_energy(ic) / G)))
    ta = tj.taylor_adaptive(pendulum(), ic, high_accuracy=high_accuracy)
    E0 = pendulum_energy(ta.state)
    outcome, _, _, nsteps, _ = ta.propagate_until(1e4 * period)
    assert outcome == TIME_LIMIT and nsteps > 9e4
    drift = float(abs((pendulum_energy(ta.state) - E0) / E0))
    # measured: 2.0e-17 with high accuracy, 3.3e-17 without (heyoka: 1.8e-17 and 1.5e-17).
    # At x0 = 1.3 (254 000 steps) both modes drift by 1e-14 to 1e-13 (taylorjit 7.3e-14 with,
    # 6.4e-15 without; heyoka 1.0e-13 with, 3.3e-14 without): the random walk's size, not a
    # systematic drift; high accuracy does not reduce it in double precision (see the next test
    # for what it does guarantee).
    assert drift < 1e-14


@pytest.mark.parametrize("compact", [False, True])
def test_high_accuracy_state_update_is_correctly_rounded(compact):
    # The step evaluates tc's polynomials at h: with compensated Horner the new state is the
    # exactly evaluated polynomial rounded once (<= 0.5 ulp + O(eps^2)); plain Horner loses
    # up to ~100 ulp where the value is small (measured: 133 ulp max, 2.6 rms over 2000 steps).
    worst = {}
    for high_accuracy in (False, True):
        ta = tj.taylor_adaptive(pendulum(), [1.3, 0.0], high_accuracy=high_accuracy, compact_mode=compact)
        errors = []
        with mp.workdps(40):
            for _ in range(300):
                assert ta.step()[0] == SUCCESS
                h = mp.mpf(ta.last_h)
                for row in range(2):
                    exact = mp.mpf(0)
                    for c in ta.tc[row, ::-1]:
                        exact = exact * h + mp.mpf(float(c))
                    errors.append(float(abs(mp.mpf(float(ta.state[row])) - exact))
                                  / np.spacing(abs(float(ta.state[row]))))
        worst[high_accuracy] = max(errors)
    assert worst[True] <= 0.5 + 1e-6
    assert worst[False] >= worst[True]
    assert worst[False] > 1.0  # plain Horner is not correctly rounded (measured 133 ulp)


def _ulps_from_exact(value, tc, dt) -> float:
    """Distance of ``value`` from the exactly evaluated polynomial ``tc`` at ``dt``, in ulps."""
    with mp.workdps(40):
        exact = mp.mpf(0)
        for c in tc[::-1]:
            exact = exact * mp.mpf(float(dt)) + mp.mpf(float(c))
        return float(abs(mp.mpf(float(value)) - exact)) / float(np.spacing(abs(float(exact))))


def test_high_accuracy_grid_is_correctly_rounded():
    ta = tj.taylor_adaptive(pendulum(), [1.3, 0.0], high_accuracy=True)
    ref = tj.taylor_adaptive(pendulum(), [1.3, 0.0], high_accuracy=True)
    grid = np.linspace(0.0, 20.0, 301)
    states = ta.propagate_grid(grid)[4]
    cout = ref.propagate_until(20.0, c_output=True)[4]  # the same steps: their coefficients
    worst = 0.0
    for g, row in zip(grid[1:-1], states[1:-1], strict=True):
        i = min(int(np.searchsorted(cout.times, g, side="right")) - 1, cout.n_steps - 1)
        # the step's double-length start time (private fields), as the native loop reads it
        dt = (g - float(cout._hi[i])) - float(cout._lo[i])
        worst = max(worst, *(_ulps_from_exact(row[r], cout.tcs[i, r], dt) for r in range(2)))
    assert worst <= 0.5 + 1e-6


def test_high_accuracy_dense_output_is_correctly_rounded():
    ta = tj.taylor_adaptive(pendulum(), [1.3, 0.0], high_accuracy=True)
    worst = 0.0
    for _ in range(300):
        ta.step()
        dt = 0.37 * ta.last_h
        d = ta.update_d_output(dt, rel_time=True)
        worst = max(worst, *(_ulps_from_exact(d[r], ta.tc[r], dt) for r in range(2)))
    assert worst <= 0.5 + 1e-6


@pytest.mark.parametrize(("high_accuracy", "compact"), MODES)
def test_pendulum_back_and_forth(high_accuracy, compact):  # heyoka back_and_forth.cpp
    ic = [0.05, 0.025]
    ta = tj.taylor_adaptive(pendulum(), ic, high_accuracy=high_accuracy, compact_mode=compact)
    assert ta.propagate_for(100.0)[0] == TIME_LIMIT
    assert ta.propagate_for(-100.0)[0] == TIME_LIMIT
    assert ta.time == 0.0
    # measured: <= 0.73 eps
    np.testing.assert_allclose(ta.state, ic, rtol=0, atol=1e4 * EPS)


def test_pendulum_back_and_forth_large_amplitude():
    ic = [1.3, 0.0]
    ta = tj.taylor_adaptive(pendulum(), ic)
    ta.propagate_for(100.0)
    ta.propagate_for(-100.0)
    np.testing.assert_allclose(ta.state, ic, rtol=0, atol=1e4 * EPS)  # measured 1515 eps


# ---------------------------------------------------------------------------------------------
# Two bodies: heyoka's two_body.cpp
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("high_accuracy", "compact"), MODES)
def test_two_body_invariants_every_step(high_accuracy, compact):
    ta = tj.taylor_adaptive(two_body(), two_body_ic(), high_accuracy=high_accuracy, compact_mode=compact)
    E0, L0 = two_body_invariants(ta.state)
    nL = mp.sqrt(sum(c * c for c in L0))
    for _ in range(200):
        outcome, h = ta.step()
        assert outcome == SUCCESS and h > 0
        E, L = two_body_invariants(ta.state)
        # measured: <= 13.5 eps (energy), <= 7.5 eps (angular momentum)
        assert abs((E - E0) / E0) <= 100 * EPS
        assert mp.sqrt(sum((a - b) ** 2 for a, b in zip(L, L0, strict=True))) / nL <= 100 * EPS
    # the centre of mass stays at rest at the origin
    s = ta.state
    np.testing.assert_allclose(s[0:3] + s[3:6], 0.0, atol=100 * EPS)
    np.testing.assert_allclose(s[6:9] + s[9:12], 0.0, atol=100 * EPS)


# ---------------------------------------------------------------------------------------------
# Closed-form solutions
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("compact", [False, True])
def test_exponential_growth_and_decay(compact):
    x = tj.make_vars("x")
    ta = tj.taylor_adaptive([(x, x)], [1.0], compact_mode=compact)
    ta.propagate_until(10.0)
    assert ta.state[0] == pytest.approx(math.exp(10.0), rel=1e-13)
    ta.propagate_until(-5.0)
    assert ta.state[0] == pytest.approx(math.exp(-5.0), rel=1e-13)


@pytest.mark.parametrize("compact", [False, True])
def test_blow_up_solution_before_the_singularity(compact):
    x = tj.make_vars("x")
    ta = tj.taylor_adaptive([(x, x * x)], [1.0], compact_mode=compact)
    ta.propagate_until(0.5)
    assert ta.state[0] == pytest.approx(2.0, rel=1e-14)
    ta.propagate_until(0.99)
    assert ta.state[0] == pytest.approx(100.0, rel=1e-12)


@pytest.mark.parametrize("compact", [False, True])
def test_time_dependent_rhs_integrates_to_sine(compact):
    x = tj.make_vars("x")
    t0 = 0.3
    ta = tj.taylor_adaptive([(x, tj.cos(tj.time))], [math.sin(t0)], time=t0, compact_mode=compact)
    out = ta.propagate_grid(np.linspace(t0, 100.0, 50))[4]
    np.testing.assert_allclose(out[:, 0], np.sin(np.linspace(t0, 100.0, 50)), rtol=0, atol=1e-13)
    assert ta.state[0] == pytest.approx(math.sin(100.0), abs=1e-13)


@pytest.mark.parametrize("compact", [False, True])
def test_harmonic_oscillator_with_a_runtime_frequency(compact):
    x, v = tj.make_vars("x", "v")
    ta = tj.taylor_adaptive([(x, v), (v, -tj.par[0] * x)], [1.0, 0.0], pars=[4.0], compact_mode=compact)
    ta.propagate_until(10.0)
    np.testing.assert_allclose(ta.state, [math.cos(20.0), -2 * math.sin(20.0)], rtol=0, atol=1e-13)


# ---------------------------------------------------------------------------------------------
# Side by side with heyoka.py
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hy():
    return pytest.importorskip("heyoka")


@pytest.mark.parametrize(("high_accuracy", "compact"), MODES)
def test_pendulum_equals_heyoka(hy, high_accuracy, compact):
    ic = [1.3, 0.0]
    kw = {"high_accuracy": high_accuracy, "compact_mode": compact}
    ta = tj.taylor_adaptive(pendulum(), ic, **kw)
    hta = hy.taylor_adaptive(pendulum(hy), ic, **kw)
    assert ta.order == hta.order
    for t in (1.0, 10.0, 100.0):
        r = ta.propagate_until(t)
        rh = hta.propagate_until(t)
        assert r[3] == rh[3], "the number of steps"
        # measured: <= 9.5e-14 at t = 100 (at t = 1000: 7e-12, the phase drift of two
        # different roundings)
        assert norm_rel(ta.state, hta.state) < 1e-12, t
        assert r[1] == pytest.approx(rh[1], rel=1e-12) and r[2] == pytest.approx(rh[2], rel=1e-12)


@pytest.mark.parametrize(("high_accuracy", "compact"), MODES)
@pytest.mark.parametrize("e", [0.5, 0.9])
def test_kepler_equals_heyoka(hy, e, high_accuracy, compact):
    kw = {"high_accuracy": high_accuracy, "compact_mode": compact}
    ta = tj.taylor_adaptive(kepler(), kepler_ic(e), **kw)
    hta = hy.taylor_adaptive(kepler(hy), kepler_ic(e), **kw)
    T = 2 * math.pi
    r, rh = ta.propagate_until(T), hta.propagate_until(T)
    assert r[3] == rh[3]
    assert norm_rel(ta.state, hta.state) < 1e-12  # measured <= 1.3e-13 after one orbit
    # 100 orbits: the same number of steps; the states differ by the phase drift of each
    # (see test_kepler_after_100_orbits), both within the same budget of the closed form
    r, rh = ta.propagate_until(100 * T), hta.propagate_until(100 * T)
    assert r[3] == rh[3]
    amplification = math.sqrt((1 + e) / (1 - e)) / (1 - e)
    budget = 2 * amplification * 16 * EPS * 100 * T * math.sqrt(r[3])
    assert norm_rel(ta.state, hta.state) < budget


@pytest.mark.parametrize("compact", [False, True])
def test_first_step_equals_heyoka(hy, compact):
    # the jet and the step size, before any rounding has accumulated
    for sys, ic in ((pendulum, [1.3, 0.2]), (kepler, kepler_ic(0.7))):
        ta = tj.taylor_adaptive(sys(), ic, compact_mode=compact)
        hta = hy.taylor_adaptive(sys(hy), ic, compact_mode=compact)
        (o, h), (oh, hh) = ta.step(), hta.step(write_tc=True)
        assert o == SUCCESS and int(oh) == int(SUCCESS)
        assert_jets_close(ta.tc, hta.tc, rtol=16 * EPS, what=f"{sys.__name__} tc")
        assert abs(h - hh) <= 8 * np.spacing(hh)
        assert ulp_distance(ta.state, hta.state).max() <= 8


def test_outcome_values_equal_heyoka(hy):
    for name in ("success", "step_limit", "time_limit", "err_nf_state", "cb_stop"):
        assert int(getattr(tj.taylor_outcome, name)) == int(getattr(hy.taylor_outcome, name))


def _exponential(m):
    x = m.make_vars("x")
    return [(x, x)]


def _lorenz(m):
    x, y, z = m.make_vars("x", "y", "z")
    return [(x, 10.0 * (y - x)), (y, x * (28.0 - z) - y), (z, x * y - 8.0 / 3.0 * z)]


@pytest.mark.parametrize("tol", [0.5, 1e-3, 1e-10, 1e-20])
def test_order_and_steps_equal_heyoka_at_any_tolerance(hy, tol):
    ta = tj.taylor_adaptive(pendulum(), [1.3, 0.0], tol=tol)
    hta = hy.taylor_adaptive(pendulum(hy), [1.3, 0.0], tol=tol)
    assert ta.order == hta.order
    r, rh = ta.propagate_until(10.0), hta.propagate_until(10.0)
    assert r[3] == rh[3]
    assert norm_rel(ta.state, hta.state) < 1e-13  # measured <= 1.1e-14


@pytest.mark.parametrize(("make_sys", "ic", "t"), [
    (_exponential, [1e6], 5.0),     # relative error control (|x| > 1)
    (_exponential, [1e-6], 5.0),    # absolute error control
    (_exponential, [1.0], -30.0),   # backward, crossing from relative to absolute
    (_lorenz, [0.0, 1.0, 1.05], 10.0),  # chaotic, but only 10 time units
], ids=["exp-relative", "exp-absolute", "exp-backward", "lorenz"])
def test_step_control_equals_heyoka(hy, make_sys, ic, t):
    ta = tj.taylor_adaptive(make_sys(tj), ic)
    hta = hy.taylor_adaptive(make_sys(hy), ic)
    r, rh = ta.propagate_until(t), hta.propagate_until(t)
    assert r[3] == rh[3]
    assert r[1] == pytest.approx(rh[1], rel=1e-13) and r[2] == pytest.approx(rh[2], rel=1e-13)
    assert norm_rel(ta.state, hta.state) < 1e-12  # measured <= 6.9e-15
