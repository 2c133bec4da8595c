"""Neural networks for topology: the differentiable invariant, TopoNet, baselines, one model registry,
training and evaluation, and safe model files.

Every model maps real features ``(B, 2N, 2N)`` (see :mod:`tntopo.data`) to ``(B,)`` predicted
winding numbers (or ``(B, K)`` logits when built as a classifier), and takes ``n_cells`` and
``seed`` in its constructor.

* :mod:`~tntopo.nn.registry` -- :data:`MODELS`, :func:`build_model`, :func:`register_model`;
* :mod:`~tntopo.nn.training` -- :func:`train`, :func:`evaluate`, :func:`predict`, :class:`History`,
  :func:`select_lr`, :func:`effective_parameters`;
* :mod:`~tntopo.nn.batched` -- :func:`train_seeds` (many seeds as one vmapped model);
* :mod:`~tntopo.nn.serialization` -- :func:`save_model`, :func:`load_model` (no unpickling of code);
* :mod:`~tntopo.nn.lattice_models` -- the models of the Chern study, on lattice layouts ``(B, C, Lx, Ly)``
  (:func:`tntopo.systems.lattice_layout`): TopoNet2D rows and generic networks; :func:`spectrum_cache`
  bounds the per-process cache of their input spectra.
"""
from . import functional
from .baselines import CNN, MLP, ShallowNet, SymmetricNet
from .pruning import prune_svd, singular_values
from .registry import MODELS, ModelEntry, WindingClassifier, accepts_size, build_model, model_names, register_model
from .serialization import ModelFileError, load_model, read_model_meta, save_model
from .toponet import CommutatorTopoNet, OddTopoNet, TopoNet
from .toponet2d import TopoNet2D
from . import chern
from . import lattice_models
from .lattice_models import (CommutatorLayoutTopoNet2D, KSpaceCNN, LatticeCNN, LatticeMLP, LayoutTopoNet2D,
                             OddLayoutTopoNet2D, layout_to_hamiltonian, spectrum_cache)
from .training import (History, TrainingDivergedError, check_device, effective_parameters, evaluate, n_parameters, predict,
                       select_lr, train)
from .batched import train_seeds

__all__ = ["functional", "TopoNet", "OddTopoNet", "CommutatorTopoNet", "MLP", "ShallowNet", "CNN", "SymmetricNet",
           "prune_svd", "singular_values", "MODELS", "ModelEntry", "build_model", "register_model", "model_names",
           "WindingClassifier", "accepts_size", "save_model", "load_model", "read_model_meta", "ModelFileError",
           "train", "evaluate", "predict", "History", "select_lr", "n_parameters", "effective_parameters",
           "TrainingDivergedError", "check_device", "TopoNet2D", "chern", "train_seeds", "lattice_models",
           "LayoutTopoNet2D", "OddLayoutTopoNet2D", "CommutatorLayoutTopoNet2D", "LatticeCNN", "LatticeMLP", "KSpaceCNN",
           "layout_to_hamiltonian", "spectrum_cache"]
