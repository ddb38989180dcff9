"""Run under mpirun (or alone) by test_mpi.py: a small network, then the rank-aware
helpers. Rank 0 prints one JSON line: per-rank local counts and the gathered ones.
With an output folder as second argument, every rank also asks for the report as
JSON and for a raster figure there (only rank 0 may write them)."""

import json
import sys
from pathlib import Path

import numpy as np

import nest_workshop as nw
from nest_workshop.core import ranks

threads = int(sys.argv[1])
nest = nw.reset_kernel(seed=7, threads=threads)
neurons = nest.Create("iaf_psc_alpha", 200, params={"I_e": 376.0})
nest.Connect(neurons, neurons, {"rule": "fixed_indegree", "indegree": 20}, {"weight": 30.0, "delay": 1.5})
noise = nest.Create("poisson_generator", params={"rate": 4000.0})
nest.Connect(noise, neurons, syn_spec={"weight": 10.0})
recorder = nest.Create("spike_recorder")
nest.Connect(neurons, recorder)
nest.Simulate(300.0)

local_spikes = len(recorder.get("events")["times"])
local_connections = len(nest.GetConnections(target=neurons, source=neurons))
events = ranks.gather_events(recorder)  # explicit and collective: every rank calls it
times, senders = nw.analysis.spike_times(events)
connections = ranks.gather_connections(("source", "target", "weight"), source=neurons, target=neurons)
report = {
    "ranks": ranks.num_processes(),
    "local_spikes": ranks.allgather(local_spikes),
    "local_connections": ranks.allgather(local_connections),
    "gathered_spikes": int(times.size),
    "gathered_connections": int(connections["source"].size),
    "counted_connections": ranks.count_connections(source=neurons, target=neurons),
    "spikes_sha": __import__("hashlib").sha256(times.tobytes() + senders.astype(np.int64).tobytes()).hexdigest(),
    "rate_hz": nw.analysis.mean_rate(events, 200, 0.0, 300.0),
}
if len(sys.argv) > 2:
    import matplotlib

    matplotlib.use("Agg")
    out = Path(sys.argv[2])
    figure, (ax_raster, _) = nw.plotting.raster(events, n_neurons=200)
    report["raster_points"] = int(len(ax_raster.lines[0].get_xdata()))  # the plot shows every rank's spikes
    ranks.save_figure(figure, out / "raster.png")
    ranks.write_json(out / "report.json", report)
if ranks.is_root():
    print("RESULT " + json.dumps(report))
