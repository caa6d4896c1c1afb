"""Helpers shared by the models: argument conversion, folding products, gravitational pairs.

Integration speed depends on the size of the decomposition, so the models build their
expressions for sharing: the DAG is hash-consed, and a subexpression written twice is one node.
:class:`Gravity` computes ``|r_j - r_i|**-3`` once per pair and, when both bodies have the same
mass, the two opposite accelerations of the pair are the same nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction

import numpy as np

from .._expr import Call, Expr, Num, Var, as_expr
from .._primitives.arith import sqrt, square

#: What the models accept where heyoka.model accepts an expression: an expression, a number
#: (int, float, Fraction, numpy scalar) or a string, which names a variable (as in heyoka).
ExprLike = Expr | int | float | Fraction | np.floating | np.integer | str

#: An ODE system: ``(variable, right-hand side)`` pairs.
System = list[tuple[Expr, Expr]]

#: A Cartesian 3-vector of expressions.
Vec = tuple[Expr, Expr, Expr]

#: The exponent of an inverse-square acceleration, kept exact: ``r2 ** (-3/2)`` is ``1/r**3``.
MINUS_THREE_HALVES = Fraction(-3, 2)


def to_expr(value: object, what: str) -> Expr:
    """``value`` as an expression; ``what`` names the argument in the error message.

    Raises
    ------
    TypeError
        ``value`` is neither an expression, a real number nor a string.
    """
    if isinstance(value, str):
        return Var(value)
    try:
        return as_expr(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"{what} must be an expression, a real number or a variable name, "
            f"got {value!r} (of type {type(value).__name__})"
        ) from None


def to_expr_list(values: object, what: str) -> list[Expr]:
    """A sequence of expression-likes as a list of expressions (see :func:`to_expr`).

    Raises
    ------
    TypeError
        ``values`` is not a sequence (a string or a single expression is not), or one of its
        elements is not expression-like.
    """
    if isinstance(values, str | Expr) or not isinstance(values, Iterable):
        raise TypeError(f"{what} must be a list of expressions or numbers, got {values!r}")
    return [to_expr(v, f"{what}[{i}]") for i, v in enumerate(values)]


def is_zero(e: Expr) -> bool:
    """``e`` is the number 0 (exact or float)."""
    return isinstance(e, Num) and e.value == 0


def is_one(e: Expr) -> bool:
    """``e`` is the number 1 (exact or float)."""
    return isinstance(e, Num) and e.value == 1


def _negated(e: Expr) -> Expr | None:
    """``x`` when ``e`` is ``-x``, else None."""
    return e.args[0] if isinstance(e, Call) and e.name == "neg" else None


# NOTE: the model builders below fold what the expression layer leaves as written. That layer
# keeps float identities (``x * 1.0``) and signs exactly as the user wrote them, for exact sympy
# round trips. Inside a model the numbers are parameters of the physics (``Gconst=1.0``, unit
# masses, a zero component of an angular velocity) and the signs come from the formulas: folding
# them is what heyoka does, and each folded node is one series less per integration step.
# ``0.0 * x`` differs from 0 only where ``x`` is infinite or NaN.
def neg(a: Expr) -> Expr:
    """``-a``, turning ``-(p - q)`` into ``q - p``."""
    if isinstance(a, Call) and a.name == "sub":
        return a.args[1] - a.args[0]
    return -a


def add(a: Expr, b: Expr) -> Expr:
    """``a + b``, absorbing a negated operand: ``a + (-x)`` is ``a - x``."""
    if (x := _negated(b)) is not None:
        return sub(a, x)
    if (x := _negated(a)) is not None:
        return sub(b, x)
    return a + b


def sub(a: Expr, b: Expr) -> Expr:
    """``a - b``, absorbing a negated ``b`` and a zero ``a`` (exact or float)."""
    if (x := _negated(b)) is not None:
        return add(a, x)
    if is_zero(a):
        return neg(b)
    return a - b


def mul(a: Expr, b: Expr) -> Expr:
    """``a * b``, folding a numeric factor 1, -1 or 0 even when it is a float."""
    for x, other in ((a, b), (b, a)):
        if isinstance(x, Num):
            if x.value == 1:
                return other
            if x.value == -1:
                return neg(other)
            if x.value == 0:
                return Num(0)
    return a * b


def signed_sum(plus: Sequence[Expr], minus: Sequence[Expr] = ()) -> Expr:
    """``sum(plus) - sum(minus)``: one binary node per term, a negation only if ``plus`` is empty.

    Zero terms are dropped; an empty sum is ``0.0`` (as in heyoka).
    """
    plus = [t for t in plus if not is_zero(t)]
    minus = [t for t in minus if not is_zero(t)]
    if not plus:
        return neg(signed_sum(minus)) if minus else Num(0.0)
    total = plus[0]
    for term in plus[1:]:
        total = add(total, term)
    for term in minus:
        total = sub(total, term)
    return total


def norm2(v: Sequence[Expr]) -> Expr:
    """The squared Euclidean norm ``v[0]**2 + v[1]**2 + v[2]**2``."""
    return signed_sum([square(c) for c in v])


def separation(ri: Sequence[Expr], rj: Sequence[Expr]) -> tuple[Vec, Expr]:
    """The vector ``rj - ri`` and its squared norm.

    A model orients each pair the same way in its equations and its energy, so the energy's
    distances are nodes the equations already hold.
    """
    d = (sub(rj[0], ri[0]), sub(rj[1], ri[1]), sub(rj[2], ri[2]))
    return d, norm2(d)


def over_distance(m: Expr, ri: Sequence[Expr], rj: Sequence[Expr]) -> Expr:
    """``m / |rj - ri|``: one term of a gravitational potential."""
    return m / sqrt(separation(ri, rj)[1])


def cross(a: Sequence[Expr], b: Sequence[Expr]) -> Vec:
    """The cross product ``a x b``."""
    return (
        sub(mul(a[1], b[2]), mul(a[2], b[1])),
        sub(mul(a[2], b[0]), mul(a[0], b[2])),
        sub(mul(a[0], b[1]), mul(a[1], b[0])),
    )


def dot(a: Sequence[Expr], b: Sequence[Expr]) -> Expr:
    """The dot product ``a . b``."""
    return signed_sum([mul(x, y) for x, y in zip(a, b, strict=True)])


class Gravity:
    """Newtonian accelerations of point masses, accumulated pair by pair.

    Parameters
    ----------
    positions
        The position vector of each body (variables, numbers or expressions).
    G
        The gravitational constant.
    masses
        The mass of each body, or ``None`` for a massless body (it feels the others' pull but
        exerts none).

    Notes
    -----
    :meth:`attract` adds the pull between two bodies to both bodies' sums as signed terms, and
    :meth:`acceleration` adds them up with one binary node per term; a body whose terms are all
    subtracted costs one negation per component, so callers orient the pairs to avoid that.
    The pair's ``|r_j - r_i|**-3`` is computed once.
    When both masses are numbers, the second body's acceleration is the first one's scaled by
    ``-m_i/m_j`` (three products instead of four), and with equal masses it is the first one's
    very node, subtracted.
    """

    def __init__(self, positions: Sequence[Sequence[Expr]], G: Expr, masses: Sequence[Expr | None]) -> None:
        self.positions = positions
        self.G = G
        self.masses = masses
        self._plus: list[list[list[Expr]]] = [[[], [], []] for _ in positions]
        self._minus: list[list[list[Expr]]] = [[[], [], []] for _ in positions]

    def attract(self, i: int, j: int) -> None:
        """Add the mutual pull of bodies ``i`` and ``j``, with ``d = r_j - r_i``.

        Body i gets ``+G m_j d/|d|^3``, body j gets ``-G m_i d/|d|^3``; a massless body exerts
        no pull. Orient pairs so that every body gets some term it adds (see the class notes).
        """
        d, r2 = separation(self.positions[i], self.positions[j])
        r_m3 = r2**MINUS_THREE_HALVES
        m_i, m_j = self.masses[i], self.masses[j]
        on_i: list[Expr] | None = None
        if m_j is not None:
            on_i = [mul(dk, self._strength(m_j, r_m3)) for dk in d]
            self._push(self._plus[i], on_i)
        if m_i is None:
            return
        if on_i is not None and isinstance(m_i, Num) and isinstance(m_j, Num) and not is_zero(m_j):
            ratio = m_i / m_j
            if is_one(ratio):
                self._push(self._minus[j], on_i)
            else:
                self._push(self._plus[j], [mul(-ratio, t) for t in on_i])
        else:
            self._push(self._minus[j], [mul(dk, self._strength(m_i, r_m3)) for dk in d])

    def acceleration(self, i: int, frame: Sequence[Expr] | None = None) -> Vec:
        """The total acceleration of body ``i``, less ``frame`` (a reference frame's acceleration).

        A body with only subtracted terms starts from ``-frame`` (one node shared by all such
        bodies) rather than negating its own sum.
        """
        sums = []
        for k in range(3):
            plus, minus = self._plus[i][k], self._minus[i][k]
            if frame is not None and not is_zero(frame[k]):
                plus, minus = (plus, [*minus, frame[k]]) if plus else ([neg(frame[k])], minus)
            sums.append(signed_sum(plus, minus))
        return sums[0], sums[1], sums[2]

    def _strength(self, m: Expr, r_m3: Expr) -> Expr:
        """``G m / r**3``, grouped so that numbers fold and shared parts are reused.

        ``(G m) r_m3`` (``G m`` is one node per body, or a number); but with a symbolic ``G`` and
        a numeric ``m``, ``m (G r_m3)``, where ``G r_m3`` is one node per pair shared by both
        bodies.
        """
        if isinstance(m, Num) and not isinstance(self.G, Num):
            return mul(m, mul(self.G, r_m3))
        return mul(mul(self.G, m), r_m3)

    @staticmethod
    def _push(target: list[list[Expr]], terms: Sequence[Expr]) -> None:
        for k in range(3):
            target[k].append(terms[k])
