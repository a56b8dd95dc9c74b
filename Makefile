# Gridcast: `make run` starts it on embedded defaults, `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

NPM ?= npm
FRONTEND_SOURCES := $(shell find frontend/src -type f 2>/dev/null) frontend/vite.config.js frontend/package.json
CHROMIUM := /usr/bin/chromium
REDIS_SERVER := /usr/bin/redis-server

.PHONY: install frontend browser redis haproxy serve run stop test check services bench-sheet bench-grid bench-fanout bench-cluster bench-analytics clean superset superset-stop bench-superset bench-first-run bench-failover

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

# The Svelte widgets: npm packages from the lock file, then a Vite build into static/dist when a source changed.
frontend/node_modules/.installed: frontend/package.json frontend/package-lock.json
	cd frontend && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

static/dist/manifest.json: frontend/node_modules/.installed $(FRONTEND_SOURCES)
	cd frontend && $(NPM) run build --silent

frontend: static/dist/manifest.json

# Tests start Redis servers of their own (a restart under load; a Redis Cluster of six nodes made
# with redis-cli --cluster create): Debian's redis-server, which brings redis-cli.
redis: $(REDIS_SERVER)

$(REDIS_SERVER):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server

# Browser tests drive Debian's Chromium (never a downloaded browser).
browser: $(CHROMIUM)

$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core

# Apache Superset 6.1 beside Gridcast, by superset/service.py: its own virtualenv (.superset-venv;
# its pins clash with Gridcast's), config generated from Gridcast's settings, metadata and log under
# var/superset/, served on 127.0.0.1:$(SUPERSET_PORT). Only this checkout's Superset is ever reused
# or stopped. `make run` starts it (SUPERSET=0 skips it) and stops it on Ctrl-C.
SUPERSET ?= 1
SUPERSET_PORT ?= 8088
SUPERSET_SERVICE := $(BIN)/python superset/service.py
TEST_SUPERSET_VAR := var/test-superset

superset: install
	@SUPERSET_PORT=$(SUPERSET_PORT) $(SUPERSET_SERVICE) start

superset-stop: install
	@$(SUPERSET_SERVICE) stop

# The whole product on the embedded default; Ctrl-C stops all of it (config/launch.py).
run: install frontend
	@HOST=$(HOST) PORT=$(PORT) SUPERSET=$(SUPERSET) SUPERSET_PORT=$(SUPERSET_PORT) \
	  DJANGO_SETTINGS_MODULE=config.settings.embedded $(BIN)/python -m config.launch

# What an interrupted `make run` left: its server and this checkout's Superset.
stop:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m config.launch stop; fi

# A production-like deployment on this machine (config/serve.py): production settings on the local
# PostgreSQL and Redis, WEB_PROCESSES uvicorn processes behind HAProxy on $(HOST):$(PORT), the
# analytics worker and Superset, under honcho (deploy/Procfile). Ctrl-C stops it all.
HAPROXY := /usr/sbin/haproxy

haproxy: $(HAPROXY)

$(HAPROXY):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy

serve: install frontend haproxy services
	@HOST=$(HOST) PORT=$(PORT) $(BIN)/python -m config.serve

# PostgreSQL and Redis are expected on their local ports; start them when they are installed but stopped.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || (command -v pg_ctlcluster >/dev/null && pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start) || true
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || (command -v redis-server >/dev/null && redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no) || true

# The suite owns a Superset of its own (on a free port, metadata kept in $(TEST_SUPERSET_VAR) between
# runs), started for it and stopped when it ends, whatever the outcome.
# The checks that keep the code's shape (issue 14): the apps' and analytics' one-way layers
# (import-linter, pyproject.toml), ruff's lint and format, svelte-check, and the front end's unit tests.
check: install frontend
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd frontend && $(NPM) run check --silent && $(NPM) test --silent

test: check browser redis haproxy services
	@DJANGO_SETTINGS_MODULE=config.settings.test $(SUPERSET_SERVICE) start --var $(TEST_SUPERSET_VAR) --port auto
	@status=0; SUPERSET_URL=$$(cat $(TEST_SUPERSET_VAR)/url) DJANGO_SETTINGS_MODULE=config.settings.test \
	  $(BIN)/pytest $(PYTEST_ARGS) || status=$$?; \
	  $(SUPERSET_SERVICE) stop --var $(TEST_SUPERSET_VAR); exit $$status

bench-sheet: install services
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python bench/sheet_api.py

bench-grid: install frontend browser services
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python bench/grid_browser.py

bench-fanout: install services
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python bench/fanout.py

bench-cluster: install redis
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python bench/redis_cluster.py

bench-analytics: install services
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python bench/analytics.py

bench-superset: install services superset
	SUPERSET_URL=http://127.0.0.1:$(SUPERSET_PORT) DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python bench/superset.py

# Failover under load (bench/failover.py): the stack of `make serve` on a PostgreSQL and a Redis of its own.
bench-failover: install frontend haproxy
	$(BIN)/python bench/failover.py

bench-first-run:
	$(PYTHON) bench/first_run.py

clean: stop
	rm -rf $(VENV) $(SUPERSET_VENV) var static/dist frontend/node_modules
