"""Differentiable real-space winding number for torch tensors.

``winding_number(h)`` builds the chiral Hamiltonian ``H = [[0, h], [h^dagger, 0]]`` of each
A->B block, takes its flat-band Hamiltonian ``Q = sign(H)`` through :class:`SignH` (an
``autograd.Function`` with a stable backward), and contracts the real-space winding network
``W = sum_{a, c} R_a X_ac |Q_ac|^2`` with :func:`tntopo.tn.contract_network` (cached path).

Everything is device- and dtype-agnostic: the same code runs on CUDA tensors.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from .._typing import Boundary, check_option, strict_keywords
from ..invariants.winding.dense import bulk_window, position_kernel

__all__ = ["SignH", "sign_h", "FermiSignH", "sign_hermitian", "occupied_projector", "chiral_hamiltonian",
           "flat_band_block", "winding_number", "local_markers", "resolve_device", "check_device"]


def _gap_floor(lam: torch.Tensor) -> torch.Tensor:
    """Smallest eigenvalue difference used in the backward kernel (regularizes exact zero modes)."""
    eps = torch.finfo(lam.dtype).eps
    scale = lam.abs().amax(dim=-1, keepdim=True).clamp_min(1.0)
    return (eps ** 0.5) * scale


class SignH(torch.autograd.Function):
    """``Q = sign(H)`` of Hermitian chiral Hamiltonians ``(B, 2N, 2N)`` with a stable backward.

    Forward: ``H = U diag(lam) U^dagger`` (``torch.linalg.eigh``) and ``Q = U diag(s) U^dagger``
    with ``s = -1`` for the lower ``N`` states and ``+1`` for the upper ``N`` (chiral spectra are
    symmetric, so this is ``sign(E)``, with exact zero modes split evenly).

    Backward: ``grad_H = U [(U^dagger G U) o K] U^dagger`` with
    ``K_ij = (s_i - s_j) / (lam_i - lam_j)`` and ``K_ij = 0`` where ``s_i = s_j``. Degenerate
    levels inside a band therefore never enter (no ``1/0`` as in ``eigh``'s own backward); the
    only denominators are band-to-band gaps, floored at ``sqrt(eps) * max|lam|`` so that exact
    edge zero modes give finite gradients.
    """

    @staticmethod
    def forward(ctx, H):
        lam, U = torch.linalg.eigh(H)
        n2 = H.shape[-1]
        s = torch.ones(n2, dtype=lam.dtype, device=H.device)
        s[: n2 // 2] = -1.0
        Q = (U * s.to(U.dtype)) @ U.mH
        ctx.save_for_backward(lam, U, s)
        return Q

    @staticmethod
    def backward(ctx, G):
        lam, U, s = ctx.saved_tensors
        return _sign_backward(lam, U, s, G)


def _sign_backward(lam: torch.Tensor, U: torch.Tensor, s: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """``U [(U^dagger G U) o K] U^dagger``, ``K_ij = (s_i - s_j)/(lam_i - lam_j)`` (0 where ``s_i = s_j``).

    ``s`` is ``(n,)`` or batched like ``lam`` ``(..., n)``; the backward of :class:`SignH` and
    :class:`FermiSignH`.
    """
    ds = s[..., :, None] - s[..., None, :]  # +-2 between bands, 0 within
    dl = lam[..., :, None] - lam[..., None, :]
    floor = _gap_floor(lam)[..., None]
    # across bands lam_i - lam_j has the sign of s_i - s_j, so K = |s_i - s_j| / |lam_i - lam_j|
    K = ds.abs() / dl.abs().clamp_min(floor)
    inner = U.mH @ G @ U
    return U @ (inner * K.to(inner.dtype)) @ U.mH


@strict_keywords
def sign_h(H: torch.Tensor) -> torch.Tensor:
    """Flat-band Hamiltonian ``sign(H)`` of chiral Hamiltonians ``(2N, 2N)`` or ``(B, 2N, 2N)``."""
    return SignH.apply(H)


class FermiSignH(torch.autograd.Function):
    """``sign(H - E_F)`` of any Hermitian ``H`` ``(..., n, n)`` (real or complex) with a stable backward.

    The general (non-chiral) version of :class:`SignH`: ``s_i = -1`` for eigenvalues below the
    Fermi level ``E_F`` (``lam_i < E_F``) and ``+1`` otherwise, so the occupied projector is
    ``P = (1 - sign(H - E_F)) / 2``. Same backward (:func:`_sign_backward`): degeneracies inside
    the occupied or the empty space never enter; only gaps across ``E_F`` do (floored as in
    :class:`SignH`). ``E_F`` gets no gradient (``P`` is piecewise constant in it). Only the lower
    triangle of ``H`` is read (``torch.linalg.eigh``); the gradient assumes ``H`` Hermitian.
    """

    @staticmethod
    def forward(ctx, H, fermi_level):
        lam, U = torch.linalg.eigh(H)
        s = torch.where(lam < fermi_level, -1.0, 1.0).to(lam.dtype)
        S = (U * s.to(U.dtype)[..., None, :]) @ U.mH
        ctx.save_for_backward(lam, U, s)
        return S

    @staticmethod
    def backward(ctx, G):
        lam, U, s = ctx.saved_tensors
        return _sign_backward(lam, U, s, G), None


@strict_keywords
def sign_hermitian(H: torch.Tensor, fermi_level: float = 0.0) -> torch.Tensor:
    """``sign(H - E_F)`` of Hermitian ``H`` ``(n, n)`` or ``(B, n, n)``, stable gradient (:class:`FermiSignH`)."""
    return FermiSignH.apply(H, float(fermi_level))


@strict_keywords
def occupied_projector(H: torch.Tensor, fermi_level: float = 0.0) -> torch.Tensor:
    """Projector ``P = (1 - sign(H - E_F)) / 2`` onto the states below ``E_F``, differentiable and stable."""
    S = sign_hermitian(H, fermi_level)
    eye = torch.eye(S.shape[-1], dtype=S.dtype, device=S.device)
    return (eye - S) / 2


@strict_keywords
def chiral_hamiltonian(h: torch.Tensor) -> torch.Tensor:
    """``H = [[0, h], [h^dagger, 0]]`` for A->B blocks ``(..., N, N)`` (basis A_0..A_{N-1}, B_0..B_{N-1})."""
    z = torch.zeros_like(h)
    top = torch.cat([z, h], dim=-1)
    bottom = torch.cat([h.mH, z], dim=-1)
    return torch.cat([top, bottom], dim=-2)


@strict_keywords
def check_device(device) -> torch.device:
    """``torch.device(device)``, or a ``ValueError`` if it is malformed or not available here.

    ``device="cuda"`` with a CPU-only torch (or no GPU visible) says so and how to fix it,
    instead of torch's ``AssertionError`` from deep inside ``model.to``.
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device={device!r} is not a torch device; use e.g. 'cpu', 'cuda' or 'cuda:0', "
                         "or a torch.device") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = ("this torch is a CPU-only build (torch.version.cuda is None)" if torch.version.cuda is None
                   else "no CUDA GPU is visible (check CUDA_VISIBLE_DEVICES and the driver)")
            raise ValueError(f"device={device!r}: {why}; use device='cpu', or install a CUDA build of torch")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s) are visible; "
                             f"use an index below {torch.cuda.device_count()}")
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device={device!r}: the MPS backend is not available here; use device='cpu'")
    return dev


@strict_keywords
def resolve_device(device) -> Optional[torch.device]:
    """``device=`` of the torch routes as a :class:`torch.device` (None stays None: the input's own).

    Raises
    ------
    ValueError
        Not a device name (e.g. ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``), or a device this
        machine does not have (:func:`check_device`).
    """
    return None if device is None else check_device(device)


def _as_tensor(h, device=None) -> torch.Tensor:
    dev = resolve_device(device)
    if not isinstance(h, torch.Tensor):
        h = torch.as_tensor(np.asarray(h))
    if dev is not None:
        h = h.to(dev)
    if h.ndim not in (2, 3) or h.shape[-1] != h.shape[-2]:
        raise ValueError(
            f"hopping blocks must be square with shape (N, N) or (B, N, N), got {tuple(h.shape)}; "
            "pass the A->B block h with h[n, n-m] = t_m"
        )
    if h.shape[-1] < 4:
        raise ValueError(f"hopping blocks of {h.shape[-1]} cells are too small: at least 4 cells are needed")
    if not (h.is_floating_point() or h.is_complex()):
        h = h.to(torch.get_default_dtype())
    return h


@strict_keywords
def flat_band_block(h: torch.Tensor, *, device=None) -> torch.Tensor:
    """Flat-band A->B block ``Q_AB`` (the polar factor of ``h``), differentiable, ``(..., N, N)``.

    ``device``: where to compute (``h`` is moved there; default ``h``'s own device, CPU for arrays).
    """
    h = _as_tensor(h, device)
    N = h.shape[-1]
    return sign_h(chiral_hamiltonian(h))[..., :N, N:]


def _geometry(N: int, boundary: str, region, dtype, device):
    real = torch.empty(0, dtype=dtype).real.dtype
    X = torch.as_tensor(position_kernel(N, boundary), dtype=real, device=device)
    R = None if region is False else torch.as_tensor(bulk_window(N, boundary, region), dtype=real, device=device)
    return X, R


def _contract(Q: torch.Tensor, X: torch.Tensor, R: Optional[torch.Tensor]):
    from ..tn import contract_rswn

    X = X.to(Q.dtype)
    R = None if R is None else R.to(Q.dtype)
    out = contract_rswn(Q, X, R)
    return out.real if out.is_complex() else out


@strict_keywords
def winding_number(h, boundary: str = "open", region=None, *, device=None) -> torch.Tensor:
    """Real-space winding number of A->B hopping blocks, differentiable with respect to ``h``.

    Parameters
    ----------
    h : torch.Tensor, shape (N, N) or (B, N, N), real or complex
        A->B blocks with ``h[n, n-m] = t_m`` (any device).
    boundary : {"open", "periodic"}
        Selects the position kernel (minimum image on a ring) and the default bulk region.
    region : optional
        Bulk region (see :func:`tntopo.invariants.bulk_region`).
    device : str or torch.device, optional
        Where to compute: ``h`` (a tensor or an array) is moved there and the result lives there.
        Default: ``h``'s own device (CPU for numpy input). A ``ValueError`` names a device this
        machine lacks.

    Returns
    -------
    torch.Tensor, shape () or (B,)
        Real dtype of ``h``. Equal to ``tntopo.winding_number(h.numpy(), method="dense")``
        to ~1e-12 in float64.

    Examples
    --------
    >>> import torch, tntopo
    >>> h = torch.tensor(tntopo.SSHChain({0: 0.5, 1: 1.0}, 20).hopping_block(), requires_grad=True)
    >>> W = tntopo.nn.functional.winding_number(h)
    >>> W.backward()                        # dW/dh, finite everywhere
    """
    check_option("boundary", boundary, Boundary)
    h = _as_tensor(h, device)
    Q = flat_band_block(h)
    X, R = _geometry(h.shape[-1], boundary, region, h.dtype, h.device)
    return _contract(Q, X, R)


@strict_keywords
def local_markers(h, boundary: str = "open", *, device=None) -> torch.Tensor:
    """Local markers ``w(n)`` of every A cell, ``(N,)`` or ``(B, N)``, differentiable (``device`` as in
    :func:`winding_number`)."""
    h = _as_tensor(h, device)
    Q = flat_band_block(h)
    X, _ = _geometry(h.shape[-1], boundary, False, h.dtype, h.device)
    return _contract(Q, X, None)
