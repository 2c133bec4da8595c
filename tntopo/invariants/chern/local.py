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
the numba kernels of :mod:`tntopo.invariants.chern._clenshaw` (``njit(cache=True)``: cached by numba's
own mechanism, nothing generated or written by tntopo); without numba, by the forward recurrence
on SciPy's sparse products. ``benchmarks/bench_chern_local.py`` (section 0) compares them on one
QWZ window (26 x 26 cells, 72 core columns, degree 113; CPU seconds, one run): SciPy's products
24x slower (38x in another run), the kernels this module generated as source per row width
before 1.10x slower (1.03x): no faster, so they are gone:

.. math:: v = P e_a, \\quad w = Y v, \\quad c_a = 4\\pi\\,\\mathrm{Im}\\,\\langle X v, w - P w\\rangle,

i.e. ``4 pi Im [P X Q Y P]_aa`` with coordinates measured from the window's centre (the marker
is invariant under a shift of origin because ``P Q = 0``). The cost of a window does not depend
on the lattice size, so the map costs ``O(N)`` time; memory is ``O(N)`` for the lattice's
disorder energies and the output, ``O(window)`` for the work.

``solver="auto"`` (the default) takes the Chebyshev windows wherever a spectral gap at the
Fermi level is guaranteed (the clean gap minus ``W/2``, or ``gap=``) and the polynomial stays
short (degree <= ``AUTO_MAX_DEGREE``), and the ``eigh`` windows otherwise (no guaranteed gap:
strong disorder, a Fermi level in a band). Measured on QWZ ``m = 1, W = 1`` (60 x 60, open,
buffer 10; ``benchmarks/bench_chern_local.py``, a machine loaded ~5x beyond its two cores, so
CPU seconds): Chebyshev windows (``tol = 1e-7``, degree 113) 1.7 ms of CPU per site against
21 ms for ``eigh`` windows (12.5x), bulk error against the dense marker 2.4e-7 and 3.3e-7; the
dense marker took 75x the CPU time of the Chebyshev windows. A map of 10^6 sites is not a matter
of seconds on two cores: the polynomial is applied to each site's two columns over a window of
``(core + 2 buffer)^2`` cells, 25 MFlop per site at the default settings, 15 MFlop even with no
window overlap at all, whereas 30 s for 10^6 sites on two cores would allow 0.06 ms of CPU per
site, 2.7 MFlop at one core's DGEMM rate (45 GFlop/s; section 4 of the benchmark). Near the open edges of a
topological sample both differ from the dense marker by
O(1) and more: there the dense marker carries the compensation of the bulk's Chern number (its
sum over the sample vanishes), which no window can see, whatever its solver.

Certificate and error estimate. Each window reports, per core cell, ``solver="eigh"``: the weight
of its eigenstates within 2% of the spectral width of the Fermi level (the dense marker's gapless
check); ``"chebyshev"``: ``|P^2 - P|_aa`` of the polynomial projector. Up to five sample blocks
(:func:`_error_blocks`) are recomputed with a buffer smaller by a third and the largest change of
their marker is the error *estimate*. It is not an upper bound: the truncation error decays as
``exp(-buffer / xi)`` only once the buffer exceeds the localization length ``xi``, and under strong
disorder the marker is not smooth in the buffer. Its measured coverage against the dense marker is
in :func:`local_marker_windows`. A :class:`~tntopo.GaplessWarning` is emitted whenever the
certificate fails in the bulk or the estimate exceeds ``ERROR_WARN`` = 0.05.
"""
from __future__ import annotations

import math
import os
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

from ..._blas import single_threaded_blas
from ..._lapack import eigh_occupied
from ..._typing import strict_keywords
from ...errors import GaplessWarning
from ...systems.lattice2d import Lattice2D
from ...systems.lattice2d import check_region as _check_region
from .._routes import ChernLocalOptions, local_keywords

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


def _band_bounds(lat: Lattice2D, n_k: int = 128) -> Tuple[float, float]:
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


_KERNEL_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _clenshaw_kernel():
    """:func:`tntopo.invariants.chern._clenshaw.clenshaw_apply`, compiled (or loaded from numba's cache)
    once per process, or None without numba (then SciPy's sparse products serve)."""
    with _KERNEL_LOCK:
        try:
            from ._clenshaw import clenshaw_apply
        except ImportError:  # numba missing: SciPy serves (documented)
            return None
        # compile now, on a tiny problem, so that a failure shows here and not mid-run
        z, zi = np.zeros((1, 1)), np.zeros((1, 1), dtype=np.int32)
        clenshaw_apply(zi, z, zi, z, np.ones(2), np.zeros((0, 1)), np.zeros((0, 1)), np.zeros(1, dtype=np.int64))
        return clenshaw_apply


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

    The recurrence runs in the numba kernels of :mod:`tntopo.invariants.chern._clenshaw` (Clenshaw's
    recurrence on ELL rows, real and imaginary parts of ``Ht`` apart, GIL released) or, without
    numba, with SciPy's sparse products (the forward recurrence); their speeds on a QWZ window are
    compared by ``benchmarks/bench_chern_local.py`` (see the module docstring)."""
    n = Ht.shape[0]
    parts = [_ell(vals, Ht.indices, Ht.indptr, n) for vals in (Ht.data.real, Ht.data.imag)]
    (Jr, Vr), (Ji, Vi) = parts
    fn = _clenshaw_kernel()

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


def _window_marker(ops: _WindowOperators, xs, ys, core_x, core_y, coef, ef, solver="chebyshev",
                   near: float = 0.0):
    """Marker of the core cells ``core_x x core_y`` (absolute) from the window ``xs x ys``, and
    its certificate per core cell: ``solver="eigh"``, the weight of the window's eigenstates
    within ``near`` of the Fermi level on the cell; ``"chebyshev"``, the largest ``|P^2 - P|_aa``
    of the cell's states."""
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
        # the vectors up to ``near`` above the Fermi level too: the certificate weighs the window
        # states within ``near`` of it on the core cells
        E, V = eigh_occupied(ops.dense(xs, ys), ef, margin=near)
        k_occ = int((E < ef).sum())
        Vo = V[:, :k_occ]
        v = Vo @ Vo[rows].conj().T
        w = yo[:, None] * v
        qyp = w - Vo @ (Vo.conj().T @ w)
        close = V[rows][:, int((E <= ef - near).sum()): int((E < ef + near).sum())]
        check = (np.abs(close) ** 2).sum(-1)  # weight of the near-Fermi states, per core state
    else:
        Ht, Ht2 = ops.scaled(xs, ys)
        apply = _poly_applier(Ht, Ht2)  # the operator prepared once for both blocks
        v = apply(None, coef, units=rows)
        w = yo[:, None] * v
        qyp = w - apply(w, coef)
    val = np.einsum("ak,ak->k", np.conj(xo[:, None] * v), qyp)
    c = 4 * np.pi * val.imag / lat.cell_area
    c = c.reshape(len(ox), len(oy), n_orb).sum(-1)
    if solver != "eigh":  # the certificate: idempotency of the polynomial projector, |P^2 - P|_aa
        check = np.abs(np.einsum("ak,ak->k", v.conj(), v).real - v[rows, np.arange(k)].real)
        return c, check.reshape(len(ox), len(oy), n_orb).max(-1)
    return c, check.reshape(len(ox), len(oy), n_orb).sum(-1)


def pick_solver(lat: Lattice2D, fermi_level: float = 0.0, *, tol: Optional[float] = None,
                gap: Optional[float] = None) -> str:
    """The window solver ``solver="auto"`` takes for ``lat``: ``"chebyshev"`` where a spectral gap
    at the Fermi level is guaranteed -- ``gap=``, else the clean bands' gap minus ``W / 2``
    (Weyl), above 2% of the spectral width -- and the Fermi-step polynomial for ``tol`` has degree
    at most :data:`AUTO_MAX_DEGREE` (``tol`` default :data:`DEFAULT_TOL`); ``"eigh"`` otherwise (a
    sharp Fermi step needs no gap)."""
    tol = DEFAULT_TOL if tol is None else tol
    lo, hi = _spectral_bounds(lat)
    half = 0.5 * (hi - lo) * 1.01 + 1e-12
    center = 0.5 * (hi + lo)
    g = _clean_gap(lat, fermi_level) if gap is None else float(gap)
    if not (g > 0.02 * (hi - lo)):
        return "eigh"
    coef = chebyshev_step_coefficients(round((fermi_level - center) / half, 12), round(g / half, 12), float(tol))
    return "chebyshev" if len(coef) - 1 <= AUTO_MAX_DEGREE else "eigh"


@local_keywords(ChernLocalOptions)
@strict_keywords
def local_marker_windows(
    lat: Lattice2D,
    fermi_level: float = 0.0,
    *,
    region=None,
    local: Optional[ChernLocalOptions] = None,
    warn: bool = True,
):
    """Local Chern marker of ``lat`` by windows with a buffer (``O(N)``).

    Parameters
    ----------
    lat : Lattice2D
    fermi_level : float
    region : (slice, slice), optional
        Cells to compute (NaN elsewhere). Default: all.
    local : ChernLocalOptions, optional
        The route's options (:class:`~tntopo.ChernLocalOptions`; the former keywords ``buffer=``
        ... ``threads=`` still work, with a :class:`FutureWarning`, for one release); its fields
        as this route uses them are listed under Notes.

    warn : bool
        Emit the warnings below (certificate failures).

    Returns
    -------
    marker : ndarray, shape (Lx, Ly)
    error : float
        Estimated truncation error: the largest change of the marker of up to five sample blocks
        (:func:`_error_blocks`) when the buffer is reduced by a third, times ``ERROR_FACTOR``. An
        estimate, not a bound; its coverage against the dense marker is measured by
        ``benchmarks/chern_error_coverage.py`` and reported in the guide (``docs/guide/chern.rst``):
        where it did not cover the error, the route had warned.

    Warns
    -----
    GaplessWarning
        Whatever the solver, when the certificate fails on the bulk cells (those at least
        ``min(buffer, L // 4)`` from open edges): ``"eigh"``, the windows' states within 2% of the
        spectral width of the Fermi level carry more than ``NEAR_WEIGHT_TOL`` per bulk cell;
        ``"chebyshev"``, no gap is guaranteed or the projector is not idempotent on the core
        states; both, the error estimate exceeds ``ERROR_WARN``.

    Notes
    -----
    The fields of ``local`` (:class:`~tntopo.ChernLocalOptions`), as this route uses them:

    buffer
        Cells added on each side of a core block (default ``DEFAULT_BUFFER``); it must be large
        compared with the localization length of ``P``.
    core
        Side of the core blocks (default ``DEFAULT_CORE`` = 8 for ``solver="eigh"``,
        ``DEFAULT_CHEBYSHEV_CORE`` = 6 for ``solver="chebyshev"``).
    tol
        ``solver="chebyshev"`` only (default :data:`DEFAULT_TOL` = ``1e-7``; a ``TypeError`` with ``"eigh"``).
        Sup-norm accuracy of the Chebyshev projector on the spectrum away from the gap (a
        rigorous bound on the polynomial's distance from the Fermi step there). The expansion
        interval is the tighter of Gershgorin's bounds and the clean bands' range widened by the
        disorder (Weyl; every window's spectrum lies within it), so the degree scales with
        ``ln(1/tol) * (band width) / gap``.
    gap
        ``solver="chebyshev"`` only. A lower bound on the distance from the Fermi level to the spectrum. Default: the gap of
        the clean lattice's bands minus ``W / 2`` (Weyl's bound for Anderson disorder); when that
        is not positive, 2% of the spectral width (and a :class:`~tntopo.GaplessWarning`).
    solver
        How a window's projector acts: ``"chebyshev"`` (sparse products with the window
        Hamiltonian, never a dense matrix) or ``"eigh"`` (dense ``eigh`` of the window
        Hamiltonian: a sharp Fermi step, no gap needed; ``gap``/``tol`` are refused). Both cost
        ``O(N)``. ``"auto"`` (default): :func:`pick_solver` -- Chebyshev where a gap is
        guaranteed and the polynomial short, 9-18x faster per site than ``eigh`` windows on QWZ
        at equal bulk accuracy; ``eigh`` otherwise. Given ``tol=`` or ``gap=`` (the expansion's
        options), ``"auto"`` runs the Chebyshev windows.
    threads
        Worker threads over the windows (default: one per core); the result does not depend on it.
    """
    o = ChernLocalOptions.ensure("local_marker_windows", local) or ChernLocalOptions()
    solver, buffer, core, tol = _settings(lat, fermi_level, o)
    Lx, Ly = lat.shape
    rx, ry = (slice(0, Lx), slice(0, Ly)) if region is None else _check_region(region, lat.shape)
    _check_fits(lat, core, buffer)
    coef, near, ops = _expansion(lat, fermi_level, solver, o.gap, tol, warn)
    jobs, jobs2 = _jobs(lat, (rx, ry), core, buffer)

    def run(job):
        (cs_x, ws_x), (cs_y, ws_y) = job
        return _window_marker(ops, ws_x, ws_y, cs_x, cs_y, coef, fermi_level, solver, near)

    results = _run_threads(run, jobs + jobs2, o.threads)
    out = np.full(lat.shape, np.nan)
    cert_map = np.zeros(lat.shape)
    for ((cs_x, _), (cs_y, _)), (c, cert) in zip(jobs, results):
        out[np.ix_(cs_x % Lx, cs_y % Ly)] = c
        cert_map[np.ix_(cs_x % Lx, cs_y % Ly)] = cert
    err = 0.0
    for ((cs_x, _), (cs_y, _)), (c2, _) in zip(jobs2, results[len(jobs):]):
        err = max(err, float(np.abs(c2 - out[np.ix_(cs_x % Lx, cs_y % Ly)]).max()))
    err *= ERROR_FACTOR
    if warn:
        _certify(lat, (rx, ry), cert_map, err, solver, tol, buffer, fermi_level)
    return out, err


def _settings(lat: Lattice2D, fermi_level: float, o: ChernLocalOptions):
    """``(solver, buffer, core, tol)`` of a run: ``o`` (validated by its class) with the defaults,
    ``solver="auto"`` resolved (``tol``/``gap`` given: the Chebyshev windows, whose options they are)."""
    solver = "auto" if o.solver is None else o.solver
    buffer = DEFAULT_BUFFER if o.buffer is None else o.buffer
    tol = DEFAULT_TOL if o.tol is None else o.tol
    if solver == "auto":
        # tol= or gap= set the expansion: given, they are not ignored (the Chebyshev windows run)
        expansion_options = o.tol is not None or o.gap is not None
        solver = "chebyshev" if expansion_options else pick_solver(lat, fermi_level, tol=tol, gap=o.gap)
    core = o.core if o.core is not None else DEFAULT_CHEBYSHEV_CORE if solver == "chebyshev" else DEFAULT_CORE
    return solver, buffer, core, tol


def _check_fits(lat: Lattice2D, core: int, buffer: int) -> None:
    """Refuse (``ValueError``) what the windows cannot do: custom positions on a periodic axis, or
    a lattice smaller than one window."""
    if lat.has_custom_positions and "periodic" in lat.boundary:
        raise ValueError(
            "the local route needs default positions on periodic axes (custom positions cannot be "
            "unwrapped across the seam); use boundary='open' or method='dense'"
        )
    span = core + 2 * buffer
    if lat.Lx < span and lat.Ly < span:
        raise ValueError(
            f"shape {lat.shape} is too small for the local route's window (core {core} + 2 x buffer "
            f"{buffer} = {span} cells): use the dense route, exact at this size (method='marker' in "
            "chern_number, method='dense' in local_chern_marker), or a smaller ChernLocalOptions(buffer=...)"
        )


def _expansion(lat: Lattice2D, fermi_level: float, solver: str, gap: Optional[float], tol: float, warn: bool):
    """``(coef, near, ops)``: the Fermi-step polynomial (``None`` for ``"eigh"``), the certificate's
    energy window and the window operators, on the spectrum's bounds."""
    lo, hi = _spectral_bounds(lat)
    half = 0.5 * (hi - lo) * 1.01 + 1e-12
    center = 0.5 * (hi + lo)
    width = hi - lo
    coef = None
    if solver != "eigh":
        g = gap
        if g is None:
            g = _clean_gap(lat, fermi_level)
            if g <= 0.02 * width:
                g = 0.02 * width
                if warn:
                    warnings.warn(
                        f"no spectral gap is guaranteed at the Fermi level {fermi_level:g} (clean gap minus "
                        f"W/2 <= 0): the local marker uses an energy resolution {g:.3g}; states closer to "
                        "the Fermi level are partly occupied. Check the error estimate, or pass "
                        "ChernLocalOptions(gap=...)",
                        GaplessWarning,
                        stacklevel=5,
                    )
        coef = chebyshev_step_coefficients(round((fermi_level - center) / half, 12), round(g / half, 12), tol)
    return coef, NEAR_FERMI * width, _WindowOperators(lat, center, half)


def _jobs(lat: Lattice2D, region, core: int, buffer: int):
    """The windows of the map (``(core cells, window cells)`` per axis, for every core block of
    ``region``) and those of the error estimate: sample blocks (:func:`_error_blocks`) with a buffer
    smaller by a third."""
    px, py = (b == "periodic" for b in lat.boundary)

    def axis_windows(r: slice, L: int, periodic: bool):
        out = []
        for s in range(r.start, r.stop, core):
            cs = np.arange(s, min(s + core, r.stop))
            out.append((cs, _window_axis(cs, L, periodic, buffer, core)))
        return out

    wins_x = axis_windows(region[0], lat.Lx, px)
    wins_y = axis_windows(region[1], lat.Ly, py)
    jobs = [(wx, wy) for wx in wins_x for wy in wins_y]
    b2 = max(1, buffer - max(1, buffer // 3))
    jobs2 = [((wins_x[i][0], _window_axis(wins_x[i][0], lat.Lx, px, b2, core)),
              (wins_y[j][0], _window_axis(wins_y[j][0], lat.Ly, py, b2, core)))
             for i, j in _error_blocks(lat, wins_x, wins_y, buffer)]
    return jobs, jobs2


def _run_threads(run, jobs, threads: Optional[int]):
    """``[run(job) for job in jobs]`` on ``threads`` worker threads (default one per core), one BLAS
    thread each: windows are independent and LAPACK/sparse products release the GIL; results come
    in the order of ``jobs``, independent of the number of threads."""
    nt = max(1, min(len(jobs), os.cpu_count() or 1)) if threads is None else threads
    with single_threaded_blas():
        if nt == 1:
            return list(map(run, jobs))
        with ThreadPoolExecutor(nt) as pool:
            return list(pool.map(run, jobs))


#: the error estimate is the largest change of the sample blocks' marker (buffer reduced by a
#: third) times this factor (see :func:`local_marker_windows` for its measured coverage)
ERROR_FACTOR = 1.0
#: the local route warns when its error estimate exceeds this (as the real-space routes warn for
#: a value further than this from an integer)
ERROR_WARN = 0.05
#: the certificate of ``solver="eigh"``: states within this fraction of the spectral width of the
#: Fermi level (as the dense marker's gapless check) may carry at most ``NEAR_WEIGHT_TOL`` per bulk cell
NEAR_FERMI = 0.02
NEAR_WEIGHT_TOL = 1e-3
#: default ``tol`` of the Chebyshev windows: on QWZ ``m = 1, W = 1`` (60 x 60, open, buffer 10) the
#: bulk differs from the dense marker by 2.9e-7 with it, 2.6e-7 with ``1e-8`` (the buffer's
#: truncation dominates) and 6.3e-7 with ``1e-6``; the polynomial's degree, and the cost, grow as
#: ``ln(1 / tol)`` (degree 117 against 133 for ``1e-8`` there)
DEFAULT_TOL = 1e-7


def _window_axis(cs: np.ndarray, L: int, periodic: bool, b: int, core: int) -> np.ndarray:
    """The window's cells along one axis: the core ``cs`` and ``b`` buffer cells on each side
    (clipped at open edges; wrapped on a periodic axis, or the whole axis when it is too short)."""
    if periodic and L > core + 2 * b:
        return np.arange(cs[0] - b, cs[-1] + b + 1)
    if periodic:
        return np.arange(L)
    return np.arange(max(0, cs[0] - b), min(L, cs[-1] + b + 1))


def _error_blocks(lat: Lattice2D, wins_x, wins_y, buffer: int):
    """Block indices sampled by the error estimate: the central block and the blocks a quarter
    of the way in along both diagonals (at most five, fewer on small grids), among the blocks
    whose centre is at least ``min(buffer, L // 4)`` cells (less half a cell) from the open edges:
    near an open edge the chiral edge states make the marker change with the buffer however well
    the bulk has converged (all blocks where none qualifies)."""
    axes = []
    for wins, L, b in ((wins_x, lat.Lx, lat.boundary[0]), (wins_y, lat.Ly, lat.boundary[1])):
        idx = list(range(len(wins)))
        if b == "open":
            need = min(buffer, L // 4) - 0.5
            ok = [i for i in idx if min(wins[i][0].mean(), L - 1 - wins[i][0].mean()) >= need]
            idx = ok or idx
        axes.append(idx)
    (ex, ey), n = axes, (len(axes[0]), len(axes[1]))
    pts = {(ex[n[0] // 2], ey[n[1] // 2])}
    for fx in (1, 3):
        for fy in (1, 3):
            pts.add((ex[(fx * n[0]) // 4], ey[(fy * n[1]) // 4]))
    return sorted(pts)


def _bulk_mask(lat: Lattice2D, region, buffer: int) -> np.ndarray:
    """Cells of ``region`` at least ``min(buffer, L // 4)`` from the open edges (the edge states
    of an open sample sit at the Fermi level there, legitimately); the whole region if that is empty."""
    rx, ry = region
    reg = np.zeros(lat.shape, dtype=bool)
    reg[rx, ry] = True
    bulk = reg.copy()
    for ax, (b, L) in enumerate(zip(lat.boundary, lat.shape)):
        if b == "open":
            dist = np.minimum(np.arange(L), L - 1 - np.arange(L))
            keep = dist >= min(buffer, L // 4)
            bulk &= keep[:, None] if ax == 0 else keep[None, :]
    return bulk if bulk.any() else reg


def _certify(lat: Lattice2D, region, cert_map, err: float, solver: str, tol: float, buffer: int,
             ef: float) -> None:
    """Warn (:class:`~tntopo.GaplessWarning`) where the local route's certificate fails: states
    near the Fermi level in the bulk (``"eigh"``: their weight; ``"chebyshev"``: a projector that
    is not idempotent there) or an error estimate above ``ERROR_WARN``."""
    bulk = _bulk_mask(lat, region, buffer)
    if solver == "eigh":
        w = float(cert_map[bulk].mean())
        if w > NEAR_WEIGHT_TOL:
            warnings.warn(
                f"the windows' states within {100 * NEAR_FERMI:g}% of the spectral width of the Fermi "
                f"level {ef:g} carry weight {w:.1e} per bulk cell: the bulk is (nearly) gapless and the "
                "local marker need not be quantized (move fermi_level into a gap or the parameters "
                "away from the transition)",
                GaplessWarning,
                stacklevel=5,
            )
    else:
        idem = float(cert_map[bulk].max())
        if idem > max(1e-3, 100 * tol):
            warnings.warn(
                f"the Chebyshev projector is not idempotent on the core states (max |P^2 - P|_aa = "
                f"{idem:.1e}): states near the Fermi level {ef:g}; the marker need not be quantized",
                GaplessWarning,
                stacklevel=5,
            )
    if err > ERROR_WARN:
        warnings.warn(
            f"the local marker has not converged in the buffer: the sample blocks' marker changes by "
            f"{err:.2g} when the buffer shrinks from {buffer} by a third (the localization length is "
            "not small compared with the buffer: the Fermi level is in or near a band, or the buffer "
            "is too small); raise buffer= or use the dense route",
            GaplessWarning,
            stacklevel=5,
        )
