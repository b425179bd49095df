# Two commands on a fresh machine with Python 3.11:
#   make run    install, migrate, seed demo data, start the web server and a Celery worker with beat
#   make test   run the whole test suite (embedded PostgreSQL unless DATABASE_URL is set)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
# Exact versions of every package (pyproject.toml keeps the ranges); `make lock` regenerates it.
LOCK := requirements.lock
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | sha1sum | cut -c1-12)

.PHONY: install run test lint lock messages bench bench-history stop-db

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r $(LOCK) -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	bash scripts/run.sh

test: $(STAMP)
	$(VENV)/bin/pytest

# Stop the embedded PostgreSQL that `make run` leaves running (no-op with DATABASE_URL set).
stop-db: $(STAMP)
	$(VENV)/bin/python -m backoffice.core.embedded_db stop

# Pin every package again within the ranges of pyproject.toml (after changing a dependency).
lock: $(STAMP)
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --quiet -o $(LOCK)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

# Extract and compile translations (needs GNU gettext's xgettext; compiling uses polib).
messages: $(STAMP)
	DEBUG=1 $(VENV)/bin/python manage.py makemessages -l zh_Hans -l en --no-obsolete --ignore '.venv/*' --ignore 'var/*'
	$(VENV)/bin/python scripts/compile_messages.py

# The speed benchmarks of docs/benchmarks.md (long: minutes; run them on a quiet machine).
bench: $(STAMP)
	DEBUG=1 $(VENV)/bin/python manage.py migrate --verbosity 0
	DEBUG=1 $(VENV)/bin/python manage.py bench_intake --lines 1000000
	DEBUG=1 $(VENV)/bin/python manage.py bench_reconcile --transactions 100000,1000000,2000000
	DEBUG=1 $(VENV)/bin/python manage.py bench_day --lines 1000000
	DEBUG=1 $(VENV)/bin/python manage.py bench_queue --discrepancies 100000 --requests 200 --concurrency 4

# A day against 30 days of a million lines of history (about an hour the first time; the history is kept).
bench-history: $(STAMP)
	DEBUG=1 $(VENV)/bin/python manage.py migrate --verbosity 0
	DEBUG=1 $(VENV)/bin/python manage.py bench_history --days 30 --lines 1000000
