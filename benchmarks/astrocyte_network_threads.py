"""Astrocyte network (notebook astrocytes/02): its self-checks at 1, 2, 4 and 8 threads.

NEST draws a different random network for each number of virtual processes, so a
participant with 4 or 8 cores runs another network than CI does. For each thread count
and seed this script runs the notebook's network (its cells tagged ``network``, through
nest_workshop.core.notebook_code), with and without SIC, and computes what the notebook checks:
the correlation of mean SIC and mean calcium (> 0.85), the CV without SIC (> 0.3), the
rate ratio (> 1.5), and whether the runs stay spike-for-spike identical until SIC is
seen (first differing spike > onset - 10 ms). Results go to
benchmarks/results/astrocyte_network_threads.json and .md.

More threads than cores busy-wait badly; OMP_WAIT_POLICY=passive (set here, before NEST
starts) keeps oversubscribed runs fast without changing a single spike.

    .venv/bin/python benchmarks/astrocyte_network_threads.py [--threads 1 2 4 8] [--seeds 1 2 3]
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # read by OpenMP when NEST starts

import argparse  # noqa: E402 (after the environment above)
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from nest_workshop.core import notebook_code  # noqa: E402
from nest_workshop.core.kernel import THREADS_ENV, available_cores  # noqa: E402
from nest_workshop.parts import astrocytes  # noqa: E402

RESULTS = Path(__file__).with_name("results")


def first_difference(a: dict, b: dict) -> float:
    """Time of the first spike at which two runs differ (ordered by time, then sender)."""
    runs = []
    for spikes in (a, b):
        order = np.lexsort((spikes["senders"], spikes["times"]))
        runs.append((spikes["times"][order], spikes["senders"][order]))
    (ta, sa), (tb, sb) = runs
    n = min(len(ta), len(tb))
    differs = (ta[:n] != tb[:n]) | (sa[:n] != sb[:n])
    return float(min(ta[np.argmax(differs)], tb[np.argmax(differs)])) if differs.any() else float("inf")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    notebook = notebook_code.solution_notebook("astrocytes", "02_pools_and_network")
    config = astrocytes.BalancedNetworkConfig()
    rows = []
    for threads in args.threads:
        os.environ[THREADS_ENV] = str(threads)  # the notebook's run_network takes its threads from here
        for seed in args.seeds:
            started = time.perf_counter()
            network = notebook_code.run_cells(notebook, {"config": config, "SEED": seed})
            on, off = network["run_network"](config, sic=True), network["run_network"](config, sic=False)
            sic_trace, calcium = on["SIC"], on["Ca"]
            onset = float(sic_trace["times"][np.argmax(sic_trace["mean"] > 0)])
            correlation = float(
                np.corrcoef(np.interp(calcium["times"], sic_trace["times"], sic_trace["mean"]), calcium["mean"])[0, 1]
            )
            stats_on = astrocytes.spike_statistics(on["spikes"], on["recorded"], 1000.0, config.t_sim)
            stats_off = astrocytes.spike_statistics(off["spikes"], off["recorded"], 1000.0, config.t_sim)
            row = {
                "threads": threads,
                "seed": seed,
                "sic_calcium_correlation": correlation,
                "cv_off": stats_off["cv"],
                "rate_off": stats_off["rate"],
                "rate_on": stats_on["rate"],
                "rate_ratio": stats_on["rate"] / stats_off["rate"],
                "sic_onset_ms": onset,
                "first_difference_ms": first_difference(on["spikes"], off["spikes"]),
                "wall_s": round(time.perf_counter() - started, 1),
            }
            row["all_checks_pass"] = bool(
                row["sic_calcium_correlation"] > 0.85
                and row["cv_off"] > 0.3
                and row["rate_ratio"] > 1.5
                and row["first_difference_ms"] > onset - 10.0
            )
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {
        "measured": time.strftime("%Y-%m-%d"),
        "cores": available_cores(),
        "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "astrocyte_network_threads.json").write_text(json.dumps(summary, indent=1))
    lines = [
        f"# Astrocyte network (notebook 02): its checks at several thread counts ({summary['measured']}, "
        f"{summary['cores']} cores)",
        "",
        "Checks: SIC-calcium correlation > 0.85; CV without SIC > 0.3; rate ratio > 1.5; runs identical until "
        "SIC is seen (first differing spike > onset - 10 ms). Rates in spikes/s over 1-2 s.",
        "",
        "| threads | seed | SIC-Ca corr | CV off | rate off | rate on | ratio | SIC onset (ms) | first difference (ms) | checks | wall (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['threads']} | {r['seed']} | {r['sic_calcium_correlation']:.3f} | {r['cv_off']:.3f} | {r['rate_off']:.2f} | "
            f"{r['rate_on']:.2f} | {r['rate_ratio']:.2f} | {r['sic_onset_ms']:.0f} | {r['first_difference_ms']:.1f} | "
            f"{'pass' if r['all_checks_pass'] else 'FAIL'} | {r['wall_s']:.0f} |"
        )
    (RESULTS / "astrocyte_network_threads.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
