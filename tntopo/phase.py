"""Phase diagrams of disordered chains, and the exact boundary of the nearest-neighbour SSH chain.

For the nearest-neighbour chain with bonds ``t_0 + W_0 u`` and ``t_1 + W_1 u`` (``u`` uniform
in ``[-1/2, 1/2]``, independent), the winding number of a long chain is self-averaging:

.. math:: W = 1 \\iff \\mathbb{E} \\ln|t_1 + W_1 u| > \\mathbb{E} \\ln|t_0 + W_0 u|

(Mondragon-Shem, Hughes, Song & Prodan 2014), and, with ``F(x) = x ln|x| - x``,

.. math:: \\mathbb{E} \\ln|a + b u| = \\frac{F(a + b/2) - F(a - b/2)}{b}.

Disorder can make a trivial clean chain topological: the *topological Anderson insulator*
(e.g. ``t_0 = 1.1, t_1 = 1, disorder {0: 2.5, 1: 1.25}``).

:func:`phase_diagram` sweeps two parameters (by default the intracell hopping ``t0`` and the
disorder strength ``W`` with disorder ``{0: W, 1: W/2}``) through
:func:`tntopo.invariants.winding.ensemble.disorder_sweep` -- any executor, deterministic seeds, resumable store. By
default every grid point reuses the same disorder realizations (common random numbers: smooth
curves, correlated errors); ``common_random_numbers=False`` draws independent ones per point.

:func:`critical_t0`, :func:`analytic_winding` and :func:`lyapunov_gap` are also top-level names
(``tntopo.critical_t0``, ...).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from ._typing import Boundary, Method, check_option, strict_keywords
from .invariants._routes import LocalOptions, local_keywords
from .invariants.winding.ensemble import _LOCAL_KEYWORDS, SweepResult, disorder_sweep, route_options

__all__ = [
    "expected_log_abs",
    "analytic_winding",
    "lyapunov_gap",
    "critical_t0",
    "phase_diagram",
    "PhaseDiagram",
    "point_from_params",
    "point_seed",
]


def _F(x):
    x = np.asarray(x, dtype=float)
    ax = np.abs(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ax > 0, x * np.log(np.where(ax > 0, ax, 1.0)) - x, 0.0)


@strict_keywords
def expected_log_abs(a, b):
    """``E ln|a + b u|`` for ``u ~ U[-1/2, 1/2]``, exactly (vectorized over ``a`` and ``b``).

    ``b = 0`` gives ``ln|a|`` (``-inf`` for ``a = 0``). Real ``a``; ``b >= 0`` (the sign of ``b``
    does not matter).
    """
    a = np.asarray(a, dtype=float)
    b = np.abs(np.asarray(b, dtype=float))
    a, b = np.broadcast_arrays(a, b)
    small = b <= 1e-8 * np.maximum(np.abs(a), 1e-300)
    bb = np.where(small, 1.0, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        exact = (_F(a + bb / 2) - _F(a - bb / 2)) / bb
        # second-order expansion for tiny b: ln|a| - b^2 / (24 a^2)
        series = np.log(np.abs(a)) - b ** 2 / (24.0 * np.where(a != 0, a, 1.0) ** 2)
    out = np.where(small, series, exact)
    return out[()] if out.ndim == 0 else out


@strict_keywords
def lyapunov_gap(t0, t1, W0=0.0, W1=0.0):
    """``E ln|t1 + W1 u| - E ln|t0 + W0 u|``: positive in the topological (``W = 1``) phase.

    Its inverse is the localization length of the zero modes; it vanishes on the phase boundary.
    """
    return expected_log_abs(t1, W1) - expected_log_abs(t0, W0)


@strict_keywords
def analytic_winding(t0, t1, W0=0.0, W1=0.0):
    """Winding number of the disordered nearest-neighbour SSH chain in the long-chain limit.

    ``1`` where ``E ln|t1 + W1 u| > E ln|t0 + W0 u|``, else ``0`` (broadcast over arrays).
    """
    return (np.asarray(lyapunov_gap(t0, t1, W0, W1)) > 0).astype(int)


@strict_keywords
def critical_t0(W, t1: float = 1.0, ratios: Tuple[float, float] = (1.0, 0.5)):
    """Critical intracell hopping ``t0_c >= 0`` at disorder strength ``W`` (disorder ``{0: r0 W, 1: r1 W}``).

    For ``t0 >= 0``, ``E ln|t0 + W0 u|`` grows with ``t0``, so the boundary is one point: the chain is
    topological for ``|t0| < t0_c``. Returns ``nan`` where no ``t0 >= 0`` is critical.
    """
    from scipy.optimize import brentq

    Ws = np.atleast_1d(np.asarray(W, dtype=float))
    out = np.empty(Ws.shape)
    for i, w in enumerate(Ws):
        target = float(expected_log_abs(t1, ratios[1] * w))
        f = lambda t0: float(expected_log_abs(t0, ratios[0] * w)) - target  # noqa: E731
        lo, hi = 0.0, max(1.0, abs(t1) + w) * 4
        if f(lo) > 0:
            out[i] = np.nan
            continue
        while f(hi) < 0:
            hi *= 2
        out[i] = brentq(f, lo, hi, xtol=1e-13)
    return out if np.ndim(W) else float(out[0])


# ------------------------------------------------------------------------------ parameters
_PARAM = re.compile(r"^(t|W)(-?\d+)?$")


@strict_keywords
def point_from_params(params: Mapping[str, float], hoppings: Mapping[int, complex], disorder: Mapping[int, float]):
    """Apply named parameters to base hoppings/disorder.

    ``"t<m>"`` sets hopping ``t_m``; ``"W<m>"`` sets the disorder strength of range ``m``;
    ``"W"`` scales the disorder *ratios* ``disorder`` (``W=2`` with ``{0: 1, 1: 0.5}`` gives
    ``{0: 2, 1: 1}``).
    """
    h = dict(hoppings)
    scale = None
    d_set: Dict[int, float] = {}
    for name, value in params.items():
        m = _PARAM.match(str(name))
        if not m:
            raise ValueError(
                f"unknown parameter {name!r}: use 't<m>' (hopping of range m, e.g. 't0'), 'W<m>' "
                "(disorder of range m) or 'W' (overall disorder strength)"
            )
        kind, rng = m.group(1), m.group(2)
        if kind == "t":
            if rng is None:
                raise ValueError("parameter 't' needs a range, e.g. 't0' or 't1'")
            h[int(rng)] = value
        elif rng is None:
            scale = value
        else:
            d_set[int(rng)] = value
    d = dict(disorder) if scale is None else {m: scale * r for m, r in disorder.items()}
    d.update(d_set)
    return h, d


def _grid(values, name) -> np.ndarray:
    try:
        v = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 1D array of numbers, got {values!r}") from None
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"{name} must be a non-empty 1D array of values, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        bad = np.flatnonzero(~np.isfinite(v))
        raise ValueError(f"{name} contains NaN or inf (at positions {bad.tolist()}); give finite grid values")
    return v


@strict_keywords
@dataclass
class PhaseDiagram:
    """A two-parameter phase diagram of the disorder-averaged winding number.

    Attributes
    ----------
    x, y : ndarray
        Grid values of the two parameters ``x_param`` and ``y_param``.
    mean, std, sem : ndarray, shape (len(y), len(x))
        Disorder average, spread and standard error of ``W`` at each grid point.
    hoppings, disorder : dict
        Base hoppings and disorder (ratios if ``"W"`` is a parameter).
    sweep : SweepResult
        The underlying sweep (realization values, failures, store).
    """

    x: np.ndarray
    y: np.ndarray
    x_param: str
    y_param: str
    mean: np.ndarray
    std: np.ndarray
    sem: np.ndarray
    hoppings: Dict[int, Any]
    disorder: Dict[int, float]
    sweep: SweepResult

    @property
    def failed(self):
        return self.sweep.failed

    @property
    def is_nearest_neighbour(self) -> bool:
        """Whether the analytic boundary applies (real hoppings of ranges 0 and 1 only)."""
        pts = self.sweep.points
        return all(set(h) | set(d) <= {0, 1} and all(np.isreal(t) for t in h.values()) for h, d in pts)

    def gap(self, x=None, y=None) -> np.ndarray:
        """Analytic ``E ln|t1| - E ln|t0|`` on the grid (or on given ``x``/``y`` arrays): > 0 means W = 1."""
        if not self.is_nearest_neighbour:
            raise ValueError("the analytic boundary is known for nearest-neighbour chains (ranges 0 and 1) only")
        xs = self.x if x is None else np.asarray(x, float)
        ys = self.y if y is None else np.asarray(y, float)
        X, Y = np.meshgrid(xs, ys)
        # parameters enter linearly: evaluate the whole grid at once with array values
        h, d = point_from_params({self.x_param: X, self.y_param: Y}, self.hoppings, self.disorder)
        re = lambda v: np.real(np.asarray(v, dtype=complex))  # noqa: E731
        out = lyapunov_gap(re(h.get(0, 0.0)), re(h.get(1, 0.0)), re(d.get(0, 0.0)), re(d.get(1, 0.0)))
        return np.broadcast_to(out, X.shape).astype(float)

    def analytic(self) -> np.ndarray:
        """Analytic winding number (0/1) on the grid."""
        return (self.gap() > 0).astype(int)

    def agreement(self, margin: float = 0.0) -> float:
        """Fraction of grid points whose rounded mean W equals the analytic one.

        Points with ``|gap| <= margin`` (too close to the boundary for a finite chain) are skipped.
        """
        g = self.gap()
        keep = np.abs(g) > margin
        return float(np.mean(np.round(self.mean[keep]) == (g[keep] > 0)))

    def __repr__(self) -> str:
        sw = self.sweep
        return (f"PhaseDiagram({self.x_param} x {self.y_param}: {len(self.x)} x {len(self.y)} grid, "
                f"x in [{float(np.min(self.x)):g}, {float(np.max(self.x)):g}], "
                f"y in [{float(np.min(self.y)):g}, {float(np.max(self.y)):g}], n_cells={sw.n_cells}, "
                f"{sw.n_realizations} realizations, method={sw.method!r}, failed={len(self.failed)})")

    def to_dict(self) -> Dict[str, Any]:
        """Plain-Python (JSON-ready) form; :meth:`from_dict` reads it back."""
        from ._io import hoppings_to_json, to_jsonable

        return to_jsonable({"kind": "PhaseDiagram", "x": self.x, "y": self.y, "x_param": self.x_param, "y_param": self.y_param,
                            "mean": self.mean, "std": self.std, "sem": self.sem,
                            "hoppings": hoppings_to_json(self.hoppings),
                            "disorder": self.disorder, "sweep": self.sweep.to_dict()})

    def save(self, path) -> None:
        """Write the diagram as JSON, atomically (:meth:`load` reads it back; no pickle)."""
        from ._io import write_json

        write_json(path, self.to_dict(), indent=None)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "PhaseDiagram":
        """The diagram of :meth:`to_dict` (``mean``, ``std``, ``sem`` are recomputed from the sweep)."""
        from ._io import hoppings_from_json

        try:
            sweep = SweepResult.from_dict(d["sweep"])
            x, y = np.asarray(d["x"], dtype=float), np.asarray(d["y"], dtype=float)
            shape = (len(y), len(x))
            return cls(x, y, str(d["x_param"]), str(d["y_param"]), sweep.mean.reshape(shape),
                       sweep.std.reshape(shape), sweep.sem.reshape(shape), hoppings_from_json(d["hoppings"]),
                       {int(m): float(w) for m, w in (d.get("disorder") or {}).items()}, sweep)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a saved PhaseDiagram ({type(exc).__name__}: {exc}); give a file written by "
                             "PhaseDiagram.save or `tntopo phase-diagram --data`") from None

    @classmethod
    def load(cls, path) -> "PhaseDiagram":
        """Read a file written by :meth:`save` (or ``tntopo phase-diagram --data``; JSON, nothing unpickled).

        Examples
        --------
        >>> pd = PhaseDiagram.load("tai.json")            # doctest: +SKIP
        >>> fig = tntopo.plot.plot_phase_diagram(pd)       # doctest: +SKIP
        """
        from ._io import check_kind, read_json

        return cls.from_dict(check_kind(read_json(path), "PhaseDiagram", path))


@local_keywords(LocalOptions, _LOCAL_KEYWORDS)
@strict_keywords
def phase_diagram(
    x: Sequence[float],
    y: Sequence[float],
    *,
    x_param: str = "t0",
    y_param: str = "W",
    hoppings: Optional[Mapping[int, complex]] = None,
    disorder: Optional[Mapping[int, float]] = None,
    n_cells: int = 200,
    n_realizations: int = 20,
    boundary: Boundary = "periodic",
    method: Method = "twisted",
    seed: int = 0,
    common_random_numbers: bool = True,
    executor=None,
    max_workers: Optional[int] = None,
    store=None,
    chunk_size: Optional[int] = None,
    progress: bool = True,
    region=None,
    local: Optional[LocalOptions] = None,
) -> PhaseDiagram:
    """Disorder-averaged winding number over a two-parameter grid.

    Parameters
    ----------
    x, y : 1D array_like
        Grid values (finite) of ``x_param`` and ``y_param``.
    x_param, y_param : str
        ``"t<m>"`` (hopping of range ``m``), ``"W<m>"`` (disorder of range ``m``) or ``"W"``
        (scales the disorder ratios ``disorder``). Default: ``t0`` against ``W``.
    hoppings : dict, optional
        Base hoppings (default ``{0: 1.0, 1: 1.0}``; the grid overrides its parameter).
    disorder : dict, optional
        Disorder ratios scaled by ``"W"`` (default ``{0: 1.0, 1: 0.5}``, the Mondragon-Shem
        convention), or fixed strengths if ``"W"`` is not a parameter.
    n_cells, n_realizations, boundary, method, seed, executor, max_workers, store, chunk_size, progress
        As in :func:`tntopo.invariants.winding.ensemble.disorder_sweep`. The default -- rings with
        ``method="twisted"`` -- is exact per realization and cheap.
    common_random_numbers : bool
        ``True`` (default): every grid point uses the *same* disorder realizations (realization
        ``r`` draws its uniform numbers ``u`` from ``task_seed(seed, r)`` at every point; only
        the amplitudes ``t_m + W_m u`` change). Curves are smooth and differences between
        points are precise, but the errors of neighbouring points are correlated: a feature
        of one unlucky realization shows up at every point. ``False``: each grid point draws
        its own independent realizations (point ``i`` uses the master seed
        ``SeedSequence(seed, spawn_key=(1, i))``), so the errors are independent.
    region, local : optional
        The bulk region of the real-space routes and the local route's options (a
        :class:`~tntopo.LocalOptions`), passed to :func:`tntopo.winding_number` (see
        :func:`tntopo.invariants.winding.ensemble.disorder_sweep`); a ``TypeError`` if ``method``
        does not use them. The former keywords ``buffer=``, ``core=``, ``tol=``, ``max_buffer=``,
        ``check=`` still work, with a :class:`FutureWarning`, for one release.

    Raises
    ------
    TypeError
        An unknown keyword (the message lists the valid ones).
    ValueError
        Bad grids, parameters or sweep settings.

    Returns
    -------
    PhaseDiagram
        ``mean[i, j]`` at ``(x[j], y[i])``; plot it with :func:`tntopo.plot.plot_phase_diagram`.

    Examples
    --------
    >>> pd = phase_diagram(np.linspace(0, 2, 5), [0.0, 2.5], n_cells=100, n_realizations=4,
    ...                    executor="serial", progress=False)  # doctest: +SKIP
    """
    check_option("method", method, Method)
    check_option("boundary", boundary, Boundary)
    route_options("phase_diagram", method, region, local)
    xs, ys = _grid(x, "x"), _grid(y, "y")
    if x_param == y_param:
        raise ValueError(f"x_param and y_param are both {x_param!r}; choose two different parameters")
    hop = {0: 1.0, 1: 1.0} if hoppings is None else dict(hoppings)
    dis = {0: 1.0, 1: 0.5} if disorder is None else dict(disorder)
    points = []
    for yv in ys:
        for xv in xs:
            points.append(point_from_params({x_param: xv, y_param: yv}, hop, dis))
    common = dict(boundary=boundary, method=method, chunk_size=chunk_size, region=region, local=local)
    if not isinstance(common_random_numbers, (bool, np.bool_)):
        raise ValueError(f"common_random_numbers must be True or False, got {common_random_numbers!r}")
    if common_random_numbers:
        sweep = disorder_sweep(
            points, n_cells, n_realizations, seed=seed, executor=executor, max_workers=max_workers,
            store=store, progress=progress, desc="phase diagram", **common,
        )
    else:
        sweep = _independent_sweep(points, n_cells, n_realizations, seed, executor, max_workers, store,
                                   progress, common)
    shape = (len(ys), len(xs))
    return PhaseDiagram(
        x=xs, y=ys, x_param=x_param, y_param=y_param, mean=sweep.mean.reshape(shape),
        std=sweep.std.reshape(shape), sem=sweep.sem.reshape(shape), hoppings=hop, disorder=dis, sweep=sweep,
    )


@strict_keywords
def point_seed(seed: int, i: int) -> int:
    """Master seed of grid point ``i`` when realizations are independent per point.

    ``SeedSequence(seed, spawn_key=(1, i))`` reduced to a 63-bit integer: deterministic,
    independent of the grid's size and of the executor.
    """
    from .parallel import task_seed

    return int(task_seed(seed, 1, i).generate_state(1, np.uint64)[0] >> np.uint64(1))


def _independent_sweep(points, n_cells, n_realizations, seed, executor, max_workers, store, progress, common):
    """One :func:`disorder_sweep` per point, each with its own master seed, on one shared executor."""
    from tqdm.auto import tqdm

    from ._typing import check_integer
    from .parallel import get_executor

    seed = check_integer("seed", seed, 0)
    parts = []
    with get_executor(executor, max_workers, preload=["tntopo.invariants.winding.ensemble"]) as ex:  # its tasks' module
        for i, pt in enumerate(tqdm(points, desc="phase diagram", unit="point", disable=not progress)):
            parts.append(disorder_sweep([pt], n_cells, n_realizations, seed=point_seed(seed, i), executor=ex,
                                        store=store, progress=False, desc=None, **common))
    failed = {i: msg for i, p in enumerate(parts) for msg in p.failed.values()}
    return SweepResult(
        points=[p.points[0] for p in parts], values=np.concatenate([p.values for p in parts]),
        n_gapless=np.concatenate([p.n_gapless for p in parts]), failed=failed, n_cells=parts[0].n_cells,
        n_realizations=parts[0].n_realizations, boundary=parts[0].boundary, method=parts[0].method,
        seed=seed, store=parts[0].store, n_loaded=sum(p.n_loaded for p in parts),
        n_computed=sum(p.n_computed for p in parts),
    )
