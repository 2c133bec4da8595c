"""tntopo.data.lattice2d: seeded 2D lattice datasets (in memory and HDF5 shards)."""
import json

import numpy as np
import pytest
import torch

from tntopo.data.generate import NO_EXACT, UnknownFormatError
from tntopo.data.lattice2d import (
    generate_lattice_dataset, lattice_dataset, make_lattice_arrays, read_lattice_arrays, sample_lattice,
)

pytest.importorskip("tntopo.invariants.chern", reason="the Chern-number routes (labels) are not available")

KW = dict(params={"m": (-3.0, 3.0)}, disorder=(0.0, 1.0), seed=3)


# small complex matmuls with 2 OpenMP threads on a loaded 2-core machine are ~1000x slower
pytestmark = pytest.mark.usefixtures("one_thread")


def _same(a, b):
    assert set(a) == set(b)
    for k in a:
        if k == "_spec":
            assert a[k] == b[k]
        else:
            assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k], equal_nan=True), k


def test_arrays_labels_and_features():
    a = make_lattice_arrays(6, (6, 6), features=("hamiltonian", "eigen"), **KW)
    assert a["hamiltonian"].shape == (6, 72, 72) and a["hamiltonian"].dtype == np.complex128
    assert a["energies"].shape == (6, 72) and a["states"].shape == (6, 72, 72)
    assert a["params"].shape == (6, 1) and a["_spec"]["param_names"] == ["m"]
    assert np.all((a["disorder"] >= 0) & (a["disorder"] <= 1)) and np.all(np.abs(a["params"]) <= 3)
    for i in range(6):  # the eigen features diagonalize the stored Hamiltonian
        H, E, U = a["hamiltonian"][i], a["energies"][i], a["states"][i]
        np.testing.assert_allclose(H @ U, U * E, atol=1e-10)
    # labels: exact where defined, else the rounded marker
    ok = a["exact"] != NO_EXACT
    assert np.array_equal(a["label"][ok], a["exact"][ok])
    assert np.array_equal(a["label"][~ok], np.rint(a["c_real"][~ok]).astype(int))
    # the stored marker is the bulk marker of the stored Hamiltonian, and TopoNet2D reproduces it
    from tntopo.nn.toponet2d import TopoNet2D

    net = TopoNet2D((6, 6), init="exact", dtype=torch.float64)
    np.testing.assert_allclose(net(torch.as_tensor(a["hamiltonian"])).detach().numpy(), a["c_real"], atol=1e-10)
    np.testing.assert_allclose(net((torch.as_tensor(a["energies"]), torch.as_tensor(a["states"]))).detach().numpy(),
                               a["c_real"], atol=1e-10)


def test_clean_qwz_labels_are_sign_m():
    ms = np.array([-2.6, -1.4, -0.6, 0.7, 1.3, 2.8])
    for m in ms:
        b = make_lattice_arrays(1, (8, 8), params={"m": float(m)}, seed=0)
        want = int(np.sign(m)) if abs(m) < 2 else 0
        assert b["exact"][0] == want and b["label"][0] == want
        assert abs(b["c_real"][0] - want) < 0.2


def test_haldane_and_disordered_bott_labels():
    a = make_lattice_arrays(3, (6, 6), model="haldane", params={"phi": np.pi / 2, "M": 0.1}, disorder=0.5, seed=1)
    assert a["_spec"]["param_names"] == ["t1", "t2", "phi", "M"]
    assert np.all(a["exact"] == -1)  # C = -sign(t2 sin phi), Bott index of the torus


def test_sample_i_depends_only_on_seed_and_i():
    a = make_lattice_arrays(5, (4, 4), shard_size=2, **KW)
    b = make_lattice_arrays(5, (4, 4), shard_size=3, executor="thread", **{**KW})
    for k in a:
        if k != "_spec":
            assert np.array_equal(a[k], b[k], equal_nan=True), k
    e = make_lattice_arrays(5, (4, 4), shard_size=1, executor="process", **KW)
    for k in a:
        if k != "_spec":
            assert np.array_equal(a[k], e[k], equal_nan=True), k
    c = make_lattice_arrays(3, (4, 4), shard_size=5, **KW)
    assert np.array_equal(c["hamiltonian"], a["hamiltonian"][:3])
    d = make_lattice_arrays(3, (4, 4), **{**KW, "seed": 4})
    assert not np.array_equal(d["hamiltonian"], c["hamiltonian"])
    lat, values, W = sample_lattice(a["_spec"], 4)
    np.testing.assert_array_equal(lat.hamiltonian(), a["hamiltonian"][4])
    assert values["m"] == a["params"][4, 0] and W == a["disorder"][4]


def test_hdf5_roundtrip_resume_and_errors(tmp_path):
    root = tmp_path / "ds"
    generate_lattice_dataset(root, 5, (4, 4), shard_size=2, executor="serial", progress=False, **KW)
    got = read_lattice_arrays(root)
    _same(got, make_lattice_arrays(5, (4, 4), shard_size=2, **KW))
    meta = json.loads((root / "meta.json").read_text())
    assert meta["complete"] and meta["kind"] == "lattice2d" and len(meta["shards"]) == 3
    # resume: a missing and a corrupt shard are rebuilt, identically
    (root / "shard-00001.h5").unlink()
    (root / "shard-00002.h5").write_bytes(b"not hdf5")
    with pytest.warns(RuntimeWarning, match="corrupt"):
        generate_lattice_dataset(root, 5, (4, 4), shard_size=2, executor="serial", progress=False, **KW)
    _same(read_lattice_arrays(root), got)
    assert list(read_lattice_arrays(root, keys=["label"])) == ["label", "_spec"]
    with pytest.raises(ValueError, match="has no array 'h'"):
        read_lattice_arrays(root, keys=["h"])
    # reading (the shard reader shared with the 1D datasets) names this kind's rebuild function
    (root / "shard-00001.h5").rename(root / "moved.h5")
    with pytest.raises(FileNotFoundError, match="generate_lattice_dataset"):
        read_lattice_arrays(root)
    (root / "moved.h5").rename(root / "shard-00001.h5")
    done = json.loads((root / "meta.json").read_text())
    (root / "meta.json").write_text(json.dumps({**done, "complete": False}))
    with pytest.raises(ValueError, match="incomplete .* rerun generate_lattice_dataset"):
        read_lattice_arrays(root)
    (root / "meta.json").write_text(json.dumps(done))
    with pytest.raises(ValueError, match="other parameters"):
        generate_lattice_dataset(root, 5, (4, 4), shard_size=2, executor="serial", progress=False, **{**KW, "seed": 9})
    meta["format_version"] = 99  # a future storage format is refused clearly
    (root / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(UnknownFormatError, match="format version 99"):
        read_lattice_arrays(root)
    ds = lattice_dataset(got, target="c_real")
    x, y = ds[0]
    assert x.shape == (32, 32) and y.item() == pytest.approx(got["c_real"][0]) and len(ds) == 5
    assert np.array_equal(ds.exact, got["exact"])


@pytest.mark.parametrize("kw, err", [
    (dict(model="kagome"), ValueError),
    (dict(params={"t2": 0.3}), ValueError),
    (dict(params={"m": (2.0, 1.0)}), ValueError),
    (dict(disorder=-1.0), ValueError),
    (dict(features=("wavefunctions",)), ValueError),
    (dict(boundary="twisted"), ValueError),
    (dict(dtype="float16"), ValueError),
    (dict(shard_size=0), ValueError),
    (dict(seed=-1), ValueError),
    (dict(shape=(3, 8)), ValueError),
    (dict(n_cells=8), TypeError),
])
def test_errors(kw, err):
    shape = kw.pop("shape", (4, 4))
    with pytest.raises(err):
        make_lattice_arrays(2, shape, **kw)


def test_a_2d_study_is_a_configuration():
    """The existing training loop trains TopoNet2D on a lattice dataset as it is."""
    from tntopo.nn.toponet2d import TopoNet2D
    from tntopo.nn.training import evaluate, train

    kw = dict(params={"m": (-3.0, 3.0)}, disorder=(0.0, 1.0))
    tr = lattice_dataset(make_lattice_arrays(24, (4, 4), seed=0, **kw), "c_real")
    va = lattice_dataset(make_lattice_arrays(8, (4, 4), seed=1, **kw), "c_real")
    net = TopoNet2D((4, 4), init="random", seed=0, dtype=torch.float64)
    before = evaluate(net, va)
    hist = train(net, tr, va, epochs=3, batch_size=8, lr=3e-2, progress=False, seed=0)
    assert len(hist["train_loss"]) == 3 and np.isfinite(hist["train_loss"]).all()
    after = evaluate(net, va)
    assert after["loss"] < before["loss"]
