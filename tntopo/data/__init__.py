"""Features, datasets (HDF5 shards or in memory) and torch Datasets for learning topology."""
from .dataset import TARGETS, ArrayDataset, TopoDataset, make_dataset
from .features import FEATURES, compute_features, densities, hamiltonians, spectra, wavefunctions
from .generate import NO_EXACT, CorruptDatasetError, generate, make_arrays, read_arrays, read_meta

__all__ = [
    "FEATURES", "TARGETS", "compute_features", "densities", "hamiltonians", "spectra", "wavefunctions",
    "generate", "make_arrays", "read_arrays", "read_meta", "make_dataset", "TopoDataset", "ArrayDataset",
    "NO_EXACT", "CorruptDatasetError",
]
