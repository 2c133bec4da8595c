"""Numba kernels of the local Chern marker's Chebyshev windows: ``sum_m coef[m] T_m(H) X`` by
Clenshaw's recurrence for a sparse window operator ``H`` stored as ELL arrays.

Imported only by :mod:`tntopo.invariants.chern.local`, lazily (importing numba costs a fraction of
a second) and inside ``try``: without numba the route falls back to SciPy's sparse products.
The functions are compiled by numba on first use and cached by numba's standard mechanism
(``cache=True``: machine code in numba's own cache location -- ``__pycache__`` beside this file,
numba's user-wide cache directory where that is not writable, or ``$NUMBA_CACHE_DIR``); tntopo
generates no source and writes nothing itself.

Layout. ``H``'s real and imaginary parts are kept apart, each as ``(J, V)`` of shape
``(n, width)``: row ``i``'s entries ``V[i, q]`` at columns ``J[i, q]`` (rows padded with zero
entries pointing at the row itself). The block ``X`` and the recurrence's two blocks are real
arrays ``(n, k)`` for the real and imaginary parts. One row of ``H X`` is accumulated over the
row's entries in chunks of up to 4 (one pass over a length-``k`` accumulator per chunk, the
block's columns the innermost, vectorized loop); ``benchmarks/bench_chern_local.py`` measures
this against the kernels the route generated as source before (every entry of a row in one
expression) and against SciPy's sparse products.
"""
from __future__ import annotations

import numba
import numpy as np

_OPTS = dict(nogil=True, cache=True, boundscheck=False, fastmath={"contract", "arcp", "nsz"})


@numba.njit(inline="always", **_OPTS)
def _chunk(J, V, i, q0, w, s1, s2, acc1, acc2, g1, g2, first):  # pragma: no cover - compiled
    """Entries ``q0 <= q < q0 + w`` (``w`` in 1..4) of row ``i``: ``t1 = g1 sum_q V[i, q] s1[J[i, q]]``
    and ``t2`` likewise with ``g2``, ``s2``, in one vectorized pass over the block's columns:
    ``acc (+)= t`` (``=`` where ``first``)."""
    k = acc1.shape[0]
    if w == 4:
        j0, j1, j2, j3 = J[i, q0], J[i, q0 + 1], J[i, q0 + 2], J[i, q0 + 3]
        p0, p1, p2, p3 = g1 * V[i, q0], g1 * V[i, q0 + 1], g1 * V[i, q0 + 2], g1 * V[i, q0 + 3]
        m0, m1, m2, m3 = g2 * V[i, q0], g2 * V[i, q0 + 1], g2 * V[i, q0 + 2], g2 * V[i, q0 + 3]
        if first:
            for c in range(k):
                acc1[c] = p0 * s1[j0, c] + p1 * s1[j1, c] + p2 * s1[j2, c] + p3 * s1[j3, c]
                acc2[c] = m0 * s2[j0, c] + m1 * s2[j1, c] + m2 * s2[j2, c] + m3 * s2[j3, c]
        else:
            for c in range(k):
                acc1[c] += p0 * s1[j0, c] + p1 * s1[j1, c] + p2 * s1[j2, c] + p3 * s1[j3, c]
                acc2[c] += m0 * s2[j0, c] + m1 * s2[j1, c] + m2 * s2[j2, c] + m3 * s2[j3, c]
    elif w == 3:
        j0, j1, j2 = J[i, q0], J[i, q0 + 1], J[i, q0 + 2]
        p0, p1, p2 = g1 * V[i, q0], g1 * V[i, q0 + 1], g1 * V[i, q0 + 2]
        m0, m1, m2 = g2 * V[i, q0], g2 * V[i, q0 + 1], g2 * V[i, q0 + 2]
        if first:
            for c in range(k):
                acc1[c] = p0 * s1[j0, c] + p1 * s1[j1, c] + p2 * s1[j2, c]
                acc2[c] = m0 * s2[j0, c] + m1 * s2[j1, c] + m2 * s2[j2, c]
        else:
            for c in range(k):
                acc1[c] += p0 * s1[j0, c] + p1 * s1[j1, c] + p2 * s1[j2, c]
                acc2[c] += m0 * s2[j0, c] + m1 * s2[j1, c] + m2 * s2[j2, c]
    elif w == 2:
        j0, j1 = J[i, q0], J[i, q0 + 1]
        p0, p1 = g1 * V[i, q0], g1 * V[i, q0 + 1]
        m0, m1 = g2 * V[i, q0], g2 * V[i, q0 + 1]
        if first:
            for c in range(k):
                acc1[c] = p0 * s1[j0, c] + p1 * s1[j1, c]
                acc2[c] = m0 * s2[j0, c] + m1 * s2[j1, c]
        else:
            for c in range(k):
                acc1[c] += p0 * s1[j0, c] + p1 * s1[j1, c]
                acc2[c] += m0 * s2[j0, c] + m1 * s2[j1, c]
    else:
        j0 = J[i, q0]
        p0 = g1 * V[i, q0]
        m0 = g2 * V[i, q0]
        if first:
            for c in range(k):
                acc1[c] = p0 * s1[j0, c]
                acc2[c] = m0 * s2[j0, c]
        else:
            for c in range(k):
                acc1[c] += p0 * s1[j0, c]
                acc2[c] += m0 * s2[j0, c]


@numba.njit(**_OPTS)
def clenshaw_step(Jr, Vr, Ji, Vi, f, src_r, src_i, b_r, b_i, cm, x_r, x_i, urow, acc_r, acc_i):  # pragma: no cover
    """One step of Clenshaw's recurrence, in place: ``b <- f H src - b + cm X``, where ``X`` is a
    dense block (``x_r.shape[0] == n``), the unit columns ``e_{urow[c]}`` (``urow.shape[0] == k``)
    or absent; ``acc_r``, ``acc_i`` are scratch of length ``k``. A row's entries are taken in
    chunks of up to 4, one pass over the accumulators each."""
    n, k = src_r.shape
    wr, wi = Jr.shape[1], Ji.shape[1]
    dense = x_r.shape[0] == n
    for i in range(n):
        first = True
        q = 0
        while q < wr:
            w = min(4, wr - q)
            _chunk(Jr, Vr, i, q, w, src_r, src_i, acc_r, acc_i, f, f, first)
            first = False
            q += w
        q = 0
        while q < wi:  # (i v) (s_r + i s_i) = -v s_i + i v s_r
            w = min(4, wi - q)
            _chunk(Ji, Vi, i, q, w, src_i, src_r, acc_r, acc_i, -f, f, first)
            first = False
            q += w
        if first:  # an empty row
            for c in range(k):
                acc_r[c] = 0.0
                acc_i[c] = 0.0
        if dense:
            for c in range(k):
                b_r[i, c] = acc_r[c] - b_r[i, c] + cm * x_r[i, c]
                b_i[i, c] = acc_i[c] - b_i[i, c] + cm * x_i[i, c]
        else:
            for c in range(k):
                b_r[i, c] = acc_r[c] - b_r[i, c]
                b_i[i, c] = acc_i[c] - b_i[i, c]
    for c in range(urow.shape[0]):
        b_r[urow[c], c] += cm


@numba.njit(**_OPTS)
def clenshaw_apply(Jr, Vr, Ji, Vi, coef, x_r, x_i, urow):  # pragma: no cover - compiled
    """``sum_m coef[m] T_m(H) X`` (real and imaginary parts), ``X`` a dense block ``x_r + i x_i``
    of shape ``(n, k)`` or, where ``x_r.shape[0] == 0``, the unit columns ``e_{urow[c]}``."""
    n = Jr.shape[0]
    k = x_r.shape[1]
    b1r, b1i = np.zeros((n, k)), np.zeros((n, k))
    b2r, b2i = np.zeros((n, k)), np.zeros((n, k))
    acc_r, acc_i = np.empty(k), np.empty(k)
    for m in range(coef.shape[0] - 1, 0, -1):
        clenshaw_step(Jr, Vr, Ji, Vi, 2.0, b1r, b1i, b2r, b2i, coef[m], x_r, x_i, urow, acc_r, acc_i)
        b1r, b2r = b2r, b1r
        b1i, b2i = b2i, b1i
    clenshaw_step(Jr, Vr, Ji, Vi, 1.0, b1r, b1i, b2r, b2i, coef[0], x_r, x_i, urow, acc_r, acc_i)
    return b2r, b2i
