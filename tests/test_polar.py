"""The compiled Newton polar factor (tntopo._polar) against the LAPACK routes it replaces.

``polar_factor`` takes the Newton iteration for blocks of at most ``NEWTON_MAX_N`` cells; the
former route (``eigh(h h^dagger)``, SVD for near-singular blocks) is what it runs with
``NEWTON_MAX_N = 0``. Both must give the same flat-band block, the same winding numbers, and the
exact Bloch integers on gapped chains.
"""
import importlib.util
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tntopo import GaplessWarning, SSHChain, sample_chains, winding_number
from tntopo import _polar
from tntopo.invariants.winding import dense as realspace
from tntopo.invariants.winding.dense import polar_factor, reference_winding_number

# skipped where numba is missing only: where it is installed, a kernel that fails to compile is a failure
# (test_the_kernel_compiles), not a silent fall-back to LAPACK
pytestmark = pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba unavailable")


def test_the_kernel_compiles_and_is_its_python_code(monkeypatch):
    """The kernel and its helpers compile (numba installed: no silent LAPACK fall-back), and the compiled
    kernel returns the bytes of the same code run as plain Python (the helpers' Python functions)."""
    import numba

    for dtype in (np.float64, np.complex128):
        assert _polar.newton_kernel(dtype) is not None, dtype
    for name in _polar._HELPERS:
        assert isinstance(getattr(_polar, name), numba.core.registry.CPUDispatcher), name
    rng = np.random.default_rng(5)
    h = rng.normal(size=(4, 6, 6)) + 1j * rng.normal(size=(4, 6, 6))
    h[1] = np.diag(np.arange(1.0, 7.0)) * 1e-9  # a wide spread of scales
    h[2, :, 0] = 0.0  # singular: the iteration reports it (-1)
    Q, iters = _polar.polar_newton(h)
    with monkeypatch.context() as m:
        for name in _polar._HELPERS:
            m.setattr(_polar, name, getattr(_polar, name).py_func)
        Qp, itp = np.empty_like(h), np.empty(4, np.int64)
        _polar._newton_polar(h, Qp, itp, _polar.STEP_TOL, _polar.CHECK_KAPPA, _polar.BACKWARD_TOL, _polar.MAX_ITER)
    np.testing.assert_array_equal(itp, iters)
    assert iters[2] == -1 and (iters[[0, 1, 3]] > 0).all()
    ok = iters > 0
    np.testing.assert_allclose(Qp[ok], Q[ok], rtol=0, atol=1e-13)  # (LLVM may fuse multiply-adds)


def _lapack_route(h, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(realspace, "NEWTON_MAX_N", 0)
        return polar_factor(h)


def _svd_polar(h):
    u, _, vh = np.linalg.svd(h)
    return u @ vh


@pytest.mark.parametrize("complex_hoppings", [False, True])
def test_newton_matches_lapack_route_and_svd_on_gapped_chains(complex_hoppings, monkeypatch):
    b = sample_chains(120, 20, ranges=(-1, 0, 1, 2), windings=[-1, 0, 1, 2], min_gap=0.2,
                      complex_hoppings=complex_hoppings, seed=5)
    h = b.hopping_blocks()
    Q, iters = _polar.polar_newton(h)
    assert (iters > 0).all() and iters.max() <= 10
    Q_old = _lapack_route(h, monkeypatch)
    s = np.linalg.svd(h, compute_uv=False)
    kappa = s[:, 0] / s[:, -1]
    well = kappa < 1e5  # the blocks the eigh route computes; the others take an SVD there
    Q_svd = _svd_polar(h)
    # Newton is within ~10 eps kappa of the SVD; the eigh route only within ~eps kappa^2 (its
    # eigenvectors of h h^dag mix where two small singular values are close)
    assert (np.abs(Q - Q_svd).max(axis=(1, 2)) <= 1e-14 * np.maximum(kappa, 10)).all()
    err_old = np.abs(Q_old - Q_svd).max(axis=(1, 2))
    assert (err_old[well] <= 1e-14 * np.maximum(kappa[well], 10) ** 2).all()
    assert (err_old[~well] <= 1e-14 * np.maximum(kappa[~well], 10)).all()
    np.testing.assert_array_equal(polar_factor(h), Q)
    # winding numbers: the former route, the naive 2N x 2N eigh route, and the Bloch integers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GaplessWarning)
        W = winding_number(h, method="dense")
    with monkeypatch.context() as m:
        m.setattr(realspace, "NEWTON_MAX_N", 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GaplessWarning)
            W_old = winding_number(h, method="dense")
    np.testing.assert_allclose(W, W_old, atol=1e-10)
    np.testing.assert_allclose(W, reference_winding_number(h), atol=1e-8)


def test_newton_on_gapped_rings_gives_bloch_integers(monkeypatch):
    b = sample_chains(40, 60, ranges=(-1, 0, 1, 2), windings=[-1, 0, 1, 2], min_gap=0.3, boundary="periodic",
                      seed=7)
    W = winding_number(b, method="dense")
    # rings of 60 cells: finite-size deviations of up to ~1e-4 from the integer (physics, not rounding)
    np.testing.assert_allclose(W, b.bloch_windings(), atol=1e-3)
    monkeypatch.setattr(realspace, "NEWTON_MAX_N", 0)
    np.testing.assert_allclose(W, winding_number(b, method="dense"), atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(4, 64), seed=st.integers(0, 2**31 - 1), cplx=st.booleans(),
       scale=st.sampled_from([1e-3, 1.0, 1e4]))
def test_property_newton_is_the_polar_factor(n, seed, cplx, scale):
    """Any (generic) square block: Q unitary, Q^dag h Hermitian positive semidefinite, equal to
    the SVD's U V^dag within the polar factor's conditioning; scale-invariant."""
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((3, n, n)) + (1j * rng.standard_normal((3, n, n)) if cplx else 0)
    h = h * scale
    Q, iters = _polar.polar_newton(h)
    s = np.linalg.svd(h, compute_uv=False)
    ok = iters > 0
    Qd = np.conj(np.swapaxes(Q, -1, -2))
    for i in np.flatnonzero(ok):
        np.testing.assert_allclose(Qd[i] @ Q[i], np.eye(n), atol=1e-12 * n)
        P = Qd[i] @ h[i]
        np.testing.assert_allclose(P, np.conj(P.T), atol=1e-13 * n * np.abs(h[i]).max())
        assert np.linalg.eigvalsh((P + np.conj(P.T)) / 2).min() >= -1e-12 * n * s[i, 0]
        cond = 1 / s[i, -1] if cplx else 2 / (s[i, -1] + s[i, -2])
        np.testing.assert_allclose(Q[i], _svd_polar(h[i]), atol=1e-14 * n * max(1.0, cond * s[i, 0]))
    np.testing.assert_array_equal(_polar.polar_newton(h / scale * 2.0)[1][ok] > 0, True)
    # the public route: certified blocks from Newton, the rest from the SVD
    np.testing.assert_allclose(polar_factor(h)[ok], Q[ok], atol=0)


def test_singular_blocks_take_the_svd():
    h = sample_chains(6, 12, ranges=(0, 1), seed=0).hopping_blocks()
    h[1, :, 3] = 0.0  # a zero column: singular, a zero pivot
    h[4] = 0.0
    h[4, 0, 0] = 1.0
    _, iters = _polar.polar_newton(h)
    assert iters[1] == -1 and iters[4] == -1 and (iters[[0, 2, 3, 5]] > 0).all()
    Q = polar_factor(h)
    np.testing.assert_array_equal(Q[[1, 4]], realspace._svd_polar(h[[1, 4]]))
    assert np.isfinite(Q).all()


def test_uncertified_blocks_take_the_svd(monkeypatch):
    """A block failing the backward-error check is reported (-3) and recomputed by the SVD."""
    h = sample_chains(8, 16, ranges=(-1, 0, 1), seed=1).hopping_blocks()
    monkeypatch.setattr(_polar, "CHECK_KAPPA", 0.0)
    monkeypatch.setattr(_polar, "BACKWARD_TOL", 0.0)
    _, iters = _polar.polar_newton(h)
    assert (iters == -3).all()
    np.testing.assert_array_equal(polar_factor(h), realspace._svd_polar(h))


def test_without_numba_the_lapack_route_serves(monkeypatch):
    h = sample_chains(20, 16, ranges=(-1, 0, 1), seed=2).hopping_blocks()
    expected = _lapack_route(h, monkeypatch)
    monkeypatch.setattr(realspace, "polar_newton", lambda h: (None, None))
    np.testing.assert_array_equal(polar_factor(h), expected)
    np.testing.assert_allclose(polar_factor(h), _svd_polar(h), atol=1e-10)


def test_other_dtypes_and_large_blocks_keep_the_lapack_route():
    assert _polar.newton_kernel(np.float32) is None
    assert _polar.polar_newton(np.eye(4, dtype=np.float32)[None]) == (None, None)
    chain = SSHChain({0: 0.6, 1: 1.0}, n_cells=realspace.NEWTON_MAX_N + 10, disorder={0: 0.5}, seed=3)
    h = chain.hopping_block()
    np.testing.assert_allclose(polar_factor(h), _svd_polar(h), atol=1e-10)
    Q32 = polar_factor(h[:40, :40].astype(np.float32))
    assert Q32.dtype == np.float32


def test_blocks_singular_to_working_precision_take_the_svd():
    """A hopping of 1e-19 next to O(1) ones (found by hypothesis): the Newton scale underflowed and the
    kernel divided by zero; such blocks are left to the SVD and the winding number is still right."""
    from tntopo import SSHChain, winding_number

    h = SSHChain({-1: 9.63e-20, 0: 0.0, 1: 1.0, 2: 0.5}, n_cells=60).hopping_block()
    assert winding_number(h, method="dense") == pytest.approx(1.0, abs=1e-6)
    assert winding_number(h.conj().T, method="dense") == pytest.approx(-1.0, abs=1e-6)
