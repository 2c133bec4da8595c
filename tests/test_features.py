"""Well-posed network inputs: wavefunctions are a function of H (issue 19, "the input is not a function of H")."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tntopo
from tntopo.data import wavefunctions
from tntopo.data.features import DEGENERACY_TOL, flat_band, near_degenerate, spectra

CONTRACT = 1e-6  # a 1e-12 perturbation of the bonds moves the features by at most this


def _perturb(h, eps=1e-12, seed=0):
    rng = np.random.default_rng(seed)
    return h + eps * rng.standard_normal(h.shape) * (h != 0)


def _dangling(h):
    h = np.array(h, copy=True)
    h[..., 0, :] = 0.0   # A_0 cut off
    h[..., :, -1] = 0.0  # B_{N-1} cut off
    return h


CASES = {
    # exactly degenerate +-k pairs
    "ring": lambda: tntopo.SSHChain({0: 0.5, 1: 1.0}, n_cells=24, boundary="periodic").hopping_block(),
    # edge modes split by ~1e-13
    "open_ssh": lambda: tntopo.SSHChain({0: 0.3, 1: 1.0}, n_cells=24).hopping_block(),
    "open_longer_range": lambda: tntopo.SSHChain({0: 0.2, 1: 0.6, 2: 0.9}, n_cells=24).hopping_block(),
    # an exactly degenerate zero-mode pair
    "dangling": lambda: _dangling(tntopo.SSHChain({0: 1.0, 1: 0.4}, n_cells=24).hopping_block()),
    # flat bands: (N-1)-fold degenerate levels
    "dimerized": lambda: tntopo.SSHChain({0: 0.0, 1: 1.0}, n_cells=16).hopping_block(),
    "complex_ring": lambda: tntopo.SSHChain({0: 0.4, 1: 1.0j}, n_cells=20, boundary="periodic").hopping_block(),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rounding_level_perturbation_does_not_move_the_input(name):
    h = CASES[name]()
    x = wavefunctions(h)
    for seed in range(3):
        assert np.abs(wavefunctions(_perturb(h, seed=seed)) - x).max() <= CONTRACT


@pytest.mark.parametrize("name", ["ring", "open_ssh", "dangling", "dimerized"])
def test_cases_are_degenerate_so_the_contract_is_tested(name):
    # the contract above would hold trivially on chains without (near-)degenerate levels
    assert near_degenerate(CASES[name]()) >= 2


def test_without_canonical_basis_the_input_moves():
    # the first edition's raw eigh columns: the same perturbation moves them by O(1) -- the test can fail
    from tntopo.data.features import hamiltonians

    h = CASES["ring"]()
    raw = [np.abs(np.linalg.eigh(hamiltonians(hh))[1]) for hh in (h, _perturb(h))]
    assert np.abs(raw[0] - raw[1]).max() > 1e-3


def test_study_distribution_batch():
    b = tntopo.sample_chains(200, 24, (-1, 0, 1, 2), windings=[1], min_gap=0.4, seed=1).hopping_blocks()
    x = wavefunctions(b)
    assert (near_degenerate(b) > 0).sum() > 10  # machine-degenerate edge modes are common there
    assert np.abs(wavefunctions(_perturb(b)) - x).max() <= CONTRACT


def test_columns_are_orthonormal_and_diagonalize_H_up_to_group_spread():
    h = np.concatenate([CASES["ring"]()[None], CASES["open_ssh"]()[None]])
    E, psi = spectra(h)
    eye = np.broadcast_to(np.eye(48), psi.shape)
    np.testing.assert_allclose(np.swapaxes(psi, 1, 2).conj() @ psi, eye, atol=1e-10)
    from tntopo.data.features import hamiltonians

    H = hamiltonians(h)
    HE = np.einsum("bin,bij,bjm->bnm", psi.conj(), H, psi)
    spread = DEGENERACY_TOL * np.abs(E).max(axis=1)[:, None, None]
    assert np.all(np.abs(HE - np.eye(48) * E[:, :, None]) <= spread + 1e-10)


def test_zero_modes_are_chiral_polarized_b_first():
    h = CASES["dangling"]()
    E, psi = spectra(h)
    N = 24
    gamma = np.r_[np.ones(N), -np.ones(N)]
    for col, sign in ((N - 1, -1), (N, +1)):  # lower half: the B-polarized mode
        pol = np.sum(gamma * np.abs(psi[:, col]) ** 2)
        assert pol == pytest.approx(sign, abs=1e-10)
    Q = flat_band(psi)
    np.testing.assert_allclose(Q @ Q, np.eye(2 * N), atol=1e-10)  # still a flat band


@settings(max_examples=25, deadline=None)
@given(st.floats(0.05, 0.95), st.floats(-0.9, 0.9), st.integers(8, 20), st.sampled_from(["open", "periodic"]))
def test_contract_property(v, u, N, boundary):
    h = tntopo.SSHChain({0: v, 1: 1.0, 2: u}, n_cells=N, boundary=boundary).hopping_block()
    x = wavefunctions(h)
    assert np.abs(wavefunctions(_perturb(h, seed=N)) - x).max() <= CONTRACT


def test_scale_and_gauge_invariance_of_the_rule():
    h = CASES["open_longer_range"]()
    np.testing.assert_allclose(wavefunctions(3.0 * h), wavefunctions(h), atol=1e-10)


def test_bad_tolerance():
    with pytest.raises(ValueError, match="degeneracy_tol"):
        spectra(CASES["ring"](), degeneracy_tol=-1.0)


def test_input_winding_is_the_dense_invariant_where_no_zero_modes_are_grouped():
    b = tntopo.sample_chains(60, 16, (-1, 0, 1, 2), windings=[0, 1], min_gap=0.4, seed=2).hopping_blocks()
    nd = near_degenerate(b) > 0
    from tntopo.data.features import input_winding

    w_in = input_winding(wavefunctions(b))
    w_dense = tntopo.winding_number(b, method="dense")
    np.testing.assert_allclose(w_in[~nd], w_dense[~nd], atol=1e-10)
    assert np.abs(w_in - w_dense).max() < 0.05  # grouped zero modes: the edge modes' weight in the bulk only
