"""Evaluation sets of a learning protocol, built in memory and stored as one HDF5 file.

:func:`build_eval_sets` makes, from a protocol configuration (a :class:`tntopo.study.StudyConfig`,
or any object with the attributes listed there), the named sets

``train``, ``val``, ``test``
    clean chains of ``n_cells`` cells in the training winding sectors;
``size``
    the same distribution on ``size_factor * n_cells`` cells;
``unseen``
    winding sectors absent from training;
``ablation``
    the test set with the in-gap states (``|E| < min_gap / 2``: the edge zero modes of the open
    chains) zeroed out of the wavefunctions -- a model that reads the bulk invariant does not
    care, a model that reads an edge-state proxy does;
``disorder/<W>``
    nearest-neighbour SSH chains with disorder ``{0: W, 1: W/2}`` around ``t_0 = 1.1``, labelled
    by the exact twisted-boundary integer of the periodic chain with the same bonds.

Each set is an :class:`EvalSet` with the target names used across tntopo (see
:mod:`tntopo.data.dataset`): float32 wavefunctions ``x`` ``(n, 2N, 2N)``
(:func:`tntopo.data.wavefunctions`), the exact integer winding ``label`` (Bloch for clean chains,
twisted boundaries for disordered ones) and ``w_real``, the real-space winding number of the same
open chain (the invariant a perfect model computes from this input; for ``ablation`` that of the
unablated chain). Every random draw derives from ``cfg.seed`` through
:func:`tntopo.parallel.task_seed`, so the sets are identical wherever they are built.

Storage (:func:`save_eval_sets`/:func:`load_eval_sets`): one HDF5 file, the storage format of all
tntopo datasets, with a ``format_version`` that is checked on reading.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from .features import spectra
from .generate import CorruptDatasetError, check_format, register_format

__all__ = ["EvalSet", "build_eval_sets", "load_eval_sets", "save_eval_sets", "ablate_edge_states", "disorder_key",
           "EVALSETS_FORMAT_VERSION"]

#: Storage format of the evaluation-set files written by this tntopo.
EVALSETS_FORMAT_VERSION = 1
KIND = "evalsets"
register_format(KIND, EVALSETS_FORMAT_VERSION)

# spawn keys of the sets (stable: adding a set never changes the others)
_KEYS = {"train": 1, "val": 2, "test": 3, "size": 4, "unseen": 5, "disorder": 6}


@dataclass
class EvalSet:
    """One evaluation set: features ``x``, exact integer windings ``label``, real-space values ``w_real``."""

    x: np.ndarray
    label: np.ndarray
    w_real: np.ndarray
    n_cells: int
    removed: Optional[np.ndarray] = None  # ablation: number of states zeroed per sample

    def __len__(self) -> int:
        return len(self.label)

    def dataset(self, target: str = "label"):
        """An :class:`~tntopo.data.ArrayDataset` (float32 features, float32 targets) for :func:`tntopo.nn.train`."""
        from .dataset import ArrayDataset

        if target not in ("label", "w_real"):
            raise ValueError(f"unknown target {target!r}; choose one of 'label', 'w_real'")
        y = getattr(self, target).astype(np.float32)
        return ArrayDataset(self.x, y, features="wavefunctions", target=target, label=self.label, w_real=self.w_real)


def disorder_key(W: float) -> str:
    """Name of the disorder set of strength ``W`` (``"disorder/2.5"``)."""
    return f"disorder/{float(W):g}"


def _real_space(h: np.ndarray) -> np.ndarray:
    from ..errors import GaplessWarning
    from ..invariants import winding_number

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GaplessWarning)
        return np.asarray(winding_number(h, method="dense"), dtype=float)


def _clean_set(cfg, key: str, n: int, n_cells: int, windings):
    """``(EvalSet, energies)`` of clean chains (the energies serve the edge-state ablation)."""
    from ..chains import sample_chains
    from ..parallel import task_seed

    batch = sample_chains(
        n, n_cells, cfg.ranges, windings=windings, amplitude=cfg.amplitude, min_gap=cfg.min_gap,
        seed=task_seed(cfg.seed, _KEYS[key]),
    )
    h = batch.hopping_blocks()
    E, psi = spectra(h)
    return EvalSet(psi.astype(np.float32), batch.bloch_windings().astype(np.int64), _real_space(h), n_cells), E


def ablate_edge_states(x: np.ndarray, energies: np.ndarray, threshold: float):
    """Zero the wavefunction columns of states with ``|E| < threshold``; returns ``(x, n_removed)``."""
    mask = np.abs(energies) < threshold  # (n, 2N) states inside the bulk gap
    out = x.copy()
    out[np.broadcast_to(mask[:, None, :], out.shape)] = 0.0
    return out, mask.sum(axis=1)


def _disorder_set(cfg, i_w: int, W: float):
    """``(EvalSet, energies)`` of disordered nearest-neighbour SSH chains of strength ``W``."""
    from ..chains import SSHChain
    from ..errors import GaplessError
    from ..invariants import twisted_winding
    from ..parallel import task_seed

    N = cfg.n_cells
    lo, hi = cfg.disorder_t0
    blocks, labels = [], []
    i = 0
    attempt = 0
    while len(labels) < cfg.n_disorder:
        ss = task_seed(cfg.seed, _KEYS["disorder"], i_w, i, attempt)
        rng = np.random.default_rng(ss.spawn(1)[0])
        t0 = rng.uniform(lo, hi)
        chain = SSHChain({0: t0, 1: cfg.disorder_t1}, N, disorder={0: W, 1: W / 2} if W > 0 else None, seed=ss)
        try:
            y = twisted_winding(chain.with_boundary("periodic"))
        except GaplessError:  # exactly at a transition: draw this sample again
            attempt += 1
            continue
        blocks.append(chain.hopping_block())
        labels.append(int(y))
        i += 1
        attempt = 0
    h = np.stack(blocks)
    E, psi = spectra(h)
    return EvalSet(psi.astype(np.float32), np.asarray(labels, np.int64), _real_space(h), N), E


def build_eval_sets(cfg, progress: bool = False) -> Dict[str, EvalSet]:
    """All evaluation sets (see the module docstring), deterministic in ``cfg.seed``.

    Parameters
    ----------
    cfg : StudyConfig or similar
        Needs ``seed``, ``n_cells``, ``ranges``, ``amplitude``, ``min_gap``, ``train_windings``,
        ``unseen_windings``, ``n_train``, ``n_val``, ``n_test``, ``n_size``, ``size_factor``,
        ``n_unseen``, ``disorder_strengths``, ``disorder_t0`` (a range), ``disorder_t1`` and
        ``n_disorder``.
    progress : bool
    """
    from tqdm.auto import tqdm

    N = cfg.n_cells
    jobs = [
        ("train", lambda: _clean_set(cfg, "train", cfg.n_train, N, cfg.train_windings)),
        ("val", lambda: _clean_set(cfg, "val", cfg.n_val, N, cfg.train_windings)),
        ("test", lambda: _clean_set(cfg, "test", cfg.n_test, N, cfg.train_windings)),
        ("size", lambda: _clean_set(cfg, "size", cfg.n_size, cfg.size_factor * N, cfg.train_windings)),
        ("unseen", lambda: _clean_set(cfg, "unseen", cfg.n_unseen, N, cfg.unseen_windings)),
    ]
    jobs += [(disorder_key(W), (lambda i=i, W=W: _disorder_set(cfg, i, W))) for i, W in enumerate(cfg.disorder_strengths)]
    out: Dict[str, EvalSet] = {}
    energies = {}
    for name, make in tqdm(jobs, desc="data sets", disable=not progress):
        out[name], energies[name] = make()
    test = out["test"]
    xa, removed = ablate_edge_states(test.x, energies["test"], cfg.min_gap / 2)
    out["ablation"] = EvalSet(xa, test.label.copy(), test.w_real.copy(), N, removed=removed)
    return out


_FIELDS = ("x", "label", "w_real", "removed")


def save_eval_sets(sets: Dict[str, EvalSet], path) -> None:
    """Write the sets to one HDF5 file atomically (one group per set)."""
    import h5py

    from .._io import atomic_path
    from .._version import __version__

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format_version"] = EVALSETS_FORMAT_VERSION
            f.attrs["kind"] = KIND
            f.attrs["tntopo_version"] = __version__
            for i, (name, s) in enumerate(sets.items()):
                g = f.create_group(f"set{i:03d}")
                g.attrs["name"] = name
                g.attrs["n_cells"] = int(s.n_cells)
                for k in _FIELDS:
                    v = getattr(s, k)
                    if v is not None:
                        g.create_dataset(k, data=v)
            f.attrs["complete"] = True


def load_eval_sets(path) -> Dict[str, EvalSet]:
    """Read sets written by :func:`save_eval_sets` (format version checked)."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise CorruptDatasetError(f"cannot read the evaluation sets {str(path)!r} ({exc}); delete it to rebuild") from None
    with f:
        check_format(f.attrs.get("format_version"), str(f.attrs.get("kind", "?")), f"evaluation-set file {str(path)!r}")
        if not f.attrs.get("complete", False):
            raise CorruptDatasetError(f"{str(path)!r} is incomplete; delete it to rebuild")
        out: Dict[str, EvalSet] = {}
        try:
            for key in sorted(f.keys()):
                g = f[key]
                d: Dict[str, Any] = {k: g[k][()] for k in _FIELDS if k in g}
                out[str(g.attrs["name"])] = EvalSet(d["x"], d["label"], d["w_real"], int(g.attrs["n_cells"]),
                                                    d.get("removed"))
        except (KeyError, OSError) as exc:
            raise CorruptDatasetError(f"{str(path)!r} is damaged ({type(exc).__name__}: {exc}); delete it to rebuild") from None
    return out
