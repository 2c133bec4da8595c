"""train_seeds: S seeds trained as one vmapped model equal S separate runs of train."""
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from tntopo.data import make_dataset
from tntopo.nn import TrainingDivergedError, build_model, model_names, train, train_seeds
from tntopo.nn.batched import _obstacle

pytestmark = pytest.mark.usefixtures("one_thread")

N = 8
TI = {"kernel": "translation_invariant", "state_weights": "rank", "window": "fixed"}


@pytest.fixture(scope="module")
def data():
    tr = make_dataset(96, N, seed=0, ranges=(-1, 0, 1, 2), dtype=torch.float64)
    va = make_dataset(48, N, seed=1, ranges=(-1, 0, 1, 2), dtype=torch.float64)
    return tr, va


def builder(kind, classes=None, dtype=torch.float64, **kw):
    return lambda s: build_model(kind, N, s, classes=classes, dtype=dtype, **kw)


def separate(build, seeds, tr, va, **opts):
    models, hists = [], []
    for s in seeds:
        m = build(s)
        hists.append(train(m, tr, va, seed=s, progress=False, **opts))
        models.append(m)
    return models, hists


def weight_diff(models, refs):
    """Largest relative difference of any parameter tensor between paired models."""
    d = 0.0
    for m, r in zip(models, refs):
        for (n, p), (n2, q) in zip(m.named_parameters(), r.named_parameters()):
            assert n == n2
            d = max(d, float((p.detach() - q.detach()).abs().max() / q.detach().abs().max().clamp_min(1e-300)))
    return d


def assert_same_histories(hists, refs, rtol):
    for h, r in zip(hists, refs):
        for k in ("epoch", "best_epoch", "stopped_early", "train_accuracy", "val_accuracy", "lr"):
            assert h[k] == r[k], k
        for k in ("train_loss", "val_loss", "val_mae", "best_val_loss"):
            np.testing.assert_allclose(np.array(h[k], dtype=float), np.array(r[k], dtype=float), rtol=rtol, atol=0, err_msg=k)
        assert "diverged" not in h and "diverged" not in r


CASES = [
    ("toponet", None, {}),
    ("toponet", (-1, 0, 1, 2), {}),
    ("toponet_odd", None, TI),
    ("toponet_odd", (-1, 0, 1, 2), TI),
    ("mlp", None, {"hidden": (16,)}),
    ("mlp", (-1, 0, 1, 2), {"hidden": (16,)}),
]


@pytest.mark.parametrize("kind,classes,kw", CASES, ids=[f"{k}-{'ce' if c else 'mse'}" for k, c, _ in CASES])
def test_equals_separate_runs_float64(data, kind, classes, kw):
    tr, va = data
    build = builder(kind, classes, **kw)
    seeds = [0, 3, 11]
    opts = dict(epochs=5, batch_size=16, lr=3e-2, patience=1)
    models, hists = train_seeds(build, seeds, tr, va, mode="vmap", progress=False, **opts)
    refs, ref_hists = separate(build, seeds, tr, va, **opts)
    assert [h["batched"] for h in hists] == [True] * 3 and [h["seed"] for h in hists] == seeds
    assert weight_diff(models, refs) < 1e-10
    assert_same_histories(hists, ref_hists, rtol=1e-10)
    assert [m.trained_on for m in models] == [m.trained_on for m in refs]


def test_patience_stops_seeds_at_different_epochs(data):
    """Early stopping is per seed: seeds leave the stack at different epochs, the others go on."""
    tr, va = data
    build = builder("toponet")
    seeds = [0, 1, 2, 3, 4, 5]
    opts = dict(epochs=8, batch_size=16, lr=5e-2, patience=1, min_delta=1e-3)
    models, hists = train_seeds(build, seeds, tr, va, mode="vmap", progress=False, **opts)
    refs, ref_hists = separate(build, seeds, tr, va, **opts)
    lengths = {h.completed_epochs for h in hists}
    assert len(lengths) > 1 and any(h["stopped_early"] for h in hists)
    assert any(h["best_epoch"] != h.completed_epochs - 1 for h in hists)  # a restore that is not the last epoch
    assert weight_diff(models, refs) < 1e-10
    assert_same_histories(hists, ref_hists, rtol=1e-10)


def test_equals_separate_runs_float32(data):
    """In float32 the batched kernels may round differently; after a few epochs weights agree to ~1e-6."""
    tr, va = make_dataset(96, N, seed=0, ranges=(-1, 0, 1, 2)), make_dataset(48, N, seed=1, ranges=(-1, 0, 1, 2))
    for build in (builder("toponet_odd", dtype=torch.float32, **TI), builder("mlp", dtype=torch.float32, hidden=(16,))):
        opts = dict(epochs=4, batch_size=16, lr=1e-2)
        models, hists = train_seeds(build, [0, 1, 2], tr, va, progress=False, **opts)
        refs, ref_hists = separate(build, [0, 1, 2], tr, va, **opts)
        assert weight_diff(models, refs) < 1e-4
        for h, r in zip(hists, ref_hists):
            assert h["best_epoch"] == r["best_epoch"]
            np.testing.assert_allclose(h["val_loss"], r["val_loss"], rtol=1e-4)


def test_a_different_seed_breaks_equality(data):
    """The check can fail: the seed sets both the initial weights and the batch order of its run."""
    tr, va = data
    build = builder("toponet")
    opts = dict(epochs=2, batch_size=16, lr=3e-2)
    models, _ = train_seeds(build, [0, 1], tr, va, progress=False, **opts)
    same, _ = separate(build, [0, 1], tr, va, **opts)
    other_init, _ = separate(build, [0, 2], tr, va, **opts)
    assert weight_diff(models, same) < 1e-10
    assert weight_diff(models[1:], other_init[1:]) > 1e-2
    m = build(1)  # the initial weights of seed 1 with the batch order of seed 0
    train(m, tr, va, seed=0, progress=False, **opts)
    assert weight_diff(models[1:], [m]) > 1e-6


def test_clip_grad_and_optimizers_per_seed(data):
    """Gradient clipping is per seed (not over the stack); SGD and AdamW act element by element too."""
    tr, va = data
    build = builder("toponet_odd", **TI)
    for opts in (dict(clip_grad=0.05), dict(optimizer="sgd", weight_decay=1e-2), dict(optimizer="adamw", weight_decay=1e-2)):
        opts.update(epochs=3, batch_size=16, lr=1e-2)
        models, hists = train_seeds(build, [0, 1, 2], tr, va, progress=False, **opts)
        refs, ref_hists = separate(build, [0, 1, 2], tr, va, **opts)
        assert weight_diff(models, refs) < 1e-10, opts
        assert_same_histories(hists, ref_hists, rtol=1e-10)


def test_group_size_no_validation_and_lazy_dataset(data):
    tr, va = data

    class Lazy(torch.utils.data.Dataset):  # no .tensors: read sample by sample
        def __init__(self, ds):
            self.ds = ds

        def __len__(self):
            return len(self.ds)

        def __getitem__(self, i):
            return self.ds.x[i], self.ds.y[i]

    build = builder("toponet")
    opts = dict(epochs=2, batch_size=16, lr=1e-2)
    a, ha = train_seeds(build, [0, 1, 2], tr, None, progress=False, **opts)
    b, hb = train_seeds(build, [0, 1, 2], Lazy(tr), None, group_size=2, progress=False, **opts)
    refs, _ = separate(build, [0, 1, 2], tr, None, **opts)
    assert weight_diff(a, refs) < 1e-10 and weight_diff(b, refs) < 1e-10
    assert all(h["val_loss"] == [None, None] and h["best_epoch"] is None for h in ha + hb)


def test_every_registered_chain_model_batches(data):
    tr, _ = data
    for name in model_names(dim=1):
        for classes in (None, (0, 1)):
            models = [build_model(name, N, s, classes=classes, dtype=torch.float64) for s in (0, 1)]
            assert _obstacle(models, tr, None) is None, (name, classes)


class ItemNet(nn.Module):
    """A model vmap cannot run: data-dependent Python control flow (``.item()``) in the forward."""

    def __init__(self, seed):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(4 * N * N, generator=g, dtype=torch.float64) * 0.01)

    def forward(self, x):
        out = x.flatten(1).to(self.w.dtype) @ self.w
        return out if out.sum().item() > -1e300 else -out


class OffsetNet(ItemNet):
    """A model whose forward reads per-model state that is not a parameter (the probe must notice)."""

    def __init__(self, seed):
        super().__init__(seed)
        self.offset = float(seed)

    def forward(self, x):
        return x.flatten(1).to(self.w.dtype) @ self.w + self.offset


@pytest.mark.parametrize("cls,why", [(ItemNet, "vmap"), (OffsetNet, "outputs differ")])
def test_fallback_to_a_loop(data, cls, why):
    tr, va = data
    opts = dict(epochs=2, batch_size=16, lr=1e-2)
    with pytest.warns(RuntimeWarning, match=why):
        models, hists = train_seeds(cls, [0, 1], tr, va, progress=False, **opts)
    refs, ref_hists = separate(cls, [0, 1], tr, va, **opts)
    assert [h["batched"] for h in hists] == [False, False]
    assert weight_diff(models, refs) == 0.0
    with pytest.raises(ValueError, match="cannot be trained as one vmapped model"):
        train_seeds(cls, [0, 1], tr, va, mode="vmap", progress=False, **opts)


def test_divergence_per_seed(data):
    tr, va = data

    def build(s):
        m = build_model("mlp", N, s, dtype=torch.float64, hidden=(8,))
        if s == 1:
            with torch.no_grad():
                m.net[0].bias.fill_(float("inf"))
        return m

    opts = dict(epochs=2, batch_size=16, lr=1e-2)
    with pytest.raises(TrainingDivergedError, match="seed 1"):
        train_seeds(build, [0, 1, 2], tr, va, progress=False, **opts)
    for mode in ("vmap", "loop"):
        models, hists = train_seeds(build, [0, 1, 2], tr, va, progress=False, on_diverge="record", mode=mode, **opts)
        assert "diverged" in hists[1] and hists[1].completed_epochs == 0
        fresh = dict(build(1).named_parameters())  # as it stood when it diverged: no step taken
        assert all(torch.equal(p, fresh[n]) for n, p in models[1].named_parameters())
        refs, ref_hists = separate(build, [0, 2], tr, va, **opts)
        assert weight_diff([models[0], models[2]], refs) < 1e-10
        assert_same_histories([hists[0], hists[2]], ref_hists, rtol=1e-10)


def test_exploding_finite_loss_is_divergence_as_in_train(data):
    """A seed whose loss stays finite but explodes (lr far too large) stops as ``train`` stops it."""
    from tntopo.nn import train

    tr, va = data

    def build(s):
        return build_model("mlp", N, s, dtype=torch.float64, hidden=(8,))

    opts = dict(epochs=3, batch_size=16)
    with pytest.raises(TrainingDivergedError, match="exploded"):
        train(build(1), tr, va, seed=1, lr=1e4, progress=False, **opts)
    with pytest.raises(TrainingDivergedError, match="seed 1: the training loss exploded"):
        train_seeds(build, [1], tr, va, lr=1e4, progress=False, **opts)
    models, hists = train_seeds(build, [0, 1], tr, va, lr=1e4, progress=False, on_diverge="record", **opts)
    assert all("exploded" in h["diverged"] for h in hists)


def test_bad_input(data):
    tr, va = data
    build = builder("toponet")
    with pytest.raises(ValueError, match="seeds is empty"):
        train_seeds(build, [], tr, va)
    with pytest.raises(ValueError, match="integers"):
        train_seeds(build, [0, 1.5], tr, va)
    with pytest.raises(ValueError, match="unknown mode"):
        train_seeds(build, [0], tr, va, mode="fast")
    with pytest.raises(ValueError, match="lr"):
        train_seeds(build, [0], tr, va, lr=-1.0)
    with pytest.raises(ValueError, match="group_size"):
        train_seeds(build, [0], tr, va, group_size=0)
    with pytest.raises(TypeError, match="valid keywords"):
        train_seeds(build, [0], tr, va, checkpoint="x.pt")
    m = build(0)
    with pytest.raises(ValueError, match="fresh model"):
        train_seeds(lambda s: m, [0, 1], tr, va)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, h = train_seeds(build, [5], tr, va, epochs=1, batch_size=16, progress=False)  # one seed: a stack of one
    assert h[0]["batched"] and h[0]["seed"] == 5


def test_frozen_parameters_stay_frozen(data):
    """A parameter with requires_grad=False is in the optimizer (as in train) but never moves."""
    tr, va = data

    def build(s):
        m = build_model("toponet", N, s, dtype=torch.float64)
        m.params["R"].requires_grad_(False)
        return m

    opts = dict(epochs=3, batch_size=16, lr=3e-2, patience=1)
    models, hists = train_seeds(build, [0, 1, 2], tr, va, mode="vmap", progress=False, **opts)
    refs, ref_hists = separate(build, [0, 1, 2], tr, va, **opts)
    assert all(torch.equal(m.params["R"], build(s).params["R"]) for m, s in zip(models, [0, 1, 2]))
    assert not all(torch.equal(m.params["S"], build(s).params["S"]) for m, s in zip(models, [0, 1, 2]))
    assert weight_diff(models, refs) < 1e-10
    assert_same_histories(hists, ref_hists, rtol=1e-10)
