"""The Chern study's own sections: the exact TopoNet2D row, the disorder section and the edge proxy.

Everything else -- rows, seeds, learning-rate selection, verdicts, aggregation, report -- is the
protocol of the 1D study (:mod:`tntopo.study.reproduce`), run on the sets of
:mod:`tntopo.study.chern_sets` with a :class:`tntopo.study.ChernStudyConfig`.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Dict

import numpy as np

from ..data.evalsets import EvalSet

__all__ = ["exact_reference", "disorder_section", "edge_proxy_section", "input_hamiltonians"]

N_ORB = 2
#: Strong disorder in the Chern study: the QWZ topological Anderson insulator region (W ~ 4-5, m = 2.2-2.5).
CHERN_TAI_WINDOW = (4.0, 5.0)


def _geometry(L: int):
    from ..systems import Lattice2D

    return Lattice2D.qwz(1.0, (int(L), int(L)))  # geometry only: shape, n_orb, positions (cell indices)


def input_hamiltonians(s: EvalSet, stencil: int, idx=None) -> np.ndarray:
    """The dense Hamiltonians ``(n, dim, dim)`` (complex128) of a set's inputs (its lattice layouts)."""
    from ..systems import layout_hamiltonian

    x = s.x if idx is None else s.x[idx]
    return layout_hamiltonian(np.asarray(x, dtype=np.float64), N_ORB, stencil)


def _chunk(L: int) -> int:
    return max(1, 4096 // (L * L))


def exact_reference(cfg, sets: Dict[str, EvalSet], scores: Callable[[np.ndarray, EvalSet], Dict[str, Any]]
                    ) -> Dict[str, Any]:
    """TopoNet2D(init="exact") on every set's inputs, scored like every model, and its precision.

    ``max_abs_error``: the network's output against :func:`tntopo.chern_number` (``method="marker"``, the
    dense bulk marker of the same Hamiltonians, no tensor network) on every sample of every set.
    """
    import torch

    from ..invariants import chern_number
    from ..nn import TopoNet2D

    acc, out_scores, errs = {}, {}, []
    nets: Dict[int, Any] = {}
    for name, s in sets.items():
        L = int(s.n_cells)
        if L not in nets:
            nets[L] = TopoNet2D((L, L), N_ORB, init="exact", window="fixed", dtype=torch.float64)
        geo, vals, ref = _geometry(L), [], []
        for a in range(0, len(s), _chunk(L)):
            H = input_hamiltonians(s, cfg.stencil, slice(a, a + _chunk(L)))
            with torch.no_grad():
                vals.append(nets[L](torch.from_numpy(H)).numpy())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # gapless or unquantized samples are scored, not certified here
                ref.append(np.atleast_1d(chern_number(H, method="marker", lattice=geo, warn=False)))
        C, R = np.concatenate(vals), np.concatenate(ref)
        errs.append(np.abs(C - R))
        out_scores[name] = scores(C, s)
        acc[name] = out_scores[name]["accuracy"]
    errs = np.concatenate(errs)
    return {"max_abs_error": float(errs.max()), "median_abs_error": float(np.median(errs)), "accuracy": acc,
            "scores": out_scores, "n_checked": int(errs.size),
            "reference": "tntopo.chern_number(method='marker') of each input's Hamiltonian"}


def disorder_section(cfg, sets: Dict[str, EvalSet], models: Dict[str, Any], exact: Dict[str, Any]) -> Dict[str, Any]:
    """Top-level ``disorder`` (the schema of the 1D study's): per size, every row's accuracy against the
    ensemble phase beside the sample's own bulk marker (the best estimator a sample allows), the majority
    guess, and the fraction of samples whose ensemble label is determined."""
    by_len = {}
    for L in cfg.disorder_lengths:
        row: Dict[str, Any] = {"estimator_accuracy": {}, "majority_accuracy": {}, "open_invariant_accuracy": {},
                               "topological_fraction": {}, "determined_fraction": {}, "tai": {},
                               "models": {m: e["disorder_accuracy"][str(L)] for m, e in models.items()}}
        for W in cfg.disorder_strengths:
            name, k = cfg.disorder_set_name(L, W), f"{W:g}"
            s = sets[name]
            row["estimator_accuracy"][k] = float(np.mean(s.aux["estimator"] == s.label))
            row["majority_accuracy"][k] = float(np.mean(s.aux["majority"] == s.label))
            row["open_invariant_accuracy"][k] = exact["accuracy"][name]
            row["topological_fraction"][k] = float(np.mean(s.label != 0))
            if "determined" in s.aux:
                row["determined_fraction"][k] = float(np.mean(s.aux["determined"]))
            t = np.asarray(s.aux.get("tai", np.zeros(len(s), bool)), bool)
            if t.any():
                row["tai"][k] = {"n": int(t.sum()),
                                 "estimator_accuracy": float(np.mean(s.aux["estimator"][t] == s.label[t])),
                                 "open_invariant_accuracy": exact["scores"][name].get("tai_accuracy"),
                                 "models": {m: e["disorder_tai_accuracy"][str(L)][k] for m, e in models.items()}}
        by_len[str(L)] = row
    return {"n_cells": [int(L) for L in cfg.disorder_lengths], "strengths": [float(W) for W in cfg.disorder_strengths],
            "n_samples": cfg.n_disorder,
            "label": "phase of the ensemble: Bott index on larger samples, averaged over realizations",
            "strong_window": list(CHERN_TAI_WINDOW),
            "by_length": by_len}


def edge_proxy_section(cfg, sets: Dict[str, EvalSet]) -> Dict[str, Any]:
    """Top-level ``edge_proxy``: the edge-state proxy's accuracy on the clean, counterfactual and control
    sets (per family), the one-feature baseline every model is put beside."""
    from .chern_sets import edge_proxy_predict_2d

    acc = {name: float(np.mean(edge_proxy_predict_2d(sets[name].x, stencil=cfg.stencil) == sets[name].label))
           for name in ("test", "unseen", "counterfactual", "counterfactual_control") if name in sets}

    def by_family(s):
        fam = s.aux["family"]
        return {str(f): float(np.mean(s.aux["edge_proxy"][fam == f] == s.label[fam == f])) for f in np.unique(fam)}

    ctl = sets.get("counterfactual_control")
    return {"accuracy": acc, "counterfactual_by_family": by_family(sets["counterfactual"]),
            "control_by_family": by_family(ctl) if ctl is not None else None,
            "rule": "tntopo.study.chern_sets.edge_proxy_predict_2d (in-gap states on the boundary ring)"}
