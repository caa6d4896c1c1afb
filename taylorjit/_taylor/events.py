"""Events: ``tj.t_event`` (terminal) and ``tj.nt_event`` (non-terminal), and their detection.

An event is an expression ``g(x, pars, t)``; the integrator reports the times where ``g``
crosses zero. The event functions are expanded in the same jet as the state (extra rows of
``tc``, see ``decompose.py``), so each step comes with ``g``'s Taylor polynomial over the step.
The native loop runs a cheap exclusion test on those polynomials (``driver.exclusion_text``);
only when it cannot rule out a root does Python see the step: :meth:`EventSet.detect` isolates
and refines the roots (``roots.py``), picks the first terminal event (the step is then
shortened to it), and the integrator calls the callbacks once the step is taken.

Semantics follow heyoka.py: non-terminal callbacks ``cb(ta, time, d_sgn)`` run after the step,
in time order; a terminal event stops at its time, its callback ``cb(ta, d_sgn)`` decides
whether the propagation goes on; after a terminal event fires it ignores roots for a cooldown
(automatic when negative: ten times the event function's error over its slope).
"""

from __future__ import annotations

import enum
import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._expr import Expr, as_expr
from .driver import EV
from .roots import horner, horner_derivative, polynomial_roots, side_sign

__all__ = ["event_direction", "t_event", "nt_event", "EventSet", "Detection"]


class event_direction(enum.IntEnum):  # noqa: N801 - heyoka's name
    """Which crossings fire an event: ``g`` decreasing, either, or increasing through zero."""

    negative = -1
    any = 0
    positive = 1


def _expression(expr: Any) -> Expr:
    try:
        return as_expr(expr)
    except TypeError:
        raise TypeError(f"an event function must be an expression, not {type(expr).__name__}") from None


def _direction(direction: Any) -> event_direction:
    if isinstance(direction, bool) or not isinstance(direction, int | np.integer):
        raise TypeError("the direction of an event must be a tj.event_direction (any, positive or "
                        f"negative), not {direction!r}")
    try:
        return event_direction(int(direction))
    except ValueError:
        raise ValueError(f"Invalid value {int(direction)} for the direction of an event: it must be "
                         "tj.event_direction.any (0), positive (1) or negative (-1)") from None


def _callback(callback: Any, nargs: int, what: str) -> Callable[..., Any]:
    """Check that ``callback`` is callable and accepts ``nargs`` positional arguments."""
    if not callable(callback):
        raise TypeError(f"An object of type '{type(callback)}' cannot be used as an event callback "
                        "because it is not callable")
    try:
        signature = inspect.signature(callback)
    except (TypeError, ValueError):
        return callback  # a builtin without introspection: trust it
    try:
        signature.bind(*([None] * nargs))
    except TypeError:
        raise TypeError(f"the callback of {what} is called as {_CALL_FORMS[nargs]}, but its signature "
                        f"{signature} does not accept {nargs} positional arguments") from None
    return callback


_CALL_FORMS = {2: "cb(ta, d_sgn)", 3: "cb(ta, time, d_sgn)"}


class t_event:  # noqa: N801 - heyoka's name
    """A terminal event: the integration stops where ``expr`` crosses zero.

    Parameters
    ----------
    expr
        The event function, an expression of the state variables, ``tj.par[i]`` and ``tj.time``.
    callback
        ``cb(ta, d_sgn) -> bool``, called with the integrator at the event (``d_sgn``: the sign
        of ``expr``'s time derivative there). A true return lets ``propagate_*`` go on; a false
        one (or no callback) stops it, with the outcome ``taylor_outcome(-(i + 1))`` for the
        i-th terminal event. The callback may change the state (a bounce), not the time.
    direction
        Fire only on crossings with ``d_sgn`` of this sign (default: any).
    cooldown
        After firing, roots within this time are ignored (so the event does not fire again at
        the same place); negative (default) deduces it from the tolerance and the slope.
    """

    def __init__(self, expr: Any, callback: Callable[..., Any] | None = None,
                 direction: Any = event_direction.any, cooldown: float = -1.0) -> None:
        self._expr = _expression(expr)
        self._callback = None if callback is None else _callback(callback, 2, "a terminal event")
        self._direction = _direction(direction)
        try:
            cd = float(cooldown)
        except (TypeError, ValueError):
            raise TypeError(f"the cooldown of a terminal event must be a real number, not "
                            f"{type(cooldown).__name__}") from None
        if not math.isfinite(cd):
            raise ValueError("Cannot set a non-finite cooldown value for a terminal event")
        self._cooldown = cd

    @property
    def expression(self) -> Expr:
        """The event function."""
        return self._expr

    @property
    def callback(self) -> Callable[..., Any] | None:
        """The callback (None: stop at the event)."""
        return self._callback

    @property
    def direction(self) -> event_direction:
        """The direction of the crossings that fire the event."""
        return self._direction

    @property
    def cooldown(self) -> float:
        """The cooldown (negative: automatic)."""
        return self._cooldown

    def __repr__(self) -> str:
        return (f"t_event({self._expr}, callback={self._callback!r}, direction={self._direction.name}, "
                f"cooldown={self._cooldown})")


class nt_event:  # noqa: N801 - heyoka's name
    """A non-terminal event: ``callback(ta, time, d_sgn)`` runs for each zero of ``expr``.

    The callbacks of a step run after the step is taken, in time order; ``ta`` is then at the
    end of the step (``ta.update_d_output(time)`` gives the state at the event). ``d_sgn`` is
    the sign of ``expr``'s time derivative at the event; ``direction`` filters on it.
    """

    def __init__(self, expr: Any, callback: Callable[..., Any],
                 direction: Any = event_direction.any) -> None:
        self._expr = _expression(expr)
        self._callback = _callback(callback, 3, "a non-terminal event")
        self._direction = _direction(direction)

    @property
    def expression(self) -> Expr:
        """The event function."""
        return self._expr

    @property
    def callback(self) -> Callable[..., Any]:
        """The callback."""
        return self._callback

    @property
    def direction(self) -> event_direction:
        """The direction of the crossings that fire the event."""
        return self._direction

    def __repr__(self) -> str:
        return f"nt_event({self._expr}, callback={self._callback!r}, direction={self._direction.name})"


def check_events(t_events: Sequence[Any], nt_events: Sequence[Any]) -> tuple[list[t_event], list[nt_event]]:
    """Validate the integrator's event lists."""
    tes, ntes = list(t_events), list(nt_events)
    for ev in tes:
        if not isinstance(ev, t_event):
            raise TypeError(f"t_events must hold tj.t_event objects, not {type(ev).__name__}")
    for ev in ntes:
        if not isinstance(ev, nt_event):
            raise TypeError(f"nt_events must hold tj.nt_event objects, not {type(ev).__name__}")
    return tes, ntes


@dataclass
class Detection:
    """What :meth:`EventSet.detect` found in a step.

    ``h`` is the step to take (shortened to the terminal event, if any); ``terminal`` is
    ``(index, d_sgn)`` of the terminal event that fires at its end; ``non_terminal`` lists
    ``(relative time, index, d_sgn)`` of the non-terminal events within the step, in order.
    """

    h: float
    terminal: tuple[int, int] | None
    non_terminal: list[tuple[float, int, int]]
    end_signs: np.ndarray


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


class EventSet:
    """The events of one integrator and their state between steps (cooldowns, last roots).

    Rows of the event polynomials in ``tc``: the terminal events, then the non-terminal ones
    (heyoka's order).
    """

    def __init__(self, t_events: list[t_event], nt_events: list[nt_event], tol: float) -> None:
        self.t_events = t_events
        self.nt_events = nt_events
        self._tol = tol
        #: Per terminal event: None, or [signed time since it fired, cooldown]: roots within
        #: the cooldown of the firing time are ignored, in either direction of integration.
        self.cooldowns: list[list[float] | None] = [None] * len(t_events)
        # Per non-terminal event: the absolute time of the last report and a window around it in
        # which the same crossing, seen again across a step boundary through round-off, is not
        # reported twice.
        self._last_time = [math.nan] * len(nt_events)
        self._last_window = [0.0] * len(nt_events)
        self._last_window_dir = [0.0] * len(nt_events)
        self._pending_cooldown: tuple[int, float] | None = None

    @property
    def expressions(self) -> list[Expr]:
        """The event functions, in row order."""
        return [e.expression for e in self.t_events] + [e.expression for e in self.nt_events]

    def __len__(self) -> int:
        return len(self.t_events) + len(self.nt_events)

    @property
    def directions(self) -> np.ndarray:
        """The events' directions, in row order (for the native test)."""
        return np.array([float(e.direction) for e in (*self.t_events, *self.nt_events)])

    @property
    def cooling(self) -> bool:
        """Whether some terminal event is in its cooldown."""
        return self.cooldowns.count(None) != len(self.cooldowns)  # (no generator: per step)

    def reset_cooldowns(self) -> None:
        """Clear all cooldowns."""
        self.cooldowns = [None] * len(self.t_events)

    def detect(self, polys: np.ndarray, h: float, t0: float, native: np.ndarray,
               scale: Callable[[], float]) -> Detection:
        """Find the events of the step ``[0, h]`` that starts at time ``t0``.

        ``polys`` holds the event polynomials (one row each); ``native`` the per-event arrays the
        native exclusion test filled (rows of ``driver.EV``: the signs at the end of the last
        step, at the end of this one, the directions, a status and a root per event). Only the
        events of status 2 need the full isolation here; status 1 brings its one root.
        ``scale()`` gives the size of the state (for the error of the event functions), when
        needed. Roots are sought in ``[0, h)``: a root at the step's end is the next step's root
        at its start.
        """
        nte = len(self.t_events)
        prev, next_sign, status, root = (native[EV.SIGN], native[EV.NEXT_SIGN], native[EV.STATUS],
                                         native[EV.ROOT])
        if not math.isfinite(h):  # an infinite step (a polynomial system, no limit) ends in err_nf_state
            return Detection(h, None, [], np.zeros_like(next_sign))
        found: list[tuple[float, int, int]] = []  # (tau, row, d_sgn)
        looked: list[int] = []
        for row in [r for r, st in enumerate(status.tolist()) if st]:
            cd = self.cooldowns[row] if row < nte else None
            lower = 0.0
            if cd is not None:
                # Moving away from the firing time the window shrinks, moving back it grows.
                left = cd[1] - cd[0] if h >= 0 else cd[1] + cd[0]
                lower = max(left, 0.0) / abs(h) if h else math.inf
                if lower >= 1.0:
                    continue
            c = polys[row]
            if status[row] == 1.0:
                tau = float(root[row]) / h
                if tau > lower:
                    found.append((tau, row, _sign(float(c[1]))))  # monotone: P' has c_1's sign
                continue
            looked.append(row)
            q = c * h ** np.arange(len(c))
            qlist = q.tolist()
            if lower == 0.0:
                start = self._crossing_at_start(qlist, int(prev[row]))
                if start is not None:  # (its sign in the step's variable; d_sgn is in time)
                    found.append((0.0, row, start * _sign(h)))
            for tau in polynomial_roots(q, lower):
                slope = horner_derivative(qlist, tau)
                found.append((tau, row, _sign(slope) * _sign(h)))
        found = [f for f in found if self._wanted(f, h, t0, polys, scale)]
        found.sort()
        terminal = next(((tau, row, d) for tau, row, d in found if row < nte), None)
        h_taken = h if terminal is None else terminal[0] * h
        tau_end = 1.0 if terminal is None else terminal[0]
        non_terminal = [(tau * h, row - nte, d) for tau, row, d in found
                        if row >= nte and tau <= tau_end]
        for t_rel, i, _ in non_terminal:
            self.remember(i, t0 + t_rel, h)
        end_signs = next_sign.copy()
        for row in (range(len(polys)) if terminal is not None else looked):
            end_signs[row] = _sign(horner(polys[row].tolist(), h_taken))
        fired = None
        if terminal is not None:
            end_signs[terminal[1]] = 0.0
            fired = (terminal[1], terminal[2])
            self._pending_cooldown = self._cooldown_of(terminal[1], terminal[0] * h,
                                                       polys[terminal[1]], scale())
        return Detection(h_taken, fired, non_terminal, end_signs)

    @staticmethod
    def _crossing_at_start(q: list[float], prev: int) -> int | None:
        """The sign ``q`` takes after a crossing exactly at the step's start, or None.

        Either the event function is exactly zero there and leaves zero on the other side from
        where it came (from ``prev``, the sign at the end of the last step; when unknown, an
        odd-order zero), or it is nonzero with the sign opposite to ``prev``: a crossing the last
        step's polynomial put, through round-off, just beyond its end.
        """
        after = side_sign(q, 0.0, right=True)
        if after == 0:
            return None  # identically zero: nothing crosses
        if q[0] != 0.0:
            return after if prev and after != prev else None
        before = prev or side_sign(q, 0.0, right=False)
        return after if before != after else None

    def _wanted(self, f: tuple[float, int, int], h: float, t0: float, polys: np.ndarray,
                scale: Callable[[], float]) -> bool:
        tau, row, d_sgn = f
        nte = len(self.t_events)
        ev = self.t_events[row] if row < nte else self.nt_events[row - nte]
        if ev.direction != event_direction.any and d_sgn != ev.direction:
            return False
        if row >= nte:
            i = row - nte
            gap = abs(t0 + tau * h - self._last_time[i])
            # In the same direction of integration, within sqrt(eps) of the last report (the cap
            # keeps a flat crossing, a glancing contact, from hiding a later distinct one) and
            # within what round-off can move a zero: the crossing just reported, seen again
            # across the step boundary. (Stepping back over it reports it again, as heyoka.)
            if (gap <= self._last_window[i] and (h > 0) == (self._last_window_dir[i] > 0)
                    and gap <= self._error_over_slope(polys[row], tau * h, scale())):
                return False
        return True

    def _error_over_slope(self, c: np.ndarray, t_rel: float, scale: float) -> float:
        """Ten times the event function's error (tolerance x size) over its slope at ``t_rel``:
        the width within which round-off can move its zero.

        The size is the largest of the state's, 1, and ``sum |c_k| |t_rel|^k``, the bound on the
        round-off of the step's polynomial evaluated at the zero (heyoka takes the state's):
        an elastic ball that falls 10 m in one step lands at y = -3e-14 after 95 bounces, whose
        upward crossing 2.3e-15 s later a cooldown of the state's size (14) missed by 5%."""
        size = horner(np.abs(c).tolist(), abs(t_rel))
        g_eps = self._tol * max(1.0, scale, abs(float(c[0])), size)
        slope = abs(horner_derivative(c.tolist(), t_rel))
        width = 10 * g_eps / slope if slope else math.inf
        return width if math.isfinite(width) else 0.0

    def remember(self, i: int, t_abs: float, h: float) -> None:
        """Record that non-terminal event ``i`` was reported at ``t_abs`` in a step of size ``h``."""
        self._last_time[i] = t_abs
        self._last_window[i] = 1.5e-8 * abs(h)
        self._last_window_dir[i] = h

    def _cooldown_of(self, i: int, t_rel: float, c: np.ndarray, scale: float) -> tuple[int, float]:
        """The cooldown of terminal event ``i``, firing at ``t_rel`` in the step of ``c``."""
        ev = self.t_events[i]
        # As heyoka: a user cooldown hides every root within it (a pendulum's v = 0 event with a
        # cooldown longer than half a period fires at every other turning point).
        return i, ev.cooldown if ev.cooldown >= 0 else self._error_over_slope(c, t_rel, scale)

    def step_taken(self, h: float) -> None:
        """Account for a step of size ``h`` in the cooldowns (those running, then the one a
        terminal event at the step's end starts)."""
        for i, c in enumerate(self.cooldowns):
            if c is not None:
                c[0] += h
                if abs(c[0]) >= c[1]:
                    self.cooldowns[i] = None
        if self._pending_cooldown is not None:
            i, cd = self._pending_cooldown
            self.cooldowns[i] = [0.0, cd] if cd > 0 else None
            self._pending_cooldown = None
