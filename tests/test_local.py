"""The local O(N) route: markers from windows of the chain agree with the dense bulk trace."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tntopo
from tntopo import ChiralHamiltonian, GaplessWarning, LocalOptions, SSHChain, local_winding_marker, winding_number
from tntopo.invariants.winding import api, local
from tntopo.invariants.winding.local import local_markers, localization_length, winding_number_local

DIS_CHAIN = dict(hoppings={0: 0.6, 1: 1.0}, disorder={0: 1.0, 1: 0.5})


def _dense_bulk(chain):
    return winding_number(chain, method="dense")


@pytest.fixture(scope="module")
def dis_chain():
    return SSHChain(n_cells=600, seed=3, **DIS_CHAIN)


def test_local_matches_dense_bulk_trace(dis_chain):
    W_dense = _dense_bulk(dis_chain)
    W_local, info = winding_number_local(dis_chain, return_info=True)
    assert abs(W_local - W_dense) < 1e-8
    assert not info.whole_chain and info.n_windows > 1 and info.window < dis_chain.n_cells
    assert info.error_estimate < 1e-8
    assert winding_number(dis_chain, method="local") == pytest.approx(W_dense, abs=1e-8)


def test_local_markers_match_dense_in_bulk(dis_chain):
    N = dis_chain.n_cells
    cells = np.array([N // 2, N // 4, 3 * N // 4 - 1, N // 3, N // 2 + 1])  # unsorted on purpose
    wd = local_winding_marker(dis_chain, method="dense")
    wl = local_winding_marker(dis_chain, cells=cells, method="local")
    assert wl.shape == cells.shape
    np.testing.assert_allclose(wl, wd[cells], atol=1e-9)


def test_markers_near_open_ends_use_the_true_edge():
    # trivial chain: no edge modes, so even the end markers are unambiguous
    chain = SSHChain({0: 1.0, 1: 0.4}, 300, disorder={0: 0.3}, seed=0)
    wd = local_winding_marker(chain, method="dense")
    wl = local_winding_marker(chain, method="local")
    np.testing.assert_allclose(wl, wd, atol=1e-9)


@pytest.mark.parametrize("hoppings, W", [({0: 0.5, 1: 1.0}, 1), ({0: 0.3, 2: 1.0}, 2), ({0: 0.5, -1: 1.0}, -1),
                                         ({-1: 0.2, 0: 0.3, 1: 0.1 + 0.5j, 2: 1j}, 2)])
def test_clean_and_long_range_chains(hoppings, W):
    chain = SSHChain(hoppings, 400)
    assert winding_number(chain, method="local") == pytest.approx(W, abs=1e-8)
    dis = SSHChain(hoppings, 400, disorder={m: 0.2 for m in hoppings}, seed=1)
    assert winding_number(dis, method="local") == pytest.approx(_dense_bulk(dis), abs=1e-8)


def test_periodic_chain(dis_chain):
    ring = dis_chain.with_boundary("periodic")
    wd = local_winding_marker(ring, method="dense")
    wl = local_winding_marker(ring, method="local")
    np.testing.assert_allclose(wl, wd, atol=1e-9)
    assert winding_number(ring, method="local") == pytest.approx(winding_number(ring, method="twisted"), abs=1e-6)


def test_raw_blocks_single_and_batch():
    chains = [SSHChain(n_cells=300, seed=s, **DIS_CHAIN) for s in range(3)]
    h = np.stack([c.hopping_block() for c in chains])
    dense = winding_number(h, method="dense")
    loc = winding_number(h, method="local")
    assert loc.shape == (3,)
    np.testing.assert_allclose(loc, dense, atol=1e-8)
    assert isinstance(winding_number(h[0], method="local"), float)
    m = local_winding_marker(h, cells=[150, 151], method="local")
    assert m.shape == (3, 2)
    np.testing.assert_allclose(m, local_winding_marker(h, method="dense")[:, [150, 151]], atol=1e-9)


def test_chiral_hamiltonian_with_custom_positions():
    chain = SSHChain(n_cells=200, seed=5, **DIS_CHAIN)
    H = chain.hamiltonian()
    ham = ChiralHamiltonian(H)
    assert winding_number(ham, method="local") == pytest.approx(_dense_bulk(chain), abs=1e-8)
    # positions scaled by 2: every marker doubles, and the local route must follow
    pos = 2.0 * (np.arange(400) % 200)
    ham2 = ChiralHamiltonian(H, positions=pos)
    wd = local_winding_marker(ham2, method="dense")
    wl = local_winding_marker(ham2, cells=np.arange(60, 140), method="local")
    np.testing.assert_allclose(wl, wd[60:140], atol=1e-8)


def test_never_builds_the_dense_block(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("the local route must not build the N x N block")

    monkeypatch.setattr(SSHChain, "hopping_block", boom)
    monkeypatch.setattr(SSHChain, "hamiltonian", boom)
    chain = SSHChain(n_cells=20_000, seed=0, **DIS_CHAIN)
    W, info = winding_number_local(chain, return_info=True)
    assert abs(W - 1) < 1e-2 and info.window < 200


def test_auto_routes_long_chains_to_local(monkeypatch):
    calls = []
    real = local.winding_number_local

    def spy(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(local, "winding_number_local", spy)
    chain = SSHChain(n_cells=api.AUTO_LOCAL_CELLS + 100, seed=0, **DIS_CHAIN)
    W = winding_number(chain)  # open and disordered: real space, long -> local
    assert calls and W == pytest.approx(1.0, abs=1e-2)


def test_localization_length():
    v = 0.6
    assert localization_length(SSHChain({0: v, 1: 1.0}, 50)) == pytest.approx(1 / np.log(1 / v))
    chain = SSHChain(n_cells=5000, seed=0, **DIS_CHAIN)
    t0, t1 = chain.bonds(0)[1:], chain.bonds(1)[1:]
    expected = 1 / abs(np.mean(np.log(np.abs(t1))) - np.mean(np.log(np.abs(t0))))
    assert localization_length(chain) == pytest.approx(expected, rel=1e-9)
    # long-range disordered chain: transfer-matrix Lyapunov exponents, close to the clean value
    lr = SSHChain({0: 0.3, 1: 0.2, 2: 1.0}, 3000, disorder={0: 0.01, 2: 0.01}, seed=0)
    clean = localization_length(SSHChain({0: 0.3, 1: 0.2, 2: 1.0}, 50))
    assert localization_length(lr) == pytest.approx(clean, rel=0.05)
    assert localization_length(SSHChain({0: 0.0, 1: 1.0}, 50)) == 0.0  # flat band
    assert np.isinf(localization_length(SSHChain({0: 1.0, 1: 1.0}, 50)))  # transition


def test_whole_chain_window_is_the_dense_route():
    chain = SSHChain(n_cells=40, seed=0, **DIS_CHAIN)
    W, info = winding_number_local(chain, return_info=True)
    assert info.whole_chain
    assert W == pytest.approx(_dense_bulk(chain), abs=1e-12)


def test_user_buffer_and_core():
    chain = SSHChain(n_cells=500, seed=2, **DIS_CHAIN)
    ref = _dense_bulk(chain)
    for buffer, core in [(40, None), (40, 7), (35, 100)]:
        W, info = winding_number_local(chain, local=LocalOptions(buffer=buffer, core=core), return_info=True)
        assert info.buffer == buffer and W == pytest.approx(ref, abs=1e-8)


# ------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kw, msg",
    [
        (dict(buffer=0), "too small"),
        (dict(buffer=-3), "too small"),
        (dict(buffer=2.5), "integer"),
        (dict(buffer=300), "does not fit"),
        (dict(core=0), "too small"),
        (dict(tol=0.0), "tol"),
        (dict(tol=2.0), "tol"),
    ],
)
def test_bad_window_parameters(kw, msg):
    chain = SSHChain(n_cells=400, seed=0, **DIS_CHAIN)
    with pytest.raises(ValueError, match=msg):
        winding_number(chain, method="local", local=LocalOptions(**kw))


def test_deprecated_keywords_of_the_route_functions():
    """local_markers and winding_number_local: the former keywords still work for one release, with a
    FutureWarning naming local=LocalOptions(...), and give the same numbers."""
    chain = SSHChain(n_cells=300, seed=1, **DIS_CHAIN)
    with pytest.warns(FutureWarning, match=r"local_markers\(\): the keywords buffer=, core= are deprecated: pass "
                      r"local=tntopo.LocalOptions\(buffer=30, core=9\)"):
        old = local_markers(chain, [100, 150], buffer=30, core=9)
    np.testing.assert_array_equal(old, local_markers(chain, [100, 150], local=LocalOptions(buffer=30, core=9)))
    with pytest.warns(FutureWarning, match=r"winding_number_local\(\): the keyword tol= is deprecated"):
        old = winding_number_local(chain, tol=1e-6)
    assert old == winding_number_local(chain, local=LocalOptions(tol=1e-6))
    with pytest.raises(TypeError, match="not also as buffer="):
        winding_number_local(chain, buffer=30, local=LocalOptions(core=9))


def test_local_options_object():
    opts = LocalOptions(buffer=np.int64(30), tol=1e-6, check=np.bool_(False))
    assert opts.buffer == 30 and type(opts.buffer) is int and opts.check is False
    assert opts.given() == ("buffer", "tol", "check")
    assert opts.as_dict() == {"buffer": 30, "tol": 1e-6, "check": False}
    assert LocalOptions().given() == ()
    with pytest.raises(TypeError):
        LocalOptions(30)  # keyword-only
    with pytest.raises(AttributeError):
        opts.buffer = 3  # frozen  # type: ignore[misc]
    for kw, msg in [(dict(max_buffer=0), "max_buffer"), (dict(threads=0), "threads"), (dict(check="yes"), "check"),
                    (dict(tol=float("nan")), "tol"), (dict(core=1.5), "core")]:
        with pytest.raises(ValueError, match=msg):
            LocalOptions(**kw)
    with pytest.raises(ValueError, match=r"local_markers\(\): local= takes a tntopo.LocalOptions"):
        local_markers(SSHChain(n_cells=100, seed=0, **DIS_CHAIN), local=tntopo.ChernLocalOptions(buffer=3))
    import pickle

    assert pickle.loads(pickle.dumps(opts)) == opts  # process pools carry it to their tasks


def test_buffer_smaller_than_hopping_range():
    chain = SSHChain({0: 0.3, 3: 1.0}, 200)
    with pytest.raises(ValueError, match="hopping range 3"):
        winding_number_local(chain, local=LocalOptions(buffer=2))


def test_bad_cells():
    chain = SSHChain(n_cells=100, seed=0, **DIS_CHAIN)
    with pytest.raises(ValueError, match="cells must lie"):
        local_markers(chain, cells=[5, 100])
    with pytest.raises(ValueError, match="no cells"):
        local_markers(chain, cells=[])
    with pytest.raises(ValueError, match="integer"):
        local_markers(chain, cells=[1.5])


def test_long_range_raw_block_is_rejected():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="short-range"):
        winding_number(rng.normal(size=(40, 40)), method="local")


def test_too_small_buffer_is_reported():
    chain = SSHChain(n_cells=400, seed=0, **DIS_CHAIN)
    with pytest.warns(GaplessWarning, match="not converged"):
        winding_number_local(chain, local=LocalOptions(buffer=3))


@pytest.mark.filterwarnings("ignore:local markers are not converged", "ignore:real-space winding number")
def test_diverging_localization_length_warns():
    with pytest.warns(GaplessWarning, match="near a phase transition"):
        winding_number_local(SSHChain({0: 1.0, 1: 1.0}, 2000), local=LocalOptions(max_buffer=60))
    chain = SSHChain({0: 0.9, 1: 1.0}, 1000)  # xi ~ 9.5: needs a buffer ~ 150
    with pytest.warns(GaplessWarning, match="capped"):
        winding_number_local(chain, local=LocalOptions(max_buffer=30))


@settings(max_examples=8, deadline=None)
@given(
    v=st.floats(0.05, 0.75),
    w=st.floats(0.9, 1.5),
    wv=st.floats(0.0, 0.6),
    ww=st.floats(0.0, 0.6),
    seed=st.integers(0, 2**31),
)
def test_local_equals_dense_property(v, w, wv, ww, seed):
    chain = SSHChain({0: v, 1: w}, 240, disorder={0: wv, 1: ww}, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GaplessWarning)
        assert winding_number(chain, method="local") == pytest.approx(_dense_bulk(chain), abs=1e-7)


def test_chain_batch():
    batch = tntopo.sample_chains(3, 200, ranges=(0, 1), windings=[0, 1], disorder={0: 0.2, 1: 0.1}, seed=0)
    np.testing.assert_allclose(winding_number(batch, method="local"), winding_number(batch, method="dense"), atol=1e-8)
    m = local_winding_marker(batch, cells=[100], method="local")
    assert m.shape == (3, 1)


def test_progress_bar_of_long_local_runs(capsys):
    chain = SSHChain(n_cells=3000, seed=0, **DIS_CHAIN)
    W = winding_number(chain, method="local", progress=True)
    assert "local windows" in capsys.readouterr().err
    assert W == winding_number(chain, method="local")  # the bar changes nothing
    assert "local windows" not in capsys.readouterr().err  # off by default


def test_strict_options_of_the_local_route():
    chain = SSHChain(n_cells=200, seed=0, **DIS_CHAIN)
    with pytest.raises(TypeError, match="valid keywords: .*local"):
        local_markers(chain, bufer=3)
    with pytest.raises(TypeError, match="valid keywords"):
        winding_number_local(chain, window=30)


@pytest.mark.parametrize("boundary", ["open", "periodic"])
def test_bonds_to_matrix_is_one_construction(boundary):
    from tntopo._bonds import bond_coo, window_blocks

    chain = SSHChain({-1: 0.2, 0: 0.7, 2: 1.0 + 0.3j}, 17, boundary, {0: 0.5, 2: 0.4}, seed=4)
    h = chain.hopping_block()
    ref = np.zeros_like(h)  # independent: the convention h[n, n - m] = bond of range m at cell n
    for k, m in enumerate(chain.ranges):
        for n in range(17):
            if boundary == "periodic" or 0 <= n - m < 17:
                ref[n, (n - m) % 17] += chain.bond_array[k, n]
    np.testing.assert_array_equal(h, ref)
    whole = window_blocks(chain.bond_array, chain.ranges, 17, boundary, [0], 17, boundary == "periodic")[0]
    np.testing.assert_array_equal(whole, ref)
    r, c, v, m = bond_coo(chain.bond_array, chain.ranges, 17, boundary)
    assert set(np.unique(m)) <= set(chain.ranges) and np.all((r - c - m) % 17 == 0)
    with pytest.raises(ValueError):
        chain.bond_array[0, 0] = 1.0  # read-only view


# --------------------------------------------------------------- winding number as a boundary sum
def _marker_mean(system, region=None):
    """The other route: every marker of the region from windows, averaged."""
    b = local._as_banded(system)[0][0]
    mask = tntopo.invariants.bulk_region(b.n_cells, b.boundary, region)
    w, _ = local._markers_banded(b, np.flatnonzero(mask), local._with_defaults(LocalOptions(check=False), "test"))
    return float(np.mean(w))


@pytest.mark.parametrize("case", [
    dict(hoppings={0: 0.6, 1: 1.0}, disorder={0: 1.0, 1: 0.5}, region=None),
    dict(hoppings={-1: 0.2, 0: 0.3, 2: 1.0 + 0.4j}, disorder={0: 0.4, 2: 0.3}, region=(100, 520)),
    dict(hoppings={0: 1.0, 1: 0.4}, disorder={0: 0.3}, region=None),  # trivial
])
def test_boundary_sum_equals_marker_mean_and_dense(case):
    chain = SSHChain(case["hoppings"], 900, disorder=case["disorder"], seed=2)
    W, info = winding_number_local(chain, case["region"], return_info=True)
    assert info.n_windows <= 8 and not info.whole_chain  # the boundary sum: a few windows, not ~N/buffer
    assert abs(W - _marker_mean(chain, case["region"])) < 1e-10
    assert abs(W - winding_number(chain, method="dense", region=case["region"])) < 1e-10


def test_boundary_sum_with_cell_positions_and_a_region_of_several_runs():
    chain = SSHChain({0: 0.5, 1: 1.0}, 700, disorder={0: 0.6}, seed=5)
    h = chain.hopping_block()
    N = h.shape[0]
    xa = np.cumsum(np.full(N, 1.3))  # cells 1.3 apart, B sites shifted inside the cell
    H = np.zeros((2 * N, 2 * N), dtype=h.dtype)
    H[:N, N:], H[N:, :N] = h, h.conj().T
    ch = ChiralHamiltonian(H, sublattice=np.r_[np.ones(N), -np.ones(N)], positions=np.r_[xa, xa + 0.4])
    W = winding_number_local(ch)
    assert abs(W - winding_number(ch, method="dense")) < 1e-10
    assert abs(W - _marker_mean(ch)) < 1e-10
    mask = np.zeros(N, bool)
    mask[100:200] = mask[300:350] = mask[500:640] = True
    W3 = winding_number_local(chain, mask)
    assert abs(W3 - winding_number(chain, method="dense", region=mask)) < 1e-10


def test_regions_at_the_chain_end_keep_the_marker_mean():
    # Q of an open topological chain pairs the edge modes of both ends: a region reaching an end sees
    # that pairing, which windows cannot hold; the route keeps the documented marker average there
    chain = SSHChain(n_cells=900, seed=2, **DIS_CHAIN)
    W, info = winding_number_local(chain, (0, 300), warn=False, return_info=True)
    assert info.n_windows > 8
    assert abs(W - _marker_mean(chain, (0, 300))) < 1e-12


@settings(max_examples=12, deadline=None)
@given(v=st.floats(0.1, 0.8), w=st.floats(1.0, 1.6), t2=st.floats(-0.3, 0.3), W0=st.floats(0.0, 0.8),
       seed=st.integers(0, 2**16), start=st.integers(90, 130), length=st.integers(40, 120))
def test_boundary_sum_property(v, w, t2, W0, seed, start, length):
    """Any gapped open chain and region away from the ends: the boundary sum is the markers' mean."""
    chain = SSHChain({0: v, 1: w, 2: t2}, 340, disorder={0: W0}, seed=seed)
    region = (start, start + length)
    W, info = winding_number_local(chain, region, local=LocalOptions(check=False), warn=False, return_info=True)
    ref = _marker_mean(chain, region)
    if info.n_windows <= 8:  # (the boundary sum ran: a region this far from the ends)
        assert abs(W - ref) < 1e-9
    else:
        assert W == ref
