"""The native propagation loop: step control, state update, dense output, in one LLVM function
shared by every integrator, and the few functions each integrator compiles besides its jet.

``propagate`` runs whole integrations without returning to Python: per step it computes the jet,
chooses the step size (Jorba & Zou 2005, as heyoka), advances the state and the double-length
time, and, on request, evaluates the step's polynomials at grid points or stores the step's
coefficients for continuous output. It returns to Python when the integration ends (time limit,
step limit, a non-finite state) or when the continuous-output buffer is full (Python grows it and
calls again), so Python is entered once per ``propagate_*`` call, not per step.

Control blocks (``dv``: float64, ``iv``: int64; layouts in :class:`DV`, :class:`IV`) carry the
times, limits and counters between Python (``integrator.py``) and the loop, and tell the loop
which integrator it runs: the dimension, the order and the addresses of the jet and of the event
test (:func:`native_driver` compiles the loop once per process; :func:`kernel_text` writes an
integrator's own functions). As in heyoka,
``min_h``/``max_h`` count only the steps whose size the tolerance chose (not those shortened by
the final time or ``max_delta_t``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from llvmlite import ir

from .._jit import irhelpers as h
from .._jit.context import CompiledModule
from .._jit.runtime import compile_with_callers
from .._jit.textir import double_literal

__all__ = ["DV", "IV", "EV", "Flags", "Code", "StepControl", "kernel_text", "native_driver"]


class DV:
    """Indices into the float64 control block.

    With ``n`` events the block goes on with :data:`EVENT_ARRAYS` arrays of ``n`` values (array
    ``j`` of them starts at ``SIZE + j n``): see :class:`EV`.
    """

    T_HI, T_LO, TF_HI, TF_LO, MAX_DT, DIR, MIN_H, MAX_H, LAST_H, PENDING_H = range(10)
    # Set once per integrator: the step-size factor and the exponents 1/p, 1/(p-1).
    RHOFAC, INV_P, INV_PM1 = range(10, 13)
    SIZE = 13


class EV:
    """The per-event arrays after the float64 control block (see :func:`exclusion_text`).

    ``SIGN``: the event function's sign at the end of the last step (0: unknown). ``NEXT_SIGN``:
    its sign at the end of the pending step (0: unknown). ``DIRECTION``: the event's direction
    (-1, 0, 1), written by Python once. ``STATUS``: for the pending step, 0 no root to report,
    1 one simple root (at ``ROOT``, a relative time), 2 Python must isolate the roots. ``ROOT``.
    """

    SIGN, NEXT_SIGN, DIRECTION, STATUS, ROOT = range(5)
    COUNT = 5


class IV:
    """Indices into the int64 control block."""

    (MAX_STEPS, NSTEPS, OUTCOME, FLAGS, GRID_N, GRID_I, C_CAP, C_COUNT, RESUME, PENDING_FREE,
     PENDING_BY_TIME) = range(11)
    # Set once per integrator: its sizes, and the addresses of its jet and event test (0: none).
    DIM, ORDER, NEV, COMPENSATED, JET, EXCLUSION = range(11, 17)
    SIZE = 17


class Flags:
    """Bits of ``iv[FLAGS]``."""

    C_OUTPUT = 1  # store every step's time, size and coefficients in the output buffer
    GRID = 2  # evaluate the dense output at grid points
    ONE_STEP = 4  # take a single step (``step()``)


class Code:
    """Outcome codes written to ``iv[OUTCOME]``."""

    SUCCESS, STEP_LIMIT, TIME_LIMIT, NF_STATE, BUFFER_FULL, EVENT, EVENT_TAKEN = range(7)


@dataclass(frozen=True)
class StepControl:
    """Order and step-size safety factor from the tolerance (Jorba & Zou 2005, sec. 3.2).

    With ``p = ceil(-ln(tol)/2 + 1)`` and ``h = rho * exp(-2) * exp(-0.7/(p-1))``, where ``rho``
    is estimated from the last two Taylor coefficients, the truncation error per step is about
    ``tol`` (relative to the state when its largest component exceeds 1, absolute otherwise).
    These are heyoka's choices too, so both take the same steps.
    """

    tol: float

    @property
    def order(self) -> int:
        """The Taylor order ``p``."""
        return max(2, math.ceil(-math.log(self.tol) / 2 + 1))

    @property
    def rhofac(self) -> float:
        """The safety factor multiplying the radius-of-convergence estimate."""
        return 1 / (math.e * math.e) * math.exp(-0.7 / (self.order - 1))


def _lit(x: float) -> str:
    return double_literal(x)


def _radius_block(tag: str, first: str, end: str, entry: str) -> str:
    """IR computing ``%{tag}.qo``, ``%{tag}.qm`` for rows ``first .. end - 1`` (SSA values): the
    magnitude (largest order-0 value, or 1 below 1: relative or absolute) over the largest
    order-p and order-(p-1) coefficients, whose ``1/p`` and ``1/(p-1)`` powers estimate the
    radius of convergence (Jorba & Zou). Reads ``%s`` (row stride) and ``%order``."""
    return f"""
{tag}.loop:
  %{tag}.i = phi i64 [ {first}, %{entry} ], [ %{tag}.i.next, %{tag}.loop ]
  %{tag}.ms = phi double [ 0.0, %{entry} ], [ %{tag}.ms.next, %{tag}.loop ]
  %{tag}.mo = phi double [ 0.0, %{entry} ], [ %{tag}.mo.next, %{tag}.loop ]
  %{tag}.mm = phi double [ 0.0, %{entry} ], [ %{tag}.mm.next, %{tag}.loop ]
  %{tag}.row = mul i64 %{tag}.i, %s
  %{tag}.p0 = getelementptr double, ptr %tc, i64 %{tag}.row
  %{tag}.x0 = load double, ptr %{tag}.p0, align 8
  %{tag}.po = getelementptr double, ptr %{tag}.p0, i64 %order
  %{tag}.xo = load double, ptr %{tag}.po, align 8
  %{tag}.pm = getelementptr double, ptr %{tag}.po, i64 -1
  %{tag}.xm = load double, ptr %{tag}.pm, align 8
  %{tag}.a0 = call double @llvm.fabs.f64(double %{tag}.x0)
  %{tag}.ao = call double @llvm.fabs.f64(double %{tag}.xo)
  %{tag}.am = call double @llvm.fabs.f64(double %{tag}.xm)
  %{tag}.ms.next = call double @llvm.maxnum.f64(double %{tag}.ms, double %{tag}.a0)
  %{tag}.mo.next = call double @llvm.maxnum.f64(double %{tag}.mo, double %{tag}.ao)
  %{tag}.mm.next = call double @llvm.maxnum.f64(double %{tag}.mm, double %{tag}.am)
  %{tag}.i.next = add i64 %{tag}.i, 1
  %{tag}.more = icmp slt i64 %{tag}.i.next, {end}
  br i1 %{tag}.more, label %{tag}.loop, label %{tag}.done
{tag}.done:
  %{tag}.absolute = fcmp olt double %{tag}.ms.next, 1.0
  %{tag}.num = select i1 %{tag}.absolute, double 1.0, double %{tag}.ms.next
  %{tag}.qo = fdiv double %{tag}.num, %{tag}.mo.next
  %{tag}.qm = fdiv double %{tag}.num, %{tag}.mm.next"""


def step_size_text(name: str) -> str:
    """``double @name(ptr tc, ptr dv, i64 dim, i64 order, i64 nev)``: the step-size magnitude
    from the state and the last two orders (``dv``: the control block, for ``RHOFAC`` and the
    exponents ``1/p``, ``1/(p-1)``).

    With ``nev`` events, the event functions' rows get their own estimate, with their own
    magnitude, and the step is the smaller of the two: an event polynomial stays as accurate as
    the state's (a fast-varying event function shortens the step; one that is large, as
    ``v - 10``, does not lengthen it, as it would if it joined the state's magnitude).
    """
    return f"""
define internal double @{name}(ptr noalias %tc, ptr noalias %dv, i64 %dim, i64 %order,
                                i64 %nev) {{
entry:
  %s = add i64 %order, 1
  br label %st.loop{_radius_block("st", "0", "%dim", "entry")}
  %with.events = icmp sgt i64 %nev, 0
  br i1 %with.events, label %ev.start, label %powers
ev.start:
  %ev.end = add i64 %dim, %nev
  br label %ev.loop{_radius_block("ev", "%dim", "%ev.end", "ev.start")}
  %ev.qo.min = call double @llvm.minnum.f64(double %st.qo, double %ev.qo)
  %ev.qm.min = call double @llvm.minnum.f64(double %st.qm, double %ev.qm)
  br label %powers
powers:
  %qo = phi double [ %st.qo, %st.done ], [ %ev.qo.min, %ev.done ]
  %qm = phi double [ %st.qm, %st.done ], [ %ev.qm.min, %ev.done ]
  %inv.p.p = getelementptr double, ptr %dv, i64 {DV.INV_P}
  %inv.p = load double, ptr %inv.p.p, align 8
  %inv.pm.p = getelementptr double, ptr %dv, i64 {DV.INV_PM1}
  %inv.pm = load double, ptr %inv.pm.p, align 8
  %rhofac.p = getelementptr double, ptr %dv, i64 {DV.RHOFAC}
  %rhofac = load double, ptr %rhofac.p, align 8
  %ro = call double @pow(double %qo, double %inv.p)
  %rm = call double @pow(double %qm, double %inv.pm)
  %rho = call double @llvm.minnum.f64(double %ro, double %rm)
  %h = fmul double %rho, %rhofac
  ret double %h
}}
"""


def horner_text(name: str) -> str:
    """``i1 @name(ptr tc, double h, ptr out, i64 dim, i64 order, i1 compensated)``: every
    row's polynomial at ``h`` (Horner), written to ``out``; returns whether all values are
    finite.

    ``compensated`` uses the compensated Horner scheme (Graillat, Langlois & Louvet 2005): the
    rounding errors of each product and sum are recovered exactly (fma, TwoSum) and added back,
    so the result is as accurate as if computed in twice the precision (``high_accuracy``).
    Otherwise rows go :data:`_HORNER_LANES` at a time through SIMD lanes, up to
    :data:`_HORNER_VECTORS` vectors side by side. Every row gets the operations of the textbook
    scheme, in its order: the values are those of numpy's Horner (the dense output's), bit for
    bit.
    """
    lines = [f"define internal i1 @{name}(ptr noalias %tc, double %h, ptr noalias %out, i64 %dim,",
             "                           i64 %order, i1 %compensated) {",
             "entry:", "  %s = add i64 %order, 1",
             "  br i1 %compensated, label %rows, label %lanes"]
    lines += _horner_lanes_text()
    ends = ", ".join(f"[ %b{n}.ok, %b{n}.end ]" for n in range(1, _HORNER_VECTORS + 1))
    done = ["done:", f"  %all = phi i1 {ends}, [ %ok.next, %row.end ]", "  ret i1 %all", "}"]
    return "\n".join(lines) + _COMPENSATED_ROWS + "\n".join(done)


def _horner_lanes_text() -> list[str]:
    """The plain scheme in SIMD lanes: blocks of ``n`` vectors (``n`` = 1 .. _HORNER_VECTORS,
    as many as the remaining rows fill), one loop over the orders per block.

    NOTE: one row's scheme is a chain of ``order`` dependent products and sums: four lanes run
    four chains in the latency of one, and ``n`` vectors ``n`` times as many. One vector at a
    time, the 20 rows of the third-order variational pendulum took five chains in a row.
    Lanes past the last row repeat it (the same operations on the same values: a harmless
    duplicate, stored to the same place).
    """
    w, nmax = _HORNER_LANES, _HORNER_VECTORS
    vt = f"<{w} x double>"
    blocks = range(1, nmax + 1)
    out = ["lanes:",
           f"  %hv0 = insertelement {vt} poison, double %h, i64 0",
           f"  %hv = shufflevector {vt} %hv0, {vt} poison, <{w} x i32> zeroinitializer",
           "  %last = sub i64 %dim, 1",
           "  br label %blk",
           "blk:",
           "  %r = phi i64 [ 0, %lanes ], " + ", ".join(f"[ %b{n}.r.next, %b{n}.end ]" for n in blocks),
           "  %bok = phi i1 [ true, %lanes ], " + ", ".join(f"[ %b{n}.ok, %b{n}.end ]" for n in blocks),
           "  %rem = sub i64 %dim, %r",
           f"  %rem.up = add i64 %rem, {w - 1}",
           f"  %nv.u = udiv i64 %rem.up, {w}",
           f"  %nv.big = icmp ugt i64 %nv.u, {nmax}",
           f"  %nv = select i1 %nv.big, i64 {nmax}, i64 %nv.u",
           f"  switch i64 %nv, label %b{nmax} [ "
           + " ".join(f"i64 {n}, label %b{n}" for n in range(1, nmax)) + " ]"]
    for n in blocks:
        b = f"b{n}"
        out.append(f"{b}:")
        for q in range(n):
            for j in range(w):
                lane = f"{b}.{q}.{j}"
                out += [f"  %{lane}.u = add i64 %r, {q * w + j}",
                        f"  %{lane}.in = icmp ult i64 %{lane}.u, %dim",
                        f"  %{lane}.row = select i1 %{lane}.in, i64 %{lane}.u, i64 %last",
                        f"  %{lane}.base = mul i64 %{lane}.row, %s"]
        out += _gather(b, n, "top", "%order")
        out += [f"  br label %{b}.k", f"{b}.k:",
                f"  %{b}.kk = phi i64 [ %order, %{b} ], [ %{b}.kn, %{b}.k ]"]
        out += [f"  %{b}.acc{q} = phi {vt} [ %{b}.c{q}.top, %{b} ], [ %{b}.sum{q}, %{b}.k ]"
                for q in range(n)]
        out.append(f"  %{b}.kn = sub i64 %{b}.kk, 1")
        out += _gather(b, n, "k", f"%{b}.kn")
        for q in range(n):
            out += [f"  %{b}.m{q} = fmul {vt} %{b}.acc{q}, %hv",
                    f"  %{b}.sum{q} = fadd {vt} %{b}.m{q}, %{b}.c{q}.k"]
        out += [f"  %{b}.more = icmp sgt i64 %{b}.kn, 0",
                f"  br i1 %{b}.more, label %{b}.k, label %{b}.st"]
        # Stores: every vector but the last is whole; the last may hold repeated rows.
        out.append(f"{b}.st:")
        for q in range(n - 1):
            out += [f"  %{b}.dst{q}.i = add i64 %r, {q * w}",
                    f"  %{b}.dst{q} = getelementptr double, ptr %out, i64 %{b}.dst{q}.i",
                    f"  store {vt} %{b}.sum{q}, ptr %{b}.dst{q}, align 8"]
        q = n - 1
        out += [f"  %{b}.tail.end = add i64 %r, {n * w}",
                f"  %{b}.whole = icmp ule i64 %{b}.tail.end, %dim",
                f"  br i1 %{b}.whole, label %{b}.vst, label %{b}.lst",
                f"{b}.vst:",
                f"  %{b}.dst{q}.i = add i64 %r, {q * w}",
                f"  %{b}.dst{q} = getelementptr double, ptr %out, i64 %{b}.dst{q}.i",
                f"  store {vt} %{b}.sum{q}, ptr %{b}.dst{q}, align 8",
                f"  br label %{b}.fin",
                f"{b}.lst:"]
        for j in range(w):
            lane = f"{b}.{q}.{j}"
            out += [f"  %{lane}.v = extractelement {vt} %{b}.sum{q}, i64 {j}",
                    f"  %{lane}.p = getelementptr double, ptr %out, i64 %{lane}.row",
                    f"  store double %{lane}.v, ptr %{lane}.p, align 8"]
        out += [f"  br label %{b}.fin", f"{b}.fin:"]
        ok = "%bok"
        for q in range(n):
            out += [f"  %{b}.d{q} = fsub {vt} %{b}.sum{q}, %{b}.sum{q}",
                    f"  %{b}.f{q} = fcmp oeq {vt} %{b}.d{q}, zeroinitializer",
                    f"  %{b}.fb{q} = bitcast <{w} x i1> %{b}.f{q} to i{w}",
                    f"  %{b}.fa{q} = icmp eq i{w} %{b}.fb{q}, -1",
                    f"  %{b}.ok{q} = and i1 {ok}, %{b}.fa{q}"]
            ok = f"%{b}.ok{q}"
        out += [f"  %{b}.ok = and i1 {ok}, true",
                f"  br label %{b}.end",
                f"{b}.end:",
                f"  %{b}.r.next = add i64 %r, {n * w}",
                f"  %{b}.left = icmp ult i64 %{b}.r.next, %dim",
                f"  br i1 %{b}.left, label %blk, label %done"]
    return out


def _gather(block: str, n: int, tag: str, k: str) -> list[str]:
    """Lines loading coefficient ``k`` of the rows of ``block``'s ``n`` vectors, as vectors
    ``%<block>.c<q>.<tag>``."""
    w = _HORNER_LANES
    vt = f"<{w} x double>"
    out = []
    for q in range(n):
        prev = "poison"
        for j in range(w):
            lane = f"{block}.{q}.{j}"
            vec = f"%{block}.c{q}.{tag}" if j == w - 1 else f"%{lane}.c.{tag}"
            out += [f"  %{lane}.o.{tag} = add i64 %{lane}.base, {k}",
                    f"  %{lane}.p.{tag} = getelementptr double, ptr %tc, i64 %{lane}.o.{tag}",
                    f"  %{lane}.x.{tag} = load double, ptr %{lane}.p.{tag}, align 8",
                    f"  {vec} = insertelement {vt} {prev}, double %{lane}.x.{tag}, i64 {j}"]
            prev = vec
    return out


# The compensated scheme, one row at a time (blocks rows .. row.end of horner_text).
_COMPENSATED_ROWS = """
rows:
  br label %row
row:
  %i = phi i64 [ 0, %rows ], [ %i.next, %row.end ]
  %ok = phi i1 [ true, %rows ], [ %ok.next, %row.end ]
  %base = mul i64 %i, %s
  %rowp = getelementptr double, ptr %tc, i64 %base
  %topp = getelementptr double, ptr %rowp, i64 %order
  %top = load double, ptr %topp, align 8
  br label %k.loop
k.loop:
  %k = phi i64 [ %order, %row ], [ %k.next, %k.loop ]
  %acc = phi double [ %top, %row ], [ %sum, %k.loop ]
  %err = phi double [ 0.0, %row ], [ %e, %k.loop ]
  %k.next = sub i64 %k, 1
  %cp = getelementptr double, ptr %rowp, i64 %k.next
  %c = load double, ptr %cp, align 8
  %m = fmul double %acc, %h
  %sum = fadd double %m, %c
  %nm = fneg double %m
  %pe = call double @llvm.fma.f64(double %acc, double %h, double %nm)
  %bb = fsub double %sum, %m
  %sb = fsub double %sum, %bb
  %ea = fsub double %m, %sb
  %eb = fsub double %c, %bb
  %se = fadd double %ea, %eb
  %te = fadd double %pe, %se
  %ce = fmul double %err, %h
  %e = fadd double %ce, %te
  %k.more = icmp sgt i64 %k.next, 0
  br i1 %k.more, label %k.loop, label %row.end
row.end:
  %res = fadd double %sum, %e
  %dst = getelementptr double, ptr %out, i64 %i
  store double %res, ptr %dst, align 8
  %d = fsub double %res, %res
  %finite = fcmp oeq double %d, 0.0
  %ok.next = and i1 %ok, %finite
  %i.next = add i64 %i, 1
  %more = icmp slt i64 %i.next, %dim
  br i1 %more, label %row, label %done
"""


#: Rows in one SIMD value of the plain Horner scheme, and the most such values evaluated side
#: by side (see _horner_lanes_text).
_HORNER_LANES = 4
_HORNER_VECTORS = 4


def _tree_sum(lines: list[str], terms: list[str], tag: str) -> str:
    """Append a pairwise-tree sum of ``terms`` to ``lines``; return the result's name."""
    n = 0
    while len(terms) > 1:
        nxt = []
        for j in range(0, len(terms) - 1, 2):
            lines.append(f"  %{tag}{n} = fadd double {terms[j]}, {terms[j + 1]}")
            nxt.append(f"%{tag}{n}")
            n += 1
        if len(terms) % 2:
            nxt.append(terms[-1])
        terms = nxt
    return terms[0]


def _sign_of(lines: list[str], value: str, tag: str) -> str:
    """Append the sign of ``value`` as a double (1, -1, or 0 for zero and nan)."""
    lines += [f"  %{tag}.pos = fcmp ogt double {value}, 0.0",
              f"  %{tag}.neg = fcmp olt double {value}, 0.0",
              f"  %{tag}.side = select i1 %{tag}.pos, double 1.0, double -1.0",
              f"  %{tag}.nz = or i1 %{tag}.pos, %{tag}.neg",
              f"  %{tag} = select i1 %{tag}.nz, double %{tag}.side, double 0.0"]
    return f"%{tag}"


def event_root_text(name: str, order: int) -> str:
    """``double @name(ptr c, double h)``: the root in ``(0, h)`` of the polynomial ``c``, known
    to be monotone there with a sign change (safeguarded Newton: a Newton step when it stays
    inside the bracket, else bisection; stops when the update is below two ulps)."""
    lines = [f"define internal double @{name}(ptr noalias %c, double %h) {{", "entry:"]
    for k in range(order + 1):
        lines += [f"  %p{k} = getelementptr double, ptr %c, i64 {k}",
                  f"  %c{k} = load double, ptr %p{k}, align 8"]
    lines += ["  %s0neg = fcmp olt double %c0, 0.0",
              "  %x0 = fmul double %h, 0.5",
              "  br label %loop", "loop:",
              "  %a = phi double [ 0.0, %entry ], [ %a.next, %loop.end ]",
              "  %b = phi double [ %h, %entry ], [ %b.next, %loop.end ]",
              "  %x = phi double [ %x0, %entry ], [ %x.next, %loop.end ]",
              "  %it = phi i64 [ 0, %entry ], [ %it.next, %loop.end ]"]
    f, df = f"%c{order}", "0.0"
    for k in range(order - 1, -1, -1):
        lines += [f"  %d{k} = call double @llvm.fma.f64(double {df}, double %x, double {f})",
                  f"  %f{k} = call double @llvm.fma.f64(double {f}, double %x, double %c{k})"]
        f, df = f"%f{k}", f"%d{k}"
    lines += [f"  %fzero = fcmp oeq double {f}, 0.0",
              "  br i1 %fzero, label %found, label %update",
              "update:",
              f"  %fneg = fcmp olt double {f}, 0.0",
              "  %before = icmp eq i1 %fneg, %s0neg",  # same sign as at 0: the root lies beyond x
              "  %a.next = select i1 %before, double %x, double %a",
              "  %b.next = select i1 %before, double %b, double %x",
              f"  %ratio = fdiv double {f}, {df}",
              "  %newton = fsub double %x, %ratio",
              "  %lo = call double @llvm.minnum.f64(double %a.next, double %b.next)",
              "  %hi = call double @llvm.maxnum.f64(double %a.next, double %b.next)",
              "  %in.lo = fcmp ogt double %newton, %lo", "  %in.hi = fcmp olt double %newton, %hi",
              "  %inside = and i1 %in.lo, %in.hi",
              "  %sum = fadd double %a.next, %b.next", "  %mid = fmul double %sum, 0.5",
              "  %x.next = select i1 %inside, double %newton, double %mid",
              "  %delta = fsub double %x.next, %x",
              "  %adelta = call double @llvm.fabs.f64(double %delta)",
              "  %ax = call double @llvm.fabs.f64(double %x.next)",
              f"  %ulps = fmul double %ax, {_lit(2 * 2.0**-52)}",
              "  %small = fcmp ole double %adelta, %ulps",
              "  %it.next = add i64 %it, 1",
              "  %many = icmp sge i64 %it.next, 100",
              "  %stop = or i1 %small, %many",
              "  br i1 %stop, label %converged, label %loop.end",
              "loop.end:", "  br label %loop",
              "found:", "  ret double %x",
              "converged:", "  ret double %x.next", "}"]
    return "\n".join(lines)


def exclusion_text(name: str, root: str, dim: int, nev: int, nterminal: int, order: int) -> str:
    """``i64 @name(ptr tc, double h, ptr ev)``: the per-step event test (``ev``: the per-event
    arrays of :class:`EV`). Returns 0 when no event fires in the step, 1 when only non-terminal
    events fire, each at one simple root located here (the loop takes the step and returns, for
    the callbacks), 2 when Python must look at the step before it is taken.

    Each event row (after the ``dim`` state rows) is tested in stages, cheapest first:

    1. the bound ``|P(t) - c_0| <= sum_k |c_k| |h|^k`` (powers of ``|h|`` shared by all events,
       a tree sum: a short dependency chain): if ``|c_0|`` exceeds it, ``P`` keeps the sign of
       ``c_0`` over the step;
    2. the range of ``P`` over the step enclosed by Horner's scheme in interval arithmetic with
       ``t`` in ``[0, h]`` (heyoka's fast exclusion check): an enclosure without zero proves
       there is no root;
    3. the same bound on ``P'``: if ``P`` is monotone over the step, it has a root exactly when
       ``P(0)`` and ``P(h)`` differ in sign, and a root whose crossing direction the event does
       not want is no event; a wanted one is located here (``@root``, Newton) and reported as
       status 1. Anything else (several roots, a zero at an end) is status 2, for Python.

    Bounds are widened by a few ulps against round-off. The sign at the start of the step is
    also compared with the sign recorded at the end of the previous one: a root within round-off
    of a step boundary shows up as that mismatch (status 2), and is reported, not lost. When no
    event needs a look, the new end signs replace the old ones.
    """
    s = order + 1
    widen = _lit(1 + 64 * 2.0**-52)
    off = {name_: j * nev for j, name_ in enumerate(("SIGN", "NEXT_SIGN", "DIRECTION", "STATUS", "ROOT"))}
    lines = [f"define i64 @{name}(ptr noalias %tc, double %h, ptr noalias %ev) {{",
             "entry:", "  %habs = call double @llvm.fabs.f64(double %h)", "  %hp1 = fadd double %habs, 0.0"]
    for k in range(2, order + 1):  # |h|^k by a product tree: |h|^k = |h|^(k//2) * |h|^(k - k//2)
        lines.append(f"  %hp{k} = fmul double %hp{k // 2}, %hp{k - k // 2}")
    lines += ["  br label %loop", "loop:",
              "  %i = phi i64 [ 0, %entry ], [ %i.next, %merge ]",
              "  %any = phi i1 [ false, %entry ], [ %any.next, %merge ]",
              "  %anynt = phi i1 [ false, %entry ], [ %anynt.next, %merge ]",
              f"  %row0 = add i64 %i, {dim}", f"  %row = mul i64 %row0, {s}",
              "  %rowp = getelementptr double, ptr %tc, i64 %row"]
    for k in range(order + 1):
        lines += [f"  %p{k} = getelementptr double, ptr %rowp, i64 {k}",
                  f"  %c{k} = load double, ptr %p{k}, align 8"]
    lines += [f"  %ac{k} = call double @llvm.fabs.f64(double %c{k})" for k in range(order + 1)]
    lines += [f"  %t{k} = fmul double %ac{k}, %hp{k}" for k in range(1, order + 1)]
    total = _tree_sum(lines, [f"%t{k}" for k in range(1, order + 1)], "sum")
    lines += [f"  %bound = fmul double {total}, {widen}",
              "  %far = fcmp ogt double %ac0, %bound"]
    _sign_of(lines, "%c0", "c0sgn")
    lines += ["  br i1 %far, label %merge, label %interval", "interval:"]
    lo, hi = f"%c{order}", f"%c{order}"
    for k in range(order - 1, -1, -1):
        lines += [f"  %a{k} = fmul double {lo}, %h", f"  %b{k} = fmul double {hi}, %h",
                  f"  %n{k} = call double @llvm.minnum.f64(double %a{k}, double %b{k})",
                  f"  %x{k} = call double @llvm.maxnum.f64(double %a{k}, double %b{k})",
                  f"  %nz{k} = call double @llvm.minnum.f64(double %n{k}, double 0.0)",
                  f"  %xz{k} = call double @llvm.maxnum.f64(double %x{k}, double 0.0)",
                  f"  %lo{k} = fadd double %nz{k}, %c{k}", f"  %hi{k} = fadd double %xz{k}, %c{k}"]
        lo, hi = f"%lo{k}", f"%hi{k}"
    lines += [
        f"  %alo = call double @llvm.fabs.f64(double {lo})",
        f"  %ahi = call double @llvm.fabs.f64(double {hi})",
        "  %amax = call double @llvm.maxnum.f64(double %alo, double %ahi)",
        f"  %slack = fmul double %amax, {_lit(64 * 2.0**-52)}",
        f"  %lo.w = fsub double {lo}, %slack", f"  %hi.w = fadd double {hi}, %slack",
        "  %pos = fcmp ogt double %lo.w, 0.0", "  %neg = fcmp olt double %hi.w, 0.0",
        f"  %zlo = fcmp oeq double {lo}, 0.0", f"  %zhi = fcmp oeq double {hi}, 0.0",
        "  %zero = and i1 %zlo, %zhi",  # identically zero on the step: no crossing
        "  %sided = or i1 %pos, %neg", "  %excl.int = or i1 %sided, %zero",
        "  %sgn.side = select i1 %pos, double 1.0, double -1.0",
        "  %sgn.int = select i1 %sided, double %sgn.side, double 0.0",
        "  br i1 %excl.int, label %merge, label %mono", "mono:"]
    dterms = []
    for k in range(2, order + 1):
        lines.append(f"  %dt{k} = fmul double %t{k}, {_lit(float(k))}")
        dterms.append(f"%dt{k}")
    dtotal = _tree_sum(lines, dterms, "dsum") if dterms else "0.0"
    lines += [f"  %dbound = fmul double {dtotal}, {widen}",
              "  %c1h = fmul double %ac1, %hp1",
              "  %monotone = fcmp ogt double %c1h, %dbound"]
    pe = f"%c{order}"
    for k in range(order - 1, -1, -1):
        lines.append(f"  %e{k} = call double @llvm.fma.f64(double {pe}, double %h, double %c{k})")
        pe = f"%e{k}"
    end_sgn = _sign_of(lines, pe, "endsgn")
    lines += [f"  %crosses = fcmp une double {end_sgn}, %c0sgn",
              "  %ends.nz.a = fcmp one double %c0sgn, 0.0",
              f"  %ends.nz.b = fcmp one double {end_sgn}, 0.0",
              "  %ends.nz = and i1 %ends.nz.a, %ends.nz.b",
              "  %simple = and i1 %monotone, %ends.nz"]
    c1sgn = _sign_of(lines, "%c1", "c1sgn")
    lines += [f"  %dsgn = fadd double {c1sgn}, 0.0",  # monotone: P' keeps c_1's sign
              "  %dir.p = getelementptr double, ptr %ev, i64 %i.dir",
              "  %dir = load double, ptr %dir.p, align 8",
              "  %dir.any = fcmp oeq double %dir, 0.0",
              "  %dir.same = fcmp oeq double %dir, %dsgn",
              "  %dir.ok = or i1 %dir.any, %dir.same",
              "  %wanted = and i1 %crosses, %dir.ok",
              "  %report = and i1 %simple, %wanted",
              "  %quiet.a = xor i1 %crosses, true",
              "  %quiet.b = xor i1 %dir.ok, true",
              "  %quiet.c = or i1 %quiet.a, %quiet.b",
              "  %quiet = and i1 %simple, %quiet.c",  # monotone, and no root or an unwanted one
              "  br i1 %report, label %newton, label %mono.out",
              "newton:",
              f"  %root = call double @{root}(ptr %rowp, double %h)",
              "  br label %mono.out",
              "mono.out:",
              "  %root.v = phi double [ 0.0, %mono ], [ %root, %newton ]",
              "  %status.m = select i1 %report, double 1.0, double 2.0",
              "  %status.q = select i1 %quiet, double 0.0, double %status.m",
              f"  %sgn.m = select i1 %simple, double {end_sgn}, double 0.0",
              "  br label %merge",
              "merge:",
              "  %status.e = phi double [ 0.0, %loop ], [ 0.0, %interval ], [ %status.q, %mono.out ]",
              "  %sgn.end = phi double [ %c0sgn, %loop ], [ %sgn.int, %interval ], [ %sgn.m, %mono.out ]",
              "  %root.e = phi double [ 0.0, %loop ], [ 0.0, %interval ], [ %root.v, %mono.out ]",
              f"  %new.i = add i64 %i, {off['NEXT_SIGN']}",
              "  %new.p = getelementptr double, ptr %ev, i64 %new.i",
              "  store double %sgn.end, ptr %new.p, align 8",
              "  %prev.p = getelementptr double, ptr %ev, i64 %i",
              "  %prev = load double, ptr %prev.p, align 8",
              "  %known = fcmp one double %prev, 0.0",
              "  %differ = fcmp une double %c0sgn, %prev",
              "  %mismatch = and i1 %known, %differ",
              "  %status = select i1 %mismatch, double 2.0, double %status.e",
              f"  %st.i = add i64 %i, {off['STATUS']}",
              "  %st.p = getelementptr double, ptr %ev, i64 %st.i",
              "  store double %status, ptr %st.p, align 8",
              f"  %rt.i = add i64 %i, {off['ROOT']}",
              "  %rt.p = getelementptr double, ptr %ev, i64 %rt.i",
              "  store double %root.e, ptr %rt.p, align 8",
              # Status 2, or a simple root of a terminal event (rows before ``nterminal``),
              # needs Python before the step; a non-terminal simple root only after it.
              "  %st2 = fcmp oeq double %status, 2.0",
              "  %st1 = fcmp oeq double %status, 1.0",
              f"  %terminal = icmp slt i64 %i, {nterminal}",
              "  %st1.t = and i1 %st1, %terminal",
              "  %py = or i1 %st2, %st1.t",
              "  %any.next = or i1 %any, %py",
              "  %anynt.next = or i1 %anynt, %st1",
              "  %i.next = add i64 %i, 1",
              f"  %more = icmp slt i64 %i.next, {nev}",
              "  br i1 %more, label %loop, label %done",
              "done:",
              "  br i1 %any.next, label %look.out, label %commit",
              "look.out:", "  ret i64 2",
              "commit:",
              f"  %from = getelementptr double, ptr %ev, i64 {off['NEXT_SIGN']}",
              f"  call void @llvm.memcpy.p0.p0.i64(ptr %ev, ptr %from, i64 {nev * 8}, i1 false)",
              "  %code = zext i1 %anynt.next to i64",
              "  ret i64 %code", "}"]
    # The direction's index, defined in the loop header (the mono block uses it).
    header = lines.index("  %rowp = getelementptr double, ptr %tc, i64 %row")
    lines.insert(header + 1, f"  %i.dir = add i64 %i, {off['DIRECTION']}")
    return "\n".join(lines)


def declare_needs(module: ir.Module) -> None:
    """Declare (once) the intrinsics and libm functions the driver calls."""
    d = h.DOUBLE
    for base, nargs in (("llvm.fabs", 1), ("llvm.maxnum", 2), ("llvm.minnum", 2), ("llvm.fma", 3)):
        h.intrinsic(module, base, d, nargs)
    h.external(module, "pow", d, [d, d])
    h.external(module, "llvm.memcpy.p0.p0.i64", ir.VoidType(), [h.PTR, h.PTR, h.I64, ir.IntType(1)])


def propagate_text(name: str, step_size: str, horner: str) -> str:
    """``void @name(state, tc, pars, dv, iv, grid, gout, cbuf)``: the propagation loop.

    See the module docstring for the control blocks. The integrator's own code comes in
    through ``iv``: the addresses of its jet (``JET``) and event test (``EXCLUSION``, with
    ``NEV`` events), and its sizes (``DIM``, ``ORDER``, ``COMPENSATED``). ``cbuf`` receives,
    per step, the start time (two doubles), the signed step size and the state rows of ``tc``.

    With events, each step runs the exclusion test after the jet. When only non-terminal events
    fire, each at a simple root it located, the loop takes the step and returns
    ``Code.EVENT_TAKEN`` (Python runs the callbacks and calls again). When it needs Python first,
    the loop returns ``Code.EVENT`` before changing anything, with the step it would take in
    ``dv[PENDING_H]`` (and whether the tolerance or a limit chose it). Python locates the roots
    on ``tc`` and calls again with ``iv[RESUME] = 1`` and the step to take (shortened to a
    terminal event): the loop then takes that step without recomputing the jet.
    """
    dv, iv = DV, IV
    return f"""
define void @{name}(ptr noalias %state, ptr noalias %tc, ptr noalias %pars, ptr noalias %dv,
                    ptr noalias %iv, ptr noalias %grid, ptr noalias %gout, ptr noalias %cbuf) {{
entry:
  %dim.p = getelementptr i64, ptr %iv, i64 {iv.DIM}
  %dim = load i64, ptr %dim.p, align 8
  %order.p = getelementptr i64, ptr %iv, i64 {iv.ORDER}
  %order = load i64, ptr %order.p, align 8
  %nev.p = getelementptr i64, ptr %iv, i64 {iv.NEV}
  %nev = load i64, ptr %nev.p, align 8
  %comp.p = getelementptr i64, ptr %iv, i64 {iv.COMPENSATED}
  %comp.i = load i64, ptr %comp.p, align 8
  %comp = icmp ne i64 %comp.i, 0
  %jet.p = getelementptr i64, ptr %iv, i64 {iv.JET}
  %jet.a = load i64, ptr %jet.p, align 8
  %jet = inttoptr i64 %jet.a to ptr
  %excl.p = getelementptr i64, ptr %iv, i64 {iv.EXCLUSION}
  %excl.a = load i64, ptr %excl.p, align 8
  %excl = inttoptr i64 %excl.a to ptr
  %with.events = icmp sgt i64 %nev, 0
  %s = add i64 %order, 1
  %tc.size = mul i64 %dim, %s
  %record = add i64 %tc.size, 3
  %tc.bytes = mul i64 %tc.size, 8
  %newstate = alloca double, i64 %dim, align 64
  %evs = getelementptr double, ptr %dv, i64 {dv.SIZE}
  %resume.p = getelementptr i64, ptr %iv, i64 {iv.RESUME}
  %t_hi.p = getelementptr double, ptr %dv, i64 {dv.T_HI}
  %t_lo.p = getelementptr double, ptr %dv, i64 {dv.T_LO}
  %tf_hi.p = getelementptr double, ptr %dv, i64 {dv.TF_HI}
  %tf_lo.p = getelementptr double, ptr %dv, i64 {dv.TF_LO}
  %maxdt.p = getelementptr double, ptr %dv, i64 {dv.MAX_DT}
  %dir.p = getelementptr double, ptr %dv, i64 {dv.DIR}
  %minh.p = getelementptr double, ptr %dv, i64 {dv.MIN_H}
  %maxh.p = getelementptr double, ptr %dv, i64 {dv.MAX_H}
  %lasth.p = getelementptr double, ptr %dv, i64 {dv.LAST_H}
  %maxsteps.p = getelementptr i64, ptr %iv, i64 {iv.MAX_STEPS}
  %nsteps.p = getelementptr i64, ptr %iv, i64 {iv.NSTEPS}
  %outcome.p = getelementptr i64, ptr %iv, i64 {iv.OUTCOME}
  %flags.p = getelementptr i64, ptr %iv, i64 {iv.FLAGS}
  %gn.p = getelementptr i64, ptr %iv, i64 {iv.GRID_N}
  %gi.p = getelementptr i64, ptr %iv, i64 {iv.GRID_I}
  %ccap.p = getelementptr i64, ptr %iv, i64 {iv.C_CAP}
  %ccount.p = getelementptr i64, ptr %iv, i64 {iv.C_COUNT}
  %tf_hi = load double, ptr %tf_hi.p, align 8
  %tf_lo = load double, ptr %tf_lo.p, align 8
  %maxdt = load double, ptr %maxdt.p, align 8
  %dir = load double, ptr %dir.p, align 8
  %maxsteps = load i64, ptr %maxsteps.p, align 8
  %flags = load i64, ptr %flags.p, align 8
  %gn = load i64, ptr %gn.p, align 8
  %ccap = load i64, ptr %ccap.p, align 8
  %f.cout = and i64 %flags, {Flags.C_OUTPUT}
  %want.cout = icmp ne i64 %f.cout, 0
  %f.grid = and i64 %flags, {Flags.GRID}
  %want.grid = icmp ne i64 %f.grid, 0
  %f.one = and i64 %flags, {Flags.ONE_STEP}
  %one.step = icmp ne i64 %f.one, 0
  %limited = icmp ne i64 %maxsteps, 0
  br label %check

check:
  %nsteps = load i64, ptr %nsteps.p, align 8
  %at.limit = icmp sge i64 %nsteps, %maxsteps
  %stop.steps = and i1 %limited, %at.limit
  br i1 %stop.steps, label %exit.step_limit, label %remaining

remaining:
  %t_hi = load double, ptr %t_hi.p, align 8
  %t_lo = load double, ptr %t_lo.p, align 8
  %rem.hi = fsub double %tf_hi, %t_hi
  %rem.lo = fsub double %tf_lo, %t_lo
  %rem = fadd double %rem.hi, %rem.lo
  %absrem = fmul double %rem, %dir
  %go = fcmp ogt double %absrem, 0.0
  br i1 %go, label %capacity, label %exit.time_limit

capacity:
  %ccount = load i64, ptr %ccount.p, align 8
  %full = icmp sge i64 %ccount, %ccap
  %stop.full = and i1 %want.cout, %full
  br i1 %stop.full, label %exit.buffer_full, label %copy

copy:
  %ci = phi i64 [ 0, %capacity ], [ %ci.next, %copy ]
  %cs.p = getelementptr double, ptr %state, i64 %ci
  %cs = load double, ptr %cs.p, align 8
  %ct.i = mul i64 %ci, %s
  %ct.p = getelementptr double, ptr %tc, i64 %ct.i
  store double %cs, ptr %ct.p, align 8
  %ci.next = add i64 %ci, 1
  %ci.more = icmp slt i64 %ci.next, %dim
  br i1 %ci.more, label %copy, label %jet.or.resume

jet.or.resume:
  %resume = load i64, ptr %resume.p, align 8
  %is.resume = icmp ne i64 %resume, 0
  br i1 %is.resume, label %resumed, label %fresh
fresh:
  call void %jet(ptr %tc, ptr %pars, double %t_hi)
  %hmag = call double @{step_size}(ptr %tc, ptr %dv, i64 %dim, i64 %order, i64 %nev)
  %by.time.f = fcmp ole double %absrem, %maxdt
  %hlim = select i1 %by.time.f, double %absrem, double %maxdt
  %free.f = fcmp olt double %hmag, %hlim
  %habs.f = select i1 %free.f, double %hmag, double %hlim
  %h.f = fmul double %habs.f, %dir
  br i1 %with.events, label %exclude, label %take
exclude:
  %look = call i64 %excl(ptr %tc, double %h.f, ptr %evs)
  %taken.x = icmp eq i64 %look, 1
  %needs.python = icmp eq i64 %look, 2
  br i1 %needs.python, label %exit.event, label %take
exit.event:
  %ph.p = getelementptr double, ptr %dv, i64 {dv.PENDING_H}
  store double %h.f, ptr %ph.p, align 8
  %pf = zext i1 %free.f to i64
  %pf.p = getelementptr i64, ptr %iv, i64 {iv.PENDING_FREE}
  store i64 %pf, ptr %pf.p, align 8
  %pb = zext i1 %by.time.f to i64
  %pb.p = getelementptr i64, ptr %iv, i64 {iv.PENDING_BY_TIME}
  store i64 %pb, ptr %pb.p, align 8
  store i64 {Code.EVENT}, ptr %outcome.p, align 8
  ret void
resumed:
  store i64 0, ptr %resume.p, align 8
  %rh.p = getelementptr double, ptr %dv, i64 {dv.PENDING_H}
  %h.r = load double, ptr %rh.p, align 8
  %habs.r = call double @llvm.fabs.f64(double %h.r)
  %rf.p = getelementptr i64, ptr %iv, i64 {iv.PENDING_FREE}
  %rf = load i64, ptr %rf.p, align 8
  %free.r = icmp ne i64 %rf, 0
  %rb.p = getelementptr i64, ptr %iv, i64 {iv.PENDING_BY_TIME}
  %rb = load i64, ptr %rb.p, align 8
  %by.time.r = icmp ne i64 %rb, 0
  br label %take
take:
  %h = phi double [ %h.f, %fresh ], [ %h.f, %exclude ], [ %h.r, %resumed ]
  %habs = phi double [ %habs.f, %fresh ], [ %habs.f, %exclude ], [ %habs.r, %resumed ]
  %free = phi i1 [ %free.f, %fresh ], [ %free.f, %exclude ], [ %free.r, %resumed ]
  %by.time = phi i1 [ %by.time.f, %fresh ], [ %by.time.f, %exclude ], [ %by.time.r, %resumed ]
  %ev.taken = phi i1 [ false, %fresh ], [ %taken.x, %exclude ], [ false, %resumed ]
  %finite = call i1 @{horner}(ptr %tc, double %h, ptr %newstate, i64 %dim, i64 %order, i1 %comp)
  br i1 %finite, label %commit, label %exit.nf_state

commit:
  %ni = phi i64 [ 0, %take ], [ %ni.next, %commit ]
  %ns.p = getelementptr double, ptr %newstate, i64 %ni
  %ns = load double, ptr %ns.p, align 8
  %st.p = getelementptr double, ptr %state, i64 %ni
  store double %ns, ptr %st.p, align 8
  %ni.next = add i64 %ni, 1
  %ni.more = icmp slt i64 %ni.next, %dim
  br i1 %ni.more, label %commit, label %advance

advance:
  %s1 = fadd double %t_hi, %h
  %bv = fsub double %s1, %t_hi
  %av = fsub double %s1, %bv
  %ea = fsub double %t_hi, %av
  %eb = fsub double %h, %bv
  %e1 = fadd double %ea, %eb
  %lo1 = fadd double %t_lo, %e1
  %hi2 = fadd double %s1, %lo1
  %z = fsub double %hi2, %s1
  %lo2 = fsub double %lo1, %z
  %not.free = xor i1 %free, true
  %reached = and i1 %not.free, %by.time
  %new_hi = select i1 %reached, double %tf_hi, double %hi2
  %new_lo = select i1 %reached, double %tf_lo, double %lo2
  store double %new_hi, ptr %t_hi.p, align 8
  store double %new_lo, ptr %t_lo.p, align 8
  %moved = fcmp une double %h, 0.0
  %counted = zext i1 %moved to i64
  %nsteps.next = add i64 %nsteps, %counted
  store i64 %nsteps.next, ptr %nsteps.p, align 8
  %minh = load double, ptr %minh.p, align 8
  %maxh = load double, ptr %maxh.p, align 8
  %minh.cand = call double @llvm.minnum.f64(double %minh, double %habs)
  %maxh.cand = call double @llvm.maxnum.f64(double %maxh, double %habs)
  %minh.next = select i1 %free, double %minh.cand, double %minh
  %maxh.next = select i1 %free, double %maxh.cand, double %maxh
  store double %minh.next, ptr %minh.p, align 8
  store double %maxh.next, ptr %maxh.p, align 8
  store double %h, ptr %lasth.p, align 8
  br i1 %want.cout, label %store.cout, label %after.cout

store.cout:
  %rec.i = mul i64 %ccount, %record
  %rec.p = getelementptr double, ptr %cbuf, i64 %rec.i
  store double %t_hi, ptr %rec.p, align 8
  %rec.p1 = getelementptr double, ptr %rec.p, i64 1
  store double %t_lo, ptr %rec.p1, align 8
  %rec.p2 = getelementptr double, ptr %rec.p, i64 2
  store double %h, ptr %rec.p2, align 8
  %rec.p3 = getelementptr double, ptr %rec.p, i64 3
  call void @llvm.memcpy.p0.p0.i64(ptr %rec.p3, ptr %tc, i64 %tc.bytes, i1 false)
  %ccount.next = add i64 %ccount, 1
  store i64 %ccount.next, ptr %ccount.p, align 8
  br label %after.cout

after.cout:
  br i1 %want.grid, label %grid.check, label %after.grid

grid.check:
  %gi = load i64, ptr %gi.p, align 8
  %g.more = icmp slt i64 %gi, %gn
  br i1 %g.more, label %grid.point, label %after.grid
grid.point:
  %g.p = getelementptr double, ptr %grid, i64 %gi
  %g = load double, ptr %g.p, align 8
  %g.end.hi = fsub double %g, %new_hi
  %g.end = fsub double %g.end.hi, %new_lo
  %g.dir = fmul double %g.end, %dir
  %g.later = fcmp ogt double %g.dir, 0.0
  br i1 %g.later, label %after.grid, label %grid.eval
grid.eval:
  %g.d.hi = fsub double %g, %t_hi
  %g.d = fsub double %g.d.hi, %t_lo
  %g.row = mul i64 %gi, %dim
  %g.out = getelementptr double, ptr %gout, i64 %g.row
  %g.ok = call i1 @{horner}(ptr %tc, double %g.d, ptr %g.out, i64 %dim, i64 %order, i1 %comp)
  %gi.next = add i64 %gi, 1
  store i64 %gi.next, ptr %gi.p, align 8
  br label %grid.check

after.grid:
  %stop.here = or i1 %one.step, %ev.taken
  br i1 %stop.here, label %exit.one, label %after.one
exit.one:
  %one.code = select i1 %free, i64 {Code.SUCCESS}, i64 {Code.TIME_LIMIT}
  %pf.one = zext i1 %free to i64
  %pf.one.p = getelementptr i64, ptr %iv, i64 {iv.PENDING_FREE}
  store i64 %pf.one, ptr %pf.one.p, align 8
  %exit.code = select i1 %ev.taken, i64 {Code.EVENT_TAKEN}, i64 %one.code
  store i64 %exit.code, ptr %outcome.p, align 8
  ret void
after.one:
  br i1 %reached, label %exit.time_limit, label %check

exit.step_limit:
  store i64 {Code.STEP_LIMIT}, ptr %outcome.p, align 8
  ret void
exit.time_limit:
  store i64 {Code.TIME_LIMIT}, ptr %outcome.p, align 8
  ret void
exit.buffer_full:
  store i64 {Code.BUFFER_FULL}, ptr %outcome.p, align 8
  ret void
exit.nf_state:
  store i64 {Code.NF_STATE}, ptr %outcome.p, align 8
  ret void
}}
"""


def jet_entry_text(name: str, jet: str) -> str:
    """``void @name(ptr tc, ptr pars, ptr time)``: the jet alone (tests, ``write_tc``)."""
    return f"""
define void @{name}(ptr noalias %tc, ptr noalias %pars, ptr noalias %time) {{
entry:
  %t = load double, ptr %time, align 8
  call void @{jet}(ptr %tc, ptr %pars, double %t)
  ret void
}}
"""


def kernel_text(prefix: str, jet: str, dim: int, order: int, helpers: ir.Module, nev: int = 0,
                nterminal: int = 0) -> str:
    """The integrator's own functions besides its jet ``@jet`` (exported, defined apart): the
    jet entry ``@{prefix}jet`` (tests, ``write_tc``) and, with events, the event test
    ``@{prefix}exclusion`` that the shared loop calls; their declarations go into ``helpers``."""
    declare_needs(helpers)
    parts = [jet_entry_text(f"{prefix}jet", jet)]
    if nev:
        root = "taylorjit.event_root"
        parts += [exclusion_text(f"{prefix}exclusion", root, dim, nev, nterminal, order),
                  event_root_text(root, order)]
    return "\n".join(parts)


def driver_ir(prefix: str) -> str:
    """The module of the shared driver: ``@{prefix}propagate`` with its step-size and Horner
    functions, for every dimension, order and event count."""
    helpers = ir.Module(name="taylorjit.driver")
    declare_needs(helpers)
    step_size, horner = "taylorjit.step_size", "taylorjit.horner"
    return "\n".join([str(helpers), step_size_text(step_size), horner_text(horner),
                      propagate_text(f"{prefix}propagate", step_size, horner)])


#: The shared driver's optimisation level (it is compiled once per process and machine).
_DRIVER_SPEED = 3


@cache
def native_driver() -> tuple[CompiledModule, int, Callable[..., None] | None]:
    """The shared driver (compiled, or loaded from the disk cache, once per process), the
    address of its ``propagate``, and the caller of ``propagate``'s shape (8 arrays,
    :func:`~taylorjit._jit.runtime.array_caller`).

    NOTE: the loop, the step size and the state update read the dimension and the order at run
    time, so one compilation serves every integrator: when each had its own, they cost 9-15 ms
    of every cold construction (a fifth of the pendulum's and Lorenz's), for the same per-step
    speed. The caller is compiled into the driver's module: a new process loads one object
    fewer (0.1 ms of its first construction).
    """
    module, callers = compile_with_callers(repr(("taylor-driver", _HORNER_LANES, _HORNER_VECTORS)),
                                           driver_ir, ((8, 0),), speed_level=_DRIVER_SPEED)
    return module, module.address(module.prefix + "propagate"), callers.get((8, 0))
