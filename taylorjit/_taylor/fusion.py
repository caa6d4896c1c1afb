"""Fusion: chains of linear operations become one n-ary node before the jet is emitted.

A right-hand side such as the n-body acceleration ``sum_j m_j (x_j - x_i) / r_ij**3`` decomposes,
with binary operations, into one product by a mass, one addition and one scaling per term, and
``r**2 = dx**2 + dy**2 + dz**2`` into three squares and two additions. Each such node costs a row
of coefficients and, in compact mode, a loop iteration with its loads and stores at every order,
although its arithmetic is a single addition. This pass rewrites, in the expression DAG:

* a tree of ``add``, ``sub``, ``neg`` and products by numbers whose inner nodes have no other
  reader into ``lincomb(c0, x0, c1, x1, ...)``;
* the squares among its terms (coefficient 1, no other reader) into one ``sum_sq``.

Shared subexpressions stay whole: a linear node read twice is a term of each reader. Operations
that absorb nothing are left as they were (a lone ``a + b`` stays an ``add``). The coefficients
multiply exactly for exact numbers; with floats, and in the order of the additions, results may
differ from the unfused chain by rounding (as heyoka's n-ary sums do).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from .._expr import Call, Expr, Num, call, postorder
from .._primitives.fused import lincomb, sum_sq

__all__ = ["fuse"]


def fuse(roots: Sequence[Expr]) -> list[Expr]:
    """``roots`` with their linear chains fused (see the module docstring); the DAG is shared."""
    nodes = postorder(list(roots))
    readers: Counter[int] = Counter()
    linear: dict[int, list[tuple[Expr, Any]]] = {}  # id(node) -> its linear parts
    for node in nodes:
        if isinstance(node, Call):
            for a in node.args:
                readers[id(a)] += 1
            parts = _linear_parts(node)
            if parts is not None:
                linear[id(node)] = parts
    for r in roots:
        readers[id(r)] += 1  # an output is a reader that is not in the DAG
    # Linear nodes read once, by a linear node, are expanded into their reader and never built;
    # the others are built after their arguments, each linear tree expanded once from its top.
    absorbed = {id(a) for n in nodes if id(n) in linear for a in n.args  # type: ignore[attr-defined]
                if id(a) in linear and readers[id(a)] == 1}
    new: dict[int, Expr] = {}
    for node in nodes:
        if id(node) in absorbed:
            continue
        new[id(node)] = _rewrite(node, readers, linear, new) if isinstance(node, Call) else node
    return [new[id(r)] for r in roots]


def _linear_parts(node: Expr) -> list[tuple[Expr, Any]] | None:
    """``node`` as ``[(operand, coefficient), ...]`` when it is linear in its operands."""
    if not isinstance(node, Call):
        return None
    name, args = node.name, node.args
    if name == "add":
        return [(args[0], 1), (args[1], 1)]
    if name == "sub":
        return [(args[0], 1), (args[1], -1)]
    if name == "neg":
        return [(args[0], -1)]
    if name == "mul":
        a, b = args
        if isinstance(a, Num) and not isinstance(b, Num):
            return [(b, a.value)]
        if isinstance(b, Num) and not isinstance(a, Num):
            return [(a, b.value)]
    return None


def _rewrite(node: Call, readers: Counter[int], linear: dict[int, list[tuple[Expr, Any]]],
             new: dict[int, Expr]) -> Expr:
    parts = linear.get(id(node))
    if parts is None:
        return _with_new_args(node, new)
    # Expand through linear operands read only here; remember each term's original node.
    terms: dict[int, list[Any]] = {}  # id(original term) -> [original, coefficient]
    constant: Any = 0
    absorbed = 0
    stack = [(x, c) for x, c in reversed(parts)]
    while stack:
        x, c = stack.pop()
        inner = linear.get(id(x)) if readers[id(x)] == 1 else None
        if inner is not None:
            absorbed += 1
            stack.extend((y, c * d) for y, d in reversed(inner))
        elif isinstance(x, Num):
            constant = constant + c * x.value
        elif id(x) in terms:
            terms[id(x)][1] = terms[id(x)][1] + c
        else:
            terms[id(x)] = [x, c]
    squares = [x for x, c in terms.values()
               if _is_one(c) and getattr(x, "name", None) == "square" and readers[id(x)] == 1]
    if absorbed == 0 and len(squares) < 2:
        return _with_new_args(node, new)
    pairs: list[tuple[Any, Expr]] = []
    if len(squares) >= 2:
        fused_squares = sum_sq([new[id(x.args[0])] for x in squares])
        square_ids = {id(x) for x in squares}
        pairs.append((1, fused_squares))
    else:
        square_ids = set()
    pairs += [(c, new[id(x)]) for x, c in terms.values() if id(x) not in square_ids and not _is_zero(c)]
    if not pairs:
        return Num(constant)
    if not _is_zero(constant):
        pairs.append((constant, Num(1)))
    if len(pairs) == 1 and _is_one(pairs[0][0]):
        return pairs[0][1]
    return lincomb([(Num(c), x) for c, x in pairs])


def _is_one(c: Any) -> bool:
    return c == 1


def _is_zero(c: Any) -> bool:
    """An exact zero (a float 0.0 is kept: ``0.0 * inf`` is nan, and the user wrote it)."""
    return c == 0 and not isinstance(c, float)


def _with_new_args(node: Call, new: dict[int, Expr]) -> Expr:
    args = tuple(new[id(a)] for a in node.args)
    if all(a is b for a, b in zip(args, node.args, strict=True)):
        return node
    return call(node.name, *args)
