"""tntopo.study.train / evaluate: determinism, checkpoints that resume bit-identically, early stopping."""
import io

import pytest
import torch

from tntopo.data import make_dataset
from tntopo.nn import MLP, TopoNet
from tntopo.study import History, evaluate, train


@pytest.fixture(scope="module")
def data():
    tr = make_dataset(96, 8, ranges=(0, 1), seed=0, shard_size=48)
    va = make_dataset(32, 8, ranges=(0, 1), seed=1, shard_size=32)
    return tr, va


def _bytes(model):
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getvalue()


KW = dict(epochs=4, batch_size=16, lr=1e-2, seed=7, progress=False)


def test_deterministic(data):
    tr, va = data
    h1 = train(a := MLP(8, hidden=(32,), seed=1), tr, va, **KW)
    h2 = train(b := MLP(8, hidden=(32,), seed=1), tr, va, **KW)
    assert _bytes(a) == _bytes(b) and h1["train_loss"] == h2["train_loss"]
    assert isinstance(h1, History) and h1.completed_epochs == 4 and len(h1["val_accuracy"]) == 4
    assert "epochs" in repr(h1)


@pytest.mark.parametrize("make", [lambda: MLP(8, hidden=(32,), seed=1), lambda: TopoNet(8, "random", seed=1)])
def test_resume_after_interruption_is_identical(data, tmp_path, make):
    tr, va = data
    ref = make()
    h_ref = train(ref, tr, va, checkpoint=tmp_path / "ref.pt", **KW)

    class Interrupt(Exception):
        pass

    def stop_after_two(epoch, history):
        if epoch == 1:
            raise Interrupt

    ck = tmp_path / "run.pt"
    with pytest.raises(Interrupt):
        train(make(), tr, va, checkpoint=ck, callback=stop_after_two, **KW)
    torch.manual_seed(123)  # the global RNG state must not matter: it is restored from the checkpoint
    resumed = make()
    h = train(resumed, tr, va, checkpoint=ck, **KW)
    assert _bytes(resumed) == _bytes(ref)
    assert h["train_loss"] == h_ref["train_loss"] and h["epoch"] == [0, 1, 2, 3]
    # finished checkpoint: nothing left to do
    again = make()
    train(again, tr, va, checkpoint=ck, **KW)
    assert _bytes(again) == _bytes(ref)


def test_checkpoint_errors(data, tmp_path):
    tr, va = data
    ck = tmp_path / "c.pt"
    train(MLP(8, hidden=(8,)), tr, checkpoint=ck, epochs=1, progress=False)
    with pytest.raises(ValueError, match="other settings"):
        train(MLP(8, hidden=(8,)), tr, checkpoint=ck, epochs=2, lr=0.5, progress=False)
    ck.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="corrupt"):
        train(MLP(8, hidden=(8,)), tr, checkpoint=ck, epochs=2, progress=False)


def test_early_stopping_and_restore_best(data):
    tr, va = data
    m = MLP(8, hidden=(16,), seed=0)
    h = train(m, tr, va, epochs=50, lr=0.5, optimizer="sgd", patience=2, progress=False, clip_grad=1.0)
    assert h["stopped_early"] and h.completed_epochs < 50
    assert abs(evaluate(m, va)["loss"] - h["best_val_loss"]) < 1e-6


def test_evaluate_exact_toponet(data):
    _, va = data
    net = TopoNet(8, "exact", dtype=torch.float64)
    m = evaluate(net, (va.x.double(), torch.as_tensor(va.W)))
    assert m["accuracy"] == 1.0 and m["max_error"] < 1e-6 and m["n"] == 32
    assert set(m) >= {"accuracy", "mse", "mae", "loss"}


def test_train_toponet_improves(data):
    tr, va = data
    net = TopoNet(8, "random", seed=0, kernel="translation_invariant", state_weights="rank", window="fixed")
    before = evaluate(net, va)["mse"]
    train(net, tr, va, epochs=6, lr=0.05, batch_size=32, progress=False)
    assert evaluate(net, va)["mse"] < before


def test_bad_arguments(data):
    tr, _ = data
    with pytest.raises(ValueError, match="optimizer"):
        train(MLP(8), tr, optimizer="lbfgs", progress=False)
    with pytest.raises(ValueError, match="loss"):
        train(MLP(8), tr, loss="xent", progress=False)
    with pytest.raises(ValueError, match="Dataset"):
        train(MLP(8), [1, 2, 3], progress=False)
