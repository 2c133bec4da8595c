"""Property-based invariances of the winding number (hypothesis)."""
import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tntopo import GaplessWarning, SSHChain, winding_number
from tntopo.invariants import bloch_winding
from tntopo.invariants.winding.exact import bloch_winding_coefficients
from tntopo.invariants.winding.dense import winding_from_blocks

amp = st.floats(-1.0, 1.0, allow_nan=False)
phase = st.floats(0, 2 * np.pi, allow_nan=False)


@st.composite
def gapped_chain(draw, ranges=(-1, 0, 1, 2), n_cells=60, complex_=True, deep=True):
    """A clean chain deep enough in a gapped phase that the open-chain bulk value is an integer to 1e-6.

    ``deep``: one range (drawn) dominates, |t| in [1, 2] against at most 0.45 for the others, so that the
    filter below keeps about half the draws (uniform amplitudes pass it a few times in a thousand, and
    hypothesis's health check then fails the test at random)."""
    hop = {}
    dominant = draw(st.sampled_from(ranges)) if deep else None
    for m in ranges:
        t = draw(amp)
        if m == dominant:
            t = draw(st.floats(1.0, 2.0))
        elif deep:
            t = t * draw(st.floats(0.0, 0.45))
        if complex_:
            t = t * np.exp(1j * draw(phase))
        hop[m] = t
    m_min = min(ranges)
    c = np.zeros(max(ranges) - m_min + 1, complex)
    for m, t in hop.items():
        c[m - m_min] = t
    assume(np.abs(c).max() > 0.1)
    W, margin = bloch_winding_coefficients(c[None], m_min, check_gap=False)
    m = min(float(margin[0]), 0.999)
    xi = 1 / max(min(np.log1p(m), -np.log1p(-m)), 1e-12)  # slowest decay among the zeros
    # corrections to the bulk average decay like exp(-2 d / xi), d = N // 4 cells from the edges
    if deep:
        assume(2 * (n_cells // 4) / xi > 18)
    else:
        assume(margin[0] > 0.05)
    return SSHChain(hop, n_cells=n_cells), int(W[0])


def _dense(h):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GaplessWarning)
        return winding_number(h, method="dense")


@given(gapped_chain())
def test_integer_deep_in_gapped_phase(cw):
    chain, W = cw
    assert winding_number(chain, method="dense") == pytest.approx(W, abs=1e-6)
    assert bloch_winding(chain.hoppings) == W
    assert winding_number(chain.with_boundary("periodic"), method="twisted") == W


# Open topological chains have edge zero modes with tiny, clustered singular values; the polar
# factor is only determined to ~eps / s_min there, which limits open-chain identities to ~1e-6.
# Rings have no edge modes: their identities hold to 1e-10.
TOL = {"periodic": 1e-10, "open": 1e-6}


def _dense_b(h, boundary):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GaplessWarning)
        return float(winding_from_blocks(h[None], boundary)[0])


@given(gapped_chain(n_cells=24, deep=False), st.integers(0, 2**32 - 1), st.sampled_from(["open", "periodic"]))
def test_gauge_phases_leave_w_unchanged(cw, seed, boundary):
    chain, _ = cw
    h = chain.with_boundary(boundary).hopping_block()
    rng = np.random.default_rng(seed)
    a = np.exp(1j * rng.uniform(0, 2 * np.pi, 24))
    b = np.exp(1j * rng.uniform(0, 2 * np.pi, 24))
    h2 = a[:, None] * h * b[None, :].conj()
    assert _dense_b(h2, boundary) == pytest.approx(_dense_b(h, boundary), abs=TOL[boundary])


@given(gapped_chain(n_cells=24, deep=False), st.sampled_from(["open", "periodic"]))
def test_mirror_flips_w(cw, boundary):
    chain, _ = cw
    h = chain.with_boundary(boundary).hopping_block()
    assert _dense_b(h[::-1, ::-1], boundary) == pytest.approx(-_dense_b(h, boundary), abs=TOL[boundary])


@given(gapped_chain(n_cells=60))
def test_relabel_a_b_flips_w(cw):
    chain, W = cw
    h = chain.hopping_block()
    # exchanging the sublattices makes h^dagger the new A->B block
    assert _dense(h.conj().T) == pytest.approx(-W, abs=1e-6)


@given(
    st.lists(st.floats(0.05, 2.0), min_size=30, max_size=30),
    st.lists(st.floats(0.05, 2.0), min_size=30, max_size=30),
    st.lists(st.sampled_from([-1.0, 1.0]), min_size=30, max_size=30),
)
def test_disordered_ring_rule(t0, t1, signs):
    t0 = np.asarray(t0) * np.asarray(signs)
    t1 = np.asarray(t1)
    d = np.sum(np.log(np.abs(t1))) - np.sum(np.log(np.abs(t0)))
    assume(abs(d) > 1e-6)
    chain = SSHChain.from_bonds({0: t0, 1: t1}, "periodic")  # an arbitrary bond realization
    assert winding_number(chain, method="twisted") == int(d > 0)
