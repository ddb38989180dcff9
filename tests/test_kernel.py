"""Kernel set-up: seed, threads, resolution, quiet output."""

import numpy as np
import pytest

from nest_workshop import reset_kernel
from nest_workshop.core import kernel


def run_small_network(seed, threads=1):
    nest = reset_kernel(seed=seed, threads=threads)
    neurons = nest.Create("iaf_psc_alpha", 20)
    noise = nest.Create("poisson_generator", params={"rate": 20000.0})
    recorder = nest.Create("spike_recorder")
    nest.Connect(noise, neurons, syn_spec={"weight": 5.0})
    nest.Connect(neurons, recorder)
    nest.Simulate(200.0)
    return sorted(zip(recorder.events["senders"], recorder.events["times"]))


def test_reset_sets_seed_threads_and_resolution():
    nest = reset_kernel(seed=7, threads=2, resolution=0.05)
    assert nest.rng_seed == 7
    assert nest.local_num_threads == 2
    assert nest.resolution == pytest.approx(0.05)


def test_same_seed_same_spikes_other_seed_other_spikes():
    first = run_small_network(seed=3)
    assert len(first) > 50
    assert run_small_network(seed=3) == first
    assert run_small_network(seed=4) != first


def test_threads_default_to_available_cores_and_follow_the_environment(monkeypatch):
    monkeypatch.delenv(kernel.THREADS_ENV, raising=False)
    assert kernel.default_threads() == kernel.available_cores()
    monkeypatch.setenv(kernel.THREADS_ENV, "1")
    assert reset_kernel(seed=1).local_num_threads == 1


@pytest.mark.parametrize("value", ["two", "0", "-1"])
def test_bad_thread_setting_is_explained(monkeypatch, value):
    monkeypatch.setenv(kernel.THREADS_ENV, value)
    with pytest.raises(ValueError, match=kernel.THREADS_ENV):
        kernel.default_threads()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"seed": 0}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"threads": 0}, "threads"),
        ({"resolution": 0}, "resolution"),
    ],
)
def test_bad_arguments_are_explained(kwargs, message):
    with pytest.raises(ValueError, match=message):
        reset_kernel(**kwargs)


def test_quiet_kernel_prints_no_info(capfd):
    capfd.readouterr()
    nest = reset_kernel(seed=1, threads=1, resolution=0.2)  # a resolution change is an INFO message
    nest.Simulate(10.0)
    out, err = capfd.readouterr()
    assert "INFO" not in out + err and "Simulation" not in out + err
    assert nest.verbosity == nest.VerbosityLevel.WARNING


def test_hooks_run_after_every_reset_and_are_registered_once():
    calls = []

    def hook():
        calls.append(1)

    kernel.after_reset(hook)
    kernel.after_reset(hook)
    try:
        reset_kernel(seed=1, threads=1)
        reset_kernel(seed=2, threads=1)
        assert calls == [1, 1]
    finally:
        kernel._after_reset_hooks.remove(hook)


def test_current_settings_are_what_reset_kernel_takes():
    reset_kernel(seed=5, threads=1, resolution=0.05, quiet=True)
    settings = kernel.current_settings()
    assert settings == {"seed": 5, "threads": 1, "resolution": pytest.approx(0.05), "quiet": True}
    assert reset_kernel(**settings).rng_seed == 5


def test_require_fresh_kernel_names_the_helper_and_the_fix():
    nest = reset_kernel(seed=1, threads=1)
    assert kernel.require_fresh_kernel("my_helper") is nest
    nest.Create("iaf_psc_alpha", 3)
    with pytest.raises(kernel.KernelNotFreshError, match=r"my_helper .* already has 3 nodes.*nw.reset_kernel"):
        kernel.require_fresh_kernel("my_helper")


def test_one_error_for_a_kernel_in_the_wrong_state():
    """Every kernel precondition raises KernelStateError (a RuntimeError) saying what to call."""
    assert issubclass(kernel.KernelNotFreshError, kernel.KernelStateError)
    assert issubclass(kernel.KernelStateError, RuntimeError)
    nest = reset_kernel(seed=1, threads=1, resolution=0.1)
    assert kernel.require_resolution("my_helper", 0.1) is nest
    assert kernel.require_time_zero("my_helper", "needs time 0", "reset") is nest
    with pytest.raises(kernel.KernelStateError, match=r"my_helper runs at a 1 ms time step.*0.1 ms.*resolution=1\)"):
        kernel.require_resolution("my_helper", 1.0)
    nest.Simulate(5.0)
    with pytest.raises(
        kernel.KernelStateError, match="my_helper needs time 0, and this kernel has simulated 5 ms already: reset"
    ):
        kernel.require_time_zero("my_helper", "needs time 0", "reset")


def test_part_preconditions_raise_kernel_state_error():
    from nest_workshop.parts import eprop
    from nest_workshop.parts import sequences as S

    reset_kernel(seed=1, threads=1, resolution=0.1)
    with pytest.raises(kernel.KernelStateError, match=r"PatternTrainer runs at a 1 ms time step.*resolution=1\)"):
        eprop.PatternTrainer(np.zeros(100), eprop.frozen_noise(2, 100, silent_ms=3), input_generators=None,
                             target_generators=None, readout_recorder=None)  # fmt: skip
    nest = reset_kernel(seed=1, threads=1, resolution=1.0)
    nest.Simulate(5.0)
    with pytest.raises(kernel.KernelStateError, match="TrialTrainer counts presentations from time 0.*simulated 5 ms"):
        eprop.TrialTrainer(eprop.CueTask(), input_generators=None, target_generators=None, readout_recorder=None, seed=1)

    config = S.SequenceConfig(n_elements=2, n_per_element=4, pattern_size=2, indegree=3)
    schedule = S.episode_schedule(["AB"], config, 1)
    nest = reset_kernel(seed=1, threads=1)
    exc = nest.Create("iaf_psc_alpha", 8)
    nest.Simulate(5.0)
    with pytest.raises(kernel.KernelStateError, match=r"train runs the schedule from time 0.*simulated 5 ms.*nw.reset_kernel"):
        S.train(exc, schedule, spike_recorder=None, dap_recorder=None, progress=False)
