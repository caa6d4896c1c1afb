"""Symbolic differentiation over the DAG, from each primitive's ``derivative`` field.

Derivatives are forward-mode and memoized per node, so a shared subexpression is differentiated
once and the result stays shared: differentiating the N-body accelerations grows the DAG linearly,
not exponentially.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import combinations_with_replacement
from typing import Any

from .._expr import Call, Expr, Num, Par, Var, as_expr, call, postorder

__all__ = ["diff", "diff_tensors", "DTens", "total_derivative"]

_ZERO = Num(0)


def _diff_arg(x: Any) -> Expr:
    if isinstance(x, str):
        return Var(x)
    x = as_expr(x)
    if not isinstance(x, Var | Par):
        raise ValueError(
            "Derivatives are currently supported only with respect to variables and parameters, "
            f"but {x} was given"
        )
    return x


def total_derivative(roots: Sequence[Expr], leaf: Callable[[Expr], Expr]) -> list[Expr]:
    """The derivative of each root along a direction in which every leaf (variable, parameter,
    time, number) moves with derivative ``leaf(node)``: the chain rule over the DAG, forward
    mode, one memo shared by all roots.

    With ``leaf(n) = 1 if n is x else 0`` this is ``d root / d x``. Variational equations use
    other leaf rules: a state variable ``x_j`` depends on the initial conditions, and its
    derivative is another variable (``dx_j/da_k``).
    """
    memo: dict[int, Expr] = {}
    for node in postorder(list(roots)):
        if isinstance(node, Call):
            dargs = [memo[id(a)] for a in node.args]
            if all(d is _ZERO for d in dargs):
                memo[id(node)] = _ZERO
                continue
            partials = node.prim.derivative(node.args, node)  # type: ignore[attr-defined]
            total: Expr | None = None  # (not 0 + ...: the first term is the sum so far)
            for p, d in zip(partials, dargs, strict=True):
                if d is not _ZERO:
                    term = call("mul", p, d)
                    total = term if total is None else call("add", total, term)
            memo[id(node)] = total
        else:
            memo[id(node)] = leaf(node)
    return [memo[id(r)] for r in roots]


def _diff_many(roots: Sequence[Expr], x: Expr) -> list[Expr]:
    """d root / d x for each root, sharing one memo over the whole DAG."""
    one = Num(1)
    return total_derivative(roots, lambda node: one if node is x else _ZERO)


def diff(e: Any, x: Any) -> Any:
    """The derivative of ``e`` (an expression or a list of them) with respect to ``x``.

    ``x`` is a variable (or its name) or a parameter ``tj.par[i]``.

    Raises
    ------
    ValueError
        If ``x`` is neither a variable nor a parameter.
    """
    x = _diff_arg(x)
    if isinstance(e, Expr) or not isinstance(e, Sequence):
        return _diff_many([as_expr(e)], x)[0]
    return _diff_many([as_expr(r) for r in e], x)


class DTens(Mapping):
    """All derivatives of a list of functions up to some order (heyoka's ``dtens``).

    Keys are tuples ``(i, n_1, ..., n_m)``: component ``i`` differentiated ``n_j`` times with
    respect to ``args[j]``. Iteration is by derivative order, then component, then multi-index
    (``(2, 0)`` before ``(1, 1)`` before ``(0, 2)``), as in heyoka.
    """

    def __init__(self, entries: dict[tuple[int, ...], Expr], args: tuple[Expr, ...],
                 order: int, nouts: int) -> None:
        self._entries = entries
        self._keys = list(entries)
        self._index = {k: i for i, k in enumerate(self._keys)}
        self.args = args
        self.order = order
        self.nouts = nouts

    def __getitem__(self, key: Any) -> Expr:
        key = tuple(int(k) for k in key)
        if len(key) != len(self.args) + 1:
            raise KeyError(
                f"a dtens key has 1 + {len(self.args)} entries (component, then one count per "
                f"argument), got {key}"
            )
        return self._entries[key]

    def __iter__(self) -> Iterator[tuple[int, ...]]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def index_of(self, key: Sequence[int]) -> int:
        """Position of ``key`` in the iteration order."""
        return self._index[tuple(int(k) for k in key)]

    def get_derivatives(self, diff_order: int, component: int | None = None
                        ) -> list[tuple[tuple[int, ...], Expr]]:
        """``(key, expression)`` pairs of one derivative order (optionally one component)."""
        return [(k, e) for k, e in self._entries.items()
                if sum(k[1:]) == diff_order and (component is None or k[0] == component)]

    def get_gradient(self) -> list[Expr]:
        """First derivatives of the single function (requires ``nouts == 1``)."""
        if self.nouts != 1:
            raise ValueError(f"get_gradient() needs a single function, this dtens has {self.nouts}")
        return [e for _, e in self.get_derivatives(1)]

    def get_jacobian(self) -> list[list[Expr]]:
        """The Jacobian as a list of rows (one per function)."""
        if self.order < 1:
            raise ValueError("the Jacobian needs derivatives of order >= 1")
        return [[e for _, e in self.get_derivatives(1, i)] for i in range(self.nouts)]

    def __repr__(self) -> str:
        return f"DTens(nouts={self.nouts}, args={list(self.args)}, order={self.order}, size={len(self)})"


def diff_tensors(exprs: Sequence[Any], args: Sequence[Any], order: int = 1) -> DTens:
    """All partial derivatives of ``exprs`` w.r.t. ``args`` up to ``order``.

    Each mixed derivative is computed once (from the derivative one order below whose
    multi-index it extends), and all of them share subexpressions.

    Raises
    ------
    ValueError
        For an empty list of functions or arguments, repeated arguments, arguments that are not
        variables or parameters, or a negative order.
    """
    funcs = [as_expr(e) for e in exprs]
    if not funcs:
        raise ValueError("Cannot compute derivatives of an empty list of functions")
    dargs = tuple(_diff_arg(a) for a in args)
    if not dargs:
        raise ValueError("Cannot compute derivatives with respect to an empty list of arguments")
    if len(set(map(id, dargs))) != len(dargs):
        raise ValueError(f"Duplicate entries detected in the list of arguments: {list(dargs)}")
    if isinstance(order, bool) or not isinstance(order, int) or order < 0:
        raise ValueError(f"The derivative order must be a non-negative integer, got {order!r}")
    m = len(dargs)
    entries: dict[tuple[int, ...], Expr] = {}
    # by_combo[c] holds the derivatives for the sorted argument-index tuple c (one per function).
    by_combo: dict[tuple[int, ...], list[Expr]] = {(): funcs}
    for n in range(1, order + 1):
        for combo in combinations_with_replacement(range(m), n):
            parent = by_combo[combo[:-1]]
            by_combo[combo] = _diff_many(parent, dargs[combo[-1]])
    for n in range(order + 1):
        combos = sorted(combinations_with_replacement(range(m), n),
                        key=lambda c: tuple(-c.count(j) for j in range(m)))
        for i in range(len(funcs)):
            for combo in combos:
                key = (i, *(combo.count(j) for j in range(m)))
                entries[key] = by_combo[combo][i]
    return DTens(entries, dargs, order, len(funcs))
