import warnings

import numpy as np
import pytest

import tntopo
from tntopo import GaplessError, GaplessWarning, SSHChain, local_winding_marker, sample_chains, winding_number
from tntopo.invariants import (
    bulk_window,
    polar_factor,
    position_kernel,
    reference_winding_number,
    twisted_winding,
)
from tntopo.tn import contract_rswn, expression_cache_info, rswn_network


@pytest.mark.parametrize(
    "hoppings, W",
    [
        ({0: 0.5, 1: 1.0}, 1),
        ({0: 1.0, 1: 0.5}, 0),
        ({0: 0.5, -1: 1.0}, -1),
        ({0: 0.3, 2: 1.0}, 2),
        ({0: 0.2, 1: 0.3, 3: 1.0}, 3),
        ({0: 0.1, -2: 1.0}, -2),
        ({0: 0.3, 1: 0.1 + 0.5j, 2: 1j}, 2),
        ({-1: 0.2, 0: 1.0, 1: 0.3}, 0),
    ],
)
def test_known_windings_all_methods(hoppings, W):
    chain = SSHChain(hoppings, n_cells=120)
    ring = chain.with_boundary("periodic")
    assert winding_number(chain, method="bloch") == W
    assert winding_number(ring, method="twisted") == W
    assert winding_number(chain) == W  # auto: exact Bloch integer
    assert winding_number(chain, method="dense") == pytest.approx(W, abs=1e-6)
    assert winding_number(ring, method="dense") == pytest.approx(W, abs=1e-6)


def test_ssh_analytic_limit_flat_band():
    # v = 0: fully dimerized, every bulk marker is exactly 1
    chain = SSHChain({0: 0.0, 1: 1.0}, n_cells=20)
    w = tntopo.local_winding_marker(chain)
    np.testing.assert_allclose(w[1:-1], 1.0, atol=1e-12)
    assert winding_number(chain, method="dense") == pytest.approx(1.0, abs=1e-12)
    assert tntopo.local_winding_marker(SSHChain({0: 1.0, 1: 0.0}, n_cells=20)) == pytest.approx(0.0, abs=1e-12)


def test_tensor_network_matches_plain_matrix_route():
    b = sample_chains(30, 16, ranges=(-1, 0, 1, 2), seed=3)
    h = b.hopping_blocks()
    Q = polar_factor(h)
    N = 16
    X = position_kernel(N)
    R = bulk_window(N)
    Wtn = contract_rswn(Q, X, R)
    Xd = np.diag(np.arange(N, dtype=float))
    mask = R > 0
    for i in range(len(b)):
        QAB, QBA = Q[i], Q[i].conj().T
        w = np.real(np.diag(QAB @ (QBA @ Xd - Xd @ QBA)))
        assert Wtn[i] == pytest.approx(w[mask].mean(), abs=1e-10)
    # markers without a window
    np.testing.assert_allclose(contract_rswn(Q, X, None)[:, mask].mean(axis=1), Wtn, atol=1e-12)


def test_polar_factor_is_sign_of_H():
    b = sample_chains(50, 12, ranges=(0, 1), seed=1, complex_hoppings=True)
    h = b.hopping_blocks()
    Q = polar_factor(h)
    for i in range(0, 50, 7):
        H = b[i].hamiltonian()
        E, psi = np.linalg.eigh(H)
        S = (psi * np.sign(E)) @ psi.conj().T
        np.testing.assert_allclose(Q[i], S[:12, 12:], atol=1e-9)
        np.testing.assert_allclose(Q[i] @ Q[i].conj().T, np.eye(12), atol=1e-10)
    # threaded and single-threaded give the same bytes
    big = np.concatenate([h] * 12)
    np.testing.assert_array_equal(polar_factor(big, threads=1), polar_factor(big, threads=2))


def test_dense_matches_naive_reference_route():
    b = sample_chains(60, 24, ranges=(-1, 0, 1), windings=[-1, 0, 1], min_gap=0.3, seed=2)
    h = b.hopping_blocks()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GaplessWarning)
        W = winding_number(h, method="dense")
    np.testing.assert_allclose(W, reference_winding_number(h), atol=1e-8)
    assert W.shape == (60,)


def test_batch_matches_loop_and_chain_batch():
    b = sample_chains(12, 40, ranges=(0, 1, 2), windings=[0, 1, 2], min_gap=0.4, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GaplessWarning)
        Wb = winding_number(b.hopping_blocks())
        Wc = winding_number(b, method="dense")
        Wl = np.array([winding_number(c, method="dense") for c in b])
    np.testing.assert_allclose(Wb, Wl, atol=1e-12)
    np.testing.assert_allclose(Wb, Wc, atol=1e-12)
    np.testing.assert_array_equal(winding_number(b, method="bloch"), b.bloch_windings())
    single = winding_number(b.hopping_blocks()[0])
    assert isinstance(single, float)


def test_open_vs_periodic_bulk_limit_disordered():
    chain = SSHChain({0: 0.5, 1: 1.0}, n_cells=200, boundary="periodic", disorder={0: 0.5, 1: 0.5}, seed=0)
    Wt = winding_number(chain, method="twisted")
    assert Wt == 1
    assert winding_number(chain, method="dense") == pytest.approx(1.0, abs=1e-6)
    assert winding_number(chain.with_boundary("open"), method="dense") == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("seed", range(6))
def test_exact_rule_periodic_disordered_nn_ssh(seed):
    rng = np.random.default_rng(seed)
    v, w = rng.uniform(0.5, 1.5, 2)
    chain = SSHChain({0: v, 1: w}, n_cells=60, boundary="periodic", disorder={0: 1.5, 1: 1.0}, seed=seed)
    rule = int(np.sum(np.log(np.abs(chain.bonds(1)))) > np.sum(np.log(np.abs(chain.bonds(0)))))
    assert winding_number(chain, method="twisted") == rule
    assert winding_number(chain) == rule  # auto on a disordered ring: twisted


def test_topological_anderson_insulator():
    clean = SSHChain({0: 1.1, 1: 1.0}, n_cells=400, boundary="periodic")
    assert winding_number(clean) == 0
    Ws = [
        winding_number(
            SSHChain({0: 1.1, 1: 1.0}, n_cells=400, boundary="periodic", disorder={0: 2.5, 1: 1.25}, seed=s),
            method="twisted",
        )
        for s in range(10)
    ]
    assert np.mean(Ws) >= 0.8  # disorder makes the clean trivial chain topological


def _twisted_block(chain, theta):
    """``h(theta)`` of a ring built from its bonds alone: ``h[n, (n - m) mod N] = t_{m,n} e^{i theta m / N}``."""
    N = chain.n_cells
    h = np.zeros((N, N), complex)
    n = np.arange(N)
    for m in chain.ranges:
        np.add.at(h, (n, (n - m) % N), chain.bonds(m) * np.exp(1j * theta * m / N))
    return h


def test_twisted_banded_lu_matches_dense_determinants():
    """The twisted route's banded LU of the folded ring (``zgbtrf``) against dense ``slogdet`` of ``h(theta)``
    built independently from the bonds, and its integer against the winding of those dense determinants."""
    from tntopo.invariants.winding.exact import twisted_determinants

    chain = SSHChain({0: 0.2, 1: 0.5, 2: 1.0}, n_cells=80, boundary="periodic", disorder={0: 0.2, 2: 0.3}, seed=1)
    theta, log_abs, arg, growth = twisted_determinants(chain, n_twists=16)
    for t, la, a in zip(theta, log_abs, arg):
        sign, dense_la = np.linalg.slogdet(_twisted_block(chain, t))
        assert la == pytest.approx(dense_la, rel=1e-10, abs=1e-8)
        assert abs(np.angle(np.exp(1j * a) / sign)) < 1e-8  # same phase, mod 2 pi
    assert np.all(np.isfinite(growth))
    # winding of det h(theta) over one twist cycle, from dense determinants on a fine grid
    phases = [np.angle(np.linalg.slogdet(_twisted_block(chain, t))[0]) for t in np.linspace(0, 2 * np.pi, 65)]
    steps = np.angle(np.exp(1j * np.diff(phases)))
    assert np.abs(steps).max() < 1.0  # the grid resolves the phase
    dense_winding = int(round(steps.sum() / (2 * np.pi)))
    assert twisted_winding(chain) == dense_winding
    assert dense_winding == winding_number(SSHChain({0: 0.2, 1: 0.5, 2: 1.0}, n_cells=80, boundary="periodic"),
                                           method="bloch") == 2


def test_expression_cache_reused(monkeypatch):
    """A structure seen before is contracted without a new path search (counted at cotengra's path finder)."""
    import cotengra.interface

    searches = []
    for name in ("find_path", "find_tree"):
        original = getattr(cotengra.interface, name)
        monkeypatch.setattr(cotengra.interface, name,
                            lambda *a, _f=original, _n=name, **k: searches.append(_n) or _f(*a, **k))
    chain = SSHChain({0: 0.5, 1: 1.0}, n_cells=47)  # a size no other test contracts
    first = winding_number(chain, method="dense")
    assert searches, "the first contraction of a new structure must search a path"
    searches.clear()
    for _ in range(3):
        assert winding_number(chain, method="dense") == first  # the same bytes
    assert searches == []  # no path search for a structure seen before
    winding_number(SSHChain({0: 0.5, 1: 1.0}, n_cells=49), method="dense")
    assert searches  # a new shape is a new structure
    assert expression_cache_info().currsize >= 2


def test_rswn_network_structure():
    # the network, contracted by quimb, against the naive eigh route (independent of the network) on a
    # disordered chain, where W is not an integer
    chain = SSHChain({0: 0.7, 1: 1.0}, n_cells=10, disorder={0: 1.0, 1: 0.5}, seed=3)
    h = chain.hopping_block()
    tn = rswn_network(polar_factor(h)[None], position_kernel(10), bulk_window(10))
    assert set(tn.tags) == {"Q", "Qc", "X", "R"}
    assert tn.num_tensors == 4
    ref = float(reference_winding_number(h))
    assert abs(ref - round(ref)) > 1e-3
    assert float(tn.contract(output_inds=("b",)).data[0].real) == pytest.approx(ref, abs=1e-10)


def test_region_argument():
    chain = SSHChain({0: 0.5, 1: 1.0}, n_cells=40)
    a = winding_number(chain, method="dense", region=(15, 25))
    b = winding_number(chain, method="dense", region=slice(15, 25))
    c = winding_number(chain, method="dense", region=np.arange(15, 25))
    assert a == b == c == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="region"):
        winding_number(chain, method="dense", region=(30, 50))


# ------------------------------------------------------------------------ errors & warnings
@pytest.mark.parametrize(
    "h, match",
    [
        (np.full((6, 6), np.nan), "NaN or inf"),
        (np.ones((6, 5)), "square"),
        (np.ones((3, 3)), "too small"),
        (np.ones((2, 3, 6, 6)), "square"),
        (np.array([["a"] * 5] * 5), "numeric"),
    ],
)
def test_bad_blocks(h, match):
    with pytest.raises(ValueError, match=match):
        winding_number(h)


def test_bad_methods():
    chain = SSHChain({0: 0.5, 1: 1.0}, n_cells=10)
    with pytest.raises(ValueError, match="unknown method"):
        winding_number(chain, method="magic")
    with pytest.raises(ValueError, match="periodic"):
        winding_number(chain, method="twisted")
    with pytest.raises(ValueError, match="clean"):
        winding_number(SSHChain({0: 0.5, 1: 1.0}, n_cells=10, disorder={0: 1.0}, seed=0), method="bloch")
    with pytest.raises(ValueError, match="SSHChain"):
        winding_number(chain.hopping_block(), method="bloch")


def test_gapless_errors_and_warnings():
    crit = SSHChain({0: 1.0, 1: 1.0}, n_cells=40)
    with pytest.raises(GaplessError, match="gapless"):
        winding_number(crit, method="bloch")
    with pytest.raises(GaplessError, match="gapless"):
        winding_number(crit.with_boundary("periodic"), method="twisted")
    with pytest.warns(GaplessWarning):
        W = winding_number(crit)  # auto: real-space value, warned
    assert 0 < W < 1
    with pytest.warns(GaplessWarning, match="integer"):
        winding_number(crit, method="dense")
    assert issubclass(GaplessError, ValueError)


def test_no_warning_deep_in_phase():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        W = winding_number(SSHChain({0: 0.3, 1: 1.0}, n_cells=30), method="dense")
    # deep in the topological phase (xi = 1/ln(1/0.3) < 1 cell) the bulk value is the integer up to
    # the O(exp(-N/(4 xi))) finite-size term, and it is the naive eigh route's value
    assert abs(W - 1.0) < 1e-6
    assert W == pytest.approx(reference_winding_number(SSHChain({0: 0.3, 1: 1.0}, n_cells=30).hopping_block()),
                              abs=1e-12)


def test_unknown_and_inapplicable_options_raise_typeerror():
    chain = SSHChain({0: 0.5, 1: 1.0}, n_cells=40)
    with pytest.raises(TypeError, match=r"'bufer', 'nonsense'.*valid keywords: .*local"):
        winding_number(chain, method="dense", bufer=3, nonsense=True)
    with pytest.raises(TypeError, match=r"local= is inapplicable with method='dense' .*buffer="):
        winding_number(chain, method="dense", local=tntopo.LocalOptions(buffer=3))
    with pytest.raises(TypeError, match="region= is inapplicable with method='bloch'"):
        winding_number(chain, method="bloch", region=(10, 30))
    with pytest.raises(TypeError, match="local= is inapplicable"):
        local_winding_marker(chain, method="dense", local=tntopo.LocalOptions(buffer=5))
    with pytest.raises(TypeError, match="valid keywords"):
        local_winding_marker(chain, windows=3)
    with pytest.raises(ValueError, match="unknown method 'dnse'; choose one of 'auto', 'dense'"):
        winding_number(chain, method="dnse")
    # applicable options still work (auto accepts the local options for when it picks that route)
    assert winding_number(chain, method="auto", local=tntopo.LocalOptions(buffer=8)) == 1.0
    assert abs(winding_number(chain, method="local", local=tntopo.LocalOptions(buffer=12, check=False)) - 1.0) < 1e-5


def test_deprecated_local_keywords_still_work():
    """winding_number and local_winding_marker: the former local-route keywords work for one release,
    with a FutureWarning naming local=LocalOptions(...), and give the same numbers (and errors)."""
    chain = SSHChain({0: 0.5, 1: 1.0}, n_cells=120, disorder={0: 0.5}, seed=4)
    new = winding_number(chain, method="local", local=tntopo.LocalOptions(buffer=12, check=False))
    with pytest.warns(FutureWarning, match=r"winding_number\(\): the keywords buffer=, check= are deprecated: "
                      r"pass local=tntopo.LocalOptions\(buffer=12, check=False\)"):
        assert winding_number(chain, method="local", buffer=12, check=False) == new
    cells = [40, 60]
    new = local_winding_marker(chain, cells, method="local", local=tntopo.LocalOptions(buffer=12))
    with pytest.warns(FutureWarning, match=r"local_winding_marker\(\): the keyword buffer= is deprecated"):
        np.testing.assert_array_equal(local_winding_marker(chain, cells, method="local", buffer=12), new)
    with pytest.warns(FutureWarning), pytest.raises(TypeError, match="local= is inapplicable with method='dense'"):
        winding_number(chain, method="dense", buffer=3)


def test_option_sets_are_the_literals():
    import inspect
    from typing import get_args

    from tntopo import _typing

    assert _typing.METHODS == get_args(_typing.Method)
    assert _typing.BOUNDARIES == get_args(_typing.Boundary)
    assert inspect.signature(winding_number).parameters["method"].annotation in ("Method", _typing.Method)
    with pytest.raises(ValueError, match="choose one of 'open', 'periodic'"):
        _typing.check_option("boundary", "opn", _typing.Boundary)
    with pytest.raises(ValueError, match="unknown boundary"):
        _typing.check_option("boundary", ["open"], _typing.Boundary)


def test_batch_auto_matches_single_chain_auto():
    clean = sample_chains(9, 30, ranges=(-1, 0, 1), windings=[-1, 0, 1], seed=8)
    np.testing.assert_array_equal(winding_number(clean), [winding_number(c) for c in clean])
    ring = sample_chains(4, 30, ranges=(0, 1), disorder={0: 1.0}, boundary="periodic", seed=8)
    np.testing.assert_array_equal(winding_number(ring), [winding_number(c) for c in ring])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GaplessWarning)
        opn = sample_chains(4, 30, ranges=(0, 1), disorder={0: 1.0}, seed=8)
        np.testing.assert_allclose(winding_number(opn), [winding_number(c) for c in opn], atol=1e-12)
    crit = tntopo.ChainBatch([[1.0, 1.0], [0.2, 1.0]], (0, 1), 20)
    with pytest.warns(GaplessWarning, match="gapless"):
        W = winding_number(crit)
    assert W[1] == 1 and 0 < W[0] < 1


def test_twisted_exactly_singular_large_ring_is_gapless():
    # v = w on a ring of 300 cells: det h(theta) vanishes exactly at a sampled twist
    with pytest.raises(GaplessError):
        twisted_winding(SSHChain({0: 1.0, 1: -1.0}, n_cells=300, boundary="periodic"))


# ---------------------------------------------------------------- a full Hamiltonian is not a block
def _interleave(H):
    n = H.shape[-1] // 2
    perm = np.empty(2 * n, int)
    perm[0::2], perm[1::2] = np.arange(n), np.arange(n) + n
    return H[np.ix_(perm, perm)]


@pytest.mark.parametrize("hoppings", [{0: 0.5, 1: 1.0}, {0: 1.0, 1: 0.5}, {0: 0.3, 1: 0.2 + 0.9j, 2: 0.4}])
def test_full_hamiltonian_given_as_block_is_refused(hoppings):
    chain = SSHChain(hoppings, n_cells=24)
    H = chain.hamiltonian()
    for bad, fix in ((H, "H[:24, 24:]"), (_interleave(H), "H[0::2, 1::2]")):
        for call in (lambda x: winding_number(x), lambda x: winding_number(x, method="local"),
                     lambda x: tntopo.local_winding_marker(x), lambda x: tntopo.local_winding_marker(x, method="local"),
                     lambda x: winding_number(np.stack([x, x]))):
            with pytest.raises(ValueError, match="full chiral Hamiltonian") as info:
                call(bad)
            assert "ChiralHamiltonian(H)" in str(info.value)
        assert fix in str(pytest.raises(ValueError, winding_number, bad).value)
    # the fixes the message names give the chain's winding number
    W = winding_number(chain, method="dense")
    assert winding_number(H[:24, 24:]) == pytest.approx(W, abs=1e-12)
    assert winding_number(_interleave(H)[0::2, 1::2]) == pytest.approx(W, abs=1e-12)
    assert winding_number(tntopo.ChiralHamiltonian(H)) == pytest.approx(W, abs=1e-12)
    assert winding_number(tntopo.ChiralHamiltonian(_interleave(H))) == pytest.approx(W, abs=1e-12)


def test_true_blocks_are_not_taken_for_a_hamiltonian():
    # blocks with a zero diagonal or a zero corner, even of an even size, are A->B blocks
    for hop in ({1: 1.0}, {0: 0.5, 1: 1.0}, {-1: 1.0, 2: 0.3}, {0: 0.0, 3: 1.0}):
        h = SSHChain(hop, n_cells=24).hopping_block()
        assert np.isfinite(winding_number(h))
