"""Topological invariants, one subpackage per invariant with the same module names.

* :mod:`tntopo.invariants.winding`: winding number of 1D chiral chains.
* :mod:`tntopo.invariants.chern`: Chern number of 2D class-A lattices.

Each holds ``api`` (the public entry points), ``dense``, ``local``, ``exact`` (its routes) and
``ensemble`` (disorder averages); the automatic choice of a route is made once, in
:mod:`tntopo.invariants._routes` (:func:`resolve_route`).
"""
from . import chern, winding
from ._routes import ChernLocalOptions, LocalOptions, Route, resolve_route
from .chern import bott_index, chern_number, fhs_chern, local_chern_marker, reference_chern_marker
from .winding import (
    as_blocks,
    bloch_winding,
    bulk_region,
    bulk_window,
    local_winding_marker,
    polar_factor,
    position_kernel,
    reference_winding_number,
    twisted_determinants,
    twisted_winding,
    winding_number,
)

__all__ = ["resolve_route", "Route", "LocalOptions", "ChernLocalOptions", *winding.__all__, *chern.__all__]


def __getattr__(name):
    # former modules of this package read as attributes (tntopo.invariants.realspace): tntopo._moved
    from .._moved import moved_attribute

    mod = moved_attribute(__name__, name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return mod
