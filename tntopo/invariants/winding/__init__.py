"""Winding number of 1D chiral chains (class AIII): one module per route.

* :mod:`~tntopo.invariants.winding.api`: :func:`~tntopo.winding_number`,
  :func:`~tntopo.local_winding_marker` -- validate, pick the route (:mod:`tntopo.invariants._routes`), run it.
* :mod:`~tntopo.invariants.winding.dense`: the real-space trace over the bulk (polar factor,
  position kernel, bulk region, raw-block validation, the naive reference).
* :mod:`~tntopo.invariants.winding.local`: ``O(N)`` windows with an automatic buffer.
* :mod:`~tntopo.invariants.winding.exact`: exact integers, Bloch (clean chains) and twisted
  boundaries (periodic chains).
* :mod:`~tntopo.invariants.winding.ensemble`: disorder averages and sweeps on any executor,
  phase diagrams and the analytic boundary of the disordered nearest-neighbour chain (imported
  on use: :func:`~tntopo.disorder_sweep`, :func:`~tntopo.disorder_average`,
  :func:`~tntopo.phase_diagram`, :func:`~tntopo.critical_t0`, ...).
"""
from .api import as_blocks, local_winding_marker, winding_number
from .dense import bulk_region, bulk_window, polar_factor, position_kernel, reference_winding_number
from .exact import bloch_winding, twisted_determinants, twisted_winding

__all__ = [
    "winding_number",
    "local_winding_marker",
    "as_blocks",
    "bloch_winding",
    "twisted_winding",
    "twisted_determinants",
    "polar_factor",
    "position_kernel",
    "bulk_region",
    "bulk_window",
    "reference_winding_number",
]
