"""Edge states tested without leaks: counterfactual chains, the edge-proxy baseline, a blind ablation.

An open topological chain has zero-energy end states; a trivial one does not. A model can
therefore score well on clean chains by reading an *edge-state proxy* instead of the bulk
invariant. The one-feature rule :func:`edge_proxy_predict` (weight of the two mid-spectrum states
on the outer ``n_outer`` cells at both ends > 0.5 -> topological) is that proxy as a baseline; with
the default ``n_outer = 2`` (the outer 4 cells, two at each end) it scores 0.973 on the first
edition's clean test set (1000 chains of 24 cells; the audit measured 0.969).

Counterfactual set (:func:`counterfactual_set`): chains where the proxy and the bulk invariant
**disagree**, with the same feature kind and shape as training inputs (wavefunctions ``(2N, 2N)``
of an ``N``-cell chain in the same basis). Each family's bulk is a clean chain from the training
distribution (:func:`tntopo.sample_chains` with the training ranges, ``min_gap``, ``amplitude``):

``"dangling"`` (label 0)
    a trivial chain (Bloch ``W = 0``) whose outermost sites ``A_0`` and ``B_{N-1}`` are cut off
    (every bond of ``A_0`` and of ``B_{N-1}`` set to zero): two exact zero-energy states on the end
    cells. The bulk is untouched, so its invariant is the clean chain's, 0.
``"ring"`` (label 1)
    a topological chain (Bloch ``W = 1``) closed into a ring: no ends, no end states; the twisted-
    boundary integer of the ring is its invariant, 1, and so is the bulk-window marker of its flat
    band with the open chain's kernel (required too: on short rings the wrap-around reaches the window).
``"capped"`` (label 1)
    a topological chain whose ``cap`` outermost cells at each end carry the bonds of a *trivial*
    training chain: the zero modes move to the cap/bulk interfaces, off the outer cells, while the
    bulk region (cells ``N//4 .. N - N//4 - 1``, beyond the caps) stays topological.

Every label is verified by an independent route (:func:`verify_labels`): the Bloch winding of the
clean bulk, and the real-space winding number of the modified chain itself (dense bulk trace for
the open families, twisted boundaries for rings); a sample where they disagree is redrawn.

Ablation (:func:`ablate_fixed`): zero a **fixed** number of mid-spectrum states for every chain,
whatever its winding; the first edition zeroed the in-gap states (:func:`ablate_in_gap`), i.e.
exactly ``2|W|`` columns, and the number of zero columns revealed the label. :func:`leak_test`
is the detector: shape statistics of the input (zero columns, zero rows, zero entries) turned into
the best classifier each allows, cross-validated; a leak-free input scores at the majority rate.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Dict, Optional, Sequence

import numpy as np

from ..chains import sample_chains
from ..data.evalsets import ablate_fixed, ablate_in_gap  # noqa: F401 - the ablations, re-exported here
from ..errors import GaplessError, GaplessWarning
from ..parallel import task_seed

__all__ = [
    "FAMILIES",
    "CounterfactualSet",
    "edge_weight",
    "edge_proxy_predict",
    "counterfactual_set",
    "verify_labels",
    "ablate_fixed",
    "ablate_in_gap",
    "shape_statistics",
    "leak_test",
]

#: Counterfactual families and their bulk label.
FAMILIES = {"dangling": 0, "ring": 1, "capped": 1}
_KEYS = {"dangling": 801, "ring": 802, "capped": 803, "cap_bonds": 804}
_LABEL_TOL = 0.25


def _as_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[1] != x.shape[2] or x.shape[1] % 2:
        raise ValueError(f"features must have shape (B, 2N, 2N), got {x.shape}; use tntopo.data.wavefunctions(h)")
    return x


def edge_weight(x, n_outer: int = 2) -> np.ndarray:
    """Mean weight of the two mid-spectrum states on the ``n_outer`` outermost cells at each end.

    Parameters
    ----------
    x : array, shape (B, 2N, 2N)
        Wavefunctions (columns by energy, sites ``A_0..A_{N-1}, B_0..B_{N-1}``).
    n_outer : int
        Cells counted at each end (``2 n_outer`` of the ``N`` cells, both sublattices).

    Returns
    -------
    ndarray, shape (B,)
        In ``[0, 1]``: ``(|psi_{N-1}|^2 + |psi_N|^2)`` summed over the outer sites, divided by 2
        (0 for an input whose two mid-spectrum columns are zero, e.g. ablated).
    """
    x = _as_numpy(x)
    N = x.shape[1] // 2
    if not 1 <= n_outer <= N // 2:
        raise ValueError(f"n_outer must lie in [1, N/2 = {N // 2}] for chains of {N} cells, got {n_outer}")
    cells = np.r_[0:n_outer, N - n_outer:N]
    sites = np.r_[cells, cells + N]
    mid = np.abs(x[:, :, N - 1:N + 1]) ** 2
    num, den = mid[:, sites, :].sum(axis=(1, 2)), mid.sum(axis=(1, 2))
    # ablated inputs have no mid-spectrum states: no weight anywhere, hence none at the edges
    return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 0)


def edge_proxy_predict(x, n_outer: int = 2, threshold: float = 0.5) -> np.ndarray:
    """The one-feature edge-proxy classifier: ``1`` (topological) iff :func:`edge_weight` > ``threshold``."""
    return (edge_weight(x, n_outer) > threshold).astype(np.int64)


@dataclass
class CounterfactualSet:
    """Counterfactual chains (see the module docstring).

    Attributes
    ----------
    x : ndarray, float32, shape (n, 2N, 2N)
        Wavefunctions of the modified chains.
    label : ndarray, int64
        Bulk invariant (verified; :attr:`checks`).
    family : ndarray of str
        Family of each sample.
    blocks : ndarray, shape (n, N, N)
        A->B blocks of the modified chains (rings: with the wrap-around bonds).
    checks : dict
        Independent label routes: ``bloch`` (clean bulk), ``realspace`` (the modified chain itself).
    """

    x: np.ndarray
    label: np.ndarray
    family: np.ndarray
    blocks: np.ndarray
    checks: Dict[str, np.ndarray]
    n_cells: int

    def __len__(self) -> int:
        return len(self.label)

    def torch(self):
        """``(x, label)`` as torch tensors (float32 features, float32 targets)."""
        import torch

        return torch.from_numpy(self.x), torch.from_numpy(self.label.astype(np.float32))

    def subset(self, family: str) -> "CounterfactualSet":
        """The samples of one family."""
        m = self.family == family
        return CounterfactualSet(self.x[m], self.label[m], self.family[m], self.blocks[m],
                                 {k: v[m] for k, v in self.checks.items()}, self.n_cells)


def _cap_width(N: int, cap: Optional[int]) -> int:
    c = max(1, N // 4 - 1) if cap is None else int(cap)
    if not 1 <= c < N // 4:
        raise ValueError(f"cap must lie in [1, N//4 - 1] so that the caps stay outside the bulk region; got {cap} for N={N}")
    return c


def _realspace_open(h: np.ndarray) -> np.ndarray:
    from ..invariants import winding_number

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GaplessWarning)
        return np.atleast_1d(np.asarray(winding_number(h, method="dense"), float))


def _family_blocks(fam: str, n: int, N: int, ranges, min_gap: float, amplitude: float, seed, cap: int):
    """Blocks ``(n, N, N)``, Bloch label of the bulk, and the real-space label of the modified chains."""
    from ..invariants import twisted_winding

    label = FAMILIES[fam]
    kw = dict(ranges=ranges, amplitude=amplitude, min_gap=min_gap)
    if fam == "ring":
        batch = sample_chains(n, N, windings=[label], boundary="periodic", seed=seed, **kw)
        h = batch.hopping_blocks()
        rs = []
        for c in batch:
            try:
                rs.append(float(twisted_winding(c)))
            except GaplessError:
                rs.append(np.nan)
        rs = np.asarray(rs)
        # the bulk-window invariant of the ring's own flat band, with the open chain's kernel and window
        # (what a network reading open-chain inputs computes): it must agree too, else the wrap-around
        # reaches the window (short rings) and the sample is redrawn
        from ..invariants.realspace import winding_from_blocks

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GaplessWarning)
            win = np.asarray(winding_from_blocks(h, "open"), float)
        rs = np.where(np.abs(win - label) < _LABEL_TOL, rs, np.nan)
        return h, batch.bloch_windings(), rs
    batch = sample_chains(n, N, windings=[label], seed=seed, **kw)
    h = batch.hopping_blocks().copy()
    if fam == "dangling":
        h[:, 0, :] = 0.0  # A_0 cut off
        h[:, :, N - 1] = 0.0  # B_{N-1} cut off
    else:  # capped: bonds of A cells in the caps from a trivial chain
        caps = sample_chains(n, N, windings=[0], seed=task_seed(int(seed.entropy), *seed.spawn_key, _KEYS["cap_bonds"]),
                             **kw).hopping_blocks()
        rows = np.r_[0:cap, N - cap:N]
        h[:, rows, :] = caps[:, rows, :]
    return h, batch.bloch_windings(), _realspace_open(h)


def counterfactual_set(n_samples: int, n_cells: int, *, ranges: Sequence[int] = (-1, 0, 1, 2),
                       min_gap: float = 0.4, amplitude: float = 1.0,
                       families: Sequence[str] = ("dangling", "ring", "capped"),
                       weights: Optional[Sequence[float]] = None, cap: Optional[int] = None,
                       seed: int = 0) -> CounterfactualSet:
    """Counterfactual chains where the edge proxy and the bulk invariant disagree.

    Parameters
    ----------
    n_samples, n_cells : int
        Number of chains and chain length ``N``.
    ranges, min_gap, amplitude :
        The training distribution of the clean bulk (:func:`tntopo.sample_chains`).
    families : sequence of {"dangling", "ring", "capped"}
        Families to include (see the module docstring).
    weights : sequence of float, optional
        Share of each family (default: labels balanced -- half ``"dangling"``, the label-1 families
        sharing the other half).
    cap : int, optional
        Cells of each cap of the ``"capped"`` family (default ``N//4 - 1``, outside the bulk region).
    seed : int

    Returns
    -------
    CounterfactualSet
        Samples whose independent label routes disagree, or whose real-space invariant is not
        within 0.25 of an integer, are redrawn (up to 20 rounds, then ``ValueError``).
    """
    from ..data import wavefunctions

    fams = list(families)
    bad = [f for f in fams if f not in FAMILIES]
    if bad or not fams:
        raise ValueError(f"unknown counterfactual families {bad}; choose from {set(FAMILIES)}")
    if not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    N = int(n_cells)
    c = _cap_width(N, cap) if "capped" in fams else 0
    if weights is None:
        n0 = sum(FAMILIES[f] == 0 for f in fams)
        n1 = len(fams) - n0
        weights = [(0.5 / n0 if n1 else 1.0 / n0) if FAMILIES[f] == 0 else (0.5 / n1 if n0 else 1.0 / n1) for f in fams]
    w = np.asarray(weights, float)
    if w.shape != (len(fams),) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be {len(fams)} non-negative numbers, got {weights}")
    counts = np.floor(w / w.sum() * n_samples).astype(int)
    counts[np.argmax(w)] += n_samples - counts.sum()
    H, Y, F, B, R = [], [], [], [], []
    for f, k in zip(fams, counts):
        got = 0
        for rnd in range(20):
            if got >= k:
                break
            ss = task_seed(seed, _KEYS[f], N, rnd)
            h, bl, rs = _family_blocks(f, k - got + 2, N, ranges, min_gap, amplitude, ss, c)
            ok = (bl == FAMILIES[f]) & (np.abs(rs - FAMILIES[f]) < _LABEL_TOL)
            take = np.flatnonzero(ok)[: k - got]
            H.append(h[take]); B.append(bl[take]); R.append(rs[take])
            Y.append(np.full(len(take), FAMILIES[f], np.int64)); F.append(np.full(len(take), f))
            got += len(take)
        if got < k:
            raise ValueError(
                f"could not draw {k} {f!r} chains of {N} cells whose real-space invariant is quantized at the "
                "Bloch label; use longer chains (N >= 16) or a larger min_gap"
            )
    h = np.concatenate(H)
    x = wavefunctions(h).astype(np.float32)
    return CounterfactualSet(x, np.concatenate(Y), np.concatenate(F), h,
                             {"bloch": np.concatenate(B), "realspace": np.concatenate(R)}, N)


def verify_labels(cf: CounterfactualSet, tol: float = _LABEL_TOL) -> Dict[str, float]:
    """Recompute both label routes from ``cf.blocks`` and return the agreement with ``cf.label`` per family.

    Open families: the dense real-space winding number of the modified chain (bulk region); rings:
    the dense real-space winding number of the ring (minimum-image kernel) -- a route independent
    of the twisted-boundary integer used when drawing them. Returns ``{family: fraction within tol}``.
    """
    out = {}
    for f in np.unique(cf.family):
        s = cf.subset(str(f))
        w = _ring_realspace(s.blocks) if f == "ring" else _realspace_open(s.blocks)
        out[str(f)] = float(np.mean(np.abs(w - s.label) < tol))
    return out


def _ring_realspace(h: np.ndarray) -> np.ndarray:
    """Real-space winding number of rings (minimum-image kernel, whole ring as the region)."""
    from ..invariants.realspace import winding_from_blocks

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GaplessWarning)
        return np.asarray(winding_from_blocks(h, "periodic"), float)


# ------------------------------------------------------------------------------ ablations and leaks
def shape_statistics(x) -> Dict[str, np.ndarray]:
    """Label-free shape statistics of each input: counts of all-zero columns, all-zero rows, zero entries.

    Also ``"zero_columns_half"``, the first edition's leak ``round(#zero columns / 2)``.
    """
    x = _as_numpy(x)
    z = x == 0
    cols = z.all(axis=1).sum(axis=1)
    return {"zero_columns": cols, "zero_rows": z.all(axis=2).sum(axis=1), "zero_entries": z.sum(axis=(1, 2)),
            "zero_columns_half": np.round(cols / 2).astype(np.int64)}


def _lookup_cv(stat: np.ndarray, y: np.ndarray, seed: int, folds: int = 2) -> float:
    """Cross-validated accuracy of the best lookup rule ``stat value -> majority label`` (unseen values:
    the training majority)."""
    n = len(y)
    perm = np.random.default_rng(task_seed(seed, 805)).permutation(n)
    correct = 0
    for f in range(folds):
        test = perm[f::folds]
        train = np.setdiff1d(perm, test)
        vals, lab = stat[train], y[train]
        classes, cnt = np.unique(lab, return_counts=True)
        default = classes[np.argmax(cnt)]
        table = {}
        for v in np.unique(vals):
            c, k = np.unique(lab[vals == v], return_counts=True)
            table[v] = c[np.argmax(k)]
        pred = np.array([table.get(v, default) for v in stat[test]])
        correct += int(np.sum(pred == y[test]))
    return correct / n


def leak_test(x, y, *, tol: float = 0.05, seed: int = 0) -> Dict[str, object]:
    """Does the *shape* of the input reveal the label? (the leak detector)

    For each statistic of :func:`shape_statistics`, the cross-validated accuracy of the best rule
    using it alone (a lookup table value -> majority label), plus the first edition's literal rule
    ``round(#zero columns / 2) == label``. The input leaks when any exceeds the majority rate by
    more than ``tol``.

    Returns
    -------
    dict
        ``majority`` (chance level), ``scores`` ``{statistic: accuracy}``, ``literal_zero_columns_half``,
        ``max_excess`` (best score minus chance) and ``leaks`` (bool).
    """
    y = np.asarray(y).astype(np.int64)
    stats = shape_statistics(x)
    _, cnt = np.unique(y, return_counts=True)
    chance = float(cnt.max() / len(y))
    scores = {k: _lookup_cv(v, y, seed) for k, v in stats.items()}
    literal = float(np.mean(stats["zero_columns_half"] == y))
    best = max(max(scores.values()), literal)
    return {"majority": chance, "scores": scores, "literal_zero_columns_half": literal,
            "max_excess": best - chance, "leaks": bool(best - chance > tol)}
