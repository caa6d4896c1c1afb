"""The circular restricted three-body problem (CR3BP), in the rotating frame."""

from __future__ import annotations

import math

from .._expr import Expr, Num, Var
from .._primitives.arith import sqrt, square
from ._common import MINUS_THREE_HALVES, ExprLike, System, mul, to_expr

__all__ = ["cr3bp", "cr3bp_jacobi"]


def _setup(mu: ExprLike) -> tuple[Expr, Expr, Expr, Expr]:
    """Check ``mu``; return it with ``x - mu``, ``x - mu + 1`` and the squared distances' common part.

    Raises
    ------
    ValueError
        ``mu`` is a number outside ``(0, 0.5)`` (or not finite).
    """
    mu_ = to_expr(mu, "mu")
    if isinstance(mu_, Num) and not (math.isfinite(mu_.value) and 0 < mu_.value < 0.5):
        raise ValueError(
            f"The 'mu' parameter in a CR3BP must be in the range (0, 0.5), "
            f"but a value of {mu_.value} was provided instead"
        )
    return mu_, Var("x") - mu_, Var("x") - mu_ + 1, square(Var("y")) + square(Var("z"))


def cr3bp(mu: ExprLike = 1e-3) -> System:
    """The CR3BP in the synodic (rotating) frame, in Hamiltonian form.

    Units: the primaries' distance, their total mass and the inverse of their mean motion are 1.
    The primary of mass ``1 - mu`` sits at ``(mu, 0, 0)``, the secondary of mass ``mu`` at
    ``(mu - 1, 0, 0)``; the state is the position ``x, y, z`` and the canonical momenta
    ``px, py, pz`` (``px = vx - y``, ``py = vy + x``, ``pz = vz``).

    Parameters
    ----------
    mu
        The mass ratio: a number in ``(0, 0.5)``, or an expression (e.g. ``tj.par[0]``, not checked).

    Returns
    -------
    list of (Var, Expr)
        The pairs for ``x, y, z, px, py, pz``, as ``heyoka.model.cr3bp``.

    Raises
    ------
    ValueError
        If ``mu`` is a number outside ``(0, 0.5)``, infinite or NaN.
    TypeError
        If ``mu`` is not expression-like.
    """
    mu_, x_m_mu, x_m_mu_p1, y2_z2 = _setup(mu)
    x, y, z, px, py, pz = (Var(name) for name in ("x", "y", "z", "px", "py", "pz"))
    g1 = mul(1 - mu_, (square(x_m_mu) + y2_z2) ** MINUS_THREE_HALVES)  # (1 - mu) / r1**3
    g2 = mul(mu_, (square(x_m_mu_p1) + y2_z2) ** MINUS_THREE_HALVES)  # mu / r2**3
    g1_g2 = g1 + g2
    return [
        (x, px + y),
        (y, py - x),
        (z, pz),
        (px, py - g1 * x_m_mu - g2 * x_m_mu_p1),
        (py, -px - g1_g2 * y),
        (pz, -(g1_g2 * z)),
    ]


def cr3bp_jacobi(mu: ExprLike = 1e-3) -> Expr:
    """The Jacobi constant of :func:`cr3bp` (its Hamiltonian, a first integral).

    ``|p|^2/2 + y px - x py - (1 - mu)/r1 - mu/r2``. Arguments and errors are those of
    :func:`cr3bp`.
    """
    mu_, x_m_mu, x_m_mu_p1, y2_z2 = _setup(mu)
    x, y, px, py, pz = (Var(name) for name in ("x", "y", "px", "py", "pz"))
    kinetic = 0.5 * (square(px) + square(py) + square(pz))
    g1 = (1 - mu_) / sqrt(square(x_m_mu) + y2_z2)
    g2 = mu_ / sqrt(square(x_m_mu_p1) + y2_z2)
    return kinetic + y * px - x * py - g1 - g2
