"""Speed and accuracy of the local O(N) route (issue: scale and disorder).

One run prints:

* accuracy -- ``|W_local - W_dense|`` at N = 3000 cells for the disordered SSH chain
  ``{0: 0.6, 1: 1.0}``, disorder ``{0: 1.0, 1: 0.5}`` (target <= 1e-6), and the largest
  difference of the bulk markers;
* speed    -- dense / local time at N = 3000 (target >= 20x, aim 100x);
* scaling  -- local time at N = 10^4, 10^5, 10^6 and t(10^6)/t(10^5) (target <= 13).

``--quick`` uses N = 800 for the comparison and N = 10^4, 10^5 for the scaling (seconds).

    python benchmarks/bench_local.py [--quick] [--json PATH]
"""
import argparse
import os
import resource
import warnings

import numpy as np

from _common import add_json_option, best_of, write_ratios


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    p.add_argument("--seed", type=int, default=1)
    add_json_option(p)
    args = p.parse_args(argv)

    import tntopo
    from tntopo.invariants.local import local_markers, winding_number_local

    hop, dis = {0: 0.6, 1: 1.0}, {0: 1.0, 1: 0.5}
    n_cmp = 800 if args.quick else 3000
    sizes = (10**4, 10**5) if args.quick else (10**4, 10**5, 10**6)
    print(f"machine: {os.cpu_count()} cores; chain {hop}, disorder {dis}, seed {args.seed}")

    warm = tntopo.SSHChain(hop, 400, disorder=dis, seed=0)  # imports, contraction paths
    tntopo.winding_number(warm, method="dense"), tntopo.winding_number(warm, method="local")

    chain = tntopo.SSHChain(hop, n_cmp, disorder=dis, seed=args.seed)
    t_dense, W_dense = best_of(lambda: tntopo.winding_number(chain, method="dense"), 1)
    t_local, (W_local, info) = best_of(lambda: winding_number_local(chain, return_info=True), 3 if args.quick else 5)
    bulk = np.arange(n_cmp // 4, n_cmp - n_cmp // 4)
    w_dense = tntopo.local_winding_marker(chain, method="dense")[bulk]
    w_local = local_markers(chain, cells=bulk)
    print(f"\nN = {n_cmp}: buffer {info.buffer} cells (xi = {info.xi:.3f}), windows of {info.window} cells, "
          f"{info.n_windows} windows")
    print(f"  W dense  = {W_dense:.12f}")
    print(f"  W local  = {W_local:.12f}")
    print(f"  accuracy |W_local - W_dense| = {abs(W_local - W_dense):.3e}   (target <= 1e-6)")
    print(f"  max |marker difference| over the bulk = {np.abs(w_dense - w_local).max():.3e}")
    print(f"  time dense {t_dense:.3f} s, local {t_local:.4f} s -> speed-up {t_dense / t_local:.0f}x   (target >= 20x)")

    print(f"\nscaling of the local route (best of {1 if args.quick else 2} call(s) each, bulk = middle half of the chain):")
    times = {}
    for N in sizes:
        c = tntopo.SSHChain(hop, N, disorder=dis, seed=args.seed)
        t, (W, inf) = best_of(lambda: winding_number_local(c, return_info=True), 1 if args.quick else 2)
        times[N] = t
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB (Linux)
        print(f"  N = {N:>8d}: {t:8.3f} s  ({t / N * 1e6:.2f} us/cell), W = {W:.8f}, "
              f"{inf.n_windows} windows, process peak RSS so far {rss:.0f} MiB")
    a, b = sizes[-2], sizes[-1]
    target = "; target <= 13" if (a, b) == (10**5, 10**6) else ""
    print(f"  t({b:.0e})/t({a:.0e}) = {times[b] / times[a]:.2f}   (linear: {b // a}{target})")
    write_ratios(args.json, {"dense_over_local": t_dense / t_local, f"local_t{b}_over_t{a}": times[b] / times[a]},
                 quick=args.quick, n_compare=n_cmp, accuracy=abs(W_local - W_dense),
                 seconds={str(k): v for k, v in times.items()})


if __name__ == "__main__":
    with warnings.catch_warnings():
        main()
