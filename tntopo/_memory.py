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


def _cgroup_room() -> Optional[int]:
    """Bytes a container's memory limit (cgroup v2 or v1) still allows, or ``None`` if unlimited/unknown."""
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit) as f:
                text = f.read().strip()
            if text == "max" or int(text) >= 2**60:  # no limit
                return None
            with open(usage) as f:
                return max(0, int(text) - int(f.read().strip()))
        except (OSError, ValueError):
            continue
    return None


def available_memory() -> Optional[int]:
    """Bytes of memory available to a new allocation: ``MemAvailable`` of /proc/meminfo (else the
    physical memory), capped by a container's memory limit; ``None`` where nothing can be read."""
    have = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    have = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if have is None:
        try:
            have = int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
        except (AttributeError, OSError, ValueError):  # pragma: no cover - not a POSIX system
            have = None
    room = _cgroup_room()
    if room is not None:
        have = room if have is None else min(have, room)
    return have


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
