"""2D datasets: random QWZ / Haldane lattices with disorder -> features and Chern labels.

Sample ``i`` is a pure function of ``(seed, i)``: its model parameters, disorder strength and
disorder realization are drawn from :func:`tntopo.parallel.task_seed` ``(seed, i)``, so the bytes
are the same for any executor, number of workers and ``shard_size``. Work is cut into shards of
``shard_size`` samples (the unit of parallelism, resumption and storage), run with
:func:`tntopo.parallel.map_tasks`, and written in the layout of :func:`tntopo.data.generate`:
``<dir>/meta.json`` (``kind="lattice2d"``, ``format_version`` :data:`FORMAT_VERSION`, checked on
reading) plus ``<dir>/shard-00000.h5`` files written atomically by the calling process.

Per sample the arrays are

* features: ``"hamiltonian"`` ``(n, n)`` (complex, basis ``(x * Ly + y) * n_orb + orb``, the
  sample's own boundary) and/or ``"eigen"``: ``energies`` ``(n,)`` and ``states`` ``(n, n)``
  (``states[:, k]`` the eigenvector of ``energies[k]``, as from ``numpy.linalg.eigh``), the input
  of :class:`tntopo.nn.TopoNet2D`;
* ``c_real`` (float): the bulk local Chern marker of the open sample
  (``tntopo.chern_number(lattice, method="marker")``, default bulk region ``L//4 <= x < L - L//4``,
  the output of ``TopoNet2D(shape, init="exact")``; ``nan`` for samples with a periodic axis, where
  it is not defined);
* ``exact`` (int): an exact integer -- the Fukui-Hatsugai-Suzuki Chern number for clean
  lattices, the Bott index of the same realization closed into a torus for disordered ones
  (``tntopo.chern_number(..., method="fhs"/"bott")``) -- or :data:`NO_EXACT` where the system is
  gapless at the Fermi level;
* ``label`` (int): ``exact`` where defined, else ``round(c_real)`` (the class a model should predict);
* ``params`` ``(n_params,)``: the model parameters (names in ``meta["spec"]["param_names"]``) and
  ``disorder`` (float): the disorder strength ``W``.
"""
from __future__ import annotations

import json
import numbers
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .._typing import Boundary, DType, LatticeTarget, check_option, strict_keywords
from .generate import (NO_EXACT, _check_executor, _compute_arrays, _read_shards, _shard_len, read_meta,
                       write_dataset)

__all__ = ["make_lattice_arrays", "generate_lattice_dataset", "read_lattice_arrays", "lattice_dataset",
           "LATTICE_MODELS", "LATTICE_FEATURES"]

#: Models and their default parameters: a number is fixed, a pair ``(low, high)`` is drawn uniformly.
LATTICE_MODELS: Dict[str, Dict[str, Any]] = {
    "qwz": {"m": (-3.0, 3.0)},
    "haldane": {"t1": 1.0, "t2": 0.3, "phi": (-np.pi, np.pi), "M": (-2.0, 2.0)},
}
LATTICE_FEATURES = ("hamiltonian", "eigen")
FORMAT_VERSION = 1
KIND = "lattice2d"
# how the shared shard reader of tntopo.data.generate checks this kind's shards
_SHARD_KIND = {"kind": KIND, "required": "label", "rerun": "generate_lattice_dataset"}


# ------------------------------------------------------------------------------- parameters
def _value_or_range(name: str, v) -> Union[float, List[float]]:
    if isinstance(v, numbers.Real) and not isinstance(v, bool):
        if not np.isfinite(v):
            raise ValueError(f"{name} = {v!r} must be finite")
        return float(v)
    try:
        lo, hi = v
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or a range (low, high), got {v!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
        raise ValueError(f"range {name} = {v!r} must be finite with low <= high")
    return [lo, hi]


def _lattice_spec(n_samples, shape, model, params, disorder, boundary, features, shard_size, seed, dtype) -> Dict[str, Any]:
    from ..nn.chern import _check_shape

    if not isinstance(n_samples, numbers.Integral) or isinstance(n_samples, bool) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if not isinstance(shard_size, numbers.Integral) or isinstance(shard_size, bool) or shard_size < 1:
        raise ValueError(f"shard_size must be a positive integer, got {shard_size!r}")
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    Lx, Ly = _check_shape(shape)
    if Lx < 4 or Ly < 4:
        raise ValueError(f"shape {(Lx, Ly)} is too small for a bulk region; use at least 4x4 cells")
    if model not in LATTICE_MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {set(LATTICE_MODELS)}")
    params = {} if params is None else params
    if not isinstance(params, Mapping):
        raise ValueError(f"params must be a dict of parameter values or ranges, got {type(params).__name__}")
    bad = set(params) - set(LATTICE_MODELS[model])
    if bad:
        raise ValueError(f"unknown parameter(s) {sorted(bad)} of model {model!r}; it has {sorted(LATTICE_MODELS[model])}")
    full = {k: _value_or_range(k, params.get(k, v)) for k, v in LATTICE_MODELS[model].items()}
    W = _value_or_range("disorder", 0.0 if disorder is None else disorder)
    if min(np.atleast_1d(W)) < 0:
        raise ValueError(f"disorder {disorder!r} must be >= 0")
    check_option("boundary", boundary, Boundary)
    feats = [features] if isinstance(features, str) else list(features)
    badf = [f for f in feats if f not in LATTICE_FEATURES]
    if badf or not feats:
        raise ValueError(f"unknown or no feature(s) {badf}; choose from {set(LATTICE_FEATURES)}")
    check_option("dtype", dtype, DType)
    return {
        "kind": KIND, "n_samples": int(n_samples), "shape": [Lx, Ly], "model": model, "params": full,
        "param_names": list(full), "disorder": W, "boundary": boundary, "features": feats,
        "shard_size": int(shard_size), "seed": int(seed), "dtype": dtype,
    }


def _draw(rng: np.random.Generator, v) -> float:
    return float(v) if not isinstance(v, list) else float(rng.uniform(v[0], v[1]))


def sample_lattice(spec: Dict[str, Any], i: int):
    """Lattice of sample ``i`` (a pure function of ``spec["seed"]`` and ``i``) and its parameter values."""
    from ..systems.lattice2d import Lattice2D
    from ..parallel import task_seed

    ss = task_seed(spec["seed"], i)
    params_ss, disorder_ss = ss.spawn(2)
    rng = np.random.default_rng(params_ss)
    values = {k: _draw(rng, v) for k, v in spec["params"].items()}
    W = _draw(rng, spec["disorder"])
    factory = getattr(Lattice2D, spec["model"])
    lat = factory(**values, shape=tuple(spec["shape"]), boundary=spec["boundary"], disorder=W, seed=disorder_ss)
    return lat, values, W


def _exact(lat) -> int:
    from .. import errors
    from ..invariants.chern.api import chern_number

    uncertified = tuple(getattr(errors, name) for name in ("GaplessError", "PrecisionError") if hasattr(errors, name))
    try:
        if lat.disorder == 0:
            return int(chern_number(lat, method="fhs"))
        return int(chern_number(lat.with_boundary("periodic"), method="bott"))
    except uncertified:
        return NO_EXACT


def compute_lattice_shard(spec: Dict[str, Any], k: int) -> Dict[str, np.ndarray]:
    """All arrays of shard ``k``; sample ``i`` depends only on ``(spec, i)``."""
    from ..invariants.chern.api import chern_number

    start = k * spec["shard_size"]
    rows: Dict[str, List[Any]] = {key: [] for key in ("params", "disorder", "c_real", "exact", "hamiltonian", "energies", "states")}
    for i in range(start, start + _shard_len(spec, k)):
        lat, values, W = sample_lattice(spec, i)
        H = np.asarray(lat.hamiltonian(), dtype=complex)
        if spec["boundary"] == "open":
            C = float(chern_number(lat, method="marker", warn=False))
        else:
            C = float("nan")
        rows["params"].append([values[name] for name in spec["param_names"]])
        rows["disorder"].append(W)
        rows["c_real"].append(C)
        rows["exact"].append(_exact(lat))
        if "hamiltonian" in spec["features"]:
            rows["hamiltonian"].append(H)
        if "eigen" in spec["features"]:
            E, U = np.linalg.eigh(H)
            rows["energies"].append(E)
            rows["states"].append(U)
    real = np.dtype(spec["dtype"])
    cplx = np.result_type(real, np.complex64)
    out = {
        "params": np.asarray(rows["params"], dtype=np.float64),
        "disorder": np.asarray(rows["disorder"], dtype=np.float64),
        "c_real": np.asarray(rows["c_real"], dtype=np.float64),
        "exact": np.asarray(rows["exact"], dtype=np.int64),
    }
    rounded = np.rint(np.nan_to_num(out["c_real"], nan=NO_EXACT)).astype(np.int64)
    out["label"] = np.where(out["exact"] != NO_EXACT, out["exact"], rounded)
    if rows["hamiltonian"]:
        out["hamiltonian"] = np.asarray(rows["hamiltonian"]).astype(cplx)
    if rows["energies"]:
        out["energies"] = np.asarray(rows["energies"]).astype(real)
        out["states"] = np.asarray(rows["states"]).astype(cplx)
    return out


_DEFAULTS = dict(model="qwz", params=None, disorder=0.0, boundary="open", features=("hamiltonian",),
                 shard_size=100, seed=0, dtype="float64")


def _with_defaults(kwargs) -> Dict[str, Any]:
    bad = set(kwargs) - set(_DEFAULTS)
    if bad:
        raise TypeError(f"got unknown keyword argument{'s' if len(bad) > 1 else ''} "
                        f"{', '.join(map(repr, sorted(bad)))}; valid keywords: {', '.join(_DEFAULTS)}")
    return {**_DEFAULTS, **kwargs}


def make_lattice_arrays(n_samples: int, shape: Tuple[int, int] = (8, 8), *, executor="serial",
                        progress: bool = False, **kwargs) -> Dict[str, np.ndarray]:
    """The arrays :func:`generate_lattice_dataset` would write, concatenated in memory (no disk).

    Same parameters as :func:`generate_lattice_dataset` (without ``path`` and ``overwrite``);
    identical values for the same seed, whatever the executor. The spec is under key ``"_spec"``.

    Examples
    --------
    >>> from tntopo.data import make_lattice_arrays
    >>> a = make_lattice_arrays(4, (6, 6), params={"m": (-3, 3)}, disorder=(0, 2), seed=1)
    >>> a["hamiltonian"].shape, a["label"].shape
    ((4, 72, 72), (4,))
    """
    o = _with_defaults(kwargs)
    spec = _lattice_spec(n_samples, shape, o["model"], o["params"], o["disorder"], o["boundary"], o["features"],
                         o["shard_size"], o["seed"], o["dtype"])
    return _compute_arrays(spec, compute_lattice_shard, executor=executor, progress=progress, desc="generate 2D")


# ------------------------------------------------------------------------------- HDF5
@strict_keywords
def generate_lattice_dataset(
    path: Union[str, Path],
    n_samples: int,
    shape: Tuple[int, int] = (8, 8),
    *,
    model: str = "qwz",
    params: Optional[Mapping[str, Any]] = None,
    disorder=0.0,
    boundary: str = "open",
    features: Union[str, Sequence[str]] = ("hamiltonian",),
    shard_size: int = 100,
    seed: int = 0,
    dtype: str = "float64",
    executor=None,
    progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Sample 2D lattices, compute features and Chern labels, write them as HDF5 shards in ``path``.

    Parameters
    ----------
    path : path
        Dataset directory (created).
    n_samples : int
    shape : (int, int)
        ``(Lx, Ly)`` cells (at least 4x4).
    model : {"qwz", "haldane"}
        Lattice factory of :class:`tntopo.Lattice2D`.
    params : dict, optional
        Model parameters, each a number (fixed) or a range ``(low, high)`` drawn uniformly per
        sample; missing ones take :data:`LATTICE_MODELS` defaults (QWZ: ``m`` in ``(-3, 3)``;
        Haldane: ``t1 = 1``, ``t2 = 0.3``, ``phi`` in ``(-pi, pi)``, ``M`` in ``(-2, 2)``).
    disorder : float or (float, float)
        Anderson disorder strength ``W`` (fixed) or its range, drawn per sample.
    boundary : {"open", "periodic"}
        Boundary of the stored Hamiltonians (``c_real`` needs ``"open"``; labels are exact either way).
    features : str or sequence of {"hamiltonian", "eigen"}
        ``"hamiltonian"``: ``hamiltonian`` ``(n, n)``; ``"eigen"``: ``energies`` ``(n,)`` and
        ``states`` ``(n, n)``.
    shard_size : int
        Samples per shard (unit of parallel work, resumption and files; the samples themselves
        do not depend on it).
    seed : int
        Master seed: sample ``i`` uses ``tntopo.parallel.task_seed(seed, i)``.
    dtype : {"float64", "float32"}
        Storage precision of the features (complex features use the matching complex type).
    executor : see :mod:`tntopo.parallel`
        ``None`` (a local process pool), ``"serial"``, ``"thread"``, a dask executor...
        Workers compute shards and return them; this process writes each one atomically as it
        arrives (workers need no shared file system).
    progress : bool
    overwrite : bool
        Replace an existing dataset made with other parameters (otherwise that is an error).

    Returns
    -------
    pathlib.Path
        The dataset directory; read it with :func:`read_lattice_arrays`.
    """
    spec = _lattice_spec(n_samples, shape, model, params, disorder, boundary, features, shard_size, seed, dtype)
    _check_executor(executor)
    return write_dataset(path, spec, compute_lattice_shard, kind=KIND, format_version=FORMAT_VERSION, count_key="label",
                         rerun="generate_lattice_dataset", executor=executor, progress=progress, overwrite=overwrite)


@strict_keywords
def read_lattice_arrays(path: Union[str, Path], keys: Optional[Sequence[str]] = None) -> Dict[str, np.ndarray]:
    """Load a whole 2D dataset (all shards, concatenated) into numpy arrays; the spec is under ``"_spec"``."""
    meta = read_meta(path)
    if meta.get("kind") != KIND:
        raise ValueError(f"{str(path)!r} is not a 2D lattice dataset; read 1D datasets with tntopo.data.read_arrays")
    arrays: Dict[str, Any] = _read_shards(path, meta, keys, **_SHARD_KIND)
    arrays["_spec"] = meta["spec"]
    return arrays


@strict_keywords
def lattice_dataset(arrays: Mapping[str, Any], target: str = "label"):
    """A :class:`tntopo.data.ArrayDataset` of Hamiltonians ``(n, n)`` and ``target`` for :class:`~tntopo.nn.TopoNet2D`.

    ``arrays`` come from :func:`make_lattice_arrays` or :func:`read_lattice_arrays` (with the
    ``"hamiltonian"`` feature); ``target`` is ``"label"`` (integer class), ``"c_real"`` (bulk marker)
    or ``"exact"``. The other per-sample arrays are kept as attributes (``params``, ``disorder``...).
    """
    from .dataset import ArrayDataset

    check_option("target", target, LatticeTarget)
    if "hamiltonian" not in arrays:
        raise ValueError("the arrays have no 'hamiltonian' feature; generate them with features=('hamiltonian', ...)")
    extras = {k: v for k, v in arrays.items() if k not in ("hamiltonian", "_spec", "states", "energies", target)
              and isinstance(v, np.ndarray)}
    return ArrayDataset(arrays["hamiltonian"], arrays[target], **extras)
