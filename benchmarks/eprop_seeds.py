"""Measure the e-prop notebooks' results over seeds (run with NEST_WORKSHOP_THREADS=1).

    NEST_WORKSHOP_THREADS=1 .venv/bin/python benchmarks/eprop_seeds.py pattern 1 2 3
    NEST_WORKSHOP_THREADS=1 .venv/bin/python benchmarks/eprop_seeds.py evidence 1 2 3
    NEST_WORKSHOP_THREADS=1 .venv/bin/python benchmarks/eprop_seeds.py regular-only 1 2 3

Each line printed is one seed, in the notebooks' default configuration. The figures
measured on the 2-core development machine (1 thread, another NEST job running) are in
materials/eprop/README.md.
"""

import sys
import time

import numpy as np

import nest_workshop as nw
from nest_workshop.parts import eprop


def pattern(seed):
    t = time.time()
    nw.reset_kernel(seed=seed, resolution=1.0)
    target = eprop.sine_pattern(seed=seed)
    net = eprop.PatternGenerator(target)
    history = net.train(200, 5e-4, progress=False)
    net.test()
    signal = np.nanmean(np.abs(net.after.neurons["learning_signal"])) / np.nanmean(np.abs(net.before.neurons["learning_signal"]))
    fast = history["loss"][:50]
    nw.reset_kernel(seed=seed, resolution=1.0)
    slow = eprop.PatternGenerator(target, record_neurons=0).train(50, 1e-4, progress=False)["loss"]
    nw.reset_kernel(seed=seed, resolution=1.0)
    net2 = eprop.PatternGenerator(eprop.trajectory_pattern("heart"), record_neurons=0)
    history2 = net2.train(200, 5e-4, progress=False)
    net2.test()
    print(
        f"seed {seed}: sine loss ratio {net.test_loss / history['loss'][0]:.3f} corr {net.test_correlation:.3f} "
        f"learning signal after/before {signal:.2f}; 50 it. 1e-4 / 5e-4 loss {slow[-1] / fast[-1]:.2f}; "
        f"heart loss ratio {net2.test_loss / history2['loss'][0]:.3f} corr {net2.test_correlation:.3f}; "
        f"{time.time() - t:.0f} s",
        flush=True,
    )


def evidence(seed, n_regular=25, n_adaptive=25):
    t = time.time()
    nw.reset_kernel(seed=seed, resolution=1.0)
    net = eprop.EvidenceAccumulator(n_regular=n_regular, n_adaptive=n_adaptive, batch_size=8)
    net.train(400, 0.005, decay_after=0.6, decay_to=0.3, progress=False)
    result = net.test(256, seed=1000)
    line = f"seed {seed} ({n_regular} + {n_adaptive}): test error {result['error']:.3f}"
    if n_adaptive:
        line += f", without adaptation {net.test(256, seed=1000, adaptation=False)['error']:.3f}"
    print(f"{line}; {time.time() - t:.0f} s", flush=True)


if __name__ == "__main__":
    kind, seeds = sys.argv[1], [int(s) for s in sys.argv[2:]] or [1, 2, 3]
    for seed in seeds:
        {"pattern": pattern, "evidence": evidence, "regular-only": lambda s: evidence(s, 50, 0)}[kind](seed)
