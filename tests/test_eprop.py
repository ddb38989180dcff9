"""The e-prop module: task generators, input validation, and tiny training runs."""

import numpy as np
import pytest

import nest_workshop as nw
from nest_workshop.core.kernel import KernelNotFreshError
from nest_workshop.parts import eprop

# ---- targets ---------------------------------------------------------------------------


@pytest.mark.parametrize("duration, amplitude", [(1000, 1.0), (250, 2.5)])
def test_sine_pattern_has_requested_duration_and_amplitude(duration, amplitude):
    pattern = eprop.sine_pattern(duration, amplitude=amplitude, seed=3)
    assert pattern.shape == (duration,)
    assert np.isclose(np.abs(pattern).max(), amplitude)
    assert pattern[0] == 0.0


def test_sine_pattern_is_a_sum_of_the_requested_periods():
    pattern = eprop.sine_pattern(1000, periods_ms=(100.0,), seed=1)
    spectrum = np.abs(np.fft.rfft(pattern - pattern.mean()))
    assert np.argmax(spectrum) == 10  # 1000 ms / 100 ms
    assert not np.array_equal(pattern, eprop.sine_pattern(1000, seed=2))


@pytest.mark.parametrize("shape", sorted(eprop.TRAJECTORIES))
def test_trajectory_has_two_rows_duration_and_amplitude(shape):
    xy = eprop.trajectory_pattern(shape, 800, amplitude=1.5)
    assert xy.shape == (2, 800)
    assert np.isclose(np.abs(xy).max(), 1.5)
    # a closed curve: the end comes back to the start
    step = np.abs(np.diff(xy, axis=1)).max()
    assert np.abs(xy[:, -1] - xy[:, 0]).max() <= 2 * step


def test_trajectory_accepts_a_function():
    xy = eprop.trajectory_pattern(lambda s: (np.cos(s), np.sin(2 * s)), 100)
    assert xy.shape == (2, 100)


# ---- evidence-accumulation trials ------------------------------------------------------


def test_trial_label_is_the_side_with_more_cues():
    task = eprop.CueTask(n_cues=5)
    trials = eprop.cue_trials(300, task, rng=4)
    counts_right = trials.cues.sum(axis=1)
    assert np.array_equal(trials.labels, (counts_right > 2).astype(int))
    assert 0.35 < trials.labels.mean() < 0.65


def test_trial_input_shows_the_cues_on_their_side():
    task = eprop.CueTask()
    trials = eprop.cue_trials(50, task, rng=5)
    g = task.group_size
    assert trials.spikes.shape == (50, task.n_inputs, task.trial_ms)
    for k, (start, stop) in enumerate(task.cue_windows()):
        left = trials.spikes[:, :g, start:stop].sum(axis=(1, 2))
        right = trials.spikes[:, g : 2 * g, start:stop].sum(axis=(1, 2))
        on_right = trials.cues[:, k] == 1
        assert np.all(right[on_right] > left[on_right]) and np.all(left[~on_right] > right[~on_right])
    recall = trials.spikes[:, 2 * g : 3 * g]
    assert recall[:, :, : task.trial_ms - task.recall_ms].sum() == 0 and recall.sum() > 0
    assert trials.spikes[:, :, :10].sum() == 0  # the first 10 ms are silent


def test_same_seed_same_trials():
    a, b = eprop.cue_trials(5, rng=9), eprop.cue_trials(5, rng=9)
    assert np.array_equal(a.spikes, b.spikes) and np.array_equal(a.labels, b.labels)


# ---- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_cues": 4}, "odd"),
        ({"n_cues": 0}, "n_cues"),
        ({"n_inputs": 42}, "multiple of 4"),
        ({"recall_ms": 5}, "recall_ms"),
        ({"p_favoured": 0.3}, "p_favoured"),
        ({"rate_hz": -1.0}, "rate_hz"),
    ],
)
def test_bad_task_parameters_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        eprop.CueTask(**kwargs)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: eprop.cue_trials(0), "n_trials"),
        (lambda: eprop.cue_trials(2.5), "n_trials"),
        (lambda: eprop.sine_pattern(5), "duration_ms"),
        (lambda: eprop.sine_pattern(100, periods_ms=(0.0,)), "periods_ms"),
        (lambda: eprop.sine_pattern(100, amplitude=0), "amplitude"),
        (lambda: eprop.trajectory_pattern("star"), "shape must be one of"),
        (lambda: eprop.frozen_noise(10, 100, rate_hz=2000.0), "rate_hz"),
        (lambda: eprop.mse_loss(np.zeros(3), np.zeros(4)), "same shape"),
    ],
)
def test_bad_generator_arguments_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_network_needs_a_fresh_kernel(one_thread):
    nest = nw.reset_kernel(seed=1, resolution=1.0)
    nest.Create("iaf_psc_alpha")
    with pytest.raises(KernelNotFreshError, match="fresh NEST kernel"):
        eprop.PatternGenerator(np.zeros(100))


def test_network_needs_1_ms_steps(one_thread):
    nw.reset_kernel(seed=1, resolution=0.1)
    with pytest.raises(ValueError, match="resolution=1"):
        eprop.PatternGenerator(np.zeros(100))


@pytest.mark.parametrize(
    "target, match",
    [
        (np.zeros(5), "shape"),
        (np.zeros((2, 3, 100)), "shape"),
        (np.full(100, np.nan), "finite"),
    ],
)
def test_bad_target_pattern_is_refused(one_thread, target, match):
    nw.reset_kernel(seed=1, resolution=1.0)
    with pytest.raises(ValueError, match=match):
        eprop.PatternGenerator(target)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_rec": 1}, "n_rec"),
        ({"n_input": 0}, "n_input"),
        ({"record_neurons": 500}, "record_neurons"),
    ],
)
def test_bad_pattern_network_sizes_are_refused(one_thread, kwargs, match):
    nw.reset_kernel(seed=1, resolution=1.0)
    with pytest.raises(ValueError, match=match):
        eprop.PatternGenerator(np.zeros(100), **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_regular": 1, "n_adaptive": 0}, "at least 2 recurrent"),
        ({"n_regular": -1}, "n_regular"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 4.0}, "batch_size"),
    ],
)
def test_bad_classifier_arguments_are_refused(one_thread, kwargs, match):
    nw.reset_kernel(seed=1, resolution=1.0)
    with pytest.raises(ValueError, match=match):
        eprop.EvidenceAccumulator(**kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_iterations": 0}, "n_iterations"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": 5.0}, "learning_rate"),
        ({"decay_after": 1.5}, "decay_after"),
    ],
)
def test_bad_training_arguments_are_refused(one_thread, kwargs, match):
    nw.reset_kernel(seed=1, resolution=1.0)
    net = eprop.EvidenceAccumulator(n_regular=4, n_adaptive=4)
    with pytest.raises(ValueError, match=match):
        net.train(**{"n_iterations": 1, **kwargs}, progress=False)


# ---- tiny training runs -------------------------------------------------------------------


def test_pattern_generator_loss_decreases(one_thread):
    nw.reset_kernel(seed=1, resolution=1.0)
    net = eprop.PatternGenerator(
        eprop.sine_pattern(300, periods_ms=(300.0, 150.0), seed=1), n_input=30, n_rec=30, record_neurons=2
    )
    history = net.train(n_iterations=25, learning_rate=0.03, progress=False)
    snap = net.test()
    assert len(history["loss"]) == 25
    # seeds 1-4 end at 0.13-0.53 of the first loss (mean of the last 5 iterations)
    assert np.mean(history["loss"][-5:]) < 0.6 * history["loss"][0]
    assert net.test_loss < 0.6 * history["loss"][0]
    # what the notebook plots was recorded, in the first presentation and in the test
    for s in (net.before, snap):
        assert s.neurons["learning_signal"].shape == (2, 300)
        assert s.readout.shape[0] == 1 and s.readout.shape[1] >= 295
        assert len(s.rec_spikes[0]) > 0


def test_evidence_accumulator_runs_and_evaluates(one_thread):
    nw.reset_kernel(seed=1, resolution=1.0)
    task = eprop.CueTask(delay_ms=50)
    net = eprop.EvidenceAccumulator(task, n_regular=5, n_adaptive=5, batch_size=4, record_neurons=2)
    history = net.train(n_iterations=3, learning_rate=0.01, progress=False)
    assert len(history["loss"]) == 3 and all(np.isfinite(history["loss"]))
    assert all(0.0 <= e <= 1.0 for e in history["error"])
    result = net.test(n_trials=8, seed=3)
    again = net.test(n_trials=8, seed=3, adaptation=False)
    assert np.array_equal(result["labels"], again["labels"])  # same held-out trials
    assert net.adaptive.get("adapt_beta")[0] == pytest.approx(net.adapt_beta)  # restored after the lesion test
    snap = net.example_trial(label=1, seed=4)
    assert snap.label == 1 and snap.readout.shape == (2, task.trial_ms)
    recall = snap.readout[:, -task.recall_ms :]
    assert np.allclose(recall.sum(axis=0), 1.0)  # a softmax over the two readouts, in the recall window
    assert np.all(np.isnan(snap.readout[:, : -task.recall_ms]))  # and only there
    assert snap.neurons["adaptive:V_th_adapt"].shape == (2, task.trial_ms)
    assert len(snap.in_spikes[0]) > 0
