"""Start-up cost of tntopo's process pools by start method (issues 20 and 23).

tntopo's pools start their workers from a fork server that has imported the task's module once
(``tntopo.parallel.get_executor``); the naive routes are ``fork`` (what ``data.generate`` did: not
safe once torch or BLAS threads exist) and ``spawn`` (what the study did: every worker imports
everything again). For each method, a fresh Python process imports ``tntopo.data.generate`` (as
the ``tntopo generate`` command does), then times

* ``first``: creating a pool of ``--workers`` workers until every worker has returned a result
  of a function of ``tntopo.data.generate`` (the fork server, when there is one, starts here);
* ``second``: the same for a second pool in the same process (the study runs two).

Methods are run interleaved, ``--repeat`` rounds, best time kept. Ratios: ``spawn/forkserver``
and ``fork/forkserver`` for both pools (> 1: the fork server is faster).

Run::

    python benchmarks/bench_pools.py [--quick] [--json PATH]
"""
import argparse
import json
import os
import subprocess
import sys
import time

from _common import add_json_option, write_ratios

METHODS = ("fork", "spawn", "forkserver")


def _child(method: str, workers: int) -> dict:
    import importlib
    from concurrent.futures import ProcessPoolExecutor

    gen = importlib.import_module("tntopo.data.generate")  # the command has imported its modules
    from tntopo.parallel import get_executor

    def pool():
        if method == "fork":  # the naive route: a raw fork-started pool
            import multiprocessing

            return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        return get_executor("process", workers, mp_context=method, preload=["tntopo.data.generate"])

    out = {}
    for name in ("first", "second"):
        t0 = time.perf_counter()
        with pool() as ex:
            pids = set()
            while len(pids) < workers:  # every worker has started and run a task
                futs = [ex.submit(gen.shard_path, "/nowhere", k) for k in range(2 * workers)]
                [f.result() for f in futs]
                futs = [ex.submit(os.getpid) for _ in range(2 * workers)]
                pids.update(f.result() for f in futs)
        out[name] = time.perf_counter() - t0
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one round (CI smoke run)")
    p.add_argument("--repeat", type=int, default=None, help="interleaved rounds (default 3, 1 with --quick)")
    p.add_argument("--workers", type=int, default=2, help="pool size")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    add_json_option(p)
    args = p.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.workers)))
        return
    import multiprocessing

    methods = [m for m in METHODS if m in multiprocessing.get_all_start_methods()]
    repeat = args.repeat or (1 if args.quick else 3)
    best = {m: {"first": float("inf"), "second": float("inf")} for m in methods}
    for _ in range(repeat):
        for m in methods:
            proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", m, "--workers",
                                   str(args.workers)], capture_output=True, text=True, check=True)
            t = json.loads(proc.stdout.strip().splitlines()[-1])
            for k in t:
                best[m][k] = min(best[m][k], t[k])
    for m in methods:
        print(f"{m:11s} first pool {best[m]['first']:7.2f} s   second pool {best[m]['second']:7.2f} s")
    ratios = {}
    if "forkserver" in best:
        fs = best["forkserver"]
        for m in ("spawn", "fork"):
            if m in best:
                for k in ("first", "second"):
                    ratios[f"{m}/forkserver {k} pool"] = best[m][k] / fs[k]
                    print(f"{m}/forkserver {k} pool: {ratios[f'{m}/forkserver {k} pool']:.2f}")
    write_ratios(args.json, ratios, quick=args.quick, workers=args.workers, repeat=repeat, seconds=best,
                 cpu_count=os.cpu_count())


if __name__ == "__main__":
    main()
