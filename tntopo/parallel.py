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
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Tuple, Union

import numpy as np

from ._typing import EXECUTOR_KINDS, strict_keywords

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
@strict_keywords
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
        kinds = ", ".join(repr(k) for k in EXECUTOR_KINDS)
        raise ValueError(
            f"unknown executor {executor!r}; use None, one of {kinds}, a dask scheduler "
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


def _default_max_pending(max_workers: Optional[int]) -> int:
    return max(8, 4 * (max_workers or os.cpu_count() or 1))


@strict_keywords
def map_tasks(
    fn: Callable,
    tasks: Iterable[Tuple[Any, tuple]],
    executor: ExecutorLike = None,
    *,
    progress: bool = True,
    desc: Optional[str] = None,
    unit: str = "task",
    total: Optional[int] = None,
    on_result: Optional[Callable[[Any, Any], None]] = None,
    max_workers: Optional[int] = None,
    max_pending: Optional[int] = None,
    mp_context: Optional[str] = None,
) -> Dict[Any, Any]:
    """Run ``fn(*args)`` for each ``(key, args)`` of ``tasks`` on an executor.

    The one scheduler of tntopo (datasets, disorder ensembles, seed sweeps). At most ``max_pending`` tasks are submitted at a time (a bounded queue: a sweep of millions
    of tasks never holds millions of futures, and a dask cluster is fed as it drains). If the
    executor breaks (it refuses a submission, e.g. a process pool whose worker died), nothing
    more is submitted: the tasks already running are collected, the refused one and all that
    were never submitted are reported as :class:`TaskFailure`. If the caller is interrupted
    (``KeyboardInterrupt``...), every task that did finish is still handed to ``on_result``
    before the exception propagates.

    Parameters
    ----------
    fn : callable
        A picklable (module-level) function for process pools and dask.
    tasks : iterable of (key, args)
        Consumed lazily.
    executor : see module docstring
    progress : bool
        Show a tqdm progress bar.
    desc, unit : str, optional
        Label and unit of the progress bar.
    total : int, optional
        Number of tasks, for the bar (default: ``len(tasks)`` when it has one).
    on_result : callable(key, result), optional
        Called in this process as each task finishes (e.g. to save it to disk at once, which
        makes a sweep resumable). If it raises, the task is recorded as a :class:`TaskFailure`.
    max_workers, mp_context : optional
        Size and start method of the default process pool (see :func:`get_executor`).
    max_pending : int, optional
        Tasks in flight at most (default: ``max(8, 4 * workers)``).

    Returns
    -------
    dict
        ``{key: result}``, with a :class:`TaskFailure` for every task that raised or was not
        run; the other results are kept.
    """
    from tqdm.auto import tqdm

    out: Dict[Any, Any] = {}
    if total is None and hasattr(tasks, "__len__"):
        total = len(tasks)  # type: ignore[arg-type]
    if total == 0:
        return out
    limit = _default_max_pending(max_workers) if max_pending is None else max(1, int(max_pending))

    def collect(fut: Future, key) -> None:
        try:
            res = fut.result()
            if on_result is not None:
                on_result(key, res)
        except Exception as exc:  # noqa: BLE001 - reported, other tasks go on
            res = TaskFailure(key, exc)
        out[key] = res

    queue = iter(tasks)
    pending: Dict[Future, Any] = {}
    broken: Optional[BaseException] = None
    with get_executor(executor, max_workers, mp_context) as ex, \
            tqdm(total=total, desc=desc, unit=unit, disable=not progress) as bar:
        try:
            while True:
                while broken is None and len(pending) < limit:
                    item = next(queue, None)
                    if item is None:
                        break
                    key, args = item
                    try:
                        fut = ex.submit(fn, *args)
                    except Exception as exc:  # noqa: BLE001 - the executor broke: stop submitting
                        broken = exc
                        out[key] = TaskFailure(key, RuntimeError(f"the executor refused the task: {exc!r}"))
                        bar.update(1)
                        break
                    pending[fut] = key
                if not pending:
                    break
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for fut in done:
                    collect(fut, pending.pop(fut))
                    bar.update(1)
        except BaseException:
            # interrupted (Ctrl-C, a dying driver...): keep every task that did finish
            for fut, key in list(pending.items()):
                if fut.done() and not fut.cancelled():
                    collect(fut, key)
            raise
        if broken is not None:
            for key, _ in queue:
                out[key] = TaskFailure(key, RuntimeError(f"not run, the executor broke: {broken!r}"))
                bar.update(1)
    return out
