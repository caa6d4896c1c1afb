"""The ELF loader of cached objects (``_jit/elfload.py``) against LLVM's loader.

Code loaded either way is the same machine code, so results must agree bit for bit; anything the
loader does not understand must be refused (and then loaded by LLVM), never half-loaded.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from strategies import expressions

import taylorjit as tj
from taylorjit._jit import cache as disk_cache
from taylorjit._jit import elfload
from taylorjit._jit.context import jit_context

pytestmark = pytest.mark.skipif(not elfload.host_supported(), reason="the loader is for x86-64 Linux")

x, y, v = tj.make_vars("x", "y", "v")
POINTS = np.array([[0.7, -1.3, 2.9, 0.05, 11.0], [1.3, 0.2, -0.8, 3.5, -2.0]])


def _reloaded(build, native: bool, monkeypatch):
    """``build()`` again with the memory cache emptied: from disk, by the loader chosen."""
    jit_context().clear_memory_cache()
    monkeypatch.setattr(jit_context(), "native_loader", native)
    made = build()
    module = made._module
    assert module.from_cache == "disk"
    assert isinstance(module._code, elfload.LoadedObject) == native
    return made


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def test_a_cfunc_loads_the_same_both_ways(cache_dir, monkeypatch):
    exprs = [tj.sin(x) * tj.exp(y) + x**-1.5, tj.kepE(0.5, y), tj.atan2(x, y) + tj.erf(x * y),
             tj.pow(tj.cosh(x) + 2, y) - tj.log(tj.sqrt(x * x + 1))]

    def build():
        return tj.cfunc(exprs, vars=[x, y])

    compiled = build()
    assert compiled.compiled_from is None
    expected = compiled(POINTS)
    for native in (True, False):
        assert _same(_reloaded(build, native, monkeypatch)(POINTS), expected)


def test_an_integrator_with_events_and_sensitivities_loads_the_same_both_ways(cache_dir, monkeypatch):
    crossings = []
    sys_ = [(x, v), (v, -9.8 * tj.sin(x) + tj.par[0] * tj.cos(tj.time))]

    def build():
        ev = tj.nt_event(x, lambda ta, t, d: crossings.append(t))
        stop = tj.t_event(v - 1.5)
        vsys = tj.var_ode_sys(sys_, tj.var_args.vars | tj.var_args.params, order=2)
        return tj.taylor_adaptive(vsys, [1.3, 0.0], pars=[0.1], nt_events=[ev], t_events=[stop])

    def run(ta):
        crossings.clear()
        outcome = ta.propagate_until(20.0)
        return np.concatenate([ta.state, [ta.time], crossings]), outcome[0]

    expected, why = run(build())
    assert why == tj.taylor_outcome.time_limit or int(why) < 0  # (a terminal event: negative)
    for native in (True, False):
        got, why2 = run(_reloaded(build, native, monkeypatch))
        assert why2 == why
        assert _same(got, expected)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(expressions([x, y], max_leaves=8))
def test_random_expressions_load_the_same_both_ways(cache_dir, monkeypatch, expr):
    def build():
        return tj.cfunc([expr, expr * x + 1.5], vars=[x, y])

    compiled = build()
    if compiled.compiled_from is not None:  # (an earlier example made it: compile it now)
        jit_context().clear_memory_cache()
    with np.errstate(all="ignore"):
        expected = build()(POINTS)
        got = _reloaded(build, True, monkeypatch)(POINTS)
    assert _same(got, expected)


SCRIPT = """
import sys, numpy as np, taylorjit as tj
from taylorjit._jit.context import jit_context
x, v = tj.make_vars("x", "v")
ta = tj.taylor_adaptive([(x, v), (v, -9.8 * tj.sin(x))], [1.3, 0.0])
ta.propagate_until(100.0)
loaded = jit_context()._llvm_ready
# then a kernel that is not cached (another constant in every run): LLVM compiles it, and must
# link it against the runtime library that the ELF loader loaded
g = 9.0 + float(sys.argv[1])
tb = tj.taylor_adaptive([(x, v), (v, -g * tj.sin(x))], [1.3, 0.0])
energy = lambda s: s[1] ** 2 / 2 - g * np.cos(s[0])
e0 = energy(tb.state)
tb.propagate_until(100.0)
assert tb.compiled_from is None and jit_context()._llvm_ready
assert abs(energy(tb.state) - e0) < 1e-12 * abs(e0), (energy(tb.state), e0)
print(ta.compiled_from, loaded, repr(ta.state.tolist()))
"""


def _fresh_process(cache: Path, run: int, **env: str) -> list[str]:
    environment = {**os.environ, "TAYLORJIT_CACHE_DIR": str(cache), **env}
    environment.pop("TAYLORJIT_CACHE", None)
    src = Path(__file__).resolve().parents[1]
    environment["PYTHONPATH"] = os.pathsep.join([str(src), environment.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(run)], env=environment,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().split(" ", 2)


def test_a_process_with_all_its_code_on_disk_never_initialises_llvm(tmp_path):
    first = _fresh_process(tmp_path, 0)
    native = _fresh_process(tmp_path, 1)
    through_llvm = _fresh_process(tmp_path, 2, TAYLORJIT_NATIVE_LOADER="0")
    assert first[:2] == ["None", "True"]
    assert native[:2] == ["disk", "False"]
    assert through_llvm[:2] == ["disk", "True"]
    assert first[2] == native[2] == through_llvm[2]


# --- what the loader refuses ---------------------------------------------------------------------
@pytest.fixture
def payload(cache_dir):
    """A cached kernel's object (it calls the runtime library and has relocations)."""
    cf = tj.cfunc([tj.sin(x) * 2.5 + tj.exp(y)], vars=[x, y])
    data = disk_cache.load(cf._module.key)
    assert data is not None
    return data


def _resolve(name: str) -> int | None:
    return jit_context()._resolve(name)


def _relocations(data: bytes) -> list[tuple[int, int, int]]:
    """``(file offset of the entry, its target section's size, count)`` per relocation table
    whose target is loaded."""
    sections = elfload._sections(data)
    layout, _ = elfload._layout(data, sections)
    return [(s[4], sections[s[7]][5], s[5] // 24) for s in sections if s[1] == 4 and s[7] in layout]


def test_a_real_object_loads_and_exports_its_kernel(payload):
    loaded = elfload.load_object(payload, _resolve)
    assert any(name.endswith("cfunc") for name in loaded.symbols)
    with pytest.raises(KeyError, match="no compiled function"):
        loaded.address("not_there")


@pytest.mark.parametrize("damage", ["truncated", "not elf", "machine", "relocation type",
                                    "relocation offset", "header table", "writable section"])
def test_damaged_or_foreign_objects_are_refused(payload, damage):
    data = bytearray(payload)
    if damage == "truncated":
        data = data[:200]
    elif damage == "not elf":
        data[:4] = b"\x7fXYZ"
    elif damage == "machine":
        struct.pack_into("<H", data, 18, 183)  # aarch64
    elif damage == "header table":
        struct.pack_into("<Q", data, 40, len(data) - 10)  # e_shoff near the end
    elif damage == "writable section":
        sections = elfload._sections(bytes(data))
        shoff = struct.unpack_from("<Q", data, 40)[0]
        index = next(i for i, s in enumerate(sections) if s[2] & elfload._SHF_ALLOC)
        struct.pack_into("<Q", data, shoff + index * 64 + 8, sections[index][2] | elfload._SHF_WRITE)
    else:
        start, size, count = _relocations(bytes(data))[0]
        assert count > 0
        if damage == "relocation type":
            struct.pack_into("<I", data, start + 8, 9)  # R_X86_64_GOTPCREL
        else:
            struct.pack_into("<Q", data, start, size - 4)  # 8 bytes written, 4 left
    with pytest.raises(elfload.UnsupportedObject):
        elfload.load_object(bytes(data), _resolve)


def test_an_unresolved_symbol_is_refused(payload):
    with pytest.raises(elfload.UnsupportedObject, match="unresolved symbol"):
        elfload.load_object(payload, lambda name: None)


def test_what_the_loader_refuses_llvm_loads(cache_dir, monkeypatch):
    def build():
        return tj.cfunc([tj.sin(x) * tj.exp(y)], vars=[x, y])

    expected = build()(POINTS)

    def refuse(data, resolve):
        raise elfload.UnsupportedObject("refused by the test")

    monkeypatch.setattr(elfload, "load_object", refuse)
    jit_context().clear_memory_cache()
    again = build()
    assert again.compiled_from == "disk"
    assert not isinstance(again._module._code, elfload.LoadedObject)
    assert _same(again(POINTS), expected)


def test_a_forked_child_never_writes_into_its_parents_arena(payload, monkeypatch):
    elfload.load_object(payload, _resolve)
    arena = elfload._arenas[-1]
    used = arena.used
    monkeypatch.setattr(arena, "pid", arena.pid + 1)  # as a child sees its parent's arena
    elfload.load_object(payload, _resolve)
    assert elfload._arenas[-1] is not arena
    assert arena.used == used


def test_objects_larger_than_an_arena_get_their_own(payload, monkeypatch):
    monkeypatch.setattr(elfload._Arena, "SIZE", 4096)
    loaded = [elfload.load_object(payload, _resolve) for _ in range(3)]
    kernels = {name: address for obj in loaded for name, address in obj.symbols.items()
               if name.endswith("cfunc")}
    assert len({obj.address(next(iter(kernels))) for obj in loaded}) == 3
    assert all(a.used <= a.size for a in elfload._arenas)
