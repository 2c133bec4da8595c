"""The user surface (issue 25): mistakes a new user makes get a clear error naming the fix."""
import numpy as np
import pytest
import torch

import tntopo
from tntopo._typing import strict_keywords


@pytest.mark.parametrize("call, bad, valid, hint", [
    (lambda: tntopo.SSHChain({0: 0.5, 1: 1.0}, n_cell=8), "'n_cell'", "n_cells", "did you mean 'n_cells'?"),
    (lambda: tntopo.ChiralHamiltonian(np.zeros((8, 8)), sublatice=None), "'sublatice'", "sublattice", "sublattice"),
    (lambda: tntopo.sample_chains(4, 8, min_gaps=0.1), "'min_gaps'", "min_gap", "min_gap"),
    (lambda: tntopo.Lattice2D.qwz(mass=1.0, shape=(4, 4)), "'mass'", "m, shape, boundary", None),
    (lambda: tntopo.Lattice2D.haldane(1, 0.2, 1.0, 0.0, (4, 4), bondary="open"), "'bondary'", "boundary", "boundary"),
    (lambda: tntopo.nn.TopoNet(12, kernal="full"), "'kernal'", "kernel, state_weights", "did you mean 'kernel'?"),
    (lambda: tntopo.nn.OddTopoNet(12, kernal="full"), "'kernal'", "kernel", "kernel"),
    (lambda: tntopo.nn.MLP(12, hiden=(4,)), "'hiden'", "hidden", "hidden"),
    (lambda: tntopo.nn.CNN(12, chanels=(4,)), "'chanels'", "channels", "channels"),
    (lambda: tntopo.nn.train(tntopo.nn.MLP(4), None, epocs=3), "'epocs'", "epochs, batch_size, lr", "did you mean 'epochs'?"),
])
def test_unknown_keywords_name_the_valid_ones(call, bad, valid, hint):
    with pytest.raises(TypeError) as info:
        call()
    msg = str(info.value)
    assert bad in msg and "valid keywords: " in msg and valid in msg, msg
    assert "self" not in msg.split("valid keywords: ")[1].split(", ")
    if hint:
        assert hint in msg
    name = msg.split("(")[0]  # the class or function the user called, not "__init__" / "wrapper"
    assert "__init__" not in name and "wrapper" not in name


def test_strict_keywords_keeps_the_signature_and_passes_valid_calls():
    import inspect

    assert list(inspect.signature(tntopo.SSHChain).parameters)[:2] == ["hoppings", "n_cells"]
    assert "kernel" in inspect.signature(tntopo.nn.TopoNet).parameters
    assert tntopo.SSHChain({0: 0.5, 1: 1.0}, n_cells=8).n_cells == 8
    assert tntopo.Lattice2D.qwz(m=1.0, shape=(4, 4)).shape == (4, 4)

    @strict_keywords
    def f(a, *, bb=1, cc=2):
        return a + bb + cc

    assert f(1, bb=2) == 5
    with pytest.raises(TypeError, match=r"^f\(\) got unknown keyword arguments 'bbx', 'zz' \('bbx': did you mean 'bb'\?\)"):
        f(1, bbx=2, zz=3)


def test_winding_number_of_a_lattice_or_an_object_says_what_to_pass():
    lat = tntopo.Lattice2D.qwz(1.0, (6, 6))
    for f in (tntopo.winding_number, tntopo.local_winding_marker):
        with pytest.raises(ValueError, match="2D lattice .* use tntopo.chern_number"):
            f(lat)
        with pytest.raises(ValueError, match="takes an SSHChain, a ChainBatch, a ChiralHamiltonian or A->B"):
            f({"a": 1})


def _data(n=64):
    from tntopo.data import make_dataset

    return make_dataset(n, 8, seed=0, progress=False)


@pytest.mark.parametrize("lr", [1e4, 1.0])
def test_exploding_training_loss_is_divergence(lr):
    from tntopo.nn import TrainingDivergedError, build_model, train

    with pytest.raises(TrainingDivergedError, match=r"exploded to .* lower the learning rate \(e.g. lr="):
        train(build_model("mlp", 8), _data(), epochs=5, lr=lr, progress=False)
    h = train(build_model("mlp", 8), _data(), epochs=2, lr=1e-3, progress=False)  # a sane run is not stopped
    assert h.completed_epochs == 2


def test_train_lr_too_large_on_the_command_line(tmp_path, capsys):
    from tntopo.cli import main

    assert main(["generate", str(tmp_path / "d"), "--n-samples", "64", "--n-cells", "8", "--quiet",
                 "--executor", "serial"]) == 0
    assert main(["train", str(tmp_path / "d"), "--model", "mlp", "--epochs", "3", "--lr", "1e4", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "training diverged" in err and "lower --lr" in err


def test_unavailable_device_is_a_clear_error(monkeypatch):
    from tntopo.nn import build_model, check_device, train

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='cuda': .*use device='cpu'"):
        train(build_model("mlp", 8), _data(8), epochs=1, progress=False, device="cuda")
    with pytest.raises(ValueError, match="not a torch device"):
        check_device("gpu0")
    assert check_device("cpu") == torch.device("cpu")


def test_models_given_numpy_arrays_say_how_to_convert():
    from tntopo.data import wavefunctions

    x = wavefunctions(tntopo.sample_chains(2, 12, seed=0).hopping_blocks())
    for model in (tntopo.nn.TopoNet(12), tntopo.nn.MLP(12), tntopo.nn.CNN(12), tntopo.nn.SymmetricNet(12)):
        with pytest.raises(TypeError, match=r"takes a torch.Tensor .* got numpy.ndarray; convert it with torch.as_tensor"):
            model(x)
    W = tntopo.nn.TopoNet(12, dtype=torch.float64)(torch.as_tensor(x))
    assert torch.allclose(W, torch.as_tensor(tntopo.winding_number(tntopo.sample_chains(2, 12, seed=0).hopping_blocks())),
                          atol=1e-8)


def test_main_objects_have_short_reprs_without_array_dumps():
    """What Jupyter prints for the main objects: one readable line, no array contents."""
    from tntopo.data import make_dataset
    from tntopo.data.evalsets import EvalSet
    from tntopo.nn import History

    chain = tntopo.SSHChain({0: 0.5, 1: 1.0}, n_cells=400, disorder={0: 0.3}, seed=1)
    ds = make_dataset(16, 8, seed=0, progress=False)
    objects = [chain, tntopo.sample_chains(50, 400, seed=0), tntopo.ChiralHamiltonian(chain.hamiltonian()),
               tntopo.Lattice2D.qwz(1.0, (30, 30), disorder=1.0, seed=0), ds,
               EvalSet(np.zeros((16, 16, 16)), np.arange(16) % 2, np.zeros(16), 8),
               History({"epoch": list(range(100)), "train_loss": [0.1] * 100, "best_epoch": 3})]
    for obj in objects:
        r = repr(obj)
        assert "\n" not in r and len(r) < 300 and "array(" not in r and "..." not in r, (type(obj).__name__, r)
    r = repr(tntopo.nn.TopoNet(40))
    assert "array" not in r and r.count("\n") < 10
