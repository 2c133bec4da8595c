"""Dense routes of the Chern number: the local Chern marker of whole samples, and its inputs.

* :func:`_dense_marker`: the marker ``c(r) = 4 pi Im sum_orb <r,orb|P X Q Y P|r,orb>`` of a batch
  of dense Hamiltonians -- occupied eigenvectors of a threaded batched ``eigh``
  (:func:`tntopo._lapack.eigh_occupied_rows`), the marker network contracted through them
  (:mod:`tntopo.tn.chern`), never forming ``P``; the bulk weights of the states near the Fermi
  level (the gapless check).
* :func:`reference_chern_marker`: the naive route (per-sample ``eigh``, dense products), for
  tests and benchmarks.
* The checks of raw Hamiltonians (finite, Hermitian: :func:`_check_values`) and of the Fermi level,
  the batched ``eigh`` and the occupied space (:func:`_occupied`) that the exact routes share.

The entry points are :func:`tntopo.chern_number` and :func:`tntopo.local_chern_marker`
(:mod:`tntopo.invariants.chern.api`).
"""
from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Tuple

import numpy as np

from ..._blas import single_threaded_blas
from ..._lapack import eigh_occupied_rows
from ..._scratch import Scratch, ThreadScratch
import scipy.linalg.blas  # noqa: F401 - scipy's BLAS loaded at import, so that the thread limits cover it
from ..._typing import strict_keywords
from ...errors import GaplessError
from ...systems.lattice2d import Lattice2D, check_real

__all__ = ["reference_chern_marker"]

#: Eigenvalues closer than this to the Fermi level make the occupied space ambiguous.
DEGENERACY_TOL = 1e-9


# ---------------------------------------------------------------------------- input handling
def _check_fermi(fermi_level) -> float:
    """The Fermi level as a float: :func:`tntopo.systems.lattice2d.check_real`, the one check of real
    parameters (a ``ValueError`` naming ``fermi_level`` if it is not a finite real number)."""
    return check_real("fermi_level", fermi_level)


def _check_values(H: np.ndarray, check: bool = True) -> Tuple[float, float]:
    """Finite and Hermitian (raw Hamiltonian arrays, real or complex ``(..., n, n)``); returns
    Gershgorin's bounds ``(lo, hi)`` on the spectra of the batch.

    Entries are compared by their real and imaginary parts (no square roots): one pass over each
    matrix's pairs ``(h_ij, h_ji)`` in a numba kernel (:func:`_hermitian_scan`), or, without
    numba, numpy one matrix at a time (a transposed read of a whole batch is several times slower
    than of a cached matrix). ``check=False``: only the bounds (of matrices known to be valid).
    """
    Hs = H.reshape((-1,) + H.shape[-2:])
    if Hs.shape[0] == 0 or Hs.shape[-1] == 0:
        return 0.0, 0.0
    scan = _hermitian_scan_kernel() if Hs.dtype in (np.complex128, np.float64) else None
    if scan is not None:
        scale, dev, finite, lo, hi = scan(np.ascontiguousarray(Hs))
    else:
        scale, dev, finite, lo, hi = 0.0, 0.0, True, np.inf, -np.inf
        cplx = np.iscomplexobj(Hs)
        for h in Hs:
            hf = h.view(np.float64) if cplx else h
            m = float(np.abs(hf).max())
            if not np.isfinite(m):
                finite = False
                break
            scale = max(scale, m)
            d = h - h.conj().T
            dev = max(dev, float(np.abs(d.view(np.float64) if cplx else d).max()))
            diag = np.diag(h).real
            rad = np.abs(h).sum(-1) - np.abs(np.diag(h))
            lo, hi = min(lo, float((diag - rad).min())), max(hi, float((diag + rad).max()))
    if check and not finite:
        raise ValueError("Hamiltonians contain NaN or inf entries; give finite matrices")
    if check and dev > 1e-10 * max(1.0, scale):
        raise ValueError(
            f"Hamiltonian is not Hermitian (largest real or imaginary part of H - H^dagger = {dev:.2e}); "
            "give a Hermitian H (for Lattice2D, a Hermitian onsite matrix)"
        )
    return float(lo), float(hi)


def _hermitian_scan(H):  # pragma: no cover - run compiled by numba
    """``(largest |Re|, |Im| of an entry, largest |Re|, |Im| of H - H^dag, all finite,
    Gershgorin's lower and upper bound)`` of a ``(B, n, n)`` batch, each pair ``(h_ij, h_ji)``
    read once (compiled by numba)."""
    big = 1.7976931348623157e308
    B, n = H.shape[0], H.shape[1]
    scale = 0.0
    dev = 0.0
    lo = np.inf
    hi = -np.inf
    rad = np.zeros(n)
    for b in range(B):
        rad[:] = 0.0
        for i in range(n):
            for j in range(i + 1):
                a = H[b, i, j]
                c = H[b, j, i]
                ar, ai, cr, ci = abs(a.real), abs(a.imag), abs(c.real), abs(c.imag)
                if not (ar <= big and ai <= big and cr <= big and ci <= big):  # NaN or inf
                    return scale, dev, False, lo, hi
                scale = max(scale, ar, ai, cr, ci)
                dev = max(dev, abs(a.real - c.real), abs(a.imag + c.imag))
                if j < i:
                    rad[i] += abs(a)
                    rad[j] += abs(c)
        for i in range(n):
            d = H[b, i, i].real
            lo = min(lo, d - rad[i])
            hi = max(hi, d + rad[i])
    return scale, dev, True, lo, hi


_SCAN: dict = {}
_SCAN_LOCK = threading.Lock()


def _hermitian_scan_kernel():
    """:func:`_hermitian_scan` compiled by numba (cached on disk; once per process, also when the
    dense marker's threads ask for it at once), or None without numba."""
    with _SCAN_LOCK:
        if "fn" not in _SCAN:
            try:
                import numba

                fn = numba.njit(nogil=True, cache=True)(_hermitian_scan)
                for dt in (np.complex128, np.float64):
                    fn(np.zeros((1, 1, 1), dtype=dt))
            except Exception:  # noqa: BLE001 - numba missing or failing: numpy serves
                fn = None
            _SCAN["fn"] = fn
        return _SCAN["fn"]


def _n_threads(B: int) -> int:
    return max(1, min(os.cpu_count() or 1, B // 32 if B >= 64 else 1))


#: matrices at least this large run their LAPACK/BLAS on the user's BLAS threads when the batch
#: is not split over tntopo's own threads (below it, multi-threaded BLAS is slower)
_BLAS_THREADS_MIN_DIM = 256


def _blas_threads(nt: int, n: int):
    """One BLAS thread when tntopo threads over the batch (``nt > 1``) or the matrices are small;
    otherwise BLAS keeps its threads (one large sample uses every core)."""
    return single_threaded_blas() if nt > 1 or n < _BLAS_THREADS_MIN_DIM else contextlib.nullcontext()


# ---------------------------------------------------------------------------- the occupied space (dense marker, Bott index)
def _occupied(E: np.ndarray, ef: float, what: str, offset: int = 0):
    dist = np.abs(E - ef).min(axis=-1)
    if np.any(dist < DEGENERACY_TOL * max(1.0, float(np.abs(E).max()))):
        b = int(np.argmin(dist))
        raise GaplessError(
            f"{what}: an eigenvalue lies at the Fermi level {ef:g} (sample {b + offset}, distance {dist[b]:.1e}); "
            "the occupied space is ambiguous: move fermi_level or the parameters"
        )
    return E < ef


# ---------------------------------------------------------------------------- dense marker
def _marker_from_rows(E, U, k, geo: Lattice2D, ef: float, offset: int = 0, ws: Optional[Scratch] = None,
                      reuse: bool = False) -> np.ndarray:
    """Site marker ``(B, Lx, Ly)`` from the eigenvalues and the conjugated eigenvector rows
    (:func:`tntopo._lapack.eigh_occupied_rows`; ``k`` rows of each sample, more than its occupied
    ones where a margin above the Fermi level was computed). ``reuse``: the contraction keeps
    its work arrays per thread (:func:`tntopo.tn.chern._contract_rows`)."""
    from ...tn.chern import _contract_rows

    ws = Scratch() if ws is None else ws
    occ = _occupied(E, ef, "marker", offset).sum(-1)
    if np.any(occ != k):  # rows above the Fermi level (the gapless check's margin): zeroed in a copy
        m = max(1, int(occ.max()))
        Uo = ws.get("Uo", (U.shape[0], m, U.shape[2]), np.complex128)
        Uo[...] = U[:, :m]
        Uo[np.arange(m)[None, :] >= occ[:, None]] = 0
        U = Uo
    xy = geo.positions(per_orbital=True)
    c = _contract_rows(U, xy[:, 0], xy[:, 1], reuse=reuse)
    c = c.reshape(E.shape[0], geo.n_sites, geo.n_orb).sum(-1) / geo.cell_area
    return c.reshape((E.shape[0],) + geo.shape)


#: eigenvectors per chunk of a dense batch (bytes): small enough to stay in a core's cache
_DENSE_CHUNK_BYTES = 2 ** 22
#: chunks whose vectors take more than this get fresh work arrays instead of the thread's
#: reused ones (which would otherwise hold the memory of one huge sample)
_SCRATCH_MAX_BYTES = 2 ** 26
#: the dense marker's chunk work arrays, per thread (this module's own; see tntopo._scratch)
_DENSE_WORK = ThreadScratch("tntopo.invariants.chern.dense._dense_marker")


def _dense_marker(H: np.ndarray, geo: Lattice2D, ef: float, region=None, threads: Optional[int] = None,
                  check_values: bool = False):
    """Dense marker of a ``(B, n, n)`` batch: ``(c of shape (B, Lx, Ly), bulk gap weights or None)``.

    Threads over chunks of the batch (one LAPACK/BLAS thread each); every chunk does its own
    ``eigh`` and contraction, so the batch's eigenvectors are never held at once. A batch too
    small to split (one chunk) of large matrices runs on BLAS's own threads instead. The result
    does not depend on the number of threads. ``region``: the bulk weights of the states near the Fermi level
    (:func:`_bulk_state_weights`, :func:`_near_fermi_weight`).
    ``check_values``: run :func:`_check_values` on every chunk first (raw arrays; a separate
    threaded pass that also gives the spectral bounds the gapless check's window needs).
    """
    B = H.shape[0]
    nt = _n_threads(B) if threads is None else max(1, int(threads))
    # chunks of about _DENSE_CHUNK_BYTES of eigenvectors: each chunk's eigh and contraction run
    # while its vectors are in cache; at least two chunks per thread to balance the load
    per = max(1, _DENSE_CHUNK_BYTES // (16 * H.shape[-1] ** 2))
    n_chunks = max(2 * nt if nt > 1 else 1, -(-B // per))
    bounds = np.linspace(0, B, n_chunks + 1).astype(int)
    chunks = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]

    def run(fn):
        if nt == 1 or len(chunks) == 1:
            return [fn(ab) for ab in chunks]
        with ThreadPoolExecutor(nt) as ex:
            return list(ex.map(fn, chunks))

    margin = 0.0
    if check_values or region is not None:
        # a cheap first pass: the values checked before any eigensolver runs, and Gershgorin's
        # bounds on the batch's spectra, so that the gapless check computes the vectors of the
        # states up to 2% of that width above the Fermi level only (not every vector)
        bnds = run(lambda ab: _check_values(H[ab[0]:ab[1]], check=check_values))
        if region is not None:
            margin = _NEAR_FERMI * (max(b[1] for b in bnds) - min(b[0] for b in bnds))

    n = H.shape[-1]

    def work(ab):
        a, b = ab
        # the chunk's work arrays are the thread's, reused from chunk to chunk (not for huge ones)
        reuse = (b - a) * n * n * 16 <= _SCRATCH_MAX_BYTES
        ws = _DENSE_WORK.get() if reuse else Scratch()
        E, U, k = eigh_occupied_rows(H[a:b], ef, margin=margin, out=ws.get("U", (b - a, n, n), np.complex128))
        c = _marker_from_rows(E, U, k, geo, ef, offset=a, ws=ws, reuse=reuse)
        sw = None if region is None else _bulk_state_weights(U, geo, region, ws)
        return c, E, sw

    with _blas_threads(len(chunks), H.shape[-1]):
        parts = run(work)
    c = np.concatenate([p[0] for p in parts])
    if region is None:
        return c, None
    # the energy window is 2% of the whole batch's spectral width (independent of the chunks);
    # the states without vectors lie above it (the margin bounds it from above)
    E = np.concatenate([p[1] for p in parts])
    sw = np.zeros(E.shape)
    at = 0
    for p in parts:
        sw[at: at + p[2].shape[0], : p[2].shape[1]] = p[2]
        at += p[2].shape[0]
    return c, _near_fermi_weight(E, sw, ef)


def _bulk_state_weights(U, geo: Lattice2D, region, ws: Optional[Scratch] = None) -> np.ndarray:
    """``(B, m)``: weight of every eigenstate (the rows of ``U``) on the bulk region, per bulk site."""
    ws = Scratch() if ws is None else ws
    rx, ry = region
    mask = np.zeros(geo.shape, dtype=bool)
    mask[rx, ry] = True
    cols = np.repeat(mask.ravel(), geo.n_orb).astype(float)
    a2 = np.multiply(U.real, U.real, out=ws.get("abs2", U.shape))
    a2 += np.multiply(U.imag, U.imag, out=ws.get("abs2_im", U.shape))
    return (a2 @ cols) / max(1, int(mask.sum()))


#: the gapless check's window: states within this fraction of the batch's spectral width of the
#: Fermi level
_NEAR_FERMI = 0.02


def _near_fermi_weight(E, s, ef: float) -> np.ndarray:
    """Weight per bulk site of the states within 2% of the batch's spectral width of the Fermi level."""
    width = max(1e-12, float(E.max() - E.min()))
    near = np.abs(E - ef) < _NEAR_FERMI * width
    return (s * near).sum(axis=-1)


@strict_keywords
def reference_chern_marker(H: np.ndarray, lattice: Lattice2D, fermi_level: float = 0.0) -> np.ndarray:
    """The naive route (for tests and benchmarks): per-sample ``eigh`` and dense products.

    ``P = V_occ V_occ^dag``, ``Q = 1 - P``, ``c = 4 pi Im diag(P X Q Y P)`` summed over the
    orbitals of each site; returns ``(B, Lx, Ly)`` for ``H`` of shape ``(B, n, n)``.
    """
    H = np.asarray(H)
    Hb = H[None] if H.ndim == 2 else H
    xy = lattice.positions(per_orbital=True)
    X, Y = np.diag(xy[:, 0]), np.diag(xy[:, 1])
    out = []
    for h in Hb:
        E, V = np.linalg.eigh(h)
        Vo = V[:, E < fermi_level]
        P = Vo @ Vo.conj().T
        Q = np.eye(len(E)) - P
        M = P @ X @ Q @ Y @ P
        c = 4 * np.pi * np.diag(M).imag
        out.append(c.reshape(lattice.n_sites, lattice.n_orb).sum(-1).reshape(lattice.shape) / lattice.cell_area)
    return np.stack(out)
