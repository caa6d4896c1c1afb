"""Compiled kernels of the series layer: the truncated product, the hot loop of gduals.

A product is written as a gather-dot over a pair table sorted by target monomial:
``c[r] = sum_{s in starts[r]..starts[r+1]} a[P[s]] * b[Q[s]]``. One generic kernel (compiled
once per process, disk-cached) serves every (nvars, order) and both whole-series products and
the block products inside recurrences; the tables come from ``monomials.py``. The vectorized
variant runs the points of each coefficient in its inner, contiguous loop.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from .._jit.context import CompiledModule, jit_context
from .._jit.runtime import array_caller
from .monomials import PackedTable, SymmetricTable

__all__ = ["product_into", "packed_product_into", "symmetric_product_into", "run_program",
           "ACCUMULATE_FUNCTION", "staged_accumulators", "BEGIN", "ACCUMULATE", "TASK_WIDTH"]

# Row r of every product kernel: its pairs are s0 <= s < s1 (none: %none); the loop's latch
# block is named in each template ("{row_range:LATCH}").
_ROW_RANGE = """  %r = phi i64 [ 0, %entry ], [ %r.next, %{latch} ]
  %s0.p = getelementptr i64, ptr %starts, i64 %r
  %s0 = load i64, ptr %s0.p
  %r.next = add i64 %r, 1
  %s1.p = getelementptr i64, ptr %starts, i64 %r.next
  %s1 = load i64, ptr %s1.p
  %none = icmp sge i64 %s0, %s1
"""


def _with_rows(template: str) -> str:
    """``template`` with its ``{row_range:LATCH}`` filled in."""
    for latch in ("store", "r.end"):
        template = template.replace(f"{{row_range:{latch}}}", _ROW_RANGE.replace("{latch}", latch))
    return template


# c[r] = (init[r] + w * sum_s a[P[s]] * b[Q[s]]) * u (init may be null for zero, or c itself; a
# target r with no pairs gets init[r] u): the product of two series (init null, w = u = 1) and a
# whole recurrence sum of a staged function (see staged.py; u: 1 / a[0] of a quotient rule, so
# that its division needs no pass of its own). The reduction may be reassociated so that it
# vectorises. ({name} is filled in by each user.)
_ACCUMULATE_TEMPLATE = """
define internal void @{name}(ptr %c, ptr %init, ptr noalias %a, ptr noalias %b,
                             {pair_params}, ptr noalias %starts, i64 %n,
                             double %w, double %u) noinline {attributes} {
entry:
  %no.init = icmp eq ptr %init, null
  br label %r.loop
r.loop:
{row_range:store}  br i1 %none, label %r.end, label %s.loop
s.loop:
  %s = phi i64 [ %s0, %r.loop ], [ %s.next, %s.loop ]
  %acc = phi double [ 0.0, %r.loop ], [ %acc.next, %s.loop ]
{pair_indices}  %x.p = getelementptr double, ptr %a, i64 %p.i
  %x = load double, ptr %x.p
  %y.p = getelementptr double, ptr %b, i64 %q.i
  %y = load double, ptr %y.p
  %xy = fmul contract double %x, %y
  %acc.next = fadd reassoc contract double %acc, %xy
  %s.next = add i64 %s, 1
  %more = icmp slt i64 %s.next, %s1
  br i1 %more, label %s.loop, label %r.end
r.end:
  %total = phi double [ 0.0, %r.loop ], [ %acc.next, %s.loop ]
  %scaled = fmul double %total, %w
  %i.p = getelementptr double, ptr %init, i64 %r
  br i1 %no.init, label %store, label %add
add:
  %i.v = load double, ptr %i.p
  %sum = fadd double %i.v, %scaled
  br label %store
store:
  %v = phi double [ %scaled, %r.end ], [ %sum, %add ]
  %vu = fmul double %v, %u
  %c.p = getelementptr double, ptr %c, i64 %r
  store double %vu, ptr %c.p
  %r.more = icmp slt i64 %r.next, %n
  br i1 %r.more, label %r.loop, label %exit
exit:
  ret void
}
"""

# Two sums over one pair table: c1[r] = w1 * sum_s a[P[s]] * b[Q1[s]] and c2[r] with Q2, w2.
# Two recurrences that read the same blocks of a (sin and cos: j a[j] times cos and sin
# blocks) share the table's P column, its row starts and each load of a (staged.py).
_ACCUMULATE_PAIR_TEMPLATE = """
define internal void @{name}(ptr %c1, ptr %c2, ptr noalias %a, ptr noalias %b, {pair_params},
                             ptr noalias %Q2, ptr noalias %starts, i64 %n,
                             double %w1, double %w2) noinline {
entry:
  br label %r.loop
r.loop:
{row_range:r.end}  br i1 %none, label %r.end, label %s.loop
s.loop:
  %s = phi i64 [ %s0, %r.loop ], [ %s.next, %s.loop ]
  %acc1 = phi double [ 0.0, %r.loop ], [ %acc1.next, %s.loop ]
  %acc2 = phi double [ 0.0, %r.loop ], [ %acc2.next, %s.loop ]
{pair_indices}  %q2.p = getelementptr i32, ptr %Q2, i64 %s
  %q2 = load i32, ptr %q2.p
  %q2.i = sext i32 %q2 to i64
  %x.p = getelementptr double, ptr %a, i64 %p.i
  %x = load double, ptr %x.p
  %y1.p = getelementptr double, ptr %b, i64 %q.i
  %y1 = load double, ptr %y1.p
  %y2.p = getelementptr double, ptr %b, i64 %q2.i
  %y2 = load double, ptr %y2.p
  %xy1 = fmul contract double %x, %y1
  %acc1.next = fadd reassoc contract double %acc1, %xy1
  %xy2 = fmul contract double %x, %y2
  %acc2.next = fadd reassoc contract double %acc2, %xy2
  %s.next = add i64 %s, 1
  %more = icmp slt i64 %s.next, %s1
  br i1 %more, label %s.loop, label %r.end
r.end:
  %t1 = phi double [ 0.0, %r.loop ], [ %acc1.next, %s.loop ]
  %t2 = phi double [ 0.0, %r.loop ], [ %acc2.next, %s.loop ]
  %v1 = fmul double %t1, %w1
  %c1.p = getelementptr double, ptr %c1, i64 %r
  store double %v1, ptr %c1.p
  %v2 = fmul double %t2, %w2
  %c2.p = getelementptr double, ptr %c2, i64 %r
  store double %v2, ptr %c2.p
  %r.more = icmp slt i64 %r.next, %n
  br i1 %r.more, label %r.loop, label %exit
exit:
  ret void
}
"""

#: Pairs in two int32 columns ``P``, ``Q``.
_TWO_COLUMNS = ("ptr noalias %P, ptr noalias %Q", """  %p.p = getelementptr i32, ptr %P, i64 %s
  %p = load i32, ptr %p.p
  %p.i = sext i32 %p to i64
  %q.p = getelementptr i32, ptr %Q, i64 %s
  %q = load i32, ptr %q.p
  %q.i = sext i32 %q to i64
""")
#: Pairs packed in one uint32 column ``PQ[s] = P[s] << 16 | Q[s]`` (bases of at most 2**16
#: monomials): half the table traffic, which bounds large products (see monomials.py).
_PACKED_PAIRS = ("ptr noalias %PQ, ptr noalias %unused", """  %pq.p = getelementptr i32, ptr %PQ, i64 %s
  %pq = load i32, ptr %pq.p
  %p32 = lshr i32 %pq, 16
  %q32 = and i32 %pq, 65535
  %p.i = zext i32 %p32 to i64
  %q.i = zext i32 %q32 to i64
""")


def _accumulate(pairs: tuple[str, str], attributes: str = "") -> str:
    return (_with_rows(_ACCUMULATE_TEMPLATE).replace("{pair_params}", pairs[0])
            .replace("{pair_indices}", pairs[1]).replace("{attributes}", attributes))


# c[r] = a[D[r]] b[D[r]] (when D[r] >= 0) + sum_s (a[P[s]] b[Q[s]] + a[Q[s]] b[P[s]]): a whole
# product over a symmetric table (``monomials.Basis.symmetric_product_table``), each unordered
# pair once: half the table traffic of ``accumulate`` for the same multiply-adds.
_SYMMETRIC_TEMPLATE = """
define internal void @{name}(ptr noalias %c, ptr noalias %a, ptr noalias %b, {pair_params},
                             ptr noalias %starts, ptr noalias %diag, i64 %n,
                             i32 %shift, i32 %mask) noinline {attributes} {
entry:
  br label %r.loop
r.loop:
{row_range:r.end}  %d.p = getelementptr i32, ptr %diag, i64 %r
  %d = load i32, ptr %d.p
  %has.d = icmp sge i32 %d, 0
  %d.i = sext i32 %d to i64
  %d.safe = select i1 %has.d, i64 %d.i, i64 0
  %ad.p = getelementptr double, ptr %a, i64 %d.safe
  %ad = load double, ptr %ad.p
  %bd.p = getelementptr double, ptr %b, i64 %d.safe
  %bd = load double, ptr %bd.p
  %dd = fmul double %ad, %bd
  %acc0 = select i1 %has.d, double %dd, double 0.0
  br i1 %none, label %r.end, label %s.loop
s.loop:
  %s = phi i64 [ %s0, %r.loop ], [ %s.next, %s.loop ]
  %acc = phi double [ %acc0, %r.loop ], [ %acc.next, %s.loop ]
{pair_indices}  %x.p = getelementptr double, ptr %a, i64 %p.i
  %x = load double, ptr %x.p
  %y.p = getelementptr double, ptr %b, i64 %q.i
  %y = load double, ptr %y.p
  %u.p = getelementptr double, ptr %a, i64 %q.i
  %u = load double, ptr %u.p
  %v.p = getelementptr double, ptr %b, i64 %p.i
  %v = load double, ptr %v.p
  %xy = fmul contract double %x, %y
  %acc.half = fadd reassoc contract double %acc, %xy
  %uv = fmul contract double %u, %v
  %acc.next = fadd reassoc contract double %acc.half, %uv
  %s.next = add i64 %s, 1
  %more = icmp slt i64 %s.next, %s1
  br i1 %more, label %s.loop, label %r.end
r.end:
  %total = phi double [ %acc0, %r.loop ], [ %acc.next, %s.loop ]
  %c.p = getelementptr double, ptr %c, i64 %r
  store double %total, ptr %c.p
  %r.more = icmp slt i64 %r.next, %n
  br i1 %r.more, label %r.loop, label %exit
exit:
  ret void
}
"""


def _symmetric(pairs: tuple[str, str], name: str) -> str:
    return (_with_rows(_SYMMETRIC_TEMPLATE).replace("{pair_params}", pairs[0])
            .replace("{pair_indices}", pairs[1]).replace("{attributes}", _WIDE)
            .replace("{name}", name))


# NOTE: LLVM prefers 256-bit vectors on CPUs that have 512-bit ones (a clock-speed precaution).
# For whole products (long runs of pairs per target) 512-bit gathers and FMAs are faster:
# (6, 10) 233 -> 218 us, (10, 6) 79 -> 74 us, (8, 8) 255 -> 250 us. The block products of the
# staged recurrences (short runs) were a third slower with them, so they keep the default
# (ACCUMULATE_FUNCTION). Both whole-product kernels take it, packed pairs or two columns: the
# same sums in the same order. Without AVX-512 the attribute changes nothing.
_WIDE = '"prefer-vector-width"="512"'


ACCUMULATE_FUNCTION = _accumulate(_TWO_COLUMNS)


def staged_accumulators(packed: bool) -> str:
    """The sum kernels of staged functions, ``taylorjit.series.accumulate`` and
    ``accumulate_pair``, over packed pairs (``P << 16 | Q`` in the ``P`` column, for scratch
    arrays of at most 2**16 doubles: half the table traffic) or two columns."""
    pairs = _PACKED_PAIRS if packed else _TWO_COLUMNS
    pair = (_with_rows(_ACCUMULATE_PAIR_TEMPLATE).replace("{pair_params}", pairs[0])
            .replace("{pair_indices}", pairs[1]))
    return (_accumulate(pairs).replace("{name}", "taylorjit.series.accumulate")
            + pair.replace("{name}", "taylorjit.series.accumulate_pair"))

_SCALAR = _accumulate(_TWO_COLUMNS, _WIDE).replace("{name}", "taylorjit.series.accumulate") + """
define void @{prefix}product(ptr noalias %c, ptr noalias %a, ptr noalias %b, ptr noalias %P,
                             ptr noalias %Q, ptr noalias %starts, i64 %n, i64 %npts) {
entry:
  %empty = icmp sle i64 %n, 0
  br i1 %empty, label %exit, label %run
run:
  call void @taylorjit.series.accumulate(ptr %c, ptr null, ptr %a, ptr %b, ptr %P, ptr %Q,
                                         ptr %starts, i64 %n, double 1.0, double 1.0)
  br label %exit
exit:
  ret void
}
"""

# The same product over packed pairs (``packed_product_into``), over the target rows lo..hi-1
# that the factors' degrees can reach; the others are zeroed.
_PACKED = _accumulate(_PACKED_PAIRS, _WIDE).replace("{name}", "taylorjit.series.accumulate_packed") + """
declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)

define void @{prefix}packed(ptr noalias %c, ptr noalias %a, ptr noalias %b, ptr noalias %PQ,
                            ptr noalias %starts, i64 %n, i64 %lo, i64 %hi) {
entry:
  %below = mul i64 %lo, 8
  call void @llvm.memset.p0.i64(ptr %c, i8 0, i64 %below, i1 false)
  %c.hi = getelementptr double, ptr %c, i64 %hi
  %above.n = sub i64 %n, %hi
  %above = mul i64 %above.n, 8
  call void @llvm.memset.p0.i64(ptr %c.hi, i8 0, i64 %above, i1 false)
  %rows = sub i64 %hi, %lo
  %empty = icmp sle i64 %rows, 0
  br i1 %empty, label %exit, label %run
run:
  %c.lo = getelementptr double, ptr %c, i64 %lo
  %starts.lo = getelementptr i64, ptr %starts, i64 %lo
  call void @taylorjit.series.accumulate_packed(ptr %c.lo, ptr null, ptr %a, ptr %b, ptr %PQ,
                                                ptr null, ptr %starts.lo, i64 %rows, double 1.0,
                                                double 1.0)
  br label %exit
exit:
  ret void
}
"""

#: Pairs packed in one uint32 column at a run-time split, ``PQ[s] = P[s] << shift | Q[s]``
#: (symmetric tables: ``P`` runs over degrees up to half the order only, so (10, 10) fits).
_SHIFTED_PAIRS = ("ptr noalias %PQ, ptr noalias %unused", """  %pq.p = getelementptr i32, ptr %PQ, i64 %s
  %pq = load i32, ptr %pq.p
  %p32 = lshr i32 %pq, %shift
  %q32 = and i32 %pq, %mask
  %p.i = zext i32 %p32 to i64
  %q.i = zext i32 %q32 to i64
""")

# Whole products over symmetric tables (``symmetric_product_into``), packed or two columns.
_SYMMETRIC = (_symmetric(_SHIFTED_PAIRS, "taylorjit.series.symmetric_packed")
              + _symmetric(_TWO_COLUMNS, "taylorjit.series.symmetric_columns") + """
define void @{prefix}symmetric(ptr noalias %c, ptr noalias %a, ptr noalias %b, ptr noalias %P,
                               ptr noalias %Q, ptr noalias %starts, ptr noalias %diag, i64 %n,
                               i64 %shift) {
entry:
  %empty = icmp sle i64 %n, 0
  br i1 %empty, label %exit, label %run
run:
  %is.packed = icmp sgt i64 %shift, 0
  br i1 %is.packed, label %run.packed, label %run.columns
run.packed:
  %shift32 = trunc i64 %shift to i32
  %one = shl i32 1, %shift32
  %mask = sub i32 %one, 1
  call void @taylorjit.series.symmetric_packed(ptr %c, ptr %a, ptr %b, ptr %P, ptr null,
                                               ptr %starts, ptr %diag, i64 %n, i32 %shift32,
                                               i32 %mask)
  br label %exit
run.columns:
  call void @taylorjit.series.symmetric_columns(ptr %c, ptr %a, ptr %b, ptr %P, ptr %Q,
                                                ptr %starts, ptr %diag, i64 %n, i32 0, i32 0)
  br label %exit
exit:
  ret void
}
""")

# Vectorized gduals: rows of npts values; c[r, :] = sum_s a[P[s], :] * b[Q[s], :] (rows without
# pairs are left untouched: callers pass zeros when a masked table may have such rows).
_POINTS = """
define void @{prefix}product(ptr noalias %c, ptr noalias %a, ptr noalias %b, ptr noalias %P,
                             ptr noalias %Q, ptr noalias %starts, i64 %n, i64 %npts) {
entry:
  %empty = icmp sle i64 %n, 0
  br i1 %empty, label %exit, label %r.loop
r.loop:
{row_range:r.end}  %row.c = mul i64 %r, %npts
  br i1 %none, label %r.end, label %s.loop
s.loop:
  %s = phi i64 [ %s0, %r.loop ], [ %s.next, %t.end ]
  %p.p = getelementptr i32, ptr %P, i64 %s
  %p = load i32, ptr %p.p
  %p.i = sext i32 %p to i64
  %row.a = mul i64 %p.i, %npts
  %q.p = getelementptr i32, ptr %Q, i64 %s
  %q = load i32, ptr %q.p
  %q.i = sext i32 %q to i64
  %row.b = mul i64 %q.i, %npts
  %first = icmp eq i64 %s, %s0
  br label %t.loop
t.loop:
  %t = phi i64 [ 0, %s.loop ], [ %t.next, %t.loop ]
  %ia = add i64 %row.a, %t
  %x.p = getelementptr double, ptr %a, i64 %ia
  %x = load double, ptr %x.p
  %ib = add i64 %row.b, %t
  %y.p = getelementptr double, ptr %b, i64 %ib
  %y = load double, ptr %y.p
  %ic = add i64 %row.c, %t
  %z.p = getelementptr double, ptr %c, i64 %ic
  %z = load double, ptr %z.p
  %z0 = select i1 %first, double 0.0, double %z
  %xy = fmul contract double %x, %y
  %z.next = fadd contract double %z0, %xy
  store double %z.next, ptr %z.p
  %t.next = add i64 %t, 1
  %t.more = icmp slt i64 %t.next, %npts
  br i1 %t.more, label %t.loop, label %t.end
t.end:
  %s.next = add i64 %s, 1
  %more = icmp slt i64 %s.next, %s1
  br i1 %more, label %s.loop, label %r.end
r.end:
  %r.more = icmp slt i64 %r.next, %n
  br i1 %r.more, label %r.loop, label %exit
exit:
  ret void
}
"""

#: Task kinds of a product program (rows of TASK_WIDTH int64 in ``tasks``; see ``compose.py``).
#: BEGIN [0, node, slot, size, skip_to, flag]: when ``keep[flag]`` is 0, jump to task
#: ``skip_to``; else zero ``slots[slot:slot + size]`` and set ``slots[slot] = q[node]``.
#: ACCUMULATE [1, c, a, b, starts, n]: ``slots[c + r] += sum_s y[a + P[s]] * slots[b + Q[s]]``
#: for ``r < n``, ``s`` in ``S[starts + r]:S[starts + r + 1]``.
BEGIN, ACCUMULATE, TASK_WIDTH = 0, 1, 6

# A product program run natively for ``nout`` polynomials in one call (compose.py: Horner's
# scheme over the monomial tree); output j reads q and keep at j * nq and its result, the first
# ``size`` doubles of the slots, is copied to out + j * size. A few ns per task.
_PROGRAM = ACCUMULATE_FUNCTION.replace("{name}", "taylorjit.series.accumulate") + """
declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)
declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)

define void @{prefix}program(ptr noalias %out, ptr noalias %slots, ptr noalias %y,
                             ptr noalias %qs, ptr noalias %keeps, ptr noalias %tasks,
                             ptr noalias %P, ptr noalias %Q, ptr noalias %S, i64 %ntasks,
                             i64 %nout, i64 %nq, i64 %size) {
entry:
  %none = icmp sle i64 %nout, 0
  br i1 %none, label %exit, label %output
output:
  %j = phi i64 [ 0, %entry ], [ %j.next, %output.end ]
  %q.off = mul i64 %j, %nq
  %q = getelementptr double, ptr %qs, i64 %q.off
  %keep = getelementptr i8, ptr %keeps, i64 %q.off
  %empty = icmp sle i64 %ntasks, 0
  br i1 %empty, label %output.end, label %loop
loop:
  %t = phi i64 [ 0, %output ], [ %next, %continue ]
  %row = mul i64 %t, 6
  %kind.p = getelementptr i64, ptr %tasks, i64 %row
  %kind = load i64, ptr %kind.p
  %f1.p = getelementptr i64, ptr %kind.p, i64 1
  %f1 = load i64, ptr %f1.p
  %f2.p = getelementptr i64, ptr %kind.p, i64 2
  %f2 = load i64, ptr %f2.p
  %f3.p = getelementptr i64, ptr %kind.p, i64 3
  %f3 = load i64, ptr %f3.p
  %f4.p = getelementptr i64, ptr %kind.p, i64 4
  %f4 = load i64, ptr %f4.p
  %f5.p = getelementptr i64, ptr %kind.p, i64 5
  %f5 = load i64, ptr %f5.p
  %t1 = add i64 %t, 1
  %is.acc = icmp eq i64 %kind, 1
  br i1 %is.acc, label %acc, label %begin
acc:
  %c = getelementptr double, ptr %slots, i64 %f1
  %a = getelementptr double, ptr %y, i64 %f2
  %b = getelementptr double, ptr %slots, i64 %f3
  %s = getelementptr i64, ptr %S, i64 %f4
  call void @taylorjit.series.accumulate(ptr %c, ptr %c, ptr %a, ptr %b, ptr %P, ptr %Q,
                                         ptr %s, i64 %f5, double 1.0, double 1.0)
  br label %continue
begin:
  %k.p = getelementptr i8, ptr %keep, i64 %f5
  %k = load i8, ptr %k.p
  %drop = icmp eq i8 %k, 0
  br i1 %drop, label %continue, label %fill
fill:
  %slot = getelementptr double, ptr %slots, i64 %f2
  %bytes = mul i64 %f3, 8
  call void @llvm.memset.p0.i64(ptr %slot, i8 0, i64 %bytes, i1 false)
  %qv.p = getelementptr double, ptr %q, i64 %f1
  %qv = load double, ptr %qv.p
  store double %qv, ptr %slot
  br label %continue
continue:
  %next = phi i64 [ %t1, %acc ], [ %f4, %begin ], [ %t1, %fill ]
  %more = icmp slt i64 %next, %ntasks
  br i1 %more, label %loop, label %output.end
output.end:
  %dst.off = mul i64 %j, %size
  %dst = getelementptr double, ptr %out, i64 %dst.off
  %result.bytes = mul i64 %size, 8
  call void @llvm.memcpy.p0.p0.i64(ptr %dst, ptr %slots, i64 %result.bytes, i1 false)
  %j.next = add i64 %j, 1
  %j.more = icmp slt i64 %j.next, %nout
  br i1 %j.more, label %output, label %exit
exit:
  ret void
}
"""

_modules: list[CompiledModule] = []


def _compiled(text: str, symbol: str) -> int:
    """Address of ``symbol`` in the module ``text`` (compiled once per process, disk-cached)."""
    module = jit_context().compile(repr(("series-" + symbol, text)),
                                   lambda prefix: text.replace("{prefix}", prefix),
                                   speed_level=3, vectorize=True)
    _modules.append(module)  # kept alive for the process
    return module.address(module.prefix + symbol)


@cache
def _kernel(vectorized: bool) -> int:
    return _compiled(_with_rows(_POINTS) if vectorized else _SCALAR, "product")


def product_into(out: np.ndarray, a: np.ndarray, b: np.ndarray, table: tuple[np.ndarray, ...]
                 ) -> np.ndarray:
    """``out[r] = sum a[P] * b[Q]`` over the pair table ``(P, Q, starts)`` (see monomials.py).

    ``a``, ``b``, ``out`` are C-contiguous float64 arrays of shape ``(n,)`` or ``(n, npts)``
    (all of the same kind); ``P``, ``Q`` int32 and ``starts`` int64 with ``len(out) + 1``
    entries. Returns ``out``.
    """
    vectorized = out.ndim == 2
    _callers[vectorized](out, a, b, table, out.shape[1] if vectorized else 1)
    return out


def packed_product_into(out: np.ndarray, a: np.ndarray, b: np.ndarray,
                        table: PackedTable) -> np.ndarray:
    """:func:`product_into` for one point over a packed table
    (``monomials.Basis.packed_product_table``); every row of ``out`` is written. Returns
    ``out``."""
    if not _packed_state:
        _packed_state["address"] = _compiled(_PACKED, "packed")
        _packed_state["caller"] = array_caller(5, 3)
    caller = _packed_state["caller"]
    if caller is not None:
        caller(_packed_state["address"], out, a, b, table.pairs, table.starts, out.shape[0],
               table.lo, table.hi)
    else:  # pragma: no cover - only where numpy's array layout could not be verified
        import ctypes

        fn = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * 5), *([ctypes.c_int64] * 3))
        fn(_packed_state["address"])(out.ctypes.data, a.ctypes.data, b.ctypes.data,
                                     table.pairs.ctypes.data, table.starts.ctypes.data,
                                     out.shape[0], table.lo, table.hi)
    return out


_packed_state: dict[str, Any] = {}


def symmetric_product_into(out: np.ndarray, a: np.ndarray, b: np.ndarray,
                           table: SymmetricTable) -> np.ndarray:
    """:func:`product_into` for one point over a symmetric table
    (``monomials.Basis.symmetric_product_table``); every row of ``out`` is written. Returns
    ``out``."""
    address, caller = _symmetric_kernel()
    arrays = (out, a, b, table.pairs, table.second, table.starts, table.diagonal)
    if caller is not None:
        caller(address, *arrays, out.shape[0], table.shift)
    else:  # pragma: no cover - only where numpy's array layout could not be verified
        import ctypes

        fn = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * 7), *([ctypes.c_int64] * 2))
        fn(address)(*(x.ctypes.data for x in arrays), out.shape[0], table.shift)
    return out


@cache
def _symmetric_kernel() -> tuple[int, Any]:
    return _compiled(_SYMMETRIC, "symmetric"), array_caller(7, 2)


def _make_caller(vectorized: bool) -> Any:
    """The cheapest call path into the product kernel (resolved once, on first use)."""
    state: dict[str, Any] = {}

    def run(out: np.ndarray, a: np.ndarray, b: np.ndarray, table: tuple[np.ndarray, ...],
            npts: int) -> None:
        if not state:
            state["address"] = _kernel(vectorized)
            state["caller"] = array_caller(6, 2)
        caller = state["caller"]
        p, q, starts = table
        if caller is not None:
            caller(state["address"], out, a, b, p, q, starts, out.shape[0], npts)
        else:  # pragma: no cover - only where numpy's array layout could not be verified
            import ctypes

            fn = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * 6), ctypes.c_int64, ctypes.c_int64)
            fn(state["address"])(out.ctypes.data, a.ctypes.data, b.ctypes.data, p.ctypes.data,
                                 q.ctypes.data, starts.ctypes.data, out.shape[0], npts)

    return run


_callers = {False: _make_caller(False), True: _make_caller(True)}


def as_kernel_array(x: Any) -> np.ndarray:
    """A C-contiguous float64 view or copy of ``x``."""
    return np.ascontiguousarray(x, dtype=np.float64)


@cache
def _program_kernel() -> tuple[int, Any]:
    return _compiled(_PROGRAM, "program"), array_caller(9, 4)


def run_program(out: np.ndarray, slots: np.ndarray, y: np.ndarray, q: np.ndarray,
                keep: np.ndarray, tasks: np.ndarray, table: tuple[np.ndarray, ...]) -> np.ndarray:
    """Run a product program (``BEGIN``/``ACCUMULATE`` rows, see above) natively, once per row
    of ``q``: row ``j`` of ``out`` receives the first ``out.shape[1]`` doubles of the slots.

    ``out`` ``(nout, size)``, ``slots``, ``y`` and ``q`` ``(nout, nq)`` are C-contiguous
    float64, ``keep`` ``(nout, nq)`` uint8 (one flag per node, indexed by the BEGIN rows),
    ``tasks`` ``(ntasks, TASK_WIDTH)`` int64 and ``table`` the concatenated ``(P, Q, S)``
    (``S`` holding absolute positions in ``P`` and ``Q``). The caller guarantees that every
    offset stays inside the arrays. Returns ``out``.
    """
    address, caller = _program_kernel()
    p, q_idx, starts = table
    ints = (tasks.shape[0], q.shape[0], q.shape[1], out.shape[1])
    if caller is not None:
        caller(address, out, slots, y, q, keep, tasks, p, q_idx, starts, *ints)
    else:  # pragma: no cover - only where numpy's array layout could not be verified
        import ctypes

        fn = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * 9), *([ctypes.c_int64] * 4))
        fn(address)(*(a.ctypes.data for a in (out, slots, y, q, keep, tasks, p, q_idx, starts)),
                    *ints)
    return out
