"""Chern number of 2D class-A systems: one module per route, as for the winding number.

* :mod:`~tntopo.invariants.chern.api`: :func:`~tntopo.chern_number`,
  :func:`~tntopo.local_chern_marker` -- validate, pick the route (:mod:`tntopo.invariants._routes`), run it.
* :mod:`~tntopo.invariants.chern.dense`: the local Chern marker of whole samples (batched
  ``eigh``, the marker network), the checks of raw Hamiltonians, the naive reference.
* :mod:`~tntopo.invariants.chern.exact`: exact integers, Fukui-Hatsugai-Suzuki (clean lattices)
  and the Bott index (periodic samples).
* :mod:`~tntopo.invariants.chern.local`: ``O(N)`` windows (each window's projector from its
  ``eigh`` or a Chebyshev expansion).
* :mod:`~tntopo.invariants.chern.ensemble`: disorder ensembles and ``(m, W)`` phase diagrams on
  any executor (imported on use).
"""
from .api import bott_index, chern_number, local_chern_marker
from .dense import reference_chern_marker
from .exact import fhs_chern

__all__ = ["chern_number", "local_chern_marker", "fhs_chern", "bott_index", "reference_chern_marker"]


def __getattr__(name):
    # the names of the former module tntopo/invariants/chern.py, now in its route modules: served
    # with a FutureWarning for one release (tntopo._moved)
    import sys

    from ..._moved import warn_moved

    if not name.startswith("__"):
        for sub in ("api", "dense", "exact"):
            mod = sys.modules.get(f"{__name__}.{sub}")
            if mod is not None and name in vars(mod):
                warn_moved(f"{__name__}.{name}", f"{mod.__name__}.{name}")
                value = globals()[name] = getattr(mod, name)  # warned once, as an import is
                return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
