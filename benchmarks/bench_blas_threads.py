"""How many BLAS threads should a pool worker run? (the study's tasks, one per core)

The study runs one pool worker per core. Until this benchmark, each worker's numpy used OpenBLAS
with its default thread count (one per core), so a 2-core machine ran 2 workers x 2 BLAS threads,
and OpenBLAS's threads spin while they wait for each other. Now every study task runs under
``tntopo.study.reproduce.one_thread`` (torch and BLAS on one thread), and every tntopo pool worker
caps its BLAS at ``cpu_count // workers`` threads (``tntopo.parallel``).

This script builds the data of one causal-test task (``tntopo.study.trainability.protocol_sets``:
wavefunctions of open chains, their real-space invariant, counterfactual chains) in a pool of one
worker per core, every worker at once, as the study does, with:

* ``threaded`` -- BLAS at one thread per core in each worker (the former default);
* ``one``      -- BLAS at one thread in each worker (now);

interleaved (rounds of each variant in turn, best round kept), and prints the ratio threaded / one of
the wall time of a round. It also reports whether the two give the same bytes: OpenBLAS's threaded
``eigh`` rounds differently from its one-thread ``eigh`` for the larger matrices (from 96 x 96 on, open
chains of 48 cells), so a study whose tasks used the default would give other bytes on a machine
with another core count. The one-thread bytes are checked to be the same in every worker.

Run ``python benchmarks/bench_blas_threads.py [--quick] [--n-cells N] [--json PATH]``.
"""
import argparse
import hashlib
import math
import os
import time

import numpy as np

from _common import add_json_option, write_ratios


def _digest(obj, h=None):
    h = h or hashlib.sha256()
    if isinstance(obj, dict):
        for k in sorted(obj):
            h.update(str(k).encode())
            _digest(obj[k], h)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _digest(v, h)
    elif isinstance(obj, np.ndarray):
        h.update(np.ascontiguousarray(obj).tobytes())
    else:
        h.update(repr(obj).encode())
    return h.hexdigest()[:16]


def build(threads, n_cells, sizes):
    """One worker's task: the sets of a causal-test cell at ``threads`` BLAS threads; (seconds, digest)."""
    from threadpoolctl import threadpool_limits

    from tntopo.study.trainability import protocol_sets

    with threadpool_limits(threads, user_api="blas"):
        t0 = time.perf_counter()
        sets = protocol_sets(n_cells=n_cells, train_windings=(-1, 0, 1), unseen_windings=(-2, 2),
                             ranges=(-2, -1, 0, 1, 2), determined_only=True, realspace=True, seed=0, **sizes)
        return time.perf_counter() - t0, _digest(sets)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a small set at 48 cells (CI smoke)")
    p.add_argument("--n-cells", type=int, default=None, help="chain length (default 96; 48 with --quick)")
    p.add_argument("--repeat", type=int, default=None, help="interleaved rounds (default 2; 1 with --quick)")
    add_json_option(p)
    a = p.parse_args()
    from tntopo.parallel import get_executor

    cores = os.cpu_count() or 1
    n_cells = a.n_cells or (48 if a.quick else 96)
    repeat = a.repeat or (1 if a.quick else 2)
    sizes = (dict(n_train=4, n_val=4, n_unseen=4, n_long=1, n_counterfactual=8, size_factor=4) if a.quick else
             dict(n_train=120, n_val=40, n_unseen=40, n_long=8, n_counterfactual=40, size_factor=4))
    variants = {"threaded": cores, "one": 1}
    best = {k: math.inf for k in variants}
    digests = {k: set() for k in variants}
    print(f"{cores} cores, {cores} pool workers, the sets of a causal-test cell at N = {n_cells} in each: {sizes}")
    with get_executor("process", max_workers=cores) as ex:
        list(ex.map(int, range(cores)))  # workers started before timing
        for _ in range(repeat):
            for name, threads in variants.items():
                t0 = time.perf_counter()
                out = list(ex.map(build, [threads] * cores, [n_cells] * cores, [sizes] * cores))
                best[name] = min(best[name], time.perf_counter() - t0)
                digests[name].update(d for _, d in out)
                print(f"  {name:9s} BLAS threads per worker {threads}: round {time.perf_counter() - t0:7.2f} s "
                      f"(worker seconds {', '.join(f'{s:.2f}' for s, _ in out)})", flush=True)
    ratio = best["threaded"] / best["one"]
    same = digests["threaded"] == digests["one"]
    print(f"threaded / one (wall of a round, best of {repeat}): {ratio:.2f}x")
    print(f"bytes: one thread {'the same in every worker' if len(digests['one']) == 1 else 'DIFFER between workers'}; "
          f"threaded {'equal to' if same else 'differ from'} one thread")
    if len(digests["one"]) != 1:
        raise SystemExit("one-thread results differ between workers")
    write_ratios(a.json, {"threaded_over_one": ratio}, quick=a.quick, cores=cores, n_cells=n_cells, sizes=sizes,
                 seconds=best, threaded_bytes_equal=same)


if __name__ == "__main__":
    main()
