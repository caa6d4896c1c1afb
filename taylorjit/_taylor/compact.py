"""Compact-mode jets: loops over groups of like operations, so compile time stays bounded.

Every node of the decomposition gets a row of ``p + 1`` coefficients in the jet buffer (state
variables first, then extra expressions, then parameters, numbers, time and calls). Nodes are
split into levels (a node's level exceeds those of the nodes it reads at the same order), and
within a level into groups of like operations (same primitive, same recurrence, same argument
kinds, same exponent). For each order ``k`` and group, one loop runs over the group's members,
whose rows come from a constant index table; its body is the table's recurrence at that ``k``,
emitted by the unrolled jets' :class:`~taylorjit._taylor.jet.TextAlgebra` (so sums are
straight-line, pairwise, with structural zeros folded). The code's size thus grows with the
number of distinct operation kinds times ``p**2``, not with the number of operations (the
20-body problem: about 50 groups for 4000 operations).

NOTE: a first version kept ``k`` a runtime loop index too (sums as IR loops): smaller code, but
twice slower per step (loop overhead on sums of 1-20 terms); heyoka's compact mode does that.

Rows of numbers (their value, then zeros) and the zero tails of parameters and time are written
once by the integrator (:func:`constant_rows`); the jet refreshes parameters and time at order 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from llvmlite import ir

from .._expr import Call, Expr, Num, Par, Time
from .._jit.lower import lower_text
from .._jit.textir import TextBody
from .decompose import Decomposition
from .jet import JET_PARAMS, Operand, TextAlgebra

__all__ = ["CompactLayout", "compact_layout", "compact_jet", "initial_buffer"]


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


#: From this many operations on, the loops of a kind are shared across levels (see compact_jet;
#: measured: Kepler's 2nd-order variational system, 330 operations, builds in 0.55 s instead of
#: 0.66 s and steps in 13.2 us instead of 12.3 us; heyoka: 0.36 s, 20 us).
SHARED_LOOPS_FROM = 300


def _kind(node: Call, dec: Decomposition) -> tuple:
    """What determines a call's code: primitive, recurrence (code and closure), argument kinds."""
    form = dec.forms[id(node)]
    rule = form.rule
    closure = tuple(id(c.cell_contents) for c in (rule.__closure__ or ()))  # type: ignore[attr-defined]
    exponent = node.args[1].value if node.name == "pow" and isinstance(node.args[1], Num) else None
    kinds = tuple(type(a).__name__ for a in (*node.args, *form.aux))
    return (node.name, rule.__code__, closure, kinds, len(form.aux), exponent)  # type: ignore[attr-defined]


def constant_rows(dec: Decomposition, layout: CompactLayout, order: int) -> list[tuple[int, list[float]]]:
    """``(row, coefficients)`` to write once: numbers, and time's unit slope."""
    out = []
    for node in dec.nodes:
        if isinstance(node, Num):
            out.append((layout.rows[id(node)], [float(node.value)]))
        elif isinstance(node, Time) and order >= 1:
            out.append((layout.rows[id(node)], [0.0, 1.0]))
    return out


# --- emission ----------------------------------------------------------------------------------
class RowSeries:
    """A node's coefficients read from its row: ``series[j]`` loads ``tc[base + j]`` (once per
    loop body); orders known to vanish (numbers, parameters, time's above 1) are constants."""

    def __init__(self, body: TextBody, base: str, kind: type, loads: dict[tuple[str, int], str]) -> None:
        self.body, self.base, self.kind, self.loads = body, base, kind, loads

    def __getitem__(self, j: int) -> Operand:
        if j >= 1 and self.kind in (Num, Par):
            return 0.0
        if j >= 1 and self.kind is Time:
            return 1.0 if j == 1 else 0.0
        key = (self.base, j)
        if key not in self.loads:
            self.loads[key] = self.body.load(self._pointer(j))
        return self.loads[key]

    def store(self, j: int, value: str) -> None:
        """Write order ``j`` (and remember it for later reads in the same body)."""
        self.body.store(value, self._pointer(j))
        self.loads[(self.base, j)] = value

    def _pointer(self, j: int) -> str:
        """``&tc[base + j]``: the row's pointer once per body, then constant offsets (LLVM folds
        them into the loads' addressing: a third fewer instructions than an index per order)."""
        key = (self.base, "row")
        if key not in self.loads:
            self.loads[key] = self.body.address("%tc", self.base)
        row = self.loads[key]
        return self.body.address(row, str(j)) if j else row


class _Emitter:
    """Writes the compact jet's text: member loops over constant row tables."""

    def __init__(self, name: str, order: int) -> None:
        self.body = TextBody(1, contract=True)
        self.name, self.stride = name, order + 1
        self.tables: list[str] = []
        self._table_names: dict[tuple[int, ...], str] = {}
        self.parts: list[str] = []
        self.nloops = 0
        #: Shared loop functions: key -> (name, number of row tables).
        self._kernels: dict[Any, str] = {}
        self._kernel_texts: list[str] = []

    def table(self, values: Sequence[int]) -> str:
        """A constant i64 table (one per distinct content: every order reuses them)."""
        key = tuple(values)
        if key not in self._table_names:
            gname = f'@"{self.name}.rows{len(self.tables)}"'
            items = ", ".join(f"i64 {v}" for v in values)
            self.tables.append(f"{gname} = internal constant [{len(values)} x i64] [{items}]")
            self._table_names[key] = gname
        return self._table_names[key]

    def member_loop(self, columns: Sequence[Sequence[int]],
                    body: Callable[[list[str], TextAlgebra, dict[tuple[str, int], str]], None]) -> None:
        """``for m in members: body(row bases of m, algebra, load memo)``; the columns hold row
        numbers (multiplied by the stride here) or plain integers."""
        tables = [self.table([v * self.stride for v in col]) for col in columns]
        self._loop(tables, str(len(columns[0])), body)

    def _loop(self, tables: Sequence[str], count: str,
              body: Callable[[list[str], TextAlgebra, dict[tuple[str, int], str]], None]) -> None:
        """The loop over ``count`` members whose row bases are read from ``tables`` (pointers)."""
        loop = f"L{self.nloops}"
        self.nloops += 1
        b = self.body
        b.emit(f"br label %{loop}.pre")
        b.lines.append(f"{loop}.pre:")
        b.emit(f"br label %{loop}.head")
        b.lines.append(f"{loop}.head:")
        b.emit(f"%{loop}.m = phi i64 [ 0, %{loop}.pre ], [ %{loop}.next, %{loop}.body ]")
        b.emit(f"%{loop}.more = icmp slt i64 %{loop}.m, {count}")
        b.emit(f"br i1 %{loop}.more, label %{loop}.body, label %{loop}.done")
        b.lines.append(f"{loop}.body:")
        bases = []
        for t in tables:
            slot = b.fresh()
            b.emit(f"{slot} = getelementptr i64, ptr {t}, i64 %{loop}.m")
            base = b.fresh()
            b.emit(f"{base} = load i64, ptr {slot}, align 8")
            bases.append(base)
        body(bases, TextAlgebra(b), {})
        b.emit(f"%{loop}.next = add i64 %{loop}.m, 1")
        b.emit(f"br label %{loop}.head")
        b.lines.append(f"{loop}.done:")

    def shared_loop(self, key: Any, columns: Sequence[Sequence[int]],
                    body: Callable[[list[str], TextAlgebra, dict[tuple[str, int], str]], None],
                    inline: bool = False) -> None:
        """As :meth:`member_loop`, but the loop is a function shared by every call with the same
        ``key`` (groups of one kind at one order, on every level), called with this group's row
        tables: the code of a kind is compiled once per order, not once per level (the CR3BP's
        third-order variational jet: 91 groups, 21 kinds). ``inline``: a kind with one group
        only, whose loop stays in place (a call per order would cost time and save nothing)."""
        if inline:
            self.member_loop(columns, body)
            return
        name = self._kernels.get(key)
        ntab = len(columns)
        if name is None:
            name = f'@"{self.name}.k{len(self._kernels)}"'
            self._kernels[key] = name
            b = self.body
            saved, b.lines = b.lines, []
            self._loop([f"%tab{i}" for i in range(ntab)], "%n", body)
            loop_text = b.text()
            b.lines = saved
            tabs = ", ".join(f"ptr noalias %tab{i}" for i in range(ntab))
            self._kernel_texts.append(
                f"define internal void {name}(ptr noalias %tc, ptr noalias %pars, double %t, {tabs}, "
                f"i64 %n) noinline {{\nentry:\n{loop_text}\n  ret void\n}}")
        tables = [self.table([v * self.stride for v in col]) for col in columns]
        args = ", ".join(f"ptr {t}" for t in tables)
        self.body.emit(f"call void {name}(ptr %tc, ptr %pars, double %t, {args}, i64 {len(columns[0])})")

    def split(self) -> None:
        """End the current part and start a new one: the jet is a sequence of functions (one per
        order), since LLVM's passes are superlinear in a function's number of loops (the 20-body
        jet in one function: 3.4 s to compile)."""
        self.parts.append(self.body.text())
        self.body.lines = []

    def text(self) -> str:
        self.split()
        params = JET_PARAMS.format(vtype="double")
        args = "ptr %tc, ptr %pars, double %t"
        out = [*self.tables, *self._kernel_texts]
        for i, part in enumerate(self.parts):
            out += [f"define internal void @\"{self.name}.part{i}\"({params}) noinline {{", "entry:", part,
                    "  ret void", "}"]
        out += [f"define internal void @\"{self.name}\"({params}) {{", "entry:"]
        out += [f'  call void @"{self.name}.part{i}"({args})' for i in range(len(self.parts))]
        out += ["  ret void", "}"]
        return "\n".join(out)


def compact_jet(dec: Decomposition, order: int, helpers: ir.Module, name: str) -> str:
    """Text of ``void @name(tc, pars, t)`` in compact mode (declarations go into ``helpers``).

    The buffer ``tc`` must have ``compact_layout(dec).nrows`` rows, initialised by
    :func:`initial_buffer`.
    """
    layout = compact_layout(dec)
    rows = layout.rows
    em = _Emitter(name, order)
    # How many groups (levels) each kind has: a kind on one level only keeps its loop inline, and
    # so do all kinds of a small system, where a call per group and order costs more time per
    # step (CR3BP, 205 operations: 6.5 -> 6.8 us) than it saves in compilation.
    uses = Counter(_kind(proto, dec) for level in layout.levels for proto, _ in level)
    if len(dec.calls) < SHARED_LOOPS_FROM:
        uses = Counter(dict.fromkeys(uses, 1))
    b = em.body

    def series_of(node: Expr, base: str, loads: dict[tuple[str, int], str]) -> RowSeries:
        return RowSeries(b, base, type(node), loads)

    # Order 0: parameters and time, then each group's values.
    par_nodes = [n for n in dec.nodes if isinstance(n, Par)]
    if par_nodes:
        def load_par(bases: list[str], A: TextAlgebra, loads: dict) -> None:
            index = b.fresh()
            b.emit(f"{index} = udiv i64 {bases[1]}, {em.stride}")
            RowSeries(b, bases[0], Call, loads).store(0, b.load(b.address("%pars", index)))
        em.member_loop([[rows[id(n)] for n in par_nodes], [n.index for n in par_nodes]], load_par)
    for node in dec.nodes:
        if isinstance(node, Time):
            b.store("%t", b.address("%tc", str(rows[id(node)] * em.stride)))
    for level in layout.levels:
        for proto, members in level:
            def value0(bases: list[str], A: TextAlgebra, loads: dict, proto: Call = proto) -> None:
                args = [series_of(a, base, loads)[0] for a, base in zip(proto.args, bases[1:], strict=True)]
                RowSeries(b, bases[0], Call, loads).store(0, lower_text(b, helpers, proto, args))
            em.shared_loop(("value0", _kind(proto, dec)), _columns(proto, members, rows, dec, with_aux=False),
                           value0, inline=uses[_kind(proto, dec)] == 1)

    last = order if dec.extra else order - 1
    state_columns = [list(range(len(dec.state))), [rows[id(f)] for f in dec.rhs]]
    for k in range(last + 1):
        em.split()
        if k >= 1:
            for level in layout.levels:
                for proto, members in level:
                    form = dec.forms[id(proto)]

                    def value_k(bases: list[str], A: TextAlgebra, loads: dict, proto: Call = proto,
                                form: Any = form, k: int = k) -> None:
                        narg = len(proto.args)
                        y = RowSeries(b, bases[0], Call, loads)
                        args = [series_of(a, base, loads) for a, base in zip(proto.args, bases[1:1 + narg],
                                                                             strict=True)]
                        aux = [series_of(a, base, loads) for a, base in zip(form.aux, bases[1 + narg:],
                                                                            strict=True)]
                        y.store(k, A.operand(form.rule(A, k, y, args, aux)))

                    em.shared_loop(("value", k, _kind(proto, dec)),
                                   _columns(proto, members, rows, dec, with_aux=True), value_k,
                                   inline=uses[_kind(proto, dec)] == 1)
        if k < order:
            def update(bases: list[str], A: TextAlgebra, loads: dict, k: int = k) -> None:
                f = RowSeries(b, bases[1], Call, loads)
                RowSeries(b, bases[0], Call, loads).store(k + 1, A.operand(A.div(f[k], k + 1)))
            em.member_loop(state_columns, update)
    if dec.extra:
        def copy_extra(bases: list[str], A: TextAlgebra, loads: dict) -> None:
            src, dst = RowSeries(b, bases[1], Call, loads), RowSeries(b, bases[0], Call, loads)
            for j in range(order + 1):
                dst.store(j, A.operand(src[j]))
        em.member_loop([list(range(len(dec.state), len(dec.state) + len(dec.extra))),
                        [rows[id(f)] for f in dec.extra]], copy_extra)
    return em.text()


def _columns(proto: Call, members: list[Call], rows: dict[int, int], dec: Decomposition,
             with_aux: bool) -> list[list[int]]:
    """Row tables of a group: outputs, each argument, then (``with_aux``) each auxiliary series."""
    cols = [[rows[id(m)] for m in members]]
    cols += [[rows[id(m.args[i])] for m in members] for i in range(len(proto.args))]
    if with_aux:
        naux = len(dec.forms[id(proto)].aux)
        cols += [[rows[id(dec.forms[id(m)].aux[i])] for m in members] for i in range(naux)]
    return cols


def initial_buffer(dec: Decomposition, order: int) -> np.ndarray:
    """The jet buffer of a compact-mode integrator, with its constant rows written."""
    layout = compact_layout(dec)
    buf = np.zeros(layout.nrows * (order + 1))
    for row, values in constant_rows(dec, layout, order):
        buf[row * (order + 1): row * (order + 1) + len(values)] = values
    return buf
