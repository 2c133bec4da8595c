"""Bonds to matrices: the one place where a chain's bond array becomes an A->B block.

A chain with hopping ranges ``ranges`` stores its amplitudes as ``bonds[k, n]``, the bond
``A_n -> B_{n - ranges[k]}`` (``O(N)`` memory; :attr:`tntopo.SSHChain.bond_array`). Every
matrix tntopo builds from bonds comes from here:

* :func:`bond_coo` -- the ``N x N`` block as COO triplets (sparse or dense blocks, twisted
  boundaries: the range of each entry is returned too);
* :func:`window_blocks` -- dense blocks of windows ``[s, s + L)`` of the chain, optionally
  closed into rings (the local route; ``start=0, L=N`` is the whole chain).
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

__all__ = ["bond_coo", "window_blocks"]


def bond_coo(bonds: np.ndarray, ranges: Sequence[int], n_cells: int, boundary: str
             ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """COO triplets of the ``N x N`` A->B block, ``h[n, n - m] = bonds[k, n]`` with ``m = ranges[k]``.

    Open chains drop the bonds whose partner ``n - m`` lies outside the chain; rings wrap them
    (``(n - m) mod N``).

    Returns
    -------
    rows, cols, vals, m : ndarray
        Entry ``i`` is ``h[rows[i], cols[i]] += vals[i]``, a bond of range ``m[i]``.
    """
    N = int(n_cells)
    n = np.arange(N)
    rows, cols, vals, ms = [], [], [], []
    for k, m in enumerate(ranges):
        c = n - m
        if boundary == "open":
            ok = (c >= 0) & (c < N)
            r, c, v = n[ok], c[ok], bonds[k][ok]
        else:
            r, c, v = n, c % N, bonds[k]
        rows.append(r)
        cols.append(c)
        vals.append(v)
        ms.append(np.full(len(r), m, dtype=np.int64))
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=bonds.dtype), empty
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), np.concatenate(ms)


def window_blocks(bonds: np.ndarray, ranges: Sequence[int], n_cells: int, boundary: str,
                  starts: np.ndarray, size: int, wrap=False) -> np.ndarray:
    """Dense A->B blocks of the windows ``[s, s + size)`` of a chain, shape ``(len(starts), size, size)``.

    Cells are taken mod ``n_cells`` on a ring (``boundary="periodic"``). Windows with ``wrap``
    (a bool, or one per window) are closed into rings of ``size`` cells: a bond leaving the
    window re-enters it at the other end (a ring window has no edge zero modes, so its polar
    factor needs no SVD; the cut is as far from the core as for an open window). The whole chain
    is ``starts=[0], size=n_cells, wrap=(boundary == "periodic")``.
    """
    starts = np.asarray(starts, dtype=np.int64)
    L = int(size)
    out = np.zeros((len(starts), L, L), dtype=bonds.dtype)
    wrap = np.broadcast_to(np.asarray(wrap, dtype=bool), (len(starts),))
    i = np.arange(L)
    for k, m in enumerate(ranges):
        inside = (i - m >= 0) & (i - m < L)
        cells = starts[:, None] + i[None, :]
        if boundary == "periodic":
            cells %= n_cells
        vals = bonds[k][np.clip(cells, 0, n_cells - 1)]
        rows = i[inside]
        if rows.size:
            out[:, rows, rows - m] = vals[:, inside]
        if (~inside).any() and wrap.any() and abs(m) < L:
            rows = i[~inside]
            w = np.flatnonzero(wrap)
            out[w[:, None], rows[None, :], ((rows - m) % L)[None, :]] = vals[w][:, ~inside]
    return out
