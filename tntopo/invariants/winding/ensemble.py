"""Disorder ensembles: winding numbers averaged over realizations, on grids, on any executor.

A *point* is a pair ``(hoppings, disorder)``. Realization ``r`` of every point is the chain
``SSHChain(hoppings, n_cells, boundary, disorder, seed=task_seed(seed, r))``: the seeds depend
only on the master ``seed`` and ``r`` -- never on the executor, the number of workers, the
chunking, the order of the grid or which other points it holds -- so a sweep gives identical
bytes wherever it runs, and a point keeps its values when the grid grows. (All points share
the same random numbers ``u`` for realization ``r``, "common random numbers", which makes
phase diagrams smooth; each point's average is still an unbiased disorder average.)

Work is split into tasks of ``chunk_size`` realizations of one point and run through
``executor=`` (see :mod:`tntopo.parallel`: a process pool by default, ``"serial"``,
``"thread"``, a dask scheduler address, or any :class:`concurrent.futures.Executor` such as
``dask.distributed.Client(...).get_executor()``).

With ``store=DIR`` every finished task is written at once, atomically, to its own small JSON
file in ``DIR`` (named by a hash of everything that determines its values, plus the range of
realizations). A sweep that is interrupted -- killed, a worker crash, a broken executor --
restarts where it stopped: finished tasks are read back, only the missing realizations run.
Raising ``n_realizations`` later only computes the new ones. Failed tasks are reported in
:attr:`SweepResult.failed`; the finished ones are kept.

*Phase diagrams.* :func:`phase_diagram` sweeps two parameters (by default the intracell hopping ``t0`` and the
disorder strength ``W`` with disorder ``{0: W, 1: W/2}``) through :func:`disorder_sweep` and
returns a :class:`PhaseDiagram` (saved and loaded as JSON). By default every grid point reuses the
same disorder realizations (common random numbers: smooth curves, correlated errors);
``common_random_numbers=False`` draws independent ones per point (:func:`point_seed`).

For the nearest-neighbour chain with bonds ``t_0 + W_0 u`` and ``t_1 + W_1 u`` (``u`` uniform
in ``[-1/2, 1/2]``, independent), the winding number of a long chain is self-averaging:

.. math:: W = 1 \\iff \\mathbb{E} \\ln|t_1 + W_1 u| > \\mathbb{E} \\ln|t_0 + W_0 u|

(Mondragon-Shem, Hughes, Song & Prodan 2014), and, with ``F(x) = x ln|x| - x``,

.. math:: \\mathbb{E} \\ln|a + b u| = \\frac{F(a + b/2) - F(a - b/2)}{b}

(:func:`expected_log_abs`, :func:`lyapunov_gap`, :func:`analytic_winding`, :func:`critical_t0`;
the last three are also top-level names, ``tntopo.critical_t0``, ...). Disorder can make a trivial
clean chain topological: the *topological Anderson insulator* (e.g. ``t_0 = 1.1, t_1 = 1``,
disorder ``{0: 2.5, 1: 1.25}``; :data:`TAI_WINDOW`). These lived in ``tntopo.phase`` until issue
20; that path still imports, with a ``FutureWarning``, for one release. (The 2D counterpart,
:func:`~tntopo.invariants.chern.ensemble.chern_phase_diagram`, is in the Chern ensemble module.)

Examples
--------
>>> from tntopo import disorder_average
>>> res = disorder_average({0: 1.1, 1: 1.0}, {0: 2.5, 1: 1.25}, n_cells=100,
...                        n_realizations=8, executor="serial", progress=False)
>>> res.mean  # doctest: +SKIP
1.0
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..._io import hoppings_to_json, to_jsonable, write_json
from ..._typing import Boundary, Method, check_integer, check_option, strict_keywords
from ...systems.chain import check_boundary, check_n_cells, check_range
from ...errors import GaplessError, GaplessWarning
from ...parallel import ExecutorLike, TaskFailure, get_executor, map_tasks, task_seed
from .._routes import LocalOptions, local_keywords

__all__ = [
    "disorder_average",
    "disorder_sweep",
    "realization_windings",
    "SweepResult",
    "EnsembleResult",
    "normalize_point",
    "TAI_WINDOW",
    "phase_diagram",
    "PhaseDiagram",
    "expected_log_abs",
    "analytic_winding",
    "lyapunov_gap",
    "critical_t0",
    "point_from_params",
    "point_seed",
]

STORE_VERSION = 1
#: Disorder strengths ``W`` (disorder ``{0: W, 1: W/2}``, clean hoppings ``{0: t_0 ~ 1.1, 1: 1}``)
#: counted as the topological Anderson insulator window: trivial when clean, ``W = 1`` there.
TAI_WINDOW = (2.0, 3.0)
#: Options of the route forwarded by the ensemble functions to :func:`tntopo.winding_number`, as
#: they enter the store's file names: ``region`` and the fields of :class:`~tntopo.LocalOptions`
#: (``threads`` excepted: the tasks are the parallel unit).
ROUTE_OPTIONS = ("region", "buffer", "core", "tol", "max_buffer", "check")
#: The former keywords of the ensemble functions that ``local=`` replaces (deprecated).
_LOCAL_KEYWORDS = ROUTE_OPTIONS[1:]


# ------------------------------------------------------------------------------- validation
def _num(what: str, key, value, real: bool = False, nonneg: bool = False) -> Union[float, complex]:
    try:
        z = complex(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what}[{key!r}] = {value!r} is not a number") from None
    if not (math.isfinite(z.real) and math.isfinite(z.imag)):
        raise ValueError(f"{what}[{key!r}] = {value!r} is NaN or infinite; give finite values (check the grid)")
    if real or z.imag == 0:
        if z.imag != 0:
            raise ValueError(f"{what}[{key!r}] = {value!r} must be real")
        if nonneg and z.real < 0:
            raise ValueError(f"{what}[{key!r}] = {value!r} must be >= 0 (a disorder strength)")
        return float(z.real)
    return z


@strict_keywords
def normalize_point(point) -> Tuple[Dict[int, Any], Dict[int, float]]:
    """Validate a point: ``(hoppings, disorder)``, ``{"hoppings": ..., "disorder": ...}`` or a hoppings dict.

    Returns plain ``({m: t_m}, {m: W_m})`` dicts (sorted by range) or raises ``ValueError``.
    """
    if isinstance(point, Mapping) and "hoppings" in point:
        hop, dis = point["hoppings"], point.get("disorder") or {}
    elif isinstance(point, Mapping):
        hop, dis = point, {}
    elif isinstance(point, (tuple, list)) and len(point) == 2:
        hop, dis = point[0], point[1] or {}
    else:
        raise ValueError(
            f"a point is (hoppings, disorder) or {{'hoppings': ..., 'disorder': ...}}, got {point!r}"
        )
    if not isinstance(hop, Mapping) or not hop:
        raise ValueError(f"hoppings must be a non-empty dict {{m: t_m}}, got {hop!r}")
    if not isinstance(dis, Mapping):
        raise ValueError(f"disorder must be a dict {{m: W_m}}, got {dis!r}")
    h = {check_range("hoppings", m): _num("hoppings", m, t) for m, t in sorted(hop.items())}
    d = {check_range("disorder", m): _num("disorder", m, w, real=True, nonneg=True) for m, w in sorted(dis.items())}
    return h, d


# ------------------------------------------------------------------------------ the task
@local_keywords(LocalOptions, _LOCAL_KEYWORDS)
@strict_keywords
def realization_windings(hoppings, disorder, n_cells, boundary, method, seed, r_start, r_stop,
                         region=None, local=None):
    """Winding numbers of realizations ``r_start..r_stop-1`` of one point (the unit of work).

    ``region`` and ``local`` (a :class:`~tntopo.LocalOptions`) are passed to
    :func:`tntopo.winding_number` (``None``: not given; the former keywords ``buffer=`` ...
    ``check=`` still work, with a :class:`FutureWarning`, for one release). All parameters are
    positional-or-keyword so that a task is a plain argument tuple.

    Returns ``(values, n_gapless)``: a float array (``nan`` where an exact method met a gapless
    realization) and the number of realizations that were gapless or not quantized.
    """
    from ...systems.chain import SSHChain
    from .api import winding_number

    from ..._blas import single_threaded_blas
    from .dense import QUANTIZATION_TOL

    out = np.empty(r_stop - r_start)
    n_gapless = 0
    # tasks are the parallel unit: LAPACK runs single-threaded inside them (much faster for the
    # small matrices of ensembles). Warning filters are process-global: GaplessWarnings are only
    # silenced when no other thread can be affected (serial runs, process pools); the gapless
    # count below does not use warnings.
    quiet = threading.current_thread() is threading.main_thread()
    for i, r in enumerate(range(r_start, r_stop)):
        chain = SSHChain(hoppings, n_cells, boundary, disorder or None, task_seed(seed, r))
        with warnings.catch_warnings() if quiet else contextlib.nullcontext(), single_threaded_blas():
            if quiet:
                warnings.simplefilter("ignore", GaplessWarning)
            try:
                out[i] = winding_number(chain, method, region=region, local=local)
            except GaplessError:
                out[i] = np.nan
            except RuntimeError as exc:  # scipy's splu on an exactly singular ring: gapless too
                if "singular" not in str(exc):
                    raise
                out[i] = np.nan
        if not np.isfinite(out[i]) or abs(out[i] - np.round(out[i])) > QUANTIZATION_TOL:
            n_gapless += 1
    return out, n_gapless


# ----------------------------------------------------------------------------------- store
def _point_key(h, d, n_cells, boundary, method, seed, kwargs) -> str:
    # the layout of this spec is the store's file naming: changing it orphans existing stores
    spec = {
        "hoppings": [[int(m), *reim] for m, reim in hoppings_to_json(dict(sorted(h.items()))).items()],
        "disorder": [[m, w] for m, w in sorted(d.items())],
        "n_cells": n_cells,
        "boundary": boundary,
        "method": method,
        "seed": seed,
        "kwargs": {k: repr(v) for k, v in sorted((kwargs or {}).items())},
        "version": STORE_VERSION,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]


def _chunk_name(key: str, r0: int, r1: int) -> str:
    return f"{key}_{r0:09d}-{r1:09d}.json"


def _scan_store(store: Path) -> Dict[str, List[Tuple[int, int, Path]]]:
    found: Dict[str, List[Tuple[int, int, Path]]] = {}
    if not store.exists():
        return found
    for p in store.glob("*.json"):
        stem = p.name[:-5]
        try:
            key, rng = stem.split("_")
            r0, r1 = (int(x) for x in rng.split("-"))
        except ValueError:
            continue
        found.setdefault(key, []).append((r0, r1, p))
    return found


def _read_chunk(path: Path, key: str, r0: int, r1: int):
    try:
        obj = json.loads(path.read_text())
        if obj.get("key") != key or obj.get("r_start") != r0 or obj.get("r_stop") != r1:
            raise ValueError("header does not match the file name")
        vals = np.array([np.nan if v is None else v for v in obj["values"]], dtype=float)
        if vals.shape != (r1 - r0,):
            raise ValueError("wrong number of values")
        return vals, int(obj.get("n_gapless", 0))
    except Exception as exc:  # noqa: BLE001 - a damaged file is recomputed, never trusted
        bad = path.with_name(path.name + ".corrupt")
        try:
            os.replace(path, bad)  # kept for inspection, out of the way of later runs
        except OSError:  # pragma: no cover - read-only store
            bad = path
        warnings.warn(f"ignoring unreadable ensemble file {path} ({exc}; moved to {bad.name}); its "
                      "realizations are recomputed", UserWarning, stacklevel=3)
        return None


def _write_chunk(store: Path, key: str, h, d, meta, r0, r1, vals, n_gapless) -> None:
    obj = {
        "key": key,
        "point": {"hoppings": hoppings_to_json(h), "disorder": {str(m): w for m, w in d.items()}},
        **meta,
        "r_start": r0,
        "r_stop": r1,
        "values": [None if not np.isfinite(v) else float(v) for v in vals],
        "n_gapless": int(n_gapless),
    }
    write_json(store / _chunk_name(key, r0, r1), obj, indent=None)


# ---------------------------------------------------------------------------------- results
@strict_keywords
@dataclass
class SweepResult:
    """Disorder averages over a list of points.

    Attributes
    ----------
    points : list of (hoppings, disorder)
    values : ndarray, shape (n_points, n_realizations)
        Winding number of each realization (``nan``: not computed because its task failed, or
        gapless for an exact method).
    mean, std, sem : ndarray, shape (n_points,)
        Average, spread (standard deviation) and standard error over the finite values.
    count : ndarray of int
        Finite values per point.
    n_gapless : ndarray of int
        Realizations that were gapless or not quantized (real-space routes) per point.
    failed : dict {point index: str}
        Points with at least one failed task, and why. Their finished realizations are kept.
    n_cells, n_realizations, boundary, method, seed, store
        The sweep's settings.
    """

    points: List[Tuple[Dict[int, Any], Dict[int, float]]]
    values: np.ndarray
    n_gapless: np.ndarray
    failed: Dict[int, str]
    n_cells: int
    n_realizations: int
    boundary: str
    method: str
    seed: int
    store: Optional[str] = None
    n_loaded: int = 0
    n_computed: int = 0
    mean: np.ndarray = field(init=False)
    std: np.ndarray = field(init=False)
    sem: np.ndarray = field(init=False)
    count: np.ndarray = field(init=False)

    def __post_init__(self):
        v = self.values
        ok = np.isfinite(v)
        self.count = ok.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            self.mean = np.where(self.count > 0, np.nansum(v, axis=1) / np.maximum(self.count, 1), np.nan)
            dev = np.where(ok, v - self.mean[:, None], 0.0)
            var = (dev ** 2).sum(axis=1) / np.maximum(self.count - 1, 1)
            self.std = np.where(self.count > 0, np.sqrt(var), np.nan)
            self.sem = np.where(self.count > 0, self.std / np.sqrt(np.maximum(self.count, 1)), np.nan)

    @property
    def complete(self) -> bool:
        """True when no task failed."""
        return not self.failed

    def to_dict(self) -> Dict[str, Any]:
        """Plain-Python (JSON-ready) form; :meth:`from_dict` reads it back."""
        return to_jsonable({
            "kind": "SweepResult",
            "points": [{"hoppings": hoppings_to_json(h), "disorder": d} for h, d in self.points],
            "n_cells": self.n_cells, "n_realizations": self.n_realizations, "boundary": self.boundary,
            "method": self.method, "seed": self.seed, "mean": self.mean, "std": self.std,
            "sem": self.sem, "count": self.count, "n_gapless": self.n_gapless,
            "failed": {str(k): v for k, v in self.failed.items()},
            "values": [[None if not np.isfinite(x) else float(x) for x in row] for row in self.values],
        })

    def save(self, path) -> None:
        """Write :meth:`to_dict` as JSON, atomically (:meth:`load` reads it back; no pickle)."""
        write_json(path, self.to_dict(), indent=None)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "SweepResult":
        """The result of :meth:`to_dict` (``mean``, ``std``, ``sem``, ``count`` are recomputed from ``values``).

        ``store``, ``n_loaded`` and ``n_computed`` describe a run, not its result: they are not
        kept (``None``, 0, 0).
        """
        from ..._io import hoppings_from_json

        try:
            points = [(hoppings_from_json(p["hoppings"]), {int(m): float(w) for m, w in (p.get("disorder") or {}).items()})
                      for p in d["points"]]
            values = np.array([[np.nan if x is None else float(x) for x in row] for row in d["values"]], dtype=float)
            values = values.reshape(len(points), int(d["n_realizations"]))
            return cls(points, values, np.asarray(d["n_gapless"], dtype=int),
                       {int(k): str(v) for k, v in (d.get("failed") or {}).items()}, int(d["n_cells"]),
                       int(d["n_realizations"]), str(d["boundary"]), str(d["method"]), int(d["seed"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a saved SweepResult ({type(exc).__name__}: {exc}); give a file written by "
                             "SweepResult.save") from None

    @classmethod
    def load(cls, path) -> "SweepResult":
        """Read a file written by :meth:`save` (JSON; nothing is unpickled)."""
        from ..._io import check_kind, read_json

        return cls.from_dict(check_kind(read_json(path), "SweepResult", path))

    def __repr__(self) -> str:
        return (f"SweepResult({len(self.points)} points x {self.n_realizations} realizations, "
                f"n_cells={self.n_cells}, method={self.method!r}, failed={len(self.failed)})")


@strict_keywords
@dataclass
class EnsembleResult:
    """Disorder average of one point (see :func:`disorder_average`)."""

    mean: float
    std: float
    sem: float
    values: np.ndarray
    count: int
    n_gapless: int
    failed: Optional[str]
    sweep: SweepResult

    def __repr__(self) -> str:
        return (f"EnsembleResult(mean={self.mean:.4g}, std={self.std:.3g}, sem={self.sem:.3g}, "
                f"count={self.count}, n_gapless={self.n_gapless}"
                + (f", failed={self.failed!r}" if self.failed else "") + ")")

    def to_dict(self) -> Dict[str, Any]:
        """Plain-Python (JSON-ready) form: the point's summary and its sweep (one point)."""
        return to_jsonable({"kind": "EnsembleResult", "mean": self.mean, "std": self.std, "sem": self.sem,
                            "count": self.count, "n_gapless": self.n_gapless, "failed": self.failed,
                            "sweep": self.sweep.to_dict()})

    def save(self, path) -> None:
        """Write :meth:`to_dict` as JSON, atomically (:meth:`load` reads it back; no pickle)."""
        write_json(path, self.to_dict(), indent=None)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "EnsembleResult":
        """The result of :meth:`to_dict`; the summary is recomputed from the sweep's values."""
        try:
            sweep = SweepResult.from_dict(d["sweep"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a saved EnsembleResult ({type(exc).__name__}: {exc}); give a file written by "
                             "EnsembleResult.save") from None
        return _ensemble_of(sweep)

    @classmethod
    def load(cls, path) -> "EnsembleResult":
        """Read a file written by :meth:`save` (JSON; nothing is unpickled)."""
        from ..._io import check_kind, read_json

        return cls.from_dict(check_kind(read_json(path), "EnsembleResult", path))


# ------------------------------------------------------------------------------------ sweep
def _default_chunk(n_points: int, n_real: int, max_workers: Optional[int]) -> int:
    workers = max_workers or os.cpu_count() or 1
    tasks_wanted = 4 * workers
    per_point = max(1, math.ceil(tasks_wanted / n_points))
    return max(1, math.ceil(n_real / per_point))


def route_options(function: str, method: str, region, local: Optional[LocalOptions]) -> Dict[str, Any]:
    """The route options given to an ensemble function, checked against ``method``.

    ``region`` and the fields of ``local`` that were given, as ``{name: value}``: what the store's
    file names are made of (the same keys as the former keywords, so that stores written before
    ``local=`` are still found). A ``TypeError`` (naming ``function``) for an option ``method``
    does not use, or for ``LocalOptions(threads=...)``: an ensemble's tasks are its parallel unit,
    each on one thread. Shared by :func:`disorder_sweep`, :func:`disorder_average` and
    :func:`tntopo.phase_diagram`.
    """
    from .api import check_method_options

    check_method_options(function, method, local, region is not None)
    if local is not None and local.threads is not None:
        raise TypeError(f"{function}(): LocalOptions(threads=...) is inapplicable to an ensemble (its tasks are "
                        "the parallel unit, each on one thread; use max_workers=): leave threads unset")
    return {**({} if region is None else {"region": region}), **({} if local is None else local.as_dict())}


def _check_points(points) -> List[Tuple[Dict[int, Any], Dict[int, float]]]:
    """The validated points of a sweep (``ValueError`` naming the bad one)."""
    if isinstance(points, (str, bytes)) or not isinstance(points, Sequence) and not hasattr(points, "__iter__"):
        raise ValueError(f"points must be a sequence of (hoppings, disorder) pairs, got {points!r}")
    pts = []
    for i, p in enumerate(points):
        try:
            pts.append(normalize_point(p))
        except ValueError as exc:
            raise ValueError(f"point {i}: {exc}") from None
    if not pts:
        raise ValueError("points is empty; give at least one (hoppings, disorder) point")
    return pts


@dataclass
class _Table:
    """The values of a sweep being filled: ``values[i, r]``, which are known, the gapless counts."""

    values: np.ndarray
    have: np.ndarray
    gapless: np.ndarray

    @classmethod
    def empty(cls, n_points: int, n_real: int) -> "_Table":
        return cls(np.full((n_points, n_real), np.nan), np.zeros((n_points, n_real), dtype=bool),
                   np.zeros(n_points, dtype=np.int64))

    def load(self, store_path: Path, keys: List[str]) -> int:
        """Fill in the realizations found in the store; returns how many were read."""
        n_real = self.values.shape[1]
        n_loaded = 0
        found = _scan_store(store_path)
        for i, key in enumerate(keys):
            for r0, r1, path in sorted(found.get(key, [])):
                if r0 >= n_real or self.have[i, r0:min(r1, n_real)].all():
                    continue
                got = _read_chunk(path, key, r0, r1)
                if got is None:
                    continue
                vals, ng = got
                hi = min(r1, n_real)
                self.values[i, r0:hi] = vals[: hi - r0]
                self.have[i, r0:hi] = True
                self.gapless[i] += ng if r1 <= n_real else int(np.sum(~np.isfinite(vals[: hi - r0])))
                n_loaded += hi - r0
        return n_loaded

    def missing_tasks(self, chunk_size: int) -> List[Tuple[int, int, int]]:
        """``(point index, r0, r1)`` for the missing realizations: contiguous runs, cut into chunks."""
        tasks = []
        for i in range(self.have.shape[0]):
            missing = np.flatnonzero(~self.have[i])
            if missing.size == 0:
                continue
            breaks = np.flatnonzero(np.diff(missing) != 1) + 1
            for run in np.split(missing, breaks):
                for s in range(0, len(run), chunk_size):
                    part = run[s:s + chunk_size]
                    tasks.append((i, int(part[0]), int(part[-1]) + 1))
        return tasks


def _run_tasks(tasks, pts, table: _Table, args, keys, meta, store_path, executor, max_workers, progress, desc):
    """Run the tasks (``args``: the arguments of :func:`realization_windings` after the point and
    the realization range's place), filling ``table`` and the store as each finishes. Returns
    ``(failed, n_computed)``."""
    n_cells, boundary, method, seed, region, local = args

    def collect(task, result) -> None:  # in this process, as each task finishes
        i, r0, r1 = task
        vals, ng = result
        vals = np.asarray(vals, dtype=float)
        if vals.shape != (r1 - r0,):
            raise ValueError(f"task returned {vals.shape} values, expected {r1 - r0}")
        table.values[i, r0:r1] = vals
        table.gapless[i] += ng
        if store_path is not None:
            _write_chunk(store_path, keys[i], *pts[i], meta, r0, r1, vals, ng)

    results = map_tasks(
        realization_windings,
        [((i, r0, r1), (*pts[i], n_cells, boundary, method, seed, r0, r1, region, local)) for i, r0, r1 in tasks],
        executor, progress=progress, desc=desc, on_result=collect, max_workers=max_workers,
    )
    failed: Dict[int, str] = {}
    n_computed = 0
    for (i, r0, r1), res in sorted(results.items()):
        if isinstance(res, TaskFailure):
            err = res.error
            failed.setdefault(i, f"realizations {r0}..{r1 - 1}: {type(err).__name__}: {err}")
        else:
            n_computed += r1 - r0
    if failed:
        warnings.warn(
            f"{len(failed)} of {len(pts)} point(s) had failed tasks (see result.failed); finished "
            f"realizations are kept{' in ' + str(store_path) if store_path else ''} -- run the sweep "
            "again with the same store= to compute only what is missing",
            UserWarning,
            stacklevel=5,
        )
    return failed, n_computed


@local_keywords(LocalOptions, _LOCAL_KEYWORDS)
@strict_keywords
def disorder_sweep(
    points: Sequence,
    n_cells: int,
    n_realizations: int,
    *,
    boundary: Boundary = "periodic",
    method: Method = "auto",
    seed: int = 0,
    executor: ExecutorLike = None,
    max_workers: Optional[int] = None,
    store=None,
    chunk_size: Optional[int] = None,
    progress: bool = False,
    desc: Optional[str] = "disorder sweep",
    region=None,
    local: Optional[LocalOptions] = None,
) -> SweepResult:
    """Disorder-averaged winding numbers of many points, in parallel and resumable.

    Parameters
    ----------
    points : sequence
        Each ``(hoppings, disorder)`` or ``{"hoppings": ..., "disorder": ...}``.
    n_cells : int
        Cells per chain.
    n_realizations : int
        Disorder realizations per point (realization ``r`` is seeded by ``task_seed(seed, r)``).
    boundary : {"periodic", "open"}
        Rings with ``method="twisted"`` (or ``"auto"``) are the exact, cheap route; open chains
        use the real-space routes (``"dense"``, ``"local"``).
    method : {"auto", "dense", "local", "bloch", "twisted"}
    seed : int
        Master seed.
    executor : None, "process", "serial", "thread", dask address or Executor
        Where tasks run (see :mod:`tntopo.parallel`). Results do not depend on it.
    max_workers : int, optional
        Workers of a pool created here.
    store : path, optional
        Directory of per-task result files: makes the sweep resumable (see module docs).
    chunk_size : int, optional
        Realizations per task (default: about four tasks per worker).
    progress : bool
        Show a progress bar (tqdm) over the tasks.
    desc : str, optional
        Label of the progress bar.
    region : optional
        The bulk region of the real-space routes, passed to :func:`tntopo.winding_number` for every
        realization.
    local : LocalOptions, optional
        Options of the local route (:class:`~tntopo.LocalOptions`, without ``threads``: the tasks
        are the parallel unit), passed to :func:`tntopo.winding_number` for every realization.
        A ``TypeError`` if ``method`` does not use them. The former keywords ``buffer=``, ``core=``,
        ``tol=``, ``max_buffer=``, ``check=`` still work, with a :class:`FutureWarning`, for one
        release (a store written with them is found again with ``local=``).

    Returns
    -------
    SweepResult
        Failed tasks are listed in ``failed`` (their realizations are ``nan``); everything else
        is kept, and on disk if ``store`` is given.

    Raises
    ------
    ValueError
        Bad points, sizes, seed, boundary or method.
    TypeError
        An unknown keyword, or a route option ``method`` does not use.
    """
    pts = _check_points(points)
    n_cells = check_n_cells(n_cells)
    n_real = check_integer("n_realizations", n_realizations, 1)
    seed = check_integer("seed", seed, 0)
    check_boundary(boundary)
    check_option("method", method, Method)
    if method == "twisted" and boundary != "periodic":
        raise ValueError("method='twisted' needs boundary='periodic'; use 'dense'/'local' for open chains")
    if method == "bloch" and any(d for _, d in pts):
        raise ValueError("method='bloch' ignores disorder; use 'twisted' (rings) or 'dense'/'local'")
    options = route_options("disorder_sweep", method, region, local)
    if chunk_size is None:
        chunk_size = _default_chunk(len(pts), n_real, max_workers)
    chunk_size = check_integer("chunk_size", chunk_size, 1)
    meta = {"n_cells": n_cells, "boundary": boundary, "method": method, "seed": seed,
            "kwargs": {k: repr(v) for k, v in options.items()}, "version": STORE_VERSION}

    table = _Table.empty(len(pts), n_real)
    keys = [_point_key(h, d, n_cells, boundary, method, seed, options) for h, d in pts]
    store_path = None if store is None else Path(store)
    n_loaded = 0
    if store_path is not None:
        store_path.mkdir(parents=True, exist_ok=True)
        n_loaded = table.load(store_path, keys)
    tasks = table.missing_tasks(chunk_size)
    failed, n_computed = {}, 0
    if tasks:
        failed, n_computed = _run_tasks(tasks, pts, table, (n_cells, boundary, method, seed, region, local), keys,
                                        meta, store_path, executor, max_workers, progress, desc)
    return SweepResult(
        points=pts, values=table.values, n_gapless=table.gapless, failed=failed, n_cells=n_cells,
        n_realizations=n_real, boundary=boundary, method=method, seed=seed,
        store=None if store_path is None else str(store_path), n_loaded=n_loaded, n_computed=n_computed,
    )


@local_keywords(LocalOptions, _LOCAL_KEYWORDS)
@strict_keywords
def disorder_average(
    hoppings,
    disorder,
    n_cells: int,
    n_realizations: int,
    *,
    boundary: Boundary = "periodic",
    method: Method = "auto",
    seed: int = 0,
    executor: ExecutorLike = None,
    max_workers: Optional[int] = None,
    store=None,
    chunk_size: Optional[int] = None,
    progress: bool = False,
    desc: Optional[str] = "disorder average",
    region=None,
    local: Optional[LocalOptions] = None,
) -> EnsembleResult:
    """Disorder average (and spread) of the winding number of one point.

    :func:`disorder_sweep` on the single point ``(hoppings, disorder)``, with the same keywords
    and defaults (``local=``: a :class:`~tntopo.LocalOptions`). Realizations are spread over the
    executor's workers.

    Returns
    -------
    EnsembleResult
        ``mean``, ``std``, ``sem``, ``values`` (one per realization), ``count``, ``n_gapless``,
        ``failed`` (a message or None) and the underlying ``sweep``.
    """
    check_option("method", method, Method)  # before the route options, so both errors name this function
    route_options("disorder_average", method, region, local)
    res = disorder_sweep(
        [(hoppings, disorder)], n_cells, n_realizations, boundary=boundary, method=method, seed=seed,
        executor=executor, max_workers=max_workers, store=store, chunk_size=chunk_size, progress=progress,
        desc=desc, region=region, local=local,
    )
    return _ensemble_of(res)


def _ensemble_of(res: SweepResult) -> EnsembleResult:
    """The :class:`EnsembleResult` of a one-point sweep."""
    if len(res.points) != 1:
        raise ValueError(f"an EnsembleResult is one point; this sweep has {len(res.points)}")
    return EnsembleResult(
        mean=float(res.mean[0]), std=float(res.std[0]), sem=float(res.sem[0]), values=res.values[0],
        count=int(res.count[0]), n_gapless=int(res.n_gapless[0]), failed=res.failed.get(0), sweep=res,
    )


# =================================================================== phase diagrams (two parameters)
# The analytic boundary of the disordered nearest-neighbour chain, then phase_diagram: a grid of
# points run through disorder_sweep (the 2D counterpart: invariants/chern/ensemble.py).

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
        real = lambda v: np.real(np.asarray(v, dtype=complex))  # noqa: E731
        out = lyapunov_gap(real(h.get(0, 0.0)), real(h.get(1, 0.0)), real(d.get(0, 0.0)), real(d.get(1, 0.0)))
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
        return to_jsonable({"kind": "PhaseDiagram", "x": self.x, "y": self.y, "x_param": self.x_param,
                            "y_param": self.y_param, "mean": self.mean, "std": self.std, "sem": self.sem,
                            "hoppings": hoppings_to_json(self.hoppings),
                            "disorder": self.disorder, "sweep": self.sweep.to_dict()})

    def save(self, path) -> None:
        """Write the diagram as JSON, atomically (:meth:`load` reads it back; no pickle)."""
        write_json(path, self.to_dict(), indent=None)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "PhaseDiagram":
        """The diagram of :meth:`to_dict` (``mean``, ``std``, ``sem`` are recomputed from the sweep)."""
        from ..._io import hoppings_from_json

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
        from ..._io import check_kind, read_json

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
    return int(task_seed(seed, 1, i).generate_state(1, np.uint64)[0] >> np.uint64(1))


def _independent_sweep(points, n_cells, n_realizations, seed, executor, max_workers, store, progress, common):
    """One :func:`disorder_sweep` per point, each with its own master seed, on one shared executor."""
    from tqdm.auto import tqdm

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
