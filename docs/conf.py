"""Sphinx configuration of the tntopo documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html`` (warnings are errors). The
gallery examples in ``docs/examples`` are executed at build time; ``-D plot_gallery=0`` skips
them for a quick look at the prose.
"""
import os
import sys

# Examples make many small LAPACK calls: multi-threaded BLAS only adds overhead there (and
# is very slow on a busy machine). Set before numpy is first imported; override from outside.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

HERE = os.path.dirname(os.path.abspath(__file__))
# build from a checkout without installing: the package directory wins over an old install
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)  # _figure_check (the gallery's figure scraper)

import tntopo  # noqa: E402

project = "tntopo"
author = "The tntopo developers"
copyright = f"2026, {author}"
release = tntopo.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "matplotlib.sphinxext.plot_directive",
    "sphinx_gallery.gen_gallery",
    "myst_parser",  # the study results page includes the results.md written by `tntopo reproduce`
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
myst_heading_anchors = 3

templates_path = ["_templates"]
html_static_path = []
exclude_patterns = ["_build", "examples", "study_results", "Thumbs.db", ".DS_Store"]  # examples: sources of auto_examples
root_doc = "index"
nitpicky = False
pygments_style = "sphinx"

# -- API reference ------------------------------------------------------------------------------
# Public namespaces documented in api.rst; each gets one generated page (docs/gen_modules/api).
# Names re-exported at the top level are documented once, as tntopo.NAME, and linked from the
# subpackage pages (see _templates/autosummary/module.rst).
autosummary_generate = True
autosummary_ignore_module_all = False  # a module's public names are its __all__
autosummary_imported_members = False
autosummary_context = {"toplevel": [n for n in tntopo.__all__ if not n.startswith("_")]}
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc docstrings carry the types
autodoc_inherit_docstrings = False  # torch/concurrent.futures base-class docstrings are not numpydoc
add_module_names = False

numpydoc_show_class_members = False  # the class template lists members itself
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

# -- figures drawn inline by ``.. plot::`` (theory page) --------------------------------------
plot_include_source = False
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]
plot_rcparams = {"figure.autolayout": False}

# -- examples (sphinx-gallery) ------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("tntopo",),
    "reference_url": {"tntopo": None},
    "filename_pattern": r"/plot_",
    # _figure_check.check_figures: every figure has axis labels and readable legends (else the build fails)
    "image_scrapers": ("_figure_check.check_figures", "matplotlib"),
    "matplotlib_animations": False,
    "remove_config_comments": True,
    "min_reported_time": 1,
    "show_memory": False,
    "download_all_examples": False,
    "within_subsection_order": "sphinx_gallery.sorting.FileNameSortKey",
    "abort_on_example_error": True,
    "write_computation_times": False,  # no sg_execution_times.rst in the source tree
}

# -- HTML -----------------------------------------------------------------------------------------
html_theme = "alabaster"
html_title = f"tntopo {release}"
html_theme_options = {
    "description": "Real-space invariants of 1D chiral chains and 2D Chern insulators as tensor networks",
    "fixed_sidebar": True,
    "page_width": "1100px",
}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}


# -- the command line reference (cli.rst) ------------------------------------------------------
# ``.. tntopo-help:: winding`` renders ``tntopo winding --help`` from tntopo.cli.build_parser at
# build time (no argument: ``tntopo --help``), so the page cannot drift from the code. A
# subcommand of the parser that no directive renders is a warning -- an error under ``-W``.
from docutils import nodes  # noqa: E402
from docutils.parsers.rst import Directive  # noqa: E402

CLI_HELP_WIDTH = 92


def _cli_parsers():
    """``{"": the tntopo parser, "winding": its subparser, ...}``."""
    import argparse

    from tntopo.cli import build_parser

    parser = build_parser()
    out = {"": parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            out.update(action.choices)
    return out


def _cli_help(parser) -> str:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(CLI_HELP_WIDTH)  # argparse reads the width from COLUMNS
    try:
        return parser.format_help().rstrip()
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


class TntopoHelp(Directive):
    """``.. tntopo-help:: [SUBCOMMAND]``: the ``--help`` text of the tntopo command."""

    optional_arguments = 1

    def run(self):
        name = self.arguments[0] if self.arguments else ""
        parsers = _cli_parsers()
        if name not in parsers:
            raise self.error(f"tntopo has no subcommand {name!r}; it has {sorted(n for n in parsers if n)}")
        env = self.state.document.settings.env
        if not hasattr(env, "tntopo_cli_documented"):
            env.tntopo_cli_documented = {}
        env.tntopo_cli_documented.setdefault(env.docname, set()).add(name)
        cmd = "tntopo " + (f"{name} " if name else "") + "--help"
        block = nodes.literal_block(text=f"$ {cmd}\n{_cli_help(parsers[name])}")
        block["language"] = "text"
        return [block]


class TntopoRun(Directive):
    """``.. tntopo-run:: winding --hoppings 0:0.5,1:1.0 --n-cells 40``: run the command at build time
    and show it with its output, so quoted outputs cannot go stale.

    The command must exit with status 0 (or the ``:returncode:`` given); anything else fails the
    build. Use it for fast commands only; ``--out`` paths would be written into the build's
    working directory.
    """

    required_arguments = 1
    final_argument_whitespace = True
    option_spec = {"returncode": int}

    def run(self):
        import contextlib
        import io
        import shlex

        from tntopo.cli import main

        argv = shlex.split(self.arguments[0])
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(argv)
            except SystemExit as exc:  # argparse
                rc = exc.code
        want = self.options.get("returncode", 0)
        if rc != want:
            raise self.error(f"`tntopo {self.arguments[0]}` exited with {rc} (expected {want}): {err.getvalue()}")
        env = self.state.document.settings.env
        if not hasattr(env, "tntopo_cli_documented"):
            env.tntopo_cli_documented = {}
        env.tntopo_cli_documented.setdefault(env.docname, set())  # re-read on every build
        shown = "\n".join(x for x in (out.getvalue().rstrip(), err.getvalue().rstrip()) if x)
        block = nodes.literal_block(text=f"$ tntopo {' '.join(shlex.quote(a) for a in argv)}\n{shown}")
        block["language"] = "text"
        return [block]


def _check_cli_documented(app, env):
    from sphinx.util import logging

    if "cli" not in env.found_docs:
        return
    documented = set().union(*getattr(env, "tntopo_cli_documented", {}).values())
    missing = sorted(set(_cli_parsers()) - documented)
    if missing:
        logging.getLogger(__name__).warning(
            "docs/cli.rst does not document the tntopo subcommand(s) %s: add a section with "
            "'.. tntopo-help:: NAME'", ", ".join(repr(m) for m in missing))


def _purge_cli_documented(app, env, docname):
    getattr(env, "tntopo_cli_documented", {}).pop(docname, None)


def _merge_cli_documented(app, env, docnames, other):
    if not hasattr(env, "tntopo_cli_documented"):
        env.tntopo_cli_documented = {}
    env.tntopo_cli_documented.update(getattr(other, "tntopo_cli_documented", {}))


def _cli_always_outdated(app, env, added, changed, removed):
    """Re-read the pages with ``--help`` outputs on every build: the parser may have changed."""
    return [d for d in getattr(env, "tntopo_cli_documented", {}) if d in env.found_docs]


def setup(app):
    app.add_directive("tntopo-help", TntopoHelp)
    app.add_directive("tntopo-run", TntopoRun)
    _setup_study_table(app)
    app.connect("env-check-consistency", _check_cli_documented)
    app.connect("env-purge-doc", _purge_cli_documented)
    app.connect("env-merge-info", _merge_cli_documented)
    app.connect("env-get-outdated", _cli_always_outdated)
    return {"parallel_read_safe": True}


# -- tables of the study's configuration (guide/study.rst) --------------------------------------
# ``.. tntopo-study-table:: models`` / ``presets``: generated from tntopo.study.config, so the
# page shows the settings the code runs.
class TntopoStudyTable(Directive):
    """``.. tntopo-study-table:: models|presets``."""

    required_arguments = 1

    PRESET_ROWS = [
        ("n_cells", "chain length N"), ("ranges", "hopping ranges"), ("train_windings", "training windings"),
        ("unseen_windings", "unseen windings"), ("min_gap", "minimum Bloch gap"),
        ("n_train", "training chains"), ("n_val", "validation chains"), ("n_test", "test chains"),
        ("size_factor", "size generalization: length factor"), ("n_size", "size generalization: chains"),
        ("n_unseen", "unseen-winding chains"), ("n_counterfactual", "counterfactual chains"),
        ("disorder_strengths", "disorder strengths W"), ("disorder_lengths", "disorder chain lengths"),
        ("disorder_delta", "disorder: range of abs(ln t0 / t0_c)"), ("n_disorder", "chains per (length, strength)"),
        ("seeds", "seeds per model and head"), ("epochs", "epochs (every model)"), ("batch_size", "batch size"),
        ("lr_grid", "learning-rate grid"), ("heads", "heads"),
        ("trainability_threshold", "learns-invariant threshold"), ("pruning_ranks", "pruning ranks"),
    ]

    def _rows(self):
        from tntopo.study.config import PRESETS

        kind = self.arguments[0]
        if kind == "models":
            full = PRESETS["full"]
            header = ["name", "kind", "constructor arguments", "description"]
            rows = []
            for name, spec in full.models.items():
                kw = ", ".join(f"{k}={v!r}" for k, v in spec.kwargs.items()) or "-"
                rows.append([f"``{name}``", f"``{spec.kind}``", kw, spec.description])
            return header, rows, [14, 16, 22, 48]
        if kind == "presets":
            names = list(PRESETS)
            header = ["setting"] + [f"``{n}``" for n in names]
            rows = []
            for key, label in self.PRESET_ROWS:
                vals = [getattr(PRESETS[n], key) for n in names]
                rows.append([f"{label} (``{key}``)"] + [", ".join(map(str, v)) if isinstance(v, tuple) else str(v) for v in vals])
            rows.append(["models"] + [", ".join(PRESETS[n].models) for n in names])
            for sec in ("trainability_map", "landscape"):
                rows.append([f"``{sec}``"] + [", ".join(f"{k}: {v}" for k, v in (getattr(PRESETS[n], sec) or {}).items()
                                                        if k != "inits") for n in names])
            return header, rows, [30] + [20] * len(names)
        raise self.error(f"unknown table {kind!r}; choose 'models' or 'presets'")

    def run(self):
        from docutils.statemachine import StringList

        header, rows, widths = self._rows()
        lines = [".. list-table::", "   :header-rows: 1", f"   :widths: {' '.join(map(str, widths))}", ""]
        for row in [header] + rows:
            lines.append(f"   * - {row[0]}")
            lines += [f"     - {cell}" for cell in row[1:]]
        node = nodes.container()
        self.state.nested_parse(StringList(lines, source="tntopo-study-table"), self.content_offset, node)
        return node.children


def _setup_study_table(app):
    app.add_directive("tntopo-study-table", TntopoStudyTable)
