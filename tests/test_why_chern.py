"""The causal test of why in the Chern study (tntopo.study.chern_why on the machinery of tntopo.study.why)."""
import json
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tntopo.study import chern_why, why  # noqa: E402
from tntopo.study.stats import wilson_interval  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

SETS_KW = dict(seed=5, n_train=12, n_val=6, n_unseen=6, n_long=2, n_counterfactual=4, long_side=10, min_gap=0.5,
               stencil=2, oversample=2)
TINY_DATA = {"n_train": 16, "n_val": 8, "n_unseen": 6, "n_long": 2, "n_counterfactual": 4, "long_side": 10}


@pytest.fixture(scope="module")
def sets6():
    """The data of one 6 x 6 cell (larger samples 10 x 10)."""
    return chern_why.chern_why_sets(6, (-1, 0, 1), (-3, -2, 2, 3), **SETS_KW)


def _markers(x, boundary="open"):
    """The bulk marker of each layout's own Hamiltonian, by tntopo.chern_number (dense, no network)."""
    from tntopo import Lattice2D, chern_number
    from tntopo.systems import layout_hamiltonian

    L = x.shape[-1]
    geo = Lattice2D(np.zeros((2, 2)), {}, (L, L), boundary)
    H = layout_hamiltonian(np.asarray(x, np.float64), 2, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.atleast_1d(chern_number(H, "marker", lattice=geo, warn=False))


# ------------------------------------------------------------------------------ the data of a cell
def test_sets_sizes_sectors_and_the_determined_criteria(sets6):
    s = sets6
    assert s["train"][0].shape == (12, 200, 6, 6) and s["train"][0].dtype == np.float32
    assert s["val"][0].shape == (6, 200, 6, 6) and s["train"][1].dtype == np.int64
    # training data balanced over the training Chern numbers, every sample kept (as the main study trains)
    assert sorted(np.unique(s["train"][1], return_counts=True)[1].tolist()) == [4, 4, 4]
    assert set(s["train"][1].tolist()) == {-1, 0, 1}
    # w_real: the bulk marker of each input's own Hamiltonian (an independent route: tntopo.chern_number)
    np.testing.assert_allclose(s["w_real"]["train"], _markers(s["train"][0]), atol=1e-10)
    assert set(s["unseen"][1].tolist()) <= {-3, -2, 2, 3} and 0 < len(s["unseen"][1]) <= 6
    assert s["long"][0].shape[-1] == 10 and set(s["long"][1].tolist()) <= {-1, 0, 1}
    assert s["sizes"] == {"train": 6, "val": 6, "unseen": 6, "long": 10, "counterfactual": 6}
    # criterion sets: only samples whose own marker determines the label (within 0.25)
    for name in ("unseen", "long"):
        x, y = s[name]
        assert np.all(np.abs(_markers(x) - y) < 0.25), name
    assert 0 < s["determined"]["unseen"] < 1  # at 6 x 6 most |C| >= 2 samples are not determined
    assert s["counterfactual_families"] == ["torus", "decorated"]
    assert set(s["determined"]) == {"unseen", "long", "counterfactual/torus", "counterfactual/decorated"}
    x, y = s["counterfactual"]
    assert len(y) == 4 and set(y[:2].tolist()) <= {-1, 1} and set(y[2:].tolist()) == {0}
    np.testing.assert_array_less(np.abs(_markers(x[:2], "periodic") - y[:2]), 0.25)  # torus: no edge
    np.testing.assert_array_less(np.abs(_markers(x[2:]) - y[2:]), 0.25)


def test_sets_are_a_pure_function_of_the_seed(sets6):
    chern_why._CACHE.clear()  # rebuilt, not read from the per-process cache
    again = chern_why.chern_why_sets(6, (-1, 0, 1), (-3, -2, 2, 3), **SETS_KW)
    for k in ("train", "val", "unseen", "long", "counterfactual"):
        assert again[k][0].tobytes() == sets6[k][0].tobytes() and again[k][1].tobytes() == sets6[k][1].tobytes()
    other = chern_why.chern_why_sets(6, (-1, 0, 1), (-3, -2, 2, 3), **{**SETS_KW, "seed": 6, "n_long": 1,
                                                                       "n_counterfactual": 2, "n_unseen": 1})
    assert other["train"][0].tobytes() != sets6["train"][0].tobytes()


def test_determined_rounds_stop_when_enough_are_kept():
    class Drawn:
        def __init__(self, r):
            self.x = np.arange(4, dtype=np.float32).reshape(4, 1) + 10 * r
            self.label = np.full(4, r)
            self.aux = {"quantized": np.array([True, False, r > 0, False])}

    calls = []

    def draw(r):
        calls.append(r)
        return Drawn(r)

    x, y, frac, drawn = chern_why._determined(draw, 3, 5)
    assert calls == [0, 1] and drawn == 8 and frac == 3 / 8  # round 0 keeps 1, round 1 keeps 2: enough
    assert x[:, 0].tolist() == [0.0, 10.0, 12.0] and y.tolist() == [0, 1, 1]
    calls.clear()
    x, y, frac, drawn = chern_why._determined(draw, 10, 2)  # not enough within the rounds: what was kept
    assert calls == [0, 1] and len(y) == 3


# ------------------------------------------------------------------------------ the grid
def test_every_cell_changes_exactly_one_factor_and_odd_is_na_for_topo2d_ti():
    tasks = chern_why.chern_why_tasks(seeds=20, lr={"topo2d": 3e-3})
    g = tasks[0]["grid"]
    assert g["study"] == "chern" and g["data"]["long_side"] == 16
    base = g["baseline"]
    assert base == {"objective": "label", "n_cells": 8, "freedom": "full", "budget": 1,
                    "train_cherns": {"train": [-1, 0, 1], "unseen": [-3, -2, 2, 3]}}
    seen = set()
    for t in tasks:
        seen.add((t["factor"], t["setting"]))
        diff = [k for k in base if t["settings"][k] != base[k]]
        assert diff == ([] if t["factor"] == "baseline" else [t["factor"]]), (t["factor"], t["setting"], diff)
        assert t["lr"] == (3e-3 if t["model"] == "topo2d" else 1e-2)
        assert t["epochs"] == 40 * t["settings"]["budget"]
    assert seen == {("baseline", "baseline"), ("objective", "w_real"), ("n_cells", "12x12"), ("freedom", "projected"),
                    ("freedom", "projected_tracking"), ("freedom", "odd"), ("budget", "4x"),
                    ("train_cherns", "extrapolation")}
    cell = {(t["model"], t["factor"], t["setting"]): t for t in tasks}
    assert cell[("topo2d", "n_cells", "12x12")]["settings"]["n_cells"] == 12
    assert cell[("topo2d", "train_cherns", "extrapolation")]["settings"]["train_cherns"] == \
        {"train": [0, 1], "unseen": [-1, 2]}
    na = cell[("topo2d_ti", "freedom", "odd")]
    assert na["na"].startswith("n/a") and "mirror parities" in na["na"] and na["seed_indices"] == []
    # the odd constraint alone: topo2d keeps its learned window; topo2d_ti_plain under it *is* topo2d_ti
    assert (cell[("topo2d", "freedom", "odd")]["kind"], cell[("topo2d", "freedom", "odd")]["kwargs"]) == \
        ("toponet2d_ti", {"window": "learned"})
    odd_plain, ti = cell[("topo2d_ti_plain", "freedom", "odd")], cell[("topo2d_ti", "baseline", "baseline")]
    assert (odd_plain["kind"], odd_plain["kwargs"], odd_plain["seed_indices"]) == \
        (ti["kind"], ti["kwargs"], ti["seed_indices"]) == ("toponet2d_ti", {}, list(range(20)))
    json.dumps(tasks)
    split = chern_why.chern_why_tasks(models=["topo2d"], seeds=5, seeds_per_task=2, factors={"budget": (4,)})
    assert [t["seed_indices"] for t in split] == [[0, 1], [2, 3], [4]] * 2


@pytest.mark.parametrize("kw, err, match", [
    ({"factors": {"train_windings": ("extrapolation",)}}, TypeError, "valid factors: objective, n_cells, freedom, "
                                                                     "budget, train_cherns"),
    ({"factors": {"n_cells": (8,)}}, ValueError, "larger than the baseline"),
    ({"factors": {"n_cells": (16,)}}, ValueError, "smaller than data\\['long_side'\\]"),
    ({"factors": {"freedom": ("free",)}}, ValueError, "takes settings"),
    ({"models": ["topo"]}, ValueError, "unknown model 'topo'"),
    ({"models": ["cnn2d"]}, ValueError, "TopoNet2D variants"),
    ({"data": {"ranges": (0, 1)}}, TypeError, "valid keys"),
    ({"data": {"long_side": 8}}, ValueError, "long_side"),
    ({"data": {"n_train": 0}}, ValueError, "positive integer"),
    ({"unseen_cherns": (1, 2)}, ValueError, "disjoint"),
    ({"unseen_cherns": (5,)}, ValueError, "reaches Chern sector 5"),
    ({"n_cells": 5}, ValueError, "too small"),
    ({"seeds": 0}, ValueError, "positive integer"),
])
def test_bad_options_are_named(kw, err, match):
    with pytest.raises(err, match=match):
        chern_why.chern_why_tasks(**kw)


# ------------------------------------------------------------------------------ the exact reference
def test_exact_reference_is_the_same_kind_at_its_side_and_the_commutator_elsewhere(sets6):
    from tntopo.nn import build_model

    for kind in ("toponet2d_layout", "toponet2d_ti_plain", "toponet2d_ti"):
        spec = {"kind": kind, "kwargs": {}, "settings": {"n_cells": 6}, "grid": {"data": {"stencil": 2}}}
        prov = chern_why.PROVIDER
        ref, about = prov.exact(spec, prov.factory(spec), sets6)
        assert about["networks"] == {"6x6": f"{kind} (init='exact')", "10x10": "toponet2d_layout_exact"}
        for name in ("train", "long"):
            x = torch.as_tensor(sets6[name][0])
            with torch.no_grad():
                out = ref(x).double().numpy()
            np.testing.assert_allclose(out, _markers(sets6[name][0]), atol=1e-5)  # float32 network
        # why the commutator kind at 10 x 10: the same kind's L = 6 exact weights are not the marker there
        same = build_model(kind, 6, 0, init="exact")
        if kind != "toponet2d_layout":  # a learned window takes one side only
            with torch.no_grad():
                off = same(torch.as_tensor(sets6["long"][0])).double().numpy()
            assert np.abs(off - _markers(sets6["long"][0])).max() > 1e-4  # > 10x the tolerance met above


def test_w_real_objective_makes_the_exact_weights_a_zero_loss_point(sets6):
    from tntopo.nn import build_model

    x = torch.as_tensor(sets6["train"][0], dtype=torch.float64)
    w = torch.as_tensor(sets6["w_real"]["train"])
    for kind in ("toponet2d_layout", "toponet2d_ti"):
        exact = build_model(kind, 6, 0, init="exact", dtype=torch.float64)
        out = exact(x)
        loss = ((out - w) ** 2).mean()
        assert float(loss.detach()) < 1e-10
        loss.backward()
        g = torch.sqrt(sum((p.grad ** 2).sum() for p in exact.parameters() if p.grad is not None))
        assert float(g) < 1e-4  # a stationary point of the w_real objective


# ------------------------------------------------------------------------------ end to end (tiny)
@pytest.fixture(scope="module")
def odd_experiment():
    """Two rows, the odd freedom only, 2 seeds, 6 x 6."""
    return why.why_experiment(study="chern", models=["topo2d_ti_plain", "topo2d_ti"], n_cells=6, seeds=2, epochs=1,
                              lr=1e-2, factors={"freedom": ("odd",)}, data=TINY_DATA, seed=3)


def test_paired_seeds_odd_plain_is_ti_and_merge(odd_experiment):
    """Seed k is the same integer in every cell; topo2d_ti_plain under the odd constraint is the topo2d_ti
    baseline (same kind, weights, data): the same numbers. The merged report has the 1D schema."""
    res = odd_experiment
    json.dumps(res, allow_nan=False)
    assert set(res) == {"grid", "cells", "distance_predicts_ood", "answer"}
    cells = {(c["model"], c["factor"], c["setting"]): c for c in res["cells"]}
    assert set(cells) == {(m, f, s) for m in ("topo2d_ti_plain", "topo2d_ti")
                          for f, s in (("baseline", "baseline"), ("freedom", "odd"))}
    na = cells[("topo2d_ti", "freedom", "odd")]
    assert na["learns_invariant"] == "n/a" and na["n_seeds"] == 0
    seeds = {c["model"] + "/" + c["setting"]: [s["seed"] for s in c["seeds"]] for c in res["cells"] if c["n_seeds"]}
    assert len({tuple(v) for v in seeds.values()}) == 1 and len(set(next(iter(seeds.values())))) == 2
    a, b = cells[("topo2d_ti_plain", "freedom", "odd")], cells[("topo2d_ti", "baseline", "baseline")]
    for sa, sb in zip(a["seeds"], b["seeds"]):
        for key in ("unseen", "long", "counterfactual", "val_accuracy", "functional_distance", "train_loss"):
            assert sa[key] == sb[key], key
    for c in res["cells"]:
        if not c["n_seeds"]:
            continue
        k, n = c["learns_k"], c["learns_n"]
        assert c["n_seeds"] == 2 and c["complete"] and c["ci"] == list(wilson_interval(k, n))
        assert c["reference"]["learns_invariant"] is True  # the exact network on determined samples
        assert c["reference"]["networks"] == {"6x6": f"{c['kind']} (init='exact')", "10x10": "toponet2d_layout_exact"}
        for s in c["seeds"]:
            assert isinstance(s["long"], float) and set(s["functional_distance_parts"]) == {"unseen", "long"}
    assert res["answer"]["topo2d_ti"]["not_applicable"] == ["freedom=odd"]
    assert "Chern numbers" in res["distance_predicts_ood"]["ood"]


def test_report_renders_the_2d_causal_test_in_the_chern_study_words(odd_experiment):
    from tntopo.study import report

    res = {"study": "chern", "why": odd_experiment, "config": {"n_cells": 6}, "models": {},
           "exact_topo": {"accuracy": {}}}
    md = "\n".join(report._md_why(report._Report.of(res)))
    assert "a baseline of its own (6 x 6 samples, 16 training samples x 1 epochs" in md
    assert "unseen Chern numbers and larger samples" in md and "windings" not in md
    assert "| n/a: topo2d_ti (toponet2d_ti) has the marker's mirror parities already |" in md
    assert "toponet2d_layout_exact at 10x10" in md and odd_experiment["answer"]["summary"] in md
    (f,) = [f for f in report.findings(res) if f["id"] == "functional_distance_predicts_ood"]
    assert "unseen Chern numbers and larger samples" in f["claim"]
    # the winding study's words are unchanged
    md1 = "\n".join(report._md_why(report._Report.of({**res, "study": "winding"})))
    assert "changed from the main study's (the baseline row" in md1 and "unseen windings and longer chains" in md1


def test_merge_reports_the_extrapolation_apart_on_2d_cells():
    def cell(model, factor, setting, k, n):
        return {"model": model, "factor": factor, "setting": setting, "learns_invariant": k / n, "learns_k": k,
                "learns_n": n, "ci": list(wilson_interval(k, n))}

    ans = why._answer([cell("topo2d", "baseline", "baseline", 0, 20), cell("topo2d", "n_cells", "12x12", 19, 20),
                       cell("topo2d", "freedom", "odd", 0, 20), cell("topo2d", "train_cherns", "extrapolation", 0, 20)],
                      ["topo2d"])
    a = ans["topo2d"]
    assert a["moves"] == ["n_cells=12x12"] and a["does_not_move"] == ["freedom=odd"]
    assert list(a["extrapolation"]) == ["train_cherns=extrapolation"] and "train_cherns=extrapolation" not in a["settings"]
    assert ans["summary"] == ("topo2d: baseline learns_invariant 0.00 [0.00, 0.16]; moved to >= 0.5 by: n_cells=12x12; "
                              "not moved by: freedom=odd; its rate is significantly raised by: n_cells=12x12 "
                              "0.95 [0.76, 0.99] (Fisher vs baseline, Holm over 2 settings, p < 0.05); "
                              "extrapolation (apart): train_cherns=extrapolation 0.00 [0.00, 0.16].")
    assert a["raises"] == ["n_cells=12x12"] and a["lowers"] == [] and a["settings"]["freedom=odd"]["p_holm"] == 1.0


@pytest.mark.slow
def test_every_factor_end_to_end_and_independent_of_task_splitting(without_seconds):
    kw = dict(models=["topo2d", "topo2d_ti"], n_cells=6, seeds=1, epochs=1, lr=1e-2,
              factors={"objective": ("w_real",), "n_cells": (8,), "freedom": ("projected", "projected_tracking", "odd"),
                       "budget": (2,), "train_cherns": ("extrapolation",)},
              data=TINY_DATA, projection={"every": 1}, seed=4)
    res = why.why_experiment(study="chern", **kw)
    cells = {(c["model"], c["factor"], c["setting"]): c for c in res["cells"]}
    assert len(cells) == 2 * 8
    assert cells[("topo2d", "freedom", "odd")]["kind"] == "toponet2d_ti"
    for key, c in cells.items():
        for s in c["seeds"]:
            # topo2d's learned window takes one side only: its larger-sample criterion is n/a, never a failure
            assert (s["long"] == "n/a") == (key[0] == "topo2d")
            if key[2] == "projected":
                assert s["projection"]["off_span"] < 1e-4 and s["projection"]["rank"] < s["projection"]["n_parameters"]
    assert cells[("topo2d", "n_cells", "8x8")]["reference"]["networks"] == {
        "8x8": "toponet2d_layout (init='exact')", "10x10": "toponet2d_layout_exact"}
    tasks = chern_why.chern_why_tasks(seeds_per_task=1, **kw)
    merged = why.merge_why([why.run_why_task(t) for t in reversed(tasks)])

    assert without_seconds(merged)["cells"] == without_seconds(res)["cells"]
