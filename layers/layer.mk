# Shared by layers/*/Makefile (SAM `BuildMethod: makefile`): `sam build` runs `make -f layers/<x>/Makefile
# build-<LogicalId>` in a scratch copy with ARTIFACTS_DIR set. Installs the layer's requirements.txt into
# $(ARTIFACTS_DIR)/python from binary wheels for Lambda arm64 / CPython 3.13, then deletes what layers/prune.txt
# lists (layers/prune.py).
#
# TARGET=native installs wheels for this machine instead (same requirements, same prune list): the static tests
# import every handler and classify photos from such a build to prove the pruned layers still work.
#   make -f layers/model/Makefile build-ModelLayer ARTIFACTS_DIR=/tmp/model TARGET=native

LAYERS_DIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
PYTHON ?= python3.13
TARGET ?= arm64
# Lambda's python3.13 runtime is Amazon Linux 2023 (glibc 2.34): any manylinux tag up to 2_34 runs there. pip
# does not widen manylinux_2_X platforms by itself, so every tag is listed.
ifeq ($(TARGET),arm64)
PIP_PLATFORM := --implementation cp --python-version 3.13 --platform manylinux2014_aarch64 \
	$(foreach v,17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34,--platform manylinux_2_$(v)_aarch64)
else
PIP_PLATFORM :=
endif
PIP_INSTALL = $(PYTHON) -m pip install --disable-pip-version-check --no-input --quiet --no-compile --no-warn-conflicts \
	--only-binary=:all: --upgrade $(PIP_PLATFORM) --target "$(ARTIFACTS_DIR)/python"
# Prune, then compile: layers are read-only on Lambda, so without .pyc every cold start recompiles each module.
# unchecked-hash .pyc files stay valid whatever the files' timestamps after unzipping.
PRUNE = $(PYTHON) "$(LAYERS_DIR)/prune.py" "$(ARTIFACTS_DIR)/python" && \
	$(PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash "$(ARTIFACTS_DIR)/python"

# copy_package SRC DEST_DIR: a source package without caches
define copy_package
	mkdir -p "$(2)"
	cp -R "$(1)" "$(2)/"
	find "$(2)" -name __pycache__ -type d -prune -exec rm -rf {} +
endef
