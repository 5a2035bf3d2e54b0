# The commands the README and .ci/run call verbatim.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test test-sqlite test-postgres lint typecheck schema-check schema bench bench-deps

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found %s)" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: install
	$(BIN)/studio demo
	$(BIN)/studio serve --host 127.0.0.1 --port 8000

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy studio_shared

schema: install
	$(BIN)/studio export-schema > schema.graphql

schema-check: install
	@$(BIN)/studio export-schema | diff -u schema.graphql - \
		|| (echo "schema.graphql is stale: run 'make schema' and commit it" >&2; exit 1)

test-sqlite: install
	STUDIO_TEST_BACKEND=sqlite $(BIN)/pytest

test-postgres: install
	STUDIO_TEST_BACKEND=postgres $(BIN)/pytest

test: lint typecheck schema-check test-sqlite test-postgres

# The Celery baseline runs in a venv of its own: kombu's Redis transport needs redis-py >= 6.1, arq < 6.
bench-deps: .venv-celery/.installed-stamp

.venv-celery/.installed-stamp:
	$(PYTHON) -m venv .venv-celery
	.venv-celery/bin/python -m pip install --quiet 'celery[redis]>=5.7,<6'
	@touch $@

bench: install bench-deps
	$(BIN)/python -m bench engine --scaling
