"""Lowering of each primitive's value to LLVM IR, as its table entry's ``lowering`` field says.

Kinds: plain instructions (``fadd`` ...), ``intrinsic:NAME`` (LLVM intrinsics that map to vector
instructions), ``vecmath:NAME`` (our SIMD implementations in ``vecmath.py``; LLVM's intrinsic if
that module lacks one), ``libm:NAME`` (the C library, lane by lane) and ``ir:NAME`` (a custom
emitter here: ``pow`` by exponent shape, ``kepE`` by a safeguarded Newton iteration).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction

from llvmlite import ir

from .._expr import Call, Num
from . import irhelpers as h

try:  # the SIMD math library is optional: without it, LLVM's intrinsics (libm calls) are used
    from . import vecmath as _vecmath
except ImportError:  # pragma: no cover - only while vecmath is being developed
    _vecmath = None

Emitter = Callable[[ir.IRBuilder, Call, Sequence[ir.Value]], ir.Value]

_INSTRUCTIONS: dict[str, Emitter] = {
    "fadd": lambda b, n, a: b.fadd(a[0], a[1]),
    "fsub": lambda b, n, a: b.fsub(a[0], a[1]),
    "fmul": lambda b, n, a: b.fmul(a[0], a[1]),
    "fdiv": lambda b, n, a: b.fdiv(a[0], a[1]),
    "fneg": lambda b, n, a: b.fneg(a[0]),
    "square": lambda b, n, a: b.fmul(a[0], a[0]),
}


def lower_call(builder: ir.IRBuilder, node: Call, args: Sequence[ir.Value]) -> ir.Value:
    """IR computing the value of ``node`` from its arguments' values (scalar or vector)."""
    kind = node.prim.lowering  # type: ignore[attr-defined]
    if kind in _INSTRUCTIONS:
        return _INSTRUCTIONS[kind](builder, node, args)
    family, _, name = kind.partition(":")
    module = builder.module
    t = args[0].type
    if family == "intrinsic":
        return builder.call(h.intrinsic(module, name, t, len(args)), list(args))
    if family == "vecmath":
        emit = getattr(_vecmath, f"emit_{name}", None) if _vecmath is not None else None
        if emit is not None:
            return emit(builder, args[0])
        return builder.call(h.intrinsic(module, f"llvm.{name}", t), list(args))
    if family == "libm":
        fn = h.external(module, name, h.DOUBLE, [h.DOUBLE] * len(args))
        return h.per_lane(builder, fn, list(args))
    if family == "ir":
        return _CUSTOM[name](builder, node, args)
    raise NotImplementedError(f"unknown lowering kind {kind!r} for {node.prim.name}")


# --- pow ---------------------------------------------------------------------------------------
_MAX_UNROLLED_POWER = 64


def _power_by_squaring(builder: ir.IRBuilder, x: ir.Value, n: int) -> ir.Value:
    """``x**n`` for ``n >= 1`` with about ``2 log2(n)`` multiplications."""
    result = None
    base = x
    while n:
        if n & 1:
            result = base if result is None else builder.fmul(result, base)
        n >>= 1
        if n:
            base = builder.fmul(base, base)
    return result


def _emit_pow(builder: ir.IRBuilder, node: Call, args: Sequence[ir.Value]) -> ir.Value:
    """Integer and half-integer exponents by multiplication (and one sqrt); else libm pow."""
    x, y = args
    exponent = node.args[1]
    if isinstance(exponent, Num):
        v = Fraction(exponent.value) if math.isfinite(exponent.value) else None
        if v is not None and v.denominator in (1, 2) and abs(v) <= _MAX_UNROLLED_POWER:
            whole = abs(v.numerator) // v.denominator
            parts = []
            if whole:
                parts.append(_power_by_squaring(builder, x, whole))
            if v.denominator == 2:
                parts.append(builder.call(h.intrinsic(builder.module, "llvm.sqrt", x.type), [x]))
            result = parts[0] if len(parts) == 1 else builder.fmul(parts[0], parts[1])
            if v < 0:
                result = builder.fdiv(h.constant(x.type, 1.0), result)
            return result
    fn = h.external(builder.module, "pow", h.DOUBLE, [h.DOUBLE, h.DOUBLE])
    return h.per_lane(builder, fn, [x, y])


# --- kepE --------------------------------------------------------------------------------------
def _kepler_solver_body(builder: ir.IRBuilder, fn: ir.Function) -> None:
    """Scalar ``E - e sin E = M``: the same safeguarded Newton iteration as the numpy reference
    (``taylorjit._primitives.special.kepler_eccentric_anomaly``)."""
    e, M = fn.args
    d = h.DOUBLE
    module = builder.module
    sin = h.external(module, "sin", d, [d])
    cos = h.external(module, "cos", d, [d])
    floor = h.intrinsic(module, "llvm.floor", d)
    fabs = h.intrinsic(module, "llvm.fabs", d)
    c = lambda v: ir.Constant(d, v)  # noqa: E731
    two_pi = c(2 * math.pi)
    finite_m = builder.fcmp_ordered("==", builder.fsub(M, M), c(0.0))
    valid = builder.and_(builder.and_(builder.fcmp_ordered(">=", e, c(0.0)),
                                      builder.fcmp_ordered("<", e, c(1.0))), finite_m)
    nan = c(math.nan)
    turns = builder.call(floor, [builder.fdiv(M, two_pi)])
    mr = builder.fsub(M, builder.fmul(turns, two_pi))
    start = builder.select(builder.fcmp_ordered(">", e, c(0.8)), c(math.pi), mr)
    entry = builder.block
    loop = builder.append_basic_block("newton")
    done_bb = builder.append_basic_block("done")
    builder.cbranch(builder.and_(valid, builder.fcmp_ordered("!=", e, c(0.0))), loop, done_bb)
    builder.position_at_end(loop)
    E = builder.phi(d)
    lo = builder.phi(d)
    hi = builder.phi(d)
    it = builder.phi(h.I64)
    E.add_incoming(start, entry)
    lo.add_incoming(c(0.0), entry)
    hi.add_incoming(two_pi, entry)
    it.add_incoming(ir.Constant(h.I64, 0), entry)
    f = builder.fsub(builder.fsub(E, builder.fmul(e, builder.call(sin, [E]))), mr)
    positive = builder.fcmp_ordered(">", f, c(0.0))
    new_hi = builder.select(positive, E, hi)
    new_lo = builder.select(positive, lo, E)
    slope = builder.fsub(c(1.0), builder.fmul(e, builder.call(cos, [E])))
    newton = builder.fsub(E, builder.fdiv(f, slope))
    inside = builder.and_(builder.fcmp_ordered(">", newton, new_lo),
                          builder.fcmp_ordered("<", newton, new_hi))
    bisect = builder.fmul(c(0.5), builder.fadd(new_lo, new_hi))
    new_E = builder.select(inside, newton, bisect)
    scale = builder.select(builder.fcmp_ordered(">", builder.call(fabs, [E]), c(1.0)),
                           builder.call(fabs, [E]), c(1.0))
    small = builder.fcmp_ordered("<=", builder.call(fabs, [builder.fsub(new_E, E)]),
                                 builder.fmul(c(4 * 2.0**-52), scale))
    next_it = builder.add(it, ir.Constant(h.I64, 1))
    more = builder.and_(builder.not_(small), builder.icmp_signed("<", next_it, ir.Constant(h.I64, 100)))
    E.add_incoming(new_E, loop)
    lo.add_incoming(new_lo, loop)
    hi.add_incoming(new_hi, loop)
    it.add_incoming(next_it, loop)
    builder.cbranch(more, loop, done_bb)
    builder.position_at_end(done_bb)
    solved = builder.phi(d)
    solved.add_incoming(mr, entry)  # e == 0 (or invalid, masked below)
    solved.add_incoming(new_E, loop)
    circular = builder.fcmp_ordered("==", e, c(0.0))
    value = builder.select(circular, M, builder.fadd(solved, builder.fmul(turns, two_pi)))
    builder.ret(builder.select(valid, value, nan))


def _emit_kepE(builder: ir.IRBuilder, node: Call, args: Sequence[ir.Value]) -> ir.Value:
    solver = h.define_function(builder.module, "taylorjit.kepE", h.DOUBLE, [h.DOUBLE, h.DOUBLE],
                               _kepler_solver_body)
    return h.per_lane(builder, solver, list(args))


_CUSTOM: dict[str, Emitter] = {"pow": _emit_pow, "kepE": _emit_kepE}
