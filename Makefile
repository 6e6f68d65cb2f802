# The two commands for a fresh machine are `make local` (run it) and `make test` (test it); both install first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help install test test-postgres lint format local migrate bench clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

install: $(STAMP)  ## Create .venv and install the pinned dependencies

# Re-installs only when a requirements file changes.
$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

test: install  ## Run the whole suite (SQLite; set DATABASE_URL for another database)
	$(BIN)/python -m pytest

test-postgres: install  ## Run the whole suite on PostgreSQL ($(POSTGRES_URL))
	DATABASE_URL=$(POSTGRES_URL) $(BIN)/python -m pytest

lint: install  ## ruff: lint and formatting
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install  ## ruff: fix what can be fixed and format
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: install  ## Apply migrations to the local database
	DJANGO_DEBUG=1 $(BIN)/python manage.py migrate --noinput

local: migrate  ## Run the site on http://$(HOST):$(PORT) (SQLite, debug)
	DJANGO_DEBUG=1 DJANGO_LOG_FORMAT=text $(BIN)/python manage.py runserver $(HOST):$(PORT)

BENCHES := coldstart events fanout

bench: install  ## Run the benchmarks (JSON, each beside its baseline); fails if a target is missed
	@status=0; for bench in $(BENCHES); do $(BIN)/python tests/bench/$$bench.py || status=1; done; exit $$status

clean:  ## Remove the virtualenv, caches and the local database
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles db.sqlite3 .test-db.sqlite3*
