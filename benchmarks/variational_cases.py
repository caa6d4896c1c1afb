"""Benchmark cases of sensitivities (``tj.var_ode_sys``) against heyoka.py's ``var_ode_sys``.

For the pendulum, the Kepler problem and the CR3BP (the systems and initial conditions of
``integrator_cases.py``), the variational equations with respect to the initial conditions at
orders 1, 2 and 3 (``--quick``: 1 and 2), both libraries in the same process, at tol = machine
epsilon:

* ``taylorjit``: ``tj.taylor_adaptive(tj.var_ode_sys(sys, tj.var_args.vars, order=k), ic)``
  (``compact_mode=None``: taylorjit chooses, compact above 150 operations);
* ``heyoka``: ``hy.taylor_adaptive(hy.var_ode_sys(sys, hy.var_args.vars, order=k), ic)`` with its
  default (unrolled) code, except where that takes minutes to build, which is then built with
  ``compact_mode=True`` (:data:`HEYOKA_COMPACT`; measured unrolled: Kepler order 2 10.5 s,
  order 3 121 s, CR3BP order 2 125 s). With ``--quick``, heyoka builds compact code wherever
  taylorjit does (CR3BP order 1 too: its unrolled build takes 4 s), to keep smoke runs short.

Metrics (rows; ``_o<k>`` is the order):

``construct_o<k>``
    ``var_ode_sys`` plus ``taylor_adaptive`` with the in-memory caches cleared and the disk cache
    pointed at a fresh directory (one untimed construction at another tolerance first
    initialises LLVM and taylorjit's runtime library).
``step_o<k>``
    ``(reset the full state and the time; propagate_until(T))`` timed ``timeit``-style after a
    warm-up, divided by the number of steps: ns per step.
``eval_map_o<k>``
    ``ta.eval_taylor_map(deltas)`` per call (us), deltas a float64 array.
``taylor_map_o<k>``
    ``ta.taylor_map()`` (the state as gduals) per call (us); taylorjit only.
``diff_heyoka_o<k>``
    After the propagation, ``max |x - y| / max |y|`` per derivative order (the worst order),
    taylorjit against heyoka.
``err_symplectic_o<k>``
    ``max |Phi^T J Phi - J| / max |Phi|^2`` of the order-1 block ``Phi`` (the state transition
    matrix of a Hamiltonian flow is symplectic): an accuracy check that needs no reference.

The case parameters record each library's decomposition size per order (operations, i.e.
without the state variables and outputs), and whether each built compact code.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
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
    integrator_libraries,
    time_calls,
    time_once,
)
from .integrator_cases import PROBLEMS, build_system

__all__ = ["VARIATIONAL_CASES", "HEYOKA_COMPACT"]

HEYOKA = "heyoka"
#: (problem, order) where heyoka is built in compact mode: its unrolled construction takes
#: minutes there (and more than 10 s from Kepler order 2 on).
HEYOKA_COMPACT = {("kepler", 2), ("kepler", 3), ("cr3bp", 2), ("cr3bp", 3)}
#: Final time of the timed propagation (full, --quick).
SPANS = {"pendulum": (100.0, 10.0), "kepler": (20 * np.pi, 2 * np.pi), "cr3bp": (20.0, 2.0)}
#: Canonical pairs (q, p) of the state, for the symplectic check (CR3BP: heyoka's momenta).
_CANONICAL = {"pendulum": [(0, 1)], "kepler": [(0, 2), (1, 3)], "cr3bp": [(0, 3), (1, 4), (2, 5)]}
_WARMUP_TOL = 1e-12


def _construct(lib: Any, impl: str, sys_: list, ic: list[float], order: int, compact: bool,
               tol: float | None = None) -> Any:
    kwargs: dict[str, Any] = {} if tol is None else {"tol": tol}
    if impl == HEYOKA:
        kwargs["compact_mode"] = compact
    return lib.taylor_adaptive(lib.var_ode_sys(sys_, lib.var_args.vars, order=order), ic, **kwargs)


def _operations(ta: Any, impl: str) -> int:
    if impl == TAYLORJIT:
        return len(ta.decomposition.calls)
    return len(ta.decomposition) - 2 * len(ta.state)  # heyoka lists variables and outputs too


def _symplectic_error(ta: Any, key: str) -> float:
    n = ta.n_orig_sv
    phi = np.array(ta.state[ta.get_vslice(order=1)], dtype=float).reshape(n, n)
    J = np.zeros((n, n))
    for q, p in _CANONICAL[key]:
        J[q, p], J[p, q] = 1.0, -1.0
    return float(np.max(np.abs(phi.T @ J @ phi - J)) / np.max(np.abs(phi)) ** 2)


def _row(result: CaseResult, metric: str, label: str, impl: str, unit: str,
         raw: list[float] | None, error: str = "", note: str = "") -> Measurement:
    if raw is None or error:
        return result.add(Measurement(metric, impl, unit, label=label, error=error or "no result"))
    return result.add(Measurement(metric, impl, unit, raw=[float(r) for r in raw], label=label,
                                  note=note))


def _per_call_us(fn: Callable[[], Any], options: Options) -> tuple[list[float], str]:
    samples, number = time_calls(fn, repeat=options.nrepeat, min_time=options.sample_time)
    return [s * 1e6 for s in samples], f"{number} call(s) per sample"


def _met(ok: bool | None, text: str) -> str:
    return f"{text}: n/a" if ok is None else f"{text}: {'met' if ok else 'MISSED'}"


def run_variational_case(key: str, options: Options) -> CaseResult:
    """Every metric of one problem at orders 1-3 (see the module docstring)."""
    problem = PROBLEMS[key]
    libs = integrator_libraries()
    statuses = [ImplStatus(TAYLORJIT, True, str(libs[TAYLORJIT].__version__),
                           "tj.taylor_adaptive(tj.var_ode_sys(sys, vars, order), ic)")]
    statuses.append(ImplStatus(HEYOKA, True, str(libs[HEYOKA].__version__),
                               "hy.taylor_adaptive(hy.var_ode_sys(sys, vars, order), ic); compact "
                               "where its unrolled build takes minutes")
                    if HEYOKA in libs else ImplStatus(HEYOKA, False, detail="not installed"))
    orders = (1, 2) if options.quick else (1, 2, 3)
    t_final = SPANS[key][1 if options.quick else 0]
    ic = list(problem.ic)
    result = CaseResult(
        case=f"var_{key}",
        description=f"sensitivities w.r.t. the initial conditions, orders {orders}: "
                    f"{problem.description.split(',')[0]}, propagated over [0, {t_final:g}]",
        params={"t_final": t_final, "orders": list(orders), "tol": "machine epsilon",
                "initial_state": ic,
                **({"model_args": problem.model_args} if problem.model else {})},
        implementations=statuses)
    impls = [TAYLORJIT] + ([HEYOKA] if HEYOKA in libs else [])
    systems: dict[str, list] = {}
    for impl in impls:
        systems[impl], source = build_system(problem, impl)
        result.params[f"{impl}_system"] = source
    deltas = np.full(len(ic), 1e-3)
    with tempfile.TemporaryDirectory(prefix="taylorjit-bench-var-") as tmpdir:
        tmp = Path(tmpdir)
        for impl in impls:  # LLVM and the runtime library, untimed (another order: other code)
            with fresh_caches(impl, tmp / f"{impl}-warmup"):
                _construct(libs[impl], impl, systems[impl], ic, 1, True, tol=_WARMUP_TOL)
        for order in orders:
            built: dict[str, Any] = {}
            for impl in impls:
                options.log(f"[bench]   {impl}: order {order}, construction")
                d = tmp / f"{impl}-o{order}"
                shutil.copytree(tmp / f"{impl}-warmup", d)
                keep: list[Any] = []
                ours = built.get(TAYLORJIT)
                compact = ((key, order) in HEYOKA_COMPACT if not options.quick
                           else ours is None or bool(ours.compact_mode))
                try:
                    with fresh_caches(impl, d):
                        seconds = time_once(lambda impl=impl, order=order, compact=compact: _construct(
                            libs[impl], impl, systems[impl], ic, order, compact), keep)
                    built[impl] = keep[-1]
                    ta = keep[-1]
                    result.params[f"{impl}_operations_o{order}"] = _operations(ta, impl)
                    result.params[f"{impl}_compact_o{order}"] = bool(ta.compact_mode)
                    _row(result, f"construct_o{order}", f"order {order}: construction, cold", impl,
                         "s", [seconds], note=f"dim {len(ta.state)}, "
                         f"{_operations(ta, impl)} operations, "
                         f"{'compact' if ta.compact_mode else 'unrolled'}")
                except Exception as exc:  # noqa: BLE001
                    _row(result, f"construct_o{order}", f"order {order}: construction, cold", impl,
                         "s", None, f"construction failed: {describe_error(exc)}")
            _measure_order(result, key, order, built, t_final, deltas, options)
    _targets(result, orders)
    kinds = ["construct", "step", "eval_map", "taylor_map", "diff_heyoka", "err_symplectic"]
    result.measurements.sort(key=lambda m: (m.metric.rsplit("_o", 1)[1],
                                            kinds.index(m.metric.rsplit("_o", 1)[0]),
                                            m.impl != TAYLORJIT))
    result.notes.append("targets (issue 6): construction and time per step <= heyoka's; "
                        "eval_taylor_map and taylor_map <= 3 us per call")
    return result


def _measure_order(result: CaseResult, key: str, order: int, built: dict[str, Any], t_final: float,
                   deltas: np.ndarray, options: Options) -> None:
    finals: dict[str, np.ndarray] = {}
    cap = 10.0 if options.quick else 30.0
    for impl, ta in built.items():
        start = np.array(ta.state, dtype=float)

        def run(ta: Any = ta, start: np.ndarray = start) -> Any:
            ta.state[:] = start
            ta.time = 0.0
            return ta.propagate_until(t_final)

        try:
            options.log(f"[bench]   {impl}: order {order}, propagation")
            nsteps = int(run()[3])
            finals[impl] = np.array(ta.state, dtype=float)
            first = time_once(run)
            if first * (options.nrepeat + 2) <= cap:
                samples, number = time_calls(run, repeat=options.nrepeat,
                                             min_time=options.sample_time, warmup=0)
                note = f"{number} call(s) per sample, {nsteps} steps"
            else:
                samples, note = [first], f"one propagation ({first:.2g} s), {nsteps} steps"
            _row(result, f"step_o{order}", f"order {order}: time per step", impl, "ns/step",
                 [s / nsteps * 1e9 for s in samples], note=note)
            samples, note = _per_call_us(lambda ta=ta: ta.eval_taylor_map(deltas), options)
            _row(result, f"eval_map_o{order}", f"order {order}: eval_taylor_map", impl, "us/call",
                 samples, note=note)
            if impl == TAYLORJIT:
                samples, note = _per_call_us(ta.taylor_map, options)
                _row(result, f"taylor_map_o{order}", f"order {order}: taylor_map() (gduals)", impl,
                     "us/call", samples, note=note)
            _row(result, f"err_symplectic_o{order}", f"order {order}: symplecticity of the STM",
                 impl, "rel", [_symplectic_error(ta, key)])
        except Exception as exc:  # noqa: BLE001
            _row(result, f"step_o{order}", f"order {order}: time per step", impl, "ns/step", None,
                 f"propagation failed: {describe_error(exc)}")
    if TAYLORJIT in finals and HEYOKA in finals:
        ta = built[TAYLORJIT]
        worst = 0.0
        for k in range(order + 1):
            block = ta.get_vslice(order=k)
            a, b = finals[TAYLORJIT][block], finals[HEYOKA][block]
            worst = max(worst, float(np.max(np.abs(a - b)) / np.max(np.abs(b))))
        _row(result, f"diff_heyoka_o{order}", f"order {order}: final state vs heyoka (worst order)",
             TAYLORJIT, "rel", [worst])


def _targets(result: CaseResult, orders: tuple[int, ...]) -> None:
    for order in orders:
        for metric in (f"construct_o{order}", f"step_o{order}"):
            ours, theirs = result.get(metric, TAYLORJIT), result.get(metric, HEYOKA)
            if ours is not None and ours.ok:
                ok = ours.median <= theirs.median if theirs is not None and theirs.ok else None
                ours.extra["target"] = _met(ok, "<= heyoka")
        for metric in (f"eval_map_o{order}", f"taylor_map_o{order}"):
            ours = result.get(metric, TAYLORJIT)
            if ours is not None and ours.ok:
                ours.extra["target"] = _met(ours.median <= 3.0, "<= 3 us")


def var_pendulum(options: Options) -> CaseResult:
    """Sensitivities: pendulum, orders 1-3, construction / step / Taylor map vs heyoka."""
    return run_variational_case("pendulum", options)


def var_kepler(options: Options) -> CaseResult:
    """Sensitivities: Kepler e = 0.5, orders 1-3, vs heyoka."""
    return run_variational_case("kepler", options)


def var_cr3bp(options: Options) -> CaseResult:
    """Sensitivities: CR3BP mu = 0.01, orders 1-3, vs heyoka."""
    return run_variational_case("cr3bp", options)


#: The sensitivity cases, in run order (merged into ``benchmarks.cases.CASES``).
VARIATIONAL_CASES: dict[str, Callable[[Options], CaseResult]] = {
    "var_pendulum": var_pendulum,
    "var_kepler": var_kepler,
    "var_cr3bp": var_cr3bp,
}
