"""Exact routes of the Chern number: certified integers.

* :func:`fhs_chern`: Fukui-Hatsugai-Suzuki lattice field strength of the Bloch Hamiltonian
  ``h(k)`` (links ``kx`` first, then ``ky``), certified on two k grids (clean lattices).
* The Bott index ``(1/2 pi) Im Tr log(U V U^dag V^dag)`` with ``U = P exp(2 pi i X / Lx) P``,
  ``V = P exp(2 pi i Y / Ly) P`` within the occupied space (:func:`_bott_from_eigs`; the entry
  point :func:`tntopo.invariants.chern.api.bott_index` takes any periodic sample), certified by the
  eigenvalue phases of ``U V U^dag V^dag`` staying away from the branch cut and a mobility gap.
"""
from __future__ import annotations

import numpy as np

from ..._blas import single_threaded_blas
from ..._typing import strict_keywords
from ...errors import GaplessError, PrecisionError
from ...systems.lattice2d import Lattice2D
from .dense import _check_fermi, _occupied

__all__ = ["fhs_chern", "BOTT_SV_MIN"]

#: The Bott index's mobility-gap certificate: the projected position unitaries
#: ``P exp(2 pi i X / Lx) P`` and ``P exp(2 pi i Y / Ly) P`` (within the occupied space) must have
#: every singular value at least this (``1 - s_min^2 = ||(1 - P) exp(2 pi i X / Lx) P||^2``).
#: Measured on 20 x 20 QWZ tori (m = 1, W = 1) with the Fermi level in the band (E_F = -2): 0.02-0.12;
#: in the topological Anderson insulator (m = 2.5, W = 5, E_F = 0): 0.41-0.64; clean m = 1: 0.98.
BOTT_SV_MIN = 0.25


# ---------------------------------------------------------------------------- FHS
def _fhs_grid(lat: Lattice2D, n_k: int, ef: float):
    k = 2 * np.pi * np.arange(n_k) / n_k
    KX, KY = np.meshgrid(k, k, indexing="ij")
    with single_threaded_blas():
        E, V = np.linalg.eigh(lat.bloch(KX, KY))
    n_occ = (E < ef).sum(-1)
    if n_occ.min() != n_occ.max():
        return None, 0.0, (int(n_occ.min()), int(n_occ.max()))
    no = int(n_occ.flat[0])
    gap = float(np.min(np.abs(E - ef)))
    if no == 0:
        return 0, gap, (0, 0)
    Vo = V[..., :no]

    def link(A, Bv):
        return np.linalg.det(np.einsum("...ai,...aj->...ij", A.conj(), Bv))

    Ux = link(Vo, np.roll(Vo, -1, axis=0))
    Uy = link(Vo, np.roll(Vo, -1, axis=1))
    F = np.angle(Ux * np.roll(Uy, -1, axis=0) * np.conj(np.roll(Ux, -1, axis=1)) * np.conj(Uy))
    return float(F.sum() / (2 * np.pi)), gap, (no, no)


@strict_keywords
def fhs_chern(lattice: Lattice2D, fermi_level: float = 0.0, n_k: int = 24, gap_tol: float = 1e-8) -> int:
    """Fukui-Hatsugai-Suzuki Chern number of the bands below ``fermi_level`` (clean lattices).

    Computed on an ``n_k x n_k`` and an ``(n_k + 7) x (n_k + 7)`` grid of the Brillouin zone;
    the two integers must agree (else :class:`~tntopo.PrecisionError`: raise ``n_k``).
    A band crossing the Fermi level or a gap below ``gap_tol`` raises
    :class:`~tntopo.GaplessError`. The boundary of the lattice plays no role (bulk bands); custom
    positions give the orientation (:attr:`~tntopo.Lattice2D.orientation`: the Chern number of a
    mirrored embedding is ``-C``).
    """
    if not isinstance(lattice, Lattice2D):
        raise ValueError(f"fhs needs a Lattice2D, got {type(lattice).__name__}")
    if lattice.disorder > 0:
        raise ValueError(
            "method='fhs' needs a clean (translation-invariant) lattice but this one has disorder "
            f"W = {lattice.disorder:g}; use method='bott' (periodic) or 'marker'/'local'"
        )
    if isinstance(n_k, (bool, np.bool_)) or not isinstance(n_k, (int, np.integer)) or n_k < 4:
        raise ValueError(f"n_k must be an integer >= 4, got {n_k!r}")
    ef = _check_fermi(fermi_level)
    results = []
    for n in (int(n_k), int(n_k) + 7):
        C, gap, occ = _fhs_grid(lattice, n, ef)
        if C is None:
            raise GaplessError(
                f"a band crosses the Fermi level {ef:g} (between {occ[0]} and {occ[1]} occupied bands "
                "across the Brillouin zone): the Chern number of the occupied bands is undefined; "
                "move fermi_level into a gap"
            )
        if gap < gap_tol:
            raise GaplessError(
                f"the bands touch the Fermi level {ef:g} (gap {gap:.1e} on a {n}x{n} k grid): the "
                "system is at a phase transition; move the parameters away from it"
            )
        if abs(C - round(C)) > 1e-6:
            raise PrecisionError(f"FHS field strength sums to {C!r}, not an integer; raise n_k")
        results.append(int(round(C)))
    if results[0] != results[1]:
        raise PrecisionError(
            f"FHS Chern numbers on {n_k}x{n_k} and {n_k + 7}x{n_k + 7} k grids disagree "
            f"({results[0]} vs {results[1]}): the gap is small compared with the grid spacing; raise n_k"
        )
    return results[0] * lattice.orientation


def _bott_from_eigs(E, V, geo: Lattice2D, ef: float, margin: float, sv_min: float) -> np.ndarray:
    with single_threaded_blas():
        return _bott_from_eigs_st(E, V, geo, ef, margin, sv_min)


def _bott_from_eigs_st(E, V, geo: Lattice2D, ef: float, margin: float, sv_min: float) -> np.ndarray:
    occ = _occupied(E, ef, "bott")
    Lx, Ly = geo.shape
    idx = np.arange(geo.dim) // geo.n_orb
    x, y = idx // Ly, idx % Ly
    ux = np.exp(2j * np.pi * x / Lx)
    uy = np.exp(2j * np.pi * y / Ly)
    out = np.empty(E.shape[0], dtype=int)
    for b in range(E.shape[0]):
        Vo = V[b][:, occ[b]]
        if Vo.shape[1] == 0:
            out[b] = 0
            continue
        U = Vo.conj().T @ (ux[:, None] * Vo)
        Vm = Vo.conj().T @ (uy[:, None] * Vo)
        # the mobility-gap certificate: U and V nearly unitary (1 - s_min^2 is the squared norm of
        # the part of exp(2 pi i X / L) P that leaves the occupied space)
        s_min = float(np.sqrt(max(0.0, min(np.linalg.eigvalsh(U.conj().T @ U)[0],
                                             np.linalg.eigvalsh(Vm.conj().T @ Vm)[0]))))
        if s_min < sv_min:
            raise GaplessError(
                f"Bott index of sample {b} is not certified: the projected position unitaries "
                f"P exp(2 pi i X/L) P have a singular value {s_min:.2f} < {sv_min:g} (their part that "
                "leaves the occupied space is large): the states at the Fermi level "
                f"{ef:g} are not localized on this sample, there is no mobility gap; move fermi_level "
                "into a gap, or use a larger sample"
            )
        W = U @ Vm @ U.conj().T @ Vm.conj().T
        lam = np.linalg.eigvals(W)
        ph = np.angle(lam)
        val = ph.sum() / (2 * np.pi)
        worst = float(np.pi - np.abs(ph).max())
        if worst < margin or np.abs(lam).min() < 1e-6:
            raise PrecisionError(
                f"Bott index of sample {b} is not certified: an eigenvalue of U V U^dag V^dag lies "
                f"{worst:.1e} rad from the branch cut (|lambda|_min = {np.abs(lam).min():.1e}); the "
                "sample is too small for its localization length or (nearly) gapless at the Fermi "
                "level: use a larger shape or move away from the transition"
            )
        if abs(val - round(val)) > 1e-6:
            raise PrecisionError(f"Bott index of sample {b} is {val!r}, not an integer; use a larger shape")
        out[b] = int(round(val))
    return out
