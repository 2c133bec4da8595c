"""Learning-stack benchmark: TopoNet forward+backward vs the plain contraction, and training throughput.

    python benchmarks/bench_nn.py            # full: batch 1000 x 40 sites, 4000 training samples
    python benchmarks/bench_nn.py --quick    # CI smoke test (small sizes, seconds)

Timings are single-threaded by default (``--threads``), which keeps the ratio stable when other
processes share the cores.

1. TopoNet (exact init, float32) forward + backward on a batch of wavefunctions of ``B`` chains of
   ``N`` cells (``2N`` sites), against the plain contraction of the same network (the same cached
   opt_einsum expressions on the same tensors, no autograd). Target: ratio <= 3.
2. Training throughput (samples/s, one epoch after a warm-up epoch) of every model on the same data.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from _common import add_device_option, add_json_option, interleaved, pick_device, synced, write_ratios


def plain_contraction(net, x):
    """The same network, same two-stage contraction (psi s psi -> Q, then |Q|^2 X R), constant tensors, no autograd."""
    import quimb.tensor as qtn

    from tntopo.nn.toponet import STATE_LAYER_PATH
    from tntopo.tn import contract_network

    with torch.no_grad():
        N = x.shape[-1] // 2
        s, X, R = (t.detach() for t in net.weights(N, dtype=x.dtype))
        layer = qtn.TensorNetwork([
            qtn.Tensor(s, inds=("n",)), qtn.Tensor(x[:, :N], inds=("b", "a", "n")),
            qtn.Tensor(x[:, N:], inds=("b", "c", "n")),
        ], virtual=True)
        Q = contract_network(layer, ("b", "a", "c"), STATE_LAYER_PATH)
        rest = qtn.TensorNetwork([qtn.Tensor(Q.square(), inds=("b", "a", "c")), qtn.Tensor(X, inds=("a", "c")),
                                  qtn.Tensor(R, inds=("a",))], virtual=True)
        return contract_network(rest, ("b",))


def bench_toponet(B, N, repeat, device=None):
    import tntopo
    from tntopo.data import wavefunctions
    from tntopo.nn import TopoNet

    h = tntopo.sample_chains(B, N, ranges=(0, 1), disorder={0: 0.5, 1: 0.25}, seed=0).hopping_blocks()
    x = torch.as_tensor(wavefunctions(h)).float().to(device)
    net = TopoNet(N, "exact").to(device)
    W = net(x)
    ref = tntopo.invariants.winding.dense.winding_from_blocks(h, warn=False)
    err = float(np.abs(W.detach().cpu().numpy() - ref).max())

    def fwd_bwd():
        net.zero_grad(set_to_none=True)
        net(x).sum().backward()

    xn = x.cpu().numpy()
    s, X, R = (t.detach().cpu().numpy() for t in net.weights(N))

    def numpy_plain():
        Q = np.einsum("ban,n,bcn->bac", xn[:, :N], s, xn[:, N:], optimize=True)
        return np.einsum("bac,ac,a->b", Q * Q, X, R, optimize=True)

    fns = {"fwd_bwd": fwd_bwd, "fwd": lambda: net(x), "plain": lambda: plain_contraction(net, x)}
    fns = {k: synced(f, x.device) for k, f in fns.items()}
    fns["numpy"] = numpy_plain
    for fn in fns.values():  # warm-up (expression cache, allocator)
        fn()
    t = interleaved(fns, repeat)
    return dict(B=B, sites=2 * N, err_float32=err, ratio=t["fwd_bwd"] / t["plain"], **t)


def bench_training(n_train, N, batch_size, models, device=None):
    from tntopo.data import make_dataset
    from tntopo.nn import build_model
    from tntopo.nn import train

    ds = make_dataset(n_train, N, ranges=(0, 1), disorder=[None, 0.5], seed=0, shard_size=max(1, n_train // 4))
    out = {}
    for name, kw in models:
        model = build_model(name, N, seed=0, device=device, **kw)
        train(model, ds, epochs=1, batch_size=batch_size, progress=False, seed=0, device=device)  # warm-up
        t0 = time.perf_counter()
        train(model, ds, epochs=1, batch_size=batch_size, progress=False, seed=1, device=device)
        dt = time.perf_counter() - t0
        label = name + ("" if not kw else "(" + ",".join(f"{k}={v}" for k, v in kw.items()) + ")")
        out[label] = (n_train / dt, sum(p.numel() for p in model.parameters()))
    return out


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
    B, N, rep = (100, 8, 5) if a.quick else (1000, 20, 30)
    n_train, bs = (128, 32) if a.quick else (4000, 128)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    dev = pick_device(a.device)
    r = bench_toponet(B, N, rep, dev)
    print(f"\nTopoNet on {r['B']} chains x {r['sites']} sites (float32, best of {rep} interleaved runs):")
    print(f"  forward                  {r['fwd'] * 1e3:8.2f} ms")
    print(f"  forward + backward       {r['fwd_bwd'] * 1e3:8.2f} ms")
    print(f"  plain contraction (torch){r['plain'] * 1e3:8.2f} ms")
    print(f"  plain contraction (numpy){r['numpy'] * 1e3:8.2f} ms")
    print(f"  ratio fwd+bwd / plain    {r['ratio']:8.2f}   (target <= 3)")
    print(f"  |TopoNet(exact) - W|max  {r['err_float32']:.2e}")
    models = [("toponet", {}), ("toponet", dict(kernel="translation_invariant", state_weights="rank", window="fixed")),
              ("mlp", {}), ("shallow", {}), ("cnn", {}), ("symmetric", {})]
    thr = bench_training(n_train, N, bs, models, dev)
    print(f"\nTraining throughput ({n_train} samples, {2 * N} sites, batch {bs}, Adam, one epoch):")
    print(f"  {'model':<72}{'samples/s':>12}{'params':>10}")
    for k, (v, npar) in thr.items():
        print(f"  {k:<72}{v:12.0f}{npar:10d}")
    base = thr.get("mlp", (float("nan"),))[0]
    write_ratios(a.json, {"fwd_bwd_over_plain": r["ratio"], "fwd_over_plain": r["fwd"] / r["plain"],
                          **{f"throughput_{k}_over_mlp": v / base for k, (v, _) in thr.items() if k != "mlp"}},
                 quick=a.quick, device=str(dev), batch=r["B"], sites=r["sites"], err_float32=r["err_float32"],
                 samples_per_s={k: v for k, (v, _) in thr.items()})
    if r["ratio"] > 3.0 and not a.quick:  # --quick sizes are overhead-dominated: report only
        print("FAIL: TopoNet forward+backward costs more than 3x the plain contraction", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
