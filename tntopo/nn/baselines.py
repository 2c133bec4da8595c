"""Baseline networks on the same inputs as :class:`TopoNet`: ``(B, 2N, 2N)`` real features -> ``(B,)``.

* :class:`MLP`: flattened input, ``depth`` hidden layers;
* :class:`ShallowNet`: one hidden layer (see :func:`tntopo.nn.prune_svd`);
* :class:`CNN`: 2D convolutions over (sites x states), global average pooling -- size agnostic;
* :class:`SymmetricNet`: uses the chiral structure: each positive-energy state is read as its
  A and B sublattice amplitudes (``psi_{-E} = Gamma psi_E`` makes the negative half redundant),
  processed by a shared 1D convolution over cells, symmetrized under the gauge ``psi -> -psi``,
  and pooled over states and cells (a permutation-invariant DeepSets model) -- size agnostic.

All constructors take ``n_cells`` and ``seed`` (a private generator; the global RNG is untouched).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from .._typing import strict_keywords
from .toponet import require_tensor

__all__ = ["MLP", "ShallowNet", "CNN", "SymmetricNet"]

_ACTS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU}


def _act(name: str) -> nn.Module:
    if name not in _ACTS:
        raise ValueError(f"unknown activation {name!r}; choose one of {set(_ACTS)}")
    return _ACTS[name]()


def _seeded_init(module: nn.Module, seed: int) -> None:
    """Re-initialize every layer from a private generator: torch's default ``U(-1/sqrt(fan_in), +)``."""
    gen = torch.Generator().manual_seed(int(seed))
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            fan_in = m.weight[0].numel()
            bound = 1.0 / fan_in ** 0.5
            with torch.no_grad():
                m.weight.copy_(torch.empty(m.weight.shape, dtype=torch.float64).uniform_(-bound, bound, generator=gen))
                if m.bias is not None:
                    m.bias.copy_(torch.empty(m.bias.shape, dtype=torch.float64).uniform_(-bound, bound, generator=gen))


def _check_input(x: torch.Tensor, n_cells: Optional[int], name: str) -> torch.Tensor:
    require_tensor(x, name)
    if x.is_complex():
        raise ValueError(f"{name} takes real features; use real hoppings or features='densities'")
    if x.ndim != 3 or x.shape[-1] != x.shape[-2] or x.shape[-1] % 2:
        raise ValueError(f"{name} takes features of shape (B, 2N, 2N), got {tuple(x.shape)}")
    if n_cells is not None and x.shape[-1] != 2 * n_cells:
        raise ValueError(
            f"{name} was built for n_cells={n_cells} (inputs (B, {2 * n_cells}, {2 * n_cells})), got "
            f"{tuple(x.shape)}; use CNN or SymmetricNet for other chain lengths"
        )
    return x


class _Base(nn.Module):
    size_agnostic = False

    def _prep(self, x):
        x = _check_input(x, None if self.size_agnostic else self.n_cells, type(self).__name__)
        return x.to(next(self.parameters()).dtype)


class MLP(_Base):
    """Fully connected network on the flattened ``(2N)^2`` features.

    Parameters
    ----------
    n_cells : int
    hidden : sequence of int
        Widths of the hidden layers (default ``(256, 128)``).
    activation : {"relu", "tanh", "gelu", "silu"}
    seed : int
    """

    @strict_keywords
    def __init__(self, n_cells: int, hidden: Sequence[int] = (256, 128), activation: str = "relu",
                 seed: int = 0, dtype: Optional[torch.dtype] = None):
        super().__init__()
        self.n_cells, self.seed = int(n_cells), int(seed)
        dims = [4 * n_cells * n_cells, *[int(h) for h in hidden]]
        layers = []
        for i, o in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(i, o), _act(activation)]
        layers.append(nn.Linear(dims[-1], 1))
        self.net = nn.Sequential(*layers)
        _seeded_init(self, seed)
        if dtype is not None:
            self.to(dtype)

    def forward(self, x):
        x = self._prep(x)
        return self.net(x.flatten(1)).squeeze(-1)


class ShallowNet(MLP):
    """One hidden layer: ``W = w2 @ act(W1 x + b1) + b2``.

    Its first layer ``W1`` (``hidden x (2N)^2``) is what :func:`tntopo.nn.prune_svd` truncates;
    :meth:`singular_values` gives its spectrum.
    """

    @strict_keywords
    def __init__(self, n_cells: int, hidden: int = 256, activation: str = "relu", seed: int = 0,
                 dtype: Optional[torch.dtype] = None):
        super().__init__(n_cells, hidden=(int(hidden),), activation=activation, seed=seed, dtype=dtype)

    @property
    def first_layer(self) -> nn.Linear:
        return self.net[0]

    def singular_values(self) -> torch.Tensor:
        """Singular values of the first-layer weight matrix, descending."""
        return torch.linalg.svdvals(self.first_layer.weight.detach())


class CNN(_Base):
    """Convolutions over the (sites x states) image of the features, then global average pooling.

    The input is read as one channel, or two (``split_sublattices=True``: the A rows and the B
    rows as separate channels, an ``N x 2N`` image). Global pooling makes it size agnostic.

    Parameters
    ----------
    n_cells : int
    channels : sequence of int
    kernel_size : int
    split_sublattices : bool
    activation : {"relu", "tanh", "gelu", "silu"}
    seed : int
    """

    size_agnostic = True

    @strict_keywords
    def __init__(self, n_cells: int, channels: Sequence[int] = (8, 16, 16), kernel_size: int = 3,
                 split_sublattices: bool = True, activation: str = "relu", seed: int = 0,
                 dtype: Optional[torch.dtype] = None):
        super().__init__()
        self.n_cells, self.seed = int(n_cells), int(seed)
        self.split_sublattices = bool(split_sublattices)
        c_in = 2 if split_sublattices else 1
        layers = []
        for c in channels:
            layers += [nn.Conv2d(c_in, int(c), kernel_size, padding=kernel_size // 2), _act(activation)]
            c_in = int(c)
        self.conv = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(c_in, c_in), _act(activation), nn.Linear(c_in, 1))
        _seeded_init(self, seed)
        if dtype is not None:
            self.to(dtype)

    def forward(self, x):
        x = self._prep(x)
        N = x.shape[-1] // 2
        img = torch.stack([x[:, :N], x[:, N:]], 1) if self.split_sublattices else x[:, None]
        z = self.conv(img).mean(dim=(-2, -1))
        return self.head(z).squeeze(-1)


class SymmetricNet(_Base):
    """Chiral-symmetry-informed DeepSets network over eigenstates.

    Each of the ``N`` positive-energy states ``n`` gives a 2-channel signal over cells,
    ``(psi_n(A_j), psi_n(B_j))_j`` (the negative-energy partners ``Gamma psi_n`` carry no new
    information). A shared 1D CNN ``phi`` maps it to per-cell features, symmetrized as
    ``phi(psi) + phi(-psi)`` (invariant under the eigenvector sign), which are pooled over
    states (sum) and cells (mean) and read out by an MLP ``rho``. Invariant to the order of
    degenerate states and applicable to any chain length.
    """

    size_agnostic = True

    @strict_keywords
    def __init__(self, n_cells: int, channels: Sequence[int] = (32, 32), kernel_size: int = 5,
                 hidden: int = 64, activation: str = "tanh", seed: int = 0,
                 dtype: Optional[torch.dtype] = None):
        super().__init__()
        self.n_cells, self.seed = int(n_cells), int(seed)
        c_in, layers = 2, []
        for c in channels:
            layers += [nn.Conv1d(c_in, int(c), kernel_size, padding=kernel_size // 2), _act(activation)]
            c_in = int(c)
        self.phi = nn.Sequential(*layers)
        self.rho = nn.Sequential(nn.Linear(c_in, hidden), _act(activation), nn.Linear(hidden, 1))
        _seeded_init(self, seed)
        if dtype is not None:
            self.to(dtype)

    def forward(self, x):
        x = self._prep(x)
        B, n2, _ = x.shape
        N = n2 // 2
        up = x[:, :, N:]  # positive-energy states (B, 2N sites, N states)
        sig = torch.stack([up[:, :N], up[:, N:]], 1)  # (B, 2, N cells, N states)
        sig = sig.permute(0, 3, 1, 2).reshape(B * N, 2, N)  # one signal per state
        f = self.phi(sig) + self.phi(-sig)  # (B*N, C, N cells)
        f = f.reshape(B, N, -1, N).sum(1).mean(-1) / N ** 0.5
        return self.rho(f).squeeze(-1)
