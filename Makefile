# Gridcast: `make run` starts it on embedded defaults, `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

NPM ?= npm
FRONTEND_SOURCES := $(shell find frontend/src -type f 2>/dev/null) frontend/vite.config.js frontend/package.json
CHROMIUM := /usr/bin/chromium

.PHONY: install frontend browser run test services bench-sheet bench-grid clean

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

# Browser tests drive Debian's Chromium (never a downloaded browser).
browser: $(CHROMIUM)

$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core

run: install frontend
	DJANGO_SETTINGS_MODULE=config.settings.embedded $(BIN)/python manage.py migrate --noinput -v 0
	DJANGO_SETTINGS_MODULE=config.settings.embedded $(BIN)/python manage.py seed_demo --if-empty
	DJANGO_SETTINGS_MODULE=config.settings.embedded $(BIN)/daphne -b $(HOST) -p $(PORT) config.asgi:application

# PostgreSQL and Redis are expected on their local ports; start them when they are installed but stopped.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || (command -v pg_ctlcluster >/dev/null && pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start) || true
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || (command -v redis-server >/dev/null && redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no) || true

test: install frontend browser services
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/pytest $(PYTEST_ARGS)

bench-sheet: install services
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python bench/sheet_api.py

bench-grid: install frontend browser services
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python bench/grid_browser.py

clean:
	rm -rf $(VENV) var static/dist frontend/node_modules
