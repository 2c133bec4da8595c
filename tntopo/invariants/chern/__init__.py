"""Chern number of 2D class-A systems: one module per route, as for the winding number.

* :mod:`~tntopo.invariants.chern.api`: :func:`~tntopo.chern_number`,
  :func:`~tntopo.local_chern_marker` -- validate, pick the route (:mod:`tntopo.invariants._routes`), run it.
* :mod:`~tntopo.invariants.chern.local`: ``O(N)`` windows (each window's projector from its
  ``eigh`` or a Chebyshev expansion).
* :mod:`~tntopo.invariants.chern.ensemble`: disorder ensembles and ``(m, W)`` phase diagrams on
  any executor (imported on use).
"""
from .api import bott_index, chern_number, fhs_chern, local_chern_marker, reference_chern_marker

__all__ = ["chern_number", "local_chern_marker", "fhs_chern", "bott_index", "reference_chern_marker"]

