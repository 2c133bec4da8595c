"""Coverage of the 2D local route's error estimate against the dense marker (issue 24).

For QWZ (m = 1) open samples over disorder strengths W and seeds, and both window solvers
(``eigh``, ``chebyshev``), the local marker map with its error estimate
(:func:`tntopo.invariants.chern.local.local_marker_windows`) is compared with the dense marker on
the interior (cells at least ``buffer`` from the edges, where the edge states play no role):

* covered: the interior error is at most the estimate;
* warned: the route emitted a :class:`tntopo.GaplessWarning` (its certificate failed);
* covered or warned: the user was either given a true bound or told that the value is not sure.

    python benchmarks/chern_error_coverage.py [--quick] [--json PATH]

Ratios written by ``--json``: the fractions ``covered_<solver>`` and ``covered_or_warned_<solver>``.
"""
import argparse
import time
import warnings

import numpy as np

from _common import add_json_option, write_ratios

from tntopo import GaplessWarning, Lattice2D, local_chern_marker
from tntopo import ChernLocalOptions
from tntopo.invariants.chern.local import local_marker_windows


def measure(L, buffer, core, Ws, n_seeds, solver, tol):
    rows = []
    for W in Ws:
        for s in range(n_seeds):
            lat = Lattice2D.qwz(1.0, (L, L), disorder=W, seed=s)
            dense = local_chern_marker(lat, warn=False)
            kw = {} if solver == "eigh" else {"tol": tol}
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                loc, est = local_marker_windows(lat, 0.0, local=ChernLocalOptions(buffer=buffer, core=core, solver=solver,
                                                                                  **kw))
            inner = (slice(buffer, L - buffer), slice(buffer, L - buffer))
            actual = float(np.abs(loc - dense)[inner].max())
            warned = any(issubclass(w.category, GaplessWarning) for w in caught)
            rows.append((W, s, actual, est, warned))
            print(f"   {solver:9s} W={W:g} seed={s}: interior error {actual:.2e}, estimate {est:.2e}, "
                  f"{'covered' if actual <= est else 'NOT covered'}, {'warned' if warned else 'no warning'}",
                  flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="two disorder strengths, one seed, 14 x 14 (seconds)")
    p.add_argument("--size", type=int, default=18, help="L of the L x L samples (default 18)")
    p.add_argument("--buffer", type=int, default=4, help="window buffer (default 4)")
    p.add_argument("--seeds", type=int, default=2, help="disorder seeds per strength (default 2)")
    p.add_argument("--tol", type=float, default=1e-4, help="Chebyshev accuracy (default 1e-4)")
    add_json_option(p)
    args = p.parse_args(argv)
    L, buffer, Ws, seeds = args.size, args.buffer, (0.0, 2.0, 4.0, 6.0, 8.0), args.seeds
    if args.quick:
        L, buffer, Ws, seeds = 14, 3, (0.0, 4.0), 1
    t0 = time.perf_counter()
    ratios, info = {}, {"size": L, "buffer": buffer, "core": 4, "disorder": list(Ws), "seeds": seeds}
    for solver in ("eigh", "chebyshev"):
        rows = measure(L, buffer, 4, Ws, seeds, solver, args.tol)
        cov = np.mean([r[2] <= r[3] for r in rows])
        ok = np.mean([r[2] <= r[3] or r[4] for r in rows])
        print(f"{solver}: estimate covers the interior error in {cov:.0%} of {len(rows)} maps; covered or "
              f"warned in {ok:.0%}")
        ratios[f"covered_{solver}"] = float(cov)
        ratios[f"covered_or_warned_{solver}"] = float(ok)
        info[f"rows_{solver}"] = [[float(v) if not isinstance(v, bool) else v for v in r] for r in rows]
    info["seconds"] = time.perf_counter() - t0
    write_ratios(args.json, ratios, quick=args.quick, **info)


if __name__ == "__main__":
    main()
