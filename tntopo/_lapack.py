"""Occupied eigenpairs of Hermitian matrices straight from LAPACK, without the GIL.

``numpy.linalg.eigh`` (LAPACK ``zheevd``) returns every eigenvector. The Chern marker and the
windowed projectors need only the occupied ones (energies below the Fermi level), so
:func:`eigh_occupied` runs the three stages of ``zheevd`` itself and skips half of the last:

1. ``zhetrd``: Householder reduction ``H = Q T Q^dag`` to a real tridiagonal ``T``;
2. ``dstevd``: eigenpairs of ``T`` (real divide and conquer; ``zheevd`` runs the complex
   ``zstedc`` here, which multiplies complex by real matrices at every merge);
3. ``zunmtr``: back-transforms only the ``k`` wanted eigenvectors of ``T`` with ``Q``.

On the 128 x 128 Hamiltonians of 8 x 8 QWZ samples this is 1.1-1.2x faster than
``numpy.linalg.eigh`` on one thread and 1.06-1.16x faster than ``scipy.linalg.eigh(driver="evd")``
(``benchmarks/bench_lapack.py``, two runs on a loaded 2-core machine; SciPy has no wrapper of
``zunmtr``, and ``scipy.linalg.eigh(subset_by_index=...)``, ``zheevr``, is 1.6-2.2x slower).
The routines come from SciPy's Cython LAPACK (:mod:`scipy.linalg.cython_lapack`, the LAPACK
SciPy itself links) and are called through :mod:`ctypes`, which releases the GIL during each
call, so chunks of a batch run in parallel threads. Each capsule's name -- the routine's C
signature -- is checked against :data:`SIGNATURES` before its address is used, and the ctypes
prototypes declare ``int *`` arguments as such: a LAPACK with 64-bit integers is never called
with 32-bit ones. Where those routines cannot be loaded or do not have the expected
signatures, or for real or non-double input, :func:`eigh_occupied` falls back to
``numpy.linalg.eigh`` (same output: the occupied eigenvectors, zero padded).
:func:`eigh_occupied_rows` returns the eigenvectors as the conjugated rows LAPACK leaves them in
(``V^dag``), which the dense marker contracts without a transposition.
"""
from __future__ import annotations

import ctypes
import threading
from typing import Optional, Tuple

import numpy as np

__all__ = ["eigh_occupied", "eigh_occupied_rows", "signature_kinds", "SIGNATURES"]

_LOCK = threading.Lock()
_ROUTINES: dict = {}


#: The C signatures the calls below are written for, as argument kinds: ``c`` a character,
#: ``i`` a C ``int``, ``d`` a double, ``z`` a double complex (all passed by pointer). A LAPACK
#: with 64-bit integers, or any other change, gives another signature: numpy's eigh serves then.
SIGNATURES = {
    "zhetrd": "ciziddzzii",  # uplo, n, a, lda, d, e, tau, work, lwork, info
    "dstevd": "cidddidiiii",  # jobz, n, d, e, z, ldz, work, lwork, iwork, liwork, info
    "zunmtr": "ccciizizzizii",  # side, uplo, trans, m, n, a, lda, tau, c, ldc, work, lwork, info
}


def _kind(base: str) -> Optional[str]:
    if base in ("char", "int", "double"):
        return base[0]
    if base.startswith("__pyx_t_"):  # Cython's typedefs of SciPy's LAPACK types
        if base.endswith("double_complex") or base.endswith("cython_lapack_z"):
            return "z"
        if base.endswith("cython_lapack_d"):
            return "d"
    return None


def signature_kinds(capsule_name: str) -> Optional[str]:
    """The argument kinds of a SciPy Cython LAPACK capsule's C signature (its name), e.g.
    ``"void (char *, int *, double *)"`` -> ``"cid"``; None if it is not a ``void`` function of
    pointers to ``char``, ``int``, ``double`` or ``double complex`` (``long *``, ``int64_t *``...)."""
    if not capsule_name.startswith("void (") or not capsule_name.endswith(")"):
        return None
    kinds = []
    for arg in capsule_name[len("void ("):-1].split(","):
        arg = arg.strip()
        kind = _kind(arg[:-1].strip()) if arg.endswith("*") else None
        if kind is None:
            return None
        kinds.append(kind)
    return "".join(kinds)


def _routines() -> Optional[dict]:
    """``{"zhetrd", "dstevd", "zunmtr"}`` as ctypes functions (loaded once), or None.

    The routines' addresses come from the capsules of :mod:`scipy.linalg.cython_lapack` (what
    ``numba.extending.get_cython_function_address`` does too); unlike that helper, the capsule's
    name -- the routine's C signature -- is checked against :data:`SIGNATURES` first, and the
    ctypes prototype declares each argument's type (``char *``, ``int *``, data pointers), so a
    LAPACK whose integers are not C ``int`` (ILP64) is never called with 32-bit integers.
    """
    with _LOCK:
        if not _ROUTINES:
            try:
                if ctypes.sizeof(ctypes.c_int) != np.dtype(np.intc).itemsize:
                    raise OSError("C int and numpy intc differ")
                from scipy.linalg import cython_lapack

                get_name = ctypes.pythonapi.PyCapsule_GetName
                get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
                get_ptr = ctypes.pythonapi.PyCapsule_GetPointer
                get_ptr.restype, get_ptr.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
                types = {"c": ctypes.c_char_p, "i": ctypes.POINTER(ctypes.c_int), "d": ctypes.c_void_p,
                         "z": ctypes.c_void_p}
                for name, kinds in SIGNATURES.items():
                    cap = cython_lapack.__pyx_capi__[name]
                    cname = get_name(cap)
                    if signature_kinds(cname.decode()) != kinds:
                        raise OSError(f"unexpected C signature of {name}: {cname!r}")
                    addr = get_ptr(cap, cname)
                    if not addr:
                        raise OSError(f"no address for {name}")
                    _ROUTINES[name] = ctypes.CFUNCTYPE(None, *(types[k] for k in kinds))(addr)
            except Exception:  # noqa: BLE001 - any failure: numpy's eigh serves instead
                _ROUTINES.clear()
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
        self.p = {k: _addr(getattr(self, k)) for k in ("work", "work_d", "a", "e", "tau", "z")}
        self.p["iwork"] = self.iwork.ctypes.data_as(ctypes.POINTER(ctypes.c_int))  # an int * argument

    def solve(self, h: np.ndarray, cut: Optional[float], E_out: np.ndarray, rows: np.ndarray) -> int:
        """Eigenvalues of ``h`` into ``E_out`` (contiguous) and the conjugated eigenvectors with
        eigenvalue below ``cut`` (all with ``cut=None``) into the first rows of ``rows`` (a
        C-contiguous ``(n, n)`` complex block); returns their number ``m``."""
        r, n, p, nr, info = self.r, self.n, self.p, self.n_ref, ctypes.byref(self.info)
        # h in C order is conj(h) = h^T in Fortran order: its eigenvectors are the conjugates of h's
        self.a[...] = h
        pd = _addr(E_out)  # the diagonal of T, overwritten by the eigenvalues (ascending)
        r["zhetrd"](_L, nr, p["a"], nr, pd, p["e"], p["tau"], p["work"], self.lwork_ref, info)
        _check(self.info, "zhetrd")
        r["dstevd"](_V, nr, pd, p["e"], p["z"], nr, p["work_d"], self.lwork_d_ref, p["iwork"], self.liwork_ref, info)
        _check(self.info, "dstevd")
        m = n if cut is None else int(np.searchsorted(E_out, cut, side="left"))
        rows[:m] = self.z[:m]  # rows = eigenvectors of T (Fortran n x m), back-transformed in place
        r["zunmtr"](_L, _L, _N, nr, _int(m), p["a"], nr, p["tau"], _addr(rows), nr, p["work"], self.lwork_ref, info)
        _check(self.info, "zunmtr")
        return m


_LOCAL = threading.local()
#: workspaces of matrices up to this size are kept per thread and reused (fresh ones of a few
#: hundred kB per chunk cost page faults); larger ones are made per call
_KEEP_WORKSPACE_MAX_N = 1024


def _workspace(r: dict, n: int) -> _Workspace:
    """This thread's workspace for size ``n`` (kept for ``n <= _KEEP_WORKSPACE_MAX_N``)."""
    if n > _KEEP_WORKSPACE_MAX_N:
        return _Workspace(r, n)
    cache = getattr(_LOCAL, "workspaces", None)
    if cache is None:
        cache = _LOCAL.workspaces = {}
    ws = cache.get(n)
    if ws is None:
        ws = cache[n] = _Workspace(r, n)
    return ws


def _check(info: ctypes.c_int, routine: str):
    if info.value != 0:
        raise np.linalg.LinAlgError(f"LAPACK {routine} failed (info = {info.value}): eigenvalues did not converge"
                                    if info.value > 0 else f"LAPACK {routine}: illegal argument {-info.value}")


def eigh_occupied_rows(H: np.ndarray, fermi_level: float, *, all_vectors: bool = False,
                       margin: float = 0.0, out: Optional[np.ndarray] = None
                       ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`eigh_occupied` with the eigenvectors as conjugated rows, as LAPACK leaves them.

    ``out``: a C-contiguous complex ``(B, n, n)`` array to write the rows into (``U`` is then a
    view of it, ``out[:, :m]``), so that a caller's loop reuses one array.

    Returns
    -------
    E : ndarray, shape (B, n)
        All eigenvalues, ascending.
    U : ndarray, shape (B, m, n)
        ``U[b, :k_b]`` is ``V_b^dag`` for sample ``b``'s ``k_b`` eigenvectors below
        ``fermi_level + margin`` (every eigenvector with ``all_vectors``); the other rows are zero.
        This is the layout the C-ordered eigenvectors come out in: no transposition.
    k : ndarray of int, shape (B,)
        The number of rows of each sample.
    """
    Hb = np.asarray(H)
    if Hb.ndim == 2:
        Hb = Hb[None]
    B, n = Hb.shape[0], Hb.shape[-1]
    cut = float(fermi_level) + float(margin)
    r = _routines() if Hb.dtype == np.complex128 and n > 0 else None
    if r is not None and Hb.size:
        # zheevd rescales matrices of extreme norm first; leave those (and non-finite input) to it
        top = float(np.abs(Hb).max())
        if not (1e-100 < top < 1e100):
            r = None
    if r is None:
        E, V = np.linalg.eigh(Hb)
        k = np.full(B, n) if all_vectors else (E < cut).sum(-1)
        m = min(n, max(1, int(k.max()) if B else 1))
        U = np.conj(V[:, :, :m].transpose(0, 2, 1))
        U[np.arange(m)[None, :] >= k[:, None]] = 0
        return E, U, k
    E = np.empty((B, n))
    if out is None:
        out = np.empty((B, n, n), dtype=np.complex128)
    elif out.shape != (B, n, n) or out.dtype != np.complex128 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous complex128 array of shape {(B, n, n)}")
    ws = _workspace(r, n)
    k = np.array([ws.solve(Hb[b], None if all_vectors else cut, E[b], out[b]) for b in range(B)], dtype=int)
    m = max(1, int(k.max()) if B else 1)
    for b in range(B):
        out[b, k[b]:m] = 0
    return E, out[:, :m], k


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
        (``k`` varies by sample; ``m`` is the largest); the other columns are zero.
    """
    H = np.asarray(H)
    E, U, _ = eigh_occupied_rows(H, fermi_level, all_vectors=all_vectors, margin=margin)
    V = np.conj(U.transpose(0, 2, 1))
    return (E[0], V[0]) if H.ndim == 2 else (E, V)
