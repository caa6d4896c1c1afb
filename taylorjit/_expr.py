"""Layer 1: the immutable, hash-consed expression DAG.

Every node is built through an interning constructor, so two structurally equal expressions are
the same Python object: equality and hashing are identity (O(1)), and common subexpressions are
shared for free. Nodes are ``Var`` (a named variable), ``Par`` (runtime parameter ``i``),
``Time`` (the independent variable), ``Num`` (an exact int or Fraction, or a float) and
``Call`` (a primitive applied to arguments).

This module knows nothing about particular functions: a ``Call`` holds a primitive record from
the table in ``taylorjit._primitives`` (found by name at call time through ``PRIMITIVES``), and
the operators below only ask that table for ``add``, ``mul``, ... Every traversal here is
iterative, so a 10 000-term sum or a deep chain of calls never hits Python's recursion limit.
"""

from __future__ import annotations

import math
import numbers
import struct
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from fractions import Fraction
from typing import Any, Protocol

import numpy as np

__all__ = [
    "Expr", "Var", "Par", "Time", "Num", "Call", "PRIMITIVES", "as_expr", "call", "make_vars",
    "var", "par", "time", "postorder", "get_variables", "get_params", "subs", "Number",
]

Number = int | float | Fraction


class PrimitiveLike(Protocol):
    """What the expression layer needs from a primitive record (see ``_primitives.table``)."""

    name: str
    arity: int

    def simplify(self, args: tuple[Expr, ...]) -> Expr | None: ...  # noqa: D102

    def format(self, args: list[str], precedences: list[int]) -> tuple[str, int]: ...  # noqa: D102


#: Registry filled by ``taylorjit._primitives``: primitive name -> record.
PRIMITIVES: dict[str, PrimitiveLike] = {}

_intern_lock = threading.Lock()
_interned: weakref.WeakValueDictionary[tuple, Expr] = weakref.WeakValueDictionary()


def _intern(cls: type, key: tuple, init: Callable[[Any], None]) -> Any:
    """Return the unique node of class ``cls`` with ``key``, creating it with ``init`` if new."""
    full_key = (cls, *key)
    with _intern_lock:
        node = _interned.get(full_key)
        if node is None:
            node = object.__new__(cls)
            init(node)
            _interned[full_key] = node
        return node


class Expr:
    """Base class of all expression nodes: immutable, interned, compared by identity.

    Arithmetic operators build new (interned) nodes; comparison operators raise ``TypeError``
    because an expression has no truth value. ``str`` gives a readable infix form.
    """

    __slots__ = ("__weakref__",)
    __array_ufunc__ = None  # numpy defers to our reflected operators: np.float64(2) * x works

    # Arithmetic: every operator is a call into the primitive table.
    def __add__(self, other: object) -> Expr:
        return call("add", self, other)

    def __radd__(self, other: object) -> Expr:
        return call("add", other, self)

    def __sub__(self, other: object) -> Expr:
        return call("sub", self, other)

    def __rsub__(self, other: object) -> Expr:
        return call("sub", other, self)

    def __mul__(self, other: object) -> Expr:
        return call("mul", self, other)

    def __rmul__(self, other: object) -> Expr:
        return call("mul", other, self)

    def __truediv__(self, other: object) -> Expr:
        return call("div", self, other)

    def __rtruediv__(self, other: object) -> Expr:
        return call("div", other, self)

    def __pow__(self, other: object) -> Expr:
        return call("pow", self, other)

    def __rpow__(self, other: object) -> Expr:
        return call("pow", other, self)

    def __neg__(self) -> Expr:
        return call("neg", self)

    def __pos__(self) -> Expr:
        return self

    def _no_order(self, other: object) -> bool:
        raise TypeError(
            "expressions cannot be ordered with <, <=, > or >= (they have no numeric value); "
            "compare numbers after evaluating, e.g. with tj.cfunc"
        )

    __lt__ = __le__ = __gt__ = __ge__ = _no_order

    def __bool__(self) -> bool:
        raise TypeError(
            "the truth value of an expression is undefined; use 'is' or '==' to compare "
            "expressions structurally"
        )

    def __str__(self) -> str:
        return _to_string(self)

    def __repr__(self) -> str:
        return _to_string(self)

    def __reduce__(self) -> tuple:
        return (_rebuild, (_flatten(self),))

    def __copy__(self) -> Expr:
        return self

    def __deepcopy__(self, memo: dict) -> Expr:
        return self

    @property
    def args(self) -> tuple[Expr, ...]:
        """The operands of this node (empty for leaves)."""
        return ()


class Var(Expr):
    """A named variable, e.g. ``tj.var("x")``."""

    __slots__ = ("name",)
    name: str

    def __new__(cls, name: str) -> Var:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a variable name must be a non-empty string, got {name!r}")
        if name.startswith("__"):
            raise ValueError(f"variable names starting with '__' are reserved, got {name!r}")

        def init(node: Var) -> None:
            object.__setattr__(node, "name", name)

        return _intern(cls, (name,), init)


class Par(Expr):
    """Runtime parameter number ``index``: its value is read at evaluation time (``pars``)."""

    __slots__ = ("index",)
    index: int

    def __new__(cls, index: int) -> Par:
        if isinstance(index, bool) or not isinstance(index, numbers.Integral) or index < 0:
            raise ValueError(f"a parameter index must be a non-negative integer, got {index!r}")
        index = int(index)

        def init(node: Par) -> None:
            object.__setattr__(node, "index", index)

        return _intern(cls, (index,), init)


class Time(Expr):
    """The independent variable of an ODE system (``tj.time``)."""

    __slots__ = ()

    def __new__(cls) -> Time:
        return _intern(cls, (), lambda node: None)


def _num_key(value: Number) -> tuple:
    if isinstance(value, float):
        # Bit pattern: tells 0.0 from -0.0, and gives every NaN one stable key.
        return ("f", struct.pack("<d", value) if value == value else b"nan")
    if isinstance(value, Fraction):
        return ("q", value.numerator, value.denominator)
    return ("i", value)


class Num(Expr):
    """A number: an exact ``int`` or ``Fraction``, or a ``float``.

    Exact numbers stay exact through constant folding (so sympy rationals round-trip); a float
    anywhere in an operation makes the result a float.
    """

    __slots__ = ("value",)
    value: Number

    def __new__(cls, value: Number) -> Num:
        value = normalize_number(value)

        def init(node: Num) -> None:
            object.__setattr__(node, "value", value)

        return _intern(cls, _num_key(value), init)

    @property
    def is_exact(self) -> bool:
        """True for int and Fraction values, False for floats."""
        return not isinstance(self.value, float)


class Call(Expr):
    """A primitive applied to argument expressions (built only through :func:`call`)."""

    __slots__ = ("prim", "_args")
    prim: PrimitiveLike
    _args: tuple[Expr, ...]

    def __new__(cls, prim: PrimitiveLike, args: tuple[Expr, ...]) -> Call:
        def init(node: Call) -> None:
            object.__setattr__(node, "prim", prim)
            object.__setattr__(node, "_args", args)

        return _intern(cls, (prim.name, *args), init)

    @property
    def args(self) -> tuple[Expr, ...]:
        """The operands of the call."""
        return self._args

    @property
    def name(self) -> str:
        """The primitive's name (``"sin"``, ``"add"``, ...)."""
        return self.prim.name


def _frozen_setattr(self: Expr, name: str, value: object) -> None:
    raise AttributeError(f"expressions are immutable (cannot set {name!r})")


for _cls in (Expr, Var, Par, Time, Num, Call):
    _cls.__setattr__ = _frozen_setattr  # type: ignore[method-assign]


def normalize_number(value: object) -> Number:
    """Convert a Python or numpy number to int, Fraction or float; raise TypeError otherwise."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, Fraction):
        return value.numerator if value.denominator == 1 else value
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, numbers.Rational):
        return normalize_number(Fraction(value.numerator, value.denominator))
    if isinstance(value, complex | np.complexfloating):
        raise TypeError(f"complex numbers are not supported in expressions, got {value!r}")
    raise TypeError(
        f"cannot use an object of type {type(value).__name__} as an expression "
        "(expected an expression, an int, a float, a Fraction or a numpy scalar)"
    )


def as_expr(value: object) -> Expr:
    """Promote numbers (int, float, Fraction, numpy scalars) to ``Num``; pass expressions through."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    return Num(normalize_number(value))


def call(name: str, *args: object) -> Expr:
    """Apply primitive ``name`` to ``args``, folding constants and applying obvious identities."""
    prim = PRIMITIVES[name]
    if len(args) != prim.arity:
        raise TypeError(f"{name}() takes {prim.arity} argument(s), {len(args)} given")
    eargs = tuple(as_expr(a) for a in args)
    simplified = prim.simplify(eargs)
    if simplified is not None:
        return simplified
    return Call(prim, eargs)


# ---------------------------------------------------------------------------------------------
# Public constructors
# ---------------------------------------------------------------------------------------------
def var(name: str) -> Var:
    """The variable called ``name``."""
    return Var(name)


def make_vars(*names: str) -> tuple[Var, ...] | Var:
    """Variables for each name: ``x, v = tj.make_vars("x", "v")`` (one name gives one Var)."""
    if not names:
        raise ValueError("make_vars() needs at least one name")
    out = tuple(Var(n) for n in names)
    return out[0] if len(out) == 1 else out


class _ParFactory:
    """``tj.par[i]``: the runtime parameter with index ``i``."""

    __slots__ = ()

    def __getitem__(self, index: int) -> Par:
        return Par(index)

    def __repr__(self) -> str:
        return "tj.par"


par = _ParFactory()
time = Time()


# ---------------------------------------------------------------------------------------------
# Traversals (all iterative)
# ---------------------------------------------------------------------------------------------
def postorder(roots: Expr | Iterable[Expr]) -> list[Expr]:
    """All distinct nodes reachable from ``roots``, each after its arguments (topological order)."""
    if isinstance(roots, Expr):
        roots = (roots,)
    seen: set[int] = set()
    order: list[Expr] = []
    for root in roots:
        if id(root) in seen:
            continue
        stack: list[tuple[Expr, bool]] = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for a in reversed(node.args):
                if id(a) not in seen:
                    stack.append((a, False))
    return order


def transform(roots: Iterable[Expr], leaf: Callable[[Expr], Expr | None]) -> list[Expr]:
    """Rebuild ``roots`` bottom-up, replacing nodes for which ``leaf`` returns an expression.

    ``leaf(node)`` is asked for every node before its arguments are rebuilt; when it returns
    ``None`` the node is rebuilt from its (possibly replaced) arguments, re-simplifying as it goes.
    """
    roots = list(roots)
    memo: dict[int, Expr] = {}
    for node in postorder(roots):
        repl = leaf(node)
        if repl is not None:
            memo[id(node)] = repl
        elif isinstance(node, Call):
            new_args = tuple(memo[id(a)] for a in node.args)
            if all(n is o for n, o in zip(new_args, node.args, strict=True)):
                memo[id(node)] = node
            else:
                memo[id(node)] = call(node.prim.name, *new_args)
        else:
            memo[id(node)] = node
    return [memo[id(r)] for r in roots]


def subs(e: Expr | Iterable[Expr], mapping: dict) -> Any:
    """Replace sub-expressions: ``tj.subs(e, {x: y + 1, tj.par[0]: 2.0})``.

    Keys may be variables (or their names), parameters, ``tj.time`` or any sub-expression;
    values are expressions or numbers. The result is re-simplified (``x + y`` with ``y -> 0``
    gives ``x``). Works on one expression or a list of them.
    """
    table: dict[int, Expr] = {}
    keep_alive = []
    for k, v in mapping.items():
        key = Var(k) if isinstance(k, str) else as_expr(k)
        keep_alive.append(key)
        table[id(key)] = as_expr(v)
    single = isinstance(e, Expr)
    roots = [e] if single else [as_expr(r) for r in e]
    out = transform(roots, lambda node: table.get(id(node)))
    return out[0] if single else out


def get_variables(e: Expr | Iterable[Expr]) -> list[Var]:
    """The variables appearing in ``e``, sorted by name (as heyoka's ``get_variables``)."""
    return sorted((n for n in postorder(_roots(e)) if isinstance(n, Var)), key=lambda v: v.name)


def get_params(e: Expr | Iterable[Expr]) -> list[Par]:
    """The runtime parameters appearing in ``e``, sorted by index."""
    return sorted((n for n in postorder(_roots(e)) if isinstance(n, Par)), key=lambda p: p.index)


def _roots(e: Expr | Iterable[Expr]) -> list[Expr]:
    return [e] if isinstance(e, Expr) else [as_expr(r) for r in e]


# ---------------------------------------------------------------------------------------------
# Printing
# ---------------------------------------------------------------------------------------------
ATOM = 100


def format_number(value: Number) -> str:
    """Readable text for a number: ``3``, ``0.25``, ``(1/3)``, ``nan``."""
    if isinstance(value, Fraction):
        return f"({value.numerator}/{value.denominator})"
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return str(value)


def _to_string(root: Expr) -> str:
    nodes = postorder(root)
    remaining: dict[int, int] = {}  # uses left: a child's text is dropped after its last use
    for node in nodes:
        for a in node.args:
            remaining[id(a)] = remaining.get(id(a), 0) + 1
    text: dict[int, tuple[str, int]] = {}
    for node in nodes:
        if isinstance(node, Var):
            text[id(node)] = (node.name, ATOM)
        elif isinstance(node, Par):
            text[id(node)] = (f"p{node.index}", ATOM)
        elif isinstance(node, Time):
            text[id(node)] = ("t", ATOM)
        elif isinstance(node, Num):
            s = format_number(node.value)
            text[id(node)] = (s, 0 if s.startswith("-") else ATOM)
        else:
            assert isinstance(node, Call)
            parts = [text[id(a)] for a in node.args]
            for a in node.args:
                remaining[id(a)] -= 1
                if not remaining[id(a)]:
                    del text[id(a)]
            text[id(node)] = node.prim.format([p[0] for p in parts], [p[1] for p in parts])
    return text[id(root)][0]


# ---------------------------------------------------------------------------------------------
# Pickling: a flat program, so deep expressions pickle without recursion
# ---------------------------------------------------------------------------------------------
def _flatten(root: Expr) -> list[tuple]:
    index: dict[int, int] = {}
    program: list[tuple] = []
    for node in postorder(root):
        if isinstance(node, Var):
            item: tuple = ("v", node.name)
        elif isinstance(node, Par):
            item = ("p", node.index)
        elif isinstance(node, Time):
            item = ("t",)
        elif isinstance(node, Num):
            item = ("n", node.value)
        else:
            assert isinstance(node, Call)
            item = ("c", node.prim.name, tuple(index[id(a)] for a in node.args))
        index[id(node)] = len(program)
        program.append(item)
    return program


def structural_key(roots: Sequence[Expr], nodes: Sequence[Expr] | None = None) -> str:
    """A text that identifies ``roots`` structurally (equal for equal expression lists).

    The flat program of the whole DAG (shared nodes once) followed by the roots' positions:
    the cache key of compiled code derived from these expressions. ``nodes`` may pass the
    already computed ``postorder(roots)``.
    """
    index: dict[int, int] = {}
    parts: list[str] = []
    for position, node in enumerate(postorder(list(roots)) if nodes is None else nodes):
        if isinstance(node, Call):  # most nodes: plain concatenation (a third faster)
            parts.append("c" + node.prim.name + "(" + ",".join([str(index[id(a)]) for a in node.args])
                         + ")")
        elif isinstance(node, Var):
            parts.append(f"v{node.name!r}")
        elif isinstance(node, Par):
            parts.append(f"p{node.index}")
        elif isinstance(node, Time):
            parts.append("t")
        else:
            assert isinstance(node, Num)
            parts.append(f"n{type(node.value).__name__}{node.value!r}")
        index[id(node)] = position
    parts.append(f"roots{[index[id(r)] for r in roots]}")
    return ";".join(parts)


def _rebuild(program: list[tuple]) -> Expr:
    built: list[Expr] = []
    for item in program:
        tag = item[0]
        if tag == "v":
            built.append(Var(item[1]))
        elif tag == "p":
            built.append(Par(item[1]))
        elif tag == "t":
            built.append(Time())
        elif tag == "n":
            built.append(Num(item[1]))
        else:
            prim = PRIMITIVES[item[1]]
            built.append(Call(prim, tuple(built[i] for i in item[2])))
    return built[-1]
