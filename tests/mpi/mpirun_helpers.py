"""Running commands under mpirun from the tests (which never import NEST themselves)."""

import subprocess
import sys
from pathlib import Path

import pytest

from nest_workshop.scaleout.launch import clean_environment, mpirun_command

BIN = Path(sys.executable).parent


def run(command: list[str], ranks: int = 1, timeout: float = 900.0) -> subprocess.CompletedProcess:
    """Run ``command`` alone (ranks=1) or under ``mpirun -np ranks``; fail with its output."""
    command = mpirun_command(command, ranks)
    result = subprocess.run(command, capture_output=True, text=True, env=clean_environment(), timeout=timeout)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result
