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
from ...parallel import ExecutorLike, TaskFailure, map_tasks, task_seed
from .._routes import LocalOptions, local_keywords

__all__ = [
    "disorder_average",
    "disorder_sweep",
    "realization_windings",
    "SweepResult",
    "EnsembleResult",
    "normalize_point",
    "TAI_WINDOW",
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
