# The two commands a user needs are `make lab` and `make test`; both set up first.
#
#   make setup      system tools (apt), .venv with the pinned packages  (idempotent, seconds when done)
#   make lab        JupyterLab on materials/, on 127.0.0.1 with a token  (PORT=8888)
#   make test       unit tests + every solution notebook (nbval)
#   make build      pre-build every NESTML module the materials use
#   make doctor     check the installation, with a fix for every failed check
#   make exercises  regenerate the participant notebooks from the solutions
#   make check      run every solution notebook in a fresh kernel: pass/fail, time, memory
#   make bench      measure notebooks, NESTML builds and make test; writes benchmarks/RESULTS.md
#   make lock       re-pin requirements/constraints.txt from the current .venv

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.nest-workshop-setup
PORT ?= 8888

.PHONY: setup system-packages lab test build doctor exercises check bench lock clean-cache

setup: system-packages $(STAMP)

system-packages:
	@bash scripts/ensure_system_packages.sh "$(PYTHON)"

# The venv is (re)installed only when the dependency files change.
$(STAMP): pyproject.toml requirements/constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[test]'
	@touch $(STAMP)

lab: setup
	@# Jupyter prints the URL with a fresh random token; set JUPYTER_TOKEN to choose one.
	$(BIN)/jupyter lab --notebook-dir=materials --ip=127.0.0.1 --port=$(PORT) --no-browser \
		$(if $(filter 0,$(shell id -u)),--allow-root,)

test: setup
	$(BIN)/python -m pytest -ra --nbval-lax --nbval-current-env --durations=15 tests materials

build: setup
	$(BIN)/nest-workshop build

doctor: setup
	$(BIN)/nest-workshop doctor

exercises: setup
	$(BIN)/nest-workshop exercises

check: setup
	$(BIN)/nest-workshop check

bench: setup
	$(BIN)/python benchmarks/run_benchmarks.py

lock: setup
	@{ head -n 2 requirements/constraints.txt; $(BIN)/python -m pip freeze --exclude-editable; } > requirements/constraints.new
	@mv requirements/constraints.new requirements/constraints.txt

clean-cache:
	rm -rf "$${XDG_CACHE_HOME:-$$HOME/.cache}/nest-workshop"
