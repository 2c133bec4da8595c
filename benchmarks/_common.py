"""Shared by the benchmark scripts: the ``--json PATH`` option and the file it writes.

Every script in ``benchmarks/`` accepts ``--json PATH`` and writes there

    {"benchmark": <script name>, "quick": <bool>, "ratios": {name: float, ...}, "info": {...}}

``ratios`` are the numbers the script is about (speed-ups, relative costs, fractions), each
measured in the same run; ``tests/test_benchmarks_smoke.py`` checks they are finite and positive.
(Files starting with ``_`` are not benchmarks.)
"""
import json
import math
import os
import sys
import time


def best_of(fn, repeat):
    """``(best seconds, last result)`` of ``repeat`` calls of ``fn()``."""
    best, out = math.inf, None
    for _ in range(max(1, int(repeat))):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def interleaved(fns, repeat, inner=1):
    """Best seconds per call of each function of ``{name: fn}``, over ``repeat`` interleaved rounds
    of ``inner`` calls each (robust to load from other processes on a shared machine)."""
    best = {k: math.inf for k in fns}
    for _ in range(max(1, int(repeat))):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            best[k] = min(best[k], (time.perf_counter() - t0) / inner)
    return best


def add_json_option(parser):
    """Add ``--json PATH`` to an argparse parser."""
    parser.add_argument("--json", metavar="PATH", default=None,
                        help="also write the measured ratios (and settings) as JSON to PATH")


def write_ratios(path, ratios, *, quick=False, **info):
    """Write the ratios (and any extra settings/values) as JSON to ``path`` (nothing if ``path`` is None)."""
    if not path:
        return
    clean = {k: (float(v) if v is not None else None) for k, v in ratios.items()}
    doc = {"benchmark": os.path.splitext(os.path.basename(sys.argv[0]))[0], "quick": bool(quick),
           "ratios": {k: (v if v is not None and math.isfinite(v) else None) for k, v in clean.items()},
           "info": info}
    tmp = f"{path}.part"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2, default=str)
    os.replace(tmp, path)
    print(f"ratios written to {path}")


def add_device_option(parser):
    """Add ``--device`` (torch benchmarks): where the torch routes run; default ``cuda`` when there
    is one, else ``cpu``."""
    parser.add_argument("--device", default=None,
                        help="torch device to run on (default: cuda if available, else cpu)")


def pick_device(name=None):
    """The torch device of ``--device`` (checked by :func:`tntopo.nn.functional.resolve_device`);
    prints it, with the GPU's name where there is one."""
    import torch

    from tntopo.nn.functional import resolve_device

    dev = resolve_device(name) if name else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    what = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "no GPU used in this run"
    print(f"device: {dev} ({what})")
    return dev


def synced(fn, device):
    """``fn`` followed by a device synchronization (so that wall-clock timings of CUDA work are real)."""
    import torch

    if getattr(device, "type", "cpu") != "cuda":
        return fn

    def run():
        out = fn()
        torch.cuda.synchronize(device)
        return out

    return run
