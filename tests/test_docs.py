"""The documentation: it builds with warnings as errors, every example draws its figure, and the
code on the prose pages runs as printed.

The sphinx build copies docs/ to a temporary directory, so it leaves nothing in the source tree
and never reuses a cached gallery run: it is the build CI and a fresh checkout see. The tests that
need the build are marked ``slow`` (``python -m pytest -m "not slow"`` skips them; CI runs them).
"""
import os
import re
import shutil
import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = sorted((DOCS / "examples").glob("plot_*.py"))
# pages whose ``>>>`` examples are doctested (their outputs are printed on the page)
DOCTEST_PAGES = sorted((DOCS / "guide").glob("*.rst")) + [DOCS / n for n in ("conventions.rst", "getting_started.rst",
                                                                              "index.rst")]


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    """Build the docs once with ``-W`` (examples executed); return the HTML directory."""
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    pytest.importorskip("sphinx_gallery")
    tmp = tmp_path_factory.mktemp("docs")
    src = tmp / "docs"
    shutil.copytree(DOCS, src, ignore=shutil.ignore_patterns("_build", "auto_examples", "gen_modules"))
    shutil.copy(ROOT / "README.md", tmp / "README.md")  # getting_started includes its Quickstart
    out = tmp / "html"
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp / "doctrees"), str(src), str(out)],
        cwd=tmp, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, f"sphinx-build -W failed:\n{proc.stderr[-6000:]}"
    return out


@pytest.mark.slow  # builds the docs (the gallery examples run): minutes
def test_docs_build_without_warnings(html):
    for page in ["index", "getting_started", "conventions", "theory", "api", "cli",
                 "guide/chains", "guide/invariants", "guide/disorder", "guide/datasets", "guide/models",
                 "guide/training", "guide/study", "auto_examples/index"]:
        assert (html / f"{page}.html").is_file(), page


@pytest.mark.slow  # builds the docs (the gallery examples run): minutes
def test_results_page_shows_the_full_study(html):
    """results.md of a full `tntopo reproduce` run is included with its figures, and its table
    matches the committed results.json."""
    import json

    page = (html / "results.html").read_text()
    res = json.loads((DOCS / "study_results" / "results.json").read_text())
    for name in res["models"]:
        assert name in page, name
    for fig in ["disorder_accuracy", "trainability", "pruning", "toponet_weights", "training_curves"]:
        assert (html / "_images" / f"{fig}.png").is_file(), fig
        assert f"{fig}.png" in page


@pytest.mark.slow  # builds the docs (the gallery examples run): minutes
def test_every_example_renders_a_figure(html):
    assert EXAMPLES, "no gallery examples found"
    for ex in EXAMPLES:
        assert (html / "auto_examples" / f"{ex.stem}.html").is_file(), ex.name
        figure = html / "_images" / f"sphx_glr_{ex.stem}_001.png"
        assert figure.is_file() and figure.stat().st_size > 5000, f"{ex.name} drew no figure"


@pytest.mark.slow  # builds the docs (the gallery examples run): minutes
def test_theory_network_drawing(html):
    # the winding network, then TopoNet's network (plot directives of theory.rst, in order)
    assert len(list((html / "_images").glob("theory-*.png"))) >= 2, "a tensor-network drawing is missing"


@pytest.mark.slow  # builds the docs (the gallery examples run): minutes
def test_cli_page_shows_every_subcommand_help(html):
    """cli.rst renders ``--help`` of the parser at build time: every subcommand, as the code has it."""
    import argparse

    from tntopo.cli import build_parser

    page = unescape(re.sub(r"<[^>]+>", "", (html / "cli.html").read_text()))
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert "usage: tntopo [-h]" in page
    for name, parser in sub.choices.items():
        assert f"$ tntopo {name} --help" in page and f"usage: tntopo {name}" in page, name
        for action in parser._actions:
            for flag in action.option_strings:
                assert flag in page, f"tntopo {name} {flag} is not on the CLI page"


@pytest.mark.slow  # builds the docs (the gallery examples run): minutes
def test_study_page_tables_follow_the_config(html):
    from tntopo.study.config import PRESETS

    page = unescape(re.sub(r"<[^>]+>", "", (html / "guide" / "study.html").read_text()))
    for preset in PRESETS.values():
        for name, spec in preset.models.items():
            assert name in page and spec.kind in page, name


@pytest.mark.slow  # builds the docs (the gallery examples run): minutes
def test_api_reference_lists_public_names(html):
    import tntopo

    for name in tntopo.__all__:
        if not name.startswith("_"):
            assert (html / "gen_modules" / "api" / f"tntopo.{name}.html").is_file(), name


@pytest.mark.parametrize("page", DOCTEST_PAGES, ids=lambda p: p.name)
def test_page_examples_run_as_printed(page):
    # in a fresh process with single-threaded BLAS, as in the docs build (conf.py)
    env = dict(os.environ, **{v: "1" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")})
    proc = subprocess.run(
        [sys.executable, "-m", "doctest", "-o", "ELLIPSIS", "-o", "NORMALIZE_WHITESPACE", str(page)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"{page.name}: examples do not print what the page says\n{proc.stdout[-4000:]}"


def test_getting_started_code_runs():
    """Its Python is doctested (DOCTEST_PAGES): no untested ``code-block:: python`` is left."""
    text = (DOCS / "getting_started.rst").read_text()
    assert ">>> tntopo.winding_number(chain)" in text
    assert ".. code-block:: python" not in text


# a `tntopo ...` line in a bash block with a trailing ``# <number>`` claims an output nobody checks
_CLAIMED_OUTPUT = re.compile(r"^[ \t]+tntopo [^#\n]*#\s*[-+]?\d[\d.]*\s*$", re.M)
_RUN = re.compile(r"^\.\. tntopo-run:: (.+?)\n((?:   :returncode: \d+\n)?)", re.M)


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.rst")) + sorted((DOCS / "guide").glob("*.rst")),
                         ids=lambda p: p.name)
def test_quoted_command_outputs_are_executed(page):
    """Outputs of `tntopo` commands are shown by ``.. tntopo-run::`` (run in the docs build), never
    typed into a comment; the commands given to it run here too, with the expected status."""
    import contextlib
    import io
    import shlex

    from tntopo.cli import main

    text = page.read_text()
    stale = _CLAIMED_OUTPUT.findall(text)
    assert not stale, f"{page.name}: outputs typed by hand (use .. tntopo-run::): {stale}"
    for command, opt in _RUN.findall(text):
        want = int(opt.split()[-1]) if opt else 0
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert main(shlex.split(command)) == want, command


@pytest.mark.slow  # builds the docs (the gallery examples run): minutes
def test_getting_started_shows_the_readme_quickstart(html):
    """getting_started includes the first ```bash block of the README: it must be the Quickstart."""
    readme = (ROOT / "README.md").read_text()
    quick = re.search(r"## Quickstart\n\n```bash\n(.*?)```", readme, re.S)
    assert quick and readme.index("```bash") == quick.start() + len("## Quickstart\n\n")
    page = unescape(re.sub(r"<[^>]+>", "", (html / "getting_started.html").read_text()))
    for line in quick.group(1).strip().splitlines():
        assert line in page, f"the README Quickstart line {line!r} is not on getting_started"


def test_citation_matches_the_package_version():
    import tntopo

    cff = (ROOT / "CITATION.cff").read_text()
    assert re.search(r"^cff-version: 1\.2\.0$", cff, re.M)
    assert re.search(rf"^version: {re.escape(tntopo.__version__)}$", cff, re.M), "CITATION.cff version is stale"


def test_package_ships_its_licence_type_hints_and_citation():
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert cfg["metadata"]["license"] == "MIT" and cfg["metadata"]["license_files"].strip() == "LICENSE"
    assert "MIT License" in (ROOT / "LICENSE").read_text() and "tntopo developers" in (ROOT / "LICENSE").read_text()
    assert (ROOT / "tntopo" / "py.typed").is_file() and "py.typed" in cfg["options.package_data"]["tntopo"]
    assert "## Unreleased" in (ROOT / "CHANGELOG.md").read_text()
    cff = (ROOT / "CITATION.cff").read_text()
    assert "doi: 10.1103/PhysRevLett.113.046802" in cff  # the paper the study reproduces (docs/theory.rst)
    assert "Phys. Rev. Lett. 113, 046802" in (DOCS / "theory.rst").read_text()
