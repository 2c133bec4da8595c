"""Exact integer winding numbers: Bloch (clean chains) and twisted boundaries (periodic chains).

Both count zeros of a Laurent polynomial inside the unit circle (:mod:`tntopo._laurent`):

* Bloch: ``h(z) = sum_m t_m z^m`` and ``W = #zeros(z^{-m_min} h(z), |z|<1) + m_min``;
* twisted: ``det h(theta)`` of a ring whose bonds of range ``m`` carry ``exp(i theta m / N)`` is a
  Laurent polynomial in ``z = exp(i theta)`` with powers ``m_min..m_max``; its winding as
  ``theta`` goes around is ``W``.

An exact route either returns the right integer or raises:

* every count is *certified*: the companion-matrix zeros and an argument-principle count on a
  grid refined with a derivative bound must agree (:func:`tntopo._laurent.certified_zero_count`);
* the twisted determinants come from a banded LU of the *folded* ring (cells ordered
  ``0, N-1, 1, N-2, ...``: the same permutation of rows and columns keeps the determinant and
  turns the periodic banded matrix into a non-periodic one of bandwidth ``<= 2 max|m| + 1``),
  whose pivot growth is bounded independently of ``N``; ``O(N max|m|^2)`` time, ``O(N max|m|)``
  memory for every ``N``;
* the polynomial is read from ``K >= max(8, 2 (span + 1))`` twists, more than the ``span + 1``
  it needs: the DFT coefficients outside the band must vanish, and their size ``delta`` bounds
  the noise. The count is returned only if ``min_{|z|=1} |p(z)| > 10 (span + 1) delta``
  (Rouché: the noise cannot move a zero across the circle).

A zero on (or within ``gap_tol`` of) the unit circle means the system is gapless: the winding
number is undefined and :class:`~tntopo.GaplessError` is raised. Noise too large to certify the
count raises :class:`~tntopo.PrecisionError`.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from ..._typing import strict_keywords
from ..._laurent import GAP_TOL, certified_zero_count, laurent_coefficients, sampled_min_abs
from ...systems.chain import certified_windings
from ...errors import GaplessError, PrecisionError

__all__ = [
    "bloch_winding",
    "twisted_winding",
    "twisted_determinants",
    "bloch_winding_coefficients",
    "bloch_gap",
]

#: Rouché safety factor of the twisted route: min |p| on the circle must exceed this many noise bounds.
ROUCHE_SAFETY = 10.0
#: Relative noise of the twisted-determinant polynomial above which a failed certificate is a
#: :class:`PrecisionError` (below it, ``p`` nearly vanishing on the circle is a real transition).
NOISE_LIMIT = 1e-8

def bloch_winding_coefficients(c, m_min: int, check_gap: bool = True, gap_tol: float = GAP_TOL):
    """Certified winding numbers of Laurent polynomials ``sum_k c[:, k] z^(k + m_min)``.

    Same as :func:`tntopo.systems.chain.certified_windings` (returns ``(W, margin)``; raises
    :class:`~tntopo.GaplessError` with ``check_gap`` for gapless rows, and
    :class:`~tntopo.PrecisionError` whenever the two independent zero counts disagree).
    """
    return certified_windings(c, m_min, check_gap=check_gap, gap_tol=gap_tol)


def bloch_gap(c, m_min: int, n_k: int = 1024) -> np.ndarray:
    """Bloch gap ``min_k |h(k)|`` of each row of coefficients (sampled on ``n_k`` momenta)."""
    return sampled_min_abs(c, m_min, n_k)


@strict_keywords
def bloch_winding(hoppings, gap_tol: float = GAP_TOL) -> int:
    """Exact (certified) winding number of a clean chain from its hoppings ``{m: t_m}``.

    Raises
    ------
    GaplessError
        If ``h(k) = 0`` for some ``k`` (a zero of ``h(z)`` within ``gap_tol`` of the unit circle).
    PrecisionError
        If the two independent zero counts disagree.
    """
    ranges = sorted(hoppings)
    c, m_min = laurent_coefficients(np.array([[complex(hoppings[m]) for m in ranges]]), ranges)
    W, _ = bloch_winding_coefficients(c, m_min, gap_tol=gap_tol)
    return int(W[0])


# ------------------------------------------------------------------------------ twisted route
def fold_order(n_cells: int) -> np.ndarray:
    """Position of each cell in the folded order ``0, N-1, 1, N-2, 2, ...`` (``pos[cell]``)."""
    N = int(n_cells)
    cells = np.empty(N, dtype=np.int64)
    cells[0::2] = np.arange((N + 1) // 2)
    cells[1::2] = N - 1 - np.arange(N // 2)
    pos = np.empty(N, dtype=np.int64)
    pos[cells] = np.arange(N)
    return pos


class _FoldedRing:
    """The twisted A->B block of a ring in LAPACK band storage after folding.

    Entry ``h[n, (n - m) mod N] = b_m[n] exp(i theta m / N)`` goes to row ``pos[n]``, column
    ``pos[(n - m) mod N]``; the bandwidths ``kl, ku`` are checked to be ``<= 2 max|m| + 1``.
    """

    def __init__(self, bonds: np.ndarray, ranges, n_cells: int):
        N = int(n_cells)
        pos = fold_order(N)
        n = np.arange(N)
        rows = np.concatenate([pos[n] for _ in ranges])
        cols = np.concatenate([pos[(n - m) % N] for m in ranges])
        r = max(abs(int(m)) for m in ranges)
        self.kl = max(int(np.max(rows - cols)), 0)
        self.ku = max(int(np.max(cols - rows)), 0)
        if max(self.kl, self.ku) > 2 * r + 1:  # pragma: no cover - a proof, checked at run time
            raise AssertionError(f"folded bandwidth ({self.kl}, {self.ku}) exceeds 2*{r}+1")
        self.N = N
        self.vals = np.concatenate([np.asarray(bonds[i], dtype=complex) for i in range(len(ranges))])
        self.m = np.concatenate([np.full(N, int(m)) for m in ranges])
        self.band_rows = self.kl + self.ku + rows - cols  # LAPACK band storage: row kl + ku + i - j
        self.band_cols = cols
        self.ldab = 2 * self.kl + self.ku + 1
        self.scale = float(np.max(np.abs(self.vals))) if self.vals.size else 0.0

    def log_det(self, theta: float) -> Tuple[float, float, float]:
        """``(log|det|, arg det, growth)`` of ``h(theta)``; ``log|det| = -inf`` if exactly singular.

        ``growth`` is ``max |U| / max |h|`` of the banded LU (the element growth of the pivoting).
        """
        from scipy.linalg.lapack import zgbtrf

        ab = np.zeros((self.ldab, self.N), dtype=complex, order="F")
        ab[self.band_rows, self.band_cols] = self.vals * np.exp(1j * theta * self.m / self.N)
        lu, ipiv, info = zgbtrf(ab, self.kl, self.ku, overwrite_ab=1)
        if info < 0:  # pragma: no cover - argument error: a bug, not a property of the chain
            raise RuntimeError(f"zgbtrf argument {-info} is invalid")
        d = lu[self.kl + self.ku]
        if info > 0 or np.any(d == 0):
            return -np.inf, 0.0, np.inf
        # scipy returns 0-based pivots (LAPACK's are 1-based): row i was swapped with row ipiv[i]
        swaps = int(np.count_nonzero(ipiv != np.arange(self.N)))
        log_abs = float(np.sum(np.log(np.abs(d))))
        arg = float(np.sum(np.angle(d)) + np.pi * (swaps % 2))
        growth = float(np.abs(lu[: self.kl + self.ku + 1]).max() / self.scale) if self.scale else 0.0
        return log_abs, arg, growth


def n_twists_for(span: int) -> int:
    """Default number of twist samples: ``max(8, 2 (span + 1))`` (oversampled, for the self-check)."""
    return max(8, 2 * (int(span) + 1))


@strict_keywords
def twisted_determinants(chain, n_twists: Optional[int] = None):
    """Twisted-boundary determinants ``det h(theta_j)`` of a ring, ``theta_j = 2 pi j / K``.

    Parameters
    ----------
    chain : SSHChain
        A periodic chain (clean, disordered, or built with :meth:`SSHChain.from_bonds`).
    n_twists : int, optional
        ``K`` (default :func:`n_twists_for` of the span ``max(ranges) - min(ranges)``).

    Returns
    -------
    theta : ndarray, shape (K,)
    log_abs : ndarray, shape (K,)
        ``log |det h(theta_j)|`` (``-inf`` where exactly singular).
    arg : ndarray, shape (K,)
        ``arg det h(theta_j)``.
    growth : ndarray, shape (K,)
        Element growth ``max |U| / max |h|`` of each banded LU.
    """
    if chain.boundary != "periodic":
        raise ValueError(
            "method='twisted' needs a periodic chain; use chain.with_boundary('periodic') or "
            "method='dense' for an open chain"
        )
    ranges = chain.ranges
    span = max(ranges) - min(ranges)
    K = n_twists_for(span) if n_twists is None else int(n_twists)
    if K < span + 1:
        raise ValueError(f"n_twists={K} is below span + 1 = {span + 1}; use at least {n_twists_for(span)}")
    ring = _FoldedRing(chain.bond_array, ranges, chain.n_cells)
    theta = 2 * np.pi * np.arange(K) / K
    out = np.array([ring.log_det(t) for t in theta]).reshape(K, 3)
    return theta, out[:, 0], out[:, 1], out[:, 2]


@strict_keywords
def twisted_winding(chain, gap_tol: float = GAP_TOL, *, n_twists: Optional[int] = None) -> int:
    """Exact (certified) winding number of a periodic chain, clean or disordered, from twisted boundaries.

    Parameters
    ----------
    chain : SSHChain
        A chain with ``boundary="periodic"``.
    gap_tol : float
        Zeros of the determinant polynomial within this distance of the unit circle mean gapless.
    n_twists : int, optional
        Number of twist samples ``K`` (default ``max(8, 2 (span + 1))``; at least ``span + 2``
        for the self-check).

    Raises
    ------
    ValueError
        If the chain is open.
    GaplessError
        If ``det h(theta)`` vanishes (or nearly) for some twist ``theta``.
    PrecisionError
        If the determinant samples are not consistent with a Laurent polynomial of the chain's
        span to within what the Rouché certificate tolerates.
    """
    theta, log_abs, arg, _ = twisted_determinants(chain, n_twists)
    ranges = chain.ranges
    m_min, m_max = min(ranges), max(ranges)
    span = m_max - m_min
    K = len(theta)
    if K < span + 2:
        raise ValueError(f"n_twists={K} leaves no room for the self-check; use at least {n_twists_for(span)}")
    if np.any(~np.isfinite(log_abs)):
        raise GaplessError(
            "det h(theta) = 0 at a twist theta: the chain is gapless (a zero mode at some twisted "
            "boundary); move the hoppings away from the transition or use method='dense'"
        )
    f = np.exp(log_abs - log_abs.max() + 1j * arg)
    # det h(theta) = sum_{k=m_min}^{m_max} c_k e^{i k theta}: remove the e^{i m_min theta} factor
    g = f * np.exp(-1j * m_min * theta)
    coef = np.fft.fft(g) / K  # coefficient of e^{i k theta}, k = 0..K-1
    c, rest = coef[: span + 1], coef[span + 1:]
    delta = max(float(np.abs(rest).max()), np.finfo(float).eps)
    noise = (span + 1) * delta  # bound of |p_true - p| on the circle
    W, margin, lower, status = certified_zero_count(c[None], m_min, gap_tol=gap_tol)
    certified = status[0] == 0 and lower[0] > ROUCHE_SAFETY * noise
    if certified:
        return int(W[0])
    if status[0] == 2 or noise > NOISE_LIMIT:
        raise PrecisionError(
            f"the twisted-boundary determinants of {chain!r} are not consistent with a Laurent "
            f"polynomial of span {span} (out-of-band DFT coefficients up to {delta:.2g} of the "
            f"largest determinant; min |det| on the circle >= {lower[0]:.2g}): the winding number "
            "cannot be certified; use method='dense'"
        )
    raise GaplessError(
        f"det h(theta) nearly vanishes at a twist theta (min |det| / max |det| <= "
        f"{max(lower[0], ROUCHE_SAFETY * noise):.2g}): the chain is gapless or at a phase transition; "
        "move the hoppings away from it or use method='dense' for a real-space value"
    )
