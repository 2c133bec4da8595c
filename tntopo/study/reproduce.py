"""``tntopo reproduce``: the whole study, from data to ``results.json``, ``results.md`` and figures.

>>> from tntopo.study import reproduce
>>> results = reproduce("quick", out="results")          # doctest: +SKIP

Steps:

1. the evaluation sets (:func:`build_sets`: the clean sets of :mod:`tntopo.data.evalsets`, the
   counterfactual chains of :mod:`tntopo.study.counterfactual` and the disorder sets of
   :mod:`tntopo.study.disorder` at every chain length; built once, cached as ``DIR/data/sets-<key>.h5``);
2. the exact TopoNet (``init="exact"``) on every set, and its precision against :func:`tntopo.winding_number`;
3. learning-rate selection: seed 0 of every row (model x head) at every rate of ``lr_grid``, the best
   on validation data is kept; the trainability map and the landscape run in the same pool;
4. the other seeds of every row at its chosen rate, spread over ``executor`` with
   :func:`tntopo.parallel.map_tasks` -- a process pool by default, ``"serial"``, or a dask scheduler
   address. Each run derives its seed from :func:`tntopo.parallel.task_seed`, runs torch on one
   thread and is saved at once under ``DIR/runs/<row>/seed<k>-lr<lr>.json`` (atomically): an
   interrupted study resumes where it stopped, and any executor gives the same numbers;
5. aggregation over seeds (:func:`aggregate`), the top-level sections (``disorder``, ``edge_proxy``,
   ``trainability_map``, ``landscape``), the findings checked against the data
   (:func:`tntopo.study.report.findings`), ``results.json``, figures and ``results.md``.
"""
from __future__ import annotations

import contextlib
import os
import platform
import shutil
import sys
import threading
import time
import warnings
import zlib
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .._io import read_json, write_json
from ..parallel import TaskFailure, map_tasks, task_seed
from .stats import FAILS, HOLDS, wilson_interval
from .config import QUANTIZED_TOL, TOPO_KINDS, StudyConfig, get_config
from ..data.evalsets import EvalSet, build_eval_sets, load_eval_sets, save_eval_sets
from .._typing import strict_keywords

__all__ = ["reproduce", "run_training", "aggregate", "run_seed", "build_sets", "disorder_set_name"]

#: Largest raw parameter count whose effective count (Jacobian rank) is measured; the batch has up to
#: ``_JAC_ROWS`` samples, so beyond that many parameters the rank is a lower bound.
_JAC_MAX_PARAMS = 20000
_JAC_ROWS = 1024


def run_seed(cfg: StudyConfig, model: str, k: int) -> int:
    """Seed of training run ``k`` of row ``model``: from ``task_seed(cfg.seed, crc32(model), k)``."""
    ss = task_seed(cfg.seed, zlib.crc32(model.encode()), k)
    return int(ss.generate_state(1, np.uint32)[0])


def disorder_set_name(n_cells: int, W: float) -> str:  # the 1D study's names (kept for callers of this module)
    """Name of the disorder set of ``n_cells`` cells at strength ``W`` (``"disorder/N24/W2.5"``):
    :meth:`StudyConfig.disorder_set_name <tntopo.study.StudyConfig.disorder_set_name>`."""
    return StudyConfig.disorder_set_name(n_cells, W)


def _family(cfg: StudyConfig):
    from .disorder import DisorderFamily

    return DisorderFamily(ratios=tuple(cfg.disorder_ratios), delta_range=tuple(cfg.disorder_delta))


def build_sets(cfg: StudyConfig, progress: bool = False, executor=None, checkpoint=None) -> Dict[str, EvalSet]:
    """Every evaluation set of the study, deterministic in ``cfg.seed``.

    The clean sets of :func:`tntopo.data.build_eval_sets`; ``counterfactual``, ``counterfactual_control``
    and ``dose/cap<w>`` (:class:`tntopo.study.counterfactual.CounterfactualSet`, ``aux``: ``family``, the
    edge proxy's prediction ``edge_proxy``, ``near_degenerate``); ``disorder/N<N>/W<W>`` for every length
    and strength (:class:`tntopo.study.disorder.DisorderSet`: ``label`` the phase of the ensemble,
    ``w_real`` the real-space invariant of the open chain, ``aux``: ``estimator``, ``majority``,
    ``lyapunov_gap``, ``t0``, ``tai``). Each is an :class:`~tntopo.data.EvalSet`.

    Raises
    ------
    ValueError
        If the clean end of the disorder family is outside the training distribution
        (:func:`tntopo.study.disorder.check_clean_end`).
    """
    if cfg.kind == "chern":  # the Chern study's sets (tntopo.study.chern_sets)
        from .chern_sets import build_chern_sets

        return build_chern_sets(**cfg.set_kwargs(), progress=progress, executor=executor, checkpoint=checkpoint)
    from tqdm.auto import tqdm

    from .counterfactual import capped_dose_response, counterfactual_set, matched_controls
    from .disorder import check_clean_end, disorder_set

    sets = build_eval_sets(cfg, progress=progress)
    kw = dict(ranges=cfg.ranges, min_gap=cfg.min_gap, amplitude=cfg.amplitude)
    N = cfg.n_cells
    cf_seed = int(task_seed(cfg.seed, 11).generate_state(1)[0])
    sets["counterfactual"] = counterfactual_set(cfg.n_counterfactual, N, seed=cf_seed, **kw)
    sets["counterfactual_control"] = matched_controls(cfg.n_counterfactual, N, seed=cf_seed, **kw)
    widths = dose_widths(cfg)
    if widths:
        dose = capped_dose_response(cfg.n_dose, N, widths, seed=int(task_seed(cfg.seed, 13).generate_state(1)[0]), **kw)
        sets.update((dose_set_name(w), d) for w, d in dose.items())
    fam = _family(cfg)
    check_clean_end(fam, min_gap=cfg.min_gap, amplitude=cfg.amplitude)
    jobs = [(N, W) for N in cfg.disorder_lengths for W in cfg.disorder_strengths]
    dseed = int(task_seed(cfg.seed, 12).generate_state(1)[0])
    for Nd, W in tqdm(jobs, desc="disorder sets", disable=not progress):
        sets[disorder_set_name(Nd, W)] = disorder_set(W, int(Nd), cfg.n_disorder, family=fam, seed=dseed)
    return sets


def dose_widths(cfg: StudyConfig) -> Tuple[int, ...]:
    """Cap widths of the dose-response sets that fit outside the bulk region (``<= N//4 - 1``)."""
    return tuple(int(w) for w in getattr(cfg, "dose_widths", ()) if 1 <= int(w) <= cfg.n_cells // 4 - 1)


def dose_set_name(width: int) -> str:
    """Name of the dose-response set of cap width ``width`` (``"dose/cap3"``)."""
    return f"dose/cap{int(width)}"


# ----------------------------------------------------------------------------- worker side
_SETS_CACHE: Dict[str, Dict[str, EvalSet]] = {}


def _sets_for(cfg: StudyConfig, data_path: Optional[str]) -> Dict[str, EvalSet]:
    key = cfg.data_key()
    if key not in _SETS_CACHE:
        if data_path is not None and Path(data_path).exists():
            _SETS_CACHE[key] = load_eval_sets(data_path)
        else:  # e.g. a dask worker on another machine: rebuild (deterministic)
            _SETS_CACHE[key] = build_sets(cfg)
    return _SETS_CACHE[key]


def _predict(model, x: np.ndarray) -> np.ndarray:
    """Predicted winding per sample: the real output of a regressor, the argmax class of a classifier."""
    import torch

    from ..nn.training import predict

    pred, _ = predict(model, (torch.from_numpy(x), torch.zeros(len(x))), batch_size=512)
    return pred.numpy()


def _scores(pred: np.ndarray, s: EvalSet) -> Dict[str, Any]:
    """Accuracy and MAE of predictions on a set; on sets with an edge proxy (counterfactual chains and their
    controls) also how often the model says what the proxy says and how often neither bulk nor proxy
    (possible for a classifier over more than two windings); per family where the set has families."""
    r = np.round(pred)
    out: Dict[str, Any] = {"accuracy": float(np.mean(r == s.label)), "mae": float(np.mean(np.abs(pred - s.label)))}
    if "edge_proxy" in s.aux:
        proxy = s.aux["edge_proxy"]
        out["proxy_agreement"] = float(np.mean(r == proxy))
        out["neither"] = float(np.mean((r != s.label) & (r != proxy)))
    if "family" in s.aux:
        fam = s.aux["family"]
        out["by_family"] = {str(f): float(np.mean(r[fam == f] == s.label[fam == f])) for f in np.unique(fam)}
    if "tai" in s.aux and np.any(s.aux["tai"]):  # topological Anderson insulator samples, apart
        t = np.asarray(s.aux["tai"], bool)
        out["tai_accuracy"] = float(np.mean(r[t] == s.label[t]))
    if "quantized" in s.aux:  # the samples whose own marker determines the label (the Chern study's sets)
        q = np.asarray(s.aux["quantized"], bool)
        out["determined_fraction"] = float(np.mean(q))
        out["accuracy_determined"] = float(np.mean(r[q] == s.label[q])) if q.any() else None
    return out


def _criterion_accuracy(sc: Dict[str, Any]) -> Optional[float]:
    """The accuracy a learns-invariant criterion reads: on the samples whose label the input determines where
    the set says which those are (a label the input does not determine cannot be asked of any model), else on
    every sample."""
    return sc["accuracy_determined"] if "accuracy_determined" in sc else sc["accuracy"]


def _tolist(t) -> list:
    return np.asarray(t.detach().double().cpu().numpy()).tolist()


def _effective(model, sets, classes) -> Dict[str, Any]:
    """Effective parameter count (Jacobian rank on test inputs) beside the raw count."""
    import torch

    from ..nn import effective_parameters, n_parameters

    P = n_parameters(model)
    if P > _JAC_MAX_PARAMS:
        return {"effective": None, "raw": P, "note": f"not measured: more than {_JAC_MAX_PARAMS} parameters"}
    # samples, not outputs: a classifier's K logits per sample may carry less than K numbers
    # (the winding models' logits are functions of one), so the batch needs more samples than parameters
    x = sets["test"].x
    n = min(len(x), P + 64, _JAC_ROWS)
    r = effective_parameters(model, torch.from_numpy(x[:n]))
    k = len(classes) if classes else 1
    return {"effective": int(r), "raw": P, "samples": int(n), "outputs": int(n * k)}


def _rank_saturated(rank: int, outputs: int, raw: int) -> bool:
    """A Jacobian rank is only a lower bound of the effective count when it fills every output of a
    batch that has fewer outputs than the model has parameters."""
    return bool(outputs < raw and rank >= outputs)


@contextlib.contextmanager
def one_thread():
    """One torch thread and one BLAS/LAPACK thread inside the block (the study's tasks run in it).

    The study parallelizes over processes, never inside a task. This makes its bytes independent of the
    machine: OpenBLAS's threaded ``eigh`` rounds differently from its one-thread ``eigh`` from 96 x 96
    matrices up (open chains of 48 cells), so a task would otherwise give other bytes on a machine with
    another core count. It is also the fast choice: two pool workers, each with a 2-thread BLAS, on 2 busy
    cores built the sets of a 48-cell why task 25x slower than with one thread
    (``benchmarks/bench_blas_threads.py --quick``). The torch setting is restored on exit in the main thread (a pool
    or dask worker thread keeps one); the BLAS limit is restored by the last thread out
    (:func:`tntopo._blas.single_threaded_blas`).
    """
    import torch

    from .._blas import single_threaded_blas

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with single_threaded_blas():
            yield
    finally:
        if threading.current_thread() is threading.main_thread():
            torch.set_num_threads(threads)


def run_training(cfg: StudyConfig, run: str, k, lr: float, data_path: Optional[str] = None, device=None):
    """Train seed ``k`` of row ``run`` (a model and its head) at learning rate ``lr``; evaluate it on every set.

    ``k`` may also be a tuple of seed indices: those seeds are trained together as one vmapped model
    (:func:`tntopo.nn.train_seeds`, equal to separate runs up to rounding) and a list of results is
    returned, one per seed. Runs torch and BLAS on one thread (:func:`one_thread`) so that results do not
    depend on where it runs.
    A result is a JSON-able dict: ``history``, ``scores`` per set (sets at chain lengths the model
    cannot take are absent: "n/a"), ``learns_invariant`` (the seed's verdict), ``size_note``,
    effective parameters (seed 0), TopoNet weights, pruning results for SVD-prunable models, timings.
    ``device``: where the models train (default: the CPU); they are evaluated on the CPU.
    """
    from ..nn import build_model, train, train_seeds

    with one_thread():
        spec, head, _ = cfg.spec_of(run)
        classes = list(cfg.classes) if head == "classification" else None
        sets = _sets_for(cfg, data_path)
        ks = list(k) if isinstance(k, (tuple, list)) else [k]
        seeds = [run_seed(cfg, run, j) for j in ks]

        def build(seed):
            return build_model(spec.kind, cfg.n_cells, seed, classes=classes, **dict(spec.kwargs))

        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kw = dict(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=float(lr), patience=cfg.patience, progress=False,
                      device=device)
            if isinstance(k, (tuple, list)):
                models, hists = train_seeds(build, seeds, sets["train"].dataset(), sets["val"].dataset(),
                                            on_diverge="record", **kw)
                runs = [(m, h if not h.get("diverged") else None, h.get("diverged")) for m, h in zip(models, hists)]
            else:
                model = build(seeds[0])
                try:
                    hist = train(model, sets["train"].dataset(), sets["val"].dataset(), seed=seeds[0], **kw)
                    runs = [(model, hist, None)]
                except FloatingPointError as exc:  # TrainingDivergedError: the run scores as it stands
                    runs = [(model, None, str(exc))]
        t_train = (time.perf_counter() - t0) / len(ks)
        runs = [(m.cpu(), h, d) for m, h, d in runs]
        out = [_evaluate_run(cfg, run, j, seed, lr, m, h, d, sets, t_train, classes)
               for j, seed, (m, h, d) in zip(ks, seeds, runs)]
        return out if isinstance(k, (tuple, list)) else out[0]


def _evaluate_run(cfg: StudyConfig, run: str, k: int, seed: int, lr: float, model, hist, diverged, sets,
                  t_train: float, classes) -> Dict[str, Any]:
    """The JSON-able record of one trained seed (see :func:`run_training`)."""
    from ..nn import accepts_size, n_parameters, prune_svd, singular_values
    from .trainability import verdict

    spec, head, _ = cfg.spec_of(run)
    t0 = time.perf_counter()
    scores: Dict[str, Any] = {}
    notes = {N: accepts_size(model, N) for N in {s.n_cells for s in sets.values()}}
    scored: List[Tuple[EvalSet, Dict[str, Any]]] = []
    for name, s in sets.items():
        if name == "train" or notes[s.n_cells] is not None:
            continue
        same = next((sc for t, sc in scored if _same_set(s, t)), None)  # the Chern study's "size" is an alias
        scores[name] = same if same is not None else _scores(_predict(model, s.x), s)
        scored.append((s, scores[name]))
    size_note = notes[sets["size"].n_cells]
    crit = {c: _criterion_accuracy(scores[c]) for c in criteria_of(head)
            if c in scores and _criterion_accuracy(scores[c]) is not None}
    out: Dict[str, Any] = {
        "model": run, "k": k, "seed": seed, "lr": float(lr), "head": head, "key": cfg.run_key(run, lr),
        "parameters": n_parameters(model),
        "history": {key: (list(hist[key]) if hist else []) for key in
                    ("train_loss", "train_accuracy", "val_loss", "val_accuracy")},
        "best_epoch": hist["best_epoch"] if hist else None,
        "diverged": diverged,
        "max_val_accuracy": float(max(hist["val_accuracy"])) if hist and hist["val_accuracy"] else 0.0,
        "best_val_loss": _best_loss(hist),
        "scores": scores,
        "size_note": size_note,
        "learns_invariant": bool(verdict(crit, cfg.trainability_threshold)),  # no applicable criterion: not learned
        "learns_invariant_criteria": sorted(crit),
    }
    if k == 0:
        out["effective_parameters"] = _effective(model, sets, classes)
    if spec.kind in TOPO_KINDS and cfg.kind == "winding":
        core = model.model if head == "classification" else model  # a classifier wraps the TopoNet
        s_w, X, R = core.weights()
        out["weights"] = {"s": _tolist(s_w), "X": _tolist(X), "R": _tolist(R)}
    if spec.kind == "shallow" and head == "regression":
        test = sets["test"]
        sv = singular_values(model)
        ranks = [r for r in cfg.pruning_ranks if r <= len(sv)]
        out["pruning"] = {
            "ranks": ranks,
            "accuracy": [_scores(_predict(prune_svd(model, r), test.x), test)["accuracy"] for r in ranks],
            "singular_values": _tolist(sv),
        }
    out["seconds"] = {"train": t_train, "evaluate": time.perf_counter() - t0}
    return out


def _same_set(a: EvalSet, b: EvalSet) -> bool:
    """Whether two evaluation sets hold the same samples and labels (one set under two names; after a
    reload from disk the two names are two equal objects)."""
    if a is b:
        return True
    return (a.n_cells == b.n_cells and a.x.shape == b.x.shape and np.array_equal(a.label, b.label)
            and np.array_equal(a.x, b.x))


def seed_block(cfg: StudyConfig, run: str, k: int) -> Optional[int]:
    """The fixed block of seed ``k`` of row ``run`` trained as one vmapped model, or ``None`` (trained alone).

    TopoNet rows with ``cfg.seed_batch > 1``: the selection seeds ``0 .. lr_selection_seeds - 1`` form
    block ``-1`` (at each rate), the others blocks of ``seed_batch`` from there. Fixed blocks make the
    numbers independent of which runs a resumed study finds in its cache.
    """
    if cfg.seed_batch <= 1 or cfg.spec_of(run)[0].kind not in TOPO_KINDS:
        return None
    L = int(cfg.lr_selection_seeds)
    return -1 if k < L else (k - L) // int(cfg.seed_batch)


def criteria_of(head: str) -> Tuple[str, ...]:
    """The learns-invariant criteria a head can meet: a classifier never sees a positive example of an
    unseen winding class, so ``unseen`` is n/a for it (never a failure); both heads can meet ``size``
    (where the model takes the length) and ``counterfactual`` (labels within the training classes)."""
    return ("size", "counterfactual") if head == "classification" else ("unseen", "size", "counterfactual")


def _best_loss(hist) -> Optional[float]:
    vals = [float(v) for v in (hist or {}).get("val_loss", []) if v is not None and np.isfinite(v)]
    return min(vals) if vals else None


def _cost(cfg: StudyConfig, run: str) -> float:
    """Rough relative cost of a training run (for scheduling only)."""
    kind = cfg.spec_of(run)[0].kind
    return {"cnn": 4.0, "symmetric": 6.0, "shallow": 1.5, "mlp": 1.5}.get(kind, 1.0)


# ----------------------------------------------------------------------------- sections run as tasks
def run_section(cfg: StudyConfig, section: str, part, lr: Optional[float] = None) -> Dict[str, Any]:
    """One task of a top-level section.

    ``trainability_map``: ``part = "<model>/<N>"``, one model at one chain length over the map's
    initializations, on the main distribution (ranges, gap, training windings) at the model's selected
    rate ``lr`` and the main budget. ``landscape``: ``part`` a model name. ``why``: ``part`` the index
    of a task of :func:`tntopo.study.why.why_tasks`.
    """
    with one_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if section == "trainability_map":
            from .trainability import model_factory, trainability_map

            model, N = str(part).split("/")
            kw = {k: v for k, v in dict(cfg.trainability_map or {}).items() if k not in ("models", "n_cells")}
            spec = cfg.models[model]
            data = {"ranges": tuple(cfg.ranges), "min_gap": cfg.min_gap, "amplitude": cfg.amplitude,
                    "size_factor": cfg.size_factor, **dict(kw.pop("data", {}) or {})}
            kw.setdefault("epochs", cfg.epochs)
            res = trainability_map(model_factory(spec.kind, **dict(spec.kwargs)), n_cells=(int(N),),
                                   diversities=(tuple(cfg.train_windings),), lr=float(lr or 1e-2),
                                   batch_size=cfg.batch_size, threshold=cfg.trainability_threshold, data=data,
                                   seed=cfg.seed, **kw)
            for c in res["cells"]:
                c["model"] = model
            return res
        if section == "landscape":
            from .landscape import landscape_report
            from .trainability import model_factory

            kw = {k: v for k, v in dict(cfg.landscape or {}).items() if k != "models"}
            spec = cfg.models[part]
            return landscape_report(model_factory(spec.kind, **dict(spec.kwargs)), cfg.n_cells, seed=cfg.seed,
                                    data={"ranges": tuple(cfg.ranges), "min_gap": cfg.min_gap,
                                          "amplitude": cfg.amplitude, "train_windings": tuple(cfg.train_windings)},
                                    **kw)
        if section == "why":
            from .why import run_why_task

            return run_why_task(_why_task_list(cfg, dict(lr or ()))[int(part)])
    raise ValueError(f"unknown section {section!r}")


def _task(kind: str, *args):
    """Dispatcher of the study's tasks (one pool for training runs and sections)."""
    if kind == "run":
        return run_training(*args)
    return run_section(*args)


def select_rate(cfg: StudyConfig, name: str, done: Dict[tuple, Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The learning rate of row ``name``: the best mean validation accuracy over the selection seeds
    (``0 .. lr_selection_seeds - 1``), ties by the lower mean best validation loss, then the smaller rate.

    A diverged run counts as accuracy 0 and loss infinity. ``None`` if no selection run finished.
    """
    from ..nn.training import best_lr

    L = int(cfg.lr_selection_seeds)
    sc, per_seed = {}, {}
    for lr in (float(g) for g in cfg.lr_grid):
        rs = [done[(name, k, lr)] for k in range(L) if (name, k, lr) in done]
        if len(rs) < L:
            continue
        accs = [0.0 if r.get("diverged") else r["scores"]["val"]["accuracy"] for r in rs]
        losses = [float("inf") if r.get("diverged") or r.get("best_val_loss") is None else r["best_val_loss"]
                  for r in rs]
        sc[lr] = {"accuracy": float(np.mean(accs)), "loss": float(np.mean(losses))}
        per_seed[f"{lr:g}"] = accs
    if not sc:
        return None
    return {"lr": best_lr(sc), "seeds": L, "rule": "mean validation accuracy over seeds, ties by mean validation loss",
            "val_accuracy": {f"{lr:g}": v["accuracy"] for lr, v in sc.items()},
            "val_loss": {f"{lr:g}": v["loss"] for lr, v in sc.items()}, "val_accuracy_per_seed": per_seed}


def _why_task_list(cfg: StudyConfig, lrs: Optional[Dict[str, float]]) -> List[Dict[str, Any]]:
    """The causal test's tasks (:func:`tntopo.study.why.why_tasks`): the main distribution, budget and
    batch at the models' selected rates, with the settings of ``cfg.why`` (``models``, ``seeds``,
    ``factors``, ``data``, ``n_cells``, ``epochs``, ``seeds_per_task``, ``projection``). The Chern study's:
    :func:`tntopo.study.chern_why.chern_why_tasks` with :func:`~tntopo.study.chern_why.why_arguments`
    (empty when none of its rows is in the config)."""
    if cfg.kind == "chern":
        from .chern_why import chern_why_tasks, why_arguments

        kw2d = why_arguments(cfg, lrs)
        return chern_why_tasks(**kw2d) if kw2d is not None else []
    from .why import why_tasks

    kw = dict(cfg.why or {})
    models = tuple(m for m in kw.pop("models", ()) if m in cfg.models)
    data = {"min_gap": cfg.min_gap, "amplitude": cfg.amplitude, "size_factor": cfg.size_factor,
            **dict(kw.pop("data", {}) or {})}
    return why_tasks(models={m: cfg.models[m] for m in models}, lr={m: v for m, v in (lrs or {}).items() if m in models},
                     seed=cfg.seed, ranges=tuple(cfg.ranges), train_windings=tuple(cfg.train_windings),
                     unseen_windings=tuple(cfg.unseen_windings), n_cells=int(kw.pop("n_cells", cfg.n_cells)),
                     epochs=int(kw.pop("epochs", cfg.epochs)), batch_size=cfg.batch_size,
                     threshold=cfg.trainability_threshold, data=data, **kw)


# ----------------------------------------------------------------------------- exact reference
def _exact_reference(cfg: StudyConfig, sets: Dict[str, EvalSet]) -> Dict[str, Any]:
    """TopoNet(init="exact") on every set, scored like every model, and its precision.

    ``max_abs_error``: against the dense real-space invariant of the network's own input
    (:func:`tntopo.data.features.input_winding`, matrix products, no tensor network) on freshly drawn
    chains -- the network's precision. ``convention``: against :func:`tntopo.winding_number`
    (``method="dense"``) of the same chains, which differs where the well-posed input chiral-polarizes
    machine-degenerate zero modes (counted in ``n_grouped_zero_modes``).
    """
    if cfg.kind == "chern":
        from .chern_study import exact_reference

        return exact_reference(cfg, sets, _scores)
    import torch

    from ..data import wavefunctions
    from ..data.features import input_winding, near_degenerate
    from ..invariants import winding_number
    from ..nn import TopoNet

    acc, scores, nets = {}, {}, {}
    for name, s in sets.items():
        if s.n_cells not in nets:
            nets[s.n_cells] = TopoNet(s.n_cells, init="exact", dtype=torch.float64)
        with torch.no_grad():
            W = nets[s.n_cells](torch.from_numpy(s.x.astype(np.float64))).numpy()
        scores[name] = _scores(W, s)  # measured like every model's row (nothing is typed in)
        acc[name] = scores[name]["accuracy"]
    errs, conv, grouped = [], [], 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for N, h in _test_blocks(cfg):
            net = nets.get(N) or TopoNet(N, init="exact", dtype=torch.float64)
            x = wavefunctions(h)
            with torch.no_grad():
                W = net(torch.from_numpy(x)).numpy()
            errs.append(np.abs(W - input_winding(x)))
            conv.append(np.abs(W - winding_number(h, method="dense")))
            grouped += int(np.sum(near_degenerate(h) > 0))
    errs, conv = np.concatenate(errs), np.concatenate(conv)
    return {"max_abs_error": float(errs.max()), "median_abs_error": float(np.median(errs)), "accuracy": acc,
            "scores": scores, "n_checked": int(errs.size),
            "convention": {"max_abs_difference": float(conv.max()), "median_abs_difference": float(np.median(conv)),
                           "n_grouped_zero_modes": grouped}}


def _test_blocks(cfg: StudyConfig):
    """Hopping blocks for the precision check: test-distribution chains (N and size_factor*N) and disordered ones."""
    from ..systems.chain import sample_chains

    n = max(8, min(64, cfg.n_test))
    out = []
    for j, (N, w) in enumerate([(cfg.n_cells, cfg.train_windings), (cfg.n_cells, cfg.unseen_windings),
                                (cfg.size_factor * cfg.n_cells, cfg.train_windings)]):
        b = sample_chains(n, N, cfg.ranges, windings=w, min_gap=cfg.min_gap, amplitude=cfg.amplitude,
                          seed=task_seed(cfg.seed, 100, j))
        out.append((N, b.hopping_blocks()))
    Wmax = max(cfg.disorder_strengths)
    d = _family(cfg).disorder(Wmax)
    b = sample_chains(n, cfg.n_cells, (0, 1), disorder=d if Wmax > 0 else None, seed=task_seed(cfg.seed, 100, 9))
    out.append((cfg.n_cells, b.hopping_blocks()))
    return out


# ----------------------------------------------------------------------------- aggregation
def _mean(xs):
    xs = [x for x in xs if x is not None]
    return float(np.mean(xs)) if xs else None


def _ci(xs):
    """Bootstrap 95% interval of the mean over seeds (``None`` without values)."""
    from .stats import bootstrap_interval

    return bootstrap_interval([x for x in xs if x is not None])


def _family_means(rs, set_name: str) -> Optional[Dict[str, float]]:
    fams = [r["scores"][set_name].get("by_family") for r in rs if set_name in r["scores"]]
    fams = [f for f in fams if f]
    if not fams:
        return None
    return {k: float(np.mean([f[k] for f in fams if k in f])) for k in fams[0]}


def _minus_control(cf: Optional[Dict[str, float]], ctl: Optional[Dict[str, float]]) -> Optional[Dict[str, float]]:
    """Counterfactual minus matched-control accuracy per family (proxy reliance beyond out-of-distribution loss)."""
    if not cf or not ctl:
        return None
    return {f: cf[f] - ctl[f"{f}/control"] for f in cf if f"{f}/control" in ctl}


def _size_sets(rs) -> List[str]:
    """The extra size sets (``"size/L<L>"``, the Chern study's) found in the runs' scores, by size."""
    names = {n for r in rs for n in r["scores"] if n.startswith("size/L")}
    return sorted(names, key=lambda n: int(n[len("size/L"):]))


def _std(xs):
    xs = [x for x in xs if x is not None]
    return float(np.std(xs)) if xs else None


def aggregate(cfg: StudyConfig, runs: Dict[str, List[Dict[str, Any]]],
              selection: Optional[Dict[str, Dict[str, Any]]] = None) -> Dict[str, Any]:
    """Per-row results (the ``models`` entry of results.json) from the runs of every seed.

    ``selection`` maps each row to its learning-rate selection (``{"lr", "scores"}``). A set a model
    cannot take (chains of another length for a fixed-size model) is ``"n/a"``, never a failure.
    """
    return {name: _row(cfg, name, sorted(rs, key=lambda r: r["k"]), selection) for name, rs in runs.items()}


def _row(cfg: StudyConfig, name: str, rs: List[Dict[str, Any]],
         selection: Optional[Dict[str, Dict[str, Any]]]) -> Dict[str, Any]:
    """One row's entry of :func:`aggregate` from its runs (sorted by seed index)."""
    spec, head, base = cfg.spec_of(name)

    def per(set_name, metric="accuracy"):
        return [r["scores"][set_name].get(metric) if set_name in r["scores"] else None for r in rs]

    def mean_or_na(set_name, metric="accuracy"):
        v = _mean(per(set_name, metric))
        return "n/a" if v is None else v

    size_note = rs[0]["size_note"] if rs else None
    li = [r["learns_invariant"] for r in rs]
    eff = next((dict(r["effective_parameters"]) for r in rs if "effective_parameters" in r), None)
    if eff and eff.get("effective") is not None:  # derived here, not stored with the run
        eff["lower_bound"] = _rank_saturated(eff["effective"], eff["outputs"], eff["raw"])
    entry: Dict[str, Any] = {
        "description": spec.description,
        "kind": spec.kind,
        "base_model": base,
        "head": head,
        "lr": rs[0]["lr"] if rs else None,
        "lr_selection": (selection or {}).get(name),
        "parameters": rs[0]["parameters"] if rs else None,
        "effective_parameters": eff,
        "seeds": len(rs),
        "test_accuracy": _mean(per("test")),
        "test_accuracy_std": _std(per("test")),
        "test_accuracy_ci": _ci(per("test")),
        "val_trainability": float(np.mean([r["max_val_accuracy"] >= cfg.trainability_threshold for r in rs])),
        "learns_invariant": float(np.mean(li)) if li else None,
        "learns_invariant_ci": wilson_interval(sum(li), len(li)) if li else None,
        "learns_invariant_criteria": rs[0]["learns_invariant_criteria"] if rs else [],
        "learns_invariant_na": sorted(set(("unseen", "size", "counterfactual")) - set(criteria_of(head))),
        "size_generalization_accuracy": "n/a" if size_note else _mean(per("size")),
        "size_generalization_n_cells": cfg.size_n_cells,
        "unseen_winding_accuracy": _mean(per("unseen")),
        "unseen_winding_accuracy_ci": _ci(per("unseen")),
        "counterfactual_accuracy": _mean(per("counterfactual")),
        "counterfactual_accuracy_ci": _ci(per("counterfactual")),
        "counterfactual_proxy_agreement": _mean(per("counterfactual", "proxy_agreement")),
        "counterfactual_neither": _mean(per("counterfactual", "neither")),
        "counterfactual_by_family": _family_means(rs, "counterfactual"),
        "counterfactual_control_accuracy": _mean(per("counterfactual_control")),
        "counterfactual_control_by_family": _family_means(rs, "counterfactual_control"),
        "counterfactual_minus_control": _minus_control(_family_means(rs, "counterfactual"),
                                                       _family_means(rs, "counterfactual_control")),
        "dose_response": {str(w): mean_or_na(dose_set_name(w)) for w in dose_widths(cfg)},
        "dose_response_proxy_agreement": {str(w): mean_or_na(dose_set_name(w), "proxy_agreement")
                                          for w in dose_widths(cfg)},
        "disorder_tai_accuracy": {str(N): {f"{W:g}": mean_or_na(cfg.disorder_set_name(N, W), "tai_accuracy")
                                           for W in cfg.disorder_strengths} for N in cfg.disorder_lengths},
        "edge_ablation_accuracy": _mean(per("ablation")),
        "disorder_accuracy": {str(N): {f"{W:g}": mean_or_na(cfg.disorder_set_name(N, W)) for W in cfg.disorder_strengths}
                              for N in cfg.disorder_lengths},
        "diverged_seeds": int(sum(bool(r.get("diverged")) for r in rs)),
        "per_seed": {
            "seed": [r["seed"] for r in rs],
            "max_val_accuracy": [r["max_val_accuracy"] for r in rs],
            "test_accuracy": per("test"),
            "size_generalization_accuracy": per("size"),
            "unseen_winding_accuracy": per("unseen"),
            "counterfactual_accuracy": per("counterfactual"),
            "edge_ablation_accuracy": per("ablation"),
            "counterfactual_control_accuracy": per("counterfactual_control"),
            "disorder_accuracy": {str(N): {f"{W:g}": per(cfg.disorder_set_name(N, W)) for W in cfg.disorder_strengths}
                                  for N in cfg.disorder_lengths},
            "learns_invariant": li,
        },
        "train_seconds": _mean([r["seconds"]["train"] for r in rs]),
        "curves": _curves(rs),
    }
    if _size_sets(rs):  # the Chern study's sizes (16x16, 32x32): accuracy per size, n/a where not taken
        entry["size_generalization_by_size"] = {n[len("size/L"):]: mean_or_na(n) for n in _size_sets(rs)}
    if size_note:
        entry["size_generalization_note"] = f"input size is fixed: {size_note}"
    return entry


def _disorder_section(cfg: StudyConfig, sets: Dict[str, EvalSet], models: Dict[str, Any],
                      exact: Dict[str, Any]) -> Dict[str, Any]:
    """Top-level ``disorder``: per chain length, every row's accuracy against the phase label beside the
    finite-length bond estimator, the majority baseline and the exact invariant of the open input chain."""
    if cfg.kind == "chern":
        from .chern_study import disorder_section

        return disorder_section(cfg, sets, models, exact)
    by_len = {}
    for N in cfg.disorder_lengths:
        row: Dict[str, Any] = {"estimator_accuracy": {}, "majority_accuracy": {}, "open_invariant_accuracy": {},
                               "topological_fraction": {}, "tai": {}, "models": {m: e["disorder_accuracy"][str(N)]
                                                                      for m, e in models.items()}}
        for W in cfg.disorder_strengths:
            s, k = sets[cfg.disorder_set_name(N, W)], f"{W:g}"
            row["estimator_accuracy"][k] = float(np.mean(s.aux["estimator"] == s.label))
            row["majority_accuracy"][k] = float(np.mean(s.aux["majority"] == s.label))
            row["open_invariant_accuracy"][k] = exact["accuracy"][cfg.disorder_set_name(N, W)]
            row["topological_fraction"][k] = float(np.mean(s.label))
            t = np.asarray(s.aux.get("tai", np.zeros(len(s), bool)), bool)
            if t.any():  # topological Anderson insulator samples: trivial when clean, topological in the ensemble
                row["tai"][k] = {"n": int(t.sum()), "estimator_accuracy": float(np.mean(s.aux["estimator"][t] == s.label[t])),
                                 "open_invariant_accuracy": exact["scores"][cfg.disorder_set_name(N, W)].get("tai_accuracy"),
                                 "models": {m: e["disorder_tai_accuracy"][str(N)][k] for m, e in models.items()}}
        by_len[str(N)] = row
    from .disorder import check_clean_end

    check_clean_end(_family(cfg), min_gap=cfg.min_gap, amplitude=cfg.amplitude)  # raises if not
    return {"n_cells": [int(N) for N in cfg.disorder_lengths], "strengths": [float(W) for W in cfg.disorder_strengths],
            "clean_end_in_training_distribution": True,
            "family": _family(cfg).to_dict(), "n_samples": cfg.n_disorder,
            "label": "thermodynamic phase of the ensemble (exact Lyapunov criterion)", "by_length": by_len}


def _edge_proxy_section(cfg: StudyConfig, sets: Dict[str, EvalSet]) -> Dict[str, Any]:
    """Top-level ``edge_proxy``: the one-feature edge classifier on the clean and counterfactual sets, and
    the leak test of the fixed ablation next to the first edition's in-gap ablation."""
    if cfg.kind == "chern":
        from .chern_study import edge_proxy_section

        return edge_proxy_section(cfg, sets)
    from ..data.evalsets import ablate_in_gap
    from .counterfactual import edge_proxy_predict, leak_test

    acc = {name: float(np.mean(edge_proxy_predict(sets[name].x) == sets[name].label))
           for name in ("test", "unseen", "ablation", "counterfactual", "counterfactual_control") if name in sets}
    cf = sets["counterfactual"]
    fam = cf.aux["family"]
    by_family = {str(f): float(np.mean(cf.aux["edge_proxy"][fam == f] == cf.label[fam == f])) for f in np.unique(fam)}
    test = sets["test"]
    old = ablate_in_gap(test.x, test.aux["energies"], cfg.min_gap / 2)
    dose = {str(w): float(np.mean(sets[dose_set_name(w)].aux["edge_proxy"] == sets[dose_set_name(w)].label))
            for w in dose_widths(cfg) if dose_set_name(w) in sets}
    ctl = sets.get("counterfactual_control")
    ctl_by = ({str(f): float(np.mean(ctl.aux["edge_proxy"][ctl.aux["family"] == f] == ctl.label[ctl.aux["family"] == f]))
               for f in np.unique(ctl.aux["family"])} if ctl is not None else None)
    return {"dose_response": dose, "control_by_family": ctl_by,
            "rule": "topological iff the two mid-spectrum states carry > 0.5 of their weight on the outer 2 cells "
                    "at each end", "accuracy": acc, "counterfactual_by_family": by_family,
            "leak_test": {"fixed_ablation": leak_test(sets["ablation"].x, test.label, seed=cfg.seed),
                          "in_gap_ablation_first_edition": leak_test(old, test.label, seed=cfg.seed)}}


def _merge_map(parts: List[Dict[str, Any]], threshold: float = 0.95) -> Optional[Dict[str, Any]]:
    """The trainability map from its per-(model, length) parts, with intervals and learning conditional on fitting.

    Per cell: ``learns_invariant`` with its Wilson interval ``learns_invariant_ci``; ``fits`` (validation
    accuracy >= ``threshold``) with ``fits_ci``; ``learns_given_fits`` (among the seeds that fit) with
    its interval; ``determined``: the fraction of each criterion set's chains whose label the input
    determines (the others are left out of the criterion sets), ``undetermined_flag`` where that
    fraction is below 0.9 on any criterion.
    """
    from .stats import wilson_interval

    parts = [p for p in parts if p]
    if not parts:
        return None
    grid = dict(parts[0]["grid"])
    grid["n_cells"] = sorted({n for p in parts for n in p["grid"]["n_cells"]})
    grid["models"] = sorted({c.get("model") for p in parts for c in p["cells"]}, key=str)
    cells = []
    for p in parts:
        for c in p["cells"]:
            c = dict(c)
            li = [r["learns_invariant"] for r in c["seeds"] if r.get("learns_invariant") is not None]
            fits = [isinstance(r.get("val_accuracy"), float) and r["val_accuracy"] >= threshold for r in c["seeds"]]
            cond = [r["learns_invariant"] for r, f in zip(c["seeds"], fits) if f and r.get("learns_invariant") is not None]
            c["n_seeds"] = len(c["seeds"])
            c["learns_invariant_ci"] = wilson_interval(sum(li), len(li))
            c["fits"] = float(np.mean(fits)) if fits else None
            c["fits_ci"] = wilson_interval(sum(fits), len(fits))
            c["learns_given_fits"] = float(np.mean(cond)) if cond else None
            c["learns_given_fits_ci"] = wilson_interval(sum(cond), len(cond))
            det = c.get("determined") or {}
            c["undetermined_flag"] = bool(det) and min(det.values()) < 0.9
            cells.append(c)
    cells.sort(key=lambda c: (str(c.get("model")), c["n_cells"], c["init"]))
    return {"grid": grid, "cells": cells}


def _merge_why(parts: List[Optional[Dict[str, Any]]]) -> Optional[Dict[str, Any]]:
    """The causal test from its task results (:func:`tntopo.study.why.merge_why`)."""
    parts = [p for p in parts if p]
    if not parts:
        return None
    from .why import merge_why

    return merge_why(parts)


def _curves(rs) -> Dict[str, Any]:
    out = {}
    for key in ("val_accuracy", "train_loss"):
        rows = [r["history"][key] for r in rs if r["history"][key]]
        if not rows:
            continue
        n = min(len(x) for x in rows)
        a = np.array([x[:n] for x in rows], dtype=float)
        out[key] = {"mean": a.mean(0).tolist(), "min": a.min(0).tolist(), "max": a.max(0).tolist()}
    return out


def _pruning(runs: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    rs = [r for r in runs if "pruning" in r]
    if not rs:
        return None
    rs = sorted(rs, key=lambda r: r["k"])
    ranks = rs[0]["pruning"]["ranks"]
    acc = np.array([r["pruning"]["accuracy"] for r in rs])
    full = np.array([r["scores"]["test"]["accuracy"] for r in rs])
    sv = np.array([r["pruning"]["singular_values"] for r in rs])
    mean = acc.mean(0)
    within = [r for r, a in zip(ranks, mean) if a >= full.mean() - 0.01]
    return {
        "model": rs[0]["model"],
        "ranks": ranks,
        "accuracy": {str(r): float(a) for r, a in zip(ranks, mean)},
        "accuracy_std": {str(r): float(a) for r, a in zip(ranks, acc.std(0))},
        "unpruned_accuracy": float(full.mean()),
        "full_rank": int(sv.shape[1]),
        "smallest_rank_within_1pct": int(within[0]) if within else None,
        "singular_values": sv[0].tolist(),
        "singular_values_mean_normalized": (sv / sv[:, :1]).mean(0).tolist(),
    }


def _versions() -> Dict[str, str]:
    import importlib

    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for mod in ("tntopo", "numpy", "scipy", "torch", "quimb", "opt_einsum", "matplotlib", "h5py"):
        try:
            out[mod] = importlib.import_module(mod).__version__
        except Exception:  # noqa: BLE001 - optional or broken package: reported as missing
            out[mod] = None
    return out


# ----------------------------------------------------------------------------- driver
@strict_keywords
def reproduce(
    config: Union[str, StudyConfig] = "quick",
    out: Union[str, os.PathLike] = "results",
    executor=None,
    *,
    study: str = "winding",
    seeds: Optional[int] = None,
    models: Optional[List[str]] = None,
    resume: bool = True,
    progress: bool = True,
    max_workers: Optional[int] = None,
    figures: bool = True,
    device: Optional[str] = None,
    compare_with: Union[None, str, os.PathLike] = None,
) -> Dict[str, Any]:
    """Run the study and write ``out/results.json``, ``out/results.md`` and ``out/figures/*.png``.

    Parameters
    ----------
    config : {"quick", "full", "tiny"}, StudyConfig or ChernStudyConfig
        A preset of ``study``, or a config.
    study : {"winding", "chern"}
        Which study a preset name means: the winding number of 1D chains (default) or the Chern number
        of 2D lattices (:class:`tntopo.study.ChernStudyConfig`, same protocol and report).
    out : path
        Output directory (created). Finished training runs are cached in ``out/runs``.
    executor : None, "process", "serial", "thread", dask scheduler address, or an Executor
        Where the training runs go (see :mod:`tntopo.parallel`); the numbers do not depend on it.
    seeds : int, optional
        Override the number of seeds of every row (TopoNet and generic; the learning-rate selection
        keeps at most that many).
    models : list of str, optional
        Run only these models.
    resume : bool
        Reuse finished runs found in ``out/runs`` (those made with the same settings).
    progress : bool
        Progress bars.
    max_workers : int, optional
        Size of the default process pool.
    figures : bool
        Draw the PNG figures.
    device : str, optional
        Torch device the rows' training runs use (``"cuda"``, ``"cuda:1"``...; default the CPU).
        Results equal the CPU's up to floating-point rounding; the trainability map, the causal test
        and the landscape train on the CPU.
    compare_with : path, optional
        The Chern study only: the winding study's ``results.json``; the two are set side by side in
        ``results["comparison"]`` (:func:`tntopo.study.compare.compare_studies`), the report's "1D and
        2D" section and ``figures/comparison.png``. Read as JSON (never unpickled).

    Returns
    -------
    dict
        The content of ``results.json``.

    Notes
    -----
    The default process pool starts its workers from a fork server (``spawn`` where there is
    none; never ``fork``: torch is not fork-safe, see :mod:`tntopo.parallel`), which re-imports
    the calling script: guard a script that calls ``reproduce`` with ``if __name__ == "__main__":``.
    """
    t_start = time.perf_counter()
    cfg = _configure(config, study=study, seeds=seeds, models=models, device=device)
    winding = _winding_results(cfg, compare_with)  # checked before any work
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run = _Runner(cfg, out, executor, resume=resume, progress=progress, max_workers=max_workers, device=device)
    sets, exact = run.data_and_reference()
    t0 = time.perf_counter()
    selection = run.select_rates()
    lrs = {m: selection[m]["lr"] for m in cfg.models if m in selection}  # regression rows: the map and why
    map_parts, why_parts = run.train_selected(selection, lrs)
    run.timings["training_wall_s"] = time.perf_counter() - t0
    run.timings["training_cpu_s"] = float(sum(r["seconds"]["train"] + r["seconds"]["evaluate"]
                                              for r in run.done.values()))
    run.timings["runs_reused"] = run.n_reused
    results = run.results(selection, map_parts, why_parts, sets, exact)
    if winding is not None:
        from .compare import compare_studies

        results["comparison"] = compare_studies(winding, results)
    from .report import findings, write_report

    results["findings"] = findings(results)
    results["rerun_check"] = rerun_check(results["findings"], [
        findings(run.results(selection, map_parts, why_parts, sets, exact, keep=lambda k, h=h: k % 2 == h))
        for h in range(len(RERUN_HALVES))])
    timings = run.timings
    timings["total_s"] = time.perf_counter() - t_start
    results["timings"] = timings
    write_json(out / "results.json", results)
    if figures:
        t0 = time.perf_counter()
        results["figures"] = _figures(results, out / "figures")
        timings["figures_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start
    write_report(results, out / "results.md")
    write_json(out / "results.json", results)
    return results


def _winding_results(cfg: StudyConfig, path) -> Optional[Dict[str, Any]]:
    """The 1D results to compare the Chern study with (``compare_with=``), read and checked; ``None`` if none."""
    if path is None:
        return None
    if cfg.kind != "chern":
        raise TypeError("compare_with= applies to the Chern study (study='chern'): it sets a 2D run beside the "
                        "winding study's results.json; drop it for the winding study")
    from .compare import check_winding_results

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"compare_with={str(path)!r}: no such file; pass the results.json that "
                                "`tntopo reproduce --out DIR` wrote for the winding study (DIR/results.json)")
    return dict(check_winding_results(read_json(p), f"compare_with={str(path)!r}"))


def _configure(config, *, study="winding", seeds, models, device) -> StudyConfig:
    """The run's config: a preset of ``study`` or a config with ``seeds`` (every row, the selection seeds
    included) and ``models`` applied; ``device`` checked before any work (a missing GPU is an error at once)."""
    cfg = get_config(config, study=study)
    if device is not None:
        from ..nn import check_device

        check_device(device)
    changes: Dict[str, Any] = {}
    if seeds is not None:
        changes.update(seeds=int(seeds), generic_seeds=int(seeds),
                       lr_selection_seeds=min(int(seeds), int(cfg.lr_selection_seeds)))
    if models is not None:
        changes["models"] = list(models)
    cfg = cfg.replace(**changes) if changes else cfg
    if cfg.kind == "chern" and cfg.why:  # the causal test's settings checked before any work (its task list)
        try:
            _why_task_list(cfg, {})
        except ValueError as exc:
            raise ValueError(f"why: {exc}") from None
    return cfg


class _Runner:
    """One run of :func:`reproduce`: its cache of finished training runs and section parts under ``out``
    (``runs/``, ``sections/``), the pool that computes the missing ones, and the timings."""

    def __init__(self, cfg: StudyConfig, out: Path, executor, *, resume: bool, progress: bool,
                 max_workers: Optional[int], device: Optional[str]):
        self.cfg, self.out, self.executor = cfg, out, executor
        self.resume, self.progress, self.max_workers = resume, progress, max_workers
        self.dev = () if device is None else (str(device),)
        self.data_path = out / "data" / f"sets-{cfg.data_key()}.h5"
        self.dpath = str(self.data_path.resolve())
        self.done: Dict[tuple, Dict[str, Any]] = {}
        self.section_results: Dict[tuple, Any] = {}
        self.failures: Dict[str, str] = {}
        self.timings: Dict[str, float] = {}
        self.n_reused = 0

    # ---- 1-2. data and the exact reference
    def data_and_reference(self):
        # The sets and the exact row diagonalize thousands of small matrices in this process: one thread
        # each for torch and BLAS, as every task of the study (:func:`one_thread`: the same bytes on any
        # machine; 2 threads on a busy 2-core machine measured 230x slower for torch.linalg.eigh of 113
        # 72x72 matrices: 32 s against 0.14 s); the ensembles go to the executor.
        with one_thread():
            return self._data_and_reference()

    def _data_and_reference(self):
        cfg, t0 = self.cfg, time.perf_counter()
        sets = None
        if self.data_path.exists() and self.resume:
            try:
                sets = load_eval_sets(self.data_path)
            except ValueError:  # damaged or of another format version: rebuild
                sets = None
        if sets is None:
            # the Chern study's ensemble labels run on the study's executor (same bytes on any executor)
            # the Chern study's sets are checkpointed one by one (its build takes about an hour at full size):
            # an interrupted build resumes at the first missing set; the parts go once the whole file is written
            parts = self.out / "data" / f"parts-{cfg.data_key()}" if cfg.kind == "chern" and self.resume else None
            sets = build_sets(cfg, progress=self.progress,
                              executor=(self.executor or "process") if cfg.kind == "chern" else None,
                              checkpoint=parts)
            save_eval_sets(sets, self.data_path)
            if parts is not None:
                shutil.rmtree(parts, ignore_errors=True)
        _SETS_CACHE[cfg.data_key()] = sets
        self.timings["data_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        exact_path = self.out / "data" / f"exact-{cfg.data_key()}.json"
        exact = _read_cached(exact_path) if self.resume else None
        if exact is None:
            exact = _exact_reference(cfg, sets)
            write_json(exact_path, exact)
        self.timings["exact_s"] = time.perf_counter() - t0
        return sets, exact

    # ---- the cache
    def run_path(self, name, k, lr) -> Path:
        return self.out / "runs" / name / f"seed{k:03d}-lr{lr:g}.json"

    def section_path(self, section, part, lr=None) -> Path:
        tag = str(part).replace("/", "-")
        return self.out / "sections" / f"{section}-{tag}-{_section_key(self.cfg, section, lr)}.json"

    def pending_runs(self, items):
        """Tasks for the runs of ``items`` not found in the cache; seeds of a TopoNet row in the same fixed
        block (:func:`seed_block`) are trained together, a block whole if any of its runs is missing."""
        cfg, done = self.cfg, self.done
        todo, blocks = [], {}
        for name, k, lr in items:
            r = _read_cached(self.run_path(name, k, lr)) if self.resume else None
            if r is not None and r.get("key") == cfg.run_key(name, lr):
                done[(name, k, lr)] = r
                self.n_reused += 1
            blocks.setdefault((name, lr, seed_block(cfg, name, k)), []).append(k)
        for (name, lr, b), ks in blocks.items():
            if all((name, k, lr) in done for k in ks):
                continue
            key = tuple(ks) if b is not None else ks[0]
            if b is None and len(ks) > 1:  # not batched: one task per seed
                todo += [(("run", name, k, lr), ("run", cfg, name, k, lr, self.dpath) + self.dev) for k in ks
                         if (name, k, lr) not in done]
            else:
                todo.append((("run", name, key, lr), ("run", cfg, name, key, lr, self.dpath) + self.dev))
        return todo

    def pending_sections(self, items):
        todo = []
        for section, part, lr in items:
            r = _read_cached(self.section_path(section, part, lr)) if self.resume else None
            if r is not None:
                self.section_results[(section, part)] = r
            else:
                todo.append(((section, part, lr), ("section", self.cfg, section, part, lr)))
        return todo

    def save(self, key, res):
        if key[0] == "run" and isinstance(key[2], tuple):  # a block of seeds trained together
            for r in res:
                write_json(self.run_path(key[1], r["k"], key[3]), r)
        elif key[0] == "run":
            write_json(self.run_path(*key[1:]), res)
        else:
            write_json(self.section_path(*key), res)

    def collect(self, res):
        for key, v in res.items():
            if isinstance(v, TaskFailure):
                self.failures["/".join(str(x) for x in key)] = repr(v.error)
            elif key[0] == "run" and isinstance(key[2], tuple):
                for r in v:
                    self.done[(key[1], r["k"], key[3])] = r
            elif key[0] == "run":
                self.done[key[1:]] = v
            else:
                self.section_results[key[:2]] = v

    def run_pool(self, tasks, desc):
        # slow first (load balance); results do not depend on the order
        tasks.sort(key=lambda t: -(_cost(self.cfg, t[0][1]) if t[0][0] == "run" else 30.0))
        self.collect(map_tasks(_task, tasks, self.executor, progress=self.progress, desc=desc, on_result=self.save,
                               max_workers=self.max_workers))

    # ---- 3. learning-rate selection (the selection seeds of every row at every rate) + the landscape, one pool
    def landscape_parts(self) -> List[str]:
        return [m for m in (self.cfg.landscape or {}).get("models", ()) if m in self.cfg.models]

    def select_rates(self) -> Dict[str, Dict[str, Any]]:
        cfg = self.cfg
        grid = [float(g) for g in cfg.lr_grid]
        L = int(cfg.lr_selection_seeds)
        tasks = self.pending_runs([(name, k, lr) for name in cfg.run_names() for lr in grid for k in range(L)])
        tasks += self.pending_sections([("landscape", m, None) for m in self.landscape_parts()])
        if self.progress and (self.done or self.section_results):
            print(f"resuming: {len(self.done)} training run(s) and {len(self.section_results)} section part(s) "
                  "reused", file=sys.stderr)
        self.run_pool(tasks, "lr selection + landscape")
        return {name: sel for name in cfg.run_names() if (sel := select_rate(cfg, name, self.done)) is not None}

    # ---- 4. the other seeds at the chosen rate, the trainability map and the causal test at the selected rates
    def train_selected(self, selection, lrs):
        cfg = self.cfg
        tm = cfg.trainability_map or {}
        map_parts = [(f"{m}/{int(N)}", lrs.get(m)) for m in tm.get("models", ()) if m in cfg.models
                     for N in tm.get("n_cells", ())]
        why_parts = list(range(len(_why_task_list(cfg, lrs)))) if cfg.why and (cfg.kind == "chern" or any(
            m in cfg.models for m in cfg.why.get("models", ()))) else []
        L = int(cfg.lr_selection_seeds)
        tasks = self.pending_runs([(name, k, selection[name]["lr"]) for name in cfg.run_names() if name in selection
                                   for k in range(L, cfg.seeds_of(name))])
        tasks += self.pending_sections([("trainability_map", p, lr) for p, lr in map_parts])
        tasks += self.pending_sections([("why", i, tuple(sorted(lrs.items()))) for i in why_parts])  # hashable key
        self.run_pool(tasks, "training runs + map + why")
        return map_parts, why_parts

    # ---- 5. results.json
    def results(self, selection, map_parts, why_parts, sets, exact, keep=None) -> Dict[str, Any]:
        """results.json from the cached runs and sections; ``keep(k)``: only the seeds of index ``k`` it
        accepts, in every row and causal-test cell (the rerun check; the map and landscape stay whole)."""
        cfg, sr = self.cfg, self.section_results
        runs: Dict[str, List[Dict[str, Any]]] = {name: [] for name in cfg.run_names()}
        for (name, k, lr), r in self.done.items():
            if name in selection and lr == selection[name]["lr"] and k < cfg.seeds_of(name) \
                    and (keep is None or keep(k)):
                runs[name].append(r)
        model_results = aggregate(cfg, {n: rs for n, rs in runs.items() if rs}, selection)
        return {
            "schema": "tntopo.study/3",
            "models": model_results,
            "exact_topo": exact,
            "disorder": _disorder_section(cfg, sets, model_results, exact),
            "edge_proxy": _edge_proxy_section(cfg, sets),
            "study": cfg.kind,
            "trainability_map": _merge_map([sr.get(("trainability_map", p)) for p, _ in map_parts],
                                           cfg.trainability_threshold),
            "landscape": {m: sr[("landscape", m)] for m in self.landscape_parts() if ("landscape", m) in sr} or None,
            "why": _merge_why([_kept_seeds(sr.get(("why", i)), keep) for i in why_parts]),
            "pruning": _pruning([r for n, rs in runs.items() for r in rs if "pruning" in r]),
            "toponet_weights": _example_weights(cfg, runs),
            "data": _data_summary(cfg, sets),
            "config": cfg.to_dict(),
            "versions": _versions(),
            "failures": self.failures,
        }


def _kept_seeds(part: Optional[Dict[str, Any]], keep) -> Optional[Dict[str, Any]]:
    """A causal-test task result with only the seeds ``keep`` accepts (all when ``keep`` is None)."""
    if part is None or keep is None:
        return part
    return {**part, "seeds": [d for d in part["seeds"] if keep(int(d["k"]))]}


#: The rerun check's halves: seed indices k with k % 2 == 0 and k % 2 == 1.
RERUN_HALVES = ("even", "odd")


def rerun_check(full: List[Dict[str, Any]], halves: Sequence[List[Dict[str, Any]]]) -> Dict[str, Any]:
    """``results["rerun_check"]``: each finding's verdict on all seeds beside its verdicts on two disjoint
    halves of the seeds (two reruns with half the seeds each). A *flip* is a finding that holds on one of
    them and fails on another; an interval that widens to "inconclusive" on a half is not a flip."""
    by_half = [{f["id"]: f["holds"] for f in h} for h in halves]
    rows = []
    for f in full:
        vs = [h.get(f["id"]) for h in by_half]
        seen = {f["holds"], *vs}
        rows.append({"id": f["id"], "verdict": f["holds"], "halves": vs, "flip": HOLDS in seen and FAILS in seen})
    return {"method": "every finding recomputed on two disjoint halves of the seeds of every row and causal-test cell "
                      "(seed indices even / odd), as two reruns with half the seeds; learning rates as selected on "
                      "all seeds; the trainability map and the landscape are kept whole",
            "halves": list(RERUN_HALVES), "findings": rows, "flips": [r["id"] for r in rows if r["flip"]],
            "stable": sum(1 for r in rows if r["verdict"] in (HOLDS, FAILS) and all(v == r["verdict"] for v in r["halves"]))}


def _read_cached(path: Path) -> Optional[Dict[str, Any]]:
    """A cached JSON result, or ``None`` when absent or unreadable (it is then recomputed)."""
    if not path.exists():
        return None
    try:
        return read_json(path)
    except ValueError:  # truncated by hand or a foreign file
        return None


def _section_key(cfg: StudyConfig, section: str, lr=None) -> str:
    """Cache key of a section's parts: its settings, the data and training settings it shares with the
    study, and the learning rate(s) it runs at."""
    from .config import _hash

    d = cfg.to_dict()
    keys = ("seed", "ranges", "min_gap", "amplitude", "train_windings", "n_cells", "size_factor", "epochs",
            "batch_size", "trainability_threshold")
    if cfg.kind == "chern":  # the Chern study's settings of the same kind (the winding study's keys unchanged)
        keys = ("seed", "stencil", "min_gap", "train_cherns", "unseen_cherns", "n_cells", "size_lengths", "epochs",
                "batch_size", "trainability_threshold")
    return _hash({"section": section, "settings": d[section], "data": {k: d[k] for k in keys},
                  "models": d["models"], "lr": lr, "data_key": cfg.data_key()})


def _example_weights(cfg: StudyConfig, runs) -> Optional[Dict[str, Any]]:
    """Learned weights of seed 0 of each TopoNet-family model, with the exact ones (1D study; ``None`` otherwise)."""
    if cfg.kind != "winding":
        return None
    from ..invariants.winding.dense import bulk_window, position_kernel

    N = cfg.n_cells
    out: Dict[str, Any] = {"exact": {"s": [-1.0] * N + [1.0] * N, "X": position_kernel(N).tolist(),
                                     "R": bulk_window(N).tolist()}}
    for name, rs in runs.items():
        rs = [r for r in rs if "weights" in r and r["head"] == "regression"]
        if rs:
            r = min(rs, key=lambda r: r["k"])
            out[name] = dict(r["weights"], seed=r["seed"], test_accuracy=r["scores"]["test"]["accuracy"])
    return out


def _data_summary(cfg: StudyConfig, sets: Dict[str, EvalSet]) -> Dict[str, Any]:
    out = {}
    for name, s in sets.items():
        vals, counts = np.unique(s.label, return_counts=True)
        d = {"n": len(s), "n_cells": s.n_cells, "labels": {str(int(v)): int(c) for v, c in zip(vals, counts)}}
        dev = np.abs(s.w_real - np.round(s.w_real))
        d["exact_quantized_fraction"] = float(np.mean(dev < QUANTIZED_TOL))
        if s.removed is not None:
            d["states_removed_mean"] = float(np.mean(s.removed))
        if "near_degenerate" in s.aux:  # chains whose input needed the canonical basis (features module)
            d["near_degenerate_chains"] = int(np.sum(s.aux["near_degenerate"] > 0))
        if "family" in s.aux:
            fam, cnt = np.unique(s.aux["family"], return_counts=True)
            d["families"] = {str(f): int(c) for f, c in zip(fam, cnt)}
        out[name] = d
    return out


def _figures(results: Dict[str, Any], fig_dir: Path) -> Dict[str, str]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .._io import atomic_path
    from . import figures

    fig_dir.mkdir(parents=True, exist_ok=True)
    makers = {
        "disorder_accuracy": figures.plot_disorder_accuracy,
        "trainability": figures.plot_trainability,
        "trainability_map": figures.plot_trainability_map,
        "landscape": figures.plot_landscape,
        "pruning": figures.plot_pruning,
        "toponet_weights": figures.plot_toponet_weights,
        "training_curves": figures.plot_training_curves,
    }
    if "comparison" in results:  # the Chern study run with compare_with=
        makers["comparison"] = figures.plot_comparison
    out = {}
    for name, fn in makers.items():
        try:
            fig = fn(results)
        except ValueError as exc:  # nothing to draw (e.g. no TopoNet in the run)
            out[name] = f"skipped: {exc}"
            continue
        path = fig_dir / f"{name}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
        plt.close(fig)
        out[name] = str(Path("figures") / path.name)
    return out
