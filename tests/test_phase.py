"""Phase diagrams, the exact boundary of the disordered SSH chain, and the topological Anderson insulator."""
import contextlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

import tntopo
from tntopo import SSHChain, disorder_average, disorder_sweep, phase_diagram, winding_number
from tntopo.invariants.winding.ensemble import (
    analytic_winding,
    critical_t0,
    expected_log_abs,
    lyapunov_gap,
    point_from_params,
)

TAI_HOP, TAI_DIS = {0: 1.1, 1: 1.0}, {0: 2.5, 1: 1.25}


def _quad_log(a, b):
    if b == 0:
        return np.log(abs(a))
    pts = [-a / b] if abs(a / b) < 0.5 else None
    return quad(lambda u: np.log(abs(a + b * u)), -0.5, 0.5, points=pts, limit=200)[0]


@settings(max_examples=30, deadline=None)
@given(a=st.floats(-3, 3).filter(lambda a: abs(a) > 1e-3), b=st.floats(0, 5))
def test_expected_log_abs_matches_quadrature(a, b):
    assert expected_log_abs(a, b) == pytest.approx(_quad_log(a, b), abs=1e-7)


def test_expected_log_abs_special_values():
    assert expected_log_abs(0.0, 1.0) == pytest.approx(np.log(0.5) - 1)
    assert expected_log_abs(2.0, 0.0) == pytest.approx(np.log(2.0))
    assert expected_log_abs(2.0, 1e-12) == pytest.approx(np.log(2.0))
    assert expected_log_abs(-1.3, 0.7) == pytest.approx(expected_log_abs(1.3, 0.7))
    out = expected_log_abs(np.array([0.5, 1.0]), np.array([[0.0], [1.0]]))
    assert out.shape == (2, 2)


def test_critical_t0():
    assert critical_t0(0.0) == pytest.approx(1.0)
    for W in (1.0, 2.5, 3.5):
        tc = critical_t0(W)
        assert lyapunov_gap(tc, 1.0, W, W / 2) == pytest.approx(0.0, abs=1e-10)
    assert critical_t0(2.5) > 1.1  # the TAI point lies inside the topological region
    assert np.isnan(critical_t0(6.0))  # strong disorder: trivial for every t0
    np.testing.assert_allclose(critical_t0(np.array([0.0, 1.0])), [critical_t0(0.0), critical_t0(1.0)])


def test_tai_analytic_and_numerical():
    assert winding_number(SSHChain(TAI_HOP, 100), method="bloch") == 0  # clean: trivial
    assert analytic_winding(1.1, 1.0) == 0
    assert analytic_winding(1.1, 1.0, 2.5, 1.25) == 1  # disorder makes it topological
    # exact per-realization integers on rings
    res = disorder_average(TAI_HOP, TAI_DIS, n_cells=300, n_realizations=12, method="twisted",
                           executor="serial", progress=False)
    assert res.mean == 1.0 and res.count == 12
    # and the real-space routes on open chains (bulk average, close to 1 but not exactly quantized)
    for method in ("dense", "local"):
        ch = SSHChain(TAI_HOP, 500, disorder=TAI_DIS, seed=4)
        with _no_gapless_warnings():
            assert winding_number(ch, method=method) == pytest.approx(1.0, abs=0.15)


@contextlib.contextmanager
def _no_gapless_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tntopo.GaplessWarning)
        yield


@pytest.fixture(scope="module")
def small_diagram():
    t0 = np.array([0.3, 0.7, 1.1, 1.5, 1.9])
    W = np.array([0.0, 1.0, 2.5, 4.5])
    return phase_diagram(t0, W, n_cells=200, n_realizations=4, executor="serial", progress=False)


def test_phase_diagram_matches_the_boundary(small_diagram):
    pd = small_diagram
    assert pd.mean.shape == (4, 5) and not pd.failed and pd.is_nearest_neighbour
    assert pd.agreement(margin=0.05) == 1.0
    np.testing.assert_array_equal(pd.analytic()[2], [1, 1, 1, 0, 0])  # W = 2.5: TAI at t0 = 1.1
    assert pd.mean[2, 2] == 1.0  # the TAI point shows up
    assert pd.mean[0, 2] == 0.0  # ... and is trivial without disorder
    assert (pd.mean[3] == 0).all()  # strong disorder: Anderson insulator, trivial


def test_phase_diagram_other_parameters():
    pd = phase_diagram([0.0, 1.0], [0.5, 2.0], x_param="W0", y_param="t0", hoppings={1: 1.0},
                       disorder={1: 0.3}, n_cells=100, n_realizations=2, executor="serial", progress=False)
    h, d = pd.sweep.points[3]
    assert h == {0: 2.0, 1: 1.0} and d == {0: 1.0, 1: 0.3}
    np.testing.assert_array_equal(pd.mean, pd.analytic())


def test_phase_diagram_resumes_from_store(tmp_path):
    kw = dict(n_cells=80, n_realizations=3, executor="serial", progress=False, store=tmp_path)
    a = phase_diagram([0.5, 1.5], [0.0, 2.0], **kw)
    b = phase_diagram([0.5, 1.5], [0.0, 2.0], **kw)
    assert b.sweep.n_computed == 0 and a.mean.tobytes() == b.mean.tobytes()
    a.save(tmp_path / "pd.json")
    assert json.loads((tmp_path / "pd.json").read_text())["x"] == [0.5, 1.5]


def test_phase_diagram_independent_realizations():
    """common_random_numbers=False: each grid point draws its own realizations (same values
    under the same seed, different from the shared draw, and from each other)."""
    kw = dict(x_param="t0", y_param="W", n_cells=60, n_realizations=3, executor="serial", progress=False)
    x, y = [0.9, 0.9], [2.0]  # two identical points: equal under CRN, independent otherwise
    crn = phase_diagram(x, y, **kw)
    ind = phase_diagram(x, y, common_random_numbers=False, **kw)
    again = phase_diagram(x, y, common_random_numbers=False, **kw)
    np.testing.assert_array_equal(crn.sweep.values[0], crn.sweep.values[1])
    np.testing.assert_array_equal(ind.sweep.values, again.sweep.values)
    assert ind.sweep.values.shape == (2, 3) and ind.mean.shape == (1, 2)
    # the realizations themselves: chains seeded per point differ from each other
    from tntopo.parallel import task_seed
    from tntopo.invariants.winding.ensemble import point_seed

    chains = [SSHChain({0: 0.9, 1: 1.0}, 60, "periodic", {0: 2.0, 1: 1.0}, task_seed(point_seed(0, i), 0))
              for i in range(2)]
    assert not np.array_equal(chains[0].bond_array, chains[1].bond_array)
    for i, ch in enumerate(chains):
        assert winding_number(ch, method="twisted") == ind.sweep.values[i, 0]
    with pytest.raises(ValueError, match="common_random_numbers"):
        phase_diagram(x, y, common_random_numbers="no", **kw)


def test_phase_functions_reject_unknown_keywords():
    with pytest.raises(TypeError, match="valid keywords"):
        phase_diagram([1.0], [1.0], n_cell=60)
    with pytest.raises(TypeError, match=r"local= is inapplicable.*tol="):  # not a route option of the twisted method
        phase_diagram([1.0], [1.0], n_cells=60, n_realizations=1, executor="serial", progress=False,
                      local=tntopo.LocalOptions(tol=1e-3))
    # the former keyword: a FutureWarning naming the replacement, then the same TypeError
    with pytest.warns(FutureWarning, match=r"phase_diagram\(\): the keyword tol= is deprecated: pass "
                      r"local=tntopo.LocalOptions\(tol=0.001\)"), pytest.raises(TypeError, match="tol="):
        phase_diagram([1.0], [1.0], n_cells=60, n_realizations=1, executor="serial", progress=False, tol=1e-3)
    with pytest.raises(TypeError, match="valid keywords"):
        critical_t0(1.0, t_1=1.0)
    with pytest.raises(TypeError, match="valid keywords"):
        analytic_winding(0.5, 1.0, w0=1.0)


def test_phase_helpers_are_public():
    from tntopo.invariants.winding import ensemble

    for name in ("critical_t0", "analytic_winding", "lyapunov_gap", "phase_diagram"):
        assert getattr(tntopo, name) is getattr(ensemble, name) and name in tntopo.__all__
    assert {"PhaseDiagram", "point_seed", "point_from_params", "expected_log_abs"} <= set(ensemble.__all__)


_OLD_PHASE_PATH = r"""
import sys, warnings
warnings.simplefilter("always")
import tntopo
with warnings.catch_warnings(record=True) as caught:
    from tntopo.phase import PhaseDiagram, critical_t0, phase_diagram, point_seed
fw = [w for w in caught if issubclass(w.category, FutureWarning)]
assert len(fw) == 1 and str(fw[0].message).startswith(
    "tntopo.phase has moved to tntopo.invariants.winding.ensemble"), [str(w.message) for w in caught]
assert fw[0].filename == "<string>", fw[0].filename  # the importing line
from tntopo.invariants.winding import ensemble
assert sys.modules["tntopo.phase"] is ensemble and PhaseDiagram is ensemble.PhaseDiagram
assert critical_t0 is tntopo.critical_t0 and phase_diagram is tntopo.phase_diagram and point_seed is ensemble.point_seed
with warnings.catch_warnings(record=True) as caught:
    assert tntopo.phase is ensemble  # read as an attribute: no second warning once imported
print("ok")
"""


def test_old_module_path_tntopo_phase_imports_with_a_future_warning():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _OLD_PHASE_PATH], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
    # read as an attribute first (no import statement): the same warning, attributed to the reading line
    code = ("import warnings; warnings.simplefilter('always'); import tntopo\n"
            "with warnings.catch_warnings(record=True) as c:\n    mod = tntopo.phase\n"
            "assert mod.__name__ == 'tntopo.invariants.winding.ensemble', mod\n"
            "assert [str(w.message).split(':')[0] for w in c] == "
            "['tntopo.phase has moved to tntopo.invariants.winding.ensemble'], c\n"
            "assert c[0].filename == '<string>'\nprint('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


def test_point_from_params():
    assert point_from_params({"t0": 0.3, "W": 2.0}, {0: 1, 1: 1}, {0: 1.0, 1: 0.5}) == ({0: 0.3, 1: 1}, {0: 2.0, 1: 1.0})
    assert point_from_params({"t1": 2.0, "W0": 0.5}, {0: 1}, {1: 0.2}) == ({0: 1, 1: 2.0}, {1: 0.2, 0: 0.5})
    for bad in ("x", "t", "Wx", "t0.5"):
        with pytest.raises(ValueError, match="parameter"):
            point_from_params({bad: 1.0}, {0: 1}, {})


@pytest.mark.parametrize(
    "x, y, msg",
    [
        ([0.1, np.nan], [1.0], "x contains NaN"),
        ([0.1], [1.0, np.inf], "y contains NaN or inf"),
        ([], [1.0], "non-empty"),
        ([[0.1, 0.2]], [1.0], "1D"),
        (["a"], [1.0], "numbers"),
    ],
)
def test_bad_grids(x, y, msg):
    with pytest.raises(ValueError, match=msg):
        phase_diagram(x, y, n_cells=60, n_realizations=2, executor="serial", progress=False)


def test_bad_phase_settings():
    with pytest.raises(ValueError, match="n_realizations"):
        phase_diagram([1.0], [1.0], n_cells=60, n_realizations=0, executor="serial", progress=False)
    with pytest.raises(ValueError, match="different"):
        phase_diagram([1.0], [1.0], x_param="W", y_param="W", executor="serial", progress=False)


def test_plot_phase_diagram(small_diagram):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tntopo.plot import plot_local_marker, plot_phase_diagram

    fig = plot_phase_diagram(small_diagram, mark=[(1.1, 2.5, "TAI")])
    ax = fig.axes[0]
    # the axis labels name the parameters (plain "t0" or a mathtext form "... $t_{0} ...$")
    assert "t0" in ax.get_xlabel() or "t_{0}" in ax.get_xlabel()
    assert "W" in ax.get_ylabel()
    assert any("analytic" in t.get_text() for t in ax.get_legend().get_texts())
    fig2, ax2 = plt.subplots()
    assert plot_phase_diagram(small_diagram, ax=ax2, colorbar=False) is fig2
    fig3 = plot_local_marker(np.ones(10), winding=1.0, label="w")
    assert "marker" in fig3.axes[0].get_ylabel() and "w(n)" in fig3.axes[0].get_ylabel()
    plt.close("all")


def test_cli_phase_diagram(tmp_path, capsys):
    from tntopo.cli import main

    out, data = tmp_path / "pd.png", tmp_path / "pd.json"
    rc = main(["phase-diagram", "--x", "0.5,1.5", "--y", "0:2.5:2", "--quick", "--executor", "serial",
               "--quiet", "--out", str(out), "--data", str(data)])
    assert rc == 0 and out.stat().st_size > 0 and json.loads(data.read_text())["y"] == [0.0, 2.5]
    assert "agreement" in capsys.readouterr().out
    assert main(["phase-diagram", "--x", "0:1", "--quiet", "--out", str(out)]) == 2  # bad grid: one-line error
    assert "START:STOP:NUM" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["phase-diagram", "--help"])
    assert e.value.code == 0


def test_phase_diagram_save_load_roundtrip_and_repr(tmp_path):
    from tntopo.invariants.winding.ensemble import PhaseDiagram, SweepResult

    pd = tntopo.phase_diagram([0.5, 1.5], [0.0, 1.0, 2.0], hoppings={0: 1.0, 1: 1.0 + 0.0j}, n_cells=30,
                              n_realizations=3, executor="serial", progress=False)
    pd.save(tmp_path / "pd.json")
    back = PhaseDiagram.load(tmp_path / "pd.json")
    for name in ("x", "y", "mean", "std", "sem"):
        assert np.array_equal(getattr(back, name), getattr(pd, name), equal_nan=True), name
    assert np.array_equal(back.sweep.values, pd.sweep.values, equal_nan=True)
    assert (back.x_param, back.y_param, back.hoppings, back.disorder) == (pd.x_param, pd.y_param, pd.hoppings,
                                                                          pd.disorder)
    assert back.agreement() == pd.agreement() and back.sweep.points == pd.sweep.points
    assert back.to_dict() == pd.to_dict()
    pd.sweep.save(tmp_path / "sw.json")
    assert SweepResult.load(tmp_path / "sw.json").to_dict() == pd.sweep.to_dict()
    with pytest.raises(ValueError, match="does not hold a PhaseDiagram"):
        PhaseDiagram.load(tmp_path / "sw.json")
    (tmp_path / "bad.json").write_text('{"x": [1]}')
    with pytest.raises(ValueError, match="not a saved PhaseDiagram"):
        PhaseDiagram.load(tmp_path / "bad.json")
    r = repr(pd)  # Jupyter shows this: a summary, no array dump
    assert r.startswith("PhaseDiagram(t0 x W: 2 x 3 grid") and "array" not in r and len(r) < 200


def test_local_options_reach_every_realization():
    """phase_diagram passes local= to disorder_sweep (and so to winding_number) unchanged: the same
    values as the sweep of the same points, and other values with another buffer."""
    opts = tntopo.LocalOptions(buffer=6, check=False)
    kw = dict(n_cells=80, n_realizations=2, boundary="open", method="local", executor="serial", progress=False)
    pd = phase_diagram([0.6], [1.0], local=opts, **kw)
    pts = [({0: 0.6, 1: 1.0}, {0: 1.0, 1: 0.5})]
    sweep = disorder_sweep(pts, 80, 2, boundary="open", method="local", local=opts, executor="serial")
    np.testing.assert_array_equal(pd.sweep.values, sweep.values)
    other = phase_diagram([0.6], [1.0], local=tntopo.LocalOptions(buffer=2, check=False), **kw)
    assert not np.array_equal(other.sweep.values, pd.sweep.values)


#: written by ``PhaseDiagram.save`` of ``tntopo.phase`` before the module moved (issue 20; see
#: tests/data/README.md for the command)
SAVED_BEFORE_THE_MOVE = Path(__file__).resolve().parent / "data" / "phase_diagram_tntopo_phase.json"


def test_phase_diagram_files_saved_before_the_move_still_load():
    from tntopo.invariants.winding.ensemble import PhaseDiagram

    raw = json.loads(SAVED_BEFORE_THE_MOVE.read_text())
    assert raw["kind"] == "PhaseDiagram"
    back = PhaseDiagram.load(SAVED_BEFORE_THE_MOVE)
    sw = back.sweep
    # recomputed now from the settings the file records: the same realizations, the same means
    fresh = phase_diagram(back.x, back.y, x_param=back.x_param, y_param=back.y_param, hoppings=back.hoppings,
                          disorder=back.disorder, n_cells=sw.n_cells, n_realizations=sw.n_realizations,
                          boundary=sw.boundary, method=sw.method, seed=sw.seed, executor="serial", progress=False)
    assert back.mean.shape == (len(back.y), len(back.x)) == (2, 3)
    np.testing.assert_array_equal(back.sweep.values, fresh.sweep.values)
    np.testing.assert_array_equal(back.mean, fresh.mean)
    assert back.sweep.points == fresh.sweep.points and back.agreement() == fresh.agreement()
    assert back.to_dict() == fresh.to_dict()
