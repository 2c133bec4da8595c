"""Unitary polar factor of many small square matrices: the scaled Newton iteration, compiled.

For a batch of thousands of small blocks (a chain of 20 cells has 20 x 20 A->B blocks) the
polar factor through LAPACK (``eigh`` of ``h h^dagger`` or an SVD, one call per matrix) spends
most of its time in per-call work of routines built for large matrices. The Newton iteration

.. math:: X_0 = h, \\qquad X_{k+1} = \\tfrac12 \\left(\\mu_k X_k + \\mu_k^{-1} X_k^{-\\dagger}\\right)

converges to the unitary polar factor ``U V^dagger`` of ``h = U S V^dagger``; its only costly
step is one inverse per iteration, which a numba kernel (:func:`_newton_polar`) computes by
Gauss-Jordan elimination with partial pivoting, one matrix after another, without the GIL.
The (1, inf)-norm scaling ``mu_k = (||X_k^{-1}||_1 ||X_k^{-1}||_inf / (||X_k||_1 ||X_k||_inf))^{1/4}``
brings every singular value near 1 in a few steps (on random 20-cell chains 9% fewer steps
than Frobenius-norm scaling, and within 7% of the optimal scaling by the extreme singular
values); scaling is switched off once the step is below 1e-2, after which the
convergence is quadratic (Higham, *Functions of Matrices*, 2008, Algorithm 8.20). The iteration
stops when the root-mean-square change of an unscaled step is below :data:`STEP_TOL`: the
iterate it returns is then unitary to about ``STEP_TOL**2``. Random 20-cell chains need 4-8
iterations.

Certification. The scaled Newton iteration with inverses computed by Gaussian elimination with
partial pivoting is backward stable in practice (Nakatsukasa & Higham, SIAM J. Matrix Anal.
Appl. 33, 2012, prove it for mixed backward-forward stable inverses); for a well-conditioned
block its forward error is at most about ``eps * s_max / s_min``, the bound the ``eigh``
route of :func:`tntopo.invariants.polar_factor` has. For a block whose condition number bound
``(||h||_1 ||h||_inf ||h^{-1}||_1 ||h^{-1}||_inf)^{1/2}`` (known after the first inverse;
at least ``s_max / s_min``) exceeds :data:`CHECK_KAPPA`
-- the blocks that route sends to an SVD -- the kernel checks the backward error a posteriori:
``Q`` is accepted only if ``||Q^dagger Q - I||`` and the anti-Hermitian part of ``Q^dagger h``
(relative to ``h``) are below :data:`BACKWARD_TOL`, which makes ``Q`` the exact polar factor of a
matrix within that relative distance of ``h`` -- the guarantee an SVD gives. A block that is
singular to working precision (a zero pivot), does not converge in :data:`MAX_ITER` steps or
fails the check is reported, and the caller computes it by an SVD.
"""
from __future__ import annotations

import threading
from typing import Optional, Tuple

import numpy as np

__all__ = ["polar_newton", "newton_kernel", "STEP_TOL", "CHECK_KAPPA", "BACKWARD_TOL", "MAX_ITER"]

#: Convergence: root-mean-square change (per singular value) of an unscaled step.
STEP_TOL = 1e-7
#: Blocks whose condition number bound exceeds this get the a-posteriori backward-error check.
CHECK_KAPPA = 1e5
#: Largest accepted ``||Q^dag Q - I||_max`` and ``||Q^dag h - h^dag Q||_max / ||h||_max`` (x n).
BACKWARD_TOL = 1e-13
#: Iterations before a block is given up (scaled Newton needs at most about 10 for kappa < 1e16).
MAX_ITER = 30


def _gauss_jordan_inverse(X, Y, rk, col, piv, n):  # pragma: no cover - numba
    """``Y = X^{-1}`` (flat ``n x n``) by Gauss-Jordan elimination with partial pivoting; False
    where a pivot is zero (singular to working precision). ``rk``, ``col``, ``piv``: work arrays."""
    Y[:] = X
    for k in range(n):
        p = k
        best = abs(Y[k * n + k])
        for i in range(k + 1, n):
            v = abs(Y[i * n + k])
            if v > best:
                best = v
                p = i
        piv[k] = p
        if not best > 0.0:
            return False
        if p != k:
            for j in range(n):
                t = Y[k * n + j]
                Y[k * n + j] = Y[p * n + j]
                Y[p * n + j] = t
        inv = 1.0 / Y[k * n + k]
        Y[k * n + k] = 1.0
        for j in range(n):
            rk[j] = Y[k * n + j] * inv
            Y[k * n + j] = 0.0
        for i in range(n):
            col[i] = Y[i * n + k]
            Y[i * n + k] = 0.0
        col[k] = 0.0
        for i in range(n):  # rank-one update of every row (row k is zero here)
            f = col[i]
            if f != 0.0:  # banded blocks: most rows, in the first step
                base = i * n
                for j in range(n):
                    Y[base + j] -= f * rk[j]
        for j in range(n):
            Y[k * n + j] = rk[j]
    for k in range(n - 1, -1, -1):  # undo the row exchanges: exchange columns
        p = piv[k]
        if p != k:
            for i in range(n):
                t = Y[i * n + k]
                Y[i * n + k] = Y[i * n + p]
                Y[i * n + p] = t
    return True


def _norms_1_inf(X, Y, n):  # pragma: no cover - numba
    """``(||X||_1, ||X||_inf, ||Y||_1, ||Y||_inf)`` of flat ``n x n`` matrices (the geometric mean
    of the 1- and inf-norms bounds the 2-norm from above)."""
    x1 = 0.0
    xi = 0.0
    y1 = 0.0
    yi = 0.0
    for i in range(n):
        rx = 0.0
        ry = 0.0
        cx = 0.0
        cy = 0.0
        for j in range(n):
            rx += abs(X[i * n + j])
            ry += abs(Y[i * n + j])
            cx += abs(X[j * n + i])
            cy += abs(Y[j * n + i])
        xi = max(xi, rx)
        yi = max(yi, ry)
        x1 = max(x1, cx)
        y1 = max(y1, cy)
    return x1, xi, y1, yi


def _newton_update(X, Y, n, mu):  # pragma: no cover - numba
    """``X <- (mu X + Y^dagger / mu) / 2`` in place; returns the root-mean-square change per
    singular value, ``||X_new - X||_F / sqrt(n)``."""
    a = 0.5 * mu
    c = 0.5 / mu
    d = 0.0
    for i in range(n):
        for j in range(n):
            old = X[i * n + j]
            new = a * old + c * np.conj(Y[j * n + i])
            e = new - old
            d += e.real ** 2 + e.imag ** 2
            X[i * n + j] = new
    return np.sqrt(d / n)


def _backward_ok(X, hb, n, backward_tol):  # pragma: no cover - numba
    """The a-posteriori backward-error check: ``Q = X`` unitary and ``Q^dagger h`` Hermitian, both
    to ``backward_tol * n`` (the latter relative to ``max |h|``)."""
    hmax = 0.0
    for i in range(n):
        for j in range(n):
            hmax = max(hmax, abs(hb[i, j]))
    worst_u = 0.0
    worst_s = 0.0
    for i in range(n):
        for j in range(i, n):
            g = X[0] * 0.0
            s = X[0] * 0.0
            s2 = X[0] * 0.0
            for m in range(n):
                g += np.conj(X[m * n + i]) * X[m * n + j]
                s += np.conj(X[m * n + i]) * hb[m, j]
                s2 += np.conj(hb[m, i]) * X[m * n + j]
            if i == j:
                g -= 1.0
            worst_u = max(worst_u, abs(g))
            worst_s = max(worst_s, abs(s - s2))
    return worst_u <= backward_tol * n and worst_s <= backward_tol * n * hmax


def _newton_block(X, Y, rk, col, piv, n, step_tol, max_iter):  # pragma: no cover - numba
    """The scaled Newton iteration on one block, ``X`` (flat) in place. Returns ``(status,
    kappa)``: the number of steps, or ``-1`` (singular to working precision), ``-2`` (no
    convergence); ``kappa``, the condition number bound of the block (0 if not reached)."""
    scaled = True
    kappa = 0.0
    for it in range(max_iter):
        if not _gauss_jordan_inverse(X, Y, rk, col, piv, n):
            return -1, kappa
        x1, xi, y1, yi = _norms_1_inf(X, Y, n)
        if not y1 * yi < np.inf:  # overflow: singular to working precision
            return -1, kappa
        if it == 0:  # an upper bound on the 2-norm condition number of h
            kappa = np.sqrt(x1 * xi) * np.sqrt(y1 * yi)
            if not kappa * 2.220446049250313e-16 < 1.0:  # singular to working precision
                return -1, kappa
        mu = np.sqrt(np.sqrt(y1 * yi) / np.sqrt(x1 * xi)) if scaled else 1.0
        if not (mu > 0.0 and mu < np.inf):  # the scale under- or overflowed: not certifiable here
            return -1, kappa
        d = _newton_update(X, Y, n, mu)
        if not scaled and d < step_tol:
            return it + 1, kappa
        if d < 1e-2:
            scaled = False
    return -2, kappa


def _newton_polar(h, Q, iters, step_tol, check_kappa, backward_tol, max_iter):  # pragma: no cover - numba
    """Polar factors of ``h`` (``(B, n, n)``) into ``Q``; ``iters[b]`` = number of Newton steps
    of block ``b``, or ``-1`` (singular to working precision), ``-2`` (no convergence), ``-3``
    (backward-error check failed). Compiled by numba with its helpers (see :func:`newton_kernel`);
    the iterates live in flat arrays (row ``i`` at ``i * n``), which the compiler vectorizes better."""
    B, n = h.shape[0], h.shape[1]
    X = np.empty(n * n, dtype=h.dtype)
    Y = np.empty(n * n, dtype=h.dtype)
    rk = np.empty(n, dtype=h.dtype)
    col = np.empty(n, dtype=h.dtype)
    piv = np.empty(n, dtype=np.int64)
    for b in range(B):
        hb = h[b]
        for i in range(n):
            for j in range(n):
                X[i * n + j] = hb[i, j]
        status, kappa = _newton_block(X, Y, rk, col, piv, n, step_tol, max_iter)
        if status > 0 and kappa > check_kappa and not _backward_ok(X, hb, n, backward_tol):
            status = -3
        iters[b] = status
        Qb = Q[b]
        for i in range(n):
            for j in range(n):
                Qb[i, j] = X[i * n + j]


#: The helpers :func:`_newton_polar` calls, compiled first (each with numba's on-disk cache): the
#: module names are rebound to their compiled dispatchers, which numba then calls from the kernel.
#: Without numba they stay plain Python, and ``_newton_polar`` runs as Python (slowly) -- the same code.
_HELPERS = ("_gauss_jordan_inverse", "_norms_1_inf", "_newton_update", "_backward_ok", "_newton_block")


_KERNELS: dict = {}
_LOCK = threading.Lock()


def newton_kernel(dtype) -> Optional[object]:
    """:func:`_newton_polar` compiled by numba for ``dtype`` (float64 or complex128; numba's
    on-disk cache, compiled once per process), or None where numba is missing or fails."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float64, np.complex128):
        return None
    with _LOCK:
        if "fn" not in _KERNELS:
            try:
                import numba

                module = globals()
                for name in _HELPERS:  # callees first: numba resolves them when the kernel compiles
                    if not isinstance(module[name], numba.core.registry.CPUDispatcher):
                        module[name] = numba.njit(nogil=True, cache=True)(module[name])
                _KERNELS["fn"] = numba.njit(nogil=True, cache=True)(_newton_polar)
            except Exception:  # noqa: BLE001 - numba missing: the LAPACK route serves
                _KERNELS["fn"] = None
        fn = _KERNELS["fn"]
        if fn is not None and dtype not in _KERNELS:
            try:  # compile (or load from the cache) this dtype once, under the lock
                fn(np.eye(2, dtype=dtype)[None], np.empty((1, 2, 2), dtype), np.empty(1, np.int64),
                   STEP_TOL, CHECK_KAPPA, BACKWARD_TOL, MAX_ITER)
                _KERNELS[dtype] = True
            except Exception:  # noqa: BLE001
                _KERNELS["fn"] = fn = None
        return fn


def polar_newton(h: np.ndarray) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """Polar factors of a ``(B, n, n)`` float64 or complex128 batch by the scaled Newton iteration.

    Returns
    -------
    Q : ndarray, shape (B, n, n), or None
        The unitary polar factors (None where numba is unavailable).
    iters : ndarray of int, shape (B,), or None
        Newton steps per block; ``<= 0`` marks a block the iteration did not certify (singular to
        working precision, not converged, or failing the backward-error check): its ``Q`` is
        meaningless and must be computed otherwise (an SVD).
    """
    fn = newton_kernel(h.dtype)
    if fn is None:
        return None, None
    h = np.ascontiguousarray(h)
    Q = np.empty_like(h)
    iters = np.empty(h.shape[0], dtype=np.int64)
    fn(h, Q, iters, STEP_TOL, CHECK_KAPPA, BACKWARD_TOL, MAX_ITER)
    return Q, iters
