"""The local (windowed) real-space route: ``O(N)`` winding numbers and markers of long chains.

The marker ``w(n) = sum_j |Q_nj|^2 (x_n - x_j)`` of a gapped chain only depends on the chain
within a few localization lengths ``xi`` of cell ``n``: cutting the chain at a distance ``b``
changes ``w(n)`` by ``O(b^2 exp(-2 b / xi))``. This module therefore

1. estimates ``xi`` (clean chains: from the Bloch zeros, ``xi = 1 / min_i |ln|z_i||``;
   disordered chains and raw blocks: from the Lyapunov exponents of the zero-energy transfer
   matrix ``sum_m t_{m,n} psi(n - m) = 0``, which reduce to ``ln|z_i|`` without disorder);
2. picks a buffer ``b ~ xi ln(1/tol) / 2`` (user override ``LocalOptions(buffer=...)``);
3. cuts the requested cells into cores of ``core`` cells, each inside a window of
   ``core + 2 b`` cells built directly from the chain's bonds (never the ``N x N`` block),
   clamped to the chain's ends (open chains) or wrapping around (rings);
4. batches all windows (one size) through :func:`~tntopo.invariants.winding.dense.polar_factor`
   and contracts the markers with :func:`tntopo.tn.contract_rswn`;
5. checks a few cells again with a larger buffer and warns (:class:`~tntopo.GaplessWarning`)
   when the two disagree, or when ``xi`` diverges (near a transition) so that the buffer had
   to be capped.

Time and memory are ``O(N b^2)`` and ``O(b^2 * batch)``.

The winding number of an open chain needs far less: since rows and columns of ``|Q|^2`` sum to
one, the sum of the markers over the region ``R`` equals a sum over pairs of cells on opposite
sides of a boundary of ``R``,

.. math:: \\sum_{n \\in R} w(n) = \\sum_{n \\in R} (x^A_n - x^B_n)
          + \\sum_{n \\notin R,\\, j \\in R} |Q_{nj}|^2 x^B_j
          - \\sum_{n \\in R,\\, j \\notin R} |Q_{nj}|^2 x^B_j ,

so :func:`winding_number_local` only builds the windows around the boundaries of ``R`` (four for
the default region): its cost does not grow with ``N`` beyond reading the bonds. The a-posteriori
check then compares the winding number itself with a 1.5x larger buffer. Regions with many
boundaries or reaching near an end of the chain (where ``Q`` pairs the edge zero modes of the two
ends, an entry across the whole chain), and rings (minimum-image positions), use the sum of the
markers.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import Dict, Optional, Tuple

import numpy as np

from ..._blas import single_threaded_blas
from ..._bonds import window_blocks
from ..._laurent import companion_zeros, laurent_coefficients
from ..._typing import check_integer, strict_keywords
from ...systems.chain import ChainBatch, ChiralHamiltonian, SSHChain
from .._routes import LocalOptions, local_keywords
from . import dense as realspace

__all__ = [
    "localization_length",
    "auto_buffer",
    "winding_number_local",
    "local_markers",
    "LocalInfo",
    "LocalOptions",
    "DEFAULT_TOL",
    "MAX_BUFFER",
]

#: Target truncation error of each marker when the buffer is chosen automatically.
DEFAULT_TOL = 1e-10
#: Safety factor on the buffer (fluctuations of the local decay rate in disordered chains).
SAFETY = 1.3
#: Largest automatic buffer; beyond it (``xi`` diverging near a transition) a warning is issued.
MAX_BUFFER = 400
#: Discrepancy of the a-posteriori check above which a :class:`GaplessWarning` is issued.
CHECK_TOL = 1e-6
#: Matrix elements per batch of windows (bounds the memory to a few hundred MB).
_BATCH_ELEMS = 1 << 22
#: Cells used to estimate Lyapunov exponents of long-range disordered chains.
_LYAPUNOV_CELLS = 4000


# ---------------------------------------------------------------------------- banded systems
@dataclass
class _Banded:
    """A chain as bonds: ``bonds[k, n] = h[n, n - ranges[k]]`` (``O(N)`` memory)."""

    bonds: np.ndarray
    ranges: Tuple[int, ...]
    n_cells: int
    boundary: str
    positions: Optional[Tuple[np.ndarray, np.ndarray]] = None  # None: x_n = n
    clean_hoppings: Optional[Dict[int, complex]] = None

    @property
    def reach(self) -> int:
        return max((abs(m) for m in self.ranges), default=0)

    def block(self) -> np.ndarray:
        """The full ``N x N`` block (only used when one window covers the whole chain)."""
        return self.windows(np.zeros(1, dtype=np.int64), self.n_cells, self.boundary == "periodic")[0]

    def windows(self, starts: np.ndarray, L: int, wrap=False) -> np.ndarray:
        """A->B blocks of the windows ``[s, s + L)`` (see :func:`tntopo._bonds.window_blocks`)."""
        return window_blocks(self.bonds, self.ranges, self.n_cells, self.boundary, starts, L, wrap)


def _from_chain(chain: SSHChain) -> _Banded:
    return _Banded(
        bonds=chain.bond_array,
        ranges=tuple(chain.ranges),
        n_cells=chain.n_cells,
        boundary=chain.boundary,
        clean_hoppings=dict(chain.hoppings) if chain.is_clean else None,
    )


def _from_dense(h: np.ndarray, positions=None) -> _Banded:
    """Bonds of a dense (open) block; the block must be short-ranged."""
    N = h.shape[-1]
    r, c = np.nonzero(h)
    offsets = np.unique(r - c) if r.size else np.zeros(1, dtype=np.int64)
    reach = int(np.abs(offsets).max())
    if reach > max(N // 4, 1):
        raise ValueError(
            f"the local route needs short-range hoppings (h[n, n-m] with |m| much smaller than N), but "
            f"this {N}-cell block has a bond of range {reach}; use method='dense'"
        )
    bonds = np.zeros((len(offsets), N), dtype=h.dtype)
    for k, m in enumerate(offsets):
        m = int(m)
        d = np.diagonal(h, offset=-m)  # h[n, n - m]
        if m >= 0:
            bonds[k, m:] = d
        else:
            bonds[k, : N + m] = d
    if positions is not None:
        xa, xb = (np.asarray(p, dtype=float) for p in positions)
        if np.array_equal(xa, xb) and np.allclose(np.diff(xa), 1.0):
            positions = None
        else:
            positions = (xa, xb)
    return _Banded(bonds, tuple(int(m) for m in offsets), N, "open", positions)


# --------------------------------------------------------------------- localization length
def _xi_from_exponents(gammas) -> float:
    g = np.abs(np.asarray(gammas, dtype=float))
    if g.size == 0:
        return 0.0
    gmin = g.min()
    if np.isnan(gmin) or gmin == 0:
        return math.inf
    return 0.0 if np.isinf(gmin) else float(1.0 / gmin)


def _clean_xi(hoppings: Dict[int, complex]) -> float:
    ranges = sorted(m for m, t in hoppings.items() if t != 0)
    if not ranges:
        return math.inf
    c, _ = laurent_coefficients([[complex(hoppings[m]) for m in ranges]], ranges)
    roots = companion_zeros(c)[0]  # zeros of sum_k c_k z^k (c[0, -1] != 0: no zero at infinity)
    if roots.size == 0:
        return 0.0
    with np.errstate(divide="ignore"):
        return _xi_from_exponents(np.log(np.abs(roots)))


def _lyapunov(b: _Banded) -> np.ndarray:
    """Lyapunov exponents of the zero-energy recursion ``sum_m t_{m,n} psi(n-m) = 0``."""
    ranges = [m for m in b.ranges]
    m_min, m_max = min(ranges), max(ranges)
    d = m_max - m_min
    if d == 0:
        return np.array([math.inf])
    N = b.n_cells
    if b.boundary == "open":
        lo, hi = m_max if m_max > 0 else 0, N + min(m_min, 0)
    else:
        lo, hi = 0, N
    if hi - lo > _LYAPUNOV_CELLS and d > 1:
        mid = (lo + hi) // 2
        lo, hi = mid - _LYAPUNOV_CELLS // 2, mid + _LYAPUNOV_CELLS // 2
    if hi - lo < 2 * d + 2:
        return np.array([0.0])  # too short to tell: treat as gapless (largest buffer)
    coef = np.zeros((d + 1, hi - lo), dtype=complex)  # coef[j, n] = t_{m_min + j, n}
    for k, m in enumerate(b.ranges):
        coef[m - m_min] += b.bonds[k, lo:hi]
    a = np.abs(coef)
    tiny = np.finfo(float).tiny ** 0.5
    if d == 1:
        with np.errstate(divide="ignore"):
            return np.array([np.mean(np.log(np.maximum(a[1], tiny))) - np.mean(np.log(np.maximum(a[0], tiny)))])
    lead = np.where(a[0] > tiny, coef[0], tiny)
    T = np.zeros((d, d), dtype=complex)
    T[np.arange(1, d), np.arange(d - 1)] = 1.0
    Qm = np.eye(d, dtype=complex)
    acc = np.zeros(d)
    for n in range(coef.shape[1]):
        T[0, :] = -coef[1:, n] / lead[n]
        Qm, R = np.linalg.qr(T @ Qm)
        acc += np.log(np.maximum(np.abs(np.diag(R)), tiny))
    return acc / coef.shape[1]


@strict_keywords
def localization_length(system) -> float:
    """Localization length ``xi`` (in cells) that sets the decay of the flat-band block ``Q``.

    Parameters
    ----------
    system : SSHChain, ChiralHamiltonian or array_like (N, N)

    Returns
    -------
    float
        Clean chains: ``1 / min_i |ln|z_i||`` over the zeros of ``h(z) = sum_m t_m z^m``.
        Disordered chains and raw blocks: ``1 / min_i |gamma_i|`` over the Lyapunov exponents
        of the zero-energy transfer matrix (exact for nearest-neighbour chains:
        ``gamma = E ln|t_1| - E ln|t_0|`` sampled over the chain's bonds). ``inf`` at a
        transition, ``0`` for flat-band chains.
    """
    return _xi(_as_banded(system)[0][0])


def _xi(b: _Banded) -> float:
    if b.clean_hoppings is not None:
        return _clean_xi(b.clean_hoppings)
    return _xi_from_exponents(_lyapunov(b))


@strict_keywords
def auto_buffer(xi: float, reach: int = 1, tol: float = DEFAULT_TOL, max_buffer: int = MAX_BUFFER) -> Tuple[int, bool]:
    """Buffer (cells on each side of a core) for localization length ``xi``.

    The truncation error of a marker is about ``b^2 exp(-2 b / xi)``: ``b`` solves
    ``b = SAFETY * xi / 2 * (ln(1/tol) + 2 ln b) + 2 * reach``, at least ``2 * reach + 2``, at
    most ``max_buffer``. Returns ``(b, capped)``.
    """
    base = 2 * reach + 2
    if not math.isfinite(xi):
        return int(max_buffer), True
    # error ~ b^2 exp(-2 b / xi): solve b = SAFETY * xi/2 * (ln(1/tol) + 2 ln b) by iteration
    b = float(base)
    for _ in range(20):
        b_new = SAFETY * xi / 2.0 * (math.log(1.0 / tol) + 2.0 * math.log(max(b, 1.0))) + 2 * reach
        if abs(b_new - b) < 0.5 or b_new > 10 * max_buffer:
            b = b_new
            break
        b = b_new
    b = max(int(math.ceil(b)), base)
    if b > max_buffer:
        return int(max_buffer), True
    return b, False


# ------------------------------------------------------------------------------ main driver
@dataclass
class LocalInfo:
    """Diagnostics of one local computation (``return_info=True``).

    Attributes
    ----------
    xi : float
        Estimated localization length (cells); ``nan`` when the user gave ``buffer``.
    buffer, core, window : int
        Buffer on each side, cells per core, window size ``core + 2 * buffer``.
    n_windows : int
    error_estimate : float
        Largest change of a checked marker when the buffer grows by half (``nan`` if not checked
        or the whole chain fit in one window, where the result is exact); for a winding number
        from the boundary sum (see the module notes), the change of the winding number itself.
    whole_chain : bool
        True when one window covered the whole chain (then it equals the dense route).
    """

    xi: float
    buffer: int
    core: int
    window: int
    n_windows: int
    error_estimate: float
    whole_chain: bool


def _as_banded(system):
    """Return ``(list of _Banded, single)`` for a chain, a ChiralHamiltonian or raw blocks."""
    if isinstance(system, SSHChain):
        return [_from_chain(system)], True
    if isinstance(system, ChainBatch):
        return [_from_chain(c) for c in system], False
    if isinstance(system, ChiralHamiltonian):
        return [_from_dense(system.hopping_block(), (system.positions_A, system.positions_B))], True
    h = realspace.as_blocks(system)
    if h.ndim == 2:
        return [_from_dense(h)], True
    return [_from_dense(hi) for hi in h], False


def _with_defaults(local: Optional[LocalOptions], function: str) -> LocalOptions:
    """``local`` (checked) with the route's defaults where a field is ``None`` (``buffer`` and
    ``core`` stay ``None``: chosen per chain; ``threads`` too: chosen per batch of windows)."""
    o = LocalOptions.ensure(function, local) or LocalOptions()
    return replace(o, tol=DEFAULT_TOL if o.tol is None else o.tol,
                   max_buffer=MAX_BUFFER if o.max_buffer is None else o.max_buffer,
                   check=True if o.check is None else o.check)


def _resolve_buffer(b: _Banded, o: LocalOptions):
    """``(buffer, xi, automatic)`` of chain ``b`` (``o`` with its defaults filled in)."""
    buffer, tol = o.buffer, o.tol
    reach = max(b.reach, 1)
    if buffer is None:
        xi = _xi(b)
        buf, capped = auto_buffer(xi, reach, tol, check_integer("max_buffer", o.max_buffer, reach))
        if capped and 2 * buf + 1 <= b.n_cells:  # (a chain inside one window is computed exactly)
            realspace.warn_gapless(
                f"localization length xi = {xi:.3g} cells is too long for the local route (the chain is "
                f"near a phase transition): the buffer is capped at {buf} cells and the markers are not "
                "converged; move away from the transition, raise LocalOptions(max_buffer=...), or use method='dense'"
            )
        return buf, xi, True
    buf = check_integer("buffer", buffer, 1)
    if buf < reach:
        raise ValueError(
            f"buffer={buf} is smaller than the hopping range {reach}: the window would cut the bonds "
            f"of its own central cells; use buffer >= {reach} (better several localization lengths)"
        )
    N = b.n_cells
    if 2 * buf + 1 > N:
        raise ValueError(
            f"buffer={buf} does not fit a chain of {N} cells (a window needs 2*buffer+1 <= {N} cells); "
            "use a smaller buffer, or method='dense' for a chain this short"
        )
    return buf, math.nan, False


def _plan(cells: np.ndarray, N: int, boundary: str, buf: int, core: int, reach: int):
    """Windows for sorted unique ``cells``.

    Returns ``(starts, L, inv, rows, wrap)``: window starts and size, the window and row of each
    cell, and which windows are closed into rings (all on a ring; on an open chain those whose
    bonds to the outside exist, i.e. not clamped to a chain end).
    """
    L = core + 2 * buf
    first = int(cells[0])
    bid = (cells - first) // core
    ub, inv = np.unique(bid, return_inverse=True)
    core_start = first + ub * core
    starts = core_start - buf
    if boundary == "open":
        wrap = (starts >= reach) & (starts + L + reach <= N)
        starts = np.clip(starts, 0, N - L)
        rows = cells - starts[inv]
    else:
        wrap = np.ones(len(starts), dtype=bool)
        starts = starts % N
        rows = (cells - starts[inv]) % N
    return starts.astype(np.int64), L, inv, rows, wrap


def _window_markers(b: _Banded, starts: np.ndarray, L: int, wrap: np.ndarray, threads=None, bar=None) -> np.ndarray:
    """Markers of every cell of every window, ``(n_windows, L)``, batched (``bar``: a tqdm bar
    advanced by the number of windows done)."""
    from ...tn import contract_rswn

    out = np.empty((len(starts), L))
    per = max(1, _BATCH_ELEMS // (L * L))
    kernels = {False: realspace.position_kernel(L, "open"), True: realspace.position_kernel(L, "periodic")}
    ncpu = os.cpu_count() or 1
    for s in range(0, len(starts), per):
        st, wr = starts[s:s + per], wrap[s:s + per]
        nt = threads if threads is not None else max(1, min(ncpu, len(st) // 64))
        with single_threaded_blas():
            Q = realspace.polar_factor(b.windows(st, L, wr), threads=nt)
        res = np.empty((len(st), L))
        for flag in (False, True):
            sel = np.flatnonzero(wr == flag)
            if sel.size == 0:
                continue
            if b.positions is None:
                res[sel] = np.asarray(contract_rswn(Q[sel], kernels[flag], None))
            else:  # custom cell coordinates (only open chains): per-window kernels
                xa, xb = b.positions
                idx = st[sel][:, None] + np.arange(L)[None, :]
                Xw = xa[idx][:, :, None] - xb[idx][:, None, :]
                if flag:
                    span = xa[idx].max(axis=1) - xa[idx].min(axis=1) + 1.0
                    Xw = Xw - span[:, None, None] * np.round(Xw / span[:, None, None])
                res[sel] = np.einsum("wac,wac->wa", (Q[sel] * Q[sel].conj()).real, Xw)
        out[s:s + per] = res
        if bar is not None:
            bar.update(len(st))
    return out


def _markers_banded(b: _Banded, cells: np.ndarray, o: LocalOptions, progress=False):
    N = b.n_cells
    buf, xi, auto = _resolve_buffer(b, o)
    core, check, threads = (buf if o.core is None else o.core), o.check, o.threads
    order = np.argsort(cells, kind="stable")
    sc = cells[order]
    if core + 2 * buf >= N:
        core = max(1, N - 2 * buf)
    if 2 * buf + 1 > N or core + 2 * buf > N:
        # one window is the whole chain: exact (identical to the dense route)
        w_all = realspace.markers_from_blocks(
            b.block(), b.boundary, b.positions, threads=threads
        )
        info = LocalInfo(xi, buf, N, N, 1, math.nan, True)
        return w_all[cells], info
    starts, L, inv, rows, wrap = _plan(sc, N, b.boundary, buf, core, b.reach)
    from tqdm.auto import tqdm

    with tqdm(total=len(starts), desc="local windows", unit="window", disable=not progress) as bar:
        wm = _window_markers(b, starts, L, wrap, threads, bar)
    vals = wm[inv, rows]
    err = math.nan
    if check and len(sc):
        buf2 = buf + max(2, buf // 2)
        if 2 * buf2 + 1 <= N:
            # worst placed cells: first and last of a core (least buffer on one side)
            edge = np.flatnonzero(np.isin(rows - buf, (0, core - 1)))
            pool = edge if edge.size else np.arange(len(sc))
            pick = pool[np.unique(np.linspace(0, len(pool) - 1, min(6, len(pool))).astype(int))]
            s2, L2, inv2, rows2, wrap2 = _plan(sc[pick], N, b.boundary, buf2, 1, b.reach)
            v2 = _window_markers(b, s2, L2, wrap2, threads)[inv2, rows2]
            err = float(np.max(np.abs(v2 - vals[pick])))
            if err > CHECK_TOL:
                realspace.warn_gapless(
                    f"local markers are not converged: growing the buffer from {buf} to {buf2} cells changes "
                    f"them by {err:.2g} (localization length estimate xi = {xi:.3g}); the chain is close to a "
                    "transition or strongly disordered -- pass a larger LocalOptions(buffer=...) or use method='dense'"
                )
    out = np.empty(len(cells))
    out[order] = vals
    return out, LocalInfo(xi, buf, core, L, len(starts), err, False)


#: The boundary sum is used when it needs at most this fraction of the cells the marker sum needs.
_BOUNDARY_FRACTION = 0.5


def _boundary_rows(mask: np.ndarray, buf: int) -> np.ndarray:
    """Cells within ``buf`` of a boundary of the region ``mask`` of an open chain (where it changes)."""
    N = mask.size
    edges = np.flatnonzero(mask[1:] != mask[:-1]) + 1  # cell b starts a new run
    if edges.size == 0:
        return np.zeros(0, dtype=np.int64)
    near = np.zeros(N + 1, dtype=np.int64)  # difference array of [b - buf, b + buf)
    np.add.at(near, np.clip(edges - buf, 0, N), 1)
    np.add.at(near, np.clip(edges + buf, 0, N), -1)
    return np.flatnonzero(np.cumsum(near[:-1]) > 0)


def _boundary_terms(b: _Banded, mask: np.ndarray, rows_cells: np.ndarray, buf: int, core: int, threads=None,
                    bar=None):
    """``sum_{n in rows, j: mask_j != mask_n, |n - j| <= buf} s_n |Q_nj|^2 x_j`` with ``s_n = +1`` outside
    the region, ``-1`` inside, and ``x`` the B positions relative to the region's mean; and the number
    of windows it took."""
    N = b.n_cells
    starts, L, inv, rows, wrap = _plan(rows_cells, N, b.boundary, buf, core, b.reach)
    xb = np.arange(N, dtype=float) if b.positions is None else b.positions[1]
    x0 = float(np.mean(xb[mask]))
    sign = np.where(mask[rows_cells], -1.0, 1.0)
    total = 0.0
    per = max(1, _BATCH_ELEMS // (L * L))
    ncpu = os.cpu_count() or 1
    loc = np.arange(L)
    for s in range(0, len(starts), per):
        st, wr = starts[s:s + per], wrap[s:s + per]
        nt = threads if threads is not None else max(1, min(ncpu, len(st) // 64))
        with single_threaded_blas():
            Q = realspace.polar_factor(b.windows(st, L, wr), threads=nt)
        sel = np.flatnonzero((inv >= s) & (inv < s + len(st)))
        w, r = inv[sel] - s, rows[sel]
        cols = st[w][:, None] + loc[None, :]  # global cells of each row's window (open chain: no wrap)
        keep = (np.abs(loc[None, :] - r[:, None]) <= buf) & (mask[cols] != mask[rows_cells[sel]][:, None])
        q2 = np.abs(Q[w, r]) ** 2
        total += float(np.sum(sign[sel] * np.sum(np.where(keep, q2 * (xb[cols] - x0), 0.0), axis=1)))
        if bar is not None:
            bar.update(len(st))
    return total, len(starts)


def _winding_boundary(b: _Banded, mask: np.ndarray, o: LocalOptions, progress=False):
    """The bulk average of the markers of an open chain as a sum over the region's boundaries.

    With ``Q`` unitary, ``sum_{n in R} w(n) = sum_{n in R} (xa_n - xb_n)
    + sum_{n not in R, j in R} |Q_nj|^2 xb_j - sum_{n in R, j not in R} |Q_nj|^2 xb_j``
    (rows and columns of ``|Q|^2`` sum to one): only pairs of cells on both sides of a boundary of
    ``R`` enter, within a few localization lengths of it, so the cost does not grow with ``N``.
    The pairs further apart than the buffer are dropped (as a window drops the chain beyond it).
    Returns ``(W, info)``, or None where the marker sum is cheaper (regions with many boundaries),
    the chain is a ring (minimum-image positions) or short enough for one window, or the region
    comes near an end of the chain (where the edge modes of the two ends pair up in ``Q``).
    """
    N = b.n_cells
    if b.boundary != "open":
        return None
    buf, xi, auto = _resolve_buffer(b, o)
    core, check, threads = (buf if o.core is None else o.core), o.check, o.threads
    if core + 2 * buf >= N or 2 * buf + 1 > N:
        return None
    if mask[:2 * buf].any() or mask[N - 2 * buf:].any():
        # near an end of the chain Q pairs the edge modes of both ends (an entry |Q_nj| ~ 1 across the
        # whole chain), which no window holds: keep the markers' own (documented) edge behaviour
        return None
    rows_cells = _boundary_rows(mask, buf)
    if rows_cells.size > _BOUNDARY_FRACTION * mask.sum():
        return None
    xa = np.arange(N, dtype=float) if b.positions is None else b.positions[0]
    xb = np.arange(N, dtype=float) if b.positions is None else b.positions[1]
    offset = float(np.sum(xa[mask] - xb[mask]))
    from tqdm.auto import tqdm

    with tqdm(desc="local windows", unit="window", disable=not progress) as bar:
        S, n_win = _boundary_terms(b, mask, rows_cells, buf, core, threads, bar) if rows_cells.size else (0.0, 0)
    err = math.nan
    if check and rows_cells.size:
        buf2 = buf + max(2, buf // 2)
        if core + 2 * buf2 < N:
            S2, _ = _boundary_terms(b, mask, _boundary_rows(mask, buf2), buf2, core, threads)
            err = abs(S2 - S) / mask.sum()
            if err > CHECK_TOL:
                realspace.warn_gapless(
                    f"the local winding number is not converged: growing the buffer from {buf} to {buf2} "
                    f"cells changes it by {err:.2g} (localization length estimate "
                    f"xi = {xi:.3g}); the chain is close to a transition or strongly disordered -- pass a "
                    "larger LocalOptions(buffer=...) or use method='dense'"
                )
    W = (offset + S) / mask.sum()
    return W, LocalInfo(xi, buf, core, core + 2 * buf, n_win, err, False)


def _cells_array(cells, N: int) -> np.ndarray:
    if cells is None:
        return np.arange(N)
    c = np.asarray(cells)
    if c.dtype == bool:
        if c.shape != (N,):
            raise ValueError(f"a boolean cell mask must have shape ({N},), got {c.shape}")
        return np.flatnonzero(c)
    if c.size and not np.issubdtype(c.dtype, np.integer):
        raise ValueError(f"cells must be integer cell indices, got dtype {c.dtype}")
    c = np.atleast_1d(c).astype(np.int64)
    if c.size == 0:
        raise ValueError("no cells requested; give at least one cell index")
    if c.min() < 0 or c.max() >= N:
        raise ValueError(f"cells must lie in [0, {N}), got {c.min()}..{c.max()}")
    return c


@local_keywords(LocalOptions)
@strict_keywords
def local_markers(
    system,
    cells=None,
    *,
    local: Optional[LocalOptions] = None,
    progress: bool = False,
    return_info: bool = False,
):
    """Local winding markers ``w(n)`` of selected cells, from windows of the chain (``O(N)``).

    Parameters
    ----------
    system : SSHChain, ChainBatch, ChiralHamiltonian or array_like (N, N) / (B, N, N)
    cells : array_like of int or bool mask, optional
        Cells to compute (default: all).
    local : LocalOptions, optional
        The route's options (``buffer``, ``core``, ``tol``, ``max_buffer``, ``check``,
        ``threads``; see :class:`~tntopo.LocalOptions`). Default: the automatic buffer from the
        localization length (:func:`localization_length`) for a truncation error about
        ``DEFAULT_TOL``, with the a-posteriori check. The former keywords ``buffer=`` ...
        ``threads=`` still work, with a :class:`FutureWarning`, for one release.
    progress : bool
        Show a progress bar (tqdm) over the windows; useful for chains of ``10^6`` cells.
    return_info : bool
        Also return a :class:`LocalInfo` (a list of them for a batch).

    Returns
    -------
    ndarray, shape (len(cells),) or (B, len(cells))

    Notes
    -----
    In the bulk the markers equal the dense route's to about ``tol``. Within a few ``xi`` of the
    ends of an open *topological* chain they do not: there ``Q`` depends on how the edge zero
    modes are paired, which is ambiguous (the dense route pairs the two ends of the chain, a
    window pairs an end with its own cut). Bulk averages are unaffected.
    """
    o = _with_defaults(local, "local_markers")
    bands, single = _as_banded(system)
    res, infos = [], []
    for b in bands:
        c = _cells_array(cells, b.n_cells)
        w, info = _markers_banded(b, c, o, progress)
        res.append(w)
        infos.append(info)
    out = res[0] if single else np.stack(res)
    if return_info:
        return out, (infos[0] if single else infos)
    return out


@local_keywords(LocalOptions)
@strict_keywords
def winding_number_local(
    system,
    region=None,
    *,
    local: Optional[LocalOptions] = None,
    warn: bool = True,
    progress: bool = False,
    return_info: bool = False,
):
    """Bulk-averaged winding number from local markers (the ``method="local"`` route).

    Same parameters as :func:`local_markers` (``local=``: a :class:`~tntopo.LocalOptions`);
    ``region`` is the bulk region (see
    :func:`tntopo.invariants.bulk_region`; default: the middle half of an open chain, all cells
    of a ring). On an open chain the markers' sum over the region is computed as a sum over the
    region's boundaries (only windows around them; the cost does not grow with ``N``; see the
    module notes); on a ring, or for a region with many boundaries, only the markers of the
    region's cells are computed and averaged. ``warn=False`` skips the
    :class:`~tntopo.GaplessWarning` for values far from an integer.

    Returns
    -------
    float, or ndarray of shape (B,) for a batch of raw blocks (plus :class:`LocalInfo` with
    ``return_info``).
    """
    o = _with_defaults(local, "winding_number_local")
    bands, single = _as_banded(system)
    Ws, infos = [], []
    for b in bands:
        mask = realspace.bulk_region(b.n_cells, b.boundary, region)
        res = _winding_boundary(b, mask, o, progress)
        if res is None:
            w, info = _markers_banded(b, np.flatnonzero(mask), o, progress)
            res = float(np.mean(w)), info
        Ws.append(float(res[0]))
        info = res[1]
        infos.append(info)
    W = np.array(Ws)
    if warn:
        realspace.warn_if_not_quantized(W)
    out = float(W[0]) if single else W
    if return_info:
        return out, (infos[0] if single else infos)
    return out
