"""Decomposition: an ODE system as a topologically sorted list of elementary operations.

``x' = f(x, p, t)`` becomes the state variables ``u_0 .. u_{n-1}`` followed by one entry per
call node of the right-hand sides (shared subexpressions once: the DAG is hash-consed) and the
auxiliary series their recurrences read (sin reads cos, tan reads tan**2, ...), in an order where
every node comes after the nodes it reads at the same Taylor order. The jet emitters
(``jet.py``) walk this list order by order; ``Decomposition.__str__`` shows it as heyoka does.

Extra expressions (event equations, later issues) are expanded in the same decomposition, so
their Taylor series over a step come out of the same compiled kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .._expr import Call, Expr, Num, Par, Time, Var, as_expr, get_variables, postorder, structural_key
from .._primitives.fused import terms
from .._primitives.table import TaylorForm, taylor_program
from .fusion import fuse

__all__ = ["Decomposition", "System", "decompose", "validate_system", "validated_system"]


def validate_system(sys: Any) -> tuple[list[Var], list[Expr]]:
    """Check a list of ``(var, rhs)`` pairs as heyoka does; return the variables and rhs.

    Raises
    ------
    ValueError
        An empty system, a left-hand side that is not a variable, a variable defined twice, or
        a variable used in a right-hand side that has no equation.
    TypeError
        Something that is not a sequence of pairs.
    """
    lhs, rhs = _validate_pairs(sys)
    check_variables(rhs, lhs, "appears in the right-hand side but not in the left-hand side")
    return lhs, rhs


def _validate_pairs(sys: Any) -> tuple[list[Var], list[Expr]]:
    """``validate_system`` but for the right-hand sides' variables."""
    try:
        pairs = list(sys)
    except TypeError:
        raise TypeError("an ODE system must be a list of (variable, right-hand side) pairs, "
                        f"not {type(sys).__name__}") from None
    if not pairs:
        raise ValueError("Cannot integrate a system of zero equations")
    lhs: list[Var] = []
    rhs: list[Expr] = []
    for pair in pairs:
        try:
            x, f = pair
        except (TypeError, ValueError):
            raise TypeError("an ODE system must be a list of (variable, right-hand side) pairs, "
                            f"but it contains {pair!r}") from None
        x = as_expr(x) if not isinstance(x, str) else Var(x)
        if not isinstance(x, Var):
            raise ValueError("Invalid system of differential equations detected: the left-hand "
                             f"side contains the expression '{x}', which is not a variable")
        if any(x is y for y in lhs):
            raise ValueError("Invalid system of differential equations detected: the variable "
                             f"'{x.name}' appears in the left-hand side twice")
        lhs.append(x)
        try:
            rhs.append(as_expr(f))
        except TypeError:
            raise TypeError(f"the right-hand side of {x.name}' is not an expression: {f!r}") from None
    return lhs, rhs


def check_variables(exprs: Sequence[Expr], state: Sequence[Var], what: str) -> None:
    """Raise ValueError naming the first variable of ``exprs`` not in ``state``."""
    known = {id(v) for v in state}
    for v in get_variables(list(exprs)):
        if id(v) not in known:
            raise ValueError(f"Invalid system of differential equations detected: the variable "
                             f"'{v.name}' {what}")


@dataclass
class Decomposition:
    """The elementary operations of a system, ready for a jet emitter.

    Attributes
    ----------
    state
        The state variables, in the order of the state vector.
    rhs
        Their right-hand sides.
    extra
        Further expressions expanded alongside (event equations).
    nodes
        Every node to expand, leaves included, each after the nodes it reads at the same order.
    forms
        ``id(call) -> TaylorForm``: the recurrence and auxiliary series of each call node.
    npars
        One more than the largest parameter index used (0 without parameters).
    """

    state: list[Var]
    rhs: list[Expr]
    extra: list[Expr]
    nodes: list[Expr]
    forms: dict[int, TaylorForm]
    npars: int

    @property
    def calls(self) -> list[Call]:
        """The call nodes, in evaluation order."""
        return [n for n in self.nodes if isinstance(n, Call)]

    @property
    def is_time_dependent(self) -> bool:
        """Whether ``tj.time`` appears."""
        return any(isinstance(n, Time) for n in self.nodes)

    @property
    def binary_size(self) -> int:
        """The number of binary operations the calls stand for: a fused node of ``n`` terms
        (``lincomb``, ``sum_sq``) counts ``2n - 1`` (its products and additions). The size
        thresholds of compact mode are measured in these units, so fusion changes the code, not
        the choice between the two emitters."""
        return sum(2 * terms(c) - 1 for c in self.calls)

    def __len__(self) -> int:
        return len(self.state) + len(self.calls)

    def __str__(self) -> str:
        names = {id(v): f"u_{i}" for i, v in enumerate(self.state)}
        lines = [f"u_{i} = {v.name}" for i, v in enumerate(self.state)]
        for node in self.calls:
            names[id(node)] = f"u_{len(names)}"
            args = ", ".join(_operand(a, names) for a in node.args)
            lines.append(f"{names[id(node)]} = {node.name}({args})")
        for v, f in zip(self.state, self.rhs, strict=True):
            lines.append(f"d{v.name}/dt = {_operand(f, names)}")
        for i, f in enumerate(self.extra):
            lines.append(f"extra_{i} = {_operand(f, names)}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Decomposition: {len(self.state)} variables, {len(self.calls)} operations>"


def _operand(node: Expr, names: dict[int, str]) -> str:
    return names.get(id(node), str(node))


@dataclass(frozen=True)
class System:
    """A validated ODE system with its extra expressions, before decomposition."""

    state: list[Var]
    rhs: list[Expr]
    extra: list[Expr]
    #: ``postorder([*rhs, *extra])``, when known (walking a large DAG costs milliseconds).
    nodes: list[Expr] | None = field(default=None, repr=False, compare=False)

    def key(self) -> str:
        """A deterministic description (part of compiled kernels' cache keys): the expressions'
        structure, the state's names, the number of extra expressions. Fusion and decomposition
        are functions of it, so it stands for the decomposition too, at a tenth of its cost."""
        return repr((structural_key([*self.rhs, *self.extra], self.nodes),
                     [v.name for v in self.state], len(self.extra)))


def validated_system(sys: Any, extra: Sequence[Expr] = ()) -> System:
    """Validate ``sys`` (heyoka's checks) and the ``extra`` expressions' variables.

    NOTE: one walk of the DAG checks the variables and is kept for the system's key: a new
    process building a cached 20-body integrator walked it three times (5 of its 12 ms).
    """
    state, rhs = _validate_pairs(sys)
    extra = [as_expr(e) for e in extra]
    nodes = postorder([*rhs, *extra])
    known = {id(v) for v in state}
    if any(isinstance(n, Var) and id(n) not in known for n in nodes):  # say which, and where
        check_variables(rhs, state, "appears in the right-hand side but not in the left-hand side")
        check_variables(extra, state, "appears in an event function but is not a state variable")
    return System(state, rhs, extra, nodes)


def decompose(sys: Any, extra: Sequence[Expr] = (), fuse_linear: bool = True) -> Decomposition:
    """Validate ``sys`` and decompose it, with the ``extra`` expressions expanded alongside.

    ``sys`` may be a :class:`System` already validated. ``fuse_linear``: rewrite chains of
    linear operations into n-ary nodes first (``fusion.py``); off, the decomposition mirrors the
    expressions one binary operation per node (tests).
    """
    system = sys if isinstance(sys, System) else validated_system(sys, extra)
    state, rhs, extra = system.state, system.rhs, system.extra
    if fuse_linear:
        fused = fuse([*rhs, *extra])
        rhs, extra = fused[:len(rhs)], fused[len(rhs):]
    nodes, forms = taylor_program([*rhs, *extra])
    # State variables first and in state order (a variable no rhs reads is still in the state).
    used = [n for n in nodes if not isinstance(n, Var)]
    nodes = [*state, *used]
    npars = 1 + max((n.index for n in nodes if isinstance(n, Par)), default=-1)
    return Decomposition(state, rhs, list(extra), nodes, forms, npars)


def is_leaf(node: Expr) -> bool:
    """Variables, parameters, time and numbers: nodes whose series the jet does not compute."""
    return isinstance(node, Var | Par | Time | Num)
