"""The JIT's in-memory and on-disk caches of compiled objects."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import taylorjit as tj
from taylorjit._jit import cache as disk_cache
from taylorjit._jit.context import jit_context, source_fingerprint

x, y = tj.make_vars("x", "y")

SCRIPT = """
import numpy as np, taylorjit as tj
x, y = tj.make_vars("x", "y")
cf = tj.cfunc([tj.sin(x) * tj.exp(y) + x**-1.5, tj.kepE(0.5, y)], vars=[x, y])
print(cf.compiled_from or "compiled", repr(cf(np.array([0.7, 1.3])).tolist()))
"""


def run_in_fresh_process(cache_dir: Path, **env: str) -> tuple[str, str]:
    environment = {**os.environ, "TAYLORJIT_CACHE_DIR": str(cache_dir), **env}
    if "TAYLORJIT_CACHE" not in env:
        environment.pop("TAYLORJIT_CACHE", None)
    src = Path(__file__).resolve().parents[1]
    environment["PYTHONPATH"] = os.pathsep.join([str(src), environment.get("PYTHONPATH", "")])
    res = subprocess.run([sys.executable, "-c", SCRIPT], env=environment, capture_output=True,
                         text=True, timeout=120, check=True)
    origin, values = res.stdout.strip().split(" ", 1)
    return origin, values


def test_second_process_loads_from_disk(tmp_path):
    first = run_in_fresh_process(tmp_path)
    second = run_in_fresh_process(tmp_path)
    assert first[0] == "compiled"
    assert second == ("disk", first[1])
    # the kernel, the runtime library and the array-calling trampolines, the memo of the code
    # generator's source fingerprint, and (where the kernel has boot ids) of the host's CPU
    hosts = len(list(tmp_path.glob("host-*.o")))
    assert hosts == int(os.path.exists("/proc/sys/kernel/random/boot_id"))
    assert len(list(tmp_path.glob("*.o"))) == 4 + hosts
    assert len(list(tmp_path.glob("fingerprint-*.o"))) == 1


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "flip_byte"])
def test_corrupt_cache_file_is_recompiled(tmp_path, damage):
    origin, values = run_in_fresh_process(tmp_path)
    for obj in tmp_path.glob("*.o"):  # the kernel, the runtime library, trampolines, memos
        data = obj.read_bytes()
        if damage == "truncate":
            obj.write_bytes(data[: len(data) // 2])
        elif damage == "garbage":
            obj.write_bytes(os.urandom(len(data)))
        elif damage == "empty":
            obj.write_bytes(b"")
        else:
            obj.write_bytes(data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:])
    again = run_in_fresh_process(tmp_path)
    assert again == ("compiled", values)  # detected, recompiled, same results
    assert run_in_fresh_process(tmp_path) == ("disk", values)  # and rewritten intact


def test_disabled_disk_cache_writes_nothing(tmp_path):
    assert run_in_fresh_process(tmp_path, TAYLORJIT_CACHE="0")[0] == "compiled"
    assert run_in_fresh_process(tmp_path, TAYLORJIT_CACHE="0")[0] == "compiled"
    assert not list(tmp_path.glob("*.o"))


def test_memory_cache_in_process(cache_dir):
    f = [tj.cos(x) * y + 17.25]
    first = tj.cfunc(f, vars=[x, y])
    second = tj.cfunc(f, vars=[x, y])
    assert (first.compiled_from, second.compiled_from) == (None, "memory")
    jit_context().clear_memory_cache()
    third = tj.cfunc(f, vars=[x, y])
    assert third.compiled_from == "disk"
    pts = np.random.default_rng(0).uniform(-1, 1, (2, 33))
    np.testing.assert_array_equal(first(pts), third(pts))
    del first, second  # the module must outlive the memory cache entry of a live cfunc
    jit_context().clear_memory_cache()
    np.testing.assert_array_equal(third(pts), tj.cfunc(f, vars=[x, y])(pts))


def test_cache_key_depends_on_ir_and_host():
    ctx = jit_context()
    assert ctx.cache_key("a") != ctx.cache_key("b")
    assert ctx.cache_key("a") == ctx.cache_key("a")


def test_unwritable_cache_directory_is_not_an_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("TAYLORJIT_CACHE_DIR", str(blocker / "cache"))
    jit_context().clear_memory_cache()
    cf = tj.cfunc([x * 3.5 + y * 1.25], vars=[x, y])
    assert cf([2.0, 4.0])[0] == 12.0
    assert disk_cache.load("0" * 64) is None


def test_source_fingerprint_is_memoised_and_follows_edits(tmp_path, monkeypatch):
    # the hash of the code generator's sources is kept in the disk cache under a stamp of names,
    # sizes and modification times: a hit gives the same value, an edit a new one
    monkeypatch.setenv("TAYLORJIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TAYLORJIT_CACHE", raising=False)
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    a = src / "a.py"
    a.write_text("x = 1\n")
    (src / "pkg" / "b.py").write_text("y = 2\n")
    (src / "notes.txt").write_text("not a source file")
    first = source_fingerprint(src)
    assert any(p.name.startswith("fingerprint-") for p in (tmp_path / "cache").iterdir())
    assert source_fingerprint(src) == first
    (src / "notes.txt").write_text("still not a source file, now longer")
    assert source_fingerprint(src) == first
    mtime = a.stat().st_mtime_ns
    a.write_text("x = 3\n")  # same size, other content, a later modification time
    os.utime(a, ns=(mtime + 10**9, mtime + 10**9))
    edited = source_fingerprint(src)
    assert edited != first
    monkeypatch.setenv("TAYLORJIT_CACHE", "0")  # no memo: computed from the contents
    assert source_fingerprint(src) == edited
    a.write_text("x = 1\n")
    assert source_fingerprint(src) == first


INTEGRATOR_SCRIPT = """
import numpy as np, taylorjit as tj
from taylorjit._jit import runtime
x, y, z = tj.make_vars("x", "y", "z")
lorenz = [(x, 10.0 * (y - x)), (y, x * (28.0 - z) - y), (z, x * y - 8.0 / 3.0 * z)]
ta = tj.taylor_adaptive(lorenz, [1.0, 1.0, 1.0])
ta.propagate_until(1.0)
polynomial_only = sorted(runtime._loaded)
tb = tj.taylor_adaptive([(x, y), (y, -tj.sin(x)), (z, 0.0 * z)], [0.5, 0.0, 0.0])
tb.propagate_until(1.0)
print(polynomial_only, sorted(runtime._loaded), repr(ta.state.tolist() + tb.state.tolist()))
"""


def test_integrators_load_the_runtime_library_only_when_they_call_it(tmp_path):
    # a cached integrator whose system uses no library function (Lorenz) is built without
    # loading the runtime library; the pendulum's sine needs it, and gets it
    environment = {**os.environ, "TAYLORJIT_CACHE_DIR": str(tmp_path)}
    environment.pop("TAYLORJIT_CACHE", None)
    src = Path(__file__).resolve().parents[1]
    environment["PYTHONPATH"] = os.pathsep.join([str(src), environment.get("PYTHONPATH", "")])
    runs = [subprocess.run([sys.executable, "-c", INTEGRATOR_SCRIPT], env=environment,
                           capture_output=True, text=True, timeout=120, check=True).stdout.split(" ", 2)
            for _ in range(2)]
    for before, after, _ in runs:
        assert before == "[]" and after == "[1]"
    assert runs[0][2] == runs[1][2]  # compiled, then loaded from disk: the same states


def test_host_description_is_llvms_and_its_memo_is_checked(cache_dir, monkeypatch):
    # The CPU's name and features (part of every cache key) are kept per boot: what comes back
    # is what LLVM says, and a damaged memo is asked again, never trusted.
    import llvmlite.binding as llvm

    from taylorjit._jit import context

    truth = (llvm.get_process_triple(), llvm.get_host_cpu_name(),
             llvm.get_host_cpu_features().flatten())
    assert context._host_description() == truth
    assert context._host_description() == truth  # from the memo, where there is one
    for memo in cache_dir.glob("host-*.o"):
        key = memo.name[:-2]
        disk_cache.store(key, b"x86_64-unknown-linux-gnu\nnot-this-cpu")  # a well-formed file
        assert context._host_description() == truth
    monkeypatch.setattr(context, "_BOOT_ID", str(cache_dir / "no-such-file"))
    assert context._host_description() == truth  # no boot id: LLVM is asked every time


def test_machine_scheduler_is_back_on_after_an_unrolled_jet(cache_dir):
    # Unrolled jets are compiled with LLVM's (global) machine scheduler off: it must be on again
    # for the next compilation, which then gives the same machine code as before.
    import llvmlite.binding as llvm

    exprs = [tj.sin(x) * y + x * x * (y - 1.5) / (x + y * y) + tj.exp(x * y) - y ** 3 * x,
             tj.cos(y) * x * x + (x - y) * (x + 2.0 * y) * (x * y - 0.5)]

    def object_bytes() -> bytes:
        jit_context().clear_memory_cache()
        for old in cache_dir.glob("*.o"):
            old.unlink()
        tj.cfunc(exprs, vars=[x, y])
        ours = [p for p in cache_dir.glob("*.o") if not p.name.startswith(("host-", "fingerprint-"))]
        return b"".join(sorted(p.read_bytes() for p in ours))

    object_bytes()  # the runtime library and the callers, compiled once per process
    before = object_bytes()  # now the kernel alone
    llvm.set_option("", "-enable-misched=false")
    try:
        unscheduled = object_bytes()
    finally:
        llvm.set_option("", "-enable-misched=true")
    assert unscheduled != before  # the switch matters for this kernel
    pend = [(x, y), (y, -tj.sin(x))]
    ta = tj.taylor_adaptive(pend, [0.3, 0.0], tol=1e-11, compact_mode=False)
    ta.step()
    assert object_bytes() == before
