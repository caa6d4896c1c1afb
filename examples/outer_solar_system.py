"""Energy conservation in the outer solar system over 10^5 years (Brouwer's law, measured).

Run: python examples/outer_solar_system.py [plot.png]   (default: outer_solar_system.png here)

The Sun, Jupiter, Saturn, Uranus, Neptune and Pluto as six mutually attracting point masses (AU,
solar masses, years of 365 days; initial conditions of heyoka.py's tutorial "Brouwer's law in the
outer Solar System"). As in that tutorial, the integrator runs below machine epsilon (tol = 1e-18)
with high_accuracy=True, over a small ensemble of initial conditions perturbed by 1e-12
(relative), and the relative energy error is sampled on a logarithmic time grid. The script fits
the growth exponent p of the root-mean-square error, err ~ t^p, and prints it: p = 1/2 is
Brouwer's law (round-off as a random walk), p = 1 a systematic drift.
"""

from __future__ import annotations

import os
import sys
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import taylorjit as tj  # noqa: E402

MASSES, G, IC = tj.model.outer_solar_system()  # Sun to Pluto: AU, solar masses, years
YEARS = 1.0e5
RUNS = 6


def nbody(masses: np.ndarray, gconst: float) -> list:
    """Newton's equations for ``len(masses)`` bodies, state ``x, y, z, vx, vy, vz`` per body."""
    n = len(masses)
    names = [f"{c}_{i}" for i in range(n) for c in ("x", "y", "z", "vx", "vy", "vz")]
    v = tj.make_vars(*names)
    pos = [v[6 * i: 6 * i + 3] for i in range(n)]
    acc: list[list] = [[0.0] * 3 for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            d = [pos[j][k] - pos[i][k] for k in range(3)]
            inv_r3 = (d[0] ** 2 + d[1] ** 2 + d[2] ** 2) ** -1.5
            for k in range(3):
                acc[i][k] = acc[i][k] + d[k] * (gconst * masses[j] * inv_r3)
                acc[j][k] = acc[j][k] - d[k] * (gconst * masses[i] * inv_r3)
    system = []
    for i in range(n):
        system += [(pos[i][k], v[6 * i + 3 + k]) for k in range(3)]
        system += [(v[6 * i + 3 + k], acc[i][k]) for k in range(3)]
    return system


def energy(states: np.ndarray) -> np.ndarray:
    """Total energy of each state (rows), in long double so that its rounding stays below the
    integration error."""
    s = np.asarray(states, dtype=np.longdouble).reshape(len(states), len(MASSES), 6)
    m = MASSES.astype(np.longdouble)
    kinetic = np.sum(m * np.sum(s[:, :, 3:] ** 2, axis=2), axis=1) / 2
    potential = np.zeros(len(states), dtype=np.longdouble)
    for i in range(len(m)):
        for j in range(i + 1, len(m)):
            r = np.sqrt(np.sum((s[:, i, :3] - s[:, j, :3]) ** 2, axis=1))
            potential -= np.longdouble(G) * m[i] * m[j] / r
    return kinetic + potential


def perturbed(rng: np.random.Generator) -> np.ndarray:
    """The initial state perturbed by 1e-12 (relative), moved back to the barycentric frame."""
    s = (IC + np.abs(IC) * rng.uniform(-1e-12, 1e-12, IC.shape)).reshape(len(MASSES), 6)
    s -= (MASSES[:, None] * s).sum(axis=0) / MASSES.sum()
    return s.ravel()


def main(png: str) -> int:
    start = time.perf_counter()
    ta = tj.taylor_adaptive(nbody(MASSES, G), IC, tol=1e-18, high_accuracy=True)
    print(f"built the integrator in {time.perf_counter() - start:.2f} s (order {ta.order}, "
          f"{len(ta.decomposition.calls)} operations, compact_mode={ta.compact_mode}, "
          f"{ta.compiled_from or 'compiled now'})")

    grid = np.concatenate([[0.0], np.logspace(0, np.log10(YEARS), 300)])
    rng = np.random.default_rng(42)
    errors = []
    for run in range(RUNS):
        ta.state[:] = perturbed(rng)
        ta.time = 0.0
        e0 = energy(ta.state[None, :])[0]
        start = time.perf_counter()
        outcome, _, _, nsteps, states = ta.propagate_grid(grid)
        elapsed = time.perf_counter() - start
        errors.append(np.abs((energy(states) - e0) / e0).astype(float))
        print(f"run {run + 1}/{RUNS}: {YEARS:.0e} years in {nsteps:,} steps, {elapsed:.2f} s "
              f"({1e6 * elapsed / nsteps:.1f} us per step), {outcome.name}; "
              f"final |dE/E| = {errors[-1][-1]:.2e}")
    err = np.array(errors)[:, 1:]
    t = grid[1:]
    rms = np.sqrt(np.mean(err**2, axis=0))

    # Growth exponent: least squares of log(rms) against log(t) over the last three decades.
    sel = t >= YEARS / 1e3
    p, c = np.polyfit(np.log10(t[sel]), np.log10(rms[sel]), 1)
    print(f"\nRMS relative energy error: {rms[np.searchsorted(t, 1e3)]:.2e} at 10^3 years, "
          f"{rms[-1]:.2e} at {YEARS:.0e} years (max over the runs {err[:, -1].max():.2e})")
    if 0.3 <= p <= 0.7:
        verdict = "consistent with Brouwer's law (p = 1/2)"
    elif p > 0.7:
        verdict = "faster than Brouwer's law: closer to a linear drift (p = 1)"
    else:
        verdict = "slower than sqrt(t): the error has not left its initial level"
    print(f"fitted growth over [{YEARS / 1e3:.0e}, {YEARS:.0e}] years: err ~ t^{p:.2f}, {verdict}")

    fig, ax = plt.subplots(figsize=(8, 5))
    for e in err:
        ax.loglog(t, np.maximum(e, 1e-19), color="0.75", lw=0.5)
    ax.loglog(t, rms, color="C0", lw=2, label=f"RMS over {RUNS} runs")
    ax.loglog(t[sel], 10**c * t[sel] ** p, "C3-", lw=1, label=f"fit: t^{p:.2f}")
    ax.loglog(t, rms[-1] * np.sqrt(t / t[-1]), "k--", lw=0.8, label="sqrt(t) (Brouwer)")
    ax.loglog(t, rms[-1] * t / t[-1], "k:", lw=0.8, label="t")
    ax.set_ylim(1e-19, 1e-12)
    ax.set_xlabel("time (years)")
    ax.set_ylabel("|relative energy error|")
    ax.set_title("outer solar system, tol = 1e-18, high_accuracy=True")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    print(f"plot written to {png}")

    ok = bool(np.isfinite(err).all() and err.max() < 1e-12)
    print("checks:", "ok" if ok else "FAILED", "(every run reached 10^5 years with a relative "
          "energy error below 1e-12)")
    return 0 if ok else 1


if __name__ == "__main__":
    default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "outer_solar_system.png")
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else default))
