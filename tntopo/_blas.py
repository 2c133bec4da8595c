"""Single-threaded BLAS/LAPACK while tntopo runs many small matrices in its own threads."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Dict, Iterator

import numpy as np

from threadpoolctl import threadpool_limits

__all__ = ["single_threaded_blas", "single_threaded_linalg", "eigh"]

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


_TORCH_LOCK = threading.Lock()
_TORCH_STATE = {"depth": 0, "old": None}


@contextmanager
def single_threaded_linalg() -> Iterator[None]:
    """One thread per LAPACK/BLAS call inside the block: numpy's BLAS and torch's intra-op pool.

    tntopo threads over batches (or windows) itself; this keeps the per-call libraries from
    oversubscribing the cores. Re-entrant and thread-safe (the last one out restores the settings).
    """
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None
    with single_threaded_blas():
        if torch is not None:
            with _TORCH_LOCK:
                if _TORCH_STATE["depth"] == 0:
                    _TORCH_STATE["old"] = torch.get_num_threads()
                    torch.set_num_threads(1)
                _TORCH_STATE["depth"] += 1
        try:
            yield
        finally:
            if torch is not None:
                with _TORCH_LOCK:
                    _TORCH_STATE["depth"] -= 1
                    if _TORCH_STATE["depth"] == 0:
                        torch.set_num_threads(_TORCH_STATE["old"])


def eigh(H: np.ndarray):
    """``eigh`` of a Hermitian ``(..., n, n)`` array: LAPACK's divide and conquer via torch (MKL on
    x86, faster than numpy's OpenBLAS build for the matrix sizes of the markers), numpy without it.

    Eigenvalues ascending, eigenvectors in the columns (as :func:`numpy.linalg.eigh`). Call inside
    :func:`single_threaded_linalg` when threading over a batch.
    """
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return np.linalg.eigh(H)
    E, V = torch.linalg.eigh(torch.from_numpy(np.ascontiguousarray(H)))
    return E.numpy(), V.numpy()
