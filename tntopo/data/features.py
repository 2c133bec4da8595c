"""Features of chiral chains for learning: wavefunctions, densities, the Hamiltonian.

Every feature of a batch of ``B`` chains of ``N`` cells is an array of shape ``(B, 2N, 2N)`` in the
site basis (A_0..A_{N-1}, B_0..B_{N-1}):

* ``"wavefunctions"``: eigenvector amplitudes ``psi[b, site, state]`` of the full chain, columns
  ordered by energy (the lower ``N`` states first), each column in a fixed gauge (its largest
  amplitude is real and positive) so that the features are deterministic;
* ``"densities"``: ``|psi|^2``;
* ``"hamiltonian"``: ``H = [[0, h], [h^dagger, 0]]`` itself.

Functions take numpy arrays (or torch tensors, converted) of A->B blocks ``(N, N)`` or ``(B, N, N)``.
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple, Union

import numpy as np

__all__ = ["FEATURES", "hamiltonians", "wavefunctions", "densities", "spectra", "compute_features"]

#: Feature names accepted by :func:`compute_features`, :func:`tntopo.data.generate` and
#: :class:`tntopo.data.TopoDataset`.
FEATURES = ("wavefunctions", "densities", "hamiltonian")


def _blocks(h) -> Tuple[np.ndarray, bool]:
    from ..invariants.api import as_blocks

    h = as_blocks(h)
    return (h[None], True) if h.ndim == 2 else (h, False)


def hamiltonians(h) -> np.ndarray:
    """Chiral Hamiltonians ``[[0, h], [h^dagger, 0]]``, shape ``(B, 2N, 2N)`` (or ``(2N, 2N)``)."""
    hb, single = _blocks(h)
    B, N, _ = hb.shape
    H = np.zeros((B, 2 * N, 2 * N), dtype=hb.dtype)
    H[:, :N, N:] = hb
    H[:, N:, :N] = np.conj(np.swapaxes(hb, -1, -2))
    return H[0] if single else H


def _fix_gauge(psi: np.ndarray) -> np.ndarray:
    """Make the largest-magnitude amplitude of every column real and positive."""
    B, n2, _ = psi.shape
    idx = np.argmax(np.abs(psi), axis=1)  # (B, states)
    pivot = np.take_along_axis(psi, idx[:, None, :], axis=1)  # (B, 1, states)
    phase = pivot / np.abs(pivot)
    return psi * np.conj(phase)


def spectra(h) -> Tuple[np.ndarray, np.ndarray]:
    """Energies ``(B, 2N)`` (ascending) and gauge-fixed wavefunctions ``(B, 2N, 2N)``."""
    hb, single = _blocks(h)
    E, psi = np.linalg.eigh(hamiltonians(hb))
    psi = _fix_gauge(psi)
    return (E[0], psi[0]) if single else (E, psi)


def wavefunctions(h) -> np.ndarray:
    """Eigenvector amplitudes ``psi[b, site, state]``, shape ``(B, 2N, 2N)``, columns by energy.

    The flat-band Hamiltonian is ``Q = psi diag(s) psi^dagger`` with ``s = -1`` on the first
    ``N`` columns and ``+1`` on the last ``N``: the input of :class:`tntopo.nn.TopoNet`.
    Real for real hoppings, complex otherwise.
    """
    return spectra(h)[1]


def densities(h) -> np.ndarray:
    """``|psi|^2`` of :func:`wavefunctions`, shape ``(B, 2N, 2N)``, real."""
    return np.abs(wavefunctions(h)) ** 2


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
