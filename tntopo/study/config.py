"""Configuration of the studies (``tntopo reproduce``): data sets, models, training budget.

Two studies share one protocol (:class:`_Rows`): the winding study of 1D chains (:class:`StudyConfig`, the
default) and the Chern study of 2D lattices (:class:`ChernStudyConfig`, ``--study chern``). Each has three
presets; the winding study's:

* :data:`FULL` -- the study as reported (20 seeds per TopoNet row, 8 per generic row, learning rates
  chosen over 3 seeds, the causal test with 20 seeds per cell);
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
from .._typing import strict_keywords

#: A chain whose real-space invariant lies within this of an integer is "quantized": the finite chain
#: determines its invariant (near a transition it does not, and no model can be asked to).
QUANTIZED_TOL = 0.25

__all__ = ["QUANTIZED_TOL", "StudyConfig", "ModelSpec", "QUICK", "FULL", "TINY", "PRESETS", "DEFAULT_MODELS", "HEADS",
           "get_config", "ChernStudyConfig", "DEFAULT_CHERN_MODELS", "CHERN_FULL", "CHERN_QUICK", "CHERN_TINY",
           "CHERN_PRESETS", "STUDIES"]


@strict_keywords
@dataclass(frozen=True)
class ModelSpec:
    """How one model of the study is built.

    Every model gets the same training budget (:attr:`StudyConfig.epochs` of the same data and
    batch size) and its learning rate is chosen from :attr:`StudyConfig.lr_grid` on validation data;
    a spec therefore carries no budget or learning rate of its own.

    Attributes
    ----------
    kind : str
        A model name of the registry :data:`tntopo.nn.MODELS` (``"toponet"``, ``"toponet_odd"``, ``"mlp"``...).
    kwargs : dict
        Extra constructor arguments.
    description : str
        One line for the results table.
    """

    kind: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-able dict of the spec."""
        return {"kind": self.kind, "kwargs": dict(self.kwargs), "description": self.description}


#: The models of the study, by the name used in ``results.json``.
DEFAULT_MODELS: Dict[str, ModelSpec] = {
    "topo": ModelSpec(
        "toponet", {},
        description="TopoNet from random init: per-state weights s (2N), full kernel X (NxN), learned window R (N)",
    ),
    "topo_ti": ModelSpec(
        "toponet_odd", {"kernel": "translation_invariant", "state_weights": "rank", "window": "fixed"},
        description="physics-structured TopoNet, random init: translation-invariant kernel f(a-c) odd under "
                    "reflection, chiral-odd state weights g(energy rank), fixed bulk window",
    ),
    "topo_commutator": ModelSpec(
        "toponet_commutator", {"kernel": "translation_invariant", "state_weights": "rank", "window": "fixed",
                               "n_bins": 8},
        description="topo_ti with the kernel of the invariant's commutator, X = lam (a - c) (one scale), "
                    "and 8 rank bins of chiral-odd state weights",
    ),
    "topo_ti_plain": ModelSpec(
        "toponet", {"kernel": "translation_invariant", "state_weights": "rank", "window": "fixed"},
        description="ablation of topo_ti: same parametrization without the reflection/chiral odd constraints",
    ),
    "mlp": ModelSpec("mlp", {}, description="MLP on the flattened wavefunctions (2 hidden layers)"),
    "cnn": ModelSpec("cnn", {}, description="CNN over sites x states, global average pooling"),
    "symmetric": ModelSpec(
        "symmetric", {},
        description="chiral-symmetry-informed DeepSets network over positive-energy states",
    ),
    "shallow_svd": ModelSpec(
        "shallow", {}, description="one hidden layer; its first layer is SVD-pruned (see pruning)",
    ),
}


#: Registry kinds of the TopoNet family (rows trained with :attr:`StudyConfig.seeds` seeds), in 1D and 2D.
TOPO_KINDS = ("toponet", "toponet_odd", "toponet_commutator", "toponet2d_layout", "toponet2d_ti_plain", "toponet2d_ti")

#: Heads every model is trained with: a regressor (MSE on the winding, rounded) and a classifier
#: (cross-entropy over the winding classes the hopping ranges allow). Classifier rows are named ``<model>+ce``.
HEADS = ("regression", "classification")
CE_SUFFIX = "+ce"


class _Rows:
    """The rows of a study (each model per head), their seeds and their cache keys: one protocol for every
    study kind. A study's config dataclass supplies the fields (``models``, ``heads``, ``seeds``...), its
    ``classes`` and its ``data_key``."""

    #: The invariant the study is about (``"winding"``, ``"chern"``): picks the sets, models and report words.
    kind: str = "winding"
    #: The study's models by row name: what ``replace(models=[...])`` may name besides the config's own.
    _default_models: Mapping[str, "ModelSpec"] = DEFAULT_MODELS

    def run_names(self) -> Tuple[str, ...]:
        """Rows of the study: each model per head (``"mlp"``, ``"mlp+ce"``...), models in order, regression first."""
        return tuple(m + ("" if h == "regression" else CE_SUFFIX) for h in self.heads for m in self.models)

    def seeds_of(self, run: str) -> int:
        """Trained seeds of a row: :attr:`seeds` for TopoNet rows, :attr:`generic_seeds` for the others
        (never fewer than the :attr:`lr_selection_seeds` every row is trained with at each rate)."""
        n = self.seeds if self.spec_of(run)[0].kind in TOPO_KINDS else self.generic_seeds
        return max(int(n), int(self.lr_selection_seeds))

    def spec_of(self, run: str) -> Tuple[ModelSpec, str, str]:
        """``(spec, head, base model name)`` of a row name."""
        base, ce = (run[: -len(CE_SUFFIX)], True) if run.endswith(CE_SUFFIX) else (run, False)
        if base not in self.models:
            raise ValueError(f"unknown model row {run!r}; rows are {self.run_names()}")
        return self.models[base], "classification" if ce else "regression", base

    def replace(self, **changes):
        """A copy with some settings changed (``models`` may be a list of names to keep, from the config's
        models or the study's defaults, ``_default_models``)."""
        models, defaults = changes.get("models"), self._default_models
        if models is not None and not isinstance(models, Mapping):
            unknown = [m for m in models if m not in self.models and m not in defaults]
            if unknown:
                raise ValueError(f"unknown model(s) {unknown}; choose from {sorted(defaults)}")
            changes["models"] = {m: self.models.get(m, defaults.get(m)) for m in models}
        return dataclasses.replace(self, **changes)

    def check_rows(self) -> None:
        """The checks on the training protocol shared by every study kind (raises ``ValueError``)."""
        for name in ("seeds", "generic_seeds", "lr_selection_seeds", "seed_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if not self.models:
            raise ValueError("the study needs at least one model")
        for name, spec in self.models.items():
            if not isinstance(spec, ModelSpec):
                raise ValueError(f"models[{name!r}] must be a ModelSpec, got {type(spec).__name__}")
            if CE_SUFFIX in name:
                raise ValueError(f"model name {name!r} contains {CE_SUFFIX!r}, the suffix of classifier rows; rename it")
        if not 0 < self.trainability_threshold <= 1:
            raise ValueError("trainability_threshold must lie in (0, 1]")
        if not self.lr_grid or any(not (float(g) > 0) for g in self.lr_grid):
            raise ValueError(f"lr_grid must list positive learning rates, got {self.lr_grid}")
        bad = [h for h in self.heads if h not in HEADS]
        if bad or not self.heads:
            raise ValueError(f"unknown heads {bad}; choose from {HEADS}")
        if any(W < 0 for W in self.disorder_strengths):
            raise ValueError(f"disorder strengths must be >= 0, got {self.disorder_strengths}")

    def run_key(self, run: str, lr: float) -> str:
        """Hash of everything one training run of row ``run`` at learning rate ``lr`` depends on (its cache key)."""
        spec, head, _ = self.spec_of(run)
        d = self.to_dict()
        sub = {k: d[k] for k in ("epochs", "batch_size", "patience", "trainability_threshold", "pruning_ranks")}
        return _hash({"data": self.data_key(), "train": sub, "model": spec.to_dict(), "head": head,
                      "classes": list(self.classes) if head == "classification" else None, "lr": float(lr)})


@strict_keywords
@dataclass(frozen=True)
class StudyConfig(_Rows):
    """Every setting of the study (second edition; see ``docs/guide/study.rst``).

    Clean data (random hoppings over ``ranges``, amplitudes in ``[-amplitude, amplitude]``, Bloch
    gap at least ``min_gap``, balanced over the winding sectors, exact Bloch labels):

    * train / val / test: ``n_cells`` cells, windings ``train_windings``;
    * size generalization (``size``): ``size_factor * n_cells`` cells, same distribution;
    * unseen windings: ``unseen_windings`` (absent from training), ``n_cells`` cells;
    * edge ablation: the test set with ``2 max|train_windings|`` mid-spectrum states zeroed in every
      chain (:func:`tntopo.data.ablate_fixed`: the shape of the input carries no label);
    * counterfactual: ``n_counterfactual`` chains where the edge-state proxy and the bulk invariant
      disagree (:mod:`tntopo.study.counterfactual`).

    Disorder (:mod:`tntopo.study.disorder`): nearest-neighbour chains ``t_1 = 1``, ``t_0`` on both
    sides of the critical line of the ensemble (``|ln t_0 / t0_c(W)|`` uniform in
    ``disorder_delta``), disorder ``{0: r0 W, 1: r1 W}`` with ``disorder_ratios``, for each ``W`` in
    ``disorder_strengths`` and each chain length in ``disorder_lengths`` (which must contain
    ``n_cells``); label: the thermodynamic phase of the ensemble (exact Lyapunov criterion).

    Training: each model of ``models`` and each head of ``heads`` is trained from ``seeds``
    (TopoNet rows) or ``generic_seeds`` (the other rows) independent initializations for the same
    budget, ``epochs`` epochs of the same data and ``batch_size`` (Adam, best validation loss
    restored); ``seed_batch`` seeds of a TopoNet row at a time are trained as one vmapped model
    (:func:`tntopo.nn.train_seeds`: the same runs up to float rounding, in fixed blocks so that a
    resumed study computes the same numbers). Its learning rate is the one of ``lr_grid`` with the best mean validation accuracy
    over seeds ``0 .. lr_selection_seeds - 1`` (ties: the lower mean validation loss, then the smaller
    rate); those seeds' runs at the chosen rate are kept as the row's first seeds. A seed *learns the
    invariant* when it reaches ``trainability_threshold`` on every criterion its head can meet:
    unseen windings (regressors only: a classifier never sees a positive example of an unseen
    class), the ``size`` chains where the model takes them, and the counterfactual set.

    Unseen windings: the models train on ``{-1, 0, 1}`` and are tested on ``+-2`` (both signs, so a
    regressor's targets bracket zero); extrapolation from ``{0, 1}`` to ``{-1, 2}`` is a factor of the
    causal test (``why``) and is reported apart.

    ``trainability_map`` (``models``, ``n_cells``, ``inits``, ``seeds``, ``data``; on the main
    distribution, at each model's selected rate and the main budget unless ``epochs`` is given),
    ``landscape`` (``models``, ``seeds``, ``epochs``, ``n_jacobian``, ``grad_n_cells``) and ``why``
    (the causal test, :mod:`tntopo.study.why`) are the settings of those sections.
    """

    name: str = "full"
    seed: int = 0
    n_cells: int = 24
    ranges: Tuple[int, ...] = (-2, -1, 0, 1, 2)
    train_windings: Tuple[int, ...] = (-1, 0, 1)
    unseen_windings: Tuple[int, ...] = (-2, 2)
    min_gap: float = 0.4
    amplitude: float = 1.0
    n_train: int = 4000
    n_val: int = 1000
    n_test: int = 1000
    size_factor: int = 4
    n_size: int = 400
    n_unseen: int = 600
    n_counterfactual: int = 600
    dose_widths: Tuple[int, ...] = (1, 2, 3, 4, 5)
    n_dose: int = 200
    disorder_strengths: Tuple[float, ...] = (0.0, 1.0, 2.0, 2.5, 3.0, 3.5)
    disorder_lengths: Tuple[int, ...] = (24, 72, 192)
    disorder_ratios: Tuple[float, float] = (1.0, 0.5)
    disorder_delta: Tuple[float, float] = (0.7, 1.4)
    n_disorder: int = 100
    seeds: int = 20
    generic_seeds: int = 8
    lr_selection_seeds: int = 3
    seed_batch: int = 5
    epochs: int = 40
    batch_size: int = 64
    lr_grid: Tuple[float, ...] = (1e-3, 3e-3, 1e-2)
    heads: Tuple[str, ...] = HEADS
    patience: Optional[int] = None
    trainability_threshold: float = 0.95
    pruning_ranks: Tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128, 256)
    models: Mapping[str, ModelSpec] = field(default_factory=lambda: dict(DEFAULT_MODELS))
    trainability_map: Optional[Mapping[str, Any]] = None
    landscape: Optional[Mapping[str, Any]] = None
    why: Optional[Mapping[str, Any]] = None

    def __post_init__(self):
        if self.n_cells < 8:
            raise ValueError(f"n_cells={self.n_cells} is too small for the study; use n_cells >= 8")
        self.check_rows()
        if set(self.unseen_windings) & set(self.train_windings):
            raise ValueError(
                f"unseen_windings {self.unseen_windings} overlap train_windings {self.train_windings}; "
                "unseen windings must be absent from training"
            )
        if self.n_cells not in self.disorder_lengths:
            raise ValueError(f"disorder_lengths {self.disorder_lengths} must contain n_cells={self.n_cells} "
                             "(the length every model is trained on)")

    # ------------------------------------------------------------------ names
    @property
    def classes(self) -> Tuple[int, ...]:
        """Winding classes of the classification head: every winding the hopping ranges allow."""
        return tuple(range(min(self.ranges), max(self.ranges) + 1))

    @property
    def size_n_cells(self) -> int:
        """Length of the size-generalization chains (``size_factor * n_cells``)."""
        return int(self.size_factor * self.n_cells)

    @staticmethod
    def disorder_set_name(n_cells: int, W: float) -> str:
        """Name of the disorder set of length ``n_cells`` and strength ``W`` (``"disorder/N24/W2.5"``)."""
        return f"disorder/N{int(n_cells)}/W{float(W):g}"

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-able dict of every setting (stored in ``results.json``)."""
        d = dataclasses.asdict(self)
        d["study"] = self.kind
        d["models"] = {k: v.to_dict() for k, v in self.models.items()}
        d["trainability_map"] = json.loads(json.dumps(self.trainability_map, default=list))
        d["landscape"] = json.loads(json.dumps(self.landscape, default=list))
        d["why"] = json.loads(json.dumps(self.why, default=list))
        d["classes"] = list(self.classes)
        return d

    def data_key(self) -> str:
        """Hash of the settings that define the data sets."""
        fields = ("seed", "n_cells", "ranges", "train_windings", "unseen_windings", "min_gap", "amplitude",
                  "n_train", "n_val", "n_test", "size_factor", "n_size", "n_unseen", "n_counterfactual",
                  "dose_widths", "n_dose",
                  "disorder_strengths", "disorder_lengths", "disorder_ratios", "disorder_delta", "n_disorder")
        from ..data.evalsets import EVALSETS_FORMAT_VERSION
        from .disorder import DisorderFamily

        d = self.to_dict()
        family = DisorderFamily(ratios=tuple(self.disorder_ratios), delta_range=tuple(self.disorder_delta)).to_dict()
        return _hash({**{k: d[k] for k in fields}, "format": EVALSETS_FORMAT_VERSION, "disorder_family": family})

#: Keys of ``ChernStudyConfig.why`` (the settings of the causal test in the Chern study, :mod:`tntopo.study.chern_why`).
CHERN_WHY_KEYS = ("models", "seeds", "epochs", "n_cells", "factors", "data", "projection", "seeds_per_task",
                  "extrapolation")

#: The models of the Chern study (every one takes the lattice layout of the sample's Hamiltonian,
#: :func:`tntopo.systems.lattice_layout`), by the name used in ``results.json``.
DEFAULT_CHERN_MODELS: Dict[str, ModelSpec] = {
    "topo2d": ModelSpec(
        "toponet2d_layout", {},
        description="TopoNet2D from random init: occupation weights over energy bins, displacement kernels, learned window",
    ),
    "topo2d_ti": ModelSpec(
        "toponet2d_ti", {},
        description="physics-structured TopoNet2D, random init: translation-invariant kernels with the mirror parities "
                    "of the marker's position operators, fixed bulk window",
    ),
    "topo2d_ti_plain": ModelSpec(
        "toponet2d_ti_plain", {},
        description="ablation of topo2d_ti: the same parametrization without the parity constraints",
    ),
    "cnn2d": ModelSpec("cnn2d", {}, description="CNN over the real-space lattice (hopping blocks as channels), "
                                                "global average pooling (any size)"),
    "mlp2d": ModelSpec("mlp2d", {"cell_features": 4, "hidden": (16, 16)},
                       description="MLP on the flattened lattice layout (a shared 1x1 read-in of 4 features per cell, "
                                   "then 2 hidden layers of 16; fixed size)"),
    "kcnn": ModelSpec("kcnn", {}, description="CNN on the Bloch Hamiltonian h(k) of the bulk hoppings (k-space)"),
}


@strict_keywords
@dataclass(frozen=True)
class ChernStudyConfig(_Rows):
    """Every setting of the Chern study (``tntopo reproduce --study chern``; issue 22).

    The protocol of :class:`StudyConfig` (rows, seeds, learning-rate selection, verdicts) on 2D class-A
    lattices (:mod:`tntopo.study.chern_sets`): square ``n_cells x n_cells`` samples, open boundaries,
    input the lattice layout of the Hamiltonian (stencil range ``stencil``), clean families ``families``
    balanced over ``train_cherns`` with a Bloch gap of at least ``min_gap`` and labelled by the
    certified FHS integer; ``size_lengths`` the larger samples of the size test; ``unseen_cherns``
    absent from training; counterfactual samples (Chern insulators on a torus, trivial insulators with a
    decorated boundary) with matched controls; QWZ with Anderson disorder ``disorder_strengths``,
    labelled by the phase of the ensemble: the Bott index on ``ensemble_factor`` times larger samples,
    averaged over ``n_realizations`` realizations.

    ``why``: the causal test (:mod:`tntopo.study.chern_why`; keys ``models``, ``seeds``, ``epochs``,
    ``n_cells``, ``factors``, ``data``, ``projection``, ``seeds_per_task``, ``extrapolation``, see
    :func:`~tntopo.study.chern_why.why_arguments`), run at the TopoNet2D rows' selected rates.
    ``trainability_map`` and ``landscape`` are not available in the Chern study (``None``).
    """

    kind = "chern"
    _default_models = DEFAULT_CHERN_MODELS

    name: str = "full"
    seed: int = 0
    n_cells: int = 8
    stencil: int = 2
    train_cherns: Tuple[int, ...] = (-1, 0, 1)
    unseen_cherns: Tuple[int, ...] = (-3, -2, 2, 3)
    max_chern: int = 3
    min_gap: float = 0.5
    n_train: int = 4000
    n_val: int = 1000
    n_test: int = 1000
    size_lengths: Tuple[int, ...] = (16, 32)
    n_size: int = 200
    n_unseen: int = 600
    n_counterfactual: int = 400
    disorder_strengths: Tuple[float, ...] = (0.0, 2.0, 3.0, 4.0, 5.0)
    n_disorder: int = 100
    ensemble_factor: int = 3
    n_realizations: int = 16
    seeds: int = 20
    generic_seeds: int = 8
    lr_selection_seeds: int = 3
    seed_batch: int = 1
    epochs: int = 40
    batch_size: int = 64
    lr_grid: Tuple[float, ...] = (1e-3, 3e-3, 1e-2)
    heads: Tuple[str, ...] = HEADS
    patience: Optional[int] = None
    trainability_threshold: float = 0.95
    pruning_ranks: Tuple[int, ...] = ()
    models: Mapping[str, ModelSpec] = field(default_factory=lambda: dict(DEFAULT_CHERN_MODELS))
    trainability_map: Optional[Mapping[str, Any]] = None
    landscape: Optional[Mapping[str, Any]] = None
    why: Optional[Mapping[str, Any]] = None

    def __post_init__(self):
        if self.n_cells <= 2 * self.stencil or self.n_cells < 6:
            raise ValueError(f"n_cells={self.n_cells} is too small for the Chern study: samples need n_cells >= 6 "
                             f"and > 2 * stencil = {2 * self.stencil}")
        self.check_rows()
        if set(self.unseen_cherns) & set(self.train_cherns):
            raise ValueError(f"unseen_cherns {self.unseen_cherns} overlap train_cherns {self.train_cherns}; "
                             "unseen Chern numbers must be absent from training")
        if max(abs(c) for c in self.train_cherns + self.unseen_cherns) > self.max_chern:
            raise ValueError(f"max_chern={self.max_chern} is smaller than a requested Chern number; raise it")
        if self.ensemble_factor < 2 or self.n_realizations < 2:
            raise ValueError(f"the ensemble labels need samples at least twice the input's size and >= 2 realizations; "
                             f"got ensemble_factor={self.ensemble_factor}, n_realizations={self.n_realizations}")
        if any(L <= self.n_cells for L in self.size_lengths) or not self.size_lengths:
            raise ValueError(f"size_lengths {self.size_lengths} must be larger than n_cells={self.n_cells}")
        for name in ("trainability_map", "landscape"):
            if getattr(self, name) is not None:
                raise ValueError(f"{name} is not available in the Chern study yet; leave it None")
        if self.why is not None:
            self._check_why()

    def _check_why(self) -> None:
        """``why``'s shape: a mapping of known keys naming known rows. Its values (factors, sizes, data) are checked
        by building its task list (:func:`tntopo.study.chern_why.chern_why_tasks`), which
        :func:`tntopo.study.reproduce` does before any work."""
        if not isinstance(self.why, Mapping):
            raise ValueError(f"why must be a mapping of the causal test's settings or None, got {type(self.why).__name__}")
        bad = sorted(set(self.why) - set(CHERN_WHY_KEYS))
        if bad:
            raise TypeError(f"why got unknown key(s) {bad}; valid keys: {', '.join(CHERN_WHY_KEYS)}")
        if "models" in self.why and not tuple(self.why["models"]):
            raise ValueError("why['models'] is empty; name the TopoNet2D rows of the causal test, e.g. ('topo2d',), "
                             "or set why=None")
        unknown = [m for m in self.why.get("models", ()) if m not in self.models and m not in self._default_models]
        if unknown:
            raise ValueError(f"why['models'] names unknown row(s) {unknown}; choose from {sorted(self._default_models)}")

    @property
    def classes(self) -> Tuple[int, ...]:
        """Chern classes of the classification head: ``-max_chern .. max_chern``."""
        return tuple(range(-int(self.max_chern), int(self.max_chern) + 1))

    @property
    def size_n_cells(self) -> int:
        """Linear size of the first size-generalization set."""
        return int(self.size_lengths[0])

    @property
    def disorder_lengths(self) -> Tuple[int, ...]:
        """The disorder sets are at the training size."""
        return (int(self.n_cells),)

    @staticmethod
    def disorder_set_name(n_cells: int, W: float) -> str:
        """Name of the disorder set of size ``n_cells`` and strength ``W`` (``"disorder/L8/W4"``)."""
        return f"disorder/L{int(n_cells)}/W{float(W):g}"

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-able dict of every setting (stored in ``results.json``)."""
        d = dataclasses.asdict(self)
        d["study"] = self.kind
        d["models"] = {k: v.to_dict() for k, v in self.models.items()}
        d["why"] = json.loads(json.dumps(self.why, default=list))
        d["classes"] = list(self.classes)
        d["disorder_lengths"] = list(self.disorder_lengths)
        return d

    def set_kwargs(self) -> Dict[str, Any]:
        """The arguments of :func:`tntopo.study.chern_sets.build_chern_sets` this config defines."""
        return dict(seed=self.seed, L=self.n_cells, train_cherns=tuple(self.train_cherns),
                    unseen_cherns=tuple(self.unseen_cherns), n_train=self.n_train, n_val=self.n_val, n_test=self.n_test,
                    size_Ls=tuple(self.size_lengths), n_size=self.n_size, n_unseen=self.n_unseen,
                    n_counterfactual=self.n_counterfactual, disorder_strengths=tuple(self.disorder_strengths),
                    n_disorder=self.n_disorder, min_gap=self.min_gap, stencil=self.stencil,
                    ensemble_shape=(self.ensemble_factor * self.n_cells,) * 2, n_realizations=self.n_realizations)

    def data_key(self) -> str:
        """Hash of the settings that define the data sets."""
        from ..data.evalsets import EVALSETS_FORMAT_VERSION

        return _hash({"study": self.kind, **self.set_kwargs(), "format": EVALSETS_FORMAT_VERSION})


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


#: The three TopoNet rows of the causal test and of the trainability map.
WHY_MODELS = ("topo", "topo_ti_plain", "topo_ti")

FULL = StudyConfig(
    trainability_map={
        "models": WHY_MODELS,
        "n_cells": (12, 24, 48),
        "inits": ({"kind": "random", "scale": 1.0}, {"kind": "exact", "eps": 0.01}, {"kind": "exact", "eps": 0.1}),
        "seeds": 10,
        "data": {"n_train": 4000, "n_val": 1000, "n_unseen": 400, "n_long": 200, "n_counterfactual": 300},
    },
    landscape={"models": ("topo", "topo_ti"), "seeds": 8, "epochs": 40, "grad_n_cells": (8, 16, 32, 64)},
    why={"models": WHY_MODELS, "seeds": 20, "seeds_per_task": 5,
         "factors": {"objective": ("w_real",), "n_cells": (2, 4), "freedom": ("projected", "projected_tracking", "odd"),
                     "budget": (4,),
                     "train_windings": ("extrapolation",)},
         "data": {"n_train": 4000, "n_val": 1000, "n_unseen": 400, "n_long": 200, "n_counterfactual": 300}},
)

QUICK = StudyConfig(
    name="quick",
    n_cells=16,
    min_gap=0.5,
    n_train=1500,
    n_val=400,
    n_test=400,
    n_size=200,
    n_unseen=300,
    n_counterfactual=240,
    n_dose=64,
    disorder_lengths=(16, 48, 128),
    n_disorder=64,
    seeds=3,
    generic_seeds=2,
    lr_selection_seeds=2,
    lr_grid=(3e-3, 1e-2),
    epochs=30,
    pruning_ranks=(1, 2, 3, 4, 8, 16, 32, 64, 256),
    trainability_map={
        "models": WHY_MODELS, "n_cells": (8, 16), "inits": ({"kind": "random", "scale": 1.0}, {"kind": "exact", "eps": 0.01}),
        "seeds": 2, "epochs": 8,
        "data": {"n_train": 160, "n_val": 48, "n_unseen": 64, "n_long": 32, "n_counterfactual": 48},
    },
    landscape={"models": ("topo", "topo_ti"), "seeds": 3, "epochs": 20, "grad_n_cells": (8, 16, 32, 64)},
    why={"models": WHY_MODELS, "seeds": 2, "epochs": 4, "n_cells": 16,
         "factors": {"objective": ("w_real",), "n_cells": (2,), "freedom": ("projected", "projected_tracking", "odd"),
                     "budget": (4,),
                     "train_windings": ("extrapolation",)},
         "data": {"n_train": 192, "n_val": 64, "n_unseen": 48, "n_long": 24, "n_counterfactual": 36}},
)

TINY = StudyConfig(
    name="tiny",
    n_cells=8,
    min_gap=0.3,
    n_train=96,
    n_val=48,
    n_test=48,
    size_factor=2,
    n_size=16,
    n_unseen=24,
    n_counterfactual=24,
    n_dose=8,
    disorder_strengths=(0.0, 2.5),
    disorder_lengths=(8, 24, 64),
    n_disorder=12,
    seeds=2,
    generic_seeds=2,
    lr_selection_seeds=1,
    epochs=2,
    batch_size=32,
    lr_grid=(1e-3, 1e-2),
    pruning_ranks=(1, 2, 4),
    models={
        "topo": DEFAULT_MODELS["topo"],
        "topo_ti": DEFAULT_MODELS["topo_ti"],
        "mlp": dataclasses.replace(DEFAULT_MODELS["mlp"], kwargs={"hidden": (16,)}),
        "cnn": dataclasses.replace(DEFAULT_MODELS["cnn"], kwargs={"channels": (4,)}),
        "symmetric": dataclasses.replace(DEFAULT_MODELS["symmetric"], kwargs={"channels": (4,), "hidden": 8}),
        "shallow_svd": dataclasses.replace(DEFAULT_MODELS["shallow_svd"], kwargs={"hidden": 8}),
    },
    trainability_map={
        "models": ("topo_ti",), "n_cells": (8,), "inits": ({"kind": "random", "scale": 1.0},), "seeds": 1, "epochs": 1,
        "data": {"n_train": 16, "n_val": 8, "n_unseen": 8, "n_long": 4, "n_counterfactual": 12},
    },
    landscape={"models": ("topo_ti",), "seeds": 2, "epochs": 1, "n_jacobian": 8, "grad_n_cells": (8, 16)},
    why={"models": ("topo_ti",), "seeds": 1, "epochs": 1, "n_cells": 8,
         "factors": {"objective": ("w_real",), "n_cells": (2,), "freedom": ("projected",), "budget": (2,),
                     "train_windings": ("extrapolation",)},
         "data": {"n_train": 16, "n_val": 8, "n_unseen": 8, "n_long": 4, "n_counterfactual": 12}},
)

PRESETS = {"full": FULL, "quick": QUICK, "tiny": TINY}

#: The Chern study's presets (``tntopo reproduce --study chern``): the full study (20 seeds per TopoNet2D
#: row, 8 per generic row), the same protocol at CI size, and seconds for the tests.
#: The three TopoNet2D rows of the Chern study's causal test.
CHERN_WHY_MODELS = ("topo2d", "topo2d_ti_plain", "topo2d_ti")
#: Every factor of the Chern study's causal test and its full preset's settings (the sample-size factor: larger sides).
CHERN_WHY_FACTORS = {"objective": ("w_real",), "n_cells": (12,), "freedom": ("projected", "projected_tracking", "odd"),
                     "budget": (4,), "train_cherns": ("extrapolation",)}

CHERN_FULL = ChernStudyConfig(
    # the causal test at a budget of about 30 CPU hours (22 with the input spectra cached; docs/guide/chern_study.rst):
    # 8 x 8 samples, 512 training samples x 20 epochs (160 steps), the sample-size factor at 12 x 12
    why={"models": CHERN_WHY_MODELS, "seeds": 20, "seeds_per_task": 5, "epochs": 20, "factors": CHERN_WHY_FACTORS,
         "data": {"n_train": 512, "n_val": 256, "n_unseen": 200, "n_long": 100, "n_counterfactual": 200}},
)
CHERN_QUICK = ChernStudyConfig(
    name="quick", n_cells=6, n_train=600, n_val=200, n_test=200, size_lengths=(12,), n_size=64, n_unseen=120,
    n_counterfactual=80, disorder_strengths=(0.0, 4.0, 5.0), n_disorder=32, ensemble_factor=2, n_realizations=6,
    seeds=2, generic_seeds=2, lr_selection_seeds=2, lr_grid=(3e-3, 1e-2), epochs=12,
    why={"models": CHERN_WHY_MODELS, "seeds": 2, "epochs": 2, "factors": {**CHERN_WHY_FACTORS, "n_cells": (8,)},
         "data": {"n_train": 64, "n_val": 32, "n_unseen": 16, "n_long": 8, "n_counterfactual": 16}},
)
CHERN_TINY = ChernStudyConfig(
    name="tiny", n_cells=6, n_train=48, n_val=24, n_test=24, size_lengths=(10,), n_size=6, n_unseen=12,
    n_counterfactual=12, disorder_strengths=(0.0, 4.0), n_disorder=8, ensemble_factor=2, n_realizations=2,
    seeds=2, generic_seeds=2,
    lr_selection_seeds=1, lr_grid=(1e-3, 1e-2), epochs=2, batch_size=16,
    why={"models": ("topo2d", "topo2d_ti"), "seeds": 1, "epochs": 1,
         "factors": {"objective": ("w_real",), "n_cells": (8,), "freedom": ("projected", "odd"), "budget": (2,),
                     "train_cherns": ("extrapolation",)},
         "data": {"n_train": 16, "n_val": 8, "n_unseen": 8, "n_long": 4, "n_counterfactual": 8}},
)
CHERN_PRESETS = {"full": CHERN_FULL, "quick": CHERN_QUICK, "tiny": CHERN_TINY}
#: The studies ``tntopo reproduce --study`` runs, each with its presets.
STUDIES = {"winding": PRESETS, "chern": CHERN_PRESETS}


def get_config(name_or_config="full", *, study: str = "winding", **changes):
    """A preset by name (``"full"``, ``"quick"``, ``"tiny"``) of ``study`` (``"winding"``, the default, or
    ``"chern"``), or a config, with ``changes`` applied."""
    if isinstance(name_or_config, (StudyConfig, ChernStudyConfig)):
        cfg = name_or_config
        if cfg.kind != study and study != "winding":
            raise ValueError(f"the config is of the {cfg.kind!r} study, not {study!r}; drop study= or pass a preset name")
    else:
        if study not in STUDIES:
            raise ValueError(f"unknown study {study!r}; choose one of {set(STUDIES)}")
        presets = STUDIES[study]
        if name_or_config not in presets:
            raise ValueError(f"unknown study preset {name_or_config!r}; choose one of {set(presets)}")
        cfg = presets[name_or_config]
    return cfg.replace(**changes) if changes else cfg
