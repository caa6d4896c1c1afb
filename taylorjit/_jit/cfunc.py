"""``tj.cfunc``: expressions compiled once to a native, SIMD, multi-threaded evaluation kernel.

The generated module has two functions:

* ``body(out, in, pars, time, j, stride)`` evaluates all outputs at points ``j .. j+W-1``
  (``W`` the SIMD width) with vector loads and stores; the DAG is emitted once, so common
  subexpressions are computed once per point. It is written as text (``textir``), calling
  always-inline helpers for the primitives that need more than an instruction.
* ``kernel(out, in, pars, time, begin, end, stride)`` runs ``body`` over ``[begin, end)`` and
  evaluates a partial last block through a small padded buffer (one copy of the body, not two).

Inputs are laid out as numpy's C-ordered ``(nvars, N)`` arrays (``in[i * stride + j]``), so
arrays cross into native code as pointers, without copies. Large batches are split in aligned
chunks across threads; ctypes releases the GIL during each native call.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

import numpy as np
from llvmlite import ir

from .._expr import Call, Expr, Num, Par, Time, Var, as_expr, postorder, structural_key
from .context import CompiledModule, jit_context
from .lower import lower_text
from .runtime import KERNEL_ARGS, array_caller, ensure_runtime
from .textir import TextBody, double_literal

__all__ = ["cfunc", "CFunc"]

_KERNEL_SUFFIX = "cfunc"  # exported as <module prefix>cfunc (see context.symbol_prefix)
_BODY_NAME = "taylorjit_cfunc_body"
_KERNEL_TYPE = ctypes.CFUNCTYPE(None, *KERNEL_ARGS)
_FLOAT64 = np.dtype(np.float64)
#: Points per thread below which a batch is evaluated on the calling thread only.
_MIN_POINTS_PER_THREAD = 4096
_CPUS = os.cpu_count() or 1  # (os.cpu_count() costs 2 us: never call it per evaluation)


@cache
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=_CPUS, thread_name_prefix="taylorjit")


def _validated_functions(fns: Any) -> list[Expr]:
    if isinstance(fns, Expr) or np.isscalar(fns):
        fns = [fns]
    try:
        out = [as_expr(f) for f in fns]
    except TypeError as err:
        raise TypeError(f"cfunc() expects a list of expressions: {err}") from None
    if not out:
        raise ValueError("Cannot compile a function with no outputs (the list of functions is empty)")
    return out


def _validated_vars(nodes: list[Expr], vars: Sequence[Any] | None) -> list[Var]:
    used = sorted((n for n in nodes if isinstance(n, Var)), key=lambda v: v.name)
    if vars is None:
        return used
    if isinstance(vars, Expr):
        raise TypeError("the 'vars' argument of cfunc() must be a list of variables")
    out: list[Var] = []
    for v in vars:
        if isinstance(v, str):
            v = Var(v)
        if not isinstance(v, Var):
            raise TypeError(
                f"the list of variables passed to cfunc() must contain only variables, but it "
                f"contains the expression '{v}'"
            )
        if any(v is w for w in out):
            raise ValueError(
                f"Error in the decomposition of a function: the variable '{v.name}' appears in the "
                "user-provided list of variables twice"
            )
        out.append(v)
    listed = {id(v) for v in out}
    for v in used:
        if id(v) not in listed:
            raise ValueError(
                f"Error in the decomposition of a function: the variable '{v.name}' appears in "
                "the function but not in the user-provided list of variables"
            )
    return out


#: Call nodes per segment function. LLVM's backend is superlinear in the size of a basic block,
#: so large kernels are cut into segments that pass the values they share through a stack
#: buffer. Measured on the 3600-output Jacobian of the 20-body accelerations (26 000 nodes):
#: one block 5.9 s to compile and 5.1 us/point; segments of 2000: 1.8 s and 6.0 us; of 500:
#: 1.9 s and 6.8 us. Kernels below 2000 calls (the 20-body accelerations: 4400) barely change.
_SEGMENT_CALLS = 2000


def _build_ir(fns: list[Expr], vars: list[Var], width: int, kernel_name: str) -> str:
    ctx = jit_context()
    helpers = ir.Module(name="taylorjit.cfunc")  # declarations and always-inline helpers
    helpers.triple = ctx.triple
    helpers.data_layout = ctx.data_layout
    nodes = postorder(fns)
    calls = [n for n in nodes if isinstance(n, Call)]
    segments = [calls[i:i + _SEGMENT_CALLS] for i in range(0, len(calls), _SEGMENT_CALLS)] or [[]]
    segment_of = {id(c): k for k, seg in enumerate(segments) for c in seg}
    # Values computed in one segment and read in a later one get a scratch slot.
    slots: dict[int, int] = {}
    for c in calls:
        for a in c.args:
            if isinstance(a, Call) and segment_of[id(a)] < segment_of[id(c)] and id(a) not in slots:
                slots[id(a)] = len(slots)
    rows_of: dict[int, list[int]] = {}
    for row, f in enumerate(fns):
        rows_of.setdefault(id(f), []).append(row)
    var_index = {id(v): i for i, v in enumerate(vars)}
    # NOTE: noalias is guaranteed by CFunc.__call__ (outputs never overlap inputs or pars; those
    # are only read). Without it the optimiser's alias queries grow quadratically with the
    # number of outputs: 24 s of the 30 s compile of a 3600-output Jacobian.
    params = ("ptr noalias %out, ptr noalias %in, ptr noalias %pars, ptr noalias %time, i64 %j, "
              "i64 %stride")
    functions: list[str] = []
    for k, seg in enumerate(segments):
        body = TextBody(width)
        values: dict[int, str] = {}

        def value_of(node: Expr, body: TextBody = body, values: dict[int, str] = values) -> str:
            if id(node) not in values:
                values[id(node)] = _leaf_or_slot(body, node, var_index, slots)
            return values[id(node)]

        for node in seg:
            value = lower_text(body, helpers, node, [value_of(a) for a in node.args])
            values[id(node)] = value
            if id(node) in slots:
                body.store(value, body.address("%scratch", str(slots[id(node)] * width)))
            # Store outputs as soon as they exist: short live ranges, less register pressure.
            for row in rows_of.get(id(node), ()):
                body.store(value, body.address("%out", body.index(row, "%stride", "%j")))
        if k == len(segments) - 1:  # outputs that are leaves (a variable, a number...)
            for f in fns:
                if not isinstance(f, Call):
                    for row in rows_of[id(f)]:
                        body.store(value_of(f), body.address("%out", body.index(row, "%stride", "%j")))
        functions.append(body.text())
    if len(functions) == 1:
        body_text = [f"define internal void @{_BODY_NAME}({params}) noinline {{", "entry:",
                     functions[0], "  ret void", "}"]
    else:
        body_text = []
        for k, text in enumerate(functions):
            body_text += [f"define internal void @{_BODY_NAME}.{k}({params}, ptr noalias %scratch) "
                          "noinline {",
                          "entry:", text, "  ret void", "}"]
        body_text += [f"define internal void @{_BODY_NAME}({params}) noinline {{", "entry:",
                      f"  %scratch = alloca [{max(1, len(slots)) * width} x double], align 64"]
        body_text += [f"  call void @{_BODY_NAME}.{k}(ptr %out, ptr %in, ptr %pars, ptr %time, "
                      "i64 %j, i64 %stride, ptr %scratch)" for k in range(len(functions))]
        body_text += ["  ret void", "}"]
    return "\n".join([str(helpers), *body_text, _kernel_text(len(vars), len(fns), width, kernel_name)])


def _leaf_or_slot(body: TextBody, node: Expr, var_index: dict[int, int],
                  slots: dict[int, int]) -> str:
    """The value of a leaf, or of a call computed by an earlier segment (from its slot)."""
    if isinstance(node, Var):
        return body.load(body.address("%in", body.index(var_index[id(node)], "%stride", "%j")))
    if isinstance(node, Par):
        return body.load_splat(body.address("%pars", str(node.index)))
    if isinstance(node, Time):
        return body.load_splat("%time")
    if isinstance(node, Num):
        return body.constant(float(node.value))
    return body.load(body.address("%scratch", str(slots[id(node)] * body.width)))


def _kernel_text(nvars: int, nouts: int, width: int, kernel_name: str) -> str:
    """``kernel(out, in, pars, time, begin, end, stride)``: full blocks of ``width`` points, then
    the partial last block through a padded stack buffer (so the body exists once).

    The tail copies are loops over rows and lanes: the kernel's size does not grow with the
    number of inputs and outputs (one load and store per row inside a loop made the optimiser's
    loop passes quadratic: 19 s for 3600 outputs).
    """
    one = double_literal(1.0)
    pad = one if width == 1 else f"splat (double {one})"
    vtype = "double" if width == 1 else f"<{width} x double>"
    call = f"call void @{_BODY_NAME}(ptr %out, ptr %in, ptr %pars, ptr %time"
    return f"""
define void @{kernel_name}(ptr noalias %out, ptr noalias %in, ptr noalias %pars, ptr noalias %time,
                           i64 %begin, i64 %end, i64 %stride) {{
entry:
  %tail_in = alloca [{max(nvars, 1) * width} x double], align 64
  %tail_out = alloca [{nouts * width} x double], align 64
  %count = sub i64 %end, %begin
  %nblocks = sdiv i64 %count, {width}
  %span = mul i64 %nblocks, {width}
  %full_end = add i64 %begin, %span
  br label %block.cond
block.cond:
  %j = phi i64 [ %begin, %entry ], [ %j.next, %block.body ]
  %more = icmp slt i64 %j, %full_end
  br i1 %more, label %block.body, label %block.end
block.body:
  {call}, i64 %j, i64 %stride)
  %j.next = add i64 %j, {width}
  br label %block.cond
block.end:
  %tail = sub i64 %end, %full_end
  %has_tail = icmp sgt i64 %tail, 0
  br i1 %has_tail, label %in.row, label %exit
in.row:
  %r = phi i64 [ 0, %block.end ], [ %r.next, %in.row.end ]
  %r.src = mul i64 %r, %stride
  %r.src0 = add i64 %r.src, %full_end
  %r.dst0 = mul i64 %r, {width}
  %r.pad = getelementptr double, ptr %tail_in, i64 %r.dst0
  store {vtype} {pad}, ptr %r.pad, align 8
  br label %in.lane
in.lane:
  %l = phi i64 [ 0, %in.row ], [ %l.next, %in.lane ]
  %l.src = add i64 %r.src0, %l
  %l.srcp = getelementptr double, ptr %in, i64 %l.src
  %l.x = load double, ptr %l.srcp, align 8
  %l.dst = add i64 %r.dst0, %l
  %l.dstp = getelementptr double, ptr %tail_in, i64 %l.dst
  store double %l.x, ptr %l.dstp, align 8
  %l.next = add i64 %l, 1
  %l.more = icmp slt i64 %l.next, %tail
  br i1 %l.more, label %in.lane, label %in.row.end
in.row.end:
  %r.next = add i64 %r, 1
  %r.more = icmp slt i64 %r.next, {nvars}
  br i1 %r.more, label %in.row, label %tail.call
tail.call:
  call void @{_BODY_NAME}(ptr %tail_out, ptr %tail_in, ptr %pars, ptr %time, i64 0, i64 {width})
  br label %out.row
out.row:
  %q = phi i64 [ 0, %tail.call ], [ %q.next, %out.row.end ]
  %q.dst = mul i64 %q, %stride
  %q.dst0 = add i64 %q.dst, %full_end
  %q.src0 = mul i64 %q, {width}
  br label %out.lane
out.lane:
  %m = phi i64 [ 0, %out.row ], [ %m.next, %out.lane ]
  %m.src = add i64 %q.src0, %m
  %m.srcp = getelementptr double, ptr %tail_out, i64 %m.src
  %m.x = load double, ptr %m.srcp, align 8
  %m.dst = add i64 %q.dst0, %m
  %m.dstp = getelementptr double, ptr %out, i64 %m.dst
  store double %m.x, ptr %m.dstp, align 8
  %m.next = add i64 %m, 1
  %m.more = icmp slt i64 %m.next, %tail
  br i1 %m.more, label %out.lane, label %out.row.end
out.row.end:
  %q.next = add i64 %q, 1
  %q.more = icmp slt i64 %q.next, {nouts}
  br i1 %q.more, label %out.row, label %exit
exit:
  ret void
}}
"""


class CFunc:
    """A list of expressions compiled to native code (build it with :func:`cfunc`).

    Call it as ``cf(inputs, pars=None, time=None, outputs=None)``: ``inputs`` of shape
    ``(nvars,)`` give ``(nouts,)``; ``(nvars, N)`` evaluates N points and gives ``(nouts, N)``.

    Attributes
    ----------
    fns, vars
        The compiled expressions and the ordered input variables.
    nouts, nvars, npars
        Sizes: outputs, inputs, and parameters (one more than the largest ``tj.par`` index).
    is_time_dependent
        Whether ``tj.time`` appears (then ``time=`` is required).
    batch_size
        SIMD width of the kernel (doubles per vector).
    llvm_ir
        The LLVM IR text of the kernel (before optimisation).
    """

    def __init__(self, fns: list[Expr], vars: list[Var], batch_size: int | None,
                 parallel: bool, nodes: list[Expr]) -> None:
        self.fns = tuple(fns)
        self.vars = tuple(vars)
        self.nouts = len(fns)
        self.nvars = len(vars)
        self.npars = 1 + max((n.index for n in nodes if isinstance(n, Par)), default=-1)
        self.is_time_dependent = any(isinstance(n, Time) for n in nodes)
        self.batch_size = batch_size or jit_context().simd_width
        self.parallel = parallel
        self._llvm_ir: str | None = None
        ensure_runtime(self.batch_size)  # the kernel links against it, also when loaded from disk
        source = repr(("cfunc", structural_key(fns, nodes), [v.name for v in vars],
                       self.batch_size, _SEGMENT_CALLS))
        # NOTE: O1 suffices for straight-line, explicitly vectorised code (same run time as O3
        # on the benchmark cases, 20% less optimisation time).
        self._module: CompiledModule = jit_context().compile(source, self._generate_ir,
                                                             speed_level=1)
        self._address = self._module.address(self._module.prefix + _KERNEL_SUFFIX)
        self._kernel = _KERNEL_TYPE(self._address)
        self._caller = array_caller()
        self._plain = self.npars == 0 and not self.is_time_dependent
        self._point_shape = (self.nvars,)
        self._pars_empty = np.zeros(1)
        self._time_buf = np.zeros(1)

    @property
    def llvm_ir(self) -> str:
        """The LLVM IR of the kernel, before optimisation (generated on first access)."""
        return self._llvm_ir if self._llvm_ir is not None else self._generate_ir(self._module.prefix)

    def _generate_ir(self, prefix: str) -> str:
        self._llvm_ir = _build_ir(list(self.fns), list(self.vars), self.batch_size,
                                  prefix + _KERNEL_SUFFIX)
        return self._llvm_ir

    @property
    def compiled_from(self) -> str | None:
        """Where the machine code came from: ``"memory"``, ``"disk"`` or None (compiled)."""
        return self._module.from_cache

    def __repr__(self) -> str:
        return (f"CFunc(nouts={self.nouts}, vars={[v.name for v in self.vars]}, "
                f"npars={self.npars}, batch_size={self.batch_size})")

    def __call__(self, inputs: Any, pars: Any = None, time: Any = None,
                 outputs: np.ndarray | None = None) -> np.ndarray:
        """Evaluate at one point ``(nvars,)`` or at N points ``(nvars, N)``.

        Raises
        ------
        TypeError
            If an array cannot be converted to float64 (complex, strings, objects).
        ValueError
            For shapes that do not match the function (with the expected and received sizes),
            missing or wrong-size ``pars``, a missing ``time`` for a time-dependent function,
            or an ``outputs`` array of the wrong shape, dtype, layout, or overlapping the inputs.
        """
        if (outputs is None and pars is None and time is None and self._plain
                and type(inputs) is np.ndarray and inputs.dtype is _FLOAT64
                and inputs.shape == self._point_shape and inputs.flags.c_contiguous):
            # Fast path for the most common call: one point, nothing else.
            out = np.empty(self.nouts)
            self._invoke(out, inputs, self._pars_empty, self._time_buf, 0, 1, 1)
            return out
        x = _as_float_array(inputs, "inputs")
        if x.ndim not in (1, 2):
            raise ValueError(
                f"Invalid inputs array passed to a cfunc: it must have 1 dimension (one point) or 2 "
                f"(shape (nvars, N)), but it has {x.ndim}"
            )
        if x.shape[0] != self.nvars:
            raise ValueError(
                f"Invalid inputs array passed to a cfunc: the number of function inputs is "
                f"{self.nvars}, but the inputs array has a {'size' if x.ndim == 1 else 'first dimension'} "
                f"of {x.shape[0]}"
            )
        x = np.ascontiguousarray(x)
        npoints = 1 if x.ndim == 1 else x.shape[1]
        p = self._pars_array(pars)
        t = self._time_array(time)
        out_shape = (self.nouts,) if x.ndim == 1 else (self.nouts, npoints)
        if outputs is None:
            out = np.empty(out_shape)
        else:
            out = self._check_outputs(outputs, out_shape, x, p)
        self._run(out, x, p, t, npoints)
        return out

    def _invoke(self, out: np.ndarray, x: np.ndarray, p: np.ndarray, t: np.ndarray,
                begin: int, end: int, stride: int) -> None:
        """One native call on validated, C-contiguous float64 arrays (GIL released)."""
        if self._caller is not None:
            self._caller(self._address, out, x, p, t, begin, end, stride)
        else:
            self._kernel(out.ctypes.data, x.ctypes.data, p.ctypes.data, t.ctypes.data,
                         begin, end, stride)

    def _run(self, out: np.ndarray, x: np.ndarray, p: np.ndarray, t: np.ndarray,
             npoints: int) -> None:
        nthreads = min(_CPUS, npoints // _MIN_POINTS_PER_THREAD) if self.parallel else 1
        if nthreads <= 1:
            self._invoke(out, x, p, t, 0, npoints, npoints)
            return
        W = self.batch_size
        chunk = -(-npoints // nthreads)
        chunk = -(-chunk // W) * W
        bounds = [(s, min(s + chunk, npoints)) for s in range(0, npoints, chunk)]
        futures = [_executor().submit(self._invoke, out, x, p, t, lo, hi, npoints)
                   for lo, hi in bounds[1:]]
        self._invoke(out, x, p, t, bounds[0][0], bounds[0][1], npoints)
        for f in futures:
            f.result()

    def _pars_array(self, pars: Any) -> np.ndarray:
        if pars is None:
            if self.npars:
                raise ValueError(
                    f"The compiled function contains {self.npars} parameter(s), but no parameter "
                    "values were provided (pass pars=...)"
                )
            return self._pars_empty
        p = np.ascontiguousarray(_as_float_array(pars, "pars"))
        if p.ndim != 1 or p.shape[0] != self.npars:
            raise ValueError(
                f"The array of parameter values provided for the evaluation of a compiled function "
                f"has {p.size} element(s) and shape {p.shape}, but the number of parameters in the "
                f"function is {self.npars} (expected shape ({self.npars},))"
            )
        return p if self.npars else self._pars_empty

    def _time_array(self, time: Any) -> np.ndarray:
        if time is None:
            if self.is_time_dependent:
                raise ValueError("The compiled function depends on tj.time, but no time was provided "
                                 "(pass time=...)")
            return self._time_buf
        t = _as_float_array(time, "time")
        if t.ndim != 0 and t.size != 1:
            raise ValueError(f"time must be a scalar, got an array of shape {t.shape}")
        return np.ascontiguousarray(t.reshape(1))

    def _check_outputs(self, outputs: Any, shape: tuple[int, ...], x: np.ndarray,
                       p: np.ndarray) -> np.ndarray:
        if not isinstance(outputs, np.ndarray):
            raise TypeError(f"outputs must be a numpy array, got {type(outputs).__name__}")
        if outputs.dtype != np.float64:
            raise TypeError(f"outputs must have dtype float64, got {outputs.dtype}")
        if outputs.shape != shape:
            raise ValueError(f"Invalid outputs array passed to a cfunc: expected shape {shape}, "
                             f"got {outputs.shape}")
        if not outputs.flags.c_contiguous or not outputs.flags.writeable:
            raise ValueError("outputs must be a writable, C-contiguous array")
        if np.shares_memory(outputs, x) or np.shares_memory(outputs, p):
            raise ValueError("the outputs array overlaps the inputs or the parameters")
        return outputs


def _as_float_array(value: Any, what: str) -> np.ndarray:
    arr = np.asarray(value) if not isinstance(value, np.ndarray) else value
    if arr.dtype == np.float64:
        return arr
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"cfunc {what} must be real numbers convertible to float64, got an array of dtype "
            f"{arr.dtype}"
        )
    return arr.astype(np.float64)


def cfunc(fns: Sequence[Any] | Expr, vars: Sequence[Any] | None = None, *,
          batch_size: int | None = None, parallel: bool = True) -> CFunc:
    """Compile expressions to a native function of ordered variables.

    Parameters
    ----------
    fns
        The expressions (or numbers) to evaluate; one output each.
    vars
        The input variables, in input order (names or ``tj.var``). Default: the variables of
        ``fns`` sorted by name, as heyoka does.

    Other Parameters
    ----------------
    batch_size
        SIMD width of the kernel; default the host's (8 doubles with AVX-512, 4 with AVX).
    parallel
        Split large batches across threads (default True).

    Returns
    -------
    CFunc
        The compiled function: ``cf(inputs, pars=None, time=None, outputs=None)``.

    Raises
    ------
    ValueError
        If ``fns`` is empty, a variable is listed twice, or a variable used by ``fns`` is not
        in ``vars``.
    TypeError
        If ``fns`` or ``vars`` contain objects of the wrong kind.

    Examples
    --------
    >>> import numpy as np, taylorjit as tj
    >>> x, y = tj.make_vars("x", "y")
    >>> cf = tj.cfunc([x * y, tj.sin(x)], vars=[x, y])
    >>> cf(np.array([2.0, 3.0]))[0]
    6.0
    """
    exprs = _validated_functions(fns)
    nodes = postorder(exprs)
    variables = _validated_vars(nodes, vars)
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                   or batch_size not in (1, 2, 4, 8, 16)):
        raise ValueError(f"batch_size must be one of 1, 2, 4, 8, 16, got {batch_size!r}")
    return CFunc(exprs, variables, batch_size, parallel, nodes)
