"""Threads: the study's tasks run torch and BLAS on one thread wherever they run (their bytes do not
depend on the machine's core count), and tntopo's pool workers share the cores instead of each
running a BLAS thread per core (``benchmarks/bench_blas_threads.py`` measures both)."""
import os

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from tntopo.parallel import _worker_threads, get_executor


def _blas_threads():
    return sorted({d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"})


needs_blas = pytest.mark.skipif(not _blas_threads(), reason="no BLAS library that threadpoolctl controls")


class _Seen(Exception):
    pass


@needs_blas
def test_study_tasks_run_on_one_thread_and_restore(monkeypatch):
    import importlib

    import torch

    rp = importlib.import_module("tntopo.study.reproduce")  # the module (the package exports a function so named)
    why = importlib.import_module("tntopo.study.why")
    from tntopo.study.config import TINY

    seen = []

    def record(*a, **k):
        seen.append((_blas_threads(), torch.get_num_threads()))
        raise _Seen

    monkeypatch.setattr(rp, "_sets_for", record)  # run_training's first step
    monkeypatch.setattr(why, "run_why_task", record)
    monkeypatch.setattr(rp, "_why_task_list", lambda cfg, lrs: [None])
    torch_before = torch.get_num_threads()
    with threadpool_limits(2, user_api="blas"):
        torch.set_num_threads(2)
        try:
            with pytest.raises(_Seen):
                rp.run_training(TINY, "topo", 0, 1e-2)
            with pytest.raises(_Seen):
                rp.run_section(TINY, "why", 0, lr=())
            assert seen == [([1], 1), ([1], 1)]
            assert _blas_threads() == [2] and torch.get_num_threads() == 2  # restored on the way out
        finally:
            torch.set_num_threads(torch_before)
    with pytest.raises(ValueError, match="unknown section"):
        rp.run_section(TINY, "nonsense", 0)


@pytest.mark.parametrize("n_workers,cores,expected", [(1, 2, 2), (2, 2, 1), (3, 2, 1), (4, 16, 4), (5, 16, 3)])
def test_worker_threads_share_the_cores(monkeypatch, n_workers, cores, expected):
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert _worker_threads(n_workers) == expected


@needs_blas
def test_pool_workers_cap_their_blas():
    n = 2
    # what a worker sees once numpy is loaded (loaded by the fork server's preload, or after the worker started)
    probe = "__import__('numpy') and __import__('threadpoolctl').threadpool_info()"
    with get_executor("process", max_workers=n) as ex:
        infos = [f.result() for f in [ex.submit(eval, probe) for _ in range(4 * n)]]
    caps = {d["num_threads"] for info in infos for d in info if d["user_api"] == "blas"}
    assert caps == {_worker_threads(n)}

