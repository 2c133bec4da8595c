"""Single-threaded BLAS/LAPACK while tntopo runs many small matrices in its own threads.

The BLAS libraries are found once, not on every entry: ``threadpoolctl.threadpool_limits`` builds
a new ``ThreadpoolController`` per call, which lists every shared object of the process (reads
``/proc/self/maps`` on Linux): about 2 ms per entry, measured by ``benchmarks/bench_blas.py``,
against about 25 us with the controller kept, and ``fhs_chern`` of an 8 x 8 QWZ lattice (two
entries) ran 1.6-2.5x slower with the rescan than with the controller kept -- as fast as inside an
outer block. Here the controller of the loaded BLAS libraries is built on first use and kept.

Libraries loaded later: the controller is rebuilt when the number of imported Python modules has
changed since it was built (the heuristic of threadpoolctl's own ``get_cached_controller``). A
BLAS library enters the process with the import of the extension module that links it (numpy,
scipy.linalg, torch), so a new one always comes with a new module. A library loaded without any
Python import (a bare ``ctypes.CDLL`` of a BLAS) would be missed until the next import, and run
with its own thread count meanwhile: slower, as without this module. (Watching the loader's own counters,
``dl_iterate_phdr``'s ``dlpi_adds``, would call back into Python under the loader lock, which
threadpoolctl avoids for its deadlocks.)
"""
from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from typing import Any, Dict, Iterator

import threadpoolctl
from threadpoolctl import ThreadpoolController

__all__ = ["single_threaded_blas"]

_LOCK = threading.Lock()
#: depth: threads inside a block; limiter: the limits set by the first entrant; controller: the
#: BLAS libraries found, built when ``len(sys.modules)`` was ``n_modules``
_STATE: Dict[str, Any] = {"depth": 0, "limiter": None, "controller": None, "n_modules": -1}


def _blas_controller():
    """The ``ThreadpoolController`` of the loaded BLAS libraries (call with ``_LOCK`` held): built on
    first use, rebuilt when modules were imported since (see the module docstring)."""
    n_modules = len(sys.modules)
    if _STATE["controller"] is None or n_modules != _STATE["n_modules"]:
        _STATE["controller"] = ThreadpoolController().select(user_api="blas")
        _STATE["n_modules"] = n_modules
    return _STATE["controller"]


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run BLAS/LAPACK on one thread inside the block.

    tntopo parallelizes batches of small matrices itself (threads over the batch); multi-threaded
    BLAS on such matrices is several times slower, and its spinning worker threads slow down the
    next calls. Re-entrant and thread-safe: the first entrant sets the limit, the last one out
    restores it (the limit is process-wide while any thread is inside). The BLAS libraries are
    found once and kept (rebuilt after new imports; see the module docstring).
    """
    with _LOCK:
        if _STATE["depth"] == 0:
            _release_openblas_control()
            _STATE["limiter"] = _blas_controller().limit(limits=1, user_api="blas")
            _release_openblas_control()
        _STATE["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["depth"] -= 1
            if _STATE["depth"] == 0:
                _release_openblas_control()
                _STATE["limiter"].restore_original_limits()
                _STATE["limiter"] = None
                _release_openblas_control()


def _release_openblas_control() -> None:
    """Let the next thread that sets an OpenBLAS limit set it (threadpoolctl >= 3.8).

    threadpoolctl 3.8 lets only one Python thread -- the first to set a limit -- change the
    process-wide pool of a pthreads OpenBLAS; other threads' calls silently do nothing until that
    thread clears its control, which only a ``with threadpool_limits(...)`` block does on exit.
    Here the first entrant sets the limit and the last one out, perhaps another thread, restores
    it: without this, a worker thread that once set the limit would make every later set or
    restore of other threads a no-op (BLAS left at one thread, or never limited). Called with
    ``_LOCK`` held, around each set and restore.
    """
    openblas = getattr(threadpoolctl, "OpenBLASController", None)
    clear = getattr(openblas, "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)
