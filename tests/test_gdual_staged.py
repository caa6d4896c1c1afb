"""Staged (compiled) gdual functions against the block-by-block Python path of the same rules."""

from __future__ import annotations

import numpy as np
import pytest

import taylorjit as tj
import taylorjit._series.gduals as gdual_module
from taylorjit._expr import PRIMITIVES

x = tj.gdual(0.3, "x", 3)
y = tj.gdual(0.6, "y", 3)
a = tj.sin(x + 2 * y) * 0.3 + 0.5  # constant term 0.5 + 0.3 sin(1.5): inside every domain

CASES = {
    "add": lambda: a + y, "sub": lambda: a - y, "mul": lambda: a * y, "div": lambda: a / y,
    "neg": lambda: -a, "square": lambda: tj.square(a), "sqrt": lambda: tj.sqrt(a),
    "pow": lambda: a**2.5, "exp": lambda: tj.exp(a), "log": lambda: tj.log(a),
    "sin": lambda: tj.sin(a), "cos": lambda: tj.cos(a), "tan": lambda: tj.tan(a),
    "asin": lambda: tj.asin(a), "acos": lambda: tj.acos(a), "atan": lambda: tj.atan(a),
    "atan2": lambda: tj.atan2(a, y), "sinh": lambda: tj.sinh(a), "cosh": lambda: tj.cosh(a),
    "tanh": lambda: tj.tanh(a), "asinh": lambda: tj.asinh(a), "acosh": lambda: tj.acosh(a + 1),
    "atanh": lambda: tj.atanh(a), "erf": lambda: tj.erf(a), "kepE": lambda: tj.kepE(0.3, a),
}


def test_every_primitive_has_a_case():
    assert set(CASES) == set(PRIMITIVES)


def _python_and_staged(make, monkeypatch):
    """``make()`` through the block-by-block Python recurrences, then through staged kernels."""
    results = []
    for threshold in (10**9, 0):
        monkeypatch.setattr(gdual_module, "_STAGED_MIN_COEFFICIENTS", threshold)
        # (a fresh kernel cache for each threshold: cached kernels remember the path they took)
        monkeypatch.setattr(gdual_module, "_KERNELS", {})
        results.append(make())
    return results


@pytest.mark.parametrize("name", sorted(CASES))
def test_staged_kernel_equals_python_recurrences(name, monkeypatch):
    reference, staged = _python_and_staged(CASES[name], monkeypatch)
    # The same rules in the same order; only the product's reduction may be reassociated.
    np.testing.assert_allclose(staged._c, reference._c, rtol=1e-14, atol=1e-14)
    extra = tj.sin(a) * tj.pow(a, 3) - tj.atan2(0.5, a)  # (numbers mixed in)
    assert np.all(np.isfinite(extra._c))


@pytest.mark.parametrize("name", ["sqrt", "asin", "atan", "pow", "log", "sin", "tan", "exp", "div",
                                  "square", "acosh", "erf"])
def test_staged_kernel_equals_python_recurrences_at_order_7(name, monkeypatch):
    # Order 7: symmetric sums with a middle term (folded into the other terms), quotient rules
    # whose division rides on the kernel call, paired sine and cosine passes at every order.
    x7, y7 = tj.gdual(0.3, "x", 7), tj.gdual(0.6, "y", 7)
    b = tj.sin(x7 + 2 * y7) * 0.3 + 0.5
    make = {"sqrt": lambda: tj.sqrt(b), "asin": lambda: tj.asin(b), "atan": lambda: tj.atan(b),
            "pow": lambda: b**2.5, "log": lambda: tj.log(b), "sin": lambda: tj.sin(b),
            "tan": lambda: tj.tan(b), "exp": lambda: tj.exp(b), "div": lambda: b / y7,
            "square": lambda: tj.square(b), "acosh": lambda: tj.acosh(b + 1), "erf": lambda: tj.erf(b)}
    reference, staged = _python_and_staged(make[name], monkeypatch)
    np.testing.assert_allclose(staged._c, reference._c, rtol=1e-13, atol=1e-13)


def _calls(name: str, nvars: int, order: int) -> tuple[int, int]:
    """(single, paired) product-kernel calls in the staged function ``name``."""
    from taylorjit._primitives.table import apply
    from taylorjit._series.staged import _ARGS, record

    text = record(apply(name, _ARGS[0]), nvars, order, "probe_").text
    body = text[text.index("define void @probe_fn"):]
    return body.count("@taylorjit.series.accumulate("), body.count("@taylorjit.series.accumulate_pair(")


def test_each_recurrence_sum_is_one_kernel_call():
    # exp: k y[k] = sum_j (j a[j]) y[k-j] is one call per order, not k block products.
    assert _calls("exp", 3, 6) == (6, 0)
    # sqrt: the symmetric sum's middle term joins the other terms (rescaled), one call per order
    # from 2 on (order 1 has no products: y[1] = a[1] / (2 y[0])).
    assert _calls("sqrt", 3, 6) == (5, 0)


def test_sin_and_cos_series_share_one_pass():
    # Each order below the last computes the sine and cosine blocks in one paired call; the
    # last computes only the result's block.
    assert _calls("sin", 3, 6) == (1, 5)
    assert _calls("cosh", 2, 5) == (1, 4)


@pytest.mark.parametrize("name", ["sin", "atan", "pow"])
def test_packed_and_two_column_staged_tables_agree(name, monkeypatch):
    # Scratch arrays of at most 2**16 doubles pack each pair in one uint32; larger ones (e.g. at
    # (10, 8)) use two int32 columns: the same sums in the same order, bit for bit.
    from taylorjit._primitives.table import apply
    from taylorjit._series import staged

    root = apply(name, staged._ARGS[0], 2.5) if name == "pow" else apply(name, staged._ARGS[0])
    rng = np.random.default_rng(5)
    coefficients = rng.uniform(-1, 1, staged.basis(3, 6).ncoef)
    coefficients[0] = 0.6
    results = []
    for limit in (1 << 16, 0):
        monkeypatch.setattr(staged, "_PACKED_SCRATCH", limit)
        staged.staged_kernel.cache_clear()
        results.append(staged.staged_kernel(root, 3, 6).apply(coefficients))
    staged.staged_kernel.cache_clear()
    np.testing.assert_array_equal(results[0], results[1])
