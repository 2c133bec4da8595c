"""The study (`tntopo reproduce`): schema, executor independence, resume, findings either way."""
import copy
import importlib
import json
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from tntopo.study import reproduce
from tntopo.study.config import TINY
reproduce_mod = importlib.import_module("tntopo.study.reproduce")
from tntopo.study.config import DEFAULT_MODELS, StudyConfig, get_config
from tntopo.study.report import findings

MODEL_KEYS = ("test_accuracy", "trainability", "seeds", "size_generalization_accuracy", "unseen_winding_accuracy",
              "disorder_accuracy", "edge_ablation_accuracy")
#: a smaller study for the executor comparison (spawned workers import torch: keep the task list short)
SMALL = TINY.replace(models=["topo", "topo_ti", "mlp", "shallow_svd"])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    return out, reproduce(TINY, out=out, executor="serial", progress=False)


def test_tiny_fills_every_key(tiny_run):
    out, res = tiny_run
    on_disk = json.loads((out / "results.json").read_text())
    assert set(on_disk["models"]) == set(TINY.models)
    for required in ("topo", "mlp", "cnn", "symmetric", "shallow_svd", "topo_ti"):
        assert required in on_disk["models"]
    for name, e in on_disk["models"].items():
        for key in MODEL_KEYS:
            assert key in e, (name, key)
        assert e["seeds"] == TINY.seeds
        assert 0.0 <= e["test_accuracy"] <= 1.0 and 0.0 <= e["trainability"] <= 1.0
        assert set(e["disorder_accuracy"]) == {f"{W:g}" for W in TINY.disorder_strengths}
        assert all(v is not None for v in e["disorder_accuracy"].values())
        assert e["edge_ablation_accuracy"] is not None and e["unseen_winding_accuracy"] is not None
        if e["size_generalization_accuracy"] is None:
            assert "input size is fixed" in e["size_generalization_note"]
    # size-agnostic models are tested on longer chains, fixed-size ones say why not
    assert on_disk["models"]["topo_ti"]["size_generalization_accuracy"] is not None
    assert on_disk["models"]["cnn"]["size_generalization_accuracy"] is not None
    assert on_disk["models"]["mlp"]["size_generalization_accuracy"] is None
    assert on_disk["exact_topo"]["max_abs_error"] < 1e-6
    # the exact reference row is measured like every model's, not typed in: its agreement values are in the json
    ex = on_disk["exact_topo"]
    assert set(ex["agreement"]) == set(ex["accuracy"]) == set(ex["agreement_quantized"])
    assert all(0.0 <= v <= 1.0 for v in ex["agreement"].values())
    pr = on_disk["pruning"]
    assert pr["ranks"] == list(TINY.pruning_ranks) and len(pr["singular_values"]) == pr["full_rank"]
    assert set(pr["accuracy"]) == {str(r) for r in TINY.pruning_ranks}
    assert on_disk["config"]["name"] == "tiny" and on_disk["versions"]["torch"]
    assert on_disk["timings"]["total_s"] > 0
    assert {f["id"] for f in on_disk["findings"]} >= {
        "exact_topo_precise", "topo_harder_to_train", "generic_high_accuracy", "few_singular_values",
        "disorder_hurts_generic", "edge_ablation_hurts_generic", "structured_variant_goal"}
    md = (out / "results.md").read_text()
    assert "| `topo_ti` |" in md and "Findings" in md
    from tntopo.study.report import _fmt, _tai

    def tai(d):
        return _fmt(_tai({k.split("/")[1]: v for k, v in d.items() if k.startswith("disorder/")}))

    ref_row = next(line for line in md.splitlines() if line.startswith("| exact TopoNet (reference)"))
    assert f"| {tai(ex['agreement'])} / {tai(ex['agreement_quantized'])} |" in ref_row
    for name, rel in on_disk["figures"].items():
        assert (out / rel).stat().st_size > 1000, name


def _numbers(res):
    """results without timings (wall-clock seconds differ between runs)."""
    res = copy.deepcopy(res)
    res.pop("timings")
    res.pop("figures", None)
    for e in res["models"].values():
        e.pop("train_seconds")
    return json.loads(json.dumps(res))


def test_serial_and_process_pool_give_identical_results(tmp_path):
    a = reproduce(SMALL, out=tmp_path / "serial", executor="serial", progress=False, figures=False)
    import multiprocessing as mp
    import shutil

    shutil.copytree(tmp_path / "serial" / "data", tmp_path / "pool" / "data")  # same data, built once

    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as ex:
        b = reproduce(SMALL, out=tmp_path / "pool", executor=ex, progress=False, figures=False)
    assert _numbers(a) == _numbers(b)


def test_resume_skips_finished_runs(tiny_run, monkeypatch):
    out, first = tiny_run
    (out / "runs" / "mlp" / "seed001.json").unlink()
    calls = []
    real = reproduce_mod.run_training

    def spy(cfg, name, k, path=None):
        calls.append((name, k))
        return real(cfg, name, k, path)

    monkeypatch.setattr(reproduce_mod, "run_training", spy)
    (out / "runs" / "cnn" / "seed000.json").write_text('{"truncated": ')  # a corrupt cache file is redone
    again = reproduce(TINY, out=out, executor="serial", progress=False, figures=False)
    assert sorted(calls) == [("cnn", 0), ("mlp", 1)]
    assert _numbers(again)["models"] == _numbers(first)["models"]
    # other settings -> other cache key: nothing is reused
    calls.clear()
    reproduce(TINY.replace(epochs=1, models=["mlp"]), out=out, executor="serial", progress=False, figures=False)
    assert sorted(calls) == [("mlp", 0), ("mlp", 1)]


def test_cli_reproduce_reuses_cache(tiny_run, capsys):
    from tntopo.cli import main

    out, _ = tiny_run
    assert main(["reproduce", "--preset", "tiny", "--out", str(out), "--executor", "serial", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "results.json" in text and "topo_ti" in text


def _fake_results(topo_train, generic_train, ablation_drop):
    def model(tr, test=0.99, abl=None, agree=0.99):
        return {"trainability": tr, "test_accuracy": test, "size_generalization_accuracy": None,
                "unseen_winding_accuracy": 0.0, "disorder_accuracy": {"0": 1.0, "2.5": 0.6},
                "disorder_agreement": {"0": 1.0, "2.5": agree}, "disorder_agreement_quantized": {"0": 1.0, "2.5": agree},
                "edge_ablation_accuracy": abl if abl is not None else test}
    M = {"topo": model(topo_train)}
    for g in ("mlp", "cnn", "symmetric", "shallow_svd"):
        M[g] = model(generic_train, abl=0.99 - ablation_drop, agree=0.99 - ablation_drop)
    return {"models": M, "exact_topo": {"max_abs_error": 1e-9, "accuracy": {"ablation": 1.0, "disorder/2.5": 0.6}},
            "pruning": None}


@pytest.mark.parametrize("topo_train, generic_train, drop, expect", [(0.2, 1.0, 0.3, True), (1.0, 0.5, 0.0, False)])
def test_findings_follow_the_data_either_way(topo_train, generic_train, drop, expect):
    f = {x["id"]: x["holds"] for x in findings(_fake_results(topo_train, generic_train, drop))}
    assert f["topo_harder_to_train"] is expect
    assert f["edge_ablation_hurts_generic"] is expect
    assert f["disorder_hurts_generic"] is expect
    assert f["exact_topo_precise"] is True
    assert f["few_singular_values"] is None
    assert f["structured_variant_goal"] is False  # no size generalization in the fake data


def test_findings_not_measured_when_no_generic_network_learned():
    res = _fake_results(0.5, 0.5, 0.0)
    for g in ("mlp", "cnn", "symmetric", "shallow_svd"):
        res["models"][g]["test_accuracy"] = 0.5
    f = {x["id"]: x["holds"] for x in findings(res)}
    assert f["disorder_hurts_generic"] is None and f["edge_ablation_hurts_generic"] is None
    assert f["generic_high_accuracy"] is False


def test_config_presets_and_errors():
    assert get_config("quick").seeds < get_config("full").seeds
    assert get_config("full").seeds >= 20
    assert set(DEFAULT_MODELS) >= {"topo", "topo_ti", "mlp", "cnn", "symmetric", "shallow_svd"}
    with pytest.raises(ValueError, match="unknown study preset"):
        get_config("huge")
    with pytest.raises(ValueError, match="overlap"):
        StudyConfig(unseen_windings=(1, 2))
    with pytest.raises(ValueError, match="unknown model"):
        TINY.replace(models=["nope"])
    assert TINY.run_key("mlp") != TINY.replace(epochs=3).run_key("mlp")
    assert TINY.run_key("mlp") == TINY.replace(seeds=5).run_key("mlp")


def test_odd_toponet_keeps_the_exact_weights():
    import torch

    import tntopo
    from tntopo.data import wavefunctions
    from tntopo.nn import OddTopoNet  # moved from tntopo.study.models (issue 10)

    h = tntopo.sample_chains(6, 16, ranges=(-1, 0, 1, 2), windings=(-1, 0, 1, 2), min_gap=0.5, seed=1).hopping_blocks()
    x = torch.as_tensor(wavefunctions(h))
    for kw in ({}, {"kernel": "translation_invariant", "state_weights": "rank", "window": "fixed"}):
        net = OddTopoNet(16, init="exact", dtype=torch.float64, **kw)
        W = net(x).detach().numpy()
        with warnings.catch_warnings():  # windings -1, 2 at N=16 are not all quantized: equal all the same
            warnings.simplefilter("ignore", tntopo.GaplessWarning)
            ref = tntopo.winding_number(h, method="dense")
        np.testing.assert_allclose(W, ref, atol=1e-8)
    net = OddTopoNet(16, init="random", seed=3, kernel="translation_invariant", state_weights="rank", window="fixed")
    s, X, _ = net.weights()
    assert torch.allclose(s, -s.flip(0)) and torch.allclose(X, -X.T)
    # the translation-invariant variant applies to any length
    h64 = tntopo.sample_chains(2, 64, ranges=(0, 1), seed=0).hopping_blocks()
    assert net(torch.as_tensor(wavefunctions(h64), dtype=torch.float32)).shape == (2,)


def test_cli_bench_lists_and_rejects_unknown(capsys):
    from tntopo.cli import main

    assert main(["bench", "--list"]) == 0
    assert "bench_learning" in capsys.readouterr().out
    assert main(["bench", "no_such_benchmark"]) == 2
    assert "tntopo bench --list" in capsys.readouterr().err
