# newsmon — the two commands a new machine needs are `make demo` and `make test`.
# Each creates (or reuses) .venv and installs the pinned dependencies first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
EXTRAS := postgres,airflow,apprise,dev

.PHONY: help .venv demo test lint typecheck unit bench lock clean

help:
	@echo "make demo   - run the whole pipeline on the bundled offline corpus (SQLite)"
	@echo "make test   - lint, type-check and run the test suite"
	@echo "make lint   - ruff + mypy only"
	@echo "make bench  - run every benchmark in bench/ and write bench/results.json"
	@echo "make lock   - re-pin constraints.txt from the current .venv"

# Reinstall only when the project's requirements or pins change.
$(STAMP): pyproject.toml constraints.txt setup.py ingest/topics/_textscan.c
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[$(EXTRAS)]'
	@touch $(STAMP)

.venv: $(STAMP)

demo: .venv
	$(BIN)/newsmon demo

lint: .venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict ingest

test: lint
	$(BIN)/python -m pytest

bench: .venv
	$(BIN)/python bench/run_all.py

# Pin what .venv has now (after `pip install` of a changed requirement), so every
# machine installs the same set. Not tied to the install step: that uses the old pins.
lock:
	@test -x $(BIN)/python || { echo "no .venv yet: run make .venv first"; exit 1; }
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	$(BIN)/python -m pip freeze --exclude-editable --exclude newsmon | sort -f > constraints.txt
	@touch $(STAMP)

clean:
	rm -rf $(VENV) .newsmon .mypy_cache .ruff_cache .pytest_cache build ingest/topics/*.so
