"""Occupied eigenpairs of Hermitian matrices straight from LAPACK, without the GIL.

``numpy.linalg.eigh`` (LAPACK ``zheevd``) returns every eigenvector. The Chern marker and the
windowed projectors need only the occupied ones (energies below the Fermi level), so
:func:`eigh_occupied` runs the three stages of ``zheevd`` itself and skips half of the last:

1. ``zhetrd``: Householder reduction ``H = Q T Q^dag`` to a real tridiagonal ``T``;
2. ``dstevd``: eigenpairs of ``T`` (real divide and conquer; ``zheevd`` runs the complex
   ``zstedc`` here, which multiplies complex by real matrices at every merge);
3. ``zunmtr``: back-transforms only the ``k`` wanted eigenvectors of ``T`` with ``Q``.

On the 128 x 128 Hamiltonians of 8 x 8 QWZ samples this is about 1.2x faster than ``eigh``
(``benchmarks/bench_chern.py``). The routines come from SciPy's Cython LAPACK
(:mod:`scipy.linalg.cython_lapack`, the LAPACK SciPy itself links) and are called through
:mod:`ctypes`, which releases the GIL during each call, so chunks of a batch run in parallel
threads (SciPy's f2py wrappers in :mod:`scipy.linalg.lapack` hold the GIL). Where those
routines cannot be loaded, or for real or non-double input, :func:`eigh_occupied` falls back
to ``numpy.linalg.eigh``.
"""
from __future__ import annotations

import ctypes
import threading
from typing import Optional, Tuple

import numpy as np

__all__ = ["eigh_occupied"]

_LOCK = threading.Lock()
_ROUTINES: dict = {}


def _routines() -> Optional[dict]:
    """``{"zhetrd", "dstevd", "zunmtr"}`` as ctypes functions (loaded once), or None."""
    with _LOCK:
        if not _ROUTINES:
            try:
                from scipy.linalg import cython_lapack

                get_name = ctypes.pythonapi.PyCapsule_GetName
                get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
                get_ptr = ctypes.pythonapi.PyCapsule_GetPointer
                get_ptr.restype, get_ptr.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
                for name, n_args in (("zhetrd", 10), ("dstevd", 11), ("zunmtr", 13)):
                    cap = cython_lapack.__pyx_capi__[name]
                    addr = get_ptr(cap, get_name(cap))
                    if not addr:
                        raise OSError(f"no address for {name}")
                    _ROUTINES[name] = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * n_args))(addr)
            except Exception:  # noqa: BLE001 - any failure: numpy's eigh serves instead
                _ROUTINES["unavailable"] = True
        return None if "unavailable" in _ROUTINES else _ROUTINES


def _int(v: int):
    return ctypes.byref(ctypes.c_int(int(v)))


def _addr(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


_L, _N, _V = ctypes.c_char_p(b"L"), ctypes.c_char_p(b"N"), ctypes.c_char_p(b"V")


class _Workspace:
    """Workspaces and argument pointers of one matrix size (reused over a chunk, one per thread)."""

    def __init__(self, r: dict, n: int):
        self.r, self.n = r, n
        self.info = ctypes.c_int(0)
        q = np.zeros(1, dtype=np.complex128)
        a = np.zeros((1, 1), dtype=np.complex128)
        d = np.zeros(max(n, 1))
        pq, pa, pd, info = _addr(q), _addr(a), _addr(d), ctypes.byref(self.info)
        # workspace queries (lwork = -1)
        r["zhetrd"](_L, _int(n), pa, _int(n), pd, pd, pq, pq, _int(-1), info)
        lw1 = int(q[0].real)
        r["zunmtr"](_L, _L, _N, _int(n), _int(n), pa, _int(n), pq, pq, _int(n), pq, _int(-1), info)
        lwork = max(lw1, int(q[0].real), 1)
        self.work = np.empty(lwork, dtype=np.complex128)
        self.work_d = np.empty(1 + 4 * n + n * n)
        self.iwork = np.empty(3 + 5 * n, dtype=np.intc)
        self.a = np.empty((n, n), dtype=np.complex128)
        self.e = np.empty(n)
        self.tau = np.empty(n, dtype=np.complex128)
        self.z = np.empty((n, n))
        self.n_ref = _int(n)
        self.lwork_ref = _int(lwork)
        self.lwork_d_ref = _int(self.work_d.size)
        self.liwork_ref = _int(self.iwork.size)
        self.p = {k: _addr(getattr(self, k)) for k in ("work", "work_d", "iwork", "a", "e", "tau", "z")}

    def solve(self, h: np.ndarray, cut: Optional[float], E_out: np.ndarray) -> np.ndarray:
        """Eigenvalues of ``h`` into ``E_out`` (contiguous); returns ``(m, n)``: the conjugated
        eigenvectors with eigenvalue below ``cut`` (all with ``cut=None``) in its rows."""
        r, n, p, nr, info = self.r, self.n, self.p, self.n_ref, ctypes.byref(self.info)
        # h in C order is conj(h) = h^T in Fortran order: its eigenvectors are the conjugates of h's
        self.a[...] = h
        pd = _addr(E_out)  # the diagonal of T, overwritten by the eigenvalues (ascending)
        r["zhetrd"](_L, nr, p["a"], nr, pd, p["e"], p["tau"], p["work"], self.lwork_ref, info)
        _check(self.info, "zhetrd")
        r["dstevd"](_V, nr, pd, p["e"], p["z"], nr, p["work_d"], self.lwork_d_ref, p["iwork"], self.liwork_ref, info)
        _check(self.info, "dstevd")
        m = n if cut is None else int(np.searchsorted(E_out, cut, side="left"))
        c = self.z[:m].astype(np.complex128)  # rows = eigenvectors of T (Fortran n x m)
        r["zunmtr"](_L, _L, _N, nr, _int(m), p["a"], nr, p["tau"], _addr(c), nr, p["work"], self.lwork_ref, info)
        _check(self.info, "zunmtr")
        return c


def _check(info: ctypes.c_int, routine: str):
    if info.value != 0:
        raise np.linalg.LinAlgError(f"LAPACK {routine} failed (info = {info.value}): eigenvalues did not converge"
                                    if info.value > 0 else f"LAPACK {routine}: illegal argument {-info.value}")


def eigh_occupied(H: np.ndarray, fermi_level: float, *, all_vectors: bool = False,
                  margin: float = 0.0) -> Tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and the eigenvectors below ``fermi_level + margin`` of Hermitian matrices.

    Parameters
    ----------
    H : ndarray, shape (n, n) or (B, n, n)
        Hermitian matrices (only the lower triangle is read, as ``eigh``).
    fermi_level : float
        Eigenvectors with eigenvalue ``< fermi_level + margin`` are computed.
    all_vectors : bool
        Compute every eigenvector (then equal to ``numpy.linalg.eigh`` up to phases).
    margin : float
        Extra width above the Fermi level.

    Returns
    -------
    E : ndarray, shape (..., n)
        All eigenvalues, ascending.
    V : ndarray, shape (..., n, m)
        Columns ``[:k]`` of sample ``b`` are its eigenvectors with ``E[b] < fermi_level + margin``
        (``k`` varies by sample; ``m`` is the largest); the other columns are zero. Through
        the numpy fallback ``V`` holds every eigenvector instead.
    """
    H = np.asarray(H)
    single = H.ndim == 2
    Hb = H[None] if single else H
    n = Hb.shape[-1]
    r = _routines() if Hb.dtype == np.complex128 and n > 0 else None
    if r is not None and Hb.size:
        # zheevd rescales matrices of extreme norm first; leave those (and non-finite input) to it
        top = float(np.abs(Hb).max())
        if not (1e-100 < top < 1e100):
            r = None
    if r is None:
        E, V = np.linalg.eigh(Hb)
        return (E[0], V[0]) if single else (E, V)
    cut = float(fermi_level) + float(margin)
    B = Hb.shape[0]
    E = np.empty((B, n))
    ws = _Workspace(r, n)
    rows = [ws.solve(Hb[b], None if all_vectors else cut, E[b]) for b in range(B)]
    V = np.zeros((B, n, max(1, max(c.shape[0] for c in rows))), dtype=np.complex128)
    for b, c in enumerate(rows):
        np.conjugate(c.T, out=V[b, :, : c.shape[0]])
    return (E[0], V[0]) if single else (E, V)
