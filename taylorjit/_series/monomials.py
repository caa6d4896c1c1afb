"""Monomial bases of truncated multivariate series, built once per (nvars, order) and cached.

Coefficients are stored densely, grouped by homogeneous degree (degree 0, then 1, ...); within a
degree, monomials come in descending lexicographic order of their exponents
(``dx**2, dx*dy, dy**2``), the order ``diff_tensors`` uses. A product of a degree-i block by a
degree-j block lands in the degree-(i+j) block; the tables here say where.
"""

from __future__ import annotations

from functools import cache, cached_property
from itertools import combinations_with_replacement
from math import comb, factorial

import numpy as np

__all__ = ["Basis", "basis", "embedding"]


class Basis:
    """The monomials of degree ``<= order`` in ``nvars`` variables.

    Attributes
    ----------
    exponents
        ``(ncoef, nvars)`` int array, one row per monomial.
    offsets
        ``offsets[d]:offsets[d + 1]`` is the slice of degree ``d`` (length ``order + 2``).
    factorials
        ``prod_i exponents[i]!`` per monomial: a derivative is a coefficient times this.
    """

    def __init__(self, nvars: int, order: int) -> None:
        self.nvars = nvars
        self.order = order
        rows: list[tuple[int, ...]] = []
        offsets = [0]
        for d in range(order + 1):
            for combo in combinations_with_replacement(range(nvars), d):
                rows.append(tuple(combo.count(v) for v in range(nvars)))
            offsets.append(len(rows))
        self.exponents = np.array(rows, dtype=np.int64).reshape(len(rows), nvars)
        self.offsets = np.array(offsets, dtype=np.int64)
        self.ncoef = len(rows)
        self.index = {row: i for i, row in enumerate(rows)}
        self.factorials = np.array([np.prod([factorial(e) for e in row]) for row in rows],
                                   dtype=float)
        self.block_degree = {int(offsets[d + 1] - offsets[d]): d for d in range(order + 1)}
        self._pairs: dict[tuple[int, int], tuple[np.ndarray, ...]] = {}
        self._masked: dict[tuple[int, int], tuple[np.ndarray, ...]] = {}

    def block(self, d: int) -> slice:
        """The slice of the flat coefficient array holding degree ``d``."""
        return slice(int(self.offsets[d]), int(self.offsets[d + 1]))

    def block_size(self, d: int) -> int:
        """Number of monomials of degree exactly ``d``."""
        return comb(self.nvars + d - 1, d) if self.nvars else int(d == 0)

    def pair_table(self, i: int, j: int) -> tuple[np.ndarray, ...]:
        """``(P, Q, starts)``: block-local indices with ``x^P[s] * x^Q[s]`` landing on monomial
        ``r`` of degree ``i + j`` for ``s`` in ``starts[r]:starts[r + 1]`` (every ``r`` occurs).

        P and Q are int32, ``starts`` int64 with one entry more than the target block: the
        layout of ``kernels.product_into``.
        """
        key = (i, j)
        if key not in self._pairs:
            a = self.exponents[self.block(i)]
            b = self.exponents[self.block(j)]
            target = self.exponents[self.block(i + j)]
            base = self.order + 1  # exponents never exceed the order: a carry-free encoding
            weights = base ** np.arange(self.nvars, dtype=np.int64)
            codes = target @ weights
            sorter = np.argsort(codes)
            summed = (a @ weights)[:, None] + (b @ weights)[None, :]
            r = sorter[np.searchsorted(codes, summed.ravel(), sorter=sorter)]
            p, q = np.divmod(np.arange(a.shape[0] * b.shape[0]), b.shape[0])
            order = np.argsort(r, kind="stable")
            starts = np.searchsorted(r[order], np.arange(target.shape[0] + 1))
            self._pairs[key] = (p[order].astype(np.int32), q[order].astype(np.int32),
                                starts.astype(np.int64))
        return self._pairs[key]

    @cached_property
    def full_mask(self) -> int:
        """The degree mask with every degree ``0..order`` set."""
        return (1 << (self.order + 1)) - 1

    @cached_property
    def product_table(self) -> tuple[np.ndarray, ...]:
        """The pair table of a whole truncated product over flat coefficient arrays."""
        return self.masked_product_table(self.full_mask, self.full_mask)

    def masked_product_table(self, mask_a: int, mask_b: int) -> tuple[np.ndarray, ...]:
        """The pair table of a product whose factors are nonzero only in the degrees set in
        ``mask_a`` and ``mask_b`` (bit d: degree d); targets without pairs get empty ranges.
        Cached per mask pair: sparse factors such as ``1 + x1 + ... + xn`` pay only for their
        nonzero blocks."""
        key = (mask_a, mask_b)
        if key not in self._masked:
            self._masked[key] = self._build_product_table(mask_a, mask_b)
        return self._masked[key]

    def packed_product_table(self, mask_a: int, mask_b: int) -> tuple[np.ndarray, np.ndarray] | None:
        """``(PQ, starts)``: :meth:`masked_product_table` with each pair in one uint32
        (``P << 16 | Q``), or None when the basis has more than 2**16 monomials.

        NOTE: large products are bound by reading the pair table: (6, 10) has 646 646 pairs,
        5.2 MB in two int32 columns, which no cache holds; packed, half of that, and the
        product takes 243 us instead of 287 (8, 8): 284 instead of 335)."""
        if self.ncoef > 1 << 16:
            return None
        key = (-1 - mask_a, mask_b)  # the packed form shares the masked tables' cache
        if key not in self._masked:
            p, q, starts = self.masked_product_table(mask_a, mask_b)
            self._masked[key] = ((p.astype(np.uint32) << 16) | q.astype(np.uint32), starts)
        return self._masked[key]

    def _build_product_table(self, mask_a: int, mask_b: int) -> tuple[np.ndarray, ...]:
        ps, qs, rs = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for k in range(self.order + 1):
            for i in range(k + 1):
                if not (mask_a >> i) & 1 or not (mask_b >> (k - i)) & 1:
                    continue
                p, q, starts = self.pair_table(i, k - i)
                counts = np.diff(starts)
                ps.append(p.astype(np.int64) + self.offsets[i])
                qs.append(q.astype(np.int64) + self.offsets[k - i])
                rs.append(np.repeat(np.arange(len(counts)), counts) + self.offsets[k])
        p, q, r = np.concatenate(ps), np.concatenate(qs), np.concatenate(rs)
        order = np.argsort(r, kind="stable")
        starts = np.searchsorted(r[order], np.arange(self.ncoef + 1))
        return p[order].astype(np.int32), q[order].astype(np.int32), starts.astype(np.int64)


@cache
def basis(nvars: int, order: int) -> Basis:
    """The cached basis for ``nvars`` variables up to ``order``."""
    return Basis(nvars, order)


@cache
def embedding(old: tuple[str, ...], new: tuple[str, ...], order: int) -> np.ndarray:
    """Flat indices in the basis of ``new`` symbols of the monomials of the ``old`` basis.

    ``old`` must be a subset of ``new``; used when gduals over different symbols meet.
    """
    src, dst = basis(len(old), order), basis(len(new), order)
    columns = [new.index(s) for s in old]
    full = np.zeros((src.ncoef, len(new)), dtype=np.int64)
    full[:, columns] = src.exponents
    return np.array([dst.index[tuple(row)] for row in full.tolist()], dtype=np.int64)
