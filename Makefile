# The commands the README and .ci/run call verbatim.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# Node for the frontend's tools: at least NODE_REQUIRED (what the packages' engines ask: package.json `engines`);
# the version pinned in .nvmrc is installed under .node/ from npm when the Node on PATH is older (see
# frontend/ensure-node.sh), and .node/bin comes first on PATH for every recipe here.
NODE_REQUIRED := 22.15.0
NODE_PINNED   := $(shell cat .nvmrc)
NODE_PREFIX   := .node
export PATH   := $(CURDIR)/$(NODE_PREFIX)/bin:$(PATH)

.PHONY: install run test test-python test-sqlite test-postgres lint typecheck schema-check schema bench bench-deps \
	node frontend test-frontend test-e2e test-graphql-http reliability

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found %s)" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The web app: `npm ci` when the lockfile changed, `npm run build` when a source or the schema changed (stamps).
# The build runs codegen (frontend/codegen.ts) into frontend/src/gql/, which is output, not a source.
FRONTEND_SRC := $(shell find frontend/src frontend/public -type f -not -path 'frontend/src/gql/*' 2>/dev/null) \
	frontend/index.html frontend/graphiql/index.html frontend/vite.config.ts frontend/tsconfig.json frontend/package.json frontend/package-lock.json \
	frontend/codegen.ts schema.graphql
NPM_STAMP   := frontend/node_modules/.installed-stamp
BUILD_STAMP := frontend/dist/index.html

frontend: $(BUILD_STAMP)

node:
	@frontend/ensure-node.sh $(NODE_REQUIRED) $(NODE_PINNED) $(NODE_PREFIX)

$(NPM_STAMP): frontend/package.json frontend/package-lock.json | node
	@command -v npm >/dev/null || (echo "npm is required to build the frontend (it comes with Node $(NODE_PINNED))" >&2; exit 1)
	cd frontend && npm ci --no-audit --no-fund
	@touch $@

$(BUILD_STAMP): $(NPM_STAMP) $(FRONTEND_SRC) | node
	cd frontend && npm run build
	@touch $@

run: install frontend
	$(BIN)/studio demo
	$(BIN)/studio serve --host 127.0.0.1 --port 8000

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy studio_shared studio_worker studio_gql

schema: install
	$(BIN)/studio export-schema > schema.graphql

schema-check: install
	@$(BIN)/studio export-schema | diff -u schema.graphql - \
		|| (echo "schema.graphql is stale: run 'make schema' and commit it" >&2; exit 1)

test-sqlite: install
	STUDIO_TEST_BACKEND=sqlite $(BIN)/pytest

test-postgres: install
	STUDIO_TEST_BACKEND=postgres $(BIN)/pytest

# Both passes at once: neither keeps two cores busy alone, so side by side they take about 16 minutes here instead of
# about 23 one after the other. They share nothing but the servers (a PostgreSQL database and a Redis database of
# each session's own; the SQLite pass uses no Redis). The SQLite pass prints as it goes; the PostgreSQL pass writes
# to .venv/test-postgres.log, printed when both are done.
PG_LOG := $(VENV)/test-postgres.log
test-python: install
	@STUDIO_TEST_BACKEND=postgres $(BIN)/pytest -p no:cacheprovider > $(PG_LOG) 2>&1 & pg=$$!; \
	trap 'kill $$pg 2>/dev/null' INT TERM; \
	echo "the PostgreSQL pass runs beside this one (STUDIO_TEST_BACKEND=postgres, output in $(PG_LOG))"; \
	STUDIO_TEST_BACKEND=sqlite $(BIN)/pytest; sqlite=$$?; \
	wait $$pg; postgres=$$?; \
	echo; echo "---------- the PostgreSQL pass (STUDIO_TEST_BACKEND=postgres) ----------"; cat $(PG_LOG); \
	echo "SQLite pass: exit $$sqlite; PostgreSQL pass: exit $$postgres"; \
	[ $$sqlite -eq 0 ] && [ $$postgres -eq 0 ]

test-frontend: $(NPM_STAMP) | node
	cd frontend && npm run typecheck && npm run lint && npm test

# A real `studio serve` on fresh state driven in Debian's Chromium (skips without it unless STUDIO_REQUIRE_SERVICES=1).
test-e2e: install frontend | node
	STUDIO_BIN=$(CURDIR)/$(BIN)/studio node frontend/e2e/run.mjs

# graphql-http's audit suite (the GraphQL-over-HTTP specification) against a real `studio serve` at /graphql with a
# token: every audit must pass (no error, warning or notice). About 15 s.
test-graphql-http: install $(NPM_STAMP) | node
	STUDIO_BIN=$(CURDIR)/$(BIN)/studio node frontend/e2e/graphql_http_audit.mjs

test: lint typecheck schema-check test-frontend test-python test-graphql-http test-e2e

# Fault scenarios against real worker processes (PostgreSQL + Redis); prints figures, fails on a broken bound.
reliability: install
	$(BIN)/python -m reliability

# The Celery baseline runs in a venv of its own: kombu's Redis transport needs redis-py >= 6.1, arq < 6.
bench-deps: .venv-celery/.installed-stamp

.venv-celery/.installed-stamp:
	$(PYTHON) -m venv .venv-celery
	.venv-celery/bin/python -m pip install --quiet 'celery[redis]>=5.7,<6'
	@touch $@

# The headline first: what a client sees (runs started over HTTP, their end seen on a subscription or a webhook's
# reply, Celery measured the same way in the same run); then the engine's own breakdown from database timestamps.
bench: install bench-deps
	$(BIN)/python -m bench client
	$(BIN)/python -m bench engine --scaling
