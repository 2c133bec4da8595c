"""Dataset generation: random chains -> features and labels, in memory or as HDF5 shards.

A dataset is cut into shards of ``shard_size`` samples. Shard ``k`` depends only on
``(seed, k)`` (its chains come from :func:`tntopo.parallel.task_seed`), so the data are identical
for any executor and number of workers, and an interrupted :func:`generate` resumes by computing
only the missing shards. Workers compute shards; this process writes each one atomically as it
arrives (``<dir>/shard-00000.h5``; no half-written files, and nothing is written after Ctrl-C
or SIGTERM);
``<dir>/meta.json`` records the storage ``format_version`` (checked on reading: files of an unknown
version are refused with a clear error), the parameters, the tntopo version and the shard sizes.
All settings are checked before anything is written.

Per sample the arrays are

* ``h`` ``(N, N)``: the A->B hopping block (any feature can be recomputed from it);
* the requested features (``"wavefunctions"``, ``"densities"``, ``"hamiltonian"``; ``(2N, 2N)``);
* ``w_real`` (float): the real-space winding number of the chain's well-posed wavefunctions
  (:func:`tntopo.data.features.input_winding`: the dense route's bulk average, with machine-degenerate
  zero modes chiral-polarized -- what a model computes from this input);
* ``exact`` (int): the winding number from an independent exact route -- Bloch for clean chains,
  twisted boundaries for disordered rings -- or :data:`NO_EXACT` (disordered open chains,
  gapless rings);
* ``label`` (int): the exact integer winding, the class a model should predict: ``exact`` where
  defined, else ``round(w_real)``;
* ``sector`` (int): the Bloch winding of the clean hoppings (the sector the sample was drawn in);
* ``hoppings`` ``(len(ranges),)``: the clean amplitudes; ``disorder_level`` (int): index into the
  ``disorder`` list.
"""
from __future__ import annotations

import json
import numbers
import warnings
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from .._typing import DType, check_option, strict_keywords
from .features import FEATURES, compute_features

__all__ = ["generate", "write_dataset", "make_arrays", "read_arrays", "NO_EXACT", "CorruptDatasetError", "UnknownFormatError",
           "shard_path", "read_meta", "register_format", "check_format", "FORMAT_VERSION"]

#: ``exact`` value of samples with no exact-integer route (disordered open chains, gapless rings).
NO_EXACT = -9999
META = "meta.json"
#: Storage format of the chain datasets written by this tntopo (3: well-posed wavefunctions, ``w_real`` of
#: the input; 2: targets named ``w_real``, ``label``, ``exact``; 1, before: ``W`` for the real-space value
#: and ``label = round(W)``).
FORMAT_VERSION = 3
KIND = "chains"


class CorruptDatasetError(ValueError):
    """A dataset file is corrupt, truncated or not a tntopo dataset."""


class UnknownFormatError(CorruptDatasetError):
    """A dataset file was written in a storage format this tntopo does not read."""


# kind of dataset -> the format version this tntopo reads (a module path: its FORMAT_VERSION)
_FORMATS: Dict[str, Union[int, str]] = {KIND: FORMAT_VERSION, "lattice2d": "tntopo.data.lattice2d"}


@strict_keywords
def register_format(kind: str, version: int) -> None:
    """Declare that datasets of ``kind`` (``meta["kind"]``) are read in storage format ``version``."""
    _FORMATS[str(kind)] = int(version)


def _known_version(kind: str) -> Optional[int]:
    v = _FORMATS.get(kind)
    if isinstance(v, str):
        import importlib

        v = getattr(importlib.import_module(v), "FORMAT_VERSION", None)
    return v


def check_format(found, kind: str, where: str) -> None:
    """Raise :class:`UnknownFormatError` unless ``found`` is the format version of ``kind`` this tntopo reads."""
    known = _known_version(kind)
    if isinstance(found, np.generic):
        found = found.item()
    if known is None:
        raise UnknownFormatError(f"{where} holds a dataset of unknown kind {kind!r}; it was not written by this tntopo")
    try:
        ok = int(found) == known
    except (TypeError, ValueError):
        ok = False
    if not ok:
        hint = ("regenerate it with this tntopo (generate with overwrite=True)" if isinstance(found, (int, np.integer))
                and int(found) < known else "read it with the tntopo version that wrote it, or regenerate it")
        raise UnknownFormatError(f"{where} is in dataset format version {found!r}; this tntopo reads version "
                                 f"{known}; {hint}")


def shard_path(root: Union[str, Path], k: int) -> Path:
    return Path(root) / f"shard-{k:05d}.h5"


# ------------------------------------------------------------------------------- parameters
def _norm_disorder(disorder) -> List[Optional[Dict[int, float]]]:
    """``None`` | strength | ``{m: W_m}`` | list of those -> list of levels (dicts or None).

    A bare strength ``W`` means the Mondragon-Shem convention ``{0: W, 1: W/2}``.
    """
    if disorder is None:
        return [None]
    items = list(disorder) if isinstance(disorder, (list, tuple)) else [disorder]
    if not items:
        raise ValueError("disorder is an empty list; give None, a strength, a dict {m: W_m} or a list of them")
    out: List[Optional[Dict[int, float]]] = []
    for d in items:
        if d is None:
            out.append(None)
        elif isinstance(d, numbers.Real):
            if not np.isfinite(d) or d < 0:
                raise ValueError(f"disorder strength {d!r} must be finite and >= 0")
            out.append({0: float(d), 1: float(d) / 2} if d > 0 else None)
        elif isinstance(d, Mapping):
            dd = {int(m): float(w) for m, w in d.items() if float(w) != 0}
            out.append(dd or None)
        else:
            raise ValueError(f"bad disorder level {d!r}; give None, a strength, or a dict {{m: W_m}}")
    return out


def _spec(n_samples, n_cells, ranges, windings, disorder, amplitude, complex_hoppings, min_gap,
          boundary, features, shard_size, seed, dtype) -> Dict[str, Any]:
    if not isinstance(n_samples, numbers.Integral) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if not isinstance(shard_size, numbers.Integral) or shard_size < 1:
        raise ValueError(f"shard_size must be a positive integer, got {shard_size!r}")
    if not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    from ..systems.chain import check_n_cells

    check_n_cells(n_cells)
    ranges = [int(m) for m in ranges]
    if not ranges or len(set(ranges)) != len(ranges):
        raise ValueError(f"ranges must be distinct integers, got {ranges}")
    if windings == "balanced":
        windings = list(range(min(ranges), max(ranges) + 1))
    elif windings is not None:
        windings = [int(w) for w in windings]
        if not windings:
            raise ValueError("windings is empty; give sectors such as [0, 1], 'balanced' or None")
        bad = [w for w in windings if not min(ranges) <= w <= max(ranges)]
        if bad:
            raise ValueError(f"winding(s) {bad} are unreachable with hopping ranges {ranges}: a chain's winding lies "
                             f"between its lowest and highest range; add those ranges or drop those windings")
    from .._typing import Boundary

    check_option("boundary", boundary, Boundary)
    feats = [features] if isinstance(features, str) else list(features)
    bad = [f for f in feats if f not in FEATURES]
    if bad:
        raise ValueError(f"unknown feature(s) {bad}; choose from {set(FEATURES)}")
    check_option("dtype", dtype, DType)
    levels = _norm_disorder(disorder)
    if not (np.isfinite(amplitude) and amplitude > 0):
        raise ValueError(f"amplitude must be positive and finite, got {amplitude!r}")
    from ..systems.chain import check_min_gap

    min_gap = check_min_gap(min_gap, amplitude, len(ranges), complex_hoppings)
    return {
        "n_samples": int(n_samples), "n_cells": int(n_cells), "ranges": ranges, "windings": windings,
        "disorder": [None if d is None else {str(m): w for m, w in d.items()} for d in levels],
        "amplitude": float(amplitude), "complex_hoppings": bool(complex_hoppings), "min_gap": float(min_gap),
        "boundary": boundary, "features": feats, "shard_size": int(shard_size), "seed": int(seed),
        "dtype": dtype,
    }


def _n_shards(spec) -> int:
    return -(-spec["n_samples"] // spec["shard_size"])


def _shard_len(spec, k: int) -> int:
    return min(spec["shard_size"], spec["n_samples"] - k * spec["shard_size"])


# ------------------------------------------------------------------------------- computation
def _exact_windings(batch, clean: bool) -> np.ndarray:
    from ..errors import GaplessError
    from ..invariants.winding.exact import twisted_winding

    if clean:
        return batch.bloch_windings().astype(np.int64)
    if batch.boundary != "periodic":
        return np.full(len(batch), NO_EXACT, np.int64)
    out = np.empty(len(batch), np.int64)
    for i, chain in enumerate(batch):
        try:
            out[i] = twisted_winding(chain)
        except GaplessError:
            out[i] = NO_EXACT
    return out


def compute_shard(spec: Dict[str, Any], k: int) -> Dict[str, np.ndarray]:
    """All arrays of shard ``k`` (a pure function of ``spec`` and ``k``)."""
    from ..systems.chain import sample_chains
    from .features import input_winding, wavefunctions
    from ..parallel import task_seed

    n = _shard_len(spec, k)
    levels = spec["disorder"]
    parts = []
    bounds = np.linspace(0, n, len(levels) + 1).round().astype(int)
    for j, n_j in enumerate(np.diff(bounds)):
        if n_j == 0:
            continue
        level = levels[j]
        dis = None if level is None else {int(m): w for m, w in level.items()}
        windings = spec["windings"]
        if windings:  # sample i of the whole dataset is in sector windings[i % len(windings)]
            r = (k * spec["shard_size"] + int(bounds[j])) % len(windings)
            windings = windings[r:] + windings[:r]
        batch = sample_chains(
            int(n_j), spec["n_cells"], spec["ranges"], windings=windings, amplitude=spec["amplitude"],
            complex_hoppings=spec["complex_hoppings"], min_gap=spec["min_gap"], disorder=dis,
            boundary=spec["boundary"], seed=task_seed(spec["seed"], k, j),
        )
        h = batch.hopping_blocks()
        parts.append({
            "h": h,
            "w_real": input_winding(wavefunctions(h), spec["boundary"]),
            "exact": _exact_windings(batch, dis is None),
            "sector": batch.bloch_windings().astype(np.int64),
            "hoppings": batch.hoppings,
            "disorder_level": np.full(int(n_j), j, np.int64),
        })
    out = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    out["label"] = np.where(out["exact"] != NO_EXACT, out["exact"], np.rint(out["w_real"])).astype(np.int64)
    real = np.dtype(spec["dtype"])
    cplx = np.result_type(real, np.complex64)
    for name, arr in compute_features(out["h"], spec["features"]).items():
        out[name] = arr.astype(cplx if np.iscomplexobj(arr) else real)
    return out


def make_arrays(n_samples: int, n_cells: int = 20, *, executor="serial", progress: bool = False, **kwargs) -> Dict[str, np.ndarray]:
    """The arrays :func:`generate` would write, concatenated in memory (no disk).

    Same parameters as :func:`generate` (without ``path``); identical values for the same seed.
    """
    spec = _spec(n_samples, n_cells, **_defaults(kwargs))
    return _compute_arrays(spec, compute_shard, executor=executor, progress=progress, desc="generate")


def _compute_arrays(spec: Dict[str, Any], compute, *, executor="serial", progress: bool = False,
                   desc: str = "generate") -> Dict[str, np.ndarray]:
    """Every shard of a checked ``spec`` computed with ``compute(spec, k)`` and concatenated in memory.

    The in-memory twin of :func:`write_dataset` for every dataset kind; the spec is under ``"_spec"``.
    """
    from ..parallel import map_tasks

    tasks = [(k, (spec, k)) for k in range(_n_shards(spec))]
    res = map_tasks(compute, tasks, executor, progress=progress, desc=desc)
    _raise_failures(res)
    shards = [res[k] for k in range(len(tasks))]
    arrays = {key: np.concatenate([s[key] for s in shards]) for key in shards[0]}
    arrays["_spec"] = spec  # type: ignore[assignment]
    return arrays


_DEFAULTS = dict(ranges=(0, 1), windings="balanced", disorder=None, amplitude=1.0, complex_hoppings=False,
                 min_gap=0.05, boundary="open", features=("wavefunctions",), shard_size=1000, seed=0,
                 dtype="float64")


def _defaults(kwargs) -> Dict[str, Any]:
    bad = set(kwargs) - set(_DEFAULTS)
    if bad:
        raise TypeError(f"got unknown keyword argument{'s' if len(bad) > 1 else ''} "
                        f"{', '.join(map(repr, sorted(bad)))}; valid keywords: {', '.join(_DEFAULTS)}")
    return {**_DEFAULTS, **kwargs}


def _raise_failures(res) -> None:
    from ..parallel import TaskFailure

    fails = [r for r in res.values() if isinstance(r, TaskFailure)]
    if fails:
        err = fails[0].error
        more = f"; {len(fails) - 1} more shard(s) failed too" if len(fails) > 1 else ""
        msg = f"{err} (while computing shard {fails[0].key}{more})"
        if isinstance(err, ValueError):
            raise ValueError(msg) from err
        raise RuntimeError(f"{type(err).__name__}: {msg}") from err


# ------------------------------------------------------------------------------- HDF5
def _write_shard(path: Path, arrays: Dict[str, np.ndarray], spec: Dict[str, Any], k: int, *, kind: str = KIND,
                 format_version: int = FORMAT_VERSION, count_key: str = "w_real") -> None:
    """Write shard ``k`` atomically (shared by every dataset kind: 1D chains, 2D lattices)."""
    import h5py

    from .._io import atomic_path
    from .._version import __version__

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for key, arr in arrays.items():
                f.create_dataset(key, data=arr, chunks=(1,) + arr.shape[1:] if arr.ndim > 1 else None)
            f.attrs["tntopo_version"] = __version__
            f.attrs["format_version"] = format_version
            f.attrs["kind"] = kind
            f.attrs["seed"] = spec["seed"]
            f.attrs["shard"] = k
            f.attrs["n_samples"] = len(arrays[count_key])
            f.attrs["spec"] = json.dumps(spec)
            f.attrs["complete"] = True


def open_shard(path: Union[str, Path], *, kind: str = KIND, required: str = "w_real", rerun: str = "generate"):
    """Open a shard read-only, turning any HDF5 failure into a :class:`CorruptDatasetError`.

    ``kind``, ``required`` (a dataset every complete shard holds) and ``rerun`` (the function that
    rebuilds it, for the message) let every dataset kind share this reader.
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset shard {str(path)!r} does not exist; run tntopo.data.{rerun} to create it")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise CorruptDatasetError(
            f"dataset shard {str(path)!r} is corrupt or truncated ({exc}); delete it and rerun {rerun} "
            "(it rebuilds only the missing shards)"
        ) from None
    try:
        check_format(f.attrs.get("format_version"), kind, f"shard {str(path)!r}")
    except CorruptDatasetError:
        f.close()
        raise
    if not f.attrs.get("complete", False) or f.attrs.get("kind", kind) != kind or required not in f:
        f.close()
        raise CorruptDatasetError(
            f"{str(path)!r} is not a complete tntopo {kind} dataset shard; delete it and rerun {rerun}"
        )
    return f


def _shard_ok(path: Path, spec: Dict[str, Any], *, kind: str = KIND, required: str = "w_real",
              rerun: str = "generate") -> bool:
    """True when ``path`` is a complete shard of this spec; False (with a warning) when corrupt."""
    if not path.exists():
        return False
    try:
        with open_shard(path, kind=kind, required=required, rerun=rerun) as f:
            return json.loads(f.attrs["spec"]) == spec
    except CorruptDatasetError as exc:
        warnings.warn(f"{exc} -- regenerating it", RuntimeWarning, stacklevel=3)
        return False


@strict_keywords
def read_meta(path: Union[str, Path]) -> Dict[str, Any]:
    """The ``meta.json`` of a dataset directory, its format version checked (clear errors when missing,
    damaged or of an unknown format)."""
    p = Path(path) / META
    if not p.exists():
        raise FileNotFoundError(f"{str(path)!r} is not a tntopo dataset (no {META}); create it with tntopo.data.generate")
    try:
        meta = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptDatasetError(f"{str(p)!r} is corrupt ({exc}); rerun generate with overwrite=True") from None
    if not isinstance(meta, dict):
        raise CorruptDatasetError(f"{str(p)!r} is not a tntopo dataset description; rerun generate with overwrite=True")
    check_format(meta.get("format_version"), meta.get("kind", KIND), f"dataset {str(path)!r}")
    return meta


def _check_executor(executor) -> None:
    from concurrent.futures import Executor

    from .._typing import EXECUTOR_KINDS

    if executor is None or isinstance(executor, Executor) or executor in EXECUTOR_KINDS:
        return
    if isinstance(executor, str) and ":" in executor:
        return
    kinds = ", ".join(repr(k) for k in EXECUTOR_KINDS)
    raise ValueError(f"unknown executor {executor!r}; use None, one of {kinds}, a dask scheduler address "
                     "'tcp://host:port', or a concurrent.futures.Executor")


def _failed_start(root: Path, meta: Dict[str, Any]) -> bool:
    """A dataset directory whose generation never finished a shard (a failed first run)."""
    return not meta.get("complete") and not any(root.glob("shard-*.h5"))


@strict_keywords
def generate(
    path: Union[str, Path],
    n_samples: int,
    n_cells: int = 20,
    *,
    ranges: Sequence[int] = (0, 1),
    windings: Union[str, Sequence[int], None] = "balanced",
    disorder=None,
    amplitude: float = 1.0,
    complex_hoppings: bool = False,
    min_gap: float = 0.05,
    boundary: str = "open",
    features: Union[str, Sequence[str]] = ("wavefunctions",),
    shard_size: int = 1000,
    seed: int = 0,
    dtype: str = "float64",
    executor=None,
    progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Sample chains, compute features and labels, and write them as HDF5 shards in directory ``path``.

    Parameters
    ----------
    path : path
        Dataset directory (created).
    n_samples, n_cells : int
    ranges : sequence of int
        Hopping ranges with random amplitudes (``{0, 1}``: SSH).
    windings : "balanced", sequence of int or None
        Winding sectors filled in turn (balanced classes); ``"balanced"``: every winding between
        ``min(ranges)`` and ``max(ranges)``; ``None``: no balancing.
    disorder : None, float, dict {m: W_m}, or a list of those
        Disorder levels; the samples of a shard are split evenly among them. A bare strength
        ``W`` means ``{0: W, 1: W/2}``.
    amplitude, complex_hoppings, min_gap, boundary :
        As in :func:`tntopo.sample_chains` (``min_gap`` on the clean Bloch gap).
    features : str or sequence of {"wavefunctions", "densities", "hamiltonian"}
        Stored features (any feature can still be recomputed from ``h`` when reading).
    shard_size : int
        Samples per shard (the unit of parallel work, resumption and determinism).
    seed : int
    dtype : {"float64", "float32"}
        Storage dtype of the features.
    executor : see :mod:`tntopo.parallel`
        ``None`` (a local process pool), ``"serial"``, a dask ``Client(...).get_executor()``...
        Workers compute the shards and this process writes them (workers need no shared disk).
    progress : bool
    overwrite : bool
        Replace an existing dataset with other parameters (otherwise that is an error).

    Returns
    -------
    pathlib.Path
        The dataset directory, readable with :class:`tntopo.data.TopoDataset`.
    """
    spec = _spec(n_samples, n_cells, ranges, windings, disorder, amplitude, complex_hoppings, min_gap,
                 boundary, features, shard_size, seed, dtype)
    _check_executor(executor)
    return write_dataset(path, spec, compute_shard, executor=executor, progress=progress, overwrite=overwrite)


def write_dataset(path: Union[str, Path], spec: Dict[str, Any], compute, *, kind: str = KIND,
                  format_version: int = FORMAT_VERSION, count_key: str = "w_real", rerun: str = "generate",
                  executor=None, progress: bool = True, overwrite: bool = False) -> Path:
    """Compute the shards of a checked ``spec`` with ``compute(spec, k)`` and write them in ``path``.

    The one driver of every dataset kind (1D chains, 2D lattices): ``meta.json``, resumption (only
    missing or damaged shards are computed), the check against a dataset made with other
    parameters, workers computing and this process writing each shard atomically as it arrives,
    Ctrl-C or SIGTERM answered at once with nothing written after it (see
    :func:`tntopo.parallel.interruptible`; the local workers are stopped, a rerun resumes).
    ``count_key`` is an array every shard holds (its length is the shard's sample count);
    ``rerun`` names the function for messages.
    """
    from .._io import write_json
    from .._version import __version__

    shard_kind = {"kind": kind, "required": count_key, "rerun": rerun}
    root = Path(path)
    if root.exists() and not root.is_dir():
        raise ValueError(f"{str(root)!r} exists and is not a directory; give a directory for the dataset")
    if (root / META).exists():
        try:
            old_meta = read_meta(root)
        except CorruptDatasetError:
            if not overwrite:
                raise
            old_meta = {}
        old = old_meta.get("spec")
        if old != spec:
            if not overwrite and not _failed_start(root, old_meta):
                diff = sorted(k for k in spec if (old or {}).get(k) != spec[k])
                raise ValueError(
                    f"{str(root)!r} holds a dataset generated with other parameters ({', '.join(diff)}); "
                    "use another path or overwrite=True"
                )
            for p in root.glob("shard-*.h5"):
                p.unlink()
    for p in root.glob("shard-*.h5.*.part"):  # the temporary of a shard being written when a run was killed
        p.unlink()
    meta = {"format_version": format_version, "kind": kind, "tntopo_version": __version__, "spec": spec,
            "n_shards": _n_shards(spec), "complete": False}
    created = [p for p in (root, *root.parents) if not p.exists()][::-1]  # directories this call creates
    write_json(root / META, meta)
    try:
        _compute_shards(root, spec, compute, shard_kind, format_version, executor, progress)
    except BaseException:
        # a run that finished no shard leaves nothing behind (no meta.json, no directory it made):
        # there is nothing to resume, and a corrected rerun starts clean
        if not any(root.glob("shard-*.h5")):
            (root / META).unlink(missing_ok=True)
            for d in reversed(created):
                try:
                    d.rmdir()
                except OSError:
                    break
        raise
    meta["shards"] = [{"file": shard_path(root, k).name, "n_samples": _shard_len(spec, k)} for k in range(_n_shards(spec))]
    meta["complete"] = True
    write_json(root / META, meta)
    return root


def _compute_shards(root: Path, spec, compute, shard_kind, format_version, executor, progress) -> None:
    """Compute the missing shards of ``root`` and write each one as it arrives (see :func:`write_dataset`)."""
    from ..parallel import map_tasks, raise_if_stopped

    kind, count_key = shard_kind["kind"], shard_kind["required"]
    # a spec change removes all old shards above; a stale extra shard from a larger run is ignored
    todo = [k for k in range(_n_shards(spec)) if not _shard_ok(shard_path(root, k), spec, **shard_kind)]

    def write(k, arrays):
        raise_if_stopped()  # Ctrl-C or SIGTERM arrived: write nothing more
        _write_shard(shard_path(root, k), arrays, spec, k, kind=kind, format_version=format_version,
                     count_key=count_key)

    res = map_tasks(compute, [(k, (spec, k)) for k in todo], executor, progress=progress,
                    desc=f"generate {root.name}", on_result=write)
    _raise_failures(res)


@strict_keywords
def read_arrays(path: Union[str, Path], keys: Optional[Sequence[str]] = None) -> Dict[str, np.ndarray]:
    """Load a whole dataset (all shards, concatenated) into numpy arrays."""
    return _read_shards(path, read_meta(path), keys)


def _read_shards(path: Union[str, Path], meta: Dict[str, Any], keys: Optional[Sequence[str]] = None, *,
                kind: str = KIND, required: str = "w_real", rerun: str = "generate") -> Dict[str, np.ndarray]:
    """The arrays ``keys`` (default: all) of every shard listed in ``meta``, concatenated.

    The one shard reader of every dataset kind (``kind``, ``required``, ``rerun`` as in :func:`open_shard`).
    """
    if not meta.get("complete"):
        raise CorruptDatasetError(f"dataset {str(path)!r} is incomplete (generation was interrupted); rerun {rerun} "
                                  "to finish it")
    out: Dict[str, List[np.ndarray]] = {}
    for sh in meta["shards"]:
        with open_shard(Path(path) / sh["file"], kind=kind, required=required, rerun=rerun) as f:
            for key in (keys or list(f.keys())):
                if key not in f:
                    raise ValueError(f"dataset {str(path)!r} has no array {key!r}; it has {sorted(f.keys())}")
                out.setdefault(key, []).append(f[key][()])
    return {k: np.concatenate(v) for k, v in out.items()}
