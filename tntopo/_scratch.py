"""Reusable per-thread work arrays for the dense marker's chunk loop.

A chunk of the dense Chern marker (16 samples of 128 x 128) makes about 20 MB of temporaries;
fresh arrays of that size come from the operating system page by page (glibc returns large
blocks on ``free``), and the page faults cost about 10% of the marker's time on a virtual
machine. Each worker thread keeps its arrays in a :class:`Scratch` and reuses them from chunk to
chunk: ``get`` returns a C-contiguous view of a buffer that only grows. A thread keeps its arrays
until it ends (a few tens of MB for the dense marker's chunks; the marker gives chunks larger
than ``tntopo.invariants.chern._SCRATCH_MAX_BYTES`` fresh arrays instead).
"""
from __future__ import annotations

import math
import threading
from typing import Dict, Tuple

import numpy as np

__all__ = ["Scratch", "thread_scratch"]


class Scratch:
    """Named work arrays, reused: ``get(name, shape, dtype)`` returns a C-contiguous array of that
    shape whose contents are undefined (a view of the buffer ``name``, grown when too small).
    A view stays valid until the next ``get`` of the same name."""

    def __init__(self):
        self._bufs: Dict[str, np.ndarray] = {}

    def get(self, name: str, shape: Tuple[int, ...], dtype=np.float64) -> np.ndarray:
        dtype = np.dtype(dtype)
        size = math.prod(shape)
        buf = self._bufs.get(name)
        if buf is None or buf.dtype != dtype or buf.size < size:
            buf = self._bufs[name] = np.empty(size, dtype=dtype)
        return buf[:size].reshape(shape)

    def nbytes(self) -> int:
        """Bytes held."""
        return sum(b.nbytes for b in self._bufs.values())


_LOCAL = threading.local()


def thread_scratch() -> Scratch:
    """This thread's :class:`Scratch` (freed with the thread)."""
    s = getattr(_LOCAL, "scratch", None)
    if s is None:
        s = _LOCAL.scratch = Scratch()
    return s
