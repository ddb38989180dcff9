"""The astrocyte network at a larger size on 1x1, 1x2 and 2x1 (ranks x threads).

Runs `nest-workshop scale astrocytes` of the MPI environment (make mpi) one
configuration at a time, then the 1x2 configuration at several sizes for the growth of
memory, and writes benchmarks/results/mpi_scaling.json and .md (with the projection to
a cluster in the .md). Run with the MPI environment's Python:

    make bench-mpi        # = .venv-mpi/bin/python benchmarks/mpi_scaling.py [--size 5]
"""

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nest_workshop.parallel import clean_environment, mpirun_command

RESULTS = Path(__file__).with_name("results")
NEST_WORKSHOP = str(Path(sys.executable).with_name("nest-workshop"))


def run(size: float, ranks: int, threads: int, t_sim: float, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        command = mpirun_command([NEST_WORKSHOP, "scale", "astrocytes", "--size", str(size), "--t-sim", str(t_sim),
                                  "--seed", str(seed), "--threads", str(threads), "--out", out], ranks)
        started = time.perf_counter()
        subprocess.run(command, check=True, env=clean_environment(), stdout=subprocess.DEVNULL)
        total = time.perf_counter() - started
        summary = json.loads((Path(out) / "summary.json").read_text())
    return {"size": size, "ranks": ranks, "threads": threads, "n_neurons": summary["n_neurons"],
            "n_connections": summary["n_connections"], "n_spikes": summary["n_spikes"], "rate_hz": summary["rate_hz"],
            "network_s": summary["wall_s"], "command_s": total,
            "peak_memory_mb_per_rank": summary["peak_memory_mb_per_rank"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=5.0, help="size of the split comparison (x 1000 neurons)")
    parser.add_argument("--growth", type=float, nargs="+", default=[1.0, 2.5, 5.0], help="sizes for memory growth")
    parser.add_argument("--t-sim", type=float, default=1000.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    split = [run(args.size, ranks, threads, args.t_sim, args.seed) for ranks, threads in ((1, 1), (1, 2), (2, 1))]
    growth = [row for row in split if (row["ranks"], row["threads"]) == (1, 2)]
    growth += [run(size, 1, 2, args.t_sim, args.seed) for size in args.growth if size != args.size]
    growth.sort(key=lambda row: row["size"])
    machine = {"cpu_count": __import__("os").cpu_count(), "platform": platform.platform(),
               "python": platform.python_version()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "mpi_scaling.json").write_text(json.dumps({"machine": machine, "t_sim_ms": args.t_sim,
                                                          "split": split, "growth": growth}, indent=2))
    lines = [f"# Astrocyte network under MPI ({machine['cpu_count']} cores, {args.t_sim:g} ms simulated, seed {args.seed})",
             "", f"Written by `make bench-mpi` (benchmarks/mpi_scaling.py) on {time.strftime('%Y-%m-%d')}.", "",
             f"## Splitting {split[0]['n_neurons']} neurons (+ as many astrocytes) over ranks and threads", "",
             "| ranks x threads | build + simulate (s) | whole command (s) | peak memory per rank (MB) | spikes |",
             "|---|---|---|---|---|"]
    for row in split:
        memory = " / ".join(f"{m:.0f}" for m in row["peak_memory_mb_per_rank"])
        lines.append(f"| {row['ranks']} x {row['threads']} | {row['network_s']:.1f} | {row['command_s']:.1f} | {memory} "
                     f"| {row['n_spikes']} |")
    lines += ["", "## Growth with size (1 rank x 2 threads)", "",
              "| neurons | connections | build + simulate (s) | peak memory (MB) |", "|---|---|---|---|"]
    for row in growth:
        lines.append(f"| {row['n_neurons']} | {row['n_connections']} | {row['network_s']:.1f} "
                     f"| {max(row['peak_memory_mb_per_rank']):.0f} |")
    (RESULTS / "mpi_scaling.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
