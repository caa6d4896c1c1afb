"""``python -m taylorjit``: a short tour of what taylorjit does; ``python -m taylorjit bench``.

The tour builds expressions, differentiates them, expands them in Taylor series with the
primitive table's recurrences, round-trips them through sympy, compiles them to native code and
takes every derivative of a Python function with generalized dual numbers, checking each result
against an independent reference as it goes. It finishes in seconds.
"""

from __future__ import annotations

import sys
import time


def tour() -> int:
    """Run the demonstration; return a process exit code (non-zero if a check fails)."""
    import math

    import numpy as np

    import taylorjit as tj
    from taylorjit._primitives.series import taylor_coefficients

    failures = 0

    def check(label: str, ok: bool) -> None:
        nonlocal failures
        failures += not ok
        print(f"  [{'ok' if ok else 'FAILED'}] {label}")

    print("taylorjit: forward-mode truncated Taylor series, JIT-compiled with LLVM\n")

    print("1. Expressions are an immutable, hash-consed DAG")
    x, y = tj.make_vars("x", "y")
    f = tj.exp(tj.sin(x * y)) / (1 + x**2) + tj.kepE(0.3, y) * tj.par[0]
    print(f"   f = {f}")
    check("equal subexpressions are one object: sin(x*y) is sin(x*y)",
          tj.sin(x * y) is tj.sin(x * y))

    print("\n2. Symbolic derivatives, memoised over the DAG")
    dfdx = tj.diff(f, x)
    print(f"   df/dx = {dfdx}")
    sx, sy, sp0 = (tj.to_sympy(v) for v in (x, y, tj.par[0]))
    import sympy

    sym_f = tj.to_sympy(f)
    point = {sx: sympy.Rational(3, 10), sy: sympy.Rational(1, 2), sp0: 2}
    exact = float(sympy.diff(sym_f, sx).subs(point).evalf(30))
    ours = float(tj.to_sympy(dfdx).subs(point).evalf(30))
    check(f"df/dx at (0.3, 0.5) equals sympy's: {ours:.15f}", abs(ours - exact) < 1e-14)

    print("\n3. Taylor coefficients from the primitive table's recurrences")
    g = tj.exp(tj.sin(x)) / (1 + x**2)
    coeffs = taylor_coefficients([g], {x: 0.25}, 12)[0]
    import mpmath

    with mpmath.workdps(40):  # independent reference: mpmath's high-precision Taylor expansion
        g_mp = sympy.lambdify(sx, tj.to_sympy(g), "mpmath")
        ref_coeffs = np.array([float(c) for c in mpmath.taylor(g_mp, mpmath.mpf(1) / 4, 12)])
    print(f"   exp(sin(x))/(1+x^2) at x = 0.25, orders 0..4: {np.array2string(coeffs[:5], precision=6)}")
    check("12 orders agree with mpmath's to 1e-13",
          bool(np.allclose(coeffs, ref_coeffs, rtol=1e-13, atol=1e-15)))

    print("\n4. sympy round trip")
    back = tj.from_sympy(sym_f)
    check(f"to_sympy(from_sympy(s)) == s for s = {sym_f}", tj.to_sympy(back) == sym_f)

    print("\n5. JIT compilation to native code (llvmlite), SIMD and threads")
    start = time.perf_counter()
    cf = tj.cfunc([f, dfdx], vars=[x, y])
    compile_s = time.perf_counter() - start
    pts = np.random.default_rng(0).uniform(-1, 1, size=(2, 1_000_000))
    out = np.empty((2, pts.shape[1]))
    cf(pts, pars=[2.0], outputs=out)
    start = time.perf_counter()
    cf(pts, pars=[2.0], outputs=out)
    run_s = time.perf_counter() - start
    xv, yv = pts[:, :100_000]
    numpy_f = np.exp(np.sin(xv * yv)) / (1 + xv**2) + tj.kepE(0.3, yv) * 2.0
    err = float(np.max(np.abs(out[0, :100_000] - numpy_f) / np.maximum(1.0, np.abs(numpy_f))))
    print(f"   compiled in {compile_s * 1e3:.1f} ms ({cf.compiled_from or 'cold'}), "
          f"{run_s / pts.shape[1] * 1e9:.1f} ns per point over 10^6 points "
          f"(SIMD width {cf.batch_size})")
    check(f"agrees with numpy to {err:.1e} relative", err < 1e-14)

    print("\n6. Generalized dual numbers: every derivative of ordinary Python code")
    gx, gy = tj.gdual(0.3, "x", 6), tj.gdual(0.5, "y", 6)
    result = tj.exp(tj.sin(gx * gy)) / (1 + gx**2)
    indices, values = result.derivatives()
    exact_g = sympy.exp(sympy.sin(sx * sy)) / (1 + sx**2)
    worst = 0.0
    for (i, j), value in zip(indices.tolist(), values, strict=True):
        ref = float(sympy.diff(exact_g, sx, i, sy, j).subs({sx: sympy.Rational(3, 10),
                                                            sy: sympy.Rational(1, 2)}))
        worst = max(worst, abs(value - ref) / max(1.0, abs(ref)))
    print(f"   {len(values)} derivatives of exp(sin(x*y))/(1+x^2) up to order 6, e.g. "
          f"d^3f/dx^2dy = {result.get_derivative({'dx': 2, 'dy': 1}):.12f}")
    check(f"all {len(values)} agree with sympy's exact derivatives to {worst:.1e}", worst < 1e-12)

    print("\n7. Adaptive Taylor integration: native propagation loop, dense output")
    px, py, vx, vy = tj.make_vars("x", "y", "vx", "vy")
    inv_r3 = (px**2 + py**2) ** -1.5
    kepler = [(px, vx), (py, vy), (vx, -px * inv_r3), (vy, -py * inv_r3)]
    ecc = 0.5
    start = [1 - ecc, 0.0, 0.0, math.sqrt((1 + ecc) / (1 - ecc))]  # pericentre, period 2 pi
    ta = tj.taylor_adaptive(kepler, start, high_accuracy=True)
    outcome, _, _, nsteps, c_out = ta.propagate_until(20 * math.pi, c_output=True)
    drift = float(np.max(np.abs(ta.state - start)))
    print(f"   Kepler orbit, e = {ecc}: 10 periods in {nsteps} steps of order {ta.order} "
          f"({outcome.name})")
    check(f"back at the pericentre after 10 periods to {drift:.1e}", drift < 1e-11)
    # Apocentre half a period later, from the dense output: x = -(1 + e), y = 0.
    apo = c_out(math.pi)
    check(f"dense output at t = pi gives the apocentre to {abs(apo[0] + 1 + ecc):.1e}",
          abs(apo[0] + 1 + ecc) < 1e-12 and abs(apo[1]) < 1e-12)

    print("\n8. Events: zeros of a function of the state, found on each step's Taylor polynomial")
    peri: list[float] = []
    # r.v = 0 increasing: the pericentre passages (one per period 2 pi).
    passage = tj.nt_event(px * vx + py * vy, lambda ta, t, d_sgn: peri.append(t),
                          direction=tj.event_direction.positive)
    ta = tj.taylor_adaptive(kepler, [-(1 + ecc), 0.0, 0.0, -math.sqrt((1 - ecc) / (1 + ecc))],
                            nt_events=[passage])  # starts at the apocentre
    ta.propagate_until(20 * math.pi)
    expected = [math.pi * (2 * k + 1) for k in range(10)]
    worst = max((abs(a - b) / b for a, b in zip(peri, expected, strict=False)), default=math.inf)
    print(f"   Kepler, e = {ecc}: {len(peri)} pericentre passages in 10 periods, the first at "
          f"t = {peri[0] if peri else math.nan:.15f}")
    check(f"passages at odd multiples of pi to {worst:.1e} relative", len(peri) == 10 and worst < 1e-13)

    print("\n" + ("all checks passed" if not failures else f"{failures} check(s) FAILED"))
    return 1 if failures else 0


def main(argv: list[str]) -> int:
    """Entry point: ``python -m taylorjit [bench [case ...] [--quick]]``."""
    if argv and argv[0] == "bench":
        try:
            from benchmarks.harness import main as bench_main
        except ImportError as err:
            print(f"the benchmark suite lives in the source checkout's benchmarks/ folder; run "
                  f"this from the repository root ({err})", file=sys.stderr)
            return 2
        return bench_main(argv[1:])
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if argv:
        print(f"unknown command {argv[0]!r}; usage: python -m taylorjit [bench [case ...]]",
              file=sys.stderr)
        return 2
    return tour()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
