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
	mkdir -p out
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
	@echo "== One patient (FHIR R4 Bundle), as a clinician's summary =="
	$(BIN)/b12ms assess examples/ms-numbness-metformin.json --as-of 2026-11-01
	$(BIN)/b12ms assess examples/ms-numbness-metformin.json --as-of 2026-11-01 --format html > out/demo-patient.html
	@echo "== A population: 2,000 synthetic patients as FHIR Bulk NDJSON, screened for care gaps =="
	$(BIN)/b12ms synth --patients 2000 --seed 1 --out out/demo-population --force --quiet
	@# Exit 4 = screened, with malformed lines skipped: synth plants a few on purpose.
	$(BIN)/b12ms screen out/demo-population --as-of 2026-11-01 --out out/worklist.csv \
		--report out/population-report.html --summary out/population-summary.json --quiet \
		|| test $$? -eq 4
	@echo
	@echo "Patient report (HTML):   out/demo-patient.html"
	@echo "Population worklist:     out/worklist.csv"
	@echo "Population report:       out/population-report.html"
	@echo "Population summary:      out/population-summary.json"
	@echo "JSON contract:           $(BIN)/b12ms assess examples/ms-numbness-metformin.json --as-of 2026-11-01 --format json"
	@echo "Web page and CDS Hooks:  $(BIN)/b12ms serve --dev   (then open http://127.0.0.1:8080/)"

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
	$(BIN)/python benchmarks/bench_screen.py --patients 10000 100000
	$(BIN)/python benchmarks/bench_service.py --seconds 8 --workers 2

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
