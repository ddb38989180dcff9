"""Launching a command under ``mpirun`` from Python (tests, benchmarks): the command
line and a clean environment for it. Gathering results across ranks is the runtime's
job (:mod:`nest_workshop.core.ranks`)."""

from __future__ import annotations

import os
import shutil


def clean_environment(**extra) -> dict:
    """The environment for launching ``mpirun`` from Python.

    Without OpenMPI's and PMIx's per-job variables (a process that imported an MPI NEST
    has them, and an ``mpirun`` started with them fails), with passive OpenMP waiting
    (no busy-waiting when ranks share cores), and, as root, with OpenMPI's consent to
    run as root.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OMPI_", "PMIX_", "OPAL_", "PRTE_")) and key != "NEST_WORKSHOP_THREADS"
    }
    env.update(OMP_WAIT_POLICY="passive", PYTHONUNBUFFERED="1")
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    env.update(extra)
    return env


def mpirun_command(command: list[str], ranks: int) -> list[str]:
    """``command`` as it is (one rank) or under ``mpirun -np ranks``, not bound to cores
    (so the threads of a rank may use several), with the OpenMP wait policy passed on."""
    if ranks <= 1:
        return list(command)
    launcher = shutil.which("mpirun")
    if launcher is None:
        raise FileNotFoundError("mpirun was not found; install OpenMPI (make mpi) or load your cluster's MPI module")
    return [launcher, "-np", str(ranks), "--bind-to", "none", "-x", "OMP_WAIT_POLICY", *command]
