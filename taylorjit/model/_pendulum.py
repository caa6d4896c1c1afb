"""The simple pendulum."""

from __future__ import annotations

from .._expr import Expr, Var
from .._primitives.arith import square
from .._primitives.elementary import cos, sin
from ._common import ExprLike, System, mul, to_expr

__all__ = ["pendulum", "pendulum_energy"]


def pendulum(gconst: ExprLike = 1.0, length: ExprLike = 1.0) -> System:
    """The simple pendulum: ``x' = v``, ``v' = -(gconst/length) sin(x)``.

    ``x`` is the angle from the downward vertical and ``v`` its time derivative.

    Parameters
    ----------
    gconst
        The gravitational acceleration: a number, an expression (e.g. ``tj.par[0]``) or a
        variable name.
    length
        The length of the pendulum (same kinds).

    Returns
    -------
    list of (Var, Expr)
        ``[(x, v), (v, -(gconst/length) sin(x))]``, as ``heyoka.model.pendulum``.

    Raises
    ------
    TypeError
        If ``gconst`` or ``length`` is not expression-like.

    Examples
    --------
    >>> from taylorjit.model import pendulum
    >>> pendulum()
    [(x, v), (v, -sin(x))]
    """
    g, length_ = to_expr(gconst, "gconst"), to_expr(length, "length")
    x, v = Var("x"), Var("v")
    return [(x, v), (v, mul(-(g / length_), sin(x)))]


def pendulum_energy(gconst: ExprLike = 1.0, length: ExprLike = 1.0) -> Expr:
    """The energy per unit mass of :func:`pendulum`, ``length**2 v**2/2 + gconst length (1 - cos x)``.

    It is conserved along the flow (a first integral). Arguments and errors are those of
    :func:`pendulum`.
    """
    g, length_ = to_expr(gconst, "gconst"), to_expr(length, "length")
    x, v = Var("x"), Var("v")
    return 0.5 * mul(square(length_), square(v)) + mul(mul(g, length_), 1 - cos(x))
