"""The one owner of LLVM: target machine, optimisation pipeline, compiled modules and caches.

A process-wide :class:`JitContext` (get it with :func:`jit_context`) initialises LLVM once,
describes the host (triple, CPU, features, SIMD width), optimises and compiles IR, and caches
compiled objects in memory (an LRU keyed by the IR hash) and on disk (``cache.py``). Each
:class:`CompiledModule` owns its own MCJIT engine; the engine, and the machine code with it,
lives as long as the module object (callers keep a reference for as long as they call into it).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import cache, cached_property
from pathlib import Path

import llvmlite
import llvmlite.binding as llvm

from . import cache as disk_cache
from . import elfload

__all__ = ["JitContext", "CompiledModule", "jit_context", "process_symbol"]

OPT_LEVEL = 3
_MEMORY_CACHE_SIZE = 512


class CompiledModule:
    """Machine code for one IR module.

    A module compiled now owns its execution engine (freed with the last reference); one loaded
    from disk lives for the life of the process (mapped by :mod:`.elfload`, or added to the
    context's shared LLVM loader engine where that loader does not apply).

    Attributes
    ----------
    key
        The cache key (sha256 hex digest).
    prefix
        The prefix of the module's exported symbols (unique per key: modules loaded into one
        process never clash).
    from_cache
        ``"memory"``, ``"disk"`` or ``None`` (compiled now).
    """

    def __init__(self, code: _Code, key: str, from_cache: str | None) -> None:
        self._code = code
        self.key = key
        self.prefix = symbol_prefix(key)
        self.from_cache = from_cache

    def address(self, name: str) -> int:
        """Address of the exported function ``name`` (its full symbol name)."""
        return self._code.address(name)


class _EngineCode:
    """The symbols of an LLVM execution engine (what :class:`CompiledModule` looks up)."""

    def __init__(self, engine: llvm.ExecutionEngine) -> None:
        self._engine = engine

    def address(self, name: str) -> int:
        addr = self._engine.get_function_address(name)
        if not addr:
            raise KeyError(f"no compiled function named {name!r}")
        return addr


_Code = _EngineCode | elfload.LoadedObject


def symbol_prefix(key: str) -> str:
    """The prefix for the exported symbols of the module cached under ``key``."""
    return f"tj{key[:24]}_"


class JitContext:
    """LLVM target, pipeline and caches for this process (use :func:`jit_context`)."""

    def __init__(self) -> None:
        #: Load cached objects with :mod:`.elfload` where it applies, else through LLVM
        #: (``TAYLORJIT_NATIVE_LOADER=0`` turns it off).
        self.native_loader = elfload.host_supported() and os.environ.get(
            "TAYLORJIT_NATIVE_LOADER", "1").strip().lower() not in ("0", "false", "no", "off")
        self.triple, self.cpu, self.features = _host_description()
        self.simd_width = _simd_width(self.features)
        self._lock = threading.RLock()
        self._memory: OrderedDict[str, CompiledModule] = OrderedDict()
        self._loader: llvm.ExecutionEngine | None = None
        self._symbols: dict[str, int] = {}
        self._llvm_ready = False
        self.stats = {"compiled": 0, "memory_hits": 0, "disk_hits": 0}

    @cached_property
    def _target(self) -> llvm.Target:
        """LLVM's target, initialised on first use.

        NOTE: a process that only loads cached objects never initialises LLVM (0.3 ms of a new
        process's first construction); the symbols registered until then are handed over now."""
        with self._lock:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            for name, address in self._symbols.items():
                llvm.add_symbol(name, address)
            self._llvm_ready = True
            return llvm.Target.from_triple(self.triple)

    def add_symbol(self, name: str, address: int) -> None:
        """Make ``name`` resolve to ``address`` in every module compiled or loaded later."""
        with self._lock:
            self._symbols[name] = address
            if self._llvm_ready:  # LLVM initialised: tell it now
                llvm.add_symbol(name, address)

    @cached_property
    def target_machine(self) -> llvm.TargetMachine:
        """The target machine of the data layout and the pass pipeline (an engine takes
        ownership of, and frees, the one it is given, so every engine gets a fresh one).

        NOTE: created on first use: a process that only loads cached objects never needs it
        (0.35 ms of a new process's first construction)."""
        return self._new_target_machine()

    @cached_property
    def data_layout(self) -> str:
        """The target's data layout string (set on every module)."""
        return str(self.target_machine.target_data)

    def _new_target_machine(self) -> llvm.TargetMachine:
        return self._target.create_target_machine(
            cpu=self.cpu, features=self.features, opt=OPT_LEVEL, codemodel="jitdefault"
        )

    def cache_key(self, source: str, speed_level: int = OPT_LEVEL, vectorize: bool = False,
                  schedule: bool = True) -> str:
        """sha256 of ``source`` (what determines the IR), the code generator's own source, the
        host description, llvmlite's version and the code generator's options."""
        h = hashlib.sha256()
        for part in (source, _generator_fingerprint(), self.triple, self.cpu, self.features,
                     llvmlite.__version__, str(speed_level), str(vectorize), str(schedule)):
            h.update(part.encode())
            h.update(b"\0")
        return h.hexdigest()

    def compile(self, source: str, build_ir: Callable[[str], str],
                speed_level: int = OPT_LEVEL, vectorize: bool = False,
                schedule: bool = True) -> CompiledModule:
        """Compiled code for the module that ``build_ir(prefix)`` returns, cached under ``source``.

        ``source`` must determine the IR completely (e.g. the expressions' structural key plus
        the generator's options); ``build_ir`` runs only on a cache miss, so a hit costs a hash
        and a load, not an IR generation. The module's exported symbols must start with
        ``prefix``. ``speed_level`` (0-3) selects the optimisation pipeline; ``vectorize`` turns
        on LLVM's loop vectoriser (for loop kernels written with scalar code). Level 0 runs no
        IR pass at all: for straight-line code that is already as simple as the generator can
        make it, the code generator alone gives code as fast, in less time. ``schedule=False``
        turns off the machine instruction scheduler (see ``_compile_ir``).
        """
        key = self.cache_key(source, speed_level, vectorize, schedule)
        with self._lock:
            hit = self._memory.get(key)
            if hit is not None:
                self._memory.move_to_end(key)
                self.stats["memory_hits"] += 1
                return CompiledModule(hit._code, key, "memory")
            payload = disk_cache.load(key)
            if payload is not None:
                module = self._load_object(payload, key)
                self.stats["disk_hits"] += 1
            else:
                module = self._compile_ir(build_ir(symbol_prefix(key)), key, speed_level, vectorize,
                                          schedule)
                self.stats["compiled"] += 1
            self._memory[key] = module
            while len(self._memory) > _MEMORY_CACHE_SIZE:
                self._memory.popitem(last=False)
            return module

    def clear_memory_cache(self) -> None:
        """Forget in-memory compiled modules (those still referenced keep working)."""
        with self._lock:
            self._memory.clear()

    def _compile_ir(self, ir_text: str, key: str, speed_level: int,
                    vectorize: bool = False, schedule: bool = True) -> CompiledModule:
        data_layout = self.data_layout  # (first: initialises LLVM)
        mod = llvm.parse_assembly(ir_text)
        mod.triple = self.triple
        mod.data_layout = data_layout
        mod.verify()
        if speed_level > 0:  # 0: no IR passes, straight to the code generator
            pto = llvm.create_pipeline_tuning_options(speed_level=speed_level)
            # NOTE: our IR is explicitly vectorised straight-line code; the loop and SLP
            # vectorisers and the unroller only cost compile time (-35% on the 6-body
            # accelerations).
            pto.loop_vectorization = vectorize
            pto.slp_vectorization = False
            pto.loop_unrolling = vectorize
            pb = llvm.create_pass_builder(self.target_machine, pto)
            pb.getModulePassManager().run(mod, pb)
        engine = llvm.create_mcjit_compiler(mod, self._new_target_machine())
        objects: list[bytes] = []
        engine.set_object_cache(lambda _m, buf: objects.append(bytes(buf)), lambda _m: None)
        if schedule:
            engine.finalize_object()
        else:
            # NOTE: the machine scheduler reorders a long straight-line jet for register
            # pressure, and costs more than it gains there: without it the third-order
            # variational pendulum builds in 446 ms instead of 526 and steps in 2.00 us instead
            # of 2.14. LLVM has only a global switch; the context's lock makes this compile the
            # only one while it is off.
            llvm.set_option("", "-enable-misched=false")
            try:
                engine.finalize_object()
            finally:
                llvm.set_option("", "-enable-misched=true")
        if objects:
            disk_cache.store(key, objects[0])
        return CompiledModule(_EngineCode(engine), key, None)

    def _load_object(self, payload: bytes, key: str) -> CompiledModule:
        if self.native_loader:
            try:
                code = elfload.load_object(payload, self._resolve)
            except elfload.UnsupportedObject:
                pass  # (LLVM loads what this loader does not understand)
            else:
                return CompiledModule(code, key, "disk")
        return CompiledModule(_EngineCode(self._llvm_loader(payload)), key, "disk")

    def _resolve(self, name: str) -> int | None:
        """Where a cached object's undefined symbol ``name`` is: registered (the runtime
        library, CPython's API), else in the process (libm, libc), else None."""
        address = self._symbols.get(name)
        if address is None:
            address = process_symbol(name)
        return address

    def _llvm_loader(self, payload: bytes) -> llvm.ExecutionEngine:
        """The shared LLVM engine, with ``payload`` added."""
        # NOTE: one shared engine for every object loaded from disk: a new engine costs about
        # 0.5 ms (a target machine), adding an object about 40 us. MCJIT wants a module to
        # create an engine, and would compile it at the first finalize (a codegen pipeline for
        # nothing: 1.2 ms of a new process's first construction), so the empty module is taken
        # out again at once. Such objects are never unloaded; symbols are unique per key, so
        # they never clash.
        if self._loader is None:
            # The objects are compiled already: the engine's target machine needs no CPU
            # (0.1 ms to create, 0.25 ms with the host's CPU and features).
            empty = llvm.parse_assembly("")
            plain = self._target.create_target_machine(codemodel="jitdefault")
            self._loader = llvm.create_mcjit_compiler(empty, plain)
            self._loader.remove_module(empty)
        self._loader.add_object_file(llvm.ObjectFileRef.from_data(payload))
        self._loader.finalize_object()
        return self._loader


def process_symbol(name: str) -> int | None:
    """The address of ``name`` among the symbols the process has loaded (dlsym), or None."""
    return _dlsym()(ctypes.pythonapi._handle, name.encode()) or None


@cache
def _dlsym() -> Callable[[int, bytes], int | None]:
    # (through ``ctypes.pythonapi``, which exists already: a new ``CDLL(None)`` costs 50 us)
    dlsym = ctypes.pythonapi.dlsym
    dlsym.restype = ctypes.c_void_p
    dlsym.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    return dlsym


def _simd_width(features: str) -> int:
    """Doubles per SIMD register: 8 with AVX-512, 4 with AVX, else 2."""
    enabled = f",{features},"  # (a search, not a set of 200 names: 20 us in a new process)
    if ",+avx512f," in enabled:
        return 8
    if ",+avx," in enabled:
        return 4
    return 2


_BOOT_ID = "/proc/sys/kernel/random/boot_id"


def _host_description() -> tuple[str, str, str]:
    """The host's target triple, CPU name and CPU features (LLVM's names).

    NOTE: asking LLVM for the CPU's features takes 0.3-0.4 ms (it runs cpuid many times, each a
    trap in a virtual machine): an eighth of a new process's first construction of a cached
    integrator. Where the kernel gives each boot an id (Linux), the answer is kept in the disk
    cache under that id: the CPU cannot change without a reboot, and another machine sharing
    the cache directory has another boot id.
    """
    try:
        fd = os.open(_BOOT_ID, os.O_RDONLY)
        try:
            boot = hashlib.sha256(os.read(fd, 256).strip()).hexdigest()
        finally:
            os.close(fd)
    except OSError:
        boot = None
    memo = disk_cache.load(f"host-{boot}") if boot else None
    if memo is not None:
        parts = memo.decode(errors="replace").split("\n")
        if len(parts) == 3:
            return parts[0], parts[1], parts[2]
    described = (llvm.get_process_triple(), llvm.get_host_cpu_name(),
                 llvm.get_host_cpu_features().flatten())
    if boot:
        disk_cache.store(f"host-{boot}", "\n".join(described).encode())
    return described


#: What taylorjit holds that generates no code: left out of the fingerprint (fewer files to
#: stat in a new process, and editing a model keeps the cache).
_NOT_GENERATOR = ("model", "__main__.py")


@cache
def _generator_fingerprint() -> str:
    """sha256 of taylorjit's code generator's source files: a changed code generator never
    reuses old objects."""
    # (os.path, not Path.resolve(): 0.11 ms of a new process's first construction)
    return source_fingerprint(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              skip=_NOT_GENERATOR)


def source_fingerprint(root: str | Path, skip: tuple[str, ...] = ()) -> str:
    """sha256 of the names and contents of the ``*.py`` files under ``root`` (but not of the
    files and directories named in ``skip``).

    NOTE: reading and hashing taylorjit's sources takes 1.5 ms, a quarter of a new process's
    first construction of a cached integrator; the hash is kept in the disk cache under a stamp
    of the files' names, sizes and modification times, which takes about 0.2 ms to check. An
    edit changes the stamp, so the hash is recomputed; it never serves stale content.
    """
    files = []  # (stamp line, path relative to root with "/", absolute path): plain strings
    pending = [(str(root), "")]
    while pending:
        directory, prefix = pending.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                name = entry.name
                if name in skip:
                    continue
                if name.endswith(".py") and entry.is_file():
                    info = entry.stat()
                    rel = prefix + name
                    files.append((f"{rel}\0{info.st_size}\0{info.st_mtime_ns}", rel, entry.path))
                elif name != "__pycache__" and entry.is_dir(follow_symlinks=False):
                    pending.append((entry.path, f"{prefix}{name}/"))
    files.sort()
    stamp = "\0".join(line for line, _, _ in files)
    key = f"fingerprint-{hashlib.sha256(stamp.encode()).hexdigest()}"
    memo = disk_cache.load(key)
    if memo is not None:
        return memo.decode()
    h = hashlib.sha256()
    for _, rel, path in files:
        h.update(rel.encode())
        with open(path, "rb") as fh:
            h.update(fh.read())
    digest = h.hexdigest()
    disk_cache.store(key, digest.encode())
    return digest


@cache
def jit_context() -> JitContext:
    """The process-wide JIT context (created on first use)."""
    return JitContext()
