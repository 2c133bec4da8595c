"""Real-space winding number: flat-band (polar) factor, position kernel, bulk window.

The local marker of A cell ``n`` is

.. math:: w(n) = [Q_{AB}(Q_{BA} X - X Q_{BA})]_{nn} = \\sum_j |Q_{nj}|^2 (x_n - x_j),

with ``Q_AB`` the polar factor of the A->B block ``h`` (``h = U S V^dagger`` gives
``Q_AB = U V^dagger``) and ``Q_BA = Q_AB^dagger``. The winding number is its average over a bulk
region ``R`` (cells ``N//4 <= n < N - N//4`` of an open chain, all cells of a ring, where
``x_n - x_j`` is the minimum-image distance).
"""
from __future__ import annotations

import os
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import numpy as np

from ..._blas import single_threaded_blas
from ..._polar import polar_newton
from ..._typing import strict_keywords
from ...systems.chain import MIN_CELLS
from ...errors import GaplessWarning
from .._routes import QUANTIZATION_TOL  # shared with the Chern routes (re-exported)

__all__ = [
    "as_blocks",
    "warn_gapless",
    "warn_if_not_quantized",
    "polar_factor",
    "position_kernel",
    "bulk_window",
    "bulk_region",
    "winding_from_blocks",
    "markers_from_blocks",
    "reference_winding_number",
    "QUANTIZATION_TOL",
]

#: Singular values below this fraction of the largest are handled by an SVD (edge zero modes).
_RCOND = 1e-5
_MIN_CHUNK = 256
#: Blocks up to this size take the compiled Newton iteration (:mod:`tntopo._polar`); larger ones
#: ``eigh(h h^dagger)``, where LAPACK's blocked routines win (``benchmarks/bench_invariant.py``).
NEWTON_MAX_N = 64


@strict_keywords
def as_blocks(h) -> np.ndarray:
    """Validate raw A->B blocks: shape (N, N) or (B, N, N), numeric, finite, N >= 4.

    Torch tensors are detached and copied to numpy; integer blocks become float64.

    Raises
    ------
    ValueError
        Ragged, non-numeric, non-square, too small, empty or non-finite input.
    """
    if hasattr(h, "detach") and hasattr(h, "numpy"):  # torch tensor
        h = h.detach().cpu().numpy()
    try:
        h = np.asarray(h)
    except Exception as exc:  # ragged input
        raise ValueError(f"could not read the hopping blocks as an array ({exc}); give an (N, N) or (B, N, N) array") from None
    if h.dtype == object or not np.issubdtype(h.dtype, np.number):
        raise ValueError(f"hopping blocks must be numeric, got dtype {h.dtype}")
    if h.ndim not in (2, 3) or h.shape[-1] != h.shape[-2]:
        raise ValueError(
            f"hopping blocks must be square with shape (N, N) or (B, N, N), got {h.shape}; "
            "pass the A->B block h with h[n, n-m] = t_m"
        )
    if h.shape[-1] < MIN_CELLS:
        raise ValueError(
            f"hopping blocks of {h.shape[-1]} cells are too small: at least {MIN_CELLS} cells are "
            "needed for a bulk region; use a longer chain"
        )
    if h.ndim == 3 and h.shape[0] == 0:
        raise ValueError("empty batch of hopping blocks (B = 0)")
    if not np.all(np.isfinite(h)):
        raise ValueError("hopping blocks contain NaN or inf entries; give finite amplitudes")
    if not np.issubdtype(h.dtype, np.inexact):
        h = h.astype(np.float64)
    return h


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def warn_gapless(message: str) -> None:
    """Issue a :class:`~tntopo.GaplessWarning` attributed to the first caller outside tntopo.

    The warning points at the user's line however deep inside tntopo it was raised (so that
    ``warnings`` filters by module and the "once per location" rule work as expected).
    """
    level, f = 2, sys._getframe(1)
    while f is not None and os.path.abspath(f.f_code.co_filename).startswith(_PACKAGE_DIR):
        f = f.f_back
        level += 1
    warnings.warn(message, GaplessWarning, stacklevel=level)


def warn_if_not_quantized(W, what: str = "real-space winding number") -> None:
    """Warn (:class:`~tntopo.GaplessWarning`) if a value of ``W`` is not close to an integer.

    "Close" is within :data:`QUANTIZATION_TOL`; a value further away means the system is
    (nearly) gapless or its bulk region is too short. ``what`` names the quantity in the message.
    """
    W = np.atleast_1d(np.asarray(W))
    dev = np.abs(W - np.round(W))
    bad = dev > QUANTIZATION_TOL
    if bad.any():
        warn_gapless(
            f"{what}: {bad.sum()} of {W.size} value(s) lie up to {dev.max():.3f} from an integer; "
            "the system is (nearly) gapless or its bulk region is not many localization lengths "
            "long -- the value is not a quantized invariant (use a longer chain or move away from "
            "the transition)"
        )


def _n_threads(B: int) -> int:
    n = os.cpu_count() or 1
    return max(1, min(n, B // _MIN_CHUNK))


def _svd_polar(h: np.ndarray) -> np.ndarray:
    u, _, vh = np.linalg.svd(h)
    return u @ vh


def _newton_polar(h: np.ndarray) -> Optional[np.ndarray]:
    """The compiled Newton iteration; the SVD for blocks it does not certify; None without numba."""
    Q, iters = polar_newton(h)
    if Q is not None:
        bad = iters <= 0  # singular to working precision, or not certified
        if bad.any():
            Q[bad] = _svd_polar(h[bad])
    return Q


def _polar_chunk(h: np.ndarray) -> np.ndarray:
    Q = _newton_polar(h) if h.shape[-1] <= NEWTON_MAX_N else None
    return _eigh_polar(h) if Q is None else Q


def _eigh_polar(h: np.ndarray) -> np.ndarray:
    hd = np.conj(np.swapaxes(h, -1, -2))
    evals, U = np.linalg.eigh(h @ hd)
    Vh = np.conj(np.swapaxes(U, -1, -2)) @ h  # rows s_k v_k^dagger
    norms = np.sqrt(np.einsum("bij,bij->bi", Vh.real, Vh.real) + (
        np.einsum("bij,bij->bi", Vh.imag, Vh.imag) if np.iscomplexobj(Vh) else 0.0))
    bad = ~(evals[:, 0] > (_RCOND ** 2) * evals[:, -1])
    norms[bad] = 1.0
    Vh /= norms[:, :, None]
    Q = U @ Vh
    if bad.any():
        Q[bad] = _svd_polar(h[bad])
    return Q


@strict_keywords
def polar_factor(h, threads: Optional[int] = None) -> np.ndarray:
    """Flat-band A->B block ``Q_AB`` (unitary polar factor of ``h``), batched.

    Parameters
    ----------
    h : ndarray, shape (B, N, N) or (N, N)
    threads : int, optional
        Worker threads for large batches (LAPACK releases the GIL). Default: one per core,
        chunks of at least 256 matrices.

    Notes
    -----
    Blocks of at most ``NEWTON_MAX_N`` (64) cells, float64 or complex128, take the scaled Newton
    iteration ``X <- (mu X + X^{-dagger} / mu) / 2`` compiled by numba (:mod:`tntopo._polar`):
    a few inverses of each small matrix, no LAPACK call per matrix. Its result is backward
    stable (checked a posteriori for blocks with condition number above ``1e5``); blocks it
    cannot certify -- singular to working precision -- take a full SVD. Without numba, and for
    larger blocks:

    For a well-conditioned block the polar factor is ``U V^dagger`` with ``U`` from ``eigh(h h^dagger)``
    and ``V^dagger`` the normalized rows of ``U^dagger h`` (accurate to ``eps * s_max / s_min``
    where the small singular values are well separated, to about ``eps * (s_max / s_min)^2``
    where two of them are close; the Newton route stays within ``~10 eps * s_max / s_min`` of
    the SVD, ``tests/test_polar.py``).
    Blocks with singular values below ``1e-5 * s_max`` -- the edge zero modes of open
    topological chains -- use a full SVD instead, so that ``Q`` equals the flat-band
    Hamiltonian ``sign(H)`` of the ``2N x 2N`` chain to machine precision.
    """
    h = np.asarray(h)
    single = h.ndim == 2
    hb = h[None] if single else h
    if not np.issubdtype(hb.dtype, np.inexact):
        hb = hb.astype(np.float64)
    B = hb.shape[0]
    nt = _n_threads(B) if threads is None else max(1, int(threads))
    if nt == 1:
        Q = _polar_chunk(hb)
    else:
        chunks = np.array_split(np.arange(B), nt)
        with ThreadPoolExecutor(nt) as ex:
            parts = list(ex.map(lambda idx: _polar_chunk(hb[idx]), chunks))
        Q = np.concatenate(parts)
    return Q[0] if single else Q


@strict_keywords
def position_kernel(n_cells: int, boundary: str = "open", positions_A=None, positions_B=None) -> np.ndarray:
    """Position kernel ``X[a, c] = x_a - x_c`` (minimum image on a ring)."""
    if positions_A is None:
        xa = xb = np.arange(n_cells, dtype=float)
    else:
        xa, xb = np.asarray(positions_A, float), np.asarray(positions_B, float)
    X = xa[:, None] - xb[None, :]
    if boundary == "periodic":
        X = X - n_cells * np.round(X / n_cells)
        if n_cells % 2 == 0:
            X[np.abs(np.abs(X) - n_cells / 2) < 1e-12] = 0.0
    return X


@strict_keywords
def bulk_region(n_cells: int, boundary: str = "open", region=None) -> np.ndarray:
    """Boolean mask of the bulk cells.

    ``region`` may be ``None`` (default: cells ``N//4 <= n < N - N//4`` of an open chain, all
    cells of a ring), a ``(start, stop)`` pair, a slice, an array of cell indices or a boolean mask.
    """
    mask = np.zeros(n_cells, bool)
    if region is None:
        if boundary == "periodic":
            mask[:] = True
        else:
            mask[n_cells // 4: n_cells - n_cells // 4] = True
    elif isinstance(region, slice):
        mask[region] = True
    elif isinstance(region, tuple) and len(region) == 2 and all(np.ndim(r) == 0 for r in region):
        start, stop = int(region[0]), int(region[1])
        if not 0 <= start < stop <= n_cells:
            raise ValueError(f"region {region} must satisfy 0 <= start < stop <= n_cells={n_cells}")
        mask[start:stop] = True
    else:
        r = np.asarray(region)
        if r.dtype == bool:
            if r.shape != (n_cells,):
                raise ValueError(f"a boolean region must have shape ({n_cells},), got {r.shape}")
            mask = r.copy()
        else:
            if r.size and (r.min() < 0 or r.max() >= n_cells):
                raise ValueError(f"region cell indices must lie in [0, {n_cells}), got {r.min()}..{r.max()}")
            mask[r.astype(int)] = True
    if not mask.any():
        raise ValueError("the bulk region is empty; give a region with at least one cell")
    return mask


@strict_keywords
def bulk_window(n_cells: int, boundary: str = "open", region=None) -> np.ndarray:
    """Window weights ``R[a] = 1/|R|`` on the bulk region, 0 elsewhere."""
    mask = bulk_region(n_cells, boundary, region)
    return mask / mask.sum()


@strict_keywords
def markers_from_blocks(h, boundary: str = "open", positions=None, threads=None) -> np.ndarray:
    """Local markers ``w(n)`` of every A cell, shape ``(B, N)`` (or ``(N,)``)."""
    from ...tn import contract_rswn

    with single_threaded_blas():
        Q = polar_factor(h, threads=threads)
        N = Q.shape[-1]
        pa, pb = (None, None) if positions is None else positions
        X = position_kernel(N, boundary, pa, pb)
        return np.asarray(contract_rswn(Q, X, None))


@strict_keywords
def winding_from_blocks(h, boundary: str = "open", region=None, positions=None, threads=None, warn=True):
    """Bulk-averaged real-space winding numbers of A->B blocks, contracted as a tensor network."""
    from ...tn import contract_rswn

    with single_threaded_blas():
        Q = polar_factor(h, threads=threads)
        N = Q.shape[-1]
        pa, pb = (None, None) if positions is None else positions
        X = position_kernel(N, boundary, pa, pb)
        R = bulk_window(N, boundary, region)
        W = np.asarray(contract_rswn(Q, X, R), dtype=float)
    if warn:
        warn_if_not_quantized(W)
    return W


@strict_keywords
def reference_winding_number(h, boundary: str = "open", region=None) -> np.ndarray:
    """Naive, independent route: dense ``eigh`` of each ``2N x 2N`` Hamiltonian, then matrix products.

    ``Q = psi sign(E) psi^dagger``, ``w(n) = [Q_AB (Q_BA X - X Q_BA)]_nn``, averaged over the bulk.
    Slow (a Python loop); used by tests and benchmarks as the ground truth.
    """
    h = np.asarray(h)
    single = h.ndim == 2
    hb = h[None] if single else h
    B, N, _ = hb.shape
    X = np.diag(np.arange(N, dtype=float))
    mask = bulk_region(N, boundary, region)
    out = np.empty(B)
    for i in range(B):
        H = np.zeros((2 * N, 2 * N), dtype=np.result_type(hb.dtype, float))
        H[:N, N:] = hb[i]
        H[N:, :N] = hb[i].conj().T
        E, psi = np.linalg.eigh(H)
        s = np.where(E >= 0, 1.0, -1.0)
        Q = (psi * s) @ psi.conj().T
        QAB, QBA = Q[:N, N:], Q[N:, :N]
        if boundary == "periodic":
            K = position_kernel(N, "periodic")
            # [Q_BA, X] with minimum-image displacement: (Q_BA)_{jn} (x_n - x_j)
            comm = QBA * K.T
            w = np.real(np.einsum("nj,jn->n", QAB, comm))
        else:
            w = np.real(np.diag(QAB @ (QBA @ X - X @ QBA)))
        out[i] = w[mask].mean()
    return out[0] if single else out
