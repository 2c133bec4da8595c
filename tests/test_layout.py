"""The package layout (issue 20): one folder per invariant with the same module names, and the
module paths of the former layout still importing -- with a FutureWarning -- for one release."""
import ast
import subprocess
import sys
from pathlib import Path

import tntopo
from tntopo._moved import MOVED

ROOT = Path(tntopo.__file__).resolve().parent


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=str(ROOT.parent))


def test_every_invariant_has_the_same_module_names():
    folders = sorted(p for p in (ROOT / "invariants").iterdir() if (p / "__init__.py").is_file())
    assert [p.name for p in folders] == ["chern", "winding"]
    # the public modules (private helpers such as a module of numba kernels, _name.py, are free)
    names = {p.name: sorted(f.stem for f in p.glob("*.py") if not f.stem.startswith("_")) for p in folders}
    assert names["winding"] == names["chern"] == ["api", "dense", "ensemble", "exact", "local"], names


_OLD_IMPORTS = r"""
import sys, warnings
warnings.simplefilter("always")
from tntopo._moved import MOVED
for old, new in MOVED.items():
    with warnings.catch_warnings(record=True) as caught:
        __import__(old)
    fw = [w for w in caught if issubclass(w.category, FutureWarning)]
    assert len(fw) == 1, (old, [str(w.message) for w in caught])
    assert f"{old} has moved to {new}" in str(fw[0].message), str(fw[0].message)
    assert fw[0].filename == "<string>", (old, fw[0].filename)  # the importing line, not importlib's
    assert sys.modules[old] is sys.modules[new], old  # one module: patching either patches both
import tntopo
assert tntopo.chains.SSHChain is tntopo.SSHChain and tntopo.lattice.Lattice2D is tntopo.Lattice2D
from tntopo.invariants.realspace import winding_from_blocks
from tntopo.invariants.winding.dense import winding_from_blocks as new
assert winding_from_blocks is new
print("ok")
"""


def test_old_module_paths_import_with_a_future_warning():
    proc = _run(_OLD_IMPORTS)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


_OLD_ATTRIBUTES = r"""
import warnings
warnings.simplefilter("always")
import tntopo, tntopo.invariants
for get, old, new in ((lambda: tntopo.ensemble, "tntopo.ensemble", "tntopo.invariants.winding.ensemble"),
                      (lambda: tntopo.invariants.bloch, "tntopo.invariants.bloch", "tntopo.invariants.winding.exact")):
    with warnings.catch_warnings(record=True) as caught:
        mod = get()
    assert mod.__name__ == new, mod
    assert [str(w.message).split(":")[0] for w in caught] == [f"{old} has moved to {new}"], caught
    assert caught[0].filename == "<string>", caught[0].filename
# names of the former module tntopo/invariants/chern.py, now the package of the Chern routes
with warnings.catch_warnings(record=True) as caught:
    from tntopo.invariants.chern import AUTO_LOCAL_DIM
from tntopo.invariants.chern.api import AUTO_LOCAL_DIM as new
assert AUTO_LOCAL_DIM == new
assert len(caught) == 1 and issubclass(caught[0].category, FutureWarning), caught
assert "tntopo.invariants.chern.AUTO_LOCAL_DIM has moved to tntopo.invariants.chern." in str(caught[0].message)
try:
    tntopo.invariants.chern.no_such_name
except AttributeError:
    pass
else:
    raise AssertionError("an unknown name must raise AttributeError")
print("ok")
"""


def test_old_attributes_warn_once_and_unknown_names_still_raise():
    proc = _run(_OLD_ATTRIBUTES)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


def test_the_library_itself_uses_no_old_path():
    old = set(MOVED)
    bad = []
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        pkg = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(pkg[: len(pkg) - node.level + 1]) if node.level else ""
                mod = ".".join(filter(None, [base, node.module or ""]))
                names = [mod] + [f"{mod}.{a.name}" for a in node.names]
            bad += [f"{path.relative_to(ROOT.parent)}:{node.lineno} imports {n}" for n in names if n in old]
    assert not bad, "\n".join(bad)


def test_public_api_unchanged():
    assert set(tntopo.__all__) >= {
        "SSHChain", "ChiralHamiltonian", "ChainBatch", "sample_chains", "Lattice2D", "winding_number",
        "local_winding_marker", "chern_number", "local_chern_marker", "disorder_average", "disorder_sweep",
        "phase_diagram", "critical_t0", "analytic_winding", "lyapunov_gap"}
    from tntopo.invariants.chern import api as chern_api
    from tntopo.invariants.winding import api as winding_api, ensemble

    assert tntopo.winding_number is winding_api.winding_number
    assert tntopo.chern_number is chern_api.chern_number
    assert tntopo.disorder_sweep is ensemble.disorder_sweep
