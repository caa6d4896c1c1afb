"""Conversion to and from sympy, read off the table's ``sympy_name`` fields.

Round trip: for a sympy expression ``s`` built from supported functions,
``to_sympy(from_sympy(s)) == s`` exactly (integers and rationals stay exact, floats keep every
bit). For a taylorjit expression ``e``, ``from_sympy(to_sympy(e))`` has the same value and the
same sympy form, but may be rearranged the way sympy canonicalises (sorted sums, merged terms).
Parameters map to symbols named ``par[i]`` and ``tj.time`` to the symbol ``taylorjit_time``.
sympy is imported only when these functions are called.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from functools import cache
from typing import Any

from .._expr import PRIMITIVES, Call, Expr, Num, Par, Time, Var, call, postorder

__all__ = ["to_sympy", "from_sympy", "TIME_SYMBOL_NAME"]

TIME_SYMBOL_NAME = "taylorjit_time"
_PAR_NAME = re.compile(r"^par\[(\d+)\]$")


@cache
def _sympy_kepE() -> Any:
    """A sympy Function for Kepler's eccentric anomaly, with its derivatives (sympy has none)."""
    import sympy

    class kepE(sympy.Function):  # noqa: N801 - printed as heyoka prints it
        """Kepler's eccentric anomaly E(e, M): E - e sin(E) = M."""

        nargs = 2

        def fdiff(self, argindex: int = 1) -> Any:
            e, _ = self.args
            d = 1 - e * sympy.cos(self)
            return sympy.sin(self) / d if argindex == 1 else 1 / d

        @classmethod
        def eval(cls, e: Any, M: Any) -> Any:
            # The same folding as taylorjit's table: exact zero eccentricity gives M, a zero
            # anomaly gives 0 inside the domain, and floats evaluate numerically.
            if e is sympy.S.Zero:
                return M
            if e.is_Number and M.is_Number:
                if e.is_Float or M.is_Float:
                    from .special import kepler_eccentric_anomaly

                    value = kepler_eccentric_anomaly(float(e), float(M))
                    return sympy.nan if value != value else sympy.Float(value)
                if M is sympy.S.Zero and 0 <= e < 1:
                    return sympy.Integer(0)
            return None

    return kepE


def _sympy_function(name: str) -> Any:
    import sympy

    return _sympy_kepE() if name == "kepE" else getattr(sympy, name)


@cache
def _reverse_table() -> dict[Any, str]:
    table = {}
    for prim in PRIMITIVES.values():
        if prim.sympy_name is not None:  # type: ignore[attr-defined]
            table[_sympy_function(prim.sympy_name)] = prim.name  # type: ignore[attr-defined]
    return table


def _number_to_sympy(v: int | float | Fraction) -> Any:
    import sympy

    if isinstance(v, int):
        return sympy.Integer(v)
    if isinstance(v, Fraction):
        return sympy.Rational(v.numerator, v.denominator)
    if math.isnan(v):
        return sympy.nan
    if math.isinf(v):
        return sympy.oo if v > 0 else -sympy.oo
    return sympy.Float(v, precision=53)


def to_sympy(e: Any) -> Any:
    """The sympy expression equal to ``e`` (an expression or a list of expressions).

    Examples
    --------
    >>> import taylorjit as tj
    >>> x = tj.var("x")
    >>> tj.to_sympy(tj.sin(x) ** 2 + tj.par[0])
    par[0] + sin(x)**2
    """
    import sympy

    if not isinstance(e, Expr):
        return [to_sympy(item) for item in e]
    nodes = postorder(e)
    inner = _chain_interiors(nodes)
    out: dict[int, Any] = {}
    for node in nodes:
        if id(node) in inner:
            continue  # folded into its parent's n-ary Add / Mul
        if isinstance(node, Var):
            out[id(node)] = sympy.Symbol(node.name)
        elif isinstance(node, Par):
            out[id(node)] = sympy.Symbol(f"par[{node.index}]")
        elif isinstance(node, Time):
            out[id(node)] = sympy.Symbol(TIME_SYMBOL_NAME)
        elif isinstance(node, Num):
            out[id(node)] = _number_to_sympy(node.value)
        else:
            assert isinstance(node, Call)
            if node.name in _CHAINS:
                out[id(node)] = _flatten_chain(node, inner, out)
                continue
            a = [out[id(x)] for x in node.args]
            out[id(node)] = _SYMPY_OPS[node.name](a) if node.name in _SYMPY_OPS else (
                _sympy_function(node.prim.sympy_name)(*a))  # type: ignore[attr-defined]
    return out[id(e)]


# NOTE: a taylorjit sum of n terms is a chain of n-1 binary adds; rebuilding it with sympy's
# binary + re-sorts the sum at every step (quadratic, and minutes for a few thousand terms).
# Chains are flattened into one n-ary Add (or Mul) instead.
_CHAINS = {"add": "sum", "sub": "sum", "mul": "product", "div": "product"}


def _chain_interiors(nodes: list[Expr]) -> set[int]:
    """Sum (product) nodes used exactly once, by a sum (product): folded into their parent."""
    uses: dict[int, int] = {}
    parent_family: dict[int, str | None] = {}
    for node in nodes:
        if isinstance(node, Call):
            family = _CHAINS.get(node.name)
            for a in node.args:
                uses[id(a)] = uses.get(id(a), 0) + 1
                parent_family[id(a)] = family
    return {id(n) for n in nodes
            if isinstance(n, Call) and n.name in _CHAINS and uses.get(id(n)) == 1
            and parent_family[id(n)] == _CHAINS[n.name]}


def _flatten_chain(node: Call, inner: set[int], out: dict[int, Any]) -> Any:
    import sympy

    # ``flip`` is a negation inside sums and an inversion inside products (x/y is x * y**-1,
    # which is also sympy's own form: Mul(2, x + 1) would be expanded, Mul(2, x + 1, 1/y) not).
    terms: list[Any] = []
    stack: list[tuple[Expr, bool]] = [(node, False)]
    while stack:
        item, flip = stack.pop()
        if id(item) in inner or item is node:
            assert isinstance(item, Call)
            a, b = item.args
            stack.append((b, flip != (item.name in ("sub", "div"))))
            stack.append((a, flip))
        elif _CHAINS[node.name] == "sum":
            terms.append(-out[id(item)] if flip else out[id(item)])
        else:
            terms.append(sympy.Pow(out[id(item)], -1) if flip else out[id(item)])
    return sympy.Add(*terms) if _CHAINS[node.name] == "sum" else sympy.Mul(*terms)


_SYMPY_OPS = {
    "add": lambda a: a[0] + a[1],
    "sub": lambda a: a[0] - a[1],
    "mul": lambda a: a[0] * a[1],
    "div": lambda a: a[0] / a[1],
    "neg": lambda a: -a[0],
    "square": lambda a: a[0] ** 2,
    "pow": lambda a: a[0] ** a[1],
}


def from_sympy(s: Any, s_dict: dict | None = None) -> Expr:
    """The taylorjit expression equal to the sympy expression ``s``.

    Parameters
    ----------
    s
        A sympy expression.
    s_dict
        Optional substitutions ``{sympy expression: taylorjit expression}`` applied to matching
        sub-expressions (typically symbols) before conversion.

    Raises
    ------
    NotImplementedError
        Naming the sympy function or object that has no taylorjit counterpart.
    TypeError
        If ``s`` is not a sympy expression.
    """
    import sympy

    if not isinstance(s, sympy.Basic):
        raise TypeError(f"from_sympy() expects a sympy expression, got {type(s).__name__}")
    subst = {} if s_dict is None else {sympy.sympify(k): v for k, v in s_dict.items()}
    reverse = _reverse_table()
    done: dict[Any, Expr] = {}

    def convert(root: Any) -> Expr:
        stack: list[tuple[Any, bool]] = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if node in done:
                continue
            if node in subst:
                done[node] = _promote(subst[node], node)
                continue
            if not expanded and node.args and not node.is_Number:
                stack.append((node, True))
                stack.extend((a, False) for a in node.args if a not in done)
                continue
            done[node] = _convert(node, [done[a] for a in node.args], reverse, convert)
        return done[root]

    return convert(s)


def _promote(value: Any, node: Any) -> Expr:
    from .._expr import as_expr

    try:
        return as_expr(value)
    except TypeError:
        raise TypeError(
            f"s_dict maps {node} to an object of type {type(value).__name__}, "
            "which is not a taylorjit expression or a number"
        ) from None


def _convert(node: Any, args: list[Expr], reverse: dict[Any, str], convert: Any) -> Expr:
    import sympy

    if node.is_Symbol:
        m = _PAR_NAME.match(node.name)
        if m:
            return Par(int(m.group(1)))
        if node.name == TIME_SYMBOL_NAME:
            return Time()
        return Var(node.name)
    if node is sympy.nan:
        return Num(math.nan)
    if node is sympy.oo:
        return Num(math.inf)
    if node is sympy.S.NegativeInfinity:
        return Num(-math.inf)
    if node.is_Integer:
        return Num(int(node))
    if node.is_Rational:
        return Num(Fraction(int(node.p), int(node.q)))
    if node.is_Float:
        return Num(float(node))
    if node is sympy.S.Exp1:
        return call("exp", 1)
    if node is sympy.pi:
        return Num(math.pi)
    if node.is_Add:
        return _sum(node, args, convert)
    if node.is_Mul:
        return _product(node, args, convert)
    if node.is_Pow:
        return call("pow", *args)
    func = reverse.get(node.func)
    if func is not None:
        return call(func, *args)
    raise NotImplementedError(
        f"from_sympy: the sympy {'function' if node.is_Function else 'object'} "
        f"{node.func.__name__!r} (in {node}) has no taylorjit counterpart"
    )


def _sum(node: Any, args: list[Expr], convert: Any) -> Expr:
    total: Expr | None = None
    for term, converted in zip(node.args, args, strict=True):
        negated = _negation_of(term)
        if total is None:
            total = converted
        elif negated is not None:
            total = call("sub", total, convert(negated))
        else:
            total = call("add", total, converted)
    assert total is not None
    return total


def _negation_of(term: Any) -> Any:
    """``u`` when ``term`` is ``-u`` in sympy's form (a product with exact coefficient -1)."""
    import sympy

    if term.is_Mul and term.args[0] is sympy.S.NegativeOne:
        return term.func(*term.args[1:])
    return None


def _product(node: Any, args: list[Expr], convert: Any) -> Expr:
    numerator: list[Expr] = []
    denominator: list[Expr] = []
    negate = False
    import sympy

    for factor, converted in zip(node.args, args, strict=True):
        if factor is sympy.S.NegativeOne:
            negate = not negate
        elif factor.is_Pow and factor.exp.is_Number and factor.exp.is_negative:
            denominator.append(convert(factor.base ** (-factor.exp)))
        else:
            numerator.append(converted)
    result: Expr = numerator[0] if numerator else Num(1)
    for f in numerator[1:]:
        result = call("mul", result, f)
    for f in denominator:
        result = call("div", result, f)
    return call("neg", result) if negate else result
