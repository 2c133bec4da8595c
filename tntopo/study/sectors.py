"""Clean chains balanced over winding sectors (the draw shared by the trainability map, the causal
test and the counterfactual sets; a module of its own so that those import it without importing each
other)."""

from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np

__all__ = ["sample_sectors"]


def sample_sectors(n: int, n_cells: int, windings: Sequence[int], *, ranges: Sequence[int], min_gap: float,
                   amplitude: float = 1.0, seed=0, chunk: int = 4096, max_candidates: int = 10_000_000):
    """Clean chains balanced over winding sectors, drawn as :func:`tntopo.sample_chains` draws them.

    Same distribution (amplitudes uniform in ``[-amplitude, amplitude]`` over ``ranges``, conditioned
    on the sector and on Bloch gap ``>= min_gap``), but candidates are screened in vectorized chunks
    (a coarse gap screen first), which makes rare sectors (e.g. ``W = 3`` with ranges ``-2..3``) cheap.
    Sample ``i`` is the ``i``-th accepted candidate of its sector. Returns a :class:`tntopo.ChainBatch`.
    """
    from ..systems.chain import ChainBatch, _bloch_coefficients, make_seed_sequence
    from ..invariants.winding.exact import bloch_gap, bloch_winding_coefficients

    ranges = tuple(int(m) for m in ranges)
    windings = [int(w) for w in windings]
    need = {w: sum(1 for i in range(n) if windings[i % len(windings)] == w) for w in windings}
    got: Dict[int, List[np.ndarray]] = {w: [] for w in windings}
    ss = make_seed_sequence(seed)
    rng = np.random.default_rng(ss)
    drawn = 0
    while any(sum(len(a) for a in got[w]) < need[w] for w in need):
        if drawn >= max_candidates:
            raise ValueError(f"could not fill winding sectors {need} with min_gap={min_gap} from {drawn} candidates; "
                             "lower min_gap or change ranges/windings")
        cand = rng.uniform(-amplitude, amplitude, (chunk, len(ranges)))
        drawn += chunk
        c, m_min = _bloch_coefficients(cand, ranges)
        ok = bloch_gap(c, m_min, n_k=64) >= min_gap  # coarse: a sampled minimum is >= the true one
        ok[ok] = bloch_gap(c[ok], m_min) >= min_gap
        if not ok.any():
            continue
        w, margin = bloch_winding_coefficients(c[ok], m_min, check_gap=False)
        cand, w, margin = cand[ok], np.asarray(w), np.asarray(margin)
        for k in need:
            got[k].append(cand[(w == k) & (margin > 1e-9)])
    pools = {w: np.concatenate(got[w])[: need[w]] for w in need}
    pos = {w: 0 for w in need}
    rows = []
    for i in range(n):
        w = windings[i % len(windings)]
        rows.append(pools[w][pos[w]])
        pos[w] += 1
    return ChainBatch(np.stack(rows), ranges, n_cells, "open", None, ss)
