# BotBox: `make demo` runs the paper-trading demo, `make test` runs the whole suite.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 3000

# State lives under BOTBOX_HOME; Dagster's instance config is this repository's dagster.yaml.
export BOTBOX_HOME ?= $(CURDIR)/.botbox
export DAGSTER_HOME := $(CURDIR)
export BOTBOX_DAGSTER_STORAGE := $(BOTBOX_HOME)/dagster

.PHONY: install browser demo test lint format typecheck validate bench clean

$(VENV)/.installed: pyproject.toml uv.lock scripts/bootstrap-venv
	VENV=$(VENV) scripts/bootstrap-venv
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/botbox demo --port $(PORT)

browser:
	scripts/ensure-browser

test: install browser lint typecheck validate
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install
	$(BIN)/mypy

validate: install
	mkdir -p $(BOTBOX_DAGSTER_STORAGE)
	$(BIN)/dagster definitions validate -w workspace.yaml

bench: install
	$(BIN)/python scripts/bench_signal_tick.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
