# numpyro_semipar developer entry points.
#   make demo   - create .venv if needed, then run examples/demo.py (all four capabilities, ~2 min)
#   make test   - create .venv if needed, lint, run the test suite, build the docs (-W)
# The virtual environment is built with the first Python >= 3.12 found on the machine.

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# Two workers (CI has 2 cores); a file's tests stay on one worker so its compilations are shared.
PYTEST_XDIST ?= -n 2 --dist loadfile

# Find a Python >= 3.12: python3.13/python3.12 on PATH, then pyenv's, then python3.
FIND_PYTHON = for c in python3.13 python3.12 \
	  $$(command -v pyenv >/dev/null 2>&1 && ls -d "$$(pyenv root)"/versions/3.1[2-9]*/bin/python 2>/dev/null | sort -rV) \
	  python3 python; do \
	  p=$$(command -v $$c 2>/dev/null) || continue; \
	  if "$$p" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then echo "$$p"; exit 0; fi; \
	done; echo "no Python >= 3.12 found (install python3.12 or pyenv 3.12)" >&2; exit 1

.PHONY: venv demo test test-fast lint docs bench clean help

help:
	@echo "make demo | test | test-fast | lint | docs | bench | clean"

$(PY):
	@py=$$($(FIND_PYTHON)) && echo "creating $(VENV) with $$py" && "$$py" -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -U pip

# Reinstall only when the project metadata changed (re-running is fast otherwise).
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,hank]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	MPLBACKEND=Agg $(PY) examples/demo.py

lint: $(STAMP)
	$(VENV)/bin/ruff check numpyro_semipar tests examples benchmarks docs
	$(VENV)/bin/ruff format --check numpyro_semipar tests examples benchmarks docs

# pytest exits 5 when it ran no tests: that is a failure here, not a pass.
test: $(STAMP) lint
	@MPLBACKEND=Agg $(VENV)/bin/pytest $(PYTEST_XDIST) $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest ran no tests" >&2; exit 1; fi; exit $$rc
	$(MAKE) docs

test-fast: $(STAMP)
	MPLBACKEND=Agg $(VENV)/bin/pytest -m "not slow" $(PYTEST_XDIST) $(PYTEST_ARGS)

docs: $(STAMP)
	MPLBACKEND=Agg $(VENV)/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html

bench: $(STAMP)
	MPLBACKEND=Agg $(PY) benchmarks/run_all.py

clean:
	rm -rf docs/_build docs/api/generated .pytest_cache .ruff_cache
