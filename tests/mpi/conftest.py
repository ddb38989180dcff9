"""Tests that run the bundle under mpirun with the MPI build of NEST (`make test-mpi`).

They need .venv-mpi (made by `make mpi`); in any other environment they are skipped.
The test process itself never imports NEST: an imported MPI NEST puts OpenMPI's
variables into the environment, and an mpirun started from it then fails.
"""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mpirun_helpers import clean_environment


def _nest_has_mpi() -> bool:
    # .venv-mpi has mpi4py and .venv has not: decide without starting NEST when we can.
    if importlib.util.find_spec("mpi4py") is None:
        return False
    probe = subprocess.run(
        [sys.executable, "-c", "import nest; print(nest.build_info['have_mpi'])"],
        capture_output=True,
        text=True,
        env=clean_environment(),
    )
    return probe.stdout.strip().endswith("True")


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    ours = [item for item in items if Path(str(item.fspath)).is_relative_to(here)]
    if not ours:
        return
    if shutil.which("mpirun") is None or not _nest_has_mpi():
        skip = pytest.mark.skip(reason="needs NEST with MPI and mpirun: run `make test-mpi`")
        for item in ours:
            item.add_marker(skip)
