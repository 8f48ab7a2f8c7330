# DonatelloAI — the two set-up commands are `make run` and `make test`; both install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
INSTALLED := $(VENV)/.installed
NODE_INSTALLED := node_modules/.installed
# The FOCUS conformance checker needs Python >= 3.12 and its own pins (numpy<2), so its own environment.
FOCUS_VENV := .venv-focus
FOCUS_LOCK := tests/support/focus/requirements.lock
FOCUS_INSTALLED := $(FOCUS_VENV)/.installed
FOCUS_PYTHON ?= $(shell for p in python3.12 python3.13 $$(pyenv root 2>/dev/null)/versions/3.1[2-9]*/bin/python3 \
	$$HOME/.pyenv/versions/3.1[2-9]*/bin/python3 \
	/usr/local/bin/python3.1[2-9] /usr/bin/python3.1[2-9]; do \
	"$$p" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo "$$p"; break; }; done)

# Test processes (pytest-xdist workers): one per core; `make test JOBS=1` runs the tests in one process.
# worksteal: a worker that runs out takes half of the busiest one's queue, so the run does not end with one
# core idle behind a few long tests.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PYTEST_JOBS = $(if $(filter 1,$(JOBS)),,-n $(JOBS) --dist worksteal)
# Every worker, and every `donatello` process a test starts, compiles the sources and rewrites the test
# modules; with PYTHONDONTWRITEBYTECODE set (as on some machines) none of that was kept between runs, and
# collecting cost each worker about 6 s more CPU. The caches live in __pycache__/ (ignored by git).
PYTEST = PYTHONDONTWRITEBYTECODE= $(BIN)/pytest

.PHONY: help install focus-validator run test test-fast lint typecheck bench lock clean

help:
	@echo "make run    install, start the embedded database, migrate, seed the demo tenant, serve on 127.0.0.1:8000 (open http://127.0.0.1:8000/)"
	@echo "make test   install, lint, type-check, check import rules, run the tests (one process per core)"
	@echo "make test-fast  the tests without a browser, live servers or fuzzers (the inner loop)"
	@echo "make bench  run the benchmarks"
	@echo "make focus-validator  build .venv-focus/ (the FOCUS conformance checker make test runs)"
	@echo "make lint   ruff, mypy and import-linter only"

$(INSTALLED): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $@

$(NODE_INSTALLED): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(INSTALLED)

$(FOCUS_INSTALLED): $(FOCUS_LOCK) tests/support/focus/build-constraints.txt | $(INSTALLED)
	@test -n "$(FOCUS_PYTHON)" || { echo "the FOCUS validator needs Python 3.12+ (set FOCUS_PYTHON)"; exit 1; }
	@test -x $(FOCUS_VENV)/bin/python || $(BIN)/uv venv --quiet --python "$(FOCUS_PYTHON)" $(FOCUS_VENV)
	$(BIN)/uv pip sync --quiet --require-hashes --build-constraints tests/support/focus/build-constraints.txt \
		--python $(FOCUS_VENV)/bin/python $(FOCUS_LOCK)
	@touch $@

focus-validator: $(FOCUS_INSTALLED)

lock: $(INSTALLED)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile tests/support/focus/requirements.in --python-version 3.12 --generate-hashes -o $(FOCUS_LOCK)

run: $(INSTALLED)
	$(BIN)/donatello serve --migrate --seed-demo

lint: $(INSTALLED)
	$(BIN)/ruff check src tests bench alembic
	$(BIN)/ruff format --check src tests bench alembic
	$(BIN)/mypy
	$(BIN)/mypy tests
	$(BIN)/lint-imports

# The fault drills (failover, audit store outage) time their recovery under a load they make themselves:
# they run after the rest, one at a time, so the parallel tests do not share the cores with them.
test: $(INSTALLED) $(NODE_INSTALLED) $(FOCUS_INSTALLED) lint
	$(PYTEST) $(PYTEST_JOBS) -m "not drill"
	$(PYTEST) -m drill

# The inner loop: no browser, no live servers or processes, no fuzzers (markers set in tests/conftest.py).
test-fast: $(INSTALLED) $(NODE_INSTALLED)
	$(PYTEST) $(PYTEST_JOBS) -m "not browser and not slow and not drill"

bench: $(INSTALLED)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(FOCUS_VENV) node_modules .mypy_cache .pytest_cache .ruff_cache
