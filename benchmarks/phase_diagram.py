"""Phase diagram of the disordered SSH chain: intracell hopping t0 against disorder strength W.

Disorder {0: W, 1: W/2} (Mondragon-Shem et al. 2014), t1 = 1. Each grid point averages the exact
winding number of periodic chains (twisted boundaries) over disorder realizations; the exact
boundary E ln|t1| = E ln|t0| is overlaid, and the topological Anderson insulator point
(t0 = 1.1, W = 2.5: trivial when clean, W = 1 with disorder) is marked and checked.

    python benchmarks/phase_diagram.py [--quick] [--out phase_diagram.png] [--store DIR] [--executor serial] [--json PATH]

Ratios written by ``--json``: the agreement with the analytic boundary (all points, and away from
it) and the disorder-averaged winding number at the TAI point (1 when the TAI is reproduced).
"""
import argparse
import time

import numpy as np

from _common import add_json_option, write_ratios


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="coarse grid, short chains (seconds)")
    p.add_argument("--out", default="phase_diagram.png", help="figure file (default phase_diagram.png)")
    p.add_argument("--data", default=None, help="also write the diagram as JSON")
    p.add_argument("--store", default=None, help="resumable result store (directory)")
    p.add_argument("--executor", default=None, help="serial, thread, process (default) or tcp://scheduler:port")
    p.add_argument("--seed", type=int, default=0)
    add_json_option(p)
    args = p.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import tntopo
    from tntopo import analytic_winding, critical_t0
    from tntopo.plot import plot_phase_diagram

    if args.quick:
        t0, W, n_cells, n_real = np.linspace(0, 2, 11), np.linspace(0, 5, 9), 100, 4
    else:
        t0, W, n_cells, n_real = np.linspace(0, 2, 41), np.linspace(0, 6, 31), 400, 20
    t = time.perf_counter()
    pd = tntopo.phase_diagram(t0, W, hoppings={0: 1.0, 1: 1.0}, disorder={0: 1.0, 1: 0.5}, n_cells=n_cells,
                              n_realizations=n_real, seed=args.seed, executor=args.executor, store=args.store)
    dt = time.perf_counter() - t
    print(f"grid {len(W)} x {len(t0)}, N={n_cells}, {n_real} realizations: {dt:.1f} s, failed points: {len(pd.failed)}")
    print(f"agreement with the analytic boundary (all points): {pd.agreement():.3f}; "
          f"away from it (|gap| > 0.05): {pd.agreement(0.05):.3f}")
    tai = tntopo.disorder_average({0: 1.1, 1: 1.0}, {0: 2.5, 1: 1.25}, n_cells=n_cells, n_realizations=n_real,
                                  method="twisted", seed=args.seed, executor="serial", progress=False)
    clean = tntopo.winding_number(tntopo.SSHChain({0: 1.1, 1: 1.0}, n_cells), method="bloch")
    print(f"TAI point t0=1.1, W=2.5: clean W = {clean:.0f}, disorder-averaged W = {tai.mean:.3f} +- {tai.sem:.3f} "
          f"(analytic {analytic_winding(1.1, 1.0, 2.5, 1.25)}); critical t0 at W=2.5: {critical_t0(2.5):.4f}")
    fig = plot_phase_diagram(pd, mark=[(1.1, 2.5, "TAI")])
    fig.savefig(args.out, dpi=150, bbox_inches="tight")
    if args.data:
        pd.save(args.data)
    print(f"wrote {args.out}")
    write_ratios(args.json, {"agreement": pd.agreement(), "agreement_away_from_boundary": pd.agreement(0.05),
                             "tai_mean_winding": tai.mean}, quick=args.quick, seconds=dt, grid=[len(W), len(t0)],
                 n_cells=n_cells, n_realizations=n_real, failed_points=len(pd.failed))


if __name__ == "__main__":
    main()
