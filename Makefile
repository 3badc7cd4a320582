# Two commands: `make run` (demo on SQLite, jobs inline) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
FLASK := $(VENV)/bin/flask
HOST ?= 127.0.0.1
PORT ?= 5000
CHROMIUM ?= /usr/bin/chromium

.PHONY: install install-dev run test translations extract-messages browser worker cron clean bench-tools bench-catalogue bench-booking bench-impact

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: pyproject.toml $(VENV)/bin/activate
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PIP) install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed translations

install-dev: install $(VENV)/.installed-dev browser

translations: $(VENV)/.installed
	$(VENV)/bin/pybabel -q compile -f -d marketplace/translations

extract-messages: $(VENV)/.installed
	$(VENV)/bin/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext -o marketplace/translations/messages.pot .
	$(VENV)/bin/pybabel -q update -N -i marketplace/translations/messages.pot -d marketplace/translations

# Debian's chromium for the browser tests (never a downloaded browser build).
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; }

run: install
	MARKETPLACE_ENV=development $(FLASK) --app wsgi db upgrade
	MARKETPLACE_ENV=development $(FLASK) --app wsgi seed-demo
	MARKETPLACE_ENV=development $(FLASK) --app wsgi run --host $(HOST) --port $(PORT)

worker: install
	$(FLASK) --app wsgi worker

# Periodic jobs (clean-up of expired holds and waiting-list offers); needs REDIS_URL and a worker.
cron: install
	$(FLASK) --app wsgi cron

test: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

# Benchmarks need PostgreSQL and Redis: DATABASE_URL=postgresql+psycopg://... REDIS_URL=redis://...
bench-tools:
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; }

bench-catalogue: install bench-tools
	$(PY) -m benchmarks.catalogue

bench-booking: install
	$(PY) -m benchmarks.booking

bench-impact: install
	$(PY) -m benchmarks.impact

clean:
	rm -rf $(VENV) instance .pytest_cache
