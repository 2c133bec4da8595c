"""The spectrum cache and the direct contraction of the layout TopoNet2D rows (tntopo.nn.lattice_models).

The cache must not change a bit (outputs, gradients, trained weights); the direct contraction must equal
the generic two-layer contraction of TopoNet2D (``model._direct = False``) to rounding.
"""
import concurrent.futures as cf
import multiprocessing as mp
import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tntopo
from tntopo import Lattice2D
from tntopo.nn import build_model, spectrum_cache
from tntopo.nn import lattice_models as lm
from tntopo.nn.lattice_models import SpectrumCacheInfo
from tntopo.systems import lattice_layout

pytestmark = pytest.mark.usefixtures("one_thread")

TOPO_ROWS = ["toponet2d_layout", "toponet2d_ti", "toponet2d_ti_plain", "toponet2d_layout_exact"]


def _lattices(L, n, seed=0):
    rng = np.random.default_rng(seed)
    lats = []
    for i in range(n):
        if i % 2:
            lats.append(Lattice2D.qwz(rng.uniform(-3, 3), (L, L), disorder=rng.uniform(0, 2), seed=i))
        else:
            lats.append(Lattice2D.haldane(1.0, rng.uniform(0.15, 0.35), rng.uniform(-2.5, 2.5), rng.uniform(-1, 1),
                                          (L, L), disorder=rng.uniform(0, 1), seed=i))
    return lats


def _layouts(L, n, seed=0, dtype=np.float64):
    return torch.as_tensor(np.stack([lattice_layout(lat, dtype=dtype) for lat in _lattices(L, n, seed)]))


X6 = _layouts(6, 6)
Y6 = torch.linspace(-1.0, 1.0, 6, dtype=torch.float64)


@pytest.fixture
def cache():
    """A fresh, enabled cache for the test; the previous bound afterwards."""
    old = spectrum_cache(clear=True).max_bytes
    spectrum_cache(1 << 30)
    yield
    spectrum_cache(old, clear=True)


def _step(model, x, y):
    """Outputs and gradients of one regression loss."""
    model.zero_grad(set_to_none=True)
    out = model(x)
    ((out - y) ** 2).mean().backward()
    return out.detach().clone(), {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


def _equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------- bit-identical
@pytest.mark.parametrize("name", TOPO_ROWS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cached_outputs_and_gradients_are_bit_identical(name, dtype, cache):
    x, y = X6.to(dtype), Y6.to(dtype)
    m = build_model(name, (6, 6), seed=3, dtype=dtype)
    mixed_x = torch.cat([x[[4, 1]], _layouts(6, 3, seed=7).to(dtype)])  # cached and new samples in one batch
    spectrum_cache(0)
    ref = _step(m, x, y)
    mixed_ref = _step(m, mixed_x, y[:5])
    spectrum_cache(1 << 30)
    cold = _step(m, x, y)  # every sample new: diagonalized, then stored
    info = spectrum_cache()
    assert (info.misses, info.hits, info.entries) == (6, 0, 6)
    warm = _step(m, x, y)  # every sample cached
    assert spectrum_cache().hits == 6
    mixed = _step(m, mixed_x, y[:5])
    assert spectrum_cache().hits == 6 + 2
    for a, b in ((ref, cold), (ref, warm), (mixed_ref, mixed)):
        assert torch.equal(a[0], b[0]) and _equal(a[1], b[1])
    assert ref[1]  # gradients exist (the comparison is not vacuous)


@pytest.mark.parametrize("name", ["toponet2d_layout", "toponet2d_ti"])
def test_training_with_the_cache_gives_the_same_weights(name, cache):
    """A few epochs of tntopo.nn.train: identical weights and history with the cache on and off."""
    from tntopo.nn import train

    x = _layouts(6, 12, seed=2).float()
    y = torch.as_tensor(np.sign(np.arange(12) % 3 - 1.0), dtype=torch.float32)
    runs = []
    for max_bytes in (0, 1 << 30):
        spectrum_cache(max_bytes)
        m = build_model(name, (6, 6), seed=1)
        hist = train(m, (x, y), (x[:4], y[:4]), epochs=3, batch_size=5, lr=1e-2, seed=0, progress=False)
        runs.append((m.state_dict(), hist["train_loss"], hist["val_loss"]))
    assert runs[0][1:] == runs[1][1:]
    assert _equal(runs[0][0], runs[1][0])
    assert spectrum_cache().hits > 0


@pytest.mark.parametrize("name", ["toponet2d_ti", "toponet2d_ti_plain"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stacked_seeds_use_the_cache_bit_identically(name, dtype, cache):
    """tntopo.nn.train_seeds maps each seed over its own batch (a vmapped input): the cache serves those
    batches too, with the same weights and history as without it, and as separate runs."""
    from tntopo.nn import train, train_seeds

    x = _layouts(6, 12, seed=2).to(dtype)
    y = torch.as_tensor(np.sign(np.arange(12) % 3 - 1.0), dtype=dtype)
    seeds = [3, 4, 5]

    def build(seed):
        return build_model(name, (6, 6), seed=seed, dtype=dtype)

    kw = dict(epochs=3, batch_size=5, lr=1e-2, progress=False)
    runs = []
    for max_bytes in (0, 1 << 30):
        spectrum_cache(max_bytes, clear=True)
        models, hists = train_seeds(build, seeds, (x, y), (x[:4], y[:4]), **kw)
        runs.append(([m.state_dict() for m in models], [(h["train_loss"], h["val_loss"]) for h in hists]))
        info = spectrum_cache()
    # 3 seeds x 3 epochs x 12 samples were looked up in training: the first epoch fills, the others hit
    assert info.hits >= 2 * 3 * 12 and info.misses <= 3 * 12 + 4
    assert runs[0][1] == runs[1][1]
    assert all(_equal(a, b) for a, b in zip(runs[0][0], runs[1][0]))
    for seed, state, losses in zip(seeds, runs[1][0], runs[1][1]):  # as a separate run of that seed
        m = build(seed)
        h = train(m, (x, y), (x[:4], y[:4]), seed=seed, **kw)
        assert (h["train_loss"], h["val_loss"]) == losses
        assert _equal(m.state_dict(), state)


def test_vmapped_inputs_that_cannot_be_read_bypass_the_cache(cache):
    """Only a batch vmapped at the innermost level is read; other functorch inputs are diagonalized."""
    from torch.func import vmap

    m = build_model("toponet2d_ti", (6, 6), seed=0, dtype=torch.float64)
    xs = X6.reshape(2, 3, *X6.shape[1:])
    with torch.no_grad():
        ref = torch.stack([m(xi) for xi in xs])
        spectrum_cache(0, clear=True)
        spectrum_cache(1 << 30)
        assert torch.equal(vmap(m)(xs), ref)  # looked up: 6 misses, then 6 hits
        assert torch.equal(vmap(m)(xs), ref)
        assert (spectrum_cache().misses, spectrum_cache().hits) == (6, 6)
        assert torch.equal(vmap(m, in_dims=1)(xs.transpose(0, 1)), ref)  # any vmapped dimension
        assert spectrum_cache().hits == 12
        # nested: the outer vmap's batch seen inside an inner vmap over another input is not read
        out = vmap(lambda xi: vmap(lambda s: m(xi) * s)(torch.ones(2, dtype=torch.float64)))(xs)
    assert torch.equal(out, ref[:, None, :].expand(2, 2, 3))
    assert spectrum_cache().hits == 12


@settings(max_examples=8, deadline=None)
@given(st.lists(st.booleans(), min_size=6, max_size=6), st.permutations(range(6)))
def test_any_mix_of_cached_and_new_samples_is_bit_identical(cached, order):
    old = spectrum_cache(clear=True).max_bytes
    try:
        m = build_model("toponet2d_ti", (6, 6), seed=0, dtype=torch.float64)
        x = X6[list(order)]
        spectrum_cache(0)
        with torch.no_grad():
            ref = m(x)
            spectrum_cache(1 << 30)
            if any(cached):
                m(x[torch.as_tensor(cached)])
            assert spectrum_cache().hits == 0
            assert torch.equal(m(x), ref)
            assert spectrum_cache().hits == sum(cached)
    finally:
        spectrum_cache(old, clear=True)


def test_chunked_forward_is_bit_identical(monkeypatch, cache):
    m = build_model("toponet2d_ti", (6, 6), seed=0, dtype=torch.float64)
    with torch.no_grad():
        ref, ref_map = m(X6), m.marker(X6)
        monkeypatch.setattr(lm, "CHUNK_BYTES", 2 * 16 * 72 ** 2)  # two samples per chunk
        assert torch.equal(m(X6), ref) and torch.equal(m.marker(X6), ref_map)
    out, grads = _step(m, X6, Y6)  # gradients summed over the chunks: equal to rounding
    monkeypatch.setattr(lm, "CHUNK_BYTES", 1 << 27)
    out1, grads1 = _step(m, X6, Y6)
    assert torch.equal(out, out1)
    for k in grads:
        assert torch.allclose(grads[k], grads1[k], rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------- the direct contraction
@pytest.mark.parametrize("name", TOPO_ROWS)
@pytest.mark.parametrize("classes", [None, (-1, 0, 1)])
def test_direct_contraction_equals_the_two_layer_network(name, classes, cache):
    m = build_model(name, (6, 6), seed=5, classes=classes, dtype=torch.float64)
    core = m.model if classes else m
    x, y = X6, (Y6 if classes is None else torch.tensor([0, 1, 2, 1, 0, 2]))

    def step():
        m.zero_grad(set_to_none=True)
        out = m(x)
        loss = ((out - y) ** 2).mean() if classes is None else torch.nn.functional.cross_entropy(out, y)
        loss.backward()
        return out.detach().clone(), {k: p.grad.clone() for k, p in m.named_parameters()}

    new = step()
    core._direct = False
    old = step()
    core._direct = True
    assert torch.allclose(new[0], old[0], rtol=1e-12, atol=1e-12)
    for k in old[1]:
        scale = old[1][k].abs().max()
        assert torch.allclose(new[1][k], old[1][k], rtol=0, atol=1e-12 * max(float(scale), 1.0)), k


@pytest.mark.parametrize("name", ["toponet2d_ti", "toponet2d_ti_plain", "toponet2d_layout_exact"])
@pytest.mark.parametrize("L, kernel_range, tiled", [(9, None, False), (12, 2, True), (13, 3, True)])
def test_direct_contraction_on_larger_inputs_and_marker_maps(name, L, kernel_range, tiled, cache):
    """A model built at 6x6 on larger inputs: truncated kernels, the window's rows only, in tiles of the window
    over the cells within range where the range is short (not for the full-range commutator kernels)."""
    kw = {} if kernel_range is None else {"kernel_range": kernel_range}
    m = build_model(name, (6, 6), seed=2, dtype=torch.float64, **kw)
    tiles = m._tiles((L, L), "cpu")
    assert (len(tiles) > 1) == (tiled and name != "toponet2d_layout_exact")
    window = tntopo.nn.chern.bulk_window_2d((L, L)).reshape(-1)
    assert sorted(int(c) for cells, _ in tiles for c in cells) == list(np.flatnonzero(window))  # each cell once
    x = _layouts(L, 3, seed=4)
    y = torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64)
    new, grads = _step(m, x, y)
    with torch.no_grad():
        new_map = m.marker(x)
        m._direct = False
        old, old_map = m(x), m.marker(x)
    _, old_grads = _step(m, x, y)
    m._direct = True
    assert new_map.shape == (3, L, L)
    assert torch.allclose(new, old, rtol=1e-12, atol=1e-12)
    assert torch.allclose(new_map, old_map, rtol=1e-12, atol=1e-12)
    R = torch.as_tensor(window.reshape(L, L))
    assert torch.allclose((new_map * R).sum((-2, -1)), new, atol=1e-12)
    for k in grads:
        scale = float(old_grads[k].abs().max())
        assert torch.allclose(grads[k], old_grads[k], rtol=0, atol=1e-12 * max(scale, 1.0)), k


@pytest.mark.parametrize("L", [6, 11])
def test_exact_row_is_still_the_marker(L, cache):
    lats = _lattices(L, 4, seed=L)
    ref = np.array([tntopo.chern_number(lat, method="marker", warn=False) for lat in lats])
    x = torch.as_tensor(np.stack([lattice_layout(lat, dtype=np.float64) for lat in lats]))
    net = build_model("toponet2d_layout_exact", (6, 6), dtype=torch.float64)
    with torch.no_grad():
        assert np.abs(net(x).numpy() - ref).max() <= 1e-8
        assert np.abs(net(x).numpy() - ref).max() <= 1e-8  # from the cache
    assert spectrum_cache().hits == 4


# ----------------------------------------------------------------------------- bypasses
def test_per_sample_jacobians_bypass_the_cache(cache):
    from tntopo.nn.training import output_jacobian

    m = build_model("toponet2d_ti", (6, 6), seed=0, dtype=torch.float64)
    J0 = output_jacobian(m, X6[:3])
    info = spectrum_cache()
    assert (info.hits, info.misses, info.entries) == (0, 0, 0)  # vmap: values cannot be read, no key
    with torch.no_grad():
        m(X6[:3])
    assert torch.equal(output_jacobian(m, X6[:3]), J0)


def test_inputs_that_require_grad_bypass_the_cache(cache):
    m = build_model("toponet2d_ti", (6, 6), seed=0, dtype=torch.float64)
    m(X6)
    x = X6.clone().requires_grad_()
    m(x).sum().backward()
    assert spectrum_cache().hits == 0 and x.grad is not None


def test_spectra_first_seen_in_inference_mode_serve_training(cache):
    m = build_model("toponet2d_ti", (6, 6), seed=0, dtype=torch.float64)
    spectrum_cache(0)
    ref = _step(m, X6, Y6)
    spectrum_cache(1 << 30)
    with torch.inference_mode():
        m(X6)
    got = _step(m, X6, Y6)  # from the cache: normal tensors, usable by autograd
    assert spectrum_cache().hits == 6
    assert torch.equal(ref[0], got[0]) and _equal(ref[1], got[1])


def test_cache_is_dtype_aware_and_keyed_by_content(cache):
    m32 = build_model("toponet2d_ti", (6, 6), seed=0)
    m64 = build_model("toponet2d_ti", (6, 6), seed=0, dtype=torch.float64)
    with torch.no_grad():
        y32, y64 = m32(X6.float()), m64(X6)
        assert spectrum_cache().entries == 12  # one per sample and dtype
        # a float32 layout given to a float64 model is promoted: keyed by the promoted bytes
        m64(X6.float())
        assert spectrum_cache().entries == 18
        x = X6.clone()
        x[2, 0, 3, 3] += 1e-9  # one changed entry: a new key
        m64(x)
        assert spectrum_cache().entries == 19
        assert torch.equal(m32(X6.float()), y32) and torch.equal(m64(X6), y64)


def test_nan_layouts_still_raise(cache):
    m = build_model("toponet2d_ti", (6, 6), seed=0, dtype=torch.float64)
    m(X6)
    x = X6.clone()
    x[3, 0, 2, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf"):
        m(x)
    assert spectrum_cache().entries == 6


# ----------------------------------------------------------------------------- bounds and settings
def test_the_bound_is_kept_least_recently_used_first(cache):
    m = build_model("toponet2d_ti", (6, 6), seed=0, dtype=torch.float64)
    per = 72 * 8 + 72 * 72 * 16  # one 6x6 spectrum in float64: E and complex U
    with torch.no_grad():
        spectrum_cache(per * lm.ADMIT_FRACTION)  # admits a spectrum (holds up to ADMIT_FRACTION of them)
        m(X6[:4])
        m(X6[:1])  # sample 0 is now the most recently used, then 3, 2, 1
        info = spectrum_cache(2 * per)  # a smaller bound drops the least recently used
        assert isinstance(info, SpectrumCacheInfo)
        assert (info.entries, info.bytes, info.max_bytes) == (2, 2 * per, 2 * per)
        m(X6[[0, 3]])
        assert spectrum_cache().hits == 1 + 2
        m(X6[[1]])  # evicted: diagonalized again (and not admitted under this bound)
        info = spectrum_cache()
        assert (info.hits, info.misses, info.entries) == (3, 5, 2)


def test_large_spectra_are_not_admitted(cache):
    m = build_model("toponet2d_ti", (6, 6), seed=0, dtype=torch.float64)
    per = 72 * 8 + 72 * 72 * 16
    spectrum_cache(per * lm.ADMIT_FRACTION - 1)
    with torch.no_grad():
        m(X6)
    assert spectrum_cache().entries == 0


def test_disabling_frees_and_clear_resets(cache):
    m = build_model("toponet2d_ti", (6, 6), seed=0, dtype=torch.float64)
    with torch.no_grad():
        m(X6)
        m(X6)
    info = spectrum_cache()
    assert info.entries == 6 and info.hits == 6 and info.bytes > 0
    assert spectrum_cache(0) == SpectrumCacheInfo(6, 6, 0, 0, 0)
    with torch.no_grad():
        m(X6)
    assert spectrum_cache() == SpectrumCacheInfo(6, 6, 0, 0, 0)  # disabled: not counted
    spectrum_cache(1e6)
    assert spectrum_cache(clear=True) == SpectrumCacheInfo(0, 0, 0, 0, 1000000)


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), True, "lots", None, [1]])
def test_bad_bounds_raise(bad):
    with pytest.raises(ValueError, match="max_bytes"):
        spectrum_cache(bad)


def test_bad_options_raise():
    with pytest.raises(ValueError, match="clear"):
        spectrum_cache(clear="yes")
    with pytest.raises(TypeError, match="max_bytes"):
        spectrum_cache(max_byte=1)
    with pytest.raises(ValueError, match=lm.SPECTRUM_CACHE_ENV):
        lm._bytes_setting("1GB", f"the environment variable {lm.SPECTRUM_CACHE_ENV}")
    assert lm._bytes_setting("2e9", "x") == 2_000_000_000


def _worker(x):
    torch.set_num_threads(1)
    m = build_model("toponet2d_ti", (6, 6), seed=0, dtype=torch.float64)
    with torch.no_grad():
        y = m(x)
        y2 = m(x)
    return os.getpid(), spectrum_cache(), y, y2


@pytest.mark.slow
def test_each_worker_of_a_process_pool_has_its_own_cache(monkeypatch, cache):
    monkeypatch.setenv(lm.SPECTRUM_CACHE_ENV, "5e8")
    m = build_model("toponet2d_ti", (6, 6), seed=0, dtype=torch.float64)
    with torch.no_grad():
        ref = m(X6)
    with cf.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as ex:
        pid, info, y, y2 = ex.submit(_worker, X6).result()
    assert pid != os.getpid()
    assert info == SpectrumCacheInfo(6, 6, 6, info.bytes, 500_000_000) and info.bytes > 0
    assert torch.equal(y, ref) and torch.equal(y2, ref)
    assert spectrum_cache().entries == 6 and spectrum_cache().max_bytes == 1 << 30  # the parent's own
