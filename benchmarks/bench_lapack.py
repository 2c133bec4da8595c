"""tntopo's own LAPACK calls against SciPy's wrappers (issue 20, finding 6).

``tntopo._lapack.eigh_occupied_rows`` computes every eigenvalue and only the occupied
eigenvectors of Hermitian matrices by calling ``zhetrd`` + ``dstevd`` + ``zunmtr`` from SciPy's
Cython LAPACK through ctypes (the capsules' C signatures checked, the GIL released during each
call). SciPy has no f2py wrapper of ``zunmtr``, so the nearest SciPy routes are compared, in one
run, interleaved (rounds of each route in turn, best round kept), on the dense Chern marker's
matrices (QWZ samples of 8 x 8 cells, 128 x 128 complex, half occupied):

* ours         -- ``eigh_occupied_rows`` (all eigenvalues, occupied vectors);
* scipy subset -- ``scipy.linalg.eigh(h, subset_by_index=[0, k - 1])`` per matrix (``zheevr``:
                  the occupied pairs only, *without* the other eigenvalues, which the marker's
                  gapless check needs -- a lower bound on what SciPy would cost);
* scipy full   -- ``scipy.linalg.eigh(h, driver="evd")`` per matrix (``zheevd``, all pairs);
* numpy        -- ``numpy.linalg.eigh`` of the batch (all pairs).

Each on one thread, and on two threads over two halves of the batch (the GIL: SciPy's wrappers
hold it while they run, the ctypes calls do not). Ratios: route / ours (> 1: ours faster); the
issue's rule: use SciPy's wrapper where it is within 10% (ratio <= 1.1).

Run ``python benchmarks/bench_lapack.py [--quick] [--json PATH]``.
"""
import argparse
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.linalg

import tntopo
from _common import add_json_option, interleaved, write_ratios
from tntopo import Lattice2D
from tntopo._blas import single_threaded_blas
from tntopo._lapack import _routines, eigh_occupied_rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    p.add_argument("--batch", type=int, default=None, help="QWZ samples of 8x8 cells (default 400; quick 40)")
    add_json_option(p)
    args = p.parse_args(argv)
    B = args.batch or (40 if args.quick else 400)
    rep = 2 if args.quick else 5
    warnings.simplefilter("ignore", tntopo.GaplessWarning)
    H = np.stack([Lattice2D.qwz(1.0, (8, 8), disorder=1.5, seed=s).hamiltonian() for s in range(B)])
    n = H.shape[-1]
    k = n // 2
    print(f"{B} QWZ samples of 8x8 cells ({n} x {n} complex Hermitian), {k} occupied; "
          f"own LAPACK routines loaded: {_routines() is not None}")

    def ours(Hs):
        return eigh_occupied_rows(Hs, 0.0)

    def scipy_subset(Hs):
        return [scipy.linalg.eigh(h, subset_by_index=[0, k - 1], check_finite=False) for h in Hs]

    def scipy_full(Hs):
        return [scipy.linalg.eigh(h, driver="evd", check_finite=False) for h in Hs]

    def numpy_eigh(Hs):
        return np.linalg.eigh(Hs)

    routes = {"ours": ours, "scipy_subset": scipy_subset, "scipy_full": scipy_full, "numpy": numpy_eigh}
    # the same occupied spaces (projectors) from every route
    E, U, kk = ours(H[:4])
    for name, fn in routes.items():
        out = fn(H[:4])
        for i in range(4):
            if name == "ours":
                continue
            w, v = out[i] if isinstance(out, list) else (out[0][i], out[1][i])
            P = v[:, :k] @ v[:, :k].conj().T
            Po = U[i, :kk[i]].conj().T @ U[i, :kk[i]]  # U = V^dag
            assert kk[i] == k and np.abs(P - Po).max() < 1e-10, name

    halves = [H[: B // 2], H[B // 2:]]

    def threaded(fn):
        def run():
            with ThreadPoolExecutor(2) as ex:
                return list(ex.map(fn, halves))
        return run

    ratios = {}
    with single_threaded_blas():
        t1 = interleaved({name: (lambda fn=fn: fn(H)) for name, fn in routes.items()}, rep)
        t2 = interleaved({name: threaded(fn) for name, fn in routes.items()}, rep)
    print(f"{'route':14s} {'1 thread [s]':>13s} {'/ ours':>7s} {'2 threads [s]':>14s} {'/ ours':>7s}")
    for name in routes:
        r1, r2 = t1[name] / t1["ours"], t2[name] / t2["ours"]
        print(f"{name:14s} {t1[name]:13.4f} {r1:7.2f} {t2[name]:14.4f} {r2:7.2f}")
        if name != "ours":
            ratios[f"{name}_over_ours_1thread"] = r1
            ratios[f"{name}_over_ours_2threads"] = r2
    for name in ("scipy_subset", "scipy_full"):
        print(f"RATIO {name} / ours = {t1[name] / t1['ours']:5.2f}x (one thread), "
              f"{t2[name] / t2['ours']:5.2f}x (two threads)   (SciPy preferred where <= 1.1)")
    write_ratios(args.json, ratios, quick=args.quick, batch=B, n=n, load_average=os.getloadavg()[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
