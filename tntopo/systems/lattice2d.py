"""Two-dimensional tight-binding lattices (class A, Chern insulators): :class:`Lattice2D`.

Conventions (``docs/conventions.rst``, "Two dimensions (Chern insulators)"):

* cells ``(x, y)``, ``x = 0..Lx-1``, ``y = 0..Ly-1``, ``n_orb`` orbitals per cell; the basis index
  of orbital ``orb`` of cell ``(x, y)`` is ``(x * Ly + y) * n_orb + orb``;
* ``hoppings={(dx, dy): T}`` means ``<r + d|H|r> = T`` (an ``n_orb x n_orb`` matrix), Hermitian
  conjugates added;
* Bloch Hamiltonian ``h(k) = onsite + sum_d (T_d exp(-i k.d) + h.c.)``;
* Anderson disorder ``disorder=W``: on-site energy ``W u``, ``u ~ U[-1/2, 1/2]``, one per site
  (cell), the same on every orbital of the site, drawn from ``seed``.

A "site" is a cell: ``n_sites = Lx * Ly`` and the Hilbert-space dimension is ``n_sites * n_orb``.
"""
from __future__ import annotations

import numbers
from typing import Literal, Mapping, Optional, Tuple, Union

import numpy as np
import scipy.sparse as sp

from .._typing import BOUNDARIES, strict_keywords
from .chain import SeedLike, make_seed_sequence

__all__ = ["Lattice2D", "HAMILTONIAN_ATOL", "chern_bulk_region", "check_region", "check_real"]

#: Tolerance of the Hermiticity checks of ``onsite`` (relative to its norm).
HAMILTONIAN_ATOL = 1e-12

BoundaryLike = Union[str, Tuple[str, str]]
#: The lattice models with a factory (``Lattice2D.qwz``, ``Lattice2D.haldane``).
Model = Literal["qwz", "haldane"]


def _check_shape(shape) -> Tuple[int, int]:
    try:
        Lx, Ly = shape
    except (TypeError, ValueError):
        raise ValueError(f"shape must be a pair (Lx, Ly) of integers, got {shape!r}; pass e.g. shape=(40, 40)") from None
    out = []
    for name, L in (("Lx", Lx), ("Ly", Ly)):
        if isinstance(L, (bool, np.bool_)) or not isinstance(L, numbers.Integral):
            raise ValueError(f"shape {name} must be an integer, got {L!r}; pass e.g. shape=(40, 40)")
        if L < 1:
            raise ValueError(f"shape {name} = {L} must be at least 1; pass e.g. shape=(40, 40)")
        out.append(int(L))
    return out[0], out[1]


def _check_boundary(boundary) -> Tuple[str, str]:
    if isinstance(boundary, str):
        boundary = (boundary, boundary)
    try:
        bx, by = boundary
    except (TypeError, ValueError):
        raise ValueError(
            f"boundary must be 'open', 'periodic' or a pair of them (x, y), got {boundary!r}"
        ) from None
    for b in (bx, by):
        if b not in BOUNDARIES:
            raise ValueError(
                f"unknown boundary {b!r}; choose one of {set(BOUNDARIES)} (or a pair, one per axis)"
            )
    return bx, by


def _check_matrix(name: str, value, n_orb: Optional[int]) -> np.ndarray:
    try:
        a = np.asarray(value)
    except Exception:
        raise ValueError(f"{name} could not be read as a matrix; give an (n_orb, n_orb) array") from None
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise ValueError(f"{name} must be numeric, got dtype {a.dtype}; give an (n_orb, n_orb) array")
    if a.ndim == 0:
        a = a.reshape(1, 1)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"{name} must be a square (n_orb, n_orb) matrix, got shape {a.shape}")
    if n_orb is not None and a.shape[0] != n_orb:
        raise ValueError(
            f"{name} is {a.shape[0]}x{a.shape[0]} but the onsite matrix has n_orb = {n_orb} orbitals; "
            "give every hopping as an (n_orb, n_orb) matrix"
        )
    a = a.astype(np.complex128)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or inf entries; give finite amplitudes")
    return a


def _check_onsite(onsite) -> np.ndarray:
    """The on-site matrix as complex ``(n_orb, n_orb)``, Hermitian (checked, then symmetrized)."""
    a = _check_matrix("onsite", onsite, None)
    scale = max(1.0, float(np.abs(a).max()))
    if not np.allclose(a, a.conj().T, rtol=0, atol=HAMILTONIAN_ATOL * scale):
        raise ValueError(
            "onsite matrix is not Hermitian (onsite != onsite^dagger); the Hamiltonian must be "
            "Hermitian: give a Hermitian onsite matrix (hoppings get their conjugates added)"
        )
    return 0.5 * (a + a.conj().T)


def _check_displacement(d, shape: Tuple[int, int]) -> Tuple[int, int]:
    """A hopping key as an integer cell displacement ``(dx, dy) != (0, 0)`` that fits in ``shape``."""
    try:
        dx, dy = d
        ok = all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) for v in (dx, dy))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"hopping keys are integer cell displacements (dx, dy), got {d!r}; use e.g. (1, 0)")
    d = (int(dx), int(dy))
    if d == (0, 0):
        raise ValueError("hopping (0, 0) is not a hopping: put intra-cell terms in the onsite matrix")
    for i, L in enumerate(shape):
        if abs(d[i]) >= L:
            raise ValueError(
                f"hopping {d} does not fit in shape {shape}: |d| must be smaller than the "
                "sample along each axis; use a larger shape"
            )
    return d


def _check_hoppings(hoppings, shape: Tuple[int, int], n_orb: int) -> dict:
    """``{(dx, dy): T}`` with checked keys and complex ``(n_orb, n_orb)`` matrices (equal keys add up)."""
    if not isinstance(hoppings, Mapping):
        raise ValueError(
            f"hoppings must be a dict {{(dx, dy): T}}, got {type(hoppings).__name__}; "
            "use e.g. {(1, 0): T_x, (0, 1): T_y}"
        )
    out: dict = {}
    for d, T in hoppings.items():
        d = _check_displacement(d, shape)
        T = _check_matrix(f"hoppings[{d}]", T, n_orb)
        out[d] = out.get(d, 0) + T
    return out


def _check_disorder(disorder) -> float:
    """The Anderson disorder strength ``W >= 0`` (``None``: clean)."""
    if disorder is None:
        return 0.0
    try:
        W = float(disorder)
    except (TypeError, ValueError):
        raise ValueError(f"disorder must be a non-negative number W, got {disorder!r}") from None
    if not np.isfinite(W) or W < 0:
        raise ValueError(f"disorder W = {disorder!r} must be finite and >= 0 (the width of the uniform distribution)")
    return W


def _anderson_energies(W: float, n_sites: int, seedseq: np.random.SeedSequence) -> np.ndarray:
    """On-site energies ``W u``, ``u ~ U[-1/2, 1/2]``, one per site (zeros when clean: no draw)."""
    if W > 0:
        return W * (np.random.default_rng(seedseq).random(n_sites) - 0.5)
    return np.zeros(n_sites)


def _check_positions(positions, shape: Tuple[int, int]) -> np.ndarray:
    """Site positions as a finite ``(Lx * Ly, 2)`` float array (a copy)."""
    Lx, Ly = shape
    try:
        p = np.asarray(positions, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("positions must be a real array of shape (Lx, Ly, 2) or (Lx*Ly, 2)") from None
    if p.shape == (Lx, Ly, 2):
        p = p.reshape(Lx * Ly, 2)
    if p.shape != (Lx * Ly, 2):
        raise ValueError(
            f"positions has shape {p.shape}, expected (Lx, Ly, 2) = {(Lx, Ly, 2)} or (Lx*Ly, 2) "
            f"= {(Lx * Ly, 2)}"
        )
    if not np.all(np.isfinite(p)):
        raise ValueError("positions contain NaN or inf; give finite coordinates")
    return p.copy()


@strict_keywords
def check_real(name: str, value) -> float:
    """``float(value)``, or a ``ValueError`` naming ``name`` if it is not a finite real number.

    The check of every real model parameter (``Lattice2D.qwz``'s ``m``, ``Lattice2D.haldane``'s).
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not np.isfinite(v):
        raise ValueError(f"{name} = {value!r} must be finite")
    return v


def _shift(L: int, d: int, periodic: bool) -> sp.csr_matrix:
    """``L x L`` matrix with ``S[x + d, x] = 1`` (wrapped when periodic)."""
    x = np.arange(L)
    t = x + d
    if periodic:
        t = t % L
        ok = np.ones(L, dtype=bool)
    else:
        ok = (t >= 0) & (t < L)
    return sp.csr_matrix((np.ones(int(ok.sum())), (t[ok], x[ok])), shape=(L, L))


class Lattice2D:
    """A two-dimensional tight-binding lattice, clean or with Anderson disorder.

    Parameters
    ----------
    onsite : array_like, shape (n_orb, n_orb)
        Hermitian on-site matrix of a cell (a scalar for one orbital per cell).
    hoppings : dict {(dx, dy): array_like (n_orb, n_orb)}
        ``<r + d|H|r> = T`` for every cell ``r`` with ``r + d`` in the sample (or wrapped for a
        periodic axis); Hermitian conjugates are added, so give each bond once. ``(0, 0)`` is
        not allowed (put it in ``onsite``).
    shape : (int, int)
        ``(Lx, Ly)``, the number of cells along x and y.
    boundary : {"open", "periodic"} or (str, str)
        Common boundary, or one per axis ``(x, y)`` (e.g. ``("periodic", "open")``, a cylinder).
    disorder : float, optional
        Anderson disorder strength ``W >= 0``: on-site energy ``W u``, ``u ~ U[-1/2, 1/2]`` per
        site, the same on all orbitals of a site.
    seed : int, numpy.random.SeedSequence or None
        Seed of the disorder (``None`` draws fresh entropy, kept in :attr:`seed`). The draw is
        bitwise reproducible: the same seed gives the same on-site energies.
    positions : array_like, shape (Lx, Ly, 2) or (Lx * Ly, 2), optional
        Site (cell) positions for deformed or amorphous samples, used by the real-space marker.
        Default: the cell indices ``(x, y)``.

    Notes
    -----
    The Hamiltonian is ``H = 1 (x) onsite + sum_d [S_d (x) T_d + h.c.] + diag(W u) (x) 1``,
    with ``S_d`` the cell shift; it is built sparse in ``O(N)`` time and memory.

    Examples
    --------
    >>> lat = Lattice2D.qwz(1.0, (10, 10))
    >>> lat.hamiltonian().shape
    (200, 200)
    >>> lat.bloch(0.0, 0.0).shape
    (2, 2)
    """

    @strict_keywords
    def __init__(
        self,
        onsite,
        hoppings: Mapping[Tuple[int, int], object],
        shape: Tuple[int, int],
        boundary: BoundaryLike = "open",
        disorder: Optional[float] = None,
        seed: SeedLike = None,
        positions=None,
    ):
        self.onsite = _check_onsite(onsite)
        self.n_orb = int(self.onsite.shape[0])
        self.shape = _check_shape(shape)
        self.boundary = _check_boundary(boundary)
        self.hoppings = _check_hoppings(hoppings, self.shape, self.n_orb)
        self.disorder = _check_disorder(disorder)
        self._seedseq = make_seed_sequence(seed)
        self._energies = _anderson_energies(self.disorder, self.shape[0] * self.shape[1], self._seedseq)
        self._positions = None
        if positions is not None:
            self._positions = _check_positions(positions, self.shape)
            self._check_cell_area()

    def _check_cell_area(self) -> None:
        """``ValueError`` if custom positions fit cell vectors that span zero area (the marker needs an area)."""
        a = self._fitted_cell()
        if a is not None and abs(np.linalg.det(a)) <= 1e-9 * max(float(np.abs(a).max()) ** 2, 1e-300):
            raise ValueError(
                "positions are degenerate: the cell vectors a1, a2 fitted to them (position ~ origin "
                f"+ x a1 + y a2) are {a[0].tolist()} and {a[1].tolist()}, which span zero area (all "
                "positions coincide or lie on a line); the real-space marker needs positions that "
                "span two dimensions (a fitted cell area > 0), e.g. the default cell indices"
            )

    # ------------------------------------------------------------------ factories
    @classmethod
    @strict_keywords
    def qwz(cls, m: float, shape, boundary: BoundaryLike = "open", disorder=None, seed: SeedLike = None, positions=None):
        """Qi-Wu-Zhang model: ``h(k) = sin kx sx + sin ky sy + (m + cos kx + cos ky) sz``.

        ``onsite = m sz``, ``T_(1,0) = (sz + i sx)/2``, ``T_(0,1) = (sz + i sy)/2``. The Chern
        number is ``sign(m)`` for ``0 < |m| < 2`` and 0 for ``|m| > 2`` (gapless at
        ``m in {-2, 0, 2}``).
        """
        m = check_real("m", m)
        sx = np.array([[0, 1], [1, 0]], dtype=complex)
        sy = np.array([[0, -1j], [1j, 0]])
        sz = np.diag([1.0, -1.0]).astype(complex)
        lat = cls(m * sz, {(1, 0): (sz + 1j * sx) / 2, (0, 1): (sz + 1j * sy) / 2}, shape, boundary, disorder, seed, positions)
        lat.model = ("qwz", {"m": m})
        return lat

    @classmethod
    @strict_keywords
    def from_pythtb(cls, model, shape, boundary: BoundaryLike = "open", disorder=None, seed: SeedLike = None):
        """A lattice of ``shape`` cells from a 2D PythTB model (``pythtb.tb_model``, ``dim_k = 2``).

        PythTB's hopping ``set_hop(t, i, j, R)`` (``<i, 0|H|j, R> = t``) becomes
        ``hoppings[-R][i, j] = t``, intra-cell terms and site energies the on-site matrix (spin is
        the fastest orbital index for ``nspin = 2``). Cells sit at their integer (reduced)
        coordinates, as in every :class:`Lattice2D`: the Chern number is that of PythTB's reduced
        Brillouin zone, with tntopo's sign (QWZ: ``C = sign(m)``), which is opposite to the sign of
        PythTB's ``wf_array.berry_flux`` (it takes Berry phases as ``-Im ln prod <u_k|u_k+1>``).
        pythtb itself is not needed here (any object with its attributes works).

        Parameters
        ----------
        model : pythtb.tb_model
            Periodic in both directions (``dim_k = 2``).
        shape, boundary, disorder, seed
            As for :class:`Lattice2D`.

        Examples
        --------
        >>> import pythtb                                              # doctest: +SKIP
        >>> m = pythtb.tb_model(2, 2, [[1, 0], [0, 1]], [[0, 0], [0.5, 0.5]])   # doctest: +SKIP
        >>> lat = Lattice2D.from_pythtb(m, (20, 20))                   # doctest: +SKIP
        """
        from .._pythtb import read_model

        onsite, terms, n = read_model(model, 2)
        hoppings = {}
        for (Rx, Ry), T in terms:
            d = (-Rx, -Ry)
            hoppings[d] = hoppings.get(d, 0) + T
        lat = cls(onsite, hoppings, shape, boundary, disorder, seed)
        lat.model = ("pythtb", {"n_orb": n})
        return lat

    @classmethod
    @strict_keywords
    def haldane(
        cls, t1: float, t2: float, phi: float, M: float, shape, boundary: BoundaryLike = "open",
        disorder=None, seed: SeedLike = None, positions=None,
    ):
        """Haldane model on the honeycomb lattice (orbitals ``0 = A``, ``1 = B``).

        Lattice vectors ``a1 = (sqrt 3, 0)``, ``a2 = (sqrt 3 / 2, 3/2)`` (bond length 1); cell
        ``(x, y)`` sits at ``x a1 + y a2`` and B at A + (0, 1). Nearest neighbours ``t1``
        (``<B, r+d|H|A, r> = t1`` for ``d in {(0, 0), (1, -1), (0, -1)}``), second neighbours
        ``t2 exp(-+ i phi)`` on A/B along ``b in {(1, 0), (0, -1), (-1, 1)}``, sublattice mass
        ``+M`` on A, ``-M`` on B, so that

        ``h(k) = 2 t2 cos(phi) sum_b cos(k.b) + t1 (...) + [M - 2 t2 sin(phi) sum_b sin(k.b)] sz``.

        Topological (``|C| = 1``) for ``|M| < 3 sqrt(3) |t2 sin(phi)|`` with
        ``C = -sign(t2 sin phi)`` in the orientation of the cell indices (FHS, kx then ky);
        trivial otherwise. The default positions are the cell indices (unit cell area 1).
        """
        t1, t2, phi, M = (check_real(name, v) for name, v in (("t1", t1), ("t2", t2), ("phi", phi), ("M", M)))
        nn = np.array([[0, 0], [t1, 0]], dtype=complex)  # <B|.|A>
        nnn = np.diag([t2 * np.exp(-1j * phi), t2 * np.exp(1j * phi)])
        hops = {(1, -1): nn, (0, -1): nn.copy()}
        for d in ((1, 0), (0, -1), (-1, 1)):
            hops[d] = hops.get(d, 0) + nnn
        onsite = np.array([[M, t1], [t1, -M]], dtype=complex)
        lat = cls(onsite, hops, shape, boundary, disorder, seed, positions)
        lat.model = ("haldane", {"t1": t1, "t2": t2, "phi": phi, "M": M})
        return lat

    model: Tuple[str, dict] = ("custom", {})

    # ------------------------------------------------------------------ properties
    @property
    def Lx(self) -> int:
        return self.shape[0]

    @property
    def Ly(self) -> int:
        return self.shape[1]

    @property
    def n_sites(self) -> int:
        """Number of sites (cells) ``Lx * Ly``."""
        return self.shape[0] * self.shape[1]

    @property
    def dim(self) -> int:
        """Hilbert-space dimension ``n_sites * n_orb``."""
        return self.n_sites * self.n_orb

    @property
    def seed(self):
        """Entropy of the disorder seed: ``Lattice2D(..., seed=lat.seed)`` repeats the draw."""
        return self._seedseq.entropy

    @property
    def is_clean(self) -> bool:
        """True without disorder and with the default positions (translation invariant)."""
        return self.disorder == 0 and self._positions is None

    @property
    def is_periodic(self) -> bool:
        """True when both axes are periodic (a torus)."""
        return self.boundary == ("periodic", "periodic")

    @property
    def onsite_energies(self) -> np.ndarray:
        """Disorder energies per site, shape ``(Lx, Ly)`` (zeros for a clean lattice)."""
        return self._energies.reshape(self.shape).copy()

    @property
    def has_custom_positions(self) -> bool:
        return self._positions is not None

    def __repr__(self) -> str:
        name, params = self.model
        p = ", ".join(f"{k}={v:g}" for k, v in params.items())
        extra = f", disorder={self.disorder:g}, seed={self.seed}" if self.disorder else ""
        return f"Lattice2D<{name}{'(' + p + ')' if p else ''}, shape={self.shape}, boundary={self.boundary}{extra}>"

    # ------------------------------------------------------------------ operators
    def positions(self, per_orbital: bool = False) -> np.ndarray:
        """Site positions, shape ``(n_sites, 2)`` in basis order (``x * Ly + y``).

        With ``per_orbital=True`` each row is repeated ``n_orb`` times, shape ``(dim, 2)``, to
        match the basis index ``(x * Ly + y) * n_orb + orb``.
        """
        if self._positions is not None:
            p = self._positions.copy()
        else:
            Lx, Ly = self.shape
            x, y = np.meshgrid(np.arange(Lx), np.arange(Ly), indexing="ij")
            p = np.stack([x.ravel(), y.ravel()], axis=1).astype(float)
        return np.repeat(p, self.n_orb, axis=0) if per_orbital else p

    def _fitted_cell(self) -> Optional[np.ndarray]:
        """Rows ``a1, a2`` of the least-squares fit ``position ~ origin + x a1 + y a2`` of the custom
        positions on the cell indices (None for the default positions or a sample one cell wide)."""
        Lx, Ly = self.shape
        if self._positions is None or Lx < 2 or Ly < 2:
            return None
        x, y = np.meshgrid(np.arange(Lx), np.arange(Ly), indexing="ij")
        A = np.stack([np.ones(self.n_sites), x.ravel(), y.ravel()], axis=1)
        coef, *_ = np.linalg.lstsq(A, self._positions, rcond=None)
        return coef[1:]

    @property
    def cell_area(self) -> float:
        """Area per site of the embedding: 1 for the default positions.

        For custom positions, ``|det [a1 a2]|`` of the least-squares fit
        ``position ~ origin + x a1 + y a2`` on the cell indices (positions whose fit spans no
        area are refused when the lattice is made).
        """
        a = self._fitted_cell()
        return 1.0 if a is None else float(abs(np.linalg.det(a)))

    @property
    def orientation(self) -> int:
        """``+1`` if the embedding keeps the orientation of the cell indices, ``-1`` if it mirrors
        it: the sign of ``det [a1 a2]`` of the fitted cell (see :attr:`cell_area`); ``+1`` for the
        default positions.

        The real-space marker sees the positions; the routes that work on cell indices
        (``"fhs"``, ``"bott"``) multiply their Chern number by this sign, so that every route
        gives the Chern number in the orientation of the positions.
        """
        a = self._fitted_cell()
        return 1 if a is None or np.linalg.det(a) > 0 else -1

    def hamiltonian(self, sparse: bool = False):
        """The ``dim x dim`` Hamiltonian (dense numpy array, or scipy CSR with ``sparse=True``)."""
        Lx, Ly = self.shape
        px, py = (b == "periodic" for b in self.boundary)
        n = self.n_sites
        H = sp.kron(sp.identity(n, format="csr"), sp.csr_matrix(self.onsite), format="csr")
        for d, T in self.hoppings.items():
            S = sp.kron(_shift(Lx, d[0], px), _shift(Ly, d[1], py), format="csr")
            K = sp.kron(S, sp.csr_matrix(T), format="csr")
            H = H + K + K.conj().T
        if self.disorder > 0:
            H = H + sp.diags(np.repeat(self._energies, self.n_orb), format="csr")
        H = H.tocsr()
        H.sum_duplicates()
        if not np.any(H.data.imag):
            H = H.real.tocsr()
        return H if sparse else H.toarray()

    def bloch(self, kx, ky) -> np.ndarray:
        """Bloch Hamiltonian ``h(k) = onsite + sum_d (T_d exp(-i k.d) + h.c.)`` of a clean lattice.

        ``kx`` and ``ky`` broadcast; the result has shape ``broadcast(kx, ky).shape + (n_orb, n_orb)``.
        """
        if self.disorder > 0:
            raise ValueError(
                "bloch() needs a clean (translation-invariant) lattice but this one has disorder; "
                "use a real-space route (chern_number(method='bott' or 'marker'))"
            )
        kx, ky = np.broadcast_arrays(np.asarray(kx, dtype=float), np.asarray(ky, dtype=float))
        h = np.broadcast_to(self.onsite, kx.shape + self.onsite.shape).astype(complex)
        for (dx, dy), T in self.hoppings.items():
            ph = np.exp(-1j * (kx * dx + ky * dy))[..., None, None]
            h = h + ph * T + np.conj(ph) * T.conj().T
        return h

    def with_boundary(self, boundary: BoundaryLike) -> "Lattice2D":
        """The same lattice (hoppings, disorder, seed, positions) with another boundary."""
        lat = Lattice2D(self.onsite, self.hoppings, self.shape, boundary, self.disorder, self._seedseq, self._positions)
        lat.model = self.model
        return lat

    def basis_index(self, x, y, orb=0):
        """Basis index ``(x * Ly + y) * n_orb + orb`` (arrays broadcast)."""
        return (np.asarray(x) * self.Ly + np.asarray(y)) * self.n_orb + np.asarray(orb)

    def window(self, xs, ys) -> "Lattice2D":
        """The open sub-lattice on cells ``xs x ys`` (consecutive cell indices, wrapped modulo
        ``Lx``/``Ly`` on periodic axes), with the same hoppings and the same disorder energies.

        An axis that the window covers entirely keeps its boundary. Used by the ``O(N)`` local
        marker: a window costs ``O(len(xs) * len(ys))``, independent of the lattice size.
        """
        xs = np.asarray(xs, dtype=int)
        ys = np.asarray(ys, dtype=int)
        for name, idx, L, b in (("xs", xs, self.Lx, self.boundary[0]), ("ys", ys, self.Ly, self.boundary[1])):
            if idx.ndim != 1 or idx.size == 0 or idx.size > L:
                raise ValueError(f"window {name} must be 1 to {L} consecutive cell indices")
            if b == "open" and (idx.min() < 0 or idx.max() >= L):
                raise ValueError(f"window {name} leaves the open lattice (0..{L - 1})")
        wx, wy = xs.size, ys.size
        bnd = tuple(
            b if n == L else "open" for b, n, L in zip(self.boundary, (wx, wy), self.shape)
        )
        hops = {d: T for d, T in self.hoppings.items() if abs(d[0]) < wx and abs(d[1]) < wy}
        cx, cy = np.meshgrid(xs % self.Lx, ys % self.Ly, indexing="ij")
        cells = (cx * self.Ly + cy).ravel()
        sub = Lattice2D(self.onsite, hops, (wx, wy), bnd, None, None, None)
        # the window's positions are the lattice's (checked when it was made; a narrow window of a
        # deformed sample may fit no area of its own, and needs none)
        sub._positions = None if self._positions is None else self._positions[cells].copy()
        sub.disorder = self.disorder
        sub._energies = self._energies[cells].copy()
        sub.model = self.model
        return sub


@strict_keywords
def chern_bulk_region(shape) -> Tuple[slice, slice]:
    """Default bulk region: cells ``L//4 <= x < L - L//4`` along each axis."""
    Lx, Ly = shape
    return slice(Lx // 4, Lx - Lx // 4), slice(Ly // 4, Ly - Ly // 4)


@strict_keywords
def check_region(region, shape) -> Tuple[slice, slice]:
    """A bulk region ``(slice_x, slice_y)`` checked against ``shape`` (``None``: :func:`chern_bulk_region`)."""
    if region is None:
        return chern_bulk_region(shape)
    try:
        rx, ry = region
    except (TypeError, ValueError):
        raise ValueError(f"region must be a pair of slices (x, y), got {region!r}") from None
    out = []
    for r, L in zip((rx, ry), shape):
        if not isinstance(r, slice):
            raise ValueError(f"region must be a pair of slices, e.g. (slice(10, 30), slice(10, 30)), got {region!r}")
        start, stop, step = r.indices(L)
        if step != 1 or stop <= start:
            raise ValueError(f"region {region!r} is empty or strided within shape {shape}; give slices of step 1")
        out.append(slice(start, stop))
    return out[0], out[1]
