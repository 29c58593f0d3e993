"""Sphinx configuration of the dlnkit documentation site.

Build it with ``bash scripts/build_docs.sh`` (= ``python3 -m sphinx -W --keep-going -b html docs
docs/_build/html``). Pages that describe what the project holds (claims, counterexamples, notebooks,
benchmarks, extra documents in ``docs/``) are generated at build time by ``docs/_ext/dlnkit_docs.py``
into ``docs/_generated/``, so a new claim, counterexample, notebook or benchmark run shows up without
editing anything here.

Why Sphinx (and not MkDocs): the docstrings of dlnkit are NumPy-style and use Sphinx roles
(``:func:``, ``:math:``, ``:class:``); autodoc + napoleon render them as written, cross-referenced,
and MathJax renders the math. MyST-NB renders the executed teaching notebooks (outputs, figures and
``$...$`` math) from the same build, and ``-W`` turns every warning into an error for CI.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))

project = "dlnkit"
author = "the dlnkit developers"
copyright = "2026, the dlnkit developers"
try:
    from dlnkit import __version__ as release
except ImportError:  # pragma: no cover - the docs need dlnkit installed
    release = "unknown"
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_nb",
    "dlnkit_docs",
]

# what Sphinx reads: Markdown (MyST), executed notebooks, reStructuredText
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "README.md", "img/*.md"]
root_doc = "index"

# MyST: $...$ / $$...$$ math in Markdown and notebooks, heading anchors for in-page links
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
# the notebooks are executed by dlnkit_docs (one kernel per notebook, reusing the test run's
# executed copies when DLNKIT_NOTEBOOK_CACHE names them); MyST-NB only renders them
nb_execution_mode = "off"
nb_merge_streams = True

# API reference from the docstrings (NumPy style)
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autosummary_generate = False
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_preprocess_types = False

html_theme = "furo"
html_title = f"dlnkit {release}"
html_static_path = ["_static"]
html_css_files = ["dlnkit.css"]  # wide tables wrap instead of hiding columns
# math renders offline: a local MathJax 3 (docs/_static/mathjax, trimmed from the npm package with its
# licence; see its README.md) instead of the CDN, which a laptop on a plane or a cluster node cannot reach
mathjax_path = "mathjax/tex-mml-chtml.js"
# keep "--" and quotes as typed: "dlnkit verify --full" must stay pasteable (no en dash, no curly quotes)
smartquotes = False
# a missing reference inside a docstring stays plain text (not every name is documented)
nitpicky = False
