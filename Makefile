# Two commands for a new user: `make demo` and `make check`. Both build .venv from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo check lint test soak bench deploy-check clean postgres-binaries

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

# The PostgreSQL tests start their own throwaway server from the installed binaries; as
# root on Debian/Ubuntu (CI, containers) install them when they are missing.
postgres-binaries:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing the PostgreSQL server binaries (apt-get install postgresql)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	else echo "no PostgreSQL server binaries: the PostgreSQL tests will be skipped"; fi

test: $(STAMP) postgres-binaries
	$(BIN)/pytest -q -m "not slow"

check: lint test

soak: $(STAMP) postgres-binaries
	$(BIN)/pytest -q -m slow tests

bench: $(STAMP)
	$(BIN)/python -m bench

# The deployment test (root): the units under systemd-nspawn, the image under a private
# dockerd. Installs debootstrap, systemd-container and docker.io if they are missing.
deploy-check: $(STAMP)
	$(BIN)/python -m deploycheck --repo .

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
