"""Intervals and powered verdicts for the study (third edition).

A fraction of seeds (``learns_invariant``) gets a Wilson score interval; a mean over seeds (an
accuracy) gets a percentile bootstrap interval over seeds. A claim compares an interval with a
threshold: it **holds** when the whole interval lies on its side, **fails** when the whole interval
lies on the other side, and is **inconclusive** otherwise -- so that a rerun with other seeds cannot
flip a conclusion except with the interval's small error probability.
"""
from __future__ import annotations

import math
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["wilson_interval", "bootstrap_interval", "compare", "fisher_p", "holm", "HOLDS", "FAILS", "INCONCLUSIVE",
           "Z95"]

#: Two-sided 95% normal quantile.
Z95 = 1.959963984540054
HOLDS, FAILS, INCONCLUSIVE = "holds", "fails", "inconclusive"


def wilson_interval(k: int, n: int, z: float = Z95) -> Optional[Tuple[float, float]]:
    """Wilson score interval of a binomial proportion ``k / n`` (``None`` when ``n == 0``).

    >>> [round(v, 3) for v in wilson_interval(0, 4)]
    [0.0, 0.49]
    """
    for name, v in (("k", k), ("n", n)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{name} must be an integer count, got {v!r}")
    k, n = int(k), int(n)
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if not (math.isfinite(z) and z > 0):
        raise ValueError(f"z must be a positive normal quantile, got {z!r}")
    if n == 0:
        return None
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    lo = 0.0 if k == 0 else max(0.0, centre - half)  # exact at the ends (the formula gives 0 and 1 there)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return (lo, hi)


def bootstrap_interval(values: Sequence[float], stat: Callable = np.mean, *, n_boot: int = 2000, seed: int = 0,
                       level: float = 0.95) -> Optional[Tuple[float, float]]:
    """Percentile bootstrap interval of ``stat(values)`` (``None`` without values; a point for one value).

    Deterministic in ``seed``. ``None`` values (not measured) are dropped; a NaN raises.
    """
    v = np.asarray([float(x) for x in values if x is not None], float)
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not np.all(np.isfinite(v)):
        raise ValueError("bootstrap_interval got non-finite values; drop or fix them first")
    if v.size == 0:
        return None
    if v.size == 1 or np.all(v == v[0]):
        return (float(stat(v)), float(stat(v)))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, (int(n_boot), v.size))
    boots = np.apply_along_axis(stat, 1, v[idx]) if stat is not np.mean else v[idx].mean(axis=1)
    a = (1 - level) / 2
    return (float(np.quantile(boots, a)), float(np.quantile(boots, 1 - a)))


def compare(interval: Optional[Sequence[float]], threshold: float, side: str = ">=") -> Optional[str]:
    """``"holds"`` / ``"fails"`` / ``"inconclusive"`` for the claim ``value <side> threshold``.

    ``side`` is one of ``">="``, ``">"``, ``"<="``, ``"<"``. ``None`` when there is no interval (not measured).
    """
    if interval is None:
        return None
    lo, hi = float(interval[0]), float(interval[1])
    if side in (">=", ">"):
        ok = lo >= threshold if side == ">=" else lo > threshold
        bad = hi < threshold if side == ">=" else hi <= threshold
    elif side in ("<=", "<"):
        ok = hi <= threshold if side == "<=" else hi < threshold
        bad = lo > threshold if side == "<=" else lo >= threshold
    else:
        raise ValueError(f"unknown side {side!r}; choose one of '>=', '>', '<=', '<'")
    return HOLDS if ok else FAILS if bad else INCONCLUSIVE


def fisher_p(k1: int, n1: int, k2: int, n2: int) -> Optional[float]:
    """Two-sided p-value of Fisher's exact test that ``k1`` of ``n1`` and ``k2`` of ``n2`` share one rate;
    ``None`` when either side has no trials."""
    from scipy.stats import fisher_exact

    if n1 == 0 or n2 == 0:
        return None
    return float(fisher_exact([[k1, n1 - k1], [k2, n2 - k2]])[1])


def holm(ps: Sequence[float]) -> List[float]:
    """Holm's step-down adjusted p-values (monotone, capped at 1), in the order given."""
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    adj, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adj[i] = running
    return adj
