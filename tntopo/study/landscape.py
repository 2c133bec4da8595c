"""The loss landscape of TopoNet, measured: symmetries, Hessian spectra, distance to the exact weights.

TopoNet computes ``W = sum_ac R_a X_ac Q_ac^2`` with ``Q_ac = sum_n s_n psi_an psi_cn``. Its
parametrization has continuous symmetries -- directions that leave the output unchanged on every input:

* **scale trade-offs**: ``s -> a s, X -> X / a^2`` and ``R -> b R, X -> X / b`` (two directions when
  the window is learned, one otherwise), plus the discrete ``s -> -s``;
* **chiral-even state weights**: eigenstates pair as ``psi_{-E} = +-Gamma psi_E``, so only
  ``s_n - s_{2N-1-n}`` reaches ``Q_AB``: the even part (``N`` directions per-state, ``n_bins/2`` for rank
  weights) is dead;
* **projections** of the constrained variants (odd kernel, commutator kernel) kill further raw directions.

:func:`jacobian_null_space` measures the null space of the Jacobian of the outputs w.r.t. the
parameters on a data batch (its dimension is ``n_parameters - effective_parameters``), and how much of
it the analytic generators above explain; the rest are directions these data do not probe (e.g.
kernel entries at distances where ``Q`` has decayed). :func:`loss_hessian` gives the Hessian spectrum
of the MSE loss; :func:`distance_to_exact` the distance of a model's weights to the exact ones modulo
the symmetries (chiral-even part projected out, minimized over the scale orbit, both signs);
:func:`gradient_norms` the gradient norm at random initialization vs chain length; and
:func:`landscape_report` runs all of it for trained seeds, with the rank correlation between the
distance and out-of-distribution accuracy. Results are JSON-able dicts.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

from ..nn.training import effective_parameters  # one definition (vectorized Jacobian rank), re-exported here

__all__ = [
    "flat_parameters",
    "output_jacobian",
    "effective_parameters",
    "jacobian_null_space",
    "loss_hessian",
    "distance_to_exact",
    "gradient_norms",
    "landscape_report",
]


def _torch():
    import torch

    return torch


def flat_parameters(model):
    """``(names, shapes, flat)``: the trainable parameters of ``model`` as one float64 vector."""
    torch = _torch()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return [n for n, _ in named], [tuple(p.shape) for _, p in named], torch.cat([p.detach().reshape(-1).double()
                                                                                   for _, p in named])


def _functional(model, names, shapes):
    """``f(theta_flat, x) -> outputs`` evaluating ``model`` at other parameter values (torch.func)."""
    torch = _torch()
    from torch.func import functional_call

    sizes = [int(np.prod(s)) for s in shapes]
    dtype = next(model.parameters()).dtype

    def f(theta, x):
        parts = torch.split(theta, sizes)
        params = {n: p.reshape(s).to(dtype) for n, p, s in zip(names, parts, shapes)}
        return functional_call(model, params, (x,)).reshape(-1).double()

    return f


def output_jacobian(model, x) -> np.ndarray:
    """Jacobian ``J[i, p] = d out_i / d theta_p`` over the batch ``x``, float64 ``(outputs, parameters)``
    (:func:`tntopo.nn.training.output_jacobian` as a numpy array)."""
    torch = _torch()
    from ..nn.training import output_jacobian as _oj

    x = torch.as_tensor(np.asarray(x) if not hasattr(x, "detach") else x)
    return _oj(model, x).cpu().numpy()


def _generators(model) -> Dict[str, List[np.ndarray]]:
    """Analytic symmetry directions of a TopoNet's raw parameters at its current values."""
    names, shapes, theta = flat_parameters(model)
    theta = theta.numpy()
    sizes = [int(np.prod(s)) for s in shapes]
    offs = np.cumsum([0] + sizes)
    blk = {n.split(".")[-1]: (offs[i], offs[i + 1]) for i, n in enumerate(names)}
    P = len(theta)
    gens: Dict[str, List[np.ndarray]] = {"scale": [], "chiral_even": []}
    if "S" in blk and "X" in blk:
        v = np.zeros(P)
        v[slice(*blk["S"])] = theta[slice(*blk["S"])]
        v[slice(*blk["X"])] = -2 * theta[slice(*blk["X"])]
        gens["scale"].append(v)
        if "R" in blk:
            v = np.zeros(P)
            v[slice(*blk["R"])] = theta[slice(*blk["R"])]
            v[slice(*blk["X"])] = -theta[slice(*blk["X"])]
            gens["scale"].append(v)
    if "S" in blk:
        a, b = blk["S"]
        n = b - a
        for i in range(n // 2):
            v = np.zeros(P)
            v[a + i] = v[a + n - 1 - i] = 1.0
            gens["chiral_even"].append(v)
    return gens


def jacobian_null_space(model, x, rtol: float = 1e-6) -> Dict[str, Any]:
    """Continuous symmetries of the parametrization seen on the batch ``x``.

    Returns
    -------
    dict
        ``n_parameters``, ``rank`` (singular values of ``J`` above ``rtol * s_max``), ``n_null``,
        ``explained`` ``{generator family: dimension of its span inside the null space}``,
        ``n_unexplained`` (null directions the analytic symmetries do not account for: data-blind
        directions) and ``singular_values`` (descending, normalized by the largest).
    """
    J = output_jacobian(model, x)
    P = J.shape[1]
    u, s, vt = np.linalg.svd(J, full_matrices=True)
    smax = s[0] if s.size else 0.0
    rank = int(np.sum(s > rtol * smax)) if smax > 0 else 0
    null = vt[rank:].T  # (P, n_null)
    explained: Dict[str, int] = {}
    inside = []
    for fam, vecs in _generators(model).items():
        ok = []
        for v in vecs:
            nv = np.linalg.norm(v)
            if nv == 0:
                continue
            v = v / nv
            if np.linalg.norm(J @ v) <= 1e-6 * max(smax, 1e-300) * 10 or np.linalg.norm(v - null @ (null.T @ v)) < 1e-6:
                ok.append(v)
        explained[fam] = int(np.linalg.matrix_rank(np.stack(ok), tol=1e-8)) if ok else 0
        inside += ok
    n_expl = int(np.linalg.matrix_rank(np.stack(inside), tol=1e-8)) if inside else 0
    return {"n_parameters": int(P), "rank": rank, "n_null": int(P - rank), "explained": explained,
            "n_explained": n_expl, "n_unexplained": int(P - rank - n_expl),
            "singular_values": (s / smax).tolist() if smax > 0 else s.tolist()}


def loss_hessian(model, x, y, *, rtol: float = 1e-8) -> Dict[str, Any]:
    """Hessian spectrum of the MSE loss ``mean (f(x) - y)^2`` at the model's current parameters.

    Returns
    -------
    dict
        ``loss``, ``eigenvalues`` (ascending), ``n_zero`` (``|lambda| <= rtol * lambda_max``),
        ``n_negative`` (``lambda < -rtol * lambda_max``), ``lambda_max`` and ``condition`` (largest over
        smallest positive eigenvalue above the threshold).
    """
    torch = _torch()
    names, shapes, theta = flat_parameters(model)
    f = _functional(model, names, shapes)
    x = torch.as_tensor(np.asarray(x) if not hasattr(x, "detach") else x)
    yt = torch.as_tensor(np.asarray(y), dtype=torch.float64)

    def loss(t):
        return ((f(t, x) - yt) ** 2).mean()

    try:
        H = torch.autograd.functional.hessian(loss, theta, vectorize=True)
    except (RuntimeError, NotImplementedError):  # pragma: no cover - ops without batching rules
        H = torch.autograd.functional.hessian(loss, theta)
    H = H.detach().numpy()
    ev = np.linalg.eigvalsh((H + H.T) / 2)
    lmax = float(np.max(np.abs(ev))) if ev.size else 0.0
    thr = rtol * lmax
    pos = ev[ev > thr]
    return {"loss": float(loss(theta)), "eigenvalues": ev.tolist(), "n_zero": int(np.sum(np.abs(ev) <= thr)),
            "n_negative": int(np.sum(ev < -thr)), "lambda_max": lmax,
            "condition": float(pos.max() / pos.min()) if pos.size else math.inf}


def _effective_weights(model):
    torch = _torch()
    with torch.no_grad():
        s, X, R = model.weights()
    return s.detach().double().numpy(), X.detach().double().numpy(), R.detach().double().numpy()


def distance_to_exact(model, exact, *, near: int = 3) -> Dict[str, float]:
    """Distance of ``model``'s weights to ``exact``'s, modulo the symmetries of the parametrization.

    Works on the tensors the network uses (``model.weights()``: ``s``, ``X``, ``R``; projections of
    constrained variants already applied), removes the dead chiral-even part of ``s`` and minimizes
    ``|a s - s*|^2 + |X / (a^2 b) - X*|^2 + |b R - R*|^2`` over the scale orbit (``a`` of either sign,
    ``b > 0``; ``b = 1`` for a fixed window).

    Returns
    -------
    dict
        ``distance`` (relative to ``|theta*|``), ``distance_raw`` (no symmetry reduction, relative),
        ``distance_near`` (the kernel restricted to ``|a - c| <= near``, where data constrain it),
        ``a``, ``b`` (the optimal orbit point).
    """
    from scipy.optimize import minimize

    s, X, R = _effective_weights(model)
    s0, X0, R0 = _effective_weights(exact)
    learned_R = getattr(model, "window", "learned") != "fixed"
    odd = lambda v: (v - v[::-1]) / 2  # noqa: E731
    s, s0 = odd(s), odd(s0)
    N = X.shape[0]
    d = np.abs(np.arange(N)[:, None] - np.arange(N)[None, :])

    def parts(p, sign, mask=None):
        a = sign * math.exp(p[0])
        b = math.exp(p[1]) if learned_R else 1.0
        Xm = X / (a * a * b) - X0
        if mask is not None:
            Xm = Xm[mask]
        return np.sum((a * s - s0) ** 2) + np.sum(Xm ** 2) + np.sum((b * R - R0) ** 2)

    norm = math.sqrt(np.sum(s0 ** 2) + np.sum(X0 ** 2) + np.sum(R0 ** 2))
    norm_near = math.sqrt(np.sum(s0 ** 2) + np.sum(X0[d <= near] ** 2) + np.sum(R0 ** 2))
    best = None
    for mask, key in ((None, "full"), (d <= near, "near")):
        res = [minimize(lambda p: parts(p, sg, mask), np.zeros(2), method="Nelder-Mead",
                        options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 4000}) for sg in (1.0, -1.0)]
        r = min(res, key=lambda z: z.fun)
        sg = 1.0 if r is res[0] else -1.0
        if key == "full":
            best = (r, sg)
        else:
            dist_near = math.sqrt(max(r.fun, 0.0)) / norm_near
    r, sg = best
    raw = math.sqrt(np.sum((_effective_weights(model)[0] - _effective_weights(exact)[0]) ** 2)
                    + np.sum((X - X0) ** 2) + np.sum((R - R0) ** 2)) / norm
    return {"distance": math.sqrt(max(r.fun, 0.0)) / norm, "distance_raw": raw, "distance_near": dist_near,
            "a": sg * math.exp(r.x[0]), "b": math.exp(r.x[1]) if learned_R else 1.0}


def gradient_norms(factory: Callable, n_cells: Sequence[int], *, seeds: int = 3, n_batch: int = 64,
                   ranges: Sequence[int] = (-1, 0, 1, 2), windings: Sequence[int] = (0, 1), min_gap: float = 0.4,
                   scale: float = 1.0, seed: int = 0) -> Dict[str, Any]:
    """Norm of the MSE-loss gradient at random initialization vs chain length.

    ``factory(n_cells, seed, "random")`` builds each model (weights times ``scale``); the batch is
    ``n_batch`` training-distribution chains. Returns ``{"n_cells": [...], "median": [...], "min": [...],
    "max": [...], "per_parameter": [...]}`` (``per_parameter``: median norm / sqrt(#parameters)).
    """
    torch = _torch()
    from ..data import wavefunctions
    from ..parallel import task_seed
    from .trainability import initialize, sample_sectors

    out: Dict[str, List[float]] = {"n_cells": [], "median": [], "min": [], "max": [], "per_parameter": []}
    for N in n_cells:
        b = sample_sectors(n_batch, int(N), windings, ranges=ranges, min_gap=min_gap, seed=task_seed(seed, 951, int(N)))
        x = torch.as_tensor(wavefunctions(b.hopping_blocks()).astype(np.float32))
        y = torch.as_tensor(b.bloch_windings().astype(np.float32))
        norms = []
        P = 0
        for k in range(seeds):
            model = initialize(factory, int(N), int(task_seed(seed, 952, int(N), k).generate_state(1)[0]),
                               {"kind": "random", "scale": scale})
            P = sum(p.numel() for p in model.parameters() if p.requires_grad)
            model.zero_grad()
            loss = ((model(x.to(next(model.parameters()).dtype)) - y) ** 2).mean()
            loss.backward()
            norms.append(float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in model.parameters()
                                              if p.grad is not None))))
        out["n_cells"].append(int(N))
        out["median"].append(float(np.median(norms)))
        out["min"].append(float(np.min(norms)))
        out["max"].append(float(np.max(norms)))
        out["per_parameter"].append(float(np.median(norms) / math.sqrt(max(P, 1))))
    return out


def _spearman(a, b) -> Optional[float]:
    from scipy.stats import spearmanr

    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return None
    return float(spearmanr(a[ok], b[ok])[0])


def landscape_report(factory: Callable, n_cells: int, *, seeds: int = 5, epochs: int = 30, lr: float = 1e-2,
                     batch_size: int = 64, init: Optional[Mapping[str, Any]] = None, n_jacobian: Optional[int] = None,
                     data: Optional[Mapping[str, Any]] = None, train_fn: Optional[Callable] = None,
                     grad_n_cells: Sequence[int] = (8, 16, 32, 64), seed: int = 0) -> Dict[str, Any]:
    """The landscape section of the study for one TopoNet variant (JSON-able).

    Parameters
    ----------
    factory : callable(n_cells, seed, init)
        E.g. :func:`tntopo.study.trainability.toponet_factory`.
    n_cells : int
        Chain length of training and of the Jacobian/Hessian batches.
    seeds, epochs, lr, batch_size, init :
        Trained seeds (``init`` as in :func:`tntopo.study.trainability.initialize`, default random scale 1).
    n_jacobian : int, optional
        Training chains in the Jacobian and Hessian batches (default: the number of parameters + 64,
        so that ranks measure the parametrization rather than the batch; the training set is
        enlarged to hold them). ``rank_bounded_by_batch`` in the output says when it is smaller.
    data : dict, optional
        Keyword arguments of :func:`tntopo.study.trainability.protocol_sets` (training windings under
        ``"train_windings"``, default ``(0, 1)``).
    train_fn : callable, optional
        Default :func:`tntopo.study.trainability.default_train`.
    grad_n_cells : sequence of int
        Chain lengths of :func:`gradient_norms`.

    Returns
    -------
    dict
        ``symmetries`` (at the exact weights), ``hessian_exact``, per-seed ``seeds`` (distance, Hessian
        summary at the learned minimum, criterion accuracies), ``rank_correlation`` (Spearman of the
        distance vs unseen-winding and counterfactual accuracy; negative = closer is better),
        ``gradient_norms``.
    """
    from ..parallel import task_seed
    from .trainability import default_train, initialize, init_name, protocol_sets, seed_report

    data = dict(data or {})
    tw = tuple(data.pop("train_windings", (0, 1)))
    exact = factory(int(n_cells), 0, "exact").double()
    P = sum(p.numel() for p in exact.parameters() if p.requires_grad)
    # more chains than parameters, so that the Jacobian rank (and the Hessian's zero modes) measure
    # the parametrization, not the batch
    n_jac = int(n_jacobian) if n_jacobian is not None else P + 64
    data["n_train"] = max(int(data.get("n_train", 512)), n_jac)
    sets = protocol_sets(int(n_cells), tw, seed=seed, **data)
    train_fn = train_fn or default_train
    init = dict(init or {"kind": "random", "scale": 1.0})
    xb = sets["train"][0][:n_jac].astype(np.float64)
    yb = sets["train"][1][:n_jac]
    hess_exact = loss_hessian(exact, xb, yb)
    out: Dict[str, Any] = {
        "n_cells": int(n_cells), "init": init_name(init), "train_windings": list(tw),
        "n_jacobian": int(len(xb)), "rank_bounded_by_batch": bool(len(xb) < P),
        "symmetries": jacobian_null_space(exact, xb),
        "hessian_exact": _hess_summary(hess_exact),
        "seeds": [],
    }
    for k in range(int(seeds)):
        s = int(task_seed(seed, 961, int(n_cells), k).generate_state(1)[0])
        model = initialize(factory, int(n_cells), s, init)
        try:
            train_fn(model, sets["train"], sets["val"], epochs=epochs, lr=lr, seed=s, batch_size=batch_size)
        except FloatingPointError as exc:
            out["seeds"].append({"seed": s, "note": f"training diverged: {exc}"})
            continue
        rep = seed_report(model, sets)
        m64 = model.double()
        rep.update(distance_to_exact(m64, exact))
        rep["hessian"] = _hess_summary(loss_hessian(m64, xb, yb))
        rep["symmetries_n_null"] = jacobian_null_space(m64, xb)["n_null"]
        rep["seed"] = s
        out["seeds"].append(rep)
    ok = [r for r in out["seeds"] if "distance" in r]
    dist = [r["distance"] for r in ok]
    out["rank_correlation"] = {
        crit: _spearman(dist, [r[crit] if isinstance(r.get(crit), float) else np.nan for r in ok])
        for crit in ("unseen", "long", "counterfactual")
    }
    out["gradient_norms"] = gradient_norms(factory, grad_n_cells, seed=seed)
    return out


def _hess_summary(h: Mapping[str, Any], k: int = 5) -> Dict[str, Any]:
    ev = np.asarray(h["eigenvalues"])
    return {"loss": h["loss"], "n_parameters": int(ev.size), "n_zero": h["n_zero"], "n_negative": h["n_negative"],
            "lambda_max": h["lambda_max"], "condition": h["condition"], "top": ev[::-1][:k].tolist(),
            "min": float(ev.min()) if ev.size else None}
