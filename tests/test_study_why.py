"""The causal test of why (tntopo.study.why) and the study's intervals (tntopo.study.stats)."""
import json
import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tntopo.study import why  # noqa: E402
from tntopo.study.stats import Z95, bootstrap_interval, wilson_interval  # noqa: E402
from tntopo.errors import GaplessWarning  # noqa: E402
from tntopo.parallel import task_seed  # noqa: E402
from tntopo.study.trainability import protocol_sets, zlib_hash  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_DATA = {"n_train": 48, "n_val": 16, "n_unseen": 12, "n_long": 4, "n_counterfactual": 12}


@pytest.fixture(scope="module")
def sets12():
    """One small protocol set (12 cells, hopping ranges -2..2), with the real-space targets."""
    return protocol_sets(12, (-1, 0, 1), ranges=(-2, -1, 0, 1, 2), n_train=96, n_val=16, n_unseen=12, n_long=4,
                         n_counterfactual=12, realspace=True, seed=5)


# ------------------------------------------------------------------------------ stats
def test_wilson_interval_known_values_and_errors():
    lo, hi = wilson_interval(0, 4)
    assert lo == 0.0 and hi == pytest.approx(0.4899, abs=1e-4)
    lo, hi = wilson_interval(4, 4)
    assert hi == 1.0 and lo == pytest.approx(0.5101, abs=1e-4)
    lo, hi = wilson_interval(10, 20)
    assert lo == pytest.approx(1 - hi) and lo == pytest.approx(0.2993, abs=1e-4)
    assert wilson_interval(0, 0) is None  # nothing measured
    for k, n in ((5, 4), (-1, 3), (1, -1), (1.5, 3), (True, 3)):
        with pytest.raises(ValueError):
            wilson_interval(k, n)
    with pytest.raises(ValueError, match="z must be"):
        wilson_interval(1, 2, z=0)


@given(st.integers(0, 200).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_solves_the_score_equation(kn):
    k, n = kn
    if n == 0:
        assert wilson_interval(k, n) is None
        return
    lo, hi = wilson_interval(k, n)
    z = Z95
    p = k / n
    assert 0 <= lo <= p <= hi <= 1
    # independent route: the endpoints solve (p - q)^2 = z^2 q (1 - q) / n (interior endpoints only)
    for q in (lo, hi):
        if 0 < q < 1:
            assert (p - q) ** 2 == pytest.approx(z * z * q * (1 - q) / n, rel=1e-9, abs=1e-12)
    if k < n:  # one more success moves the interval up
        lo2, hi2 = wilson_interval(k + 1, n)
        assert lo2 > lo and hi2 >= hi


def test_bootstrap_interval():
    x = np.random.default_rng(1).normal(0.0, 1.0, 400)
    lo, hi = bootstrap_interval(x, seed=3)
    se = x.std() / math.sqrt(len(x))
    assert lo < x.mean() < hi
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert bootstrap_interval(x, seed=3) == (lo, hi)  # same seed, same interval
    assert bootstrap_interval([0.7, 0.7, 0.7]) == pytest.approx((0.7, 0.7), abs=1e-15)
    lo_m, hi_m = bootstrap_interval(x, stat=np.median, level=0.5)
    assert lo_m < np.median(x) < hi_m and hi_m - lo_m < hi - lo
    assert bootstrap_interval([]) is None  # nothing measured
    for bad, kw in (([1.0, np.nan], {}), ([1.0], {"n_boot": 0}), ([1.0], {"level": 1.0})):
        with pytest.raises(ValueError):
            bootstrap_interval(bad, **kw)


# ------------------------------------------------------------------------------ the grid
def test_every_cell_changes_exactly_one_factor_from_the_baseline():
    tasks = why.why_tasks(n_cells=24, seeds=20, epochs=40, lr={"topo": 3e-3})
    base = tasks[0]["grid"]["baseline"]
    assert base == {"objective": "label", "n_cells": 24, "freedom": "full", "budget": 1,
                    "train_windings": {"train": [-1, 0, 1], "unseen": [-2, 2]}}
    seen = set()
    for t in tasks:
        seen.add((t["factor"], t["setting"]))
        diff = [k for k in base if t["settings"][k] != base[k]]
        if t["factor"] == "baseline":
            assert diff == []
        else:
            assert diff == [t["factor"]], (t["factor"], t["setting"], diff)
        assert t["lr"] == (3e-3 if t["model"] == "topo" else 1e-2)
        assert t["epochs"] == 40 * t["settings"]["budget"]
        same_arch = t["kind"] == dict(topo="toponet", topo_ti_plain="toponet", topo_ti="toponet_odd")[t["model"]]
        assert same_arch == (t["settings"]["freedom"] != "odd" or t["model"] == "topo_ti")
    assert seen == {("baseline", "baseline"), ("objective", "w_real"), ("n_cells", "2x"), ("n_cells", "4x"),
                    ("freedom", "projected"), ("freedom", "projected_tracking"), ("freedom", "odd"), ("budget", "4x"),
                    ("train_windings", "extrapolation")}
    cell = {(t["model"], t["factor"], t["setting"]): t for t in tasks}
    assert cell[("topo", "n_cells", "4x")]["settings"]["n_cells"] == 96
    assert cell[("topo", "train_windings", "extrapolation")]["settings"]["train_windings"] == \
        {"train": [0, 1], "unseen": [-1, 2]}
    assert cell[("topo_ti", "freedom", "odd")]["na"].startswith("n/a")  # already odd
    assert cell[("topo_ti", "freedom", "odd")]["seed_indices"] == []
    assert cell[("topo", "freedom", "odd")]["seed_indices"] == list(range(20))
    # paired design: topo_ti_plain under the odd constraint is topo_ti (same kind, kwargs, seeds, data)
    odd_plain, ti = cell[("topo_ti_plain", "freedom", "odd")], cell[("topo_ti", "baseline", "baseline")]
    assert (odd_plain["kind"], odd_plain["kwargs"], odd_plain["seed_indices"]) == \
        (ti["kind"], ti["kwargs"], ti["seed_indices"])
    json.dumps(tasks)
    # seeds split into tasks; paired seeds: the same integer in every cell and model
    split = why.why_tasks(models=["topo"], seeds=5, seeds_per_task=2, factors={"budget": (4,)})
    assert [t["seed_indices"] for t in split] == [[0, 1], [2, 3], [4]] * 2
    # a setting that does not apply is one task without seeds, however the seeds are split
    odd = why.why_tasks(models=["topo_ti"], seeds=5, seeds_per_task=2, factors={"freedom": ("odd",)})
    assert [(t["setting"], t["seed_indices"], t["na"] is None) for t in odd] == \
        [("baseline", [0, 1], True), ("baseline", [2, 3], True), ("baseline", [4], True), ("odd", [], False)]
    assert why._training_seed(0, 3) == why._training_seed(0, 3) != why._training_seed(0, 4)


def test_why_tasks_rejects_bad_options():
    with pytest.raises(TypeError, match="valid factors"):
        why.why_tasks(factors={"depth": (2,)})
    with pytest.raises(ValueError, match="takes settings"):
        why.why_tasks(factors={"objective": ("ce",)})
    with pytest.raises(ValueError, match="multipliers"):
        why.why_tasks(factors={"n_cells": (1,)})
    with pytest.raises(ValueError, match="unknown model"):
        why.why_tasks(models=["nope"])
    with pytest.raises(ValueError, match="TopoNet"):
        why.why_tasks(models=["mlp"])
    with pytest.raises(ValueError, match="not in the experiment"):
        why.why_tasks(models=["topo"], lr={"topo_ti": 1e-3})
    with pytest.raises(TypeError, match="valid keys"):
        why.why_tasks(data={"ranges": (0, 1)})
    with pytest.raises(ValueError, match="disjoint"):
        why.why_tasks(unseen_windings=(1, 2))
    with pytest.raises(ValueError, match="positive integer"):
        why.why_tasks(seeds=0)
    with pytest.raises(ValueError, match="every"):
        why.why_tasks(projection={"every": 0})


# ------------------------------------------------------------------------------ the factors
def test_w_real_objective_makes_the_exact_weights_a_zero_loss_point(sets12):
    sets = sets12
    x = torch.as_tensor(sets["train"][0], dtype=torch.float64)
    w_real = torch.as_tensor(sets["w_real"]["train"])
    label = torch.as_tensor(sets["train"][1], dtype=torch.float64)
    for kind, kw in (("toponet", {}), ("toponet_odd", dict(kernel="translation_invariant", state_weights="rank",
                                                          window="fixed"))):
        from tntopo.nn import build_model

        exact = build_model(kind, 12, 0, init="exact", dtype=torch.float64, **kw)
        out = exact(x)
        loss_real = ((out - w_real) ** 2).mean()
        loss_label = ((out - label) ** 2).mean()
        assert float(loss_real.detach()) < 1e-10  # float32 inputs: ~1e-6 deviations
        assert float(loss_label.detach()) > 1e-3  # N = 12 chains do not always determine their Bloch label
        loss_real.backward()
        g = torch.sqrt(sum((p.grad ** 2).sum() for p in exact.parameters()))
        assert float(g) < 1e-4  # a stationary point of the w_real objective
    # the targets are the dense real-space invariant of the input chains (an independent route: the
    # exact network above computes it from the wavefunctions; here from the same draw's hopping blocks)
    from tntopo import winding_number
    from tntopo.study.trainability import sample_sectors

    b = sample_sectors(96, 12, (-1, 0, 1), ranges=(-2, -1, 0, 1, 2), min_gap=0.4,
                       seed=task_seed(5, 901, 12, zlib_hash((-1, 0, 1))))  # protocol_sets' training draw
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GaplessWarning)  # short chains: not quantized, which is the point
        w = np.asarray(winding_number(b.hopping_blocks(), method="dense"))
    np.testing.assert_allclose(w, sets["w_real"]["train"], atol=1e-12)
    assert np.array_equal(b.bloch_windings(), sets["train"][1])


def test_protocol_sets_unseen_windings_option(sets12):
    assert set(sets12["unseen"][1].tolist()) <= {-2, 2}  # default: every reachable sector not trained on
    assert set(sets12["train"][1].tolist()) == {-1, 0, 1}
    ex = protocol_sets(12, (0, 1), ranges=(-2, -1, 0, 1, 2), n_train=8, n_val=4, n_unseen=12, n_long=2,
                       n_counterfactual=6, unseen_windings=(-1, 2), seed=5)
    assert set(ex["unseen"][1].tolist()) <= {-1, 2} and len(ex["unseen"][1]) > 0 and "w_real" not in ex
    for bad in ((1, 2), (-3,), ()):
        with pytest.raises(ValueError, match="unseen_windings"):
            protocol_sets(12, (0, 1), ranges=(-2, -1, 0, 1, 2), unseen_windings=bad)


def _off_span(model0, model, U):
    d = why._flat(list(model.parameters())) - why._flat(list(model0.parameters()))
    return float(np.linalg.norm(d - U @ (U.T @ d)) / np.linalg.norm(d))


def test_projected_updates_keep_the_weights_in_the_jacobian_span(sets12):
    import copy

    from tntopo.nn import build_model
    from tntopo.study.trainability import default_train

    sets = sets12
    xtr, ytr = sets["train"]
    m0 = build_model("toponet", 12, 7)
    P = sum(p.numel() for p in m0.parameters())
    U, info = why.jacobian_span(m0, xtr, rtol=1e-6)
    assert info["n_parameters"] == P and 0 < info["rank"] < P  # there are data-blind directions
    np.testing.assert_allclose(U.T @ U, np.eye(info["rank"]), atol=1e-10)

    free = copy.deepcopy(m0)
    default_train(free, sets["train"], sets["val"], epochs=3, lr=1e-2, seed=0, batch_size=16)
    proj = copy.deepcopy(m0)
    with why.projected_updates(proj, xtr, rtol=1e-6) as state:
        default_train(proj, sets["train"], sets["val"], epochs=3, lr=1e-2, seed=0, batch_size=16)
    assert state["steps"] == 3 * 6 and state["rank"] == info["rank"]
    np.testing.assert_allclose(state["basis"], U)
    assert _off_span(m0, proj, U) < 1e-5   # float32 weights: rounding only
    assert _off_span(m0, free, U) > 1e-2   # Adam's scaling leaves the span: the projection removes that
    # an optimizer over another model is untouched by the hooks
    other = copy.deepcopy(m0)
    with why.projected_updates(proj, xtr):
        default_train(other, sets["train"], sets["val"], epochs=3, lr=1e-2, seed=0, batch_size=16)
    assert all(torch.equal(a, b) for a, b in zip(other.parameters(), free.parameters()))
    # recomputed every k steps: the span follows the weights
    rec = copy.deepcopy(m0)
    with why.projected_updates(rec, xtr, every=4) as st2:
        default_train(rec, sets["train"], sets["val"], epochs=1, lr=1e-2, seed=0, batch_size=16)
    assert st2["recomputed"] == 1 and st2["steps"] == 6


def test_functional_distance_is_zero_for_the_exact_network_and_skips_lengths_it_cannot_take(sets12):
    from tntopo.nn import build_model

    sets = sets12
    probes = {k: sets[k] for k in ("unseen", "long") if k in sets}
    exact = build_model("toponet", 12, 0, init="exact")
    d = why.functional_distance(build_model("toponet", 12, 0, init="exact"), exact, probes)
    assert d["distance"] == 0.0 and d["parts"]["long"] == "n/a"  # a per-cell model takes one length
    rnd = build_model("toponet", 12, 3)
    d = why.functional_distance(rnd, exact, probes)
    x = torch.as_tensor(probes["unseen"][0])
    with torch.no_grad():
        ref = float(torch.sqrt(((rnd(x).double() - exact(x).double()) ** 2).mean()))
    assert d["distance"] == pytest.approx(ref) and d["n"] == len(x)


# ------------------------------------------------------------------------------ end to end (tiny)
def test_tiny_experiment_end_to_end_and_independent_of_task_splitting(without_seconds):
    kw = dict(models=["topo", "topo_ti"], n_cells=12, seeds=2, epochs=1, lr={"topo": 1e-2, "topo_ti": 3e-2},
              factors={"objective": ("w_real",), "freedom": ("projected", "projected_tracking", "odd")},
              data=TINY_DATA, projection={"every": 2}, seed=4)
    res = why.why_experiment(**kw)
    json.dumps(res)
    assert set(res) == {"grid", "cells", "distance_predicts_ood", "answer"}
    cells = {(c["model"], c["factor"], c["setting"]): c for c in res["cells"]}
    assert len(cells) == 2 * 5
    odd_na = cells[("topo_ti", "freedom", "odd")]
    assert odd_na["learns_invariant"] == "n/a" and odd_na["n_seeds"] == 0
    for key, c in cells.items():
        if c["learns_invariant"] == "n/a":
            continue
        assert c["n_seeds"] == 2 and c["complete"]
        k, n = c["learns_k"], c["learns_n"]
        assert c["learns_invariant"] == k / n and c["ci"] == list(wilson_interval(k, n))
        assert c["fits"] == np.mean([s["fits"] for s in c["seeds"]])
        assert c["functional_distance"] == np.median([s["functional_distance"] for s in c["seeds"]])
        for s in c["seeds"]:
            assert s["fits"] == (s["val_accuracy"] >= 0.95)
            assert s["long"] == "n/a" if key[0] == "topo" else isinstance(s["long"], float)
        if key[2] == "projected":
            for s in c["seeds"]:
                assert s["projection"]["off_span"] < 1e-5 and s["projection"]["rank"] < s["projection"]["n_parameters"]
                assert s["projection"]["recomputed"] == 0
        if key[2] == "projected_tracking":
            for s in c["seeds"]:  # 48 chains, batches of 64: one step; epochs=1 -> no recomputation yet
                assert s["projection"]["off_span"] is None and s["projection"]["steps"] == 1
        assert c["reference"]["unseen"] == 1.0  # the exact network on determined chains
    assert cells[("topo", "freedom", "odd")]["kind"] == "toponet_odd"  # topo's kwargs, odd constraint
    a = res["answer"]["topo"]
    names = set(a["moves"]) | set(a["does_not_move"]) | set(a["inconclusive"])
    assert names <= {"objective=w_real", "freedom=projected", "freedom=projected_tracking", "freedom=odd"}
    assert a["not_applicable"] == [] and res["answer"]["topo_ti"]["not_applicable"] == ["freedom=odd"]
    dp = res["distance_predicts_ood"]["overall"]
    assert dp["n"] == sum(c["n_seeds"] for c in res["cells"])
    # the same tasks split per seed and merged in another order give the same report (bar timings)
    tasks = why.why_tasks(seeds_per_task=1, **kw)
    merged = why.merge_why([why.run_why_task(t) for t in reversed(tasks)])

    assert without_seconds(merged)["cells"] == without_seconds(res)["cells"]
    with pytest.raises(ValueError, match="no results"):
        why.merge_why([])


def test_a_diverged_seed_counts_as_not_learning_and_stays_json():
    res = why.why_experiment(models=["topo"], n_cells=12, seeds=1, epochs=3, lr=1e8, factors={}, data=TINY_DATA,
                             seed=4)
    (c,) = res["cells"]
    (s,) = c["seeds"]
    assert s["note"].startswith("training diverged") and s["learns_invariant"] is False and s["fits"] is False
    assert s["unseen"] is None and s["functional_distance"] is None
    assert c["learns_invariant"] == 0.0 and c["ci"][0] == 0.0
    json.dumps(res, allow_nan=False)


def test_answer_rule_on_constructed_cells():
    def cell(model, factor, setting, k, n):
        return {"model": model, "factor": factor, "setting": setting, "learns_invariant": k / n, "learns_k": k,
                "learns_n": n, "ci": list(wilson_interval(k, n))}

    cells = [cell("m", "baseline", "baseline", 0, 20), cell("m", "objective", "w_real", 18, 20),
             cell("m", "budget", "4x", 1, 20), cell("m", "n_cells", "2x", 10, 20),
             cell("m", "train_windings", "extrapolation", 0, 20),
             cell("ok", "baseline", "baseline", 20, 20), cell("ok", "budget", "4x", 19, 20)]
    ans = why._answer(cells, ["m", "ok"])
    assert ans["m"]["baseline"]["side"] == "<0.5"
    assert ans["m"]["moves"] == ["objective=w_real"]
    assert ans["m"]["does_not_move"] == ["budget=4x"]
    assert ans["m"]["inconclusive"] == ["n_cells=2x"]
    assert "train_windings=extrapolation" in ans["m"]["extrapolation"]
    assert ans["m"]["settings"]["objective=w_real"]["p_vs_baseline"] < 1e-6
    assert ans["ok"]["baseline"]["side"] == ">=0.5" and ans["ok"]["moves"] == [] and "note" in ans["ok"]
    assert ans["summary"].startswith("m: baseline learns_invariant 0.00 [0.00, 0.16]; moved to >= 0.5 by: "
                                     "objective=w_real; not moved by: budget=4x; inconclusive: n_cells=2x; "
                                     "its rate is significantly raised by: objective=w_real 0.90 [0.70, 0.97], "
                                     "n_cells=2x 0.50 [0.30, 0.70] (Fisher vs baseline, Holm over 3 settings, "
                                     "p < 0.05); extrapolation (apart): train_windings=extrapolation 0.00 [0.00, 0.16].")
    assert ans["m"]["raises"] == ["objective=w_real", "n_cells=2x"] and ans["m"]["lowers"] == []
    assert ans["m"]["n_tested"] == 3 and "p_holm" not in ans["m"]["extrapolation"]["train_windings=extrapolation"]
    assert ("ok: baseline learns_invariant 1.00 [0.84, 1.00], already >= 0.5; no setting changes its rate "
            "significantly (Fisher vs baseline, Holm over 1 settings, p < 0.05).") in ans["summary"]


def test_answer_names_settings_that_change_a_baseline_on_either_side_of_one_half():
    """The threshold-free test: a baseline whose interval straddles 0.5 (14/20) cannot be "moved", but a
    setting that lowers it to 2/20 is named; one at 7/20 (raw Fisher p 0.056) is not, nor is anything after
    Holm's correction that a lone test would call significant."""
    def cell(factor, setting, k, n=20):
        return {"model": "t", "factor": factor, "setting": setting, "learns_invariant": k / n, "learns_k": k,
                "learns_n": n, "ci": list(wilson_interval(k, n))}

    a = why._answer([cell("baseline", "baseline", 14), cell("freedom", "projected", 2), cell("freedom", "odd", 7),
                     cell("budget", "4x", 20), cell("n_cells", "2x", 6)], ["t"])["t"]
    assert a["baseline"]["side"] == "inconclusive" and a["moves"] == [] and a["inconclusive"] == [
        "freedom=projected", "freedom=odd", "budget=4x", "n_cells=2x"]
    assert a["lowers"] == ["freedom=projected"] and a["raises"] == [] and a["n_tested"] == 4
    assert a["settings"]["freedom=odd"]["p_vs_baseline"] > 0.05
    assert 0.02 < a["settings"]["budget=4x"]["p_vs_baseline"] < 0.025  # 20/20 vs 14/20: p = 0.020 alone ...
    assert a["settings"]["budget=4x"]["p_holm"] >= 0.05  # ... but not among four settings
    # the same counts the other way round: raised
    b = why._answer([cell("baseline", "baseline", 2), cell("freedom", "projected", 14)], ["t"])["t"]
    assert b["raises"] == ["freedom=projected"] and b["lowers"] == []
