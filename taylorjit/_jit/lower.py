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
from typing import Any

from llvmlite import ir

from .._expr import Call, Num
from . import irhelpers as h
from .textir import TextBody, double_literal

try:  # the SIMD math library is optional: without it, LLVM's intrinsics (libm calls) are used
    from . import vecmath as _vecmath
except ImportError:  # pragma: no cover - only while vecmath is being developed
    _vecmath = None

_INSTRUCTIONS: dict[str, Callable[[ir.IRBuilder, Sequence[ir.Value]], ir.Value]] = {
    "fadd": lambda b, a: b.fadd(a[0], a[1]),
    "fsub": lambda b, a: b.fsub(a[0], a[1]),
    "fmul": lambda b, a: b.fmul(a[0], a[1]),
    "fdiv": lambda b, a: b.fdiv(a[0], a[1]),
    "fneg": lambda b, a: b.fneg(a[0]),
    "square": lambda b, a: b.fmul(a[0], a[0]),
}


def lower_call(builder: ir.IRBuilder, prim: Any, args: Sequence[ir.Value],
               exponent: Num | None = None) -> ir.Value:
    """IR computing ``prim`` of ``args`` (scalar or vector values), with llvmlite's builder.

    ``exponent`` is pow's exponent when it is a number (small integers and half-integers are
    then multiplied out); None gives the general lowering.
    """
    kind = prim.lowering
    if kind in _INSTRUCTIONS:
        return _INSTRUCTIONS[kind](builder, args)
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
        return _CUSTOM[name](builder, args, exponent)
    raise NotImplementedError(f"unknown lowering kind {kind!r} for {prim.name}")


def lower_call_linked(builder: ir.IRBuilder, prim: Any, args: Sequence[ir.Value],
                      exponent: Num | None = None) -> ir.Value:
    """Like :func:`lower_call`, but primitives of the runtime library are called there (as
    :func:`lower_text` does) instead of being emitted inline."""
    inline_pow = isinstance(exponent, Num) and _multiplied_out(exponent) is not None
    if in_runtime(prim) and not inline_pow:
        t = args[0].type
        fn = h.external(builder.module, runtime_symbol(prim.name, h.width_of(t)), t, [t] * len(args))
        return builder.call(fn, list(args))
    return lower_call(builder, prim, args, exponent)


def in_runtime(prim: Any) -> bool:
    """Whether ``prim``'s general lowering lives in the runtime library (not inline)."""
    return prim.lowering.partition(":")[0] in ("vecmath", "libm", "ir")


_TEXT_BINARY = {"fadd": "fadd", "fsub": "fsub", "fmul": "fmul", "fdiv": "fdiv"}


def lower_text(body: TextBody, module: ir.Module, node: Call, args: list[str]) -> str:
    """Text IR for the value of ``node`` (see ``textir``).

    Plain instructions and intrinsics are written inline; pow by a small number is an
    always-inline helper; everything else calls the runtime library (``runtime.py``), declared
    in ``module``: one compiled copy per process, so kernels never recompile a vector sine.
    """
    prim = node.prim
    kind = prim.lowering  # type: ignore[attr-defined]
    if kind in _TEXT_BINARY:
        return body.binary(_TEXT_BINARY[kind], args[0], args[1])
    if kind == "fneg":
        return body.neg(args[0])
    if kind == "square":
        return body.binary("fmul", args[0], args[0])
    t = h.vector_type(body.width)
    if kind.startswith("intrinsic:"):
        return body.call(h.intrinsic(module, kind.partition(":")[2], t, len(args)).name, args)
    exponent = node.args[1] if prim.name == "pow" else None
    if isinstance(exponent, Num) and _multiplied_out(exponent) is not None:
        return body.call(_inline_power(module, exponent, t).name, args)
    name = runtime_symbol(prim.name, body.width)
    return body.call(h.external(module, name, t, [t] * len(args)).name, args)


def runtime_symbol(prim_name: str, width: int) -> str:
    """The runtime library's symbol for primitive ``prim_name`` at SIMD ``width``."""
    return f"taylorjit.rt.{prim_name}.w{width}"


def _inline_power(module: ir.Module, exponent: Num, t: ir.Type) -> ir.Function:
    """An always-inline ``x**exponent`` by multiplication, once per module and exponent."""
    name = f"taylorjit.pow.w{h.width_of(t)}.{double_literal(float(exponent.value))}"
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    fn = ir.Function(module, ir.FunctionType(t, [t, t]), name)
    fn.linkage = "internal"
    fn.attributes.add("alwaysinline")
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    builder.ret(_emit_pow(builder, list(fn.args), exponent))
    return fn


# --- pow ---------------------------------------------------------------------------------------
#: Integer and half-integer exponents up to this size are multiplied out (max error measured
#: against libm pow: 4 ulp at |n| = 5, 5 ulp at 7, 11 at 16); larger ones call libm pow.
_MAX_UNROLLED_POWER = 5.5


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


def _multiplied_out(exponent: Num) -> Fraction | None:
    """The exponent as a Fraction if ``x**exponent`` is lowered by multiplication, else None."""
    if not math.isfinite(exponent.value):
        return None
    v = Fraction(exponent.value)
    return v if v.denominator in (1, 2) and abs(v) <= _MAX_UNROLLED_POWER else None


def _emit_pow(builder: ir.IRBuilder, args: Sequence[ir.Value], exponent: Num | None) -> ir.Value:
    """Small integer and half-integer exponents by multiplication (and one sqrt, <= 4 ulp);
    anything else by libm pow, lane by lane."""
    x, y = args
    if exponent is not None:
        v = _multiplied_out(exponent)
        if v is not None:
            if v == 0:  # C99: pow(x, 0) = 1 for every x, NaN included
                return h.constant(x.type, 1.0)
            whole = abs(v.numerator) // v.denominator
            if v.denominator == 2:
                # C99 pow: (-0)**y and (-inf)**y behave as for +0 and +inf when y is not an
                # integer; sqrt alone would give -0 and nan there.
                fabs = h.intrinsic(builder.module, "llvm.fabs", x.type)
                special = builder.or_(builder.fcmp_ordered("==", x, h.constant(x.type, 0.0)),
                                      builder.fcmp_ordered("==", x, h.constant(x.type, -math.inf)))
                x = builder.select(special, builder.call(fabs, [x]), x)
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
def _sincos(builder: ir.IRBuilder, x: ir.Value) -> tuple[ir.Value, ir.Value]:
    emit = getattr(_vecmath, "emit_sincos", None) if _vecmath is not None else None
    if emit is not None:
        return emit(builder, x)
    module = builder.module
    sin = h.external(module, "sin", h.DOUBLE, [h.DOUBLE])
    cos = h.external(module, "cos", h.DOUBLE, [h.DOUBLE])
    return h.per_lane(builder, sin, [x]), h.per_lane(builder, cos, [x])


def _any_lane(builder: ir.IRBuilder, mask: ir.Value) -> ir.Value:
    """True if any lane of an i1 (vector) mask is set."""
    if not isinstance(mask.type, ir.VectorType):
        return mask
    bits = builder.bitcast(mask, ir.IntType(mask.type.count))
    return builder.icmp_unsigned("!=", bits, ir.Constant(bits.type, 0))


def _kepler_solver_body(builder: ir.IRBuilder, fn: ir.Function) -> None:
    """``E - e sin E = M`` on all lanes at once: the iteration of the numpy reference
    (``taylorjit._primitives.special.kepler_eccentric_anomaly``), vectorised: converged lanes
    freeze, the loop ends when no lane is active (or after 100 iterations)."""
    e, M = fn.args
    t = e.type
    module = builder.module
    fabs = h.intrinsic(module, "llvm.fabs", t)
    rint = h.intrinsic(module, "llvm.rint", t)
    c = lambda v: h.constant(t, v)  # noqa: E731
    b = builder
    two_pi, pi = c(2 * math.pi), c(math.pi)
    valid = b.and_(b.and_(b.fcmp_ordered(">=", e, c(0.0)), b.fcmp_ordered("<", e, c(1.0))),
                   b.fcmp_ordered("==", b.fsub(M, M), c(0.0)))
    reduce = b.fcmp_unordered(">", b.call(fabs, [M]), pi)
    turns = b.select(reduce, b.call(rint, [b.fdiv(M, two_pi)]), c(0.0))
    mr = b.select(valid, b.fsub(M, b.fmul(turns, two_pi)), c(0.0))
    ev = b.select(valid, e, c(0.0))
    start = b.fadd(mr, b.fmul(ev, _sincos(b, mr)[0]))
    active0 = b.fcmp_ordered("!=", ev, c(0.0))
    entry = b.block
    loop = b.append_basic_block("newton")
    done_bb = b.append_basic_block("done")
    b.cbranch(_any_lane(b, active0), loop, done_bb)
    b.position_at_end(loop)
    E, lo, hi = b.phi(t), b.phi(t), b.phi(t)
    active = b.phi(active0.type)
    it = b.phi(h.I64)
    for phi, init in ((E, start), (lo, c(-math.pi)), (hi, pi), (active, active0),
                      (it, ir.Constant(h.I64, 0))):
        phi.add_incoming(init, entry)
    sin_e, cos_e = _sincos(b, E)
    f = b.fsub(b.fsub(E, b.fmul(ev, sin_e)), mr)
    positive = b.fcmp_ordered(">", f, c(0.0))
    new_hi = b.select(positive, E, hi)
    new_lo = b.select(positive, lo, E)
    newton = b.fsub(E, b.fdiv(f, b.fsub(c(1.0), b.fmul(ev, cos_e))))
    inside = b.and_(b.fcmp_ordered(">=", newton, new_lo), b.fcmp_ordered("<=", newton, new_hi))
    new = b.select(inside, newton, b.fmul(c(0.5), b.fadd(new_lo, new_hi)))
    abs_e = b.call(fabs, [E])
    scale = b.select(b.fcmp_ordered(">", abs_e, c(1.0)), abs_e, c(1.0))
    abs_mr = b.call(fabs, [mr])
    residual_scale = b.select(b.fcmp_ordered(">", abs_mr, c(1.0)), abs_mr, c(1.0))
    converged = b.or_(
        b.fcmp_ordered("<=", b.call(fabs, [b.fsub(new, E)]), b.fmul(c(4 * 2.0**-52), scale)),
        b.fcmp_ordered("<=", b.call(fabs, [f]), b.fmul(c(2 * 2.0**-52), residual_scale)))
    new_E = b.select(active, new, E)
    new_active = b.and_(active, b.not_(converged))
    next_it = b.add(it, ir.Constant(h.I64, 1))
    more = b.and_(_any_lane(b, new_active), b.icmp_signed("<", next_it, ir.Constant(h.I64, 100)))
    for phi, value in ((E, new_E), (lo, new_lo), (hi, new_hi), (active, new_active),
                       (it, next_it)):
        phi.add_incoming(value, loop)
    b.cbranch(more, loop, done_bb)
    b.position_at_end(done_bb)
    solved = b.phi(t)
    solved.add_incoming(start, entry)
    solved.add_incoming(new_E, loop)
    circular = b.fcmp_ordered("==", ev, c(0.0))
    value = b.select(circular, M, b.fadd(solved, b.fmul(turns, two_pi)))
    b.ret(b.select(valid, value, c(math.nan)))


def _emit_kepE(builder: ir.IRBuilder, args: Sequence[ir.Value], exponent: Num | None) -> ir.Value:
    t = args[0].type
    solver = h.define_function(builder.module, f"taylorjit.kepE.w{h.width_of(t)}", t, [t, t],
                               _kepler_solver_body)
    return builder.call(solver, list(args))


_CUSTOM = {"pow": _emit_pow, "kepE": _emit_kepE}
