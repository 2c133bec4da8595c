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

MODEL_KEYS = ("test_accuracy", "val_trainability", "learns_invariant", "seeds", "size_generalization_accuracy",
              "unseen_winding_accuracy", "counterfactual_accuracy", "disorder_accuracy", "edge_ablation_accuracy",
              "effective_parameters", "lr", "lr_selection", "head")
#: a smaller study for the executor comparison (spawned workers import torch: keep the task list short)
SMALL = TINY.replace(models=["topo", "topo_ti", "mlp", "shallow_svd"])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    return out, reproduce(TINY, out=out, executor="serial", progress=False)


def test_tiny_fills_every_key(tiny_run):
    out, res = tiny_run
    on_disk = json.loads((out / "results.json").read_text())
    assert not on_disk["failures"]
    assert set(on_disk["models"]) == set(TINY.run_names())
    assert {m + "+ce" for m in TINY.models} <= set(on_disk["models"])  # a classifier row for every model
    for name, e in on_disk["models"].items():
        for key in MODEL_KEYS:
            assert key in e, (name, key)
        assert e["seeds"] == TINY.seeds_of(name)
        lo, hi = e["learns_invariant_ci"]
        assert lo <= e["learns_invariant"] <= hi  # a Wilson interval around the fraction of seeds
        assert e["test_accuracy_ci"][0] <= e["test_accuracy"] <= e["test_accuracy_ci"][1]
        if e["head"] == "classification":  # a classifier never sees an unseen class: n/a, not a failure
            assert "unseen" not in e["learns_invariant_criteria"] and "unseen" in e["learns_invariant_na"]
        assert 0.0 <= e["test_accuracy"] <= 1.0 and 0.0 <= e["val_trainability"] <= 1.0
        assert 0.0 <= e["learns_invariant"] <= 1.0
        assert e["lr"] in TINY.lr_grid and set(e["lr_selection"]["val_accuracy"]) == {f"{g:g}" for g in TINY.lr_grid}
        assert set(e["disorder_accuracy"]) == {str(N) for N in TINY.disorder_lengths}
        for N, d in e["disorder_accuracy"].items():
            assert set(d) == {f"{W:g}" for W in TINY.disorder_strengths}
            assert all(v == "n/a" or 0.0 <= v <= 1.0 for v in d.values())
        # every model takes the training length
        assert all(v != "n/a" for v in e["disorder_accuracy"][str(TINY.n_cells)].values())
        assert e["edge_ablation_accuracy"] is not None and e["counterfactual_accuracy"] is not None
        if e["size_generalization_accuracy"] == "n/a":
            assert "input size is fixed" in e["size_generalization_note"]
            assert "size" not in e["learns_invariant_criteria"]
        else:
            assert "size" in e["learns_invariant_criteria"]
        eff = e["effective_parameters"]
        assert eff["raw"] == e["parameters"]
        assert eff["effective"] is None or 0 <= eff["effective"] <= eff["raw"]
    M = on_disk["models"]
    # size-agnostic models are tested on longer chains, fixed-size ones say n/a (never a failure)
    assert M["topo_ti"]["size_generalization_accuracy"] != "n/a" and M["cnn"]["size_generalization_accuracy"] != "n/a"
    assert M["mlp"]["size_generalization_accuracy"] == "n/a"
    assert M["mlp"]["disorder_accuracy"][str(TINY.disorder_lengths[-1])]["0"] == "n/a"
    assert M["topo_ti"]["disorder_accuracy"][str(TINY.disorder_lengths[-1])]["0"] != "n/a"
    # the odd TopoNet has fewer effective than raw parameters (the symmetries of its parametrization)
    assert M["topo_ti"]["effective_parameters"]["effective"] < M["topo_ti"]["parameters"]
    ex = on_disk["exact_topo"]
    assert ex["max_abs_error"] < 1e-6 and ex["median_abs_error"] <= ex["max_abs_error"]
    assert set(ex["convention"]) == {"max_abs_difference", "median_abs_difference", "n_grouped_zero_modes"}
    # the learning rate is chosen over the selection seeds, every rate scored
    sel = M["topo"]["lr_selection"]
    assert sel["seeds"] == TINY.lr_selection_seeds and all(len(v) == TINY.lr_selection_seeds
                                                           for v in sel["val_accuracy_per_seed"].values())
    assert all("near_degenerate_chains" in on_disk["data"][k] for k in ("train", "test", "unseen", "counterfactual"))
    # top-level sections
    dis = on_disk["disorder"]
    assert dis["n_cells"] == list(TINY.disorder_lengths) and max(dis["n_cells"]) >= 8 * min(dis["n_cells"])
    for N, row in dis["by_length"].items():
        for key in ("estimator_accuracy", "majority_accuracy", "open_invariant_accuracy"):
            assert set(row[key]) == {f"{W:g}" for W in TINY.disorder_strengths}
        assert all(v == 0.5 for v in row["majority_accuracy"].values())  # balanced by construction
        assert set(row["models"]) == set(M)
    ep = on_disk["edge_proxy"]
    assert set(ep["accuracy"]) >= {"test", "counterfactual", "ablation"}
    assert ep["leak_test"]["fixed_ablation"]["leaks"] is False
    assert ep["leak_test"]["in_gap_ablation_first_edition"]["leaks"] is True
    tm = on_disk["trainability_map"]
    assert tm["grid"]["n_cells"] == list(TINY.trainability_map["n_cells"])
    assert len(tm["cells"]) == (len(TINY.trainability_map["models"]) * len(TINY.trainability_map["n_cells"])
                                * len(TINY.trainability_map["inits"]))
    for c in tm["cells"]:  # on the main distribution, each with its interval and learning given fitting
        assert c["train_windings"] == list(TINY.train_windings) and c["model"] in TINY.trainability_map["models"]
        assert "learns_invariant_ci" in c and "learns_given_fits" in c and "undetermined_flag" in c
    why = on_disk["why"]
    assert why["cells"] and all({"factor", "setting", "model", "learns_invariant", "ci", "fits"} <= set(c)
                                for c in why["cells"])
    assert set(on_disk["landscape"]) == set(TINY.landscape["models"])
    land = on_disk["landscape"]["topo_ti"]
    assert len(land["seeds"]) == TINY.landscape["seeds"] and "hessian_exact" in land
    pr = on_disk["pruning"]
    assert pr["ranks"] == list(TINY.pruning_ranks) and len(pr["singular_values"]) == pr["full_rank"]
    assert set(pr["accuracy"]) == {str(r) for r in TINY.pruning_ranks}
    assert on_disk["config"]["name"] == "tiny" and on_disk["versions"]["torch"]
    assert on_disk["timings"]["total_s"] > 0
    ids = {f["id"] for f in on_disk["findings"]}
    assert ids >= {"exact_topo_precise", "topo_hard_to_train", "topo_sensitive_to_init", "generic_high_accuracy",
                   "few_singular_values", "generic_use_edge_proxy", "edge_ablation_hurts_generic",
                   "disorder_erodes_generic", "structured_variant_goal"}
    assert all(f["holds"] in ("holds", "fails", "inconclusive", "depends", None) for f in on_disk["findings"])
    assert all(f["refuted_if"] for f in on_disk["findings"])
    md = (out / "results.md").read_text()
    assert "| TopoNet, structured (`topo_ti`) |" in md and "| MLP (classifier) (`mlp+ce`) |" in md  # named as in the figures
    assert "Findings" in md and "Trainability map" in md
    # the reference rows are measured, not typed in
    ref_row = next(line for line in md.splitlines() if line.startswith("| exact TopoNet (reference"))
    assert f"| {ex['accuracy']['test']:.3f} |" in ref_row and f"| {ex['accuracy']['counterfactual']:.3f} |" in ref_row
    proxy_row = next(line for line in md.splitlines() if line.startswith("| edge proxy"))
    assert f"| {ep['accuracy']['counterfactual']:.3f} |" in proxy_row
    for name, rel in on_disk["figures"].items():
        assert (out / rel).stat().st_size > 1000, name


def _numbers(res):
    """results without timings (wall-clock seconds differ between runs)."""
    res = copy.deepcopy(res)
    res.pop("timings")
    res.pop("figures", None)
    for e in res["models"].values():
        e.pop("train_seconds")

    def strip(x):  # per-seed wall-clock seconds of the trainability map
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k != "seconds"}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x

    return strip(json.loads(json.dumps(res)))


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
    lr = first["models"]["mlp"]["lr"]
    (out / "runs" / "mlp" / f"seed001-lr{lr:g}.json").unlink()
    calls = []
    real = reproduce_mod.run_training

    def spy(cfg, name, k, lr, path=None):
        calls.append((name, k))
        return real(cfg, name, k, lr, path)

    monkeypatch.setattr(reproduce_mod, "run_training", spy)
    (out / "runs" / "cnn" / "seed000-lr0.01.json").write_text('{"truncated": ')  # a corrupt cache file is redone
    again = reproduce(TINY, out=out, executor="serial", progress=False, figures=False)
    assert sorted(calls) == [("cnn", 0), ("mlp", 1)]
    assert _numbers(again)["models"] == _numbers(first)["models"]
    # other settings -> other cache key: nothing is reused (2 learning rates for seed 0, then seed 1)
    calls.clear()
    reproduce(TINY.replace(epochs=1, models=["mlp"], heads=("regression",)), out=out, executor="serial",
              progress=False, figures=False)
    assert sorted(calls) == [("mlp", 0), ("mlp", 0), ("mlp", 1)]


def test_rerun_check_recomputes_the_findings_on_two_halves_of_the_seeds(tiny_run, monkeypatch):
    import tntopo.study.report as report_mod

    out, first = tiny_run
    rc = first["rerun_check"]
    assert [f["id"] for f in rc["findings"]] == [f["id"] for f in first["findings"]]
    assert [f["verdict"] for f in rc["findings"]] == [f["holds"] for f in first["findings"]]
    assert rc["halves"] == ["even", "odd"] and all(len(f["halves"]) == 2 for f in rc["findings"])
    seen = []
    real = report_mod.findings

    def spy(results):
        seen.append(({m: e["seeds"] for m, e in results["models"].items()},
                     {(c["model"], c["factor"], c["setting"]): c["n_seeds"] for c in results["why"]["cells"]
                      if c.get("n_seeds")}))
        return real(results)

    monkeypatch.setattr(report_mod, "findings", spy)
    again = reproduce(TINY, out=out, executor="serial", progress=False, figures=False)  # from the cache
    assert again["rerun_check"] == rc
    (rows, cells), (rows0, cells0), (rows1, cells1) = seen  # all seeds, then the even and the odd indices
    assert rows == {m: TINY.seeds_of(m) for m in TINY.run_names()} and cells
    for m, n in rows.items():
        assert (rows0[m], rows1[m]) == ((n + 1) // 2, n // 2)
    for key, n in cells.items():
        assert cells0.get(key, 0) + cells1.get(key, 0) == n


def test_rerun_check_counts_a_flip_only_between_holds_and_fails():
    def fs(*vs):
        return [{"id": f"c{i}", "holds": v} for i, v in enumerate(vs)]

    rc = reproduce_mod.rerun_check(fs("holds", "holds", "fails", "inconclusive", "holds", None),
                                   [fs("holds", "inconclusive", "fails", "holds", "fails", None),
                                    fs("holds", "holds", "inconclusive", "fails", "holds", None)])
    assert [f["flip"] for f in rc["findings"]] == [False, False, False, True, True, False]
    assert rc["flips"] == ["c3", "c4"] and rc["stable"] == 1  # only c0 holds everywhere
    assert rc["findings"][3]["halves"] == ["holds", "fails"]


def test_cli_reproduce_reuses_cache(tiny_run, capsys):
    from tntopo.cli import main

    out, _ = tiny_run
    assert main(["reproduce", "--preset", "tiny", "--out", str(out), "--executor", "serial", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "results.json" in text and "topo_ti" in text


def _fake_results(learns, generic_fooled, generic_drop, generic_gap_growth, n=20):
    """Results whose every claim can be set either way (the shape reproduce writes), ``n`` seeds per row."""
    from tntopo.study.stats import bootstrap_interval, wilson_interval

    def model(base, li, test=0.99, cf=0.95, ctl=0.95, abl=None, gap=0.0, head="regression"):
        k = int(round(li * n))
        per = {"test_accuracy": [test] * n, "counterfactual_accuracy": [cf] * n,
               "counterfactual_control_accuracy": [ctl] * n,
               "edge_ablation_accuracy": [abl if abl is not None else test] * n,
               "disorder_accuracy": {"16": {"0": [0.95] * n, "2.5": [0.95 - gap] * n}},
               "learns_invariant": [True] * k + [False] * (n - k)}
        return {"base_model": base, "head": head, "learns_invariant": k / n, "learns_invariant_ci": wilson_interval(k, n),
                "seeds": n, "val_trainability": 1.0, "test_accuracy": test,
                "test_accuracy_ci": bootstrap_interval(per["test_accuracy"]), "size_generalization_accuracy": "n/a",
                "unseen_winding_accuracy": 0.0, "counterfactual_accuracy": cf, "counterfactual_proxy_agreement": 1 - cf,
                "counterfactual_neither": 0.0, "edge_ablation_accuracy": per["edge_ablation_accuracy"][0],
                "disorder_accuracy": {"16": {"0": 0.95, "2.5": 0.95 - gap}}, "per_seed": per,
                "learns_invariant_criteria": ["counterfactual", "unseen"]}
    M = {"topo": model("topo", learns), "topo+ce": model("topo", learns, head="classification")}
    for g in ("mlp", "cnn", "symmetric", "shallow_svd"):
        for head, suffix in (("regression", ""), ("classification", "+ce")):
            M[g + suffix] = model(g, 0.0, cf=0.1 if generic_fooled else 0.95, ctl=0.95, abl=0.99 - generic_drop,
                                  gap=generic_gap_growth, head=head)
    dis = {"n_cells": [16], "by_length": {"16": {"estimator_accuracy": {"0": 0.95, "2.5": 0.95},
                                                 "models": {m: e["disorder_accuracy"]["16"] for m, e in M.items()}}}}

    def cell(init, li):
        k = int(round(li * n))
        return {"model": "topo", "n_cells": 16, "train_windings": [-1, 0, 1], "init": init, "learns_invariant": k / n,
                "learns_invariant_ci": wilson_interval(k, n), "fits": 1.0, "learns_given_fits": k / n}
    return {"models": M, "config": {"n_cells": 16},
            "exact_topo": {"max_abs_error": 1e-9, "accuracy": {"test": 1.0, "ablation": 1.0, "counterfactual": 1.0}},
            "disorder": dis, "edge_proxy": {"accuracy": {"test": 0.97, "counterfactual": 0.0}},
            "trainability_map": {"cells": [cell("random(scale=1)", learns), cell("exact(eps=0.01)", 1.0)]},
            "pruning": None}


@pytest.mark.parametrize("flag, expect", [(True, "holds"), (False, "fails")])
def test_findings_follow_the_data_either_way(flag, expect):
    res = _fake_results(learns=0.05 if flag else 1.0, generic_fooled=flag, generic_drop=0.3 if flag else 0.0,
                        generic_gap_growth=0.3 if flag else 0.0)
    f = {x["id"]: x["holds"] for x in findings(res)}
    assert f["topo_hard_to_train"] == expect
    assert f["topo_sensitive_to_init"] == expect
    assert f["generic_use_edge_proxy"] == expect
    assert f["edge_ablation_hurts_generic"] == expect
    assert f["disorder_erodes_generic"] == expect
    assert f["exact_topo_precise"] == "holds"
    assert f["few_singular_values"] is None
    # the goal: learns_invariant >= 0.8 and within 0.05 of the estimator at every length, with intervals
    assert f["structured_variant_goal"] == ("fails" if flag else "holds")


def test_findings_are_inconclusive_without_power():
    # 4 seeds: 0/4 cannot show "fewer than half" ... with one success the interval straddles 0.5
    res = _fake_results(learns=0.25, generic_fooled=True, generic_drop=0.3, generic_gap_growth=0.3, n=4)
    f = {x["id"]: x["holds"] for x in findings(res)}
    assert f["topo_hard_to_train"] == "inconclusive"
    res = _fake_results(learns=0.05, generic_fooled=True, generic_drop=0.3, generic_gap_growth=0.3, n=20)
    assert {x["id"]: x["holds"] for x in findings(res)}["topo_hard_to_train"] == "holds"


def test_proxy_reliance_is_measured_against_matched_controls():
    # generic networks fail counterfactual chains AND their matched controls: out-of-distribution loss, not a proxy
    res = _fake_results(0.05, True, 0.3, 0.3)
    for m, e in res["models"].items():
        if e["base_model"] != "topo":
            e["per_seed"]["counterfactual_control_accuracy"] = [0.15] * 20
    f = {x["id"]: x for x in findings(res)}
    assert f["generic_use_edge_proxy"]["holds"] == "fails"


def test_sensitivity_to_init_depends_on_the_regime():
    res = _fake_results(0.05, True, 0.3, 0.3)
    from tntopo.study.stats import wilson_interval

    res["trainability_map"]["cells"] += [
        {"model": "topo", "n_cells": 64, "train_windings": [-1, 0, 1], "init": "random(scale=1)", "learns_invariant": 0.9,
         "learns_invariant_ci": wilson_interval(18, 20)},
        {"model": "topo", "n_cells": 64, "train_windings": [-1, 0, 1], "init": "exact(eps=0.01)", "learns_invariant": 1.0,
         "learns_invariant_ci": wilson_interval(20, 20)}]
    f = {x["id"]: x for x in findings(res)}
    assert f["topo_sensitive_to_init"]["holds"] == "depends"
    assert "topo N=16" in f["topo_sensitive_to_init"]["evidence"] and "topo N=64" in f["topo_sensitive_to_init"]["evidence"]


def test_findings_not_measured_when_no_generic_network_learned():
    res = _fake_results(0.5, True, 0.3, 0.3)
    for m, e in res["models"].items():
        if e["base_model"] != "topo":
            e["test_accuracy"] = 0.5
            e["per_seed"]["test_accuracy"] = [0.5] * 20
            e["test_accuracy_ci"] = (0.5, 0.5)
    f = {x["id"]: x["holds"] for x in findings(res)}
    assert f["disorder_erodes_generic"] is None and f["edge_ablation_hurts_generic"] is None
    assert f["generic_use_edge_proxy"] is None
    assert f["generic_high_accuracy"] == "fails"


def test_config_presets_and_errors():
    assert get_config("quick").seeds < get_config("full").seeds
    full = get_config("full")
    assert full.seeds >= 20 and full.generic_seeds >= 8 and full.lr_selection_seeds >= 3  # the power
    assert full.why["seeds"] >= 20
    assert all(full.seeds_of(r) >= 20 for r in full.run_names() if r.split("+")[0].startswith("topo"))
    assert set(DEFAULT_MODELS) >= {"topo", "topo_ti", "mlp", "cnn", "symmetric", "shallow_svd"}
    with pytest.raises(ValueError, match="unknown study preset"):
        get_config("huge")
    with pytest.raises(ValueError, match="overlap"):
        StudyConfig(unseen_windings=(1, 2))
    with pytest.raises(ValueError, match="generic_seeds"):
        StudyConfig(generic_seeds=0)
    with pytest.raises(ValueError, match="unknown model"):
        TINY.replace(models=["nope"])
    assert TINY.run_key("mlp", 1e-3) != TINY.replace(epochs=3).run_key("mlp", 1e-3)
    assert TINY.run_key("mlp", 1e-3) == TINY.replace(seeds=5).run_key("mlp", 1e-3)
    assert TINY.run_key("mlp", 1e-3) != TINY.run_key("mlp", 1e-2) != TINY.run_key("mlp+ce", 1e-2)
    assert TINY.spec_of("mlp+ce")[1:] == ("classification", "mlp")
    with pytest.raises(ValueError, match="must contain n_cells"):
        TINY.replace(disorder_lengths=(16, 64))
    with pytest.raises(ValueError, match="unknown heads"):
        TINY.replace(heads=("ranking",))
    with pytest.raises(ValueError, match="lr_grid"):
        TINY.replace(lr_grid=())
    # every preset keeps the clean end of its disorder family inside its training distribution
    from tntopo.study.disorder import DisorderFamily, check_clean_end

    for cfg in (get_config("full"), get_config("quick"), TINY):
        check_clean_end(DisorderFamily(ratios=cfg.disorder_ratios, delta_range=cfg.disorder_delta),
                        min_gap=cfg.min_gap, amplitude=cfg.amplitude)
        assert max(cfg.disorder_lengths) >= 8 * min(cfg.disorder_lengths) and len(cfg.disorder_lengths) >= 3


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
        # the invariant of the input's own flat band (windings -1, 2 at N=16 are not all quantized: equal all the same)
        from tntopo.data.features import input_winding

        np.testing.assert_allclose(W, input_winding(x.numpy()), atol=1e-8)
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


def test_reproduce_checks_the_device_before_any_work(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here")
    with pytest.raises(ValueError, match="cuda"):
        reproduce(TINY, out=tmp_path / "r", executor="serial", progress=False, device="cuda")
    assert not (tmp_path / "r" / "runs").exists()
