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
        pq, starts = bs.packed_product_table(mask_a, mask_b)
        p, q, _ = bs.masked_product_table(mask_a, mask_b)
        assert np.array_equal(pq >> 16, p) and np.array_equal(pq & 0xFFFF, q)
    assert basis(10, 10).packed_product_table(basis(10, 10).full_mask, 1) is None  # 184756 > 2**16
