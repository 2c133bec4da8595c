"""tntopo: real-space topological invariants -- the winding number of 1D chiral chains and the Chern
number of 2D lattices -- as optimized, differentiable tensor networks, and a study of how neural
networks learn them.

>>> import tntopo
>>> chain = tntopo.SSHChain({0: 0.5, 1: 1.0}, n_cells=40)
>>> round(tntopo.winding_number(chain, method="dense"), 4)  # the bulk trace of a 40-cell open chain
1.0
>>> tntopo.chern_number(tntopo.Lattice2D.qwz(1.0, (12, 12), boundary="periodic"))
1

Every public name is imported on first use (PEP 562 ``__getattr__``): ``import tntopo`` costs
almost nothing, so the ``tntopo`` command parses its arguments (``--help``, ``--version``, typos)
before NumPy, SciPy or torch are loaded. ``from tntopo import SSHChain`` and ``tntopo.SSHChain``
work as usual; ``tntopo.nn``, ``tntopo.data``, ``tntopo.study`` and ``tntopo.plot`` are imported
when first touched as well.
"""
from . import _moved
from ._version import __version__

_moved.install()  # the module paths of the former layout, with a FutureWarning (tntopo._moved)

#: public name -> submodule that defines it (imported on first access)
_LAZY_NAMES = {
    "SSHChain": "systems.chain", "ChiralHamiltonian": "systems.chain", "ChainBatch": "systems.chain",
    "sample_chains": "systems.chain", "Lattice2D": "systems.lattice2d",
    "ChiralSymmetryError": "errors", "GaplessError": "errors", "GaplessWarning": "errors",
    "PrecisionError": "errors",
    "chern_number": "invariants", "local_chern_marker": "invariants", "local_winding_marker": "invariants",
    "winding_number": "invariants", "LocalOptions": "invariants", "ChernLocalOptions": "invariants",
    "disorder_average": "invariants.winding.ensemble", "disorder_sweep": "invariants.winding.ensemble",
    "analytic_winding": "invariants.winding.ensemble", "critical_t0": "invariants.winding.ensemble",
    "lyapunov_gap": "invariants.winding.ensemble", "phase_diagram": "invariants.winding.ensemble",
}
_LAZY_SUBPACKAGES = ("systems", "errors", "invariants", "parallel", "tn", "nn", "data", "study", "plot")


def __getattr__(name):
    """Import public names and subpackages on first use (see the module docstring)."""
    import importlib

    if name in _LAZY_NAMES:
        value = getattr(importlib.import_module(f".{_LAZY_NAMES[name]}", __name__), name)
        globals()[name] = value  # later lookups are plain attribute reads
        return value
    if name in _LAZY_SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    moved = _moved.moved_attribute(__name__, name)  # tntopo.chains, .ensemble, .phase, ...: a FutureWarning
    if moved is not None:
        return moved
    raise AttributeError(f"module 'tntopo' has no attribute {name!r}")


def __dir__():
    # the public names (what an eager ``import`` would have bound); subpackages appear once imported
    return sorted(set(globals()) | set(_LAZY_NAMES))


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
    "LocalOptions",
    "ChernLocalOptions",
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
