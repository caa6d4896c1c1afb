"""Integrate a simple pendulum, check its period and its energy, and plot the angle over time.

Run: python examples/pendulum.py [plot.png]   (default: pendulum.png next to this script)

The pendulum x'' = -sin(x) (g/l = 1) starts at rest at x0 = 1.3 rad, a large amplitude where the
small-angle period 2 pi is off by 12 %. The script checks the numerical solution against the exact
period 4 K(sin^2(x0/2)) (a complete elliptic integral, from mpmath) and measures how well the
energy v^2/2 - cos(x) is conserved over 10^4 periods with high_accuracy=True, at the default
tolerance and below machine epsilon.
"""

from __future__ import annotations

import math
import os
import sys
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mpmath  # noqa: E402
import numpy as np  # noqa: E402

import taylorjit as tj  # noqa: E402

X0 = 1.3


def energy(state: np.ndarray) -> np.ndarray:
    """v^2/2 - cos(x), evaluated in long double (so that its own rounding stays below 1e-17)."""
    s = np.asarray(state, dtype=np.longdouble)
    return s[..., 1] ** 2 / 2 - np.cos(s[..., 0])


def main(png: str) -> int:
    x, v = tj.make_vars("x", "v")
    system = [(x, v), (v, -tj.sin(x))]

    start = time.perf_counter()
    ta = tj.taylor_adaptive(system, [X0, 0.0], high_accuracy=True)
    print(f"built the integrator in {1e3 * (time.perf_counter() - start):.1f} ms "
          f"(order {ta.order}, {ta.compiled_from or 'compiled now'})")
    print(ta.decomposition)

    # The exact period: T = 4 K(m), m = sin^2(x0 / 2) (mpmath's ellipk takes the parameter m).
    period = float(4 * mpmath.ellipk(mpmath.sin(mpmath.mpf(X0) / 2) ** 2))
    print(f"\nexact period 4 K(sin^2(x0/2)) = {period:.15f} (small-angle formula: {2 * math.pi:.6f})")

    # A few states over the first period, from the dense output (steps are not shortened).
    grid = np.linspace(0.0, period, 9)
    _, _, _, nsteps, states = ta.propagate_grid(grid)
    print(f"\none period in {nsteps} steps:")
    print("      t           x                  v")
    for t, (xi, vi) in zip(grid, states, strict=True):
        print(f"  {t:8.5f}  {xi:+.15f}  {vi:+.15f}")
    back = float(np.max(np.abs(states[-1] - [X0, 0.0])))
    print(f"after one exact period the state is back to (x0, 0) within {back:.1e}")

    # Energy over 10^4 periods, sampled once per period. At the default tolerance the truncation
    # error of each step dominates; below machine epsilon (as in heyoka.py's tutorials) the
    # rounding error that high_accuracy keeps small is what remains.
    grid = period * np.arange(10_001)
    drifts, steps = {}, {}
    for label, tol in (("tol = eps (default)", None), ("tol = 1e-18", 1e-18)):
        tb = tj.taylor_adaptive(system, [X0, 0.0], high_accuracy=True, tol=tol)
        start = time.perf_counter()
        _, _, _, nsteps, states = tb.propagate_grid(grid)
        elapsed = time.perf_counter() - start
        drift = np.abs((energy(states) - energy(states[0])) / energy(states[0])).astype(float)
        drifts[label], steps[label] = drift, nsteps
        print(f"\n10^4 periods (t = {grid[-1]:.0f}), high_accuracy=True, {label}, order {tb.order}: "
              f"{nsteps:,} steps in {1e3 * elapsed:.1f} ms ({1e9 * elapsed / nsteps:.0f} ns per step)")
        print(f"  max relative energy error: {drift.max():.2e}; "
              f"max |x(k T) - x0|: {float(np.max(np.abs(states[:, 0] - X0))):.2e}")
    period_error = float(np.max(np.abs(states[:, 0] - X0)))

    # The plot: the angle over the first five periods, against the small-angle solution.
    ta.state[:] = [X0, 0.0]
    ta.time = 0.0
    fine = np.linspace(0.0, 5 * period, 1001)
    _, _, _, _, states = ta.propagate_grid(fine)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=False)
    ax1.plot(fine, states[:, 0], label="x(t), taylorjit")
    ax1.plot(fine, X0 * np.cos(fine), "--", lw=0.8, label="small-angle approximation")
    ax1.set_xlabel("t")
    ax1.set_ylabel("angle x (rad)")
    ax1.legend(loc="lower left")
    ax1.set_title(f"pendulum x'' = -sin x, x0 = {X0}, period {period:.6f}")
    for label, drift in drifts.items():
        ax2.semilogy(grid[1:] / period, np.maximum(drift[1:], 1e-18), lw=0.6, label=label)
    ax2.legend(loc="lower right")
    ax2.set_xlabel("periods")
    ax2.set_ylabel("|relative energy error|")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    print(f"\nplot written to {png}")

    # Below machine epsilon what remains is rounding, a random walk of about one rounding per
    # step (Brouwer's law): its scale is eps sqrt(N) (1.1e-13 here; measured 1.1e-14).
    default, fine_tol = drifts["tol = eps (default)"].max(), drifts["tol = 1e-18"].max()
    walk = float(np.finfo(float).eps) * math.sqrt(steps["tol = 1e-18"])
    ok = (back < 1e-13 and default < 1e-12 and fine_tol < walk and fine_tol < default / 5
          and period_error < 1e-10)
    print("checks:", "ok" if ok else "FAILED",
          "(state after one period within 1e-13; energy drift over 10^4 periods < 1e-12 at the "
          f"default tolerance, and at tol = 1e-18 below eps sqrt(N) = {walk:.1e} and a fifth of "
          "the default's; x(kT) = x0 within 1e-10)")
    return 0 if ok else 1


if __name__ == "__main__":
    default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pendulum.png")
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else default))
