"""The certified exact-integer routes (issue 9): twisted boundaries on rings, Bloch, the zero counter.

References here are independent of the code under test: ``numpy.roots`` for the Bloch integer,
a rigorous sampled Bloch gap (grid minimum minus a derivative bound), dense real-space traces
and dense ``slogdet`` on small matrices. Disordered rings whose disorder is smaller in norm than
the clean gap have the clean integer exactly (``h(theta)`` stays invertible along the path).

``TNTOPO_TWISTED_EXAMPLES`` scales the hypothesis run (default 150; the issue's acceptance run
used 2500).
"""
import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import tntopo
from tntopo import GaplessError, GaplessWarning, PrecisionError, SSHChain, winding_number
from tntopo._laurent import argument_principle_count, certified_zero_count, laurent_coefficients
from tntopo.invariants.winding import exact as bloch
from tntopo.invariants.winding.exact import (
    _FoldedRing,
    bloch_winding,
    fold_order,
    twisted_determinants,
    twisted_winding,
)

N_EXAMPLES = int(os.environ.get("TNTOPO_TWISTED_EXAMPLES", "150"))


# ----------------------------------------------------------------------------- references
def roots_winding(hop):
    """Bloch integer from numpy.roots (independent of tntopo._laurent).

    Amplitudes below 1e-12 of the largest are dropped first (numpy.roots mishandles e.g. a
    leading 1e-300); on a gapped chain that cannot change the integer.
    """
    scale = max(abs(t) for t in hop.values())
    hop = {m: t for m, t in hop.items() if abs(t) > 1e-12 * scale}
    ms = sorted(hop)
    c = np.zeros(ms[-1] - ms[0] + 1, complex)
    for m, t in hop.items():
        c[m - ms[0]] += t
    r = np.roots(c[::-1])
    return int(np.sum(np.abs(r) < 1)) + ms[0], r


def rigorous_gap(hop, K=4096):
    """A lower bound of min_k |h(k)|: grid minimum minus max|h'| * (half a grid step)."""
    k = 2 * np.pi * np.arange(K) / K
    h = sum(t * np.exp(1j * m * k) for m, t in hop.items())
    S = sum(abs(m) * abs(t) for m, t in hop.items())
    return float(np.abs(h).min() - S * np.pi / K)


def dense_ring(chain, theta):
    """The twisted ring h(theta) as a dense matrix."""
    N = chain.n_cells
    n = np.arange(N)
    H = np.zeros((N, N), complex)
    for i, m in enumerate(chain.ranges):
        H[n, (n - m) % N] += chain.bond_array[i] * np.exp(1j * theta * m / N)
    return H


# ----------------------------------------------------------------------- the banded route
@pytest.mark.parametrize("r", [1, 2, 3, 5])
@pytest.mark.parametrize("N", [11, 12, 13, 40, 41, 257])
def test_folded_ring_is_banded(r, N):
    ranges = tuple(range(-r, r + 1))
    bonds = np.ones((len(ranges), N))
    ring = _FoldedRing(bonds, ranges, N)
    assert max(ring.kl, ring.ku) <= 2 * r + 1
    pos = fold_order(N)
    assert sorted(pos) == list(range(N))
    # the same permutation of rows and columns: the folded matrix is P h P^T
    chain = SSHChain.from_bonds({m: np.arange(1, N + 1) + 100 * m for m in ranges}, "periodic")
    H = dense_ring(chain, 0.0)
    P = np.zeros((N, N))
    P[pos, np.arange(N)] = 1
    F = P @ H @ P.T
    i, j = np.nonzero(F)
    assert (i - j).max() <= 2 * r + 1 and (j - i).max() <= 2 * r + 1


@pytest.mark.parametrize("seed", range(6))
def test_banded_determinant_matches_dense(seed):
    """log|det| and arg det of the banded LU (pivot sign convention included) vs dense slogdet."""
    rng = np.random.default_rng(seed)
    N = int(rng.integers(9, 40))
    ranges = (-1, 0, 1, 2) if seed % 2 else (0, 1)
    bonds = {m: rng.uniform(-1, 1, N) + 1j * rng.uniform(-1, 1, N) * (seed % 3 == 0) for m in ranges}
    chain = SSHChain.from_bonds(bonds, "periodic")
    theta, log_abs, arg, growth = twisted_determinants(chain, n_twists=9)
    for t, la, a in zip(theta, log_abs, arg):
        s, ld = np.linalg.slogdet(dense_ring(chain, t))
        assert la == pytest.approx(ld, abs=1e-9)
        assert np.exp(1j * a) == pytest.approx(s, abs=1e-9)
    assert np.all(growth < 1e3)


# ------------------------------------------------------- the reported failure (regression)
RANGES = (-1, 0, 1, 2)
SWEEP_N = (8, 24, 60, 150, 200, 256)


def test_issue_sweep_480_rings():
    """40 clean chains (ranges -1..2, U[-1, 1], Bloch gap >= 0.25) on rings of 6 sizes, clean
    (method="twisted") and with disorder 0.05 per range (method="auto"): the pre-fix route
    returned 7 wrong integers and 4 false GaplessErrors on exactly this sweep."""
    batch = tntopo.sample_chains(40, 8, ranges=RANGES, min_gap=0.25, seed=2024)
    wrong, errors = [], []
    for i in range(len(batch)):
        hop = {m: batch.hoppings[i, j] for j, m in enumerate(batch.ranges)}
        ref, _ = roots_winding(hop)
        assert rigorous_gap(hop) > 0.2
        for N in SWEEP_N:
            for dis, method in ((None, "twisted"), ({m: 0.05 for m in RANGES}, "auto")):
                chain = SSHChain(hop, N, "periodic", disorder=dis, seed=i)
                try:
                    if winding_number(chain, method=method) != ref:
                        wrong.append((i, N, method))
                except (ValueError, ArithmeticError) as exc:
                    errors.append((i, N, method, type(exc).__name__))
    assert not wrong and not errors, (wrong, errors)


# "cases that previously failed": (clean hoppings for ranges -1..2, N, Bloch integer); the old
# route returned a wrong integer or raised GaplessError on each (clean and/or disorder 0.05)
PREVIOUSLY_FAILED = [
    ((-0.8952669171441292, -0.927847449549684, -0.3494341446449376, -0.7683283751550338), 200, 0),
    ((-0.8952669171441292, -0.927847449549684, -0.3494341446449376, -0.7683283751550338), 256, 0),
    ((-0.84322847519625, 0.7039654416590737, 0.25644922823739824, 0.6178441847264105), 150, 0),
    ((-0.84322847519625, 0.7039654416590737, 0.25644922823739824, 0.6178441847264105), 200, 0),
    ((-0.84322847519625, 0.7039654416590737, 0.25644922823739824, 0.6178441847264105), 256, 0),
    ((-0.7793625574150145, -0.4971472740445264, 0.025233114486159725, -0.5480753856712497), 256, 0),
]


@pytest.mark.parametrize("amps, N, W", PREVIOUSLY_FAILED)
@pytest.mark.parametrize("disordered", [False, True])
def test_previously_failed(amps, N, W, disordered):
    hop = dict(zip(RANGES, amps))
    assert roots_winding(hop)[0] == W
    chain = SSHChain(hop, N, "periodic", disorder={m: 0.05 for m in RANGES} if disordered else None, seed=3)
    assert twisted_winding(chain) == W
    assert winding_number(chain, method="auto") == W
    # the dense partially pivoted LU of this ring shows the element growth behind the failure
    if not disordered and N == 200 and amps[0] < -0.89:
        import scipy.linalg as sla

        H = dense_ring(chain, 0.0)
        with np.errstate(all="ignore"):
            U = sla.lu(H)[2]
        assert np.abs(U).max() / np.abs(H).max() > 1e10


# -------------------------------------------------------------------- property-based rings
@st.composite
def gapped_ring(draw):
    m_min = draw(st.integers(-3, 1))
    span = draw(st.integers(1, 4))
    ranges = tuple(range(m_min, m_min + span + 1))
    cplx = draw(st.booleans())
    hop = {}
    for m in ranges:
        t = draw(st.floats(-1, 1, allow_nan=False))
        if cplx:
            t = t * np.exp(1j * draw(st.floats(0, 2 * np.pi, allow_nan=False)))
        hop[m] = t
    gap = rigorous_gap(hop)
    assume(gap > 0.05)
    r = max(abs(m) for m in ranges)
    N = draw(st.one_of(st.integers(max(8, 2 * r + 1), 1000),
                       st.sampled_from([100, 128, 150, 200, 255, 256, 257, 300])))
    frac = draw(st.floats(0, 0.9))  # disorder norm as a fraction of the gap (0: clean)
    dis = {m: 2 * frac * gap / len(ranges) for m in ranges} if frac > 0.05 else None
    seed = draw(st.integers(0, 2**31))
    return SSHChain(hop, N, "periodic", disorder=dis, seed=seed), hop


@settings(max_examples=N_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(gapped_ring())
def test_twisted_equals_bloch_on_gapped_rings(case):
    chain, hop = case
    W, roots = roots_winding(hop)
    assert twisted_winding(chain) == W
    if chain.is_clean:
        assert bloch_winding(hop) == W
        assert winding_number(chain, method="auto") == W
    # dense on the ring where the bulk trace has converged (localization length << N)
    xi = 1 / max(np.min(np.abs(np.log(np.abs(roots)))), 1e-12) if len(roots) else 0.0
    if chain.is_clean and chain.n_cells <= 160 and chain.n_cells > 40 * xi:
        assert winding_number(chain, method="dense") == pytest.approx(W, abs=1e-3)


# ------------------------------------------------------------------ errors, never numbers
def test_gapless_ring_raises():
    with pytest.raises(GaplessError):
        twisted_winding(SSHChain({0: 1.0, 1: 1.0}, 40, "periodic"))
    with pytest.raises(GaplessError):
        twisted_winding(SSHChain({0: 1.0, 1: -1.0}, 41, "periodic"))
    with pytest.raises(GaplessError):
        bloch_winding({0: 1.0, 1: 1.0})


def test_noisy_determinants_raise_precision_error(monkeypatch):
    chain = SSHChain({0: 0.5, 1: 1.0, 2: 0.3}, 60, "periodic", disorder={0: 0.2}, seed=1)
    assert twisted_winding(chain) == 1
    orig = _FoldedRing.log_det
    rng = np.random.default_rng(0)

    def noisy(self, theta):
        la, a, g = orig(self, theta)
        return la + rng.normal(0, 0.3), a + rng.normal(0, 0.3), g

    monkeypatch.setattr(_FoldedRing, "log_det", noisy)
    with pytest.raises(PrecisionError, match="method='dense'"):
        twisted_winding(chain)
    assert issubclass(PrecisionError, ArithmeticError) and not issubclass(PrecisionError, ValueError)


def test_twisted_options():
    chain = SSHChain({-1: 0.2, 0: 0.3, 1: 1.0}, 30, "periodic")
    assert twisted_winding(chain, n_twists=32) == 1
    with pytest.raises(ValueError, match="n_twists"):
        twisted_winding(chain, n_twists=3)
    with pytest.raises(ValueError, match="periodic"):
        twisted_winding(chain.with_boundary("open"))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_long_ring_at_the_critical_point(seed):
    """2 * 10^5 cells at the disorder-averaged critical t0: the integer is decided by the
    realization (sum ln|t1| - sum ln|t0| is a random walk of size ~100), checked against the
    exact nearest-neighbour criterion W = 1 iff sum ln|t1,n| > sum ln|t0,n|."""
    from tntopo import critical_t0

    hop, dis = {0: critical_t0(1.0), 1: 1.0}, {0: 1.0, 1: 0.5}
    chain = SSHChain(hop, 2 * 10**5, "periodic", disorder=dis, seed=seed)
    b0, b1 = chain.bonds(0), chain.bonds(1)
    assert twisted_winding(chain) == int(np.sum(np.log(np.abs(b1))) > np.sum(np.log(np.abs(b0))))


# ------------------------------------------------------------------ the certified counter
@st.composite
def polynomial_from_roots(draw):
    d = draw(st.integers(1, 8))
    roots = []
    for _ in range(d):
        radius = draw(st.one_of(st.floats(0.0, 3.0), st.sampled_from([1 - 1e-6, 1 + 1e-6, 1 - 1e-3, 1 + 1e-3])))
        roots.append(radius * np.exp(1j * draw(st.floats(0, 2 * np.pi))))
    roots = np.array(roots)
    assume(np.all(np.abs(np.abs(roots) - 1) > 1e-7))
    return np.poly(roots)[::-1] * draw(st.floats(0.1, 10)), roots


@settings(max_examples=max(N_EXAMPLES, 100), deadline=None)
@given(polynomial_from_roots())
def test_certified_count_is_right_or_refuses(case):
    c, roots = case
    true = int(np.sum(np.abs(roots) < 1))
    W, margin, lower, status = certified_zero_count(c[None], 0)
    assert status[0] in (0, 1, 2)
    if status[0] == 0:
        assert W[0] == true
        theta = np.linspace(0, 2 * np.pi, 20001)
        assert lower[0] <= np.abs(np.polyval(c[::-1], np.exp(1j * theta))).min() + 1e-12
    try:
        count, low = argument_principle_count(c)
    except ArithmeticError:  # refused: only where p vanishes on the circle to working precision
        theta = np.concatenate([np.linspace(0, 2 * np.pi, 20001), np.angle(roots)])
        assert np.abs(np.polyval(c[::-1], np.exp(1j * theta))).min() < 1e-9 * np.abs(c).sum()
        assert status[0] != 0
    else:
        assert count == true
        assert low <= np.abs(np.polyval(c[::-1], np.exp(1j * np.linspace(0, 2 * np.pi, 20001)))).min() + 1e-12


def test_argument_principle_near_the_circle():
    # a zero 1e-8 inside the circle: the adaptive grid still certifies it
    c = np.poly([1 - 1e-8, 0.3, 2.0])[::-1]
    assert argument_principle_count(c)[0] == 2
    with pytest.raises(ArithmeticError):
        argument_principle_count(np.poly([1.0, 0.3])[::-1])
    W, margin, lower, status = certified_zero_count(np.poly([1.0, 0.3])[::-1][None], 0)
    assert status[0] == 1 and margin[0] < 1e-9


def test_laurent_coefficients():
    c, m_min = laurent_coefficients(np.array([[1.0, 2.0, 3.0]]), (-1, 2, 0))
    assert m_min == -1
    np.testing.assert_array_equal(c, [[1.0, 3.0, 0.0, 2.0]])


def test_bloch_route_counts_agree_on_badly_scaled():
    # tiny leading coefficient: one zero far outside; the certified count still agrees
    # (h(k) is dominated by t_0: W = 0, whatever the tiny t_1 and t_-1)
    W, margin = bloch.bloch_winding_coefficients(np.array([[0.3, 1.0, 1e-15]]), -1)
    assert W[0] == 0
    W, margin = bloch.bloch_winding_coefficients(np.array([[1e-15, 1.0, 0.3]]), -1)
    assert W[0] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GaplessWarning)
        assert winding_number(SSHChain({-1: 0.3, 0: 1.0, 1: 1e-15}, 40, "periodic"), method="twisted") == 0
        assert winding_number(SSHChain({-1: 1.0, 0: 0.3, 1: 1e-15}, 40, "periodic"), method="twisted") == -1
