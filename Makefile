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
WS_PORT ?= 8001

# AWS SAM CLI lives in its own environment, so its pins never touch the app's boto3.
SAM_VERSION := 1.170.0
SAM_VENV := .tools/sam
SAM := $(SAM_VENV)/bin/sam
export SAM_CLI_TELEMETRY := 0
ENV ?=
EVENT ?=
# Lambda runs python3.12: the package is compiled by it; pyenv keeps one outside PATH on some machines.
LAMBDA_PYTHON ?= $(firstword $(foreach p,python3.12 $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12),\
	$(shell $(p) -c 'import sys; print("$(p)" if sys.version_info[:2] == (3, 12) else "")' 2>/dev/null)))
BUILD_DIR := .aws-sam/build
MAX_PACKAGE_MB := 40
FUNCTIONS := WebSocketFunction HttpFunction CleanupFunction FanoutFunction ManageFunction

.PHONY: help install browser pgbouncer test test-postgres lint format local migrate createsuperuser bench clean sam build \
	deploy invoke logs \
	build-DependenciesLayer $(addprefix build-,$(FUNCTIONS))

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

install: $(STAMP) browser pgbouncer  ## Create .venv and install the pinned dependencies (Chromium, PgBouncer for tests)

# Debian's Chromium, which the browser tests drive through Playwright (no browser download from elsewhere).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt=apt-get; elif command -v sudo >/dev/null 2>&1; then apt="sudo apt-get"; fi; \
		if [ -n "$${apt:-}" ]; then \
			export DEBIAN_FRONTEND=noninteractive; \
			$$apt install -y -q chromium >/dev/null || { $$apt update -q >/dev/null && $$apt install -y -q chromium >/dev/null; }; \
		else echo "Chromium is not installed (apt-get install chromium): the browser tests will be skipped."; fi; }

# Debian's PgBouncer, which tests/test_pgbouncer.py starts in transaction mode in front of PostgreSQL (for RDS Proxy).
pgbouncer:
	@command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || { \
		if [ "$$(id -u)" = 0 ]; then apt=apt-get; elif command -v sudo >/dev/null 2>&1; then apt="sudo apt-get"; fi; \
		if [ -n "$${apt:-}" ]; then \
			export DEBIAN_FRONTEND=noninteractive; \
			$$apt install -y -q pgbouncer >/dev/null || { $$apt update -q >/dev/null && $$apt install -y -q pgbouncer >/dev/null; }; \
		else echo "PgBouncer is not installed (apt-get install pgbouncer): the pooler test will be skipped."; fi; }

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

migrate: install  ## Apply migrations: the local database, or with ENV=<samconfig env> the deployed stack's
ifeq ($(ENV),)
	DJANGO_DEBUG=1 $(BIN)/python manage.py migrate --noinput
else
	$(MAKE) --no-print-directory sam
	set -o pipefail; $(SAM) remote invoke ManageFunction --config-env $(ENV) --output text \
		--event '{"manage": "migrate --noinput"}' | $(BIN)/python -m infra.remote_result
endif

# The first admin of the deployed stack: its password is generated in Lambda and stored in Secrets Manager under
# <stack>/admin/<USERNAME>; neither this command line nor the event nor any output holds it (infra/first_admin.py).
createsuperuser: install sam  ## Create the first admin on the deployed stack: ENV=... USERNAME=... EMAIL=...
	@test -n "$(ENV)" && test -n "$(USERNAME)" && test -n "$(EMAIL)" || \
		{ echo "Usage: make createsuperuser ENV=staging USERNAME=admin EMAIL=admin@example.com"; exit 2; }
	@set -o pipefail; event=$$($(BIN)/python -c 'import json, sys; print(json.dumps({"create_admin": \
		{"username": sys.argv[1], "email": sys.argv[2]}}))' '$(USERNAME)' '$(EMAIL)') && \
	$(SAM) remote invoke ManageFunction --config-env $(ENV) --output text --event "$$event" \
		| $(BIN)/python -m infra.remote_result

LOCAL := $(BIN)/python -m infra.local --host $(HOST) --http-port $(PORT) --ws-port $(WS_PORT)

# With a container runtime (and a database server a container can reach), the functions run in Lambda's image.
local: migrate  ## Run the site and its WebSocket API on http://$(HOST):$(PORT) and ws://$(HOST):$(WS_PORT)
	@if docker info >/dev/null 2>&1 && [[ -n "$${DATABASE_URL:-}" && "$${DATABASE_URL}" != sqlite* ]]; then \
		$(MAKE) --no-print-directory build && $(LOCAL) --sam $(SAM); \
	else \
		echo "The Lambda handlers run in this process (no container runtime, or SQLite, which a container cannot share)."; \
		$(LOCAL); \
	fi

BENCHES := coldstart events fanout local_gateway

bench: install  ## Run the benchmarks (JSON, each beside its baseline); fails if a target is missed
	@status=0; for bench in $(BENCHES); do $(BIN)/python tests/bench/$$bench.py || status=1; done; exit $$status

invoke: migrate  ## Run infra/events/$(EVENT).json (every sample without EVENT) through the Lambda handler
	@if [ -x $(SAM) ] && docker info >/dev/null 2>&1; then \
		for event in $$($(BIN)/python -m infra.invoke --list $(EVENT)); do \
			$(SAM) local invoke $$($(BIN)/python -m infra.invoke --function $$event) -e infra/events/$$event.json || exit 1; \
		done; \
	else \
		echo "No container runtime (or no $(SAM)) for sam local invoke: running the events in-process through infra.handlers.handler."; \
		DJANGO_DEBUG=1 $(BIN)/python -m infra.invoke $(EVENT); \
	fi

sam: $(SAM)  ## Install AWS SAM CLI into $(SAM_VENV) (not into .venv)

$(SAM):
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli==$(SAM_VERSION)

build: install sam  ## sam build: the package for python3.12 arm64, then its size (fails over $(MAX_PACKAGE_MB) MB)
	@test -n "$(LAMBDA_PYTHON)" || { echo "python3.12 not found: it is needed to build the Lambda package; skipping sam build."; exit 0; } ; \
	$(SAM) build && $(BIN)/python -m infra.package_size $(BUILD_DIR) --limit-mb $(MAX_PACKAGE_MB)

deploy: build  ## sam deploy --config-env $(ENV) (default, staging, production; see samconfig.toml), then migrate it
	$(SAM) deploy --config-env $(or $(ENV),default)
	$(MAKE) --no-print-directory migrate ENV=$(or $(ENV),default)

logs: sam  ## sam logs of the stack (FUNCTION=WebSocketFunction narrows it), following new lines
	$(SAM) logs --config-env $(or $(ENV),default) $(if $(FUNCTION),--name $(FUNCTION)) --tail

# `sam build` (BuildMethod: makefile) runs one target per resource with ARTIFACTS_DIR set. The layer holds the
# runtime requirements; each function gets the project's code and collected static files, nothing else.
PIP_LAMBDA := --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 --only-binary=:all: \
	--python-version 3.12 --implementation cp
COMPILE := -m compileall -q -j 0 --invalidation-mode unchecked-hash

# Size: boto3/botocore come with the Lambda runtime (BUNDLE_BOTO3=1 ships the pinned ones, +30 MB); translation
# sources (.po), Cython/C sources and stubs are never read at run time; only the KEEP_LOCALES catalogues are kept;
# GeoDjango (needs GDAL) goes, so do the apps' static folders (collected into each function) and Powertools'
# Swagger UI bundle (its event handler is not used).
# Speed: Lambda cannot write __pycache__, so uncompiled modules are compiled again on every cold start (importing
# the handler took 2.1-2.6 s instead of 0.4 s when measured). The layer is therefore shipped compiled and sourceless
# (module.pyc beside where module.py was), about the size of the sources; library tracebacks then show file and
# line without the source text. BYTECODE=0 ships the sources uncompiled instead.
BUNDLE_BOTO3 ?= 0
BYTECODE ?= 1
KEEP_LOCALES ?= en en_GB

build-DependenciesLayer:
	$(LAMBDA_PYTHON) -m pip install --quiet --disable-pip-version-check --no-compile $(PIP_LAMBDA) \
		--target "$(ARTIFACTS_DIR)/python" -r requirements.txt
	cd "$(ARTIFACTS_DIR)/python" && rm -rf bin $(if $(filter 1,$(BUNDLE_BOTO3)),,boto3 boto3-* botocore botocore-* s3transfer s3transfer-*)
	find "$(ARTIFACTS_DIR)/python" -type f \( -name '*.po' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' \
		-o -name '*.c' -o -name '*.h' -o -name '*.pyi' \) -delete
	rm -rf "$(ARTIFACTS_DIR)"/python/django/contrib/gis "$(ARTIFACTS_DIR)"/python/django/contrib/*/static \
		"$(ARTIFACTS_DIR)"/python/aws_lambda_powertools/event_handler/openapi/swagger_ui/*.min.*
	find "$(ARTIFACTS_DIR)/python" -type d -name locale -prune -exec sh -c 'for lang in "$$0"/*/; do \
		case " $(KEEP_LOCALES) " in *" $$(basename "$$lang") "*) ;; *) rm -rf "$$lang" ;; esac; done' {} \;
	$(if $(filter 1,$(BYTECODE)),$(LAMBDA_PYTHON) $(COMPILE) -b -s "$(ARTIFACTS_DIR)" -p /opt "$(ARTIFACTS_DIR)/python" && \
		find "$(ARTIFACTS_DIR)/python" -name '*.py' -delete)

$(addprefix build-,$(FUNCTIONS)): install
	tar -c --exclude=__pycache__ --exclude=infra/events --exclude=infra/local project websockets_app infra | tar -x -C "$(ARTIFACTS_DIR)"
	DJANGO_DEBUG=0 DJANGO_SECRET_KEY=collectstatic-only DJANGO_STATIC_ROOT="$(ARTIFACTS_DIR)/staticfiles" \
		$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(LAMBDA_PYTHON) $(COMPILE) -s "$(ARTIFACTS_DIR)" -p /var/task "$(ARTIFACTS_DIR)"

clean:  ## Remove the virtualenv, caches and the local database
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles db.sqlite3 .test-db.sqlite3*
