# mdmatch - the two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: install run test test-pinned lint format migrate worker clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

## Serve on 127.0.0.1:8000 (embedded PostgreSQL and Stripe emulator unless configured).
run: install
	$(BIN)/mdmatch serve

## Lint, then the whole test suite (on every CPU: pytest-xdist, pyproject's addopts; docs/testing.md).
test: install lint
	$(BIN)/pytest

## The suite again under a pinned hard date (libfaketime; PINNED_AT overrides the rotation).
## FAKETIME_DONT_RESET keeps one clock across the embedded PostgreSQL, the Stripe emulator and
## every child process; the embedded server is used (a shared server keeps the real clock).
test-pinned: install
	@at="$${PINNED_AT:-$$(bash .ci/pinned-date)}"; echo "Pinned clock: $$at UTC"; \
	env -u TEST_DATABASE_URL TEST_EMBEDDED_PG_DIR=var/pg-test-pinned TZ=UTC FAKETIME_DONT_RESET=1 faketime -f "@$$at" $(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app tests migrations bench
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: install
	$(BIN)/mdmatch migrate

worker: install
	$(BIN)/mdmatch worker

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache .hypothesis .import_linter_cache
