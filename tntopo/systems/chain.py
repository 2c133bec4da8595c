"""SSH-family chiral chains: single chains, user Hamiltonians and random batches.

Conventions (see the *Conventions* page of the docs):

* cells ``n = 0..N-1`` with sites ``A_n`` and ``B_n``; chiral operator ``+1`` on A, ``-1`` on B;
* ``hoppings={m: t_m}`` means ``<A_n|H|B_{n-m}> = t_m``, so the A->B block has
  ``h[n, n-m] = t_m``; the standard SSH chain is ``{0: v, 1: w}`` and has ``W = +1`` for
  ``|w| > |v|``; the Bloch function is ``h(k) = sum_m t_m exp(i m k)``;
* ``disorder={m: W_m}`` gives every bond of range ``m`` its own amplitude
  ``t_m + W_m * u`` with ``u ~ U[-1/2, 1/2]`` drawn from ``seed``.

A chain stores its bonds (``O(N)`` memory); dense matrices are built only on request.
"""
from __future__ import annotations

import numbers
from typing import Iterator, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import scipy.sparse as sp

from .._laurent import GAP_TOL, certified_zero_count, laurent_coefficients, sampled_min_abs
from .._typing import BOUNDARIES, Boundary, strict_keywords
from ..errors import ChiralSymmetryError, GaplessError, PrecisionError

__all__ = ["SSHChain", "ChiralHamiltonian", "ChainBatch", "sample_chains", "make_seed_sequence"]

SeedLike = Union[None, int, np.random.SeedSequence]
MIN_CELLS = 4


@strict_keywords
def make_seed_sequence(seed: SeedLike) -> np.random.SeedSequence:
    """Return a :class:`numpy.random.SeedSequence` for ``seed`` (int, SeedSequence or None).

    ``None`` draws fresh entropy; the entropy is kept on the sequence so the draw can be
    repeated (``SSHChain.seed`` reports it).
    """
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(
            f"seed must be a non-negative integer, a numpy SeedSequence or None, got {seed!r}; "
            "pass e.g. seed=0"
        )
    return np.random.SeedSequence(int(seed))


def check_amplitude(name: str, key, value) -> complex:
    try:
        z = complex(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}[{key!r}] = {value!r} is not a number; give a real or complex amplitude") from None
    if not np.isfinite(z.real) or not np.isfinite(z.imag):
        raise ValueError(f"{name}[{key!r}] = {value!r} is not finite (NaN or inf); give a finite amplitude")
    return z


def check_range(name: str, m) -> int:
    if isinstance(m, (bool, np.bool_)) or not isinstance(m, numbers.Integral):
        raise ValueError(
            f"{name} keys are integer hopping ranges m (bond A_n -> B_(n-m)), got {m!r}; "
            "use e.g. {0: 0.5, 1: 1.0}"
        )
    return int(m)


def check_n_cells(n_cells) -> int:
    if isinstance(n_cells, (bool, np.bool_)) or not isinstance(n_cells, numbers.Integral):
        raise ValueError(f"n_cells must be an integer, got {n_cells!r}")
    if n_cells < MIN_CELLS:
        raise ValueError(
            f"n_cells={n_cells} is too small: a chain needs at least {MIN_CELLS} cells for a bulk "
            "region; use a longer chain"
        )
    return int(n_cells)


def check_boundary(boundary) -> str:
    if boundary not in BOUNDARIES:
        raise ValueError(f"unknown boundary {boundary!r}; choose one of {set(BOUNDARIES)}")
    return boundary


def check_fits(ranges: Sequence[int], n_cells: int, boundary: str) -> None:
    if not ranges:
        return
    r = max(abs(m) for m in ranges)
    if boundary == "open" and r >= n_cells:
        raise ValueError(
            f"hopping range {r} does not fit an open chain of {n_cells} cells; use n_cells > {r}"
        )
    if boundary == "periodic" and 2 * r >= n_cells:
        raise ValueError(
            f"hopping range {r} does not fit a periodic chain of {n_cells} cells (bonds would wrap "
            f"onto each other); use n_cells > {2 * r}"
        )


# the validators other modules import (historical underscore names kept as aliases)
_check_amplitude = check_amplitude
_check_range = check_range
_check_n_cells = check_n_cells
_check_boundary = check_boundary
_check_fits = check_fits


class SSHChain:
    """A one-dimensional chiral chain with hoppings of any range, clean or disordered.

    Parameters
    ----------
    hoppings : dict {int: complex}
        ``{m: t_m}`` with ``<A_n|H|B_{n-m}> = t_m``. Standard SSH: ``{0: v, 1: w}``.
    n_cells : int
        Number of unit cells ``N`` (at least 4).
    boundary : {"open", "periodic"}
        Open chain, or ring (bonds of range ``m`` wrap around).
    disorder : dict {int: float}, optional
        ``{m: W_m}``: each bond of range ``m`` gets ``t_m + W_m u``, ``u ~ U[-1/2, 1/2]``.
        Ranges absent from ``hoppings`` start from ``t_m = 0``.
    seed : int, numpy.random.SeedSequence or None
        Seed of the disorder. ``None`` draws fresh entropy (kept in :attr:`seed`).

    Notes
    -----
    Bond amplitudes are stored per range as arrays of length ``N`` indexed by the A cell ``n``
    (``O(N)`` memory): chains of millions of cells are cheap to build. An open chain and a
    periodic chain with the same seed share all their common bonds.

    Examples
    --------
    >>> chain = SSHChain({0: 0.5, 1: 1.0}, n_cells=40)
    >>> h = chain.hopping_block()        # (40, 40), h[n, n-1] = 1.0
    """

    @strict_keywords
    def __init__(
        self,
        hoppings: Mapping[int, complex],
        n_cells: int,
        boundary: Boundary = "open",
        disorder: Optional[Mapping[int, float]] = None,
        seed: SeedLike = None,
    ):
        if not isinstance(hoppings, Mapping) or not hoppings:
            raise ValueError(
                f"hoppings must be a non-empty dict {{range m: amplitude t_m}}, got {hoppings!r}; "
                "use e.g. {0: 0.5, 1: 1.0}"
            )
        self.n_cells = _check_n_cells(n_cells)
        self.boundary = _check_boundary(boundary)
        self.hoppings = {}
        for m, t in hoppings.items():
            self.hoppings[_check_range("hoppings", m)] = _check_amplitude("hoppings", m, t)
        dis = {}
        if disorder is not None:
            if not isinstance(disorder, Mapping):
                raise ValueError(f"disorder must be a dict {{range m: strength W_m}}, got {disorder!r}")
            for m, w in disorder.items():
                z = _check_amplitude("disorder", m, w)
                if z.imag != 0 or z.real < 0:
                    raise ValueError(
                        f"disorder[{m!r}] = {w!r}: disorder strengths are real and >= 0 "
                        "(the width of the uniform distribution)"
                    )
                if z.real > 0:
                    dis[_check_range("disorder", m)] = z.real
        self.disorder = dis
        self.ranges: Tuple[int, ...] = tuple(sorted(set(self.hoppings) | set(dis)))
        _check_fits(self.ranges, self.n_cells, self.boundary)
        self._seedseq = make_seed_sequence(seed)
        is_complex = any(t.imag != 0 for t in self.hoppings.values())
        dtype = np.complex128 if is_complex else np.float64
        bonds = np.empty((len(self.ranges), self.n_cells), dtype=dtype)
        for i, m in enumerate(self.ranges):
            t = self.hoppings.get(m, 0.0)
            bonds[i] = t if is_complex else t.real
        if dis:
            rng = np.random.default_rng(self._seedseq)
            u = rng.random((len(dis), self.n_cells)) - 0.5
            for j, m in enumerate(sorted(dis)):
                bonds[self.ranges.index(m)] += dis[m] * u[j]
        self._bonds = bonds
        self._clean = not dis
        self._explicit = False

    @classmethod
    @strict_keywords
    def from_pythtb(cls, model, n_cells: int, boundary: Boundary = "open", *, sublattice=(0, 1),
                    atol: float = 1e-12) -> "SSHChain":
        """The chain of a 1D PythTB model (``pythtb.tb_model``, ``dim_k = 1``) with two orbitals A, B.

        PythTB's hopping ``set_hop(t, i, j, R)`` (``<i, 0|H|j, R> = t``) between A and B becomes
        ``hoppings[-R] = t`` (from A to B) or ``hoppings[R] = conj(t)`` (from B to A), so that
        ``<A_n|H|B_{n-m}> = t_m`` as everywhere in tntopo. pythtb itself is not needed here.

        Parameters
        ----------
        model : pythtb.tb_model
            Periodic in one direction, two orbitals per cell, chiral: no site energies and no
            A-A or B-B hoppings.
        n_cells : int
        boundary : {"open", "periodic"}
        sublattice : (int, int)
            The orbitals that are A and B (default: orbital 0 is A). Exchanging them flips the
            sign of the winding number.
        atol : float
            Same-sublattice terms larger than this break chiral symmetry.

        Raises
        ------
        ValueError
            Not a 1D two-orbital model.
        ChiralSymmetryError
            Site energies or same-sublattice hoppings.

        Examples
        --------
        >>> import pythtb                                              # doctest: +SKIP
        >>> m = pythtb.tb_model(1, 1, [[1.0]], [[0.0], [0.5]])         # doctest: +SKIP
        >>> m.set_hop(0.5, 0, 1, [0]); m.set_hop(1.0, 1, 0, [1])       # doctest: +SKIP
        >>> SSHChain.from_pythtb(m, 40).hoppings                      # doctest: +SKIP
        {0: (0.5+0j), 1: (1+0j)}
        """
        from .._pythtb import read_model

        onsite, terms, n = read_model(model, 1)
        if n != 2:
            raise ValueError(f"the PythTB model has {n} orbitals per cell; an SSHChain needs exactly two (A and B)")
        a, b = (int(v) for v in sublattice)
        if sorted((a, b)) != [0, 1]:
            raise ValueError(f"sublattice must name the two orbitals (0, 1) or (1, 0), got {sublattice!r}")
        scale = max(1.0, float(np.abs(onsite).max()), *(float(np.abs(T).max()) for _, T in terms))
        if abs(onsite[a, a]) > atol * scale or abs(onsite[b, b]) > atol * scale:
            raise ChiralSymmetryError("the PythTB model has site energies, which break chiral symmetry; "
                                      "set them to zero (set_onsite([0, 0]))")
        hop = {}
        if onsite[a, b] != 0:
            hop[0] = onsite[a, b]
        for (R,), T in terms:
            if abs(T[a, a]) > atol * scale or abs(T[b, b]) > atol * scale:
                raise ChiralSymmetryError(f"the PythTB model hops from A to A or B to B (R = {R}), which breaks "
                                          "chiral symmetry; only A-B hoppings are allowed")
            if T[a, b] != 0:
                hop[-R] = hop.get(-R, 0) + T[a, b]
            if T[b, a] != 0:
                hop[R] = hop.get(R, 0) + np.conj(T[b, a])
        if not hop:
            raise ValueError("the PythTB model has no hopping between its two orbitals")
        return cls({m: complex(t) for m, t in sorted(hop.items())}, n_cells, boundary)

    @classmethod
    def from_bonds(
        cls,
        bonds: Mapping[int, Union[complex, Sequence[complex], np.ndarray]],
        boundary: Boundary = "open",
        *,
        n_cells: Optional[int] = None,
    ) -> "SSHChain":
        """A chain with explicit amplitudes for every bond.

        Parameters
        ----------
        bonds : dict {int: array_like}
            ``{m: b_m}`` with ``b_m[n]`` the amplitude of the bond ``A_n -> B_{n-m}``
            (``<A_n|H|B_{n-m}> = b_m[n]``), an array of length ``N`` per range; a scalar gives
            every bond of that range the same amplitude. Real or complex, finite.
        boundary : {"open", "periodic"}
            On a ring, ``b_m[n]`` for ``n - m`` outside ``0..N-1`` is the bond that wraps
            around to ``B_{(n - m) mod N}``. On an open chain those entries are not part of the
            Hamiltonian: they are kept in :attr:`bond_array` (so :meth:`with_boundary`
            (``"periodic"``) closes the ring with them) but ignored otherwise.
        n_cells : int, optional
            Number of cells; needed only when every value is a scalar, otherwise it must equal
            the arrays' length.

        Returns
        -------
        SSHChain
            :attr:`is_clean` is True exactly when every range has one amplitude (over the bonds
            that are part of the Hamiltonian); :attr:`hoppings` then holds it, otherwise the
            mean amplitude of each range. :attr:`disorder` is empty and :attr:`seed` is None.
            Every method, ``method="twisted"`` included on rings, uses the given bonds.

        Examples
        --------
        >>> import numpy as np
        >>> v = np.full(50, 0.4); w = np.linspace(0.9, 1.1, 50)
        >>> ring = SSHChain.from_bonds({0: v, 1: w}, boundary="periodic")
        >>> int(tntopo.winding_number(ring, method="twisted"))  # doctest: +SKIP
        1
        """
        if not isinstance(bonds, Mapping) or not bonds:
            raise ValueError(
                f"bonds must be a non-empty dict {{range m: amplitudes of the bonds A_n -> B_(n-m)}}, "
                f"got {bonds!r}; use e.g. {{0: np.full(40, 0.5), 1: np.ones(40)}}"
            )
        boundary = check_boundary(boundary)
        arrays = {}
        for m, b in bonds.items():
            m = check_range("bonds", m)
            if m in arrays:
                raise ValueError(f"bonds has range {m} twice; give each range once")
            try:
                a = np.asarray(b)
                if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
                    raise TypeError
                a = a.astype(np.complex128)
            except (TypeError, ValueError):
                raise ValueError(f"bonds[{m}] must be numbers (an array of amplitudes), got {b!r}") from None
            if a.ndim > 1:
                raise ValueError(f"bonds[{m}] must be a 1D array (one amplitude per cell) or a scalar, got shape {a.shape}")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"bonds[{m}] contains NaN or inf; give finite amplitudes")
            arrays[m] = a
        lengths = {a.shape[0] for a in arrays.values() if a.ndim == 1}
        if len(lengths) > 1:
            raise ValueError(f"bonds arrays have different lengths {sorted(lengths)}; give one amplitude per cell (N each)")
        if lengths:
            N = lengths.pop()
            if n_cells is not None and check_n_cells(n_cells) != N:
                raise ValueError(f"n_cells={n_cells} does not match the bond arrays' length {N}")
        elif n_cells is None:
            raise ValueError("every bonds value is a scalar: pass n_cells=..., or use SSHChain(hoppings, n_cells)")
        else:
            N = n_cells
        N = check_n_cells(N)
        ranges = tuple(sorted(arrays))
        check_fits(ranges, N, boundary)
        table = np.empty((len(ranges), N), dtype=np.complex128)
        for i, m in enumerate(ranges):
            table[i] = arrays[m]
        if not np.any(table.imag):
            table = table.real.copy()
        self = cls.__new__(cls)
        self.n_cells, self.boundary, self.disorder = N, boundary, {}
        self.ranges = ranges
        self._seedseq = None
        self._bonds = table
        self._explicit = True
        n = np.arange(N)
        # the bonds that are part of the Hamiltonian (an open chain drops those leaving it)
        parts = [table[i] if boundary == "periodic" else table[i][(n - m >= 0) & (n - m < N)]
                 for i, m in enumerate(ranges)]
        clean = all(bool(np.all(p == p[0])) for p in parts)
        self.hoppings = {m: complex(p[0] if clean else p.mean()) for m, p in zip(ranges, parts)}
        self._clean = clean
        return self

    # ------------------------------------------------------------------ properties
    @property
    def seed(self):
        """Entropy of the disorder seed (an int): ``SSHChain(..., seed=chain.seed)`` repeats the draw.

        None for chains built with :meth:`from_bonds`.
        """
        return None if self._seedseq is None else self._seedseq.entropy

    @property
    def is_clean(self) -> bool:
        """True when the chain is translation invariant (no disorder; uniform explicit bonds)."""
        return self._clean

    @property
    def dtype(self):
        return self._bonds.dtype

    @property
    def bond_array(self) -> np.ndarray:
        """All bond amplitudes, shape ``(len(ranges), n_cells)``, read-only: row ``i`` holds the
        bonds of range ``ranges[i]`` indexed by A cell ``n`` (bond ``A_n -> B_{n - m}``).

        Unlike :meth:`bonds`, entries of an open chain whose partner lies outside are kept as
        drawn (they are not part of the Hamiltonian).
        """
        view = self._bonds.view()
        view.flags.writeable = False
        return view

    def bonds(self, m: int) -> np.ndarray:
        """Bond amplitudes of range ``m`` indexed by A cell ``n`` (bond ``A_n -> B_{n-m}``).

        For an open chain, entries whose partner ``n - m`` lies outside the chain are set to 0.
        """
        m = int(m)
        if m not in self.ranges:
            return np.zeros(self.n_cells, dtype=self.dtype)
        b = self._bonds[self.ranges.index(m)].copy()
        if self.boundary == "open":
            n = np.arange(self.n_cells)
            b[(n - m < 0) | (n - m >= self.n_cells)] = 0
        return b

    def _coo(self):
        from .._bonds import bond_coo  # the one bonds -> matrix construction

        return bond_coo(self._bonds, self.ranges, self.n_cells, self.boundary)[:3]

    def hopping_block(self, sparse: bool = False):
        """The ``N x N`` A->B block ``h`` with ``h[n, n-m] = t_m`` (dense, or scipy CSR if ``sparse``)."""
        r, c, v = self._coo()
        h = sp.csr_matrix((v, (r, c)), shape=(self.n_cells, self.n_cells), dtype=self.dtype)
        return h if sparse else h.toarray()

    def hamiltonian(self, sparse: bool = False):
        """The ``2N x 2N`` Hamiltonian ``[[0, h], [h^dagger, 0]]`` in the basis (A_0..A_{N-1}, B_0..B_{N-1})."""
        h = self.hopping_block(sparse=True)
        H = sp.bmat([[None, h], [h.conj().T, None]], format="csr")
        return H if sparse else H.toarray()

    def bloch(self, k) -> np.ndarray:
        """Bloch function ``h(k) = sum_m t_m exp(i m k)`` of the clean chain (array of k)."""
        k = np.asarray(k, dtype=float)
        return sum(t * np.exp(1j * m * k) for m, t in self.hoppings.items())

    def with_boundary(self, boundary: Boundary) -> "SSHChain":
        """The same chain (same hoppings, disorder and seed, or the same explicit bonds) with another boundary."""
        if self._explicit:
            return SSHChain.from_bonds(dict(zip(self.ranges, self._bonds)), boundary)
        return SSHChain(self.hoppings, self.n_cells, boundary, self.disorder, self._seedseq)

    def graph(self):
        """A :class:`networkx.Graph` of sites and bonds.

        Nodes are ``("A", n)`` and ``("B", n)`` with attributes ``sublattice`` (+1 on A, -1 on
        B) and ``cell``; edges carry ``hopping`` (amplitude A->B) and ``range`` m.
        """
        import networkx as nx

        G = nx.Graph()
        for n in range(self.n_cells):
            G.add_node(("A", n), sublattice=+1, cell=n)
            G.add_node(("B", n), sublattice=-1, cell=n)
        N = self.n_cells
        for i, m in enumerate(self.ranges):
            for n in range(N):
                c = n - m
                if self.boundary == "open" and not (0 <= c < N):
                    continue
                t = self._bonds[i, n]
                if t != 0:
                    G.add_edge(("A", n), ("B", c % N), hopping=t, range=m)
        return G

    def __repr__(self) -> str:
        if self._explicit:
            return (f"SSHChain.from_bonds(<ranges {list(self.ranges)}>, n_cells={self.n_cells}, "
                    f"boundary={self.boundary!r}{'' if self._clean else ', non-uniform'})")
        hop = {m: (t.real if t.imag == 0 else t) for m, t in self.hoppings.items()}
        s = f"SSHChain(hoppings={hop}, n_cells={self.n_cells}, boundary={self.boundary!r}"
        if self.disorder:
            s += f", disorder={self.disorder}, seed={self.seed}"
        return s + ")"


class ChiralHamiltonian:
    """A user's own chiral Hamiltonian, split into its A->B hopping block.

    Parameters
    ----------
    H : array_like, shape (2N, 2N)
        Hermitian Hamiltonian (dense array or scipy sparse matrix).
    sublattice : array_like of {+1, -1} or bool, shape (2N,), optional
        Chiral eigenvalue of each site (+1 / True on A). If omitted, the standard basis
        (A_0..A_{N-1}, B_0..B_{N-1}) is tried first, then a bipartition of the hopping graph
        is inferred with networkx, with the lowest-index site of each connected component on A.
        Exchanging A and B flips the sign of the winding number.
    positions : array_like, shape (2N,), optional
        Cell coordinate of each site (the position operator ``X`` of the winding number; A and B
        of one cell share it). If omitted: ``index mod N`` in the standard basis, otherwise the
        order in which each sublattice's sites appear.
    atol : float
        Entries of the A-A and B-B blocks larger than this break chiral symmetry.

    Raises
    ------
    ChiralSymmetryError
        The A-A or B-B block is non-zero, the sublattices differ in size, or no bipartition exists.
    """

    @strict_keywords
    def __init__(self, H, sublattice=None, positions=None, atol: float = 1e-10):
        if sp.issparse(H):
            H = H.toarray()
        H = np.asarray(H)
        if H.ndim != 2 or H.shape[0] != H.shape[1]:
            raise ValueError(f"H must be a square (2N, 2N) matrix, got shape {H.shape}")
        if not np.issubdtype(H.dtype, np.number):
            raise ValueError(f"H must be numeric, got dtype {H.dtype}")
        if not np.all(np.isfinite(H)):
            raise ValueError("H contains NaN or inf entries; give a finite Hamiltonian")
        if H.shape[0] % 2 or H.shape[0] < 2 * MIN_CELLS:
            raise ValueError(
                f"H has shape {H.shape}: it needs an even size 2N with N >= {MIN_CELLS} cells"
            )
        scale = max(np.abs(H).max(), 1.0)
        if np.abs(H - H.conj().T).max() > atol * scale:
            raise ValueError("H is not Hermitian (H != H^dagger); pass a Hermitian Hamiltonian")
        n2 = H.shape[0]
        if sublattice is None:
            std = np.arange(n2) < n2 // 2
            if self._violation(H, std) <= atol * scale:
                sublattice = std
            else:
                sublattice = self._infer_sublattice(H, atol * scale)
        gamma = np.asarray(sublattice)
        if gamma.shape != (n2,):
            raise ValueError(f"sublattice must have shape ({n2},), got {gamma.shape}")
        isA = gamma > 0 if gamma.dtype != bool else gamma
        if isA.sum() != n2 - isA.sum():
            raise ChiralSymmetryError(
                f"sublattices differ in size ({isA.sum()} A vs {n2 - isA.sum()} B sites); the "
                "winding number needs a square A->B block: check the sublattice labels"
            )
        viol = self._violation(H, isA)
        if viol > atol * scale:
            raise ChiralSymmetryError(
                f"H is not chiral: its A-A or B-B block has entries up to {viol:.3g} (> atol={atol:g}); "
                "remove on-site/same-sublattice terms or pass the right `sublattice`"
            )
        idxA, idxB = np.flatnonzero(isA), np.flatnonzero(~isA)
        N = len(idxA)
        if positions is None:
            if np.array_equal(idxA, np.arange(N)):
                pos = np.arange(n2) % N
            else:
                pos = np.empty(n2)
                pos[idxA] = np.arange(N)
                pos[idxB] = np.arange(N)
        else:
            pos = np.asarray(positions, dtype=float)
            if pos.shape != (n2,) or not np.all(np.isfinite(pos)):
                raise ValueError(f"positions must be {n2} finite cell coordinates, got shape {pos.shape}")
        oA = idxA[np.argsort(pos[idxA], kind="stable")]
        oB = idxB[np.argsort(pos[idxB], kind="stable")]
        self.H = H
        self.n_cells = N
        self.sublattice = np.where(isA, 1, -1)
        self.positions_A = pos[oA].astype(float)
        self.positions_B = pos[oB].astype(float)
        self._h = H[np.ix_(oA, oB)]

    @staticmethod
    def _violation(H, isA) -> float:
        a, b = H[np.ix_(isA, isA)], H[np.ix_(~isA, ~isA)]
        return max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0))

    @staticmethod
    def _infer_sublattice(H, tol):
        import networkx as nx

        G = nx.Graph()
        G.add_nodes_from(range(H.shape[0]))
        r, c = np.nonzero(np.abs(H) > tol)
        G.add_edges_from((int(i), int(j)) for i, j in zip(r, c) if i != j)
        if any(abs(H[i, i]) > tol for i in range(H.shape[0])):
            raise ChiralSymmetryError(
                "H has on-site terms, which break chiral symmetry; remove them or pass `sublattice`"
            )
        try:
            color = nx.bipartite.color(G)
        except nx.NetworkXError:
            raise ChiralSymmetryError(
                "H is not chiral: its hopping graph has odd loops, so no A/B split exists; "
                "check the Hamiltonian or pass `sublattice`"
            ) from None
        # in each connected component the lowest-index site is on A (the choice of A vs B
        # flips the sign of W; pass `sublattice` to fix it otherwise)
        isA = np.zeros(H.shape[0], bool)
        for comp in nx.connected_components(G):
            first = min(comp)
            for i in comp:
                isA[i] = color[i] == color[first]
        return isA

    def hopping_block(self) -> np.ndarray:
        """The ``N x N`` A->B block, rows and columns sorted by cell position."""
        return self._h.copy()

    def hamiltonian(self) -> np.ndarray:
        return self.H.copy()

    def __repr__(self) -> str:
        return f"ChiralHamiltonian(n_cells={self.n_cells})"


# ---------------------------------------------------------------------------------- batches
#: Dense Laurent coefficients ``c[:, m - m_min]`` of per-sample hoppings over ``ranges`` (one
#: construction for the whole package: :func:`tntopo._laurent.laurent_coefficients`).
_bloch_coefficients = laurent_coefficients


def certified_windings(c, m_min: int, check_gap: bool = True, gap_tol: float = GAP_TOL):
    """Certified winding numbers of Laurent polynomials ``sum_k c[:, k] z^(k + m_min)``.

    The one place where a certified zero count (:func:`tntopo._laurent.certified_zero_count`)
    becomes an integer or an error; :func:`tntopo.invariants.winding.exact.bloch_winding_coefficients`
    is this function.

    Parameters
    ----------
    c : array_like, shape (B, d + 1)
        Coefficients (e.g. from :func:`tntopo._laurent.laurent_coefficients`).
    m_min : int
        Power of the first column.
    check_gap : bool
        Raise :class:`~tntopo.GaplessError` if any polynomial is gapless. With ``False`` the
        gapless rows get ``margin = 0`` (and an uncertified ``W``) for the caller to handle.
    gap_tol : float
        Zeros within this distance of the unit circle mean gapless.

    Returns
    -------
    W : ndarray of int, shape (B,)
    margin : ndarray, shape (B,)
        ``min | |z_i| - 1 |`` over the zeros (the distance to a transition); 0 for gapless rows.

    Raises
    ------
    GaplessError
        With ``check_gap``, if a polynomial is gapless.
    PrecisionError
        If the companion-matrix count and the argument-principle count disagree (never
        returned as a number, whatever ``check_gap``).
    """
    W, margin, _, status = certified_zero_count(c, m_min, gap_tol=gap_tol)
    if np.any(status == 2):
        bad = np.flatnonzero(status == 2)
        raise PrecisionError(
            f"{len(bad)} Bloch polynomial(s) (e.g. sample {bad[0]}) got different zero counts from "
            "the companion matrix and the argument principle: the coefficients are too badly scaled "
            "to certify the winding number; rescale the hoppings or use method='dense'"
        )
    margin = np.where(status == 1, 0.0, margin)
    if check_gap and np.any(status == 1):
        bad = np.flatnonzero(status == 1)
        raise GaplessError(
            f"{len(bad)} system(s) are gapless (h(k) = 0 for some k, e.g. sample {bad[0]}): the winding "
            "number is undefined at a phase transition; move the hoppings away from it or use "
            "method='dense' for a real-space value"
        )
    return W, margin


@strict_keywords
class ChainBatch:
    """Many chains of one shape: per-sample hoppings over fixed ranges, plus shared disorder.

    Sample ``i`` is the :class:`SSHChain` ``batch[i]``; its disorder is seeded by
    ``SeedSequence(seed, spawn_key=(i,))`` so it does not depend on batch size or order.

    Attributes
    ----------
    hoppings : ndarray, shape (B, len(ranges))
        Clean amplitudes ``t_m`` of each sample.
    ranges : tuple of int
    n_cells : int
    boundary : {"open", "periodic"}
    disorder : dict or None
    seed : int
    """

    def __init__(self, hoppings, ranges, n_cells, boundary="open", disorder=None, seed=0):
        self.hoppings = np.asarray(hoppings)
        self.ranges = tuple(int(m) for m in ranges)
        if self.hoppings.ndim != 2 or self.hoppings.shape[1] != len(self.ranges):
            raise ValueError(
                f"hoppings must have shape (B, {len(self.ranges)}) for ranges {self.ranges}, "
                f"got {self.hoppings.shape}"
            )
        if not np.all(np.isfinite(self.hoppings)):
            raise ValueError("hoppings contain NaN or inf; give finite amplitudes")
        self.n_cells = _check_n_cells(n_cells)
        self.boundary = _check_boundary(boundary)
        self.disorder = dict(disorder) if disorder else {}
        _check_fits(tuple(self.ranges) + tuple(self.disorder), self.n_cells, self.boundary)
        self._seedseq = make_seed_sequence(seed)
        self.seed = self._seedseq.entropy

    def __len__(self) -> int:
        return self.hoppings.shape[0]

    def __getitem__(self, i: int) -> SSHChain:
        i = range(len(self))[i]
        hop = {m: self.hoppings[i, j] for j, m in enumerate(self.ranges)}
        seq = np.random.SeedSequence(self._seedseq.entropy, spawn_key=self._seedseq.spawn_key + (i,))
        return SSHChain(hop, self.n_cells, self.boundary, self.disorder or None, seq)

    def __iter__(self) -> Iterator[SSHChain]:
        return (self[i] for i in range(len(self)))

    def hopping_blocks(self) -> np.ndarray:
        """All A->B blocks, shape ``(B, N, N)`` (entries placed by :func:`tntopo._bonds.bond_coo`)."""
        if self.disorder:
            return np.stack([c.hopping_block() for c in self])
        from .._bonds import bond_coo  # the one bonds -> matrix construction

        N, R = self.n_cells, len(self.ranges)
        # a clean chain's bond of range index k is hoppings[:, k] on every cell: place the indices k
        rows, cols, k, _ = bond_coo(np.repeat(np.arange(R)[:, None], N, axis=1), self.ranges, N, self.boundary)
        out = np.zeros((len(self), N, N), dtype=self.hoppings.dtype)
        for j in range(R):  # one range at a time: its entries are distinct, ranges that coincide add up
            on = k == j
            out[:, rows[on], cols[on]] += self.hoppings[:, j:j + 1]
        return out

    def bloch_windings(self) -> np.ndarray:
        """Exact winding numbers of the clean parts (Bloch route), int array of shape (B,)."""
        c, m_min = laurent_coefficients(self.hoppings, self.ranges)
        w, _ = certified_windings(c, m_min)
        return w

    def __repr__(self) -> str:
        return (
            f"ChainBatch({len(self)} chains, ranges={self.ranges}, n_cells={self.n_cells}, "
            f"boundary={self.boundary!r}, disorder={self.disorder or None}, seed={self.seed})"
        )


def check_min_gap(min_gap, amplitude: float, n_ranges: int, complex_hoppings: bool) -> float:
    """Return ``float(min_gap)`` if random chains can reach it, else raise ``ValueError``.

    ``min_gap`` must be finite and ``>= 0``. With amplitudes uniform in ``[-a, a]`` (real and
    imaginary parts for complex hoppings) over ``R`` ranges, ``min_k |h(k)|`` is at most the
    root mean square of ``h(k)`` over ``k``, ``sqrt(sum_m |t_m|^2) < a sqrt(R)`` (``a sqrt(2R)``
    complex): a larger ``min_gap`` would reject every draw, so it is refused at once instead of
    after ``max_tries`` draws per sample.
    """
    try:
        g = float(min_gap)
    except (TypeError, ValueError):
        raise ValueError(f"min_gap must be a number >= 0, got {min_gap!r}") from None
    if not (np.isfinite(g) and g >= 0):
        raise ValueError(f"min_gap must be a finite number >= 0, got {min_gap!r}")
    bound = float(amplitude) * np.sqrt(n_ranges * (2 if complex_hoppings else 1))
    if g >= bound:
        raise ValueError(
            f"min_gap={g:g} is unreachable: with amplitudes in [-{amplitude:g}, {amplitude:g}] over {n_ranges} "
            f"range(s), min_k |h(k)| < {bound:.4g} for every chain; lower min_gap below {bound:.4g} or raise "
            "amplitude"
        )
    return g


@strict_keywords
def sample_chains(
    n_samples: int,
    n_cells: int,
    ranges: Sequence[int] = (0, 1),
    *,
    windings: Optional[Sequence[int]] = None,
    amplitude: float = 1.0,
    complex_hoppings: bool = False,
    min_gap: float = 0.0,
    disorder: Optional[Mapping[int, float]] = None,
    boundary: Boundary = "open",
    seed: SeedLike = 0,
    max_tries: int = 10_000,
) -> ChainBatch:
    """Sample random chains with hoppings over chosen ranges, optionally balanced over windings.

    Each amplitude ``t_m`` is uniform in ``[-amplitude, amplitude]`` (real and imaginary parts
    for ``complex_hoppings``). With ``windings``, sample ``i`` is in sector
    ``windings[i % len(windings)]`` (balanced classes) by rejection; ``min_gap`` rejects clean
    chains with ``min_k |h(k)| < min_gap``.

    Sample ``i`` only depends on ``(seed, i)``, not on ``n_samples``: the same seed gives the
    same chains whatever the batch is split into.

    Parameters
    ----------
    n_samples, n_cells : int
    ranges : sequence of int
        Hopping ranges ``m`` with random amplitudes.
    windings : sequence of int, optional
        Winding sectors to fill in turn. Each must lie in ``[min(ranges), max(ranges)]``.
    amplitude : float
    complex_hoppings : bool
    min_gap : float
        Minimum clean Bloch gap ``min_k |h(k)|``.
    disorder : dict {int: float}, optional
        Disorder on top of the clean hoppings (see :class:`SSHChain`).
    boundary : {"open", "periodic"}
    seed : int
    max_tries : int
        Candidate draws per sample before giving up with an error.

    Returns
    -------
    ChainBatch
    """
    if not isinstance(n_samples, numbers.Integral) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    ranges = tuple(_check_range("ranges", m) for m in ranges)
    if not ranges or len(set(ranges)) != len(ranges):
        raise ValueError(f"ranges must be distinct integers, got {ranges}")
    if not (np.isfinite(amplitude) and amplitude > 0):
        raise ValueError(f"amplitude must be positive and finite, got {amplitude!r}")
    check_min_gap(min_gap, amplitude, len(ranges), complex_hoppings)
    if windings is not None:
        windings = [int(w) for w in windings]
        for w in windings:
            if not min(ranges) <= w <= max(ranges):
                raise ValueError(
                    f"winding {w} is unreachable with hopping ranges {ranges}: a chain's winding lies "
                    f"between its lowest and highest range; add range {w} to `ranges`"
                )
    seq = make_seed_sequence(seed)
    R = len(ranges)
    dtype = np.complex128 if complex_hoppings else np.float64
    out = np.empty((n_samples, R), dtype=dtype)
    target = None if windings is None else np.array([windings[i % len(windings)] for i in range(n_samples)])
    rngs = [np.random.default_rng(np.random.SeedSequence(seq.entropy, spawn_key=seq.spawn_key + (i, 1)))
            for i in range(n_samples)]
    todo = np.arange(n_samples)
    for _ in range(max_tries):
        cand = np.stack([
            r.uniform(-amplitude, amplitude, (2, R)) for r in (rngs[i] for i in todo)
        ])
        cand = cand[:, 0] + 1j * cand[:, 1] if complex_hoppings else cand[:, 0]
        ok = np.ones(len(todo), bool)
        if min_gap > 0 or target is not None:
            c, m_min = laurent_coefficients(cand, ranges)
            if min_gap > 0:
                ok &= sampled_min_abs(c, m_min) >= min_gap
            if target is not None:
                w, margin = certified_windings(c, m_min, check_gap=False)
                ok &= (w == target[todo]) & (margin > 1e-9)
        out[todo[ok]] = cand[ok]
        todo = todo[~ok]
        if len(todo) == 0:
            break
    else:
        raise ValueError(
            f"could not sample {len(todo)} chains in their winding sector with min_gap={min_gap} "
            f"after {max_tries} tries each; lower min_gap or change ranges/windings"
        )
    return ChainBatch(out, ranges, n_cells, boundary, disorder, seq)
