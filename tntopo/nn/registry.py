"""One registry of every model of tntopo: build any model by name, as a regressor or a classifier.

>>> from tntopo.nn import build_model, model_names, MODELS
>>> sorted(MODELS)                                       # doctest: +NORMALIZE_WHITESPACE
['cnn', 'cnn2d', 'kcnn', 'mlp', 'mlp2d', 'shallow', 'symmetric', 'toponet', 'toponet2d', 'toponet2d_exact',
 'toponet2d_layout', 'toponet2d_layout_exact', 'toponet2d_ti', 'toponet2d_ti_plain', 'toponet_commutator',
 'toponet_exact', 'toponet_odd']
>>> model_names(dim=2)                                   # doctest: +NORMALIZE_WHITESPACE
('cnn2d', 'kcnn', 'mlp2d', 'toponet2d', 'toponet2d_exact', 'toponet2d_layout', 'toponet2d_layout_exact',
 'toponet2d_ti', 'toponet2d_ti_plain')
>>> net = build_model("toponet_odd", 20, seed=3, kernel="translation_invariant")
>>> clf = build_model("mlp", 20, seed=0, classes=(-1, 0, 1, 2))     # logits over 4 winding classes

Every entry is a :class:`ModelEntry`: a factory ``factory(n_cells, seed=seed, **kwargs)`` returning
a ``torch.nn.Module`` that maps features ``(B, 2N, 2N)`` to ``(B,)`` real winding values, a one-line
description and the kind of output it has (``"winding"``: the value is itself a winding number,
as for the TopoNet family; ``"readout"``: a learned linear read-out, as for the baselines).
Anyone can add an entry with :func:`register_model` (e.g. a 2D model whose ``n_cells`` is a
lattice shape ``(Lx, Ly)``); :func:`build_model`, :func:`tntopo.nn.save_model` /
:func:`~tntopo.nn.load_model`, :mod:`tntopo.nn.training`, the ``tntopo train``/``evaluate``
commands and the study then know it.

**Classification heads.** ``build_model(name, ..., classes=(-2, -1, 0, 1, 2))`` returns a model whose output is
``(B, len(classes))`` logits over those winding classes (train it with ``loss="cross_entropy"``;
:func:`tntopo.nn.training.predict` returns the winding of the argmax class):

* ``"readout"`` models get their last ``Linear(..., 1)`` layer replaced by ``Linear(..., K)``
  (initialized from ``seed``, like the rest of the model);
* ``"winding"`` models (TopoNet-like, the output is a real winding value ``w``) keep their
  network and get logits from the fixed map ``logit_k = -(w - k)^2 / T`` (:class:`WindingClassifier`,
  temperature ``T = 0.1`` by default): the most likely class is the integer nearest to ``w``
  (within ``classes``), so an exact TopoNet is an exact classifier.
"""
from __future__ import annotations

import inspect
import math
import types
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Literal, Mapping, Optional, Sequence, Tuple, get_args

import torch
from torch import nn

from .._typing import strict_keywords
from .baselines import CNN, MLP, ShallowNet, SymmetricNet
from .toponet import CommutatorTopoNet, OddTopoNet, TopoNet
from .toponet2d import TopoNet2D

__all__ = ["ModelEntry", "MODELS", "register_model", "build_model", "model_names", "WindingClassifier",
           "as_classifier", "accepts_size", "Output", "DEFAULT_TEMPERATURE"]

#: Kind of output of a registered model (see the module docstring).
Output = Literal["winding", "readout"]
#: Temperature ``T`` of the logits ``-(w - k)^2 / T`` of a ``"winding"`` model built as a classifier.
DEFAULT_TEMPERATURE = 0.1


@strict_keywords
@dataclass(frozen=True)
class ModelEntry:
    """One registered model.

    Attributes
    ----------
    name : str
        Registry key (``"toponet"``, ``"mlp"``...).
    factory : callable
        ``factory(n_cells, seed=seed, **kwargs) -> nn.Module``.
    description : str
        One line for tables and ``--help``.
    output : {"winding", "readout"}
        How a classification head is attached (see the module docstring).
    exact : bool
        The model computes the invariant without training (scoring it untrained is meaningful).
    defaults : mapping
        Keyword arguments the registry passes unless overridden (e.g. ``init="random"``).
    dim : {1, 2}
        Spatial dimension of the systems the model takes: 1 (chains, size ``n_cells``, features
        ``(B, 2N, 2N)``) or 2 (lattices, size ``(Lx, Ly)``, Hamiltonians ``(B, n, n)``).
    """

    name: str
    factory: Callable[..., nn.Module]
    description: str = ""
    output: Output = "readout"
    exact: bool = False
    defaults: Mapping[str, Any] = field(default_factory=dict)
    dim: int = 1

    def keywords(self) -> Tuple[str, ...]:
        """Keyword arguments the factory accepts (besides its first argument, the size, and ``seed``)."""
        target = self.factory.__init__ if inspect.isclass(self.factory) else self.factory
        try:
            params = inspect.signature(target).parameters
        except (TypeError, ValueError):  # pragma: no cover - builtins
            return ()
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return ("**",)
        names = [n for n, p in params.items() if n != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        return tuple(n for n in names[1:] if n != "seed")  # names[0]: the size argument (n_cells)


_REGISTRY: Dict[str, ModelEntry] = {}
#: Every registered model by name: a read-only live view of the registry (``name -> ModelEntry``).
MODELS: Mapping[str, ModelEntry] = types.MappingProxyType(_REGISTRY)


@strict_keywords
def register_model(name: str, factory: Callable[..., nn.Module], *, description: str = "",
                   output: Output = "readout", exact: bool = False, defaults: Optional[Mapping[str, Any]] = None,
                   dim: int = 1, replace: bool = False) -> ModelEntry:
    """Add a model to the registry (see the module docstring); returns its :class:`ModelEntry`.

    Parameters
    ----------
    name : str
        A new registry key (letters, digits, ``_``).
    factory : callable
        ``factory(n_cells, seed=seed, **kwargs)`` returning a ``torch.nn.Module``; a class works.
    description : str
    output : {"winding", "readout"}
    exact : bool
    defaults : mapping, optional
        Keyword arguments passed unless the caller overrides them.
    dim : {1, 2}
        Spatial dimension of the systems the model takes (see :class:`ModelEntry`).
    replace : bool
        Allow replacing an existing entry of the same name (otherwise that is an error).
    """
    if not isinstance(name, str) or not name.replace("_", "").isalnum():
        raise ValueError(f"model name must be letters, digits and '_', got {name!r}")
    if name in _REGISTRY and not replace:
        raise ValueError(f"model {name!r} is already registered; pick another name or pass replace=True")
    if output not in get_args(Output):
        raise ValueError(f"unknown output {output!r}; choose one of {', '.join(map(repr, get_args(Output)))}")
    if not callable(factory):
        raise ValueError(f"factory of {name!r} must be callable, got {type(factory).__name__}")
    if dim not in (1, 2):
        raise ValueError(f"dim must be 1 (chains) or 2 (lattices), got {dim!r}")
    entry = ModelEntry(name, factory, description, output, bool(exact), types.MappingProxyType(dict(defaults or {})),
                       int(dim))
    _REGISTRY[name] = entry
    return entry


@strict_keywords
def model_names(dim: Optional[int] = 1) -> Tuple[str, ...]:
    """Registered model names of systems of dimension ``dim`` (``None``: all), sorted (for ``choices`` of the CLI)."""
    return tuple(sorted(n for n, e in _REGISTRY.items() if dim is None or e.dim == dim))


@strict_keywords
class WindingClassifier(nn.Module):
    """Logits over winding classes from a model that outputs a real winding ``w``: ``-(w - k)^2 / T``.

    Parameters
    ----------
    model : nn.Module
        ``(B, ...) -> (B,)`` real winding values (e.g. a :class:`~tntopo.nn.TopoNet`).
    classes : sequence of int
        The winding classes ``k`` (at least two, distinct).
    temperature : float
        ``T > 0``; smaller is sharper. The argmax is the class nearest to ``w`` for any ``T``.
    """

    def __init__(self, model: nn.Module, classes: Sequence[int], temperature: float = DEFAULT_TEMPERATURE):
        super().__init__()
        self.model = model
        self.classes = _check_classes(classes)
        if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
        self.temperature = float(temperature)
        self.register_buffer("_k", torch.tensor(self.classes, dtype=torch.float64), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.model(x)
        k = self._k.to(w.dtype)
        return -((w[:, None] - k[None, :]) ** 2) / self.temperature

    def extra_repr(self) -> str:
        return f"classes={self.classes}, temperature={self.temperature:g}"


def _check_classes(classes) -> Tuple[int, ...]:
    try:
        out = tuple(int(c) for c in classes)
    except (TypeError, ValueError):
        raise ValueError(f"classes must be a sequence of integers (winding numbers), got {classes!r}") from None
    if len(out) < 2 or len(set(out)) != len(out) or any(int(c) != c for c in classes):
        raise ValueError(f"classes must be at least two distinct integers, got {classes!r}")
    return out


def as_classifier(model: nn.Module, classes: Sequence[int], *, output: Output = "readout", seed: int = 0,
                  temperature: float = DEFAULT_TEMPERATURE) -> nn.Module:
    """Turn a ``(B,)`` regressor into a ``(B, len(classes))`` classifier (see the module docstring).

    ``output="readout"`` replaces the model's last ``nn.Linear(..., 1)`` (in place) by
    ``nn.Linear(..., K)`` initialized from ``seed``; ``output="winding"`` wraps the model in a
    :class:`WindingClassifier`. The result has an attribute ``classes``.
    """
    classes = _check_classes(classes)
    if output == "winding":
        return WindingClassifier(model, classes, temperature)
    if output != "readout":
        raise ValueError(f"unknown output {output!r}; choose one of {', '.join(map(repr, get_args(Output)))}")
    last = None
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            last = (name, m)
    if last is None or last[1].out_features != 1:
        raise ValueError(f"{type(model).__name__} has no final nn.Linear(..., 1) read-out to replace; "
                         "register it with output='winding' or give it one")
    name, old = last
    new = nn.Linear(old.in_features, len(classes), dtype=old.weight.dtype, device=old.weight.device)
    gen = torch.Generator().manual_seed(int(seed) + 0x5EED)
    bound = 1.0 / old.in_features ** 0.5
    with torch.no_grad():
        new.weight.copy_(torch.empty(new.weight.shape, dtype=torch.float64).uniform_(-bound, bound, generator=gen))
        new.bias.copy_(torch.empty(new.bias.shape, dtype=torch.float64).uniform_(-bound, bound, generator=gen))
    parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    setattr(parent, name.rpartition(".")[2], new)
    model.classes = classes
    return model


def build_model(name: str, n_cells, seed: int = 0, *, classes: Optional[Sequence[int]] = None,
                temperature: float = DEFAULT_TEMPERATURE, device=None, **kwargs) -> nn.Module:
    """Build a registered model; ``model.build_config`` records how (for saving and reloading).

    Parameters
    ----------
    name : str
        A key of :data:`MODELS`.
    n_cells : int
        Chain length the model is built for (a lattice shape for 2D models).
    seed : int
        Seeds the initialization (private generators; the global RNG is untouched).
    classes : sequence of int, optional
        Build a classifier over these winding classes (see the module docstring).
    temperature : float
        Temperature of the logits of a ``"winding"`` model built as a classifier.
    device : str or torch.device, optional
        Put the model's parameters there (initialized on the CPU first, so that a seed gives the
        same weights on every device). Not recorded in ``build_config``: a saved model loads on
        the CPU.
    **kwargs
        Constructor arguments of the model (e.g. ``kernel="translation_invariant"``, ``hidden=(64,)``).

    Raises
    ------
    ValueError
        Unknown model name.
    TypeError
        A keyword the model does not take (the message lists the valid ones).
    """
    from .functional import resolve_device

    dev = resolve_device(device)
    entry = _REGISTRY.get(name)
    if entry is None:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(model_names())}")
    valid = entry.keywords()
    if "**" not in valid:
        bad = sorted(set(kwargs) - set(valid))
        if bad:
            raise TypeError(f"model {name!r} got unknown keyword argument(s) {', '.join(map(repr, bad))}; "
                            f"valid keywords: {', '.join(valid)}")
    kw = {**entry.defaults, **kwargs}
    model = entry.factory(n_cells, seed=int(seed), **kw)
    if classes is not None:
        model = as_classifier(model, classes, output=entry.output, seed=int(seed), temperature=temperature)
    model.build_config = {
        "name": name, "n_cells": n_cells if isinstance(n_cells, int) else list(n_cells), "seed": int(seed),
        "kwargs": dict(kwargs), "classes": None if classes is None else list(_check_classes(classes)),
        "temperature": float(temperature),
    }
    if dev is not None:
        model.to(dev)
    return model


@strict_keywords
def accepts_size(model: nn.Module, n_cells: int) -> Optional[str]:
    """``None`` if ``model`` takes chains of ``n_cells`` cells, else the reason it does not (one line)."""
    p = next(model.parameters(), None)
    dtype = p.dtype if p is not None else torch.get_default_dtype()
    x = torch.eye(2 * n_cells, dtype=dtype)[None]
    try:
        with torch.no_grad():
            model(x)
    except ValueError as exc:
        return str(exc).split(";")[0]
    return None


# ----------------------------------------------------------------------------- the models of tntopo
register_model("toponet", TopoNet, output="winding", defaults={"init": "random"},
               description="TopoNet, random init: per-state weights s (2N), kernel X, window R")
register_model("toponet_odd", OddTopoNet, output="winding", defaults={"init": "random"},
               description="TopoNet with chiral-odd state weights and a reflection-odd kernel, random init")
register_model("toponet_commutator", CommutatorTopoNet, output="winding", defaults={"init": "random"},
               description="odd TopoNet whose kernel is lam*(a - c) (the commutator with the position), random init")
register_model("toponet_exact", TopoNet, output="winding", exact=True, defaults={"init": "exact"},
               description="TopoNet with the exact weights of the invariant (no training needed)")
register_model("mlp", MLP, description="fully connected network on the flattened features")
register_model("shallow", ShallowNet, description="one hidden layer (SVD-prunable first layer)")
register_model("cnn", CNN, description="2D convolutions over sites x states, global pooling (any size)")
register_model("symmetric", SymmetricNet, description="chiral-symmetric DeepSets network over eigenstates (any size)")
register_model("toponet2d", TopoNet2D, output="winding", defaults={"init": "random"}, dim=2,
               description="TopoNet2D: local Chern marker network of an (Lx, Ly) lattice, random init")
register_model("toponet2d_exact", TopoNet2D, output="winding", exact=True, defaults={"init": "exact"}, dim=2,
               description="TopoNet2D with the exact marker weights (no training needed)")

# ----------------------------------------------------------------------------- the models of the Chern study (2D)
# They take lattice layouts (B, C, Lx, Ly) (tntopo.systems.lattice_layout); see tntopo.nn.lattice_models.
from .lattice_models import (CommutatorLayoutTopoNet2D, KSpaceCNN, LatticeCNN, LatticeMLP,  # noqa: E402
                             LayoutTopoNet2D, OddLayoutTopoNet2D)

register_model("toponet2d_layout", LayoutTopoNet2D, output="winding", defaults={"init": "random"}, dim=2,
               description="TopoNet2D on the layout, random init: occupation weights over energy bins, "
                           "displacement kernels k^x, k^y (full range), learned window (fixed size)")
register_model("toponet2d_ti_plain", LayoutTopoNet2D, output="winding", defaults={"init": "random", "window": "fixed"},
               dim=2, description="TopoNet2D on the layout, random init: translation-invariant kernels of a fixed "
                                  "range, fixed bulk window, occupation weights (any size)")
register_model("toponet2d_ti", OddLayoutTopoNet2D, output="winding", defaults={"init": "random", "window": "fixed"},
               dim=2, description="toponet2d_ti_plain with the marker's symmetries: k^x odd in dx and even in dy, "
                                  "k^y(dx, dy) = k^x(dy, dx) (mirror-odd output; any size)")
register_model("toponet2d_layout_exact", CommutatorLayoutTopoNet2D, output="winding", exact=True,
               defaults={"init": "exact", "window": "fixed"}, dim=2,
               description="TopoNet2D on the layout with the exact marker weights, full-range kernels for any "
                           "size (no training needed)")
register_model("cnn2d", LatticeCNN, dim=2,
               description="CNN over the real-space lattice on the layout channels, global pooling (any size)")
register_model("mlp2d", LatticeMLP, dim=2, description="fully connected network on the flattened layout (fixed size)")
register_model("kcnn", KSpaceCNN, dim=2,
               description="CNN with circular padding on h(k) read from the layout's bulk hoppings (any size)")

_accepts_chain_length = accepts_size


@strict_keywords
def accepts_size(model: nn.Module, n_cells) -> Optional[str]:  # noqa: F811 - extends the 1D probe above to 2D models
    """``None`` if ``model`` takes samples of size ``n_cells``, else the reason it does not (one line).

    ``n_cells`` is a chain length for 1D models (probed with a chain of that length) and a lattice
    shape ``(Lx, Ly)`` (or one ``L``) for models that answer through their own
    ``accepts_size(shape)`` method (the 2D models of :mod:`tntopo.nn.lattice_models`; a
    :class:`WindingClassifier` asks the model it wraps).
    """
    inner = model.model if isinstance(model, WindingClassifier) else model
    if callable(getattr(type(inner), "accepts_size", None)):
        return inner.accepts_size(n_cells)
    return _accepts_chain_length(model, n_cells)
