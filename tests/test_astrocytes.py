"""The astrocyte part's experiments and measures."""

import numpy as np
import pytest

from nest_workshop import reset_kernel
from nest_workshop.parts import astrocytes as A


def test_astrocyte_without_input_stays_at_rest_and_driven_one_rises():
    reset_kernel(seed=2, threads=1)
    traces = A.drive_astrocytes([0.0, 300.0], t_sim=30000.0)
    rest = A.resting_calcium()
    quiet = traces[0.0]["Ca_astro"]
    assert np.max(np.abs(quiet - rest)) < 0.005
    assert A.calcium_response(traces[300.0], t_from=10000.0)["mean"] > 2 * rest


def test_intermediate_input_oscillates_low_and_high_do_not():
    reset_kernel(seed=3, threads=1)
    traces = A.drive_astrocytes([100.0, 300.0, 1000.0], t_sim=40000.0)
    summary = {rate: A.calcium_response(trace, t_from=15000.0) for rate, trace in traces.items()}
    assert not summary[100.0]["oscillating"] and summary[100.0]["n_peaks"] == 0
    assert summary[300.0]["oscillating"] and summary[300.0]["n_peaks"] >= 2
    assert not summary[1000.0]["oscillating"]


def test_calcium_response_on_a_known_trace():
    t = np.arange(0.0, 10000.0, 10.0)
    trace = {"times": t, "Ca_astro": 0.3 + 0.2 * np.sin(2 * np.pi * t / 2000.0)}
    summary = A.calcium_response(trace)
    assert summary["amplitude"] == pytest.approx(0.4, abs=1e-3)
    assert summary["oscillating"] and summary["n_peaks"] == 5
    with pytest.raises(ValueError, match="no calcium samples"):
        A.calcium_response(trace, t_from=20000.0)


def test_sic_raises_the_rate_of_the_postsynaptic_neuron():
    reset_kernel(seed=1, threads=1)
    on = A.tripartite_pair(50.0, t_sim=20000.0)
    reset_kernel(seed=1, threads=1)
    off = A.tripartite_pair(0.0, t_sim=20000.0)
    assert np.all(off["neuron"]["I_SIC"] == 0) and on["neuron"]["I_SIC"].max() > 100
    assert len(on["spike_times"]) > 2 * len(off["spike_times"]) > 0
    assert on["neuron"]["V_m"].mean() > off["neuron"]["V_m"].mean() + 1.0
    # the astrocyte is the same in both runs: SIC changes the neuron only
    assert np.array_equal(on["astrocyte"]["Ca_astro"], off["astrocyte"]["Ca_astro"])


def test_pool_network_counts_match_the_rule():
    reset_kernel(seed=1, threads=1)
    net = A.pool_network(40, 20, 40, p_primary=0.5, p_third=0.4, pool_size=2, pool_type="block")
    assert abs(net["n_primary"] - 400) < 4 * np.sqrt(400 * 0.25)
    assert net["n_third_in"] == net["n_third_out"] == net["astro_to_post"].sum()
    expected = 0.4 * net["n_primary"]
    assert abs(net["n_third_out"] - expected) < 4 * np.sqrt(net["n_primary"] * 0.4 * 0.6)
    for target in range(20):
        used = set(np.flatnonzero(net["astro_to_post"][target]))
        assert used <= set(A.block_pool(target, 20, 40, 2))


def test_random_pools_have_at_most_pool_size_astrocytes():
    reset_kernel(seed=2, threads=1)
    net = A.pool_network(50, 10, 30, p_primary=0.8, p_third=1.0, pool_size=3, pool_type="random")
    per_target = (net["astro_to_post"] > 0).sum(axis=1)
    assert per_target.max() <= 3 and per_target.min() >= 1


def test_block_pool_with_shared_astrocytes():
    assert [A.block_pool(i, 20, 10, 1) for i in (0, 1, 2, 19)] == [[0], [0], [1], [9]]
    assert A.block_pool(3, 10, 20, 2) == [6, 7]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(p_primary=1.5), "p_primary must be a probability"),
        (dict(p_third=-0.1), "p_third must be a probability"),
        (dict(pool_size=50), "larger than the astrocyte population"),
        (dict(pool_type="ring"), "pool_type must be one of"),
        (dict(pool_type="block", pool_size=3), "n_targets x pool_size = n_astrocytes"),
        (dict(n_post=0), "number of target neurons"),
    ],
)
def test_bad_pool_settings_are_explained(kwargs, message):
    settings = dict(n_pre=10, n_post=10, n_astrocytes=20, p_primary=0.5, p_third=0.5, pool_size=2, pool_type="random")
    settings.update(kwargs)
    with pytest.raises(ValueError, match=message):
        A.pool_network(settings.pop("n_pre"), settings.pop("n_post"), settings.pop("n_astrocytes"), **settings)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: A.drive_astrocytes([-5.0]), "input rate"),
        (lambda: A.tripartite_pair(-1.0), "w_sic"),
        (lambda: A.tripartite_pair(1.0, n_pre=0), "n_pre"),
        (lambda: A.run_balanced_network(A.BalancedNetworkConfig(n_neurons=100)), "indegree_exc"),
        (lambda: A.run_balanced_network(A.BalancedNetworkConfig(ip3_init=-1.0)), "ip3_init"),
    ],
)
def test_bad_experiment_settings_are_explained(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_chi_of_identical_and_independent_trains():
    rng = np.random.default_rng(1)
    same = np.tile(rng.poisson(1.0, 500), (50, 1))
    assert A.synchrony_chi(same) == pytest.approx(1.0)
    independent = rng.poisson(1.0, (100, 2000))
    assert A.synchrony_chi(independent) == pytest.approx(0.1, abs=0.02)
    with pytest.raises(ValueError):
        A.synchrony_chi(np.zeros((3, 10)))


SMALL = dict(n_neurons=300, indegree_exc=120, indegree_inh=30, t_sim=1200.0, n_recorded=300, n_traced=20)


def test_frozen_astrocytes_equal_zero_sic_weight():
    """Switching SIC off by freezing astrocytes leaves the rest of the network
    bit-identical to setting the SIC weight to zero."""
    reset_kernel(seed=3, threads=1)
    frozen = A.run_balanced_network(A.BalancedNetworkConfig(**SMALL), sic=False)
    reset_kernel(seed=3, threads=1)
    zero = A.run_balanced_network(A.BalancedNetworkConfig(**SMALL, w_sic=0.0), sic=True)
    assert len(frozen.spikes["times"]) > 100
    assert np.array_equal(frozen.spikes["times"], zero.spikes["times"])
    assert np.array_equal(frozen.spikes["senders"], zero.spikes["senders"])
    assert np.all(frozen.sic_trace["I_SIC"] == 0)


def test_network_statistics_on_the_small_network():
    reset_kernel(seed=1, threads=1)
    result = A.run_balanced_network(A.BalancedNetworkConfig(**SMALL), sic=True)
    stats = A.network_statistics(result, 600.0, 1200.0)
    assert stats["n_neurons"] == 300 and stats["rate"] > 0
    assert 0 < stats["cv"] < 3 and -1 < stats["correlation"] < 1 and 0 < stats["chi"] <= 1
    assert result.sic_trace["I_SIC"].max() > 0  # SIC has arrived
