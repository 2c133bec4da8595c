"""Configuration of the study (``tntopo reproduce``): data sets, models, training budget.

Three presets:

* :data:`FULL` -- the study as reported (>= 20 seeds per model, more sizes and disorder points);
* :data:`QUICK` -- the same protocol at CI size (``tntopo reproduce --quick``, minutes on 2 cores);
* :data:`TINY` -- seconds, for the tests.

A configuration is a frozen dataclass; :meth:`StudyConfig.replace` derives variants and
:meth:`StudyConfig.key` is the hash that finished training runs are cached under (change any
setting that affects a run and the cache is not reused).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

#: A chain whose real-space invariant lies within this of an integer is "quantized": the finite chain
#: determines its invariant (near a transition it does not, and no model can be asked to).
QUANTIZED_TOL = 0.25

__all__ = ["QUANTIZED_TOL", "StudyConfig", "ModelSpec", "QUICK", "FULL", "TINY", "PRESETS", "DEFAULT_MODELS", "get_config"]


@dataclass(frozen=True)
class ModelSpec:
    """How one model of the study is built and trained.

    Attributes
    ----------
    kind : str
        A model name of the registry :data:`tntopo.nn.MODELS` (``"toponet"``, ``"toponet_odd"``, ``"mlp"``...).
    kwargs : dict
        Extra constructor arguments.
    lr : float
        Adam learning rate.
    epochs : int, optional
        Overrides :attr:`StudyConfig.epochs` for this model (e.g. slower convolutional models).
    description : str
        One line for the results table.
    """

    kind: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    lr: float = 1e-3
    epochs: Optional[int] = None
    description: str = ""

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-able dict of the spec."""
        return {"kind": self.kind, "kwargs": dict(self.kwargs), "lr": self.lr, "epochs": self.epochs,
                "description": self.description}


#: The models of the study, by the name used in ``results.json``.
DEFAULT_MODELS: Dict[str, ModelSpec] = {
    "topo": ModelSpec(
        "toponet", {}, lr=1e-2,
        description="TopoNet from random init: per-state weights s (2N), full kernel X (NxN), learned window R (N)",
    ),
    "topo_ti": ModelSpec(
        "toponet_odd", {"kernel": "translation_invariant", "state_weights": "rank", "window": "fixed"}, lr=1e-2,
        description="physics-structured TopoNet, random init: translation-invariant kernel f(a-c) odd under "
                    "reflection, chiral-odd state weights g(energy rank), fixed bulk window",
    ),
    "topo_commutator": ModelSpec(
        "toponet_commutator", {"kernel": "translation_invariant", "state_weights": "rank", "window": "fixed",
                               "n_bins": 8}, lr=1e-2,
        description="topo_ti with the kernel of the invariant's commutator, X = lam (a - c) (one scale), "
                    "and 8 rank bins of chiral-odd state weights",
    ),
    "topo_ti_plain": ModelSpec(
        "toponet", {"kernel": "translation_invariant", "state_weights": "rank", "window": "fixed"}, lr=1e-2,
        description="ablation of topo_ti: same parametrization without the reflection/chiral odd constraints",
    ),
    "mlp": ModelSpec("mlp", {}, lr=1e-3, description="MLP on the flattened wavefunctions (2 hidden layers)"),
    "cnn": ModelSpec("cnn", {}, lr=1e-3, description="CNN over sites x states, global average pooling"),
    "symmetric": ModelSpec(
        "symmetric", {}, lr=3e-3,
        description="chiral-symmetry-informed DeepSets network over positive-energy states",
    ),
    "shallow_svd": ModelSpec(
        "shallow", {}, lr=1e-3, description="one hidden layer; its first layer is SVD-pruned (see pruning)",
    ),
}


@dataclass(frozen=True)
class StudyConfig:
    """Every setting of the study.

    Data (all clean sets: random hoppings over ``ranges``, amplitudes in ``[-1, 1]``, Bloch gap
    at least ``min_gap``, classes balanced over the winding sectors, exact Bloch labels):

    * train / val / test: ``n_cells`` cells, windings ``train_windings``;
    * size generalization: ``size_factor * n_cells`` cells, same distribution;
    * unseen windings: ``unseen_windings`` (absent from training), ``n_cells`` cells;
    * edge ablation: the test set with every state inside the bulk gap (``|E| < min_gap / 2``,
      the edge zero modes of open topological chains) zeroed out of the input;
    * disorder: nearest-neighbour SSH, ``t_0 ~ U[disorder_t0]``, ``t_1 = disorder_t1``, disorder
      ``{0: W, 1: W/2}`` for each ``W`` in ``disorder_strengths`` (the topological Anderson
      insulator window lies around ``W ~ 2-3``); label: the exact twisted-boundary integer of the
      periodic chain with the same bonds.

    Training: each model of ``models`` is trained from ``seeds`` independent random
    initializations (seed ``i`` of model ``name`` derives from ``seed`` via
    :func:`tntopo.parallel.task_seed`), for ``epochs`` epochs (Adam, MSE on the winding number,
    best validation loss restored). A seed is *trainable* when its validation accuracy reaches
    ``trainability_threshold`` within the budget.
    """

    name: str = "full"
    seed: int = 0
    n_cells: int = 24
    ranges: Tuple[int, ...] = (-1, 0, 1, 2)
    train_windings: Tuple[int, ...] = (0, 1)
    unseen_windings: Tuple[int, ...] = (-1, 2)
    min_gap: float = 0.4
    amplitude: float = 1.0
    n_train: int = 4000
    n_val: int = 1000
    n_test: int = 1000
    size_factor: int = 4
    n_size: int = 400
    n_unseen: int = 600
    disorder_strengths: Tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5)
    disorder_t0: Tuple[float, float] = (1.0, 1.2)
    disorder_t1: float = 1.0
    n_disorder: int = 400
    seeds: int = 20
    epochs: int = 40
    batch_size: int = 64
    patience: Optional[int] = None
    trainability_threshold: float = 0.95
    pruning_ranks: Tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128, 256)
    models: Mapping[str, ModelSpec] = field(default_factory=lambda: dict(DEFAULT_MODELS))

    def __post_init__(self):
        if self.n_cells < 8:
            raise ValueError(f"n_cells={self.n_cells} is too small for the study; use n_cells >= 8")
        if self.seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {self.seeds}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if not self.models:
            raise ValueError("the study needs at least one model")
        for name, spec in self.models.items():
            if not isinstance(spec, ModelSpec):
                raise ValueError(f"models[{name!r}] must be a ModelSpec, got {type(spec).__name__}")
        if set(self.unseen_windings) & set(self.train_windings):
            raise ValueError(
                f"unseen_windings {self.unseen_windings} overlap train_windings {self.train_windings}; "
                "unseen windings must be absent from training"
            )
        if not 0 < self.trainability_threshold <= 1:
            raise ValueError("trainability_threshold must lie in (0, 1]")

    def replace(self, **changes) -> "StudyConfig":
        """A copy with some settings changed (``models`` may be a list of names to keep)."""
        models = changes.get("models")
        if models is not None and not isinstance(models, Mapping):
            unknown = [m for m in models if m not in self.models and m not in DEFAULT_MODELS]
            if unknown:
                raise ValueError(f"unknown model(s) {unknown}; choose from {sorted(DEFAULT_MODELS)}")
            changes["models"] = {m: self.models.get(m, DEFAULT_MODELS.get(m)) for m in models}
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-able dict of every setting (stored in ``results.json``)."""
        d = dataclasses.asdict(self)
        d["models"] = {k: v.to_dict() for k, v in self.models.items()}
        return d

    def data_key(self) -> str:
        """Hash of the settings that define the data sets."""
        fields = ("seed", "n_cells", "ranges", "train_windings", "unseen_windings", "min_gap", "amplitude",
                  "n_train", "n_val", "n_test", "size_factor", "n_size", "n_unseen", "disorder_strengths",
                  "disorder_t0", "disorder_t1", "n_disorder")
        d = self.to_dict()
        return _hash({k: d[k] for k in fields})

    def run_key(self, model: str) -> str:
        """Hash of everything a training run of ``model`` depends on (its cache key)."""
        d = self.to_dict()
        sub = {k: d[k] for k in ("epochs", "batch_size", "patience", "trainability_threshold", "pruning_ranks")}
        return _hash({"data": self.data_key(), "train": sub, "model": d["models"][model]})

    def epochs_of(self, model: str) -> int:
        """Training epochs of ``model`` (its own budget, or :attr:`epochs`)."""
        e = self.models[model].epochs
        return self.epochs if e is None else int(e)


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _with_epochs(models: Mapping[str, ModelSpec], **epochs: int) -> Dict[str, ModelSpec]:
    """``models`` with the training budget of some of them changed."""
    return {k: dataclasses.replace(v, epochs=epochs[k]) if k in epochs else v for k, v in models.items()}


FULL = StudyConfig(models=_with_epochs(DEFAULT_MODELS, topo=80, topo_ti=80, topo_commutator=80, topo_ti_plain=80,
                                       symmetric=50))

QUICK = StudyConfig(
    name="quick",
    n_cells=16,
    min_gap=0.5,
    n_train=1500,
    n_val=400,
    n_test=400,
    n_size=200,
    n_unseen=300,
    disorder_strengths=(0.0, 1.0, 1.5, 2.0, 2.5, 3.0),
    n_disorder=200,
    seeds=5,
    epochs=30,
    pruning_ranks=(1, 2, 3, 4, 8, 16, 32, 64, 256),
    models=_with_epochs(DEFAULT_MODELS, topo=80, topo_ti=80, topo_commutator=80, topo_ti_plain=80, symmetric=40),
)

TINY = StudyConfig(
    name="tiny",
    n_cells=8,
    min_gap=0.3,
    ranges=(-1, 0, 1, 2),
    n_train=96,
    n_val=48,
    n_test=48,
    size_factor=2,
    n_size=16,
    n_unseen=24,
    disorder_strengths=(0.0, 2.5),
    n_disorder=12,
    seeds=2,
    epochs=2,
    batch_size=32,
    pruning_ranks=(1, 2, 4),
    models={
        "topo": DEFAULT_MODELS["topo"],
        "topo_ti": DEFAULT_MODELS["topo_ti"],
        "mlp": dataclasses.replace(DEFAULT_MODELS["mlp"], kwargs={"hidden": (16,)}),
        "cnn": dataclasses.replace(DEFAULT_MODELS["cnn"], kwargs={"channels": (4,)}),
        "symmetric": dataclasses.replace(DEFAULT_MODELS["symmetric"], kwargs={"channels": (4,), "hidden": 8}),
        "shallow_svd": dataclasses.replace(DEFAULT_MODELS["shallow_svd"], kwargs={"hidden": 8}),
    },
)

PRESETS = {"full": FULL, "quick": QUICK, "tiny": TINY}


def get_config(name_or_config="full", **changes) -> StudyConfig:
    """A preset by name (``"full"``, ``"quick"``, ``"tiny"``) or a config, with ``changes`` applied."""
    if isinstance(name_or_config, StudyConfig):
        cfg = name_or_config
    else:
        if name_or_config not in PRESETS:
            raise ValueError(f"unknown study preset {name_or_config!r}; choose one of {set(PRESETS)}")
        cfg = PRESETS[name_or_config]
    return cfg.replace(**changes) if changes else cfg
