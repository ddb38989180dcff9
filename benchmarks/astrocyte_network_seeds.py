"""Astrocyte network (notebook astrocytes/02): SIC on versus off over several seeds.

Measures, for each seed, the rate, irregularity (CV), pairwise correlation and χ over
1-2 s with and without SIC, the SIC onset, wall time and peak memory, and writes
benchmarks/results/astrocyte_network_seeds.json and .md: the seed-to-seed spread of what
the notebook measures for one seed. The network is the notebook's own: its cells tagged
``network``, run with each seed (nest_workshop.core.notebook_code).

    .venv/bin/python benchmarks/astrocyte_network_seeds.py [--seeds 1 2 3 4 5] [--threads 2]
"""

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np

from nest_workshop.core import notebook_code
from nest_workshop.core.kernel import THREADS_ENV, available_cores
from nest_workshop.parts import astrocytes

RESULTS = Path(__file__).with_name("results")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--threads", type=int, default=available_cores())
    args = parser.parse_args()
    os.environ[THREADS_ENV] = str(args.threads)  # the notebook's run_network takes its threads from here
    notebook = notebook_code.solution_notebook("astrocytes", "02_pools_and_network")
    config = astrocytes.BalancedNetworkConfig()
    rows = []
    for seed in args.seeds:
        row = {"seed": seed}
        network = notebook_code.run_cells(notebook, {"config": config, "SEED": seed})
        for sic in (True, False):
            started = time.perf_counter()
            run = network["run_network"](config, sic=sic)
            stats = astrocytes.spike_statistics(run["spikes"], run["recorded"], 1000.0, config.t_sim)
            key = "on" if sic else "off"
            row[key] = {**stats, "wall_s": time.perf_counter() - started}
            if sic:
                trace = run["SIC"]
                row["sic_onset_ms"] = float(trace["times"][np.argmax(trace["mean"] > 1.0)])
                row["sic_late_pA"] = float(trace["mean"][trace["times"] >= 1000.0].mean())
        rows.append(row)
        print(json.dumps(row), flush=True)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    summary = {
        "measured": time.strftime("%Y-%m-%d"),
        "machine": {"cores": available_cores(), "threads": args.threads, "python": platform.python_version()},
        "config": {k: getattr(config, k) for k in config.__dataclass_fields__},
        "peak_memory_gb": round(peak_gb, 2),
        "seeds": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "astrocyte_network_seeds.json").write_text(json.dumps(summary, indent=1))
    lines = [
        f"# Astrocyte network: SIC on vs off ({summary['measured']}, {args.threads} threads)",
        "",
        "| seed | rate off | rate on | ratio | CV off | CV on | corr off | corr on | χ off | χ on | SIC onset (ms) | wall on+off (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['seed']} | {r['off']['rate']:.2f} | {r['on']['rate']:.2f} | {r['on']['rate'] / r['off']['rate']:.2f} | "
            f"{r['off']['cv']:.3f} | {r['on']['cv']:.3f} | {r['off']['correlation']:.4f} | {r['on']['correlation']:.4f} | "
            f"{r['off']['chi']:.3f} | {r['on']['chi']:.3f} | {r['sic_onset_ms']:.0f} | {r['on']['wall_s'] + r['off']['wall_s']:.0f} |"
        )
    lines += ["", f"Peak memory of the process: {peak_gb:.2f} GB. Rates in spikes/s over 1-2 s."]
    (RESULTS / "astrocyte_network_seeds.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
