# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: run test test-fast lint bench soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[dev,ml]'
	touch $@ $(VENV)/.run-installed

## make run: install the app and start a paper run on the offline default (synthetic feed).
run: $(VENV)/.run-installed
	$(BIN)/app run --paper

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## make test: lint, types, layer contracts, then every test (slow end-to-end ones included).
test: lint
	$(BIN)/pytest

## make test-fast: the same without the slow end-to-end tests.
test-fast: lint
	$(BIN)/pytest -m "not slow"

## make bench: every benchmark under bench/, each printing ratios against its in-run baseline.
bench: $(VENV)/.dev-installed
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

## make soak: paper runs SIGKILLed at random moments and restarted, on more data than the tests (long; SOAK="--rounds 3 --early").
soak: $(VENV)/.dev-installed
	$(BIN)/python -m tests.restart_soak $(SOAK)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
