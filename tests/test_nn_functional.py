"""tntopo.nn.functional: the differentiable winding number against the core, gradients."""
import warnings

import numpy as np
import pytest
import torch

import tntopo
from tntopo.invariants.winding.dense import winding_from_blocks
from tntopo.nn import functional as F


def _blocks(n, N, seed, **kw):
    return tntopo.sample_chains(n, N, seed=seed, **kw).hopping_blocks()


@pytest.mark.parametrize("kw", [
    dict(ranges=(0, 1)),
    dict(ranges=(-1, 0, 1, 2), windings=(-1, 0, 1, 2), disorder={0: 0.5, 1: 0.3}),
    dict(ranges=(0, 1), complex_hoppings=True),
])
def test_matches_core_dense(kw):
    h = _blocks(6, 12, 1, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tntopo.GaplessWarning)
        ref = tntopo.winding_number(h, method="dense")
    got = F.winding_number(torch.as_tensor(h))
    assert got.shape == (6,) and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-8)
    single = F.winding_number(torch.as_tensor(h[0]))
    assert single.ndim == 0 and abs(single.item() - ref[0]) < 1e-8


def test_periodic_and_markers():
    h = tntopo.sample_chains(3, 10, ranges=(0, 1), boundary="periodic", disorder={0: 0.4}, seed=2).hopping_blocks()
    ref = winding_from_blocks(h, "periodic", warn=False)
    np.testing.assert_allclose(F.winding_number(torch.as_tensor(h), boundary="periodic").numpy(), ref, atol=1e-8)
    w = F.local_markers(torch.as_tensor(h[0]))
    np.testing.assert_allclose(w.numpy(), tntopo.local_winding_marker(h[0]), atol=1e-8)


def test_known_values_and_sign_h():
    h = torch.as_tensor(tntopo.SSHChain({0: 0.4, 1: 1.0}, 16).hopping_block())
    assert abs(F.winding_number(h).item() - 1) < 1e-2
    Q = F.sign_h(F.chiral_hamiltonian(h))
    torch.testing.assert_close(Q @ Q, torch.eye(32, dtype=torch.float64), atol=1e-10, rtol=0)
    torch.testing.assert_close(F.flat_band_block(h), torch.as_tensor(tntopo.invariants.polar_factor(h.numpy())), atol=1e-10, rtol=0)


@pytest.mark.parametrize("complex_hoppings", [False, True])
def test_gradcheck(complex_hoppings):
    h = _blocks(2, 5, 3, ranges=(0, 1, 2), complex_hoppings=complex_hoppings, min_gap=0.2)
    x = torch.as_tensor(h).requires_grad_()
    assert torch.autograd.gradcheck(F.winding_number, (x,), atol=1e-6)


def test_sign_h_backward_matches_finite_differences():
    torch.manual_seed(1)
    h = torch.randn(6, 6, dtype=torch.float64)
    H = F.chiral_hamiltonian(h)
    dH = F.chiral_hamiltonian(torch.randn(6, 6, dtype=torch.float64))
    G = torch.randn(12, 12, dtype=torch.float64)
    Hr = H.clone().requires_grad_()
    (F.sign_h(Hr) * G).sum().backward()
    num = ((F.sign_h(H + 1e-6 * dH) - F.sign_h(H - 1e-6 * dH)) * G).sum() / 2e-6
    assert abs(num.item() - (Hr.grad * dH).sum().item()) < 1e-6


@pytest.mark.parametrize("hop", [{0: 0.0, 1: 1.0}, {0: 1.0, 1: 0.0}, {0: 0.0, 1: 1.0, 2: 0.0}])
def test_finite_gradients_at_flat_bands(hop):
    """Degenerate flat bands (and exact edge zero modes): eigh's own backward gives NaN/inf here."""
    h = torch.as_tensor(tntopo.SSHChain(hop, 10).hopping_block()).requires_grad_()
    W = F.winding_number(h)
    W.backward()
    assert torch.isfinite(W) and torch.isfinite(h.grad).all()
    # eigh's backward at the same point is not finite: the custom backward matters
    H = F.chiral_hamiltonian(h.detach()).requires_grad_()
    lam, U = torch.linalg.eigh(H)
    (U[:, :10] @ U[:, :10].T).sum().backward()
    assert not torch.isfinite(H.grad).all()


def test_edge_zero_modes_near_degenerate_finite():
    h = torch.as_tensor(tntopo.SSHChain({0: 0.1, 1: 1.0}, 30).hopping_block()).requires_grad_()
    F.winding_number(h).backward()
    assert torch.isfinite(h.grad).all()


def test_float32_and_errors():
    h = torch.as_tensor(_blocks(2, 8, 4)).float()
    assert F.winding_number(h).dtype == torch.float32
    with pytest.raises(ValueError, match="square"):
        F.winding_number(torch.zeros(3, 4, 5))
    with pytest.raises(ValueError, match="boundary"):
        F.winding_number(h, boundary="ring")


def test_device_keyword_runs_where_asked_and_names_missing_devices():
    import torch

    from tntopo.nn import chern as nnchern
    from tntopo.nn.functional import local_markers, resolve_device, winding_number

    h = tntopo.SSHChain({0: 0.5, 1: 1.0}, 16, disorder={0: 0.3}, seed=1).hopping_block()
    ref = winding_number(torch.as_tensor(h))
    for dev in ("cpu", torch.device("cpu")):
        W = winding_number(h, device=dev)
        assert W.device.type == "cpu" and float(W) == float(ref)
        assert local_markers(h, device=dev).device.type == "cpu"
    lat = tntopo.Lattice2D.qwz(1.0, (6, 6))
    c = nnchern.chern_number(lat, device="cpu")
    assert c.device.type == "cpu" and abs(float(c) - float(nnchern.chern_number(lat))) == 0
    model = tntopo.nn.build_model("mlp", 16, device="cpu")
    assert next(model.parameters()).device.type == "cpu"
    with pytest.raises(ValueError, match="not a torch device"):
        winding_number(h, device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CPU-only build|no CUDA GPU is visible"):
            winding_number(h, device="cuda")
        with pytest.raises(ValueError, match="CPU-only build|no CUDA GPU is visible"):
            tntopo.nn.build_model("mlp", 16, device="cuda")
    assert resolve_device(None) is None
