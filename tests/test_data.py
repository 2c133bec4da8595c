"""tntopo.data: features, in-memory datasets, HDF5 shards (determinism, resume, corruption, format versions),
TopoDataset, evaluation sets.

Target names (issue 10): ``label`` = exact integer winding, ``w_real`` = real-space value, ``exact`` =
independent exact route (the v1 names ``W`` and ``labels`` were renamed; these tests were updated accordingly).
"""
import json

import numpy as np
import pytest
import torch

import tntopo
from tntopo.data import (
    NO_EXACT, CorruptDatasetError, TopoDataset, UnknownFormatError, compute_features, densities, generate,
    hamiltonians, make_arrays, make_dataset, read_arrays, wavefunctions,
)

SMALL = dict(n_samples=24, n_cells=8, shard_size=8, ranges=(0, 1), disorder=[None, 0.5], seed=3)


def _gen(path, **kw):
    args = {**SMALL, **kw}
    return generate(path, args.pop("n_samples"), args.pop("n_cells"), progress=False, **args)


def test_features():
    h = tntopo.sample_chains(3, 6, ranges=(0, 1, 2), seed=0, disorder={0: 0.3}).hopping_blocks()
    psi = wavefunctions(h)
    H = hamiltonians(h)
    assert psi.shape == H.shape == (3, 12, 12)
    E = np.linalg.eigvalsh(H)
    np.testing.assert_allclose(np.einsum("bin,bij,bjn->bn", psi, H, psi), E, atol=1e-10)  # columns by energy
    np.testing.assert_allclose(psi.transpose(0, 2, 1) @ psi, np.broadcast_to(np.eye(12), (3, 12, 12)), atol=1e-10)
    from tntopo.data.features import _gauge_weights

    G = _gauge_weights(12)
    c = np.einsum("ki,bin->kbn", G, psi)
    first = np.argmax(np.abs(c) >= 0.05 * np.linalg.norm(G, axis=1)[:, None, None] / np.sqrt(12), axis=0)
    assert np.all(np.take_along_axis(c, first[None], 0) > 0)  # fixed gauge: the rule's functional is positive
    np.testing.assert_allclose(densities(h), psi ** 2)
    f = compute_features(h[0], ["hamiltonian", "densities"])
    assert list(f) == ["hamiltonian", "densities"] and f["densities"].shape == (12, 12)
    with pytest.raises(ValueError, match="unknown feature"):
        compute_features(h, "spins")


def test_make_dataset_labels_and_determinism():
    ds = make_dataset(16, 8, ranges=(-1, 0, 1), seed=1, shard_size=5, dtype=torch.float64)
    assert len(ds) == 16 and ds.x.shape == (16, 16, 16) and ds.y.dtype == torch.int64
    assert np.array_equal(np.bincount(ds.sector + 1), [6, 5, 5])  # balanced sectors -1, 0, 1
    assert np.array_equal(ds.exact, ds.sector)  # clean chains: exact = Bloch
    from tntopo.invariants.winding.dense import winding_from_blocks

    np.testing.assert_allclose(ds.w_real, winding_from_blocks(ds.h, warn=False), atol=1e-10)
    assert np.array_equal(ds.label, ds.exact)  # label = the exact integer where an exact route exists
    assert ds.features == "wavefunctions" and ds.target == "label"
    again = make_dataset(16, 8, ranges=(-1, 0, 1), seed=1, shard_size=5, dtype=torch.float64)
    assert torch.equal(ds.x, again.x)
    w = make_dataset(4, 8, seed=1, target="w_real", features="densities")
    assert w.y.dtype == torch.float64 and torch.all(w.x >= 0)
    a, b = ds.split(0.75, seed=0)
    assert len(a) == 12 and len(b) == 4


def test_exact_routes_for_disorder():
    arr = make_arrays(8, 8, ranges=(0, 1), disorder=0.5, seed=0, shard_size=8)
    assert np.all(arr["exact"] == NO_EXACT)  # open disordered: no exact route
    assert np.array_equal(arr["label"], np.rint(arr["w_real"]))  # ... so the label is the rounded real-space value
    ring = make_arrays(4, 8, ranges=(0, 1), disorder=0.3, boundary="periodic", seed=0, min_gap=0.3)
    assert np.array_equal(ring["exact"], ring["label"])  # twisted boundaries


def test_generate_and_read(tmp_path):
    root = _gen(tmp_path / "ds")
    meta = json.loads((root / "meta.json").read_text())
    assert meta["complete"] and meta["tntopo_version"] == tntopo.__version__ and len(meta["shards"]) == 3
    arrs = read_arrays(root)
    mem = make_arrays(**SMALL)
    assert meta["format_version"] == tntopo.data.FORMAT_VERSION and meta["kind"] == "chains"
    for k in ("h", "w_real", "label", "exact", "sector", "wavefunctions"):
        assert np.array_equal(arrs[k], mem[k]), k
    ds = TopoDataset(root)
    x, y = ds[13]
    assert x.shape == (16, 16) and x.dtype == torch.float32 and int(y) == arrs["label"][13]
    assert torch.equal(x, torch.as_tensor(arrs["wavefunctions"][13]).float())
    hd = TopoDataset(root, features="hamiltonian", target="w_real", dtype=torch.float64)  # not stored: computed
    torch.testing.assert_close(hd[-1][0], torch.as_tensor(hamiltonians(arrs["h"][-1])))
    assert float(hd[-1][1]) == arrs["w_real"][-1]
    mem_ds = ds.to_memory()
    assert torch.equal(mem_ds.x[13], x) and len(mem_ds) == 24
    loader = torch.utils.data.DataLoader(ds, batch_size=6, num_workers=2)
    xs = torch.cat([xb for xb, _ in loader])
    assert torch.equal(xs, mem_ds.x)


def test_deterministic_serial_vs_dask(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    serial = _gen(tmp_path / "serial", executor="serial")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
            distributed.Client(cl) as client:
        dask = _gen(tmp_path / "dask", executor=client.get_executor())
    a, b = read_arrays(serial), read_arrays(dask)
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k


def test_resume_skips_complete_shards(tmp_path):
    root = _gen(tmp_path / "ds", executor="serial")
    shard1 = root / "shard-00001.h5"
    before = {p.name: p.stat().st_mtime_ns for p in root.glob("shard-*.h5")}
    shard1.unlink()
    _gen(root, executor="serial")
    after = {p.name: p.stat().st_mtime_ns for p in root.glob("shard-*.h5")}
    assert after["shard-00000.h5"] == before["shard-00000.h5"] and after["shard-00002.h5"] == before["shard-00002.h5"]
    assert after["shard-00001.h5"] != before["shard-00001.h5"]
    assert np.array_equal(read_arrays(root)["w_real"], make_arrays(**SMALL)["w_real"])
    assert not list(root.glob("*.part"))
    with pytest.raises(ValueError, match="other parameters"):
        _gen(root, seed=4)
    _gen(root, seed=4, overwrite=True, executor="serial")


def test_corrupt_and_truncated_files(tmp_path):
    root = _gen(tmp_path / "ds", executor="serial")
    shard = root / "shard-00001.h5"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(CorruptDatasetError, match="corrupt or truncated"):
        TopoDataset(root)
    shard.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(CorruptDatasetError, match="shard-00001.h5"):
        read_arrays(root)
    with pytest.warns(RuntimeWarning, match="regenerating"):
        _gen(root, executor="serial")
    assert len(TopoDataset(root)) == 24
    (root / "meta.json").write_text("{ broken")
    with pytest.raises(CorruptDatasetError, match="meta.json"):
        TopoDataset(root)
    with pytest.raises(FileNotFoundError, match="not a tntopo dataset"):
        TopoDataset(tmp_path / "nothing")


def test_generate_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown feature"):
        _gen(tmp_path / "x", features=("spins",))
    with pytest.raises(ValueError, match="n_samples"):
        _gen(tmp_path / "x", n_samples=0)
    with pytest.raises(ValueError, match="disorder"):
        _gen(tmp_path / "x", disorder="strong")


def test_format_version_is_checked(tmp_path):
    root = _gen(tmp_path / "ds", executor="serial")
    meta = json.loads((root / "meta.json").read_text())
    for bad in (1, 99, None):
        (root / "meta.json").write_text(json.dumps({**meta, "format_version": bad}))
        with pytest.raises(UnknownFormatError, match="format version"):
            TopoDataset(root)
        with pytest.raises(UnknownFormatError, match="format version"):
            read_arrays(root)
    (root / "meta.json").write_text(json.dumps({**meta, "kind": "cubes"}))
    with pytest.raises(UnknownFormatError, match="unknown kind"):
        read_arrays(root)
    (root / "meta.json").write_text(json.dumps(meta))
    import h5py

    with h5py.File(root / "shard-00000.h5", "a") as f:  # a shard of another format version
        f.attrs["format_version"] = 99
    with pytest.raises(UnknownFormatError, match="shard-00000.h5"):
        TopoDataset(root)


def test_settings_checked_before_anything_is_written(tmp_path):
    cases = [dict(n_cells=2), dict(windings=[0, 1, 2]), dict(executor="proces"), dict(boundary="twisted")]
    for kw in cases:
        with pytest.raises(ValueError, match="too small|unreachable|executor|boundary"):
            _gen(tmp_path / "ds", **kw)
        assert not (tmp_path / "ds").exists()
    # a failed first run (no shard finished) does not block a corrected rerun
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "meta.json").write_text(json.dumps({"format_version": tntopo.data.FORMAT_VERSION, "kind": "chains", "spec": {"n_cells": 2},
                                                           "complete": False}))
    _gen(tmp_path / "ds", executor="serial")
    assert len(TopoDataset(tmp_path / "ds")) == 24


def test_eval_sets_roundtrip(tmp_path):
    from types import SimpleNamespace

    from tntopo.data import EvalSet, build_eval_sets, load_eval_sets, save_eval_sets

    cfg = SimpleNamespace(seed=0, n_cells=8, ranges=(0, 1), amplitude=1.0, min_gap=0.3, train_windings=(0, 1),
                          unseen_windings=(0,), n_train=4, n_val=2, n_test=4, n_size=2, size_factor=2, n_unseen=2)
    sets = build_eval_sets(cfg)
    assert set(sets) == {"train", "val", "test", "size", "unseen", "ablation"}
    assert sets["size"].n_cells == 16 and sets["train"].x.shape == (4, 16, 16)
    np.testing.assert_array_equal(sets["ablation"].label, sets["test"].label)
    # the fixed ablation: the same two mid-spectrum columns zeroed in every sample, whatever its winding
    zero_cols = (sets["ablation"].x == 0).all(axis=1)
    assert zero_cols.sum(axis=1).tolist() == [2] * 4 and zero_cols[:, 7:9].all()
    t = sets["test"]
    sets["extra"] = EvalSet(t.x[:2], t.label[:2], t.w_real[:2], 8, aux={"estimator": np.array([0, 1]),
                                                                        "family": np.array(["ring", "capped"])})
    path = tmp_path / "sets.h5"
    save_eval_sets(sets, path)
    back = load_eval_sets(path)
    assert back.keys() == sets.keys()
    np.testing.assert_array_equal(back["extra"].aux["estimator"], [0, 1])
    assert back["extra"].aux["family"].tolist() == ["ring", "capped"]
    for k, s in sets.items():
        b = back[k]
        assert b.n_cells == s.n_cells and np.array_equal(b.x, s.x) and np.array_equal(b.label, s.label)
        assert np.array_equal(b.w_real, s.w_real) and (b.removed is None) == (s.removed is None)
    ds = sets["train"].dataset()
    assert ds.features == "wavefunctions" and ds.target == "label" and len(ds) == 4
    import h5py

    with h5py.File(path, "a") as f:
        f.attrs["format_version"] = 7
    with pytest.raises(UnknownFormatError, match="format version 7"):
        load_eval_sets(path)
    path.write_bytes(b"junk")
    with pytest.raises(CorruptDatasetError):
        load_eval_sets(path)


def test_unreachable_or_negative_min_gap_is_refused_at_once(tmp_path):
    for gap, match in ((5.0, "unreachable"), (1.5, "unreachable"), (-1.0, ">= 0"), (float("nan"), ">= 0")):
        with pytest.raises(ValueError, match=match):
            _gen(tmp_path / "ds", min_gap=gap, executor="serial")
        assert not (tmp_path / "ds").exists()
        with pytest.raises(ValueError, match=match):
            tntopo.sample_chains(4, 8, min_gap=gap)
    # the bound is sqrt(sum |t_m|^2) < a sqrt(R) (a sqrt(2R) with complex amplitudes), so 1.5 is allowed there
    from tntopo.systems.chain import check_min_gap

    assert check_min_gap(1.5, 1.0, 2, True) == 1.5 and check_min_gap(0, 1.0, 1, False) == 0.0
    with pytest.raises(ValueError, match="unreachable"):
        check_min_gap(2.0, 1.0, 2, True)
    chains = tntopo.sample_chains(16, 8, min_gap=0.5, seed=1)  # reachable gaps are reached
    c, m_min = tntopo.systems.chain.laurent_coefficients(chains.hoppings, chains.ranges)
    assert np.all(tntopo.systems.chain.sampled_min_abs(c, m_min) >= 0.5)


def _fail_shard(spec, k):
    raise RuntimeError(f"shard {k} failed")


def test_a_failed_run_leaves_nothing(tmp_path):
    """A run that finishes no shard leaves no meta.json and removes the directories it made."""
    from tntopo.data.generate import _spec, write_dataset

    spec = _spec(8, 8, (0, 1), "balanced", None, 1.0, False, 0.05, "open", ("wavefunctions",), 4, 0, "float64")
    target = tmp_path / "a" / "b" / "ds"
    with pytest.raises(Exception, match="failed"):
        write_dataset(target, spec, _fail_shard, executor="serial", progress=False)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "mine").mkdir()  # a directory the user made is kept (empty)
    with pytest.raises(Exception, match="failed"):
        write_dataset(tmp_path / "mine", spec, _fail_shard, executor="serial", progress=False)
    assert (tmp_path / "mine").is_dir() and list((tmp_path / "mine").iterdir()) == []
