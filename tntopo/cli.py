"""The ``tntopo`` command line.

Each subcommand is a function ``_cmd_NAME(args)`` registered in :func:`build_parser`.
Conventions every subcommand follows (new ones too):

* **Errors.** A user error -- a bad argument, a bad path, input the library refuses -- prints ONE
  line to stderr, ``tntopo COMMAND: error: MESSAGE``, naming the problem and the flag that fixes
  it, and exits with status 2; never a traceback. :func:`main` catches ``ValueError`` (and its
  subclasses) and the OS errors of paths (``FileNotFoundError``, ``FileExistsError``,
  ``IsADirectoryError``, ``NotADirectoryError``, ``PermissionError``). Library messages that
  name Python parameters (``overwrite=True``, ``method='twisted'``,
  ``chain.with_boundary('periodic')``) are translated to the subcommand's flags
  (``--overwrite``, ``--method twisted``, ``--boundary periodic``) by :func:`_cli_terms`.
* **Checks first.** All argument checks and output-path checks (:func:`_check_output_file`,
  :func:`_check_output_dir`: the parent exists, is a directory and is writable; the target is
  not a directory / not a file) run before any work starts, so no result is thrown away.
* **Ctrl-C and SIGTERM** take one path (:func:`tntopo.parallel.interruptible`): the work stops
  (no new tasks, queued ones cancelled, the local workers stopped), and the command exits with
  status 130 (Ctrl-C) or 143 (SIGTERM) and one line ``interrupted``; outputs are written
  atomically (a temporary file renamed into place), so nothing half-written is left.
* **Warnings** (e.g. :class:`tntopo.GaplessWarning`) print one line,
  ``tntopo COMMAND: warning: MESSAGE``, without a source path.
* **Help.** Every option has a help text; defaults are shown by :class:`_HelpFormatter`
  (``(default: ...)``). Closed option sets take their ``choices`` from the ``Literal`` aliases
  of :mod:`tntopo._typing` (``typing.get_args``), never from a copied list.
* **Values that start with "-"** (``--hoppings -1:1.0,0:0.5``, ``--x -1:1:5``) work without
  ``=``: :func:`_join_dash_values` joins them to their option before argparse sees them.
* **Output.** Results go to stdout (``--json`` where scripts read them), progress bars
  (``--quiet`` turns them off) and messages to stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence, get_args

__all__ = ["main", "build_parser", "parse_mapping"]


def parse_mapping(text: str, what: str = "hoppings") -> Dict[int, complex]:
    """Parse ``"0:0.5,1:1.0"`` (values may be complex, e.g. ``1:0.5+0.2j``) into ``{m: t}``.

    A range given twice (``"0:0.5,0:1.0"``) is an error, not last-wins.
    """
    out: Dict[int, complex] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        if ":" not in item:
            raise ValueError(f"bad {what} entry {item!r}: write RANGE:AMPLITUDE, e.g. 0:0.5,1:1.0")
        m, v = item.split(":", 1)
        try:
            z = complex(v.replace(" ", ""))
            key = int(m)
        except ValueError:
            raise ValueError(f"bad {what} entry {item!r}: write RANGE:AMPLITUDE, e.g. 0:0.5,1:1.0") from None
        if key in out:
            raise ValueError(f"range {key} is given twice in {what} {text!r}; give each range once")
        out[key] = z.real if z.imag == 0 else z
    if not out:
        raise ValueError(f"empty {what}; write RANGE:AMPLITUDE pairs, e.g. 0:0.5,1:1.0")
    return out


# ----------------------------------------------------------------------------- CLI conventions
class _LazyChoices(Sequence):
    """``choices`` of an option that need a heavy import (the model registry imports torch): loaded
    on first use -- when the option is given, or its help is shown -- so that parsing anything else
    (``--version``, ``--help``, other subcommands, argument errors) stays fast."""

    def __init__(self, load):
        self._load, self._values = load, None

    def _get(self):
        if self._values is None:
            self._values = tuple(self._load())
        return self._values

    def __contains__(self, value):
        return value in self._get()

    def __iter__(self):
        return iter(self._get())

    def __len__(self):
        return len(self._get())

    def __getitem__(self, i):
        return self._get()[i]


class _LazyHelp:
    """A help text computed when ``--help`` is shown (see :class:`_LazyChoices`)."""

    def __init__(self, make):
        self.make = make

    def __str__(self):
        return self.make()

    def strip(self, *chars):  # argparse asks ``action.help.strip()`` before formatting it
        return str(self).strip(*chars)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show ``(default: X)`` after every option's help, except for flags and ``None`` defaults."""

    def _get_help_string(self, action):
        h = str(action.help or "")
        if "%(default)" in h or "(default" in h or any(action.default is v for v in (None, False, argparse.SUPPRESS)):
            return h
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return h + " (default: %(default)s)"
        return h


def _int_at_least(minimum: int):
    """An argparse ``type`` accepting integers ``>= minimum`` (one-line errors)."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {v}")
        return v

    return parse


_positive_int = _int_at_least(1)
_nonnegative_int = _int_at_least(0)


def _value_options(parser: argparse.ArgumentParser) -> Dict[str, set]:
    """``{subcommand: {option strings that take a value}}`` (``""``: the top-level parser)."""
    out = {"": set()}
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sp in a.choices.items():
                out[name] = {o for b in sp._actions if b.option_strings and b.nargs != 0 for o in b.option_strings}
    return out


_DASH_VALUE = re.compile(r"^-\.?\d")


def _join_dash_values(argv: List[str], parser: argparse.ArgumentParser) -> List[str]:
    """Join ``--opt -1:1.0,...`` to ``--opt=-1:1.0,...`` for options that take a value.

    argparse reads a token starting with ``-`` as an option unless it is a plain negative number,
    so negative hopping ranges and grids would otherwise need ``=``.
    """
    opts = _value_options(parser)
    command = next((t for t in argv if t in opts and t), None)
    takes_value = opts.get(command, set()) if command else set()
    out, i = [], 0
    while i < len(argv):
        tok = argv[i]
        if tok in takes_value and i + 1 < len(argv) and _DASH_VALUE.match(argv[i + 1]):
            out.append(f"{tok}={argv[i + 1]}")
            i += 2
            continue
        out.append(tok)
        i += 1
    return out


def _flag_names(parser: Optional[argparse.ArgumentParser]) -> Dict[str, argparse.Action]:
    """``{dest: action}`` of the options of a subcommand's parser."""
    if parser is None:
        return {}
    return {a.dest: a for a in parser._actions if a.option_strings and a.dest != "help"}


# library phrases -> flags, per subcommand (applied before the generic ``name=value`` translation)
_PHRASES = {
    "reproduce": [("resume=False", "--no-resume")],
    "train": [("resume=False", "delete the checkpoint file")],
    "chern": [("fermi_level", "--fermi-level"),
              ("raise buffer= or use the dense route", "use --method marker (the dense route)")],
}
_ASSIGN = re.compile(r"\b([a-z_][a-z0-9_]*)=('[^']*'|\"[^\"]*\"|True|False|None|-?[0-9][0-9.e+-]*)")
_WITH_BOUNDARY = re.compile(r"\b\w+\.with_boundary\((['\"])(\w+)\1\)")


def _inside_call(text: str, pos: int) -> bool:
    """Whether ``pos`` lies inside the parentheses of a call or repr such as ``SSHChain(...)``."""
    depth = 0
    for i in range(pos - 1, -1, -1):
        c = text[i]
        if c == ")":
            depth += 1
        elif c == "(":
            if depth == 0:
                return i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")
            depth -= 1
    return False


def _cli_terms(message: str, parser: Optional[argparse.ArgumentParser], command: str = "") -> str:
    """Rewrite library parameter names in ``message`` as the flags of the subcommand.

    ``overwrite=True`` -> ``--overwrite``, ``method='twisted'`` -> ``--method twisted``,
    ``chain.with_boundary('periodic')`` -> ``--boundary periodic``; names the subcommand has no
    flag for, and ``name=value`` inside a repr such as ``SSHChain(..., n_cells=40)``, are kept.
    """
    flags = _flag_names(parser)
    for old, new in _PHRASES.get(command, ()):
        message = message.replace(old, new)
    if "boundary" in flags:
        message = _WITH_BOUNDARY.sub(lambda m: f"{flags['boundary'].option_strings[-1]} {m.group(2)}", message)

    def sub(m):
        name, value = m.group(1), m.group(2)
        action = flags.get(name)
        if action is None or _inside_call(message, m.start()):
            return m.group(0)
        flag = action.option_strings[-1]
        if action.nargs == 0:  # a switch: store_true / store_false
            on = isinstance(action, argparse._StoreTrueAction)
            return flag if (value == "True") == on else f"no {flag}"
        return f"{flag} {value.strip(chr(39) + chr(34))}"

    return _ASSIGN.sub(sub, message)


def _os_error_message(exc: OSError) -> str:
    """One line for an OS error of a path (no errno prefix, the path quoted once)."""
    path = exc.filename if exc.filename is not None else ""
    what = {
        FileExistsError: "already exists",
        IsADirectoryError: "is a directory, not a file",
        NotADirectoryError: "is not a directory (a part of the path is a file)",
        PermissionError: "is not writable (permission denied)",
        FileNotFoundError: "does not exist",
    }
    for cls, text in what.items():
        if isinstance(exc, cls) and path:
            return f"{str(path)!r} {text}"
    return exc.strerror or str(exc)


def _check_output_file(path: Optional[str], flag: str, *, figure: bool = False) -> None:
    """Fail now (not after the work) if ``path`` cannot be written by ``flag``.

    The parent directory must exist, be a directory and be writable; ``path`` must not be a
    directory; a figure's suffix must be a format matplotlib writes.
    """
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{flag} {path}: is a directory; give a file name, e.g. {flag} {p / ('out.png' if figure else 'out.json')}")
    parent = p.parent if str(p.parent) else Path(".")
    _check_writable_dir(parent, flag, path)
    if figure:
        ext = p.suffix.lower().lstrip(".")
        from matplotlib.figure import Figure

        formats = sorted(Figure().canvas.get_supported_filetypes())
        if ext not in formats:
            raise ValueError(f"{flag} {path}: unknown figure format {ext or '(no suffix)'!r}; end the name with "
                             f"one of {', '.join('.' + f for f in formats)}")


def _check_writable_dir(d: Path, flag: str, path: str) -> None:
    """The directory ``d`` that will hold ``path`` exists and a file can be created in it (probed)."""
    if not d.exists():
        a = d
        while not a.exists() and a.parent != a:
            a = a.parent
        if a.exists() and not a.is_dir():
            raise ValueError(f"{flag} {path}: {str(a)!r} is a file, not a directory; choose another {flag}")
        raise ValueError(f"{flag} {path}: directory {str(d)!r} does not exist; create it first (mkdir -p {d}) "
                         f"or choose another {flag}")
    if not d.is_dir():
        raise ValueError(f"{flag} {path}: {str(d)!r} is a file, not a directory; choose another {flag}")
    _write_probe(d, flag, path)


def _write_probe(d: Path, flag: str, path: str) -> None:
    """Create and remove a file in ``d``: the location is really writable (``os.access`` is not
    enough: root may write anywhere by permission bits, yet not in /proc or a read-only mount)."""
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(prefix=".tntopo-probe-", dir=d)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise ValueError(f"{flag} {path}: directory {str(d)!r} is not writable ({exc.strerror or exc}); "
                         f"choose another {flag}") from None


def _check_output_dir(path: Optional[str], flag: str) -> None:
    """Fail now if the directory ``path`` cannot be written: it is a writable directory, or it is
    missing and its parent is a writable directory (only ``path`` itself is created, as ``mkdir``
    does; a missing parent is a typo more often than not)."""
    if path is None:
        return
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise ValueError(f"{flag} {path}: is a file, not a directory; give a directory with {flag}")
        _write_probe(p, flag, path)
        return
    parent = p.parent if str(p.parent) else Path(".")
    _check_writable_dir(parent, flag, path)


def _check_executor(text: Optional[str]) -> None:
    from ._typing import ExecutorKind

    kinds = get_args(ExecutorKind)
    if text is None or text in kinds or "://" in text:
        return
    raise ValueError(f"unknown --executor {text!r}; choose one of {', '.join(kinds)} or a dask scheduler "
                     "address tcp://host:port")


def _cmd_winding(args) -> int:
    from .systems.chain import SSHChain
    from .errors import GaplessWarning
    from .invariants import resolve_route, winding_number

    chain = SSHChain(
        parse_mapping(args.hoppings, "--hoppings"),
        n_cells=args.n_cells,
        boundary=args.boundary,
        disorder=parse_mapping(args.disorder, "--disorder") if args.disorder else None,
        seed=args.seed,
    )
    resolved = resolve_route(chain, args.method)  # the library's own choice: the CLI never routes
    route = resolved.method
    kw = {}
    if route == "local":
        kw["progress"] = not args.quiet and not args.json
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GaplessWarning)
        W = winding_number(chain, method=args.method, **kw)
    gapless = [w for w in caught if issubclass(w.category, GaplessWarning)]
    for w in caught:  # anything else goes to the CLI's one-line warning printer
        if w not in gapless:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    exact = resolved.exact
    if args.json:
        print(json.dumps({"winding_number": float(W), "method": route, "requested_method": args.method,
                          "exact_integer": exact, "gapless": bool(gapless), "n_cells": args.n_cells,
                          "boundary": args.boundary,
                          "warnings": [str(w.message) for w in gapless]}))
    else:
        for w in gapless:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        kind = "exact integer" if exact else "real-space bulk average"
        print(f"W = {W:.10g}  (method: {route}, {kind})")
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


def _phase_params(hoppings: Dict[int, complex], disorder: Dict[int, float]) -> List[str]:
    """Parameters a phase diagram can sweep: ``t<m>`` and ``W<m>`` of the given ranges, and ``W``."""
    return [f"t{m}" for m in sorted(hoppings)] + [f"W{m}" for m in sorted(disorder)] + ["W"]


def _save_figure(fig, path: str) -> None:
    """Write ``fig`` atomically (a temporary file renamed onto ``path``)."""
    from ._io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip(".").lower(), dpi=150, bbox_inches="tight")


def _cmd_phase_diagram(args) -> int:
    from .invariants.winding.ensemble import phase_diagram

    if not (args.out or args.data or args.store):
        raise ValueError("nothing would be kept: pass --out FIGURE.png (the figure), --data FILE.json (the numbers) "
                         "or --store DIR (per-point results)")
    if args.quick:
        args.n_cells, args.n_realizations = min(args.n_cells, 60), min(args.n_realizations, 4)
    x, y = _float_grid(args.x, "--x"), _float_grid(args.y, "--y")
    hoppings = parse_mapping(args.hoppings, "--hoppings")
    disorder = {m: float(abs(v)) for m, v in parse_mapping(args.disorder, "--disorder").items()}
    valid = _phase_params(hoppings, disorder)
    for flag, name in (("--x-param", args.x_param), ("--y-param", args.y_param)):
        if name not in valid:
            raise ValueError(f"unknown {flag} {name!r}; choose one of {', '.join(valid)} (t<m>/W<m> sweep a range "
                             "of --hoppings/--disorder: add the range there to sweep another one)")
    if args.x_param == args.y_param:
        raise ValueError(f"--x-param and --y-param are both {args.x_param!r}; choose two different parameters")
    _check_executor(args.executor)
    _check_output_file(args.out, "--out", figure=True)
    _check_output_file(args.data, "--data")
    _check_output_dir(args.store, "--store")
    pd = phase_diagram(
        x, y, x_param=args.x_param, y_param=args.y_param, hoppings=hoppings, disorder=disorder,
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

        _save_figure(plot_phase_diagram(pd), args.out)
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
        windings = _int_list(windings, "--windings")
    ranges = _int_list(args.ranges, "--ranges")
    disorder = _disorder_levels(args.disorder)
    features = [f for f in args.features.split(",") if f.strip()]
    _check_executor(args.executor)
    _check_output_dir(args.path, "PATH")
    path = generate(
        args.path, args.n_samples, args.n_cells, ranges=ranges,
        windings=None if windings == "none" else windings, disorder=disorder,
        amplitude=args.amplitude, complex_hoppings=args.complex, min_gap=args.min_gap, boundary=args.boundary,
        features=features, shard_size=args.shard_size, seed=args.seed,
        dtype=args.dtype, executor=args.executor, progress=not args.quiet, overwrite=args.overwrite,
    )
    print(f"wrote {args.n_samples} samples to {path}")
    return 0


_TOPONET_FLAGS = {"kernel": "--kernel", "state_weights": "--state-weights", "window": "--window"}


def _model_kwargs(args):
    """Constructor options given on the command line, checked against the chosen --model."""
    from .nn import MODELS

    kw = {k: getattr(args, k) for k in _TOPONET_FLAGS if getattr(args, k, None) is not None}
    takes = MODELS[args.model].keywords()
    bad = [_TOPONET_FLAGS[k] for k in kw if "**" not in takes and k not in takes]
    if bad:
        raise ValueError(f"{', '.join(bad)}: an option of the TopoNet models (--model toponet, toponet_odd...), "
                         f"not of --model {args.model}; drop {', '.join(bad)}")
    return kw


def _load_data(path, features, lazy: bool, target: str = "label"):
    from .data import TopoDataset

    ds = TopoDataset(path, features=features, target=target)
    return ds if lazy else ds.to_memory()


def _classes_arg(args, data):
    if args.loss != "cross_entropy":
        if args.classes:
            raise ValueError("--classes needs --loss cross_entropy (a classifier); drop --classes or add --loss cross_entropy")
        return None
    if args.classes:
        return _int_list(args.classes, "--classes")
    import numpy as np

    return sorted(int(v) for v in np.unique(np.asarray(data.y)))


def _cmd_train(args) -> int:
    from .nn import TrainingDivergedError, build_model, evaluate, save_model, train

    for path, flag in ((args.out, "--out"), (args.checkpoint, "--checkpoint")):
        if path is not None:
            _check_output_file(path, flag)
    device = _device_arg(args.device)
    if not 0 < args.val_fraction < 1:
        raise ValueError(f"--val-fraction must lie strictly between 0 and 1, got {args.val_fraction}")
    kw = _model_kwargs(args)
    data = _load_data(args.data, args.features, lazy=False)
    if args.val:
        tr, va = data, _load_data(args.val, args.features, lazy=False)
        if va.n_cells != tr.n_cells:
            raise ValueError(f"--val {args.val} has chains of {va.n_cells} cells, the training data {tr.n_cells}; "
                             "give a validation dataset generated with the same --n-cells")
    else:
        tr, va = data.split(1 - args.val_fraction, seed=args.seed)
    model = build_model(args.model, data.n_cells, seed=args.seed, classes=_classes_arg(args, data), **kw)
    try:
        hist = train(model, tr, va, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                     loss=args.loss, patience=args.patience, checkpoint=args.checkpoint, progress=not args.quiet,
                     device=device)
    except TrainingDivergedError as exc:
        raise ValueError(f"training diverged ({str(exc).split(';')[0]}); lower --lr (now {args.lr:g}), "
                         "e.g. --lr 1e-3") from None
    m = evaluate(model, va, device=device)
    print(f"{args.model}: {hist.completed_epochs} epochs, validation accuracy {m['accuracy']:.4f}, "
          f"mse {m['mse']:.4g}, mae {m['mae']:.4g}")
    if args.out:
        save_model(args.out, model)
        print(f"saved model to {args.out}")
    return 0


def _evaluate_model(args):
    """The model ``evaluate`` scores and the features it reads (all checks before the data are read)."""
    from .nn import MODELS, build_model, load_model, read_model_meta

    if args.model_file:
        if args.model is not None:
            raise ValueError(f"give either --model-file or --model, not both (--model-file {args.model_file} already "
                             "names its model)")
        meta = read_model_meta(args.model_file)
        trained = meta.get("trained_on") or {}
        feats = trained.get("features")
        if args.features is not None and feats is not None and args.features != feats:
            raise ValueError(f"the model in {args.model_file} was trained on --features {feats}; scoring it on "
                             f"--features {args.features} is meaningless: pass --features {feats} or drop --features")
        model = load_model(args.model_file)
        if meta["kind"] == "checkpoint":
            print(f"tntopo evaluate: note: {args.model_file} is a training checkpoint; scoring its best weights so far "
                  f"(epoch {meta.get('epoch')})", file=sys.stderr)
        return model, args.features or feats or "wavefunctions", trained.get("n_cells")
    if args.model is None:
        raise ValueError("give --model-file M (a model saved by `tntopo train --out M`) or --model toponet_exact "
                         "(the exact TopoNet, no training)")
    entry = MODELS[args.model]
    if not entry.exact and not args.untrained:
        raise ValueError(f"--model {args.model} is an untrained, randomly initialized model; pass --model-file M "
                         "(from `tntopo train --out M`), --model toponet_exact for the exact invariant, or "
                         "--untrained to score it untrained on purpose")
    return None, args.features or "wavefunctions", None


def _device_arg(text: Optional[str]):
    """``--device`` checked before any work (None: the model's own device, the CPU)."""
    if text is None:
        return None
    from .nn import check_device

    try:
        return check_device(text)
    except ValueError as exc:
        why = str(exc).removeprefix(f"device={text!r}").lstrip(": ")
        raise ValueError(f"--device {text}: {why}".replace("device='cpu'", "--device cpu")) from None


def _cmd_evaluate(args) -> int:
    from .nn import accepts_size, build_model, evaluate

    device = _device_arg(args.device)
    model, features, trained_cells = _evaluate_model(args)
    kw = _model_kwargs(args) if model is None else {}
    data = _load_data(args.data, features, lazy=args.lazy, target=args.target)
    if model is None:
        model = build_model(args.model, data.n_cells, seed=args.seed, **kw)
    elif trained_cells is not None and trained_cells != data.n_cells:
        why = accepts_size(model, data.n_cells)
        if why is not None:
            raise ValueError(f"the model in {args.model_file} was trained on chains of {trained_cells} cells; "
                             f"{args.data} has {data.n_cells}-cell chains ({why}): evaluate it on data made with "
                             f"`tntopo generate --n-cells {trained_cells}`")
    if device is not None:
        model.to(device)
    m = evaluate(model, data, device=device)
    print(" ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in m.items()))
    return 0


def _positive_float(text: str) -> float:
    import math

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return v


def _nonnegative_float(text: str) -> float:
    import math

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(v) and v >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return v


def _model_names():
    from .nn import model_names

    return model_names(dim=1)


def _model_listing() -> str:
    from .nn import MODELS, model_names

    return "; ".join(f"{n}: {MODELS[n].description}" for n in model_names(dim=1))


def _feature_names():
    from .data import FEATURES

    return FEATURES


def _add_model_args(p: argparse.ArgumentParser, *, evaluate: bool = False) -> None:
    # the model registry and the feature names import torch: choices and help load on first use
    from ._typing import Kernel, StateWeights, Window

    models = _LazyChoices(_model_names)
    if evaluate:
        p.add_argument("--model", default=None, choices=models, metavar="MODEL",
                       help=_LazyHelp(lambda: "score this registered model without a --model-file: toponet_exact (the "
                                              f"exact invariant), or any other with --untrained. Models: {_model_listing()}"))
    else:
        p.add_argument("--model", default="toponet", choices=models, metavar="MODEL",
                       help=_LazyHelp(lambda: f"model to train, one of: {_model_listing()}"))
    p.add_argument("--kernel", default=None, choices=get_args(Kernel),
                   help="TopoNet position kernel (default: the model's, full)")
    p.add_argument("--state-weights", default=None, choices=get_args(StateWeights),
                   help="TopoNet state weights (default: the model's, per_state)")
    p.add_argument("--window", default=None, choices=get_args(Window), help="TopoNet bulk window (default: the model's, learned)")
    p.add_argument("--seed", type=_nonnegative_int, default=0, help="model initialization and training seed")
    features = _LazyChoices(_feature_names)
    if evaluate:
        p.add_argument("--features", default=None, choices=features, metavar="FEATURES",
                       help=_LazyHelp(lambda: f"input features, one of {', '.join(_feature_names())} (default: those "
                                              "the model was trained on, else wavefunctions)"))
    else:
        p.add_argument("--features", default="wavefunctions", choices=features, metavar="FEATURES",
                       help=_LazyHelp(lambda: f"input features read from (or computed for) the dataset, one of "
                                              f"{', '.join(_feature_names())}; recorded in the saved model"))
    p.add_argument("--device", default=None, metavar="DEVICE",
                   help="torch device to run on: cpu, cuda, cuda:1, mps (default: cpu)")


def _losses():
    from .nn.training import LOSSES

    return LOSSES


def _chern_methods():
    from .invariants.chern.api import ChernMethod

    return get_args(ChernMethod)


def _lattice_models():
    from .systems.lattice2d import Model

    return get_args(Model)


def _cmd_reproduce(args) -> int:
    from .study import reproduce

    preset = "quick" if args.quick else args.preset
    if args.quick and args.preset not in ("full", "quick"):
        raise ValueError(f"--quick and --preset {args.preset} ask for two study sizes; pass one of them")
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    if args.models is not None and not models:
        raise ValueError("--models is empty; give comma-separated model names, e.g. --models topo,mlp")
    from .study.config import get_config

    cfg = get_config(preset, study=args.study)  # checks --models and --seeds before any work
    try:
        cfg.replace(**{k: v for k, v in (("models", models), ("seeds", args.seeds)) if v is not None})
    except ValueError as exc:
        raise ValueError(f"--models {args.models}: {exc}" if models else str(exc)) from None
    _check_executor(args.executor)
    _check_output_dir(args.out, "--out")
    device = None if args.device is None else str(_device_arg(args.device))  # the study's training runs
    if args.compare_with is not None and args.study != "chern":
        raise ValueError("--compare-with sets a Chern run beside the winding study's results.json: it needs "
                         "--study chern")
    res = reproduce(preset, out=args.out, executor=args.executor, study=args.study, seeds=args.seeds, models=models,
                    resume=not args.no_resume, progress=not args.quiet, max_workers=args.workers, device=device,
                    compare_with=args.compare_with)
    print(f"wrote {args.out}/results.json and {args.out}/results.md ({res['timings']['total_s']:.0f} s)")
    for name, e in res["models"].items():
        li = "n/a" if e["learns_invariant"] is None else f"{e['learns_invariant']:.2f}"
        print(f"  {name:18s} test {e['test_accuracy']:.3f}  learns invariant {li}")
    for f in res["findings"]:
        print(f"  [{f['holds'] or 'not measured'}] {f['id']}")
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


def _parse_shape(text: str):
    try:
        parts = [int(v) for v in text.replace("x", ",").split(",")]
    except ValueError:
        parts = []
    if len(parts) != 2 or min(parts) < 1:
        raise ValueError(f"bad --shape {text!r}: write LX,LY with positive integers, e.g. 40,40")
    return tuple(parts)


def _cmd_chern(args) -> int:
    from .errors import GaplessWarning, PrecisionError
    from .invariants import chern_number, resolve_route
    from .systems.lattice2d import Lattice2D

    shape = _parse_shape(args.shape)
    common = dict(boundary=args.boundary, disorder=args.disorder, seed=args.seed)
    if args.model == "qwz":
        if any(v is not None for v in (args.t1, args.t2, args.phi, args.M)):
            raise ValueError("--t1/--t2/--phi/--M are Haldane parameters; use --model haldane or --m for qwz")
        lat = Lattice2D.qwz(1.0 if args.m is None else args.m, shape, **common)
    else:
        if args.m is not None:
            raise ValueError("--m is the QWZ mass; for --model haldane give --t1 --t2 --phi --M")
        lat = Lattice2D.haldane(1.0 if args.t1 is None else args.t1, 0.2 if args.t2 is None else args.t2,
                                1.5707963267948966 if args.phi is None else args.phi,
                                0.0 if args.M is None else args.M, shape, **common)
    resolved = resolve_route(lat, args.method)  # the library's own choice: the CLI never routes
    route = resolved.method
    if route in ("marker", "bott"):  # dense n x n matrices of the lattice's Hilbert space
        from ._memory import check_dense_memory

        check_dense_memory(lat.dim, 16, f"--method {route} on a {shape[0]}x{shape[1]} lattice ({lat.dim} states)",
                           "use --method local (windows of the lattice: O(N) memory)" if route == "marker" else
                           "use --method fhs for a clean lattice or --method local (--boundary open) for a "
                           "disordered one")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GaplessWarning)
        try:
            C = chern_number(lat, route, args.fermi_level)
        except PrecisionError as exc:
            print(f"tntopo chern: error: {_one_line(str(exc))}", file=sys.stderr)
            return 1
    gapless = [w for w in caught if issubclass(w.category, GaplessWarning)]
    for w in caught:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    exact = resolved.exact
    if args.json:
        print(json.dumps({"chern_number": int(C) if exact else float(C), "method": route,
                          "requested_method": args.method, "exact_integer": exact, "gapless": bool(gapless),
                          "model": lat.model[0], "parameters": lat.model[1], "shape": list(shape),
                          "boundary": list(lat.boundary), "disorder": lat.disorder, "seed": args.seed,
                          "fermi_level": args.fermi_level}))
    else:
        kind = "exact integer" if exact else "bulk average of the local marker"
        print(f"C = {C:.10g}  (method: {route}, {kind})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``tntopo`` parser: one ``_add_<command>`` function per subcommand, shared flags as parents."""
    from ._version import __version__

    p = argparse.ArgumentParser(
        prog="tntopo",
        description="Real-space topological invariants (winding numbers of 1D chiral chains, Chern numbers of 2D "
                    "lattices) as tensor networks, and a study of learning them.",
        formatter_class=_HelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"tntopo {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    shared = _SharedFlags()
    for add in (_add_winding, _add_phase_diagram, _add_generate, _add_train, _add_evaluate, _add_reproduce,
                _add_bench, _add_chern):
        add(sub, shared)
    return p


def _flags() -> argparse.ArgumentParser:
    """An empty parser to collect flags in, for ``parents=`` (no ``-h`` of its own)."""
    return argparse.ArgumentParser(add_help=False)


class _SharedFlags:
    """Flags that several subcommands take word for word, each defined once (argparse ``parents=``)."""

    def __init__(self) -> None:
        self.quiet = _flags()  # phase-diagram, generate, train
        self.quiet.add_argument("--quiet", action="store_true", help="no progress bar")
        self.executor = _flags()  # phase-diagram, generate
        self.executor.add_argument(
            "--executor", metavar="EXECUTOR", default=None,
            help="serial, thread, process (default: a local process pool) or a dask scheduler tcp://host:port")
        self.disorder_seed = _flags()  # winding, chern
        self.disorder_seed.add_argument("--seed", metavar="SEED", type=_nonnegative_int, default=0,
                                        help="disorder seed")


def _add_winding(sub, shared: _SharedFlags) -> None:
    from ._typing import Boundary, Method

    own = _flags()
    own.add_argument("--hoppings", metavar="MAP", required=True,
                     help="RANGE:AMPLITUDE pairs t_m of <A_n|H|B_{n-m}>, e.g. 0:0.5,1:1.0 (SSH v=0.5, w=1); "
                          "negative ranges work as -1:1.0,0:0.5; complex values as 1:0.5+0.2j")
    own.add_argument("--n-cells", metavar="N", type=_positive_int, required=True, help="number of unit cells N")
    own.add_argument("--method", default="auto", choices=get_args(Method),
                     help="auto: bloch for clean chains, twisted for disordered rings, dense (local beyond 1500 "
                          "cells) for open chains; bloch/twisted give exact integers, dense/local the real-space "
                          "bulk average")
    own.add_argument("--boundary", default="open", choices=get_args(Boundary), help="boundary condition of the chain")
    own.add_argument("--disorder", metavar="MAP", default=None,
                     help="bond disorder RANGE:STRENGTH pairs: t_m + W_m*u, u ~ U[-1/2, 1/2], e.g. 0:1.0,1:0.5 "
                          "(default: clean)")
    w = sub.add_parser("winding", help="winding number of one chain", formatter_class=_HelpFormatter,
                       parents=[own, shared.disorder_seed],
                       description="Print the winding number of an SSH-family chain and the method that computed "
                                   "it (e.g. 'W = 1  (method: bloch, exact integer)'); --json prints a JSON object.")
    w.add_argument("--json", action="store_true",
                   help="print a JSON object (winding_number, method, exact_integer, gapless, ...) for scripts")
    w.add_argument("--quiet", action="store_true", help="no progress bar (shown by --method local on long chains)")
    w.set_defaults(func=_cmd_winding)


def _add_phase_diagram(sub, shared: _SharedFlags) -> None:
    from ._typing import Boundary, Method

    grid = _flags()
    grid.add_argument("--x", metavar="GRID", default="0:2:21", help="x grid: START:STOP:NUM (inclusive) or values 0.5,1,1.5")
    grid.add_argument("--y", metavar="GRID", default="0:5:21", help="y grid: START:STOP:NUM (inclusive) or values 0.5,1,1.5")
    grid.add_argument("--x-param", metavar="NAME", default="t0",
                      help="x parameter: t<m> (hopping of a range m of --hoppings), W<m> (disorder of a range of "
                           "--disorder) or W (scales the --disorder ratios)")
    grid.add_argument("--y-param", metavar="NAME", default="W", help="y parameter: t<m>, W<m> or W, as --x-param")
    grid.add_argument("--hoppings", metavar="MAP", default="0:1.0,1:1.0", help="base hoppings RANGE:AMPLITUDE (the grid overrides its t<m>)")
    grid.add_argument("--disorder", metavar="MAP", default="0:1.0,1:0.5",
                      help="disorder ratios RANGE:STRENGTH, scaled by W (Mondragon-Shem et al. 2014: 0:1.0,1:0.5)")
    grid.add_argument("--n-cells", metavar="N", type=_positive_int, default=200, help="cells per chain")
    grid.add_argument("--n-realizations", metavar="R", type=_positive_int, default=20, help="disorder realizations per grid point")
    grid.add_argument("--boundary", default="periodic", choices=get_args(Boundary),
                      help="boundary condition (twisted needs periodic)")
    grid.add_argument("--method", default="twisted", choices=[m for m in get_args(Method) if m != "bloch"],
                      help="winding-number route per realization (twisted: exact integer on rings)")
    grid.add_argument("--seed", metavar="SEED", type=_nonnegative_int, default=0, help="disorder seed (realization r uses (seed, r))")
    output = _flags()
    output.add_argument("--workers", metavar="N", type=_positive_int, default=None, help="workers of the local pool (default: one per core)")
    output.add_argument("--store", metavar="DIR", default=None, help="directory of per-point results (resumes an interrupted run)")
    output.add_argument("--out", metavar="FIGURE", default=None, help="write the figure here (.png, .pdf, .svg...)")
    output.add_argument("--data", metavar="JSON", default=None, help="write the diagram as JSON here")
    output.add_argument("--quick", action="store_true", help="at most 60 cells and 4 realizations (a smoke test)")
    pdp = sub.add_parser(
        "phase-diagram", help="disorder-averaged winding number over two parameters", formatter_class=_HelpFormatter,
        parents=[grid, shared.executor, output, shared.quiet],
        description="Average the winding number over disorder realizations on a grid of two parameters "
                    "(default: intracell hopping t0 against disorder strength W with disorder {0: W, 1: W/2}) "
                    "and plot it with the exact boundary of the disordered SSH chain. Pass --out (figure), "
                    "--data (JSON) and/or --store (per-point results, resumable); without any of them nothing "
                    "would be kept, so the command refuses to start.")
    pdp.set_defaults(func=_cmd_phase_diagram)


def _add_generate(sub, shared: _SharedFlags) -> None:
    from ._typing import Boundary, DType

    own = _flags()
    own.add_argument("path", metavar="PATH", help="dataset directory (created)")
    own.add_argument("--n-samples", type=_positive_int, required=True, help="number of chains")
    own.add_argument("--n-cells", type=_positive_int, default=20, help="unit cells N per chain (at least 4)")
    own.add_argument("--ranges", default="0,1", help="hopping ranges m with random amplitudes t_m (0,1: SSH)")
    own.add_argument("--windings", default="balanced",
                     help="winding sectors filled in turn: 'balanced' (every winding between the lowest and highest "
                          "range), 'none' (no balancing), or a list such as 0,1 (each within the ranges)")
    own.add_argument("--disorder", default=None,
                     help="disorder strengths W (levels {0: W, 1: W/2}), e.g. 0,0.5,1; or one level RANGE:STRENGTH "
                          "pairs 0:1.0,1:0.5 (default: clean)")
    own.add_argument("--amplitude", type=_positive_float, default=1.0, help="scale of the random hopping amplitudes")
    own.add_argument("--complex", action="store_true", help="complex hopping amplitudes")
    own.add_argument("--min-gap", type=_nonnegative_float, default=0.05, help="minimum clean Bloch gap of a sampled chain")
    own.add_argument("--boundary", default="open", choices=get_args(Boundary), help="boundary condition of the chains")
    own.add_argument("--features", default="wavefunctions",
                     help="stored features, comma-separated: wavefunctions, densities, hamiltonian (others are "
                          "computed on reading)")
    own.add_argument("--shard-size", type=_positive_int, default=1000,
                     help="samples per shard (the unit of parallel work and of resuming)")
    own.add_argument("--seed", type=_nonnegative_int, default=0, help="master seed (shard k uses (seed, k))")
    own.add_argument("--dtype", default="float64", choices=list(get_args(DType)), help="storage dtype of the features")
    overwrite = _flags()
    overwrite.add_argument("--overwrite", action="store_true", help="replace a dataset generated with other parameters")
    g = sub.add_parser("generate", help="generate a dataset (HDF5 shards)", formatter_class=_HelpFormatter,
                       parents=[own, shared.executor, overwrite, shared.quiet],
                       description="Sample chains, compute features and winding labels (label: exact integer "
                                   "winding; w_real: real-space value; exact: independent exact route), write HDF5 "
                                   "shards. All settings are checked before anything is written; an interrupted "
                                   "run resumes (complete shards are kept) and Ctrl-C writes no further shard.")
    g.set_defaults(func=_cmd_generate)


def _add_train(sub, shared: _SharedFlags) -> None:
    own = _flags()
    own.add_argument("data", help="dataset directory (from `tntopo generate`)")
    own.add_argument("--val", default=None, help="validation dataset directory (default: split off --val-fraction)")
    own.add_argument("--val-fraction", type=float, default=0.2, help="fraction of DATA held out for validation")
    _add_model_args(own)
    own.add_argument("--epochs", type=_positive_int, default=50, help="training epochs")
    own.add_argument("--batch-size", type=_positive_int, default=128, help="samples per optimizer step")
    own.add_argument("--lr", type=_positive_float, default=1e-3, help="Adam learning rate")
    own.add_argument("--loss", default="mse", choices=_LazyChoices(_losses), metavar="LOSS",
                     help="mse/huber/l1: regress the winding number; cross_entropy: classify it over --classes")
    own.add_argument("--classes", default=None,
                     help="winding classes of a cross_entropy classifier, e.g. -1,0,1,2 (default: the labels of DATA)")
    own.add_argument("--patience", type=_positive_int, default=None,
                     help="stop after this many epochs without validation improvement (default: no early stopping)")
    own.add_argument("--checkpoint", default=None,
                     help="checkpoint file, written after every epoch; an existing one is resumed")
    own.add_argument("--out", default=None, help="save the trained model to this file (e.g. model.pt)")
    t = sub.add_parser("train", help="train a model on a dataset", formatter_class=_HelpFormatter,
                       parents=[own, shared.quiet],
                       description="Train a model to predict the winding number and print validation metrics. "
                                   "--out and --checkpoint are checked (and write-probed) before training; the saved "
                                   "model records its name and options, the features, chain length and target it "
                                   "was trained on, and the tntopo version.")
    t.set_defaults(func=_cmd_train)


def _add_evaluate(sub, shared: _SharedFlags) -> None:
    e = sub.add_parser("evaluate", help="evaluate a model on a dataset", formatter_class=_HelpFormatter,
                       description="Accuracy and errors of a saved model (--model-file: a model from `tntopo train "
                                   "--out` or a training checkpoint) or of the exact TopoNet (--model toponet_exact). "
                                   "A model is only scored on the features and chain length it was trained on; an "
                                   "untrained model only with --untrained.")
    e.add_argument("data", help="dataset directory")
    e.add_argument("--model-file", default=None, help="a model saved by `tntopo train --out`, or a --checkpoint file")
    _add_model_args(e, evaluate=True)
    e.add_argument("--untrained", action="store_true",
                   help="allow scoring an untrained (randomly initialized) --model, e.g. as a chance baseline")
    e.add_argument("--target", default="label", choices=["label", "w_real", "exact"],
                   help="what the predictions are scored against: label (the exact integer winding), w_real (the "
                        "real-space value of the input chain: the exact TopoNet matches it to rounding) or exact")
    e.add_argument("--lazy", action="store_true", help="read samples from disk instead of loading the dataset")
    e.set_defaults(func=_cmd_evaluate)


def _add_reproduce(sub, shared: _SharedFlags) -> None:
    r = sub.add_parser("reproduce", help="run the whole learning study (results.json, results.md, figures)",
                       formatter_class=_HelpFormatter,
                       description="Train and evaluate TopoNet and conventional networks (each as a regressor "
                                   "and a classifier, equal budgets, learning rate chosen on validation data) on "
                                   "accuracy, learning the invariant (unseen windings, longer chains, counterfactual "
                                   "chains), disorder against the phase of the ensemble, the trainability map and the "
                                   "loss landscape; write DIR/results.json, DIR/results.md and "
                                   "DIR/figures/*.png. Finished training runs are cached in DIR/runs (resumable).")
    r.add_argument("--quick", action="store_true", help="CI-size study (minutes on 2 cores); same as --preset quick")
    r.add_argument("--preset", default="full", choices=["full", "quick", "tiny"], help="study size")
    r.add_argument("--study", default="winding", choices=["winding", "chern"],
                   help="winding: the winding number of 1D chiral chains; chern: the Chern number of 2D lattices, "
                        "on the same protocol and report")
    r.add_argument("--out", metavar="DIR", required=True, help="output directory DIR (created)")
    r.add_argument("--executor", metavar="EXECUTOR", default=None,
                   help="where training runs go: process (default, a local process pool), serial, thread, or a dask "
                        "scheduler address tcp://host:port; results do not depend on it")
    r.add_argument("--workers", metavar="N", type=_positive_int, default=None, help="process-pool size (default: one per core)")
    r.add_argument("--seeds", metavar="N", type=_positive_int, default=None, help="training seeds per model and head (default: the preset's)")
    r.add_argument("--models", metavar="LIST", default=None, help="comma-separated subset of models, e.g. topo,topo_ti,mlp (default: all)")
    r.add_argument("--no-resume", action="store_true", help="ignore finished runs cached in DIR/runs")
    r.add_argument("--device", default=None, metavar="DEVICE",
                   help="torch device of the training runs (cpu, cuda...), passed through to the study's training "
                        "where the study supports it (default: cpu)")
    r.add_argument("--compare-with", metavar="RESULTS", default=None,
                   help="with --study chern: the winding study's results.json, set side by side with this run "
                        "(results.json 'comparison', the report's '1D and 2D' section, figures/comparison.png)")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(func=_cmd_reproduce)


def _add_bench(sub, shared: _SharedFlags) -> None:
    b = sub.add_parser("bench", help="run the benchmark scripts (benchmarks/*.py)", formatter_class=_HelpFormatter,
                       description="Run one benchmark script of benchmarks/ (by name, e.g. learning) or all of them.")
    b.add_argument("name", nargs="?", default=None, help="benchmark name (e.g. learning for bench_learning.py); all if omitted")
    b.add_argument("--quick", action="store_true", help="pass --quick (CI-size) to the scripts")
    b.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    b.set_defaults(func=_cmd_bench)


def _add_chern(sub, shared: _SharedFlags) -> None:
    from ._typing import Boundary

    own = _flags()
    own.add_argument("--model", default="qwz", choices=_LazyChoices(_lattice_models), metavar="MODEL",
                     help=_LazyHelp(lambda: f"lattice model: {', '.join(_lattice_models())}"))
    own.add_argument("--m", type=float, default=None, help="QWZ mass m (default 1.0); C = sign(m) for 0 < |m| < 2")
    own.add_argument("--t1", type=float, default=None, help="Haldane nearest-neighbour hopping (default 1.0)")
    own.add_argument("--t2", type=float, default=None, help="Haldane second-neighbour hopping (default 0.2)")
    own.add_argument("--phi", type=float, default=None, help="Haldane flux phase phi in radians (default pi/2)")
    own.add_argument("--M", type=float, default=None, help="Haldane sublattice mass (default 0.0)")
    own.add_argument("--shape", default="40,40", help="LX,LY cells")
    own.add_argument("--boundary", default="open", choices=get_args(Boundary), help="boundary on both axes")
    own.add_argument("--disorder", type=float, default=None,
                     help="Anderson disorder W: on-site W*u, u ~ U[-1/2, 1/2] per site (default: clean)")
    ch = sub.add_parser("chern", help="Chern number of a 2D lattice (QWZ or Haldane)", formatter_class=_HelpFormatter,
                        parents=[own, shared.disorder_seed],
                        description="Print the Chern number of a QWZ or Haldane lattice and the method that "
                                    "computed it (e.g. 'C = 1  (method: fhs, exact integer)'); --json prints a "
                                    "JSON object.")
    ch.add_argument("--method", default="auto", choices=_LazyChoices(_chern_methods), metavar="METHOD",
                    help="one of auto, fhs, bott, marker, local (the ChernMethod literal of tntopo.invariants.chern). "
                         "auto: fhs for clean lattices, bott for disordered periodic ones, marker (local above "
                         "6000 states) for open ones; fhs/bott give certified integers, marker/local the bulk "
                         "average of the local Chern marker")
    ch.add_argument("--fermi-level", type=float, default=0.0, help="states below it are occupied")
    ch.add_argument("--json", action="store_true", help="print a JSON object (chern_number, method, ...)")
    ch.set_defaults(func=_cmd_chern)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


#: Seconds a Ctrl-C or SIGTERM may take to unwind (e.g. the main thread in a long C call) before
#: the command stops its own worker processes and exits with status 130 or 143 regardless.
INTERRUPT_GRACE_S = 0.75


def _interrupted_line(prefix: str, signum: int) -> str:
    import signal

    return f"{prefix}: interrupted" + ("" if signum == signal.SIGINT else f" by {signal.Signals(signum).name}")


def main(argv: Optional[List[str]] = None) -> int:
    """Run the ``tntopo`` command with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    0: done; 1: done, but some work failed (reported); 2: a user error (one line on stderr);
    130: interrupted (Ctrl-C); 143: stopped by SIGTERM (the same clean stop).
    """
    entry_point = argv is None  # run as the `tntopo` program, not called from Python
    argv = list(sys.argv[1:] if argv is None else argv)
    try:  # parsing imports nothing heavy (tests/test_cli.py checks it): --help, --version, typos are fast
        parser = build_parser()
        args = parser.parse_args(_join_dash_values(argv, parser))
    except KeyboardInterrupt:  # Ctrl-C in the first instant: one line, no traceback
        print("tntopo: interrupted", file=sys.stderr)
        return 130
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    sub = next((a.choices.get(args.command) for a in parser._actions
                if isinstance(a, argparse._SubParsersAction)), None)
    prefix = f"tntopo {args.command}"

    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"{prefix}: warning: {_one_line(_cli_terms(str(message), sub, args.command))}", file=sys.stderr)

    old_show = warnings.showwarning
    warnings.showwarning = show_warning
    from .parallel import interruptible, stop_children

    try:
        # Ctrl-C and SIGTERM: one path (tntopo.parallel.interruptible), a stuck unwind ended after the grace
        with interruptible(force_exit_after=INTERRUPT_GRACE_S, message=lambda sig: _interrupted_line(prefix, sig)):
            try:
                return int(args.func(args) or 0)
            except KeyboardInterrupt:
                stop_children()  # e.g. torch's data loaders; tntopo's pools have stopped theirs
                raise
    except KeyboardInterrupt as exc:
        status = getattr(exc, "exit_status", 130)
        print(_interrupted_line(prefix, status - 128), file=sys.stderr)
        if entry_point:  # the program: skip the interpreter's slow teardown (torch, pools); all is unwound
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
        return status
    except ValueError as exc:
        print(f"{prefix}: error: {_one_line(_cli_terms(str(exc), sub, args.command))}", file=sys.stderr)
        return 2
    except (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        print(f"{prefix}: error: {_one_line(_os_error_message(exc))}", file=sys.stderr)
        return 2
    finally:
        warnings.showwarning = old_show


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
