"""CI smoke test: every ``benchmarks/*.py`` runs with ``--quick``, exits 0 and writes its ratios.

Each benchmark accepts ``--json PATH`` (see ``benchmarks/_common.py``) and writes the ratios it
measured in that run; they must be finite and positive (a ratio of 0, NaN or inf means a timing
or a result went wrong). Files starting with ``_`` are helpers, not benchmarks.
"""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = (sorted(p for p in (ROOT / "benchmarks").glob("*.py") if not p.name.startswith("_"))
           if (ROOT / "benchmarks").is_dir() else [])


@pytest.mark.slow  # every benchmark end to end, even with --quick: minutes in all
@pytest.mark.skipif(not SCRIPTS, reason="no benchmarks/ directory in this checkout")
@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_benchmark_runs_quick(script, tmp_path):
    if not script.exists():  # removed since collection
        pytest.skip(f"{script.name} is absent")
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="ignore")
    out = tmp_path / "ratios.json"
    proc = subprocess.run([sys.executable, str(script), "--quick", "--json", str(out)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{script.name} --quick failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert out.exists(), f"{script.name} --json {out} wrote no file (every benchmark writes its ratios)"
    doc = json.loads(out.read_text())
    ratios = doc["ratios"]
    assert ratios, f"{script.name} wrote no ratio"
    bad = {k: v for k, v in ratios.items() if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0)}
    assert not bad, f"{script.name}: ratios that are not finite and positive: {bad}"
