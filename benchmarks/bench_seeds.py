"""Seeds of a TopoNet row trained together (``train_seeds``, one vmapped model) vs a loop of ``train``.

    python benchmarks/bench_seeds.py              # 20 seeds, N = 24, the study's sizes (4000/1000, 40 epochs)
    python benchmarks/bench_seeds.py --epochs 5   # same, fewer epochs (the cost per epoch is constant)
    python benchmarks/bench_seeds.py --quick      # CI smoke test (seconds)
    python benchmarks/bench_seeds.py --json ratios.json

For each TopoNet row of the study (``topo``: ``toponet``; ``topo_ti``: ``toponet_odd`` with a
translation-invariant kernel, rank state weights and the fixed window) both routes train the same
seeds on the same data with the same settings (Adam, the study's batch size, best validation loss
restored), in the same process, one torch thread (as the study runs), the loop first. Printed and
written: the wall-time ratio loop / batched, the largest relative difference of the final weights
(``max |w_batched - w_loop| / max |w_loop|`` per tensor, over seeds) and of the training and
validation losses, and whether every seed ends at the same best epoch. The script fails if the
weights differ by more than 1e-3 (float32 rounding amplified by training is ~1e-6).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch
from _common import add_json_option, write_ratios

ROWS = {
    "topo": ("toponet", {}),
    "topo_ti": ("toponet_odd", {"kernel": "translation_invariant", "state_weights": "rank", "window": "fixed"}),
}


def compare(models, refs, hists, ref_hists):
    """Largest relative weight difference, largest loss difference, same best epochs."""
    w = 0.0
    for m, r in zip(models, refs):
        for (_, p), (_, q) in zip(m.named_parameters(), r.named_parameters()):
            w = max(w, float((p.detach() - q.detach()).abs().max() / q.detach().abs().max().clamp_min(1e-30)))
    loss = max(abs(a - b) / max(abs(b), 1e-30) for h, r in zip(hists, ref_hists)
               for key in ("train_loss", "val_loss") for a, b in zip(h[key], r[key]))
    same = all(h[k] == r[k] for h, r in zip(hists, ref_hists) for k in ("epoch", "best_epoch", "stopped_early"))
    return w, loss, same


def bench(row, n_cells, seeds, train_set, val_set, opts):
    from tntopo.nn import build_model, train, train_seeds

    kind, kw = ROWS[row]

    def build(s):
        return build_model(kind, n_cells, s, **kw)

    # warm-up of what a process pays once (imports, first dispatch of each kernel), not per model
    warm = (train_set.x[:2 * opts["batch_size"]], train_set.y[:2 * opts["batch_size"]])
    train(build(10_000), warm, warm, **{**opts, "epochs": 1}, seed=0, progress=False)
    train_seeds(build, [10_001, 10_002], warm, warm, **{**opts, "epochs": 1}, mode="vmap", progress=False)
    t0 = time.perf_counter()
    refs, ref_hists = [], []
    for s in seeds:
        m = build(s)
        ref_hists.append(train(m, train_set, val_set, seed=s, progress=False, **opts))
        refs.append(m)
    t_loop = time.perf_counter() - t0
    t0 = time.perf_counter()
    models, hists = train_seeds(build, seeds, train_set, val_set, mode="vmap", progress=False, **opts)
    t_batched = time.perf_counter() - t0
    return t_loop, t_batched, compare(models, refs, hists, ref_hists)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes for a CI smoke test")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (default 20; 4 with --quick)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default the study's 40; 2 with --quick)")
    p.add_argument("--rows", default="topo,topo_ti", help=f"comma-separated rows among {', '.join(ROWS)}")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1, as the study; 0 = torch's default)")
    add_json_option(p)
    a = p.parse_args(argv)
    rows = [r.strip() for r in a.rows.split(",") if r.strip()]
    bad = [r for r in rows if r not in ROWS]
    if bad:
        p.error(f"unknown row(s) {bad}; choose among {', '.join(ROWS)}")
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    from tntopo.data import make_dataset

    if a.quick:
        n_cells, n_train, n_val, epochs, batch_size, n_seeds = 8, 128, 64, 2, 32, 4
    else:  # tntopo.study.config FULL: n_cells 24, n_train 4000, n_val 1000, epochs 40, batch_size 64
        n_cells, n_train, n_val, epochs, batch_size, n_seeds = 24, 4000, 1000, 40, 64, 20
    epochs = a.epochs if a.epochs is not None else epochs
    n_seeds = a.seeds if a.seeds is not None else n_seeds
    seeds = list(range(n_seeds))
    train_set = make_dataset(n_train, n_cells, seed=0, ranges=(-1, 0, 1, 2))
    val_set = make_dataset(n_val, n_cells, seed=1, ranges=(-1, 0, 1, 2))
    opts = dict(epochs=epochs, batch_size=batch_size, lr=3e-3)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), load average {load:.2f}; "
          f"{n_seeds} seeds, N = {n_cells}, {n_train} train / {n_val} val chains, {epochs} epochs, batch {batch_size}")
    print(f"{'row':>8}{'loop s':>10}{'batched s':>11}{'speed-up':>10}{'max rel dw':>12}{'max rel dloss':>15}"
          f"{'same best epochs':>18}")
    ratios, info = {}, {}
    status = 0
    for row in rows:
        t_loop, t_batched, (dw, dl, same) = bench(row, n_cells, seeds, train_set, val_set, opts)
        r = t_loop / t_batched
        print(f"{row:>8}{t_loop:10.2f}{t_batched:11.2f}{r:10.2f}{dw:12.1e}{dl:15.1e}{str(same):>18}")
        ratios[f"{row}_speedup"] = r
        info[row] = {"loop_seconds": t_loop, "batched_seconds": t_batched, "max_rel_weight_diff": dw,
                     "max_rel_loss_diff": dl, "same_best_epochs": same}
        if not dw <= 1e-3:
            print(f"FAIL: {row}: batched weights differ from the loop's by {dw:.2e} (relative)", file=sys.stderr)
            status = 1
    end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average at the end {end:.2f}")
    write_ratios(a.json, ratios, quick=a.quick, load_average=[load, end], seeds=n_seeds, n_cells=n_cells, n_train=n_train, n_val=n_val,
                 epochs=epochs, batch_size=batch_size, threads=torch.get_num_threads(), rows=info)
    return status


if __name__ == "__main__":
    sys.exit(main())
