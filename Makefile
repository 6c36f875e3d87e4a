# RoboShop: the honest targets. `make up` runs the shop, `make test` runs every test.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
ARGS   ?=

.PHONY: install install-dev up test test-unit lint format bench clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "RoboShop needs Python >= 3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed          ## create .venv and install RoboShop

install-dev: $(VENV)/.installed-dev  ## ... plus the test and lint tools

up: install                          ## run the whole shop locally: http://127.0.0.1:8080 (ARGS="--replicas catalogue=3")
	$(BIN)/roboshop up $(ARGS)

test: install-dev                    ## every test: unit, integration (real databases), e2e
	$(BIN)/pytest $(ARGS)

test-unit: install-dev
	$(BIN)/pytest tests/unit $(ARGS)

lint: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: install-dev
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: install-dev                   ## benchmarks; results in bench/out/*.json
	$(BIN)/python -m bench.foundation
	$(BIN)/python -m bench.telemetry
	$(BIN)/python -m bench.gateway

clean:
	rm -rf $(VENV) .roboshop bench/out .pytest_cache .mypy_cache .ruff_cache
