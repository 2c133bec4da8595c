"""Model and checkpoint files that load without unpickling code.

A file is one ``torch.save`` archive holding only tensors, plain containers and strings: the
weights as state dicts of tensors and everything else -- how to rebuild the model, what it was
trained on, the training history -- as a JSON string. It is read with
``torch.load(..., weights_only=True)``, whose unpickler builds nothing but tensors and plain
data: a file that holds anything else (e.g. a pickle whose ``__reduce__`` would run a command)
is refused with :class:`ModelFileError` before any of it runs.

* model file (:func:`save_model`): ``{"tntopo": "model", "format_version", "meta", "state_dict"}``;
  ``meta`` records the registry ``name``, ``n_cells``, ``seed``, ``kwargs``, ``classes`` (see
  :func:`tntopo.nn.build_model`), ``trained_on`` (features, target, n_cells, loss... as recorded by
  :func:`tntopo.nn.training.train`) and ``tntopo_version``;
* checkpoint (:func:`save_checkpoint`, written by :func:`~tntopo.nn.training.train`):
  ``{"tntopo": "checkpoint", "format_version", "meta", "model", "optimizer", "rng", "best_state"}``;
  :func:`load_model` also rebuilds the model of a checkpoint (its best weights so far).
"""
from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch
from torch import nn

from .._typing import strict_keywords

__all__ = ["ModelFileError", "save_model", "load_model", "read_model_meta", "save_checkpoint", "load_checkpoint",
           "MODEL_FORMAT_VERSION", "CHECKPOINT_FORMAT_VERSION"]

MODEL_FORMAT_VERSION = 1
CHECKPOINT_FORMAT_VERSION = 1

PathLike = Union[str, Path]


class ModelFileError(ValueError):
    """A model or checkpoint file is corrupt, of an unknown format, or holds more than tensors and data."""


# ----------------------------------------------------------------------------- JSON encoding of kwargs
def _to_json(obj):
    if isinstance(obj, torch.dtype):
        return {"__torch_dtype__": str(obj).replace("torch.", "")}
    if isinstance(obj, dict):
        return {str(k): _to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_json(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:  # numpy / torch scalars
        return obj.item()
    raise ValueError(f"cannot store {obj!r} ({type(obj).__name__}) in a model file; give model arguments as "
                     "numbers, strings, lists or torch dtypes")


def _from_json(obj):
    if isinstance(obj, dict):
        if set(obj) == {"__torch_dtype__"}:
            dt = getattr(torch, obj["__torch_dtype__"], None)
            if not isinstance(dt, torch.dtype):
                raise ModelFileError(f"unknown torch dtype {obj['__torch_dtype__']!r} in a model file")
            return dt
        return {k: _from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_from_json(v) for v in obj]
    return obj


# ----------------------------------------------------------------------------- safe reading
def _safe_load(path: PathLike, what: str) -> Dict[str, Any]:
    """``torch.load(path, weights_only=True)`` with one clear error for anything but a tntopo file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    if path.is_dir():
        raise IsADirectoryError(21, "Is a directory", str(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's note on pickle protocols of foreign files
            st = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        detail = next((ln for ln in lines if "GLOBAL" in ln or ln.startswith("Unsupported")), type(exc).__name__)
        raise ModelFileError(
            f"{str(path)!r} is corrupt or not a safe tntopo {what} file: it is not made only of tensors and plain "
            f"data (a damaged file, or Python objects that could run code; nothing in it was run) [{detail}]; "
            "load only files written by tntopo.nn.save_model or tntopo train"
        ) from None
    except Exception as exc:  # noqa: BLE001 - zip/EOF/format errors: the file is damaged or something else
        raise ModelFileError(
            f"{str(path)!r} is corrupt or not a tntopo {what} file ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(st, dict) or st.get("tntopo") not in ("model", "checkpoint") or not isinstance(st.get("meta"), str):
        raise ModelFileError(f"{str(path)!r} is not a tntopo {what} file (a torch file of another kind); "
                             "save models with tntopo.nn.save_model or tntopo train --out")
    try:
        st["meta"] = json.loads(st["meta"])
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{str(path)!r} has damaged metadata ({exc})") from None
    return st


def _check_version(st: Dict[str, Any], path: PathLike) -> None:
    known = {"model": MODEL_FORMAT_VERSION, "checkpoint": CHECKPOINT_FORMAT_VERSION}[st["tntopo"]]
    v = st.get("format_version")
    if v != known:
        raise ModelFileError(
            f"{str(path)!r} is a tntopo {st['tntopo']} file of format version {v!r}; this tntopo reads version "
            f"{known} (written by tntopo {st['meta'].get('tntopo_version', '?')}); use that tntopo version or retrain"
        )


@strict_keywords
def read_model_meta(path: PathLike) -> Dict[str, Any]:
    """The metadata of a model or checkpoint file (no weights are used): ``{"kind": "model"|"checkpoint", ...}``."""
    st = _safe_load(path, "model")
    _check_version(st, path)
    return {"kind": st["tntopo"], **st["meta"]}


# ----------------------------------------------------------------------------- models
def _meta_of(model: nn.Module) -> Dict[str, Any]:
    from .._version import __version__

    cfg = getattr(model, "build_config", None)
    if cfg is None:
        raise ValueError(f"{type(model).__name__} was not made by tntopo.nn.build_model; build it with build_model "
                         "(so that it can be rebuilt) or save its state_dict yourself")
    return {"model": _to_json(cfg), "trained_on": _to_json(getattr(model, "trained_on", None)),
            "tntopo_version": __version__}


@strict_keywords
def save_model(path: PathLike, model: nn.Module) -> None:
    """Save a model made by :func:`tntopo.nn.build_model`: weights, how to rebuild it, what it was trained on.

    Written atomically (no half-written file); read back with :func:`load_model`.
    """
    from .._io import atomic_path

    meta = _meta_of(model)
    with atomic_path(path) as tmp:
        torch.save({"tntopo": "model", "format_version": MODEL_FORMAT_VERSION, "meta": json.dumps(meta),
                    "state_dict": model.state_dict()}, tmp)


def _rebuild(meta: Dict[str, Any], state_dict, path) -> nn.Module:
    from .registry import build_model

    cfg = _from_json(meta.get("model") or {})
    if not cfg.get("name"):
        raise ModelFileError(f"{str(path)!r} does not record how to rebuild its model (it was not built with "
                             "tntopo.nn.build_model)")
    n = cfg["n_cells"]
    model = build_model(cfg["name"], n if isinstance(n, int) else tuple(n), cfg.get("seed", 0),
                        classes=cfg.get("classes"), temperature=cfg.get("temperature", 0.1), **cfg.get("kwargs", {}))
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as exc:
        raise ModelFileError(f"the weights in {str(path)!r} do not fit its model {cfg['name']!r} "
                             f"({str(exc).splitlines()[0]})") from None
    model.trained_on = meta.get("trained_on")
    return model


@strict_keywords
def load_model(path: PathLike, *, checkpoint_ok: bool = True) -> nn.Module:
    """Rebuild a model saved by :func:`save_model` (or the model of a training checkpoint).

    Parameters
    ----------
    path : path
    checkpoint_ok : bool
        Accept a checkpoint written by :func:`tntopo.nn.training.train` (its best weights so far,
        as ``train(restore_best=True)`` would end with); ``model.loaded_from = "checkpoint"`` then.

    Returns
    -------
    nn.Module
        In eval mode, with ``build_config`` and ``trained_on`` (``None`` if unknown).

    Raises
    ------
    ModelFileError
        Not a tntopo file, damaged, of an unknown format version, or holding Python objects
        other than tensors and plain data (nothing of such a file is run).
    """
    st = _safe_load(path, "model")
    _check_version(st, path)
    if st["tntopo"] == "checkpoint":
        if not checkpoint_ok:
            raise ModelFileError(f"{str(path)!r} is a training checkpoint, not a model file")
        sd = st.get("best_state") or st["model"]
        model = _rebuild(st["meta"], sd, path)
        model.loaded_from = "checkpoint"
        model.checkpoint_epoch = st["meta"].get("epoch")
    else:
        model = _rebuild(st["meta"], st["state_dict"], path)
        model.loaded_from = "model"
    model.eval()
    return model


# ----------------------------------------------------------------------------- checkpoints
def save_checkpoint(path: PathLike, *, model: nn.Module, optimizer, rng: torch.Tensor, best_state: Optional[dict],
                    meta: Dict[str, Any]) -> None:
    """Write a training checkpoint atomically (tensors in state dicts, the rest as JSON)."""
    from .._io import atomic_path
    from .._version import __version__

    full = dict(meta)
    cfg = getattr(model, "build_config", None)
    full["model"] = None if cfg is None else _to_json(cfg)
    full["tntopo_version"] = __version__
    with atomic_path(path) as tmp:
        torch.save({"tntopo": "checkpoint", "format_version": CHECKPOINT_FORMAT_VERSION, "meta": json.dumps(_to_json(full)),
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(), "rng": rng,
                    "best_state": best_state if best_state is not None else {}}, tmp)


def load_checkpoint(path: PathLike) -> Dict[str, Any]:
    """Read a checkpoint of :func:`save_checkpoint`: ``{"meta", "model", "optimizer", "rng", "best_state"}``.

    A model file given as a checkpoint is an error that says so.
    """
    st = _safe_load(path, "checkpoint")
    _check_version(st, path)
    if st["tntopo"] != "checkpoint":
        raise ModelFileError(f"{str(path)!r} is a saved model, not a training checkpoint; give another checkpoint path")
    st["best_state"] = st.get("best_state") or None
    return st
