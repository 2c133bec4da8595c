"""The 1D and 2D studies side by side (tntopo.study.compare): the verdicts can come out either way, the
Holm correction, the why table, the report section, the figure, and the checks of the inputs."""
import json

import pytest

from tntopo.study.compare import ROLES, compare_studies, comparison_markdown
from tntopo.study.stats import holm

SCHEMA = "tntopo.study/3"


def _row(k, n, criteria=("unseen", "counterfactual")):
    flags = [True] * k + [False] * (n - k)
    return {"per_seed": {"learns_invariant": flags}, "learns_invariant": k / n, "learns_invariant_criteria": list(criteria),
            "test_accuracy": 0.99, "test_accuracy_ci": [0.98, 1.0]}


def _answer(k, n, moves=(), does_not=(), inconclusive=(), na=()):
    from tntopo.study.stats import wilson_interval

    lo, hi = wilson_interval(k, n)
    side = ">=0.5" if lo >= 0.5 else "<0.5" if hi < 0.5 else "inconclusive"
    settings = {s: {} for s in (*moves, *does_not, *inconclusive)}
    return {"baseline": {"learns_invariant": k / n, "ci": [lo, hi], "side": side}, "settings": settings,
            "moves": list(moves), "does_not_move": list(does_not), "inconclusive": list(inconclusive),
            "not_applicable": list(na), "extrapolation": {}}


def _results(study, counts, answers=None):
    out = {"schema": SCHEMA, "config": {"study": study}, "models": {m: _row(*kn) for m, kn in counts.items()}}
    if study == "chern":
        out["study"] = "chern"
    out["why"] = {"answer": answers or {}}
    return out


def test_verdicts_come_out_either_way_and_mirror():
    w = _results("winding", {"topo": (20, 20), "topo_ti": (10, 20), "mlp+ce": (0, 8)})
    c = _results("chern", {"topo2d": (0, 20), "topo2d_ti": (11, 20), "mlp2d+ce": (8, 8)})
    res = compare_studies(w, c)
    by = {q["winding"]["row"]: q for q in res["pairs"]}
    assert set(by) == {"topo", "topo_ti", "mlp+ce"}  # rows of one study only are not paired
    assert by["topo"]["verdict"] == "harder in 2D" and by["topo"]["p"] < 1e-9
    assert by["mlp+ce"]["verdict"] == "easier in 2D" and by["mlp+ce"]["head"] == "classification"
    assert by["topo_ti"]["verdict"] == "inconclusive" and by["topo_ti"]["p"] == pytest.approx(1.0)
    assert by["topo"]["winding"]["side"] == "learns" and by["topo"]["chern"]["side"] == "does not learn"
    assert by["topo_ti"]["chern"]["side"] == "inconclusive"
    assert res["summary"] == {"harder in 2D": 1, "easier in 2D": 1, "inconclusive": 1, "n/a": 0}
    # swapping the counts swaps the verdicts
    w2 = _results("winding", {"topo": (0, 20), "mlp+ce": (8, 8)})
    c2 = _results("chern", {"topo2d": (20, 20), "mlp2d+ce": (0, 8)})
    by2 = {q["winding"]["row"]: q["verdict"] for q in compare_studies(w2, c2)["pairs"]}
    assert by2 == {"topo": "easier in 2D", "mlp+ce": "harder in 2D"}
    assert any("harder in 2D" in s for s in res["paragraph"])


def test_holm_correction_can_turn_a_verdict_inconclusive():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    # 8/8 against 3/8 alone: p = 0.026 < 0.05; with four other pairs at p = 1 Holm multiplies it by 5
    one = compare_studies(_results("winding", {"topo": (8, 8)}), _results("chern", {"topo2d": (3, 8)}))
    assert one["pairs"][0]["verdict"] == "harder in 2D"
    five = compare_studies(_results("winding", {"topo": (8, 8), "topo_ti": (4, 8), "topo_ti_plain": (4, 8), "cnn": (4, 8),
                                                "mlp": (4, 8)}),
                           _results("chern", {"topo2d": (3, 8), "topo2d_ti": (4, 8), "topo2d_ti_plain": (4, 8),
                                              "cnn2d": (4, 8), "mlp2d": (4, 8)}))
    q = next(q for q in five["pairs"] if q["winding"]["row"] == "topo")
    assert q["p"] < 0.05 and q["p_holm"] == pytest.approx(min(1.0, 5 * q["p"])) and q["verdict"] == "inconclusive"


def test_why_lists_each_factor_and_the_ones_that_differ():
    w = _results("winding", {"topo": (3, 20)}, {"topo": _answer(3, 20, moves=("objective=w_real",),
                                                                  does_not=("n_cells=2x", "budget=4x"))})
    c = _results("chern", {"topo2d": (2, 20)}, {"topo2d": _answer(2, 20, does_not=("objective=w_real", "n_cells=12x12"),
                                                                    inconclusive=("budget=4x",))})
    res = compare_studies(w, c)
    (y,) = res["why"]
    assert y["role"] == ROLES[0][0] and y["factors_differ"] == ["objective"]
    assert y["winding"]["factors"]["n_cells"] == [["n_cells=2x", "does not move"]]
    assert y["chern"]["factors"]["budget"] == [["budget=4x", "inconclusive"]]
    txt = " ".join(res["paragraph"])
    assert "objective=w_real" in txt and "in one study and not in the other: objective" in txt
    md = "\n".join(comparison_markdown(res))
    assert "| TopoNet, random init | objective | objective=w_real: moves | objective=w_real: does not move |" in md
    # a baseline that already learns cannot be moved: said, not counted
    w3 = _results("winding", {"topo": (20, 20)}, {"topo": _answer(20, 20, does_not=("budget=4x",))})
    res3 = compare_studies(w3, c)
    assert "already learns" in " ".join(res3["paragraph"]) and res3["why"][0]["factors_differ"] is None


def test_why_paragraph_names_the_settings_that_change_a_rate():
    """Where a baseline cannot be moved across 0.5 (it straddles it), the threshold-free test still says
    which settings change its rate; results without that test (older renders) say nothing about it."""
    from tntopo.study import why

    def cell(model, factor, setting, k, n=20):
        from tntopo.study.stats import wilson_interval

        return {"model": model, "factor": factor, "setting": setting, "learns_invariant": k / n, "learns_k": k,
                "learns_n": n, "ci": list(wilson_interval(k, n))}

    aw = why._answer([cell("topo", "baseline", "baseline", 14), cell("topo", "freedom", "projected", 2)], ["topo"])
    ac = why._answer([cell("topo2d", "baseline", "baseline", 12), cell("topo2d", "freedom", "projected", 11)],
                     ["topo2d"])
    res = compare_studies(_results("winding", {"topo": (14, 20)}, aw), _results("chern", {"topo2d": (12, 20)}, ac))
    txt = " ".join(res["paragraph"])
    assert "straddles 0.5: no setting can be said to move it (its rate significantly lowered by freedom=projected)" \
        in txt
    assert "in 2D topo2d's baseline (0.60 [0.39, 0.78]) straddles 0.5: no setting can be said to move it (no setting " \
           "changes its rate significantly)" in txt
    old = compare_studies(_results("winding", {"topo": (3, 20)}, {"topo": _answer(3, 20, does_not=("budget=4x",))}),
                          _results("chern", {"topo2d": (3, 20)}, {"topo2d": _answer(3, 20)}))
    assert "significantly" not in " ".join(old["paragraph"])


def test_inputs_are_checked():
    w = _results("winding", {"topo": (1, 2)})
    c = _results("chern", {"topo2d": (1, 2)})
    with pytest.raises(ValueError, match="results.json"):
        compare_studies({"nothing": 1}, c)
    with pytest.raises(ValueError, match="schema"):
        compare_studies(dict(w, schema="tntopo.study/2"), c)
    with pytest.raises(ValueError, match="'chern' study"):
        compare_studies(c, c)
    with pytest.raises(ValueError, match="not the Chern study"):
        compare_studies(w, w)
    with pytest.raises(ValueError, match="alpha"):
        compare_studies(w, c, alpha=1.5)


def test_figure_and_its_errors():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tntopo.study.figures import plot_comparison

    res = compare_studies(_results("winding", {"topo": (20, 20), "mlp": (2, 8)}),
                          _results("chern", {"topo2d": (0, 20), "mlp2d": (3, 8)}))
    fig = plot_comparison({"comparison": res})
    assert len(fig.axes[0].get_xticklabels()) == 2
    plt.close(fig)
    fig, ax = plt.subplots()
    assert plot_comparison(res, ax=ax) is fig
    plt.close(fig)
    with pytest.raises(ValueError, match="no comparison"):
        plot_comparison({"models": {}})
    with pytest.raises(TypeError):
        plot_comparison(res, axes=None)


def test_reproduce_checks_compare_with_before_any_work(tmp_path):
    from tntopo.study import reproduce
    from tntopo.study.config import CHERN_TINY, TINY

    out = tmp_path / "never"
    with pytest.raises(TypeError, match="Chern study"):
        reproduce(TINY, out=out, executor="serial", progress=False, compare_with=tmp_path / "r.json")
    with pytest.raises(FileNotFoundError, match="no such file"):
        reproduce(CHERN_TINY, out=out, executor="serial", progress=False, compare_with=tmp_path / "r.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_results("chern", {"topo2d": (1, 2)})))
    with pytest.raises(ValueError, match="'chern' study"):
        reproduce(CHERN_TINY, out=out, executor="serial", progress=False, compare_with=bad)
    assert not out.exists()


def test_cli_refuses_compare_with_for_the_winding_study(tmp_path, capsys):
    from tntopo.cli import main

    rc = main(["reproduce", "--preset", "tiny", "--out", str(tmp_path / "o"), "--compare-with", "x.json"])
    assert rc != 0 and "--study chern" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
