"""Disorder done right: nearest-neighbour disordered chains labelled by the phase of their ensemble.

The first edition labelled disordered chains ``t_0 ~ U[1, 1.2]``, ``t_1 = 1``, disorder
``{0: W, 1: W/2}`` by the twisted-boundary integer of the 24-cell *ring* with the same bonds: a
wrap-around bond the open input chain does not have, and a finite-length sample that does not
determine the phase. This module replaces it.

The family
    ``t_1 = 1`` and the intracell hopping on **both sides** of the critical line of the ensemble,
    ``t_0 = t0_c(W) exp(-+ delta)`` with ``delta ~ U[delta_range]`` (sample ``i`` on the
    topological side for even ``i``: balanced labels), disorder ``{0: r0 W, 1: r1 W}``
    (Mondragon-Shem ratios ``(1, 1/2)`` by default). :func:`tntopo.critical_t0` is exact.

Topological Anderson insulator (TAI) samples
    With these ratios ``t0_c(W) > t_1`` for every ``0 < W < W_TAI = 3.7435`` (second order:
    ``ln t0_c = (r0^2 - r1^2) W^2 / 24``; :func:`tai_strength_range` computes the interval): chains with
    ``t_1 < t_0 < t0_c(W)`` are trivial when clean (Bloch winding 0) and topological in the ensemble.
    The deep topological side ``t_0 = t0_c e^{-delta}`` never reaches them (``t_0 <= 0.66 < t_1``), so
    at each such ``W`` a share ``tai_share`` of the topological samples is replaced by TAI samples,
    ``ln(t_0 / t_1) = v ln(t0_c / t_1)`` with ``v ~ U[tai_window]`` (inside the window, away from both
    ends). :attr:`DisorderSet.tai` marks them; :func:`disorder_scores` reports accuracy on them apart.
    Their Lyapunov gap is small (``0.007 - 0.29`` at the default strengths 1-3.5): the localization length of their
    zero modes is ``3 - 150`` cells, so short chains cannot tell them from trivial ones.

The label
    the thermodynamic phase of the ensemble ``(t_0, t_1, W)``: topological iff
    ``E ln|t_1 + W_1 u| > E ln|t_0 + W_0 u|`` (:func:`tntopo.analytic_winding`, exact for
    nearest-neighbour chains, Mondragon-Shem et al. 2014). Nothing beyond this criterion is used.
    A single finite chain does **not** determine it: this is what the estimator row measures.

The clean end
    at ``W = 0``, ``t0_c = 1`` and the clean chain ``{0: e^{-+delta}, 1: 1}`` rescaled to largest
    hopping 1 (wavefunctions, labels and the estimator do not change under ``h -> c h``, ``c > 0``)
    has hoppings in ``[-amplitude, amplitude]`` and Bloch gap ``1 - e^{-delta} >= min_gap``: it lies
    in the support of :func:`tntopo.sample_chains` with the training ranges (a nearest-neighbour chain
    is a point with ``t_{-1} = t_2 = 0``). :func:`check_clean_end` asserts it.

The estimator
    the best finite-length estimator computed from the chain's own bonds,
    ``sign(mean_n ln|t_{1,n}| - mean_n ln|t_{0,n}|)`` over the ``N`` intracell and ``N - 1``
    intercell bonds of the open chain (:func:`bond_estimator`); it converges to the label as
    ``N -> oo``. Beside it: the majority baseline and the rounded real-space winding number of the
    open input chain (what the exact TopoNet computes).

:func:`old_protocol_agreement` replays the first edition's sets (same seeds) and measures how often
their labels agree with the phase label.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from .._typing import strict_keywords
from ..data.evalsets import EvalSet
from ..systems.chain import SSHChain
from ..errors import GaplessError, GaplessWarning
from ..parallel import task_seed
from ..invariants.winding.ensemble import analytic_winding, critical_t0, lyapunov_gap

__all__ = [
    "DisorderSet",
    "DisorderFamily",
    "phase_label",
    "bond_estimator",
    "check_clean_end",
    "disorder_set",
    "disorder_sets",
    "disorder_scores",
    "old_protocol_agreement",
    "DEFAULT_STRENGTHS",
    "DEFAULT_LENGTHS",
    "tai_strength_range",
]

#: Disorder strengths and chain lengths of the second edition (``W < 4``: beyond, no critical ``t0 > 0``).
DEFAULT_STRENGTHS = (0.0, 1.0, 2.0, 2.5, 3.0, 3.5)
DEFAULT_LENGTHS = (12, 24, 48, 96)
_KEY_FAMILY = 701  # spawn keys of this module's draws (stable)
_KEY_BONDS = 702
_KEY_TAI = 703


@dataclass(frozen=True)
class DisorderFamily:
    """The nearest-neighbour disorder family of the second edition (see the module docstring).

    Attributes
    ----------
    t1 : float
        Intercell hopping (> 0).
    ratios : (float, float)
        Disorder ``{0: ratios[0] W, 1: ratios[1] W}``.
    delta_range : (float, float)
        ``|ln(t_0 / t0_c(W))|`` is uniform in this range (both sides of the critical line).
    tai_share : float
        Fraction of the topological samples that are TAI samples (``t_1 < t_0 < t0_c(W)``) at every
        ``W`` where that window exists (:meth:`has_tai`); ``0`` gives the second edition's family.
    tai_window : (float, float)
        A TAI sample has ``ln(t_0 / t_1) = v ln(t0_c(W) / t_1)``, ``v ~ U[tai_window]``, ``0 < lo <= hi < 1``.
    """

    t1: float = 1.0
    ratios: Tuple[float, float] = (1.0, 0.5)
    delta_range: Tuple[float, float] = (0.7, 1.4)
    tai_share: float = 0.5
    tai_window: Tuple[float, float] = (0.2, 0.8)

    def __post_init__(self):
        lo, hi = self.delta_range
        if not (0 < lo <= hi and np.isfinite(hi)):
            raise ValueError(f"delta_range must satisfy 0 < lo <= hi < inf, got {self.delta_range}")
        if not 0.0 <= float(self.tai_share) <= 1.0:
            raise ValueError(f"tai_share must lie in [0, 1] (a fraction of the topological samples), got "
                             f"{self.tai_share}")
        vlo, vhi = self.tai_window
        if not 0.0 < vlo <= vhi < 1.0:
            raise ValueError(f"tai_window must satisfy 0 < lo <= hi < 1 (fractions of the TAI window), got "
                             f"{self.tai_window}")
        if not self.t1 > 0:
            raise ValueError(f"t1 must be positive, got {self.t1}")
        if any(r < 0 for r in self.ratios):
            raise ValueError(f"disorder ratios must be >= 0, got {self.ratios}")

    def disorder(self, W: float) -> Dict[int, float]:
        """Disorder strengths ``{0: W0, 1: W1}`` at strength ``W``."""
        return {0: self.ratios[0] * W, 1: self.ratios[1] * W}

    def critical(self, W: float) -> float:
        """Critical ``t_0`` at strength ``W``; ``ValueError`` where there is none (``W`` too large)."""
        tc = float(critical_t0(float(W), t1=self.t1, ratios=tuple(self.ratios)))
        if not np.isfinite(tc) or tc <= 0:
            raise ValueError(
                f"disorder strength W={W} has no critical t0 > 0 for this family (t1={self.t1}, ratios="
                f"{self.ratios}): every t0 >= 0 is in one phase there; use a smaller W (W < 4 for the defaults)"
            )
        return tc

    def has_tai(self, W: float) -> bool:
        """Whether strength ``W`` has TAI samples: ``W > 0`` and ``ln(t0_c(W) / t_1) > 1e-6``.

        See :func:`tai_strength_range` for the interval of such strengths.
        """
        return float(W) > 0 and bool(np.log(self.critical(W) / self.t1) > 1e-6)

    def tai_mask(self, W: float, n: int) -> np.ndarray:
        """Which of ``n`` samples at strength ``W`` are TAI samples (boolean, shape ``(n,)``).

        Topological samples are the even ones; the ``j``-th of them (``i = 2 j``) is a TAI sample iff
        ``floor((j + 1) s) > floor(j s)`` with ``s = tai_share`` (evenly spread, the same indices at
        every ``W`` that has TAI samples); none where :meth:`has_tai` is false.
        """
        i = np.arange(int(n))
        if not self.has_tai(W) or self.tai_share <= 0:
            return np.zeros(len(i), dtype=bool)
        j = i // 2
        s = float(self.tai_share)
        return (i % 2 == 0) & (np.floor((j + 1) * s + 1e-12) > np.floor(j * s + 1e-12))

    def sample(self, W: float, n: int, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
        """``(t0, tai)``: ``n`` intracell hoppings at strength ``W`` and the mask of TAI samples.

        Even samples are topological (``t_0 = t0_c e^{-delta}``, or a TAI sample ``t_1 < t_0 < t0_c``
        where :meth:`tai_mask` says so), odd ones trivial (``t_0 = t0_c e^{+delta}``). Sample ``i``
        depends on ``(seed, i)`` and ``W`` only (not on ``n``); ``delta`` and the TAI fraction ``v`` are
        the same at every strength and chain length, so the sets of one seed differ only by ``W`` and ``N``.
        """
        tc = self.critical(W)
        lo, hi = self.delta_range
        delta = np.array([np.random.default_rng(task_seed(seed, _KEY_FAMILY, i)).uniform(lo, hi) for i in range(n)])
        side = np.where(np.arange(n) % 2 == 0, -1.0, 1.0)  # -1: t0 < t0_c (topological)
        t0 = tc * np.exp(side * delta)
        tai = self.tai_mask(W, n)
        if tai.any():
            vlo, vhi = self.tai_window
            v = np.array([np.random.default_rng(task_seed(seed, _KEY_TAI, i)).uniform(vlo, vhi)
                          for i in np.flatnonzero(tai)])
            t0[tai] = self.t1 * np.exp(v * np.log(tc / self.t1))
        return t0, tai

    def sample_t0(self, W: float, n: int, seed: int = 0) -> np.ndarray:
        """``n`` intracell hoppings at strength ``W``: even samples topological, odd ones trivial.

        The first element of :meth:`sample` (TAI samples included).
        """
        return self.sample(W, n, seed=seed)[0]

    def to_dict(self):
        return {"t1": self.t1, "ratios": list(self.ratios), "delta_range": list(self.delta_range),
                "tai_share": float(self.tai_share), "tai_window": list(self.tai_window)}


def tai_strength_range(t1: float = 1.0, ratios: Tuple[float, float] = (1.0, 0.5)) -> Tuple[float, float]:
    """The open interval of strengths ``W`` where ``t0_c(W) > t_1``: TAI samples exist there.

    Near ``W = 0``, ``ln(t0_c / t_1) = (r_0^2 - r_1^2) W^2 / (24 t_1^2) + O(W^4)``, so the interval
    starts at ``0`` iff ``r_0 > r_1``; it ends where ``t0_c(W)`` falls back to ``t_1`` (root of the exact
    :func:`tntopo.critical_t0`, to ``1e-10``). For the defaults ``(0, 3.74349...)``.

    Returns
    -------
    (float, float)
        ``(0.0, W_max)``; ``(0.0, 0.0)`` where no strength has TAI samples (``r_0 <= r_1``).
    """
    from scipy.optimize import brentq

    if not t1 > 0:
        raise ValueError(f"t1 must be positive, got {t1}")
    r0, r1 = (float(r) for r in ratios)
    if r0 <= r1:
        return (0.0, 0.0)

    def excess(W):
        tc = float(critical_t0(W, t1=t1, ratios=(r0, r1)))
        return (tc if np.isfinite(tc) else 0.0) / t1 - 1.0

    # t0_c = 0 at W_end (E ln|t1 + r1 W u| = E ln|r0 W u|); scan up to it for the sign change
    grid = t1 * np.linspace(1e-3, 8.0 / (r0 - r1) if r1 else 8.0 / r0, 400)
    ex = np.array([excess(w) for w in grid])
    if not ex[0] > 0:
        return (0.0, 0.0)
    k = int(np.argmax(ex <= 0))
    if ex[k] > 0:
        raise ValueError(f"t0_c(W) > t1 on the whole scanned range up to W={grid[-1]:g}; no end found")
    return (0.0, float(brentq(excess, grid[k - 1], grid[k], xtol=1e-12)))


def phase_label(t0, t1, W0, W1) -> np.ndarray:
    """Thermodynamic phase (0/1) of the ensemble: ``1`` iff ``E ln|t1 + W1 u| > E ln|t0 + W0 u|``."""
    return np.asarray(analytic_winding(t0, t1, W0, W1), dtype=np.int64)


def bond_estimator(h) -> np.ndarray:
    """Finite-length phase estimator of open nearest-neighbour chains from their own bonds.

    ``1`` iff ``mean ln|t_{1,n}| > mean ln|t_{0,n}|`` over the bonds of the open chain
    (``t_{0,n} = h[n, n]``, ``N`` bonds; ``t_{1,n} = h[n, n-1]``, ``N - 1`` bonds).

    Parameters
    ----------
    h : ndarray, shape (N, N) or (B, N, N)
        A->B blocks of open nearest-neighbour chains (bonds of other ranges raise ``ValueError``).
    """
    h = np.asarray(h)
    single = h.ndim == 2
    hb = h[None] if single else h
    if hb.ndim != 3 or hb.shape[-1] != hb.shape[-2]:
        raise ValueError(f"h must have shape (N, N) or (B, N, N), got {h.shape}")
    N = hb.shape[-1]
    t0 = np.diagonal(hb, 0, -2, -1)
    t1 = np.diagonal(hb, -1, -2, -1)
    mask = np.eye(N, dtype=bool) | np.eye(N, k=-1, dtype=bool)
    if np.any(np.abs(hb[:, ~mask]) > 0):
        raise ValueError("bond_estimator needs nearest-neighbour chains (bonds of ranges 0 and 1 only)")
    with np.errstate(divide="ignore"):
        g = np.mean(np.log(np.abs(t1)), axis=-1) - np.mean(np.log(np.abs(t0)), axis=-1)
    out = (g > 0).astype(np.int64)
    return out[0] if single else out


def check_clean_end(family: DisorderFamily, n: int = 200, *, min_gap: float = 0.4, amplitude: float = 1.0,
                    seed: int = 0) -> Dict[str, float]:
    """Assert that the ``W = 0`` end of ``family`` lies in the training distribution.

    The training chains of :func:`tntopo.sample_chains` have hoppings in ``[-amplitude, amplitude]``
    and Bloch gap ``>= min_gap``. The clean chains of the family, rescaled to largest hopping
    ``amplitude`` (the features do not change), must satisfy both.

    Returns
    -------
    dict
        ``min_gap_found`` (smallest Bloch gap of the rescaled chains) and ``max_hopping``.

    Raises
    ------
    ValueError
        If a clean chain of the family violates a constraint (narrow the ``delta_range``).
    """
    from ..invariants.winding.exact import bloch_gap

    t0 = family.sample_t0(0.0, n, seed=seed)
    c = np.stack([t0, np.full_like(t0, family.t1)], axis=1)
    c = amplitude * c / np.abs(c).max(axis=1, keepdims=True)
    gaps = bloch_gap(c, 0)
    if gaps.min() < min_gap - 1e-12 or np.abs(c).max() > amplitude + 1e-12:
        raise ValueError(
            f"the clean end of {family} is out of the training distribution: Bloch gap {gaps.min():.3f} < "
            f"min_gap={min_gap} after rescaling; raise delta_range[0] above -ln(1 - min_gap) = "
            f"{-np.log(1 - min_gap):.3f}"
        )
    return {"min_gap_found": float(gaps.min()), "max_hopping": float(np.abs(c).max())}


@strict_keywords
@dataclass(init=False, repr=False, eq=False)
class DisorderSet(EvalSet):
    """One disorder evaluation set (one strength ``W``, one chain length ``N``).

    An :class:`~tntopo.data.EvalSet` (the study stores and scores it as one): ``w_real`` is the
    real-space winding number of the open chain, the per-sample arrays ``estimator``, ``majority``,
    ``lyapunov_gap``, ``t0`` and ``tai`` live in ``aux`` (stored with the set; read them as
    attributes), ``W``, ``family`` and ``clean_label`` are not stored.

    Attributes
    ----------
    x : ndarray, float32, shape (n, 2N, 2N)
        Wavefunctions of the open chains (:func:`tntopo.data.wavefunctions`).
    label : ndarray, int64
        Phase label of each chain's ensemble (:func:`phase_label`).
    w_real, w_open : ndarray, float
        Real-space winding number of the open input chain (dense route; rounded: the exact TopoNet).
    n_cells : int
    estimator : ndarray, int64
        :func:`bond_estimator` of each chain.
    majority : ndarray, int64
        The majority label of ``label``, repeated (the majority baseline's prediction).
    t0 : ndarray
        Clean intracell hopping of each chain's ensemble.
    lyapunov_gap : ndarray
        ``E ln|t1 + W1 u| - E ln|t0 + W0 u|`` of each ensemble (its sign is ``label``).
    tai : ndarray, bool
        Topological Anderson insulator samples: trivial when clean, topological in the ensemble
        (:meth:`DisorderFamily.tai_mask`; default: none).
    W : float
        Disorder strength.
    family : DisorderFamily
    clean_label : ndarray, int64
        Bloch winding number of the clean chain ``{0: t0, 1: t1}`` (``0`` on every TAI sample;
        default: ``|t0| < |t1|``).
    """

    W: float
    family: DisorderFamily
    clean_label: np.ndarray

    def __init__(self, x: np.ndarray, label: np.ndarray, w_real: np.ndarray, n_cells: int, *, W: float,
                 estimator: np.ndarray, majority: np.ndarray, t0: np.ndarray, lyapunov_gap: np.ndarray,
                 family: Optional[DisorderFamily] = None, tai: Optional[np.ndarray] = None,
                 clean_label: Optional[np.ndarray] = None):
        n = len(label)
        self.W, self.family = W, family or DisorderFamily()
        tai = np.zeros(n, dtype=bool) if tai is None else np.asarray(tai, dtype=bool)
        if clean_label is None:
            clean_label = np.abs(t0) < abs(self.family.t1)
        self.clean_label = np.asarray(clean_label, dtype=np.int64)
        if tai.shape != (n,) or self.clean_label.shape != (n,):
            raise ValueError(f"tai and clean_label must have shape ({n},), got {tai.shape} and "
                             f"{self.clean_label.shape}")
        super().__init__(x, label, w_real, n_cells,
                         aux={"estimator": estimator, "majority": majority, "lyapunov_gap": lyapunov_gap, "t0": t0,
                              "tai": tai})

    w_open = property(lambda self: self.w_real, doc="Real-space winding number of the open chain (``w_real``).")
    estimator = property(lambda self: self.aux["estimator"], doc=":func:`bond_estimator` of each chain.")
    majority = property(lambda self: self.aux["majority"], doc="The majority baseline's prediction.")
    t0 = property(lambda self: self.aux["t0"], doc="Clean intracell hopping of each chain's ensemble.")
    lyapunov_gap = property(lambda self: self.aux["lyapunov_gap"], doc="Lyapunov gap of each ensemble.")
    tai = property(lambda self: self.aux["tai"], doc="Topological Anderson insulator samples (bool).")


def _w_key(W: float) -> int:
    return int(round(float(W) * 1e6))


def disorder_set(W: float, n_cells: int, n_samples: int = 200, *, family: Optional[DisorderFamily] = None,
                 seed: int = 0, features: bool = True, open_invariant: bool = True) -> DisorderSet:
    """Disordered open nearest-neighbour chains of ``family`` at strength ``W``, ``n_cells`` cells.

    Parameters
    ----------
    W : float
        Disorder strength (``{0: r0 W, 1: r1 W}``).
    n_cells : int
        Chain length ``N`` (features are ``(2N, 2N)``).
    n_samples : int
        Number of chains (balanced: even samples on the topological side; where ``W`` has them, a
        share ``family.tai_share`` of these are TAI samples, marked in ``tai``).
    family : DisorderFamily, optional
        Default :class:`DisorderFamily()`.
    seed : int
        Seeds the ``delta`` draws (shared over ``W`` and ``N``) and the bonds (per ``W``, ``N``, sample).
    features : bool
        Compute the wavefunctions (``x``; otherwise an empty array, for label-only studies).
    open_invariant : bool
        Compute the dense real-space winding number of the open chains (``w_open``; NaN otherwise).

    Returns
    -------
    DisorderSet
    """
    from ..data import wavefunctions
    from ..invariants import winding_number
    from ..invariants.winding.exact import bloch_winding

    fam = family or DisorderFamily()
    if not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    t0, tai = fam.sample(W, n_samples, seed=seed)
    d = fam.disorder(W)
    blocks = np.stack([
        SSHChain({0: t, 1: fam.t1}, n_cells, disorder=d if W > 0 else None,
                 seed=task_seed(seed, _KEY_BONDS, n_cells, _w_key(W), i)).hopping_block()
        for i, t in enumerate(t0)
    ])
    gap = np.asarray(lyapunov_gap(t0, fam.t1, d[0], d[1]), float)
    y = (gap > 0).astype(np.int64)
    assert np.array_equal(y, np.where(np.arange(n_samples) % 2 == 0, 1, 0)), "family sides disagree with the criterion"
    clean = np.array([bloch_winding({0: t, 1: fam.t1}) for t in t0], dtype=np.int64)
    assert not np.any(clean[tai]) and np.all(y[tai] == 1), "a TAI sample is not trivial-when-clean and topological"
    if open_invariant:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GaplessWarning)
            w_open = np.asarray(winding_number(blocks, method="dense"), float)
    else:
        w_open = np.full(n_samples, np.nan)
    vals, counts = np.unique(y, return_counts=True)
    maj = np.full(n_samples, vals[np.argmax(counts)], dtype=np.int64)
    x = wavefunctions(blocks).astype(np.float32) if features else np.zeros((0, 2 * n_cells, 2 * n_cells), np.float32)
    return DisorderSet(x, y, w_open, int(n_cells), W=float(W), estimator=bond_estimator(blocks), majority=maj,
                       t0=t0, lyapunov_gap=gap, family=fam, tai=tai, clean_label=clean)


def disorder_sets(strengths: Sequence[float] = DEFAULT_STRENGTHS, n_cells: Sequence[int] = DEFAULT_LENGTHS,
                  n_samples: int = 200, *,
                  family: Optional[DisorderFamily] = None, seed: int = 0, features: bool = True,
                  open_invariant: bool = True) -> Dict[int, Dict[float, DisorderSet]]:
    """``{N: {W: DisorderSet}}`` for every chain length and strength (see :func:`disorder_set`)."""
    ns = [int(n) for n in n_cells]
    if len(ns) < 1:
        raise ValueError("n_cells must list at least one chain length")
    return {N: {float(W): disorder_set(W, N, n_samples, family=family, seed=seed, features=features,
                                       open_invariant=open_invariant) for W in strengths} for N in ns}


def disorder_scores(sets: Dict[int, Dict[float, DisorderSet]], predict=None) -> Dict[str, object]:
    """Accuracies against the phase label, per chain length and strength (JSON-able).

    Parameters
    ----------
    sets : dict
        From :func:`disorder_sets`.
    predict : dict {name: callable(x) -> labels}, optional
        Models to score: each maps features ``(n, 2N, 2N)`` to integer predictions, or returns
        ``None`` where it cannot take chains of that length (reported as ``"n/a"``).

    Returns
    -------
    dict
        ``{"n_cells": [...], "strengths": [...], "by_length": {N: {"estimator_accuracy": {W: acc},
        "majority_accuracy": {...}, "open_invariant_accuracy": {...}, "models": {name: {W: acc or "n/a"}},
        "tai": {...}}}}``. ``tai`` holds the same accuracies on the TAI samples alone (``"n/a"`` at
        strengths without them) with their ``count`` per strength, and ``clean_label_accuracy`` (the
        clean chain's Bloch winding, ``0`` on every TAI sample) beside it.
    """
    out: Dict[str, object] = {"n_cells": sorted(sets), "strengths": sorted({W for s in sets.values() for W in s})}
    by_len = {}
    for N in sorted(sets):
        row: Dict[str, Dict] = {"estimator_accuracy": {}, "majority_accuracy": {}, "open_invariant_accuracy": {},
                                "models": {name: {} for name in (predict or {})}}
        tai: Dict[str, Dict] = {"count": {}, "estimator_accuracy": {}, "majority_accuracy": {},
                                "open_invariant_accuracy": {}, "clean_label_accuracy": {},
                                "models": {name: {} for name in (predict or {})}}
        for W, s in sorted(sets[N].items()):
            k = f"{W:g}"
            m = s.tai
            tai["count"][k] = int(m.sum())
            for key, pred in (("estimator_accuracy", s.estimator), ("majority_accuracy", s.majority),
                              ("open_invariant_accuracy", np.round(s.w_open)), ("clean_label_accuracy", s.clean_label)):
                ok = np.all(np.isfinite(pred))
                if key != "clean_label_accuracy":
                    row[key][k] = float(np.mean(pred == s.label)) if ok else "n/a"
                tai[key][k] = float(np.mean(pred[m] == s.label[m])) if ok and m.any() else "n/a"
            for name, fn in (predict or {}).items():
                p = fn(s.x)
                if p is None:
                    row["models"][name][k] = tai["models"][name][k] = "n/a"
                    continue
                hit = np.asarray(p) == s.label
                row["models"][name][k] = float(np.mean(hit))
                tai["models"][name][k] = float(np.mean(hit[m])) if m.any() else "n/a"
        row["tai"] = tai
        by_len[str(N)] = row
    out["by_length"] = by_len
    return out


def old_protocol_agreement(strengths: Sequence[float] = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5), *,
                           n_samples: int = 400, n_cells: int = 24, t0_range: Tuple[float, float] = (1.0, 1.2),
                           t1: float = 1.0, seed: int = 0, open_invariant: bool = True) -> Dict[str, Dict[str, float]]:
    """Replay the first edition's disorder sets and compare their labels with the phase label.

    Same draws as the first edition (its ``tntopo.study.datasets`` module, now ``tntopo.data.evalsets``, seed keys ``(seed, 6, i_W, i, attempt)``
    with ``i_W`` the index in ``strengths``): ``t_0 ~ U[t0_range]``, ``t_1``, disorder ``{0: W, 1: W/2}``,
    label the twisted-boundary integer of the ring of ``n_cells`` cells.

    Returns
    -------
    dict
        ``{"ring_label": {W: agreement}, "open_invariant": {W: agreement}, "topological_fraction": {W: f}}``:
        the fraction of chains whose ring label (resp. rounded dense invariant of the open chain)
        equals the phase label of their ensemble, and the fraction of ensembles in the topological phase.
    """
    from ..invariants import twisted_winding, winding_number

    ring, opn, topo = {}, {}, {}
    for i_w, W in enumerate(strengths):
        labels, blocks, t0s = [], [], []
        i = attempt = 0
        while len(labels) < n_samples:
            ss = task_seed(seed, 6, i_w, i, attempt)
            rng = np.random.default_rng(ss.spawn(1)[0])
            t0 = rng.uniform(*t0_range)
            chain = SSHChain({0: t0, 1: t1}, n_cells, disorder={0: W, 1: W / 2} if W > 0 else None, seed=ss)
            try:
                y = twisted_winding(chain.with_boundary("periodic"))
            except GaplessError:
                attempt += 1
                continue
            labels.append(int(y))
            blocks.append(chain.hopping_block())
            t0s.append(t0)
            i += 1
            attempt = 0
        phase = phase_label(np.array(t0s), t1, W, W / 2)
        k = f"{float(W):g}"
        ring[k] = float(np.mean(np.array(labels) == phase))
        topo[k] = float(np.mean(phase))
        if open_invariant:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", GaplessWarning)
                w = np.asarray(winding_number(np.stack(blocks), method="dense"), float)
            opn[k] = float(np.mean(np.round(w) == phase))
    return {"ring_label": ring, "open_invariant": opn, "topological_fraction": topo}
