"""tntopo: real-space topological invariants of 1D chiral chains as optimized, differentiable
tensor networks, and a study of how neural networks learn them.

>>> import tntopo
>>> chain = tntopo.SSHChain({0: 0.5, 1: 1.0}, n_cells=40)
>>> round(tntopo.winding_number(chain, method="dense"), 6)
1.0
"""
from ._version import __version__
from .chains import ChainBatch, ChiralHamiltonian, SSHChain, sample_chains
from .lattice import Lattice2D
from .errors import ChiralSymmetryError, GaplessError, GaplessWarning, PrecisionError
from .invariants import chern_number, local_chern_marker, local_winding_marker, winding_number
from .ensemble import disorder_average, disorder_sweep
from .phase import analytic_winding, critical_t0, lyapunov_gap, phase_diagram

_LAZY_SUBPACKAGES = ("nn", "data", "study", "plot")


def __getattr__(name):
    """Import the torch-based subpackages (``tntopo.nn``, ``tntopo.data``, ``tntopo.study``) on first use."""
    if name in _LAZY_SUBPACKAGES:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'tntopo' has no attribute {name!r}")


__all__ = [
    "__version__",
    "SSHChain",
    "ChiralHamiltonian",
    "ChainBatch",
    "sample_chains",
    "Lattice2D",
    "chern_number",
    "local_chern_marker",
    "winding_number",
    "local_winding_marker",
    "disorder_average",
    "disorder_sweep",
    "phase_diagram",
    "critical_t0",
    "analytic_winding",
    "lyapunov_gap",
    "ChiralSymmetryError",
    "GaplessError",
    "GaplessWarning",
    "PrecisionError",
]
