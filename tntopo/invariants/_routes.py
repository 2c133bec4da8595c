"""Which route computes an invariant: the automatic choice, written once.

Every invariant (:mod:`tntopo.invariants.winding`, :mod:`tntopo.invariants.chern`) has the same
routes -- ``dense`` (exact diagonalization, a real-space value), ``local`` (``O(N)`` windows) and
its ``exact`` integers -- and ``method="auto"`` picks one from the system. :func:`resolve_route`
is that choice: ``winding_number`` and ``chern_number`` follow it, and the ``tntopo`` command
prints it (it never decides a route itself). It is cheap -- no diagonalization: for a clean
chain, the certified zero count of ``h(z)`` that tells a gapless chain (whose value is a
real-space one) from a gapped one.

The option rules shared by the invariants (:func:`inapplicable`) and the tolerance of a
real-space value (:data:`QUANTIZATION_TOL`) live here too, so that no invariant imports another.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .._laurent import GAP_TOL, laurent_coefficients
from .._typing import ChernMethod, Method, check_option, strict_keywords
from ..systems.chain import ChainBatch, ChiralHamiltonian, SSHChain, certified_windings
from ..systems.lattice2d import Lattice2D

__all__ = ["Route", "resolve_route", "winding_route", "chern_route", "AUTO_LOCAL_CELLS", "AUTO_LOCAL_DIM", "EXACT_ROUTES", "QUANTIZATION_TOL"]

#: ``method="auto"`` (winding number) switches from the dense to the local O(N) route above this many cells.
AUTO_LOCAL_CELLS = 1500
#: ``method="auto"`` (Chern number) uses the local O(N) route for disordered open samples above this dimension.
AUTO_LOCAL_DIM = 6000
#: The routes of each invariant that return a certified integer (the others return a real-space average).
EXACT_ROUTES = {"winding": ("bloch", "twisted"), "chern": ("fhs", "bott")}
#: A real-space value further than this from an integer triggers a :class:`~tntopo.GaplessWarning`.
QUANTIZATION_TOL = 0.05


@strict_keywords
@dataclass(frozen=True)
class Route:
    """The route an invariant is computed by.

    Attributes
    ----------
    invariant : {"winding", "chern"}
    method : str
        The route that runs: ``"dense"``, ``"local"``, ``"bloch"``, ``"twisted"`` (winding
        number); ``"marker"``, ``"local"``, ``"fhs"``, ``"bott"`` (Chern number).
    requested : str
        The ``method`` asked for (``"auto"`` or ``method`` itself).
    exact : bool
        ``method`` returns a certified integer (else a real-space bulk average).
    reason : str
        Why ``"auto"`` chose it (empty for an explicit method).
    fallback : str
        The route of the samples of a batch that ``method`` cannot take (clean chains of a
        :class:`~tntopo.ChainBatch` that are gapless get a real-space value); empty if none.
    """

    invariant: str
    method: str
    requested: str
    exact: bool
    reason: str = ""
    fallback: str = ""


def _route(invariant: str, method: str, requested: str, reason: str = "", fallback: str = "") -> Route:
    return Route(invariant, method, requested, method in EXACT_ROUTES[invariant], reason, fallback)


def _sized(n_cells: int, why: str) -> Route:
    """The real-space winding route for ``n_cells`` cells: dense up to AUTO_LOCAL_CELLS, then local."""
    if n_cells > AUTO_LOCAL_CELLS:
        return _route("winding", "local", "auto", f"{why}; {n_cells} > AUTO_LOCAL_CELLS = {AUTO_LOCAL_CELLS} cells: "
                      "O(N) windows")
    return _route("winding", "dense", "auto", f"{why}; {n_cells} <= AUTO_LOCAL_CELLS = {AUTO_LOCAL_CELLS} cells: "
                  "dense bulk trace")


def clean_gapless(hoppings: np.ndarray, ranges) -> np.ndarray:
    """Which clean chains (rows of ``hoppings`` over ``ranges``) are gapless, by the certified zero
    count of ``h(z)`` that the Bloch route itself uses (a :class:`~tntopo.PrecisionError` where
    the count cannot be certified, as there)."""
    c, m_min = laurent_coefficients(np.atleast_2d(hoppings), ranges)
    _, margin = certified_windings(c, m_min, check_gap=False)
    return margin < GAP_TOL


def winding_route(system, method: str) -> Route:
    """The route of ``winding_number`` (``method`` already checked)."""
    if method != "auto":
        return _route("winding", method, method)
    if isinstance(system, (SSHChain, ChainBatch)):
        if isinstance(system, SSHChain) and system.is_clean:
            ranges = sorted(system.hoppings)
            if clean_gapless(np.array([complex(system.hoppings[m]) for m in ranges]), ranges)[0]:
                return _sized(system.n_cells, "clean but gapless (h(k) = 0 for some k): a real-space value, "
                              "not a quantized invariant")
            return _route("winding", "bloch", "auto", "clean chain: exact integer from h(k)")
        if isinstance(system, ChainBatch) and not system.disorder:
            fallback = _sized(system.n_cells, "").method
            return _route("winding", "bloch", "auto", "clean chains: exact integers from h(k) (the gapless ones: "
                          f"a real-space value, {fallback})", fallback)
        if system.boundary == "periodic":
            return _route("winding", "twisted", "auto", "disordered ring: exact integer from twisted boundaries")
        return _sized(system.n_cells, "disordered open chain")
    if isinstance(system, ChiralHamiltonian):
        return _sized(system.n_cells, "a Hamiltonian (no hoppings)")
    n = np.shape(system)[-1] if np.ndim(system) >= 2 else 0
    return _sized(n, "raw A->B blocks")


def chern_route(geo: Lattice2D, lats, single: bool, method: str) -> Route:
    """The route of ``chern_number`` for validated input: the geometry ``geo``, the lattices
    (``None`` for raw Hamiltonians) and whether it is one sample."""
    if method != "auto":
        return _route("chern", method, method)
    if lats is not None and all(s.disorder == 0 for s in lats):
        # in the orientation of the positions, if custom
        return _route("chern", "fhs", "auto", "clean lattice: exact integer from h(k) (Fukui-Hatsugai-Suzuki)")
    if geo.is_periodic:
        return _route("chern", "bott", "auto", "disordered torus: exact integer (Bott index)")
    if lats is not None and single and geo.dim > AUTO_LOCAL_DIM:
        return _route("chern", "local", "auto", f"disordered open sample of {geo.dim} > AUTO_LOCAL_DIM = "
                      f"{AUTO_LOCAL_DIM} states: O(N) windows")
    return _route("chern", "marker", "auto", "disordered open sample: bulk average of the dense local marker")


@strict_keywords
def resolve_route(system, method: str = "auto", *, lattice: Optional[Lattice2D] = None) -> Route:
    """The route :func:`~tntopo.winding_number` or :func:`~tntopo.chern_number` takes.

    Parameters
    ----------
    system
        What the invariant function would get: an :class:`~tntopo.SSHChain`,
        :class:`~tntopo.ChainBatch`, :class:`~tntopo.ChiralHamiltonian` or A->B blocks (the
        winding number), or a :class:`~tntopo.Lattice2D`, a list of them, or Hamiltonians with
        ``lattice=`` (the Chern number).
    method : str
        The ``method`` the function would get (checked against the invariant's methods).
    lattice : Lattice2D, optional
        The geometry of raw Hamiltonian arrays (the Chern number), as for ``chern_number``.

    Returns
    -------
    Route
        ``method`` resolved: for ``"auto"``, the route that runs and why. A clean chain whose
        ``h(k)`` vanishes somewhere gets its real-space route (its value is not quantized).

    Examples
    --------
    >>> import tntopo
    >>> from tntopo.invariants import resolve_route
    >>> resolve_route(tntopo.SSHChain({0: 0.5, 1: 1.0}, n_cells=40)).method
    'bloch'
    >>> resolve_route(tntopo.Lattice2D.qwz(1.0, (8, 8), disorder=1.0, seed=0)).method
    'bott'
    """
    batch = isinstance(system, (list, tuple)) and bool(system) and all(isinstance(s, Lattice2D) for s in system)
    if lattice is not None or batch or isinstance(system, Lattice2D):
        method = check_option("method", method, ChernMethod, hint=" for chern_number")
        if isinstance(system, Lattice2D):
            return chern_route(system, [system], True, method)
        if batch:
            return chern_route(system[0], list(system), False, method)
        if not isinstance(lattice, Lattice2D):
            raise ValueError(f"lattice= must be a Lattice2D (the geometry of raw Hamiltonians), got {lattice!r}")
        return chern_route(lattice, None, np.ndim(system) == 2, method)
    return winding_route(system, check_option("method", method, Method, hint=" for winding_number"))


def inapplicable(function: str, method: str, names, why: str) -> None:
    """Raise ``TypeError`` naming the options (``names``) that ``method`` of ``function`` does not use."""
    if names:
        bad = ", ".join(f"{n}=" for n in names)
        verb = "is" if len(names) == 1 else "are"
        raise TypeError(f"{function}(): {bad} {verb} inapplicable with method={method!r} ({why})")
