"""The second edition's protocol: each metric can come out both ways (tntopo.study.disorder,
counterfactual, trainability, landscape)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tntopo.data import spectra  # noqa: E402
from tntopo import winding_number  # noqa: E402
from tntopo.systems.chain import SSHChain, sample_chains  # noqa: E402
from tntopo.study import counterfactual as cf  # noqa: E402
from tntopo.study import disorder as dis  # noqa: E402
from tntopo.study import landscape as ls  # noqa: E402
from tntopo.study import trainability as tr  # noqa: E402

TI = dict(kernel="translation_invariant", state_weights="rank", window="fixed")


# ------------------------------------------------------------------------------ disorder
def _expected_log(t, W):
    """``E ln|t + W u|``, ``u ~ U[-1/2, 1/2]``, by adaptive quadrature (the log singularity marked)."""
    from scipy.integrate import quad

    if W == 0:
        return float(np.log(abs(t)))
    root = -t / W
    points = [root] if -0.5 < root < 0.5 else None
    return quad(lambda u: np.log(abs(t + W * u)), -0.5, 0.5, points=points, limit=200)[0]


def test_phase_labels_are_the_lyapunov_criterion_and_balanced():
    fam = dis.DisorderFamily()
    for W in (0.0, 2.0, 3.5):
        t0 = fam.sample_t0(W, 40, seed=3)
        d = fam.disorder(W)
        y = dis.phase_label(t0, fam.t1, d[0], d[1])
        # independent route: the Lyapunov criterion E ln|t1 + W1 u| > E ln|t0 + W0 u| by quadrature
        g = np.array([_expected_log(fam.t1, d[1]) - _expected_log(t, d[0]) for t in t0])
        assert np.all(np.abs(g) > 1e-6)  # no sample on the critical line
        assert np.array_equal(y, (g > 0).astype(int))
        assert y.mean() == 0.5  # both sides of the critical line
        # and the physics: a long disordered ring of clearly non-critical samples has that winding number
        clear = np.flatnonzero(np.abs(g) > 0.06)[:6]
        assert len(clear) >= 3
        for i in clear:
            ring = SSHChain({0: t0[i], 1: fam.t1}, n_cells=4000, boundary="periodic", disorder=d, seed=int(i))
            assert winding_number(ring, method="twisted") == y[i]
    with pytest.raises(ValueError, match="no critical t0"):
        fam.critical(5.0)


def test_tai_strength_range_is_where_the_critical_line_exceeds_t1():
    from tntopo import critical_t0

    lo, hi = dis.tai_strength_range()
    assert lo == 0.0 and 3.74 < hi < 3.75
    assert abs(critical_t0(hi) - 1.0) < 1e-8
    inside, outside = np.linspace(0.05, hi - 1e-3, 30), np.linspace(hi + 1e-3, 3.99, 10)
    assert np.all(critical_t0(inside) > 1.0) and np.all(critical_t0(outside) < 1.0)
    # second order: ln t0_c = (r0^2 - r1^2) W^2 / 24 (= W^2 / 32 for the defaults)
    assert abs(np.log(critical_t0(0.1)) / (0.1 ** 2 / 32) - 1) < 1e-2
    assert dis.tai_strength_range(ratios=(0.5, 0.5)) == (0.0, 0.0)  # equal ratios: t0_c = t1 for all W
    fam = dis.DisorderFamily()
    assert not fam.has_tai(0.0) and fam.has_tai(1.0) and fam.has_tai(3.5) and not fam.has_tai(3.9)


def test_tai_samples_are_trivial_when_clean_and_topological_in_the_ensemble():
    from tntopo.invariants.winding.exact import bloch_winding

    fam = dis.DisorderFamily()
    for W, n_tai in ((0.0, 0), (1.0, 4), (2.5, 4), (3.5, 4), (3.9, 0)):
        s = dis.disorder_set(W, 12, 16, seed=2, features=False, open_invariant=False)
        assert s.tai.sum() == n_tai and s.label.mean() == 0.5  # share 1/2 of the 8 topological samples
        assert np.array_equal(s.clean_label, [bloch_winding({0: t, 1: 1.0}) for t in s.t0])
        if n_tai:
            tc = fam.critical(W)
            assert np.all((s.t0[s.tai] > 1.0) & (s.t0[s.tai] < tc))
            assert np.all(s.clean_label[s.tai] == 0) and np.all(s.label[s.tai] == 1)
        # outside the TAI samples the clean chain and the ensemble agree (the second edition's family)
        assert np.array_equal(s.clean_label[~s.tai], s.label[~s.tai])
    none = dis.disorder_set(2.5, 12, 16, family=dis.DisorderFamily(tai_share=0.0), seed=2, features=False,
                            open_invariant=False)
    assert not none.tai.any() and np.array_equal(none.clean_label, none.label)
    with pytest.raises(ValueError, match="tai_share"):
        dis.DisorderFamily(tai_share=1.5)
    with pytest.raises(ValueError, match="tai_window"):
        dis.DisorderFamily(tai_window=(0.5, 1.0))


def _quad_gap(t0, t1, W0, W1):
    """E ln|t1 + W1 u| - E ln|t0 + W0 u| by adaptive quadrature (independent of the closed form)."""
    from scipy.integrate import quad

    def e(a, b):
        pts = [-a / b] if abs(a / b) < 0.5 else None
        return quad(lambda u: np.log(abs(a + b * u)), -0.5, 0.5, points=pts, limit=200)[0]
    return e(t1, W1) - e(t0, W0)


def test_tai_labels_agree_with_quadrature_and_long_rings():
    # independent routes to the phase of each TAI ensemble: (1) the Lyapunov gap by adaptive quadrature,
    # (2) the certified twisted-boundary winding of long disordered rings of the ensemble
    # (20000 cells: the gap times sqrt(N) over the bond spread is >= 7 for these samples)
    from tntopo.systems.chain import SSHChain
    from tntopo.invariants.winding.exact import twisted_winding

    fam = dis.DisorderFamily()
    for W in (2.5, 3.0):
        s = dis.disorder_set(W, 12, 8, seed=5, features=False, open_invariant=False)
        d = fam.disorder(W)
        q = np.array([_quad_gap(t, 1.0, d[0], d[1]) for t in s.t0])
        assert np.allclose(q, s.lyapunov_gap, atol=1e-8) and np.array_equal(q > 0, s.label == 1)
        picks = [int(i) for i in np.flatnonzero(s.tai)] + [1]  # the TAI samples and a trivial one
        for i in picks:
            rings = [twisted_winding(SSHChain({0: s.t0[i], 1: 1.0}, 20000, boundary="periodic", disorder=d,
                                              seed=1000 * i + r)) for r in range(3)]
            assert rings == [s.label[i]] * 3, (W, i, s.t0[i], rings)


def test_estimator_converges_to_the_phase_label_and_fails_on_short_chains():
    long = dis.disorder_set(3.5, 400, 40, seed=1, features=False, open_invariant=False)
    short = dis.disorder_set(3.5, 12, 200, seed=1, features=False, open_invariant=False)
    # TAI samples at W = 3.5 have Lyapunov gaps 0.02-0.07 (localization lengths 15-50 cells): 400 cells
    # do not always suffice there; the deep samples converge
    assert long.tai.sum() == 10 and np.mean(long.estimator[~long.tai] == long.label[~long.tai]) >= 0.95
    assert np.mean(short.estimator == short.label) < 0.95  # a short sample does not determine the phase
    assert np.mean(short.majority == short.label) == 0.5


def test_bond_estimator_reads_the_bonds():
    from tntopo.systems.chain import SSHChain

    h_topo = SSHChain({0: 0.3, 1: 1.0}, 10).hopping_block()
    h_triv = SSHChain({0: 1.0, 1: 0.3}, 10).hopping_block()
    assert dis.bond_estimator(np.stack([h_topo, h_triv])).tolist() == [1, 0]
    with pytest.raises(ValueError, match="nearest-neighbour"):
        dis.bond_estimator(sample_chains(1, 10, (-1, 0, 1, 2), seed=0).hopping_blocks())


def test_clean_end_inside_training_distribution_is_checked():
    info = dis.check_clean_end(dis.DisorderFamily(), min_gap=0.5)
    assert info["min_gap_found"] >= 0.5 and info["max_hopping"] <= 1.0
    with pytest.raises(ValueError, match="out of the training distribution"):
        dis.check_clean_end(dis.DisorderFamily(delta_range=(0.1, 0.3)), min_gap=0.4)


def test_old_protocol_ring_labels_disagree_with_the_phase_under_disorder():
    r = dis.old_protocol_agreement((0.0, 2.5), n_samples=40, open_invariant=False)
    assert r["ring_label"]["0"] == 1.0
    assert r["ring_label"]["2.5"] < 0.95
    assert r["topological_fraction"]["2.5"] == 1.0  # every chain of the old W = 2.5 set is topological


def test_disorder_scores_report_na_and_accuracies():
    sets = dis.disorder_sets((0.0, 2.0), (12, 24), 8, seed=0)
    res = dis.disorder_scores(sets, predict={"const": lambda x: np.zeros(len(x), int),
                                             "fixed24": lambda x: None if x.shape[1] != 48 else np.ones(len(x), int)})
    row = res["by_length"]["12"]
    assert row["models"]["const"]["2"] == 0.5 and row["models"]["fixed24"]["2"] == "n/a"
    assert row["open_invariant_accuracy"]["0"] == 1.0 and row["estimator_accuracy"]["0"] == 1.0
    assert sets[12][0.0].x.shape == (8, 24, 24)
    # accuracies on the TAI samples apart: none at W = 0, two of the 8 chains at W = 2
    tai = row["tai"]
    assert tai["count"] == {"0": 0, "2": 2}
    assert tai["models"]["const"] == {"0": "n/a", "2": 0.0} and tai["models"]["fixed24"]["2"] == "n/a"
    assert tai["clean_label_accuracy"]["2"] == 0.0 and tai["estimator_accuracy"]["0"] == "n/a"


def test_disorder_set_is_an_eval_set_with_its_arrays_in_aux(tmp_path):
    from tntopo.data import EvalSet, load_eval_sets, save_eval_sets

    s = dis.disorder_set(2.5, 12, 8, seed=3)
    assert isinstance(s, EvalSet) and len(s) == 8 and s.x.shape == (8, 24, 24)
    assert sorted(s.aux) == ["estimator", "lyapunov_gap", "majority", "t0", "tai"]
    assert s.w_open is s.w_real and s.estimator is s.aux["estimator"] and s.tai.dtype == bool
    assert s.W == 2.5 and s.family == dis.DisorderFamily() and s.clean_label.dtype == np.int64
    save_eval_sets({"d": s}, tmp_path / "d.h5")
    back = load_eval_sets(tmp_path / "d.h5")["d"]
    assert type(back) is EvalSet and np.array_equal(back.w_real, s.w_open) and back.n_cells == 12
    assert all(np.array_equal(back.aux[k], s.aux[k]) for k in s.aux)
    with pytest.raises(ValueError, match="tai and clean_label"):
        dis.DisorderSet(s.x, s.label, s.w_real, 12, W=2.5, estimator=s.estimator, majority=s.majority, t0=s.t0,
                        lyapunov_gap=s.lyapunov_gap, tai=s.tai[:3])
    with pytest.raises(TypeError, match="estimator"):
        dis.DisorderSet(s.x, s.label, s.w_real, 12, W=2.5, estimators=s.estimator, majority=s.majority, t0=s.t0,
                        lyapunov_gap=s.lyapunov_gap)


# ------------------------------------------------------------------------------ counterfactual
@pytest.fixture(scope="module")
def clean_test():
    b = sample_chains(120, 16, (-1, 0, 1, 2), windings=(0, 1), min_gap=0.4, seed=11)
    E, psi = spectra(b.hopping_blocks())
    return psi.astype(np.float32), E, b.bloch_windings()


@pytest.fixture(scope="module")
def cf_set():
    return cf.counterfactual_set(36, 16, min_gap=0.4, seed=0)


def test_leak_detector_flags_old_ablation_and_passes_fixed_one(clean_test):
    x, E, y = clean_test
    old = cf.ablate_in_gap(x, E, 0.2)
    t_old = cf.leak_test(old, y)
    assert t_old["leaks"] and t_old["literal_zero_columns_half"] == 1.0
    new = cf.ablate_fixed(x, 2)
    t_new = cf.leak_test(new, y)
    assert not t_new["leaks"] and t_new["max_excess"] <= 0.05
    assert (cf.shape_statistics(new)["zero_columns"] == 2).all()


def test_edge_proxy_is_good_on_clean_chains_and_fooled_by_counterfactuals(clean_test, cf_set):
    x, _, y = clean_test
    assert np.mean(cf.edge_proxy_predict(x) == y) > 0.85
    assert np.mean(cf.edge_proxy_predict(cf_set.x) == cf_set.label) < 0.2
    assert cf_set.x.shape[1:] == x.shape[1:]  # same kind and shape as training inputs


def test_counterfactual_labels_verified_independently(cf_set):
    assert set(np.unique(cf_set.family)) == set(cf.FAMILIES)
    assert np.array_equal(cf_set.checks["bloch"], cf_set.label)
    assert all(v == 1.0 for v in cf.verify_labels(cf_set).values())
    assert 0.4 <= cf_set.label.mean() <= 0.6


# ------------------------------------------------------------------------------ trainability
class _Const(torch.nn.Module):
    def __init__(self, value=0.0):
        super().__init__()
        self.c = torch.nn.Parameter(torch.tensor(float(value)))

    def forward(self, x):
        return self.c.expand(x.shape[0])


@pytest.fixture(scope="module")
def sets16():
    return tr.protocol_sets(16, (0, 1), ranges=(-1, 0, 1, 2), n_train=32, n_val=16, n_unseen=32, n_long=16,
                            n_counterfactual=18, seed=0)


def test_learns_invariant_both_ways(sets16):
    from tntopo.nn import TopoNet

    exact_ti = TopoNet(16, init="exact", **TI)
    r = tr.seed_report(exact_ti, sets16)
    assert r["learns_invariant"] is True and r["long"] == 1.0
    full = tr.seed_report(TopoNet(16, init="exact"), sets16)
    assert full["long"] == tr.NA and "long" not in full["applicable"] and full["learns_invariant"] is True
    const = tr.seed_report(_Const(0.0), sets16)
    assert const["learns_invariant"] is False
    assert tr.learns_invariant([r, full, const]) == pytest.approx(2 / 3)
    assert tr.learns_invariant([{"learns_invariant": None}]) is None


def test_trainability_map_exact_vs_random_without_training():
    res = tr.trainability_map(
        tr.toponet_factory(**TI), n_cells=(16,), inits=({"kind": "exact", "eps": 0.0}, {"kind": "random", "scale": 1.0}),
        diversities=((0, 1),), seeds=2, train_fn=lambda *a, **k: None,
        data=dict(ranges=(-1, 0, 1, 2), n_train=8, n_val=8, n_unseen=24, n_long=8, n_counterfactual=12))
    li = {c["init"]: c["learns_invariant"] for c in res["cells"]}
    assert li == {"exact(eps=0)": 1.0, "random(scale=1)": 0.0}
    import json

    json.dumps(res)


def test_default_train_adapter_and_initialize(sets16):
    m = tr.initialize(tr.toponet_factory(**TI), 16, 0, {"kind": "exact", "eps": 0.1})
    e = tr.initialize(tr.toponet_factory(**TI), 16, 0, {"kind": "exact", "eps": 0.0})
    assert not torch.allclose(m.params["S"], e.params["S"])
    tr.default_train(m, sets16["train"], sets16["val"], epochs=1, lr=1e-3, seed=0, batch_size=16)
    with pytest.raises(ValueError, match="unknown init"):
        tr.initialize(tr.toponet_factory(), 16, 0, {"kind": "zeros"})


# ------------------------------------------------------------------------------ landscape
@pytest.fixture(scope="module")
def batch16():
    b = sample_chains(80, 16, (-1, 0, 1, 2), windings=(0, 1), min_gap=0.4, seed=5)
    return spectra(b.hopping_blocks())[1], b.bloch_windings()


def test_distance_modulo_symmetries(batch16):
    from tntopo.nn import TopoNet

    ex = TopoNet(16, init="exact", dtype=torch.float64, **TI)
    moved = TopoNet(16, init="exact", dtype=torch.float64, **TI)
    with torch.no_grad():
        moved.params["S"].mul_(-2.0)
        moved.params["X"].div_(4.0)
        n = moved.params["S"].numel()
        moved.params["S"].add_(0.3 * torch.ones(n))  # chiral-even shift: dead direction
    x = torch.as_tensor(batch16[0])
    assert torch.allclose(moved(x), ex(x), atol=1e-9)  # same function
    d = ls.distance_to_exact(moved, ex)
    assert d["distance"] < 1e-6 and d["distance_raw"] > 0.3
    far = ls.distance_to_exact(TopoNet(16, init="random", seed=1, dtype=torch.float64, **TI), ex)
    assert far["distance"] > 0.3


def test_symmetries_and_hessian_at_exact(batch16):
    from tntopo.nn import TopoNet

    x, y = batch16
    ex = TopoNet(16, init="exact", dtype=torch.float64, **TI)
    ns = ls.jacobian_null_space(ex, x)
    assert ns["explained"]["scale"] == 1 and ns["explained"]["chiral_even"] == ex.n_bins // 2
    assert ns["n_null"] >= ns["n_explained"] and ns["rank"] + ns["n_null"] == ns["n_parameters"]
    assert ls.effective_parameters(ex, x) <= ns["n_parameters"]
    h = ls.loss_hessian(ex, x, y)
    assert h["loss"] < 0.05 and h["n_zero"] >= ns["n_explained"]
    g = ls.gradient_norms(tr.toponet_factory(**TI), (8, 16), seeds=2, n_batch=16)
    assert len(g["median"]) == 2 and all(v > 0 for v in g["median"])


def test_effective_parameters_matches_the_learning_stack_definition(batch16):
    training = pytest.importorskip("tntopo.nn.training")
    if not hasattr(training, "effective_parameters"):
        pytest.skip("tntopo.nn.training.effective_parameters not available")
    from tntopo.nn import TopoNet

    ex = TopoNet(8, init="exact", dtype=torch.float64, **TI)
    b = sample_chains(12, 8, (-1, 0, 1, 2), windings=(0, 1), min_gap=0.4, seed=2)
    x = torch.as_tensor(spectra(b.hopping_blocks())[1])
    assert ls.effective_parameters(ex, x) == training.effective_parameters(ex, x)


def test_landscape_batch_holds_more_chains_than_parameters():
    from tntopo.study.landscape import landscape_report
    from tntopo.study.trainability import toponet_factory

    fac = toponet_factory(kernel="translation_invariant", state_weights="rank", window="fixed")
    rep = landscape_report(fac, 8, seeds=1, epochs=1, grad_n_cells=(8,), data={"n_unseen": 8, "n_long": 4,
                                                                              "n_counterfactual": 12, "n_val": 8})
    P = rep["symmetries"]["n_parameters"]
    assert rep["n_jacobian"] == P + 64 and rep["rank_bounded_by_batch"] is False
    # an explicit small batch is flagged: its ranks say more about the batch than the model
    small = landscape_report(fac, 8, seeds=0, epochs=1, n_jacobian=4, grad_n_cells=(8,),
                             data={"n_unseen": 8, "n_long": 4, "n_counterfactual": 12, "n_val": 8})
    assert small["rank_bounded_by_batch"] is True and small["symmetries"]["n_null"] >= P - 4
