"""The study's report (tntopo.study.report): results.md from a results.json, of this edition or an older one."""
import gzip
import json
from pathlib import Path

from tntopo.study.report import render_report, write_report

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "docs" / "study_results"
SECOND_EDITION = ROOT / "tests" / "data" / "study_results_second_edition.json.gz"


def test_committed_results_are_what_the_report_renders():
    """docs/study_results/results.md is the report of the committed results.json as the code renders it
    today (the third edition's full run): a change to the report needs the committed run re-rendered."""
    res = json.loads((COMMITTED / "results.json").read_text())
    assert res["schema"] == "tntopo.study/3" and res["config"]["name"] == "full"
    assert render_report(res) == (COMMITTED / "results.md").read_text()
    assert all(res["models"][m]["seeds"] >= (20 if "topo" in m else 8) for m in res["models"])
    # rendered from the cache: every seed of every row, and the selection seeds at the rates not chosen
    L = res["config"]["lr_selection_seeds"]
    assert res["timings"]["runs_reused"] == sum(e["seeds"] + (len(e["lr_selection"]["val_accuracy"]) - 1) * L
                                                for e in res["models"].values())


def test_second_edition_results_render(tmp_path):
    """A second-edition results.json (schema tntopo.study/2: boolean verdicts, map cells without a model)
    renders: the verdicts in words, the map rows without a model named "n/a"."""
    res = json.loads(gzip.decompress(SECOND_EDITION.read_bytes()))
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
