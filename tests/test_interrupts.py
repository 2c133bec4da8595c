"""A killed run leaves nothing behind (issue 23).

* ``kill -9`` of the main process: its pool workers (and the fork server) are gone within seconds;
* SIGTERM: the same clean stop as Ctrl-C, exit status 143 within about a second, one line on
  stderr, no worker left, no partial file; the rerun completes, byte-identical to an uninterrupted
  run with the same seed.

Workers are found by scanning ``/proc`` for the descendants of the main process while it runs
(Linux; skipped elsewhere).
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds worker processes through /proc")

ROOT = Path(__file__).resolve().parent.parent


def _stat(pid):
    """(state, ppid) of a process, or None once it is gone (a zombie counts as gone: it runs nothing)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return None if fields[0] in "ZX" else (fields[0], int(fields[1]))


def _descendants(root):
    """Pids of the live descendants of ``root``."""
    children = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            st = _stat(int(d.name))
            if st is not None:
                children.setdefault(st[1], []).append(int(d.name))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _alive(pids):
    return [p for p in pids if _stat(p) is not None]


def _env():
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                PYTHONWARNINGS="ignore", MPLBACKEND="Agg")


def _start(args, **kw):
    return subprocess.Popen([sys.executable, "-m", "tntopo.cli"] + args, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(), cwd=str(ROOT), **kw)


def _wait_for_workers(proc, n, timeout, ready=lambda: True):
    """The main process's descendants once at least ``n`` of them run and ``ready()`` holds."""
    seen = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        seen.update(_descendants(proc.pid))
        if len(_alive(seen)) >= n and ready():
            return sorted(seen)
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"fewer than {n} worker processes after {timeout} s")


def _gone_within(pids, timeout):
    t0 = time.monotonic()
    while _alive(pids) and time.monotonic() - t0 < timeout:
        time.sleep(0.02)
    return time.monotonic() - t0, _alive(pids)


def _reap(proc):
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


# ----------------------------------------------------------------------------- library level
_DRIVER = """
import os, sys, time
from tntopo.parallel import get_executor
if __name__ == "__main__":
    with get_executor("process", 2, mp_context=sys.argv[1]) as ex:
        pids = set()
        while len(pids) < 2:  # a task's pid proves its worker has started (its watchdog runs)
            pids.update(f.result() for f in [ex.submit(os.getpid) for _ in range(4)])
        futs = [ex.submit(time.sleep, 120) for _ in range(4)]
        print(*sorted(pids), flush=True)
        time.sleep(120)
"""


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_pool_workers_die_with_their_parent(tmp_path, method):
    """forkserver: PR_SET_PDEATHSIG through the fork server (~0.1 s); spawn: the watchdog alone (~1 s)."""
    import multiprocessing

    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} here")
    script = tmp_path / "driver.py"
    script.write_text(_DRIVER)
    proc = subprocess.Popen([sys.executable, str(script), method], stdout=subprocess.PIPE, text=True, env=_env())
    try:
        workers = [int(p) for p in proc.stdout.readline().split()]
        assert len(workers) == 2
        pids = sorted(set(workers) | set(_descendants(proc.pid)))  # + fork server, resource tracker
        proc.kill()
        proc.wait()
        took, left = _gone_within(pids, 10)
        assert not left, f"processes {left} outlived their parent"
        print(f"{method}: last worker gone {took:.2f} s after the parent's death")
    finally:
        _reap(proc)


def test_interruptible_turns_sigterm_into_interrupted():
    from tntopo.parallel import Interrupted, interruptible, stop_requested

    with pytest.raises(Interrupted) as e:
        with interruptible():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    assert e.value.signum == signal.SIGTERM and e.value.exit_status == 143
    assert isinstance(e.value, KeyboardInterrupt)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL and stop_requested() is None  # restored


def test_interruptible_leaves_a_users_handler_alone():
    from tntopo.parallel import interruptible

    got = []
    old = signal.signal(signal.SIGTERM, lambda s, f: got.append(s))
    try:
        with interruptible():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)
        assert got == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, old)


def test_fork_start_method_is_refused():
    from tntopo.parallel import get_executor

    with pytest.raises(ValueError, match="'forkserver', 'spawn'.*fork"):
        with get_executor("process", 1, mp_context="fork"):
            pass


# ----------------------------------------------------------------------------- the command
_GEN = ["--n-samples", "3000", "--n-cells", "30", "--shard-size", "100", "--seed", "7", "--quiet"]


def _shards(path):
    return sorted(p.name for p in path.glob("shard-*.h5"))


@pytest.mark.slow
def test_generate_kill_9_leaves_no_worker(tmp_path):
    path = tmp_path / "ds"
    proc = _start(["generate", str(path), "--executor", "process"] + _GEN)
    try:
        # fork server, resource tracker, >= 1 worker, and a shard written: the workers are computing
        pids = _wait_for_workers(proc, 3, 180, ready=lambda: bool(_shards(path)))
        pids = sorted(set(pids) | set(_descendants(proc.pid)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        took, left = _gone_within(pids, 10)
        assert not left, f"processes {left} outlived the killed command"
        print(f"generate: last worker gone {took:.2f} s after kill -9")
    finally:
        _reap(proc)


@pytest.mark.slow
def test_generate_sigterm_is_a_clean_stop_and_the_rerun_is_identical(tmp_path):
    path, ref = tmp_path / "ds", tmp_path / "ref"
    proc = _start(["generate", str(path), "--executor", "process"] + _GEN)
    try:
        pids = _wait_for_workers(proc, 3, 180, ready=lambda: bool(_shards(path)))
        pids = sorted(set(pids) | set(_descendants(proc.pid)))
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)  # to the main process only: it stops its workers
        proc.wait(timeout=30)
        took = time.monotonic() - t0
        _, left = _gone_within(pids, 5)  # the fork server and resource tracker end as they see it gone
        _, err = proc.communicate(timeout=30)
    finally:
        _reap(proc)
    print(f"generate: SIGTERM answered in {took:.2f} s")
    assert proc.returncode == 143, err
    assert took < 3.0, took  # the backstop ends it 0.75 s after the signal at the latest; slack for loaded CI
    assert err.strip().splitlines() == ["tntopo generate: interrupted by SIGTERM"], err
    assert not left, f"processes {left} outlived the command"
    assert not list(path.glob("*.part"))
    written = _shards(path)
    assert 0 < len(written) < 30

    done = subprocess.run([sys.executable, "-m", "tntopo.cli", "generate", str(path), "--executor", "process"] + _GEN, capture_output=True, text=True, env=_env(), cwd=str(ROOT))
    assert done.returncode == 0, done.stderr
    assert len(_shards(path)) == 30
    from tntopo.data import generate

    generate(ref, 3000, 30, shard_size=100, seed=7, executor="serial", progress=False)
    for name in _shards(ref):
        assert (path / name).read_bytes() == (ref / name).read_bytes(), name


@pytest.mark.slow
def test_reproduce_quick_kill_9_leaves_no_worker(tmp_path):
    out = tmp_path / "study"
    proc = _start(["reproduce", "--quick", "--out", str(out), "--workers", "2", "--quiet"])
    try:
        # the data sets are built in the main process first; the pool starts with the training runs
        pids = _wait_for_workers(proc, 4, 900)  # fork server, resource tracker, 2 workers
        time.sleep(2.0)  # the workers are inside their first training run
        pids = sorted(set(pids) | set(_descendants(proc.pid)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        took, left = _gone_within(pids, 10)
        assert not left, f"processes {left} outlived the killed study"
        print(f"reproduce: last worker gone {took:.2f} s after kill -9")
    finally:
        _reap(proc)
