"""``winding_number`` and ``local_winding_marker``: one entry point for every route."""
from __future__ import annotations

import numbers
import warnings
from dataclasses import fields
from typing import Optional, Tuple

import numpy as np

from ..._laurent import GAP_TOL, laurent_coefficients
from ...systems.chain import MIN_CELLS
from ..._typing import MarkerMethod, Method, check_option, strict_keywords
from ...systems.chain import ChainBatch, ChiralHamiltonian, SSHChain
from ...errors import GaplessWarning
from . import dense as realspace
from . import local as local_route
from .exact import bloch_winding, bloch_winding_coefficients, twisted_winding
from .dense import as_blocks
from .._routes import AUTO_LOCAL_CELLS, winding_route  # noqa: F401 - AUTO_LOCAL_CELLS re-exported
from .._routes import LocalOptions, local_keywords
from .._routes import inapplicable as _inapplicable

__all__ = ["winding_number", "local_winding_marker", "as_blocks", "check_method_options", "LOCAL_OPTIONS",
           "LocalOptions"]


def _run_local(local: Optional[LocalOptions], system, region, progress: bool, markers: bool = False, cells=None):
    """Call the local route with the options ``local`` (``None``: its defaults)."""
    if markers:
        return local_route.local_markers(system, cells, local=local, progress=progress)
    return local_route.winding_number_local(system, region, local=local, progress=progress)


#: Fields of :class:`~tntopo.LocalOptions`, the options that only the local route uses.
LOCAL_OPTIONS: Tuple[str, ...] = tuple(f.name for f in fields(LocalOptions))


def check_method_options(function: str, method: str, local: Optional[LocalOptions], region_given: bool) -> None:
    """Raise ``TypeError`` if options were given that ``method`` does not use.

    ``local``: the local route's options (a :class:`~tntopo.LocalOptions` or ``None``); they apply
    to ``"local"`` and ``"auto"`` only. ``region_given``: a bulk region was given; it does not
    apply to the exact ``"bloch"`` and ``"twisted"`` routes. ``function`` names the caller in the
    message.
    """
    LocalOptions.ensure(function, local)
    if method not in ("local", "auto") and local is not None:
        held = ", ".join(f"{n}=" for n in local.given()) or "none given"
        _inapplicable(function, method, ("local",), f"it holds the options of the local route ({held}): use "
                      "method='local' or 'auto'")
    if method in ("bloch", "twisted") and region_given:
        _inapplicable(function, method, ("region",), "an exact integer has no bulk region; use method='dense' "
                      "or 'local' for a region")


def _full_hamiltonian_layout(h: np.ndarray) -> Optional[str]:
    """``"block"``/``"interleaved"`` if ``h`` looks like a full chiral Hamiltonian, else ``None``.

    A full ``2N x 2N`` chiral Hamiltonian passed where an A->B block is expected is Hermitian
    and has zero same-sublattice blocks, in the basis ``(A_0..A_{N-1}, B_0..B_{N-1})``
    (``"block"``, as :meth:`SSHChain.hamiltonian` builds it) or ``(A_0, B_0, A_1, B_1, ...)``
    (``"interleaved"``). A true A->B block of that form is Hermitian, and a Hermitian block
    has winding number 0 (``h(k)`` is real: it cannot wind): taking it for a block would return
    a silent 0.
    """
    n2 = h.shape[-1]
    if n2 % 2 or n2 < 2 * MIN_CELLS:
        return None
    scale = float(np.abs(h).max(initial=0.0))
    if scale == 0.0:
        return None
    tol = 1e-10 * scale
    n = n2 // 2
    hh = h.reshape((-1, n2, n2))
    if np.abs(hh[:, :n, :n]).max() <= tol and np.abs(hh[:, n:, n:]).max() <= tol:
        layout = "block"
    elif np.abs(hh[:, ::2, ::2]).max() <= tol and np.abs(hh[:, 1::2, 1::2]).max() <= tol:
        layout = "interleaved"
    else:
        return None
    if np.abs(hh - np.conj(np.swapaxes(hh, -1, -2))).max() > tol:
        return None
    return layout


def check_not_full_hamiltonian(h: np.ndarray, function: str = "winding_number") -> None:
    """Raise ``ValueError`` if raw blocks ``h`` are in fact a full ``2N x 2N`` chiral Hamiltonian.

    See :func:`_full_hamiltonian_layout`; the message names the two fixes (wrap the matrix in
    :class:`~tntopo.ChiralHamiltonian`, or pass its A->B block).
    """
    layout = _full_hamiltonian_layout(h)
    if layout is None:
        return
    n2 = h.shape[-1]
    n = n2 // 2
    block = f"H[..., :{n}, {n}:]" if h.ndim == 3 else f"H[:{n}, {n}:]"
    where = (f"its A->B block {block}" if layout == "block"
             else f"its A->B block {block.replace(f':{n}, {n}:', '0::2, 1::2')} (sites ordered A_0, B_0, A_1, ...)")
    raise ValueError(
        f"{function}() got a {n2}x{n2} matrix that is a full chiral Hamiltonian [[0, h], [h^dagger, 0]] "
        f"(Hermitian, zero A-A and B-B blocks), not an A->B hopping block: read as a block it would give a "
        f"meaningless 0. Pass tntopo.ChiralHamiltonian(H) (it finds the A/B split) or {where}"
    )


def _raw_blocks(system, function: str) -> np.ndarray:
    """``as_blocks(system)`` for what is not a chain: a 2D lattice, or any object that is not an
    array, is refused with what to pass instead (not numpy's "dtype object")."""
    from ...systems.lattice2d import Lattice2D

    if isinstance(system, Lattice2D):
        raise ValueError(
            f"{function}() got a 2D lattice ({system!r}): the winding number is the invariant of 1D chiral "
            "chains; use tntopo.chern_number(lattice) (or tntopo.local_chern_marker) for a 2D lattice"
        )
    if not (isinstance(system, (np.ndarray, list, tuple, numbers.Number)) or hasattr(system, "__array__")
            or hasattr(system, "detach")):
        raise ValueError(
            f"{function}() takes an SSHChain, a ChainBatch, a ChiralHamiltonian or A->B hopping blocks "
            f"(an (N, N) or (B, N, N) array), got {type(system).__name__}"
        )
    h = as_blocks(system)
    check_not_full_hamiltonian(h, function)
    return h


def _check_method(method) -> str:
    return check_option("method", method, Method)


def _check_dense_size(n_cells: int, complex_: bool, function: str, batch: int = 1) -> None:
    """Refuse (``ValueError``, before any work) a dense route whose ``N x N`` matrices cannot fit."""
    from ..._memory import check_dense_memory

    check_dense_memory(n_cells, 16 if complex_ else 8, f"method='dense' ({function}) on {n_cells} cells"
                       + (f" x {batch} chains" if batch > 1 else ""),
                       "use method='local' (windows of the chain: O(N) memory and time)", batch=batch)


def _chain_dense(chain: SSHChain, region) -> float:
    _check_dense_size(chain.n_cells, chain.dtype.kind == "c", "winding_number")
    return float(realspace.winding_from_blocks(chain.hopping_block()[None], chain.boundary, region)[0])


@local_keywords(LocalOptions)
@strict_keywords
def winding_number(
    system,
    method: Method = "auto",
    *,
    region=None,
    local: Optional[LocalOptions] = None,
    progress: bool = False,
):
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
        Bulk region of the real-space routes (see :func:`tntopo.invariants.bulk_region`);
        inapplicable to ``"bloch"`` and ``"twisted"``.
    local : LocalOptions, optional
        Options of the local route (``buffer``, ``core``, ``tol``, ``max_buffer``, ``check``,
        ``threads``: see :class:`~tntopo.LocalOptions`; ``None``: its defaults). Accepted with
        ``method="local"`` and ``"auto"`` (used when ``"auto"`` picks the local route); a
        ``TypeError`` with any other method. The former keywords ``buffer=`` ... ``threads=``
        still work, with a :class:`FutureWarning`, for one release.
    progress : bool
        Show a progress bar (tqdm) where the work is long: the windows of the local route,
        the chains of a batch computed one by one.

    Returns
    -------
    float or ndarray of shape (B,)
        A float for one system, an array for a batch.

    Raises
    ------
    ValueError
        Bad input (NaN, non-square or too small blocks, unknown method or boundary...), or a
        full ``2N x 2N`` chiral Hamiltonian given as raw blocks (wrap it in
        :class:`~tntopo.ChiralHamiltonian`, or pass its A->B block).
    TypeError
        An unknown keyword, or one inapplicable to ``method`` (e.g. ``local=`` with
        ``method="dense"``).
    GaplessError
        ``"bloch"``/``"twisted"`` on a gapless system.

    Warns
    -----
    GaplessWarning
        A real-space value far from an integer (gapless or too short system).

    Examples
    --------
    >>> import tntopo
    >>> round(tntopo.winding_number(tntopo.SSHChain({0: 0.5, 1: 1.0}, n_cells=40), method="dense"), 5)
    1.0
    """
    method = _check_method(method)
    check_method_options("winding_number", method, local, region is not None)
    opts = local
    progress = bool(progress)
    if isinstance(system, ChainBatch):
        return _batch_winding(system, method, region, opts, progress)
    if isinstance(system, SSHChain):
        return _chain_winding(system, method, region, opts, progress)
    if isinstance(system, ChiralHamiltonian):
        if method in ("bloch", "twisted"):
            raise ValueError(
                f"method={method!r} needs an SSHChain (hoppings or a ring); a ChiralHamiltonian "
                "supports 'dense', 'local' or 'auto'"
            )
        if winding_route(system, method).method == "local":
            return float(_run_local(opts, system, region, progress))
        _check_dense_size(system.n_cells, np.iscomplexobj(system.H), "winding_number")
        return float(
            realspace.winding_from_blocks(
                system.hopping_block()[None], "open", region,
                positions=(system.positions_A, system.positions_B),
            )[0]
        )
    h = _raw_blocks(system, "winding_number")
    if method in ("bloch", "twisted"):
        raise ValueError(
            f"method={method!r} needs an SSHChain (it uses the hoppings or a periodic ring); raw "
            "blocks support 'dense', 'local' or 'auto'"
        )
    if winding_route(h, method).method == "local":
        return _run_local(opts, h, region, progress)
    _check_dense_size(h.shape[-1], np.iscomplexobj(h), "winding_number", batch=h.shape[0] if h.ndim == 3 else 1)
    W = realspace.winding_from_blocks(h, "open", region)
    return float(W) if h.ndim == 2 else W


def _each_chain(batch: ChainBatch, indices, method: str, region, opts: Optional[LocalOptions], progress: bool):
    """Winding numbers of ``batch[i]`` for ``i`` in ``indices``, one chain at a time."""
    from tqdm.auto import tqdm

    return [_chain_winding(batch[i], method, region, opts, False)
            for i in tqdm(indices, desc="chains", unit="chain", disable=not progress)]


def _batch_winding(batch: ChainBatch, method: str, region, opts: Optional[LocalOptions], progress: bool) -> np.ndarray:
    """Batched routes for a ChainBatch; per sample the same semantics as for one chain."""
    route = winding_route(batch, method)
    if route.requested == "auto" and route.method == "bloch":  # the gapless ones: route.fallback
        c, m_min = laurent_coefficients(batch.hoppings, batch.ranges)
        W, margin = bloch_winding_coefficients(c, m_min, check_gap=False)
        W = W.astype(float)
        gapless = np.flatnonzero(margin < GAP_TOL)
        if len(gapless):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", GaplessWarning)
                W[gapless] = _each_chain(batch, gapless, route.fallback, region, opts, progress)
            warnings.warn(
                f"{len(gapless)} clean chain(s) of the batch are gapless (e.g. sample {gapless[0]}): "
                "their real-space values are returned and are not quantized invariants",
                GaplessWarning,
                stacklevel=3,
            )
        return W
    method = route.method
    if method == "dense":
        _check_dense_size(batch.n_cells, np.iscomplexobj(batch.hoppings), "winding_number", batch=len(batch))
        return realspace.winding_from_blocks(batch.hopping_blocks(), batch.boundary, region)
    if method == "bloch":
        if batch.disorder:
            raise ValueError(
                "method='bloch' needs clean chains; this batch is disordered: use 'twisted' on a "
                "periodic batch or 'dense'"
            )
        return batch.bloch_windings().astype(float)
    return np.array(_each_chain(batch, range(len(batch)), method, region, opts, progress), dtype=float)


def _chain_winding(chain: SSHChain, method: str, region, opts: Optional[LocalOptions], progress: bool) -> float:
    route = winding_route(chain, method)
    if route.requested == "auto" and chain.is_clean and not route.exact:  # clean but gapless: real space
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GaplessWarning)
            W = _chain_dense(chain, region) if route.method == "dense" else float(_run_local(opts, chain, region, progress))
        warnings.warn(
            f"the clean chain {chain!r} is gapless (h(k) = 0 for some k): returning the "
            f"real-space value {W:.4f}, which is not a quantized invariant",
            GaplessWarning,
            stacklevel=4,
        )
        return W
    method = route.method
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
        return float(_run_local(opts, chain, region, progress))
    return _chain_dense(chain, region)


@local_keywords(LocalOptions)
@strict_keywords
def local_winding_marker(
    system,
    cells=None,
    method: MarkerMethod = "dense",
    *,
    local: Optional[LocalOptions] = None,
    progress: bool = False,
) -> np.ndarray:
    """Local winding marker ``w(n)`` of A cells.

    Parameters
    ----------
    system : SSHChain, ChiralHamiltonian or array_like (N, N) / (B, N, N)
    cells : array_like of int, optional
        Cells to return (default: all).
    method : {"dense", "local"}
        ``"local"`` computes only the requested cells from windows of the chain (``O(N)``).
    local : LocalOptions, optional
        Options of the local route (see :class:`~tntopo.LocalOptions`); a ``TypeError`` with
        ``method="dense"``. The former keywords ``buffer=`` ... ``threads=`` still work, with a
        :class:`FutureWarning`, for one release.
    progress : bool
        ``"local"`` only: a progress bar (tqdm) over the windows.

    Returns
    -------
    ndarray, shape (N,) / (len(cells),), or (B, ...) for a batch
        ``w(n) = sum_j |Q_nj|^2 (x_n - x_j)``; its bulk average is the winding number.
    """
    method = check_option("method", method, MarkerMethod, hint=" for local_winding_marker")
    LocalOptions.ensure("local_winding_marker", local)
    if method == "local":
        if not isinstance(system, (SSHChain, ChiralHamiltonian, ChainBatch)):
            _raw_blocks(system, "local_winding_marker")
        return _run_local(local, system, None, bool(progress), markers=True, cells=cells)
    _inapplicable("local_winding_marker", method, (("local",) if local is not None else ())
                  + (("progress",) if progress else ()), "they are options of the local route: use method='local'")
    boundary, positions = "open", None
    if isinstance(system, SSHChain):
        _check_dense_size(system.n_cells, system.dtype.kind == "c", "local_winding_marker")
        h, boundary = system.hopping_block(), system.boundary
    elif isinstance(system, ChiralHamiltonian):
        h, positions = system.hopping_block(), (system.positions_A, system.positions_B)
    else:
        h = _raw_blocks(system, "local_winding_marker")
    w = realspace.markers_from_blocks(h, boundary, positions)
    if cells is not None:
        cells = np.asarray(cells, dtype=int)
        N = h.shape[-1]
        if cells.size and (cells.min() < 0 or cells.max() >= N):
            raise ValueError(f"cells must lie in [0, {N}), got {cells.min()}..{cells.max()}")
        w = w[..., cells]
    return w
