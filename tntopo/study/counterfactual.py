"""Edge states tested without leaks: counterfactual chains, matched controls, a cap-width dose-response,
the edge-proxy baseline, a blind ablation.

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
    a topological chain (Bloch ``W = 1``) closed into a ring: no ends, no end states; its invariant
    is the twisted-boundary integer of the ring, 1.
``"capped"`` (label 1)
    a topological chain whose outer ``cap`` cells at each end carry the bonds of a *trivial*
    training chain: every bond with **both** ends in the outer ``cap`` cells (``A_n - B_j`` with
    ``n, j < cap``, or ``n, j >= N - cap``) is the trivial chain's, every other bond the bulk's. The
    zero modes move to the cap/bulk interfaces, off the outer cells, while the bulk region (cells
    ``N//4 .. N - N//4 - 1``) holds bulk bonds only, at least one clean cell away from a cap. The
    default cap, :data:`DEFAULT_CAP` = 3 cells (``N//4 - 1`` when less), is the narrowest that moves
    the interface states off the proxy's outer cells; at 24 cells the exact TopoNet is right on
    1.000 of such chains and 0.865 with 5-cell caps, at 16 cells (3-cell caps) on 0.73-0.79
    (``benchmarks/counterfactual_checks.py``).

Matched controls (:func:`matched_controls`, or ``control=True``): the **same perturbation** on a
bulk where the edge proxy **agrees** with the bulk label; families ``"<family>/control"``. Rings and
cut sites fix what the proxy reads (a ring has no ends: proxy 0; cut sites leave exact zero modes on
the end cells: proxy 1), so their controls have the other bulk label: ``"ring/control"`` is a
trivial chain closed into a ring (label 0), ``"dangling/control"`` a topological chain with
``A_0`` and ``B_{N-1}`` cut off (label 1). A cap leaves the proxy reading the cap's phase, so
``"capped/control"`` carries caps of the bulk's own phase: half trivial caps on a trivial bulk
(label 0), half topological caps on a topological bulk (label 1). Each control family has as many
chains as its counterfactual family would have. Counterfactual minus matched-control accuracy per
family separates reliance on the proxy from the out-of-distribution cost of the perturbation.

Cap-width dose-response (:func:`capped_dose_response`): the ``"capped"`` construction for cap
widths 1, 2, ... on the **same** bulk and cap chains at every width, without any proxy selection, so
that the width where a model's answer flips can be set beside the width where the proxy's flips
(:func:`dose_response_table`). Widths must keep the caps out of the default bulk region
(``width <= N//4 - 1``); wider caps raise ``ValueError`` naming the shortest chain that holds them
(a longer chain is not substituted: its inputs would not have the training shape).

**Labels and their checks.** Every label is the invariant of the family's **clean bulk**, certified
by routes that are not a network's computation (``checks``; these decide which chains are kept):

* ``bloch`` -- the exact (certified) Bloch winding number of the bulk's hoppings;
* ``twisted`` (rings) -- the exact twisted-boundary integer of the ring itself;
* ``cap_bloch`` (capped) -- the exact Bloch winding number of the caps' hoppings (0 in the
  counterfactual family, the bulk's in the control);
* ``edge_proxy`` -- the proxy's answer, which must disagree with the label in a counterfactual
  family and agree in a control family (``require_proxy=True``; the dose-response keeps all).

No chain is kept or redrawn because a real-space marker agrees with its label. In particular the
exact :class:`tntopo.nn.TopoNet` computes the bulk-window marker ``realspace`` below, and it is
scored on these sets like any model (it can fail them). Diagnostics (never used to select chains):

* ``realspace`` -- the open chain's real-space winding number (dense, bulk region): the exact
  TopoNet's output, up to the zero-mode convention of :func:`tntopo.data.features.input_winding`
  (grouped zero modes carry no ``Q_AB`` term; ~1e-3 on chains with cut sites); rings: the
  twisted-boundary integer;
* ``window_row`` / ``window_column`` -- the local marker anchored on A cells (rows of ``Q_AB``;
  the convention of :func:`tntopo.local_winding_marker`) / on B cells (columns), averaged over the
  default bulk region, with the open chain's position kernel (rings too: what a network reading
  open-chain inputs computes);
* ``inner_row`` / ``inner_column`` -- the same averaged over the central cells
  ``N//2 - k .. N//2 + k - 1`` (``k = max(1, N//8)``), far from ends, caps and cut sites;
* ``ring_marker`` (rings) -- the ring's own real-space winding number (minimum-image kernel).

Anchoring: every construction keeps the mirror ``A_n <-> B_{N-1-n}`` of a clean open chain (its
A->B block is persymmetric, ``J h^T J = h``; cut sites ``A_0``/``B_{N-1}`` and caps at both ends are
images of each other). The mirror maps the A-anchored marker of cell ``n`` onto the B-anchored
marker of cell ``N-1-n``, so over any window symmetric about the chain's centre (the default bulk
region, the central cells) both anchorings give the same number (to rounding, ~1e-12).
The second edition's caps replaced whole rows of A cells; their right cap then reached
``B_{N-cap-2}`` (inside the bulk region for the default cap) and broke the mirror, which is why a
column-anchored marker disagreed with the row-anchored one there.

Ablation (:func:`ablate_fixed`): zero a **fixed** number of mid-spectrum states for every chain,
whatever its winding; the first edition zeroed the in-gap states (:func:`ablate_in_gap`), i.e.
exactly ``2|W|`` columns, and the number of zero columns revealed the label. :func:`leak_test`
is the detector: shape statistics of the input (zero columns, zero rows, zero entries) turned into
the best classifier each allows, cross-validated; a leak-free input scores at the majority rate.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .._typing import strict_keywords
from ..data.evalsets import EvalSet, ablate_fixed, ablate_in_gap  # noqa: F401 - the ablations, re-exported here
from ..errors import GaplessError, GaplessWarning, PrecisionError
from ..parallel import task_seed

__all__ = [
    "FAMILIES",
    "CONTROL_LABELS",
    "DEFAULT_CAP",
    "CounterfactualSet",
    "edge_weight",
    "edge_proxy_predict",
    "counterfactual_set",
    "matched_controls",
    "capped_dose_response",
    "dose_response_table",
    "verify_labels",
    "label_checks",
    "ablate_fixed",
    "ablate_in_gap",
    "shape_statistics",
    "leak_test",
]

#: Counterfactual families and their bulk label.
FAMILIES = {"dangling": 0, "ring": 1, "capped": 1}
#: Bulk labels of each family's matched controls (the same perturbation, the edge proxy agreeing).
CONTROL_LABELS = {"dangling": (1,), "ring": (0,), "capped": (0, 1)}
#: Suffix of the control families' names (``"ring/control"``).
CONTROL = "/control"
_KEYS = {"dangling": 801, "ring": 802, "capped": 803, "cap_bonds": 804, "control": 806, "dose": 807}
#: Default cap width (cells): one cell beyond the edge proxy's ``n_outer = 2`` outer cells, the
#: narrowest cap that moves the interface states off them (the proxy calls 0.06 of width-3 chains
#: topological, 0.46 at width 2, 0.90 at width 1; 200 chains of 24 cells), and the one that leaves
#: the most clean bulk (the central cells' marker is within 0.25 of the label on 1.000 of width-3
#: chains, 0.915 of width-5 ones). Shorter chains get ``N//4 - 1`` when that is less.
DEFAULT_CAP = 3
_LABEL_TOL = 0.25
_MAX_ROUNDS = 20


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


@strict_keywords
@dataclass(init=False, repr=False, eq=False)
class CounterfactualSet(EvalSet):
    """Counterfactual chains, matched controls or one width of the dose-response (see the module docstring).

    An :class:`~tntopo.data.EvalSet` (the study stores and scores it as one): its ``aux`` holds the
    per-sample arrays stored with the set, the other attributes are not stored.

    Attributes
    ----------
    x : ndarray, float32, shape (n, 2N, 2N)
        Wavefunctions of the modified chains.
    label : ndarray, int64
        Bulk invariant (certified; :attr:`checks`).
    w_real : ndarray, float
        The real-space winding number of the input's own flat band
        (:func:`tntopo.data.features.input_winding` of ``x``: what a perfect model computes from it).
    n_cells : int
    aux : dict of ndarray
        ``family`` (:attr:`family`), ``edge_proxy`` (the edge proxy's answer, ``checks["edge_proxy"]``)
        and ``near_degenerate`` (:func:`tntopo.data.features.near_degenerate` of :attr:`blocks`).
    blocks : ndarray, shape (n, N, N)
        A->B blocks of the modified chains (rings: with the wrap-around bonds).
    checks : dict of ndarray
        Per-sample routes and diagnostics (module docstring): ``bloch``, ``twisted``, ``cap_bloch``,
        ``edge_proxy`` (selection routes; NaN where a route does not apply), ``realspace``,
        ``window_row``, ``window_column``, ``inner_row``, ``inner_column``, ``ring_marker``
        (diagnostics).
    cap : int or None
        Cap width of the capped chains (None without any).
    drawn : dict
        ``{family: candidates drawn}`` -- with ``len`` of the family, the share of candidates that
        passed the selection routes.
    """

    blocks: np.ndarray
    checks: Dict[str, np.ndarray]
    cap: Optional[int]
    drawn: Dict[str, int]

    def __init__(self, x: np.ndarray, label: np.ndarray, w_real: np.ndarray, n_cells: int, *, family: np.ndarray,
                 blocks: np.ndarray, checks: Dict[str, np.ndarray], near_degenerate: np.ndarray,
                 cap: Optional[int] = None, drawn: Optional[Dict[str, int]] = None):
        super().__init__(x, label, w_real, n_cells,
                         aux={"family": np.asarray(family).astype(str),
                              "edge_proxy": np.asarray(checks["edge_proxy"], np.int64),
                              "near_degenerate": np.asarray(near_degenerate, np.int64)})
        self.blocks, self.checks, self.cap, self.drawn = blocks, checks, cap, dict(drawn or {})

    @property
    def family(self) -> np.ndarray:
        """Family of each sample (``"ring"``, ``"ring/control"``, ...): ``aux["family"]``."""
        return self.aux["family"]

    def subset(self, family: str) -> "CounterfactualSet":
        """The samples of one family."""
        m = self.family == family
        return CounterfactualSet(self.x[m], self.label[m], self.w_real[m], self.n_cells, family=self.family[m],
                                 blocks=self.blocks[m], checks={k: v[m] for k, v in self.checks.items()},
                                 near_degenerate=self.aux["near_degenerate"][m], cap=self.cap,
                                 drawn={k: v for k, v in self.drawn.items() if k == family})


# ------------------------------------------------------------------------------ constructions
def _max_cap(N: int) -> int:
    return N // 4 - 1


def _check_width(N: int, width, what: str = "cap") -> int:
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)):
        raise ValueError(f"{what} must be an integer number of cells, got {width!r}")
    w = int(width)
    if not 1 <= w <= _max_cap(N):
        need = 4 * (w + 1)
        raise ValueError(
            f"{what}={w} does not fit a chain of {N} cells: caps must stay out of the default bulk region "
            f"(cells {N // 4}..{N - N // 4 - 1}), i.e. 1 <= {what} <= N//4 - 1 = {_max_cap(N)}; "
            + (f"use n_cells >= {need} for {what}={w}" if w >= 1 else f"use {what} >= 1"))
    return w


def _cap_width(N: int, cap: Optional[int]) -> int:
    if cap is None:
        if _max_cap(N) < 1:
            raise ValueError(f"chains of {N} cells leave no room for a cap outside the bulk region; use n_cells >= 8")
        return min(DEFAULT_CAP, _max_cap(N))
    return _check_width(N, cap)


def _capped(bulk: np.ndarray, caps: np.ndarray, width: int) -> np.ndarray:
    """``bulk`` blocks whose bonds with both ends in the outer ``width`` cells (either end) are ``caps``'."""
    N = bulk.shape[-1]
    a = np.arange(N)
    left = (a[:, None] < width) & (a[None, :] < width)
    right = (a[:, None] >= N - width) & (a[None, :] >= N - width)
    return np.where(left | right, caps, bulk)


def _cut(h: np.ndarray) -> np.ndarray:
    """Cut off ``A_0`` and ``B_{N-1}`` (every bond of both set to zero)."""
    h = h.copy()
    h[:, 0, :] = 0.0
    h[:, :, -1] = 0.0
    return h


def _twisted(batch) -> np.ndarray:
    from ..invariants import twisted_winding

    out = np.full(len(batch), np.nan)
    for i, c in enumerate(batch):
        try:
            out[i] = float(twisted_winding(c))
        except (GaplessError, PrecisionError):
            pass
    return out


def _clean(m: int, N: int, label: int, kw, ss, boundary: str = "open"):
    """``m`` clean training chains of Bloch winding ``label`` (:func:`tntopo.sample_chains`'s distribution,
    drawn by the vectorized sampler of the trainability map)."""
    from ..systems.chain import ChainBatch
    from .sectors import sample_sectors

    b = sample_sectors(m, N, [label], seed=ss, chunk=max(256, 8 * m), **kw)
    return b if boundary == "open" else ChainBatch(b.hoppings, b.ranges, N, boundary, None, b.seed)


def _candidates(fam: str, bulk_label: int, cap_label: Optional[int], m: int, N: int, kw, ss, cap: int):
    """``m`` candidate chains of one family: blocks and their selection routes (no marker)."""
    nan = np.full(m, np.nan)
    if fam == "ring":
        batch = _clean(m, N, bulk_label, kw, ss, "periodic")
        return batch.hopping_blocks(), {"bloch": batch.bloch_windings(), "twisted": _twisted(batch), "cap_bloch": nan}
    batch = _clean(m, N, bulk_label, kw, ss)
    h = batch.hopping_blocks()
    if fam == "dangling":
        return _cut(h), {"bloch": batch.bloch_windings(), "twisted": nan, "cap_bloch": nan}
    caps = _clean(m, N, cap_label, kw, task_seed(int(ss.entropy), *ss.spawn_key, _KEYS["cap_bonds"]))
    return _capped(h, caps.hopping_blocks(), cap), {"bloch": batch.bloch_windings(), "twisted": nan,
                                                    "cap_bloch": caps.bloch_windings().astype(float)}


def _routes_pass(fam: str, bulk_label: int, cap_label: Optional[int], routes) -> np.ndarray:
    ok = routes["bloch"] == bulk_label
    if fam == "ring":
        ok &= routes["twisted"] == bulk_label
    if fam == "capped":
        ok &= routes["cap_bloch"] == cap_label
    return ok


def _features(h: np.ndarray) -> np.ndarray:
    from ..data import wavefunctions

    return wavefunctions(h).astype(np.float32)


def _central(N: int) -> np.ndarray:
    k = max(1, N // 8)
    return np.arange(N // 2 - k, N // 2 + k)


def _diagnostics(h: np.ndarray, ring: np.ndarray, twisted: np.ndarray) -> Dict[str, np.ndarray]:
    """Real-space diagnostics of the modified chains (never used to select them)."""
    from ..invariants.winding.dense import bulk_region, polar_factor, position_kernel, winding_from_blocks

    N = h.shape[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GaplessWarning)
        Q = polar_factor(h)
    d = (np.abs(Q) ** 2) * position_kernel(N)  # d[b, a, c] = |Q_ac|^2 (x_a - x_c)
    row, col = d.sum(axis=2), d.sum(axis=1)  # anchored on A cell a / on B cell c
    win, mid = bulk_region(N), _central(N)
    out = {"window_row": row[:, win].mean(1), "window_column": col[:, win].mean(1),
           "inner_row": row[:, mid].mean(1), "inner_column": col[:, mid].mean(1)}
    out["realspace"] = np.where(ring, twisted, out["window_row"])
    rm = np.full(len(h), np.nan)
    if ring.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GaplessWarning)
            rm[ring] = np.asarray(winding_from_blocks(h[ring], "periodic"), float)
    out["ring_marker"] = rm
    return out


def _parts(fam: str, control: bool, k: int) -> List[Tuple[int, Optional[int], int]]:
    """``(bulk label, cap label, count)`` of one family's draw."""
    if not control:
        return [(FAMILIES[fam], 0 if fam == "capped" else None, k)]
    labels = CONTROL_LABELS[fam]
    counts = [k // len(labels) + (i < k % len(labels)) for i in range(len(labels))]
    return [(lab, lab if fam == "capped" else None, c) for lab, c in zip(labels, counts) if c]


def _draw(fam: str, control: bool, k: int, N: int, kw, seed: int, cap: int, require_proxy: bool):
    """``k`` chains of one family that pass the selection routes; rejection in growing rounds."""
    H, X, R = [], [], {"bloch": [], "twisted": [], "cap_bloch": [], "edge_proxy": []}
    drawn = 0
    for bulk_label, cap_label, need in _parts(fam, control, k):
        got, tried, rate = 0, 0, 1.0
        for rnd in range(_MAX_ROUNDS):
            if got >= need:
                break
            m = int(math.ceil((need - got) / max(rate, 0.02) * (1.0 if rnd == 0 else 1.25))) + 2
            key = (_KEYS[fam], N, rnd) if not control else (_KEYS[fam], _KEYS["control"], bulk_label, N, rnd)
            h, routes = _candidates(fam, bulk_label, cap_label, m, N, kw, task_seed(seed, *key), cap)
            ok = _routes_pass(fam, bulk_label, cap_label, routes)
            x = np.zeros((m, 2 * N, 2 * N), np.float32)
            proxy = np.full(m, -1, np.int64)
            if ok.any():
                x[ok] = _features(h[ok])
                proxy[ok] = edge_proxy_predict(x[ok])
            if require_proxy:
                ok &= (proxy != bulk_label) if not control else (proxy == bulk_label)
            take = np.flatnonzero(ok)[: need - got]
            tried += m if len(take) < need - got else int(take[-1]) + 1
            H.append(h[take]); X.append(x[take])
            for name in ("bloch", "twisted", "cap_bloch"):
                R[name].append(np.asarray(routes[name])[take])
            R["edge_proxy"].append(proxy[take])
            got += len(take)
            rate = max(got, 1) / tried
        drawn += tried
        if got < need:
            name = fam + (CONTROL if control else "")
            raise ValueError(
                f"could not draw {need} {name!r} chains of {N} cells (bulk label {bulk_label}) that pass the "
                f"selection routes in {_MAX_ROUNDS} rounds ({got} of {tried} candidates passed): "
                + ("the edge proxy rarely " + ("agrees" if control else "disagrees") + " with the label at this "
                   "length; use longer chains (N >= 16)" + (", a wider cap" if fam == "capped" and not control else "")
                   + " or require_proxy=False" if require_proxy else "use longer chains or a larger min_gap"))
    return H, X, R, drawn


def _assemble(fam_names, H, X, Y, R, N, cap, drawn) -> CounterfactualSet:
    from ..data.features import input_winding, near_degenerate

    h = np.concatenate(H)
    x = np.concatenate(X)
    y = np.concatenate(Y).astype(np.int64)
    fam = np.concatenate(fam_names)
    ring = np.array([f.split("/")[0] == "ring" for f in fam], bool)
    checks = {"bloch": np.concatenate(R["bloch"]).astype(np.int64),
              "twisted": np.concatenate(R["twisted"]).astype(float),
              "cap_bloch": np.concatenate(R["cap_bloch"]).astype(float),
              "edge_proxy": np.concatenate(R["edge_proxy"]).astype(np.int64)}
    checks.update(_diagnostics(h, ring, checks["twisted"]))
    return CounterfactualSet(x, y, input_winding(x.astype(np.float64)), N, family=fam, blocks=h, checks=checks,
                             near_degenerate=near_degenerate(h), cap=cap, drawn=drawn)


def _family_counts(fams: Sequence[str], weights, n_samples: int) -> np.ndarray:
    if weights is None:
        n0 = sum(FAMILIES[f] == 0 for f in fams)
        n1 = len(fams) - n0
        weights = [(0.5 / n0 if n1 else 1.0 / n0) if FAMILIES[f] == 0 else (0.5 / n1 if n0 else 1.0 / n1) for f in fams]
    w = np.asarray(weights, float)
    if w.shape != (len(fams),) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be {len(fams)} non-negative numbers, got {weights}")
    counts = np.floor(w / w.sum() * n_samples).astype(int)
    counts[np.argmax(w)] += n_samples - counts.sum()
    return counts


@strict_keywords
def counterfactual_set(n_samples: int, n_cells: int, *, ranges: Sequence[int] = (-1, 0, 1, 2),
                       min_gap: float = 0.4, amplitude: float = 1.0,
                       families: Sequence[str] = ("dangling", "ring", "capped"),
                       weights: Optional[Sequence[float]] = None, cap: Optional[int] = None,
                       control: bool = False, require_proxy: bool = True,
                       seed: int = 0) -> CounterfactualSet:
    """Counterfactual chains where the edge proxy and the bulk invariant disagree (or their matched controls).

    Parameters
    ----------
    n_samples, n_cells : int
        Number of chains and chain length ``N``.
    ranges, min_gap, amplitude :
        The training distribution of the clean bulk (:func:`tntopo.sample_chains`).
    families : sequence of {"dangling", "ring", "capped"}
        Families to include (see the module docstring).
    weights : sequence of float, optional
        Share of each family (default: counterfactual labels balanced -- half ``"dangling"``, the
        label-1 families sharing the other half; controls get the same counts per family).
    cap : int, optional
        Cells of each cap of the ``"capped"`` family, ``1 <= cap <= N//4 - 1`` (default
        ``min(3, N//4 - 1)``: :data:`DEFAULT_CAP`).
    control : bool
        ``True``: the matched controls (:func:`matched_controls`), families ``"<family>/control"``.
    require_proxy : bool
        Keep only chains where the edge proxy (:func:`edge_proxy_predict` with its defaults, on the
        float32 features) disagrees with the label (counterfactuals) or agrees with it (controls).
    seed : int

    Returns
    -------
    CounterfactualSet
        Chains are selected by the routes of the module docstring only (certified Bloch windings,
        the twisted-boundary integer of rings, the edge proxy), never by a real-space marker;
        candidates that fail are redrawn (up to 20 growing rounds, then ``ValueError``).
    """
    fams = list(families)
    bad = [f for f in fams if f not in FAMILIES]
    if bad or not fams:
        hint = " (controls: pass control=True with the base family names)" if any(CONTROL in str(f) for f in bad) else ""
        raise ValueError(f"unknown counterfactual families {bad}; choose from {set(FAMILIES)}{hint}")
    if not isinstance(n_samples, (int, np.integer)) or isinstance(n_samples, bool) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    N = int(n_cells)
    c = _cap_width(N, cap) if "capped" in fams else None
    counts = _family_counts(fams, weights, n_samples)
    kw = dict(ranges=ranges, amplitude=amplitude, min_gap=min_gap)
    H, X, Y, F, drawn = [], [], [], [], {}
    R: Dict[str, list] = {"bloch": [], "twisted": [], "cap_bloch": [], "edge_proxy": []}
    for f, k in zip(fams, counts):
        if k == 0:
            continue
        h, x, r, n_drawn = _draw(f, bool(control), int(k), N, kw, seed, c or 0, bool(require_proxy))
        name = f + (CONTROL if control else "")
        H += h; X += x
        for key in R:
            R[key] += r[key]
        y = np.concatenate(r["bloch"]).astype(np.int64)  # the bulk label (certified)
        Y.append(y); F.append(np.full(len(y), name))
        drawn[name] = n_drawn
    return _assemble(F, H, X, Y, R, N, c, drawn)


@strict_keywords
def matched_controls(n_samples: int, n_cells: int, *, ranges: Sequence[int] = (-1, 0, 1, 2),
                     min_gap: float = 0.4, amplitude: float = 1.0,
                     families: Sequence[str] = ("dangling", "ring", "capped"),
                     weights: Optional[Sequence[float]] = None, cap: Optional[int] = None,
                     require_proxy: bool = True, seed: int = 0) -> CounterfactualSet:
    """Matched controls of the counterfactual families: the same perturbation, the edge proxy agreeing.

    ``counterfactual_set(..., control=True)`` (see there and the module docstring); families are
    named ``"dangling/control"``, ``"ring/control"``, ``"capped/control"``. With the same arguments
    as a counterfactual set, each control family has as many chains as its counterfactual family.
    """
    return counterfactual_set(n_samples, n_cells, ranges=ranges, min_gap=min_gap, amplitude=amplitude,
                              families=families, weights=weights, cap=cap, control=True,
                              require_proxy=require_proxy, seed=seed)


@strict_keywords
def capped_dose_response(n_samples: int, n_cells: int, widths: Sequence[int] = (1, 2, 3, 4, 5), *,
                         ranges: Sequence[int] = (-1, 0, 1, 2), min_gap: float = 0.4, amplitude: float = 1.0,
                         control: bool = False, seed: int = 0) -> Dict[int, CounterfactualSet]:
    """The capped family over cap widths, on the same bulk and cap chains at every width.

    Parameters
    ----------
    n_samples, n_cells : int
        Chains per width and chain length ``N``.
    widths : sequence of int
        Cap widths in cells, each ``1 <= width <= N//4 - 1`` (caps outside the default bulk region);
        a wider cap raises ``ValueError`` naming the shortest chain that holds it.
    ranges, min_gap, amplitude :
        The training distribution of bulk and caps.
    control : bool
        ``False``: trivial caps on a topological bulk (label 1). ``True``: caps of the bulk's own
        phase, half trivial on trivial (label 0), half topological on topological (label 1).
    seed : int

    Returns
    -------
    dict {width: CounterfactualSet}
        Sample ``i`` has the same bulk and caps at every width. No selection by the edge proxy:
        ``checks["edge_proxy"]`` is its answer at that width (see :func:`dose_response_table`).
    """
    N = int(n_cells)
    ws = [_check_width(N, w, "width") for w in widths]
    if not ws or len(set(ws)) != len(ws):
        raise ValueError(f"widths must be distinct cap widths, got {tuple(widths)}")
    if not isinstance(n_samples, (int, np.integer)) or isinstance(n_samples, bool) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    kw = dict(ranges=ranges, amplitude=amplitude, min_gap=min_gap)
    parts = _parts("capped", bool(control), int(n_samples))
    bulks, caps, routes = [], [], {"bloch": [], "cap_bloch": []}
    for bulk_label, cap_label, k in parts:
        key = (_KEYS["dose"], N, int(bool(control)), bulk_label)
        b = _clean(k, N, bulk_label, kw, task_seed(seed, *key))
        cb = _clean(k, N, cap_label, kw, task_seed(seed, *key, _KEYS["cap_bonds"]))
        bulks.append(b.hopping_blocks()); caps.append(cb.hopping_blocks())
        routes["bloch"].append(b.bloch_windings()); routes["cap_bloch"].append(cb.bloch_windings().astype(float))
    bulk, cap_h = np.concatenate(bulks), np.concatenate(caps)
    name = "capped" + (CONTROL if control else "")
    n = len(bulk)
    out = {}
    for w in ws:
        h = _capped(bulk, cap_h, w)
        x = _features(h)
        R = {"bloch": list(routes["bloch"]), "twisted": [np.full(n, np.nan)], "cap_bloch": list(routes["cap_bloch"]),
             "edge_proxy": [edge_proxy_predict(x)]}
        y = np.concatenate(routes["bloch"]).astype(np.int64)
        out[w] = _assemble([np.full(n, name)], [h], [x], [y], R, N, w, {name: n})
    return out


def dose_response_table(sets: Mapping[int, CounterfactualSet],
                        predictions: Optional[Mapping[int, np.ndarray]] = None) -> Dict[str, Dict[str, object]]:
    """Per cap width: the edge proxy's answers, and a model's beside them.

    Parameters
    ----------
    sets : dict {width: CounterfactualSet}
        From :func:`capped_dose_response`.
    predictions : dict {width: array}, optional
        A model's predicted winding per sample at each width (rounded here).

    Returns
    -------
    dict {str(width): dict}
        ``n``, ``proxy_topological`` (share the proxy calls topological), ``proxy_accuracy``, and
        with ``predictions``: ``accuracy`` and ``agrees_with_proxy`` of the model.
    """
    out: Dict[str, Dict[str, object]] = {}
    for w, s in sorted(sets.items()):
        p = s.checks["edge_proxy"]
        row: Dict[str, object] = {"n": len(s), "proxy_topological": float(np.mean(p == 1)),
                                  "proxy_accuracy": float(np.mean(p == s.label))}
        if predictions is not None:
            if w not in predictions:
                raise ValueError(f"predictions has no entry for cap width {w}; give one array per width of `sets`")
            r = np.round(np.asarray(predictions[w], float)).astype(np.int64)
            if r.shape != s.label.shape:
                raise ValueError(f"predictions for width {w} must have shape {s.label.shape}, got {r.shape}")
            row["accuracy"] = float(np.mean(r == s.label))
            row["agrees_with_proxy"] = float(np.mean(r == p))
        out[str(w)] = row
    return out


# ------------------------------------------------------------------------------ label checks
def _centre_bloch(blocks: np.ndarray) -> np.ndarray:
    """Certified Bloch winding of the bonds of the chain's central A cell, read off the blocks (-99: gapless)."""
    from ..invariants.winding.exact import bloch_winding

    N = blocks.shape[-1]
    c = N // 2
    ms = np.arange(-(N // 2 - 1), N // 2)
    amps = blocks[:, c, c - ms]
    out = np.full(len(blocks), -99, np.int64)
    for i, a in enumerate(amps):
        nz = np.flatnonzero(a != 0)
        if len(nz) == 0:
            continue
        try:
            out[i] = bloch_winding({int(ms[j]): a[j] for j in nz})
        except (GaplessError, PrecisionError):
            pass
    return out


def verify_labels(cf: CounterfactualSet, tol: float = _LABEL_TOL) -> Dict[str, float]:
    """Recompute the independent label routes from ``cf.blocks``: the share of each family they confirm.

    All families: the certified Bloch winding of the bonds of the chain's central cell, read off the
    modified blocks (the bulk the label belongs to). Rings, in addition: the ring's own real-space
    winding number (minimum-image kernel, whole ring), within ``tol`` -- a route independent of the
    twisted-boundary integer used when drawing them. No open-chain marker is used: that is what the
    exact TopoNet computes, and it is scored, not trusted (:func:`label_checks` reports it).
    Returns ``{family: fraction confirmed}``.
    """
    out = {}
    for f in np.unique(cf.family):
        s = cf.subset(str(f))
        ok = _centre_bloch(s.blocks) == s.label
        if str(f).split("/")[0] == "ring":
            ok &= np.abs(_ring_realspace(s.blocks) - s.label) < tol
        out[str(f)] = float(np.mean(ok))
    return out


def label_checks(cf: CounterfactualSet, tol: float = _LABEL_TOL) -> Dict[str, Dict[str, object]]:
    """How many chains of each family pass each check of ``cf.checks`` (module docstring).

    Returns
    -------
    dict {family: dict}
        ``n``, ``drawn`` (candidates drawn), and per check the share of the family's chains within
        ``tol`` of the label (``edge_proxy``: the share where the proxy says the label; checks that
        do not apply to the family are left out).
    """
    out: Dict[str, Dict[str, object]] = {}
    for f in np.unique(cf.family):
        m = cf.family == f
        y = cf.label[m]
        row: Dict[str, object] = {"n": int(m.sum())}
        if str(f) in cf.drawn:
            row["drawn"] = int(cf.drawn[str(f)])
        for k, v in cf.checks.items():
            v = np.asarray(v[m], float)
            if k == "cap_bloch" or np.all(np.isnan(v)):
                continue
            exact = k in ("edge_proxy", "bloch", "twisted")
            row[k] = float(np.mean(v == y)) if exact else float(np.mean(np.abs(v - y) < tol))
        out[str(f)] = row
    return out


def _ring_realspace(h: np.ndarray) -> np.ndarray:
    """Real-space winding number of rings (minimum-image kernel, whole ring as the region)."""
    from ..invariants.winding.dense import winding_from_blocks

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
