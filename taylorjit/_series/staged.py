"""Staged recurrences: a gdual function compiled into one kernel per (form, nvars, order).

Running the primitive table's recurrences block by block from Python costs one kernel call per
block product (55 for ``exp`` at order 10). Here the same rules run once over
:class:`RecordingAlgebra`, whose operations *emit IR* instead of computing: the result is one
native function computing every coefficient of ``f(g)`` (ARCHITECTURE.md's staging: the rules
are written once, over an abstract algebra).

Sums of block products stay pending until used, then run as one kernel call over a merged pair
table: ``exp`` at order ``k`` is one call for all ``k`` products of ``k y[k] = sum_j (j a[j])
y[k-j]`` (the Euler-operator form of the recurrence), and the whole function costs about one
truncated product. Two pending sums over the same ``x`` blocks (sine and cosine) share one pass.
Compiled kernels are cached in memory and on disk like every other module. Scalar (not
vectorized) gduals only; those use the Python path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from .._expr import Call, Expr, Num, Var, structural_key
from .._jit.context import CompiledModule, jit_context
from .._jit.lower import lower_text
from .._jit.runtime import array_caller, ensure_runtime
from .._jit.textir import TextBody, double_literal
from .._primitives.series import expand
from .._primitives.table import taylor_program
from .kernels import staged_accumulators
from .monomials import Basis, basis

__all__ = ["staged_kernel", "StagedKernel", "record", "Recording", "cached_program"]


@dataclass(frozen=True)
class Block:
    """A homogeneous block in the staged program: its pointer, degree and place in the scratch
    array (every operand lives there, the leaves copied in first, so that one pair table can
    address blocks of several series)."""

    pointer: str
    degree: int
    offset: int


@dataclass(frozen=True, eq=False)
class Pending:
    """``(init + sum_groups weight * sum_terms x (x) y) * scale``, not yet written.

    Every term lands on the same target degree, so a whole recurrence sum (``exp``: ``k`` block
    products) is one kernel call per distinct weight over one merged pair table, instead of a
    call and a pass over the target block per product. Scaling and negation fold into the
    weights, the division of a quotient rule by its leading coefficient into ``scale`` (an IR
    value); materialising (``RecordingAlgebra._block``) writes it once.
    """

    degree: int
    groups: tuple[tuple[float, tuple[tuple[Block, Block], ...]], ...]
    init: Block | None = None
    scale: str | None = None

    @property
    def plain(self) -> bool:
        """No ``init`` and no ``scale``: weights may still change."""
        return self.init is None and self.scale is None

    def scaled(self, c: float) -> Pending:
        """``c`` times this sum (no ``init``)."""
        return Pending(self.degree, tuple((w * c, terms) for w, terms in self.groups))

    def plus(self, other: Pending) -> Pending:
        """The sum of two pending sums (at most one ``init``, no ``scale``); equal weights share a
        group."""
        merged: dict[float, tuple[tuple[Block, Block], ...]] = {}
        for w, terms in self.groups + other.groups:
            merged[w] = merged.get(w, ()) + terms
        return Pending(self.degree, tuple(merged.items()), self.init or other.init)


class RecordingAlgebra:
    """An :class:`~taylorjit._primitives.table.Algebra` whose operations write IR text."""

    def __init__(self, bs: Basis, helpers: Any) -> None:
        self.bs = bs
        self.helpers = helpers  # llvmlite module receiving declarations (runtime functions)
        self.lines: list[str] = []
        self.scratch = 0  # doubles used so far
        self.tables: list[tuple[np.ndarray, ...]] = []  # (P, Q, starts, Q2) per kernel call
        self.table_offsets = [0, 0, 0, 0]
        self._count = 0
        self._scalar = TextBody(1, prefix="s")
        self._written: dict[int, tuple[Pending, Block]] = {}  # id(pending) -> its block
        self._scaled: dict[tuple[int, float], Block] = {}  # (offset, c) -> c * block
        self._recent: dict[int, list[Pending]] = {}  # degree -> pending sums, oldest first

    # --- plumbing ---------------------------------------------------------------------------
    def _name(self, stem: str) -> str:
        self._count += 1
        return f"%{stem}{self._count}"

    def _alloc(self, degree: int) -> Block:
        ptr = self._name("blk")
        self.lines.append(f"  {ptr} = getelementptr double, ptr %scratch, i64 {self.scratch}")
        block = Block(ptr, degree, self.scratch)
        self.scratch += self.bs.block_size(degree)
        return block

    def copy_in(self, source: str) -> list[Block]:
        """The blocks of a whole input series, copied into the scratch array."""
        blocks = [self._alloc(d) for d in range(self.bs.order + 1)]
        self.lines.append(f"  call void @llvm.memcpy.p0.p0.i64(ptr {blocks[0].pointer}, "
                          f"ptr {source}, i64 {8 * self.bs.ncoef}, i1 false)")
        return blocks

    def _loop(self, n: int, body: Callable[[str], list[str]]) -> None:
        """``for i in range(n)`` around the lines ``body(i)`` returns."""
        k = self._name("L")[1:]
        i = f"%{k}.i"
        self.lines += [f"  br label %{k}.pre", f"{k}.pre:", f"  br label %{k}.body",
                       f"{k}.body:", f"  {i} = phi i64 [ 0, %{k}.pre ], [ {i}.next, %{k}.body ]"]
        self.lines += body(i)
        self.lines += [f"  {i}.next = add i64 {i}, 1", f"  %{k}.more = icmp slt i64 {i}.next, {n}",
                       f"  br i1 %{k}.more, label %{k}.body, label %{k}.end", f"{k}.end:"]

    def _elementwise(self, degree: int, operands: Sequence[Any],
                     op: Callable[[list[str]], tuple[list[str], str]]) -> Block:
        """A new block: ``op`` applied to the operands element by element (floats broadcast,
        degree-0 blocks broadcast)."""
        out = self._alloc(degree)
        n = self.bs.block_size(degree)

        def body(i: str) -> list[str]:
            lines, values = [], []
            for x in operands:
                if isinstance(x, Block):
                    idx = i if x.degree == degree else "0"
                    p, v = self._name("p"), self._name("v")
                    lines += [f"  {p} = getelementptr double, ptr {x.pointer}, i64 {idx}",
                              f"  {v} = load double, ptr {p}"]
                    values.append(v)
                else:
                    values.append(double_literal(float(x)))
            more, result = op(values)
            q = self._name("p")
            return lines + more + [f"  {q} = getelementptr double, ptr {out.pointer}, i64 {i}",
                                   f"  store double {result}, ptr {q}"]

        self._loop(n, body)
        return out

    def _binary(self, opcode: str) -> Callable[[list[str]], tuple[list[str], str]]:
        def op(values: list[str]) -> tuple[list[str], str]:
            r = self._name("r")
            return [f"  {r} = {opcode} double {values[0]}, {values[1]}"], r
        return op

    @staticmethod
    def _degree(*xs: Any) -> int:
        return max((x.degree for x in xs if isinstance(x, Block)), default=0)

    def _table(self, degree: int, terms: Sequence[tuple[Block, Block]],
               partner: Sequence[tuple[Block, Block]] = ()) -> list[str]:
        """Append the merged pair table of ``terms`` (scratch offsets, grouped by target row of
        the degree-``degree`` block), with a second ``Q`` column from ``partner`` (terms of the
        same shape) when given; the pointers to it, as IR values."""
        if self.scratch >= 2**31:
            raise OverflowError("a staged gdual kernel needs more than 2**31 scratch doubles")
        ps, qs, q2s, rows = [], [], [], []
        for (x, y), (_, y2) in zip(terms, partner or terms, strict=True):
            p, q, starts = self.bs.pair_table(x.degree, y.degree)
            ps.append(p.astype(np.int64) + x.offset)
            qs.append(q.astype(np.int64) + y.offset)
            q2s.append(q.astype(np.int64) + y2.offset)
            rows.append(np.repeat(np.arange(len(starts) - 1), np.diff(starts)))
        r = np.concatenate(rows)
        order = np.argsort(r, kind="stable")
        starts = np.searchsorted(r[order], np.arange(self.bs.block_size(degree) + 1))
        table = (np.concatenate(ps)[order].astype(np.int32),
                 np.concatenate(qs)[order].astype(np.int32), starts.astype(np.int64),
                 np.concatenate(q2s)[order].astype(np.int32) if partner else np.zeros(0, np.int32))
        offsets = self.table_offsets
        self.tables.append(table)
        self.table_offsets = [o + len(t) for o, t in zip(offsets, table, strict=True)]
        names = [self._name(n) for n in ("tp", "tq", "ts", "tr")]
        self.lines += [f"  {name} = getelementptr {kind}, ptr %{array}, i64 {o}" for name, kind, array, o
                       in zip(names, ("i32", "i32", "i64", "i32"), "PQSR", offsets, strict=True)]
        return names

    def _fold(self, pending: Pending) -> Pending:
        """``pending`` with its small groups (the middle term of a symmetric sum) merged into
        the largest one, their ``x`` blocks rescaled: a pass over a small block instead of a
        kernel call over the whole target block."""
        if len(pending.groups) < 2:
            return pending
        main, terms = max(pending.groups, key=lambda g: len(g[1]))
        rows = self.bs.block_size(pending.degree)
        groups = []
        for w, group in pending.groups:
            if w != main and sum(self.bs.block_size(x.degree) for x, _ in group) <= rows:
                terms += tuple((self._times(x, w / main), y) for x, y in group)
            elif w != main:
                groups.append((w, group))
        return Pending(pending.degree, ((main, terms), *groups), pending.init, pending.scale)

    def _write(self, pending: Pending) -> Block:
        """Write a pending sum into a new block: one kernel call per weight (the last one
        applies the scale)."""
        pending = self._fold(pending)
        out = self._alloc(pending.degree)
        start = pending.init.pointer if pending.init is not None else "null"
        rows = self.bs.block_size(pending.degree)
        for k, (weight, terms) in enumerate(pending.groups):
            tp, tq, ts, _ = self._table(pending.degree, terms)
            last = k == len(pending.groups) - 1
            scale = pending.scale if last and pending.scale is not None else "1.0"
            self.lines.append(
                f"  call void @taylorjit.series.accumulate(ptr {out.pointer}, ptr {start}, "
                f"ptr %scratch, ptr %scratch, ptr {tp}, ptr {tq}, ptr {ts}, i64 {rows}, "
                f"double {double_literal(weight)}, double {scale})")
            start = out.pointer
        return out

    def _write_pair(self, first: Pending, second: Pending) -> tuple[Block, Block]:
        """Write two pending sums of the same shape (see :meth:`_partner`) in one kernel call."""
        (w1, terms), (w2, partner) = first.groups[0], second.groups[0]
        out1, out2 = self._alloc(first.degree), self._alloc(first.degree)
        tp, tq, ts, tr = self._table(first.degree, terms, partner)
        self.lines.append(
            f"  call void @taylorjit.series.accumulate_pair(ptr {out1.pointer}, ptr {out2.pointer}, "
            f"ptr %scratch, ptr %scratch, ptr {tp}, ptr {tq}, ptr {tr}, ptr {ts}, "
            f"i64 {self.bs.block_size(first.degree)}, double {double_literal(w1)}, "
            f"double {double_literal(w2)})")
        return out1, out2

    def _partner(self, pending: Pending) -> Pending | None:
        """The latest unwritten pending sum that reads the same ``x`` blocks as ``pending`` with
        ``y`` blocks of the same degrees (sin and cos: ``j a[j]`` times cos and sin blocks), so
        that both can share one pass over one table; None if there is none."""
        if not pending.plain or len(pending.groups) != 1:
            return None
        terms = pending.groups[0][1]
        shape = [(x.offset, y.degree) for x, y in terms]
        for other in reversed(self._recent.get(pending.degree, [])):
            if (id(other) not in self._written and other.plain and len(other.groups) == 1
                    and other.groups[0][1] != terms  # (not the same sum, scaled)
                    and [(x.offset, y.degree) for x, y in other.groups[0][1]] == shape):
                return other
        return None

    def _track(self, pending: Pending) -> Pending:
        """Record a new pending sum (a candidate partner for :meth:`_partner`)."""
        self._recent.setdefault(pending.degree, []).append(pending)
        return pending

    def _block(self, x: Any, fuse: bool = True) -> Any:
        """Materialise a pending sum, once (other values unchanged); with a partner when
        ``fuse`` and one exists (not for the results: a partner there would go unused)."""
        if not isinstance(x, Pending):
            return x
        if id(x) not in self._written:
            other = self._partner(x) if fuse else None
            if other is None:
                self._written[id(x)] = (x, self._write(x))
            else:
                out, out_other = self._write_pair(x, other)
                self._written[id(x)] = (x, out)
                self._written[id(other)] = (other, out_other)
        return self._written[id(x)][1]

    @staticmethod
    def _is_zero(x: Any) -> bool:
        return not isinstance(x, Block | Pending) and float(x) == 0.0

    # --- the algebra ------------------------------------------------------------------------
    def add(self, x: Any, y: Any) -> Any:  # noqa: D102
        if self._is_zero(x):
            return y
        if self._is_zero(y):
            return x
        if (isinstance(x, Pending) and isinstance(y, Pending) and (x.plain or y.plain)
                and x.scale is None and y.scale is None):
            return self._track(x.plus(y))
        if isinstance(x, Block) and isinstance(y, Pending):
            x, y = y, x
        if isinstance(x, Pending) and x.plain and isinstance(y, Block) and y.degree == x.degree:
            return self._track(Pending(x.degree, x.groups, y))
        x, y = self._block(x), self._block(y)
        if not isinstance(x, Block) and not isinstance(y, Block):
            return float(x) + float(y)
        return self._elementwise(self._degree(x, y), [x, y], self._binary("fadd"))

    def sub(self, x: Any, y: Any) -> Any:  # noqa: D102
        if isinstance(y, Pending) and y.plain:
            return self.add(x, self._track(y.scaled(-1.0)))
        x, y = self._block(x), self._block(y)
        if self._is_zero(y):
            return x
        if not isinstance(x, Block) and not isinstance(y, Block):
            return float(x) - float(y)
        return self._elementwise(self._degree(x, y), [x, y], self._binary("fsub"))

    def neg(self, x: Any) -> Any:  # noqa: D102
        if isinstance(x, Pending) and x.plain:
            return self._track(x.scaled(-1.0))
        x = self._block(x)
        if not isinstance(x, Block):
            return -float(x)

        def op(values: list[str]) -> tuple[list[str], str]:
            r = self._name("r")
            return [f"  {r} = fneg double {values[0]}"], r
        return self._elementwise(x.degree, [x], op)

    def scale(self, x: Any, c: Any) -> Any:  # noqa: D102
        return self.mul(x, float(c))

    def div(self, x: Any, c: Any) -> Any:  # noqa: D102
        if isinstance(x, Pending) and x.plain:
            return self._track(x.scaled(1.0 / float(c)))
        x = self._block(x)
        if not isinstance(x, Block):
            return float(x) / float(c)
        return self._elementwise(x.degree, [x, float(c)], self._binary("fdiv"))

    def div_leading(self, x: Any, d0: Any) -> Any:  # noqa: D102
        d0 = self._block(d0)
        if isinstance(x, Pending) and x.scale is None and (isinstance(d0, Block) and d0.degree == 0
                                                           or not isinstance(d0, Block)):
            # (the kernel call that writes x multiplies by 1 / d0: no pass of its own)
            if isinstance(d0, Block):
                v, inverse = self._name("d0"), self._name("inv")
                self.lines += [f"  {v} = load double, ptr {d0.pointer}",
                               f"  {inverse} = fdiv double 1.0, {v}"]
            else:
                inverse = double_literal(1.0 / float(d0))
            return Pending(x.degree, x.groups, x.init, inverse)
        x = self._block(x)
        if not isinstance(x, Block) and not isinstance(d0, Block):
            return float(x) / float(d0)
        if self._is_zero(x):
            return 0.0
        return self._elementwise(self._degree(x), [x, d0], self._binary("fdiv"))

    def mul(self, x: Any, y: Any) -> Any:  # noqa: D102
        for a, b in ((x, y), (y, x)):
            if not isinstance(a, Block | Pending):
                c = float(a)
                if c == 0.0:
                    return 0.0
                if isinstance(b, Pending) and b.plain:
                    return self._track(b.scaled(c))
                return self._times(self._block(b), c)
        x, y = self._block(x), self._block(y)
        if x.degree == 0 and y.degree == 0:
            return self._elementwise(0, [x, y], self._binary("fmul"))
        return self._track(Pending(x.degree + y.degree, ((1.0, ((x, y),)),)))

    def _times(self, x: Any, c: float) -> Any:
        """``c * x`` for a block or number; each scaled block is written once (``j a[j]``
        recurs at every order of a recurrence)."""
        if not isinstance(x, Block):
            return float(x) * c
        key = (x.offset, c)
        if key not in self._scaled:
            self._scaled[key] = self._elementwise(x.degree, [x, c], self._binary("fmul"))
        return self._scaled[key]

    def sum(self, lo: int, hi: int, term: Callable[[int], Any]) -> Any:  # noqa: D102
        total: Any = 0.0
        for j in range(lo, hi + 1):
            total = self.add(total, term(j))
        return total

    def eval0(self, prim: Any, args0: Sequence[Any]) -> Any:  # noqa: D102
        args0 = [self._block(a) for a in args0]
        if not any(isinstance(a, Block) for a in args0):
            with np.errstate(all="ignore"):
                return float(prim.numpy_eval(*(float(a) for a in args0)))
        scalar = self._scalar
        operands, values = [], []
        for k, a in enumerate(args0):
            if isinstance(a, Block):
                v = self._name("e")
                self.lines.append(f"  {v} = load double, ptr {a.pointer}")
                values.append(v)
                operands.append(Var(f"_staged{k}"))
            else:
                values.append(double_literal(float(a)))
                operands.append(Num(float(a)))
        start = len(scalar.lines)
        result = lower_text(scalar, self.helpers, Call(prim, tuple(operands)), values)
        self.lines += scalar.lines[start:]
        out = self._alloc(0)
        self.lines.append(f"  store double {result}, ptr {out.pointer}")
        return out


class StagedKernel:
    """One compiled gdual function: ``run(out, in0, in1)`` on flat coefficient arrays."""

    def __init__(self, module: CompiledModule, scratch: int, tables: list[tuple[np.ndarray, ...]],
                 ncoef: int) -> None:
        self._module = module
        self._ncoef = ncoef
        self._address = module.address(module.prefix + "fn")
        self._scratch_size = max(scratch, 1)
        empty = (np.zeros(1, np.int32), np.zeros(1, np.int32), np.zeros(1, np.int64),
                 np.zeros(1, np.int32))
        self._P, self._Q, self._S, self._R = (  # the tables of all its calls, end to end
            np.concatenate([t[k] for t in tables]) if tables else empty[k] for k in range(4))
        self._caller = array_caller(8, 0)

    def run(self, out: np.ndarray, in0: np.ndarray, in1: np.ndarray) -> np.ndarray:
        """Compute into ``out`` (C-contiguous float64, the gdual's flat coefficient layout)."""
        scratch = np.empty(self._scratch_size)  # per call: kernels may run in several threads
        self._caller(self._address, out, in0, in1, scratch, self._P, self._Q, self._S,
                     self._R)
        return out

    def apply(self, *inputs: np.ndarray) -> np.ndarray:
        """The result's coefficients from the operands' (one or two C-contiguous float64
        arrays; one serves both leaves, as the kernel reads only the leaf it has).

        No ``np.errstate``: native code neither reads numpy's error state nor warns (numpy
        clears the FP status flags before each of its own operations).
        """
        scratch = np.empty(self._scratch_size)
        out = np.empty(self._ncoef)
        self._caller(self._address, out, inputs[0], inputs[-1], scratch, self._P, self._Q, self._S,
                     self._R)
        return out


_ARGS = (Var("_gdual_a"), Var("_gdual_b"))

#: The largest scratch array (doubles) whose offsets pack two to a uint32.
_PACKED_SCRATCH = 1 << 16


@dataclass(frozen=True)
class Recording:
    """A staged function's IR (``{prefix}fn``), scratch size and pair tables."""

    text: str
    scratch: int
    tables: list[tuple[np.ndarray, ...]]


def record(root: Expr, nvars: int, order: int, prefix: str) -> Recording:
    """Run the recurrences of ``root`` (a call on ``_gdual_a``/``_gdual_b`` leaves) over
    :class:`RecordingAlgebra` for gduals of ``nvars`` symbols and ``order``."""
    from llvmlite import ir

    bs = basis(nvars, order)
    ctx = jit_context()
    helpers = ir.Module(name="taylorjit.staged")
    helpers.triple, helpers.data_layout = ctx.triple, ctx.data_layout
    A = RecordingAlgebra(bs, helpers)
    copies: dict[str, list[Block]] = {}

    def leaf(v: Expr) -> list[Block]:
        source = "%in0" if v is _ARGS[0] else "%in1"
        if source not in copies:
            copies[source] = A.copy_in(source)
        return copies[source]

    (series,) = expand([root], order, leaf, A, program=cached_program(root))
    series = [A._block(b, fuse=False) for b in series]
    for d, block in enumerate(series):
        target = A._name("dst")
        A.lines.append(f"  {target} = getelementptr double, ptr %out, i64 {bs.offsets[d]}")
        if isinstance(block, Block):
            n = bs.block_size(d)
            A.lines.append(f"  call void @llvm.memcpy.p0.p0.i64(ptr {target}, ptr {block.pointer}, "
                           f"i64 {8 * n}, i1 false)")
        else:
            value = double_literal(float(block))
            A._loop(bs.block_size(d), lambda i, t=target, v=value: [
                f"  %z{i[1:]} = getelementptr double, ptr {t}, i64 {i}",
                f"  store double {v}, ptr %z{i[1:]}"])
    # Scratch offsets of at most 16 bits: each pair in one uint32 (P << 16 | Q in the P column).
    packed = A.scratch <= _PACKED_SCRATCH
    tables = A.tables
    if packed:
        tables = [((p.astype(np.uint32) << 16) | q.astype(np.uint32), q[:0], starts, q2)
                  for p, q, starts, q2 in tables]  # (the Q column goes unread)
    text = "\n".join([
        str(helpers),
        "declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)",
        staged_accumulators(packed),
        f"define void @{prefix}fn(ptr noalias %out, ptr noalias %in0, ptr noalias %in1, "
        "ptr noalias %scratch, ptr noalias %P, ptr noalias %Q, ptr noalias %S, "
        "ptr noalias %R) {",
        "entry:", *A.lines, "  ret void", "}",
    ])
    return Recording(text, A.scratch, tables)


@lru_cache(maxsize=512)
def cached_program(root: Expr) -> tuple[list[Expr], dict[int, Any]]:
    """``taylor_program([root])``, cached (gdual functions recur with the same roots)."""
    return taylor_program([root])


@lru_cache(maxsize=256)
def staged_kernel(root: Expr, nvars: int, order: int) -> StagedKernel | None:
    """The compiled kernel computing ``root`` (a call on ``_gdual_a``/``_gdual_b`` leaves) on
    gduals of ``nvars`` symbols and ``order``; None where the array trampoline is unavailable."""
    if array_caller(8, 0) is None:
        return None
    ensure_runtime(1)
    recorded: list[Recording] = []

    def build(prefix: str) -> str:
        recorded.append(record(root, nvars, order, prefix))
        return recorded[-1].text

    source = repr(("gdual-staged", structural_key([root]), nvars, order, _PACKED_SCRATCH))
    module = jit_context().compile(source, build, speed_level=2, vectorize=True)
    if not recorded:  # loaded from a cache: re-run the recording to know scratch and tables
        build("unused")
    return StagedKernel(module, recorded[-1].scratch, recorded[-1].tables, basis(nvars, order).ncoef)
