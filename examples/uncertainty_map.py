"""Propagate a cloud of 10^4 uncertain initial conditions with the Taylor map of the flow.

Run: python examples/uncertainty_map.py [plot.png]   (default: uncertainty_map.png next to this
script)

A Kepler orbit (a = 1, e = 0.5, from the pericentre) whose initial state is known to about
1e-4: 10^4 initial conditions drawn around it (Gaussian, sigma = 1e-4 in each coordinate). One
integration of the variational equations up to order 4 gives the Taylor map of the flow over a
full period: ``ta.taylor_map()``, four gduals in the deviations (dx, dy, dvx, dvy). Truncated to
orders 1, 2, 3, 4 and compiled (``tj.compile_map``), each map moves the whole cloud at once; the
script compares every order with 10^4 direct integrations and plots the error of each order
against the size of the deviation: order k errs like |delta|^(k+1).
"""

from __future__ import annotations

import math
import os
import sys
import time

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import taylorjit as tj  # noqa: E402

E, SIGMA, NPOINTS, ORDER = 0.5, 1e-4, 10_000, 4
X0 = np.array([1 - E, 0.0, 0.0, math.sqrt((1 + E) / (1 - E))])
T = 2 * math.pi
SYMBOLS = ["dx", "dy", "dvx", "dvy"]  # the deviations, in the state's order


def kepler_system() -> list:
    x, y, vx, vy = tj.make_vars("x", "y", "vx", "vy")
    irm3 = (x * x + y * y) ** -1.5
    return [(x, vx), (y, vy), (vx, -x * irm3), (vy, -y * irm3)]


def truncated(g: tj.gdual, order: int) -> tj.gdual:
    """The terms of ``g`` of degree at most ``order``."""
    return sum((g.extract_terms(d) for d in range(1, order + 1)), g.extract_terms(0))


def main(png: str) -> int:
    system = kepler_system()
    rng = np.random.default_rng(20261124)
    deltas = rng.normal(0.0, SIGMA, size=(4, NPOINTS))

    start = time.perf_counter()
    ta = tj.taylor_adaptive(tj.var_ode_sys(system, tj.var_args.vars, ORDER), X0)
    built = time.perf_counter() - start
    start = time.perf_counter()
    ta.propagate_until(T)
    print(f"variational equations to order {ORDER}: {ta.dim} equations "
          f"({len(ta.decomposition.calls)} operations, compact mode {ta.compact_mode}), built in "
          f"{built:.2f} s, one period integrated in {1e3 * (time.perf_counter() - start):.1f} ms")
    maps = ta.taylor_map()

    # Direct integration of every initial condition (the reference).
    plain = tj.taylor_adaptive(system, X0)
    start = time.perf_counter()
    direct = np.empty((4, NPOINTS))
    for p in range(NPOINTS):
        plain.state[:] = X0 + deltas[:, p]
        plain.time = 0.0
        plain.propagate_until(T)
        direct[:, p] = plain.state
    print(f"{NPOINTS} direct integrations: {time.perf_counter() - start:.2f} s")

    size = np.linalg.norm(deltas, axis=0)
    errors = {}
    for k in range(1, ORDER + 1):
        cf = tj.compile_map([truncated(g, k) for g in maps], SYMBOLS)
        start = time.perf_counter()
        mapped = cf(deltas)
        elapsed = time.perf_counter() - start
        errors[k] = np.linalg.norm(mapped - direct, axis=0)
        print(f"order {k}: the cloud through the map in {1e3 * elapsed:.2f} ms; position+velocity "
              f"error median {np.median(errors[k]):.1e}, max {errors[k].max():.1e}")
    # The order-4 map through eval_taylor_map, on a few points: the same values.
    same = max(float(np.max(np.abs(ta.eval_taylor_map(np.ascontiguousarray(deltas[:, p]))
                                   - cf(np.ascontiguousarray(deltas[:, p])))))
               for p in range(100))
    print(f"eval_taylor_map vs the compiled order-{ORDER} map (100 points): {same:.1e}")

    fig, ax = plt.subplots(figsize=(7, 5))
    for k, err in errors.items():
        ax.loglog(size, np.maximum(err, 1e-17), ".", ms=1.5, alpha=0.5, label=f"order {k}")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("|delta x(0)|")
    ax.set_ylabel("|Taylor map - direct integration| at t = 2 pi")
    ax.set_title(f"Kepler e = {E}: {NPOINTS} initial conditions, sigma = {SIGMA:g}")
    ax.legend(markerscale=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    print(f"plot written to {png}")

    medians = [float(np.median(errors[k])) for k in range(1, ORDER + 1)]
    slopes = [np.polyfit(np.log(size), np.log(np.maximum(errors[k], 1e-300)), 1)[0]
              for k in range(1, ORDER)]
    ok = (all(a > 10 * b for a, b in zip(medians, medians[1:], strict=False)) and same < 1e-13
          and all(abs(s - (k + 1)) < 0.5 for k, s in enumerate(slopes, start=1)))
    print("slopes of log(error) against log(|delta|), orders 1-3: "
          + ", ".join(f"{s:.2f}" for s in slopes))
    print("checks:", "ok" if ok else "FAILED",
          "(each order at least 10x more accurate than the one below; error slopes k + 1 within "
          "0.5; eval_taylor_map equal to the compiled map)")
    return 0 if ok else 1


if __name__ == "__main__":
    default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "uncertainty_map.png")
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else default))
