"""``tj.taylor_adaptive``: the adaptive Taylor integrator, a thin Python shell over native code.

The constructor decomposes the system, emits the jet and the propagation loop (``jet.py``,
``compact.py``, ``driver.py``) and compiles them through the JIT context (memory and disk
cached: a second process loads the object instead of compiling). Every ``propagate_*`` call
fills two small control arrays, enters native code once, and reads the results back; Python runs
per step only for a user callback.
"""

from __future__ import annotations

import copy
import enum
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from llvmlite import ir

from .._jit.context import CompiledModule, jit_context
from .._jit.runtime import array_caller, ensure_runtime
from . import compact
from .coutput import continuous_output, horner
from .decompose import Decomposition, decompose, validated_system
from .driver import DV, EV, IV, Code, Flags, StepControl, kernel_text, native_driver
from .events import EventSet, check_events, nt_event, t_event
from .jet import unrolled_jet
from .layout import JetLayout, cached_layout, store_layout
from .variational import VariationalMixin, prepare_variational

__all__ = ["taylor_adaptive", "taylor_outcome"]

_EPS = float(np.finfo(float).eps)
_JET = "jet_core"  # the jet's symbol, after the module's prefix
# LLVM pipelines (JitContext.compile's speed levels). NOTE: an unrolled jet is straight-line
# code the generator has already simplified; LLVM's O1 passes found nothing to gain in it, and
# the code generator alone gave steps as fast or faster (Lorenz 176 -> 166 ns, pendulum 181 ->
# 165, CR3BP 399 -> 393, variational pendulum order 3 2.36 -> 2.32 us) and cold builds 15-25%
# shorter (Lorenz 55 -> 42 ms, CR3BP 203 -> 168, variational pendulum order 3 727 -> 668). So
# does a compact jet whose loops are shared functions (20-body 299 -> 201 ms, 107 -> 105 us per
# step; Kepler's order 2 348 -> 251 ms, 12.0 -> 12.8 us; CR3BP's order 3 733 -> 651 ms, 286 ->
# 282 us). Compact jets with their loops inline still need them: the CR3BP's first order
# stepped 9% slower without. Unrolled jets are also compiled without the machine scheduler
# (measured: pendulum order 3 2.14 -> 2.00 us per step, 526 -> 446 ms to build; Kepler's order
# 1 1.97 -> 1.87 us, 510 -> 360 ms; CR3BP 155 -> 118 ms, steps equal); compact ones keep it
# (without, their steps were 2% slower).
_UNROLLED_SPEED = 0
_SHARED_LOOPS_SPEED = 0
_INLINE_LOOPS_SPEED = 1
#: Above this many elementary (binary) operations, ``Decomposition.binary_size``,
#: ``compact_mode=None`` chooses compact mode. Measured (before fusion, when nodes were binary):
#: the 6-body problem (402 operations) steps as fast compacted (12 us) as unrolled (13 us) but
#: builds in 0.2 s instead of 10 s; Kepler (8 operations) steps in 280 ns unrolled, 430 compacted.
COMPACT_THRESHOLD = 150


class taylor_outcome(enum.IntEnum):  # noqa: N801 - heyoka's name
    """How a step or a propagation ended (heyoka's values; a terminal event gives its index)."""

    success = -4294967297
    step_limit = -4294967298
    time_limit = -4294967299
    err_nf_state = -4294967300
    cb_stop = -4294967301

    @classmethod
    def _missing_(cls, value: object) -> taylor_outcome | None:
        """Terminal events, as heyoka: ``i >= 0`` when terminal event ``i`` fired and the
        integration goes on (its callback returned true), ``-(i + 1)`` when it stopped there."""
        if not isinstance(value, int) or not -(1 << 32) < value < (1 << 32):
            return None
        member = int.__new__(cls, value)
        member._name_ = f"event_{value}" if value >= 0 else f"event_{-value - 1}_stop"
        member._value_ = value
        return member


#: heyoka's message when an event callback changed the time
_TIME_CHANGED_MESSAGE = ("The invocation of one or more event callbacks resulted in the alteration "
                         "of the time coordinate of the integrator - this is not supported")

_OUTCOMES = {Code.SUCCESS: taylor_outcome.success, Code.STEP_LIMIT: taylor_outcome.step_limit,
             Code.TIME_LIMIT: taylor_outcome.time_limit, Code.NF_STATE: taylor_outcome.err_nf_state}


def _two_sum(a: float, b: float) -> tuple[float, float]:
    s = a + b
    bv = s - a
    return s, (a - (s - bv)) + (b - bv)


def _finite_float(value: Any, what: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a real number, not {type(value).__name__}") from None
    return x


class taylor_adaptive(VariationalMixin):  # noqa: N801 - heyoka's name
    """Adaptive Taylor integrator for ``x' = f(x, pars, t)`` in double precision.

    Parameters
    ----------
    sys
        A list of ``(variable, right-hand side)`` pairs.
    state
        The initial state, one value per equation.
    time
        The initial time.
    pars
        Values of the runtime parameters ``tj.par[i]`` (default zeros); exactly one per
        parameter index used by the system.
    tol
        The tolerance (default: machine epsilon); it sets the order ``ceil(-ln(tol)/2 + 1)``.
    high_accuracy
        Compensated summation in the state update and the dense output, so that round-off grows
        like ``sqrt(t)`` over long integrations (Brouwer's law), at a small cost per step.
    compact_mode
        Loops over groups of like operations instead of fully unrolled code: compile time
        independent of the system's size, a slower step on small systems. ``None`` chooses by
        the size of the decomposition.
    t_events, nt_events
        Terminal (:class:`t_event`) and non-terminal (:class:`nt_event`) events. Their functions
        are expanded in the same jet as the state; a native exclusion test per step keeps an
        event that does not fire cheap, and Python runs only for the steps that may hold one.

    Attributes
    ----------
    state, pars
        Writable views: assign elements (``ta.state[:] = ...``) between calls.
    time
        The current time (settable). ``dtime`` gives it as a double-length pair.
    order, tol, dim, decomposition, high_accuracy, compact_mode
        The integrator's configuration.
    tc
        The Taylor coefficients of the last step, shape ``(dim, order + 1)``.
    last_h
        The size of the last step (signed).
    """

    def __init__(self, sys: Any, state: Any, *, time: float = 0.0, pars: Any = None,
                 tol: float | None = None, high_accuracy: bool = False,
                 compact_mode: bool | None = None, t_events: Sequence[Any] = (),
                 nt_events: Sequence[Any] = ()) -> None:
        sys, state, self._vsys = prepare_variational(sys, state, time=time, pars=pars)
        self._events = EventSet(*check_events(t_events, nt_events), _validated_tol(tol))
        self._system = validated_system(sys, self._events.expressions)
        self._dim = len(self._system.state)
        self._tol = _validated_tol(tol)
        control = StepControl(self._tol)
        self._order = control.order
        self._high_accuracy = bool(high_accuracy)
        # The number of terminal events is part of the code (the native test treats their
        # simple roots differently), not of the decomposition.
        self._source = repr(("taylor_adaptive", self._system.key(), self._order, compact_mode, 1,
                             len(self._events.t_events)))
        # A cached kernel comes with its layout: then the decomposition waits until asked for.
        self._dec: Decomposition | None = None
        layout = cached_layout(self._source)
        fresh_layout = layout is None
        if layout is None:
            dec = self.decomposition
            chosen = (dec.binary_size > COMPACT_THRESHOLD) if compact_mode is None else bool(compact_mode)
            layout = JetLayout.of(dec, self._order, chosen)
        self._compact = layout.compact
        self._shared_loops = layout.shared_loops
        self._npars = layout.npars
        self._needs_runtime = layout.runtime
        self._state = _validated_state(state, self._dim)
        # The kernel reads at least one slot; users see exactly npars values (a view).
        self._pars = np.zeros(max(layout.npars, 1))
        self._pars[: layout.npars] = _validated_pars(pars, layout.npars)
        nev = len(self._events)
        self._dv = np.zeros(DV.SIZE + EV.COUNT * nev)
        # The per-event arrays of the native exclusion test, as rows (a view).
        self._ev = self._dv[DV.SIZE:].reshape(EV.COUNT, nev)
        self._ev[EV.DIRECTION] = self._events.directions
        self._iv = np.zeros(IV.SIZE, dtype=np.int64)
        # Scalar views of the control blocks for the per-call Python code: a memoryview item
        # costs 20 ns to read or write, a numpy one 35-90 ns (and a numpy scalar to convert).
        self._dvm, self._ivm = memoryview(self._dv), memoryview(self._iv)
        self._plain_step: tuple[float, float] | None = None  # (see `_one_step`)
        self.time = time
        self._tc = layout.buffer(self._order)
        self._d_output = np.full(self._dim, np.nan)
        self._empty = np.zeros(1)
        self._iv[[IV.DIM, IV.ORDER, IV.NEV, IV.COMPENSATED]] = [self._dim, self._order, nev,
                                                               self._high_accuracy]
        self._dv[[DV.RHOFAC, DV.INV_P, DV.INV_PM1]] = [control.rhofac, 1.0 / self._order,
                                                       1.0 / (self._order - 1)]
        self._link()
        if fresh_layout:  # after the compilation: a failed one leaves no layout behind
            store_layout(self._source, layout)
        # What the state, time and parameters were when native code last returned: event signs
        # carried over from the last step are valid only if nothing changed them since.
        self._seen = (self._state.copy(), self._dv[:2].copy(), self._pars.copy())

    # --- copies and pickles --------------------------------------------------------------------
    #: Attributes tied to this process or to this object's arrays: rebuilt, never copied.
    _REBUILT = ("_module", "_driver", "_propagate_address", "_jet_address", "_call", "_dvm", "_ivm",
                "_ev", "_dec", "_vcontext")

    def __getstate__(self) -> dict[str, Any]:
        """The integrator's data (state, time, parameters, events, configuration), without its
        compiled code and views: ``copy.deepcopy`` and ``pickle`` give an independent integrator
        whose code comes back from the caches (events' callbacks must be picklable to pickle)."""
        return {k: v for k, v in self.__dict__.items() if k not in self._REBUILT}

    def __setstate__(self, data: dict[str, Any]) -> None:
        self.__dict__.update(data)
        self._dec = None
        self._dvm, self._ivm = memoryview(self._dv), memoryview(self._iv)
        self._ev = self._dv[DV.SIZE:].reshape(EV.COUNT, len(self._events))
        self._link()

    def __copy__(self) -> taylor_adaptive:
        """A full copy, as heyoka's: a shallow one would share the state with this one."""
        return copy.deepcopy(self)

    def _link(self) -> None:
        """Compile (or fetch) the code and write its addresses into the control block."""
        self._module = self._compile()
        # The loop is shared by all integrators; it finds this one's code and sizes in the
        # control blocks.
        self._driver, self._propagate_address, self._call = native_driver()
        prefix = self._module.prefix
        self._iv[IV.JET] = self._module.address(prefix + _JET)
        self._iv[IV.EXCLUSION] = self._module.address(prefix + "exclusion") if len(self._events) else 0
        self._jet_address = self._module.address(prefix + "jet")

    # --- compilation -------------------------------------------------------------------------
    def _compile(self) -> CompiledModule:
        if self._needs_runtime:  # its symbols must be known before the kernel is linked
            ensure_runtime(1)
        if not self._compact:
            speed = _UNROLLED_SPEED
        else:
            speed = _SHARED_LOOPS_SPEED if self._shared_loops else _INLINE_LOOPS_SPEED
        return jit_context().compile(self._source, self._build_ir, speed_level=speed,
                                     schedule=self._compact)

    def _build_ir(self, prefix: str) -> str:
        ctx = jit_context()
        helpers = ir.Module(name="taylorjit.taylor_adaptive")
        helpers.triple = ctx.triple
        helpers.data_layout = ctx.data_layout
        jet = prefix + _JET
        if self._compact:
            code = compact.compact_jet(self.decomposition, self._order, helpers, jet)
        else:
            code = unrolled_jet(self.decomposition, self._order, 1, helpers, jet)
        rest = kernel_text(prefix, jet, self._dim, self._order, helpers, len(self._events),
                           len(self._events.t_events))
        return "\n".join([str(helpers), code, rest])

    # --- configuration -----------------------------------------------------------------------
    @property
    def decomposition(self) -> Decomposition:
        """The system as elementary operations (``print`` it to read it)."""
        if self._dec is None:
            self._dec = decompose(self._system)
        return self._dec

    @property
    def order(self) -> int:
        """The Taylor order."""
        return self._order

    @property
    def tol(self) -> float:
        """The tolerance."""
        return self._tol

    @property
    def dim(self) -> int:
        """The number of state variables."""
        return self._dim

    @property
    def high_accuracy(self) -> bool:
        """Whether compensated summation is used."""
        return self._high_accuracy

    @property
    def compact_mode(self) -> bool:
        """Whether the jet is emitted in compact mode."""
        return self._compact

    @property
    def compiled_from(self) -> str | None:
        """Where the machine code came from: ``"memory"``, ``"disk"`` or None (compiled now)."""
        return self._module.from_cache

    # --- events ------------------------------------------------------------------------------
    @property
    def t_events(self) -> list[t_event]:
        """The terminal events."""
        return list(self._events.t_events)

    @property
    def nt_events(self) -> list[nt_event]:
        """The non-terminal events."""
        return list(self._events.nt_events)

    @property
    def with_events(self) -> bool:
        """Whether the integrator has events."""
        return bool(self._events)

    @property
    def te_cooldowns(self) -> list[tuple[float, float] | None]:
        """Per terminal event: None, or ``(time since it fired, cooldown)`` while it cools down."""
        return [None if c is None else (c[0], c[1]) for c in self._events.cooldowns]

    def reset_cooldowns(self) -> None:
        """End the cooldowns of all terminal events (so they can fire right away)."""
        self._events.reset_cooldowns()

    # --- state -------------------------------------------------------------------------------
    @property
    def state(self) -> np.ndarray:
        """The state (a writable view; assign its elements)."""
        return self._state

    @property
    def pars(self) -> np.ndarray:
        """The runtime parameters (a writable view)."""
        return self._pars[: self._npars]

    @property
    def time(self) -> float:
        """The current time."""
        return self._dvm[DV.T_HI] + self._dvm[DV.T_LO]

    @time.setter
    def time(self, value: float) -> None:
        t = _finite_float(value, "the time")
        if not math.isfinite(t):
            raise ValueError(f"Cannot set the time of an adaptive Taylor integrator to {t}: it "
                             "must be finite")
        self._dv[DV.T_HI], self._dv[DV.T_LO] = t, 0.0

    @property
    def dtime(self) -> tuple[float, float]:
        """The time as a double-length pair ``(hi, lo)`` (``hi + lo`` exactly)."""
        return self._dvm[DV.T_HI], self._dvm[DV.T_LO]

    @dtime.setter
    def dtime(self, value: tuple[float, float]) -> None:
        hi, lo = (_finite_float(v, "the time") for v in value)
        if not (math.isfinite(hi) and math.isfinite(lo)):
            raise ValueError("Cannot set a non-finite time in an adaptive Taylor integrator")
        self._dv[DV.T_HI], self._dv[DV.T_LO] = _two_sum(hi, lo)

    @property
    def tc(self) -> np.ndarray:
        """Taylor coefficients of the last step, shape ``(dim, order + 1)`` (a view)."""
        return self._tc[: self._dim * (self._order + 1)].reshape(self._dim, self._order + 1)

    @property
    def last_h(self) -> float:
        """The signed size of the last step (0 before any step)."""
        return self._dvm[DV.LAST_H]

    @property
    def d_output(self) -> np.ndarray:
        """The dense output computed by the last ``update_d_output`` (a view)."""
        return self._d_output

    def update_d_output(self, t: float, rel_time: bool = False) -> np.ndarray:
        """Evaluate the last step's polynomials at time ``t`` (relative to the step's start if
        ``rel_time``) into ``d_output``, and return it."""
        t = _finite_float(t, "the dense output time")
        if not math.isfinite(t):
            raise ValueError(f"Cannot compute the dense output at the non-finite time {t}")
        if rel_time:
            dt = t
        else:
            hi, lo = self.dtime
            start_hi, start_lo = _two_sum(hi, -self.last_h)
            dt = (t - start_hi) - (start_lo + lo)
        self._d_output[:] = horner(self.tc, dt, self._high_accuracy)
        return self._d_output

    # --- stepping ----------------------------------------------------------------------------
    def _run(self, t_final: tuple[float, float], direction: float, max_delta_t: float,
             max_steps: int, flags: int, grid: np.ndarray | None = None,
             grid_out: np.ndarray | None = None, grid_start: int = 1
             ) -> tuple[taylor_outcome, list[np.ndarray]]:
        """Enter the native loop; enter it again while the continuous-output buffer fills up,
        and around each step that may hold an event."""
        iv = self._ivm
        capacity = 64
        self._set_call(t_final, direction, max_delta_t, max_steps, flags,
                       0 if grid is None else len(grid), grid_start, capacity)
        events = self._events
        has_events = len(events) > 0
        may_cool = bool(events.t_events)  # (only terminal events have cooldowns)
        if has_events:
            self._check_unchanged()
        record = 3 + self._dim * (self._order + 1)
        buffers: list[np.ndarray] = []
        cbuf = np.empty(capacity * record) if flags & Flags.C_OUTPUT else self._empty
        try:
            while True:
                # While a terminal event cools down, every step comes back here to count it.
                cooling = may_cool and events.cooling
                iv[IV.FLAGS] = flags | (Flags.ONE_STEP if cooling else 0)
                steps_before = iv[IV.NSTEPS]
                self._call(self._propagate_address, self._state, self._tc, self._pars, self._dv,
                           self._iv, self._empty if grid is None else grid,
                           self._empty if grid_out is None else grid_out, cbuf)
                code = iv[IV.OUTCOME]
                if code == Code.BUFFER_FULL:
                    buffers.append(cbuf.reshape(-1, record))
                    capacity = min(2 * capacity, 1 << 16)
                    cbuf = np.empty(capacity * record)
                    iv[IV.C_CAP], iv[IV.C_COUNT] = capacity, 0
                    continue
                if code == Code.EVENT:
                    outcome = self._event_step(flags, grid, grid_out, cbuf)
                    if outcome is not None:
                        return outcome, buffers
                    continue
                if code == Code.EVENT_TAKEN:  # the native loop found and stepped over them
                    if cooling:
                        events.step_taken(self.last_h)
                    hits, t_start = self._native_non_terminal()
                    self._run_event_callbacks(hits, None, t_start)
                    if flags & Flags.ONE_STEP:
                        code = Code.SUCCESS if iv[IV.PENDING_FREE] else Code.TIME_LIMIT
                        return _OUTCOMES[code], buffers
                    continue
                if cooling and code in (Code.SUCCESS, Code.TIME_LIMIT) and iv[IV.NSTEPS] > steps_before:
                    events.step_taken(self.last_h)  # (a call that ended without a step: done)
                    if not flags & Flags.ONE_STEP:
                        continue
                return _OUTCOMES[code], buffers
        finally:
            if flags & Flags.C_OUTPUT:
                buffers.append(cbuf[: iv[IV.C_COUNT] * record].reshape(-1, record))
            if has_events:
                self._seen = (self._state.copy(), self._dv[:2].copy(), self._pars.copy())

    def _set_call(self, t_final: tuple[float, float], direction: float, max_delta_t: float,
                  max_steps: int, flags: int, grid_n: int, grid_start: int, capacity: int) -> None:
        """Write the control blocks' fields that every call of the native loop reads."""
        dv, iv = self._dvm, self._ivm
        self._plain_step = None  # (`_one_step`'s memo of these fields)
        dv[DV.TF_HI], dv[DV.TF_LO] = t_final
        dv[DV.MAX_DT], dv[DV.DIR] = max_delta_t, direction
        dv[DV.MIN_H], dv[DV.MAX_H] = math.inf, 0.0
        iv[IV.MAX_STEPS], iv[IV.NSTEPS], iv[IV.RESUME] = max_steps, 0, 0
        iv[IV.GRID_N], iv[IV.GRID_I] = grid_n, grid_start
        iv[IV.C_CAP], iv[IV.C_COUNT], iv[IV.FLAGS] = capacity, 0, flags

    def _native_non_terminal(self) -> tuple[list[tuple[float, int, int]], float]:
        """The non-terminal events the native test located in the step just taken, as
        ``(relative time, index, d_sgn)`` in time order (as in
        :class:`~taylorjit._taylor.events.Detection`), and the step's start time."""
        # (Python per event that fires: scalars through memoryviews and .item(), not numpy)
        dv, events, stride = self._dvm, self._events, self._order + 1
        nev, nte = self._ev.shape[1], len(events.t_events)
        status, roots = DV.SIZE + EV.STATUS * nev, DV.SIZE + EV.ROOT * nev
        h = dv[DV.LAST_H]
        hits = []
        for row in [r for r, st in enumerate(dv[status:status + nev].tolist()) if st == 1.0]:
            c1 = self._tc.item((self._dim + row) * stride + 1)
            hits.append((dv[roots + row], row - nte, (c1 > 0) - (c1 < 0)))
        if len(hits) > 1:
            hits.sort(key=lambda hit: abs(hit[0]))
        t_hi, t_lo = dv[DV.T_HI], dv[DV.T_LO]
        for t_rel, i, _ in hits:
            events.remember(i, (t_hi + t_lo) - h + t_rel, h)
        return hits, t_hi + (t_lo - h)

    def _check_unchanged(self) -> None:
        """Forget the event signs of the last step if the state, time or parameters changed."""
        state, time, pars = self._seen
        if not (np.array_equal(state, self._state) and np.array_equal(time, self._dv[:2])
                and np.array_equal(pars, self._pars)):
            self._forget_event_signs()

    def _forget_event_signs(self) -> None:
        self._ev[EV.SIGN] = 0.0

    def _event_step(self, flags: int, grid: np.ndarray | None, grid_out: np.ndarray | None,
                    cbuf: np.ndarray) -> taylor_outcome | None:
        """The native loop stopped before a step whose event polynomials may have roots: find
        them, take the step (shortened to a terminal event), run the callbacks. Returns the
        outcome that ends the call, or None to carry on."""
        dv, iv, events = self._dv, self._iv, self._events
        nev = len(events)
        h = float(dv[DV.PENDING_H])
        t_hi, t_lo = float(dv[DV.T_HI]), float(dv[DV.T_LO])
        polys = self._tc[self._dim * (self._order + 1):(self._dim + nev) * (self._order + 1)]
        polys = polys.reshape(nev, self._order + 1)
        found = events.detect(polys, h, t_hi + t_lo, self._ev,
                              lambda: float(np.max(np.abs(self._state), initial=0.0)))
        self._ev[EV.SIGN] = found.end_signs
        iv[IV.RESUME] = 1
        if found.terminal is None and not found.non_terminal:
            return None  # nothing fires: the native loop takes the step and goes on
        if found.terminal is not None:
            dv[DV.PENDING_H] = found.h
            iv[IV.PENDING_FREE], iv[IV.PENDING_BY_TIME] = 0, 0
        iv[IV.FLAGS] = flags | Flags.ONE_STEP
        self._call(self._propagate_address, self._state, self._tc, self._pars, dv, iv,
                   self._empty if grid is None else grid,
                   self._empty if grid_out is None else grid_out, cbuf)
        code = int(iv[IV.OUTCOME])
        if code == Code.NF_STATE:
            return taylor_outcome.err_nf_state
        events.step_taken(found.h)
        terminal = self._run_event_callbacks(found.non_terminal, found.terminal, t_hi + t_lo)
        if terminal is not None and (terminal < 0 or flags & Flags.ONE_STEP):
            return terminal
        return _OUTCOMES[code] if flags & Flags.ONE_STEP else None

    def _run_event_callbacks(self, non_terminal: list[tuple[float, int, int]],
                             terminal: tuple[int, int] | None, t_start: float) -> taylor_outcome | None:
        """Non-terminal callbacks in time order, then the terminal one (as in
        :class:`~taylorjit._taylor.events.Detection`); the terminal event's outcome (``i`` to go
        on, ``-(i + 1)`` to stop), None without one."""
        dv = self._dvm
        time_before = (dv[DV.T_HI], dv[DV.T_LO])
        state_after_step = self._state.tobytes()
        nt_events = self._events.nt_events
        for t_rel, i, d_sgn in non_terminal:
            nt_events[i].callback(self, t_start + t_rel, d_sgn)
            if (dv[DV.T_HI], dv[DV.T_LO]) != time_before:
                raise ValueError(_TIME_CHANGED_MESSAGE)
        outcome = None
        if terminal is not None:
            i, d_sgn = terminal
            callback = self._events.t_events[i].callback
            go_on = bool(callback(self, d_sgn)) if callback is not None else False
            if (dv[DV.T_HI], dv[DV.T_LO]) != time_before:
                raise ValueError(_TIME_CHANGED_MESSAGE)
            outcome = taylor_outcome(i if go_on else -(i + 1))
        if state_after_step != self._state.tobytes():
            self._forget_event_signs()
        return outcome

    def step(self, max_delta_t: float = math.inf, write_tc: bool = False) -> tuple[taylor_outcome, float]:
        """Take one step forward (backward if ``max_delta_t < 0``), at most ``|max_delta_t|`` long.

        Returns ``(outcome, h)``: ``success`` for a step of the size the tolerance allows,
        ``time_limit`` when ``max_delta_t`` shortened it, ``err_nf_state`` when the new state
        would not be finite (nothing changes then). ``tc`` always holds the step's coefficients
        (``write_tc`` is accepted for compatibility).
        """
        m = _finite_float(max_delta_t, "max_delta_t")
        if math.isnan(m):
            raise ValueError("A NaN max_delta_t was passed to the step() function of an adaptive "
                             "Taylor integrator")
        direction = -1.0 if m < 0 or (m == 0 and math.copysign(1.0, m) < 0) else 1.0
        return self._one_step(direction, abs(m))

    def step_backward(self, max_delta_t: float = math.inf,
                      write_tc: bool = False) -> tuple[taylor_outcome, float]:
        """Take one step backward in time, at most ``max_delta_t`` long (see :meth:`step`)."""
        m = _finite_float(max_delta_t, "max_delta_t")
        if math.isnan(m):
            raise ValueError("A NaN max_delta_t was passed to the step_backward() function of an "
                             "adaptive Taylor integrator")
        return self._one_step(-1.0, abs(m))

    def _one_step(self, direction: float, max_delta_t: float) -> tuple[taylor_outcome, float]:
        dv, iv = self._dvm, self._ivm
        if self._ev.shape[1]:  # events: Python may have to isolate roots and run callbacks
            outcome, _ = self._run((math.inf * direction, 0.0), direction, max_delta_t, 0, Flags.ONE_STEP)
            return outcome, (dv[DV.LAST_H] if iv[IV.NSTEPS] else 0.0)
        # NOTE: without events a step is one native call, and consecutive steps with the same
        # direction and limit leave the call's fields as they were (the loop rewrites only
        # RESUME, C_COUNT and GRID_I, which a plain step does not read): only the counters are
        # reset. Any other call (`_set_call`) forgets the memo. 1.29 -> 0.75 us per `ta.step()`.
        if self._plain_step != (direction, max_delta_t):
            self._set_call((math.inf * direction, 0.0), direction, max_delta_t, 0, Flags.ONE_STEP,
                           0, 1, 0)
            self._plain_step = (direction, max_delta_t)
        else:
            dv[DV.MIN_H], dv[DV.MAX_H] = math.inf, 0.0
            iv[IV.NSTEPS] = 0
        self._call(self._propagate_address, self._state, self._tc, self._pars, self._dv, self._iv,
                   self._empty, self._empty, self._empty)
        return _OUTCOMES[iv[IV.OUTCOME]], (dv[DV.LAST_H] if iv[IV.NSTEPS] else 0.0)

    def propagate_until(self, t: float, *, max_delta_t: float = math.inf, max_steps: int = 0,
                        c_output: bool = False, callback: Callable[[Any], Any] | None = None
                        ) -> tuple[taylor_outcome, float, float, int, continuous_output | None]:
        """Integrate up to time ``t`` (forward or backward).

        Returns ``(outcome, min_h, max_h, nsteps, c_output)``: ``time_limit`` when ``t`` is
        reached, ``step_limit`` after ``max_steps`` steps (0: no limit), ``err_nf_state`` when a
        step would give a non-finite state (state and time stay at the last good step),
        ``cb_stop`` when ``callback(ta)`` returned False. ``c_output=True`` also returns the
        continuous output over the whole span.
        """
        t = _finite_float(t, "the final time")
        if not math.isfinite(t):
            raise ValueError("A non-finite time was passed to the propagate_until() function of "
                             "an adaptive Taylor integrator")
        return self._propagate((t, 0.0), "propagate_until", max_delta_t, max_steps, c_output,
                               callback)

    def propagate_for(self, delta_t: float, *, max_delta_t: float = math.inf, max_steps: int = 0,
                      c_output: bool = False, callback: Callable[[Any], Any] | None = None
                      ) -> tuple[taylor_outcome, float, float, int, continuous_output | None]:
        """Integrate for a time span ``delta_t`` (negative: backward); see :meth:`propagate_until`."""
        dt = _finite_float(delta_t, "delta_t")
        if not math.isfinite(dt):
            raise ValueError("A non-finite time was passed to the propagate_for() function of an "
                             "adaptive Taylor integrator")
        hi, lo = self.dtime
        s, e = _two_sum(hi, dt)
        target = _two_sum(s, e + lo)
        return self._propagate(target, "propagate_for", max_delta_t, max_steps, c_output, callback)

    def _propagate(self, target: tuple[float, float], fname: str, max_delta_t: float,
                   max_steps: int, c_output: bool, callback: Callable[[Any], Any] | None
                   ) -> tuple[taylor_outcome, float, float, int, continuous_output | None]:
        max_delta_t = _validated_max_delta_t(max_delta_t, fname)
        max_steps = _validated_max_steps(max_steps)
        _check_callback(callback)
        hi, lo = self.dtime
        direction = 1.0 if (target[0] - hi) + (target[1] - lo) >= 0 else -1.0
        flags = Flags.C_OUTPUT if c_output else 0
        if callback is None and not c_output and not self._ev.shape[1]:
            # Nothing to bring back to Python before the end: one native call (`_run` would
            # loop for events and continuous-output buffers; 0.4 us per call saved).
            self._set_call(target, direction, max_delta_t, max_steps, 0, 0, 1, 0)
            self._call(self._propagate_address, self._state, self._tc, self._pars, self._dv,
                       self._iv, self._empty, self._empty, self._empty)
            iv, dv = self._ivm, self._dvm
            return _OUTCOMES[iv[IV.OUTCOME]], dv[DV.MIN_H], dv[DV.MAX_H], iv[IV.NSTEPS], None
        if callback is None:
            outcome, buffers = self._run(target, direction, max_delta_t, max_steps, flags)
            nsteps, min_h, max_h = self._ivm[IV.NSTEPS], self._dvm[DV.MIN_H], self._dvm[DV.MAX_H]
        else:
            outcome, buffers, nsteps, min_h, max_h = self._propagate_with_callback(
                target, direction, max_delta_t, max_steps, flags, callback)
        out = self._continuous_output(buffers) if c_output else None
        return outcome, min_h, max_h, nsteps, out

    def _propagate_with_callback(self, target, direction, max_delta_t, max_steps, flags, callback):
        """One native step per iteration, the callback after each (Python per step only here)."""
        nsteps, min_h, max_h = 0, math.inf, 0.0
        buffers: list[np.ndarray] = []
        while True:
            if max_steps and nsteps >= max_steps:
                return taylor_outcome.step_limit, buffers, nsteps, min_h, max_h
            outcome, more = self._run(target, direction, max_delta_t, 1, flags)
            buffers += more
            took = self._ivm[IV.NSTEPS]
            if took:
                nsteps += took
                min_h = min(min_h, self._dvm[DV.MIN_H])
                max_h = max(max_h, self._dvm[DV.MAX_H])
            if outcome == taylor_outcome.step_limit:
                outcome = taylor_outcome.success
            if took and callback(self) is False:
                return taylor_outcome.cb_stop, buffers, nsteps, min_h, max_h
            if outcome != taylor_outcome.success:
                return outcome, buffers, nsteps, min_h, max_h

    def _continuous_output(self, buffers: list[np.ndarray]) -> continuous_output:
        records = np.concatenate(buffers) if buffers else np.empty((0, 3 + self.tc.size))
        tcs = records[:, 3:].reshape(-1, self._dim, self._order + 1)
        return continuous_output(records[:, 0], records[:, 1], records[:, 2], tcs, self._high_accuracy)

    def propagate_grid(self, grid: Any, *, max_delta_t: float = math.inf, max_steps: int = 0,
                       callback: Callable[[Any], Any] | None = None
                       ) -> tuple[taylor_outcome, float, float, int, np.ndarray]:
        """Integrate over a time grid, returning the state at each grid point.

        The grid's first point must be the current time, and the grid strictly monotonic. The
        states come from each step's dense output (steps are not shortened to hit grid points).
        Returns ``(outcome, min_h, max_h, nsteps, states)``, states of shape ``(len(grid), dim)``;
        rows past an early stop are nan.
        """
        g = _validated_grid(grid, self.time)
        max_delta_t = _validated_max_delta_t(max_delta_t, "propagate_grid")
        max_steps = _validated_max_steps(max_steps)
        _check_callback(callback)
        out = np.full((len(g), self._dim), np.nan)
        out[0] = self._state
        if len(g) == 1:
            return taylor_outcome.time_limit, math.inf, 0.0, 0, out
        direction = 1.0 if g[-1] > g[0] else -1.0
        target = (float(g[-1]), 0.0)
        if callback is None:
            outcome, _ = self._run(target, direction, max_delta_t, max_steps, Flags.GRID, g, out)
            nsteps = self._ivm[IV.NSTEPS]
            return outcome, self._dvm[DV.MIN_H], self._dvm[DV.MAX_H], nsteps, out
        # One native step per entry (the grid index carried over), the callback after each.
        nsteps, min_h, max_h, next_point = 0, math.inf, 0.0, 1
        while True:
            if max_steps and nsteps >= max_steps:
                return taylor_outcome.step_limit, min_h, max_h, nsteps, out
            outcome, _ = self._run(target, direction, max_delta_t, 1, Flags.GRID, g, out, next_point)
            next_point = self._ivm[IV.GRID_I]
            if self._ivm[IV.NSTEPS]:
                nsteps += self._ivm[IV.NSTEPS]
                min_h = min(min_h, self._dvm[DV.MIN_H])
                max_h = max(max_h, self._dvm[DV.MAX_H])
                if callback(self) is False:
                    return taylor_outcome.cb_stop, min_h, max_h, nsteps, out
            if outcome != taylor_outcome.step_limit:
                return outcome, min_h, max_h, nsteps, out

    # --- jets alone --------------------------------------------------------------------------
    def compute_jet(self) -> np.ndarray:
        """The Taylor coefficients at the current state and time, written to ``tc``."""
        self.tc[:, 0] = self._state
        time = np.array([self.time])
        array_caller(3, 0)(self._jet_address, self._tc, self._pars, time)  # built at first use
        return self.tc

    def __repr__(self) -> str:
        return (f"<taylor_adaptive: dim={self._dim}, order={self._order}, tol={self._tol:g}, "
                f"time={self.time}, high_accuracy={self._high_accuracy}, "
                f"compact_mode={self._compact}>")



def _validated_tol(tol: Any) -> float:
    if tol is None:
        return _EPS
    t = _finite_float(tol, "the tolerance")
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"The tolerance in an adaptive Taylor integrator must be finite and "
                         f"positive, but it is {t} instead")
    return t


def _real_array(values: Any, what: str) -> np.ndarray:
    """A float64 copy of ``values``, refusing anything but real numbers (``None`` would
    otherwise become nan silently)."""
    try:
        raw = np.array(values)
    except (TypeError, ValueError):
        raw = None
    if raw is None or raw.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be a sequence of real numbers")
    return raw.astype(float)


def _validated_state(state: Any, dim: int) -> np.ndarray:
    x = _real_array(state, "the state of an adaptive Taylor integrator")
    if x.ndim != 1:
        raise ValueError(f"the state of an adaptive Taylor integrator must be one-dimensional, "
                         f"but it has shape {x.shape}")
    if len(x) != dim:
        raise ValueError(f"Inconsistent sizes detected in the initialization of an adaptive Taylor "
                         f"integrator: the state vector has a dimension of {len(x)}, while the "
                         f"number of equations is {dim}")
    return x


def _validated_pars(pars: Any, npars: int) -> np.ndarray:
    if pars is None:
        return np.zeros(npars)
    p = _real_array(pars, "the parameters of an adaptive Taylor integrator")
    if p.ndim > 1:
        raise ValueError("the parameters of an adaptive Taylor integrator must be a one-dimensional array")
    p = p.reshape(-1)
    if len(p) != npars:
        raise ValueError(f"Invalid number of parameter values passed to the constructor of an "
                         f"adaptive Taylor integrator: {len(p)} parameter value(s) were passed, but "
                         f"the ODE system contains {npars} parameter(s)")
    return p


def _validated_max_delta_t(m: Any, fname: str) -> float:
    m = _finite_float(m, "max_delta_t")
    if math.isnan(m):
        raise ValueError(f"A nan max_delta_t was passed to the {fname}() function of an adaptive "
                         "Taylor integrator")
    if m <= 0:
        raise ValueError(f"A non-positive max_delta_t was passed to the {fname}() function of an "
                         f"adaptive Taylor integrator ({m})")
    return m


def _validated_max_steps(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise TypeError(f"max_steps must be an integer, not {type(n).__name__}")
    if n < 0:
        raise ValueError(f"max_steps must be non-negative (0: no limit), but it is {n}")
    return int(n)


def _check_callback(cb: Any) -> None:
    if cb is not None and not callable(cb):
        raise TypeError(f"An object of type '{type(cb)}' cannot be used as a step callback because "
                        "it is not callable")


def _validated_grid(grid: Any, time: float) -> np.ndarray:
    try:
        g = np.array(grid, dtype=float)  # a copy: the grid may alias the state (heyoka#217)
    except (TypeError, ValueError):
        raise TypeError("the time grid must be a sequence of real numbers") from None
    if g.ndim != 1:
        raise ValueError(f"the time grid must be one-dimensional, but it has shape {g.shape}")
    if not len(g):
        raise ValueError("Cannot invoke propagate_grid() in an adaptive Taylor integrator if the "
                         "time grid is empty")
    if not np.isfinite(g).all():
        raise ValueError("A non-finite time value was passed to propagate_grid() in an adaptive "
                         "Taylor integrator")
    if g[0] != time:
        raise ValueError("When invoking propagate_grid(), the first element of the time grid must "
                         f"match the current time coordinate - however, the first element of the "
                         f"grid has a value of {g[0]}, while the current time coordinate is {time}")
    d = np.diff(g)
    if len(d) and not ((d > 0).all() or (d < 0).all()):
        raise ValueError("A non-monotonic time grid was passed to propagate_grid() in an adaptive "
                         "Taylor integrator")
    return g
