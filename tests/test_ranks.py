"""Rank-aware runtime helpers (core.ranks) and the scale-up runs, in one process
(tests/mpi/ runs them under mpirun with the MPI build of NEST)."""

import json

import numpy as np
import pytest

import nest_workshop as nw
from nest_workshop.core import notebook_code, ranks
from nest_workshop.parts.astrocytes import BalancedNetworkConfig
from nest_workshop.scaleout import scaling


def test_merge_events_concatenates_and_sorts_by_time_then_sender():
    rank0 = {"times": np.array([2.0, 1.0, 3.0]), "senders": np.array([4, 9, 1])}
    rank1 = {"times": np.array([1.0, 2.0]), "senders": np.array([2, 3])}
    merged = ranks.merge_events([rank0, rank1])
    assert merged["times"].tolist() == [1.0, 1.0, 2.0, 2.0, 3.0]
    assert merged["senders"].tolist() == [2, 9, 3, 4, 1]
    # The order does not depend on which rank came first.
    swapped = ranks.merge_events([rank1, rank0])
    assert all(np.array_equal(merged[k], swapped[k]) for k in merged)


def test_merge_events_keeps_sampled_values_with_their_sender():
    rank0 = {"times": np.array([1.0, 2.0]), "senders": np.array([5, 5]), "V_m": np.array([-70.0, -69.0])}
    rank1 = {"times": np.array([1.0, 2.0]), "senders": np.array([3, 3]), "V_m": np.array([-60.0, -59.0])}
    merged = ranks.merge_events([rank0, rank1])
    assert merged["senders"].tolist() == [3, 5, 3, 5]
    assert merged["V_m"].tolist() == [-60.0, -70.0, -59.0, -69.0]


def test_merge_events_of_an_empty_rank():
    empty = {"times": np.array([]), "senders": np.array([], dtype=int)}
    merged = ranks.merge_events([empty, {"times": np.array([1.0]), "senders": np.array([7])}])
    assert merged["senders"].tolist() == [7]
    assert ranks.merge_events([empty, empty])["times"].size == 0


@pytest.fixture
def small_network():
    nest = nw.reset_kernel(seed=3, threads=2)
    neurons = nest.Create("iaf_psc_alpha", 40, params={"I_e": 380.0})
    nest.Connect(neurons, neurons, {"rule": "fixed_indegree", "indegree": 5}, {"weight": 20.0, "delay": 1.5})
    recorder = nest.Create("spike_recorder")
    nest.Connect(neurons, recorder)
    nest.Simulate(200.0)
    return nest, neurons, recorder


def test_gathered_events_in_one_process_are_all_events_in_canonical_order(small_network):
    nest, _, recorder = small_network
    raw = recorder.events
    gathered = ranks.gather_events(recorder)
    assert gathered["times"].size == recorder.n_events > 0
    order = np.lexsort((gathered["senders"], gathered["times"]))
    assert np.array_equal(order, np.arange(order.size))  # already sorted
    assert sorted(zip(raw["times"], raw["senders"])) == list(zip(gathered["times"], gathered["senders"]))
    times, senders = nw.analysis.spike_times(recorder)  # one process: the local events are all events
    assert np.array_equal(times, gathered["times"]) and np.array_equal(senders, gathered["senders"])


def test_connections_gathered_and_counted(small_network):
    nest, neurons, _ = small_network
    connections = ranks.gather_connections(("source", "target", "weight"), target=neurons)
    assert connections["source"].size == 40 * 5 == ranks.count_connections(target=neurons)
    assert np.all(np.diff(connections["source"]) >= 0)
    assert set(connections["weight"].tolist()) == {20.0}
    assert ranks.count_connections() == nest.num_connections  # + the recorder's 40


def test_single_process_rank_helpers(tmp_path, small_network):
    assert (ranks.num_processes(), ranks.rank(), ranks.is_root()) == (1, 0, True)
    assert ranks.allgather(5) == [5]
    ranks.write_json(tmp_path / "a" / "summary.json", {"x": np.float64(1.5), "n": np.int64(3), "cv": [np.nan]})
    assert json.loads((tmp_path / "a" / "summary.json").read_text()) == {"n": 3, "x": 1.5, "cv": [None]}
    ranks.write_npz(tmp_path / "b" / "spikes.npz", times=np.array([1.0]))
    assert np.load(tmp_path / "b" / "spikes.npz")["times"].tolist() == [1.0]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b", "spikes.npz", "summary.json"]


def test_scaled_astrocyte_network_writes_its_documented_files(tmp_path, monkeypatch):
    summary = scaling.main("astrocytes", 0.5, tmp_path, seed=2, threads=1, t_sim=600.0)
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    spikes = np.load(tmp_path / "spikes.npz")
    assert sorted(spikes.files) == ["senders", "times"]
    assert spikes["times"].size == summary["n_spikes"] > 0
    assert spikes["senders"].dtype == np.int64 and spikes["times"].dtype == np.float64
    assert set(np.unique(spikes["senders"])) <= set(range(1, 501))  # neurons only, all 500 recorded
    assert (summary["n_neurons"], summary["n_astrocytes"], summary["ranks"], summary["virtual_processes"]) == (500, 500, 1, 1)
    assert 0 < summary["rate_hz"] < 100 and 0 < summary["cv"] < 3
    assert summary["n_connections"] > 500 * 500  # 400 exc + 100 inh per neuron, plus astrocyte links
    # It is the notebook's network: its own run_network, same size, seed and threads, spikes the same.
    monkeypatch.setenv("NEST_WORKSHOP_THREADS", "1")
    config = BalancedNetworkConfig(n_neurons=500, t_sim=600.0, n_recorded=500)
    notebook = notebook_code.run_cells(
        notebook_code.solution_notebook(*scaling.ASTROCYTE_NOTEBOOK), {"config": config, "SEED": 2}
    )
    in_notebook = notebook["run_network"](config, sic=True)["spikes"]
    order = np.lexsort((in_notebook["senders"], in_notebook["times"]))
    assert np.array_equal(in_notebook["times"][order], spikes["times"])
    assert np.array_equal(in_notebook["senders"][order], spikes["senders"])


def test_scaled_eprop_network_learns_and_writes_its_weights(tmp_path):
    summary = scaling.main("eprop", 0.3, tmp_path, seed=1, threads=1, iterations=8)
    weights = np.load(tmp_path / "weights.npz")
    assert sorted(weights.files) == ["source", "target", "weight"]
    # 30 inputs -> 30 recurrent, 30 x 29 recurrent (no autapses), 30 -> 1 readout
    assert weights["weight"].size == summary["n_eprop_synapses"] == 30 * 30 + 30 * 29 + 30
    assert len(summary["loss"]) == 8 and summary["last_loss"] < summary["first_loss"]


@pytest.mark.parametrize(
    "network, size, message",
    [
        ("astrocytes", 0.2, "at least 0.5"),
        ("astrocytes", -1, "positive"),
        ("eprop", 50, "size 0.02 to 20"),
        ("eprop", "big", "a number"),
        ("brunel", 1, "choose one of astrocytes, eprop"),
    ],
)
def test_bad_scale_arguments(tmp_path, network, size, message):
    with pytest.raises(ValueError, match=message):
        scaling.main(network, size, tmp_path, threads=1, t_sim=100.0, iterations=1)
    assert not any(tmp_path.iterdir())
