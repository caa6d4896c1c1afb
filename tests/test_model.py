"""tj.model: closed forms (numpy), first integrals along the flow, sharing, input checks, and
agreement with heyoka.model (variable names, order and values) when heyoka is installed."""

from __future__ import annotations

import re

import numpy as np
import pytest

import taylorjit as tj
from taylorjit import model
from taylorjit._expr import Call, postorder

RNG = np.random.default_rng(20261124)
NUMBER = r"-?\d+(\.\d+)?"
NPOINTS = 32


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
def evaluate(fns, names, inputs, pars=()):
    """Our compiled values of ``fns`` at ``inputs`` (one row per name in ``names``)."""
    cf = tj.cfunc(list(fns), vars=[tj.var(n) for n in names])
    return cf(inputs, pars=np.asarray(pars, dtype=float)[: cf.npars] if cf.npars else None)


def assert_close(ours, ref, rtol=1e-13):
    """``|ours - ref| <= rtol * max|ref|``, per output over the sample of points.

    Relative to each output's magnitude over the sample rather than pointwise, so that a
    point where a sum of forces nearly cancels does not fail on rounding.
    """
    ours, ref = np.atleast_2d(ours), np.atleast_2d(ref)
    scale = np.max(np.abs(ref), axis=-1, keepdims=True)
    err = np.abs(ours - ref)
    assert np.all(err <= rtol * scale), f"max error {np.max(err / np.where(scale, scale, 1))} (relative)"


def names_of(system):
    return [v.name for v, _ in system]


def random_state(nvars, scale=2.0):
    return RNG.uniform(-scale, scale, (nvars, NPOINTS))


def calls(exprs):
    return [n for n in postorder(list(exprs)) if isinstance(n, Call)]


def state_names(bodies):
    return [f"{c}_{i}" for i in bodies for c in ("x", "y", "z", "vx", "vy", "vz")]


# numpy references --------------------------------------------------------------------------
def np_gravity(r, G, masses):
    """Accelerations (nbodies, 3, N) of bodies at r (nbodies, 3, N); a mass None is massless."""
    a = np.zeros_like(r)
    for i in range(len(r)):
        for j in range(len(r)):
            if i != j and masses[j] is not None:
                d = r[j] - r[i]
                a[i] += G * masses[j] * d / np.sum(d * d, axis=0) ** 1.5
    return a


def split_bodies(state):
    """(nbodies, 3, N) positions and velocities from a (6 n, N) state laid out body by body."""
    s = state.reshape(-1, 6, state.shape[-1])
    return s[:, :3], s[:, 3:]


def join_bodies(v, a):
    return np.concatenate([v, a], axis=1).reshape(-1, v.shape[-1])


def np_potential(r, G, masses):
    total = 0.0
    for i in range(len(masses)):
        for j in range(i + 1, len(masses)):
            total = total - G * masses[i] * masses[j] / np.sqrt(np.sum((r[j] - r[i]) ** 2, axis=0))
    return total


def np_kinetic(v, masses):
    return sum(0.5 * m * np.sum(v[i] ** 2, axis=0) for i, m in enumerate(masses))


def padded(masses, n):
    return [1.0] * n if masses is None else [*masses, *[None] * (n - len(masses))]


# ---------------------------------------------------------------------------------------------
# Closed forms, without heyoka
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("g", "length"), [(1.0, 1.0), (9.81, 0.5), (tj.par[0], tj.par[1])])
def test_pendulum_is_the_pendulum(g, length):
    pars = np.array([3.2, 1.7])
    gv, lv = (pars if isinstance(g, tj.Expr) else (g, length))
    sys = model.pendulum(g, length)
    assert names_of(sys) == ["x", "v"]
    x = random_state(2)
    assert_close(evaluate([f for _, f in sys], ["x", "v"], x, pars), [x[1], -gv / lv * np.sin(x[0])])
    energy = evaluate([model.pendulum_energy(g, length)], ["x", "v"], x, pars)
    assert_close(energy, 0.5 * lv**2 * x[1] ** 2 + gv * lv * (1 - np.cos(x[0])))


NBODY_CASES = [
    (3, 1.0, None),
    (3, 0.7, [1.0, 2.0, 3.0]),
    (5, 1.3, [1.0, 0.5, 0.25]),  # two massless particles
    (4, 1.0, [1.0, 0.0, 2.0, 1.0]),  # a zero mass
    (2, 1.0, []),  # all massless: no forces
    (3, tj.par[0], [tj.par[1], 2.0, tj.par[2]]),
]
PARS = np.array([0.9, 1.1, 0.6, 0.3])


def numeric(G, masses):
    """The numbers behind G and masses (parameters take their PARS values)."""
    def value(e):
        return PARS[e.index] if isinstance(e, tj.Expr) else e

    return value(G), None if masses is None else [value(m) for m in masses]


@pytest.mark.parametrize(("n", "G", "masses"), NBODY_CASES)
def test_nbody_against_numpy(n, G, masses):
    sys = model.nbody(n, G, masses)
    assert names_of(sys) == state_names(range(n))
    state = random_state(6 * n)
    Gv, mv = numeric(G, masses)
    r, v = split_bodies(state)
    expected = join_bodies(v, np_gravity(r, Gv, padded(mv, n)))
    assert_close(evaluate([f for _, f in sys], names_of(sys), state, PARS), expected)

    mv = [1.0] * n if mv is None else mv
    potential = np_potential(r, Gv, mv)
    names = state_names(range(n))
    assert_close(evaluate([model.nbody_potential(n, G, masses)], names, state, PARS), potential)
    assert_close(evaluate([model.nbody_energy(n, G, masses)], names, state, PARS),
                 np_kinetic(v, mv) + potential)


@pytest.mark.parametrize(("n", "G", "masses"), NBODY_CASES)
def test_np1body_against_numpy(n, G, masses):
    sys = model.np1body(n, G, masses)
    assert names_of(sys) == state_names(range(1, n))
    state = random_state(6 * (n - 1))
    Gv, mv = numeric(G, masses)
    r, v = split_bodies(state)
    r = np.concatenate([np.zeros_like(r[:1]), r])  # body 0 at the origin
    a = np_gravity(r, Gv, padded(mv, n))
    expected = join_bodies(v, a[1:] - a[:1])  # heliocentric: less body 0's acceleration
    assert_close(evaluate([f for _, f in sys], names_of(sys), state, PARS), expected)

    # Energy in the barycentric frame: body 0's velocity is -sum m_i v_i / M.
    mv = [1.0] * n if mv is None else mv
    names = state_names(range(1, n))
    v = np.concatenate([np.zeros_like(v[:1]), v])[: len(mv)]
    if mv:
        u0 = -sum(m * v[i] for i, m in enumerate(mv) if i) / sum(mv)
        v = v + u0
    potential = np_potential(r, Gv, mv)
    assert_close(evaluate([model.np1body_potential(n, G, masses)], names, state, PARS), potential)
    assert_close(evaluate([model.np1body_energy(n, G, masses)], names, state, PARS),
                 np_kinetic(v, mv) + potential)


@pytest.mark.parametrize("mu", [0.01215, 1e-3, tj.par[0]])
def test_cr3bp_against_numpy(mu):
    pars = np.array([0.2])
    m = pars[0] if isinstance(mu, tj.Expr) else mu
    sys = model.cr3bp(mu)
    assert names_of(sys) == ["x", "y", "z", "px", "py", "pz"]
    s = random_state(6)
    x, y, z, px, py, pz = s
    r1 = np.sqrt((x - m) ** 2 + y**2 + z**2)  # to the primary (1 - mu) at (mu, 0, 0)
    r2 = np.sqrt((x - m + 1) ** 2 + y**2 + z**2)  # to the secondary (mu) at (mu - 1, 0, 0)
    g1, g2 = (1 - m) / r1**3, m / r2**3
    expected = [px + y, py - x, pz, py - g1 * (x - m) - g2 * (x - m + 1), -px - (g1 + g2) * y, -(g1 + g2) * z]
    assert_close(evaluate([f for _, f in sys], names_of(sys), s, pars), expected)
    jacobi = 0.5 * (px**2 + py**2 + pz**2) + y * px - x * py - (1 - m) / r1 - m / r2
    assert_close(evaluate([model.cr3bp_jacobi(mu)], names_of(sys), s, pars), jacobi)


def test_fixed_centres_against_numpy():
    masses, positions = [1.0, 2.5, tj.par[0]], [[1.0, 0, 0], [0, -1, 0.5], [tj.par[1], 2, 0]]
    pars = np.array([0.7, -1.5])
    sys = model.fixed_centres(1.3, masses, positions)
    assert names_of(sys) == ["x", "y", "z", "vx", "vy", "vz"]
    s = random_state(6)
    centres = np.array([[1.0, 0, 0], [0, -1, 0.5], [-1.5, 2, 0]])[:, :, None] * np.ones(NPOINTS)
    mv = [1.0, 2.5, 0.7]
    a = np_gravity(np.concatenate([s[None, :3], centres]), 1.3, [None, *mv])[0]
    assert_close(evaluate([f for _, f in sys], names_of(sys), s, pars), np.concatenate([s[3:], a]))
    potential = -1.3 * sum(m / np.linalg.norm(c - s[:3], axis=0) for m, c in zip(mv, centres, strict=True))
    names = names_of(sys)
    assert_close(evaluate([model.fixed_centres_potential(1.3, masses, positions)], names, s, pars), potential)
    assert_close(evaluate([model.fixed_centres_energy(1.3, masses, positions)], names, s, pars),
                 0.5 * np.sum(s[3:] ** 2, axis=0) + potential)


@pytest.mark.parametrize("omega", [[0.0, 0.0, 1.0], [0.1, -0.2, 0.3], [tj.par[0], tj.par[1], tj.par[2]], []])
def test_rotating_against_numpy(omega):
    pars = np.array([0.4, 0.1, -0.8])
    w = pars if omega and isinstance(omega[0], tj.Expr) else np.array(omega or [0.0, 0.0, 0.0], dtype=float)
    sys = model.rotating(omega)
    assert names_of(sys) == ["x", "y", "z", "vx", "vy", "vz"]
    s = random_state(6)
    r, v = s[:3].T, s[3:].T
    acc = -np.cross(w, np.cross(w, r)) - 2 * np.cross(w, v)
    assert_close(evaluate([f for _, f in sys], names_of(sys), s, pars), np.concatenate([s[3:], acc.T]))
    potential = -0.5 * np.sum(np.cross(w, r) ** 2, axis=1)
    names = names_of(sys)
    assert_close(evaluate([model.rotating_potential(omega)], names, s, pars), potential)
    assert_close(evaluate([model.rotating_energy(omega)], names, s, pars),
                 0.5 * np.sum(v**2, axis=1) + potential)


# ---------------------------------------------------------------------------------------------
# First integrals: dE/dt = sum_k dE/du_k f_k = 0 along the flow
# ---------------------------------------------------------------------------------------------
INTEGRALS = [
    ("pendulum", lambda: (model.pendulum(1.3, 0.7), model.pendulum_energy(1.3, 0.7))),
    ("nbody", lambda: (model.nbody(3, 0.9, [1.0, 2.0, 3.0]), model.nbody_energy(3, 0.9, [1.0, 2.0, 3.0]))),
    ("nbody-massless", lambda: (model.nbody(4, 1.0, [1.0, 2.0]), model.nbody_energy(4, 1.0, [1.0, 2.0]))),
    ("nbody-pars", lambda: (model.nbody(3, tj.par[0], [tj.par[1], tj.par[2], 1.0]),
                            model.nbody_energy(3, tj.par[0], [tj.par[1], tj.par[2], 1.0]))),
    ("np1body", lambda: (model.np1body(4, 1.0, [1.0, 0.1, 0.2, 0.3]),
                         model.np1body_energy(4, 1.0, [1.0, 0.1, 0.2, 0.3]))),
    ("np1body-massless", lambda: (model.np1body(4, 2.0, [1.0, 0.1]),
                                  model.np1body_energy(4, 2.0, [1.0, 0.1]))),
    ("cr3bp", lambda: (model.cr3bp(0.1), model.cr3bp_jacobi(0.1))),
    ("fixed_centres", lambda: (model.fixed_centres(1.0, [1.0, 2.0], [[1, 0, 0], [0, 1, 0.5]]),
                               model.fixed_centres_energy(1.0, [1.0, 2.0], [[1, 0, 0], [0, 1, 0.5]]))),
    ("rotating", lambda: (model.rotating([0.1, 0.2, 0.3]), model.rotating_energy([0.1, 0.2, 0.3]))),
]


@pytest.mark.parametrize("build", [b for _, b in INTEGRALS], ids=[n for n, _ in INTEGRALS])
def test_energy_is_a_first_integral(build):
    sys, energy = build()
    terms = [tj.diff(energy, v) * f for v, f in sys]
    dedt = terms[0]
    for t in terms[1:]:
        dedt = dedt + t
    values = evaluate([dedt, *terms], names_of(sys), random_state(len(sys)), PARS)
    scale = np.sum(np.abs(values[1:]), axis=0)
    assert np.all(np.abs(values[0]) <= 1e-13 * scale)


# ---------------------------------------------------------------------------------------------
# Sharing: the decomposition stays small
# ---------------------------------------------------------------------------------------------
def test_nbody_shares_each_pair():
    for n in (3, 5):
        rhs = [f for _, f in model.nbody(n)]
        # One |r_j - r_i|**-3 per pair, and with equal masses one node per pair's pull.
        assert sum(c.name == "pow" for c in calls(rhs)) == n * (n - 1) // 2
        assert sum(c.name == "mul" for c in calls(rhs)) == 3 * n * (n - 1) // 2
    # heyoka.model.nbody(3) decomposes into 36 operations with n-ary sums, 48 as binary ones.
    assert len(calls([f for _, f in model.nbody(3)])) == 45
    assert len(calls([f for _, f in model.np1body(3)])) == 48
    two = [f for _, f in model.nbody(2)]
    assert two[9].args[0] is two[3]  # vx_1' = -vx_0': the same node, negated


def test_np1body_shares_pairs_and_the_frame():
    rhs = [f for _, f in model.np1body(5, masses=[1.0, 0.1, 0.2, 0.3, 0.4])]
    assert sum(c.name == "pow" for c in calls(rhs)) == 4 + 6  # one per body, one per pair
    # heyoka.model.np1body: 155 operations with n-ary sums, 240 as binary ones.
    assert len(calls(rhs)) == 205


def test_compact_forms():
    assert str(model.pendulum()) == "[(x, v), (v, -sin(x))]"
    assert len(calls([f for _, f in model.rotating([tj.par[0], tj.par[1], tj.par[2]])])) == 24
    assert len(calls([f for _, f in model.rotating([0.0, 0.0, 1.0])])) == 4
    assert len(calls([f for _, f in model.cr3bp()])) == 25
    assert [f for _, f in model.rotating()][3:] == [f for _, f in model.nbody(2, masses=[])][3:6]


def test_energy_shares_the_distances_of_the_equations():
    sys, energy = model.nbody(4), model.nbody_energy(4)
    eqs = set(calls([f for _, f in sys]))
    sqrt_args = [c.args[0] for c in calls([energy]) if c.name == "sqrt"]
    assert len(sqrt_args) == 6 and all(a in eqs for a in sqrt_args)


# ---------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------
BAD_INPUTS = [
    (lambda: model.nbody(1), ValueError, "N == 1: at least 2 bodies"),
    (lambda: model.nbody(-3), ValueError, "at least 2 bodies"),
    (lambda: model.nbody(2.0), TypeError, "must be an integer"),
    (lambda: model.nbody(True), TypeError, "must be an integer"),
    (lambda: model.nbody(2, masses=[1.0, 2.0, 3.0]), ValueError,
     r"particles with mass \(3\) cannot be greater"),
    (lambda: model.nbody_energy(0), ValueError, "at least 2 bodies"),
    (lambda: model.nbody_potential(3, masses=[1, 2, 3, 4]), ValueError, "cannot be greater"),
    (lambda: model.np1body(1), ValueError, "at least 2 bodies"),
    (lambda: model.np1body_energy(2, masses=[1, 2, 3]), ValueError, "cannot be greater"),
    (lambda: model.np1body_potential(2, masses="ab"), TypeError, "masses must be a list"),
    (lambda: model.nbody(2, Gconst=None), TypeError, "Gconst must be an expression"),
    (lambda: model.nbody(2, masses=[1.0, 1j]), TypeError, r"masses\[1\] must be an expression"),
    (lambda: model.cr3bp(0.0), ValueError, r"range \(0, 0.5\), but a value of 0.0"),
    (lambda: model.cr3bp(mu=0.5), ValueError, r"range \(0, 0.5\)"),
    (lambda: model.cr3bp(-1), ValueError, r"range \(0, 0.5\)"),
    (lambda: model.cr3bp(float("nan")), ValueError, r"range \(0, 0.5\)"),
    (lambda: model.cr3bp_jacobi(float("inf")), ValueError, r"range \(0, 0.5\)"),
    (lambda: model.cr3bp([0.1]), TypeError, "mu must be an expression"),
    (lambda: model.fixed_centres(masses=[1.0], positions=[[1, 0, 0], [0, 1, 0]]), ValueError,
     r"number of masses \(1\) differs from the number of position vectors \(2\)"),
    (lambda: model.fixed_centres(masses=[1.0]), ValueError,
     r"differs from the number of position vectors \(0\)"),
    (lambda: model.fixed_centres(masses=[1.0], positions=[1, 0, 0]), ValueError, "dimensions must be 2"),
    (lambda: model.fixed_centres_energy(masses=[1.0], positions=[[1, 0]]), ValueError, "columns must be 3"),
    (lambda: model.fixed_centres_potential(masses=[1.0], positions=[[1, 0, None]]), TypeError,
     r"positions\[0\]\[2\] must be"),
    (lambda: model.rotating([1.0, 2.0]), ValueError,
     "must be a 3-dimensional vector, but instead it is a 2-dim"),
    (lambda: model.rotating_energy([1.0, 2.0, 3.0, 4.0]), ValueError, "4-dimensional"),
    (lambda: model.rotating_potential(1.0), TypeError, "omega must be a list"),
    (lambda: model.pendulum(gconst=[1.0]), TypeError, "gconst must be an expression"),
    (lambda: model.pendulum_energy(length=object()), TypeError, "length must be an expression"),
]


@pytest.mark.parametrize(("call", "error", "match"), BAD_INPUTS)
def test_bad_inputs_raise(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_inputs_heyoka_accepts():
    # Strings name variables, numpy arrays and tuples are sequences, masses may be parameters.
    assert tj.var("g") in tj.get_variables(model.pendulum(gconst="g")[1][1])
    assert names_of(model.nbody(np.int64(2), masses=np.array([1.0, 2.0]))) == state_names(range(2))
    masses = [tj.par[0], tj.par[1]]
    assert tj.get_params([f for _, f in model.nbody(2, masses=masses)]) == masses
    centre = model.fixed_centres(masses=(1.0,), positions=np.ones((1, 3)))
    assert names_of(centre) == ["x", "y", "z", "vx", "vy", "vz"]
    assert str(model.np1body_energy(3, masses=[])) == "0.0"


# ---------------------------------------------------------------------------------------------
# Against heyoka.model
# ---------------------------------------------------------------------------------------------
# Each builder takes the model module and the parameter factory, so the same call builds ours
# (model, tj.par) and heyoka's (heyoka.model, heyoka.par).
HEYOKA_CASES = {
    "pendulum()": lambda m, p: m.pendulum(),
    "pendulum(pars)": lambda m, p: m.pendulum(gconst=p[0], length=p[1]),
    "pendulum_energy": lambda m, p: m.pendulum_energy(1.5, p[0]),
    "nbody(3)": lambda m, p: m.nbody(3),
    "nbody(masses)": lambda m, p: m.nbody(3, Gconst=0.7, masses=[1.0, 2.0, 3.0]),
    "nbody(massless)": lambda m, p: m.nbody(5, masses=[1.0, 0.5]),
    "nbody(pars)": lambda m, p: m.nbody(3, Gconst=p[0], masses=[p[1], 2.0, p[2]]),
    "nbody(G par)": lambda m, p: m.nbody(2, p[0], [2.0, 3.0]),
    "nbody_energy": lambda m, p: m.nbody_energy(4, 0.5, [1.0, 2.0, p[0]]),
    "nbody_potential": lambda m, p: m.nbody_potential(3, p[0]),
    "np1body(4)": lambda m, p: m.np1body(4),
    "np1body(masses)": lambda m, p: m.np1body(5, masses=[1.0, 1e-3, 2e-3, 3e-3, 4e-4]),
    "np1body(massless)": lambda m, p: m.np1body(4, 1.2, [1.0, 0.1]),
    "np1body(pars)": lambda m, p: m.np1body(3, p[0], [p[1], p[2], 0.5]),
    "np1body_energy": lambda m, p: m.np1body_energy(4, 1.1, [1.0, 0.1, p[0]]),
    "np1body_energy(massless)": lambda m, p: m.np1body_energy(4, 1.0, [1.0, 0.1]),
    "np1body_potential": lambda m, p: m.np1body_potential(4, 1.0, [1.0, 0.1, 0.2, 0.3]),
    "cr3bp()": lambda m, p: m.cr3bp(),
    "cr3bp(mu)": lambda m, p: m.cr3bp(mu=0.01215),
    "cr3bp(par)": lambda m, p: m.cr3bp(p[0]),
    "cr3bp_jacobi": lambda m, p: m.cr3bp_jacobi(0.1),
    "cr3bp_jacobi(par)": lambda m, p: m.cr3bp_jacobi(p[0]),
    "fixed_centres": lambda m, p: m.fixed_centres(1.5, [1.0, 2.0], [[1.0, 0, 0], [0, 1, 0.5]]),
    "fixed_centres(pars)": lambda m, p: m.fixed_centres(p[0], [p[1], 2.0], [[1.0, p[2], 0], [0, 1, 0.5]]),
    "fixed_centres()": lambda m, p: m.fixed_centres(),
    "fixed_centres_energy": lambda m, p: m.fixed_centres_energy(1.0, [1.0, p[0]], [[1, 0, 0], [0, 1, 0.5]]),
    "fixed_centres_potential": lambda m, p: m.fixed_centres_potential(2.0, [1.0], [[1, 2, 3]]),
    "rotating([0,0,1])": lambda m, p: m.rotating([0.0, 0.0, 1.0]),
    "rotating(omega)": lambda m, p: m.rotating([0.1, -0.2, 0.3]),
    "rotating(pars)": lambda m, p: m.rotating([p[0], p[1], p[2]]),
    "rotating()": lambda m, p: m.rotating(),
    "rotating_energy": lambda m, p: m.rotating_energy([0.1, -0.2, p[0]]),
    "rotating_potential": lambda m, p: m.rotating_potential([0.1, -0.2, 0.3]),
}


@pytest.mark.parametrize("build", list(HEYOKA_CASES.values()), ids=list(HEYOKA_CASES))
def test_agrees_with_heyoka(build):
    hy = pytest.importorskip("heyoka")
    ours, theirs = build(model, tj.par), build(hy.model, hy.par)
    if isinstance(ours, list):
        assert names_of(ours) == [str(v) for v, _ in theirs]
        ours_f, theirs_f = [f for _, f in ours], [f for _, f in theirs]
        names = names_of(ours)
    else:
        ours_f, theirs_f = [ours], [theirs]
        names = [v.name for v in tj.get_variables(ours_f)]
        assert names == sorted(str(v) for v in hy.get_variables(theirs_f))
    npars = len(hy.get_params(theirs_f))
    assert len(tj.get_params(ours_f)) == npars
    inputs = random_state(len(names))
    pars = RNG.uniform(0.1, 0.4, npars)
    theirs_cf = hy.cfunc(theirs_f, vars=[hy.expression(n) for n in names])
    if npars:
        expected = theirs_cf(inputs, pars=np.repeat(pars[:, None], NPOINTS, axis=1))
    else:
        expected = theirs_cf(inputs)
    assert_close(evaluate(ours_f, names, inputs, pars), expected)


@pytest.mark.parametrize("call", [
    lambda m: m.nbody(1), lambda m: m.nbody(3, masses=[1.0] * 4), lambda m: m.np1body(0),
    lambda m: m.cr3bp(0.5), lambda m: m.cr3bp_jacobi(0.0), lambda m: m.rotating([1.0]),
    lambda m: m.fixed_centres(masses=[1.0]), lambda m: m.fixed_centres(masses=[1.0], positions=[[1, 2]]),
])
def test_rejects_what_heyoka_rejects(call):
    hy = pytest.importorskip("heyoka")
    with pytest.raises(ValueError) as theirs:
        call(hy.model)
    with pytest.raises(ValueError) as ours:
        call(model)
    # The same message, up to the formatting of numbers (heyoka writes 0.0 as 0).
    assert re.sub(NUMBER, "#", str(ours.value)) == re.sub(NUMBER, "#", str(theirs.value))


def test_outer_solar_system_data_is_a_bound_system_in_nbody_order():
    masses, gconst, state = tj.model.outer_solar_system()
    assert masses.shape == (6,) and state.shape == (36,)
    assert gconst == pytest.approx(0.01720209895**2 * 365**2)
    sys = tj.model.nbody(6, Gconst=gconst, masses=masses)
    energy = tj.cfunc([tj.model.nbody_energy(6, Gconst=gconst, masses=masses)], vars=[v for v, _ in sys])
    assert energy(state)[0] < 0  # bound
    # Jupiter at about 5.2 AU with a speed of about 2.76 AU/year
    assert np.linalg.norm(state[6:9]) == pytest.approx(5.0, rel=0.05)
    assert np.linalg.norm(state[9:12]) == pytest.approx(2.76, rel=0.05)
