"""Benchmark cases of the adaptive Taylor integrator (``tj.taylor_adaptive``) against heyoka.py
and scipy.

Implementations, in the same process on the same initial conditions, all at tol = machine
epsilon:

* ``taylorjit``: ``tj.taylor_adaptive(sys, ic)`` (``compact_mode=None``: taylorjit chooses);
* ``heyoka``: ``hy.taylor_adaptive(sys, ic)`` with its defaults (unrolled), except for the 20-body
  problem, which is built with ``compact_mode=True`` (heyoka's unrolled 20-body integrator takes
  about 740 s to compile);
* ``scipy``: ``solve_ivp(rhs, span, ic, method="DOP853", rtol=1e-13, atol=1e-13)`` with a plain
  Python right-hand side (pendulum, Kepler and, over t = 10, Lorenz).

The systems come from heyoka.model on heyoka's side and from ``tj.model`` on taylorjit's when it
exists and builds them (else from the local builders below, which write heyoka.model's
formulas); Kepler and Lorenz are written once here for both libraries.

Metrics (rows of each table):

``construct_cold``
    Construction of the integrator (decomposition, code generation, compilation) with the
    in-memory caches cleared and the disk cache pointed at a fresh directory. One untimed
    construction of the same system at another tolerance (another order, so other code) first
    initialises LLVM and taylorjit's runtime library (compiled once per process); the fresh
    directory starts as a copy of that warm-up's directory, so that it holds the runtime library
    a new process needs, but nothing of the measured integrator.
``construct_disk``
    The same construction in a new Python process (``subprocess``), as its first integrator,
    with the directory filled by the cold construction: a disk-cache hit, timed after the imports
    and after building the system, so it includes what a second process pays before its first
    step (loading the machine code, and taylorjit's runtime library).
``step_time``
    ``(reset state and time; propagate_until(T))`` timed ``timeit``-style after a warm-up, divided
    by the number of steps: ns per step.
``nsteps``
    Steps taken over ``[0, T]`` (target: taylorjit within +-2 % of heyoka).
``diff_heyoka``
    Final state vs heyoka's, ``max_k |x_k - y_k| / max_k |y_k|``.
``err_*``
    Errors against a reference: the closed-form Kepler solution, heyoka in 80-bit long double
    (``fp_type=np.longdouble``, tol 1e-19) for pendulum and CR3BP, a fixed-step Taylor method in
    mpmath (40 digits) for Lorenz over t = 10 (chaotic: a long-double reference would carry
    errors of ~1e-15 there), and the relative drift of the energy (Jacobi constant), evaluated in
    long double.
``scipy_time``
    Whole propagation over the span of the scipy comparison, for every implementation.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .harness import (
    TAYLORJIT,
    CaseResult,
    ImplStatus,
    Measurement,
    Options,
    describe_error,
    fresh_caches,
    time_calls,
    time_once,
)

__all__ = ["INTEGRATOR_CASES", "OdeProblem", "PROBLEMS", "build_system"]

HEYOKA = "heyoka"
SCIPY = "scipy"
ROOT = Path(__file__).resolve().parent.parent
#: scipy's tolerances (the issue's comparison).
SCIPY_TOL = 1e-13
#: Tolerance of the untimed warm-up construction (another Taylor order than the measured one).
_WARMUP_TOL = 1e-12


# ---------------------------------------------------------------------------
# Systems
# ---------------------------------------------------------------------------


def _tj_model() -> Any:
    """``taylorjit.model`` when it can be imported, else None."""
    try:
        import taylorjit as tj

        return getattr(tj, "model", None) or __import__("taylorjit.model", fromlist=["model"])
    except Exception:  # noqa: BLE001 - absent or broken: the local builders are used
        return None


def _pendulum_local(tj: Any) -> list:
    x, v = tj.make_vars("x", "v")
    return [(x, v), (v, -tj.sin(x))]


def _kepler(lib: Any) -> list:
    """Planar Kepler problem, mu = 1 (written once for both libraries)."""
    x, y, vx, vy = lib.make_vars("x", "y", "vx", "vy")
    irm3 = (x * x + y * y) ** -1.5
    return [(x, vx), (y, vy), (vx, -x * irm3), (vy, -y * irm3)]


def _lorenz(lib: Any) -> list:
    """Lorenz system, sigma = 10, rho = 28, beta = 8/3."""
    x, y, z = lib.make_vars("x", "y", "z")
    return [(x, 10.0 * (y - x)), (y, x * (28.0 - z) - y), (z, x * y - (8.0 / 3.0) * z)]


def _cr3bp_local(tj: Any, mu: float) -> list:
    """heyoka.model.cr3bp's equations (primaries at x = mu and x = mu - 1, momenta px, py, pz)."""
    x, y, z, px, py, pz = tj.make_vars("x", "y", "z", "px", "py", "pz")
    d1 = x - mu
    d2 = 1.0 + d1
    yz2 = y**2 + z**2
    t1 = (1.0 - mu) * (d1**2 + yz2) ** -1.5
    t2 = mu * (d2**2 + yz2) ** -1.5
    return [(x, px + y), (y, py - x), (z, pz), (px, py - (t1 * d1 + t2 * d2)),
            (py, -px - (t1 + t2) * y), (pz, -(t1 + t2) * z)]


def _nbody_local(tj: Any, n: int, masses: list[float], gconst: float) -> list:
    """heyoka.model.nbody's equations: for each pair, diff * G m_j / r^3 on body i and the
    opposite, scaled by m_i / m_j, on body j."""
    names = [f"{c}_{i}" for i in range(n) for c in ("x", "y", "z", "vx", "vy", "vz")]
    v = tj.make_vars(*names)
    pos = [v[6 * i: 6 * i + 3] for i in range(n)]
    vel = [v[6 * i + 3: 6 * i + 6] for i in range(n)]
    acc: list[list[Any]] = [[0.0, 0.0, 0.0] for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            diff = [pos[j][k] - pos[i][k] for k in range(3)]
            rm3 = (diff[0] ** 2 + diff[1] ** 2 + diff[2] ** 2) ** -1.5
            for k in range(3):
                acc[i][k] = acc[i][k] + diff[k] * (gconst * masses[j] * rm3)
                acc[j][k] = acc[j][k] - diff[k] * (gconst * masses[i] * rm3)
    out = []
    for i in range(n):
        out += [(pos[i][k], vel[i][k]) for k in range(3)]
        out += [(vel[i][k], acc[i][k]) for k in range(3)]
    return out


@dataclass(frozen=True)
class OdeProblem:
    """One integration problem.

    Attributes
    ----------
    key : str
        Short name (the case is ``taylor_<key>``).
    description : str
        Table title.
    ic : tuple of float
        Initial state (time 0).
    span, span_quick : float
        Final time of the timed propagation (full, ``--quick``).
    model : str
        heyoka.model / tj.model function, or "" for a system written here for both libraries.
    model_args : dict
        Keyword arguments of the model function.
    heyoka_compact : bool
        Build heyoka's integrator in compact mode.
    scipy_span : float or None
        Span of the scipy comparison (None: no scipy), at most the timed span.
    reference : str
        ``"kepler"`` (closed form), ``"longdouble"`` (heyoka in 80-bit long double),
        ``"lorenz_mp"`` (a Taylor method in mpmath) or "".
    invariant : str
        ``"energy_pendulum"``, ``"energy_nbody"``, ``"jacobi"`` or "".
    chaotic : bool
        Final states of different implementations diverge over the span (rounding is amplified).
    info : dict
        Extra parameters recorded in the JSON.
    """

    key: str
    description: str
    ic: tuple[float, ...]
    span: float
    span_quick: float
    model: str = ""
    model_args: dict[str, Any] = field(default_factory=dict)
    heyoka_compact: bool = False
    scipy_span: float | None = None
    reference: str = ""
    invariant: str = ""
    chaotic: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    def t_final(self, options: Options) -> float:
        """Final time of the timed propagation."""
        return self.span_quick if options.quick else self.span

    def scipy_t(self, options: Options) -> float | None:
        """Final time of the scipy comparison (never longer than the timed span)."""
        return None if self.scipy_span is None else min(self.scipy_span, self.t_final(options))


def build_system(problem: OdeProblem, impl: str) -> tuple[list, str]:
    """The system of ``problem`` for ``impl`` (``"taylorjit"`` or ``"heyoka"``) and where it came
    from (``"hy.model.nbody"``, ``"tj.model.nbody"``, ``"local builder (...)"``)."""
    if impl == HEYOKA:
        import heyoka as hy

        if problem.model:
            return getattr(hy.model, problem.model)(**problem.model_args), f"hy.model.{problem.model}"
        return _LOCAL[problem.key](hy, problem), "written for both libraries"
    import taylorjit as tj

    if not problem.model:
        return _LOCAL[problem.key](tj, problem), "written for both libraries"
    model = _tj_model()
    why = "tj.model missing"
    if model is not None and hasattr(model, problem.model):
        try:
            return getattr(model, problem.model)(**problem.model_args), f"tj.model.{problem.model}"
        except Exception as exc:  # noqa: BLE001 - fall back, and say why
            why = f"tj.model.{problem.model} failed: {describe_error(exc)}"
    return _LOCAL[problem.key](tj, problem), f"local builder of heyoka.model's equations ({why})"


_LOCAL: dict[str, Callable[[Any, OdeProblem], list]] = {
    "pendulum": lambda lib, p: _pendulum_local(lib),
    "kepler": lambda lib, p: _kepler(lib),
    "lorenz": lambda lib, p: _lorenz(lib),
    "cr3bp": lambda lib, p: _cr3bp_local(lib, p.model_args["mu"]),
    "outer_solar": lambda lib, p: _nbody_local(lib, p.model_args["n"], list(p.model_args["masses"]),
                                                      p.model_args["Gconst"]),
    "nbody20": lambda lib, p: _nbody_local(lib, p.model_args["n"], list(p.model_args["masses"]),
                                           p.model_args["Gconst"]),
}


# --- initial conditions -----------------------------------------------------------------------

#: NOTE: the same data as ``tj.model.outer_solar_system()``, kept here because this module must
#: load (and report heyoka's rows) even when taylorjit cannot be imported.
#: Outer solar system (heyoka.py tutorial "Brouwer's law in the outer Solar System"; Applegate et
#: al. 1986): AU, solar masses, years of 365 days.
OSS_MASSES = (1.00000597682, 1 / 1047.355, 1 / 3501.6, 1 / 22869.0, 1 / 19314.0, 7.4074074e-09)
OSS_G = 0.01720209895 * 0.01720209895 * 365 * 365
OSS_IC = (
    # Sun
    -4.06428567034226e-3, -6.08813756435987e-3, -1.66162304225834e-6, +6.69048890636161e-6 * 365,
    -6.33922479583593e-6 * 365, -3.13202145590767e-9 * 365,
    # Jupiter
    +3.40546614227466e+0, +3.62978190075864e+0, +3.42386261766577e-2, -5.59797969310664e-3 * 365,
    +5.51815399480116e-3 * 365, -2.66711392865591e-6 * 365,
    # Saturn
    +6.60801554403466e+0, +6.38084674585064e+0, -1.36145963724542e-1, -4.17354020307064e-3 * 365,
    +3.99723751748116e-3 * 365, +1.67206320571441e-5 * 365,
    # Uranus
    +1.11636331405597e+1, +1.60373479057256e+1, +3.61783279369958e-1, -3.25884806151064e-3 * 365,
    +2.06438412905916e-3 * 365, -2.17699042180559e-5 * 365,
    # Neptune
    -3.01777243405203e+1, +1.91155314998064e+0, -1.53887595621042e-1, -2.17471785045538e-4 * 365,
    -3.11361111025884e-3 * 365, +3.58344705491441e-5 * 365,
    # Pluto
    -2.13858977531573e+1, +3.20719104739886e+1, +2.49245689556096e+0, -1.76936577252484e-3 * 365,
    -2.06720938381724e-3 * 365, +6.58091931493844e-4 * 365,
)

KEPLER_E = 0.5
#: Planar Kepler orbit, a = 1, mu = 1, from the pericentre (period 2 pi).
KEPLER_IC = (1.0 - KEPLER_E, 0.0, 0.0, math.sqrt((1.0 + KEPLER_E) / (1.0 - KEPLER_E)))

CR3BP_MU = 0.01
#: A periodic planar orbit, retrograde around the larger primary (at x = mu) at a distance of about
#: 0.5, period 1.64583404766435 in the rotating frame: from the circular two-body orbit, py was
#: corrected (Brent's method on vx at the next crossing of y = 0, heyoka's event detection) so that
#: the orbit crosses the x axis perpendicularly; after one period the state returns to within
#: 3e-15. A stable orbit: the error of a double-precision integration grows slowly (2.5e-12
#: relative at t = 200, about 120 periods), so final states can be compared. (The orbit of
#: heyoka.py's tutorial "Periodic orbits in the CR3BP" is unstable: by t = 200 double-precision
#: integrations differ from a long-double one by 1e-4.)
CR3BP_IC = (0.51, 0.0, 0.0, 0.0, -1.3962471571826143, 0.0)
CR3BP_PERIOD = 1.645834047664353

NBODY20_SEED = 20261124


def nbody20_configuration(n: int = 20,
                          seed: int = NBODY20_SEED) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """A bound planetary system: a unit central mass and ``n - 1`` bodies of masses U(1e-6, 1e-4)
    on near-circular orbits (semi-major axes ~ 1 + 0.6 i, speeds within 2 % of circular,
    inclinations within 0.03 rad), moved to the barycentric frame; G = 1."""
    rng = np.random.default_rng(seed)
    masses = np.empty(n)
    masses[0] = 1.0
    masses[1:] = rng.uniform(1e-6, 1e-4, n - 1)
    state = np.zeros((n, 6))
    for i in range(1, n):
        a = (1.0 + 0.6 * (i - 1)) * (1.0 + rng.uniform(-0.05, 0.05))
        theta, inc = rng.uniform(0.0, 2.0 * math.pi), rng.uniform(-0.03, 0.03)
        speed = math.sqrt(masses[0] / a) * (1.0 + rng.uniform(-0.02, 0.02))
        c, s = math.cos(theta), math.sin(theta)
        state[i, :3] = a * np.array([c, s * math.cos(inc), s * math.sin(inc)])
        state[i, 3:] = speed * np.array([-s, c * math.cos(inc), c * math.sin(inc)])
    state -= (masses[:, None] * state).sum(axis=0) / masses.sum()
    return tuple(masses.tolist()), tuple(state.ravel().tolist())


NBODY20_MASSES, NBODY20_IC = nbody20_configuration()

PROBLEMS: dict[str, OdeProblem] = {
    "pendulum": OdeProblem(
        "pendulum", "simple pendulum x'' = -sin x, x0 = 1.3, v0 = 0, over t = 1000 (130 periods)",
        (1.3, 0.0), 1000.0, 100.0, model="pendulum", scipy_span=1000.0, reference="longdouble",
        invariant="energy_pendulum", info={"gconst": 1.0, "length": 1.0}),
    "kepler": OdeProblem(
        "kepler", "planar Kepler problem, e = 0.5, 100 orbits", KEPLER_IC, 200.0 * math.pi,
        20.0 * math.pi, scipy_span=200.0 * math.pi, reference="kepler",
        info={"e": KEPLER_E, "a": 1.0, "mu": 1.0, "orbits": 100, "orbits_quick": 10}),
    "lorenz": OdeProblem(
        "lorenz", "Lorenz system (10, 28, 8/3) from (1, 1, 1), over t = 100 (scipy: t = 10)",
        (1.0, 1.0, 1.0), 100.0, 10.0, scipy_span=10.0, reference="lorenz_mp", chaotic=True,
        info={"sigma": 10.0, "rho": 28.0, "beta": "8/3"}),
    "outer_solar": OdeProblem(
        "outer_solar", "outer solar system (Sun, Jupiter, Saturn, Uranus, Neptune, Pluto), "
        "10^4 years", OSS_IC, 1.0e4, 1.0e3, model="nbody",
        model_args={"n": 6, "masses": list(OSS_MASSES), "Gconst": OSS_G}, invariant="energy_nbody",
        info={"units": "AU, solar masses, years of 365 days",
              "initial_conditions": "heyoka.py tutorial 'Brouwer's law in the outer Solar System'"}),
    "cr3bp": OdeProblem(
        "cr3bp", "CR3BP, mu = 0.01, periodic retrograde orbit around the primary, t = 200 "
        "(about 120 periods)", CR3BP_IC, 200.0, 20.0,
        model="cr3bp", model_args={"mu": CR3BP_MU}, reference="longdouble", invariant="jacobi",
        info={"orbit": "planar, periodic, retrograde around the larger primary at r ~ 0.5, stable",
              "period": CR3BP_PERIOD}),
    "nbody20": OdeProblem(
        "nbody20", "20-body bound planetary system (seeded), t = 1000 (innermost period 2 pi); "
        "heyoka in compact mode", NBODY20_IC, 1000.0, 10.0, model="nbody",
        model_args={"n": 20, "masses": list(NBODY20_MASSES), "Gconst": 1.0}, heyoka_compact=True,
        invariant="energy_nbody", info={"seed": NBODY20_SEED, "G": 1.0}),
}


# ---------------------------------------------------------------------------
# References and invariants
# ---------------------------------------------------------------------------


def _normwise(x: np.ndarray, ref: np.ndarray) -> float:
    """``max |x - ref| / max |ref|`` (inf for non-finite values)."""
    x = np.asarray(x, dtype=np.longdouble)
    ref = np.asarray(ref, dtype=np.longdouble)
    if not np.all(np.isfinite(x)):
        return math.inf
    return float(np.max(np.abs(x - ref)) / np.max(np.abs(ref)))


def _kepler_closed_form(t: float) -> np.ndarray:
    """State of the Kepler orbit of ``KEPLER_IC`` at time ``t`` (mpmath, 40 digits)."""
    import mpmath

    with mpmath.workdps(40):
        e = mpmath.mpf(KEPLER_E)
        m = mpmath.fmod(mpmath.mpf(t), 2 * mpmath.pi)
        ea = mpmath.findroot(lambda u: u - e * mpmath.sin(u) - m, m + e * mpmath.sin(m))
        b = mpmath.sqrt(1 - e * e)
        edot = 1 / (1 - e * mpmath.cos(ea))
        out = [mpmath.cos(ea) - e, b * mpmath.sin(ea), -mpmath.sin(ea) * edot, b * mpmath.cos(ea) * edot]
        return np.array([float(v) for v in out])


def _lorenz_mp_reference(t: float, ic: tuple[float, ...], order: int = 25, dps: int = 40) -> np.ndarray:
    """The Lorenz state at ``t`` from a fixed-step Taylor method in mpmath (40 digits, order 25,
    steps of at most 0.02: truncation below 1e-21, checked against order 30 with steps of 0.01),
    independent of heyoka and taylorjit; the float64 constants of the benchmarked system."""
    import mpmath

    with mpmath.workdps(dps):
        sigma, rho, beta = (mpmath.mpf(v) for v in (10.0, 28.0, 8.0 / 3.0))
        x0, y0, z0 = (mpmath.mpf(v) for v in ic)
        nsteps = max(1, math.ceil(t / 0.02))
        h = mpmath.mpf(t) / nsteps
        for _ in range(nsteps):
            x, y, z = [x0], [y0], [z0]
            for k in range(order):  # normalised Taylor coefficients: x_{k+1} = f_k / (k + 1)
                xz = mpmath.fsum(x[i] * z[k - i] for i in range(k + 1))
                xy = mpmath.fsum(x[i] * y[k - i] for i in range(k + 1))
                x.append(sigma * (y[k] - x[k]) / (k + 1))
                y.append((rho * x[k] - xz - y[k]) / (k + 1))
                z.append((xy - beta * z[k]) / (k + 1))
            x0, y0, z0 = (mpmath.polyval(c[::-1], h) for c in (x, y, z))
        return np.array([np.longdouble(mpmath.nstr(v, 25)) for v in (x0, y0, z0)])


def _longdouble_reference(problem: OdeProblem, t: float) -> np.ndarray:
    """heyoka's solution at ``t`` in 80-bit long double (tolerance 1e-19)."""
    import heyoka as hy

    sys_, _ = build_system(problem, HEYOKA)
    ta = hy.taylor_adaptive(sys_, np.array(problem.ic, dtype=np.longdouble), fp_type=np.longdouble)
    ta.propagate_until(np.longdouble(t))
    return np.array(ta.state, dtype=np.longdouble)


def _invariant(problem: OdeProblem, state: np.ndarray) -> np.longdouble:
    """The conserved quantity, evaluated (and returned) in long double."""
    s = np.asarray(state, dtype=np.longdouble)
    if problem.invariant == "energy_pendulum":
        return s[1] ** 2 / 2 - np.cos(s[0])
    if problem.invariant == "jacobi":
        mu = np.longdouble(problem.model_args["mu"])
        x, y, z, px, py, pz = s
        r1 = np.sqrt((x - mu) ** 2 + y**2 + z**2)
        r2 = np.sqrt((x - mu + 1) ** 2 + y**2 + z**2)
        vx, vy, vz = px + y, py - x, pz
        return (x**2 + y**2) / 2 + (1 - mu) / r1 + mu / r2 - (vx**2 + vy**2 + vz**2) / 2
    if problem.invariant == "energy_nbody":
        n = problem.model_args["n"]
        g = np.longdouble(problem.model_args["Gconst"])
        m = np.array(problem.model_args["masses"], dtype=np.longdouble)
        b = s.reshape(n, 6)
        kin = np.sum(m * np.sum(b[:, 3:] ** 2, axis=1)) / 2
        pot = np.longdouble(0)
        for i in range(n):
            d = np.sqrt(np.sum((b[i + 1:, :3] - b[i, :3]) ** 2, axis=1))
            pot -= g * m[i] * np.sum(m[i + 1:] / d)
        return kin + pot
    raise ValueError(problem.invariant)


def _scipy_rhs(problem: OdeProblem) -> Callable[[float, np.ndarray], np.ndarray]:
    """The right-hand side as a user of scipy writes it (scalars with ``math``, one array out)."""
    if problem.key == "pendulum":
        def rhs(t: float, y: np.ndarray) -> np.ndarray:
            return np.array([y[1], -math.sin(y[0])])
    elif problem.key == "kepler":
        def rhs(t: float, y: np.ndarray) -> np.ndarray:
            x, yy, vx, vy = y
            irm3 = (x * x + yy * yy) ** -1.5
            return np.array([vx, vy, -x * irm3, -yy * irm3])
    elif problem.key == "lorenz":
        def rhs(t: float, y: np.ndarray) -> np.ndarray:
            x, yy, z = y
            return np.array([10.0 * (yy - x), x * (28.0 - z) - yy, x * yy - (8.0 / 3.0) * z])
    else:
        raise ValueError(f"no scipy right-hand side for {problem.key}")
    return rhs


# ---------------------------------------------------------------------------
# Construction: cold, and in a second process
# ---------------------------------------------------------------------------


def _construct(impl: str, sys_: list, problem: OdeProblem, tol: float | None = None) -> Any:
    ic = np.array(problem.ic, dtype=float)
    if impl == TAYLORJIT:
        import taylorjit as tj

        return tj.taylor_adaptive(sys_, ic, tol=tol)
    import heyoka as hy

    kwargs = {} if tol is None else {"tol": tol}
    return hy.taylor_adaptive(sys_, ic, compact_mode=problem.heyoka_compact, **kwargs)


def child_construct(key: str, impl: str, cache_dir: str) -> dict[str, Any]:
    """Run in a new process: construct ``key``'s integrator for ``impl`` as the process's first,
    with the disk cache at ``cache_dir``; return the time and where the code came from."""
    problem = PROBLEMS[key]
    if impl == TAYLORJIT:
        os.environ["TAYLORJIT_CACHE_DIR"] = cache_dir
        os.environ.pop("TAYLORJIT_CACHE", None)
        import taylorjit  # noqa: F401 - imported before the timing
    else:
        import heyoka as hy

        hy.llvm_state.set_diskcache_path(cache_dir)
        hy.llvm_state.set_diskcache_enabled(True)
    sys_, _ = build_system(problem, impl)
    t0 = time.perf_counter()
    ta = _construct(impl, sys_, problem)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "compiled_from": getattr(ta, "compiled_from", "n/a")}


def _in_new_process(key: str, impl: str, cache_dir: Path) -> dict[str, Any]:
    code = (
        "import json, sys\n"
        "from benchmarks.integrator_cases import child_construct\n"
        "print('@@' + json.dumps(child_construct(sys.argv[1], sys.argv[2], sys.argv[3])))\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    out = subprocess.run([sys.executable, "-c", code, key, impl, str(cache_dir)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=1200, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("@@"):
            return json.loads(line[2:])
    tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
    raise RuntimeError(f"child process failed (exit {out.returncode}): {tail}")


@dataclass
class _Built:
    """What the construction phase of one implementation leaves behind."""

    ta: Any = None
    cold: list[float] = field(default_factory=list)
    disk: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str = ""
    disk_error: str = ""


def _build(impl: str, problem: OdeProblem, options: Options, tmp: Path) -> _Built:
    """Cold constructions (after an untimed warm-up), then constructions in new processes."""
    out = _Built()
    try:
        sys_, source = build_system(problem, impl)
    except Exception as exc:  # noqa: BLE001
        out.error = f"building the system failed: {describe_error(exc)}"
        return out
    out.notes.append(f"system: {source}")
    budget = 10.0 if options.quick else 40.0
    try:
        warm = tmp / f"{impl}-warmup"
        with fresh_caches(impl, warm):
            # initialises LLVM and taylorjit's runtime library (compiled once per process, into
            # this directory): the same system at another tolerance (another order: other code)
            _construct(impl, sys_, problem, tol=_WARMUP_TOL)
        keep: list[Any] = []
        for k in range(options.ncompile):
            d = tmp / f"{impl}-cold{k}"
            # the warm-up's directory, holding the runtime library that a new process loads
            shutil.copytree(warm, d)
            with fresh_caches(impl, d):
                out.cold.append(time_once(lambda: _construct(impl, sys_, problem), keep))
            if impl == TAYLORJIT and keep[-1].compiled_from is not None:
                out.notes.append(f"cold construction came from {keep[-1].compiled_from!r}")
            if sum(out.cold) + out.cold[-1] > budget:
                break
        out.ta = keep[-1]
        del keep[:-1]
    except Exception as exc:  # noqa: BLE001
        out.error = f"construction failed: {describe_error(exc)}"
        return out
    if len(out.cold) < options.ncompile:
        out.notes.append(f"{len(out.cold)} cold construction(s) (time budget)")
    filled = tmp / f"{impl}-cold0"
    try:
        froms = []
        for _ in range(min(options.ncompile, 3)):
            res = _in_new_process(problem.key, impl, filled)
            out.disk.append(float(res["seconds"]))
            froms.append(str(res["compiled_from"]))
            if out.disk[-1] * 2 > budget:
                break
        if impl == TAYLORJIT:
            out.notes.append(f"new process: compiled_from = {', '.join(sorted(set(froms)))}")
    except Exception as exc:  # noqa: BLE001
        out.disk_error = describe_error(exc)
    return out


# ---------------------------------------------------------------------------
# Propagation
# ---------------------------------------------------------------------------


def _reset_and_run(ta: Any, ic: np.ndarray, t_final: float) -> Callable[[], Any]:
    def run() -> Any:
        ta.state[:] = ic
        ta.time = 0.0
        return ta.propagate_until(t_final)

    return run


def _repeat(fn: Callable[[], Any], options: Options, cap: float) -> tuple[list[float], str]:
    """Seconds per call: ``time_calls`` when a call is short; for long calls, as many single
    calls as fit in ``cap`` seconds (at least one, which is then also the warm-up)."""
    first = time_once(fn)
    if first * (options.nrepeat + 2) <= cap:
        samples, number = time_calls(fn, repeat=options.nrepeat, min_time=options.sample_time, warmup=0)
        return samples, f"{number} call(s) per sample"
    samples = [first]
    while len(samples) < options.nrepeat and sum(samples) + first <= cap:
        samples.append(time_once(fn))
    note = f"one call takes {first:.3g} s: {len(samples)} sample(s)"
    return samples, note + (" (the first is also the warm-up)" if len(samples) == 1 else "")


def _scipy_solve(problem: OdeProblem, t_final: float) -> Any:
    from scipy.integrate import solve_ivp

    return solve_ivp(_scipy_rhs(problem), (0.0, t_final), np.array(problem.ic), method="DOP853",
                     rtol=SCIPY_TOL, atol=SCIPY_TOL)


# ---------------------------------------------------------------------------
# The case
# ---------------------------------------------------------------------------


def _status(name: str) -> ImplStatus:
    try:
        if name == TAYLORJIT:
            import taylorjit as tj

            tj.taylor_adaptive  # noqa: B018 - the attribute access is the check
            return ImplStatus(name, True, str(getattr(tj, "__version__", "")),
                              "tj.taylor_adaptive(sys, ic) (tol = eps, compact_mode=None)")
        if name == HEYOKA:
            import heyoka as hy

            return ImplStatus(name, True, str(hy.__version__), "hy.taylor_adaptive(sys, ic) (tol = eps)")
        import scipy
        from scipy.integrate import solve_ivp  # noqa: F401

        return ImplStatus(name, True, scipy.__version__,
                          f"solve_ivp(method='DOP853', rtol=atol={SCIPY_TOL:g}), Python right-hand side")
    except ImportError:
        return ImplStatus(name, False, detail="not installed")
    except Exception as exc:  # noqa: BLE001
        detail = describe_error(exc)
        if name == TAYLORJIT:
            detail = f"taylorjit.taylor_adaptive unavailable: {detail}"
        return ImplStatus(name, False, detail=detail)


def _row(result: CaseResult, metric: str, label: str, impl: str, unit: str, raw: list[float] | None,
         error: str = "", note: str = "") -> Measurement:
    if raw is None or error:
        return result.add(Measurement(metric, impl, unit, label=label, error=error or "no result"))
    return result.add(Measurement(metric, impl, unit, raw=[float(v) for v in raw], label=label, note=note))


def _met(ok: bool | None, text: str) -> str:
    return f"{text}: n/a" if ok is None else f"{text}: {'met' if ok else 'MISSED'}"


def run_integrator_case(problem: OdeProblem, options: Options) -> CaseResult:
    """All metrics of one problem (see the module docstring)."""
    t_final = problem.t_final(options)
    ic = np.array(problem.ic, dtype=float)
    statuses = {TAYLORJIT: _status(TAYLORJIT), HEYOKA: _status(HEYOKA)}
    if problem.scipy_span is not None:
        statuses[SCIPY] = _status(SCIPY)
    impls = [n for n in statuses if n != SCIPY]
    if problem.heyoka_compact and statuses[HEYOKA].available:
        statuses[HEYOKA].detail = "hy.taylor_adaptive(sys, ic, compact_mode=True) (tol = eps)"
    result = CaseResult(
        case=f"taylor_{problem.key}",
        description=problem.description,
        params={
            "t_final": t_final,
            "dim": len(problem.ic),
            "tol": "machine epsilon (default)",
            "initial_state": list(problem.ic),
            "heyoka_compact_mode": problem.heyoka_compact,
            "scipy_span": problem.scipy_t(options),
            "diff_definition": "max_k |x_k - y_k| / max_k |y_k| over the state vector",
            **({"model_args": problem.model_args} if problem.model else {}),
            **problem.info,
        },
        implementations=list(statuses.values()),
    )
    unavailable = {n: s.detail for n, s in statuses.items() if not s.available}
    final: dict[str, np.ndarray] = {}
    steps: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="taylorjit-bench-ode-") as tmpdir:
        tmp = Path(tmpdir)
        built = {}
        for impl in impls:
            if impl in unavailable:
                continue
            options.log(f"[bench]   {impl}: construction (cold, then in a new process)")
            built[impl] = _build(impl, problem, options, tmp)
    # --- construction rows -------------------------------------------------------------------
    label_cold = "construction, cold (fresh disk cache)"
    label_disk = "construction in a new process (disk hit)"
    for impl in impls:
        b = built.get(impl)
        err = unavailable.get(impl, "") or (b.error if b else "")
        note = "; ".join(b.notes) if b else ""
        m = _row(result, "construct_cold", label_cold, impl, "s", b.cold if b else None, err, note)
        if m.ok:
            options.log(f"[bench]   {impl}: cold construction {1e3 * m.median:.1f} ms")
        d = _row(result, "construct_disk", label_disk, impl, "s", b.disk if b else None,
                 err or (b.disk_error if b else ""), note)
        if d.ok and m.ok:
            d.extra["% of cold"] = f"{100 * d.median / m.median:.1f}%"
            if impl == TAYLORJIT:
                d.extra["target"] = _met(d.median < 0.05 * m.median, "< 5% of cold")
        if impl == TAYLORJIT and b is not None and b.ta is not None:
            result.params["taylorjit_order"] = b.ta.order
            result.params["taylorjit_compact_mode"] = b.ta.compact_mode
            result.params["taylorjit_system"] = b.notes[0] if b.notes else ""
        if impl == HEYOKA and b is not None and b.ta is not None:
            result.params["heyoka_order"] = b.ta.order
    tj_cold, hy_cold = result.get("construct_cold", TAYLORJIT), result.get("construct_cold", HEYOKA)
    if tj_cold is not None and tj_cold.ok:
        ok = hy_cold.median >= tj_cold.median if hy_cold is not None and hy_cold.ok else None
        tj_cold.extra["target"] = _met(ok, "<= heyoka")
        if problem.key == "nbody20":
            tj_cold.extra["target"] += "; " + _met(tj_cold.median <= 1.0, "<= 1 s")

    # --- time per step, steps, final state ---------------------------------------------------
    cap = 10.0 if options.quick else 30.0
    for impl in impls:
        b = built.get(impl)
        if b is None or b.ta is None:
            err = unavailable.get(impl, "") or (b.error if b else "no integrator")
            _row(result, "step_time", "time per step", impl, "ns/step", None, err)
            _row(result, "nsteps", f"steps over [0, {t_final:g}]", impl, "steps", None, err)
            continue
        run = _reset_and_run(b.ta, ic, t_final)
        try:
            options.log(f"[bench]   {impl}: propagation over [0, {t_final:g}]")
            res = run()
            steps[impl] = int(res[3])
            final[impl] = np.array(b.ta.state, dtype=float)
            samples, note = _repeat(run, options, cap)
            note += f"; outcome {res[0].name}"
            _row(result, "step_time", "time per step", impl, "ns/step",
                 [s / steps[impl] * 1e9 for s in samples], note=note)
            _row(result, "nsteps", f"steps over [0, {t_final:g}]", impl, "steps", [steps[impl]])
            if not np.array_equal(np.array(b.ta.state, dtype=float), final[impl]):
                result.notes.append(f"{impl}: repeated propagations ended in different states")
        except Exception as exc:  # noqa: BLE001
            msg = f"propagation failed: {describe_error(exc)}"
            _row(result, "step_time", "time per step", impl, "ns/step", None, msg)
            _row(result, "nsteps", f"steps over [0, {t_final:g}]", impl, "steps", None, msg)
    tj_step, hy_step = result.get("step_time", TAYLORJIT), result.get("step_time", HEYOKA)
    if tj_step is not None and tj_step.ok:
        ok = tj_step.median <= hy_step.median if hy_step is not None and hy_step.ok else None
        tj_step.extra["target"] = _met(ok, "<= heyoka")
        options.log(f"[bench]   taylorjit: {tj_step.median:.4g} ns/step")
    if hy_step is not None and hy_step.ok:
        options.log(f"[bench]   heyoka: {hy_step.median:.4g} ns/step")
    tj_n = result.get("nsteps", TAYLORJIT)
    if tj_n is not None and tj_n.ok:
        ok = abs(steps[TAYLORJIT] / steps[HEYOKA] - 1) <= 0.02 if HEYOKA in steps else None
        tj_n.extra["target"] = _met(ok, "heyoka +-2%")

    label = f"final state vs heyoka at t = {t_final:g}" + (" (chaotic: rounding amplified)"
                                                            if problem.chaotic else "")
    if HEYOKA in final and TAYLORJIT in final:
        m = _row(result, "diff_heyoka", label, TAYLORJIT, "rel", [_normwise(final[TAYLORJIT], final[HEYOKA])])
        if not problem.chaotic:
            m.extra["target"] = _met(m.median <= 1e-12, "<= 1e-12")
    elif TAYLORJIT in final:
        _row(result, "diff_heyoka", label, TAYLORJIT, "rel", None,
             f"n/a: heyoka {unavailable.get(HEYOKA) or 'failed'}")

    # --- accuracy ----------------------------------------------------------------------------
    _accuracy(problem, t_final, final, result, options, unavailable)

    # --- scipy comparison ---------------------------------------------------------------------
    if problem.scipy_span is not None:
        _scipy_comparison(problem, built, result, options, unavailable, final)
    result.notes.append(
        "construction in a new process: a fresh Python process imports the library, builds the "
        "system, then times its first integrator construction against the directory the cold "
        "construction filled"
    )
    return result


def _reference_state(problem: OdeProblem, t: float) -> tuple[np.ndarray | None, str, str]:
    """``(state, label, error)`` of the reference solution at ``t``."""
    if problem.reference == "kepler":
        return _kepler_closed_form(t), "closed-form solution", ""
    if problem.reference == "lorenz_mp":
        return _lorenz_mp_reference(t, problem.ic), "Taylor method in mpmath (40 digits)", ""
    if problem.reference == "longdouble":
        try:
            return _longdouble_reference(problem, t), "heyoka in long double (tol 1e-19)", ""
        except ImportError:
            return None, "heyoka in long double", "n/a: heyoka not installed (reference)"
        except Exception as exc:  # noqa: BLE001
            return None, "heyoka in long double", f"n/a: reference failed: {describe_error(exc)}"
    return None, "", ""


def _ref_rows(problem: OdeProblem, metric: str, t: float, states: dict[str, np.ndarray],
              impls: list[str], result: CaseResult, unavailable: dict[str, str],
              failed: dict[str, str]) -> dict[str, float]:
    """Rows comparing each implementation's state at ``t`` with the reference; returns the
    errors."""
    ref, what, ref_err = _reference_state(problem, t)
    label = f"error at t = {t:g} vs {what}"
    errs: dict[str, float] = {}
    for impl in impls:
        if impl not in states:
            err = unavailable.get(impl) or failed.get(impl) or "no result"
            _row(result, metric, label, impl, "rel", None, err)
            continue
        if ref is None:
            _row(result, metric, label, impl, "rel", None, ref_err)
            continue
        errs[impl] = _normwise(states[impl], ref)
        m = _row(result, metric, label, impl, "rel", [errs[impl]])
        if problem.reference == "kepler":
            dr = float(np.linalg.norm(states[impl][:2] - ref[:2]) / np.linalg.norm(ref[:2]))
            m.extra["position error"] = f"{dr:.2e}"
            if impl == TAYLORJIT:
                m.extra["target"] = _met(dr <= 1e-12, "position <= 1e-12")
    return errs


def _accuracy(problem: OdeProblem, t_final: float, final: dict[str, np.ndarray], result: CaseResult,
              options: Options, unavailable: dict[str, str]) -> None:
    impls = [TAYLORJIT, HEYOKA]
    covered = problem.scipy_t(options) == t_final  # the scipy comparison shows the same errors
    if problem.reference and not problem.chaotic and not covered:
        options.log("[bench]   reference solution")
        _ref_rows(problem, "err_ref", t_final, final, impls, result, unavailable, {})
    if problem.invariant:
        e0 = _invariant(problem, np.array(problem.ic))
        name = "Jacobi constant" if problem.invariant == "jacobi" else "energy"
        label = f"relative {name} error at t = {t_final:g}"
        for impl in impls:
            if impl not in final:
                _row(result, "err_invariant", label, impl, "rel", None, unavailable.get(impl, "no result"))
            else:
                _row(result, "err_invariant", label, impl, "rel",
                     [float(abs(_invariant(problem, final[impl]) - e0) / abs(e0))])


def _scipy_comparison(problem: OdeProblem, built: dict[str, _Built], result: CaseResult,
                      options: Options, unavailable: dict[str, str], final: dict[str, np.ndarray]) -> None:
    span = float(problem.scipy_t(options))  # type: ignore[arg-type]
    ic = np.array(problem.ic, dtype=float)
    label_t = f"whole propagation over [0, {span:g}] (scipy comparison)"
    times: dict[str, float] = {}
    states: dict[str, np.ndarray] = {}
    failed: dict[str, str] = {}
    cap = 10.0 if options.quick else 30.0
    impls = [TAYLORJIT, HEYOKA, SCIPY]
    for impl in impls:
        if impl in unavailable:
            _row(result, "scipy_time", label_t, impl, "s", None, unavailable[impl])
            continue
        try:
            if impl == SCIPY:
                options.log(f"[bench]   scipy DOP853 over [0, {span:g}]")
                sol = _scipy_solve(problem, span)
                if not sol.success:
                    raise RuntimeError(sol.message)
                state = sol.y[:, -1].copy()
                fn: Callable[[], Any] = lambda: _scipy_solve(problem, span)  # noqa: E731
                extra = {"steps": f"{sol.t.size - 1:,} ({sol.nfev:,} rhs calls)"}
            else:
                b = built.get(impl)
                if b is None or b.ta is None:
                    raise RuntimeError(b.error if b else "no integrator")
                fn = _reset_and_run(b.ta, ic, span)
                res = fn()
                state = np.array(b.ta.state, dtype=float)
                extra = {"steps": f"{int(res[3]):,}"}
            samples, note = _repeat(fn, options, cap)
            m = _row(result, "scipy_time", label_t, impl, "s", samples, note=note)
            m.extra.update(extra)
            times[impl], states[impl] = m.median, state
        except Exception as exc:  # noqa: BLE001
            failed[impl] = f"failed: {describe_error(exc)}"
            _row(result, "scipy_time", label_t, impl, "s", None, failed[impl])
    options.log("[bench]   reference solution")
    errs = _ref_rows(problem, "scipy_err", span, states, impls, result, unavailable, failed)
    tj = result.get("scipy_time", TAYLORJIT)
    if tj is not None and tj.ok:
        ok = times[TAYLORJIT] * 100 <= times[SCIPY] if SCIPY in times else None
        tj.extra["target"] = _met(ok, ">= 100x faster than scipy")
    tje = result.get("scipy_err", TAYLORJIT)
    if tje is not None and tje.ok:
        ok = errs[TAYLORJIT] < errs[SCIPY] if SCIPY in errs else None
        text = _met(ok, "< scipy's error")
        tje.extra["target"] = f"{tje.extra['target']}; {text}" if "target" in tje.extra else text


# ---------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------


def taylor_pendulum(options: Options) -> CaseResult:
    """Integrator: pendulum (x0 = 1.3, t = 1000) vs heyoka and scipy DOP853."""
    return run_integrator_case(PROBLEMS["pendulum"], options)


def taylor_kepler(options: Options) -> CaseResult:
    """Integrator: Kepler e = 0.5, 100 orbits, vs closed form, heyoka and scipy DOP853."""
    return run_integrator_case(PROBLEMS["kepler"], options)


def taylor_lorenz(options: Options) -> CaseResult:
    """Integrator: Lorenz (t = 100) vs heyoka; scipy DOP853 over t = 10."""
    return run_integrator_case(PROBLEMS["lorenz"], options)


def taylor_outer_solar(options: Options) -> CaseResult:
    """Integrator: outer solar system 6-body, 10^4 years, vs heyoka (energy error)."""
    return run_integrator_case(PROBLEMS["outer_solar"], options)


def taylor_cr3bp(options: Options) -> CaseResult:
    """Integrator: CR3BP mu = 0.01, a stable periodic orbit, t = 200, vs heyoka."""
    return run_integrator_case(PROBLEMS["cr3bp"], options)


def taylor_nbody20(options: Options) -> CaseResult:
    """Integrator: 20-body planetary system vs heyoka compact mode."""
    return run_integrator_case(PROBLEMS["nbody20"], options)


#: The integrator cases, in run order (merged into ``benchmarks.cases.CASES``).
INTEGRATOR_CASES: dict[str, Callable[[Options], CaseResult]] = {
    "taylor_pendulum": taylor_pendulum,
    "taylor_kepler": taylor_kepler,
    "taylor_lorenz": taylor_lorenz,
    "taylor_outer_solar": taylor_outer_solar,
    "taylor_cr3bp": taylor_cr3bp,
    "taylor_nbody20": taylor_nbody20,
}
