# Two commands do everything on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-test
RUNSTAMP := $(VENV)/.installed-run

.PHONY: run test lint typecheck bench compat clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(RUNSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[full]'
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(RUNSTAMP)

run: $(RUNSTAMP)
	$(BIN)/python -m lyre run examples.cheatsheet.app:app --host 127.0.0.1 --port 8000

test: $(STAMP)
	bash scripts/install-browser.sh $(BIN)/python
	$(BIN)/ruff check lyre tests bench examples
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check lyre tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m pip install -q -r bench/requirements.txt
	$(BIN)/python bench/run.py

# FastAPI's own test suite (0.165.0, then the newest release) on lyre through the starlette alias.
compat:
	bash compat/run_fastapi_suite.sh --version 0.165.0 --also-latest --min-pass 99
	bash compat/run_addon_suites.sh

clean:
	rm -rf $(VENV) build *.egg-info
