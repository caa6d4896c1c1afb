"""Benchmark cases: the ``CASES`` registry and the implementations compared.

Each case is a function ``case(options) -> CaseResult`` registered in
:data:`CASES`.  The two ``cfunc_*`` cases share :func:`run_cfunc_case`, which
compares, for one :class:`~benchmarks.problems.Problem`:

* ``taylorjit``: ``tj.cfunc(outs, vars=vars)``, called as ``cf(X, outputs=Y)``;
* ``heyoka``: ``hy.cfunc(outs, vars)`` (default options), ``cf(X, outputs=Y)``;
* ``numpy``: the generator evaluated directly on the rows of ``X``;
* ``sympy``: ``sympy.lambdify(vars, outs, "numpy")`` (lambdify time is its
  "compile" time).

Metrics (rows of the table):

``compile_cold``
    ``cfunc`` construction with an empty in-memory cache and a fresh, empty
    disk-cache directory (taylorjit, heyoka); ``lambdify`` time (sympy).
``compile_disk``
    ``cfunc`` construction after clearing the in-memory cache only, with the
    directory filled by the preceding cold compile (a disk-cache hit).
``throughput``
    Batch evaluation over ``N`` points, inputs of shape ``(nvars, N)``, in
    ns per point (median of ``timeit``-style samples after a warm-up call).
``err_numpy``
    Relative error vs numpy at all ``N`` points (see :func:`normwise_error`).
``err_mpmath``
    Relative error vs an mpmath reference at the first ``mp_points`` points.

The ``gdual_*`` cases (generalized dual numbers against DACE and GTPSA) live in
:mod:`benchmarks.gdual_cases` and are merged into :data:`CASES`; so are the ``taylor_*``
cases (the adaptive Taylor integrator against heyoka and scipy), from
:mod:`benchmarks.integrator_cases`.

Adding a case: write a problem in :mod:`benchmarks.problems` (or any function
returning a :class:`~benchmarks.harness.CaseResult`) and register a function
in :data:`CASES`; see ``benchmarks/README.md``.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from .event_cases import EVENT_CASES
from .gdual_cases import GDUAL_CASES
from .harness import (
    TAYLORJIT,
    CaseResult,
    ImplStatus,
    Measurement,
    Options,
    Unavailable,
    describe_error,
    taylorjit_cache_dir,
    time_calls,
    time_once,
)
from .integrator_cases import INTEGRATOR_CASES
from .problems import (
    NBODY6,
    NBODY20,
    RANDOM_EXPR,
    Namespace,
    Problem,
    heyoka_namespace,
    mpmath_namespace,
    numpy_namespace,
    sympy_namespace,
    taylorjit_namespace,
)
from .variational_cases import VARIATIONAL_CASES

__all__ = ["CASES", "run_cfunc_case", "normwise_error", "JitBackend"]

#: Row order of the metrics, with their table labels and units.
METRICS: dict[str, tuple[str, str]] = {
    "compile_cold": ("compile, cold (no caches)", "s"),
    "compile_disk": ("compile, disk-cache hit", "s"),
    "throughput": ("evaluation throughput", "ns/point"),
    "err_numpy": ("max rel. error vs numpy (all points)", "rel"),
    "err_mpmath": ("max rel. error vs mpmath (subsample)", "rel"),
}
#: Row order of the implementations.
IMPLS = (TAYLORJIT, "heyoka", "numpy", "sympy")
#: Metrics each implementation has.
IMPL_METRICS: dict[str, tuple[str, ...]] = {
    TAYLORJIT: ("compile_cold", "compile_disk", "throughput", "err_numpy", "err_mpmath"),
    "heyoka": ("compile_cold", "compile_disk", "throughput", "err_numpy", "err_mpmath"),
    "numpy": ("throughput", "err_mpmath"),
    "sympy": ("compile_cold", "throughput", "err_numpy", "err_mpmath"),
}


# ---------------------------------------------------------------------------
# Accuracy
# ---------------------------------------------------------------------------


def normwise_error(values: np.ndarray, reference: np.ndarray) -> float:
    """Largest per-output normwise relative error.

    For each output component ``k``:
    ``max_p |v[k, p] - r[k, p]| / max_p |r[k, p]|`` over the points ``p``;
    the result is the maximum over ``k``.  Normalising by the output's
    scale (not by each value) keeps the number meaningful where an output
    crosses zero, while any wrong value still shows up at its own scale.

    Parameters
    ----------
    values : ndarray, shape (nouts, npoints)
        Values to check.
    reference : ndarray, shape (nouts, npoints)
        Reference values (float64, or object array of ``mpf``).

    Returns
    -------
    float
        The error (``inf`` if a value is not finite where the reference is,
        ``nan`` if shapes differ).
    """
    values = np.asarray(values)
    reference = np.asarray(reference)
    if values.shape != reference.shape:
        return float("nan")
    if not np.all(np.isfinite(values.astype(np.float64))):
        return float("inf")
    worst = 0.0
    for v, r in zip(values, reference, strict=True):
        scale = max(abs(x) for x in r)
        diff = max(abs(_mp_or_float(a, b) - b) for a, b in zip(v, r, strict=True))
        worst = max(worst, float(diff / scale) if scale != 0 else float(diff))
    return worst


def _mp_or_float(a: Any, b: Any) -> Any:
    """Convert ``a`` to ``b``'s type (``mpf`` or float) for the subtraction."""
    if isinstance(b, (float, np.floating)):
        return float(a)
    return type(b)(float(a))


def _normwise_error_np(values: np.ndarray, reference: np.ndarray) -> float:
    """Vectorised :func:`normwise_error` for float64 arrays."""
    if values.shape != reference.shape:
        return float("nan")
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(values - reference).max(axis=1)
        scale = np.abs(reference).max(axis=1)
        err = np.where(scale > 0, diff / np.where(scale > 0, scale, 1.0), diff)
    if not np.all(np.isfinite(err)):
        return float("inf")
    return float(err.max())


def _mp_reference(problem: Problem, inputs: np.ndarray, dps: int) -> np.ndarray:
    """Outputs at every column of ``inputs``, computed with mpmath (object array)."""
    import mpmath

    ns = mpmath_namespace()
    cols = []
    with mpmath.workdps(dps):
        for p in range(inputs.shape[1]):
            vals = [mpmath.mpf(float(v)) for v in inputs[:, p]]
            cols.append(problem.evaluate(ns, vals))
    ref = np.empty((len(cols[0]), len(cols)), dtype=object)
    for p, col in enumerate(cols):
        for k, v in enumerate(col):
            ref[k, p] = v
    return ref


# ---------------------------------------------------------------------------
# JIT backends (taylorjit, heyoka)
# ---------------------------------------------------------------------------


@dataclass
class JitBackend:
    """How to compile, call and control the caches of a JIT library.

    Attributes
    ----------
    name : str
        Implementation name.
    version : str
        Library version.
    ns : Namespace
        Namespace used to build the expressions.
    compile : callable
        ``compile(outs, vars) -> compiled``.
    call : callable
        ``call(compiled, inputs, outputs)``, fills ``outputs`` in place.
    clear_memory : callable
        Empties the in-memory cache of compiled code.
    cache_dir : callable
        ``cache_dir(path)`` context manager that points the disk cache at
        ``path`` (enabled) and restores the previous settings on exit.
    detail : str
        How the library is called (shown in the table).
    disk_hits : callable or None
        Returns the library's count of disk-cache hits so far (used to check
        that the ``compile_disk`` timings really were disk hits), or None.
    """

    name: str
    version: str
    ns: Namespace
    compile: Callable[[list[Any], list[Any]], Any]
    call: Callable[[Any, np.ndarray, np.ndarray], Any]
    clear_memory: Callable[[], None]
    cache_dir: Callable[[Path], contextlib.AbstractContextManager[None]]
    detail: str = ""
    disk_hits: Callable[[], int | None] | None = None


def load_taylorjit() -> JitBackend:
    """Return the taylorjit backend.

    Returns
    -------
    JitBackend
        Compiles with ``tj.cfunc(outs, vars=vars)``.

    Raises
    ------
    Unavailable
        ``"taylorjit.cfunc unavailable: <error>"`` when taylorjit or its
        ``cfunc`` cannot be imported.
    """
    try:
        import taylorjit as tj

        cfunc = tj.cfunc
        ns = taylorjit_namespace()
    except Exception as exc:  # noqa: BLE001 - any failure means unavailable
        raise Unavailable(f"taylorjit.cfunc unavailable: {describe_error(exc)}") from exc

    def clear_memory() -> None:
        from taylorjit._jit.context import jit_context

        jit_context().clear_memory_cache()

    cache_dir = taylorjit_cache_dir

    def call(cf: Any, inputs: np.ndarray, out: np.ndarray) -> None:
        cf(inputs, outputs=out)

    def disk_hits() -> int | None:
        # not part of the public API: used only as a sanity check when present
        try:
            from taylorjit._jit.context import jit_context

            return int(jit_context().stats["disk_hits"])
        except Exception:  # noqa: BLE001
            return None

    return JitBackend(
        name=TAYLORJIT,
        version=ns.version,
        ns=ns,
        compile=lambda outs, vs: cfunc(outs, vars=vs),
        call=call,
        clear_memory=clear_memory,
        cache_dir=cache_dir,
        detail="tj.cfunc(outs, vars=vars); cf(X, outputs=Y)",
        disk_hits=disk_hits,
    )


def load_heyoka() -> JitBackend:
    """Return the heyoka backend.

    Returns
    -------
    JitBackend
        Compiles with ``hy.cfunc(outs, vars)`` (default options).

    Raises
    ------
    Unavailable
        ``"not installed"`` when heyoka cannot be imported.
    """
    try:
        import heyoka as hy

        ns = heyoka_namespace()
    except ImportError as exc:
        raise Unavailable("not installed") from exc
    except Exception as exc:  # noqa: BLE001
        raise Unavailable(f"import failed: {describe_error(exc)}") from exc
    state = hy.llvm_state

    @contextlib.contextmanager
    def cache_dir(path: Path) -> Iterator[None]:
        old_path, old_enabled = state.get_diskcache_path(), state.get_diskcache_enabled()
        Path(path).mkdir(parents=True, exist_ok=True)
        state.set_diskcache_path(str(path))
        state.set_diskcache_enabled(True)
        try:
            yield
        finally:
            state.set_diskcache_path(old_path)
            state.set_diskcache_enabled(old_enabled)

    def call(cf: Any, inputs: np.ndarray, out: np.ndarray) -> None:
        cf(inputs, outputs=out)

    return JitBackend(
        name="heyoka",
        version=ns.version,
        ns=ns,
        compile=lambda outs, vs: hy.cfunc(outs, vs),
        call=call,
        clear_memory=state.clear_memcache,
        cache_dir=cache_dir,
        detail="hy.cfunc(outs, vars) with default options; cf(X, outputs=Y)",
    )


def _dir_nonempty(path: Path) -> bool:
    return path.is_dir() and any(p.is_file() for p in path.rglob("*"))


def _bench_jit(
    backend: JitBackend,
    problem: Problem,
    inputs: np.ndarray,
    ref_np: np.ndarray | None,
    ref_mp: np.ndarray | None,
    options: Options,
    result: CaseResult,
) -> None:
    """All metrics of one JIT backend."""
    name = backend.name
    label = f"{name} {problem.name}"
    try:
        outs, variables = problem.build(backend.ns)
    except Exception as exc:  # noqa: BLE001
        for metric in IMPL_METRICS[name]:
            _add_error(result, metric, name, f"building the expression failed: {describe_error(exc)}")
        return
    with tempfile.TemporaryDirectory(prefix=f"taylorjit-bench-{name}-") as tmp:
        root = Path(tmp)
        # --- compile times --------------------------------------------------
        cold: list[float] = []
        disk: list[float] = []
        notes: list[str] = []
        verified = 0
        # compiled objects stay referenced until the case's JIT part is done:
        # their destruction is never inside a timed region
        keep: list[Any] = []
        stage = "compile_cold"
        try:
            options.log(f"[bench]   {label}: compile (warm-up)")
            with backend.cache_dir(root / "warmup"):
                backend.clear_memory()
                keep.append(backend.compile(outs, variables))  # initialise the JIT, untimed
            for k in range(options.ncompile):
                d = root / f"run{k}"
                d.mkdir()
                with backend.cache_dir(d):
                    stage = "compile_cold"
                    backend.clear_memory()
                    cold.append(time_once(lambda: backend.compile(outs, variables), keep))
                    if not _dir_nonempty(d) and not notes:
                        notes.append("disk-cache directory empty after the cold compile")
                    stage = "compile_disk"
                    backend.clear_memory()
                    hits0 = backend.disk_hits() if backend.disk_hits else None
                    disk.append(time_once(lambda: backend.compile(outs, variables), keep))
                    hits1 = backend.disk_hits() if backend.disk_hits else None
                    if hits0 is not None and hits1 is not None:
                        verified += hits1 > hits0
            backend.clear_memory()
            if backend.disk_hits is not None and backend.disk_hits() is not None:
                notes.append(f"{verified}/{len(disk)} disk hits confirmed by the library's stats")
            _add(result, "compile_cold", name, cold, note=f"{len(cold)} compiles")
            _add(result, "compile_disk", name, disk, note="; ".join(notes))
            result.notes.extend(f"{name}, compile_disk: {n}" for n in notes)
        except Exception as exc:  # noqa: BLE001
            msg = describe_error(exc)
            if stage == "compile_cold" or not cold:
                _add_error(result, "compile_cold", name, msg)
            else:
                _add(result, "compile_cold", name, cold)
            _add_error(result, "compile_disk", name, msg)
        # --- throughput and accuracy -----------------------------------------
        try:
            with backend.cache_dir(root / "throughput"):
                compiled = backend.compile(outs, variables)
        except Exception as exc:  # noqa: BLE001
            for metric in ("throughput", "err_numpy", "err_mpmath"):
                _add_error(result, metric, name, f"compile failed: {describe_error(exc)}")
            return
    _throughput_and_accuracy(
        name,
        lambda out: backend.call(compiled, inputs, out),
        len(outs),
        inputs,
        ref_np,
        ref_mp,
        options,
        result,
    )


# ---------------------------------------------------------------------------
# Shared pieces
# ---------------------------------------------------------------------------


def _add(
    result: CaseResult, metric: str, impl: str, raw: list[float], note: str = ""
) -> Measurement:
    label, unit = METRICS[metric]
    return result.add(
        Measurement(metric=metric, impl=impl, unit=unit, raw=list(raw), label=label, note=note)
    )


def _add_error(result: CaseResult, metric: str, impl: str, error: str) -> Measurement:
    label, unit = METRICS[metric]
    return result.add(Measurement(metric=metric, impl=impl, unit=unit, label=label, error=error))


def _throughput_and_accuracy(
    name: str,
    fill: Callable[[np.ndarray], Any],
    nouts: int,
    inputs: np.ndarray,
    ref_np: np.ndarray | None,
    ref_mp: np.ndarray | None,
    options: Options,
    result: CaseResult,
) -> np.ndarray | None:
    """Time ``fill(out)`` (after a warm-up) and check the values it writes."""
    npoints = inputs.shape[1]
    out = np.full((nouts, npoints), np.nan)
    try:
        options.log(f"[bench]   {name}: throughput over {npoints:,} points")
        samples, number = time_calls(
            lambda: fill(out), repeat=options.nrepeat, min_time=options.sample_time
        )
        _add(
            result,
            "throughput",
            name,
            [s / npoints * 1e9 for s in samples],
            note=f"{number} call(s) per sample",
        )
    except Exception as exc:  # noqa: BLE001
        for metric in ("throughput", "err_numpy", "err_mpmath"):
            if metric in IMPL_METRICS[name]:
                _add_error(result, metric, name, f"evaluation failed: {describe_error(exc)}")
        return None
    if "err_numpy" in IMPL_METRICS[name]:
        if ref_np is None:
            _add_error(result, "err_numpy", name, "numpy reference unavailable")
        else:
            _add(result, "err_numpy", name, [_normwise_error_np(out, ref_np)])
    if ref_mp is None:
        _add_error(result, "err_mpmath", name, "mpmath reference unavailable")
    else:
        k = ref_mp.shape[1]
        _add(result, "err_mpmath", name, [normwise_error(out[:, :k], ref_mp)])
    return out


def _bench_numpy(
    problem: Problem,
    inputs: np.ndarray,
    ref_mp: np.ndarray | None,
    options: Options,
    result: CaseResult,
) -> np.ndarray | None:
    """numpy anchor; returns its outputs (the float64 reference)."""
    ns = numpy_namespace()

    def fill(out: np.ndarray) -> None:
        for k, v in enumerate(problem.evaluate(ns, inputs)):
            out[k] = v

    nouts = len(problem.evaluate(ns, inputs[:, :1]))
    return _throughput_and_accuracy("numpy", fill, nouts, inputs, None, ref_mp, options, result)


def _bench_sympy(
    problem: Problem,
    inputs: np.ndarray,
    ref_np: np.ndarray | None,
    ref_mp: np.ndarray | None,
    options: Options,
    result: CaseResult,
) -> None:
    """sympy anchor: ``lambdify(..., "numpy")``."""
    import sympy as sp

    options.log(f"[bench]   sympy {problem.name}: build + lambdify")
    outs, syms = problem.build(sympy_namespace())
    try:
        sp.lambdify(syms, outs, "numpy")  # warm-up (printer imports), untimed
        times = [
            time_once(lambda: sp.lambdify(syms, outs, "numpy")) for _ in range(options.ncompile)
        ]
        _add(result, "compile_cold", "sympy", times, note="lambdify time")
        fn = sp.lambdify(syms, outs, "numpy")
    except Exception as exc:  # noqa: BLE001
        for metric in IMPL_METRICS["sympy"]:
            _add_error(result, metric, "sympy", f"lambdify failed: {describe_error(exc)}")
        return
    rows = list(inputs)

    def fill(out: np.ndarray) -> None:
        for k, v in enumerate(fn(*rows)):
            out[k] = v

    _throughput_and_accuracy("sympy", fill, len(outs), inputs, ref_np, ref_mp, options, result)


def _status_of(name: str, loader: Callable[[], Any]) -> tuple[ImplStatus, Any]:
    try:
        obj = loader()
    except Unavailable as exc:
        return ImplStatus(name=name, available=False, detail=str(exc)), None
    except ImportError:
        return ImplStatus(name=name, available=False, detail="not installed"), None
    version = getattr(obj, "version", "") or ""
    detail = getattr(obj, "detail", "") or ""
    return ImplStatus(name=name, available=True, version=version, detail=detail), obj


def _sympy_loader() -> SimpleNamespace:
    try:
        ns = sympy_namespace()
    except ImportError as exc:
        raise Unavailable("not installed") from exc
    return SimpleNamespace(
        version=ns.version,
        detail='sympy.lambdify(vars, outs, "numpy"); lambdify time as its "compile"',
    )


def _numpy_loader() -> SimpleNamespace:
    return SimpleNamespace(
        version=np.__version__,
        detail="the same generator evaluated on the rows of X (vectorised ufuncs)",
    )


def run_cfunc_case(case: str, problem: Problem, options: Options) -> CaseResult:
    """Compare ``cfunc`` compile time, throughput and accuracy for a problem.

    Parameters
    ----------
    case : str
        Case name recorded in the result.
    problem : Problem
        The problem (built for every library by the same generator).
    options : Options
        Sizes and repeats.

    Returns
    -------
    CaseResult
        Measurements of taylorjit and every installed anchor; unavailable
        implementations appear with an error on each of their rows.
    """
    npoints = options.n
    inputs = np.ascontiguousarray(problem.sampler(npoints, options.seed), dtype=np.float64)
    nouts = len(problem.evaluate(numpy_namespace(), inputs[:, :1]))
    result = CaseResult(
        case=case,
        description=problem.description,
        params={
            "problem": problem.name,
            "nvars": problem.nvars,
            "nouts": nouts,
            "npoints": npoints,
            "input_shape": [problem.nvars, npoints],
            "mp_points": min(options.nmp, npoints),
            "error_definition": (
                "max over outputs k of max_p |y[k,p] - ref[k,p]| / max_p |ref[k,p]|"
            ),
            **problem.info,
        },
    )
    statuses = {
        TAYLORJIT: _status_of(TAYLORJIT, load_taylorjit),
        "heyoka": _status_of("heyoka", load_heyoka),
        "numpy": _status_of("numpy", _numpy_loader),
        "sympy": _status_of("sympy", _sympy_loader),
    }
    result.implementations = [statuses[n][0] for n in IMPLS]
    for n in IMPLS:
        status = statuses[n][0]
        if not status.available:
            options.log(f"[bench]   {n}: {status.detail}")
            for metric in IMPL_METRICS[n]:
                _add_error(result, metric, n, status.detail)

    # mpmath reference on a subsample
    ref_mp: np.ndarray | None
    try:
        options.log(f"[bench]   mpmath reference at {result.params['mp_points']} points")
        ref_mp = _mp_reference(problem, inputs[:, : result.params["mp_points"]], options.mp_dps)
    except Exception as exc:  # noqa: BLE001
        options.log(f"[bench]   mpmath reference failed: {describe_error(exc)}")
        ref_mp = None

    # numpy first: its output is the float64 reference of err_numpy
    ref_np = _bench_numpy(problem, inputs, ref_mp, options, result)
    for n in (TAYLORJIT, "heyoka"):
        status, backend = statuses[n]
        if status.available:
            _bench_jit(backend, problem, inputs, ref_np, ref_mp, options, result)
    if statuses["sympy"][0].available:
        try:
            _bench_sympy(problem, inputs, ref_np, ref_mp, options, result)
        except Exception as exc:  # noqa: BLE001
            for metric in IMPL_METRICS["sympy"]:
                if result.get(metric, "sympy") is None:
                    _add_error(result, metric, "sympy", describe_error(exc))

    order_m = {m: i for i, m in enumerate(METRICS)}
    order_i = {n: i for i, n in enumerate(IMPLS)}
    result.measurements.sort(key=lambda m: (order_m[m.metric], order_i.get(m.impl, 99)))
    return result


# ---------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------


def cfunc_nbody6(options: Options) -> CaseResult:
    """6-body accelerations (18 inputs -> 18 outputs): compile time, ns/point, accuracy."""
    return run_cfunc_case("cfunc_nbody6", NBODY6, options)


def cfunc_nbody20(options: Options) -> CaseResult:
    """20-body accelerations (60 inputs -> 60 outputs): a large kernel (~4000 operations)."""
    return run_cfunc_case("cfunc_nbody20", NBODY20, options)


def cfunc_random_expr(options: Options) -> CaseResult:
    """Seeded random 30-node expression of x, y, z: compile time, ns/point, accuracy."""
    return run_cfunc_case("cfunc_random_expr", RANDOM_EXPR, options)


#: Registry of the cases: name -> function(options) -> CaseResult.
CASES: dict[str, Callable[[Options], CaseResult]] = {
    "cfunc_nbody6": cfunc_nbody6,
    "cfunc_nbody20": cfunc_nbody20,
    "cfunc_random_expr": cfunc_random_expr,
    # generalized dual numbers (tj.gdual) against DACE and GTPSA: benchmarks/gdual_cases.py
    **GDUAL_CASES,
    # the adaptive Taylor integrator against heyoka and scipy: benchmarks/integrator_cases.py
    **INTEGRATOR_CASES,
    # events against heyoka: benchmarks/event_cases.py
    **EVENT_CASES,
    # sensitivities (tj.var_ode_sys) against heyoka: benchmarks/variational_cases.py
    **VARIATIONAL_CASES,
}
