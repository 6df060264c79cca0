"""Sphinx configuration for numpyro_semipar."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "numpyro_semipar"
author = "numpyro_semipar developers"
copyright = "2026, numpyro_semipar developers"  # noqa: A001

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
]
# Example pages are Markdown that include the scripts; nothing is executed at build time.
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

autosummary_generate = True
autodoc_typehints = "none"
autodoc_default_options = {"members": True, "imported-members": True}
numpydoc_show_class_members = False
numpydoc_validation_checks: set[str] = set()

# No network in CI: intersphinx inventories are not fetched.
intersphinx_mapping: dict = {}
suppress_warnings = ["myst.header"]

html_theme = "pydata_sphinx_theme"
html_title = "numpyro_semipar"
html_static_path = ["_static"]
