"""Scale-out helpers: executors, deterministic per-task seeds, progress.

Everything embarrassingly parallel in tntopo (disorder ensembles, dataset shards, seed sweeps)
takes ``executor=``:

* ``None`` or ``"process"``: a local :class:`concurrent.futures.ProcessPoolExecutor`
  (one worker per core), created and shut down by tntopo;
* ``"serial"``: run in this process (debugging, tests);
* ``"thread"``: a local thread pool;
* a string address such as ``"tcp://10.0.0.5:8786"``: a running dask.distributed scheduler
  (``Client(address).get_executor()``);
* any :class:`concurrent.futures.Executor` you made yourself, e.g.
  ``dask.distributed.Client(...).get_executor()``; it is used as is and not shut down.

Results never depend on the executor or the number of workers: every task derives its random
numbers from :func:`task_seed` (the master seed and the task's key), never from a shared stream.
"""
from __future__ import annotations

import os
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ["SerialExecutor", "get_executor", "task_seed", "map_tasks", "TaskFailure"]

ExecutorLike = Union[None, str, Executor]


class SerialExecutor(Executor):
    """An :class:`~concurrent.futures.Executor` that runs each task at submission, in this process."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        """Run ``fn(*args, **kwargs)`` now; return a finished Future with its result or error."""
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            fut.set_exception(exc)
        return fut


@contextmanager
def get_executor(
    executor: ExecutorLike = None, max_workers: Optional[int] = None, mp_context: Optional[str] = None
) -> Iterator[Executor]:
    """Context manager resolving ``executor=`` (see the module docstring) to an Executor.

    Executors created here are shut down on exit; user-provided ones are left running.
    ``mp_context`` (e.g. ``"spawn"``, needed once torch is loaded: it is not fork-safe) sets the
    start method of the default process pool.
    """
    if isinstance(executor, Executor):
        yield executor
        return
    if executor is None or executor == "process":
        n = max_workers or os.cpu_count() or 1
        ctx = None
        if mp_context is not None:
            import multiprocessing

            ctx = multiprocessing.get_context(mp_context)
        ex: Executor = ProcessPoolExecutor(max_workers=n, mp_context=ctx)
    elif executor == "serial":
        ex = SerialExecutor()
    elif executor == "thread":
        ex = ThreadPoolExecutor(max_workers=max_workers or os.cpu_count() or 1)
    elif isinstance(executor, str) and ("://" in executor or ":" in executor):
        try:
            from dask.distributed import Client
        except ImportError:  # pragma: no cover - depends on the install
            raise ValueError(
                f"executor={executor!r} looks like a dask scheduler address, but dask.distributed is "
                "not installed; pip install 'tntopo[distributed]'"
            ) from None
        client = Client(executor)
        try:
            yield client.get_executor()
        finally:
            client.close()
        return
    else:
        raise ValueError(
            f"unknown executor {executor!r}; use None/'process', 'serial', 'thread', a dask scheduler "
            "address 'tcp://host:port', or a concurrent.futures.Executor"
        )
    try:
        yield ex
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def task_seed(seed: int, *key: int) -> np.random.SeedSequence:
    """Seed of one task: ``SeedSequence(seed, spawn_key=key)``; independent of scheduling."""
    return np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in key))


class TaskFailure:
    """Stands in the results of :func:`map_tasks` for a task that raised."""

    def __init__(self, key, error: BaseException):
        self.key = key
        self.error = error

    def __repr__(self) -> str:
        return f"TaskFailure(key={self.key!r}, error={self.error!r})"


def map_tasks(
    fn: Callable,
    tasks: Sequence[Tuple[Any, tuple]],
    executor: ExecutorLike = None,
    *,
    progress: bool = True,
    desc: Optional[str] = None,
    on_result: Optional[Callable[[Any, Any], None]] = None,
    max_workers: Optional[int] = None,
    mp_context: Optional[str] = None,
) -> Dict[Any, Any]:
    """Run ``fn(*args)`` for each ``(key, args)`` of ``tasks`` on an executor.

    Parameters
    ----------
    fn : callable
        A picklable (module-level) function for process pools and dask.
    tasks : sequence of (key, args)
    executor : see module docstring
    progress : bool
        Show a tqdm progress bar.
    on_result : callable(key, result), optional
        Called in this process as each task finishes (e.g. to save it to disk at once, which
        makes a sweep resumable).
    max_workers, mp_context : optional
        Size and start method of the default process pool (see :func:`get_executor`).

    Returns
    -------
    dict
        ``{key: result}``, with a :class:`TaskFailure` for every task that raised; the other
        results are kept.
    """
    from tqdm.auto import tqdm

    out: Dict[Any, Any] = {}
    if not tasks:
        return out
    with get_executor(executor, max_workers, mp_context) as ex:
        futs = {ex.submit(fn, *args): key for key, args in tasks}
        with tqdm(total=len(futs), desc=desc, disable=not progress) as bar:
            for fut in as_completed(futs):
                key = futs[fut]
                try:
                    res = fut.result()
                except Exception as exc:  # noqa: BLE001 - reported, other tasks go on
                    res = TaskFailure(key, exc)
                else:
                    if on_result is not None:
                        on_result(key, res)
                out[key] = res
                bar.update(1)
    return out
