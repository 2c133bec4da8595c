"""The Chern study is a configuration of the study: same rows, seeds, keys and runner as the winding study."""
import importlib

import pytest

from tntopo.study import ChernStudyConfig, StudyConfig, get_config
from tntopo.study.config import CHERN_FULL, CHERN_QUICK, CHERN_TINY, FULL, TOPO_KINDS


def test_presets_and_protocol():
    assert get_config("quick", study="chern") is CHERN_QUICK
    assert get_config("tiny", study="chern") is CHERN_TINY
    assert get_config("full") is FULL and FULL.kind == "winding" and CHERN_FULL.kind == "chern"
    # the protocol the issue asks for: >= 20 seeds per TopoNet2D row, >= 8 per generic row, rates over >= 3 seeds
    for run in CHERN_FULL.run_names():
        spec, head, _ = CHERN_FULL.spec_of(run)
        assert CHERN_FULL.seeds_of(run) == (20 if spec.kind in TOPO_KINDS else 8)
    assert CHERN_FULL.lr_selection_seeds >= 3
    assert set(CHERN_FULL.heads) == {"regression", "classification"}
    assert CHERN_FULL.classes == (-3, -2, -1, 0, 1, 2, 3)
    assert set(CHERN_FULL.unseen_cherns) == {-3, -2, 2, 3} and CHERN_FULL.size_lengths == (16, 32)
    d = CHERN_FULL.to_dict()
    assert d["study"] == "chern" and FULL.to_dict()["study"] == "winding"


def test_cache_keys_depend_on_what_they_should():
    a, b = CHERN_QUICK, CHERN_QUICK.replace(n_train=999)
    assert a.data_key() != b.data_key() and a.run_key("cnn2d", 1e-3) != b.run_key("cnn2d", 1e-3)
    assert a.run_key("cnn2d", 1e-3) != a.run_key("cnn2d", 3e-3) != a.run_key("cnn2d+ce", 3e-3)
    assert a.data_key() == CHERN_QUICK.replace(epochs=3).data_key()
    assert a.data_key() != FULL.data_key()


@pytest.mark.parametrize("change, match", [
    ({"unseen_cherns": (1, 2)}, "overlap"),
    ({"size_lengths": (8,)}, "larger than n_cells"),
    ({"n_cells": 4}, "too small"),
    ({"max_chern": 2}, "max_chern"),
    ({"trainability_map": {"models": ("topo2d",)}}, "trainability_map is not available in the Chern study"),
    ({"landscape": {"models": ("topo2d",)}}, "landscape is not available in the Chern study"),
    ({"why": {"models": ()}}, "why\\['models'\\] is empty"),
    ({"why": {"models": ("topo",)}}, "unknown row"),
    ({"why": "yes"}, "why must be a mapping"),
    ({"seeds": 0}, "seeds must be >= 1"),
    ({"lr_grid": ()}, "lr_grid"),
])
def test_bad_settings_are_named(change, match):
    with pytest.raises(ValueError, match=match):
        ChernStudyConfig(**change)


@pytest.mark.parametrize("why, match", [
    ({"models": ("cnn2d",)}, "why: models\\['cnn2d'\\] has kind 'cnn2d'"),
    ({"factors": {"n_cells": (32,)}}, "why: factor 'n_cells' sides \\[32\\] must be smaller than data\\['long_side'\\]"),
    ({"factors": {"n_cells": (6,)}}, "why: factor 'n_cells' takes sample sides"),
    ({"data": {"n_train": -1}}, "why: data\\['n_train'\\] must be a positive integer"),
    ({"factors": {"train_windings": ("extrapolation",)}}, "valid factors"),
])
def test_why_values_are_checked_before_any_work(why, match):
    from tntopo.study.reproduce import _configure

    cfg = ChernStudyConfig(why=why)  # its shape is right: the values are checked by building the task list
    with pytest.raises((ValueError, TypeError), match=match):
        _configure(cfg, study="chern", seeds=None, models=None, device=None)


def test_why_settings_of_the_presets_and_their_task_lists():
    from tntopo.study.chern_why import why_arguments
    from tntopo.study.reproduce import _why_task_list

    with pytest.raises(TypeError, match="valid keys: models, seeds"):
        ChernStudyConfig(why={"ranges": (0, 1)})
    for cfg in (CHERN_FULL, CHERN_QUICK, CHERN_TINY):
        tasks = _why_task_list(cfg, {"topo2d_ti": 3e-3})
        g = tasks[0]["grid"]
        assert g["study"] == "chern" and g["n_cells"] == cfg.n_cells and g["seed"] == cfg.seed
        assert g["data"]["long_side"] == cfg.size_lengths[0] and g["data"]["min_gap"] == cfg.min_gap
        assert g["baseline"]["train_cherns"] == {"train": list(cfg.train_cherns), "unseen": list(cfg.unseen_cherns)}
        assert {t["lr"] for t in tasks if t["model"] == "topo2d_ti"} == {3e-3}
        assert {(t["factor"]) for t in tasks} == {"baseline", "objective", "n_cells", "freedom", "budget", "train_cherns"}
    assert CHERN_FULL.why["seeds"] >= 20 and set(CHERN_FULL.why["models"]) == {"topo2d", "topo2d_ti_plain", "topo2d_ti"}
    full = {t["factor"]: t for t in _why_task_list(CHERN_FULL, {})}
    assert full["n_cells"]["settings"]["n_cells"] == 12 and full["budget"]["epochs"] == 4 * CHERN_FULL.why["epochs"]
    # a run without the TopoNet2D rows has no causal test; the config says so without failing
    assert why_arguments(CHERN_QUICK.replace(models=["cnn2d"])) is None
    assert _why_task_list(CHERN_QUICK.replace(models=["cnn2d"]), {}) == []
    # the section cache key of the Chern study reads the Chern settings (and changes with them)
    from tntopo.study.reproduce import _section_key

    assert _section_key(CHERN_QUICK, "why") != _section_key(CHERN_QUICK.replace(min_gap=0.4), "why")
    assert _section_key(CHERN_QUICK, "why") != _section_key(CHERN_QUICK.replace(why={**CHERN_QUICK.why, "seeds": 3}), "why")


def test_unknown_study_and_models():
    with pytest.raises(ValueError, match="unknown study"):
        get_config("quick", study="hall")
    with pytest.raises(ValueError, match="unknown model"):
        CHERN_QUICK.replace(models=["topo"])
    assert CHERN_QUICK.replace(models=["cnn2d"]).run_names() == ("cnn2d", "cnn2d+ce")
    with pytest.raises(TypeError):
        ChernStudyConfig(ranges=(0, 1))  # a winding-study setting is not a Chern-study one
    assert isinstance(get_config(FULL), StudyConfig)


def test_cli_takes_the_study(capsys):
    from tntopo.cli import build_parser

    args = build_parser().parse_args(["reproduce", "--study", "chern", "--quick", "--out", "x"])
    assert args.study == "chern"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["reproduce", "--study", "hall", "--out", "x"])


@pytest.fixture(scope="module")
def chern_tiny_run(tmp_path_factory):
    from tntopo.study import reproduce

    out = tmp_path_factory.mktemp("chern-tiny")
    return out, reproduce(CHERN_TINY, out=out, executor="serial", progress=False)


@pytest.mark.slow
def test_the_chern_study_fills_the_schema_of_the_study(chern_tiny_run):
    import json

    out, res = chern_tiny_run
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["study"] == "chern" and on_disk["config"]["study"] == "chern" and not on_disk["failures"]
    assert set(on_disk["models"]) == set(CHERN_TINY.run_names())
    data = sorted(p.name for p in (out / "data").iterdir())  # the build's per-set checkpoints are gone
    assert f"sets-{CHERN_TINY.data_key()}.h5" in data and not [n for n in data if n.startswith("parts-")]
    for name, e in on_disk["models"].items():
        assert e["seeds"] == CHERN_TINY.seeds_of(name)
        lo, hi = e["learns_invariant_ci"]
        assert lo <= e["learns_invariant"] <= hi
        assert set(e["disorder_accuracy"]) == {str(CHERN_TINY.n_cells)}
        assert set(e["disorder_accuracy"][str(CHERN_TINY.n_cells)]) == {f"{W:g}" for W in CHERN_TINY.disorder_strengths}
        if e["size_generalization_accuracy"] == "n/a":  # one-size models (learned window, MLP)
            assert "input size is fixed" in e["size_generalization_note"] and "size" not in e["learns_invariant_criteria"]
        else:
            assert set(e["size_generalization_by_size"]) == {str(L) for L in CHERN_TINY.size_lengths}
        if e["head"] == "classification":
            assert "unseen" in e["learns_invariant_na"]
    # the exact row: TopoNet2D(init="exact") against tntopo.chern_number on every sample of every set
    ex = on_disk["exact_topo"]
    assert ex["max_abs_error"] < 1e-8 and set(ex["accuracy"]) == set(on_disk["data"])
    assert ex["n_checked"] == sum(d["n"] for d in on_disk["data"].values())  # every sample of every set
    # determined labels: the exact row is right on every sample whose own marker rounds to its label
    assert all(sc.get("accuracy_determined") in (None, 1.0) for sc in ex["scores"].values())
    dis = on_disk["disorder"]["by_length"][str(CHERN_TINY.n_cells)]
    assert set(dis["estimator_accuracy"]) == {f"{W:g}" for W in CHERN_TINY.disorder_strengths}
    assert on_disk["edge_proxy"]["counterfactual_by_family"] and on_disk["edge_proxy"]["control_by_family"]
    # the counterfactual sets are built so that the proxy disagrees with the label, the controls so that it agrees
    assert all(v == 0.0 for v in on_disk["edge_proxy"]["counterfactual_by_family"].values())
    assert all(v == 1.0 for v in on_disk["edge_proxy"]["control_by_family"].values())
    assert {f["id"] for f in on_disk["findings"]} >= {"exact_topo_precise", "topo_hard_to_train"}
    # the causal test: the 1D schema, the Chern study's cells and words
    why = on_disk["why"]
    assert set(why) == {"grid", "cells", "distance_predicts_ood", "answer"} and why["grid"]["study"] == "chern"
    n_models = len(CHERN_TINY.why["models"])
    assert {(c["model"], c["factor"]) for c in why["cells"]} == {
        (m, f) for m in CHERN_TINY.why["models"] for f in ("baseline", "objective", "n_cells", "freedom", "budget",
                                                           "train_cherns")}
    assert len(why["cells"]) == n_models * 7
    for c in why["cells"]:
        if c["model"] == "topo2d_ti" and c["setting"] == "odd":
            assert c["learns_invariant"] == "n/a"
            continue
        assert c["n_seeds"] == CHERN_TINY.why["seeds"] and c["complete"]
        assert c["lr"] == on_disk["models"][c["model"]]["lr"]  # the row's selected rate
        lo, hi = c["ci"]
        assert lo <= c["learns_invariant"] <= hi
    assert why["answer"]["summary"].startswith("topo2d: baseline learns_invariant")
    assert {f["id"] for f in on_disk["findings"]} >= {"why_causes"}
    md = (out / "results.md").read_text()
    assert "is a Chern number hard to learn?" in md and "Exact TopoNet2D" in md and "## Disorder" in md
    assert "## Why: one cause at a time" in md and "unseen Chern numbers and larger samples" in md
    assert "(`topo2d`) | n_cells | 8x8 | 1 |" in md and "Exact reference networks:" in md
    assert (out / "figures" / "trainability.png").exists()


@pytest.mark.slow
def test_a_rerun_of_the_chern_study_reuses_every_run(chern_tiny_run):
    from tntopo.study import reproduce

    out, res = chern_tiny_run
    again = reproduce(CHERN_TINY, out=out, executor="serial", progress=False, figures=False)
    n_runs = sum(CHERN_TINY.seeds_of(r) for r in CHERN_TINY.run_names()) + \
        sum(len(CHERN_TINY.lr_grid) - 1 for _ in CHERN_TINY.run_names()) * CHERN_TINY.lr_selection_seeds
    assert again["timings"]["runs_reused"] == n_runs
    strip = ("timings", "figures", "versions")
    assert {k: v for k, v in again.items() if k not in strip} == {k: v for k, v in res.items() if k not in strip}


def test_a_set_under_two_names_is_scored_once_even_after_a_reload(tmp_path, monkeypatch):
    """The Chern study's ``"size"`` is ``"size/L<first>"`` under a second name: a trained run predicts on
    it once, also when the sets come back from disk as two equal objects."""
    import numpy as np

    from tntopo.data.evalsets import EvalSet, load_eval_sets, save_eval_sets
    R = importlib.import_module("tntopo.study.reproduce")  # the package exports the function of that name

    rng = np.random.default_rng(0)
    a = EvalSet(x=rng.normal(size=(5, 3, 2)).astype(np.float32), label=np.arange(5), w_real=np.arange(5.0), n_cells=3)
    b = EvalSet(x=a.x + 1, label=a.label, w_real=a.w_real, n_cells=3)
    save_eval_sets({"size/L3": a, "size": a, "other": b}, tmp_path / "s.h5")
    sets = load_eval_sets(tmp_path / "s.h5")
    assert sets["size"] is not sets["size/L3"]
    assert R._same_set(sets["size"], sets["size/L3"]) and R._same_set(a, a)
    assert not R._same_set(sets["size"], sets["other"])
    c = EvalSet(x=a.x, label=a.label[::-1].copy(), w_real=a.w_real, n_cells=3)
    assert not R._same_set(a, c)  # same inputs, other labels: two sets


@pytest.mark.slow
def test_compare_with_sets_the_winding_results_beside(chern_tiny_run, tmp_path):
    """A rerun with ``compare_with=`` (every run reused) adds ``comparison``, the report's section and its figure."""
    import json
    import shutil

    from tntopo.study import reproduce

    out, res = chern_tiny_run
    work = tmp_path / "run"
    shutil.copytree(out, work)  # the module's run stays as it is
    rows = {m.replace("2d", "") if m.startswith(("topo2d", "mlp2d", "cnn2d")) else m: e for m, e in res["models"].items()}
    winding = {"schema": res["schema"], "config": {"study": "winding"}, "models": rows, "why": {"answer": {}}}
    path = tmp_path / "winding.json"
    path.write_text(json.dumps(winding))
    again = reproduce(CHERN_TINY, out=work, executor="serial", progress=False, compare_with=path)
    assert again["timings"]["runs_reused"] == sum(1 for _ in (work / "runs").rglob("*.json"))  # nothing retrained
    strip = ("timings", "figures", "versions", "comparison")
    assert {k: v for k, v in again.items() if k not in strip} == {k: v for k, v in res.items() if k not in strip}
    cmp = again["comparison"]
    assert {q["chern"]["row"] for q in cmp["pairs"]} == {m for m in res["models"] if m.split("+")[0] in
                                                          ("topo2d", "topo2d_ti", "topo2d_ti_plain", "cnn2d", "mlp2d")}
    for q in cmp["pairs"]:  # the same rows on both sides: never a verdict
        assert q["verdict"] == "inconclusive" and q["p"] == pytest.approx(1.0)
    md = (work / "results.md").read_text()
    assert "## 1D and 2D" in md and (work / "figures" / "comparison.png").is_file()
    assert json.loads((work / "results.json").read_text())["comparison"]["summary"] == cmp["summary"]
