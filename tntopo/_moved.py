"""Module paths of the former layout (issue 20), kept as aliases of the new modules for one release.

The old files are gone (``git mv``), so the old paths are served by an import finder that
``import tntopo`` puts first on ``sys.meta_path`` (first, so that no other finder -- an editable
install of an older checkout, say -- serves a stale file; it answers for the names of
:data:`MOVED` only, one dict lookup per import).
Importing an old path emits a :class:`FutureWarning` naming the new one (attributed to the
importing line) and binds the new module itself under the old name, so that
``tntopo.chains.SSHChain is tntopo.SSHChain`` and patching either name patches the same module.
``tntopo.invariants.chern``, formerly a module, is now the package of the Chern routes; the former
module's names are served by the package's ``__getattr__`` with the same warning.
The top-level names (``tntopo.SSHChain``, ``tntopo.winding_number``, ``tntopo.chern_number``, ...)
did not move.
"""
from __future__ import annotations

import importlib
import sys
import warnings
from importlib.machinery import ModuleSpec

#: old module path -> new module path (removed in the release after next)
MOVED = {
    "tntopo.chains": "tntopo.systems.chain",
    "tntopo.lattice": "tntopo.systems.lattice2d",
    "tntopo.ensemble": "tntopo.invariants.winding.ensemble",
    "tntopo.phase": "tntopo.invariants.winding.ensemble",
    "tntopo.invariants.api": "tntopo.invariants.winding.api",
    "tntopo.invariants.realspace": "tntopo.invariants.winding.dense",
    "tntopo.invariants.local": "tntopo.invariants.winding.local",
    "tntopo.invariants.bloch": "tntopo.invariants.winding.exact",
    "tntopo.invariants.chern_local": "tntopo.invariants.chern.local",
    "tntopo.invariants.chern_ensemble": "tntopo.invariants.chern.ensemble",
}


def warn_moved(old: str, new: str, stacklevel: int = 3) -> None:
    """The one message for a moved name: a ``FutureWarning`` naming the new path."""
    warnings.warn(f"{old} has moved to {new}: import it from there (the old path is removed in the release "
                  "after next)", FutureWarning, stacklevel=stacklevel)


class _MovedFinder:
    """Finds the old module paths of :data:`MOVED` (a meta path finder and its loader)."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        return ModuleSpec(name, cls) if name in MOVED else None

    @staticmethod
    def create_module(spec):
        return None  # a placeholder module; exec_module replaces it in sys.modules

    @staticmethod
    def exec_module(module) -> None:
        old = module.__name__
        # warn_moved <- exec_module <- (importlib's own frames, skipped) <- the importing line
        warn_moved(old, MOVED[old], stacklevel=3)
        # the import statement returns what sys.modules holds after this: the new module itself
        sys.modules[old] = importlib.import_module(MOVED[old])


def install() -> None:
    """Serve the old paths (idempotent: one finder per process)."""
    if _MovedFinder not in sys.meta_path:
        sys.meta_path.insert(0, _MovedFinder)


def moved_attribute(package: str, name: str):
    """``package.name`` for a moved submodule read as an attribute (``tntopo.ensemble``,
    ``tntopo.phase``, ``tntopo.invariants.realspace``) -- the new module, with the warning
    attributed to the reading line -- or ``None`` for any other name. Called by the package's
    ``__getattr__``."""
    full = f"{package}.{name}"
    if full not in MOVED:
        return None
    # warn_moved <- moved_attribute <- the package's __getattr__ <- the reading line
    warn_moved(full, MOVED[full], stacklevel=4)
    mod = importlib.import_module(MOVED[full])
    sys.modules[full] = mod  # as an import of the old path would (no second warning)
    return mod
