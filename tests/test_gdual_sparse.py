"""Products that skip zero blocks (the record of nonzero degrees) equal dense products."""

from __future__ import annotations

import numpy as np
import pytest

import taylorjit as tj
from taylorjit._series.gduals import _product, _sumset
from taylorjit._series.monomials import basis


@pytest.mark.parametrize(("nvars", "order"), [(2, 6), (3, 5), (4, 4)])
@pytest.mark.parametrize("points", [None, 5])
def test_masked_products_equal_dense(nvars, order, points):
    bs = basis(nvars, order)
    rng = np.random.default_rng(nvars * 10 + order)
    shape = (bs.ncoef,) if points is None else (bs.ncoef, points)
    for mask_a, mask_b in [(0b1, 0b10), (0b101, 0b10), (0b11, 0b11), (0b100, 0b1000), (0b110, 0b1)]:
        a, b = rng.uniform(-1, 1, shape), rng.uniform(-1, 1, shape)
        for d in range(order + 1):  # zero the blocks the masks exclude
            if not (mask_a >> d) & 1:
                a[bs.block(d)] = 0.0
            if not (mask_b >> d) & 1:
                b[bs.block(d)] = 0.0
        dense = _product(a, b, nvars, order)
        sparse = _product(a, b, nvars, order, mask_a, mask_b)
        np.testing.assert_allclose(sparse, dense, rtol=1e-14, atol=1e-14)
        mask_c = _sumset(mask_a, mask_b, order)
        for d in range(order + 1):  # the product's mask is exact: excluded blocks are zero
            if not (mask_c >> d) & 1:
                assert not np.any(sparse[bs.block(d)])


def test_masks_follow_operations():
    x, y = tj.gdual(0.5, "x", 6), tj.gdual(0.2, "y", 6)
    s = 1 + x + y
    assert s._mask(6) == 0b11
    assert (s * s)._mask(6) == 0b111
    assert (x * y)._mask(6) == 0b111  # (0.5 + dx)(0.2 + dy): degrees 0 to 2
    assert tj.exp(s)._mask(6) == 0b1111111  # functions: every degree
    cube = s * s * s
    assert cube == tj.pow(s, 3) or np.allclose(cube._c, tj.pow(s, 3)._c, rtol=1e-14)


# g is about 2 (constant term 2 or 1.5**3): each function gets an argument inside its domain
SPARSE_FUNCTIONS = {
    "inverse": lambda g: 1.0 / g, "div": lambda g: g / (g * g), "sqrt": tj.sqrt, "log": tj.log,
    "pow": lambda g: g**2.5, "gdual_pow": lambda g: g ** (0.5 * g), "exp": tj.exp, "sin": tj.sin,
    "cos": tj.cos, "tan": lambda g: tj.tan(0.3 * g), "atan": tj.atan, "sinh": tj.sinh,
    "cosh": tj.cosh, "tanh": tj.tanh, "asin": lambda g: tj.asin(0.2 * g),
    "acos": lambda g: tj.acos(0.2 * g), "asinh": tj.asinh, "acosh": tj.acosh,
    "atanh": lambda g: tj.atanh(0.2 * g), "erf": tj.erf, "atan2": lambda g: tj.atan2(g, 1.5 + 0 * g),
    "kepE": lambda g: tj.kepE(0.1 * g, g),
}


@pytest.mark.parametrize("fn", SPARSE_FUNCTIONS.values(), ids=SPARSE_FUNCTIONS.keys())
@pytest.mark.parametrize("points", [None, 3])
def test_functions_skip_zero_blocks_of_their_arguments(fn, points):
    """Blocks a gdual's record says are zero enter the recurrences as scalar zeros (skipped):
    the result equals the one from the same coefficients with the record forgotten, for
    records with zero blocks in the middle (degrees 0 and 4 only: 2 + dx^3 dy) and at the end."""
    x0 = 0.3 if points is None else np.linspace(0.1, 0.5, points)
    x, y = tj.gdual(x0, "x", 6), tj.gdual(-0.2, "y", 6)
    middle = 2 + (x - x0) ** 3 * (y + 0.2)
    middle = tj.gdual._make(middle._c, middle._symbols, middle._order, 0b10001)
    for g in (middle, (1.5 + x + y) ** 3):
        assert g._nz is not None and g._nz != g._basis().full_mask
        dense = tj.gdual._make(g._c, g._symbols, g._order)  # no record: every block used
        np.testing.assert_allclose(fn(g)._c, fn(dense)._c, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize(("nvars", "order"), [(2, 6), (4, 4), (6, 3)])
def test_packed_and_two_column_pair_tables_give_the_same_products(nvars, order):
    # Bases of at most 2**16 monomials multiply over packed pairs (P << 16 | Q); larger ones
    # (e.g. (10, 10)) over two int32 columns: the same sums in the same order.
    from taylorjit._series.kernels import packed_product_into, product_into

    bs = basis(nvars, order)
    rng = np.random.default_rng(nvars + order)
    a, b = rng.uniform(-1, 1, bs.ncoef), rng.uniform(-1, 1, bs.ncoef)
    for mask_a, mask_b in [(bs.full_mask, bs.full_mask), (0b101, 0b11), (0b10, 0b100)]:
        packed = packed_product_into(np.empty(bs.ncoef), a, b, bs.packed_product_table(mask_a, mask_b))
        columns = product_into(np.empty(bs.ncoef), a, b, bs.masked_product_table(mask_a, mask_b))
        np.testing.assert_allclose(packed, columns, rtol=1e-15, atol=1e-300)
        pq, starts, lo, hi = bs.packed_product_table(mask_a, mask_b)
        nonempty = np.flatnonzero(np.diff(starts))
        assert lo <= nonempty.min() and nonempty.max() < hi  # the rows that can have pairs
        p, q, _ = bs.masked_product_table(mask_a, mask_b)
        assert np.array_equal(pq >> 16, p) and np.array_equal(pq & 0xFFFF, q)
    assert basis(10, 10).packed_product_table(basis(10, 10).full_mask, 1) is None  # 184756 > 2**16


@pytest.mark.parametrize(("nvars", "order"), [(1, 7), (2, 6), (4, 4), (6, 3), (3, 0)])
def test_symmetric_pair_tables_give_the_same_products(nvars, order):
    # Bases over 2**16 monomials multiply over symmetric tables (each unordered pair once, the
    # diagonal a[p] b[p] apart), packed at a split that fits 32 bits or in two columns. Both
    # forms against the plain table, for full and sparse degree records.
    from taylorjit._series.kernels import product_into, symmetric_product_into
    from taylorjit._series.monomials import SymmetricTable

    bs = basis(nvars, order)
    rng = np.random.default_rng(7 * nvars + order)
    a, b = rng.uniform(-1, 1, bs.ncoef), rng.uniform(-1, 1, bs.ncoef)
    for mask in [bs.full_mask, 0b101 & bs.full_mask, 0b1010 & bs.full_mask]:
        plain = product_into(np.zeros(bs.ncoef), a, b, bs.masked_product_table(mask, mask))
        table = bs.symmetric_product_table(mask)
        assert table.shift == max((bs.ncoef - 1).bit_length(), 1)
        packed = symmetric_product_into(np.full(bs.ncoef, np.nan), a, b, table)
        np.testing.assert_allclose(packed, plain, rtol=1e-14, atol=1e-15)
        pq, _, starts, diagonal, shift = table
        columns = SymmetricTable((pq >> shift).astype(np.int32),
                                 (pq & ((1 << shift) - 1)).astype(np.int32), starts, diagonal, 0)
        unpacked = symmetric_product_into(np.full(bs.ncoef, np.nan), a, b, columns)
        np.testing.assert_array_equal(unpacked, packed)
        half = np.diff(bs.masked_product_table(mask, mask)[2]).sum()
        assert 2 * len(pq) + np.count_nonzero(diagonal >= 0) == half  # each unordered pair once


def test_large_bases_multiply_over_symmetric_tables(monkeypatch):
    # Bases over 2**16 monomials (75 variables at order 3: 76076) multiply over symmetric
    # tables; the result equals the plain two-column product's.
    import taylorjit._series.gduals as gdual_module
    from taylorjit._series.kernels import product_into

    calls = []
    original = gdual_module.symmetric_product_into
    monkeypatch.setattr(gdual_module, "symmetric_product_into",
                        lambda *args: calls.append(1) or original(*args))
    bs = basis(75, 3)
    c = np.zeros(bs.ncoef)
    c[0], c[1:76] = 0.3, np.linspace(0.5, 1.5, 75)
    s = tj.gdual._make(c, tuple(f"dx{i}" for i in range(75)), 3)  # 0.3 + sum_i w_i dx_i
    p, q = tj.exp(s), tj.sin(s) + s * s
    assert bs.ncoef > 2**16 and bs.packed_product_table(bs.full_mask, bs.full_mask) is None
    before = len(calls)
    product = p * q
    assert len(calls) == before + 1
    plain = product_into(np.empty(bs.ncoef), p._c, q._c, bs.product_table)
    np.testing.assert_allclose(product._c, plain, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize(("nvars", "order"), [(1, 5), (3, 4), (5, 3), (7, 2)])
def test_pair_tables_land_on_the_product_monomial(nvars, order):
    # Every pair (p, q) of block i x block j lands on the monomial with exponents e_p + e_q.
    bs = basis(nvars, order)
    for i in range(order + 1):
        for j in range(order + 1 - i):
            p, q, starts = bs.pair_table(i, j)
            rows = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
            summed = bs.exponents[bs.block(i)][p] + bs.exponents[bs.block(j)][q]
            assert np.array_equal(summed, bs.exponents[bs.block(i + j)][rows])


def test_products_in_many_variables():
    # Regression: the pair tables once located product monomials through the code
    # sum_i e_i (order + 1)**i, which overflows int64 from 32 variables at order 3: products
    # silently lost terms. (1 + x0 + ... + x39)**2 has every mixed second derivative 2.
    x = [tj.gdual(0.0, f"x{i}", 3) for i in range(40)]
    p = (1 + sum(x[1:], x[0])) ** 2
    for a, b in [(0, 39), (20, 39), (5, 6)]:
        assert p.get_derivative({f"dx{a}": 1, f"dx{b}": 1}) == 2.0
    assert p.get_derivative({"dx39": 2}) == 2.0 and p.get_derivative({"dx7": 1}) == 2.0


def test_tables_larger_than_the_l2_cache_multiply_symmetrically(monkeypatch):
    # Equal degree masks whose packed table exceeds the L2 cache take the symmetric table (half
    # the bytes); the result is the same product either way.
    import taylorjit._series.gduals as gdual_module

    calls = []
    original = gdual_module.symmetric_product_into
    monkeypatch.setattr(gdual_module, "symmetric_product_into",
                        lambda *args: calls.append(1) or original(*args))
    x, y, z = (tj.gdual(0.1 * k, f"x{k}", 5) for k in (1, 2, 3))
    p, q = tj.exp(x + y * z), tj.cos(x - 2 * y + z)
    products = []
    for cache_bytes in (1 << 40, 16):  # everything fits; nothing fits
        monkeypatch.setattr(gdual_module, "_l2_cache_bytes", lambda c=cache_bytes: c)
        gdual_module._product_plan.cache_clear()
        before = len(calls)
        products.append((p * q)._c)
        assert len(calls) - before == (cache_bytes == 16)
        assert (p * x)._c.shape == p._c.shape  # (masks differ: never symmetric)
        assert len(calls) - before == (cache_bytes == 16)
    gdual_module._product_plan.cache_clear()
    np.testing.assert_allclose(products[1], products[0], rtol=1e-14, atol=1e-15)
