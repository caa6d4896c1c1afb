"""Independent high-precision references shared by the tests (mpmath)."""

from __future__ import annotations

import mpmath as mp


def mp_kepE(e, M):  # noqa: N802 - heyoka's name
    """E - e sin(E) = M by Newton's method, to the working precision of mpmath."""
    E = M + e * mp.sin(M)
    for _ in range(200):
        step = (E - e * mp.sin(E) - M) / (1 - e * mp.cos(E))
        E -= step
        if abs(step) <= 4 * mp.eps * max(1, abs(E)):
            break
    return E
