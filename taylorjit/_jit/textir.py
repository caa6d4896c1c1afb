"""A fast emitter of straight-line LLVM IR as text, for large generated kernels.

Building IR with ``llvmlite.ir`` costs about 8 us per instruction in Python (object creation,
then formatting), as much as LLVM's own optimisation of it; this emitter writes the text
directly (about 1 us per instruction). It covers what generated kernels are made of: float
arithmetic on one value type (``double`` or ``<W x double>``), loads, stores, splats and calls.
Anything more elaborate (vector math, Newton iterations) is built once per module as a small
``alwaysinline`` helper with ``llvmlite.ir`` (see ``lower.py``) and called from here.
"""

from __future__ import annotations

import struct

__all__ = ["TextBody", "double_literal"]


def double_literal(value: float) -> str:
    """The exact IR literal of a double (hexadecimal bit pattern)."""
    return "0x" + struct.pack(">d", float(value)).hex().upper()


class TextBody:
    """SSA text for one function body over a value type of ``width`` doubles.

    Names are ``%<prefix><n>``: several instances can write into one function with distinct
    prefixes. Methods return the textual operand (a ``%name`` or a constant) of the value they define.
    """

    def __init__(self, width: int, prefix: str = "v", contract: bool = False) -> None:
        self.width = width
        self.prefix = prefix
        #: ``contract`` lets LLVM fuse a product and a sum into one FMA (one rounding instead of
        #: two, and half the latency): right for recurrences, wrong for compensated sums, whose
        #: error terms rely on each operation being rounded separately.
        self._contract = " contract" if contract else ""
        self.vtype = "double" if width == 1 else f"<{width} x double>"
        self.lines: list[str] = []
        self._count = 0

    def fresh(self) -> str:
        """A new SSA name."""
        self._count += 1
        return f"%{self.prefix}{self._count}"

    def emit(self, text: str) -> None:
        """Append one raw instruction line."""
        self.lines.append("  " + text)

    def constant(self, value: float) -> str:
        """A constant with every lane equal to ``value``."""
        lit = double_literal(value)
        return lit if self.width == 1 else f"splat (double {lit})"

    def binary(self, opcode: str, a: str, b: str) -> str:
        """``fadd``, ``fsub``, ``fmul`` or ``fdiv`` of two values."""
        r = self.fresh()
        flags = self._contract if opcode != "fdiv" else ""
        self.emit(f"{r} = {opcode}{flags} {self.vtype} {a}, {b}")
        return r

    def neg(self, a: str) -> str:
        """Negation (``fneg``: flips the sign bit, also of zeros and NaNs)."""
        r = self.fresh()
        self.emit(f"{r} = fneg {self.vtype} {a}")
        return r

    def call(self, function: str, args: list[str]) -> str:
        """Call ``@function`` (a quoted name is fine) on values of the value type."""
        r = self.fresh()
        operands = ", ".join(f"{self.vtype} {a}" for a in args)
        self.emit(f"{r} = call {self.vtype} @\"{function}\"({operands})")
        return r

    def address(self, base: str, offset: str) -> str:
        """``getelementptr double, ptr base, i64 offset``."""
        r = self.fresh()
        self.emit(f"{r} = getelementptr double, ptr {base}, i64 {offset}")
        return r

    def index(self, row: int, stride: str, column: str) -> str:
        """The i64 ``row * stride + column``."""
        if row == 0:
            return column
        scaled = self.fresh()
        self.emit(f"{scaled} = mul i64 {row}, {stride}")
        r = self.fresh()
        self.emit(f"{r} = add i64 {scaled}, {column}")
        return r

    def load(self, pointer: str) -> str:
        """Load one value (W consecutive doubles, unaligned)."""
        r = self.fresh()
        self.emit(f"{r} = load {self.vtype}, ptr {pointer}, align 8")
        return r

    def store(self, value: str, pointer: str) -> None:
        """Store one value (W consecutive doubles, unaligned)."""
        self.emit(f"store {self.vtype} {value}, ptr {pointer}, align 8")

    def load_splat(self, pointer: str) -> str:
        """Load one double and broadcast it to every lane."""
        scalar = self.fresh()
        self.emit(f"{scalar} = load double, ptr {pointer}, align 8")
        if self.width == 1:
            return scalar
        one = self.fresh()
        self.emit(f"{one} = insertelement {self.vtype} poison, double {scalar}, i64 0")
        r = self.fresh()
        self.emit(f"{r} = shufflevector {self.vtype} {one}, {self.vtype} poison, "
                  f"<{self.width} x i32> zeroinitializer")
        return r

    def text(self) -> str:
        """The instructions, one per line."""
        return "\n".join(self.lines)
