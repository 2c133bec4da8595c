"""Chern numbers of 2D class-A systems: ``chern_number`` and ``local_chern_marker``.

Routes (conventions in ``docs/conventions.rst``, "Two dimensions (Chern insulators)"; occupied = energies below ``fermi_level``):

* ``"fhs"``: Fukui-Hatsugai-Suzuki lattice field strength of the Bloch Hamiltonian ``h(k)``
  (links ``kx`` first, then ``ky``); an exact integer, certified on two k grids (clean lattices).
* ``"bott"``: the Bott index ``(1/2 pi) Im Tr log(U V U^dag V^dag)`` with
  ``U = P exp(2 pi i X / Lx) P``, ``V = P exp(2 pi i Y / Ly) P`` within the occupied space; an
  exact integer for periodic samples, clean or disordered, certified by the eigenvalue phases of
  ``U V U^dag V^dag`` staying away from the branch cut.
* ``"marker"``: the local Chern marker ``c(r) = 4 pi Im sum_orb <r,orb|P X Q Y P|r,orb>``
  (occupied eigenvectors of a threaded batched ``eigh``, the marker network contracted through
  them, :mod:`tntopo.tn.chern`) averaged over the bulk region.
* ``"local"``: the same marker from windows with a buffer (each window's projector a Chebyshev
  expansion applied with sparse products where a gap is guaranteed, else from the window's own
  ``eigh``: ``solver="auto"``), ``O(N)``; never forms the dense projector of the sample
  (:mod:`tntopo.invariants.chern.local`).
"""
from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Optional, get_args

import numpy as np

from ..._typing import CHERN_METHODS, ChernMethod, MarkerMethod, check_option, strict_keywords
from ...errors import GaplessWarning
from ...systems.lattice2d import Lattice2D, chern_bulk_region
from ...systems.lattice2d import check_region as _check_region
from .._routes import AUTO_LOCAL_DIM, QUANTIZATION_TOL, chern_route  # noqa: F401 - AUTO_LOCAL_DIM re-exported
from .._routes import ChernLocalOptions, local_keywords
from .._routes import inapplicable as _inapplicable
from .dense import _blas_threads, _check_fermi, _check_values, _dense_marker, _n_threads
from .exact import BOTT_SV_MIN, _bott_from_eigs, fhs_chern

__all__ = [
    "chern_number",
    "local_chern_marker",
    "bott_index",
    "chern_bulk_region",
    "CHERN_METHODS",
    "MIN_BULK_CELLS",
]

# the option sets are the Literals of :mod:`tntopo._typing` (ChernMethod, MarkerMethod, ChernSolver)
MARKER_METHODS = get_args(MarkerMethod)
#: The marker's bulk average needs at least this many cells per side: the default region
#: ``L//4 <= x < L - L//4`` then leaves out the edges (over a whole sample the marker sums to zero).
MIN_BULK_CELLS = 4


def _as_systems(system, lattice: Optional[Lattice2D], check_values: bool = True):
    """Return ``(geometry lattice, list of lattices or None, H batch or None, single)``.

    ``check_values=False`` leaves the finiteness and Hermiticity checks of raw arrays
    (:func:`_check_values`) to the caller (the dense marker runs them per chunk in its threads).
    """
    if isinstance(system, Lattice2D):
        if lattice is not None:
            raise ValueError("lattice= is only for raw Hamiltonian arrays; pass the Lattice2D alone")
        return system, [system], None, True
    if isinstance(system, (list, tuple)) and system and all(isinstance(s, Lattice2D) for s in system):
        ref = system[0]
        for s in system[1:]:
            if s.shape != ref.shape or s.n_orb != ref.n_orb or s.boundary != ref.boundary:
                raise ValueError(
                    "a batch of lattices must share shape, n_orb and boundary; got "
                    f"{ref.shape}/{ref.n_orb}/{ref.boundary} and {s.shape}/{s.n_orb}/{s.boundary}"
                )
            if not np.array_equal(s.positions(), ref.positions()):
                raise ValueError("a batch of lattices must share the site positions; compute them one by one")
        return ref, list(system), None, False
    if isinstance(system, (list, tuple)) and not system:
        raise ValueError("empty batch of systems; give at least one Lattice2D")
    if hasattr(system, "detach") and hasattr(system, "numpy"):
        system = system.detach().cpu().numpy()
    if isinstance(system, (np.ndarray, list, tuple)):
        try:
            H = np.asarray(system)
        except Exception as exc:
            raise ValueError(f"could not read the Hamiltonians as an array ({exc})") from None
        if H.dtype == object or not np.issubdtype(H.dtype, np.number):
            raise ValueError(f"Hamiltonians must be numeric, got dtype {H.dtype}")
        if lattice is None or not isinstance(lattice, Lattice2D):
            raise ValueError(
                "raw Hamiltonian arrays need lattice=Lattice2D(...) giving the geometry (shape, "
                "n_orb, boundary, positions)"
            )
        single = H.ndim == 2
        Hb = H[None] if single else H
        if Hb.ndim != 3 or Hb.shape[1:] != (lattice.dim, lattice.dim):
            raise ValueError(
                f"Hamiltonians must have shape (n, n) or (B, n, n) with n = lattice.dim = {lattice.dim}, "
                f"got {H.shape}"
            )
        if Hb.shape[0] == 0:
            raise ValueError("empty batch of Hamiltonians (B = 0)")
        Hb = np.ascontiguousarray(Hb.astype(np.complex128 if np.iscomplexobj(Hb) else np.float64, copy=False))
        if check_values:
            _check_values(Hb)
        return lattice, None, Hb, single
    raise ValueError(
        f"cannot compute a Chern number of {type(system).__name__}; give a Lattice2D, a list of "
        "Lattice2D of one shape, or Hamiltonians of shape (n, n)/(B, n, n) with lattice="
    )


def _dense_hamiltonians(lats, H) -> np.ndarray:
    if H is not None:
        return H
    Hs = [s.hamiltonian() for s in lats]
    dtype = np.result_type(*[h.dtype for h in Hs])
    return np.stack(Hs).astype(dtype, copy=False)


def eigh_batched(H: np.ndarray, threads: Optional[int] = None):
    """``numpy.linalg.eigh`` of a ``(B, n, n)`` batch: threads over the batch with one BLAS thread
    each, or one call on BLAS's own threads for a few large matrices."""
    B = H.shape[0]
    nt = _n_threads(B) if threads is None else max(1, int(threads))
    with _blas_threads(nt, H.shape[-1]):
        if nt == 1:
            return np.linalg.eigh(H)
        chunks = np.array_split(np.arange(B), nt)
        with ThreadPoolExecutor(nt) as ex:
            parts = list(ex.map(lambda idx: np.linalg.eigh(H[idx]), chunks))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


@strict_keywords
def bott_index(system, fermi_level: float = 0.0, *, lattice: Optional[Lattice2D] = None, margin: float = 1e-3,
               sv_min: float = BOTT_SV_MIN):
    """Bott index of periodic samples (an int, or an int array for a batch).

    ``(1/2 pi) Im Tr log(U V U^dag V^dag)`` with ``U = P exp(2 pi i X / Lx) P`` and
    ``V = P exp(2 pi i Y / Ly) P`` within the occupied space, ``X``, ``Y`` the cell indices;
    multiplied by :attr:`~tntopo.Lattice2D.orientation` (``-1`` for an embedding whose positions
    mirror the cell indices), so that it is the Chern number in the orientation of the positions.
    Needs both axes periodic.

    Certificate (each sample): no eigenvalue at the Fermi level (else
    :class:`~tntopo.GaplessError`); a mobility gap: every singular value of ``U`` and ``V`` at
    least ``sv_min`` (``1 - s^2`` is the squared norm of ``(1 - P) exp(2 pi i X / L) P``, small when
    the occupied projector is local on the scale of the sample; a Fermi level inside a band of
    extended states gives ``s`` near 0; else :class:`~tntopo.GaplessError`); and the eigenvalues
    of ``U V U^dag V^dag`` at least ``margin`` rad from the branch cut and away from zero (else
    :class:`~tntopo.PrecisionError`). A spectral gap at the Fermi level is not required: in a
    disordered sample the states there may be localized (a mobility gap), which the singular
    values measure.
    """
    geo, lats, H, single = _as_systems(system, lattice)
    if not geo.is_periodic:
        raise ValueError(
            f"method='bott' needs a periodic lattice (boundary='periodic' on both axes), got "
            f"boundary={geo.boundary}; use lattice.with_boundary('periodic') or method='marker'"
        )
    ef = _check_fermi(fermi_level)
    try:
        sv_min = float(sv_min)
    except (TypeError, ValueError):
        raise ValueError(f"sv_min must be a number in [0, 1), got {sv_min!r}") from None
    if not 0 <= sv_min < 1:
        raise ValueError(f"sv_min must be in [0, 1), got {sv_min!r}")
    E, V = eigh_batched(_dense_hamiltonians(lats, H))
    res = _bott_from_eigs(E, V, geo, ef, float(margin), sv_min) * geo.orientation
    return int(res[0]) if single else res


@local_keywords(ChernLocalOptions, ("buffer", "core", "tol", "gap", "solver"))
@strict_keywords
def local_chern_marker(
    system,
    method: MarkerMethod = "dense",
    fermi_level: float = 0.0,
    *,
    lattice: Optional[Lattice2D] = None,
    region=None,
    local: Optional[ChernLocalOptions] = None,
    return_error: bool = False,
    warn: bool = True,
):
    """Local Chern marker map ``c(x, y) = 4 pi Im sum_orb <r,orb|P X Q Y P|r,orb> / A_cell``.

    Parameters
    ----------
    system : Lattice2D, list of Lattice2D, or array (n, n) / (B, n, n)
        A lattice, a batch of lattices of one shape, or Hermitian Hamiltonians in the basis
        ``(x * Ly + y) * n_orb + orb`` with ``lattice=`` giving the geometry.
    method : {"dense", "local"}
        ``"dense"``: exact occupied states from a (batched, threaded) ``eigh``, the marker
        network contracted through them without forming ``P`` (:mod:`tntopo.tn.chern`). ``"local"``: windows with a
        buffer, ``O(N)`` time and memory (one Lattice2D; see
        :func:`tntopo.invariants.chern.local.local_marker_windows`). It agrees with ``"dense"``
        in the bulk; within a few buffers of the open edges of a topological sample the chiral
        edge states make the marker non-local along the edge and the two differ there.
    fermi_level : float
        States below it are occupied.
    lattice : Lattice2D, optional
        Geometry for raw Hamiltonian arrays.
    region : (slice, slice), optional
        ``"local"`` only: compute the marker on these cells (NaN elsewhere); default all cells.
    local : ChernLocalOptions, optional
        ``"local"`` only: the route's options (:class:`~tntopo.ChernLocalOptions`): window
        ``buffer`` and ``core`` (cells); ``solver``, the window's exact projector from a dense
        ``eigh`` of the window Hamiltonian (``"eigh"``: sharp Fermi step, no gap needed), or a
        Chebyshev expansion of it applied with sparse products (``"chebyshev"``: needs a gap at
        the Fermi level, ``gap``, ``tol``; 9-18x faster per site on QWZ at equal bulk accuracy),
        ``"auto"`` (the default): Chebyshev where a gap is guaranteed (the clean gap minus
        ``W/2``, or ``gap``) and the polynomial short, ``eigh`` otherwise
        (:func:`tntopo.invariants.chern.local.pick_solver`); ``tol`` and ``gap``, the Chebyshev
        expansion's accuracy (default ``1e-7``) and a lower bound on the distance from the Fermi
        level to the spectrum (given with ``"auto"``, the Chebyshev windows run); ``threads``.
        The former keywords ``buffer=``, ``core=``, ``tol=``, ``gap=``, ``solver=`` still work,
        with a :class:`FutureWarning`, for one release.
    return_error : bool
        ``"local"`` only: also return the error estimate (from two buffer sizes; an estimate,
        not a bound: see :func:`~tntopo.invariants.chern.local.local_marker_windows`).
    warn : bool
        Emit :class:`~tntopo.GaplessWarning` when the Fermi level is (nearly) gapless, or (local
        route) when its certificate fails.

    Returns
    -------
    ndarray, shape (Lx, Ly) or (B, Lx, Ly)
        (and the error estimate, a float, with ``return_error=True``).

    Raises
    ------
    TypeError
        An unknown keyword, or one inapplicable to ``method`` (or to ``solver``).

    Notes
    -----
    Positions are the cell coordinates (or the lattice's custom positions, divided by their
    area per cell). On a periodic axis the coordinate jumps at the seam ``x = Lx - 1 -> 0``: the
    marker is meaningful away from it (the bulk region).
    """
    method = check_option("method", method, MarkerMethod, hint=" for local_chern_marker")
    ChernLocalOptions.ensure("local_chern_marker", local)
    if method != "local":
        given = [n for n, v in (("region", region), ("local", local)) if v is not None]
        given += ["return_error"] if return_error else []
        held = f" ({', '.join(n + '=' for n in local.given())})" if local is not None and local.given() else ""
        _inapplicable("local_chern_marker", method, given,
                      f"they are options of the local route{held}: use method='local'; the dense marker is exact")
    ef = _check_fermi(fermi_level)
    geo, lats, H, single = _as_systems(system, lattice, check_values=method != "dense")
    if method == "local":
        if lats is None or not single:
            raise ValueError(
                "method='local' takes one Lattice2D (it never forms the dense Hamiltonian); use "
                "method='dense' for arrays or batches"
            )
        from .local import local_marker_windows

        c, err = local_marker_windows(geo, ef, region=region, local=local, warn=warn)
        return (c, err) if return_error else c
    c, w = _dense_marker(_dense_hamiltonians(lats, H), geo, ef, chern_bulk_region(geo.shape) if warn else None,
                         check_values=H is not None)
    if warn:
        if np.any(w > 1e-3):
            warnings.warn(
                f"states within 2% of the spectral width of the Fermi level {ef:g} carry weight "
                f"{w.max():.1e} per bulk site: the bulk is (nearly) gapless and the marker need not be "
                "quantized",
                GaplessWarning,
                stacklevel=3,
            )
    return c[0] if single else c


# ---------------------------------------------------------------------------- chern_number
def _check_bulk(geo: Lattice2D, reg) -> None:
    """Refuse a marker average that cannot mean anything: a sample under ``MIN_BULK_CELLS`` cells
    per side, or a region that is the whole sample (where the marker sums to zero)."""
    if min(geo.shape) < MIN_BULK_CELLS:
        raise ValueError(
            f"shape {geo.shape} is too small for a bulk region: the marker average needs at least "
            f"{MIN_BULK_CELLS} cells per side (the bulk region L//4 <= x < L - L//4 must leave out "
            "the edges; over the whole sample the marker sums to zero); use a larger shape, or "
            "method='fhs' (clean lattices) or method='bott' (periodic ones)"
        )
    if reg[0] == slice(0, geo.Lx) and reg[1] == slice(0, geo.Ly):
        raise ValueError(
            f"region {reg} is the whole sample, where the marker sums to zero by construction: give a "
            "bulk region that leaves out the edges (default L//4 <= x < L - L//4)"
        )


def _warn_marker(vals, w, ef: float, what: str) -> None:
    """The real-space average's certificate: no bulk weight near the Fermi level (``w``, or None
    where it was not measured) and values within ``QUANTIZATION_TOL`` of an integer (as in 1D)."""
    vals = np.atleast_1d(np.asarray(vals, dtype=float))
    dev = np.abs(vals - np.round(vals))
    reasons = []
    if w is not None and np.any(w > 1e-3):
        reasons.append(f"states near the Fermi level {ef:g} carry weight {np.max(w):.1e} per bulk site")
    if np.any(dev > QUANTIZATION_TOL):
        reasons.append(f"{int((dev > QUANTIZATION_TOL).sum())} of {vals.size} value(s) lie up to "
                       f"{dev.max():.3f} from an integer")
    if reasons:
        warnings.warn(
            f"{what}: {'; '.join(reasons)}: the bulk is (nearly) gapless at the Fermi level or the bulk "
            "region is not many localization lengths wide -- the value is not a quantized invariant "
            "(move fermi_level into a gap, the parameters away from the transition, or use a larger "
            "sample)",
            GaplessWarning,
            stacklevel=4,
        )


#: options of :func:`chern_number` and the methods that use them (``"auto"`` takes them all)
_CHERN_OPTIONS = {
    "n_k": ("fhs",),
    "region": ("marker", "local"),
    "local": ("local",),
}


@local_keywords(ChernLocalOptions, ("buffer", "tol", "solver"))
@strict_keywords
def chern_number(
    system,
    method: ChernMethod = "auto",
    fermi_level: float = 0.0,
    *,
    lattice: Optional[Lattice2D] = None,
    region=None,
    n_k: Optional[int] = None,
    local: Optional[ChernLocalOptions] = None,
    warn: bool = True,
):
    """Chern number of the states below ``fermi_level`` of a 2D class-A system.

    Parameters
    ----------
    system : Lattice2D, list of Lattice2D, or array (n, n) / (B, n, n)
        A lattice, a batch of lattices of one shape, or Hermitian Hamiltonians with
        ``lattice=`` giving the geometry (not for ``"fhs"``).
    method : {"auto", "fhs", "bott", "marker", "local"}
        ``"fhs"``: Fukui-Hatsugai-Suzuki on ``h(k)``, exact integer (clean lattices).
        ``"bott"``: Bott index, exact integer (periodic samples, clean or disordered).
        ``"marker"``: dense local Chern marker averaged over ``region`` (a float).
        ``"local"``: the same average from ``O(N)`` windows with a buffer (a float; each window's
        projector a Chebyshev expansion where a gap is guaranteed, else from its own ``eigh``:
        ``solver="auto"``).
        ``"auto"``: ``"fhs"`` for a clean lattice, ``"bott"`` for a disordered periodic one,
        ``"marker"`` (or ``"local"`` above ``AUTO_LOCAL_DIM`` states) otherwise. Custom positions
        are honoured by every route: the real-space routes use them, ``"fhs"`` and ``"bott"`` take
        their orientation (:attr:`~tntopo.Lattice2D.orientation`).
    fermi_level : float
    lattice : Lattice2D, optional
        Geometry for raw Hamiltonians.
    region : (slice, slice), optional
        ``"marker"``/``"local"``: bulk region of the average; default ``L//4 <= x < L - L//4`` on
        each axis.
    n_k : int, optional
        ``"fhs"``: k-grid size (default 24; a second grid ``n_k + 7`` certifies the integer).
    local : ChernLocalOptions, optional
        ``"local"`` (and ``"auto"`` when it picks it): the route's options
        (:class:`~tntopo.ChernLocalOptions`: ``buffer``, ``core``, ``tol``, ``gap``, ``solver``,
        ``threads``; see :func:`local_chern_marker`). The former keywords ``buffer=``, ``tol=``,
        ``solver=`` still work, with a :class:`FutureWarning`, for one release.
    warn : bool
        Emit :class:`~tntopo.GaplessWarning` for real-space routes whose certificate fails.

    Returns
    -------
    int or float, or ndarray for a batch
        An ``int`` from the exact routes, a ``float`` from the marker routes.

    Raises
    ------
    GaplessError
        Exact routes at a gapless Fermi level (for ``"bott"``: no mobility gap).
    PrecisionError
        An exact route could not certify its integer (grids disagree, branch cut).
    ValueError
        Bad input, a method that needs a clean (``"fhs"``) or periodic (``"bott"``) lattice, or
        a marker average on a sample under ``MIN_BULK_CELLS`` cells per side.
    TypeError
        An unknown keyword, or one inapplicable to ``method`` (e.g. ``local=`` with
        ``method="marker"``).

    Warns
    -----
    GaplessWarning
        ``"marker"``/``"local"``: states near the Fermi level in the bulk, a value further than
        0.05 from an integer, or (``"local"``) a failed window certificate or an error estimate
        above 0.05.

    Examples
    --------
    >>> import tntopo
    >>> tntopo.chern_number(tntopo.Lattice2D.qwz(1.0, (12, 12)), method="fhs")
    1
    """
    method = check_option("method", method, ChernMethod, hint=" for chern_number")
    ChernLocalOptions.ensure("chern_number", local)
    if method != "auto":
        opts = {"n_k": n_k, "region": region, "local": local}
        bad = [n for n, v in opts.items() if v is not None and method not in _CHERN_OPTIONS[n]]
        _inapplicable("chern_number", method, bad, "valid options: " + "; ".join(
            f"{n}= with method={'/'.join(repr(m) for m in ms)}" for n, ms in _CHERN_OPTIONS.items()))
    ef = _check_fermi(fermi_level)
    geo, lats, H, single = _as_systems(system, lattice)
    method = chern_route(geo, lats, single, method).method  # "auto" resolved (tntopo.invariants._routes)
    if method == "fhs":
        if lats is None:
            raise ValueError(
                "method='fhs' needs Lattice2D objects (their Bloch Hamiltonian), not raw arrays; "
                "use method='bott' or 'marker'"
            )
        res = [fhs_chern(s, ef, n_k=24 if n_k is None else n_k) for s in lats]
        return res[0] if single else np.array(res)
    if method == "bott":
        return bott_index(system, ef, lattice=lattice)
    reg = _check_region(region, geo.shape)
    _check_bulk(geo, reg)
    if method == "local":
        if lats is None or not single:
            raise ValueError("method='local' takes one Lattice2D; use method='marker' for arrays or batches")
        c = local_chern_marker(geo, "local", ef, region=reg, local=local, warn=warn)
        val = float(np.mean(c[reg]))
        if warn:
            _warn_marker(val, None, ef, "local Chern marker average")
        return val
    c, w = _dense_marker(_dense_hamiltonians(lats, H), geo, ef, reg if warn else None)
    vals = c[:, reg[0], reg[1]].mean(axis=(1, 2))
    if warn:
        _warn_marker(vals, w, ef, "local Chern marker average")
    return float(vals[0]) if single else vals