"""The e-prop module: task generators, input validation, and tiny training runs."""

import inspect

import numpy as np
import pytest

import nest_workshop as nw
from nest_workshop.core import notebook_code
from nest_workshop.core.kernel import KernelStateError
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


# ---- notebook 1's network, run from its own cells (nest_workshop.core.notebook_code) ----


def notebook_network(steps=300, n=30, learning_rate=0.03, seed=1):
    """Notebook 1's network cells (sections 1-3: task, network, trainer), with a shorter
    presentation, ``n`` inputs and recurrent neurons and a faster learning rate: the
    network participants build, small. Returns the notebook's namespace."""
    parameters = {"steps": steps, "n_in": n, "n_rec": n, "learning_rate": learning_rate, "seed": seed}
    return notebook_code.run_cells(notebook_code.solution_notebook("eprop", "01_pattern_generation"), parameters)


def trainer_for(net, **kwargs):
    """A PatternTrainer for the notebook's network, as its cell makes one."""
    options = dict(
        input_generators=net["input_generators"],
        target_generators=net["target_generators"],
        readout_recorder=net["mm_readout"],
        trace_recorders={"spikes": net["spikes"], "neurons": net["mm_neurons"]},
    )
    return eprop.PatternTrainer(net["target"], net["input_spikes"], **{**options, **kwargs})


def test_section_7s_function_builds_section_2s_network(one_thread):
    """The notebook writes its network twice, cell by cell (section 2) and as one function
    (section 7): same seed, same connections and the same random weights."""
    net = notebook_network(steps=100, n=10)
    nest = net["nest"]

    def network():
        found = {}
        for model in ("eprop_synapse", "eprop_learning_signal_connection", "rate_connection_delayed"):
            connections = nest.GetConnections(synapse_model=model)
            found[model] = sorted(np.round(np.atleast_1d(connections.get("weight")), 12))
        found["neurons"] = nest.GetNodes({"model": "eprop_iaf"}).get(list(net["rec_params"]))
        return found

    cells = network()
    nw.reset_kernel(seed=1, resolution=1.0)
    net["build_pattern_network"](net["target"])
    assert network() == cells
    assert len(cells["eprop_synapse"]) == 10 * 10 + 10 * 9 + 10


def test_pattern_trainer_loss_decreases_and_records_what_is_plotted(one_thread):
    net = notebook_network()
    nest, trainer = net["nest"], net["trainer"]
    history = trainer.train(n_iterations=25, progress=False)
    trained = eprop.weight_matrix(nest.GetConnections(net["inputs"], net["rec"]))[0]
    nest.SetDefaults("eprop_synapse", {"optimizer": {"eta": 0.0}})
    snap = trainer.test()
    assert len(history["loss"]) == 25
    # seeds 1-4 end at 0.13-0.35 of the first loss (the test loss: 0.12-0.27)
    assert np.mean(history["loss"][-5:]) < 0.6 * history["loss"][0]
    assert trainer.test_loss < 0.6 * history["loss"][0]
    # learning rate 0: the update pending from training still lands (at each synapse's next
    # presynaptic spike, in the first test, at the training rate each synapse kept) ...
    frozen = eprop.weight_matrix(nest.GetConnections(net["inputs"], net["rec"]))[0]
    assert not np.array_equal(trained, frozen)
    # ... and after that the weights stay put
    trainer.test()
    assert np.array_equal(frozen, eprop.weight_matrix(nest.GetConnections(net["inputs"], net["rec"]))[0])
    for s in (trainer.before, snap):
        assert s.recorded["neurons"]["learning_signal"].shape == (3, 300)
        assert s.readout.shape[0] == 1 and s.readout.shape[1] >= 295
        times, senders = s.recorded["spikes"]
        assert len(times) > 0 and times.min() > 0 and times.max() <= 300
        assert set(senders) <= set(net["rec"].tolist())
    assert net["spikes"].get("n_events") == 0  # read and cleared; recorders off between plotted presentations


def test_learning_signal_is_what_trains_the_recurrent_weights(one_thread):
    """Without eprop_learning_signal_connections (and without rate regularisation, which
    each neuron computes itself) only the readout weights change."""
    net = notebook_network(steps=200)
    net["rec_params"]["c_reg"] = 0.0  # no rate regularisation
    changes = {}
    for learning_signal in (True, False):
        nest = nw.reset_kernel(seed=1, resolution=1.0)
        trainer = net["build_pattern_network"](net["target"], learning_signal=learning_signal)
        inputs_to_rec = nest.GetConnections(nest.GetNodes({"model": "parrot_neuron"}), synapse_model="eprop_synapse")
        before = np.array(inputs_to_rec.get("weight"))
        trainer.train(5, progress=False)
        changes[learning_signal] = np.abs(np.array(inputs_to_rec.get("weight")) - before).sum()
    assert changes[False] == 0.0 and changes[True] > 0.0


def test_fallback_connects_the_learning_signal_only_when_missing(one_thread, capsys):
    nest = nw.reset_kernel(seed=1, resolution=1.0)
    rec = nest.Create("eprop_iaf", 4)
    readout = nest.Create("eprop_readout", 2)
    assert eprop.fallback_learning_signal(readout, rec, weight_std=0.1) == 8
    assert "exercise above is blank" in capsys.readouterr().out
    assert eprop.fallback_learning_signal(readout, rec, weight_std=0.1) == 8  # not connected twice
    assert capsys.readouterr().out == ""


def test_pattern_trainer_continues_after_a_presentation_by_hand(one_thread):
    """Notebook 1 runs one presentation by hand (generators, Simulate, recorder) before
    the trainer takes over: the trainer then starts with the next presentation."""
    net = notebook_network(steps=100)
    nest = net["nest"]
    nest.Simulate(100.0)
    trainer = trainer_for(net)
    assert trainer.n_presentations == 1
    trainer.train(2, progress=False)
    assert nest.biological_time == 300.0 and trainer.before.readout.shape[1] >= 95
    nest.Simulate(50.0)
    with pytest.raises(KernelStateError, match="inside one"):
        trainer_for(net)


def test_learning_signal_check_tests_count_and_weights(one_thread, capsys):
    from nest_workshop.core.selfcheck import SelfCheckError

    nest = nw.reset_kernel(seed=1, resolution=1.0)
    rec = nest.Create("eprop_iaf", 100)
    readout = nest.Create("eprop_readout", 1)
    with pytest.raises(SelfCheckError, match="0 eprop_learning_signal_connections"):
        eprop.check_learning_signal(readout, rec, weight_std=0.003)
    nest.Connect(readout, rec, "all_to_all", {"synapse_model": "eprop_learning_signal_connection"})
    with pytest.raises(SelfCheckError, match="all 100 weights are 1"):  # a Connect without weights
        eprop.check_learning_signal(readout, rec, weight_std=0.003)
    nest = nw.reset_kernel(seed=1, resolution=1.0)
    rec = nest.Create("eprop_iaf", 100)
    readout = nest.Create("eprop_readout", 1)
    syn = {"synapse_model": "eprop_learning_signal_connection", "weight": nest.random.normal(0.0, 0.003)}
    nest.Connect(readout, rec, "all_to_all", syn)
    eprop.check_learning_signal(readout, rec, weight_std=0.003)
    assert "✔" in capsys.readouterr().out
    with pytest.raises(SelfCheckError, match="standard deviation"):  # ten times too wide
        eprop.check_learning_signal(readout, rec, weight_std=0.0003)
    nest.Connect(readout, rec, "all_to_all", syn)  # the exercise cell run twice
    with pytest.raises(SelfCheckError, match="more than once"):
        eprop.check_learning_signal(readout, rec, weight_std=0.003)


def test_softmax_check_and_fallback(one_thread, capsys):
    from nest_workshop.core.selfcheck import SelfCheckError

    rate = {"synapse_model": "rate_connection_delayed", "delay": 1.0, "receptor_type": 1}
    nest = nw.reset_kernel(seed=1, resolution=1.0)
    readout = nest.Create("eprop_readout_bsshslm_2020", 2)
    with pytest.raises(SelfCheckError, match="0 readout-to-readout"):
        eprop.check_softmax(readout)
    nest.Connect(readout, readout, "all_to_all", rate)  # autapses allowed
    with pytest.raises(SelfCheckError, match="allow_autapses"):
        eprop.check_softmax(readout)
    nest = nw.reset_kernel(seed=1, resolution=1.0)
    readout = nest.Create("eprop_readout_bsshslm_2020", 2)
    nest.Connect(readout, readout, {"rule": "all_to_all", "allow_autapses": False}, {**rate, "receptor_type": 2})
    with pytest.raises(SelfCheckError, match="receptor 2"):
        eprop.check_softmax(readout)
    nest = nw.reset_kernel(seed=1, resolution=1.0)
    readout = nest.Create("eprop_readout_bsshslm_2020", 2)
    assert eprop.fallback_softmax(readout) == 2
    assert "exercise above is blank" in capsys.readouterr().out
    eprop.check_softmax(readout)
    assert eprop.fallback_softmax(readout) == 2  # not connected twice
    nest.Connect(readout, readout, {"rule": "all_to_all", "allow_autapses": False}, rate)
    with pytest.raises(SelfCheckError, match="more than once"):
        eprop.check_softmax(readout)


def test_pattern_test_refuses_a_learning_network(one_thread):
    trainer = notebook_network(steps=100)["trainer"]
    with pytest.raises(ValueError, match="set its optimizer's eta to 0"):
        trainer.test()


def test_weight_matrix_rows_are_targets_and_columns_sources(one_thread):
    nest = nw.reset_kernel(seed=1, resolution=1.0)
    pre, post = nest.Create("parrot_neuron", 3), nest.Create("parrot_neuron", 2)
    nest.Connect(pre, post, "all_to_all", {"weight": np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])})
    matrix, sources, targets = eprop.weight_matrix(nest.GetConnections(pre, post))
    assert np.array_equal(matrix, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert list(sources) == pre.tolist() and list(targets) == post.tolist()
    with pytest.raises(TypeError, match="GetConnections"):
        eprop.weight_matrix(pre)


def bad_pattern_trainer_calls():
    target = np.zeros(100)
    net = notebook_network(steps=100)
    ok = dict(
        input_generators=net["input_generators"], target_generators=net["target_generators"], readout_recorder=net["mm_readout"]
    )
    noise = net["input_spikes"]
    return {
        "target shape": (lambda: eprop.PatternTrainer(np.zeros(5), noise, **ok), "shape"),
        "target NaN": (lambda: eprop.PatternTrainer(np.full(100, np.nan), noise, **ok), "finite"),
        "spikes length": (lambda: eprop.PatternTrainer(target, noise[:, :50], **ok), "input_spikes"),
        "spikes dtype": (lambda: eprop.PatternTrainer(target, noise.astype(float), **ok), "boolean"),
        "not silent": (lambda: eprop.PatternTrainer(target, np.ones((30, 100), bool), **ok), "silent"),
        "generators": (lambda: eprop.PatternTrainer(target, noise[:3], **ok), "input_generators must have 3"),
        "recorder": (
            lambda: eprop.PatternTrainer(target, noise, **{**ok, "readout_recorder": net["mm_neurons"]}),
            "readout_signal",
        ),
        "not nodes": (lambda: eprop.PatternTrainer(target, noise, **{**ok, "target_generators": [1]}), "NodeCollection"),
        "traces": (lambda: eprop.PatternTrainer(target, noise, **ok, trace_recorders=[net["mm_neurons"]]), "dict"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "target shape",
        "target NaN",
        "spikes length",
        "spikes dtype",
        "not silent",
        "generators",
        "recorder",
        "not nodes",
        "traces",
    ],
)
def test_bad_pattern_trainer_arguments_are_refused(one_thread, case):
    call, match = bad_pattern_trainer_calls()[case]
    with pytest.raises((TypeError, ValueError), match=match):
        call()


def test_trainer_needs_1_ms_steps_and_time_zero(one_thread):
    nest = nw.reset_kernel(seed=1, resolution=0.1)
    with pytest.raises(KernelStateError, match="resolution=1"):
        eprop.PatternTrainer(np.zeros(100), eprop.frozen_noise(2, 100, silent_ms=3), input_generators=None,
                             target_generators=None, readout_recorder=None)  # fmt: skip
    nest = nw.reset_kernel(seed=1, resolution=1.0)
    nest.Simulate(5.0)
    with pytest.raises(KernelStateError, match="simulated 5 ms"):
        eprop.TrialTrainer(eprop.CueTask(), input_generators=None, target_generators=None, readout_recorder=None, seed=1)


def notebook_evidence_network(n=5, batch_size=4, learning_rate=0.01, seed=1):
    """Notebook 2's network cells (sections 1-3: task, network, trainer) with short trials
    (a 50 ms delay), ``n`` regular and ``n`` adaptive neurons and small batches: the
    network participants build, small. Returns the notebook's namespace."""
    parameters = dict(task=eprop.CueTask(delay_ms=50), n_regular=n, n_adaptive=n, batch_size=batch_size,
                      learning_rate=learning_rate, seed=seed)  # fmt: skip
    return notebook_code.run_cells(notebook_code.solution_notebook("eprop", "02_evidence_accumulation"), parameters)


def test_section_7s_classifier_is_section_2s_network(one_thread):
    """Notebook 2 writes its network twice, cell by cell (section 2) and as one function
    (section 7): same seed, same connections and the same random weights."""
    net = notebook_evidence_network()
    nest = net["nest"]

    def network():
        models = ("eprop_synapse_bsshslm_2020", "eprop_learning_signal_connection_bsshslm_2020", "rate_connection_delayed")
        found = {m: sorted(np.round(np.atleast_1d(nest.GetConnections(synapse_model=m).get("weight")), 12)) for m in models}
        found["adaptive"] = nest.GetNodes({"model": "eprop_iaf_adapt_bsshslm_2020"}).get(list(net["adaptive_params"]))
        return found

    cells = network()
    nw.reset_kernel(seed=1, resolution=1.0)
    net["build_classifier"](net["n_regular"], net["n_adaptive"])
    assert network() == cells
    assert len(cells["eprop_synapse_bsshslm_2020"]) == 40 * 10 + 10 * 9 + 10 * 2


def test_trial_trainer_runs_and_evaluates(one_thread):
    net = notebook_evidence_network()
    nest, task, trainer = net["nest"], net["task"], net["trainer"]
    history = trainer.train(n_iterations=3, progress=False)
    assert trainer.batch_size == 4 and trainer.n_trials_run == 12  # the optimizer's batch size
    assert len(history["loss"]) == 3 and all(np.isfinite(history["loss"]))
    assert all(0.0 <= e <= 1.0 for e in history["error"])
    with pytest.raises(ValueError, match="eta to 0"):
        trainer.test(n_trials=8, seed=3)
    nest.SetDefaults("eprop_synapse_bsshslm_2020", {"optimizer": {"eta": 0.0}})
    result = trainer.test(n_trials=8, seed=3)
    again = trainer.test(n_trials=8, seed=3)
    assert np.array_equal(result["labels"], again["labels"])  # same held-out trials
    snap = trainer.example_trial(label=1, seed=4)
    assert snap.trial.labels[0] == 1 and snap.readout.shape == (2, task.trial_ms)
    recall = snap.readout[:, -task.recall_ms :]
    assert np.allclose(recall.sum(axis=0), 1.0)  # a softmax over the two readouts, in the recall window
    assert np.all(np.isnan(snap.readout[:, : -task.recall_ms]))  # and only there
    assert snap.recorded["adaptive"]["V_th_adapt"].shape == (3, task.trial_ms)
    assert snap.trial.spikes.shape == (1, task.n_inputs, task.trial_ms)


def test_trial_trainer_needs_the_kernel_set_for_its_trials(one_thread):
    net = notebook_evidence_network()
    with pytest.raises(KernelStateError, match="eprop_update_interval=800"):
        eprop.TrialTrainer(
            eprop.CueTask(),
            input_generators=net["input_generators"],
            target_generators=net["target_generators"],
            readout_recorder=net["mm_readout"],
            seed=1,
        )


def test_schematic_knows_its_kinds():
    with pytest.raises(ValueError, match="regression"):
        eprop.draw_network(kind="hopfield")


def test_the_networks_are_built_in_the_notebooks():
    """The package keeps the loops around the networks, not the networks: no Create, and
    one Connect in each fallback that stands in for a blank exercise."""
    source = inspect.getsource(eprop)
    assert "Create(" not in source
    assert source.count(".Connect(") == 2 and "def fallback_learning_signal" in source and "def fallback_softmax" in source


@pytest.mark.parametrize("silent_ms", [-3, 100, 2.5])
def test_frozen_noise_refuses_a_silent_stretch_it_cannot_make(silent_ms):
    with pytest.raises(ValueError, match=r"silent_ms must be a whole number from 0 to 99"):
        eprop.frozen_noise(3, 100, silent_ms=silent_ms)
