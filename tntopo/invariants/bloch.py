"""Exact integer winding numbers: Bloch (clean chains) and twisted boundaries (periodic chains).

Both count zeros of a Laurent polynomial inside the unit circle:

* Bloch: ``h(z) = sum_m t_m z^m`` and ``W = #zeros(z^{-m_min} h(z), |z|<1) + m_min``;
* twisted: ``det h(theta)`` of a ring whose bonds of range ``m`` carry ``exp(i theta m / N)`` is a
  Laurent polynomial in ``z = exp(i theta)`` with powers ``m_min..m_max``; its winding as
  ``theta`` goes around is ``W``. Its coefficients come exactly from a DFT of
  ``det h(theta_j)`` at ``m_max - m_min + 1`` (or more) twists.

A zero on (or within ``gap_tol`` of) the unit circle means the system is gapless: the winding
number is undefined and :class:`~tntopo.GaplessError` is raised.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..errors import GaplessError

__all__ = ["bloch_winding", "twisted_winding", "bloch_winding_coefficients", "bloch_gap"]

GAP_TOL = 1e-9


def _roots_batched(c: np.ndarray):
    """Roots of sum_k c[:, k] z^k for each row; returns list of root arrays."""
    B, d1 = c.shape
    deg = d1 - 1
    if deg == 0:
        return [np.empty(0, complex) for _ in range(B)]
    lead = c[:, -1]
    if np.all(lead != 0):
        comp = np.zeros((B, deg, deg), dtype=complex)
        comp[:, 0, :] = -c[:, -2::-1] / lead[:, None]
        if deg > 1:
            comp[:, np.arange(1, deg), np.arange(deg - 1)] = 1
        r = np.linalg.eigvals(comp)
        return list(r)
    return [np.roots(row[::-1]) if np.any(row != 0) else None for row in c]


def bloch_winding_coefficients(c, m_min: int, check_gap: bool = True, gap_tol: float = GAP_TOL):
    """Winding numbers of Laurent polynomials ``sum_k c[:, k] z^(k + m_min)``.

    Returns ``(W, margin)``: integer windings and ``min | |z_i| - 1 |`` over the zeros (the
    distance to a transition; ``0`` for an identically zero polynomial).
    """
    c = np.array(np.atleast_2d(c), dtype=complex)
    # negligible coefficients are set to zero: a tiny leading one only adds a zero far outside
    # the unit circle, a tiny trailing one a zero near the origin -- the count is unchanged and
    # the companion matrix stays well scaled
    scale = np.abs(c).max(axis=1, keepdims=True)
    c[np.abs(c) <= 1e-14 * scale] = 0
    roots = _roots_batched(c)
    W = np.empty(len(roots), dtype=np.int64)
    margin = np.empty(len(roots))
    for i, r in enumerate(roots):
        if r is None:  # h(z) == 0: every k is gapless
            W[i], margin[i] = 0, 0.0
            continue
        absr = np.abs(r)
        W[i] = int(np.sum(absr < 1)) + m_min
        # a polynomial whose degree dropped has zeros "at infinity": outside, fine
        margin[i] = np.min(np.abs(absr - 1)) if len(r) else np.inf
    if check_gap and np.any(margin < gap_tol):
        bad = np.flatnonzero(margin < gap_tol)
        raise GaplessError(
            f"{len(bad)} system(s) are gapless (h(k) = 0 for some k, e.g. sample {bad[0]}): the winding "
            "number is undefined at a phase transition; move the hoppings away from it or use "
            "method='dense' for a real-space value"
        )
    return W, margin


def bloch_gap(c, m_min: int, n_k: int = 1024) -> np.ndarray:
    """Bloch gap ``min_k |h(k)|`` of each row of coefficients (sampled on ``n_k`` momenta)."""
    c = np.atleast_2d(np.asarray(c))
    k = np.linspace(0, 2 * np.pi, n_k, endpoint=False)
    powers = np.arange(c.shape[1]) + m_min
    hk = c @ np.exp(1j * np.outer(powers, k))
    return np.abs(hk).min(axis=1)


def bloch_winding(hoppings, gap_tol: float = GAP_TOL) -> int:
    """Exact winding number of a clean chain from its hoppings ``{m: t_m}``.

    Raises
    ------
    GaplessError
        If ``h(k) = 0`` for some ``k`` (a zero of ``h(z)`` within ``gap_tol`` of the unit circle).
    """
    ranges = sorted(hoppings)
    m_min = ranges[0]
    c = np.zeros(ranges[-1] - m_min + 1, dtype=complex)
    for m, t in hoppings.items():
        c[m - m_min] += t
    W, _ = bloch_winding_coefficients(c[None], m_min, gap_tol=gap_tol)
    return int(W[0])


def _log_det(A):
    """(phase, log|det|) of a square matrix; sparse LU for large banded ones."""
    if A.shape[0] <= 256:
        s, ld = np.linalg.slogdet(A.toarray() if sp.issparse(A) else A)
        return s, ld
    try:
        lu = spla.splu(sp.csc_matrix(A))
    except RuntimeError:  # "Factor is exactly singular": det = 0
        return 0.0, -np.inf
    d = lu.U.diagonal()
    if np.any(d == 0):
        return 0.0, -np.inf
    phase = np.prod(d / np.abs(d))
    phase *= _perm_sign(lu.perm_r) * _perm_sign(lu.perm_c)
    return phase, float(np.sum(np.log(np.abs(d))))


def _perm_sign(p) -> int:
    p = np.asarray(p)
    seen = np.zeros(len(p), bool)
    sign = 1
    for i in range(len(p)):
        if seen[i]:
            continue
        j, L = i, 0
        while not seen[j]:
            seen[j] = True
            j = p[j]
            L += 1
        if L % 2 == 0:
            sign = -sign
    return sign


def twisted_winding(chain, gap_tol: float = GAP_TOL) -> int:
    """Exact winding number of a periodic chain (clean or disordered) from twisted boundaries.

    Parameters
    ----------
    chain : SSHChain
        A chain with ``boundary="periodic"``.

    Raises
    ------
    ValueError
        If the chain is open.
    GaplessError
        If ``det h(theta)`` vanishes for some twist ``theta`` (within ``gap_tol``).
    """
    if chain.boundary != "periodic":
        raise ValueError(
            "method='twisted' needs a periodic chain; use chain.with_boundary('periodic') or "
            "method='dense' for an open chain"
        )
    N = chain.n_cells
    ranges = chain.ranges
    m_min, m_max = min(ranges), max(ranges)
    span = m_max - m_min
    M = span + 1
    n = np.arange(N)
    rows = np.concatenate([n for _ in ranges])
    cols = np.concatenate([(n - m) % N for m in ranges])
    base = np.concatenate([chain._bonds[i] for i in range(len(ranges))]).astype(complex)
    mvec = np.concatenate([np.full(N, m) for m in ranges])
    thetas = 2 * np.pi * np.arange(M) / M
    phases, logs = [], []
    for th in thetas:
        vals = base * np.exp(1j * th * mvec / N)
        A = sp.csr_matrix((vals, (rows, cols)), shape=(N, N))
        s, ld = _log_det(A)
        phases.append(s)
        logs.append(ld)
    logs = np.array(logs)
    if np.any(~np.isfinite(logs)):
        raise GaplessError(
            "det h(theta) = 0 at a twist theta: the chain is gapless (a zero mode at some twisted "
            "boundary); move the hoppings away from the transition or use method='dense'"
        )
    f = np.array(phases) * np.exp(logs - logs.max())
    # det h(theta) = sum_{k=m_min}^{m_max} c_k e^{i k theta}, remove the e^{i m_min theta} factor
    g = f * np.exp(-1j * m_min * thetas)
    c = np.fft.fft(g) / M  # c[k] coefficient of e^{i k theta}, k = 0..span
    W, _ = bloch_winding_coefficients(c[None], m_min, gap_tol=gap_tol)
    return int(W[0])
