"""The default 2D local Chern marker route at scale (issue 21, target 1), with a KPM anchor.

One run prints, for QWZ ``m = 1``, Anderson disorder ``W = 1``, open boundaries:

0. the Chebyshev windows' kernels (issue 20): the default Fermi-step polynomial applied to the core
   columns of one window (core 6, buffer 10; ``--quick`` 4 and 4) by the route's numba kernels
   (``tntopo.invariants.chern._clenshaw``, ``njit(cache=True)``), by the kernels the route generated as
   source per row width before (their generator is kept below, compiled from memory), and by
   SciPy's sparse products (the fallback without numba): best CPU seconds, one thread each;
1. accuracy and speed on an ``L x L`` sample (default 60; ``--quick`` 16): the dense marker, the
   default local route (``local_chern_marker(lat, "local")``; which window solver
   ``solver="auto"`` took is printed) and the ``eigh`` windows (the former default), with the
   largest difference from the dense marker in the bulk (the middle half, the issue's ``<= 1e-6``),
   in the interior (cells at least one buffer from the open edges) and over every cell (the edge
   band, where the dense marker carries the compensation of the bulk's Chern number and no window
   route can follow it);
2. the anchor: a KPM local Chern marker -- the Kernel Polynomial Method as KPM codes (kpm-tools,
   pybinding) compute it: the projector as a Jackson-damped Chebyshev series of the *whole*
   sample's sparse Hamiltonian applied to a site's unit vectors, then ``4 pi Im <X v, (1 - P) Y v>``
   -- on a few bulk cells of the same sample, in the same run: time per site and accuracy. (Neither
   library installs here: kpm-tools 0.1.0 pins ``numpy < 2`` and ``scipy < 1.14`` and imports
   kwant; pybinding 0.9.5 is a C++ source build. This anchor is written out below instead.) Its
   cost per site grows with the sample, so a whole map is ``O(N^2)``; the ratio printed is per site
   at this size;
3. scaling of the default route: time at two sizes (default ``10^5`` and ``10^6`` sites; ``--quick``
   256 and 1024; ``--sizes`` overrides), ``t(N2)/t(N1)`` and the target ratio
   ``30 s / t(10^6 sites)`` (when N2 is not ``10^6``, ``t(N2) * 10^6 / N2`` stands in, and the JSON
   says so).

4. the floor: floating-point operations per site of the default route (two applications of a
   degree-``n`` polynomial to a site's ``n_orb`` columns over a ``(core + 2 buffer)^2``-cell
   window) and with no window overlap at all (``(2 buffer)^2`` cells per column, the limit of any
   probing or per-site window scheme at that buffer), the route's achieved GFlop/s, one core's
   DGEMM rate measured in the same run, and ``30 s`` over the time 10^6 sites would take at the
   floor's operation count running at DGEMM speed on every core.

The load of the (shared) machine is printed next to the numbers. Every time is given as wall-clock
seconds and as the process's CPU seconds (all threads): on a machine loaded far beyond its cores
the wall clock measures the other users, while CPU seconds / cores estimates the wall time of an
idle machine (the local route's windows run on one thread per core); the target ratio is given
both ways.

    python benchmarks/bench_chern_local.py [--quick] [--L 60] [--sizes 100000,1000000] [--json PATH]
"""
import argparse
import math
import os
import time
import warnings

import numpy as np
import scipy.sparse as sp

from _common import add_json_option, write_ratios


def jackson_step_coefficients(n_moments: int, ef: float) -> np.ndarray:
    """Jackson-damped Chebyshev coefficients of the step ``theta(ef - t)`` on ``[-1, 1]``."""
    n = np.arange(n_moments)
    a = math.acos(ef)
    c = np.empty(n_moments)
    c[0] = 1.0 - a / math.pi
    c[1:] = -2.0 * np.sin(n[1:] * a) / (n[1:] * math.pi)
    N = n_moments + 1
    g = ((N - n) * np.cos(math.pi * n / N) + np.sin(math.pi * n / N) / math.tan(math.pi / N)) / N
    return c * g


def kpm_marker_sites(lat, cells, fermi_level=0.0, n_moments=None, gap=None):
    """KPM local Chern marker of ``cells`` (list of ``(x, y)``) from the whole sample's sparse ``H``."""
    H = lat.hamiltonian(sparse=True).tocsr().astype(np.complex128)
    from tntopo.invariants.chern.local import _spectral_bounds, _clean_gap

    lo, hi = _spectral_bounds(lat)
    half, center = 0.5 * (hi - lo) * 1.01, 0.5 * (hi + lo)
    g = _clean_gap(lat, fermi_level) if gap is None else gap
    if n_moments is None:  # Jackson broadening pi * half / M well below the gap (erfc tail ~1e-8)
        n_moments = int(math.ceil(6.0 * math.pi * half / max(g, 1e-3)))
    Ht = (H - center * sp.identity(H.shape[0], format="csr")) / half
    coef = jackson_step_coefficients(n_moments, (fermi_level - center) / half)

    def P(X):
        t0, t1 = X, Ht @ X
        acc = coef[0] * t0 + coef[1] * t1
        for c in coef[2:]:
            t0, t1 = t1, 2 * (Ht @ t1) - t0
            acc += c * t1
        return acc

    Lx, Ly = lat.shape
    no = lat.n_orb
    gx, gy = np.meshgrid(np.arange(Lx, dtype=float), np.arange(Ly, dtype=float), indexing="ij")
    out = []
    for (x, y) in cells:
        xo = np.repeat(gx.ravel() - x, no)
        yo = np.repeat(gy.ravel() - y, no)
        rows = ((x * Ly + y) * no + np.arange(no))
        E = np.zeros((H.shape[0], no), dtype=np.complex128)
        E[rows, np.arange(no)] = 1.0
        v = P(E)
        w = yo[:, None] * v
        qyp = w - P(w)
        out.append(4 * np.pi * np.einsum("ak,ak->k", np.conj(xo[:, None] * v), qyp).imag.sum() / lat.cell_area)
    return np.array(out), n_moments


def generated_kernel_source(wr: int, wi: int) -> str:
    """The numba source the route generated per pair of ELL row widths ``(wr, wi)`` before issue 20
    (tntopo 663b080, ``chern_local._kernel_source``; it wrote it under ``~/.cache/tntopo`` and
    imported it): every entry of a row held in a register and the row written out as one
    expression. Kept here only as the baseline of section 0 (compiled from memory, not cached)."""
    def terms(pref, idx, w, part):
        return " + ".join(f"{pref}{q} * {part}[{idx}{q}, c]" for q in range(w)) or "0.0"

    load = [f"        a{q} = f * Vr[i, {q}]\n        r{q} = Jr[i, {q}]" for q in range(wr)]
    load += [f"        e{q} = f * Vi[i, {q}]\n        s{q} = Ji[i, {q}]" for q in range(wi)]
    hx_r = f"({terms('a', 'r', wr, 'src_r')}) - ({terms('e', 's', wi, 'src_i')})"
    hx_i = f"({terms('a', 'r', wr, 'src_i')}) + ({terms('e', 's', wi, 'src_r')})"
    opts = 'nogil=True, cache=False, boundscheck=False, fastmath={"contract", "arcp", "nsz"}'
    load_src = "\n".join(load) if load else "        pass"
    return f"""import numba
import numpy as np


@numba.njit({opts})
def step(Jr, Vr, Ji, Vi, f, src_r, src_i, b_r, b_i, cm, x_r, x_i, urow):
    n, k = src_r.shape
    dense = x_r.shape[0] == n
    for i in range(n):
{load_src}
        if dense:
            for c in range(k):
                x = {hx_r} - b_r[i, c] + cm * x_r[i, c]
                y = {hx_i} - b_i[i, c] + cm * x_i[i, c]
                b_r[i, c] = x
                b_i[i, c] = y
        else:
            for c in range(k):
                x = {hx_r} - b_r[i, c]
                y = {hx_i} - b_i[i, c]
                b_r[i, c] = x
                b_i[i, c] = y
    for c in range(urow.shape[0]):
        b_r[urow[c], c] += cm


@numba.njit({opts})
def apply(Jr, Vr, Ji, Vi, coef, x_r, x_i, urow):
    n = Jr.shape[0]
    k = x_r.shape[1]
    b1r = np.zeros((n, k))
    b1i = np.zeros((n, k))
    b2r = np.zeros((n, k))
    b2i = np.zeros((n, k))
    for m in range(coef.shape[0] - 1, 0, -1):
        step(Jr, Vr, Ji, Vi, 2.0, b1r, b1i, b2r, b2i, coef[m], x_r, x_i, urow)
        b1r, b2r = b2r, b1r
        b1i, b2i = b2i, b1i
    step(Jr, Vr, Ji, Vi, 1.0, b1r, b1i, b2r, b2i, coef[0], x_r, x_i, urow)
    return b2r, b2i
"""


def best_cpu(fns, repeat, inner=3):
    """Best CPU seconds (this process) per call of each function of ``{name: fn}``, over
    ``repeat`` interleaved rounds of ``inner`` consecutive calls each (single-threaded calls: CPU
    time is robust to other users' load; consecutive calls, so that no function pays for the
    memory another one freed)."""
    best = {k: math.inf for k in fns}
    for _ in range(max(1, int(repeat))):
        for k, fn in fns.items():
            for _ in range(inner):
                c0 = time.process_time()
                fn()
                best[k] = min(best[k], time.process_time() - c0)
    return best


def kernel_comparison(core: int, buffer: int, tol: float, repeat: int):
    """Section 0: one application of the Fermi-step polynomial to a window's core columns, by the
    route's numba kernels, by the kernels it generated before, and by SciPy's sparse products."""
    import types

    from tntopo import Lattice2D
    from tntopo.invariants.chern import local as cl

    w = core + 2 * buffer
    lat = Lattice2D.qwz(1.0, (w, w), disorder=1.0, seed=0)
    lo, hi = cl._spectral_bounds(lat)
    half, center = 0.5 * (hi - lo) * 1.01, 0.5 * (hi + lo)
    coef = cl.chebyshev_step_coefficients(round(-center / half, 12), round(cl._clean_gap(lat, 0.0) / half, 12), tol)
    ops = cl._WindowOperators(lat, center, half)
    Ht, Ht2 = ops.scaled(np.arange(w), np.arange(w))
    n = Ht.shape[0]
    (Jr, Vr), (Ji, Vi) = (cl._ell(v, Ht.indices, Ht.indptr, n) for v in (Ht.data.real, Ht.data.imag))
    mod = types.ModuleType("generated_clenshaw")
    exec(compile(generated_kernel_source(Vr.shape[1], Vi.shape[1]), "<generated>", "exec"), mod.__dict__)
    cells = np.arange(buffer, buffer + core)
    rows = ((cells[:, None] * w + cells[None, :]).ravel()[:, None] * lat.n_orb + np.arange(lat.n_orb)).ravel()
    k = rows.size
    new = cl._clenshaw_kernel()
    z = np.zeros((0, k))
    E = np.zeros((n, k), dtype=np.complex128)
    E[rows, np.arange(k)] = 1.0
    urow = rows.astype(np.int64)
    fns = {
        "numba": lambda: new(Jr, Vr, Ji, Vi, coef, z, z, urow),
        "generated": lambda: mod.apply(Jr, Vr, Ji, Vi, coef, z, z, urow),
        "scipy": lambda: cl._apply_poly_scipy(Ht, Ht2, E, coef),
    }
    outs = {name: fn() for name, fn in fns.items()}  # compiles the generated kernel
    ref = outs["scipy"]
    errs = {name: float(np.abs(o[0] + 1j * o[1] - ref).max()) for name, o in outs.items() if name != "scipy"}
    best = best_cpu(fns, repeat)
    flops = len(coef) * n * k * (4 * (Vr.shape[1] + Vi.shape[1]) + 4)
    return best, errs, dict(window=w, rows=n, columns=k, degree=len(coef) - 1, widths=(Vr.shape[1], Vi.shape[1]),
                            gflops={name: flops / t / 1e9 for name, t in best.items()})


def settings_sweep(lat, dense, bulk, settings):
    """Bulk accuracy against the dense marker and CPU seconds per site of the Chebyshev windows at
    cheaper ``(buffer, tol)`` settings, on the bulk cells only (``region=``)."""
    from tntopo import ChernLocalOptions
    from tntopo.invariants.chern.local import local_marker_windows

    rows = []
    for b, tol in settings:
        c0 = time.process_time()
        m, _ = local_marker_windows(lat, region=bulk, local=ChernLocalOptions(buffer=b, tol=tol, solver="chebyshev"),
                                    warn=False)
        cpu = time.process_time() - c0
        n = m[bulk].size
        rows.append({"buffer": b, "tol": tol, "bulk_max_abs_diff": float(np.abs(m[bulk] - dense[bulk]).max()),
                     "cpu_us_per_site": cpu / n * 1e6})
    return rows


def timed(fn):
    """``(wall seconds, CPU seconds of this process, result)`` of ``fn()``."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w0, time.process_time() - c0, out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    p.add_argument("--L", type=int, default=None, help="side of the sample compared with dense (default 60; quick 16)")
    p.add_argument("--sizes", default=None, help="two site counts N1,N2 (default 100000,1000000; quick 256,1024)")
    p.add_argument("--kpm-sites", type=int, default=None, help="bulk cells of the KPM anchor (default 4; quick 2)")
    add_json_option(p)
    args = p.parse_args(argv)

    import tntopo
    from tntopo import ChernLocalOptions, Lattice2D, local_chern_marker
    from tntopo.invariants.chern.local import DEFAULT_BUFFER, pick_solver

    L = args.L or (16 if args.quick else 60)
    sizes = [int(s) for s in (args.sizes or ("256,1024" if args.quick else "100000,1000000")).split(",")]
    n_kpm = args.kpm_sites or (2 if args.quick else 4)
    buf = 4 if args.quick else DEFAULT_BUFFER  # quick: a sample too small for the default buffer
    kw = {"buffer": buf} if args.quick else {}  # fields of ChernLocalOptions
    warnings.simplefilter("ignore", tntopo.GaplessWarning)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")

    # warm-up: the compiled Chebyshev kernel is loaded once per process
    local_chern_marker(Lattice2D.qwz(1.0, (12, 12)), "local",
                       local=ChernLocalOptions(buffer=2, core=4, solver="chebyshev", tol=1e-3))

    # 0. the Chebyshev kernels on one window -------------------------------------------------------
    from tntopo.invariants.chern.local import DEFAULT_CHEBYSHEV_CORE, DEFAULT_TOL

    kc, kb = (4, 4) if args.quick else (DEFAULT_CHEBYSHEV_CORE, DEFAULT_BUFFER)
    kbest, kerr, kinfo = kernel_comparison(kc, kb, DEFAULT_TOL, 1 if args.quick else 3)
    print(f"\n0. one window ({kinfo['window']}x{kinfo['window']} cells, {kinfo['rows']} rows, ELL widths "
          f"{kinfo['widths']}), the degree-{kinfo['degree']} Fermi-step polynomial applied to its {kinfo['columns']} "
          "core columns (best CPU seconds, one thread):")
    for name, label in (("numba", "numba kernels (tntopo.invariants.chern._clenshaw)"),
                        ("generated", "generated kernels (the route before)"), ("scipy", "SciPy sparse products")):
        extra = f", max|diff| vs SciPy {kerr[name]:.1e}" if name in kerr else ""
        print(f"   {label:44s} {kbest[name] * 1e3:8.1f} ms  ({kinfo['gflops'][name]:5.1f} GFlop/s{extra})")
    print(f"RATIO kernels: generated / numba = {kbest['generated'] / kbest['numba']:.2f}x;  SciPy / numba = "
          f"{kbest['scipy'] / kbest['numba']:.2f}x   load {os.getloadavg()[0]:.1f}")

    # 1. accuracy and speed on one L x L sample -------------------------------------------------
    lat = Lattice2D.qwz(1.0, (L, L), disorder=1.0, seed=0)
    solver = pick_solver(lat)
    t_dense, c_dense, dense = timed(lambda: local_chern_marker(lat, warn=False))
    t_loc, c_loc, loc = timed(lambda: local_chern_marker(lat, "local", local=ChernLocalOptions(**kw), warn=False))
    t_eigh, c_eigh, loc_e = timed(lambda: local_chern_marker(lat, "local", local=ChernLocalOptions(solver="eigh", **kw),
                                                           warn=False))
    q = L // 4
    bulk = (slice(q, L - q), slice(q, L - q))
    inner = (slice(buf, L - buf), slice(buf, L - buf))
    d, d_e = np.abs(loc - dense), np.abs(loc_e - dense)
    print(f"\n1. QWZ m=1 W=1 open {L}x{L} ({L * L} sites), buffer {buf}; default solver='auto' took {solver!r}")
    print(f"   dense marker                      {t_dense:9.2f} s  (CPU {c_dense:9.2f} s)")
    print(f"   default local route               {t_loc:9.2f} s  (CPU {c_loc:9.2f} s; {t_loc / L**2 * 1e6:8.0f} us/site)  "
          f"max|diff| bulk {d[bulk].max():.1e}, interior {d[inner].max():.1e}, all cells {d.max():.1e}")
    print(f"   eigh windows (former default)     {t_eigh:9.2f} s  (CPU {c_eigh:9.2f} s; {t_eigh / L**2 * 1e6:8.0f} us/site)  "
          f"max|diff| bulk {d_e[bulk].max():.1e}, interior {d_e[inner].max():.1e}, all cells {d_e.max():.1e}")
    print(f"RATIO CPU time: dense / default local = {c_dense / c_loc:.2f}x;  eigh windows / default = "
          f"{c_eigh / c_loc:.2f}x  (wall: {t_dense / t_loc:.2f}x, {t_eigh / t_loc:.2f}x)"
          f"   (bulk accuracy {d[bulk].max():.1e}, target <= 1e-6)   load {os.getloadavg()[0]:.1f}")

    sweep = settings_sweep(lat, dense, bulk, [(buf, 1e-6), (buf - 1, 1e-7)] if args.quick else
                           [(buf, 1e-7), (buf, 1e-6), (buf - 1, 1e-7), (buf - 2, 1e-7)])
    print("   cheaper settings of the Chebyshev windows, on the bulk cells only (region=; CPU per site includes "
          "the setup and the error estimate's windows, a larger share of fewer sites):")
    for row in sweep:
        print(f"     buffer {row['buffer']:2d}, tol {row['tol']:.0e}: max|diff| bulk {row['bulk_max_abs_diff']:.1e}, "
              f"{row['cpu_us_per_site']:6.0f} us CPU/site")

    # 2. the KPM anchor on a few bulk cells of the same sample ------------------------------------
    rng = np.random.default_rng(0)
    cells = [(int(x), int(y)) for x, y in rng.integers(q, L - q, size=(n_kpm, 2))]
    t_kpm, c_kpm, (ck, M) = timed(lambda: kpm_marker_sites(lat, cells))
    t_kpm, c_kpm = t_kpm / n_kpm, c_kpm / n_kpm
    err_kpm = float(np.abs(ck - np.array([dense[c] for c in cells])).max())
    per_site, per_site_cpu = t_loc / L**2, c_loc / L**2
    print(f"\n2. KPM anchor (whole-sample Chebyshev series, Jackson kernel, {M} moments) on {n_kpm} bulk cells:")
    print(f"   {t_kpm * 1e3:9.1f} ms per site (CPU {c_kpm * 1e3:.1f} ms; grows with the sample), "
          f"max|KPM - dense| = {err_kpm:.1e}")
    print(f"RATIO CPU per site: KPM / default local = {c_kpm / per_site_cpu:.1f}x  (wall {t_kpm / per_site:.1f}x)"
          f"   load {os.getloadavg()[0]:.1f}")

    # 3. scaling of the default route ----------------------------------------------------------------
    print("\n3. default local route, QWZ m=1 W=1 open:")
    times, cpus = [], []
    for n in sizes:
        side = int(round(math.sqrt(n)))
        big = Lattice2D.qwz(1.0, (side, side), disorder=1.0, seed=1)
        tw, tc, c = timed(lambda: local_chern_marker(big, "local", warn=False, **kw))
        times.append(tw)
        cpus.append(tc)
        s4 = side // 4
        print(f"   {side}x{side} = {side * side:>8d} sites: {times[-1]:9.2f} s  (CPU {cpus[-1]:9.2f} s; {times[-1] / side**2 * 1e6:8.1f} us/site, "
              f"bulk mean {np.nanmean(c[s4:side - s4, s4:side - s4]):.4f})   load {os.getloadavg()[0]:.1f}", flush=True)
    sides = [int(round(math.sqrt(n))) ** 2 for n in sizes]
    r, r_cpu = times[1] / times[0], cpus[1] / cpus[0]
    t_1e6 = times[1] * 1e6 / sides[1]
    t_1e6_idle = cpus[1] / (os.cpu_count() or 1) * 1e6 / sides[1]
    extrapolated = sides[1] != 10**6
    print(f"RATIO t(N2)/t(N1) = {r:.2f} wall, {r_cpu:.2f} CPU   (N2/N1 = {sides[1] / sides[0]:.1f}; target <= 11 "
          "for 10^5 -> 10^6)")
    ext = "; t(10^6) extrapolated linearly from N2" if extrapolated else ""
    print(f"RATIO target 1: 30 s / t(10^6 sites) = {30.0 / t_1e6:.4f} wall, {30.0 / t_1e6_idle:.4f} from CPU "
          f"seconds / {os.cpu_count()} cores (>= 1 meets it{ext})   load {os.getloadavg()[0]:.1f}")

    # 4. the floor: floating-point operations per site against the machine's rate -----------------
    from tntopo._blas import single_threaded_blas
    from tntopo.invariants.chern import local as cl

    core = cl.DEFAULT_CHEBYSHEV_CORE
    wb = buf if args.quick else DEFAULT_BUFFER
    lo, hi = cl._spectral_bounds(big)
    half, center = 0.5 * (hi - lo) * 1.01, 0.5 * (hi + lo)
    deg = len(cl.chebyshev_step_coefficients(round(-center / half, 12), round(cl._clean_gap(big, 0.0) / half, 12),
                                             cl.DEFAULT_TOL)) - 1
    no = big.n_orb
    per_rowcol = 4 * sum(kinfo["widths"]) + 4  # real FMAs of one row of H times one column, plus Clenshaw's update

    def flops_per_site(cells):  # two applications of the polynomial, n_orb columns per site
        return 2 * (deg + 1) * no * cells * no * per_rowcol

    f_route = flops_per_site((core + 2 * wb) ** 2)
    f_floor = flops_per_site((2 * wb) ** 2)  # no window overlap at all: each column on (2 buffer)^2 cells
    gf_route = f_route * sides[1] / cpus[1] / 1e9
    A = np.random.default_rng(0).normal(size=(1000, 1000))
    with single_threaded_blas():
        A @ A
        c0 = time.process_time()
        for _ in range(3):
            A @ A
        gf_gemm = 3 * 2e9 / (time.process_time() - c0) / 1e9
    ncpu = os.cpu_count() or 1
    t_floor = f_floor * 1e6 / (ncpu * gf_gemm * 1e9)
    print(f"\n4. work per site of the default route (degree {deg}, window {core + 2 * wb}^2 cells for {core}^2, "
          f"{no} orbitals, {per_rowcol} flops per row and column): {f_route / 1e6:.1f} MFlop; with no window "
          f"overlap at all ((2 x buffer)^2 cells per column) {f_floor / 1e6:.1f} MFlop")
    print(f"   the route ran at {gf_route:.1f} GFlop/s per core (CPU seconds of the {sides[1]}-site run); one core's "
          f"DGEMM (numpy, one BLAS thread) {gf_gemm:.1f} GFlop/s")
    print(f"RATIO target 1 at the floor: 30 s / (10^6 x {f_floor / 1e6:.1f} MFlop at DGEMM speed on {ncpu} cores = "
          f"{t_floor:.0f} s) = {30.0 / t_floor:.3f}   (below 1, no scheme that applies this polynomial to each "
          "site's columns over that neighbourhood reaches 30 s here, even at DGEMM speed)")
    write_ratios(args.json, {
        "target1_30s_over_floor_at_dgemm_rate": 30.0 / t_floor,
        "route_gflops_over_dgemm_gflops": gf_route / gf_gemm,
        "kernel_generated_over_numba_cpu": kbest["generated"] / kbest["numba"],
        "kernel_scipy_over_numba_cpu": kbest["scipy"] / kbest["numba"],
        "dense_over_default_local": t_dense / t_loc,
        "dense_over_default_local_cpu": c_dense / c_loc,
        "eigh_windows_over_default_local": t_eigh / t_loc,
        "eigh_windows_over_default_local_cpu": c_eigh / c_loc,
        "kpm_anchor_over_default_local_per_site": t_kpm / per_site,
        "kpm_anchor_over_default_local_per_site_cpu": c_kpm / per_site_cpu,
        "local_scaling_t2_over_t1": r,
        "local_scaling_t2_over_t1_cpu": r_cpu,
        "target1_30s_over_t1e6": 30.0 / t_1e6,
        "target1_30s_over_t1e6_from_cpu": 30.0 / t_1e6_idle,
    }, quick=args.quick, kernel_window=kinfo, kernel_cpu_seconds=kbest, kernel_max_abs_diff=kerr, L=L, buffer=buf,
        solver=solver, bulk_max_abs_diff=float(d[bulk].max()),
        interior_max_abs_diff=float(d[inner].max()), all_cells_max_abs_diff=float(d.max()),
        eigh_bulk_max_abs_diff=float(d_e[bulk].max()), settings_sweep=sweep, kpm_max_abs_diff=err_kpm, kpm_moments=M,
        seconds={"dense": t_dense, "default_local": t_loc, "eigh_windows": t_eigh, "kpm_per_site": t_kpm,
                 "scaling": times},
        cpu_seconds={"dense": c_dense, "default_local": c_loc, "eigh_windows": c_eigh, "kpm_per_site": c_kpm,
                     "scaling": cpus}, sizes=sides, t1e6_extrapolated=extrapolated,
        load_average=os.getloadavg()[0], degree=deg, mflop_per_site=f_route / 1e6,
        mflop_per_site_no_overlap=f_floor / 1e6, route_gflops_per_core=gf_route, dgemm_gflops_per_core=gf_gemm,
        t1e6_floor_seconds=t_floor)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
