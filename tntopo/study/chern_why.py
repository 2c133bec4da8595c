"""The causal test of *why* in the Chern study: :mod:`tntopo.study.why` on 2D lattices.

One experiment, two studies: the grid of one-factor-at-a-time cells, the paired seeds, training, the
projected freedoms, the per-seed measures, :func:`~tntopo.study.why.merge_why` and its ``answer`` are
those of :mod:`tntopo.study.why`; this module supplies the Chern study's parts (the provider behind a
task whose ``grid["study"]`` is ``"chern"``):

==================  ===============================  ==================================================
factor              baseline                         other settings
==================  ===============================  ==================================================
``objective``       ``"label"``: MSE on the          ``"w_real"``: MSE on the bulk local Chern marker of
                    certified FHS integer            the input's own Hamiltonian (``EvalSet.w_real``,
                                                     what the exact TopoNet2D computes from the layout):
                                                     the exact weights become a zero-loss point
``n_cells``         side ``L`` of the square sample  larger sides ``L'`` (absolute, labelled
                    (8 in the full study)            ``"12x12"``); smaller than ``long_side``
``freedom``         ``"full"``                       ``"projected"``, ``"projected_tracking"`` (as in
                                                     1D), ``"odd"``: the marker's mirror parities alone
                                                     (:class:`tntopo.nn.OddLayoutTopoNet2D`, registry
                                                     ``toponet2d_ti``, with the row's window; ``"n/a"``
                                                     for ``topo2d_ti``, which is odd already)
``budget``          1x epochs                        4x epochs
``train_cherns``    ``{-1, 0, 1}``, unseen           ``"extrapolation"``: ``{0, 1}``, unseen ``{-1, 2}``
                    ``+-2, +-3``                     (reported apart)
==================  ===============================  ==================================================

**The data of a cell** (:func:`chern_why_sets`, cached per process, every draw seeded from ``seed``):
clean lattices of the families ``families`` balanced over the training Chern numbers
(:func:`tntopo.study.chern_sets.chern_clean_set`, ``L x L``, open boundaries, Bloch gap ``>= min_gap``)
for training and validation (every sample, as the main study trains); and the criterion sets, each kept
only where the input determines its label (``aux["quantized"]``: the sample's own bulk marker lies within
0.25 of the label; drawn in rounds of ``n`` until ``n`` are kept or ``oversample`` rounds are spent, the
fraction kept in ``determined``): ``unseen`` (the unseen Chern numbers at ``L``), ``long`` (the training
Chern numbers at ``long_side``, the study's first ``size_lengths``; a model with a learned window cannot
take it: ``"n/a"``), ``counterfactual`` (:func:`~tntopo.study.chern_sets.chern_counterfactual_set` at
``L``, half ``"torus"``, half ``"decorated"``: the edge-state proxy disagrees with the bulk).

**The exact reference.** The same kind with ``init="exact"`` at the cell's side ``L`` computes the bulk
marker of the input exactly (its kernel tables cover displacements up to ``L - 1``; checked in the tests:
``|out - w_real| < 1e-5`` in float32). At any other side it does not: a learned window takes one side
only, and the fixed-range kernels of ``topo2d_ti_plain``/``topo2d_ti`` are truncated at ``L - 1`` (at 12 x 12
the ``L = 8`` exact weights are off by ~1e-2). There the reference is the commutator kind
``toponet2d_layout_exact`` (kernels ``x_j - x_r`` over the whole input: the marker at every side). The task
result says which network was used at which side (``reference["networks"]``).

Cost (measured on the 2-core development machine, one thread per process, batch 64, under the load of two
other jobs): one Adam step of ``topo2d`` takes 0.15 s at 6 x 6, 0.63 s at 8 x 8 (0.19 s of it the ``eigh`` of
the input Hamiltonians), 1.6 s at 10 x 10, 5.2 s at 12 x 12 (eigh 1.2 s) and 16 s at 16 x 16 (eigh 4.9 s). The
sample-size factor of the full preset is therefore 12 x 12 (8x the baseline's cost per step; 16 x 16 would
be 26x); see ``docs/guide/chern_study.rst`` for the full preset's budget.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .._typing import strict_keywords
from ..parallel import task_seed
from .config import CHERN_WHY_FACTORS, CHERN_WHY_KEYS, CHERN_WHY_MODELS
from .why import NA, _check_seeds_per_task, _check_sizes, _cells, _factors, _grid_tasks, _lrs, _model_specs, \
    _projection_options, _Provider, _register, _windings

__all__ = ["CHERN_FACTORS", "DEFAULT_CHERN_FACTORS", "DEFAULT_CHERN_WHY_MODELS", "WHY_KEYS", "chern_why_tasks",
           "chern_why_sets", "why_arguments"]

#: The factors of the Chern study's experiment, in table order.
CHERN_FACTORS: Tuple[str, ...] = ("objective", "n_cells", "freedom", "budget", "train_cherns")
#: Settings changed away from the baseline, per factor (``n_cells``: larger sides; ``budget``: multipliers): the
#: full preset's, ``{"objective": ("w_real",), "n_cells": (12,), "freedom": ("projected", "projected_tracking",
#: "odd"), "budget": (4,), "train_cherns": ("extrapolation",)}``.
DEFAULT_CHERN_FACTORS: Dict[str, Tuple[Any, ...]] = dict(CHERN_WHY_FACTORS)
#: The TopoNet2D rows of the Chern study the experiment is run for (names of ``config.DEFAULT_CHERN_MODELS``).
DEFAULT_CHERN_WHY_MODELS: Tuple[str, ...] = tuple(CHERN_WHY_MODELS)
_ALLOWED = {"objective": ("w_real",), "freedom": ("projected", "projected_tracking", "odd"),
            "train_cherns": ("extrapolation",)}
#: Kinds the experiment trains (the layout TopoNet2D family; ``toponet2d_ti`` is the odd one).
_KINDS = ("toponet2d_layout", "toponet2d_ti_plain", "toponet2d_ti")
_ODD_KIND = "toponet2d_ti"
_REFERENCE_KIND = "toponet2d_layout_exact"
_DATA_KEYS = ("n_train", "n_val", "n_unseen", "n_long", "n_counterfactual", "long_side", "min_gap", "stencil",
              "families", "oversample")
_DEFAULT_DATA = {"min_gap": 0.5, "stencil": 2, "families": ("qwz", "haldane", "random"), "oversample": 3,
                 "long_side": 16}
_KEY = 2201
_SET_KEYS = {"train": 1, "val": 2, "unseen": 3, "long": 4, "counterfactual": 5}
_CF_FAMILIES = ("torus", "decorated")


# ------------------------------------------------------------------------------ the grid
def _data_options(data, n_cells: int) -> Dict[str, Any]:
    """``data=`` of :func:`chern_why_tasks` checked over the defaults."""
    from .chern_sets import CLEAN_FAMILIES, _check_gap, _check_L, _check_stencil

    data = dict(data or {})
    bad = sorted(set(data) - set(_DATA_KEYS))
    if bad:
        raise TypeError(f"data got unknown key(s) {bad}; valid keys: {', '.join(_DATA_KEYS)} (the Chern numbers and "
                        "seed are arguments of chern_why_tasks)")
    out = {"n_train": 512, "n_val": 256, "n_unseen": 200, "n_long": 100, "n_counterfactual": 200,
           **_DEFAULT_DATA, **data}
    for k in ("n_train", "n_val", "n_unseen", "n_long", "n_counterfactual", "oversample"):
        v = out[k]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"data[{k!r}] must be a positive integer, got {v!r}")
        out[k] = int(v)
    out["stencil"] = _check_stencil(out["stencil"])
    out["min_gap"] = _check_gap(out["min_gap"])
    fams = (out["families"],) if isinstance(out["families"], str) else tuple(out["families"])
    if not fams or any(f not in CLEAN_FAMILIES for f in fams):
        raise ValueError(f"data['families'] must name clean families of {CLEAN_FAMILIES}, got {out['families']!r}")
    out["families"] = list(fams)
    out["long_side"] = _check_L(out["long_side"], out["stencil"])
    if out["long_side"] <= n_cells:
        raise ValueError(f"data['long_side'] = {out['long_side']} must be larger than n_cells = {n_cells} (the larger "
                         "samples of the size criterion)")
    return out


def _check_cherns(baseline, extrapolation, families) -> None:
    from .chern_sets import _check_sectors

    for (tc, uc), what in ((baseline, "baseline"), (extrapolation, "extrapolation")):
        tc, _ = _check_sectors(tc, families)
        uc, _ = _check_sectors(uc, families)
        if set(tc) & set(uc):
            raise ValueError(f"{what} Chern numbers: train {tuple(tc)} and unseen {tuple(uc)} must be disjoint "
                             "(unseen Chern numbers are absent from training)")


@strict_keywords
def chern_why_tasks(*, models: Union[Sequence[str], Mapping[str, Any]] = DEFAULT_CHERN_WHY_MODELS, n_cells: int = 8,
                    seeds: int = 20, epochs: int = 40, lr: Union[None, float, Mapping[str, float]] = None,
                    batch_size: int = 64, threshold: float = 0.95,
                    factors: Optional[Mapping[str, Sequence[Any]]] = None,
                    train_cherns: Sequence[int] = (-1, 0, 1), unseen_cherns: Sequence[int] = (-3, -2, 2, 3),
                    extrapolation: Tuple[Sequence[int], Sequence[int]] = ((0, 1), (-1, 2)),
                    data: Optional[Mapping[str, Any]] = None, projection: Optional[Mapping[str, Any]] = None,
                    seed: int = 0, seeds_per_task: Optional[int] = None) -> List[Dict[str, Any]]:
    """The Chern study's experiment as independent, JSON-able task specs (run by
    :func:`tntopo.study.why.run_why_task`, merged by :func:`tntopo.study.why.merge_why`).

    Parameters
    ----------
    models : sequence of str or mapping
        Row names of :data:`tntopo.study.config.DEFAULT_CHERN_MODELS` (default ``topo2d``,
        ``topo2d_ti_plain``, ``topo2d_ti``), or ``{name: ModelSpec or {"kind", "kwargs"}}`` (kinds
        ``toponet2d_layout``, ``toponet2d_ti_plain``, ``toponet2d_ti``).
    n_cells : int
        Baseline side ``L`` of the square samples.
    seeds, epochs, lr, batch_size, threshold :
        As :func:`tntopo.study.why.why_tasks`.
    factors : mapping, optional
        ``{factor: settings}`` of :data:`CHERN_FACTORS` (default :data:`DEFAULT_CHERN_FACTORS`);
        ``n_cells`` settings are larger sides (integers ``> n_cells`` and ``< data["long_side"]``),
        ``budget`` settings multipliers.
    train_cherns, unseen_cherns :
        The baseline's training and unseen Chern numbers.
    extrapolation : (train, unseen)
        Chern numbers of the ``train_cherns="extrapolation"`` setting.
    data : dict, optional
        ``n_train``, ``n_val``, ``n_unseen``, ``n_long``, ``n_counterfactual`` (set sizes; defaults 512,
        256, 200, 100, 200), ``long_side`` (side of the larger samples, default 16), ``min_gap`` (0.5),
        ``stencil`` (2), ``families`` (the clean families), ``oversample`` (rounds of draws a criterion
        set may take to keep ``n`` determined samples; default 3).
    projection : dict, optional
        As :func:`tntopo.study.why.why_tasks`.
    seed : int
        Master seed (data and the paired training seeds).
    seeds_per_task : int, optional
        Split each cell's seeds into tasks of this many.

    Returns
    -------
    list of dict
        Task specs; their ``grid["study"]`` is ``"chern"``.
    """
    from .chern_sets import _check_L

    specs = _model_specs(models, PROVIDER)
    lrs = _lrs(lr, list(specs))
    _check_sizes(n_cells=n_cells, seeds=seeds, epochs=epochs, batch_size=batch_size, threshold=threshold, min_cells=6)
    facs = _factors(DEFAULT_CHERN_FACTORS if factors is None else factors, PROVIDER, int(n_cells))
    data = _data_options(data, int(n_cells))
    _check_L(int(n_cells), data["stencil"])
    too_big = [v for v in facs.get("n_cells", ()) if v >= data["long_side"]]
    if too_big:
        raise ValueError(f"factor 'n_cells' sides {too_big} must be smaller than data['long_side'] = "
                         f"{data['long_side']} (the larger samples every cell is tested on)")
    proj = _projection_options(projection)
    _check_seeds_per_task(seeds_per_task)
    _check_cherns((train_cherns, unseen_cherns), extrapolation, data["families"])

    baseline = {"objective": "label", "n_cells": int(n_cells), "freedom": "full", "budget": 1,
                "train_cherns": _windings(train_cherns, unseen_cherns)}
    cells = _cells(baseline, facs, extrapolation, PROVIDER)
    grid = {"study": "chern", "models": specs, "lr": lrs, "n_cells": int(n_cells), "seeds": int(seeds),
            "epochs": int(epochs), "batch_size": int(batch_size), "threshold": float(threshold),
            "baseline": baseline, "factors": {f: list(v) for f, v in facs.items()},
            "cells": [{"factor": f, "setting": s, "settings": st} for f, s, st in cells],
            "data": data, "projection": proj, "seed": int(seed),
            "design": "one factor at a time from the baseline; seed k paired across cells and models"}
    return _grid_tasks(grid, cells, specs, PROVIDER, seeds_per_task)


# ------------------------------------------------------------------------------ data (cached per process)
_CACHE: "OrderedDict[str, Any]" = OrderedDict()
_CACHE_MAX = 12


def _cached(key: Dict[str, Any], make):
    k = json.dumps(key, sort_keys=True, default=list)
    if k in _CACHE:
        _CACHE.move_to_end(k)
        return _CACHE[k]
    v = _CACHE[k] = make()
    while len(_CACHE) > _CACHE_MAX:
        _CACHE.popitem(last=False)
    return v


def _seed_of(seed: int, name: str, L: int, cherns: Sequence[int], *more: int) -> int:
    from .trainability import zlib_hash

    return int(task_seed(int(seed), _KEY, _SET_KEYS[name], int(L), zlib_hash(cherns), *more).generate_state(1)[0])


def _determined(draw, n: int, rounds: int) -> Tuple[np.ndarray, np.ndarray, float, int]:
    """Draw rounds of ``n`` samples (``draw(r) -> EvalSet``) until ``n`` have ``aux["quantized"]`` or ``rounds``
    are spent: ``(x, y, fraction of the drawn samples kept as determined, drawn)``."""
    xs, ys, ok_total, drawn = [], [], 0, 0
    for r in range(rounds):
        s = draw(r)
        ok = np.asarray(s.aux["quantized"], bool)
        drawn += len(ok)
        ok_total += int(ok.sum())
        xs.append(s.x[ok]); ys.append(s.label[ok])
        if sum(len(y) for y in ys) >= n:
            break
    x, y = np.concatenate(xs)[:n], np.concatenate(ys)[:n].astype(np.int64)
    return x, y, (ok_total / drawn if drawn else 0.0), drawn


@strict_keywords
def chern_why_sets(L: int, train_cherns: Sequence[int], unseen_cherns: Sequence[int], *, seed: int, n_train: int,
                   n_val: int, n_unseen: int, n_long: int, n_counterfactual: int, long_side: int,
                   min_gap: float = 0.5, stencil: int = 2, families: Sequence[str] = ("qwz", "haldane", "random"),
                   oversample: int = 3) -> Dict[str, Any]:
    """The data of one cell of the Chern study's causal test (see the module docstring).

    Returns
    -------
    dict
        ``"train"``, ``"val"``, ``"unseen"``, ``"long"``, ``"counterfactual"``: ``(x float32 layouts, y int64
        labels)`` (a criterion set with no determined sample is left out); ``"w_real"``: ``{"train", "val"}``
        the bulk marker of each input's own Hamiltonian; ``"determined"``: per criterion set (and
        ``"counterfactual/<family>"``) the fraction of drawn samples whose input determines the label;
        ``"counterfactual_families"``: the families kept; ``"sizes"``: the side of each set.

    Every set is a pure function of its arguments (same seed, same bytes) and is cached in this process.
    """
    from .chern_sets import chern_clean_set, chern_counterfactual_set

    tc, uc = [int(c) for c in train_cherns], [int(c) for c in unseen_cherns]
    fams = list(families)
    kw = dict(min_gap=float(min_gap), stencil=int(stencil), families=fams)
    base = {"seed": int(seed), **kw}

    def clean(name, n, side, cherns):
        return _cached({**base, "set": name, "n": n, "L": side, "cherns": cherns}, lambda: chern_clean_set(
            n, side, cherns, seed=_seed_of(seed, name, side, cherns), **kw))

    def criterion(name, n, side, cherns):
        return _cached({**base, "set": name, "n": n, "L": side, "cherns": cherns, "rounds": int(oversample)},
                       lambda: _determined(lambda r: chern_clean_set(n, side, cherns, seed=_seed_of(
                           seed, name, side, cherns, r), **kw), n, int(oversample)))

    def counterfactual(fam, n):
        return _cached({**base, "set": "counterfactual", "family": fam, "n": n, "L": L, "rounds": int(oversample)},
                       lambda: _determined(lambda r: chern_counterfactual_set(
                           n, L, seed=_seed_of(seed, "counterfactual", L, (), _CF_FAMILIES.index(fam), r),
                           cf_families=(fam,), **kw), n, int(oversample)))

    tr, va = clean("train", int(n_train), int(L), tc), clean("val", int(n_val), int(L), tc)
    out: Dict[str, Any] = {"train": (tr.x, tr.label.astype(np.int64)), "val": (va.x, va.label.astype(np.int64)),
                           "w_real": {"train": np.asarray(tr.w_real, np.float64), "val": np.asarray(va.w_real, np.float64)}}
    determined: Dict[str, float] = {}
    sizes = {"train": int(L), "val": int(L)}
    for name, n, side, cherns in (("unseen", n_unseen, L, uc), ("long", n_long, long_side, tc)):
        x, y, frac, _ = criterion(name, int(n), int(side), cherns)
        determined[name] = float(frac)
        if len(y):
            out[name] = (x, y)
            sizes[name] = int(side)
    xs, ys, kept = [], [], []
    n_fam = max(2, int(round(int(n_counterfactual) / len(_CF_FAMILIES))))
    for fam in _CF_FAMILIES:
        try:
            x, y, frac, _ = counterfactual(fam, n_fam)
        except ValueError:  # the family cannot be drawn at this size: left out, as in 1D
            continue
        determined[f"counterfactual/{fam}"] = float(frac)
        if len(y):
            xs.append(x); ys.append(y); kept.append(fam)
    if xs:
        out["counterfactual"] = (np.concatenate(xs), np.concatenate(ys))
        sizes["counterfactual"] = int(L)
    out["determined"] = determined
    out["counterfactual_families"] = kept
    out["sizes"] = sizes
    return out


# ------------------------------------------------------------------------------ the provider
class _ExactReference(torch.nn.Module):
    """The exact network of a cell: the task's kind with ``init="exact"`` at its own side, the commutator kind
    ``toponet2d_layout_exact`` (exact at every side) at any other side (see the module docstring)."""

    def __init__(self, same, L: int, stencil: int):
        from ..nn import build_model

        super().__init__()
        self.same = same
        self.full = build_model(_REFERENCE_KIND, int(L), 0, stencil=int(stencil),
                                dtype=next(iter(same.parameters())).dtype)
        self.side = int(L)

    def uses(self, side: int) -> str:
        """``"same"`` (the task's kind) or ``"full"`` (the commutator kind): the network used at ``side``."""
        return "same" if int(side) == self.side else "full"

    def forward(self, x):
        side = (int(x.shape[-2]), int(x.shape[-1]))
        return self.same(x) if side == (self.side, self.side) else self.full(x)


class _Chern(_Provider):
    """The Chern study's parts of the causal test (see the module docstring)."""

    study = "chern"
    factors = CHERN_FACTORS
    extrapolation_factor = "train_cherns"
    jacobian_chunk = 32
    ood = "mean accuracy over the probe sets the model takes (unseen Chern numbers; larger samples)"
    network, example_row = "TopoNet2D", "topo2d"

    def default_models(self):
        from .config import DEFAULT_CHERN_MODELS

        return DEFAULT_CHERN_MODELS

    def kind_error(self, name, kind):
        if kind not in _KINDS:
            return (f"models[{name!r}] has kind {kind!r}: the experiment compares TopoNet2D variants on the "
                    f"layout (kinds {', '.join(_KINDS)}) against their exact weights")
        return None

    @staticmethod
    def batch(x) -> int:
        """Samples per forward pass: about 4096 cells of dense Hamiltonians at a time (64 at 8 x 8, 16 at 16 x 16)."""
        return max(1, 4096 // (int(x.shape[-1]) * int(x.shape[-2])))

    def allowed(self) -> Dict[str, Tuple[str, ...]]:
        return _ALLOWED

    def size_settings(self, vals, n_cells) -> Tuple[int, ...]:
        bad = [v for v in vals if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= n_cells]
        if bad:
            raise ValueError(f"factor 'n_cells' takes sample sides (integers) larger than the baseline's "
                             f"n_cells = {n_cells}, got {bad}")
        return tuple(int(v) for v in vals)

    def size_cell(self, n_cells: int, v: int) -> Tuple[int, str]:
        return int(v), f"{int(v)}x{int(v)}"

    def odd(self, name, kind, kwargs):
        from ..nn import MODELS

        kwargs = dict(kwargs)
        if kind == _ODD_KIND:
            return kind, kwargs, f"{NA}: {name} ({kind}) has the marker's mirror parities already"
        window = kwargs.get("window", MODELS[kind].defaults.get("window", "learned"))
        if window != MODELS[_ODD_KIND].defaults.get("window", "learned"):
            kwargs["window"] = window  # the row's window kept: only the parities are imposed
        else:
            kwargs.pop("window", None)
        return _ODD_KIND, kwargs, None

    def sets(self, spec):
        from .._blas import single_threaded_blas

        g, st = spec["grid"], spec["settings"]
        tc = st[self.extrapolation_factor]
        with single_threaded_blas():  # thousands of small eigenproblems in a pool worker: one BLAS thread each
            return chern_why_sets(int(st["n_cells"]), tc["train"], tc["unseen"], seed=int(g["seed"]), **g["data"])

    def exact(self, spec, factory, sets):
        L = int(spec["settings"]["n_cells"])
        ref = _ExactReference(factory(L, 0, "exact"), L, int(spec["grid"]["data"]["stencil"]))
        names = {"same": f"{spec['kind']} (init='exact')", "full": _REFERENCE_KIND}
        sides = sorted(set(sets["sizes"].values()))
        return ref, {"networks": {f"{s}x{s}": names[ref.uses(s)] for s in sides}}

    def tasks(self, **kwargs):
        return chern_why_tasks(**kwargs)


PROVIDER = _Chern()
_register(PROVIDER)  # run_why_task and why_experiment(study="chern") find it (this module is imported with the package)


# ------------------------------------------------------------------------------ the study's settings
#: Keys of ``ChernStudyConfig.why`` (the settings of the causal test in the Chern study): the config's list.
WHY_KEYS = CHERN_WHY_KEYS


@strict_keywords
def why_arguments(cfg, lrs: Optional[Mapping[str, float]] = None) -> Optional[Dict[str, Any]]:
    """The arguments of :func:`chern_why_tasks` a :class:`tntopo.study.ChernStudyConfig` defines (``None`` when
    none of ``cfg.why["models"]`` is a row of the config: the experiment does not run).

    The config's ``why`` gives ``models``, ``seeds``, ``factors``, ``data``, ``projection``, ``seeds_per_task``,
    ``extrapolation`` and optionally ``n_cells`` and ``epochs``; the rest is the study's: its seed, Chern
    numbers, side (``n_cells``), training budget (``epochs``), batch size, threshold, ``min_gap``,
    ``stencil`` and, as ``data["long_side"]``, its first ``size_lengths``. ``lrs``: the rows' selected rates.
    """
    kw = dict(cfg.why or {})
    bad = sorted(set(kw) - set(WHY_KEYS))
    if bad:
        raise TypeError(f"why got unknown key(s) {bad}; valid keys: {', '.join(WHY_KEYS)}")
    names = tuple(kw.pop("models", DEFAULT_CHERN_WHY_MODELS))
    if not names:
        raise ValueError("why['models'] is empty; name the TopoNet2D rows of the causal test, e.g. ('topo2d',), "
                         "or set why=None")
    models = tuple(m for m in names if m in cfg.models)
    if not models:
        return None
    data = {"min_gap": cfg.min_gap, "stencil": cfg.stencil, "long_side": int(cfg.size_lengths[0]),
            **dict(kw.pop("data", None) or {})}
    return dict(models={m: cfg.models[m] for m in models}, lr={m: v for m, v in (lrs or {}).items() if m in models},
                seed=cfg.seed, train_cherns=tuple(cfg.train_cherns), unseen_cherns=tuple(cfg.unseen_cherns),
                n_cells=int(kw.pop("n_cells", cfg.n_cells)), epochs=int(kw.pop("epochs", cfg.epochs)),
                batch_size=cfg.batch_size, threshold=cfg.trainability_threshold, data=data, **kw)
