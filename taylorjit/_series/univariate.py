"""Univariate gduals: the table's recurrences staged into straight-line Python code.

A scalar gdual in one symbol is a univariate truncated series: each homogeneous block holds a
single coefficient, so the block algebra degenerates to arithmetic on floats. Running the
recurrences through :func:`~taylorjit._primitives.series.expand` still pays for the generic
driver on every call (the program walk, the algebra's dispatch, a numpy array per block).

Here the same rules run *once* per (form, order, degree masks) over :class:`SourceAlgebra`,
whose operations write Python statements instead of computing (the staging of ``staged.py``,
emitting Python instead of LLVM IR: the rules are still written once, in the primitive table).
The statements compile into one function of the coefficient lists that returns the result's
coefficients; a call then costs only its arithmetic.

The generated code reproduces :class:`~taylorjit._series.algebra.BlockAlgebra` operation by
operation: the same IEEE operations in the same order on the same values, so the results are
the same bit for bit. Values known while recording (numbers, zero blocks of sparse operands:
Python floats or numpy scalars) are computed then, as the block algebra computes them on
scalars; a scalar zero times anything stays a zero, as there. Coefficients of the operands
are Python floats at run time; a division by a runtime value that is zero goes through numpy
(``inf``/``nan`` as in numpy, where Python would raise), and the whole call runs under
``np.errstate(all="ignore")`` as the block path does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._expr import Expr, Var
from .._primitives.series import FloatAlgebra, expand
from .._primitives.table import Primitive, taylor_program

__all__ = ["SourceAlgebra", "univariate_kernel"]

#: The leaves a gdual function is written on (``gduals._ARG_VARS``; variables are interned).
_SLOTS = (Var("_gdual_a"), Var("_gdual_b"))


class _Sym(str):
    """A value known only at run time: the name of a local variable of the generated code."""

    __slots__ = ()


def _known(x: Any) -> bool:
    """Whether ``x`` is a value computed while recording (not a runtime :class:`_Sym`)."""
    return not isinstance(x, _Sym)


def _is_zero(x: Any) -> bool:
    """A recorded scalar zero: the block algebra's zero block of unknown degree."""
    return not isinstance(x, _Sym) and x == 0


class SourceAlgebra(FloatAlgebra):
    """An :class:`~taylorjit._primitives.table.Algebra` whose runtime operations write Python.

    Operands are :class:`_Sym` (runtime values: names in the generated code) or values known
    while recording; operations on known values only are computed at once, exactly as
    :class:`~taylorjit._series.algebra.BlockAlgebra` computes them on scalars.
    """

    def __init__(self) -> None:
        #: (target, expression, runtime operands): one assignment per runtime operation
        self.statements: list[tuple[_Sym, str, tuple[_Sym, ...]]] = []
        self.names: dict[str, Any] = {}  # globals of the generated code: constants, functions
        self._count = 0

    # --- plumbing -----------------------------------------------------------------------------
    def ref(self, x: Any) -> str:
        """Source text of an operand: a local name, a literal, or a global constant."""
        if isinstance(x, _Sym):
            return x
        if type(x) is int or (type(x) is float and np.isfinite(x)):
            return repr(x)  # repr round-trips exactly; Python parses it to the same double
        # numpy scalars keep their type (their division by zero is numpy's), inf and nan
        # have no literal: a global
        return self._global("k", x)

    def _global(self, stem: str, value: Any) -> str:
        name = f"_{stem}{len(self.names)}"
        self.names[name] = value
        return name

    def _emit(self, template: str, *operands: Any) -> _Sym:
        """A runtime statement ``t = template.format(*operands)``; operands become source."""
        self._count += 1
        name = _Sym(f"t{self._count}")
        expr = template.format(*(self.ref(x) for x in operands))
        self.statements.append((name, expr, tuple(x for x in operands if isinstance(x, _Sym))))
        return name

    def lines(self, outputs: Sequence[Any]) -> list[str]:
        """The statements that ``outputs`` depend on (auxiliary series are computed to the
        order, but the last orders of some are never read), in order."""
        live = {x for x in outputs if isinstance(x, _Sym)}
        kept = []
        for target, expr, operands in reversed(self.statements):
            if target in live:
                kept.append(f"{target} = {expr}")
                live.update(operands)
        return kept[::-1]

    def _divide(self, x: Any, d: Any) -> _Sym:
        """``x / d`` at run time; a zero divisor gives numpy's ``inf``/``nan`` (Python raises)."""
        if _known(d) and d != 0:
            return self._emit("{} / {}", x, d)
        return self._emit("{0} / {1} if {1} else _divide({0}, {1})", x, d)

    # --- the algebra --------------------------------------------------------------------------
    def add(self, x: Any, y: Any) -> Any:  # noqa: D102
        if _known(x) and _known(y):
            return x + y
        return self._emit("{} + {}", x, y)

    def sub(self, x: Any, y: Any) -> Any:  # noqa: D102
        if _known(x) and _known(y):
            return x - y
        return self._emit("{} - {}", x, y)

    def neg(self, x: Any) -> Any:  # noqa: D102
        return -x if _known(x) else self._emit("-{}", x)

    def mul(self, x: Any, y: Any) -> Any:  # noqa: D102
        if _is_zero(x) or _is_zero(y):  # as BlockAlgebra.mul: a zero block times anything
            return 0.0
        if _known(x) and _known(y):
            return x * y
        return self._emit("{} * {}", x, y)

    def scale(self, x: Any, c: Any) -> Any:  # noqa: D102
        if _known(x) and _known(c):
            return x * c
        if type(c) is int and c == 1:  # x * 1 == x exactly, for every double
            return x
        return self._emit("{} * {}", x, c)

    def div(self, x: Any, c: Any) -> Any:  # noqa: D102
        if _known(x) and _known(c):
            return x / c
        if type(c) is int and c == 1:  # x / 1 == x exactly
            return x
        return self._divide(x, c)

    def div_leading(self, x: Any, d0: Any) -> Any:  # noqa: D102
        if _is_zero(x):  # as BlockAlgebra.div_leading: a zero block stays a zero block
            return 0.0
        if _known(x) and _known(d0):
            return x / d0
        return self._divide(x, d0)

    def sum(self, lo: int, hi: int, term: Callable[[int], Any]) -> Any:  # noqa: D102
        total: Any = 0.0
        for j in range(lo, hi + 1):
            total = self.add(total, term(j))
        return total

    def eval0(self, prim: Primitive, args0: Sequence[Any]) -> Any:  # noqa: D102
        if all(_known(a) for a in args0):
            return prim.numpy_eval(*args0)
        if prim.lowering == "fdiv":
            return self._divide(*args0)
        operator = _OPERATORS.get(prim.lowering)
        if operator is not None:
            return self._emit(operator, *args0)
        fn = self._global("f", prim.numpy_eval)
        return self._emit(fn + "(" + ", ".join("{}" for _ in args0) + ")", *args0)


# NOTE: the correctly rounded operations as Python operators (about 25 ns each): numpy's
# ufuncs on Python floats give the same values in about 100 ns. Division by zero: _divide.
_OPERATORS = {"fadd": "{} + {}", "fsub": "{} - {}", "fmul": "{} * {}", "fneg": "-{}",
              "square": "{0} * {0}"}


def _divide(x: float, d: float) -> Any:
    """Numpy's division (``inf``/``nan`` for a zero divisor); the caller ignores FP errors."""
    return np.true_divide(x, d)


def univariate_kernel(root: Expr, order: int, masks: Sequence[int | None]
                      ) -> Callable[..., np.ndarray]:
    """The Python function computing ``root`` on univariate scalar gduals of ``order``.

    Parameters
    ----------
    root
        A call on the leaves ``_gdual_a`` / ``_gdual_b`` (numbers are ``Num`` nodes).
    order
        The truncation order.
    masks
        Per leaf slot: the degrees that may be nonzero (bit ``d``: degree ``d``; zero degrees
        enter as scalar zeros, as in the block path), or None when the slot is unused.

    Returns
    -------
    callable
        ``kernel(coefficient array of each used slot)``: the result's
        ``order + 1`` coefficients as a float64 array. It runs under
        ``np.errstate(all="ignore")`` (out-of-domain values give nan, as in numpy). Its
        ``statements`` attribute counts the generated statements (a measure of its memory).
    """
    A = SourceAlgebra()
    params: list[str] = []
    unpack: list[str] = []
    blocks: dict[Var, list[Any]] = {}
    for slot, mask, stem in zip(_SLOTS, masks, "ab", strict=True):
        if mask is None:
            continue
        names = [f"{stem}{d}" for d in range(order + 1)]
        params.append(stem)
        unpack.append(f"    {', '.join(names)}, = {stem}.tolist()")
        blocks[slot] = [_Sym(n) if (mask >> d) & 1 else 0.0 for d, n in enumerate(names)]
    with np.errstate(all="ignore"):
        (series,) = expand([root], order, lambda v: blocks[v], A, program=taylor_program([root]))
    outputs = [s if isinstance(s, _Sym) else A.ref(float(s)) for s in series]
    lines = A.lines(series)
    body = [*unpack, *("    " + line for line in lines), f"    return _array(({', '.join(outputs)},))"]
    namespace = {**A.names, "_array": np.array, "_divide": _divide}
    if _QUIET is None:  # numpy < 2: the public context manager, as a decorator
        source = "\n".join([f"def kernel({', '.join(params)}):", *body])
        kernel = np.errstate(all="ignore")(_compile(source, namespace, root))
        kernel.statements = len(lines)  # type: ignore[attr-defined]
        return kernel
    set_context, reset_context, ignore = _QUIET
    namespace.update(_set=set_context, _reset=reset_context, _ignore=ignore)
    source = "\n".join([
        f"def kernel({', '.join(params)}):",
        "    _token = _set(_ignore)",
        "    try:",
        *("    " + line for line in body),
        "    finally:",
        "        _reset(_token)",
    ])
    kernel = _compile(source, namespace, root)
    kernel.statements = len(lines)  # type: ignore[attr-defined]
    return kernel


def _compile(source: str, namespace: dict[str, Any], root: Expr) -> Callable[..., np.ndarray]:
    exec(compile(source, f"<taylorjit univariate kernel {root}>", "exec"), namespace)  # noqa: S102
    return namespace["kernel"]


def _quiet_context() -> tuple[Any, Any, Any] | None:
    """``(set, reset, state)`` of numpy's floating-point error context (numpy >= 2), with the
    state that ignores every error; None where numpy keeps it elsewhere (then the kernels use
    ``np.errstate``).

    NOTE: ``with np.errstate(all="ignore")`` costs 0.69 us per call, as a decorator 0.35 us,
    setting numpy's context variable directly 0.19 us (numpy 2.4): a third of an order-1
    ``exp``. The state differs from ``np.errstate``'s only in the buffer size and error
    callback, which scalar arithmetic with every error ignored never reads.
    """
    try:
        from numpy._core.umath import _extobj_contextvar, _make_extobj  # type: ignore[import-not-found]

        return _extobj_contextvar.set, _extobj_contextvar.reset, _make_extobj(all="ignore")
    except (ImportError, AttributeError, TypeError):  # pragma: no cover - numpy 1.x
        return None


_QUIET = _quiet_context()
