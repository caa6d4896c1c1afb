"""Jet kernels: LLVM code computing the normalised Taylor coefficients of an ODE's solution.

Given the state ``x(t0)`` in column 0 of ``tc`` (row ``i`` holds variable ``i``'s coefficients
``x_i[0..p]``), the jet computes, order by order, the coefficients of every node of the
decomposition from the primitive table's recurrences, and ``x_i[k+1] = f_i[k] / (k+1)``.

Two emitters run the same recurrences (``TaylorForm.rule``) over two algebras:

* **unrolled** (:class:`TextAlgebra`): the rules run in Python with integer orders and emit
  straight-line text IR, one SSA value per coefficient; structural zeros (the higher orders of
  numbers, parameters and time) are folded away while emitting. Fastest code; compile time grows
  like ``nodes * p**2``.
* **compact** (``compact.py``): one loop over the members of each group of like operations, the
  order a runtime loop index; compile time independent of the system's size.

Layout: ``tc[(row * (p + 1) + k) * W + lane]`` with ``W`` the SIMD batch size (1: one
integration), rows being the state variables then any extra expressions (event equations, whose
series over the step come out of the same kernel).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from llvmlite import ir

from .._expr import Call, Expr, Num, Par, Time, Var
from .._jit.lower import lower_text
from .._jit.textir import TextBody
from .._primitives.fused import RECURRENCE_LOWERING
from .decompose import Decomposition

__all__ = ["TextAlgebra", "unrolled_jet", "JET_PARAMS"]

#: Unrolled jets of this many operations or more sum left to right (FMA chains), smaller ones
#: pairwise. NOTE: measured per step, trees against chains: pendulum (3 operations) 175 / 287
#: ns, CR3BP (21) 390 / 425, Lorenz's variational system (28) 600 / 615; chains: Kepler's (43)
#: 2128 / 1968, the pendulum's at order 3 (44) 2311 / 2142; chains also build 10-20% faster.
CHAINED_SUMS_FROM = 40

#: The jet function's parameters (both emitters): coefficients, parameters, time at the step start.
JET_PARAMS = "ptr noalias %tc, ptr noalias %pars, {vtype} %t"

Operand = str | float  # an SSA name / IR constant text, or an exactly known Python float


class TextAlgebra:
    """The recurrences' algebra over IR operands, emitting straight-line text.

    Values are SSA operands (``str``) or Python floats, which are folded exactly (IEEE double
    arithmetic in Python is the same as in the kernel); multiplying by a float zero gives zero,
    which is how the higher orders of numbers, parameters and time disappear from the code.
    """

    def __init__(self, body: TextBody, chained_sums: bool = False) -> None:
        self.body = body
        self.chained_sums = chained_sums
        self._reciprocals: dict[str, str] = {}
        self._scaled: dict[tuple[str, float], Operand] = {}

    def operand(self, x: Operand) -> str:
        """IR text of a value (constants become literals)."""
        return self.body.constant(x) if isinstance(x, float) else x

    def _binary(self, opcode: str, x: Operand, y: Operand) -> str:
        return self.body.binary(opcode, self.operand(x), self.operand(y))

    def add(self, x: Operand, y: Operand) -> Operand:  # noqa: D102
        if isinstance(x, float) and isinstance(y, float):
            return x + y
        if isinstance(x, float) and x == 0.0:
            return y
        if isinstance(y, float) and y == 0.0:
            return x
        return self._binary("fadd", x, y)

    def sub(self, x: Operand, y: Operand) -> Operand:  # noqa: D102
        if isinstance(x, float) and isinstance(y, float):
            return x - y
        if isinstance(y, float) and y == 0.0:
            return x
        if isinstance(x, float) and x == 0.0:
            return self.neg(y)
        return self._binary("fsub", x, y)

    def mul(self, x: Operand, y: Operand) -> Operand:  # noqa: D102
        if isinstance(x, float) and isinstance(y, float):
            return x * y
        if (isinstance(x, float) and x == 0.0) or (isinstance(y, float) and y == 0.0):
            return 0.0
        if isinstance(x, float) and x == 1.0:
            return y
        if isinstance(y, float) and y == 1.0:
            return x
        return self._binary("fmul", x, y)

    def neg(self, x: Operand) -> Operand:  # noqa: D102
        return -x if isinstance(x, float) else self.body.neg(x)

    def scale(self, x: Operand, c: Any) -> Operand:  # noqa: D102
        if isinstance(x, float):
            return x * float(c)
        key = (x, float(c))  # j * a[j] recurs at every order: emit it once
        if key not in self._scaled:
            self._scaled[key] = self.mul(x, float(c))
        return self._scaled[key]

    def div(self, x: Operand, c: Any) -> Operand:  # noqa: D102
        c = float(c)
        if isinstance(x, float):
            return _ieee_divide(x, c)
        if c == 1.0:
            return x
        # NOTE: dividing by an order k (the common case) as a product with 1/k: a division
        # costs 4-8 times a product and the rules divide once per node and order (measured:
        # -25% per step on the pendulum). The result differs from x/k by at most one ulp.
        return self._binary("fmul", x, 1.0 / c) if c.is_integer() and c > 0 else self._binary("fdiv", x, c)

    def div_leading(self, x: Operand, d0: Operand) -> Operand:  # noqa: D102
        if isinstance(d0, float):
            return self.div(x, d0)
        # NOTE: a leading coefficient divides at every order: one division, then products
        # (at most one ulp apart from dividing each time). 0 * (1/d0) is nan when d0 is 0 or
        # nan, as 0/d0 would be, so a zero numerator is not folded.
        if d0 not in self._reciprocals:
            self._reciprocals[d0] = self.body.binary("fdiv", self.body.constant(1.0), d0)
        return self.body.binary("fmul", self.operand(x), self._reciprocals[d0])

    def sum(self, lo: int, hi: int, term: Callable[[int], Operand]) -> Operand:  # noqa: D102
        # NOTE: summed pairwise, not left to right: a chain of k dependent additions costs k
        # times the adder's latency, a tree log2(k) (measured: -15% per step on the pendulum),
        # and pairwise summation is also the more accurate. A large jet has enough independent
        # sums to hide the latency; there a chain is better, since each product and addition
        # fuse into one FMA: ``chained_sums`` (see unrolled_jet).
        terms = [t for t in (term(j) for j in range(lo, hi + 1))
                 if not (isinstance(t, float) and t == 0.0)]
        if not terms:
            return 0.0
        if self.chained_sums:
            total = terms[0]
            for t in terms[1:]:
                total = self.add(total, t)
            return total
        while len(terms) > 1:
            pairs = [self.add(terms[i], terms[i + 1]) for i in range(0, len(terms) - 1, 2)]
            terms = pairs + ([terms[-1]] if len(terms) % 2 else [])
        return terms[0]


def _ieee_divide(x: float, y: float) -> float:
    """``x / y`` as the kernel computes it (inf or nan on division by zero, no exception)."""
    with np.errstate(all="ignore"):
        return float(np.float64(x) / np.float64(y))


def unrolled_jet(dec: Decomposition, order: int, width: int, helpers: ir.Module, name: str) -> str:
    """Text of ``void @name(tc, pars, t)``: the fully unrolled jet of ``dec`` to ``order``
    (exported: ``name`` must be unique to the module, e.g. carry its symbol prefix).

    ``helpers`` receives the declarations the order-0 values need (runtime library functions,
    intrinsics). Extra expressions (``dec.extra``) get rows after the state, to order ``p``.
    """
    body = TextBody(width, contract=True)
    A = TextAlgebra(body, chained_sums=len(dec.calls) >= CHAINED_SUMS_FROM)
    stride = order + 1
    nstate = len(dec.state)

    def slot(row: int, k: int) -> str:
        return body.address("%tc", str((row * stride + k) * width))

    series: dict[int, list[Operand]] = {}
    for i, v in enumerate(dec.state):
        series[id(v)] = [body.load(slot(i, 0))]
    for node in dec.nodes:
        if isinstance(node, Par):
            series[id(node)] = [body.load(body.address("%pars", str(node.index * width)))]
            series[id(node)] += [0.0] * order
        elif isinstance(node, Num):
            series[id(node)] = [float(node.value)] + [0.0] * order
        elif isinstance(node, Time):
            series[id(node)] = ["%t", *([1.0] if order >= 1 else []), *([0.0] * (order - 1))]
        elif isinstance(node, Call):
            series[id(node)] = []
    calls = _by_level(dec)
    # Calls are needed to order p - 1 for the state; extra rows need them to order p.
    last = order if dec.extra else order - 1
    for k in range(last + 1):
        for node in calls:
            args = [series[id(a)] for a in node.args]
            y = series[id(node)]
            form = dec.forms[id(node)]
            if k == 0 and node.prim.lowering != RECURRENCE_LOWERING:
                y.append(lower_text(body, helpers, node, [A.operand(s[0]) for s in args]))
            else:
                y.append(form.rule(A, k, y, args, [series[id(a)] for a in form.aux]))
        if k < order:
            for i, (v, f) in enumerate(zip(dec.state, dec.rhs, strict=True)):
                value = A.div(series[id(f)][k], k + 1)
                series[id(v)].append(value)
                body.store(A.operand(value), slot(i, k + 1))
    for r, f in enumerate(dec.extra):
        for k in range(order + 1):
            body.store(A.operand(series[id(f)][k]), slot(nstate + r, k))
    vtype = body.vtype
    params = JET_PARAMS.format(vtype=vtype)
    return "\n".join([f"define void @{name}({params}) {{", "entry:", body.text(),
                      "  ret void", "}"])


def _by_level(dec: Decomposition) -> list[Call]:
    """The calls ordered by level (1 + the largest level of what they read at the same order),
    stably: independent operations end up next to each other in the straight-line code."""
    level: dict[int, int] = {}
    for node in dec.nodes:
        if isinstance(node, Call):
            form = dec.forms[id(node)]
            reads = [*node.args, *(form.aux if form.aux_at_k else ())]
            level[id(node)] = 1 + max((level.get(id(a), 0) for a in reads), default=0)
    calls = dec.calls
    order = {id(c): i for i, c in enumerate(calls)}
    return sorted(calls, key=lambda c: (level[id(c)], order[id(c)]))


def leaf_kind(node: Expr) -> str:
    """``var``, ``par``, ``time`` or ``num``: how a leaf's series is obtained."""
    if isinstance(node, Var):
        return "var"
    if isinstance(node, Par):
        return "par"
    if isinstance(node, Time):
        return "time"
    return "num"
