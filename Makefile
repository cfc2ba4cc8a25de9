# photosort - two commands to start: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell PYENV_VERSION=3.13.0 pyenv which python 2>/dev/null || command -v python3.13)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# checkov gets its own venv: resolving it together with aws-sam-cli backtracks for a very long time.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-stamp
# mutmut gets its own venv too: it needs a newer click than aws-sam-cli pins.
MUTATION_VENV := .venv-mutation
MUTATION_STAMP := $(MUTATION_VENV)/.installed-stamp
# the real AWS CLI (v1 pins botocore exactly) for the README recipe test, in its own venv too
AWSCLI_VENV := .venv-awscli
AWSCLI_STAMP := $(AWSCLI_VENV)/.installed-stamp
# sam build for python3.13 needs python3.13 on PATH: the venv provides it.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install demo test lint bench load-test build clean browser mutation

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "python3.13 not found (pyenv 3.13.0 or python3.13 on PATH)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[local,dev]'
	touch $@

$(CHECKOV_STAMP): .ci/checkov-requirements.txt
	@test -n "$(PYTHON)" || { echo "python3.13 not found (pyenv 3.13.0 or python3.13 on PATH)"; exit 1; }
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r .ci/checkov-requirements.txt
	touch $@

$(MUTATION_STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "python3.13 not found (pyenv 3.13.0 or python3.13 on PATH)"; exit 1; }
	test -x $(MUTATION_VENV)/bin/python || $(PYTHON) -m venv $(MUTATION_VENV)
	$(MUTATION_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MUTATION_VENV)/bin/python -m pip install --quiet -e '.[local,mutation]'
	touch $@

$(AWSCLI_STAMP): .ci/awscli-requirements.txt
	@test -n "$(PYTHON)" || { echo "python3.13 not found (pyenv 3.13.0 or python3.13 on PATH)"; exit 1; }
	test -x $(AWSCLI_VENV)/bin/python || $(PYTHON) -m venv $(AWSCLI_VENV)
	$(AWSCLI_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AWSCLI_VENV)/bin/python -m pip install --quiet -r .ci/awscli-requirements.txt
	touch $@

install: $(STAMP)

demo: install
	$(BIN)/photosort demo --picture photosort-demo.png

# The gallery's browser tests need Debian's chromium and chromedriver: installed here where apt-get exists and we
# are root (waiting for another apt to release its lock); elsewhere the tests skip and say why.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get -o DPkg::Lock::Timeout=600 update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q chromium chromium-driver; \
	else echo "chromium is missing and cannot be installed here (needs apt-get and root): browser tests will skip"; fi

test: install $(CHECKOV_STAMP) $(AWSCLI_STAMP) browser
	$(BIN)/python -m pytest -q

lint: install $(CHECKOV_STAMP)
	$(BIN)/cfn-lint template.yaml --append-rules cfn_lint_serverless.rules
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet
	$(BIN)/sam validate --lint

build: install
	$(BIN)/sam build

bench: install
	$(BIN)/python -m bench
	$(BIN)/photosort cost --images 1000000 --backend all --plot bench/results/cost-per-month.png
	$(BIN)/python -m photosort_local.cost.compare

load-test: install $(CHECKOV_STAMP) $(AWSCLI_STAMP)
	$(BIN)/python -m pytest -q -m slow tests/reliability/test_load.py

# Mutation testing of the domain layer (minutes; not part of `make test`): merges into tests/mutation/results/ and report.md
# One module or a few: make mutation MODULES="photosort.storage photosort.backends.*" (the others are kept).
MODULES ?=
MAX_CHILDREN ?= 2
mutation: $(MUTATION_STAMP)
	$(MUTATION_VENV)/bin/python tests/mutation/run.py --max-children $(MAX_CHILDREN) $(if $(MODULES),--only $(MODULES))

clean:
	rm -rf .aws-sam $(VENV) $(CHECKOV_VENV) $(AWSCLI_VENV) $(MUTATION_VENV) .mutation .pytest_cache
