"""Figures as a reader meets them: every public figure function of tntopo.plot and of the study's
tntopo.study.figures, called with small synthetic inputs, and the gallery examples draw axes with x/y labels and legends without Python
reprs (tntopo.plot.figure_problems). The slow gallery examples are checked in the docs build by
the same function (docs/_figure_check.py, a sphinx-gallery scraper)."""
import inspect
import re
import time
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tntopo import plot  # noqa: E402
from tntopo.study import figures  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples"
MODELS = ["topo", "topo_ti", "mlp", "shallow_svd", "mlp+ce"]
LENGTHS = [8, 24]
STRENGTHS = ["0", "1", "2", "3"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _results():
    """A small synthetic results.json (the shape tntopo.study.reproduce writes, schema tntopo.study/2)."""
    rng = np.random.default_rng(0)
    n, epochs = 5, 6
    models = {}
    for m in MODELS:
        per = list(rng.uniform(0.5, 1.0, n))
        learns = [bool(v) for v in rng.uniform(size=n) < 0.6]
        # the MLP takes one length only: "n/a" at the others
        dis = {str(N): {W: ("n/a" if m.startswith("mlp") and N != LENGTHS[0] else float(rng.uniform(0.4, 1.0)))
                        for W in STRENGTHS} for N in LENGTHS}
        models[m] = {
            "base_model": m.split("+")[0], "head": "classification" if m.endswith("+ce") else "regression",
            "seeds": n, "val_trainability": 0.8, "test_accuracy": float(np.mean(per)),
            "test_accuracy_std": float(np.std(per)),
            "learns_invariant": None if m == "shallow_svd" else float(np.mean(learns)),
            "learns_invariant_criteria": ["counterfactual", "unseen"],
            "per_seed": {"seed": list(range(n)), "test_accuracy": per, "learns_invariant": learns},
            "disorder_accuracy": dis,
            "curves": {k: {"mean": list(rng.uniform(0.1, 1, epochs)), "min": [0.05] * epochs, "max": [1.0] * epochs}
                       for k in ("val_accuracy", "train_loss")},
        }
    disorder = {
        "n_cells": LENGTHS, "strengths": [float(W) for W in STRENGTHS],
        "family": {"t1": 1.0, "ratios": [1.0, 0.5], "delta_range": [0.7, 1.4]}, "n_samples": 12,
        "label": "thermodynamic phase of the ensemble (exact Lyapunov criterion)",
        "by_length": {str(N): {"estimator_accuracy": {W: 1.0 for W in STRENGTHS},
                               "majority_accuracy": {W: 0.5 for W in STRENGTHS},
                               "open_invariant_accuracy": {"0": 1.0, "1": 0.9, "2": 0.8, "3": "n/a"},
                               "topological_fraction": {W: 0.5 for W in STRENGTHS},
                               "models": {m: e["disorder_accuracy"][str(N)] for m, e in models.items()}}
                      for N in LENGTHS},
    }
    inits = ["random(scale=1)", "exact(eps=0.01)"]
    tmap = {
        "grid": {"n_cells": [8, 16], "inits": inits, "diversities": [[0, 1], [0, 1, 2]], "seeds": 3, "epochs": 4,
                 "lr": 0.01, "threshold": 0.95, "model": {"kernel": "translation_invariant"}},
        "cells": [{"n_cells": N, "init": i, "train_windings": d, "val_trainability": 0.5,
                   "learns_invariant": None if (N, i, len(d)) == (8, inits[0], 2) else float(rng.uniform()),
                   "reference": {"learns_invariant": N != 8}}
                  for N in (8, 16) for i in inits for d in ([0, 1], [0, 1, 2])],
    }
    seeds = [{"distance": float(rng.uniform(0, 2)), "unseen": float(rng.uniform()), "long": 0.5,
              "counterfactual": 0.5} for _ in range(4)] + [{"distance": 1.0, "unseen": "n/a", "long": 0.5,
                                                            "counterfactual": 0.5}]
    landscape = {m: {"seeds": seeds, "rank_correlation": {"unseen": -0.6 if m == "topo_ti" else None, "long": None},
                     "gradient_norms": {"n_cells": [8, 16, 32], "median": [0.1, 0.03, 0.01],
                                        "min": [0.05, 0.02, 0.005], "max": [0.2, 0.05, 0.02]},
                     "hessian_exact": {"n_zero": 3}, "symmetries": {"n_null": 2}}
                 for m in ("topo_ti", "topo")}
    N = 6
    weights = {m: {"s": list(rng.normal(size=2 * N)), "X": rng.normal(size=(N, N)).tolist(), "R": list(rng.uniform(size=N))}
               for m in ("exact", "topo", "topo_ti")}
    return {
        "schema": "tntopo.study/2",
        "models": models,
        "exact_topo": {"accuracy": {"test": 1.0}},
        "disorder": disorder,
        "trainability_map": tmap,
        "landscape": landscape,
        "config": {"trainability_threshold": 0.95},
        "pruning": {"model": "shallow_svd", "ranks": [1, 2, 4], "accuracy": {"1": 0.4, "2": 0.8, "4": 0.9},
                    "accuracy_std": {"1": 0.1, "2": 0.05, "4": 0.01}, "unpruned_accuracy": 0.9,
                    "singular_values_mean_normalized": [1.0, 0.5, 0.1, 0.01]},
        "toponet_weights": weights,
    }


@pytest.fixture(scope="module")
def phase():
    from tntopo import phase_diagram

    pd = phase_diagram(np.linspace(0.2, 1.8, 5), [0.0, 2.5, 5.0], n_cells=24, n_realizations=2, executor="serial",
                       progress=False)
    pd.mean[1, 2] = np.nan  # a gapless/failed cell
    return pd


def _comparison():
    from tntopo.study import compare_studies

    def side(study, counts):
        rows = {m: {"per_seed": {"learns_invariant": [True] * k + [False] * (n - k)}, "learns_invariant_criteria": ["unseen"],
                    "test_accuracy": 0.9} for m, (k, n) in counts.items()}
        return {"schema": "tntopo.study/3", "study": study, "config": {"study": study}, "models": rows}

    return compare_studies(side("winding", {"topo": (20, 20), "topo_ti": (18, 20), "mlp+ce": (1, 8)}),
                           side("chern", {"topo2d": (1, 20), "topo2d_ti": (19, 20), "mlp2d+ce": (0, 8)}))


def _calls(phase):
    res = _results()
    return {
        "plot_comparison": lambda: figures.plot_comparison(_comparison()),
        "plot_phase_diagram": lambda: plot.plot_phase_diagram(phase, mark=[(1.1, 2.5, "TAI")]),
        "plot_local_marker": lambda: plot.plot_local_marker(np.r_[-6.0, np.ones(12), 5.0], label={0: 0.5, 1: 1.0},
                                                            winding=1.0, clip=2.0),
        "plot_disorder_accuracy": lambda: figures.plot_disorder_accuracy(res),
        "plot_trainability": lambda: figures.plot_trainability(res),
        "plot_trainability_map": lambda: figures.plot_trainability_map(res),
        "plot_landscape": lambda: figures.plot_landscape(res),
        "plot_pruning": lambda: figures.plot_pruning(res),
        "plot_toponet_weights": lambda: figures.plot_toponet_weights(res),
        "plot_training_curves": lambda: figures.plot_training_curves(res),
        "plot_chern_marker": lambda: plot.plot_chern_marker(np.random.default_rng(0).normal(size=(8, 6))),
        "plot_chern_phase_diagram": lambda: plot.plot_chern_phase_diagram(
            {"m": [-3.0, -1.0, 1.0, 3.0], "W": [0.0, 2.0, 4.0], "mean": np.zeros((4, 3)), "method": "bott"}),
    }


def _texts(fig):
    out = []
    for ax in fig.axes:
        out += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
        if ax.get_legend():
            out += [t.get_text() for t in ax.get_legend().get_texts()]
    return out


def test_every_public_figure_function_is_walked(phase):
    public = {n for mod in (plot, figures) for n in mod.__all__
              if n.startswith("plot_") and inspect.isfunction(getattr(mod, n))}
    assert public == set(_calls(phase)), "add the new figure function to _calls()"


@pytest.mark.parametrize("name", ["plot_phase_diagram", "plot_local_marker", "plot_disorder_accuracy",
                                  "plot_trainability", "plot_trainability_map", "plot_landscape", "plot_pruning",
                                  "plot_toponet_weights", "plot_comparison",
                                  "plot_training_curves", "plot_chern_marker", "plot_chern_phase_diagram"])
def test_figure_has_labels_and_readable_legends(name, phase):
    fig = _calls(phase)[name]()
    assert fig is not None and hasattr(fig, "savefig"), f"{name} must return the figure"
    assert plot.figure_problems(fig) == []
    for text in _texts(fig):  # internal model keys are not shown
        assert text not in MODELS or "_" not in text, f"{name} shows the internal name {text!r}"


def test_figure_functions_take_ax(phase):
    fig, ax = plt.subplots()
    assert plot.plot_phase_diagram(phase, ax=ax) is fig
    fig, ax = plt.subplots()
    assert plot.plot_local_marker(np.ones(8), ax=ax) is fig


#: the study's figures and the axes each draws on (rows, columns)
STUDY_AXES = {"plot_disorder_accuracy": (1, len(LENGTHS)), "plot_trainability": (1, 2), "plot_trainability_map": (1, 2),
              "plot_landscape": (1, 2), "plot_pruning": (1, 2), "plot_toponet_weights": (3, 3),
              "plot_training_curves": None}


#: the study's figures added after the move from tntopo.plot (plot_comparison: tests/test_study_compare.py takes its ax)
NEVER_IN_PLOT = {"plot_comparison"}


@pytest.mark.parametrize("name", sorted(STUDY_AXES))
def test_study_figures_take_ax_and_return_its_figure(name):
    shape = STUDY_AXES[name]
    fig, axs = plt.subplots(*(shape or (1, 1)))
    assert getattr(figures, name)(_results(), ax=axs) is fig
    if shape and shape[0] == 1:  # a panel short: said plainly, nothing drawn
        fig, axs = plt.subplots(1, shape[1] + 1)
        with pytest.raises(ValueError, match=f"need {shape[1]} axes"):
            getattr(figures, name)(_results(), ax=axs)


def test_study_figures_moved_from_plot_with_a_warning():
    import tntopo.study

    assert set(figures.__all__) == set(STUDY_AXES) | NEVER_IN_PLOT and set(figures.__all__) <= set(tntopo.study.__all__)
    assert not set(figures.__all__) & set(plot.__all__)
    for name in NEVER_IN_PLOT:  # added after the move: tntopo.plot never had them
        assert getattr(tntopo.study, name) is getattr(figures, name)
        with pytest.raises(AttributeError, match=name):
            getattr(plot, name)
    for name in STUDY_AXES:
        assert getattr(tntopo.study, name) is getattr(figures, name)
        with pytest.warns(FutureWarning, match=f"tntopo.plot.{name} has moved to tntopo.study.figures.{name}") as rec:
            old = getattr(plot, name)
        assert old is getattr(figures, name)
        assert rec[0].filename == __file__  # attributed to the reading line
    with pytest.warns(FutureWarning, match="tntopo.study.figures"):
        from tntopo.plot import plot_landscape  # noqa: F401
    with pytest.raises(AttributeError, match="plot_nothing"):
        plot.plot_nothing


def test_plot_does_not_import_the_study():
    """tntopo.plot is a layer below the study (tests/test_imports.py): importing it, and drawing with it, loads
    no tntopo.study module; only reading a moved name does."""
    import subprocess
    import sys

    code = ("import sys, numpy as np, tntopo.plot as p; p.plot_local_marker(np.ones(4)); p.display_name('mlp'); "
            "assert not [m for m in sys.modules if m.startswith('tntopo.study')], 'loaded the study'; "
            "import warnings; warnings.simplefilter('ignore'); p.plot_pruning; "
            "assert 'tntopo.study.figures' in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_phase_diagram_conventions(phase):
    fig = plot.plot_phase_diagram(phase)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "intracell hopping $t_{0} / t_{1}$"
    assert ax.get_ylabel() == "disorder strength $W / t_{1}$"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("gapless" in t for t in legend), "the grey cells need a legend entry"
    assert "twisted-boundary invariant" in ax.get_title() and "twisted," not in ax.get_title()


def test_clipped_markers_are_marked():
    w = np.r_[-6.0, np.ones(12), 5.0]
    ax = plot.plot_local_marker(w, clip=2.0).axes[0]
    marks = [ln for ln in ax.lines if ln.get_marker() in ("^", "v")]
    assert sorted(len(ln.get_xdata()) for ln in marks) == [1, 1]
    assert any("clipped" in t.get_text() for t in ax.get_legend().get_texts())
    assert ax.get_ylim()[0] <= -2 and ax.get_ylim()[1] >= 2
    # no clip: nothing is marked
    ax = plot.plot_local_marker(w).axes[0]
    assert not [ln for ln in ax.lines if ln.get_marker() in ("^", "v")]


def test_trainability_shows_seed_counts_and_error_bars():
    res = _results()
    fig = figures.plot_trainability(res)
    a1, a2 = fig.axes[:2]
    assert a1.get_xlabel() and a2.get_xlabel() and a1.get_xlabel() != a2.get_xlabel()  # one quantity per axis
    assert "learn the invariant" in a1.get_xlabel()
    ticks = [t.get_text() for t in a1.get_yticklabels()]
    assert ticks == [f"{plot.display_name(m)} (n = 5)" for m in MODELS]
    assert "MLP (classifier) (n = 5)" in ticks
    from matplotlib.container import BarContainer

    for a in (a1, a2):
        bars = [c for c in a.containers if isinstance(c, BarContainer)]
        assert bars and all(c.errorbar is not None for c in bars), "bars without error bars"
    # learns_invariant bars with the binomial s.e.; the row without a value reads "n/a"
    (bars,) = [c for c in a1.containers if isinstance(c, BarContainer)]
    known = [m for m in MODELS if res["models"][m]["learns_invariant"] is not None]
    widths = sorted(p.get_width() for p in bars.patches)
    assert widths == pytest.approx(sorted(res["models"][m]["learns_invariant"] for m in known))
    assert [t.get_text() for t in a1.texts] == ["n/a"]
    # the first edition's saturating measure, as hollow markers
    hollow = [ln for ln in a1.lines if ln.get_marker() == "o" and ln.get_markerfacecolor() == "none"]
    assert hollow and len(hollow[0].get_xdata()) == len(MODELS)
    legend = [t.get_text() for leg in fig.legends + [a1.get_legend()] if leg for t in leg.get_texts()]
    assert "validation accuracy >= threshold (first edition, saturates)" in legend
    assert a2.get_legend().get_bbox_to_anchor().x0 >= a2.get_window_extent().x1 - 1  # legend outside the bars


def test_disorder_accuracy_one_panel_per_length_with_the_estimator():
    res = _results()
    fig = figures.plot_disorder_accuracy(res)
    assert len(fig.axes) == len(LENGTHS)
    estimator = "bond estimator (best the input allows)"
    for ax, N in zip(fig.axes, LENGTHS):
        assert str(N) in ax.get_title()
        (est,) = [ln for ln in ax.lines if ln.get_label() == estimator]
        assert est.get_color() in ("k", "black") and est.get_linewidth() > 2
        labels = {ln.get_label() for ln in ax.lines}
        # the MLP rows are "n/a" beyond the first length: not drawn there
        assert ("MLP" in labels) is (N == LENGTHS[0]) and ("MLP (classifier)" in labels) is (N == LENGTHS[0])
        assert {"TopoNet", "majority guess", "exact TopoNet (invariant of the open chain)"} <= labels
    styles = {ln.get_label(): ln for ln in fig.axes[0].lines}
    assert styles["MLP (classifier)"].get_linestyle() == "--" and styles["MLP"].get_linestyle() == "-"
    assert styles["MLP (classifier)"].get_color() == styles["MLP"].get_color()
    legend = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
    assert estimator in legend and "MLP (classifier)" in legend  # rows drawn in any panel are in the legend
    # ax: one per length
    fig2, axs = plt.subplots(1, len(LENGTHS))
    assert figures.plot_disorder_accuracy(res, ax=axs) is fig2
    with pytest.raises(ValueError, match="no disorder section"):
        figures.plot_disorder_accuracy({k: v for k, v in res.items() if k != "disorder"})


def test_disorder_accuracy_bands_are_the_seeds_standard_error():
    res = _results()
    N, m = str(LENGTHS[0]), "topo"
    seeds = {W: [0.5, 0.7, 0.9] for W in STRENGTHS}  # mean 0.7, standard error 0.2 / sqrt(3)
    res["models"][m]["per_seed"]["disorder_accuracy"] = {N: seeds}
    res["disorder"]["by_length"][N]["models"][m] = {W: 0.7 for W in STRENGTHS}
    fig = figures.plot_disorder_accuracy(res)
    ax = fig.axes[0]
    (line,) = [ln for ln in ax.lines if ln.get_label() == "TopoNet"]
    bands = [c for c in ax.collections if matplotlib.colors.to_hex(c.get_facecolor()[0][:3]) ==
             matplotlib.colors.to_hex(line.get_color()) and c.get_paths()]
    assert len(bands) == 1
    ys = bands[0].get_paths()[0].vertices[:, 1]
    assert np.isclose(ys.min(), 0.7 - 0.2 / np.sqrt(3)) and np.isclose(ys.max(), 0.7 + 0.2 / np.sqrt(3))
    assert plot.figure_problems(fig) == []
    # a single seed gives no band (no spread to show), not a zero-width one
    res["models"][m]["per_seed"]["disorder_accuracy"] = {N: {W: [0.7] for W in STRENGTHS}}
    ax = figures.plot_disorder_accuracy(res).axes[0]
    assert not [c for c in ax.collections if matplotlib.colors.to_hex(c.get_facecolor()[0][:3]) ==
                matplotlib.colors.to_hex(line.get_color()) and c.get_paths()]


def test_trainability_map_and_landscape():
    res = _results()
    fig = figures.plot_trainability_map(res)
    panels = [a for a in fig.axes if a.get_label() != "<colorbar>"]
    assert len(panels) == 2 and len(fig.axes) == 3  # one per diversity, one colour bar
    texts = [t.get_text() for t in panels[0].texts]
    assert len(texts) == 4 and any(t.startswith("n/a") for t in texts)
    fig = figures.plot_landscape(res)
    a1, a2 = fig.axes
    assert a1.get_xlabel() == "distance to the exact weights (modulo symmetries)"
    assert any("rho = -0.60" in t.get_text() for t in a1.get_legend().get_texts())
    assert a2.get_xscale() == "log" and a2.get_yscale() == "log"
    for fn, key in ((figures.plot_trainability_map, "trainability_map"), (figures.plot_landscape, "landscape")):
        with pytest.raises(ValueError):
            fn({**res, key: None})


def test_display_name_of_head_rows():
    assert plot.display_name("mlp+ce") == "MLP (classifier)"
    assert plot.display_name("shallow_svd+ce") == "shallow net (SVD-pruned, classifier)"
    assert plot.display_name("topo_ti") == "TopoNet, structured"


@pytest.mark.parametrize("text, bad", [
    ("{0: 0.5, 1: 1}", True), ("'mlp'", True), ("np.float64(0.5)", True), ("x=1", True), ("None", True),
    ("$t_{0} = 0.5,\\ t_{1} = 1$", False), ("TopoNet (n = 20)", False), ("exact invariant", False),
])
def test_repr_detector(text, bad):
    assert plot.looks_like_repr(text) is bad


def test_figure_problems_finds_missing_labels():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="{0: 0.5}")
    ax.legend()
    problems = plot.figure_problems(fig)
    assert any("no x label" in p for p in problems) and any("no y label" in p for p in problems)
    assert any("Python repr" in p for p in problems)


# gallery examples fast enough to run here; the others (learning, a disorder sweep) are checked by
# the same figure_problems in the docs build (docs/_figure_check.py)
FAST_EXAMPLES = ["plot_local_markers.py", "plot_ssh_phase_diagram.py", "plot_tensor_network.py"]


def test_the_docs_build_checks_every_gallery_figure():
    conf = (ROOT / "docs" / "conf.py").read_text()
    assert re.search(r'"image_scrapers": \("_figure_check\.check_figures", "matplotlib"\)', conf)
    assert {p.name for p in EXAMPLES.glob("plot_*.py")} >= set(FAST_EXAMPLES)


@pytest.mark.parametrize("example", FAST_EXAMPLES)
def test_gallery_example_figures(example, monkeypatch, capsys):
    monkeypatch.setattr(plt, "show", lambda *a, **k: None)
    t = time.perf_counter()
    code = (EXAMPLES / example).read_text()
    exec(compile(code, example, "exec"), {"__name__": "__gallery__"})
    assert plt.get_fignums(), f"{example} drew no figure"
    for num in plt.get_fignums():
        assert plot.figure_problems(plt.figure(num)) == [], example
    assert time.perf_counter() - t < 30


def test_figure_problems_finds_series_drawn_alike():
    fig, ax = plt.subplots()
    ax.set(xlabel="epoch", ylabel="accuracy")
    for i in range(12):  # the default cycle has 10 colours: series 0 and 10, 1 and 11 look the same
        ax.plot([0, 1, 2], [i, i + 1, i], label=f"model {i}")
    problems = plot.figure_problems(fig)
    assert len(problems) == 2 and "'model 0', 'model 10'" in problems[0] and "drawn alike" in problems[0]
    fig, ax = plt.subplots()
    ax.set(xlabel="epoch", ylabel="accuracy")
    ax.plot([0, 1], [0, 1], color="C0", label="MLP (regression)")
    ax.plot([0, 1], [1, 0], color="C0", ls="--", label="MLP (classifier)")  # same colour, other style: fine
    ax.errorbar([0, 1], [0.5, 0.5], yerr=0.1, color="C0", label="TopoNet")  # same colour and style as MLP
    problems = plot.figure_problems(fig)
    assert len(problems) == 1 and "'TopoNet', 'MLP (regression)'" in problems[0]


def test_figure_problems_finds_means_without_error_bars():
    fig, ax = plt.subplots()
    ax.set(xlabel="disorder strength", ylabel="accuracy (mean over 5 seeds)")
    ax.plot([0, 1, 2], [0.9, 0.8, 0.7], label="MLP")
    assert any("plots a mean without error bars" in p for p in plot.figure_problems(fig))
    ax.fill_between([0, 1, 2], [0.8, 0.7, 0.6], [1.0, 0.9, 0.8], alpha=0.2)  # a band
    assert plot.figure_problems(fig) == []
    fig, ax = plt.subplots()
    ax.set(xlabel="rank", ylabel="accuracy")
    ax.errorbar([0, 1], [0.5, 0.6], yerr=[0.1, 0.1], label="pruned, mean over seeds")  # error bars
    ax.plot([0, 1], [0.7, 0.7], label="averaged, single seed")  # says why there is no spread
    assert plot.figure_problems(fig) == []
    fig, ax = plt.subplots()  # a map of a mean (no line series) is not a curve without error bars
    ax.imshow(np.ones((3, 3)))
    ax.set(xlabel="x", ylabel="y", title="bulk mean 1.0")
    assert plot.figure_problems(fig) == []


def test_training_curves_give_every_row_its_own_style():
    res = _results()
    extra = {f"net{i}": dict(res["models"]["mlp"], base_model=f"net{i}", head="regression") for i in range(8)}
    res["models"].update(extra)  # more base models than the 10-colour cycle
    for key in ("val_accuracy", "train_loss"):
        fig = figures.plot_training_curves(res, key=key)
        assert plot.figure_problems(fig) == []
        ax = fig.axes[0]
        styles = [(matplotlib.colors.to_hex(l.get_color()), l.get_linestyle()) for l in ax.get_lines()]
        assert len(styles) == len(res["models"]) == len(set(styles))
        assert all(float(t).is_integer() for t in ax.get_xticks())


def test_site_axes_have_integer_ticks():
    fig = plot.plot_local_marker(np.linspace(0, 1, 7))
    assert all(float(t).is_integer() for t in fig.axes[0].get_xticks())
    fig = plot.plot_chern_marker(np.zeros((5, 4)))
    ax = fig.axes[0]
    assert all(float(t).is_integer() for t in list(ax.get_xticks()) + list(ax.get_yticks()))
