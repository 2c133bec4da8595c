"""Start-up of the ``tntopo`` command: ``--version``, ``--help`` and argument errors, against the
eager start-up that imported torch and the numerical stack before parsing (main up to issue 25).

    python benchmarks/bench_startup.py            # 5 interleaved rounds
    python benchmarks/bench_startup.py --quick    # CI smoke test (2 rounds)

Each command runs in a fresh interpreter (``python -m tntopo.cli ...``, this checkout's tntopo
first on the path). Reported per command: the best CPU time (user + system, from ``os.wait4``,
robust to other processes sharing the cores) and wall time, the overhead over a bare interpreter
(``python -c pass``), and the ratio to the naive route -- the same interpreter importing what the
eager parser imported (``tntopo.nn``, ``tntopo.data``, ``tntopo.invariants.chern``) before
parsing ``--version``. Target: every command within 0.5 s of CPU.

``import tntopo`` itself is timed too (``import``), and with the invariants loaded
(``invariants``: ``tntopo.winding_number`` and ``tntopo.chern_number`` touched).
``--baseline DIR`` also runs every command with another checkout first on the path, interleaved
with this one, and reports this/baseline CPU ratios (a change of the package layout, say, is
"not worse by more than 10%" when every ratio stays below 1.1)::

    git worktree add /tmp/main main && python benchmarks/bench_startup.py --baseline /tmp/main
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import add_json_option, write_ratios

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "version": ["-m", "tntopo.cli", "--version"],
    "help": ["-m", "tntopo.cli", "--help"],
    "typo": ["-m", "tntopo.cli", "windng"],
    "bad_argument": ["-m", "tntopo.cli", "winding", "--n-cells", "x"],
    "train_bad_argument": ["-m", "tntopo.cli", "train", "data", "--lr", "-1"],
    "import": ["-c", "import tntopo"],
    "invariants": ["-c", "import tntopo; tntopo.winding_number; tntopo.chern_number"],
}
EAGER = ["-c", "import tntopo.nn, tntopo.data, tntopo.invariants.chern, tntopo.cli, sys; "
               "sys.argv = ['tntopo', '--version']; tntopo.cli.main()"]
BARE = ["-c", "pass"]


def _run(args, root=ROOT):
    """(cpu seconds, wall seconds) of ``python ARGS`` in a fresh process, ``root``'s tntopo first on the path."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, _, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    return usage.ru_utime + usage.ru_stime, wall


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 rounds (CI smoke test)")
    ap.add_argument("--repeat", type=int, default=None, help="interleaved rounds (default 5, --quick 2)")
    ap.add_argument("--baseline", type=Path, default=None, metavar="DIR",
                    help="another checkout: time its commands too (interleaved) and report this/baseline CPU ratios")
    add_json_option(ap)
    args = ap.parse_args(argv)
    if args.baseline is not None and not (args.baseline / "tntopo" / "__init__.py").is_file():
        ap.error(f"--baseline {args.baseline}: no tntopo package there; give the root of a checkout")
    repeat = args.repeat or (2 if args.quick else 5)
    routes = {"bare": BARE, "eager": EAGER, **COMMANDS}
    best = {k: (float("inf"), float("inf")) for k in routes}
    base = {k: float("inf") for k in COMMANDS}
    for _ in range(repeat):
        for k, a in routes.items():
            cpu, wall = _run(a)
            best[k] = (min(best[k][0], cpu), min(best[k][1], wall))
            if args.baseline is not None and k in COMMANDS:
                base[k] = min(base[k], _run(a, args.baseline)[0])
    bare_cpu, bare_wall = best["bare"]
    eager_cpu, eager_wall = best["eager"]
    print(f"{'command':20s} {'cpu s':>7s} {'wall s':>7s} {'cpu over bare':>14s} {'eager/this (cpu)':>17s}")
    print(f"{'python -c pass':20s} {bare_cpu:7.3f} {bare_wall:7.3f}")
    print(f"{'eager (naive)':20s} {eager_cpu:7.3f} {eager_wall:7.3f} {eager_cpu - bare_cpu:14.3f}")
    ratios, info = {}, {"bare_cpu_s": bare_cpu, "eager_cpu_s": eager_cpu, "repeat": repeat}
    for k in COMMANDS:
        cpu, wall = best[k]
        ratios[f"{k}_speedup_vs_eager_cpu"] = eager_cpu / cpu
        info[f"{k}_cpu_s"], info[f"{k}_wall_s"] = cpu, wall
        print(f"{k:20s} {cpu:7.3f} {wall:7.3f} {cpu - bare_cpu:14.3f} {eager_cpu / cpu:17.1f}")
    if args.baseline is not None:
        print(f"\nagainst {args.baseline} (best CPU of {repeat}, interleaved):")
        for k in COMMANDS:
            ratios[f"{k}_cpu_vs_baseline"] = best[k][0] / base[k]
            info[f"{k}_baseline_cpu_s"] = base[k]
            print(f"{k:20s} {best[k][0]:7.3f} vs {base[k]:7.3f}  this/baseline {best[k][0] / base[k]:5.2f}")
    worst = max(best[k][0] for k in COMMANDS)
    print(f"slowest command: {worst:.3f} s of CPU (target 0.5 s)")
    write_ratios(args.json, ratios, quick=args.quick, **info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
