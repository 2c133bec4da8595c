"""Chern numbers of 2D class-A systems: ``chern_number`` and ``local_chern_marker``.

Routes (conventions in ``docs/conventions.rst``, "Two dimensions (Chern insulators)"; occupied = energies below ``fermi_level``):

* ``"fhs"``: Fukui-Hatsugai-Suzuki lattice field strength of the Bloch Hamiltonian ``h(k)``
  (links ``kx`` first, then ``ky``); an exact integer, certified on two k grids (clean lattices).
* ``"bott"``: the Bott index ``(1/2 pi) Im Tr log(U V U^dag V^dag)`` with
  ``U = P exp(2 pi i X / Lx) P``, ``V = P exp(2 pi i Y / Ly) P`` within the occupied space; an
  exact integer for periodic samples, clean or disordered, certified by the eigenvalue phases of
  ``U V U^dag V^dag`` staying away from the branch cut.
* ``"marker"``: the local Chern marker ``c(r) = 4 pi Im sum_orb <r,orb|P X Q Y P|r,orb>``
  (occupied eigenvectors of a threaded batched ``eigh``, the marker network contracted through
  them, :mod:`tntopo.tn.chern`) averaged over the bulk region.
* ``"local"``: the same marker from windows with a buffer (each window's projector a Chebyshev
  expansion applied with sparse products where a gap is guaranteed, else from the window's own
  ``eigh``: ``solver="auto"``), ``O(N)``; never forms the dense projector of the sample
  (:mod:`tntopo.invariants.chern_local`).
"""
from __future__ import annotations

import contextlib
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Tuple, get_args

import numpy as np

from .._blas import single_threaded_blas
from .._lapack import eigh_occupied_rows
from .._scratch import Scratch, ThreadScratch
from .._typing import CHERN_METHODS, ChernMethod, ChernSolver, MarkerMethod, check_option, strict_keywords
import scipy.linalg.blas  # noqa: F401 - scipy's BLAS loaded at import, so that the thread limits cover it
from ..errors import GaplessError, GaplessWarning, PrecisionError
from ..lattice import Lattice2D, chern_bulk_region
from ..lattice import check_region as _check_region
from .api import _inapplicable
from .realspace import QUANTIZATION_TOL

__all__ = [
    "chern_number",
    "local_chern_marker",
    "fhs_chern",
    "bott_index",
    "chern_bulk_region",
    "reference_chern_marker",
    "CHERN_METHODS",
    "BOTT_SV_MIN",
    "MIN_BULK_CELLS",
]

# the option sets are the Literals of :mod:`tntopo._typing` (ChernMethod, MarkerMethod, ChernSolver)
MARKER_METHODS = get_args(MarkerMethod)

#: ``method="auto"`` uses the local O(N) route for disordered open samples above this dimension.
AUTO_LOCAL_DIM = 6000
#: Eigenvalues closer than this to the Fermi level make the occupied space ambiguous.
DEGENERACY_TOL = 1e-9
#: The Bott index's mobility-gap certificate: the projected position unitaries
#: ``P exp(2 pi i X / Lx) P`` and ``P exp(2 pi i Y / Ly) P`` (within the occupied space) must have
#: every singular value at least this (``1 - s_min^2 = ||(1 - P) exp(2 pi i X / Lx) P||^2``).
#: Measured on 20 x 20 QWZ tori (m = 1, W = 1) with the Fermi level in the band (E_F = -2): 0.02-0.12;
#: in the topological Anderson insulator (m = 2.5, W = 5, E_F = 0): 0.41-0.64; clean m = 1: 0.98.
BOTT_SV_MIN = 0.25
#: The marker's bulk average needs at least this many cells per side: the default region
#: ``L//4 <= x < L - L//4`` then leaves out the edges (over a whole sample the marker sums to zero).
MIN_BULK_CELLS = 4


# ---------------------------------------------------------------------------- input handling
def _check_fermi(fermi_level) -> float:
    try:
        ef = float(fermi_level)
    except (TypeError, ValueError):
        raise ValueError(f"fermi_level must be a real number, got {fermi_level!r}") from None
    if not np.isfinite(ef):
        raise ValueError(f"fermi_level = {fermi_level!r} must be finite")
    return ef


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


def _as_systems(system, lattice: Optional[Lattice2D], check_values: bool = True):
    """Return ``(geometry lattice, list of lattices or None, H batch or None, single)``.

    ``check_values=False`` leaves the finiteness and Hermiticity checks of raw arrays
    (:func:`_check_values`) to the caller (the dense marker runs them per chunk in its threads).
    """
    if isinstance(system, Lattice2D):
        if lattice is not None:
            raise ValueError("lattice= is only for raw Hamiltonian arrays; pass the Lattice2D alone")
        return system, [system], None, True
    if isinstance(system, (list, tuple)) and system and all(isinstance(s, Lattice2D) for s in system):
        ref = system[0]
        for s in system[1:]:
            if s.shape != ref.shape or s.n_orb != ref.n_orb or s.boundary != ref.boundary:
                raise ValueError(
                    "a batch of lattices must share shape, n_orb and boundary; got "
                    f"{ref.shape}/{ref.n_orb}/{ref.boundary} and {s.shape}/{s.n_orb}/{s.boundary}"
                )
            if not np.array_equal(s.positions(), ref.positions()):
                raise ValueError("a batch of lattices must share the site positions; compute them one by one")
        return ref, list(system), None, False
    if isinstance(system, (list, tuple)) and not system:
        raise ValueError("empty batch of systems; give at least one Lattice2D")
    if hasattr(system, "detach") and hasattr(system, "numpy"):
        system = system.detach().cpu().numpy()
    if isinstance(system, (np.ndarray, list, tuple)):
        try:
            H = np.asarray(system)
        except Exception as exc:
            raise ValueError(f"could not read the Hamiltonians as an array ({exc})") from None
        if H.dtype == object or not np.issubdtype(H.dtype, np.number):
            raise ValueError(f"Hamiltonians must be numeric, got dtype {H.dtype}")
        if lattice is None or not isinstance(lattice, Lattice2D):
            raise ValueError(
                "raw Hamiltonian arrays need lattice=Lattice2D(...) giving the geometry (shape, "
                "n_orb, boundary, positions)"
            )
        single = H.ndim == 2
        Hb = H[None] if single else H
        if Hb.ndim != 3 or Hb.shape[1:] != (lattice.dim, lattice.dim):
            raise ValueError(
                f"Hamiltonians must have shape (n, n) or (B, n, n) with n = lattice.dim = {lattice.dim}, "
                f"got {H.shape}"
            )
        if Hb.shape[0] == 0:
            raise ValueError("empty batch of Hamiltonians (B = 0)")
        Hb = np.ascontiguousarray(Hb.astype(np.complex128 if np.iscomplexobj(Hb) else np.float64, copy=False))
        if check_values:
            _check_values(Hb)
        return lattice, None, Hb, single
    raise ValueError(
        f"cannot compute a Chern number of {type(system).__name__}; give a Lattice2D, a list of "
        "Lattice2D of one shape, or Hamiltonians of shape (n, n)/(B, n, n) with lattice="
    )


def _dense_hamiltonians(lats, H) -> np.ndarray:
    if H is not None:
        return H
    Hs = [s.hamiltonian() for s in lats]
    dtype = np.result_type(*[h.dtype for h in Hs])
    return np.stack(Hs).astype(dtype, copy=False)


def _n_threads(B: int) -> int:
    return max(1, min(os.cpu_count() or 1, B // 32 if B >= 64 else 1))


#: matrices at least this large run their LAPACK/BLAS on the user's BLAS threads when the batch
#: is not split over tntopo's own threads (below it, multi-threaded BLAS is slower)
_BLAS_THREADS_MIN_DIM = 256


def _blas_threads(nt: int, n: int):
    """One BLAS thread when tntopo threads over the batch (``nt > 1``) or the matrices are small;
    otherwise BLAS keeps its threads (one large sample uses every core)."""
    return single_threaded_blas() if nt > 1 or n < _BLAS_THREADS_MIN_DIM else contextlib.nullcontext()


def eigh_batched(H: np.ndarray, threads: Optional[int] = None):
    """``numpy.linalg.eigh`` of a ``(B, n, n)`` batch: threads over the batch with one BLAS thread
    each, or one call on BLAS's own threads for a few large matrices."""
    B = H.shape[0]
    nt = _n_threads(B) if threads is None else max(1, int(threads))
    with _blas_threads(nt, H.shape[-1]):
        if nt == 1:
            return np.linalg.eigh(H)
        chunks = np.array_split(np.arange(B), nt)
        with ThreadPoolExecutor(nt) as ex:
            parts = list(ex.map(lambda idx: np.linalg.eigh(H[idx]), chunks))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


# ---------------------------------------------------------------------------- FHS
def _fhs_grid(lat: Lattice2D, n_k: int, ef: float):
    k = 2 * np.pi * np.arange(n_k) / n_k
    KX, KY = np.meshgrid(k, k, indexing="ij")
    with single_threaded_blas():
        E, V = np.linalg.eigh(lat.bloch(KX, KY))
    n_occ = (E < ef).sum(-1)
    if n_occ.min() != n_occ.max():
        return None, 0.0, (int(n_occ.min()), int(n_occ.max()))
    no = int(n_occ.flat[0])
    gap = float(np.min(np.abs(E - ef)))
    if no == 0:
        return 0, gap, (0, 0)
    Vo = V[..., :no]

    def link(A, Bv):
        return np.linalg.det(np.einsum("...ai,...aj->...ij", A.conj(), Bv))

    Ux = link(Vo, np.roll(Vo, -1, axis=0))
    Uy = link(Vo, np.roll(Vo, -1, axis=1))
    F = np.angle(Ux * np.roll(Uy, -1, axis=0) * np.conj(np.roll(Ux, -1, axis=1)) * np.conj(Uy))
    return float(F.sum() / (2 * np.pi)), gap, (no, no)


@strict_keywords
def fhs_chern(lattice: Lattice2D, fermi_level: float = 0.0, n_k: int = 24, gap_tol: float = 1e-8) -> int:
    """Fukui-Hatsugai-Suzuki Chern number of the bands below ``fermi_level`` (clean lattices).

    Computed on an ``n_k x n_k`` and an ``(n_k + 7) x (n_k + 7)`` grid of the Brillouin zone;
    the two integers must agree (else :class:`~tntopo.PrecisionError`: raise ``n_k``).
    A band crossing the Fermi level or a gap below ``gap_tol`` raises
    :class:`~tntopo.GaplessError`. The boundary of the lattice plays no role (bulk bands); custom
    positions give the orientation (:attr:`~tntopo.Lattice2D.orientation`: the Chern number of a
    mirrored embedding is ``-C``).
    """
    if not isinstance(lattice, Lattice2D):
        raise ValueError(f"fhs needs a Lattice2D, got {type(lattice).__name__}")
    if lattice.disorder > 0:
        raise ValueError(
            "method='fhs' needs a clean (translation-invariant) lattice but this one has disorder "
            f"W = {lattice.disorder:g}; use method='bott' (periodic) or 'marker'/'local'"
        )
    if isinstance(n_k, (bool, np.bool_)) or not isinstance(n_k, (int, np.integer)) or n_k < 4:
        raise ValueError(f"n_k must be an integer >= 4, got {n_k!r}")
    ef = _check_fermi(fermi_level)
    results = []
    for n in (int(n_k), int(n_k) + 7):
        C, gap, occ = _fhs_grid(lattice, n, ef)
        if C is None:
            raise GaplessError(
                f"a band crosses the Fermi level {ef:g} (between {occ[0]} and {occ[1]} occupied bands "
                "across the Brillouin zone): the Chern number of the occupied bands is undefined; "
                "move fermi_level into a gap"
            )
        if gap < gap_tol:
            raise GaplessError(
                f"the bands touch the Fermi level {ef:g} (gap {gap:.1e} on a {n}x{n} k grid): the "
                "system is at a phase transition; move the parameters away from it"
            )
        if abs(C - round(C)) > 1e-6:
            raise PrecisionError(f"FHS field strength sums to {C!r}, not an integer; raise n_k")
        results.append(int(round(C)))
    if results[0] != results[1]:
        raise PrecisionError(
            f"FHS Chern numbers on {n_k}x{n_k} and {n_k + 7}x{n_k + 7} k grids disagree "
            f"({results[0]} vs {results[1]}): the gap is small compared with the grid spacing; raise n_k"
        )
    return results[0] * lattice.orientation


# ---------------------------------------------------------------------------- Bott index
def _occupied(E: np.ndarray, ef: float, what: str, offset: int = 0):
    dist = np.abs(E - ef).min(axis=-1)
    if np.any(dist < DEGENERACY_TOL * max(1.0, float(np.abs(E).max()))):
        b = int(np.argmin(dist))
        raise GaplessError(
            f"{what}: an eigenvalue lies at the Fermi level {ef:g} (sample {b + offset}, distance {dist[b]:.1e}); "
            "the occupied space is ambiguous: move fermi_level or the parameters"
        )
    return E < ef


def _bott_from_eigs(E, V, geo: Lattice2D, ef: float, margin: float, sv_min: float) -> np.ndarray:
    with single_threaded_blas():
        return _bott_from_eigs_st(E, V, geo, ef, margin, sv_min)


def _bott_from_eigs_st(E, V, geo: Lattice2D, ef: float, margin: float, sv_min: float) -> np.ndarray:
    occ = _occupied(E, ef, "bott")
    Lx, Ly = geo.shape
    idx = np.arange(geo.dim) // geo.n_orb
    x, y = idx // Ly, idx % Ly
    ux = np.exp(2j * np.pi * x / Lx)
    uy = np.exp(2j * np.pi * y / Ly)
    out = np.empty(E.shape[0], dtype=int)
    for b in range(E.shape[0]):
        Vo = V[b][:, occ[b]]
        if Vo.shape[1] == 0:
            out[b] = 0
            continue
        U = Vo.conj().T @ (ux[:, None] * Vo)
        Vm = Vo.conj().T @ (uy[:, None] * Vo)
        # the mobility-gap certificate: U and V nearly unitary (1 - s_min^2 is the squared norm of
        # the part of exp(2 pi i X / L) P that leaves the occupied space)
        s_min = float(np.sqrt(max(0.0, min(np.linalg.eigvalsh(U.conj().T @ U)[0],
                                             np.linalg.eigvalsh(Vm.conj().T @ Vm)[0]))))
        if s_min < sv_min:
            raise GaplessError(
                f"Bott index of sample {b} is not certified: the projected position unitaries "
                f"P exp(2 pi i X/L) P have a singular value {s_min:.2f} < {sv_min:g} (their part that "
                "leaves the occupied space is large): the states at the Fermi level "
                f"{ef:g} are not localized on this sample, there is no mobility gap; move fermi_level "
                "into a gap, or use a larger sample"
            )
        W = U @ Vm @ U.conj().T @ Vm.conj().T
        lam = np.linalg.eigvals(W)
        ph = np.angle(lam)
        val = ph.sum() / (2 * np.pi)
        worst = float(np.pi - np.abs(ph).max())
        if worst < margin or np.abs(lam).min() < 1e-6:
            raise PrecisionError(
                f"Bott index of sample {b} is not certified: an eigenvalue of U V U^dag V^dag lies "
                f"{worst:.1e} rad from the branch cut (|lambda|_min = {np.abs(lam).min():.1e}); the "
                "sample is too small for its localization length or (nearly) gapless at the Fermi "
                "level: use a larger shape or move away from the transition"
            )
        if abs(val - round(val)) > 1e-6:
            raise PrecisionError(f"Bott index of sample {b} is {val!r}, not an integer; use a larger shape")
        out[b] = int(round(val))
    return out


@strict_keywords
def bott_index(system, fermi_level: float = 0.0, *, lattice: Optional[Lattice2D] = None, margin: float = 1e-3,
               sv_min: float = BOTT_SV_MIN):
    """Bott index of periodic samples (an int, or an int array for a batch).

    ``(1/2 pi) Im Tr log(U V U^dag V^dag)`` with ``U = P exp(2 pi i X / Lx) P`` and
    ``V = P exp(2 pi i Y / Ly) P`` within the occupied space, ``X``, ``Y`` the cell indices;
    multiplied by :attr:`~tntopo.Lattice2D.orientation` (``-1`` for an embedding whose positions
    mirror the cell indices), so that it is the Chern number in the orientation of the positions.
    Needs both axes periodic.

    Certificate (each sample): no eigenvalue at the Fermi level (else
    :class:`~tntopo.GaplessError`); a mobility gap: every singular value of ``U`` and ``V`` at
    least ``sv_min`` (``1 - s^2`` is the squared norm of ``(1 - P) exp(2 pi i X / L) P``, small when
    the occupied projector is local on the scale of the sample; a Fermi level inside a band of
    extended states gives ``s`` near 0; else :class:`~tntopo.GaplessError`); and the eigenvalues
    of ``U V U^dag V^dag`` at least ``margin`` rad from the branch cut and away from zero (else
    :class:`~tntopo.PrecisionError`). A spectral gap at the Fermi level is not required: in a
    disordered sample the states there may be localized (a mobility gap), which the singular
    values measure.
    """
    geo, lats, H, single = _as_systems(system, lattice)
    if not geo.is_periodic:
        raise ValueError(
            f"method='bott' needs a periodic lattice (boundary='periodic' on both axes), got "
            f"boundary={geo.boundary}; use lattice.with_boundary('periodic') or method='marker'"
        )
    ef = _check_fermi(fermi_level)
    try:
        sv_min = float(sv_min)
    except (TypeError, ValueError):
        raise ValueError(f"sv_min must be a number in [0, 1), got {sv_min!r}") from None
    if not 0 <= sv_min < 1:
        raise ValueError(f"sv_min must be in [0, 1), got {sv_min!r}")
    E, V = eigh_batched(_dense_hamiltonians(lats, H))
    res = _bott_from_eigs(E, V, geo, ef, float(margin), sv_min) * geo.orientation
    return int(res[0]) if single else res


# ---------------------------------------------------------------------------- dense marker
def _marker_from_rows(E, U, k, geo: Lattice2D, ef: float, offset: int = 0, ws: Optional[Scratch] = None,
                      reuse: bool = False) -> np.ndarray:
    """Site marker ``(B, Lx, Ly)`` from the eigenvalues and the conjugated eigenvector rows
    (:func:`tntopo._lapack.eigh_occupied_rows`; ``k`` rows of each sample, more than its occupied
    ones where a margin above the Fermi level was computed). ``reuse``: the contraction keeps
    its work arrays per thread (:func:`tntopo.tn.chern._contract_rows`)."""
    from ..tn.chern import _contract_rows

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
_DENSE_WORK = ThreadScratch("tntopo.invariants.chern._dense_marker")


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


@strict_keywords
def local_chern_marker(
    system,
    method: MarkerMethod = "dense",
    fermi_level: float = 0.0,
    *,
    lattice: Optional[Lattice2D] = None,
    region=None,
    buffer: Optional[int] = None,
    core: Optional[int] = None,
    tol: Optional[float] = None,
    gap: Optional[float] = None,
    solver: Optional[ChernSolver] = None,
    return_error: bool = False,
    warn: bool = True,
):
    """Local Chern marker map ``c(x, y) = 4 pi Im sum_orb <r,orb|P X Q Y P|r,orb> / A_cell``.

    Parameters
    ----------
    system : Lattice2D, list of Lattice2D, or array (n, n) / (B, n, n)
        A lattice, a batch of lattices of one shape, or Hermitian Hamiltonians in the basis
        ``(x * Ly + y) * n_orb + orb`` with ``lattice=`` giving the geometry.
    method : {"dense", "local"}
        ``"dense"``: exact occupied states from a (batched, threaded) ``eigh``, the marker
        network contracted through them without forming ``P`` (:mod:`tntopo.tn.chern`). ``"local"``: windows with a
        buffer, ``O(N)`` time and memory (one Lattice2D; see
        :func:`tntopo.invariants.chern_local.local_marker_windows`). It agrees with ``"dense"``
        in the bulk; within a few buffers of the open edges of a topological sample the chiral
        edge states make the marker non-local along the edge and the two differ there.
    fermi_level : float
        States below it are occupied.
    lattice : Lattice2D, optional
        Geometry for raw Hamiltonian arrays.
    region : (slice, slice), optional
        ``"local"`` only: compute the marker on these cells (NaN elsewhere); default all cells.
    buffer, core : int, optional
        ``"local"`` only: window buffer and core size (cells).
    solver : {"auto", "eigh", "chebyshev"}, optional
        ``"local"`` only: the window's exact projector from a dense ``eigh`` of the window
        Hamiltonian (``"eigh"``: sharp Fermi step, no gap needed), or a Chebyshev expansion of it
        applied with sparse products (``"chebyshev"``: needs a gap at the Fermi level, ``gap``,
        ``tol``; 9-18x faster per site on QWZ at equal bulk accuracy). ``"auto"`` (the default,
        also for ``None``): Chebyshev where a gap is guaranteed (the clean gap minus ``W/2``, or
        ``gap=``) and the polynomial short, ``eigh`` otherwise
        (:func:`tntopo.invariants.chern_local.pick_solver`).
    tol, gap : float, optional
        The Chebyshev expansion's accuracy (default ``1e-7``) and a lower bound on the distance
        from the Fermi level to the spectrum (default estimated); a ``TypeError`` with
        ``solver="eigh"``; given with ``"auto"``, the Chebyshev windows run.
    return_error : bool
        ``"local"`` only: also return the error estimate (from two buffer sizes; an estimate,
        not a bound: see :func:`~tntopo.invariants.chern_local.local_marker_windows`).
    warn : bool
        Emit :class:`~tntopo.GaplessWarning` when the Fermi level is (nearly) gapless, or (local
        route) when its certificate fails.

    Returns
    -------
    ndarray, shape (Lx, Ly) or (B, Lx, Ly)
        (and the error estimate, a float, with ``return_error=True``).

    Raises
    ------
    TypeError
        An unknown keyword, or one inapplicable to ``method`` (or to ``solver``).

    Notes
    -----
    Positions are the cell coordinates (or the lattice's custom positions, divided by their
    area per cell). On a periodic axis the coordinate jumps at the seam ``x = Lx - 1 -> 0``: the
    marker is meaningful away from it (the bulk region).
    """
    method = check_option("method", method, MarkerMethod, hint=" for local_chern_marker")
    if method != "local":
        given = [n for n, v in (("region", region), ("buffer", buffer), ("core", core), ("tol", tol),
                                ("gap", gap), ("solver", solver)) if v is not None]
        given += ["return_error"] if return_error else []
        _inapplicable("local_chern_marker", method, given,
                      "they are options of the local route: use method='local'; the dense marker is exact")
    ef = _check_fermi(fermi_level)
    geo, lats, H, single = _as_systems(system, lattice, check_values=method != "dense")
    if method == "local":
        if lats is None or not single:
            raise ValueError(
                "method='local' takes one Lattice2D (it never forms the dense Hamiltonian); use "
                "method='dense' for arrays or batches"
            )
        from .chern_local import local_marker_windows

        c, err = local_marker_windows(
            geo, ef, region=region, buffer=buffer, core=core, tol=tol, gap=gap,
            solver="auto" if solver is None else solver, warn=warn,
        )
        return (c, err) if return_error else c
    c, w = _dense_marker(_dense_hamiltonians(lats, H), geo, ef, chern_bulk_region(geo.shape) if warn else None,
                         check_values=H is not None)
    if warn:
        if np.any(w > 1e-3):
            warnings.warn(
                f"states within 2% of the spectral width of the Fermi level {ef:g} carry weight "
                f"{w.max():.1e} per bulk site: the bulk is (nearly) gapless and the marker need not be "
                "quantized",
                GaplessWarning,
                stacklevel=3,
            )
    return c[0] if single else c


# ---------------------------------------------------------------------------- chern_number
def _check_bulk(geo: Lattice2D, reg) -> None:
    """Refuse a marker average that cannot mean anything: a sample under ``MIN_BULK_CELLS`` cells
    per side, or a region that is the whole sample (where the marker sums to zero)."""
    if min(geo.shape) < MIN_BULK_CELLS:
        raise ValueError(
            f"shape {geo.shape} is too small for a bulk region: the marker average needs at least "
            f"{MIN_BULK_CELLS} cells per side (the bulk region L//4 <= x < L - L//4 must leave out "
            "the edges; over the whole sample the marker sums to zero); use a larger shape, or "
            "method='fhs' (clean lattices) or method='bott' (periodic ones)"
        )
    if reg[0] == slice(0, geo.Lx) and reg[1] == slice(0, geo.Ly):
        raise ValueError(
            f"region {reg} is the whole sample, where the marker sums to zero by construction: give a "
            "bulk region that leaves out the edges (default L//4 <= x < L - L//4)"
        )


def _warn_marker(vals, w, ef: float, what: str) -> None:
    """The real-space average's certificate: no bulk weight near the Fermi level (``w``, or None
    where it was not measured) and values within ``QUANTIZATION_TOL`` of an integer (as in 1D)."""
    vals = np.atleast_1d(np.asarray(vals, dtype=float))
    dev = np.abs(vals - np.round(vals))
    reasons = []
    if w is not None and np.any(w > 1e-3):
        reasons.append(f"states near the Fermi level {ef:g} carry weight {np.max(w):.1e} per bulk site")
    if np.any(dev > QUANTIZATION_TOL):
        reasons.append(f"{int((dev > QUANTIZATION_TOL).sum())} of {vals.size} value(s) lie up to "
                       f"{dev.max():.3f} from an integer")
    if reasons:
        warnings.warn(
            f"{what}: {'; '.join(reasons)}: the bulk is (nearly) gapless at the Fermi level or the bulk "
            "region is not many localization lengths wide -- the value is not a quantized invariant "
            "(move fermi_level into a gap, the parameters away from the transition, or use a larger "
            "sample)",
            GaplessWarning,
            stacklevel=4,
        )


#: options of :func:`chern_number` and the methods that use them (``"auto"`` takes them all)
_CHERN_OPTIONS = {
    "n_k": ("fhs",),
    "region": ("marker", "local"),
    "buffer": ("local",),
    "tol": ("local",),
    "solver": ("local",),
}


@strict_keywords
def chern_number(
    system,
    method: ChernMethod = "auto",
    fermi_level: float = 0.0,
    *,
    lattice: Optional[Lattice2D] = None,
    region=None,
    n_k: Optional[int] = None,
    buffer: Optional[int] = None,
    tol: Optional[float] = None,
    solver: Optional[ChernSolver] = None,
    warn: bool = True,
):
    """Chern number of the states below ``fermi_level`` of a 2D class-A system.

    Parameters
    ----------
    system : Lattice2D, list of Lattice2D, or array (n, n) / (B, n, n)
        A lattice, a batch of lattices of one shape, or Hermitian Hamiltonians with
        ``lattice=`` giving the geometry (not for ``"fhs"``).
    method : {"auto", "fhs", "bott", "marker", "local"}
        ``"fhs"``: Fukui-Hatsugai-Suzuki on ``h(k)``, exact integer (clean lattices).
        ``"bott"``: Bott index, exact integer (periodic samples, clean or disordered).
        ``"marker"``: dense local Chern marker averaged over ``region`` (a float).
        ``"local"``: the same average from ``O(N)`` windows with a buffer (a float; each window's
        projector a Chebyshev expansion where a gap is guaranteed, else from its own ``eigh``:
        ``solver="auto"``).
        ``"auto"``: ``"fhs"`` for a clean lattice, ``"bott"`` for a disordered periodic one,
        ``"marker"`` (or ``"local"`` above ``AUTO_LOCAL_DIM`` states) otherwise. Custom positions
        are honoured by every route: the real-space routes use them, ``"fhs"`` and ``"bott"`` take
        their orientation (:attr:`~tntopo.Lattice2D.orientation`).
    fermi_level : float
    lattice : Lattice2D, optional
        Geometry for raw Hamiltonians.
    region : (slice, slice), optional
        ``"marker"``/``"local"``: bulk region of the average; default ``L//4 <= x < L - L//4`` on
        each axis.
    n_k : int, optional
        ``"fhs"``: k-grid size (default 24; a second grid ``n_k + 7`` certifies the integer).
    buffer : int, optional
        ``"local"``: window buffer (cells).
    solver : {"auto", "eigh", "chebyshev"}, optional
        ``"local"``: how a window's projector is computed (default ``"auto"``, see
        :func:`local_chern_marker`).
    tol : float, optional
        ``"local"``: the Chebyshev expansion's accuracy (a ``TypeError`` with ``solver="eigh"``,
        whose projector is exact).
    warn : bool
        Emit :class:`~tntopo.GaplessWarning` for real-space routes whose certificate fails.

    Returns
    -------
    int or float, or ndarray for a batch
        An ``int`` from the exact routes, a ``float`` from the marker routes.

    Raises
    ------
    GaplessError
        Exact routes at a gapless Fermi level (for ``"bott"``: no mobility gap).
    PrecisionError
        An exact route could not certify its integer (grids disagree, branch cut).
    ValueError
        Bad input, a method that needs a clean (``"fhs"``) or periodic (``"bott"``) lattice, or
        a marker average on a sample under ``MIN_BULK_CELLS`` cells per side.
    TypeError
        An unknown keyword, or one inapplicable to ``method`` (e.g. ``buffer=`` with
        ``method="marker"``).

    Warns
    -----
    GaplessWarning
        ``"marker"``/``"local"``: states near the Fermi level in the bulk, a value further than
        0.05 from an integer, or (``"local"``) a failed window certificate or an error estimate
        above 0.05.

    Examples
    --------
    >>> import tntopo
    >>> tntopo.chern_number(tntopo.Lattice2D.qwz(1.0, (12, 12)), method="fhs")
    1
    """
    method = check_option("method", method, ChernMethod, hint=" for chern_number")
    if method != "auto":
        opts = {"n_k": n_k, "region": region, "buffer": buffer, "tol": tol, "solver": solver}
        bad = [n for n, v in opts.items() if v is not None and method not in _CHERN_OPTIONS[n]]
        _inapplicable("chern_number", method, bad, "valid options: " + "; ".join(
            f"{n}= with method={'/'.join(repr(m) for m in ms)}" for n, ms in _CHERN_OPTIONS.items()))
    ef = _check_fermi(fermi_level)
    geo, lats, H, single = _as_systems(system, lattice)
    if method == "auto":
        if lats is not None and all(s.disorder == 0 for s in lats):
            method = "fhs"  # in the orientation of the positions, if custom
        elif geo.is_periodic:
            method = "bott"  # idem
        elif lats is not None and single and geo.dim > AUTO_LOCAL_DIM:
            method = "local"
        else:
            method = "marker"
    if method == "fhs":
        if lats is None:
            raise ValueError(
                "method='fhs' needs Lattice2D objects (their Bloch Hamiltonian), not raw arrays; "
                "use method='bott' or 'marker'"
            )
        res = [fhs_chern(s, ef, n_k=24 if n_k is None else n_k) for s in lats]
        return res[0] if single else np.array(res)
    if method == "bott":
        return bott_index(system, ef, lattice=lattice)
    reg = _check_region(region, geo.shape)
    _check_bulk(geo, reg)
    if method == "local":
        if lats is None or not single:
            raise ValueError("method='local' takes one Lattice2D; use method='marker' for arrays or batches")
        c = local_chern_marker(geo, "local", ef, region=reg, buffer=buffer, tol=tol, solver=solver, warn=warn)
        val = float(np.mean(c[reg]))
        if warn:
            _warn_marker(val, None, ef, "local Chern marker average")
        return val
    c, w = _dense_marker(_dense_hamiltonians(lats, H), geo, ef, reg if warn else None)
    vals = c[:, reg[0], reg[1]].mean(axis=(1, 2))
    if warn:
        _warn_marker(vals, w, ef, "local Chern marker average")
    return float(vals[0]) if single else vals
