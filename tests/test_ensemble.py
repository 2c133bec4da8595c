"""Disorder ensembles: deterministic on any executor, resumable, failures reported."""
import json
import warnings
from concurrent.futures import Executor, Future, ThreadPoolExecutor

import numpy as np
import pytest

import tntopo
from tntopo import LocalOptions, SSHChain, disorder_average, disorder_sweep, winding_number
from tntopo.invariants.winding.ensemble import realization_windings
from tntopo.parallel import SerialExecutor, task_seed

TAI = ({0: 1.1, 1: 1.0}, {0: 2.5, 1: 1.25})
POINTS = [({0: t0, 1: 1.0}, {0: 1.5, 1: 0.75}) for t0 in (0.5, 0.9, 1.1, 1.3, 1.6)]
KW = dict(n_cells=60, n_realizations=6, progress=False)


def _bytes(res):
    return res.values.tobytes() + res.n_gapless.tobytes()


def test_values_are_per_realization_windings():
    res = disorder_sweep(POINTS[:2], executor="serial", method="twisted", seed=7, **KW)
    assert res.values.shape == (2, 6) and res.complete
    h, d = POINTS[1]
    for r in range(6):
        ring = SSHChain(h, 60, "periodic", d, task_seed(7, r))
        assert res.values[1, r] == tntopo.winding_number(ring, method="twisted")
    assert res.mean[1] == pytest.approx(res.values[1].mean())
    assert res.std[1] == pytest.approx(res.values[1].std(ddof=1))


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_identical_bytes_for_any_executor_and_chunking(executor):
    ref = disorder_sweep(POINTS, executor="serial", **KW)
    other = disorder_sweep(POINTS, executor=executor, max_workers=2, chunk_size=4, **KW)
    assert _bytes(other) == _bytes(ref)
    one = disorder_sweep(POINTS, executor=ThreadPoolExecutor(1), chunk_size=1, **KW)
    assert _bytes(one) == _bytes(ref)


@pytest.mark.filterwarnings("ignore::tntopo.GaplessWarning")  # thread workers do not silence them
def test_real_space_routes_are_deterministic_too():
    kw = dict(KW, n_cells=80, n_realizations=3, boundary="open")
    a = disorder_sweep(POINTS[:2], method="local", executor="serial", **kw)
    b = disorder_sweep(POINTS[:2], method="local", executor="thread", max_workers=2, chunk_size=1, **kw)
    assert _bytes(a) == _bytes(b)
    d = disorder_sweep(POINTS[:2], method="dense", executor="serial", **kw)
    np.testing.assert_allclose(a.values, d.values, atol=1e-6)


def test_point_values_do_not_depend_on_the_grid():
    full = disorder_sweep(POINTS, executor="serial", **KW)
    sub = disorder_sweep(POINTS[::-1][:2], executor="serial", **KW)
    assert sub.values[0].tobytes() == full.values[-1].tobytes()
    assert sub.values[1].tobytes() == full.values[-2].tobytes()


def test_disorder_average_tai():
    res = disorder_average(*TAI, n_cells=200, n_realizations=8, executor="serial", progress=False)
    assert res.mean == 1.0 and res.std == 0.0 and res.count == 8 and res.failed is None


def _part_files(path):
    return list(path.rglob("*.part"))


def test_store_resumes_and_extends(tmp_path):
    store = tmp_path / "store"
    ref = disorder_sweep(POINTS, executor="serial", **KW)
    first = disorder_sweep(POINTS, executor="serial", store=store, chunk_size=2, **KW)
    assert _bytes(first) == _bytes(ref) and first.n_computed == 30 and first.n_loaded == 0
    assert len(list(store.glob("*.json"))) == 15 and not _part_files(store)
    again = disorder_sweep(POINTS, executor="serial", store=store, **KW)
    assert again.n_computed == 0 and again.n_loaded == 30 and _bytes(again) == _bytes(ref)
    more = disorder_sweep(POINTS, executor="serial", store=store, **dict(KW, n_realizations=9))
    assert more.n_loaded == 30 and more.n_computed == 15
    ref9 = disorder_sweep(POINTS, executor="serial", **dict(KW, n_realizations=9))
    assert _bytes(more) == _bytes(ref9)
    # a different seed or size is a different point: nothing is wrongly reused
    other = disorder_sweep(POINTS, executor="serial", store=store, seed=1, **KW)
    assert other.n_loaded == 0


class BreaksAfter(Executor):
    """Runs ``n`` tasks, then fails like a dead cluster: submit raises."""

    def __init__(self, n):
        self.n = n

    def submit(self, fn, *args, **kwargs):
        if self.n <= 0:
            raise RuntimeError("cluster went away")
        self.n -= 1
        return SerialExecutor().submit(fn, *args, **kwargs)


class FailingFutures(Executor):
    """Futures of every third task fail (a worker crashes)."""

    def __init__(self):
        self.i = 0

    def submit(self, fn, *args, **kwargs):
        self.i += 1
        if self.i % 3 == 0:
            fut = Future()
            fut.set_exception(OSError("worker died"))
            return fut
        return SerialExecutor().submit(fn, *args, **kwargs)


def test_executor_failing_mid_sweep_keeps_finished_points(tmp_path):
    store = tmp_path / "s"
    ref = disorder_sweep(POINTS, executor="serial", **KW)
    with pytest.warns(UserWarning, match="failed tasks"):
        broken = disorder_sweep(POINTS, executor=BreaksAfter(2), store=store, chunk_size=6, **KW)
    assert sorted(broken.failed) == [2, 3, 4]
    assert "cluster went away" in broken.failed[2] and "not run" in broken.failed[3]
    np.testing.assert_array_equal(broken.values[:2], ref.values[:2])
    assert np.isnan(broken.values[2:]).all() and np.isnan(broken.mean[2:]).all()
    assert len(list(store.glob("*.json"))) == 2 and not _part_files(store)
    resumed = disorder_sweep(POINTS, executor="serial", store=store, **KW)
    assert resumed.complete and resumed.n_loaded == 12 and resumed.n_computed == 18
    assert _bytes(resumed) == _bytes(ref)


def test_failed_futures_are_reported(tmp_path):
    with pytest.warns(UserWarning, match="failed tasks"):
        res = disorder_sweep(POINTS, executor=FailingFutures(), store=tmp_path, chunk_size=6, **KW)
    assert set(res.failed) == {2} and "worker died" in res.failed[2]
    assert np.isfinite(res.values[[0, 1, 3, 4]]).all()


def test_point_that_raises_in_its_task():
    pts = [POINTS[0], ({0: 0.5, 40: 1.0}, {})]  # range 40 does not fit a 60-cell ring
    with pytest.warns(UserWarning, match="failed tasks"):
        res = disorder_sweep(pts, executor="serial", **KW)
    assert list(res.failed) == [1] and "does not fit" in res.failed[1]
    assert np.isfinite(res.values[0]).all()


def test_damaged_store_file_is_recomputed(tmp_path):
    ref = disorder_sweep(POINTS[:1], executor="serial", **KW)
    disorder_sweep(POINTS[:1], executor="serial", store=tmp_path, chunk_size=3, **KW)
    f = sorted(tmp_path.glob("*.json"))[0]
    f.write_text("{not json")
    with pytest.warns(UserWarning, match="unreadable"):
        res = disorder_sweep(POINTS[:1], executor="serial", store=tmp_path, **KW)
    assert res.n_computed == 3 and _bytes(res) == _bytes(ref)
    assert (tmp_path / (f.name + ".corrupt")).exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = disorder_sweep(POINTS[:1], executor="serial", store=tmp_path, **KW)
    assert again.n_computed == 0 and _bytes(again) == _bytes(ref)
    for g in tmp_path.glob("*.json"):
        json.loads(g.read_text())


def test_gapless_realizations_are_counted():
    # clean transition point: every realization is gapless for the exact route
    res = disorder_sweep([({0: 1.0, 1: 1.0}, {})], executor="serial", method="twisted", **KW)
    assert res.n_gapless[0] == 6 and np.isnan(res.values[0]).all() and res.count[0] == 0


def test_realization_windings_unit():
    vals, ng = realization_windings(*TAI, 100, "periodic", "twisted", 0, 3, 5)
    assert vals.tolist() == [1.0, 1.0] and ng == 0


# ------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("n", [0, -2, 1.5, True, "3"])
def test_non_positive_realization_counts(n):
    with pytest.raises(ValueError, match="n_realizations must be a positive integer"):
        disorder_sweep(POINTS, 60, n, executor="serial", progress=False)
    with pytest.raises(ValueError, match="n_realizations"):
        disorder_average(*TAI, n_cells=60, n_realizations=n, executor="serial", progress=False)


@pytest.mark.parametrize(
    "points, msg",
    [
        ([({0: float("nan"), 1: 1.0}, {})], "point 0: .*NaN"),
        ([POINTS[0], ({0: 1.0, 1: 1.0}, {0: float("inf")})], "point 1: .*NaN or infinite"),
        ([({0: 1.0, 1: 1.0}, {0: -1.0})], ">= 0"),
        ([({}, {})], "non-empty"),
        ([], "empty"),
        ([42], "a point is"),
        ([({0.5: 1.0}, {})], "integer"),
    ],
)
def test_bad_points(points, msg):
    with pytest.raises(ValueError, match=msg):
        disorder_sweep(points, 60, 2, executor="serial", progress=False)


@pytest.mark.parametrize(
    "kw, msg",
    [
        (dict(method="twisted", boundary="open"), "periodic"),
        (dict(method="magic"), "unknown method"),
        (dict(boundary="moebius"), "unknown boundary"),
        (dict(seed=-1), "seed"),
        (dict(chunk_size=0), "chunk_size"),
        (dict(executor="nonsense"), "unknown executor"),
    ],
)
def test_bad_settings(kw, msg):
    with pytest.raises(ValueError, match=msg):
        disorder_sweep(POINTS, 60, 2, progress=False, **{"executor": "serial", **kw})


def test_dask_local_cluster_gives_identical_bytes():
    distributed = pytest.importorskip("dask.distributed")
    ref = disorder_sweep(POINTS, executor="serial", **KW)
    ref_local = disorder_sweep(POINTS[:2], executor="serial", method="local", boundary="open",
                               **dict(KW, n_cells=80, n_realizations=2))
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        ex = client.get_executor()
        res = disorder_sweep(POINTS, executor=ex, chunk_size=2, **KW)
        res_local = disorder_sweep(POINTS[:2], executor=ex, chunk_size=1, method="local", boundary="open",
                                   **dict(KW, n_cells=80, n_realizations=2))
    assert res.complete and _bytes(res) == _bytes(ref)
    assert _bytes(res_local) == _bytes(ref_local)


class InterruptedAfter(BreaksAfter):
    """Ctrl-C (or a killed driver) after ``n`` tasks."""

    def submit(self, fn, *args, **kwargs):
        if self.n <= 0:
            raise KeyboardInterrupt
        return super().submit(fn, *args, **kwargs)


def test_interrupted_sweep_restarts_where_it_stopped(tmp_path):
    ref = disorder_sweep(POINTS, executor="serial", **KW)
    with pytest.raises(KeyboardInterrupt):
        disorder_sweep(POINTS, executor=InterruptedAfter(3), store=tmp_path, chunk_size=3, **KW)
    assert len(list(tmp_path.glob("*.json"))) == 3 and not _part_files(tmp_path)
    res = disorder_sweep(POINTS, executor="serial", store=tmp_path, **KW)
    assert res.n_loaded == 9 and res.n_computed == 21 and _bytes(res) == _bytes(ref)


def test_atomic_writes_get_normal_permissions(tmp_path):
    import os

    from tntopo._io import write_json

    write_json(tmp_path / "r.json", {"a": 1})
    mode = os.stat(tmp_path / "r.json").st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # like any file the user writes, not mkstemp's 0600
    assert not list(tmp_path.glob("*.part"))


def test_unknown_and_inapplicable_options_raise_typeerror():
    with pytest.raises(TypeError, match=r"'bufer'.*valid keywords: .*local"):
        disorder_sweep(POINTS, bufer=3, executor="serial", **KW)
    with pytest.raises(TypeError, match=r"disorder_average\(\): local= is inapplicable with method='twisted'.*buffer="):
        disorder_average({0: 0.5, 1: 1.0}, {0: 1.0}, 40, 2, method="twisted", local=LocalOptions(buffer=5),
                         executor="serial")
    with pytest.raises(TypeError, match=r"disorder_sweep\(\): LocalOptions\(threads=...\) is inapplicable"):
        disorder_sweep(POINTS, method="local", local=LocalOptions(threads=2), executor="serial", **KW)
    with pytest.raises(ValueError, match=r"local= takes a tntopo.LocalOptions"):
        disorder_sweep(POINTS, method="local", local={"buffer": 3}, executor="serial", **KW)
    with pytest.raises(TypeError, match="region= is inapplicable with method='twisted'"):
        disorder_sweep(POINTS, method="twisted", region=(0, 10), executor="serial", **KW)
    with pytest.raises(TypeError, match="valid keywords"):
        tntopo.parallel.map_tasks(abs, [], "serial", progres=False)


def test_route_options_reach_winding_number():
    pts = [({0: 0.6, 1: 1.0}, {0: 1.0})]
    opts = LocalOptions(buffer=20, check=False)
    res = disorder_sweep(pts, 200, 2, boundary="open", method="local", local=opts, executor="serial", seed=3)
    for r in range(2):
        chain = SSHChain({0: 0.6, 1: 1.0}, 200, "open", {0: 1.0}, task_seed(3, r))
        assert res.values[0, r] == winding_number(chain, method="local", local=opts)
    # the buffer reached the route: another buffer gives other values
    other = disorder_sweep(pts, 200, 2, boundary="open", method="local", local=LocalOptions(buffer=3, check=False),
                           executor="serial", seed=3)
    assert not np.array_equal(other.values, res.values)
    # realization_windings takes the same options by name (tasks are plain argument tuples)
    vals, _ = realization_windings({0: 0.6, 1: 1.0}, {0: 1.0}, 200, "open", "local", 3, 0, 2, local=opts)
    np.testing.assert_array_equal(vals, res.values[0])


def test_deprecated_route_keywords_warn_and_keep_the_store(tmp_path):
    """The former keywords (buffer=, ..., check=) still work for one release, with a FutureWarning naming
    local=LocalOptions(...); a store written with them is found again with local= (same file names)."""
    pts = [({0: 0.6, 1: 1.0}, {0: 1.0})]
    kw = dict(boundary="open", method="local", executor="serial", seed=3, store=tmp_path)
    with pytest.warns(FutureWarning, match=r"disorder_sweep\(\): the keywords buffer=, check= are deprecated: "
                      r"pass local=tntopo.LocalOptions\(buffer=20, check=False\)"):
        old = disorder_sweep(pts, 200, 2, buffer=20, check=False, **kw)
    assert old.n_computed == 2
    new = disorder_sweep(pts, 200, 2, local=LocalOptions(buffer=20, check=False), **kw)
    assert new.n_loaded == 2 and new.n_computed == 0
    np.testing.assert_array_equal(new.values, old.values)
    with pytest.warns(FutureWarning, match=r"disorder_average\(\): the keywords buffer=, check= are deprecated: "
                      r"pass local=tntopo.LocalOptions\(buffer=20\)"):  # None: not given, as before
        avg = disorder_average(*pts[0], 200, 2, buffer=20, check=None, **kw)
    np.testing.assert_array_equal(avg.values, old.values[0])
    with pytest.warns(FutureWarning, match="realization_windings"):
        vals, _ = realization_windings(*pts[0], 200, "open", "local", 3, 0, 2, buffer=20, check=False)
    np.testing.assert_array_equal(vals, old.values[0])
    with pytest.raises(TypeError, match="not also as buffer="):
        disorder_sweep(pts, 200, 2, buffer=20, local=LocalOptions(check=False), **kw)


def test_progress_bar_is_opt_in(capsys):
    disorder_average({0: 0.5, 1: 1.0}, {0: 1.0}, 40, 2, executor="serial")
    assert "disorder average" not in capsys.readouterr().err
    disorder_average({0: 0.5, 1: 1.0}, {0: 1.0}, 40, 2, executor="serial", progress=True)
    assert "disorder average" in capsys.readouterr().err


class _CountingPool(ThreadPoolExecutor):
    """Records how many submitted tasks were unfinished at each submission."""

    def __init__(self):
        super().__init__(2)
        self.inflight, self.most = 0, 0
        self.lock = __import__("threading").Lock()

    def submit(self, fn, /, *args, **kwargs):
        with self.lock:
            self.inflight += 1
            self.most = max(self.most, self.inflight)
        fut = super().submit(fn, *args, **kwargs)

        def done(_):
            with self.lock:
                self.inflight -= 1

        fut.add_done_callback(done)
        return fut


def _slow_square(x):
    import time

    time.sleep(0.002)
    return x * x


def test_map_tasks_bounded_queue_and_results():
    from tntopo.parallel import map_tasks

    with _CountingPool() as pool:
        out = map_tasks(_slow_square, ((i, (i,)) for i in range(40)), pool, progress=False, max_pending=3)
    assert out == {i: i * i for i in range(40)} and 1 <= pool.most <= 3


def test_map_tasks_on_result_error_is_a_failure():
    from tntopo.parallel import TaskFailure, map_tasks

    def reject(key, res):
        if key == 2:
            raise ValueError("bad shape")

    out = map_tasks(_slow_square, [(i, (i,)) for i in range(4)], "serial", progress=False, on_result=reject)
    assert isinstance(out[2], TaskFailure) and "bad shape" in str(out[2].error)
    assert [out[i] for i in (0, 1, 3)] == [0, 1, 9]


def test_ensemble_result_save_load_roundtrip(tmp_path):
    from tntopo.invariants.winding.ensemble import EnsembleResult

    e = tntopo.disorder_average({0: 0.5, 1: 1.0}, {0: 1.0, 1: 0.5}, n_cells=30, n_realizations=5, executor="serial",
                                progress=False)
    e.save(tmp_path / "e.json")
    back = EnsembleResult.load(tmp_path / "e.json")
    assert (back.mean, back.std, back.sem, back.count, back.n_gapless, back.failed) == \
        (e.mean, e.std, e.sem, e.count, e.n_gapless, e.failed)
    assert np.array_equal(back.values, e.values, equal_nan=True) and repr(back) == repr(e)
    assert "array" not in repr(e) and "array" not in repr(e.sweep)
    assert b"pickle" not in (tmp_path / "e.json").read_bytes() and (tmp_path / "e.json").read_text().startswith("{")
