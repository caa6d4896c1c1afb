"""The runtime library: the heavy primitives compiled once per process and SIMD width.

Vector exp/log/sin/cos, the libm lane loops (tan, erf, ...), general ``pow`` and the Kepler
solver are each 50-300 instructions. Compiling them into every kernel tripled the compile time of
trigonometric expressions, so, like heyoka with SLEEF, kernels call them as external functions
``taylorjit.rt.<name>.w<W>``: this module compiles one library per width (through the JIT
context, so it is disk-cached like any kernel: about a millisecond to load in a new process)
and registers its symbols with LLVM, which then resolves them in every kernel it links.
"""

from __future__ import annotations

import threading

import llvmlite.binding as llvm
from llvmlite import ir

from .._expr import PRIMITIVES
from . import irhelpers as h
from .context import CompiledModule, jit_context
from .lower import in_runtime, lower_call, runtime_symbol

__all__ = ["ensure_runtime"]

_lock = threading.Lock()
_loaded: dict[int, CompiledModule] = {}


def _runtime_primitives() -> list:
    return sorted((p for p in PRIMITIVES.values() if in_runtime(p)), key=lambda p: p.name)


def _runtime_ir(width: int, prefix: str) -> str:
    # NOTE: runtime symbols keep their fixed names (kernels refer to them by name); they are
    # unique per width, and each width's library is loaded once per process.
    ctx = jit_context()
    module = ir.Module(name=f"taylorjit.runtime.w{width}")
    module.triple = ctx.triple
    module.data_layout = ctx.data_layout
    t = h.vector_type(width)
    for prim in _runtime_primitives():
        fn = ir.Function(module, ir.FunctionType(t, [t] * prim.arity), runtime_symbol(prim.name, width))
        builder = ir.IRBuilder(fn.append_basic_block("entry"))
        builder.ret(lower_call(builder, prim, list(fn.args)))
    return str(module)


def ensure_runtime(width: int) -> None:
    """Compile (or load) the runtime library for ``width`` and register its symbols, once."""
    if width in _loaded:
        return
    with _lock:
        if width in _loaded:
            return
        names = [runtime_symbol(p.name, width) for p in _runtime_primitives()]
        module = jit_context().compile(repr(("runtime", width, names)),
                                       lambda prefix: _runtime_ir(width, prefix), speed_level=3)
        for name in names:
            llvm.add_symbol(name, module.address(name))
        _loaded[width] = module  # kept for the life of the process: kernels call into it
