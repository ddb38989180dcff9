"""The sequence-learning part: the exercises' NESTML, the models' mechanisms tested from
the outside with NEST calls, the schedule, the training loop and the replay read-out."""

from pathlib import Path

import numpy as np
import pytest

from nest_workshop import reset_kernel
from nest_workshop.core import nestml, notebook_code
from nest_workshop.core.kernel import KernelStateError
from nest_workshop.parts import sequences as S

from ._notebook_answers import nestml_cells as _nestml_cells

PART = Path(__file__).resolve().parents[1] / "materials" / "sequence_learning"
MODELS = PART / "models"


@pytest.fixture(scope="module")
def module():
    reset_kernel(threads=1)  # modules load only into an empty kernel; earlier tests leave nodes behind
    return S.build_models(MODELS)


# ---------------------------------------------------------------------------
# The exercises' NESTML


def nestml_cells(notebook: str) -> list[tuple[str, str, str]]:
    return _nestml_cells(PART / notebook)


def test_the_solutions_nestml_is_the_shipped_models(tmp_path):
    """Notebook 1's %%nestml cells, written into copies, give the models in models/ up to
    comments and spacing, so the solution's build comes from the cache `make build` filled,
    and exercise and model cannot drift apart."""
    cells = nestml_cells("01_neuron_and_synapse_solution.ipynb")
    assert [model for model, _, _ in cells] == ["models/dendritic_neuron.nestml", "models/permanence_synapse.nestml"]
    written = [nestml.edit(PART / model, body, tmp_path)[0] for model, _, body in cells]
    for path in written:
        assert nestml.normalise(path.read_text()) == nestml.normalise((MODELS / path.name).read_text())
    key = nestml.cache_key(written, "nest", "sequence_learning", S.CODEGEN_OPTS)
    shipped = nestml.cache_key([MODELS / f for f in S.MODEL_FILES], "nest", "sequence_learning", S.CODEGEN_OPTS)
    assert key == shipped
    # the core's build (the participant's neuron, the shipped synapse) is that module too
    assert (
        nestml.cache_key([written[0], MODELS / "permanence_synapse.nestml"], "nest", "sequence_learning", S.CODEGEN_OPTS)
        == shipped
    )
    # a change to the model's text is a new module
    (changed, _) = nestml.edit(
        PART / cells[0][0], cells[0][2].replace("elif I_dend > theta_dAP", "elif I_dend >= theta_dAP"), tmp_path / "c"
    )
    assert nestml.cache_key([changed, written[1]], "nest", "sequence_learning", S.CODEGEN_OPTS) != shipped


def test_the_participants_exercise_declares_the_parameter_it_uses(tmp_path):
    """The blanked cell lacks the declaration: a model without it does not know the name."""
    (model, _, body) = nestml_cells("01_neuron_and_synapse_solution.ipynb")[0]
    assert "dAP_trace_increment pA = 1 pA" in body and "dAP_trace += dAP_trace_increment" in body
    participant = nestml_cells("01_neuron_and_synapse.ipynb")[0][2]
    assert "dAP_trace_increment pA" not in participant and "+= dAP_trace_increment" not in participant
    assert participant.count("raise NotImplementedError") == 2


def test_the_tutorial_sign_answer_subtracts_the_inhibitory_current(tmp_path):
    ((model, into, body),) = nestml_cells("02_learning_and_replay_solution.ipynb")
    assert into == "my_models/tutorial_sign"
    (written, _) = nestml.edit(PART / model, body, tmp_path)
    shipped = (MODELS / "dendritic_neuron.nestml").read_text()
    assert nestml.normalise(written.read_text()) == nestml.normalise(
        shipped.replace("+ convolve(K_inh, inh_spikes)", "- convolve(K_inh, inh_spikes)")
    )


@pytest.mark.nestml_build
def test_a_nestml_mistake_in_an_exercise_names_the_participants_file_and_line(tmp_path):
    (_, _, body) = nestml_cells("01_neuron_and_synapse_solution.ipynb")[1]
    (synapse, _) = nestml.edit(
        MODELS / "permanence_synapse.nestml", body.replace("(zt - dAP_trace)", "(zt - dAP_trac)"), tmp_path / "my_models"
    )
    files = [MODELS / "dendritic_neuron.nestml", synapse]
    broken_line = next(i for i, line in enumerate(files[1].read_text().splitlines(), 1) if "dAP_trac)" in line)
    reset_kernel(threads=1)
    with pytest.raises(nestml.NestmlSyntaxError) as error:
        nestml.build(files, module_name="sequence_learning", codegen_opts=S.CODEGEN_OPTS, cache_dir=tmp_path / "cache")
    first = str(error.value).splitlines()[1]  # the first error listed is the one with a place
    assert f"permanence_synapse.nestml:{broken_line}:" in first and 'symbol "dAP_trac"' in first
    assert not any((tmp_path / "cache").glob("*/meta.json"))  # a failed build leaves no cache entry


# ---------------------------------------------------------------------------
# Sequences, schedule, weights


@pytest.mark.parametrize(
    "sequences, message",
    [
        ([], "give a list of sequences"),
        ("ADBE", "give a list of sequences"),
        (["A"], "too short"),
        (["ADxE"], "unknown elements"),
        (["ADDE"], "repeats D in a row"),
        (["ABCDEFG"], "only 6 subpopulations"),
    ],
)
def test_bad_sequences_are_explained(sequences, message):
    with pytest.raises(ValueError, match=message):
        S.validate_sequences(sequences, n_elements=6)


def test_vocabulary():
    assert S.validate_sequences(["ADBE", ["F", "D", "B", "C"]], 6) == ["A", "B", "C", "D", "E", "F"]


def test_psc_for_psp_gives_the_requested_peak():
    tau_m, tau_s, C_m = 10.0, 2.0, 250.0
    J = S.psc_for_psp(22.0, tau_m, tau_s, C_m)
    t = np.linspace(0, 50, 50001)
    # exact PSP of an exponential current into a leaky membrane
    v = J * (tau_m / C_m) * tau_s / (tau_m - tau_s) * (np.exp(-t / tau_m) - np.exp(-t / tau_s))
    assert v.max() == pytest.approx(22.0, rel=1e-6)


def test_schedule_times_and_readouts():
    config = S.SequenceConfig()
    schedule = S.episode_schedule(["ADBE", "FDBC"], config, 2)
    assert schedule.stimuli["A"] == [30.0, 470.0] and schedule.stimuli["D"] == [70.0, 290.0, 510.0, 730.0]
    assert len(schedule.readouts) == 4
    assert schedule.readouts[0] == (0, 0, 110.0 + config.record_delay)  # B of A-D-B-E at 110 ms
    assert schedule.episode_length == 440.0 and schedule.t_end == 30.0 + 2 * 440.0
    assert schedule.last_episode_start == 30.0 + 440.0
    with pytest.raises(ValueError, match="n_episodes"):
        S.episode_schedule(["AB"], config, 0)
    with pytest.raises(ValueError, match="only 6 subpopulations"):
        S.episode_schedule(["ABCDEFG"], config, 1)


def test_config_is_validated():
    with pytest.raises(ValueError, match="pattern_size"):
        S.SequenceConfig(pattern_size=200).validate()
    with pytest.raises(ValueError, match="indegree"):
        S.SequenceConfig(indegree=900).validate()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_elements": True}, r"n_elements must be a whole number of at least 1 .*got True"),
        ({"n_per_element": 150.0}, r"n_per_element must be a whole number .*got 150.0"),
        ({"pattern_size": 0}, r"pattern_size must be a whole number from 1 to 150"),
        ({"indegree": 900}, r"indegree must be a whole number from 1 to 899 \(below the 900 excitatory neurons\)"),
        ({"delta_t": 0.0}, "delta_t must be a positive number"),
        ({"V_th": float("nan")}, "V_th must be a positive number"),
        ({"lambda_minus": -0.1}, "lambda_minus must be a number of at least 0"),
        ({"initial_permanence_max": 30.0}, r"initial_permanence_max must lie between 0 and permanence_max \(20.0\), got 30.0"),
    ],
)
def test_config_refuses_what_the_network_cannot_have(kwargs, message):
    with pytest.raises(ValueError, match=message):
        S.SequenceConfig(**kwargs).validate()


def test_counts_accept_numpy_integers():
    config = S.SequenceConfig(n_elements=np.int64(6), n_per_element=np.int32(150))
    config.validate()
    assert S.episode_schedule(["ADBE"], config, np.int64(2)).n_episodes == 2
    assert S.validate_sequences(["AB"], n_elements=np.int64(2)) == ["A", "B"]


def test_replay_orders_follow_the_median_spike_time_of_active_subpopulations():
    config = S.SequenceConfig()
    n = config.n_per_element
    # cue at 0: A (20 neurons at 1 ms), then C (15 at 30 ms), B only 5 neurons (too few)
    times = np.r_[np.full(20, 1.0), np.full(15, 30.0), np.full(5, 20.0)]
    senders = np.r_[np.arange(20), 2 * n + np.arange(15), n + np.arange(5)]
    assert S.replay_orders(times, senders, [0.0, 100.0], ["A", "B", "C"], config, window=100.0) == [["A", "C"], []]


@pytest.mark.parametrize("window", [0, 0.0, -5.0, True, float("nan")])
def test_replay_orders_refuse_a_window_that_reads_nothing(window):
    config = S.SequenceConfig()
    with pytest.raises(ValueError, match=r"window must be a positive number above 0 \(ms after each cue"):
        S.replay_orders([1.0], [0], [0.0], ["A"], config, window=window)


# ---------------------------------------------------------------------------
# The models tested from the outside, with the notebooks' NEST calls


def dendritic_response(module, n_inputs, theta_dAP=None):
    """Notebook 1, section 5: one neuron, n coincident mature inputs on its dendrite."""
    nest = reset_kernel(seed=1, threads=1)
    neuron_model, _ = S.model_names(module)
    receptors = S.receptor_types(neuron_model)
    neuron = nest.Create(neuron_model, params={} if theta_dAP is None else {"theta_dAP": theta_dAP})
    inputs = nest.Create("parrot_neuron", n_inputs)
    nest.Connect(nest.Create("spike_generator", params={"spike_times": [10.0]}), inputs)
    nest.Connect(inputs, neuron, syn_spec={"weight": 12.98, "delay": 1.0, "receptor_type": receptors["dend_spikes"]})
    meter = nest.Create("multimeter", params={"record_from": ["I_dend", "active_dendrite_readout"], "interval": 0.1})
    spikes = nest.Create("spike_recorder")
    nest.Connect(meter, neuron)
    nest.Connect(neuron, spikes)
    nest.Simulate(100.0)
    return meter.events, spikes.events["times"]


@pytest.mark.nestml_build
def test_dap_threshold_between_4_and_5_coincident_inputs(module):
    # each input has a mature synapse's weight, 12.98 pA: 4 sum to 51.9 pA < 59 pA, 5 to 64.9 pA
    for n_inputs in (4, 5, 7):
        events, spikes = dendritic_response(module, n_inputs)
        dap = events["active_dendrite_readout"] > 0.5
        assert dap.any() == (n_inputs >= 5)
        if dap.any():
            assert events["I_dend"].max() == pytest.approx(200.0)  # the plateau current
            assert 59.9 <= dap.sum() * 0.1 <= 60.1  # lasting tau_dAP
        assert len(spikes) == 0  # a dAP alone does not make the soma fire
    # the threshold is the model's parameter: raise it and 5 inputs no longer suffice
    events, _ = dendritic_response(module, 5, theta_dAP=70.0)
    assert not (events["active_dendrite_readout"] > 0.5).any()


@pytest.mark.nestml_build
def test_homeostasis_reverses_potentiation_above_target(module):
    """Notebook 1, section 7: pairings with the dAP trace clamped at 0, 1, 2 x target."""
    nest = reset_kernel(seed=1, threads=1)
    neuron_model, synapse_model = S.model_names(module)
    receptors = S.receptor_types(neuron_model)
    pre_times = 50.0 + 200.0 * np.arange(8)
    post = nest.Create(neuron_model, 3, params={"evolve_dAP_trace": 0.0, "dAP_trace": [0.0, 1.0, 2.0]})
    pre = nest.Create("parrot_neuron")
    nest.Connect(nest.Create("spike_generator", params={"spike_times": pre_times}), pre)
    drive = nest.Create("spike_generator", params={"spike_times": pre_times + 40.0 - 1.6})
    nest.Connect(
        drive,
        post,
        syn_spec={"weight": 2 * S.stimulus_weight(S.SequenceConfig()), "delay": 0.1, "receptor_type": receptors["soma_spikes"]},
    )
    nest.Connect(
        pre,
        post,
        syn_spec={
            "synapse_model": synapse_model,
            "receptor_type": receptors["dend_spikes"],
            "delay": 0.1,
            "permanence": 5.0,
            "permanence_min": 1.0,
        },
    )
    synapses = nest.GetConnections(pre, post)
    assert synapses.get("target") == post.tolist()
    permanence = [synapses.get("permanence")]
    for t in pre_times:
        nest.Simulate(t + 199.0 - nest.biological_time)
        permanence.append(synapses.get("permanence"))
    change = np.diff(np.array(permanence)[1:], axis=0).mean(axis=0)
    assert change[0] > change[1] > 0 > change[2]
    # the difference between clamps is the homeostatic term alone: 2 * lambda_h * zt * permanence_max
    assert change[0] - change[2] == pytest.approx(2 * 0.014 * 1.0 * 20.0, rel=0.02)


# ---------------------------------------------------------------------------
# Training


def notebook_2():
    """Notebook 2's network cells (section 1, and section 6's build_network): the network
    participants build, with the shipped neuron from the cache."""
    return notebook_code.run_cells(notebook_code.solution_notebook("sequence_learning", "02_learning_and_replay"))


@pytest.mark.nestml_build
def test_inhibition_that_excites_prevents_learning(module):
    """NESTML 9 and the published tutorial's neuron: 'inhibition' that excites makes
    every neuron fire, so both successors of B are predicted (20 episodes suffice)."""
    net = notebook_2()
    net["w_ei"] = -net["w_ei"]  # the inhibitory neurons' weight, made excitatory
    net["nw"].reset_kernel(seed=1, threads=1)
    exc, schedule, spikes, daps = net["build_network"](["ADBE", "FDBC"], 20)
    history = S.train(exc, schedule, spike_recorder=spikes, dap_recorder=daps, progress=False)
    assert history.predicted[-1] == [{"C", "E"}, {"C", "E"}]
    assert history.false_positives[-1] == 1.0
    assert np.all(history.active_neurons[-1] == 150)
    # what the figures read is there: the last episode's dAPs, and the synapse tables
    assert len(history.dap_last_episode["times"]) > 0
    assert (history.dap_last_episode["times"] >= schedule.last_episode_start).all()
    assert len(history.synapses_before["source"]) == len(history.synapses_after["source"]) == 900 * 180
    assert history.connectivity(after_training=False, mature_only=False).sum() == 900 * 180
    # a network already simulated cannot run the schedule again
    with pytest.raises(KernelStateError, match=r"simulated \d+ ms already: build the network again"):
        S.train(exc, schedule, spike_recorder=spikes, dap_recorder=daps, progress=False)
    with pytest.raises(ValueError, match="exc has 150 neurons"):
        S.train(exc[:150], schedule, spike_recorder=spikes, dap_recorder=daps, progress=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(tau_m=0.0, tau_syn=2.0, C_m=250.0), "tau_m must be a positive number"),
        (dict(tau_m=10.0, tau_syn=-1.0, C_m=250.0), "tau_syn must be a positive number"),
        (dict(tau_m=10.0, tau_syn=2.0, C_m=0.0), "C_m must be a positive number"),
        (dict(tau_m=5.0, tau_syn=5.0, C_m=250.0), "tau_m and tau_syn must differ"),
    ],
)
def test_psc_for_psp_refuses_parameters_without_a_psp(kwargs, message):
    with pytest.raises(ValueError, match=message):
        S.psc_for_psp(1.0, **kwargs)
