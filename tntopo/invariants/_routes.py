"""Which route computes an invariant: the automatic choice, written once.

Every invariant (:mod:`tntopo.invariants.winding`, :mod:`tntopo.invariants.chern`) has the same
routes -- ``dense`` (exact diagonalization, a real-space value), ``local`` (``O(N)`` windows) and
its ``exact`` integers -- and ``method="auto"`` picks one from the system. :func:`resolve_route`
is that choice: ``winding_number`` and ``chern_number`` follow it, and the ``tntopo`` command
prints it (it never decides a route itself). It is cheap -- no diagonalization: for a clean
chain, the certified zero count of ``h(z)`` that tells a gapless chain (whose value is a
real-space one) from a gapped one.

The option rules shared by the invariants (:func:`inapplicable`), the options objects of the
local routes (:class:`LocalOptions` for the winding number, :class:`ChernLocalOptions` for the
Chern number, on one base: what was given, the check of ``local=``, the deprecated keywords) and the
tolerance of a real-space value (:data:`QUANTIZATION_TOL`) live here too, so that no invariant
imports another and the options can be built without importing the routes.
"""
from __future__ import annotations

import functools
import math
import numbers
import warnings
from dataclasses import dataclass, fields
from typing import Any, Dict, Optional, Tuple

import numpy as np

from .._laurent import GAP_TOL, laurent_coefficients
from .._typing import ChernMethod, ChernSolver, Method, check_integer, check_option, strict_keywords
from ..systems.chain import ChainBatch, ChiralHamiltonian, SSHChain, certified_windings
from ..systems.lattice2d import Lattice2D

__all__ = ["Route", "resolve_route", "LocalOptions", "ChernLocalOptions", "winding_route", "chern_route", "AUTO_LOCAL_CELLS", "AUTO_LOCAL_DIM", "EXACT_ROUTES", "QUANTIZATION_TOL"]

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
    >>> resolve_route(tntopo.Lattice2D.qwz(1.0, (8, 8), boundary="periodic", disorder=1.0, seed=0)).method
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


# ------------------------------------------------------------------ options of the local routes
class _RouteOptions:
    """The shared behaviour of a route's options object (a frozen, keyword-only dataclass whose
    fields default to ``None``, "the route's default"): what was given, and the ``local=`` check."""

    def given(self) -> Tuple[str, ...]:
        """Names of the options that were given (not ``None``), in field order."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name) is not None)

    def as_dict(self) -> Dict[str, Any]:
        """``{name: value}`` of the options that were given (the keywords they stand for)."""
        return {n: getattr(self, n) for n in self.given()}

    @classmethod
    def ensure(cls, function: str, local):
        """``local`` if it is ``None`` or an instance of this class, else a ``ValueError`` naming the class."""
        if local is None or isinstance(local, cls):
            return local
        raise ValueError(f"{function}(): local= takes a tntopo.{cls.__name__}(...) (the options of the local "
                         f"route: {', '.join(f.name for f in fields(cls))}), got {local!r}")


def _positive_int(name: str, value):
    return None if value is None else check_integer(name, value, 1)


def _fraction(name: str, value):
    """``value`` as a float in (0, 1), or a ``ValueError``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    return float(value)


@strict_keywords
@dataclass(frozen=True, kw_only=True)
class LocalOptions(_RouteOptions):
    """Options of the local (windowed, ``O(N)``) route of the winding number.

    One object for :func:`~tntopo.winding_number` and :func:`~tntopo.local_winding_marker`
    (``method="local"``, or ``"auto"`` when it picks the local route), the ensembles
    (:func:`~tntopo.disorder_sweep`, :func:`~tntopo.disorder_average`,
    :func:`~tntopo.phase_diagram`) and the route itself
    (:func:`tntopo.invariants.winding.local.local_markers`,
    :func:`~tntopo.invariants.winding.local.winding_number_local`), passed as ``local=``.
    Every field defaults to ``None``: the route's default.

    Parameters
    ----------
    buffer : int, optional
        Cells kept on each side of a core (>= 1, and at least the hopping range). Default: from
        the localization length, so that the truncation error is about ``tol``.
    core : int, optional
        Cells per window core (>= 1; default ``buffer``, which minimizes the cost).
    tol : float, optional
        Target truncation error per marker of the automatic buffer, in (0, 1) (default
        ``DEFAULT_TOL = 1e-10`` of :mod:`tntopo.invariants.winding.local`).
    max_buffer : int, optional
        Cap on the automatic buffer (default ``MAX_BUFFER = 400``; a
        :class:`~tntopo.GaplessWarning` says when it is hit).
    check : bool, optional
        Recompute a few cells with a 1.5x larger buffer and warn if they moved by more than
        ``1e-6`` (default ``True``).
    threads : int, optional
        Worker threads of the batched polar factors (default: from the batch size and cores; the
        result does not depend on it). Not for the ensembles, whose tasks are the parallel unit.

    Raises
    ------
    ValueError
        A value out of range (the same messages as the keywords it replaces).
    TypeError
        An unknown field (the message names the valid ones), or a positional argument.

    Examples
    --------
    >>> import tntopo
    >>> chain = tntopo.SSHChain({0: 0.5, 1: 1.0}, n_cells=400)
    >>> round(tntopo.winding_number(chain, method="local", local=tntopo.LocalOptions(buffer=30)), 6)
    1.0
    """

    buffer: Optional[int] = None
    core: Optional[int] = None
    tol: Optional[float] = None
    max_buffer: Optional[int] = None
    check: Optional[bool] = None
    threads: Optional[int] = None

    def __post_init__(self):
        for name in ("buffer", "core", "max_buffer", "threads"):
            object.__setattr__(self, name, _positive_int(name, getattr(self, name)))
        object.__setattr__(self, "tol", _fraction("tol", self.tol))
        if self.check is not None and not isinstance(self.check, (bool, np.bool_)):
            raise ValueError(f"check must be True or False, got {self.check!r}")
        if self.check is not None:
            object.__setattr__(self, "check", bool(self.check))


@strict_keywords
@dataclass(frozen=True, kw_only=True)
class ChernLocalOptions(_RouteOptions):
    """Options of the local (windowed, ``O(N)``) route of the Chern number.

    One object for :func:`~tntopo.chern_number` (``method="local"``, or ``"auto"`` when it picks
    the local route), :func:`~tntopo.local_chern_marker` (``method="local"``) and the route itself
    (:func:`tntopo.invariants.chern.local.local_marker_windows`), passed as ``local=``. Every
    field defaults to ``None``: the route's default.

    Parameters
    ----------
    buffer : int, optional
        Cells added on each side of a core block (>= 1; default ``DEFAULT_BUFFER = 10`` of
        :mod:`tntopo.invariants.chern.local`); large compared with the localization length.
    core : int, optional
        Side of the core blocks (>= 1; default 8 for ``solver="eigh"``, 6 for ``"chebyshev"``).
    tol : float, optional
        The Chebyshev expansion's accuracy, in (0, 1) (default ``1e-7``); not with ``solver="eigh"``.
    gap : float, optional
        A lower bound (> 0) on the distance from the Fermi level to the spectrum (default:
        estimated from the clean bands); not with ``solver="eigh"``.
    solver : {"auto", "eigh", "chebyshev"}, optional
        How a window's projector is computed (default ``"auto"``: Chebyshev where a gap is
        guaranteed and the polynomial short, ``eigh`` otherwise; given ``tol`` or ``gap``, the
        Chebyshev windows run).
    threads : int, optional
        Worker threads over the windows (default: one per core; the result does not depend on it).

    Raises
    ------
    ValueError
        A value out of range, or an unknown ``solver``.
    TypeError
        An unknown field (the message names the valid ones), a positional argument, or ``tol``/
        ``gap`` with ``solver="eigh"`` (whose projector is exact).

    Examples
    --------
    >>> import tntopo
    >>> opts = tntopo.ChernLocalOptions(buffer=6, solver="eigh")
    >>> opts.given()
    ('buffer', 'solver')
    """

    buffer: Optional[int] = None
    core: Optional[int] = None
    tol: Optional[float] = None
    gap: Optional[float] = None
    solver: Optional[ChernSolver] = None
    threads: Optional[int] = None

    def __post_init__(self):
        for name in ("buffer", "core", "threads"):
            object.__setattr__(self, name, _positive_int(name, getattr(self, name)))
        object.__setattr__(self, "tol", _fraction("tol", self.tol))
        if self.gap is not None:
            if isinstance(self.gap, bool) or not isinstance(self.gap, numbers.Real) or not self.gap > 0 \
                    or not math.isfinite(self.gap):
                raise ValueError(f"gap must be a positive energy, got {self.gap!r}")
            object.__setattr__(self, "gap", float(self.gap))
        if self.solver is not None:
            object.__setattr__(self, "solver", check_option("solver", self.solver, ChernSolver))
        if self.solver == "eigh":
            bad = [n for n in ("tol", "gap") if getattr(self, n) is not None]
            if bad:
                raise TypeError(
                    f"{', '.join(n + '=' for n in bad)} {'is' if len(bad) == 1 else 'are'} inapplicable "
                    "with solver='eigh' (the window's projector is exact; tol and gap set the Chebyshev "
                    "expansion): use solver='chebyshev'"
                )


def local_keywords(cls, names: Optional[Tuple[str, ...]] = None):
    """Decorator: ``function(..., buffer=4)`` still works for one release, as ``local=cls(buffer=4)``.

    The former keywords of a route's options (``names``, default every field of ``cls``) are taken
    out of the call, a :class:`FutureWarning` names the replacement, and the options go in as
    ``local=`` (``None`` values, "not given", are dropped; given with ``local=`` too, a
    ``TypeError``). Put it outside :func:`~tntopo._typing.strict_keywords`: the function's own
    signature no longer lists the old keywords, and any other unknown keyword still raises there.
    The names are kept on the wrapper as ``__deprecated_keywords__``.
    """
    names = tuple(f.name for f in fields(cls)) if names is None else tuple(names)

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            old = {n: kwargs.pop(n) for n in names if n in kwargs}
            if old:
                fname = fn.__name__
                if kwargs.get("local") is not None:
                    raise TypeError(f"{fname}(): give the local route's options once, as local={cls.__name__}(...), "
                                    f"not also as {', '.join(n + '=' for n in old)}")
                given = {n: v for n, v in old.items() if v is not None}
                spelled = ", ".join(f"{n}={v!r}" for n, v in given.items())
                warnings.warn(
                    f"{fname}(): the keyword{'s' if len(old) > 1 else ''} {', '.join(n + '=' for n in old)} "
                    f"{'are' if len(old) > 1 else 'is'} deprecated: pass "
                    f"local=tntopo.{cls.__name__}({spelled}) ({'they are' if len(old) > 1 else 'it is'} removed in the "
                    "release after next)",
                    FutureWarning, stacklevel=2,
                )
                if given:
                    kwargs["local"] = cls(**given)
            return fn(*args, **kwargs)

        wrapper.__deprecated_keywords__ = names
        return wrapper

    return decorate
