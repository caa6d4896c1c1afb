"""Loading the disk cache's objects without LLVM: a minimal ELF loader for x86-64 Linux.

A new process that finds all its code in the disk cache spent half of its first construction in
LLVM: initialising the native target (0.27 ms), creating a loader engine (0.3 ms), then adding,
relocating and looking up each object (about 0.15 ms each). Yet the objects are simple: on x86-64,
LLVM's JIT code model is the large one, so code reaches its constants, other functions and the
runtime library through absolute 64-bit addresses. This module loads them itself: it lays the
allocatable sections out in one image, resolves the symbols, applies the relocations and maps
the image executable. It runs in plain Python (struct, os, mmap): numpy's first calls in a new
process, or ctypes' first foreign calls, cost more than the few hundred relocations they would
speed up.

The image is written to an anonymous memory file (``memfd_create``) that is mapped read+execute
only: the pages are never writable and executable at once, and no ``mprotect`` is needed.

It accepts exactly what it understands and refuses the rest with :class:`UnsupportedObject`:
another machine or byte order, relocation types other than the absolute and PC-relative ones,
a PC-relative field that the distance does not fit, writable data, static constructors,
thread-local storage, common or unresolved symbols, anything out of bounds, a kernel that does
not allow executable memory files. The caller then loads the object through LLVM, as before.
Unwind tables (``.eh_frame``) are not registered: taylorjit's code throws no C++ exception and
nothing unwinds through it.

Loaded code is never unmapped (as with the LLVM loader engine, which keeps every object for the
life of the process).
"""

from __future__ import annotations

import mmap
import os
import platform
import struct
import sys
import threading
from collections.abc import Callable

__all__ = ["LoadedObject", "UnsupportedObject", "host_supported", "load_object"]


class UnsupportedObject(Exception):
    """The object holds something this loader does not handle (load it through LLVM instead)."""


_IDENT = b"\x7fELF\x02\x01"  # 64-bit, little-endian
_HEADER = struct.Struct("<16sHHIQQQIHHHHHH")
_SECTION = struct.Struct("<IIQQQQIIQQ")
_SYMBOL = struct.Struct("<IBBHQQ")
_RELA = struct.Struct("<QQq")
_ET_REL, _EM_X86_64 = 1, 62

_SHT_PROGBITS, _SHT_SYMTAB, _SHT_RELA, _SHT_NOBITS, _SHT_REL = 1, 2, 4, 8, 9
_SHT_X86_64_UNWIND = 0x70000001
#: constructors and extended section indices: never in taylorjit's objects, refused
_SHT_REFUSED = {14: "init_array", 15: "fini_array", 16: "preinit_array", 18: "symtab_shndx"}
_SHF_WRITE, _SHF_ALLOC, _SHF_TLS = 0x1, 0x2, 0x400

_SHN_UNDEF, _SHN_ABS = 0, 0xFFF1
_STB_LOCAL = 0

_R_NONE, _R_64, _R_PC32, _R_PLT32, _R_PC64 = 0, 1, 2, 4, 24
_U64, _I32 = struct.Struct("<Q"), struct.Struct("<i")
_MASK64 = (1 << 64) - 1

_MFD_CLOEXEC, _MFD_EXEC = 0x1, 0x10
_PAGE = mmap.PAGESIZE

def host_supported() -> bool:
    """Whether this loader can run here (Linux on x86-64, with memory files)."""
    return (sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")
            and hasattr(os, "memfd_create"))


class LoadedObject:
    """An object file mapped into this process.

    Attributes
    ----------
    symbols
        Address of every global symbol the object defines, by name.
    """

    def __init__(self, symbols: dict[str, int]) -> None:
        self.symbols = symbols

    def address(self, name: str) -> int:
        """Address of the exported symbol ``name`` (KeyError when it has none)."""
        try:
            return self.symbols[name]
        except KeyError:
            raise KeyError(f"no compiled function named {name!r}") from None


def load_object(data: bytes, resolve: Callable[[str], int | None]) -> LoadedObject:
    """Map the relocatable x86-64 ELF object ``data`` into executable memory.

    ``resolve(name)`` gives the address of a symbol the object uses but does not define, or
    None. Raises :class:`UnsupportedObject` for anything this loader does not handle; nothing
    of the object is then left executable.
    """
    sections = _sections(data)
    layout, size = _layout(data, sections)
    tables = [s for s in sections if s[1] == _SHT_SYMTAB]
    if len(tables) != 1:
        raise UnsupportedObject(f"{len(tables)} symbol tables")
    symbols = list(_SYMBOL.iter_unpack(_contents(data, tables[0], _SYMBOL.size)))
    strings = _contents(data, sections[tables[0][6]]) if tables[0][6] < len(sections) else b""

    image = bytearray(size)
    for index, offset in layout.items():
        section = sections[index]
        if section[1] == _SHT_PROGBITS:
            image[offset:offset + section[5]] = _contents(data, section)
    with _arena_lock:
        arena, start = _allocate(size)
        base = arena.base + start
        try:
            addresses, exported = _symbol_addresses(symbols, strings, layout, base, resolve)
            for section in sections:
                if section[1] in (_SHT_RELA, _SHT_REL) and section[7] in layout:
                    if section[1] == _SHT_REL:
                        raise UnsupportedObject("REL relocations (without addends)")
                    target = sections[section[7]]
                    _relocate(image, _contents(data, section, _RELA.size), target[5],
                              layout[section[7]], base, addresses)
            if os.pwrite(arena.fd, image, start) != size:
                raise OSError("short write")
        except OSError as exc:
            raise UnsupportedObject(f"could not write the code: {exc}") from exc
        except UnsupportedObject:
            if arena.used == start + size:  # (give the room back: nothing else took any)
                arena.used = start
            raise
    return LoadedObject(exported)


class _Arena:
    """Executable pages backed by one memory file, handed out in page-aligned pieces.

    The file is mapped read+execute once; code is written with ``os.pwrite``, which shows in
    the mapping (both are the same pages), so no page is ever writable and executable at once.
    Pages are allocated only when written. A child process (fork) shares the file: it never
    writes to its parent's arena but starts its own.
    """

    SIZE = 1 << 20

    def __init__(self, size: int) -> None:
        try:
            try:
                self.fd = os.memfd_create("taylorjit-code", _MFD_CLOEXEC | _MFD_EXEC)
            except OSError:  # kernels before 6.3 know no MFD_EXEC (executable is their default)
                self.fd = os.memfd_create("taylorjit-code", _MFD_CLOEXEC)
        except OSError as exc:
            raise UnsupportedObject(f"no memory file: {exc}") from exc
        try:
            os.ftruncate(self.fd, size)
            self.pages = mmap.mmap(self.fd, size, flags=mmap.MAP_SHARED,
                                   prot=mmap.PROT_READ | mmap.PROT_EXEC)
        except OSError as exc:
            os.close(self.fd)
            raise UnsupportedObject(f"no executable mapping: {exc}") from exc
        self.base = _address(self.pages)
        self.size = size
        self.used = 0
        self.pid = os.getpid()

    def fits(self, size: int) -> bool:
        return self.pid == os.getpid() and self.used + size <= self.size


def _address(pages: mmap.mmap) -> int:
    """The address of a read-only mapping (ctypes' ``from_buffer`` wants a writable one)."""
    import numpy as np  # (imported by taylorjit already)

    return np.frombuffer(pages, np.uint8).__array_interface__["data"][0]


_arenas: list[_Arena] = []  # kept for the life of the process: code is never unloaded
_arena_lock = threading.Lock()


def _allocate(size: int) -> tuple[_Arena, int]:
    """Room for ``size`` bytes (whole pages): the arena and the offset in it."""
    if not _arenas or not _arenas[-1].fits(size):
        _arenas.append(_Arena(max(_Arena.SIZE, size)))
    arena = _arenas[-1]
    offset = arena.used
    arena.used += size
    return arena, offset


def _sections(data: bytes) -> list[tuple[int, ...]]:
    """The section headers, checked against the file's size."""
    if len(data) < _HEADER.size or not data.startswith(_IDENT):
        raise UnsupportedObject("not a 64-bit little-endian ELF file")
    header = _HEADER.unpack_from(data)
    e_type, e_machine, shoff, shentsize, shnum = header[1], header[2], header[6], header[11], header[12]
    if e_type != _ET_REL or e_machine != _EM_X86_64:
        raise UnsupportedObject(f"not a relocatable x86-64 object (type {e_type}, machine {e_machine})")
    if shentsize != _SECTION.size or shnum == 0 or shoff + shnum * shentsize > len(data):
        raise UnsupportedObject("bad section header table")
    sections = list(_SECTION.iter_unpack(data[shoff:shoff + shnum * shentsize]))
    for s in sections:
        if s[1] != _SHT_NOBITS and s[4] + s[5] > len(data):
            raise UnsupportedObject("a section lies outside the file")
    return sections


def _layout(data: bytes, sections: list[tuple[int, ...]]) -> tuple[dict[int, int], int]:
    """Offsets of the loaded sections in the image, and the image's size (whole pages)."""
    names = _HEADER.unpack_from(data)[13]
    strings = _contents(data, sections[names]) if names < len(sections) else b""
    layout: dict[int, int] = {}
    offset = 0
    for i, (name_at, kind, flags, _addr, _off, size, _link, _info, align, _entsize) in enumerate(sections):
        if kind in _SHT_REFUSED:
            raise UnsupportedObject(f"a section of type {_SHT_REFUSED[kind]} "
                                    f"({_string(strings, name_at)})")
        if not flags & _SHF_ALLOC or kind == _SHT_X86_64_UNWIND:
            continue
        name = _string(strings, name_at)
        if name == ".eh_frame":  # (PROGBITS where LLVM does not mark it as unwind tables)
            continue
        if flags & (_SHF_WRITE | _SHF_TLS) or kind not in (_SHT_PROGBITS, _SHT_NOBITS):
            raise UnsupportedObject(f"section {name!r} (type {kind}, flags {flags:#x})")
        align = max(1, align)
        offset = -(-offset // align) * align
        layout[i] = offset
        offset += size
    return layout, max(_PAGE, -(-offset // _PAGE) * _PAGE)


def _symbol_addresses(symbols: list[tuple[int, ...]], strings: bytes, layout: dict[int, int],
                      base: int, resolve: Callable[[str], int | None]
                      ) -> tuple[list[int | None], dict[str, int]]:
    """Each symbol's address (None: it has none) and the object's exported symbols by name."""
    addresses: list[int | None] = [0]  # the null symbol: relocations without one use S = 0
    exported: dict[str, int] = {}
    for name, info, _other, shndx, value, _size in symbols[1:]:
        if shndx in layout:
            address: int | None = base + layout[shndx] + value
            if info >> 4 != _STB_LOCAL:
                exported[_string(strings, name)] = address
        elif shndx == _SHN_ABS:
            address = value
        elif shndx == _SHN_UNDEF and name:
            address = resolve(_string(strings, name))
            if address is None and info >> 4 != _STB_LOCAL:
                raise UnsupportedObject(f"unresolved symbol {_string(strings, name)!r}")
        else:  # (common, or in a section not loaded: an error if a relocation uses it)
            address = None
        addresses.append(address)
    return addresses, exported


def _relocate(image: bytearray, table: bytes, size: int, offset: int, base: int,
              addresses: list[int | None]) -> None:
    """Apply the relocations ``table`` to a section of ``size`` bytes placed at ``offset``."""
    pack64, pack32 = _U64.pack_into, _I32.pack_into
    for where, info, addend in _RELA.iter_unpack(table):
        kind, index = info & 0xFFFFFFFF, info >> 32
        if kind == _R_NONE:
            continue
        symbol = addresses[index] if index < len(addresses) else None
        if symbol is None:
            raise UnsupportedObject(f"relocation against symbol {index}, which has no address")
        if kind == _R_64 or kind == _R_PC64:
            if where + 8 > size:
                raise UnsupportedObject("a relocation lies outside its section")
            value = symbol + addend - (base + offset + where if kind == _R_PC64 else 0)
            pack64(image, offset + where, value & _MASK64)
        elif kind == _R_PC32 or kind == _R_PLT32:
            value = symbol + addend - (base + offset + where)
            if where + 4 > size or not -(2**31) <= value < 2**31:
                raise UnsupportedObject("a 32-bit PC-relative relocation out of range")
            pack32(image, offset + where, value)
        else:
            raise UnsupportedObject(f"relocation type {kind}")


def _contents(data: bytes, section: tuple[int, ...], entry_size: int = 0) -> bytes:
    if entry_size and (section[9] != entry_size or section[5] % entry_size):
        raise UnsupportedObject("a table's entry size is not the expected one")
    return data[section[4]:section[4] + section[5]]


def _string(table: bytes, offset: int) -> str:
    end = table.find(b"\0", offset)
    if offset >= len(table) or end < 0:
        raise UnsupportedObject("a name outside the string table")
    return table[offset:end].decode()
