"""The models of the Chern study on lattice layouts (tntopo.nn.lattice_models): exactness, symmetries, sizes, heads."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tntopo
from tntopo import Lattice2D
from tntopo.nn import (MODELS, CommutatorLayoutTopoNet2D, KSpaceCNN, LayoutTopoNet2D, OddLayoutTopoNet2D,
                       WindingClassifier, accepts_size, build_model, load_model, model_names, save_model)
from tntopo.nn.lattice_models import _flat_index, layout_to_hamiltonian, mirror_projection
from tntopo.systems import lattice_layout

pytestmark = pytest.mark.usefixtures("one_thread")

LAYOUT_MODELS = [n for n in model_names(dim=2) if getattr(MODELS[n].factory, "input_kind", None) == "layout"]
TOPO_MODELS = [n for n in LAYOUT_MODELS if MODELS[n].output == "winding"]
GENERIC_MODELS = [n for n in LAYOUT_MODELS if MODELS[n].output == "readout"]


def layouts(lats, dtype=np.float64):
    return torch.as_tensor(np.stack([lattice_layout(lat, dtype=dtype) for lat in lats]))


def samples(L, disorder_seed=0):
    """Open QWZ and Haldane samples, clean and disordered, topological and trivial, both signs of C."""
    return [
        Lattice2D.qwz(1.0, (L, L)), Lattice2D.qwz(-1.2, (L, L)), Lattice2D.qwz(2.8, (L, L)),
        Lattice2D.qwz(1.1, (L, L), disorder=2.0, seed=disorder_seed),
        Lattice2D.haldane(1.0, 0.3, np.pi / 2, 0.4, (L, L)), Lattice2D.haldane(1.0, 0.3, -np.pi / 2, 0.4, (L, L)),
        Lattice2D.haldane(1.0, 0.2, 0.8, 1.5, (L, L)),
        Lattice2D.haldane(1.0, 0.3, -1.0, 0.2, (L, L), disorder=1.0, seed=disorder_seed + 1),
    ]


def mirrored(lat, how):
    """Layout (float64) of the sample with its cells relabelled by a mirror: an independent route through H."""
    Lx, Ly, no = lat.Lx, lat.Ly, lat.n_orb
    x, y, o = np.meshgrid(np.arange(Lx), np.arange(Ly), np.arange(no), indexing="ij")
    if how == "x":
        x2, y2, shape = Lx - 1 - x, y, (Lx, Ly)
    elif how == "y":
        x2, y2, shape = x, Ly - 1 - y, (Lx, Ly)
    else:  # the diagonal
        x2, y2, shape = y, x, (Ly, Lx)
    old = ((x * Ly + y) * no + o).ravel()
    new = ((x2 * shape[1] + y2) * no + o).ravel()
    H = lat.hamiltonian()
    H2 = np.zeros_like(H)
    H2[np.ix_(new, new)] = H[np.ix_(old, old)]
    return torch.as_tensor(lattice_layout(H2, shape=shape, n_orb=no, dtype=np.float64))[None]


# ----------------------------------------------------------------------------- layout -> H
@pytest.mark.parametrize("lat", [
    Lattice2D.qwz(1.0, (6, 7)), Lattice2D.qwz(0.5, (6, 6), boundary="periodic", disorder=1.0, seed=2),
    Lattice2D.haldane(1.0, 0.3, 0.7, 0.2, (7, 5), boundary=("periodic", "open"), disorder=0.5, seed=1),
])
def test_layout_to_hamiltonian_is_exact(lat):
    x = torch.as_tensor(lattice_layout(lat, dtype=np.float64))
    H = layout_to_hamiltonian(x)
    assert H.dtype == torch.complex128 and torch.equal(H, torch.as_tensor(lat.hamiltonian()))
    batch = layout_to_hamiltonian(torch.stack([x, 2 * x])[None])  # any leading dims
    assert batch.shape == (1, 2) + H.shape and torch.equal(batch[0, 1], 2 * H)
    H32 = layout_to_hamiltonian(x.float())
    assert H32.dtype == torch.complex64 and torch.allclose(H32.to(torch.complex128), H, atol=1e-6)


def test_layout_to_hamiltonian_caches_its_index_and_is_differentiable():
    x = layouts([Lattice2D.qwz(1.0, (6, 6))]).requires_grad_()
    layout_to_hamiltonian(x)
    assert _flat_index((6, 6), 2, 2, "cpu") is _flat_index((6, 6), 2, 2, "cpu")
    H = layout_to_hamiltonian(x)
    (H.abs() ** 2).sum().backward()
    assert torch.allclose(x.grad, 2 * x.detach())  # every layout entry lands once in H


def test_layout_to_hamiltonian_errors():
    x = layouts([Lattice2D.qwz(1.0, (6, 6))])
    with pytest.raises(TypeError, match="torch.Tensor"):
        layout_to_hamiltonian(x.numpy())
    with pytest.raises(ValueError, match=r"\(B, 200, Lx, Ly\)"):
        layout_to_hamiltonian(x[:, :100])
    with pytest.raises(ValueError, match="real layouts"):
        layout_to_hamiltonian(x.to(torch.complex128))
    with pytest.raises(ValueError, match="larger than 2 cells"):
        layout_to_hamiltonian(torch.zeros(1, 2 * 9 * 4, 2, 2), stencil=1)
    with pytest.raises(ValueError, match="stencil must be an integer"):
        layout_to_hamiltonian(x, stencil=-1)


# ----------------------------------------------------------------------------- the exact row
@pytest.mark.parametrize("L", [8, 16])
def test_exact_row_is_the_marker(L):
    lats = samples(L)
    ref = np.array([tntopo.chern_number(lat, method="marker", warn=False) for lat in lats])
    x = layouts(lats)
    for built in ((L, L), (8, 8)):  # built for this size, or for 8x8 and given 16x16: full range either way
        net = build_model("toponet2d_layout_exact", built, dtype=torch.float64)
        with torch.no_grad():
            y = net(x)
        assert y.dtype == torch.float64 and np.abs(y.numpy() - ref).max() <= 1e-8
    # the labels are what they should be (both signs, trivial ones), so the comparison is not vacuous
    assert np.array_equal(np.round(ref[[0, 1, 2, 4, 5, 6]]), [1, -1, 0, -1, 1, 0])


@pytest.mark.parametrize("cls", [LayoutTopoNet2D, OddLayoutTopoNet2D])
def test_table_rows_with_exact_init_are_exact_at_full_range(cls):
    lats = samples(8)
    ref = np.array([tntopo.chern_number(lat, method="marker", warn=False) for lat in lats])
    for window in ("learned", "fixed"):
        net = cls((8, 8), init="exact", window=window, dtype=torch.float64)
        with torch.no_grad():
            assert np.abs(net(layouts(lats)).numpy() - ref).max() <= 1e-8


def test_fixed_range_kernels_generalize_by_locality():
    """A kernel of range 7 (built at 8x8) on 16x16 samples: the marker truncated where P has decayed."""
    lats = [Lattice2D.qwz(1.0, (16, 16)), Lattice2D.haldane(1.0, 0.3, np.pi / 2, 0.4, (16, 16))]
    ref = np.array([tntopo.chern_number(lat, method="marker", warn=False) for lat in lats])
    net = build_model("toponet2d_ti", (8, 8), init="exact", dtype=torch.float64)
    assert net.kernel_range == 7
    with torch.no_grad():
        err = np.abs(net(layouts(lats)).numpy() - ref).max()
    assert 0 < err < 1e-2


def test_marker_map_and_network_agree_with_forward():
    lats = samples(6)[:3]
    x = layouts(lats)
    net = build_model("toponet2d_ti", (6, 6), seed=1, dtype=torch.float64)
    with torch.no_grad():
        y = net(x)
        c = net.marker(x)
        assert c.shape == (3, 6, 6)
        R = torch.as_tensor(tntopo.nn.chern.bulk_window_2d((6, 6)))
        assert torch.allclose((c * R).sum((-2, -1)), y, atol=1e-12)
        tn = net.network(x)
        full = tn.contract(output_inds=("b",)).data
        assert torch.allclose(4 * np.pi * full.imag, y, atol=1e-12)


# ----------------------------------------------------------------------------- symmetries
def test_exact_weights_lie_in_the_constrained_family():
    for K in (1, 3, 7):
        d = torch.arange(-K, K + 1, dtype=torch.float64)
        dx, dy = torch.meshgrid(d, d, indexing="ij")
        kx, ky = mirror_projection(dx, dy)
        assert torch.equal(kx, dx) and torch.equal(ky, dy)
        g = torch.Generator().manual_seed(K)
        a, b = torch.randn(2, 2 * K + 1, 2 * K + 1, generator=g, dtype=torch.float64)
        pa, pb = mirror_projection(a, b)
        assert torch.allclose(torch.stack(mirror_projection(pa, pb)), torch.stack([pa, pb]), atol=1e-15)  # a projection
        close = lambda u, v: torch.allclose(u, v, rtol=0, atol=1e-15)  # noqa: E731 (sums in another order)
        assert close(pa, -pa.flip(0)) and close(pa, pa.flip(1)) and torch.equal(pb, pa.T)
        assert not torch.allclose(pa, a)
    exact = OddLayoutTopoNet2D((8, 8), init="exact", dtype=torch.float64)
    plain = LayoutTopoNet2D((8, 8), init="exact", dtype=torch.float64)
    for w_odd, w_plain in zip(exact.weights(), plain.weights()):
        assert torch.equal(w_odd, w_plain)


def _flip_gap(net, lat, how):
    with torch.no_grad():
        y = net(layouts([lat]))
        y2 = net(mirrored(lat, how))
    return float(y), float(y2)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), phi=st.floats(-3.0, 3.0), M=st.floats(-1.0, 1.0),
       window=st.sampled_from(["learned", "fixed"]))
def test_constrained_output_is_odd_under_the_mirrors(seed, phi, M, window):
    """Random weights, a random disordered sample: the constrained output flips sign under x, y and diagonal mirrors."""
    lat = Lattice2D.haldane(1.0, 0.3, phi, M, (6, 6), disorder=1.0, seed=seed % 1000)
    net = OddLayoutTopoNet2D((6, 6), init="random", seed=seed, window=window, dtype=torch.float64)
    for how in ("x", "y", "diagonal"):
        y, y2 = _flip_gap(net, lat, how)
        assert abs(y + y2) <= 1e-10 * max(1.0, abs(y)), (how, y, y2)


def test_plain_output_is_not_mirror_odd():
    """The same check fails without the constraints (so the test above can fail)."""
    lat = Lattice2D.haldane(1.0, 0.3, 0.9, 0.1, (6, 6), disorder=1.0, seed=3)
    net = LayoutTopoNet2D((6, 6), init="random", seed=5, window="fixed", dtype=torch.float64)
    for how in ("x", "y", "diagonal"):
        y, y2 = _flip_gap(net, lat, how)
        assert abs(y + y2) > 1e-3 * abs(y), (how, y, y2)


def test_the_mirrored_layout_is_a_relabelling():
    """The mirror of the sample, read directly on the layout (cells and displacements flipped), is the route above."""
    lat = Lattice2D.haldane(1.0, 0.3, 0.9, 0.1, (6, 6), disorder=1.0, seed=3)
    x = layouts([lat])[0].reshape(2, 5, 5, 2, 2, 6, 6)
    for how, dims, perm in (("x", (1, 5), None), ("y", (2, 6), None), ("diagonal", (), (0, 2, 1, 3, 4, 6, 5))):
        x2 = x.flip(dims) if perm is None else x.permute(perm)
        assert torch.equal(x2.reshape(1, 200, 6, 6), mirrored(lat, how))


@pytest.mark.parametrize("name", TOPO_MODELS)
def test_every_toponet_row_is_odd_under_time_reversal(name):
    """H -> H^* (the imaginary channels negated) flips the output of any weights: no constraint needed."""
    lat = Lattice2D.haldane(1.0, 0.3, 0.9, 0.1, (6, 6), disorder=1.0, seed=4)
    x = layouts([lat])
    xc = x.clone()
    xc[:, 100:] *= -1
    net = build_model(name, (6, 6), seed=2, init="random", dtype=torch.float64)
    with torch.no_grad():
        y, yc = float(net(x)), float(net(xc))
    assert abs(y) > 1e-6 and abs(y + yc) <= 1e-10 * abs(y)


# ----------------------------------------------------------------------------- every layout model
@pytest.mark.parametrize("name", LAYOUT_MODELS)
def test_shapes_dtypes_and_heads(name):
    x = layouts(samples(8)[:3], dtype=np.float32)
    m = build_model(name, (8, 8), seed=0)
    y = m(x)
    assert y.shape == (3,) and y.dtype == torch.float32 and torch.isfinite(y).all()
    m64 = build_model(name, (8, 8), seed=0, dtype=torch.float64)
    assert m64(x.double()).dtype == torch.float64
    clf = build_model(name, (8, 8), seed=0, classes=(-1, 0, 1))
    logits = clf(x)
    assert logits.shape == (3, 3) and clf.classes == (-1, 0, 1)
    assert isinstance(clf, WindingClassifier) == (MODELS[name].output == "winding")
    if MODELS[name].exact:  # an exact regressor is an exact classifier
        assert logits.argmax(1).tolist() == [2, 0, 1]


@pytest.mark.parametrize("name", LAYOUT_MODELS)
def test_init_is_seeded_and_private(name):
    state = torch.random.get_rng_state()
    a, b, c = (build_model(name, (8, 8), seed=s) for s in (3, 3, 4))
    assert torch.equal(torch.random.get_rng_state(), state)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    if not MODELS[name].exact:
        assert any(not torch.equal(sa[k], sc[k]) for k in sa)


@pytest.mark.parametrize("name", LAYOUT_MODELS)
def test_a_few_steps_lower_the_loss(name):
    lats = [Lattice2D.qwz(m, (6, 6)) for m in (-1.5, -0.8, 0.7, 1.4, 2.6, -2.8)]
    x, t = layouts(lats), torch.tensor([-1.0, -1.0, 1.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    m = build_model(name, (6, 6), seed=1, dtype=torch.float64, **({"init": "random"} if name in TOPO_MODELS else {}))
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = ((m(x) - t) ** 2).mean()
        loss.backward()
        for p in m.parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0], losses


@pytest.mark.parametrize("name", LAYOUT_MODELS)
def test_accepts_size_says_what_the_forward_does(name):
    m = build_model(name, (6, 6), seed=0, dtype=torch.float64)
    clf = build_model(name, (6, 6), seed=0, classes=(0, 1), dtype=torch.float64)
    agnostic = name not in ("mlp2d", "toponet2d_layout")
    for shape in ((6, 6), (7, 5), (9, 9), (4, 6)):
        why = accepts_size(m, shape)
        assert accepts_size(clf, shape) == why
        if shape == (4, 6):
            assert "larger than 4 cells" in why
        else:
            assert (why is None) == (agnostic or shape == (6, 6)), (shape, why)
        lat = Lattice2D.qwz(1.0, shape) if min(shape) > 4 else None
        x = layouts([lat]) if lat is not None else torch.zeros(1, 200, *shape, dtype=torch.float64)
        if why is None:
            assert m(x).shape == (1,)
        else:
            with pytest.raises(ValueError) as err:
                m(x)
            assert str(err.value).startswith(why)
    assert accepts_size(m, 6) is None  # one L: a square lattice
    assert accepts_size(build_model("mlp", 8), 8) is None and "n_cells=8" in accepts_size(build_model("mlp", 8), 9)


@pytest.mark.parametrize("classes", [None, (-1, 0, 1)])
@pytest.mark.parametrize("name", LAYOUT_MODELS)
def test_save_and_load(name, classes, tmp_path):
    x = layouts(samples(6)[:2])
    m = build_model(name, (6, 6), seed=2, classes=classes, dtype=torch.float64)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.01 * torch.randn(p.shape, dtype=p.dtype, generator=torch.Generator().manual_seed(7)))
    save_model(tmp_path / "m.pt", m)
    m2 = load_model(tmp_path / "m.pt")
    assert type(m2) is type(m) and m2.build_config == m.build_config
    with torch.no_grad():
        assert torch.equal(m(x), m2(x))


@pytest.mark.parametrize("name", LAYOUT_MODELS)
def test_strict_keywords_and_bad_input(name):
    with pytest.raises(TypeError, match="valid keywords: .*stencil"):
        build_model(name, (6, 6), stencl=2)
    m = build_model(name, (6, 6))
    x = layouts([Lattice2D.qwz(1.0, (6, 6))], dtype=np.float32)
    with pytest.raises(TypeError, match="torch.Tensor"):
        m(x.numpy())
    with pytest.raises(ValueError, match=r"\(B, 200, Lx, Ly\)"):
        m(x[:, :50])
    with pytest.raises(ValueError, match=r"\(B, 200, Lx, Ly\)"):
        m(x[0])
    if name in TOPO_MODELS:  # they diagonalize H: a clear error, not LAPACK's
        bad = x.clone()
        bad[0, 3, 2, 2] = float("nan")
        with pytest.raises(ValueError, match="NaN or inf"):
            m(bad)
    with pytest.raises(ValueError, match="stencil range 3"):
        build_model(name, (6, 6), stencil=3)
    with pytest.raises(ValueError, match="shape"):
        build_model(name, (6, 0))


@pytest.mark.parametrize("kw, match", [
    (dict(channels=()), "channels"), (dict(kernel_size=2), "kernel_size"), (dict(activation="sigmoid"), "activation"),
])
def test_generic_constructor_errors(kw, match):
    for name in GENERIC_MODELS:
        if name == "mlp2d":
            continue
        with pytest.raises(ValueError, match=match):
            build_model(name, (6, 6), **kw)
    with pytest.raises(ValueError, match="hidden"):
        build_model("mlp2d", (6, 6), hidden=())
    with pytest.raises(ValueError, match="cell_features"):
        build_model("mlp2d", (6, 6), cell_features=0)
    with pytest.raises(ValueError, match="n_k"):
        build_model("kcnn", (6, 6), n_k=1)


def test_registry_rows_are_what_they_say():
    ti, plain = build_model("toponet2d_ti", (8, 8)), build_model("toponet2d_ti_plain", (8, 8))
    assert type(ti) is OddLayoutTopoNet2D and type(plain) is LayoutTopoNet2D
    assert ti.window == plain.window == "fixed" and ti.init == plain.init == "random" and ti.kernel_range == 7
    layout = build_model("toponet2d_layout", (8, 8))
    assert layout.window == "learned" and layout.init == "random" and layout.kernel_range == 7
    exact = build_model("toponet2d_layout_exact", (8, 8))
    assert type(exact) is CommutatorLayoutTopoNet2D and MODELS["toponet2d_layout_exact"].exact
    assert [float(s.detach()) for s in exact.scales()] == [1.0, 1.0]
    assert all(MODELS[n].dim == 2 for n in LAYOUT_MODELS) and set(LAYOUT_MODELS) == {
        "toponet2d_layout", "toponet2d_ti_plain", "toponet2d_ti", "toponet2d_layout_exact", "cnn2d", "mlp2d", "kcnn"}
    small = build_model("mlp2d", (8, 8), cell_features=4, hidden=(16, 16))
    assert sum(p.numel() for p in small.parameters()) == 200 * 4 + 4 + 4 * 64 * 16 + 16 + 16 * 16 + 16 + 16 + 1
    for name in ("cnn2d", "kcnn"):
        assert sum(p.numel() for p in build_model(name, (8, 8)).parameters()) < 10_000


# ----------------------------------------------------------------------------- the k-space preprocessing
@pytest.mark.parametrize("lat", [
    Lattice2D.qwz(-1.3, (7, 6)), Lattice2D.haldane(1.0, 0.3, 0.7, 0.2, (8, 8), boundary="periodic"),
])
def test_kcnn_reads_the_bloch_hamiltonian(lat):
    net = KSpaceCNN(lat.shape, n_k=6, dtype=torch.float64)
    h = net.bloch(layouts([lat]))[0]
    assert h.shape == (8, 6, 6)
    ks = 2 * np.pi * np.arange(6) / 6
    ref = np.array([[lat.bloch(kx, ky) for ky in ks] for kx in ks])  # (6, 6, 2, 2)
    got = (h[:4] + 1j * h[4:]).reshape(2, 2, 6, 6).permute(2, 3, 0, 1).numpy()
    assert np.abs(got - ref).max() < 1e-13
    assert not any(p.requires_grad for p in net.buffers())


def test_kcnn_on_a_disordered_sample_is_the_averaged_bloch_hamiltonian():
    lat = Lattice2D.qwz(1.0, (8, 8), disorder=2.0, seed=1)
    clean = Lattice2D.qwz(1.0, (8, 8))
    net = KSpaceCNN((8, 8), n_k=4, dtype=torch.float64)
    h = net.bloch(layouts([lat]))[0]
    h0 = net.bloch(layouts([clean]))[0]
    shift = lat.onsite_energies[2:6, 2:6].mean()  # the bulk cells of stencil 2
    eye = torch.tensor([1.0, 0.0, 0.0, 1.0, 0, 0, 0, 0], dtype=torch.float64)[:, None, None]
    assert torch.allclose(h, h0 + shift * eye, atol=1e-13) and abs(shift) > 1e-3


@pytest.mark.parametrize("name", LAYOUT_MODELS)
def test_every_layout_model_trains_as_one_vmapped_model(name):
    """tntopo.nn.train_seeds can train many seeds of each row at once (its vmap probe finds no obstacle)."""
    from tntopo.nn.batched import _obstacle
    from tntopo.nn.training import as_dataset

    ms = (-1.5, 0.7, 1.4, 2.6)
    ds = as_dataset((layouts([Lattice2D.qwz(m, (6, 6)) for m in ms]), torch.tensor([-1.0, 1.0, 1.0, 0.0])))
    for classes in (None, (-1, 0, 1)):
        models = [build_model(name, (6, 6), seed=s, classes=classes, dtype=torch.float64) for s in (0, 1)]
        assert _obstacle(models, ds, None) is None


@pytest.mark.parametrize("name", LAYOUT_MODELS)
def test_per_sample_jacobians_vectorize(name):
    """torch.func.vmap over samples runs every layout model (the fast path of tntopo.nn.training.output_jacobian)."""
    from torch.func import functional_call, jacrev, vmap

    x = layouts([Lattice2D.qwz(m, (6, 6)) for m in (-1.5, 0.7, 2.6)])
    m = build_model(name, (6, 6), seed=0, dtype=torch.float64)
    params = {n: p.detach() for n, p in m.named_parameters()}
    J = vmap(jacrev(lambda p, xi: functional_call(m, p, (xi[None],))), in_dims=(None, 0))(params, x)
    for n, p in params.items():
        ref = jacrev(lambda q: functional_call(m, {**params, n: q}, (x[1:2],)))(p)
        assert torch.allclose(J[n][1], ref, atol=1e-10), n
