"""Generalized dual numbers: truncated multivariate Taylor polynomials (pyaudi's gdual).

A gdual holds every Taylor coefficient up to its truncation order of a quantity computed from
some expansion variables ``x, y, ...``; its symbols are the deviations ``dx, dy, ...``. Running
ordinary Python code on gduals gives every derivative of the result up to that order.

Every function reaches gduals through the primitive table: the univariate recurrences, applied
to homogeneous blocks (``algebra.BlockAlgebra``), so there is no second implementation.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from functools import cache, lru_cache
from typing import Any

import numpy as np

from .._expr import Call, Expr, Num, Var, call
from .._jit.cfunc import CFunc, cfunc
from .._primitives.series import expand
from .algebra import BlockAlgebra
from .compose import compose_arrays, taylor_shift
from .kernels import packed_product_into, product_into, symmetric_product_into
from .monomials import basis, embedding
from .staged import cached_program, staged_kernel
from .univariate import univariate_kernel

__all__ = ["gdual", "derivatives", "invert_map", "compose", "compile_map"]

_ARG_VARS = (Var("_gdual_a"), Var("_gdual_b"))


def _check_order(order: Any) -> int:
    if isinstance(order, bool) or not isinstance(order, numbers.Integral):
        raise TypeError(f"the truncation order must be an integer, got {order!r}")
    if order < 0:
        raise ValueError(f"the truncation order must be non-negative, got {order}")
    return int(order)


def _as_values(x0: Any) -> np.ndarray:
    """A float or a 1-D float array of expansion points (vectorized gduals)."""
    arr = np.asarray(x0)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"a gdual's value must be real numbers, got {arr.dtype}")
    if arr.ndim > 1:
        raise ValueError(f"a vectorized gdual takes a 1-D array of points, got shape {arr.shape}")
    if arr.ndim == 1 and arr.size == 0:
        raise ValueError("a vectorized gdual needs at least one point")
    return arr.astype(float)


class gdual:  # noqa: N801 - pyaudi's name
    """A truncated multivariate Taylor polynomial: ``gdual(x0, "x", order)`` or ``gdual(c)``.

    ``gdual(x0, "x", order)`` is the variable ``x`` expanded at ``x0`` (its symbol is ``"dx"``);
    ``gdual(c)`` is an exact constant. ``x0`` (or ``c``) may be a 1-D numpy array: the gdual then
    carries the expansions at all those points at once (pyaudi's ``gdual_vdouble``).

    A vectorized gdual's lanes equal the scalar gduals at the same points to rounding (the
    scalar product's reduction is reassociated for speed, the vectorized one runs point by
    point: measured differences below 1.1e-15 relative), not bit for bit.

    When gduals over different symbols meet, their symbol sets merge. When gduals of different
    truncation orders meet, the result has the **smaller** order: only those terms are known.
    (pyaudi takes the larger order and fills it with terms it does not know: silently wrong
    high-order coefficients.) Values outside a function's domain follow numpy: ``log`` of a
    negative constant term gives nan coefficients, not an exception.
    """

    __slots__ = ("_c", "_symbols", "_order", "_nz")

    def __init__(self, x0: Any, symbol: str | None = None, order: int | None = None) -> None:
        if type(x0) is float and type(symbol) is str and symbol and type(order) is int and order >= 0:
            # NOTE: the common case, a float variable, without the checks of the general case
            # below (the same array): 0.4 instead of 1.4 us.
            c = np.zeros(order + 1)
            c[0] = x0
            if order >= 1:
                c[1] = 1.0
            self._c, self._symbols, self._order, self._nz = c, ("d" + symbol,), order, 0b11
            return
        values = _as_values(x0)
        if symbol is None:
            if order is not None:
                raise ValueError("a constant gdual takes no order: use gdual(c), or "
                                 "gdual(x0, 'x', order) for a variable")
            self._set(values[None, ...].copy(), (), None, 1)
            return
        if not isinstance(symbol, str) or not symbol:
            raise TypeError(f"the symbol must be a non-empty string, got {symbol!r}")
        order = _check_order(order if order is not None else 1)
        c = np.zeros((basis(1, order).ncoef, *values.shape))
        c[0] = values
        if order >= 1:
            c[1] = 1.0
        self._set(c, ("d" + symbol,), order, 0b11)

    def _set(self, c: np.ndarray, symbols: tuple[str, ...], order: int | None,
             nz: int | None = None) -> None:
        self._c, self._symbols, self._order = c, symbols, order
        # The degrees that may be nonzero (bit d: degree d); None means all. Kept exact where
        # it is cheap (variables, sums, products) so sparse factors skip their zero blocks.
        self._nz = nz

    @classmethod
    def _make(cls, c: np.ndarray, symbols: tuple[str, ...], order: int | None,
              nz: int | None = None) -> gdual:
        g = object.__new__(cls)
        g._c, g._symbols, g._order, g._nz = c, symbols, order, nz  # (as _set, one call less)
        return g

    def _mask(self, order: int | None) -> int:
        """The nonzero-degree mask truncated to ``order`` (all degrees when unknown)."""
        if self._order is None:
            return 1
        full = (1 << ((order if order is not None else self._order) + 1)) - 1
        return full if self._nz is None else self._nz & full

    # --- structure ------------------------------------------------------------------------
    @property
    def order(self) -> int:
        """The truncation order (0 for an exact constant)."""
        return 0 if self._order is None else self._order

    @property
    def symbol_set(self) -> list[str]:
        """The deviation symbols, sorted: ``["dx", "dy"]``."""
        return list(self._symbols)

    @property
    def constant_cf(self) -> Any:
        """The constant term (a float, or an array for a vectorized gdual)."""
        return self._scalar(self._c[0])

    @property
    def degree(self) -> int:
        """The highest degree with a nonzero coefficient."""
        b = self._basis()
        for d in range(self.order, 0, -1):
            if np.any(self._c[b.block(d)]):
                return d
        return 0

    @property
    def is_vectorized(self) -> bool:
        """Whether the gdual holds expansions at several points."""
        return self._c.ndim == 2

    def _basis(self) -> Any:
        return basis(len(self._symbols), self.order)

    @staticmethod
    def _scalar(v: Any) -> Any:
        return float(v) if np.ndim(v) == 0 else v.copy()

    # --- aligning two operands ------------------------------------------------------------------
    def _embed(self, symbols: tuple[str, ...], order: int | None, npoints: int | None) -> np.ndarray:
        """Coefficients in the basis of ``symbols`` truncated to ``order``."""
        c = self._c
        if order is None:
            return c
        if self._order is None:  # a constant
            out = np.zeros((basis(len(symbols), order).ncoef, *c.shape[1:]))
            out[0] = c[0]
        elif symbols == self._symbols:
            # truncation: a prefix, by degree
            out = c if order == self._order else c[: basis(len(symbols), order).ncoef]
        else:
            size, index = _embedding_plan(self._symbols, symbols, order)
            out = np.zeros((size, *c.shape[1:]))
            out[index] = c[: len(index)]
        if npoints is not None and out.ndim == 1:
            out = np.repeat(out[:, None], npoints, axis=1)
        return out

    @staticmethod
    def _align(items: Sequence[gdual]) -> tuple[list[np.ndarray], tuple[str, ...], int | None]:
        if len(items) == 2:  # the common case: two scalar (not vectorized, not constant) gduals
            a, b = items
            if a._order is not None and b._order is not None and a._c.ndim == b._c.ndim == 1:
                order = min(a._order, b._order)
                symbols = _merged_symbols(a._symbols, b._symbols)
                return [a._embed(symbols, order, None), b._embed(symbols, order, None)], symbols, order
        orders = [g._order for g in items if g._order is not None]
        order = min(orders) if orders else None
        symbols = tuple(sorted(set().union(*(g._symbols for g in items))))
        npoints = _common_npoints([g._c for g in items])
        return [g._embed(symbols, order, npoints) for g in items], symbols, order

    # --- arithmetic -----------------------------------------------------------------------------
    def _same_layout(self, other: gdual) -> bool:
        """Operands that need no alignment (the common case inside a computation)."""
        return (self._symbols == other._symbols and self._order == other._order
                and self._c.shape == other._c.shape)

    def __add__(self, other: Any) -> gdual:
        if isinstance(other, gdual):
            if self._same_layout(other):
                return gdual._make(self._c + other._c, self._symbols, self._order,
                                   _union(self._nz, other._nz))
            (a, b), symbols, order = self._align([self, other])
            return gdual._make(a + b, symbols, order, self._mask(order) | other._mask(order))
        if isinstance(other, Expr):
            return NotImplemented
        c = self._c.copy()
        c[0] = c[0] + (other if _plain_number(other) else _as_values(other))
        return gdual._make(c, self._symbols, self._order, _union(self._nz, 1))

    __radd__ = __add__

    def __neg__(self) -> gdual:
        return gdual._make(-self._c, self._symbols, self._order, self._nz)

    def __pos__(self) -> gdual:
        return self

    def __sub__(self, other: Any) -> gdual:
        return self + (-other)

    def __rsub__(self, other: Any) -> gdual:
        return (-self) + other

    def __mul__(self, other: Any) -> gdual:
        if isinstance(other, gdual):
            if self._same_layout(other):
                a, b, symbols, order = self._c, other._c, self._symbols, self._order
            else:
                (a, b), symbols, order = self._align([self, other])
            ma, mb = self._mask(order), other._mask(order)
            if order is not None and a.ndim == 1:  # scalar gduals: one cached plan
                run, mask = _product_plan(len(symbols), order, ma, mb)
                return gdual._make(run(a, b), symbols, order, mask)
            return gdual._make(_product(a, b, len(symbols), order, ma, mb), symbols, order,
                               _sumset(ma, mb, order))
        if isinstance(other, Expr):
            return NotImplemented
        factor = other if _plain_number(other) else _as_values(other)
        return gdual._make(self._c * factor, self._symbols, self._order, self._nz)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> gdual:
        if isinstance(other, gdual):
            return _apply("div", (self, other))
        if isinstance(other, Expr):
            return NotImplemented
        divisor = other if _plain_number(other) else _as_values(other)
        return gdual._make(self._c / divisor, self._symbols, self._order, self._nz)

    def __rtruediv__(self, other: Any) -> gdual:
        return _apply("div", (other, self))

    def __pow__(self, other: Any) -> gdual:
        if (type(other) is not float and isinstance(other, numbers.Integral)  # (floats: no ABC check)
                and not isinstance(other, bool) and 0 < other <= 32):
            result = self  # repeated products: g**3 == g*g*g exactly, as in audi
            for _ in range(int(other) - 1):
                result = result * self
            return result
        return _apply("pow", (self, other))

    def __rpow__(self, other: Any) -> gdual:
        return _apply("pow", (other, self))

    # --- comparisons (pyaudi's semantics) -------------------------------------------------------
    def __lt__(self, other: Any) -> Any:
        return self.constant_cf < (other.constant_cf if isinstance(other, gdual) else other)

    def __gt__(self, other: Any) -> Any:
        return self.constant_cf > (other.constant_cf if isinstance(other, gdual) else other)

    def __eq__(self, other: object) -> bool:
        """All coefficients equal (after merging symbols and truncating to the smaller order)."""
        if not isinstance(other, gdual):
            if isinstance(other, numbers.Real):
                other = gdual(float(other))
            else:
                return NotImplemented
        (a, b), _, _ = self._align([self, other])
        return bool(np.array_equal(a, b))

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None  # type: ignore[assignment]  (mutable-value semantics, as floats in arrays)

    # --- functions: through the primitive table ---------------------------------------------------
    @classmethod
    def __taylorjit_apply__(cls, prim: Any, args: Sequence[Any]) -> gdual:
        return _apply(prim.name, tuple(args))

    def __reduce__(self) -> tuple:
        return (gdual._make, (self._c, self._symbols, self._order))

    # --- coefficients and derivatives -------------------------------------------------------------
    def _exponents(self, exponents: Mapping[str, int] | Sequence[int]) -> tuple[int, ...] | None:
        """Exponents in symbol-set order; None if the monomial involves a foreign symbol."""
        if isinstance(exponents, Mapping):
            full = [0] * len(self._symbols)
            for sym, e in exponents.items():
                e = int(e)
                if e < 0:
                    raise ValueError(f"negative exponent {e} for {sym!r}")
                if sym not in self._symbols and "d" + sym in self._symbols:
                    sym = "d" + sym  # "x" means "dx", as partial() and subs() accept
                if sym not in self._symbols:
                    if e:
                        return None
                    continue
                full[self._symbols.index(sym)] = e
            result = tuple(full)
        else:
            result = tuple(int(e) for e in exponents)
            if len(result) != len(self._symbols):
                raise ValueError(f"expected {len(self._symbols)} exponents (one per symbol of "
                                 f"{self.symbol_set}), got {len(result)}")
            if any(e < 0 for e in result):
                raise ValueError(f"negative exponent in {list(result)}")
        if sum(result) > self.order:
            raise ValueError(f"the derivative order {sum(result)} exceeds the truncation order "
                             f"{self.order} of this gdual")
        return result

    def find_cf(self, exponents: Mapping[str, int] | Sequence[int]) -> Any:
        """The Taylor coefficient of the monomial with these exponents (0 for foreign symbols)."""
        key = self._exponents(exponents)
        if key is None:
            return self._scalar(np.zeros_like(self._c[0]))
        return self._scalar(self._c[self._basis().index[key]])

    def get_derivative(self, exponents: Mapping[str, int] | Sequence[int]) -> Any:
        """The mixed derivative ``d^|n| f / dx^n1 dy^n2 ...`` at the expansion point.

        ``exponents`` is ``{"dx": 2, "dy": 1}`` or a list in ``symbol_set`` order. A symbol the
        gdual does not depend on gives 0 (as in pyaudi); orders above the truncation order raise
        ValueError.
        """
        key = self._exponents(exponents)
        if key is None:
            return self._scalar(np.zeros_like(self._c[0]))
        b = self._basis()
        i = b.index[key]
        return self._scalar(self._c[i] * b.factorials[i])

    def derivatives(self) -> tuple[np.ndarray, np.ndarray]:
        """Every derivative at once: ``(multi_indices, values)``.

        ``multi_indices`` has shape ``(ncoef, nvars)`` (exponents in ``symbol_set`` order, by
        degree); ``values[i]`` is the derivative for ``multi_indices[i]`` (coefficient times
        factorials); for vectorized gduals, one row of values per multi-index.
        """
        b = self._basis()
        f = b.factorials if self._c.ndim == 1 else b.factorials[:, None]
        return b.exponents.copy(), self._c * f

    def _index_map(self, sym: str, shift: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Monomials m with m[sym] + shift >= 0 and degree + shift <= order: (src, dst, e)."""
        b = self._basis()
        s = self._symbol_index(sym)
        src, dst, power = [], [], []
        for i, row in enumerate(b.exponents.tolist()):
            if row[s] + shift < 0 or sum(row) + shift > self.order:
                continue
            target = list(row)
            target[s] += shift
            src.append(i)
            dst.append(b.index[tuple(target)])
            power.append(row[s])
        return np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64), np.array(power, float)

    def _symbol_index(self, sym: str) -> int:
        if sym in self._symbols:
            return self._symbols.index(sym)
        if "d" + sym in self._symbols:
            return self._symbols.index("d" + sym)
        raise ValueError(f"{sym!r} is not a symbol of this gdual (symbols: {self.symbol_set})")

    def partial(self, sym: str) -> gdual:
        """The partial derivative w.r.t. ``sym`` (``"dx"`` or ``"x"``), same truncation order."""
        if sym not in self._symbols and "d" + sym not in self._symbols:
            return gdual._make(np.zeros_like(self._c), self._symbols, self._order)
        src, dst, power = self._index_map(sym, -1)
        out = np.zeros_like(self._c)
        out[dst] = self._c[src] * (power if self._c.ndim == 1 else power[:, None])
        return gdual._make(out, self._symbols, self._order)

    def integrate(self, sym: str) -> gdual:
        """The antiderivative w.r.t. ``sym`` with zero constant (terms beyond the order drop).

        A symbol not in the symbol set is added first (as pyaudi does).
        """
        if sym not in self._symbols and "d" + sym not in self._symbols and self._order is not None:
            name = sym[1:] if sym.startswith("d") and len(sym) > 1 else sym
            widened = self + 0.0 * gdual(0.0, name, self._order)
            return widened.integrate("d" + name)
        src, dst, power = self._index_map(sym, +1)
        out = np.zeros_like(self._c)
        out[dst] = self._c[src] / ((power + 1) if self._c.ndim == 1 else (power + 1)[:, None])
        return gdual._make(out, self._symbols, self._order)

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """The polynomial's value at the deviations ``{"dx": 0.1, "dy": -0.2}`` (others 0).

        Deviations may be arrays of one length N: the result then has shape ``(N,)``, computed
        in chunks from a table of powers per symbol. For a vectorized gdual of P points,
        deviations are scalars (shared) or arrays of length P (one per point), and the result
        has shape ``(P,)``.
        """
        b = self._basis()
        columns = [np.zeros(1)] * len(self._symbols)
        for sym, v in values.items():
            columns[self._symbol_index(sym)] = np.atleast_1d(np.asarray(v, dtype=float))
        sizes = {c.shape[0] for c in columns if c.shape[0] != 1}
        if self._c.ndim == 2:
            sizes.add(self._c.shape[1])
        if len(sizes) > 1:
            raise ValueError(f"deviations (and points) of different lengths: {sorted(sizes)}")
        n = sizes.pop() if sizes else 1
        out = np.empty(n)
        chunk = max(1, 2**22 // b.ncoef)  # about 32 MB of monomial values at a time
        exponents = np.arange(self.order + 1)[:, None]
        for lo in range(0, n, chunk):
            hi = min(lo + chunk, n)
            monomials = np.ones((b.ncoef, hi - lo))
            for s, col in enumerate(columns):
                dev = np.broadcast_to(col, (n,))[lo:hi]
                monomials *= (dev[None, :] ** exponents)[b.exponents[:, s]]
            if self._c.ndim == 1:
                out[lo:hi] = self._c @ monomials
            else:
                out[lo:hi] = np.einsum("kp,kp->p", self._c[:, lo:hi], monomials)
        scalar = self._c.ndim == 1 and all(np.ndim(v) == 0 for v in values.values())
        return float(out[0]) if scalar else out

    def to_expression(self) -> Expr:
        """The polynomial as a taylorjit expression in the variables ``dx, dy, ...`` (Horner).

        Compile maps with it to evaluate them at many points natively::

            cf = tj.cfunc([g.to_expression() for g in maps], vars=[tj.var(s) for s in symbols])
            values = cf(deviations)  # deviations of shape (nsymbols, npoints)

        Horner's scheme, one symbol at a time: about two operations per coefficient.
        """
        if self._c.ndim != 1:
            raise ValueError("to_expression() needs a scalar gdual (not a vectorized one)")
        b = self._basis()
        variables = [Var(sym) for sym in self._symbols]
        coefficients = self._c

        def horner(rows: np.ndarray, s: int) -> Expr:
            if s == len(variables):
                value = float(coefficients[rows[0]])
                # Integral coefficients become exact numbers (same value), so that 0 and 1
                # simplify away: "dx + 0.1", not "1.0*dx + 0.1".
                exact = value.is_integer() and abs(value) < 2.0**53
                return Num(int(value)) if exact else Num(value)
            powers = b.exponents[rows, s]
            parts = [horner(rows[powers == k], s + 1) if np.any(powers == k) else Num(0)
                     for k in range(int(powers.max()) + 1)]
            result = parts[-1]
            for part in reversed(parts[:-1]):
                result = result * variables[s] + part
            return result

        return horner(np.arange(b.ncoef), 0)

    def _split_powers(self, s: int) -> list[gdual]:
        """``[G_0, G_1, ...]`` with ``self = sum_k sym_s**k * G_k`` (G_k free of symbol s)."""
        b = self._basis()
        power = b.exponents[:, s]
        parts = []
        for k in range(int(power.max(initial=0)) + 1):
            rows = np.nonzero(power == k)[0]
            shifted = b.exponents[rows].copy()
            shifted[:, s] = 0
            target = np.array([b.index[tuple(r)] for r in shifted.tolist()], dtype=np.int64)
            c = np.zeros_like(self._c)
            c[target] = self._c[rows]
            parts.append(gdual._make(c, self._symbols, self._order))
        return parts

    def subs(self, sym: str, value: Any) -> gdual:
        """Substitute the symbol ``sym`` (``"dx"`` or ``"x"``) by a number or a gdual.

        Horner's scheme in ``sym``: ``sum_k value**k G_k``, truncated to the smaller order.
        """
        s = self._symbol_index(sym)
        parts = self._split_powers(s)
        result = parts[-1]
        for part in reversed(parts[:-1]):
            result = result * value + part
        return result

    def trim(self, eps: float) -> gdual:
        """A copy with the coefficients of magnitude below ``eps`` set to zero."""
        c = self._c.copy()
        c[np.abs(c) < eps] = 0.0
        return gdual._make(c, self._symbols, self._order)

    def extract_terms(self, degree: int) -> gdual:
        """The homogeneous part of the given degree."""
        if not 0 <= degree <= self.order:
            raise ValueError(f"degree {degree} outside 0..{self.order}")
        out = np.zeros_like(self._c)
        block = self._basis().block(degree)
        out[block] = self._c[block]
        return gdual._make(out, self._symbols, self._order)

    # --- printing and numpy's object-array protocol -----------------------------------------------
    def __str__(self) -> str:
        b = self._basis()
        terms = []
        for i in range(b.ncoef):
            cf = self._c[i]
            if not np.any(cf):
                continue
            mono = "*".join(s if e == 1 else f"{s}**{e}"
                            for s, e in zip(self._symbols, b.exponents[i].tolist(), strict=True)
                            if e)
            value = repr(float(cf)) if np.ndim(cf) == 0 else np.array2string(cf, precision=6)
            terms.append(value if not mono else f"{value}*{mono}")
        return " + ".join(terms) if terms else "0"

    def __repr__(self) -> str:
        return f"gdual({self}, order={self.order}, symbols={self.symbol_set})"


def compose(g: gdual, args: Sequence[gdual | float]) -> gdual:
    """``g`` with each of its symbols replaced by the matching entry of ``args`` (in
    ``symbol_set`` order): ``g(args[0], args[1], ...)``.

    The arguments' constant terms are moved into ``g`` first (a Taylor shift, exact for a
    polynomial); then Horner's scheme over the monomial tree runs as one compiled program per
    result (``compose.py``). The result has the smaller of the orders of ``g`` and the
    arguments; numbers alone give a constant (``g``'s value there).

    Raises
    ------
    ValueError
        When ``args`` does not hold one entry per symbol of ``g``, or vectorized gduals of
        different numbers of points meet.
    """
    if len(args) != len(g._symbols):
        raise ValueError(f"compose() needs {len(g._symbols)} arguments (one per symbol of "
                         f"{g.symbol_set}), got {len(args)}")
    if not g._symbols:
        return g
    items = [a if isinstance(a, gdual) else gdual(a) for a in args]
    coeffs, symbols, order = gdual._align(items)
    _common_npoints([g._c, *coeffs])
    outer = taylor_shift(g._c, g.order, [c[0] for c in coeffs])
    if order is None:  # numbers only
        return gdual._make(outer[:1].copy(), (), None)
    order = min(order, g.order)
    inner_size = basis(len(symbols), order).ncoef
    outer_size = basis(len(g._symbols), order).ncoef  # truncation: a prefix
    inner = np.array([c[:inner_size] for c in coeffs])
    out = compose_arrays(outer[None, :outer_size], inner, len(symbols), order)
    return gdual._make(out[0], symbols, order)


def compile_map(maps: gdual | Sequence[gdual], symbols: Sequence[str] | None = None) -> CFunc:
    """A map of gduals compiled to native code, to evaluate it at many deviations at once.

    Each component becomes a taylorjit expression in Horner form (:meth:`gdual.to_expression`)
    and all are compiled together by :func:`taylorjit.cfunc` (common subexpressions shared,
    SIMD lanes and threads; the compiled code is cached in memory and on disk). For 4 components
    at (4 variables, order 10), building costs about 0.25 s the first time (0.05 s for the
    expressions, 0.2 s in LLVM); an evaluation at 10^5 points then takes about 12 ms (2 cores
    with AVX-512), against 9 s for :meth:`gdual.evaluate`'s table of powers.

    Parameters
    ----------
    maps
        One scalar (not vectorized) gdual, or a sequence of them: the components.
    symbols
        The deviation symbols in input order (``["dx", "dy"]``); default the sorted union of
        the components' symbol sets.

    Returns
    -------
    CFunc
        ``cf(deviations)``: ``deviations`` of shape ``(len(symbols), npoints)`` give the values
        ``(len(maps), npoints)``; shape ``(len(symbols),)`` gives one point. Its ``vars`` are
        the symbols (``cf.vars``). Pass ``outputs=`` to reuse a result array.

    Raises
    ------
    ValueError
        For a vectorized gdual, or ``symbols`` that miss a symbol of a component.
    """
    components = [maps] if isinstance(maps, gdual) else [
        m if isinstance(m, gdual) else gdual(float(m)) for m in maps]
    union = sorted(set().union(*(m._symbols for m in components)))
    names = union if symbols is None else list(symbols)
    missing = sorted(set(union) - set(names))
    if missing:
        raise ValueError(f"compile_map(): the symbols {missing} of the map are not among the "
                         f"inputs {names}")
    return cfunc([m.to_expression() for m in components], vars=[Var(s) for s in names])


def invert_map(maps: Sequence[gdual], verbose: bool = False) -> list[gdual]:
    """The inverse of a map whose linear part is invertible, to the truncation order.

    ``maps`` are n gduals over n symbols, ``y = M(dx)``; constant terms are ignored (the map is
    taken relative to its expansion point). The inverse is expressed in the same symbols:
    composing it with the map (either way) gives the identity to the order.

    With ``L`` the linear and ``N`` the nonlinear part, the fixed point ``X = L^-1 (y - N(X))``
    gains one correct degree per iteration: if ``X`` is right to degree ``k - 1``, ``N(X)`` is
    right to degree ``k`` (``N`` starts at degree 2). Iteration ``k`` therefore composes at
    truncation order ``k`` only, as DACE and GTPSA do: the cost is about that of two
    compositions at the full order ((6 variables, order 10): 0.13 s, GTPSA 0.63 s).

    Raises
    ------
    ValueError
        For a map that is not square, or whose linear part is singular.
    """
    maps = [m if isinstance(m, gdual) else gdual(float(m)) for m in maps]
    coeffs, symbols, order = gdual._align(maps)
    n = len(maps)
    if len(symbols) != n:
        raise ValueError(f"invert_map() needs as many maps as symbols: {n} map(s) over the "
                         f"symbols {list(symbols)}")
    if order is None or order < 1:
        raise ValueError("invert_map() needs maps of truncation order >= 1")
    if any(c.ndim != 1 for c in coeffs):
        raise NotImplementedError("invert_map() of vectorized gduals is not supported yet")
    bs = basis(n, order)
    nonlinear = np.array(coeffs)
    linear = nonlinear[:, bs.block(1)].copy()
    if not np.all(np.isfinite(linear)) or np.linalg.matrix_rank(linear) < n:
        raise ValueError(f"the linear part of the map is singular:\n{linear}")
    inverse = np.linalg.inv(linear)
    nonlinear[:, :bs.offsets[2]] = 0.0
    X = np.zeros((n, bs.ncoef))
    X[:, bs.block(1)] = inverse  # degree-1 monomials are dx_0, dx_1, ... in symbol order
    for k in range(2, order + 1):
        size = int(bs.offsets[k + 1])
        image = compose_arrays(nonlinear[:, :size], X[:, :size], n, k)
        X[:, :size] = -(inverse @ image)
        X[:, bs.block(1)] = inverse
        if verbose:
            print(f"invert_map: order {k} of {order}")
    return [gdual._make(x, symbols, order) for x in X]


def _common_npoints(arrays: Sequence[np.ndarray]) -> int | None:
    """The number of points of the vectorized coefficient arrays among ``arrays`` (None when
    all are scalar); ValueError when they differ."""
    sizes = {c.shape[1] for c in arrays if c.ndim == 2}
    if len(sizes) > 1:
        raise ValueError(f"vectorized gduals with different numbers of points meet: {sorted(sizes)}")
    return sizes.pop() if sizes else None


def _plain_number(x: Any) -> bool:
    """A float, or an int that converts to float exactly: numpy's arithmetic with it is the
    arithmetic with ``_as_values(x)`` (the same float64 operation), without the conversion.

    NOTE: ``_as_values`` costs 0.35 us: a third of ``2.0 * g`` at (1 variable, order 1).
    """
    return type(x) is float or (type(x) is int and -_EXACT_INT <= x <= _EXACT_INT)


_EXACT_INT = 2**53


@lru_cache(maxsize=1024)
def _merged_symbols(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    """The sorted union of two symbol sets (cached: 0.6 us to build, 0.1 us to look up)."""
    return tuple(sorted(set(a).union(b)))


@cache
def _embedding_plan(old: tuple[str, ...], new: tuple[str, ...], order: int) -> tuple[int, np.ndarray]:
    """``(size, index)``: the basis of ``new`` up to ``order`` has ``size`` monomials, those of
    ``old`` sit at ``index`` (one look-up instead of three for an embedding)."""
    return basis(len(new), order).ncoef, embedding(old, new, order)


def _union(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a | b


@lru_cache(maxsize=4096)
def _sumset(ma: int, mb: int, order: int | None) -> int | None:
    """Degrees of a product: ``{i + j}`` over the factors' degrees, capped at the order."""
    if order is None:
        return 1
    out = 0
    for i in range(order + 1):
        if (ma >> i) & 1:
            out |= mb << i
    return out & ((1 << (order + 1)) - 1)


@lru_cache(maxsize=4096)
def _product_plan(nvars: int, order: int, mask_a: int, mask_b: int
                  ) -> tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], int]:
    """``(run, mask)``: ``run(a, b)`` multiplies scalar coefficient arrays with these degree
    masks, its table looked up once; ``mask`` is the product's degrees.

    The packed table where it fits in the L2 cache; factors of equal degree masks whose table
    does not (or that has no packed form, over 2**16 monomials) take the symmetric table, each
    unordered pair once: it reads half the bytes for the same multiply-adds.
    """
    # NOTE: measured here (L2 2 MB): (6, 10) 257 -> 244 us and (8, 8) 305 -> 288 us with the
    # symmetric table (packed tables of 2.6 and 2.9 MB); (10, 6) 87 against 91 us and (4, 10)
    # 16.0 against 16.7 us with the packed one (0.9 and 0.17 MB); (10, 10) 27 -> 15 ms (the
    # two-column table is 240 MB, the symmetric one 60 MB).
    bs = basis(nvars, order)
    mask = _sumset(mask_a, mask_b, order)
    packed = bs.packed_product_table(mask_a, mask_b)
    if mask_a == mask_b and (packed is None or packed.pairs.nbytes > _l2_cache_bytes()):
        table = bs.symmetric_product_table(mask_a)
        return (lambda a, b: symmetric_product_into(np.empty(bs.ncoef), a, b, table)), mask
    if packed is None:
        return (lambda a, b: _product(a, b, nvars, order, mask_a, mask_b)), mask
    # (univariate ones too: 1.2 us at orders 1-100, against 1.7-4.0 us by np.convolve)
    return (lambda a, b: packed_product_into(np.empty(bs.ncoef), a, b, packed)), mask


@cache
def _l2_cache_bytes() -> int:
    """The L2 cache of one core (Linux sysfs), or 1 MiB where it cannot be read."""
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index2/size") as fh:
            text = fh.read().strip().upper()
        scale = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:], 1)
        return int(text.rstrip("KM")) * scale
    except (OSError, ValueError):
        return 1 << 20


def _product(a: np.ndarray, b: np.ndarray, nvars: int, order: int | None,
             mask_a: int | None = None, mask_b: int | None = None) -> np.ndarray:
    """Truncated product of two aligned flat coefficient arrays: one compiled kernel call,
    over the pairs of nonzero blocks only when the factors' degree masks say some are zero.
    (Scalar gduals go through :func:`_product_plan`.)"""
    if order is None:
        return a * b
    bs = basis(nvars, order)
    full = bs.full_mask
    mask_a = full if mask_a is None else mask_a
    mask_b = full if mask_b is None else mask_b
    # (gdual coefficient arrays are always C-contiguous float64: no conversion needed)
    if mask_a == full and mask_b == full:
        return product_into(np.empty(a.shape), a, b, bs.product_table)
    return product_into(np.zeros(a.shape), a, b, bs.masked_product_table(mask_a, mask_b))


#: Series at least this large run their functions through a compiled, staged kernel (one call;
#: exp at (4 variables, order 10): 26 us instead of 350 us; all 66 derivatives of
#: exp(sin(x y))/(1 + x^2) at order 10: 24 us instead of 1.35 ms); smaller ones run the
#: recurrences block by block in Python (univariate ones: as staged Python, below). A staged
#: kernel compiles once per (function, nvars, order) (0.1-0.5 s, then cached on disk), which
#: does not pay off for tiny series.
_STAGED_MIN_COEFFICIENTS = 50


def _apply(name: str, args: tuple[Any, ...]) -> gdual:
    """A primitive of the table applied to gduals and numbers, by its recurrence."""
    fast = _apply_kernel(name, args)
    if fast is not None:
        return fast
    return _apply_general(name, args)


def _apply_general(name: str, args: tuple[Any, ...]) -> gdual:
    """:func:`_apply` for every case: vectorized gduals, constants, the block-by-block path of
    small multivariate series, calls that simplify away."""
    gduals = [a for a in args if isinstance(a, gdual)]
    coeffs, symbols, order = gdual._align(gduals)
    leaves: dict[int, np.ndarray] = {}
    masks: dict[int, int] = {}
    operands: list[Expr] = []
    it = iter(coeffs)
    for slot, a in zip(_ARG_VARS, args, strict=False):
        if isinstance(a, gdual):
            operands.append(slot)
            leaves[id(slot)] = next(it)
            masks[id(slot)] = a._mask(order)
        else:
            try:
                operands.append(Num(float(a)))
            except TypeError:
                raise TypeError(f"{name}() of a gdual and an object of type "
                                f"{type(a).__name__}") from None
    root = call(name, *operands)
    if not isinstance(root, Call):  # folded away (e.g. pow(g, 1)): evaluate the expression
        return _evaluate_simplified(root, leaves, symbols, order, coeffs)
    eff_order = 0 if order is None else order
    bs = basis(len(symbols), eff_order)
    if bs.ncoef >= _STAGED_MIN_COEFFICIENTS and coeffs[0].ndim == 1:
        kernel = staged_kernel(root, len(symbols), eff_order)
        if kernel is not None:
            ins = [leaves.get(id(v), coeffs[0]) for v in _ARG_VARS]
            with np.errstate(all="ignore"):
                out = kernel.run(np.empty(bs.ncoef), *ins)
            return gdual._make(out, symbols, order)
    # Blocks known to be zero enter as scalar zeros, which the recurrences' products skip
    # ((x - y + 2.3)**10 at order 20: half of 1/p's block products).
    blocks = {k: [c[bs.block(d)] if (masks[k] >> d) & 1 else 0.0 for d in range(eff_order + 1)]
              for k, c in leaves.items()}
    with np.errstate(all="ignore"):  # out-of-domain values become nan, as in numpy
        (series,) = expand([root], eff_order, lambda v: blocks[id(v)], BlockAlgebra(bs),
                           program=cached_program(root))
    out = np.zeros((bs.ncoef, *coeffs[0].shape[1:]))
    for d, block in enumerate(series):
        out[bs.block(d)] = block
    return gdual._make(out, symbols, order)


#: Univariate scalar gduals up to this order run their functions through a Python kernel
#: staged from the recurrences (``univariate.py``); from 50 coefficients on, the compiled
#: staged kernel runs (as for every series of that size).
# NOTE: per call, the staged Python against expand() over numpy blocks: exp 0.6 vs 21 us at
# order 1, 5.7 vs 122 us at order 10, 119 vs 1571 us at order 48; atan2 1.1 vs 44, 11 vs 378,
# 238 vs 5051 us. Building one costs 0.3 ms (order 1) to 76 ms (atan2, order 48), once.
_UNIVARIATE_MAX_ORDER = _STAGED_MIN_COEFFICIENTS - 2

#: (name, nvars, order, operand keys) -> ``kernel(*coefficient arrays) -> coefficients`` for
#: scalar gduals of that layout, or None where the general path runs. Operand keys: a gdual's
#: degree mask (an int, or None for all degrees), a number as a 1-tuple ``(value,)``.
# NOTE: what remains of a call is this look-up and the kernel. exp at (1 variable, order 1):
# 18.6 us through the general path (expand() over numpy blocks: the driver, not the arithmetic),
# 1.4 us with the staged Python kernel. sin at (2 variables, order 10): 11.4 us through the
# general path, of which the compiled kernel takes 2.9 us (the rest: aligning operands,
# building the call node, looking up the kernel, np.errstate, needless around native code);
# 4.1 us through the cache.
_KERNELS: dict[tuple[Any, ...], Callable[..., np.ndarray] | None] = {}
_KERNEL_CACHE_SIZE = 4096
#: ... and at most this many statements of generated Python code in all.
# NOTE: a univariate kernel holds about 45 bytes per statement: atan2 at order 10 has 630
# statements (17 kB), at order 48 13,000 (590 kB); 10^6 statements: about 45 MB.
_KERNEL_CACHE_STATEMENTS = 10**6
_kernel_statements = 0  # statements of the kernels in _KERNELS
_MISSING = object()
#: Keys with a number operand seen once: their kernel is built at the second call.
# NOTE: building a univariate kernel costs 0.3 ms at order 1 (2.8 ms for pow at order 10), about
# ten calls of the general path: code that divides by a new number each time (c / g in a loop
# over c) would pay that on every call.
_SEEN_ONCE: set[tuple[Any, ...]] = set()


def _apply_kernel(name: str, args: tuple[Any, ...]) -> gdual | None:
    """:func:`_apply` through a cached kernel, for scalar gduals (and numbers); None where the
    general path runs: vectorized gduals, constants, small multivariate series, numbers that
    are zero or nan (not usable as dictionary keys), calls that simplify away."""
    if len(args) == 1:
        (g,) = args
        c, order = g._c, g._order
        if c.ndim != 1 or order is None:
            return None
        symbols = g._symbols
        key: tuple[Any, ...] = (name, len(symbols), order, g._nz)
        inputs: tuple[np.ndarray, ...] = (c,)
    else:
        operands = _binary_operands(name, args)
        if operands is None:
            return None
        key, inputs, symbols, order = operands
    kernel = _KERNELS.get(key, _MISSING)
    if kernel is _MISSING:
        kernel = _store_kernel(key, name, args, len(symbols), order)
    if kernel is None:
        return None
    return gdual._make(kernel(*inputs), symbols, order)


def _binary_operands(name: str, args: tuple[Any, ...]
                     ) -> tuple[tuple[Any, ...], tuple[np.ndarray, ...], tuple[str, ...], int] | None:
    """``(key, coefficient arrays, symbols, order)`` of two operands, gduals aligned to the
    union of their symbols and the smaller order; None where the general path runs."""
    a, b = args
    if isinstance(a, gdual) and isinstance(b, gdual):
        if a._c.ndim != 1 or b._c.ndim != 1 or a._order is None or b._order is None:
            return None
        if a._symbols == b._symbols and a._order == b._order:
            symbols, order = a._symbols, a._order
            return (name, len(symbols), order, a._nz, b._nz), (a._c, b._c), symbols, order
        order = min(a._order, b._order)
        symbols = _merged_symbols(a._symbols, b._symbols)
        key = (name, len(symbols), order, a._mask(order), b._mask(order))
        return key, (a._embed(symbols, order, None), b._embed(symbols, order, None)), symbols, order
    g = a if isinstance(a, gdual) else b
    if g._c.ndim != 1 or g._order is None:
        return None
    number = _number_key(b if g is a else a)
    if number is None:
        return None
    nvars, order = len(g._symbols), g._order
    key = (name, nvars, order, g._nz, number) if g is a else (name, nvars, order, number, g._nz)
    return key, (g._c,), g._symbols, order


def _number_key(x: Any) -> tuple[float] | None:
    """``(float(x),)``, the key of a number operand; None for zeros (``-0.0 == 0.0`` as keys),
    nan (``nan != nan``) and objects that are not numbers (the general path handles them)."""
    if type(x) is float:  # (the common case, without the conversion)
        v = x
    else:
        try:
            v = float(x)
        except TypeError:
            return None
    return None if v == 0.0 or v != v else (v,)


def _store_kernel(key: tuple[Any, ...], name: str, args: tuple[Any, ...], nvars: int, order: int
                  ) -> Callable[..., np.ndarray] | None:
    """Build the kernel of ``name`` on operands like ``args`` and cache it under ``key``
    (None, uncached, at the first sight of a key with a number: see ``_SEEN_ONCE``)."""
    if not all(isinstance(a, gdual) for a in args) and key not in _SEEN_ONCE:
        if len(_SEEN_ONCE) >= _KERNEL_CACHE_SIZE:
            _SEEN_ONCE.clear()
        _SEEN_ONCE.add(key)
        return None
    operands: list[Expr] = []
    masks: list[int | None] = [None, None]
    for i, (slot, a) in enumerate(zip(_ARG_VARS, args, strict=False)):
        if isinstance(a, gdual):
            operands.append(slot)
            masks[i] = a._mask(order)
        else:
            operands.append(Num(float(a)))
    root = call(name, *operands)
    kernel: Callable[..., np.ndarray] | None = None
    if not isinstance(root, Call):
        pass  # folded away: the general path evaluates what is left
    elif nvars == 1 and order <= _UNIVARIATE_MAX_ORDER:
        kernel = univariate_kernel(root, order, masks)
    elif basis(nvars, order).ncoef >= _STAGED_MIN_COEFFICIENTS:
        staged = staged_kernel(root, nvars, order)
        kernel = None if staged is None else staged.apply
    global _kernel_statements
    statements = getattr(kernel, "statements", 0)
    if len(_KERNELS) >= _KERNEL_CACHE_SIZE or _kernel_statements + statements > _KERNEL_CACHE_STATEMENTS:
        _KERNELS.clear()
        _kernel_statements = 0
    _KERNELS[key] = kernel
    _kernel_statements += statements
    return kernel


def _evaluate_simplified(root: Expr, leaves: dict[int, np.ndarray], symbols: tuple[str, ...],
                         order: int | None, coeffs: list[np.ndarray]) -> gdual:
    if isinstance(root, Num):
        shape = coeffs[0].shape[1:]
        c = np.zeros((basis(len(symbols), order or 0).ncoef, *shape))
        c[0] = float(root.value)
        return gdual._make(c, symbols, order)
    return gdual._make(leaves[id(root)].copy(), symbols, order)


def _add_numpy_methods() -> None:
    """Methods named after numpy's ufuncs, so ``np.sin(g)`` and object arrays of gduals work."""
    names = {"sin": "sin", "cos": "cos", "tan": "tan", "arcsin": "asin", "arccos": "acos",
             "arctan": "atan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh",
             "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh", "exp": "exp",
             "log": "log", "sqrt": "sqrt", "square": "square"}
    for method, prim in names.items():
        def unary(self: gdual, _prim: str = prim) -> gdual:
            return _apply(_prim, (self,))
        unary.__name__ = method
        unary.__doc__ = f"``{prim}`` of the gdual (also reached by ``numpy.{method}``)."
        setattr(gdual, method, unary)

    def arctan2(self: gdual, other: Any) -> gdual:
        """``atan2(self, other)`` (also reached by ``numpy.arctan2``)."""
        return _apply("atan2", (self, other))

    gdual.arctan2 = arctan2  # type: ignore[attr-defined]


_add_numpy_methods()


def derivatives(f: Callable[..., Any], point: Sequence[float], order: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """All derivatives of ``f(x0, x1, ...)`` up to ``order`` at ``point``.

    ``f`` is ordinary Python code (loops, recursion, numpy calls); it is run once on gduals.
    Returns ``(multi_indices, values)`` as :meth:`gdual.derivatives`, with one column per
    argument, in argument order.
    """
    order = _check_order(order)
    args = [gdual(v, f"x{i}", order) for i, v in enumerate(point)]
    result = f(*args)
    if not isinstance(result, gdual):
        result = gdual(float(result))
    # Every argument's symbol present (f may ignore some), then columns in argument order
    # (symbol sets sort by name, and "dx10" < "dx2").
    result = sum((0.0 * a for a in args), result)
    indices, values = result.derivatives()
    columns = [result.symbol_set.index(f"dx{i}") for i in range(len(args))]
    return indices[:, columns], values
