"""The learning comparison behind ``tntopo reproduce``: every model, accuracy, learning the invariant, throughput.

    python benchmarks/bench_learning.py                 # the "quick" study preset (minutes)
    python benchmarks/bench_learning.py --quick         # CI smoke test: the "tiny" preset (seconds)
    python benchmarks/bench_learning.py --preset full --executor tcp://scheduler:8786

Runs :func:`tntopo.study.reproduce` into ``--out`` (a temporary directory by default), then prints
per row (model x head): test accuracy, the fraction of seeds that learn the invariant, size /
unseen-winding / counterfactual / TAI-disorder (training length, against the phase label) accuracy,
and the training throughput (samples/s on one thread; every row has the same budget) side by side.
"""
from __future__ import annotations

import argparse
import sys
import tempfile

from _common import add_json_option, write_ratios


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="CI smoke test (the tiny preset)")
    p.add_argument("--preset", default=None, choices=["tiny", "quick", "full"], help="study preset (default quick)")
    p.add_argument("--out", default=None, help="output directory (default: a temporary one)")
    p.add_argument("--executor", default=None, help="process (default), serial, or a dask scheduler address")
    p.add_argument("--seeds", type=int, default=None)
    add_json_option(p)
    args = p.parse_args(argv)

    from tntopo.study import get_config, reproduce
    from tntopo.study.report import TAI_WINDOW

    preset = args.preset or ("tiny" if args.quick else "quick")
    cfg = get_config(preset)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or tmp
        res = reproduce(cfg, out=out, executor=args.executor or ("serial" if args.quick else None), seeds=args.seeds,
                        progress=not args.quick, figures=not args.quick)
        cfg_d = res["config"]
        print(f"\nlearning comparison, preset {preset}: N={cfg_d['n_cells']}, {cfg_d['seeds']} seeds/model, "
              f"{cfg_d['n_train']} training chains, total {res['timings']['total_s']:.0f} s")
        head = (f"{'model':18s} {'test':>6s} {'learns':>6s} {'size':>6s} {'unseen':>6s} {'cntrf.':>6s} {'TAI':>6s} "
                f"{'samples/s':>10s}")
        print(head)
        print("-" * len(head))

        def f(x):
            return f"{x:6.3f}" if isinstance(x, float) else f"{'n/a':>6s}"

        rates = {}
        N = str(cfg_d["n_cells"])
        for name, e in res["models"].items():
            tai = [v for k, v in e["disorder_accuracy"][N].items()
                   if TAI_WINDOW[0] <= float(k) <= TAI_WINDOW[1] and isinstance(v, float)]
            rate = cfg_d["n_train"] * cfg_d["epochs"] / e["train_seconds"] if e["train_seconds"] else float("nan")
            rates[name] = rate
            print(f"{name:18s} {f(e['test_accuracy'])} {f(e['learns_invariant'])} {f(e['size_generalization_accuracy'])} "
                  f"{f(e['unseen_winding_accuracy'])} {f(e['counterfactual_accuracy'])} "
                  f"{f(sum(tai) / len(tai) if tai else None)} {rate:10.0f}")
        print(f"exact TopoNet max |error| vs tntopo.winding_number: {res['exact_topo']['max_abs_error']:.2e}")
        for fnd in res["findings"]:
            verdict = {None: "not measured", "depends": "depends on the regime"}.get(fnd["holds"], fnd["holds"])
            print(f"[{verdict}] {fnd['claim']}")
        if args.out:
            print(f"results in {out}/results.md")
        ref = rates.get("mlp") or next(iter(rates.values()), float("nan"))
        write_ratios(args.json, {f"throughput_{k}_over_mlp": v / ref for k, v in rates.items() if k != "mlp"},
                     quick=args.quick, preset=preset, samples_per_s=rates,
                     test_accuracy={k: e["test_accuracy"] for k, e in res["models"].items()},
                     total_s=res["timings"]["total_s"])
    return 1 if res.get("failures") else 0


if __name__ == "__main__":
    sys.exit(main())
