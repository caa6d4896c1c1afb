"""Small IR-building helpers over ``llvmlite.ir.IRBuilder``: loops, splats, intrinsics, lanes.

Code generators use these instead of raw block plumbing. Everything here works for scalar
``double`` and for ``<W x double>`` vectors alike, so scalar code is batch code with width 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

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


def splat(builder: ir.IRBuilder, scalar: ir.Value, t: ir.Type) -> ir.Value:
    """Broadcast a scalar double to every lane of ``t`` (identity for scalar ``t``)."""
    if not isinstance(t, ir.VectorType):
        return scalar
    one = builder.insert_element(ir.Constant(t, ir.Undefined), scalar, ir.Constant(ir.IntType(32), 0))
    mask = ir.Constant(ir.VectorType(ir.IntType(32), t.count), [0] * t.count)
    return builder.shuffle_vector(one, ir.Constant(t, ir.Undefined), mask)


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


@contextmanager
def for_range(builder: ir.IRBuilder, start: ir.Value, stop: ir.Value, step: int = 1,
              name: str = "i") -> Iterator[ir.Value]:
    """``for i in range(start, stop, step)`` (``step > 0``); yields the loop index.

    The body is emitted inside the ``with`` block; afterwards the builder sits after the loop.
    """
    pre = builder.block
    cond_bb = builder.append_basic_block(f"{name}.cond")
    body_bb = builder.append_basic_block(f"{name}.body")
    end_bb = builder.append_basic_block(f"{name}.end")
    builder.branch(cond_bb)
    builder.position_at_end(cond_bb)
    index = builder.phi(start.type, name=name)
    index.add_incoming(start, pre)
    builder.cbranch(builder.icmp_signed("<", index, stop), body_bb, end_bb)
    builder.position_at_end(body_bb)
    yield index
    nxt = builder.add(index, ir.Constant(start.type, step))
    index.add_incoming(nxt, builder.block)
    builder.branch(cond_bb)
    builder.position_at_end(end_bb)


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
