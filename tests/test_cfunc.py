"""tj.cfunc against the numpy reference of the primitive table, plus its input validation."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import expressions

import taylorjit as tj
from taylorjit._expr import PRIMITIVES, Call, Num, Par, Time, Var, postorder
from taylorjit._jit.context import jit_context

x, y, z = tj.make_vars("x", "y", "z")
EPS = np.finfo(float).eps


# numpy's own exp is off by up to ~1000 ulp on some inputs on AVX-512 machines (its SIMD path);
# the C library is the reference for the functions we implement ourselves.
GLIBC = {name: np.frompyfunc(getattr(math, name), 1, 1) for name in ("exp", "log", "sin", "cos")}


def numpy_reference(fns, values: dict, pars=(), time=0.0, glibc: bool = False) -> np.ndarray:
    """Evaluate expressions node by node with each primitive's numpy_eval (the table's reference),
    or with the C library's exp/log/sin/cos when ``glibc``."""
    out: dict[int, np.ndarray] = {}
    with np.errstate(all="ignore"):
        for node in postorder(list(fns)):
            if isinstance(node, Var):
                out[id(node)] = np.asarray(values[node], dtype=float)
            elif isinstance(node, Par):
                out[id(node)] = np.asarray(pars[node.index], dtype=float)
            elif isinstance(node, Time):
                out[id(node)] = np.asarray(time, dtype=float)
            elif isinstance(node, Num):
                out[id(node)] = np.asarray(float(node.value))
            else:
                assert isinstance(node, Call)
                fn = node.prim.numpy_eval
                if glibc and node.prim.name in GLIBC:
                    fn = GLIBC[node.prim.name]
                out[id(node)] = np.asarray(fn(*(out[id(a)] for a in node.args)), dtype=float)
    return np.array([np.broadcast_to(out[id(f)], np.shape(values[x])) for f in fns])


def ulp_error(ours: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Error in units of the reference's last place (NaN where both are NaN, inf on mismatch)."""
    both_nan = np.isnan(ours) & np.isnan(ref)
    same = (ours == ref) | both_nan
    with np.errstate(all="ignore"):
        err = np.abs(ours - ref) / np.spacing(np.abs(ref))
    return np.where(same, 0.0, np.where(np.isfinite(err), err, np.inf))


# Each primitive on points inside its domain, with the ULP bound we promise against numpy.
UNARY_CASES = {
    "neg": (lambda a: -a, (-10, 10), 0),
    "square": (tj.square, (-10, 10), 0),
    "sqrt": (tj.sqrt, (0, 100), 0),
    "exp": (tj.exp, (-700, 700), 2),
    "log": (tj.log, (1e-300, 1e300), 2),
    "sin": (tj.sin, (-100, 100), 2),
    "cos": (tj.cos, (-100, 100), 2),
    "tan": (tj.tan, (-1.5, 1.5), 2),
    "asin": (tj.asin, (-1, 1), 2),
    "acos": (tj.acos, (-1, 1), 2),
    "atan": (tj.atan, (-50, 50), 2),
    "sinh": (tj.sinh, (-20, 20), 2),
    "cosh": (tj.cosh, (-20, 20), 2),
    "tanh": (tj.tanh, (-20, 20), 2),
    "asinh": (tj.asinh, (-50, 50), 2),
    "acosh": (tj.acosh, (1, 50), 2),
    "atanh": (tj.atanh, (-0.99, 0.99), 2),
    "erf": (tj.erf, (-5, 5), 2),
}
BINARY_CASES = {
    "add": (lambda a, b: a + b, 0),
    "sub": (lambda a, b: a - b, 0),
    "mul": (lambda a, b: a * b, 0),
    "div": (lambda a, b: a / b, 0),
    "pow": (tj.pow, 4),
    "atan2": (tj.atan2, 2),
    "kepE": (None, None),  # checked separately: accuracy is relative to |M|
}


def test_every_primitive_has_a_cfunc_case():
    assert set(PRIMITIVES) == set(UNARY_CASES) | set(BINARY_CASES)


@pytest.mark.parametrize("name", sorted(UNARY_CASES))
@pytest.mark.parametrize("width", [1, 4, 8])
def test_unary_primitive_matches_numpy(name, width):
    fn, (lo, hi), bound = UNARY_CASES[name]
    rng = np.random.default_rng(hash(name) % 2**32)
    if lo > 0 and hi / lo > 1e6:
        pts = 10.0 ** rng.uniform(math.log10(lo), math.log10(hi), 3001)
    else:
        pts = rng.uniform(lo, hi, 3001)
    cf = tj.cfunc([fn(x)], vars=[x], batch_size=width)
    ours = cf(pts[None, :])[0]
    ref = numpy_reference([fn(x)], {x: pts}, glibc=True)[0]
    assert ulp_error(ours, ref).max() <= bound


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow", "atan2"])
def test_binary_primitive_matches_numpy(name):
    fn, bound = BINARY_CASES[name]
    rng = np.random.default_rng(7)
    a, b = rng.uniform(0.01, 10, (2, 2001))
    b = b if name != "pow" else rng.uniform(-4, 4, 2001)
    cf = tj.cfunc([fn(x, y)], vars=[x, y])
    ours = cf(np.array([a, b]))[0]
    ref = numpy_reference([fn(x, y)], {x: a, y: b})[0]
    assert ulp_error(ours, ref).max() <= bound


@pytest.mark.parametrize("exponent", [3, 7, -2, 0.5, -0.5, 1.5, -1.5, 2.5, 10.0, 1 / 3, -2.7])
def test_pow_with_number_exponents(exponent):
    pts = np.random.default_rng(3).uniform(0.01, 5, 1001)
    cf = tj.cfunc([x**exponent], vars=[x])
    assert ulp_error(cf(pts[None, :])[0], pts**exponent).max() <= 4


def test_pow_special_values_follow_c99():
    """pow follows the C library's pow (C99 Annex F), also where numpy's power(x, 0.5) takes a
    sqrt shortcut (numpy gives -0.0 at -0.0 and nan at -inf there)."""
    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    libm.pow.restype = ctypes.c_double
    libm.pow.argtypes = [ctypes.c_double, ctypes.c_double]
    pts = np.array([0.0, -0.0, -1.0, np.inf, -np.inf, np.nan, 2.0])
    # (exact x**(1/2) is sqrt(x) by canonicalisation; float exponents are kept as written)
    for exponent in (3, -2, -1.5, 2.5, -4.5, 1.7, 0.0, 1.0, 2.0, 0.5, -1.0):
        cf = tj.cfunc([x**exponent], vars=[x])
        ref = np.array([libm.pow(p, float(exponent)) for p in pts])
        ours = cf(pts[None, :])[0]
        assert ulp_error(ours, ref).max() <= 4  # specials exactly, others within 4 ulp
        np.testing.assert_array_equal(np.signbit(ours[:2]), np.signbit(ref[:2]))  # signed zeros


def test_kepE_solves_keplers_equation():
    e, M = tj.make_vars("e", "M")
    rng = np.random.default_rng(11)
    ecc = rng.uniform(0, 0.999, 20000)
    mean = rng.uniform(-50, 50, 20000)
    cf = tj.cfunc([tj.kepE(e, M)], vars=[e, M])
    E = cf(np.array([ecc, mean]))[0]
    residual = E - ecc * np.sin(E) - mean
    assert np.max(np.abs(residual) / np.spacing(np.maximum(1.0, np.abs(mean)))) <= 4
    ref = tj.kepE(ecc, mean)
    assert np.max(np.abs(E - ref) / np.spacing(np.maximum(1.0, np.abs(mean)))) <= 4
    bad = cf(np.array([[-0.1, 1.0, 1.5, 0.5, 0.5], [1.0, 1.0, 1.0, np.nan, np.inf]]))[0]
    assert np.isnan(bad).all()
    assert cf(np.array([0.0, 123.25]))[0] == 123.25


def test_widths_tails_and_threads_agree_bitwise():
    f = [tj.sin(x) * tj.exp(y) + tj.cos(x * y) / (1 + z**2), tj.kepE(0.5, x) + tj.atan2(y, z)]
    rng = np.random.default_rng(5)
    pts = rng.uniform(-2, 2, (3, 20011))
    full = tj.cfunc(f, vars=[x, y, z], parallel=False)(pts)
    for width in (1, 2, 4, 8):
        cf = tj.cfunc(f, vars=[x, y, z], batch_size=width)
        np.testing.assert_array_equal(cf(pts), full)  # threaded, with a partial last block
        for n in range(1, 19):  # every tail length
            np.testing.assert_array_equal(cf(np.ascontiguousarray(pts[:, :n])), full[:, :n])
        np.testing.assert_array_equal(cf(pts[:, 7]), full[:, 7])  # scalar call


def test_segmented_kernels_agree_bitwise(monkeypatch):
    """Large kernels are cut into segments sharing values through a scratch buffer."""
    from taylorjit._jit import cfunc as cfunc_module

    shared = tj.sin(x * y) + tj.exp(z)
    f = [shared * x, tj.kepE(0.3, shared) - y, x, 2.5, shared, shared / (1 + tj.square(y)),
         tj.pow(shared, 1.5) * tj.par[0] + tj.time]
    pts = np.random.default_rng(9).uniform(0.1, 1, (3, 101))
    whole = tj.cfunc(f, vars=[x, y, z])(pts, pars=[2.0], time=0.5)
    for size in (1, 2, 5):
        monkeypatch.setattr(cfunc_module, "_SEGMENT_CALLS", size)
        cf = tj.cfunc(f, vars=[x, y, z])
        assert cf.llvm_ir.count("noinline") > 2  # really segmented
        np.testing.assert_array_equal(cf(pts, pars=[2.0], time=0.5), whole)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_expressions_match_numpy(data):
    expr = data.draw(expressions([x, y], max_leaves=12))
    pts = data.draw(st.lists(st.floats(-3, 3), min_size=4, max_size=4)).copy()
    values = np.array([pts[:2], pts[2:]])
    ours = tj.cfunc([expr], vars=[x, y])(values)[0]
    ref = numpy_reference([expr], {x: values[0], y: values[1]})[0]
    finite = np.isfinite(ref)
    np.testing.assert_array_equal(np.isfinite(ours), finite)
    scale = max(1.0, float(np.max(np.abs(ref[finite]), initial=0.0)))
    np.testing.assert_allclose(ours[finite], ref[finite], rtol=1e-12, atol=1e-12 * scale)


def test_pars_time_and_outputs():
    f = [tj.par[0] * x + tj.time, tj.par[2] * tj.sin(tj.time)]
    cf = tj.cfunc(f, vars=[x])
    assert (cf.npars, cf.nouts, cf.nvars, cf.is_time_dependent) == (3, 2, 1, True)
    out = np.empty((2, 5))
    res = cf(np.arange(5.0)[None, :], pars=[2.0, 0.0, 3.0], time=0.5, outputs=out)
    assert res is out
    np.testing.assert_allclose(out[0], 2.0 * np.arange(5.0) + 0.5)
    np.testing.assert_allclose(out[1], 3.0 * np.sin(0.5))
    assert cf([1.0], pars=[1, 1, 1], time=0)[0] == 1.0  # lists and ints convert


def test_nan_and_inf_propagate():
    cf = tj.cfunc([x + y, tj.exp(x), tj.log(y)], vars=[x, y])
    res = cf(np.array([[np.nan, np.inf, -np.inf], [1.0, np.inf, -1.0]]))
    with np.errstate(all="ignore"):
        ref = np.array([[np.nan, np.inf, -np.inf], [np.nan, np.inf, 0.0],
                        [0.0, np.inf, np.nan]])
    np.testing.assert_array_equal(res, ref)


def test_constant_functions_and_default_vars():
    cf = tj.cfunc([2.5, tj.sin(y) + x])  # vars default: sorted by name
    assert [v.name for v in cf.vars] == ["x", "y"]
    np.testing.assert_allclose(cf([1.0, 0.0]), [2.5, 1.0])
    assert "define" in cf.llvm_ir and cf._module.prefix + "cfunc" in cf.llvm_ir


# --- bad input: the rows of RELIABILITY.md, with messages at least as clear ----------------------
def test_rejects_variable_missing_from_vars():
    with pytest.raises(ValueError, match="the variable 'y' appears in the function but not in the "
                                         "user-provided list of variables"):
        tj.cfunc([x + y], vars=[x])


def test_rejects_duplicate_vars():
    with pytest.raises(ValueError, match="'x' appears in the user-provided list of variables twice"):
        tj.cfunc([x], vars=[x, x])


def test_rejects_non_variables_and_empty_lists():
    with pytest.raises(TypeError, match="must contain only variables"):
        tj.cfunc([x], vars=[x + y])
    with pytest.raises(ValueError, match="no outputs"):
        tj.cfunc([], vars=[x])
    with pytest.raises(TypeError, match="list of expressions"):
        tj.cfunc(["x"], vars=[x])
    with pytest.raises(ValueError, match="batch_size"):
        tj.cfunc([x], vars=[x], batch_size=3)


def test_rejects_wrong_input_shapes():
    cf = tj.cfunc([x * y], vars=[x, y])
    with pytest.raises(ValueError, match="the number of function inputs is 2, but the inputs array "
                                         "has a size of 1"):
        cf(np.array([1.0]))
    with pytest.raises(ValueError, match="number of function inputs is 2, but the inputs array has "
                                         "a first dimension of 3"):
        cf(np.zeros((3, 10)))
    with pytest.raises(ValueError, match="it has 3"):
        cf(np.zeros((2, 2, 2)))


def test_rejects_unconvertible_dtypes():
    cf = tj.cfunc([x * y], vars=[x, y])
    with pytest.raises(TypeError, match="complex128"):
        cf(np.array([1.0 + 1j, 2.0]))
    with pytest.raises(TypeError, match="convertible to float64"):
        cf(np.array(["a", "b"]))
    with pytest.raises(TypeError, match="convertible to float64"):
        cf(np.array([x, y], dtype=object))
    assert cf(np.array([2, 3], dtype=np.int32))[0] == 6.0  # integers convert


def test_rejects_wrong_pars_and_time():
    cf = tj.cfunc([x * tj.par[1]], vars=[x])
    with pytest.raises(ValueError, match="contains 2 parameter"):
        cf([1.0])
    with pytest.raises(ValueError, match="has 0 element"):
        cf([1.0], pars=[])
    with pytest.raises(ValueError, match="has 3 element"):
        cf([1.0], pars=[1, 2, 3])
    with pytest.raises(TypeError, match="pars must be real numbers"):
        cf([1.0], pars=["a", "b"])
    ct = tj.cfunc([x * tj.time], vars=[x])
    with pytest.raises(ValueError, match="depends on tj.time"):
        ct([1.0])
    with pytest.raises(ValueError, match="time must be a scalar"):
        ct([1.0], time=[1.0, 2.0])


def test_rejects_bad_outputs():
    cf = tj.cfunc([x, 2 * x], vars=[x])
    pts = np.ones((1, 4))
    with pytest.raises(ValueError, match=r"expected shape \(2, 4\)"):
        cf(pts, outputs=np.empty((2, 3)))
    with pytest.raises(TypeError, match="dtype float64"):
        cf(pts, outputs=np.empty((2, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        cf(pts, outputs=np.empty((4, 2)).T)
    shared = np.ones((2, 4))
    with pytest.raises(ValueError, match="overlaps"):
        cf(shared[:1], outputs=shared)


def test_building_and_dropping_many_cfuncs_frees_memory():
    """RELIABILITY.md (8): JIT memory must not grow without bound."""
    os.environ["TAYLORJIT_CACHE"] = "0"
    try:
        def rss_mb() -> float:
            with open("/proc/self/statm") as fh:
                return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

        def batch(offset: int) -> None:
            for i in range(100):
                jit_context().clear_memory_cache()
                cf = tj.cfunc([x * (i + offset) + tj.sin(x)], vars=[x])
                assert cf([0.0])[0] == 0.0
            gc.collect()

        batch(0)
        before = rss_mb()
        batch(1000)
        batch(2000)
        grown = rss_mb() - before
        assert grown < 40, f"RSS grew by {grown:.1f} MiB over 200 compile/drop cycles"
    finally:
        del os.environ["TAYLORJIT_CACHE"]
