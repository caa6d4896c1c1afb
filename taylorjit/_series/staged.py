"""Staged recurrences: a gdual function compiled into one kernel per (form, nvars, order).

Running the primitive table's recurrences block by block from Python costs one kernel call per
block product (55 for ``exp`` at order 10). Here the same rules run once over
:class:`RecordingAlgebra`, whose operations *emit IR* instead of computing: the result is one
native function computing every coefficient of ``f(g)`` (ARCHITECTURE.md's staging: the rules
are written once, over an abstract algebra). Sums of block products stay pending until used,
then run as one kernel call over a merged pair table: ``exp`` at order ``k`` is one call for
all ``k`` products of ``k y[k] = sum_j (j a[j]) y[k-j]``, the Euler-operator form of the
recurrence, and costs about one truncated product in all. Compiled kernels are cached in memory and on disk
like every other module. Scalar (not vectorized) gduals only; those use the Python path.
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
from .kernels import ACCUMULATE_FUNCTION
from .monomials import Basis, basis

__all__ = ["staged_kernel", "StagedKernel"]


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
    """``init + sum_groups weight * sum_terms x (x) y``, not yet written.

    Every term lands on the same target degree, so a whole recurrence sum (``exp``: ``k`` block
    products) is one kernel call per distinct weight over one merged pair table, instead of a
    call and a pass over the target block per product. Scaling and negation fold into the
    weights; materialising (``RecordingAlgebra._block``) writes it once.
    """

    degree: int
    groups: tuple[tuple[float, tuple[tuple[Block, Block], ...]], ...]
    init: Block | None = None

    def scaled(self, c: float) -> Pending:
        """``c`` times this sum (no ``init``)."""
        return Pending(self.degree, tuple((w * c, terms) for w, terms in self.groups))

    def plus(self, other: Pending) -> Pending:
        """The sum of two pending sums (at most one ``init``); equal weights share a group."""
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
        self.tables: list[tuple[np.ndarray, ...]] = []
        self.table_offsets = [0, 0, 0]
        self._count = 0
        self._scalar = TextBody(1, prefix="s")
        self._written: dict[int, tuple[Pending, Block]] = {}  # id(pending) -> its block
        self._scaled: dict[tuple[int, float], Block] = {}  # (offset, c) -> c * block

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

    def _table(self, degree: int, terms: Sequence[tuple[Block, Block]]) -> list[str]:
        """Append the merged pair table of ``terms`` (scratch offsets, grouped by target row of
        the degree-``degree`` block); the pointers to it, as IR values."""
        if self.scratch >= 2**31:
            raise OverflowError("a staged gdual kernel needs more than 2**31 scratch doubles")
        ps, qs, rows = [], [], []
        for x, y in terms:
            p, q, starts = self.bs.pair_table(x.degree, y.degree)
            ps.append(p.astype(np.int64) + x.offset)
            qs.append(q.astype(np.int64) + y.offset)
            rows.append(np.repeat(np.arange(len(starts) - 1), np.diff(starts)))
        r = np.concatenate(rows)
        order = np.argsort(r, kind="stable")
        starts = np.searchsorted(r[order], np.arange(self.bs.block_size(degree) + 1))
        table = (np.concatenate(ps)[order].astype(np.int32),
                 np.concatenate(qs)[order].astype(np.int32), starts.astype(np.int64))
        po, qo, so = self.table_offsets
        self.tables.append(table)
        self.table_offsets = [po + len(table[0]), qo + len(table[1]), so + len(table[2])]
        names = [self._name(s) for s in ("tp", "tq", "ts")]
        self.lines += [f"  {names[0]} = getelementptr i32, ptr %P, i64 {po}",
                       f"  {names[1]} = getelementptr i32, ptr %Q, i64 {qo}",
                       f"  {names[2]} = getelementptr i64, ptr %S, i64 {so}"]
        return names

    def _write(self, pending: Pending) -> Block:
        """Write a pending sum into a new block: one kernel call per weight."""
        out = self._alloc(pending.degree)
        start = pending.init.pointer if pending.init is not None else "null"
        rows = self.bs.block_size(pending.degree)
        for weight, terms in pending.groups:
            tp, tq, ts = self._table(pending.degree, terms)
            self.lines.append(
                f"  call void @taylorjit.series.accumulate(ptr {out.pointer}, ptr {start}, "
                f"ptr %scratch, ptr %scratch, ptr {tp}, ptr {tq}, ptr {ts}, i64 {rows}, "
                f"double {double_literal(weight)})")
            start = out.pointer
        return out

    def _block(self, x: Any) -> Any:
        """Materialise a pending sum, once (other values unchanged)."""
        if not isinstance(x, Pending):
            return x
        if id(x) not in self._written:
            self._written[id(x)] = (x, self._write(x))
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
        if isinstance(x, Pending) and isinstance(y, Pending) and (x.init is None or y.init is None):
            return x.plus(y)
        if isinstance(x, Block) and isinstance(y, Pending):
            x, y = y, x
        if (isinstance(x, Pending) and x.init is None and isinstance(y, Block)
                and y.degree == x.degree):
            return Pending(x.degree, x.groups, y)
        x, y = self._block(x), self._block(y)
        if not isinstance(x, Block) and not isinstance(y, Block):
            return float(x) + float(y)
        return self._elementwise(self._degree(x, y), [x, y], self._binary("fadd"))

    def sub(self, x: Any, y: Any) -> Any:  # noqa: D102
        if isinstance(y, Pending) and y.init is None:
            return self.add(x, y.scaled(-1.0))
        x, y = self._block(x), self._block(y)
        if self._is_zero(y):
            return x
        if not isinstance(x, Block) and not isinstance(y, Block):
            return float(x) - float(y)
        return self._elementwise(self._degree(x, y), [x, y], self._binary("fsub"))

    def neg(self, x: Any) -> Any:  # noqa: D102
        if isinstance(x, Pending) and x.init is None:
            return x.scaled(-1.0)
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
        if isinstance(x, Pending) and x.init is None:
            return x.scaled(1.0 / float(c))
        x = self._block(x)
        if not isinstance(x, Block):
            return float(x) / float(c)
        return self._elementwise(x.degree, [x, float(c)], self._binary("fdiv"))

    def div_leading(self, x: Any, d0: Any) -> Any:  # noqa: D102
        x, d0 = self._block(x), self._block(d0)
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
                if isinstance(b, Pending) and b.init is None:
                    return b.scaled(c)
                return self._times(self._block(b), c)
        x, y = self._block(x), self._block(y)
        if x.degree == 0 and y.degree == 0:
            return self._elementwise(0, [x, y], self._binary("fmul"))
        return Pending(x.degree + y.degree, ((1.0, ((x, y),)),))

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
        self._P = np.concatenate([t[0] for t in tables] or [np.zeros(1, np.int32)])
        self._Q = np.concatenate([t[1] for t in tables] or [np.zeros(1, np.int32)])
        self._S = np.concatenate([t[2] for t in tables] or [np.zeros(1, np.int64)])
        self._caller = array_caller(7, 0)

    def run(self, out: np.ndarray, in0: np.ndarray, in1: np.ndarray) -> np.ndarray:
        """Compute into ``out`` (C-contiguous float64, the gdual's flat coefficient layout)."""
        scratch = np.empty(self._scratch_size)  # per call: kernels may run in several threads
        self._caller(self._address, out, in0, in1, scratch, self._P, self._Q, self._S)
        return out

    def apply(self, *inputs: np.ndarray) -> np.ndarray:
        """The result's coefficients from the operands' (one or two C-contiguous float64
        arrays; one serves both leaves, as the kernel reads only the leaf it has).

        No ``np.errstate``: native code neither reads numpy's error state nor warns (numpy
        clears the FP status flags before each of its own operations).
        """
        scratch = np.empty(self._scratch_size)
        out = np.empty(self._ncoef)
        self._caller(self._address, out, inputs[0], inputs[-1], scratch, self._P, self._Q, self._S)
        return out


_ARGS = (Var("_gdual_a"), Var("_gdual_b"))


@lru_cache(maxsize=256)
def staged_kernel(root: Expr, nvars: int, order: int) -> StagedKernel | None:
    """The compiled kernel computing ``root`` (a call on ``_gdual_a``/``_gdual_b`` leaves) on
    gduals of ``nvars`` symbols and ``order``; None where the array trampoline is unavailable."""
    if array_caller(7, 0) is None:
        return None
    ensure_runtime(1)
    bs = basis(nvars, order)
    program = taylor_program([root])
    recorded: dict[str, Any] = {}

    def build(prefix: str) -> str:
        from llvmlite import ir

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

        (series,) = expand([root], order, leaf, A, program=program)
        series = [A._block(b) for b in series]
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
        recorded.update(scratch=A.scratch, tables=A.tables)
        return "\n".join([
            str(helpers),
            "declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)",
            ACCUMULATE_FUNCTION.replace("{name}", "taylorjit.series.accumulate"),
            f"define void @{prefix}fn(ptr noalias %out, ptr noalias %in0, ptr noalias %in1, "
            "ptr noalias %scratch, ptr noalias %P, ptr noalias %Q, ptr noalias %S) {",
            "entry:", *A.lines, "  ret void", "}",
        ])

    source = repr(("gdual-staged", structural_key([root]), nvars, order))
    module = jit_context().compile(source, build, speed_level=2, vectorize=True)
    if not recorded:  # loaded from a cache: re-run the recording to know scratch and tables
        build("unused")
    return StagedKernel(module, recorded["scratch"], recorded["tables"], bs.ncoef)
