"""Differentiable local Chern marker and bulk Chern number of 2D lattices (torch).

For a batch of Hermitian Hamiltonians ``H`` ``(B, n, n)`` in the basis of :class:`tntopo.Lattice2D`
(index ``(x * Ly + y) * n_orb + orb``), the local Chern marker of cell ``r`` is

.. math:: c(r) = \\frac{4\\pi}{A_\\text{cell}} \\operatorname{Im} \\sum_\\text{orb}
          \\langle r, \\text{orb} | P X Q Y P | r, \\text{orb} \\rangle
          = -\\frac{4\\pi}{A_\\text{cell}} \\operatorname{Im} \\sum_\\text{orb} [P X P Y P]_{(r, \\text{orb}), (r, \\text{orb})},

with ``P`` the projector onto the states below the Fermi level, ``Q = 1 - P`` and ``X``, ``Y``
the diagonal position operators (the second form uses ``PQ = 0`` and that ``P X Y P`` is
Hermitian). The bulk Chern number is the mean of ``c`` over a bulk region of an open sample.

``P = (1 - sign(H - E_F)) / 2`` is taken through :class:`tntopo.nn.functional.FermiSignH`, whose
backward ``U [(U^dagger G U) o K] U^dagger`` (``K_ij = (s_i - s_j) / (lam_i - lam_j)``, zero where
``s_i = s_j``) never divides by a gap inside the occupied or the empty space: gradients stay finite
at degenerate spectra, where the backward of ``torch.linalg.eigh`` gives ``nan``/``inf``.

Everything is device- and dtype-agnostic (float32/64, complex64/128; CUDA tensors work as is).
"""
from __future__ import annotations

import math
import numbers
from typing import Optional, Tuple

import numpy as np
import torch

from .._typing import strict_keywords
from .functional import occupied_projector

__all__ = ["local_chern_marker", "chern_number", "bulk_window_2d", "lattice_geometry"]


@strict_keywords
def bulk_window_2d(shape: Tuple[int, int], region=None) -> np.ndarray:
    """Bulk weights ``R[x, y]`` ``(Lx, Ly)``: ``1/|R|`` on the bulk cells, 0 elsewhere.

    Parameters
    ----------
    shape : (int, int)
        ``(Lx, Ly)``.
    region : None, int, (int, int), (slice, slice), or array of shape (Lx, Ly)
        ``None`` (default): cells with ``Lx//4 <= x < Lx - Lx//4`` and ``Ly//4 <= y < Ly - Ly//4``
        (the default of :func:`tntopo.chern_number`). An integer ``margin`` or a pair
        ``(margin_x, margin_y)``: the cells at least that far from every edge. A pair of slices
        ``(slice_x, slice_y)``: that rectangle (the form :func:`tntopo.chern_number` takes). A boolean mask selects cells (mean over them);
        a real array is used as the weights themselves (e.g. a smooth window; not normalized).

    Returns
    -------
    numpy.ndarray, shape (Lx, Ly), float64
    """
    Lx, Ly = _check_shape(shape)
    if region is None:
        region = (Lx // 4, Ly // 4)
    if isinstance(region, tuple) and len(region) == 2 and all(isinstance(r, slice) for r in region):
        mask = np.zeros((Lx, Ly), bool)  # the (slice_x, slice_y) form of tntopo.chern_number
        mask[region] = True
        region = mask
    if isinstance(region, numbers.Integral) and not isinstance(region, (bool, np.bool_)):
        region = (int(region), int(region))
    if isinstance(region, tuple) and len(region) == 2 and all(isinstance(m, numbers.Integral) for m in region):
        mx, my = int(region[0]), int(region[1])
        if mx < 0 or my < 0 or 2 * mx >= Lx or 2 * my >= Ly:
            raise ValueError(
                f"bulk margins {(mx, my)} leave no cell of the {Lx}x{Ly} sample; give margins with "
                f"0 <= 2*margin < L (at most {((Lx - 1) // 2, (Ly - 1) // 2)}) or a larger sample"
            )
        mask = np.zeros((Lx, Ly))
        mask[mx:Lx - mx, my:Ly - my] = 1.0
        return mask / mask.sum()
    r = np.asarray(region)
    if r.shape != (Lx, Ly):
        raise ValueError(
            f"region must be None, a margin, a pair of margins or an array of shape {(Lx, Ly)}, got "
            f"{region!r}" if r.ndim == 0 else f"region array has shape {r.shape}, expected {(Lx, Ly)}"
        )
    if r.dtype == bool:
        if not r.any():
            raise ValueError("the bulk region mask is empty; select at least one cell")
        return r / r.sum()
    if not np.issubdtype(r.dtype, np.number) or np.iscomplexobj(r) or not np.all(np.isfinite(r)):
        raise ValueError("a region weight array must be real and finite")
    return r.astype(float)


def _check_shape(shape) -> Tuple[int, int]:
    try:
        Lx, Ly = shape
        ok = all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) and v >= 1 for v in (Lx, Ly))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"shape must be a pair of positive integers (Lx, Ly), got {shape!r}")
    return int(Lx), int(Ly)


@strict_keywords
def lattice_geometry(shape, n: int, positions=None, n_orb: Optional[int] = None):
    """Per-basis-state coordinates ``(x, y)`` (two ``(n,)`` arrays) and ``n_orb``.

    ``positions`` may be ``None`` (the cell indices), per cell ``(Lx * Ly, 2)`` or ``(Lx, Ly, 2)``
    (as :meth:`tntopo.Lattice2D.positions`), or per basis state ``(n, 2)``.
    """
    Lx, Ly = _check_shape(shape)
    cells = Lx * Ly
    if n % cells:
        raise ValueError(
            f"Hamiltonians of dimension {n} do not fit shape {(Lx, Ly)} ({cells} cells): the dimension must "
            "be Lx * Ly * n_orb with basis index (x * Ly + y) * n_orb + orb; pass the lattice's shape"
        )
    no = n // cells
    if n_orb is not None and int(n_orb) != no:
        raise ValueError(f"n_orb={n_orb!r} does not match dimension {n} = {cells} cells x {no} orbitals")
    if positions is None:
        x, y = np.meshgrid(np.arange(Lx, dtype=float), np.arange(Ly, dtype=float), indexing="ij")
        p = np.stack([x.ravel(), y.ravel()], axis=1)
    else:
        p = np.asarray(positions, dtype=float)
        if p.shape == (Lx, Ly, 2):
            p = p.reshape(cells, 2)
        if p.shape not in ((cells, 2), (n, 2)):
            raise ValueError(
                f"positions has shape {p.shape}; expected per cell {(cells, 2)} / {(Lx, Ly, 2)} or per basis state {(n, 2)}"
            )
        if not np.all(np.isfinite(p)):
            raise ValueError("positions contain NaN or inf; give finite coordinates")
    if p.shape[0] == cells:
        p = np.repeat(p, no, axis=0)
    return p[:, 0].copy(), p[:, 1].copy(), no


def _as_hamiltonians(H, shape, positions, cell_area, device=None):
    """Tensor ``(..., n, n)`` (on ``device`` when given) plus geometry; accepts a :class:`tntopo.Lattice2D`."""
    from ..systems.lattice2d import Lattice2D
    from .functional import resolve_device

    dev = resolve_device(device)

    if isinstance(H, Lattice2D):
        lat = H
        if lat.boundary != ("open", "open"):
            raise ValueError(
                f"the local Chern marker needs an open sample, got boundary={lat.boundary}; use "
                "lattice.with_boundary('open') (or the Bott index for periodic samples)"
            )
        H = torch.as_tensor(lat.hamiltonian()).to(torch.complex128)
        shape = lat.shape if shape is None else shape
        if positions is None and lat.has_custom_positions:
            positions = lat.positions()
        if cell_area is None:
            cell_area = lat.cell_area
    elif not isinstance(H, torch.Tensor):
        H = torch.as_tensor(np.asarray(H))
    if dev is not None:
        H = H.to(dev)
    if shape is None:
        raise ValueError("pass the lattice shape=(Lx, Ly) of the Hamiltonians (or a tntopo.Lattice2D)")
    if H.ndim not in (2, 3) or H.shape[-1] != H.shape[-2]:
        raise ValueError(f"Hamiltonians must be square with shape (n, n) or (B, n, n), got {tuple(H.shape)}")
    if not (H.is_floating_point() or H.is_complex()):
        H = H.to(torch.get_default_dtype())
    if H.shape[-1] == 0:
        raise ValueError("empty Hamiltonian: give at least one cell")
    scale = H.detach().abs().amax().clamp_min(1.0)
    tol = torch.finfo(H.real.dtype if H.is_complex() else H.dtype).eps ** 0.5 * scale
    asym = (H.detach() - H.detach().mH).abs().amax()
    if not bool(torch.isfinite(asym)):
        raise ValueError("Hamiltonians contain NaN or inf")
    if asym > tol:
        raise ValueError(
            f"Hamiltonians are not Hermitian (max |H - H^dagger| = {float(asym):.3g}); pass Hermitian "
            "matrices, e.g. (H + H.mH) / 2"
        )
    area = 1.0 if cell_area is None else float(cell_area)
    if not (math.isfinite(area) and area > 0):
        raise ValueError(f"cell_area must be a positive number, got {cell_area!r}")
    return H, _check_shape(shape), positions, area


def _marker(H: torch.Tensor, x: np.ndarray, y: np.ndarray, fermi_level: float, cell_area: float, n_orb: int, shape):
    if not math.isfinite(fermi_level):
        raise ValueError(f"fermi_level must be a finite number, got {fermi_level!r}")
    real = H.real.dtype if H.is_complex() else H.dtype
    P = occupied_projector(H, fermi_level)
    xs = torch.as_tensor(x, dtype=real, device=H.device).to(P.dtype)
    ys = torch.as_tensor(y, dtype=real, device=H.device).to(P.dtype)
    # [P X P Y P]_ii = sum_k (P X P Y)_ik P_ki: one matrix product per sample
    M = (P * xs) @ (P * ys)
    d = (M * P.transpose(-1, -2)).sum(-1)
    im = d.imag if d.is_complex() else torch.zeros_like(d)
    c = (-4.0 * math.pi / cell_area) * im
    return c.reshape(c.shape[:-1] + (shape[0], shape[1], n_orb)).sum(-1)


@strict_keywords
def local_chern_marker(H, shape=None, *, positions=None, n_orb: Optional[int] = None,
                       fermi_level: float = 0.0, cell_area: Optional[float] = None, device=None) -> torch.Tensor:
    """Local Chern marker map of 2D lattices, differentiable with respect to ``H``.

    Parameters
    ----------
    H : torch.Tensor (n, n) or (B, n, n), array_like, or tntopo.Lattice2D
        Hermitian Hamiltonians, real or complex, in the basis ``(x * Ly + y) * n_orb + orb``
        (``n = Lx * Ly * n_orb``). A :class:`~tntopo.Lattice2D` supplies its Hamiltonian
        (complex128), shape, positions and cell area.
    shape : (int, int)
        ``(Lx, Ly)`` of the lattice (required unless ``H`` is a ``Lattice2D``).
    positions : array_like, optional
        Cell positions ``(Lx * Ly, 2)`` / ``(Lx, Ly, 2)`` or per basis state ``(n, 2)``
        (amorphous or deformed samples); default the cell indices ``(x, y)``.
    n_orb : int, optional
        Orbitals per cell; checked against ``n / (Lx * Ly)`` when given.
    fermi_level : float
        States with energy below it are occupied.
    cell_area : float, optional
        Area per cell of the embedding (default 1; a ``Lattice2D``'s own ``cell_area``). The
        marker is divided by it so that its bulk mean is the Chern number.
    device : str or torch.device, optional
        Where to compute (``H`` is moved there; default: ``H``'s own device, CPU for arrays and
        lattices). A ``ValueError`` names a device this machine lacks.

    Returns
    -------
    torch.Tensor, shape (Lx, Ly) or (B, Lx, Ly)
        Real dtype of ``H`` (zeros for real ``H``: time-reversal symmetric).

    Notes
    -----
    The full-sample sum of the marker of an open sample vanishes; its bulk mean is the Chern
    number (see :func:`chern_number`). On periodic samples the position operator is not defined
    and the marker is not meaningful. A Fermi level inside a band gives a non-quantized map and
    large (but finite) gradients; nothing is checked here, so that training loops stay quiet.

    Examples
    --------
    >>> import torch, tntopo
    >>> from tntopo.nn.chern import local_chern_marker
    >>> lat = tntopo.Lattice2D.qwz(1.0, (8, 8))
    >>> H = torch.tensor(lat.hamiltonian(), dtype=torch.complex128, requires_grad=True)
    >>> c = local_chern_marker(H, lat.shape)          # (8, 8)
    >>> c[2:6, 2:6].mean().backward()                 # stable gradient dC/dH
    """
    H, shape, positions, area = _as_hamiltonians(H, shape, positions, cell_area, device)
    x, y, no = lattice_geometry(shape, H.shape[-1], positions, n_orb)
    return _marker(H, x, y, float(fermi_level), area, no, shape)


@strict_keywords
def chern_number(H, shape=None, *, region=None, positions=None, n_orb: Optional[int] = None,
                 fermi_level: float = 0.0, cell_area: Optional[float] = None, device=None) -> torch.Tensor:
    """Bulk Chern number ``sum_r R(r) c(r)`` of 2D lattices, differentiable with respect to ``H``.

    Same arguments as :func:`local_chern_marker` (``device`` included), plus ``region`` (see :func:`bulk_window_2d`;
    default: the central half of the sample along each axis).

    Returns
    -------
    torch.Tensor, shape () or (B,)
        Real dtype of ``H``; equals ``tntopo.chern_number(lattice, method="marker")`` for the
        same region to ~1e-12 in float64.
    """
    H, shape, positions, area = _as_hamiltonians(H, shape, positions, cell_area, device)
    x, y, no = lattice_geometry(shape, H.shape[-1], positions, n_orb)
    c = _marker(H, x, y, float(fermi_level), area, no, shape)
    R = torch.as_tensor(bulk_window_2d(shape, region), dtype=c.dtype, device=c.device)
    return (c * R).sum((-2, -1))
