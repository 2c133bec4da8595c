"""``winding_number`` and ``local_winding_marker``: one entry point for every route."""
from __future__ import annotations

import warnings

import numpy as np

from .._typing import METHODS, Method
from ..chains import ChainBatch, ChiralHamiltonian, SSHChain, MIN_CELLS
from ..errors import GaplessError, GaplessWarning
from . import realspace
from .bloch import bloch_winding, twisted_winding

__all__ = ["winding_number", "local_winding_marker", "as_blocks"]

#: ``method="auto"`` switches from the dense to the local O(N) route above this many cells.
AUTO_LOCAL_CELLS = 1500


def as_blocks(h) -> np.ndarray:
    """Validate raw A->B blocks: shape (N, N) or (B, N, N), finite, N >= 4."""
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


def _check_method(method) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {set(METHODS)}")
    return method


def _chain_dense(chain: SSHChain, region, warn=True) -> float:
    return float(
        realspace.winding_from_blocks(
            chain.hopping_block()[None], chain.boundary, region, warn=warn
        )[0]
    )


def _local(system, **kw):
    from . import local  # the O(N) windowed route

    return local.winding_number_local(system, **kw)


def winding_number(system, method: Method = "auto", *, region=None, **kwargs):
    """Winding number of a 1D chiral system.

    Parameters
    ----------
    system : SSHChain, ChainBatch, ChiralHamiltonian or array_like
        A chain, a batch of chains, a user Hamiltonian, or raw A->B hopping blocks of shape
        ``(N, N)`` or ``(B, N, N)`` (open boundary; ``h[n, n-m] = t_m``).
    method : {"auto", "dense", "local", "bloch", "twisted"}
        ``"dense"``: exact bulk trace of the real-space marker, contracted as a tensor network.
        ``"local"``: the same marker from overlapping windows, ``O(N)`` for long chains.
        ``"bloch"``: exact integer from ``h(k)`` (clean chains).
        ``"twisted"``: exact integer from the twisted-boundary winding of ``det h(theta)``
        (periodic chains, disordered too).
        ``"auto"``: ``"bloch"`` for clean chains (real-space with a :class:`GaplessWarning` if
        gapless), ``"twisted"`` for periodic disordered chains, ``"dense"`` for open ones and
        raw blocks, ``"local"`` beyond 1500 cells.
    region : optional
        Bulk region for the real-space routes (see :func:`tntopo.invariants.bulk_region`).
    **kwargs
        Passed to the local route (``buffer``, ``window``...).

    Returns
    -------
    float or ndarray of shape (B,)
        A float for one system, an array for a batch.

    Raises
    ------
    ValueError
        Bad input (NaN, non-square or too small blocks, unknown method or boundary...).
    GaplessError
        ``"bloch"``/``"twisted"`` on a gapless system.

    Warns
    -----
    GaplessWarning
        A real-space value far from an integer (gapless or too short system).

    Examples
    --------
    >>> import tntopo
    >>> tntopo.winding_number(tntopo.SSHChain({0: 0.5, 1: 1.0}, n_cells=40), method="dense")  # doctest: +ELLIPSIS
    1.0...
    """
    method = _check_method(method)
    if isinstance(system, ChainBatch):
        return _batch_winding(system, method, region, **kwargs)
    if isinstance(system, SSHChain):
        return _chain_winding(system, method, region, **kwargs)
    if isinstance(system, ChiralHamiltonian):
        if method in ("bloch", "twisted"):
            raise ValueError(
                f"method={method!r} needs an SSHChain (hoppings or a ring); a ChiralHamiltonian "
                "supports 'dense', 'local' or 'auto'"
            )
        if method == "local" or (method == "auto" and system.n_cells > AUTO_LOCAL_CELLS):
            return float(_local(system, region=region, **kwargs))
        return float(
            realspace.winding_from_blocks(
                system.hopping_block()[None], "open", region,
                positions=(system.positions_A, system.positions_B),
            )[0]
        )
    h = as_blocks(system)
    if method in ("bloch", "twisted"):
        raise ValueError(
            f"method={method!r} needs an SSHChain (it uses the hoppings or a periodic ring); raw "
            "blocks support 'dense', 'local' or 'auto'"
        )
    if method == "local" or (method == "auto" and h.shape[-1] > AUTO_LOCAL_CELLS):
        return _local(h, region=region, **kwargs)
    W = realspace.winding_from_blocks(h, "open", region)
    return float(W) if h.ndim == 2 else W


def _batch_winding(batch: ChainBatch, method: str, region, **kwargs) -> np.ndarray:
    """Batched routes for a ChainBatch; per sample the same semantics as for one chain."""
    from ..chains import _bloch_coefficients
    from .bloch import GAP_TOL, bloch_winding_coefficients

    big = batch.n_cells > AUTO_LOCAL_CELLS
    if method == "auto" and not batch.disorder:
        c, m_min = _bloch_coefficients(batch.hoppings, batch.ranges)
        W, margin = bloch_winding_coefficients(c, m_min, check_gap=False)
        W = W.astype(float)
        gapless = np.flatnonzero(margin < GAP_TOL)
        if len(gapless):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", GaplessWarning)
                W[gapless] = [winding_number(batch[i], "dense" if not big else "local", region=region, **kwargs)
                              for i in gapless]
            warnings.warn(
                f"{len(gapless)} clean chain(s) of the batch are gapless (e.g. sample {gapless[0]}): "
                "their real-space values are returned and are not quantized invariants",
                GaplessWarning,
                stacklevel=3,
            )
        return W
    if method == "auto":
        method = "twisted" if batch.boundary == "periodic" else ("local" if big else "dense")
    if method == "dense":
        return realspace.winding_from_blocks(batch.hopping_blocks(), batch.boundary, region)
    if method == "bloch":
        if batch.disorder:
            raise ValueError(
                "method='bloch' needs clean chains; this batch is disordered: use 'twisted' on a "
                "periodic batch or 'dense'"
            )
        return batch.bloch_windings().astype(float)
    return np.array([winding_number(c, method, region=region, **kwargs) for c in batch])


def _chain_winding(chain: SSHChain, method: str, region, **kwargs) -> float:
    if method == "auto":
        if chain.is_clean:
            try:
                return float(bloch_winding(chain.hoppings))
            except GaplessError:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", GaplessWarning)
                    W = _chain_dense(chain, region) if chain.n_cells <= AUTO_LOCAL_CELLS else float(
                        _local(chain, region=region, **kwargs))
                warnings.warn(
                    f"the clean chain {chain!r} is gapless (h(k) = 0 for some k): returning the "
                    f"real-space value {W:.4f}, which is not a quantized invariant",
                    GaplessWarning,
                    stacklevel=3,
                )
                return W
        if chain.boundary == "periodic":
            return float(twisted_winding(chain))
        method = "dense" if chain.n_cells <= AUTO_LOCAL_CELLS else "local"
    if method == "bloch":
        if not chain.is_clean:
            raise ValueError(
                "method='bloch' needs a clean (translation-invariant) chain, this one is disordered; "
                "use method='twisted' on a periodic chain or method='dense'"
            )
        return float(bloch_winding(chain.hoppings))
    if method == "twisted":
        return float(twisted_winding(chain))
    if method == "local":
        return float(_local(chain, region=region, **kwargs))
    return _chain_dense(chain, region)


def local_winding_marker(system, cells=None, method: str = "dense", **kwargs) -> np.ndarray:
    """Local winding marker ``w(n)`` of A cells.

    Parameters
    ----------
    system : SSHChain, ChiralHamiltonian or array_like (N, N) / (B, N, N)
    cells : array_like of int, optional
        Cells to return (default: all).
    method : {"dense", "local"}
        ``"local"`` computes only the requested cells from windows of the chain (``O(N)``).

    Returns
    -------
    ndarray, shape (N,) / (len(cells),), or (B, ...) for a batch
        ``w(n) = sum_j |Q_nj|^2 (x_n - x_j)``; its bulk average is the winding number.
    """
    if method not in ("dense", "local"):
        raise ValueError(f"unknown method {method!r} for local_winding_marker; choose 'dense' or 'local'")
    if method == "local":
        from . import local

        return local.local_markers(system, cells=cells, **kwargs)
    boundary, positions = "open", None
    if isinstance(system, SSHChain):
        h, boundary = system.hopping_block(), system.boundary
    elif isinstance(system, ChiralHamiltonian):
        h, positions = system.hopping_block(), (system.positions_A, system.positions_B)
    else:
        h = as_blocks(system)
    w = realspace.markers_from_blocks(h, boundary, positions)
    if cells is not None:
        cells = np.asarray(cells, dtype=int)
        N = h.shape[-1]
        if cells.size and (cells.min() < 0 or cells.max() >= N):
            raise ValueError(f"cells must lie in [0, {N}), got {cells.min()}..{cells.max()}")
        w = w[..., cells]
    return w
