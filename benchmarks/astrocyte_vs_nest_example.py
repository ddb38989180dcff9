"""The astrocyte network of notebook astrocytes/02 against NEST's own example, at equal size.

NEST's `astrocyte_brunel_fixed_indegree.py` ships with the installed wheel
(`nest/doc/examples/pynest/astrocytes/`). This script runs it unchanged except for its
thread count (`sim_params["n_vp"]`, 4 in the file, set here to the threads given, so that
both runs use the same cores), and then the bundle's network
(`BalancedNetworkConfig.example_scale(10000)`: the example's 10,000 neurons and
astrocytes, in-degrees and weights, 1 s simulated). Each runs in its own process; wall
time and peak memory are measured from outside, one run each, one after the other.
Results go to benchmarks/results/astrocyte_vs_nest_example.json and .md.

Not like for like (the .md lists it): the example leaves NEST's ``rng_seed`` at its
default (it seeds only Python's ``random``, for picking recorded nodes) while the bundle
uses ``rng_seed=100``, so the two are different random networks; the example records
I_SIC of 50 neurons and IP3 and calcium of 50 astrocytes every 1 ms (the multimeter's
default) and spikes of 100 neurons, prints the time, and draws its figures (including a
raster plot and mean/SD loops in Python) inside the timed wall, while the bundle records
spikes of 500 neurons and 50 + 50 traces every 10 ms and draws nothing; both walls
include Python's start, NEST's import and network construction. The figure says that the
bundle's network is not slower than the example at equal size, nothing more; it compares
no activity.

    .venv/bin/python benchmarks/astrocyte_vs_nest_example.py [--threads 2]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from nest_workshop.core.kernel import available_cores
from nest_workshop.tools.notebook_runner import TreeMemoryMonitor

RESULTS = Path(__file__).with_name("results")

NEST_EXAMPLE = """
import importlib.util, pathlib, matplotlib
matplotlib.use("Agg")
spec = importlib.util.find_spec("nest")
path = pathlib.Path(list(spec.submodule_search_locations)[0]) / "doc/examples/pynest/astrocytes/astrocyte_brunel_fixed_indegree.py"
source = path.read_text()
assert '"n_vp": 4,' in source, "the example's thread setting changed; update this benchmark"
exec(compile(source.replace('"n_vp": 4,', '"n_vp": {threads},'), str(path), "exec"), {{"__name__": "nest_example"}})
"""

BUNDLE = """
import matplotlib
matplotlib.use("Agg")
from nest_workshop import reset_kernel
from nest_workshop.core import notebook_code
from nest_workshop.parts import astrocytes
config = astrocytes.BalancedNetworkConfig.example_scale(10000, t_sim=1000.0)
network = notebook_code.run_cells(notebook_code.solution_notebook("astrocytes", "02_pools_and_network"), {{"config": config}})
reset_kernel(seed=100, threads={threads})
nodes = network["create_nodes"](config)
network["connect_excitatory"](config, nodes)
run = network["finish_and_run"](config, nodes, sic=True)
print("spikes recorded:", len(run["spikes"]["times"]))
"""


def measure(code: str) -> dict:
    """Run ``code`` in a fresh Python; its wall time and peak memory (resident set,
    sampled every 0.2 s)."""
    started = time.perf_counter()
    env = {**os.environ, "PYNEST_QUIET": "1"}
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    monitor = TreeMemoryMonitor(process.pid)
    monitor.start()
    _, stderr = process.communicate()
    wall = time.perf_counter() - started
    monitor.stop()
    monitor.join()
    if process.returncode != 0:
        raise RuntimeError(stderr[-3000:])
    return {"wall_s": round(wall, 1), "peak_memory_gb": round(monitor.peak_bytes / 1e9, 2)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=available_cores())
    args = parser.parse_args()
    bundle = measure(BUNDLE.format(threads=args.threads))
    print("bundle:", bundle, flush=True)
    example = measure(NEST_EXAMPLE.format(threads=args.threads))
    print("NEST example:", example, flush=True)
    summary = {
        "measured": time.strftime("%Y-%m-%d"),
        "threads": args.threads,
        "network": "10,000 neurons + 10,000 astrocytes, in-degrees 800/200, 1 s simulated",
        "nest_example": example,
        "bundle": bundle,
        "wall_ratio_bundle_over_example": round(bundle["wall_s"] / example["wall_s"], 2),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "astrocyte_vs_nest_example.json").write_text(json.dumps(summary, indent=1))
    lines = [
        f"# Astrocyte network: the bundle's against NEST's example ({summary['measured']}, {args.threads} threads)",
        "",
        f"Both: {summary['network']}; each in its own process, one run each, one after the other (the bundle "
        "first). NEST's `astrocyte_brunel_fixed_indegree.py` is run from the installed wheel with its thread count "
        "set to the same number. The bundle's network is `BalancedNetworkConfig.example_scale(10000)`, built and "
        "run by notebook 02's own cells (those tagged `network`).",
        "",
        "Not like for like: (1) different random networks: the example leaves NEST's `rng_seed` at its default "
        "(it seeds only Python's `random`, to pick the recorded nodes), the bundle uses `rng_seed=100`; "
        "(2) different recording: the example records spikes of 100 neurons and I_SIC, IP3 and calcium of 50 + 50 "
        "nodes every 1 ms, the bundle spikes of 500 neurons and 50 + 50 traces every 10 ms; (3) the example prints "
        "the time and draws its figures (raster plot, mean/SD loops in Python) inside the timed wall, the bundle draws "
        "nothing but counts each astrocyte's inputs, as the notebook does; (4) both walls include Python's start, NEST's import and network construction; (5) one run each, "
        "no median. Read it as: the bundle's network is not slower than the example at equal size. It compares no "
        "activity (rate, CV, SIC).",
        "",
        "| | wall time (s) | peak memory (GB) |",
        "|---|---|---|",
        f"| NEST's example | {example['wall_s']} | {example['peak_memory_gb']} |",
        f"| the bundle's network | {bundle['wall_s']} | {bundle['peak_memory_gb']} |",
        f"| ratio (bundle / example) | {summary['wall_ratio_bundle_over_example']} | |",
    ]
    (RESULTS / "astrocyte_vs_nest_example.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
