"""The native callers of compiled kernels (``runtime.array_caller``): builtin functions whose
calls go straight into a JIT-compiled ``METH_FASTCALL`` trampoline."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from taylorjit._jit.runtime import array_caller
from taylorjit._series.kernels import _PACKED, _compiled, packed_product_into
from taylorjit._series.monomials import basis


def _packed():
    return _compiled(_PACKED, "packed"), array_caller(5, 3)


def test_wrong_argument_counts_raise_instead_of_crashing():
    address, caller = _packed()
    bs = basis(2, 3)
    table = bs.packed_product_table(bs.full_mask, bs.full_mask)
    a = np.ones(bs.ncoef)
    with pytest.raises(TypeError, match="wrong number of arguments"):
        caller(address, a, a, a)
    with pytest.raises(TypeError, match="wrong number of arguments"):
        caller(address, a, a, a, table.pairs, table.starts, bs.ncoef, 0, bs.ncoef, 0)


def test_bad_integers_raise_instead_of_crashing():
    address, caller = _packed()
    bs = basis(2, 3)
    table = bs.packed_product_table(bs.full_mask, bs.full_mask)
    out, a = np.full(bs.ncoef, 7.0), np.ones(bs.ncoef)
    with pytest.raises(TypeError):
        caller(address, out, a, a, table.pairs, table.starts, "ten", 0, bs.ncoef)
    with pytest.raises(TypeError):
        caller(str(address), out, a, a, table.pairs, table.starts, bs.ncoef, 0, bs.ncoef)
    with pytest.raises(OverflowError):
        caller(address, out, a, a, table.pairs, table.starts, 2**70, 0, bs.ncoef)
    assert np.all(out == 7.0)  # nothing ran


def test_calls_from_several_threads_give_the_serial_results():
    # The GIL is released during the native call: threads run kernels side by side.
    bs = basis(4, 8)
    table = bs.packed_product_table(bs.full_mask, bs.full_mask)
    rng = np.random.default_rng(3)
    pairs = [(rng.uniform(-1, 1, bs.ncoef), rng.uniform(-1, 1, bs.ncoef)) for _ in range(4)]
    expected = [packed_product_into(np.empty(bs.ncoef), a, b, table) for a, b in pairs]
    results: dict[int, list[np.ndarray]] = {}

    def work(k: int) -> None:
        a, b = pairs[k]
        results[k] = [packed_product_into(np.empty(bs.ncoef), a, b, table) for _ in range(200)]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        assert all(np.array_equal(r, expected[k]) for r in results[k])
