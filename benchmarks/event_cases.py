"""Benchmark cases of events (``tj.t_event``, ``tj.nt_event``) against heyoka.py.

Each case integrates the same system with and without the event, in the same process, for
taylorjit and heyoka, at tol = machine epsilon:

``event_never``
    The pendulum (x0 = 1.3, t = 1000) with a non-terminal event that never fires
    (``v - 10``: |v| stays below 1.3). The issue's target: the event costs <= 20 % extra time
    per step, and taylorjit's time with the event <= heyoka's with the same event.
``event_poincare``
    Hénon-Heiles at E = 1/8 over t = 2000 with the section event x = 0, direction positive
    (322 crossings): the cost of events that fire, callbacks included (each appends the time).

Metrics: ``time_with_event`` and ``time_without_event`` (whole propagation, median of
``timeit``-style samples), ``step_time_with_event`` (ns per step), ``event_overhead`` (time
per step with the event / without, each library against itself), ``nsteps`` and, for the
Poincaré case, ``event_times_vs_heyoka`` (largest difference of the event times).

heyoka takes fewer steps with an event on the pendulum (its step size reads the event
function's Taylor coefficients as well, and ``v - 10`` raises the estimated magnitude of the
state), so the comparison is made both per step and per propagation.

Accuracy rows: the final state with the event against the one without (a non-terminal event
that only reads the state must not change the trajectory: taylorjit's step sizes read the event
rows with their own magnitude, see ``driver.step_size_text``), and the event times against
heyoka's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .harness import (
    TAYLORJIT,
    CaseResult,
    ImplStatus,
    Measurement,
    Options,
    describe_error,
    integrator_libraries,
    time_calls,
)

__all__ = ["EVENT_CASES"]

HEYOKA = "heyoka"
_ENERGY = 1.0 / 8.0
_HH_IC = [0.0, 0.1, math.sqrt(2 * _ENERGY - 0.01 + 2e-3 / 3), 0.0]


def _pendulum(lib: Any, with_event: bool, hits: list[float]) -> tuple[Any, list[float]]:
    x, v = lib.make_vars("x", "v")
    events = [lib.nt_event(v - 10.0, lambda ta, t, d: hits.append(t))] if with_event else []
    return lib.taylor_adaptive([(x, v), (v, -lib.sin(x))], [1.3, 0.0], nt_events=events), [1.3, 0.0]


def _henon_heiles(lib: Any, with_event: bool, hits: list[float]) -> tuple[Any, list[float]]:
    x, y, px, py = lib.make_vars("x", "y", "px", "py")
    system = [(x, px), (y, py), (px, -x - 2 * x * y), (py, -y - x**2 + y**2)]
    events = ([lib.nt_event(x, lambda ta, t, d: hits.append(t), direction=lib.event_direction.positive)]
              if with_event else [])
    return lib.taylor_adaptive(system, _HH_IC, nt_events=events), _HH_IC


def _run_event_case(name: str, description: str, build: Callable[..., tuple[Any, list[float]]],
                    t_final: float, options: Options) -> CaseResult:
    libs = integrator_libraries()
    statuses = [ImplStatus(TAYLORJIT, True, str(libs[TAYLORJIT].__version__), "tj.taylor_adaptive")]
    statuses.append(ImplStatus(HEYOKA, True, str(libs[HEYOKA].__version__), "hy.taylor_adaptive")
                    if HEYOKA in libs else ImplStatus(HEYOKA, False, detail="not installed"))
    result = CaseResult(case=name, description=description,
                        params={"t_final": t_final, "tol": "machine epsilon"}, implementations=statuses)
    if t_final > 100 and options.quick:
        t_final /= 10
        result.params["t_final"] = t_final
    times: dict[str, list[float]] = {}
    for impl, lib in libs.items():
        per_variant: dict[bool, tuple[list[float], int]] = {}
        finals: dict[bool, np.ndarray] = {}
        try:
            for with_event in (False, True):
                hits: list[float] = []
                ta, ic = build(lib, with_event, hits)

                def run(ta: Any = ta, ic: list[float] = ic, hits: list[float] = hits) -> Any:
                    hits.clear()
                    ta.state[:] = ic
                    ta.time = 0.0
                    return ta.propagate_until(t_final)

                nsteps = int(run()[3])
                finals[with_event] = np.array(ta.state, dtype=float)
                samples, _ = time_calls(run, repeat=options.nrepeat, min_time=options.sample_time)
                per_variant[with_event] = (samples, nsteps)
                if with_event:
                    times[impl] = list(hits)
        except Exception as exc:  # noqa: BLE001
            result.add(Measurement("time_with_event", impl, "s", error=describe_error(exc)))
            continue
        (plain, n_plain), (with_ev, n_ev) = per_variant[False], per_variant[True]
        result.add(Measurement("time_without_event", impl, "s", raw=plain, label="propagation, no event"))
        result.add(Measurement("time_with_event", impl, "s", raw=with_ev, label="propagation with the event",
                               note=f"{len(times[impl])} event(s)"))
        result.add(Measurement("step_time_with_event", impl, "ns/step", raw=[s / n_ev * 1e9 for s in with_ev],
                               label="time per step with the event"))
        overhead = result.add(Measurement(
            "event_overhead", impl, "ratio",
            raw=[(w / n_ev) / float(np.median(plain) / n_plain) for w in with_ev],
            label="time per step with / without the event"))
        if impl == TAYLORJIT and name == "event_never":
            overhead.extra["target"] = f"<= 1.2: {'met' if overhead.median <= 1.2 else 'MISSED'}"
        result.add(Measurement("nsteps", impl, "steps", raw=[n_ev], label="steps with the event",
                               note=f"{n_plain} without"))
        if impl == TAYLORJIT:  # non-terminal events must leave the trajectory as it was
            diff = float(np.max(np.abs(finals[True] - finals[False])) / np.max(np.abs(finals[False])))
            result.add(Measurement("state_vs_no_event", impl, "rel", raw=[diff],
                                   label="final state with / without the event"))
    tj_t, hy_t = result.get("time_with_event", TAYLORJIT), result.get("time_with_event", HEYOKA)
    if tj_t is not None and tj_t.ok and hy_t is not None and hy_t.ok and name == "event_never":
        tj_t.extra["target"] = f"<= heyoka: {'met' if tj_t.median <= hy_t.median else 'MISSED'}"
    if TAYLORJIT in times and HEYOKA in times and times[HEYOKA]:
        a, b = np.array(times[TAYLORJIT]), np.array(times[HEYOKA])
        if len(a) == len(b):
            result.add(Measurement("event_times_vs_heyoka", TAYLORJIT, "rel",
                                   raw=[float(np.max(np.abs(a - b)) / np.max(np.abs(b)))],
                                   label="event times vs heyoka (largest difference / largest time)"))
        else:
            result.notes.append(f"event counts differ: taylorjit {len(a)}, heyoka {len(b)}")
    return result


def event_never(options: Options) -> CaseResult:
    """Events: pendulum with a non-terminal event that never fires, vs heyoka."""
    return _run_event_case("event_never",
                           "Pendulum (x0 = 1.3, t = 1000), nt_event v - 10 (never fires)",
                           _pendulum, 1000.0, options)


def event_poincare(options: Options) -> CaseResult:
    """Events: Hénon-Heiles Poincaré section (an event that fires), vs heyoka."""
    return _run_event_case("event_poincare",
                           "Hénon-Heiles E = 1/8, t = 2000, nt_event x = 0 direction positive",
                           _henon_heiles, 2000.0, options)


#: The event cases, in run order (merged into ``benchmarks.cases.CASES``).
EVENT_CASES: dict[str, Callable[[Options], CaseResult]] = {
    "event_never": event_never,
    "event_poincare": event_poincare,
}
