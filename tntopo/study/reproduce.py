"""``tntopo reproduce``: the whole study, from data to ``results.json``, ``results.md`` and figures.

>>> from tntopo.study import reproduce
>>> results = reproduce("quick", out="results")          # doctest: +SKIP

Steps:

1. the evaluation sets of :mod:`tntopo.data.evalsets` (built once, cached as ``DIR/data/sets-<key>.h5``);
2. the exact TopoNet (``init="exact"``) against :func:`tntopo.winding_number` on every set, and its
   accuracy (what computing the invariant of the finite input chain achieves);
3. one training run per (model, seed), spread over ``executor`` with
   :func:`tntopo.parallel.map_tasks` -- a process pool by default, ``"serial"``, or a dask scheduler
   address. Each run derives its seed from :func:`tntopo.parallel.task_seed`, runs torch on one
   thread and is saved at once under ``DIR/runs/<model>/seed<k>.json`` (atomically): an
   interrupted study resumes where it stopped, and any executor gives the same numbers;
4. aggregation over seeds (:func:`aggregate`), the findings checked against the data
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
from ..data.evalsets import EvalSet, build_eval_sets, disorder_key, load_eval_sets, save_eval_sets

__all__ = ["reproduce", "run_training", "aggregate", "run_seed"]

TOPO_KINDS = ("toponet", "toponet_odd", "toponet_commutator")


def run_seed(cfg: StudyConfig, model: str, k: int) -> int:
    """Seed of training run ``k`` of ``model``: from ``task_seed(cfg.seed, crc32(model), k)``."""
    ss = task_seed(cfg.seed, zlib.crc32(model.encode()), k)
    return int(ss.generate_state(1, np.uint32)[0])


# ----------------------------------------------------------------------------- worker side
_SETS_CACHE: Dict[str, Dict[str, EvalSet]] = {}


def _sets_for(cfg: StudyConfig, data_path: Optional[str]) -> Dict[str, EvalSet]:
    key = cfg.data_key()
    if key not in _SETS_CACHE:
        if data_path is not None and Path(data_path).exists():
            _SETS_CACHE[key] = load_eval_sets(data_path)
        else:  # e.g. a dask worker on another machine: rebuild (deterministic)
            _SETS_CACHE[key] = build_eval_sets(cfg)
    return _SETS_CACHE[key]


def _predict(model, x: np.ndarray) -> np.ndarray:
    import torch

    from ..nn.training import predict

    pred, _ = predict(model, (torch.from_numpy(x), torch.zeros(len(x))), batch_size=512)
    return pred.numpy()


def _scores(pred: np.ndarray, s: EvalSet) -> Dict[str, float]:
    r = np.round(pred)
    ref = np.round(s.w_real)
    q = np.abs(s.w_real - ref) < QUANTIZED_TOL
    return {
        "accuracy": float(np.mean(r == s.label)),
        "agreement": float(np.mean(r == ref)),
        "agreement_quantized": float(np.mean(r[q] == ref[q])) if q.any() else None,
        "mae": float(np.mean(np.abs(pred - s.label))),
    }


def _tolist(t) -> list:
    return np.asarray(t.detach().double().cpu().numpy()).tolist()


def run_training(cfg: StudyConfig, model_name: str, k: int, data_path: Optional[str] = None) -> Dict[str, Any]:
    """Train seed ``k`` of ``model_name`` and evaluate it on every set (one task of the sweep).

    Runs torch on one thread (restored afterwards in the main thread; worker threads of a thread
    pool or a dask worker keep one) so that results do not depend on where it runs.
    Returns a JSON-able dict: ``history``, ``scores`` per set, ``size_note``, TopoNet weights,
    pruning results for SVD-prunable models, timings.
    """
    import torch

    from ..nn import prune_svd, singular_values
    from ..nn import accepts_size, build_model, n_parameters, train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        spec = cfg.models[model_name]
        sets = _sets_for(cfg, data_path)
        seed = run_seed(cfg, model_name, k)
        model = build_model(spec.kind, cfg.n_cells, seed, **dict(spec.kwargs))
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hist = train(
                model, sets["train"].dataset(), sets["val"].dataset(), epochs=cfg.epochs_of(model_name),
                batch_size=cfg.batch_size, lr=spec.lr, seed=seed, patience=cfg.patience, progress=False,
            )
        t_train = time.perf_counter() - t0
        t0 = time.perf_counter()
        scores: Dict[str, Any] = {}
        size_note = accepts_size(model, sets["size"].n_cells)
        for name, s in sets.items():
            if name in ("train",) or (name == "size" and size_note is not None):
                continue
            scores[name] = _scores(_predict(model, s.x), s)
        out: Dict[str, Any] = {
            "model": model_name, "k": k, "seed": seed, "key": cfg.run_key(model_name),
            "parameters": n_parameters(model),
            "history": {key: list(hist[key]) for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy")},
            "best_epoch": hist["best_epoch"],
            "max_val_accuracy": float(max(hist["val_accuracy"])),
            "scores": scores,
            "size_note": size_note,
        }
        if spec.kind in TOPO_KINDS:
            s_w, X, R = model.weights()
            out["weights"] = {"s": _tolist(s_w), "X": _tolist(X), "R": _tolist(R)}
        if spec.kind == "shallow":
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


def _cost(cfg: StudyConfig, model: str) -> float:
    """Rough relative cost of a training run (for scheduling only)."""
    return cfg.epochs_of(model) * {"cnn": 4.0, "symmetric": 6.0, "shallow": 1.5, "mlp": 1.5}.get(cfg.models[model].kind, 1.0)


# ----------------------------------------------------------------------------- exact reference
def _exact_reference(cfg: StudyConfig, sets: Dict[str, EvalSet]) -> Dict[str, Any]:
    """TopoNet(init="exact") on every set: its error against the invariant and its accuracy."""
    import torch

    from ..nn import TopoNet

    err, acc, agree, agree_q, nets = 0.0, {}, {}, {}, {}
    for name, s in sets.items():
        if s.n_cells not in nets:
            nets[s.n_cells] = TopoNet(s.n_cells, init="exact", dtype=torch.float64)
        with torch.no_grad():
            W = nets[s.n_cells](torch.from_numpy(s.x.astype(np.float64))).numpy()
        sc = _scores(W, s)  # measured like every model's row (nothing in the report is typed in)
        acc[name], agree[name], agree_q[name] = sc["accuracy"], sc["agreement"], sc["agreement_quantized"]
    # precision: float64 wavefunctions of fresh chains of every kind of set vs the invariant
    test_chains = _test_blocks(cfg)
    from ..data import wavefunctions
    from ..invariants import winding_number

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for N, h in test_chains:
            net = nets.get(N) or TopoNet(N, init="exact", dtype=torch.float64)
            with torch.no_grad():
                W = net(torch.from_numpy(wavefunctions(h))).numpy()
            err = max(err, float(np.max(np.abs(W - winding_number(h, method="dense")))))
    return {"max_abs_error": err, "accuracy": acc, "agreement": agree, "agreement_quantized": agree_q,
            "n_checked": int(sum(len(h) for _, h in test_chains))}


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
    b = sample_chains(n, cfg.n_cells, (0, 1), disorder={0: Wmax, 1: Wmax / 2}, seed=task_seed(cfg.seed, 100, 9))
    out.append((cfg.n_cells, b.hopping_blocks()))
    return out


# ----------------------------------------------------------------------------- aggregation
def _mean(xs):
    xs = [x for x in xs if x is not None]
    return float(np.mean(xs)) if xs else None


def _std(xs):
    xs = [x for x in xs if x is not None]
    return float(np.std(xs)) if xs else None


def aggregate(cfg: StudyConfig, runs: Dict[str, List[Dict[str, Any]]]) -> Dict[str, Any]:
    """Per-model results (the ``models`` entry of results.json) from the runs of every seed."""
    models: Dict[str, Any] = {}
    for name, rs in runs.items():
        spec = cfg.models[name]
        rs = sorted(rs, key=lambda r: r["k"])

        def per(set_name, metric="accuracy"):
            return [r["scores"][set_name][metric] if set_name in r["scores"] else None for r in rs]

        size_note = rs[0]["size_note"] if rs else None
        entry: Dict[str, Any] = {
            "description": spec.description,
            "kind": spec.kind,
            "parameters": rs[0]["parameters"] if rs else None,
            "seeds": len(rs),
            "test_accuracy": _mean(per("test")),
            "test_accuracy_std": _std(per("test")),
            "trainability": float(np.mean([r["max_val_accuracy"] >= cfg.trainability_threshold for r in rs])),
            "size_generalization_accuracy": None if size_note else _mean(per("size")),
            "size_generalization_n_cells": cfg.size_factor * cfg.n_cells,
            "unseen_winding_accuracy": _mean(per("unseen")),
            "disorder_accuracy": {f"{W:g}": _mean(per(disorder_key(W))) for W in cfg.disorder_strengths},
            "disorder_agreement": {f"{W:g}": _mean(per(disorder_key(W), "agreement")) for W in cfg.disorder_strengths},
            "disorder_agreement_quantized": {
                f"{W:g}": _mean(per(disorder_key(W), "agreement_quantized")) for W in cfg.disorder_strengths
            },
            "edge_ablation_accuracy": _mean(per("ablation")),
            "per_seed": {
                "seed": [r["seed"] for r in rs],
                "max_val_accuracy": [r["max_val_accuracy"] for r in rs],
                "test_accuracy": per("test"),
                "size_generalization_accuracy": per("size"),
                "unseen_winding_accuracy": per("unseen"),
                "edge_ablation_accuracy": per("ablation"),
            },
            "train_seconds": _mean([r["seconds"]["train"] for r in rs]),
            "curves": _curves(rs),
        }
        if size_note:
            entry["size_generalization_note"] = f"input size is fixed: {size_note}"
        models[name] = entry
    return models


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
    The default process pool starts its workers with ``spawn`` (torch is not fork-safe), which
    re-imports the calling script: guard a script that calls ``reproduce`` with
    ``if __name__ == "__main__":``.
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
        except ValueError:
            sets = None
    if sets is None:
        sets = build_eval_sets(cfg, progress=progress)
        save_eval_sets(sets, data_path)
    _SETS_CACHE[cfg.data_key()] = sets
    timings["data_s"] = time.perf_counter() - t0

    # 2. exact reference
    t0 = time.perf_counter()
    exact_path = out / "data" / f"exact-{cfg.data_key()}.json"
    exact = None
    if resume and exact_path.exists():
        try:
            exact = read_json(exact_path)
        except ValueError:  # truncated by hand or a foreign file: recompute
            exact = None
    if exact is None:
        exact = _exact_reference(cfg, sets)
        write_json(exact_path, exact)
    timings["exact_s"] = time.perf_counter() - t0

    # 3. training runs (cached, resumable)
    t0 = time.perf_counter()
    runs_dir = out / "runs"
    done: Dict[tuple, Dict[str, Any]] = {}
    tasks = []
    for name in cfg.models:
        key = cfg.run_key(name)
        for k in range(cfg.seeds):
            path = runs_dir / name / f"seed{k:03d}.json"
            if resume and path.exists():
                try:
                    r = read_json(path)
                    if r.get("key") == key:
                        done[(name, k)] = r
                        continue
                except ValueError:
                    pass
            tasks.append(((name, k), (cfg, name, k, str(data_path.resolve()))))
    # seed by seed (an interrupted sweep has every model at some seeds), slow models first within a
    # seed (load balance); results do not depend on the order
    tasks.sort(key=lambda t: (t[0][1], -_cost(cfg, t[0][0])))
    if progress and done:
        print(f"resuming: {len(done)} finished training run(s) reused, {len(tasks)} to go", file=sys.stderr)

    def save(key, res):
        write_json(runs_dir / key[0] / f"seed{key[1]:03d}.json", res)

    # a spawn-context pool by default: torch is not fork-safe
    res = map_tasks(run_training, tasks, executor, progress=progress, desc="training runs", on_result=save,
                    max_workers=max_workers, mp_context="spawn")
    failures = {f"{k[0]}/seed{k[1]}": repr(v.error) for k, v in res.items() if isinstance(v, TaskFailure)}
    done.update({k: v for k, v in res.items() if not isinstance(v, TaskFailure)})
    timings["training_wall_s"] = time.perf_counter() - t0
    timings["training_cpu_s"] = float(sum(r["seconds"]["train"] + r["seconds"]["evaluate"] for r in done.values()))
    timings["runs_reused"] = len(done) - len(tasks) + len(failures)

    runs: Dict[str, List[Dict[str, Any]]] = {name: [] for name in cfg.models}
    for (name, _), r in done.items():
        runs[name].append(r)
    model_results = aggregate(cfg, {n: rs for n, rs in runs.items() if rs})
    topo_weights = _example_weights(cfg, runs)

    results: Dict[str, Any] = {
        "schema": "tntopo.study/1",
        "models": model_results,
        "exact_topo": exact,
        "pruning": _pruning([r for n, rs in runs.items() for r in rs if cfg.models[n].kind == "shallow"]),
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


def _example_weights(cfg: StudyConfig, runs) -> Dict[str, Any]:
    """Learned weights of seed 0 of each TopoNet-family model, with the exact ones."""
    from ..invariants.realspace import bulk_window, position_kernel

    N = cfg.n_cells
    out: Dict[str, Any] = {"exact": {"s": [-1.0] * N + [1.0] * N, "X": position_kernel(N).tolist(),
                                     "R": bulk_window(N).tolist()}}
    for name, rs in runs.items():
        rs = [r for r in rs if "weights" in r]
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
            d["states_removed_vs_2W"] = float(np.mean(s.removed == 2 * np.abs(s.label)))
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
        "disorder_agreement": lambda r: plot.plot_disorder_accuracy(r, metric="agreement_quantized"),
        "trainability": plot.plot_trainability,
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
