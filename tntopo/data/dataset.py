"""torch Datasets: :class:`TopoDataset` (HDF5 shards, opened lazily) and :class:`ArrayDataset` (in memory).

Both give ``ds[i] -> (features (2N, 2N) tensor, target)`` with ``target`` one of the names used
across tntopo:

``"label"``
    the exact integer winding number, the class a model should predict (int64);
``"w_real"``
    the real-space winding number of the input chain, what a perfect model computes (float64);
``"exact"``
    the integer of an independent exact route, or :data:`~tntopo.data.NO_EXACT` where there is none.
"""
from __future__ import annotations

import bisect
from pathlib import Path
from typing import Dict, Optional, Union

import numpy as np
import torch

from .._typing import strict_keywords
from .features import FEATURES, compute_features
from .generate import CorruptDatasetError, make_arrays, open_shard, read_meta

__all__ = ["TopoDataset", "ArrayDataset", "make_dataset", "TARGETS"]

#: Target names (see the module docstring).
TARGETS = ("label", "w_real", "exact")


def _check_feature(features: str) -> str:
    if features not in FEATURES:
        raise ValueError(f"unknown features {features!r}; choose one of {set(FEATURES)}")
    return features


def _check_target(target: str) -> str:
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose one of {set(TARGETS)}")
    return target


def _torch_dtype(dtype, complex_: bool):
    dtype = dtype or torch.get_default_dtype()
    if complex_:
        return torch.complex128 if dtype == torch.float64 else torch.complex64
    return dtype


class ArrayDataset(torch.utils.data.Dataset):
    """In-memory dataset: features ``x`` ``(n, 2N, 2N)`` and targets ``y`` ``(n,)`` as tensors.

    Attributes ``label``, ``w_real``, ``exact``, ``sector``, ``h``, ``hoppings``, ``disorder_level``
    (numpy) keep the other per-sample arrays when known; ``features`` and ``target`` name what
    ``x`` and ``y`` are (``None`` when unknown; :func:`tntopo.nn.training.train` records them in the
    model). ``tensors = (x, y)`` lets :func:`tntopo.nn.training.train` slice batches directly.
    """

    def __init__(self, x, y, *, features: Optional[str] = None, target: Optional[str] = None, **extras):
        self.x = torch.as_tensor(x)
        self.y = torch.as_tensor(y)
        self.features, self.target = features, target
        if len(self.x) != len(self.y):
            raise ValueError(f"features and targets differ in length ({len(self.x)} vs {len(self.y)})")
        self.extras: Dict[str, np.ndarray] = {k: np.asarray(v) for k, v in extras.items() if v is not None}
        for k, v in self.extras.items():
            if v.ndim == 0 or len(v) != len(self.x):
                got = "a scalar" if v.ndim == 0 else f"length {len(v)}"
                raise ValueError(f"extra array {k!r} has {got}, expected one entry per sample ({len(self.x)}); "
                                 "keyword arguments of ArrayDataset beyond features= and target= are per-sample "
                                 "arrays")

    @property
    def tensors(self):
        return self.x, self.y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]

    def __getattr__(self, name):
        extras = self.__dict__.get("extras", {})
        if name in extras:
            return extras[name]
        raise AttributeError(name)

    @property
    def n_cells(self) -> int:
        return self.x.shape[-1] // 2

    def subset(self, indices) -> "ArrayDataset":
        """A new dataset with the samples at ``indices``."""
        idx = np.asarray(indices)
        return ArrayDataset(self.x[torch.as_tensor(idx)], self.y[torch.as_tensor(idx)], features=self.features,
                            target=self.target, **{k: v[idx] for k, v in self.extras.items()})

    def split(self, fraction: float = 0.8, seed: int = 0):
        """Random ``(first, second)`` split with ``round(fraction * n)`` samples in the first."""
        if not 0 < fraction < 1:
            raise ValueError(f"fraction must lie in (0, 1), got {fraction!r}")
        perm = np.random.default_rng(seed).permutation(len(self))
        k = int(round(fraction * len(self)))
        return self.subset(np.sort(perm[:k])), self.subset(np.sort(perm[k:]))

    def __repr__(self) -> str:
        return f"ArrayDataset({len(self)} samples, features {tuple(self.x.shape[1:])} {self.x.dtype}, target {self.y.dtype})"


def _from_arrays(arrays, features: str, target: str, dtype) -> ArrayDataset:
    if features not in arrays:
        arrays[features] = compute_features(arrays["h"], features)[features]
    x = arrays[features]
    x = torch.as_tensor(x).to(_torch_dtype(dtype, np.iscomplexobj(x)))
    y = torch.as_tensor(arrays[target])
    extras = {k: arrays.get(k) for k in ("label", "w_real", "exact", "sector", "h", "hoppings", "disorder_level")}
    return ArrayDataset(x, y, features=features, target=target, **extras)


def make_dataset(n_samples: int, n_cells: int = 20, *, features: str = "wavefunctions", target: str = "label",
                 dtype: Optional[torch.dtype] = None, executor="serial", progress: bool = False,
                 **kwargs) -> ArrayDataset:
    """Generate a dataset in memory (no disk): same samples as :func:`tntopo.data.generate`.

    ``**kwargs`` are those of :func:`generate` (``ranges``, ``windings``, ``disorder``,
    ``boundary``, ``seed``, ``shard_size``...). ``dtype`` is the feature dtype (default: torch's).

    Examples
    --------
    >>> train = make_dataset(2000, 20, seed=0)
    >>> val = make_dataset(500, 20, seed=1)
    """
    _check_feature(features)
    _check_target(target)
    kwargs.setdefault("features", (features,))
    arrays = make_arrays(n_samples, n_cells, executor=executor, progress=progress, **kwargs)
    arrays.pop("_spec")
    return _from_arrays(arrays, features, target, dtype)


@strict_keywords
class TopoDataset(torch.utils.data.Dataset):
    """A dataset written by :func:`tntopo.data.generate`, read lazily from its HDF5 shards.

    Parameters
    ----------
    path : path
        The dataset directory.
    features : {"wavefunctions", "densities", "hamiltonian"}
        Read if stored, otherwise computed from the stored hopping block on the fly.
    target : {"label", "w_real", "exact"}
        ``ds[i][1]``: the exact integer winding (int64), the real-space value (float64) or the
        integer of the independent exact route (see the module docstring).
    dtype : torch.dtype, optional
        Feature dtype (default: torch's default; complex features keep a complex dtype).

    Notes
    -----
    Files are opened on first access in each process, so a :class:`torch.utils.data.DataLoader`
    with ``num_workers > 0`` works (each worker opens its own handles). The small per-sample
    arrays (``label``, ``w_real``, ``exact``, ``sector``) are read at construction.
    """

    def __init__(self, path: Union[str, Path], features: str = "wavefunctions", target: str = "label",
                 dtype: Optional[torch.dtype] = None):
        self.path = Path(path)
        self.features = _check_feature(features)
        self.target = _check_target(target)
        self.dtype = dtype or torch.get_default_dtype()
        meta = read_meta(self.path)
        if not meta.get("complete"):
            raise CorruptDatasetError(
                f"dataset {str(self.path)!r} is incomplete (generation was interrupted); rerun generate to finish it"
            )
        self.metadata = meta
        self.spec = meta["spec"]
        self._files = [self.path / s["file"] for s in meta["shards"]]
        self._offsets = [0]
        small: Dict[str, list] = {k: [] for k in ("label", "w_real", "exact", "sector")}
        for p, s in zip(self._files, meta["shards"]):
            with open_shard(p) as f:
                n = int(f["w_real"].shape[0])
                if n != s["n_samples"]:
                    raise CorruptDatasetError(
                        f"shard {str(p)!r} has {n} samples, meta.json says {s['n_samples']}; rerun generate"
                    )
                for k in small:
                    small[k].append(f[k][()])
            self._offsets.append(self._offsets[-1] + n)
        for k, v in small.items():
            setattr(self, k, np.concatenate(v))
        self._stored = self.features in self.spec["features"]
        self._handles: Dict[int, object] = {}

    def __len__(self) -> int:
        return self._offsets[-1]

    @property
    def n_cells(self) -> int:
        return int(self.spec["n_cells"])

    def _handle(self, k: int):
        f = self._handles.get(k)
        if f is None:
            f = self._handles[k] = open_shard(self._files[k])
        return f

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_handles"] = {}  # h5py handles do not pickle: each worker opens its own
        return state

    def __getitem__(self, i):
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for a dataset of {n} samples")
        i = i % n
        k = bisect.bisect_right(self._offsets, i) - 1
        j = i - self._offsets[k]
        f = self._handle(k)
        try:
            if self._stored:
                x = f[self.features][j]
            else:
                x = compute_features(f["h"][j], self.features)[self.features]
            y = f[self.target][j]
        except OSError as exc:
            raise CorruptDatasetError(f"could not read sample {j} of {str(self._files[k])!r} ({exc}); the file is damaged") from None
        xt = torch.as_tensor(x).to(_torch_dtype(self.dtype, np.iscomplexobj(x)))
        return xt, torch.as_tensor(y)

    def to_memory(self) -> ArrayDataset:
        """Load everything into an :class:`ArrayDataset` (fast training on small datasets)."""
        from .generate import read_arrays

        return _from_arrays(read_arrays(self.path), self.features, self.target, self.dtype)

    def close(self) -> None:
        for f in self._handles.values():
            f.close()
        self._handles = {}

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def __repr__(self) -> str:
        s = self.spec
        return (f"TopoDataset({str(self.path)!r}, {len(self)} samples, n_cells={s['n_cells']}, "
                f"features={self.features!r}, target={self.target!r})")

