"""Speed and accuracy of the local O(N) route (issue: scale and disorder).

One run prints:

* accuracy -- ``|W_local - W_dense|`` at N = 3000 cells for the disordered SSH chain
  ``{0: 0.6, 1: 1.0}``, disorder ``{0: 1.0, 1: 0.5}`` (target <= 1e-6), and the largest
  difference of the bulk markers;
* speed    -- dense / local time at N = 3000 (target >= 20x, aim 100x);
* scaling  -- local time at N = 10^4, 10^5, 10^6 and t(10^6)/t(10^5) (target <= 13);
* long chains (issue 21, target 3) -- the winding number of 10^6 cells in <= 3 s with the default
  local route (a sum over the bulk region's boundaries): ``target3_3s_over_t1e6`` (>= 1 meets it),
  its accuracy against dense at 3000 cells (target <= 1e-10), and the time of every marker of
  10^5 cells (``local_winding_marker(method="local")``, the O(N) window route) for comparison.

``--quick`` uses N = 800 for the comparison and N = 10^4, 10^5 for the scaling (seconds).
The machine's load (``os.getloadavg``) is printed next to the numbers.

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
    from tntopo.invariants.winding.local import local_markers, winding_number_local

    hop, dis = {0: 0.6, 1: 1.0}, {0: 1.0, 1: 0.5}
    n_cmp = 800 if args.quick else 3000
    sizes = (10**4, 10**5) if args.quick else (10**4, 10**5, 10**6)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; chain {hop}, "
          f"disorder {dis}, seed {args.seed}")

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
    n_mark = 10**4 if args.quick else 10**5
    cm = tntopo.SSHChain(hop, n_mark, disorder=dis, seed=args.seed)
    t_mark, _ = best_of(lambda: tntopo.local_winding_marker(cm, method="local"), 1)
    print(f"  every marker of {n_mark} cells (local_winding_marker, method='local'): {t_mark:.3f} s "
          f"({t_mark / n_mark * 1e6:.1f} us/cell)")
    t_big = times[b]
    print(f"RATIO target 3: 3 s / t(W of {b:.0e} cells) = {3.0 / t_big:.2f}   (>= 1 meets it; "
          f"accuracy vs dense at {n_cmp} cells {abs(W_local - W_dense):.1e}, target <= 1e-10); "
          f"load average {os.getloadavg()[0]:.1f}")
    write_ratios(args.json, {"dense_over_local": t_dense / t_local, f"local_t{b}_over_t{a}": times[b] / times[a],
                             f"target3_3s_over_t{b}": 3.0 / t_big,
                             "markers_over_winding_per_cell": (t_mark / n_mark) / (t_big / b)},
                 quick=args.quick, n_compare=n_cmp, accuracy=abs(W_local - W_dense),
                 seconds={str(k): v for k, v in times.items()}, marker_seconds=t_mark, marker_cells=n_mark,
                 load_average=os.getloadavg()[0])


if __name__ == "__main__":
    with warnings.catch_warnings():
        main()
