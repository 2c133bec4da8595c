"""Disorder done right: nearest-neighbour disordered chains labelled by the phase of their ensemble.

The first edition labelled disordered chains ``t_0 ~ U[1, 1.2]``, ``t_1 = 1``, disorder
``{0: W, 1: W/2}`` by the twisted-boundary integer of the 24-cell *ring* with the same bonds: a
wrap-around bond the open input chain does not have, and a finite-length sample that does not
determine the phase. This module replaces it.

The family
    ``t_1 = 1`` and the intracell hopping on **both sides** of the critical line of the ensemble,
    ``t_0 = t0_c(W) exp(-+ delta)`` with ``delta ~ U[delta_range]`` (sample ``i`` on the
    topological side for even ``i``: balanced labels), disorder ``{0: r0 W, 1: r1 W}``
    (Mondragon-Shem ratios ``(1, 1/2)`` by default). :func:`tntopo.phase.critical_t0` is exact.

The label
    the thermodynamic phase of the ensemble ``(t_0, t_1, W)``: topological iff
    ``E ln|t_1 + W_1 u| > E ln|t_0 + W_0 u|`` (:func:`tntopo.phase.analytic_winding`, exact for
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
from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ..chains import SSHChain
from ..errors import GaplessError, GaplessWarning
from ..parallel import task_seed
from ..phase import analytic_winding, critical_t0, lyapunov_gap

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
]

#: Disorder strengths and chain lengths of the second edition (``W < 4``: beyond, no critical ``t0 > 0``).
DEFAULT_STRENGTHS = (0.0, 1.0, 2.0, 2.5, 3.0, 3.5)
DEFAULT_LENGTHS = (12, 24, 48, 96)
_KEY_FAMILY = 701  # spawn keys of this module's draws (stable)
_KEY_BONDS = 702


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
    """

    t1: float = 1.0
    ratios: Tuple[float, float] = (1.0, 0.5)
    delta_range: Tuple[float, float] = (0.7, 1.4)

    def __post_init__(self):
        lo, hi = self.delta_range
        if not (0 < lo <= hi and np.isfinite(hi)):
            raise ValueError(f"delta_range must satisfy 0 < lo <= hi < inf, got {self.delta_range}")
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

    def sample_t0(self, W: float, n: int, seed: int = 0) -> np.ndarray:
        """``n`` intracell hoppings at strength ``W``: even samples topological, odd ones trivial.

        Sample ``i`` depends on ``(seed, i)`` only (not on ``W`` or ``n``): the same ``delta`` is used
        at every strength and chain length, so the sets of one seed differ only by ``W`` and ``N``.
        """
        tc = self.critical(W)
        lo, hi = self.delta_range
        delta = np.array([np.random.default_rng(task_seed(seed, _KEY_FAMILY, i)).uniform(lo, hi) for i in range(n)])
        side = np.where(np.arange(n) % 2 == 0, -1.0, 1.0)  # -1: t0 < t0_c (topological)
        return tc * np.exp(side * delta)

    def to_dict(self):
        return {"t1": self.t1, "ratios": list(self.ratios), "delta_range": list(self.delta_range)}


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
    from ..invariants.bloch import bloch_gap

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


@dataclass
class DisorderSet:
    """One disorder evaluation set (one strength ``W``, one chain length ``N``).

    Attributes
    ----------
    x : ndarray, float32, shape (n, 2N, 2N)
        Wavefunctions of the open chains (:func:`tntopo.data.wavefunctions`).
    label : ndarray, int64
        Phase label of each chain's ensemble (:func:`phase_label`).
    estimator : ndarray, int64
        :func:`bond_estimator` of each chain.
    majority : ndarray, int64
        The majority label of ``label``, repeated (the majority baseline's prediction).
    w_open : ndarray, float
        Real-space winding number of the open input chain (dense route; rounded: the exact TopoNet).
    t0 : ndarray
        Clean intracell hopping of each chain's ensemble.
    lyapunov_gap : ndarray
        ``E ln|t1 + W1 u| - E ln|t0 + W0 u|`` of each ensemble (its sign is ``label``).
    """

    x: np.ndarray
    label: np.ndarray
    estimator: np.ndarray
    majority: np.ndarray
    w_open: np.ndarray
    t0: np.ndarray
    lyapunov_gap: np.ndarray
    n_cells: int
    W: float
    family: DisorderFamily = field(default_factory=DisorderFamily)

    def __len__(self) -> int:
        return len(self.label)

    def torch(self):
        """``(x, label)`` as torch tensors (float32 features, float32 targets)."""
        import torch

        return torch.from_numpy(self.x), torch.from_numpy(self.label.astype(np.float32))


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
        Number of chains (balanced: even samples on the topological side).
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

    fam = family or DisorderFamily()
    if not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    t0 = fam.sample_t0(W, n_samples, seed=seed)
    d = fam.disorder(W)
    blocks = np.stack([
        SSHChain({0: t, 1: fam.t1}, n_cells, disorder=d if W > 0 else None,
                 seed=task_seed(seed, _KEY_BONDS, n_cells, _w_key(W), i)).hopping_block()
        for i, t in enumerate(t0)
    ])
    gap = np.asarray(lyapunov_gap(t0, fam.t1, d[0], d[1]), float)
    y = (gap > 0).astype(np.int64)
    assert np.array_equal(y, np.where(np.arange(n_samples) % 2 == 0, 1, 0)), "family sides disagree with the criterion"
    if open_invariant:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GaplessWarning)
            w_open = np.asarray(winding_number(blocks, method="dense"), float)
    else:
        w_open = np.full(n_samples, np.nan)
    vals, counts = np.unique(y, return_counts=True)
    maj = np.full(n_samples, vals[np.argmax(counts)], dtype=np.int64)
    x = wavefunctions(blocks).astype(np.float32) if features else np.zeros((0, 2 * n_cells, 2 * n_cells), np.float32)
    return DisorderSet(x, y, bond_estimator(blocks), maj, w_open, t0, gap, int(n_cells), float(W), fam)


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
        "majority_accuracy": {...}, "open_invariant_accuracy": {...}, "models": {name: {W: acc or "n/a"}}}}}``.
    """
    out: Dict[str, object] = {"n_cells": sorted(sets), "strengths": sorted({W for s in sets.values() for W in s})}
    by_len = {}
    for N in sorted(sets):
        row: Dict[str, Dict] = {"estimator_accuracy": {}, "majority_accuracy": {}, "open_invariant_accuracy": {},
                                "models": {name: {} for name in (predict or {})}}
        for W, s in sorted(sets[N].items()):
            k = f"{W:g}"
            row["estimator_accuracy"][k] = float(np.mean(s.estimator == s.label))
            row["majority_accuracy"][k] = float(np.mean(s.majority == s.label))
            row["open_invariant_accuracy"][k] = (float(np.mean(np.round(s.w_open) == s.label))
                                                 if np.all(np.isfinite(s.w_open)) else "n/a")
            for name, fn in (predict or {}).items():
                p = fn(s.x)
                row["models"][name][k] = "n/a" if p is None else float(np.mean(np.asarray(p) == s.label))
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
