"""The Lorenz attractor, sampled densely from one propagation's continuous output.

Run: python examples/lorenz.py [plot.png]   (default: lorenz.png next to this script)

x' = 10 (y - x), y' = x (28 - z) - y, z' = x y - 8/3 z from (1, 1, 1) over t = 100 with
propagate_until(..., c_output=True): the Taylor polynomials of every step are kept, so the
trajectory can be evaluated at any time of the span afterwards (here at 40 000 times) without
integrating again or shortening steps. The script checks the continuous output against the
step-end states of the propagation and against a second integration sampled by
propagate_grid, and that the trajectory stays inside the attractor's known bounds.
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

SIGMA, RHO, BETA = 10.0, 28.0, 8.0 / 3.0
IC = [1.0, 1.0, 1.0]
T_END = 100.0


def main(png: str) -> int:
    x, y, z = tj.make_vars("x", "y", "z")
    system = [(x, SIGMA * (y - x)), (y, x * (RHO - z) - y), (z, x * y - BETA * z)]
    start = time.perf_counter()
    ta = tj.taylor_adaptive(system, IC)
    print(f"built the integrator in {1e3 * (time.perf_counter() - start):.1f} ms (order {ta.order}, "
          f"{ta.compiled_from or 'compiled now'})")

    start = time.perf_counter()
    outcome, min_h, max_h, nsteps, c_out = ta.propagate_until(T_END, c_output=True)
    elapsed = time.perf_counter() - start
    print(f"t = 0 -> {T_END:g}: {nsteps:,} steps (h from {min_h:.4f} to {max_h:.4f}) in "
          f"{1e3 * elapsed:.2f} ms with continuous output, {outcome.name}")
    print(f"continuous output: {c_out.n_steps:,} steps over {c_out.bounds}")

    # Dense sampling of the whole span: one call, vectorised over the times.
    times = np.linspace(0.0, T_END, 40_001)
    start = time.perf_counter()
    traj = c_out(times)
    print(f"sampled {len(times):,} states in {1e3 * (time.perf_counter() - start):.1f} ms")
    for t in (0.0, 1.0, 10.0, 50.0, 100.0):
        xs, ys, zs = c_out(t)
        print(f"  t = {t:5.1f}:  x = {xs:+.12f}  y = {ys:+.12f}  z = {zs:+.12f}")

    # Check 1: at the end of the span the continuous output is the final state.
    end_gap = float(np.max(np.abs(c_out(T_END) - ta.state)))
    # Check 2: a second integration sampled by propagate_grid at some of the same times (its own
    # dense output) agrees with c_output while rounding differences are not yet amplified by the
    # chaos (t <= 10: the largest Lyapunov exponent is about 0.9).
    tb = tj.taylor_adaptive(system, IC)
    early = times[times <= 10.0][::100]
    _, _, _, _, grid_states = tb.propagate_grid(early)
    grid_gap = float(np.max(np.abs(grid_states - c_out(early))) / np.max(np.abs(grid_states)))
    # Check 3: the attractor is bounded (|x| < 20, |y| < 28, 0 < z < 50 after the transient).
    bounded = bool(np.all(np.abs(traj[:, 0]) < 20) and np.all(np.abs(traj[:, 1]) < 28)
                   and np.all(traj[times > 1.0, 2] > 0) and np.all(traj[:, 2] < 50))
    print(f"\n|c_output(T) - final state| = {end_gap:.1e}")
    print(f"c_output vs a second integration's propagate_grid on t <= 10: max rel. diff {grid_gap:.1e}")
    print(f"trajectory within the attractor's bounds: {bounded}")

    fig = plt.figure(figsize=(11, 5))
    ax = fig.add_subplot(1, 2, 1, projection="3d")
    ax.plot(traj[:, 0], traj[:, 1], traj[:, 2], lw=0.3)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_zlabel("z")
    ax.set_title(f"Lorenz attractor, t in [0, {T_END:g}]")
    ax2 = fig.add_subplot(1, 2, 2)
    ax2.plot(traj[:, 0], traj[:, 2], lw=0.3)
    ax2.plot(c_out.tcs[:, 0, 0], c_out.tcs[:, 2, 0], ".", ms=1.5, color="C3",
             label=f"step starts ({c_out.n_steps:,})")
    ax2.set_xlabel("x")
    ax2.set_ylabel("z")
    ax2.set_title(f"x-z projection: {len(times):,} samples of c_output")
    ax2.legend(loc="upper right", markerscale=4)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    print(f"plot written to {png}")

    ok = end_gap < 1e-12 * np.max(np.abs(ta.state)) and grid_gap < 1e-10 and bounded
    print("checks:", "ok" if ok else "FAILED",
          "(c_output ends at the final state; matches propagate_grid on t <= 10; bounded)")
    return 0 if ok else 1


if __name__ == "__main__":
    default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lorenz.png")
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else default))
