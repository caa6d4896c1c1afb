"""Shared pieces of the integrator tests: model systems, independent references, comparisons.

The references share no code with the integrator:

- :func:`mp_jet` computes the normalised Taylor coefficients of an ODE's solution by Picard
  iteration in mpmath: ``x[k+1] = [t^k] f(x(t)) / (k+1)``, the coefficient ``[t^k]`` taken by
  ``mpmath.taylor`` (numerical differentiation at 40+ digits) of the right-hand side lambdified
  from ``tj.to_sympy``; Kepler's equation is solved by Newton's method in mpmath.
- :func:`float_jet` runs the same Picard iteration over the primitive table's float recurrences
  (``taylor_coefficients``, itself tested against mpmath in test_recurrences.py): it differs
  from the compiled jets only in the order of the roundings.
- :func:`kepler_position` solves Kepler's equation in mpmath for the closed-form orbit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import mpmath as mp
import numpy as np
import sympy as sp
from references import mp_kepE

import taylorjit as tj
from taylorjit._expr import as_expr
from taylorjit._primitives.series import taylor_coefficients

EPS = float(np.finfo(float).eps)
G = 9.8  # the pendulum's g/l (heyoka's tests use the same)


# ---------------------------------------------------------------------------------------------
# Model systems, written for taylorjit or heyoka (``m`` is the module: both spell them alike)
# ---------------------------------------------------------------------------------------------
def pendulum(m=tj):
    """``x' = v, v' = -g sin(x)``."""
    x, v = m.make_vars("x", "v")
    return [(x, v), (v, -G * m.sin(x))]


def kepler(m=tj):
    """The planar Kepler problem with ``mu = 1``: state ``(x, y, vx, vy)``."""
    x, y, vx, vy = m.make_vars("x", "y", "vx", "vy")
    r3 = (x * x + y * y) ** 1.5
    return [(x, vx), (y, vy), (vx, -x / r3), (vy, -y / r3)]


def kepler_ic(e: float) -> list[float]:
    """At the pericentre of the orbit with ``a = 1`` and eccentricity ``e`` (period ``2 pi``)."""
    return [1.0 - e, 0.0, 0.0, math.sqrt((1.0 + e) / (1.0 - e))]


def two_body(m=tj):
    """Two bodies of unit mass, ``G = 1``, in 3-D: state ``(x0, y0, z0, x1, y1, z1, v...)``."""
    names = ["x0", "y0", "z0", "x1", "y1", "z1", "vx0", "vy0", "vz0", "vx1", "vy1", "vz1"]
    q = m.make_vars(*names)
    r0, r1, v0, v1 = q[0:3], q[3:6], q[6:9], q[9:12]
    d = [r1[i] - r0[i] for i in range(3)]
    r3 = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) ** 1.5
    acc = [d[i] / r3 for i in range(3)]
    return ([(r0[i], v0[i]) for i in range(3)] + [(r1[i], v1[i]) for i in range(3)]
            + [(v0[i], acc[i]) for i in range(3)] + [(v1[i], -acc[i]) for i in range(3)])


def kep_to_cart(a, e, inc, om, Om, nu, mu):
    """Cartesian position and velocity of the Keplerian elements (heyoka's ``kep_to_cart`` order:
    semi-major axis, eccentricity, inclination, argument of pericentre, longitude of the
    ascending node, true anomaly)."""
    p = a * (1 - e * e)
    r = p / (1 + e * math.cos(nu))
    pos = np.array([r * math.cos(nu), r * math.sin(nu), 0.0])
    vel = math.sqrt(mu / p) * np.array([-math.sin(nu), e + math.cos(nu), 0.0])

    def rot3(t):
        return np.array([[math.cos(t), -math.sin(t), 0], [math.sin(t), math.cos(t), 0], [0, 0, 1]])

    def rot1(t):
        return np.array([[1, 0, 0], [0, math.cos(t), -math.sin(t)], [0, math.sin(t), math.cos(t)]])

    R = rot3(Om) @ rot1(inc) @ rot3(om)
    return R @ pos, R @ vel


def two_body_ic() -> list[float]:
    """heyoka's two_body.cpp initial conditions: each body on the orbit (a, e, i, om, Om, nu) =
    (1.5, 0.2, 0.3, 0.4, 0.5, 0.6) around the centre of mass (mu = 1/4), the other opposite."""
    x, v = kep_to_cart(1.5, 0.2, 0.3, 0.4, 0.5, 0.6, 0.25)
    return [*x, *(-x), *v, *(-v)]


def two_body_invariants(s) -> tuple:
    """Energy and angular momentum (vector) of :func:`two_body`, in mpmath."""
    s = [mp.mpf(float(c)) for c in s]
    r0, r1, v0, v1 = s[0:3], s[3:6], s[6:9], s[9:12]
    d = [r1[i] - r0[i] for i in range(3)]
    kin = sum(c * c for c in v0) / 2 + sum(c * c for c in v1) / 2
    energy = kin - 1 / mp.sqrt(sum(c * c for c in d))

    def cross(a, b):
        return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]

    l0, l1 = cross(r0, v0), cross(r1, v1)
    return energy, [l0[i] + l1[i] for i in range(3)]


def pendulum_energy(s) -> mp.mpf:
    """``v**2/2 - g cos(x)`` in mpmath (exact inputs)."""
    x, v = mp.mpf(float(s[0])), mp.mpf(float(s[1]))
    return v * v / 2 - G * mp.cos(x)


def pendulum_period(x0: float) -> float:
    """The period of the pendulum released at rest from ``x0`` (``4 K(sin^2(x0/2)) / sqrt(g)``)."""
    with mp.workdps(30):
        return float(4 * mp.ellipk(mp.sin(mp.mpf(x0) / 2) ** 2) / mp.sqrt(G))


def kepler_position(e: float, t: float) -> tuple[mp.mpf, mp.mpf]:
    """Closed-form position at time ``t`` on the orbit of :func:`kepler_ic` (at 40 digits)."""
    with mp.workdps(40):
        ee = mp.mpf(e)
        E = mp_kepE(ee, mp.mpf(t))  # mean motion 1, pericentre at t = 0
        return +(mp.cos(E) - ee), +(mp.sqrt(1 - ee * ee) * mp.sin(E))


def kepler_elements(s) -> dict[str, float]:
    """Semi-major axis, eccentricity, argument of pericentre and mean anomaly of a planar state
    (mu = 1), computed in mpmath from the double state."""
    with mp.workdps(40):
        x, y, vx, vy = (mp.mpf(float(c)) for c in s)
        r = mp.sqrt(x * x + y * y)
        v2 = vx * vx + vy * vy
        a = 1 / (2 / r - v2)
        h = x * vy - y * vx
        ex, ey = vy * h - x / r, -vx * h - y / r
        e = mp.sqrt(ex * ex + ey * ey)
        omega = mp.atan2(ey, ex)
        nu = mp.atan2(y, x) - omega
        E = 2 * mp.atan(mp.sqrt((1 - e) / (1 + e)) * mp.tan(nu / 2))
        M = E - e * mp.sin(E)
        return {"a": float(a), "e": float(e), "omega": float(omega), "M": float(M)}


# ---------------------------------------------------------------------------------------------
# Jet references
# ---------------------------------------------------------------------------------------------
def _symbols(state_vars, npars):
    return ([tj.to_sympy(v) for v in state_vars] + [tj.to_sympy(tj.par[i]) for i in range(npars)]
            + [tj.to_sympy(tj.time)])


def mp_jet(sys, state: Sequence[float], order: int, pars: Sequence[float] = (),
           time: float = 0.0, dps: int = 40) -> np.ndarray:
    """Normalised Taylor coefficients of the solution through ``state`` at ``time``, shape
    ``(dim, order + 1)``, by Picard iteration in mpmath (see the module docstring)."""
    lhs = [v for v, _ in sys]
    syms = _symbols(lhs, len(pars))
    fs = [sp.lambdify(syms, tj.to_sympy(as_expr(f)), [{"kepE": mp_kepE}, "mpmath"]) for _, f in sys]
    with mp.workdps(dps):
        coeffs = [[mp.mpf(float(s))] for s in state]
        pm = [mp.mpf(float(p)) for p in pars]
        t0 = mp.mpf(float(time))
        for k in range(order):
            polys = [list(c) for c in coeffs]

            def at(t, polys=polys):
                return [mp.polyval(c[::-1], t) for c in polys]

            new = []
            for f in fs:
                def g(t, f=f):
                    return f(*at(t), *pm, t0 + t)

                fk = mp.taylor(g, 0, k)[k]
                new.append(mp.re(fk) / (k + 1))
            for c, value in zip(coeffs, new, strict=True):
                c.append(value)
        return np.array([[float(c) for c in row] for row in coeffs])


def float_jet(sys, state: Sequence[float], order: int, pars: Sequence[float] = (),
              time: float = 0.0) -> np.ndarray:
    """The same Picard iteration over the table's float recurrences (``taylor_coefficients``)."""
    lhs = [v for v, _ in sys]
    rhs = [as_expr(f) for _, f in sys]
    coeffs = [[float(s)] for s in state]
    for k in range(order):
        point = {v: c + [0.0] * (k + 1 - len(c)) for v, c in zip(lhs, coeffs, strict=True)}
        f = taylor_coefficients(rhs, point, k, pars=list(pars), time=[float(time), 1.0][: k + 1])
        for c, row in zip(coeffs, f, strict=True):
            c.append(float(row[k]) / (k + 1))
    return np.array(coeffs)


def assert_jets_close(got: np.ndarray, ref: np.ndarray, rtol: float = 1e-11, what: str = "",
                      floor: float = 1e-300) -> None:
    """Coefficients equal to ``rtol`` relative to the largest coefficient of their row (higher
    orders of a well-conditioned series are small; cancellation makes them absolute-accurate).

    ``floor`` is the smallest row scale: :func:`mp_jet` differentiates numerically, accurate
    in absolute terms (to about 1e-40 at 40 digits), so it loses rows of size 1e-100."""
    assert got.shape == ref.shape, (got.shape, ref.shape)
    assert np.isfinite(got).all(), got
    scale = np.maximum(np.max(np.abs(ref), axis=1, keepdims=True), floor)
    err = np.abs(got - ref) / scale
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err.max() <= rtol, (f"{what}: coefficient {worst} = {got[worst]!r}, reference "
                               f"{ref[worst]!r}, error {err.max():.3g} of the row's scale")


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise distance in units of the spacing of the larger magnitude."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    spacing = np.spacing(np.maximum(np.abs(a), np.abs(b)))
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.abs(a - b) / spacing
    return np.where(a == b, 0.0, d)


def norm_rel(a, b) -> float:
    """``|a - b| / |b|`` (2-norms)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))
