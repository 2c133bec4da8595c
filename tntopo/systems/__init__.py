"""The systems whose invariants tntopo computes, one module per dimension.

* :mod:`tntopo.systems.chain`: 1D chiral (class AIII) chains -- :class:`~tntopo.SSHChain`,
  :class:`~tntopo.ChiralHamiltonian`, :class:`~tntopo.ChainBatch`, :func:`~tntopo.sample_chains`.
* :mod:`tntopo.systems.lattice2d`: 2D class-A lattices -- :class:`~tntopo.Lattice2D` (QWZ, Haldane).
"""
from .chain import ChainBatch, ChiralHamiltonian, SSHChain, sample_chains
from .lattice2d import Lattice2D

__all__ = ["SSHChain", "ChiralHamiltonian", "ChainBatch", "sample_chains", "Lattice2D"]
