# The two commands a new user types: `make demo` and `make test`. Both set up first.
VENV      := .venv
PY        := $(VENV)/bin/python
PYTEST    := $(PY) -m pytest
# -n auto: the suite is xdist-safe (free ports, own temp dirs). --dist loadgroup keeps tests that
# share one expensive fixture (a gateway per module) on one worker.
PYTEST_ARGS ?= -n auto --dist loadgroup

.PHONY: setup test demo unit contract integration rollback load lint check-lint bench clean help

help:
	@echo "make demo   - set up, then run the pipeline on the example config"
	@echo "make test   - set up, then run the whole suite"
	@echo "make unit|contract|integration|rollback|load|lint|bench"

setup:
	@bash scripts/setup.sh

# Lint first (seconds), then the whole suite: what CI proves is exactly this.
test: setup
	@$(MAKE) --no-print-directory check-lint
	$(PYTEST) $(PYTEST_ARGS)

demo: setup
	$(VENV)/bin/aibackend demo

unit: setup
	$(PYTEST) -m unit $(PYTEST_ARGS)

contract: setup
	$(PYTEST) -m contract $(PYTEST_ARGS)

integration: setup
	$(PYTEST) -m integration $(PYTEST_ARGS)

rollback: setup
	$(PYTEST) -m rollback $(PYTEST_ARGS)

load: setup
	$(PYTEST) -m load $(PYTEST_ARGS)

lint: setup
	@$(MAKE) --no-print-directory check-lint

check-lint:
	$(VENV)/bin/ruff check generator aibackend contracts loadtests tests benchmarks conftest.py
	$(VENV)/bin/mypy
	$(VENV)/bin/yamllint -s config/providers.yaml config/model-mappings.yaml config/gateway.yaml contracts/specs

bench: setup
	$(PY) benchmarks/bench_compile.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .benchmarks
