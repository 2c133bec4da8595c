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
