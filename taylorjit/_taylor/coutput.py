"""Continuous output: the Taylor polynomials of every step of a propagation, evaluable anywhere
inside the propagated span (heyoka extrapolates silently outside it; we raise)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["continuous_output", "horner"]


def horner(tc: np.ndarray, dt: np.ndarray | float, compensated: bool = False) -> np.ndarray:
    """Evaluate polynomials with coefficients ``tc[..., k]`` at ``dt`` (broadcast on leading axes).

    ``compensated`` recovers each rounding error exactly (Dekker's product, Knuth's TwoSum) and
    adds them back, as the compiled update does with ``high_accuracy``: the result is as
    accurate as if computed in twice the precision.
    """
    acc = tc[..., -1]
    if not compensated:
        for k in range(tc.shape[-1] - 2, -1, -1):
            acc = acc * dt + tc[..., k]
        return acc
    err = np.zeros(np.broadcast_shapes(np.shape(acc), np.shape(dt)))
    for k in range(tc.shape[-1] - 2, -1, -1):
        prod, prod_err = _two_product(acc, dt)
        acc, sum_err = _two_sum(prod, tc[..., k])
        err = err * dt + (prod_err + sum_err)
    return acc + err


def _split(a: Any) -> tuple[Any, Any]:
    c = 134217729.0 * a  # 2**27 + 1 (Veltkamp)
    hi = c - (c - a)
    return hi, a - hi


def _two_product(a: Any, b: Any) -> tuple[Any, Any]:
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _two_sum(a: Any, b: Any) -> tuple[Any, Any]:
    s = a + b
    bv = s - a
    return s, (a - (s - bv)) + (b - bv)


class continuous_output:  # noqa: N801 - heyoka's name
    """Dense output over a whole propagation: ``c_output(t)`` for a time or an array of times.

    Attributes
    ----------
    times
        The step boundaries, in the direction of integration (``nsteps + 1`` values).
    tcs
        The Taylor coefficients of each step, shape ``(nsteps, dim, order + 1)``.
    bounds
        ``(t_begin, t_end)`` of the propagated span.
    """

    def __init__(self, starts_hi: np.ndarray, starts_lo: np.ndarray, steps: np.ndarray,
                 tcs: np.ndarray, compensated: bool = False) -> None:
        self._compensated = compensated
        self._hi = np.asarray(starts_hi, dtype=float)
        self._lo = np.asarray(starts_lo, dtype=float)
        self._h = np.asarray(steps, dtype=float)
        self.tcs = tcs
        self.times = np.append(self._hi, self._hi[-1] + self._lo[-1] + self._h[-1]) if len(
            self._h) else np.array([])
        self._backward = len(self._h) > 0 and self._h[0] < 0
        self._sorted = self.times[::-1] if self._backward else self.times

    @property
    def n_steps(self) -> int:
        """Number of steps recorded."""
        return len(self._h)

    @property
    def bounds(self) -> tuple[float, float]:
        """Start and end time of the propagated span."""
        if not len(self.times):
            raise ValueError("the continuous output is empty (no step was taken)")
        return float(self.times[0]), float(self.times[-1])

    def __call__(self, t: float | np.ndarray) -> np.ndarray:
        """The state at time(s) ``t``: shape ``(dim,)`` for a scalar, ``(len(t), dim)`` else.

        Raises
        ------
        ValueError
            For a non-finite time or one outside the propagated span.
        """
        scalar = np.ndim(t) == 0
        ts = np.atleast_1d(np.asarray(t, dtype=float))
        if ts.ndim != 1:
            raise ValueError("c_output() takes a time or a one-dimensional array of times")
        bad = ~np.isfinite(ts)
        if bad.any():
            raise ValueError(f"Cannot compute the continuous output at the non-finite time {ts[bad][0]}")
        if not self.n_steps:
            raise ValueError("the continuous output is empty (no step was taken)")
        lo, hi = self._sorted[0], self._sorted[-1]
        outside = (ts < lo) | (ts > hi)
        if outside.any():
            raise ValueError(f"Cannot compute the continuous output at the time {ts[outside][0]}: it is "
                             f"outside the propagated span [{lo}, {hi}] (no extrapolation)")
        if self._backward:
            idx = self.n_steps - np.searchsorted(self._sorted, ts, side="left")
        else:
            idx = np.searchsorted(self._sorted, ts, side="right") - 1
        idx = np.clip(idx, 0, self.n_steps - 1)
        dt = (ts - self._hi[idx]) - self._lo[idx]
        out = horner(self.tcs[idx], dt[:, None], self._compensated)
        return out[0] if scalar else out

    def __repr__(self) -> str:
        if not self.n_steps:
            return "<continuous_output: empty>"
        return f"<continuous_output: {self.n_steps} steps over [{self.times[0]}, {self.times[-1]}]>"
