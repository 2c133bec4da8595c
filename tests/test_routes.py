"""tntopo.invariants.resolve_route: the automatic choice of a route, written once, is the route that runs."""
import warnings

import numpy as np
import pytest

import tntopo
from tntopo.invariants import Route, resolve_route
from tntopo.invariants._routes import AUTO_LOCAL_CELLS, AUTO_LOCAL_DIM


def _quiet(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tntopo.GaplessWarning)
        return fn(*a, **kw)


CHAINS = {
    "clean": (tntopo.SSHChain({0: 0.5, 1: 1.0}, n_cells=40), "bloch"),
    "clean gapless": (tntopo.SSHChain({0: 1.0, 1: 1.0}, n_cells=40), "dense"),
    "disordered ring": (tntopo.SSHChain({0: 0.6, 1: 1.0}, n_cells=40, disorder={0: 1.0}, boundary="periodic", seed=3),
                        "twisted"),
    "disordered open": (tntopo.SSHChain({0: 0.6, 1: 1.0}, n_cells=40, disorder={0: 1.0}, seed=3), "dense"),
    "long disordered open": (tntopo.SSHChain({0: 0.6, 1: 1.0}, n_cells=AUTO_LOCAL_CELLS + 1, disorder={0: 0.5},
                                             seed=3), "local"),
}


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_winding_auto_runs_the_route_it_reports(name):
    chain, expected = CHAINS[name]
    route = resolve_route(chain)
    assert isinstance(route, Route) and route.invariant == "winding" and route.requested == "auto"
    assert route.method == expected and route.exact == (expected in ("bloch", "twisted")) and route.reason
    W_auto = _quiet(tntopo.winding_number, chain)
    W_route = _quiet(tntopo.winding_number, chain, method=route.method)
    assert W_auto == W_route  # the same computation, bit for bit


def test_winding_raw_blocks_hamiltonians_and_batches():
    chain = CHAINS["disordered open"][0]
    assert resolve_route(chain.hopping_block()).method == "dense"
    assert resolve_route(np.zeros((2, AUTO_LOCAL_CELLS + 1, AUTO_LOCAL_CELLS + 1))).method == "local"
    H = tntopo.ChiralHamiltonian(chain.hamiltonian())
    assert resolve_route(H).method == "dense"
    batch = tntopo.sample_chains(4, n_cells=30, seed=1)
    route = resolve_route(batch)
    assert route.method == ("bloch" if not batch.disorder else "dense")
    assert route.fallback == ("dense" if not batch.disorder else "")
    np.testing.assert_array_equal(_quiet(tntopo.winding_number, batch),
                                  [_quiet(tntopo.winding_number, batch[i]) for i in range(len(batch))])


def test_explicit_methods_are_reported_as_given_and_checked():
    chain = CHAINS["clean"][0]
    r = resolve_route(chain, "dense")
    assert (r.method, r.requested, r.exact, r.reason) == ("dense", "dense", False, "")
    assert resolve_route(chain, "twisted").exact
    with pytest.raises(ValueError, match="method"):
        resolve_route(chain, "fhs")  # a Chern method for a chain
    with pytest.raises(ValueError, match="method"):
        resolve_route(tntopo.Lattice2D.qwz(1.0, (6, 6)), "bloch")


LATTICES = {
    "clean": (tntopo.Lattice2D.qwz(1.0, (8, 8)), "fhs"),
    "disordered torus": (tntopo.Lattice2D.qwz(1.0, (8, 8), disorder=1.0, seed=0, boundary="periodic"), "bott"),
    "disordered open": (tntopo.Lattice2D.qwz(1.0, (8, 8), disorder=1.0, seed=0, boundary="open"), "marker"),
}


@pytest.mark.parametrize("name", sorted(LATTICES))
def test_chern_auto_runs_the_route_it_reports(name):
    lat, expected = LATTICES[name]
    route = resolve_route(lat)
    assert route.invariant == "chern" and route.method == expected and route.exact == (expected in ("fhs", "bott"))
    assert _quiet(tntopo.chern_number, lat) == _quiet(tntopo.chern_number, lat, method=route.method)


def test_chern_large_open_samples_and_raw_hamiltonians():
    big = tntopo.Lattice2D.qwz(1.0, (60, 60), disorder=1.0, seed=0, boundary="open")
    assert big.dim > AUTO_LOCAL_DIM and resolve_route(big).method == "local"  # decided without diagonalizing
    lat = LATTICES["disordered torus"][0]
    H = lat.hamiltonian()
    H = H.toarray() if hasattr(H, "toarray") else H
    assert resolve_route(H, lattice=lat).method == "bott"
    assert resolve_route([lat, lat]).method == "bott"
    assert resolve_route(H, lattice=lat.with_boundary("open")).method == "marker"
    with pytest.raises(ValueError, match="lattice="):
        resolve_route(H, lattice="not a lattice")
