"""Speed of the real-space winding number (issue: core engine).

Compares, in one run:

* naive     -- what a user would write: a loop of dense ``eigh`` of each 2N x 2N Hamiltonian,
               Q = psi sign(E) psi^dagger, then w(n) = [Q_AB (Q_BA X - X Q_BA)]_nn;
* svd       -- numpy's batched SVD of the N x N A->B blocks alone (no contraction);
* tntopo    -- ``tntopo.winding_number(blocks, method="dense")``: batched, threaded polar factor +
               cached tensor-network contraction; also its two steps separately.

Then the cost of one chain versus N. Run ``python benchmarks/bench_invariant.py [--quick]``.
"""
import argparse
import time
import warnings

import numpy as np

import tntopo
from tntopo.invariants import bulk_window, polar_factor, position_kernel, reference_winding_number
from tntopo.tn import contract_rswn


def best_of(fn, repeat):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--n-cells", type=int, default=20)
    args = p.parse_args(argv)
    B = args.batch or (400 if args.quick else 4000)
    N = args.n_cells
    rep = 2 if args.quick else 5
    warnings.simplefilter("ignore", tntopo.GaplessWarning)

    batch = tntopo.sample_chains(B, N, ranges=(-1, 0, 1, 2), seed=0)
    h = batch.hopping_blocks()
    print(f"batch: {B} random chains of {N} cells ({2 * N} sites), ranges -1..2, float64")

    W = tntopo.winding_number(h, method="dense")  # warm-up (imports, path search)
    t_naive = best_of(lambda: reference_winding_number(h), 1 if not args.quick else 1)
    t_svd = best_of(lambda: np.linalg.svd(h), rep)
    t_ours = best_of(lambda: tntopo.winding_number(h, method="dense"), rep)
    t_ours1 = best_of(lambda: tntopo.invariants.realspace.winding_from_blocks(h, threads=1), rep)
    t_polar = best_of(lambda: polar_factor(h), rep)
    Q = polar_factor(h)
    X, R = position_kernel(N), bulk_window(N)
    t_contract = best_of(lambda: contract_rswn(Q, X, R), rep)
    err = np.abs(W - reference_winding_number(h)).max()

    print(f"{'route':42s} {'time [s]':>10s}")
    print(f"{'naive loop of eigh(2N x 2N) + products':42s} {t_naive:10.4f}")
    print(f"{'numpy batched SVD of the blocks alone':42s} {t_svd:10.4f}")
    print(f"{'tntopo winding_number (dense)':42s} {t_ours:10.4f}")
    print(f"{'  same, one thread':42s} {t_ours1:10.4f}")
    print(f"{'  spectral step (polar factor)':42s} {t_polar:10.4f}")
    print(f"{'  tensor-network contraction':42s} {t_contract:10.4f}")
    print(f"max |W_tntopo - W_naive| = {err:.2e}")
    print(f"RATIO naive / tntopo           = {t_naive / t_ours:6.2f}x   (target >= 3, aim 10)")
    print(f"RATIO tntopo / svd             = {t_ours / t_svd:6.2f}x   (target <= 1.5, aim < 1)")
    print(f"RATIO tntopo(1 thread) / svd   = {t_ours1 / t_svd:6.2f}x")
    print(f"RATIO contraction / spectral   = {t_contract / t_polar:6.3f}")

    sizes = [100, 200, 400] if args.quick else [100, 200, 500, 1000, 2000, 4000]
    print("\nsingle chain, SSH v=0.6 w=1 with disorder {0: 1.0, 1: 0.5}:")
    print(f"{'N':>6s} {'tntopo dense [s]':>17s} {'naive eigh(2N) [s]':>19s} {'ratio':>7s}")
    for n in sizes:
        chain = tntopo.SSHChain({0: 0.6, 1: 1.0}, n_cells=n, disorder={0: 1.0, 1: 0.5}, seed=0)
        hb = chain.hopping_block()
        t1 = best_of(lambda: tntopo.winding_number(chain, method="dense"), 1 if n >= 2000 else 2)
        if n <= 2000:
            t2 = best_of(lambda: reference_winding_number(hb), 1)
            print(f"{n:6d} {t1:17.4f} {t2:19.4f} {t2 / t1:7.2f}")
        else:
            print(f"{n:6d} {t1:17.4f} {'(skipped)':>19s} {'':>7s}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
