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

import os
import platform
import sys
import threading
import time
import warnings
import zlib
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np

from .._io import read_json, write_json
from ..parallel import TaskFailure, map_tasks, task_seed
from .config import QUANTIZED_TOL, StudyConfig, get_config
from ..data.evalsets import EvalSet, build_eval_sets, load_eval_sets, save_eval_sets

__all__ = ["reproduce", "run_training", "aggregate", "run_seed", "build_sets", "disorder_set_name"]

TOPO_KINDS = ("toponet", "toponet_odd", "toponet_commutator")
#: Largest raw parameter count whose effective count (Jacobian rank) is measured; the batch has up to
#: ``_JAC_ROWS`` samples, so beyond that many parameters the rank is a lower bound.
_JAC_MAX_PARAMS = 20000
_JAC_ROWS = 1024


def run_seed(cfg: StudyConfig, model: str, k: int) -> int:
    """Seed of training run ``k`` of row ``model``: from ``task_seed(cfg.seed, crc32(model), k)``."""
    ss = task_seed(cfg.seed, zlib.crc32(model.encode()), k)
    return int(ss.generate_state(1, np.uint32)[0])


def disorder_set_name(n_cells: int, W: float) -> str:
    """Name of the disorder set of ``n_cells`` cells at strength ``W`` (``"disorder/N24/W2.5"``)."""
    return f"disorder/N{int(n_cells)}/W{float(W):g}"


def _family(cfg: StudyConfig):
    from .disorder import DisorderFamily

    return DisorderFamily(ratios=tuple(cfg.disorder_ratios), delta_range=tuple(cfg.disorder_delta))


def build_sets(cfg: StudyConfig, progress: bool = False) -> Dict[str, EvalSet]:
    """Every evaluation set of the study, deterministic in ``cfg.seed``.

    The clean sets of :func:`tntopo.data.build_eval_sets`; ``counterfactual``
    (:func:`tntopo.study.counterfactual.counterfactual_set`, ``aux``: ``family`` and the edge proxy's
    prediction ``edge_proxy``); ``disorder/N<N>/W<W>`` for every length and strength
    (:func:`tntopo.study.disorder.disorder_set`: ``label`` the phase of the ensemble, ``w_real`` the
    real-space invariant of the open chain, ``aux``: ``estimator``, ``majority``, ``lyapunov_gap``, ``t0``).

    Raises
    ------
    ValueError
        If the clean end of the disorder family is outside the training distribution
        (:func:`tntopo.study.disorder.check_clean_end`).
    """
    from tqdm.auto import tqdm

    from .counterfactual import counterfactual_set, edge_proxy_predict
    from .disorder import check_clean_end, disorder_set

    sets = build_eval_sets(cfg, progress=progress)
    cf = counterfactual_set(cfg.n_counterfactual, cfg.n_cells, ranges=cfg.ranges, min_gap=cfg.min_gap,
                            amplitude=cfg.amplitude, seed=int(task_seed(cfg.seed, 11).generate_state(1)[0]))
    sets["counterfactual"] = EvalSet(cf.x, cf.label, cf.checks["realspace"], cfg.n_cells,
                                     aux={"family": cf.family.astype(str), "edge_proxy": edge_proxy_predict(cf.x)})
    fam = _family(cfg)
    check_clean_end(fam, min_gap=cfg.min_gap, amplitude=cfg.amplitude)
    jobs = [(N, W) for N in cfg.disorder_lengths for W in cfg.disorder_strengths]
    dseed = int(task_seed(cfg.seed, 12).generate_state(1)[0])
    for N, W in tqdm(jobs, desc="disorder sets", disable=not progress):
        d = disorder_set(W, int(N), cfg.n_disorder, family=fam, seed=dseed)
        sets[disorder_set_name(N, W)] = EvalSet(
            d.x, d.label, d.w_open, int(N),
            aux={"estimator": d.estimator, "majority": d.majority, "lyapunov_gap": d.lyapunov_gap, "t0": d.t0})
    return sets


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


def _scores(pred: np.ndarray, s: EvalSet) -> Dict[str, float]:
    r = np.round(pred)
    out = {"accuracy": float(np.mean(r == s.label)), "mae": float(np.mean(np.abs(pred - s.label)))}
    if "edge_proxy" in s.aux:  # how often the model says what the edge proxy says (counterfactual set)
        out["proxy_agreement"] = float(np.mean(r == s.aux["edge_proxy"]))
    return out


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


def run_training(cfg: StudyConfig, run: str, k: int, lr: float, data_path: Optional[str] = None) -> Dict[str, Any]:
    """Train seed ``k`` of row ``run`` (a model and its head) at learning rate ``lr``; evaluate it on every set.

    Runs torch on one thread (restored afterwards in the main thread; worker threads of a thread
    pool or a dask worker keep one) so that results do not depend on where it runs.
    Returns a JSON-able dict: ``history``, ``scores`` per set (sets at chain lengths the model cannot
    take are absent: "n/a"), ``learns_invariant`` (the seed's verdict), ``size_note``, effective
    parameters (seed 0), TopoNet weights, pruning results for SVD-prunable models, timings.
    """
    import torch

    from ..nn import accepts_size, build_model, n_parameters, prune_svd, singular_values, train
    from .trainability import verdict

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        spec, head, _ = cfg.spec_of(run)
        classes = list(cfg.classes) if head == "classification" else None
        sets = _sets_for(cfg, data_path)
        seed = run_seed(cfg, run, k)
        model = build_model(spec.kind, cfg.n_cells, seed, classes=classes, **dict(spec.kwargs))
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                hist = train(model, sets["train"].dataset(), sets["val"].dataset(), epochs=cfg.epochs,
                             batch_size=cfg.batch_size, lr=float(lr), seed=seed, patience=cfg.patience, progress=False)
                diverged = None
            except FloatingPointError as exc:  # TrainingDivergedError: the run scores as it stands
                hist, diverged = None, str(exc)
        t_train = time.perf_counter() - t0
        t0 = time.perf_counter()
        scores: Dict[str, Any] = {}
        notes = {N: accepts_size(model, N) for N in {s.n_cells for s in sets.values()}}
        for name, s in sets.items():
            if name == "train" or notes[s.n_cells] is not None:
                continue
            scores[name] = _scores(_predict(model, s.x), s)
        size_note = notes[sets["size"].n_cells]
        thr = cfg.trainability_threshold
        crit = {c: scores[c]["accuracy"] for c in ("unseen", "size", "counterfactual") if c in scores}
        out: Dict[str, Any] = {
            "model": run, "k": k, "seed": seed, "lr": float(lr), "head": head, "key": cfg.run_key(run, lr),
            "parameters": n_parameters(model),
            "history": {key: (list(hist[key]) if hist else []) for key in
                        ("train_loss", "train_accuracy", "val_loss", "val_accuracy")},
            "best_epoch": hist["best_epoch"] if hist else None,
            "diverged": diverged,
            "max_val_accuracy": float(max(hist["val_accuracy"])) if hist and hist["val_accuracy"] else 0.0,
            "scores": scores,
            "size_note": size_note,
            "learns_invariant": bool(verdict(crit, thr)),  # no applicable criterion: not learned
            "learns_invariant_criteria": sorted(crit),
        }
        if k == 0:
            out["effective_parameters"] = _effective(model, sets, classes)
        if spec.kind in TOPO_KINDS:
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
    finally:
        if threading.current_thread() is threading.main_thread():
            torch.set_num_threads(threads)


def _cost(cfg: StudyConfig, run: str) -> float:
    """Rough relative cost of a training run (for scheduling only)."""
    kind = cfg.spec_of(run)[0].kind
    return {"cnn": 4.0, "symmetric": 6.0, "shallow": 1.5, "mlp": 1.5}.get(kind, 1.0)


# ----------------------------------------------------------------------------- sections run as tasks
def run_section(cfg: StudyConfig, section: str, part) -> Dict[str, Any]:
    """One task of a top-level section: a chain length of the trainability map, or one model's landscape."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if section == "trainability_map":
                from .trainability import trainability_map

                kw = dict(cfg.trainability_map or {})
                kw["n_cells"] = (int(part),)
                return trainability_map(seed=cfg.seed, **kw)
            if section == "landscape":
                from .landscape import landscape_report
                from .trainability import model_factory

                kw = {k: v for k, v in dict(cfg.landscape or {}).items() if k != "models"}
                spec = cfg.models[part]
                return landscape_report(model_factory(spec.kind, **dict(spec.kwargs)), cfg.n_cells, seed=cfg.seed,
                                        data={"ranges": tuple(cfg.ranges), "min_gap": cfg.min_gap,
                                              "amplitude": cfg.amplitude, "train_windings": tuple(cfg.train_windings)},
                                        **kw)
        raise ValueError(f"unknown section {section!r}")
    finally:
        if threading.current_thread() is threading.main_thread():
            torch.set_num_threads(threads)


def _task(kind: str, *args):
    """Dispatcher of the study's tasks (one pool for training runs and sections)."""
    if kind == "run":
        return run_training(*args)
    return run_section(*args)


# ----------------------------------------------------------------------------- exact reference
def _exact_reference(cfg: StudyConfig, sets: Dict[str, EvalSet]) -> Dict[str, Any]:
    """TopoNet(init="exact") on every set: its accuracy (what computing the finite chain's invariant gets)
    and its precision against the dense real-space route."""
    import torch

    from ..nn import TopoNet

    err, acc, nets = 0.0, {}, {}
    for name, s in sets.items():
        if s.n_cells not in nets:
            nets[s.n_cells] = TopoNet(s.n_cells, init="exact", dtype=torch.float64)
        with torch.no_grad():
            W = nets[s.n_cells](torch.from_numpy(s.x.astype(np.float64))).numpy()
        acc[name] = _scores(W, s)["accuracy"]  # measured like every model's row (nothing is typed in)
    test_chains = _test_blocks(cfg)
    from ..data import wavefunctions
    from ..invariants import winding_number

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        errs = []
        for N, h in test_chains:
            net = nets.get(N) or TopoNet(N, init="exact", dtype=torch.float64)
            with torch.no_grad():
                W = net(torch.from_numpy(wavefunctions(h))).numpy()
            errs.append(np.abs(W - winding_number(h, method="dense")))
        errs = np.concatenate(errs)
        err = float(errs.max())
    return {"max_abs_error": err, "median_abs_error": float(np.median(errs)), "accuracy": acc,
            "n_checked": int(errs.size)}


def _test_blocks(cfg: StudyConfig):
    """Hopping blocks for the precision check: test-distribution chains (N and size_factor*N) and disordered ones."""
    from ..chains import sample_chains

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


def _std(xs):
    xs = [x for x in xs if x is not None]
    return float(np.std(xs)) if xs else None


def aggregate(cfg: StudyConfig, runs: Dict[str, List[Dict[str, Any]]],
              selection: Optional[Dict[str, Dict[str, Any]]] = None) -> Dict[str, Any]:
    """Per-row results (the ``models`` entry of results.json) from the runs of every seed.

    ``selection`` maps each row to its learning-rate selection (``{"lr", "scores"}``). A set a model
    cannot take (chains of another length for a fixed-size model) is ``"n/a"``, never a failure.
    """
    models: Dict[str, Any] = {}
    for name, rs in runs.items():
        spec, head, base = cfg.spec_of(name)
        rs = sorted(rs, key=lambda r: r["k"])

        def per(set_name, metric="accuracy"):
            return [r["scores"][set_name][metric] if set_name in r["scores"] else None for r in rs]

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
            "val_trainability": float(np.mean([r["max_val_accuracy"] >= cfg.trainability_threshold for r in rs])),
            "learns_invariant": float(np.mean(li)) if li else None,
            "learns_invariant_criteria": rs[0]["learns_invariant_criteria"] if rs else [],
            "size_generalization_accuracy": "n/a" if size_note else _mean(per("size")),
            "size_generalization_n_cells": cfg.size_factor * cfg.n_cells,
            "unseen_winding_accuracy": _mean(per("unseen")),
            "counterfactual_accuracy": _mean(per("counterfactual")),
            "counterfactual_proxy_agreement": _mean(per("counterfactual", "proxy_agreement")),
            "edge_ablation_accuracy": _mean(per("ablation")),
            "disorder_accuracy": {str(N): {f"{W:g}": mean_or_na(disorder_set_name(N, W)) for W in cfg.disorder_strengths}
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
                "learns_invariant": li,
            },
            "train_seconds": _mean([r["seconds"]["train"] for r in rs]),
            "curves": _curves(rs),
        }
        if size_note:
            entry["size_generalization_note"] = f"input size is fixed: {size_note}"
        models[name] = entry
    return models


def _disorder_section(cfg: StudyConfig, sets: Dict[str, EvalSet], models: Dict[str, Any],
                      exact: Dict[str, Any]) -> Dict[str, Any]:
    """Top-level ``disorder``: per chain length, every row's accuracy against the phase label beside the
    finite-length bond estimator, the majority baseline and the exact invariant of the open input chain."""
    by_len = {}
    for N in cfg.disorder_lengths:
        row: Dict[str, Any] = {"estimator_accuracy": {}, "majority_accuracy": {}, "open_invariant_accuracy": {},
                               "topological_fraction": {}, "models": {m: e["disorder_accuracy"][str(N)]
                                                                      for m, e in models.items()}}
        for W in cfg.disorder_strengths:
            s, k = sets[disorder_set_name(N, W)], f"{W:g}"
            row["estimator_accuracy"][k] = float(np.mean(s.aux["estimator"] == s.label))
            row["majority_accuracy"][k] = float(np.mean(s.aux["majority"] == s.label))
            row["open_invariant_accuracy"][k] = exact["accuracy"][disorder_set_name(N, W)]
            row["topological_fraction"][k] = float(np.mean(s.label))
        by_len[str(N)] = row
    return {"n_cells": [int(N) for N in cfg.disorder_lengths], "strengths": [float(W) for W in cfg.disorder_strengths],
            "family": _family(cfg).to_dict(), "n_samples": cfg.n_disorder,
            "label": "thermodynamic phase of the ensemble (exact Lyapunov criterion)", "by_length": by_len}


def _edge_proxy_section(cfg: StudyConfig, sets: Dict[str, EvalSet]) -> Dict[str, Any]:
    """Top-level ``edge_proxy``: the one-feature edge classifier on the clean and counterfactual sets, and
    the leak test of the fixed ablation next to the first edition's in-gap ablation."""
    from ..data.evalsets import ablate_in_gap
    from .counterfactual import edge_proxy_predict, leak_test

    acc = {name: float(np.mean(edge_proxy_predict(sets[name].x) == sets[name].label))
           for name in ("test", "unseen", "ablation", "counterfactual")}
    cf = sets["counterfactual"]
    fam = cf.aux["family"]
    by_family = {str(f): float(np.mean(cf.aux["edge_proxy"][fam == f] == cf.label[fam == f])) for f in np.unique(fam)}
    test = sets["test"]
    old = ablate_in_gap(test.x, test.aux["energies"], cfg.min_gap / 2)
    return {"rule": "topological iff the two mid-spectrum states carry > 0.5 of their weight on the outer 2 cells "
                    "at each end", "accuracy": acc, "counterfactual_by_family": by_family,
            "leak_test": {"fixed_ablation": leak_test(sets["ablation"].x, test.label, seed=cfg.seed),
                          "in_gap_ablation_first_edition": leak_test(old, test.label, seed=cfg.seed)}}


def _merge_map(parts: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The trainability map from its per-length parts."""
    parts = [p for p in parts if p]
    if not parts:
        return None
    grid = dict(parts[0]["grid"])
    grid["n_cells"] = sorted(n for p in parts for n in p["grid"]["n_cells"])
    cells = sorted((c for p in parts for c in p["cells"]), key=lambda c: c["n_cells"])
    return {"grid": grid, "cells": cells}


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
def reproduce(
    config: Union[str, StudyConfig] = "quick",
    out: Union[str, os.PathLike] = "results",
    executor=None,
    *,
    seeds: Optional[int] = None,
    models: Optional[List[str]] = None,
    resume: bool = True,
    progress: bool = True,
    max_workers: Optional[int] = None,
    figures: bool = True,
) -> Dict[str, Any]:
    """Run the study and write ``out/results.json``, ``out/results.md`` and ``out/figures/*.png``.

    Parameters
    ----------
    config : {"quick", "full", "tiny"} or StudyConfig
    out : path
        Output directory (created). Finished training runs are cached in ``out/runs``.
    executor : None, "process", "serial", "thread", dask scheduler address, or an Executor
        Where the training runs go (see :mod:`tntopo.parallel`); the numbers do not depend on it.
    seeds : int, optional
        Override the number of seeds per model.
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
    cfg = get_config(config)
    changes = {}
    if seeds is not None:
        changes["seeds"] = int(seeds)
    if models is not None:
        changes["models"] = list(models)
    if changes:
        cfg = cfg.replace(**changes)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timings: Dict[str, float] = {}

    # 1. data
    t0 = time.perf_counter()
    data_path = out / "data" / f"sets-{cfg.data_key()}.h5"
    sets = None
    if data_path.exists() and resume:
        try:
            sets = load_eval_sets(data_path)
        except ValueError:  # damaged or of another format version: rebuild
            sets = None
    if sets is None:
        sets = build_sets(cfg, progress=progress)
        save_eval_sets(sets, data_path)
    _SETS_CACHE[cfg.data_key()] = sets
    timings["data_s"] = time.perf_counter() - t0

    # 2. exact reference
    t0 = time.perf_counter()
    exact_path = out / "data" / f"exact-{cfg.data_key()}.json"
    exact = _read_cached(exact_path) if resume else None
    if exact is None:
        exact = _exact_reference(cfg, sets)
        write_json(exact_path, exact)
    timings["exact_s"] = time.perf_counter() - t0

    # 3. learning-rate selection (seed 0 of every row at every rate) + sections, one pool
    runs_dir = out / "runs"
    dpath = str(data_path.resolve())
    done: Dict[tuple, Dict[str, Any]] = {}
    n_reused = 0

    def run_path(name, k, lr):
        return runs_dir / name / f"seed{k:03d}-lr{lr:g}.json"

    def pending_runs(items):
        nonlocal n_reused
        todo = []
        for name, k, lr in items:
            r = _read_cached(run_path(name, k, lr)) if resume else None
            if r is not None and r.get("key") == cfg.run_key(name, lr):
                done[(name, k, lr)] = r
                n_reused += 1
            else:
                todo.append((("run", name, k, lr), ("run", cfg, name, k, lr, dpath)))
        return todo

    sections_dir = out / "sections"
    section_results: Dict[tuple, Any] = {}

    def section_path(section, part):
        return sections_dir / f"{section}-{part}-{_section_key(cfg, section)}.json"

    section_tasks = []
    for section, parts in (("trainability_map", (cfg.trainability_map or {}).get("n_cells", ())),
                           ("landscape", [m for m in (cfg.landscape or {}).get("models", ()) if m in cfg.models])):
        for part in parts:
            r = _read_cached(section_path(section, part)) if resume else None
            if r is not None:
                section_results[(section, part)] = r
            else:
                section_tasks.append(((section, part), ("section", cfg, section, part)))

    def save(key, res):
        if key[0] == "run":
            write_json(run_path(*key[1:]), res)
        else:
            write_json(section_path(*key), res)

    grid = [float(g) for g in cfg.lr_grid]
    rows = list(cfg.run_names())
    tasks = pending_runs([(name, 0, lr) for name in rows for lr in grid]) + section_tasks
    # slow first (load balance); results do not depend on the order
    tasks.sort(key=lambda t: -(_cost(cfg, t[0][1]) if t[0][0] == "run" else 30.0))
    if progress and (done or section_results):
        print(f"resuming: {len(done)} training run(s) and {len(section_results)} section part(s) reused", file=sys.stderr)
    t0 = time.perf_counter()
    failures: Dict[str, str] = {}

    def collect(res):
        for key, v in res.items():
            if isinstance(v, TaskFailure):
                failures["/".join(str(x) for x in key)] = repr(v.error)
            elif key[0] == "run":
                done[key[1:]] = v
            else:
                section_results[key] = v

    collect(map_tasks(_task, tasks, executor, progress=progress, desc="lr selection + sections", on_result=save,
                      max_workers=max_workers))
    from ..nn.training import best_lr

    selection: Dict[str, Dict[str, Any]] = {}
    for name in rows:
        sc = {lr: {"accuracy": done[(name, 0, lr)]["scores"]["val"]["accuracy"],
                   "loss": done[(name, 0, lr)]["scores"]["val"]["mae"]}
              for lr in grid if (name, 0, lr) in done}
        if sc:
            selection[name] = {"lr": best_lr(sc), "val_accuracy": {f"{lr:g}": v["accuracy"] for lr, v in sc.items()},
                               "val_mae": {f"{lr:g}": v["loss"] for lr, v in sc.items()}}

    # 4. the other seeds at the chosen rate
    tasks = pending_runs([(name, k, selection[name]["lr"]) for name in rows if name in selection
                          for k in range(1, cfg.seeds)])
    tasks.sort(key=lambda t: (t[0][2], -_cost(cfg, t[0][1])))
    collect(map_tasks(_task, tasks, executor, progress=progress, desc="training runs", on_result=save,
                      max_workers=max_workers))
    timings["training_wall_s"] = time.perf_counter() - t0
    timings["training_cpu_s"] = float(sum(r["seconds"]["train"] + r["seconds"]["evaluate"] for r in done.values()))
    timings["runs_reused"] = n_reused

    runs: Dict[str, List[Dict[str, Any]]] = {name: [] for name in rows}
    for (name, k, lr), r in done.items():
        if name in selection and lr == selection[name]["lr"] and k < cfg.seeds:
            runs[name].append(r)
    model_results = aggregate(cfg, {n: rs for n, rs in runs.items() if rs}, selection)
    topo_weights = _example_weights(cfg, runs)

    results: Dict[str, Any] = {
        "schema": "tntopo.study/2",
        "models": model_results,
        "exact_topo": exact,
        "disorder": _disorder_section(cfg, sets, model_results, exact),
        "edge_proxy": _edge_proxy_section(cfg, sets),
        "trainability_map": _merge_map([section_results.get(("trainability_map", n))
                                        for n in (cfg.trainability_map or {}).get("n_cells", ())]),
        "landscape": {m: section_results[("landscape", m)] for m in (cfg.landscape or {}).get("models", ())
                      if ("landscape", m) in section_results} or None,
        "pruning": _pruning([r for n, rs in runs.items() for r in rs if "pruning" in r]),
        "toponet_weights": topo_weights,
        "data": _data_summary(cfg, sets),
        "config": cfg.to_dict(),
        "versions": _versions(),
        "failures": failures,
    }
    from .report import findings, write_report

    results["findings"] = findings(results)
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


def _read_cached(path: Path) -> Optional[Dict[str, Any]]:
    """A cached JSON result, or ``None`` when absent or unreadable (it is then recomputed)."""
    if not path.exists():
        return None
    try:
        return read_json(path)
    except ValueError:  # truncated by hand or a foreign file
        return None


def _section_key(cfg: StudyConfig, section: str) -> str:
    """Cache key of a section's parts: its settings and the data settings it shares with the study."""
    from .config import _hash

    d = cfg.to_dict()
    keys = ("seed", "ranges", "min_gap", "amplitude", "train_windings", "n_cells")
    return _hash({"section": section, "settings": d[section], "data": {k: d[k] for k in keys},
                  "models": d["models"] if section == "landscape" else None})


def _example_weights(cfg: StudyConfig, runs) -> Dict[str, Any]:
    """Learned weights of seed 0 of each TopoNet-family model, with the exact ones."""
    from ..invariants.realspace import bulk_window, position_kernel

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
        if "family" in s.aux:
            fam, cnt = np.unique(s.aux["family"], return_counts=True)
            d["families"] = {str(f): int(c) for f, c in zip(fam, cnt)}
        out[name] = d
    return out


def _figures(results: Dict[str, Any], fig_dir: Path) -> Dict[str, str]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .. import plot
    from .._io import atomic_path

    fig_dir.mkdir(parents=True, exist_ok=True)
    makers = {
        "disorder_accuracy": plot.plot_disorder_accuracy,
        "trainability": plot.plot_trainability,
        "trainability_map": plot.plot_trainability_map,
        "landscape": plot.plot_landscape,
        "pruning": plot.plot_pruning,
        "toponet_weights": plot.plot_toponet_weights,
        "training_curves": plot.plot_training_curves,
    }
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
