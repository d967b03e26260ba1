# Two commands do everything on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-test
RUNSTAMP := $(VENV)/.installed-run

.PHONY: run test test-pythons lint format typecheck bench bench-instructions compat compat-starlette clean fuzz fuzz-coverage soak

# The development install: editable, in setuptools' "compat" mode (a plain path entry), so type
# checkers see lyre as they see any installed package (the default mode's import hook hides it from
# mypy). A distribution named `lyre` (this project's former name, or the index's unrelated `lyre`) is
# removed first: it would shadow the `lyre` command.
EDITABLE := --config-settings editable_mode=compat

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(RUNSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip uninstall -q -y lyre 2>/dev/null || true
	$(BIN)/python -m pip install -q -e '.[full]' $(EDITABLE)
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip uninstall -q -y lyre 2>/dev/null || true
	$(BIN)/python -m pip install -q -e '.[test]' $(EDITABLE)
	touch $@ $(RUNSTAMP)

run: $(RUNSTAMP)
	$(BIN)/python -m lyre run examples.cheatsheet.app:app --host 127.0.0.1 --port 8000

# lyre's suite and Starlette 1.10's own suite (through the `starlette` alias), each run twice: with
# the fused default stack and with it off (LYRE_FUSION=0), so both stack shapes stay one behaviour.
test: $(STAMP)
	bash scripts/install-browser.sh $(BIN)/python
	bash scripts/install-redis.sh
	$(BIN)/ruff check lyre tests bench examples
	$(BIN)/ruff format --check lyre tests bench examples compat
	$(BIN)/mypy
	$(BIN)/python -m pytest
	LYRE_FUSION=0 $(BIN)/python -m pytest
	bash compat/run_starlette_suite.sh --quiet --fusion on
	bash compat/run_starlette_suite.sh --quiet --fusion off

# lyre's suite on Python 3.12 and 3.13, each in its own virtualenv (.venv-3.12, ...), when that
# interpreter is installed (on PATH or through pyenv); a missing one is reported and skipped (Debian 12
# packages only Python 3.11). `make test-pythons PYTHONS="3.12"` picks the versions.
PYTHONS ?= 3.12 3.13
test-pythons:
	bash scripts/test-pythons.sh $(PYTHONS)

lint: $(STAMP)
	$(BIN)/ruff check lyre tests bench examples
	$(BIN)/ruff format --check lyre tests bench examples compat
	$(BIN)/mypy

# Reformat the code (`make test` fails on unformatted files).
format: $(STAMP)
	$(BIN)/ruff format lyre tests bench examples compat

# mypy checks lyre and tests (strict): the paths and settings are [tool.mypy] in pyproject.toml.
typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m pip install -q -r bench/requirements.txt
	$(BIN)/python -m pytest -q -p no:cacheprovider bench/test_peers.py
	$(BIN)/python bench/run.py --servers uvicorn,granian

# Instructions per request under valgrind's callgrind (lyre, Starlette, raw ASGI): a count that does
# not move with the machine's load, for judging a change before and after (bench/instructions.py).
bench-instructions: $(STAMP)
	bash scripts/install-valgrind.sh
	$(BIN)/python -m pip install -q -r bench/requirements.txt
	$(BIN)/python bench/instructions.py

# Starlette 1.10's and FastAPI's own test suites on lyre through the starlette alias (FastAPI 0.165.0,
# then the newest release), with Starlette's baseline run on the real Starlette beside it.
compat: compat-starlette
	bash compat/run_fastapi_suite.sh --version 0.165.0 --also-latest --min-pass 99
	bash compat/run_addon_suites.sh

compat-starlette:
	bash compat/run_starlette_suite.sh --baseline
	bash compat/run_starlette_suite.sh --fusion on
	bash compat/run_starlette_suite.sh --fusion off

# Coverage-guided fuzzing of the whole application entry point (tests/fuzz/): random requests,
# WebSocket sessions, body chunkings and disconnects against one app that uses most of lyre. Findings
# are saved to tests/fuzz_corpus/ (replayed by `make test`); the corpus and a summary go to .fuzz/.
# `make fuzz FUZZ_SECONDS=3600` for an hour. Uses atheris (installed here), else hypothesis.
FUZZ_SECONDS ?= 600
FUZZSTAMP := $(VENV)/.installed-fuzz

$(FUZZSTAMP): $(STAMP)
	$(BIN)/python -m pip install -q 'atheris>=2.3' 'coverage>=7' || $(BIN)/python -m pip install -q 'coverage>=7'
	touch $@

fuzz: $(FUZZSTAMP)
	$(BIN)/python -m tests.fuzz.run --seconds $(FUZZ_SECONDS)
	$(BIN)/python -m tests.fuzz.run --coverage

# Line coverage of lyre/ reached by the corpus saved in .fuzz/corpus (`make fuzz` runs it at the end).
fuzz-coverage: $(FUZZSTAMP)
	$(BIN)/python -m tests.fuzz.run --coverage

# Soak test: the cheat-sheet demo served by uvicorn (as `make run`) under mixed traffic for
# SOAK_SECONDS (default 10 minutes): zero 5xx, no errors in the server log, flat memory and descriptors.
# Report and memory chart in bench/results/soak/.
SOAK_SECONDS ?= 600

soak: $(STAMP)
	$(BIN)/python bench/soak.py --seconds $(SOAK_SECONDS)

# The documentation site (MkDocs + Material + mkdocstrings), built into site/ with warnings as errors.
# Not part of `make test`; the docs' code samples are run by tests/test_docs_examples.py instead.
DOCSSTAMP := $(VENV)/.installed-docs

.PHONY: docs docs-serve

$(DOCSSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[docs]' $(EDITABLE)
	touch $@

docs: $(DOCSSTAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

docs-serve: $(DOCSSTAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict --dev-addr 127.0.0.1:8001

clean:
	rm -rf $(VENV) .venv-3.* build dist *.egg-info
