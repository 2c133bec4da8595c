"""Laurent polynomials of chiral chains, and their certified zero counts (numpy only).

Every exact integer of tntopo's 1D routes is the number of zeros inside the unit circle of a
Laurent polynomial ``p(z) = sum_{k=m_min}^{m_max} c_k z^k`` plus ``m_min``:

* Bloch (clean chains): ``c_k = t_k``, ``p(e^{ik}) = h(k)``;
* twisted boundaries (rings, disordered too): ``p(e^{i theta}) = det h(theta)``.

This module holds the one construction of the coefficient table (:func:`laurent_coefficients`)
and the one zero counter (:func:`certified_zero_count`). The counter never trusts a single
numerical route: the companion-matrix eigenvalues give a count and the distance of the zeros to
the circle, and an independent argument-principle count on the circle -- on a grid refined until
a derivative bound proves that ``p`` cannot pass through zero between two samples -- must agree.
The same grid gives a *rigorous* lower bound of ``min_{|z|=1} |p(z)|``, which callers with noisy
coefficients use for a Rouché certificate (a perturbation ``e`` with ``max |e| < min |p|`` on the
circle does not change the count).

No tntopo imports: chains, the Bloch route and the twisted route all build on it.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

__all__ = [
    "GAP_TOL",
    "laurent_coefficients",
    "evaluate_on_circle",
    "companion_zeros",
    "argument_principle_count",
    "certified_zero_count",
    "sampled_min_abs",
]

#: Zeros closer than this to the unit circle mean "gapless" (a phase transition).
GAP_TOL = 1e-9

# a rounding-error allowance for evaluating p: |fl(p(z)) - p(z)| <= EVAL_EPS * sum |c_k|
EVAL_EPS = 64 * np.finfo(float).eps
# the argument-principle grid: start, and give up refining an interval below this length
_START_POINTS = 64
_MIN_STEP = 1e-13


def laurent_coefficients(amplitudes, ranges: Sequence[int]) -> Tuple[np.ndarray, int]:
    """Dense coefficient table of ``sum_j amplitudes[:, j] z^{ranges[j]}``.

    Parameters
    ----------
    amplitudes : array_like, shape (B, len(ranges))
        One row per polynomial (e.g. the clean hoppings of a batch of chains).
    ranges : sequence of int
        The power of each column (hopping ranges ``m``; repeated ranges add up).

    Returns
    -------
    c : ndarray, shape (B, m_max - m_min + 1)
        ``c[:, k]`` is the coefficient of ``z^{k + m_min}``.
    m_min : int
    """
    a = np.atleast_2d(np.asarray(amplitudes))
    ranges = [int(m) for m in ranges]
    if a.shape[1] != len(ranges):
        raise ValueError(f"amplitudes must have one column per range ({len(ranges)}), got shape {a.shape}")
    m_min, m_max = min(ranges), max(ranges)
    c = np.zeros((a.shape[0], m_max - m_min + 1), dtype=np.result_type(a.dtype, np.float64))
    for j, m in enumerate(ranges):
        c[:, m - m_min] += a[:, j]
    return c, m_min


def evaluate_on_circle(c: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """``p(e^{i theta}) = sum_k c[..., k] e^{i k theta}`` (ordinary powers ``k = 0..d``), shape ``(..., len(theta))``."""
    c = np.asarray(c)
    theta = np.asarray(theta, dtype=float)
    k = np.arange(c.shape[-1])
    return c @ np.exp(1j * np.outer(k, theta))


def sampled_min_abs(c, m_min: int = 0, n_k: int = 1024) -> np.ndarray:
    """``min_k |sum_j c[:, j] e^{i (j + m_min) k}|`` on ``n_k`` equally spaced ``k`` (the sampled Bloch gap)."""
    c = np.atleast_2d(np.asarray(c))
    k = np.linspace(0, 2 * np.pi, n_k, endpoint=False)
    powers = np.arange(c.shape[1]) + m_min
    return np.abs(c @ np.exp(1j * np.outer(powers, k))).min(axis=1)


def companion_zeros(c: np.ndarray) -> List[np.ndarray]:
    """Zeros of ``sum_k c[i, k] z^k`` for each row ``i`` (batched companion eigenvalues).

    Rows whose leading coefficient is zero lose those zeros "at infinity" (the degree drops);
    an identically zero row gives ``None``.
    """
    c = np.asarray(c, dtype=complex)
    B, d1 = c.shape
    deg = d1 - 1
    if deg == 0:
        return [np.empty(0, complex) if np.any(row != 0) else None for row in c]
    lead = c[:, -1]
    if np.all(lead != 0):
        comp = np.zeros((B, deg, deg), dtype=complex)
        comp[:, 0, :] = -c[:, -2::-1] / lead[:, None]
        if deg > 1:
            comp[:, np.arange(1, deg), np.arange(deg - 1)] = 1
        return list(np.linalg.eigvals(comp))
    return [np.roots(row[::-1]) if np.any(row != 0) else None for row in c]


def _uniform_check(c: np.ndarray, T: np.ndarray, err: np.ndarray, K: int):
    """Argument-principle counts of all rows on a uniform grid of ``K`` points.

    Returns ``(count, lower, ok)``: rows with ``ok`` are certified -- at every sample
    ``|p'(z_j)| L + T L^2 / 2 + 2 err < |p(z_j)|`` with ``L = 2 pi / K`` (the Taylor bound of
    :func:`argument_principle_count`) -- and ``lower`` is their rigorous lower bound of
    ``min |p|`` on the circle.
    """
    theta = 2 * np.pi * np.arange(K) / K
    k = np.arange(c.shape[1])
    L = 2 * np.pi / K
    with np.errstate(all="ignore"):  # rows that fail the check may over/underflow: not used
        p = evaluate_on_circle(c, theta)
        dp = np.abs(evaluate_on_circle(c * k, theta))  # |p'(z)| = |sum_k k c_k z^k| on the circle
        ap = np.abs(p)
        bound = dp * L + (T * L * L / 2 + err)[:, None]
        ok = np.all(ap > bound + err[:, None], axis=1)
        ratio = np.roll(p, -1, axis=1) / np.where(p == 0, 1, p)
        count = np.rint(np.nan_to_num(np.angle(ratio)).sum(axis=1) / (2 * np.pi)).astype(np.int64)
        lower = (ap - bound).min(axis=1)
    return count, lower, ok


def argument_principle_count(c, *, max_intervals: int = 1 << 16) -> Tuple[int, float]:
    """Zeros of ``p(z) = sum_k c[k] z^k`` inside the unit circle, by the argument principle.

    The circle is cut into arcs, bisected until every arc ``[a, a + L]`` satisfies
    ``|p'(e^{ia})| L + T L^2 / 2 + 2 err < |p(e^{ia})|``, with ``T = sum_k k^2 |c_k|`` bounding
    the second derivative of ``phi -> p(e^{i phi})`` and ``err`` the rounding allowance of one
    evaluation (Taylor's bound: along the arc ``p`` stays in a disk around ``p(e^{ia})`` that
    excludes 0). The principal argument of ``p(b) / p(a)`` is then the true increment and the
    summed increments are exactly ``2 pi`` times the count. Near a close zero the arcs shrink
    only like its distance to the circle, so even zeros ``1e-8`` away take a few dozen levels.

    Returns
    -------
    count : int
        Number of zeros with ``|z| < 1``.
    lower : float
        A rigorous lower bound of ``min_{|z|=1} |p(z)|`` (> 0).

    Raises
    ------
    ArithmeticError
        If ``p`` (numerically) vanishes on the circle: no arc down to length ``1e-13`` (or
        ``max_intervals`` arcs) certifies it.
    """
    c = np.asarray(c, dtype=complex).ravel()
    k = np.arange(len(c))
    T = float(np.sum(k * k * np.abs(c)))
    dc = (k * c)[1:]  # p'(z) = sum_k k c_k z^(k-1); |p'(z)| = |sum_k k c_k z^k| on the circle
    err = EVAL_EPS * len(c) * float(np.sum(k * np.abs(c)) + np.sum(np.abs(c)))
    K = max(_START_POINTS, 4 * len(c))
    a = 2 * np.pi * np.arange(K) / K
    L = np.full(K, 2 * np.pi / K)
    with np.errstate(all="ignore"):  # subnormal coefficients: flagged by the checks, not by numpy
        return _bisect(c, T, dc, err, a, L, max_intervals)


def _bisect(c, T, dc, err, a, L, max_intervals):
    total_angle = 0.0
    lower = np.inf
    while len(a):
        if len(a) > max_intervals or L.min() < _MIN_STEP:
            raise ArithmeticError("the polynomial vanishes on the unit circle to working precision")
        pa = evaluate_on_circle(c, a)
        if np.any(np.abs(pa) <= 2 * err):  # no arc starting here can ever be certified
            raise ArithmeticError("the polynomial vanishes on the unit circle to working precision")
        pb = evaluate_on_circle(c, a + L)
        dpa = np.abs(evaluate_on_circle(dc, a)) if len(dc) else np.zeros(len(a))
        bound = dpa * L + T * L * L / 2 + err
        good = np.abs(pa) > bound + err
        total_angle += float(np.angle(pb[good] / pa[good]).sum())
        if good.any():
            lower = min(lower, float((np.abs(pa[good]) - bound[good]).min()))
        bad = ~good
        a = np.concatenate([a[bad], a[bad] + L[bad] / 2])
        L = np.concatenate([L[bad] / 2, L[bad] / 2])
    count = int(np.rint(total_angle / (2 * np.pi)))
    return count, lower


def certified_zero_count(c, m_min: int = 0, *, gap_tol: float = GAP_TOL):
    """Certified winding numbers ``#zeros(|z| < 1) + m_min`` of Laurent polynomials (batched).

    Parameters
    ----------
    c : array_like, shape (B, d + 1) or (d + 1,)
        ``c[:, k]`` is the coefficient of ``z^{k + m_min}``.
    m_min : int
        The lowest power.
    gap_tol : float
        Zeros with ``| |z| - 1 | < gap_tol`` mark the polynomial as gapless.

    Returns
    -------
    W : ndarray of int, shape (B,)
        The winding numbers (meaningful where ``status == 0``).
    margin : ndarray, shape (B,)
        ``min_i | |z_i| - 1 |`` over the companion zeros (distance to a transition; 0 for an
        identically zero polynomial or one that vanishes on the circle).
    lower : ndarray, shape (B,)
        A rigorous lower bound of ``min_{|z|=1} |p(z)|`` from the certified grid (0 if gapless).
    status : ndarray of int, shape (B,)
        ``0`` certified (the companion and argument-principle counts agree and no zero lies
        within ``gap_tol`` of the circle); ``1`` gapless; ``2`` the two counts disagree (a
        numerical failure: never return such a count as an integer).
    """
    c = np.array(np.atleast_2d(c), dtype=complex)
    B = c.shape[0]
    # negligible coefficients are set to zero: a tiny leading one only adds a zero far outside
    # the unit circle, a tiny trailing one a zero near the origin -- the count is unchanged
    # (the argument-principle count below, on the *unmodified* coefficients, checks this) and
    # the companion matrix stays well scaled
    scale = np.abs(c).max(axis=1, keepdims=True)
    trimmed = np.where(np.abs(c) <= 1e-14 * scale, 0, c)
    roots = companion_zeros(trimmed)
    W = np.zeros(B, dtype=np.int64)
    margin = np.zeros(B)
    status = np.zeros(B, dtype=np.int64)
    for i, r in enumerate(roots):
        if r is None:  # p == 0: gapless everywhere
            status[i] = 1
            continue
        absr = np.abs(r)
        W[i] = int(np.sum(absr < 1))
        margin[i] = np.min(np.abs(absr - 1)) if len(r) else np.inf
    status[margin < gap_tol] = 1

    # independent count: argument principle, uniform grids for the whole batch first
    k = np.arange(c.shape[1])
    T = np.abs(c) @ (k * k)
    err = EVAL_EPS * c.shape[1] * (np.abs(c) @ (k + 1))
    todo = np.flatnonzero(status == 0)
    lower = np.zeros(B)
    ap_count = np.zeros(B, dtype=np.int64)
    for K in (max(64, 4 * c.shape[1]), max(512, 16 * c.shape[1])):
        if not len(todo):
            break
        rows = max(1, (1 << 21) // K)  # bounded memory: rows x K complex values per chunk
        left = []
        for s in range(0, len(todo), rows):
            part = todo[s:s + rows]
            cnt, low, ok = _uniform_check(c[part], T[part], err[part], K)
            ap_count[part[ok]] = cnt[ok]
            lower[part[ok]] = low[ok]
            left.append(part[~ok])
        todo = np.concatenate(left)
    if len(todo):
        for i in todo:  # adaptive bisection for the few near-gapless rows
            try:
                ap_count[i], lower[i] = argument_principle_count(c[i])
            except ArithmeticError:
                status[i], margin[i] = 1, 0.0
    disagree = (status == 0) & (ap_count != W)
    status[disagree] = 2
    W = W + int(m_min)
    lower[status != 0] = 0.0
    return W, margin, lower, status
