"""Training and evaluation of winding-number regressors (TopoNet and the baselines).

Every model predicts a real number per chain; the loss is a regression loss against the target
(the integer winding class by default), and the accuracy counts ``round(prediction) == label``.

Training is deterministic on CPU for a fixed ``seed``: the shuffling of epoch ``e`` comes from
``SeedSequence(seed, spawn_key=(e,))`` (not from a running stream), and a checkpoint stores the
model, the optimizer, the global torch RNG state, the early-stopping state and the history, so
an interrupted run resumed from its checkpoint ends with bit-identical weights.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Union

import numpy as np
import torch
from torch import nn

__all__ = ["train", "evaluate", "History", "as_dataset", "predict"]

LOSSES = ("mse", "huber", "l1")
OPTIMIZERS = ("adam", "adamw", "sgd")


class History(dict):
    """Per-epoch metrics (lists keyed ``"epoch"``, ``"train_loss"``, ``"train_accuracy"``,
    ``"val_loss"``, ``"val_accuracy"``, ``"val_mae"``, ``"lr"``, ``"seconds"``) plus ``best_epoch``,
    ``best_val_loss``, ``stopped_early`` and ``completed_epochs``. A plain ``dict`` (pickles, JSON)."""

    KEYS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_mae", "lr", "seconds")

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
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
        from ..data.dataset import ArrayDataset

        return ArrayDataset(*(a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a)) for a in data))
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


def _loss_fn(name: str):
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {set(LOSSES)}")
    return {"mse": nn.functional.mse_loss, "huber": nn.functional.smooth_l1_loss, "l1": nn.functional.l1_loss}[name]


def _make_optimizer(name, params, lr, weight_decay):
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {set(OPTIMIZERS)}")
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)


def _device_of(model: nn.Module):
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _dtype_of(model: nn.Module):
    p = next(model.parameters(), None)
    return p.dtype if p is not None else torch.get_default_dtype()


def predict(model: nn.Module, data, batch_size: int = 1024, device=None, num_workers: int = 0):
    """Predictions and targets ``(pred (n,), target (n,))`` of ``model`` on ``data``, no grad."""
    ds = as_dataset(data)
    device = device or _device_of(model)
    preds, targets = [], []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for xb, yb in _batches(ds, torch.arange(len(ds)), batch_size, num_workers):
            preds.append(model(xb.to(device)).detach().to("cpu", torch.float64))
            targets.append(yb.to(torch.float64))
    model.train(was_training)
    return torch.cat(preds), torch.cat(targets)


def evaluate(model: nn.Module, data, batch_size: int = 1024, device=None, loss: str = "mse",
             num_workers: int = 0) -> Dict[str, float]:
    """Accuracy and regression errors of ``model`` on ``data``.

    Returns
    -------
    dict
        ``accuracy`` (fraction with ``round(pred) == round(target)``), ``loss`` (the chosen loss),
        ``mse``, ``mae``, ``max_error`` and ``n``.
    """
    pred, y = predict(model, data, batch_size, device, num_workers)
    err = pred - y
    return {
        "accuracy": float((torch.round(pred) == torch.round(y)).double().mean()),
        "loss": float(_loss_fn(loss)(pred, y)),
        "mse": float((err ** 2).mean()),
        "mae": float(err.abs().mean()),
        "max_error": float(err.abs().max()),
        "n": int(len(y)),
    }


def _save_checkpoint(path: Path, state: Dict[str, Any]) -> None:
    from .._io import atomic_path

    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _load_checkpoint(path: Path) -> Dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling/zip error means a bad file
        raise ValueError(
            f"checkpoint {str(path)!r} is corrupt or not a tntopo checkpoint ({type(exc).__name__}: {exc}); "
            "delete it to start training afresh"
        ) from None


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
    loss: str = "mse",
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
    """Train ``model`` to regress the targets of ``train_data``; returns a :class:`History`.

    Parameters
    ----------
    model : nn.Module
        Any model ``(B, 2N, 2N) -> (B,)`` (:class:`tntopo.nn.TopoNet`, baselines...). Trained in place.
    train_data, val_data : Dataset or (x, y) tuple
        ``(features, target)`` pairs (e.g. :class:`tntopo.data.TopoDataset`,
        :func:`tntopo.data.make_dataset`). ``val_data`` drives early stopping and ``restore_best``.
    epochs : int
        Total number of epochs (counting those already in a resumed checkpoint).
    batch_size, lr, weight_decay : training hyper-parameters.
    optimizer : {"adam", "adamw", "sgd"}
    loss : {"mse", "huber", "l1"}
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
        and history. If it exists and ``resume`` is true, training continues from it, and the
        result is bit-identical to an uninterrupted run.
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
    """
    from tqdm.auto import tqdm

    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not any(True for _ in model.parameters()):
        raise ValueError(f"{type(model).__name__} has no parameters to train")
    loss_fn = _loss_fn(loss)
    ds = as_dataset(train_data)
    vds = None if val_data is None else as_dataset(val_data)
    if len(ds) == 0:
        raise ValueError("train_data is empty")
    if device is not None:
        model.to(device)
    device = _device_of(model)
    opt = _make_optimizer(optimizer, model.parameters(), lr, weight_decay)
    config = {"seed": int(seed), "batch_size": batch_size, "lr": lr, "optimizer": optimizer, "loss": loss,
              "weight_decay": weight_decay, "n_train": len(ds), "model": type(model).__name__}

    history = History()
    best_state, bad_epochs, start = None, 0, 0
    torch.manual_seed(int(seed))
    ckpt_path = Path(checkpoint) if checkpoint is not None else None
    if ckpt_path is not None and ckpt_path.exists() and resume:
        st = _load_checkpoint(ckpt_path)
        old = st.get("config", {})
        diff = {k: (old.get(k), v) for k, v in config.items() if old.get(k) != v}
        if diff:
            raise ValueError(
                f"checkpoint {str(ckpt_path)!r} was written with other settings {diff} (saved, now); "
                "pass the same settings, another checkpoint path, or resume=False"
            )
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        torch.set_rng_state(st["rng"])
        history = History(st["history"])
        best_state, bad_epochs, start = st["best_state"], st["bad_epochs"], st["epoch"]
    if history["stopped_early"]:
        start = epochs

    bar = tqdm(range(start, epochs), desc=f"train {type(model).__name__}", disable=not progress,
               initial=start, total=epochs)
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(ds), generator=_epoch_generator(seed, epoch))
        tot, correct, n = 0.0, 0, 0
        for xb, yb in _batches(ds, order, batch_size, num_workers):
            xb = xb.to(device)
            yb = yb.to(device)
            opt.zero_grad(set_to_none=True)
            pred = model(xb)
            target = yb.to(pred.dtype)
            l = loss_fn(pred, target)
            if not torch.isfinite(l):
                raise FloatingPointError(
                    f"the training loss became {l.item()} at epoch {epoch}; lower lr or enable clip_grad"
                )
            l.backward()
            if clip_grad is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            opt.step()
            with torch.no_grad():
                tot += float(l) * len(yb)
                correct += int((torch.round(pred) == torch.round(target)).sum())
                n += len(yb)
        history["epoch"].append(epoch)
        history["train_loss"].append(tot / n)
        history["train_accuracy"].append(correct / n)
        history["lr"].append(opt.param_groups[0]["lr"])
        if vds is not None:
            m = evaluate(model, vds, batch_size=max(batch_size, 1024), device=device, loss=loss, num_workers=num_workers)
            history["val_loss"].append(m["loss"])
            history["val_accuracy"].append(m["accuracy"])
            history["val_mae"].append(m["mae"])
            best = history["best_val_loss"]
            if best is None or m["loss"] < best - min_delta:
                history["best_val_loss"], history["best_epoch"] = m["loss"], epoch
                best_state = copy.deepcopy(model.state_dict())
                bad_epochs = 0
            else:
                bad_epochs += 1
        else:
            history["val_loss"].append(None)
            history["val_accuracy"].append(None)
            history["val_mae"].append(None)
        history["seconds"].append(time.perf_counter() - t0)
        stop = patience is not None and vds is not None and bad_epochs >= patience
        history["stopped_early"] = bool(stop)
        if ckpt_path is not None:
            _save_checkpoint(ckpt_path, {
                "epoch": epoch + 1, "model": model.state_dict(), "optimizer": opt.state_dict(),
                "rng": torch.get_rng_state(), "history": dict(history), "best_state": best_state,
                "bad_epochs": bad_epochs, "config": config,
            })
        post = {"loss": f"{history['train_loss'][-1]:.4g}", "acc": f"{history['train_accuracy'][-1]:.3f}"}
        if vds is not None:
            post.update(val_loss=f"{history['val_loss'][-1]:.4g}", val_acc=f"{history['val_accuracy'][-1]:.3f}")
        bar.set_postfix(post)
        if callback is not None and callback(epoch, history):
            break
        if stop:
            break
    bar.close()
    if restore_best and best_state is not None:
        model.load_state_dict(best_state)
    return history
