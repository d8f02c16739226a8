# Two commands on a fresh machine: `make run` and `make test`. Both bootstrap .venv.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# Integration tests mostly wait on brokers, subprocesses and group joins: three workers share 2 cores well.
TEST_WORKERS ?= 3

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (set PYTHON=...)")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

## run: start the whole hub on the embedded default (Tansu broker, SQLite, API on :8000)
run: $(STAMP)
	$(VENV)/bin/hub up --demo

## test: lint, then every test (unit + integration; SQLite and PostgreSQL; real Tansu broker)
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist load

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check . || true

## bench: producer transport benchmark (prints ratios measured in one run)
bench: $(STAMP)
	$(PY) -m ops.bench.producer_bench

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
