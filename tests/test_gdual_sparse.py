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
