# The two commands: `make run` and `make test`. Both build .venv/ first.
# Another interpreter in its own virtualenv, e.g. for the benchmarks:
#   make bench PYTHON=/usr/bin/python3.11 VENV=.venv-debian
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test lint typecheck unit services stop-services bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

services: $(STAMP)
	deploy/local-services.sh start

stop-services:
	deploy/local-services.sh stop

run: services
	$(BIN)/gateway migrate
	$(BIN)/gateway demo
	$(BIN)/gateway serve --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check gateway tests $(wildcard bench)
	$(BIN)/ruff format --check gateway tests $(wildcard bench)

typecheck: $(STAMP)
	$(BIN)/mypy

test: services lint typecheck
	$(BIN)/pytest -q

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

# The benchmarks behind bench/RESULTS.md (minutes each; run on a quiet machine).
bench: services
	$(BIN)/python bench/precheck/run.py --daytime
	$(BIN)/python bench/dnc/run.py
	$(BIN)/python bench/review/run.py
	$(BIN)/python bench/retention/run.py
	$(BIN)/python bench/restore/run.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
