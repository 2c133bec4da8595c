"""``tntopo._blas.single_threaded_blas``: the limit is set and restored, re-entrant across threads,
and the controller of the BLAS libraries is built once -- again only after new imports (issue 20)."""
import sys
import threading
import types

import numpy as np
import pytest
from threadpoolctl import ThreadpoolController, threadpool_info, threadpool_limits

import tntopo._blas as blas
from tntopo import Lattice2D, chern_number, local_chern_marker
from tntopo._blas import single_threaded_blas


def _blas_threads():
    return [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]


needs_blas = pytest.mark.skipif(not _blas_threads(), reason="no BLAS library that threadpoolctl controls")


@pytest.fixture
def scans(monkeypatch):
    """Count the controllers ``tntopo._blas`` builds (each one a rescan of the loaded libraries)."""
    built = []

    def counting():
        built.append(1)
        return ThreadpoolController()

    monkeypatch.setattr(blas, "ThreadpoolController", counting)
    monkeypatch.setitem(blas._STATE, "controller", None)
    return built


@needs_blas
def test_limit_is_set_inside_and_restored_after():
    with threadpool_limits(2, user_api="blas"):
        before = _blas_threads()
        with single_threaded_blas():
            assert set(_blas_threads()) == {1}
            with single_threaded_blas():  # re-entrant
                assert set(_blas_threads()) == {1}
            assert set(_blas_threads()) == {1}
        assert _blas_threads() == before
        with single_threaded_blas():  # the kept controller limits again
            assert set(_blas_threads()) == {1}
        assert _blas_threads() == before
    assert blas._STATE["depth"] == 0 and blas._STATE["limiter"] is None


def test_controller_is_built_once_then_after_new_imports(scans, monkeypatch):
    for _ in range(5):
        with single_threaded_blas():
            pass
    assert len(scans) == 1
    kept = blas._STATE["controller"]
    monkeypatch.setitem(sys.modules, "tntopo_test_new_module", types.ModuleType("tntopo_test_new_module"))
    with single_threaded_blas():  # a module was imported: a library may have come with it
        pass
    assert len(scans) == 2 and blas._STATE["controller"] is not kept
    with single_threaded_blas():
        pass
    assert len(scans) == 2


def test_threads_share_one_limit_and_the_last_one_out_restores(scans):
    inside, go = threading.Barrier(4), threading.Event()
    seen = []

    def work():
        with single_threaded_blas():
            inside.wait(timeout=30)
            seen.append(blas._STATE["depth"])
            go.wait(timeout=30)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    while len(seen) < 4:
        threading.Event().wait(0.01)
    assert blas._STATE["depth"] == 4 and blas._STATE["limiter"] is not None
    go.set()
    for t in threads:
        t.join(timeout=30)
    assert blas._STATE["depth"] == 0 and blas._STATE["limiter"] is None and len(scans) == 1


def test_an_exception_inside_restores_the_state():
    with pytest.raises(RuntimeError):
        with single_threaded_blas():
            raise RuntimeError("boom")
    assert blas._STATE["depth"] == 0 and blas._STATE["limiter"] is None


def test_results_do_not_depend_on_the_limit():
    qwz = Lattice2D.qwz(1.0, (8, 8), boundary="periodic")
    H = np.stack([Lattice2D.qwz(1.0, (8, 8), disorder=1.0, seed=s).hamiltonian() for s in range(3)])
    lat = Lattice2D.qwz(1.0, (8, 8))
    plain = local_chern_marker(H, lattice=lat, warn=False), chern_number(qwz, method="fhs")
    with single_threaded_blas():
        limited = local_chern_marker(H, lattice=lat, warn=False), chern_number(qwz, method="fhs")
    assert np.array_equal(plain[0], limited[0]) and plain[1] == limited[1] == 1


_OTHER_THREADS = r"""
import threading
import numpy  # noqa: F401 - its BLAS
from threadpoolctl import threadpool_info
from tntopo._blas import single_threaded_blas


def blas():
    return sorted({d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"})


before = blas()
assert before and min(before) >= 2, before
# 1. a worker thread, still alive, limits first; then the main thread must still be able to limit
hold, done = threading.Event(), threading.Event()


def worker():
    with single_threaded_blas():
        assert blas() == [1], blas()
    done.set()
    hold.wait(60)


t = threading.Thread(target=worker)
t.start()
done.wait(60)
assert blas() == before, ("after the worker", blas())
with single_threaded_blas():
    assert blas() == [1], ("main thread after a live worker", blas())
assert blas() == before, ("main thread's restore", blas())
hold.set()
t.join()
# 2. set by the main thread, restored by the last one out: another thread
inside, leave = threading.Event(), threading.Event()


def last_out():
    with single_threaded_blas():
        inside.set()
        leave.wait(60)


with single_threaded_blas():
    t = threading.Thread(target=last_out)
    t.start()
    inside.wait(60)
assert blas() == [1], ("still inside in the other thread", blas())
leave.set()
t.join()
assert blas() == before, ("restored by the other thread", blas())
with single_threaded_blas():
    assert blas() == [1], blas()
assert blas() == before, blas()
print("ok")
"""


def test_limit_and_restore_work_from_any_thread():
    """threadpoolctl >= 3.8 lets one thread own a pthreads OpenBLAS's limit; the first entrant and
    the last one out may be different threads, and a worker thread may have limited first."""
    import os
    import subprocess

    env = dict(os.environ, OPENBLAS_NUM_THREADS="2", OMP_NUM_THREADS="2", MKL_NUM_THREADS="2")
    proc = subprocess.run([sys.executable, "-c", _OTHER_THREADS], capture_output=True, text=True, timeout=120,
                          env=env)
    if "AssertionError: []" in proc.stderr:
        pytest.skip("no BLAS library that threadpoolctl controls")
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
