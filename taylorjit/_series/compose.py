"""Composition of truncated series: a polynomial evaluated on a map of series.

``p(Y_1, ..., Y_n)`` with ``p`` a polynomial in ``n`` symbols and ``Y_v`` series without
constant terms (constants are first moved into ``p`` by a Taylor shift, :func:`taylor_shift`),
truncated at ``order``. Horner's scheme over the tree of monomials, where the children of a
monomial ``b`` are ``b * y_v`` for ``v`` at or after the last variable of ``b``:

    H_b = p_b + sum_v Y_v * H_{b + e_v},          p(Y) = H_0.

Since ``Y_v`` has no constant term, ``H_b`` is needed only to order ``order - |b|``: the products
deep in the tree are tiny. A composition at (6 variables, order 10) costs about 32 M
multiply-adds per output; building the monomials ``Y^a`` one by one (shared by the outputs)
would cost 0.8 G, since their products have no low-degree factor to leave out. The tree is
flattened once per (n, m, order) into a program of ``BEGIN``/``ACCUMULATE`` tasks
(:class:`ComposePlan`) that the native interpreter of ``kernels.py`` runs for all outputs in one
call; vectorized series run the same program from Python, one product kernel call per task.
Subtrees whose coefficients are all zero are skipped: sparse polynomials pay for their terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import comb

import numpy as np

from .kernels import ACCUMULATE, BEGIN, TASK_WIDTH, product_into, run_program
from .monomials import basis

__all__ = ["ComposePlan", "compose_plan", "compose_arrays", "taylor_shift"]


@dataclass(frozen=True)
class ComposePlan:
    """Horner's scheme over the monomial tree of ``basis(n, order)``, as a task program.

    Attributes
    ----------
    tasks
        ``(ntasks, TASK_WIDTH)`` int64 rows (``kernels.BEGIN`` / ``kernels.ACCUMULATE``). Slot
        ``d`` (offset ``d * size``) holds ``H_b`` of the node at depth ``d``; the result is slot 0.
    table
        ``(P, Q, S)``: the concatenated product tables, one per truncation order ``1..order``.
    preorder
        Outer basis indices of the monomials in the order the tasks visit them.
    subtree_end
        Per node (in ``preorder``), the position after its subtree.
    size
        ``basis(m, order).ncoef``: the length of a slot and of each inner series.
    nslots
        Number of slots: one per tree depth, ``order + 1``.
    """

    tasks: np.ndarray
    table: tuple[np.ndarray, np.ndarray, np.ndarray]
    preorder: np.ndarray
    subtree_end: np.ndarray
    size: int
    nslots: int

    def keep(self, q: np.ndarray) -> np.ndarray:
        """``(k, nnodes)`` uint8 flags, in ``preorder``, for the polynomials ``q`` (``(k, nq[,
        npoints])``): 1 where a monomial's subtree holds a nonzero coefficient (the root
        always); the program skips the other subtrees."""
        nonzero = q[:, self.preorder] != 0
        if nonzero.ndim == 3:
            nonzero = nonzero.any(axis=2)
        counts = np.zeros((q.shape[0], self.preorder.size + 1), dtype=np.int64)
        np.cumsum(nonzero, axis=1, out=counts[:, 1:])
        keep = (counts[:, self.subtree_end] > counts[:, :-1]).view(np.uint8)
        keep[:, 0] = 1
        return keep


def _tables(m: int, order: int) -> tuple[tuple[np.ndarray, ...], list[int]]:
    """The product tables of ``Y_v * H`` at each truncation ``t = 1..order`` (``Y_v`` without
    constant term, ``H`` known to ``t - 1``), concatenated; and where each one's starts begin."""
    ps, qs, ss, offsets = [], [], [], [0]
    base = 0
    for t in range(1, order + 1):
        bs = basis(m, t)
        p, q, starts = bs.masked_product_table(bs.full_mask & ~1, (1 << t) - 1)
        ps.append(p)
        qs.append(q)
        ss.append(starts + base)
        base += len(p)
        offsets.append(offsets[-1] + len(starts))
    if not ps:
        ps, qs, ss = [np.zeros(1, np.int32)], [np.zeros(1, np.int32)], [np.zeros(1, np.int64)]
    return (np.concatenate(ps), np.concatenate(qs), np.concatenate(ss)), offsets


@lru_cache(maxsize=64)
def compose_plan(n: int, m: int, order: int) -> ComposePlan:
    """The program composing a polynomial in ``n`` symbols with ``n`` series in ``m`` symbols,
    truncated at ``order`` (built once per size and cached)."""
    outer = basis(n, order)
    size = basis(m, order).ncoef
    table, starts_at = _tables(m, order)
    tasks: list[list[int]] = []
    preorder: list[int] = []
    subtree_end: list[int] = []

    def visit(exponents: list[int], last: int, depth: int) -> None:
        """Emit node ``exponents`` (then its subtree); its BEGIN row's skip target is set by
        the parent, past the ACCUMULATE that consumes it."""
        position = len(preorder)
        preorder.append(outer.index[tuple(exponents)])
        subtree_end.append(0)
        tasks.append([BEGIN, preorder[-1], depth * size, basis(m, order - depth).ncoef, -1,
                      position])
        if depth < order:
            trunc = order - depth  # the truncation of this node's H
            for v in range(last, n):
                exponents[v] += 1
                child_row = len(tasks)
                visit(exponents, v, depth + 1)
                exponents[v] -= 1
                tasks.append([ACCUMULATE, depth * size, v * size, (depth + 1) * size,
                              starts_at[trunc - 1], basis(m, trunc).ncoef])
                tasks[child_row][4] = len(tasks)
        subtree_end[position] = len(preorder)

    visit([0] * n, 0, 0)
    tasks[0][4] = len(tasks)
    rows = np.array(tasks, dtype=np.int64).reshape(len(tasks), TASK_WIDTH)
    return ComposePlan(rows, table, np.array(preorder, dtype=np.int64),
                       np.array(subtree_end, dtype=np.int64), size, order + 1)


def compose_arrays(outer: np.ndarray, inner: np.ndarray, nvars: int, order: int) -> np.ndarray:
    """Compose polynomials with a map of series without constant terms, truncated at ``order``.

    Parameters
    ----------
    outer
        ``(k, basis(n, order).ncoef[, npoints])``: ``k`` polynomials in ``n`` symbols (their
        terms above ``order`` do not matter: ``Y`` has no constant term).
    inner
        ``(n, basis(m, order).ncoef[, npoints])``: the series substituted for the ``n``
        symbols; their constant terms are ignored (taken as zero).
    nvars
        ``m``, the number of symbols of the inner series.
    order
        The truncation order of the result.

    Returns
    -------
    numpy.ndarray
        ``(k, basis(m, order).ncoef[, npoints])``: the compositions.
    """
    n = inner.shape[0]
    plan = compose_plan(n, nvars, order)
    y = np.array(inner, dtype=np.float64)  # a copy: the constant terms are cleared
    y[:, 0] = 0.0
    npoints = {a.shape[2] for a in (outer, y) if a.ndim == 3}
    if len(npoints) > 1:
        raise ValueError(f"vectorized series with different numbers of points meet: {sorted(npoints)}")
    if not npoints:
        q = np.ascontiguousarray(outer, dtype=np.float64)
        out = np.empty((q.shape[0], plan.size))
        slots = np.empty(plan.nslots * plan.size)
        return run_program(out, slots, y, q, plan.keep(q), plan.tasks, plan.table)
    p = npoints.pop()
    y = np.ascontiguousarray(np.broadcast_to(y.reshape(n * plan.size, -1), (n * plan.size, p)))
    q = np.broadcast_to(outer.reshape(*outer.shape[:2], -1), (*outer.shape[:2], p))
    keep = plan.keep(q)
    return np.array([_run_python(plan, y, q[j], keep[j]) for j in range(q.shape[0])])


def _run_python(plan: ComposePlan, y: np.ndarray, q: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The program run from Python for one vectorized polynomial ``q`` (rows of ``npoints``
    values, as ``y``): one vectorized product kernel call per ACCUMULATE task."""
    npoints = y.shape[1]
    slots = np.zeros((plan.nslots * plan.size, npoints))
    p_idx, q_idx, starts = plan.table
    tasks = plan.tasks.tolist()
    t = 0
    while t < len(tasks):
        kind, f1, f2, f3, f4, f5 = tasks[t]
        t += 1
        if kind == BEGIN:
            if not keep[f5]:
                t = f4
                continue
            slots[f2:f2 + f3] = 0.0
            slots[f2] = q[f1]
        else:
            term = product_into(np.zeros((f5, npoints)), y[f2:], slots[f3:],
                                (p_idx, q_idx, starts[f4:f4 + f5 + 1]))
            slots[f1:f1 + f5] += term
    return slots[:plan.size].copy()


@lru_cache(maxsize=256)
def _shift_table(n: int, order: int, v: int) -> tuple[np.ndarray, ...]:
    """``(src, dst, binomial, power)``: monomial ``src`` of ``basis(n, order)`` contributes
    ``binomial * c**power`` times its coefficient to ``dst`` when ``x_v`` becomes ``x_v + c``."""
    bs = basis(n, order)
    src, dst, binomial, power = [], [], [], []
    for i, row in enumerate(bs.exponents.tolist()):
        for j in range(row[v] + 1):
            target = list(row)
            target[v] -= j
            src.append(i)
            dst.append(bs.index[tuple(target)])
            binomial.append(comb(row[v], j))
            power.append(j)
    return (np.array(src, np.int64), np.array(dst, np.int64), np.array(binomial, float),
            np.array(power, float))


def taylor_shift(q: np.ndarray, order: int, constants: list[np.ndarray | float]) -> np.ndarray:
    """The coefficients of ``p(c + x)`` from those of ``p(x)`` (``basis(n, order)``, exact for a
    polynomial: no truncation), one symbol at a time; ``constants`` may be arrays of points."""
    n = len(constants)
    for v, c in enumerate(constants):
        c = np.asarray(c, dtype=float)
        if not np.any(c):
            continue
        src, dst, binomial, power = _shift_table(n, order, v)
        if c.ndim:  # one constant per point: weights and coefficients get a points axis
            weights = binomial[:, None] * c[None, :] ** power[:, None]
            q = q if q.ndim == 2 else q[:, None]
        else:
            weights = binomial * c ** power
            weights = weights if q.ndim == 1 else weights[:, None]
        terms = q[src] * weights
        out = np.zeros((q.shape[0], *terms.shape[1:]))
        np.add.at(out, dst, terms)
        q = out
    return q
