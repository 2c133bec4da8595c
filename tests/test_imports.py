"""Import hygiene: every module imports alone, the layers import one way, importing changes nothing.

The layer table below is the one in ``docs/architecture.rst``: a module may import (at module
level or inside a function) only modules of its own layer or of lower layers. A new top-level
module must be given a layer here.
"""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "tntopo"

#: (module prefix, layer): the longest matching prefix decides.
LAYERS = [
    ("tntopo._version", 0), ("tntopo._typing", 0), ("tntopo._io", 0), ("tntopo._blas", 0), ("tntopo._lapack", 0),
    ("tntopo._polar", 0), ("tntopo._scratch", 0), ("tntopo._memory", 0), ("tntopo._pythtb", 0), ("tntopo._bonds", 0), ("tntopo._laurent", 0), ("tntopo._moved", 0), ("tntopo.errors", 0),
    ("tntopo.systems", 1), ("tntopo.parallel", 1),
    ("tntopo.tn", 2), ("tntopo.invariants", 2),  # invariants/<name>/{api,dense,local,exact,ensemble}
    ("tntopo.nn", 3), ("tntopo.data", 3),
    ("tntopo.plot", 4),  # figures of plain results: the study calls them, they never import the study
    ("tntopo.study", 5),
    ("tntopo.cli", 6),
]


def _modules():
    out = {}
    for p in sorted(ROOT.rglob("*.py")):
        parts = list(p.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _layer(mod):
    best = max((p for p, _ in LAYERS if mod == p or mod.startswith(p + ".")), key=len, default=None)
    return None if best is None else dict(LAYERS)[best]


def _imports(mod, path):
    """tntopo modules imported anywhere in ``path`` (plus the packages they live in)."""
    is_pkg = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target for a in node.names]
        for t in targets:
            while t not in MODULES and "." in t:
                t = t.rsplit(".", 1)[0]
            if t in MODULES and t.startswith("tntopo"):
                # importing a.b.c runs a.b's __init__ too (unless a.b is the importer's own package,
                # which is already being imported)
                parts = t.split(".")
                found.update(".".join(parts[:k]) for k in range(2, len(parts) + 1))
    own = mod.split(".")
    return {f for f in found if f != "tntopo" and f != mod and not (own[: len(f.split("."))] == f.split("."))}


def test_every_module_has_a_layer():
    missing = [m for m in MODULES if m != "tntopo" and _layer(m) is None]
    assert not missing, f"give these modules a layer in tests/test_imports.py and docs/architecture.rst: {missing}"


def test_imports_go_down_the_layers():
    bad = []
    for mod, path in MODULES.items():
        if mod == "tntopo" or _layer(mod) is None:
            continue
        for dep in _imports(mod, path):
            if _layer(dep) is not None and _layer(dep) > _layer(mod):
                bad.append(f"{mod} (layer {_layer(mod)}) imports {dep} (layer {_layer(dep)})")
    assert not bad, "imports against the data flow:\n" + "\n".join(sorted(bad))


def test_no_import_cycle():
    graph = {m: _imports(m, p) for m, p in MODULES.items() if m != "tntopo"}
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


_CHILD = r"""
import importlib, os, sys
os.environ.setdefault("MPLBACKEND", "Agg")
# third-party packages first (this is about tntopo's own modules, and forking after them is cheap)
for dep in ("numpy", "scipy.sparse", "torch", "quimb.tensor", "cotengra", "matplotlib.pyplot", "h5py",
            "networkx", "tqdm.auto"):
    try:
        importlib.import_module(dep)
    except ImportError:
        pass
assert not any(m == "tntopo" or m.startswith("tntopo.") for m in sys.modules)
os.umask(0o027)
failures, running = [], {}


def reap():
    pid, _ = os.wait()
    mod, r = running.pop(pid)
    with os.fdopen(r) as f:  # a message of < 4 kB fits the pipe: the child never blocks
        msg = f.read()
    if msg:
        failures.append(f"{mod}: {msg}")


for mod in sys.argv[1:]:
    if len(running) >= 4:
        reap()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # a fresh tntopo state: import this module first, alone
        os.close(r)
        msg = ""
        try:
            importlib.import_module(mod)
            if os.umask(0o027) != 0o027:
                msg = "changed the process umask"
        except BaseException as exc:
            msg = f"{type(exc).__name__}: {exc}"
        os.write(w, msg.encode()[:4000])
        os._exit(0)
    os.close(w)
    running[pid] = (mod, r)
while running:
    reap()
print("\n".join(failures))
sys.exit(1 if failures else 0)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_each_module_imports_alone_in_a_fresh_interpreter():
    mods = sorted(MODULES)
    proc = subprocess.run([sys.executable, "-c", _CHILD, *mods], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONWARNINGS="ignore"))
    assert proc.returncode == 0, f"modules that fail when imported first:\n{proc.stdout}\n{proc.stderr[-2000:]}"


def test_import_tntopo_is_lazy():
    """``import tntopo`` loads nothing heavy (the CLI parses before NumPy/torch); names load on use."""
    code = ("import sys, tntopo; assert 'numpy' not in sys.modules, 'import tntopo loaded numpy'; "
            "from tntopo import SSHChain; assert 'tntopo.systems.chain' in sys.modules; "
            "assert sorted(n for n in tntopo.__all__ if not hasattr(tntopo, n)) == []; "
            "assert set(tntopo.__all__) <= set(dir(tntopo))")
    proc = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_import_tntopo_is_light_and_clean():
    code = "import tntopo; tntopo.winding_number"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-W", "error", "-c", code], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    heavy = {m for m in loaded if m.split(".")[0] in ("torch", "matplotlib", "quimb", "cotengra", "h5py", "networkx")}
    assert not heavy, f"'import tntopo' should not load {sorted(heavy)} (import them lazily)"
    assert "tntopo.invariants.winding.local" in loaded and "tntopo.study" not in loaded
