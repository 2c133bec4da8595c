"""The evaluation sets of the Chern study (issue 22): determinism, labels against independent routes,
counterfactuals that really disagree with the edge proxy (and controls that agree), TAI samples,
the well-posed input, bad arguments."""
import numpy as np
import pytest

from tntopo import Lattice2D
from tntopo.invariants.chern.api import bott_index, chern_number
from tntopo.invariants.chern.exact import fhs_chern
from tntopo.parallel import task_seed
from tntopo.study import chern_sets as cs
from tntopo.systems import lattice_layout, layout_channels, layout_hamiltonian

pytestmark = pytest.mark.usefixtures("one_thread")

R = 2
ND = 2 * R + 1


def _bulk_lattice(x, shape, boundary="periodic"):
    """The clean bulk read off a layout's central cell: ``<r|H|r + d>`` for every ``d`` of the stencil.

    The label must be the Chern number of this lattice: an independent route from the input itself.
    """
    L = x.shape[-1]
    c = L // 2
    xr = np.asarray(x, np.float64).reshape(2, ND, ND, 2, 2, L, L)[..., c, c]
    B = xr[0] + 1j * xr[1]
    hops = {}
    for hx in range(0, R + 1):
        for hy in range(-R, R + 1):
            if (hx, hy) > (0, 0) and np.any(B[R + hx, R + hy] != 0):
                hops[(hx, hy)] = B[R + hx, R + hy].conj().T  # <r + h|H|r> = <r|H|r + h>^dag
    return Lattice2D(B[R, R], hops, shape, boundary)


@pytest.fixture(scope="module")
def train():
    return cs.chern_clean_set(24, 8, (-1, 0, 1), seed=3)


@pytest.fixture(scope="module")
def unseen():
    return cs.chern_clean_set(8, 8, (-3, -2, 2, 3), seed=4)


@pytest.fixture(scope="module")
def counterfactual():
    return cs.chern_counterfactual_set(16, 8, seed=5), cs.chern_matched_controls(16, 8, seed=5)


# ----------------------------------------------------------------------------- shapes and determinism
def test_clean_set_shapes_balance_and_aux(train):
    assert train.x.shape == (24, layout_channels(2, 2), 8, 8) and train.x.dtype == np.float32
    assert train.label.dtype == np.int64 and train.w_real.dtype == np.float64 and train.n_cells == 8
    labels, counts = np.unique(train.label, return_counts=True)
    assert labels.tolist() == [-1, 0, 1] and counts.tolist() == [8, 8, 8]
    for c in (-1, 0, 1):  # every sector split over the three families
        fam = train.aux["family"][train.label == c]
        assert sorted(set(fam)) == ["haldane", "qwz", "random"]
    assert np.all(train.aux["gap"] >= cs.DEFAULT_MIN_GAP)
    np.testing.assert_array_equal(train.aux["quantized"], np.abs(train.w_real - train.label) < 0.25)


def test_same_seed_same_bytes_other_seed_other_set(train):
    again = cs.chern_clean_set(24, 8, (-1, 0, 1), seed=3)
    assert again.x.tobytes() == train.x.tobytes() and again.w_real.tobytes() == train.w_real.tobytes()
    np.testing.assert_array_equal(again.label, train.label)
    np.testing.assert_array_equal(again.aux["family"], train.aux["family"])
    other = cs.chern_clean_set(24, 8, (-1, 0, 1), seed=4)
    assert other.x.tobytes() != train.x.tobytes()


def test_counterfactual_sets_are_deterministic(counterfactual):
    cf, ctrl = counterfactual
    cf2 = cs.chern_counterfactual_set(16, 8, seed=5)
    assert cf2.x.tobytes() == cf.x.tobytes() and cf2.w_real.tobytes() == cf.w_real.tobytes()
    np.testing.assert_array_equal(cf2.aux["edge_proxy"], cf.aux["edge_proxy"])


def test_unseen_sectors_come_from_the_random_family(unseen):
    assert sorted(set(unseen.label.tolist())) == [-3, -2, 2, 3]
    assert set(unseen.aux["family"]) == {"random"}


# ----------------------------------------------------------------------------- the input is well posed
def test_input_is_the_layout_of_the_sample_and_w_real_its_marker(train):
    for i in range(0, 24, 5):
        H = layout_hamiltonian(train.x[i].astype(np.float64), 2, 2)
        geo = Lattice2D(np.zeros((2, 2)), {}, (8, 8))
        assert np.allclose(H, H.conj().T, atol=0)  # a Hermitian H, to the last bit
        w = chern_number(H, "marker", lattice=geo, warn=False)
        assert abs(w - train.w_real[i]) < 1e-10


@pytest.mark.parametrize("boundary", ["open", "periodic"])
def test_fast_layout_equals_the_library_layout(boundary):
    rng = np.random.default_rng(0)
    lats = [Lattice2D.qwz(1.3, (8, 8), boundary), Lattice2D.haldane(1.0, 0.3, -2.0, 0.4, (9, 8), boundary),
            Lattice2D.qwz(2.3, (8, 8), boundary, disorder=4.0, seed=2)]
    lats += [cs._draw_random(rng, c, 0.4, (8, 8), boundary)[0] for c in (-3, 0, 2)]
    for lat in lats:
        np.testing.assert_array_equal(cs._lattice_layout_fast(lat, 2), lattice_layout(lat, 2, dtype=np.float64))


def test_a_1e_12_perturbation_of_H_moves_the_input_by_at_most_1e_6(train, counterfactual):
    rng = np.random.default_rng(1)
    samples = [train.x[i] for i in range(4)] + [counterfactual[0].x[i] for i in range(4)]
    for x in samples:
        H = layout_hamiltonian(x.astype(np.float64), 2, 2)
        dH = rng.normal(size=H.shape) * (H != 0)
        dH = 1e-12 * (dH + dH.T) / 2
        x2 = lattice_layout(H + dH, 2, shape=(8, 8), n_orb=2, dtype=np.float32)
        assert np.abs(x2.astype(np.float64) - x.astype(np.float64)).max() <= 1e-6


# ----------------------------------------------------------------------------- labels: independent routes
def test_clean_labels_against_bott_on_a_torus_and_the_marker_of_a_larger_sample(train, unseen):
    for s, n_torus, n_open in ((train, 12, 16), (unseen, 16, 20)):
        for i in range(len(s)):
            torus = _bulk_lattice(s.x[i], (n_torus, n_torus))
            assert bott_index(torus) == s.label[i]
            assert fhs_chern(torus) == s.label[i]
        for i in range(0, len(s), 6):
            big = _bulk_lattice(s.x[i], (n_open, n_open), "open")
            assert abs(chern_number(big, "marker", warn=False) - s.label[i]) < 0.25


def test_clean_labels_against_pythtb(train, unseen):
    pythtb = pytest.importorskip("pythtb")
    if not (hasattr(pythtb, "tb_model") and hasattr(pythtb, "wf_array")):
        pytest.skip("this test uses the pythtb 1.x API (tb_model, wf_array)")
    for s in (train, unseen):
        for i in range(0, len(s), 4):
            lat = _bulk_lattice(s.x[i], (8, 8))
            model = pythtb.tb_model(2, 2, [[1.0, 0.0], [0.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]])
            model.set_onsite([lat.onsite[0, 0].real, lat.onsite[1, 1].real])
            if lat.onsite[0, 1] != 0:
                model.set_hop(lat.onsite[0, 1], 0, 1, [0, 0])
            for (dx, dy), T in lat.hoppings.items():
                for a in range(2):
                    for b in range(2):
                        if T[a, b] != 0:  # <a, r + d|H|b, r> = T_ab  ->  pythtb <a, 0|H|b, -d>
                            model.set_hop(T[a, b], a, b, [-dx, -dy], mode="add")
            wf = pythtb.wf_array(model, [31, 31])
            wf.solve_on_grid([0.0, 0.0])
            # pythtb's Berry phase has the opposite orientation of tntopo's FHS (tests/test_chern.py)
            assert np.isclose(wf.berry_flux([0]) / (2 * np.pi), -s.label[i], atol=1e-6)


def test_random_family_is_built_from_explicit_hoppings_within_the_stencil():
    rng = np.random.default_rng(7)
    for c in (-3, -2, 2, 3):
        lat = cs._draw_random(rng, c, 0.4, (8, 8), "open")[0]
        assert all(max(abs(d[0]), abs(d[1])) <= 2 for d in lat.hoppings)
        assert any(max(abs(d[0]), abs(d[1])) == 2 for d in lat.hoppings)  # longer-range hoppings are there
        k = np.linspace(0, 2 * np.pi, 13)
        KX, KY = np.meshgrid(k, k, indexing="ij")
        E = np.moveaxis(np.linalg.eigvalsh(lat.bloch(KX, KY)), -1, 0)
        kk = 2 * np.pi * np.arange(48) / 48  # the FFT route of the gap check on its own grid
        KX, KY = np.meshgrid(kk, kk, indexing="ij")
        np.testing.assert_allclose(cs._band_energies(lat), np.moveaxis(np.linalg.eigvalsh(lat.bloch(KX, KY)), -1, 0),
                                   atol=1e-12)
        assert E.shape[0] == 2


def test_acceptance_rates_are_recorded():
    cs.family_acceptance(reset=True)
    cs.chern_clean_set(6, 8, (-2, 0, 2), seed=0)
    acc = cs.family_acceptance()
    # sector 0: two samples over three families; sectors +-2: the random family only
    assert set(acc) == {"random/-2", "random/2", "qwz/0", "haldane/0"}
    for v in acc.values():
        assert 0 < v["rate"] <= 1 and v["accepted"] >= 1


# ----------------------------------------------------------------------------- counterfactuals and the proxy
def test_proxy_reads_the_chiral_edge_of_clean_open_samples():
    for lat, c in ((Lattice2D.qwz(1.0, (8, 8)), 1), (Lattice2D.qwz(-1.0, (8, 8)), -1), (Lattice2D.qwz(3.0, (8, 8)), 0),
                   (Lattice2D.haldane(1.0, 0.2, 1.5, 0.3, (8, 8)), -1), (Lattice2D.haldane(1.0, 0.2, -1.5, 0.3, (8, 8)), 1),
                   (Lattice2D.qwz(1.0, (8, 8), "periodic"), 0)):
        assert fhs_chern(lat) == c or lat.is_periodic
        assert cs.edge_proxy_predict_2d(lattice_layout(lat, 2), window=0.4)[0] == c


def test_counterfactuals_disagree_with_the_proxy_and_controls_agree_for_the_stated_reason(counterfactual):
    cf, ctrl = counterfactual
    assert sorted(set(cf.aux["family"])) == ["decorated", "torus"]
    assert sorted(set(ctrl.aux["family"])) == ["decorated/control", "torus/control"]
    np.testing.assert_array_equal(cf.aux["edge_proxy"], cs.edge_proxy_predict_2d(cf.x, window=cs.DEFAULT_MIN_GAP))
    assert np.mean(cf.aux["edge_proxy"] != cf.label) == 1.0
    assert np.mean(ctrl.aux["edge_proxy"] == ctrl.label) == 1.0
    for s in (cf, ctrl):
        f = cs.edge_proxy_features_2d(s.x, window=cs.DEFAULT_MIN_GAP)
        torus = np.char.startswith(s.aux["family"], "torus")
        # a torus has no edge and no state in the bulk gap: the proxy reads 0
        assert np.all(f["n_in_gap"][torus] == 0) and np.all(s.aux["edge_proxy"][torus] == 0)
        # a decorated boundary puts states in the gap, on the outer ring
        assert np.all(f["n_in_gap"][~torus] > 0) and np.all(f["ring_weight"][~torus] > 0.5)
        for i in range(len(s)):  # the bulk (read off the central cell) carries the label
            assert fhs_chern(_bulk_lattice(s.x[i], (8, 8))) == s.label[i] == s.aux["fhs"][i]
    assert set(cf.label[np.char.startswith(cf.aux["family"], "torus")]) == {-1, 1}
    assert set(cf.label[cf.aux["family"] == "decorated"]) == {0}
    assert set(ctrl.label[ctrl.aux["family"] == "torus/control"]) == {0}
    assert set(ctrl.label[ctrl.aux["family"] == "decorated/control"]) == {-1, 1}
    # the decorated samples' marker still reads the bulk: the decoration stays at the edge
    dec = cf.aux["family"] == "decorated"
    assert np.mean(np.abs(cf.w_real[dec]) < 0.25) == 1.0


def test_decorated_pairs_carry_the_same_decoration(counterfactual):
    dec = cs._decoration(task_seed(1, 23, 1, 0, 0))
    lat0, lat1 = Lattice2D.qwz(3.0, (8, 8)), Lattice2D.qwz(1.0, (8, 8))
    d0 = cs._decorate(lat0, dec) - lat0.hamiltonian()
    d1 = cs._decorate(lat1, dec) - lat1.hamiltonian()
    ring = np.zeros((8, 8), bool)
    ring[[0, -1], :] = ring[:, [0, -1]] = True
    inner = np.repeat(~ring.ravel(), 2)
    assert np.all(d0[np.ix_(inner, inner)] == 0)  # the bulk is untouched
    offdiag = ~np.kron(np.eye(64, dtype=bool), np.ones((2, 2), bool))
    np.testing.assert_allclose(d0[offdiag], d1[offdiag])  # the same chain hoppings on both bulks


# ----------------------------------------------------------------------------- disorder
def test_ensemble_symmetry_m_to_minus_m():
    """``H(-m, eps) = -U H(m, -eps) U^dag``: the Bott index of ``-m`` is minus that of ``m`` with ``-eps``."""
    shape = (10, 10)
    for m, W, s in ((1.0, 2.0, 0), (2.3, 4.5, 1)):
        lat = Lattice2D.qwz(m, shape, "periodic", disorder=W, seed=s)
        eps = np.repeat(lat.onsite_energies.ravel(), 2)
        Hm = Lattice2D.qwz(-m, shape, "periodic").hamiltonian() + np.diag(eps)
        Hp = Lattice2D.qwz(m, shape, "periodic").hamiltonian() - np.diag(eps)
        x, y = np.divmod(np.arange(100), 10)
        U = np.repeat((-1.0) ** (x + y), 2)
        np.testing.assert_allclose(Hm, -(U[:, None] * Hp * U[None, :]), atol=1e-14)
        assert bott_index(Hm, lattice=lat) == -bott_index(Hp, lattice=lat)


def test_tai_samples_are_trivial_when_clean_and_topological_in_the_ensemble():
    d = cs.chern_disorder_set(5.0, 8, 6, seed=0, ensemble_shape=(12, 12), n_realizations=4, m_grid=(2.2,))
    assert np.all(d.aux["tai"])
    for m, y in zip(d.aux["m"], d.label):
        assert fhs_chern(Lattice2D.qwz(float(m), (8, 8))) == 0  # trivial when clean
        assert y == np.sign(m)  # topological in the ensemble
    mean, sem, failed = cs._ensemble(2.2, 5.0, (12, 12), 4, int(task_seed(0, 32).generate_state(1)[0]))
    assert mean >= 0.5 and failed < 4
    np.testing.assert_allclose(np.abs(d.aux["ensemble_mean"]), mean)


def test_disorder_set_labels_and_estimators():
    d = cs.chern_disorder_set(1.0, 8, 8, seed=2, ensemble_shape=(10, 10), n_realizations=3, m_grid=(1.0, 3.0))
    assert sorted(set(d.aux["m"].tolist())) == [-3.0, -1.0, 1.0, 3.0]
    np.testing.assert_array_equal(d.label, np.where(np.abs(d.aux["m"]) < 2, np.sign(d.aux["m"]), 0))
    np.testing.assert_array_equal(d.aux["estimator"], np.round(d.w_real))
    assert np.all(d.aux["determined"]) and not np.any(d.aux["tai"])
    assert set(d.aux["majority"].tolist()) <= {-1, 0, 1} and len(set(d.aux["majority"].tolist())) == 1
    again = cs.chern_disorder_set(1.0, 8, 8, seed=2, ensemble_shape=(10, 10), n_realizations=3, m_grid=(1.0, 3.0))
    assert again.x.tobytes() == d.x.tobytes()
    # the input is the open disordered sample of the stated seed
    i = 0
    lat = Lattice2D.qwz(float(d.aux["m"][i]), (8, 8), "open", disorder=1.0, seed=task_seed(2, 31, 1000, i))
    np.testing.assert_array_equal(d.x[i], lattice_layout(lat, 2))


def test_disorder_set_is_the_same_for_any_executor():
    kw = dict(seed=3, ensemble_shape=(8, 8), n_realizations=3, m_grid=(1.0, 2.5))
    a = cs.chern_disorder_set(4.0, 8, 4, executor="serial", **kw)
    b = cs.chern_disorder_set(4.0, 8, 4, executor="thread", **kw)
    for k in ("ensemble_mean", "ensemble_sem", "ensemble_failed", "determined"):
        np.testing.assert_array_equal(a.aux[k], b.aux[k])
    assert a.x.tobytes() == b.x.tobytes() and a.w_real.tobytes() == b.w_real.tobytes()


def test_undetermined_points_are_flagged():
    # a grid point at the transition: the ensemble mean is near 1/2 or its realizations uncertified
    d = cs.chern_disorder_set(4.0, 8, 4, seed=0, ensemble_shape=(10, 10), n_realizations=4, m_grid=(2.5,))
    assert np.all(d.aux["determined"] == ((d.aux["ensemble_failed"] <= 2)
                                          & (np.abs(d.aux["ensemble_mean"] - d.label) + 2 * d.aux["ensemble_sem"] < 0.5)))


# ----------------------------------------------------------------------------- all sets
def test_build_chern_sets_names_shapes_and_storage(tmp_path):
    from tntopo.data.evalsets import load_eval_sets, save_eval_sets

    sets = cs.build_chern_sets(seed=0, L=8, n_train=6, n_val=3, n_test=3, n_size=3, n_unseen=4, n_counterfactual=4,
                               disorder_strengths=(1.0,), n_disorder=4, min_gap=0.4, size_Ls=(10,),
                               ensemble_shape=(10, 10), n_realizations=2, m_grid=(1.0, 3.0))
    assert set(sets) == {"train", "val", "test", "size", "size/L10", "unseen", "counterfactual",
                         "counterfactual_control", "disorder/L8/W1"}
    assert sets["size"] is sets["size/L10"] and sets["size"].n_cells == 10 and sets["size"].x.shape[-1] == 10
    assert sets["train"].x.tobytes() != sets["test"].x.tobytes()
    save_eval_sets(sets, tmp_path / "chern.h5")
    back = load_eval_sets(tmp_path / "chern.h5")
    for name, s in sets.items():
        assert back[name].x.tobytes() == s.x.tobytes() and back[name].n_cells == s.n_cells
        for k, v in s.aux.items():
            np.testing.assert_array_equal(back[name].aux[k], v)


def test_an_interrupted_build_resumes_from_its_checkpoint_with_the_same_bytes(tmp_path, monkeypatch):
    kw = dict(seed=0, L=8, n_train=4, n_val=2, n_test=2, n_size=2, n_unseen=2, n_counterfactual=2,
              disorder_strengths=(1.0,), n_disorder=2, min_gap=0.4, size_Ls=(10,), ensemble_shape=(10, 10),
              n_realizations=2, m_grid=(1.0, 3.0))
    ref = cs.build_chern_sets(**kw)
    real, real_clean = cs.chern_counterfactual_set, cs.chern_clean_set

    def killed(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cs, "chern_counterfactual_set", killed)  # interrupted after train .. unseen
    with pytest.raises(KeyboardInterrupt):
        cs.build_chern_sets(**kw, checkpoint=tmp_path)
    saved = sorted(p.name for p in tmp_path.iterdir())
    assert saved == ["size__L10.h5", "test.h5", "train.h5", "unseen.h5", "val.h5"]
    monkeypatch.setattr(cs, "chern_clean_set", killed)  # the finished sets are read back, not rebuilt
    monkeypatch.setattr(cs, "chern_counterfactual_set", real)
    back = cs.build_chern_sets(**kw, checkpoint=tmp_path)
    assert set(back) == set(ref) and back["size"] is back["size/L10"]
    for name, s in ref.items():
        assert back[name].x.tobytes() == s.x.tobytes() and back[name].label.tobytes() == s.label.tobytes()
        assert back[name].w_real.tobytes() == s.w_real.tobytes()
        for k, v in s.aux.items():
            np.testing.assert_array_equal(back[name].aux[k], v)
    (tmp_path / "train.h5").write_bytes(b"not hdf5")  # a damaged part is rebuilt
    monkeypatch.setattr(cs, "chern_clean_set", real_clean)
    again = cs.build_chern_sets(**kw, checkpoint=tmp_path)
    assert again["train"].x.tobytes() == ref["train"].x.tobytes()


# ----------------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize("kwargs, match", [
    (dict(n=0), "n must be"), (dict(L=4), "too small"), (dict(cherns=(2,), families=("qwz",)), "reaches"),
    (dict(families=("bogus",)), "unknown families"), (dict(min_gap=1.5), "min_gap"), (dict(seed=-1), "seed"),
    (dict(cherns=(1, 1)), "repeated"), (dict(boundary="twisted"), "boundary"), (dict(stencil=1), "stencil"),
])
def test_clean_set_bad_arguments(kwargs, match):
    args = dict(n=3, L=8, cherns=(0, 1), seed=0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        cs.chern_clean_set(args.pop("n"), args.pop("L"), args.pop("cherns"), **args)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_train=0), "n_train"), (dict(n_disorder=-1), "n_disorder"), (dict(size_Ls=()), "size_Ls"),
    (dict(size_Ls=(4,)), "too small"), (dict(disorder_strengths=(-1.0,)), "disorder_strengths"),
    (dict(unseen_cherns=(5,)), "reaches"), (dict(min_gap=0), "min_gap"),
])
def test_build_bad_arguments(kwargs, match):
    args = dict(seed=0, L=8, n_train=3, n_val=3, n_test=3, n_size=3, n_unseen=4, n_counterfactual=4,
                disorder_strengths=(1.0,), n_disorder=4, min_gap=0.4)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        cs.build_chern_sets(**args)


def test_other_bad_arguments():
    with pytest.raises(TypeError, match="valid"):
        cs.chern_clean_set(3, 8, (0,), seed=0, bogus=1)
    with pytest.raises(ValueError, match="counterfactual families"):
        cs.chern_counterfactual_set(4, 8, seed=0, cf_families=("torus/control",))
    with pytest.raises(ValueError, match="W must be"):
        cs.chern_disorder_set(-1.0, 8, 4, seed=0)
    with pytest.raises(ValueError, match="m = 2"):
        cs.chern_disorder_set(1.0, 8, 4, seed=0, m_grid=(2.0,))
    with pytest.raises(ValueError, match="ensemble_shape"):
        cs.chern_disorder_set(1.0, 8, 4, seed=0, ensemble_shape=(3,))
    with pytest.raises(ValueError, match="layouts must have shape"):
        cs.edge_proxy_predict_2d(np.zeros((2, 7, 8, 8)))
    with pytest.raises(ValueError, match="window"):
        cs.edge_proxy_predict_2d(np.zeros((200, 8, 8)), window=0)
