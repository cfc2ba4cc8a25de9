# photosort - two commands to start: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell PYENV_VERSION=3.13.0 pyenv which python 2>/dev/null || command -v python3.13)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# sam build for python3.13 needs python3.13 on PATH: the venv provides it.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install demo test lint bench load-test build clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "python3.13 not found (pyenv 3.13.0 or python3.13 on PATH)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)

demo: install
	$(BIN)/photosort demo

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint

build: install
	$(BIN)/sam build

bench: install
	$(BIN)/python -m bench

load-test: install
	$(BIN)/python -m pytest -q -m slow tests/reliability/test_load.py

clean:
	rm -rf .aws-sam $(VENV) .pytest_cache
