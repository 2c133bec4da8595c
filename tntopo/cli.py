"""The ``tntopo`` command line.

Each subcommand is a function ``_cmd_NAME(args)`` registered in :func:`build_parser`; errors
(``ValueError`` and friends) print one line to stderr and exit with status 2.
"""
from __future__ import annotations

import argparse
import sys
from typing import Dict, List, Optional

__all__ = ["main", "build_parser", "parse_mapping"]


def parse_mapping(text: str, what: str = "hoppings") -> Dict[int, complex]:
    """Parse ``"0:0.5,1:1.0"`` (values may be complex, e.g. ``1:0.5+0.2j``) into ``{m: t}``."""
    out: Dict[int, complex] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        if ":" not in item:
            raise ValueError(f"bad {what} entry {item!r}: write RANGE:AMPLITUDE, e.g. 0:0.5,1:1.0")
        m, v = item.split(":", 1)
        try:
            z = complex(v.replace(" ", ""))
            out[int(m)] = z.real if z.imag == 0 else z
        except ValueError:
            raise ValueError(f"bad {what} entry {item!r}: write RANGE:AMPLITUDE, e.g. 0:0.5,1:1.0") from None
    if not out:
        raise ValueError(f"empty {what}; write RANGE:AMPLITUDE pairs, e.g. 0:0.5,1:1.0")
    return out


def _cmd_winding(args) -> int:
    from .chains import SSHChain
    from .invariants import winding_number

    chain = SSHChain(
        parse_mapping(args.hoppings),
        n_cells=args.n_cells,
        boundary=args.boundary,
        disorder=parse_mapping(args.disorder, "disorder") if args.disorder else None,
        seed=args.seed,
    )
    W = winding_number(chain, method=args.method)
    print(f"{W:.10g}")
    return 0


def _float_grid(text: str, what: str):
    """``"START:STOP:NUM"`` (inclusive linspace) or comma-separated values."""
    import numpy as np

    try:
        if text.count(":") == 2:
            a, b, n = text.split(":")
            return np.linspace(float(a), float(b), int(n))
        return np.array([float(v) for v in text.split(",") if v.strip()])
    except ValueError:
        raise ValueError(f"bad {what} grid {text!r}: write START:STOP:NUM (e.g. 0:2:21) or values 0.5,1,1.5") from None


def _cmd_phase_diagram(args) -> int:
    from .phase import phase_diagram

    if args.quick:
        args.n_cells, args.n_realizations = min(args.n_cells, 60), min(args.n_realizations, 4)
    pd = phase_diagram(
        _float_grid(args.x, "--x"), _float_grid(args.y, "--y"), x_param=args.x_param, y_param=args.y_param,
        hoppings=parse_mapping(args.hoppings), disorder={m: float(abs(v)) for m, v in parse_mapping(args.disorder, "disorder").items()},
        n_cells=args.n_cells, n_realizations=args.n_realizations, boundary=args.boundary, method=args.method,
        seed=args.seed, executor=args.executor, max_workers=args.workers, store=args.store, progress=not args.quiet,
    )
    if args.data:
        pd.save(args.data)
        print(f"wrote {args.data}")
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        from .plot import plot_phase_diagram

        fig = plot_phase_diagram(pd)
        fig.savefig(args.out, dpi=150, bbox_inches="tight")
        print(f"wrote {args.out}")
    if pd.failed:
        print(f"{len(pd.failed)} grid point(s) failed (rerun with the same --store to finish them)", file=sys.stderr)
        return 1
    if pd.is_nearest_neighbour:
        print(f"agreement with the analytic boundary: {pd.agreement():.3f}")
    return 0


def _int_list(text: str, what: str) -> List[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"bad {what} {text!r}: give comma-separated integers, e.g. 0,1") from None


def _disorder_levels(text: Optional[str]):
    """``"0,0.5,1"`` (strengths W, Mondragon-Shem {0: W, 1: W/2}) or ``"0:1.0,1:0.5"`` (one level)."""
    if not text:
        return None
    if ":" in text:
        return [{m: float(abs(v)) for m, v in parse_mapping(text, "disorder").items()}]
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"bad disorder {text!r}: give strengths 0,0.5,1.0 or RANGE:STRENGTH pairs 0:1.0,1:0.5") from None


def _cmd_generate(args) -> int:
    from .data import generate

    windings = args.windings
    if windings not in ("balanced", "none"):
        windings = _int_list(windings, "windings")
    path = generate(
        args.path, args.n_samples, args.n_cells, ranges=_int_list(args.ranges, "ranges"),
        windings=None if windings == "none" else windings, disorder=_disorder_levels(args.disorder),
        amplitude=args.amplitude, complex_hoppings=args.complex, min_gap=args.min_gap, boundary=args.boundary,
        features=[f for f in args.features.split(",") if f], shard_size=args.shard_size, seed=args.seed,
        dtype=args.dtype, executor=args.executor, progress=not args.quiet, overwrite=args.overwrite,
    )
    print(f"wrote {args.n_samples} samples to {path}")
    return 0


def _model_kwargs(args):
    kw = {}
    if args.model == "toponet":
        kw = {"init": args.init, "kernel": args.kernel, "state_weights": args.state_weights, "window": args.window}
    return kw


def _load_data(path, features, lazy: bool):
    from .data import TopoDataset

    ds = TopoDataset(path, features=features)
    return ds if lazy else ds.to_memory()


def _cmd_train(args) -> int:
    from .nn import build_model, save_model
    from .study import evaluate, train

    data = _load_data(args.data, args.features, lazy=False)
    if args.val:
        tr, va = data, _load_data(args.val, args.features, lazy=False)
    else:
        tr, va = data.split(1 - args.val_fraction, seed=args.seed)
    model = build_model(args.model, data.n_cells, seed=args.seed, **_model_kwargs(args))
    hist = train(model, tr, va, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                 patience=args.patience, checkpoint=args.checkpoint, progress=not args.quiet)
    m = evaluate(model, va)
    print(f"{args.model}: {hist.completed_epochs} epochs, validation accuracy {m['accuracy']:.4f}, "
          f"mse {m['mse']:.4g}, mae {m['mae']:.4g}")
    if args.out:
        save_model(args.out, model)
        print(f"saved model to {args.out}")
    return 0


def _cmd_evaluate(args) -> int:
    from .nn import build_model, load_model
    from .study import evaluate

    data = _load_data(args.data, args.features, lazy=args.lazy)
    if args.model_file:
        model = load_model(args.model_file)
    else:
        model = build_model(args.model, data.n_cells, seed=args.seed, **_model_kwargs(args))
    m = evaluate(model, data)
    print(" ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in m.items()))
    return 0


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="toponet", choices=["toponet", "mlp", "shallow", "cnn", "symmetric"])
    p.add_argument("--init", default="random", choices=["exact", "random"], help="TopoNet initialization")
    p.add_argument("--kernel", default="full", choices=["full", "translation_invariant"], help="TopoNet position kernel")
    p.add_argument("--state-weights", default="per_state", choices=["per_state", "rank"], help="TopoNet state weights")
    p.add_argument("--window", default="learned", choices=["learned", "profile", "fixed"], help="TopoNet bulk window")
    p.add_argument("--seed", type=int, default=0, help="model and training seed (default 0)")
    p.add_argument("--features", default="wavefunctions", choices=["wavefunctions", "densities", "hamiltonian"])


def _cmd_reproduce(args) -> int:
    from .study import reproduce

    preset = "quick" if args.quick else args.preset
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    res = reproduce(preset, out=args.out, executor=args.executor, seeds=args.seeds, models=models,
                    resume=not args.no_resume, progress=not args.quiet, max_workers=args.workers)
    print(f"wrote {args.out}/results.json and {args.out}/results.md ({res['timings']['total_s']:.0f} s)")
    for name, e in res["models"].items():
        print(f"  {name:14s} test {e['test_accuracy']:.3f}  trainability {e['trainability']:.2f}")
    for f in res["findings"]:
        print(f"  [{ {True: 'holds', False: 'does not hold', None: 'not measured'}[f['holds']] }] {f['id']}")
    return 1 if res.get("failures") else 0


def _benchmarks_dir():
    from pathlib import Path

    d = Path(__file__).resolve().parent.parent / "benchmarks"
    if not d.is_dir():
        raise FileNotFoundError(
            f"no benchmarks/ directory next to the tntopo package ({d}); the benchmark scripts ship with the "
            "source tree: run from a git checkout (pip install -e .)"
        )
    return d


def _cmd_bench(args) -> int:
    import subprocess

    d = _benchmarks_dir()
    scripts = sorted(p for p in d.glob("*.py") if not p.name.startswith("_"))
    if args.list:
        for p in scripts:
            print(p.stem)
        return 0
    if args.name:
        want = {args.name, f"bench_{args.name}", args.name.removesuffix(".py")}
        scripts = [p for p in scripts if p.stem in want]
        if not scripts:
            raise ValueError(f"no benchmark {args.name!r} in {d}; `tntopo bench --list` shows them")
    failed = []
    for p in scripts:
        cmd = [sys.executable, str(p)] + (["--quick"] if args.quick else [])
        print(f"$ {' '.join(cmd[1:])}", flush=True)
        if subprocess.call(cmd, cwd=str(d.parent)) != 0:
            failed.append(p.stem)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    from ._version import __version__

    p = argparse.ArgumentParser(
        prog="tntopo",
        description="Real-space winding numbers of 1D chiral chains, as tensor networks, and a study of learning them.",
    )
    p.add_argument("--version", action="version", version=f"tntopo {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    w = sub.add_parser("winding", help="winding number of one chain",
                       description="Print the winding number of an SSH-family chain.")
    w.add_argument("--hoppings", required=True, help="RANGE:AMPLITUDE pairs, e.g. 0:0.5,1:1.0 (t_m of <A_n|H|B_{n-m}>)")
    w.add_argument("--n-cells", type=int, required=True, help="number of unit cells N")
    w.add_argument("--method", default="auto", choices=["auto", "dense", "local", "bloch", "twisted"])
    w.add_argument("--boundary", default="open", choices=["open", "periodic"])
    w.add_argument("--disorder", default=None, help="RANGE:STRENGTH pairs, e.g. 0:1.0,1:0.5")
    w.add_argument("--seed", type=int, default=0, help="disorder seed (default 0)")
    w.set_defaults(func=_cmd_winding)

    pdp = sub.add_parser(
        "phase-diagram", help="disorder-averaged winding number over two parameters",
        description="Average the winding number over disorder realizations on a grid of two parameters "
                    "(default: intracell hopping t0 against disorder strength W with disorder {0: W, 1: W/2}) "
                    "and plot it with the exact boundary of the disordered SSH chain. Resumable with --store.")
    pdp.add_argument("--x", default="0:2:21", help="x grid: START:STOP:NUM or values (default 0:2:21)")
    pdp.add_argument("--y", default="0:5:21", help="y grid: START:STOP:NUM or values (default 0:5:21)")
    pdp.add_argument("--x-param", default="t0", help="x parameter: t<m>, W<m> or W (default t0)")
    pdp.add_argument("--y-param", default="W", help="y parameter: t<m>, W<m> or W (default W)")
    pdp.add_argument("--hoppings", default="0:1.0,1:1.0", help="base hoppings RANGE:AMPLITUDE (default 0:1.0,1:1.0)")
    pdp.add_argument("--disorder", default="0:1.0,1:0.5", help="disorder ratios scaled by W (default 0:1.0,1:0.5)")
    pdp.add_argument("--n-cells", type=int, default=200)
    pdp.add_argument("--n-realizations", type=int, default=20)
    pdp.add_argument("--boundary", default="periodic", choices=["periodic", "open"])
    pdp.add_argument("--method", default="twisted", choices=["auto", "dense", "local", "twisted"])
    pdp.add_argument("--seed", type=int, default=0)
    pdp.add_argument("--executor", default=None, help="serial, thread, process (default) or a dask scheduler tcp://host:port")
    pdp.add_argument("--workers", type=int, default=None, help="workers of the local pool")
    pdp.add_argument("--store", default=None, help="directory of per-task results (resumes an interrupted run)")
    pdp.add_argument("--out", default=None, help="write the figure here (PNG, PDF...)")
    pdp.add_argument("--data", default=None, help="write the diagram as JSON here")
    pdp.add_argument("--quick", action="store_true", help="small chains and few realizations (a smoke test)")
    pdp.add_argument("--quiet", action="store_true", help="no progress bar")
    pdp.set_defaults(func=_cmd_phase_diagram)

    g = sub.add_parser("generate", help="generate a dataset (HDF5 shards)",
                       description="Sample chains, compute features and winding labels, write HDF5 shards "
                                   "(resumable: complete shards are kept).")
    g.add_argument("path", help="dataset directory")
    g.add_argument("--n-samples", type=int, required=True)
    g.add_argument("--n-cells", type=int, default=20)
    g.add_argument("--ranges", default="0,1", help="hopping ranges with random amplitudes (default 0,1)")
    g.add_argument("--windings", default="balanced", help="'balanced' (default), 'none', or sectors e.g. -1,0,1")
    g.add_argument("--disorder", default=None, help="strengths W (levels {0: W, 1: W/2}), e.g. 0,0.5,1; or 0:1.0,1:0.5")
    g.add_argument("--amplitude", type=float, default=1.0)
    g.add_argument("--complex", action="store_true", help="complex hopping amplitudes")
    g.add_argument("--min-gap", type=float, default=0.05, help="minimum clean Bloch gap (default 0.05)")
    g.add_argument("--boundary", default="open", choices=["open", "periodic"])
    g.add_argument("--features", default="wavefunctions", help="comma-separated: wavefunctions,densities,hamiltonian")
    g.add_argument("--shard-size", type=int, default=1000)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    g.add_argument("--executor", default=None, help="serial, thread, process (default) or a dask scheduler tcp://host:port")
    g.add_argument("--overwrite", action="store_true", help="replace a dataset generated with other parameters")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.set_defaults(func=_cmd_generate)

    t = sub.add_parser("train", help="train a model on a dataset",
                       description="Train a model to predict the winding number; prints validation metrics.")
    t.add_argument("data", help="dataset directory (from `tntopo generate`)")
    t.add_argument("--val", default=None, help="validation dataset directory (default: split off --val-fraction)")
    t.add_argument("--val-fraction", type=float, default=0.2)
    _add_model_args(t)
    t.add_argument("--epochs", type=int, default=50)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--patience", type=int, default=None, help="early-stopping patience (epochs)")
    t.add_argument("--checkpoint", default=None, help="checkpoint file (resumes if it exists)")
    t.add_argument("--out", default=None, help="save the trained model here")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("evaluate", help="evaluate a model on a dataset",
                       description="Accuracy and regression errors of a saved model (or of an exact TopoNet).")
    e.add_argument("data", help="dataset directory")
    e.add_argument("--model-file", default=None, help="a model saved by `tntopo train --out`")
    _add_model_args(e)
    e.add_argument("--lazy", action="store_true", help="read samples from disk instead of loading the dataset")
    e.set_defaults(func=_cmd_evaluate)

    r = sub.add_parser("reproduce", help="run the whole learning study (results.json, results.md, figures)",
                       description="Train and evaluate TopoNet and conventional networks on accuracy, "
                                   "trainability and generalization; write DIR/results.json, DIR/results.md and "
                                   "DIR/figures/*.png. Finished training runs are cached in DIR/runs (resumable).")
    r.add_argument("--quick", action="store_true", help="CI-size study (minutes on 2 cores); same as --preset quick")
    r.add_argument("--preset", default="full", choices=["full", "quick", "tiny"], help="study size (default full)")
    r.add_argument("--out", required=True, help="output directory DIR")
    r.add_argument("--executor", default=None,
                   help="where training runs go: process (default, a local process pool), serial, thread, or a dask "
                        "scheduler address tcp://host:port; results do not depend on it")
    r.add_argument("--workers", type=int, default=None, help="process-pool size (default: one per core)")
    r.add_argument("--seeds", type=int, default=None, help="training seeds per model (default: the preset's)")
    r.add_argument("--models", default=None, help="comma-separated subset of models, e.g. topo,topo_ti,mlp")
    r.add_argument("--no-resume", action="store_true", help="ignore finished runs cached in DIR/runs")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(func=_cmd_reproduce)

    b = sub.add_parser("bench", help="run the benchmark scripts (benchmarks/*.py)",
                       description="Run one benchmark script of benchmarks/ (by name, e.g. learning) or all of them.")
    b.add_argument("name", nargs="?", default=None, help="benchmark name (e.g. learning for bench_learning.py); all if omitted")
    b.add_argument("--quick", action="store_true", help="pass --quick (CI-size) to the scripts")
    b.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    b.set_defaults(func=_cmd_bench)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, KeyboardInterrupt) as exc:
        msg = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
        print(f"tntopo {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
