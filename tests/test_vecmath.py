"""Accuracy and special-value tests for the vectorised elementary functions in
``taylorjit._jit.vecmath``.

Each function is compiled (llvmlite MCJIT, host CPU, O3) into tiny kernels
``void f(double* out, const double* in, i64 n)`` for W = 1 (scalar), 2, 4, 8 and
compared against the C library (glibc, called element-wise; within ~0.5 ULP on
almost all arguments) in integer ULPs and against mpmath (50 digits) in
fractional ULPs.  numpy is not used as the reference: numpy 2.x's own AVX-512
``np.exp`` is off by up to 1024 ULP for ~1e-4 of inputs on this hardware.

Run ``python tests/test_vecmath.py`` for the ns/element benchmark and a larger
mpmath accuracy survey.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llvmlite import binding as llvm
from llvmlite import ir

from taylorjit._jit import vecmath

WIDTHS = (1, 2, 4, 8)
FUNCS = ("exp", "log", "sin", "cos", "sincos")
_F64 = ir.DoubleType()
_I64 = ir.IntType(64)
_PTR = ir.PointerType()
_KFNTY = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)

# Claimed bounds (max integer ULP distance to glibc; max fractional ULP error vs mpmath).
ULP_LIBM = {"exp": 1, "log": 1, "sin": 1, "cos": 1}
ULP_MPMATH = {"exp": 0.6, "log": 0.9, "sin": 0.8, "cos": 0.8}
ULP_MPMATH_EXP_SUBNORMAL = 0.8
TRIG_FAST_MAX = 2.0**28


# ------------------------------------------------------------------ JIT harness
def _emit_loop(module: ir.Module, name: str, width: int, body) -> None:
    """``void name(double* out, const double* in, i64 n)`` looping over ``i`` in steps of
    ``width``; ``body(b, i, n, ty, out, inp)`` emits one step (n a multiple of width)."""
    ty = _F64 if width == 1 else ir.VectorType(_F64, width)
    func = ir.Function(module, ir.FunctionType(ir.VoidType(), [_PTR, _PTR, _I64]), name)
    out, inp, n = func.args
    entry = func.append_basic_block("entry")
    loop = func.append_basic_block("loop")
    exit_ = func.append_basic_block("exit")
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed(">", n, ir.Constant(_I64, 0)), loop, exit_)
    b.position_at_end(loop)
    i = b.phi(_I64)
    i.add_incoming(ir.Constant(_I64, 0), entry)
    body(b, i, n, ty, out, inp)
    i2 = b.add(i, ir.Constant(_I64, width))
    i.add_incoming(i2, b.block)
    b.cbranch(b.icmp_signed("<", i2, n), loop, exit_)
    b.position_at_end(exit_)
    b.ret_void()


def _emit_kernel(module: ir.Module, name: str, fn: str, width: int) -> None:
    """``void name(double* out, const double* in, i64 n)``; n must be a multiple of width.

    For ``sincos`` the output holds 2n values: sin at ``out[0:n]``, cos at ``out[n:2n]``.
    """

    def body(b, i, n, ty, out, inp):
        x = b.load(b.gep(inp, [i], source_etype=_F64), typ=ty, align=8)
        if fn == "sincos":
            s, c = vecmath.emit_sincos(b, x)
            b.store(s, b.gep(out, [i], source_etype=_F64), align=8)
            b.store(c, b.gep(out, [b.add(i, n)], source_etype=_F64), align=8)
        else:
            y = getattr(vecmath, f"emit_{fn}")(b, x)
            b.store(y, b.gep(out, [i], source_etype=_F64), align=8)

    _emit_loop(module, name, width, body)


def _emit_combo(module: ir.Module, width: int) -> None:
    """``void combo(double* out, const double* xy, i64 n)``: out = sin(x)*exp(y) + cos(x*y),
    with x = xy[0:n], y = xy[n:2n] (benchmark only)."""

    def body(b, i, n, ty, out, inp):
        x = b.load(b.gep(inp, [i], source_etype=_F64), typ=ty, align=8)
        y = b.load(b.gep(inp, [b.add(i, n)], source_etype=_F64), typ=ty, align=8)
        r = b.fadd(
            b.fmul(vecmath.emit_sin(b, x), vecmath.emit_exp(b, y)),
            vecmath.emit_cos(b, b.fmul(x, y)),
        )
        b.store(r, b.gep(out, [i], source_etype=_F64), align=8)

    _emit_loop(module, f"combo_{width}", width, body)


def _host_tm() -> llvm.TargetMachine:
    """A fresh host target machine (MCJIT takes ownership, so never share one)."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_triple(llvm.get_process_triple())
    return target.create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=3
    )


class _Jit:
    def __init__(self) -> None:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        module = ir.Module(name="vecmath_test")
        module.triple = llvm.get_process_triple()
        for fn in FUNCS:
            for w in WIDTHS:
                _emit_kernel(module, f"{fn}_{w}", fn, w)
        _emit_combo(module, 8)
        self.ir_text = str(module)
        self.tm = _host_tm()
        mod = llvm.parse_assembly(self.ir_text)
        mod.verify()
        pb = llvm.create_pass_builder(self.tm, llvm.create_pipeline_tuning_options(speed_level=3))
        pb.getModulePassManager().run(mod, pb)
        self.opt_ir = str(mod)
        self.engine = llvm.create_mcjit_compiler(mod, self.tm)
        self.engine.finalize_object()
        self._mod = mod
        self.kernels = {
            name: _KFNTY(self.engine.get_function_address(name))
            for name in [f"{fn}_{w}" for fn in FUNCS for w in WIDTHS] + ["combo_8"]
        }

    def run(self, fn: str, width: int, x: np.ndarray) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(x, dtype=np.float64).ravel()
        n = x.size
        npad = -(-n // 8) * 8 if n else 0
        xin = np.zeros(npad)
        xin[:n] = x
        nout = 2 * npad if fn == "sincos" else npad
        out = np.empty(nout)
        self.kernels[f"{fn}_{width}"](out.ctypes.data, xin.ctypes.data, npad)
        if fn == "sincos":
            return out[:n].copy(), out[npad : npad + n].copy()
        return out[:n].copy()


@functools.cache
def _jit() -> _Jit:
    return _Jit()


@pytest.fixture(scope="module")
def jit() -> _Jit:
    return _jit()


# ------------------------------------------------------------------ ULP helpers
def _ordered(a: np.ndarray) -> np.ndarray:
    i = np.asarray(a, dtype=np.float64).view(np.int64)
    return np.where(i < 0, np.int64(-(2**63)) - i, i)


def ulp_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer ULP distance; 0 where both are the same NaN-ness/inf, huge on mismatch."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    oa, ob = _ordered(a), _ordered(b)
    with np.errstate(over="ignore"):
        exact = np.abs(oa - ob).astype(np.float64)  # may wrap for far-apart values
    approx = np.abs(oa.astype(np.float64) - ob.astype(np.float64))
    d = np.where(approx > 2.0**60, approx, exact)
    both_nan = np.isnan(a) & np.isnan(b)
    one_nan = np.isnan(a) ^ np.isnan(b)
    d = np.where(both_nan, 0.0, d)
    return np.where(one_nan, np.inf, d)


def _libm_ufunc(name: str):
    """Element-wise glibc ``name`` (numpy's own SIMD exp is off by up to 1024 ULP on AVX-512
    machines with numpy 2.x, so the C library is the integer-ULP reference)."""
    lib = ctypes.CDLL(ctypes.util.find_library("m"))
    cfn = getattr(lib, name)
    cfn.restype = ctypes.c_double
    cfn.argtypes = [ctypes.c_double]
    uf = np.frompyfunc(cfn, 1, 1)

    def f(x):
        with np.errstate(all="ignore"):
            return uf(np.asarray(x, dtype=np.float64)).astype(np.float64)

    return f


_LIBM = {name: _libm_ufunc(name) for name in ("exp", "log", "sin", "cos")}
_NUMPY = {"exp": np.exp, "log": np.log, "sin": np.sin, "cos": np.cos}
_MPF = {"exp": mpmath.exp, "log": mpmath.log, "sin": mpmath.sin, "cos": mpmath.cos}


def mp_ulp_errors(fn: str, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """|y - f(x)| / ulp(f(x)) per point, f by mpmath at 50 digits (0 where f(x) or y is not finite).

    ulp(v) = 2**(floor(log2|v|) - 52), and 2**-1074 for subnormal v.
    """
    out = np.zeros(len(xs))
    with mpmath.workdps(50):
        for k, (x, y) in enumerate(zip(np.asarray(xs).tolist(), np.asarray(ys).tolist(), strict=True)):
            if not (math.isfinite(x) and math.isfinite(y)):
                continue
            ref = _MPF[fn](mpmath.mpf(x))
            if ref == 0 or mpmath.isinf(ref):
                continue
            e = max(int(mpmath.floor(mpmath.log(abs(ref), 2))), -1022)
            out[k] = float(abs(mpmath.mpf(y) - ref) / mpmath.ldexp(1, e - 52))
    return out


def mp_ulp_error(fn: str, xs: np.ndarray, ys: np.ndarray) -> float:
    """Max of :func:`mp_ulp_errors`."""
    return float(mp_ulp_errors(fn, xs, ys).max(initial=0.0))


def _rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def _loguniform(rng, lo, hi, n, signed=False):
    x = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    if signed:
        x *= rng.choice([-1.0, 1.0], n)
    return x


def _ranges(fn: str) -> dict[str, np.ndarray]:
    rng = _rng()
    n = 25_000
    if fn == "exp":
        return {
            "small [-1,1]": rng.uniform(-1, 1, n),
            "near 0": _loguniform(rng, 1e-300, 1e-3, n, signed=True),
            "[-50,50]": rng.uniform(-50, 50, n),
            "full [-745.2,709.8]": rng.uniform(-745.2, 709.79, n),
            "near overflow": rng.uniform(700, 709.7827, n),
            "subnormal results": rng.uniform(-745.14, -708.4, n),
            "near (k+1/2) ln2": (rng.integers(-1000, 1000, n) + 0.5) * np.log(2)
            + rng.uniform(-1e-3, 1e-3, n),
        }
    if fn == "log":
        tiny = np.frombuffer(rng.integers(1, 2**52, n, dtype=np.int64).tobytes(), dtype=np.float64)
        return {
            "near 1": rng.uniform(0.9, 1.1, n),
            "(0,10]": rng.uniform(1e-12, 10, n),
            "log-uniform normal": _loguniform(rng, 2.3e-308, 1.7e308, n),
            "subnormal inputs": tiny.copy(),
            "near sqrt2/2": rng.uniform(0.69, 0.74, n),
            "[1.35,1.5]": rng.uniform(1.35, 1.5, n),
        }
    # sin / cos
    return {
        "[-pi/4,pi/4]": rng.uniform(-np.pi / 4, np.pi / 4, n),
        "near 0": _loguniform(rng, 1e-300, 1e-3, n, signed=True),
        "[-10,10]": rng.uniform(-10, 10, n),
        "[-1e5,1e5]": rng.uniform(-1e5, 1e5, n),
        "[1e5,2^28] log-uniform": _loguniform(rng, 1e5, TRIG_FAST_MAX, n, signed=True),
        "near k*pi/2": (np.arange(n) - n // 2) * (np.pi / 2) + rng.uniform(-1e-9, 1e-9, n),
        "near (k+1/2)pi/2": (rng.integers(-60000, 60000, n) + 0.5) * (np.pi / 2)
        + rng.uniform(-1e-3, 1e-3, n),
        "large (libm path)": _loguniform(rng, TRIG_FAST_MAX, 1e300, 2000, signed=True),
    }


def _hard_trig_cases() -> np.ndarray:
    """Doubles |x| < 2**28 closest to a multiple of pi/2 (one per binade, by continued fractions)."""
    out = []
    with mpmath.workdps(80):
        half_pi = mpmath.pi / 2
        for e in range(0, 28):
            # x = m * 2**(e-52), m in [2**52, 2**53): want m ~= k * alpha with alpha = (pi/2) 2**(52-e)
            alpha = half_pi * mpmath.ldexp(1, 52 - e)
            kmax = int(mpmath.floor(mpmath.ldexp(1, 53) / alpha))
            kmin = int(mpmath.ceil(mpmath.ldexp(1, 52) / alpha))
            # convergent denominators of alpha
            p0, q0, p1, q1 = 0, 1, 1, 0
            a = alpha
            best = []
            for _ in range(60):
                ai = int(mpmath.floor(a))
                p0, q0, p1, q1 = p1, q1, ai * p1 + p0, ai * q1 + q0
                if q1 > kmax:
                    break
                best.append(q1)
                frac = a - ai
                if frac == 0:
                    break
                a = 1 / frac
            for q in best[-3:]:
                for k in (q * max(1, kmin // q), q * max(1, kmin // q + 1)):
                    if kmin <= k <= kmax:
                        m = int(mpmath.nint(k * alpha))
                        x = math.ldexp(m, e - 52)
                        out.extend([x, -x])
    return np.unique(out)


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize("fn", ["exp", "log", "sin", "cos"])
def test_ulp_vs_libm(jit, fn):
    for label, x in _ranges(fn).items():
        y = jit.run(fn, 8, x)
        with np.errstate(all="ignore"):
            ref = _LIBM[fn](x)
        d = ulp_diff(y, ref)
        assert d.max() <= ULP_LIBM[fn], (fn, label, d.max(), x[np.argmax(d)])


@pytest.mark.parametrize("fn", ["exp", "log", "sin", "cos"])
def test_ulp_vs_mpmath(jit, fn):
    rng = np.random.default_rng(7)
    for label, x in _ranges(fn).items():
        xs = rng.choice(x, min(400, x.size), replace=False)
        err = mp_ulp_errors(fn, xs, jit.run(fn, 8, xs))
        if fn == "exp":  # subnormal results: one extra rounding to the subnormal grid
            sub = xs < -708.3964185322641
            assert err[sub].max(initial=0) <= ULP_MPMATH_EXP_SUBNORMAL, (label, err.max())
            err = err[~sub]
        if "libm" in label:
            continue  # glibc's own accuracy
        assert err.max(initial=0) <= ULP_MPMATH[fn], (fn, label, err.max(initial=0))


def test_trig_hard_reduction_cases(jit):
    x = _hard_trig_cases()
    assert x.size > 40
    with mpmath.workdps(50):
        r = [abs(mpmath.mpf(v) - mpmath.nint(mpmath.mpf(v) / (mpmath.pi / 2)) * mpmath.pi / 2) for v in x]
    assert min(r) < 2.0**-40  # the set really contains near-multiples of pi/2
    for fn in ("sin", "cos"):
        # (glibc itself is 1.98 ULP off on some of these, so only mpmath is a valid reference)
        assert mp_ulp_error(fn, x, jit.run(fn, 8, x)) <= ULP_MPMATH[fn]


def test_sincos_matches_sin_and_cos(jit):
    x = np.concatenate([v for v in _ranges("sin").values()])
    for w in WIDTHS:
        s, c = jit.run("sincos", w, x)
        np.testing.assert_array_equal(s, jit.run("sin", 8, x))
        np.testing.assert_array_equal(c, jit.run("cos", 8, x))


@pytest.mark.parametrize("fn", ["exp", "log", "sin", "cos"])
def test_widths_identical(jit, fn):
    x = np.concatenate([v[:3000] for v in _ranges(fn).values()] + [_special_inputs()])
    ref = jit.run(fn, 8, x).view(np.int64)
    for w in WIDTHS[:-1]:
        np.testing.assert_array_equal(jit.run(fn, w, x).view(np.int64), ref, err_msg=f"{fn} W={w}")


def test_mixed_lanes_large_and_small(jit):
    """A vector with one large lane must still give fast-path results in the other lanes."""
    rng = np.random.default_rng(3)
    x = rng.uniform(-10, 10, 800)
    x[::7] = rng.uniform(1e9, 1e12, x[::7].size) * rng.choice([-1, 1], x[::7].size)
    x[5::13] = np.inf
    x[6::17] = np.nan
    for fn in ("sin", "cos"):
        y = jit.run(fn, 8, x)
        with np.errstate(invalid="ignore"):
            assert ulp_diff(y, _LIBM[fn](x)).max() <= 1
        s, c = jit.run("sincos", 4, x)
        np.testing.assert_array_equal((s if fn == "sin" else c).view(np.int64), y.view(np.int64))


def _special_inputs() -> np.ndarray:
    return np.array(
        [
            0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 5e-324, -5e-324, 2.2250738585072014e-308,
            1.7976931348623157e308, -1.7976931348623157e308, 1.0, -1.0, 709.782712893384,
            709.7827128933841, 710.0, -745.1332191019411, -745.1332191019412, -745.2, -746.0, -1e10,
            1e10, 1e300, -1e300, 2.0**28, -(2.0**28), np.nextafter(2.0**28, np.inf), 1e-310,
        ]
    )  # fmt: skip


@pytest.mark.parametrize("fn", ["exp", "log", "sin", "cos"])
def test_special_values(jit, fn):
    x = _special_inputs()
    for w in WIDTHS:
        y = jit.run(fn, w, x)
        with np.errstate(all="ignore"):
            ref = _LIBM[fn](x)
        assert ulp_diff(y, ref).max() <= 1, (fn, w, x[np.argmax(ulp_diff(y, ref))])
        # signs of zeros and infinities must be exact
        exact = np.isinf(ref) | (ref == 0)
        np.testing.assert_array_equal(y[exact].view(np.int64), ref[exact].view(np.int64), err_msg=f"{fn} {w}")


def test_explicit_special_values(jit):
    inf, nan = np.inf, np.nan
    e = jit.run("exp", 8, np.array([nan, inf, -inf, 710.0, 709.79, -745.2, -746.0, 0.0, -0.0]))
    assert np.isnan(e[0]) and e[1] == inf and e[2] == 0.0 and e[3] == inf and e[4] == inf
    assert e[5] == 0.0 and e[6] == 0.0 and e[7] == 1.0 and e[8] == 1.0
    assert jit.run("exp", 8, np.array([-745.1332191019411]))[0] == 5e-324
    lg = jit.run("log", 8, np.array([0.0, -0.0, -1.0, -inf, inf, nan, 5e-324, 1.0]))
    assert lg[0] == -inf and lg[1] == -inf and np.isnan(lg[2]) and np.isnan(lg[3])
    assert lg[4] == inf and np.isnan(lg[5]) and lg[6] == np.log(5e-324) and lg[7] == 0.0
    for w in WIDTHS:
        s = jit.run("sin", w, np.array([inf, -inf, nan, -0.0, 0.0, -5e-324]))
        assert np.isnan(s[:3]).all()
        assert np.signbit(s[3]) and s[3] == 0.0 and not np.signbit(s[4]) and s[5] == -5e-324
        c = jit.run("cos", w, np.array([inf, -inf, nan, -0.0, 0.0]))
        assert np.isnan(c[:3]).all() and (c[3:] == 1.0).all()


def test_exp_subnormal_monotone(jit):
    x = np.linspace(-745.2, -700.0, 200_001)
    y = jit.run("exp", 8, x)
    assert (np.diff(y) >= 0).all()
    assert ulp_diff(y, _LIBM["exp"](x)).max() <= 1


def test_log_exp_consistency(jit):
    """exp of every normal binade boundary and log of every power of two."""
    k = np.arange(-1074, 1024, dtype=np.float64)
    p = np.ldexp(1.0, k.astype(int))
    assert ulp_diff(jit.run("log", 8, p), _LIBM["log"](p)).max() <= 1
    assert ulp_diff(jit.run("exp", 8, k * np.log(2)), _LIBM["exp"](k * np.log(2))).max() <= 1


_finite = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)


@settings(max_examples=300, deadline=None)
@given(st.lists(_finite, min_size=1, max_size=24))
def test_hypothesis_all(xs):
    jit = _jit()
    x = np.array(xs, dtype=np.float64)
    for fn in ("exp", "log", "sin", "cos"):
        with np.errstate(all="ignore"):
            ref = _LIBM[fn](x)
        for w in (1, 8):
            y = jit.run(fn, w, x)
            assert ulp_diff(y, ref).max() <= ULP_LIBM[fn], (fn, w, xs)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=-TRIG_FAST_MAX, max_value=TRIG_FAST_MAX))
def test_hypothesis_trig_vs_mpmath(x):
    jit = _jit()
    xs = np.array([x])
    s, c = jit.run("sincos", 2, xs)
    assert mp_ulp_error("sin", xs, s) <= ULP_MPMATH["sin"]
    assert mp_ulp_error("cos", xs, c) <= ULP_MPMATH["cos"]


def test_ir_is_vectorised(jit):
    """The fast path must not scalarise: no libm calls outside the cold path, and no llvm.sin/exp."""
    for name in ("llvm.sin", "llvm.cos", "llvm.exp", "llvm.log", "@exp(", "@log("):
        assert name not in jit.ir_text
    asm = jit.tm.emit_assembly(jit._mod)
    if "avx512f" in llvm.get_host_cpu_features().flatten():
        assert "zmm" in asm


def test_helper_reuse_and_builder_block():
    """Trig helpers are created once per module and type; the caller's builder never leaves its block."""
    module = ir.Module()
    ty = ir.VectorType(_F64, 4)
    fn = ir.Function(module, ir.FunctionType(ty, [ty]), "f")
    block = fn.append_basic_block("entry")
    b = ir.IRBuilder(block)
    x = fn.args[0]
    y = vecmath.emit_sin(b, x)
    y = b.fadd(y, vecmath.emit_cos(b, x))
    s, c = vecmath.emit_sincos(b, y)
    y = b.fadd(b.fadd(s, c), vecmath.emit_sin(b, vecmath.emit_exp(b, vecmath.emit_log(b, x))))
    assert b.block is block and fn.blocks == [block]
    b.ret(y)
    names = [g.name for g in module.global_values]
    assert len(names) == len(set(names))
    assert {"taylorjit.vm.sin.v4f64", "taylorjit.vm.cos.v4f64", "taylorjit.vm.sincos.v4f64"} <= set(names)
    llvm.parse_assembly(str(module)).verify()


@pytest.mark.parametrize("speed_level", [None, 0])
def test_unoptimised_pipelines(speed_level):
    """Correct without any pass pipeline (helper stays a call) and at O0 (helper is inlined)."""
    module = ir.Module()
    module.triple = llvm.get_process_triple()
    _emit_kernel(module, "k", "sin", 8)
    tm = _host_tm()
    mod = llvm.parse_assembly(str(module))
    if speed_level is not None:
        pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=speed_level))
        pb.getModulePassManager().run(mod, pb)
        assert "call <8 x double> @taylorjit.vm" not in str(mod)
    engine = llvm.create_mcjit_compiler(mod, tm)
    engine.finalize_object()
    k = _KFNTY(engine.get_function_address("k"))
    x = np.concatenate([np.linspace(-10, 10, 800), [1e20, -1e15, np.inf, np.nan, -0.0, 3.0, 1e6, 2.0**29]])
    out = np.empty_like(x)
    k(out.ctypes.data, x.ctypes.data, x.size)
    assert ulp_diff(out, _LIBM["sin"](x)).max() <= 1


def test_rejects_non_double():
    b = ir.IRBuilder(
        ir.Function(ir.Module(), ir.FunctionType(ir.VoidType(), []), "f").append_basic_block("e")
    )
    with pytest.raises(TypeError):
        vecmath.emit_exp(b, ir.Constant(ir.FloatType(), 1.0))
    with pytest.raises(TypeError):
        vecmath.emit_sin(b, ir.Constant(ir.VectorType(ir.FloatType(), 4), 1.0))


# ------------------------------------------------------------------ benchmark / survey
def _bench() -> None:  # pragma: no cover - manual
    import time

    jit = _jit()
    n = 1_000_000
    rng = np.random.default_rng(0)
    inputs = {
        "exp": rng.uniform(-50, 50, n),
        "log": _loguniform(rng, 1e-300, 1e300, n),
        "sin": rng.uniform(-100, 100, n),
        "cos": rng.uniform(-100, 100, n),
        "sincos": rng.uniform(-100, 100, n),
    }

    def best(f, reps=15):
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        return min(ts) / n * 1e9

    print(f"{'fn':8s} {'W=8 ns/el':>10s} {'W=1 ns/el':>10s} {'numpy ns/el':>12s}")
    for fn, x in inputs.items():
        out = np.empty(2 * n)
        k8, k1 = jit.kernels[f"{fn}_8"], jit.kernels[f"{fn}_1"]
        t8 = best(lambda k8=k8, x=x, out=out: k8(out.ctypes.data, x.ctypes.data, n))
        t1 = best(lambda k1=k1, x=x, out=out: k1(out.ctypes.data, x.ctypes.data, n))
        if fn == "sincos":
            tn = best(lambda x=x: (np.sin(x), np.cos(x)), reps=5)
        else:
            npf = _NUMPY[fn]
            tn = best(lambda x=x, npf=npf: npf(x), reps=5)
        print(f"{fn:8s} {t8:10.2f} {t1:10.2f} {tn:12.2f}")
    xy = np.concatenate([rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)])
    out = np.empty(n)
    kc = jit.kernels["combo_8"]
    tc = best(lambda: kc(out.ctypes.data, xy.ctypes.data, n))
    x, y = xy[:n], xy[n:]
    tn = best(lambda: np.sin(x) * np.exp(y) + np.cos(x * y), reps=5)
    sx, ey, cxy = _LIBM["sin"](x), _LIBM["exp"](y), _LIBM["cos"](x * y)
    err = np.max(np.abs(out - (sx * ey + cxy)) / (np.abs(sx * ey) + np.abs(cxy)))
    print(f"sin(x)*exp(y)+cos(x*y): W=8 {tc:.2f} ns/point, numpy {tn:.2f} ns/point (max err {err:.1e})")
    big = rng.uniform(1e9, 1e12, n)
    ts = best(lambda: jit.kernels["sin_8"](out.ctypes.data, big.ctypes.data, n), reps=3)
    print(f"sin on |x| in [1e9,1e12] (all lanes via libm): {ts:.2f} ns/el")


def _survey(npts: int = 4000) -> None:  # pragma: no cover - manual
    jit = _jit()
    rng = np.random.default_rng(99)
    for fn in ("exp", "log", "sin", "cos"):
        for label, x in _ranges(fn).items():
            xs = rng.choice(x, min(npts, x.size), replace=False)
            emp = mp_ulp_error(fn, xs, jit.run(fn, 8, xs))
            dl = ulp_diff(jit.run(fn, 8, x), _LIBM[fn](x)).max()
            with np.errstate(all="ignore"):
                dn = ulp_diff(jit.run(fn, 8, x), _NUMPY[fn](x)).max()
            print(f"{fn:4s} {label:26s} mpmath max {emp:.4f} ulp  glibc max {dl:.0f}  numpy max {dn:.0f}")
    xh = _hard_trig_cases()
    for fn in ("sin", "cos"):
        yh = jit.run(fn, 8, xh)
        print(
            f"{fn} hard reduction cases ({xh.size}): mpmath max {mp_ulp_error(fn, xh, yh):.4f} ulp"
            f" (glibc: {mp_ulp_error(fn, xh, _LIBM[fn](xh)):.4f} ulp)"
        )


if __name__ == "__main__":  # pragma: no cover
    import sys

    if "survey" in sys.argv:
        _survey()
    _bench()
