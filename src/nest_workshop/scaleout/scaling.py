"""The bundle's networks at a size of your choice, under any number of MPI processes.

``nest-workshop scale astrocytes --size 10 --out results/astro`` (or under
``mpirun -np N``) builds the astrocyte balanced network of the astrocytes part with
``size`` x 1,000 neurons and as many astrocytes; ``nest-workshop scale eprop --size 4``
trains the e-prop pattern-generation network with ``size`` x 100 recurrent neurons and
as many inputs. In-degrees stay those of the workshop networks, so memory and time grow
in proportion to ``size`` (see README, "Scaling up").

Every rank simulates its share; the results are gathered from all ranks
(:mod:`nest_workshop.core.ranks`) and written once, by rank 0, into the output folder:

``summary.json``
    What ran (network, size, seed, ranks, threads per rank, virtual processes, NEST
    version), the results (astrocytes: neurons, astrocytes, connections, spikes, mean
    rate in spikes/s, CV of inter-spike intervals, Golomb's synchrony χ and mean
    pairwise correlation of the first 500 neurons; e-prop: loss per iteration, first
    and last loss), and cost (build and simulation wall time in s, peak resident
    memory in MB per rank).
``spikes.npz`` (astrocytes)
    ``times`` (ms, float64) and ``senders`` (node ids, int64) of every neuron's spikes,
    sorted by time, then sender.
``weights.npz`` (e-prop)
    ``source``, ``target`` (node ids) and ``weight`` of every e-prop synapse after
    training, sorted by source, then target.

The same seed and the same number of virtual processes (ranks x threads) give the same
files, bit for bit, whatever the split into ranks and threads.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import numpy as np

from ..core import notebook_code, ranks
from ..core.analysis import mean_rate
from ..core.kernel import THREADS_ENV, default_threads, import_nest, reset_kernel

NETWORKS = ("astrocytes", "eprop")
STATISTICS_NEURONS = 500  # correlation and χ over this many neurons: O(n²) memory


def peak_memory_mb() -> float:
    """Peak resident memory of this process in MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _check_size(size: float) -> float:
    try:
        size = float(size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be a number such as 0.5, 1, 10; got {size!r}") from None
    if not size > 0:
        raise ValueError(f"size must be positive, got {size}")
    return size


def _run_info(network: str, size: float, seed: int, threads: int) -> dict:
    nest = import_nest()
    return {
        "network": network,
        "size": size,
        "seed": seed,
        "ranks": ranks.num_processes(),
        "threads_per_rank": threads,
        "virtual_processes": ranks.num_processes() * threads,
        "nest_version": nest.__version__,
        "nest_has_mpi": bool(nest.build_info.get("have_mpi", False)),
    }


ASTROCYTE_NOTEBOOK = ("astrocytes", "02_pools_and_network")


def run_astrocytes(
    size: float = 1.0, *, seed: int = 1, threads: int = 1, t_sim: float = 1000.0, sic: bool = True
) -> tuple[dict, dict]:
    """The astrocytes part's balanced network with ``size`` x 1,000 neurons: the cells
    of notebook astrocytes/02 tagged ``network`` (section 2), run with a larger
    ``config``.

    Returns (summary, spikes) as described in the module docstring. All neurons are
    recorded. ``size`` must be at least 0.5 (the in-degree of 400 excitatory inputs
    needs 500 excitatory neurons).
    """
    from ..parts.astrocytes import BalancedNetworkConfig, spike_statistics

    size = _check_size(size)
    n_neurons = int(round(1000 * size))
    config = BalancedNetworkConfig(n_neurons=n_neurons, t_sim=float(t_sim), n_recorded=n_neurons)
    try:
        config.validate()
    except ValueError as error:
        raise ValueError(
            f"size {size} gives {n_neurons} neurons, which the network cannot have: {error} (use a size of at least 0.5)"
        ) from None
    network = notebook_code.run_cells(notebook_code.solution_notebook(*ASTROCYTE_NOTEBOOK), {"config": config, "SEED": seed})
    started = time.perf_counter()
    # This command owns its process, and so its kernel: it resets it, like a notebook.
    reset_kernel(seed=seed, threads=threads)
    nodes = network["create_nodes"](config)
    network["connect_excitatory"](config, nodes)
    run = network["finish_and_run"](config, nodes, sic)
    wall = time.perf_counter() - started
    # The notebook reads this rank's recorders; the spikes of every rank, in canonical order:
    spikes = ranks.gather_events(run["spikes"])
    n_connections = ranks.count_connections()
    t_start = min(200.0, config.t_sim / 2)  # skip the onset transient
    # Irregularity and synchrony over a fixed number of neurons: their cost grows as n².
    sample = run["recorded"][:STATISTICS_NEURONS]
    keep = np.isin(spikes["senders"], sample)
    stats = spike_statistics({key: value[keep] for key, value in spikes.items()}, sample, t_start, config.t_sim)
    summary = {
        **_run_info("astrocytes", size, seed, threads),
        "n_neurons": n_neurons,
        "n_astrocytes": config.n_astrocytes,
        "n_connections": n_connections,
        "t_sim_ms": config.t_sim,
        "sic": sic,
        "n_spikes": int(spikes["times"].size),
        "rate_hz": mean_rate(spikes, n_neurons, t_start, config.t_sim),
        "statistics_window_ms": [t_start, config.t_sim],
        "statistics_neurons": len(sample),
        "cv": stats["cv"],
        "chi": stats["chi"],
        "correlation": stats["correlation"],
        "wall_s": wall,
        "peak_memory_mb_per_rank": ranks.allgather(peak_memory_mb()),
    }
    return summary, {"times": spikes["times"], "senders": spikes["senders"].astype(np.int64)}


EPROP_NOTEBOOK = ("eprop", "01_pattern_generation")


def run_eprop(
    size: float = 1.0, *, seed: int = 1, threads: int = 1, iterations: int = 20, learning_rate: float = 5e-4
) -> tuple[dict, dict]:
    """The e-prop pattern-generation network with ``size`` x 100 recurrent neurons and
    inputs, trained for ``iterations``: the cells of notebook eprop/01 tagged ``network``
    (sections 1-3 up to the trainer), run with these sizes. Returns (summary, weights)."""
    size = _check_size(size)
    n = int(round(100 * size))
    if not 2 <= n <= 2000:
        raise ValueError(f"size {size} gives {n} recurrent neurons; e-prop here takes 2 to 2000 (size 0.02 to 20)")
    started = time.perf_counter()
    # The notebook's cells reset the kernel themselves, with the threads a participant's
    # kernel would take: this command owns its process, so it sets them there.
    os.environ[THREADS_ENV] = str(threads)
    parameters = {"seed": seed, "n_in": n, "n_rec": n, "learning_rate": learning_rate}
    network = notebook_code.run_cells(notebook_code.solution_notebook(*EPROP_NOTEBOOK), parameters)
    history = network["trainer"].train(iterations, progress=False)
    wall = time.perf_counter() - started
    weights = ranks.gather_connections(("source", "target", "weight"), synapse_model="eprop_synapse")
    loss = [float(x) for x in history["loss"]]
    summary = {
        **_run_info("eprop", size, seed, threads),
        "n_input": n,
        "n_recurrent": n,
        "iterations": int(iterations),
        "learning_rate": learning_rate,
        "n_eprop_synapses": int(weights["weight"].size),
        "loss": loss,
        "first_loss": loss[0],
        "last_loss": loss[-1],
        "wall_s": wall,
        "peak_memory_mb_per_rank": ranks.allgather(peak_memory_mb()),
    }
    return summary, {key: np.asarray(value) for key, value in weights.items()}


def main(
    network: str,
    size: float,
    out: str | Path,
    *,
    seed: int = 1,
    threads: int | None = None,
    t_sim: float = 1000.0,
    iterations: int = 20,
) -> dict:
    """Run ``network`` and write its files into ``out`` (rank 0 writes); return the summary."""
    if network not in NETWORKS:
        raise ValueError(f"unknown network {network!r}; choose one of {', '.join(NETWORKS)}")
    if threads is None:
        # Under MPI each rank is usually placed on its own cores: one thread per rank,
        # unless told otherwise. Alone, use the machine's cores.
        threads = 1 if ranks.num_processes() > 1 else default_threads()
    out = Path(out)
    if network == "astrocytes":
        summary, spikes = run_astrocytes(size, seed=seed, threads=threads, t_sim=t_sim)
        ranks.write_npz(out / "spikes.npz", **spikes)
    else:
        summary, weights = run_eprop(size, seed=seed, threads=threads, iterations=iterations)
        ranks.write_npz(out / "weights.npz", **weights)
    ranks.write_json(out / "summary.json", summary)
    return summary
