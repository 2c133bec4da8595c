"""Building chains and lattices from PythTB models (issue 25): pythtb is optional; a duck-typed fake
model tests the reader everywhere, the real pythtb (when installed) pins the conventions against its
own finite-sample Hamiltonians and Chern numbers."""
import numpy as np
import pytest

import tntopo
from tntopo import ChiralSymmetryError, Lattice2D, SSHChain


class FakeModel:
    """The attributes of a pythtb.tb_model that tntopo reads (``<i, 0|H|j, R> = amp``)."""

    def __init__(self, dim_k, norb, site_energies=None):
        self._dim_k, self._norb, self._nspin = dim_k, norb, 1
        self._per = list(range(dim_k))
        self._site_energies = np.zeros(norb) if site_energies is None else np.asarray(site_energies, float)
        self._hoppings = []

    def set_hop(self, amp, i, j, R):
        self._hoppings.append([amp, i, j, np.asarray(R)])


def test_chain_from_a_fake_model_follows_the_hopping_convention():
    m = FakeModel(1, 2)
    m.set_hop(0.3, 0, 1, [0])          # <A_0|H|B_0> = t_0
    m.set_hop(1.0 + 0.2j, 1, 0, [1])   # <B_0|H|A_1> -> <A_1|H|B_0> = conj: t_1
    m.set_hop(0.4j, 0, 1, [-2])        # <A_0|H|B_-2> -> t_2
    chain = SSHChain.from_pythtb(m, 30, "periodic")
    assert chain.hoppings == {0: 0.3, 1: 1.0 - 0.2j, 2: 0.4j}
    ref = SSHChain({0: 0.3, 1: 1.0 - 0.2j, 2: 0.4j}, 30, "periodic")
    assert np.array_equal(chain.hamiltonian(), ref.hamiltonian())
    swapped = SSHChain.from_pythtb(m, 30, "periodic", sublattice=(1, 0))
    assert tntopo.winding_number(swapped) == -tntopo.winding_number(chain) == -1


def test_chain_from_pythtb_refuses_what_is_not_a_chiral_chain():
    m = FakeModel(1, 2, site_energies=[0.1, -0.1])
    m.set_hop(1.0, 0, 1, [1])
    with pytest.raises(ChiralSymmetryError, match="site energies"):
        SSHChain.from_pythtb(m, 10)
    m = FakeModel(1, 2)
    m.set_hop(1.0, 0, 1, [1])
    m.set_hop(0.2, 0, 0, [1])
    with pytest.raises(ChiralSymmetryError, match="A to A"):
        SSHChain.from_pythtb(m, 10)
    with pytest.raises(ValueError, match="periodic in 1 direction"):
        Lattice2D.from_pythtb(m, (4, 4))
    with pytest.raises(ValueError, match="three|exactly two"):
        SSHChain.from_pythtb(FakeModel(1, 3), 10)
    with pytest.raises(ValueError, match="not a PythTB model"):
        SSHChain.from_pythtb(object(), 10)
    with pytest.raises(TypeError, match="valid keywords"):
        SSHChain.from_pythtb(m, n_cell=10)


def _qwz_fake(mass):
    """QWZ as PythTB hoppings: T_(1,0) = (sz + i sx)/2 is <r + x|H|r>, i.e. <0|H|-x> in PythTB's form."""
    sx = np.array([[0, 1], [1, 0]], complex)
    sy = np.array([[0, -1j], [1j, 0]])
    sz = np.diag([1.0, -1.0])
    m = FakeModel(2, 2, site_energies=[mass, -mass])
    for R, T in (([-1, 0], (sz + 1j * sx) / 2), ([0, -1], (sz + 1j * sy) / 2)):
        for i in range(2):
            for j in range(2):
                if T[i, j] != 0:
                    m.set_hop(T[i, j], i, j, R)
    return m


@pytest.mark.parametrize("mass", [1.0, -1.0, 3.0])
def test_lattice_from_a_fake_model_is_the_same_hamiltonian(mass):
    lat = Lattice2D.from_pythtb(_qwz_fake(mass), (6, 5), ("periodic", "open"))
    ref = Lattice2D.qwz(mass, (6, 5), ("periodic", "open"))
    assert np.allclose(lat.hamiltonian(), ref.hamiltonian(), atol=1e-14)
    assert tntopo.chern_number(Lattice2D.from_pythtb(_qwz_fake(mass), (8, 8), "periodic"), "fhs") == \
        tntopo.chern_number(Lattice2D.qwz(mass, (8, 8), "periodic"), "fhs")


# ----------------------------------------------------------------------------------- real pythtb
def _pythtb():
    return pytest.importorskip("pythtb")


def test_chain_matches_pythtb_finite_chain():
    pythtb = _pythtb()
    m = pythtb.tb_model(1, 1, [[1.0]], [[0.0], [0.5]])
    m.set_hop(0.4, 0, 1, [0])
    m.set_hop(1.0 + 0.3j, 1, 0, [1])
    m.set_hop(0.2j, 0, 1, [1])
    N = 12
    chain = SSHChain.from_pythtb(m, N)
    fin = m.cut_piece(N, 0, glue_edgs=False)   # sites A_0 B_0 A_1 B_1 ...
    H = fin._gen_ham()
    order = np.ravel(np.c_[np.arange(N), N + np.arange(N)])
    assert np.allclose(H, chain.hamiltonian()[np.ix_(order, order)], atol=1e-14)


def _haldane(pythtb, delta, t, t2):
    """The Haldane model of the PythTB examples (haldane.py)."""
    m = pythtb.tb_model(2, 2, [[1.0, 0.0], [0.5, np.sqrt(3.0) / 2.0]], [[1 / 3, 1 / 3], [2 / 3, 2 / 3]])
    m.set_onsite([-delta, delta])
    m.set_hop(t, 0, 1, [0, 0])
    m.set_hop(t, 1, 0, [1, 0])
    m.set_hop(t, 1, 0, [0, 1])
    c = t2 * np.exp(1j * np.pi / 2)
    m.set_hop(c, 0, 0, [1, 0])
    m.set_hop(c, 1, 1, [1, -1])
    m.set_hop(c, 1, 1, [0, 1])
    m.set_hop(np.conj(c), 1, 1, [1, 0])
    m.set_hop(np.conj(c), 0, 0, [1, -1])
    m.set_hop(np.conj(c), 0, 0, [0, 1])
    return m


@pytest.mark.parametrize("delta", [0.2, 0.7])
def test_lattice_matches_pythtb_hamiltonian_and_chern_number(delta):
    pythtb = _pythtb()
    m = _haldane(pythtb, delta, -1.0, 0.15)
    Lx, Ly = 5, 4
    lat = Lattice2D.from_pythtb(m, (Lx, Ly))
    fin = m.cut_piece(Lx, 0, glue_edgs=False).cut_piece(Ly, 1, glue_edgs=False)
    # PythTB's finite orbital order: (y, x, orb); tntopo's: (x, y, orb)
    order = np.array([(x * Ly + y) * 2 + o for y in range(Ly) for x in range(Lx) for o in range(2)])
    assert np.allclose(fin._gen_ham(), lat.hamiltonian()[np.ix_(order, order)], atol=1e-14)
    # an independent Chern number: PythTB's Berry flux of the lower band over its reduced zone. PythTB
    # takes Berry phases as -Im ln prod <u_k|u_k+1>, the opposite sign of tntopo's (QWZ: C = sign(m),
    # docs/conventions.rst): its flux is -C (checked on QWZ below, where tntopo's sign is documented)
    C = tntopo.chern_number(Lattice2D.from_pythtb(m, (12, 12), "periodic"), "fhs")
    assert C == -_pythtb_chern(m) and (C != 0) == (delta < 3 * np.sqrt(3) * 0.15)


def _pythtb_chern(model):
    import pythtb

    w = pythtb.wf_array(model, [31, 31])
    w.solve_on_grid([0.0, 0.0])
    return int(np.round(w.berry_flux([0]) / (2 * np.pi)))


@pytest.mark.parametrize("mass", [1.0, -1.0, 2.5])
def test_pythtb_chern_sign_is_opposite_to_tntopo_on_qwz(mass):
    pythtb = _pythtb()
    fake = _qwz_fake(mass)
    m = pythtb.tb_model(2, 2, [[1.0, 0.0], [0.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]])
    m.set_onsite([mass, -mass])
    for amp, i, j, R in fake._hoppings:
        m.set_hop(amp, i, j, R, mode="add")
    lat = Lattice2D.from_pythtb(m, (10, 10), "periodic")
    assert np.allclose(lat.hamiltonian(), Lattice2D.qwz(mass, (10, 10), "periodic").hamiltonian(), atol=1e-14)
    C = tntopo.chern_number(lat, "fhs")
    assert C == (int(np.sign(mass)) if abs(mass) < 2 else 0) == -_pythtb_chern(m)
