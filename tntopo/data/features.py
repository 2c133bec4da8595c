"""Features of chiral chains for learning: wavefunctions, densities, the Hamiltonian.

Every feature of a batch of ``B`` chains of ``N`` cells is an array of shape ``(B, 2N, 2N)`` in the
site basis (A_0..A_{N-1}, B_0..B_{N-1}):

* ``"wavefunctions"``: eigenvector amplitudes ``psi[b, site, state]`` of the full chain, columns
  ordered by energy (the lower ``N`` states first), **a function of H alone** (see below);
* ``"densities"``: ``|psi|^2``;
* ``"hamiltonian"``: ``H = [[0, h], [h^dagger, 0]]`` itself.

Functions take numpy arrays (or torch tensors, converted) of A->B blocks ``(N, N)`` or ``(B, N, N)``.

Well-posed wavefunctions
------------------------
Eigenvectors are not functions of ``H`` where levels are (nearly) degenerate: rings have exact
``+-k`` pairs, open topological chains have edge modes split by ``~exp(-N/xi)`` (below rounding at
24 cells), dangling sites give exact zero modes; inside such a group LAPACK returns whatever basis
its rounding gives. :func:`spectra` therefore

1. groups levels whose spacing is at most ``degeneracy_tol`` times the spectral radius
   (:data:`DEGENERACY_TOL`, 1e-6: a perturbation ``eps`` of ``H`` moves an ungrouped eigenvector by
   at most ``~eps / 1e-6``);
2. puts each group of two or more levels into a canonical basis, by diagonalizing fixed diagonal
   operators inside it, one after the other while a tie remains: the chiral operator ``Gamma``
   (+1 on A, -1 on B; only for the group at zero energy: its states become chiral-polarized, the
   B-polarized ones first, so they take the lower, ``s = -1``, half of the flat band), the cell
   position ``X``, and a fixed generic diagonal (:func:`_tie_breaker`) -- the result depends on the
   group's subspace only, which is stable;
3. fixes the phase of every column: ``sum_i g_i psi_i`` is made real and positive for a fixed
   generic weight vector ``g`` (:func:`_fix_gauge`; the largest amplitude would be ambiguous: clean
   open chains are inversion-symmetric, ``|psi(A_n)| = |psi(B_{N-1-n})|``, so their largest
   amplitudes tie).

Contract (tested): perturbing the nonzero bonds by ``1e-12`` changes :func:`wavefunctions` by at
most ``1e-6``, on rings, on open topological chains with exponentially split edge modes and on
chains with dangling sites. :func:`near_degenerate` counts the grouped levels of each chain.

Inside a group the columns are combinations of eigenvectors of (nearly) equal energy: the
flat-band Hamiltonian ``Q = psi diag(s) psi^dagger`` is unchanged for groups away from zero energy;
at zero energy the chiral-polarized modes give ``Q = Gamma`` there (``Q_AB`` carries no zero-mode
term), which differs from the polar factor of ``h`` only by terms of the size of the edge modes'
weight in the bulk.
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple, Union

import numpy as np
from .._typing import strict_keywords

__all__ = ["FEATURES", "DEGENERACY_TOL", "hamiltonians", "wavefunctions", "densities", "spectra", "compute_features",
           "near_degenerate", "flat_band", "input_winding"]

#: Feature names accepted by :func:`compute_features`, :func:`tntopo.data.generate` and
#: :class:`tntopo.data.TopoDataset`.
FEATURES = ("wavefunctions", "densities", "hamiltonian")
#: Levels closer than this (relative to the spectral radius) form one (near-)degenerate group.
DEGENERACY_TOL = 1e-6
#: Eigenvalues of an operator inside a group closer than this (relative to the operator's range) tie.
_OPERATOR_TOL = 1e-6
_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


def _blocks(h) -> Tuple[np.ndarray, bool]:
    from ..invariants.winding.api import as_blocks

    h = as_blocks(h)
    return (h[None], True) if h.ndim == 2 else (h, False)


@strict_keywords
def hamiltonians(h) -> np.ndarray:
    """Chiral Hamiltonians ``[[0, h], [h^dagger, 0]]``, shape ``(B, 2N, 2N)`` (or ``(2N, 2N)``)."""
    hb, single = _blocks(h)
    B, N, _ = hb.shape
    H = np.zeros((B, 2 * N, 2 * N), dtype=hb.dtype)
    H[:, :N, N:] = hb
    H[:, N:, :N] = np.conj(np.swapaxes(hb, -1, -2))
    return H[0] if single else H


def _tie_breaker(n_sites: int) -> np.ndarray:
    """A fixed generic diagonal operator: distinct values ``frac(i * golden ratio)`` per site."""
    return np.mod(np.arange(n_sites) * _GOLDEN, 1.0)


def _gauge_weights(n_sites: int) -> np.ndarray:
    """Fixed generic functionals of the phase rule: three rows of standard normals from a fixed seed."""
    return np.random.default_rng(20261207).standard_normal((3, n_sites))


def _fix_gauge(psi: np.ndarray) -> np.ndarray:
    """Make ``sum_i g_i psi_i`` of every column real and positive.

    ``g`` is the first of three fixed generic functionals (:func:`_gauge_weights`) that is not
    nearly orthogonal to the column (``|sum g psi| >= 0.05 |g| / sqrt(n)``, a typical value being
    ``|g| / sqrt(n)``), else the column's largest amplitude. A single fixed rule would be ambiguous:
    the largest amplitude ties on inversion-symmetric chains (every clean open chain:
    ``|psi(A_n)| = |psi(B_{N-1-n})|``) and any one functional vanishes on some symmetric state.
    """
    n = psi.shape[-2]
    G = _gauge_weights(n)
    cs = np.einsum("ki,...is->k...s", G, psi)
    idx = np.argmax(np.abs(psi), axis=-2)
    c = np.take_along_axis(psi, idx[..., None, :], axis=-2)[..., 0, :]
    for k in range(len(G) - 1, -1, -1):  # the first functional that is not nearly orthogonal wins
        ok = np.abs(cs[k]) >= 0.05 * np.linalg.norm(G[k]) / np.sqrt(n)
        c = np.where(ok, cs[k], c)
    phase = c / np.abs(c)
    return psi * np.conj(phase)[..., None, :]


def _groups(E: np.ndarray, tol: float):
    """``[(start, stop)]`` of the runs of levels with spacings ``<= tol`` (runs of one level omitted)."""
    close = np.diff(E) <= tol
    out, i, n = [], 0, len(E)
    while i < n - 1:
        if close[i]:
            j = i + 1
            while j < n - 1 and close[j]:
                j += 1
            out.append((i, j + 1))
            i = j + 1
        else:
            i += 1
    return out


def _canonical(V: np.ndarray, ops) -> np.ndarray:
    """A basis of span(V) (orthonormal columns) fixed by diagonalizing the diagonal operators ``ops`` in turn."""
    if V.shape[1] == 1 or not ops:
        return V
    o = ops[0]
    M = V.conj().T @ (o[:, None] * V)
    w, U = np.linalg.eigh((M + M.conj().T) / 2)
    V = V @ U
    tol = _OPERATOR_TOL * max(float(np.ptp(o)), 1e-300)
    parts, start = [], 0
    for stop in [i + 1 for i in np.flatnonzero(np.diff(w) > tol)] + [len(w)]:
        parts.append(_canonical(V[:, start:stop], ops[1:]))
        start = stop
    return np.concatenate(parts, axis=1)


def _canonicalize(E: np.ndarray, psi: np.ndarray, tol: float) -> np.ndarray:
    """Put every (near-)degenerate group of every chain into its canonical basis (in place)."""
    B, n2 = E.shape
    N = n2 // 2
    chiral = np.r_[np.ones(N), -np.ones(N)]
    X = np.r_[np.arange(N), np.arange(N)].astype(float)
    tie = _tie_breaker(n2)
    scale = np.maximum(np.abs(E).max(axis=1), 1e-300)
    candidates = np.flatnonzero((np.diff(E, axis=1) <= tol * scale[:, None]).any(axis=1))
    for b in candidates:
        for i, j in _groups(E[b], tol * scale[b]):
            zero = E[b, i] <= tol * scale[b] and E[b, j - 1] >= -tol * scale[b]
            ops = (chiral, X, tie) if zero else (X, tie)
            psi[b, :, i:j] = _canonical(psi[b, :, i:j], ops)
    return psi


@strict_keywords
def spectra(h, degeneracy_tol: float = DEGENERACY_TOL) -> Tuple[np.ndarray, np.ndarray]:
    """Energies ``(B, 2N)`` (ascending) and well-posed wavefunctions ``(B, 2N, 2N)``.

    Parameters
    ----------
    h : array_like, shape (N, N) or (B, N, N)
        A->B hopping blocks.
    degeneracy_tol : float
        Levels closer than ``degeneracy_tol`` times the spectral radius form one group, which is put
        into its canonical basis (module docstring). ``0`` groups exactly equal levels only.

    Returns
    -------
    E, psi : ndarray
        ``psi[b, :, n]`` has energy ``E[b, n]`` up to the group's spread.
    """
    if not (np.isfinite(degeneracy_tol) and degeneracy_tol >= 0):
        raise ValueError(f"degeneracy_tol must be a finite number >= 0, got {degeneracy_tol!r}")
    hb, single = _blocks(h)
    E, psi = np.linalg.eigh(hamiltonians(hb))
    psi = _fix_gauge(_canonicalize(E, psi, degeneracy_tol))
    return (E[0], psi[0]) if single else (E, psi)


def near_degenerate(h, degeneracy_tol: float = DEGENERACY_TOL) -> np.ndarray:
    """Number of levels of each chain that lie in a (near-)degenerate group (see :func:`spectra`).

    Returns an int array ``(B,)`` (a scalar for one chain): 0 where every level is isolated.
    """
    hb, single = _blocks(h)
    counts = grouped_levels(np.linalg.eigvalsh(hamiltonians(hb)), degeneracy_tol)
    return int(counts[0]) if single else counts


def grouped_levels(E: np.ndarray, degeneracy_tol: float = DEGENERACY_TOL) -> np.ndarray:
    """:func:`near_degenerate` from ascending energies ``E`` ``(B, 2N)`` (e.g. those of :func:`spectra`)."""
    E = np.atleast_2d(E)
    scale = np.maximum(np.abs(E).max(axis=1), 1e-300)
    return np.array([sum(j - i for i, j in _groups(e, degeneracy_tol * s)) for e, s in zip(E, scale)], dtype=np.int64)


def flat_band(psi) -> np.ndarray:
    """``Q = psi diag(s) psi^dagger`` with ``s = -1`` on the first half of the columns, ``+1`` on the rest."""
    psi = np.asarray(psi)
    n2 = psi.shape[-1]
    s = np.r_[-np.ones(n2 // 2), np.ones(n2 - n2 // 2)]
    return np.einsum("...in,n,...jn->...ij", psi, s, np.conj(psi))


def input_winding(psi, boundary: str = "open") -> np.ndarray:
    """The real-space winding number that wavefunctions ``psi`` ``(B, 2N, 2N)`` determine (what a perfect
    model computes from this input): the bulk-window trace of ``Q_AB [X, Q_BA]`` of :func:`flat_band`.

    Equals :func:`tntopo.winding_number` ``(h, method="dense")`` of the chain except where zero modes are
    grouped (machine-degenerate edge modes): there ``Q_AB`` carries no zero-mode term, a difference of
    the size of the edge modes' weight in the bulk window (module docstring).
    """
    from ..invariants.winding.dense import bulk_window, position_kernel
    from ..tn import contract_rswn

    psi = np.asarray(psi)
    single = psi.ndim == 2
    Q = flat_band(psi[None] if single else psi)
    N = Q.shape[-1] // 2
    W = np.asarray(contract_rswn(Q[:, :N, N:], position_kernel(N, boundary), bulk_window(N, boundary)), float)
    return W[0] if single else W


@strict_keywords
def wavefunctions(h, degeneracy_tol: float = DEGENERACY_TOL) -> np.ndarray:
    """Eigenvector amplitudes ``psi[b, site, state]``, shape ``(B, 2N, 2N)``, columns by energy.

    A function of ``H`` alone: (near-)degenerate levels in a canonical basis, phases fixed (see
    :func:`spectra` and the module docstring). The flat-band Hamiltonian is
    ``Q = psi diag(s) psi^dagger`` with ``s = -1`` on the first ``N`` columns and ``+1`` on the last
    ``N`` (:func:`flat_band`): the input of :class:`tntopo.nn.TopoNet`. Real for real hoppings,
    complex otherwise.
    """
    return spectra(h, degeneracy_tol)[1]


@strict_keywords
def densities(h) -> np.ndarray:
    """``|psi|^2`` of :func:`wavefunctions`, shape ``(B, 2N, 2N)``, real."""
    return np.abs(wavefunctions(h)) ** 2


@strict_keywords
def compute_features(h, features: Union[str, Sequence[str]] = "wavefunctions") -> Dict[str, np.ndarray]:
    """Several features of the same blocks at once (one diagonalization): ``{name: array}``."""
    names = (features,) if isinstance(features, str) else tuple(features)
    bad = [f for f in names if f not in FEATURES]
    if bad:
        raise ValueError(f"unknown feature(s) {bad}; choose from {set(FEATURES)}")
    hb, single = _blocks(h)
    out: Dict[str, np.ndarray] = {}
    if "wavefunctions" in names or "densities" in names:
        psi = spectra(hb)[1]
        if "wavefunctions" in names:
            out["wavefunctions"] = psi
        if "densities" in names:
            out["densities"] = np.abs(psi) ** 2
    if "hamiltonian" in names:
        out["hamiltonian"] = hamiltonians(hb)
    if single:
        out = {k: v[0] for k, v in out.items()}
    return {k: out[k] for k in names}
