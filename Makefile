# powerhall: `make run` and `make test` are the whole quick start (README.md).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9
MANAGE := $(PY) manage.py
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup run test test-sweep lint format messages totp bench bench-smoke bench-scale wrk audit clean prod-local prod-local-smoke load

# A venv from the lock file; refreshed whenever requirements.lock changes.
$(VENV)/.synced: requirements.lock
	@scripts/system-deps
	@test -x $(PY) || "$$(scripts/find-python)" -m venv $(VENV)
	@# -qq: errors only (some machines' pip.conf names find-links folders that do not exist).
	@test -x $(UV) || $(PY) -m pip install -qq --disable-pip-version-check "uv==$(UV_VERSION)"
	@# --compile-bytecode: the .pyc files now, in parallel. Where PYTHONDONTWRITEBYTECODE is set
	@# (it is on the CI machines) Python never writes them, and every process would compile
	@# Django, Wagtail and the rest from source again: seconds of CPU at each start.
	@$(UV) pip sync -q --python $(PY) --require-hashes --compile-bytecode requirements.lock
	@touch $@

# axe-core, which the browser tests inject into pages (tests/browser/test_accessibility.py), from
# tests/browser/package-lock.json (exact version and integrity); installed again when the lock
# changes. npm ci writes node_modules/.package-lock.json, whose date then follows the lock's.
AXE := tests/browser/node_modules/.package-lock.json
$(AXE): tests/browser/package-lock.json
	@scripts/system-deps
	@npm ci --no-audit --no-fund --silent --prefix tests/browser
	@touch $@

setup: $(VENV)/.synced $(AXE)
	@scripts/system-deps
	@# Our own code's .pyc too (see above); one that goes stale is compiled again in memory.
	@$(PY) -m compileall -q -j 0 portal payments applications cms benchmarks tests >/dev/null
	@$(MANAGE) compilemessages -v 0 --ignore '.venv/*'

run: setup
	@$(MANAGE) migrate --no-input -v 0
	@$(MANAGE) seed_demo
	@# runserver's banner warns that it is no production server: make prod-local is that.
	@DJANGO_RUNSERVER_HIDE_WARNING=true $(MANAGE) runserver $(HOST):$(PORT)

# One pytest worker per core (pytest-xdist), each with its own test database and Redis database;
# TEST_WORKERS=0 runs in one process. --dist load hands each worker its tests in collection order,
# which keeps pytest-django's order (transactional tests, which empty the tables, last);
# worksteal breaks it.
TEST_WORKERS ?= auto
# DATE='2027-01-02 00:30' runs the same suite with the whole clock moved to that Beijing time
# (it starts there and ticks; docs/time.md): CI's PostgreSQL run does. Only from the command
# line: a DATE in the environment means something else.
CLOCK_AT := $(if $(filter command line,$(origin DATE)),$(DATE))
test: setup
	@$(if $(CLOCK_AT),scripts/test-on "$(CLOCK_AT)",$(PY) -m pytest) -n $(TEST_WORKERS) --dist load $(PYTEST_ARGS)

# The suite on each date of scripts/test-sweep (month and year ends, 29 February…), one after the
# other; a summary line per date. About two minutes a date.
test-sweep: setup
	@scripts/test-sweep $(DATES)

lint: setup
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/lint-imports --no-cache
	@$(VENV)/bin/bandit -c pyproject.toml -r . -q

format: setup
	@$(VENV)/bin/ruff check --fix .
	@$(VENV)/bin/ruff format .

# Refresh the translation catalogues after adding or changing user-facing strings.
messages: setup
	@$(MANAGE) makemessages -l zh_Hans -l en --ignore '.venv/*' --ignore 'var/*' --no-obsolete
	@$(MANAGE) makemessages -d djangojs -l zh_Hans -l en --ignore '.venv/*' --ignore 'var/*' --ignore 'static/vendor/*' --no-obsolete

# Speed and memory benchmarks; writes benchmarks/results/latest.json (ratios to a bare view).
bench: setup wrk
	@$(PY) benchmarks/run.py

# Every benchmark at a tiny size, so CI notices when one stops working (its figures mean nothing).
bench-smoke: setup wrk
	@$(PY) benchmarks/run.py --smoke

# The resident's, the business's and the staff's pages as the database grows to 1,000,000 accounts
# and 12,000,000 bills (benchmarks/scale.py; PostgreSQL: DATABASE_URL names the server). The
# database BENCH_SCALE_DB stays afterwards; SCALE_ARGS=--keep grows and measures it again without
# rebuilding, SCALE_ARGS='--sizes 1000,100000' is the quick run. The 1 M step takes most of an hour.
BENCH_SCALE_DB ?= powerhall_scale
bench-scale: setup
	@BENCH_SCALE_DB=$(BENCH_SCALE_DB) $(PY) benchmarks/scale.py $(SCALE_ARGS)

# The production configuration on this machine: nginx with TLS on https://127.0.0.1:8443 in front
# of two gunicorn app servers, two task workers and the scheduler, on the local PostgreSQL and
# Redis (docs/deploy.md, "On one machine"). Ctrl-C stops it. PROD_LOCAL_REPLICA=1 adds a
# streaming replica for the reads that may lag.
prod-local: setup
	@scripts/prod-local up

# CI: the same on a new database, checked end to end by scripts/prod_local_smoke.py, then stopped.
prod-local-smoke: setup
	@scripts/prod-local smoke

# The load test (benchmarks/load.py) against the production configuration on this machine: a
# new database, 60 s of mixed traffic, a burst of sign-ins, the load stepped to its knee, then the
# ledger, the payments and the audit chain checked. benchmarks/results/load.md; a few minutes.
load: setup
	@scripts/prod-local load

wrk:
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } \
		|| { echo "make bench needs wrk: apt-get install wrk" >&2; exit 1; }

# Known vulnerabilities in the locked dependencies (docs/operations.md, "Dependency audit"). Asks
# PyPI's advisory feed (AUDIT_ARGS='-s osv' asks OSV) about every pinned version of
# requirements.lock, hashes checked, installing nothing. --strict: a package that could not be
# checked fails the audit instead of passing unchecked; --timeout: an unreachable service fails
# within seconds. Needs the internet, so CI does not run it. Exit 0: no known vulnerability.
AUDIT_ARGS ?=
audit: $(VENV)/.synced
	@$(VENV)/bin/pip-audit -r requirements.lock --require-hashes --disable-pip --strict \
		--timeout 15 --progress-spinner off $(AUDIT_ARGS)

# The current two-factor codes of the demo users (development only).
totp: setup
	@$(MANAGE) demo_totp

clean:
	rm -rf $(VENV) var tests/browser/node_modules
