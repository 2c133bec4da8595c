"""Train many seeds of one model together: one vmapped model instead of a loop of :func:`~tntopo.nn.train`.

The study trains every row for many independent initializations (seeds). For small models such
as TopoNet the per-step cost of :func:`~tntopo.nn.train` is mostly Python and dispatch overhead,
so :func:`train_seeds` stacks the ``S`` seeds' parameters along a new leading axis
(``torch.func.stack_module_state``) and runs one ``torch.func.vmap`` of ``functional_call`` per
step: ``S`` forward and backward passes in one call, one Adam step over the stacked tensors.

It reproduces, seed by seed, what ``train(build(seed), ..., seed=seed)`` does:

* the same initial weights (``build(seed)``);
* the same batch order in every epoch (each seed draws its own permutation from
  ``SeedSequence(seed, spawn_key=(epoch,))``; the batch of seed ``k`` is gathered as
  ``x[order_k[i:i + batch_size]]`` and the stacked batches are vmapped together);
* the same optimizer: Adam, AdamW and SGD with momentum act element by element, so one optimizer
  over the stacked parameters equals ``S`` separate ones (shared ``lr``, betas, weight decay);
  gradient-norm clipping (``clip_grad``) is computed per seed, not over the stack;
* the same validation metrics (in chunks of ``max(batch_size, 1024)`` samples as
  :func:`~tntopo.nn.evaluate`), best-validation-loss restore and early stopping (``patience``)
  per seed; a seed that stops early is removed from the stack, the others go on;
* the same histories (:class:`~tntopo.nn.History`) except ``"seconds"``, the wall time of the
  shared epoch.

Results equal separate runs up to floating-point rounding (batched kernels may add in another
order). Measured: the study's TopoNet rows (``topo``, ``topo_ti``), float32, 20 seeds, N = 24,
10 epochs: bit-identical weights and losses (``benchmarks/bench_seeds.py``); MLP, CNN and
SymmetricNet, float32, 6 epochs: relative weight differences 4e-6 to 4e-5, float64: below 1e-13
(``tests/test_nn_batched.py`` requires 1e-10 in float64 and 1e-4 in float32).

Models the vmapped route cannot reproduce fall back to a plain loop of
:func:`~tntopo.nn.train` (``mode="auto"``), with a warning that says why: seeds that build models
of different structure (types, parameter names, shapes, dtypes, buffers), operations without a
batching rule, randomness in the forward pass, or a vmapped probe that does not give the
models' own outputs and gradients. All registered chain models batch (TopoNet and its odd and
commutator variants, MLP, ShallowNet, CNN, SymmetricNet, with either head).
"""
from __future__ import annotations

import math
import time
import warnings
from typing import Callable, Dict, List, Literal, Optional, Sequence, Tuple, get_args

import torch
from torch import nn

from .._typing import check_option, strict_keywords
from .training import (DIVERGENCE_FACTOR, History, TrainingDivergedError, _batches, _classes_of, _epoch_generator, _make_optimizer,
                       _Objective, _trained_on, as_dataset, eval_mode, train)

__all__ = ["train_seeds", "BatchMode", "OnDiverge", "BATCH_MODES"]

#: ``train_seeds(mode=...)``: ``"auto"`` (vmapped where possible, else a loop of ``train``),
#: ``"vmap"`` (vmapped or an error), ``"loop"`` (a loop of ``train``).
BatchMode = Literal["auto", "vmap", "loop"]
#: ``train_seeds(on_diverge=...)``: raise like ``train``, or record the seed as diverged and go on.
OnDiverge = Literal["raise", "record"]
BATCH_MODES: Tuple[str, ...] = get_args(BatchMode)

#: Relative tolerance of the probe that checks the vmapped model against the models' own forward
#: and backward passes (a check of structure, not of precision: rounding is ~1e-7 in float32).
_PROBE_RTOL = 1e-4
#: Samples per seed held at once by the vmapped validation pass (seeds are chunked to stay below).
_EVAL_BUDGET = 8192


@strict_keywords
def train_seeds(
    build: Callable[[int], nn.Module],
    seeds: Sequence[int],
    train_data,
    val_data=None,
    *,
    epochs: int = 100,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    optimizer: str = "adam",
    loss: Optional[str] = None,
    patience: Optional[int] = None,
    min_delta: float = 0.0,
    restore_best: bool = True,
    clip_grad: Optional[float] = None,
    progress: bool = True,
    device=None,
    num_workers: int = 0,
    mode: BatchMode = "auto",
    group_size: Optional[int] = None,
    on_diverge: OnDiverge = "raise",
) -> Tuple[List[nn.Module], List[History]]:
    """Train one model per seed, all seeds together as one vmapped model; as a loop of :func:`~tntopo.nn.train`.

    Seed ``k`` ends with the weights and the history that ``train(build(seeds[k]), train_data,
    val_data, ..., seed=seeds[k])`` gives, up to floating-point rounding (see the module
    docstring).

    Parameters
    ----------
    build : callable
        ``build(seed) -> nn.Module``: a fresh model initialized from ``seed`` (e.g.
        ``lambda s: build_model("toponet", 24, s)``).
    seeds : sequence of int
        One training run per seed: it seeds the model (through ``build``) and the batch order.
    train_data, val_data
        As in :func:`~tntopo.nn.train` (``val_data`` drives early stopping and ``restore_best``).
    epochs, batch_size, lr, weight_decay, optimizer, loss, patience, min_delta, restore_best, clip_grad
        As in :func:`~tntopo.nn.train`, the same for every seed.
    progress : bool
        A tqdm bar over epochs.
    device : torch device, optional
        Where to train (default: where the models' parameters are).
    num_workers : int
        DataLoader workers to read a dataset from disk (the vmapped route loads it into memory once).
    mode : {"auto", "vmap", "loop"}
        ``"auto"``: vmapped if the models allow it (see the module docstring), else a loop of
        :func:`~tntopo.nn.train` with a warning; ``"vmap"``: vmapped or a ``ValueError`` that says
        why not; ``"loop"``: a loop of :func:`~tntopo.nn.train`.
    group_size : int, optional
        Train at most this many seeds in one vmapped model, group after group (bounds memory:
        activations grow with ``group_size * batch_size``); the default trains all seeds at once.
        Results do not depend on it.
    on_diverge : {"raise", "record"}
        A seed whose training loss becomes NaN or infinite raises a
        :class:`~tntopo.nn.TrainingDivergedError` naming the seed (``"raise"``, like
        :func:`~tntopo.nn.train`), or (``"record"``) keeps the weights it had when it diverged
        (as :func:`~tntopo.nn.train` leaves a model that raised), gets ``history["diverged"]``
        (the error message) and leaves the stack while the other seeds go on.

    Returns
    -------
    (list of nn.Module, list of History)
        The trained models and their histories, in the order of ``seeds``. Every history has
        ``"batched"`` (whether the seed was trained in a vmapped stack) and ``"seed"``; every model
        has ``trained_on`` as after :func:`~tntopo.nn.train`.

    Raises
    ------
    ValueError
        Bad arguments (as :func:`~tntopo.nn.train`), no seeds, ``build`` returning one model twice,
        or ``mode="vmap"`` for models that cannot be vmapped.
    TrainingDivergedError
        A seed's loss became NaN or infinite and ``on_diverge="raise"``.
    TypeError
        An unknown keyword argument (the message lists the valid ones).

    Examples
    --------
    >>> from tntopo.data import make_dataset
    >>> from tntopo.nn import build_model, train_seeds
    >>> tr, va = make_dataset(64, 8, seed=0), make_dataset(32, 8, seed=1)
    >>> models, hists = train_seeds(lambda s: build_model("toponet", 8, s), [0, 1, 2], tr, va,
    ...                             epochs=2, batch_size=16, lr=1e-2, progress=False)
    >>> len(models), [h["batched"] for h in hists]
    (3, [True, True, True])
    """
    check_option("mode", mode, BatchMode)
    check_option("on_diverge", on_diverge, OnDiverge)
    seeds = _check_seeds(seeds)
    _check_stack_settings(build, epochs, group_size)
    kw = dict(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, optimizer=optimizer, loss=loss,
              patience=patience, min_delta=min_delta, restore_best=restore_best, clip_grad=clip_grad,
              device=device, num_workers=num_workers)
    models = _build_models(build, seeds, device)
    # train's own argument checks (and device placement) on the first model: a zero-epoch run
    train(models[0], train_data, val_data, **{**kw, "epochs": 0}, seed=seeds[0], progress=False)

    if mode == "loop":
        return models, _loop(models, seeds, train_data, val_data, kw, progress, on_diverge)
    ds = as_dataset(train_data)
    reason = _obstacle(models, ds, device)
    if reason is not None:
        if mode == "vmap":
            raise ValueError(f"these models cannot be trained as one vmapped model: {reason}; use mode='auto' or 'loop'")
        warnings.warn(f"train_seeds: training the seeds one after the other ({reason})", RuntimeWarning, stacklevel=2)
        return models, _loop(models, seeds, train_data, val_data, kw, progress, on_diverge)

    g = len(seeds) if group_size is None else group_size
    hists: List[History] = []
    for i in range(0, len(seeds), g):
        hists += _train_stack(models[i:i + g], seeds[i:i + g], ds, val_data, kw, progress, on_diverge)
    torch.manual_seed(int(seeds[-1]))  # the global RNG as a loop of train leaves it (nothing else draws from it)
    return models, hists


def _check_seeds(seeds) -> List[int]:
    try:
        seeds = list(seeds)
        out = [int(s) for s in seeds]
        ok = all(int(s) == s and not isinstance(s, bool) for s in seeds)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"seeds must be a sequence of integers, got {seeds!r}")
    if not out:
        raise ValueError("seeds is empty; give at least one seed")
    return out


def _check_stack_settings(build, epochs, group_size) -> None:
    """``ValueError`` for a ``build``, ``epochs`` or ``group_size`` :func:`train_seeds` cannot run with."""
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    if group_size is not None and (not isinstance(group_size, int) or isinstance(group_size, bool) or group_size < 1):
        raise ValueError(f"group_size must be a positive integer or None, got {group_size!r}")
    if not callable(build):
        raise ValueError(f"build must be a callable build(seed) -> nn.Module, got {type(build).__name__}")


def _build_models(build, seeds: List[int], device) -> List[nn.Module]:
    """``build(seed)`` for every seed (each a fresh ``nn.Module``), moved to ``device`` if one is given."""
    models = []
    for s in seeds:
        m = build(s)
        if not isinstance(m, nn.Module):
            raise ValueError(f"build({s}) returned {type(m).__name__}, not a torch nn.Module")
        if any(m is o for o in models):
            raise ValueError("build returned the same model object for two seeds; it must build a fresh model per call")
        models.append(m)
    if device is not None:
        for m in models:
            m.to(device)
    return models


def _loop(models, seeds, train_data, val_data, kw, progress, on_diverge):
    """The reference route: one :func:`train` per seed."""
    hists = []
    for m, s in zip(models, seeds):
        last: Dict[str, History] = {}

        def keep(epoch, history):  # the history so far, kept if train raises
            last["h"] = history

        try:
            h = train(m, train_data, val_data, **kw, seed=s, progress=progress, callback=keep)
        except TrainingDivergedError as exc:
            if on_diverge == "raise":
                raise
            h = last.get("h", History())
            h["diverged"] = str(exc)
        h["batched"], h["seed"] = False, s
        hists.append(h)
    return hists


# ----------------------------------------------------------------------------- can the models be stacked?
def _obstacle(models: List[nn.Module], ds, device) -> Optional[str]:
    """``None`` if the models can be trained as one vmapped model, else why not (one line)."""
    from torch.func import functional_call, stack_module_state, vmap

    m0 = models[0]
    for m in models[1:]:
        if type(m) is not type(m0):
            return f"the seeds build models of different types ({type(m0).__name__}, {type(m).__name__})"
        sig0 = [(n, p.shape, p.dtype, p.device, p.requires_grad) for n, p in m0.named_parameters()]
        sig = [(n, p.shape, p.dtype, p.device, p.requires_grad) for n, p in m.named_parameters()]
        if sig != sig0:
            return "the seeds build models with different parameters (names, shapes, dtypes or devices)"
        b0, b = dict(m0.named_buffers()), dict(m.named_buffers())
        if b0.keys() != b.keys() or any(b0[k].shape != b[k].shape or not torch.equal(b0[k], b[k]) for k in b0):
            return "the seeds build models with different buffers"
        if list(dict(m0.named_modules())) != list(dict(m.named_modules())):
            return "the seeds build models with different submodules"
    # a probe: the vmapped forward and backward must reproduce each model's own on a few samples
    tensors = getattr(ds, "tensors", None)
    xp = (tensors[0][:4] if tensors is not None else torch.stack([ds[i][0] for i in range(min(4, len(ds)))]))
    dev = next(m0.parameters()).device
    xp = torch.as_tensor(xp).to(dev)
    params, _ = stack_module_state(models)
    params = {k: v.detach().clone().requires_grad_(v.requires_grad) for k, v in params.items()}
    was = [m.training for m in models]
    try:
        for m in models:
            m.train()
        try:
            out = vmap(lambda p, x: functional_call(m0, p, (x,)), in_dims=(0, None), randomness="error")(params, xp)
            out.double().square().sum().backward()
        except Exception as exc:  # any failure of the transform means: not batchable
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            return f"the model does not run under torch.func.vmap ({type(exc).__name__}: {msg[:200]})"
        ref, ref_grads = [], []
        for m in models:
            m.zero_grad(set_to_none=True)
            o = m(xp)
            o.double().square().sum().backward()
            ref.append(o.detach())
            ref_grads.append({n: p.grad for n, p in m.named_parameters()})
            m.zero_grad(set_to_none=True)
        ref = torch.stack(ref)
        if out.shape != ref.shape or not _close(out.detach(), ref):
            return "the vmapped model's outputs differ from the models' own (the forward pass reads per-model state)"
        for n, p in params.items():
            g_ref = [r[n] for r in ref_grads]
            if (p.grad is None) != (g_ref[0] is None):
                return f"the vmapped model's gradient of {n!r} differs from the models' own"
            if p.grad is not None and not _close(p.grad, torch.stack(g_ref)):
                return f"the vmapped model's gradient of {n!r} differs from the models' own"
    finally:
        for m, w in zip(models, was):
            m.train(w)
    return None


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Same non-finite entries (NaN, +-inf) and finite entries within ``_PROBE_RTOL`` of the largest."""
    a, b = a.double(), b.double()
    fa, fb = torch.isfinite(a), torch.isfinite(b)
    if not torch.equal(fa, fb) or not torch.allclose(a[~fa], b[~fb], rtol=0, atol=0, equal_nan=True):
        return False
    a, b = a[fa], b[fb]
    scale = float(b.abs().max()) if b.numel() else 0.0
    return bool(((a - b).abs() <= _PROBE_RTOL * max(scale, 1e-30)).all())


# ----------------------------------------------------------------------------- the vmapped training
def _materialize(ds, num_workers: int):
    """``(x, y)`` tensors of a dataset (tensor-backed datasets as they are; others read once, in order)."""
    tensors = getattr(ds, "tensors", None)
    if tensors is not None:
        return tensors[0], tensors[1]
    xs, ys = [], []
    for xb, yb in _batches(ds, torch.arange(len(ds)), 1024, num_workers):
        xs.append(xb)
        ys.append(yb)
    return torch.cat(xs), torch.cat(ys)


class _Stack:
    """The parameters of the active seeds as stacked leaf tensors, with their optimizer."""

    def __init__(self, models, kw):
        from torch.func import stack_module_state

        params, _ = stack_module_state(models)
        self.names = list(params)
        self.params = {k: v.detach().clone().requires_grad_(v.requires_grad) for k, v in params.items()}
        self.kw = kw
        # over every parameter, as train's optimizer over model.parameters() (frozen ones get no step)
        self.opt = _make_optimizer(kw["optimizer"], list(self.params.values()), kw["lr"], kw["weight_decay"])

    def _trainable(self):
        return [p for p in self.params.values() if p.requires_grad]

    def seed_state(self, i: int) -> Dict[str, torch.Tensor]:
        return {k: v[i].detach().clone() for k, v in self.params.items()}

    def keep(self, rows: List[int]) -> None:
        """Keep only the seeds at ``rows`` (their optimizer state too)."""
        idx = torch.as_tensor(rows, dtype=torch.long)
        n_old = next(iter(self.params.values())).shape[0]
        sd = self.opt.state_dict()
        for st in sd["state"].values():
            for key, v in list(st.items()):
                if isinstance(v, torch.Tensor) and v.ndim >= 1 and v.shape[0] == n_old and key != "step":
                    st[key] = v[idx.to(v.device)].clone()
        self.params = {k: v.detach()[idx.to(v.device)].clone().requires_grad_(v.requires_grad)
                       for k, v in self.params.items()}
        self.opt = _make_optimizer(self.kw["optimizer"], list(self.params.values()), self.kw["lr"],
                                   self.kw["weight_decay"])
        self.opt.load_state_dict(sd)

    def clip_(self, max_norm: float) -> None:
        """``nn.utils.clip_grad_norm_`` seed by seed (the total 2-norm of each seed's gradients)."""
        grads = [p.grad for p in self._trainable() if p.grad is not None]
        if not grads:
            return
        norms = torch.stack([torch.linalg.vector_norm(g.flatten(1), 2, dim=1) for g in grads])  # (P, S)
        total = torch.linalg.vector_norm(norms, 2, dim=0)
        coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
        for g in grads:
            g.mul_(coef.view(-1, *([1] * (g.ndim - 1))).to(g.dtype))


def _train_stack(models, seeds, ds, val_data, kw, progress, on_diverge) -> List[History]:
    """Train ``models`` (one per seed, stackable) as one vmapped model; weights are written back into them."""
    from tqdm.auto import tqdm

    run = _StackRun(models, seeds, ds, val_data, kw, on_diverge)
    bar = tqdm(range(kw["epochs"]), desc=f"train {len(models)} x {run.name}", disable=not progress)
    try:
        for epoch in bar:
            if not run.active:
                break
            t0 = time.perf_counter()
            tot, correct, count, dropped = run.epoch(epoch)
            run.end_epoch(epoch, tot, correct, count, dropped, time.perf_counter() - t0)
            if run.active:
                h = run.hists[run.active[0]]
                post = {"seeds": len(run.active), "loss": f"{h['train_loss'][-1]:.4g}"}
                if run.vds is not None:
                    post["val_loss"] = f"{h['val_loss'][-1]:.4g}"
                bar.set_postfix(post)
    finally:
        bar.close()
    return run.finish()


class _StackRun:
    """The state of one stacked training run: the stack of the active seeds' parameters, each seed's
    history, best and final weights, early-stopping counter and first batch loss (the divergence rule of
    :func:`tntopo.nn.train`, seed by seed)."""

    def __init__(self, models, seeds, ds, val_data, kw, on_diverge):
        from torch.func import functional_call, vmap

        self.models, self.seeds, self.ds, self.kw, self.on_diverge = models, seeds, ds, kw, on_diverge
        S = len(models)
        base = self.base = models[0]
        self.device = next(base.parameters()).device
        for m in models[1:]:
            m.to(self.device)
        classes = self.classes = _classes_of(base)
        self.loss = kw["loss"] or ("mse" if classes is None else "cross_entropy")
        self.obj = _Objective(self.loss, classes)
        self.x_all, self.y_all = _materialize(ds, kw["num_workers"])
        # the per-sample loss target: class indices (checked once, as train checks them batch by batch) or values
        self.t_all = self.obj.class_index(self.y_all) if classes is not None else self.y_all
        self.vds = None if val_data is None else as_dataset(val_data)
        if self.vds is not None:
            self.xv, self.yv = _materialize(self.vds, kw["num_workers"])
        if classes is not None:
            def loss_fn(out, t):
                return nn.functional.cross_entropy(out, t)
        else:
            fn = {"mse": nn.functional.mse_loss, "huber": nn.functional.smooth_l1_loss,
                  "l1": nn.functional.l1_loss}[self.loss]

            def loss_fn(out, t):
                return fn(out, t.to(out.dtype))

        def step_fn(p, xb, tb):
            out = functional_call(base, p, (xb,))
            return loss_fn(out, tb), out

        def fwd(p, xb):
            return functional_call(base, p, (xb,))

        self.fwd = fwd
        self.batched_step = vmap(step_fn, in_dims=(0, 0, 0), randomness="error")
        self.stack = _Stack(models, kw)
        self.active = list(range(S))  # seed positions of the stack's rows
        self.hists = [History() for _ in range(S)]
        self.best: List[Optional[Dict[str, torch.Tensor]]] = [None] * S
        self.final: List[Optional[Dict[str, torch.Tensor]]] = [None] * S
        self.bad = [0] * S
        self.first_loss: List[Optional[float]] = [None] * S
        self.name = type(getattr(base, "model", base)).__name__ if classes is not None else type(base).__name__

    def _diverged(self, lv: List[float], epoch, dropped) -> None:
        """Drop (or raise for) rows whose batch loss ``lv[r]`` is not finite or exploded past
        :data:`~tntopo.nn.training.DIVERGENCE_FACTOR` times their first batch loss, as ``train`` does."""
        for r, k in enumerate(self.active):
            if self.first_loss[k] is None:
                self.first_loss[k] = lv[r]
            if r in dropped:
                continue
            if math.isfinite(lv[r]) and lv[r] <= DIVERGENCE_FACTOR * max(self.first_loss[k], 1.0):
                continue
            what = f"became {lv[r]}" if not math.isfinite(lv[r]) else (
                f"exploded to {lv[r]:.3g} (the first batch had {self.first_loss[k]:.3g})")
            lr = self.kw["lr"]
            msg = (f"seed {self.seeds[k]}: the training loss {what} at epoch {epoch} with lr={lr!r}; lower the "
                   f"learning rate (e.g. lr={min(lr / 100, 1e-3):g}) or clip the gradients (clip_grad)")
            if self.on_diverge == "raise":
                raise TrainingDivergedError(msg)
            self.final[k] = self.stack.seed_state(r)  # the weights it had: train raises before the step
            self.hists[k]["diverged"] = msg
            dropped.append(r)

    def epoch(self, epoch):
        """One epoch of stacked optimizer steps; per row ``(summed loss, hits)``, the sample count, and
        the rows that diverged."""
        kw, stack, device = self.kw, self.stack, self.device
        batch_size, clip_grad = kw["batch_size"], kw["clip_grad"]
        n = len(self.y_all)
        self.base.train()
        orders = torch.stack([torch.randperm(n, generator=_epoch_generator(self.seeds[k], epoch))
                              for k in self.active])
        A = len(self.active)
        tot, correct, count = [0.0] * A, [0] * A, 0
        dropped: List[int] = []  # rows that diverged in this epoch
        for i in range(0, n, batch_size):
            idx = orders[:, i:i + batch_size]
            xb, tb, yb = self.x_all[idx].to(device), self.t_all[idx].to(device), self.y_all[idx].to(device)
            for p in stack.params.values():
                p.grad = None
            losses, out = self.batched_step(stack.params, xb, tb)
            lv = losses.detach().tolist()  # one device sync per batch: the divergence check and the metrics
            self._diverged(lv, epoch, dropped)
            keep = torch.ones(A, dtype=torch.bool)
            if dropped:
                keep[dropped] = False
            (losses[keep.to(losses.device)].sum() if dropped else losses.sum()).backward()
            if clip_grad is not None:
                stack.clip_(clip_grad)
            stack.opt.step()
            with torch.no_grad():
                b = yb.shape[1]
                hits = (torch.round(self.obj.windings(out.detach()).double()) == torch.round(yb.double())).sum(1).tolist()
                for r in range(A):
                    tot[r] += lv[r] * b
                    correct[r] += int(hits[r])
                count += b
        return tot, correct, count, dropped

    def end_epoch(self, epoch, tot, correct, count, dropped, seconds) -> None:
        """Metrics, validation and early stopping per seed; rows that diverged or stopped leave the stack."""
        kw, stack, obj = self.kw, self.stack, self.obj
        if self.vds is not None:
            vout = _val_outputs(self.fwd, stack.params, self.base, self.xv, max(kw["batch_size"], 1024), self.device)
        stopped: List[int] = []
        for r, k in enumerate(self.active):
            if r in dropped:
                continue
            h = self.hists[k]
            h["epoch"].append(epoch)
            h["train_loss"].append(tot[r] / count)
            h["train_accuracy"].append(correct[r] / count)
            h["lr"].append(stack.opt.param_groups[0]["lr"])
            if self.vds is not None:
                o, yv = vout[r], self.yv
                pred = obj.windings(o)
                vloss = float(obj.loss(o, yv))
                h["val_loss"].append(vloss)
                h["val_accuracy"].append(float((torch.round(pred) == torch.round(yv.double())).double().mean()))
                h["val_mae"].append(float((pred - yv.double()).abs().mean()))
                if h["best_val_loss"] is None or vloss < h["best_val_loss"] - kw["min_delta"]:
                    h["best_val_loss"], h["best_epoch"] = vloss, epoch
                    self.best[k] = stack.seed_state(r)
                    self.bad[k] = 0
                else:
                    self.bad[k] += 1
            else:
                h["val_loss"].append(None)
                h["val_accuracy"].append(None)
                h["val_mae"].append(None)
            stop = kw["patience"] is not None and self.vds is not None and self.bad[k] >= kw["patience"]
            h["stopped_early"] = bool(stop)
            if stop:
                self.final[k] = stack.seed_state(r)
                stopped.append(r)
        for r, k in enumerate(self.active):
            if r not in dropped:
                self.hists[k]["seconds"].append(seconds)
        gone = set(dropped) | set(stopped)
        if gone:
            rows = [r for r in range(len(self.active)) if r not in gone]
            self.active = [self.active[r] for r in rows]
            if rows:
                stack.keep(rows)

    def finish(self) -> List[History]:
        """Write each seed's final (or best) weights into its model; the histories."""
        for r, k in enumerate(self.active):
            self.final[k] = self.stack.seed_state(r)
        for k, m in enumerate(self.models):
            state = self.final[k]
            if self.kw["restore_best"] and self.best[k] is not None and "diverged" not in self.hists[k]:
                state = self.best[k]
            if state is not None:
                with torch.no_grad():
                    for pname, p in m.named_parameters():
                        p.copy_(state[pname])
            m.trained_on = _trained_on(self.ds, self.loss, self.hists[k].completed_epochs)
            self.hists[k]["batched"], self.hists[k]["seed"] = True, self.seeds[k]
        return self.hists


def _val_outputs(fwd, params, base, xv, eval_bs, device) -> torch.Tensor:
    """Outputs ``(S, n, ...)`` (float64, CPU) of every stacked seed on the validation features, no grad.

    Chunked over samples as :func:`~tntopo.nn.evaluate` (``eval_bs``), and over seeds so that at
    most ``_EVAL_BUDGET`` samples are held at once.
    """
    from torch.func import vmap

    S = next(iter(params.values())).shape[0]
    per = max(1, _EVAL_BUDGET // eval_bs)
    outs = []
    with eval_mode(base), torch.no_grad():
        for i in range(0, len(xv), eval_bs):
            xb = xv[i:i + eval_bs].to(device)
            o = vmap(fwd, in_dims=(0, None), randomness="error", chunk_size=per if per < S else None)(params, xb)
            outs.append(o.detach().to("cpu", torch.float64))
    return torch.cat(outs, dim=1)
