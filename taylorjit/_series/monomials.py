"""Monomial bases of truncated multivariate series, built once per (nvars, order) and cached.

Coefficients are stored densely, grouped by homogeneous degree (degree 0, then 1, ...); within a
degree, monomials come in descending lexicographic order of their exponents
(``dx**2, dx*dy, dy**2``), the order ``diff_tensors`` uses. A product of a degree-i block by a
degree-j block lands in the degree-(i+j) block; the tables here say where.
"""

from __future__ import annotations

from functools import cache, cached_property
from math import comb, factorial
from typing import NamedTuple

import numpy as np

__all__ = ["Basis", "basis", "embedding", "PackedTable", "SymmetricTable"]


class PackedTable(NamedTuple):
    """A product's pairs in one uint32 column ``P << 16 | Q`` (``Basis.packed_product_table``),
    ``starts`` (int64) delimiting each target's, and the rows ``lo..hi-1`` that can have any."""

    pairs: np.ndarray
    starts: np.ndarray
    lo: int
    hi: int


class SymmetricTable(NamedTuple):
    """A product's pairs, each unordered pair once (``Basis.symmetric_product_table``).

    ``shift > 0``: ``pairs`` and ``second`` are the same uint32 column ``P << shift | Q``;
    ``shift == 0``: ``pairs`` is ``P`` and ``second`` is ``Q`` (int32). ``starts`` (int64)
    delimits each target's entries, ``diagonal`` (int32) holds its ``p`` with ``2 p = r``, or -1.
    """

    pairs: np.ndarray
    second: np.ndarray
    starts: np.ndarray
    diagonal: np.ndarray
    shift: int


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
        blocks = [_degree_block(nvars, d) for d in range(order + 1)]
        self.exponents = np.concatenate(blocks)
        self.offsets = np.concatenate([[0], np.cumsum([len(b) for b in blocks])]).astype(np.int64)
        self.ncoef = len(self.exponents)
        factorial_of = np.array([factorial(e) for e in range(order + 1)], dtype=float)
        self.factorials = np.prod(factorial_of[self.exponents], axis=1)
        self.block_degree = {len(b): d for d, b in enumerate(blocks)}
        self._pairs: dict[tuple[int, int], tuple[np.ndarray, ...]] = {}
        self._masked: dict[tuple[int, int], tuple[np.ndarray, ...]] = {}

    @cached_property
    def index(self) -> dict[tuple[int, ...], int]:
        """Exponent tuple -> flat position (for single look-ups; arrays: :meth:`positions`)."""
        return {tuple(row): i for i, row in enumerate(self.exponents.tolist())}

    def positions(self, rows: np.ndarray) -> np.ndarray:
        """Flat positions of the monomials with exponents ``rows`` (``(m, nvars)`` ints, each
        of degree at most the order)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1, self.nvars)
        ranks = self._ranks(rows, np.zeros((1, self.nvars), dtype=np.int64))[:, 0]
        return self.offsets[rows.sum(axis=1)] + ranks

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
            r = self._ranks(a, b).ravel()
            p, q = np.divmod(np.arange(a.shape[0] * b.shape[0]), b.shape[0])
            order = np.argsort(r, kind="stable")
            starts = np.searchsorted(r[order], np.arange(self.block_size(i + j) + 1))
            self._pairs[key] = (p[order].astype(np.int32), q[order].astype(np.int32),
                                starts.astype(np.int64))
        return self._pairs[key]

    def _ranks(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``ranks[p, q]``: the place of monomial ``a[p] + b[q]`` in its degree block.

        In descending lexicographic order, the monomials of degree ``d`` before ``e`` number
        ``sum_t C(S_t + n - t - 1, n - t)`` for ``t = 1..n-1``, where ``S_t`` is the degree
        of ``e`` in the variables from ``t`` on (those with a larger exponent at the first
        place they differ, counted place by place). ``S_t`` of a product is the sum of its
        factors', so the ranks of a whole block product take ``n`` array passes and no
        encoding that could overflow (``(order + 1)**nvars`` exceeds int64 from 19 variables
        at order 10).
        """
        n = self.nvars
        tail_a = np.cumsum(a[:, ::-1], axis=1)[:, ::-1]  # tail_a[:, t]: degree in vars t..n-1
        tail_b = np.cumsum(b[:, ::-1], axis=1)[:, ::-1]
        ranks = np.zeros((a.shape[0], b.shape[0]), dtype=np.int64)
        for t in range(1, n):
            tail = tail_a[:, t][:, None] + tail_b[:, t][None, :]
            ranks += self._binomials[tail + n - t - 1, n - t]
        return ranks

    @cached_property
    def _binomials(self) -> np.ndarray:
        """``C(x, k)`` for the ``x - k < order`` that :meth:`_ranks` reads (0 elsewhere)."""
        n = self.nvars
        return np.array([[comb(x, k) if x - k < self.order else 0 for k in range(n + 1)]
                         for x in range(self.order + n + 1)], dtype=np.int64)

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

    def packed_product_table(self, mask_a: int, mask_b: int) -> PackedTable | None:
        """:meth:`masked_product_table` with each pair in one uint32 (``P << 16 | Q``), and
        the rows the factors' degrees reach; None when the basis has more than 2**16 monomials.

        NOTE: large products are bound by reading the pair table: (6, 10) has 646 646 pairs,
        5.2 MB in two int32 columns, which no cache holds; packed, half of that, and the
        product takes 243 us instead of 287 (8, 8): 284 instead of 335). The row range skips
        the empty rows of sparse factors: (1 + s)**k by repeated products at (10, 6) visited
        all 8008 rows per product, for 2-3 thousand targets."""
        if self.ncoef > 1 << 16:
            return None
        key = (-1 - mask_a, mask_b)  # the packed form shares the masked tables' cache
        if key not in self._masked:
            p, q, starts = self.masked_product_table(mask_a, mask_b)
            low = (mask_a & -mask_a).bit_length() + (mask_b & -mask_b).bit_length() - 2
            high = min(mask_a.bit_length() + mask_b.bit_length() - 2, self.order)
            lo = int(self.offsets[min(max(low, 0), self.order + 1)])
            self._masked[key] = PackedTable((p.astype(np.uint32) << 16) | q.astype(np.uint32),
                                            starts, lo, max(lo, int(self.offsets[high + 1])))
        return self._masked[key]

    def symmetric_product_table(self, mask: int) -> SymmetricTable:
        """The pair table of a product whose factors are both nonzero only in the degrees of
        ``mask``, each unordered pair once.

        The product kernel reads an entry ``(p, q)`` (``deg p < deg q``, or equal degrees and
        ``p < q``) as ``a[p] b[q] + a[q] b[p]``; ``diagonal[r]`` is the ``p`` with ``2 p = r``
        (``a[p] b[p]``, once), or -1. Half the entries of :meth:`masked_product_table`: large
        products are bound by reading the table (GTPSA's tables are symmetric too). The pairs are
        one uint32 column ``P << shift | Q`` where both fit in 32 bits (``P`` runs over degrees
        up to half the order only: (10, 10) fits, at 12 + 18 bits), else two int32 columns.
        """
        key = (-1 - mask, -1 - mask)
        if key not in self._masked:
            self._masked[key] = self._build_symmetric_table(mask)
        return self._masked[key]

    def _build_symmetric_table(self, mask: int) -> SymmetricTable:
        ps, qs, rs = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        diagonal = np.full(self.ncoef, -1, dtype=np.int32)
        for k in range(self.order + 1):
            for i in range(k // 2 + 1):
                j = k - i
                if not (mask >> i) & 1 or not (mask >> j) & 1:
                    continue
                p, q, starts = self.pair_table(i, j)
                r = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
                if i == j:
                    on = p == q
                    diagonal[r[on] + self.offsets[k]] = p[on] + self.offsets[i]
                    keep = p < q
                    p, q, r = p[keep], q[keep], r[keep]
                ps.append(p.astype(np.int64) + self.offsets[i])
                qs.append(q.astype(np.int64) + self.offsets[j])
                rs.append(r + self.offsets[k])
        p, q, r = np.concatenate(ps), np.concatenate(qs), np.concatenate(rs)
        order = np.argsort(r, kind="stable")
        starts = np.searchsorted(r[order], np.arange(self.ncoef + 1)).astype(np.int64)
        p, q = p[order], q[order]
        shift = max(int(self.ncoef - 1).bit_length(), 1)
        if not len(p) or int(p.max()).bit_length() + shift <= 32:
            packed = (p.astype(np.uint32) << shift) | q.astype(np.uint32)
            return SymmetricTable(packed, packed, starts, diagonal, shift)
        return SymmetricTable(p.astype(np.int32), q.astype(np.int32), starts, diagonal, 0)

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
    return dst.positions(full)


def _degree_block(nvars: int, d: int) -> np.ndarray:
    """The exponents of degree ``d`` in ``nvars`` variables, in descending lexicographic order
    (that of ``itertools.combinations_with_replacement(range(nvars), d)``)."""
    combos = _sorted_tuples(nvars, d)
    exponents = np.zeros((len(combos), nvars), dtype=np.int64)
    rows = np.arange(len(combos))
    for k in range(d):
        exponents[rows, combos[:, k]] += 1
    return exponents


@cache
def _sorted_tuples(n: int, d: int) -> np.ndarray:
    """All nondecreasing ``d``-tuples of ``0..n-1``, in lexicographic order, as rows."""
    if d == 0:
        return np.zeros((1, 0), dtype=np.int64)
    parts = [np.zeros((0, d), dtype=np.int64)]
    for first in range(n):
        rest = _sorted_tuples(n - first, d - 1) + first
        parts.append(np.column_stack([np.full(len(rest), first, dtype=np.int64), rest]))
    return np.concatenate(parts)
