"""The causal test of *why*: hold the architecture fixed, change one thing at a time.

The study's TopoNets can express the winding number exactly, yet from random weights some learn it
and some do not. This experiment asks which single change of the training setting moves a model
that does not learn the invariant (``learns_invariant`` ~ 0) to one that does (``>= 0.5``, with the
Wilson interval's lower bound clearing 0.5). Every cell is the **baseline** with exactly one factor
changed:

==================  ===============================  ==================================================
factor              baseline                         other settings
==================  ===============================  ==================================================
``objective``       ``"label"``: MSE on the Bloch    ``"w_real"``: MSE on the real-space winding number
                    integer of the chain             of the finite input chain
                                                     (:func:`tntopo.data.features.input_winding`): the
                                                     exact weights become a zero-loss point
``n_cells``         ``N`` (24 in the full study)     ``2N``, ``4N`` (multipliers in ``factors``)
``freedom``         ``"full"``: every parameter      ``"projected"``: each optimizer update projected
                    free                             onto the row space of the output Jacobian on
                                                     training data at initialization (the data-blind
                                                     directions removed; Adam's per-coordinate scaling
                                                     moves weights off that span, which is what is
                                                     taken out): ``theta - theta_0`` stays in it;
                                                     ``"projected_tracking"``: the same with the span
                                                     recomputed at the current weights every
                                                     ``projection["every"]`` steps (only the current
                                                     data-blind directions removed);
                                                     ``"odd"``: the reflection/chiral odd constraint
                                                     alone (``toponet_odd``, the model's other
                                                     keywords; ``"n/a"`` for models already odd)
``budget``          1x epochs                        4x epochs
``train_windings``  ``{-1, 0, 1}``, unseen ``+-2``   ``"extrapolation"``: ``{0, 1}``, unseen
                                                     ``{-1, 2}`` (reported apart: a different question)
==================  ===============================  ==================================================

The data are the main study's: clean chains over hopping ranges ``-2..2``, Bloch gap
``>= min_gap``, sectors balanced (:func:`tntopo.study.trainability.protocol_sets` with
``determined_only``). Per seed: ``learns_invariant`` by :func:`~tntopo.study.trainability.seed_report`
(unseen windings, ``size_factor``-times longer chains where the model takes them, the counterfactual
set), ``fits`` (validation accuracy against the Bloch labels ``>= threshold``), and the
**functional distance** to the exact network: the RMS difference between the trained model's outputs
and those of the same kind built with ``init="exact"``, on a probe of unseen-winding and longer chains
(a parameter distance cannot recognise a solution: the parametrization has symmetries and data-blind
directions). Whether that distance predicts out-of-distribution accuracy is a Spearman correlation over
every seed of the experiment (``distance_predicts_ood``).

Seeds are **paired**: seed ``k`` is the same integer in every cell and model (from
:func:`tntopo.parallel.task_seed`), so the baseline and a treatment start from the same raw random
weights wherever the parametrization allows (``toponet`` and ``toponet_odd`` draw the same raw weights;
``odd`` then projects them), and train on the same data wherever the data setting is the same.

The experiment is a list of independent, JSON-able task specs (:func:`why_tasks`), each run by
:func:`run_why_task` (one cell, or a chunk of its seeds) and merged by :func:`merge_why`;
:func:`why_experiment` runs them serially. Results are plain JSON-able dicts.

**One experiment, two studies.** The same machinery runs the Chern study's causal test for the TopoNet2D
rows (:mod:`tntopo.study.chern_why`: :func:`~tntopo.study.chern_why.chern_why_tasks`,
``why_experiment(study="chern", ...)``): what belongs to a study -- the data of a cell, the model factory and
the exact network, the odd kind, what the sample-size factor means -- sits behind a small provider named by
the task's ``grid["study"]`` (absent in the winding study's grid, which is unchanged).
"""
from __future__ import annotations

import contextlib
import json
import math
import time
from collections import OrderedDict
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..parallel import task_seed
from .stats import fisher_p, holm, wilson_interval

__all__ = [
    "FACTORS",
    "DEFAULT_FACTORS",
    "DEFAULT_WHY_MODELS",
    "QUICK_WHY",
    "FULL_WHY",
    "why_tasks",
    "run_why_task",
    "merge_why",
    "why_experiment",
    "jacobian_span",
    "projected_updates",
    "functional_distance",
]

NA = "n/a"
#: The factors of the experiment, in table order.
FACTORS: Tuple[str, ...] = ("objective", "n_cells", "freedom", "budget", "train_windings")
#: Settings changed away from the baseline, per factor (``n_cells`` and ``budget`` as multipliers).
DEFAULT_FACTORS: Dict[str, Tuple[Any, ...]] = {
    "objective": ("w_real",),
    "n_cells": (2, 4),
    "freedom": ("projected", "projected_tracking", "odd"),
    "budget": (4,),
    "train_windings": ("extrapolation",),
}
_ALLOWED = {"objective": ("w_real",), "freedom": ("projected", "projected_tracking", "odd"),
            "train_windings": ("extrapolation",)}
#: The TopoNet rows of the main study the experiment is run for (names of ``config.DEFAULT_MODELS``).
DEFAULT_WHY_MODELS: Tuple[str, ...] = ("topo", "topo_ti_plain", "topo_ti")
#: Keyword arguments of :func:`why_tasks` at CI size (the whole grid for the three models in about a
#: minute on one core) and for the full study (>= 20 seeds per cell).
QUICK_WHY: Dict[str, Any] = {
    "n_cells": 16, "seeds": 2, "epochs": 4, "factors": {**DEFAULT_FACTORS, "n_cells": (2,)},
    "data": {"n_train": 192, "n_val": 64, "n_unseen": 48, "n_long": 24, "n_counterfactual": 36},
}
FULL_WHY: Dict[str, Any] = {
    "n_cells": 24, "seeds": 20, "epochs": 40, "factors": DEFAULT_FACTORS,
    "data": {"n_train": 4000, "n_val": 1000, "n_unseen": 600, "n_long": 400, "n_counterfactual": 600},
}
_DATA_KEYS = ("n_train", "n_val", "n_unseen", "n_long", "n_counterfactual", "size_factor", "min_gap", "amplitude")
_DEFAULT_DATA = {"min_gap": 0.4, "amplitude": 1.0, "size_factor": 4}
_SEED_KEY = 1901
_ODD_KINDS = ("toponet_odd", "toponet_commutator")
#: The factor of each study whose setting is extrapolation (reported apart in ``answer``).
EXTRAPOLATION_FACTORS = ("train_windings", "train_cherns")
#: Level of the answer's second test: a setting raises or lowers a model's rate when Fisher's exact test
#: against its baseline cell, Holm-corrected over the model's settings, gives an adjusted p below it.
CHANGE_ALPHA = 0.05


# ------------------------------------------------------------------------------ the study's parts
class _Provider:
    """The parts of the experiment that belong to one study: how the sample-size factor is read, which kind
    is the odd constraint of a kind, the data sets of a cell, the model factory and the exact reference.

    Everything else -- the grid of one-factor-at-a-time cells, the paired seeds, training, the projected
    freedoms, the per-seed measures, :func:`merge_why` and the answer -- is shared. This one is the winding
    study's (1D chains); :mod:`tntopo.study.chern_why` has the Chern study's. A task's ``grid["study"]``
    names its provider (absent: the winding study, whose grid is unchanged).
    """

    study = "winding"
    factors: Tuple[str, ...] = FACTORS
    extrapolation_factor = "train_windings"
    #: samples per forward pass when a network is evaluated (an int, or a function of the input array)
    batch: Any = 256
    #: samples per Jacobian batch of the projected freedoms (``None``: all at once)
    jacobian_chunk: Optional[int] = None
    ood = "mean accuracy over the probe sets the model takes (unseen windings; longer chains)"

    #: what its rows are called in messages, and an example row
    network, example_row = "TopoNet", "topo"

    def default_models(self) -> Mapping[str, Any]:
        """The study's rows by name (``ModelSpec``): the rows ``models=`` may name."""
        from .config import DEFAULT_MODELS

        return DEFAULT_MODELS

    def kind_error(self, name: str, kind: str) -> Optional[str]:
        """Why row ``name`` of ``kind`` cannot be in the experiment, or ``None`` when it can."""
        if not str(kind).startswith("toponet") or kind == "toponet_exact":
            return (f"models[{name!r}] has kind {kind!r}: the experiment compares TopoNet variants "
                    "(kinds toponet, toponet_odd, toponet_commutator) against their exact weights")
        return None

    def allowed(self) -> Dict[str, Tuple[str, ...]]:
        """The named settings of the categorical factors."""
        return _ALLOWED

    def size_settings(self, vals: Tuple[Any, ...], n_cells: int) -> Tuple[int, ...]:
        """The ``n_cells`` factor's settings checked: integer multipliers >= 2 of the baseline length."""
        bad = [v for v in vals if isinstance(v, bool) or int(v) != v or int(v) < 2]
        if bad:
            raise ValueError(f"factor 'n_cells' takes integer multipliers >= 2 of the baseline, got {bad}")
        return tuple(int(v) for v in vals)

    def size_cell(self, n_cells: int, v: int) -> Tuple[int, str]:
        """``(chain length, label)`` of the ``n_cells`` setting ``v``: ``v`` times the baseline, ``"<v>x"``."""
        return n_cells * v, f"{v}x"

    def odd(self, name: str, kind: str, kwargs: Mapping[str, Any]) -> Tuple[str, Dict[str, Any], Optional[str]]:
        """``(kind, kwargs, n/a reason)`` of the odd constraint imposed on row ``name`` of ``kind``."""
        na = f"{NA}: {name} ({kind}) is already reflection/chiral odd" if kind in _ODD_KINDS else None
        return "toponet_odd", dict(kwargs), na

    def sets(self, spec: Mapping[str, Any]) -> Dict[str, Any]:
        """The data of a task's cell (cached per process): ``train``, ``val`` and the criterion sets as
        ``(x, y)``, ``w_real``, ``determined``, ``counterfactual_families``."""
        return _sets_for(spec)

    def factory(self, spec: Mapping[str, Any]):
        """``factory(n_cells, seed, init)`` of the task's kind."""
        from .trainability import model_factory

        return model_factory(spec["kind"], **spec["kwargs"])

    def exact(self, spec: Mapping[str, Any], factory, sets: Mapping[str, Any]) -> Tuple[Any, Dict[str, Any]]:
        """The exact network the seeds are compared with, and what the task result says about it (nothing
        here: the same kind with ``init="exact"``)."""
        return factory(int(spec["settings"]["n_cells"]), 0, "exact"), {}

    def tasks(self, **kwargs) -> List[Dict[str, Any]]:
        """The study's task list (:func:`why_tasks` here)."""
        return why_tasks(**kwargs)


_WINDING = _Provider()
#: The providers by study name; the Chern study's registers itself (:mod:`tntopo.study.chern_why`, imported
#: with the package :mod:`tntopo.study`).
_PROVIDERS: Dict[str, _Provider] = {"winding": _WINDING}


def _register(provider: _Provider) -> None:
    _PROVIDERS[provider.study] = provider


def _provider_of(study: str) -> _Provider:
    if study not in _PROVIDERS:
        raise ValueError(f"unknown study {study!r}; the causal test runs for {sorted(_PROVIDERS)}")
    return _PROVIDERS[study]


def _provider(grid: Mapping[str, Any]) -> _Provider:
    """The provider of a task's study (``grid["study"]``; absent: the winding study)."""
    return _provider_of(grid.get("study", "winding"))


# ------------------------------------------------------------------------------ the grid
def _model_specs(models, provider: Optional[_Provider] = None) -> Dict[str, Dict[str, Any]]:
    """``models=`` (row names of the study's table, or ``{name: ModelSpec or {"kind", "kwargs"}}``) as
    ``{name: {"kind", "kwargs"}}``, each kind checked by ``provider`` (default: the winding study's)."""
    from .config import ModelSpec

    provider = provider or _WINDING
    defaults = provider.default_models()
    if isinstance(models, str):
        models = [models]
    out: Dict[str, Dict[str, Any]] = {}
    items = models.items() if isinstance(models, Mapping) else [(m, None) for m in models]
    for name, spec in items:
        if spec is None:
            if name not in defaults:
                raise ValueError(f"unknown model {name!r}; name one of {sorted(defaults)} or pass "
                                 "models={name: ModelSpec(kind, kwargs)}")
            spec = defaults[name]
        if isinstance(spec, ModelSpec):
            kind, kwargs = spec.kind, dict(spec.kwargs)
        elif isinstance(spec, Mapping) and "kind" in spec:
            kind, kwargs = spec["kind"], dict(spec.get("kwargs", {}))
        else:
            raise ValueError(f"models[{name!r}] must be a ModelSpec or {{'kind': ..., 'kwargs': {{...}}}}, got {spec!r}")
        why = provider.kind_error(name, kind)
        if why:
            raise ValueError(why)
        out[str(name)] = {"kind": str(kind), "kwargs": kwargs}
    if not out:
        raise ValueError(f"models is empty; name at least one {provider.network} row, "
                         f"e.g. models=('{provider.example_row}',)")
    return out


def _lrs(lr, names: Sequence[str]) -> Dict[str, float]:
    if lr is None:
        lr = {}
    if isinstance(lr, (int, float)) and not isinstance(lr, bool):
        lr = {n: float(lr) for n in names}
    if not isinstance(lr, Mapping):
        raise ValueError(f"lr must be a number or a mapping {{model: rate}}, got {lr!r}")
    unknown = sorted(set(lr) - set(names))
    if unknown:
        raise ValueError(f"lr names model(s) {unknown} that are not in the experiment {list(names)}")
    out = {n: float(lr.get(n, 1e-2)) for n in names}
    bad = {n: v for n, v in out.items() if not (math.isfinite(v) and v > 0)}
    if bad:
        raise ValueError(f"learning rates must be finite and > 0, got {bad}")
    return out


def _factors(factors, provider: Optional[_Provider] = None, n_cells: Optional[int] = None
             ) -> Dict[str, Tuple[Any, ...]]:
    provider = provider or _WINDING
    factors = DEFAULT_FACTORS if factors is None else factors
    if not isinstance(factors, Mapping):
        raise ValueError(f"factors must be a mapping {{factor: settings}}, got {type(factors).__name__}")
    unknown = [f for f in factors if f not in provider.factors]
    if unknown:
        raise TypeError(f"unknown factor(s) {unknown}; valid factors: {', '.join(provider.factors)}")
    allowed = provider.allowed()
    out: Dict[str, Tuple[Any, ...]] = {}
    for f in provider.factors:
        if f not in factors:
            continue
        vals = tuple(factors[f])
        if f == "n_cells":
            vals = provider.size_settings(vals, n_cells)
        elif f == "budget":
            bad = [v for v in vals if isinstance(v, bool) or int(v) != v or int(v) < 2]
            if bad:
                raise ValueError(f"factor {f!r} takes integer multipliers >= 2 of the baseline, got {bad}")
            vals = tuple(int(v) for v in vals)
        else:
            bad = [v for v in vals if v not in allowed[f]]
            if bad:
                raise ValueError(f"factor {f!r} takes settings {allowed[f]}, got {bad}")
        out[f] = vals
    return out


def _windings(train, unseen) -> Dict[str, List[int]]:
    return {"train": [int(w) for w in train], "unseen": [int(w) for w in unseen]}


def why_tasks(*, models: Union[Sequence[str], Mapping[str, Any]] = DEFAULT_WHY_MODELS, n_cells: int = 24,
              seeds: int = 20, epochs: int = 40, lr: Union[None, float, Mapping[str, float]] = None,
              batch_size: int = 64, threshold: float = 0.95, factors: Optional[Mapping[str, Sequence[Any]]] = None,
              ranges: Sequence[int] = (-2, -1, 0, 1, 2), train_windings: Sequence[int] = (-1, 0, 1),
              unseen_windings: Sequence[int] = (-2, 2),
              extrapolation: Tuple[Sequence[int], Sequence[int]] = ((0, 1), (-1, 2)),
              data: Optional[Mapping[str, Any]] = None, projection: Optional[Mapping[str, Any]] = None,
              seed: int = 0, seeds_per_task: Optional[int] = None) -> List[Dict[str, Any]]:
    """The experiment as independent, JSON-able task specs (one per cell, or per chunk of its seeds).

    Parameters
    ----------
    models : sequence of str or mapping
        Row names of :data:`tntopo.study.config.DEFAULT_MODELS` (default ``topo``, ``topo_ti_plain``,
        ``topo_ti``), or ``{name: ModelSpec or {"kind", "kwargs"}}`` (TopoNet kinds only).
    n_cells : int
        Baseline chain length ``N``.
    seeds : int
        Seeds per cell (the issue asks >= 20 for the full study).
    epochs : int
        Baseline budget (the ``budget`` factor multiplies it).
    lr : float or mapping, optional
        Learning rate per model (the main study's selected rate); missing models get ``1e-2``.
    batch_size, threshold :
        Training batch size; the accuracy each criterion (and ``fits``) needs.
    factors : mapping, optional
        ``{factor: settings}`` changed away from the baseline (default :data:`DEFAULT_FACTORS`);
        factors left out are not varied. ``n_cells`` and ``budget`` settings are multipliers.
    ranges, train_windings, unseen_windings :
        The baseline data: hopping ranges, training and unseen winding sectors.
    extrapolation : (train, unseen)
        Windings of the ``train_windings="extrapolation"`` setting (same ``ranges``).
    data : dict, optional
        Set sizes and sampling of :func:`tntopo.study.trainability.protocol_sets`: ``n_train``,
        ``n_val``, ``n_unseen``, ``n_long``, ``n_counterfactual``, ``size_factor``, ``min_gap``,
        ``amplitude``.
    projection : dict, optional
        The projected freedoms: ``rtol`` (singular values of the Jacobian below ``rtol * s_max``
        span the removed directions; default ``1e-6``), ``every`` (``"projected_tracking"``
        recomputes the span every so many optimizer steps; default 50; ``"projected"`` computes it
        once, at initialization), ``n_jacobian`` (training samples in the Jacobian batch; default
        ``n_parameters + 64``, capped by ``n_train``).
    seed : int
        Master seed (data and the paired training seeds).
    seeds_per_task : int, optional
        Split each cell's seeds into tasks of this many (default: one task per cell).

    Returns
    -------
    list of dict
        Task specs for :func:`run_why_task`; each holds the whole ``grid`` so that results can be merged
        without the arguments.
    """
    specs = _model_specs(models)
    lrs = _lrs(lr, list(specs))
    facs = _factors(factors, _WINDING, n_cells)
    _check_sizes(n_cells=n_cells, seeds=seeds, epochs=epochs, batch_size=batch_size, threshold=threshold)
    data = _data_options(data)
    proj = _projection_options(projection)
    _check_seeds_per_task(seeds_per_task)
    _check_windings(ranges, (train_windings, unseen_windings), extrapolation)

    baseline = {"objective": "label", "n_cells": int(n_cells), "freedom": "full", "budget": 1,
                "train_windings": _windings(train_windings, unseen_windings)}
    cells = _cells(baseline, facs, extrapolation, _WINDING)
    grid = {"models": specs, "lr": lrs, "n_cells": int(n_cells), "seeds": int(seeds), "epochs": int(epochs),
            "batch_size": int(batch_size), "threshold": float(threshold), "ranges": [int(m) for m in ranges],
            "baseline": baseline, "factors": {f: list(v) for f, v in facs.items()},
            "cells": [{"factor": f, "setting": s, "settings": st} for f, s, st in cells],
            "data": data, "projection": proj, "seed": int(seed),
            "design": "one factor at a time from the baseline; seed k paired across cells and models"}
    return _grid_tasks(grid, cells, specs, _WINDING, seeds_per_task)


def _check_seeds_per_task(seeds_per_task) -> None:
    if seeds_per_task is not None and (int(seeds_per_task) != seeds_per_task or seeds_per_task < 1):
        raise ValueError(f"seeds_per_task must be a positive integer, got {seeds_per_task!r}")


def _grid_tasks(grid: Dict[str, Any], cells, specs: Mapping[str, Any], provider: _Provider,
                seeds_per_task: Optional[int]) -> List[Dict[str, Any]]:
    """The task specs of a grid (the shared tail of :func:`why_tasks` and the Chern study's
    :func:`~tntopo.study.chern_why.chern_why_tasks`): cell-major, each model's seeds in chunks."""
    grid = json.loads(json.dumps(grid))
    seeds, epochs = int(grid["seeds"]), int(grid["epochs"])
    tasks = [task for cell in cells for name, spec in specs.items()  # cell-major: consecutive tasks share data sets
             for task in _cell_tasks(cell, name, spec, lr=grid["lr"][name], epochs=epochs, seeds=seeds,
                                     chunk=int(seeds_per_task or seeds), grid=grid, provider=provider)]
    return json.loads(json.dumps(tasks))


def _check_sizes(*, n_cells, seeds, epochs, batch_size, threshold, min_cells: int = 8) -> None:
    """The sizes of :func:`why_tasks`: positive integers, samples of >= ``min_cells`` cells, a threshold in (0, 1]."""
    for name, v in (("n_cells", n_cells), ("seeds", seeds), ("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer)) or int(v) != v or int(v) < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if int(n_cells) < min_cells:
        raise ValueError(f"n_cells={n_cells} is too small; use n_cells >= {min_cells}")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must lie in (0, 1], got {threshold}")


def _data_options(data) -> Dict[str, Any]:
    """``data=`` of :func:`why_tasks` checked (keys of :data:`_DATA_KEYS`) over the defaults."""
    data = dict(data or {})
    bad = sorted(set(data) - set(_DATA_KEYS))
    if bad:
        raise TypeError(f"data got unknown key(s) {bad}; valid keys: {', '.join(_DATA_KEYS)} (ranges, windings and "
                        "seed are arguments of why_tasks)")
    return {**_DEFAULT_DATA, **data}


def _projection_options(projection) -> Dict[str, Any]:
    """``projection=`` of :func:`why_tasks` checked (``rtol``, ``every``, ``n_jacobian``) over the defaults."""
    proj = {"rtol": 1e-6, "every": 50, "n_jacobian": None, **dict(projection or {})}
    bad = sorted(set(proj) - {"rtol", "every", "n_jacobian"})
    if bad:
        raise TypeError(f"projection got unknown key(s) {bad}; valid keys: rtol, every, n_jacobian")
    for k in ("every", "n_jacobian"):
        v = proj[k]
        if v is not None and (isinstance(v, bool) or int(v) != v or int(v) < 1):
            raise ValueError(f"projection[{k!r}] must be a positive integer, got {v!r}")
    if not (isinstance(proj["rtol"], (int, float)) and 0 < float(proj["rtol"]) < 1):
        raise ValueError(f"projection['rtol'] must lie in (0, 1), got {proj['rtol']!r}")
    return proj


def _check_windings(ranges, baseline, extrapolation) -> None:
    """The baseline's and the extrapolation's ``(train, unseen)`` windings: non-empty, disjoint, reachable."""
    reach = list(range(min(ranges), max(ranges) + 1))
    for tw, uw, what in ((*baseline, "baseline"), (*extrapolation, "extrapolation")):
        if set(tw) & set(uw) or not set(tw) | set(uw) <= set(reach) or not tw or not uw:
            raise ValueError(f"{what} windings: train {tuple(tw)} and unseen {tuple(uw)} must be non-empty, disjoint "
                             f"and reachable with ranges {tuple(ranges)} (windings {reach})")


def _cells(baseline, facs, extrapolation, provider: Optional[_Provider] = None
           ) -> List[Tuple[str, str, Dict[str, Any]]]:
    """``[(factor, setting label, settings)]``: the baseline, then one cell per setting of each factor,
    the baseline with that one setting changed."""
    provider = provider or _WINDING
    cells: List[Tuple[str, str, Dict[str, Any]]] = [("baseline", "baseline", dict(baseline))]
    for f, vals in facs.items():
        for v in vals:
            st = dict(baseline)
            if f == "n_cells":
                st["n_cells"], label = provider.size_cell(baseline["n_cells"], v)
            elif f == "budget":
                st["budget"], label = v, f"{v}x"
            elif f == provider.extrapolation_factor:
                st[f], label = _windings(*extrapolation), v
            else:
                st[f], label = v, v
            cells.append((f, label, st))
    return cells


def _cell_tasks(cell, name, spec, *, lr, epochs, seeds, chunk, grid, provider: Optional[_Provider] = None
                ) -> List[Dict[str, Any]]:
    """The tasks of one model in one cell: its seeds in chunks of ``chunk``, or one task without seeds
    that says why the setting does not apply (``"odd"`` for a model that is odd already)."""
    provider = provider or _WINDING
    f, s, st = cell
    kind, kwargs = spec["kind"], dict(spec["kwargs"])
    na = None
    if st["freedom"] == "odd":
        kind, kwargs, na = provider.odd(name, kind, kwargs)
    starts = range(0, seeds, chunk) if na is None else [0]
    return [{"model": name, "factor": f, "setting": s, "settings": st, "kind": kind, "kwargs": dict(kwargs),
             "lr": lr, "epochs": epochs * int(st["budget"]),
             "seed_indices": list(range(lo, min(seeds, lo + chunk))) if na is None else [], "na": na, "grid": grid}
            for lo in starts]


def _training_seed(seed: int, k: int) -> int:
    """Seed ``k`` of the experiment: the same integer in every cell and model (paired design)."""
    return int(task_seed(int(seed), _SEED_KEY, int(k)).generate_state(1)[0])


# ------------------------------------------------------------------------------ data (cached per process)
_SETS: "OrderedDict[str, Dict[str, Any]]" = OrderedDict()
_SETS_MAX = 2


def _sets_for(spec: Mapping[str, Any]) -> Dict[str, Any]:
    from .trainability import protocol_sets

    g = spec["grid"]
    st = spec["settings"]
    kw = dict(n_cells=int(st["n_cells"]), train_windings=tuple(st["train_windings"]["train"]),
              unseen_windings=tuple(st["train_windings"]["unseen"]), ranges=tuple(g["ranges"]),
              determined_only=True, realspace=True, seed=int(g["seed"]), **g["data"])
    key = json.dumps(kw, sort_keys=True, default=list)
    if key in _SETS:
        _SETS.move_to_end(key)
        return _SETS[key]
    sets = protocol_sets(**kw)
    _SETS[key] = sets
    while len(_SETS) > _SETS_MAX:
        _SETS.popitem(last=False)
    return sets


# ------------------------------------------------------------------------------ the projected freedom
def jacobian_span(model, x, rtol: float = 1e-6, *, chunk: Optional[int] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
    """Orthonormal basis ``U (P, r)`` of the row space of the output Jacobian of ``model`` on ``x``.

    ``r`` counts the singular values above ``rtol * s_max``; the other directions of parameter space
    change no output on ``x`` (to that tolerance): the data-blind directions. The Jacobian is taken in
    float64 (on a float64 copy of the model), over ``chunk`` samples at a time if given (default: all at
    once; the rows are the same). Returns ``U`` (float64) and ``{"rank", "n_parameters", "n_samples"}``.
    """
    import copy

    import torch

    from ..nn.training import output_jacobian

    m64 = copy.deepcopy(model).double()  # float64 Jacobian: rtol well above rounding
    xt = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    if chunk and len(xt) > int(chunk):
        J = np.concatenate([output_jacobian(m64, xt[i:i + int(chunk)]).numpy() for i in range(0, len(xt), int(chunk))])
    else:
        J = output_jacobian(m64, xt).numpy()
    _, s, vt = np.linalg.svd(J, full_matrices=False)
    r = int(np.sum(s > rtol * s[0])) if s.size and s[0] > 0 else 0
    return vt[:r].T.copy(), {"rank": r, "n_parameters": int(J.shape[1]), "n_samples": int(len(x))}


def _flat(params) -> np.ndarray:
    return np.concatenate([p.detach().reshape(-1).double().cpu().numpy() for p in params])


@contextlib.contextmanager
def projected_updates(model, x, *, rtol: float = 1e-6, every: Optional[int] = None,
                      chunk: Optional[int] = None) -> Iterator[Dict[str, Any]]:
    """Inside this context, every optimizer step on ``model``'s parameters moves them only inside the
    row space of the output Jacobian on ``x`` (:func:`jacobian_span`).

    The step is taken as the optimizer takes it (Adam's moments untouched); its update
    ``delta = theta_new - theta_old`` is then replaced by ``U U^T delta``. With ``every=None`` the span
    is computed once, at entry, so ``theta - theta_0`` stays in one fixed subspace; with ``every = k``
    it is recomputed at the current weights every ``k`` steps. Optimizers over other parameters are
    not affected (the hooks match this model's parameters). ``chunk``: samples per Jacobian batch
    (:func:`jacobian_span`; bounds the memory of large inputs).

    Yields a dict that is filled as training runs: ``rank``, ``n_parameters``, ``n_samples``,
    ``steps``, ``basis`` (the current ``U``), ``theta0`` (the weights at entry, flat float64).
    """
    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

    params = [p for p in model.parameters() if p.requires_grad]
    ids = {id(p) for p in params}
    U, info = jacobian_span(model, x, rtol, chunk=chunk)
    state: Dict[str, Any] = {**info, "steps": 0, "basis": U, "theta0": _flat(params), "recomputed": 0}
    before: Dict[str, np.ndarray] = {}

    def ours(opt) -> bool:
        mine = {id(p) for grp in opt.param_groups for p in grp["params"]}
        return bool(mine) and mine <= ids and len(mine) == len(ids)

    def pre(opt, args, kwargs):
        if not ours(opt):
            return
        if every is not None and state["steps"] > 0 and state["steps"] % int(every) == 0:
            state["basis"], inf = jacobian_span(model, x, rtol, chunk=chunk)
            state["rank"] = inf["rank"]
            state["recomputed"] += 1
        before["theta"] = _flat(params)

    def post(opt, args, kwargs):
        if not ours(opt) or "theta" not in before:
            return
        old = before.pop("theta")
        B = state["basis"]
        new = old + B @ (B.T @ (_flat(params) - old))
        off = 0
        with torch.no_grad():
            for p in params:
                n = p.numel()
                p.copy_(torch.as_tensor(new[off:off + n].reshape(p.shape), dtype=p.dtype))
                off += n
        state["steps"] += 1

    h1 = register_optimizer_step_pre_hook(pre)
    h2 = register_optimizer_step_post_hook(post)
    try:
        yield state
    finally:
        h1.remove()
        h2.remove()


# ------------------------------------------------------------------------------ measures
def _outputs(model, x, batch: int = 256) -> Union[np.ndarray, str]:
    """Raw outputs (float64) of ``model`` on ``x`` (``batch`` samples per forward pass), or ``"n/a"`` if it
    cannot take their length (or size)."""
    import torch

    p = next(iter(model.parameters()))
    xt = torch.as_tensor(np.asarray(x)).to(p.dtype)
    outs = []
    try:
        with torch.no_grad():
            for i in range(0, len(xt), batch):
                outs.append(model(xt[i:i + batch]).double().cpu().numpy())
    except ValueError:
        return NA
    return np.concatenate(outs) if outs else np.zeros(0)


def functional_distance(model, exact, probes: Mapping[str, Any], *, batch: int = 256,
                        outputs: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """RMS output difference between ``model`` and ``exact`` over probe inputs.

    ``probes`` maps names to inputs ``x`` (or ``(x, y)``); a probe the model (or the exact network)
    cannot take is ``"n/a"`` and left out. ``batch``: samples per forward pass; ``outputs``: outputs
    already computed (``{"model": {name: ...}, "exact": {name: ...}}``, either part optional), used
    instead of running a network again. Returns ``{"distance": RMS over every applicable probe
    sample (``None`` if none), "parts": {name: RMS or "n/a"}, "n": samples used}``.
    """
    known = outputs or {}
    parts: Dict[str, Any] = {}
    sq: List[np.ndarray] = []
    for name, xy in probes.items():
        x = xy[0] if isinstance(xy, tuple) else xy
        a = known.get("model", {}).get(name)
        b = known.get("exact", {}).get(name)
        a = _outputs(model, x, batch) if a is None else a
        b = _outputs(exact, x, batch) if b is None else b
        if isinstance(a, str) or isinstance(b, str) or len(a) == 0:
            parts[name] = NA
            continue
        d = (a - b) ** 2
        parts[name] = float(np.sqrt(d.mean()))
        sq.append(d)
    if not sq:
        return {"distance": None, "parts": parts, "n": 0}
    d = np.concatenate(sq)
    return {"distance": float(np.sqrt(d.mean())), "parts": parts, "n": int(d.size)}


# ------------------------------------------------------------------------------ one task
def run_why_task(spec: Mapping[str, Any]) -> Dict[str, Any]:
    """Train and measure the seeds of one task of :func:`why_tasks` (a pure function of ``spec``).

    Returns
    -------
    dict
        ``{"key": [model, factor, setting], "spec": {...without grid}, "grid": {...}, "reference":
        the exact network's seed_report, "determined": ..., "seeds": [per-seed dicts]}``. A seed dict
        holds ``k``, ``seed``, the criterion accuracies (``unseen``, ``long``, ``counterfactual``; "n/a"
        where the model cannot take the set; ``None`` when training diverged), ``learns_invariant``
        (``False`` when training diverged), ``val_accuracy``, ``fits``,
        ``functional_distance`` (and its ``parts``), ``ood_accuracy`` (mean accuracy over the probe
        sets the model takes), ``train_loss``, ``best_epoch``, ``seconds``, a ``note`` if training
        diverged, and for the projected freedoms ``projection`` (span rank -- the last one computed --,
        parameters, samples, steps, ``recomputed``, and ``off_span``: the relative part of
        ``theta - theta_0`` outside the initial span, for ``"projected"``; ``None`` when tracking).
    """
    from .trainability import seed_report

    g = spec["grid"]
    head = {k: v for k, v in spec.items() if k != "grid"}
    out: Dict[str, Any] = {"key": [spec["model"], spec["factor"], spec["setting"]], "spec": head, "grid": g,
                           "seeds": []}
    if spec.get("na"):
        out.update(reference=None, determined=None)
        return out
    provider = _provider(g)
    sets = provider.sets(spec)
    factory = provider.factory(spec)
    exact, about = provider.exact(spec, factory, sets)
    exact_out = _Memo(exact, provider.batch)  # the exact network's outputs on the task's sets, computed once
    out["reference"] = {**seed_report(exact, sets, threshold=float(g["threshold"]), predict=exact_out.predict),
                        **about}
    out["determined"] = sets["determined"]
    out["counterfactual_families"] = sets["counterfactual_families"]
    for k in spec["seed_indices"]:
        out["seeds"].append(_run_seed(spec, k, factory, exact_out, sets, provider))
    return json.loads(json.dumps(out, default=_json_default))


class _Memo:
    """One network's outputs on a task's arrays, each computed once (keyed by the array; it is held, so the key
    stays valid): its raw outputs (:func:`_outputs`) and the integer predictions rounded from them (what
    :func:`~tntopo.study.trainability.predict_labels` returns for a regressor)."""

    def __init__(self, model, batch):
        self.model, self.batch = model, batch  # an int, or a function of the array (the samples' size)
        self._cache: Dict[int, Tuple[Any, Any]] = {}

    def outputs(self, x) -> Union[np.ndarray, str]:
        hit = self._cache.get(id(x))
        if hit is None:
            b = self.batch(x) if callable(self.batch) else int(self.batch)
            hit = self._cache[id(x)] = (x, _outputs(self.model, x, b))
        return hit[1]

    def predict(self, model, x):
        if model is not self.model:
            raise ValueError("this memo holds another network's outputs")
        o = self.outputs(x)
        return o if isinstance(o, str) else np.round(o).astype(np.int64)


def _run_seed(spec: Mapping[str, Any], k: int, factory, exact_out: _Memo, sets: Mapping[str, Any],
              provider: Optional[_Provider] = None) -> Dict[str, Any]:
    """Train seed ``k`` of a task of :func:`why_tasks` and measure it: one seed dict of :func:`run_why_task`."""
    from .trainability import default_train

    provider = provider or _WINDING
    g = spec["grid"]
    st = spec["settings"]
    xtr, ytr = sets["train"]
    xval, yval = sets["val"]
    if st["objective"] == "w_real":
        ytr_t, yval_t = sets["w_real"]["train"], sets["w_real"]["val"]
    else:
        ytr_t, yval_t = ytr, yval
    s = _training_seed(g["seed"], k)
    t0 = time.perf_counter()
    model = factory(int(st["n_cells"]), s, "random")
    tracking = st["freedom"] == "projected_tracking"
    rec: Dict[str, Any] = {"k": int(k), "seed": s}
    with _projection(model, xtr, st["freedom"], g["projection"], provider.jacobian_chunk) as proj:
        try:
            hist = default_train(model, (xtr, ytr_t), (xval, yval_t), epochs=int(spec["epochs"]),
                                 lr=float(spec["lr"]), seed=s, batch_size=int(g["batch_size"]))
            rec["train_loss"] = float(hist["train_loss"][-1]) if hist["train_loss"] else None
            rec["best_epoch"] = hist["best_epoch"]
            failed = None
        except FloatingPointError as exc:  # diverged: the seed did not learn
            failed = str(exc)
    if failed:  # diverged: the seed neither fits nor learns; its non-finite weights are not evaluated
        rec.update({c: None for c in ("unseen", "long", "counterfactual")})
        rec.update(applicable=[], learns_invariant=False, val_accuracy=None, fits=False, functional_distance=None,
                   functional_distance_parts={}, ood_accuracy=None, note=f"training diverged: {failed}")
    else:
        _measure_seed(rec, model, exact_out, sets, float(g["threshold"]), provider.batch)
    if proj is not None:
        rec["projection"] = _projection_record(model, proj, tracking)
    rec["seconds"] = time.perf_counter() - t0
    return rec


def _projection(model, xtr, freedom: str, proj_cfg: Mapping[str, Any], chunk: Optional[int] = None):
    """The projection context of a seed: :func:`projected_updates` for the projected freedoms (the span
    on the first ``n_jacobian`` training inputs, default the number of parameters + 64, ``chunk`` samples
    per Jacobian batch), else a context that yields ``None``."""
    if freedom not in ("projected", "projected_tracking"):
        return contextlib.nullcontext(None)
    P = sum(p.numel() for p in model.parameters() if p.requires_grad)
    nj = int(proj_cfg.get("n_jacobian") or (P + 64))
    return projected_updates(model, xtr[: min(nj, len(xtr))], rtol=float(proj_cfg["rtol"]),
                             every=int(proj_cfg["every"]) if freedom == "projected_tracking" else None, chunk=chunk)


def _measure_seed(rec: Dict[str, Any], model, exact_out: _Memo, sets: Mapping[str, Any], thr: float,
                  batch=256) -> None:
    """Add a trained seed's measures to ``rec``: the criterion accuracies (:func:`seed_report`), the
    validation accuracy against the labels and ``fits``, the functional distance to the exact network
    (``exact_out``: its outputs, computed once per task) and the mean accuracy over the probe sets the model
    takes (``ood_accuracy``). The model runs once on each set (``batch`` samples per forward pass)."""
    from .trainability import seed_report

    mine = _Memo(model, batch)
    probes = {k: sets[k] for k in ("unseen", "long") if k in sets}
    xval, yval = sets["val"]
    rec.update(seed_report(model, sets, threshold=thr, predict=mine.predict))
    vp = mine.predict(model, xval)
    rec["val_accuracy"] = float(np.mean(np.asarray(vp) == yval))
    rec["fits"] = bool(rec["val_accuracy"] >= thr)
    known = {"model": {c: mine.outputs(xy[0]) for c, xy in probes.items()},
             "exact": {c: exact_out.outputs(xy[0]) for c, xy in probes.items()}}
    fd = functional_distance(model, exact_out.model, probes, outputs=known)  # every output known: none recomputed
    rec["functional_distance"] = fd["distance"]
    rec["functional_distance_parts"] = fd["parts"]
    accs = [rec[c] for c in probes if isinstance(rec.get(c), float) and fd["parts"].get(c) != NA]
    rec["ood_accuracy"] = float(np.mean(accs)) if accs else None


def _projection_record(model, proj: Mapping[str, Any], tracking: bool) -> Dict[str, Any]:
    """The ``projection`` entry of a seed: the span's rank (the last one computed), parameters, samples,
    steps, recomputations, and ``off_span``, the relative part of ``theta - theta_0`` outside the
    initial span (``None`` when tracking)."""
    theta = _flat([p for p in model.parameters() if p.requires_grad])
    d = theta - proj["theta0"]
    U0 = None if tracking else proj["basis"]
    off = None
    if U0 is not None and np.linalg.norm(d) > 0:
        off = float(np.linalg.norm(d - U0 @ (U0.T @ d)) / np.linalg.norm(d))
    return {"rank": proj["rank"], "n_parameters": proj["n_parameters"], "n_samples": proj["n_samples"],
            "steps": proj["steps"], "rank_bounded_by_batch": bool(proj["n_samples"] < proj["n_parameters"]),
            "recomputed": proj["recomputed"], "off_span": off}


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-able: {type(o).__name__}")


# ------------------------------------------------------------------------------ merging
def _spearman(a, b) -> Dict[str, Any]:
    from scipy.stats import spearmanr

    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    n = int(ok.sum())
    if n < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return {"rho": None, "p": None, "n": n, "verdict": "inconclusive"}
    rho, p = spearmanr(a[ok], b[ok])
    rho, p = float(rho), float(p)
    verdict = "inconclusive" if p >= 0.05 else ("predicts" if rho < 0 else "anti-predicts")
    return {"rho": rho, "p": p, "n": n, "verdict": verdict}


def _side(ci, level=0.5) -> str:
    if ci is None:
        return NA
    if ci[0] >= level:
        return ">=0.5"
    if ci[1] < level:
        return "<0.5"
    return "inconclusive"


def merge_why(results: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """Merge task results of :func:`run_why_task` into the experiment's JSON-able report.

    Returns
    -------
    dict
        ``grid``; ``cells``: one per (factor, setting, model) with ``learns_invariant`` (fraction of
        seeds) and its Wilson 95% ``ci``, ``fits`` and ``fits_ci``, ``learns_given_fits`` (and its
        ``k``/``n``), ``functional_distance`` (median over seeds), ``distance_vs_ood`` (Spearman within
        the cell), ``reference`` (the exact network), ``complete`` and the per-seed dicts;
        ``distance_predicts_ood``: Spearman of functional distance vs OOD accuracy over every seed of the
        experiment (and per model), with ``n``; ``answer``: per model, each setting's side of 0.5
        (``">=0.5"`` when the interval's lower bound clears it, ``"<0.5"`` when its upper bound is
        below, else ``"inconclusive"``), with the Fisher p-value against the baseline, and the lists
        ``moves`` (baseline ``<0.5``, setting ``>=0.5``), ``does_not_move``, ``inconclusive``;
        extrapolation is reported apart; ``answer["summary"]`` says it in one sentence per model.
    """
    if not results:
        raise ValueError("merge_why got no results; run the tasks of why_tasks() first")
    grid = results[0]["grid"]
    models = list(grid["models"])
    groups = _group_by_cell(results, grid)
    order = {(c["factor"], c["setting"]): i for i, c in enumerate(grid["cells"])}
    keys = sorted(groups, key=lambda t: (models.index(t[0]) if t[0] in models else len(models),
                                         order.get((t[1], t[2]), len(order))))
    cells = [_merged_cell(key, groups[key], grid) for key in keys]
    return {"grid": grid, "cells": cells, "distance_predicts_ood": _distance_predicts(cells, models, _provider(grid).ood),
            "answer": _answer(cells, models)}


def _group_by_cell(results: Sequence[Mapping[str, Any]],
                   grid: Mapping[str, Any]) -> "OrderedDict[Tuple[str, str, str], Dict[str, Any]]":
    """The task results gathered per cell ``(model, factor, setting)``: its spec, seeds, reference and
    determined fractions (from the first result that has them)."""
    groups: "OrderedDict[Tuple[str, str, str], Dict[str, Any]]" = OrderedDict()
    for r in results:
        if r["grid"] != grid:
            raise ValueError("merge_why got results of different experiments (their grids differ); merge each apart")
        m, f, s = r["key"]
        g = groups.setdefault((m, f, s), {"spec": r["spec"], "seeds": [], "reference": r.get("reference"),
                                          "determined": r.get("determined")})
        g["seeds"] += r["seeds"]
        if g["reference"] is None:
            g["reference"], g["determined"] = r.get("reference"), r.get("determined")
    return groups


def _merged_cell(key: Tuple[str, str, str], g: Mapping[str, Any], grid: Mapping[str, Any]) -> Dict[str, Any]:
    """One cell of :func:`merge_why`'s report from its gathered seeds (sorted by ``k``; each at most once)."""
    m, f, s = key
    seeds = sorted(g["seeds"], key=lambda d: d["k"])
    ks = [d["k"] for d in seeds]
    if len(set(ks)) != len(ks):
        raise ValueError(f"cell {(m, f, s)} has seed(s) twice: {sorted(k for k in ks if ks.count(k) > 1)}")
    spec = g["spec"]
    cell: Dict[str, Any] = {"factor": f, "setting": s, "model": m, "kind": spec["kind"],
                            "settings": spec["settings"], "lr": spec["lr"], "epochs": spec["epochs"]}
    if spec.get("na"):
        cell.update(n_seeds=0, learns_invariant=NA, ci=None, fits=NA, fits_ci=None, learns_given_fits=NA,
                    functional_distance=NA, note=spec["na"], seeds=[])
        return cell
    li = [d["learns_invariant"] for d in seeds if d.get("learns_invariant") is not None]
    fits = [d["fits"] for d in seeds]
    lf = [d["learns_invariant"] for d in seeds if d["fits"] and d.get("learns_invariant") is not None]
    fd = [d["functional_distance"] for d in seeds if d.get("functional_distance") is not None]
    k_li, k_f = int(sum(li)), int(sum(fits))
    cell.update({
        "n_seeds": len(seeds),
        "complete": len(seeds) == int(grid["seeds"]),
        "learns_invariant": float(k_li / len(li)) if li else None,
        "learns_k": k_li, "learns_n": len(li),
        "ci": list(wilson_interval(k_li, len(li))) if li else None,
        "fits": float(k_f / len(fits)) if fits else None,
        "fits_ci": list(wilson_interval(k_f, len(fits))) if fits else None,
        "learns_given_fits": float(np.mean(lf)) if lf else None,
        "learns_given_fits_k": int(sum(lf)), "learns_given_fits_n": len(lf),
        "learns_given_fits_ci": list(wilson_interval(int(sum(lf)), len(lf))) if lf else None,
        "functional_distance": float(np.median(fd)) if fd else None,
        "distance_vs_ood": _spearman([d.get("functional_distance") if d.get("functional_distance") is not None
                                      else np.nan for d in seeds],
                                     [d.get("ood_accuracy") if d.get("ood_accuracy") is not None else np.nan
                                      for d in seeds]),
        "reference": g["reference"], "determined": g["determined"],
        "seeds": seeds,
    })
    for c in ("unseen", "long", "counterfactual"):
        v = [d[c] for d in seeds if isinstance(d.get(c), float)]
        cell[f"{c}_accuracy"] = float(np.mean(v)) if v else NA
    return cell


def _distance_predicts(cells: List[Dict[str, Any]], models: Sequence[str],
                       ood: str = _Provider.ood) -> Dict[str, Any]:
    """``distance_predicts_ood``: Spearman of functional distance vs OOD accuracy over every seed of the
    experiment, and per model."""
    def corr(sel):
        a = [d["functional_distance"] for c in cells if sel(c) for d in c["seeds"]
             if d.get("functional_distance") is not None and d.get("ood_accuracy") is not None]
        b = [d["ood_accuracy"] for c in cells if sel(c) for d in c["seeds"]
             if d.get("functional_distance") is not None and d.get("ood_accuracy") is not None]
        return _spearman(a, b)

    return {"ood": ood, "overall": corr(lambda c: True),
            "by_model": {m: corr(lambda c, m=m: c["model"] == m) for m in models}}


def _answer(cells: List[Dict[str, Any]], models: Sequence[str]) -> Dict[str, Any]:
    out: Dict[str, Any] = {"rule": "a setting moves a model when the baseline's Wilson 95% interval lies below 0.5 and "
                                   "the setting's lower bound clears 0.5; 'inconclusive' when either interval straddles 0.5",
                           "change_rule": f"a setting raises or lowers a model's learns_invariant rate when Fisher's exact "
                                          f"test against the model's baseline cell, Holm-corrected over the model's "
                                          f"settings (extrapolation apart), gives p < {CHANGE_ALPHA:g}, whichever side "
                                          "of 0.5 the baseline lies on; otherwise the change is not significant (which "
                                          "is not evidence of no effect)"}
    for m in models:
        mine = [c for c in cells if c["model"] == m]
        base = next((c for c in mine if c["factor"] == "baseline"), None)
        if base is None or base.get("ci") is None:
            out[m] = {"baseline": None, "note": "no baseline cell"}
            continue
        bside = _side(base["ci"])
        res: Dict[str, Any] = {"baseline": {"learns_invariant": base["learns_invariant"], "ci": base["ci"],
                                            "side": bside},
                               "settings": {}, "moves": [], "does_not_move": [], "inconclusive": [],
                               "not_applicable": [], "extrapolation": {}}
        for c in mine:
            if c["factor"] == "baseline":
                continue
            name = f"{c['factor']}={c['setting']}"
            if c["learns_invariant"] == NA or c.get("ci") is None:
                res["not_applicable"].append(name)
                continue
            side = _side(c["ci"])
            entry = {"learns_invariant": c["learns_invariant"], "ci": c["ci"], "side": side,
                     "p_vs_baseline": fisher_p(c["learns_k"], c["learns_n"], base["learns_k"], base["learns_n"])}
            if c["factor"] in EXTRAPOLATION_FACTORS:
                res["extrapolation"][name] = entry
                continue
            res["settings"][name] = entry
            if bside == "<0.5":
                if side == ">=0.5":
                    res["moves"].append(name)
                elif side == "<0.5":
                    res["does_not_move"].append(name)
                else:
                    res["inconclusive"].append(name)
            elif bside == "inconclusive":
                res["inconclusive"].append(name)
        tested = [(k, e) for k, e in res["settings"].items() if e["p_vs_baseline"] is not None]
        res["raises"], res["lowers"] = [], []
        for (name, e), adj in zip(tested, holm([e["p_vs_baseline"] for _, e in tested])):
            e["p_holm"] = adj
            if adj < CHANGE_ALPHA:  # significant: the rates differ
                res["raises" if e["learns_invariant"] > res["baseline"]["learns_invariant"] else "lowers"].append(name)
        res["n_tested"] = len(tested)
        if bside == ">=0.5":
            res["note"] = "the baseline already learns (lower bound >= 0.5): no factor is needed to move it"
        out[m] = res
    out["summary"] = " ".join(_sentence(m, out[m]) for m in models if out[m].get("baseline"))
    return out


def _sentence(model: str, a: Mapping[str, Any]) -> str:
    """One computed sentence of the answer for one model."""
    def frac(e):
        lo, hi = e["ci"]
        return f"{e['learns_invariant']:.2f} [{lo:.2f}, {hi:.2f}]"

    b = a["baseline"]
    txt = f"{model}: baseline learns_invariant {frac(b)}"
    if b["side"] == ">=0.5":
        txt += ", already >= 0.5"
    elif b["side"] == "inconclusive":
        txt += ", its interval straddles 0.5 (no setting can be said to move it)"
    else:
        txt += (f"; moved to >= 0.5 by: {', '.join(a['moves']) or 'none'}"
                f"; not moved by: {', '.join(a['does_not_move']) or 'none'}")
        if a["inconclusive"]:
            txt += f"; inconclusive: {', '.join(a['inconclusive'])}"
    if a.get("n_tested"):
        ch = []
        for key, word in (("raises", "raised"), ("lowers", "lowered")):
            if a.get(key):
                ch.append(f"{word} by: " + ", ".join(f"{k} {frac(a['settings'][k])}" for k in a[key]))
        txt += (f"; its rate is significantly {' and '.join(ch)}" if ch else
                "; no setting changes its rate significantly")
        txt += f" (Fisher vs baseline, Holm over {a['n_tested']} settings, p < {CHANGE_ALPHA:g})"
    if a["extrapolation"]:
        txt += "; extrapolation (apart): " + ", ".join(f"{k} {frac(e)}" for k, e in a["extrapolation"].items())
    return txt + "."


# ------------------------------------------------------------------------------ serial driver
def why_experiment(*, study: str = "winding", progress: bool = False, **kwargs) -> Dict[str, Any]:
    """Run the whole experiment in this process: :func:`why_tasks` (``study="winding"``, the default) or
    :func:`tntopo.study.chern_why.chern_why_tasks` (``study="chern"``) with ``kwargs``, :func:`run_why_task`
    on each, :func:`merge_why`. The study runs the same tasks in its process pool instead."""
    tasks = _provider_of(study).tasks(**kwargs)
    results = []
    for t in tasks:
        t0 = time.perf_counter()
        results.append(run_why_task(t))
        if progress:
            print(f"{t['model']:14s} {t['factor']:>14s}={t['setting']:<14s} seeds {t['seed_indices']} "
                  f"{time.perf_counter() - t0:6.1f} s", flush=True)
    return merge_why(results)
