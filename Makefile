# adstage — `make demo` runs the nightly pipeline on the embedded demo catalog,
# `make test` runs the test suite. Both set up what is missing first and skip it the second time.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
CACHE ?= $(HOME)/.cache/adstage
# The environment lives outside the clone, keyed by the lock file: a new lock, a new venv.
LOCK_HASH := $(shell sha256sum requirements.lock | cut -c1-12)
VENV ?= $(CACHE)/venv-$(LOCK_HASH)
PY := $(VENV)/bin/python
DS ?= 2026-11-24
DEMO_PRODUCTS ?= 40

export PYTHONPATH := $(CURDIR)
export PATH := $(VENV)/bin:$(PATH)
export PYSPARK_PYTHON := $(PY)
export PYSPARK_DRIVER_PYTHON := $(PY)
# One machine: bind Spark to loopback (and skip its "hostname resolves to loopback" warning).
export SPARK_LOCAL_IP ?= 127.0.0.1
# Demo state stays inside the clone (gitignored) so the README can point at it.
DEMO_HOME := $(CURDIR)/var/demo
AIRFLOW_DEMO_HOME := $(CURDIR)/var/airflow

.PHONY: help env jars java demo demo-catalog test tables clean

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
	  $(PY) -m pip install -q --upgrade "pip>=24"; \
	  $(PY) -m pip install -q --no-deps -r requirements.lock; \
	  $(PY) -m pip check; \
	  touch $@'

env: $(VENV)/.complete  ## Python environment (cached in ~/.cache/adstage, keyed by requirements.lock)
	@# The project itself is installed editable on every call (seconds), so the `adstage`
	@# command always runs this clone's code.
	@flock $(CACHE)/.build.lock $(PY) -m pip install -q --no-deps --no-build-isolation -e . \
	  >$(CACHE)/editable-install.log 2>&1 || { cat $(CACHE)/editable-install.log; exit 1; }
	@ln -sfn $(VENV) .venv

jars: env java  ## Delta jars from Maven Central into ~/.cache/adstage/jars (once)
	@$(PY) -m adstage.jars >/dev/null
	@echo ">> Delta jars: $$($(PY) -m adstage.jars --print)"

demo-catalog: env  ## generate the embedded demo catalog into var/demo/catalog
	@$(PY) -m adstage.demo.catalog --out $(DEMO_HOME)/catalog --products $(DEMO_PRODUCTS) --ds $(DS)

demo: jars demo-catalog  ## run the nightly DAG for real on the demo catalog, then list the tables
	@echo ">> running the nightly DAG for $(DS) with Airflow (airflow dags test)"
	@ADSTAGE_HOME=$(DEMO_HOME) AIRFLOW_HOME=$(AIRFLOW_DEMO_HOME) \
	  ADSTAGE_FEED_URI=$(DEMO_HOME)/catalog/feed.jsonl ADSTAGE_ALLOWED_ROOTS=$(DEMO_HOME)/catalog \
	  $(PY) -m adstage.airflow_local run adstage_nightly $(DS)
	@ADSTAGE_HOME=$(DEMO_HOME) $(PY) -m adstage.cli paths
	@echo; echo ">> MLflow runs"
	@ADSTAGE_HOME=$(DEMO_HOME) $(PY) -m adstage.cli runs -n 5
	@echo; echo ">> tables"
	@ADSTAGE_HOME=$(DEMO_HOME) $(PY) -m adstage.cli tables

test: jars  ## run the whole test suite (real Spark, Delta, MLflow, Airflow, ONNX)
	@$(PY) -m pytest -q $(PYTEST_ARGS)

tables: env  ## list the demo tables (Delta version, rows, latest ds)
	@ADSTAGE_HOME=$(DEMO_HOME) $(PY) -m adstage.cli tables

clean:  ## remove local demo state (var/); the cached environment and jars stay
	rm -rf var .pytest_cache
