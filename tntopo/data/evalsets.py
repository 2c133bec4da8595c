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
    the test set with a **fixed** number of mid-spectrum states zeroed out of the wavefunctions
    (:func:`ablate_fixed`, ``2 max|W|`` columns of the training sectors for every chain, whatever its
    winding: the edge zero modes of the open topological chains are among them, and the shape of
    the input carries no label) -- a model that reads the bulk invariant does not care, a model
    that reads an edge-state proxy does. (The first edition zeroed the in-gap states,
    :func:`ablate_in_gap`: exactly ``2|W|`` columns, so the number of zero columns gave the label
    away.)

Study-specific sets (disorder families labelled by their thermodynamic phase, counterfactual
chains) are built by :mod:`tntopo.study` as subclasses of :class:`EvalSet`
(:class:`tntopo.study.counterfactual.CounterfactualSet`, :class:`tntopo.study.disorder.DisorderSet`)
and stored in the same file: an :class:`EvalSet` carries extra per-sample arrays in ``aux``, and a
subclass is stored as its :class:`EvalSet` part (``x``, ``label``, ``w_real``, ``n_cells``,
``removed``, ``aux``; it is read back as an :class:`EvalSet`).

Each set is an :class:`EvalSet` with the target names used across tntopo (see
:mod:`tntopo.data.dataset`): float32 wavefunctions ``x`` ``(n, 2N, 2N)``
(:func:`tntopo.data.wavefunctions`), the exact integer winding ``label`` (Bloch for clean chains,
twisted boundaries for disordered ones) and ``w_real``, the real-space winding number of the input's
own flat band (:func:`tntopo.data.features.input_winding`: the invariant a perfect model computes from this input; for ``ablation`` that of the
unablated chain). Every random draw derives from ``cfg.seed`` through
:func:`tntopo.parallel.task_seed`, so the sets are identical wherever they are built.

Storage (:func:`save_eval_sets`/:func:`load_eval_sets`): one HDF5 file, the storage format of all
tntopo datasets, with a ``format_version`` that is checked on reading.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from .._typing import check_option, strict_keywords
from .features import grouped_levels, spectra
from .generate import CorruptDatasetError, check_format, register_format

__all__ = ["EvalSet", "build_eval_sets", "load_eval_sets", "save_eval_sets", "ablate_fixed", "ablate_in_gap",
           "EVALSETS_FORMAT_VERSION"]

#: Storage format of the evaluation-set files written by this tntopo (2: ``aux`` arrays, fixed ablation;
#: 3: well-posed wavefunctions, ``w_real`` the invariant of the input's own flat band).
EVALSETS_FORMAT_VERSION = 3
KIND = "evalsets"
register_format(KIND, EVALSETS_FORMAT_VERSION)

# spawn keys of the sets (stable: adding a set never changes the others)
_KEYS = {"train": 1, "val": 2, "test": 3, "size": 4, "unseen": 5}


@strict_keywords
@dataclass
class EvalSet:
    """One evaluation set: features ``x``, exact integer windings ``label``, real-space values ``w_real``.

    ``removed`` (ablation sets): number of states zeroed per sample; ``aux``: other per-sample arrays
    of a set (e.g. a baseline's predictions), stored with it. The study's sets are subclasses that
    put their own per-sample arrays in ``aux`` and add attributes that are not stored
    (:class:`tntopo.study.counterfactual.CounterfactualSet`, :class:`tntopo.study.disorder.DisorderSet`).
    """

    x: np.ndarray
    label: np.ndarray
    w_real: np.ndarray
    n_cells: int
    removed: Optional[np.ndarray] = None
    aux: Dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.label)

    def __repr__(self) -> str:
        classes = ", ".join(f"{int(w)}: {int(c)}" for w, c in zip(*np.unique(self.label, return_counts=True)))
        extra = (", ablated" if self.removed is not None else "") + (f", aux={sorted(self.aux)}" if self.aux else "")
        return (f"{type(self).__name__}({len(self)} samples, n_cells={self.n_cells}, "
                f"features {tuple(self.x.shape[1:])}, labels {{{classes}}}{extra})")

    def torch(self):
        """``(x, label)`` as torch tensors (float32 features, float32 targets)."""
        import torch

        return torch.from_numpy(self.x), torch.from_numpy(self.label.astype(np.float32))

    def dataset(self, target: str = "label"):
        """An :class:`~tntopo.data.ArrayDataset` (float32 features, float32 targets) for :func:`tntopo.nn.train`."""
        from .dataset import ArrayDataset

        check_option("target", target, ("label", "w_real"))
        y = getattr(self, target).astype(np.float32)
        return ArrayDataset(self.x, y, features="wavefunctions", target=target, label=self.label, w_real=self.w_real)


def _real_space(psi: np.ndarray) -> np.ndarray:
    """The real-space invariant the input determines (:func:`tntopo.data.features.input_winding`)."""
    from .features import input_winding

    return np.asarray(input_winding(psi), dtype=float)


def _clean_set(cfg, key: str, n: int, n_cells: int, windings):
    """``(EvalSet, energies)`` of clean chains (the energies serve the edge-state ablation)."""
    from ..systems.chain import sample_chains
    from ..parallel import task_seed

    batch = sample_chains(
        n, n_cells, cfg.ranges, windings=windings, amplitude=cfg.amplitude, min_gap=cfg.min_gap,
        seed=task_seed(cfg.seed, _KEYS[key]),
    )
    h = batch.hopping_blocks()
    E, psi = spectra(h)
    return EvalSet(psi.astype(np.float32), batch.bloch_windings().astype(np.int64), _real_space(psi), n_cells,
                   aux={"near_degenerate": grouped_levels(E)}), E


@strict_keywords
def ablate_fixed(x: np.ndarray, n_states: int = 2) -> np.ndarray:
    """Zero the ``n_states`` mid-spectrum columns of every sample (the same columns, whatever its winding).

    With ``n_states >= 2 max|W|`` every in-gap end state of the set is removed, and the shape of the
    input carries no label: every sample has exactly ``n_states`` zero columns.

    Parameters
    ----------
    x : ndarray, shape (B, 2N, 2N)
        Wavefunctions, columns by energy.
    n_states : int
        Even number of columns to zero, centred on the middle of the spectrum.
    """
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[1] != x.shape[2] or x.shape[1] % 2:
        raise ValueError(f"features must have shape (B, 2N, 2N), got {x.shape}; use tntopo.data.wavefunctions(h)")
    N = x.shape[1] // 2
    if not isinstance(n_states, (int, np.integer)) or n_states < 0 or n_states % 2 or n_states > 2 * N:
        raise ValueError(f"n_states must be an even integer in [0, 2N = {2 * N}], got {n_states!r}")
    out = x.copy()
    out[:, :, N - n_states // 2:N + n_states // 2] = 0
    return out


@strict_keywords
def ablate_in_gap(x: np.ndarray, energies: np.ndarray, threshold: float) -> np.ndarray:
    """The first edition's ablation: zero the columns of states with ``|E| < threshold``.

    Kept to show its leak: an open chain of winding ``W`` has ``2|W|`` in-gap states, so the number
    of zero columns reveals the label (:func:`tntopo.study.counterfactual.leak_test`).
    """
    x = np.asarray(x)
    mask = np.abs(np.asarray(energies)) < threshold
    out = x.copy()
    out[np.broadcast_to(mask[:, None, :], out.shape)] = 0
    return out


@strict_keywords
def build_eval_sets(cfg, progress: bool = False) -> Dict[str, EvalSet]:
    """All evaluation sets (see the module docstring), deterministic in ``cfg.seed``.

    Parameters
    ----------
    cfg : StudyConfig or similar
        Needs ``seed``, ``n_cells``, ``ranges``, ``amplitude``, ``min_gap``, ``train_windings``,
        ``unseen_windings``, ``n_train``, ``n_val``, ``n_test``, ``n_size``, ``size_factor`` and
        ``n_unseen``.
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
    out: Dict[str, EvalSet] = {}
    for name, make in tqdm(jobs, desc="data sets", disable=not progress):
        out[name], energies = make()
        if name == "test":  # kept for the first edition's in-gap ablation (its leak is measured)
            out[name].aux["energies"] = energies.astype(np.float32)
    test = out["test"]
    n_states = 2 * max(abs(int(w)) for w in cfg.train_windings)
    xa = ablate_fixed(test.x, n_states)
    out["ablation"] = EvalSet(xa, test.label.copy(), test.w_real.copy(), N,
                              removed=np.full(len(test), n_states, np.int64),
                              aux={"near_degenerate": test.aux["near_degenerate"].copy()})
    return out


_FIELDS = ("x", "label", "w_real", "removed")


@strict_keywords
def save_eval_sets(sets: Dict[str, EvalSet], path) -> None:
    """Write the sets to one HDF5 file atomically (one group per set; a subclass's :class:`EvalSet` part)."""
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
                if s.aux:
                    a = g.create_group("aux")
                    for k, v in s.aux.items():
                        v = np.asarray(v)
                        a.create_dataset(k, data=v.astype("S") if v.dtype.kind == "U" else v)
            f.attrs["complete"] = True


@strict_keywords
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
                aux = {}
                for k, v in (g["aux"].items() if "aux" in g else ()):
                    v = v[()]
                    aux[k] = v.astype("U") if v.dtype.kind == "S" else v
                out[str(g.attrs["name"])] = EvalSet(d["x"], d["label"], d["w_real"], int(g.attrs["n_cells"]),
                                                    d.get("removed"), aux)
        except (KeyError, OSError) as exc:
            raise CorruptDatasetError(f"{str(path)!r} is damaged ({type(exc).__name__}: {exc}); delete it to rebuild") from None
    return out
