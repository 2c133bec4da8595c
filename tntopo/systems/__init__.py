"""The systems whose invariants tntopo computes, one module per dimension.

* :mod:`tntopo.systems.chain`: 1D chiral (class AIII) chains -- :class:`~tntopo.SSHChain`,
  :class:`~tntopo.ChiralHamiltonian`, :class:`~tntopo.ChainBatch`, :func:`~tntopo.sample_chains`.
* :mod:`tntopo.systems.lattice2d`: 2D class-A lattices -- :class:`~tntopo.Lattice2D` (QWZ, Haldane).
* :mod:`tntopo.systems.layout2d`: a 2D Hamiltonian laid out on its cell grid (the well-posed, image-shaped
  input of the 2D study), and back.
"""
from .chain import ChainBatch, ChiralHamiltonian, SSHChain, sample_chains
from .lattice2d import Lattice2D
from .layout2d import lattice_layout, layout_channels, layout_hamiltonian, layout_index, stencil_displacements

__all__ = ["SSHChain", "ChiralHamiltonian", "ChainBatch", "sample_chains", "Lattice2D", "lattice_layout", "layout_hamiltonian", "layout_index",
           "layout_channels", "stencil_displacements"]
