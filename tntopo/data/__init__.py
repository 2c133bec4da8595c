"""Features, datasets (HDF5 shards or in memory), evaluation sets and torch Datasets for learning topology.

Target names, the same everywhere in tntopo: ``label`` (the exact integer winding number, the
class to predict), ``w_real`` (the real-space winding number of the input chain) and ``exact``
(the integer of an independent exact route, or :data:`NO_EXACT`).
"""
from .dataset import TARGETS, ArrayDataset, TopoDataset, make_dataset
from .evalsets import EvalSet, ablate_fixed, ablate_in_gap, build_eval_sets, load_eval_sets, save_eval_sets
from .features import FEATURES, compute_features, densities, hamiltonians, spectra, wavefunctions
from .lattice2d import generate_lattice_dataset, lattice_dataset, make_lattice_arrays, read_lattice_arrays
from .generate import (FORMAT_VERSION, NO_EXACT, CorruptDatasetError, UnknownFormatError, generate, make_arrays,
                       read_arrays, read_meta, register_format)

__all__ = [
    "FEATURES", "TARGETS", "compute_features", "densities", "hamiltonians", "spectra", "wavefunctions",
    "generate", "make_arrays", "read_arrays", "read_meta", "make_dataset", "TopoDataset", "ArrayDataset",
    "NO_EXACT", "CorruptDatasetError", "UnknownFormatError", "FORMAT_VERSION", "register_format",
    "EvalSet", "build_eval_sets", "save_eval_sets", "load_eval_sets", "ablate_fixed", "ablate_in_gap",
    "make_lattice_arrays", "generate_lattice_dataset", "read_lattice_arrays", "lattice_dataset",
]
