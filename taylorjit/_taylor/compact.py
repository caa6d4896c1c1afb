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

from llvmlite import ir

from .._expr import Call, Expr, Num, Par, Time, Var
from .._jit.lower import lower_text
from .._jit.textir import TextBody, double_literal
from .._primitives.fused import LINCOMB, RECURRENCE_LOWERING, terms
from .decompose import Decomposition
from .jet import JET_PARAMS, Operand, TextAlgebra

__all__ = ["CompactLayout", "compact_layout", "compact_jet", "constant_rows"]


@dataclass
class CompactLayout:
    """Rows of the jet buffer and the grouped operations of a decomposition."""

    rows: dict[int, int]  # id(node) -> row
    nrows: int
    #: Levels of groups; a group is (prototype call, member calls).
    levels: list[list[tuple[Call, list[Call]]]] = field(default_factory=list)
    #: Whether all linear combinations run in the term-loop kernel (``loops_all_lincombs``).
    loop_lincombs: bool = False


#: The last decomposition laid out, and its layout: the integrator asks twice in a row, for the
#: jet buffer's shape and then for the code (10 ms each for the CR3BP's order-3 variational
#: system). One slot, compared by identity: it never serves another decomposition.
_last_layout: list[tuple[Decomposition, CompactLayout]] = []


def compact_layout(dec: Decomposition) -> CompactLayout:
    """Assign rows and group the calls by level and kind."""
    if _last_layout and _last_layout[0][0] is dec:
        return _last_layout[0][1]
    layout = _compact_layout(dec)
    _last_layout[:] = [(dec, layout)]
    return layout


def _compact_layout(dec: Decomposition) -> CompactLayout:
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
    loop_lincombs = loops_all_lincombs(dec)
    for node in dec.calls:
        key = (level[id(node)], _kind(node, dec, loop_lincombs))
        groups.setdefault(key, (node, []))[1].append(node)
    nlevels = max((lv for lv, _ in groups), default=0)
    levels: list[list[tuple[Call, list[Call]]]] = [[] for _ in range(nlevels)]
    for (lv, _), group in groups.items():
        levels[lv - 1].append(group)
    return CompactLayout(rows, nrows, levels, loop_lincombs)


#: From this many operations (binary ones: ``Decomposition.binary_size``) on, the loops of a kind
#: are shared across levels (see compact_jet; measured: Kepler's 2nd-order variational system,
#: 330 operations, builds in 0.55 s instead of 0.66 s and steps in 13.2 us instead of 12.3 us;
#: heyoka: 0.36 s, 20 us).
SHARED_LOOPS_FROM = 300


#: Linear combinations of this many terms or more run in one kernel with a loop over the terms
#: (``_Emitter.lincomb``). Shorter ones are straight-line code, one kind per length, when they all
#: have the same length (the n-body problems; the outer solar system's 5-term combinations: 6.6
#: us per step, 7.2 with the term loop) or the system is small (the CR3BP's first-order
#: variational system: 6.3 us, 6.7 with the loop). Otherwise they all take the loop, since a kind
#: per length multiplies the code (the CR3BP's third-order variational system has 11 lengths:
#: 1.34 s to build instead of 0.84 s, for steps 2% faster).
LINCOMB_LOOP_FROM = 9
#: The kind of the linear combinations that run in the term-loop kernel.
LOOPED_LINCOMB = ("lincomb",)


def shares_loops(dec: Decomposition) -> bool:
    """Whether the compact jet of ``dec`` shares each kind's loops across levels (see
    SHARED_LOOPS_FROM)."""
    return dec.binary_size >= SHARED_LOOPS_FROM


def loops_all_lincombs(dec: Decomposition) -> bool:
    """Whether every linear combination of ``dec`` takes the term loop (see LINCOMB_LOOP_FROM)."""
    if not shares_loops(dec):
        return False
    lengths = {terms(c) for c in dec.calls if c.prim is LINCOMB}
    return len({n for n in lengths if n < LINCOMB_LOOP_FROM}) > 1


def _kind(node: Call, dec: Decomposition, loop_lincombs: bool) -> tuple:
    """What determines a call's code: primitive, recurrence (code and closure), argument kinds
    (variables and calls alike: both are rows whose every order is read)."""
    if node.prim is LINCOMB and (loop_lincombs or terms(node) >= LINCOMB_LOOP_FROM):
        return LOOPED_LINCOMB
    form = dec.forms[id(node)]
    rule = form.rule
    closure = tuple(id(c.cell_contents) for c in (rule.__closure__ or ()))  # type: ignore[attr-defined]
    exponent = node.args[1].value if node.name == "pow" and isinstance(node.args[1], Num) else None
    kinds = tuple("row" if isinstance(a, Var | Call) else type(a).__name__ for a in (*node.args, *form.aux))
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


#: ``out[m][k] = sum_{i in off[m]..off[m+1]} coef[i] * tc[term[i] + k]`` for m < n (row tables
#: hold offsets into ``tc``); the sum runs left to right, each term an FMA.
_LINCOMB_KERNEL = """define internal void {name}(ptr noalias %tc, ptr %out, ptr %off, ptr %term, ptr %coef,
                                   i64 %n, i64 %k) noinline {{
entry:
  br label %head
head:
  %m = phi i64 [ 0, %entry ], [ %m.next, %tail ]
  %more = icmp slt i64 %m, %n
  br i1 %more, label %body, label %done
body:
  %off.p = getelementptr i64, ptr %off, i64 %m
  %start = load i64, ptr %off.p, align 8
  %m.next = add i64 %m, 1
  %end.p = getelementptr i64, ptr %off, i64 %m.next
  %end = load i64, ptr %end.p, align 8
  br label %ihead
ihead:
  %i = phi i64 [ %start, %body ], [ %i.next, %ibody ]
  %acc = phi double [ 0.0, %body ], [ %acc.next, %ibody ]
  %imore = icmp slt i64 %i, %end
  br i1 %imore, label %ibody, label %tail
ibody:
  %term.p = getelementptr i64, ptr %term, i64 %i
  %row = load i64, ptr %term.p, align 8
  %coef.p = getelementptr double, ptr %coef, i64 %i
  %c = load double, ptr %coef.p, align 8
  %x.i = add i64 %row, %k
  %x.p = getelementptr double, ptr %tc, i64 %x.i
  %x = load double, ptr %x.p, align 8
  %cx = fmul contract double %c, %x
  %acc.next = fadd contract double %acc, %cx
  %i.next = add i64 %i, 1
  br label %ihead
tail:
  %out.p = getelementptr i64, ptr %out, i64 %m
  %out.row = load i64, ptr %out.p, align 8
  %y.i = add i64 %out.row, %k
  %y.p = getelementptr double, ptr %tc, i64 %y.i
  store double %acc, ptr %y.p, align 8
  br label %head
done:
  ret void
}}"""


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
        self._lincomb: str | None = None

    def table(self, values: Sequence[int]) -> str:
        """A constant i64 table (one per distinct content: every order reuses them)."""
        key = tuple(values)
        if key not in self._table_names:
            gname = f'@"{self.name}.rows{len(self.tables)}"'
            items = ", ".join(f"i64 {v}" for v in values)
            self.tables.append(f"{gname} = internal constant [{len(values)} x i64] [{items}]")
            self._table_names[key] = gname
        return self._table_names[key]

    def double_table(self, values: Sequence[float]) -> str:
        """A constant double table (deduplicated as :meth:`table`)."""
        key = ("double", *values)
        if key not in self._table_names:
            gname = f'@"{self.name}.coefs{len(self.tables)}"'
            items = ", ".join(f"double {double_literal(v)}" for v in values)
            self.tables.append(f"{gname} = internal constant [{len(values)} x double] [{items}]")
            self._table_names[key] = gname
        return self._table_names[key]

    def lincomb(self, members: Sequence[Call], rows: dict[int, int], k: int) -> None:
        """Order ``k`` of long linear combinations of any lengths: ``y[k] = sum c_i x_i[k]``.

        One kernel for all of them, the order a runtime argument: its terms are a flat table
        (members' offsets, term rows, coefficients), so a system's linear combinations of every
        length, with terms of every kind (numbers' and parameters' rows hold zeros above order 0,
        time's row ``[t, 1, 0...]``), make one group per level and one function in all."""
        if self._lincomb is None:
            self._lincomb = f'@"{self.name}.lincomb"'
            self._kernel_texts.append(_LINCOMB_KERNEL.format(name=self._lincomb))
        offsets, term_rows, coefs = [0], [], []
        for m in members:
            for c, x in zip(m.args[0::2], m.args[1::2], strict=True):
                coefs.append(float(c.value))  # type: ignore[attr-defined]
                term_rows.append(rows[id(x)] * self.stride)
            offsets.append(len(coefs))
        out = self.table([rows[id(m)] * self.stride for m in members])
        self.body.emit(f"call void {self._lincomb}(ptr %tc, ptr {out}, ptr {self.table(offsets)}, "
                       f"ptr {self.table(term_rows)}, ptr {self.double_table(coefs)}, "
                       f"i64 {len(members)}, i64 {k})")

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
        out += [f"define void @\"{self.name}\"({params}) {{", "entry:"]
        out += [f'  call void @"{self.name}.part{i}"({args})' for i in range(len(self.parts))]
        out += ["  ret void", "}"]
        return "\n".join(out)


def compact_jet(dec: Decomposition, order: int, helpers: ir.Module, name: str) -> str:
    """Text of ``void @name(tc, pars, t)`` in compact mode (declarations go into ``helpers``;
    exported: ``name`` must be unique to the module, e.g. carry its symbol prefix).

    The buffer ``tc`` must have ``compact_layout(dec).nrows`` rows, with :func:`constant_rows`
    written (``layout.JetLayout.buffer``).
    """
    layout = compact_layout(dec)
    rows = layout.rows
    em = _Emitter(name, order)
    # How many groups (levels) each kind has: a kind on one level only keeps its loop inline, and
    # so do all kinds of a small system, where a call per group and order costs more time per
    # step (CR3BP, 205 operations: 6.5 -> 6.8 us) than it saves in compilation.
    def kind(node: Call) -> tuple:
        return _kind(node, dec, layout.loop_lincombs)

    uses = Counter(kind(proto) for level in layout.levels for proto, _ in level)
    if not shares_loops(dec):
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
            if kind(proto) == LOOPED_LINCOMB:
                em.lincomb(members, rows, 0)
                continue

            def value0(bases: list[str], A: TextAlgebra, loads: dict, proto: Call = proto) -> None:
                args = [series_of(a, base, loads) for a, base in zip(proto.args, bases[1:], strict=True)]
                y = RowSeries(b, bases[0], Call, loads)
                if proto.prim.lowering == RECURRENCE_LOWERING:  # type: ignore[attr-defined]
                    value = A.operand(dec.forms[id(proto)].rule(A, 0, y, args, []))
                else:
                    value = lower_text(b, helpers, proto, [s[0] for s in args])
                y.store(0, value)
            em.shared_loop(("value0", kind(proto)), _columns(proto, members, rows, dec, with_aux=False),
                           value0, inline=uses[kind(proto)] == 1)

    last = order if dec.extra else order - 1
    state_columns = [list(range(len(dec.state))), [rows[id(f)] for f in dec.rhs]]
    for k in range(last + 1):
        em.split()
        if k >= 1:
            for level in layout.levels:
                for proto, members in level:
                    if kind(proto) == LOOPED_LINCOMB:
                        em.lincomb(members, rows, k)
                        continue
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

                    em.shared_loop(("value", k, kind(proto)),
                                   _columns(proto, members, rows, dec, with_aux=True), value_k,
                                   inline=uses[kind(proto)] == 1)
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
