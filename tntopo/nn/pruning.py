"""SVD pruning of a network's first layer (how much of the input space does it use?)."""
from __future__ import annotations

import copy

import torch
from torch import nn

from .._typing import strict_keywords

__all__ = ["prune_svd", "first_layer", "singular_values"]


def first_layer(model: nn.Module) -> nn.Linear:
    """The first :class:`torch.nn.Linear` layer of ``model`` (``model.first_layer`` if defined)."""
    layer = getattr(model, "first_layer", None)
    if isinstance(layer, nn.Linear):
        return layer
    for m in model.modules():
        if isinstance(m, nn.Linear):
            return m
    raise ValueError(f"{type(model).__name__} has no nn.Linear layer to prune; use ShallowNet or MLP")


@strict_keywords
def singular_values(model: nn.Module) -> torch.Tensor:
    """Singular values (descending) of the first linear layer's weight matrix."""
    return torch.linalg.svdvals(first_layer(model).weight.detach())


@strict_keywords
def prune_svd(model: nn.Module, rank: int, inplace: bool = False) -> nn.Module:
    """Truncate the first linear layer to its ``rank`` largest singular components.

    ``W1 = U S V^T`` is replaced by ``U[:, :r] S[:r] V[:, :r]^T`` (the best rank-``r``
    approximation); the bias and the other layers are kept.

    Parameters
    ----------
    model : nn.Module
        A :class:`ShallowNet` (or any model whose first layer is ``nn.Linear``).
    rank : int
        Number of singular components to keep, ``1 <= rank <= min(W1.shape)``.
    inplace : bool
        Modify ``model`` itself instead of a deep copy.

    Returns
    -------
    nn.Module
        The pruned model.
    """
    layer = first_layer(model)
    r_max = min(layer.weight.shape)
    if not isinstance(rank, int) or not 1 <= rank <= r_max:
        raise ValueError(f"rank must be an integer in [1, {r_max}] (the first layer's size), got {rank!r}")
    out = model if inplace else copy.deepcopy(model)
    layer = first_layer(out)
    with torch.no_grad():
        W = layer.weight
        U, S, Vh = torch.linalg.svd(W.double(), full_matrices=False)
        W.copy_(((U[:, :rank] * S[:rank]) @ Vh[:rank]).to(W.dtype))
    return out
