"""The gravitational N-body problem: in an inertial frame (``nbody``) and relative to body 0
(``np1body``, heliocentric coordinates).

As in heyoka.model, ``masses`` lists the masses of the first bodies only: the remaining bodies
are massless test particles, which feel the others' pull but exert none (``masses=None`` gives
every body a unit mass, ``masses=[]`` makes them all massless).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

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

__all__ = ["nbody", "nbody_energy", "nbody_potential", "np1body", "np1body_energy", "np1body_potential"]

_ORIGIN: Vec = (Num(0), Num(0), Num(0))


def _check(n: object, Gconst: object, masses: object) -> tuple[int, Expr, list[Expr]]:
    """Validate the arguments shared by every N-body function (heyoka's checks and messages)."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"the number of bodies n must be an integer, got {n!r}")
    n = int(n)
    if n < 2:
        raise ValueError(f"Cannot construct an N-body system with N == {n}: at least 2 bodies are needed")
    G = to_expr(Gconst, "Gconst")
    m = [Num(1)] * n if masses is None else to_expr_list(masses, "masses")
    if len(m) > n:
        raise ValueError(
            f"In an N-body system the number of particles with mass ({len(m)}) cannot be greater "
            f"than the total number of particles ({n})"
        )
    return n, G, m


def _state(i: int) -> tuple[Vec, Vec]:
    """The position and velocity variables of body ``i``: ``x_i, y_i, z_i`` and ``vx_i, ...``."""
    r = (Var(f"x_{i}"), Var(f"y_{i}"), Var(f"z_{i}"))
    v = (Var(f"vx_{i}"), Var(f"vy_{i}"), Var(f"vz_{i}"))
    return r, v


def _equations(r: Vec, v: Vec, a: Vec) -> System:
    """``r' = v, v' = a`` in heyoka's order: x, y, z, vx, vy, vz."""
    return [*zip(r, v, strict=True), *zip(v, a, strict=True)]


def _pairs(massive: Sequence[int], massless: Sequence[int]) -> list[tuple[int, int]]:
    """The interacting pairs ``(i, j)``, each oriented as ``Gravity.attract(i, j)`` takes it.

    Body ``i`` adds the pull of its pair and body ``j`` subtracts it (unless both masses are
    different numbers), so each body should come first in some pair: a body that only subtracts costs a
    negation per component. The last massive body comes second in all its pairs, so its pair
    with the first one is turned around; a massless body comes first in all its pairs.
    """
    pairs = [(a, b) for k, a in enumerate(massive) for b in massive[k + 1:]]
    if len(massive) >= 3:
        pairs[len(massive) - 2] = (massive[-1], massive[0])
    return pairs + [(j, i) for j in massless for i in massive]


def _np1_pairs(n: int, n_massive: int) -> list[tuple[int, int]]:
    """The pairs of :func:`np1body`: body 0 (at the origin, so ``r_j - r_0`` is ``r_j``) first."""
    if n_massive == 0:
        return []
    return [(0, j) for j in range(1, n)] + _pairs(range(1, n_massive), range(n_massive, n))


def _gravity(positions: Sequence[Vec], G: Expr, masses: list[Expr], pairs: list[tuple[int, int]]) -> Gravity:
    """The pulls among ``positions`` (the first ``len(masses)`` bodies are massive)."""
    gravity = Gravity(positions, G, [*masses, *[None] * (len(positions) - len(masses))])
    for i, j in pairs:
        gravity.attract(i, j)
    return gravity


def _binding(positions: Sequence[Vec], G: Expr, masses: list[Expr], pairs: list[tuple[int, int]]) -> Expr:
    """Minus the potential energy: ``G sum m_i m_j / r_ij`` over the ``pairs`` of massive bodies."""
    terms = [over_distance(mul(masses[i], masses[j]), positions[i], positions[j])
             for i, j in pairs if i < len(masses) and j < len(masses)]
    return mul(G, signed_sum(terms))


def _kinetic(velocities: Sequence[Sequence[Expr]], masses: list[Expr]) -> Expr:
    """``sum_i m_i |v_i|^2 / 2`` over the massive bodies (the first ``len(masses)``)."""
    return 0.5 * signed_sum([mul(m, norm2(v)) for m, v in zip(masses, velocities, strict=False)])


def nbody(n: int, Gconst: ExprLike = 1.0, masses: Sequence[ExprLike] | None = None) -> System:
    """The Newtonian N-body problem in an inertial frame.

    Body ``i`` has position ``x_i, y_i, z_i`` and velocity ``vx_i, vy_i, vz_i``, and
    ``r_i'' = sum_{j != i} G m_j (r_j - r_i) / |r_j - r_i|**3``.

    Parameters
    ----------
    n
        The number of bodies (at least 2).
    Gconst
        The gravitational constant: a number, an expression (e.g. ``tj.par[0]``) or a variable name.
    masses
        The masses of the first ``len(masses)`` bodies (numbers or expressions); the others are
        massless. ``None`` (the default) gives every body a unit mass.

    Returns
    -------
    list of (Var, Expr)
        The pairs ``(variable, right-hand side)`` in heyoka's order: ``x_0, y_0, z_0, vx_0, vy_0,
        vz_0, x_1, ...``; ready for ``tj.taylor_adaptive`` and interchangeable with
        ``heyoka.model.nbody``.

    Raises
    ------
    ValueError
        If ``n < 2`` or more masses than bodies are given.
    TypeError
        If ``n`` is not an integer, or ``Gconst`` or a mass is not expression-like.

    Notes
    -----
    Each pair's ``|r_j - r_i|**-3`` is one node shared by both bodies' accelerations; with equal
    masses the two accelerations are one node, added to one body's sum and subtracted from the
    other's. Three equal bodies decompose into 45 operations (heyoka.model.nbody: 36 with n-ary
    sums, which are 48 binary operations).
    """
    n, G, m = _check(n, Gconst, masses)
    r, v = zip(*(_state(i) for i in range(n)), strict=True)
    gravity = _gravity(r, G, m, _pairs(range(len(m)), range(len(m), n)))
    return [eq for i in range(n) for eq in _equations(r[i], v[i], gravity.acceleration(i))]


def nbody_potential(n: int, Gconst: ExprLike = 1.0, masses: Sequence[ExprLike] | None = None) -> Expr:
    """The potential energy ``-G sum_{i<j} m_i m_j / |r_j - r_i|`` of :func:`nbody`.

    Only the massive bodies contribute. Arguments and errors are those of :func:`nbody`.
    """
    n, G, m = _check(n, Gconst, masses)
    return -_binding([_state(i)[0] for i in range(len(m))], G, m, _pairs(range(len(m)), ()))


def nbody_energy(n: int, Gconst: ExprLike = 1.0, masses: Sequence[ExprLike] | None = None) -> Expr:
    """The total energy of :func:`nbody`, kinetic plus :func:`nbody_potential`: a first integral.

    Only the massive bodies contribute. Arguments and errors are those of :func:`nbody`.
    """
    n, G, m = _check(n, Gconst, masses)
    r, v = zip(*(_state(i) for i in range(n)), strict=True)
    return _kinetic(v, m) - _binding(r, G, m, _pairs(range(len(m)), ()))


def np1body(n: int, Gconst: ExprLike = 1.0, masses: Sequence[ExprLike] | None = None) -> System:
    """The N-body problem relative to body 0 (heliocentric coordinates): the (N+1)-body problem.

    Body 0 (the "sun") stays at the origin and is not in the state: the variables are
    ``x_i, y_i, z_i, vx_i, vy_i, vz_i`` for ``i = 1 .. n-1``, and

    ``r_i'' = -G (m_0 + m_i) r_i/|r_i|^3 + sum_{j != 0, i} G m_j ((r_j - r_i)/|r_j - r_i|^3 - r_j/|r_j|^3)``.

    Parameters
    ----------
    n
        The number of bodies, body 0 included (at least 2).
    Gconst
        The gravitational constant (a number, an expression or a variable name).
    masses
        The masses of bodies ``0 .. len(masses) - 1``, body 0 first; the others are massless.
        ``None`` (the default) gives every body a unit mass.

    Returns
    -------
    list of (Var, Expr)
        The pairs ``(variable, right-hand side)`` in heyoka's order: ``x_1, y_1, z_1, vx_1, ...``.

    Raises
    ------
    ValueError
        If ``n < 2`` or more masses than bodies are given.
    TypeError
        If ``n`` is not an integer, or ``Gconst`` or a mass is not expression-like.

    Notes
    -----
    Computed as the inertial accelerations with body 0 pinned at the origin, less body 0's own
    acceleration (the frame's): the indirect sum ``sum_j G m_j r_j/|r_j|^3`` is built once and
    subtracted from every body, instead of once per pair as the formula above reads.
    """
    n, G, m = _check(n, Gconst, masses)
    r, v = zip(*(_state(i) for i in range(1, n)), strict=True)
    gravity = _gravity([_ORIGIN, *r], G, m, _np1_pairs(n, len(m)))
    frame = gravity.acceleration(0)
    return [eq for i in range(n - 1) for eq in _equations(r[i], v[i], gravity.acceleration(i + 1, frame))]


def np1body_potential(n: int, Gconst: ExprLike = 1.0, masses: Sequence[ExprLike] | None = None) -> Expr:
    """The potential energy of :func:`np1body`: ``-G sum_{i<j} m_i m_j / r_ij``, body 0 at the origin.

    Only the massive bodies contribute. Arguments and errors are those of :func:`np1body`.
    """
    n, G, m = _check(n, Gconst, masses)
    positions = [_ORIGIN, *(_state(i)[0] for i in range(1, len(m)))]
    return -_binding(positions, G, m, _np1_pairs(len(m), len(m)))


def np1body_energy(n: int, Gconst: ExprLike = 1.0, masses: Sequence[ExprLike] | None = None) -> Expr:
    """The total energy of :func:`np1body` in the barycentric frame: a first integral.

    Body 0's barycentric velocity is ``u_0 = -sum_{i>0} m_i v_i / sum_i m_i`` and body i's is
    ``v_i + u_0``; with them the energy is that of :func:`nbody_energy`. Only the massive bodies
    contribute; with no mass at all it is 0. Arguments and errors are those of :func:`np1body`.
    """
    n, G, m = _check(n, Gconst, masses)
    if not m:
        return Num(0.0)
    r = [_state(i)[0] for i in range(1, len(m))]
    v = [_state(i)[1] for i in range(1, len(m))]
    # u = -u_0, the barycentre's velocity relative to body 0 (|u_0| = |u| for body 0's energy).
    total_mass = signed_sum(m)
    u = [signed_sum([mul(mi, vi[k]) for mi, vi in zip(m[1:], v, strict=True)]) / total_mass for k in range(3)]
    velocities = [u, *([vi[k] - u[k] for k in range(3)] for vi in v)]
    return _kinetic(velocities, m) - _binding([_ORIGIN, *r], G, m, _np1_pairs(len(m), len(m)))
