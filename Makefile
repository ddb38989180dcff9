# The two commands a user needs are `make lab` and `make test`; both set up first.
#
#   make setup      system tools (apt), .venv with the pinned packages  (idempotent, seconds when done)
#   make lab        JupyterLab on materials/, on 127.0.0.1 with a token  (PORT=8888)
#   make test       lint, unit tests + every solution notebook (nbval)
#   make lint       ruff: linter and formatter check (configured in pyproject.toml)
#   make build      pre-build every NESTML module the materials use
#   make doctor     check the installation, with a fix for every failed check
#   make exercises  regenerate the participant notebooks from the solutions
#   make check      run every solution notebook in a fresh kernel: pass/fail, time, memory
#   make bench      measure notebooks, NESTML builds and make test; writes benchmarks/RESULTS.md,
#                   then the compute of every notebook cell the schedule counts (bench-session)
#   make bench-session [PARTS="eprop ..."]  only the latter: benchmarks/results/session_compute.json
#   make schedule   each part's session time against its slot; the times written into notebooks, READMEs, decks
#   make lock       re-pin requirements/constraints.txt from the current .venv
#   make start PART=introduction   copy a part into workspace/PART (never overwrites), then JupyterLab on workspace/
#   make slides     render presentations/ into offline HTML slide shows in build/slides/
#   make test-browser  slides, JupyterLab and NEST Desktop in headless Chromium (installs chromium with apt as root)
#   make hub        a workshop room on this server (as root): JupyterHub for many participants, each their
#                   own system user and copy of the materials; prints the access code once (HUB_ARGS=...)
#   make desktop    NEST Desktop with a token-protected NEST Server, both on 127.0.0.1 (PORT_DESKTOP=54286, PORT_SERVER=52425)
#   make mpi        OpenMPI (apt) + NEST built with MPI (cached wheel) in its own .venv-mpi  (13-23 min once)
#   make test-mpi   the MPI tests: same spikes/weights for 2 ranks x 1 thread as for 1 rank x 2 threads
#   make test-threads  the notebooks of THREADS_PARTS again at 4 threads (another random network
#                   than at 2; a participant's laptop has 4-8 cores); THREADS_PARTS=... to choose

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.nest-workshop-setup
PORT ?= 8888
# JupyterLab for participants: localhost only, no news feed, no update check.
LAB_FLAGS = --ip=127.0.0.1 --port=$(PORT) --no-browser --LabApp.news_url=None \
	--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate $(if $(filter 0,$(shell id -u)),--allow-root,)

MPI_VENV := .venv-mpi

.PHONY: setup system-packages lab test lint build doctor exercises check bench bench-session schedule lock clean-cache start slides deck-figures browser test-browser desktop hub hub-packages \
	mpi test-mpi bench-mpi test-threads

setup: system-packages $(STAMP)

system-packages:
	@bash scripts/ensure_system_packages.sh "$(PYTHON)"

# The venv is (re)installed only when the dependency files change.
$(STAMP): pyproject.toml requirements/constraints.txt scripts/jupyterlab-overrides.json
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[test]'
	@# JupyterLab's defaults for this environment: no "Jupyter news?" pop-up, no update check
	@# (a participant's first minute goes to the notebook; the machine may be offline).
	@mkdir -p $(VENV)/share/jupyter/lab/settings
	@cp scripts/jupyterlab-overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	@touch $(STAMP)

lab: setup
	@# Jupyter prints the URL with a fresh random token; set JUPYTER_TOKEN to choose one.
	$(BIN)/jupyter lab --notebook-dir=materials $(LAB_FLAGS)

test: setup lint hub-packages
	$(BIN)/python -m pytest -ra --nbval-lax --nbval-current-env --durations=15 tests materials

# NEST draws a different random network for each number of virtual processes: run the
# notebooks whose checks depend on that network again at 4 threads. On a 2-core machine
# the threads outnumber the cores; OMP_WAIT_POLICY=passive keeps that from busy-waiting
# (same spikes, far less time), but a small network still pays for its threads' meeting
# every 1 ms step (e-prop 02, take-home, trains two classifiers: about 7 min at 4 threads on
# 2 cores). CI runs the notebooks of the day's sessions whose checks depend on the random
# network: the introduction's, the e-prop pattern generator, the sequence network (context-
# specific predictions), the compartmental network and the astrocyte network (about 8 min
# in all); the spread of every check over 1-8 threads is in the parts' READMEs and
# benchmarks/results.
THREADS_PARTS ?= materials/introduction materials/eprop/01_pattern_generation_solution.ipynb \
	materials/sequence_learning/02_learning_and_replay_solution.ipynb \
	materials/compartmental/03_morphology_reduction_solution.ipynb \
	materials/astrocytes/02_pools_and_network_solution.ipynb
test-threads: setup
	NEST_WORKSHOP_THREADS=4 OMP_WAIT_POLICY=passive $(BIN)/python -m pytest -ra --nbval-lax --nbval-current-env \
		--durations=5 -p no:cacheprovider $(THREADS_PARTS)

# Linter and formatter (configured in pyproject.toml); part of make test.
# The notebooks' code too: undefined and unused names in the solutions and decks (the
# participants' notebooks have blanks by design). Introduction 02 runs NEST Desktop's
# exported script with exec, which defines the names its later cells use.
NOTEBOOK_LINT = $(BIN)/ruff check --isolated --no-cache --select F
lint: setup
	$(BIN)/ruff check src tests benchmarks conftest.py
	$(BIN)/ruff format --check src tests benchmarks conftest.py
	$(NOTEBOOK_LINT) $(filter-out %/02_from_nest_desktop_solution.ipynb,$(wildcard materials/*/*_solution.ipynb)) presentations/*.ipynb
	$(NOTEBOOK_LINT) --ignore F821 materials/introduction/02_from_nest_desktop_solution.ipynb

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
	$(MAKE) bench-session

# The compute time behind the schedule, cell by cell (NESTML modules cached first, as before a workshop).
bench-session: build
	$(BIN)/python benchmarks/session_compute.py $(PARTS)

schedule: setup
	$(BIN)/nest-workshop schedule --write

lock: setup
	@{ head -n 2 requirements/constraints.txt; $(BIN)/python -m pip freeze --exclude-editable; } > requirements/constraints.new
	@mv requirements/constraints.new requirements/constraints.txt

# Every cache folder, also those moved by NEST_WORKSHOP_*_CACHE (the package names them).
clean-cache:
	PYTHONPATH=src $(PYTHON) -m nest_workshop.core.build_cache clean

start: setup
	@test -n "$(PART)" || { echo "usage: make start PART=introduction  (parts: $$(ls materials | grep -v README | tr '\n' ' '))"; exit 2; }
	$(BIN)/nest-workshop start $(PART)
	$(BIN)/jupyter lab --notebook-dir=workspace $(LAB_FLAGS)

# A workshop room: JupyterHub on 127.0.0.1:8000 (HUB_ARGS="--participants 40 --ip 0.0.0.0
# --ssl-cert ... --ssl-key ..." for a room), each participant a system user with a private
# copy of the materials, the shipped models built once for everyone (README, "A workshop room").
hub-packages:
	@bash scripts/ensure_system_packages.sh --hub "$(PYTHON)"

hub: setup hub-packages
	$(BIN)/nest-workshop hub $(HUB_ARGS)

# NEST Desktop (the web GUI) and NEST Server: 127.0.0.1 only, an access token (generated, or
# NEST_SERVER_ACCESS_TOKEN), scripts under RestrictedPython; prints the URL to open.
PORT_DESKTOP ?= 54286
PORT_SERVER ?= 52425
desktop: setup
	$(BIN)/nest-workshop desktop --port $(PORT_DESKTOP) --server-port $(PORT_SERVER)

# Offline reveal.js slide shows; reveal.js comes from the npm registry (pinned, verified).
slides: setup
	NEST_WORKSHOP_THREADS=$${NEST_WORKSHOP_THREADS:-1} $(BIN)/nest-workshop slides

# The decks' figures (presentations/figures/, committed): schematics and slide simulations,
# then the key results, taken from the solution notebooks (runs them: several minutes).
deck-figures: setup
	$(BIN)/nest-workshop slides --figures

# Debian's chromium for the browser tests (Playwright's own browser download is not used),
# and npm, which fetches reveal.js for the slides once.
browser:
	@missing=""; command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing with apt-get:$$missing"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "Missing:$$missing; the browser tests will be skipped. Install with:"; \
		echo "    sudo apt-get update && sudo apt-get install -y$$missing"; fi

test-browser: setup browser
	NEST_WORKSHOP_THREADS=$${NEST_WORKSHOP_THREADS:-1} $(BIN)/python -m pytest -ra -m browser --durations=10 \
		tests/test_slides.py tests/test_browser.py tests/test_desktop.py tests/test_hub_browser.py

# NEST with MPI, for running the networks at scale (README, "Scaling up"). The wheel is
# built once from NEST's PyPI sdist and cached (~/.cache/nest-workshop/mpi-wheels, or
# $$NEST_WORKSHOP_MPI_CACHE); the MPI environment is separate from .venv, whose binary
# NEST wheel has no MPI. The builder uses only the standard library: no venv needed.
mpi:
	@bash scripts/ensure_system_packages.sh --mpi "$(PYTHON)"
	PYTHONPATH=src $(PYTHON) -m nest_workshop.scaleout.mpi_wheel --venv $(MPI_VENV)

test-mpi: mpi
	$(MPI_VENV)/bin/python -m pytest -ra -p no:cacheprovider --durations=10 tests/mpi

# Wall time and memory per process of the astrocyte network for 1x1, 1x2 and 2x1.
bench-mpi: mpi
	$(MPI_VENV)/bin/python benchmarks/mpi_scaling.py
