"""The ``O(N)`` local Chern marker: windows with a buffer (exact window projector, or a
Chebyshev expansion of it with sparse products).

The lattice is tiled by ``core x core`` blocks of cells; each block is computed in a window that
adds ``buffer`` cells on every side (clipped at open edges, wrapped on periodic axes). With
``solver="eigh"`` (default) the window's projector comes from a dense ``eigh`` of the window
Hamiltonian. With ``solver="chebyshev"`` it is never formed: ``P`` is a Chebyshev polynomial of the window
Hamiltonian (a smoothed step, sharp on the scale of the gap at the Fermi level) applied to the
unit vectors of the core states with sparse products:

.. math:: v = P e_a, \\quad w = Y v, \\quad c_a = 4\\pi\\,\\mathrm{Im}\\,\\langle X v, w - P w\\rangle,

i.e. ``4 pi Im [P X Q Y P]_aa`` with coordinates measured from the window's centre (the marker
is invariant under a shift of origin because ``P Q = 0``). The cost of a window does not depend
on the lattice size, so the map costs ``O(N)`` time; memory is ``O(N)`` for the lattice's
disorder energies and the output, ``O(window)`` for the work.

Error estimate: the windows of a few sample blocks are recomputed with a smaller buffer; the
largest change of their marker is reported (the truncation error decays exponentially in the
buffer, so the estimate is conservative for the full buffer).
"""
from __future__ import annotations

import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Optional, Tuple

import numpy as np
import scipy.sparse as sp
from scipy.special import erfc

from .._blas import single_threaded_blas
from ..errors import GaplessWarning
from ..lattice import Lattice2D
from ..lattice import check_region as _check_region

__all__ = ["local_marker_windows", "chebyshev_step_coefficients", "DEFAULT_BUFFER", "DEFAULT_CORE"]

DEFAULT_BUFFER = 10
DEFAULT_CORE = 8


@lru_cache(maxsize=64)
def chebyshev_step_coefficients(ef_scaled: float, sigma_scaled: float, eps: float) -> np.ndarray:
    """Chebyshev coefficients on ``[-1, 1]`` of ``f(t) = erfc((t - ef) / (sqrt 2 sigma)) / 2``.

    Truncated where the remaining coefficients sum below ``eps`` (the sup-norm error on
    ``[-1, 1]``).
    """
    deg = 64
    while True:
        c = np.polynomial.chebyshev.chebinterpolate(
            lambda t: 0.5 * erfc((t - ef_scaled) / (math.sqrt(2) * sigma_scaled)), deg
        )
        tail = np.cumsum(np.abs(c[::-1]))[::-1]  # tail[n] = sum_{k >= n} |c_k|
        # resolved only if the tail is small well before the interpolation degree (parity can
        # make single coefficients vanish)
        ok = np.nonzero(tail[: (3 * deg) // 4] < eps)[0]
        if ok.size or deg >= 8192:
            n = int(ok[0]) if ok.size else deg + 1
            return c[:max(n, 2)]
        deg *= 2


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


def _apply_poly(Ht, X: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """``sum_n coef[n] T_n(Ht) X`` by the three-term recursion (sparse products)."""
    t0 = X
    acc = coef[0] * t0
    if len(coef) == 1:
        return acc
    t1 = Ht @ t0
    acc = acc + coef[1] * t1
    for cn in coef[2:]:
        t2 = Ht @ t1
        t2 *= 2
        t2 -= t0
        acc += cn * t2
        t0, t1 = t1, t2
    return acc


def _window_marker(lat: Lattice2D, xs, ys, core_x, core_y, coef, center, half, ef, sigma, solver="chebyshev"):
    """Marker of the core cells ``core_x x core_y`` (absolute) from the window ``xs x ys``."""
    sub = lat.window(xs, ys)
    H = sub.hamiltonian(sparse=True).astype(np.complex128)
    d = H.shape[0]
    wx, wy = len(xs), len(ys)
    # local coordinates (continuous across a periodic wrap)
    if lat.has_custom_positions:
        pos = sub.positions()
        pos = pos - pos.mean(axis=0)
    else:
        gx, gy = np.meshgrid(np.arange(wx, dtype=float), np.arange(wy, dtype=float), indexing="ij")
        pos = np.stack([gx.ravel() - wx / 2, gy.ravel() - wy / 2], axis=1)
    xo = np.repeat(pos[:, 0], sub.n_orb)
    yo = np.repeat(pos[:, 1], sub.n_orb)
    # core cells: offsets of core_x within xs
    ox = np.nonzero(np.isin(np.asarray(xs) % lat.Lx, np.asarray(core_x) % lat.Lx))[0]
    oy = np.nonzero(np.isin(np.asarray(ys) % lat.Ly, np.asarray(core_y) % lat.Ly))[0]
    cx, cy = np.meshgrid(ox, oy, indexing="ij")
    cells = (cx * wy + cy).ravel()
    rows = (cells[:, None] * sub.n_orb + np.arange(sub.n_orb)).ravel()
    k = rows.size
    if solver == "eigh":  # exact projector of the window (sharp Fermi step)
        E, V = np.linalg.eigh(H.toarray())
        Vo = V[:, E < ef]
        v = Vo @ Vo[rows].conj().T
        w = yo[:, None] * v
        qyp = w - Vo @ (Vo.conj().T @ w)
    else:
        Ht = ((H - center * sp.identity(d, format="csr")) / half).tocsr()
        E0 = np.zeros((d, k), dtype=np.complex128)
        E0[rows, np.arange(k)] = 1.0
        v = _apply_poly(Ht, E0, coef)
        w = yo[:, None] * v
        qyp = w - _apply_poly(Ht, w, coef)
    val = np.einsum("ak,ak->k", np.conj(xo[:, None] * v), qyp)
    c = 4 * np.pi * val.imag / lat.cell_area
    idem = np.abs(np.einsum("ak,ak->k", v.conj(), v).real - v[rows, np.arange(k)].real)
    c = c.reshape(len(ox), len(oy), sub.n_orb).sum(-1)
    return c, idem.reshape(len(ox), len(oy), sub.n_orb).max(-1)


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
    solver: str = "eigh",
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
        Side of the core blocks (default ``DEFAULT_CORE``).
    tol : float
        Sup-norm accuracy of the Chebyshev projector on the spectrum away from the gap. The
        expansion interval is the tighter of Gershgorin's bounds and the clean bands' range
        widened by the disorder (Weyl; every window's spectrum lies within it), so the degree
        scales with (band width) / gap.
    gap : float, optional
        A lower bound on the distance from the Fermi level to the spectrum. Default: the gap of
        the clean lattice's bands minus ``W / 2`` (Weyl's bound for Anderson disorder); when that
        is not positive, 2% of the spectral width (and a :class:`~tntopo.GaplessWarning`).
    solver : {"chebyshev", "eigh"}
        How a window's projector acts: ``"chebyshev"`` (sparse products with the window
        Hamiltonian, never a dense matrix) or ``"eigh"`` (dense ``eigh`` of the window
        Hamiltonian: a sharp Fermi step, so edge states of open samples are occupied exactly as
        in the dense route; ``gap``/``tol`` unused). Both cost ``O(N)``.
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
    if solver not in ("chebyshev", "eigh"):
        raise ValueError(f"unknown solver {solver!r}; choose 'chebyshev' or 'eigh'")
    buffer = DEFAULT_BUFFER if buffer is None else buffer
    core = DEFAULT_CORE if core is None else core
    try:
        tol = float(tol)
    except (TypeError, ValueError):
        raise ValueError(f"tol must be a positive number, got {tol!r}") from None
    if not (0 < tol < 1):
        raise ValueError(f"tol must be in (0, 1), got {tol!r}")
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
    sigma = g / math.sqrt(2 * math.log(1 / eps))
    coef = None if solver == "eigh" else chebyshev_step_coefficients(
        round((fermi_level - center) / half, 12), round(sigma / half, 12), eps
    )

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
        return _window_marker(lat, ws_x, ws_y, cs_x, cs_y, coef, center, half, fermi_level, sigma, solver)

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
                lat, shrink(cs_x, Lx, px), shrink(cs_y, Ly, py), cs_x, cs_y, coef, center, half, fermi_level, sigma,
                solver,
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
