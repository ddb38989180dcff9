"""NEST's own evidence-accumulation task: the bundle's network and training loop beside
NEST's example, in the same run.

The task is that of NEST's example
(`eprop_supervised_classification_evidence-accumulation_bsshslm_2020.py`, shipped with
the wheel): 7 cues of 100 ms after 50 ms pauses, 1,050 ms of background, a 150 ms
recall cue (2,250 ms per trial), 40 inputs. The bundle runs it with the network of
notebook eprop/02 (25 regular + 25 adaptive neurons, built with the same NEST calls as
the notebook's cells) and `eprop.TrialTrainer`: batches of 16 trials, 200 iterations,
Adam at 0.01 cut to 30 % after 60 % of the iterations, then a test on 256 held-out
trials with the learning rate at 0. NEST's example runs unchanged except for the
number of threads and without its figures (batches of 32, 50 iterations, validation
every 10, a test on 4 x 32 trials).

Each run is a child process, so that wall time and peak memory (ru_maxrss) are its own.
For the bundle, the time inside `nest.Simulate` is reported too: the rest is the
training loop's own cost (scheduling the input, reading the readout, book-keeping).

    .venv/bin/python benchmarks/eprop_nest_task.py [--threads 2] [--seeds 1] [--skip-nest]

Results: benchmarks/results/eprop_nest_task.json and .md.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("results")
NEST_TASK = dict(n_cues=7, cue_ms=100, spacing_ms=50, delay_ms=1050, recall_ms=150, n_inputs=40)


class TimedNest:
    """``nest`` with its ``Simulate`` timed (NEST's module itself refuses new attributes)."""

    def __init__(self, nest):
        self._nest, self.simulate_s = nest, 0.0

    def Simulate(self, t):  # noqa: N802 (NEST's name)
        started = time.perf_counter()
        self._nest.Simulate(t)
        self.simulate_s += time.perf_counter() - started

    def __getattr__(self, name):
        return getattr(self._nest, name)


def bundle_run(seed: int, threads: int, batch_size: int = 16, iterations: int = 200, learning_rate: float = 0.01) -> dict:
    """The network of notebook eprop/02 (its cells' NEST calls) on NEST's task."""
    import numpy as np

    import nest_workshop as nw
    from nest_workshop.parts import eprop

    started = time.perf_counter()
    task = eprop.CueTask(**NEST_TASK)
    nest = nw.reset_kernel(seed=seed, threads=threads, resolution=1.0)
    T = task.trial_ms
    nest.set(eprop_update_interval=float(T), eprop_learning_window=float(task.recall_ms), eprop_reset_neurons_on_update=True)
    n_in = task.n_inputs
    input_generators = nest.Create("spike_generator", n_in)
    inputs = nest.Create("parrot_neuron", n_in)
    nest.Connect(input_generators, inputs, "one_to_one", {"delay": 1.0})
    v_th = 0.6
    neuron_params = {
        "C_m": 1.0, "E_L": 0.0, "V_m": 0.0, "V_th": v_th, "tau_m": 20.0, "t_ref": 5.0, "I_e": 0.0,
        "surrogate_gradient_function": "piecewise_linear",
        "surrogate_gradient_height": 0.3 / v_th, "surrogate_gradient_width": v_th,
        "c_reg": 300.0, "f_target": 10.0, "regular_spike_arrival": True, "flush_event_send_interval": float(T),
    }  # fmt: skip
    adapt_tau = 2000.0
    adapt_beta = 1.7 * (1 - np.exp(-1.0 / adapt_tau)) / (1 - np.exp(-1.0 / 20.0))
    regular = nest.Create("eprop_iaf_bsshslm_2020", 25, neuron_params)
    adaptive = nest.Create(
        "eprop_iaf_adapt_bsshslm_2020", 25, {**neuron_params, "adapt_tau": adapt_tau, "adapt_beta": adapt_beta, "adaptation": 0.0}
    )
    rec = regular + adaptive
    n_rec = len(rec)
    readout = nest.Create(
        "eprop_readout_bsshslm_2020",
        2,
        {"C_m": 1.0, "E_L": 0.0, "V_m": 0.0, "tau_m": 20.0, "I_e": 0.0, "loss": "cross_entropy", "regular_spike_arrival": False},
    )
    target_generators = nest.Create("step_rate_generator", 2)
    rate_syn = {"synapse_model": "rate_connection_delayed", "delay": 1.0}
    nest.Connect(readout, readout, {"rule": "all_to_all", "allow_autapses": False}, {**rate_syn, "receptor_type": 1})
    nest.Connect(target_generators, readout, "one_to_one", {**rate_syn, "receptor_type": 2})
    optimizer = {"type": "adam", "batch_size": batch_size, "eta": learning_rate, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8}
    nest.SetDefaults(
        "eprop_synapse_bsshslm_2020", {"average_gradient": True, "optimizer": {**optimizer, "Wmin": -100.0, "Wmax": 100.0}}
    )
    all_to_all = {"rule": "all_to_all", "allow_autapses": False}
    eprop_syn = {"synapse_model": "eprop_synapse_bsshslm_2020", "delay": 1.0, "tau_m_readout": 20.0}
    limit = np.sqrt(6.0 / (n_rec + 2))
    nest.Connect(inputs, rec, all_to_all, {**eprop_syn, "weight": nest.random.normal(0.0, 1.0 / np.sqrt(n_in))})
    nest.Connect(rec, rec, all_to_all, {**eprop_syn, "weight": nest.random.normal(0.0, 1.0 / np.sqrt(n_rec))})
    nest.Connect(rec, readout, all_to_all, {**eprop_syn, "weight": nest.random.uniform(-limit, limit)})
    signal = {
        "synapse_model": "eprop_learning_signal_connection_bsshslm_2020",
        "delay": 1.0,
        "weight": nest.random.normal(0.0, 1.0),
    }
    nest.Connect(readout, rec, "all_to_all", signal)
    mm_readout = nest.Create("multimeter", {"interval": 1.0, "record_from": ["readout_signal"]})
    nest.Connect(mm_readout, readout)

    trainer = eprop.TrialTrainer(
        task, input_generators=input_generators, target_generators=target_generators, readout_recorder=mm_readout, seed=seed
    )
    trainer.nest = timed = TimedNest(nest)  # the trainer's calls of nest.Simulate, timed
    switch = int(round(0.6 * iterations))
    trainer.train(switch, progress=False)
    nest.SetDefaults("eprop_synapse_bsshslm_2020", {"optimizer": {"eta": 0.3 * learning_rate}})
    trainer.train(iterations - switch, progress=False)
    train_s = time.perf_counter() - started
    nest.SetDefaults("eprop_synapse_bsshslm_2020", {"optimizer": {"eta": 0.0}})
    result = trainer.test(256, seed=1000)
    return {
        "run": "bundle",
        "seed": seed,
        "threads": threads,
        "config": f"25 + 25 neurons, batch {batch_size} x {iterations}, Adam {learning_rate} decaying",
        "test_error": result["error"],
        "test_trials": 256,
        "build_and_train_s": train_s,
        "simulate_s": timed.simulate_s,
    }


def nest_example_run(threads: int) -> dict:
    """NEST's example, unchanged but for the threads and without figures."""
    import matplotlib

    matplotlib.use("Agg")
    import nest

    path = Path(nest.__file__).parent / "doc/examples/pynest/eprop_plasticity"
    script = path / "eprop_supervised_classification_evidence-accumulation_bsshslm_2020.py"
    source = script.read_text()
    for old, new in [
        ('"total_num_virtual_procs": 1', f'"total_num_virtual_procs": {threads}'),
        ("do_plotting = True", "do_plotting = False"),
    ]:
        if old not in source:
            raise RuntimeError(f"NEST's example changed: {old!r} not found in {script}")
        source = source.replace(old, new)
    namespace = {"__name__": "__main__"}
    try:
        exec(compile(source, str(script), "exec"), namespace)
    except SystemExit:  # the example exits where plotting would start
        pass
    results = namespace["results_dict"]
    labels = list(results["label"])
    errors = [float(e) for e, label in zip(results["error"], labels) if label == "test"]
    return {
        "run": "NEST example",
        "seed": None,
        "threads": threads,
        "config": "50 + 50 neurons, batch 32 x 50, validation every 10 (as shipped)",
        "test_error": sum(errors) / len(errors),
        "test_trials": 32 * len(errors),
    }


def child(kind: str, seed: int, threads: int) -> dict:
    """Run one measurement in a fresh process; add its wall time and peak memory."""
    code = (
        "import json, resource, sys, time; sys.path.insert(0, 'benchmarks'); import eprop_nest_task as b; "
        f"t = time.perf_counter(); r = b.{kind}; r['wall_s'] = time.perf_counter() - t; "
        "r['peak_gb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2; print('RESULT ' + json.dumps(r))"
    )
    env = dict(os.environ)  # threads no more than cores: OpenMP's default (active) waiting is fastest
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(f"{kind} failed:\n{out.stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--skip-nest", action="store_true", help="run only the bundle's network")
    args = parser.parse_args()
    rows = []
    if not args.skip_nest:
        rows.append(child(f"nest_example_run({args.threads})", 0, args.threads))
        print(rows[-1], flush=True)
    for seed in args.seeds:
        rows.append(child(f"bundle_run({seed}, {args.threads})", seed, args.threads))
        print(rows[-1], flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "eprop_nest_task.json").write_text(json.dumps(rows, indent=1) + "\n")
    nest_row = next((r for r in rows if r["run"] == "NEST example"), None)
    lines = [
        "# NEST's evidence-accumulation task: bundle vs NEST's example",
        "",
        f"Written by `benchmarks/eprop_nest_task.py`, {args.threads} threads, one run after the other on this machine.",
        "",
        "| run | seed | configuration | test error (trials) | wall (s) | in Simulate (s) | peak memory (GB) | wall / NEST's |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = f"{r['wall_s'] / nest_row['wall_s']:.2f}" if nest_row else "–"
        simulate = f"{r['simulate_s']:.0f}" if "simulate_s" in r else "–"
        lines.append(
            f"| {r['run']} | {r['seed'] or '–'} | {r['config']} | {r['test_error']:.3f} ({r['test_trials']}) | "
            f"{r['wall_s']:.0f} | {simulate} | {r['peak_gb']:.2f} | {ratio} |"
        )
    (RESULTS / "eprop_nest_task.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
