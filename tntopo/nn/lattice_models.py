"""The models of the Chern study: networks that read a 2D lattice's Hamiltonian as its layout.

Every model here takes a batch of *lattice layouts* ``x`` ``(B, C, Lx, Ly)`` (real; see
:mod:`tntopo.systems.layout2d` and :func:`tntopo.systems.lattice_layout`: the hopping blocks
``H[(r, o1), (r + d, o2)]`` of every cell ``r`` and stencil displacement ``d``, real and imaginary
parts as channels, ``C = 2 (2 R + 1)^2 n_orb^2``) and returns ``(B,)`` real Chern values; built
through :func:`tntopo.nn.build_model` with ``classes=...`` it returns logits over Chern classes.
The layout is ``H`` itself (a function of the Hamiltonian alone, exact and invertible), so every
row of the study sees the same, well-posed input.

**TopoNet2D on the layout** (:class:`LayoutTopoNet2D` and its constrained subclasses) rebuilds the
dense ``H`` with :func:`layout_to_hamiltonian` (an exact scatter), diagonalizes it and contracts the
local-Chern-marker network of :class:`tntopo.nn.TopoNet2D` (occupation weights ``f, g`` over energy
bins, position kernels ``D^x, D^y``, bulk window ``R``)::

    C = (4 pi) Im sum_r R_r sum_{j,k} P_{rj} D^x_{rj} Q_{jk} D^y_{rk} P_{kr}     (orbitals summed),

with ``D^x_{rj} = k^x(j - r)`` from a displacement table (contracted directly, without forming ``Q``, and
only for the rows of the window's cells when the window is fixed). The
eigenpairs of each input are kept in a per-process, byte-bounded cache (:func:`spectrum_cache`): later
epochs, seeds, rows and evaluations do not diagonalize the same sample again. A model whose window is fixed takes any
``L``: the geometry (displacement indices, bulk window) is rebuilt for the input's shape, with the
same parameters (displacements beyond the table's range count zero). Positions are the cell
indices (cell area 1): custom embeddings of :class:`tntopo.Lattice2D` are not in the layout.

* :class:`LayoutTopoNet2D` -- displacement tables of range ``kernel_range`` (default the nominal
  ``max(Lx, Ly) - 1``), a learned (fixed size) or fixed (any size) bulk window;
* :class:`OddLayoutTopoNet2D` -- the same with the symmetries of the exact marker imposed (below);
* :class:`CommutatorLayoutTopoNet2D` -- kernels ``lam_x (x_j - x_r)``, ``lam_y (y_j - y_r)``: full
  range for whatever ``L`` comes in; with ``init="exact"`` it is the bulk-averaged local Chern
  marker of :func:`tntopo.chern_number` (``method="marker"``) for every input size.

**The symmetries of the marker** (the constraints of :class:`OddLayoutTopoNet2D`). A mirror of the
sample that relabels cells ``x -> Lx - 1 - x`` (orbitals untouched) reverses the orientation: the
exact marker map goes to ``c(M r) = -c(r)``. In the network the relabelling turns each kernel's
argument ``d = (dx, dy)`` into ``(-dx, dy)`` and the window ``R_r`` into ``R_{M r}``, so the output
flips sign for *every* input when ``k^x(-dx, dy) = -k^x(dx, dy)``, ``k^y(-dx, dy) = k^y(dx, dy)``
and ``R`` is mirror symmetric; the mirror ``y -> Ly - 1 - y`` asks the reverse parities. The
diagonal mirror ``(x, y) -> (y, x)`` maps ``d -> (dy, dx)``; since ``conj(P_{rj} Q_{jk} P_{kr}) =
P_{rk} Q_{kj} P_{jr}``, exchanging the two kernels flips the sign of the output, so the network is
odd under it when ``k^y(dx, dy) = k^x(dy, dx)`` and ``R`` is symmetric. Together:

    k^x odd in dx and even in dy,   k^y(dx, dy) = k^x(dy, dx),   R invariant under the three mirrors.

The exact weights (``k^x = dx``, ``k^y = dy``, the bulk window) satisfy all of them. The raw tables
are projected orthogonally onto this family (average of ``k^x`` and the transpose of ``k^y``, then
the parity projection), and a learned window is averaged over the mirror images; the projection
leaves the exact weights unchanged. Time reversal (``H -> H^*``) needs no constraint: the weights
are real, ``P, Q -> P^*, Q^*`` conjugates the contraction and flips ``Im``, so every TopoNet2D
here is odd under it. The same ``PQ = 0`` that makes the marker origin-independent makes a
constant in ``k^x`` (or ``k^y``) a dead direction; the parity constraint removes it (``k^x(0, dy) = 0``).

**Generic networks a physicist would try** (each a few thousand parameters unless said otherwise,
initialized from ``seed`` through a private ``torch.Generator``):

* :class:`LatticeCNN` -- a CNN over the real-space lattice on the layout channels, as in Carvalho
  et al., PRB 97, 115453 (2018) (local Hamiltonians in, Chern information out): a ``1 x 1``
  convolution reads each cell's hopping blocks, ``3 x 3`` convolutions with zero padding (open
  samples) follow, global average pooling makes it take any ``L``;
* :class:`LatticeMLP` -- a fully connected network on the flattened layout (fixed ``L``);
* :class:`KSpaceCNN` -- the k-space route of Sun et al., PRB 98, 085402 (2018): a fixed,
  non-trainable map reads the translation-invariant hopping blocks ``B_d`` from the layout
  (averaged over the bulk cells, those whose whole stencil lies inside the sample), forms
  ``h(k) = sum_d B_d e^{i k.d}`` on an ``n_k x n_k`` grid (real and imaginary parts of the
  ``n_orb x n_orb`` blocks as channels), and a CNN with circular padding reads it; takes any ``L``.
  For a clean sample ``h(k)`` is exactly its Bloch Hamiltonian (:meth:`tntopo.Lattice2D.bloch`);
  for a disordered one it is the Bloch Hamiltonian of the disorder-averaged hoppings of that
  sample's bulk (the on-site disorder enters through its sample mean only).

Every model answers :meth:`accepts_size` ``(shape) -> None | reason`` (what
:func:`tntopo.nn.accepts_size` asks a 2D model), and raises that reason as a ``ValueError`` when
given a layout of another size.
"""
from __future__ import annotations

import hashlib
import math
import numbers
import os
import threading
from collections import OrderedDict
from functools import lru_cache
from typing import NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .._typing import strict_keywords
from ..systems.layout2d import layout_channels, layout_index, stencil_displacements
from .baselines import _act, _seeded_init
from .chern import _check_shape, bulk_window_2d
from .toponet2d import TopoNet2D

__all__ = ["layout_to_hamiltonian", "spectrum_cache", "LayoutTopoNet2D", "OddLayoutTopoNet2D",
           "CommutatorLayoutTopoNet2D", "LatticeCNN", "LatticeMLP", "KSpaceCNN", "mirror_projection"]


# ----------------------------------------------------------------------------- inputs
def _shape_of(shape, what: str = "shape") -> Tuple[int, int]:
    """``(Lx, Ly)`` from a pair or a single ``L`` (a square lattice)."""
    if isinstance(shape, numbers.Integral) and not isinstance(shape, (bool, np.bool_)):
        shape = (int(shape), int(shape))
    try:
        return _check_shape(shape)
    except ValueError:
        raise ValueError(f"{what} must be a lattice shape (Lx, Ly) of positive integers (or one L), "
                         f"got {shape!r}") from None


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _layout_size_error(shape, stencil: int) -> Optional[str]:
    Lx, Ly = shape
    if min(Lx, Ly) <= 2 * stencil:
        return (f"a layout of stencil range {stencil} needs samples larger than {2 * stencil} cells along each axis, "
                f"got {(Lx, Ly)}; use a larger sample or a smaller stencil")
    return None


def _check_layout(x, n_orb: int, stencil: int, name: str) -> torch.Tensor:
    """``x`` as a real floating tensor ``(B, C, Lx, Ly)`` with the channels of ``(n_orb, stencil)``, checked."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} takes a torch.Tensor of lattice layouts (B, C, Lx, Ly), got {type(x).__name__}; "
                        "convert it with torch.as_tensor(tntopo.systems.lattice_layout(lattice))")
    if x.is_complex():
        raise ValueError(f"{name} takes real layouts (the real and imaginary parts of H are channels), got a "
                         f"{x.dtype} tensor; build it with tntopo.systems.lattice_layout")
    C = layout_channels(n_orb, stencil)
    if x.ndim != 4 or x.shape[1] != C:
        raise ValueError(f"{name} takes lattice layouts (B, {C}, Lx, Ly) (n_orb={n_orb}, stencil={stencil}), got shape "
                         f"{tuple(x.shape)}; build them with tntopo.systems.lattice_layout(lattice, stencil={stencil}) "
                         "or the model with the data's n_orb and stencil")
    if not x.is_floating_point() or x.dtype in (torch.float16, torch.bfloat16):
        x = x.to(torch.get_default_dtype())
    why = _layout_size_error(tuple(x.shape[-2:]), stencil)
    if why:
        raise ValueError(why)
    return x


@lru_cache(maxsize=64)
def _flat_index(shape: Tuple[int, int], n_orb: int, stencil: int, device: str) -> torch.Tensor:
    """Flat positions ``row * n + col`` in ``H`` of a layout's entries (cached per geometry and device)."""
    rows, cols = layout_index(shape, n_orb, stencil)
    n = shape[0] * shape[1] * n_orb
    return torch.as_tensor(rows.astype(np.int64) * n + cols.astype(np.int64), device=device)


@strict_keywords
def layout_to_hamiltonian(x: torch.Tensor, n_orb: int = 2, stencil: int = 2) -> torch.Tensor:
    """Dense Hamiltonians ``(..., n, n)`` of lattice layouts ``x`` ``(..., C, Lx, Ly)`` (torch, differentiable).

    The torch counterpart of :func:`tntopo.systems.layout_hamiltonian`: an exact scatter of every
    layout entry to its place ``(rows, cols)`` of :func:`tntopo.systems.layout_index` (the index
    tensors are cached per geometry and device). The result is complex (``complex64`` for a float32
    layout, ``complex128`` for float64), on ``x``'s device, as laid out (not symmetrized: a layout
    of a Hermitian ``H`` gives it back exactly, to the last bit).

    Parameters
    ----------
    x : torch.Tensor, shape (..., C, Lx, Ly)
        Real layouts, ``C = 2 (2 stencil + 1)^2 n_orb^2``.
    n_orb : int
        Orbitals per cell.
    stencil : int
        Range ``R`` of the layout's displacements.

    Examples
    --------
    >>> import torch, tntopo
    >>> from tntopo.systems import lattice_layout
    >>> lat = tntopo.Lattice2D.qwz(1.0, (6, 6))
    >>> H = layout_to_hamiltonian(torch.as_tensor(lattice_layout(lat, dtype="float64")))
    >>> bool((H == torch.as_tensor(lat.hamiltonian())).all())
    True
    """
    n_orb = _check_int("n_orb", n_orb, 1)
    stencil = _check_int("stencil", stencil, 0)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"layout_to_hamiltonian takes a torch.Tensor (..., C, Lx, Ly), got {type(x).__name__}; "
                        "convert it with torch.as_tensor")
    lead = tuple(x.shape[:-3])
    x = _check_layout(x.reshape((-1,) + tuple(x.shape[-3:])) if x.ndim >= 3 else x, n_orb, stencil,
                      "layout_to_hamiltonian")
    shape = (int(x.shape[-2]), int(x.shape[-1]))
    n = shape[0] * shape[1] * n_orb
    idx = _flat_index(shape, n_orb, stencil, str(x.device))
    half = x.reshape(x.shape[0], 2, -1)
    vals = torch.complex(half[:, 0], half[:, 1])
    H = vals.new_zeros((x.shape[0], n * n)).index_copy(1, idx, vals)
    return H.reshape(lead + (n, n))


class _Batch(NamedTuple):
    """A batch of layouts turned into the spectra of their Hamiltonians, with their lattice shape (internal)."""

    E: torch.Tensor
    U: torch.Tensor
    shape: Tuple[int, int]


# ----------------------------------------------------------------------------- the spectrum cache
#: Environment variable giving the spectrum cache's bound in bytes when a process starts (``0`` disables it).
SPECTRUM_CACHE_ENV = "TNTOPO_SPECTRUM_CACHE_BYTES"
#: Default bound of the spectrum cache: 1 GiB (the 8x8 training and validation sets of the full Chern
#: study, 5000 samples, take 0.66 GB in float32).
DEFAULT_SPECTRUM_CACHE_BYTES = 1 << 30


#: A spectrum is kept only if it takes at most ``1 / ADMIT_FRACTION`` of the bound: a set of large samples
#: (32x32: 34 MB each in float32) does not evict the many small spectra a training run reuses.
ADMIT_FRACTION = 32


class SpectrumCacheInfo(NamedTuple):
    """State of the spectrum cache (:func:`spectrum_cache`)."""

    #: samples whose spectrum was found in the cache
    hits: int
    #: samples diagonalized while the cache was enabled
    misses: int
    #: spectra held
    entries: int
    #: bytes they take (energies and eigenvectors)
    bytes: int
    #: the bound (``0``: disabled)
    max_bytes: int


def _bytes_setting(value, what: str) -> int:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"{what} must be a number of bytes (e.g. 2e9), got {value!r}") from None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or value < 0:
        raise ValueError(f"{what} must be a finite number of bytes >= 0 (0 disables the cache), got {value!r}")
    return int(value)


class _SpectrumCache:
    """A byte-bounded LRU map from sample keys to ``(E, U)`` (one per process; see :func:`spectrum_cache`)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        self.entries: "OrderedDict[bytes, Tuple[torch.Tensor, torch.Tensor]]" = OrderedDict()
        self.bytes = self.hits = self.misses = 0

    def get(self, key: bytes):
        with self.lock:
            hit = self.entries.get(key)
            if hit is None:
                self.misses += 1
                return None
            self.entries.move_to_end(key)
            self.hits += 1
            return hit

    def put(self, key: bytes, E: torch.Tensor, U: torch.Tensor) -> None:
        size = E.numel() * E.element_size() + U.numel() * U.element_size()
        with self.lock:
            if size * ADMIT_FRACTION > self.max_bytes or key in self.entries:
                return
            self.entries[key] = (E, U)
            self.bytes += size
            self._trim(self.max_bytes)

    def _trim(self, bound: int) -> None:
        while self.bytes > bound and self.entries:
            _, (E, U) = self.entries.popitem(last=False)
            self.bytes -= E.numel() * E.element_size() + U.numel() * U.element_size()

    def resize(self, max_bytes: int) -> None:
        with self.lock:
            self.max_bytes = max_bytes
            self._trim(max_bytes)

    def info(self) -> SpectrumCacheInfo:
        with self.lock:
            return SpectrumCacheInfo(self.hits, self.misses, len(self.entries), self.bytes, self.max_bytes)


_SPECTRA = _SpectrumCache(_bytes_setting(os.environ.get(SPECTRUM_CACHE_ENV, DEFAULT_SPECTRUM_CACHE_BYTES),
                                         f"the environment variable {SPECTRUM_CACHE_ENV}"))
_KEEP = object()


@strict_keywords
def spectrum_cache(max_bytes=_KEEP, *, clear: bool = False) -> SpectrumCacheInfo:
    """Set, clear or inspect the cache of input spectra of the TopoNet2D layout models.

    :class:`LayoutTopoNet2D` (and its subclasses) diagonalize the Hamiltonian of every input layout,
    which does not depend on the model's parameters. The eigenpairs ``(E, U)`` of each sample are
    kept in a per-process, byte-bounded LRU cache keyed by a BLAKE2b hash of the sample's layout bytes,
    its dtype, lattice shape, ``n_orb``, ``stencil`` and device, so that later epochs, other seeds,
    other models and evaluations reuse them instead of diagonalizing again. Outputs and gradients are
    bit-identical with and without the cache (the same ``torch.linalg.eigh`` of the same matrix).
    Seeds trained together as one vmapped model (:func:`tntopo.nn.train_seeds`, each seed on its own
    batch) use it too: their batch is looked up as the plain ``(seeds, batch)`` samples it holds.
    The cache is bypassed where values cannot be read or must stay differentiable: inputs that
    require grad, nested ``torch.func`` transforms over the inputs (``vmap`` of ``jacrev``, as in
    :func:`tntopo.nn.training.output_jacobian`), tracing and compiling.

    Each process has its own cache (a worker of a process pool starts with the bound of
    ``TNTOPO_SPECTRUM_CACHE_BYTES`` if set in the environment, else the default
    ``DEFAULT_SPECTRUM_CACHE_BYTES`` = 1 GiB; a forked worker also starts with a copy of its
    parent's entries, which are valid there). A spectrum takes ``n (n + 1)`` numbers with
    ``n = Lx Ly n_orb``: 0.13 MB at 8x8 in float32 (complex64 eigenvectors), 2.1 MB at 16x16, 34 MB at 32x32;
    the bound counts them on whatever device they live (GPU memory for CUDA inputs). A spectrum
    larger than ``1 / ADMIT_FRACTION`` (1/32) of the bound is not kept, so a set of large samples does
    not evict the many small ones a training run reuses (the default admits 16x16, not 32x32; a bound
    of 1.1e9 or more admits 32x32).

    Parameters
    ----------
    max_bytes : float, optional
        New bound in bytes (``0`` disables the cache and frees it); the least recently used spectra
        are dropped to fit. Omit it to keep the current bound.
    clear : bool
        Drop every entry and reset the hit and miss counts.

    Returns
    -------
    SpectrumCacheInfo
        A named tuple ``(hits, misses, entries, bytes, max_bytes)`` after the change: samples found
        and samples diagonalized while enabled (since the last ``clear``), spectra held, the bytes
        they take, the bound.

    Examples
    --------
    >>> from tntopo.nn import spectrum_cache
    >>> old = spectrum_cache().max_bytes     # inspect
    >>> spectrum_cache(4e9).max_bytes        # allow 4 GB in this process
    4000000000
    >>> spectrum_cache(0).entries            # disable (and free) it
    0
    >>> _ = spectrum_cache(old, clear=True)  # back to the previous bound, empty
    """
    if not isinstance(clear, (bool, np.bool_)):
        raise ValueError(f"clear must be True or False, got {clear!r}")
    if clear:
        with _SPECTRA.lock:
            _SPECTRA.clear()
    if max_bytes is not _KEEP:
        _SPECTRA.resize(_bytes_setting(max_bytes, "max_bytes"))
    return _SPECTRA.info()


def _readable(x: torch.Tensor) -> bool:
    """Whether the values of ``x`` can be read and used as a cache key (no transform, tracing or input grad)."""
    if type(x) is not torch.Tensor or x.requires_grad:
        return False
    try:
        if torch._C._functorch.is_functorch_wrapped_tensor(x):
            return False
    except AttributeError:  # pragma: no cover - older torch
        pass
    if torch.jit.is_tracing():
        return False
    try:
        return not torch.compiler.is_compiling()
    except AttributeError:  # pragma: no cover - older torch
        return True


def _eigh_layouts(x: torch.Tensor, n_orb: int, stencil: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``eigh`` of the layouts' Hamiltonians, in row-major memory (LAPACK returns the eigenvectors column-major):
    one memory layout whatever the route, so the products that follow round the same way (bit-identical)."""
    E, U = torch.linalg.eigh(layout_to_hamiltonian(x, n_orb, stencil))
    return E.contiguous(), U.contiguous()


def _marker_rows(Ut: torch.Tensor, Ub: torch.Tensor, f, g, Dx, Dy) -> torch.Tensor:
    """Marker sums ``(B, Nt)`` of the cells of ``Ut`` (their eigenvector rows ``(B, Nt no, n)``) over the cells
    of ``Ub`` (``(B, Nb no, n)``; kernels ``Dx, Dy`` ``(Nt, Nb)``): ``sum_{o,m} g_m Im(A^x conj(A^y))``,
    ``A = (D o P) U_b`` with ``P = U_t f U_b^H`` (without the factor ``4 pi / A``)."""
    B, nt, n = Ut.shape
    Nt, Nb = Dx.shape
    no = nt // Nt
    real = f.dtype
    # real views throughout: products with the real weights and their gradients without complex casts
    Uf = torch.view_as_complex(torch.view_as_real(Ut) * f[:, None, :, None])
    P = torch.view_as_real(torch.matmul(Uf, Ub.mH))  # (B, Nt no, Nb no, 2): the rows of P the output reads
    D = torch.stack([Dx, Dy]).to(real)[:, :, None, :, None].expand(2, Nt, no, Nb, no).reshape(2, Nt * no, Nb * no)
    M = torch.view_as_complex(P[:, None] * D[None, :, :, :, None])  # (B, 2, Nt no, Nb no): M^x and M^y
    A = torch.view_as_real(torch.matmul(M.reshape(B, 2 * Nt * no, Nb * no), Ub)).reshape(B, 2, Nt * no, n, 2)
    # Im(A^x conj(A^y)) weighted by g over the states m, summed over the orbitals of each cell
    # (as x_re (-y_im) + x_im y_re, with unbind and flip: backward passes without zero-filled buffers)
    Ax, Ay = A.unbind(1)
    sign = torch.tensor([-1.0, 1.0], dtype=real, device=A.device)
    im = (Ax * (Ay.flip(-1) * sign)).sum(-1)
    return torch.matmul(im, g[:, :, None]).reshape(B, Nt, no).sum(-1)


def _check_finite(x: torch.Tensor, name: str) -> None:
    try:
        finite = bool(torch.isfinite(x).all())
    except RuntimeError:  # under torch.func.vmap (per-sample Jacobians) a value cannot be read: no check
        finite = True
    if not finite:
        raise ValueError(f"{name}: the layouts contain NaN or inf (their Hamiltonians cannot be "
                         "diagonalized); pass finite layouts")


def _vmapped(x: torch.Tensor) -> Optional[Tuple[torch.Tensor, int]]:
    """``(value, level)`` of a batch ``x`` vmapped by the innermost active ``torch.func.vmap`` (as
    :func:`tntopo.nn.train_seeds` maps each seed over its own batch): its plain values with the vmapped
    dimension first and the vmap's level; ``None`` for any other tensor, for nested transforms (a ``jacrev``
    inside the vmap) and where this torch's functorch internals differ (the caller then diagonalizes)."""
    try:
        F = torch._C._functorch
        if not F.is_batchedtensor(x) or F.maybe_get_level(x) != F.current_level():
            return None
        level, bdim, value = F.maybe_get_level(x), F.maybe_get_bdim(x), F.get_unwrapped(x)
    except (AttributeError, RuntimeError, TypeError):  # pragma: no cover - other torch versions
        return None
    if not isinstance(bdim, int) or not _readable(value):
        return None
    return value.movedim(bdim, 0), level


def _layout_spectra(x: torch.Tensor, n_orb: int, stencil: int, name: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """Eigenpairs of the Hamiltonians of layouts ``x`` (real, checked), through the spectrum cache when it can.

    A batch vmapped over stacked seeds (each seed its own samples) is looked up with its plain values,
    ``(S, B)`` samples at once, and the spectra go back into the vmap at the same level: what the vmap of
    ``eigh`` would give (it diagonalizes the same ``S B`` matrices), bit for bit (tested)."""
    if _SPECTRA.max_bytes > 0 and (v := _vmapped(x)) is not None:
        value, level = v
        S, B = value.shape[:2]
        if S * B > 0:
            E, U = _layout_spectra(value.reshape(S * B, *value.shape[2:]), n_orb, stencil, name)
            F = torch._C._functorch
            return (F._add_batch_dim(E.reshape(S, B, *E.shape[1:]), 0, level),
                    F._add_batch_dim(U.reshape(S, B, *U.shape[1:]), 0, level))
    if _SPECTRA.max_bytes <= 0 or not _readable(x) or x.shape[0] == 0:
        _check_finite(x, name)
        return _eigh_layouts(x, n_orb, stencil)
    head = f"{x.dtype}|{tuple(x.shape[1:])}|{n_orb}|{stencil}|{x.device}".encode()
    flat = x.detach().cpu().contiguous().numpy()
    keys = []
    for row in flat:
        h = hashlib.blake2b(head, digest_size=20)
        h.update(row.data)
        keys.append(h.digest())
    found = [_SPECTRA.get(k) for k in keys]
    miss = [i for i, f in enumerate(found) if f is None]
    if miss:
        new = x if len(miss) == len(keys) else x[torch.as_tensor(miss, device=x.device)]
        _check_finite(new, name)  # a cached key is a layout that passed this check
        E, U = _eigh_layouts(new, n_orb, stencil)
        # stored as copies with their own storage (not views of the batch), made outside inference mode so
        # that a spectrum first seen under torch.inference_mode() can later be used in training
        with torch.inference_mode(False):
            for j, i in enumerate(miss):
                found[i] = (E[j].clone(), U[j].clone())
                _SPECTRA.put(keys[i], *found[i])
        if len(miss) == len(keys):
            return E, U
    return torch.stack([f[0] for f in found]), torch.stack([f[1] for f in found])


# ----------------------------------------------------------------------------- TopoNet2D on the layout
@strict_keywords
def mirror_projection(kx: torch.Tensor, ky: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Project displacement tables ``(2K+1, 2K+1)`` (index ``[dx + K, dy + K]``) onto the marker's symmetries.

    Returns ``(k^x, k^y)`` with ``k^x`` odd in ``dx`` and even in ``dy`` and ``k^y(dx, dy) =
    k^x(dy, dx)`` (see the module docstring): the orthogonal projection (idempotent; the exact
    tables ``k^x = dx``, ``k^y = dy`` are fixed points).
    """
    a = (kx + ky.transpose(-2, -1)) / 2
    a = (a - a.flip(-2) + a.flip(-1) - a.flip(-2).flip(-1)) / 4
    return a, a.transpose(-2, -1)


def _mirror_window(R: torch.Tensor) -> torch.Tensor:
    """Average of a window ``(Lx, Ly)`` over the mirrors of the sample (the diagonal one when square)."""
    R = (R + R.flip(0)) / 2
    R = (R + R.flip(1)) / 2
    if R.shape[0] == R.shape[1]:
        R = (R + R.T) / 2
    return R


class _Sized:
    """``accepts_size`` of the layout models: any shape the stencil fits when :attr:`size_agnostic`, else the
    model's own (``_fixed_size_reason`` says why)."""

    @strict_keywords
    def accepts_size(self, shape) -> Optional[str]:
        """``None`` if the model takes layouts of lattices of this shape, else the reason (one line)."""
        why = self._size_error(_shape_of(shape))
        return None if why is None else why.split(";")[0]

    def _size_error(self, shape) -> Optional[str]:
        why = _layout_size_error(shape, self.stencil)
        if why:
            return why
        if not self.size_agnostic and shape != self.shape:
            return self._fixed_size_reason(shape)
        return None


#: Largest eigenvector block (bytes) one step of a layout TopoNet2D's forward diagonalizes and contracts:
#: larger batches go in chunks (at 32 x 32 in float32, 4 samples), so that evaluating a large set in one
#: batch does not hold every sample's Hamiltonian and eigenvectors at once.
CHUNK_BYTES = 1 << 27


class LayoutTopoNet2D(_Sized, TopoNet2D):
    """:class:`tntopo.nn.TopoNet2D` on lattice layouts, with displacement kernels; any size with a fixed window.

    Parameters
    ----------
    shape : (int, int) or int
        Nominal ``(Lx, Ly)`` of the samples (one ``L``: square): the size of a learned window and
        the default kernel range.
    n_orb : int
        Orbitals per cell.
    init : {"exact", "random"}
        ``"exact"``: the marker's weights (occupations ``theta(E_F - E)``, kernels ``d_x``, ``d_y``,
        the bulk window): the output is the bulk-averaged local Chern marker when the kernel range
        covers the sample (``kernel_range >= max(Lx, Ly) - 1``). ``"random"``: as
        :class:`~tntopo.nn.TopoNet2D`, drawn from ``seed``.
    seed : int
        Seed of the random initialization (a private ``torch.Generator``).
    stencil : int
        Range ``R`` of the layout's displacements (:func:`tntopo.systems.lattice_layout`).
    window : {"learned", "fixed"}
        ``"learned"``: one weight per cell (the model takes its nominal shape only). ``"fixed"``:
        the bulk window of the input's shape (``L//4`` margins; not trained): any shape.
    kernel_range : int, optional
        Largest displacement of the kernel tables (default ``max(Lx, Ly) - 1``: full range at the
        nominal size). Fixed: a larger input sees zero kernel beyond it.
    n_bins, energy_range, fermi_level, dtype, optimize
        As for :class:`~tntopo.nn.TopoNet2D`.

    Notes
    -----
    ``forward(x)`` takes layouts ``(B, C, Lx, Ly)`` and returns ``(B,)``; the dense ``H``
    (:func:`layout_to_hamiltonian`) is diagonalized with ``torch.linalg.eigh`` in the complex
    dtype of the promoted input and parameter dtypes, once per sample and process while the
    spectrum cache holds it (:func:`spectrum_cache`; bit-identical results). Batches whose
    eigenvectors exceed :data:`CHUNK_BYTES` are processed in chunks (bounded memory at 32x32). No
    gradient flows to the input.

    Examples
    --------
    >>> import torch, tntopo
    >>> from tntopo.systems import lattice_layout
    >>> x = torch.as_tensor(lattice_layout(tntopo.Lattice2D.qwz(1.0, (8, 8)), dtype="float64"))[None]
    >>> net = LayoutTopoNet2D((8, 8), init="exact", window="fixed", dtype=torch.float64)
    >>> C = net(x)                          # the bulk marker, 0.9...
    """

    @strict_keywords
    def __init__(
        self,
        shape,
        n_orb: int = 2,
        init: str = "exact",
        seed: int = 0,
        *,
        stencil: int = 2,
        window: str = "learned",
        kernel_range: Optional[int] = None,
        n_bins: int = 16,
        energy_range: float = 4.0,
        fermi_level: float = 0.0,
        dtype: Optional[torch.dtype] = None,
        optimize: str = "auto-hq",
    ):
        shape = _shape_of(shape)
        stencil = _check_int("stencil", stencil, 0)
        why = _layout_size_error(shape, stencil)
        if why:
            raise ValueError(why)
        super().__init__(shape, n_orb, init, seed, kernel="displacement", window=window, kernel_range=kernel_range,
                         n_bins=n_bins, energy_range=energy_range, fermi_level=fermi_level, dtype=dtype,
                         optimize=optimize)
        self.stencil = stencil
        #: channels of the layouts the model takes
        self.channels = layout_channels(self.n_orb, stencil)

    #: what ``forward`` takes: lattice layouts ``(B, C, Lx, Ly)`` (not Hamiltonians, as TopoNet2D)
    input_kind = "layout"

    # ------------------------------------------------------------------ sizes
    @property
    def size_agnostic(self) -> bool:
        """Whether the model takes layouts of any shape (a fixed window)."""
        return self.window == "fixed"

    def _fixed_size_reason(self, shape) -> str:
        return (f"this {type(self).__name__} has a learned window of shape {self.shape} and takes only that shape, "
                f"got {shape}; use window='fixed' for a model of any size")

    # ------------------------------------------------------------------ inputs
    def _batch(self, x) -> _Batch:
        x = _check_layout(x, self.n_orb, self.stencil, type(self).__name__)
        shape = (int(x.shape[-2]), int(x.shape[-1]))
        why = self._size_error(shape)
        if why:
            raise ValueError(why)
        pdt = next(iter(self.params.values())).dtype
        real = torch.promote_types(x.dtype, pdt)
        E, U = _layout_spectra(x.to(real), self.n_orb, self.stencil, type(self).__name__)
        return _Batch(E, U, shape)

    def _prepared(self, batch):
        if not isinstance(batch, _Batch):  # the inherited paths (network, marker) are given layouts
            batch = self._batch(batch)
        E, U = batch.E, batch.U
        real = E.dtype
        F, G, Dx, Dy, R = self.weights(dtype=real, device=U.device, shape=batch.shape)
        width = self.energy_range / (self.n_bins // 2)
        b = torch.floor((E - self.fermi_level) / width) + self.n_bins // 2
        b = b.clamp(0, self.n_bins - 1).long()
        return U, F[b], G[b], Dx, Dy, R

    # ------------------------------------------------------------------ weights
    def _geometry_of(self, shape, device):
        """Displacement indices ``(inside, ix, iy)`` of every cell pair and the fixed window, cached."""
        cache = self.__dict__.setdefault("_geometry", {})
        key = (shape, self.kernel_range, str(device))
        geo = cache.get(key)
        if geo is None:
            K = self.kernel_range
            Lx, Ly = shape
            cx, cy = (t.reshape(-1) for t in torch.meshgrid(torch.arange(Lx), torch.arange(Ly), indexing="ij"))
            ddx, ddy = cx[None, :] - cx[:, None], cy[None, :] - cy[:, None]
            inside = ((ddx.abs() <= K) & (ddy.abs() <= K)).to(device)
            window = torch.as_tensor(bulk_window_2d(shape)).to(device)
            cells = torch.nonzero(window.reshape(-1)).reshape(-1).to(device)
            geo = cache[key] = (inside, (ddx.clamp(-K, K) + K).to(device), (ddy.clamp(-K, K) + K).to(device),
                                ddx.to(device), ddy.to(device), window, cells)
        return geo

    def _tables(self, kx: torch.Tensor, ky: torch.Tensor):
        """The kernel tables used by the network (the raw ones here; constrained in subclasses)."""
        return kx, ky

    def _window(self, R: torch.Tensor) -> torch.Tensor:
        """The learned window used by the network (the raw one here)."""
        return R

    def _kernels(self, raw, geo, dtype, device):
        inside, ix, iy = geo[:3]
        kx, ky = self._tables(raw["KX"], raw["KY"])
        zero = torch.zeros((), dtype=dtype, device=device)
        return torch.where(inside, kx[ix, iy], zero), torch.where(inside, ky[ix, iy], zero)

    def weights(self, dtype=None, device=None, *, shape=None):
        """The tensors of the marker network for lattices of ``shape`` (default the nominal one).

        ``(F (n_bins,), G (n_bins,), Dx (Nc, Nc), Dy (Nc, Nc), R (Nc,))`` with ``Nc = Lx Ly`` cells in
        the order ``x * Ly + y``.
        """
        shape = self.shape if shape is None else _shape_of(shape)
        why = self._size_error(shape)
        if why:
            raise ValueError(why)
        p0 = next(iter(self.params.values()))
        dtype = dtype or p0.dtype
        dev = device or p0.device
        raw = {tag: self.params[tag].to(dtype=dtype, device=dev) for tag in self._keys}
        geo = self._geometry_of(shape, dev)
        Dx, Dy = self._kernels(raw, geo, dtype, dev)
        R = self._window(raw["R"]) if self.window == "learned" else geo[5].to(dtype)
        return raw["F"], raw["G"], Dx, Dy, R.reshape(-1)

    # ------------------------------------------------------------------ network
    #: contract with :meth:`_markers` below (``False``: the generic two-layer contraction of
    #: :class:`~tntopo.nn.TopoNet2D`, kept as the reference route of tests and benchmarks)
    _direct = True

    #: the kernels vanish beyond ``kernel_range`` (``False`` in subclasses with full-range kernels)
    _local_kernels = True

    def _markers(self, batch, with_window: bool):
        """Markers (window summed or per cell) from the eigenpairs, in three batched products.

        With ``P = U f U^H``, ``Q = U g U^H`` (``P`` Hermitian), ``M^x_{ro,jp} = D^x_{rj} P_{ro,jp}``
        and the same for ``y``, the marker network is ``sum_r R_r sum_o [M^x Q (M^y)^H]_{ro,ro} =
        sum_{r,o} R_r sum_m g_m A^x_{ro,m} conj(A^y_{ro,m})`` with ``A = M U``: the rows ``(r, o)`` of
        ``P`` and ``A`` are needed only for the cells ``r`` the output reads (those of a fixed window),
        and ``Q`` is never formed. Where the kernels vanish beyond ``kernel_range`` and that range is
        small against the input (a fixed window at 32x32 with a range-7 kernel), the window's cells go
        in tiles of ``4 x 4`` and each tile's products run over the columns ``j`` within range of it only.
        Equal to the two-layer contraction to rounding (tested).
        """
        if not self._direct:
            return super()._markers(batch, with_window)
        if not isinstance(batch, _Batch):
            batch = self._batch(batch)
        U, f, g, Dx, Dy, R = self._prepared(batch)
        B, n = U.shape[0], U.shape[-1]
        no = self.n_orb
        Nc = n // no
        if not (with_window and self.window == "fixed"):  # every cell is read
            c = _marker_rows(U, U, f, g, Dx, Dy)
            return (4.0 * math.pi / self.cell_area) * (c * R).sum(-1) if with_window else \
                (4.0 * math.pi / self.cell_area) * c
        U5 = U.reshape(B, Nc, no, n)
        out = 0
        for cells, box in self._tiles(batch.shape, U.device):  # only the window's cells are read
            Ut = U5.index_select(1, cells).reshape(B, -1, n)
            Ub = U if box is None else U5.index_select(1, box).reshape(B, -1, n)
            Dxt, Dyt = Dx.index_select(0, cells), Dy.index_select(0, cells)
            if box is not None:
                Dxt, Dyt = Dxt.index_select(1, box), Dyt.index_select(1, box)
            c = _marker_rows(Ut, Ub, f, g, Dxt, Dyt)
            out = out + (c * R.index_select(0, cells)).sum(-1)
        return (4.0 * math.pi / self.cell_area) * out

    def _tiles(self, shape, device):
        """``[(cells, box)]``: the fixed window's cells, in tiles, each with the cells within ``kernel_range``
        of it (``box=None``: all cells, one tile, when tiling would not save a third of the work)."""
        cache = self.__dict__.setdefault("_geometry", {})
        key = ("tiles", shape, self.kernel_range, str(device), self._local_kernels)
        tiles = cache.get(key)
        if tiles is None:
            cells = self._geometry_of(shape, device)[6]
            tiles = [(cells, None)]
            if self._local_kernels:
                Lx, Ly = shape
                K, t = self.kernel_range, 4
                flat = cells.cpu()
                cx, cy = flat // Ly, flat % Ly
                cx, cy = cx - cx.min(), cy - cy.min()  # tiles from the window's corner
                groups, cost = [], 0
                for gx in torch.unique(cx // t):
                    for gy in torch.unique(cy // t):
                        sel = flat[(cx // t == gx) & (cy // t == gy)]
                        if len(sel) == 0:
                            continue
                        sx, sy = sel // Ly, sel % Ly
                        bx = torch.arange(max(int(sx.min()) - K, 0), min(int(sx.max()) + K, Lx - 1) + 1)
                        by = torch.arange(max(int(sy.min()) - K, 0), min(int(sy.max()) + K, Ly - 1) + 1)
                        box = (bx[:, None] * Ly + by[None, :]).reshape(-1)
                        groups.append((sel.to(device), box.to(device)))
                        cost += len(sel) * len(box)
                if cost <= 2 * len(flat) * Lx * Ly / 3:
                    tiles = groups
            cache[key] = tiles
        return tiles

    def _chunked(self, x, with_window: bool) -> torch.Tensor:
        """The markers of ``x`` in chunks of at most :data:`CHUNK_BYTES` of eigenvectors (bounded memory at large L)."""
        if not isinstance(x, torch.Tensor) or x.ndim != 4:
            return self._markers(self._batch(x), with_window)  # (_batch says what is wrong)
        n = int(x.shape[-2]) * int(x.shape[-1]) * self.n_orb
        size = 8 if torch.promote_types(x.dtype if x.is_floating_point() else torch.get_default_dtype(),
                                        next(iter(self.params.values())).dtype) == torch.float32 else 16
        chunk = max(1, CHUNK_BYTES // (size * n * n))
        if x.shape[0] <= chunk:
            return self._markers(self._batch(x), with_window)
        return torch.cat([self._markers(self._batch(xc), with_window) for xc in x.split(chunk)])

    def forward(self, x) -> torch.Tensor:
        """Bulk Chern values ``(B,)`` of layouts ``x`` ``(B, C, Lx, Ly)``."""
        return self._chunked(x, True)

    def marker(self, x) -> torch.Tensor:
        """The local marker maps ``(B, Lx, Ly)`` of the network (no window) for layouts ``x``."""
        c = self._chunked(x, False)
        return c.reshape(c.shape[0], *x.shape[-2:])

    def extra_repr(self) -> str:
        n = sum(p.numel() for p in self.parameters())
        return (f"shape={self.shape}, n_orb={self.n_orb}, stencil={self.stencil}, init={self.init!r}, "
                f"kernel_range={self.kernel_range}, window={self.window!r}, n_bins={self.n_bins}, "
                f"energy_range={self.energy_range:g}, fermi_level={self.fermi_level:g}, parameters={n}")


class OddLayoutTopoNet2D(LayoutTopoNet2D):
    """:class:`LayoutTopoNet2D` whose kernels (and learned window) have the symmetries of the exact marker.

    ``k^x`` odd in ``dx`` and even in ``dy``, ``k^y(dx, dy) = k^x(dy, dx)``, a learned window
    symmetric under the mirrors of the sample (:func:`mirror_projection`; the derivation is in the
    module docstring): the output flips sign under the mirrors ``x -> Lx - 1 - x``,
    ``y -> Ly - 1 - y`` and (square samples) ``x <-> y`` for any weights, as the Chern number does.
    The exact weights lie in this family (``init="exact"`` is exact). Same parameters as
    :class:`LayoutTopoNet2D`.
    """

    def _tables(self, kx, ky):
        return mirror_projection(kx, ky)

    def _window(self, R):
        return _mirror_window(R)

    def extra_repr(self) -> str:
        return super().extra_repr() + ", odd=True"


class CommutatorLayoutTopoNet2D(LayoutTopoNet2D):
    """:class:`LayoutTopoNet2D` whose kernels are the commutators with the position: ``lam_x (x_j - x_r)``.

    The raw tables (range ``kernel_range``, default 1) are projected by least squares onto
    ``lam_x d_x`` and ``lam_y d_y``; the kernels are then those scales times the position
    differences over the whole input (full range for any ``L``). With ``init="exact"``
    (``lam = 1``, exact occupations) and ``window="fixed"`` the output is the bulk-averaged local
    Chern marker of :func:`tntopo.chern_number` (``method="marker"``, default region) for every
    input shape. Same parameters as :class:`LayoutTopoNet2D` (``kernel_range`` defaults to 1).
    """

    @strict_keywords
    def __init__(
        self,
        shape,
        n_orb: int = 2,
        init: str = "exact",
        seed: int = 0,
        *,
        stencil: int = 2,
        window: str = "fixed",
        kernel_range: Optional[int] = 1,
        n_bins: int = 16,
        energy_range: float = 4.0,
        fermi_level: float = 0.0,
        dtype: Optional[torch.dtype] = None,
        optimize: str = "auto-hq",
    ):
        super().__init__(shape, n_orb, init, seed, stencil=stencil, window=window, kernel_range=kernel_range,
                         n_bins=n_bins, energy_range=energy_range, fermi_level=fermi_level, dtype=dtype,
                         optimize=optimize)

    _local_kernels = False  # lam * (position difference): full range

    def scales(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(lam_x, lam_y)``: the least-squares projections of the raw tables on ``d_x`` and ``d_y``."""
        K = self.kernel_range
        d = torch.arange(-K, K + 1, dtype=self.params["KX"].dtype, device=self.params["KX"].device)
        dx, dy = torch.meshgrid(d, d, indexing="ij")
        norm = (dx * dx).sum()
        return (self.params["KX"] * dx).sum() / norm, (self.params["KY"] * dy).sum() / norm

    def _kernels(self, raw, geo, dtype, device):
        lx, ly = self.scales()
        ddx, ddy = geo[3].to(dtype), geo[4].to(dtype)
        return lx.to(dtype) * ddx, ly.to(dtype) * ddy

    def extra_repr(self) -> str:
        return super().extra_repr() + ", kernel=lam*(position difference)"


# ----------------------------------------------------------------------------- generic networks
def _global_rng_untouched():
    """Context in which building layers (whose default init draws from torch's global RNG) leaves it as it was."""
    return torch.random.fork_rng(devices=[])


class _LayoutNet(_Sized, nn.Module):
    """Shared input handling of the generic layout networks."""

    size_agnostic = True
    #: what ``forward`` takes: lattice layouts ``(B, C, Lx, Ly)``
    input_kind = "layout"

    def _setup(self, shape, n_orb, stencil, seed):
        self.shape = _shape_of(shape)
        self.n_orb = _check_int("n_orb", n_orb, 1)
        self.stencil = _check_int("stencil", stencil, 0)
        if not isinstance(seed, numbers.Integral) or isinstance(seed, (bool, np.bool_)):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self.seed = int(seed)
        why = _layout_size_error(self.shape, self.stencil)
        if why:
            raise ValueError(why)
        self.channels_in = layout_channels(self.n_orb, self.stencil)

    def _fixed_size_reason(self, shape) -> str:
        return (f"this {type(self).__name__} was built for lattices of shape {self.shape} and takes only that "
                f"shape, got {shape}; use a size-agnostic model (cnn2d, kcnn) for other sizes")

    def _prep(self, x) -> torch.Tensor:
        x = _check_layout(x, self.n_orb, self.stencil, type(self).__name__)
        why = self._size_error((int(x.shape[-2]), int(x.shape[-1])))
        if why:
            raise ValueError(why)
        return x.to(next(self.parameters()).dtype)

    def _finish(self, seed, dtype):
        _seeded_init(self, seed)
        if dtype is not None:
            self.to(dtype)


def _widths(channels, name="channels") -> Tuple[int, ...]:
    try:
        out = tuple(int(c) for c in channels)
        ok = len(out) >= 1 and all(c >= 1 and c == c_ for c, c_ in zip(out, channels))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must list at least one positive integer width, got {channels!r}")
    return out


def _odd_kernel(kernel_size) -> int:
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, numbers.Integral) or kernel_size < 1 \
            or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd integer (centred convolutions), got {kernel_size!r}")
    return int(kernel_size)


class LatticeCNN(_LayoutNet):
    """A CNN over the real-space lattice, on the layout channels (Carvalho et al., PRB 97, 115453 (2018)).

    ``1 x 1`` convolution of each cell's ``C`` hopping numbers to ``channels[0]`` features, then
    ``kernel_size`` convolutions of widths ``channels[1:]`` with zero padding (the outside of an
    open sample is empty), global average pooling over the cells (any ``L``) and a two-layer head.

    Parameters
    ----------
    shape : (int, int) or int
        Nominal lattice shape (the network takes any larger than ``2 stencil``).
    seed : int
    n_orb, stencil : int
        Of the layouts.
    channels : sequence of int
        Widths: the ``1 x 1`` read-in, then one convolution per further entry.
    kernel_size : int
        Odd size of the spatial convolutions.
    activation : {"relu", "tanh", "gelu", "silu"}
    dtype : torch.dtype, optional
    """

    @strict_keywords
    def __init__(self, shape, seed: int = 0, *, n_orb: int = 2, stencil: int = 2, channels: Sequence[int] = (8, 16, 16),
                 kernel_size: int = 3, activation: str = "relu", dtype: Optional[torch.dtype] = None):
        super().__init__()
        self._setup(shape, n_orb, stencil, seed)
        widths = _widths(channels)
        k = _odd_kernel(kernel_size)
        with _global_rng_untouched():  # torch's default init draws from it; _finish re-draws from `seed`
            layers = [nn.Conv2d(self.channels_in, widths[0], 1), _act(activation)]
            for c_in, c in zip(widths[:-1], widths[1:]):
                layers += [nn.Conv2d(c_in, c, k, padding=k // 2), _act(activation)]
            self.conv = nn.Sequential(*layers)
            self.head = nn.Sequential(nn.Linear(widths[-1], widths[-1]), _act(activation), nn.Linear(widths[-1], 1))
        self._finish(seed, dtype)

    def forward(self, x) -> torch.Tensor:
        """Chern values ``(B,)`` of layouts ``(B, C, Lx, Ly)``."""
        z = self.conv(self._prep(x)).mean(dim=(-2, -1))
        return self.head(z).squeeze(-1)


class LatticeMLP(_LayoutNet):
    """A fully connected network on the flattened layout ``C Lx Ly`` (the nominal shape only).

    Parameters
    ----------
    shape : (int, int) or int
        The lattice shape of the inputs.
    seed : int
    n_orb, stencil : int
        Of the layouts.
    hidden : sequence of int
        Widths of the hidden layers (default ``(32, 32)``; the first layer has ``C Lx Ly`` inputs:
        12800 at ``L = 8``, so about 410k weights).
    cell_features : int, optional
        If given, each cell's ``C`` numbers are first mapped by one shared linear map to this many
        features (a ``1 x 1`` read-in, the only weights shared across cells) before flattening: a
        fully connected network of a few thousand parameters (``cell_features=4, hidden=(16, 16)``:
        5205 at ``L = 8``).
    activation : {"relu", "tanh", "gelu", "silu"}
    dtype : torch.dtype, optional
    """

    size_agnostic = False

    @strict_keywords
    def __init__(self, shape, seed: int = 0, *, n_orb: int = 2, stencil: int = 2, hidden: Sequence[int] = (32, 32),
                 cell_features: Optional[int] = None, activation: str = "relu", dtype: Optional[torch.dtype] = None):
        super().__init__()
        self._setup(shape, n_orb, stencil, seed)
        widths = _widths(hidden, "hidden")
        self.cell_features = None if cell_features is None else _check_int("cell_features", cell_features, 1)
        Lx, Ly = self.shape
        with _global_rng_untouched():
            if self.cell_features is None:
                self.read_in = nn.Identity()
                n_in = self.channels_in * Lx * Ly
            else:
                self.read_in = nn.Conv2d(self.channels_in, self.cell_features, 1)
                n_in = self.cell_features * Lx * Ly
            dims = (n_in,) + widths
            layers = []
            for i, o in zip(dims[:-1], dims[1:]):
                layers += [nn.Linear(i, o), _act(activation)]
            layers.append(nn.Linear(dims[-1], 1))
            self.net = nn.Sequential(*layers)
        self._finish(seed, dtype)

    def forward(self, x) -> torch.Tensor:
        """Chern values ``(B,)`` of layouts ``(B, C, Lx, Ly)``."""
        return self.net(self.read_in(self._prep(x)).flatten(1)).squeeze(-1)


class KSpaceCNN(_LayoutNet):
    """The k-space route (Sun et al., PRB 98, 085402 (2018)): ``h(k)`` on a grid, read by a periodic CNN.

    The preprocessing is fixed (no parameters): the hopping blocks ``B_d = H[(r, .), (r + d, .)]``
    averaged over the bulk cells ``stencil <= x < Lx - stencil`` (same for ``y``; the cells whose
    whole stencil lies inside the sample), then ``h(k) = sum_d B_d e^{i k.d}`` at
    ``k = 2 pi (m_x, m_y) / n_k`` -- exactly :meth:`tntopo.Lattice2D.bloch` for a clean sample; for a
    disordered sample the Bloch Hamiltonian of its disorder-averaged bulk hoppings. The
    ``2 n_orb^2`` channels (real and imaginary parts of ``h(k)``'s entries) over the ``n_k x n_k``
    Brillouin zone go through ``kernel_size`` convolutions with circular padding (the zone is a
    torus), global average pooling and a two-layer head. Takes any ``L``.

    Parameters
    ----------
    shape : (int, int) or int
        Nominal lattice shape (any larger than ``2 stencil`` is taken).
    seed : int
    n_orb, stencil : int
        Of the layouts.
    n_k : int
        Points of the k grid per axis.
    channels : sequence of int
        Widths of the convolutions.
    kernel_size : int
    activation : {"relu", "tanh", "gelu", "silu"}
    dtype : torch.dtype, optional
    """

    @strict_keywords
    def __init__(self, shape, seed: int = 0, *, n_orb: int = 2, stencil: int = 2, n_k: int = 16,
                 channels: Sequence[int] = (8, 16, 16), kernel_size: int = 3, activation: str = "relu",
                 dtype: Optional[torch.dtype] = None):
        super().__init__()
        self._setup(shape, n_orb, stencil, seed)
        self.n_k = _check_int("n_k", n_k, 2)
        widths = _widths(channels)
        k = _odd_kernel(kernel_size)
        D = stencil_displacements(self.stencil).astype(float)  # (n_d, 2)
        m = np.arange(self.n_k) * (2 * math.pi / self.n_k)
        kx, ky = np.meshgrid(m, m, indexing="ij")
        phase = kx.reshape(-1, 1) * D[None, :, 0] + ky.reshape(-1, 1) * D[None, :, 1]  # (n_k^2, n_d)
        self.register_buffer("_cos", torch.as_tensor(np.cos(phase)), persistent=False)
        self.register_buffer("_sin", torch.as_tensor(np.sin(phase)), persistent=False)
        with _global_rng_untouched():
            layers, c_in = [], 2 * self.n_orb ** 2
            for c in widths:
                layers += [nn.Conv2d(c_in, c, k, padding=k // 2, padding_mode="circular"), _act(activation)]
                c_in = c
            self.conv = nn.Sequential(*layers)
            self.head = nn.Sequential(nn.Linear(c_in, c_in), _act(activation), nn.Linear(c_in, 1))
        self._finish(seed, dtype)

    def bloch(self, x) -> torch.Tensor:
        """The fixed preprocessing: ``(B, 2 n_orb^2, n_k, n_k)``, channels ``[Re h_{o1 o2}, Im h_{o1 o2}]``.

        Channel ``part * n_orb^2 + o1 * n_orb + o2`` at ``[m_x, m_y]`` is the real (``part = 0``) or
        imaginary part of ``h(k)[o1, o2]``, ``k = 2 pi (m_x, m_y) / n_k``.
        """
        x = self._prep(x)
        B, _, Lx, Ly = x.shape
        R, no, nk = self.stencil, self.n_orb, self.n_k
        blocks = x[:, :, R:Lx - R, R:Ly - R].mean(dim=(-2, -1)).reshape(B, 2, -1, no * no)  # (B, part, n_d, o1 o2)
        c, s = self._cos.to(x.dtype), self._sin.to(x.dtype)
        re = torch.einsum("kd,bde->bek", c, blocks[:, 0]) - torch.einsum("kd,bde->bek", s, blocks[:, 1])
        im = torch.einsum("kd,bde->bek", s, blocks[:, 0]) + torch.einsum("kd,bde->bek", c, blocks[:, 1])
        return torch.cat([re, im], 1).reshape(B, 2 * no * no, nk, nk)

    def forward(self, x) -> torch.Tensor:
        """Chern values ``(B,)`` of layouts ``(B, C, Lx, Ly)``."""
        z = self.conv(self.bloch(x)).mean(dim=(-2, -1))
        return self.head(z).squeeze(-1)
