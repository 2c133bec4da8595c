"""The study's report (tntopo.study.report): results.md from a results.json, of this edition or an older one."""
import json
from pathlib import Path

from tntopo.study.report import render_report, write_report

COMMITTED = Path(__file__).resolve().parents[1] / "docs" / "study_results" / "results.json"


def test_second_edition_results_render(tmp_path):
    """The committed results.json (schema tntopo.study/2: boolean verdicts, map cells without a model)
    renders: the verdicts in words, the map rows without a model named "n/a"."""
    res = json.loads(COMMITTED.read_text())
    assert res["schema"] == "tntopo.study/2" and any(isinstance(f["holds"], bool) for f in res["findings"])
    assert any("model" not in c for c in res["trainability_map"]["cells"])
    md = render_report(res)
    n_true = sum(f["holds"] is True for f in res["findings"])
    n_false = sum(f["holds"] is False for f in res["findings"])
    findings = md.split("## Findings", 1)[1].split("###", 1)[0]
    assert findings.count("**holds**") == n_true and findings.count("**fails**") == n_false
    map_rows = [ln for ln in md.split("## Trainability map", 1)[1].split("\n## ", 1)[0].splitlines()
                if ln.startswith("| n/a |")]
    assert len(map_rows) == len(res["trainability_map"]["cells"])
    write_report(res, tmp_path / "results.md")
    assert (tmp_path / "results.md").read_text() == md
