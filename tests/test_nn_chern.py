"""tntopo.nn.chern (differentiable local Chern marker) and tntopo.nn.TopoNet2D."""
import copy
import io
import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tntopo.systems.lattice2d import Lattice2D
from tntopo.nn import functional as F
from tntopo.nn.chern import bulk_window_2d, chern_number, local_chern_marker
from tntopo.nn.toponet2d import TopoNet2D

SX = np.array([[0, 1], [1, 0]], complex)
SY = np.array([[0, -1j], [1j, 0]])
SZ = np.diag([1.0, -1.0]).astype(complex)


# small complex matmuls with 2 OpenMP threads on a loaded 2-core machine are ~1000x slower
pytestmark = pytest.mark.usefixtures("one_thread")


def _qwz_own(m, Lx, Ly, energies=None):
    """Independent open-boundary QWZ builder (basis (x*Ly + y)*2 + orb, <r+d|H|r> = T_d)."""
    n = Lx * Ly * 2
    H = np.zeros((n, n), complex)
    idx = lambda x, y: (x * Ly + y) * 2  # noqa: E731
    Tx, Ty = (SZ + 1j * SX) / 2, (SZ + 1j * SY) / 2
    for x in range(Lx):
        for y in range(Ly):
            i = idx(x, y)
            H[i:i + 2, i:i + 2] = m * SZ + (0 if energies is None else energies[x, y]) * np.eye(2)
            for (dx, dy), T in (((1, 0), Tx), ((0, 1), Ty)):
                if x + dx < Lx and y + dy < Ly:
                    j = idx(x + dx, y + dy)
                    H[j:j + 2, i:i + 2] = T
                    H[i:i + 2, j:j + 2] = T.conj().T
    return H


def _np_marker(H, shape, fermi_level=0.0, positions=None):
    """Reference: eigh, P = U_occ U_occ^dagger, 4 pi Im diag(P X Q Y P) summed over orbitals."""
    Lx, Ly = shape
    n = H.shape[-1]
    no = n // (Lx * Ly)
    lam, U = np.linalg.eigh(H)
    occ = U[:, lam < fermi_level]
    P = occ @ occ.conj().T
    Q = np.eye(n) - P
    if positions is None:
        gx, gy = np.meshgrid(np.arange(Lx), np.arange(Ly), indexing="ij")
        positions = np.stack([gx.ravel(), gy.ravel()], 1)
    X = np.diag(np.repeat(positions[:, 0], no).astype(float))
    Y = np.diag(np.repeat(positions[:, 1], no).astype(float))
    c = 4 * np.pi * np.imag(np.diag(P @ X @ Q @ Y @ P))
    return c.reshape(Lx, Ly, no).sum(-1)


def _batch(ms, L, W=1.0, model="qwz"):
    lats = [Lattice2D.qwz(m, (L, L), disorder=W, seed=i) for i, m in enumerate(ms)]
    return lats, torch.stack([torch.as_tensor(lat.hamiltonian()).to(torch.complex128) for lat in lats])


# ------------------------------------------------------------------------------ the marker
def test_own_builder_matches_lattice2d_and_known_chern_numbers():
    for m, C in ((1.0, 1), (-1.0, -1), (3.0, 0), (-3.0, 0)):
        H = _qwz_own(m, 8, 8)
        np.testing.assert_allclose(H, Lattice2D.qwz(m, (8, 8)).hamiltonian(), atol=1e-14)
        got = chern_number(torch.as_tensor(H), (8, 8)).item()
        assert abs(got - C) < 0.05, (m, got)


@pytest.mark.parametrize("W", [0.0, 1.5])
def test_marker_matches_numpy_reference(W):
    rng = np.random.default_rng(3)
    E = W * (rng.random((6, 5)) - 0.5)
    H = _qwz_own(0.8, 6, 5, E)
    ref = _np_marker(H, (6, 5))
    got = local_chern_marker(torch.as_tensor(H), (6, 5))
    assert got.shape == (6, 5) and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-11)
    # batched, non-zero Fermi level, custom positions (a deformed sample)
    pos = np.stack(np.meshgrid(np.arange(6.0), np.arange(5.0), indexing="ij"), -1).reshape(-1, 2)
    pos = pos + 0.1 * rng.standard_normal(pos.shape)
    Hb = torch.as_tensor(np.stack([H, _qwz_own(-1.3, 6, 5, E)]))
    got = local_chern_marker(Hb, (6, 5), fermi_level=0.3, positions=pos)
    for b in range(2):
        np.testing.assert_allclose(got[b].numpy(), _np_marker(Hb[b].numpy(), (6, 5), 0.3, pos), atol=1e-11)


def test_lattice_input_haldane_and_single_precision():
    lat = Lattice2D.haldane(1.0, 0.3, 0.5 * np.pi, 0.2, (8, 8), disorder=0.5, seed=1)
    c = local_chern_marker(lat)
    np.testing.assert_allclose(c.numpy(), _np_marker(lat.hamiltonian(), lat.shape), atol=1e-11)
    assert chern_number(lat).item() == pytest.approx(-1, abs=0.15)  # C = -sign(t2 sin phi)
    c32 = local_chern_marker(torch.as_tensor(lat.hamiltonian()).to(torch.complex64), lat.shape)
    assert c32.dtype == torch.float32
    np.testing.assert_allclose(c32.numpy(), c.numpy(), atol=2e-4)


def test_matches_core_dense_marker_and_chern_number():
    core = pytest.importorskip("tntopo.invariants.chern", reason="the numpy Chern routes are not available")
    lat = Lattice2D.qwz(-1.2, (8, 7), disorder=1.0, seed=5)
    np.testing.assert_allclose(local_chern_marker(lat).numpy(), np.asarray(core.local_chern_marker(lat, method="dense")),
                               atol=1e-10)
    lats, H = _batch([1.0, -1.0, 2.5], 8)
    ref = core.chern_number(lats, method="marker", warn=False)
    torch.testing.assert_close(chern_number(H, (8, 8)), torch.as_tensor(ref), atol=1e-10, rtol=0)
    net = TopoNet2D((8, 8), init="exact", dtype=torch.float64)
    np.testing.assert_allclose(net(H).detach().numpy(), ref, atol=1e-10)
    reg = (slice(1, 5), slice(2, 7))
    ref = core.chern_number(lats, method="marker", region=reg, warn=False)
    torch.testing.assert_close(chern_number(H, (8, 8), region=reg), torch.as_tensor(ref), atol=1e-10, rtol=0)


def test_bulk_window_and_regions():
    R = bulk_window_2d((8, 6))
    assert R.shape == (8, 6) and R.sum() == pytest.approx(1.0)
    assert np.count_nonzero(R) == 4 * 4 and R[2, 1] > 0 and R[1, 1] == 0
    assert np.count_nonzero(bulk_window_2d((8, 6), 1)) == 6 * 4
    assert np.count_nonzero(bulk_window_2d((8, 6), (3, 0))) == 2 * 6
    mask = np.zeros((8, 6), bool)
    mask[4, 3] = True
    H = torch.as_tensor(_qwz_own(1.0, 8, 6))
    c = local_chern_marker(H, (8, 6))
    assert chern_number(H, (8, 6), region=mask).item() == pytest.approx(c[4, 3].item(), abs=1e-14)
    assert chern_number(H, (8, 6)).item() == pytest.approx((c.numpy() * R).sum(), abs=1e-14)
    # whole open sample: the marker sums to zero
    assert abs(c.sum().item()) < 1e-10


def test_invariances_origin_and_time_reversal():
    rng = np.random.default_rng(0)
    H = _qwz_own(1.1, 6, 6, 1.0 * (rng.random((6, 6)) - 0.5))
    Ht = torch.as_tensor(H)
    pos = np.stack(np.meshgrid(np.arange(6.0), np.arange(6.0), indexing="ij"), -1).reshape(-1, 2)
    c0 = local_chern_marker(Ht, (6, 6))
    c1 = local_chern_marker(Ht, (6, 6), positions=pos + np.array([3.7, -11.2]))
    torch.testing.assert_close(c0, c1, atol=1e-10, rtol=0)
    ctr = local_chern_marker(Ht.conj(), (6, 6))  # time reversal: C -> -C
    torch.testing.assert_close(ctr, -c0, atol=1e-10, rtol=0)
    assert torch.all(local_chern_marker(Ht.real.contiguous(), (6, 6)) == 0)  # real H: no Chern marker


@settings(max_examples=15, deadline=None)
@given(m=st.floats(-3.0, 3.0), W=st.floats(0.0, 3.0), seed=st.integers(0, 2**31), Lx=st.integers(3, 6),
       Ly=st.integers(3, 6), ef=st.floats(-0.5, 0.5), shift=st.tuples(st.floats(-50, 50), st.floats(-50, 50)))
def test_marker_properties(m, W, seed, Lx, Ly, ef, shift):
    """Against the numpy reference; origin shift, time reversal (C -> -C) and mirror x -> -x (C -> -C)."""
    H = Lattice2D.qwz(m, (Lx, Ly), disorder=W, seed=seed).hamiltonian()
    assume(np.abs(np.linalg.eigvalsh(H) - ef).min() > 1e-6)  # occupations unambiguous in both routes
    Ht = torch.as_tensor(H).to(torch.complex128)
    c = local_chern_marker(Ht, (Lx, Ly), fermi_level=ef)
    np.testing.assert_allclose(c.numpy(), _np_marker(H, (Lx, Ly), ef), atol=1e-9)
    pos = np.stack(np.meshgrid(np.arange(Lx * 1.0), np.arange(Ly * 1.0), indexing="ij"), -1).reshape(-1, 2)
    moved = local_chern_marker(Ht, (Lx, Ly), fermi_level=ef, positions=pos + np.array(shift))
    torch.testing.assert_close(moved, c, atol=1e-8, rtol=0)
    torch.testing.assert_close(local_chern_marker(Ht.conj(), (Lx, Ly), fermi_level=ef), -c, atol=1e-9, rtol=0)
    x, y, o = np.meshgrid(np.arange(Lx), np.arange(Ly), np.arange(2), indexing="ij")
    perm = torch.as_tensor((((Lx - 1 - x) * Ly + y) * 2 + o).ravel())
    mirrored = local_chern_marker(Ht[perm][:, perm], (Lx, Ly), fermi_level=ef)
    torch.testing.assert_close(mirrored, -c.flip(0), atol=1e-9, rtol=0)


def test_fermi_level_outside_spectrum():
    H = torch.as_tensor(_qwz_own(1.0, 4, 4))
    assert local_chern_marker(H, (4, 4), fermi_level=100.0).abs().max() < 1e-10   # P = 1
    assert local_chern_marker(H, (4, 4), fermi_level=-100.0).abs().max() < 1e-30  # P = 0


def _herm(A):
    return (A + A.mH) / 2


def test_gradcheck_marker_and_projector():
    rng = np.random.default_rng(1)
    H = torch.as_tensor(_qwz_own(1.0, 3, 3, 1.0 * (rng.random((3, 3)) - 0.5)), dtype=torch.complex128)
    A = H.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda a: chern_number(_herm(a), (3, 3), region=0), (A,), atol=1e-6, fast_mode=True)
    w = torch.linspace(-1, 1, 9, dtype=torch.float64).reshape(3, 3)
    assert torch.autograd.gradcheck(lambda a: (local_chern_marker(_herm(a), (3, 3)) * w).sum(), (A,), atol=1e-6)
    Hr = torch.randn(2, 6, 6, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a: F.occupied_projector(_herm(a), 0.1), (Hr.requires_grad_(),), atol=1e-6)


def _diagonal_dimers(L):
    """Isolated dimers (hopping i) between orbital o of (x, y) and orbital 1-o of (x+1, y+1) /
    (x+1, y) and (x, y+1): a flat-band insulator, energies exactly -1 and +1 (each n/2-fold)."""
    H = np.zeros((L * L * 2, L * L * 2), complex)
    for x in range(0, L, 2):
        for y in range(0, L, 2):
            for a, b in (((x, y), (x + 1, y + 1)), ((x + 1, y), (x, y + 1))):
                for o in range(2):
                    i, j = (a[0] * L + a[1]) * 2 + o, (b[0] * L + b[1]) * 2 + 1 - o
                    H[i, j], H[j, i] = 1j, -1j
    return torch.as_tensor(H)


def test_finite_gradient_at_degenerate_spectrum_where_eigh_fails():
    H0 = _diagonal_dimers(4)
    assert torch.unique(torch.linalg.eigvalsh(H0)).numel() == 2  # exactly degenerate bands
    Dir = _herm(torch.randn(32, 32, dtype=torch.complex128))
    w = torch.linspace(0.5, 1.5, 16, dtype=torch.float64).reshape(4, 4)  # a generic weighting of the map

    def loss(Hm):
        return (local_chern_marker(Hm, (4, 4)) * w).sum()

    A = H0.clone().requires_grad_()
    loss(A).backward()
    assert torch.all(torch.isfinite(A.grad)) and A.grad.abs().max() > 1.0
    # directional derivative against central finite differences along a Hermitian direction
    eps = 1e-5
    fd = (loss(H0 + eps * Dir) - loss(H0 - eps * Dir)) / (2 * eps)
    assert torch.real((A.grad.conj() * Dir).sum()).item() == pytest.approx(fd.item(), rel=1e-6, abs=1e-9)

    # the same marker through torch.linalg.eigh's own backward: not finite at the degeneracy
    def eigh_marker(Hm):
        lam, U = torch.linalg.eigh(Hm)
        occ = U[:, :16]
        P = occ @ occ.mH
        x = torch.arange(4, dtype=torch.float64).repeat_interleave(8).to(P.dtype)
        y = torch.arange(4, dtype=torch.float64).repeat_interleave(2).repeat(4).to(P.dtype)
        d = (((P * x) @ (P * y)) * P.T).sum(-1)
        return ((-4 * math.pi * d.imag).reshape(4, 4, 2).sum(-1) * w).sum()

    B = H0.clone().requires_grad_()
    val = eigh_marker(B)
    assert val.item() == pytest.approx(loss(H0).item(), abs=1e-12)
    val.backward()
    assert not torch.all(torch.isfinite(B.grad))


@pytest.mark.parametrize("bad, match", [
    (dict(H=torch.randn(8, 8, dtype=torch.complex128), shape=(2, 2)), "Hermitian"),
    (dict(H=torch.eye(10), shape=(2, 2)), "do not fit shape"),
    (dict(H=torch.eye(8), shape=(2, 0)), "shape"),
    (dict(H=torch.eye(8), shape=None), "shape"),
    (dict(H=torch.eye(8), shape=(2, 2), n_orb=3), "n_orb"),
    (dict(H=torch.eye(8), shape=(2, 2), positions=np.zeros((3, 2))), "positions"),
    (dict(H=torch.eye(8), shape=(2, 2), cell_area=-1.0), "cell_area"),
    (dict(H=torch.eye(8), shape=(2, 2), fermi_level=float("inf")), "fermi_level"),
    (dict(H=torch.ones(2, 3, 4), shape=(2, 2)), "square"),
])
def test_marker_errors(bad, match):
    H = bad.pop("H")
    shape = bad.pop("shape")
    with pytest.raises(ValueError, match=match):
        local_chern_marker(H, shape, **bad)


def test_marker_errors_region_lattice_kwargs():
    H = torch.as_tensor(_qwz_own(1.0, 4, 4))
    for region in (2, (0, 5), np.zeros((3, 3)), np.zeros((4, 4), bool)):
        with pytest.raises(ValueError):
            chern_number(H, (4, 4), region=region)
    with pytest.raises(ValueError, match="open sample"):
        local_chern_marker(Lattice2D.qwz(1.0, (4, 4), boundary="periodic"))
    with pytest.raises(TypeError):
        local_chern_marker(H, (4, 4), method="dense")


# ------------------------------------------------------------------------------ TopoNet2D
@pytest.mark.parametrize("kw", [dict(), dict(kernel="position"), dict(window="fixed", region=1)])
def test_toponet2d_exact_reproduces_marker(kw):
    lats, H = _batch([1.0, -1.0, 2.5, 0.4], 6)
    region = kw.get("region")
    net = TopoNet2D((6, 6), init="exact", dtype=torch.float64, **kw)
    ref = chern_number(H, (6, 6), region=region)
    out = net(H)
    assert out.shape == (4,) and out.dtype == torch.float64
    torch.testing.assert_close(out, ref, atol=1e-10, rtol=0)
    R = bulk_window_2d((6, 6), region)
    np_ref = [(_np_marker(lat.hamiltonian(), lat.shape) * R).sum() for lat in lats]
    np.testing.assert_allclose(out.detach().numpy(), np_ref, atol=1e-10)
    # eigen-decomposition input and the marker map
    E, U = torch.linalg.eigh(H)
    torch.testing.assert_close(net((E, U)), ref, atol=1e-10, rtol=0)
    torch.testing.assert_close(net.marker(H), local_chern_marker(H, (6, 6)), atol=1e-10, rtol=0)


def test_toponet2d_network_is_the_forward_and_expressions_are_cached():
    _, H = _batch([1.0, -0.5], 4)
    net = TopoNet2D((4, 4), init="random", seed=3, dtype=torch.float64)
    out = net(H)
    tn = net.network(H)
    assert len(tn.tensors) == 12 and {"psi", "psi*", "F", "G", "KX", "KY", "R"} <= set(tn.tags)
    full = tn.contract(output_inds=("b",), optimize="greedy").data
    torch.testing.assert_close(out, 4 * math.pi * full.imag, atol=1e-10, rtol=0)
    n_expr = len(net.expressions)
    net(H)
    assert len(net.expressions) == n_expr  # reused
    net(H[:1])
    assert len(net.expressions) == n_expr + 2  # one per new shape (projector and marker layers)


def test_toponet2d_random_is_seeded_and_trainable():
    a = TopoNet2D((4, 4), init="random", seed=7)
    b = TopoNet2D((4, 4), init="random", seed=7)
    c = TopoNet2D((4, 4), init="random", seed=8)
    for k in a.params:
        assert torch.equal(a.params[k], b.params[k])
    assert any(not torch.equal(a.params[k], c.params[k]) for k in a.params)
    _, H = _batch([1.0, -1.0, 3.0], 4)
    out = a(H)
    assert out.dtype == torch.float64 and torch.all(torch.isfinite(out))  # float32 weights, complex128 input
    assert a(H.to(torch.complex64)).dtype == torch.float32
    out.square().sum().backward()
    for k, p in a.params.items():
        assert p.grad is not None and torch.all(torch.isfinite(p.grad)), k
    assert a.params["KX"].grad.abs().sum() > 0 and a.params["F"].grad.abs().sum() > 0


def test_toponet2d_state_dict_repr_and_pickle():
    net = TopoNet2D((4, 4), init="random", seed=1, kernel_range=2, dtype=torch.float64)
    _, H = _batch([1.0], 4)
    out = net(H)
    r = repr(net)
    assert "TopoNet2D" in r and "shape=(4, 4)" in r and "kernel='displacement'" in r and "kernel_range=2" in r
    other = TopoNet2D((4, 4), init="exact", kernel_range=2, dtype=torch.float64)
    other.load_state_dict(net.state_dict())
    torch.testing.assert_close(other(H), out)
    buf = io.BytesIO()
    torch.save(net, buf)
    buf.seek(0)
    again = torch.load(buf, weights_only=False)
    torch.testing.assert_close(again(H), out)
    torch.testing.assert_close(copy.deepcopy(net)(H), out)


@pytest.mark.parametrize("kw, match", [
    (dict(shape=(1, 4)), "too small"),
    (dict(shape=(4, 4), n_orb=0), "n_orb"),
    (dict(shape=(4, 4), init="zeros"), "init"),
    (dict(shape=(4, 4), kernel="full"), "kernel"),
    (dict(shape=(4, 4), window="profile"), "window"),
    (dict(shape=(4, 4), kernel_range=0), "kernel_range"),
    (dict(shape=(4, 4), n_bins=7), "n_bins"),
    (dict(shape=(4, 4), energy_range=-1.0), "energy_range"),
    (dict(shape=(4, 4), fermi_level=float("nan")), "fermi_level"),
    (dict(shape=(4, 4), region=5), "margins"),
    (dict(shape=(4, 4), positions=np.zeros((16, 2))), "position"),
])
def test_toponet2d_constructor_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        TopoNet2D(**kw)


def test_toponet2d_input_errors_and_unknown_options():
    with pytest.raises(TypeError):
        TopoNet2D((4, 4), state_weights="rank")
    net = TopoNet2D((4, 4))
    with pytest.raises(ValueError, match="n = 32"):
        net(torch.eye(18)[None])
    with pytest.raises(ValueError, match="Hamiltonians"):
        net(torch.eye(32))
    with pytest.raises(ValueError, match="match"):
        net((torch.zeros(2, 32), torch.zeros(3, 32, 32)))
