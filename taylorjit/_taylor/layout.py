"""What an integrator's constructor needs from its decomposition, cached next to its kernel.

Decomposing a large system costs more than loading its compiled kernel: the 20-body problem's
fusion and Taylor program take 37 ms in a new process, the object 2 ms. The constructor needs
from the decomposition only the emitter (compact or unrolled), the number of parameters and the
jet buffer's shape and constant rows; :class:`JetLayout` holds them, and is stored in the disk
cache under the same source as the kernel, so a process that finds both decomposes nothing
(``taylor_adaptive.decomposition`` is then computed when first asked for).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from .._jit import cache as disk_cache
from .._jit.context import jit_context
from .._jit.lower import in_runtime
from . import compact
from .decompose import Decomposition

__all__ = ["JetLayout", "cached_layout", "store_layout"]

#: Layouts of this process, by source (a disk read per construction is cheap, none is cheaper).
_memory: dict[str, JetLayout] = {}


@dataclass(frozen=True)
class JetLayout:
    """The emitter, the parameter count and the jet buffer of one compiled integrator."""

    compact: bool
    npars: int
    nrows: int
    #: ``(row, leading coefficients)`` written once into the buffer (numbers, time's slope).
    constants: tuple[tuple[int, tuple[float, ...]], ...]
    #: Whether the kernel calls the runtime library (sin, exp, pow...): a system without such
    #: functions is built without loading it (1 ms of a new process).
    runtime: bool = True
    #: Whether a compact jet shares its loops across levels (``compact.shares_loops``).
    shared_loops: bool = False

    @classmethod
    def of(cls, dec: Decomposition, order: int, compact_mode: bool) -> JetLayout:
        """The layout of ``dec`` emitted at ``order`` (compact or not)."""
        runtime = any(in_runtime(c.prim) for c in dec.calls)
        if compact_mode:
            lay = compact.compact_layout(dec)
            constants = tuple((row, tuple(values)) for row, values in compact.constant_rows(dec, lay, order))
            return cls(True, dec.npars, lay.nrows, constants, runtime, compact.shares_loops(dec))
        return cls(False, dec.npars, len(dec.state) + len(dec.extra), (), runtime)

    def buffer(self, order: int) -> np.ndarray:
        """A fresh jet buffer with the constant rows written."""
        stride = order + 1
        buf = np.zeros(self.nrows * stride)
        for row, values in self.constants:
            buf[row * stride: row * stride + len(values)] = values
        return buf

    def to_bytes(self) -> bytes:  # noqa: D102
        return json.dumps([self.compact, self.npars, self.nrows, self.constants, self.runtime,
                           self.shared_loops]).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> JetLayout:  # noqa: D102
        is_compact, npars, nrows, constants, runtime, shared_loops = json.loads(data)
        return cls(bool(is_compact), int(npars), int(nrows),
                   tuple((int(row), tuple(float(v) for v in values)) for row, values in constants),
                   bool(runtime), bool(shared_loops))


def _key(source: str) -> str:
    return "layout-" + jit_context().cache_key(source)


def cached_layout(source: str) -> JetLayout | None:
    """The layout stored for ``source`` (this process's, else the disk cache's), or None."""
    if source in _memory:
        return _memory[source]
    data = disk_cache.load(_key(source))
    if data is None:
        return None
    try:
        layout = JetLayout.from_bytes(data)
    except (ValueError, TypeError):  # written by another version: rebuilt from scratch
        return None
    _memory[source] = layout
    return layout


def store_layout(source: str, layout: JetLayout) -> None:
    """Keep ``layout`` for ``source`` in this process and in the disk cache."""
    _memory[source] = layout
    disk_cache.store(_key(source), layout.to_bytes())
