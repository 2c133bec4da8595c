"""Counterfactual chains, matched controls, the cap-width dose-response and their label checks
(tntopo.study.counterfactual)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from tntopo.systems.chain import ChainBatch  # noqa: E402
from tntopo.data import wavefunctions  # noqa: E402
from tntopo.data.features import input_winding  # noqa: E402
from tntopo.errors import GaplessWarning  # noqa: E402
from tntopo.invariants import winding_number  # noqa: E402
from tntopo.nn import TopoNet  # noqa: E402
from tntopo.study import counterfactual as cf  # noqa: E402

N = 16


@pytest.fixture(scope="module")
def cfs():
    return cf.counterfactual_set(36, N, seed=0)


@pytest.fixture(scope="module")
def ctrl():
    return cf.matched_controls(36, N, seed=0)


@pytest.fixture(scope="module")
def dose():
    return cf.capped_dose_response(40, N, (1, 2, 3), seed=0)


def _exact(s):
    net = TopoNet(s.n_cells, init="exact", dtype=torch.float64)
    with torch.no_grad():
        return net(torch.from_numpy(s.x.astype(np.float64))).numpy()


def _persymmetric(h):
    return np.allclose(h, np.flip(np.swapaxes(h, -1, -2), axis=(-1, -2)), rtol=0, atol=0)


# ------------------------------------------------------------------------------ counterfactuals and controls
def test_proxy_disagrees_on_counterfactuals_and_agrees_on_controls(cfs, ctrl):
    assert set(np.unique(cfs.family)) == set(cf.FAMILIES)
    assert set(np.unique(ctrl.family)) == {f + cf.CONTROL for f in cf.FAMILIES}
    assert (cf.edge_proxy_predict(cfs.x) != cfs.label).all()
    assert (cf.edge_proxy_predict(ctrl.x) == ctrl.label).all()
    assert np.array_equal(cfs.checks["edge_proxy"], cf.edge_proxy_predict(cfs.x))
    for f in cf.FAMILIES:  # matched: as many controls as counterfactuals, the control labels of the family
        c = ctrl.subset(f + cf.CONTROL)
        assert len(c) == len(cfs.subset(f))
        assert set(np.unique(c.label)) == set(cf.CONTROL_LABELS[f])
        assert (cfs.subset(f).label == cf.FAMILIES[f]).all()


def test_labels_certified_by_independent_routes(cfs, ctrl):
    for s in (cfs, ctrl):
        assert np.array_equal(s.checks["bloch"], s.label)
        assert all(v == 1.0 for v in cf.verify_labels(s).values())
        ring = np.array([f.startswith("ring") for f in s.family])
        assert np.array_equal(s.checks["twisted"][ring], s.label[ring])
        cap = np.array([f.startswith("capped") for f in s.family])
        want = 0 if s is cfs else s.label[cap]
        assert np.array_equal(s.checks["cap_bloch"][cap], np.broadcast_to(want, cap.sum()))
    # the recomputed route can fail: wrong labels are not confirmed
    bad = cfs.subset("capped")
    bad.blocks = bad.blocks.copy()
    bad.label = 1 - bad.label
    assert cf.verify_labels(bad)["capped"] == 0.0


def test_selection_does_not_use_any_marker(monkeypatch, cfs):
    """The same chains are kept when every real-space diagnostic is replaced by garbage."""
    def garbage(h, ring, twisted):
        return {k: np.full(len(h), 7.0) for k in ("window_row", "window_column", "inner_row", "inner_column",
                                                  "realspace", "ring_marker")}

    monkeypatch.setattr(cf, "_diagnostics", garbage)
    again = cf.counterfactual_set(36, N, seed=0)
    assert np.array_equal(again.blocks, cfs.blocks) and np.array_equal(again.label, cfs.label)
    assert (again.checks["realspace"] == 7.0).all()


def test_realspace_diagnostic_is_the_exact_toponet_and_can_fail(cfs, dose):
    open_ = np.array([not f.startswith("ring") for f in cfs.family])
    with pytest.warns(GaplessWarning):  # short chains with cut sites or caps: not quantized everywhere
        dense = np.asarray(winding_number(cfs.blocks[open_], method="dense"), float)
    assert np.allclose(cfs.checks["realspace"][open_], dense, atol=1e-10)
    # the exact network computes the marker of its input; it differs from the chain's dense number only by
    # the zero-mode convention of tntopo.data.features (grouped zero modes carry no Q_AB term)
    assert np.allclose(_exact(cfs), input_winding(wavefunctions(cfs.blocks)), atol=1e-6)
    assert np.allclose(_exact(cfs)[open_], dense, atol=1e-2)
    # at the widest cap that fits 16 cells the exact network is not right by construction
    wide = dose[3]
    acc = np.mean(np.round(_exact(wide)) == wide.label)
    assert acc < 1.0
    assert np.mean(np.abs(wide.checks["realspace"] - wide.label) < 0.25) < 0.9


def test_anchoring_independent_labels(cfs, ctrl, dose):
    """Every open construction is persymmetric, so row- and column-anchored markers agree on the bulk window."""
    for s in (cfs, ctrl, *dose.values()):
        open_ = np.array([not f.startswith("ring") for f in s.family])
        assert _persymmetric(s.blocks[open_])
        for k in ("window", "inner"):
            assert np.allclose(s.checks[k + "_row"], s.checks[k + "_column"], atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(width=st.integers(1, 3), seed=st.integers(0, 2**16), ranges=st.sampled_from([(0, 1), (-1, 0, 1, 2), (-2, 0, 3)]))
def test_caps_keep_the_mirror_and_the_bulk_region(width, seed, ranges):
    rng = np.random.default_rng(seed)
    bulk, caps = (ChainBatch(rng.uniform(-1, 1, (2, len(ranges))), ranges, N, "open", None, seed).hopping_blocks()
                  for _ in range(2))
    h = cf._capped(bulk, caps, width)
    assert _persymmetric(h)
    changed = np.argwhere((h != bulk).any(axis=0))
    inside = (changed < width).all(axis=1) | (changed >= N - width).all(axis=1)
    assert inside.all()  # only bonds with both ends in a cap
    assert np.array_equal(h[:, width:N - width, :], bulk[:, width:N - width, :])  # the bulk region is untouched
    assert np.array_equal(h[:, :, width:N - width], bulk[:, :, width:N - width])


def test_reproducible_and_labels_in_sets(cfs):
    again = cf.counterfactual_set(36, N, seed=0)
    assert again.x.tobytes() == cfs.x.tobytes() and list(again.family) == list(cfs.family)
    assert cfs.drawn["dangling"] >= len(cfs.subset("dangling"))
    table = cf.label_checks(cfs)
    assert table["ring"]["twisted"] == 1.0 and table["capped"]["edge_proxy"] == 0.0
    assert "twisted" not in table["capped"] and "ring_marker" in table["ring"]


def test_sets_are_eval_sets_stored_as_such(cfs, dose, tmp_path):
    # one class does the evaluation-set job: a counterfactual set is an EvalSet whose aux holds what the
    # study stores (the proxy, the families, the near-degenerate chains), saved and read back as one
    from tntopo.data import EvalSet, load_eval_sets, save_eval_sets
    from tntopo.data.features import near_degenerate

    for s in (cfs, dose[2]):
        assert isinstance(s, EvalSet) and sorted(s.aux) == ["edge_proxy", "family", "near_degenerate"]
        assert np.array_equal(s.w_real, input_winding(s.x.astype(np.float64)))
        assert np.array_equal(s.aux["edge_proxy"], cf.edge_proxy_predict(s.x))
        assert np.array_equal(s.aux["near_degenerate"], near_degenerate(s.blocks))
        assert s.family is s.aux["family"] and s.aux["edge_proxy"].dtype == np.int64
    sub = cfs.subset("ring")
    m = cfs.family == "ring"
    assert np.array_equal(sub.w_real, cfs.w_real[m]) and np.array_equal(sub.aux["near_degenerate"],
                                                                        cfs.aux["near_degenerate"][m])
    assert repr(sub).startswith(f"CounterfactualSet({m.sum()} samples")
    save_eval_sets({"cf": cfs}, tmp_path / "s.h5")
    back = load_eval_sets(tmp_path / "s.h5")["cf"]
    assert type(back) is EvalSet and back.x.tobytes() == cfs.x.tobytes()
    assert np.array_equal(back.w_real, cfs.w_real) and sorted(back.aux) == sorted(cfs.aux)
    assert all(np.array_equal(back.aux[k], cfs.aux[k]) for k in cfs.aux)
    with pytest.raises(TypeError, match="families"):
        cf.CounterfactualSet(cfs.x, cfs.label, cfs.w_real, N, families=cfs.family, blocks=cfs.blocks,
                             checks=cfs.checks, near_degenerate=cfs.aux["near_degenerate"])


def test_errors():
    with pytest.raises(ValueError, match="unknown counterfactual families"):
        cf.counterfactual_set(4, N, families=("loop",))
    with pytest.raises(ValueError, match="control=True"):
        cf.counterfactual_set(4, N, families=("ring/control",))
    with pytest.raises(ValueError, match="n_cells >= 20"):
        cf.counterfactual_set(4, N, families=("capped",), cap=4)
    with pytest.raises(TypeError, match="valid keywords"):
        cf.counterfactual_set(4, N, controls=True)
    with pytest.raises(ValueError, match=r"width=4 does not fit .* n_cells >= 20"):
        cf.capped_dose_response(4, N, (1, 4))
    with pytest.raises(ValueError, match="distinct"):
        cf.capped_dose_response(4, N, (2, 2))


# ------------------------------------------------------------------------------ dose-response
def test_dose_response_same_chains_every_width_and_proxy_flips(dose):
    c = N // 2
    for w, s in dose.items():
        assert s.cap == w and (s.label == 1).all() and (s.checks["cap_bloch"] == 0).all()
        assert np.array_equal(s.blocks[:, 3:N - 3, 3:N - 3], dose[1].blocks[:, 3:N - 3, 3:N - 3])
        assert np.array_equal(s.blocks[:, c], dose[3].blocks[:, c])
    table = cf.dose_response_table(dose, {w: np.ones(len(s)) for w, s in dose.items()})
    # the proxy reads the interface states on the outer cells of narrow caps only
    assert table["1"]["proxy_topological"] > 0.75 > 0.25 > table["3"]["proxy_topological"]
    assert table["3"]["accuracy"] == 1.0 and table["3"]["agrees_with_proxy"] == table["3"]["proxy_topological"]
    with pytest.raises(ValueError, match="no entry for cap width 2"):
        cf.dose_response_table(dose, {1: np.ones(40)})


def test_dose_response_controls_carry_both_labels():
    d = cf.capped_dose_response(8, N, (1, 3), control=True, seed=1)
    for s in d.values():
        assert s.label.tolist() == [0] * 4 + [1] * 4
        assert np.array_equal(s.checks["cap_bloch"], s.label.astype(float))
        assert set(s.family) == {"capped/control"}


# ------------------------------------------------------------------------------ well-posed input
def test_features_are_functions_of_h(cfs, ctrl, dose):
    """A 1e-12 perturbation of the nonzero bonds moves every set's input by <= 1e-6 (rings: exact +-k pairs;
    cut sites: an exact zero-mode pair; caps: interface modes)."""
    from tntopo.data.features import near_degenerate

    rng = np.random.default_rng(0)
    for s in (cfs, ctrl, dose[1], dose[3]):
        h = s.blocks
        moved = h + 1e-12 * rng.uniform(-1, 1, h.shape) * (h != 0)
        assert np.abs(wavefunctions(moved) - wavefunctions(h)).max() <= 1e-6
        assert np.abs(cf._features(moved) - s.x).max() <= 1e-6
    degenerate = near_degenerate(cfs.blocks) > 0
    for f in ("ring", "dangling"):  # the cases the canonical basis is for are really in the sets
        assert degenerate[cfs.family == f].all()
