"""The sequence-learning part: inputs, the NESTML neuron and synapse, and learning."""

from pathlib import Path

import numpy as np
import pytest

from nest_workshop import reset_kernel
from nest_workshop.parts import sequences as S

MODELS = Path(__file__).resolve().parents[1] / "materials" / "sequence_learning" / "models"


@pytest.fixture(scope="module")
def module():
    reset_kernel(threads=1)  # modules load only into an empty kernel; earlier tests leave nodes behind
    return S.build_models(MODELS)


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
    stimuli, readouts, t_end = S.episode_schedule([list("ADBE"), list("FDBC")], config, 2)
    assert stimuli["A"] == [30.0, 470.0] and stimuli["D"] == [70.0, 290.0, 510.0, 730.0]
    assert len(readouts) == 4
    assert readouts[0] == (0, 0, 110.0 + config.record_delay)  # B of A-D-B-E at 110 ms
    assert t_end == 30.0 + 2 * 440.0
    with pytest.raises(ValueError, match="n_episodes"):
        S.episode_schedule(["AB"], config, 0)


def test_config_is_validated():
    with pytest.raises(ValueError, match="pattern_size"):
        S.SequenceConfig(pattern_size=200).validate()
    with pytest.raises(ValueError, match="indegree"):
        S.SequenceConfig(indegree=900).validate()


@pytest.mark.nestml_build
def test_dap_threshold_between_4_and_5_coincident_inputs(module):
    # each input has a mature synapse's weight, 12.98 pA: 4 sum to 51.9 pA < 59 pA, 5 to 64.9 pA
    for n_inputs in (4, 5, 7):
        trace = in_fresh_kernel(S.neuron_experiment, module, n_dendritic=n_inputs)
        dap = trace["active_dendrite_readout"] > 0.5
        assert dap.any() == (n_inputs >= 5)
        if dap.any():
            assert trace["I_dend"].max() == pytest.approx(200.0)  # the plateau current
        assert len(trace["spikes"]) == 0  # a dAP alone does not make the soma fire
    # the threshold is the model's parameter: raise it and 5 inputs no longer suffice
    strict = S.SequenceConfig(theta_dAP=70.0)
    assert not (in_fresh_kernel(S.neuron_experiment, module, n_dendritic=5, config=strict)["active_dendrite_readout"] > 0.5).any()


@pytest.mark.nestml_build
def test_dap_makes_the_soma_answer_earlier(module):
    alone = in_fresh_kernel(S.neuron_experiment, module, somatic_time=50.0)
    predicted = in_fresh_kernel(S.neuron_experiment, module, n_dendritic=6, somatic_time=50.0)
    assert len(alone["spikes"]) == len(predicted["spikes"]) == 1
    assert predicted["spikes"][0] < alone["spikes"][0] - 0.5


@pytest.mark.nestml_build
def test_homeostasis_reverses_potentiation_above_target(module):
    change = {
        z: np.diff(in_fresh_kernel(S.pairing_experiment, module, z, n_pairings=8)["permanence"][1:]).mean()
        for z in (0.0, 1.0, 2.0)
    }
    assert change[0.0] > change[1.0] > 0 > change[2.0]
    # the difference between clamps is the homeostatic term alone: 2 * lambda_h * zt * permanence_max
    assert change[0.0] - change[2.0] == pytest.approx(2 * 0.014 * 1.0 * 20.0, rel=0.02)


@pytest.mark.nestml_build
def test_the_sign_error_of_the_published_tutorial_prevents_learning(module):
    """With 'inhibition' that excites, every neuron fires and both successors of B are
    predicted (20 episodes suffice to show it)."""
    reset_kernel(seed=1, threads=1)
    network = S.SequenceNetwork(["ADBE", "FDBC"], module, S.SequenceConfig(inhibition_excites=True))
    history = network.train(20, progress=False)
    assert history.predicted[-1] == [{"C", "E"}, {"C", "E"}]
    assert history.false_positives[-1] == 1.0
    assert np.all(history.active_neurons[-1] == 150)
    with pytest.raises(ValueError, match="not in the trained vocabulary"):
        S.replay(network, ["Z"])


def in_fresh_kernel(helper, *args, **kwargs):
    """The notebooks' pattern: reset the kernel, then run one experiment in it."""
    reset_kernel(seed=1, threads=1)
    return helper(*args, **kwargs)
