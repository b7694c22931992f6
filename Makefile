# The README's quick start: `make demo` and `make test`, each setting everything up on a fresh machine.
# Python 3.12 is preferred (the NLP and Spark extras resolve cleanly there); 3.11 works for the core.
PY312  := $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) $(wildcard /usr/bin/python3.12 /usr/local/bin/python3.12))
PYTHON ?= $(if $(PY312),$(PY312),python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-core
PIP_QUIET := --quiet --disable-pip-version-check

.PHONY: setup demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_QUIET) --upgrade pip
	$(BIN)/pip install $(PIP_QUIET) -e '.[dev]'
	@# System packages, from Debian, only when missing: a Java runtime for Spark (b12ms screen
	@# --engine spark and its tests) and Chromium for the web page's end-to-end browser test.
	command -v java >/dev/null 2>&1 || (apt-get update && apt-get install -y default-jre-headless)
	test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)
	touch $@

setup: $(STAMP)

demo: setup
	$(BIN)/b12ms --version
	$(BIN)/b12ms assess examples/ms-numbness-metformin.json --as-of 2026-11-01
	@echo
	@echo "JSON contract of the same assessment: $(BIN)/b12ms assess examples/ms-numbness-metformin.json --as-of 2026-11-01 --format json"

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest

test: lint typecheck unit

bench: setup
	command -v wrk >/dev/null 2>&1 || (apt-get update && apt-get install -y wrk)
	$(BIN)/python benchmarks/bench_assess.py --seconds 4

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
