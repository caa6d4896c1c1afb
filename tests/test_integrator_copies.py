"""Copies and pickles of ``tj.taylor_adaptive``: independent integrators that continue exactly
as the original would (heyoka.py's ``copy``, ``deepcopy`` and pickle)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import taylorjit as tj

x, v = tj.make_vars("x", "v")
PENDULUM = [(x, v), (v, -9.8 * tj.sin(x) - tj.par[0] * v)]

CROSSINGS: list[float] = []


def record_crossing(ta, t, d_sgn):  # (module level: picklable)
    CROSSINGS.append(t)


def stop_at_turning_point(ta, d_sgn):
    return False


COPIES = {"copy": copy.copy, "deepcopy": copy.deepcopy,
          "pickle": lambda ta: pickle.loads(pickle.dumps(ta))}


@pytest.mark.parametrize("how", sorted(COPIES))
@pytest.mark.parametrize(("high_accuracy", "compact"), [(False, False), (True, True)])
def test_a_copy_continues_as_the_original_and_independently(how, high_accuracy, compact):
    ta = tj.taylor_adaptive(PENDULUM, [1.3, 0.0], pars=[0.05], high_accuracy=high_accuracy,
                            compact_mode=compact)
    ta.propagate_for(0.7)
    twin = COPIES[how](ta)
    assert twin is not ta and twin.time == ta.time and np.array_equal(twin.state, ta.state)
    assert np.array_equal(twin.pars, ta.pars) and twin.order == ta.order
    twin.pars[0] = 0.0  # nothing is shared
    twin.state[1] += 1.0
    assert ta.pars[0] == 0.05 and ta.state[1] != twin.state[1]
    twin.pars[0], twin.state[1] = ta.pars[0], ta.state[1]
    a, b = ta.propagate_for(3.0), twin.propagate_for(3.0)
    assert a[0] == b[0] and a[3] == b[3]
    np.testing.assert_array_equal(twin.state, ta.state)
    np.testing.assert_array_equal(twin.tc, ta.tc)
    assert twin.time == ta.time


@pytest.mark.parametrize("how", sorted(COPIES))
def test_copies_keep_their_events(how):
    CROSSINGS.clear()
    ta = tj.taylor_adaptive(PENDULUM, [1.3, 0.0], pars=[0.0],
                            t_events=[tj.t_event(v, callback=stop_at_turning_point)],
                            nt_events=[tj.nt_event(x, record_crossing)])
    ta.propagate_until(0.2)
    twin = COPIES[how](ta)
    first = ta.propagate_until(10.0)
    crossings = list(CROSSINGS)
    CROSSINGS.clear()
    second = twin.propagate_until(10.0)
    assert first[0] == second[0] == tj.taylor_outcome(-1)  # the terminal event stopped both
    assert CROSSINGS == crossings and len(crossings) == 1
    assert twin.time == ta.time


def test_copies_of_variational_integrators_keep_their_maps():
    vsys = tj.var_ode_sys([(x, v), (v, -9.8 * tj.sin(x))], tj.var_args.vars, order=2)
    ta = tj.taylor_adaptive(vsys, [1.0, 0.0])
    ta.propagate_until(1.0)
    twin = copy.deepcopy(ta)
    point = [1e-3, -2e-3]
    np.testing.assert_array_equal(twin.eval_taylor_map(point), ta.eval_taylor_map(point))
    twin.propagate_until(2.0)
    assert ta.time == 1.0 and twin.time == 2.0
