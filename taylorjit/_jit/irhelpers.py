"""Small IR-building helpers over ``llvmlite.ir.IRBuilder``: types, constants, intrinsics, lanes.

Used by the lowerings built with llvmlite (runtime library, helpers); kernels themselves are
written as text (``textir``). Everything here works for scalar ``double`` and for
``<W x double>`` vectors alike, so scalar code is batch code with width 1.
"""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

DOUBLE = ir.DoubleType()
I64 = ir.IntType(64)
PTR = ir.PointerType()


def vector_type(width: int) -> ir.Type:
    """``double`` for width 1, ``<width x double>`` otherwise."""
    return DOUBLE if width == 1 else ir.VectorType(DOUBLE, width)


def width_of(t: ir.Type) -> int:
    """Number of lanes of a double or double-vector type."""
    return t.count if isinstance(t, ir.VectorType) else 1


def constant(t: ir.Type, value: float) -> ir.Constant:
    """A constant of type ``t`` with every lane equal to ``value``."""
    if isinstance(t, ir.VectorType):
        return ir.Constant(t, [ir.Constant(t.element, value)] * t.count)
    return ir.Constant(t, value)


def intrinsic(module: ir.Module, base: str, t: ir.Type, nargs: int = 1) -> ir.Function:
    """Declare (once) the overloaded intrinsic ``base`` for type ``t``: ``llvm.sqrt.v8f64``."""
    suffix = f"v{t.count}f64" if isinstance(t, ir.VectorType) else "f64"
    return external(module, f"{base}.{suffix}", t, [t] * nargs)


def external(module: ir.Module, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
    """Declare (once) an external function, e.g. libm's ``double tan(double)``."""
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    return ir.Function(module, ir.FunctionType(ret, args), name)


def per_lane(builder: ir.IRBuilder, fn: ir.Function, args: list[ir.Value]) -> ir.Value:
    """Apply a scalar function lane by lane (a plain call for scalar arguments)."""
    t = args[0].type
    if not isinstance(t, ir.VectorType):
        return builder.call(fn, args)
    out = ir.Constant(t, ir.Undefined)
    for lane in range(t.count):
        idx = ir.Constant(ir.IntType(32), lane)
        value = builder.call(fn, [builder.extract_element(a, idx) for a in args])
        out = builder.insert_element(out, value, idx)
    return out


def define_function(module: ir.Module, name: str, ret: ir.Type, args: list[ir.Type],
                    body: Callable[[ir.IRBuilder, ir.Function], None],
                    linkage: str = "internal") -> ir.Function:
    """Define (once) a helper function whose body ``body(builder, fn)`` emits."""
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    fn = ir.Function(module, ir.FunctionType(ret, args), name)
    fn.linkage = linkage
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    body(builder, fn)
    return fn
