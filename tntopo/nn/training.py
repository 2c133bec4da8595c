"""Training and evaluation of winding-number models: regression or classification.

One loop for every model of :mod:`tntopo.nn` (the command line and the study both use it):

* **regression** (``loss`` in ``{"mse", "huber", "l1"}``): the model outputs a real number per
  chain, the loss compares it with the target, and the accuracy counts
  ``round(prediction) == round(target)``;
* **classification** (``loss="cross_entropy"``): the model outputs logits over a fixed list of
  winding classes (build it with ``tntopo.nn.build_model(..., classes=(-2, ..., 2))``; see
  :mod:`tntopo.nn.registry`), the targets are integer windings, and :func:`predict` returns the
  winding of the argmax class.

Training is deterministic on CPU for a fixed ``seed``: the shuffling of epoch ``e`` comes from
``SeedSequence(seed, spawn_key=(e,))`` (not from a running stream), and a checkpoint stores the
model, the optimizer, the global torch RNG state, the early-stopping state and the history, so an
interrupted run resumed from its checkpoint ends with bit-identical weights. Checkpoints hold only
tensors and JSON (:mod:`tntopo.nn.serialization`): loading one runs no code.

After :func:`train` the model carries ``model.trained_on`` (features, target, chain length, loss,
number of samples, epochs), which :func:`tntopo.nn.save_model` stores with it.

Also here: :func:`select_lr` (the learning rate from a grid, on validation data, at equal budget),
:func:`n_parameters` and :func:`effective_parameters` (the Jacobian rank of the outputs with
respect to the parameters).
"""
from __future__ import annotations

import contextlib
import copy
import math
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Literal, Optional, Sequence, Tuple, Union, get_args

import numpy as np
import torch
from torch import nn

from .._typing import Metric, check_option, strict_keywords
from .functional import check_device  # noqa: F401 - re-exported (tntopo.nn.check_device)

__all__ = ["train", "evaluate", "predict", "History", "as_dataset", "select_lr", "n_parameters",
           "effective_parameters", "output_jacobian", "best_lr", "TrainingDivergedError", "Loss", "Optimizer", "LOSSES", "OPTIMIZERS",
           "check_device", "DIVERGENCE_FACTOR", "eval_mode"]

#: ``train(loss=...)``: regression losses and the classification loss.
Loss = Literal["mse", "huber", "l1", "cross_entropy"]
#: ``train(optimizer=...)``.
Optimizer = Literal["adam", "adamw", "sgd"]
LOSSES: Tuple[str, ...] = get_args(Loss)
OPTIMIZERS: Tuple[str, ...] = get_args(Optimizer)


class TrainingDivergedError(ValueError, FloatingPointError):
    """The training loss became NaN or infinite, or exploded (the learning rate is too large, or
    gradients explode)."""


#: :func:`train` stops with :class:`TrainingDivergedError` when a batch loss exceeds this many times
#: ``max(first batch loss, 1)`` of the run: a finite but exploding loss (``lr=1e4`` reaches 1e34)
#: is divergence too. Training only lowers the loss of a sane run, by orders of magnitude at most.
DIVERGENCE_FACTOR = 1e6


class History(dict):
    """Per-epoch metrics (lists keyed ``"epoch"``, ``"train_loss"``, ``"train_accuracy"``,
    ``"val_loss"``, ``"val_accuracy"``, ``"val_mae"``, ``"lr"``, ``"seconds"``) plus ``best_epoch``,
    ``best_val_loss``, ``stopped_early`` and ``completed_epochs``. A plain ``dict`` (JSON-able)."""

    KEYS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_mae", "lr", "seconds")

    #: the keys a History holds (keyword arguments may set these only)
    ALL_KEYS = KEYS + ("best_epoch", "best_val_loss", "stopped_early")

    def __init__(self, data=(), /, **kw):
        bad = sorted(kw.keys() - set(self.ALL_KEYS))
        if bad:
            raise TypeError(f"History() got unknown keyword argument{'s' if len(bad) > 1 else ''} "
                            f"{', '.join(map(repr, bad))}; valid keywords: {', '.join(self.ALL_KEYS)}")
        super().__init__(data, **kw)
        for k in self.KEYS:
            self.setdefault(k, [])
        self.setdefault("best_epoch", None)
        self.setdefault("best_val_loss", None)
        self.setdefault("stopped_early", False)

    @property
    def completed_epochs(self) -> int:
        return len(self["epoch"])

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        n = self.completed_epochs
        if not n:
            return "History(0 epochs)"
        last = f"train_loss={self['train_loss'][-1]:.4g}"
        if self["val_loss"] and self["val_loss"][-1] is not None:
            last += f", val_loss={self['val_loss'][-1]:.4g}, val_accuracy={self['val_accuracy'][-1]:.3f}"
        return f"History({n} epochs, {last}, best_epoch={self['best_epoch']})"


def as_dataset(data) -> torch.utils.data.Dataset:
    """Accept a torch ``Dataset`` of ``(features, target)`` pairs or an ``(x, y)`` tuple of arrays."""
    if isinstance(data, torch.utils.data.Dataset):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = (a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a)) for a in data)
        if len(x) != len(y):
            raise ValueError(f"features and targets differ in length ({len(x)} vs {len(y)})")
        return torch.utils.data.TensorDataset(x, y)  # .tensors: sliced directly by _batches
    raise ValueError(
        f"data must be a torch Dataset of (features, target) pairs or an (x, y) tuple, got {type(data).__name__}"
    )


def _batches(ds, order: torch.Tensor, batch_size: int, num_workers: int = 0):
    """Batches of ``ds`` in the given order; tensor-backed datasets are sliced directly (fast)."""
    tensors = getattr(ds, "tensors", None)
    if tensors is not None:
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            yield tuple(t[idx] for t in tensors[:2])
        return
    loader = torch.utils.data.DataLoader(
        ds, batch_size=batch_size, sampler=order.tolist(), num_workers=num_workers,
        persistent_workers=False,
    )
    for xb, yb in loader:
        yield xb, yb


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    ss = np.random.SeedSequence(int(seed), spawn_key=(int(epoch),))
    return torch.Generator().manual_seed(int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1)))


def _classes_of(model: nn.Module) -> Optional[Tuple[int, ...]]:
    c = getattr(model, "classes", None)
    return None if c is None else tuple(int(k) for k in c)


def _check_loss(loss: str, classes) -> None:
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(map(repr, LOSSES))}")
    if loss == "cross_entropy" and classes is None:
        raise ValueError("loss='cross_entropy' needs a classifier; build the model with "
                         "tntopo.nn.build_model(..., classes=(-1, 0, 1, 2)) or use a regression loss such as loss='mse'")
    if loss != "cross_entropy" and classes is not None:
        raise ValueError(f"the model is a classifier over classes {classes}; train it with loss='cross_entropy'")


class _Objective:
    """The loss and the accuracy of one kind of model (regressor or classifier)."""

    def __init__(self, loss: str, classes: Optional[Tuple[int, ...]]):
        _check_loss(loss, classes)
        self.name, self.classes = loss, classes
        if classes is not None:
            self._k = torch.tensor(classes, dtype=torch.float64)

    def class_index(self, target: torch.Tensor) -> torch.Tensor:
        t = torch.round(target.to(torch.float64))
        hit = t[:, None] == self._k[None, :]
        if not bool(hit.any(1).all()):
            bad = sorted({int(v) for v in t[~hit.any(1)].tolist()})
            raise ValueError(f"target winding(s) {bad} are not among the model's classes {self.classes}; "
                             "build the model with classes that cover every label")
        return hit.to(torch.int64).argmax(1)

    def loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.classes is not None:
            return nn.functional.cross_entropy(out, self.class_index(target))
        target = target.to(out.dtype)
        return {"mse": nn.functional.mse_loss, "huber": nn.functional.smooth_l1_loss,
                "l1": nn.functional.l1_loss}[self.name](out, target)

    def windings(self, out: torch.Tensor) -> torch.Tensor:
        """Predicted winding values ``(B,)``: the output itself or the argmax class."""
        if self.classes is None:
            return out
        return self._k.to(out.device)[out.argmax(-1)].to(torch.float64)

    def correct(self, out: torch.Tensor, target: torch.Tensor) -> int:
        return int((torch.round(self.windings(out).double()) == torch.round(target.double())).sum())


def _make_optimizer(name, params, lr, weight_decay):
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(map(repr, OPTIMIZERS))}")
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)


def _pick_device(device, model: nn.Module):
    """``device=`` checked (:func:`tntopo.nn.functional.resolve_device`), else the model's own."""
    from .functional import resolve_device

    dev = resolve_device(device)
    return dev if dev is not None else _device_of(model)


def _device_of(model: nn.Module):
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode inside the block; its training flag is restored on leaving it (errors too).

    The one way tntopo evaluates a model (with ``torch.no_grad()`` where no gradient is needed).
    """
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def _outputs(model: nn.Module, ds, batch_size: int, device, num_workers: int):
    outs, targets = [], []
    with eval_mode(model), torch.no_grad():
        for xb, yb in _batches(ds, torch.arange(len(ds)), batch_size, num_workers):
            outs.append(model(xb.to(device)).detach().to("cpu", torch.float64))
            targets.append(yb.to(torch.float64))
    return torch.cat(outs), torch.cat(targets)


@strict_keywords
def predict(model: nn.Module, data, batch_size: int = 1024, device=None, num_workers: int = 0):
    """Predicted windings and targets ``(pred (n,), target (n,))`` of ``model`` on ``data``, no grad.

    ``pred`` is the model's real output for a regressor and the winding of the argmax class for a
    classifier (a model with ``classes``), as float64.
    """
    ds = as_dataset(data)
    out, y = _outputs(model, ds, batch_size, _pick_device(device, model), num_workers)
    classes = _classes_of(model)
    if classes is None:
        return out, y
    return torch.tensor(classes, dtype=torch.float64)[out.argmax(-1)], y


@strict_keywords
def evaluate(model: nn.Module, data, batch_size: int = 1024, device=None, loss: Optional[str] = None,
             num_workers: int = 0) -> Dict[str, float]:
    """Accuracy and errors of ``model`` on ``data``.

    Parameters
    ----------
    loss : str, optional
        The loss to report (default: ``"mse"`` for regressors, ``"cross_entropy"`` for classifiers).

    Returns
    -------
    dict
        ``accuracy`` (fraction with ``round(predicted winding) == round(target)``), ``loss``,
        ``mse``, ``mae`` and ``max_error`` of the predicted windings (:func:`predict`), and ``n``.
    """
    ds = as_dataset(data)
    classes = _classes_of(model)
    obj = _Objective(loss or ("mse" if classes is None else "cross_entropy"), classes)
    out, y = _outputs(model, ds, batch_size, _pick_device(device, model), num_workers)
    pred = obj.windings(out)
    err = pred - y
    return {
        "accuracy": float((torch.round(pred) == torch.round(y)).double().mean()),
        "loss": float(obj.loss(out, y)),
        "mse": float((err ** 2).mean()),
        "mae": float(err.abs().mean()),
        "max_error": float(err.abs().max()),
        "n": int(len(y)),
    }


def _n_cells_of(ds) -> Optional[int]:
    n = getattr(ds, "n_cells", None)
    if n is not None:
        return n if isinstance(n, int) else list(n)
    x = getattr(ds, "tensors", (None,))[0]
    if x is not None and x.ndim == 3 and x.shape[-1] == x.shape[-2] and x.shape[-1] % 2 == 0:
        return int(x.shape[-1] // 2)
    return None


@strict_keywords
def train(
    model: nn.Module,
    train_data,
    val_data=None,
    *,
    epochs: int = 100,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    optimizer: str = "adam",
    loss: Optional[str] = None,
    seed: int = 0,
    patience: Optional[int] = None,
    min_delta: float = 0.0,
    restore_best: bool = True,
    clip_grad: Optional[float] = None,
    checkpoint: Optional[Union[str, Path]] = None,
    resume: bool = True,
    callback: Optional[Callable[[int, History], Any]] = None,
    progress: bool = True,
    device=None,
    num_workers: int = 0,
) -> History:
    """Train ``model`` on the targets of ``train_data``; returns a :class:`History`.

    Parameters
    ----------
    model : nn.Module
        Any model ``(B, 2N, 2N) -> (B,)`` (regression) or ``-> (B, K)`` logits with a ``classes``
        attribute (classification; :func:`tntopo.nn.build_model` with ``classes=``). Trained in place.
    train_data, val_data : Dataset or (x, y) tuple
        ``(features, target)`` pairs (e.g. :class:`tntopo.data.TopoDataset`,
        :func:`tntopo.data.make_dataset`). ``val_data`` drives early stopping and ``restore_best``.
    epochs : int
        Total number of epochs (counting those already in a resumed checkpoint).
    batch_size, lr, weight_decay : training hyper-parameters.
    optimizer : {"adam", "adamw", "sgd"}
    loss : {"mse", "huber", "l1", "cross_entropy"}, optional
        Default: ``"mse"`` for a regressor, ``"cross_entropy"`` for a classifier.
    seed : int
        Seeds the global torch RNG at the start and the shuffling of every epoch.
    patience : int, optional
        Stop after this many epochs without a validation-loss improvement of ``min_delta``.
    restore_best : bool
        At the end, load the weights of the epoch with the lowest validation loss.
    clip_grad : float, optional
        Clip the gradient norm.
    checkpoint : path, optional
        Saved (atomically) after every epoch: model, optimizer, RNG state, early-stopping state
        and history (tensors and JSON only). If it exists and ``resume`` is true, training
        continues from it, and the result is bit-identical to an uninterrupted run.
    resume : bool
        Continue from an existing ``checkpoint`` (otherwise it is overwritten).
    callback : callable(epoch, history), optional
        Called after every epoch (after the checkpoint is written); return ``True`` to stop.
    progress : bool
        A tqdm bar over epochs with the current metrics.
    device : torch device, optional
        Move the model there (default: where its parameters are).
    num_workers : int
        DataLoader workers for datasets read from disk.

    Returns
    -------
    History

    Raises
    ------
    TrainingDivergedError
        The loss became NaN or infinite, or exploded (above :data:`DIVERGENCE_FACTOR` times that
        of the first batch): lower ``lr`` or set ``clip_grad``.
    ValueError
        ``device`` is malformed or not available (e.g. ``"cuda"`` with a CPU-only torch).
    """
    from tqdm.auto import tqdm

    _check_train_settings(model, epochs, batch_size, lr)
    obj, ds, vds, device, opt, config = _setup_run(model, train_data, val_data, loss=loss, device=device,
                                                   optimizer=optimizer, lr=lr, weight_decay=weight_decay,
                                                   seed=seed, batch_size=batch_size)
    loss = obj.name
    torch.manual_seed(int(seed))
    ckpt_path = Path(checkpoint) if checkpoint is not None else None
    state = _TrainState.resume_or_new(ckpt_path if resume else None, config, model, opt)
    start = epochs if state.history["stopped_early"] else state.start
    history = state.history

    bar = tqdm(range(start, epochs), desc=f"train {type(model).__name__}", disable=not progress,
               initial=start, total=epochs)
    for epoch in bar:
        try:
            stop = _fit_epoch(model, ds, vds, opt, obj, state, epoch, seed=seed, lr=lr, batch_size=batch_size,
                              num_workers=num_workers, device=device, clip_grad=clip_grad, min_delta=min_delta,
                              patience=patience)
        except TrainingDivergedError:
            bar.close()
            raise
        if ckpt_path is not None:
            _save_epoch(ckpt_path, model, opt, state, config, ds, epoch)
        bar.set_postfix(_progress_line(history, vds is not None))
        if callback is not None and callback(epoch, history):
            break
        if stop:
            break
    bar.close()
    if restore_best and state.best_state is not None:
        model.load_state_dict(state.best_state)
    model.trained_on = _trained_on(ds, loss, history.completed_epochs)
    return history


def _setup_run(model: nn.Module, train_data, val_data, *, loss, device, optimizer, lr, weight_decay, seed,
               batch_size):
    """What a :func:`train` run needs, checked before any work: ``(objective, training dataset, validation
    dataset or None, device, optimizer, config)``; ``config`` holds the settings a checkpoint must match.
    The model is moved to ``device`` if one is given."""
    classes = _classes_of(model)
    loss = loss or ("mse" if classes is None else "cross_entropy")
    obj = _Objective(loss, classes)
    ds = as_dataset(train_data)
    vds = None if val_data is None else as_dataset(val_data)
    if len(ds) == 0:
        raise ValueError("train_data is empty")
    if device is not None:
        model.to(check_device(device))
    device = _device_of(model)
    opt = _make_optimizer(optimizer, model.parameters(), lr, weight_decay)
    config = {"seed": int(seed), "batch_size": batch_size, "lr": lr, "optimizer": optimizer, "loss": loss,
              "weight_decay": weight_decay, "n_train": len(ds), "model": type(model).__name__,
              "classes": None if classes is None else list(classes)}
    return obj, ds, vds, device, opt, config


def _check_train_settings(model: nn.Module, epochs, batch_size, lr) -> None:
    """``ValueError`` for settings :func:`train` cannot run with (before any work)."""
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if not any(True for _ in model.parameters()):
        raise ValueError(f"{type(model).__name__} has no parameters to train")


class _TrainState:
    """What :func:`train` carries from epoch to epoch (and through a checkpoint): the history,
    the best weights so far, the epochs without improvement, the loss of the first batch."""

    def __init__(self, history: History, best_state=None, bad_epochs: int = 0, start: int = 0) -> None:
        self.history, self.best_state, self.bad_epochs, self.start = history, best_state, bad_epochs, start
        self.first_loss: Optional[float] = None

    @classmethod
    def resume_or_new(cls, ckpt_path: Optional[Path], config: Dict[str, Any], model: nn.Module, opt) -> "_TrainState":
        """A fresh state, or the one saved in ``ckpt_path`` (if it exists; its settings must be ``config``),
        loading the model, optimizer and torch RNG state saved with it."""
        from .serialization import load_checkpoint

        if ckpt_path is None or not ckpt_path.exists():
            return cls(History())
        try:
            st = load_checkpoint(ckpt_path)
        except ValueError as exc:
            raise type(exc)(f"{exc}; delete it to start training afresh") from None
        meta = st["meta"]
        old = meta.get("config", {})
        diff = {k: (old.get(k), v) for k, v in config.items() if old.get(k) != v}
        if diff:
            raise ValueError(
                f"checkpoint {str(ckpt_path)!r} was written with other settings {diff} (saved, now); "
                "pass the same settings, another checkpoint path, or resume=False"
            )
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        torch.set_rng_state(st["rng"])
        return cls(History(meta["history"]), st["best_state"], meta["bad_epochs"], meta["epoch"])

    def record_validation(self, model: nn.Module, metrics: Dict[str, float], epoch: int, min_delta: float) -> None:
        """Append the validation metrics; keep the weights if the loss improved by more than ``min_delta``."""
        h = self.history
        h["val_loss"].append(metrics["loss"])
        h["val_accuracy"].append(metrics["accuracy"])
        h["val_mae"].append(metrics["mae"])
        best = h["best_val_loss"]
        if best is None or metrics["loss"] < best - min_delta:
            h["best_val_loss"], h["best_epoch"] = metrics["loss"], epoch
            self.best_state = copy.deepcopy(model.state_dict())
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1


def _train_epoch(model: nn.Module, ds, opt, obj: "_Objective", state: _TrainState, epoch: int, *, seed: int,
                 lr: float, batch_size: int, num_workers: int, device, clip_grad: Optional[float]) -> Tuple[float, float]:
    """One epoch of optimizer steps over ``ds`` (shuffled by ``(seed, epoch)``); ``(mean loss, accuracy)``.

    Raises :class:`TrainingDivergedError` when a batch loss is not finite or exceeds
    :data:`DIVERGENCE_FACTOR` times that of the first batch of the run.
    """
    model.train()
    order = torch.randperm(len(ds), generator=_epoch_generator(seed, epoch))
    tot, correct, n = 0.0, 0, 0
    for xb, yb in _batches(ds, order, batch_size, num_workers):
        xb = xb.to(device)
        yb = yb.to(device)
        opt.zero_grad(set_to_none=True)
        out = model(xb)
        l = obj.loss(out, yb)
        lv = l.detach().item()
        if state.first_loss is None:
            state.first_loss = lv
        if not math.isfinite(lv) or lv > DIVERGENCE_FACTOR * max(state.first_loss, 1.0):
            what = f"became {lv}" if not math.isfinite(lv) else (
                f"exploded to {lv:.3g} (the first batch had {state.first_loss:.3g})")
            raise TrainingDivergedError(
                f"the training loss {what} at epoch {epoch} with lr={lr!r}; lower the learning rate "
                f"(e.g. lr={min(lr / 100, 1e-3):g}) or clip the gradients (clip_grad)"
            )
        l.backward()
        if clip_grad is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
        opt.step()
        with torch.no_grad():
            tot += float(l) * len(yb)
            correct += obj.correct(out, yb)
            n += len(yb)
    return tot / n, correct / n


def _fit_epoch(model: nn.Module, ds, vds, opt, obj: "_Objective", state: _TrainState, epoch: int, *, seed: int,
               lr: float, batch_size: int, num_workers: int, device, clip_grad: Optional[float], min_delta: float,
               patience: Optional[int]) -> bool:
    """One epoch of :func:`train` recorded in ``state.history``: training and validation metrics, learning
    rate, wall time, early stopping. ``True`` when early stopping ends the run after this epoch."""
    history = state.history
    t0 = time.perf_counter()
    train_loss, train_acc = _train_epoch(model, ds, opt, obj, state, epoch, seed=seed, lr=lr, batch_size=batch_size,
                                         num_workers=num_workers, device=device, clip_grad=clip_grad)
    history["epoch"].append(epoch)
    history["train_loss"].append(train_loss)
    history["train_accuracy"].append(train_acc)
    history["lr"].append(opt.param_groups[0]["lr"])
    if vds is not None:
        m = evaluate(model, vds, batch_size=max(batch_size, 1024), device=device, loss=obj.name,
                     num_workers=num_workers)
        state.record_validation(model, m, epoch, min_delta)
    else:
        for key in ("val_loss", "val_accuracy", "val_mae"):
            history[key].append(None)
    history["seconds"].append(time.perf_counter() - t0)
    stop = patience is not None and vds is not None and state.bad_epochs >= patience
    history["stopped_early"] = bool(stop)
    return stop


def _save_epoch(path: Path, model: nn.Module, opt, state: _TrainState, config: Dict[str, Any], ds, epoch: int) -> None:
    """The checkpoint after ``epoch`` (atomic): model, optimizer, torch RNG state, best weights, early-stopping
    state, history, the run's settings ``config`` and what the model is trained on."""
    from .serialization import save_checkpoint

    save_checkpoint(path, model=model, optimizer=opt, rng=torch.get_rng_state(), best_state=state.best_state,
                    meta={"epoch": epoch + 1, "bad_epochs": state.bad_epochs, "history": dict(state.history),
                          "config": config, "trained_on": _trained_on(ds, config["loss"], epoch + 1)})


def _progress_line(history: History, validated: bool) -> Dict[str, str]:
    """The progress bar's postfix: the last epoch's training (and validation) loss and accuracy."""
    post = {"loss": f"{history['train_loss'][-1]:.4g}", "acc": f"{history['train_accuracy'][-1]:.3f}"}
    if validated:
        post.update(val_loss=f"{history['val_loss'][-1]:.4g}", val_acc=f"{history['val_accuracy'][-1]:.3f}")
    return post


def _trained_on(ds, loss: str, epochs: int) -> Dict[str, Any]:
    """What a model was trained on (stored in model files; checked by ``tntopo evaluate``)."""
    return {"features": getattr(ds, "features", None), "target": getattr(ds, "target", None),
            "n_cells": _n_cells_of(ds), "loss": loss, "n_train": len(ds), "epochs": int(epochs)}


# ----------------------------------------------------------------------------- model selection
def select_lr(build: Callable[[], nn.Module], train_data, val_data, grid: Sequence[float] = (1e-3, 3e-3, 1e-2), *,
              epochs: int, seed: int = 0, metric: str = "accuracy", **train_kwargs) -> Tuple[float, Dict[float, Dict[str, Any]]]:
    """Pick the learning rate of a model from ``grid`` on validation data, at an equal training budget.

    Every learning rate trains a fresh ``build()`` for the same ``epochs`` (the same number of
    optimizer steps: same data, same ``batch_size``) with the same ``seed``; the best one has the
    highest validation accuracy (``metric="accuracy"``; ties: the lower validation loss) or the
    lowest validation loss (``metric="loss"``). A learning rate whose training diverges scores
    ``accuracy=0`` and ``loss=inf``.

    Parameters
    ----------
    build : callable
        ``build() -> nn.Module``, a fresh model each call (e.g. ``lambda: build_model("mlp", 20, seed=0)``).
    train_data, val_data
        As in :func:`train`.
    grid : sequence of float
        Learning rates to try (positive, finite).
    epochs : int
    seed : int
        Training seed of every run.
    metric : {"accuracy", "loss"}
    **train_kwargs
        Other :func:`train` arguments (``batch_size``, ``loss``, ``patience``...); ``progress``
        defaults to ``False``.

    Returns
    -------
    (float, dict)
        The best learning rate and ``{lr: {"accuracy", "loss", "diverged", "epochs"}}`` per grid point.
    """
    check_option("metric", metric, Metric)
    grid = [float(g) for g in grid]
    if not grid or any(not (math.isfinite(g) and g > 0) for g in grid):
        raise ValueError(f"grid must be a non-empty sequence of positive learning rates, got {grid!r}")
    for k in ("lr", "checkpoint", "callback"):
        if k in train_kwargs:
            raise TypeError(f"select_lr() got {k!r}: it is set per run; remove it")
    train_kwargs.setdefault("progress", False)
    scores: Dict[float, Dict[str, Any]] = {}
    for lr in grid:
        model = build()
        try:
            hist = train(model, train_data, val_data, epochs=epochs, lr=lr, seed=seed, **train_kwargs)
        except TrainingDivergedError:
            scores[lr] = {"accuracy": 0.0, "loss": float("inf"), "diverged": True, "epochs": None}
            continue
        m = evaluate(model, val_data)
        diverged = not math.isfinite(m["loss"])
        scores[lr] = {"accuracy": m["accuracy"], "loss": m["loss"] if not diverged else float("inf"),
                      "diverged": diverged, "epochs": hist.completed_epochs}
    return best_lr(scores, metric), scores


def best_lr(scores: Dict[float, Dict[str, Any]], metric: str = "accuracy") -> float:
    """The selection rule of :func:`select_lr` on ``{lr: {"accuracy", "loss"}}`` validation scores.

    ``metric="accuracy"``: the highest validation accuracy, ties broken by the lower loss (then the
    smaller rate); ``metric="loss"``: the lowest loss, ties broken by the higher accuracy. Shared by
    the study, which runs the grid in parallel.
    """
    check_option("metric", metric, Metric)
    if not scores:
        raise ValueError("no learning rate was scored")

    def loss(g):
        v = scores[g]["loss"]
        return float("inf") if v is None or not math.isfinite(v) else float(v)

    if metric == "accuracy":
        return min(scores, key=lambda g: (-scores[g]["accuracy"], loss(g), g))
    return min(scores, key=lambda g: (loss(g), -scores[g]["accuracy"], g))


@strict_keywords
def n_parameters(model: nn.Module) -> int:
    """Number of trainable scalars of ``model`` (the raw parameter count)."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def output_jacobian(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Jacobian ``J[i, p] = d out_i / d theta_p`` of every output on the batch ``x`` (float64 tensor).

    Outputs are flattened sample by sample (``B`` values of a regressor, ``B K`` logits of a
    classifier); parameters are the trainable ones in ``model.named_parameters()`` order, flattened.
    The model must act on each sample independently (tntopo's models do). Per-sample Jacobians are
    vectorized with ``torch.func`` (``vmap`` of ``jacrev`` over the samples: memory of one sample's
    activations per output, not of the batch's), in eval mode; models whose operations have no
    batching rule fall back to a loop over samples.
    """
    from torch.func import functional_call, jacrev, vmap

    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        return torch.zeros((0, 0), dtype=torch.float64)
    names = [n for n, _ in named]
    params = {n: p.detach() for n, p in named}
    x = torch.as_tensor(x)

    def f(par, xi):
        return functional_call(model, par, (xi.unsqueeze(0),)).reshape(-1)

    def stack(jac, B):
        return torch.cat([jac[n].reshape(B, -1, params[n].numel()) for n in names], dim=2).reshape(-1, sum(
            params[n].numel() for n in names))

    with eval_mode(model):
        try:
            J = stack(vmap(jacrev(f), in_dims=(None, 0))(params, x), len(x))
        except (RuntimeError, NotImplementedError, ValueError):  # pragma: no cover - ops without batching rules
            J = torch.cat([stack({n: v.unsqueeze(0) for n, v in jacrev(f)(params, xi).items()}, 1) for xi in x])
    return J.detach().to(torch.float64)


@strict_keywords
def effective_parameters(model: nn.Module, x: torch.Tensor, rtol: Optional[float] = None) -> int:
    """Effective number of parameters: the rank of the Jacobian of the outputs w.r.t. the parameters.

    The Jacobian ``J[i, p] = d out_i / d theta_p`` over every output of the batch ``x`` (``B``
    values for a regressor, ``B K`` logits for a classifier) counts the directions of parameter
    space that change the model's function on these inputs: parametrization redundancies
    (symmetries, dead weights) and directions the data do not see are not counted, so it is at
    most ``min(n_parameters(model), number of outputs)``; use a batch with more outputs than
    parameters to measure the model rather than the batch.

    Parameters
    ----------
    model : nn.Module
    x : torch.Tensor
        A batch of inputs.
    rtol : float, optional
        Singular values below ``rtol * s_max`` count as zero (default: ``max(J.shape) * eps`` of
        the parameters' dtype, as ``numpy.linalg.matrix_rank``).

    Returns
    -------
    int
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        return 0
    J = output_jacobian(model, x)
    s = torch.linalg.svdvals(J)
    if s.numel() == 0 or float(s[0]) == 0.0:
        return 0
    if rtol is None:
        rtol = max(J.shape) * torch.finfo(params[0].dtype).eps
    return int((s > rtol * s[0]).sum())
