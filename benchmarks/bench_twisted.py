"""Twisted-boundary winding numbers: the certified banded route against the old one (issue 9).

The old route (kept here only, as the naive comparison) took ``log det h(theta)`` from
``numpy.linalg.slogdet`` (LU with partial pivoting on the dense ring, N <= 256) or scipy's
sparse LU (N > 256) at exactly ``span + 1`` twists and read the integer with no check. The new
route (:func:`tntopo.invariants.winding.exact.twisted_winding`) factors the *folded* ring with LAPACK's
banded LU at ``max(8, 2 (span + 1))`` twists and certifies the integer (Rouché + argument
principle) or raises.

One run prints:

* reliability -- the 480-case sweep of the issue (40 clean chains with ranges -1..2, amplitudes
  U[-1, 1], Bloch gap >= 0.25; rings of N in {8, 24, 60, 150, 200, 256} cells, clean with
  ``method="twisted"`` and with disorder 0.05 per range through ``method="auto"``); the
  reference is the Bloch integer, exact for both (the disorder moves ``h(theta)`` by at most
  ``4 * 0.025 = 0.1`` in norm, less than its smallest singular value ``>= 0.25``): wrong
  integers and false errors of each route;
* element growth ``max |U| / max |h|`` of the banded LU over the sweep, and of the dense
  partially pivoted LU on the same matrices;
* speed -- old / new time for rings of N = 24, 256, 4096 (and 10^5) cells, same run.

``--quick`` skips N = 10^5, runs the old route on 10 of the sweep's rings and uses fewer
repeats. ``--json PATH`` writes the ratios (old/new time per N, dense/banded growth, fraction
of the sweep the new route gets right) and the counts (see ``benchmarks/_common.py``).

    python benchmarks/bench_twisted.py [--quick] [--json PATH]
"""
import argparse
import os
import time

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from _common import add_json_option, interleaved, write_ratios

SWEEP_N = (8, 24, 60, 150, 200, 256)
RANGES = (-1, 0, 1, 2)


# ------------------------------------------------------------------ the old route (naive)
def _perm_sign(p) -> int:
    p = np.asarray(p)
    seen = np.zeros(len(p), bool)
    sign = 1
    for i in range(len(p)):
        if seen[i]:
            continue
        j, L = i, 0
        while not seen[j]:
            seen[j] = True
            j = p[j]
            L += 1
        if L % 2 == 0:
            sign = -sign
    return sign


def _old_log_det(A):
    if A.shape[0] <= 256:
        return np.linalg.slogdet(A.toarray())
    try:
        lu = spla.splu(sp.csc_matrix(A))
    except RuntimeError:
        return 0.0, -np.inf
    d = lu.U.diagonal()
    if np.any(d == 0):
        return 0.0, -np.inf
    phase = np.prod(d / np.abs(d)) * _perm_sign(lu.perm_r) * _perm_sign(lu.perm_c)
    return phase, float(np.sum(np.log(np.abs(d))))


def old_twisted_winding(chain) -> int:
    """The route before issue 9: span + 1 twists, slogdet / splu, no self-check."""
    from tntopo.errors import GaplessError

    N, ranges = chain.n_cells, chain.ranges
    m_min, m_max = min(ranges), max(ranges)
    M = m_max - m_min + 1
    n = np.arange(N)
    rows = np.concatenate([n for _ in ranges])
    cols = np.concatenate([(n - m) % N for m in ranges])
    base = chain.bond_array.ravel().astype(complex)
    mvec = np.concatenate([np.full(N, m) for m in ranges])
    thetas = 2 * np.pi * np.arange(M) / M
    phases, logs = [], []
    for th in thetas:
        A = sp.csr_matrix((base * np.exp(1j * th * mvec / N), (rows, cols)), shape=(N, N))
        s, ld = _old_log_det(A)
        phases.append(s)
        logs.append(ld)
    logs = np.array(logs)
    if np.any(~np.isfinite(logs)):
        raise GaplessError("det h(theta) = 0")
    g = np.array(phases) * np.exp(logs - logs.max()) * np.exp(-1j * m_min * thetas)
    c = np.fft.fft(g) / M
    # the old counter: companion zeros only
    from tntopo._laurent import companion_zeros

    c = np.where(np.abs(c) <= 1e-14 * np.abs(c).max(), 0, c)
    r = companion_zeros(c[None])[0]
    if r is None or (len(r) and np.min(np.abs(np.abs(r) - 1)) < 1e-9):
        raise GaplessError("gapless")
    return int(np.sum(np.abs(r) < 1)) + m_min


# ------------------------------------------------------------------------------ the sweep
def sweep_cases(seed: int = 2024):
    """The 480 cases: (chain, reference integer, method) for clean and weakly disordered rings."""
    import tntopo

    batch = tntopo.sample_chains(40, 8, ranges=RANGES, min_gap=0.25, seed=seed)
    ref = batch.bloch_windings()
    cases = []
    for N in SWEEP_N:
        for i in range(len(batch)):
            hop = {m: batch.hoppings[i, j] for j, m in enumerate(batch.ranges)}
            cases.append((tntopo.SSHChain(hop, N, "periodic"), int(ref[i]), "twisted"))
            cases.append((tntopo.SSHChain(hop, N, "periodic", disorder={m: 0.05 for m in RANGES}, seed=i),
                          int(ref[i]), "auto"))
    return cases


def score(route, cases):
    wrong = errors = 0
    for chain, ref, _ in cases:
        try:
            wrong += int(route(chain) != ref)
        except ArithmeticError:  # GaplessError is a ValueError, PrecisionError an ArithmeticError
            errors += 1
        except ValueError:
            errors += 1
    return wrong, errors


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="skip N = 10^5, fewer repeats (CI smoke run)")
    add_json_option(p)
    p.add_argument("--seed", type=int, default=2024)
    args = p.parse_args(argv)

    import threadpoolctl

    import tntopo
    from tntopo.invariants.winding.exact import _FoldedRing, twisted_determinants

    print(f"machine: {os.cpu_count()} cores")
    cases = sweep_cases(args.seed)

    def new_route(chain):
        return int(tntopo.winding_number(chain, method="twisted" if chain.is_clean else "auto"))

    # the old route is slow exactly where it fails (LU growth to 1e17..1e29 means inf/NaN
    # arithmetic): --quick runs it on the clean N = 200 rings of the first 10 chains only
    old_cases = [c for k, c in enumerate(cases) if (k // 2) % 40 < 10 and c[0].n_cells == 200 and c[0].is_clean] \
        if args.quick else cases
    t0 = time.perf_counter()
    old_wrong, old_err = score(old_twisted_winding, old_cases)
    t_old_sweep = time.perf_counter() - t0
    t0 = time.perf_counter()
    new_wrong, new_err = score(new_route, cases)
    t_new_sweep = time.perf_counter() - t0
    print(f"\nsweep of {len(cases)} rings (ranges {RANGES}, N in {SWEEP_N}, clean + disorder 0.05):")
    print(f"  old route: {old_wrong} wrong integers, {old_err} false errors of {len(old_cases)} cases "
          f"({t_old_sweep:.2f} s)")
    print(f"  new route: {new_wrong} wrong integers, {new_err} false errors of {len(cases)} cases "
          f"({t_new_sweep:.2f} s)")

    # element growth: banded LU of the folded ring vs dense partial pivoting (the old route's
    # slogdet) on the same rings
    band_growth, dense_growth = 0.0, 0.0
    for chain, _, _ in cases:
        _, _, _, g = twisted_determinants(chain)
        band_growth = max(band_growth, float(g.max()))
    for chain, _, _ in old_cases:
        if chain.n_cells in (200, 256) and chain.is_clean:
            h = chain.hopping_block().astype(complex)
            with np.errstate(all="ignore"):
                _, _, U = sla.lu(h)
            dense_growth = max(dense_growth, float(np.abs(U).max() / np.abs(h).max()))
    print(f"  element growth max|U|/max|h|: banded folded LU {band_growth:.3g}, dense partial pivoting "
          f"{dense_growth:.3g}")

    sizes = (24, 256, 4096) if args.quick else (24, 256, 4096, 10**5)
    repeat = 3 if args.quick else 5
    rings = {"range -1..2": ({-1: 0.3, 0: 0.5, 1: 1.0, 2: 0.4}, {m: 0.5 for m in RANGES}),
             "nearest-neighbour": ({0: 0.6, 1: 1.0}, {0: 1.0, 1: 0.5})}
    timings, ratios = {}, {}
    for label, (hop, dis) in rings.items():
        print(f"\nspeed, {label} ring {hop} with disorder {dis} (best of {repeat}, interleaved, "
              "single-threaded BLAS):")
        for N in sizes:
            chain = tntopo.SSHChain(hop, N, "periodic", disorder=dis, seed=1)
            ring = _FoldedRing(chain.bond_array, chain.ranges, N)
            W_new = tntopo.invariants.twisted_winding(chain)
            W_old = _try(old_twisted_winding, chain)
            with threadpoolctl.threadpool_limits(1):  # BLAS threads on a shared machine: noise
                t = interleaved({"old": lambda: _try(old_twisted_winding, chain),
                                 "new": lambda: tntopo.invariants.twisted_winding(chain)},
                                1 if N >= 10**5 else repeat)
            timings[f"{label}, N={N}"] = {"old_s": t["old"], "new_s": t["new"], "old_over_new": t["old"] / t["new"],
                                          "bandwidth": max(ring.kl, ring.ku), "W_old": W_old, "W_new": W_new}
            ratios[f"old_over_new_time_{'nn' if label.startswith('near') else 'range2'}_N{N}"] = t["old"] / t["new"]
            print(f"  N = {N:>6}: old {t['old'] * 1e3:9.2f} ms (W = {W_old}), new {t['new'] * 1e3:9.2f} ms "
                  f"(W = {W_new}); old/new = {t['old'] / t['new']:7.2f}; folded bandwidth {max(ring.kl, ring.ku)}")

    # the alternatives at equal reliability: one factorization of a ring of 256 cells, single-threaded
    chain = tntopo.SSHChain(rings["range -1..2"][0], 256, "periodic", disorder=rings["range -1..2"][1], seed=1)
    ring = _FoldedRing(chain.bond_array, chain.ranges, 256)
    H = chain.hopping_block().astype(complex)
    with threadpoolctl.threadpool_limits(1):
        t = interleaved({"dense QR (stable, O(N^3))": lambda: np.linalg.qr(H, mode="r"),
                         "dense LU (slogdet, unstable)": lambda: np.linalg.slogdet(H),
                         "banded LU of the folded ring": lambda: ring.log_det(0.3)}, repeat)
    print("\none factorization, N = 256, single-threaded:")
    for k, v in t.items():
        print(f"  {k:<30} {v * 1e3:8.3f} ms")
    ratios["dense_qr_over_banded_lu_N256"] = t["dense QR (stable, O(N^3))"] / t["banded LU of the folded ring"]
    ratios["dense_over_banded_growth"] = dense_growth / band_growth
    ratios["new_route_right_fraction"] = (len(cases) - new_wrong - new_err) / len(cases)
    write_ratios(args.json, ratios, quick=args.quick,
                 sweep={"cases": len(cases), "old_cases": len(old_cases), "old_wrong": old_wrong,
                        "old_false_errors": old_err, "new_wrong": new_wrong, "new_false_errors": new_err,
                        "old_seconds": t_old_sweep, "new_seconds": t_new_sweep},
                 growth={"banded_folded": band_growth, "dense_partial_pivoting": dense_growth},
                 timings=timings)
    if new_wrong or new_err:
        raise SystemExit("the new route got wrong integers or false errors on the sweep")


def _try(fn, chain):
    try:
        return fn(chain)
    except (ValueError, ArithmeticError):
        return None


if __name__ == "__main__":
    main()
