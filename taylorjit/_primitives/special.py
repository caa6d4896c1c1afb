"""Special functions: erf and Kepler's eccentric anomaly kepE."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._expr import Expr, Num, call
from .rules import chain_rule, dconv
from .table import Primitive, TaylorForm, apply, fixed_form, register

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_erf_ufunc = np.frompyfunc(math.erf, 1, 1)


def _erf_numpy(x: Any) -> Any:
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 0:
        return math.erf(float(arr))
    return _erf_ufunc(arr).astype(float)


register(Primitive(
    name="erf", arity=1, numpy_eval=_erf_numpy,
    derivative=lambda args, node: (_TWO_OVER_SQRT_PI * call("exp", -call("square", args[0])),),
    taylor=fixed_form(
        lambda A, k, y, s, aux: A.scale(chain_rule(A, k, s[0], aux[0]), _TWO_OVER_SQRT_PI),
        lambda args, node: (call("exp", -call("square", args[0])),),
    ),
    lowering="libm:erf", sympy_name="erf", exact=lambda a: 0 if a == 0 else None,
    doc="y = erf(a), g = exp(-a**2): y[k] = (2/sqrt(pi)) (1/k) sum_{j=1..k} j a[j] g[k-j]",
))


def kepler_eccentric_anomaly(e: Any, M: Any) -> Any:
    """Solve Kepler's equation ``E - e sin(E) = M`` for ``E`` (numpy reference for kepE).

    ``M`` is reduced to ``[-pi, pi]`` (not at all when it is already there, so no cancellation
    for small anomalies), then a Newton iteration safeguarded by bisection on the bracket
    ``[-pi, pi]`` runs, lane by lane, until the step is below 4 ulp or the residual is at
    round-off level; converges to machine
    precision for ``0 <= e < 1``. Eccentricities outside ``[0, 1)`` and non-finite inputs give
    nan, as heyoka does. The compiled lowering (``taylorjit._jit.lower``) runs the same iteration.
    """
    e_arr, m_arr = np.broadcast_arrays(np.asarray(e, dtype=float), np.asarray(M, dtype=float))
    scalar = e_arr.ndim == 0
    e_arr, m_arr = np.atleast_1d(e_arr).astype(float), np.atleast_1d(m_arr).astype(float)
    with np.errstate(all="ignore"):
        valid = (e_arr >= 0) & (e_arr < 1) & np.isfinite(m_arr)
        turns = np.where(np.abs(m_arr) <= math.pi, 0.0, np.round(m_arr / (2.0 * math.pi)))
        mr = np.where(valid, m_arr - turns * (2.0 * math.pi), 0.0)
        ev = np.where(valid, e_arr, 0.0)
        lo, hi = np.full_like(mr, -math.pi), np.full_like(mr, math.pi)
        E = mr + ev * np.sin(mr)
        active = ev != 0
        for _ in range(100):
            f = E - ev * np.sin(E) - mr
            hi = np.where(f > 0, E, hi)
            lo = np.where(f > 0, lo, E)
            new = E - f / (1.0 - ev * np.cos(E))
            new = np.where((new >= lo) & (new <= hi), new, 0.5 * (lo + hi))
            # Converged: a step below 4 ulp, or a residual at round-off level (near e = 1 the
            # slope 1 - e cos(E) is tiny and steps never shrink below the noise of f).
            eps = np.finfo(float).eps
            converged = (np.abs(new - E) <= 4 * eps * np.maximum(1.0, np.abs(E))) | (
                np.abs(f) <= 2 * eps * np.maximum(1.0, np.abs(mr)))
            E = np.where(active, new, E)
            active &= ~converged
            if not active.any():
                break
        out = np.where(valid, np.where(ev == 0, m_arr, E + turns * (2.0 * math.pi)), np.nan)
    return float(out[0]) if scalar else out


def _kepE_rule(A, k, E, s, aux):
    """E = kepE(e, M), sn = sin(E), d = 1 - e cos(E): d E' = M' + e' sn.

    k d[0] E[k] = k M[k] + sum_{j=1..k} j e[j] sn[k-j] - sum_{j=1..k-1} j E[j] d[k-j].
    """
    ecc, M = s
    sn, d = aux
    rest = A.sub(dconv(A, k, ecc, sn), dconv(A, k, E, d, 1, k - 1))
    return A.div_leading(A.add(M[k], A.div(rest, k)), d[0])


def _kepE_simplify(args: tuple[Expr, ...]) -> Expr | None:
    ecc, M = args
    if isinstance(ecc, Num) and ecc.is_exact and ecc.value == 0:  # heyoka#185: kepE(0, M) is M
        return M
    return None


def _kepE_derivative(args: tuple[Expr, ...], node: Expr) -> tuple[Expr, ...]:
    ecc = args[0]
    d = 1 - ecc * call("cos", node)
    return call("sin", node) / d, 1 / d


register(Primitive(
    name="kepE", arity=2, numpy_eval=kepler_eccentric_anomaly,
    derivative=_kepE_derivative,
    taylor=lambda args, node: TaylorForm(
        _kepE_rule, (call("sin", node), 1 - args[0] * call("cos", node))
    ),
    lowering="ir:kepE", sympy_name="kepE",
    exact=lambda e, M: 0 if M == 0 and 0 <= e < 1 else None,
    simplify_rule=_kepE_simplify,
    doc=_kepE_rule.__doc__ or "",
))


def erf(x: Any) -> Any:
    """The error function."""
    return apply("erf", x)


def kepE(e: Any, M: Any) -> Any:  # noqa: N802 - heyoka's name
    """Kepler's eccentric anomaly: the ``E`` with ``E - e sin(E) = M`` (``0 <= e < 1``)."""
    return apply("kepE", e, M)
