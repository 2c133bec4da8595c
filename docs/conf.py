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
]

templates_path = ["_templates"]
html_static_path = []
exclude_patterns = ["_build", "examples", "Thumbs.db", ".DS_Store"]  # examples: sources of auto_examples
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
    "image_scrapers": ("matplotlib",),
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
    "description": "Real-space winding numbers of 1D chiral chains as tensor networks",
    "fixed_sidebar": True,
    "page_width": "1100px",
}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}
