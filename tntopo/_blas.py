"""Single-threaded BLAS/LAPACK while tntopo runs many small matrices in its own threads."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Dict, Iterator

from threadpoolctl import threadpool_limits

__all__ = ["single_threaded_blas"]

_LOCK = threading.Lock()
_STATE: Dict[str, Any] = {"depth": 0, "limiter": None}


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run BLAS/LAPACK on one thread inside the block.

    tntopo parallelizes batches of small matrices itself (threads over the batch); multi-threaded
    BLAS on such matrices is several times slower, and its spinning worker threads slow down the
    next calls. Re-entrant and thread-safe: the first entrant sets the limit, the last one out
    restores it (the limit is process-wide while any thread is inside).
    """
    with _LOCK:
        if _STATE["depth"] == 0:
            _STATE["limiter"] = threadpool_limits(1, user_api="blas")
        _STATE["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["depth"] -= 1
            if _STATE["depth"] == 0:
                _STATE["limiter"].restore_original_limits()
                _STATE["limiter"] = None
