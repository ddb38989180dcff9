"""Run in a child process by the NESTML tests: build (or load) a module, simulate it,
and print one JSON line with what happened.

Usage: python _build_worker.py CACHE_DIR MODEL.nestml
"""

import json
import sys

from nest_workshop import reset_kernel
from nest_workshop.core import nestml

cache, source = sys.argv[1], sys.argv[2]
nest = reset_kernel(seed=1, threads=1)
module = nestml.build(source, cache_dir=cache)
neuron = nest.Create(module.neuron_models[0], params={"I_e": 500.0})
recorder = nest.Create("spike_recorder")
nest.Connect(neuron, recorder)
nest.Simulate(1000.0)
print(json.dumps({"built": module.built, "spikes": recorder.n_events, "path": str(module.path), "models": module.neuron_models}))
