"""Astrocyte network (notebook astrocytes/04): SIC on versus off over several seeds.

Measures, for each seed, the rate, irregularity (CV), pairwise correlation and χ over
1-2 s with and without SIC, the SIC onset, wall time and peak memory, and writes
benchmarks/results/astrocyte_network_seeds.json and .md. The notebook reads the JSON to
show the seed-to-seed spread of what it measures for one seed.

    .venv/bin/python benchmarks/astrocyte_network_seeds.py [--seeds 1 2 3 4 5] [--threads 2]
"""

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import numpy as np

from nest_workshop.core.kernel import available_cores, reset_kernel
from nest_workshop.parts import astrocytes

RESULTS = Path(__file__).with_name("results")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--threads", type=int, default=available_cores())
    args = parser.parse_args()
    config = astrocytes.BalancedNetworkConfig()
    rows = []
    for seed in args.seeds:
        row = {"seed": seed}
        for sic in (True, False):
            reset_kernel(seed=seed, threads=args.threads)
            result = astrocytes.run_balanced_network(config, sic=sic)
            stats = astrocytes.network_statistics(result, 1000.0, config.t_sim)
            key = "on" if sic else "off"
            row[key] = {**stats, "wall_s": result.wall_s}
            if sic:
                trace = result.sic_trace
                row["sic_onset_ms"] = float(trace["times"][np.argmax(trace["I_SIC"] > 1.0)])
                row["sic_late_pA"] = float(trace["I_SIC"][trace["times"] >= 1000.0].mean())
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
