"""A Poincaré section of the Hénon-Heiles system, from a non-terminal event.

Run: python examples/poincare_section.py [plot.png]   (default: poincare_section.png here)

H = (px^2 + py^2)/2 + (x^2 + y^2)/2 + x^2 y - y^3/3. Each orbit at energy E = 1/8 is integrated
to t = 2000 with the non-terminal event x = 0, direction positive: at each crossing the
callback evaluates the step's dense output at the event time (``ta.update_d_output(t)``) and
records (y, py). Regular orbits draw closed curves, chaotic ones fill a region: the classic
picture of Hénon & Heiles (1964).

Checks: at every recorded point x is zero to within what the event time's last bit allows
(|x| <= 2 ulp(max(t, 1)) |px|: the time is an absolute double, up to 2000 here), and the energy equals E
to 1e-12 (an independent invariant: the section points lie on the energy surface).
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

ENERGY = 1.0 / 8.0
T_END = 2000.0
#: Initial (y, py) on the section x = 0; px follows from the energy.
STARTS = [(y0, py0) for y0 in (-0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.4) for py0 in (0.0, 0.15)]


def energy(s: np.ndarray) -> np.ndarray:
    x, y, px, py = s[:, 0], s[:, 1], s[:, 2], s[:, 3]
    return 0.5 * (px**2 + py**2) + 0.5 * (x**2 + y**2) + x**2 * y - y**3 / 3


def main(png: str) -> int:
    x, y, px, py = tj.make_vars("x", "y", "px", "py")
    system = [(x, px), (y, py), (px, -x - 2 * x * y), (py, -y - x**2 + y**2)]
    points: list[np.ndarray] = []

    def record(ta: tj.taylor_adaptive, t: float, d_sgn: int) -> None:
        points.append(np.append(ta.update_d_output(t), np.spacing(max(abs(t), 1.0))))

    section = tj.nt_event(x, record, direction=tj.event_direction.positive)
    ta = tj.taylor_adaptive(system, [0.0, 0.0, 0.1, 0.0], nt_events=[section])

    fig, ax = plt.subplots(figsize=(6, 6))
    total_steps, total_points, start = 0, 0, time.perf_counter()
    worst_x, worst_energy = 0.0, 0.0
    for y0, py0 in STARTS:
        px2 = 2 * ENERGY - py0**2 - y0**2 + 2 * y0**3 / 3
        if px2 <= 0:
            continue  # not on this energy surface
        points.clear()
        ta.state[:] = [0.0, y0, np.sqrt(px2), py0]
        ta.time = 0.0
        outcome, _, _, nsteps, _ = ta.propagate_until(T_END)
        pts = np.array(points)
        total_steps += nsteps
        total_points += len(pts)
        # |x| in units of what one ulp of the event time moves it (|px| ulp(t)).
        worst_x = max(worst_x, float(np.max(np.abs(pts[:, 0]) / (pts[:, 2] * pts[:, 4]))))
        worst_energy = max(worst_energy, float(np.abs(energy(pts) - ENERGY).max() / ENERGY))
        ax.plot(pts[:, 1], pts[:, 3], ".", ms=1.2)
    elapsed = time.perf_counter() - start
    print(f"{total_points} section points from {total_steps} steps in {elapsed:.2f} s "
          f"({1e6 * elapsed / total_steps:.2f} us per step, callbacks included)")
    print(f"largest |x| at the section points: {worst_x:.2f} ulp(t) |px|; largest relative "
          f"energy error: {worst_energy:.1e}")
    ax.set_xlabel("y")
    ax.set_ylabel("p_y")
    ax.set_title(f"Hénon-Heiles, E = 1/8: section x = 0, p_x > 0 ({total_points} points)")
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    print(f"plot written to {png}")
    return 0 if worst_x <= 2.0 and worst_energy < 1e-12 else 1


if __name__ == "__main__":
    default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "poincare_section.png")
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else default))
