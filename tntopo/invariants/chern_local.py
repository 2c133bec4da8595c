"""The ``O(N)`` local Chern marker: windows with a buffer (exact window projector, or a
Chebyshev expansion of it with sparse products).

The lattice is tiled by ``core x core`` blocks of cells; each block is computed in a window that
adds ``buffer`` cells on every side (clipped at open edges, wrapped on periodic axes). With
``solver="eigh"`` the window's projector comes from a dense ``eigh`` of the window
Hamiltonian. With ``solver="chebyshev"`` it is never formed: ``P`` is a Chebyshev polynomial of the window
Hamiltonian (the Fermi step to ``tol`` wherever the spectrum can be, free inside the gap: a
near-minimax least-squares fit, :func:`chebyshev_step_coefficients`) applied to the unit vectors
of the core states with sparse products (one clean window Hamiltonian per window shape, its
disorder energies added on the diagonal). The polynomial is applied by Clenshaw's recurrence in
numba kernels generated for the window operator's row widths (each row's entries summed in
registers over a vectorized loop across the block's columns; :func:`_kernel_source`), which
quimb's numba dependency makes available; without numba, by the forward recurrence on SciPy's
sparse products:

.. math:: v = P e_a, \\quad w = Y v, \\quad c_a = 4\\pi\\,\\mathrm{Im}\\,\\langle X v, w - P w\\rangle,

i.e. ``4 pi Im [P X Q Y P]_aa`` with coordinates measured from the window's centre (the marker
is invariant under a shift of origin because ``P Q = 0``). The cost of a window does not depend
on the lattice size, so the map costs ``O(N)`` time; memory is ``O(N)`` for the lattice's
disorder energies and the output, ``O(window)`` for the work.

``solver="auto"`` (the default) takes the Chebyshev windows wherever a spectral gap at the
Fermi level is guaranteed (the clean gap minus ``W/2``, or ``gap=``) and the polynomial stays
short (degree <= ``AUTO_MAX_DEGREE``), and the ``eigh`` windows otherwise (no guaranteed gap:
strong disorder, a Fermi level in a band). Measured on QWZ ``m = 1, W = 1`` (40 x 40, open,
buffer 10; ``benchmarks/bench_chern_local.py``, a machine loaded ~8x beyond its two cores, so
CPU seconds): Chebyshev windows 1.5 ms of CPU per site against 13.5 ms for ``eigh`` windows
(8.8x), bulk error against the dense marker 2.0e-7 and 3.3e-7. Near the open edges of a topological sample both differ from the dense marker by
O(1) and more: there the dense marker carries the compensation of the bulk's Chern number (its
sum over the sample vanishes), which no window can see, whatever its solver.

Error estimate: the windows of a few sample blocks are recomputed with a smaller buffer; the
largest change of their marker is reported (the truncation error decays exponentially in the
buffer, so the estimate is conservative for the full buffer).
"""
from __future__ import annotations

import math
import os
import sys
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Optional, Tuple

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.fft import dct
from scipy.linalg.blas import zaxpy as _zaxpy
from scipy.special import erfc

from .._blas import single_threaded_blas
from .._lapack import eigh_occupied
from ..errors import GaplessWarning
from ..lattice import Lattice2D
from ..lattice import check_region as _check_region

__all__ = ["local_marker_windows", "chebyshev_step_coefficients", "DEFAULT_BUFFER", "DEFAULT_CORE",
           "DEFAULT_CHEBYSHEV_CORE", "AUTO_MAX_DEGREE", "pick_solver"]

DEFAULT_BUFFER = 10
#: default core of ``solver="eigh"``: a dense window costs ``(core + 2 buffer)^6`` per window
DEFAULT_CORE = 8
#: default core of ``solver="chebyshev"``: the cost per cell is ``(core + 2 buffer)^2 / core^2``
#: window products, but a product's cost per vector grows with the block's width (cache);
#: measured for buffer 10 on QWZ (60 x 60, two cores): cores 4-8 within 3.0-3.6 s, core 10 about
#: 1.8x slower
DEFAULT_CHEBYSHEV_CORE = 6
#: ``solver="auto"`` takes the Chebyshev windows up to this polynomial degree (their cost grows
#: with it; an ``eigh`` window costs about as much as degree 1500 on QWZ at buffer 10)
AUTO_MAX_DEGREE = 800


def _sup_bound(coef: np.ndarray, a: float, b: float) -> float:
    """An upper bound on ``max |p(t)|`` for ``t`` in ``[a, b]``, ``p`` given by its Chebyshev
    coefficients on ``[-1, 1]``: the sum of the magnitudes of ``p``'s (exact) Chebyshev
    coefficients on ``[a, b]`` (``|T_k| <= 1`` there), from its values at ``deg + 1`` Chebyshev
    points of ``[a, b]`` by a DCT."""
    n = len(coef)
    x = np.cos(np.pi * (np.arange(n) + 0.5) / n)
    vals = np.polynomial.chebyshev.chebval(0.5 * (a + b) + 0.5 * (b - a) * x, coef)
    c = dct(vals, type=2) / n
    c[0] /= 2
    return float(np.abs(c).sum())


def _step_error(coef: np.ndarray, lo_edge: float, hi_edge: float) -> float:
    """Rigorous bound on the distance of ``p`` from the Fermi step: ``|p - 1|`` on
    ``[-1, lo_edge]``, ``|p|`` on ``[hi_edge, 1]``."""
    one = np.zeros_like(coef)
    one[0] = 1.0
    return max(_sup_bound(coef - one, -1.0, lo_edge), _sup_bound(coef, hi_edge, 1.0))


def _erfc_step(ef: float, delta: float, eps: float) -> np.ndarray:
    """Chebyshev series of the smoothed step ``erfc((t - ef) / (sqrt 2 sigma)) / 2`` with
    ``sigma = delta / sqrt(2 ln(1/eps))``, truncated where the tail sums below ``eps``."""
    sigma = delta / math.sqrt(2 * math.log(1 / eps))
    deg = 64
    while True:
        c = np.polynomial.chebyshev.chebinterpolate(
            lambda t: 0.5 * erfc((t - ef) / (math.sqrt(2) * sigma)), deg
        )
        tail = np.cumsum(np.abs(c[::-1]))[::-1]  # tail[n] = sum_{k >= n} |c_k|
        # resolved only if the tail is small well before the interpolation degree (parity can
        # make single coefficients vanish)
        ok = np.nonzero(tail[: (3 * deg) // 4] < eps)[0]
        if ok.size or deg >= 16384:
            n = int(ok[0]) if ok.size else deg + 1
            return c[:max(n, 2)]
        deg *= 2


def _lsq_step(ef: float, delta: float, n: int) -> np.ndarray:
    """Degree-``n`` least-squares fit of the Fermi step on ``[-1, ef - delta]`` and
    ``[ef + delta, 1]`` (Chebyshev-clustered points on each; the gap is left free)."""
    m = 4 * n + 40
    x = np.cos(np.pi * (np.arange(m) + 0.5) / m)
    lo = 0.5 * (-1 + (ef - delta)) + 0.5 * ((ef - delta) + 1) * x
    hi = 0.5 * ((ef + delta) + 1) + 0.5 * (1 - (ef + delta)) * x
    t = np.concatenate([lo, hi])
    f = np.concatenate([np.ones(m), np.zeros(m)])
    A = np.polynomial.chebyshev.chebvander(t, n)
    # Chebyshev polynomials at Chebyshev-clustered points: well conditioned, so a pivoted QR
    # (LAPACK gelsy) serves; numpy's SVD-based gelsd costs several times more
    # one BLAS thread: a problem this small only loses to threads (badly on a loaded machine)
    with single_threaded_blas():
        c = scipy.linalg.lstsq(A, f, lapack_driver="gelsy", check_finite=False)[0]
    return c


#: above this degree of the erfc series the least-squares search is not attempted (its matrix
#: grows as degree^2); the erfc series is used as it is
_LSQ_MAX_DEGREE = 800


@lru_cache(maxsize=64)
def chebyshev_step_coefficients(ef: float, delta: float, eps: float) -> np.ndarray:
    """Chebyshev coefficients on ``[-1, 1]`` of a polynomial ``p`` of low degree with
    ``|p - 1| <= eps`` on ``[-1, ef - delta]`` and ``|p| <= eps`` on ``[ef + delta, 1]``: the
    Fermi step (occupied below ``ef``) wherever the spectrum can be, free inside the gap
    ``(ef - delta, ef + delta)``.

    The polynomial is the least-squares fit of the step on the two intervals (near-minimax: its
    degree is close to ``ln(1/eps) / delta``, the best possible rate, against about
    ``2 ln(1/eps) / delta`` for the Chebyshev series of an ``erfc``-smoothed step), of the
    lowest degree (bracketed upwards from ``ln(1/eps) / delta``, then bisection) whose error bound -- the coefficient sums of ``p - 1`` and ``p``
    re-expanded on each interval, an upper bound on the sup norm -- is below ``eps``. Where that
    search would exceed ``_LSQ_MAX_DEGREE``, the ``erfc`` series (bound: its tail plus the step's
    smoothing at the gap edge).
    """
    lo_edge, hi_edge = ef - delta, ef + delta
    if lo_edge <= -1.0:
        return np.zeros(1)  # nothing can be occupied
    if hi_edge >= 1.0:
        return np.ones(1)  # everything is occupied
    ref = _erfc_step(ef, delta, eps)
    if len(ref) - 1 > _LSQ_MAX_DEGREE:
        return ref

    def ok(n):
        c = _lsq_step(ef, delta, n)
        return c if _step_error(c, lo_edge, hi_edge) <= eps else None

    top = len(ref) - 1
    lo_n = max(1, int(0.5 * math.log(1 / eps) / delta))  # below the minimax rate: infeasible
    lo_n = min(lo_n, top - 1)
    # bracket from just above the minimax rate upwards (a fit costs ~degree^3: starting at the
    # erfc series' degree, about twice the answer, cost most of the search)
    hi_n = min(top, max(lo_n + 1, int(math.ceil(math.log(1 / eps) / delta))))
    best = ok(hi_n)
    while best is None and hi_n < top:
        lo_n, hi_n = hi_n, min(top, int(hi_n * 1.15) + 1)
        best = ok(hi_n)
    if best is None:  # (not seen) the erfc series is the fallback
        return ref
    while hi_n - lo_n > 1:
        mid = (lo_n + hi_n) // 2
        c = ok(mid)
        if c is None:
            lo_n = mid
        else:
            hi_n, best = mid, c
    return best


def _band_bounds(lat: Lattice2D, n_k: int = 64) -> Tuple[float, float]:
    """Rigorous bounds on the spectrum from the clean bands and Weyl's inequality.

    The clean Bloch bands are sampled on an ``n_k x n_k`` grid; between grid points
    ``||h(k) - h(k')|| <= sum_d 2 ||T_d|| (|dx| + |dy|) pi / n_k`` bounds how far a band can go
    beyond the sampled values. A finite sample (open or periodic) and every window of it is a
    compression of the infinite clean lattice, so its clean spectrum lies within the bands; the
    scalar disorder energies shift it by ``[min e, max e]`` at most (Weyl).
    """
    clean = Lattice2D(lat.onsite, lat.hoppings, lat.shape, lat.boundary)
    k = 2 * np.pi * np.arange(n_k) / n_k
    KX, KY = np.meshgrid(k, k, indexing="ij")
    E = np.linalg.eigvalsh(clean.bloch(KX, KY))
    lip = sum(2 * np.linalg.norm(T, 2) * (abs(d[0]) + abs(d[1])) for d, T in lat.hoppings.items())
    margin = lip * np.pi / n_k + 1e-9 * (1 + float(np.abs(E).max()))
    e = lat.onsite_energies
    return float(E.min() - margin + e.min()), float(E.max() + margin + e.max())


def _spectral_bounds(lat: Lattice2D) -> Tuple[float, float]:
    """Bounds on the spectrum of the lattice Hamiltonian (no diagonalization): the tighter of
    Gershgorin's and :func:`_band_bounds`'s on each side."""
    onsite_rad = np.abs(lat.onsite).sum(1) - np.abs(np.diag(lat.onsite))
    hop = sum(np.abs(T).sum(1) + np.abs(T).sum(0) for T in lat.hoppings.values()) if lat.hoppings else 0.0
    rad = onsite_rad + hop
    d = np.diag(lat.onsite).real
    e = lat.onsite_energies
    lo = float((d - rad).min() + e.min())
    hi = float((d + rad).max() + e.max())
    blo, bhi = _band_bounds(lat)
    return max(lo, blo), min(hi, bhi)


def _clean_gap(lat: Lattice2D, ef: float, n_k: int = 48) -> float:
    """Distance from ``ef`` to the bands of the clean lattice (on a k grid), minus ``W / 2``."""
    clean = Lattice2D(lat.onsite, lat.hoppings, lat.shape, lat.boundary)
    k = 2 * np.pi * (np.arange(n_k) + 0.5) / n_k
    KX, KY = np.meshgrid(k, k, indexing="ij")
    E = np.linalg.eigvalsh(clean.bloch(KX, KY))
    k0 = 2 * np.pi * np.arange(n_k) / n_k
    KX, KY = np.meshgrid(k0, k0, indexing="ij")
    E0 = np.linalg.eigvalsh(clean.bloch(KX, KY))
    g = float(min(np.abs(E - ef).min(), np.abs(E0 - ef).min()))
    return g - lat.disorder / 2


def _axpy(a: float, x: np.ndarray, y: np.ndarray) -> None:
    """``y += a x`` in place (BLAS ``zaxpy``: one pass, no temporary)."""
    out = _zaxpy(x.reshape(-1), y.reshape(-1), a=a)
    if not np.shares_memory(out, y):  # (f2py copied y: not contiguous)
        y[...] = out.reshape(y.shape)


def _apply_poly_scipy(Ht, Ht2, X: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """``sum_n coef[n] T_n(Ht) X`` by the three-term recursion (SciPy sparse products; ``Ht2 = 2 Ht``)."""
    acc = coef[0] * X
    if len(coef) == 1:
        return acc
    t0 = X
    t1 = Ht @ X
    _axpy(coef[1], t1, acc)
    for cn in coef[2:]:
        t2 = Ht2 @ t1
        t2 -= t0
        _axpy(cn, t2, acc)
        t0, t1 = t1, t2
    return acc


#: bump when the generated kernels' source changes (their file names carry it)
_KERNEL_VERSION = 1
#: rows with more real (or imaginary) entries than this are not generated as one expression;
#: such operators use SciPy's sparse products
_ELL_MAX_WIDTH = 32


def _kernel_source(wr: int, wi: int, cache: bool) -> str:
    """Source of the numba kernels for a window operator whose rows hold at most ``wr`` real and
    ``wi`` imaginary entries (ELL layout: every row padded to that width with zero entries that
    point at the row itself).

    ``step`` is one step of Clenshaw's recurrence, in place: ``b <- f H src - b + cm X``, where
    ``X`` is a dense block (``x_r.shape[0] == n``), the unit columns ``e_{urow[c]}``
    (``urow.shape[0] == k``), or absent. A row's entries are written out as one sum, so the block's
    columns are the innermost, vectorized loop and the row's accumulators never leave registers;
    Clenshaw's recurrence needs two blocks and no accumulator block (the forward recurrence needs
    three and an accumulator), so a step moves 4-6 block-sized streams instead of 8.
    ``apply`` runs the whole recurrence: ``sum_m coef[m] T_m(H) X``.
    """
    def terms(pref, idx, w, part):
        return " + ".join(f"{pref}{q} * {part}[{idx}{q}, c]" for q in range(w)) or "0.0"

    load = [f"        a{q} = f * Vr[i, {q}]\n        r{q} = Jr[i, {q}]" for q in range(wr)]
    load += [f"        e{q} = f * Vi[i, {q}]\n        s{q} = Ji[i, {q}]" for q in range(wi)]
    hx_r = f"({terms('a', 'r', wr, 'src_r')}) - ({terms('e', 's', wi, 'src_i')})"
    hx_i = f"({terms('a', 'r', wr, 'src_i')}) + ({terms('e', 's', wi, 'src_r')})"
    opts = f'nogil=True, cache={cache}, boundscheck=False, fastmath={{"contract", "arcp", "nsz"}}'
    load_src = "\n".join(load) if load else "        pass"
    return f"""# generated by tntopo.invariants.chern_local (kernel version {_KERNEL_VERSION}); do not edit
import numba
import numpy as np


@numba.njit({opts})
def step(Jr, Vr, Ji, Vi, f, src_r, src_i, b_r, b_i, cm, x_r, x_i, urow):
    n, k = src_r.shape
    dense = x_r.shape[0] == n
    for i in range(n):
{load_src}
        if dense:
            for c in range(k):
                x = {hx_r} - b_r[i, c] + cm * x_r[i, c]
                y = {hx_i} - b_i[i, c] + cm * x_i[i, c]
                b_r[i, c] = x
                b_i[i, c] = y
        else:
            for c in range(k):
                x = {hx_r} - b_r[i, c]
                y = {hx_i} - b_i[i, c]
                b_r[i, c] = x
                b_i[i, c] = y
    for c in range(urow.shape[0]):
        b_r[urow[c], c] += cm


@numba.njit({opts})
def apply(Jr, Vr, Ji, Vi, coef, x_r, x_i, urow):
    n = Jr.shape[0]
    k = x_r.shape[1]
    b1r = np.zeros((n, k))
    b1i = np.zeros((n, k))
    b2r = np.zeros((n, k))
    b2i = np.zeros((n, k))
    for m in range(coef.shape[0] - 1, 0, -1):
        step(Jr, Vr, Ji, Vi, 2.0, b1r, b1i, b2r, b2i, coef[m], x_r, x_i, urow)
        b1r, b2r = b2r, b1r
        b1i, b2i = b2i, b1i
    step(Jr, Vr, Ji, Vi, 1.0, b1r, b1i, b2r, b2i, coef[0], x_r, x_i, urow)
    return b2r, b2i
"""


def _kernel_dir() -> str:
    """Where generated kernel sources live (numba caches their machine code beside them):
    ``$TNTOPO_CACHE_DIR``, else ``$XDG_CACHE_HOME/tntopo`` or ``~/.cache/tntopo``."""
    d = os.environ.get("TNTOPO_CACHE_DIR")
    if not d:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        d = os.path.join(base, "tntopo")
    return os.path.join(d, "kernels")


def _load_kernel_module(wr: int, wi: int):
    """The compiled kernels for widths ``(wr, wi)``: the generated source is written once to
    :func:`_kernel_dir` (atomically; an unchanged file keeps numba's on-disk cache valid) and
    imported from there; where that directory is not writable, compiled from memory without a
    disk cache."""
    import importlib.util

    name = f"tntopo_clenshaw_v{_KERNEL_VERSION}_{wr}_{wi}"
    try:
        d = _kernel_dir()
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, name + ".py")
        src = _kernel_source(wr, wi, cache=True)
        try:
            with open(path) as fh:
                current = fh.read()
        except OSError:
            current = None
        if current != src:
            tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
            with open(tmp, "w") as fh:
                fh.write(src)
            os.replace(tmp, path)
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        # registered: numba's cache finds a cached function's module by importing its name
        sys.modules[name] = mod
        try:
            spec.loader.exec_module(mod)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return mod
    except OSError:
        import types

        mod = types.ModuleType(name)
        exec(compile(_kernel_source(wr, wi, cache=False), f"<{name}>", "exec"), mod.__dict__)
        return mod


_KERNELS: dict = {}
_KERNEL_LOCK = threading.Lock()


def _clenshaw_kernel(wr: int, wi: int):
    """The compiled ``apply`` for ELL widths ``(wr, wi)`` (generated, compiled or loaded from
    numba's cache once per process), or None where numba is missing or fails (then SciPy's
    sparse products serve)."""
    key = (wr, wi)
    with _KERNEL_LOCK:
        if key not in _KERNELS and not _KERNELS.get("disabled"):
            try:
                fn = _load_kernel_module(wr, wi).apply
                # compile now, on a tiny problem, so that a failure falls back here and not mid-run
                fn(np.zeros((1, wr), dtype=np.int32), np.zeros((1, wr)), np.zeros((1, wi), dtype=np.int32),
                   np.zeros((1, wi)), np.ones(2), np.zeros((0, 1)), np.zeros((0, 1)), np.zeros(1, dtype=np.int64))
            except ImportError:  # numba missing: SciPy serves (documented)
                fn = None
            except Exception as exc:  # noqa: BLE001 - a compile or cache failure: SciPy serves, said once
                fn = None
                warnings.warn(
                    f"tntopo's compiled Chebyshev kernel for row widths {key} failed ({type(exc).__name__}: "
                    f"{exc}); the local marker falls back to SciPy's sparse products (about 4x slower). "
                    "Clearing the kernel cache (TNTOPO_CACHE_DIR, default ~/.cache/tntopo) may help.",
                    RuntimeWarning,
                    stacklevel=2,
                )
            _KERNELS[key] = fn
        return None if _KERNELS.get("disabled") else _KERNELS[key]


def _ell(vals: np.ndarray, indices: np.ndarray, indptr: np.ndarray, n: int):
    """Rows of a CSR part (its zeros dropped) as ELL arrays ``(J, V)`` of shape ``(n, width)``,
    padded with zero entries pointing at the row itself."""
    keep = vals != 0
    rows = np.repeat(np.arange(n), np.diff(indptr))[keep]
    cols, vals = indices[keep], vals[keep]
    counts = np.bincount(rows, minlength=n)
    w = int(counts.max()) if n else 0
    J = np.repeat(np.arange(n, dtype=np.int32)[:, None], w, axis=1)
    V = np.zeros((n, w))
    start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=start[1:])
    slot = np.arange(rows.size) - start[rows]  # rows are sorted (CSR order)
    J[rows, slot] = cols
    V[rows, slot] = vals
    return J, V


def _poly_applier(Ht, Ht2):
    """``apply(X, coef, units=None) = sum_n coef[n] T_n(Ht) X`` for one window (``Ht2 = 2 Ht``),
    its operator prepared once for every block it is applied to; ``units=rows`` stands for the
    block of unit columns ``X[:, c] = e_{rows[c]}`` (X not given).

    The recurrence runs in numba-compiled kernels generated for the operator's row widths
    (:func:`_kernel_source`: Clenshaw's recurrence, real and imaginary parts of ``Ht`` apart, GIL
    released; about 4x faster than SciPy's sparse products on a QWZ window) or, without numba
    (or for rows wider than ``_ELL_MAX_WIDTH``), with SciPy's sparse products (the forward
    recurrence)."""
    n = Ht.shape[0]
    parts = [_ell(vals, Ht.indices, Ht.indptr, n) for vals in (Ht.data.real, Ht.data.imag)]
    (Jr, Vr), (Ji, Vi) = parts
    fn = None
    if max(Vr.shape[1], Vi.shape[1]) <= _ELL_MAX_WIDTH:
        fn = _clenshaw_kernel(Vr.shape[1], Vi.shape[1])

    def apply(X: Optional[np.ndarray], coef: np.ndarray, units: Optional[np.ndarray] = None) -> np.ndarray:
        coef = np.ascontiguousarray(coef, dtype=np.float64)
        if fn is None:
            if units is not None:
                X = np.zeros((n, len(units)), dtype=np.complex128)
                X[units, np.arange(len(units))] = 1.0
            return _apply_poly_scipy(Ht, Ht2, np.asarray(X, dtype=np.complex128), coef)
        if units is not None:
            urow = np.ascontiguousarray(units, dtype=np.int64)
            xr = xi = np.zeros((0, urow.size))
        else:
            X = np.asarray(X, dtype=np.complex128)
            xr, xi = np.ascontiguousarray(X.real), np.ascontiguousarray(X.imag)
            urow = np.zeros(0, dtype=np.int64)
        br, bi = fn(Jr, Vr, Ji, Vi, coef, xr, xi, urow)
        out = np.empty(br.shape, dtype=np.complex128)
        out.real = br
        out.imag = bi
        return out

    return apply


def _apply_poly(Ht, Ht2, X: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """``sum_n coef[n] T_n(Ht) X`` (``Ht2 = 2 Ht``) once: :func:`_poly_applier` for one block."""
    return _poly_applier(Ht, Ht2)(X, coef)


class _WindowOperators:
    """Window Hamiltonians from one clean template per window geometry.

    Two windows of the same shape and boundary differ only in their disorder energies, which
    sit on the diagonal: the clean window (shifted by ``center``, scaled by ``1 / half``) is built
    once, with its diagonal in the sparsity pattern, and each window gets a copy of its values
    with its energies added -- no Hamiltonian assembly per window.
    """

    def __init__(self, lat: Lattice2D, center: float, half: float):
        self.lat, self.center, self.half = lat, center, half
        self.energies = lat.onsite_energies  # (Lx, Ly), one copy
        self._templates = {}

    def _template(self, xs, ys):
        key = (len(xs), len(ys))
        t = self._templates.get(key)
        if t is None:
            sub = self.lat.window(xs, ys)
            sub.disorder = 0.0  # the clean window: its disorder energies are added per window
            H = sub.hamiltonian(sparse=True).tocoo()
            d = H.shape[0]
            diag = np.arange(d)
            Hs = sp.coo_matrix(
                (np.concatenate([H.data.astype(np.complex128), np.full(d, -self.center, np.complex128)]),
                 (np.concatenate([H.row, diag]), np.concatenate([H.col, diag]))),
                shape=(d, d),
            ).tocsr()  # duplicates summed: the diagonal is always in the pattern
            Hs.sort_indices()
            Hs.data /= self.half
            rows = np.repeat(np.arange(d), np.diff(Hs.indptr))
            pos = np.nonzero(Hs.indices == rows)[0]
            t = self._templates[key] = (Hs.data, Hs.indices, Hs.indptr, pos, d)
        return t

    def scaled(self, xs, ys):
        """``(H - center) / half`` of the window ``xs x ys`` (CSR) and twice it."""
        data, indices, indptr, pos, d = self._template(xs, ys)
        e = self.energies[np.ix_(np.asarray(xs) % self.lat.Lx, np.asarray(ys) % self.lat.Ly)].ravel()
        data = data.copy()
        data[pos] += np.repeat(e, self.lat.n_orb) / self.half
        Ht = sp.csr_matrix((data, indices, indptr), shape=(d, d))
        Ht2 = sp.csr_matrix((2 * data, indices, indptr), shape=(d, d))
        return Ht, Ht2

    def dense(self, xs, ys) -> np.ndarray:
        """The window Hamiltonian ``H`` (dense, unscaled)."""
        Ht, _ = self.scaled(xs, ys)
        H = Ht.toarray() * self.half
        H[np.diag_indices_from(H)] += self.center
        return H


def _window_marker(ops: _WindowOperators, xs, ys, core_x, core_y, coef, ef, solver="chebyshev"):
    """Marker of the core cells ``core_x x core_y`` (absolute) from the window ``xs x ys``."""
    lat = ops.lat
    n_orb = lat.n_orb
    wx, wy = len(xs), len(ys)
    # local coordinates (continuous across a periodic wrap)
    if lat.has_custom_positions:
        pos = lat.window(xs, ys).positions()
        pos = pos - pos.mean(axis=0)
    else:
        gx, gy = np.meshgrid(np.arange(wx, dtype=float), np.arange(wy, dtype=float), indexing="ij")
        pos = np.stack([gx.ravel() - wx / 2, gy.ravel() - wy / 2], axis=1)
    xo = np.repeat(pos[:, 0], n_orb)
    yo = np.repeat(pos[:, 1], n_orb)
    # core cells: offsets of core_x within xs
    ox = np.nonzero(np.isin(np.asarray(xs) % lat.Lx, np.asarray(core_x) % lat.Lx))[0]
    oy = np.nonzero(np.isin(np.asarray(ys) % lat.Ly, np.asarray(core_y) % lat.Ly))[0]
    cx, cy = np.meshgrid(ox, oy, indexing="ij")
    cells = (cx * wy + cy).ravel()
    rows = (cells[:, None] * n_orb + np.arange(n_orb)).ravel()
    k = rows.size
    if solver == "eigh":  # exact projector of the window (sharp Fermi step)
        E, V = eigh_occupied(ops.dense(xs, ys), ef)
        Vo = V[:, : int((E < ef).sum())]
        v = Vo @ Vo[rows].conj().T
        w = yo[:, None] * v
        qyp = w - Vo @ (Vo.conj().T @ w)
    else:
        Ht, Ht2 = ops.scaled(xs, ys)
        apply = _poly_applier(Ht, Ht2)  # the operator prepared once for both blocks
        v = apply(None, coef, units=rows)
        w = yo[:, None] * v
        qyp = w - apply(w, coef)
    val = np.einsum("ak,ak->k", np.conj(xo[:, None] * v), qyp)
    c = 4 * np.pi * val.imag / lat.cell_area
    idem = np.abs(np.einsum("ak,ak->k", v.conj(), v).real - v[rows, np.arange(k)].real)
    c = c.reshape(len(ox), len(oy), n_orb).sum(-1)
    return c, idem.reshape(len(ox), len(oy), n_orb).max(-1)


def pick_solver(lat: Lattice2D, fermi_level: float = 0.0, *, tol: float = 1e-8, gap: Optional[float] = None) -> str:
    """The window solver ``solver="auto"`` takes for ``lat``: ``"chebyshev"`` where a spectral gap
    at the Fermi level is guaranteed -- ``gap=``, else the clean bands' gap minus ``W / 2``
    (Weyl), above 2% of the spectral width -- and the Fermi-step polynomial for ``tol`` has degree
    at most :data:`AUTO_MAX_DEGREE`; ``"eigh"`` otherwise (a sharp Fermi step needs no gap)."""
    lo, hi = _spectral_bounds(lat)
    half = 0.5 * (hi - lo) * 1.01 + 1e-12
    center = 0.5 * (hi + lo)
    g = _clean_gap(lat, fermi_level) if gap is None else float(gap)
    if not (g > 0.02 * (hi - lo)):
        return "eigh"
    coef = chebyshev_step_coefficients(round((fermi_level - center) / half, 12), round(g / half, 12), float(tol))
    return "chebyshev" if len(coef) - 1 <= AUTO_MAX_DEGREE else "eigh"


def _check_int(name, v, lo):
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    return int(v)


def local_marker_windows(
    lat: Lattice2D,
    fermi_level: float = 0.0,
    *,
    region=None,
    buffer: Optional[int] = None,
    core: Optional[int] = None,
    tol: float = 1e-8,
    gap: Optional[float] = None,
    solver: str = "auto",
    threads: Optional[int] = None,
    warn: bool = True,
):
    """Local Chern marker of ``lat`` by windows with a buffer (``O(N)``).

    Parameters
    ----------
    lat : Lattice2D
    fermi_level : float
    region : (slice, slice), optional
        Cells to compute (NaN elsewhere). Default: all.
    buffer : int, optional
        Cells added on each side of a core block (default ``DEFAULT_BUFFER``); it must be large
        compared with the localization length of ``P``.
    core : int, optional
        Side of the core blocks (default ``DEFAULT_CORE`` = 8 for ``solver="eigh"``,
        ``DEFAULT_CHEBYSHEV_CORE`` = 6 for ``solver="chebyshev"``).
    tol : float
        Sup-norm accuracy of the Chebyshev projector on the spectrum away from the gap (a
        rigorous bound on the polynomial's distance from the Fermi step there). The expansion
        interval is the tighter of Gershgorin's bounds and the clean bands' range widened by the
        disorder (Weyl; every window's spectrum lies within it), so the degree scales with
        ``ln(1/tol) * (band width) / gap``.
    gap : float, optional
        A lower bound on the distance from the Fermi level to the spectrum. Default: the gap of
        the clean lattice's bands minus ``W / 2`` (Weyl's bound for Anderson disorder); when that
        is not positive, 2% of the spectral width (and a :class:`~tntopo.GaplessWarning`).
    solver : {"auto", "chebyshev", "eigh"}
        How a window's projector acts: ``"chebyshev"`` (sparse products with the window
        Hamiltonian, never a dense matrix) or ``"eigh"`` (dense ``eigh`` of the window
        Hamiltonian: a sharp Fermi step, no gap needed; ``gap``/``tol`` unused). Both cost
        ``O(N)``. ``"auto"`` (default): :func:`pick_solver` -- Chebyshev where a gap is
        guaranteed and the polynomial short, 9-18x faster per site than ``eigh`` windows on QWZ
        at equal bulk accuracy; ``eigh`` otherwise.
    threads : int, optional
        Worker threads over the windows (default: one per core); the result does not depend on it.

    Returns
    -------
    marker : ndarray, shape (Lx, Ly)
    error : float
        Estimated truncation error (largest change of the sample blocks' marker when the buffer
        is reduced by a third).
    """

    buffer = _check_int("buffer", buffer, 1)
    core = _check_int("core", core, 1)
    if solver not in ("auto", "chebyshev", "eigh"):
        raise ValueError(f"unknown solver {solver!r}; choose 'auto', 'chebyshev' or 'eigh'")
    buffer = DEFAULT_BUFFER if buffer is None else buffer
    try:
        tol = float(tol)
    except (TypeError, ValueError):
        raise ValueError(f"tol must be a positive number, got {tol!r}") from None
    if not (0 < tol < 1):
        raise ValueError(f"tol must be in (0, 1), got {tol!r}")
    if gap is not None:
        try:
            gap_value = float(gap)
        except (TypeError, ValueError):
            raise ValueError(f"gap must be a positive energy, got {gap!r}") from None
        if not (gap_value > 0):
            raise ValueError(f"gap must be a positive energy, got {gap!r}")
    if solver == "auto":
        solver = pick_solver(lat, fermi_level, tol=tol, gap=gap)
    if core is None:
        core = DEFAULT_CHEBYSHEV_CORE if solver == "chebyshev" else DEFAULT_CORE
    Lx, Ly = lat.shape
    if region is None:
        rx, ry = slice(0, Lx), slice(0, Ly)
    else:
        rx, ry = _check_region(region, lat.shape)
    if lat.has_custom_positions and "periodic" in lat.boundary:
        raise ValueError(
            "the local route needs default positions on periodic axes (custom positions cannot be "
            "unwrapped across the seam); use boundary='open' or method='dense'"
        )
    span = core + 2 * buffer
    if Lx < span and Ly < span:
        raise ValueError(
            f"shape {lat.shape} is too small for the local route's window (core {core} + 2 x buffer "
            f"{buffer} = {span} cells): use the dense route, exact at this size (method='marker' in "
            "chern_number, method='dense' in local_chern_marker), or a smaller buffer="
        )
    lo, hi = _spectral_bounds(lat)
    half = 0.5 * (hi - lo) * 1.01 + 1e-12
    center = 0.5 * (hi + lo)
    width = hi - lo
    if solver == "eigh":
        g = 1.0  # unused: the window projector has a sharp Fermi step
    elif gap is None:
        g = _clean_gap(lat, fermi_level)
        if g <= 0.02 * width:
            g = 0.02 * width
            if warn:
                warnings.warn(
                    f"no spectral gap is guaranteed at the Fermi level {fermi_level:g} (clean gap minus "
                    f"W/2 <= 0): the local marker uses an energy resolution {g:.3g}; states closer to "
                    "the Fermi level are partly occupied. Check the error estimate, or pass gap=",
                    GaplessWarning,
                    stacklevel=3,
                )
    else:
        g = float(gap)
        if not (g > 0):
            raise ValueError(f"gap must be a positive energy, got {gap!r}")
    eps = tol
    coef = None if solver == "eigh" else chebyshev_step_coefficients(
        round((fermi_level - center) / half, 12), round(g / half, 12), eps
    )
    ops = _WindowOperators(lat, center, half)

    def axis_windows(r: slice, L: int, periodic: bool):
        out = []
        for s in range(r.start, r.stop, core):
            cs = np.arange(s, min(s + core, r.stop))
            if periodic and L > span:
                ws = np.arange(cs[0] - buffer, cs[-1] + buffer + 1)
            elif periodic:
                ws = np.arange(L)
            else:
                ws = np.arange(max(0, cs[0] - buffer), min(L, cs[-1] + buffer + 1))
            out.append((cs, ws))
        return out

    px, py = (b == "periodic" for b in lat.boundary)
    wins_x = axis_windows(rx, Lx, px)
    wins_y = axis_windows(ry, Ly, py)
    out = np.full(lat.shape, np.nan)
    idem_map = np.zeros(lat.shape)
    jobs = [(wx, wy) for wx in wins_x for wy in wins_y]

    def run(job):
        (cs_x, ws_x), (cs_y, ws_y) = job
        return _window_marker(ops, ws_x, ws_y, cs_x, cs_y, coef, fermi_level, solver)

    nt = max(1, min(len(jobs), os.cpu_count() or 1)) if threads is None else max(1, int(threads))
    with single_threaded_blas():
        # windows are independent: LAPACK/sparse products release the GIL, so threads overlap them;
        # results are written by window, independent of the number of threads
        if nt == 1:
            results = map(run, jobs)
        else:
            pool = ThreadPoolExecutor(nt)
            results = pool.map(run, jobs)
        for ((cs_x, _), (cs_y, _)), (c, idem) in zip(jobs, results):
            out[np.ix_(cs_x % Lx, cs_y % Ly)] = c
            idem_map[np.ix_(cs_x % Lx, cs_y % Ly)] = idem
        if nt > 1:
            pool.shutdown()
        # error estimate: a central sample block recomputed with a buffer smaller by a third
        b2 = max(1, buffer - max(1, buffer // 3))
        err = 0.0
        picks = {(len(wins_x) // 2, len(wins_y) // 2)}
        for i, j in sorted(picks):
            cs_x, _ = wins_x[i]
            cs_y, _ = wins_y[j]

            def shrink(cs, L, periodic):
                if periodic and L > core + 2 * b2:
                    return np.arange(cs[0] - b2, cs[-1] + b2 + 1)
                if periodic:
                    return np.arange(L)
                return np.arange(max(0, cs[0] - b2), min(L, cs[-1] + b2 + 1))

            c2, _ = _window_marker(
                ops, shrink(cs_x, Lx, px), shrink(cs_y, Ly, py), cs_x, cs_y, coef, fermi_level, solver,
            )
            err = max(err, float(np.abs(c2 - out[np.ix_(cs_x % Lx, cs_y % Ly)]).max()))
    # idempotency of the Chebyshev projector in the bulk (edge states of open samples sit at
    # the Fermi level and are legitimately partly occupied there)
    bulk = np.ones(lat.shape, dtype=bool)
    for ax, (b, L) in enumerate(zip(lat.boundary, lat.shape)):
        if b == "open":
            dist = np.minimum(np.arange(L), L - 1 - np.arange(L))
            keep = dist >= buffer
            bulk &= keep[:, None] if ax == 0 else keep[None, :]
    idem_max = float(idem_map[bulk].max()) if bulk.any() else 0.0
    if warn and idem_max > max(1e-3, 100 * tol):
        warnings.warn(
            f"the Chebyshev projector is not idempotent on the core states (max |P^2 - P|_aa = "
            f"{idem_max:.1e}): states near the Fermi level; the marker need not be quantized",
            GaplessWarning,
            stacklevel=3,
        )
    return out, err
