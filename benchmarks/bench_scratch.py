"""Do the dense Chern marker's reused work arrays pay? (issue 20, finding 5)

The batched dense marker (``tntopo.local_chern_marker(H, lattice=...)`` on many small samples)
runs chunks of 16 samples on threads; every chunk needs ~20 MB of temporaries (eigenvector rows,
position blocks, products). ``tntopo._scratch`` keeps them per thread and reuses them from chunk
to chunk, on the claim that fresh arrays of that size cost about 10% in page faults. This script
measures it, in one run, interleaved (rounds of each variant in turn, best round kept):

* reused -- the library as it is: each thread's work arrays kept and reused (each module its
            own, ``tntopo._scratch.ThreadScratch``);
* fresh  -- the same code with a new, empty set of work arrays for every chunk (what plain
            ``numpy`` temporaries would cost; the switch the library uses for huge chunks,
            ``tntopo.invariants.chern._SCRATCH_MAX_BYTES``).

It prints the wall time, the minor page faults per call (``getrusage``) and the ratio
fresh / reused, for the default ``warn=True`` route (the gapless check) and ``warn=False``.

Run ``python benchmarks/bench_scratch.py [--quick] [--json PATH]``.
"""
import argparse
import os
import resource
import warnings

import numpy as np

import tntopo
from _common import add_json_option, interleaved, write_ratios
from tntopo import Lattice2D, local_chern_marker
from tntopo.invariants import chern


def _faults(fn):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    fn()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    p.add_argument("--batch", type=int, default=None, help="QWZ samples of 8x8 cells (default 1000; quick 64)")
    add_json_option(p)
    args = p.parse_args(argv)
    B = args.batch or (64 if args.quick else 1000)
    rep = 2 if args.quick else 5
    warnings.simplefilter("ignore", tntopo.GaplessWarning)
    lat0 = Lattice2D.qwz(1.0, (8, 8))
    H = np.stack([Lattice2D.qwz(1.0, (8, 8), disorder=1.5, seed=s).hamiltonian() for s in range(B)])
    print(f"{B} QWZ samples of 8x8 cells (128 x 128 complex H), dense marker, {os.cpu_count()} cores")

    limit = chern._SCRATCH_MAX_BYTES

    def variant(fresh, warn):
        def run():  # fresh: every chunk counts as too large to reuse arrays for
            chern._SCRATCH_MAX_BYTES = -1 if fresh else limit
            try:
                return local_chern_marker(H, lattice=lat0, warn=warn)
            finally:
                chern._SCRATCH_MAX_BYTES = limit
        return run

    ratios, info = {}, {"batch": B}
    for warn in (True, False):
        fns = {"reused": variant(False, warn), "fresh": variant(True, warn)}
        out = {k: fn() for k, fn in fns.items()}  # warm-up: imports, kernels, the threads' arrays
        diff = float(np.abs(out["reused"] - out["fresh"]).max())
        t = interleaved(fns, rep)
        faults = {k: _faults(fn) for k, fn in fns.items()}
        key = "warn" if warn else "nowarn"
        ratios[f"fresh_over_reused_time_{key}"] = t["fresh"] / t["reused"]
        info[f"faults_per_call_{key}"] = faults
        info[f"max_abs_diff_{key}"] = diff
        print(f"warn={warn}: reused {t['reused']:.4f} s, fresh {t['fresh']:.4f} s; minor page faults per call: "
              f"reused {faults['reused']}, fresh {faults['fresh']}; max |difference| {diff:.1e}")
        print(f"RATIO fresh / reused (warn={warn}) = {t['fresh'] / t['reused']:6.3f}")
    info["load_average"] = os.getloadavg()[0]
    print(f"load average {info['load_average']:.1f} on {os.cpu_count()} cores")
    write_ratios(args.json, ratios, quick=args.quick, **info)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
