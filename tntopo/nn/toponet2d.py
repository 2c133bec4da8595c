"""TopoNet2D: the local Chern marker written in eigenvector amplitudes, with trainable tensors.

With eigenpairs ``H psi_n = E_n psi_n`` of a 2D lattice (basis ``i = (cell r, orbital o)``), the
occupied projector and its complement are ``P = sum_n f(E_n) psi_n psi_n^dagger`` and
``Q = sum_n g(E_n) psi_n psi_n^dagger`` with ``f = theta(E_F - E)``, ``g = 1 - f``. Using ``PQ = 0``
the marker ``c(r) = (4 pi / A) Im sum_o <r,o| P X Q Y P |r,o>`` is unchanged when the position
operators are measured from ``r`` itself, which gives the network

.. math:: C_b = \\frac{4\\pi}{A} \\operatorname{Im} \\sum_{r} R_r \\sum_{o,j,p,k,q}
          P_{b,ro,jp}\\, D^x_{rj}\\, Q_{b,jp,kq}\\, D^y_{rk}\\, P_{b,kq,ro},
          \\qquad P_{b,ij} = \\sum_n \\psi_{b,in} f(E_{bn}) \\psi^*_{b,jn},

a 4th-order polynomial in the amplitudes: ``psi, f, psi*, D^x, psi, g, psi*, D^y, psi, f, psi*``
and the bulk window ``R`` around a batch hyper-index ``b`` (:meth:`TopoNet2D.network` returns it as
a quimb TensorNetwork). Its trainable tensors are

* the occupation weights ``f(E)`` and ``g(E)`` (``"F"``, ``"G"``): piecewise constant over
  ``n_bins`` energy bins of ``[E_F - energy_range, E_F + energy_range]`` (energies outside fall in the
  end bins; ``E_F`` is a bin edge);
* the position kernels ``D^x_{rj}``, ``D^y_{rk}`` (``"KX"``, ``"KY"``): a displacement kernel
  ``k(x_j - x_r, y_j - y_r)`` on the cell grid (``kernel="displacement"``), or learned cell
  coordinates, ``D_{rj} = x_j - x_r`` (``kernel="position"``);
* the bulk window ``R`` (``"R"``, ``window="learned"``) or the fixed bulk window.

``init="exact"`` sets ``f = theta(E_F - E)``, ``g = 1 - f``, ``k^x(d) = d_x``, ``k^y(d) = d_y`` (or
the cell coordinates) and the bulk window: the output is the bulk Chern number of
:func:`tntopo.nn.chern.chern_number` to ~1e-13 in float64.

The forward contracts two networks -- the projector layer ``[psi, (f, g), psi*] -> (P, Q)`` and
the marker layer ``[P, D^x, Q, D^y, P, R] -> C`` -- with ``opt_einsum.contract_expression`` objects
built once per input shape and dtype and kept on the module (``model.expressions``).
"""
from __future__ import annotations

import math
import numbers
from typing import Dict, Optional, Tuple

import numpy as np
import torch
from torch import nn

from .._typing import strict_keywords

from .chern import _check_shape, bulk_window_2d

__all__ = ["TopoNet2D", "KERNELS_2D", "WINDOWS_2D"]

KERNELS_2D = ("displacement", "position")
WINDOWS_2D = ("learned", "fixed")
INITS = ("exact", "random")


def _check(name, value, allowed):
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; choose one of {set(allowed)}")
    return value


def _check_energies(energy_range, fermi_level, cell_area) -> Tuple[float, float, float]:
    """``(energy_range, fermi_level, cell_area)`` as floats: finite, the range and the area ``> 0``."""
    for name, v in (("energy_range", energy_range), ("fermi_level", fermi_level), ("cell_area", cell_area)):
        if not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise ValueError(f"{name} must be a finite real number, got {v!r}")
    if energy_range <= 0 or cell_area <= 0:
        raise ValueError(f"energy_range and cell_area must be > 0, got {energy_range!r} and {cell_area!r}")
    return float(energy_range), float(fermi_level), float(cell_area)


def _cell_positions(shape: Tuple[int, int], positions, kernel: str) -> torch.Tensor:
    """Cell coordinates ``(Lx, Ly, 2)`` (float64) of the exact position kernel: ``positions`` or the cell indices."""
    Lx, Ly = shape
    if positions is None:
        gx, gy = torch.meshgrid(torch.arange(Lx, dtype=torch.float64), torch.arange(Ly, dtype=torch.float64), indexing="ij")
        return torch.stack([gx, gy], -1)
    p = np.asarray(positions, dtype=float)
    if p.shape == (Lx * Ly, 2):
        p = p.reshape(Lx, Ly, 2)
    if p.shape != (Lx, Ly, 2) or not np.all(np.isfinite(p)):
        raise ValueError(f"positions must be finite with shape {(Lx * Ly, 2)} or {(Lx, Ly, 2)}, got {p.shape}")
    if kernel != "position":
        raise ValueError("positions set the exact 'position' kernel; pass kernel='position' with positions")
    return torch.as_tensor(p)


class TopoNet2D(nn.Module):
    """Hybrid tensor-neural network computing the bulk Chern number of 2D lattices.

    Parameters
    ----------
    shape : (int, int)
        ``(Lx, Ly)`` of the samples (inputs have dimension ``n = Lx * Ly * n_orb``).
    n_orb : int
        Orbitals per cell (2 for QWZ and Haldane).
    init : {"exact", "random"}
        ``"exact"``: the weights of the marker (the output equals the bulk Chern number to ~1e-13 in
        float64). ``"random"``: occupation weights ``U[0, 1]``, Gaussian kernels (scale ``L/2``),
        a positive random window, drawn from ``seed``.
    seed : int
        Seed of the random initialization (a private ``torch.Generator``; global RNG untouched).
    kernel : {"displacement", "position"}
        ``"displacement"``: ``D_rj = k(x_j - x_r, y_j - y_r)`` over cell displacements with
        ``|dx|, |dy| <= kernel_range`` (zero beyond), two ``(2K+1, 2K+1)`` tables.
        ``"position"``: learned coordinates ``(x_r, y_r)`` of every cell, ``D_rj = x_j - x_r``.
    window : {"learned", "fixed"}
        ``"learned"``: one weight per cell ``(Lx, Ly)``; ``"fixed"``: the bulk window of ``region``
        (a buffer, not trained).
    kernel_range : int, optional
        Largest displacement of the displacement kernel (default ``max(Lx, Ly) - 1``: exact).
        Smaller ranges truncate the marker's sums at that distance (it is local, so a few
        localization lengths suffice).
    n_bins : int
        Energy bins of the occupation weights (even, so that ``E_F`` is a bin edge).
    energy_range : float
        Half-width of the binned energy window around ``E_F``.
    fermi_level : float
        ``E_F`` of the exact weights and the centre of the bins.
    region : optional
        Bulk region of the exact window (see :func:`tntopo.nn.chern.bulk_window_2d`).
    positions : array_like (Lx * Ly, 2) or (Lx, Ly, 2), optional
        Cell positions of the exact ``"position"`` kernel (default the cell indices).
    cell_area : float
        Area per cell (the output carries the factor ``4 pi / cell_area``).
    dtype : torch.dtype, optional
        Parameter dtype (default ``torch.get_default_dtype()``); the forward runs in the promoted
        dtype of input and parameters.
    optimize : str
        opt_einsum path optimizer of the two cached contractions.

    Notes
    -----
    Input: ``forward(x)`` takes either eigen-decompositions ``(energies (B, n), states (B, n, n))``
    (``states[b, :, k]`` the eigenvector of ``energies[b, k]``, as from ``torch.linalg.eigh``;
    :func:`tntopo.data.make_lattice_arrays` stores them) or Hamiltonians ``(B, n, n)``, which it
    diagonalizes with ``torch.linalg.eigh`` (no gradient is needed through that step to train the
    weights; gradients with respect to ``H`` are unstable at degeneracies -- use
    :func:`tntopo.nn.chern.chern_number` for those). The output is ``(B,)`` real; :meth:`marker`
    gives the ``(B, Lx, Ly)`` map of the same network without the window.

    Examples
    --------
    >>> import torch, tntopo
    >>> from tntopo.nn import TopoNet2D
    >>> H = torch.as_tensor(tntopo.Lattice2D.qwz(1.0, (8, 8), disorder=1.0, seed=0).hamiltonian())[None]
    >>> net = TopoNet2D((8, 8), init="exact", dtype=torch.float64)
    >>> C = net(H)                          # == tntopo.nn.chern.chern_number(H, (8, 8))
    """

    @strict_keywords
    def __init__(
        self,
        shape: Tuple[int, int],
        n_orb: int = 2,
        init: str = "exact",
        seed: int = 0,
        *,
        kernel: str = "displacement",
        window: str = "learned",
        kernel_range: Optional[int] = None,
        n_bins: int = 16,
        energy_range: float = 4.0,
        fermi_level: float = 0.0,
        region=None,
        positions=None,
        cell_area: float = 1.0,
        dtype: Optional[torch.dtype] = None,
        optimize: str = "auto-hq",
    ):
        super().__init__()
        import quimb.tensor as qtn

        self._set_options(shape, n_orb, init, seed, kernel, window, kernel_range, n_bins)
        self.energy_range, self.fermi_level, self.cell_area = _check_energies(energy_range, fermi_level, cell_area)
        self.optimize = optimize
        dtype = dtype or torch.get_default_dtype()
        R0 = torch.as_tensor(bulk_window_2d(self.shape, region))
        pos = _cell_positions(self.shape, positions, kernel)
        # one private generator, drawn in this order: F, G, the two kernels, the window
        gen = torch.Generator().manual_seed(self.seed)
        tensors = self._occupation_tensors(gen) + self._kernel_tensors(gen, pos)
        if self.window == "learned":
            tensors.append(self._window_tensor(gen, R0))
        else:
            self.register_buffer("fixed_window", R0.to(dtype))
        params, self._skeleton = qtn.pack(qtn.TensorNetwork(tensors))
        self._keys = {next(iter(t.tags)): i for i, t in enumerate(self._skeleton.tensors)}
        self.params = nn.ParameterDict({tag: nn.Parameter(params[i].to(dtype).clone()) for tag, i in self._keys.items()})
        self._register_displacements()
        #: cached ``opt_einsum.contract_expression`` objects, by (layer, shapes, dtype)
        self.expressions: Dict[tuple, object] = {}

    def _set_options(self, shape, n_orb, init, seed, kernel, window, kernel_range, n_bins) -> None:
        """Check and store the lattice shape, orbitals, seed and the structural options."""
        self.shape = Lx, Ly = _check_shape(shape)
        if Lx < 2 or Ly < 2:
            raise ValueError(f"shape {shape!r} is too small: the marker needs at least 2x2 cells")
        if not isinstance(n_orb, numbers.Integral) or isinstance(n_orb, bool) or n_orb < 1:
            raise ValueError(f"n_orb must be a positive integer, got {n_orb!r}")
        self.n_orb = int(n_orb)
        self.init = _check("init", init, INITS)
        self.kernel = _check("kernel", kernel, KERNELS_2D)
        self.window = _check("window", window, WINDOWS_2D)
        if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self.seed = int(seed)
        K = max(Lx, Ly) - 1 if kernel_range is None else kernel_range
        if not isinstance(K, numbers.Integral) or isinstance(K, bool) or K < 1:
            raise ValueError(f"kernel_range must be an integer >= 1, got {kernel_range!r}")
        self.kernel_range = int(K)
        if not isinstance(n_bins, numbers.Integral) or isinstance(n_bins, bool) or n_bins < 2 or n_bins % 2:
            raise ValueError(f"n_bins must be an even integer >= 2 (so that the Fermi level is a bin edge), got {n_bins!r}")
        self.n_bins = int(n_bins)

    def _occupation_tensors(self, gen: torch.Generator) -> list:
        """``F``, ``G`` over the energy bins: ``theta(E_F - E)`` and its complement, or ``U[0, 1]``."""
        import quimb.tensor as qtn

        below = torch.arange(self.n_bins) < self.n_bins // 2
        exact = self.init == "exact"
        F = below.double() if exact else torch.rand(self.n_bins, generator=gen, dtype=torch.float64)
        G = (~below).double() if exact else torch.rand(self.n_bins, generator=gen, dtype=torch.float64)
        return [qtn.Tensor(F, inds=("energy_bin",), tags={"F"}), qtn.Tensor(G, inds=("energy_bin",), tags={"G"})]

    def _kernel_tensors(self, gen: torch.Generator, pos: torch.Tensor) -> list:
        """``KX``, ``KY``: displacement tables ``(2K+1, 2K+1)`` or cell coordinates ``(Lx, Ly)``
        (exact: the displacements / ``pos``; random: Gaussian of scale ``max(Lx, Ly) / 2``)."""
        import quimb.tensor as qtn

        Lx, Ly = self.shape
        exact, scale = self.init == "exact", max(Lx, Ly) / 2
        if self.kernel == "displacement":
            K = self.kernel_range
            d = torch.arange(-K, K + 1, dtype=torch.float64)
            dx, dy = torch.meshgrid(d, d, indexing="ij")
            kx = dx if exact else scale * torch.randn(2 * K + 1, 2 * K + 1, generator=gen, dtype=torch.float64)
            ky = dy if exact else scale * torch.randn(2 * K + 1, 2 * K + 1, generator=gen, dtype=torch.float64)
            inds = ("dx", "dy")
        else:
            kx = pos[..., 0] if exact else scale * torch.randn(Lx, Ly, generator=gen, dtype=torch.float64)
            ky = pos[..., 1] if exact else scale * torch.randn(Lx, Ly, generator=gen, dtype=torch.float64)
            inds = ("x", "y")
        # (meshgrid and slicing give views)
        return [qtn.Tensor(kx.clone(), inds=inds, tags={"KX"}), qtn.Tensor(ky.clone(), inds=inds, tags={"KY"})]

    def _window_tensor(self, gen: torch.Generator, R0: torch.Tensor):
        """``R`` of a learned window: the bulk window ``R0`` (exact) or positive ``U[0, 2 / (Lx Ly)]``."""
        import quimb.tensor as qtn

        Lx, Ly = self.shape
        R = R0 if self.init == "exact" else torch.rand(Lx, Ly, generator=gen, dtype=torch.float64) * (2.0 / (Lx * Ly))
        return qtn.Tensor(R.clone(), inds=("x", "y"), tags={"R"})

    def _register_displacements(self) -> None:
        """Buffers of the displacement index of every (r, j) pair of cells: ``(x_j - x_r + K, y_j - y_r + K)``,
        and whether it is within ``K`` (not saved: functions of the shape and ``kernel_range``)."""
        Lx, Ly = self.shape
        K = self.kernel_range
        cx, cy = (t.reshape(-1) for t in torch.meshgrid(torch.arange(Lx), torch.arange(Ly), indexing="ij"))
        ddx, ddy = cx[None, :] - cx[:, None], cy[None, :] - cy[:, None]
        self.register_buffer("_inside", ((ddx.abs() <= K) & (ddy.abs() <= K)), persistent=False)
        self.register_buffer("_dx", ddx.clamp(-K, K) + K, persistent=False)
        self.register_buffer("_dy", ddy.clamp(-K, K) + K, persistent=False)

    # ------------------------------------------------------------------ weights
    def weight_network(self):
        """The raw trainable tensors as a quimb TensorNetwork (tags ``F``, ``G``, ``KX``, ``KY``, ``R``)."""
        import quimb.tensor as qtn

        return qtn.unpack({i: self.params[tag] for tag, i in self._keys.items()}, self._skeleton)

    def weights(self, dtype=None, device=None):
        """The tensors of the marker network: ``(F (n_bins,), G (n_bins,), Dx (Nc, Nc), Dy (Nc, Nc), R (Nc,))``.

        ``Nc = Lx * Ly`` cells in the order ``x * Ly + y``; ``D[r, j]`` is the kernel from cell
        ``r`` to cell ``j``.
        """
        p0 = next(iter(self.params.values()))
        dtype = dtype or p0.dtype
        dev = device or p0.device
        raw = {tag: self.params[tag].to(dtype=dtype, device=dev) for tag in self._keys}
        if self.kernel == "displacement":
            zero = torch.zeros((), dtype=dtype, device=dev)
            Dx = torch.where(self._inside, raw["KX"][self._dx, self._dy], zero)
            Dy = torch.where(self._inside, raw["KY"][self._dx, self._dy], zero)
        else:
            x, y = raw["KX"].reshape(-1), raw["KY"].reshape(-1)
            Dx, Dy = x[None, :] - x[:, None], y[None, :] - y[:, None]
        R = raw["R"] if self.window == "learned" else self.fixed_window.to(dtype=dtype, device=dev)
        return raw["F"], raw["G"], Dx, Dy, R.reshape(-1)

    # ------------------------------------------------------------------ inputs
    def _eigen(self, x):
        """``(energies (B, n), states (B, n, n))`` from either input form, checked."""
        n_exp = self.shape[0] * self.shape[1] * self.n_orb
        if isinstance(x, (tuple, list)):
            if len(x) != 2:
                raise ValueError("pass eigen-decompositions as a pair (energies (B, n), states (B, n, n))")
            E, U = (torch.as_tensor(v) for v in x)
        else:
            x = torch.as_tensor(x)
            if x.ndim != 3 or x.shape[-1] != x.shape[-2]:
                raise ValueError(
                    f"TopoNet2D takes Hamiltonians (B, n, n) or a pair (energies (B, n), states (B, n, n)), "
                    f"got a tensor of shape {tuple(x.shape)}"
                )
            if not (x.is_floating_point() or x.is_complex()):
                x = x.to(torch.get_default_dtype())
            E, U = torch.linalg.eigh(x)
        if E.ndim != 2 or U.ndim != 3 or U.shape[0] != E.shape[0] or U.shape[1:] != (E.shape[1], E.shape[1]):
            raise ValueError(f"energies (B, n) and states (B, n, n) do not match: {tuple(E.shape)} and {tuple(U.shape)}")
        if E.shape[1] != n_exp:
            raise ValueError(
                f"this TopoNet2D is built for {self.shape} cells x {self.n_orb} orbitals (n = {n_exp}), got "
                f"n = {E.shape[1]}; build the model with the samples' shape and n_orb"
            )
        if E.is_complex():
            raise ValueError("energies must be real")
        return E, U

    def _prepared(self, x):
        E, U = self._eigen(x)
        pdt = next(iter(self.params.values())).dtype
        real = torch.promote_types(E.dtype, torch.promote_types(U.real.dtype if U.is_complex() else U.dtype, pdt))
        cplx = torch.complex128 if real == torch.float64 else torch.complex64
        U = U.to(cplx if U.is_complex() else real)
        F, G, Dx, Dy, R = self.weights(dtype=real, device=U.device)
        width = self.energy_range / (self.n_bins // 2)
        b = torch.floor((E.to(real) - self.fermi_level) / width) + self.n_bins // 2
        b = b.clamp(0, self.n_bins - 1).long()
        return U, F[b], G[b], Dx, Dy, R

    # ------------------------------------------------------------------ network
    def network(self, x):
        """The full marker network of a batch as one quimb TensorNetwork (inspection, drawing).

        Tensors ``psi[b, r, o, n]``, ``f[b, n]``, ``psi*[b, j, p, n]``, ``Dx[r, j]``,
        ``psi[b, j, p, m]``, ``g[b, m]``, ``psi*[b, k, q, m]``, ``Dy[r, k]``, ``psi[b, k, q, l]``,
        ``f[b, l]``, ``psi*[b, r, o, l]`` and ``R[r]``; ``4 pi / A * Im`` of its contraction to
        index ``b`` is ``forward(x)``.
        """
        import quimb.tensor as qtn

        U, f, g, Dx, Dy, R = self._prepared(x)
        B, n, _ = U.shape
        Nc, no = n // self.n_orb, self.n_orb
        psi = U.reshape(B, Nc, no, n)
        cd = psi.dtype if psi.is_complex() else (torch.complex128 if psi.dtype == torch.float64 else torch.complex64)
        psi = psi.to(cd)
        w = lambda t: t.to(cd)  # noqa: E731
        ts = [
            qtn.Tensor(psi, inds=("b", "r", "o", "n"), tags={"psi"}),
            qtn.Tensor(w(f), inds=("b", "n"), tags={"F"}),
            qtn.Tensor(psi.conj(), inds=("b", "j", "p", "n"), tags={"psi*"}),
            qtn.Tensor(w(Dx), inds=("r", "j"), tags={"KX"}),
            qtn.Tensor(psi, inds=("b", "j", "p", "m"), tags={"psi"}),
            qtn.Tensor(w(g), inds=("b", "m"), tags={"G"}),
            qtn.Tensor(psi.conj(), inds=("b", "k", "q", "m"), tags={"psi*"}),
            qtn.Tensor(w(Dy), inds=("r", "k"), tags={"KY"}),
            qtn.Tensor(psi, inds=("b", "k", "q", "l"), tags={"psi"}),
            qtn.Tensor(w(f), inds=("b", "l"), tags={"F"}),
            qtn.Tensor(psi.conj(), inds=("b", "r", "o", "l"), tags={"psi*"}),
            qtn.Tensor(w(R), inds=("r",), tags={"R"}),
        ]
        return qtn.TensorNetwork(ts, virtual=True)

    def _contract(self, layer: str, tn, output_inds):
        """Contract ``tn`` with this module's cached expression for its equation and shapes."""
        import opt_einsum as oe

        eq = tn.get_equation(output_inds=tuple(output_inds))
        arrays = [t.data for t in tn]
        key = (layer, eq, tuple(tuple(a.shape) for a in arrays))
        expr = self.expressions.get(key)
        if expr is None:
            expr = self.expressions[key] = oe.contract_expression(eq, *(a.shape for a in arrays), optimize=self.optimize)
        return expr(*arrays)

    def _projectors(self, U, f, g):
        """Projector layer: ``P[b] = U diag(f) U^dagger`` and ``Q[b] = U diag(g) U^dagger``, stacked ``(B, 2, n, n)``."""
        import quimb.tensor as qtn

        wts = torch.stack([f, g], 1).to(U.dtype)
        tn = qtn.TensorNetwork([
            qtn.Tensor(U, inds=("b", "i", "n")),
            qtn.Tensor(wts, inds=("b", "t", "n")),
            qtn.Tensor(U.conj() if U.is_complex() else U, inds=("b", "j", "n")),
        ], virtual=True)
        return self._contract("projectors", tn, ("b", "t", "i", "j"))

    def _markers(self, x, with_window: bool):
        import quimb.tensor as qtn

        U, f, g, Dx, Dy, R = self._prepared(x)
        PQ = self._projectors(U, f, g)
        B, n = U.shape[0], U.shape[1]
        Nc, no = n // self.n_orb, self.n_orb
        P = PQ[:, 0].reshape(B, Nc, no, Nc, no)
        Q = PQ[:, 1].reshape(B, Nc, no, Nc, no)
        dt = P.dtype
        ts = [
            qtn.Tensor(P, inds=("b", "r", "o", "j", "p")),
            qtn.Tensor(Dx.to(dt), inds=("r", "j")),
            qtn.Tensor(Q, inds=("b", "j", "p", "k", "q")),
            qtn.Tensor(Dy.to(dt), inds=("r", "k")),
            qtn.Tensor(P, inds=("b", "k", "q", "r", "o")),
        ]
        if with_window:
            ts.append(qtn.Tensor(R.to(dt), inds=("r",)))
        out = self._contract("marker" if not with_window else "chern", qtn.TensorNetwork(ts, virtual=True),
                             ("b",) if with_window else ("b", "r"))
        val = out.imag if out.is_complex() else torch.zeros_like(out)
        return (4.0 * math.pi / self.cell_area) * val

    def forward(self, x) -> torch.Tensor:
        """Bulk Chern numbers ``(B,)`` of Hamiltonians ``(B, n, n)`` or eigenpairs ``(energies, states)``."""
        return self._markers(x, True)

    def marker(self, x) -> torch.Tensor:
        """The local marker maps ``(B, Lx, Ly)`` of the network (no window)."""
        c = self._markers(x, False)
        return c.reshape(c.shape[0], *self.shape)

    # ------------------------------------------------------------------ misc
    def __getstate__(self):
        state = self.__dict__.copy()
        state["expressions"] = {}  # rebuilt on first use
        return state

    def extra_repr(self) -> str:
        n = sum(p.numel() for p in self.parameters())
        return (
            f"shape={self.shape}, n_orb={self.n_orb}, init={self.init!r}, kernel={self.kernel!r}"
            + (f", kernel_range={self.kernel_range}" if self.kernel == "displacement" else "")
            + f", window={self.window!r}, n_bins={self.n_bins}, energy_range={self.energy_range:g}, "
            f"fermi_level={self.fermi_level:g}, parameters={n}"
        )
