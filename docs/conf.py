"""Sphinx configuration of symce's documentation site (``python -m sphinx -W docs docs/_build``).

The narrative pages are Markdown (MyST); the notebooks are the jupytext py:percent files of
``notebooks/`` (``docs/notebooks`` is a link to that folder), executed at build time by myst-nb;
the spec, identity and benchmark pages are written from the code and ``benchmarks/results.*``
by ``_ext/symce_pages.py`` before Sphinx reads the sources. Math is rendered offline by LaTeX
and dvisvgm (``sphinx.ext.imgmath``): no JavaScript, no CDN, and a LaTeX error fails the build.
"""
import pathlib
import sys

DOCS = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))  # symce from this checkout, installed or not

project = "symce"
author = "the symce authors"
copyright = "symce authors"  # noqa: A001 -- Sphinx's name for it
release = version = "0.1.0"

extensions = [
    "myst_nb",  # Markdown (MyST) pages and notebooks; it includes myst_parser
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # the docstrings' Google-style Args:/Returns: sections
    "sphinx.ext.imgmath",
    "symce_pages",
]

# ----- sources -------------------------------------------------------------------------------------
# .py files are notebooks (jupytext py:percent) wherever they are sources: only those of notebooks/ are,
# conf.py and the extension are excluded below.
nb_custom_formats = {".py": ["jupytext.reads", {"fmt": "py:percent"}]}
source_suffix = {".md": "myst-nb", ".py": "myst-nb"}
exclude_patterns = ["_build", "conf.py", "_ext", "**/__pycache__", "jupyter_execute",
                    "notebooks/README.md"]  # notebooks.md is the notebooks' page
root_doc = "index"

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# ----- notebooks ----------------------------------------------------------------------------------
# Executed on every build that reads them ("force": a fresh CI build runs all seven; an incremental
# build into the same folder re-reads, so re-runs, only notebooks whose text changed). No
# jupyter-cache: a cache keyed on the notebook's text alone would serve outputs that symce's code has
# since made stale. A failing cell fails the build, as a cell over its timeout does.
nb_execution_mode = "force"
# seconds a cell may take: more than tests/test_notebooks.py's 180, since on a fresh machine the build may be
# the first to call the kernels, and kernels_vs_torch's accuracy cell then waits for numba to compile them all
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_kernel_rgx_aliases = {".*": "python3"}  # ipykernel's python3 spec: the interpreter running Sphinx
nb_merge_streams = True

# ----- math: LaTeX + dvisvgm, offline ---------------------------------------------------------------
imgmath_image_format = "svg"
imgmath_font_size = 14  # pt, a little below the body text (anyfontsize, texlive-latex-extra)
imgmath_latex_preamble = r"\usepackage{amsmath}\usepackage{amssymb}"
imgmath_use_preview = True  # preview.sty: each inline formula's depth, so it sits on the baseline
imgmath_embed = False  # files under _images/math/, which tests/test_docs.py checks

# ----- API reference ------------------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_typehints = "description"

# ----- HTML ------------------------------------------------------------------------------------------
html_theme = "alabaster"
html_title = "symce"
html_static_path = ["_static"]  # custom.css
html_theme_options = {"description": "The mathematics of classification losses, proven and compiled.",
                      "page_width": "1200px", "body_max_width": "auto", "sidebar_width": "260px"}
suppress_warnings = []
