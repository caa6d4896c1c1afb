"""The primitive record: every fact about one elementary function, in one place.

A :class:`Primitive` holds, side by side, a function's numpy evaluation, its sympy name, its
partial derivatives as expressions, its Taylor-coefficient recurrence (with the auxiliary series
the recurrence needs) and how the JIT lowers its value to LLVM. ``from_sympy``, ``to_sympy``,
``diff``, ``cfunc``, the integrator's decomposition and the gduals all *read* this table; adding
a function means adding one entry (see ``arith.py``, ``elementary.py``, ``special.py``).

Coefficient convention: always normalised, ``x[k] = x^(k) / k!``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol

import numpy as np

from .._expr import PRIMITIVES, Call, Expr, Num, Par, call, postorder

__all__ = [
    "Primitive", "Algebra", "TaylorForm", "register", "apply", "taylor_program", "Rule",
]


class Algebra(Protocol):
    """The coefficient algebra a recurrence is written over.

    Floats (reference jets), homogeneous polynomial blocks (gduals, via the Euler operator) and an
    LLVM IR builder (compiled jets) all implement it, so each recurrence is written once.
    ``k`` and ``j`` may be Python ints or, for a compact-mode emitter, IR loop indices.
    """

    def add(self, x: Any, y: Any) -> Any: ...  # noqa: D102
    def sub(self, x: Any, y: Any) -> Any: ...  # noqa: D102
    def mul(self, x: Any, y: Any) -> Any: ...  # noqa: D102
    def neg(self, x: Any) -> Any: ...  # noqa: D102
    def scale(self, x: Any, c: Any) -> Any: ...  # noqa: D102  (c: a number or an order index)
    def div(self, x: Any, c: Any) -> Any: ...  # noqa: D102  (c: a number or an order index)
    def div_leading(self, x: Any, d0: Any) -> Any: ...  # noqa: D102  (d0: an order-0 value)
    def sum(self, lo: Any, hi: Any, term: Callable[[Any], Any]) -> Any: ...  # noqa: D102
    def eval0(self, prim: Primitive, args0: Sequence[Any]) -> Any: ...  # noqa: D102


#: A recurrence: ``rule(A, k, y, args, aux) -> y[k]`` for ``k >= 1``, where ``y`` holds this
#: node's coefficients of orders ``< k``, ``args[i]`` its arguments' coefficients up to ``k`` and
#: ``aux[i]`` the auxiliary series (orders ``< k``; also ``k`` when ``TaylorForm.aux_at_k``).
Rule = Callable[[Algebra, Any, Sequence[Any], Sequence[Sequence[Any]], Sequence[Sequence[Any]]], Any]


@dataclass(frozen=True)
class TaylorForm:
    """How one call node is expanded: its recurrence and the auxiliary expressions it reads."""

    rule: Rule
    aux: tuple[Expr, ...] = ()
    #: True when the rule reads the auxiliary series at the current order ``k`` (they must then
    #: be computed first); False when it reads only orders ``< k`` (sin reading cos).
    aux_at_k: bool = False


@dataclass(frozen=True, eq=False)
class Primitive:
    """One elementary function with all of its faces.

    Attributes
    ----------
    name, arity
        Identity: the name doubles as the public function name and the printed name.
    numpy_eval
        Reference evaluation on floats / numpy arrays (also used for constant folding).
    derivative
        ``derivative(args, node) -> partials``: one expression per argument (``node`` is the call
        itself, handy when the derivative reuses the value, as for exp and tan).
    taylor
        ``taylor(args, node) -> TaylorForm``: the recurrence and the auxiliary series it needs,
        chosen from the arguments' structure (``pow`` uses a different rule for a constant and for
        an expression exponent).
    lowering
        How the JIT computes the order-0 value: ``"fadd"``, ``"intrinsic:llvm.sqrt"``,
        ``"vecmath:exp"``, ``"libm:tan"``, ``"ir:kepE"``... interpreted by ``taylorjit._jit``.
    sympy_name
        The sympy function or operator it maps to (``None``: handled by sympy's Add/Mul/Pow).
    exact
        Optional exact constant folding on int / Fraction arguments (returns None if not exact).
    simplify_rule
        Optional identities on expression arguments (``x + 0 -> x``); returns None if none apply.
    infix, precedence
        Printing: operator symbol and binding strength (``None`` prints as ``name(args)``).
    """

    name: str
    arity: int
    numpy_eval: Callable[..., Any]
    derivative: Callable[[tuple[Expr, ...], Expr], tuple[Expr, ...]]
    taylor: Callable[[tuple[Expr, ...], Expr], TaylorForm]
    lowering: str
    sympy_name: str | None = None
    exact: Callable[..., Any] | None = None
    simplify_rule: Callable[[tuple[Expr, ...]], Expr | None] | None = None
    infix: str | None = None
    precedence: int = 100
    doc: str = field(default="", repr=False)

    def simplify(self, args: tuple[Expr, ...]) -> Expr | None:
        """Constant folding and the obvious identities; None when the call must be built."""
        if all(isinstance(a, Num) for a in args):
            folded = self.fold(tuple(a.value for a in args))  # type: ignore[attr-defined]
            if folded is not None:
                return Num(folded)
        if self.simplify_rule is not None:
            return self.simplify_rule(args)
        return None

    def fold(self, values: tuple[Any, ...]) -> Any:
        """The value of the call on numbers, or None to keep it symbolic.

        Exact arguments fold only when the result is exact (``exact`` says so), so ``sin(1)``
        stays symbolic and sympy round trips stay exact; any float argument folds to a float.
        """
        if all(not isinstance(v, float) for v in values):
            return None if self.exact is None else self.exact(*values)
        with np.errstate(all="ignore"):
            return float(self.numpy_eval(*(float(v) for v in values)))

    def format(self, args: list[str], precedences: list[int]) -> tuple[str, int]:
        """Printed form of a call given its printed arguments and their precedences."""
        if self.infix is None:
            return f"{self.name}({', '.join(args)})", 100
        if self.arity == 1:
            a = args[0] if precedences[0] > self.precedence else f"({args[0]})"
            return f"{self.infix}{a}", self.precedence
        left = args[0] if precedences[0] >= self.precedence else f"({args[0]})"
        # Right operand of a non-associative operator needs strictly higher precedence.
        right_ok = precedences[1] > self.precedence or (
            precedences[1] == self.precedence and self.name in ("add", "mul")
        )
        right = args[1] if right_ok else f"({args[1]})"
        if self.name == "pow":  # right-associative, and the base binds tighter
            left = args[0] if precedences[0] > self.precedence else f"({args[0]})"
            right = args[1] if precedences[1] >= self.precedence else f"({args[1]})"
        return f"{left}{self.infix}{right}", self.precedence


def register(prim: Primitive) -> Primitive:
    """Add ``prim`` to the table (names are unique)."""
    if prim.name in PRIMITIVES:
        raise RuntimeError(f"primitive {prim.name!r} registered twice")
    PRIMITIVES[prim.name] = prim
    return prim


def apply(name: str, *args: Any) -> Any:
    """Dispatch a public function on its arguments.

    Expressions build a call node; objects that implement ``__taylorjit_apply__`` (gduals) get
    the primitive; anything else (floats, numpy arrays) is evaluated with the numpy reference.
    """
    for a in args:
        if isinstance(a, Expr):
            return call(name, *args)
    for a in args:
        hook = getattr(type(a), "__taylorjit_apply__", None)
        if hook is not None:
            return hook(PRIMITIVES[name], args)
    prim = PRIMITIVES[name]
    if len(args) != prim.arity:
        raise TypeError(f"{name}() takes {prim.arity} argument(s), {len(args)} given")
    vals = [float(a) if isinstance(a, Fraction) else a for a in args]
    return prim.numpy_eval(*vals)


def fixed_form(rule: Rule, aux: Callable[[tuple[Expr, ...], Expr], tuple[Expr, ...]] | None = None):
    """A ``taylor`` field for primitives whose rule never depends on argument structure."""

    def taylor(args: tuple[Expr, ...], node: Expr) -> TaylorForm:
        return TaylorForm(rule, aux(args, node) if aux is not None else ())

    return taylor


def is_runtime_constant(e: Expr) -> bool:
    """True for numbers and parameters: series whose coefficients of order >= 1 vanish."""
    return isinstance(e, Num | Par)


def taylor_program(roots: Sequence[Expr]) -> tuple[list[Expr], dict[int, TaylorForm]]:
    """Every node needed to expand ``roots`` in Taylor series, in evaluation order.

    The closure includes each call's auxiliary expressions (which may refer back to the call, as
    tan's ``square(tan(a))`` does). Nodes are ordered by argument edges only: auxiliary series
    are read at lower orders, so they may come after the node that reads them.

    Returns
    -------
    nodes
        Topologically sorted nodes (arguments before calls).
    forms
        ``id(node) -> TaylorForm`` for every call node.
    """
    forms: dict[int, TaylorForm] = {}
    pending = list(roots)
    collected: list[Expr] = []
    seen: set[int] = set()
    while pending:
        new_roots = [r for r in pending if id(r) not in seen]
        pending = []
        for node in postorder(new_roots):
            if id(node) in seen:
                continue
            seen.add(id(node))
            collected.append(node)
            if isinstance(node, Call):
                form = node.prim.taylor(node.args, node)  # type: ignore[attr-defined]
                forms[id(node)] = form
                pending.extend(a for a in form.aux if id(a) not in seen)
    # Order by argument edges, plus an edge from each auxiliary expression read at order k.
    deps: dict[int, list[Expr]] = {}
    for node in collected:
        form = forms.get(id(node))
        extra = list(form.aux) if form is not None and form.aux_at_k else []
        deps[id(node)] = [*node.args, *extra]
    return _toposort(collected, deps), forms


def _toposort(nodes: list[Expr], deps: dict[int, list[Expr]]) -> list[Expr]:
    order: list[Expr] = []
    done: set[int] = set()
    active: set[int] = set()
    for root in nodes:
        stack: list[tuple[Expr, bool]] = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                active.discard(id(node))
                if id(node) not in done:
                    done.add(id(node))
                    order.append(node)
                continue
            if id(node) in done:
                continue
            if id(node) in active:
                raise RuntimeError(f"cyclic auxiliary series around {node}")
            active.add(id(node))
            stack.append((node, True))
            stack.extend((d, False) for d in reversed(deps[id(node)]) if id(d) not in done)
    return order
