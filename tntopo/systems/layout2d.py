"""The Hamiltonian of a 2D lattice as an image: its hopping blocks laid out on the cell grid.

A network that learns the Chern number needs an input that is a function of the Hamiltonian alone
(eigenvectors of degenerate levels are not: their basis follows the eigensolver's rounding). The
*lattice layout* is the Hamiltonian itself, arranged so that a convolutional network reads it as a
picture and a tensor network can rebuild ``H`` exactly: for every cell ``r = (ix, iy)`` and every
displacement ``d = (dx, dy)`` of a square stencil ``|dx|, |dy| <= R``, the ``n_orb x n_orb`` block
``H[(r, o1), (r + d, o2)]`` (``r + d`` taken modulo the sample, so that a periodic axis wraps and an
open one has zeros there). With ``n_d = (2R + 1)^2`` displacements, the layout is a real array

``x[c, ix, iy]``, ``c = part * (n_d * n_orb**2) + k * n_orb**2 + o1 * n_orb + o2``,

``part`` 0 the real and 1 the imaginary part, ``k`` the displacement's index in
:func:`stencil_displacements` (row-major over ``dx``, then ``dy``, from ``-R`` to ``R``). The basis of
``H`` is the one of :class:`tntopo.Lattice2D`: ``(ix * Ly + iy) * n_orb + orb``.

The layout is exact and invertible (:func:`layout_hamiltonian`) when every hopping of ``H`` fits the
stencil and the sample is larger than ``2R`` along each axis (so that no two displacements reach the
same cell). A perturbation of ``H`` moves the layout by exactly as much: it is a well-posed input.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Tuple, Union

import numpy as np
import scipy.sparse as sp

from .._typing import strict_keywords
from .lattice2d import Lattice2D, _check_shape

__all__ = ["stencil_displacements", "layout_channels", "layout_index", "lattice_layout", "layout_hamiltonian"]


def _check_stencil(stencil) -> int:
    if isinstance(stencil, (bool, np.bool_)) or not isinstance(stencil, (int, np.integer)) or stencil < 0:
        raise ValueError(f"stencil must be an integer range R >= 0 (displacements |dx|, |dy| <= R), got {stencil!r}")
    return int(stencil)


def _check_n_orb(n_orb) -> int:
    if isinstance(n_orb, (bool, np.bool_)) or not isinstance(n_orb, (int, np.integer)) or n_orb < 1:
        raise ValueError(f"n_orb must be a positive integer (orbitals per cell), got {n_orb!r}")
    return int(n_orb)


@strict_keywords
def stencil_displacements(stencil: int) -> np.ndarray:
    """The ``(n_d, 2)`` displacements ``(dx, dy)`` of a stencil of range ``R``, row-major from ``(-R, -R)``."""
    R = _check_stencil(stencil)
    r = np.arange(-R, R + 1)
    return np.stack(np.meshgrid(r, r, indexing="ij"), axis=-1).reshape(-1, 2)


@strict_keywords
def layout_channels(n_orb: int, stencil: int) -> int:
    """Number of channels of a layout: ``2 (2R + 1)^2 n_orb^2``."""
    return 2 * len(stencil_displacements(stencil)) * _check_n_orb(n_orb) ** 2


def _check_fits(shape, stencil: int) -> Tuple[int, int]:
    Lx, Ly = _check_shape(shape)
    if min(Lx, Ly) <= 2 * stencil:
        raise ValueError(
            f"a sample of shape {(Lx, Ly)} is too small for a stencil of range {stencil}: each side must exceed "
            f"2R = {2 * stencil} (two displacements would reach the same cell); use a smaller stencil or a larger sample"
        )
    return Lx, Ly


@lru_cache(maxsize=64)
def _index(shape: Tuple[int, int], n_orb: int, stencil: int):
    Lx, Ly = shape
    D = stencil_displacements(stencil)
    k, o1, o2, ix, iy = np.meshgrid(np.arange(len(D)), np.arange(n_orb), np.arange(n_orb), np.arange(Lx),
                                    np.arange(Ly), indexing="ij")
    jx, jy = (ix + D[k, 0]) % Lx, (iy + D[k, 1]) % Ly
    rows = ((ix * Ly + iy) * n_orb + o1).ravel()
    cols = ((jx * Ly + jy) * n_orb + o2).ravel()
    for a in (rows, cols):
        a.setflags(write=False)
    return rows, cols


@strict_keywords
def layout_index(shape, n_orb: int, stencil: int) -> Tuple[np.ndarray, np.ndarray]:
    """Where each entry of a layout's real (or imaginary) half sits in ``H``.

    Returns ``(rows, cols)``, flat arrays of length ``n_d n_orb^2 Lx Ly``: entry ``m`` of
    ``x[:C/2].ravel()`` is ``H[rows[m], cols[m]].real`` (and of ``x[C/2:].ravel()`` its imaginary part).
    Every ``(row, col)`` pair appears once. Read-only (cached).
    """
    R = _check_stencil(stencil)
    return _index(_check_fits(shape, R), _check_n_orb(n_orb), R)


@strict_keywords
def lattice_layout(system: Union[Lattice2D, np.ndarray, sp.spmatrix], stencil: int = 2, *, shape=None,
                   n_orb=None, dtype=np.float32) -> np.ndarray:
    """The layout ``(C, Lx, Ly)`` of a lattice's Hamiltonian (see the module docstring).

    Parameters
    ----------
    system : Lattice2D, or array / sparse matrix ``(n, n)``
        The lattice, or its Hamiltonian in the basis ``(ix * Ly + iy) * n_orb + orb`` (then ``shape``
        and ``n_orb`` are required).
    stencil : int
        Range ``R`` of the displacements kept (the largest hopping of the lattice, or more).
    dtype : numpy dtype
        Of the result (float32 by default; float64 keeps ``H`` to the last bit).

    Raises
    ------
    ValueError
        If a hopping of ``H`` reaches farther than the stencil (it would be lost), or the sample is not
        larger than ``2R`` along each axis.
    """
    if isinstance(system, Lattice2D):
        if shape is not None or n_orb is not None:
            raise TypeError("shape and n_orb are read from the Lattice2D; pass them only with a matrix")
        H, shape, n_orb = system.hamiltonian(sparse=True), system.shape, system.n_orb
    else:
        if shape is None or n_orb is None:
            raise TypeError("a Hamiltonian matrix needs shape=(Lx, Ly) and n_orb")
        H = system
    R = _check_stencil(stencil)
    Lx, Ly = _check_fits(shape, R)
    n_orb = _check_n_orb(n_orb)
    n = Lx * Ly * n_orb
    H = sp.coo_matrix(H)
    if H.shape != (n, n):
        raise ValueError(f"H has shape {H.shape}, but a {Lx} x {Ly} lattice with {n_orb} orbitals has dimension {n}")
    H.sum_duplicates()
    i, j, v = H.row, H.col, H.data
    ci, cj = i // n_orb, j // n_orb
    dx = (cj // Ly - ci // Ly + Lx // 2) % Lx - Lx // 2   # the displacement on the shortest way round
    dy = (cj % Ly - ci % Ly + Ly // 2) % Ly - Ly // 2
    far = (np.abs(dx) > R) | (np.abs(dy) > R)
    if np.any(far & (v != 0)):
        m = int(np.flatnonzero(far & (v != 0))[0])
        raise ValueError(f"H couples cells {divmod(int(ci[m]), Ly)} and {divmod(int(cj[m]), Ly)}, a displacement "
                         f"({int(dx[m])}, {int(dy[m])}) beyond the stencil of range {R}; use stencil >= "
                         f"{int(max(abs(dx[m]), abs(dy[m])))}")
    keep = ~far
    i, j, v, dx, dy = i[keep], j[keep], v[keep], dx[keep], dy[keep]
    k = (dx + R) * (2 * R + 1) + (dy + R)
    nd = (2 * R + 1) ** 2
    half = nd * n_orb * n_orb
    x = np.zeros((2, nd, n_orb, n_orb, Lx, Ly), dtype=np.float64)
    idx = (k, i % n_orb, j % n_orb, ci // Ly, ci % Ly)
    x[0][idx] = np.real(v)
    x[1][idx] = np.imag(v)
    return x.reshape(2 * half, Lx, Ly).astype(dtype, copy=False)


@strict_keywords
def layout_hamiltonian(x: np.ndarray, n_orb: int, stencil: int = 2) -> np.ndarray:
    """The dense Hamiltonian(s) ``(..., n, n)`` (complex128) of layouts ``x`` ``(..., C, Lx, Ly)``.

    The inverse of :func:`lattice_layout` (exact in float64; a float32 layout gives ``H`` rounded to
    float32). The result is Hermitian when the layout is one of a Hermitian ``H``; it is returned as
    laid out, not symmetrized.
    """
    x = np.asarray(x)
    R = _check_stencil(stencil)
    n_orb = _check_n_orb(n_orb)
    C = layout_channels(n_orb, R)
    if x.ndim < 3 or x.shape[-3] != C:
        raise ValueError(f"a layout with n_orb={n_orb} and stencil={R} has shape (..., {C}, Lx, Ly); got {x.shape}")
    Lx, Ly = x.shape[-2:]
    rows, cols = layout_index((Lx, Ly), n_orb, R)
    lead = x.shape[:-3]
    flat = x.reshape(lead + (2, -1)).astype(np.float64)
    n = Lx * Ly * n_orb
    H = np.zeros(lead + (n, n), dtype=np.complex128)
    H[..., rows, cols] = flat[..., 0, :] + 1j * flat[..., 1, :]
    return H
