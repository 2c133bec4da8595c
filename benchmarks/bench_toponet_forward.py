"""TopoNet forward pass: contraction compiled once per input shape vs quimb networks built on every pass.

    python benchmarks/bench_toponet_forward.py            # batches of 16 and 256 chains, N = 20 and 40
    python benchmarks/bench_toponet_forward.py --quick    # CI smoke test (seconds)
    python benchmarks/bench_toponet_forward.py --json ratios.json

Before issue 10, ``TopoNet.forward`` unpacked its quimb weight network and built two quimb
``TensorNetwork`` objects (the state layer ``psi_A s psi_B^*`` and the ``|Q|^2 X R`` contraction) on
every call, contracted through ``tntopo.tn.contract_network``. It now reads its weights directly
and compiles both contractions once per input shape and dtype (``opt_einsum.contract_expression``
kept on the module). The gain is the per-call overhead (tens of microseconds): large for small
batches, within noise once the contraction itself dominates (large batches and chains). The naive route is
reimplemented here from the same weights (:func:`forward_rebuilding_networks`), checked to give
the same numbers, and timed in the same run (best of interleaved repeats, one torch thread).
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
from _common import add_device_option, add_json_option, interleaved, pick_device, synced, write_ratios


def forward_rebuilding_networks(net, x):
    """The previous forward pass: the weights read through the unpacked quimb weight network, then two
    quimb networks built and contracted per call."""
    import quimb.tensor as qtn

    from tntopo.nn.toponet import STATE_LAYER_PATH, _Square
    from tntopo.tn import contract_network

    raw = net.weight_network()  # the previous weights() unpacked the weight network on every call
    assert all(raw[tag].data is net.params[tag] for tag in net.params)
    N, pA, pB, s, X, R = net._inputs(x)
    layer = qtn.TensorNetwork([qtn.Tensor(s, inds=("n",)), qtn.Tensor(pA, inds=("b", "a", "n")),
                               qtn.Tensor(pB.conj(), inds=("b", "c", "n"))], virtual=True)
    Q = contract_network(layer, ("b", "a", "c"), STATE_LAYER_PATH)
    P = Q.real.square() + Q.imag.square() if Q.is_complex() else _Square.apply(Q)
    rest = qtn.TensorNetwork([qtn.Tensor(P, inds=("b", "a", "c")), qtn.Tensor(X, inds=("a", "c")),
                              qtn.Tensor(R, inds=("a",))], virtual=True)
    return contract_network(rest, ("b",), net.optimize)


def bench(B, N, repeat, inner, device=None):
    import tntopo
    from tntopo.data import wavefunctions
    from tntopo.nn import TopoNet

    h = tntopo.sample_chains(B, N, ranges=(0, 1), seed=0).hopping_blocks()
    x = torch.as_tensor(wavefunctions(h)).float().to(device)
    net = TopoNet(N, "random", seed=0).to(device)
    with torch.no_grad():
        a, b = net(x), forward_rebuilding_networks(net, x)
    err = float((a - b).abs().max())

    def cached():
        with torch.no_grad():
            net(x)

    def rebuilt():
        with torch.no_grad():
            forward_rebuilding_networks(net, x)

    def cached_bwd():
        net.zero_grad(set_to_none=True)
        net(x).sum().backward()

    def rebuilt_bwd():
        net.zero_grad(set_to_none=True)
        forward_rebuilding_networks(net, x).sum().backward()

    fns = {"cached": cached, "rebuilt": rebuilt, "cached_bwd": cached_bwd, "rebuilt_bwd": rebuilt_bwd}
    fns = {k: synced(f, x.device) for k, f in fns.items()}
    for fn in fns.values():  # warm-up: path searches, allocator
        fn()
    t = interleaved(fns, repeat, inner)
    return t, err


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes for a CI smoke test")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1; 0 = torch's default)")
    add_device_option(p)
    add_json_option(p)
    a = p.parse_args(argv)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    cases = [(16, 8)] if a.quick else [(1, 8), (1, 20), (16, 20), (256, 20), (256, 40)]
    repeat, inner = (3, 5) if a.quick else (7, 20)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); best of {repeat} x {inner} calls")
    dev = pick_device(a.device)
    print(f"{'batch':>6}{'cells':>6}{'rebuilt ms':>12}{'cached ms':>11}{'speed-up':>10}"
          f"{'fwd+bwd rebuilt':>17}{'cached':>9}{'speed-up':>10}{'max |diff|':>12}")
    ratios, info = {}, {}
    for B, N in cases:
        t, err = bench(B, N, repeat, inner, dev)
        r_f, r_b = t["rebuilt"] / t["cached"], t["rebuilt_bwd"] / t["cached_bwd"]
        print(f"{B:6d}{N:6d}{t['rebuilt'] * 1e3:12.3f}{t['cached'] * 1e3:11.3f}{r_f:10.2f}"
              f"{t['rebuilt_bwd'] * 1e3:17.3f}{t['cached_bwd'] * 1e3:9.3f}{r_b:10.2f}{err:12.1e}")
        ratios[f"forward_speedup_B{B}_N{N}"] = r_f
        ratios[f"forward_backward_speedup_B{B}_N{N}"] = r_b
        info[f"B{B}_N{N}"] = {k: v * 1e3 for k, v in t.items()} | {"max_abs_diff": err}
        if not np.isfinite(err) or err > 1e-4:
            print(f"FAIL: the cached forward differs from the rebuilt one by {err:.2e}", file=sys.stderr)
            return 1
    write_ratios(a.json, ratios, quick=a.quick, device=str(dev), milliseconds=info, threads=torch.get_num_threads())
    return 0


if __name__ == "__main__":
    sys.exit(main())
