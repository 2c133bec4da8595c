import numpy as np
import pytest

import tntopo
from tntopo import ChiralHamiltonian, ChiralSymmetryError, SSHChain, sample_chains


def test_hopping_block_convention():
    chain = SSHChain({0: 0.5, 1: 1.0, -2: 0.25j}, n_cells=8)
    h = chain.hopping_block()
    for n in range(8):
        assert h[n, n] == 0.5
        if n >= 1:
            assert h[n, n - 1] == 1.0
        if n + 2 < 8:
            assert h[n, n + 2] == 0.25j
    assert np.count_nonzero(h) == 8 + 7 + 6
    H = chain.hamiltonian()
    np.testing.assert_array_equal(H[:8, 8:], h)
    np.testing.assert_array_equal(H[8:, :8], h.conj().T)
    assert np.all(H[:8, :8] == 0) and np.all(H[8:, 8:] == 0)
    np.testing.assert_array_equal(chain.hamiltonian(sparse=True).toarray(), H)


def test_periodic_block_wraps():
    chain = SSHChain({0: 0.5, 1: 1.0}, n_cells=6, boundary="periodic")
    h = chain.hopping_block()
    assert h[0, 5] == 1.0 and h[3, 2] == 1.0
    assert np.allclose(h.sum(axis=1), 1.5)


def test_bloch_function_matches_fourier_of_periodic_block():
    hop = {0: 0.3, 1: -0.7, 2: 0.2 + 0.1j}
    chain = SSHChain(hop, n_cells=12, boundary="periodic")
    h = chain.hopping_block()
    k = 2 * np.pi * np.arange(12) / 12
    # h is circulant: h[n, n-m] = t_m; eigenvalues on e^{-ikn} plane waves are h(k)
    for kk in k:
        psi = np.exp(-1j * kk * np.arange(12))
        np.testing.assert_allclose(h @ psi, chain.bloch(kk) * psi, atol=1e-12)


def test_disorder_convention_and_seed():
    a = SSHChain({0: 1.0, 1: 0.5}, n_cells=50, disorder={0: 2.0, 1: 1.0}, seed=3)
    b = SSHChain({0: 1.0, 1: 0.5}, n_cells=50, disorder={0: 2.0, 1: 1.0}, seed=3)
    c = SSHChain({0: 1.0, 1: 0.5}, n_cells=50, disorder={0: 2.0, 1: 1.0}, seed=4)
    np.testing.assert_array_equal(a.hopping_block(), b.hopping_block())
    assert not np.array_equal(a.hopping_block(), c.hopping_block())
    u0 = (a.bonds(0) - 1.0) / 2.0
    assert u0.min() >= -0.5 and u0.max() <= 0.5 and u0.std() > 0.2
    # open and periodic chains with one seed share their common bonds
    p = a.with_boundary("periodic")
    np.testing.assert_array_equal(p.bonds(1)[1:], a.bonds(1)[1:])
    assert a.bonds(1)[0] == 0 and p.bonds(1)[0] != 0
    # a range only in disorder starts from zero
    d = SSHChain({0: 1.0}, n_cells=10, disorder={2: 1.0}, seed=0)
    assert np.all(np.abs(d.bonds(2)[2:]) <= 0.5) and d.ranges == (0, 2)


def test_seed_none_is_recorded():
    a = SSHChain({0: 1.0, 1: 0.5}, n_cells=10, disorder={0: 1.0})
    b = SSHChain({0: 1.0, 1: 0.5}, n_cells=10, disorder={0: 1.0}, seed=a.seed)
    np.testing.assert_array_equal(a.hopping_block(), b.hopping_block())


def test_million_cells_is_cheap():
    chain = SSHChain({0: 0.6, 1: 1.0}, n_cells=10**6, disorder={0: 1.0, 1: 0.5}, seed=0)
    assert chain._bonds.nbytes <= 2 * 8 * 10**6
    h = chain.hopping_block(sparse=True)
    assert h.nnz == 2 * 10**6 - 1


def test_graph_export():
    chain = SSHChain({0: 0.5, 1: 1.0}, n_cells=5)
    G = chain.graph()
    assert G.number_of_nodes() == 10 and G.number_of_edges() == 9
    assert G.nodes["A", 0]["sublattice"] == 1 and G.nodes["B", 0]["sublattice"] == -1
    assert G.edges[("A", 1), ("B", 0)]["range"] == 1


def test_repr_mentions_parameters():
    r = repr(SSHChain({0: 0.5, 1: 1.0}, n_cells=5, disorder={0: 1.0}, seed=2))
    assert "n_cells=5" in r and "disorder" in r and "seed=2" in r


def test_chiral_hamiltonian_standard_and_shuffled():
    chain = SSHChain({0: 0.4, 1: 1.0}, n_cells=12)
    H = chain.hamiltonian()
    ch = ChiralHamiltonian(H)
    np.testing.assert_array_equal(ch.hopping_block(), chain.hopping_block())
    W = tntopo.winding_number(chain, method="dense")
    assert tntopo.winding_number(ch) == pytest.approx(W, abs=1e-12)
    # interleaved basis A0 B0 A1 B1 ...: sublattice inferred from the graph, positions from order
    perm = np.ravel(np.column_stack([np.arange(12), 12 + np.arange(12)]))
    ch2 = ChiralHamiltonian(H[np.ix_(perm, perm)])
    assert tntopo.winding_number(ch2) == pytest.approx(W, abs=1e-10)
    # explicit sublattice and positions
    gam = np.tile([1, -1], 12)
    pos = np.repeat(np.arange(12), 2)
    ch3 = ChiralHamiltonian(H[np.ix_(perm, perm)], sublattice=gam, positions=pos)
    np.testing.assert_array_equal(ch3.hopping_block(), chain.hopping_block())


def test_chiral_symmetry_error():
    H = SSHChain({0: 0.4, 1: 1.0}, n_cells=6).hamiltonian()
    H[0, 0] = 0.3
    with pytest.raises(ChiralSymmetryError, match="on-site terms"):
        ChiralHamiltonian(H)
    assert issubclass(ChiralSymmetryError, ValueError)
    H2 = SSHChain({0: 0.4, 1: 1.0}, n_cells=6).hamiltonian()
    H2[0, 1] = H2[1, 0] = 0.2  # A-A hopping
    with pytest.raises(ChiralSymmetryError):
        ChiralHamiltonian(H2, sublattice=np.arange(12) < 6)


def test_sample_chains_balanced_and_reproducible():
    b = sample_chains(40, 12, ranges=(-1, 0, 1, 2), windings=[-1, 0, 1, 2], min_gap=0.1, seed=5)
    w = b.bloch_windings()
    np.testing.assert_array_equal(w, np.tile([-1, 0, 1, 2], 10))
    # sample i depends only on (seed, i)
    b2 = sample_chains(8, 12, ranges=(-1, 0, 1, 2), windings=[-1, 0, 1, 2], min_gap=0.1, seed=5)
    np.testing.assert_array_equal(b2.hoppings, b.hoppings[:8])
    blocks = b.hopping_blocks()
    np.testing.assert_array_equal(blocks[3], b[3].hopping_block())
    assert len(b) == 40 and "ChainBatch" in repr(b)


def test_sample_chains_disorder_per_sample():
    b = sample_chains(3, 10, ranges=(0, 1), disorder={0: 1.0}, seed=1)
    blocks = b.hopping_blocks()
    np.testing.assert_array_equal(blocks[1], b[1].hopping_block())
    assert not np.array_equal(np.diag(blocks[0]) - b.hoppings[0, 0], np.diag(blocks[1]) - b.hoppings[1, 0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(hoppings={0: np.nan, 1: 1.0}, n_cells=10), "not finite"),
        (dict(hoppings={0: 1.0, 1: np.inf}, n_cells=10), "not finite"),
        (dict(hoppings={0: 1.0}, n_cells=3), "too small"),
        (dict(hoppings={0: 1.0, 12: 1.0}, n_cells=10), "does not fit"),
        (dict(hoppings={0: 1.0, 3: 1.0}, n_cells=6, boundary="periodic"), "does not fit"),
        (dict(hoppings={0: 1.0}, n_cells=10, boundary="twisted"), "unknown boundary"),
        (dict(hoppings={0.5: 1.0}, n_cells=10), "integer hopping ranges"),
        (dict(hoppings={}, n_cells=10), "non-empty"),
        (dict(hoppings={0: "a"}, n_cells=10), "not a number"),
        (dict(hoppings={0: 1.0}, n_cells=10, disorder={0: -1.0}), ">= 0"),
        (dict(hoppings={0: 1.0}, n_cells=10, disorder={0: 1.0}, seed=-1), "seed"),
    ],
)
def test_chain_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SSHChain(**kwargs)


def test_sample_chains_errors():
    with pytest.raises(ValueError, match="unreachable"):
        sample_chains(4, 10, ranges=(0, 1), windings=[2])
    with pytest.raises(ValueError, match="positive"):
        sample_chains(0, 10)


# ------------------------------------------------------------------ explicit bonds (issue 9)
def test_from_bonds_matches_disordered_chain():
    chain = SSHChain({0: 0.5, 1: 1.0, -1: 0.2}, 30, "periodic", disorder={0: 0.4, 1: 0.3}, seed=5)
    rebuilt = SSHChain.from_bonds(dict(zip(chain.ranges, chain.bond_array)), "periodic")
    np.testing.assert_array_equal(rebuilt.hopping_block(), chain.hopping_block())
    assert rebuilt.ranges == chain.ranges and not rebuilt.is_clean and rebuilt.seed is None
    from tntopo import winding_number

    assert winding_number(rebuilt, method="twisted") == winding_number(chain, method="twisted")
    assert winding_number(rebuilt, method="auto") == winding_number(chain, method="auto")
    assert "from_bonds" in repr(rebuilt)


def test_from_bonds_uniform_is_clean_and_open_edges():
    N = 12
    ring = SSHChain.from_bonds({0: 0.5, 1: np.ones(N)}, boundary="periodic")
    assert ring.is_clean and ring.hoppings == {0: 0.5, 1: 1.0} and ring.n_cells == N
    # open chain: entries whose partner lies outside are kept in bond_array, not in the block
    w = np.ones(N)
    w[0] = 7.0  # bond A_0 -> B_{-1}: outside the open chain
    open_chain = SSHChain.from_bonds({0: 0.5, 1: w})
    assert open_chain.is_clean  # the Hamiltonian's bonds are uniform
    assert open_chain.bond_array[1, 0] == 7.0 and open_chain.bonds(1)[0] == 0
    np.testing.assert_array_equal(open_chain.hopping_block(), SSHChain({0: 0.5, 1: 1.0}, N).hopping_block())
    closed = open_chain.with_boundary("periodic")
    assert not closed.is_clean and closed.hopping_block()[0, N - 1] == 7.0


def test_bond_array_is_read_only():
    chain = SSHChain({0: 0.5, 1: 1.0}, 10, disorder={0: 0.1}, seed=0)
    b = chain.bond_array
    assert b.shape == (2, 10)
    with pytest.raises(ValueError):
        b[0, 0] = 3.0


@pytest.mark.parametrize("bonds, kw, match", [
    ({}, {}, "non-empty"),
    ({0: np.ones(10), 1: np.ones(11)}, {}, "different lengths"),
    ({0: np.ones((2, 10))}, {}, "1D array"),
    ({0: [1.0, np.nan, 1, 1, 1]}, {}, "NaN"),
    ({0: 0.5, 1: 1.0}, {}, "n_cells"),
    ({0: np.ones(10)}, {"n_cells": 12}, "does not match"),
    ({0.5: np.ones(10)}, {}, "integer hopping ranges"),
    ({0: ["a"] * 10}, {}, "numbers"),
    ({0: np.ones(10), 6: np.ones(10)}, {"boundary": "periodic"}, "does not fit"),
    ({0: np.ones(10)}, {"boundary": "twisted"}, "boundary"),
])
def test_from_bonds_errors(bonds, kw, match):
    with pytest.raises(ValueError, match=match):
        SSHChain.from_bonds(bonds, **kw)


def test_validators_are_public():
    from tntopo.systems.chain import check_boundary, check_n_cells

    assert check_n_cells(10) == 10 and check_boundary("open") == "open"
    with pytest.raises(ValueError, match="too small"):
        check_n_cells(2)


@pytest.mark.parametrize("boundary", ["open", "periodic"])
@pytest.mark.parametrize("ranges", [(0, 1), (-1, 0, 1, 2), (2, -3), (1,), ()])
def test_batch_hopping_blocks_are_the_definition_and_the_chains_blocks(boundary, ranges):
    # ChainBatch.hopping_blocks places entries through _bonds.bond_coo: compare with the convention
    # h[n, n - m] = t_m written out by hand, and with each chain's own (sparse-assembled) block
    from tntopo.systems.chain import ChainBatch

    rng = np.random.default_rng(len(ranges))
    N = 7
    for dtype in (float, complex):
        hop = rng.normal(size=(5, len(ranges))) + (1j * rng.normal(size=(5, len(ranges))) if dtype is complex else 0)
        batch = ChainBatch(hop, ranges, N, boundary)
        want = np.zeros((5, N, N), dtype=hop.dtype)
        for b in range(5):
            for j, m in enumerate(ranges):
                for n in range(N):
                    if boundary == "periodic" or 0 <= n - m < N:
                        want[b, n, (n - m) % N] += hop[b, j]
        got = batch.hopping_blocks()
        assert got.dtype == hop.dtype and np.array_equal(got, want)
        if ranges:
            assert np.array_equal(got, np.stack([c.hopping_block() for c in batch]))
