"""Training and evaluating the Chern study's TopoNet2D rows: the spectrum cache and the direct contraction.

    python benchmarks/bench_toponet2d_train.py              # 8x8 epochs, 16x16 / 32x32 evaluation (minutes)
    python benchmarks/bench_toponet2d_train.py --quick      # CI smoke test (6x6 epochs, 10x10 / 12x12; seconds)
    python benchmarks/bench_toponet2d_train.py --estimate   # also: seconds per seed of every row of CHERN_FULL

The layout TopoNet2D rows (``toponet2d_layout``, ``toponet2d_ti``, ``toponet2d_ti_plain``) diagonalize
the Hamiltonian of every input. The **naive** route is the pre-cache one: the spectrum cache disabled
(:func:`tntopo.nn.spectrum_cache` ``(0)``) and the generic two-layer contraction of
:class:`tntopo.nn.TopoNet2D` (``model._direct = False``: the projectors ``P``, ``Q`` in full, then
the marker network). The **new** route keeps each sample's eigenpairs in the per-process cache and
contracts directly (``P`` rows of the cells the output reads, ``Q`` never formed).

1. One training epoch (Adam, batch 64, float32 as in the study, through :func:`tntopo.nn.train` with
   a validation set) on clean Chern samples (:func:`tntopo.study.chern_sets.chern_clean_set`), for
   each row: naive, new with a cold cache (first epoch) and new with a warm cache (later epochs);
   ``*_run40`` is the ratio for a 40-epoch run (one cold and 39 warm epochs against 40 naive ones).
   The weights after the epoch are bit-identical with a cold and a warm cache (checked) and agree
   with the naive route's to float32 rounding (printed).
2. The same rows with 3 seeds trained as one vmapped model (:func:`tntopo.nn.train_seeds`, each seed on
   its own batch order), as the 1D study trains its TopoNet rows: two epochs with the cache on (cold, then warm)
   against the cache off, which is what every stacked epoch cost before the cache read vmapped
   batches, and one seed trained alone in the same round (warm): below 1, ``alone / stacked per
   seed`` says a warm seed trains faster alone than as a share of the stack (the Chern study's
   ``seed_batch = 1``). Weights bit-identical (checked).
3. Evaluation of ``toponet2d_ti`` (built at 8x8, fixed window) on larger samples: seconds per sample,
   naive, new with the spectrum computed (cache cold) and new from the cache (bound raised to
   ``EVAL_CACHE_BYTES`` = 4 GB, under which 32x32 spectra are admitted; the 1 GiB default admits
   spectra up to 32 MB, i.e. 16x16 and not 32x32).

With ``--estimate``, one epoch of every row of ``CHERN_FULL`` (the TopoNet2D rows cold and warm,
``cnn2d``, ``mlp2d``, ``kcnn``) on ``--estimate-train`` samples, extrapolated linearly to the preset's
4000 training and 1000 validation samples and its 40 epochs (printed and written to the JSON's
``info``; it is an extrapolation from one measured epoch, not a full run). Timings are
single-threaded by default (``--threads``), the best of interleaved repeats where stated.
"""
from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch

from _common import add_json_option, write_ratios
from tntopo.nn.lattice_models import DEFAULT_SPECTRUM_CACHE_BYTES

ROWS = ("toponet2d_layout", "toponet2d_ti", "toponet2d_ti_plain")


def _clean(n, L, seed):
    from tntopo.study.chern_sets import chern_clean_set

    s = chern_clean_set(n, L, (-1, 0, 1), seed=seed)
    return torch.as_tensor(s.x), torch.as_tensor(s.label, dtype=torch.float32)


def _route(model, naive: bool, cache_bytes=None):
    from tntopo.nn import spectrum_cache

    core = getattr(model, "model", model)
    if hasattr(core, "_direct"):
        core._direct = not naive
    spectrum_cache(0 if naive else (cache_bytes or DEFAULT_SPECTRUM_CACHE_BYTES))


#: the bound of the evaluation section: a 32x32 spectrum (34 MB in float32) is admitted under >= 1.1 GB
EVAL_CACHE_BYTES = 4e9


def _epoch_seconds(kind, L, train, val, batch_size, epochs, naive, kwargs=None, clear=True):
    """Seconds of each epoch (training + validation) and the trained state (``clear``: start with an empty cache)."""
    from tntopo.nn import build_model, spectrum_cache, train as fit

    m = build_model(kind, L, seed=0, **(kwargs or {}))
    _route(m, naive)
    if clear:
        spectrum_cache(clear=True)
    hist = fit(m, train, val, epochs=epochs, batch_size=batch_size, lr=3e-3, seed=0, progress=False)
    return list(hist["seconds"]), copy.deepcopy(m.state_dict())


def bench_epochs(L, n_train, n_val, batch_size, repeat, rows=ROWS):
    """Best of ``repeat`` interleaved rounds (naive, cold, warm) of one epoch of each row."""
    x, y = _clean(n_train + n_val, L, seed=0)
    train, val = (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])
    out = {}
    for kind in rows:
        t = {}
        for _ in range(max(1, repeat)):
            naive, s_naive = _epoch_seconds(kind, L, train, val, batch_size, 1, naive=True)
            cold, s_new = _epoch_seconds(kind, L, train, val, batch_size, 1, naive=False)
            warm, s_warm = _epoch_seconds(kind, L, train, val, batch_size, 1, naive=False, clear=False)
            assert all(torch.equal(s_new[k], s_warm[k]) for k in s_new), "the cache changed the trained weights"
            for k, v in (("naive", naive[0]), ("cold", cold[0]), ("warm", warm[0])):
                t[k] = min(t.get(k, np.inf), v)
        diff = max(float((s_new[k] - s_naive[k]).abs().max() / s_naive[k].abs().max().clamp_min(1e-30))
                   for k in s_naive if s_naive[k].is_floating_point())
        out[kind] = dict(t, weights_rel_diff=diff)
    return out


def _stacked_epochs(kind, L, train, val, batch_size, epochs, seeds, cache: bool):
    """Seconds of each epoch of ``len(seeds)`` seeds trained as one vmapped model (tntopo.nn.train_seeds; the
    Chern study trains one seed at a time), with the spectrum cache on (emptied first) or off, and the weights."""
    from tntopo.nn import build_model, spectrum_cache, train_seeds

    spectrum_cache(DEFAULT_SPECTRUM_CACHE_BYTES if cache else 0, clear=True)
    models, hists = train_seeds(lambda s: build_model(kind, L, seed=s), seeds, train, val, epochs=epochs,
                                batch_size=batch_size, lr=3e-3, progress=False)
    return list(hists[0]["seconds"]), [copy.deepcopy(m.state_dict()) for m in models]


def bench_stacked(L, n_train, n_val, batch_size, n_seeds, repeat, rows=ROWS):
    """Stacked seeds (each seed maps over its own batch): two epochs with the cache (cold, then warm) against
    two without it (every batch diagonalized, the route of vmapped training before the cache read it)."""
    x, y = _clean(n_train + n_val, L, seed=0)
    train, val = (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])
    seeds = list(range(n_seeds))
    out = {}
    for kind in rows:
        t = {}
        for _ in range(max(1, repeat)):
            off, s_off = _stacked_epochs(kind, L, train, val, batch_size, 2, seeds, cache=False)
            on, s_on = _stacked_epochs(kind, L, train, val, batch_size, 2, seeds, cache=True)
            alone, _ = _epoch_seconds(kind, L, train, val, batch_size, 2, naive=False)  # one seed, same round
            assert all(torch.equal(a[k], b[k]) for a, b in zip(s_off, s_on) for k in a), \
                "the cache changed the weights of stacked seeds"
            for k, v in (("naive", min(off)), ("cold", on[0]), ("warm", on[1]), ("single_warm", alone[1])):
                t[k] = min(t.get(k, np.inf), v)
        out[kind] = t
    return out


def bench_eval(L_model, Ls, n_per_L, repeat):
    from tntopo.nn import build_model, spectrum_cache

    m = build_model("toponet2d_ti", L_model, seed=0)
    out = {}
    for L in Ls:
        x, _ = _clean(n_per_L, L, seed=1)
        with torch.no_grad():
            ys = {}

            def naive():
                _route(m, True)
                ys["naive"] = m(x)

            def cold():
                _route(m, False, EVAL_CACHE_BYTES)
                spectrum_cache(clear=True)
                ys["new"] = m(x)

            def warm():
                ys["warm"] = m(x)

            t = {}
            for _ in range(repeat):
                for name, fn in (("naive", naive), ("cold", cold), ("warm", warm)):
                    t0 = time.perf_counter()
                    fn()
                    t[name] = min(t.get(name, np.inf), (time.perf_counter() - t0) / len(x))
        assert torch.equal(ys["new"], ys["warm"]), "the cache changed an output"
        out[L] = dict(t, err=float((ys["new"] - ys["naive"]).abs().max()))
    return out


def estimate(n_train, n_val, batch_size, full_train=4000, full_val=1000, epochs=40):
    """Seconds per seed of each CHERN_FULL row, from one measured epoch (two for the TopoNet2D rows)."""
    from tntopo.study.config import CHERN_FULL

    x, y = _clean(n_train + n_val, CHERN_FULL.n_cells, seed=2)
    train, val = (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])
    scale = (full_train + full_val) / (n_train + n_val)
    rows = {}
    for name, spec in CHERN_FULL.models.items():
        topo = spec.kind in ROWS
        secs, _ = _epoch_seconds(spec.kind, CHERN_FULL.n_cells, train, val, batch_size, 2 if topo else 1,
                                 naive=False, kwargs=dict(spec.kwargs))
        cold, warm = secs[0] * scale, secs[-1] * scale
        seed_s = cold + (epochs - 1) * warm
        row = dict(kind=spec.kind, epoch_cold_s=cold, epoch_warm_s=warm, seed_s=seed_s)
        if topo:
            naive, _ = _epoch_seconds(spec.kind, CHERN_FULL.n_cells, train, val, batch_size, 1, naive=True,
                                      kwargs=dict(spec.kwargs))
            row["seed_naive_s"] = naive[0] * scale * epochs
        rows[name] = row
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes for a CI smoke test")
    p.add_argument("--estimate", action="store_true", help="also estimate the seconds per seed of CHERN_FULL's rows")
    p.add_argument("--estimate-train", type=int, default=1280, help="training samples of the --estimate epochs")
    p.add_argument("--repeat", type=int, default=None, help="interleaved rounds, best kept (default 2; 1 with --quick)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (default 1: stable ratios on shared machines; 0 = torch's default)")
    add_json_option(p)
    a = p.parse_args(argv)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if a.quick:
        L, n_train, n_val, bs, L_eval, n_eval, rep = 6, 96, 32, 32, (10, 12), 2, 1
    else:
        L, n_train, n_val, bs, L_eval, n_eval, rep = 8, 640, 128, 64, (16, 32), 2, 2
    rep = rep if a.repeat is None else a.repeat
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    print(f"\n1. one training epoch at {L}x{L}: {n_train} samples, batch {bs}, validation {n_val}, float32 "
          f"(seconds, best of {rep})")
    ep = bench_epochs(L, n_train, n_val, bs, rep)
    ratios = {}
    print(f"  {'row':20s} {'naive':>8s} {'cold':>8s} {'warm':>8s}  naive/cold naive/warm  40 epochs  weights rel. diff")
    for kind, r in ep.items():
        run40 = 40 * r["naive"] / (r["cold"] + 39 * r["warm"])
        ratios[f"{kind}_epoch_cold"] = r["naive"] / r["cold"]
        ratios[f"{kind}_epoch_warm"] = r["naive"] / r["warm"]
        ratios[f"{kind}_run40"] = run40
        print(f"  {kind:20s} {r['naive']:8.2f} {r['cold']:8.2f} {r['warm']:8.2f}  {r['naive'] / r['cold']:10.2f} "
              f"{r['naive'] / r['warm']:10.2f} {run40:10.2f}  {r['weights_rel_diff']:.1e}")

    S = 3
    print(f"\n2. {S} seeds stacked as one vmapped model (tntopo.nn.train_seeds), one "
          f"epoch at {L}x{L}: naive = spectrum cache off, cold / warm = its first / second epoch with the cache "
          f"(seconds, best of {rep}; weights bit-identical, checked)")
    st = bench_stacked(L, n_train, n_val, bs, S, rep)
    print(f"  {'row':20s} {'naive':>8s} {'cold':>8s} {'warm':>8s}  naive/cold naive/warm  40 epochs  "
          f"one seed alone (warm)  alone / stacked per seed")
    for kind, r in st.items():
        run40 = 40 * r["naive"] / (r["cold"] + 39 * r["warm"])
        ratios[f"{kind}_stacked_epoch_warm"] = r["naive"] / r["warm"]
        ratios[f"{kind}_stacked_run40"] = run40
        ratios[f"{kind}_alone_over_stacked_per_seed"] = r["single_warm"] / (r["warm"] / S)
        print(f"  {kind:20s} {r['naive']:8.2f} {r['cold']:8.2f} {r['warm']:8.2f}  {r['naive'] / r['cold']:10.2f} "
              f"{r['naive'] / r['warm']:10.2f} {run40:10.2f}  {r['single_warm']:21.2f}  "
              f"{r['single_warm'] / (r['warm'] / S):24.2f}")

    print(f"\n3. evaluation of toponet2d_ti (built at {L}x{L}), float32, seconds per sample ({n_eval} samples, "
          f"best of {rep}; cache bound {EVAL_CACHE_BYTES:.0e} B)")
    ev = bench_eval(L, L_eval, n_eval, rep)
    print(f"  {'L':>4s} {'naive':>9s} {'new cold':>9s} {'new warm':>9s}  naive/cold naive/warm  |new - naive|")
    for Le, r in ev.items():
        ratios[f"eval_L{Le}_cold"] = r["naive"] / r["cold"]
        ratios[f"eval_L{Le}_warm"] = r["naive"] / r["warm"]
        print(f"  {Le:4d} {r['naive']:9.3f} {r['cold']:9.3f} {r['warm']:9.3f}  {r['naive'] / r['cold']:10.2f} "
              f"{r['naive'] / r['warm']:10.2f}  {r['err']:.1e}")

    info = dict(epochs=ep, stacked=st, eval={str(k): v for k, v in ev.items()}, threads=torch.get_num_threads())
    if a.estimate:
        n_tr = a.estimate_train
        n_va = max(1, n_tr // 4)
        print(f"\n4. CHERN_FULL rows, seconds per seed (one epoch on {n_tr} + {n_va} samples, scaled to 4000 + 1000; "
              "x40 epochs; an extrapolation, not a full run)")
        est = estimate(n_tr, n_va, 64)
        for name, r in est.items():
            naive = f"  (naive {r['seed_naive_s']:8.0f} s)" if "seed_naive_s" in r else ""
            print(f"  {name:16s} {r['kind']:20s} epoch cold {r['epoch_cold_s']:7.1f} s, "
                  f"warm {r['epoch_warm_s']:7.1f} s,"
                  f" per seed {r['seed_s']:8.0f} s{naive}")
        info["estimate"] = est
    write_ratios(a.json, ratios, quick=a.quick, **info)


if __name__ == "__main__":
    main()
