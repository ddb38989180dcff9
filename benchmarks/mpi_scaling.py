"""The astrocyte network at a larger size on 1x1, 1x2 and 2x1 (ranks x threads).

Runs `nest-workshop scale astrocytes` of the MPI environment (make mpi) one
configuration at a time, then the 1x2 configuration at several sizes for the growth of
memory, and writes benchmarks/results/mpi_scaling.json and .md (with the projection to
a cluster in the .md). Run with the MPI environment's Python:

    make bench-mpi        # = .venv-mpi/bin/python benchmarks/mpi_scaling.py [--size 5]
    .venv-mpi/bin/python benchmarks/mpi_scaling.py --render   # rewrite the .md from the .json
"""

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nest_workshop.scaleout.launch import clean_environment, mpirun_command

RESULTS = Path(__file__).with_name("results")
NEST_WORKSHOP = str(Path(sys.executable).with_name("nest-workshop"))


def run(size: float, ranks: int, threads: int, t_sim: float, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        command = mpirun_command(
            [
                NEST_WORKSHOP,
                "scale",
                "astrocytes",
                "--size",
                str(size),
                "--t-sim",
                str(t_sim),
                "--seed",
                str(seed),
                "--threads",
                str(threads),
                "--out",
                out,
            ],
            ranks,
        )
        started = time.perf_counter()
        subprocess.run(command, check=True, env=clean_environment(), stdout=subprocess.DEVNULL)
        total = time.perf_counter() - started
        summary = json.loads((Path(out) / "summary.json").read_text())
    return {
        "size": size,
        "ranks": ranks,
        "threads": threads,
        "n_neurons": summary["n_neurons"],
        "n_connections": summary["n_connections"],
        "n_spikes": summary["n_spikes"],
        "rate_hz": summary["rate_hz"],
        "network_s": summary["wall_s"],
        "command_s": total,
        "peak_memory_mb_per_rank": summary["peak_memory_mb_per_rank"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=5.0, help="size of the split comparison (x 1000 neurons)")
    parser.add_argument("--growth", type=float, nargs="+", default=[1.0, 2.5, 5.0], help="sizes for memory growth")
    parser.add_argument("--t-sim", type=float, default=1000.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--render", action="store_true", help="only rewrite the .md from the last .json")
    args = parser.parse_args()

    if not args.render:
        split = [run(args.size, ranks, threads, args.t_sim, args.seed) for ranks, threads in ((1, 1), (1, 2), (2, 1))]
        growth = [row for row in split if (row["ranks"], row["threads"]) == (1, 2)]
        growth += [run(size, 1, 2, args.t_sim, args.seed) for size in args.growth if size != args.size]
        growth.sort(key=lambda row: row["size"])
        machine = {
            "cpu_count": __import__("os").cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        }
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "mpi_scaling.json").write_text(
            json.dumps(
                {
                    "machine": machine,
                    "t_sim_ms": args.t_sim,
                    "seed": args.seed,
                    "date": time.strftime("%Y-%m-%d"),
                    "split": split,
                    "growth": growth,
                },
                indent=2,
            )
        )
    data = json.loads((RESULTS / "mpi_scaling.json").read_text())
    (RESULTS / "mpi_scaling.md").write_text(render(data))
    print(render(data))


def render(data: dict) -> str:
    machine, split, growth = data["machine"], data["split"], data["growth"]
    lines = [
        f"# Astrocyte network under MPI ({machine['cpu_count']} cores, {data['t_sim_ms']:g} ms simulated, seed {data['seed']})",
        "",
        f"Measured by `make bench-mpi` (benchmarks/mpi_scaling.py) on {data['date']}, one configuration at "
        "a time on an otherwise idle machine.",
        "",
        f"## Splitting {split[0]['n_neurons']} neurons (+ as many astrocytes) over ranks and threads",
        "",
        "| ranks x threads | build + simulate (s) | whole command (s) | peak memory per rank (MB) | spikes |",
        "|---|---|---|---|---|",
    ]
    for row in split:
        memory = " / ".join(f"{m:.0f}" for m in row["peak_memory_mb_per_rank"])
        lines.append(
            f"| {row['ranks']} x {row['threads']} | {row['network_s']:.1f} | {row['command_s']:.1f} | {memory} "
            f"| {row['n_spikes']} |"
        )
    lines += [
        "",
        "## Growth with size (1 rank x 2 threads)",
        "",
        "| neurons | connections | build + simulate (s) | peak memory (MB) |",
        "|---|---|---|---|",
    ]
    for row in growth:
        lines.append(
            f"| {row['n_neurons']} | {row['n_connections']} | {row['network_s']:.1f} "
            f"| {max(row['peak_memory_mb_per_rank']):.0f} |"
        )
    lines += ["", *projection(split, growth, data["t_sim_ms"])]
    return "\n".join(lines) + "\n"


def projection(split: list[dict], growth: list[dict], t_sim_ms: float) -> list[str]:
    """A cluster projection from the measured figures, with its assumptions spelled out."""
    sizes = np.array([row["n_neurons"] for row in growth], dtype=float)
    memory = np.array([max(row["peak_memory_mb_per_rank"]) for row in growth])
    per_neuron_mb, base_mb = np.polyfit(sizes, memory, 1)
    two_vp = next(row for row in split if (row["ranks"], row["threads"]) == (1, 2))
    one_vp = next(row for row in split if (row["ranks"], row["threads"]) == (1, 1))
    # core-seconds per neuron and simulated second (build included), from the 1-VP run
    core_s = one_vp["network_s"] / one_vp["n_neurons"] / (t_sim_ms / 1000.0)
    speedup = one_vp["network_s"] / two_vp["network_s"]
    two_ranks = next(row for row in split if (row["ranks"], row["threads"]) == (2, 1))
    memory_ratio = max(two_ranks["peak_memory_mb_per_rank"]) / max(two_vp["peak_memory_mb_per_rank"])
    lines = [
        "## Projection to a cluster",
        "",
        f"Measured here: memory grows by {per_neuron_mb * 1000:.0f} MB per 1,000 neurons (with their astrocytes "
        f"and about {growth[-1]['n_connections'] / growth[-1]['n_neurons']:.0f} connections each) on top of "
        f"{base_mb:.0f} MB per process (Python, NEST, the libraries); splitting over 2 virtual processes "
        f"made the run {speedup:.2f} times faster, and 2 ranks needed {memory_ratio:.2f} of the memory per rank of "
        f"1 rank. One neuron costs "
        f"{core_s * 1000:.1f} core-ms per simulated second, network construction included.",
        "",
        "Assumptions: in-degrees stay fixed as the network grows (so memory and work grow linearly); "
        "the network is distributed evenly; a typical cluster node has 128 cores and 256 GB, run as 8 ranks "
        "x 16 threads; parallel efficiency 70 % (NEST's spike exchange happens every minimum delay, here "
        "1 ms, and its cost grows with the number of ranks; SIC is sent as secondary events, which adds "
        "traffic); measured on this machine's cores, which may be slower or faster than a cluster's.",
        "",
        "| size | neurons + astrocytes | memory (all ranks) | nodes needed for memory | nodes used "
        "| projected time per simulated second |",
        "|---|---|---|---|---|---|",
    ]
    for size, nodes in ((10, 1), (100, 1), (1000, 4)):
        n = 1000 * size
        ranks = 8 * nodes
        total_gb = (per_neuron_mb * n + base_mb * ranks) / 1024
        need = max(1, int(np.ceil(total_gb / (256 * 0.8))))
        nodes = max(nodes, need)
        ranks = 8 * nodes
        total_gb = (per_neuron_mb * n + base_mb * ranks) / 1024
        seconds = core_s * n / (128 * nodes * 0.7)
        lines.append(f"| {size} | {n:,} + {n:,} | {total_gb:.0f} GB | {need} | {nodes} | {seconds:.1f} s |")
    lines += [
        "",
        "Beyond a few thousand cores the spike exchange, not the neurons, sets the pace; NEST's "
        "documentation on HPC benchmarks is the place to look before going there.",
    ]
    return lines


if __name__ == "__main__":
    main()
