"""Lattice2D: conventions, Bloch consistency, disorder reproducibility, strict arguments."""
import numpy as np
import pytest

from tntopo import Lattice2D

SX = np.array([[0, 1], [1, 0]], dtype=complex)
SY = np.array([[0, -1j], [1j, 0]])
SZ = np.diag([1.0, -1.0]).astype(complex)


def _grid_spectrum(lat):
    Lx, Ly = lat.shape
    ks = [(2 * np.pi * i / Lx, 2 * np.pi * j / Ly) for i in range(Lx) for j in range(Ly)]
    return np.sort(np.concatenate([np.linalg.eigvalsh(lat.bloch(*k)) for k in ks]))


def test_basis_index_and_hopping_convention():
    lat = Lattice2D.qwz(0.3, (4, 5))
    H = lat.hamiltonian()
    assert H.shape == (40, 40) and lat.dim == 40 and lat.n_sites == 20 and lat.n_orb == 2
    assert np.allclose(H, H.conj().T)
    for (dx, dy), T in lat.hoppings.items():
        i = lat.basis_index(1, 2)
        j = lat.basis_index(1 + dx, 2 + dy)
        assert np.allclose(H[j:j + 2, i:i + 2], T)  # <r + d|H|r> = T
    assert lat.basis_index(3, 4, 1) == (3 * 5 + 4) * 2 + 1
    i = lat.basis_index(2, 3)
    assert np.allclose(H[i:i + 2, i:i + 2], 0.3 * SZ)


def test_qwz_bloch_formula():
    lat = Lattice2D.qwz(-0.7, (6, 6))
    kx, ky = 0.37, -1.21
    ref = np.sin(kx) * SX + np.sin(ky) * SY + (-0.7 + np.cos(kx) + np.cos(ky)) * SZ
    assert np.allclose(lat.bloch(kx, ky), ref)
    k = np.linspace(0, 1, 5)
    assert lat.bloch(k[:, None], k[None, :]).shape == (5, 5, 2, 2)


@pytest.mark.parametrize(
    "lat",
    [
        Lattice2D.qwz(1.3, (4, 3), boundary="periodic"),
        Lattice2D.haldane(1.0, 0.15, 0.9, 0.2, (3, 4), boundary="periodic"),
    ],
)
def test_periodic_spectrum_equals_bloch(lat):
    assert np.allclose(np.linalg.eigvalsh(lat.hamiltonian()), _grid_spectrum(lat))


def test_sparse_equals_dense_and_boundaries():
    lat = Lattice2D.qwz(1.0, (5, 4), boundary=("periodic", "open"), disorder=1.0, seed=3)
    assert np.allclose(lat.hamiltonian(sparse=True).toarray(), lat.hamiltonian())
    assert lat.boundary == ("periodic", "open") and not lat.is_periodic
    H = lat.hamiltonian()
    a, b = lat.basis_index(4, 1), lat.basis_index(0, 1)
    assert np.abs(H[b:b + 2, a:a + 2]).max() > 0  # wraps along x
    a, b = lat.basis_index(1, 3), lat.basis_index(1, 0)
    assert np.abs(H[b:b + 2, a:a + 2]).max() == 0  # open along y


def test_disorder_reproducible_and_per_site():
    a = Lattice2D.qwz(1.0, (6, 6), disorder=2.0, seed=7)
    b = Lattice2D.qwz(1.0, (6, 6), disorder=2.0, seed=7)
    c = Lattice2D.qwz(1.0, (6, 6), disorder=2.0, seed=8)
    assert np.array_equal(a.hamiltonian(), b.hamiltonian())  # bitwise
    assert not np.array_equal(a.onsite_energies, c.onsite_energies)
    e = a.onsite_energies
    assert e.shape == (6, 6) and np.all(np.abs(e) <= 1.0)
    H = a.hamiltonian() - Lattice2D.qwz(1.0, (6, 6)).hamiltonian()
    assert np.allclose(np.diag(H), np.repeat(e.ravel(), 2))  # same on every orbital of a site
    assert np.array_equal(Lattice2D.qwz(1.0, (6, 6), disorder=2.0, seed=a.seed).onsite_energies, e)
    ss = np.random.SeedSequence(7)
    assert np.array_equal(Lattice2D.qwz(1.0, (6, 6), disorder=2.0, seed=ss).onsite_energies, e)
    assert np.array_equal(a.with_boundary("periodic").onsite_energies, e)
    assert a.is_clean is False and Lattice2D.qwz(1.0, (6, 6)).is_clean


def test_positions_custom_and_area():
    lat = Lattice2D.qwz(1.0, (3, 4))
    p = lat.positions()
    assert p.shape == (12, 2) and np.allclose(p[lat.basis_index(2, 1) // 2], [2, 1])
    assert lat.positions(per_orbital=True).shape == (24, 2) and lat.cell_area == 1.0
    x, y = np.meshgrid(np.arange(3), np.arange(4), indexing="ij")
    pos = np.stack([2 * x + 0.5 * y, 1.5 * y], axis=-1)
    lat2 = Lattice2D.qwz(1.0, (3, 4), positions=pos)
    assert np.allclose(lat2.positions(), pos.reshape(-1, 2)) and np.isclose(lat2.cell_area, 3.0)


def test_window_is_submatrix():
    lat = Lattice2D.qwz(1.0, (6, 5), boundary=("periodic", "open"), disorder=1.0, seed=2)
    H = lat.hamiltonian()
    xs, ys = np.arange(4, 9), np.arange(1, 4)
    idx = [lat.basis_index(x % 6, y, o) for x in xs for y in ys for o in range(2)]
    assert np.array_equal(lat.window(xs, ys).hamiltonian(), H[np.ix_(idx, idx)])


def test_haldane_bloch_matches_definition():
    t1, t2, phi, M = 1.0, 0.2, 0.8, 0.3
    lat = Lattice2D.haldane(t1, t2, phi, M, (4, 4))
    kx, ky = 0.4, 1.1
    bs = [(1, 0), (0, -1), (-1, 1)]
    s = sum(np.sin(kx * b[0] + ky * b[1]) for b in bs)
    c = sum(np.cos(kx * b[0] + ky * b[1]) for b in bs)
    f = t1 * (1 + np.exp(-1j * (kx - ky)) + np.exp(1j * ky))  # <B|h|A>
    ref = 2 * t2 * np.cos(phi) * c * np.eye(2) + (M - 2 * t2 * np.sin(phi) * s) * SZ
    ref = ref + np.array([[0, np.conj(f)], [f, 0]])
    assert np.allclose(lat.bloch(kx, ky), ref)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(onsite=[[0, 1], [0, 0]], hoppings={}, shape=(4, 4)), "not Hermitian"),
        (dict(onsite=SZ, hoppings={(0, 0): SZ}, shape=(4, 4)), "onsite"),
        (dict(onsite=SZ, hoppings={(5, 0): SZ}, shape=(4, 4)), "does not fit"),
        (dict(onsite=SZ, hoppings={(1, 0): np.eye(3)}, shape=(4, 4)), "n_orb"),
        (dict(onsite=SZ, hoppings={(1.5, 0): SZ}, shape=(4, 4)), "integer"),
        (dict(onsite=SZ, hoppings={}, shape=(4, 0)), "at least 1"),
        (dict(onsite=SZ, hoppings={}, shape=4), "pair"),
        (dict(onsite=SZ, hoppings={}, shape=(4, 4), boundary="ring"), "boundary"),
        (dict(onsite=SZ, hoppings={}, shape=(4, 4), disorder=-1), "disorder"),
        (dict(onsite=SZ, hoppings={}, shape=(4, 4), seed=-1), "seed"),
        (dict(onsite=SZ, hoppings={}, shape=(4, 4), positions=np.zeros((3, 2))), "positions"),
        (dict(onsite=[[np.nan]], hoppings={}, shape=(4, 4)), "NaN"),
        (dict(onsite=SZ, hoppings=[SZ], shape=(4, 4)), "must be a dict"),
        (dict(onsite=SZ, hoppings={(1, 0): [[np.inf, 0], [0, 0]]}, shape=(4, 4)), r"hoppings\[\(1, 0\)\] contains NaN"),
        (dict(onsite=SZ, hoppings={}, shape=(4, 4), disorder="strong"), "non-negative number"),
        (dict(onsite=SZ, hoppings={}, shape=(4, 4), disorder=np.inf), "finite"),
        (dict(onsite=SZ, hoppings={}, shape=(4, 4), positions=np.full((4, 4, 2), np.nan)), "NaN or inf"),
        (dict(onsite=SZ, hoppings={}, shape=(4, 4), positions=np.zeros((4, 4, 2))), "degenerate"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Lattice2D(**kwargs)


def test_strict_keywords_and_bloch_needs_clean():
    with pytest.raises(TypeError):
        Lattice2D.qwz(1.0, (4, 4), disorde=1.0)
    with pytest.raises(TypeError):
        Lattice2D(SZ, {}, (4, 4), colour="red")
    with pytest.raises(ValueError, match="clean"):
        Lattice2D.qwz(1.0, (4, 4), disorder=1.0, seed=0).bloch(0.0, 0.0)
    with pytest.raises(ValueError, match="m must be"):
        Lattice2D.qwz("x", (4, 4))
    with pytest.raises(ValueError, match="m = nan must be finite"):
        Lattice2D.qwz(float("nan"), (4, 4))
    with pytest.raises(ValueError, match="t2 = inf must be finite"):
        Lattice2D.haldane(1.0, float("inf"), 0.5, 0.0, (4, 4))
    with pytest.raises(ValueError, match="phi must be a real number"):
        Lattice2D.haldane(1.0, 0.3, "pi", 0.0, (4, 4))
    assert "qwz" in repr(Lattice2D.qwz(1.0, (4, 4)))
