"""Hypothesis strategies shared by the tests: random expression DAGs over given variables.

Every function is applied through a wrapper that keeps its argument inside the domain
(``log(1 + a**2)``, ``asin(tanh(a))``, ...), so random expressions evaluate to finite numbers on
moderate inputs and tests compare values, not NaN patterns.
"""

from __future__ import annotations

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


def expressions(variables, max_leaves: int = 10):
    """Random expressions over ``variables`` (and small numbers and ``tj.par[0]`` if asked)."""
    leaves = st.sampled_from(list(variables)) | st.sampled_from([0.5, 2, -1.25, 3])

    def extend(children):
        unary = st.tuples(st.sampled_from(UNARY), children).map(lambda t: t[0](t[1]))
        binary = st.tuples(st.sampled_from(BINARY), children, children).map(
            lambda t: t[0](t[1], t[2]))
        return unary | binary

    return st.recursive(leaves, extend, max_leaves=max_leaves).filter(
        lambda e: isinstance(e, tj.Expr))
