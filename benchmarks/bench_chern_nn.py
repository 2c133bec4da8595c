"""2D learning pieces: the differentiable Chern marker and TopoNet2D, against the naive routes.

    python benchmarks/bench_chern_nn.py            # full: 128 disordered QWZ samples of 6x6 cells
    python benchmarks/bench_chern_nn.py --quick    # CI smoke test (small sizes, seconds)

Timings are single-threaded by default (``--threads``) and the best of interleaved runs, which
keeps the ratios stable when other processes share the cores. All ratios come from one run.

1. ``tntopo.nn.chern.chern_number`` forward + backward (``dC/dH``) on a batch, against
   (a) the naive per-sample loop of the same function and (b) the textbook autograd route
   ``torch.linalg.eigh`` -> ``P = U_occ U_occ^dagger`` -> marker, batched (its backward is not
   finite at degenerate spectra; here the spectra are generic so it can be timed).
2. ``TopoNet2D(init="exact")`` forward + backward (weights) against the plain contraction of the
   same network (the same two opt_einsum expressions, constant tensors, no autograd), and its
   forward on eigen-decompositions against its forward on Hamiltonians (diagonalized inside).
"""
from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
import torch

from _common import add_device_option, add_json_option, pick_device, synced, write_ratios


def _timings(fns, repeat):
    """Best (minimum) seconds of each function over interleaved runs."""
    ts = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            ts[k].append(time.perf_counter() - t0)
    return {k: float(np.min(v)) for k, v in ts.items()}


def _samples(B, L, device=None):
    from tntopo.systems.lattice2d import Lattice2D

    rng = np.random.default_rng(0)
    ms = rng.uniform(-3, 3, B)
    H = np.stack([Lattice2D.qwz(m, (L, L), disorder=1.0, seed=i).hamiltonian() for i, m in enumerate(ms)])
    return torch.as_tensor(H).to(torch.complex128).to(device)


def eigh_marker_chern(H, shape):
    """Textbook autograd route: eigh, occupied projector from the eigenvectors, marker, bulk mean."""
    from tntopo.nn.chern import bulk_window_2d

    Lx, Ly = shape
    n = H.shape[-1]
    no = n // (Lx * Ly)
    lam, U = torch.linalg.eigh(H)
    occ = (lam < 0).to(U.dtype)
    P = (U * occ[..., None, :]) @ U.mH
    gx, gy = np.meshgrid(np.arange(Lx), np.arange(Ly), indexing="ij")
    x = torch.as_tensor(np.repeat(gx.ravel(), no), dtype=torch.float64, device=H.device).to(P.dtype)
    y = torch.as_tensor(np.repeat(gy.ravel(), no), dtype=torch.float64, device=H.device).to(P.dtype)
    d = (((P * x) @ (P * y)) * P.transpose(-1, -2)).sum(-1)
    c = (-4 * math.pi * d.imag).reshape(-1, Lx, Ly, no).sum(-1)
    R = torch.as_tensor(bulk_window_2d(shape), device=H.device)
    return (c * R).sum((-2, -1))


def bench_marker(B, L, repeat, device=None):
    from tntopo.nn.chern import chern_number

    H0 = _samples(B, L, device)
    shape = (L, L)
    ref = eigh_marker_chern(H0, shape)
    err = float((chern_number(H0, shape) - ref).abs().max())

    def batched():
        H = H0.clone().requires_grad_()
        chern_number(H, shape).sum().backward()

    def per_sample():
        for b in range(B):
            H = H0[b].clone().requires_grad_()
            chern_number(H, shape).backward()

    def eigh_route():
        H = H0.clone().requires_grad_()
        eigh_marker_chern(H, shape).sum().backward()

    fns = {k: synced(f, H0.device) for k, f in {"batched": batched, "per_sample": per_sample, "eigh": eigh_route}.items()}
    for fn in fns.values():
        fn()
    return dict(err=err, **_timings(fns, repeat))


def bench_toponet2d(B, L, repeat, device=None):
    import quimb.tensor as qtn

    from tntopo.nn.chern import chern_number
    from tntopo.nn.toponet2d import TopoNet2D

    H = _samples(B, L, device)
    E, U = torch.linalg.eigh(H)
    net = TopoNet2D((L, L), init="exact", dtype=torch.float64).to(H.device)
    with torch.no_grad():
        err = float((net((E, U)) - chern_number(H, (L, L))).abs().max())

    def fwd_bwd():
        net.zero_grad(set_to_none=True)
        net((E, U)).sum().backward()

    def plain():
        with torch.no_grad():
            Uc, f, g, Dx, Dy, R = net._prepared((E, U))
            PQ = net._projectors(Uc, f, g)
            n, no = Uc.shape[1], net.n_orb
            Nc = n // no
            P = PQ[:, 0].reshape(B, Nc, no, Nc, no)
            Q = PQ[:, 1].reshape(B, Nc, no, Nc, no)
            tn = qtn.TensorNetwork([
                qtn.Tensor(P, inds=("b", "r", "o", "j", "p")), qtn.Tensor(Dx.to(P.dtype), inds=("r", "j")),
                qtn.Tensor(Q, inds=("b", "j", "p", "k", "q")), qtn.Tensor(Dy.to(P.dtype), inds=("r", "k")),
                qtn.Tensor(P, inds=("b", "k", "q", "r", "o")), qtn.Tensor(R.to(P.dtype), inds=("r",)),
            ], virtual=True)
            return net._contract("chern", tn, ("b",)).imag * 4 * math.pi

    fns = {"fwd_bwd": fwd_bwd, "plain": plain, "fwd_eigen": lambda: net((E, U)), "fwd_hamiltonian": lambda: net(H)}
    fns = {k: synced(f, H.device) for k, f in fns.items()}
    for fn in fns.values():
        fn()
    return dict(err=err, **_timings(fns, repeat))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes for a CI smoke test")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (default 1: stable ratios on shared machines; 0 = torch's default)")
    add_device_option(p)
    add_json_option(p)
    a = p.parse_args(argv)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    B, L, rep = (16, 4, 3) if a.quick else (128, 6, 5)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {B} disordered QWZ samples of {L}x{L} cells")
    dev = pick_device(a.device)
    m = bench_marker(B, L, rep, dev)
    print(f"\nDifferentiable Chern number, forward + backward dC/dH (best of {rep} interleaved runs):")
    print(f"  batched (tntopo.nn.chern)        {m['batched'] * 1e3:9.2f} ms")
    print(f"  per-sample loop (same function)  {m['per_sample'] * 1e3:9.2f} ms   ratio {m['per_sample'] / m['batched']:6.2f}")
    print(f"  eigh autograd route (batched)    {m['eigh'] * 1e3:9.2f} ms   ratio {m['eigh'] / m['batched']:6.2f}")
    print(f"  |C - C_eigh|max                  {m['err']:.2e}")
    t = bench_toponet2d(B, L, rep, dev)
    print(f"\nTopoNet2D (exact init, float64):")
    print(f"  forward + backward (eigen input) {t['fwd_bwd'] * 1e3:9.2f} ms")
    print(f"  plain contraction                {t['plain'] * 1e3:9.2f} ms   fwd+bwd / plain {t['fwd_bwd'] / t['plain']:6.2f}")
    print(f"  forward, eigen input             {t['fwd_eigen'] * 1e3:9.2f} ms")
    print(f"  forward, Hamiltonian input       {t['fwd_hamiltonian'] * 1e3:9.2f} ms   ratio {t['fwd_hamiltonian'] / t['fwd_eigen']:6.2f}")
    print(f"  |TopoNet2D - C|max               {t['err']:.2e}")
    write_ratios(a.json, {
        "marker_per_sample_over_batched": m["per_sample"] / m["batched"],
        "marker_eigh_autograd_over_stable": m["eigh"] / m["batched"],
        "toponet2d_fwd_bwd_over_plain": t["fwd_bwd"] / t["plain"],
        "toponet2d_hamiltonian_over_eigen_input": t["fwd_hamiltonian"] / t["fwd_eigen"],
    }, quick=a.quick, device=str(dev), batch=B, shape=[L, L], err_marker=m["err"], err_toponet2d=t["err"],
        seconds={**{f"marker_{k}": v for k, v in m.items() if k != "err"},
                 **{f"toponet2d_{k}": v for k, v in t.items() if k != "err"}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
