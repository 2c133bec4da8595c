"""Intervals for the study's numbers: Wilson intervals of fractions, bootstrap intervals of statistics.

A finding of the study holds or fails only when the interval of its number clears the threshold;
these are the intervals. Both return plain ``(lo, hi)`` floats (JSON-able as a list).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence, Tuple

import numpy as np

__all__ = ["wilson_interval", "bootstrap_interval"]


def wilson_interval(k: int, n: int, z: float = 1.96) -> Tuple[float, float]:
    """Wilson score interval of a binomial fraction ``k / n`` (``z = 1.96``: 95%).

    Parameters
    ----------
    k : int
        Successes, ``0 <= k <= n``.
    n : int
        Trials, ``n >= 0``. With ``n = 0`` nothing is known: ``(0.0, 1.0)``.
    z : float
        Standard-normal quantile of the two-sided level (``> 0``).

    Returns
    -------
    (float, float)
        ``(lo, hi)`` inside ``[0, 1]``; e.g. ``0/4`` gives ``(0, 0.490)``, ``4/4`` gives ``(0.510, 1)``.

    Examples
    --------
    >>> lo, hi = wilson_interval(0, 4)
    >>> round(lo, 3), round(hi, 3)
    (0.0, 0.49)
    """
    if isinstance(k, bool) or isinstance(n, bool) or int(k) != k or int(n) != n:
        raise ValueError(f"k and n must be integers, got k={k!r}, n={n!r}")
    k, n = int(k), int(n)
    if n < 0 or not 0 <= k <= max(n, 0):
        raise ValueError(f"need 0 <= k <= n and n >= 0, got k={k}, n={n}")
    if not (math.isfinite(z) and z > 0):
        raise ValueError(f"z must be a finite number > 0, got {z!r}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    if k == 0:
        lo = 0.0  # exact at the boundary (rounding leaves ~1e-17 otherwise)
    if k == n:
        hi = 1.0
    return float(lo), float(hi)


def bootstrap_interval(values: Sequence[float], stat: Callable = np.mean, n_boot: int = 2000, seed: int = 0,
                       level: float = 0.95) -> Tuple[float, float]:
    """Percentile bootstrap interval of ``stat(values)`` (e.g. the mean accuracy over seeds).

    Parameters
    ----------
    values : sequence of float
        The sample (at least one finite value; NaN is an error, not silently dropped).
    stat : callable
        ``stat(array) -> float``; applied to each resample (default the mean).
    n_boot : int
        Resamples (``>= 1``), drawn from ``seed``.
    seed : int
    level : float
        Two-sided level in ``(0, 1)``.

    Returns
    -------
    (float, float)
        The ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the resampled statistic. One
        value (or identical values) gives a zero-width interval.
    """
    x = np.asarray(values, dtype=float).reshape(-1)
    if x.size == 0:
        raise ValueError("bootstrap_interval needs at least one value")
    if not np.all(np.isfinite(x)):
        raise ValueError("bootstrap_interval got NaN or infinite values; drop or replace them first")
    if int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
    idx = rng.integers(0, x.size, size=(int(n_boot), x.size))
    boots = np.array([float(stat(x[i])) for i in idx])
    a = (1 - level) / 2
    lo, hi = np.quantile(boots, [a, 1 - a])
    return float(lo), float(hi)
