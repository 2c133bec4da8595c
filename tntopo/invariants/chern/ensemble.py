"""Disorder ensembles and phase diagrams of 2D Chern insulators (QWZ in ``(m, W)``).

Every point of a sweep is one task of :func:`tntopo.parallel.map_tasks` (process pool, threads,
serial or a Dask cluster). Sample ``s`` uses the seed ``task_seed(seed, s)`` at *every* point of
the sweep -- common random numbers: the same disorder configuration ``u`` scaled by ``W`` -- so
results do not depend on the executor, the number of workers or the grid.
"""
from __future__ import annotations

import warnings
from typing import Literal, Sequence

import numpy as np

from ..._typing import check_option, strict_keywords
from ...errors import GaplessError, GaplessWarning, PrecisionError
from ...systems.lattice2d import Lattice2D
from ...parallel import TaskFailure, map_tasks, task_seed

__all__ = ["chern_ensemble", "chern_phase_diagram"]

EnsembleMethod = Literal["bott", "marker"]


def _samples(m: float, W: float, shape, n_samples: int, seed: int, method: str):
    boundary = "periodic" if method == "bott" else "open"
    return [
        Lattice2D.qwz(m, shape, boundary=boundary, disorder=W, seed=task_seed(seed, s))
        for s in range(n_samples)
    ]


def _point(m: float, W: float, shape, n_samples: int, seed: int, method: str, fermi_level: float):
    """One (m, W) point: per-sample values (NaN where the Bott index is not certified)."""
    from .api import bott_index, chern_number

    lats = _samples(m, W, shape, n_samples, seed, method)
    if method == "bott":
        out = np.full(n_samples, np.nan)
        for i, lat in enumerate(lats):
            try:
                out[i] = bott_index(lat, fermi_level)
            except (GaplessError, PrecisionError):
                pass  # not certified: reported as NaN (counted in 'failed')
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GaplessWarning)
        return np.asarray(chern_number(lats, "marker", fermi_level), dtype=float)


def _check_pos_int(name, v, lo=1):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    return int(v)


@strict_keywords
def chern_phase_diagram(
    ms: Sequence[float],
    Ws: Sequence[float],
    shape=(12, 12),
    n_samples: int = 20,
    seed: int = 0,
    *,
    method: EnsembleMethod = "bott",
    fermi_level: float = 0.0,
    executor=None,
    progress: bool = False,
):
    """Disorder-averaged Chern number of the QWZ model on an ``(m, W)`` grid.

    Parameters
    ----------
    ms, Ws : sequence of float
        Mass and Anderson-disorder strengths.
    shape : (int, int)
        Sample size (periodic for ``"bott"``, open for ``"marker"``).
    n_samples : int
        Disorder samples per point (sample ``s`` has seed ``task_seed(seed, s)`` everywhere).
    seed : int
    method : {"bott", "marker"}
        ``"bott"``: certified Bott index per periodic sample (uncertified samples -- a mobility
        gap closing at the Fermi level -- count as failures, not values). ``"marker"``: bulk
        mean of the dense local marker per open sample.
    fermi_level : float
    executor : None, str or concurrent.futures.Executor
        See :func:`tntopo.parallel.map_tasks` (default: a local process pool).
    progress : bool

    Returns
    -------
    dict
        ``"m"``, ``"W"``, ``"mean"`` and ``"stderr"`` (arrays of shape ``(len(ms), len(Ws))``,
        over certified samples), ``"failed"`` (number of uncertified samples per point),
        ``"values"`` (``(len(ms), len(Ws), n_samples)``, NaN where uncertified), ``"n_samples"``,
        ``"seed"``, ``"shape"``, ``"method"``.
    """
    ms = np.atleast_1d(np.asarray(ms, dtype=float))
    Ws = np.atleast_1d(np.asarray(Ws, dtype=float))
    if ms.ndim != 1 or Ws.ndim != 1 or not (np.all(np.isfinite(ms)) and np.all(np.isfinite(Ws))):
        raise ValueError("ms and Ws must be 1D sequences of finite numbers")
    if np.any(Ws < 0):
        raise ValueError("disorder strengths Ws must be >= 0")
    check_option("method", method, EnsembleMethod, hint=" for chern_phase_diagram")
    n_samples = _check_pos_int("n_samples", n_samples)
    seed = _check_pos_int("seed", seed, 0)
    shape = tuple(int(s) for s in shape)
    tasks = [
        ((i, j), (float(m), float(W), shape, n_samples, seed, method, float(fermi_level)))
        for i, m in enumerate(ms)
        for j, W in enumerate(Ws)
    ]
    res = map_tasks(_point, tasks, executor, progress=progress, desc="chern phase diagram", unit="point")
    values = np.full((len(ms), len(Ws), n_samples), np.nan)
    for (i, j), v in res.items():
        if isinstance(v, TaskFailure):
            raise RuntimeError(f"phase-diagram point m={ms[i]}, W={Ws[j]} failed: {v.error!r}") from v.error
        values[i, j] = v
    ok = np.isfinite(values)
    n_ok = ok.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n_ok > 0, np.nansum(values, -1) / np.maximum(n_ok, 1), np.nan)
        var = np.nansum((values - mean[..., None]) ** 2, -1) / np.maximum(n_ok - 1, 1)
        stderr = np.where(n_ok > 1, np.sqrt(var / np.maximum(n_ok, 1)), np.nan)
    return {
        "m": ms, "W": Ws, "mean": mean, "stderr": stderr, "failed": n_samples - n_ok,
        "values": values, "n_samples": n_samples, "seed": seed, "shape": shape, "method": method,
    }


@strict_keywords
def chern_ensemble(m: float, W: float, shape=(12, 12), n_samples: int = 20, seed: int = 0, *,
                   method: EnsembleMethod = "bott", fermi_level: float = 0.0, executor=None):
    """Disorder ensemble at one ``(m, W)`` point: ``(mean, stderr, values)`` (see :func:`chern_phase_diagram`)."""
    r = chern_phase_diagram([m], [W], shape, n_samples, seed, method=method, fermi_level=fermi_level,
                            executor=executor)
    return float(r["mean"][0, 0]), float(r["stderr"][0, 0]), r["values"][0, 0]
