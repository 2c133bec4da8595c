"""The evaluation protocol's data sets, built in memory and cached on disk as one ``.npz``.

:func:`build_datasets` makes, from a :class:`~tntopo.study.config.StudyConfig`, the named sets

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

Each set is a :class:`EvalSet`: float32 wavefunctions ``x`` ``(n, 2N, 2N)`` (:func:`tntopo.data.wavefunctions`),
integer labels ``y`` and ``w_exact``, the real-space winding number of the same open chain
(the invariant a perfect model computes from this input; for ``ablation`` that of the unablated
chain). Every random draw derives from ``config.seed`` through :func:`tntopo.parallel.task_seed`,
so the sets are identical wherever they are built.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from .._io import atomic_path
from ..chains import SSHChain, sample_chains
from ..data import spectra
from ..errors import GaplessError, GaplessWarning
from ..invariants import twisted_winding, winding_number
from ..parallel import task_seed
from .config import StudyConfig

__all__ = ["EvalSet", "build_datasets", "load_datasets", "save_datasets", "ablate_edge_states", "disorder_key"]

# spawn keys of the sets (stable: adding a set never changes the others)
_KEYS = {"train": 1, "val": 2, "test": 3, "size": 4, "unseen": 5, "disorder": 6}


@dataclass
class EvalSet:
    """One data set: features ``x``, labels ``y``, real-space invariant ``w_exact`` of the input chain."""

    x: np.ndarray
    y: np.ndarray
    w_exact: np.ndarray
    n_cells: int
    removed: Optional[np.ndarray] = None  # ablation: number of states zeroed per sample

    def __len__(self) -> int:
        return len(self.y)

    def torch(self):
        """``(x, y)`` as torch tensors (float32 features, float32 targets) for :func:`tntopo.study.train`."""
        import torch

        return torch.from_numpy(self.x), torch.from_numpy(self.y.astype(np.float32))


def disorder_key(W: float) -> str:
    """Name of the disorder set of strength ``W`` (``"disorder/2.5"``)."""
    return f"disorder/{float(W):g}"


def _real_space(h: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GaplessWarning)
        return np.asarray(winding_number(h, method="dense"), dtype=float)


def _clean_set(cfg: StudyConfig, key: str, n: int, n_cells: int, windings):
    """``(EvalSet, energies)`` of clean chains (the energies serve the edge-state ablation)."""
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


def _disorder_set(cfg: StudyConfig, i_w: int, W: float):
    """``(EvalSet, energies)`` of disordered nearest-neighbour SSH chains of strength ``W``."""
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


def build_datasets(cfg: StudyConfig, progress: bool = False) -> Dict[str, EvalSet]:
    """All data sets of the study (see the module docstring), deterministic in ``cfg.seed``."""
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
    out["ablation"] = EvalSet(xa, test.y.copy(), test.w_exact.copy(), N, removed=removed)
    return out


def save_datasets(sets: Dict[str, EvalSet], path) -> None:
    """Write the sets to one ``.npz`` atomically."""
    arrays = {}
    for name, s in sets.items():
        arrays[f"{name}|x"] = s.x
        arrays[f"{name}|y"] = s.y
        arrays[f"{name}|w_exact"] = s.w_exact
        arrays[f"{name}|n_cells"] = np.array(s.n_cells)
        if s.removed is not None:
            arrays[f"{name}|removed"] = s.removed
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def load_datasets(path) -> Dict[str, EvalSet]:
    """Read sets written by :func:`save_datasets`."""
    path = Path(path)
    try:
        z = np.load(path)
        fields: Dict[str, dict] = {}
        for k in z.files:
            name, f = k.split("|")
            fields.setdefault(name, {})[f] = z[k]
    except Exception as exc:  # noqa: BLE001 - truncated/corrupt file
        raise ValueError(
            f"cannot read the study data sets {str(path)!r} ({type(exc).__name__}: {exc}); delete it to rebuild"
        ) from None
    return {
        name: EvalSet(d["x"], d["y"], d["w_exact"], int(d["n_cells"]), d.get("removed"))
        for name, d in fields.items()
    }
