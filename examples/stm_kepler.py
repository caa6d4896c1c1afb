"""The state transition matrix of a Kepler orbit, from the variational equations.

Run: python examples/stm_kepler.py

The planar Kepler problem (mu = 1) on an orbit with a = 1, e = 0.5, started at the pericentre.
``tj.var_ode_sys(sys, tj.var_args.vars)`` adds the 16 equations of d x(t) / d x(0); the
integrator seeds them with the identity. After half a period the script prints the state
transition matrix (STM), compares it with central finite differences of plain integrations and
with the closed-form solution (Kepler's equation in mpmath, differentiated at 50 digits), checks
that it is symplectic (the flow of a Hamiltonian system), and reads the same matrix from the
Taylor map as gduals.
"""

from __future__ import annotations

import math
import sys
import time

import mpmath as mp
import numpy as np

import taylorjit as tj

E = 0.5
X0 = [1 - E, 0.0, 0.0, math.sqrt((1 + E) / (1 - E))]  # pericentre, a = 1 (period 2 pi)
T = math.pi  # half a period: the apocentre


def kepler_system() -> list:
    x, y, vx, vy = tj.make_vars("x", "y", "vx", "vy")
    irm3 = (x * x + y * y) ** -1.5
    return [(x, vx), (y, vy), (vx, -x * irm3), (vy, -y * irm3)]


def closed_form(state: list, t: float) -> list:
    """The Kepler flow from ``state`` over ``t`` (orbital elements, Kepler's equation), at the
    current mpmath precision."""
    X, Y, VX, VY = state
    r0 = mp.sqrt(X * X + Y * Y)
    v2, rv, h = VX * VX + VY * VY, X * VX + Y * VY, X * VY - Y * VX
    a = 1 / (2 / r0 - v2)
    ex, ey = (v2 - 1 / r0) * X - rv * VX, (v2 - 1 / r0) * Y - rv * VY
    e, om = mp.sqrt(ex * ex + ey * ey), mp.atan2(ey, ex)
    E0 = mp.atan2(rv / (e * mp.sqrt(a)), (1 - r0 / a) / e)
    M = E0 - e * mp.sin(E0) + a**-1.5 * t
    ecc = mp.findroot(lambda u: u - e * mp.sin(u) - M, M)
    s, b = mp.sign(h), a * mp.sqrt(1 - e * e)
    edot = a**-1.5 / (1 - e * mp.cos(ecc))
    xp, yp = a * (mp.cos(ecc) - e), s * b * mp.sin(ecc)
    vxp, vyp = -a * mp.sin(ecc) * edot, s * b * mp.cos(ecc) * edot
    c, sn = mp.cos(om), mp.sin(om)
    return [c * xp - sn * yp, sn * xp + c * yp, c * vxp - sn * vyp, sn * vxp + c * vyp]


def closed_form_stm(t: float) -> np.ndarray:
    with mp.workdps(50):
        x0 = [mp.mpf(c) for c in X0]
        h = mp.mpf("1e-20")
        stm = np.empty((4, 4))
        for k in range(4):
            plus, minus = list(x0), list(x0)
            plus[k] += h
            minus[k] -= h
            stm[:, k] = [float((p - q) / (2 * h))
                         for p, q in zip(closed_form(plus, t), closed_form(minus, t), strict=True)]
        return stm


def finite_difference_stm(system: list, t: float, h: float = 1e-6) -> np.ndarray:
    plain = tj.taylor_adaptive(system, X0)
    stm = np.empty((4, 4))
    for k in range(4):
        ends = []
        for sign in (1.0, -1.0):
            start = np.array(X0)
            start[k] += sign * h
            plain.state[:] = start
            plain.time = 0.0
            plain.propagate_until(t)
            ends.append(plain.state.copy())
        stm[:, k] = (ends[0] - ends[1]) / (2 * h)
    return stm


def main() -> int:
    system = kepler_system()
    vsys = tj.var_ode_sys(system, tj.var_args.vars)
    print(vsys)
    for lhs, rhs in vsys.sys[4:6]:
        print(f"  d{lhs.name}/dt = {rhs}")
    start = time.perf_counter()
    ta = tj.taylor_adaptive(vsys, X0)  # 4 values: the STM starts as the identity
    print(f"integrator of {ta.dim} equations built in {1e3 * (time.perf_counter() - start):.0f} ms "
          f"({len(ta.decomposition.calls)} operations)")
    outcome, *_, nsteps, _ = ta.propagate_until(T)
    stm = ta.state[ta.get_vslice(order=1)].reshape(4, 4)  # row i: d x_i / d (x, y, vx, vy)(0)
    np.set_printoptions(precision=12, suppress=True, linewidth=110)
    print(f"\nat t = pi ({nsteps} steps, {outcome.name}), state {ta.state[:4]}")
    print("state transition matrix d x(t) / d x(0):")
    print(stm)

    fd = finite_difference_stm(system, T)
    ref = closed_form_stm(T)
    err_fd = float(np.max(np.abs(stm - fd)) / np.max(np.abs(stm)))
    err_ref = float(np.max(np.abs(stm - ref)) / np.max(np.abs(ref)))
    J = np.array([[0, 0, 1, 0], [0, 0, 0, 1], [-1, 0, 0, 0], [0, -1, 0, 0]])
    symplectic = float(np.max(np.abs(stm.T @ J @ stm - J)))
    print(f"\nvs central finite differences (h = 1e-6): {err_fd:.1e} (relative, max entry)")
    print(f"vs the closed form (mpmath, 50 digits):    {err_ref:.1e}")
    print(f"symplecticity |Phi^T J Phi - J|:           {symplectic:.1e}; det = {np.linalg.det(stm):.15f}")

    maps = ta.taylor_map()  # the same map as gduals in the deviations dx, dy, dvx, dvy
    names = ["dx", "dy", "dvx", "dvy"]
    from_gduals = np.array([[g.get_derivative({n: 1}) for n in names] for g in maps])
    print(f"from ta.taylor_map(): {maps[2]}")
    ok = err_fd < 1e-7 and err_ref < 1e-11 and symplectic < 1e-12 and np.array_equal(from_gduals, stm)
    print("checks:", "ok" if ok else "FAILED",
          "(finite differences within 1e-7, the closed form within 1e-11, symplectic within 1e-12, "
          "the gduals' first derivatives equal to the STM)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
