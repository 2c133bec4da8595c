"""Speed of the 2D Chern marker routes (issue 13). All ratios are measured in one run.

1. batched dense marker -- ``tntopo.local_chern_marker(H, lattice=..., warn=False)``: a threaded
   pass that checks the values (a numba scan of the ``(h_ij, h_ji)`` pairs, which also bounds the
   spectra), then chunks of 16 samples on threads, each the occupied eigenpairs only (LAPACK
   ``zhetrd`` + ``dstevd`` + ``zunmtr`` on the occupied columns, called without the GIL, the
   vectors left as the conjugated rows LAPACK writes: ``tntopo._lapack.eigh_occupied_rows``) and
   the marker network contracted through them with stacked ``matmul`` (``P`` never formed; the
   position blocks ``U X U^dag`` as real ``syrk`` products) -- against the naive route, a loop of
   per-sample ``eigh`` + ``P X Q Y P`` dense matrix products
   (``tntopo.invariants.reference_chern_marker``), on QWZ samples of 8 x 8 cells (target >= 3x).
   Both use one BLAS thread per computation (multi-threaded BLAS on 128 x 128 matrices is slower,
   and much slower on a loaded machine); the naive loop is also timed with the BLAS threads as
   the user has them. The default ``warn=True`` (the gapless check, which needs the vectors of
   the states near the Fermi level too: up to 2% of the Gershgorin width above it) is timed too,
   and the eigensolvers alone (``numpy.linalg.eigh`` vs ``eigh_occupied``) to show where the
   time goes.
2. local vs dense marker on one L x L sample: ratio and the largest difference in the bulk (target
   >= 20x at 1e-6 for L = 60). The local route is timed with both window solvers, buffer 10:
   ``solver="chebyshev"`` (core 6, ``tol=1e-7``: the window projector as a near-minimax
   polynomial of the window Hamiltonian, applied to the core columns by Clenshaw's recurrence in
   the numba kernels of ``tntopo.invariants.chern._clenshaw``; its cost per cell is
   ``(core + 2 buffer)^2 / core^2`` window products, cores 4-8 about equally cheap)
   -- the RATIO line -- and
   ``solver="eigh"`` (core 10, which minimizes ``(core + 2 buffer)^6 / core^2``,
   the cost per cell of a dense window ``eigh``). The dense marker is one
   ``(2 L^2) x (2 L^2)`` eigenproblem on all of BLAS's threads.
3. O(N) scaling of the local route: t(10 N) / t(N) (target <= 13 for N = 10^5 -> 10^6 sites).

Run ``python benchmarks/bench_chern.py [--quick] [--json PATH]``. Full mode: 1000 samples, L = 60
(the dense reference alone is a 7200 x 7200 complex ``eigh``: minutes), and 10^5 / 10^6 sites
(long: about a millisecond per site at the cheap setting of the scaling run, so 10^6 sites take
tens of minutes on two cores).
``--sizes`` and ``--L`` override the sizes.
"""
import argparse
import time
import warnings

import numpy as np

import tntopo
from tntopo import ChernLocalOptions as CLO
from tntopo import Lattice2D, local_chern_marker
from tntopo._blas import single_threaded_blas
from tntopo._lapack import eigh_occupied
from tntopo.invariants import reference_chern_marker

from _common import add_json_option, best_of, write_ratios


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    p.add_argument("--batch", type=int, default=None, help="samples of 8x8 cells (default 1000; quick 100)")
    p.add_argument("--L", type=int, default=None, help="side of the local-vs-dense sample (default 60; quick 24)")
    p.add_argument("--sizes", default=None,
                   help="two site counts N1,N2 of the scaling run (default 100000,1000000; quick 400,4000)")
    add_json_option(p)
    args = p.parse_args(argv)
    B = args.batch or (100 if args.quick else 1000)
    L = args.L or (24 if args.quick else 60)
    sizes = [int(s) for s in (args.sizes or ("400,4000" if args.quick else "100000,1000000")).split(",")]
    warnings.simplefilter("ignore", tntopo.GaplessWarning)
    ratios, info = {}, {"batch": B, "L": L, "sizes": sizes}

    # 1. batched dense marker vs naive loop ------------------------------------------------
    lat0 = Lattice2D.qwz(1.0, (8, 8))
    H = np.stack([Lattice2D.qwz(1.0, (8, 8), disorder=1.5, seed=s).hamiltonian() for s in range(B)])
    ours = local_chern_marker(H, lattice=lat0, warn=False)  # warm-up: imports, path search
    reps = 2 if args.quick else 3
    with single_threaded_blas():
        t_naive, ref = best_of(lambda: reference_chern_marker(H, lat0), reps)
        t_eigh, _ = best_of(lambda: [np.linalg.eigh(h) for h in H], reps)
        t_occ, _ = best_of(lambda: [eigh_occupied(h, 0.0) for h in H], reps)
    t_naive_mt, _ = best_of(lambda: reference_chern_marker(H, lat0), 1)  # BLAS threads as the user has them
    t_ours, ours = best_of(lambda: local_chern_marker(H, lattice=lat0, warn=False), reps)
    t_warn, ours_w = best_of(lambda: local_chern_marker(H, lattice=lat0), reps)
    err1 = float(max(np.abs(ours - ref).max(), np.abs(ours_w - ref).max()))
    print(f"1. {B} QWZ samples of 8x8 cells (m=1, W=1.5, open; 128 x 128 complex H)")
    print(f"   naive loop eigh + P X Q Y P products : {t_naive:8.3f} s  (one BLAS thread)")
    print(f"   same, default BLAS threads           : {t_naive_mt:8.3f} s")
    print(f"   tntopo batched dense marker          : {t_ours:8.3f} s  (warn=False)")
    print(f"   same, warn=True (gapless check)      : {t_warn:8.3f} s")
    print(f"   eigensolvers alone, one thread: numpy eigh {t_eigh:.3f} s, eigh_occupied {t_occ:.3f} s "
          f"({t_eigh / t_occ:.2f}x)")
    print(f"   max |difference| = {err1:.1e}")
    print(f"RATIO naive / batched = {t_naive / t_ours:6.2f}x   (target >= 3)")
    print(f"RATIO naive (default BLAS threads) / batched = {t_naive_mt / t_ours:6.2f}x")
    print(f"RATIO naive / batched (warn=True) = {t_naive / t_warn:6.2f}x")
    ratios["batched_dense_naive_over_tntopo"] = t_naive / t_ours
    ratios["batched_dense_naive_threaded_over_tntopo"] = t_naive_mt / t_ours
    ratios["batched_dense_naive_over_tntopo_warn"] = t_naive / t_warn
    ratios["eigh_over_eigh_occupied"] = t_eigh / t_occ
    info["batched_max_abs_diff"] = err1

    # 2. local vs dense on one L x L sample ------------------------------------------------
    lat = Lattice2D.qwz(1.0, (L, L), boundary="periodic", disorder=1.0, seed=0)
    t0 = time.perf_counter()
    dense = local_chern_marker(lat, warn=False)
    t_dense = time.perf_counter() - t0
    buf = 6 if args.quick else 10
    core_c, core_e = (6, 6) if args.quick else (6, 10)
    # warm-up, as for the batched route: the Chebyshev kernels are compiled (or loaded from numba's
    # cache) once per process; timed apart
    t0 = time.perf_counter()
    local_chern_marker(Lattice2D.qwz(1.0, (8, 8)), "local", local=CLO(buffer=2, core=4, solver="chebyshev", tol=1e-3),
                       warn=False)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    loc, est = local_chern_marker(lat, "local", local=CLO(buffer=buf, core=core_c, solver="chebyshev", tol=1e-7),
                                  return_error=True, warn=False)
    t_local = time.perf_counter() - t0
    t0 = time.perf_counter()
    loc_e, est_e = local_chern_marker(lat, "local", local=CLO(buffer=buf, core=core_e, solver="eigh"),
                                      return_error=True, warn=False)
    t_local_e = time.perf_counter() - t0
    q = L // 4
    diff = float(np.abs(loc[q:L - q, q:L - q] - dense[q:L - q, q:L - q]).max())
    diff_e = float(np.abs(loc_e[q:L - q, q:L - q] - dense[q:L - q, q:L - q]).max())
    print(f"\n2. one QWZ sample {L}x{L} (m=1, W=1, periodic; dim {lat.dim}), buffer {buf}")
    print(f"   dense marker ({lat.dim}x{lat.dim}, BLAS threads)         : {t_dense:8.2f} s")
    print(f"   local, solver='chebyshev', core {core_c}, tol 1e-7     : {t_local:8.2f} s   "
          f"max |local - dense| in the bulk = {diff:.1e}  (error estimate reported: {est:.1e})")
    print(f"   local, solver='eigh', core {core_e}                    : {t_local_e:8.2f} s   "
          f"max |local - dense| in the bulk = {diff_e:.1e}  (error estimate reported: {est_e:.1e})")
    print(f"   (once per process before that: loading the compiled Chebyshev kernel {t_load:.2f} s)")
    print(f"RATIO dense / local (chebyshev) = {t_dense / t_local:6.2f}x   (target >= 20 at 1e-6 for L = 60)")
    print(f"RATIO dense / local (eigh) = {t_dense / t_local_e:6.2f}x")
    ratios["local_dense_over_local"] = t_dense / t_local
    ratios["local_eigh_dense_over_local"] = t_dense / t_local_e
    info.update(local_kernel_load_seconds=t_load, local_vs_dense_max_abs_diff=diff, local_error_estimate=est, local_buffer=buf, local_core=core_c,
                local_eigh_vs_dense_max_abs_diff=diff_e, local_eigh_error_estimate=est_e, local_eigh_core=core_e)

    # 3. O(N) scaling ------------------------------------------------------------------------
    print("\n3. local route, O(N): QWZ m=1 W=1 open, buffer 3, core 10, eigh windows (a cheap setting)")
    times = []
    for n in sizes:
        side = int(round(np.sqrt(n)))
        big = Lattice2D.qwz(1.0, (side, side), disorder=1.0, seed=1)
        t0 = time.perf_counter()
        c = local_chern_marker(big, "local", local=CLO(buffer=3, core=10, solver="eigh"), warn=False)
        times.append(time.perf_counter() - t0)
        bulk = c[side // 4: side - side // 4, side // 4: side - side // 4].mean()
        print(f"   {side}x{side} = {side * side:>8d} sites: {times[-1]:9.2f} s  ({times[-1] / side**2 * 1e6:7.1f} us/site, "
              f"bulk mean {bulk:.4f})")
    r = times[1] / times[0]
    ideal = (round(np.sqrt(sizes[1])) ** 2) / (round(np.sqrt(sizes[0])) ** 2)
    print(f"RATIO t(N2) / t(N1) = {r:6.2f}   (N2/N1 = {ideal:.1f}; target <= 13 for 10^5 -> 10^6)")
    ratios["local_scaling_t2_over_t1"] = r
    info.update(scaling_seconds=times)
    write_ratios(args.json, ratios, quick=args.quick, **info)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
