# Two commands for a new user: `make demo` and `make check`. Both build .venv from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo check lint test soak bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ftmon demo

lint: $(STAMP)
	$(BIN)/ruff check monitor tests $(wildcard bench)
	$(BIN)/ruff format --check monitor tests $(wildcard bench)
	$(BIN)/mypy
	$(BIN)/lint-imports

test: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

check: lint test

soak: $(STAMP)
	$(BIN)/pytest -q -m slow tests

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
