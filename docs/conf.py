"""Sphinx configuration for numpyro_semipar."""

import os
import pathlib
import subprocess
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
# Example pages are Markdown that include the scripts; the figures they show are produced at
# build time by running the demo's quick settings (``generate_figures`` below).
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
exclude_patterns = ["_build", "_generated", "**.ipynb_checkpoints"]

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


# Figures shown by the docs, written by ``examples/demo.py --quick`` into docs/_generated.
DOCS = pathlib.Path(__file__).resolve().parent
GENERATED = DOCS / "_generated"
FIGURE_COMMANDS = [
    (
        ["examples/demo.py", "--quick", "--out", str(GENERATED)],
        [
            "demo_mixing_cdf.png",
            "demo_smm_estimates.png",
            "demo_panel_groups.png",
            "demo_mcmc_trace.png",
            "demo_surrogate_fit.png",
        ],
    ),
    (
        ["examples/regression.py", "--num-obs", "200", "--out", str(GENERATED)],
        ["regression_forest.png"],
    ),
]


def _newest_source() -> float:
    sources = [*(DOCS.parent / "numpyro_semipar").rglob("*.py"), *DOCS.parent.glob("examples/*.py")]
    return max(path.stat().st_mtime for path in sources)


def generate_figures(app) -> None:
    """Run the figure scripts; a failing script fails the build (no figure is skipped).

    A script is rerun only when one of its figures is missing or older than the package or
    example sources, so a second build of unchanged code costs nothing.
    """
    GENERATED.mkdir(exist_ok=True)
    newest = _newest_source()
    env = {**os.environ, "MPLBACKEND": "Agg", "CI": "true"}
    for command, figures in FIGURE_COMMANDS:
        paths = [GENERATED / name for name in figures]
        if all(p.exists() and p.stat().st_mtime > newest for p in paths):
            continue
        for path in paths:
            path.unlink(missing_ok=True)
        run = subprocess.run(
            [sys.executable, *command], cwd=DOCS.parent, env=env, capture_output=True, text=True
        )
        missing = [p.name for p in paths if not p.exists()]
        if run.returncode != 0 or missing:
            raise RuntimeError(
                f"docs figures: {' '.join(command)} failed (exit {run.returncode}, missing "
                f"{missing}):\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
            )


def setup(app):
    app.connect("builder-inited", generate_figures)
