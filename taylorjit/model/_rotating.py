"""Free motion seen from a frame rotating at a constant angular velocity."""

from __future__ import annotations

from collections.abc import Sequence

from .._expr import Expr, Num, Var
from .._primitives.arith import square
from ._common import ExprLike, System, Vec, add, cross, dot, mul, norm2, to_expr_list

__all__ = ["rotating", "rotating_energy", "rotating_potential"]

_R: Vec = (Var("x"), Var("y"), Var("z"))
_V: Vec = (Var("vx"), Var("vy"), Var("vz"))


def _omega(omega: object) -> list[Expr]:
    """Check the angular velocity: empty (no rotation) or 3 components, as heyoka."""
    w = to_expr_list(omega, "omega")
    if w and len(w) != 3:
        raise ValueError(
            "In a rotating reference frame model the angular velocity must be a 3-dimensional "
            f"vector, but instead it is a {len(w)}-dimensional vector"
        )
    return w


def rotating(omega: Sequence[ExprLike] = ()) -> System:
    """A free particle in a frame rotating at constant angular velocity ``omega``.

    ``r'' = -omega x (omega x r) - 2 omega x v`` (centrifugal and Coriolis accelerations);
    add these right-hand sides to a force model's to write it in a rotating frame.

    Parameters
    ----------
    omega
        The angular velocity: 3 numbers or expressions, or empty for an inertial frame.

    Returns
    -------
    list of (Var, Expr)
        The pairs for ``x, y, z, vx, vy, vz``, as ``heyoka.model.rotating``.

    Raises
    ------
    ValueError
        If ``omega`` is neither empty nor 3-dimensional.
    TypeError
        If ``omega`` is not a sequence of expression-likes.

    Notes
    -----
    Written as ``(omega x r + 2 v) x omega``, the same vector with two cross products
    (24 operations for a symbolic ``omega``; heyoka expands it into about 40).
    """
    w = _omega(omega)
    if not w:
        acc: Vec = (Num(0.0), Num(0.0), Num(0.0))
    else:
        w_r = cross(w, _R)
        acc = cross([add(w_r[k], 2 * _V[k]) for k in range(3)], w)
    return [*zip(_R, _V, strict=True), *zip(_V, acc, strict=True)]


def rotating_potential(omega: Sequence[ExprLike] = ()) -> Expr:
    """The centrifugal potential ``((omega . r)^2 - |omega|^2 |r|^2) / 2`` of :func:`rotating`.

    It is ``-|omega x r|^2 / 2``. Arguments and errors are those of :func:`rotating`.
    """
    w = _omega(omega)
    if not w:
        return Num(0.0)
    return 0.5 * (square(dot(w, _R)) - mul(norm2(w), norm2(_R)))


def rotating_energy(omega: Sequence[ExprLike] = ()) -> Expr:
    """The Jacobi-type integral ``|v|^2/2`` + :func:`rotating_potential` of :func:`rotating`.

    Arguments and errors are those of :func:`rotating`.
    """
    return 0.5 * norm2(_V) + rotating_potential(omega)
