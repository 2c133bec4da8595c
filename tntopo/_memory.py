"""Memory estimates of dense routes, checked before the work: a route whose matrices cannot fit
is refused at once with the route to use, instead of ending in a ``MemoryError`` (or the
operating system's out-of-memory killer) minutes later.
"""
from __future__ import annotations

import os
from typing import Optional

__all__ = ["available_memory", "check_dense_memory", "DENSE_COPIES"]

#: Peak memory of the dense routes in units of one ``n x n`` matrix of their dtype (measured with
#: ``tracemalloc``: the dense winding number and the local winding markers of an N-cell chain
#: peak at 8.0 N x N arrays for N = 1000 and 2000, real and complex).
DENSE_COPIES = 8


def available_memory() -> Optional[int]:
    """Bytes of memory available to a new allocation (``MemAvailable`` of /proc/meminfo, else the
    physical memory), or ``None`` where neither can be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):  # pragma: no cover - not a POSIX system
        return None


def _gib(n: float) -> str:
    return f"{n / 2**30:.3g} GiB"


def check_dense_memory(n: int, itemsize: int, what: str, fix: str, *, copies: int = DENSE_COPIES,
                       batch: int = 1) -> None:
    """Raise ``ValueError`` (not a late ``MemoryError``) if ``batch`` dense ``n x n`` problems cannot fit.

    ``what`` names the route (``"method='dense' on 200000 cells"``), ``fix`` what to use instead
    (``"use method='local' (O(N) memory)"``). The estimate is ``copies * n^2 * itemsize`` bytes
    per problem; nothing is checked where the available memory is unknown.
    """
    need = float(copies) * float(n) * float(n) * float(itemsize) * float(batch)
    have = available_memory()
    if have is not None and need > have:
        raise ValueError(f"{what} needs about {_gib(need)} of memory for its dense {n} x {n} matrices, "
                         f"more than the {_gib(have)} available; {fix}")
