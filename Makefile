# The two commands: `make demo` and `make test`. Both bootstrap .venv from requirements.lock.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.causeway-installed

.PHONY: demo test lint typecheck bench lock clean

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/causeway demo

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard benchmarks)
	$(BIN)/ruff format --check src tests $(wildcard benchmarks)

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_roundtrip.py

# Re-resolve the lock from pyproject.toml (needs the package registry).
lock:
	rm -rf /tmp/causeway-lock && $(PYTHON) -m venv /tmp/causeway-lock
	/tmp/causeway-lock/bin/pip install --quiet --upgrade pip
	/tmp/causeway-lock/bin/pip install --quiet -e '.[dev,plot]'
	/tmp/causeway-lock/bin/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
