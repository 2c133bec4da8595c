"""Closed option sets of the public API, declared once as ``Literal`` aliases.

Each alias is the single source of truth for its values: ``typing.get_args(Method)`` feeds the
runtime checks (:func:`check_option`) and can feed ``argparse`` ``choices``. The ``METHODS`` /
``BOUNDARIES`` ... tuples are those ``get_args`` values, kept for convenience.

Also here: :func:`check_option` (a value must be one of a ``Literal``'s values) and
:func:`strict_keywords` (a decorator: unknown keyword arguments raise a ``TypeError`` that names
the valid ones, where Python's own message does not).
"""
from __future__ import annotations

import functools
import inspect
import numbers
from typing import Any, Callable, Literal, Tuple, TypeVar, get_args

__all__ = [
    "Method",
    "MarkerMethod",
    "Boundary",
    "ExecutorKind",
    "Kernel",
    "StateWeights",
    "Window",
    "Init",
    "ChernMethod",
    "ChernSolver",
    "DType",
    "Metric",
    "LatticeTarget",
    "METHODS",
    "MARKER_METHODS",
    "BOUNDARIES",
    "EXECUTOR_KINDS",
    "CHERN_METHODS",
    "CHERN_SOLVERS",
    "check_option",
    "check_integer",
    "strict_keywords",
]

#: ``winding_number(method=...)``.
Method = Literal["auto", "dense", "local", "bloch", "twisted"]
#: ``local_winding_marker(method=...)``.
MarkerMethod = Literal["dense", "local"]
#: Boundary condition of a chain (or lattice).
Boundary = Literal["open", "periodic"]
#: Named local executors of ``executor=`` (see :mod:`tntopo.parallel`; an Executor or a dask
#: address ``"tcp://host:port"`` are accepted too).
ExecutorKind = Literal["process", "serial", "thread"]
#: ``chern_number(method=...)`` (2D, class A). ``local_chern_marker(method=...)`` takes
#: :data:`MarkerMethod`.
ChernMethod = Literal["auto", "fhs", "bott", "marker", "local"]
#: How the 2D local route gets a window's projector (``solver=``).
ChernSolver = Literal["auto", "eigh", "chebyshev"]

# learning stack (tntopo.nn, tntopo.data)
#: Storage dtype of dataset features (``make_arrays(dtype=...)``, ``make_lattice_arrays``).
DType = Literal["float64", "float32"]
#: What :func:`tntopo.nn.select_lr` ranks learning rates by.
Metric = Literal["accuracy", "loss"]
#: Targets of a 2D lattice dataset (:func:`tntopo.data.lattice_dataset`).
LatticeTarget = Literal["label", "c_real", "exact"]
Kernel = Literal["full", "translation_invariant"]
StateWeights = Literal["per_state", "rank"]
Window = Literal["learned", "profile", "fixed"]
Init = Literal["exact", "random"]

METHODS: Tuple[str, ...] = get_args(Method)
MARKER_METHODS: Tuple[str, ...] = get_args(MarkerMethod)
BOUNDARIES: Tuple[str, ...] = get_args(Boundary)
EXECUTOR_KINDS: Tuple[str, ...] = get_args(ExecutorKind)
CHERN_METHODS: Tuple[str, ...] = get_args(ChernMethod)
CHERN_SOLVERS: Tuple[str, ...] = get_args(ChernSolver)


def check_option(name: str, value: Any, options: Any, *, hint: str = "") -> Any:
    """Return ``value`` if it is one of ``options``, else raise ``ValueError`` naming the choices.

    Parameters
    ----------
    name : str
        The parameter's name, for the message (``"method"``).
    value : object
        The value given.
    options : Literal alias or tuple
        A ``Literal[...]`` alias of this module (its ``typing.get_args``) or a tuple of values.
    hint : str, optional
        Appended to the message (e.g. what to do instead).

    Raises
    ------
    ValueError
        ``unknown method 'dnse'; choose one of 'auto', 'dense', ...``.

    Examples
    --------
    >>> check_option("boundary", "open", Boundary)
    'open'
    """
    choices = get_args(options) or tuple(options)
    try:
        ok = value in choices
    except TypeError:  # unhashable/uncomparable value
        ok = False
    if not ok or not isinstance(value, str) and any(isinstance(c, str) for c in choices):
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"unknown {name} {value!r}; choose one of {listed}{hint}")
    return value


def check_integer(name: str, value: Any, minimum: int = 0) -> int:
    """Return ``int(value)`` if it is an integer ``>= minimum`` (bools are not), else raise ``ValueError``.

    Examples
    --------
    >>> check_integer("n_realizations", 8, 1)
    8
    """
    desc = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or type(value).__name__ == "bool_":
        raise ValueError(f"{name} must be {desc}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name}={value!r} is too small: {name} must be {desc}")
    return int(value)


F = TypeVar("F", bound=Callable[..., Any])


def strict_keywords(fn: F) -> F:
    """Make unknown keyword arguments of ``fn`` raise a ``TypeError`` that lists the valid ones.

    ``fn`` keeps its explicit signature (``inspect.signature`` and the docs see it unchanged);
    the check is one set difference per call. Positional-argument errors are Python's own.
    Works on functions, methods and constructors (decorate ``__init__``: the message names the
    class, ``SSHChain() got unknown keyword argument 'n_cell' (did you mean 'n_cells'?)``), and
    under ``classmethod``/``staticmethod`` (put those outermost). Applied to a class (a dataclass
    included: put ``@strict_keywords`` above ``@dataclass``) it wraps the class's ``__init__`` and
    returns the class. A function without keyword parameters says it takes none.
    """
    import difflib

    if inspect.isclass(fn):
        if "__init__" not in vars(fn):
            raise TypeError(f"strict_keywords: class {fn.__name__} defines no __init__ of its own to wrap")
        fn.__init__ = strict_keywords(fn.__init__)  # type: ignore[misc]
        return fn
    sig = inspect.signature(fn)
    valid = frozenset(
        n for i, (n, p) in enumerate(sig.parameters.items())
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and not (i == 0 and n in ("self", "cls"))
    )
    listed = ", ".join(n for n in sig.parameters if n in valid)
    name = fn.__qualname__
    is_init = fn.__name__ == "__init__"
    if is_init:
        name = name[: -len(".__init__")]
    name = name.rsplit("<locals>.", 1)[-1]

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if kwargs:
            unknown = kwargs.keys() - valid
            if unknown:
                bad = sorted(unknown)
                hints = [difflib.get_close_matches(k, valid, n=1) for k in bad]
                hint = "; ".join((f"did you mean {h[0]!r}?" if len(bad) == 1 else f"{k!r}: did you mean {h[0]!r}?")
                                 for k, h in zip(bad, hints) if h)
                plural = "s" if len(bad) > 1 else ""
                who = type(args[0]).__name__ if is_init and args else name  # a subclass's own name
                accepted = f"valid keywords: {listed}" if listed else "it takes no keyword arguments"
                raise TypeError(f"{who}() got unknown keyword argument{plural} {', '.join(map(repr, bad))}"
                                f"{' (' + hint + ')' if hint else ''}; {accepted}")
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
