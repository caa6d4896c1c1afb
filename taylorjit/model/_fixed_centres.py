"""A test particle in the Newtonian field of point masses fixed in space."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from .._expr import Expr, Num, Var
from ._common import (
    ExprLike,
    Gravity,
    System,
    Vec,
    mul,
    norm2,
    over_distance,
    signed_sum,
    to_expr,
    to_expr_list,
)

__all__ = ["fixed_centres", "fixed_centres_energy", "fixed_centres_potential"]

_NO_CENTRES = np.empty((0, 3))
_NO_CENTRES.flags.writeable = False

_R: Vec = (Var("x"), Var("y"), Var("z"))
_V: Vec = (Var("vx"), Var("vy"), Var("vz"))


def _coordinate(value: object, what: str) -> Expr:
    """A centre's coordinate; numbers become floats, as in heyoka's float array.

    (So ``1`` and ``1.0`` give one node ``1.0 - x``.)
    """
    c = to_expr(value, what)
    return Num(float(c.value)) if isinstance(c, Num) else c


def _check(Gconst: object, masses: object, positions: object) -> tuple[Expr, list[Expr], list[Vec]]:
    """Validate the arguments as heyoka does (same messages); return G, the masses, the centres."""
    G = to_expr(Gconst, "Gconst")
    m = to_expr_list(masses, "masses")
    try:
        pos = np.asarray(positions, dtype=object)
    except ValueError as exc:  # ragged rows
        raise ValueError(f"Invalid positions array in a fixed centres model: {exc}") from None
    if pos.ndim != 2:
        raise ValueError(
            "Invalid positions array in a fixed centres model: the number of dimensions must be 2, "
            f"but it is {pos.ndim} instead"
        )
    if pos.shape[1] != 3:
        raise ValueError(
            "Invalid positions array in a fixed centres model: the number of columns must be 3, "
            f"but it is {pos.shape[1]} instead"
        )
    if len(m) != pos.shape[0]:
        raise ValueError(
            f"In a fixed centres system the number of masses ({len(m)}) differs from the number of "
            f"position vectors ({pos.shape[0]})"
        )
    centres = [
        tuple(_coordinate(c, f"positions[{i}][{k}]") for k, c in enumerate(row)) for i, row in enumerate(pos)
    ]
    return G, m, centres


def _binding(G: Expr, masses: list[Expr], centres: list[Vec]) -> Expr:
    """``G sum_k m_k / |p_k - r|``: minus the potential."""
    return mul(G, signed_sum([over_distance(mk, _R, pk) for mk, pk in zip(masses, centres, strict=True)]))


def fixed_centres(
    Gconst: ExprLike = 1.0, masses: Sequence[ExprLike] = (), positions: ArrayLike = _NO_CENTRES
) -> System:
    """A test particle attracted by masses at fixed positions.

    The particle's position is ``x, y, z`` and its velocity ``vx, vy, vz``;
    ``r'' = G sum_k m_k (p_k - r) / |p_k - r|**3``.

    Parameters
    ----------
    Gconst
        The gravitational constant: a number, an expression (e.g. ``tj.par[0]``) or a variable name.
    masses
        The mass of each centre (numbers or expressions).
    positions
        The centres' positions: an ``N x 3`` array-like, one row per centre (numbers or
        expressions).

    Returns
    -------
    list of (Var, Expr)
        The pairs for ``x, y, z, vx, vy, vz``, as ``heyoka.model.fixed_centres``. With no
        centres the accelerations are 0.

    Raises
    ------
    ValueError
        If ``positions`` is not two-dimensional with 3 columns, or the number of masses differs
        from the number of positions.
    TypeError
        If ``Gconst``, a mass or a coordinate is not expression-like.
    """
    G, m, centres = _check(Gconst, masses, positions)
    gravity = Gravity([_R, *centres], G, [None, *m])
    for k in range(len(centres)):
        gravity.attract(0, k + 1)
    return [*zip(_R, _V, strict=True), *zip(_V, gravity.acceleration(0), strict=True)]


def fixed_centres_potential(
    Gconst: ExprLike = 1.0, masses: Sequence[ExprLike] = (), positions: ArrayLike = _NO_CENTRES
) -> Expr:
    """The potential energy per unit mass ``-G sum_k m_k / |p_k - r|`` of :func:`fixed_centres`.

    Arguments and errors are those of :func:`fixed_centres`.
    """
    return -_binding(*_check(Gconst, masses, positions))


def fixed_centres_energy(
    Gconst: ExprLike = 1.0, masses: Sequence[ExprLike] = (), positions: ArrayLike = _NO_CENTRES
) -> Expr:
    """The energy per unit mass ``|v|^2/2`` + :func:`fixed_centres_potential`: a first integral.

    Arguments and errors are those of :func:`fixed_centres`.
    """
    return 0.5 * norm2(_V) - _binding(*_check(Gconst, masses, positions))
