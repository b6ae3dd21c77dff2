# Two commands for a new user: `make demo` and `make check`. Both build .venv from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo check lint test soak bench deploy-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ftmon demo

lint: $(STAMP)
	$(BIN)/ruff check monitor tests deploycheck $(wildcard bench)
	$(BIN)/ruff format --check monitor tests deploycheck $(wildcard bench)
	$(BIN)/mypy
	$(BIN)/lint-imports

test: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

check: lint test

soak: $(STAMP)
	$(BIN)/pytest -q -m slow tests

bench: $(STAMP)
	$(BIN)/python -m bench

# The deployment test (root): the units under systemd-nspawn, the image under a private
# dockerd. Installs debootstrap, systemd-container and docker.io if they are missing.
deploy-check: $(STAMP)
	$(BIN)/python -m deploycheck --repo .

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
