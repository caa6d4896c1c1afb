"""The runtime library: the heavy primitives compiled once per process and SIMD width.

Vector exp/log/sin/cos, the libm lane loops (tan, erf, ...), general ``pow`` and the Kepler
solver are each 50-300 instructions. Compiling them into every kernel tripled the compile time of
trigonometric expressions, so, like heyoka with SLEEF, kernels call them as external functions
``taylorjit.rt.<name>.w<W>``: this module compiles one library per width (through the JIT
context, so it is disk-cached like any kernel: about a millisecond to load in a new process)
and registers its symbols with LLVM, which then resolves them in every kernel it links.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from functools import cache

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from .._expr import PRIMITIVES
from . import irhelpers as h
from .context import CompiledModule, jit_context
from .lower import in_runtime, lower_call, runtime_symbol

__all__ = ["ensure_runtime", "array_caller", "KERNEL_ARGS"]

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


# --- calling kernels with numpy arrays ---------------------------------------------------------
KERNEL_ARGS = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
               ctypes.c_int64, ctypes.c_int64, ctypes.c_int64)


def _data_pointer_offset() -> int | None:
    """Byte offset of the data pointer inside a numpy array object, or None if not found.

    numpy's ``PyArrayObject`` starts with the Python object header, then ``char *data``; the
    offset is found and checked on live arrays rather than assumed.
    """
    probes = [np.zeros(3), np.ones((2, 2)), np.empty(1)]
    for offset in range(8, 72, 8):
        if all(ctypes.c_void_p.from_address(id(a) + offset).value == a.ctypes.data
               for a in probes):
            return offset
    return None


#: The callers taylorjit's own kernels use (arrays, ints): one module holds them all, so a new
#: process loads one object for them, not one each.
_COMMON_CALLERS = ((8, 0), (3, 0), (2, 0), (4, 3), (5, 3), (6, 2), (7, 2), (9, 4))


def _caller_name(narrays: int, nints: int) -> str:
    return f"call{narrays}x{nints}"


def _caller_ir(prefix: str, offset: int, shapes: tuple[tuple[int, int], ...]) -> str:
    """One trampoline per ``(narrays, nints)`` in ``shapes`` (see :func:`array_caller`)."""
    out = []
    for narrays, nints in shapes:
        names = [f"a{i}" for i in range(narrays)]
        ints = [f"i{i}" for i in range(nints)]
        params = ", ".join(["ptr %fn"] + [f"ptr %{n}" for n in names] + [f"i64 %{n}" for n in ints])
        lines = [f"define void @{prefix}{_caller_name(narrays, nints)}({params}) {{"]
        for name in names:
            lines += [f"  %{name}.field = getelementptr i8, ptr %{name}, i64 {offset}",
                      f"  %{name}.data = load ptr, ptr %{name}.field, align 8"]
        args = ", ".join([f"ptr %{n}.data" for n in names] + [f"i64 %{n}" for n in ints])
        out += [*lines, f"  call void %fn({args})", "  ret void", "}"]
    return "\n".join(out)


@cache  # kept for the life of the process: the callers call into it
def _callers_module(offset: int, shapes: tuple[tuple[int, int], ...]) -> CompiledModule:
    return jit_context().compile(repr(("array-callers", offset, shapes)),
                                 lambda prefix: _caller_ir(prefix, offset, shapes), speed_level=1)


@cache
def array_caller(narrays: int = 4, nints: int = 3) -> Callable[..., None] | None:
    """``call(address, *arrays, *ints)``: call a native function with numpy arrays.

    The function at ``address`` takes ``narrays`` pointers then ``nints`` i64 values. A native
    trampoline reads each array's data pointer and makes the call, so a call costs one ctypes
    crossing instead of one ``ndarray.ctypes.data`` look-up per array (0.8 us each). The GIL is
    released during the call. The caller guarantees the arrays' dtypes, sizes and contiguity.
    None when the array layout could not be verified (callers then pass pointers themselves).
    """
    offset = _data_pointer_offset()
    if offset is None:
        return None
    shapes = _COMMON_CALLERS if (narrays, nints) in _COMMON_CALLERS else ((narrays, nints),)
    module = _callers_module(offset, shapes)
    fn_type = ctypes.CFUNCTYPE(None, ctypes.c_void_p, *([ctypes.py_object] * narrays),
                               *([ctypes.c_int64] * nints))
    return fn_type(module.address(module.prefix + _caller_name(narrays, nints)))
