"""Models of the study: the :mod:`tntopo.nn` models plus a physics-structured TopoNet variant.

:class:`OddTopoNet` is :class:`tntopo.nn.TopoNet` with its weights projected onto the
symmetries of the invariant:

* **chiral symmetry** -- the eigenstates come in pairs ``psi_{-E} = Gamma psi_E`` (rank ``n`` and
  ``2N - 1 - n``). Only the part of the state weights that is odd under ``n -> 2N - 1 - n``
  reaches ``Q_AB``, the even part is a dead direction of the landscape, so
  ``s_n -> (s_n - s_{2N-1-n}) / 2``;
* **reflection** -- mirroring the chain maps ``W -> -W`` and the displacement ``a - c -> c - a``, so
  the position kernel is antisymmetric: ``X -> (X - X^T) / 2`` (for a translation-invariant
  kernel ``f(d) -> (f(d) - f(-d)) / 2``, hence ``f(0) = 0``: no constant offset to learn).

Both projections leave the exact weights unchanged (``init="exact"`` stays exact). With
``kernel="translation_invariant"``, ``state_weights="rank"`` and ``window="fixed"`` the model has
``2 K + 1 + n_bins`` numbers and applies to any chain length.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional

import torch
from torch import nn

from ..nn import CNN, MLP, ShallowNet, SymmetricNet, TopoNet

__all__ = ["OddTopoNet", "CommutatorTopoNet", "FACTORIES", "build_study_model", "accepts_size", "n_parameters"]


class OddTopoNet(TopoNet):
    """:class:`~tntopo.nn.TopoNet` whose state weights are chiral-odd and whose kernel is reflection-odd.

    Same parameters as :class:`~tntopo.nn.TopoNet`; see the module docstring.
    """

    def weights(self, n_cells: Optional[int] = None, dtype=None, device=None):
        s, X, R = super().weights(n_cells, dtype=dtype, device=device)
        return (s - s.flip(0)) / 2, (X - X.T) / 2, R

    def extra_repr(self) -> str:
        return super().extra_repr() + ", odd=True"


class CommutatorTopoNet(OddTopoNet):
    """:class:`OddTopoNet` whose kernel is the commutator with the position operator, ``X = lam (x_a - x_c)``.

    The invariant is ``Tr Q_BA [X, Q_AB]``: its kernel is linear in the displacement. The raw
    kernel parameters are projected (least squares, over ``|a - c| <= kernel_range``) onto
    ``lam (a - c)``, so one learned scale ``lam`` remains; the state weights stay free (chiral-odd).
    Clean gapped training chains barely constrain the kernel at long distances (``Q`` decays
    there), which is where disordered chains near the topological Anderson transition need it.
    """

    def weights(self, n_cells: Optional[int] = None, dtype=None, device=None):
        s, X, R = super().weights(n_cells, dtype=dtype, device=device)
        N = X.shape[-1]
        x = torch.arange(N, dtype=X.dtype, device=X.device)
        d = x[:, None] - x[None, :]
        if self.boundary == "periodic":
            d = d - N * torch.round(d / N)
        d = d * (d.abs() <= self.kernel_range)
        lam = (X * d).sum() / (d * d).sum()
        return s, lam * d, R

    def extra_repr(self) -> str:
        return super().extra_repr() + ", kernel=lam*(a-c)"


def _toponet(cls):
    def make(n_cells: int, seed: int, **kw):
        kw.setdefault("init", "random")
        return cls(n_cells, seed=seed, **kw)

    return make


#: Model constructors by kind: ``FACTORIES[kind](n_cells, seed, **kwargs)``.
FACTORIES: Dict[str, Callable[..., nn.Module]] = {
    "toponet": _toponet(TopoNet),
    "toponet_odd": _toponet(OddTopoNet),
    "toponet_commutator": _toponet(CommutatorTopoNet),
    "mlp": lambda n_cells, seed, **kw: MLP(n_cells, seed=seed, **kw),
    "shallow": lambda n_cells, seed, **kw: ShallowNet(n_cells, seed=seed, **kw),
    "cnn": lambda n_cells, seed, **kw: CNN(n_cells, seed=seed, **kw),
    "symmetric": lambda n_cells, seed, **kw: SymmetricNet(n_cells, seed=seed, **kw),
}


def build_study_model(kind: str, n_cells: int, seed: int, kwargs: Optional[Mapping[str, Any]] = None) -> nn.Module:
    """Build a model of the study (see :data:`FACTORIES`)."""
    if kind not in FACTORIES:
        raise ValueError(f"unknown model kind {kind!r}; choose one of {set(FACTORIES)}")
    return FACTORIES[kind](int(n_cells), int(seed), **dict(kwargs or {}))


def accepts_size(model: nn.Module, n_cells: int) -> Optional[str]:
    """``None`` if ``model`` takes chains of ``n_cells`` cells, else the reason it does not."""
    x = torch.zeros(1, 2 * n_cells, 2 * n_cells, dtype=next(model.parameters()).dtype)
    x[0] = torch.eye(2 * n_cells)
    try:
        with torch.no_grad():
            model(x)
    except ValueError as exc:
        return str(exc).split(";")[0]
    return None


def n_parameters(model: nn.Module) -> int:
    """Number of trainable scalars of ``model`` (the ``params`` column of the study table)."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))
