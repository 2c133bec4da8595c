"""What does limiting BLAS to one thread cost per call? (issue 20: the controller kept, not rebuilt)

``tntopo._blas.single_threaded_blas`` limits BLAS to one thread around tntopo's small matrices.
It used to call ``threadpoolctl.threadpool_limits`` on every outermost entry, which builds a new
``ThreadpoolController`` -- a rescan of every shared object loaded in the process. It now keeps
the controller of the BLAS libraries (rebuilt only after new imports). This script measures, in
one run, interleaved (rounds of each variant in turn, best round kept):

* kept   -- the library as it is (the controller built once);
* rescan -- the same call with the former ``single_threaded_blas`` (``threadpool_limits`` per
            entry) put in its place;
* outer  -- the calls inside one outer ``with single_threaded_blas():`` held over the round
            (every entry a nested one: no limit set per call at all, the floor);

for ``fhs_chern`` on a clean 8 x 8 QWZ lattice (defaults: Bloch grids of 24 x 24 and 31 x 31, one
batched ``eigh`` and one limit each) and for an empty ``with single_threaded_blas():`` block, and prints the ratios rescan / kept and
kept / outer. The results of the three variants are checked to be identical (the Chern numbers,
and the bytes of a dense local Chern marker). ``--torch`` imports torch first, as the study's
processes do (more shared objects to rescan).

Run ``python benchmarks/bench_blas.py [--quick] [--torch] [--json PATH]``.
"""
import argparse
import threading
from contextlib import contextmanager

import numpy as np

from _common import add_json_option, interleaved, write_ratios


def _rescanning_blas_limit():
    """The former ``tntopo._blas.single_threaded_blas``: ``threadpool_limits`` on each outermost entry."""
    from threadpoolctl import threadpool_limits

    lock, state = threading.Lock(), {"depth": 0, "limiter": None}

    @contextmanager
    def single_threaded_blas():
        with lock:
            if state["depth"] == 0:
                state["limiter"] = threadpool_limits(1, user_api="blas")
            state["depth"] += 1
        try:
            yield
        finally:
            with lock:
                state["depth"] -= 1
                if state["depth"] == 0:
                    state["limiter"].restore_original_limits()
                    state["limiter"] = None

    return single_threaded_blas


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="few rounds (CI smoke run)")
    p.add_argument("--torch", action="store_true", help="import torch first, as the study's processes do")
    add_json_option(p)
    args = p.parse_args(argv)
    if args.torch:
        import torch  # noqa: F401 - its shared objects are what a rescan reads

    from tntopo import Lattice2D, local_chern_marker
    from tntopo._blas import single_threaded_blas
    from tntopo.invariants.chern import dense, exact

    rescanning = _rescanning_blas_limit()
    kept_exact, kept_dense = exact.single_threaded_blas, dense.single_threaded_blas
    assert kept_exact is single_threaded_blas and kept_dense is single_threaded_blas

    @contextmanager
    def swapped(limit):  # the route modules call the name they imported: replace it there
        exact.single_threaded_blas = dense.single_threaded_blas = limit
        try:
            yield
        finally:
            exact.single_threaded_blas, dense.single_threaded_blas = kept_exact, kept_dense

    qwz = Lattice2D.qwz(1.0, (8, 8), boundary="periodic")
    fhs = lambda: exact.fhs_chern(qwz)  # noqa: E731

    def rescan(fn):
        def run():
            with swapped(rescanning):
                return fn()
        return run

    # results unchanged: the limit changes how many threads BLAS uses, never what it computes
    H = Lattice2D.qwz(1.0, (8, 8), disorder=1.0, seed=3).hamiltonian()
    Hs = np.stack([H] * 4)
    marker = lambda: local_chern_marker(Hs, lattice=Lattice2D.qwz(1.0, (8, 8)), warn=False)  # noqa: E731
    ref = marker()
    with single_threaded_blas():
        outer_marker, outer_fhs = marker(), fhs()
    for got in (rescan(marker)(), outer_marker):
        assert np.array_equal(got, ref), "the BLAS limit changed a result"
    assert fhs() == rescan(fhs)() == outer_fhs == 1

    rep, inner = (3, 10) if args.quick else (10, 100)

    def bare(limit):
        def run():
            with limit():
                pass
        return run

    def measure(per_call, inside):
        """Best seconds per call: ``per_call`` variants, and ``inside`` run within one outer block
        held over its whole round (every call a nested entry), in turn, ``rep`` rounds."""
        best = {}
        for _ in range(rep):
            t = interleaved(per_call, 1, inner)
            with single_threaded_blas():
                t.update(interleaved({"outer": inside}, 1, inner))
            best = {k: min(v, best.get(k, v)) for k, v in t.items()}
        return best

    t_fhs = measure({"kept": fhs, "rescan": rescan(fhs)}, fhs)
    t_bare = measure({"kept": bare(single_threaded_blas), "rescan": bare(rescanning)}, bare(single_threaded_blas))
    from threadpoolctl import threadpool_info

    libs = [f"{d['internal_api']} ({d['num_threads']} threads)" for d in threadpool_info() if d["user_api"] == "blas"]
    print(f"BLAS libraries: {', '.join(libs) or 'none found'}; torch imported: {args.torch}")
    print(f"{'':32s}{'kept':>12s}{'rescan':>12s}{'outer':>12s}   rescan/kept   kept/outer")
    for name, t in (("fhs_chern, 8x8 QWZ", t_fhs), ("empty single_threaded_blas()", t_bare)):
        print(f"{name:32s}{t['kept'] * 1e6:10.1f}us{t['rescan'] * 1e6:10.1f}us{t['outer'] * 1e6:10.1f}us"
              f"   {t['rescan'] / t['kept']:9.2f}x   {t['kept'] / t['outer']:8.2f}x")
    ratios = {"fhs_rescan_over_kept": t_fhs["rescan"] / t_fhs["kept"],
              "fhs_kept_over_outer": t_fhs["kept"] / t_fhs["outer"],
              "enter_exit_rescan_over_kept": t_bare["rescan"] / t_bare["kept"]}
    write_ratios(args.json, ratios, quick=args.quick, torch=args.torch, blas=libs,
                 seconds={"fhs": t_fhs, "enter_exit": t_bare})


if __name__ == "__main__":
    main()
