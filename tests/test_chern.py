"""Chern numbers: FHS, Bott index, dense and local markers agree; properties; bad input."""
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tntopo
from tntopo import ChernLocalOptions as CLO
from tntopo import GaplessError, GaplessWarning, Lattice2D, chern_number, local_chern_marker
from tntopo.invariants.chern import bott_index, fhs_chern, reference_chern_marker
from tntopo.invariants.chern.ensemble import chern_phase_diagram

SLOW = os.environ.get("TNTOPO_SLOW", "0") not in ("", "0")
N_EX = int(os.environ.get("TNTOPO_HYPOTHESIS_EXAMPLES", "6"))


def _bulk(c):
    Lx, Ly = c.shape
    return c[Lx // 4: Lx - Lx // 4, Ly // 4: Ly - Ly // 4].mean()


@pytest.mark.parametrize("m, C", [(-3.0, 0), (-1.4, -1), (-0.6, -1), (0.6, 1), (1.0, 1), (1.4, 1), (2.6, 0)])
def test_qwz_all_methods_agree(m, C):
    lat = Lattice2D.qwz(m, (14, 14))
    assert fhs_chern(lat) == C
    assert chern_number(lat) == C  # auto -> fhs
    assert chern_number(lat.with_boundary("periodic"), "bott") == C
    with warnings.catch_warnings():
        warnings.simplefilter("error", GaplessWarning)
        assert abs(chern_number(lat, "marker") - C) < 0.1


def test_qwz_local_route_agrees():
    lat = Lattice2D.qwz(1.0, (30, 30))
    c = chern_number(lat, "local", local=CLO(buffer=6), region=(slice(13, 17), slice(13, 17)))
    assert abs(c - 1) < 1e-2


T2 = 0.2


@pytest.mark.parametrize("phi", [np.pi / 2, -np.pi / 2, 2.0, -1.0])
@pytest.mark.parametrize("frac", [0.5, -0.5, 1.6])
def test_haldane_both_signs_both_sides(phi, frac):
    t2 = T2 if abs(np.cos(phi)) < 0.5 else 0.1  # keep a global gap at E = 0
    Mc = 3 * np.sqrt(3) * t2 * abs(np.sin(phi))
    lat = Lattice2D.haldane(1.0, t2, phi, frac * Mc, (12, 12))
    C = 0 if abs(frac) > 1 else -int(np.sign(t2 * np.sin(phi)))
    assert fhs_chern(lat) == C
    assert bott_index(lat.with_boundary("periodic")) == C
    if phi in (np.pi / 2, -np.pi / 2):
        assert abs(chern_number(lat, "marker", warn=False) - C) < 0.15


def test_bott_equals_marker_on_gapped_disordered_samples():
    lats = [Lattice2D.qwz(1.0, (14, 14), disorder=1.5, seed=s) for s in range(3)]
    bott = chern_number([s.with_boundary("periodic") for s in lats], "bott")
    marker = chern_number(lats, "marker", warn=False)
    assert list(bott) == [1, 1, 1]
    assert np.all(np.abs(marker - bott) < 0.15)
    triv = [Lattice2D.qwz(3.0, (12, 12), boundary="periodic", disorder=1.5, seed=s) for s in range(2)]
    assert list(chern_number(triv)) == [0, 0]  # auto -> bott


def test_batched_marker_equals_naive_and_arrays():
    lats = [Lattice2D.qwz(0.8, (6, 7), disorder=2.0, seed=s) for s in range(4)]
    H = np.stack([s.hamiltonian() for s in lats])
    ref = reference_chern_marker(H, lats[0])
    assert np.allclose(local_chern_marker(lats, warn=False), ref, atol=1e-10)
    assert np.allclose(local_chern_marker(H, lattice=lats[0], warn=False), ref, atol=1e-10)
    assert np.allclose(local_chern_marker(lats[1], warn=False), ref[1], atol=1e-10)
    assert local_chern_marker(H, lattice=lats[0], warn=False).shape == (4, 6, 7)


def test_occupied_contraction_equals_projector_network():
    # the eigenvector ring (stacked matmuls, P never formed) = the P X P Y P triangle, with samples of
    # different occupations, an empty one, real eigenvectors (zero marker) and a single matrix
    from tntopo.tn.chern import contract_chern_marker, contract_chern_marker_occupied, contract_chern_marker_rows

    rng = np.random.default_rng(0)
    n = 18
    A = rng.normal(size=(4, n, n)) + 1j * rng.normal(size=(4, n, n))
    E, V = np.linalg.eigh(A + np.conj(np.swapaxes(A, 1, 2)))
    occ = np.array([9, 5, 0, 13])
    x, y = rng.normal(size=n) * 3, rng.normal(size=n) * 3 + 7
    P = np.stack([V[b][:, :k] @ V[b][:, :k].conj().T for b, k in enumerate(occ)])
    ref = contract_chern_marker(P, x, y)
    got = contract_chern_marker_occupied(V, occ, x, y)
    assert np.allclose(got, ref, atol=1e-10) and np.all(got[2] == 0)
    assert np.allclose(contract_chern_marker_occupied(V[0], 9, x, y), ref[0], atol=1e-10)
    Vr = np.linalg.eigh(A.real + np.swapaxes(A.real, 1, 2))[1]
    assert np.all(contract_chern_marker_occupied(Vr, occ, x, y) == 0)
    # the row layout, zero-padded to the largest occupation
    U = np.zeros((4, 13, n), dtype=complex)
    for b, k in enumerate(occ):
        U[b, :k] = V[b][:, :k].conj().T
    assert np.allclose(contract_chern_marker_rows(U, x, y), ref, atol=1e-10)


def test_eigh_occupied_equals_numpy_eigh():
    # zhetrd + dstevd + zunmtr on the occupied columns (ctypes, GIL released) = numpy's eigh:
    # the same eigenvalues, the same occupied projector, zero columns past each sample's count
    from tntopo._lapack import _routines, eigh_occupied, eigh_occupied_rows

    assert _routines() is not None  # SciPy's Cython LAPACK is loadable here: the fast path is tested
    rng = np.random.default_rng(3)
    n = 23
    A = rng.normal(size=(5, n, n)) + 1j * rng.normal(size=(5, n, n))
    H = A + np.conj(np.swapaxes(A, 1, 2))
    E0, V0 = np.linalg.eigh(H)
    for ef, margin in ((0.0, 0.0), (-1.5, 0.0), (0.0, 2.0), (-1e3, 0.0), (1e3, 0.0)):
        E, V = eigh_occupied(H, ef, margin=margin)
        assert np.allclose(E, E0, atol=1e-12) and np.all(np.diff(E, axis=-1) >= 0)
        k = (E0 < ef + margin).sum(-1)
        assert V.shape == (5, n, max(1, k.max()))
        for b in range(5):
            Vo, Vo0 = V[b][:, : k[b]], V0[b][:, : k[b]]
            assert np.allclose(Vo @ Vo.conj().T, Vo0 @ Vo0.conj().T, atol=1e-12)
            assert np.allclose(H[b] @ Vo, Vo * E[b, : k[b]], atol=1e-11)
            assert np.all(V[b][:, k[b]:] == 0)
    E, V = eigh_occupied(H, 0.0, all_vectors=True)
    assert V.shape == (5, n, n) and np.allclose(np.abs(np.einsum("bai,bai->bi", V.conj(), V0)), 1, atol=1e-10)
    E1, V1 = eigh_occupied(H[1], 0.0)  # a single matrix
    assert E1.shape == (n,) and np.allclose(V1, eigh_occupied(H[1:2], 0.0)[1][0])
    # real input and extreme norms go to numpy's eigh, with the same output
    Er, Vr = eigh_occupied(H.real.copy(), 0.0)
    kr = (Er < 0).sum(-1)
    assert Vr.shape == (5, n, kr.max()) and np.allclose(Er, np.linalg.eigvalsh(H.real), atol=1e-12)
    assert all(np.all(Vr[b][:, kr[b]:] == 0) for b in range(5))
    Eb, Vb = eigh_occupied(H * 1e120, 0.0)
    k0 = (E0 < 0).sum(-1)
    assert Vb.shape == (5, n, k0.max()) and np.allclose(Eb / 1e120, E0, atol=1e-12)
    for b in range(5):
        Vo, Vo0 = Vb[b][:, : k0[b]], V0[b][:, : k0[b]]
        assert np.allclose(Vo @ Vo.conj().T, Vo0 @ Vo0.conj().T, atol=1e-12)
    # the row layout: U[b, :k] = V_b^dag, zero rows after
    E, U, k = eigh_occupied_rows(H, 0.0)
    assert np.array_equal(k, k0) and U.shape == (5, k0.max(), n)
    for b in range(5):
        assert np.allclose(U[b, : k[b]].conj().T @ U[b, : k[b]], V0[b][:, : k[b]] @ V0[b][:, : k[b]].conj().T,
                           atol=1e-12)
        assert np.all(U[b, k[b]:] == 0)
    E, U, k = eigh_occupied_rows(H, 0.0, all_vectors=True)
    assert np.all(k == n) and np.allclose(np.abs(np.einsum("bia,bai->bi", U, V0)), 1, atol=1e-10)


def test_dense_marker_threads_and_chunks_do_not_change_it():
    from tntopo.invariants.chern.dense import _dense_marker

    lats = [Lattice2D.qwz(1.0, (5, 6), disorder=1.5, seed=s) for s in range(70)]
    H = np.stack([s.hamiltonian() for s in lats])
    reg = (slice(1, 4), slice(1, 5))
    c1, w1 = _dense_marker(H, lats[0], 0.0, reg, threads=1, check_values=True)
    c3, w3 = _dense_marker(H, lats[0], 0.0, reg, threads=3, check_values=True)
    assert np.array_equal(c1, c3) and np.allclose(w1, w3, rtol=1e-12, atol=1e-15)
    # the near-Fermi weights (vectors only up to the Gershgorin-bounded window) = every vector's
    E0, V0 = np.linalg.eigh(H)
    mask = np.zeros(lats[0].shape, dtype=bool)
    mask[reg] = True
    cols = np.repeat(mask.ravel(), lats[0].n_orb)
    near = np.abs(E0) < 0.02 * (E0.max() - E0.min())
    assert near.any() and (near & (E0 > 0)).any()  # states above the Fermi level are in the window
    w0 = ((np.abs(V0[:, cols, :]) ** 2).sum(1) / mask.sum() * near).sum(-1)
    assert np.allclose(w1, w0, rtol=1e-10, atol=1e-14)
    assert np.allclose(c1, reference_chern_marker(H, lats[0]), atol=1e-10)
    assert np.allclose(local_chern_marker(H, lattice=lats[0], warn=False), c1, atol=1e-12)  # 70 > 64: threaded


def test_reused_work_arrays_do_not_leak_between_batches():
    # the dense marker's per-thread work arrays (tntopo._scratch) and LAPACK workspaces are
    # reused from chunk to chunk and call to call: results must not depend on what ran before
    from tntopo._scratch import Scratch
    from tntopo.invariants.chern.dense import _dense_marker

    ws = Scratch()
    a = ws.get("x", (3, 4))
    assert a.shape == (3, 4) and a.flags.c_contiguous and a.dtype == np.float64
    assert np.shares_memory(ws.get("x", (2, 5)), a)  # reused
    b = ws.get("x", (5, 5), np.complex128)  # grown, new dtype
    assert b.shape == (5, 5) and b.dtype == np.complex128 and ws.nbytes() >= b.nbytes

    lat = Lattice2D.qwz(1.0, (5, 6))
    H1 = np.stack([Lattice2D.qwz(1.0, (5, 6), disorder=1.5, seed=s).hamiltonian() for s in range(20)])
    H2 = np.stack([Lattice2D.qwz(-1.3, (5, 6), disorder=3.0, seed=s).hamiltonian() for s in range(7)])
    reg = (slice(1, 4), slice(1, 5))
    first = _dense_marker(H1, lat, 0.0, reg, threads=1)
    other = _dense_marker(H2, lat, 0.4, None, threads=1)
    again = _dense_marker(H1, lat, 0.0, reg, threads=1)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert np.allclose(first[0], reference_chern_marker(H1, lat), atol=1e-10)
    assert np.allclose(other[0], reference_chern_marker(H2, lat, 0.4), atol=1e-10)


def test_dense_marker_checks_every_chunk_and_names_the_sample():
    lat = Lattice2D.qwz(1.0, (4, 4), disorder=1.0, seed=0)
    H = np.stack([Lattice2D.qwz(1.0, (4, 4), disorder=1.0, seed=s).hamiltonian() for s in range(70)])
    for bad, msg in ((np.nan, "NaN or inf"), (np.inf, "NaN or inf")):
        Hb = H.copy()
        Hb[66, 3, 3] = bad
        with pytest.raises(ValueError, match=msg):
            local_chern_marker(Hb, lattice=lat, warn=False)
    Hb = H.copy()
    Hb[66, 0, 1] += 1e-3
    with pytest.raises(ValueError, match="not Hermitian"):
        local_chern_marker(Hb, lattice=lat, warn=False)
    Hb = H.copy()
    Hb[50] -= np.linalg.eigvalsh(Hb[50])[7] * np.eye(H.shape[1])  # an eigenvalue at E_F = 0
    with pytest.raises(GaplessError, match="sample 50"):
        local_chern_marker(Hb, lattice=lat, warn=False)


def test_value_checks_compiled_and_numpy_agree(monkeypatch):
    # the numba scan of (h_ij, h_ji) pairs and the numpy fallback accept and reject the same
    # batches (NaN or inf in either part, anywhere in the triangle; the Hermiticity tolerance)
    from tntopo.invariants.chern import dense as ch

    assert ch._hermitian_scan_kernel() is not None
    rng = np.random.default_rng(4)
    A = rng.normal(size=(3, 6, 6)) + 1j * rng.normal(size=(3, 6, 6))
    H = A + np.conj(np.swapaxes(A, 1, 2))
    cases = [H, H.real.copy(), 1e5 * H]
    for idx, v in (((2, 5, 1), np.nan), ((1, 0, 4), 1j * np.inf), ((0, 3, 3), np.nan * 1j), ((2, 1, 4), 1e-3),
                   ((2, 1, 4), 1e-12), ((0, 2, 2), 1e-6j)):
        Hb = H.copy()
        Hb[idx] += v
        cases.append(Hb)
    Hr = H.real.copy()
    Hr[1, 2, 0] = np.inf
    cases.append(Hr)

    def outcome(h):
        try:
            ch._check_values(h)
            return "ok"
        except ValueError as exc:
            return "hermitian" if "not Hermitian" in str(exc) else "finite" if "NaN or inf" in str(exc) else str(exc)

    compiled = [outcome(h) for h in cases]
    monkeypatch.setitem(ch._SCAN, "fn", None)
    assert compiled == [outcome(h) for h in cases]
    assert compiled == ["ok", "ok", "ok", "finite", "finite", "finite", "hermitian", "ok", "hermitian", "finite"]


def test_marker_sums_to_zero_on_open_sample():
    c = local_chern_marker(Lattice2D.qwz(1.0, (10, 10), disorder=1.0, seed=1), warn=False)
    assert abs(c.sum()) < 1e-8  # Tr(P X Q Y P) over a finite open sample is real


@pytest.mark.skipif(not SLOW, reason="40x40 dense reference takes ~1 min; set TNTOPO_SLOW=1")
def test_local_vs_dense_40x40():
    lat = Lattice2D.qwz(1.0, (40, 40), boundary="periodic", disorder=1.0, seed=0)
    dense = local_chern_marker(lat)
    loc, err = local_chern_marker(lat, "local", return_error=True)
    region = (slice(10, 30), slice(10, 30))  # away from the coordinate seam of the torus
    assert np.abs(loc[region] - dense[region]).max() < 1e-6
    assert err < 1e-4


def test_local_vs_dense_gapped_sample():
    # trivial open sample (no edge states): the whole map agrees; window 6 + 2 x 7 < 21
    lat = Lattice2D.qwz(3.2, (21, 21), disorder=0.5, seed=3)
    dense = local_chern_marker(lat)
    loc, err = local_chern_marker(lat, "local", local=CLO(buffer=7, core=7), return_error=True)
    assert np.abs(loc - dense).max() < 1e-6
    assert np.isfinite(err) and err < 1e-3


def test_local_chebyshev_solver_agrees():
    lat = Lattice2D.qwz(1.0, (22, 22), boundary="periodic", disorder=0.5, seed=4)
    reg = (slice(9, 13), slice(9, 13))
    a = local_chern_marker(lat, "local", local=CLO(buffer=8, core=4, solver="eigh"), region=reg)
    b = local_chern_marker(lat, "local", local=CLO(buffer=8, core=4, solver="chebyshev", tol=1e-10), region=reg)
    assert np.abs(a[reg] - b[reg]).max() < 1e-6


@pytest.mark.parametrize("boundary", ["open", "periodic"])
def test_spectral_bounds_contain_the_spectrum_and_are_tighter(boundary):
    from tntopo.invariants.chern import local as cl

    lats = [Lattice2D.qwz(1.0, (9, 8), boundary=boundary, disorder=1.0, seed=2),
            Lattice2D.qwz(-2.5, (7, 7), boundary=boundary, disorder=3.0, seed=5),
            Lattice2D.haldane(1.0, 0.3, 1.2, 0.4, (6, 6), boundary=boundary)]
    for lat in lats:
        lo, hi = cl._spectral_bounds(lat)
        E = np.linalg.eigvalsh(lat.hamiltonian())
        assert lo <= E.min() and E.max() <= hi
        blo, bhi = cl._band_bounds(lat)
        assert lo == max(lo, blo) and hi == min(hi, bhi)
    lo, hi = cl._spectral_bounds(lats[0])
    assert hi - lo < 0.75 * 2 * 5.5  # QWZ m=1, W=1: bands within +-3.5, Gershgorin +-5.5


@pytest.mark.parametrize("ef,delta,eps", [(0.0, 0.134, 1e-7), (0.25, 0.05, 1e-6), (-0.6, 0.2, 1e-10),
                                           (0.1, 0.3, 1e-3)])
def test_step_polynomial_is_a_fermi_step_within_tol_and_near_minimax(ef, delta, eps):
    from tntopo.invariants.chern import local as cl

    c = cl.chebyshev_step_coefficients(ef, delta, eps)
    cheb = np.polynomial.chebyshev
    below = np.linspace(-1, ef - delta, 20001)
    above = np.linspace(ef + delta, 1, 20001)
    assert np.abs(cheb.chebval(below, c) - 1).max() <= eps
    assert np.abs(cheb.chebval(above, c)).max() <= eps
    # bounded inside the gap (states there, e.g. edge states of a window, are partly occupied)
    gap = cheb.chebval(np.linspace(ef - delta, ef + delta, 2001), c)
    assert gap.min() > -0.5 and gap.max() < 1.5
    # the near-minimax fit needs far fewer terms than the erfc-smoothed step it replaced
    assert len(c) <= 0.75 * len(cl._erfc_step(ef, delta, eps))


def test_step_polynomial_edge_cases_and_sup_bound():
    from tntopo.invariants.chern import local as cl

    assert np.array_equal(cl.chebyshev_step_coefficients(-0.95, 0.1, 1e-6), [0.0])  # nothing below
    assert np.array_equal(cl.chebyshev_step_coefficients(0.95, 0.1, 1e-6), [1.0])  # everything below
    rng = np.random.default_rng(0)
    for _ in range(20):
        c = rng.normal(size=rng.integers(1, 40))
        a, b = np.sort(rng.uniform(-1, 1, 2))
        t = np.linspace(a, b, 5001)
        true = np.abs(np.polynomial.chebyshev.chebval(t, c)).max()
        assert cl._sup_bound(c, a, b) >= true - 1e-12


def test_chebyshev_recursion_and_window_operators():
    import scipy.sparse as sp

    from tntopo.invariants.chern import local as cl

    lat = Lattice2D.qwz(1.0, (9, 7), boundary=("periodic", "open"), disorder=1.3, seed=8)
    ops = cl._WindowOperators(lat, center=0.2, half=4.0)
    for xs, ys in [(np.arange(-2, 5), np.arange(0, 5)), (np.arange(3, 10), np.arange(2, 7)), (np.arange(9), np.arange(7))]:
        Ht, Ht2 = ops.scaled(xs, ys)
        H = lat.window(xs, ys).hamiltonian()
        d = H.shape[0]
        assert np.abs(Ht.toarray() - (H - 0.2 * np.eye(d)) / 4.0).max() < 1e-14
        assert np.abs(Ht2.toarray() - 2 * Ht.toarray()).max() < 1e-14
        assert np.abs(ops.dense(xs, ys) - H).max() < 1e-14
    # the in-place recursion equals numpy's Chebyshev evaluation of the matrix polynomial
    coef = np.random.default_rng(1).normal(size=9)
    X = np.random.default_rng(2).normal(size=(Ht.shape[0], 3)) + 0j
    E, V = np.linalg.eigh(Ht.toarray())
    ref = V @ (np.polynomial.chebyshev.chebval(E, coef)[:, None] * (V.conj().T @ X))
    assert np.abs(cl._apply_poly(Ht, Ht2, X, coef) - ref).max() < 1e-12
    assert np.abs(cl._apply_poly_scipy(Ht, Ht2, X, coef) - ref).max() < 1e-12
    assert isinstance(Ht, sp.csr_matrix)


def test_compiled_chebyshev_kernels_equal_the_scipy_recursion(monkeypatch):
    # the numba kernels (Clenshaw's recurrence on ELL rows in chunks; real and imaginary parts
    # of H apart, entries of either kind, as Haldane's complex second-neighbour hoppings; a dense
    # block or unit columns) = SciPy's forward recurrence; inputs untouched; without numba
    # SciPy serves
    import sys

    from tntopo.invariants.chern import local as cl

    assert cl._clenshaw_kernel() is not None
    rng = np.random.default_rng(5)
    for lat in (Lattice2D.qwz(1.0, (9, 7), boundary=("periodic", "open"), disorder=1.3, seed=8),
                Lattice2D.haldane(1.0, 0.2, 0.7, 0.3, (5, 6), disorder=0.5, seed=1),
                Lattice2D(np.zeros((1, 1)), {(1, 0): np.ones((1, 1)), (0, 1): np.ones((1, 1))}, (6, 5))):
        ops = cl._WindowOperators(lat, center=0.2, half=4.5)
        Ht, Ht2 = ops.scaled(np.arange(lat.Lx), np.arange(lat.Ly))
        before = Ht.copy()
        apply = cl._poly_applier(Ht, Ht2)
        for deg in (1, 2, 3, 40):
            coef = rng.normal(size=deg)
            X = rng.normal(size=(Ht.shape[0], 5)) + 1j * rng.normal(size=(Ht.shape[0], 5))
            X0 = X.copy()
            got = apply(X, coef)
            assert np.abs(got - cl._apply_poly_scipy(Ht, Ht2, X, coef)).max() < 1e-12
            assert np.array_equal(X, X0)
            rows = rng.choice(Ht.shape[0], 4, replace=False)
            E = np.zeros((Ht.shape[0], 4), dtype=complex)
            E[rows, np.arange(4)] = 1.0
            assert np.abs(apply(None, coef, units=rows) - cl._apply_poly_scipy(Ht, Ht2, E, coef)).max() < 1e-12
        assert (abs(Ht - before)).max() == 0
    # without numba (the kernels' module cannot be imported) SciPy's products serve
    monkeypatch.setitem(sys.modules, "tntopo.invariants.chern._clenshaw", None)
    cl._clenshaw_kernel.cache_clear()
    try:
        assert cl._clenshaw_kernel() is None
        apply = cl._poly_applier(Ht, Ht2)
        assert np.array_equal(apply(X, coef), cl._apply_poly_scipy(Ht, Ht2, X, coef))
    finally:
        cl._clenshaw_kernel.cache_clear()


def test_chebyshev_kernels_are_cached_by_numba_only(tmp_path):
    # the kernels are numba functions of tntopo's own module, cached by numba (cache=True) in its
    # own cache location; the route writes nothing under the user's home or cache directory
    import subprocess
    import sys

    from tntopo.invariants.chern import _clenshaw, local as cl

    assert cl._clenshaw_kernel() is _clenshaw.clenshaw_apply
    for fn in (_clenshaw.clenshaw_apply, _clenshaw.clenshaw_step):
        assert fn._cache.__class__.__name__ == "FunctionCache"
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")])}
    code = ("import warnings; warnings.simplefilter('ignore'); from tntopo import Lattice2D, local_chern_marker; "
            "from tntopo import ChernLocalOptions as O; m = local_chern_marker(Lattice2D.qwz(1.0, (10, 10)), 'local', "
            "local=O(buffer=2, core=4, solver='chebyshev', tol=1e-3)); assert m.shape == (10, 10)")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=tmp_path)
    assert list(home.iterdir()) == []
    assert list(tmp_path.iterdir()) == [home]


def test_ell_rows_hold_the_csr_entries():
    import scipy.sparse as sp

    from tntopo.invariants.chern import local as cl

    A = sp.random(30, 30, density=0.2, random_state=3, format="csr")
    A.data[::4] = 0.0  # explicit zeros are dropped
    J, V = cl._ell(A.data, A.indices, A.indptr, 30)
    B = np.zeros((30, 30))
    np.add.at(B, (np.repeat(np.arange(30), J.shape[1]), J.ravel()), V.ravel())
    assert np.array_equal(B, A.toarray())
    assert J.shape[1] == int(np.diff(sp.csr_matrix(A.toarray()).indptr).max())


def test_local_chebyshev_agrees_with_dense_and_its_error_estimate_covers_it():
    # trivial open sample (no edge states, gap ~0.95 at E_F = 0): the whole map agrees
    lat = Lattice2D.qwz(3.2, (24, 24), disorder=0.5, seed=3)
    dense = local_chern_marker(lat)
    loc, err = local_chern_marker(lat, "local", local=CLO(buffer=8, core=4, solver="chebyshev", tol=1e-8),
                                  return_error=True)
    diff = np.abs(loc - dense).max()
    assert diff < 1e-6 and err >= diff


@pytest.mark.skipif(not SLOW, reason="40x40 dense reference; set TNTOPO_SLOW=1")
def test_local_chebyshev_vs_dense_40x40_topological():
    lat = Lattice2D.qwz(1.0, (40, 40), boundary="periodic", disorder=1.0, seed=0)
    dense = local_chern_marker(lat)
    loc, err = local_chern_marker(lat, "local", local=CLO(buffer=10, core=4, solver="chebyshev", tol=1e-7),
                                  return_error=True)
    region = (slice(10, 30), slice(10, 30))
    diff = np.abs(loc[region] - dense[region]).max()
    assert diff < 1e-6 and err >= diff


def test_local_topological_bulk_and_region():
    lat = Lattice2D.qwz(1.0, (22, 22), boundary="periodic", disorder=0.5, seed=4)
    dense = local_chern_marker(lat)
    reg = (slice(9, 13), slice(9, 13))
    loc = local_chern_marker(lat, "local", local=CLO(buffer=8, core=4), region=reg)
    assert np.isnan(loc[0, 0]) and np.abs(loc[reg] - dense[reg]).max() < 1e-5


def _random_qwz(m, W, seed, L=8):
    return Lattice2D.qwz(m, (L, L), disorder=W, seed=seed)


@settings(max_examples=N_EX, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.floats(-2.5, 2.5), st.floats(0, 3), st.integers(0, 2**16), st.floats(-50, 50), st.floats(-50, 50))
def test_property_translation_of_origin(m, W, seed, x0, y0):
    lat = _random_qwz(m, W, seed)
    shifted = Lattice2D(lat.onsite, lat.hoppings, lat.shape, disorder=W, seed=seed,
                        positions=lat.positions() + [x0, y0])
    assert np.allclose(local_chern_marker(lat, warn=False), local_chern_marker(shifted, warn=False), atol=1e-8)


@settings(max_examples=N_EX, deadline=None)
@given(st.floats(-2.5, 2.5), st.floats(0, 3), st.integers(0, 2**16))
def test_property_time_reversal_and_mirror(m, W, seed):
    lat = _random_qwz(m, W, seed)
    H = lat.hamiltonian()
    c = local_chern_marker(lat, warn=False)
    # time reversal (complex conjugation): C -> -C, site by site
    assert np.allclose(local_chern_marker(H.conj(), lattice=lat, warn=False), -c, atol=1e-8)
    # mirror x -> Lx - 1 - x: the marker map is mirrored and changes sign
    Lx, Ly = lat.shape
    perm = np.array([lat.basis_index(Lx - 1 - x, y, o) for x in range(Lx) for y in range(Ly) for o in range(2)])
    Hm = H[np.ix_(perm, perm)]
    cm = local_chern_marker(Hm, lattice=lat, warn=False)
    assert np.allclose(cm[::-1, :], -c, atol=1e-8)


def test_clean_time_reversed_qwz_chern_flips():
    lat = Lattice2D.qwz(1.0, (8, 8))
    conj = Lattice2D(lat.onsite.conj(), {d: T.conj() for d, T in lat.hoppings.items()}, lat.shape)
    assert fhs_chern(conj) == -1 and bott_index(conj.with_boundary("periodic")) == -1


def test_pythtb_agrees():
    pythtb = pytest.importorskip("pythtb")
    if not (hasattr(pythtb, "tb_model") and hasattr(pythtb, "wf_array")):
        pytest.skip("this test uses the pythtb 1.x API (tb_model, wf_array)")
    for lat in (Lattice2D.qwz(1.2, (4, 4)), Lattice2D.qwz(-0.5, (4, 4)), Lattice2D.qwz(2.5, (4, 4)),
                Lattice2D.haldane(1.0, 0.2, np.pi / 2, 0.3, (4, 4)),
                Lattice2D.haldane(1.0, 0.2, -np.pi / 2, 0.3, (4, 4))):
        model = pythtb.tb_model(2, 2, [[1.0, 0.0], [0.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]])
        model.set_onsite([lat.onsite[0, 0].real, lat.onsite[1, 1].real])
        if lat.onsite[1, 0] != 0:
            model.set_hop(lat.onsite[0, 1], 0, 1, [0, 0])
        for (dx, dy), T in lat.hoppings.items():
            for i in range(2):
                for j in range(2):
                    if T[i, j] != 0:  # <i, r + d|H|j, r> = T_ij  ->  pythtb <i, 0|H|j, -d>
                        model.set_hop(T[i, j], i, j, [-dx, -dy], mode="add")
        wf = pythtb.wf_array(model, [31, 31])
        wf.solve_on_grid([0.0, 0.0])
        c_pythtb = wf.berry_flux([0]) / (2 * np.pi)
        # pythtb's Berry phase is -Im ln prod <u_k|u_k+1>: the opposite orientation of our FHS
        # plaquettes (docs/conventions.rst: QWZ has C = sign(m)), so its flux is -2 pi C
        assert np.isclose(c_pythtb, -fhs_chern(lat), atol=1e-6)


def test_phase_diagram_executor_independent():
    kw = dict(shape=(8, 8), n_samples=3, seed=5)
    a = chern_phase_diagram([1.0, 3.0], [0.0, 2.0], executor="serial", **kw)
    b = chern_phase_diagram([1.0, 3.0], [0.0, 2.0], executor="process", **kw)
    assert np.array_equal(a["values"], b["values"], equal_nan=True)
    assert a["mean"][0, 0] == 1 and a["mean"][1, 0] == 0
    c = chern_phase_diagram([3.0], [2.0], executor="serial", **kw)  # grid-independent seeds
    assert np.array_equal(c["values"][0, 0], a["values"][1, 1], equal_nan=True)


# ---------------------------------------------------------------------------- bad input
def test_non_hermitian_hamiltonian():
    lat = Lattice2D.qwz(1.0, (4, 4))
    H = lat.hamiltonian().astype(complex)
    H[0, 1] += 0.5
    with pytest.raises(ValueError, match="not Hermitian"):
        local_chern_marker(H, lattice=lat)
    with pytest.raises(ValueError, match="not Hermitian"):
        chern_number(H, "bott", lattice=lat.with_boundary("periodic"))


def test_gapless_and_fermi_level_in_band():
    with pytest.raises(GaplessError):
        fhs_chern(Lattice2D.qwz(2.0, (8, 8)))  # gap closes at k = (pi, pi)
    with pytest.raises(GaplessError, match="band crosses"):
        chern_number(Lattice2D.qwz(1.0, (8, 8)), "fhs", fermi_level=2.0)
    with pytest.warns(GaplessWarning):
        chern_number(Lattice2D.qwz(1.0, (12, 12)), "marker", fermi_level=2.0)
    with pytest.raises(GaplessError):
        chern_number(Lattice2D.qwz(0.0, (8, 8), boundary="periodic"), "bott")  # degenerate at E = 0


def test_method_needs_clean_or_periodic():
    dis = Lattice2D.qwz(1.0, (8, 8), disorder=1.0, seed=0)
    with pytest.raises(ValueError, match="clean"):
        chern_number(dis, "fhs")
    with pytest.raises(ValueError, match="periodic"):
        chern_number(dis, "bott")
    with pytest.raises(ValueError, match="too small"):
        local_chern_marker(Lattice2D.qwz(1.0, (10, 10)), "local")
    with pytest.raises(ValueError, match="unknown method"):
        chern_number(dis, "kubo")
    with pytest.raises(ValueError, match="lattice="):
        chern_number(dis.hamiltonian(), "marker")


def test_unknown_options_raise_type_error():
    lat = Lattice2D.qwz(1.0, (8, 8))
    with pytest.raises(TypeError):
        chern_number(lat, "fhs", nk=10)
    with pytest.raises(TypeError):
        local_chern_marker(lat, "dense", bufer=3)
    with pytest.raises(TypeError):
        local_chern_marker(lat, "dense", local=CLO(buffer=3))  # a local-only option
    with pytest.raises(TypeError):
        chern_phase_diagram([1.0], [0.0], n_sample=3)


def test_top_level_exports():
    assert tntopo.Lattice2D is Lattice2D
    assert tntopo.chern_number is chern_number and tntopo.local_chern_marker is local_chern_marker


def test_cli_chern(capsys):
    import json

    from tntopo.cli import main

    assert main(["chern", "--model", "qwz", "--m", "1.0", "--shape", "10,10"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("C = 1") and "method: fhs" in out
    assert main(["chern", "--m", "-1", "--shape", "10,10", "--disorder", "1", "--seed", "2",
                 "--boundary", "periodic", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["chern_number"] == -1 and doc["method"] == "bott" and doc["exact_integer"]
    assert main(["chern", "--model", "haldane", "--phi", "-1.5707963", "--M", "0.2", "--shape", "10,10",
                 "--method", "marker", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["method"] == "marker" and abs(doc["chern_number"] - 1) < 0.15
    for bad in (["--shape", "4,x"], ["--m", "2.0", "--shape", "8,8"], ["--model", "haldane", "--m", "1"],
                ["--disorder", "1", "--method", "fhs", "--shape", "8,8"]):
        assert main(["chern"] + bad) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("tntopo chern: error:")


def test_default_local_solver_is_picked_by_the_guaranteed_gap():
    from tntopo.invariants.chern.local import pick_solver

    gapped = Lattice2D.qwz(1.0, (14, 14), disorder=1.0, seed=2)
    assert pick_solver(gapped) == "chebyshev"  # clean gap 1 minus W/2 = 0.5 > 0
    assert pick_solver(Lattice2D.qwz(1.0, (14, 14), disorder=3.0, seed=2)) == "eigh"  # no guaranteed gap
    assert pick_solver(gapped, fermi_level=-2.0) == "eigh"  # the Fermi level in a band
    assert pick_solver(Lattice2D.qwz(1.0, (14, 14), disorder=3.0, seed=2), gap=0.3) == "chebyshev"
    from tntopo.invariants.chern.local import local_marker_windows

    strong_small = Lattice2D.qwz(1.0, (14, 14), disorder=3.0, seed=2)
    reg = (slice(6, 8), slice(6, 8))
    with pytest.warns(tntopo.GaplessWarning):  # tol= given: the Chebyshev windows run (and warn: no gap)
        a, _ = local_marker_windows(strong_small, region=reg, local=CLO(buffer=3, core=2, tol=1e-6))
    b, _ = local_marker_windows(strong_small, region=reg, local=CLO(buffer=3, core=2, tol=1e-6, solver="chebyshev"),
                                warn=False)
    assert np.array_equal(a, b, equal_nan=True)
    kw = dict(region=(slice(5, 9), slice(5, 9)))
    opts = dict(buffer=4, core=3)
    default = local_chern_marker(gapped, "local", local=CLO(**opts), **kw)
    assert np.array_equal(default, local_chern_marker(gapped, "local", local=CLO(solver="chebyshev", **opts), **kw),
                          equal_nan=True)
    strong = Lattice2D.qwz(1.0, (14, 14), disorder=3.0, seed=2)
    assert np.array_equal(local_chern_marker(strong, "local", local=CLO(**opts), warn=False, **kw),
                          local_chern_marker(strong, "local", local=CLO(solver="eigh", **opts), warn=False, **kw),
                          equal_nan=True)
    with pytest.raises(ValueError, match="unknown solver"):
        local_chern_marker(gapped, "local", local=CLO(solver="lanczos", **opts), **kw)
    with pytest.raises(TypeError, match=r"local= is inapplicable with method='dense' .*solver="):
        local_chern_marker(gapped, local=CLO(solver="eigh"))
