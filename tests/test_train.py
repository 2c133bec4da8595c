"""tntopo.nn.training: determinism, checkpoints that resume bit-identically, early stopping, classification,
learning-rate selection, effective parameters; tntopo.nn.serialization: safe model and checkpoint files.

(The loop moved from ``tntopo.study.train`` to ``tntopo.nn.training`` in issue 10; the real-space target is
named ``w_real``.)"""
import io
import json
import pickle

import numpy as np
import pytest
import torch

from tntopo.data import make_dataset
from tntopo.nn import (MLP, History, ModelFileError, TopoNet, TrainingDivergedError, build_model,
                       effective_parameters, evaluate, load_model, n_parameters, predict, read_model_meta,
                       save_model, select_lr, train)


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
    m = evaluate(net, (va.x.double(), torch.as_tensor(va.w_real)))
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


def test_diverging_loss_is_a_clear_error(data):
    tr, _ = data
    with pytest.raises(TrainingDivergedError, match="lower the learning rate"):
        train(MLP(8, hidden=(8,)), tr, epochs=3, lr=1e12, optimizer="sgd", progress=False)
    assert issubclass(TrainingDivergedError, ValueError) and issubclass(TrainingDivergedError, FloatingPointError)


def test_classification_heads(data):
    tr, va = data
    classes = (-1, 0, 1, 2)
    mlp = build_model("mlp", 8, seed=0, classes=classes, hidden=(16,))
    assert mlp(tr.x[:3]).shape == (3, 4) and mlp.classes == classes
    h = train(mlp, tr, va, epochs=3, lr=1e-2, batch_size=16, progress=False)  # cross_entropy by default
    assert h.completed_epochs == 3 and np.isfinite(h["train_loss"]).all()
    pred, y = predict(mlp, va)
    assert set(pred.tolist()) <= set(classes)  # windings of the argmax class
    m = evaluate(mlp, va)
    assert m["accuracy"] == float((pred == y).double().mean())
    # a TopoNet-like model: logits -(w - k)^2 / T from its real output; the exact one classifies exactly
    exact = build_model("toponet_exact", 8, classes=classes, dtype=torch.float64)
    w = TopoNet(8, "exact", dtype=torch.float64)(va.x.double())
    logits = exact(va.x.double())
    torch.testing.assert_close(logits, -(w[:, None] - torch.tensor(classes, dtype=torch.float64)) ** 2 / 0.1)
    pred, _ = predict(exact, (va.x.double(), torch.as_tensor(va.w_real)))
    assert torch.equal(pred, torch.round(w).clamp(-1, 2))
    with pytest.raises(ValueError, match="cross_entropy"):
        train(mlp, tr, loss="mse", progress=False)
    with pytest.raises(ValueError, match="classifier"):
        train(MLP(8), tr, loss="cross_entropy", progress=False)
    with pytest.raises(ValueError, match="not among the model's classes"):
        train(build_model("mlp", 8, classes=(5, 6)), tr, epochs=1, progress=False)


def test_select_lr_equal_budgets(data):
    tr, va = data
    best, scores = select_lr(lambda: MLP(8, hidden=(16,), seed=0), tr, va, grid=(1e-4, 1e-2, 1e12), epochs=2,
                             seed=0, batch_size=16, optimizer="sgd")
    assert set(scores) == {1e-4, 1e-2, 1e12}
    assert scores[1e12]["diverged"] and scores[1e12]["accuracy"] == 0.0
    assert best != 1e12 and scores[best]["accuracy"] == max(v["accuracy"] for v in scores.values())
    assert all(v["epochs"] == 2 for k, v in scores.items() if not v["diverged"])
    with pytest.raises(TypeError, match="lr"):
        select_lr(lambda: MLP(8), tr, va, epochs=1, lr=0.1)


def test_effective_parameters():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 8, 8, generator=gen, dtype=torch.float64)
    # a linear model sees only the 8x8 input: rank = 64 weights + 1 bias = 65 (more outputs than parameters)
    lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1, dtype=torch.float64))
    x2 = torch.randn(100, 8, 8, generator=gen, dtype=torch.float64)
    assert n_parameters(lin) == 65 and effective_parameters(lin, x2) == 65
    # two layers in series: W2 W1 has only 64 + 1 effective directions in its linear part
    deep = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 4, dtype=torch.float64),
                               torch.nn.Linear(4, 1, dtype=torch.float64))
    assert n_parameters(deep) == 265 and effective_parameters(deep, x2) == 65
    # the chiral-even part of OddTopoNet's state weights is a dead direction
    from tntopo.data import wavefunctions
    import tntopo

    h = tntopo.sample_chains(60, 6, ranges=(0, 1), seed=0).hopping_blocks()
    xw = torch.as_tensor(wavefunctions(h))
    odd = build_model("toponet_odd", 6, seed=1, dtype=torch.float64)
    plain = build_model("toponet", 6, seed=1, dtype=torch.float64)
    assert effective_parameters(odd, xw) < effective_parameters(plain, xw) <= min(n_parameters(plain), 60)


def test_model_files_roundtrip_and_metadata(data, tmp_path):
    tr, va = data
    m = build_model("mlp", 8, seed=2, hidden=(16,))
    train(m, tr, va, epochs=1, progress=False)
    assert m.trained_on["features"] == "wavefunctions" and m.trained_on["n_cells"] == 8
    save_model(tmp_path / "m.pt", m)
    back = load_model(tmp_path / "m.pt")
    assert _bytes(back) == _bytes(m) and back.trained_on == m.trained_on and back.loaded_from == "model"
    meta = read_model_meta(tmp_path / "m.pt")
    assert meta["kind"] == "model" and meta["model"]["name"] == "mlp" and meta["model"]["kwargs"] == {"hidden": [16]}
    assert meta["tntopo_version"] and meta["trained_on"]["target"] == "label"
    # dtypes and classifiers survive too
    t = build_model("toponet_odd", 8, seed=1, classes=(0, 1), dtype=torch.float64, kernel="translation_invariant")
    save_model(tmp_path / "t.pt", t)
    t2 = load_model(tmp_path / "t.pt")
    assert t2.classes == (0, 1) and next(t2.parameters()).dtype == torch.float64 and _bytes(t2) == _bytes(t)
    # a checkpoint loads as a model (its best weights), a model file is no checkpoint
    ck = tmp_path / "run.ckpt"
    c = build_model("mlp", 8, seed=2, hidden=(16,))
    train(c, tr, va, epochs=2, checkpoint=ck, progress=False)
    cm = load_model(ck)
    assert cm.loaded_from == "checkpoint" and _bytes(cm) == _bytes(c)
    with pytest.raises(ModelFileError, match="training checkpoint"):
        load_model(ck, checkpoint_ok=False)
    with pytest.raises(ModelFileError, match="not a training checkpoint"):
        train(build_model("mlp", 8, seed=2, hidden=(16,)), tr, checkpoint=tmp_path / "m.pt", epochs=1, progress=False)
    with pytest.raises(ValueError, match="build_model"):
        save_model(tmp_path / "x.pt", MLP(8))
    # unknown format versions and foreign torch files
    st = torch.load(tmp_path / "m.pt", weights_only=True)
    torch.save({**st, "format_version": 99}, tmp_path / "v99.pt")
    with pytest.raises(ModelFileError, match="format version 99"):
        load_model(tmp_path / "v99.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ModelFileError, match="not a tntopo model"):
        load_model(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.pt")


class _Payload:
    """Unpickling this would call os.system(...) and create a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("how", ["torch_zip", "raw_pickle", "raw_pickle4", "in_checkpoint"])
def test_malicious_files_run_nothing(tmp_path, how, data):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = _Payload(marker)
    if how == "torch_zip":
        torch.save({"tntopo": "model", "format_version": 1, "meta": "{}", "state_dict": payload}, path)
    elif how.startswith("raw_pickle"):
        path.write_bytes(pickle.dumps(payload, protocol=4 if how.endswith("4") else 2))
    else:
        tr, _ = data
        train(build_model("mlp", 8, hidden=(4,)), tr, checkpoint=path, epochs=1, progress=False)
        st = torch.load(path, weights_only=True)
        st["best_state"] = payload
        torch.save(st, path)
    with pytest.raises(ModelFileError, match="nothing in it was run"):
        load_model(path)
    with pytest.raises(ModelFileError, match="nothing in it was run"):
        read_model_meta(path)
    if how == "in_checkpoint":
        tr, _ = data
        with pytest.raises(ModelFileError, match="nothing in it was run"):
            train(build_model("mlp", 8, hidden=(4,)), tr, checkpoint=path, epochs=2, progress=False)
    assert not marker.exists()
    json.dumps(str(path))  # (keeps the json import used)


@pytest.mark.parametrize("training", [True, False])
def test_evaluation_restores_the_training_flag_even_after_an_error(training):
    # predict, output_jacobian, train_seeds' validation and the study's predictions share nn.training.eval_mode
    from tntopo.nn.training import eval_mode, output_jacobian, predict

    class Fails(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))
            self.seen = []

        def forward(self, x):
            self.seen.append(self.training)
            if x.shape[-1] != 4:
                raise ValueError("wrong length")
            return x.sum(dim=(-1, -2)) * self.w

    m = Fails().train(training)
    with eval_mode(m):
        assert not m.training
    assert m.training is training
    with pytest.raises(ValueError, match="wrong length"):
        predict(m, (torch.zeros(3, 6, 6), torch.zeros(3)))
    assert m.training is training and m.seen == [False]
    pred, _ = predict(m, (torch.ones(2, 4, 4), torch.zeros(2)))
    assert pred.tolist() == [16.0, 16.0] and m.training is training
    assert output_jacobian(m, torch.ones(2, 4, 4)).shape == (2, 1) and m.training is training
