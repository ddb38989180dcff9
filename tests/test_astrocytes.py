"""The astrocyte part's experiments and measures."""

import numpy as np
import pytest

from nest_workshop import reset_kernel
from nest_workshop.core import notebook_code
from nest_workshop.core import selfcheck as nw_selfcheck
from nest_workshop.parts import astrocytes as A

NOTEBOOK_1 = ("astrocytes", "01_astrocyte_and_synapse")


def notebook_1(until=None, **parameters):
    """Notebook 1's network cells, as participants run them: the tripartite circuit
    (section 2, up to its run in cell-14) and the astrocytes driven at eight rates
    (section 3, which starts a new kernel)."""
    return notebook_code.run_cells(notebook_code.solution_notebook(*NOTEBOOK_1), parameters, until=until)


@pytest.fixture(scope="module")
def notebook_run():
    return notebook_1()


@pytest.fixture(scope="module")
def circuit_run():
    return notebook_1(until="cell-14")


def test_astrocyte_without_input_stays_at_rest_and_driven_one_rises(notebook_run):
    by_rate, rest = notebook_run["by_rate"], notebook_run["nest"].GetDefaults("astrocyte_lr_1994")["Ca_astro"]
    assert np.max(np.abs(by_rate[0]["Ca_astro"] - rest)) < 0.005
    assert A.calcium_response(by_rate[300], t_from=10000.0)["mean"] > 2 * rest


def test_intermediate_input_oscillates_low_and_high_do_not(notebook_run):
    summary = {rate: A.calcium_response(trace, t_from=15000.0) for rate, trace in notebook_run["by_rate"].items()}
    assert not summary[100]["oscillating"] and summary[100]["n_peaks"] == 0
    assert summary[300]["oscillating"] and summary[300]["n_peaks"] >= 2
    assert not summary[1000]["oscillating"]


def test_calcium_response_on_a_known_trace():
    t = np.arange(0.0, 10000.0, 10.0)
    trace = {"times": t, "Ca_astro": 0.3 + 0.2 * np.sin(2 * np.pi * t / 2000.0)}
    summary = A.calcium_response(trace)
    assert summary["amplitude"] == pytest.approx(0.4, abs=1e-3)
    assert summary["oscillating"] and summary["n_peaks"] == 5
    with pytest.raises(ValueError, match="no calcium samples"):
        A.calcium_response(trace, t_from=20000.0)


def test_sic_raises_the_rate_of_the_neuron_but_not_of_its_twin(circuit_run):
    post, twin, spikes, neurons = (circuit_run[name] for name in ("post", "twin", "spikes", "neurons"))
    on, off = neurons[post.global_id], neurons[twin.global_id]
    assert np.all(off["I_SIC"] == 0) and on["I_SIC"].max() > 100
    rate_on, rate_off = (A.node_rate(spikes, n, 5000.0, 20000.0) for n in (post, twin))
    assert rate_on > 2 * rate_off > 0
    assert on["V_m"].mean() > off["V_m"].mean() + 1.0
    # without SIC the two neurons are the same: same input spikes, same spikes out
    silent = notebook_1(until="cell-14", W_SIC=0.0)
    post, twin, spikes, neurons = (silent[name] for name in ("post", "twin", "spikes", "neurons"))
    assert np.array_equal(neurons[post.global_id]["V_m"], neurons[twin.global_id]["V_m"])
    assert A.node_rate(spikes, post, 0.0, 20000.0) == A.node_rate(spikes, twin.global_id, 0.0, 20000.0)


def test_node_rate_counts_one_node_in_a_window():
    nest = reset_kernel(seed=1, threads=1)
    neurons = nest.Create("parrot_neuron", 2)
    nest.Connect(nest.Create("spike_generator", params={"spike_times": [10.0, 20.0, 30.0, 1500.0]}), neurons[0])
    spikes = nest.Create("spike_recorder")
    nest.Connect(neurons, spikes)
    nest.Simulate(2000.0)
    assert A.node_rate(spikes, neurons[0], 0.0, 1000.0) == pytest.approx(3.0)
    assert A.node_rate(spikes, neurons[0], 1000.0, 2000.0) == pytest.approx(1.0)
    assert A.node_rate(spikes, neurons[1], 0.0, 2000.0) == 0.0
    with pytest.raises(ValueError, match="must be after"):
        A.node_rate(spikes, neurons[0], 100.0, 100.0)


def tripartite(pool_type, pool_size, n_pre=40, n_post=20, n_astro=40, p=0.5, p_third=0.4, seed=1):
    nest = reset_kernel(seed=seed, threads=1)
    pre = nest.Create("aeif_cond_alpha_astro", n_pre)
    post = nest.Create("aeif_cond_alpha_astro", n_post)
    astro = nest.Create("astrocyte_lr_1994", n_astro)
    nest.TripartiteConnect(
        pre,
        post,
        astro,
        conn_spec={"rule": "pairwise_bernoulli", "p": p},
        third_factor_conn_spec={
            "rule": "third_factor_bernoulli_with_pool",
            "p": p_third,
            "pool_size": pool_size,
            "pool_type": pool_type,
        },
        syn_specs={"third_out": {"synapse_model": "sic_connection"}},
    )
    return pre, post, astro


def test_counts_of_a_block_pool_network_match_the_rule():
    net = A.count_tripartite(*tripartite("block", 2))
    assert abs(net["n_primary"] - 400) < 4 * np.sqrt(400 * 0.25)
    assert net["n_third_in"] == net["n_third_out"] == net["astro_to_post"].sum()
    expected = 0.4 * net["n_primary"]
    assert abs(net["n_third_out"] - expected) < 4 * np.sqrt(net["n_primary"] * 0.4 * 0.6)
    for target in range(20):
        used = set(np.flatnonzero(net["astro_to_post"][target]))
        assert used <= set(A.block_pool(target, 20, 40, 2))


def test_random_pools_have_at_most_pool_size_astrocytes():
    net = A.count_tripartite(*tripartite("random", 3, n_pre=50, n_post=10, n_astro=30, p=0.8, p_third=1.0, seed=2))
    per_target = (net["astro_to_post"] > 0).sum(axis=1)
    assert per_target.max() <= 3 and per_target.min() >= 1


def test_block_pool_with_shared_astrocytes():
    assert [A.block_pool(i, 20, 10, 1) for i in (0, 1, 2, 19)] == [[0], [0], [1], [9]]
    assert A.block_pool(3, 10, 20, 2) == [6, 7]
    with pytest.raises(ValueError, match="n_targets x pool_size = n_astrocytes"):
        A.block_pool(0, 20, 30, 2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(p_third=1.5), "0 ≤ p_third_if_primary ≤ 1"),
        (dict(pool_size=50, n_astro=20), "pool_size ≤ size of third-factor population"),
        (dict(pool_type="ring"), "pool_type must be 'random' or 'block'"),
        (dict(pool_type="block", pool_size=2, n_astro=30), "size\\(targets\\) \\* pool_size == size\\(third factor\\)"),
    ],
)
def test_nest_explains_bad_pool_settings(kwargs, message):
    """The notebooks call TripartiteConnect directly: NEST's own errors must say what fits."""
    settings = dict(pool_type="random", pool_size=2)
    settings.update(kwargs)
    with pytest.raises(Exception, match=message):
        tripartite(**settings)


def test_the_tripartite_drawing_shows_every_connection():
    pre, post, astro = tripartite("block", 2, n_pre=6, n_post=4, n_astro=8, p=1.0, p_third=0.5)
    ax = A.plot_tripartite(pre, post, astro)
    net = A.count_tripartite(pre, post, astro)
    assert len(ax.lines) == net["n_primary"] + net["n_third_in"] + net["n_third_out"]


@pytest.mark.parametrize(
    "settings, message",
    [(dict(n_neurons=100), "indegree_exc"), (dict(ip3_init=-1.0), "ip3_init"), (dict(n_neurons=True), "n_neurons")],
)
def test_bad_network_settings_are_explained(settings, message):
    with pytest.raises(ValueError, match=message):
        A.BalancedNetworkConfig(**settings).validate()


def test_chi_of_identical_and_independent_trains():
    rng = np.random.default_rng(1)
    same = np.tile(rng.poisson(1.0, 500), (50, 1))
    assert A.synchrony_chi(same) == pytest.approx(1.0)
    independent = rng.poisson(1.0, (100, 2000))
    assert A.synchrony_chi(independent) == pytest.approx(0.1, abs=0.02)
    with pytest.raises(ValueError):
        A.synchrony_chi(np.zeros((3, 10)))


SMALL = dict(n_neurons=300, indegree_exc=120, indegree_inh=30, t_sim=1200.0, n_recorded=300, n_traced=20)


@pytest.fixture(scope="module")
def notebook_network():
    """Notebook 2's network cells (section 2): the network participants run, made small."""
    return notebook_code.run_cells(
        notebook_code.solution_notebook("astrocytes", "02_pools_and_network"),
        {"config": A.BalancedNetworkConfig(**SMALL), "SEED": 3},
    )


def test_frozen_astrocytes_equal_zero_sic_weight(notebook_network):
    """Switching SIC off by freezing astrocytes (the notebook's control) leaves the rest of
    the network bit-identical to setting the SIC weight to zero."""
    run_network = notebook_network["run_network"]
    frozen = run_network(A.BalancedNetworkConfig(**SMALL), sic=False)
    zero = run_network(A.BalancedNetworkConfig(**SMALL, w_sic=0.0), sic=True)
    assert len(frozen["spikes"]["times"]) > 100
    assert np.array_equal(frozen["spikes"]["times"], zero["spikes"]["times"])
    assert np.array_equal(frozen["spikes"]["senders"], zero["spikes"]["senders"])
    assert np.all(frozen["SIC"]["mean"] == 0) and np.all(frozen["Ca"]["sd"] == 0)


def test_statistics_of_the_notebook_network(notebook_network):
    config = A.BalancedNetworkConfig(**SMALL)
    with_sic = notebook_network["run_network"](config, sic=True)
    without = notebook_network["run_network"](config, sic=False)
    stats = {name: A.spike_statistics(run["spikes"], run["recorded"], 600.0, 1200.0)
             for name, run in [("with", with_sic), ("without", without)]}  # fmt: skip
    assert stats["without"]["n_neurons"] == 300 and stats["without"]["n_active"] > 250
    assert 1.0 < stats["without"]["rate"] < 20.0  # spikes/s: the asynchronous regime, not silent, not saturated
    # Seeds 1-4 at 1, 2 and 4 threads: CV 0.35-0.48, chi 0.07-0.10, correlation below 0.01.
    assert 0.25 < stats["without"]["cv"] < 1.5  # irregular firing
    assert 0.0 < stats["without"]["chi"] < 0.3 and abs(stats["without"]["correlation"]) < 0.05  # not synchronous
    assert with_sic["SIC"]["mean"].max() > 0  # SIC has arrived
    assert stats["with"]["rate"] > stats["without"]["rate"]


def test_pools_in_network_tells_block_from_random_pools():
    """Notebook 2's exercise check: block pools (also shared, pool_size 1) pass, random ones do not."""
    for pool_type, pool_size, n_astro in [("block", 2, 40), ("block", 1, 10), ("block", 1, 20)]:
        pre, post, astro = tripartite(pool_type, pool_size, n_astro=n_astro)
        pools = A.pools_in_network(pre, post, astro)
        assert pools["block_order"], (pool_type, pool_size, n_astro)
        assert pools["pool_sizes"].max() <= pool_size
        assert pools["n_paired"] == pools["n_third_in"] == A.count_tripartite(pre, post, astro)["n_third_out"]
        assert pools["third_in_models"] == {"static_synapse"}
    pre, post, astro = tripartite("random", 2, p_third=1.0)
    assert not A.pools_in_network(pre, post, astro)["block_order"]


def test_inputs_per_astrocyte_counts_third_in_connections():
    pre, post, astro = tripartite("block", 1, n_astro=20, p=1.0, p_third=1.0)
    inputs = A.inputs_per_astrocyte(pre, astro)
    # pool_size 1, one astrocyte per target, every connection paired: each astrocyte hears all 40 pre
    assert inputs.tolist() == [40] * 20


def test_wiring_check_accepts_the_circuit_and_names_what_is_wrong(capsys):
    nest = reset_kernel(seed=1, threads=1)
    astrocyte = nest.Create("astrocyte_lr_1994")
    post, twin = nest.Create("aeif_cond_alpha_astro", 2)
    pre = nest.Create("parrot_neuron", 5)
    with pytest.raises(nw_selfcheck.SelfCheckError, match="pre -> post"):
        A.check_tripartite_wiring(pre, post, twin, astrocyte, w_pre=4.0, w_sic=50.0)
    A.wire_tripartite(pre, post, twin, astrocyte, w_pre=4.0, w_sic=50.0)
    A.check_tripartite_wiring(pre, post, twin, astrocyte, w_pre=4.0, w_sic=50.0)
    assert "✔ your circuit is wired" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, name", [((0, 10, 0, 1), "n_astrocytes"), ((0, 0, 10, 1), "n_targets"), ((0, 10, 10, 0), "pool_size")]
)
def test_block_pool_refuses_empty_populations_and_pools(args, name):
    with pytest.raises(ValueError, match=rf"{name} must be a whole number of at least 1"):
        A.block_pool(*args)
