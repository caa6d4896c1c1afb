"""Timing utilities, result records, reporting and the command-line runner.

Entry points
------------
``python -m benchmarks [case ...] [--quick]`` and
``python -m taylorjit bench [case ...] [--quick]`` both call :func:`main`.

Conventions
-----------
* A throughput measurement is always preceded by a warm-up call; a compile
  is never inside a timed throughput loop.
* Repeats follow :func:`timeit.repeat`: ``repeat`` samples, each the mean of
  ``number`` calls (``number`` calibrated so that a sample lasts at least
  ``min_time`` seconds).  The JSON keeps every raw sample, the median and
  the min; tables quote the median.
* Ratios are ``taylorjit / anchor`` of the medians: for times, < 1 means
  taylorjit is faster; for errors, < 1 means taylorjit is more accurate.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import functools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Options",
    "Measurement",
    "ImplStatus",
    "CaseResult",
    "TAYLORJIT",
    "time_calls",
    "time_once",
    "machine_info",
    "format_table",
    "result_to_json",
    "run_case",
    "main",
]

#: Name of the implementation every ratio is taken against.
TAYLORJIT = "taylorjit"

#: Default directory of the JSON results.
RESULTS_DIR = Path(__file__).resolve().parent / "results"


# ---------------------------------------------------------------------------
# Options and records
# ---------------------------------------------------------------------------


@dataclass
class Options:
    """Run options shared by all cases.

    Parameters
    ----------
    quick : bool
        Smoke mode: small sizes and few repeats (a run takes seconds).
    npoints : int or None
        Number of evaluation points; default 10**6 (10**4 with ``quick``).
    repeat : int or None
        Number of timing samples for throughput; default 7 (3 with ``quick``).
    compile_repeat : int or None
        Number of timed compiles per compile metric; default 5 (1 with
        ``quick``).
    min_time : float or None
        Minimum duration of one throughput sample in seconds; default 0.2
        (0.01 with ``quick``).
    mp_points : int or None
        Number of points checked against mpmath; default 64 (8 with
        ``quick``).
    mp_dps : int
        mpmath decimal precision of the reference.
    seed : int
        Seed of the input sampler.
    results_dir : pathlib.Path
        Where ``<case>.json`` is written.
    echo : bool
        Print progress and the table to stdout.
    """

    quick: bool = False
    npoints: int | None = None
    repeat: int | None = None
    compile_repeat: int | None = None
    min_time: float | None = None
    mp_points: int | None = None
    mp_dps: int = 50
    seed: int = 12345
    results_dir: Path = RESULTS_DIR
    echo: bool = True

    def __post_init__(self) -> None:
        self.results_dir = Path(self.results_dir)

    def _pick(self, value: Any, full: Any, quick: Any) -> Any:
        if value is not None:
            return value
        return quick if self.quick else full

    @property
    def n(self) -> int:
        """Effective number of evaluation points."""
        return int(self._pick(self.npoints, 1_000_000, 10_000))

    @property
    def nrepeat(self) -> int:
        """Effective number of throughput samples."""
        return int(self._pick(self.repeat, 7, 3))

    @property
    def ncompile(self) -> int:
        """Effective number of timed compiles per compile metric."""
        return int(self._pick(self.compile_repeat, 5, 1))

    @property
    def sample_time(self) -> float:
        """Effective minimum duration of a throughput sample (s)."""
        return float(self._pick(self.min_time, 0.2, 0.01))

    @property
    def nmp(self) -> int:
        """Effective number of mpmath reference points."""
        return int(self._pick(self.mp_points, 64, 8))

    def to_json(self) -> dict[str, Any]:
        """Effective options as a JSON-serialisable dict."""
        return {
            "quick": self.quick,
            "npoints": self.n,
            "repeat": self.nrepeat,
            "compile_repeat": self.ncompile,
            "min_time": self.sample_time,
            "mp_points": self.nmp,
            "mp_dps": self.mp_dps,
            "seed": self.seed,
        }

    def log(self, msg: str) -> None:
        """Print a progress line to stderr when ``echo`` is on."""
        if self.echo:
            print(msg, file=sys.stderr, flush=True)


@dataclass
class Measurement:
    """One (metric, implementation) cell.

    Attributes
    ----------
    metric : str
        Metric key, e.g. ``"compile_cold"``.
    impl : str
        Implementation name, e.g. ``"heyoka"``.
    unit : str
        ``"s"``, ``"ns/point"`` or ``"rel"``.
    raw : list of float
        Every sample (one value for accuracy metrics).
    label : str
        Human-readable metric name for the table.
    note : str
        Extra information (e.g. ``number`` of calls per sample).
    error : str
        Non-empty when the measurement failed; then ``raw`` is empty.
    extra : dict
        Additional table columns of this row, ``{column: text}`` (e.g. a
        time per multiply-add, or a target and whether it is met); columns
        appear in the table only when some row of the case has them.
    """

    metric: str
    impl: str
    unit: str
    raw: list[float] = field(default_factory=list)
    label: str = ""
    note: str = ""
    error: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the measurement produced values."""
        return not self.error and bool(self.raw)

    @property
    def median(self) -> float:
        """Median of the samples (nan if none)."""
        return statistics.median(self.raw) if self.raw else math.nan

    @property
    def min(self) -> float:
        """Smallest sample (nan if none)."""
        return min(self.raw) if self.raw else math.nan


@dataclass
class ImplStatus:
    """Availability of one implementation.

    Attributes
    ----------
    name : str
        Implementation name.
    available : bool
        Whether it could be imported and used.
    version : str
        Library version (empty when unavailable).
    detail : str
        ``"not installed"``, or the error that made it unavailable, or a
        description of how it is called.
    """

    name: str
    available: bool
    version: str = ""
    detail: str = ""


@dataclass
class CaseResult:
    """Everything a case produces, before machine information is added.

    Attributes
    ----------
    case : str
        Case name (key of ``CASES``).
    description : str
        One-line description (table title).
    params : dict
        Problem parameters (sizes, constants, formula).
    implementations : list of ImplStatus
        taylorjit first, then the anchors.
    measurements : list of Measurement
        All cells, in table order.
    notes : list of str
        Remarks printed under the table (e.g. cache-hit checks).
    """

    case: str
    description: str
    params: dict[str, Any] = field(default_factory=dict)
    implementations: list[ImplStatus] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, m: Measurement) -> Measurement:
        """Append a measurement and return it."""
        self.measurements.append(m)
        return m

    def get(self, metric: str, impl: str) -> Measurement | None:
        """Return the measurement of ``(metric, impl)``, or None."""
        for m in self.measurements:
            if m.metric == metric and m.impl == impl:
                return m
        return None

    def ratios(self) -> dict[str, dict[str, float]]:
        """``taylorjit / anchor`` median ratios, per metric and anchor.

        Returns
        -------
        dict
            ``{metric: {anchor: ratio}}``; only pairs where both medians are
            finite and the anchor's is positive.  An exact 0/0 error ratio
            is reported as 1.
        """
        out: dict[str, dict[str, float]] = {}
        for m in self.measurements:
            if m.impl == TAYLORJIT or not m.ok:
                continue
            ref = self.get(m.metric, TAYLORJIT)
            if ref is None or not ref.ok:
                continue
            a, b = ref.median, m.median
            if not (math.isfinite(a) and math.isfinite(b)):
                continue
            if b > 0:
                out.setdefault(m.metric, {})[m.impl] = a / b
            elif a == 0 and b == 0:
                out.setdefault(m.metric, {})[m.impl] = 1.0
        return out


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def taylorjit_cache_dir(path: Path) -> Iterator[None]:
    """Point taylorjit's disk cache at ``path`` (enabled) for the duration; restore after."""
    saved = {k: os.environ.get(k) for k in ("TAYLORJIT_CACHE_DIR", "TAYLORJIT_CACHE")}
    os.environ["TAYLORJIT_CACHE_DIR"] = str(path)
    os.environ.pop("TAYLORJIT_CACHE", None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def fresh_caches(impl: str, path: Path) -> Iterator[None]:
    """Point ``impl``'s (taylorjit's or heyoka's) disk cache at ``path`` (enabled) and empty its
    memory cache for the duration; restore after. Cold and disk-hit construction timings of the
    integrator cases run inside it."""
    if impl == TAYLORJIT:
        from taylorjit._jit.context import jit_context  # not public: the benchmark clears caches

        with taylorjit_cache_dir(path):
            jit_context().clear_memory_cache()
            yield
        return
    import heyoka as hy

    state = hy.llvm_state
    old_path, old_enabled = state.get_diskcache_path(), state.get_diskcache_enabled()
    path.mkdir(parents=True, exist_ok=True)
    state.set_diskcache_path(str(path))
    state.set_diskcache_enabled(True)
    state.clear_memcache()
    try:
        yield
    finally:
        state.set_diskcache_path(old_path)
        state.set_diskcache_enabled(old_enabled)


def integrator_libraries() -> dict[str, Any]:
    """``{"taylorjit": taylorjit, "heyoka": heyoka}``, heyoka only when it is installed."""
    import taylorjit

    libs: dict[str, Any] = {TAYLORJIT: taylorjit}
    try:
        import heyoka

        libs["heyoka"] = heyoka
    except ImportError:
        pass
    return libs


def time_once(fn: Callable[[], Any], keep: list[Any] | None = None) -> float:
    """Wall time of a single call, in seconds (``time.perf_counter``).

    Parameters
    ----------
    fn : callable
        Called once without arguments.
    keep : list, optional
        If given, the return value of ``fn`` is appended to it, so that its
        destruction happens later, outside the timed region (a compiled
        function is freed when the caller drops it, not inside the timing).

    Returns
    -------
    float
        Elapsed seconds.
    """
    t0 = time.perf_counter()
    value = fn()
    elapsed = time.perf_counter() - t0
    if keep is not None:
        keep.append(value)
    return elapsed


def time_calls(
    fn: Callable[[], Any], repeat: int, min_time: float, warmup: int = 1
) -> tuple[list[float], int]:
    """``timeit.repeat``-style timing of a callable, after a warm-up.

    Parameters
    ----------
    fn : callable
        Called without arguments.
    repeat : int
        Number of samples.
    min_time : float
        ``number`` (calls per sample) is the smallest of 1, 2, 5, 10, 20,
        50, ... for which one sample lasts at least ``min_time`` seconds,
        calibrated on one timed call after the warm-up.
    warmup : int, optional
        Untimed calls before calibration.

    Returns
    -------
    samples : list of float
        Seconds per call, one entry per sample.
    number : int
        Calls per sample.
    """
    for _ in range(warmup):
        fn()
    t1 = max(time_once(fn), 1e-9)
    number = 1
    for k in range(12):
        number = next((b * 10**k for b in (1, 2, 5) if b * 10**k * t1 >= min_time), 0)
        if number:
            break
    number = max(number, 1)
    timer = timeit.Timer(fn)
    samples = timer.repeat(repeat=repeat, number=number)
    return [s / number for s in samples], number


# ---------------------------------------------------------------------------
# Machine information
# ---------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module: str) -> str | None:
    try:
        mod = __import__(module)
    except ImportError:
        return None
    except Exception as exc:  # noqa: BLE001 - a broken package is still reported
        return f"import error: {type(exc).__name__}: {exc}"
    return str(getattr(mod, "__version__", "unknown"))


@functools.cache
def _git_state() -> tuple[str | None, bool | None]:
    """``(short commit, whether tracked files of taylorjit/ differ from it)``, read once per
    process: the first call (at the start of :func:`main`) records the code being measured even
    when commits land while the benchmarks run."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=5, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "--short", "HEAD") or None
    status = git("status", "--porcelain", "--untracked-files=no", "--", "taylorjit")
    return commit, (None if status is None else bool(status))


def _git_commit() -> str | None:
    return _git_state()[0]


def machine_info() -> dict[str, Any]:
    """Describe the machine and the library versions.

    Returns
    -------
    dict
        CPU model (``/proc/cpuinfo``), logical CPUs (``nproc``: usable by
        this process), platform, Python, numpy, llvmlite, taylorjit and
        anchor versions (None when not installed), git commit (read once per
        process) and whether tracked files of ``taylorjit/`` had uncommitted
        changes (``git_dirty_taylorjit``).
    """
    try:
        nproc = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        nproc = os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "nproc": nproc,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": {
            name: _version(name)
            for name in (
                "numpy",
                "llvmlite",
                "taylorjit",
                "heyoka",
                "sympy",
                "mpmath",
                "scipy",
                "daceypy",
                "madng_tpsa",
            )
        },
        "git_commit": _git_commit(),
        "git_dirty_taylorjit": _git_state()[1],
    }


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------


def _fmt(x: float, unit: str) -> str:
    """Format a value in its display unit (see :func:`_display_unit`)."""
    if not math.isfinite(x):
        return str(x)
    if unit == "rel":
        return "0" if x == 0 else f"{x:.2e}"
    if unit == "s":
        x *= 1e3
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 100:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def _display_unit(unit: str) -> str:
    """Times are recorded in seconds and shown in milliseconds."""
    return "ms" if unit == "s" else unit


def _fmt_ratio(r: float | None) -> str:
    if r is None:
        return ""
    if r == 0:
        return "0"
    if r >= 100 or r < 0.01:
        return f"{r:.2e}"
    return f"{r:.2f}"


def _impl_label(result: CaseResult, name: str) -> str:
    for s in result.implementations:
        if s.name == name:
            return f"{name} {s.version}".strip() if s.available else name
    return name


def format_table(result: CaseResult) -> str:
    """Markdown table of a case: one row per (metric, implementation).

    Parameters
    ----------
    result : CaseResult
        The case result.

    Returns
    -------
    str
        A heading, the availability lines, and the table (medians; ratio
        column ``taylorjit / impl``).
    """
    ratios = result.ratios()
    unavailable = {s.name for s in result.implementations if not s.available}
    lines = [f"### {result.case}: {result.description}", ""]
    p = result.params
    if "npoints" in p and "nouts" in p:
        lines.append(
            f"{p.get('nvars')} inputs, {p.get('nouts')} outputs; throughput over "
            f"{p['npoints']:,} points (inputs shape ({p.get('nvars')}, {p['npoints']}))."
        )
        lines.append("")
    for s in result.implementations:
        state = "ok" if s.available else "UNAVAILABLE"
        extra = f": {s.detail}" if s.detail else ""
        lines.append(f"- {s.name} {s.version}".rstrip() + f" [{state}]{extra}")
    lines.append("")
    extra_cols: list[str] = []
    for m in result.measurements:
        extra_cols.extend(k for k in m.extra if k not in extra_cols)
    head = "".join(f" {c} |" for c in extra_cols)
    lines.append(f"| metric | implementation | median | min | unit | taylorjit / impl |{head}")
    lines.append("|---|---|---:|---:|---|---:|" + "---:|" * len(extra_cols))
    for m in result.measurements:
        impl = _impl_label(result, m.impl)
        label = m.label or m.metric
        tail = "".join(f" {m.extra.get(c, '')} |" for c in extra_cols)
        if not m.ok:
            unit = _display_unit(m.unit)
            text = "unavailable (see above)" if m.impl in unavailable else (m.error or "no data")
            lines.append(f"| {label} | {impl} | {text} | | {unit} | |{tail}")
            continue
        if m.impl == TAYLORJIT:
            ratio = "1" if m.metric in ratios else ""
        else:
            ratio = _fmt_ratio(ratios.get(m.metric, {}).get(m.impl))
        mn = _fmt(m.min, m.unit) if len(m.raw) > 1 else ""
        lines.append(
            f"| {label} | {impl} | {_fmt(m.median, m.unit)} | {mn} | {_display_unit(m.unit)} "
            f"| {ratio} |{tail}"
        )
    lines.append("")
    for note in result.notes:
        lines.append(f"Note: {note}.")
    lines.append(
        "Times: median of the samples (min also shown); ratio = taylorjit median / "
        "implementation median (< 1: taylorjit faster, or more accurate for errors)."
    )
    return "\n".join(lines)


def _clean(x: Any) -> Any:
    """Make floats JSON-safe (nan/inf become None)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def result_to_json(result: CaseResult, options: Options) -> dict[str, Any]:
    """JSON document of a case result.

    Parameters
    ----------
    result : CaseResult
        The case result.
    options : Options
        The run options (recorded in the document).

    Returns
    -------
    dict
        Keys: ``case``, ``description``, ``date`` (UTC, ISO 8601),
        ``machine``, ``options``, ``params``, ``implementations``,
        ``measurements`` (each with ``raw``, ``median``, ``min``),
        ``medians`` (``{metric: {impl: median}}``), ``ratios``
        (``{metric: {anchor: taylorjit/anchor}}``) and ``accuracy``
        (``{impl: {metric: value}}`` for the ``unit == "rel"`` metrics).
    """
    medians: dict[str, dict[str, float]] = {}
    accuracy: dict[str, dict[str, float]] = {}
    meas = []
    for m in result.measurements:
        d = asdict(m)
        d["median"] = m.median
        d["min"] = m.min
        meas.append(d)
        if m.ok:
            medians.setdefault(m.metric, {})[m.impl] = m.median
            if m.unit == "rel":
                accuracy.setdefault(m.impl, {})[m.metric] = m.median
    doc = {
        "case": result.case,
        "description": result.description,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "options": options.to_json(),
        "params": result.params,
        "implementations": [asdict(s) for s in result.implementations],
        "measurements": meas,
        "medians": medians,
        "ratios": result.ratios(),
        "accuracy": accuracy,
        "notes": list(result.notes),
    }
    return _clean(doc)


def run_case(name: str, options: Options) -> dict[str, Any]:
    """Run one case, print its table and write ``<results_dir>/<name>.json``.

    Parameters
    ----------
    name : str
        A key of ``benchmarks.cases.CASES``.
    options : Options
        Run options.

    Returns
    -------
    dict
        The JSON document that was written (see :func:`result_to_json`).
    """
    from .cases import CASES

    options.log(f"[bench] running {name} ({'quick' if options.quick else 'full'})")
    result = CASES[name](options)
    doc = result_to_json(result, options)
    options.results_dir.mkdir(parents=True, exist_ok=True)
    path = options.results_dir / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    if options.echo:
        print(format_table(result))
        print(f"\n(JSON written to {path})\n", flush=True)
    return doc


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Benchmarks of taylorjit against heyoka, numpy, sympy, DACE and GTPSA.",
    )
    p.add_argument("cases", nargs="*", help="cases to run (default: all); see --list")
    p.add_argument("--quick", action="store_true", help="small sizes, few repeats (smoke run)")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--npoints", type=int, default=None, help="evaluation points")
    p.add_argument("--repeat", type=int, default=None, help="throughput samples")
    p.add_argument("--compile-repeat", type=int, default=None, help="timed compiles")
    p.add_argument("--mp-points", type=int, default=None, help="points checked vs mpmath")
    p.add_argument("--seed", type=int, default=12345, help="seed of the input sampler")
    p.add_argument(
        "--results-dir", type=Path, default=RESULTS_DIR, help="directory of the JSON files"
    )
    return p


def main(argv: Sequence[str] | None = None, prog: str = "python -m benchmarks") -> int:
    """Command-line entry point: ``[case ...] [--quick] [--list] ...``.

    Parameters
    ----------
    argv : sequence of str or None
        Arguments without the program name (default ``sys.argv[1:]``).
    prog : str, optional
        Program name shown in ``--help``.

    Returns
    -------
    int
        0 on success, 1 if a case raised, 2 for an unknown case.
    """
    from .cases import CASES

    args = _parser(prog).parse_args(list(sys.argv[1:] if argv is None else argv))
    _git_state()  # the code measured: record the commit before the cases run
    if args.list:
        for name, fn in CASES.items():
            doc = (fn.__doc__ or "").strip().splitlines()
            print(f"{name:24s} {doc[0] if doc else ''}")
        return 0
    names = args.cases or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(CASES)}", file=sys.stderr)
        return 2
    options = Options(
        quick=args.quick,
        npoints=args.npoints,
        repeat=args.repeat,
        compile_repeat=args.compile_repeat,
        mp_points=args.mp_points,
        seed=args.seed,
        results_dir=args.results_dir,
    )
    status = 0
    for name in names:
        try:
            run_case(name, options)
        except Exception as exc:  # noqa: BLE001 - report and go on with the other cases
            import traceback

            traceback.print_exc()
            print(f"case {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            status = 1
    return status


class Unavailable(Exception):
    """Raised by a loader when an implementation cannot be used (the message says why)."""


def describe_error(exc: BaseException) -> str:
    """One short line naming an exception and its first message line (for table notes)."""
    msg = str(exc).strip().splitlines()
    first = msg[0] if msg else ""
    if len(first) > 160:
        first = first[:157] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
