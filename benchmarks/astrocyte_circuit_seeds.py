"""Astrocyte notebook 01 (the circuit and its SIC sweep) and the pool counts (notebook 02, tests): how much their self-checks vary with the seed.

Notebook 01 builds a tripartite circuit (100 Poisson parrots -> a neuron with SIC and its
twin without, and an astrocyte) and a sweep of five SIC weights; the pool tests count the
connections of TripartiteConnect. Both pin one thread (a few nodes), so only the seed
changes their random numbers. For each seed this script repeats their measurements (the
circuit with the notebook's own cells, the sweep and the counts with the same NEST calls) and writes benchmarks/results/astrocyte_circuit_seeds.json and .md,
with the margin of each check.

    .venv/bin/python benchmarks/astrocyte_circuit_seeds.py [--seeds 1 2 3 4 5]
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from nest_workshop.core import notebook_code
from nest_workshop.core.kernel import reset_kernel
from nest_workshop.parts import astrocytes

RESULTS = Path(__file__).with_name("results")
T_SIM, T_FROM, WEIGHTS = 30000.0, 10000.0, [0.0, 10.0, 25.0, 50.0, 100.0]


def circuit(seed: int) -> dict:
    """Notebook 01, section 2: the neuron with SIC and its twin, run by the notebook's own
    cells (those tagged ``network``, up to the circuit's run)."""
    run = notebook_code.run_cells(
        notebook_code.solution_notebook("astrocytes", "01_astrocyte_and_synapse"), {"SEED": seed}, until="cell-14"
    )
    post, twin, with_sic, without_sic = run["post"], run["twin"], run["with_sic"], run["without_sic"]
    v_on, v_off = (trace["V_m"][trace["times"] >= T_FROM].mean() for trace in (with_sic, without_sic))
    rate_on, rate_off = (astrocytes.node_rate(run["spikes"], n, T_FROM, run["T_SIM"]) for n in (post, twin))
    return {"rate_on": rate_on, "rate_off": rate_off, "ratio": rate_on / rate_off, "depolarisation_mV": v_on - v_off}


def sweep(seed: int) -> list[float]:
    """Notebook 02, exercise 2: five neurons, one SIC weight each."""
    nest = reset_kernel(seed=seed, threads=1)
    astrocyte = nest.Create("astrocyte_lr_1994")
    neurons = nest.Create("aeif_cond_alpha_astro", len(WEIGHTS), params={"tau_syn_ex": 2.0})
    pre = nest.Create("parrot_neuron", 100)
    nest.Connect(nest.Create("poisson_generator", params={"rate": 3.0}), pre)
    nest.Connect(pre, neurons, syn_spec={"weight": 4.0})
    nest.Connect(pre, astrocyte, syn_spec={"weight": 1.0})
    for neuron, weight in zip(neurons, WEIGHTS):
        nest.Connect(astrocyte, neuron, syn_spec={"synapse_model": "sic_connection", "weight": weight})
    spikes = nest.Create("spike_recorder")
    nest.Connect(neurons, spikes)
    nest.Simulate(T_SIM)
    return [astrocytes.node_rate(spikes, n, T_FROM, T_SIM) for n in neurons]


def third_out_counts(first_seed: int) -> list[int]:
    """Notebook 03, exercise 2: SIC connections in 20 networks (seeds first_seed ...)."""
    counts = []
    for seed in range(first_seed, first_seed + 20):
        nest = reset_kernel(seed=seed, threads=1)
        pre, post = nest.Create("aeif_cond_alpha_astro", 100), nest.Create("aeif_cond_alpha_astro", 50)
        astro = nest.Create("astrocyte_lr_1994", 100)
        nest.TripartiteConnect(
            pre,
            post,
            astro,
            conn_spec={"rule": "pairwise_bernoulli", "p": 0.2},
            third_factor_conn_spec={"rule": "third_factor_bernoulli_with_pool", "p": 0.5, "pool_size": 5, "pool_type": "random"},
            syn_specs={"third_out": {"synapse_model": "sic_connection"}},
        )
        counts.append(len(nest.GetConnections(astro, post)))
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        started = time.perf_counter()
        row = {"seed": seed, **circuit(seed), "sweep_rates": sweep(seed)}
        row["sweep_increasing"] = bool(np.all(np.diff(row["sweep_rates"]) > 0))
        counts = third_out_counts(1 + 20 * (seed - 1))
        sd = float(np.std(counts, ddof=1))
        row["counts_mean"], row["counts_sd"] = float(np.mean(counts)), sd
        row["counts_mean_error_in_se"] = abs(np.mean(counts) - 500.0) / (sd / np.sqrt(20))
        row["true_sd_over_measured"] = float(np.sqrt(5000 * 0.1 * 0.9) / sd)
        row["wall_s"] = time.perf_counter() - started
        rows.append(row)
        print(json.dumps(row), flush=True)
    RESULTS.mkdir(exist_ok=True)
    summary = {"measured": time.strftime("%Y-%m-%d"), "threads": 1, "seeds": rows}
    (RESULTS / "astrocyte_circuit_seeds.json").write_text(json.dumps(summary, indent=1))
    lines = [
        f"# Astrocyte circuit (notebook 01) and pool counts: checks over seeds ({summary['measured']}, 1 thread)",
        "",
        "Notebook 02 (seed 1 in the notebook): rate of the neuron with SIC over its twin's (check > 2), "
        "depolarisation (check > 1 mV), sweep rates for SIC weights 0/10/25/50/100 (check: increasing). "
        "Notebook 03, exercise 2: 20 networks per row; the mean count must lie within 4 standard errors of "
        "500, and the true standard deviation (21.2) within a factor 2 of the measured one.",
        "",
        "| seed | rate with SIC / twin (spikes/s) | ratio | depolarisation (mV) | sweep rates (spikes/s) | "
        "03: mean ± sd of 20 counts | mean off by (SE) | true sd / measured |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['seed']} | {r['rate_on']:.2f} / {r['rate_off']:.2f} | {r['ratio']:.2f} | {r['depolarisation_mV']:.2f} | "
            f"{', '.join(f'{x:.2f}' for x in r['sweep_rates'])} | {r['counts_mean']:.1f} ± {r['counts_sd']:.1f} | "
            f"{r['counts_mean_error_in_se']:.2f} | {r['true_sd_over_measured']:.2f} |"
        )
    (RESULTS / "astrocyte_circuit_seeds.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
