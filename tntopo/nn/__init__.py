"""Neural networks for topology: the differentiable invariant, TopoNet and baselines.

Every model maps real features ``(B, 2N, 2N)`` (see :mod:`tntopo.data`) to ``(B,)`` predicted
winding numbers, and takes ``n_cells`` and ``seed`` in its constructor.
"""
from . import functional
from .baselines import CNN, MLP, ShallowNet, SymmetricNet
from .pruning import prune_svd, singular_values
from .toponet import TopoNet

__all__ = ["functional", "TopoNet", "MLP", "ShallowNet", "CNN", "SymmetricNet", "prune_svd", "singular_values",
           "MODELS", "build_model", "save_model", "load_model"]

#: Model classes by name (for configs and the command line).
MODELS = {"toponet": TopoNet, "mlp": MLP, "shallow": ShallowNet, "cnn": CNN, "symmetric": SymmetricNet}


def build_model(name: str, n_cells: int, seed: int = 0, **kwargs):
    """``MODELS[name](n_cells, seed=seed, **kwargs)`` with a clear error for unknown names.

    The arguments are kept on the model (``model.build_config``) so that
    :func:`save_model`/:func:`load_model` can rebuild it.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {set(MODELS)}")
    model = MODELS[name](n_cells, seed=seed, **kwargs)
    model.build_config = {"name": name, "n_cells": int(n_cells), "seed": int(seed), "kwargs": dict(kwargs)}
    return model


def save_model(path, model) -> None:
    """Save a model made by :func:`build_model` (its arguments and weights), atomically."""
    import torch

    from .._io import atomic_path

    cfg = getattr(model, "build_config", None)
    if cfg is None:
        raise ValueError(f"{type(model).__name__} was not made by tntopo.nn.build_model; save its state_dict yourself")
    with atomic_path(path) as tmp:
        torch.save({"config": cfg, "state_dict": model.state_dict()}, tmp)


def load_model(path):
    """Rebuild a model saved by :func:`save_model`."""
    import torch

    try:
        st = torch.load(path, map_location="cpu", weights_only=False)
        cfg = st["config"]
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"{str(path)!r} is not a model saved by tntopo.nn.save_model ({type(exc).__name__}: {exc})") from None
    model = build_model(cfg["name"], cfg["n_cells"], cfg["seed"], **cfg["kwargs"])
    model.load_state_dict(st["state_dict"])
    return model
