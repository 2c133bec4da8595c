"""Work arrays reused per thread (tntopo._scratch): one owner per call site, never shared."""
import threading

import numpy as np

from tntopo import Lattice2D, local_chern_marker
from tntopo._scratch import Scratch, ThreadScratch
from tntopo.invariants import chern
from tntopo.tn import chern as tn_chern


def test_owners_never_share_arrays():
    a, b = ThreadScratch("a"), ThreadScratch("b")
    sa, sb = a.get(), b.get()
    assert sa is a.get() and sa is not sb
    x = sa.get("t", (4, 4))
    y = sb.get("t", (4, 4))  # the same name under another owner: another buffer
    x[...] = 1.0
    y[...] = 2.0
    assert (x == 1.0).all() and not np.shares_memory(x, y)
    other = []
    th = threading.Thread(target=lambda: other.append(a.get()))
    th.start()
    th.join()
    assert other[0] is not sa  # one Scratch per thread
    assert "a" in repr(a)


def test_scratch_grows_and_reuses():
    s = Scratch()
    v = s.get("x", (2, 3))
    assert v.shape == (2, 3) and v.flags.c_contiguous
    w = s.get("x", (1, 2))
    assert np.shares_memory(v, w)
    z = s.get("x", (10, 10), np.complex128)
    assert z.dtype == np.complex128 and s.nbytes() >= 100 * 16


def test_dense_marker_modules_own_their_arrays(monkeypatch):
    """The dense marker's chunks and the contraction they call keep separate per-thread arrays;
    reused or fresh arrays give the same bytes."""
    lat0 = Lattice2D.qwz(1.0, (4, 4))
    H = np.stack([Lattice2D.qwz(1.0, (4, 4), disorder=1.0, seed=s).hamiltonian() for s in range(40)])
    reused = local_chern_marker(H, lattice=lat0, warn=True)
    assert chern._DENSE_WORK.get() is not tn_chern._CONTRACT_WORK.get()
    monkeypatch.setattr(chern, "_SCRATCH_MAX_BYTES", -1)
    fresh = local_chern_marker(H, lattice=lat0, warn=True)
    np.testing.assert_array_equal(reused, fresh)
    np.testing.assert_allclose(reused, chern.reference_chern_marker(H, lat0), atol=1e-10)
