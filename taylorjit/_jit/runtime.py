"""The runtime library: the heavy primitives compiled once per process and SIMD width.

Vector exp/log/sin/cos, the libm lane loops (tan, erf, ...), general ``pow`` and the Kepler
solver are each 50-300 instructions. Compiling them into every kernel tripled the compile time of
trigonometric expressions, so, like heyoka with SLEEF, kernels call them as external functions
``taylorjit.rt.<name>.w<W>``: this module compiles one library per width (through the JIT
context, so it is disk-cached like any kernel: about 0.3 ms to load in a new process)
and registers its symbols with the JIT context, which resolves them in every kernel it links
or loads.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from functools import cache

import numpy as np
from llvmlite import ir

from .._expr import PRIMITIVES
from . import irhelpers as h
from .context import CompiledModule, jit_context, process_symbol
from .lower import in_runtime, lower_call, runtime_symbol

__all__ = ["ensure_runtime", "array_caller", "compile_with_callers", "KERNEL_ARGS"]

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
        context = jit_context()
        for name in names:
            context.add_symbol(name, module.address(name))
        _loaded[width] = module  # kept for the life of the process: kernels call into it


# --- calling kernels with numpy arrays ---------------------------------------------------------
KERNEL_ARGS = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
               ctypes.c_int64, ctypes.c_int64, ctypes.c_int64)


@cache
def _data_pointer_offset() -> int | None:
    """Byte offset of the data pointer inside a numpy array object, or None if not found.

    numpy's ``PyArrayObject`` starts with the Python object header, then ``char *data``; the
    offset is found and checked on live arrays rather than assumed.
    """
    arrays = (np.zeros(3), np.ones((2, 2)), np.empty(1))  # (alive while probed)
    probes = [(id(a), a.__array_interface__["data"][0]) for a in arrays]
    for offset in (16, *range(8, 72, 8)):  # (16 in every CPython and numpy so far)
        if all(ctypes.c_void_p.from_address(obj + offset).value == data for obj, data in probes):
            return offset
    return None


#: The callers taylorjit's own kernels use (arrays, ints): one module holds them all, so a new
#: process loads one object for them, not one each.
_COMMON_CALLERS = ((8, 0), (3, 0), (2, 0), (4, 3), (5, 3), (6, 2), (7, 2), (9, 4))


def _caller_name(narrays: int, nints: int) -> str:
    return f"call{narrays}x{nints}"


#: The CPython functions the callers use (stable ABI), resolved by name in every process.
_PYTHON_API = ("PyLong_AsVoidPtr", "PyLong_AsLongLong", "PyErr_Occurred", "PyErr_SetString",
               "PyEval_SaveThread", "PyEval_RestoreThread", "Py_IncRef")


def _caller_ir(prefix: str, offset: int, shapes: tuple[tuple[int, int], ...]) -> str:
    """One trampoline per ``(narrays, nints)`` in ``shapes`` (see :func:`array_caller`): a
    ``METH_FASTCALL`` C function ``(self, args, nargs)`` that checks the argument count, reads
    the function address and the ints, each array's data pointer, and calls the function
    without the GIL."""
    out = ["declare ptr @PyLong_AsVoidPtr(ptr)", "declare i64 @PyLong_AsLongLong(ptr)",
           "declare ptr @PyErr_Occurred()", "declare void @PyErr_SetString(ptr, ptr)",
           "declare ptr @PyEval_SaveThread()", "declare void @PyEval_RestoreThread(ptr)",
           "declare void @Py_IncRef(ptr)", "@_Py_NoneStruct = external global i8",
           "@PyExc_TypeError = external global ptr"]
    for narrays, nints in shapes:
        name = _caller_name(narrays, nints)
        message = f"{name}: wrong number of arguments\\00"  # (IR: one NUL byte)
        out.append(f"@{prefix}{name}.msg = private constant [{len(message) - 2} x i8] "
                   f"c\"{message}\"")
        lines = [f"define ptr @{prefix}{name}(ptr %self, ptr %args, i64 %nargs) {{",
                 "entry:",
                 f"  %ok = icmp eq i64 %nargs, {1 + narrays + nints}",
                 "  br i1 %ok, label %read, label %bad",
                 "bad:",
                 "  %exc = load ptr, ptr @PyExc_TypeError",
                 f"  call void @PyErr_SetString(ptr %exc, ptr @{prefix}{name}.msg)",
                 "  ret ptr null",
                 "read:",
                 "  %fn.obj = load ptr, ptr %args",
                 "  %fn = call ptr @PyLong_AsVoidPtr(ptr %fn.obj)"]
        for i in range(narrays):
            lines += [f"  %a{i}.slot = getelementptr ptr, ptr %args, i64 {1 + i}",
                      f"  %a{i}.obj = load ptr, ptr %a{i}.slot",
                      f"  %a{i}.field = getelementptr i8, ptr %a{i}.obj, i64 {offset}",
                      f"  %a{i} = load ptr, ptr %a{i}.field, align 8"]
        for i in range(nints):
            lines += [f"  %i{i}.slot = getelementptr ptr, ptr %args, i64 {1 + narrays + i}",
                      f"  %i{i}.obj = load ptr, ptr %i{i}.slot",
                      f"  %i{i} = call i64 @PyLong_AsLongLong(ptr %i{i}.obj)"]
        args = ", ".join([f"ptr %a{i}" for i in range(narrays)] + [f"i64 %i{i}" for i in range(nints)])
        lines += ["  %err = call ptr @PyErr_Occurred()",  # (a bad address or int)
                  "  %failed = icmp ne ptr %err, null",
                  "  br i1 %failed, label %error, label %run",
                  "error:",
                  "  ret ptr null",
                  "run:",
                  "  %state = call ptr @PyEval_SaveThread()",
                  f"  call void %fn({args})",
                  "  call void @PyEval_RestoreThread(ptr %state)",
                  "  call void @Py_IncRef(ptr @_Py_NoneStruct)",
                  "  ret ptr @_Py_NoneStruct",
                  "}"]
        out += lines
    return "\n".join(out)


@cache
def _python_api_symbols() -> None:
    """Register where this process's CPython functions (and ``None``) are, for the callers'
    modules (compiled by LLVM, or loaded by the ELF loader)."""
    context = jit_context()
    for name in (*_PYTHON_API, "PyExc_TypeError"):  # (dlsym: a ctypes function object costs 5 us)
        address = process_symbol(name)
        if address is None:
            raise RuntimeError(f"CPython's {name} is not among this process's symbols")
        context.add_symbol(name, address)
    context.add_symbol("_Py_NoneStruct", id(None))


@cache  # kept for the life of the process: the callers call into it
def _callers_module(offset: int, shapes: tuple[tuple[int, int], ...]) -> CompiledModule:
    _python_api_symbols()
    return jit_context().compile(repr(("array-callers", offset, shapes)),
                                 lambda prefix: _caller_ir(prefix, offset, shapes), speed_level=1)


class _MethodDef(ctypes.Structure):
    """CPython's ``PyMethodDef``."""

    _fields_ = [("name", ctypes.c_char_p), ("method", ctypes.c_void_p), ("flags", ctypes.c_int),
                ("doc", ctypes.c_char_p)]


_METH_FASTCALL = 0x0080
_method_defs: list[_MethodDef] = []  # a builtin function refers to its definition for life


def _builtin_function(name: str, address: int) -> Callable[..., None]:
    """A Python builtin function object whose calls enter the ``METH_FASTCALL`` C function at
    ``address`` directly (about 0.1 us, against 1-1.5 us through ctypes)."""
    definition = _MethodDef(name.encode(), address, _METH_FASTCALL, None)
    _method_defs.append(definition)
    new = ctypes.pythonapi.PyCFunction_NewEx
    new.restype = ctypes.py_object
    new.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]
    return new(ctypes.addressof(definition), None, None)


Shape = tuple[int, int]  # (arrays, ints) of a caller


def compile_with_callers(source: str, build_ir: Callable[[str], str], shapes: tuple[Shape, ...],
                         speed_level: int) -> tuple[CompiledModule, dict[Shape, Callable[..., None]]]:
    """Compile ``build_ir``'s module together with callers (see :func:`array_caller`) for
    ``shapes``: one object to load instead of two, for a module always called through them
    (the integrators' driver). Returns the module and its callers by shape (empty where the
    array layout could not be verified)."""
    offset = _data_pointer_offset()
    if offset is None:
        return jit_context().compile(source, build_ir, speed_level=speed_level), {}
    _python_api_symbols()
    module = jit_context().compile(
        repr((source, "callers", offset, shapes)),
        lambda prefix: build_ir(prefix) + "\n" + _caller_ir(prefix, offset, shapes),
        speed_level=speed_level)
    names = {shape: _caller_name(*shape) for shape in shapes}
    return module, {shape: _builtin_function(name, module.address(module.prefix + name))
                    for shape, name in names.items()}


@cache
def array_caller(narrays: int = 4, nints: int = 3) -> Callable[..., None] | None:
    """``call(address, *arrays, *ints)``: call a native function with numpy arrays.

    The function at ``address`` takes ``narrays`` pointers then ``nints`` i64 values. The
    caller is a builtin function object backed by a native trampoline that reads each array's
    data pointer and makes the call: no ctypes conversion (a call costs about 0.1 us, not
    1-1.5 us) and no ``ndarray.ctypes.data`` look-up (0.8 us each). The GIL is released during
    the call. A wrong number of arguments raises TypeError; the caller guarantees the arrays'
    dtypes, sizes and contiguity. None when the array layout could not be verified (callers then
    pass pointers themselves).
    """
    offset = _data_pointer_offset()
    if offset is None:
        return None
    shapes = _COMMON_CALLERS if (narrays, nints) in _COMMON_CALLERS else ((narrays, nints),)
    module = _callers_module(offset, shapes)
    name = _caller_name(narrays, nints)
    return _builtin_function(name, module.address(module.prefix + name))
