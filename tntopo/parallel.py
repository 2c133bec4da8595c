"""Scale-out helpers: executors, deterministic per-task seeds, progress, clean stops.

Everything embarrassingly parallel in tntopo (disorder ensembles, dataset shards, seed sweeps)
takes ``executor=``:

* ``None`` or ``"process"``: a local :class:`concurrent.futures.ProcessPoolExecutor`
  (one worker per core), created and shut down by tntopo (see *Process pools* below);
* ``"serial"``: run in this process (debugging, tests);
* ``"thread"``: a local thread pool;
* a string address such as ``"tcp://10.0.0.5:8786"``: a running dask.distributed scheduler
  (``Client(address).get_executor()``);
* any :class:`concurrent.futures.Executor` you made yourself, e.g.
  ``dask.distributed.Client(...).get_executor()``; it is used as is and not shut down.

Results never depend on the executor or the number of workers: every task derives its random
numbers from :func:`task_seed` (the master seed and the task's key), never from a shared stream.

**Process pools.**

:func:`get_executor` is the one factory of tntopo's process pools (dataset generation, disorder
ensembles, phase diagrams, the study all get theirs from it):

* **Start method** ``"forkserver"`` where the platform has it (Linux, macOS), else ``"spawn"``;
  never ``"fork"``: a process forked after torch or a BLAS library has started threads can hang
  (their locks are copied in whatever state they were). The fork server is started once per
  program with tntopo's modules (and those of the task function) already imported, so a worker
  starts in milliseconds; it imports nothing that starts threads before it forks. Workers
  re-import the calling script, as with ``"spawn"``: guard a script that uses a process pool
  with ``if __name__ == "__main__":``.
* **Workers never outlive this process.** Each worker, as it starts, (1) asks Linux to kill it
  when its parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``; with ``"forkserver"`` the parent is
  the fork server, which exits as soon as this process is gone: the worker closes its copy of the
  pipe whose end of file tells the fork server so), and (2) runs a watchdog thread, on every
  platform, that checks twice a second whether its parent or this process is gone
  (``os.getppid()`` changed, or this process's pid no longer exists) and then ends the worker
  with ``os._exit`` (a worker still importing its modules when this process dies -- with
  ``"spawn"`` that can take seconds -- does so as soon as it has started). Either way the worker
  writes nothing: results are only ever written by this process, and atomically. The kernel's
  signal also ends a worker stuck in a C call that holds the GIL, where the watchdog cannot run.
  Measured on Linux (2 cores, ``tests/test_interrupts.py``; ``kill -9`` of this process):
  fork-server workers, the fork server and multiprocessing's resource tracker all gone within
  0.05-0.09 s at load ~4; ``"spawn"`` workers (the watchdog) within 0.5 s.
* Workers ignore SIGINT: a terminal's Ctrl-C reaches the whole process group, and stopping the
  workers is this process's job (below).
* **Threads per worker.** Each worker caps its BLAS and OpenMP thread pools at the cores shared
  evenly (``cpu_count // max_workers``, at least one; environment variables you set win for the
  libraries loaded after the start). One worker per core with a multi-threaded BLAS each would put
  ``cores**2`` spinning threads on the machine: on a busy 2-core machine, 2 workers built a 48-cell
  why task's sets 25x slower that way (``benchmarks/bench_blas_threads.py``).

**Clean stops.**

SIGINT (Ctrl-C) and SIGTERM (what batch schedulers, ``timeout`` and ``kill`` send) take the same
path, :func:`interruptible`: while tntopo's work runs in the main thread, either signal raises
:class:`Interrupted` (a :class:`KeyboardInterrupt`, with ``signum`` and ``exit_status`` 130 or
143). :func:`map_tasks` then submits nothing more, cancels the tasks not yet started, drops the
running ones (tntopo's own process pool stops its workers at once instead of waiting for them),
and writers such as :func:`tntopo.data.generate` write nothing after the signal (every file is
written to a temporary and renamed, so nothing is half-written). A rerun resumes. A handler you
installed yourself for either signal, or a signal ignored (``nohup``), is left alone.

**Dask.**

With a dask scheduler, the futures of a client belong to it: the scheduler removes a client when
its connection closes (``Scheduler.add_client`` calls ``remove_client`` when the client's stream
ends) and releases its futures, so queued tasks never run, and a task already running in a
worker thread runs to its end (dask cannot stop a thread) with its result dropped. A killed
client's socket is closed by the kernel at once: measured, the scheduler had removed a
``kill -9``-ed client running :func:`map_tasks` and released all its tasks 0.05 s later. (A
client *machine* that vanishes without closing its connection is noticed only when TCP gives
up on it.) The worker processes of a ``LocalCluster(processes=True)`` started in your program
are its children, and each exits as soon as the pipe it holds to its parent closes
(``distributed.process.AsyncProcess._immediate_exit_when_closed``): measured, gone 0.0-0.16 s
after a ``kill -9`` of the parent.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from ._typing import EXECUTOR_KINDS, strict_keywords

__all__ = ["SerialExecutor", "get_executor", "task_seed", "map_tasks", "TaskFailure", "Interrupted", "interruptible",
           "START_METHODS"]

ExecutorLike = Union[None, str, Executor]

#: Start methods a tntopo process pool accepts (``mp_context=``); ``None`` picks the first the
#: platform has. ``"fork"`` is refused: it is not safe once torch or BLAS threads exist.
START_METHODS: Tuple[str, ...] = ("forkserver", "spawn")

#: Seconds between two checks of a worker's watchdog for a vanished parent.
WATCHDOG_INTERVAL_S = 0.5


@strict_keywords
class SerialExecutor(Executor):
    """An :class:`~concurrent.futures.Executor` that runs each task at submission, in this process."""

    def __init__(self) -> None:  # explicit, so that a stray keyword gets the strict message
        super().__init__()

    def submit(self, fn, /, *args, **kwargs) -> Future:
        """Run ``fn(*args, **kwargs)`` now; return a finished Future with its result or error."""
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            fut.set_exception(exc)
        return fut


# ----------------------------------------------------------------------------- clean stops
class Interrupted(KeyboardInterrupt):
    """The work was stopped by SIGINT (Ctrl-C) or SIGTERM (see :func:`interruptible`).

    A :class:`KeyboardInterrupt`, so code that handles Ctrl-C handles SIGTERM the same way.

    Attributes
    ----------
    signum : int
        The signal received.
    exit_status : int
        ``128 + signum``, the shell's status of a process ended by that signal (130, 143).
    """

    def __init__(self, signum: int = signal.SIGINT):
        self.signum = int(signum)
        super().__init__(signal.Signals(self.signum).name)

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


#: Signals that stop tntopo's work cleanly.
STOP_SIGNALS: Tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)

_STOP: Dict[str, Any] = {"depth": 0, "signum": None, "children": set(), "force": None}


def stop_requested() -> Optional[int]:
    """The signal that asked the current :func:`interruptible` block to stop, or ``None``."""
    return _STOP["signum"]


def raise_if_stopped() -> None:
    """Raise :class:`Interrupted` if a stop signal arrived (e.g. its exception was swallowed)."""
    if _STOP["signum"] is not None:
        raise Interrupted(_STOP["signum"])


def _on_signal(signum, frame):
    if _STOP["signum"] is None:
        _STOP["signum"] = int(signum)
        if _STOP["force"] is not None:
            _STOP["force"].arm(int(signum))
    raise Interrupted(signum)


def _ours(sig: int, handler) -> bool:
    """Whether ``handler`` is Python's default for ``sig`` (then tntopo may take the signal over)."""
    return handler is signal.default_int_handler if sig == signal.SIGINT else handler == signal.SIG_DFL


class _ForceExit:
    """The backstop of a program's :func:`interruptible` block: if the block has not ended
    ``grace`` seconds after a stop signal (the main thread stuck in a long C call, say), stop the
    worker processes, remove the temporaries of unfinished atomic writes, print ``message`` and
    end the program with status ``128 + signum``. The signal is seen through
    ``signal.set_wakeup_fd`` (written by the C-level handler at once, whatever the main thread
    is doing) by a watchdog thread."""

    def __init__(self, grace: float, message: Union[str, Callable[[int], str]]):
        self.grace = float(grace)
        self.message = message
        self.done = threading.Event()
        self.armed = threading.Event()
        self.signum = signal.SIGINT
        self.sockets = None
        self.old_fd = None

    def arm(self, signum: int) -> None:
        self.signum = signum
        self.armed.set()

    def start(self) -> None:
        import socket

        try:
            r, w = socket.socketpair()
            w.setblocking(False)
            self.old_fd = signal.set_wakeup_fd(w.fileno(), warn_on_full_buffer=False)
        except (OSError, ValueError):  # pragma: no cover - no wakeup fd on this platform
            self.sockets = None
        else:
            self.sockets = (r, w)
            threading.Thread(target=self._read, args=(r,), daemon=True, name="tntopo-signals").start()
        threading.Thread(target=self._watch, daemon=True, name="tntopo-interrupt").start()

    def _read(self, sock) -> None:  # wakes the watchdog even while the main thread is stuck in C
        while True:
            try:
                data = sock.recv(64)
            except OSError:
                return
            if not data:
                return
            for sig in STOP_SIGNALS:
                if sig in data:
                    self.arm(sig)

    def _watch(self) -> None:
        self.armed.wait()
        if not self.done.wait(self.grace):
            self.exit()

    def exit(self):  # pragma: no cover - runs in the watchdog thread of a stuck interrupted program
        stop_children()
        from ._io import remove_unfinished

        remove_unfinished()
        line = self.message(self.signum) if callable(self.message) else self.message
        print(line, file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(128 + self.signum)

    def stop(self) -> None:
        self.done.set()
        self.armed.set()
        if self.sockets is not None:
            signal.set_wakeup_fd(self.old_fd)
            r, w = self.sockets
            w.close()
            try:
                r.shutdown(2)
            except OSError:  # pragma: no cover
                pass
            r.close()


def _unraisable_hook(old):
    def hook(u):
        if isinstance(u.exc_value, KeyboardInterrupt) and _STOP["signum"] is not None:
            # a stop signal's exception landed where Python can only print and drop it (a weakref
            # callback, a __del__): drop it quietly; the stop is recorded, and map_tasks and the
            # writers raise it again (raise_if_stopped), the command's backstop ends a stuck unwind
            return
        old(u)
    return hook


@strict_keywords
@contextmanager
def interruptible(*, force_exit_after: Optional[float] = None,
                  message: Union[str, Callable[[int], str]] = "interrupted") -> Iterator[None]:
    """Make SIGINT and SIGTERM a clean stop of the block: both raise :class:`Interrupted`.

    In the main thread, while the block runs, the first of either signal records itself
    (:func:`stop_requested`, seen by writers that must write nothing more) and raises
    :class:`Interrupted` (a :class:`KeyboardInterrupt`: exit status ``exit_status``, 130 or 143).
    Only signals whose handler is Python's default are taken over (yours, or an ignored signal,
    are left alone), and the handlers are restored on exit. Re-entrant: an inner block shares the
    outer one's state. Elsewhere than in the main thread it does nothing (signals only reach the
    main thread). :func:`map_tasks` runs inside one.

    Parameters
    ----------
    force_exit_after : float, optional
        For programs (the ``tntopo`` command): if the block is still running this many seconds
        after a stop signal, stop the worker processes started inside it, remove the temporaries
        of unfinished atomic writes, print ``message`` on stderr and end the process with status
        ``128 + signum`` (``os._exit``). ``None`` (the default, for libraries): never.
    message : str or callable(signum) -> str
        The line printed by a forced exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _STOP["depth"] > 0:
        _STOP["depth"] += 1
        try:
            yield
        finally:
            _STOP["depth"] -= 1
        return
    import multiprocessing

    _STOP.update(depth=1, signum=None, children=set(multiprocessing.active_children()), force=None)
    old = {}
    for sig in STOP_SIGNALS:
        current = signal.getsignal(sig)
        if _ours(sig, current):
            old[sig] = current
            signal.signal(sig, _on_signal)
    old_hook = sys.unraisablehook
    sys.unraisablehook = _unraisable_hook(old_hook)
    force = None
    if force_exit_after is not None:
        force = _ForceExit(force_exit_after, message)
        _STOP["force"] = force
        force.start()
    try:
        yield
    finally:
        if force is not None:
            force.stop()
        for sig, handler in old.items():
            signal.signal(sig, handler)
        sys.unraisablehook = old_hook
        _STOP.update(depth=0, force=None, signum=None)


def stop_children() -> None:
    """Stop the worker processes started since the outermost :func:`interruptible` block began
    (tntopo's pools and any other ``multiprocessing`` children, e.g. torch's data loaders)."""
    import multiprocessing

    before = _STOP["children"]
    _stop_processes([c for c in multiprocessing.active_children() if c not in before])


def _stop_processes(processes: Sequence[Any]) -> None:
    """SIGKILL each process that is still running (workers hold nothing worth saving).

    No ``join`` or ``is_alive`` here: the pool's own thread reaps its workers (two threads
    reading one fork-server worker's exit status would race).
    """
    for p in processes:
        try:
            p.kill()
        except (OSError, ValueError, AttributeError):  # not started, or already closed
            pass


# ----------------------------------------------------------------------------- process pools
def _watch_parent(parent: int, main: int, interval: float) -> None:
    """A worker's watchdog: end the worker, writing nothing, once its parent or the main process is gone."""
    while True:
        time.sleep(interval)
        if os.getppid() != parent:
            os._exit(1)
        try:
            os.kill(main, 0)
        except ProcessLookupError:
            os._exit(1)
        except OSError:  # pragma: no cover - e.g. no permission: the parent check still holds
            pass


def _set_parent_death_signal() -> bool:
    """Linux: have the kernel SIGKILL this process when its parent exits (``PR_SET_PDEATHSIG``)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        return libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl
        return False


def _release_fork_server() -> None:
    """Close this worker's copy of the fork server's "main process alive" pipe.

    multiprocessing hands every fork-server child the write end of the pipe whose end of file
    tells the fork server that the main process is gone; while a worker holds it, the fork server
    outlives the main process, and so the worker's ``PR_SET_PDEATHSIG`` never fires. Closed, the
    fork server exits as soon as the main process dies and the kernel kills the workers at once,
    even one stuck in a C call that holds the GIL (where the watchdog thread cannot run). (A
    worker then cannot start a fork-server pool of its own; tntopo's workers start none.)
    """
    try:
        from multiprocessing import forkserver

        server = forkserver._forkserver
        fd = server._forkserver_alive_fd
        if isinstance(fd, int):
            server._forkserver_alive_fd = None
            os.close(fd)
    except (AttributeError, OSError):  # another Python's internals: the watchdog still holds
        pass


def _worker_threads(n_workers: int) -> int:
    """Threads each of ``n_workers`` pool workers may use: the cores shared evenly, at least one.

    A pool of one worker per core whose workers each run a BLAS with one thread per core puts
    ``cores**2`` threads on ``cores`` cores; OpenBLAS's threads spin while they wait (25x slower on a busy
    2-core machine, ``benchmarks/bench_blas_threads.py``).
    """
    return max(1, (os.cpu_count() or 1) // max(1, int(n_workers)))


def _limit_threads(threads: int) -> None:
    """Cap this worker's BLAS/OpenMP thread pools at ``threads`` for its lifetime: the libraries loaded
    now through threadpoolctl, those loaded later (torch) through the environment variables they read at
    load, unless the user set them."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)  # kept: the worker ends with its process
    except Exception:  # pragma: no cover - threadpoolctl cannot read a library: that library keeps its threads
        pass


def _worker_start(main: int, pdeathsig: bool, interval: float, threads: int = 0) -> None:
    """Initializer of every tntopo pool worker (see the module docstring: *Process pools*)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if threads > 0:
        _limit_threads(threads)
    parent = os.getppid()
    if pdeathsig:  # only when the parent is a single-threaded fork server: the signal follows
        _set_parent_death_signal()  # the death of the *thread* that forked, not of the process
        _release_fork_server()
    if parent == 1:  # the parent died before the worker got here
        os._exit(1)
    try:
        os.kill(main, 0)
    except ProcessLookupError:
        os._exit(1)
    except OSError:  # pragma: no cover
        pass
    threading.Thread(target=_watch_parent, args=(parent, main, interval), daemon=True,
                     name="tntopo-parent-watchdog").start()


class _PoolContext:
    """The multiprocessing context of one tntopo pool: a safe start method, and the list of the
    worker processes it started, so that an interrupted pool can be stopped at once without the
    executor's private state (``ProcessPoolExecutor(mp_context=...)`` takes any context)."""

    def __init__(self, method: str):
        import multiprocessing

        self._ctx = multiprocessing.get_context(method)
        self.processes: List[Any] = []

    def Process(self, *args, **kwargs):  # noqa: N802 - the name of a multiprocessing context's factory
        p = self._ctx.Process(*args, **kwargs)
        self.processes.append(p)
        return p

    def __getattr__(self, name):
        return getattr(self._ctx, name)


def _start_method(mp_context: Optional[str]) -> str:
    import multiprocessing

    if mp_context is None:
        have = multiprocessing.get_all_start_methods()
        return next(m for m in START_METHODS if m in have)
    if mp_context not in START_METHODS:
        from ._typing import check_option

        check_option("mp_context", mp_context, START_METHODS,
                     hint=" or None (the platform's safe one); 'fork' is not offered: a process forked after torch "
                          "or BLAS started threads can hang")
    return mp_context


def _process_pool(max_workers: Optional[int], mp_context: Optional[str],
                  preload: Sequence[str] = ()) -> Tuple[ProcessPoolExecutor, _PoolContext]:
    method = _start_method(mp_context)
    ctx = _PoolContext(method)
    if method == "forkserver":
        # read only when the fork server starts (once per program): the modules its workers need
        ctx.set_forkserver_preload(sorted({"tntopo.parallel", *preload}))
    n = max_workers or os.cpu_count() or 1
    ex = ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_worker_start,  # type: ignore[arg-type]
                             initargs=(os.getpid(), method == "forkserver", WATCHDOG_INTERVAL_S,
                                       _worker_threads(n)))
    return ex, ctx


@contextmanager
@strict_keywords
def get_executor(
    executor: ExecutorLike = None, max_workers: Optional[int] = None, mp_context: Optional[str] = None,
    *, preload: Sequence[str] = (),
) -> Iterator[Executor]:
    """Context manager resolving ``executor=`` (see the module docstring) to an Executor.

    Executors created here are shut down on exit; user-provided ones are left running. If the
    block raises (an :class:`Interrupted` stop, an error), a process pool created here is stopped
    at once: its queued tasks are cancelled and its workers killed (what they were computing is
    dropped; they write nothing), so the caller does not wait for running tasks.

    Parameters
    ----------
    executor : None, "process", "serial", "thread", a dask scheduler address, or an Executor
    max_workers : int, optional
        Size of a local pool (default: one per core).
    mp_context : {"forkserver", "spawn"}, optional
        Start method of the process pool (default: ``"forkserver"`` where the platform has it,
        else ``"spawn"``; see *Process pools* in the module docstring).
    preload : sequence of str
        Modules the fork server imports before it forks workers (it is started once per program,
        by the first pool; :func:`map_tasks` passes the task function's module).
    """
    if isinstance(executor, Executor):
        yield executor
        return
    ctx: Optional[_PoolContext] = None
    if executor is None or executor == "process":
        ex, ctx = _process_pool(max_workers, mp_context, preload)
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
    except BaseException:
        if ctx is not None:  # kill first: the pool then fails its futures and reaps the workers at once
            _stop_processes(ctx.processes)
        ex.shutdown(wait=ctx is not None, cancel_futures=True)
        raise
    else:
        ex.shutdown(wait=True)


@strict_keywords
def task_seed(seed: int, *key: int) -> "np.random.SeedSequence":
    """Seed of one task: ``SeedSequence(seed, spawn_key=key)``; independent of scheduling."""
    import numpy as np  # here: the command imports this module before it knows it needs NumPy

    return np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in key))


@strict_keywords
class TaskFailure:
    """Stands in the results of :func:`map_tasks` for a task that raised."""

    def __init__(self, key, error: BaseException):
        self.key = key
        self.error = error

    def __repr__(self) -> str:
        return f"TaskFailure(key={self.key!r}, error={self.error!r})"


#: Seconds :func:`map_tasks` waits for a task before it looks at the stop flag again.
_POLL_S = 0.5


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
    (``KeyboardInterrupt``, or SIGINT/SIGTERM, which :func:`interruptible` turns into
    :class:`Interrupted`), nothing more is submitted, the tasks not yet started are cancelled,
    every task that did finish is still handed to ``on_result`` (a writer that must write nothing
    after a signal checks :func:`stop_requested`), and the exception propagates at once: tntopo's
    own process pool drops the running tasks and stops its workers.

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
        Size and start method of the default process pool (see :func:`get_executor`; its fork
        server preloads ``fn``'s module).
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
    preload = [fn.__module__] if isinstance(getattr(fn, "__module__", None), str) else []
    with interruptible(), get_executor(executor, max_workers, mp_context, preload=preload) as ex, \
            tqdm(total=total, desc=desc, unit=unit, disable=not progress) as bar:
        try:
            while True:
                raise_if_stopped()  # a stop signal whose exception was swallowed somewhere
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
                done, _ = wait(list(pending), timeout=_POLL_S, return_when=FIRST_COMPLETED)
                for fut in done:
                    collect(fut, pending.pop(fut))
                    bar.update(1)
            raise_if_stopped()  # e.g. SIGTERM to the process group broke the pool before it got here
        except BaseException:
            # interrupted (Ctrl-C, SIGTERM, a dying driver...): cancel what has not started, keep
            # every task that did finish; the executor's exit drops what is running
            for fut in pending:
                fut.cancel()
            for fut, key in list(pending.items()):
                if fut.done() and not fut.cancelled():
                    collect(fut, key)
            raise
        if broken is not None:
            for key, _ in queue:
                out[key] = TaskFailure(key, RuntimeError(f"not run, the executor broke: {broken!r}"))
                bar.update(1)
    return out
