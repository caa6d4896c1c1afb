"""Real roots of a step's event polynomial: isolation by Descartes' rule of signs, then Newton.

The event function's Taylor polynomial over a step, ``P(t) = sum c_k t^k`` with ``t`` between
0 and ``h``, is rescaled to ``q(x) = P(x h)`` on ``[0, 1)``. The number of sign changes in the
coefficients of ``(1 + x)^n q(1 / (1 + x))`` bounds the number of roots of ``q`` in ``(0, 1)``
and has the same parity (Descartes, via the Möbius map of ``(0, 1)`` onto ``(0, inf)``): 0 proves
there is none, 1 isolates one, more asks for a bisection (the halves are ``q(x/2)`` and
``q((x+1)/2)``). This is the method heyoka uses, with two changes that make it safe in floating
point:

* the sign of ``q`` at each interval's ends is evaluated as well: a sign change there proves an
  odd number of roots even when rounding has spoilt the count, so no crossing is lost;
* bisection stops at a width of about ``2**-50``; below it a cluster of roots (a tangential
  contact, a double root blurred by rounding) counts by parity: one crossing when the ends'
  signs differ, none when they agree;
* two adjacent roots between which the polynomial stays within its evaluation error are a
  double root split by rounding (about ``sqrt(eps)`` apart): a tangential contact, dropped.

An interval on which the polynomial is monotone (a bound on its derivative) is decided at once by
its ends' signs. Each isolated root is then refined on the original (undivided) polynomial by
safeguarded Newton (bisection whenever a Newton step leaves the bracket) to the last bit.
Everything works on Python floats and small numpy matrices: it runs only for the steps whose
native test (``driver.exclusion_text``) could neither rule out nor locate a root by itself.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

__all__ = ["polynomial_roots", "horner", "horner_derivative"]

#: Bisection depth below which a cluster of roots is decided by the parity of the end signs.
_MAX_DEPTH = 50
#: At most this many intervals are examined per polynomial (a guard against noise-driven
#: explosions; never reached on Taylor polynomials in tests).
_MAX_INTERVALS = 4000


@cache
def _matrices(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For degree ``n``: the Descartes map ``q -> (1+x)^n q(1/(1+x))``, the shift
    ``q(x) -> q(x + 1)``, and the halving scale ``q(x) -> q(x/2)`` (as a vector)."""
    binom = np.zeros((n + 1, n + 1))
    for i in range(n + 1):
        for j in range(i + 1):
            binom[i, j] = math.comb(i, j)
    # (1+x)^n q(1/(1+x)) = sum_k q_k (1+x)^(n-k): column k holds C(n-k, j).
    descartes = np.zeros((n + 1, n + 1))
    for k in range(n + 1):
        descartes[: n - k + 1, k] = binom[n - k, : n - k + 1]
    # q(x+1) = sum_k q_k (x+1)^k: row j, column k holds C(k, j).
    shift = binom.T.copy()
    halve = 0.5 ** np.arange(n + 1)
    return descartes, shift, halve


@cache
def _ranks(n: int) -> np.ndarray:
    """``[1, 2, ..., n]``: the factors of a polynomial's derivative."""
    return np.arange(1.0, n + 1)


def _sign_changes(c: np.ndarray) -> int:
    s = np.sign(c)
    s = s[s != 0]
    return int(np.count_nonzero(s[1:] != s[:-1]))


def horner(c: list[float], x: float) -> float:
    """``sum c[k] x**k``."""
    acc = 0.0
    for ck in reversed(c):
        acc = acc * x + ck
    return acc


def horner_derivative(c: list[float], x: float) -> float:
    """``sum k c[k] x**(k-1)``."""
    acc = 0.0
    for k in range(len(c) - 1, 0, -1):
        acc = acc * x + k * c[k]
    return acc


def _refine(c: list[float], a: float, b: float, fa: float) -> float:
    """The root of the polynomial ``c`` bracketed by ``[a, b]`` (``c`` changes sign once there;
    ``fa`` its value at ``a``), to the last bit: Newton steps while they stay inside the
    bracket, bisection otherwise (the native ``event_root`` does the same)."""
    neg_at_a = fa < 0
    x = 0.5 * (a + b)
    for _ in range(100):
        f, df = 0.0, 0.0
        for ck in reversed(c):
            df = df * x + f
            f = f * x + ck
        if f == 0.0:
            return x
        if (f < 0) == neg_at_a:
            a = x
        else:
            b = x
        step = x - f / df if df else math.nan
        x_next = step if a < step < b else 0.5 * (a + b)
        if abs(x_next - x) <= 2 * 2.0**-52 * abs(x_next) or x_next in (a, b):
            return x_next
        x = x_next
    return x


def taylor_shift(c: list[float], x: float) -> list[float]:
    """Coefficients of ``q(x + y)`` in ``y`` (repeated synthetic division)."""
    d = list(c)
    n = len(d) - 1
    for i in range(n):
        for j in range(n - 1, i - 1, -1):
            d[j] += x * d[j + 1]
    return d


def side_sign(c: list[float], x: float, right: bool) -> int:
    """The sign of ``q`` just right (or left) of ``x``: the sign of ``q(x)``, or where that is
    zero, of its first nonzero Taylor coefficient at ``x`` (times ``(-1)**m`` on the left)."""
    d = taylor_shift(c, x)
    for m, dm in enumerate(d):
        if dm != 0.0:
            s = 1 if dm > 0 else -1
            return s if right or m % 2 == 0 else -s
    return 0


def polynomial_roots(coeffs: np.ndarray, lower: float = 0.0) -> list[float]:
    """The crossings of ``q(x) = sum coeffs[k] x**k`` in ``(lower, 1)``, ascending, each once.

    ``q`` changes sign at each reported root. Roots exactly at ``lower`` and at 1 are not
    reported (the caller decides about the step's start, where it knows the sign before; a
    root at 1 belongs to the next step). Clusters narrower than about ``2**-50`` count by
    parity (see the module docstring).
    """
    q = np.asarray(coeffs, dtype=float)
    if not np.isfinite(q).all() or not q.any():
        return []
    q = q[: int(np.flatnonzero(q)[-1]) + 1]  # the true degree (a cubic's jet has 18 zeros on top)
    n = len(q) - 1
    if n < 1:
        return []
    qlist = q.tolist()
    descartes, shift, halve = _matrices(n)
    roots: list[float] = []
    isolated: list[tuple[float, float, int, int]] = []
    # Work list: (a, b, depth, coefficients of q on [a, b] mapped onto [0, 1]).
    work = [(0.0, 1.0, 0, q)]
    examined = 0
    while work:
        a, b, depth, p = work.pop()
        examined += 1
        if b <= lower:
            continue
        fa, fb = horner(qlist, a), horner(qlist, b)
        if fa == 0.0 and lower < a:  # exactly at a bisection point: a root if q crosses there
            if side_sign(qlist, a, right=False) * side_sign(qlist, a, right=True) < 0:
                roots.append(a)
        sa = side_sign(qlist, a, right=True) if fa == 0.0 else (1 if fa > 0 else -1)
        sb = side_sign(qlist, b, right=False) if fb == 0.0 else (1 if fb > 0 else -1)
        ends_differ = sa * sb < 0
        slope = p[1:] * _ranks(n)
        if abs(slope[0]) > np.abs(slope[1:]).sum() * (1 + 2.0**-40):
            # q is monotone on [a, b]: one root if the ends differ, none otherwise. Decides at
            # once what bisection would take 50 levels to settle (a root just outside the
            # interval, as right after a terminal event, inflates the Descartes count).
            if ends_differ:
                isolated.append((a, b, sa, sb))
            continue
        count = _sign_changes(descartes @ p)
        if count == 0 and not ends_differ:
            continue
        # A count whose parity disagrees with the ends' signs was spoilt by round-off (a root
        # within an ulp of an end): bisect on rather than trust it.
        if (count == 1 and ends_differ) or depth >= _MAX_DEPTH or examined > _MAX_INTERVALS:
            if ends_differ:
                isolated.append((a, b, sa, sb))
            continue
        left = p * halve
        mid = 0.5 * (a + b)
        work.append((mid, b, depth + 1, shift @ left))
        if mid > lower:
            work.append((a, mid, depth + 1, left))
    for a, b, sa, sb in isolated:
        if a < lower:
            a = lower
            fl = horner(qlist, a)
            sa = side_sign(qlist, a, right=True) if fl == 0.0 else (1 if fl > 0 else -1)
            if sa * sb > 0:
                continue  # the crossing fell inside the cut
        fa, fb = horner(qlist, a), horner(qlist, b)
        if fa == 0.0 or fb == 0.0:
            # An exact zero at an end: step inward to the nearest float with the end's side sign.
            fa = fa or sa * math.ulp(0.0)
            fb = fb or sb * math.ulp(0.0)
        root = _refine(qlist, a, b, fa)
        if lower < root < 1.0:
            roots.append(root)
    return _without_tangencies(qlist, sorted(set(roots)))


#: A dip between two adjacent roots smaller than this many ulps of the polynomial's terms is
#: round-off around a double root (a tangential contact), not two crossings.
_TANGENCY_ULPS = 8


def _without_tangencies(q: list[float], roots: list[float]) -> list[float]:
    """Drop pairs of adjacent roots between which ``q`` stays within its evaluation error.

    A double root (the event function touching zero) becomes, through the rounding of its
    coefficients, two roots about ``sqrt(eps)`` apart or none: the first would fire a spurious
    pair of events. Real close crossings dip by more (two roots 1e-7 apart on a unit-curvature
    function: 2.5e-15, against ~6e-16 of error) and are kept.
    """
    out: list[float] = []
    i = 0
    while i < len(roots):
        if i + 1 < len(roots):
            mid = 0.5 * (roots[i] + roots[i + 1])
            size = horner([abs(c) for c in q], mid)
            if abs(horner(q, mid)) <= _TANGENCY_ULPS * 2.0**-52 * size:
                i += 2
                continue
        out.append(roots[i])
        i += 1
    return out
