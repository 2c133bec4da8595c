"""TopoNet: the real-space winding network with learnable weights (a hybrid tensor-neural network).

For eigenvector amplitudes ``psi[b, site, n]`` (see :func:`tntopo.data.wavefunctions`) the
real-space winding number is the tensor network

.. math:: W_b = \\sum_{a \\in A,\\, c \\in B} R_a X_{ac} \\, Q_{b,ac} Q^*_{b,ac},
          \\qquad Q_{b,ac} = \\sum_n s_n \\psi_{b,a n} \\psi^*_{b,c n},

with state-sign weights ``s`` (``sign(E_n)``), a position kernel ``X`` and a bulk window ``R``.
:class:`TopoNet` keeps ``s``, ``X`` and ``R`` (or lower-dimensional parametrizations of them) as
torch parameters of a quimb tensor network (``qtn.pack``/``qtn.unpack``) and contracts
``psi, s, psi*`` then ``Q, Q*, X, R``. The two contractions are compiled once per input shape
and dtype (``opt_einsum.contract_expression``, kept on the module) and reused by every later
forward pass with that shape: no tensor network is rebuilt and no path is searched per call
(``benchmarks/bench_toponet_forward.py`` measures the gain over building the quimb networks on
every pass). :meth:`TopoNet.network` still gives the whole network as a quimb ``TensorNetwork``
for inspection. With ``init="exact"`` the weights are those of the invariant and the output
equals ``tntopo.winding_number`` of the chain.

:class:`OddTopoNet` and :class:`CommutatorTopoNet` are TopoNets whose weights are projected onto
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

from typing import Optional

import numpy as np
import torch
from torch import nn

from .._typing import Init, Kernel, StateWeights, Window, strict_keywords
from ..invariants.winding.dense import bulk_window, position_kernel

__all__ = ["TopoNet", "OddTopoNet", "CommutatorTopoNet", "KERNELS", "STATE_WEIGHTS", "WINDOWS"]

KERNELS = ("full", "translation_invariant")
STATE_WEIGHTS = ("per_state", "rank")
WINDOWS = ("learned", "profile", "fixed")
INITS = ("exact", "random")
#: Contraction path of the state layer ``[s, psi_A, psi_B^*] -> Q``: absorb ``s`` into ``psi_A``,
#: then one batched matrix product (opt_einsum's own choice, ``s`` into ``psi_B``, leaves the
#: backward with transposed, strided gradients -- about 20% slower).
STATE_LAYER_PATH = ((0, 1), (0, 1))


class _Square(torch.autograd.Function):
    """``q**2`` with a one-pass backward ``2 q g`` (torch's pow backward makes three passes).

    Written in the ``setup_context`` form with a generated vmap rule, so that ``torch.func``
    transforms (per-sample Jacobians, Hessians) work through it.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(q):
        return q.square()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (q,) = ctx.saved_tensors
        return 2 * g * q  # out of place: under functorch transforms g may be a batched view


def require_tensor(x, name: str) -> torch.Tensor:
    """Return ``x`` if it is a ``torch.Tensor``, else raise a ``TypeError`` that says how to convert it.

    Models take tensors (as every ``torch.nn.Module`` does): a NumPy array is not converted
    silently, since its dtype and device are the caller's choice.
    """
    if not isinstance(x, torch.Tensor):
        kind = type(x).__module__.split(".")[0] + "." + type(x).__qualname__ if type(x).__module__ != "builtins" \
            else type(x).__qualname__
        raise TypeError(f"{name} takes a torch.Tensor of features (B, 2N, 2N), got {kind}; convert it with "
                        "torch.as_tensor(x)")
    return x


def _check(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; choose one of {set(allowed)}")
    return value


def _bins(n: int, n_bins: int, device=None) -> torch.Tensor:
    """Bin of each index ``i < n`` (energy rank or cell) by its normalized value ``(i + 1/2) / n``."""
    u = (torch.arange(n, dtype=torch.float64, device=device) + 0.5) / n
    return torch.clamp((u * n_bins).floor().long(), max=n_bins - 1)


def _displacements(N: int, boundary: str, device=None) -> torch.Tensor:
    """Integer displacement ``a - c`` (minimum image on a ring), ``(N, N)``."""
    return torch.as_tensor(np.rint(position_kernel(N, boundary)).astype(np.int64), device=device)


class TopoNet(nn.Module):
    """Hybrid tensor-neural network computing the real-space winding number from wavefunctions.

    Parameters
    ----------
    n_cells : int
        Chain length ``N`` the weights are built for (inputs are ``(B, 2N, 2N)``). Constrained
        variants (``kernel="translation_invariant"``, ``state_weights="rank"``, ``window`` in
        ``{"profile", "fixed"}``) accept any chain length.
    init : {"exact", "random"}
        ``"exact"``: the weights of the invariant (``s = sign(E)``: ``-1`` for the lower ``N``
        states, ``+1`` for the upper ``N``; ``X_ac = a - c``; ``R`` the bulk window) -- the output
        equals the real-space winding number to ~1e-12 in float64. ``"random"``: Gaussian state
        weights and kernel, uniform window, seeded by ``seed``.
    seed : int
        Seed of the random initialization (a private ``torch.Generator``; global RNG untouched).
    kernel : {"full", "translation_invariant"}
        ``"full"``: an ``(N, N)`` kernel ``X``. ``"translation_invariant"``: ``X_ac = f(a - c)``
        with ``f`` over displacements ``|d| <= kernel_range`` (zero beyond).
    state_weights : {"per_state", "rank"}
        ``"per_state"``: one weight per eigenstate (``2N``). ``"rank"``: ``s_n = g(rank)``, piecewise
        constant over ``n_bins`` bins of the normalized energy rank ``(n + 1/2) / 2N``.
    window : {"learned", "profile", "fixed"}
        ``"learned"``: ``R_a`` per cell. ``"profile"``: ``R_a = p(bin of (a + 1/2)/N) / N`` over
        ``n_bins`` bins of normalized position. ``"fixed"``: the exact bulk window (not trained).
    kernel_range : int, optional
        Largest displacement of the translation-invariant kernel (default ``n_cells - 1``).
    n_bins : int
        Bins of the rank and profile parametrizations (even; multiples of 4 keep ``"exact"``
        exact for ``N`` divisible by 4).
    boundary : {"open", "periodic"}
        Geometry of the exact kernel and window (minimum-image displacements on a ring).
    dtype : torch.dtype, optional
        Parameter dtype (default: ``torch.get_default_dtype()``); the forward runs in the
        promoted dtype of the input and the parameters.
    optimize : str
        opt_einsum path optimizer of the cached ``|Q|^2, X, R`` contraction (the state layer uses
        the fixed :data:`STATE_LAYER_PATH`).

    Examples
    --------
    >>> import tntopo, torch
    >>> from tntopo.data import wavefunctions
    >>> h = tntopo.sample_chains(4, 20, ranges=(0, 1), seed=0).hopping_blocks()
    >>> net = TopoNet(20, init="exact", dtype=torch.float64)
    >>> W = net(torch.as_tensor(wavefunctions(h)))     # == tntopo.winding_number(h, method="dense")
    """

    @strict_keywords
    def __init__(
        self,
        n_cells: int,
        init: Init = "exact",
        seed: int = 0,
        *,
        kernel: Kernel = "full",
        state_weights: StateWeights = "per_state",
        window: Window = "learned",
        kernel_range: Optional[int] = None,
        n_bins: int = 16,
        boundary: str = "open",
        dtype: Optional[torch.dtype] = None,
        optimize: str = "auto-hq",
    ):
        super().__init__()
        import quimb.tensor as qtn

        if not isinstance(n_cells, int) or n_cells < 4:
            raise ValueError(f"n_cells must be an integer >= 4, got {n_cells!r}")
        self.n_cells = N = n_cells
        self.init = _check("init", init, INITS)
        self.kernel = _check("kernel", kernel, KERNELS)
        self.state_weights = _check("state_weights", state_weights, STATE_WEIGHTS)
        self.window = _check("window", window, WINDOWS)
        self.boundary = _check("boundary", boundary, ("open", "periodic"))
        if n_bins < 2 or n_bins % 2:
            raise ValueError(f"n_bins must be an even integer >= 2, got {n_bins!r}")
        self.n_bins = int(n_bins)
        self.kernel_range = N - 1 if kernel_range is None else int(kernel_range)
        if self.kernel_range < 1:
            raise ValueError(f"kernel_range must be >= 1, got {kernel_range!r}")
        self.seed = int(seed)
        self.optimize = optimize
        dtype = dtype or torch.get_default_dtype()
        gen = torch.Generator().manual_seed(self.seed)
        exact = init == "exact"

        # raw weights, as a quimb tensor network (packed into torch parameters below)
        tensors = []
        if state_weights == "per_state":
            s = torch.cat([-torch.ones(N), torch.ones(N)]).double() if exact else torch.randn(2 * N, generator=gen, dtype=torch.float64)
            tensors.append(qtn.Tensor(s, inds=("n",), tags={"S"}))
        else:
            g = torch.where(torch.arange(self.n_bins) < self.n_bins // 2, -1.0, 1.0).double() if exact \
                else torch.randn(self.n_bins, generator=gen, dtype=torch.float64)
            tensors.append(qtn.Tensor(g, inds=("rank_bin",), tags={"S"}))
        if kernel == "full":
            X = torch.as_tensor(position_kernel(N, boundary)) if exact else torch.randn(N, N, generator=gen, dtype=torch.float64)
            tensors.append(qtn.Tensor(X, inds=("a", "c"), tags={"X"}))
        else:
            K = self.kernel_range
            f = torch.arange(-K, K + 1, dtype=torch.float64) if exact else torch.randn(2 * K + 1, generator=gen, dtype=torch.float64)
            tensors.append(qtn.Tensor(f, inds=("d",), tags={"X"}))
        if window == "learned":
            R = torch.as_tensor(bulk_window(N, boundary)) if exact else torch.rand(N, generator=gen, dtype=torch.float64) * (2.0 / N)
            tensors.append(qtn.Tensor(R, inds=("a",), tags={"R"}))
        elif window == "profile":
            if exact:
                u = (torch.arange(self.n_bins, dtype=torch.float64) + 0.5) / self.n_bins
                p = torch.where((u > 0.25) & (u < 0.75), 2.0, 0.0) if boundary == "open" else torch.ones(self.n_bins, dtype=torch.float64)
            else:
                p = torch.rand(self.n_bins, generator=gen, dtype=torch.float64) * 2.0
            tensors.append(qtn.Tensor(p, inds=("position_bin",), tags={"R"}))
        params, self._skeleton = qtn.pack(qtn.TensorNetwork(tensors))
        # parameters named by the tag of their tensor: "S" (state weights), "X" (kernel), "R" (window)
        self._keys = {next(iter(t.tags)): i for i, t in enumerate(self._skeleton.tensors)}
        self.params = nn.ParameterDict({tag: nn.Parameter(params[i].to(dtype)) for tag, i in self._keys.items()})

    # ------------------------------------------------------------------ weights
    def weight_network(self):
        """The raw weights as a quimb TensorNetwork (tags ``"S"``, ``"X"``, ``"R"``), torch data."""
        import quimb.tensor as qtn

        return qtn.unpack({i: self.params[tag] for tag, i in self._keys.items()}, self._skeleton)

    def weights(self, n_cells: Optional[int] = None, dtype=None, device=None):
        """The tensors of the winding network for chains of ``n_cells``: ``(s (2N,), X (N, N), R (N,))``."""
        N = self.n_cells if n_cells is None else int(n_cells)
        dtype = dtype or next(iter(self.params.values())).dtype
        dev = device or next(iter(self.params.values())).device

        def get(tag):  # the data of the tensor tagged `tag` of weight_network() (no network built per call)
            return self.params[tag].to(dtype)

        if N != self.n_cells and (self.state_weights == "per_state" or self.kernel == "full" or self.window == "learned"):
            raise ValueError(
                f"this TopoNet was built for n_cells={self.n_cells} with per-cell weights; got chains of "
                f"{N} cells. Use kernel='translation_invariant', state_weights='rank' and window in "
                "{'profile', 'fixed'} for a model that applies to any chain length"
            )
        s = get("S") if self.state_weights == "per_state" else get("S")[_bins(2 * N, self.n_bins, dev)]
        if self.kernel == "full":
            X = get("X")
        else:
            K = self.kernel_range
            d = _displacements(N, self.boundary, dev)
            f = get("X")
            X = torch.where(d.abs() <= K, f[(d.clamp(-K, K) + K)], torch.zeros((), dtype=dtype, device=dev))
        if self.window == "learned":
            R = get("R")
        elif self.window == "profile":
            R = get("R")[_bins(N, self.n_bins, dev)] / N
        else:
            R = torch.as_tensor(bulk_window(N, self.boundary), dtype=dtype, device=dev)
        return s, X, R

    # ------------------------------------------------------------------ network
    def _split(self, x: torch.Tensor):
        require_tensor(x, type(self).__name__)
        if x.ndim != 3 or x.shape[-1] != x.shape[-2] or x.shape[-1] % 2:
            raise ValueError(
                f"TopoNet takes wavefunctions of shape (B, 2N, 2N), got {tuple(x.shape)}; compute them "
                "with tntopo.data.wavefunctions(h)"
            )
        N = x.shape[-1] // 2
        return N, x[:, :N, :], x[:, N:, :]

    def _inputs(self, x: torch.Tensor):
        """``N``, the A and B rows of ``x`` and the weights, in the promoted dtype of input and parameters."""
        N, pA, pB = self._split(x)
        pdt = next(iter(self.params.values())).dtype
        real = torch.promote_types(x.real.dtype if x.is_complex() else x.dtype, pdt)
        x_dt = (torch.complex128 if real == torch.float64 else torch.complex64) if x.is_complex() else real
        s, X, R = self.weights(N, dtype=real, device=x.device)
        return N, pA.to(x_dt), pB.to(x_dt), s.to(x_dt), X, R

    def network(self, x: torch.Tensor):
        """The full winding network of a batch as one quimb TensorNetwork (for inspection/drawing).

        Tensors ``psi_A[b, a, n]``, ``s[n]``, ``psi_B^*[b, c, n]``, their conjugate copies over
        state index ``m``, ``X[a, c]`` and ``R[a]``; contracting it to index ``b`` gives ``forward(x)``.
        """
        import quimb.tensor as qtn

        N, pA, pB, s, X, R = self._inputs(x)
        X, R = X.to(s.dtype), R.to(s.dtype)
        ts = [
            qtn.Tensor(pA, inds=("b", "a", "n"), tags={"psiA"}),
            qtn.Tensor(s, inds=("n",), tags={"S"}),
            qtn.Tensor(pB.conj(), inds=("b", "c", "n"), tags={"psiB*"}),
            qtn.Tensor(pA.conj(), inds=("b", "a", "m"), tags={"psiA*"}),
            qtn.Tensor(s, inds=("m",), tags={"S*"}),
            qtn.Tensor(pB, inds=("b", "c", "m"), tags={"psiB"}),
            qtn.Tensor(X, inds=("a", "c"), tags={"X"}),
            qtn.Tensor(R, inds=("a",), tags={"R"}),
        ]
        return qtn.TensorNetwork(ts, virtual=True)

    def _expressions(self, pA: torch.Tensor, X: torch.Tensor):
        """The two compiled contractions for inputs of this shape and dtype (built on first use)."""
        import opt_einsum as oe

        key = (tuple(pA.shape), pA.dtype, X.dtype, str(pA.device))
        cache = self.__dict__.setdefault("_expr_cache", {})
        expr = cache.get(key)
        if expr is None:
            B, N, n2 = pA.shape
            # stage 1: the state layer Q[b, a, c] = sum_n s_n psi_A[b, a, n] psi_B[b, c, n]^*
            layer = oe.contract_expression("n,ban,bcn->bac", (n2,), (B, N, n2), (B, N, n2),
                                           optimize=list(STATE_LAYER_PATH))
            # stage 2: sum_ac R_a X_ac |Q_ac|^2 -- the core's winding network (tntopo.tn.rswn_network)
            # with its two copies of Q merged into |Q|^2 (one tensor, so autograd keeps one branch)
            rest = oe.contract_expression("bac,ac,a->b", (B, N, N), (N, N), (N,), optimize=self.optimize)
            expr = cache[key] = (layer, rest)
        return expr

    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__.copy()
        state = dict(state)
        state.pop("_expr_cache", None)  # compiled contractions are rebuilt on first use
        return state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted winding numbers ``(B,)`` of wavefunctions ``x`` of shape ``(B, 2N, 2N)``."""
        N, pA, pB, s, X, R = self._inputs(x)
        layer, rest = self._expressions(pA, X)
        Q = layer(s, pA, pB.conj())
        P = Q.real.square() + Q.imag.square() if Q.is_complex() else _Square.apply(Q)
        return rest(P, X, R)

    def extra_repr(self) -> str:
        n = sum(p.numel() for p in self.parameters())
        return (
            f"n_cells={self.n_cells}, init={self.init!r}, kernel={self.kernel!r}, "
            f"state_weights={self.state_weights!r}, window={self.window!r}"
            + (f", kernel_range={self.kernel_range}" if self.kernel == "translation_invariant" else "")
            + (f", n_bins={self.n_bins}" if "rank" == self.state_weights or self.window == "profile" else "")
            + f", boundary={self.boundary!r}, parameters={n}"
        )


class OddTopoNet(TopoNet):
    """:class:`TopoNet` whose state weights are chiral-odd and whose kernel is reflection-odd.

    Same parameters as :class:`TopoNet`; see the module docstring.
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
