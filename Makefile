# The one place the project's commands live: people, CI and docs all use these targets.
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
#: pytest-xdist workers (tests use free ports, private data dirs and per-test databases)
WORKERS ?= auto

.PHONY: install run test test-stock test-stock-core lint typecheck unit integration acceptance bench bench-smoke clean migration

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[server,dev]'
	touch $@

## Install (if needed) and start the gateway on its embedded defaults (SQLite, local files, in-process workers).
run: install
	$(VENV)/bin/mediagate serve --host $(HOST) --port $(PORT)

## Lint, type-check and run the whole test suite (in parallel: pytest-xdist).
test: install lint typecheck
	$(PY) -m pytest -q -n $(WORKERS) tests

## The suite on the stock drivers (MEDIAGATE_FAST_PATHS=false: aiosqlite, httpx's own transport).
test-stock: install
	MEDIAGATE_FAST_PATHS=false $(PY) -m pytest -q -n $(WORKERS) tests

## What CI runs on the stock drivers: the unit and integration tiers (every store and vendor-HTTP path
## in-process; the acceptance tier's servers run the same code, and `make test-stock` covers them).
test-stock-core: install
	MEDIAGATE_FAST_PATHS=false $(PY) -m pytest -q -n $(WORKERS) tests/unit tests/integration

lint: install
	$(PY) -m ruff check src tests examples $(wildcard bench)

typecheck: install
	$(PY) -m mypy

unit: install
	$(PY) -m pytest -q -n $(WORKERS) tests/unit

integration: install
	$(PY) -m pytest -q -n $(WORKERS) tests/integration

acceptance: install
	$(PY) -m pytest -q -n $(WORKERS) tests/acceptance

## Benchmarks (docs/benchmarks.md): HTTP overhead and capacity, embedded then scale-out (PostgreSQL +
## Redis on 127.0.0.1). Several minutes each; the verdicts are ratios against baselines of the same run.
bench: install
	$(PY) bench/http_overhead.py
	$(PY) bench/capacity.py
	$(PY) bench/http_overhead.py --scale-out
	$(PY) bench/capacity.py --scale-out

## The same scripts in a few seconds each: checks that they still work (numbers meaningless).
bench-smoke: install
	$(PY) bench/http_overhead.py --smoke
	$(PY) bench/capacity.py --smoke
	$(PY) bench/http_overhead.py --smoke --scale-out
	$(PY) bench/capacity.py --smoke --scale-out
	$(PY) bench/anchor_litellm.py --smoke

## Issue 15's anchor: the OpenAI image route, direct vs LiteLLM's proxy vs mediagate (≈ 4 minutes; the
## first run also installs litellm[proxy] into its own virtualenv under ~/.cache/mediagate-bench).
.PHONY: bench-anchor
bench-anchor: install
	$(PY) bench/anchor_litellm.py

clean:
	rm -rf $(VENV) data .mypy_cache .pytest_cache .ruff_cache

## New Alembic revision from the models (the database in ./data must be at head): make migration m="add x"
migration: install
	$(PY) -c "from alembic import command; from alembic.config import Config; from mediagate.store.db import MIGRATIONS; c = Config(); c.set_main_option('script_location', str(MIGRATIONS)); command.revision(c, message='$(m)', autogenerate=True)"
