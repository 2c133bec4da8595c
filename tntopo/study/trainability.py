"""Trainability that measures learning the invariant: ``learns_invariant`` and the trainability map.

The first edition called a seed *trainable* when its validation accuracy reached 95%: every TopoNet
variant scored 1.00 while the same seeds' unseen-winding accuracy ranged from 0 to 1. Here a
trained seed **learns the invariant** when it is correct (accuracy ``>= threshold``, 0.95) on

* ``unseen``: winding sectors absent from training;
* ``long``: chains ``size_factor`` (4) times longer -- where the model can take them; a model built
  for one length gets ``"n/a"``, which is never counted as a failure;
* ``counterfactual``: :func:`tntopo.study.counterfactual.counterfactual_set`, where the edge-state
  proxy and the bulk invariant disagree.

``learns_invariant`` of a model is the fraction of its seeds that do (:func:`learns_invariant`).

:func:`trainability_map` maps it over chain length, initialization (random at several scales; the
exact weights perturbed by ``eps``) and training diversity (training windings ``{0, 1}`` vs
``{-2..2}``); models, training and prediction are injected, results are plain JSON-able dicts.

All clean chains come from :func:`tntopo.sample_chains` over ``ranges`` (default ``-2..3`` so
that both diversities leave unseen sectors: ``{-2, -1, 2, 3}`` resp. ``{3}``; sectors ``+-3`` of
``-3..3`` are too rare under the gap floor, ~2e-4 of draws), amplitudes
in ``[-amplitude, amplitude]``, Bloch gap ``>= min_gap``, labels the exact Bloch winding.
The training function comes from one adapter, :func:`default_train`.
"""
from __future__ import annotations

import math
import time
import warnings
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..parallel import task_seed
from .sectors import sample_sectors  # noqa: F401 - part of this module's API

__all__ = [
    "NA",
    "default_train",
    "predict_labels",
    "protocol_sets",
    "sample_sectors",
    "seed_report",
    "learns_invariant",
    "initialize",
    "toponet_factory",
    "model_factory",
    "verdict",
    "trainability_map",
    "DEFAULT_INITS",
    "DEFAULT_DIVERSITIES",
    "QUICK_MAP",
    "FULL_MAP",
]

#: Marker of a criterion the model cannot be tested on (e.g. a fixed-length model on longer chains).
NA = "n/a"
CRITERIA = ("unseen", "long", "counterfactual")
DEFAULT_INITS: Tuple[Dict[str, Any], ...] = (
    {"kind": "random", "scale": 0.3}, {"kind": "random", "scale": 1.0}, {"kind": "random", "scale": 3.0},
    {"kind": "exact", "eps": 0.01}, {"kind": "exact", "eps": 0.1}, {"kind": "exact", "eps": 1.0},
)
DEFAULT_DIVERSITIES: Tuple[Tuple[int, ...], ...] = ((0, 1), (-2, -1, 0, 1, 2))
#: Keyword arguments of :func:`trainability_map` for ``tntopo reproduce --quick`` (a tiny grid, about a
#: minute on 2 cores) and for the full study.
QUICK_MAP: Dict[str, Any] = {
    "n_cells": (8, 16), "inits": ({"kind": "random", "scale": 1.0}, {"kind": "exact", "eps": 0.1}),
    "diversities": DEFAULT_DIVERSITIES, "seeds": 2, "epochs": 5,
    "data": {"n_train": 128, "n_val": 32, "n_unseen": 48, "n_long": 24, "n_counterfactual": 36},
}
FULL_MAP: Dict[str, Any] = {
    "n_cells": (8, 16, 32, 64), "inits": DEFAULT_INITS, "diversities": DEFAULT_DIVERSITIES, "seeds": 10, "epochs": 40,
    "data": {"n_train": 1024, "n_val": 256, "n_unseen": 256, "n_long": 96, "n_counterfactual": 120},
}
_KEYS = {"train": 901, "val": 902, "unseen": 903, "long": 904, "counterfactual": 905, "init": 906}


# ------------------------------------------------------------------------------ adapters
def default_train(model, train_xy, val_xy, *, epochs: int, lr: float, seed: int, batch_size: int = 64, **kw):
    """Train ``model`` in place with the library's training loop (MSE on the winding number by default).

    ``train_xy``/``val_xy`` are ``(x, y)`` tuples of numpy arrays or tensors; extra keywords go to the loop.
    Returns its history.
    """
    import torch

    from ..nn.training import train

    def as_t(xy):
        x, y = xy
        return torch.as_tensor(np.asarray(x)), torch.as_tensor(np.asarray(y), dtype=torch.float32)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train(model, as_t(train_xy), as_t(val_xy), epochs=int(epochs), lr=float(lr), seed=int(seed),
                     batch_size=int(batch_size), progress=False, **kw)


def predict_labels(model, x, *, classes: Optional[Sequence[int]] = None, batch_size: int = 256):
    """Integer predictions of ``model`` on features ``x``, or :data:`NA` if it cannot take their length.

    A ``(B,)`` output (regression) is rounded; a ``(B, C)`` output (classification head) is mapped to
    ``classes[argmax]`` (``classes`` or the model's ``classes`` attribute). A ``ValueError`` from the
    model (wrong chain length) gives ``"n/a"``.
    """
    import torch

    x = torch.as_tensor(np.asarray(x))
    p = next(iter(model.parameters()), None)
    if p is not None and x.is_floating_point():
        x = x.to(p.dtype if p.dtype in (torch.float32, torch.float64) else x.dtype)
    from ..nn.training import eval_mode

    outs = []
    try:
        with eval_mode(model), torch.no_grad():
            for i in range(0, len(x), batch_size):
                outs.append(model(x[i:i + batch_size]).detach().cpu().double())
    except ValueError:
        return NA
    out = torch.cat(outs)
    if out.ndim == 1:
        return np.round(out.numpy()).astype(np.int64)
    cls = classes if classes is not None else getattr(model, "classes", None)
    if cls is None:
        raise ValueError("the model returns class scores (B, C); pass classes=[...] (the winding of each class)")
    return np.asarray(cls)[out.argmax(dim=1).numpy()]


# ------------------------------------------------------------------------------ data
def _reachable(ranges: Sequence[int]) -> List[int]:
    return list(range(min(ranges), max(ranges) + 1))


def protocol_sets(n_cells: int, train_windings: Sequence[int], *, ranges: Sequence[int] = (-2, -1, 0, 1, 2, 3),
                  min_gap: float = 0.4, amplitude: float = 1.0, n_train: int = 512, n_val: int = 128,
                  n_unseen: int = 128, n_long: int = 64, n_counterfactual: int = 96, size_factor: int = 4,
                  determined_only: bool = True, unseen_windings: Optional[Sequence[int]] = None,
                  realspace: bool = False, seed: int = 0) -> Dict[str, Any]:
    """The sets of one trainability cell: ``{"train", "val", "unseen", "long", "counterfactual"}: (x, y)``.

    ``x`` float32 wavefunctions, ``y`` int64 Bloch labels; ``unseen`` are the sectors of ``ranges``
    absent from ``train_windings``; ``long`` has ``size_factor * n_cells`` cells and the training sectors.

    With ``determined_only`` the criterion sets keep only chains whose input determines the label:
    the real-space winding number of the open input chain lies within 0.25 of the Bloch label (short
    chains with long-range hoppings often do not; the exact network cannot be asked for them
    either). The counterfactual families are drawn without any marker
    (:mod:`tntopo.study.counterfactual`) and then filtered the same way, by the bulk-window marker of
    their input (``checks["window_row"]``). ``"determined"`` reports the fraction kept per set
    (``"counterfactual/<family>"`` per family), and a counterfactual family that cannot be drawn (or
    keeps no chain) at this length is left out (``"counterfactual_families"`` lists those kept).

    ``unseen_windings`` picks the unseen sectors (default: every sector ``ranges`` reach that is not
    a training sector); they must be reachable and absent from ``train_windings``. With
    ``realspace`` the output also holds ``"w_real": {"train": ..., "val": ...}``, the real-space
    winding number of each training and validation input (:func:`tntopo.data.features.input_winding`, float64)
    -- the target under which the exact weights are a zero-loss point.
    """
    from ..data import wavefunctions
    from ..data.features import input_winding

    tw = [int(w) for w in train_windings]
    unseen = _unseen_windings(ranges, tw, unseen_windings)
    wreal: Dict[str, np.ndarray] = {}
    kw = dict(ranges=tuple(ranges), min_gap=min_gap, amplitude=amplitude)
    key = (int(n_cells), int(zlib_hash(tw)))
    determined: Dict[str, float] = {}

    def clean(name, n, N, windings, criterion=False):
        m = 2 * n if (criterion and determined_only) else n
        b = sample_sectors(m, N, windings, seed=task_seed(seed, _KEYS[name], *key), **kw)
        h = b.hopping_blocks()
        y = b.bloch_windings().astype(np.int64)
        x = wavefunctions(h)
        if criterion and determined_only:
            ok = np.abs(input_winding(x) - y) < 0.25  # the label the input determines
            determined[name] = float(ok.mean())
            keep = np.flatnonzero(ok)[:n]
            x, y = x[keep], y[keep]
        elif realspace:
            wreal[name] = input_winding(x)
        if len(y) == 0:
            return np.zeros((0, 2 * N, 2 * N), np.float32), y
        return x.astype(np.float32), y

    out: Dict[str, Any] = {
        "train": clean("train", n_train, n_cells, tw),
        "val": clean("val", n_val, n_cells, tw),
        "unseen": clean("unseen", n_unseen, n_cells, unseen, True),
        "long": clean("long", n_long, size_factor * n_cells, tw, True),
    }
    cf_seed = int(task_seed(seed, _KEYS["counterfactual"], *key).generate_state(1)[0])
    xs, ys, kept = _counterfactual_families(n_cells, n_counterfactual, determined_only, cf_seed, kw, determined)
    if xs:
        out["counterfactual"] = (np.concatenate(xs), np.concatenate(ys))
    for k in ("unseen", "long"):
        if len(out[k][1]) == 0:
            del out[k]
    out["determined"] = determined
    out["counterfactual_families"] = kept
    if realspace:
        out["w_real"] = wreal
    return out


def _unseen_windings(ranges: Sequence[int], tw: List[int], unseen_windings: Optional[Sequence[int]]) -> List[int]:
    """The unseen sectors of :func:`protocol_sets`: ``unseen_windings`` checked, or by default every
    sector ``ranges`` reach that is not a training sector (``tw``)."""
    if unseen_windings is None:
        unseen = [w for w in _reachable(ranges) if w not in tw]
        if not unseen:
            raise ValueError(f"ranges {tuple(ranges)} leave no unseen winding beyond {tw}; widen ranges")
        return unseen
    unseen = [int(w) for w in unseen_windings]
    bad = [w for w in unseen if w in tw or w not in _reachable(ranges)]
    if not unseen or bad:
        raise ValueError(f"unseen_windings {tuple(unseen)} must be non-empty, absent from train_windings {tw} "
                         f"and reachable with ranges {tuple(ranges)} (windings {_reachable(ranges)}); bad: {bad}")
    return unseen


def _counterfactual_families(n_cells: int, n_counterfactual: int, determined_only: bool, cf_seed: int,
                             kw: Mapping[str, Any], determined: Dict[str, float]):
    """The counterfactual set of :func:`protocol_sets`, family by family: ``(xs, ys, kept families)``.

    Half the samples from the trivial families, half from the others; with ``determined_only`` twice
    as many are drawn and those whose bulk-window marker is not the label are dropped (the fraction
    kept goes to ``determined["counterfactual/<family>"]``). A family that cannot be drawn at this
    length, or keeps no chain, is left out.
    """
    from .counterfactual import FAMILIES, counterfactual_set

    xs, ys, kept = [], [], []
    n0 = sum(v == 0 for v in FAMILIES.values())
    for fam, lab in FAMILIES.items():
        share = 0.5 / n0 if lab == 0 else 0.5 / (len(FAMILIES) - n0)
        try:
            n_fam = max(2, int(round(share * n_counterfactual)))
            cf = counterfactual_set(2 * n_fam if determined_only else n_fam, n_cells, families=[fam], seed=cf_seed,
                                    **kw)
        except ValueError:
            continue
        x, y = cf.x, cf.label
        if determined_only:  # drawn without any marker; kept here where the input's bulk-window marker is the label
            ok = np.abs(cf.checks["window_row"] - y) < 0.25
            determined[f"counterfactual/{fam}"] = float(ok.mean())
            keep = np.flatnonzero(ok)[:n_fam]
            x, y = x[keep], y[keep]
        if len(y) == 0:
            continue
        xs.append(x); ys.append(y); kept.append(fam)
    return xs, ys, kept


def zlib_hash(windings: Sequence[int]) -> int:
    """A stable small integer of a winding tuple (for seed keys)."""
    import zlib

    return zlib.crc32(",".join(str(int(w)) for w in windings).encode())


# ------------------------------------------------------------------------------ the measure
def seed_report(model, sets: Mapping[str, Tuple[Any, Any]], *, threshold: float = 0.95,
                predict: Optional[Callable] = None) -> Dict[str, Any]:
    """Per-seed verdict: accuracy on each criterion set and whether the seed learns the invariant.

    Parameters
    ----------
    model : torch.nn.Module
    sets : mapping
        ``(x, y)`` for ``"unseen"``, ``"long"``, ``"counterfactual"`` (a missing set is ``"n/a"``).
    threshold : float
        Accuracy needed on every applicable criterion.
    predict : callable(model, x) -> labels or "n/a", optional
        Default :func:`predict_labels`.

    Returns
    -------
    dict
        ``{criterion: accuracy or "n/a"}``, ``"learns_invariant"`` (bool: every applicable criterion
        passes; ``None`` if none applies) and ``"applicable"`` (the criteria tested).
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must lie in (0, 1], got {threshold}")
    predict = predict or predict_labels
    out: Dict[str, Any] = {}
    for c in CRITERIA:
        if c not in sets:
            out[c] = NA
            continue
        x, y = sets[c]
        p = predict(model, x)
        out[c] = NA if isinstance(p, str) else float(np.mean(np.asarray(p) == np.asarray(y)))
    out["applicable"] = [c for c in CRITERIA if out[c] != NA]
    out["learns_invariant"] = verdict({c: out[c] for c in out["applicable"]}, threshold)
    return out


def verdict(accuracies: Mapping[str, float], threshold: float = 0.95) -> Optional[bool]:
    """Whether a seed learns the invariant: every applicable criterion's accuracy ``>= threshold``.

    ``accuracies`` holds the applicable criteria only (``"n/a"`` ones left out); ``None`` if none applies.
    """
    return None if not accuracies else bool(all(v >= threshold for v in accuracies.values()))


def learns_invariant(reports: Sequence[Mapping[str, Any]]) -> Optional[float]:
    """Fraction of seeds whose :func:`seed_report` says ``learns_invariant`` (``None`` if none is testable)."""
    vals = [r["learns_invariant"] for r in reports if r.get("learns_invariant") is not None]
    return None if not vals else float(np.mean(vals))


# ------------------------------------------------------------------------------ initializations
def model_factory(kind: str, **kwargs) -> Callable:
    """``factory(n_cells, seed, init)`` building the registered TopoNet variant ``kind`` with ``kwargs``
    (:func:`tntopo.nn.build_model`; ``factory.kwargs`` records them, with the kind)."""

    def make(n_cells: int, seed: int, init: str):
        from ..nn import build_model

        return build_model(kind, int(n_cells), int(seed), init=init, **kwargs)

    make.kwargs = {"kind": kind, **kwargs}  # type: ignore[attr-defined]
    return make


def toponet_factory(**kwargs) -> Callable:
    """``factory(n_cells, seed, init)`` building :class:`tntopo.nn.TopoNet` (float32) with ``kwargs``."""
    make = model_factory("toponet", **kwargs)
    make.kwargs = dict(kwargs)  # type: ignore[attr-defined]
    return make


def initialize(factory: Callable, n_cells: int, seed: int, init: Mapping[str, Any]):
    """Build a model and set its initial weights.

    Parameters
    ----------
    factory : callable(n_cells, seed, init)
        ``init`` is ``"random"`` or ``"exact"``; a factory without exact weights raises
        ``TypeError``/``ValueError`` for ``"exact"``.
    init : dict
        ``{"kind": "random", "scale": s}``: the factory's random weights times ``s``;
        ``{"kind": "exact", "eps": e}``: the exact weights plus ``e * rms(p) * N(0, 1)`` per tensor ``p``
        (a relative perturbation), drawn from ``seed``.
    """
    import torch

    kind = init.get("kind")
    if kind == "random":
        model = factory(n_cells, seed, "random")
        s = float(init.get("scale", 1.0))
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(s)
        return model
    if kind == "exact":
        model = factory(n_cells, seed, "exact")
        eps = float(init.get("eps", 0.0))
        ss = task_seed(seed, _KEYS["init"])
        gen = torch.Generator().manual_seed(int(ss.generate_state(1)[0]))
        with torch.no_grad():
            for p in model.parameters():
                rms = float(p.double().pow(2).mean().sqrt()) or 1.0
                p.add_(eps * rms * torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype))
        return model
    raise ValueError(f"unknown init {dict(init)!r}; use {{'kind': 'random', 'scale': s}} or {{'kind': 'exact', 'eps': e}}")


def init_name(init: Mapping[str, Any]) -> str:
    """``"random(scale=1)"`` / ``"exact(eps=0.1)"``."""
    if init.get("kind") == "random":
        return f"random(scale={float(init.get('scale', 1.0)):g})"
    return f"exact(eps={float(init.get('eps', 0.0)):g})"


# ------------------------------------------------------------------------------ the map
def trainability_map(
    factory: Optional[Callable] = None,
    *,
    n_cells: Sequence[int] = (8, 16, 32, 64),
    inits: Sequence[Mapping[str, Any]] = DEFAULT_INITS,
    diversities: Sequence[Sequence[int]] = DEFAULT_DIVERSITIES,
    seeds: int = 5,
    epochs: int = 30,
    lr: float = 1e-2,
    batch_size: int = 64,
    threshold: float = 0.95,
    data: Optional[Mapping[str, Any]] = None,
    train_fn: Optional[Callable] = None,
    predict: Optional[Callable] = None,
    seed: int = 0,
    progress: bool = False,
) -> Dict[str, Any]:
    """``learns_invariant`` over chain length x initialization x training diversity.

    Parameters
    ----------
    factory : callable(n_cells, seed, init), optional
        Default: the size-agnostic TopoNet (translation-invariant kernel, rank state weights, fixed
        window), :func:`toponet_factory`.
    n_cells, inits, diversities :
        The grid (``inits`` as in :func:`initialize`; ``diversities`` are training winding sets).
    seeds : int
        Trained seeds per cell (seed ``k`` of a cell derives from ``seed`` and the cell).
    epochs, lr, batch_size, threshold :
        The same training budget for every cell; the learning criterion.
    data : dict, optional
        Keyword arguments of :func:`protocol_sets` (sizes, ranges, ``min_gap``...).
    train_fn : callable, optional
        ``train_fn(model, train_xy, val_xy, *, epochs, lr, seed, batch_size)``.
        Default :func:`default_train`.
    predict : callable(model, x), optional
        Default :func:`predict_labels`.
    seed : int
    progress : bool
        Print one line per cell.

    Returns
    -------
    dict
        ``{"grid": {...}, "cells": [{"n_cells", "init", "train_windings", "learns_invariant",
        "reference": {...} (exact weights, untrained), "seeds": [seed_report + val/test accuracy,
        seconds]}, ...]}`` -- JSON-able.
    """
    factory = factory or toponet_factory(kernel="translation_invariant", state_weights="rank", window="fixed")
    train_fn = train_fn or default_train
    data = dict(data or {})
    budget = dict(epochs=epochs, lr=lr, batch_size=batch_size, threshold=threshold)
    cells = []
    cache: Dict[Tuple[int, Tuple[int, ...]], Dict] = {}
    for N in n_cells:
        for div in diversities:
            dkey = (int(N), tuple(int(w) for w in div))
            if dkey not in cache:
                cache.clear()  # one (N, diversity) in memory at a time
                cache[dkey] = protocol_sets(int(N), dkey[1], seed=seed, **data)
            sets = cache[dkey]
            try:
                ref_model = factory(int(N), 0, "exact")
                reference = seed_report(ref_model, sets, threshold=threshold, predict=predict)
            except (TypeError, ValueError):
                reference = None
            for init in inits:
                reports = [_map_seed(factory, sets, dkey, init, k, seed=seed, train_fn=train_fn, predict=predict,
                                     **budget) for k in range(int(seeds))]
                cell = {"n_cells": int(N), "init": init_name(init), "train_windings": list(dkey[1]),
                        "learns_invariant": learns_invariant(reports),
                        "val_trainability": _frac([r.get("val_accuracy") for r in reports], threshold),
                        "reference": reference, "determined": sets["determined"],
                        "counterfactual_families": sets["counterfactual_families"], "seeds": reports}
                cells.append(cell)
                if progress:
                    print(f"N={N:3d} {cell['init']:18s} train={list(dkey[1])}: learns_invariant="
                          f"{cell['learns_invariant']} (val>=thr: {cell['val_trainability']})", flush=True)
    return {"grid": {"n_cells": [int(n) for n in n_cells], "inits": [init_name(i) for i in inits],
                     "diversities": [list(d) for d in diversities], "seeds": int(seeds), "epochs": int(epochs),
                     "lr": float(lr), "batch_size": int(batch_size), "threshold": float(threshold),
                     "model": getattr(factory, "kwargs", None)},
            "cells": cells}


def _map_seed(factory: Callable, sets: Mapping[str, Any], dkey: Tuple[int, Tuple[int, ...]], init: Mapping[str, Any],
              k: int, *, seed: int, train_fn: Callable, predict: Optional[Callable], epochs: int, lr: float,
              batch_size: int, threshold: float) -> Dict[str, Any]:
    """Seed ``k`` of one cell of :func:`trainability_map` (chain length and training windings ``dkey``,
    initialization ``init``): initialized, trained and reported (:func:`seed_report`, validation accuracy,
    seed, seconds); an initialization the model cannot take is reported ``"n/a"``."""
    N, windings = dkey
    s = int(task_seed(seed, N, zlib_hash(windings), zlib_hash([hash_init(init)]), k).generate_state(1)[0])
    t0 = time.perf_counter()
    try:
        model = initialize(factory, N, s, init)
    except (TypeError, ValueError) as exc:
        return {"seed": s, "learns_invariant": None, "note": f"{NA}: {exc}"}
    try:
        train_fn(model, sets["train"], sets["val"], epochs=epochs, lr=lr, seed=s, batch_size=batch_size)
        failed = None
    except FloatingPointError as exc:  # diverged: the seed did not learn
        failed = str(exc)
    r = seed_report(model, sets, threshold=threshold, predict=predict)
    if failed:
        r.update(learns_invariant=False, note=f"training diverged: {failed}")
    vp = (predict or predict_labels)(model, sets["val"][0])
    r["val_accuracy"] = NA if isinstance(vp, str) else float(np.mean(vp == sets["val"][1]))
    r["seed"] = s
    r["seconds"] = time.perf_counter() - t0
    return r


def hash_init(init: Mapping[str, Any]) -> int:
    """A stable integer of an init spec (for seed keys)."""
    import zlib

    return zlib.crc32(init_name(init).encode()) % 1_000_000


def _frac(vals, threshold) -> Optional[float]:
    v = [x for x in vals if isinstance(x, float) and not math.isnan(x)]
    return None if not v else float(np.mean([x >= threshold for x in v]))
