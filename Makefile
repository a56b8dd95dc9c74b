# Gridcast: `make run` starts it on embedded defaults, `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

NPM ?= npm
FRONTEND_SOURCES := $(shell find frontend/src -type f 2>/dev/null) frontend/vite.config.js frontend/package.json
CHROMIUM := /usr/bin/chromium

.PHONY: install frontend browser run test services bench-sheet bench-grid bench-fanout bench-analytics clean superset superset-stop bench-superset

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

# Apache Superset 6.1, optional: its own virtualenv (its pins clash with Gridcast's), config generated
# from Gridcast's settings, metadata and log under var/superset/, served on 127.0.0.1:8088.
SUPERSET_VENV ?= .superset-venv
SUPERSET_VAR ?= var/superset
SUPERSET_ENV := SUPERSET_CONFIG_PATH=$(abspath $(SUPERSET_VAR))/superset_config.py SUPERSET_HOME=$(abspath $(SUPERSET_VAR)) FLASK_APP=superset
SUPERSET_PORT ?= 8088
SUPERSET_STOP = if [ -f $(SUPERSET_VAR)/superset.pid ]; then \
	  pid=$$(cat $(SUPERSET_VAR)/superset.pid); kill $$pid 2>/dev/null; \
	  for i in $$(seq 1 60); do kill -0 $$pid 2>/dev/null || break; sleep 0.25; done; \
	  rm -f $(SUPERSET_VAR)/superset.pid; echo "Superset stopped"; \
	else echo "Superset is not running"; fi

$(SUPERSET_VENV)/.installed: superset/requirements.txt
	$(PYTHON) -m venv $(SUPERSET_VENV)
	$(SUPERSET_VENV)/bin/pip install -q --upgrade pip
	$(SUPERSET_VENV)/bin/pip install -q -r superset/requirements.txt
	touch $@

$(SUPERSET_VAR)/superset_config.py: install FORCE
	@mkdir -p $(SUPERSET_VAR)
	$(BIN)/python manage.py superset_config --output $@

$(SUPERSET_VAR)/.initialised: $(SUPERSET_VENV)/.installed superset/initialise.py | $(SUPERSET_VAR)/superset_config.py
	$(SUPERSET_ENV) $(SUPERSET_VENV)/bin/superset db upgrade >$(SUPERSET_VAR)/init.log 2>&1 || (tail -30 $(SUPERSET_VAR)/init.log; false)
	$(SUPERSET_ENV) $(SUPERSET_VENV)/bin/superset init >>$(SUPERSET_VAR)/init.log 2>&1 || (tail -30 $(SUPERSET_VAR)/init.log; false)
	$(SUPERSET_ENV) $(SUPERSET_VENV)/bin/python superset/initialise.py 2>>$(SUPERSET_VAR)/init.log || (tail -30 $(SUPERSET_VAR)/init.log; false)
	touch $@

# Started once (a running Superset with this pid file is left alone; one whose config changed is
# restarted), in the background; waits until /health answers.
superset: $(SUPERSET_VAR)/.initialised
	@if [ -f $(SUPERSET_VAR)/superset.pid ] && kill -0 $$(cat $(SUPERSET_VAR)/superset.pid) 2>/dev/null; then \
	  if [ $(SUPERSET_VAR)/superset_config.py -nt $(SUPERSET_VAR)/superset.pid ]; then $(SUPERSET_STOP); \
	  elif curl -sf http://127.0.0.1:$(SUPERSET_PORT)/health >/dev/null; then echo "Superset is running on http://127.0.0.1:$(SUPERSET_PORT)"; exit 0; fi; \
	fi; \
	if ! [ -f $(SUPERSET_VAR)/superset.pid ] || ! kill -0 $$(cat $(SUPERSET_VAR)/superset.pid) 2>/dev/null; then \
	  $(SUPERSET_ENV) $(SUPERSET_VENV)/bin/gunicorn -w 2 --threads 4 -k gthread -b 127.0.0.1:$(SUPERSET_PORT) --timeout 120 \
	    --chdir $(abspath $(SUPERSET_VAR)) --daemon --pid $(abspath $(SUPERSET_VAR))/superset.pid \
	    --error-logfile $(abspath $(SUPERSET_VAR))/superset.log --capture-output "superset.app:create_app()"; \
	fi; \
	for i in $$(seq 1 240); do curl -sf http://127.0.0.1:$(SUPERSET_PORT)/health >/dev/null && { echo "Superset is running on http://127.0.0.1:$(SUPERSET_PORT)"; exit 0; }; sleep 0.5; done; \
	echo "Superset did not answer on port $(SUPERSET_PORT); see $(SUPERSET_VAR)/superset.log"; tail -20 $(SUPERSET_VAR)/superset.log; exit 1

superset-stop:
	@$(SUPERSET_STOP)

FORCE:

run: install frontend $(if $(filter 1,$(SUPERSET)),superset)
	DJANGO_SETTINGS_MODULE=config.settings.embedded $(BIN)/python manage.py migrate --noinput -v 0
	DJANGO_SETTINGS_MODULE=config.settings.embedded $(BIN)/python manage.py seed_demo --if-empty
	DJANGO_SETTINGS_MODULE=config.settings.embedded $(BIN)/daphne -b $(HOST) -p $(PORT) config.asgi:application

# PostgreSQL and Redis are expected on their local ports; start them when they are installed but stopped.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || (command -v pg_ctlcluster >/dev/null && pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start) || true
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || (command -v redis-server >/dev/null && redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no) || true

test: install frontend browser services superset
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/pytest $(PYTEST_ARGS)

bench-sheet: install services
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python bench/sheet_api.py

bench-grid: install frontend browser services
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python bench/grid_browser.py

bench-fanout: install services
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python bench/fanout.py

bench-analytics: install services
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python bench/analytics.py

bench-superset: install services superset
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python bench/superset.py

clean: superset-stop
	rm -rf $(VENV) $(SUPERSET_VENV) var static/dist frontend/node_modules
