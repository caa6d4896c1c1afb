"""Compile the accelerations of an N-body problem and evaluate them at a million configurations.

Run: python examples/cfunc_nbody.py [N]   (default N = 6)

Shows the workflow of tj.cfunc: build expressions once, compile once (the second run of this
script loads the machine code from the disk cache), then evaluate many points in one call.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import taylorjit as tj


def accelerations(n: int) -> tuple[list[tj.Expr], list[tj.Expr]]:
    """Newtonian accelerations of ``n`` bodies (G = 1, masses 1/(i+1)) and the position vars."""
    pos = [tj.make_vars(f"x{i}", f"y{i}", f"z{i}") for i in range(n)]
    masses = [1.0 / (i + 1) for i in range(n)]
    acc = []
    for i in range(n):
        total = [0, 0, 0]
        for j in range(n):
            if i != j:
                d = [pos[j][k] - pos[i][k] for k in range(3)]
                inv_r3 = masses[j] * tj.pow(tj.square(d[0]) + tj.square(d[1]) + tj.square(d[2]), -1.5)
                total = [total[k] + d[k] * inv_r3 for k in range(3)]
        acc.extend(total)
    return acc, [v for p in pos for v in p]


def main(n: int = 6) -> None:
    acc, variables = accelerations(n)
    start = time.perf_counter()
    cf = tj.cfunc(acc, vars=variables)
    print(f"{n} bodies: {len(acc)} outputs, compiled in {1e3 * (time.perf_counter() - start):.1f} ms"
          f" ({cf.compiled_from or 'cold compile'})")
    points = np.random.default_rng(1).uniform(-10, 10, (3 * n, 1_000_000))
    out = np.empty((len(acc), points.shape[1]))
    cf(points, outputs=out)
    start = time.perf_counter()
    cf(points, outputs=out)
    print(f"evaluated 10^6 configurations: {1e9 * (time.perf_counter() - start) / 1e6:.1f} ns each")
    # Momentum conservation: sum_i m_i a_i = 0 at every configuration.
    masses = np.repeat([1.0 / (i + 1) for i in range(n)], 3).reshape(n, 3)
    net = np.einsum("ik,ikp->kp", masses, out.reshape(n, 3, -1))
    scale = np.einsum("ik,ikp->kp", masses, np.abs(out.reshape(n, 3, -1)))
    print(f"max |sum m_i a_i| / sum |m_i a_i| = {np.max(np.abs(net) / scale):.1e}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 6)
