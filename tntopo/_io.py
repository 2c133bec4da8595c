"""File helpers: atomic writes (never a half-written file) and the JSON encoding of tntopo objects.

One implementation of each, used everywhere in tntopo:

* :func:`atomic_path` -- write to a temporary next to the target, rename on success;
* :func:`write_json` / :func:`read_json` -- atomic JSON files;
* :func:`to_jsonable` -- numpy scalars/arrays to plain Python (non-finite floats to ``null``);
* :func:`hoppings_to_json` -- ``{m: t_m}`` (complex) to ``{"m": [re, im]}``.

Importing this module changes no process state (no ``os.umask`` round trip): temporary files
are created with mode ``0o666`` and the kernel applies the umask (and any default ACL), so the
final file has the permissions of any file the user writes.
"""
from __future__ import annotations

import json
import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Mapping, Optional, Union

import numpy as np

from ._typing import strict_keywords

__all__ = ["atomic_path", "write_json", "read_json", "to_jsonable", "hoppings_to_json"]

PathLike = Union[str, os.PathLike]

#: Temporaries of the atomic writes under way in this process (see :func:`remove_unfinished`).
_UNFINISHED: set = set()


def _create_temporary(path: Path) -> Path:
    """Create an empty, new file next to ``path`` with the process's default permissions."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = path.with_name(f"{path.name}.{secrets.token_hex(6)}.part")
        try:
            fd = os.open(tmp, flags, 0o666)  # the umask applies, as for open(path, "w")
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"could not create a temporary file next to {path}")  # pragma: no cover


@contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path``.

    The rename is atomic on POSIX, so readers see either the old file or the complete new one;
    if the block raises (or the process dies) ``path`` is untouched and the temporary is removed.
    The new file gets the usual permissions (``0o666`` less the umask).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = _create_temporary(path)
    _UNFINISHED.add(tmp_path)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
        _UNFINISHED.discard(tmp_path)


def remove_unfinished() -> None:
    """Remove the temporaries of the atomic writes under way (a program about to ``os._exit``)."""
    for tmp in list(_UNFINISHED):
        try:
            tmp.unlink()
        except OSError:
            pass


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays (recursively) to plain Python for JSON.

    Dict keys become strings; NaN and infinities become ``None`` (JSON ``null``).
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


@strict_keywords
def hoppings_to_json(hoppings: Mapping[int, Any]) -> Dict[str, list]:
    """``{m: t_m}`` as ``{"m": [Re t_m, Im t_m]}`` (JSON has no complex numbers), in the given order."""
    out = {}
    for m, t in hoppings.items():
        z = complex(t)
        out[str(m)] = [z.real, z.imag]
    return out


def hoppings_from_json(obj: Mapping[str, Any]) -> Dict[int, Any]:
    """Inverse of :func:`hoppings_to_json`: ``{"m": [re, im]}`` -> ``{m: t_m}`` (real where ``im == 0``)."""
    out: Dict[int, Any] = {}
    for m, v in obj.items():
        re, im = (float(v[0]), float(v[1])) if isinstance(v, (list, tuple)) else (float(v), 0.0)
        out[int(m)] = re if im == 0 else complex(re, im)
    return out


def check_kind(obj: Any, kind: str, path: Any) -> Dict[str, Any]:
    """``obj`` if it is a dict written by ``kind``'s ``save`` (its ``"kind"`` key), else a ``ValueError``."""
    if not isinstance(obj, dict) or obj.get("kind", kind) != kind:
        found = obj.get("kind") if isinstance(obj, dict) else type(obj).__name__
        raise ValueError(f"{str(path)!r} does not hold a {kind} (found {found!r}); load it with the class that saved it")
    return obj


@strict_keywords
def write_json(path: PathLike, obj: Any, *, indent: Optional[int] = 2) -> None:
    """Write ``to_jsonable(obj)`` as JSON, atomically (``indent=None``: compact)."""
    text = json.dumps(to_jsonable(obj), indent=indent)
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def read_json(path: PathLike) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text())
