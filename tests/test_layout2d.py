"""The 2D lattice layout: the Hamiltonian on its cell grid, exact and invertible, a function of H alone."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tntopo import Lattice2D
from tntopo.systems import lattice_layout, layout_channels, layout_hamiltonian, layout_index, stencil_displacements


def _random_lattice(seed, shape=(7, 6), boundary="open", reach=2, disorder=0.0):
    rng = np.random.default_rng(seed)
    onsite = rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2))
    hops = {}
    for dx in range(0, reach + 1):
        for dy in range(-reach, reach + 1):
            if (dx, dy) > (0, 0) and rng.random() < 0.7:
                hops[(dx, dy)] = rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2))
    return Lattice2D(onsite + onsite.conj().T, hops, shape, boundary, disorder=disorder, seed=seed)


@pytest.mark.parametrize("boundary", ["open", "periodic", ("periodic", "open")])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_round_trip_exact_in_float64(boundary, seed):
    lat = _random_lattice(seed, boundary=boundary, disorder=1.5)
    x = lattice_layout(lat, 2, dtype=np.float64)
    assert x.shape == (layout_channels(2, 2), 7, 6) == (200, 7, 6)
    np.testing.assert_array_equal(layout_hamiltonian(x, 2, 2), lat.hamiltonian().astype(complex))


def test_named_models_and_matrix_input():
    for lat in (Lattice2D.qwz(1.0, (8, 8)), Lattice2D.haldane(1.0, 0.3, 0.7, 0.2, (6, 9), "periodic"),
                Lattice2D.qwz(-1.5, (5, 5), disorder=2.0, seed=3)):
        x = lattice_layout(lat, 1, dtype=np.float64)
        y = lattice_layout(lat.hamiltonian(), 1, shape=lat.shape, n_orb=2, dtype=np.float64)
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(layout_hamiltonian(x, 2, 1), lat.hamiltonian().astype(complex))


def test_layout_reads_blocks_where_documented():
    lat = _random_lattice(5, shape=(6, 6), boundary="periodic")
    H = lat.hamiltonian()
    x = lattice_layout(lat, 2, dtype=np.float64).reshape(2, 25, 2, 2, 6, 6)
    D = [tuple(d) for d in stencil_displacements(2)]
    k = D.index((1, -2))
    # cell (5, 0) + (1, -2) wraps to (0, 4)
    r, c = (5 * 6 + 0) * 2 + 1, (0 * 6 + 4) * 2 + 0
    assert x[0, k, 1, 0, 5, 0] == H[r, c].real and x[1, k, 1, 0, 5, 0] == H[r, c].imag
    rows, cols = layout_index((6, 6), 2, 2)
    assert len(set(zip(rows.tolist(), cols.tolist()))) == len(rows)  # every entry of H at most once


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(1e-14, 1e-10))
def test_a_perturbation_of_H_moves_the_layout_by_as_much(seed, eps):
    lat = _random_lattice(seed % 1000, shape=(6, 5))
    H = lat.hamiltonian()
    rng = np.random.default_rng(seed)
    dH = rng.normal(size=H.shape) * (H != 0)
    dH = eps * (dH + dH.T) / 2
    x0 = lattice_layout(H, 2, shape=(6, 5), n_orb=2, dtype=np.float64)
    x1 = lattice_layout(H + dH, 2, shape=(6, 5), n_orb=2, dtype=np.float64)
    rounding = 4 * np.finfo(float).eps * np.max(np.abs(H))  # (H + dH) - H is dH up to rounding
    assert np.max(np.abs(x1 - x0)) <= np.max(np.abs(dH)) + rounding


def test_errors_name_the_fix():
    lat = _random_lattice(0, reach=2)
    with pytest.raises(ValueError, match="beyond the stencil of range 1; use stencil >= 2"):
        lattice_layout(lat, 1)
    with pytest.raises(ValueError, match="too small for a stencil of range 3"):
        lattice_layout(lat, 3)
    with pytest.raises(ValueError, match="stencil must be an integer"):
        lattice_layout(lat, 1.5)
    with pytest.raises(TypeError, match="needs shape"):
        lattice_layout(lat.hamiltonian(), 2)
    with pytest.raises(TypeError, match="read from the Lattice2D"):
        lattice_layout(lat, 2, shape=(7, 6))
    with pytest.raises(ValueError, match="has shape"):
        layout_hamiltonian(np.zeros((10, 7, 6)), 2, 2)
    with pytest.raises(ValueError, match="dimension"):
        lattice_layout(np.eye(10), 2, shape=(7, 6), n_orb=2)
