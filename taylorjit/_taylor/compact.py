"""Compact-mode jets: loops over groups of like operations, so compile time stays bounded.

Every node of the decomposition gets a row of ``p + 1`` coefficients in the jet buffer (state
variables first, then extra expressions, then parameters, numbers, time and calls). Nodes are
split into levels (a node's level exceeds those of the nodes it reads at the same order), and
within a level into groups of like operations (same primitive, same recurrence, same exponent);
each group becomes one loop over its members, whose rows come from a constant index table. The
order ``k`` is a runtime loop index: the table's recurrences run once per group over
:class:`LoopAlgebra`, whose sums are IR loops. The code's size thus depends on the number of
distinct operation kinds, not on the number of operations (the 20-body problem: a few dozen
groups for about 4000 operations).

Rows of numbers (their value, then zeros) and the zero tails of parameters and time are written
once by the integrator (:func:`constant_rows`); the jet refreshes parameters and time at order 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from llvmlite import ir

from .._expr import Call, Num, Par, Time
from .._jit import irhelpers as h
from .._jit.lower import lower_call_linked
from .decompose import Decomposition

__all__ = ["CompactLayout", "compact_layout", "compact_jet", "LoopAlgebra"]

I32 = ir.IntType(32)


@dataclass
class CompactLayout:
    """Rows of the jet buffer and the grouped operations of a decomposition."""

    rows: dict[int, int]  # id(node) -> row
    nrows: int
    #: Levels of groups; a group is (prototype call, member calls).
    levels: list[list[tuple[Call, list[Call]]]] = field(default_factory=list)


def compact_layout(dec: Decomposition) -> CompactLayout:
    """Assign rows and group the calls by level and kind."""
    rows: dict[int, int] = {}
    for i, v in enumerate(dec.state):
        rows[id(v)] = i
    nrows = len(dec.state) + len(dec.extra)
    for node in dec.nodes:
        if id(node) not in rows:
            rows[id(node)] = nrows
            nrows += 1
    level: dict[int, int] = {}
    for node in dec.nodes:
        if not isinstance(node, Call):
            level[id(node)] = 0
            continue
        form = dec.forms[id(node)]
        reads = [*node.args, *(form.aux if form.aux_at_k else ())]
        level[id(node)] = 1 + max((level.get(id(a), 0) for a in reads), default=0)
    groups: dict[tuple[int, Any], tuple[Call, list[Call]]] = {}
    for node in dec.calls:
        key = (level[id(node)], _kind(node, dec))
        groups.setdefault(key, (node, []))[1].append(node)
    nlevels = max((lv for lv, _ in groups), default=0)
    levels: list[list[tuple[Call, list[Call]]]] = [[] for _ in range(nlevels)]
    for (lv, _), group in groups.items():
        levels[lv - 1].append(group)
    return CompactLayout(rows, nrows, levels)


def _kind(node: Call, dec: Decomposition) -> tuple:
    """What determines a call's code: primitive, recurrence (code and closure), argument kinds."""
    form = dec.forms[id(node)]
    rule = form.rule
    closure = tuple(id(c.cell_contents) for c in (rule.__closure__ or ()))  # type: ignore[attr-defined]
    exponent = node.args[1].value if node.name == "pow" and isinstance(node.args[1], Num) else None
    arg_kinds = tuple(type(a).__name__ for a in node.args)
    return (node.name, rule.__code__, closure, arg_kinds, len(form.aux), exponent)  # type: ignore[attr-defined]


def constant_rows(dec: Decomposition, layout: CompactLayout, order: int) -> list[tuple[int, list[float]]]:
    """``(row, coefficients)`` to write once: numbers, and time's unit slope."""
    out = []
    for node in dec.nodes:
        if isinstance(node, Num):
            out.append((layout.rows[id(node)], [float(node.value)]))
        elif isinstance(node, Time) and order >= 1:
            out.append((layout.rows[id(node)], [0.0, 1.0]))
    return out


# --- IR building blocks --------------------------------------------------------------------------
class Idx:
    """An i64 IR value usable in the rules' index arithmetic (``k - j``, ``k - 1``)."""

    def __init__(self, builder: ir.IRBuilder, value: ir.Value) -> None:
        self.b, self.value = builder, value

    @staticmethod
    def of(builder: ir.IRBuilder, x: Any) -> ir.Value:
        return x.value if isinstance(x, Idx) else ir.Constant(h.I64, int(x))

    def __add__(self, other: Any) -> Idx:
        return Idx(self.b, self.b.add(self.value, Idx.of(self.b, other)))

    __radd__ = __add__

    def __sub__(self, other: Any) -> Idx:
        return Idx(self.b, self.b.sub(self.value, Idx.of(self.b, other)))

    def __rsub__(self, other: Any) -> Idx:
        return Idx(self.b, self.b.sub(Idx.of(self.b, other), self.value))

    def __floordiv__(self, other: int) -> Idx:  # orders are non-negative: sdiv is floor division
        return Idx(self.b, self.b.sdiv(self.value, Idx.of(self.b, other)))

    def __mod__(self, other: int) -> Idx:
        return Idx(self.b, self.b.srem(self.value, Idx.of(self.b, other)))


def _slot(b: ir.IRBuilder, buf: ir.Value, index: ir.Value) -> ir.Value:
    """Address of the double ``buf[index]``."""
    return b.gep(buf, [index], source_etype=h.DOUBLE)


def _get(b: ir.IRBuilder, buf: ir.Value, index: ir.Value) -> ir.Value:
    """Load the double ``buf[index]``."""
    return b.load(_slot(b, buf, index), typ=h.DOUBLE)


class Row:
    """The coefficients of one node: ``row[k]`` loads ``buf[base + k]``."""

    def __init__(self, builder: ir.IRBuilder, buf: ir.Value, base: ir.Value) -> None:
        self.b, self.buf, self.base = builder, buf, base

    def address(self, k: Any) -> ir.Value:
        return _slot(self.b, self.buf, self.b.add(self.base, Idx.of(self.b, k)))

    def __getitem__(self, k: Any) -> ir.Value:
        return _get(self.b, self.buf, self.b.add(self.base, Idx.of(self.b, k)))


def for_range(builder: ir.IRBuilder, start: Any, stop: Any, body: Callable[[Idx], None],
              name: str = "i") -> None:
    """Emit ``for i in range(start, stop): body(i)`` (``start``, ``stop``: ints or ``Idx``)."""
    lo, hi = Idx.of(builder, start), Idx.of(builder, stop)
    pre = builder.block
    head = builder.append_basic_block(f"{name}.head")
    loop = builder.append_basic_block(f"{name}.body")
    done = builder.append_basic_block(f"{name}.done")
    builder.branch(head)
    builder.position_at_end(head)
    i = builder.phi(h.I64, name=name)
    i.add_incoming(lo, pre)
    builder.cbranch(builder.icmp_signed("<", i, hi), loop, done)
    builder.position_at_end(loop)
    body(Idx(builder, i))
    nxt = builder.add(i, ir.Constant(h.I64, 1))
    i.add_incoming(nxt, builder.block)
    builder.branch(head)
    builder.position_at_end(done)


class LoopAlgebra:
    """The recurrences' algebra over IR doubles with runtime orders; sums become loops.

    Python floats are constants, folded as in :class:`~taylorjit._taylor.jet.TextAlgebra`.
    """

    def __init__(self, builder: ir.IRBuilder) -> None:
        self.b = builder
        self.reciprocals: dict[int, ir.Value] = {}

    def v(self, x: Any) -> ir.Value:
        return ir.Constant(h.DOUBLE, x) if isinstance(x, float) else x

    def _index_value(self, c: Any) -> ir.Value:
        return self.b.sitofp(c.value, h.DOUBLE)

    def add(self, x: Any, y: Any) -> Any:  # noqa: D102
        if isinstance(x, float) and x == 0.0:
            return y
        if isinstance(y, float) and y == 0.0:
            return x
        return self.b.fadd(self.v(x), self.v(y))

    def sub(self, x: Any, y: Any) -> Any:  # noqa: D102
        if isinstance(y, float) and y == 0.0:
            return x
        return self.b.fsub(self.v(x), self.v(y))

    def mul(self, x: Any, y: Any) -> Any:  # noqa: D102
        if (isinstance(x, float) and x == 0.0) or (isinstance(y, float) and y == 0.0):
            return 0.0
        return self.b.fmul(self.v(x), self.v(y))

    def neg(self, x: Any) -> Any:  # noqa: D102
        return -x if isinstance(x, float) else self.b.fneg(x)

    def scale(self, x: Any, c: Any) -> Any:  # noqa: D102
        if isinstance(c, Idx):
            return self.b.fmul(self.v(x), self._index_value(c))
        return self.mul(x, float(c))

    def div(self, x: Any, c: Any) -> Any:  # noqa: D102
        if isinstance(c, Idx):
            return self.b.fmul(self.v(x), self.b.fdiv(ir.Constant(h.DOUBLE, 1.0), self._index_value(c)))
        c = float(c)
        return self.b.fmul(self.v(x), ir.Constant(h.DOUBLE, 1.0 / c)) if c.is_integer() and c > 0 \
            else self.b.fdiv(self.v(x), self.v(c))

    def div_leading(self, x: Any, d0: Any) -> Any:  # noqa: D102
        return self.b.fdiv(self.v(x), self.v(d0))

    def sum(self, lo: Any, hi: Any, term: Callable[[Any], Any]) -> Any:  # noqa: D102
        b = self.b
        with b.goto_entry_block():  # an entry-block slot: the optimiser makes it a register
            acc = b.alloca(h.DOUBLE)
        b.store(ir.Constant(h.DOUBLE, 0.0), acc)

        def body(j: Idx) -> None:
            b.store(b.fadd(b.load(acc, typ=h.DOUBLE), self.v(term(j)), flags=("reassoc",)), acc)

        for_range(b, lo, Idx(b, b.add(Idx.of(b, hi), ir.Constant(h.I64, 1))), body, "j")
        return b.load(acc, typ=h.DOUBLE)


def _index_table(module: ir.Module, name: str, values: list[int]) -> ir.GlobalVariable:
    t = ir.ArrayType(I32, len(values))
    g = ir.GlobalVariable(module, t, name)
    g.global_constant = True
    g.linkage = "internal"
    g.initializer = ir.Constant(t, values)
    return g


def compact_jet(dec: Decomposition, order: int, module: ir.Module, name: str) -> str:
    """Define ``void @name(tc, pars, t)`` in ``module`` (compact mode); returns no extra text.

    The buffer ``tc`` must have ``compact_layout(dec).nrows`` rows, initialised with
    :func:`constant_rows`.
    """
    layout = compact_layout(dec)
    rows = layout.rows
    s = order + 1
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [h.PTR, h.PTR, h.DOUBLE]), name)
    fn.linkage = "internal"
    tc, pars, t = fn.args
    tc.add_attribute("noalias")
    pars.add_attribute("noalias")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    tables = _Tables(module, name)

    def row_base(row: ir.Value) -> ir.Value:
        return b.mul(b.zext(row, h.I64), ir.Constant(h.I64, s))

    def member_loop(values: list[list[int]], body: Callable[[list[ir.Value]], None]) -> None:
        """Loop over members; ``body`` gets each table's entry (i64 row bases)."""
        globs = [tables.new(v) for v in values]

        def emit(m: Idx) -> None:
            zero = ir.Constant(h.I64, 0)
            entries = [b.gep(g, [zero, m.value], source_etype=g.value_type) for g in globs]
            body([row_base(b.load(e, typ=I32)) for e in entries])

        for_range(b, 0, len(values[0]), emit, "m")

    # Order 0: parameters and time, then each group's values.
    par_nodes = [n for n in dec.nodes if isinstance(n, Par)]
    if par_nodes:
        def load_par(bases: list[ir.Value]) -> None:
            value = _get(b, pars, b.udiv(bases[1], ir.Constant(h.I64, s)))
            b.store(value, _slot(b, tc, bases[0]))
        member_loop([[rows[id(n)] for n in par_nodes], [n.index * s for n in par_nodes]], load_par)
    for node in dec.nodes:
        if isinstance(node, Time):
            b.store(t, _slot(b, tc, ir.Constant(h.I64, rows[id(node)] * s)))
    for level in layout.levels:
        for proto, members in level:
            exponent = proto.args[1] if proto.name == "pow" and isinstance(proto.args[1], Num) else None

            def value0(bases: list[ir.Value], proto: Call = proto, exponent: Any = exponent) -> None:
                args = [_get(b, tc, base) for base in bases[1:]]
                b.store(lower_call_linked(b, proto.prim, args, exponent), _slot(b, tc, bases[0]))

            member_loop([[rows[id(m)] for m in members],
                         *([rows[id(m.args[i])] for m in members] for i in range(len(proto.args)))],
                        value0)

    def state_update(k: Idx | int) -> None:
        inv = b.fdiv(ir.Constant(h.DOUBLE, 1.0), b.sitofp(Idx.of(b, k + 1), h.DOUBLE))

        def update(bases: list[ir.Value]) -> None:
            value = _get(b, tc, b.add(bases[1], Idx.of(b, k)))
            b.store(b.fmul(value, inv), _slot(b, tc, b.add(bases[0], Idx.of(b, k + 1))))

        member_loop([list(range(len(dec.state))), [rows[id(f)] for f in dec.rhs]], update)

    state_update(0)
    last = order if dec.extra else order - 1

    def order_k(k: Idx) -> None:
        A = LoopAlgebra(b)
        for level in layout.levels:
            for proto, members in level:
                form = dec.forms[id(proto)]
                narg, naux = len(proto.args), len(form.aux)

                def value_k(bases: list[ir.Value], form: Any = form, narg: int = narg) -> None:
                    y = Row(b, tc, bases[0])
                    args = [Row(b, tc, base) for base in bases[1:1 + narg]]
                    aux = [Row(b, tc, base) for base in bases[1 + narg:]]
                    b.store(A.v(form.rule(A, k, y, args, aux)), y.address(k))

                member_loop([[rows[id(m)] for m in members],
                             *([rows[id(m.args[i])] for m in members] for i in range(narg)),
                             *([rows[id(dec.forms[id(m)].aux[i])] for m in members] for i in range(naux))],
                            value_k)
        if last == order:  # extra rows need order p: the state update stops at p - 1
            with b.if_then(b.icmp_signed("<", k.value, ir.Constant(h.I64, order))):
                state_update(k)
        else:
            state_update(k)

    for_range(b, 1, last + 1, order_k, "k")
    if dec.extra:
        def copy_extra(bases: list[ir.Value]) -> None:
            def copy(k: Idx) -> None:
                value = _get(b, tc, b.add(bases[1], k.value))
                b.store(value, _slot(b, tc, b.add(bases[0], k.value)))
            for_range(b, 0, s, copy, "c")

        member_loop([list(range(len(dec.state), len(dec.state) + len(dec.extra))),
                     [rows[id(f)] for f in dec.extra]], copy_extra)
    b.ret_void()
    return ""


class _Tables:
    """Constant index tables of one jet, with unique names."""

    def __init__(self, module: ir.Module, prefix: str) -> None:
        self.module, self.prefix, self.count = module, prefix, 0

    def new(self, values: list[int]) -> ir.GlobalVariable:
        self.count += 1
        return _index_table(self.module, f"{self.prefix}.rows{self.count}", values)


def initial_buffer(dec: Decomposition, order: int) -> np.ndarray:
    """The jet buffer of a compact-mode integrator, with its constant rows written."""
    layout = compact_layout(dec)
    buf = np.zeros(layout.nrows * (order + 1))
    for row, values in constant_rows(dec, layout, order):
        buf[row * (order + 1): row * (order + 1) + len(values)] = values
    return buf
