"""Fusion of linear chains (``taylorjit._taylor.fusion``): ``lincomb`` and ``sum_sq`` nodes.

The fused right-hand sides must have the same value as the user's (evaluated with the table's
numpy references), the decomposition must shrink where chains exist and keep shared nodes whole,
and the jets of fused and unfused decompositions must agree to rounding in both emitters (the
fused recurrences are also checked against mpmath by ``test_jets.py``, whose random systems now
go through fusion).
"""

from __future__ import annotations

import functools
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from integrator_helpers import EPS, assert_jets_close, mp_jet
from strategies import trees

import taylorjit as tj
import taylorjit._taylor.integrator as integrator_module
from taylorjit._expr import Call, Num, Par, Var, postorder
from taylorjit._primitives.fused import LINCOMB, SUM_SQ
from taylorjit._taylor.compact import loops_all_lincombs
from taylorjit._taylor.decompose import decompose
from taylorjit._taylor.fusion import fuse

x, y, z = tj.make_vars("x", "y", "z")


def evaluate(expr, env: dict[str, float], pars=()) -> float:
    """The value of ``expr`` from the primitives' numpy references (no compiled code)."""
    values: dict[int, float] = {}
    for node in postorder([expr]):
        if isinstance(node, Var):
            values[id(node)] = env[node.name]
        elif isinstance(node, Par):
            values[id(node)] = pars[node.index]
        elif isinstance(node, Num):
            values[id(node)] = float(node.value)
        else:
            values[id(node)] = float(node.prim.numpy_eval(*(values[id(a)] for a in node.args)))
    return values[id(expr)]


def names(exprs) -> Counter:
    return Counter(n.name for n in postorder(list(exprs)) if isinstance(n, Call))


# --- the rewrite ------------------------------------------------------------------------------
def test_nbody_accelerations_become_lincombs_and_distances_sum_sq():
    sys = tj.model.nbody(6, masses=[1.5, 1e-3, 3e-4, 4e-5, 5e-5, 1e-8])
    fused = decompose(sys)
    plain = decompose(sys, fuse_linear=False)
    assert len(plain.calls) == 312
    assert len(fused.calls) == 153  # 45 sub, 15 sum_sq, 15 pow, 60 mul, 18 lincomb
    kinds = Counter(c.name for c in fused.calls)
    assert kinds["sum_sq"] == 15 and kinds["lincomb"] == 18
    assert "add" not in kinds and "square" not in kinds
    # every velocity's right-hand side is one lincomb of 5 terms (one per other body)
    for v, f in zip(fused.state, fused.rhs, strict=True):
        if v.name.startswith("v"):
            assert f.name == "lincomb" and len(f.args) == 10


def test_lone_operations_are_left_alone():
    assert fuse([x + y, x - y, -x, 2.0 * x, x * y]) == [x + y, x - y, -x, 2.0 * x, x * y]


def test_a_chain_fuses_with_multiplied_coefficients():
    (f,) = fuse([2 * (x - 3 * y) + 0.5 * z])
    assert f.prim is LINCOMB
    pairs = list(zip(f.args[0::2], f.args[1::2], strict=True))
    assert pairs == [(Num(2), x), (Num(-6), y), (Num(0.5), z)]


def test_squares_fuse_into_sum_sq():
    (f,) = fuse([tj.square(x) + tj.square(y) + tj.square(z)])
    assert f.prim is SUM_SQ and f.args == (x, y, z)
    (g,) = fuse([tj.square(x) + tj.square(y) - z])
    assert g.prim is LINCOMB
    assert g.args[:2] == (Num(1), Call(SUM_SQ, (x, y)))


def test_shared_linear_nodes_stay_whole():
    s = x + y  # read by two nodes: a term of each, not expanded into either
    f, g = fuse([s * 2 + z, tj.sin(s)])
    assert s in f.args and g.args == (s,)
    # a square read elsewhere stays a square
    q = tj.square(x)
    h, _ = fuse([q + tj.square(y) + z, tj.cos(q)])
    assert SUM_SQ not in {getattr(n, "prim", None) for n in postorder([h])}


def test_cancellation_and_constants():
    assert fuse([(x + y) - x]) == [y]  # exact cancellation drops the term
    assert fuse([(x + 1) - (x - 2)]) == [Num(3)]
    (f,) = fuse([(x + 1.5) + (y + 2)])
    assert evaluate(f, {"x": 0.25, "y": -1.0}) == 0.25 + 1.5 - 1.0 + 2
    # a float zero coefficient is kept (0.0 * inf is nan, as the user wrote it)
    (g,) = fuse([(x + y) + 0.0 * z])
    assert z in g.args


def test_fused_nodes_print_and_differentiate():
    (f,) = fuse([2 * (x - y) + tj.square(x) + tj.square(z)])
    text = str(f)
    assert "sum_sq(x, z)" in text and "2*x" in text
    assert "lincomb(" in str(decompose([(x, f), (y, x), (z, y)]))
    node = Call(LINCOMB, (Num(2), x, Num(-1.5), y))
    assert LINCOMB.derivative(node.args, node) == (x, Num(2), y, Num(-1.5))
    assert LINCOMB.numpy_eval(2, 0.25, -1.5, 4.0) == 2 * 0.25 - 1.5 * 4.0
    node = Call(SUM_SQ, (x, y))
    partials = SUM_SQ.derivative(node.args, node)
    assert [evaluate(d, {"x": 0.5, "y": -3.0}) for d in partials] == [1.0, -6.0]
    assert SUM_SQ.numpy_eval(0.5, -3.0) == 9.25


LINEAR_BINARY = [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: 0.75 * a - 2 * b,
    lambda a, b: a * b, lambda a, b: tj.square(a) + tj.square(b),
]
LINEAR_UNARY = [lambda a: -a, lambda a: 3 * a, lambda a: a / 4, tj.sin, tj.square]
LEAVES = st.sampled_from([x, y, z, tj.par[0], Num(0.5), Num(2)])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exprs=st.lists(trees(LEAVES, LINEAR_UNARY, LINEAR_BINARY, max_leaves=12), min_size=1, max_size=3),
       point=st.tuples(*[st.floats(-2.0, 2.0)] * 4))
def test_fused_expressions_have_the_same_values(exprs, point):
    env = {"x": point[0], "y": point[1], "z": point[2]}
    fused = fuse(exprs)
    for before, after in zip(exprs, fused, strict=True):
        want = evaluate(before, env, [point[3]])
        got = evaluate(after, env, [point[3]])
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12 * (1 + abs(want)))
    # fusion never adds operations
    assert sum(names(fused).values()) <= sum(names(exprs).values())


# --- jets: fused against unfused, both emitters -------------------------------------------------
@pytest.fixture
def unfused(monkeypatch):
    """Integrators built while this fixture is active decompose without fusion."""
    monkeypatch.setattr(integrator_module, "decompose", functools.partial(decompose, fuse_linear=False))


def jets(sys, state, compact, pars=None):
    ta = tj.taylor_adaptive(sys, state, tol=1e-10, compact_mode=compact, pars=pars)
    return ta.compute_jet().copy(), ta


@pytest.mark.parametrize("compact", [False, True])
def test_nbody_jets_fused_equal_unfused(compact, request):
    sys = tj.model.nbody(4, masses=[1.0, 0.1, 0.01, 0.001])
    rng = np.random.default_rng(3)
    state = np.concatenate([np.concatenate([rng.uniform(-2, 2, 3), rng.uniform(-0.5, 0.5, 3)])
                            for _ in range(4)])
    fused_jet, ta = jets(sys, state, compact)
    assert any(c.name == "lincomb" for c in ta.decomposition.calls)
    request.getfixturevalue("unfused")
    plain_jet, ta_plain = jets(sys, state, compact)
    assert not any(c.name in ("lincomb", "sum_sq") for c in ta_plain.decomposition.calls)
    assert_jets_close(fused_jet, plain_jet, rtol=64 * EPS, what="fused vs unfused")
    assert_jets_close(fused_jet, mp_jet(sys, state, fused_jet.shape[1] - 1), rtol=1e-12, what="vs mpmath")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fx=trees(LEAVES, LINEAR_UNARY, LINEAR_BINARY, max_leaves=8),
       fy=trees(LEAVES, LINEAR_UNARY, LINEAR_BINARY, max_leaves=8),
       x0=st.floats(-1.0, 1.0), y0=st.floats(-1.0, 1.0), z0=st.floats(-1.0, 1.0))
def test_random_linear_systems_jets_match_mpmath(fx, fy, x0, y0, z0):
    # z' reads the parameter: the integrator needs it whether or not fx and fy do
    sys = [(x, fx), (y, fy), (z, tj.sin(z) + 0.5 * x - y * tj.par[0])]
    for compact in (False, True):
        got, _ = jets(sys, [x0, y0, z0], compact, pars=[0.3])
        ref = mp_jet(sys, [x0, y0, z0], got.shape[1] - 1, [0.3])
        assert_jets_close(got, ref, rtol=1e-10, what=f"compact={compact}", floor=1e-20)


def test_term_loop_kernel_for_combinations_of_many_lengths():
    # lengths 3 to 16, terms of every kind: calls, variables, time, a parameter, numbers; large
    # enough (binary operations) for compact mode to loop over the terms
    n = 25
    xs = tj.make_vars(*[f"x{i}" for i in range(n)])
    sys = [(xs[i], sum((0.5 + j + 0.1 * i) * tj.sin(xs[(i + j) % n]) for j in range(i % 13 + 1))
            - 2.0 * xs[i] + 3 * tj.time + tj.par[0] + 1.5)
           for i in range(n)]
    state = [0.1 * (i - 12) for i in range(n)]
    unrolled, _ = jets(sys, state, False, pars=[0.25])
    compact, ta = jets(sys, state, True, pars=[0.25])
    assert loops_all_lincombs(ta.decomposition)
    assert max(len(c.args) // 2 for c in ta.decomposition.calls if c.prim is LINCOMB) >= 16
    assert_jets_close(compact, unrolled, rtol=64 * EPS, what="term loop vs straight-line")
    assert_jets_close(compact, mp_jet(sys, state, compact.shape[1] - 1, [0.25]), rtol=1e-12,
                      what="vs mpmath")
