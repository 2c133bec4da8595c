"""Reading a PythTB model (``pythtb.tb_model``) without importing pythtb.

PythTB (https://www.physics.rutgers.edu/pythtb/) stores a model as orbitals in a unit cell, on-site
energies and a list of hoppings ``[amplitude, i, j, R]`` meaning ``<i, cell 0|H|j, cell R> =
amplitude`` (its Hermitian conjugate is implied). :func:`read_model` returns those terms in
plain NumPy form; :meth:`tntopo.SSHChain.from_pythtb` and :meth:`tntopo.Lattice2D.from_pythtb`
turn them into tntopo's conventions. Anything with the same attributes works (duck typing), so
pythtb itself is optional.
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np

__all__ = ["read_model"]


def _attr(model, *names):
    for n in names:
        if hasattr(model, n):
            v = getattr(model, n)
            return v() if callable(v) else v
    raise ValueError(f"{type(model).__name__} is not a PythTB model: it has none of the attributes {names}; "
                     "pass a pythtb.tb_model")


def read_model(model, dim: int) -> Tuple[np.ndarray, List[Tuple[Tuple[int, ...], np.ndarray]], int]:
    """The on-site matrix and hoppings of a PythTB model with ``dim`` periodic directions.

    Returns
    -------
    onsite : ndarray, shape (n, n)
        Hermitian on-site matrix of a cell (``n = norb * nspin``; spin is the fastest index).
    hoppings : list of (R, T)
        ``R`` a tuple of ``dim`` integers, ``T`` an ``(n, n)`` matrix with
        ``<a, cell 0|H|b, cell R> = T[a, b]`` (the conjugate term is implied, as in PythTB).
    n : int
        Orbitals per cell (times the spin components).

    Raises
    ------
    ValueError
        Not a model, or one with another number of periodic directions.
    """
    dim_k = int(_attr(model, "_dim_k", "dim_k", "get_dim_k"))
    if dim_k != dim:
        raise ValueError(f"the PythTB model is periodic in {dim_k} direction(s), this needs {dim}: "
                         f"{'cut_piece' if dim_k > dim else 'a model with more periodic directions'} "
                         "(tntopo builds finite samples itself: pass the periodic bulk model)")
    norb = int(_attr(model, "_norb", "get_num_orbitals", "norb"))
    nspin = int(getattr(model, "_nspin", 1) or 1)
    if nspin not in (1, 2):
        raise ValueError(f"nspin must be 1 or 2, got {nspin}")
    n = norb * nspin
    per = list(getattr(model, "_per", range(dim_k)))
    energies = np.asarray(_attr(model, "_site_energies", "site_energies"), dtype=complex)
    onsite = np.zeros((n, n), dtype=complex)
    for i in range(norb):
        e = energies[i] if energies.ndim else energies
        onsite[i * nspin:(i + 1) * nspin, i * nspin:(i + 1) * nspin] = np.asarray(e) * np.eye(nspin) \
            if np.ndim(e) == 0 else e
    hoppings = []
    for term in _attr(model, "_hoppings", "hoppings"):
        amp, i, j = term[0], int(term[1]), int(term[2])
        R = np.zeros(dim, dtype=int)
        if len(term) > 3 and term[3] is not None:
            Rfull = np.asarray(term[3], dtype=int).ravel()
            R = Rfull[per] if len(Rfull) != dim else Rfull
        if not (0 <= i < norb and 0 <= j < norb):
            raise ValueError(f"hopping between orbitals {i} and {j} of a model with {norb} orbitals")
        A = np.asarray(amp, dtype=complex)
        block = A * np.eye(nspin) if A.ndim == 0 else A
        if block.shape != (nspin, nspin) or not np.all(np.isfinite(block)):
            raise ValueError(f"hopping amplitude {amp!r} between orbitals {i} and {j} is not a finite "
                             f"{'number' if nspin == 1 else '2 x 2 matrix'}")
        T = np.zeros((n, n), dtype=complex)
        T[i * nspin:(i + 1) * nspin, j * nspin:(j + 1) * nspin] = block
        if not R.any():  # an intra-cell term and its conjugate
            onsite += T + T.conj().T
        else:
            hoppings.append((tuple(int(r) for r in R), T))
    return onsite, hoppings, n
