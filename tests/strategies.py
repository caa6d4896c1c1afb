"""Hypothesis strategies shared by the tests: random taylorjit expressions over given leaves.

Every function is applied through a wrapper that keeps its argument inside the domain
(``log(1 + a**2)``, ``asin(tanh(a))``, ...), so random expressions evaluate to finite numbers on
moderate inputs and tests compare values, not NaN patterns. Two wrapper families:

- ``UNARY``/``BINARY`` (``expressions``): values only; reaches ``atan2`` in every quadrant,
  ``kepE`` with a constant eccentricity and eccentricities up to 0.9.
- ``SERIES_UNARY``/``SERIES_BINARY`` (``series_expressions``): every argument stays a fixed
  distance from singularities and branch cuts, so Taylor coefficients and derivatives of any
  order are well defined and well conditioned at any point.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from hypothesis import strategies as st

import taylorjit as tj

UNARY = [
    lambda a: -a,
    tj.square,
    lambda a: tj.sqrt(1 + tj.square(a)),
    lambda a: tj.exp(tj.sin(a)),
    lambda a: tj.log(1 + tj.square(a)),
    tj.sin,
    tj.cos,
    lambda a: tj.tan(0.5 * tj.tanh(a)),
    lambda a: tj.asin(tj.tanh(a) * 0.9),
    lambda a: tj.acos(tj.tanh(a) * 0.9),
    tj.atan,
    lambda a: tj.sinh(tj.sin(a)),
    lambda a: tj.cosh(tj.sin(a)),
    tj.tanh,
    tj.asinh,
    lambda a: tj.acosh(2 + tj.square(a)),
    lambda a: tj.atanh(0.9 * tj.tanh(a)),
    tj.erf,
    lambda a: tj.kepE(0.4, a),
]
BINARY = [
    lambda a, b: a + b,
    lambda a, b: a - b,
    lambda a, b: a * b,
    lambda a, b: a / (2 + tj.sin(b)),
    lambda a, b: tj.pow(1 + tj.square(a), tj.sin(b)),
    lambda a, b: tj.pow(1 + tj.square(a), 1.5),
    lambda a, b: a**3 - b,
    tj.atan2,
    lambda a, b: tj.kepE(0.45 * (1 + tj.tanh(a)), b),
]


def _bounded(u):
    """Maps an arbitrary expression to one with values in [-1, 1]."""
    return tj.sin(u)


SERIES_UNARY = [
    tj.sin, tj.cos, tj.atan, tj.tanh, tj.erf, tj.asinh, tj.square, lambda u: -u,
    lambda u: tj.exp(_bounded(u)),
    lambda u: tj.log(2 + _bounded(u)),
    lambda u: tj.sqrt(1 + tj.square(u)),
    lambda u: tj.tan(0.5 * _bounded(u)),
    lambda u: tj.asin(0.5 * _bounded(u)),
    lambda u: tj.acos(0.5 * tj.cos(u)),
    lambda u: tj.atanh(0.5 * tj.tanh(u)),
    lambda u: tj.acosh(2.5 + _bounded(u)),
    lambda u: tj.sinh(_bounded(u)),
    lambda u: tj.cosh(_bounded(u)),
    lambda u: tj.pow(u, 3),
    lambda u: 1 / (2 + _bounded(u)),
]
SERIES_BINARY = [
    lambda a, b: a + b,
    lambda a, b: a - b,
    lambda a, b: a * b,
    lambda a, b: a / (2 + _bounded(b)),
    lambda a, b: tj.atan2(a, 2 + _bounded(b)),
    lambda a, b: tj.kepE(0.25 + 0.25 * _bounded(a), b),
    lambda a, b: tj.pow(2 + _bounded(a), tj.cos(b)),
]


def trees(leaves: st.SearchStrategy, unary: Sequence[Callable], binary: Sequence[Callable],
          max_leaves: int,
          more: Callable[[st.SearchStrategy], st.SearchStrategy] | None = None):
    """Trees grown from ``leaves`` by the wrappers in ``unary`` and ``binary``.

    ``more(children)``, if given, is one more way to grow a node from ``children``.
    """

    def extend(children):
        grown = [st.tuples(st.sampled_from(unary), children).map(lambda t: t[0](t[1])),
                 st.tuples(st.sampled_from(binary), children, children).map(
                     lambda t: t[0](t[1], t[2]))]
        if more is not None:
            grown.append(more(children))
        return st.one_of(grown)

    return st.recursive(leaves, extend, max_leaves=max_leaves)


def expressions(variables: Iterable, max_leaves: int = 10):
    """Random expressions over ``variables`` and small numbers, from ``UNARY`` and ``BINARY``."""
    leaves = st.sampled_from(list(variables)) | st.sampled_from([0.5, 2, -1.25, 3])
    return trees(leaves, UNARY, BINARY, max_leaves).filter(lambda e: isinstance(e, tj.Expr))


def series_expressions(leaves: Iterable, max_leaves: int = 6, *, exponents: Iterable = (1.5,)):
    """Random expressions over ``leaves`` from ``SERIES_UNARY`` and ``SERIES_BINARY``.

    ``leaves`` are the allowed leaves (variables, ``tj.par[i]``, ``tj.time``, ``Num``s); each of
    ``exponents`` (a float, a ``Fraction``, a parameter, ...) adds the wrapper
    ``u -> pow(2 + sin(u), exponent)``.
    """
    powers = [lambda u, e=e: tj.pow(2 + _bounded(u), e) for e in exponents]
    return trees(st.sampled_from(list(leaves)), [*SERIES_UNARY, *powers], SERIES_BINARY,
                 max_leaves)
