"""A ball bouncing on the floor: a terminal event whose callback changes the state.

Run: python examples/bouncing_ball.py [plot.png]   (default: bouncing_ball.png next to this script)

y' = v, v' = -g from height H. The terminal event y = 0 (direction negative: only on the way
down) stops the integration at each impact; its callback reverses the velocity and multiplies it
by the coefficient of restitution e, and returns True so that ``propagate_until`` goes on. The
event's cooldown keeps the ball, which is at y = 0 right after the bounce, from firing again at
once.

Closed form: the first impact at t_1 = sqrt(2H/g), then flights of 2 v_n / g with
v_n = e^n sqrt(2 g H), so t_{n+1} = t_n + 2 e^n sqrt(2H/g). The script checks every impact time
against it (relative error ~1e-15), plots the height with the impacts marked (from one
propagation's continuous output) and prints the worst error.
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

G, H, RESTITUTION = 9.81, 10.0, 0.9
N_BOUNCES = 30


def impact_times(n: int) -> np.ndarray:
    """The closed-form times of the first ``n`` impacts."""
    t = [np.sqrt(2 * H / G)]
    for k in range(1, n):
        t.append(t[-1] + 2 * RESTITUTION**k * np.sqrt(2 * H / G))
    return np.array(t)


def main(png: str) -> int:
    y, v = tj.make_vars("y", "v")
    impacts: list[float] = []

    def bounce(ta: tj.taylor_adaptive, d_sgn: int) -> bool:
        impacts.append(ta.time)
        ta.state[1] = -RESTITUTION * ta.state[1]
        return True  # go on integrating

    floor = tj.t_event(y, callback=bounce, direction=tj.event_direction.negative)
    ta = tj.taylor_adaptive([(y, v), (v, -G)], [H, 0.0], t_events=[floor])
    expected = impact_times(N_BOUNCES)
    t_end = expected[-1] + 0.5 * (expected[-1] - expected[-2])

    start = time.perf_counter()
    outcome, _, _, nsteps, c_out = ta.propagate_until(t_end, c_output=True)
    elapsed = time.perf_counter() - start
    print(f"{len(impacts)} bounces in {nsteps} steps, {1e3 * elapsed:.2f} ms; outcome {outcome.name}")

    got = np.array(impacts[:N_BOUNCES])
    rel = np.abs(got - expected[: len(got)]) / expected[: len(got)]
    for k in (0, 1, 2, len(got) - 1):
        print(f"  impact {k + 1:2d}: t = {got[k]:.15f}  closed form {expected[k]:.15f}  "
              f"rel. error {rel[k]:.1e}")
    worst = float(rel.max())
    print(f"worst relative error over {len(got)} impacts: {worst:.2e}")

    times = np.linspace(0.0, t_end, 4000)
    heights = c_out(times)[:, 0]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(times, heights, lw=1)
    ax.plot(got, np.zeros_like(got), "v", ms=4, label="impacts (terminal event)")
    ax.set_xlabel("t")
    ax.set_ylabel("height y")
    ax.set_title(f"Bouncing ball, restitution {RESTITUTION}: {len(got)} impacts, worst error {worst:.1e}")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    print(f"plot written to {png}")
    ok = len(got) == N_BOUNCES and worst < 1e-12 and heights.min() > -1e-9
    return 0 if ok else 1


if __name__ == "__main__":
    default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bouncing_ball.png")
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else default))
