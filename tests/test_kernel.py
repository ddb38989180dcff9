"""Kernel set-up: seed, threads, resolution, quiet output."""

import pytest

from nest_workshop import kernel, reset_kernel


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


@pytest.mark.parametrize("kwargs, message", [
    ({"seed": 0}, "seed"), ({"seed": 1.5}, "seed"), ({"threads": 0}, "threads"), ({"resolution": 0}, "resolution"),
])
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
