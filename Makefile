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

.PHONY: help install browser pgbouncer test test-fast test-postgres lint typecheck format local migrate createsuperuser bench clean \
	sam build deploy invoke logs build-DependenciesLayer trim-layer $(addprefix build-,$(FUNCTIONS))

# The descriptions' $(NAME)s are printed with their values (command-line overrides included), an empty one as <NAME>.
HELP_VARIABLES := $(sort $(patsubst $$(%),%,$(shell grep -ohE '^[a-z-]+:.*\#\# .*' $(MAKEFILE_LIST) | grep -oE '\$$\([A-Z_]+\)')))

help:  ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}' \
		| sed $(foreach name,$(HELP_VARIABLES),-e 's|$$($(name))|$(subst |,\|,$(or $($(name)),<$(name)>))|g')

install: $(STAMP)  ## Create .venv and install the pinned dependencies (no browser, no sudo)

# Chromium for the browser tests only (`make local` needs none), installed without ever asking for a password:
# Debian's package where apt-get runs as root or through passwordless sudo; Playwright's own build where there is no
# apt-get (it downloads from the browser vendor); otherwise one line says the browser tests are skipped and why.
PLAYWRIGHT_INSTALL ?= $(BIN)/python -m playwright install chromium
browser: $(STAMP)
	@skip() { echo "Browser tests skipped: $$1"; }; \
	if command -v chromium >/dev/null 2>&1; then exit 0; fi; \
	if command -v apt-get >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then apt=apt-get; \
		elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then apt="sudo -n apt-get"; \
		else skip "Chromium is missing and apt-get needs a password here (sudo apt-get install chromium)."; exit 0; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		$$apt install -y -q chromium >/dev/null || { $$apt update -q >/dev/null && $$apt install -y -q chromium >/dev/null; } \
			|| skip "apt-get could not install chromium."; \
	else \
		$(PLAYWRIGHT_INSTALL) || skip "Playwright could not download Chromium ($(PLAYWRIGHT_INSTALL))."; \
	fi

# Debian's PgBouncer, which tests/test_pgbouncer.py starts in transaction mode in front of PostgreSQL (standing in for
# RDS Proxy); installed for the tests only and, like Chromium, never by asking for a password.
pgbouncer:
	@if command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; then exit 0; fi; \
	if command -v apt-get >/dev/null 2>&1 && { [ "$$(id -u)" = 0 ] && apt=apt-get || \
			{ command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && apt="sudo -n apt-get"; }; }; then \
		export DEBIAN_FRONTEND=noninteractive; \
		$$apt install -y -q pgbouncer >/dev/null || { $$apt update -q >/dev/null && $$apt install -y -q pgbouncer >/dev/null; } \
			|| echo "PgBouncer tests skipped: apt-get could not install pgbouncer."; \
	else echo "PgBouncer tests skipped: pgbouncer is not installed (apt-get install pgbouncer, brew install pgbouncer)."; fi

# Re-installs only when a requirements file changes.
$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# The hostile-input suite generates HOSTILE_EXAMPLES events (CI: 10000; here 2000 unless set).
test: install browser pgbouncer  ## Run the whole suite (SQLite; set DATABASE_URL for another database)
	$(BIN)/python -m pytest

test-fast: install  ## The quick loop: no browser, no subprocess-heavy tests, 200 generated hostile events
	HOSTILE_EXAMPLES=$${HOSTILE_EXAMPLES:-200} $(BIN)/python -m pytest -m "not slow and not browser" -q

test-postgres: install browser pgbouncer  ## Run the whole suite on PostgreSQL ($(POSTGRES_URL))
	DATABASE_URL=$(POSTGRES_URL) $(BIN)/python -m pytest

lint: install  ## ruff: lint and formatting; then mypy (make typecheck)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory typecheck

# The django-stubs plugin loads the settings, which refuse to start without a secret key outside debug mode.
typecheck: install  ## mypy --strict on websockets_app/ with the django-stubs plugin (pyproject.toml [tool.mypy])
	DJANGO_DEBUG=1 $(BIN)/mypy

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

bench: install  ## Run the benchmarks: JSON, each judged by ratios to its own baseline, then "N of M targets met"
	$(BIN)/python -m tests.bench

# The README's picture, taken from the real stack (local gateway, handlers, Chromium) as the browser tests do.
.PHONY: screenshots
screenshots: install  ## Retake docs/images/chat.png, the README's screenshot of the chat
	REQUIRE_BROWSER=1 $(BIN)/python -m pytest tests/screenshots.py -q

# On a throwaway SQLite database (never the developer's): the samples create users, tokens and sessions.
invoke: install  ## Run infra/events/$(EVENT).json (every sample without EVENT) through the Lambda handler
	@if [ -x $(SAM) ] && docker info >/dev/null 2>&1; then \
		for event in $$($(BIN)/python -m infra.invoke --list $(EVENT)); do \
			$(SAM) local invoke $$($(BIN)/python -m infra.invoke --function $$event) -e infra/events/$$event.json || exit 1; \
		done; \
	else \
		echo "No container runtime (or no $(SAM)) for sam local invoke: running the events in-process through infra.handlers.handler."; \
		scratch=$$(mktemp -d) && trap 'rm -rf "$$scratch"' EXIT && export DATABASE_URL="sqlite:///$$scratch/invoke.sqlite3" DJANGO_DEBUG=1 && \
		echo "On a throwaway database: $$DATABASE_URL" && \
		$(BIN)/python manage.py migrate --noinput --verbosity 0 && $(BIN)/python -m infra.invoke $(EVENT) && \
		{ [ -n "$(EVENT)" ] && [ "$(EVENT)" != sqs-batch ] || echo "sqs-batch logs two ERRORs on purpose: its first record \
	names an endpoint no gateway here has and its second is not a fan-out batch; both are dropped unsent."; }; \
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

# Size: boto3/botocore come with the Lambda runtime, and so do their dependencies urllib3, python-dateutil, six and
# jmespath (BUNDLE_BOTO3=1 ships the pinned ones, +30 MB); translation sources (.po), Cython/C sources, stubs and
# wheel RECORD files are never read at run time; only the KEEP_LOCALES catalogues are kept; GeoDjango (needs GDAL)
# goes, so do the UNUSED_DJANGO parts, the apps' static folders (collected into each function), Powertools'
# Swagger UI bundle (its event handler is not used) and C test modules (_testcapi). Compiled extensions that carry
# DWARF lose those debug sections (not their symbols, segments or dynamic table) with STRIP, an ELF strip that reads
# arm64: llvm-strip or aarch64-linux-gnu-strip (about 1.6 MB, nearly all of it httptools' parser); without
# one the build says so and ships them as they come. The budget is MAX_PACKAGE_MB (make build MAX_PACKAGE_MB=60 raises it; Lambda's own limit is 250 MB
# unzipped): bytes that no event imports cost only the download and unpacking of the package at a cold start, a
# few milliseconds per MB; what an event imports costs import time, which `make bench` measures (coldstart).
# Speed: Lambda cannot write __pycache__, so uncompiled modules are compiled again on every cold start (importing
# the handler took 2.1-2.6 s instead of 0.4 s when measured). The layer is therefore shipped compiled and sourceless
# (module.pyc beside where module.py was), about the size of the sources; library tracebacks then show file and
# line without the source text. BYTECODE=0 ships the sources uncompiled instead.
BUNDLE_BOTO3 ?= 0
BYTECODE ?= 1
KEEP_LOCALES ?= en en_GB
# Django parts this project never imports; remove a name when you add that app to INSTALLED_APPS (a test checks).
UNUSED_DJANGO ?= contrib/admindocs contrib/flatpages contrib/humanize contrib/postgres contrib/redirects \
	contrib/sitemaps contrib/syndication db/backends/mysql db/backends/oracle
STRIP ?= $(firstword $(foreach tool,llvm-strip aarch64-linux-gnu-strip,$(shell command -v $(tool) 2>/dev/null)))

build-DependenciesLayer:
	$(LAMBDA_PYTHON) -m pip install --quiet --disable-pip-version-check --no-compile $(PIP_LAMBDA) \
		--target "$(ARTIFACTS_DIR)/python" -r requirements.txt
	$(MAKE) --no-print-directory trim-layer LAYER_DIR="$(ARTIFACTS_DIR)/python"
	$(if $(filter 1,$(BYTECODE)),$(LAMBDA_PYTHON) $(COMPILE) -b -s "$(ARTIFACTS_DIR)" -p /opt "$(ARTIFACTS_DIR)/python" && \
		find "$(ARTIFACTS_DIR)/python" -name '*.py' -delete)

# What the layer never reads at run time, removed from LAYER_DIR (the pip --target directory).
trim-layer:
	@test -d "$(LAYER_DIR)" || { echo "LAYER_DIR=$(LAYER_DIR) is not a directory"; exit 2; }
	cd "$(LAYER_DIR)" && rm -rf bin $(if $(filter 1,$(BUNDLE_BOTO3)),,boto3 boto3-* botocore botocore-* \
		s3transfer s3transfer-* urllib3 urllib3-* dateutil python_dateutil-* six.py six-* jmespath jmespath-*)
	find "$(LAYER_DIR)" -type f \( -name '*.po' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' \
		-o -name '*.c' -o -name '*.h' -o -name '*.pyi' -o -path '*.dist-info/RECORD' -o -name '_testcapi.*.so' \) -delete
	rm -rf "$(LAYER_DIR)"/django/contrib/gis "$(LAYER_DIR)"/django/contrib/*/static $(addprefix "$(LAYER_DIR)"/django/,$(UNUSED_DJANGO)) \
		"$(LAYER_DIR)"/aws_lambda_powertools/event_handler/openapi/swagger_ui/*.min.*
	find "$(LAYER_DIR)" -type d -name locale -prune -exec sh -c 'for lang in "$$0"/*/; do \
		case " $(KEEP_LOCALES) " in *" $$(basename "$$lang") "*) ;; *) rm -rf "$$lang" ;; esac; done' {} \;
	@# Only files that carry DWARF: rewriting an already stripped, patchelf-repaired library can misalign its segments.
	@if [ -n "$(STRIP)" ]; then \
		find "$(LAYER_DIR)" -type f -name '*.so*' -exec grep -lqa '\.debug_info' {} \; -exec $(STRIP) --strip-debug {} \; ; \
	else \
		echo "No llvm-strip or aarch64-linux-gnu-strip: compiled extensions keep their debug sections (about 1.6 MB more)."; \
	fi

$(addprefix build-,$(FUNCTIONS)): install
	tar -c --exclude=__pycache__ --exclude=infra/events --exclude=infra/local project websockets_app infra | tar -x -C "$(ARTIFACTS_DIR)"
	DJANGO_DEBUG=0 DJANGO_SECRET_KEY=collectstatic-only DJANGO_STATIC_ROOT="$(ARTIFACTS_DIR)/staticfiles" \
		$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(LAMBDA_PYTHON) $(COMPILE) -s "$(ARTIFACTS_DIR)" -p /var/task "$(ARTIFACTS_DIR)"

clean:  ## Remove everything the project creates: .venv, tools, builds, caches, test output, local databases
	rm -rf $(VENV) .tools .aws-sam .hypothesis test-output staticfiles .pytest_cache .ruff_cache .mypy_cache .coverage .coverage.* \
		htmlcov db.sqlite3 db.sqlite3-* .test-db.sqlite3*
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
